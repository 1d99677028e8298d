/* ingest.c: the writer: group commits on a worker thread; ACK after COMMIT. */
#include <stdatomic.h>
#include <string.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

#define RETRY_MS 1000
#define TICK_MS 5000

/*
 * Everything that writes to the database goes through here, as items:
 * reports from agents, a periodic tick (agents gone quiet, notification
 * retries) and the outcomes of notification attempts. The loop collects
 * items; one worker thread writes a batch of them in one transaction while
 * the next batch gathers. Reports are acknowledged only after COMMIT.
 */
struct ingest {
	uv_loop_t *loop;
	const struct collector_conf *conf;
	struct db_writer *w;
	struct alert_engine *ae;
	struct server *server;
	struct outbox *outbox;
	struct probe_sched *sched;
	struct ingest_item **queue;	/* FIFO, oldest first */
	size_t q_len, q_cap;
	struct ingest_item **batch;	/* owned by the worker while busy */
	size_t b_len;
	struct outbox_msg *due;		/* found by the worker after COMMIT */
	size_t n_due;
	uv_work_t work;
	uv_timer_t retry, tick;
	int handles;
	bool busy, retrying, paused, closing, tick_queued;
	int result;
	/* Added on the worker thread, read by /metrics on the loop. */
	_Atomic uint64_t stored, duplicates, probes;
	uint64_t batches;
	void (*close_cb)(void *);
	void *close_arg;
	/* A reload waiting for the worker to finish its batch. */
	const struct collector_conf *new_conf;
	const struct calendar *new_cal;
	void (*reload_cb)(void *);
	void *reload_arg;
	size_t batch_cap;
};

static void start_batch(struct ingest *in);
static void apply_reload(struct ingest *in);
static void on_retry(uv_timer_t *t);

/* Items that carry an agent's sequence number (acknowledged after COMMIT). */
static bool
item_sequenced(const struct ingest_item *it)
{
	return it->kind == ITEM_REPORT || it->kind == ITEM_PROBE;
}

static void
item_free(struct ingest_item *it)
{
	if (it->kind == ITEM_REPORT)
		wire_report_free(&it->rep);
	if (it->conn)
		conn_unref(it->conn);
	free(it);
}

/*
 * Worker thread: a PROBE by kind. Latency rounds and recording-host checks
 * are stored here and may raise alerts. 1 new, 0 duplicate, -1 error.
 */
static int
store_probe(struct ingest *in, struct ingest_item *it, uint64_t now)
{
	struct recording_obs room;
	int rc;

	switch (it->probe.kind) {
	case WIRE_PROBE_LATENCY:
		rc = db_store_probe(in->w, it->ag, it, now);
		if (rc == 1 && alerts_on_latency(in->ae, it->ag, it->school,
				   &it->probe) != 0)
			rc = -1;
		return rc;
	case WIRE_PROBE_HOST:
		rc = db_store_host(in->w, it->ag, it, now, &in->conf->policy,
		    &room);
		if (rc == 1 && room.current &&
		    alerts_on_recording(in->ae, it->ag, it->school, &it->probe,
			&room) != 0)
			rc = -1;
		return rc;
	case WIRE_PROBE_THROUGHPUT:
		/* Its row, then alerts_on_throughput (probe_sched.c). */
		if (in->sched)
			return probe_sched_result(in->sched, in->w, in->ae, it,
			    now);
		/* No scheduler: nothing asked for it. */
		return db_store_sequenced(in->w, it->ag, it, now, NULL, NULL);
	default:
		return db_store_sequenced(in->w, it->ag, it, now, NULL, NULL);
	}
}

