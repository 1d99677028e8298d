/* db.c: the collector's SQLite schema, its migrations, and the report writer. */
#include <string.h>

#include <jansson.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

/*
 * Schema migrations, applied in order inside one transaction each; the
 * database's PRAGMA user_version says how many have run. Append only.
 *
 * Times are milliseconds since the Unix epoch (UTC). Port state is kept as
 * intervals [t_start, t_end]: a new row only when admin/oper status, speed or
 * duplex changes, or after a gap in the data; time between rows is unknown.
 * Counters are kept as per-poll rates (bits/s) and error/discard counts.
 */
static const char *const migrations[] = {
    /* 1: agents, switches, ports, state intervals, rates */
    "CREATE TABLE agents("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  school TEXT NOT NULL,"
    "  epoch INTEGER NOT NULL DEFAULT 0,"
    "  last_seq INTEGER NOT NULL DEFAULT 0,"
    "  software TEXT,"
    "  peer TEXT,"
    "  first_seen INTEGER,"
    "  last_seen INTEGER);"
    "CREATE TABLE switches("
    "  id INTEGER PRIMARY KEY,"
    "  agent_id INTEGER NOT NULL REFERENCES agents(id),"
    "  name TEXT NOT NULL,"
    "  address TEXT,"
    "  status INTEGER,"
    "  error TEXT,"
    "  sys_uptime INTEGER,"
    "  poll_interval INTEGER,"
    "  pdus INTEGER,"
    "  duration_ms INTEGER,"
    "  last_poll INTEGER,"
    "  last_ok INTEGER,"
    "  UNIQUE(agent_id, name));"
    "CREATE TABLE ports("
    "  id INTEGER PRIMARY KEY,"
    "  switch_id INTEGER NOT NULL REFERENCES switches(id),"
    "  if_index INTEGER NOT NULL,"
    "  if_name TEXT, if_descr TEXT, if_alias TEXT, if_type INTEGER,"
    "  admin INTEGER, oper INTEGER, speed_mbps INTEGER, duplex INTEGER,"
    "  state_id INTEGER,"
    "  since INTEGER,"
    "  last_seen INTEGER,"
    "  in_bps REAL, out_bps REAL,"
    "  in_errors INTEGER, out_errors INTEGER,"
    "  in_discards INTEGER, out_discards INTEGER,"
    "  UNIQUE(switch_id, if_index));"
    "CREATE TABLE port_state("
    "  id INTEGER PRIMARY KEY,"
    "  port_id INTEGER NOT NULL REFERENCES ports(id),"
    "  t_start INTEGER NOT NULL,"
    "  t_end INTEGER NOT NULL,"
    "  admin INTEGER, oper INTEGER, speed_mbps INTEGER, duplex INTEGER);"
    "CREATE INDEX port_state_by_port ON port_state(port_id, t_start);"
    "CREATE TABLE port_rates("
    "  port_id INTEGER NOT NULL REFERENCES ports(id),"
    "  t_start INTEGER NOT NULL,"
    "  t_end INTEGER NOT NULL,"
    "  in_bps REAL NOT NULL, out_bps REAL NOT NULL,"
    "  in_errors INTEGER NOT NULL, out_errors INTEGER NOT NULL,"
    "  in_discards INTEGER NOT NULL, out_discards INTEGER NOT NULL,"
    "  PRIMARY KEY(port_id, t_end)) WITHOUT ROWID;",

    /*
     * 2: inventory (with history), alerts, their notification outbox and
     * maintenance windows. Inventory rows are never updated in place: a
     * re-import closes changed rows (valid_to) and adds new ones, so the
     * report can tell what the inventory said on any day.
     */
    "CREATE TABLE schools("
    "  code TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  town TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  town_seat INTEGER NOT NULL,"
    "  added_at INTEGER NOT NULL,"
    "  removed_at INTEGER);"
    "CREATE TABLE school_history("
    "  code TEXT NOT NULL, name TEXT NOT NULL, town TEXT NOT NULL,"
    "  type TEXT NOT NULL, town_seat INTEGER NOT NULL,"
    "  valid_from INTEGER NOT NULL, valid_to INTEGER);"
    "CREATE TABLE inventory("
    "  id INTEGER PRIMARY KEY,"
    "  school_code TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK(role IN ('uplink','classroom','recording')),"
    "  room TEXT NOT NULL,"
    "  switch TEXT NOT NULL,"
    "  port TEXT NOT NULL,"
    "  probe TEXT NOT NULL DEFAULT '',"
    "  valid_from INTEGER NOT NULL,"
    "  valid_to INTEGER);"
    "CREATE UNIQUE INDEX inventory_current ON inventory(school_code, switch,"
    "  port) WHERE valid_to IS NULL;"
    "CREATE TABLE imports("
    "  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, file TEXT NOT NULL,"
    "  rows INTEGER NOT NULL, added INTEGER NOT NULL,"
    "  removed INTEGER NOT NULL, unchanged INTEGER NOT NULL);"
    "CREATE INDEX agents_school ON agents(school);"
    /* When a report last arrived (wall clock), for agent-offline alerts. */
    "ALTER TABLE agents ADD COLUMN last_heard INTEGER;"
    "CREATE INDEX ports_name ON ports(switch_id, if_name);"
    "CREATE INDEX ports_descr ON ports(switch_id, if_descr);"
    /* Which port an inventory row means: ifName first, else ifDescr. */
    "CREATE VIEW port_map AS"
    "  SELECT p.id AS port_id, s.id AS switch_id, i.id AS inventory_id,"
    "    i.school_code, i.role, i.room, i.switch, i.port, i.probe"
    "  FROM inventory i"
    "  JOIN agents a ON a.school = i.school_code"
    "  JOIN switches s ON s.agent_id = a.id AND s.name = i.switch"
    "  JOIN ports p ON p.switch_id = s.id AND (p.if_name = i.port OR"
    "    (p.if_descr = i.port AND NOT EXISTS (SELECT 1 FROM ports q"
    "      WHERE q.switch_id = s.id AND q.if_name = i.port)))"
    "  WHERE i.valid_to IS NULL;"
    "CREATE TABLE alerts("
    "  id INTEGER PRIMARY KEY,"
    "  key TEXT NOT NULL,"
    "  cause TEXT NOT NULL,"
    "  role TEXT NOT NULL DEFAULT '',"
    "  school_code TEXT NOT NULL DEFAULT '',"
    "  room TEXT NOT NULL DEFAULT '',"
    "  agent TEXT NOT NULL DEFAULT '',"
    "  switch TEXT NOT NULL DEFAULT '',"
    "  port TEXT NOT NULL DEFAULT '',"
    "  port_id INTEGER,"
    "  since INTEGER NOT NULL,"
    "  opened_at INTEGER NOT NULL,"
    "  cleared_at INTEGER,"
    "  speed_mbps INTEGER, target_mbps INTEGER, errors_per_min REAL,"
    "  detail TEXT NOT NULL DEFAULT '',"
    "  flapping INTEGER NOT NULL DEFAULT 0,"
    "  suppressed INTEGER NOT NULL DEFAULT 0,"
    "  acked_by TEXT, acked_at INTEGER);"
    "CREATE UNIQUE INDEX alerts_open ON alerts(key) WHERE cleared_at IS NULL;"
    "CREATE INDEX alerts_time ON alerts(opened_at);"
    "CREATE TABLE maintenance("
    "  id INTEGER PRIMARY KEY,"
    "  school_code TEXT NOT NULL,"
    "  switch TEXT NOT NULL DEFAULT '',"
    "  starts_at INTEGER NOT NULL,"
    "  ends_at INTEGER NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  created_by TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE outbox("
    "  id INTEGER PRIMARY KEY,"
    "  alert_id INTEGER,"
    "  receiver TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  next_try INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  sent_at INTEGER,"
    "  failed_at INTEGER,"
    "  last_error TEXT);"
    "CREATE INDEX outbox_due ON outbox(next_try)"
    "  WHERE sent_at IS NULL AND failed_at IS NULL;",

    /* 3: what each agent says of its spool (STATUS). */
    "ALTER TABLE agents ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE agents ADD COLUMN spool_pending INTEGER;",

    /* 4: per-agent TLS pre-shared keys (enroll). */
    "CREATE TABLE agent_keys("
    "  identity TEXT PRIMARY KEY,"
    "  school TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER,"
    "  revoked_at INTEGER);",

    /* 5: daily roll-ups of school-hours time for the monthly report. */
    "CREATE TABLE port_day("
    "  day INTEGER NOT NULL,"
    "  port_id INTEGER NOT NULL,"
    "  up INTEGER NOT NULL,"
    "  speed_mbps INTEGER NOT NULL,"
    "  duplex INTEGER NOT NULL,"
    "  ms INTEGER NOT NULL,"
    "  err_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(day, port_id, up, speed_mbps, duplex)) WITHOUT ROWID;"
    "CREATE TABLE rollup_days("
    "  day INTEGER PRIMARY KEY,"
    "  fingerprint TEXT NOT NULL,"
    "  computed_at INTEGER NOT NULL);"
    "CREATE TABLE rollup_dirty("
    "  hour INTEGER PRIMARY KEY,"
    "  marked_at INTEGER NOT NULL);"
    "CREATE INDEX port_rates_errors ON port_rates(port_id, t_end)"
    "  WHERE in_errors + out_errors > 0;"
    "CREATE INDEX inventory_port ON inventory(school_code, switch, port);",

    /* 6: tokens for the HTTP API (only their SHA-256 is kept). */
    "CREATE TABLE api_tokens("
    "  name TEXT PRIMARY KEY,"
    "  role TEXT NOT NULL CHECK(role IN ('read','admin')),"
    "  hash TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  last_used INTEGER,"
    "  revoked_at INTEGER);",

    /* 7: maintenance window ids are never reused (they are deleted by id,
     * from the API too: a stale list must not delete a newer window). */
    "CREATE TABLE maintenance_new("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  school_code TEXT NOT NULL,"
    "  switch TEXT NOT NULL DEFAULT '',"
    "  starts_at INTEGER NOT NULL,"
    "  ends_at INTEGER NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  created_by TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL);"
    "INSERT INTO maintenance_new SELECT id, school_code, switch, starts_at,"
    "  ends_at, reason, created_by, created_at FROM maintenance;"
    "DROP TABLE maintenance;"
    "ALTER TABLE maintenance_new RENAME TO maintenance;",

    /*
     * 8: the agents' TCP-connect latency rounds (PROBE), one row a round
     * and target (label). RTTs are NULL when nothing answered, the jitter
     * when fewer than two did. probe_last points at each (agent, label)'s
     * newest round, so listing the latest ones reads one row each instead
     * of scanning a year of rounds.
     */
    "CREATE TABLE probe_latency("
    "  agent_id INTEGER NOT NULL REFERENCES agents(id),"
    "  school TEXT NOT NULL,"
    "  label TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  t_ms INTEGER NOT NULL,"
    "  interval_ms INTEGER NOT NULL,"
    "  sent INTEGER NOT NULL,"
    "  answered INTEGER NOT NULL,"
    "  rtt_min_us INTEGER, rtt_avg_us INTEGER, rtt_max_us INTEGER,"
    "  jitter_us INTEGER,"
    "  error TEXT NOT NULL DEFAULT '',"
    "  epoch INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY(agent_id, epoch, seq)) WITHOUT ROWID;"
    "CREATE INDEX probe_latency_school ON probe_latency(school, label, t_ms);"
    "CREATE INDEX probe_latency_label ON probe_latency(agent_id, label, t_ms);"
    "CREATE TABLE probe_last("
    "  agent_id INTEGER NOT NULL REFERENCES agents(id),"
    "  label TEXT NOT NULL,"
    "  t_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(agent_id, label)) WITHOUT ROWID;",

    /*
     * 9: throughput tests and recording rooms (issue 4).
     *
     * probe_throughput: one row per test, from the request on. id is the
     * PROBE_REQUEST id (never reused). state: requested (waiting for the
     * scheduler: its school's agent, the hours, the budget), running (sent
     * to the agent), done (a result with at least one direction), failed
     * (the agent's error, a refusal, or no answer in time: error says).
     * served_bytes: what the probe server sent and received for it, which
     * the monthly budget counts. uplink_mbps: the school's uplink's
     * negotiated speed when the result was stored (NULL: unknown).
     *
     * recording_state: each recording room's availability as intervals,
     * like port_state: a row is extended while nothing changes and the
     * checks keep coming; a change or a gap (2.5 intervals without a
     * check) starts a new one. available = host_ok AND port_ok.
     */
    "CREATE TABLE probe_throughput("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  school_code TEXT NOT NULL,"
    "  reason TEXT NOT NULL CHECK(reason IN ('schedule','demand')),"
    "  requested_by TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL CHECK(state IN"
    "    ('requested','running','done','failed')),"
    "  requested_ms INTEGER NOT NULL,"
    "  started_ms INTEGER,"
    "  finished_ms INTEGER,"
    "  agent TEXT,"
    "  t_ms INTEGER,"
    "  max_bytes INTEGER NOT NULL,"
    "  max_ms INTEGER NOT NULL,"
    "  streams INTEGER NOT NULL,"
    "  down_mbps REAL, up_mbps REAL,"
    "  down_bytes INTEGER, up_bytes INTEGER,"
    "  down_ms INTEGER, up_ms INTEGER,"
    "  served_bytes INTEGER NOT NULL DEFAULT 0,"
    "  uplink_mbps INTEGER,"
    "  error TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX probe_throughput_school ON probe_throughput(school_code,"
    "  requested_ms);"
    "CREATE INDEX probe_throughput_state ON probe_throughput(state);"
    "CREATE TABLE recording_state("
    "  id INTEGER PRIMARY KEY,"
    "  inventory_id INTEGER NOT NULL REFERENCES inventory(id),"
    "  t_start INTEGER NOT NULL,"
    "  t_end INTEGER NOT NULL,"
    "  interval_ms INTEGER NOT NULL,"
    "  host_ok INTEGER NOT NULL,"
    "  port_ok INTEGER,"
    "  available INTEGER NOT NULL,"
    "  status INTEGER,"
    "  time_ms INTEGER,"
    "  error TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX recording_state_room ON recording_state(inventory_id,"
    "  t_start);",
};

