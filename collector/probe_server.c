/* probe_server.c: the HTTP endpoint agents measure throughput against. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

#define PS_BLOCK (64 * 1024)	/* bytes one /down read hands out at most */
#define PS_CONN_MAX 1024	/* connections at once (16 streams x 64 tests) */
#define PS_TIMEOUT_S 30		/* an idle connection is dropped */
#define PS_TOKENS_MAX 1024	/* tests with a live token */

/*
 * libmicrohttpd runs its own thread (epoll); the scheduler registers and
 * retires tokens from the writer thread. Everything shared sits behind
 * one mutex: the token table is small (one entry per running test).
 *
 * A request is admitted against its token's allowance when it starts:
 * GET /down?bytes=N reserves N, POST /up reserves its Content-Length. The
 * bytes that really cross count as they go, so the reservation only keeps
 * parallel streams from passing the allowance together.
 */
struct ps_token {
	char token[WIRE_NAME_MAX + 1];
	int64_t test_id;
	char school[WIRE_NAME_MAX + 1];
	uint64_t allowance;	/* sent + received may not pass this */
	uint64_t expires_ms;
	uint64_t sent, received;
	uint64_t reserved;	/* admitted but not yet transferred */
	bool started;		/* the first request came (logged) */
};

struct probe_server {
	struct MHD_Daemon *mhd;
	uint16_t port;
	pthread_mutex_t lock;
	struct ps_token *tokens;
	size_t n_tokens;
	char pattern[PS_BLOCK];	/* what /down sends, over and over */
};

/* One request: which test, and how much of its reservation is left. */
struct ps_req {
	struct probe_server *ps;
	int64_t test_id;
	uint64_t want;		/* /down: bytes to send; /up: Content-Length */
	uint64_t done;		/* bytes sent or received */
	bool up;
	bool counted;		/* answered: the reservation is settled */
};

static struct ps_token *
token_by_id(struct probe_server *ps, int64_t id)
{
	for (size_t i = 0; i < ps->n_tokens; i++)
		if (ps->tokens[i].test_id == id)
			return &ps->tokens[i];
	return NULL;
}

static void
mb_text(uint64_t bytes, char *buf, size_t size)
{
	double mb = (double)bytes / 1e6;

	snprintf(buf, size, mb < 10 ? "%.1f MB" : "%.0f MB", mb);
}

void
probe_server_allow(struct probe_server *ps, const char *token,
    int64_t test_id, const char *school, uint64_t allowance,
    uint64_t expires_ms)
{
	struct ps_token *t;

	pthread_mutex_lock(&ps->lock);
	if ((t = token_by_id(ps, test_id)) == NULL) {
		if (ps->n_tokens == PS_TOKENS_MAX) {
			/* Only stale entries can fill it: drop the oldest. */
			memmove(&ps->tokens[0], &ps->tokens[1],
			    (ps->n_tokens - 1) * sizeof(*ps->tokens));
			ps->n_tokens--;
		}
		ps->tokens = xreallocarray(ps->tokens, ps->n_tokens + 1,
		    sizeof(*ps->tokens));
		t = &ps->tokens[ps->n_tokens++];
	}
	memset(t, 0, sizeof(*t));
	snprintf(t->token, sizeof(t->token), "%s", token);
	snprintf(t->school, sizeof(t->school), "%s", school);
	t->test_id = test_id;
	t->allowance = allowance;
	t->expires_ms = expires_ms;
	pthread_mutex_unlock(&ps->lock);
}

uint64_t
probe_server_retire(struct probe_server *ps, int64_t test_id)
{
	struct ps_token *t;
	uint64_t served = 0;
	char sent[32], received[32];

	pthread_mutex_lock(&ps->lock);
	if ((t = token_by_id(ps, test_id)) != NULL) {
		served = t->sent + t->received;
		if (t->started) {
			mb_text(t->sent, sent, sizeof(sent));
			mb_text(t->received, received, sizeof(received));
			log_info("probe server: test %" PRId64 " (%s) sent %s, "
				 "received %s",
			    test_id, t->school, sent, received);
		}
		*t = ps->tokens[--ps->n_tokens];
	}
	pthread_mutex_unlock(&ps->lock);
	return served;
}

