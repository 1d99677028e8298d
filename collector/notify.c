/* notify.c: one delivery attempt of one alert message to one receiver
 * (webhook or e-mail), over libcurl's multi interface on the libuv loop. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "collector.h"
#include "schoolnet/buf.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"
#include "schoolnet/version.h"

#define NOTIFY_RESP_MAX (64 * 1024) /* reply bytes kept; the rest dropped */
#define NOTIFY_UA "schoolnet/" SCHOOLNET_VERSION

/*
 * The loop integration follows curl's docs/examples/multi-uv.c: libcurl
 * tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION, one uv_poll_t
 * each) and when to call it back (CURLMOPT_TIMERFUNCTION, one uv_timer_t);
 * we answer with curl_multi_socket_action() and collect finished
 * transfers with curl_multi_info_read().
 */

struct notify_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	int events;		/* what libcurl last asked to wait for */
	struct notifier *n;
	struct notify_sock *prev, *next; /* n->socks, until closed */
};

/* One attempt. On n->running while libcurl has it, or on n->failed when
 * it failed before it started (its callback then runs from n->defer). */
struct xfer {
	struct notifier *n;
	struct xfer *prev, *next;
	int64_t msg_id;
	char name[64]; /* the receiver's: logs never show URLs or secrets */
	enum receiver_kind kind;
	int format;
	CURL *easy;
	struct curl_slist *headers, *rcpt;
	char *url;
	char *payload; /* request body or mail message */
	size_t payload_len, payload_off;
	struct buf resp;
	bool resp_cut;
	char errbuf[CURL_ERROR_SIZE];
	struct notify_result res;
};

struct notifier {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer; /* libcurl's timeout */
	uv_timer_t defer; /* callbacks of attempts that failed at once */
	struct smtp_conf smtp;
	int default_lang; /* 0 zh, 1 en */
	int utc_offset_min;
	notify_cb cb;
	void *arg;
	struct xfer *running;
	struct xfer *failed, *failed_last;
	struct notify_sock *socks;
	size_t n_running, n_failed;
	unsigned open_handles; /* libuv handles whose close callback is due */
	int dispatching;       /* > 0 while inside n->cb */
	bool closing, torn_down;
	void (*close_cb)(void *);
	void *close_arg;
};

static unsigned notifier_count; /* for curl_global_init/cleanup */

static void check_done(struct notifier *n);
static void teardown(struct notifier *n);

/* --- lists ------------------------------------------------------------ */

static void
running_add(struct notifier *n, struct xfer *x)
{
	x->prev = NULL;
	x->next = n->running;
	if (n->running)
		n->running->prev = x;
	n->running = x;
	n->n_running++;
}

static void
running_remove(struct notifier *n, struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		n->running = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	n->n_running--;
}

static void
xfer_free(struct xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	curl_slist_free_all(x->rcpt);
	free(x->url);
	free(x->payload);
	buf_free(&x->resp);
	free(x);
}

/* --- handles ---------------------------------------------------------- */

static void
on_handle_closed(uv_handle_t *h)
{
	struct notifier *n = h->data;

	if (h->type == UV_POLL)
		free(container_of((uv_poll_t *)h, struct notify_sock, poll));
	if (--n->open_handles > 0 || !n->torn_down)
		return;
	if (n->close_cb)
		n->close_cb(n->close_arg);
	free(n);
	if (--notifier_count == 0)
		curl_global_cleanup();
}

