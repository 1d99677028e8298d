/* test_probe_tcp.c: TCP-connect probes (agent/probe_tcp.c), on loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "probe.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

#define MAX_GOT 32
#define WATCHDOG_MS 15000

/* One test's world (criterion runs each test in its own process). */
static struct {
	uv_loop_t loop;
	uv_timer_t watchdog;	/* unreferenced: fails a test that hangs */
	uv_timer_t later;	/* closes mid-round, then lingers */
	uv_tcp_t server;	/* accepts and closes */
	bool server_open;
	int accepted;
	struct tcp_prober *p;
	bool closed;		/* tcp_prober_close was called */
	int want;		/* rounds after which on_round closes all */
	struct latency_round got[MAX_GOT];
	uint64_t got_ns[MAX_GOT]; /* uv_hrtime at each callback */
	int n_got;
	int raw_fds[4];		/* plain sockets a test opened */
	int n_raw;
} w;

static void
on_watchdog(uv_timer_t *t)
{
	(void)t;
	cr_assert_fail("no end after %d ms (%d rounds reported)", WATCHDOG_MS,
	    w.n_got);
}

static void
setup(void)
{
	/* SCHOOLNET_TEST_DEBUG=1 shows the prober's debug lines. */
	log_set_level(getenv("SCHOOLNET_TEST_DEBUG") ? LOG_LVL_DEBUG
						     : LOG_LVL_WARN);
	memset(&w, 0, sizeof(w));
	cr_assert_eq(uv_loop_init(&w.loop), 0);
	uv_timer_init(&w.loop, &w.watchdog);
	uv_timer_start(&w.watchdog, on_watchdog, WATCHDOG_MS, 0);
	uv_unref((uv_handle_t *)&w.watchdog);
	uv_timer_init(&w.loop, &w.later);
}

static void
teardown(void)
{
	for (int i = 0; i < w.n_raw; i++)
		close(w.raw_fds[i]);
}

TestSuite(probe_tcp, .init = setup, .fini = teardown);

static void
on_client_closed(uv_handle_t *h)
{
	free(h);
}

static void
on_connection(uv_stream_t *server, int status)
{
	uv_tcp_t *c;

	if (status < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	uv_tcp_init(&w.loop, c);
	if (uv_accept(server, (uv_stream_t *)c) == 0)
		w.accepted++;
	uv_close((uv_handle_t *)c, on_client_closed);
}

/* A libuv listener on 127.0.0.1 that accepts and closes: its port. */
static uint16_t
listener_start(void)
{
	struct sockaddr_in sin;
	int len = sizeof(sin);

	cr_assert_eq(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
	cr_assert_eq(uv_tcp_init(&w.loop, &w.server), 0);
	cr_assert_eq(uv_tcp_bind(&w.server, (struct sockaddr *)&sin, 0), 0);
	cr_assert_eq(uv_listen((uv_stream_t *)&w.server, 128, on_connection),
	    0);
	cr_assert_eq(uv_tcp_getsockname(&w.server, (struct sockaddr *)&sin,
			 &len), 0);
	w.server_open = true;
	return ntohs(sin.sin_port);
}

static void
listener_close(void)
{
	if (w.server_open)
		uv_close((uv_handle_t *)&w.server, NULL);
	w.server_open = false;
}

static int
raw_socket_bound(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0, "socket: %s", strerror(errno));
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	return fd;
}

/* A port on 127.0.0.1 with nothing listening: connects get an RST. */
static uint16_t
closed_port(void)
{
	struct sockaddr_in sin;
	int fd = raw_socket_bound(&sin);

	close(fd);
	return ntohs(sin.sin_port);
}

/* A nonblocking connect to sin; true if it completed within ms. */
static bool
connects_within(const struct sockaddr_in *sin, int ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	int err = 0;
	socklen_t len = sizeof(err);
	bool ok;

	cr_assert(fd >= 0);
	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) != 0)
		cr_assert_eq(errno, EINPROGRESS, "connect: %s", strerror(errno));
	ok = poll(&pfd, 1, ms) == 1 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
	cr_assert_lt(w.n_raw, (int)nitems(w.raw_fds));
	w.raw_fds[w.n_raw++] = fd; /* kept: it holds its place in the queue */
	return ok;
}

/*
 * A port on 127.0.0.1 whose SYNs go unanswered, without leaving loopback:
 * a listener with backlog 0 that never accepts, its accept queue filled
 * first (Linux drops a SYN when the accept queue is full).
 */
