/* probe_sched.c: throughput tests from request to result, and CHECKS. */
#include <inttypes.h>
#include <string.h>

#include <openssl/rand.h>

#include "collector.h"
#include "schoolnet/calendar.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

#define SCHED_MS 1000		/* how often the writer looks */
#define SCHED_PLAN_MS 2000	/* expire, schedule and start at most this often */
#define CHECKS_MS 60000		/* compare every agent's CHECKS this often */
#define DEMAND_WAIT_MS (10 * 60 * 1000) /* a demand waits this for its agent */
#define ANSWER_GRACE_MS 60000	/* beyond 2 x max_ms, then "no answer" */
#define TOKEN_GRACE_MS 30000	/* the token outlives 2 x max_ms this long */
#define SLACK_BYTES (4 * 1024 * 1024) /* headers, retries, rounding */

/*
 * Who does what. The loop thread takes a snapshot of the agents that speak
 * protocol 2 and queues an ITEM_SCHED; the writer thread, inside its
 * transaction, expires, schedules and starts tests, stores results and
 * works out which agents need which frames; after the COMMIT the loop
 * sends those frames (a connection gone meanwhile is skipped: its test
 * times out). Nothing the writer decides is sent unless it committed.
 */
enum sched_st {
	SS_RUNNING_COUNT, SS_OPEN_OF_SCHOOL, SS_REQUESTED, SS_FAIL, SS_START,
	SS_EXPIRED, SS_STALE_DEMANDS, SS_LAST_TEST, SS_SCHOOL_TYPE, SS_INSERT,
	SS_MONTH_USED, SS_CHECKS, SS_ROW, SS_UPLINK, SS_RESULT, SS_BUSY,
	SS_COUNT
};

static const char *const sched_sql[SS_COUNT] = {
    [SS_RUNNING_COUNT] = "SELECT count(*) FROM probe_throughput"
			 " WHERE state = 'running'",
    [SS_OPEN_OF_SCHOOL] = "SELECT count(*) FROM probe_throughput"
			  " WHERE school_code = ? AND state = 'running'",
    [SS_REQUESTED] = "SELECT id, school_code, max_bytes, max_ms, streams"
		     " FROM probe_throughput WHERE state = 'requested'"
		     " ORDER BY id LIMIT 1000",
    [SS_FAIL] = "UPDATE probe_throughput SET state = 'failed', error = ?,"
		" finished_ms = ?, served_bytes = max(served_bytes, ?)"
		" WHERE id = ?",
    [SS_START] = "UPDATE probe_throughput SET state = 'running',"
		 " started_ms = ?, agent = ? WHERE id = ? AND state = 'requested'",
    [SS_EXPIRED] = "SELECT id FROM probe_throughput WHERE state = 'running'"
		   " AND started_ms + 2 * max_ms + ? < ?",
    [SS_STALE_DEMANDS] = "SELECT id, school_code FROM probe_throughput"
			 " WHERE state = 'requested' AND requested_ms < ?",
    /* Refused tests do not count as tested (they moved nothing). */
    [SS_LAST_TEST] = "SELECT max(requested_ms),"
		     " sum(state IN ('requested','running'))"
		     " FROM probe_throughput WHERE school_code = ?"
		     " AND NOT (state = 'failed' AND started_ms IS NULL)",
    [SS_SCHOOL_TYPE] = "SELECT type FROM schools WHERE code = ?"
		       " AND removed_at IS NULL",
    [SS_INSERT] = "INSERT INTO probe_throughput(school_code, reason,"
		  " requested_by, state, requested_ms, max_bytes, max_ms,"
		  " streams) VALUES(?, 'schedule', 'schedule', 'requested', ?,"
		  " ?, ?, ?)",
    [SS_MONTH_USED] = "SELECT coalesce(sum(max(served_bytes,"
		      " coalesce(down_bytes, 0) + coalesce(up_bytes, 0))), 0)"
		      " FROM probe_throughput WHERE school_code = ?"
		      " AND requested_ms >= ?",
    [SS_CHECKS] = "SELECT id, room, probe FROM inventory"
		  " WHERE school_code = ? AND role = 'recording'"
		  " AND probe <> '' AND valid_to IS NULL ORDER BY id LIMIT 256",
    [SS_ROW] = "SELECT state, school_code, started_ms IS NOT NULL"
	       " FROM probe_throughput WHERE id = ?",
    [SS_UPLINK] = "SELECT p.speed_mbps FROM port_map m"
		  " JOIN ports p ON p.id = m.port_id"
		  " WHERE m.school_code = ? AND m.role = 'uplink'"
		  " AND p.speed_mbps > 0 ORDER BY p.last_seen DESC LIMIT 1",
    [SS_RESULT] = "UPDATE probe_throughput SET state = ?, t_ms = ?,"
		  " finished_ms = ?, down_mbps = ?, up_mbps = ?,"
		  " down_bytes = ?, up_bytes = ?, down_ms = ?, up_ms = ?,"
		  " served_bytes = max(served_bytes, ?), uplink_mbps = ?,"
		  " error = ?, agent = coalesce(agent, ?) WHERE id = ?",
    /* Slots taken: running tests and scheduled ones about to start. */
    [SS_BUSY] = "SELECT count(*) FROM probe_throughput"
		" WHERE state = 'running'"
		" OR (state = 'requested' AND reason = 'schedule')",
};