/* Stop watching a socket; its memory goes in the close callback. */
static void
sock_close(struct notify_sock *s)
{
	struct notifier *n = s->n;

	if (s->prev)
		s->prev->next = s->next;
	else
		n->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct notify_sock *s = container_of(p, struct notify_sock, poll);
	struct notifier *n = s->n;
	int flags = 0, running;

	/*
	 * libuv reports POLLERR (a receiver that reset the connection) as an
	 * error and stops the handle. ERR alone makes libcurl give up with
	 * "select/poll returned error"; with what it waited for it reads the
	 * answer or the real error (as agent/probe_http.c does).
	 */
	if (status < 0)
		events = s->events, flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(n->multi, s->fd, flags, &running);
	/* s may be closed inside (REMOVE); one libuv stopped that libcurl
	 * still wants goes on. */
	if (status < 0 && !uv_is_closing((uv_handle_t *)p) &&
	    !uv_is_active((uv_handle_t *)p))
		uv_poll_start(p, s->events, on_poll);
	check_done(n);
}

static int
on_curl_socket(
    CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct notifier *n = userp;
	struct notify_sock *s = socketp;
	int events = 0, rc;

	(void)easy;
	switch (what) {
	case CURL_POLL_IN:
	case CURL_POLL_OUT:
	case CURL_POLL_INOUT:
		if (s == NULL) {
			s = xcalloc(1, sizeof(*s));
			s->fd = fd;
			s->n = n;
			if ((rc = uv_poll_init_socket(n->loop, &s->poll, fd)) !=
			    0) {
				/* The transfer then ends by its timeout. */
				log_warnx("notify: cannot watch socket %d: %s",
				    (int)fd, uv_strerror(rc));
				free(s);
				return 0;
			}
			s->poll.data = n;
			n->open_handles++;
			s->next = n->socks;
			if (n->socks)
				n->socks->prev = s;
			n->socks = s;
			curl_multi_assign(n->multi, fd, s);
		}
		if (what != CURL_POLL_OUT)
			events |= UV_READABLE;
		if (what != CURL_POLL_IN)
			events |= UV_WRITABLE;
		s->events = events;
		uv_poll_start(&s->poll, events, on_poll);
		break;
	case CURL_POLL_REMOVE:
		if (s != NULL) {
			sock_close(s);
			curl_multi_assign(n->multi, fd, NULL);
		}
		break;
	}
	return 0;
}