static uint16_t
silent_port(void)
{
	struct sockaddr_in sin;
	int fd = raw_socket_bound(&sin);

	cr_assert_eq(listen(fd, 0), 0);
	w.raw_fds[w.n_raw++] = fd;
	cr_assert(connects_within(&sin, 1000), "the first connect fills the "
					       "queue");
	cr_assert_not(connects_within(&sin, 200),
	    "a full accept queue should leave a SYN unanswered");
	return ntohs(sin.sin_port);
}

static struct probe_target
target(const char *label, const char *host, uint16_t port)
{
	struct probe_target t;

	memset(&t, 0, sizeof(t));
	snprintf(t.label, sizeof(t.label), "%s", label);
	snprintf(t.host, sizeof(t.host), "%s", host);
	t.port = port;
	return t;
}

static void
close_all(void)
{
	tcp_prober_close(w.p);
	w.closed = true;
	listener_close();
}

static void
on_round(const struct latency_round *r, void *arg)
{
	cr_assert_eq(arg, &w);
	cr_assert_not(w.closed, "a round reported after tcp_prober_close");
	cr_assert_lt(w.n_got, MAX_GOT);
	w.got_ns[w.n_got] = uv_hrtime();
	w.got[w.n_got++] = *r;
	if (w.n_got == w.want)
		close_all();
}

/* Run until everything is closed; nothing may be left on the loop. */
static void
run_to_end(void)
{
	uv_run(&w.loop, UV_RUN_DEFAULT);
	cr_assert(w.closed, "the loop ended before the test closed the prober");
	uv_close((uv_handle_t *)&w.watchdog, NULL);
	uv_close((uv_handle_t *)&w.later, NULL);
	cr_assert_eq(uv_run(&w.loop, UV_RUN_DEFAULT), 0);
	cr_assert_eq(uv_loop_close(&w.loop), 0, "handles left on the loop");
}

static const struct latency_round *
round_of(const char *label, int nth)
{
	for (int i = 0, seen = 0; i < w.n_got; i++)
		if (strcmp(w.got[i].label, label) == 0 && seen++ == nth)
			return &w.got[i];
	cr_assert_fail("no round %d for %s", nth, label);
	return NULL;
}

/* What every round with answers must satisfy. */
static void
check_figures(const struct latency_round *r, uint32_t max_us)
{
	cr_assert_gt(r->rtt_min_us, 0, "%s: rtt_min 0", r->label);
	cr_assert_leq(r->rtt_min_us, r->rtt_avg_us);
	cr_assert_leq(r->rtt_avg_us, r->rtt_max_us);
	cr_assert_lt(r->rtt_max_us, max_us, "%s: rtt_max %u us", r->label,
	    r->rtt_max_us);
	cr_assert_leq(r->jitter_us, r->rtt_max_us - r->rtt_min_us,
	    "%s: jitter %u us > max - min", r->label, r->jitter_us);
}

static void
check_all_lost(const struct latency_round *r, uint32_t count)
{
	cr_assert_eq(r->sent, count);
	cr_assert_eq(r->answered, 0);
	cr_assert_eq(r->rtt_min_us, 0);
	cr_assert_eq(r->rtt_avg_us, 0);
	cr_assert_eq(r->rtt_max_us, 0);
	cr_assert_eq(r->jitter_us, 0);
}

/* --- arguments ------------------------------------------------------ */

