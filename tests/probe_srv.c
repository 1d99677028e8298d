/* probe_srv.c: the HTTP server the probe_http tests measure against (see
 * probe_srv.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "probe_srv.h"

#define SRV_BLOCK (64 * 1024) /* bytes per /down chunk */
#define SRV_DOWN_MAX (1ULL << 40)
#define SRV_BIG (200 * 1024)
#define SRV_BIG_AT (100 * 1024) /* where /big has the page text */
#define SRV_TEXT_MAX 256
#define SRV_DEFAULT_TEXT "schoolnet recording host OK"

struct probe_srv {
	struct MHD_Daemon *mhd;
	struct sockaddr_in sin;
	uint64_t rate;
	char auth[256]; /* "" : none */
	char text[SRV_TEXT_MAX];
	char *big;
	char pattern[SRV_BLOCK + 26]; /* a..z repeated: any offset mod 26 */
	uint64_t sent, received, requests; /* __atomic */
	int stopping;                      /* __atomic */
};

/* One request's state: a /down response, or a /up body being read. */
struct srv_req {
	struct probe_srv *s;
	uint64_t t0; /* ns, CLOCK_MONOTONIC */
	uint64_t bytes;
	bool is_up;
	bool rejected;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Sleep until `bytes` are due at s->rate since t0 (in 50 ms steps, so a
 * stopping server is not held up). */
static void
pace(struct probe_srv *s, uint64_t t0, uint64_t bytes)
{
	uint64_t due, now;

	if (s->rate == 0)
		return;
	due = t0 + (uint64_t)((double)bytes * 1e9 / (double)s->rate);
	while (!__atomic_load_n(&s->stopping, __ATOMIC_RELAXED) &&
	    (now = now_ns()) < due) {
		uint64_t d = due - now;
		struct timespec ts;

		if (d > 50000000ULL)
			d = 50000000ULL;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)d;
		nanosleep(&ts, NULL);
	}
}

static ssize_t
down_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct srv_req *r = cls;
	struct probe_srv *s = r->s;
	size_t n = max < SRV_BLOCK ? max : SRV_BLOCK;

	if (__atomic_load_n(&s->stopping, __ATOMIC_RELAXED))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	/* Small chunks when paced, so the rate is smooth. */
	if (s->rate && n > s->rate / 50 + 1)
		n = (size_t)(s->rate / 50 + 1);
	pace(s, r->t0, pos);
	memcpy(buf, s->pattern + pos % 26, n);
	__atomic_add_fetch(&s->sent, n, __ATOMIC_RELAXED);
	return (ssize_t)n;
}

