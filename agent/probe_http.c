/* probe_http.c: libcurl multi on the agent's loop: throughput tests and
 * recording-host checks (HTTP(S), RTSP). */
#define _GNU_SOURCE /* memmem */
#include <sys/ioctl.h>
#include <linux/sockios.h> /* SIOCOUTQ */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "probe.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/version.h"

/*
 * The loop integration is the one of collector/notify.c (after curl's
 * docs/examples/multi-uv.c): libcurl names the sockets to watch
 * (CURLMOPT_SOCKETFUNCTION: one uv_poll_t each, started, updated and
 * closed as it says) and when to call it back (CURLMOPT_TIMERFUNCTION: one
 * uv_timer_t); we answer with curl_multi_socket_action() and collect
 * finished transfers with curl_multi_info_read() after every action.
 *
 * curl_global_init runs once per process, in the first curl_runner_new
 * (the agent's loop thread; nothing else in the agent uses libcurl, and
 * libcurl 7.84+ makes it thread-safe anyway). It is never undone:
 * curl_global_cleanup is not thread-safe and the agent needs libcurl for
 * its whole life.
 *
 * Throughput, per direction (download, then upload):
 *   - `streams` HTTP/1.1 connections at once (never multiplexed, no proxy:
 *     the path itself is measured). Stream i of n asks for max_bytes / n
 *     bytes, the first max_bytes % n streams one more, so the streams add
 *     up to max_bytes exactly. Downloads GET down_url with "?bytes=N"
 *     ("&bytes=N" if it has a query); uploads POST N bytes to up_url, a
 *     4 KiB pattern repeated by CURLOPT_READFUNCTION.
 *   - A direction ends when every stream has (max_bytes reached) or at
 *     max_seconds after it started (connects included): the streams still
 *     running are removed from the multi handle. That cut is not an error.
 *   - Payload bytes: downloads count the body bytes received (a server that
 *     sends more than asked is cut at the share); an upload that completed
 *     counts its body, one cut by time counts what the peer acknowledged:
 *     CURLINFO_SIZE_UPLOAD_T (body bytes handed to the kernel) less the
 *     socket's unacknowledged send queue (SIOCOUTQ).
 *   - Time: from the first payload byte of any stream (download: first body
 *     bytes received; upload: first body bytes handed to libcurl) to the
 *     last of any (download: last body bytes received; upload: the answer
 *     to the last completed POST, or the cut). Connection setup and the
 *     request are outside it, as they are for iperf3. If all came in one
 *     piece (no interval), the time runs from the direction's start.
 *   - Mbps = payload bytes of all streams * 8 / that time / 1e6.
 *   - Errors (no connection, HTTP >= 400 or not 2xx, a stream that broke)
 *     go into `error` as "GET|POST URL: reason", the first per direction,
 *     the URL without its query (it may carry a token). A direction that
 *     moved data is still reported; one that did not has mbps -1.
 */

#define TP_STREAMS_MAX 16
#define TP_SECONDS_MAX 300.0
#define TP_CONNECT_MS 10000 /* at most; less when max_seconds is less */
#define TP_SLACK_MS 10000   /* libcurl's own backstop past max_seconds */
#define TP_RECV_BUFFER (256 * 1024) /* fewer, larger reads at 1 Gbit/s */
#define TP_SEND_BUFFER (256 * 1024)
#define TP_PATTERN_LEN 4096
#define HC_BODY_MAX (64 * 1024) /* expected text: looked for this far */
#define HC_SECONDS_MAX 120.0
#define HC_MAX 256 /* host checks at once */
#define PROBE_UA "schoolnet-agent/" SCHOOLNET_VERSION

enum xfer_kind { XF_DOWN, XF_UP, XF_HOST };

/* What CURLINFO_PRIVATE points to: the first member of each transfer. */
struct xfer {
	enum xfer_kind kind;
};

struct runner_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	int events; /* UV_READABLE|UV_WRITABLE, as libcurl asked */
	struct curl_runner *cr;
	struct runner_sock *prev, *next; /* cr->socks, until closed */
};

enum tp_dir { TP_DOWN, TP_UP };

struct tp_test;

struct tp_stream {
	struct xfer x;
	struct tp_test *tp;
	CURL *easy;
	char *url;        /* the download's, with bytes=N */
	uint64_t want;    /* this stream's share of max_bytes */
	uint64_t bytes;   /* payload that arrived (see above) */
	uint64_t handed;  /* upload: body bytes given to libcurl */
	curl_socket_t fd; /* its connection, for SIOCOUTQ */
	bool active;
	bool capped; /* download: the server sent more than asked */
	char errbuf[CURL_ERROR_SIZE];
};

