/* test_probe_http.c: throughput tests and host checks (agent/probe_http.c)
 * against a libmicrohttpd server in the test process (tests/probe_srv.c)
 * and a tiny RTSP responder thread, all on 127.0.0.1. */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "probe.h"
#include "probe_srv.h"
#include "schoolnet/log.h"

#define WATCHDOG_MS 30000

static void
setup(void)
{
	log_set_level(LOG_LVL_WARN);
}

TestSuite(probe_http, .init = setup, .timeout = 60);

/* --- a loop, a runner, and what the callbacks saw ---------------------- */

struct run {
	uv_loop_t loop;
	uv_timer_t watchdog;
	struct curl_runner *cr;
	int want; /* callbacks to wait for */
	int tp_calls, hc_calls;
	struct throughput_result tr;
	struct host_check_result hr[16];
	bool fired;
};

static void
on_watchdog(uv_timer_t *t)
{
	struct run *r = t->data;

	r->fired = true;
	uv_stop(&r->loop);
}

static void
run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	cr_assert_eq(uv_loop_init(&r->loop), 0);
	cr_assert_eq(uv_timer_init(&r->loop, &r->watchdog), 0);
	r->watchdog.data = r;
	r->cr = curl_runner_new(&r->loop);
	cr_assert_not_null(r->cr);
}

static void
maybe_stop(struct run *r)
{
	if (r->tp_calls + r->hc_calls >= r->want)
		uv_stop(&r->loop);
}

static void
on_tp(const struct throughput_result *res, void *arg)
{
	struct run *r = arg;

	r->tr = *res;
	r->tp_calls++;
	maybe_stop(r);
}

static void
on_hc(const struct host_check_result *res, void *arg)
{
	struct run *r = arg;

	if (r->hc_calls < 16)
		r->hr[r->hc_calls] = *res;
	r->hc_calls++;
	maybe_stop(r);
}

/* Run the loop until `want` callbacks came (or the watchdog fired). */
static void
run_until(struct run *r, int want, uint64_t ms)
{
	r->want = want;
	uv_timer_start(&r->watchdog, on_watchdog, ms, 0);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&r->watchdog);
	cr_assert(!r->fired, "no callback within %llu ms (%d of %d)",
	    (unsigned long long)ms, r->tp_calls + r->hc_calls, want);
}

/* Close the runner, let libuv close every handle, and check that nothing
 * is left (uv_loop_close fails with handles still open). */
static void
run_close(struct run *r)
{
	if (r->cr)
		curl_runner_close(r->cr);
	r->cr = NULL;
	uv_close((uv_handle_t *)&r->watchdog, NULL);
	cr_assert_eq(uv_run(&r->loop, UV_RUN_DEFAULT), 0);
	cr_assert_eq(uv_loop_close(&r->loop), 0);
}

static struct probe_srv *
srv_start(uint64_t rate, const char *auth)
{
	struct probe_srv_conf c = {.rate = rate, .auth = auth};
	struct probe_srv *s = probe_srv_start(&c);

	cr_assert_not_null(s);
	return s;
}

/* A port nobody listens on (bound, then closed: connects are refused). */
static uint16_t
closed_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static void
urls(char *down, char *up, size_t size, uint16_t port)
{
	snprintf(down, size, "http://127.0.0.1:%u/down", port);
	snprintf(up, size, "http://127.0.0.1:%u/up", port);
}

/* --- throughput ------------------------------------------------------- */

Test(probe_http, throughput_counts_bytes_exactly)
{
	struct probe_srv *s = srv_start(0, NULL);
	char down[128], up[128];
	struct run r;
	/* Not a multiple of 3: the first stream takes the odd byte. */
	struct throughput_req q = {
	    .max_bytes = 10 * 1024 * 1024 + 1, .max_seconds = 20, .streams = 3};

	urls(down, up, sizeof(down), probe_srv_port(s));
	q.down_url = down;
	q.up_url = up;
	run_init(&r);
	cr_assert_eq(throughput_start(r.cr, &q, on_tp, &r), 0);
	run_until(&r, 1, WATCHDOG_MS);
	cr_assert_eq(r.tp_calls, 1);
	cr_assert_str_empty(r.tr.error);
	cr_assert_eq(r.tr.down_bytes, q.max_bytes);
	cr_assert_eq(r.tr.up_bytes, q.max_bytes);
	cr_assert_eq(probe_srv_sent(s), q.max_bytes);
	cr_assert_eq(probe_srv_received(s), q.max_bytes);
	cr_assert_eq(probe_srv_requests(s), 6, "3 GETs and 3 POSTs");
	cr_assert(r.tr.down_s > 0 && r.tr.up_s > 0);
	cr_assert(r.tr.down_mbps > 0 && r.tr.up_mbps > 0);
	/* The figure is the bytes over the time, nothing else. */
	cr_assert_float_eq(r.tr.down_mbps,
	    (double)r.tr.down_bytes * 8 / r.tr.down_s / 1e6, 1e-6);
	cr_assert_float_eq(
	    r.tr.up_mbps, (double)r.tr.up_bytes * 8 / r.tr.up_s / 1e6, 1e-6);
	run_close(&r);
	probe_srv_stop(s);
}