int
db_school_exists(sqlite3 *db, const char *code)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
		"SELECT 1 FROM schools WHERE code = ? AND removed_at IS NULL",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* State held longer than this many poll intervals without data is a gap. */
#define GAP_INTERVALS 2.5

static int
exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("database: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
migrate(sqlite3 *db, const char *path)
{
	sqlite3_stmt *st;
	int version = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > (int)nitems(migrations)) {
		log_warnx("database %s has schema version %d, newer than this "
			  "collector knows (%zu): refusing to touch it",
		    path, version, nitems(migrations));
		return -1;
	}
	for (int v = version; v < (int)nitems(migrations); v++) {
		char bump[64];

		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
		if (version > 0) /* an index over a year of data takes minutes */
			log_info("database %s: migrating to schema version %d",
			    path, v + 1);
		if (exec(db, "BEGIN IMMEDIATE") != 0)
			return -1;
		if (exec(db, migrations[v]) != 0 || exec(db, bump) != 0) {
			exec(db, "ROLLBACK");
			return -1;
		}
		if (exec(db, "COMMIT") != 0)
			return -1;
		log_info("database %s: migrated to schema version %d", path,
		    v + 1);
	}
	return 0;
}

char *
db_col_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return xstrdup(t ? (const char *)t : "");
}