struct tp_test {
	struct curl_runner *cr;
	throughput_cb cb;
	void *arg;
	char *down_url, *up_url;
	struct curl_slist *down_hdrs, *up_hdrs;
	uint64_t max_bytes;
	double max_seconds;
	int n_streams;
	enum tp_dir dir;
	struct tp_stream st[TP_STREAMS_MAX];
	int active;      /* streams on the multi handle */
	bool dir_failed; /* this direction has its error already */
	uint64_t t_begin, t_first, t_last; /* uv_hrtime, ns; 0: not yet */
	struct throughput_result res;
};

struct host_check {
	struct xfer x;
	struct curl_runner *cr;
	struct host_check *prev, *next; /* cr->checks */
	CURL *easy;
	host_check_cb cb;
	void *arg;
	char *url;
	char *expect; /* NULL: the status is enough */
	size_t expect_len;
	bool rtsp, describing;
	bool stopped; /* we ended the body on purpose */
	bool found;
	char *body; /* up to HC_BODY_MAX, only with expect */
	size_t body_len;
	size_t seen; /* RTSP: SDP bytes */
	uint64_t t0; /* uv_hrtime at the start */
	long timeout_ms;
	char errbuf[CURL_ERROR_SIZE];
	struct host_check_result res;
};

struct curl_runner {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;    /* libcurl's timeouts */
	uv_timer_t deadline; /* the throughput direction's max_seconds */
	int open_handles;
	struct runner_sock *socks;
	struct host_check *checks;
	size_t n_checks;
	struct tp_test *tp; /* the one throughput test, or NULL */
	int dispatching;    /* inside our own callbacks */
	bool closing, torn_down;
};

static char tp_pattern[TP_PATTERN_LEN];

static void runner_check_done(struct curl_runner *cr);
static void runner_teardown(struct curl_runner *cr);
static void tp_begin(struct tp_test *tp, enum tp_dir dir);

/* --- handles ---------------------------------------------------------- */

static void
on_handle_closed(uv_handle_t *h)
{
	struct curl_runner *cr = h->data;

	if (h->type == UV_POLL)
		free(container_of((uv_poll_t *)h, struct runner_sock, poll));
	if (--cr->open_handles > 0 || !cr->torn_down)
		return;
	free(cr);
}

/* Stop watching a socket; its memory goes in the close callback. */
static void
sock_close(struct runner_sock *s)
{
	struct curl_runner *cr = s->cr;

	if (s->prev)
		s->prev->next = s->next;
	else
		cr->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct runner_sock *s = container_of(p, struct runner_sock, poll);
	struct curl_runner *cr = s->cr;
	int flags = 0, running;

	/*
	 * libuv reports POLLERR (a peer that reset the connection, as a
	 * server refusing an upload does) as an error and stops the handle.
	 * ERR alone makes libcurl give up with "select/poll returned error";
	 * with what it waited for it reads the answer or the real error.
	 */
	if (status < 0)
		events = s->events, flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(cr->multi, s->fd, flags, &running);
	/* s may be closed inside (REMOVE), but is freed only later by its
	 * close callback. One libuv stopped and libcurl still wants: on. */
	if (status < 0 && !uv_is_closing((uv_handle_t *)p) &&
	    !uv_is_active((uv_handle_t *)p))
		uv_poll_start(p, s->events, on_poll);
	runner_check_done(cr);
}

/* A throughput stream's transfer, or NULL. */
static struct tp_stream *
easy_stream(CURL *easy)
{
	char *priv = NULL;
	struct xfer *x;

	if (easy == NULL ||
	    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
	    priv == NULL)
		return NULL;
	x = (struct xfer *)(void *)priv;
	if (x->kind != XF_DOWN && x->kind != XF_UP)
		return NULL;
	return container_of(x, struct tp_stream, x);
}