Test(probe_http, throughput_query_and_auth)
{
	struct probe_srv *s = srv_start(0, "Bearer t0k3n");
	char down[128], up[128];
	struct run r;
	struct throughput_req q = {.max_bytes = 100000,
	    .max_seconds = 10,
	    .streams = 2,
	    .auth = "Authorization: Bearer t0k3n"};

	/* A URL with a query gets "&bytes=N". */
	snprintf(down, sizeof(down), "http://127.0.0.1:%u/down?x=1",
	    probe_srv_port(s));
	snprintf(up, sizeof(up), "http://127.0.0.1:%u/up", probe_srv_port(s));
	q.down_url = down;
	q.up_url = up;
	run_init(&r);
	cr_assert_eq(throughput_start(r.cr, &q, on_tp, &r), 0);
	run_until(&r, 1, WATCHDOG_MS);
	cr_assert_str_empty(r.tr.error);
	cr_assert_eq(r.tr.down_bytes, 100000);
	cr_assert_eq(r.tr.up_bytes, 100000);

	/* Without the header: 401 both ways, reported with the URLs. */
	q.auth = NULL;
	r.tp_calls = 0;
	cr_assert_eq(throughput_start(r.cr, &q, on_tp, &r), 0);
	run_until(&r, 1, WATCHDOG_MS);
	cr_assert(strstr(r.tr.error, "GET http://127.0.0.1:") &&
	        strstr(r.tr.error, "/down: HTTP 401"),
	    "%s", r.tr.error);
	cr_assert(strstr(r.tr.error, "/up: HTTP 401"), "%s", r.tr.error);
	cr_assert(strstr(r.tr.error, "x=1") == NULL, "no query in messages: %s",
	    r.tr.error);
	cr_assert_lt(r.tr.down_mbps, 0);
	cr_assert_eq(r.tr.down_bytes, 0);
	cr_assert_lt(r.tr.up_mbps, 0);
	cr_assert_eq(r.tr.up_bytes, 0, "a refused POST moved nothing");
	run_close(&r);
	probe_srv_stop(s);
}

Test(probe_http, throughput_cut_at_max_seconds)
{
	/* 1 MB/s per connection each way, 2 streams: 16 Mbit/s in all. */
	struct probe_srv *s = srv_start(1000000, NULL);
	char down[128], up[128];
	struct run r;
	struct throughput_req q = {
	    .max_bytes = 1ULL << 30, .max_seconds = 1.5, .streams = 2};
	uint64_t t0;
	double took;

	urls(down, up, sizeof(down), probe_srv_port(s));
	q.down_url = down;
	q.up_url = up;
	run_init(&r);
	t0 = uv_hrtime();
	cr_assert_eq(throughput_start(r.cr, &q, on_tp, &r), 0);
	run_until(&r, 1, WATCHDOG_MS);
	took = (double)(uv_hrtime() - t0) / 1e9;
	cr_assert_str_empty(
	    r.tr.error, "a time cut is not an error: %s", r.tr.error);
	cr_assert(
	    took >= 2.9 && took < 4.0, "two directions of 1.5 s: %.2f s", took);
	/* The loop's timer may fire a few ms late. */
	cr_assert(
	    r.tr.down_s > 1.2 && r.tr.down_s <= 1.55, "%.3f", r.tr.down_s);
	cr_assert(r.tr.up_s > 1.2 && r.tr.up_s <= 1.55, "%.3f", r.tr.up_s);
	cr_assert(r.tr.down_mbps > 16 * 0.85 && r.tr.down_mbps < 16 * 1.15,
	    "down %.2f Mbps (%llu bytes in %.3f s)", r.tr.down_mbps,
	    (unsigned long long)r.tr.down_bytes, r.tr.down_s);
	/* The server reads slowly; its socket buffer takes a little more
	 * than it has read. */
	cr_assert(r.tr.up_mbps > 16 * 0.85 && r.tr.up_mbps < 16 * 1.25,
	    "up %.2f Mbps (%llu bytes in %.3f s, the server read %llu)",
	    r.tr.up_mbps, (unsigned long long)r.tr.up_bytes, r.tr.up_s,
	    (unsigned long long)probe_srv_received(s));
	cr_assert_lt(r.tr.down_bytes, q.max_bytes);
	run_close(&r);
	probe_srv_stop(s);
}

