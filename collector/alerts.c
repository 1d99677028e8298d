/* alerts.c: the alert engine: hysteresis, flapping, maintenance, outbox. */
#include <string.h>

#include <jansson.h>

#include "collector.h"
#include "schoolnet/calendar.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

/*
 * Runs on the writer thread, inside the writer's transactions, so an alert
 * and its outbox rows commit together with the report that caused them.
 *
 * Every alert has a key: one cause of one subject ("speed_low port 17",
 * "switch_unreachable switch 3", "agent_offline agent s001"). A key's
 * hysteresis counters live in memory, and only while the key is not
 * healthy; healthy ports cost nothing. After a restart the counters start
 * again from the open alerts in the database.
 */

#define FLAP_HISTORY 32
#define DUE_BATCH 64
/* "latency_high agent NAME LABEL": a cause, two names of WIRE_NAME_MAX. */
#define KEY_MAX 192

struct track {
	char key[KEY_MAX];
	uint32_t bad, good;
	uint64_t first_bad;	/* start of the current bad run */
	int64_t alert_id;	/* open alert, 0 if none */
	int64_t last_alert_id;	/* the latest alert of this key */
	uint64_t changes[FLAP_HISTORY]; /* recent open/clear times, a ring */
	unsigned n_changes, next_change;
	uint64_t quiet_until;	/* flapping: notifications paused until */
	bool flapping;
	struct track *hnext;
};

struct alert_engine {
	sqlite3 *db;
	const struct collector_conf *conf;
	const struct calendar *cal;
	uint64_t started_ms;
	struct track **buckets;
	size_t n_buckets, count;
	sqlite3_stmt *st_ports, *st_school, *st_open, *st_clear, *st_flap,
	    *st_unflap,
	    *st_maint, *st_outbox, *st_due, *st_sent, *st_retry, *st_failed,
	    *st_msg, *st_agents, *st_uplink, *st_gone;
	uint64_t gone_checked;	/* last look for probe alerts without a subject */
};

/* What we know about the subject of an alert, for its row and messages. */
struct subject {
	const char *cause;
	enum port_role role;
	const char *school_code, *school_name, *town, *school_type;
	const char *room, *agent, *switch_name, *port;
	int64_t port_id;
	uint32_t speed_mbps, target_mbps;
	double errors_per_min;
	const char *detail;
};

/* --- the track table ----------------------------------------------- */

