/* probe_tcp.c: TCP-connect latency, loss and jitter to targets, on libuv. */
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

/*
 * A round against a target: resolve its name once, then `count` connects
 * interval_ms apart. Each connect has its own uv_tcp_t and timeout timer;
 * it is over when its callback runs or its timer fires, whichever comes
 * first, and both handles are closed at once (an answered connect sends
 * no data). The round is reported when every connect is over.
 *
 * Nothing is freed before libuv gives it back: a connect when both its
 * handles are closed, the prober when every handle and request it ever
 * started is (p->open counts them).
 */

struct tcp_target;

struct tcp_conn {
	struct tcp_target *t;
	uint32_t idx;		/* place in the round, 0..count-1 */
	bool over;		/* answered or lost: counted */
	bool tcp_init;
	int handles;		/* of tcp and timer, not yet closed */
	uint64_t t0_ns;		/* uv_hrtime just before uv_tcp_connect */
	uv_tcp_t tcp;
	uv_connect_t req;
	uv_timer_t timer;	/* timeout_ms */
};

struct tcp_target {
	struct tcp_prober *p;
	struct probe_target conf;
	uv_timer_t sched;	/* every_ms */
	uv_timer_t pace;	/* interval_ms between connects */
	uv_getaddrinfo_t gai;
	bool gai_pending;
	bool busy;		/* a round is running */
	struct sockaddr_storage addr;
	char peer[INET6_ADDRSTRLEN + 8]; /* "10.0.0.1:7470", "[::1]:7470" */
	uint32_t launched;	/* connects started in this round */
	uint32_t n_over;	/* ... and over */
	struct tcp_conn *conns[TCP_PROBE_MAX_COUNT]; /* in flight, or NULL */
	bool answered[TCP_PROBE_MAX_COUNT];
	uint32_t rtt_us[TCP_PROBE_MAX_COUNT];
	struct latency_round res;
};

struct tcp_prober {
	uv_loop_t *loop;
	struct tcp_target *targets;
	size_t n;
	uint32_t count, interval_ms, timeout_ms, every_ms;
	latency_cb cb;
	void *arg;
	size_t open;		/* handles and requests libuv still holds */
	bool closing;
};

static void round_check(struct tcp_target *t);

/* libuv gave back one handle or request; the last one frees p. */
static void
prober_release(struct tcp_prober *p)
{
	if (--p->open == 0 && p->closing) {
		free(p->targets);
		free(p);
	}
}

/* --- one connect ---------------------------------------------------- */

static void
on_conn_closed(uv_handle_t *h)
{
	struct tcp_conn *c = h->data;
	struct tcp_prober *p = c->t->p;

	if (--c->handles == 0)
		free(c);
	prober_release(p);
}

static void
conn_close(struct tcp_conn *c)
{
	c->timer.data = c;
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
	if (c->tcp_init) {
		c->tcp.data = c;
		uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
	}
}

/* The connect is answered (rtt_us valid) or lost (why says how). */
static void
conn_over(struct tcp_conn *c, bool answered, uint32_t rtt_us,
    const char *why)
{
	struct tcp_target *t = c->t;

	c->over = true;
	t->conns[c->idx] = NULL;
	t->answered[c->idx] = answered;
	t->rtt_us[c->idx] = rtt_us;
	t->n_over++;
	if (!answered)
		log_debug("probe %s (%s): connect %u/%u lost: %s",
		    t->conf.label, t->peer, c->idx + 1, t->p->count, why);
	conn_close(c);
	round_check(t);
}

static void
on_connected(uv_connect_t *req, int status)
{
	struct tcp_conn *c = container_of(req, struct tcp_conn, req);
	uint64_t us = (uv_hrtime() - c->t0_ns + 999) / 1000;

	/* Closed first (timeout, tcp_prober_close): UV_ECANCELED, counted. */
	if (c->over)
		return;
	/* A SYN-ACK or an RST came back: the path works either way. */
	if (status == 0 || status == UV_ECONNREFUSED)
		conn_over(c, true, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us,
		    NULL);
	else
		conn_over(c, false, 0, uv_strerror(status));
}

static void
on_conn_timeout(uv_timer_t *timer)
{
	struct tcp_conn *c = container_of(timer, struct tcp_conn, timer);
	char why[64];

	snprintf(why, sizeof(why), "no answer in %u ms", c->t->p->timeout_ms);
	conn_over(c, false, 0, why);
}