static void
on_timeout(uv_timer_t *t)
{
	struct notifier *n = t->data;
	int running;

	curl_multi_socket_action(n->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(n);
}

static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct notifier *n = userp;

	(void)multi;
	if (n->torn_down)
		return 0;
	/* A 0 timeout runs on the next loop turn: never from inside a
	 * libcurl call. */
	if (timeout_ms < 0)
		uv_timer_stop(&n->timer);
	else
		uv_timer_start(&n->timer, on_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

/* --- results ---------------------------------------------------------- */

static void set_error(struct notify_result *res, const char *fmt, ...)
    SN_PRINTF(2, 3);

static void
set_error(struct notify_result *res, const char *fmt, ...)
{
	va_list ap;

	res->ok = false;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
	/* One line for the log and the outbox, whatever a server said. */
	for (char *p = res->error; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* The first bytes of a reply, for an error message. */
static void
reply_excerpt(const struct xfer *x, char *out, size_t size)
{
	size_t len = x->resp.len < size - 1 ? x->resp.len : size - 1;

	/* Cut on a UTF-8 character boundary. */
	while (len > 0 && len < x->resp.len &&
	    ((unsigned char)x->resp.data[len] & 0xc0) == 0x80)
		len--;
	if (len)
		memcpy(out, x->resp.data, len);
	out[len] = '\0';
}

/* A robot's JSON reply: errcode/code 0 means accepted. */
static void
check_robot_reply(struct xfer *x, struct notify_result *res)
{
	json_t *j, *code, *msg;
	json_error_t jerr;
	char excerpt[96];
	const char *kname = x->format == HOOK_FEISHU ? "code" : "errcode";
	const char *mname = x->format == HOOK_FEISHU ? "msg" : "errmsg";

	if (x->resp_cut) {
		set_error(res, "HTTP %ld but the reply is larger than %d KiB",
		    res->http_status, NOTIFY_RESP_MAX / 1024);
		return;
	}
	j = json_loadb((const char *)x->resp.data, x->resp.len, 0, &jerr);
	if (j == NULL || !json_is_object(j)) {
		reply_excerpt(x, excerpt, sizeof(excerpt));
		set_error(res, "HTTP %ld but the reply is not JSON: %s",
		    res->http_status, excerpt);
		json_decref(j);
		return;
	}
	code = json_object_get(j, kname);
	msg = json_object_get(j, mname);
	/* Feishu's older replies: {"StatusCode":0,"StatusMessage":"success"} */
	if (x->format == HOOK_FEISHU && !json_is_integer(code)) {
		code = json_object_get(j, "StatusCode");
		msg = json_object_get(j, "StatusMessage");
	}
	if (!json_is_integer(code))
		set_error(res, "HTTP %ld but the reply has no %s",
		    res->http_status, kname);
	else if (json_integer_value(code) != 0)
		set_error(res, "robot refused: %s %" JSON_INTEGER_FORMAT ": %s",
		    kname, json_integer_value(code),
		    json_is_string(msg) ? json_string_value(msg)
		                        : "(no message)");
	else
		res->ok = true;
	json_decref(j);
}

/* Replace every occurrence of tok (len n) in s with "***". */
static void
redact_one(char *s, const char *tok, size_t n)
{
	char *t = xmalloc(n + 1), *p;

	memcpy(t, tok, n);
	t[n] = '\0';
	while ((p = strstr(s, t)) != NULL) {
		memcpy(p, "***", 3);
		memmove(p + 3, p + n, strlen(p + n) + 1);
	}
	free(t);
}

/*
 * A server or proxy may echo the URL in an error page: never let a robot's
 * token (a query value, or the last path segment as in Feishu's hook URLs)
 * reach the log or the outbox.
 */
static void
redact_url_tokens(char *err, const char *url)
{
	const char *q = strchr(url, '?'), *end = q ? q : url + strlen(url);
	const char *seg = end;

	while (seg > url && seg[-1] != '/')
		seg--;
	if (end - seg >= 16)
		redact_one(err, seg, (size_t)(end - seg));
	for (const char *p = q; p && *p;) {
		const char *v = strchr(p, '='), *amp;

		if (v == NULL)
			break;
		v++;
		amp = v + strcspn(v, "&#");
		if (amp - v >= 6)
			redact_one(err, v, (size_t)(amp - v));
		p = *amp == '&' ? amp + 1 : NULL;
	}
}

static void
finish(struct xfer *x, CURLcode rc, struct notify_result *res)
{
	long code = 0;
	char excerpt[96];

	memset(res, 0, sizeof(*res));
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (x->kind == RECEIVER_EMAIL) {
		if (rc == CURLE_OK)
			res->ok = true;
		else if (code > 0)
			set_error(res, "%s (last SMTP reply %ld)",
			    x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc),
			    code);
		else
			set_error(res, "%s",
			    x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
		return;
	}
	res->http_status = code;
	/* Redact the whole reply before any excerpt is cut from it: a token
	 * cut in half would not be found afterwards. */
	if (x->resp.len > 0) {
		uint8_t *nul = buf_reserve(&x->resp, 1);

		if (nul == NULL) /* at its cap: drop the last byte instead */
			x->resp.len--, nul = x->resp.data + x->resp.len;
		*nul = '\0';
		redact_url_tokens((char *)x->resp.data, x->url);
		x->resp.len = strlen((char *)x->resp.data);
	}
	if (rc != CURLE_OK) {
		set_error(res, "%s",
		    x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
	} else if (x->format == HOOK_GENERIC) {
		if (code >= 200 && code <= 299) {
			res->ok = true;
		} else {
			reply_excerpt(x, excerpt, sizeof(excerpt));
			set_error(res, "HTTP %ld%s%s", code,
			    excerpt[0] ? ": " : "", excerpt);
		}
	} else if (code != 200) {
		reply_excerpt(x, excerpt, sizeof(excerpt));
		set_error(
		    res, "HTTP %ld%s%s", code, excerpt[0] ? ": " : "", excerpt);
	} else {
		check_robot_reply(x, res);
	}
	if (!res->ok)
		redact_url_tokens(res->error, x->url);
}

static void
report(struct notifier *n, struct xfer *x, const struct notify_result *res)
{
	if (res->ok)
		log_debug("notify: receiver %s: message %" PRId64 " delivered",
		    x->name, x->msg_id);
	else
		log_debug("notify: receiver %s: message %" PRId64 " failed: %s",
		    x->name, x->msg_id, res->error);
	if (n->cb)
		n->cb(n->arg, x->msg_id, res);
}

/* Hand finished transfers to the callback (which may send more, or close
 * the notifier: then the rest is dropped, as notifier_close promises). */
static void
check_done(struct notifier *n)
{
	struct notify_result res;
	struct xfer *x;
	CURLMsg *m;
	CURLcode rc;
	char *priv;
	int left;

	n->dispatching++;
	while (!n->closing && (m = curl_multi_info_read(n->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		x = (struct xfer *)(void *)priv;
		curl_multi_remove_handle(n->multi, x->easy);
		running_remove(n, x);
		finish(x, rc, &res);
		report(n, x, &res);
		xfer_free(x);
	}
	if (--n->dispatching == 0 && n->closing)
		teardown(n);
}

static void
on_defer(uv_timer_t *t)
{
	struct notifier *n = t->data;
	struct xfer *x;

	n->dispatching++;
	while (!n->closing && (x = n->failed) != NULL) {
		n->failed = x->next;
		if (n->failed == NULL)
			n->failed_last = NULL;
		n->n_failed--;
		report(n, x, &x->res);
		xfer_free(x);
	}
	if (--n->dispatching == 0 && n->closing)
		teardown(n);
}

/* x failed before it started: its callback runs on the next loop turn. */
static void
defer_failure(struct notifier *n, struct xfer *x)
{
	x->next = NULL;
	if (n->failed_last)
		n->failed_last->next = x;
	else
		n->failed = x;
	n->failed_last = x;
	n->n_failed++;
	uv_timer_start(&n->defer, on_defer, 0, 0);
}

/* --- crypto helpers (OpenSSL) ----------------------------------------- */

/* base64 of in[0..len), malloc'd. */
static char *
b64(const void *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* base64(HMAC-SHA256(key, msg)), malloc'd. */
static char *
hmac_sha256_b64(const char *key, size_t keylen, const char *msg, size_t msglen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg,
	        msglen, mac, &maclen) == NULL)
		fatalx("notify: HMAC-SHA256 failed");
	return b64(mac, maclen);
}

/* --- webhooks --------------------------------------------------------- */

static size_t
on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, room = NOTIFY_RESP_MAX - x->resp.len;

	/* Keep the first 64 KiB; read and drop the rest (the timeout bounds
	 * how long a server can keep talking). */
	if (n > room)
		x->resp_cut = true;
	if (n > 0 && room > 0 &&
	    buf_add(&x->resp, data, n < room ? n : room) != 0)
		x->resp_cut = true;
	return n;
}

/*
 * DingTalk 加签 (open.dingtalk.com, 自定义机器人安全设置; mirrored at
 * apifox.com/apidoc/docs-site/467052/doc-3550006): string_to_sign =
 * timestamp + "\n" + secret, with timestamp in milliseconds; sign =
 * urlEncode(base64(HmacSHA256(key = secret, string_to_sign))), UTF-8;
 * both appended to the webhook URL as &timestamp=...&sign=...
 */
static int
dingtalk_url(struct xfer *x, const char *url, const char *secret)
{
	CURLU *u = curl_url();
	char ts[32], *tosign, *sig, *esc, *full = NULL, q[256];
	int rc = -1;

	snprintf(ts, sizeof(ts), "%" PRIu64, time_now_ms());
	tosign = xmalloc(strlen(ts) + 1 + strlen(secret) + 1);
	sprintf(tosign, "%s\n%s", ts, secret);
	sig = hmac_sha256_b64(secret, strlen(secret), tosign, strlen(tosign));
	esc = curl_easy_escape(NULL, sig, 0);
	snprintf(q, sizeof(q), "timestamp=%s", ts);
	if (esc && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY) ==
	        CURLUE_OK) {
		snprintf(q, sizeof(q), "sign=%s", esc);
		if (curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY) ==
		        CURLUE_OK &&
		    curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK) {
			x->url = xstrdup(full);
			rc = 0;
		}
	}
	curl_free(full);
	curl_free(esc);
	free(sig);
	free(tosign);
	curl_url_cleanup(u);
	return rc;
}

/*
 * Feishu 签名校验 (open.feishu.cn/document/client-docs/bot-v3/add-custom-bot,
 * 自定义机器人使用指南): string_to_sign = timestamp + "\n" + secret, with
 * timestamp in seconds; sign = base64(HmacSHA256(key = string_to_sign,
 * message = "")) -- the key, not the message, carries the secret (the
 * guide's Python and Go examples). Both go into the JSON body as strings.
 */
static char *
feishu_signed_body(const char *body, const char *secret)
{
	json_t *j = json_loads(body, 0, NULL);
	char ts[32], *key, *sig, *out;

	if (j == NULL)
		fatalx("notify: cannot parse our own Feishu body");
	snprintf(ts, sizeof(ts), "%" PRIu64, time_now_ms() / 1000);
	key = xmalloc(strlen(ts) + 1 + strlen(secret) + 1);
	sprintf(key, "%s\n%s", ts, secret);
	sig = hmac_sha256_b64(key, strlen(key), "", 0);
	json_object_set_new(j, "timestamp", json_string(ts));
	json_object_set_new(j, "sign", json_string(sig));
	out = json_dumps(j, JSON_COMPACT);
	if (out == NULL)
		fatalx("notify: cannot encode a Feishu body");
	json_decref(j);
	free(key);
	free(sig);
	return out;
}

static long
timeout_ms(double seconds, double fallback)
{
	if (!(seconds > 0))
		seconds = fallback;
	return (long)(seconds * 1000 + 0.5);
}

static int
setup_webhook(struct xfer *x, const struct receiver_conf *r,
    const struct alert_event *ev, const char *title, const char *text)
{
	char *body = notify_webhook_body(r->format, ev, title, text);
	long ms = timeout_ms(r->timeout, 10);
	CURL *e = x->easy;

	if (r->format == HOOK_FEISHU && r->secret[0]) {
		char *signed_body = feishu_signed_body(body, r->secret);

		free(body);
		body = signed_body;
	}
	x->payload = body;
	x->payload_len = strlen(body);
	if (r->format == HOOK_DINGTALK && r->secret[0]) {
		if (dingtalk_url(x, r->url, r->secret) != 0) {
			set_error(
			    &x->res, "cannot add the signature to the URL");
			return -1;
		}
	} else {
		x->url = xstrdup(r->url);
	}
	x->headers = curl_slist_append(
	    x->headers, "Content-Type: application/json; charset=utf-8");
	x->headers = curl_slist_append(x->headers, "Accept: application/json");
	x->headers = curl_slist_append(x->headers, "Expect:");
	if (x->headers == NULL)
		fatalx("notify: out of memory");
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->payload);
	curl_easy_setopt(
	    e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->payload_len);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms);
	return 0;
}

/* --- e-mail ----------------------------------------------------------- */

static size_t
on_read(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, left = x->payload_len - x->payload_off;

	if (n > left)
		n = left;
	memcpy(dst, x->payload + x->payload_off, n);
	x->payload_off += n;
	return n;
}

/* The address in "addr" or "Name <addr>", into out (empty if none). */
static void
mail_addr(const char *s, char *out, size_t size)
{
	const char *lt = strchr(s, '<'), *gt;
	size_t len;

	if (lt && (gt = strchr(lt, '>')) != NULL) {
		s = lt + 1;
		len = (size_t)(gt - s);
	} else {
		while (*s == ' ')
			s++;
		len = strcspn(s, " ");
	}
	if (len >= size)
		len = 0;
	memcpy(out, s, len);
	out[len] = '\0';
}

/* A header value must never carry a line break or control character. */
static bool
header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool
is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/*
 * RFC 2047 encoded-words, B encoding: each word at most 75 characters,
 * each holding whole UTF-8 characters, words separated by folding
 * whitespace ("\r\n ").
 */
static void
put_encoded_words(FILE *f, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		size_t n = len - off > 39 ? 39 : len - off;
		char *w;

		while (off + n < len && n > 0 &&
		    ((unsigned char)s[off + n] & 0xc0) == 0x80)
			n--;
		w = b64(s + off, n);
		fprintf(f, "%s=?UTF-8?B?%s?=", off ? "\r\n " : "", w);
		free(w);
		off += n;
	}
}