static int
on_curl_socket(
    CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct curl_runner *cr = userp;
	struct runner_sock *s = socketp;
	struct tp_stream *ts = easy_stream(easy);
	int events = 0, rc;

	switch (what) {
	case CURL_POLL_IN:
	case CURL_POLL_OUT:
	case CURL_POLL_INOUT:
		/* HTTP/1.1 only: one connection per stream, one stream per
		 * connection. */
		if (ts != NULL)
			ts->fd = fd;
		if (s == NULL) {
			s = xcalloc(1, sizeof(*s));
			s->fd = fd;
			s->cr = cr;
			if ((rc = uv_poll_init_socket(
			         cr->loop, &s->poll, fd)) != 0) {
				/* The transfer then ends by its timeout. */
				log_warnx("probe: cannot watch socket %d: %s",
				    (int)fd, uv_strerror(rc));
				free(s);
				return 0;
			}
			s->poll.data = cr;
			cr->open_handles++;
			s->next = cr->socks;
			if (cr->socks)
				cr->socks->prev = s;
			cr->socks = s;
			curl_multi_assign(cr->multi, fd, s);
		}
		if (what != CURL_POLL_OUT)
			events |= UV_READABLE;
		if (what != CURL_POLL_IN)
			events |= UV_WRITABLE;
		s->events = events;
		uv_poll_start(&s->poll, events, on_poll);
		break;
	case CURL_POLL_REMOVE:
		if (ts != NULL && ts->fd == fd)
			ts->fd = CURL_SOCKET_BAD;
		if (s != NULL) {
			sock_close(s);
			curl_multi_assign(cr->multi, fd, NULL);
		}
		break;
	}
	return 0;
}

static void
on_timeout(uv_timer_t *t)
{
	struct curl_runner *cr = t->data;
	int running;

	curl_multi_socket_action(cr->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	runner_check_done(cr);
}

static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct curl_runner *cr = userp;

	(void)multi;
	if (cr->torn_down)
		return 0;
	/* A 0 timeout runs on the next loop turn: never from inside a
	 * libcurl call. */
	if (timeout_ms < 0)
		uv_timer_stop(&cr->timer);
	else
		uv_timer_start(&cr->timer, on_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

/* --- small helpers ----------------------------------------------------- */

static char *probe_asprintf(const char *fmt, ...) SN_PRINTF(1, 2);

static char *
probe_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("probe: vsnprintf failed");
	s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* Append "; " and a formatted message to err (size bytes), control
 * characters made spaces: one line, whatever a server said. */
static void err_append(char *err, size_t size, const char *fmt, ...)
    SN_PRINTF(3, 4);

static void
err_append(char *err, size_t size, const char *fmt, ...)
{
	size_t len = strlen(err);
	va_list ap;

	if (len > 0 && len + 2 < size) {
		memcpy(err + len, "; ", 3);
		len += 2;
	}
	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(err + len, size - len, fmt, ap);
	va_end(ap);
	for (char *p = err + len; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* The URL for a message: no query (a one-time token may be there). */
static int
url_len_shown(const char *url)
{
	size_t n = strcspn(url, "?#");

	return n > 200 ? 200 : (int)n;
}

static const char *
curl_reason(CURLcode rc, const char *errbuf)
{
	return errbuf[0] ? errbuf : curl_easy_strerror(rc);
}

/* Options every transfer gets. */
static void
easy_common(CURL *e, const char *url, struct xfer *x, char *errbuf,
    long connect_ms, long total_ms)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms);
	/* The path itself, not a proxy from the environment. */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_USERAGENT, PROBE_UA);
	errbuf[0] = '\0';
}

/* --- throughput ------------------------------------------------------- */

static size_t
on_down_data(char *p, size_t size, size_t n, void *arg)
{
	struct tp_stream *s = arg;
	struct tp_test *tp = s->tp;
	size_t len = size * n, take = len;
	uint64_t now = uv_hrtime();
	long status = 0;

	(void)p;
	if (s->bytes == 0) {
		/* Only a 2xx body is payload (a redirect or an error page
		 * is not what we asked for). */
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status < 200 || status > 299)
			return 0;
	}
	if (take > s->want - s->bytes) {
		take = (size_t)(s->want - s->bytes);
		s->capped = true;
	}
	if (take > 0) {
		s->bytes += take;
		if (tp->t_first == 0)
			tp->t_first = now;
		tp->t_last = now;
	}
	return take; /* short when capped: libcurl ends the transfer */
}

static size_t
on_up_read(char *buf, size_t size, size_t n, void *arg)
{
	struct tp_stream *s = arg;
	size_t room = size * n, len, off = 0;

	len = s->want - s->handed < room ? (size_t)(s->want - s->handed) : room;
	while (off < len) {
		size_t pos = (size_t)((s->handed + off) % TP_PATTERN_LEN);
		size_t k = TP_PATTERN_LEN - pos;

		if (k > len - off)
			k = len - off;
		memcpy(buf + off, tp_pattern + pos, k);
		off += k;
	}
	s->handed += len;
	if (len > 0 && s->tp->t_first == 0)
		s->tp->t_first = uv_hrtime();
	return len;
}

static size_t
on_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* Remove a stream from the multi handle (a transfer still running is
 * abandoned: libcurl closes its connection). */