Test(probe_http, throughput_refused)
{
	char down[128], up[128];
	struct run r;
	uint16_t port = closed_port();
	struct throughput_req q = {
	    .max_bytes = 1000000, .max_seconds = 5, .streams = 4};

	urls(down, up, sizeof(down), port);
	q.down_url = down;
	q.up_url = up;
	run_init(&r);
	cr_assert_eq(throughput_start(r.cr, &q, on_tp, &r), 0);
	run_until(&r, 1, WATCHDOG_MS);
	cr_assert_eq(r.tp_calls, 1);
	cr_assert(strstr(r.tr.error, down) && strstr(r.tr.error, up),
	    "both URLs: %s", r.tr.error);
	cr_assert(
	    strcasestr(r.tr.error, "connect"), "curl's text: %s", r.tr.error);
	cr_assert_lt(r.tr.down_mbps, 0);
	cr_assert_lt(r.tr.up_mbps, 0);
	cr_assert_eq(r.tr.down_bytes + r.tr.up_bytes, 0);
	run_close(&r);
}

Test(probe_http, throughput_one_at_a_time_and_bad_requests)
{
	struct probe_srv *s = srv_start(2000000, NULL);
	char down[128], up[128];
	struct run r;
	struct throughput_req q = {.max_bytes = 100000,
	                          .max_seconds = 5,
	                          .streams = 1},
	                      bad;

	urls(down, up, sizeof(down), probe_srv_port(s));
	q.down_url = down;
	q.up_url = up;
	run_init(&r);
	bad = q;
	bad.streams = 0;
	cr_assert_eq(throughput_start(r.cr, &bad, on_tp, &r), -1);
	bad.streams = 17;
	cr_assert_eq(throughput_start(r.cr, &bad, on_tp, &r), -1);
	bad = q;
	bad.max_seconds = 0;
	cr_assert_eq(throughput_start(r.cr, &bad, on_tp, &r), -1);
	bad = q;
	bad.auth = "Authorization: Bearer x\r\nX-Evil: 1";
	cr_assert_eq(throughput_start(r.cr, &bad, on_tp, &r), -1);
	bad = q;
	bad.down_url = bad.up_url = NULL;
	cr_assert_eq(throughput_start(r.cr, &bad, on_tp, &r), -1);

	cr_assert_eq(throughput_start(r.cr, &q, on_tp, &r), 0);
	cr_assert_eq(
	    throughput_start(r.cr, &q, on_tp, &r), -1, "one test at a time");
	run_until(&r, 1, WATCHDOG_MS);
	cr_assert_str_empty(r.tr.error);
	/* Over: the next may start. Download only this time. */
	q.up_url = NULL;
	cr_assert_eq(throughput_start(r.cr, &q, on_tp, &r), 0);
	run_until(&r, 2, WATCHDOG_MS);
	cr_assert_eq(r.tr.down_bytes, 100000);
	cr_assert_lt(r.tr.up_mbps, 0, "not measured");
	cr_assert_eq(r.tr.up_bytes, 0);
	run_close(&r);
	probe_srv_stop(s);
}

/* --- host checks ------------------------------------------------------ */

static void
check(struct run *r, const char *url, const char *expect)
{
	struct host_check_req q = {
	    .url = url, .expect = expect, .timeout_s = 5};

	cr_assert_eq(host_check_start(r->cr, &q, on_hc, r), 0, "%s", url);
}