/* Worker thread: one transaction for the whole batch. */
static void
work_cb(uv_work_t *req)
{
	struct ingest *in = container_of(req, struct ingest, work);
	uint64_t now = time_now_ms();
	size_t stored = 0, duplicates = 0, probes = 0;
	int rc = 0;

	in->result = -1;
	if (db_begin(in->w) != 0)
		return;
	for (size_t i = 0; i < in->b_len && rc >= 0; i++) {
		struct ingest_item *it = in->batch[i];
		int64_t switch_id = 0;

		switch (it->kind) {
		case ITEM_REPORT:
			rc = db_store_report(in->w, it->ag, it, now,
			    &switch_id);
			if (rc == 0)
				duplicates++;
			if (rc == 1) {
				stored++;
				rc = alerts_on_report(in->ae, it->ag, it->school,
				    &it->rep, switch_id);
			}
			break;
		case ITEM_TICK:
			rc = alerts_tick(in->ae, now);
			break;
		case ITEM_DELIVERY:
			rc = alerts_delivery_result(in->ae, it->msg_id, it->ok,
			    it->error, now);
			break;
		case ITEM_STATUS:
			rc = db_store_status(in->w, it->ag, it, now);
			break;
		case ITEM_SCHED:
			rc = probe_sched_work(in->sched, db_writer_db(in->w),
			    now);
			break;
		case ITEM_PROBE:
			rc = store_probe(in, it, now);
			if (rc == 0)
				duplicates++;
			if (rc == 1)
				probes++;
			break;
		}
	}
	if (rc < 0 || db_commit(in->w) != 0) {
		log_warnx("database: batch of %zu items not stored: %s",
		    in->b_len, db_errmsg(in->w));
		db_rollback(in->w);
		/* The writer's cached state may be ahead of the database. */
		for (size_t i = 0; i < in->b_len; i++)
			if (in->batch[i]->ag)
				in->batch[i]->ag->w_loaded = false;
		alerts_rollback(in->ae);
		return;
	}
	in->result = 0;
	in->stored += stored;
	in->duplicates += duplicates;
	in->probes += probes;
	in->batches++;
	if (in->outbox &&
	    alerts_due(in->ae, now, &in->due, &in->n_due) != 0)
		log_warnx("database: reading the outbox: %s",
		    db_errmsg(in->w));
}

static void
finish_close(struct ingest *in)
{
	void (*cb)(void *) = in->close_cb;

	in->close_cb = NULL;
	if (cb)
		cb(in->close_arg);
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct ingest *in = h->data;

	if (--in->handles > 0)
		return;
	alerts_free(in->ae);
	db_writer_free(in->w);
	free(in->queue);
	free(in->batch);
	log_info("writer: %llu reports and %llu probe rounds stored, %llu "
		 "duplicates ignored, %llu transactions",
	    (unsigned long long)in->stored, (unsigned long long)in->probes,
	    (unsigned long long)in->duplicates,
	    (unsigned long long)in->batches);
	finish_close(in);
	free(in);
}

static void
maybe_closed(struct ingest *in)
{
	size_t reports = 0;

	if (!in->closing || in->busy || in->handles < 2 ||
	    uv_is_closing((uv_handle_t *)&in->retry))
		return;
	if (in->q_len > 0 && !in->retrying)
		return; /* still draining */
	for (size_t i = 0; i < in->q_len; i++) {
		reports += item_sequenced(in->queue[i]);
		item_free(in->queue[i]);
	}
	if (reports > 0)
		log_warnx("writer: %zu reports not stored at shutdown; the "
			  "agents still hold them and will resend",
		    reports);
	in->q_len = 0;
	uv_close((uv_handle_t *)&in->retry, on_handle_closed);
	uv_close((uv_handle_t *)&in->tick, on_handle_closed);
}

static void
requeue_batch(struct ingest *in)
{
	if (in->q_len + in->b_len > in->q_cap) {
		in->q_cap = in->q_len + in->b_len;
		in->queue = xreallocarray(in->queue, in->q_cap,
		    sizeof(*in->queue));
	}
	memmove(in->queue + in->b_len, in->queue,
	    in->q_len * sizeof(*in->queue));
	memcpy(in->queue, in->batch, in->b_len * sizeof(*in->queue));
	in->q_len += in->b_len;
	in->b_len = 0;
}