static uint64_t
hash_key(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct track *
track_get(struct alert_engine *ae, const char *key, bool create)
{
	size_t i = hash_key(key) & (ae->n_buckets - 1);
	struct track *t;

	for (t = ae->buckets[i]; t; t = t->hnext)
		if (strcmp(t->key, key) == 0)
			return t;
	if (!create)
		return NULL;
	if (ae->count >= ae->n_buckets) {
		size_t n = ae->n_buckets * 2;
		struct track **b = xcalloc(n, sizeof(*b));

		for (size_t j = 0; j < ae->n_buckets; j++) {
			struct track *u, *next;

			for (u = ae->buckets[j]; u; u = next) {
				size_t k = hash_key(u->key) & (n - 1);

				next = u->hnext;
				u->hnext = b[k];
				b[k] = u;
			}
		}
		free(ae->buckets);
		ae->buckets = b;
		ae->n_buckets = n;
		i = hash_key(key) & (n - 1);
	}
	t = xcalloc(1, sizeof(*t));
	snprintf(t->key, sizeof(t->key), "%s", key);
	t->hnext = ae->buckets[i];
	ae->buckets[i] = t;
	ae->count++;
	return t;
}

static void
track_drop(struct alert_engine *ae, struct track *t)
{
	size_t i = hash_key(t->key) & (ae->n_buckets - 1);

	for (struct track **pp = &ae->buckets[i]; *pp; pp = &(*pp)->hnext) {
		if (*pp == t) {
			*pp = t->hnext;
			free(t);
			ae->count--;
			return;
		}
	}
}

static void
tracks_clear(struct alert_engine *ae)
{
	for (size_t i = 0; i < ae->n_buckets; i++) {
		struct track *t, *next;

		for (t = ae->buckets[i]; t; t = next) {
			next = t->hnext;
			free(t);
		}
		ae->buckets[i] = NULL;
	}
	ae->count = 0;
}

/* Nothing to remember: no alert, not flapping, no recent change. */
static bool
track_idle(const struct alert_engine *ae, const struct track *t, uint64_t now)
{
	uint64_t window = (uint64_t)(ae->conf->alerts.flap_window * 1000);
	uint64_t last = t->n_changes
	    ? t->changes[(t->next_change + FLAP_HISTORY - 1) % FLAP_HISTORY]
	    : 0;

	return t->alert_id == 0 && !t->flapping && t->bad == 0 &&
	    (t->n_changes == 0 || now - last > window);
}

/* Open alerts become tracks that are already "bad enough". */
static int
tracks_load(struct alert_engine *ae)
{
	sqlite3_stmt *st;
	int rc;

	tracks_clear(ae);
	if (sqlite3_prepare_v2(ae->db,
		"SELECT key, id, since, flapping FROM alerts"
		" WHERE cleared_at IS NULL",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct track *t = track_get(ae,
		    (const char *)sqlite3_column_text(st, 0), true);

		t->alert_id = t->last_alert_id = sqlite3_column_int64(st, 1);
		t->first_bad = (uint64_t)sqlite3_column_int64(st, 2);
		t->bad = (uint32_t)ae->conf->alerts.raise_after;
		/* A flapping alert stays quiet for a window after a restart. */
		if (sqlite3_column_int(st, 3)) {
			t->flapping = true;
			t->quiet_until = time_now_ms() +
			    (uint64_t)(ae->conf->alerts.flap_window * 1000);
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* --- statements ---------------------------------------------------- */

static const char sql_ports[] =
    "SELECT m.port_id, m.role, m.room, m.port, sc.name, sc.town, sc.type,"
    " p.admin, p.oper, p.speed_mbps, p.duplex, p.in_errors, p.out_errors"
    " FROM port_map m JOIN ports p ON p.id = m.port_id"
    " JOIN schools sc ON sc.code = m.school_code"
    " WHERE m.switch_id = ? AND p.last_seen = ?";

static void
prepare(struct alert_engine *ae, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(ae->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
		NULL) != SQLITE_OK)
		fatalx("database: preparing alert statement: %s (%s)",
		    sqlite3_errmsg(ae->db), sql);
}

struct alert_engine *
alerts_new(sqlite3 *db, const struct collector_conf *conf,
    const struct calendar *cal, uint64_t started_ms)
{
	struct alert_engine *ae = xcalloc(1, sizeof(*ae));

	ae->db = db;
	ae->conf = conf;
	ae->cal = cal;
	ae->started_ms = started_ms;
	ae->n_buckets = 256;
	ae->buckets = xcalloc(ae->n_buckets, sizeof(*ae->buckets));
	prepare(ae, &ae->st_ports, sql_ports);
	prepare(ae, &ae->st_school,
	    "SELECT name, town, type FROM schools WHERE code = ?");
	prepare(ae, &ae->st_open,
	    "INSERT INTO alerts(key, cause, role, school_code, room, agent,"
	    " switch, port, port_id, since, opened_at, speed_mbps,"
	    " target_mbps, errors_per_min, detail, suppressed)"
	    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
	prepare(ae, &ae->st_clear,
	    "UPDATE alerts SET cleared_at = ? WHERE id = ?");
	prepare(ae, &ae->st_flap,
	    "UPDATE alerts SET flapping = 1 WHERE id = ?");
	prepare(ae, &ae->st_unflap,
	    "UPDATE alerts SET flapping = 0 WHERE id = ?");
	prepare(ae, &ae->st_maint,
	    "SELECT 1 FROM maintenance WHERE school_code = ?"
	    " AND (switch = '' OR switch = ?) AND starts_at <= ?"
	    " AND ends_at > ? LIMIT 1");
	prepare(ae, &ae->st_outbox,
	    "INSERT INTO outbox(alert_id, receiver, event, payload,"
	    " created_at, next_try) VALUES(?,?,?,?,?,?)");
	prepare(ae, &ae->st_due,
	    "SELECT id, receiver, payload FROM outbox WHERE sent_at IS NULL"
	    " AND failed_at IS NULL AND next_try <= ? ORDER BY id LIMIT ?");
	prepare(ae, &ae->st_sent,
	    "UPDATE outbox SET sent_at = ?, attempts = attempts + 1,"
	    " last_error = NULL WHERE id = ?");
	prepare(ae, &ae->st_retry,
	    "UPDATE outbox SET next_try = ?, attempts = attempts + 1,"
	    " last_error = ? WHERE id = ?");
	prepare(ae, &ae->st_failed,
	    "UPDATE outbox SET failed_at = ?, attempts = attempts + 1,"
	    " last_error = ? WHERE id = ?");
	prepare(ae, &ae->st_msg,
	    "SELECT receiver, attempts, created_at FROM outbox WHERE id = ?");
	prepare(ae, &ae->st_agents,
	    "SELECT a.name, a.school, a.last_heard,"
	    " (SELECT max(poll_interval) FROM switches s"
	    "  WHERE s.agent_id = a.id)"
	    " FROM agents a WHERE a.last_heard IS NOT NULL");
	/* A school's uplink, the subject of its throughput alerts. */
	prepare(ae, &ae->st_uplink,
	    "SELECT i.room, i.switch, i.port, (SELECT m.port_id FROM port_map m"
	    " WHERE m.inventory_id = i.id LIMIT 1) FROM inventory i"
	    " WHERE i.school_code = ? AND i.role = 'uplink'"
	    " AND i.valid_to IS NULL ORDER BY i.id LIMIT 1");
	/* Open probe alerts whose subject is gone: a recording room no longer
	 * in the inventory (or no longer checked), a latency target with no
	 * round for 3 of its intervals while its agent goes on reporting
	 * (removed from the agent's config). */
	prepare(ae, &ae->st_gone,
	    "SELECT a.key, a.cause, a.role, a.school_code, a.room, a.agent,"
	    " a.switch, a.port FROM alerts a WHERE a.cleared_at IS NULL AND ("
	    " (a.cause = 'recording_unavailable' AND NOT EXISTS (SELECT 1"
	    "  FROM inventory i WHERE i.school_code = a.school_code"
	    "  AND a.key = 'recording_unavailable inventory ' || i.id"
	    "  AND i.valid_to IS NULL AND i.probe <> ''))"
	    " OR (a.cause IN ('latency_high', 'loss_high') AND NOT EXISTS"
	    "  (SELECT 1 FROM agents g JOIN probe_last l ON l.agent_id = g.id"
	    "  JOIN probe_latency p ON p.agent_id = l.agent_id"
	    "  AND p.label = l.label AND p.t_ms = l.t_ms"
	    "  WHERE g.name = a.agent"
	    "  AND a.key = a.cause || ' agent ' || g.name || ' ' || l.label"
	    /* the agent's clock on both sides: its newest stored item */
	    "  AND l.t_ms + 3 * p.interval_ms >= g.last_seen)))");
	if (tracks_load(ae) != 0)
		fatalx("database: loading open alerts: %s", sqlite3_errmsg(db));
	return ae;
}

void
alerts_set_conf(struct alert_engine *ae, const struct collector_conf *conf,
    const struct calendar *cal)
{
	ae->conf = conf;
	ae->cal = cal;
}

void
alerts_free(struct alert_engine *ae)
{
	sqlite3_stmt *all[] = {ae->st_ports, ae->st_school, ae->st_open,
	    ae->st_clear, ae->st_flap, ae->st_unflap, ae->st_maint, ae->st_outbox,
	    ae->st_due, ae->st_sent, ae->st_retry, ae->st_failed, ae->st_msg,
	    ae->st_agents, ae->st_uplink, ae->st_gone};

	for (size_t i = 0; i < nitems(all); i++)
		sqlite3_finalize(all[i]);
	tracks_clear(ae);
	free(ae->buckets);
	free(ae);
}

void
alerts_rollback(struct alert_engine *ae)
{
	/* The transaction that moved the counters is gone: start again
	 * from what the database holds. */
	if (tracks_load(ae) != 0)
		log_warnx("alerts: cannot reload open alerts: %s",
		    sqlite3_errmsg(ae->db));
}

static int
step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_TRANSIENT);
}

/* --- events and the outbox ------------------------------------------ */

json_t *
alert_event_to_json(const struct alert_event *ev)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
			 " s:s, s:I, s:I, s:f, s:I, s:I, s:s}",
	    "alert_id", (json_int_t)ev->alert_id, "event", ev->event, "cause",
	    ev->cause, "role", ev->role, "school_code", ev->school_code,
	    "school_name", ev->school_name, "town", ev->town, "room", ev->room,
	    "switch", ev->switch_name, "port", ev->port, "agent", ev->agent,
	    "speed_mbps", (json_int_t)ev->speed_mbps, "target_mbps",
	    (json_int_t)ev->target_mbps, "errors_per_min", ev->errors_per_min,
	    "since_ms", (json_int_t)ev->since_ms, "at_ms",
	    (json_int_t)ev->at_ms, "detail", ev->detail);
}

static const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

int
alert_event_from_json(json_t *o, struct alert_event *ev)
{
	if (!json_is_object(o))
		return -1;
	memset(ev, 0, sizeof(*ev));
	ev->alert_id = json_integer_value(json_object_get(o, "alert_id"));
	ev->event = jstr(o, "event");
	ev->cause = jstr(o, "cause");
	ev->role = jstr(o, "role");
	ev->school_code = jstr(o, "school_code");
	ev->school_name = jstr(o, "school_name");
	ev->town = jstr(o, "town");
	ev->room = jstr(o, "room");
	ev->switch_name = jstr(o, "switch");
	ev->port = jstr(o, "port");
	ev->agent = jstr(o, "agent");
	ev->speed_mbps =
	    (uint32_t)json_integer_value(json_object_get(o, "speed_mbps"));
	ev->target_mbps =
	    (uint32_t)json_integer_value(json_object_get(o, "target_mbps"));
	ev->errors_per_min =
	    json_number_value(json_object_get(o, "errors_per_min"));
	ev->since_ms =
	    (uint64_t)json_integer_value(json_object_get(o, "since_ms"));
	ev->at_ms = (uint64_t)json_integer_value(json_object_get(o, "at_ms"));
	ev->detail = jstr(o, "detail");
	return ev->event[0] && ev->cause[0] ? 0 : -1;
}

static bool
in_maintenance(struct alert_engine *ae, const struct subject *s, uint64_t t)
{
	sqlite3_stmt *st = ae->st_maint;
	bool yes;

	if (s->school_code == NULL || *s->school_code == '\0')
		return false;
	bind_text(st, 1, s->school_code);
	bind_text(st, 2, s->switch_name);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)t);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)t);
	yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return yes;
}