/* A frame for one agent, decided by the writer, sent by the loop. */
struct sched_out {
	size_t peer;		/* index into peers */
	struct buf frame;
	uint64_t checks_hash;	/* CHECKS: remember it once sent; else 0 */
};

/* The CHECKS an agent's connection was last sent (loop thread writes,
 * the writer reads; the queue orders them). */
struct sent_checks {
	char agent[WIRE_NAME_MAX + 1];
	uint64_t conn_id;
	uint64_t hash;
	uint64_t conf_gen;
};

struct probe_sched {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct ingest *in;
	struct server *server;
	struct probe_server *ps;	/* NULL: [probe] listen = off */
	const struct collector_conf *conf;
	const struct calendar *cal;
	uint64_t conf_gen;		/* bumped by a reload */
	bool queued, closing;
	/* Snapshot of the loop's agents for the writer. */
	struct probe_peer *peers;
	size_t n_peers;
	/* The writer's decisions for the loop. */
	struct sched_out *out;
	size_t n_out;
	struct sent_checks *sent;
	size_t n_sent;
	/* Writer thread only. */
	sqlite3 *db;
	sqlite3_stmt *st[SS_COUNT];
	uint64_t last_plan, last_checks, checks_gen;
	void (*close_cb)(void *);
	void *close_arg;
};

static sqlite3_stmt *
stmt(struct probe_sched *s, sqlite3 *db, enum sched_st which)
{
	if (s->db != db) { /* first use (the writer's connection) */
		for (int i = 0; i < SS_COUNT; i++) {
			sqlite3_finalize(s->st[i]);
			s->st[i] = NULL;
		}
		s->db = db;
	}
	if (s->st[which] == NULL &&
	    sqlite3_prepare_v3(db, sched_sql[which], -1,
		SQLITE_PREPARE_PERSISTENT, &s->st[which], NULL) != SQLITE_OK)
		fatalx("database: preparing scheduler statement %d: %s",
		    (int)which, sqlite3_errmsg(db));
	return s->st[which];
}