json_t *
db_col_time(sqlite3_stmt *st, int col)
{
	char buf[32];

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	time_iso8601((uint64_t)sqlite3_column_int64(st, col), buf, sizeof(buf));
	return json_string(buf);
}

int
db_open(const char *path, bool readonly, sqlite3 **out)
{
	/* One thread at a time uses a connection: no SQLite mutexes. */
	int flags = SQLITE_OPEN_NOMUTEX |
	    (readonly ? SQLITE_OPEN_READONLY
		      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		log_warnx("database %s: %s", path,
		    db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	if (!readonly &&
	    (exec(db, "PRAGMA journal_mode = WAL") != 0 ||
		exec(db, "PRAGMA synchronous = FULL") != 0 ||
		/* Reports arrive round-robin over agents: a 64 MiB page
		 * cache keeps their ports' pages hot (bench/README.md). */
		exec(db, "PRAGMA cache_size = -65536") != 0 ||
		exec(db, "PRAGMA foreign_keys = ON") != 0 ||
		migrate(db, path) != 0)) {
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

int
db_load_agents(sqlite3 *db, struct agent_table *t)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
		"SELECT name, school, epoch, last_seq FROM agents", -1, &st,
		NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct agent_state *a = agents_get(t,
		    (const char *)sqlite3_column_text(st, 0), true);

		snprintf(a->school, sizeof(a->school), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		a->epoch = (uint64_t)sqlite3_column_int64(st, 2);
		a->acked_seq = (uint64_t)sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* --- the writer ---------------------------------------------------- */

enum {
	ST_AGENT_GET, ST_AGENT_ADD, ST_AGENT_SEQ, ST_SWITCH_GET, ST_SWITCH_ADD,
	ST_SWITCH_SET, ST_PORT_GET, ST_PORT_ADD, ST_PORT_SET, ST_STATE_ADD,
	ST_STATE_EXTEND, ST_RATE_ADD, ST_AGENT_HEARD, ST_AGENT_STATUS,
	ST_ROLLUP_DIRTY, ST_PROBE_ADD, ST_PROBE_LAST,
	ST_REC_ROOM, ST_REC_LAST, ST_REC_ADD, ST_REC_EXTEND,
	ST_COUNT
};

static const char *const writer_sql[ST_COUNT] = {
    [ST_AGENT_GET] = "SELECT id, epoch, last_seq FROM agents WHERE name = ?",
    [ST_AGENT_ADD] = "INSERT INTO agents(name, school, first_seen)"
		     " VALUES(?, ?, ?)",
    [ST_AGENT_SEQ] = "UPDATE agents SET epoch = ?, last_seq = ?, school = ?,"
		     " peer = ?, last_seen = ?, software = ? WHERE id = ?",
    [ST_SWITCH_GET] = "SELECT id FROM switches WHERE agent_id = ? AND name = ?",
    [ST_SWITCH_ADD] = "INSERT INTO switches(agent_id, name) VALUES(?, ?)",
    [ST_SWITCH_SET] = "UPDATE switches SET address = ?, status = ?,"
		      " error = ?, sys_uptime = ?, poll_interval = ?, pdus = ?,"
		      " duration_ms = ?, last_poll = ?,"
		      " last_ok = CASE WHEN ?2 = 0 THEN ?8 ELSE last_ok END"
		      " WHERE id = ?",
    [ST_PORT_GET] = "SELECT id, admin, oper, speed_mbps, duplex, state_id,"
		    " last_seen FROM ports WHERE switch_id = ? AND if_index = ?",
    [ST_PORT_ADD] = "INSERT INTO ports(switch_id, if_index) VALUES(?, ?)",
    [ST_PORT_SET] = "UPDATE ports SET if_name = ?, if_descr = ?,"
		    " if_alias = ?, if_type = ?, admin = ?, oper = ?,"
		    " speed_mbps = ?, duplex = ?, state_id = ?,"
		    " since = COALESCE(?, since), last_seen = ?, in_bps = ?,"
		    " out_bps = ?, in_errors = ?, out_errors = ?,"
		    " in_discards = ?, out_discards = ? WHERE id = ?",
    [ST_STATE_ADD] = "INSERT INTO port_state(port_id, t_start, t_end, admin,"
		     " oper, speed_mbps, duplex) VALUES(?, ?, ?, ?, ?, ?, ?)",
    [ST_STATE_EXTEND] = "UPDATE port_state SET t_end = ? WHERE id = ?",
    [ST_RATE_ADD] = "INSERT OR REPLACE INTO port_rates(port_id, t_start,"
		    " t_end, in_bps, out_bps, in_errors, out_errors,"
		    " in_discards, out_discards) VALUES(?,?,?,?,?,?,?,?,?)",
    [ST_AGENT_HEARD] = "UPDATE agents SET last_heard = ? WHERE id = ?",
    [ST_AGENT_STATUS] = "UPDATE agents SET dropped = ?, spool_pending = ?,"
			" last_heard = ? WHERE id = ?",
    [ST_ROLLUP_DIRTY] = "INSERT OR REPLACE INTO rollup_dirty(hour, marked_at)"
			" VALUES(?, ?)",
    /* A second round in the same ms (a clock set back) replaces the
     * first: the key is (agent, label, time). */
    [ST_PROBE_ADD] = "INSERT INTO probe_latency(agent_id, school,"
		     " label, target, t_ms, interval_ms, sent, answered,"
		     " rtt_min_us, rtt_avg_us, rtt_max_us, jitter_us, error,"
		     " epoch, seq) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_PROBE_LAST] = "INSERT INTO probe_last(agent_id, label, t_ms)"
		      " VALUES(?1, ?2, ?3) ON CONFLICT(agent_id, label)"
		      " DO UPDATE SET t_ms = ?3 WHERE ?3 >= t_ms",
    /* A HOST check's room: the agent's school's current recording row,
     * and its port's latest state when the port is mapped (the same
     * columns, from admin on, as port_obs_from_row reads). port_map as a
     * scalar subquery: joined, SQLite builds the whole view (every port
     * of the district) for each check. */
    [ST_REC_ROOM] = "SELECT i.room, i.switch, i.port, p.id, p.admin,"
		    " p.oper, p.speed_mbps, p.duplex, p.last_seen,"
		    " p.in_errors, p.out_errors, s.poll_interval"
		    " FROM inventory i"
		    " LEFT JOIN ports p ON p.id = (SELECT m.port_id FROM"
		    "  port_map m WHERE m.inventory_id = i.id LIMIT 1)"
		    " LEFT JOIN switches s ON s.id = p.switch_id"
		    " WHERE i.id = ? AND i.school_code = ?"
		    " AND i.role = 'recording' AND i.valid_to IS NULL",
    [ST_REC_LAST] = "SELECT id, t_end, host_ok, available FROM"
		    " recording_state WHERE inventory_id = ?"
		    " ORDER BY t_start DESC LIMIT 1",
    /* status, time_ms and error: of the latest check of the interval. */
    [ST_REC_ADD] = "INSERT INTO recording_state(inventory_id, t_start,"
		   " t_end, interval_ms, host_ok, port_ok, available, status,"
		   " time_ms, error) VALUES(?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
		   " ?9)",
    [ST_REC_EXTEND] = "UPDATE recording_state SET t_end = ?, interval_ms = ?,"
		      " port_ok = ?, status = ?, time_ms = ?, error = ?"
		      " WHERE id = ?",
};

#define UNKNOWN_ROOMS_LOGGED 64

struct db_writer {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	/* HOST checks of rooms not in the inventory: each logged once (the
	 * latest few ids; the agent drops them at its next CHECKS). */
	uint64_t unknown_rooms[UNKNOWN_ROOMS_LOGGED];
	size_t next_unknown;
};

struct db_writer *
db_writer_new(sqlite3 *db)
{
	struct db_writer *w = xcalloc(1, sizeof(*w));

	w->db = db;
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(db, writer_sql[i], -1,
			SQLITE_PREPARE_PERSISTENT, &w->st[i], NULL) != SQLITE_OK)
			fatalx("database: preparing writer statement %d: %s", i,
			    sqlite3_errmsg(db));
	return w;
}

void
db_writer_free(struct db_writer *w)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(w->st[i]);
	free(w);
}

sqlite3 *
db_writer_db(struct db_writer *w)
{
	return w->db;
}

const char *
db_errmsg(struct db_writer *w)
{
	return sqlite3_errmsg(w->db);
}

int
db_begin(struct db_writer *w)
{
	return exec(w->db, "BEGIN IMMEDIATE");
}

int
db_commit(struct db_writer *w)
{
	return exec(w->db, "COMMIT");
}

void
db_rollback(struct db_writer *w)
{
	sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Run a statement that returns no rows; resets it. */
static int
step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
agent_row(struct db_writer *w, struct agent_state *ag, const char *school,
    uint64_t now)
{
	sqlite3_stmt *st = w->st[ST_AGENT_GET];
	int rc;

	if (ag->w_loaded)
		return 0;
	sqlite3_bind_text(st, 1, ag->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ag->w_id = sqlite3_column_int64(st, 0);
		ag->w_epoch = (uint64_t)sqlite3_column_int64(st, 1);
		ag->w_last_seq = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		st = w->st[ST_AGENT_ADD];
		sqlite3_bind_text(st, 1, ag->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, school, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
		if (step_done(st) != 0)
			return -1;
		ag->w_id = sqlite3_last_insert_rowid(w->db);
		ag->w_epoch = ag->w_last_seq = 0;
	} else if (rc != SQLITE_ROW) {
		return -1;
	}
	ag->w_loaded = true;
	return 0;
}

/* The switch's row id, created on first sight. */
static int64_t
switch_row(struct db_writer *w, int64_t agent_id, const char *name)
{
	sqlite3_stmt *st = w->st[ST_SWITCH_GET];
	int64_t id = -1;
	int rc;

	sqlite3_bind_int64(st, 1, agent_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return id;
	if (rc != SQLITE_DONE)
		return -1;
	st = w->st[ST_SWITCH_ADD];
	sqlite3_bind_int64(st, 1, agent_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (step_done(st) != 0)
		return -1;
	return sqlite3_last_insert_rowid(w->db);
}

static int
store_port(struct db_writer *w, int64_t switch_id, const struct wire_report *rep,
    const struct wire_if *f)
{
	sqlite3_stmt *st;
	int64_t port_id = 0, state_id = 0;
	uint64_t t = rep->t_ms, last_seen = 0;
	uint64_t gap_ms = (uint64_t)(rep->poll_interval_s * 1000.0 *
	    GAP_INTERVALS);
	bool have_state = false, same = false, new_interval;
	bool rates = (f->flags & WIRE_IF_RATES) && rep->interval_ms > 0;
	int rc;

	st = w->st[ST_PORT_GET];
	sqlite3_bind_int64(st, 1, switch_id);
	sqlite3_bind_int64(st, 2, f->if_index);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		port_id = sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
			have_state = true;
			same = sqlite3_column_int(st, 1) == f->admin &&
			    sqlite3_column_int(st, 2) == f->oper &&
			    sqlite3_column_int64(st, 3) == f->speed_mbps &&
			    sqlite3_column_int(st, 4) == f->duplex;
			state_id = sqlite3_column_int64(st, 5);
			last_seen = (uint64_t)sqlite3_column_int64(st, 6);
		}
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		st = w->st[ST_PORT_ADD];
		sqlite3_bind_int64(st, 1, switch_id);
		sqlite3_bind_int64(st, 2, f->if_index);
		if (step_done(st) != 0)
			return -1;
		port_id = sqlite3_last_insert_rowid(w->db);
	} else if (rc != SQLITE_ROW) {
		return -1;
	}
	if (have_state && t < last_seen)
		return 0; /* older than what we hold: nothing to extend */

	/*
	 * Sample and hold: the state seen at the last poll lasted until this
	 * one, unless the polls are too far apart (then the time between is
	 * unknown and the old interval ends where it was last seen).
	 */
	new_interval = !have_state || !same || t - last_seen > gap_ms;
	if (have_state && t - last_seen <= gap_ms) {
		st = w->st[ST_STATE_EXTEND];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)t);
		sqlite3_bind_int64(st, 2, state_id);
		if (step_done(st) != 0)
			return -1;
	}
	if (new_interval) {
		st = w->st[ST_STATE_ADD];
		sqlite3_bind_int64(st, 1, port_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)t);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)t);
		sqlite3_bind_int(st, 4, f->admin);
		sqlite3_bind_int(st, 5, f->oper);
		sqlite3_bind_int64(st, 6, f->speed_mbps);
		sqlite3_bind_int(st, 7, f->duplex);
		if (step_done(st) != 0)
			return -1;
		state_id = sqlite3_last_insert_rowid(w->db);
	}

	double in_bps = 0, out_bps = 0;
	if (rates) {
		in_bps = (double)f->in_octets * 8000.0 / rep->interval_ms;
		out_bps = (double)f->out_octets * 8000.0 / rep->interval_ms;
		st = w->st[ST_RATE_ADD];
		sqlite3_bind_int64(st, 1, port_id);
		sqlite3_bind_int64(st, 2,
		    (sqlite3_int64)(t - rep->interval_ms));
		sqlite3_bind_int64(st, 3, (sqlite3_int64)t);
		sqlite3_bind_double(st, 4, in_bps);
		sqlite3_bind_double(st, 5, out_bps);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)f->in_errors);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)f->out_errors);
		sqlite3_bind_int64(st, 8, (sqlite3_int64)f->in_discards);
		sqlite3_bind_int64(st, 9, (sqlite3_int64)f->out_discards);
		if (step_done(st) != 0)
			return -1;
	}

	st = w->st[ST_PORT_SET];
	sqlite3_bind_text(st, 1, f->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->descr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, f->alias, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, f->if_type);
	sqlite3_bind_int(st, 5, f->admin);
	sqlite3_bind_int(st, 6, f->oper);
	sqlite3_bind_int64(st, 7, f->speed_mbps);
	sqlite3_bind_int(st, 8, f->duplex);
	sqlite3_bind_int64(st, 9, state_id);
	if (new_interval)
		sqlite3_bind_int64(st, 10, (sqlite3_int64)t);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)t);
	if (rates) {
		sqlite3_bind_double(st, 12, in_bps);
		sqlite3_bind_double(st, 13, out_bps);
		sqlite3_bind_int64(st, 14, (sqlite3_int64)f->in_errors);
		sqlite3_bind_int64(st, 15, (sqlite3_int64)f->out_errors);
		sqlite3_bind_int64(st, 16, (sqlite3_int64)f->in_discards);
		sqlite3_bind_int64(st, 17, (sqlite3_int64)f->out_discards);
	}
	sqlite3_bind_int64(st, 18, port_id);
	return step_done(st);
}