/* Queue ev for every receiver that wants this school. */
static int
notify(struct alert_engine *ae, const struct subject *s, const char *event,
    int64_t alert_id, uint64_t since, uint64_t t)
{
	struct alert_event ev = {
	    .alert_id = alert_id,
	    .event = event,
	    .cause = s->cause,
	    .role = policy_role_name(s->role),
	    .school_code = s->school_code ? s->school_code : "",
	    .school_name = s->school_name ? s->school_name : "",
	    .town = s->town ? s->town : "",
	    .room = s->room ? s->room : "",
	    .switch_name = s->switch_name ? s->switch_name : "",
	    .port = s->port ? s->port : "",
	    .agent = s->agent ? s->agent : "",
	    .speed_mbps = s->speed_mbps,
	    .target_mbps = s->target_mbps,
	    .errors_per_min = s->errors_per_min,
	    .since_ms = since,
	    .at_ms = t,
	    .detail = s->detail ? s->detail : "",
	};
	uint64_t queued = time_now_ms();
	char *payload;
	json_t *j;
	int rc = 0;

	j = alert_event_to_json(&ev);
	payload = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	for (size_t i = 0; i < ae->conf->n_receivers && rc == 0; i++) {
		const struct receiver_conf *r = &ae->conf->receivers[i];
		sqlite3_stmt *st = ae->st_outbox;

		if (!receiver_wants(r, ev.town, ev.school_code))
			continue;
		sqlite3_bind_int64(st, 1, alert_id);
		bind_text(st, 2, r->name);
		bind_text(st, 3, event);
		bind_text(st, 4, payload);
		/* Queued now by our clock: the agent's may be off. */
		sqlite3_bind_int64(st, 5, (sqlite3_int64)queued);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)queued);
		rc = step_done(st);
	}
	free(payload);
	return rc;
}