static void
tp_stream_release(struct tp_stream *s)
{
	struct tp_test *tp = s->tp;

	if (!s->active)
		return;
	curl_multi_remove_handle(tp->cr->multi, s->easy);
	curl_easy_cleanup(s->easy);
	s->easy = NULL;
	free(s->url);
	s->url = NULL;
	s->active = false;
	tp->active--;
}

static void
tp_free(struct tp_test *tp)
{
	for (int i = 0; i < tp->n_streams; i++)
		tp_stream_release(&tp->st[i]);
	curl_slist_free_all(tp->down_hdrs);
	curl_slist_free_all(tp->up_hdrs);
	free(tp->down_url);
	free(tp->up_url);
	free(tp);
}

static void
tp_fail(struct tp_test *tp, const char *reason)
{
	const char *url = tp->dir == TP_DOWN ? tp->down_url : tp->up_url;

	if (tp->dir_failed)
		return;
	tp->dir_failed = true;
	err_append(tp->res.error, sizeof(tp->res.error), "%s %.*s: %s",
	    tp->dir == TP_DOWN ? "GET" : "POST", url_len_shown(url), url,
	    reason);
}

static void
tp_finish(struct tp_test *tp)
{
	struct curl_runner *cr = tp->cr;
	struct throughput_result res = tp->res;
	throughput_cb cb = tp->cb;
	void *arg = tp->arg;

	cr->tp = NULL;
	tp_free(tp);
	log_debug("probe: throughput down %.1f Mbps (%" PRIu64 " bytes, %.2f s)"
	          ", up %.1f Mbps (%" PRIu64 " bytes, %.2f s)%s%s",
	    res.down_mbps, res.down_bytes, res.down_s, res.up_mbps,
	    res.up_bytes, res.up_s, res.error[0] ? ": " : "", res.error);
	cb(&res, arg);
}

/* The direction is over (every stream done, or its time is up). */
static void
tp_dir_end(struct tp_test *tp)
{
	uint64_t bytes = 0, t0, t1;
	double secs = 0, mbps = -1;

	uv_timer_stop(&tp->cr->deadline);
	for (int i = 0; i < tp->n_streams; i++) {
		tp_stream_release(&tp->st[i]);
		bytes += tp->st[i].bytes;
	}
	if (bytes > 0) {
		t0 = tp->t_first;
		t1 = tp->t_last;
		if (t0 == 0 || t1 <= t0)
			t0 = tp->t_begin;
		if (t1 > t0) {
			secs = (double)(t1 - t0) / 1e9;
			mbps = (double)bytes * 8 / secs / 1e6;
		}
	}
	if (tp->dir == TP_DOWN) {
		tp->res.down_bytes = bytes;
		tp->res.down_s = secs;
		tp->res.down_mbps = mbps;
		if (tp->up_url != NULL) {
			tp_begin(tp, TP_UP);
			return;
		}
	} else {
		tp->res.up_bytes = bytes;
		tp->res.up_s = secs;
		tp->res.up_mbps = mbps;
	}
	tp_finish(tp);
}

/* An upload cut by time: what the peer has acknowledged. */
static uint64_t
tp_up_delivered(const struct tp_stream *s)
{
	curl_off_t sent = 0;
	int unacked = 0;
	uint64_t v;

	if (curl_easy_getinfo(s->easy, CURLINFO_SIZE_UPLOAD_T, &sent) !=
	        CURLE_OK ||
	    sent < 0)
		sent = 0;
	v = (uint64_t)sent;
	if (s->fd != CURL_SOCKET_BAD && ioctl(s->fd, SIOCOUTQ, &unacked) == 0 &&
	    unacked > 0)
		v = v > (uint64_t)unacked ? v - (uint64_t)unacked : 0;
	return v < s->want ? v : s->want;
}

/* max_seconds: cut what still runs (not an error), or end a direction
 * none of whose streams could start. */
static void
on_deadline(uv_timer_t *t)
{
	struct curl_runner *cr = t->data;
	struct tp_test *tp = cr->tp;
	uint64_t now = uv_hrtime();

	if (tp == NULL || cr->closing)
		return;
	cr->dispatching++;
	for (int i = 0; i < tp->n_streams; i++) {
		struct tp_stream *s = &tp->st[i];

		if (!s->active || tp->dir != TP_UP)
			continue;
		s->bytes = tp_up_delivered(s);
		if (s->bytes > 0)
			tp->t_last = now;
	}
	tp_dir_end(tp);
	if (--cr->dispatching == 0 && cr->closing)
		runner_teardown(cr);
}