int
db_store_status(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t now)
{
	const struct wire_status *status = &it->status;
	sqlite3_stmt *st = w->st[ST_AGENT_STATUS];

	if (agent_row(w, ag, it->school, now) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)status->dropped);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)status->pending);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 4, ag->w_id);
	return step_done(st);
}

/*
 * The sequence path every REPORT and PROBE takes: the agent's row, when it
 * was last heard, and whether this seq of this epoch is new. Returns 1
 * new, 0 duplicate (stored before), -1 on error.
 */
static int
seq_begin(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t t_ms, uint64_t now)
{
	sqlite3_stmt *st;

	if (agent_row(w, ag, it->school, t_ms) != 0)
		return -1;
	st = w->st[ST_AGENT_HEARD];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 2, ag->w_id);
	if (step_done(st) != 0)
		return -1;
	if (it->epoch != ag->w_epoch) {
		/* The agent started a new sequence space (new spool). */
		ag->w_epoch = it->epoch;
		ag->w_last_seq = 0;
	}
	return it->seq > ag->w_last_seq ? 1 : 0;
}

/* The message is stored: the agent has everything up to its seq. */
static int
seq_end(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t t_ms)
{
	sqlite3_stmt *st = w->st[ST_AGENT_SEQ];

	ag->w_last_seq = it->seq;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ag->w_epoch);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ag->w_last_seq);
	sqlite3_bind_text(st, 3, it->school, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, it->peer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)t_ms);
	sqlite3_bind_text(st, 6, it->software, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, ag->w_id);
	return step_done(st);
}

