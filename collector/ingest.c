/* ingest.c: group commit of reports on a worker thread; ACK after COMMIT. */
#include <string.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"

#define RETRY_MS 1000

struct ingest {
	uv_loop_t *loop;
	const struct collector_conf *conf;
	struct db_writer *w;
	struct server *server;
	struct ingest_item **queue;	/* FIFO, oldest first */
	size_t q_len, q_cap;
	struct ingest_item **batch;	/* owned by the worker while busy */
	size_t b_len;
	uv_work_t work;
	uv_timer_t retry;
	bool busy, retrying, paused, closing;
	int result;
	uint64_t stored, duplicates, batches;
	void (*close_cb)(void *);
	void *close_arg;
};

static void start_batch(struct ingest *in);
static void on_retry(uv_timer_t *t);

/* Worker thread: one transaction for the whole batch. */
static void
work_cb(uv_work_t *req)
{
	struct ingest *in = container_of(req, struct ingest, work);
	size_t stored = 0;
	int rc = 0;

	if (db_begin(in->w) != 0) {
		in->result = -1;
		return;
	}
	for (size_t i = 0; i < in->b_len; i++) {
		struct ingest_item *it = in->batch[i];

		if ((rc = db_store_report(in->w, it->ag, &it->rep, it->peer)) < 0)
			break;
		stored += (size_t)rc;
	}
	if (rc < 0 || db_commit(in->w) != 0) {
		log_warnx("database: batch of %zu reports not stored: %s",
		    in->b_len, db_errmsg(in->w));
		db_rollback(in->w);
		/* The writer's cached sequence numbers may be ahead now. */
		for (size_t i = 0; i < in->b_len; i++)
			in->batch[i]->ag->w_loaded = false;
		in->result = -1;
		return;
	}
	in->result = 0;
	in->stored += stored;
	in->duplicates += in->b_len - stored;
	in->batches++;
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
on_retry_closed(uv_handle_t *h)
{
	struct ingest *in = h->data;

	db_writer_free(in->w);
	free(in->queue);
	free(in->batch);
	log_info("writer: %llu reports stored, %llu duplicates ignored, "
		 "%llu transactions",
	    (unsigned long long)in->stored,
	    (unsigned long long)in->duplicates,
	    (unsigned long long)in->batches);
	finish_close(in);
	free(in);
}

static void
maybe_closed(struct ingest *in)
{
	if (!in->closing || in->busy)
		return;
	if (in->q_len > 0 && !in->retrying)
		return; /* still draining */
	if (in->q_len > 0)
		log_warnx("writer: %zu reports not stored at shutdown; the "
			  "agents still hold them and will resend",
		    in->q_len);
	for (size_t i = 0; i < in->q_len; i++) {
		wire_report_free(&in->queue[i]->rep);
		conn_unref(in->queue[i]->conn);
		free(in->queue[i]);
	}
	in->q_len = 0;
	uv_close((uv_handle_t *)&in->retry, on_retry_closed);
}

static void
after_work_cb(uv_work_t *req, int status)
{
	struct ingest *in = container_of(req, struct ingest, work);

	in->busy = false;
	if (status != 0 || in->result != 0) {
		/* Put the batch back in front and try again shortly. */
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
		in->retrying = true;
		if (in->closing)
			maybe_closed(in);
		else
			uv_timer_start(&in->retry, on_retry, RETRY_MS, 0);
		return;
	}
	for (size_t i = 0; i < in->b_len; i++) {
		struct ingest_item *it = in->batch[i];
		struct agent_state *ag = it->ag;
		struct ingest_item *next = i + 1 < in->b_len ? in->batch[i + 1]
							     : NULL;

		if (it->rep.epoch == ag->epoch && it->rep.seq > ag->acked_seq)
			ag->acked_seq = it->rep.seq;
		/* One cumulative ACK per run of the same connection. */
		if (next == NULL || next->conn != it->conn)
			conn_send_ack(it->conn, it->rep.epoch, it->rep.seq);
		wire_report_free(&it->rep);
		conn_unref(it->conn);
		free(it);
	}
	in->b_len = 0;
	if (in->paused && in->q_len <= (size_t)in->conf->queue_max / 2) {
		in->paused = false;
		server_pause(in->server, false);
	}
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

struct ingest *
ingest_new(uv_loop_t *loop, sqlite3 *db, const struct collector_conf *conf)
{
	struct ingest *in = xcalloc(1, sizeof(*in));

	in->loop = loop;
	in->conf = conf;
	in->w = db_writer_new(db);
	in->batch = xcalloc((size_t)conf->batch_max, sizeof(*in->batch));
	uv_timer_init(loop, &in->retry);
	in->retry.data = in;
	return in;
}

void
ingest_set_server(struct ingest *in, struct server *s)
{
	in->server = s;
}

void
ingest_push(struct ingest *in, struct ingest_item *item)
{
	if (in->q_len == in->q_cap) {
		in->q_cap = in->q_cap ? in->q_cap * 2 : 1024;
		in->queue = xreallocarray(in->queue, in->q_cap,
		    sizeof(*in->queue));
	}
	in->queue[in->q_len++] = item;
	if (!in->paused && in->q_len >= (size_t)in->conf->queue_max) {
		in->paused = true;
		log_warnx("writer: %zu reports waiting; pausing agents until "
			  "the database catches up",
		    in->q_len);
		server_pause(in->server, true);
	}
	start_batch(in);
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

void
ingest_close(struct ingest *in, void (*cb)(void *), void *arg)
{
	in->closing = true;
	in->close_cb = cb;
	in->close_arg = arg;
	maybe_closed(in);
}