static void
tp_stream_done(struct tp_stream *s, CURLcode rc)
{
	struct tp_test *tp = s->tp;
	long status = 0;
	curl_off_t sent = 0;
	char why[CURL_ERROR_SIZE + 64];

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (tp->dir == TP_DOWN) {
		if (rc == CURLE_WRITE_ERROR && s->capped)
			rc = CURLE_OK; /* we stopped it at its share */
		if (rc == CURLE_OK && (status < 200 || status > 299))
			snprintf(why, sizeof(why), "HTTP %ld", status);
		else if (rc == CURLE_WRITE_ERROR && s->bytes == 0 && status)
			snprintf(why, sizeof(why), "HTTP %ld", status);
		else if (rc != CURLE_OK)
			snprintf(
			    why, sizeof(why), "%s", curl_reason(rc, s->errbuf));
		else if (s->bytes < s->want)
			snprintf(why, sizeof(why),
			    "the server sent %" PRIu64 " of %" PRIu64 " bytes",
			    s->bytes, s->want);
		else
			why[0] = '\0';
	} else {
		if (curl_easy_getinfo(s->easy, CURLINFO_SIZE_UPLOAD_T, &sent) !=
		        CURLE_OK ||
		    sent < 0)
			sent = 0;
		s->bytes = (uint64_t)sent < s->want ? (uint64_t)sent : s->want;
		if (rc != CURLE_OK)
			snprintf(
			    why, sizeof(why), "%s", curl_reason(rc, s->errbuf));
		else if (status < 200 || status > 299)
			snprintf(why, sizeof(why), "HTTP %ld", status);
		else
			why[0] = '\0';
		/* A server that refused the POST took nothing; a connection
		 * that broke counts what was sent until then. On success the
		 * answer came after the last byte arrived. */
		if (status >= 300)
			s->bytes = 0;
		if (s->bytes > 0)
			tp->t_last = uv_hrtime();
	}
	if (why[0])
		tp_fail(tp, why);
	tp_stream_release(s);
	if (tp->active == 0)
		tp_dir_end(tp);
}

/* Put one stream on the multi handle; -1 (and the direction's error)
 * when it cannot start. */
static int
tp_stream_start(struct tp_test *tp, struct tp_stream *s)
{
	long connect_ms, total_ms;
	CURLMcode mrc;
	CURL *e;

	if ((e = curl_easy_init()) == NULL) {
		tp_fail(tp, "curl_easy_init failed");
		return -1;
	}
	connect_ms = (long)(tp->max_seconds * 1000);
	if (connect_ms > TP_CONNECT_MS)
		connect_ms = TP_CONNECT_MS;
	if (connect_ms < 1)
		connect_ms = 1;
	/* A backstop only: the deadline timer ends the direction first. */
	total_ms = (long)(tp->max_seconds * 1000) + TP_SLACK_MS;
	s->easy = e;
	if (tp->dir == TP_DOWN) {
		s->url = probe_asprintf("%s%cbytes=%" PRIu64, tp->down_url,
		    strchr(tp->down_url, '?') ? '&' : '?', s->want);
		easy_common(e, s->url, &s->x, s->errbuf, connect_ms, total_ms);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, tp->down_hdrs);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_down_data);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
		curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)TP_RECV_BUFFER);
	} else {
		easy_common(
		    e, tp->up_url, &s->x, s->errbuf, connect_ms, total_ms);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, tp->up_hdrs);
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(
		    e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->want);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_up_read);
		curl_easy_setopt(e, CURLOPT_READDATA, s);
		curl_easy_setopt(
		    e, CURLOPT_UPLOAD_BUFFERSIZE, (long)TP_SEND_BUFFER);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_discard);
	}
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* One TCP connection per stream, as iperf3 -P. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	if ((mrc = curl_multi_add_handle(tp->cr->multi, e)) != CURLM_OK) {
		tp_fail(tp, curl_multi_strerror(mrc));
		curl_easy_cleanup(e);
		s->easy = NULL;
		free(s->url);
		s->url = NULL;
		return -1;
	}
	s->active = true;
	tp->active++;
	return 0;
}

static void
tp_begin(struct tp_test *tp, enum tp_dir dir)
{
	struct curl_runner *cr = tp->cr;
	int n = tp->n_streams;

	tp->dir = dir;
	tp->dir_failed = false;
	tp->t_first = tp->t_last = 0;
	tp->t_begin = uv_hrtime();
	for (int i = 0; i < n; i++) {
		struct tp_stream *s = &tp->st[i];

		memset(s, 0, sizeof(*s));
		s->x.kind = dir == TP_DOWN ? XF_DOWN : XF_UP;
		s->tp = tp;
		s->fd = CURL_SOCKET_BAD;
		s->want = tp->max_bytes / (uint64_t)n +
		    ((uint64_t)i < tp->max_bytes % (uint64_t)n ? 1 : 0);
		(void)tp_stream_start(tp, s);
	}
	uv_update_time(cr->loop);
	/* None started: end the direction on the next loop turn (never a
	 * callback from inside throughput_start). */
	uv_timer_start(&cr->deadline, on_deadline,
	    tp->active ? (uint64_t)(tp->max_seconds * 1000 + 0.5) : 0, 0);
}