static void
st_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Run a statement without rows: 0 or -1. */
static int
st_exec(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	st_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
out_add(struct probe_sched *s, size_t peer, struct buf *frame, uint64_t hash)
{
	struct sched_out *o;

	s->out = xreallocarray(s->out, s->n_out + 1, sizeof(*s->out));
	o = &s->out[s->n_out++];
	o->peer = peer;
	o->frame = *frame;
	o->checks_hash = hash;
}

static void
out_clear(struct probe_sched *s)
{
	for (size_t i = 0; i < s->n_out; i++)
		buf_free(&s->out[i].frame);
	free(s->out);
	s->out = NULL;
	s->n_out = 0;
}

static void
peers_release(struct probe_sched *s)
{
	for (size_t i = 0; i < s->n_peers; i++)
		conn_unref(s->peers[i].conn);
	free(s->peers);
	s->peers = NULL;
	s->n_peers = 0;
}

/* The first connected proto-2 agent of school, or -1. */
static ssize_t
peer_of_school(const struct probe_sched *s, const char *school)
{
	for (size_t i = 0; i < s->n_peers; i++)
		if (strcmp(s->peers[i].school, school) == 0)
			return (ssize_t)i;
	return -1;
}

static int
fail_test(struct probe_sched *s, sqlite3 *db, int64_t id, const char *why,
    uint64_t now)
{
	sqlite3_stmt *st = stmt(s, db, SS_FAIL);
	uint64_t served = 0;

	/* What it moved before it failed still counts against the budget. */
	if (s->ps)
		served = probe_server_retire(s->ps, id);
	sqlite3_bind_text(st, 1, why, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)served);
	sqlite3_bind_int64(st, 4, id);
	return st_exec(st);
}

/* Local midnight of the first of this month. */
static uint64_t
month_start(const struct calendar *cal, uint64_t now)
{
	int y, m, d;

	calendar_local_date(cal, now, &y, &m, &d);
	return calendar_local_midnight(cal, y, m, 1);
}

/* Bytes school's tests have moved this month, or -1. */
static int64_t
month_used(struct probe_sched *s, sqlite3 *db, const char *school,
    uint64_t now)
{
	sqlite3_stmt *st = stmt(s, db, SS_MONTH_USED);
	int64_t used = -1;

	sqlite3_bind_text(st, 1, school, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)month_start(s->cal, now));
	if (sqlite3_step(st) == SQLITE_ROW)
		used = sqlite3_column_int64(st, 0);
	st_done(st);
	return used;
}

/* "4.9 GB" or "300 MB". */
static void
size_text(double bytes, char *buf, size_t size)
{
	if (bytes >= 1e9)
		snprintf(buf, size, "%.1f GB", bytes / 1e9);
	else
		snprintf(buf, size, "%.0f MB", bytes / 1e6);
}

/*
 * Would a test of max_bytes per direction fit school's budget? 1 yes, 0 no
 * (why says so), -1 on a database error.
 */
static int
budget_allows(struct probe_sched *s, sqlite3 *db, const char *school,
    uint64_t max_bytes, uint64_t now, char *why, size_t size)
{
	long mb = probe_budget_mb(&s->conf->probe, school);
	char used_text[32], budget_text[32];
	int64_t used;

	if (mb == 0)
		return 1;
	if ((used = month_used(s, db, school, now)) < 0)
		return -1;
	if ((uint64_t)used + 2 * max_bytes <= (uint64_t)mb * 1000000)
		return 1;
	size_text((double)used, used_text, sizeof(used_text));
	size_text((double)mb * 1e6, budget_text, sizeof(budget_text));
	snprintf(why, size, "monthly budget: %s of %s used", used_text,
	    budget_text);
	return 0;
}