/* Start connect number idx of t's round (it may be over on return). */
static void
conn_start(struct tcp_target *t, uint32_t idx)
{
	struct tcp_prober *p = t->p;
	struct tcp_conn *c = xcalloc(1, sizeof(*c));
	int rc;

	c->t = t;
	c->idx = idx;
	uv_timer_init(p->loop, &c->timer);
	c->handles = 1;
	p->open++;
	if ((rc = uv_tcp_init(p->loop, &c->tcp)) == 0) {
		c->tcp_init = true;
		c->handles++;
		p->open++;
	}
	t->conns[idx] = c;
	t->launched++;
	c->t0_ns = uv_hrtime();
	if (rc == 0)
		rc = uv_tcp_connect(&c->req, &c->tcp,
		    (const struct sockaddr *)&t->addr, on_connected);
	if (rc < 0) {
		/* No callback will come (ENETUNREACH, EMFILE...): lost now. */
		conn_over(c, false, 0, uv_strerror(rc));
		return;
	}
	uv_timer_start(&c->timer, on_conn_timeout, p->timeout_ms, 0);
}

/* --- one round ------------------------------------------------------ */

static void
round_stats(struct tcp_target *t)
{
	struct latency_round *r = &t->res;
	uint64_t sum = 0, dsum = 0;
	uint32_t prev = 0;

	r->sent = t->launched;
	r->answered = 0;
	for (uint32_t i = 0; i < t->launched; i++) {
		uint32_t rtt = t->rtt_us[i];

		if (!t->answered[i])
			continue;
		if (r->answered == 0 || rtt < r->rtt_min_us)
			r->rtt_min_us = rtt;
		if (rtt > r->rtt_max_us)
			r->rtt_max_us = rtt;
		/* Consecutive answered connects, lost ones skipped. */
		if (r->answered > 0)
			dsum += rtt > prev ? rtt - prev : prev - rtt;
		prev = rtt;
		sum += rtt;
		r->answered++;
	}
	if (r->answered > 0)
		r->rtt_avg_us = (uint32_t)((sum + r->answered / 2) / r->answered);
	if (r->answered > 1)
		r->jitter_us = (uint32_t)((dsum + (r->answered - 1) / 2) /
		    (r->answered - 1));
}

static void
round_finish(struct tcp_target *t)
{
	struct tcp_prober *p = t->p;
	const struct latency_round *r = &t->res;

	t->busy = false;
	if (r->error[0])
		log_debug("probe %s (%s:%u): %u/%u answered: %s", r->label,
		    t->conf.host, t->conf.port, r->answered, r->sent, r->error);
	else if (r->answered == 0)
		log_debug("probe %s (%s): %u/%u answered", r->label, t->peer,
		    r->answered, r->sent);
	else
		log_debug("probe %s (%s): %u/%u answered, rtt %.1f/%.1f/%.1f ms, "
			  "jitter %.1f ms",
		    r->label, t->peer, r->answered, r->sent,
		    r->rtt_min_us / 1000.0, r->rtt_avg_us / 1000.0,
		    r->rtt_max_us / 1000.0, r->jitter_us / 1000.0);
	if (!p->closing)
		p->cb(r, p->arg);
}

static void
round_check(struct tcp_target *t)
{
	if (t->launched < t->p->count || t->n_over < t->launched)
		return;
	round_stats(t);
	round_finish(t);
}

static void round_fail(struct tcp_target *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The round could not run at all: every connect counts as lost. A long
 * host name is cut short in the error. */
static void
round_fail(struct tcp_target *t, const char *fmt, ...)
{
	va_list ap;

	t->res.sent = t->p->count;
	va_start(ap, fmt);
	vsnprintf(t->res.error, sizeof(t->res.error), fmt, ap);
	va_end(ap);
	round_finish(t);
}

static void
on_pace(uv_timer_t *timer)
{
	struct tcp_target *t = container_of(timer, struct tcp_target, pace);

	if (t->launched + 1 >= t->p->count)
		uv_timer_stop(&t->pace);
	conn_start(t, t->launched);
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct tcp_target *t = container_of(req, struct tcp_target, gai);
	struct tcp_prober *p = t->p;
	char ip[INET6_ADDRSTRLEN] = "?";

	t->gai_pending = false;
	if (p->closing) {
		uv_freeaddrinfo(res);
		prober_release(p);
		return;
	}
	prober_release(p); /* not the last: the timers are open */
	if (status < 0 || res == NULL ||
	    res->ai_addrlen > sizeof(t->addr)) {
		uv_freeaddrinfo(res);
		round_fail(t, "cannot resolve %s: %s", t->conf.host,
		    status < 0 ? uv_strerror(status) : "no usable address");
		return;
	}
	memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
	if (res->ai_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof(ip));
		snprintf(t->peer, sizeof(t->peer), "[%s]:%u", ip, t->conf.port);
	} else {
		uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof(ip));
		snprintf(t->peer, sizeof(t->peer), "%s:%u", ip, t->conf.port);
	}
	uv_freeaddrinfo(res);
	/* Any connect may end the round (and cb may close p) at once. */
	if (p->interval_ms == 0) {
		while (t->busy && !p->closing && t->launched < p->count)
			conn_start(t, t->launched);
		return;
	}
	conn_start(t, 0);
	if (t->busy && !p->closing && t->launched < p->count)
		uv_timer_start(&t->pace, on_pace, p->interval_ms,
		    p->interval_ms);
}