int
db_store_report(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t now, int64_t *switch_idp)
{
	const struct wire_report *rep = &it->rep;
	sqlite3_stmt *st;
	int64_t switch_id;
	int rc;

	if ((rc = seq_begin(w, ag, it, rep->t_ms, now)) <= 0)
		return rc;
	switch_id = switch_row(w, ag->w_id, rep->switch_name);
	*switch_idp = switch_id;
	if (switch_id < 0)
		return -1;
	st = w->st[ST_SWITCH_SET];
	sqlite3_bind_text(st, 1, rep->address, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, rep->status);
	sqlite3_bind_text(st, 3, rep->error, -1, SQLITE_STATIC);
	if (rep->status == WIRE_POLL_OK)
		sqlite3_bind_int64(st, 4, rep->sys_uptime);
	sqlite3_bind_int64(st, 5, rep->poll_interval_s);
	sqlite3_bind_int64(st, 6, rep->pdus);
	sqlite3_bind_int64(st, 7, rep->duration_ms);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)rep->t_ms);
	sqlite3_bind_int64(st, 9, switch_id);
	if (step_done(st) != 0)
		return -1;
	for (uint32_t i = 0; i < rep->n_if; i++)
		if (store_port(w, switch_id, rep, &rep->ifs[i]) != 0)
			return -1;
	if (rep->t_ms + ROLLUP_LATE_MS < now) {
		/* Back-filled: the day's roll-up may be made already. */
		st = w->st[ST_ROLLUP_DIRTY];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)(rep->t_ms / 3600000));
		sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
		if (step_done(st) != 0)
			return -1;
	}
	if (seq_end(w, ag, it, rep->t_ms) != 0)
		return -1;
	return 1;
}