Test(probe_http, host_check_http)
{
	struct probe_srv *s = srv_start(0, NULL);
	char base[64], url[128];
	struct run r;

	snprintf(base, sizeof(base), "http://127.0.0.1:%u", probe_srv_port(s));
	run_init(&r);

	snprintf(url, sizeof(url), "%s/page", base);
	check(&r, url, "recording host OK");
	run_until(&r, 1, WATCHDOG_MS);
	cr_assert(r.hr[0].ok, "%s", r.hr[0].error);
	cr_assert_eq(r.hr[0].status, 200);
	cr_assert_str_empty(r.hr[0].error);
	cr_assert_lt(r.hr[0].time_ms, 5000);

	check(&r, url, "not on the page");
	run_until(&r, 2, WATCHDOG_MS);
	cr_assert(!r.hr[1].ok);
	cr_assert_eq(r.hr[1].status, 200);
	cr_assert(
	    strstr(r.hr[1].error, "is not in the first"), "%s", r.hr[1].error);

	/* The text is there, but after the first 64 KB. */
	snprintf(url, sizeof(url), "%s/big", base);
	check(&r, url, "recording host OK");
	run_until(&r, 3, WATCHDOG_MS);
	cr_assert(!r.hr[2].ok);
	cr_assert(
	    strstr(r.hr[2].error, "first 65536 bytes"), "%s", r.hr[2].error);

	snprintf(url, sizeof(url), "%s/status/404", base);
	check(&r, url, NULL);
	run_until(&r, 4, WATCHDOG_MS);
	cr_assert(!r.hr[3].ok);
	cr_assert_eq(r.hr[3].status, 404);
	cr_assert(strstr(r.hr[3].error, "HTTP 404"), "%s", r.hr[3].error);

	/* 3xx answers: the host is there (not followed). */
	snprintf(url, sizeof(url), "%s/redirect", base);
	check(&r, url, NULL);
	run_until(&r, 5, WATCHDOG_MS);
	cr_assert(r.hr[4].ok, "%s", r.hr[4].error);
	cr_assert_eq(r.hr[4].status, 302);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/page", closed_port());
	check(&r, url, "recording host OK");
	run_until(&r, 6, WATCHDOG_MS);
	cr_assert(!r.hr[5].ok);
	cr_assert_eq(r.hr[5].status, 0);
	cr_assert(strstr(r.hr[5].error, url), "%s", r.hr[5].error);

	run_close(&r);
	probe_srv_stop(s);
}

Test(probe_http, host_checks_at_once)
{
	struct probe_srv *s = srv_start(0, NULL);
	char url[8][128];
	struct run r;
	int ok = 0, n404 = 0, refused = 0;

	run_init(&r);
	for (int i = 0; i < 8; i++) {
		if (i % 3 == 0)
			snprintf(url[i], sizeof(url[i]),
			    "http://127.0.0.1:%u/page", probe_srv_port(s));
		else if (i % 3 == 1)
			snprintf(url[i], sizeof(url[i]),
			    "http://127.0.0.1:%u/status/404",
			    probe_srv_port(s));
		else
			snprintf(url[i], sizeof(url[i]),
			    "rtsp://127.0.0.1:%u/stream", closed_port());
		check(&r, url[i], i % 3 == 0 ? "recording host OK" : NULL);
	}
	run_until(&r, 8, WATCHDOG_MS);
	cr_assert_eq(r.hc_calls, 8);
	for (int i = 0; i < 8; i++) {
		if (r.hr[i].ok)
			ok++;
		else if (r.hr[i].status == 404)
			n404++;
		else if (strstr(r.hr[i].error, "OPTIONS rtsp://"))
			refused++;
	}
	cr_assert(ok == 3 && n404 == 3 && refused == 2,
	    "ok %d, 404 %d, rtsp refused %d", ok, n404, refused);
	run_close(&r);
	probe_srv_stop(s);
}

Test(probe_http, host_check_bad_requests)
{
	struct host_check_req q = {.url = "ftp://127.0.0.1/", .timeout_s = 1};
	struct run r;

	run_init(&r);
	cr_assert_eq(host_check_start(r.cr, &q, on_hc, &r), -1);
	q.url = "http://127.0.0.1:1/";
	q.timeout_s = 0;
	cr_assert_eq(host_check_start(r.cr, &q, on_hc, &r), -1);
	q.url = NULL;
	q.timeout_s = 1;
	cr_assert_eq(host_check_start(r.cr, &q, on_hc, &r), -1);
	run_close(&r);
	cr_assert_eq(r.hc_calls, 0, "a refused start never calls back");
}