/* Count a change and say whether the key has started flapping. */
static bool
note_change(struct alert_engine *ae, struct track *t, uint64_t now)
{
	uint64_t window = (uint64_t)(ae->conf->alerts.flap_window * 1000);
	unsigned recent = 0;

	t->changes[t->next_change] = now;
	t->next_change = (t->next_change + 1) % FLAP_HISTORY;
	if (t->n_changes < FLAP_HISTORY)
		t->n_changes++;
	for (unsigned i = 0; i < t->n_changes; i++)
		if (now - t->changes[i] <= window)
			recent++;
	/* Changes are counted on report time; the quiet period runs on our
	 * clock, which the tick compares it with. */
	if (t->flapping) {
		t->quiet_until = time_now_ms() + window; /* still unsettled */
		return false;
	}
	if (recent >= (unsigned)ae->conf->alerts.flap_changes) {
		t->flapping = true;
		t->quiet_until = time_now_ms() + window;
		return true;
	}
	return false;
}

/*
 * An alert of t opened or cleared: count the change for flap detection,
 * then tell the receivers, unless a maintenance window or a flapping
 * pause keeps them quiet. The change that starts flapping sends one
 * "flapping" notice instead.
 */
static int
announce(struct alert_engine *ae, struct track *t, const struct subject *s,
    int64_t id, const char *event, uint64_t since, uint64_t now)
{
	bool flap = note_change(ae, t, now);

	if (flap) {
		sqlite3_stmt *st = ae->st_flap;

		sqlite3_bind_int64(st, 1, id);
		if (step_done(st) != 0)
			return -1;
		log_info("alert %lld: %s is flapping; notifications paused",
		    (long long)id, t->key);
	}
	if (in_maintenance(ae, s, now))
		return 0;
	if (flap)
		return notify(ae, s, "flapping", id, since, now);
	if (t->flapping)
		return 0;
	return notify(ae, s, event, id, since, now);
}

static int
open_alert(struct alert_engine *ae, struct track *t, const struct subject *s,
    uint64_t now)
{
	sqlite3_stmt *st = ae->st_open;
	bool quiet = in_maintenance(ae, s, now);

	bind_text(st, 1, t->key);
	bind_text(st, 2, s->cause);
	bind_text(st, 3, policy_role_name(s->role));
	bind_text(st, 4, s->school_code);
	bind_text(st, 5, s->room);
	bind_text(st, 6, s->agent);
	bind_text(st, 7, s->switch_name);
	bind_text(st, 8, s->port);
	if (s->port_id)
		sqlite3_bind_int64(st, 9, s->port_id);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)t->first_bad);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)now);
	if (s->target_mbps) {
		sqlite3_bind_int64(st, 12, s->speed_mbps);
		sqlite3_bind_int64(st, 13, s->target_mbps);
	}
	sqlite3_bind_double(st, 14, s->errors_per_min);
	bind_text(st, 15, s->detail);
	sqlite3_bind_int(st, 16, quiet);
	if (step_done(st) != 0)
		return -1;
	t->alert_id = t->last_alert_id = sqlite3_last_insert_rowid(ae->db);
	log_info("alert %lld opened: %s %s%s%s%s%s", (long long)t->alert_id,
	    s->cause, s->school_code ? s->school_code : "",
	    s->room && *s->room ? " " : "", s->room ? s->room : "",
	    s->detail && *s->detail ? ": " : "", s->detail ? s->detail : "");
	return announce(ae, t, s, t->alert_id, "raise", t->first_bad, now);
}

static int
clear_alert(struct alert_engine *ae, struct track *t, const struct subject *s,
    uint64_t now)
{
	sqlite3_stmt *st = ae->st_clear;
	int64_t id = t->alert_id;
	uint64_t since = t->first_bad;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 2, id);
	if (step_done(st) != 0)
		return -1;
	t->alert_id = 0;
	log_info("alert %lld cleared: %s", (long long)id, t->key);
	return announce(ae, t, s, id, "clear", since, now);
}