/* Running tests that never answered; demands whose agent never came. */
static int
plan_expire(struct probe_sched *s, sqlite3 *db, uint64_t now)
{
	sqlite3_stmt *st = stmt(s, db, SS_EXPIRED);
	int64_t ids[64];
	struct {
		int64_t id;
		char school[WIRE_NAME_MAX + 1];
	} stale[64];
	size_t n = 0, n_stale = 0;
	int rc;

	sqlite3_bind_int64(st, 1, ANSWER_GRACE_MS);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < nitems(ids))
		ids[n++] = sqlite3_column_int64(st, 0);
	st_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	for (size_t i = 0; i < n; i++) {
		log_warnx("probe: test %" PRId64 ": no answer from the agent; "
			  "failed",
		    ids[i]);
		if (fail_test(s, db, ids[i], "no answer from the agent",
			now) != 0)
			return -1;
	}
	st = stmt(s, db, SS_STALE_DEMANDS);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)(now - DEMAND_WAIT_MS));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    n_stale < nitems(stale)) {
		stale[n_stale].id = sqlite3_column_int64(st, 0);
		snprintf(stale[n_stale].school, sizeof(stale[n_stale].school),
		    "%s", (const char *)sqlite3_column_text(st, 1));
		n_stale++;
	}
	st_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	for (size_t i = 0; i < n_stale; i++) {
		if (peer_of_school(s, stale[i].school) >= 0)
			continue; /* connected: waiting for its turn */
		log_warnx("probe: test %" PRId64 " (%s): agent not connected; "
			  "failed",
		    stale[i].id, stale[i].school);
		if (fail_test(s, db, stale[i].id, "agent not connected",
			now) != 0)
			return -1;
	}
	return 0;
}

/*
 * Due scheduled tests: one new row per pass, the school tested longest
 * ago first, so schools do not all start in the same second.
 */
static int
plan_schedule(struct probe_sched *s, sqlite3 *db, uint64_t now)
{
	const struct collector_probe_conf *pc = &s->conf->probe;
	uint64_t every = (uint64_t)(pc->throughput_every * 1000);
	struct probe_size size;
	const char *pick = NULL;
	uint64_t pick_last = UINT64_MAX;
	sqlite3_stmt *st;
	char why[128];
	int rc;

	if (every == 0 || s->ps == NULL)
		return 0;
	/* Queue a scheduled test only when a slot is free, so that it starts
	 * at once: one left waiting could start after school hours begin. */
	st = stmt(s, db, SS_BUSY);
	if (sqlite3_step(st) != SQLITE_ROW) {
		st_done(st);
		return -1;
	}
	rc = sqlite3_column_int64(st, 0) >= pc->throughput_parallel;
	st_done(st);
	if (rc)
		return 0;
	probe_conf_size(pc, &size);
	for (size_t i = 0; i < s->n_peers; i++) {
		const char *school = s->peers[i].school;
		uint64_t last = 0;
		char type[CALENDAR_NAME_MAX + 1] = "";
		bool open;

		if (peer_of_school(s, school) != (ssize_t)i)
			continue; /* its school seen already */
		st = stmt(s, db, SS_LAST_TEST);
		sqlite3_bind_text(st, 1, school, -1, SQLITE_TRANSIENT);
		if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
			st_done(st);
			return -1;
		}
		last = (uint64_t)sqlite3_column_int64(st, 0);
		open = sqlite3_column_int(st, 1) > 0;
		st_done(st);
		if (open || now - last < every || last >= pick_last)
			continue;
		if (!pc->throughput_in_school_hours) {
			st = stmt(s, db, SS_SCHOOL_TYPE);
			sqlite3_bind_text(st, 1, school, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(st) == SQLITE_ROW)
				snprintf(type, sizeof(type), "%s",
				    (const char *)sqlite3_column_text(st, 0));
			st_done(st);
			if (calendar_in_hours(s->cal, type, now))
				continue;
		}
		/* A school out of budget is not queued just to be refused
		 * every pass. */
		if ((rc = budget_allows(s, db, school, size.max_bytes, now, why,
			 sizeof(why))) < 0)
			return -1;
		if (rc == 0)
			continue;
		pick = school;
		pick_last = last;
	}
	if (pick == NULL)
		return 0;
	st = stmt(s, db, SS_INSERT);
	sqlite3_bind_text(st, 1, pick, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)size.max_bytes);
	sqlite3_bind_int64(st, 4, size.max_ms);
	sqlite3_bind_int(st, 5, size.streams);
	if (st_exec(st) != 0)
		return -1;
	log_info("probe: scheduled test %" PRId64 " for %s",
	    (int64_t)sqlite3_last_insert_rowid(db), pick);
	return 0;
}