int
db_store_sequenced(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t now,
    int (*store)(void *arg, sqlite3 *db), void *arg)
{
	int rc;

	if ((rc = seq_begin(w, ag, it, it->probe.t_ms, now)) <= 0)
		return rc;
	if ((store && store(arg, w->db) != 0) ||
	    seq_end(w, ag, it, it->probe.t_ms) != 0)
		return -1;
	return 1;
}

int
db_store_probe(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t now)
{
	const struct wire_probe *p = &it->probe;
	sqlite3_stmt *st;
	int rc;

	if ((rc = seq_begin(w, ag, it, p->t_ms, now)) <= 0)
		return rc;
	st = w->st[ST_PROBE_ADD];
	sqlite3_bind_int64(st, 1, ag->w_id);
	sqlite3_bind_text(st, 2, it->school, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->label, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)p->t_ms);
	sqlite3_bind_int64(st, 6, p->interval_ms);
	sqlite3_bind_int64(st, 7, p->sent);
	sqlite3_bind_int64(st, 8, p->answered);
	if (p->answered > 0) { /* else NULL: not measured, not 0 */
		sqlite3_bind_int64(st, 9, p->rtt_min_us);
		sqlite3_bind_int64(st, 10, p->rtt_avg_us);
		sqlite3_bind_int64(st, 11, p->rtt_max_us);
	}
	if (p->answered > 1)
		sqlite3_bind_int64(st, 12, p->jitter_us);
	sqlite3_bind_text(st, 13, p->error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 14, (sqlite3_int64)p->epoch);
	sqlite3_bind_int64(st, 15, (sqlite3_int64)p->seq);
	if (step_done(st) != 0)
		return -1;
	st = w->st[ST_PROBE_LAST];
	sqlite3_bind_int64(st, 1, ag->w_id);
	sqlite3_bind_text(st, 2, p->label, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)p->t_ms);
	if (step_done(st) != 0 || seq_end(w, ag, it, p->t_ms) != 0)
		return -1;
	return 1;
}