/*
 * One observation of a key: bad or good. in_scope false means bad
 * observations do not count now (a classroom outside school hours): they
 * neither raise nor reset, while good ones may still clear. An alert opens
 * after raise_after bad observations in a row, clears after clear_after
 * good ones.
 */
static int
observe_n(struct alert_engine *ae, const char *key, bool bad, bool in_scope,
    const struct subject *s, uint64_t t, uint32_t raise_after,
    uint32_t clear_after)
{
	struct track *tr = track_get(ae, key, bad);

	if (tr == NULL)
		return 0; /* healthy and nothing tracked */
	if (bad) {
		if (!in_scope)
			return 0;
		tr->good = 0;
		/* An open alert keeps the start of its problem. */
		if (tr->bad++ == 0 && tr->alert_id == 0)
			tr->first_bad = t;
		if (tr->alert_id == 0 && tr->bad >= raise_after)
			return open_alert(ae, tr, s, t);
		return 0;
	}
	tr->bad = 0;
	tr->good++;
	if (tr->alert_id && tr->good >= clear_after)
		return clear_alert(ae, tr, s, t);
	if (track_idle(ae, tr, t))
		track_drop(ae, tr);
	return 0;
}

/* The same with [alerts] raise_after and clear_after. */
static int
observe(struct alert_engine *ae, const char *key, bool bad, bool in_scope,
    const struct subject *s, uint64_t t)
{
	const struct alerts_conf *c = &ae->conf->alerts;

	return observe_n(ae, key, bad, in_scope, s, t,
	    (uint32_t)c->raise_after, (uint32_t)c->clear_after);
}

/* --- evaluations ----------------------------------------------------- */

static int
school_info(struct alert_engine *ae, struct subject *s, char *name,
    size_t nsize, char *town, size_t tsize, char *type, size_t ysize)
{
	sqlite3_stmt *st = ae->st_school;

	name[0] = town[0] = type[0] = '\0';
	bind_text(st, 1, s->school_code);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(name, nsize, "%s", sqlite3_column_text(st, 0));
		snprintf(town, tsize, "%s", sqlite3_column_text(st, 1));
		snprintf(type, ysize, "%s", sqlite3_column_text(st, 2));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	s->school_name = name;
	s->town = town;
	s->school_type = type;
	return 0;
}

