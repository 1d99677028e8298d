/* probe_jobs.c: the probes the collector asks for: throughput tests
 * (PROBE_REQUEST) and recording-host checks (CHECKS), run with probe_http.c
 * on the agent's loop, each result a PROBE frame for the spool. */
#include <string.h>

#include "agent.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

/* One host check on its way: what its result needs, whatever CHECKS came
 * since. Listed so a close can free those whose callback never comes. */
struct check_run {
	struct probe_jobs *j;
	struct check_run *prev, *next;
	uint64_t id;
	uint64_t t_ms;
	uint32_t interval_ms;
	char room[WIRE_NAME_MAX + 1];
	char url[WIRE_TEXT_MAX + 1];
};

/* The current set, with each host's last state to log only changes. */
struct check_item {
	struct wire_check c;
	int last_ok;		/* -1: no result yet */
};

struct probe_jobs {
	uv_loop_t *loop;
	const struct agent_conf *conf;
	probe_result_cb cb;
	void *arg;
	struct curl_runner *cr;
	uv_timer_t tick;	/* a round of host checks every interval */
	/* The throughput test running, if any. */
	bool tp_running;
	uint64_t tp_id;
	uint64_t tp_t_ms;
	uint8_t tp_streams;
	char tp_base[WIRE_TEXT_MAX + 1];
	/* The host checks. */
	uint32_t interval_ms, timeout_ms;
	struct check_item *items;
	size_t n_items;
	struct check_run *runs;
};

int
probe_tp_base(const char *base, const char *host, uint16_t port, char *out,
    size_t size)
{
	size_t n;
	int rc;

	if (base[0] != '\0')
		rc = snprintf(out, size, "%s", base);
	else
		rc = snprintf(out, size, strchr(host, ':') ? "http://[%s]:%u"
							   : "http://%s:%u",
		    host, port);
	if (rc < 0 || (size_t)rc >= size)
		return -1;
	/* "http://host:7472/" + "/down" would ask for "//down". */
	n = strlen(out);
	if (n > 0 && out[n - 1] == '/')
		out[n - 1] = '\0';
	return 0;
}

/* --- throughput ------------------------------------------------------- */

static uint32_t
round_u32(double v)
{
	return v <= 0 ? 0 : v >= UINT32_MAX ? UINT32_MAX : (uint32_t)(v + 0.5);
}

/* The THROUGHPUT PROBE of test id (r NULL: nothing measured, why). */
static void
tp_emit(struct probe_jobs *j, uint64_t id, uint64_t t_ms, uint8_t streams,
    const char *base, const struct throughput_result *r, const char *why)
{
	struct wire_probe m;

	memset(&m, 0, sizeof(m));
	m.t_ms = t_ms;
	m.kind = WIRE_PROBE_THROUGHPUT;
	m.ref = id;
	snprintf(m.label, sizeof(m.label), "throughput");
	snprintf(m.target, sizeof(m.target), "%s", base);
	m.tp.streams = streams;
	snprintf(m.error, sizeof(m.error), "%s", r ? r->error : why);
	if (r && r->down_mbps >= 0) {
		m.tp.measured |= WIRE_TP_DOWN;
		m.tp.down_kbps = round_u32(r->down_mbps * 1000);
		m.tp.down_bytes = r->down_bytes;
		m.tp.down_ms = round_u32(r->down_s * 1000);
	}
	if (r && r->up_mbps >= 0) {
		m.tp.measured |= WIRE_TP_UP;
		m.tp.up_kbps = round_u32(r->up_mbps * 1000);
		m.tp.up_bytes = r->up_bytes;
		m.tp.up_ms = round_u32(r->up_s * 1000);
	}
	j->cb(&m, j->arg);
}

/* "down 478.6 Mbps (240 MB in 4.0 s)" or "down not measured". */
static void
tp_direction(char *buf, size_t size, const char *name, double mbps,
    uint64_t bytes, double s)
{
	if (mbps < 0)
		snprintf(buf, size, "%s not measured", name);
	else
		snprintf(buf, size, "%s %.1f Mbps (%.0f MB in %.1f s)", name,
		    mbps, bytes / 1e6, s);
}