static struct curl_slist *
slist_add(struct curl_slist *l, const char *s)
{
	struct curl_slist *n = curl_slist_append(l, s);

	if (n == NULL)
		fatalx("probe: out of memory");
	return n;
}

int
throughput_start(struct curl_runner *cr, const struct throughput_req *q,
    throughput_cb cb, void *arg)
{
	struct tp_test *tp;

	if (cr == NULL || cr->closing || cr->tp != NULL || q == NULL ||
	    cb == NULL)
		return -1;
	if (q->down_url == NULL && q->up_url == NULL)
		return -1;
	if (q->streams < 1 || q->streams > TP_STREAMS_MAX ||
	    q->max_bytes < (uint64_t)q->streams ||
	    !(q->max_seconds > 0 && q->max_seconds <= TP_SECONDS_MAX))
		return -1;
	/* One header line: no CR or LF smuggled into the request. */
	if (q->auth != NULL &&
	    (strpbrk(q->auth, "\r\n") || !strchr(q->auth, ':')))
		return -1;
	tp = xcalloc(1, sizeof(*tp));
	tp->cr = cr;
	tp->cb = cb;
	tp->arg = arg;
	tp->down_url = q->down_url ? xstrdup(q->down_url) : NULL;
	tp->up_url = q->up_url ? xstrdup(q->up_url) : NULL;
	tp->max_bytes = q->max_bytes;
	tp->max_seconds = q->max_seconds;
	tp->n_streams = q->streams;
	tp->res.down_mbps = tp->res.up_mbps = -1;
	if (q->auth != NULL) {
		tp->down_hdrs = slist_add(tp->down_hdrs, q->auth);
		tp->up_hdrs = slist_add(tp->up_hdrs, q->auth);
	}
	/* No 100-continue round trip before the body. */
	tp->up_hdrs = slist_add(tp->up_hdrs, "Expect:");
	tp->up_hdrs =
	    slist_add(tp->up_hdrs, "Content-Type: application/octet-stream");
	cr->tp = tp;
	tp_begin(tp, tp->down_url ? TP_DOWN : TP_UP);
	return 0;
}

/* --- host checks ------------------------------------------------------ */

static size_t
on_host_body(char *p, size_t size, size_t n, void *arg)
{
	struct host_check *hc = arg;
	size_t len = size * n, take, from;

	if (hc->rtsp) {
		/* DESCRIBE's SDP: read (bounded), not kept. */
		hc->seen += len;
		if (hc->seen > HC_BODY_MAX) {
			hc->stopped = true;
			return 0;
		}
		return len;
	}
	if (hc->expect == NULL) {
		/* The status is all we need: do not fetch the page. */
		hc->stopped = true;
		return 0;
	}
	if (hc->body == NULL)
		hc->body = xmalloc(HC_BODY_MAX);
	take = HC_BODY_MAX - hc->body_len;
	if (take > len)
		take = len;
	/* Look again only where the text may end in the new bytes. */
	from = hc->body_len >= hc->expect_len - 1
	    ? hc->body_len - (hc->expect_len - 1)
	    : 0;
	memcpy(hc->body + hc->body_len, p, take);
	hc->body_len += take;
	if (memmem(hc->body + from, hc->body_len - from, hc->expect,
	        hc->expect_len) != NULL) {
		hc->found = true;
		hc->stopped = true;
		return 0;
	}
	if (hc->body_len >= HC_BODY_MAX) {
		hc->stopped = true;
		return 0;
	}
	return len;
}