/* Under the lock: the live token of an Authorization header, or NULL. */
static struct ps_token *
token_of(struct probe_server *ps, const char *auth, uint64_t now)
{
	const char *tok;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return NULL;
	tok = auth + 7;
	while (*tok == ' ')
		tok++;
	for (size_t i = 0; i < ps->n_tokens; i++) {
		struct ps_token *t = &ps->tokens[i];

		/* Tokens are random and short-lived: a plain compare is
		 * enough; their length is not a secret. */
		if (strcmp(t->token, tok) == 0)
			return now < t->expires_ms ? t : NULL;
	}
	return NULL;
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; charset=utf-8");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Under the lock: settle what a request reserved but did not move. */
static void
req_settle(struct ps_req *r)
{
	struct ps_token *t;

	if (r->counted)
		return;
	r->counted = true;
	if ((t = token_by_id(r->ps, r->test_id)) != NULL)
		t->reserved -= r->want > r->done ? r->want - r->done : 0;
}

static ssize_t
down_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct ps_req *r = cls;
	struct probe_server *ps = r->ps;
	struct ps_token *t;
	size_t n;

	if (pos >= r->want)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = max < PS_BLOCK ? max : PS_BLOCK;
	if (n > r->want - pos)
		n = (size_t)(r->want - pos);
	pthread_mutex_lock(&ps->lock);
	t = token_by_id(ps, r->test_id);
	if (t == NULL || time_now_ms() >= t->expires_ms) {
		pthread_mutex_unlock(&ps->lock);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	t->sent += n;
	t->reserved -= n;
	r->done += n;
	pthread_mutex_unlock(&ps->lock);
	memcpy(buf, ps->pattern, n);
	return (ssize_t)n;
}

static void
down_free(void *cls)
{
	struct ps_req *r = cls;

	pthread_mutex_lock(&r->ps->lock);
	req_settle(r);
	pthread_mutex_unlock(&r->ps->lock);
	free(r);
}

/* "bytes=N" of the query: 0 and *n, or -1. */
static int
bytes_arg(struct MHD_Connection *c, uint64_t *n)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
	    "bytes");
	char *end;
	unsigned long long x;

	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (*end != '\0' || errno)
		return -1;
	*n = x;
	return 0;
}

/*
 * Admit a request of want bytes for the token in its Authorization header:
 * 0 with r filled, or an HTTP status (401 unknown or expired, 403 past the
 * allowance).
 */
static unsigned
admit(struct probe_server *ps, struct MHD_Connection *c, bool up,
    uint64_t want, struct ps_req *r)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	struct ps_token *t;
	unsigned status = 0;

	pthread_mutex_lock(&ps->lock);
	if ((t = token_of(ps, auth, time_now_ms())) == NULL) {
		status = MHD_HTTP_UNAUTHORIZED;
	} else if (t->sent + t->received + t->reserved > t->allowance ||
	    want > t->allowance - (t->sent + t->received + t->reserved)) {
		status = MHD_HTTP_FORBIDDEN;
		log_warnx("probe server: test %" PRId64 " (%s): %s of %" PRIu64
			  " bytes refused: past its allowance",
		    t->test_id, t->school, up ? "upload" : "download", want);
	} else {
		if (!t->started)
			log_info("probe server: test %" PRId64 " (%s) started",
			    t->test_id, t->school);
		t->started = true;
		t->reserved += want;
		r->ps = ps;
		r->test_id = t->test_id;
		r->want = want;
		r->up = up;
	}
	pthread_mutex_unlock(&ps->lock);
	return status;
}