/* --- RTSP: a tiny responder -------------------------------------------- */

struct rtsp_fake {
	int lfd;
	uint16_t port;
	int describe_status;
	pthread_t th;
	char methods[128]; /* "OPTIONS 1,DESCRIBE 2," as seen */
	bool cseq_ok;      /* every reply echoed the request's CSeq */
};

/* Read one request head (no bodies in OPTIONS/DESCRIBE). */
static int
rtsp_read_head(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len + 1 < size) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			return -1;
		if ((n = read(fd, buf + len, size - 1 - len)) <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return 0;
	}
	return -1;
}

static void *
rtsp_serve(void *arg)
{
	struct rtsp_fake *f = arg;
	struct pollfd p = {.fd = f->lfd, .events = POLLIN};
	char req[4096], resp[1024];
	const char *sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\n"
	                  "t=0 0\r\nm=video 0 RTP/AVP 26\r\n";
	int fd;

	if (poll(&p, 1, 10000) <= 0 || (fd = accept(f->lfd, NULL, NULL)) < 0)
		return NULL;
	f->cseq_ok = true;
	for (int i = 0; i < 4 && rtsp_read_head(fd, req, sizeof(req)) == 0;
	     i++) {
		const char *c = strcasestr(req, "\r\nCSeq:");
		long cseq = c ? strtol(c + 7, NULL, 10) : -1;
		bool describe = strncmp(req, "DESCRIBE ", 9) == 0;
		int n;

		snprintf(f->methods + strlen(f->methods),
		    sizeof(f->methods) - strlen(f->methods), "%.*s %ld,",
		    (int)strcspn(req, " "), req, cseq);
		if (cseq < 0)
			f->cseq_ok = false;
		if (describe && f->describe_status == 200)
			n = snprintf(resp, sizeof(resp),
			    "RTSP/1.0 200 OK\r\nCSeq: %ld\r\n"
			    "Content-Type: application/sdp\r\n"
			    "Content-Length: %zu\r\n\r\n%s",
			    cseq, strlen(sdp), sdp);
		else if (describe)
			n = snprintf(resp, sizeof(resp),
			    "RTSP/1.0 %d Not Found\r\nCSeq: %ld\r\n\r\n",
			    f->describe_status, cseq);
		else
			n = snprintf(resp, sizeof(resp),
			    "RTSP/1.0 200 OK\r\nCSeq: %ld\r\n"
			    "Public: OPTIONS, DESCRIBE\r\n\r\n",
			    cseq);
		if (write(fd, resp, (size_t)n) != n)
			break;
	}
	close(fd);
	return NULL;
}

static void
rtsp_fake_start(struct rtsp_fake *f, int describe_status)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	memset(f, 0, sizeof(*f));
	f->describe_status = describe_status;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(f->lfd >= 0);
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(f->lfd, 4), 0);
	cr_assert_eq(getsockname(f->lfd, (struct sockaddr *)&sin, &len), 0);
	f->port = ntohs(sin.sin_port);
	cr_assert_eq(pthread_create(&f->th, NULL, rtsp_serve, f), 0);
}

static void
rtsp_fake_stop(struct rtsp_fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
}

Test(probe_http, rtsp_options_then_describe)
{
	struct rtsp_fake f;
	char url[128];
	struct run r;

	rtsp_fake_start(&f, 200);
	snprintf(url, sizeof(url), "rtsp://127.0.0.1:%u/stream", f.port);
	run_init(&r);
	check(&r, url, NULL);
	run_until(&r, 1, WATCHDOG_MS);
	cr_assert(r.hr[0].ok, "%s", r.hr[0].error);
	cr_assert_eq(r.hr[0].status, 200);
	run_close(&r);
	rtsp_fake_stop(&f);
	/* One connection, CSeq counting up as libcurl numbers it. */
	cr_assert_str_eq(f.methods, "OPTIONS 1,DESCRIBE 2,");
	cr_assert(f.cseq_ok);
}