int
alerts_on_report(struct alert_engine *ae, const struct agent_state *ag,
    const char *school, const struct wire_report *rep, int64_t switch_id)
{
	const struct policy_conf *pc = &ae->conf->policy;
	char key[KEY_MAX], name[256], town[256], type[64];
	sqlite3_stmt *st = ae->st_ports;
	struct subject sw = {0};
	int rc;

	/* The switch itself: does it answer? */
	sw.cause = "switch_unreachable";
	sw.school_code = school;
	sw.agent = ag->name;
	sw.switch_name = rep->switch_name;
	sw.detail = rep->error;
	school_info(ae, &sw, name, sizeof(name), town, sizeof(town), type,
	    sizeof(type));
	snprintf(key, sizeof(key), "switch_unreachable switch %lld",
	    (long long)switch_id);
	if (observe(ae, key, rep->status != WIRE_POLL_OK, true, &sw,
		rep->t_ms) != 0)
		return -1;
	if (rep->status != WIRE_POLL_OK)
		return 0;

	/* Every port of this switch the inventory names, as just stored. */
	sqlite3_bind_int64(st, 1, switch_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)rep->t_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum port_role role =
		    policy_role((const char *)sqlite3_column_text(st, 1));
		struct port_obs o = {0};
		struct port_verdict v;
		struct subject s = sw;
		bool in_hours;

		s.detail = "";
		s.port_id = sqlite3_column_int64(st, 0);
		s.role = role;
		s.room = (const char *)sqlite3_column_text(st, 2);
		s.port = (const char *)sqlite3_column_text(st, 3);
		s.school_name = (const char *)sqlite3_column_text(st, 4);
		s.town = (const char *)sqlite3_column_text(st, 5);
		s.school_type = (const char *)sqlite3_column_text(st, 6);
		o.fresh = true;
		o.admin = sqlite3_column_int(st, 7);
		o.oper = sqlite3_column_int(st, 8);
		o.speed_mbps = (uint32_t)sqlite3_column_int64(st, 9);
		o.duplex = sqlite3_column_int(st, 10);
		if (sqlite3_column_type(st, 11) != SQLITE_NULL &&
		    rep->interval_ms > 0) {
			o.have_errors = true;
			o.errors_per_min = (double)(sqlite3_column_int64(st, 11) +
						       sqlite3_column_int64(st, 12)) *
			    60000.0 / rep->interval_ms;
		}
		policy_eval_port(pc, role, &o, &v);
		s.speed_mbps = o.speed_mbps;
		s.target_mbps = v.target_mbps;
		s.errors_per_min = o.errors_per_min;
		/* Uplinks matter around the clock; rooms in school hours. */
		in_hours = role == ROLE_UPLINK ||
		    calendar_in_hours(ae->cal, s.school_type, rep->t_ms);
		for (unsigned r = REASON_DOWN; r <= REASON_ERRORS; r <<= 1) {
			/* A port that is down is only down. */
			bool bad = (v.reasons & r) != 0;

			s.cause = policy_cause(role, r);
			snprintf(key, sizeof(key), "%s port %lld", s.cause,
			    (long long)s.port_id);
			if (observe(ae, key, bad, in_hours, &s, rep->t_ms) != 0) {
				sqlite3_reset(st);
				return -1;
			}
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* --- link probes (issue 4) ------------------------------------------ */

int
alerts_on_latency(struct alert_engine *ae, const struct agent_state *ag,
    const char *school, const struct wire_probe *p)
{
	const struct collector_probe_conf *pc = &ae->conf->probe;
	char key[KEY_MAX], name[256], town[256], type[64], detail[400];
	struct subject s = {0};
	double loss, avg_ms;
	bool in_hours;

	s.school_code = school;
	s.agent = ag->name;
	s.detail = detail;
	school_info(ae, &s, name, sizeof(name), town, sizeof(town), type,
	    sizeof(type));
	in_hours = calendar_in_hours(ae->cal, s.school_type, p->t_ms);

	/* A round that could not run lost everything it meant to send. */
	loss = p->error[0] || p->sent == 0
	    ? 100.0
	    : 100.0 * (p->sent - p->answered) / p->sent;
	if (pc->loss_max_percent > 0) {
		s.cause = "loss_high";
		snprintf(detail, sizeof(detail),
		    "lost %.0f %% to %s (limit %g %%)%s%s", loss, p->label,
		    pc->loss_max_percent, p->error[0] ? ": " : "", p->error);
		snprintf(key, sizeof(key), "loss_high agent %s %s", ag->name,
		    p->label);
		if (observe(ae, key, loss > pc->loss_max_percent, in_hours, &s,
			p->t_ms) != 0)
			return -1;
	}
	/* Nothing answered: no RTT, so no verdict either way. */
	if (pc->latency_max_ms > 0 && p->answered > 0 && p->error[0] == '\0') {
		avg_ms = p->rtt_avg_us / 1000.0;
		s.cause = "latency_high";
		snprintf(detail, sizeof(detail),
		    "avg %.0f ms to %s (limit %g ms)", avg_ms, p->label,
		    pc->latency_max_ms);
		snprintf(key, sizeof(key), "latency_high agent %s %s", ag->name,
		    p->label);
		if (observe(ae, key, avg_ms > pc->latency_max_ms, in_hours, &s,
			p->t_ms) != 0)
			return -1;
	}
	return 0;
}

/* Why a room is unavailable: "host: connection refused", "port below
 * target: port down", or both. */
static void
recording_why(const struct wire_probe *p, const struct recording_obs *r,
    char *buf, size_t size)
{
	char port[128];
	size_t n = 0;

	buf[0] = '\0';
	if (!r->host_ok) {
		if (p->error[0])
			n = (size_t)snprintf(buf, size, "host: %s", p->error);
		else if (p->host.status)
			n = (size_t)snprintf(buf, size, "host: status %u",
			    (unsigned)p->host.status);
		else
			n = (size_t)snprintf(buf, size, "host: no answer");
	}
	if (r->verdict.verdict == VERDICT_BELOW && n < size) {
		policy_reasons_text(&r->verdict, &r->obs, port, sizeof(port));
		snprintf(buf + n, size - n, "%sport below target: %s",
		    n ? "; " : "", port);
	}
}

int
alerts_on_recording(struct alert_engine *ae, const struct agent_state *ag,
    const char *school, const struct wire_probe *p,
    const struct recording_obs *r)
{
	char key[KEY_MAX], name[256], town[256], type[64], detail[400];
	struct subject s = {0};

	s.cause = "recording_unavailable";
	s.role = ROLE_RECORDING;
	s.school_code = school;
	s.agent = ag->name;
	s.room = r->room;
	s.switch_name = r->switch_name;
	s.port = r->port;
	s.port_id = r->port_id;
	if (r->verdict.verdict != VERDICT_UNKNOWN) {
		s.speed_mbps = r->obs.speed_mbps;
		s.target_mbps = r->verdict.target_mbps;
	}
	recording_why(p, r, detail, sizeof(detail));
	s.detail = detail;
	school_info(ae, &s, name, sizeof(name), town, sizeof(town), type,
	    sizeof(type));
	snprintf(key, sizeof(key), "recording_unavailable inventory %lld",
	    (long long)r->inventory_id);
	return observe(ae, key, !r->available,
	    calendar_in_hours(ae->cal, s.school_type, p->t_ms), &s, p->t_ms);
}

int
alerts_on_throughput(struct alert_engine *ae, const struct agent_state *ag,
    const char *school, const struct wire_probe *p, uint32_t uplink_mbps)
{
	const struct wire_throughput *tp = &p->tp;
	char key[KEY_MAX], name[256], town[256], type[64], detail[400];
	char room[256] = "", sw[256] = "", port[256] = "", speed[48];
	sqlite3_stmt *st = ae->st_uplink;
	struct subject s = {0};
	double down = tp->down_kbps / 1000.0, floor_mbps;
	enum verdict v;
	int rc;

	if (!(tp->measured & WIRE_TP_DOWN))
		return 0; /* nothing measured to judge: no change */
	v = policy_throughput(down, uplink_mbps,
	    policy_target(&ae->conf->policy, ROLE_UPLINK),
	    ae->conf->probe.throughput_min_percent, &floor_mbps);
	if (v == VERDICT_UNKNOWN)
		return 0;

	/* The school's uplink port, so the alert reads like its others. */
	bind_text(st, 1, school);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(room, sizeof(room), "%s", sqlite3_column_text(st, 0));
		snprintf(sw, sizeof(sw), "%s", sqlite3_column_text(st, 1));
		snprintf(port, sizeof(port), "%s", sqlite3_column_text(st, 2));
		s.port_id = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;

	s.cause = "throughput_low";
	s.role = ROLE_UPLINK;
	s.school_code = school;
	s.agent = ag->name;
	s.room = room;
	s.switch_name = sw;
	s.port = port;
	s.speed_mbps = uplink_mbps;
	s.target_mbps = policy_target(&ae->conf->policy, ROLE_UPLINK);
	if (uplink_mbps)
		snprintf(speed, sizeof(speed), "negotiates %u Mbps",
		    (unsigned)uplink_mbps);
	else
		snprintf(speed, sizeof(speed), "negotiated speed unknown");
	if (tp->measured & WIRE_TP_UP)
		snprintf(detail, sizeof(detail),
		    "%s, measures %.0f Mbps down, %.0f Mbps up", speed, down,
		    tp->up_kbps / 1000.0);
	else
		snprintf(detail, sizeof(detail), "%s, measures %.0f Mbps down",
		    speed, down);
	s.detail = detail;
	school_info(ae, &s, name, sizeof(name), town, sizeof(town), type,
	    sizeof(type));
	snprintf(key, sizeof(key), "throughput_low school %s", school);
	/* Tests are hours apart: one result is the verdict, both ways. */
	return observe_n(ae, key, v == VERDICT_BELOW, true, &s, p->t_ms, 1, 1);
}

/* Tell receivers the state a flapping key settled in, from its alert row. */
static int
notify_settled(struct alert_engine *ae, const struct track *t, uint64_t now)
{
	char name[256], town[256], type[64];
	struct subject s = {0};
	sqlite3_stmt *st;
	uint64_t since;
	int rc = 0;

	if (t->last_alert_id == 0)
		return 0;
	if (sqlite3_prepare_v2(ae->db,
		"SELECT cause, role, school_code, room, agent, switch, port,"
		" port_id, since, speed_mbps, target_mbps, errors_per_min, detail"
		" FROM alerts WHERE id = ?",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, t->last_alert_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		s.cause = (const char *)sqlite3_column_text(st, 0);
		s.role = policy_role((const char *)sqlite3_column_text(st, 1));
		s.school_code = (const char *)sqlite3_column_text(st, 2);
		s.room = (const char *)sqlite3_column_text(st, 3);
		s.agent = (const char *)sqlite3_column_text(st, 4);
		s.switch_name = (const char *)sqlite3_column_text(st, 5);
		s.port = (const char *)sqlite3_column_text(st, 6);
		s.port_id = sqlite3_column_int64(st, 7);
		since = (uint64_t)sqlite3_column_int64(st, 8);
		s.speed_mbps = (uint32_t)sqlite3_column_int64(st, 9);
		s.target_mbps = (uint32_t)sqlite3_column_int64(st, 10);
		s.errors_per_min = sqlite3_column_double(st, 11);
		s.detail = (const char *)sqlite3_column_text(st, 12);
		school_info(ae, &s, name, sizeof(name), town, sizeof(town),
		    type, sizeof(type));
		/* A clear shows speed_mbps as the current value, which this
		 * row does not hold. */
		if (t->alert_id == 0)
			s.speed_mbps = 0;
		if (!in_maintenance(ae, &s, now))
			rc = notify(ae, &s, t->alert_id ? "raise" : "clear",
			    t->last_alert_id, since, now);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Clear (once a minute) the probe alerts whose subject is gone: nothing
 * will ever say they are good again. */
static int
clear_gone(struct alert_engine *ae, uint64_t now)
{
	sqlite3_stmt *st = ae->st_gone;
	int rc;

	if (now - ae->gone_checked < 60000)
		return 0;
	ae->gone_checked = now;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct track *t = track_get(ae,
		    (const char *)sqlite3_column_text(st, 0), false);
		struct subject s = {0};
		char name[256], town[256], type[64];

		if (t == NULL || t->alert_id == 0)
			continue;
		s.cause = (const char *)sqlite3_column_text(st, 1);
		s.role = policy_role((const char *)sqlite3_column_text(st, 2));
		s.school_code = (const char *)sqlite3_column_text(st, 3);
		s.room = (const char *)sqlite3_column_text(st, 4);
		s.agent = (const char *)sqlite3_column_text(st, 5);
		s.switch_name = (const char *)sqlite3_column_text(st, 6);
		s.port = (const char *)sqlite3_column_text(st, 7);
		s.detail = strcmp(s.cause, "recording_unavailable") == 0
		    ? "no longer checked (removed from the inventory)"
		    : "no longer measured (target removed)";
		school_info(ae, &s, name, sizeof(name), town, sizeof(town),
		    type, sizeof(type));
		if (clear_alert(ae, t, &s, now) != 0) {
			sqlite3_reset(st);
			return -1;
		}
		if (track_idle(ae, t, now))
			track_drop(ae, t);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
alerts_tick(struct alert_engine *ae, uint64_t now)
{
	sqlite3_stmt *st = ae->st_agents;
	char key[KEY_MAX], name[256], town[256], type[64];
	int rc;

	/* Agents that have gone quiet. Right after a start nobody has had a
	 * chance to report yet: count from the start then. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t heard = (uint64_t)sqlite3_column_int64(st, 2);
		double interval = sqlite3_column_double(st, 3);
		uint64_t limit = (uint64_t)((interval > 0 ? interval : 60) *
		    1000 * (double)ae->conf->alerts.offline_after);
		struct subject s = {0};
		char detail[128];
		bool bad;

		if (heard < ae->started_ms)
			heard = ae->started_ms;
		bad = now > heard && now - heard > limit;
		s.cause = "agent_offline";
		s.agent = (const char *)sqlite3_column_text(st, 0);
		s.school_code = (const char *)sqlite3_column_text(st, 1);
		school_info(ae, &s, name, sizeof(name), town, sizeof(town),
		    type, sizeof(type));
		snprintf(detail, sizeof(detail),
		    "no report for %.0f s (expected every %.0f s)",
		    (double)(now - heard) / 1000, interval);
		s.detail = detail;
		snprintf(key, sizeof(key), "agent_offline agent %s", s.agent);
		/* One observation is enough: the limit is the hysteresis. */
		if (bad) {
			struct track *t = track_get(ae, key, true);

			if (t->alert_id == 0) {
				t->first_bad = heard;
				if (open_alert(ae, t, &s, now) != 0)
					break;
			}
		} else {
			struct track *t = track_get(ae, key, false);

			if (t && t->alert_id && clear_alert(ae, t, &s, now) != 0)
				break;
			if (t && track_idle(ae, t, now))
				track_drop(ae, t);
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || clear_gone(ae, now) != 0)
		return -1;

	/* Flapping keys that have been quiet long enough: say where they
	 * ended up, once. */
	for (size_t i = 0; i < ae->n_buckets; i++) {
		struct track *t, *next;

		for (t = ae->buckets[i]; t; t = next) {
			next = t->hnext;
			if (!t->flapping || now < t->quiet_until)
				continue;
			t->flapping = false;
			log_info("%s settled (%s)", t->key,
			    t->alert_id ? "still bad" : "recovered");
			if (t->last_alert_id) {
				sqlite3_bind_int64(ae->st_unflap, 1,
				    t->last_alert_id);
				if (step_done(ae->st_unflap) != 0)
					return -1;
			}
			if (notify_settled(ae, t, now) != 0)
				return -1;
			if (track_idle(ae, t, now))
				track_drop(ae, t);
		}
	}
	return 0;
}

static uint64_t
retry_delay_ms(const struct alerts_conf *c, long attempts)
{
	double d = c->retry_min;

	for (long i = 1; i < attempts && d < c->retry_max; i++)
		d *= 2;
	if (d > c->retry_max)
		d = c->retry_max;
	return (uint64_t)(d * 1000);
}

int
alerts_delivery_result(struct alert_engine *ae, int64_t msg_id, bool ok,
    const char *error, uint64_t now)
{
	sqlite3_stmt *st = ae->st_msg;
	char receiver[64] = "";
	long attempts = 0;
	uint64_t created = now;

	sqlite3_bind_int64(st, 1, msg_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(receiver, sizeof(receiver), "%s",
		    sqlite3_column_text(st, 0));
		attempts = sqlite3_column_int(st, 1) + 1;
		created = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (ok) {
		st = ae->st_sent;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
		sqlite3_bind_int64(st, 2, msg_id);
		return step_done(st);
	}
	if (now - created >= (uint64_t)(ae->conf->alerts.give_up_after * 1000)) {
		log_warnx("outbox: message %lld to %s failed for good after %ld "
			  "attempts: %s",
		    (long long)msg_id, receiver, attempts, error);
		st = ae->st_failed;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	} else {
		uint64_t delay = retry_delay_ms(&ae->conf->alerts, attempts);

		log_warnx("outbox: message %lld to %s not delivered (attempt "
			  "%ld, next in %.0f s): %s",
		    (long long)msg_id, receiver, attempts, delay / 1000.0, error);
		st = ae->st_retry;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)(now + delay));
	}
	bind_text(st, 2, error);
	sqlite3_bind_int64(st, 3, msg_id);
	return step_done(st);
}

int
alerts_due(struct alert_engine *ae, uint64_t now, struct outbox_msg **out,
    size_t *n)
{
	sqlite3_stmt *st = ae->st_due;
	struct outbox_msg *msgs = NULL;
	size_t count = 0;
	int rc;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	sqlite3_bind_int(st, 2, DUE_BATCH);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct outbox_msg *m;

		msgs = xreallocarray(msgs, count + 1, sizeof(*msgs));
		m = &msgs[count++];
		m->id = sqlite3_column_int64(st, 0);
		snprintf(m->receiver, sizeof(m->receiver), "%s",
		    sqlite3_column_text(st, 1));
		m->payload = xstrdup((const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_reset(st);
	*out = msgs;
	*n = count;
	return rc == SQLITE_DONE ? 0 : -1;
}

void
outbox_msgs_free(struct outbox_msg *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(msgs[i].payload);
	free(msgs);
}