static void
after_work_cb(uv_work_t *req, int status)
{
	struct ingest *in = container_of(req, struct ingest, work);

	in->busy = false;
	if (status != 0 || in->result != 0) {
		/* Put the batch back in front and try again shortly. */
		for (size_t i = 0; i < in->b_len; i++)
			if (in->batch[i]->kind == ITEM_SCHED)
				probe_sched_done(in->sched, false);
		requeue_batch(in);
		in->retrying = true;
		if (in->closing)
			maybe_closed(in);
		else
			uv_timer_start(&in->retry, on_retry, RETRY_MS, 0);
		return;
	}
	for (size_t i = 0; i < in->b_len; i++) {
		struct ingest_item *it = in->batch[i];
		struct ingest_item *next =
		    i + 1 < in->b_len ? in->batch[i + 1] : NULL;

		if (it->kind == ITEM_TICK)
			in->tick_queued = false;
		if (it->kind == ITEM_SCHED)
			probe_sched_done(in->sched, true);
		if (it->kind == ITEM_DELIVERY && in->outbox)
			outbox_recorded(in->outbox, it->msg_id);
		if (item_sequenced(it)) {
			struct agent_state *ag = it->ag;

			if (it->epoch == ag->epoch && it->seq > ag->acked_seq)
				ag->acked_seq = it->seq;
			/* One cumulative ACK per run of one connection. */
			if (next == NULL || !item_sequenced(next) ||
			    next->conn != it->conn)
				conn_send_ack(it->conn, it->epoch, it->seq);
		}
		item_free(it);
	}
	in->b_len = 0;
	if (in->n_due) {
		if (in->outbox && !in->closing)
			outbox_dispatch(in->outbox, in->due, in->n_due);
		else
			outbox_msgs_free(in->due, in->n_due);
		in->due = NULL;
		in->n_due = 0;
	}
	/* Closing: the server may already be gone. */
	if (in->paused && !in->closing &&
	    in->q_len <= (size_t)in->conf->queue_max / 2) {
		in->paused = false;
		server_pause(in->server, false);
	}
	apply_reload(in);
	start_batch(in);
	maybe_closed(in);
}

static void
on_retry(uv_timer_t *t)
{
	struct ingest *in = t->data;

	in->retrying = false;
	start_batch(in);
}

static void
start_batch(struct ingest *in)
{
	size_t n;

	if (in->busy || in->retrying || in->q_len == 0)
		return;
	n = in->q_len < (size_t)in->conf->batch_max ? in->q_len
						     : (size_t)in->conf->batch_max;
	memcpy(in->batch, in->queue, n * sizeof(*in->batch));
	memmove(in->queue, in->queue + n, (in->q_len - n) * sizeof(*in->queue));
	in->q_len -= n;
	in->b_len = n;
	in->busy = true;
	if (uv_queue_work(in->loop, &in->work, work_cb, after_work_cb) != 0)
		fatalx("cannot queue database work");
}

static void
queue_item(struct ingest *in, struct ingest_item *item)
{
	if (in->q_len == in->q_cap) {
		in->q_cap = in->q_cap ? in->q_cap * 2 : 1024;
		in->queue = xreallocarray(in->queue, in->q_cap,
		    sizeof(*in->queue));
	}
	in->queue[in->q_len++] = item;
	start_batch(in);
}

static void
on_tick(uv_timer_t *t)
{
	struct ingest *in = t->data;
	struct ingest_item *it;

	if (in->tick_queued || in->closing)
		return;
	it = xcalloc(1, sizeof(*it));
	it->kind = ITEM_TICK;
	in->tick_queued = true;
	queue_item(in, it);
}