static void
token_new(char *buf, size_t size)
{
	uint8_t rnd[16];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		fatalx("probe: no random bytes for a token");
	for (size_t i = 0; i < sizeof(rnd) && 2 * i + 2 < size; i++)
		snprintf(buf + 2 * i, 3, "%02x", rnd[i]);
}

/* Start one requested test on its school's agent: the row, the token and
 * the PROBE_REQUEST frame for the loop. */
static int
start_test(struct probe_sched *s, sqlite3 *db, size_t peer,
    const struct wire_probe_request *req, const char *school, uint64_t now)
{
	sqlite3_stmt *st = stmt(s, db, SS_START);
	struct buf frame;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	sqlite3_bind_text(st, 2, s->peers[peer].agent, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)req->id);
	if (st_exec(st) != 0)
		return -1;
	buf_init(&frame, WIRE_HEADER_LEN + 1024);
	if (wire_encode_probe_request(&frame, req) != 0) {
		buf_free(&frame);
		return fail_test(s, db, (int64_t)req->id,
		    "internal: the request does not encode", now);
	}
	probe_server_allow(s->ps, req->token, (int64_t)req->id, school,
	    2 * req->max_bytes + SLACK_BYTES,
	    now + 2 * (uint64_t)req->max_ms + TOKEN_GRACE_MS);
	out_add(s, peer, &frame, 0);
	log_info("probe: test %" PRIu64 " (%s) started on agent %s: %" PRIu64
		 " MB each way, %u streams, %u s at most",
	    req->id, school, s->peers[peer].agent, req->max_bytes / 1000000,
	    req->streams, req->max_ms / 1000);
	return 0;
}

/* Requested tests, oldest first, while fewer than throughput_parallel
 * run: budget, one per school, a connected agent that speaks probes. */
