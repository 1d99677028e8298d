/* outbox.c: the loop's side of the outbox: due messages -> notifier -> writer. */
#include <string.h>

#include <jansson.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"

#define OUTBOX_MAX_INFLIGHT 32

/*
 * The writer finds due messages after each commit and hands them here;
 * the notifier makes one attempt each, and the outcome goes back to the
 * writer, which marks the message sent or schedules its retry. A message
 * stays claimed from its dispatch until the writer has committed its
 * outcome: a due list read in between (it still says "unsent") must not
 * send it again.
 */
struct outbox {
	const struct collector_conf *conf;
	struct ingest *in;
	struct notifier *notifier;
	int64_t claimed[OUTBOX_MAX_INFLIGHT];
	size_t n_claimed;
	void (*close_cb)(void *);
	void *close_arg;
};

static bool
claimed(const struct outbox *o, int64_t id)
{
	for (size_t i = 0; i < o->n_claimed; i++)
		if (o->claimed[i] == id)
			return true;
	return false;
}

void
outbox_recorded(struct outbox *o, int64_t id)
{
	for (size_t i = 0; i < o->n_claimed; i++) {
		if (o->claimed[i] == id) {
			o->claimed[i] = o->claimed[--o->n_claimed];
			return;
		}
	}
}

static void
on_result(void *arg, int64_t msg_id, const struct notify_result *res)
{
	struct outbox *o = arg;

	if (res->ok)
		log_info("outbox: message %lld delivered%s", (long long)msg_id,
		    res->http_status ? "" : " (mail)");
	ingest_delivery(o->in, msg_id, res->ok, res->error);
}

static const struct receiver_conf *
receiver_find(const struct collector_conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->n_receivers; i++)
		if (strcmp(conf->receivers[i].name, name) == 0)
			return &conf->receivers[i];
	return NULL;
}

struct outbox *
outbox_new(uv_loop_t *loop, const struct collector_conf *conf,
    struct ingest *in, int utc_offset_min)
{
	struct outbox *o = xcalloc(1, sizeof(*o));

	o->conf = conf;
	o->in = in;
	o->notifier = notifier_new(loop, conf, utc_offset_min, on_result, o);
	return o;
}

void
outbox_dispatch(struct outbox *o, struct outbox_msg *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct outbox_msg *m = &msgs[i];
		const struct receiver_conf *r;
		struct alert_event ev;
		json_t *j;

		if (claimed(o, m->id) || o->n_claimed == OUTBOX_MAX_INFLIGHT)
			continue; /* found again on a later tick */
		o->claimed[o->n_claimed++] = m->id;
		if ((r = receiver_find(o->conf, m->receiver)) == NULL) {
			ingest_delivery(o->in, m->id, false,
			    "receiver no longer in the configuration");
			continue;
		}
		j = json_loads(m->payload, 0, NULL);
		if (j == NULL || alert_event_from_json(j, &ev) != 0) {
			ingest_delivery(o->in, m->id, false,
			    "unreadable message in the outbox");
			json_decref(j);
			continue;
		}
		notifier_send(o->notifier, m->id, r, &ev);
		json_decref(j);
	}
	outbox_msgs_free(msgs, n);
}

static void
on_notifier_closed(void *arg)
{
	struct outbox *o = arg;
	void (*cb)(void *) = o->close_cb;
	void *cb_arg = o->close_arg;

	free(o);
	if (cb)
		cb(cb_arg);
}

void
outbox_set_conf(struct outbox *o, const struct collector_conf *conf)
{
	o->conf = conf;
}

void
outbox_close(struct outbox *o, void (*cb)(void *), void *arg)
{
	o->close_cb = cb;
	o->close_arg = arg;
	/* Attempts cut short stay due: they are retried after a restart. */
	notifier_close(o->notifier, on_notifier_closed, o);
}