struct ingest *
ingest_new(uv_loop_t *loop, sqlite3 *db, const struct collector_conf *conf,
    const struct calendar *cal)
{
	struct ingest *in = xcalloc(1, sizeof(*in));

	in->loop = loop;
	in->conf = conf;
	in->w = db_writer_new(db);
	in->ae = alerts_new(db, conf, cal, time_now_ms());
	in->batch_cap = (size_t)conf->batch_max;
	in->batch = xcalloc(in->batch_cap, sizeof(*in->batch));
	uv_timer_init(loop, &in->retry);
	uv_timer_init(loop, &in->tick);
	in->retry.data = in->tick.data = in;
	in->handles = 2;
	uv_timer_start(&in->tick, on_tick, TICK_MS, TICK_MS);
	return in;
}

/* Between batches: the worker sees the new settings from its next one. */
static void
apply_reload(struct ingest *in)
{
	void (*cb)(void *) = in->reload_cb;

	if (in->busy || in->new_conf == NULL)
		return;
	in->conf = in->new_conf;
	alerts_set_conf(in->ae, in->new_conf, in->new_cal);
	if (in->sched)
		probe_sched_set_conf(in->sched, in->new_conf, in->new_cal);
	if ((size_t)in->conf->batch_max > in->batch_cap) {
		in->batch_cap = (size_t)in->conf->batch_max;
		in->batch = xreallocarray(in->batch, in->batch_cap,
		    sizeof(*in->batch));
	}
	in->new_conf = NULL;
	in->new_cal = NULL;
	in->reload_cb = NULL;
	if (cb)
		cb(in->reload_arg);
}

void
ingest_reload(struct ingest *in, const struct collector_conf *conf,
    const struct calendar *cal, void (*applied)(void *), void *arg)
{
	in->new_conf = conf;
	in->new_cal = cal;
	in->reload_cb = applied;
	in->reload_arg = arg;
	apply_reload(in);
}

void
ingest_set_server(struct ingest *in, struct server *s)
{
	in->server = s;
}

void
ingest_set_outbox(struct ingest *in, struct outbox *o)
{
	in->outbox = o;
}

void
ingest_set_sched(struct ingest *in, struct probe_sched *s)
{
	in->sched = s;
}

void
ingest_push_sched(struct ingest *in)
{
	struct ingest_item *it;

	if (in->closing)
		return;
	it = xcalloc(1, sizeof(*it));
	it->kind = ITEM_SCHED;
	queue_item(in, it);
}

void
ingest_push(struct ingest *in, struct ingest_item *item)
{
	queue_item(in, item);
	if (!in->paused && !in->closing &&
	    in->q_len >= (size_t)in->conf->queue_max) {
		in->paused = true;
		log_warnx("writer: %zu reports waiting; pausing agents until "
			  "the database catches up",
		    in->q_len);
		server_pause(in->server, true);
	}
}

void
ingest_delivery(struct ingest *in, int64_t msg_id, bool ok, const char *error)
{
	struct ingest_item *it;

	if (in->closing)
		return; /* the outbox retries it after the restart */
	it = xcalloc(1, sizeof(*it));
	it->kind = ITEM_DELIVERY;
	it->msg_id = msg_id;
	it->ok = ok;
	snprintf(it->error, sizeof(it->error), "%s", error ? error : "");
	queue_item(in, it);
}

size_t
ingest_queued(const struct ingest *in)
{
	return in->q_len + in->b_len;
}

uint64_t
ingest_stored_total(const struct ingest *in)
{
	return in->stored;
}

uint64_t
ingest_probes_total(const struct ingest *in)
{
	return in->probes;
}

uint64_t
ingest_duplicates_total(const struct ingest *in)
{
	return in->duplicates;
}

void
ingest_close(struct ingest *in, void (*cb)(void *), void *arg)
{
	in->closing = true;
	in->close_cb = cb;
	in->close_arg = arg;
	uv_timer_stop(&in->tick);
	maybe_closed(in);
}