static int
plan_start(struct probe_sched *s, sqlite3 *db, uint64_t now)
{
	const struct collector_probe_conf *pc = &s->conf->probe;
	sqlite3_stmt *st = stmt(s, db, SS_RUNNING_COUNT);
	struct cand {
		struct wire_probe_request req;
		char school[WIRE_NAME_MAX + 1];
	} *c = NULL;
	size_t n = 0;
	long running;
	int rc = 0;

	if (sqlite3_step(st) != SQLITE_ROW) {
		st_done(st);
		return -1;
	}
	running = (long)sqlite3_column_int64(st, 0);
	st_done(st);
	st = stmt(s, db, SS_REQUESTED);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cand *k;

		c = xreallocarray(c, n + 1, sizeof(*c));
		k = &c[n++];
		memset(k, 0, sizeof(*k));
		k->req.id = (uint64_t)sqlite3_column_int64(st, 0);
		snprintf(k->school, sizeof(k->school), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		k->req.max_bytes = (uint64_t)sqlite3_column_int64(st, 2);
		k->req.max_ms = (uint32_t)sqlite3_column_int64(st, 3);
		k->req.streams = (uint8_t)sqlite3_column_int(st, 4);
	}
	st_done(st);
	rc = rc == SQLITE_DONE ? 0 : -1;
	for (size_t i = 0; i < n && rc == 0 && running < pc->throughput_parallel;
	     i++) {
		struct cand *k = &c[i];
		char why[128];
		ssize_t peer;
		int ok;

		if (s->ps == NULL) {
			rc = fail_test(s, db, (int64_t)k->req.id,
			    "the probe server is off ([probe] listen)", now);
			continue;
		}
		if ((peer = peer_of_school(s, k->school)) < 0)
			continue; /* waits for its agent (or expires) */
		st = stmt(s, db, SS_OPEN_OF_SCHOOL);
		sqlite3_bind_text(st, 1, k->school, -1, SQLITE_TRANSIENT);
		ok = sqlite3_step(st) == SQLITE_ROW;
		if (ok && sqlite3_column_int64(st, 0) > 0) {
			st_done(st);
			continue; /* one at a time per school */
		}
		st_done(st);
		if (!ok || (ok = budget_allows(s, db, k->school,
				k->req.max_bytes, now, why, sizeof(why))) < 0) {
			rc = -1;
			break;
		}
		if (ok == 0) {
			log_warnx("probe: test %" PRIu64 " (%s) refused: %s",
			    k->req.id, k->school, why);
			rc = fail_test(s, db, (int64_t)k->req.id, why, now);
			continue;
		}
		snprintf(k->req.base, sizeof(k->req.base), "%s", pc->url);
		k->req.port = probe_server_port(s->ps);
		token_new(k->req.token, sizeof(k->req.token));
		if ((rc = start_test(s, db, (size_t)peer, &k->req, k->school,
			 now)) == 0)
			running++;
	}
	free(c);
	return rc;
}

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Copy src into a cap-byte field, cut at a UTF-8 character boundary. */
static void
copy_utf8(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static const struct sent_checks *
sent_of(const struct probe_sched *s, const char *agent)
{
	for (size_t i = 0; i < s->n_sent; i++)
		if (strcmp(s->sent[i].agent, agent) == 0)
			return &s->sent[i];
	return NULL;
}

/* The CHECKS frame of one agent's school, when it differs from what its
 * connection has. */
static int
plan_checks_of(struct probe_sched *s, sqlite3 *db, size_t peer)
{
	const struct collector_probe_conf *pc = &s->conf->probe;
	const struct sent_checks *sent = sent_of(s, s->peers[peer].agent);
	struct wire_checks ck = {0};
	sqlite3_stmt *st = stmt(s, db, SS_CHECKS);
	struct buf frame;
	uint64_t hash;
	int rc;

	ck.interval_ms = (uint32_t)(pc->check_interval * 1000);
	ck.timeout_ms = (uint32_t)(pc->check_timeout * 1000);
	ck.items = xcalloc(WIRE_MAX_CHECKS, sizeof(*ck.items));
	sqlite3_bind_text(st, 1, s->peers[peer].school, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct wire_check *k = &ck.items[ck.n];
		const char *url = (const char *)sqlite3_column_text(st, 2);

		if (strlen(url) > WIRE_TEXT_MAX)
			continue; /* the inventory's import checks URLs */
		k->id = (uint64_t)sqlite3_column_int64(st, 0);
		copy_utf8(k->room, sizeof(k->room),
		    (const char *)sqlite3_column_text(st, 1));
		snprintf(k->url, sizeof(k->url), "%s", url);
		if (k->room[0] == '\0')
			snprintf(k->room, sizeof(k->room), "%" PRIu64, k->id);
		ck.n++;
	}
	st_done(st);
	buf_init(&frame, WIRE_MAX_FRAME);
	if (rc != SQLITE_DONE || wire_encode_checks(&frame, &ck) != 0) {
		free(ck.items);
		buf_free(&frame);
		return rc != SQLITE_DONE ? -1 : 0;
	}
	free(ck.items);
	hash = fnv1a(frame.data, frame.len);
	if (sent && sent->conn_id == s->peers[peer].conn_id &&
	    sent->hash == hash) {
		buf_free(&frame);
		return 0;
	}
	out_add(s, peer, &frame, hash);
	return 0;
}

/* New connections at once; everyone once a minute and after a reload. */
static int
plan_checks(struct probe_sched *s, sqlite3 *db, uint64_t now)
{
	bool all = now - s->last_checks >= CHECKS_MS ||
	    s->checks_gen != s->conf_gen;

	if (all) {
		s->last_checks = now;
		s->checks_gen = s->conf_gen;
	}
	for (size_t i = 0; i < s->n_peers; i++) {
		const struct sent_checks *sent = sent_of(s, s->peers[i].agent);

		if (!all && sent && sent->conn_id == s->peers[i].conn_id)
			continue;
		if (plan_checks_of(s, db, i) != 0)
			return -1;
	}
	return 0;
}

int
probe_sched_work(struct probe_sched *s, sqlite3 *db, uint64_t now)
{
	out_clear(s);
	if (plan_checks(s, db, now) != 0)
		return -1;
	if (now - s->last_plan < SCHED_PLAN_MS && now >= s->last_plan)
		return 0;
	if (plan_expire(s, db, now) != 0 || plan_schedule(s, db, now) != 0 ||
	    plan_start(s, db, now) != 0)
		return -1;
	s->last_plan = now;
	return 0;
}

/* Loop thread, after the writer's COMMIT (ok) or its failure. */
void
probe_sched_done(struct probe_sched *s, bool ok)
{
	for (size_t i = 0; ok && !s->closing && i < s->n_out; i++) {
		struct sched_out *o = &s->out[i];
		struct probe_peer *p = &s->peers[o->peer];
		struct sent_checks *sc;

		if (conn_send_frame(p->conn, &o->frame) != 0) {
			log_info("probe: agent %s left before a frame could "
				 "be sent",
			    p->agent);
			continue;
		}
		if (o->checks_hash == 0)
			continue;
		sc = (struct sent_checks *)sent_of(s, p->agent);
		if (sc == NULL) {
			s->sent = xreallocarray(s->sent, s->n_sent + 1,
			    sizeof(*s->sent));
			sc = &s->sent[s->n_sent++];
			snprintf(sc->agent, sizeof(sc->agent), "%s", p->agent);
		}
		sc->conn_id = p->conn_id;
		sc->hash = o->checks_hash;
		log_debug("probe: CHECKS sent to agent %s", p->agent);
	}
	out_clear(s);
	if (ok) {
		peers_release(s);
		s->queued = false;
	}
}

/* The uplink's negotiated speed now, 0 if unknown; -1 on error. */
static int64_t
uplink_speed(struct probe_sched *s, sqlite3 *db, const char *school)
{
	sqlite3_stmt *st = stmt(s, db, SS_UPLINK);
	int64_t mbps = 0;
	int rc;

	sqlite3_bind_text(st, 1, school, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		mbps = sqlite3_column_int64(st, 0);
	st_done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? mbps : -1;
}

struct result_ctx {
	struct probe_sched *s;
	const struct ingest_item *it;
	uint64_t now;
	bool stored;
	uint32_t uplink_mbps;
};

static void
bind_rate(sqlite3_stmt *st, int col, bool measured, uint32_t kbps)
{
	if (measured)
		sqlite3_bind_double(st, col, kbps / 1000.0);
}

/* Inside the sequence: the result into its row, if it has one. */
static int
store_result(void *arg, sqlite3 *db)
{
	struct result_ctx *x = arg;
	struct probe_sched *s = x->s;
	const struct wire_probe *p = &x->it->probe;
	const struct wire_throughput *tp = &p->tp;
	bool down = tp->measured & WIRE_TP_DOWN, up = tp->measured & WIRE_TP_UP;
	sqlite3_stmt *st = stmt(s, db, SS_ROW);
	char state[16] = "", school[WIRE_NAME_MAX + 1] = "", error[300];
	uint64_t served = 0;
	bool started = false;
	int64_t uplink;
	int rc;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)p->ref);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(state, sizeof(state), "%s",
		    (const char *)sqlite3_column_text(st, 0));
		snprintf(school, sizeof(school), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		started = sqlite3_column_int(st, 2) != 0;
	}
	st_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	/* A result that comes after its test timed out (measured before the
	 * link dropped, spooled, sent when it was back) still completes it. */
	if (rc == SQLITE_DONE || strcmp(school, x->it->school) != 0 ||
	    (strcmp(state, "running") != 0 &&
		strcmp(state, "requested") != 0 &&
		!(strcmp(state, "failed") == 0 && started))) {
		log_warnx("probe: agent %s sent a result for %s test %" PRIu64
			  "%s%s; not stored",
		    x->it->ag->name, rc == SQLITE_DONE ? "unknown" : state,
		    p->ref, rc == SQLITE_ROW && strcmp(school, x->it->school)
			? " of school " : "",
		    rc == SQLITE_ROW && strcmp(school, x->it->school) ? school
								      : "");
		return 0;
	}
	if ((uplink = uplink_speed(s, db, school)) < 0)
		return -1;
	if (s->ps)
		served = probe_server_retire(s->ps, (int64_t)p->ref);
	snprintf(error, sizeof(error), "%s",
	    p->error[0] || down || up ? p->error : "nothing measured");
	st = stmt(s, db, SS_RESULT);
	sqlite3_bind_text(st, 1, down || up ? "done" : "failed", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)p->t_ms);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)x->now);
	bind_rate(st, 4, down, tp->down_kbps);
	bind_rate(st, 5, up, tp->up_kbps);
	if (down) {
		sqlite3_bind_int64(st, 6, (sqlite3_int64)tp->down_bytes);
		sqlite3_bind_int64(st, 8, tp->down_ms);
	}
	if (up) {
		sqlite3_bind_int64(st, 7, (sqlite3_int64)tp->up_bytes);
		sqlite3_bind_int64(st, 9, tp->up_ms);
	}
	sqlite3_bind_int64(st, 10, (sqlite3_int64)served);
	if (uplink > 0)
		sqlite3_bind_int64(st, 11, uplink);
	sqlite3_bind_text(st, 12, error, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 13, x->it->ag->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 14, (sqlite3_int64)p->ref);
	if (st_exec(st) != 0)
		return -1;
	log_info("probe: test %" PRIu64 " (%s) %s: down %.1f Mbps, up %.1f "
		 "Mbps%s%s",
	    p->ref, school, down || up ? "done" : "failed",
	    tp->down_kbps / 1000.0, tp->up_kbps / 1000.0,
	    error[0] ? ": " : "", error);
	x->stored = true;
	x->uplink_mbps = uplink > 0 ? (uint32_t)uplink : 0;
	return 0;
}