Test(probe_http, rtsp_describe_not_found)
{
	struct rtsp_fake f;
	char url[128];
	struct run r;

	rtsp_fake_start(&f, 404);
	snprintf(url, sizeof(url), "rtsp://127.0.0.1:%u/nothing", f.port);
	run_init(&r);
	check(&r, url, NULL);
	run_until(&r, 1, WATCHDOG_MS);
	cr_assert(!r.hr[0].ok);
	cr_assert_eq(r.hr[0].status, 404);
	cr_assert(
	    strstr(r.hr[0].error, "DESCRIBE rtsp://"), "%s", r.hr[0].error);
	run_close(&r);
	rtsp_fake_stop(&f);
}

Test(probe_http, rtsp_closed_port)
{
	char url[128];
	struct run r;

	snprintf(url, sizeof(url), "rtsp://127.0.0.1:%u/stream", closed_port());
	run_init(&r);
	check(&r, url, NULL);
	run_until(&r, 1, WATCHDOG_MS);
	cr_assert(!r.hr[0].ok);
	cr_assert_eq(r.hr[0].status, 0);
	cr_assert(strstr(r.hr[0].error, "OPTIONS rtsp://127.0.0.1:"), "%s",
	    r.hr[0].error);
	run_close(&r);
}

/* --- closing ---------------------------------------------------------- */

static void
on_close_now(uv_timer_t *t)
{
	struct run *r = t->data;

	curl_runner_close(r->cr);
	r->cr = NULL;
	uv_close((uv_handle_t *)t, NULL);
}

Test(probe_http, close_mid_transfer)
{
	/* 100 kB/s a connection: the check's 64 KB take 0.65 s. */
	struct probe_srv *s = srv_start(100000, NULL);
	char down[128], up[128], page[128];
	struct run r;
	uv_timer_t later;
	struct throughput_req q = {
	    .max_bytes = 1ULL << 30, .max_seconds = 10, .streams = 4};

	urls(down, up, sizeof(down), probe_srv_port(s));
	snprintf(page, sizeof(page), "http://127.0.0.1:%u/down?bytes=99999999",
	    probe_srv_port(s));
	q.down_url = down;
	q.up_url = up;
	run_init(&r);
	cr_assert_eq(throughput_start(r.cr, &q, on_tp, &r), 0);
	/* A host check that is still reading its (slow) body, too. */
	check(&r, page, "never there");
	uv_timer_init(&r.loop, &later);
	later.data = &r;
	uv_timer_start(&later, on_close_now, 300, 0);
	uv_close((uv_handle_t *)&r.watchdog, NULL);
	/* Everything ends by itself once the runner is closed: the loop
	 * returns with no handle left. */
	cr_assert_eq(uv_run(&r.loop, UV_RUN_DEFAULT), 0);
	cr_assert_eq(r.tp_calls + r.hc_calls, 0, "no callback after close");
	cr_assert_gt(probe_srv_sent(s), 0, "it was transferring");
	cr_assert_eq(uv_loop_close(&r.loop), 0);
	probe_srv_stop(s);
}

/* The first check's callback closes the runner: the second never
 * calls back. */
static void
on_hc_close(const struct host_check_result *res, void *arg)
{
	struct run *r = arg;

	on_hc(res, arg);
	curl_runner_close(r->cr);
	r->cr = NULL;
	uv_stop(&r->loop);
}

Test(probe_http, close_inside_callback)
{
	struct probe_srv *s = srv_start(100000, NULL);
	struct host_check_req q = {.timeout_s = 10};
	char refused[128], slow[128];
	struct run r;

	snprintf(
	    refused, sizeof(refused), "http://127.0.0.1:%u/", closed_port());
	snprintf(slow, sizeof(slow), "http://127.0.0.1:%u/down?bytes=9999999",
	    probe_srv_port(s));
	run_init(&r);
	q.url = slow;
	q.expect = "never there";
	cr_assert_eq(host_check_start(r.cr, &q, on_hc_close, &r), 0);
	q.url = refused;
	q.expect = NULL;
	cr_assert_eq(host_check_start(r.cr, &q, on_hc_close, &r), 0);
	uv_timer_start(&r.watchdog, on_watchdog, WATCHDOG_MS, 0);
	uv_run(&r.loop, UV_RUN_DEFAULT);
	cr_assert(!r.fired);
	cr_assert_eq(r.hc_calls, 1);
	cr_assert(!r.hr[0].ok);
	run_close(&r);
	cr_assert_eq(r.hc_calls, 1);
	probe_srv_stop(s);
}