static uint32_t
ms_since(uint64_t t0)
{
	uint64_t d = (uv_hrtime() - t0) / 1000000;

	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

static void
hc_unlink(struct host_check *hc)
{
	struct curl_runner *cr = hc->cr;

	if (hc->prev)
		hc->prev->next = hc->next;
	else
		cr->checks = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	cr->n_checks--;
}

static void
hc_free(struct host_check *hc)
{
	if (hc->easy != NULL) {
		curl_multi_remove_handle(hc->cr->multi, hc->easy);
		curl_easy_cleanup(hc->easy);
	}
	free(hc->url);
	free(hc->expect);
	free(hc->body);
	free(hc);
}

static void
hc_finish(struct host_check *hc)
{
	struct host_check_result res = hc->res;
	host_check_cb cb = hc->cb;
	void *arg = hc->arg;

	hc_unlink(hc);
	hc_free(hc);
	cb(&res, arg);
}

/* OPTIONS answered: DESCRIBE on the same handle (so the same connection,
 * and libcurl's own CSeq count goes on: CURLOPT_RTSP_CLIENT_CSEQ is only
 * for a handle that must take over a session). */
static int
hc_describe(struct host_check *hc)
{
	long left = hc->timeout_ms - (long)ms_since(hc->t0);
	CURLMcode mrc;

	if (left <= 0) {
		err_append(hc->res.error, sizeof(hc->res.error),
		    "OPTIONS %.*s: no time left for DESCRIBE",
		    url_len_shown(hc->url), hc->url);
		return -1;
	}
	curl_multi_remove_handle(hc->cr->multi, hc->easy);
	hc->describing = true;
	hc->stopped = false;
	hc->seen = 0;
	hc->errbuf[0] = '\0';
	curl_easy_setopt(
	    hc->easy, CURLOPT_RTSP_REQUEST, (long)CURL_RTSPREQ_DESCRIBE);
	curl_easy_setopt(hc->easy, CURLOPT_TIMEOUT_MS, left);
	curl_easy_setopt(hc->easy, CURLOPT_CONNECTTIMEOUT_MS, left);
	if ((mrc = curl_multi_add_handle(hc->cr->multi, hc->easy)) !=
	    CURLM_OK) {
		curl_easy_cleanup(hc->easy);
		hc->easy = NULL;
		err_append(hc->res.error, sizeof(hc->res.error),
		    "DESCRIBE %.*s: %s", url_len_shown(hc->url), hc->url,
		    curl_multi_strerror(mrc));
		return -1;
	}
	return 0;
}

static void
hc_done(struct host_check *hc, CURLcode rc)
{
	struct host_check_result *res = &hc->res;
	const char *method =
	    hc->rtsp ? (hc->describing ? "DESCRIBE" : "OPTIONS") : "GET";
	bool answered =
	    rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && hc->stopped);
	curl_off_t ttfb = 0;
	long status = 0;

	curl_easy_getinfo(hc->easy, CURLINFO_RESPONSE_CODE, &status);
	if (hc->rtsp && !hc->describing && answered) {
		if (hc_describe(hc) == 0)
			return;
		res->time_ms = ms_since(hc->t0);
		hc_finish(hc);
		return;
	}
	res->status = status;
	res->time_ms = ms_since(hc->t0);
	if (!answered) {
		err_append(res->error, sizeof(res->error), "%s %.*s: %s",
		    method, url_len_shown(hc->url), hc->url,
		    curl_reason(rc, hc->errbuf));
	} else if (hc->rtsp) {
		res->ok = status == 200;
		if (!res->ok)
			err_append(res->error, sizeof(res->error),
			    "DESCRIBE %.*s: RTSP %ld", url_len_shown(hc->url),
			    hc->url, status);
	} else {
		/* Until the answer's first byte (DNS, connect and TLS in). */
		if (curl_easy_getinfo(hc->easy, CURLINFO_STARTTRANSFER_TIME_T,
		        &ttfb) == CURLE_OK &&
		    ttfb > 0)
			res->time_ms = (uint32_t)((ttfb + 500) / 1000);
		if (status < 200 || status > 399)
			err_append(res->error, sizeof(res->error),
			    "GET %.*s: HTTP %ld", url_len_shown(hc->url),
			    hc->url, status);
		else if (hc->expect != NULL && !hc->found)
			err_append(res->error, sizeof(res->error),
			    "GET %.*s: HTTP %ld but \"%.64s\" is not in the "
			    "first %zu bytes of the page",
			    url_len_shown(hc->url), hc->url, status, hc->expect,
			    hc->body_len);
		else
			res->ok = true;
	}
	hc_finish(hc);
}