/* Subject: plain when short ASCII, else encoded (RFC 2047). */
static void
put_subject(FILE *f, const char *s)
{
	fputs("Subject: ", f);
	if (is_ascii(s) && strlen(s) <= 68)
		fputs(s, f);
	else
		put_encoded_words(f, s);
	fputs("\r\n", f);
}

/* RFC 5322 date in local time: "Mon, 23 Nov 2026 08:15:00 +0800". */
static void
put_date(FILE *f, uint64_t ms, int off_min)
{
	static const char *const days[] = {
	    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)((int64_t)(ms / 1000) + (int64_t)off_min * 60);
	int a = off_min < 0 ? -off_min : off_min;
	struct tm tm;

	gmtime_r(&t, &tm);
	fprintf(f, "Date: %s, %d %s %04d %02d:%02d:%02d %c%02d%02d\r\n",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, off_min < 0 ? '-' : '+', a / 60,
	    a % 60);
}

/* The whole message, headers and base64 body, with CRLF line ends. */
static char *
mail_message(struct notifier *n, const struct xfer *x, const char *from,
    const char *to, const char *title, const char *text, size_t *lenp)
{
	char *msg = NULL, *body, *crlf, domain[256], *at, rnd[8];
	size_t msglen = 0, textlen = strlen(text), blen, ci = 0;
	uint64_t now = time_now_ms();
	FILE *f = open_memstream(&msg, &msglen);

	if (f == NULL)
		fatal("notify: open_memstream");
	put_date(f, now, n->utc_offset_min);
	fputs("From: schoolnet <", f);
	fputs(from, f);
	fputs(">\r\n", f);
	/* One address per line: a long list folds cleanly. */
	fputs("To: ", f);
	for (const char *p = to, *sep = ""; *p;) {
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, ",");
		while (len > 0 && p[len - 1] == ' ')
			len--;
		fprintf(f, "%s%.*s", sep, (int)len, p);
		sep = ",\r\n ";
		p += strcspn(p, ",");
	}
	fputs("\r\n", f);
	put_subject(f, title);
	at = strrchr(from, '@');
	snprintf(domain, sizeof(domain), "%s",
	    at && at[1] ? at + 1 : "schoolnet.invalid");
	for (char *p = domain; *p; p++)
		if (!strchr(
		        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		        "0123456789.-",
		        *p))
			*p = '-';
	if (RAND_bytes((unsigned char *)rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	fprintf(f,
	    "Message-ID: <schoolnet.%" PRId64 ".%" PRIu64
	    ".%02x%02x%02x%02x%02x%02x%02x%02x@%s>\r\n",
	    x->msg_id, now, (unsigned char)rnd[0], (unsigned char)rnd[1],
	    (unsigned char)rnd[2], (unsigned char)rnd[3], (unsigned char)rnd[4],
	    (unsigned char)rnd[5], (unsigned char)rnd[6], (unsigned char)rnd[7],
	    domain);
	fputs("MIME-Version: 1.0\r\n"
	      "Content-Type: text/plain; charset=UTF-8\r\n"
	      "Content-Transfer-Encoding: base64\r\n"
	      "Auto-Submitted: auto-generated\r\n"
	      "X-Mailer: " NOTIFY_UA "\r\n"
	      "\r\n",
	    f);
	/* text/plain's canonical line end is CRLF, before encoding. */
	crlf = xmalloc(textlen * 2 + 3);
	for (size_t i = 0; i < textlen; i++) {
		if (text[i] == '\n')
			crlf[ci++] = '\r';
		crlf[ci++] = text[i];
	}
	crlf[ci++] = '\r';
	crlf[ci++] = '\n';
	body = b64(crlf, ci);
	blen = strlen(body);
	for (size_t i = 0; i < blen; i += 76)
		fprintf(f, "%.*s\r\n", (int)(blen - i < 76 ? blen - i : 76),
		    body + i);
	free(body);
	free(crlf);
	if (fclose(f) != 0)
		fatal("notify: writing a mail message");
	*lenp = msglen;
	return msg;
}

static int
setup_email(struct xfer *x, const struct receiver_conf *r, const char *title,
    const char *text)
{
	struct notifier *n = x->n;
	const struct smtp_conf *s = &n->smtp;
	char from[256], rcpt[300];
	long ms = timeout_ms(s->timeout, 30);
	CURL *e = x->easy;
	int count = 0;

	if (!s->configured) {
		set_error(&x->res, "no [smtp] section in the config");
		return -1;
	}
	mail_addr(s->from, from, sizeof(from));
	if (from[0] == '\0' || !header_safe(from) ||
	    strchr(from, '@') == NULL) {
		set_error(&x->res, "[smtp] from is not an address");
		return -1;
	}
	if (!header_safe(r->to) || !header_safe(title)) {
		set_error(&x->res, "a header would contain a line break");
		return -1;
	}
	for (const char *p = r->to; *p;) {
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, ",");
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len + 3 > sizeof(rcpt)) {
			set_error(&x->res, "recipient address too long");
			return -1;
		}
		snprintf(rcpt, sizeof(rcpt), "<%.*s>", (int)len, p);
		x->rcpt = curl_slist_append(x->rcpt, rcpt);
		if (x->rcpt == NULL)
			fatalx("notify: out of memory");
		count++;
		p += strcspn(p, ",");
	}
	if (count == 0) {
		set_error(&x->res, "no recipient address");
		return -1;
	}
	x->payload =
	    mail_message(n, x, from, r->to, title, text, &x->payload_len);
	snprintf(rcpt, sizeof(rcpt), "<%s>", from);
	curl_easy_setopt(e, CURLOPT_URL, s->server);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(e, CURLOPT_MAIL_FROM, rcpt);
	curl_easy_setopt(e, CURLOPT_MAIL_RCPT, x->rcpt);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(e, CURLOPT_READDATA, x);
	curl_easy_setopt(
	    e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->payload_len);
	curl_easy_setopt(e, CURLOPT_USE_SSL,
	    s->starttls == 2       ? (long)CURLUSESSL_ALL
	        : s->starttls == 1 ? (long)CURLUSESSL_TRY
	                           : (long)CURLUSESSL_NONE);
	if (s->username[0]) {
		curl_easy_setopt(e, CURLOPT_USERNAME, s->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, s->password);
	}
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms);
	/* libcurl waits for the reply to QUIT when it closes an SMTP
	 * connection: close it right after the message (not from the
	 * connection cache later), and bound that wait. */
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(
	    e, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)((ms + 999) / 1000));
	return 0;
}