static enum MHD_Result
on_down(struct probe_server *ps, struct MHD_Connection *c)
{
	struct MHD_Response *resp;
	struct ps_req *r;
	enum MHD_Result ret;
	uint64_t want;
	unsigned status;

	if (bytes_arg(c, &want) != 0)
		return answer(c, MHD_HTTP_BAD_REQUEST,
		    "GET /down?bytes=N (N a whole number)\n");
	r = xcalloc(1, sizeof(*r));
	if ((status = admit(ps, c, false, want, r)) != 0) {
		free(r);
		return answer(c, status, status == MHD_HTTP_UNAUTHORIZED
			? "unknown or expired token\n"
			: "past this test's byte allowance\n");
	}
	resp = MHD_create_response_from_callback(want, PS_BLOCK, down_read, r,
	    down_free);
	if (resp == NULL) {
		down_free(r);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/octet-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* POST /up, called once with the headers and then per piece of body. */
static enum MHD_Result
on_up(struct probe_server *ps, struct MHD_Connection *c,
    const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct ps_req *r = *con_cls;
	struct ps_token *t;
	char text[64];

	(void)upload_data;
	if (r == NULL) {
		const char *len = MHD_lookup_connection_value(c,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t want = len ? strtoull(len, NULL, 10) : 0;
		unsigned status;

		r = xcalloc(1, sizeof(*r));
		if ((status = admit(ps, c, true, want, r)) != 0) {
			free(r);
			/* Answered before the body: MHD closes the
			 * connection instead of reading it. */
			return answer(c, status,
			    status == MHD_HTTP_UNAUTHORIZED
				? "unknown or expired token\n"
				: "past this test's byte allowance\n");
		}
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		bool over;

		pthread_mutex_lock(&ps->lock);
		t = token_by_id(ps, r->test_id);
		/* A body longer than it said (or chunked) is counted as it
		 * comes, and cut off at the allowance. */
		over = t == NULL || time_now_ms() >= t->expires_ms ||
		    (r->done + *upload_data_size > r->want &&
			t->sent + t->received + t->reserved +
				*upload_data_size >
			    t->allowance);
		if (t && !over) {
			uint64_t in_resv = r->done >= r->want ? 0
			    : r->want - r->done < *upload_data_size
			    ? r->want - r->done
			    : *upload_data_size;

			t->received += *upload_data_size;
			t->reserved -= in_resv;
			r->done += *upload_data_size;
		}
		pthread_mutex_unlock(&ps->lock);
		if (over)
			return MHD_NO; /* drops the connection */
		*upload_data_size = 0;
		return MHD_YES;
	}
	snprintf(text, sizeof(text), "%" PRIu64 "\n", r->done);
	return answer(c, MHD_HTTP_OK, text);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct probe_server *ps = cls;

	(void)version;
	if (strcmp(url, "/down") == 0 && strcmp(method, "GET") == 0)
		return on_down(ps, c);
	if (strcmp(url, "/up") == 0 && strcmp(method, "POST") == 0)
		return on_up(ps, c, upload_data, upload_data_size, con_cls);
	if (*con_cls == NULL && *upload_data_size == 0)
		return answer(c, MHD_HTTP_NOT_FOUND,
		    "GET /down?bytes=N or POST /up\n");
	return MHD_NO;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct probe_server *ps = cls;
	struct ps_req *r = *con_cls;

	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	pthread_mutex_lock(&ps->lock);
	req_settle(r);
	pthread_mutex_unlock(&ps->lock);
	free(r);
	*con_cls = NULL;
}

static void
log_mhd(void *arg, const char *fmt, va_list ap)
{
	char msg[300];
	size_t n;

	(void)arg;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warnx("probe server: %s", msg);
}

struct probe_server *
probe_server_start(const char *host, uint16_t port)
{
	struct probe_server *ps = xcalloc(1, sizeof(*ps));
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV | AI_PASSIVE}, *res = NULL;
	const union MHD_DaemonInfo *info;
	char portstr[8];
	int rc;

	pthread_mutex_init(&ps->lock, NULL);
	/* Letters, not zeros: a link that compresses would flatter zeros. */
	for (size_t i = 0; i < sizeof(ps->pattern); i++)
		ps->pattern[i] = (char)('a' + (i * 7 + i / 26) % 26);
	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		log_warnx("probe server %s port %s: %s; no throughput tests",
		    host, portstr, gai_strerror(rc));
		goto fail;
	}
	errno = 0;
	ps->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
		/* [::] takes IPv4 agents too */
		(res->ai_family == AF_INET6 ? MHD_USE_DUAL_STACK : 0),
	    0, NULL, NULL, on_request, ps, MHD_OPTION_EXTERNAL_LOGGER, log_mhd,
	    ps, MHD_OPTION_SOCK_ADDR, res->ai_addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)PS_CONN_MAX,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)PS_TIMEOUT_S,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, ps, MHD_OPTION_END);
	freeaddrinfo(res);
	if (ps->mhd == NULL ||
	    (info = MHD_get_daemon_info(ps->mhd,
		 MHD_DAEMON_INFO_BIND_PORT)) == NULL) {
		log_warnx("probe server %s port %s: cannot start (%s); no "
			  "throughput tests",
		    host, portstr, errno ? strerror(errno) : "see above");
		goto fail;
	}
	ps->port = info->port;
	log_info("probe server: throughput tests on http://%s%s%s:%u/",
	    strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
	    ps->port);
	return ps;
fail:
	probe_server_stop(ps);
	return NULL;
}

uint16_t
probe_server_port(const struct probe_server *ps)
{
	return ps->port;
}

void
probe_server_stop(struct probe_server *ps)
{
	if (ps == NULL)
		return;
	if (ps->mhd)
		MHD_stop_daemon(ps->mhd);
	pthread_mutex_destroy(&ps->lock);
	free(ps->tokens);
	free(ps);
}