int
probe_sched_result(struct probe_sched *s, struct db_writer *w,
    struct alert_engine *ae, const struct ingest_item *it, uint64_t now)
{
	struct result_ctx x = {.s = s, .it = it, .now = now};
	int rc;

	rc = db_store_sequenced(w, it->ag, it, now, store_result, &x);
	if (rc == 1 && x.stored &&
	    alerts_on_throughput(ae, it->ag, it->school, &it->probe,
		x.uplink_mbps) != 0)
		return -1;
	return rc;
}

static void
on_timer(uv_timer_t *t)
{
	struct probe_sched *s = t->data;

	if (s->queued || s->closing)
		return;
	s->n_peers = server_probe_peers(s->server, &s->peers);
	s->queued = true;
	ingest_push_sched(s->in);
}

struct probe_sched *
probe_sched_new(uv_loop_t *loop, const struct collector_conf *conf,
    const struct calendar *cal, struct ingest *in, struct server *server,
    struct probe_server *ps)
{
	struct probe_sched *s = xcalloc(1, sizeof(*s));

	s->loop = loop;
	s->conf = conf;
	s->cal = cal;
	s->in = in;
	s->server = server;
	s->ps = ps;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	uv_timer_start(&s->timer, on_timer, SCHED_MS, SCHED_MS);
	return s;
}

void
probe_sched_set_conf(struct probe_sched *s, const struct collector_conf *conf,
    const struct calendar *cal)
{
	s->conf = conf;
	s->cal = cal;
	s->conf_gen++;
}

void
probe_sched_stop(struct probe_sched *s)
{
	s->closing = true;
	uv_timer_stop(&s->timer);
}

static void
on_closed(uv_handle_t *h)
{
	struct probe_sched *s = h->data;
	void (*cb)(void *) = s->close_cb;
	void *arg = s->close_arg;

	for (int i = 0; i < SS_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	out_clear(s);
	peers_release(s);
	free(s->sent);
	free(s);
	if (cb)
		cb(arg);
}

void
probe_sched_close(struct probe_sched *s, void (*cb)(void *), void *arg)
{
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	uv_close((uv_handle_t *)&s->timer, on_closed);
}