int
host_check_start(struct curl_runner *cr, const struct host_check_req *q,
    host_check_cb cb, void *arg)
{
	struct host_check *hc;
	bool rtsp, http;
	CURLMcode mrc;
	CURL *e;

	if (cr == NULL || cr->closing || q == NULL || q->url == NULL ||
	    cb == NULL || cr->n_checks >= HC_MAX)
		return -1;
	rtsp = strncasecmp(q->url, "rtsp://", 7) == 0;
	http = strncasecmp(q->url, "http://", 7) == 0 ||
	    strncasecmp(q->url, "https://", 8) == 0;
	if (!rtsp && !http)
		return -1;
	if (!(q->timeout_s > 0 && q->timeout_s <= HC_SECONDS_MAX))
		return -1;
	if ((e = curl_easy_init()) == NULL)
		return -1;
	hc = xcalloc(1, sizeof(*hc));
	hc->x.kind = XF_HOST;
	hc->cr = cr;
	hc->cb = cb;
	hc->arg = arg;
	hc->easy = e;
	hc->url = xstrdup(q->url);
	hc->rtsp = rtsp;
	if (q->expect != NULL && q->expect[0] != '\0' && !rtsp) {
		hc->expect = xstrdup(q->expect);
		hc->expect_len = strlen(q->expect);
	}
	hc->timeout_ms = (long)(q->timeout_s * 1000 + 0.5);
	easy_common(
	    e, hc->url, &hc->x, hc->errbuf, hc->timeout_ms, hc->timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_host_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, hc);
	if (rtsp) {
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "rtsp");
		curl_easy_setopt(e, CURLOPT_RTSP_STREAM_URI, hc->url);
		curl_easy_setopt(
		    e, CURLOPT_RTSP_REQUEST, (long)CURL_RTSPREQ_OPTIONS);
	} else {
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		/* The expected text is looked for in the decoded page. */
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	}
	if ((mrc = curl_multi_add_handle(cr->multi, e)) != CURLM_OK) {
		log_warnx("probe: %s", curl_multi_strerror(mrc));
		curl_easy_cleanup(e);
		hc->easy = NULL;
		hc_free(hc);
		return -1;
	}
	hc->t0 = uv_hrtime();
	hc->next = cr->checks;
	if (cr->checks)
		cr->checks->prev = hc;
	cr->checks = hc;
	cr->n_checks++;
	return 0;
}

/* --- the runner ------------------------------------------------------- */

/* Hand finished transfers on (a callback may start more, or close the
 * runner: then nothing more is called). */
static void
runner_check_done(struct curl_runner *cr)
{
	CURLMsg *m;
	CURLcode rc;
	CURL *easy;
	char *priv;
	int left;

	cr->dispatching++;
	while (!cr->closing && (m = curl_multi_info_read(cr->multi, &left))) {
		struct xfer *x;

		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		easy = m->easy_handle;
		priv = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		if (priv == NULL)
			continue;
		x = (struct xfer *)(void *)priv;
		if (x->kind == XF_HOST)
			hc_done(container_of(x, struct host_check, x), rc);
		else
			tp_stream_done(
			    container_of(x, struct tp_stream, x), rc);
	}
	if (--cr->dispatching == 0 && cr->closing)
		runner_teardown(cr);
}

struct curl_runner *
curl_runner_new(uv_loop_t *loop)
{
	static bool curl_ready;
	struct curl_runner *cr;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			fatalx("probe: curl_global_init failed");
		for (size_t i = 0; i < sizeof(tp_pattern); i++)
			tp_pattern[i] = (char)('!' + (i * 7 + i / 94) % 94);
		curl_ready = true;
	}
	cr = xcalloc(1, sizeof(*cr));
	cr->loop = loop;
	if ((cr->multi = curl_multi_init()) == NULL)
		fatalx("probe: curl_multi_init failed");
	curl_multi_setopt(cr->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(cr->multi, CURLMOPT_SOCKETDATA, cr);
	curl_multi_setopt(cr->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(cr->multi, CURLMOPT_TIMERDATA, cr);
	uv_timer_init(loop, &cr->timer);
	uv_timer_init(loop, &cr->deadline);
	cr->timer.data = cr->deadline.data = cr;
	cr->open_handles = 2;
	return cr;
}

/* Drop every transfer, close libcurl's sockets, then our timers; cr is
 * freed when the last close callback has run. */
static void
runner_teardown(struct curl_runner *cr)
{
	if (cr->torn_down)
		return;
	if (cr->tp != NULL) {
		tp_free(cr->tp);
		cr->tp = NULL;
	}
	while (cr->checks != NULL) {
		struct host_check *hc = cr->checks;

		hc_unlink(hc);
		hc_free(hc);
	}
	curl_multi_cleanup(cr->multi); /* may still close sockets: REMOVE */
	cr->multi = NULL;
	/* Whatever libcurl did not tell us to stop watching. */
	while (cr->socks != NULL)
		sock_close(cr->socks);
	cr->torn_down = true;
	uv_close((uv_handle_t *)&cr->timer, on_handle_closed);
	uv_close((uv_handle_t *)&cr->deadline, on_handle_closed);
}

void
curl_runner_close(struct curl_runner *cr)
{
	if (cr == NULL || cr->closing)
		return;
	cr->closing = true;
	/* Inside our own dispatch: it tears down once the callback
	 * returns (nothing more is called meanwhile). */
	if (cr->dispatching == 0)
		runner_teardown(cr);
}