/* Log a HOST check of a room we do not know, once per id. */
static void
unknown_room(struct db_writer *w, const struct ingest_item *it)
{
	for (size_t i = 0; i < UNKNOWN_ROOMS_LOGGED; i++)
		if (w->unknown_rooms[i] == it->probe.ref)
			return;
	w->unknown_rooms[w->next_unknown] = it->probe.ref;
	w->next_unknown = (w->next_unknown + 1) % UNKNOWN_ROOMS_LOGGED;
	log_info("agent %s: host check of recording row %llu (%s), which "
		 "school %s's inventory does not hold (now): not stored",
	    it->ag->name, (unsigned long long)it->probe.ref, it->probe.label,
	    it->school);
}

/* The room of a HOST check and its port's verdict now: 1 found, 0 no such
 * room, -1 error. */
static int
recording_room(struct db_writer *w, const struct ingest_item *it,
    const struct policy_conf *pc, struct recording_obs *r)
{
	sqlite3_stmt *st = w->st[ST_REC_ROOM];
	const struct wire_probe *p = &it->probe;
	int rc;

	if (p->ref > INT64_MAX)
		return 0;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)p->ref);
	sqlite3_bind_text(st, 2, it->school, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seen = (uint64_t)sqlite3_column_int64(st, 8);

		r->inventory_id = (int64_t)p->ref;
		snprintf(r->room, sizeof(r->room), "%s",
		    sqlite3_column_text(st, 0));
		snprintf(r->switch_name, sizeof(r->switch_name), "%s",
		    sqlite3_column_text(st, 1));
		snprintf(r->port, sizeof(r->port), "%s",
		    sqlite3_column_text(st, 2));
		r->port_id = sqlite3_column_int64(st, 3);
		/* Fresh relative to the check; a poll newer than the check
		 * (a replayed backlog) is as good as one at its time. */
		port_obs_from_row(st, 4, seen > p->t_ms ? seen : p->t_ms,
		    &r->obs);
		policy_eval_port(pc, ROLE_RECORDING, &r->obs, &r->verdict);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
db_store_host(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t now, const struct policy_conf *pc,
    struct recording_obs *r)
{
	const struct wire_probe *p = &it->probe;
	struct recording_span last = {0};
	bool have_last = false;
	int64_t last_id = 0;
	sqlite3_stmt *st;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = seq_begin(w, ag, it, p->t_ms, now)) <= 0)
		return rc;
	if ((rc = recording_room(w, it, pc, r)) < 0)
		return -1;
	if (rc == 0) {
		unknown_room(w, it);
		return seq_end(w, ag, it, p->t_ms) == 0 ? 1 : -1;
	}
	r->host_ok = p->host.ok == 1;
	r->available = policy_recording_available(r->host_ok,
	    r->verdict.verdict);

	st = w->st[ST_REC_LAST];
	sqlite3_bind_int64(st, 1, r->inventory_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		have_last = true;
		last_id = sqlite3_column_int64(st, 0);
		last.t_end = (uint64_t)sqlite3_column_int64(st, 1);
		last.host_ok = sqlite3_column_int(st, 2) != 0;
		last.available = sqlite3_column_int(st, 3) != 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	if (have_last && p->t_ms < last.t_end) {
		/* Older than what we hold (a clock set back): not stored. */
		return seq_end(w, ag, it, p->t_ms) == 0 ? 1 : -1;
	}
	r->current = true;
	if (policy_recording_extends(have_last ? &last : NULL, r->host_ok,
		r->available, p->t_ms, p->interval_ms)) {
		st = w->st[ST_REC_EXTEND];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)p->t_ms);
		sqlite3_bind_int64(st, 2, p->interval_ms);
		if (r->verdict.verdict != VERDICT_UNKNOWN)
			sqlite3_bind_int(st, 3,
			    r->verdict.verdict == VERDICT_OK);
		if (p->host.status)
			sqlite3_bind_int(st, 4, p->host.status);
		sqlite3_bind_int64(st, 5, p->host.time_ms);
		sqlite3_bind_text(st, 6, p->error, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, last_id);
	} else {
		st = w->st[ST_REC_ADD];
		sqlite3_bind_int64(st, 1, r->inventory_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)p->t_ms);
		sqlite3_bind_int64(st, 3, p->interval_ms);
		sqlite3_bind_int(st, 4, r->host_ok);
		if (r->verdict.verdict != VERDICT_UNKNOWN)
			sqlite3_bind_int(st, 5,
			    r->verdict.verdict == VERDICT_OK);
		sqlite3_bind_int(st, 6, r->available);
		if (p->host.status)
			sqlite3_bind_int(st, 7, p->host.status);
		sqlite3_bind_int64(st, 8, p->host.time_ms);
		sqlite3_bind_text(st, 9, p->error, -1, SQLITE_STATIC);
	}
	if (step_done(st) != 0 || seq_end(w, ag, it, p->t_ms) != 0)
		return -1;
	return 1;
}