/* --- interface -------------------------------------------------------- */

struct notifier *
notifier_new(uv_loop_t *loop, const struct collector_conf *conf,
    int utc_offset_min, notify_cb cb, void *arg)
{
	struct notifier *n = xcalloc(1, sizeof(*n));

	if (notifier_count++ == 0 &&
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("notify: curl_global_init failed");
	n->loop = loop;
	n->smtp = conf->smtp;
	n->default_lang = conf->alerts.lang;
	n->utc_offset_min = utc_offset_min;
	n->cb = cb;
	n->arg = arg;
	if ((n->multi = curl_multi_init()) == NULL)
		fatalx("notify: curl_multi_init failed");
	curl_multi_setopt(n->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(n->multi, CURLMOPT_SOCKETDATA, n);
	curl_multi_setopt(n->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(n->multi, CURLMOPT_TIMERDATA, n);
	uv_timer_init(loop, &n->timer);
	uv_timer_init(loop, &n->defer);
	n->timer.data = n->defer.data = n;
	n->open_handles = 2;
	return n;
}

void
notifier_send(struct notifier *n, int64_t msg_id, const struct receiver_conf *r,
    const struct alert_event *ev)
{
	struct xfer *x;
	char *title, *text;
	int lang, rc;
	CURLMcode mrc;

	if (n->closing) {
		log_warnx(
		    "notify: receiver %s: notifier closing, message %" PRId64
		    " not sent",
		    r->name, msg_id);
		return;
	}
	x = xcalloc(1, sizeof(*x));
	x->n = n;
	x->msg_id = msg_id;
	x->kind = r->kind;
	x->format = r->format;
	snprintf(x->name, sizeof(x->name), "%s", r->name);
	buf_init(&x->resp, NOTIFY_RESP_MAX);
	/* receiver lang: 0 default, 1 zh, 2 en; render: 0 zh, 1 en */
	lang = r->lang == 0 ? n->default_lang : r->lang - 1;
	notify_render(ev, lang, n->utc_offset_min, &title, &text);
	if ((x->easy = curl_easy_init()) == NULL)
		fatalx("notify: curl_easy_init failed");
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)(void *)x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, NOTIFY_UA);
	if (r->kind == RECEIVER_WEBHOOK)
		rc = setup_webhook(x, r, ev, title, text);
	else
		rc = setup_email(x, r, title, text);
	free(title);
	free(text);
	if (rc == 0 &&
	    (mrc = curl_multi_add_handle(n->multi, x->easy)) != CURLM_OK) {
		set_error(&x->res, "cannot start the transfer: %s",
		    curl_multi_strerror(mrc));
		rc = -1;
	}
	if (rc != 0)
		defer_failure(n, x);
	else
		running_add(n, x);
}

size_t
notifier_inflight(const struct notifier *n)
{
	return n->n_running + n->n_failed;
}

/* Drop every attempt, close libcurl's sockets, then our timers; n is freed
 * when the last close callback has run. */
static void
teardown(struct notifier *n)
{
	struct xfer *x;

	if (n->torn_down)
		return;
	while ((x = n->running) != NULL) {
		running_remove(n, x);
		curl_multi_remove_handle(n->multi, x->easy);
		xfer_free(x);
	}
	while ((x = n->failed) != NULL) {
		n->failed = x->next;
		xfer_free(x);
	}
	n->failed_last = NULL;
	n->n_failed = 0;
	curl_multi_cleanup(n->multi); /* may still close sockets: REMOVE */
	n->multi = NULL;
	/* Whatever libcurl did not tell us to stop watching. */
	while (n->socks != NULL)
		sock_close(n->socks);
	n->torn_down = true;
	uv_close((uv_handle_t *)&n->timer, on_handle_closed);
	uv_close((uv_handle_t *)&n->defer, on_handle_closed);
}

void
notifier_close(struct notifier *n, void (*cb)(void *), void *arg)
{
	if (n->closing)
		return;
	n->closing = true;
	n->close_cb = cb;
	n->close_arg = arg;
	/* Inside our own callback: check_done/on_defer finish the job once
	 * the callback returns. */
	if (n->dispatching == 0)
		teardown(n);
}