static void
req_free(void *cls)
{
	free(cls);
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned status, const char *type,
    const void *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(
	    len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static bool
authorized(struct probe_srv *s, struct MHD_Connection *c)
{
	const char *a;

	if (s->auth[0] == '\0')
		return true;
	a = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	return a != NULL && strcmp(a, s->auth) == 0;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct probe_srv *s = cls;
	struct srv_req *r = *con_cls;
	char body[512];
	int n;

	(void)version;
	if (strcmp(method, "POST") == 0 && strcmp(url, "/up") == 0) {
		if (r == NULL) {
			r = calloc(1, sizeof(*r));
			if (r == NULL)
				return MHD_NO;
			r->s = s;
			r->is_up = true;
			r->t0 = now_ns();
			*con_cls = r;
			if (!authorized(s, c)) {
				r->rejected = true;
				__atomic_add_fetch(
				    &s->requests, 1, __ATOMIC_RELAXED);
				return answer(c, MHD_HTTP_UNAUTHORIZED,
				    "text/plain", "no\n", 3);
			}
			return MHD_YES;
		}
		if (r->rejected) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		if (*upload_data_size > 0) {
			(void)upload_data;
			r->bytes += *upload_data_size;
			__atomic_add_fetch(
			    &s->received, *upload_data_size, __ATOMIC_RELAXED);
			*upload_data_size = 0;
			pace(s, r->t0, r->bytes);
			return MHD_YES;
		}
		__atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
		n = snprintf(body, sizeof(body), "received %llu\n",
		    (unsigned long long)r->bytes);
		return answer(c, MHD_HTTP_OK, "text/plain", body, (size_t)n);
	}
	if (strcmp(method, "GET") != 0)
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
		    "method\n", 7);
	__atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
	if (strcmp(url, "/down") == 0) {
		const char *v = MHD_lookup_connection_value(
		    c, MHD_GET_ARGUMENT_KIND, "bytes");
		struct MHD_Response *resp;
		unsigned long long want;
		enum MHD_Result ret;
		char *end;

		if (!authorized(s, c))
			return answer(
			    c, MHD_HTTP_UNAUTHORIZED, "text/plain", "no\n", 3);
		if (v == NULL || *v < '0' || *v > '9' ||
		    (want = strtoull(v, &end, 10), *end != '\0') ||
		    want > SRV_DOWN_MAX)
			return answer(c, MHD_HTTP_BAD_REQUEST, "text/plain",
			    "bytes=N\n", 8);
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->s = s;
		r->t0 = now_ns();
		resp = MHD_create_response_from_callback(
		    want, SRV_BLOCK, down_read, r, req_free);
		if (resp == NULL) {
			free(r);
			return MHD_NO;
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    "application/octet-stream");
		ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (strcmp(url, "/page") == 0) {
		n = snprintf(body, sizeof(body),
		    "<!doctype html>\n<html><body><p>%s</p></body></html>\n",
		    s->text);
		return answer(c, MHD_HTTP_OK, "text/html", body, (size_t)n);
	}
	if (strcmp(url, "/big") == 0)
		return answer(c, MHD_HTTP_OK, "text/html", s->big, SRV_BIG);
	if (strcmp(url, "/redirect") == 0) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(
		    6, (void *)"moved\n", MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret;

		if (resp == NULL)
			return MHD_NO;
		MHD_add_response_header(
		    resp, MHD_HTTP_HEADER_LOCATION, "/page");
		ret = MHD_queue_response(c, MHD_HTTP_FOUND, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (strncmp(url, "/status/", 8) == 0) {
		long st = strtol(url + 8, NULL, 10);

		if (st < 100 || st > 599)
			st = 400;
		n = snprintf(body, sizeof(body), "status %ld\n", st);
		return answer(c, (unsigned)st, "text/plain", body, (size_t)n);
	}
	return answer(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct srv_req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r != NULL && r->is_up)
		free(r);
	*con_cls = NULL;
}

struct probe_srv *
probe_srv_start(const struct probe_srv_conf *c)
{
	struct probe_srv *s = calloc(1, sizeof(*s));
	const char *text = c->page_text ? c->page_text : SRV_DEFAULT_TEXT;

	if (s == NULL)
		return NULL;
	s->rate = c->rate;
	snprintf(s->auth, sizeof(s->auth), "%s", c->auth ? c->auth : "");
	snprintf(s->text, sizeof(s->text), "%s", text);
	for (size_t i = 0; i < sizeof(s->pattern); i++)
		s->pattern[i] = (char)('a' + i % 26);
	if ((s->big = malloc(SRV_BIG)) == NULL) {
		free(s);
		return NULL;
	}
	memset(s->big, 'x', SRV_BIG);
	memcpy(s->big + SRV_BIG_AT, s->text, strlen(s->text));
	s->sin.sin_family = AF_INET;
	s->sin.sin_port = htons(c->port);
	if (inet_pton(AF_INET, c->addr ? c->addr : "127.0.0.1",
	        &s->sin.sin_addr) != 1) {
		fprintf(stderr, "probe_srv: bad address %s\n", c->addr);
		free(s->big);
		free(s);
		return NULL;
	}
	s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL,
	    0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &s->sin,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
	if (s->mhd == NULL) {
		fprintf(stderr, "probe_srv: cannot listen on %s:%u\n",
		    c->addr ? c->addr : "127.0.0.1", c->port);
		free(s->big);
		free(s);
		return NULL;
	}
	return s;
}

uint16_t
probe_srv_port(const struct probe_srv *s)
{
	const union MHD_DaemonInfo *i =
	    MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);

	return i ? i->port : 0;
}

uint64_t
probe_srv_sent(const struct probe_srv *s)
{
	return __atomic_load_n(&s->sent, __ATOMIC_RELAXED);
}

uint64_t
probe_srv_received(const struct probe_srv *s)
{
	return __atomic_load_n(&s->received, __ATOMIC_RELAXED);
}

uint64_t
probe_srv_requests(const struct probe_srv *s)
{
	return __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
}

void
probe_srv_stop(struct probe_srv *s)
{
	if (s == NULL)
		return;
	__atomic_store_n(&s->stopping, 1, __ATOMIC_RELAXED);
	MHD_stop_daemon(s->mhd);
	free(s->big);
	free(s);
}