static void
on_tp_done(const struct throughput_result *r, void *arg)
{
	struct probe_jobs *j = arg;
	char down[96], up[96];

	j->tp_running = false;
	tp_direction(down, sizeof(down), "down", r->down_mbps, r->down_bytes,
	    r->down_s);
	tp_direction(up, sizeof(up), "up", r->up_mbps, r->up_bytes, r->up_s);
	log_info("throughput test %llu: %s, %s%s%s",
	    (unsigned long long)j->tp_id, down, up, r->error[0] ? ": " : "",
	    r->error);
	tp_emit(j, j->tp_id, j->tp_t_ms, j->tp_streams, j->tp_base, r, NULL);
}

void
probe_jobs_request(struct probe_jobs *j, const struct wire_probe_request *q)
{
	char base[WIRE_TEXT_MAX + 1], down[WIRE_TEXT_MAX + 16],
	    up[WIRE_TEXT_MAX + 16], auth[WIRE_NAME_MAX + 32];
	struct throughput_req tq;
	uint64_t now = time_now_ms();

	if (probe_tp_base(q->base, j->conf->collector.host, q->port, base,
		sizeof(base)) != 0)
		snprintf(base, sizeof(base), "%.*s", WIRE_TEXT_MAX, q->base);
	if (j->tp_running) {
		log_info("throughput test %llu: refused, test %llu is running",
		    (unsigned long long)q->id, (unsigned long long)j->tp_id);
		tp_emit(j, q->id, now, q->streams, base, NULL, "busy");
		return;
	}
	snprintf(down, sizeof(down), "%s/down", base);
	snprintf(up, sizeof(up), "%s/up", base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", q->token);
	memset(&tq, 0, sizeof(tq));
	tq.down_url = down;
	tq.up_url = up;
	tq.auth = auth;
	tq.max_bytes = q->max_bytes;
	tq.max_seconds = q->max_ms / 1000.0;
	tq.streams = q->streams;
	j->tp_id = q->id;
	j->tp_t_ms = now;
	j->tp_streams = q->streams;
	snprintf(j->tp_base, sizeof(j->tp_base), "%s", base);
	if (throughput_start(j->cr, &tq, on_tp_done, j) != 0) {
		log_warnx("throughput test %llu: cannot start (%s, %u streams)",
		    (unsigned long long)q->id, base, q->streams);
		tp_emit(j, q->id, now, q->streams, base, NULL,
		    "cannot start the test");
		return;
	}
	j->tp_running = true;
	log_info("throughput test %llu: %s, %u streams, up to %.0f MB and "
		 "%.0f s each way",
	    (unsigned long long)q->id, base, q->streams, q->max_bytes / 1e6,
	    tq.max_seconds);
}

/* --- host checks ------------------------------------------------------ */

static struct check_item *
check_find(struct probe_jobs *j, uint64_t id)
{
	for (size_t i = 0; i < j->n_items; i++)
		if (j->items[i].c.id == id)
			return &j->items[i];
	return NULL;
}

static bool
check_running(const struct probe_jobs *j, uint64_t id)
{
	for (const struct check_run *r = j->runs; r; r = r->next)
		if (r->id == id)
			return true;
	return false;
}

static void
run_unlink(struct check_run *run)
{
	struct probe_jobs *j = run->j;

	if (run->prev)
		run->prev->next = run->next;
	else
		j->runs = run->next;
	if (run->next)
		run->next->prev = run->prev;
	free(run);
}

/* Log a host's state when it changes (the first result only when bad). */
static void
check_log(struct probe_jobs *j, const struct check_run *run,
    const struct host_check_result *r)
{
	struct check_item *it = check_find(j, run->id);

	if (it == NULL || it->last_ok == (int)r->ok)
		return;
	if (!r->ok)
		log_info("recording host %s (%s) not answering: %s", run->room,
		    run->url, r->error[0] ? r->error : "no answer");
	else if (it->last_ok == 0)
		log_info("recording host %s (%s) answering again (%u ms)",
		    run->room, run->url, r->time_ms);
	it->last_ok = r->ok;
}

static void
on_check_done(const struct host_check_result *r, void *arg)
{
	struct check_run *run = arg;
	struct probe_jobs *j = run->j;
	struct wire_probe m;

	check_log(j, run, r);
	memset(&m, 0, sizeof(m));
	m.t_ms = run->t_ms;
	m.kind = WIRE_PROBE_HOST;
	m.ref = run->id;
	snprintf(m.label, sizeof(m.label), "%s", run->room);
	snprintf(m.target, sizeof(m.target), "%s", run->url);
	m.interval_ms = run->interval_ms;
	snprintf(m.error, sizeof(m.error), "%s", r->error);
	m.host.ok = r->ok;
	m.host.status = r->status > 0 && r->status <= UINT16_MAX ?
	    (uint16_t)r->status : 0;
	m.host.time_ms = r->time_ms;
	run_unlink(run);
	j->cb(&m, j->arg);
}

/* Every interval: check each host not still being checked. */
static void
on_tick(uv_timer_t *t)
{
	struct probe_jobs *j = container_of(t, struct probe_jobs, tick);

	for (size_t i = 0; i < j->n_items; i++) {
		const struct wire_check *c = &j->items[i].c;
		struct host_check_req q;
		struct check_run *run;

		if (check_running(j, c->id))
			continue;
		run = xcalloc(1, sizeof(*run));
		run->j = j;
		run->id = c->id;
		run->t_ms = time_now_ms();
		run->interval_ms = j->interval_ms;
		snprintf(run->room, sizeof(run->room), "%s", c->room);
		snprintf(run->url, sizeof(run->url), "%s", c->url);
		run->next = j->runs;
		if (j->runs)
			j->runs->prev = run;
		j->runs = run;
		memset(&q, 0, sizeof(q));
		q.url = c->url;
		q.expect = c->expect[0] ? c->expect : NULL;
		q.timeout_s = j->timeout_ms / 1000.0;
		if (host_check_start(j->cr, &q, on_check_done, run) != 0) {
			/* A scheme or timeout probe_http.c does not take: the
			 * result says so, every interval. */
			struct host_check_result r;

			memset(&r, 0, sizeof(r));
			snprintf(r.error, sizeof(r.error),
			    "cannot check this URL");
			on_check_done(&r, run);
		}
	}
}

void
probe_jobs_checks(struct probe_jobs *j, struct wire_checks *c)
{
	struct check_item *items = xcalloc(c->n ? c->n : 1, sizeof(*items));

	for (uint32_t i = 0; i < c->n; i++) {
		const struct check_item *old = check_find(j, c->items[i].id);

		items[i].c = c->items[i];
		/* The same host under the same id keeps its state. */
		items[i].last_ok =
		    old && strcmp(old->c.url, c->items[i].url) == 0
		    ? old->last_ok : -1;
	}
	free(j->items);
	j->items = items;
	j->n_items = c->n;
	j->interval_ms = c->interval_ms;
	j->timeout_ms = c->timeout_ms;
	wire_checks_free(c);
	uv_timer_stop(&j->tick);
	log_info("recording hosts: %zu to check every %.0f s (timeout %.0f s)",
	    j->n_items, j->interval_ms / 1000.0, j->timeout_ms / 1000.0);
	if (j->n_items > 0)
		uv_timer_start(&j->tick, on_tick, 0, j->interval_ms);
}

/* --- life ------------------------------------------------------------- */

struct probe_jobs *
probe_jobs_new(uv_loop_t *loop, const struct agent_conf *conf,
    probe_result_cb cb, void *arg)
{
	struct probe_jobs *j = xcalloc(1, sizeof(*j));

	j->loop = loop;
	j->conf = conf;
	j->cb = cb;
	j->arg = arg;
	if ((j->cr = curl_runner_new(loop)) == NULL)
		fatalx("cannot set up libcurl for the probes");
	uv_timer_init(loop, &j->tick);
	j->tick.data = j;
	return j;
}

void
probe_jobs_set_conf(struct probe_jobs *j, const struct agent_conf *conf)
{
	j->conf = conf;
}

static void
on_tick_closed(uv_handle_t *h)
{
	free(h->data);
}

void
probe_jobs_close(struct probe_jobs *j)
{
	if (j == NULL)
		return;
	/* No callback comes after this: what is on its way is abandoned. */
	curl_runner_close(j->cr);
	while (j->runs)
		run_unlink(j->runs);
	free(j->items);
	uv_close((uv_handle_t *)&j->tick, on_tick_closed);
}