static void
round_start(struct tcp_target *t)
{
	struct tcp_prober *p = t->p;
	struct addrinfo hints;
	char port[8];
	int rc;

	if (t->busy) {
		log_warnx("probe %s (%s:%u): the previous round is still "
			  "running (slow DNS?), skipping this one",
		    t->conf.label, t->conf.host, t->conf.port);
		return;
	}
	t->busy = true;
	memset(&t->res, 0, sizeof(t->res));
	snprintf(t->res.label, sizeof(t->res.label), "%s", t->conf.label);
	t->res.t_ms = time_now_ms();
	t->launched = t->n_over = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", t->conf.port);
	rc = uv_getaddrinfo(p->loop, &t->gai, on_resolved, t->conf.host, port,
	    &hints);
	if (rc < 0) {
		round_fail(t, "cannot resolve %s: %s", t->conf.host,
		    uv_strerror(rc));
		return;
	}
	t->gai_pending = true;
	p->open++;
}

static void
on_sched(uv_timer_t *timer)
{
	round_start(container_of(timer, struct tcp_target, sched));
}

/* --- the prober ----------------------------------------------------- */

static bool
target_ok(const struct probe_target *pt, size_t i)
{
	const char *why = NULL;

	if (memchr(pt->label, '\0', sizeof(pt->label)) == NULL ||
	    pt->label[0] == '\0')
		why = "label empty or not terminated";
	else if (memchr(pt->host, '\0', sizeof(pt->host)) == NULL ||
	    pt->host[0] == '\0')
		why = "host empty or not terminated";
	else if (pt->port == 0)
		why = "port 0";
	if (why)
		log_warnx("probe target %zu: %s", i + 1, why);
	return why == NULL;
}

struct tcp_prober *
tcp_prober_new(uv_loop_t *loop, const struct probe_target *targets,
    size_t n, uint32_t count, uint32_t interval_ms, uint32_t timeout_ms,
    uint32_t every_ms, latency_cb cb, void *arg)
{
	struct tcp_prober *p;
	uint64_t round_ms = (uint64_t)(count ? count - 1 : 0) * interval_ms +
	    timeout_ms;

	if (n == 0 || n > TCP_PROBE_MAX_TARGETS || targets == NULL) {
		log_warnx("probe: %zu targets (1 to %d)", n,
		    TCP_PROBE_MAX_TARGETS);
		return NULL;
	}
	if (count == 0 || count > TCP_PROBE_MAX_COUNT || timeout_ms == 0) {
		log_warnx("probe: %u connects a round (1 to %d), timeout %u ms "
			  "(at least 1)",
		    count, TCP_PROBE_MAX_COUNT, timeout_ms);
		return NULL;
	}
	if (round_ms > every_ms) {
		log_warnx("probe: a round (%u connects %u ms apart, %u ms "
			  "timeout) takes up to %llu ms, longer than its "
			  "period of %u ms",
		    count, interval_ms, timeout_ms,
		    (unsigned long long)round_ms, every_ms);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (!target_ok(&targets[i], i))
			return NULL;
	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->n = n;
	p->count = count;
	p->interval_ms = interval_ms;
	p->timeout_ms = timeout_ms;
	p->every_ms = every_ms;
	p->cb = cb;
	p->arg = arg;
	p->targets = xcalloc(n, sizeof(*p->targets));
	for (size_t i = 0; i < n; i++) {
		struct tcp_target *t = &p->targets[i];

		t->p = p;
		t->conf = targets[i];
		uv_timer_init(loop, &t->sched);
		uv_timer_init(loop, &t->pace);
		p->open += 2;
	}
	return p;
}

void
tcp_prober_start(struct tcp_prober *p)
{
	/* The first rounds at once, their connects staggered over one
	 * interval: n targets do not send their SYNs together. */
	for (size_t i = 0; i < p->n; i++)
		uv_timer_start(&p->targets[i].sched, on_sched,
		    (uint64_t)p->interval_ms * i / p->n, p->every_ms);
}

static void
on_timer_closed(uv_handle_t *h)
{
	prober_release(h->data);
}

void
tcp_prober_close(struct tcp_prober *p)
{
	if (p == NULL || p->closing)
		return;
	p->closing = true;
	for (size_t i = 0; i < p->n; i++) {
		struct tcp_target *t = &p->targets[i];

		t->sched.data = t->pace.data = p;
		uv_close((uv_handle_t *)&t->sched, on_timer_closed);
		uv_close((uv_handle_t *)&t->pace, on_timer_closed);
		/* Its callback still comes (UV_EAI_CANCELED if in time). */
		if (t->gai_pending)
			uv_cancel((uv_req_t *)&t->gai);
		for (uint32_t k = 0; k < TCP_PROBE_MAX_COUNT; k++) {
			struct tcp_conn *c = t->conns[k];

			if (c == NULL)
				continue;
			c->over = true;
			t->conns[k] = NULL;
			conn_close(c);
		}
		t->busy = false;
	}
}