Test(probe_tcp, refuses_what_it_cannot_bound)
{
	struct probe_target many[TCP_PROBE_MAX_TARGETS + 1];
	struct probe_target bad;
	uv_loop_t *l = &w.loop;

	for (size_t i = 0; i < nitems(many); i++)
		many[i] = target("t", "127.0.0.1", 9);
	log_set_level(LOG_LVL_ERROR); /* each refusal is logged */
	cr_assert_null(tcp_prober_new(l, many, 0, 5, 10, 100, 1000, on_round,
	    &w));
	cr_assert_null(tcp_prober_new(l, many, TCP_PROBE_MAX_TARGETS + 1, 5,
	    10, 100, 1000, on_round, &w));
	cr_assert_null(tcp_prober_new(l, many, 1, 0, 10, 100, 1000, on_round,
	    &w));
	cr_assert_null(tcp_prober_new(l, many, 1, TCP_PROBE_MAX_COUNT + 1, 0,
	    100, 1000, on_round, &w));
	cr_assert_null(tcp_prober_new(l, many, 1, 5, 10, 0, 1000, on_round,
	    &w));
	/* 4 x 10 + 100 = 140 ms a round, every 139 ms: cannot fit. */
	cr_assert_null(tcp_prober_new(l, many, 1, 5, 10, 100, 139, on_round,
	    &w));
	bad = target("t", "127.0.0.1", 0);
	cr_assert_null(tcp_prober_new(l, &bad, 1, 5, 10, 100, 1000, on_round,
	    &w));
	bad = target("t", "", 9);
	cr_assert_null(tcp_prober_new(l, &bad, 1, 5, 10, 100, 1000, on_round,
	    &w));
	bad = target("", "127.0.0.1", 9);
	cr_assert_null(tcp_prober_new(l, &bad, 1, 5, 10, 100, 1000, on_round,
	    &w));
	bad = target("t", "127.0.0.1", 9);
	memset(bad.host, 'a', sizeof(bad.host)); /* no terminating NUL */
	cr_assert_null(tcp_prober_new(l, &bad, 1, 5, 10, 100, 1000, on_round,
	    &w));

	/* The largest allowed, exactly fitting its period: made, then
	 * closed without a start; everything is given back. */
	w.p = tcp_prober_new(l, many, TCP_PROBE_MAX_TARGETS,
	    TCP_PROBE_MAX_COUNT, 10, 100, 99 * 10 + 100, on_round, &w);
	cr_assert_not_null(w.p);
	close_all();
	tcp_prober_close(NULL);
	run_to_end();
	cr_assert_eq(w.n_got, 0);
}

/* --- rounds --------------------------------------------------------- */

Test(probe_tcp, listener_answers)
{
	struct probe_target t = target("loopback", "127.0.0.1",
	    listener_start());
	const struct latency_round *r;
	uint64_t t0_ms = time_now_ms(), t0_ns = uv_hrtime(), took_ms;

	w.want = 1;
	w.p = tcp_prober_new(&w.loop, &t, 1, 5, 20, 1000, 60000, on_round,
	    &w);
	cr_assert_not_null(w.p);
	tcp_prober_start(w.p);
	run_to_end();
	cr_assert_eq(w.n_got, 1);
	r = &w.got[0];
	cr_assert_str_eq(r->label, "loopback");
	cr_assert_str_eq(r->error, "");
	cr_assert_eq(r->sent, 5);
	cr_assert_eq(r->answered, 5);
	/* Loopback, even under ASan on a busy machine: well under 100 ms. */
	check_figures(r, 100000);
	cr_assert(r->t_ms >= t0_ms && r->t_ms < t0_ms + 1000, "t_ms %llu",
	    (unsigned long long)r->t_ms);
	/* 5 connects 20 ms apart: the last starts 80 ms into the round. */
	took_ms = (w.got_ns[0] - t0_ns) / 1000000;
	cr_assert(took_ms >= 79 && took_ms < 1000, "round took %llu ms",
	    (unsigned long long)took_ms);
}

Test(probe_tcp, burst_with_no_interval)
{
	struct probe_target t = target("burst", "127.0.0.1",
	    listener_start());

	w.want = 1;
	w.p = tcp_prober_new(&w.loop, &t, 1, 20, 0, 1000, 60000, on_round,
	    &w);
	tcp_prober_start(w.p);
	run_to_end();
	cr_assert_eq(w.n_got, 1);
	cr_assert_eq(w.got[0].sent, 20);
	cr_assert_eq(w.got[0].answered, 20);
	check_figures(&w.got[0], 100000);
}

/* An RST is an answer: the path to the host works. */
Test(probe_tcp, closed_port_answers_with_reset)
{
	struct probe_target t = target("refused", "127.0.0.1", closed_port());

	w.want = 1;
	w.p = tcp_prober_new(&w.loop, &t, 1, 3, 10, 1000, 60000, on_round,
	    &w);
	tcp_prober_start(w.p);
	run_to_end();
	cr_assert_eq(w.n_got, 1);
	cr_assert_str_eq(w.got[0].error, "");
	cr_assert_eq(w.got[0].sent, 3);
	cr_assert_eq(w.got[0].answered, 3);
	check_figures(&w.got[0], 100000);
}

Test(probe_tcp, name_that_does_not_resolve)
{
	struct probe_target t = target("nowhere", "nonexistent.invalid", 7470);

	w.want = 1;
	w.p = tcp_prober_new(&w.loop, &t, 1, 4, 10, 1000, 60000, on_round,
	    &w);
	tcp_prober_start(w.p);
	run_to_end();
	cr_assert_eq(w.n_got, 1);
	cr_assert_str_eq(w.got[0].label, "nowhere");
	cr_assert(strstr(w.got[0].error, "cannot resolve nonexistent.invalid") ==
		w.got[0].error,
	    "error: '%s'", w.got[0].error);
	check_all_lost(&w.got[0], 4);
}

Test(probe_tcp, unanswered_connects_time_out)
{
	struct probe_target t = target("silent", "127.0.0.1", silent_port());
	uint64_t t0_ns, took_ms;

	w.want = 1;
	w.p = tcp_prober_new(&w.loop, &t, 1, 3, 50, 300, 60000, on_round,
	    &w);
	uv_update_time(&w.loop);
	t0_ns = uv_hrtime();
	tcp_prober_start(w.p);
	run_to_end();
	cr_assert_eq(w.n_got, 1);
	cr_assert_str_eq(w.got[0].error, "", "a timeout is a loss, not an error");
	check_all_lost(&w.got[0], 3);
	/* The last connect starts at 100 ms and gives up at 400 ms. */
	took_ms = (w.got_ns[0] - t0_ns) / 1000000;
	cr_assert(took_ms >= 399 && took_ms < 1500, "round took %llu ms",
	    (unsigned long long)took_ms);
}

/* Three targets, each its own round every period; results by label. */
Test(probe_tcp, several_targets_and_rounds)
{
	struct probe_target t[3] = {
	    target("up", "127.0.0.1", listener_start()),
	    target("refused", "127.0.0.1", closed_port()),
	    target("nowhere", "nonexistent.invalid", 80),
	};
	const char *labels[] = {"up", "refused", "nowhere"};

	w.want = 6;
	w.p = tcp_prober_new(&w.loop, t, 3, 2, 30, 200, 400, on_round, &w);
	tcp_prober_start(w.p);
	run_to_end();
	cr_assert_eq(w.n_got, 6);
	for (int i = 0; i < 3; i++) {
		const struct latency_round *a = round_of(labels[i], 0);
		const struct latency_round *b = round_of(labels[i], 1);

		cr_assert(b->t_ms >= a->t_ms + 350 && b->t_ms < a->t_ms + 1000,
		    "%s: rounds at %llu and %llu ms", labels[i],
		    (unsigned long long)a->t_ms, (unsigned long long)b->t_ms);
		cr_assert_eq(a->sent, 2);
		cr_assert_eq(b->sent, 2);
		if (i < 2) {
			cr_assert_eq(a->answered, 2, "%s", labels[i]);
			cr_assert_eq(b->answered, 2, "%s", labels[i]);
			check_figures(a, 100000);
			check_figures(b, 100000);
		} else {
			cr_assert_neq(a->error[0], '\0');
			check_all_lost(a, 2);
			check_all_lost(b, 2);
		}
	}
}

/* --- closing -------------------------------------------------------- */

static void
on_linger_end(uv_timer_t *t)
{
	(void)t;
}

static void
on_close_now(uv_timer_t *t)
{
	close_all();
	/* Keep the loop running past where the round would have ended. */
	uv_timer_start(t, on_linger_end, 700, 0);
}

/* Connects in flight, both answered and unanswered ones, abandoned: no
 * callback, nothing left on the loop, nothing leaked (ASan). */
Test(probe_tcp, close_in_the_middle_of_a_round)
{
	struct probe_target t[2] = {
	    target("up", "127.0.0.1", listener_start()),
	    target("silent", "127.0.0.1", silent_port()),
	};

	w.p = tcp_prober_new(&w.loop, t, 2, 10, 50, 400, 60000, on_round, &w);
	uv_update_time(&w.loop); /* silent_port() took a while */
	tcp_prober_start(w.p);
	uv_timer_start(&w.later, on_close_now, 170, 0);
	run_to_end();
	cr_assert_eq(w.n_got, 0);
	cr_assert_gt(w.accepted, 0, "the round had begun");
}

Test(probe_tcp, close_while_resolving)
{
	struct probe_target t = target("nowhere", "nonexistent.invalid", 80);

	w.p = tcp_prober_new(&w.loop, &t, 1, 3, 10, 100, 60000, on_round, &w);
	tcp_prober_start(w.p);
	/* The first round starts now: its uv_getaddrinfo is queued. */
	uv_run(&w.loop, UV_RUN_NOWAIT);
	close_all();
	run_to_end();
	cr_assert_eq(w.n_got, 0);
}

Test(probe_tcp, close_after_start_before_any_round)
{
	struct probe_target t = target("up", "127.0.0.1", 9);

	w.p = tcp_prober_new(&w.loop, &t, 1, 3, 10, 100, 60000, on_round, &w);
	tcp_prober_start(w.p);
	close_all();
	run_to_end();
	cr_assert_eq(w.n_got, 0);
}
