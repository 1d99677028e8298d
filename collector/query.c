/* query.c: read-only views of the database for the command line (JSON/text). */
#include <string.h>

#include <jansson.h>

#include "collector.h"
#include "schoolnet/calendar.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"


static json_t *
real_or_null(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_real(sqlite3_column_double(st, col));
}

static json_t *
int_or_null(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(st, col));
}

static const char *
text(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t ? (const char *)t : "";
}

int
print_listing(FILE *out, const char *key, json_t *rows)
{
	char stamp[32];
	json_t *top;

	time_iso8601(time_now_ms(), stamp, sizeof(stamp));
	top = json_pack("{s:s, s:o}", "generated_at", stamp, key, rows);
	json_dumpf(top, out, JSON_INDENT(2));
	fputc('\n', out);
	json_decref(top);
	return 0;
}

/* Prepare a listing's statement, with --school (or NULL) as ?1; says
 * why on failure. */
static int
prepare(sqlite3 *db, const char *sql, const char *school, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
		fprintf(stderr, "schoolnet-collector: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	if (school)
		sqlite3_bind_text(*st, 1, school, -1, SQLITE_STATIC);
	return 0;
}

/* End a listing: report a failed step, else print rows as {key: rows}. */
static int
finish(sqlite3 *db, sqlite3_stmt *st, int rc, const char *key, json_t *rows,
    bool json, FILE *out)
{
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "schoolnet-collector: %s\n", sqlite3_errmsg(db));
		json_decref(rows);
		return 1;
	}
	if (json)
		return print_listing(out, key, rows);
	json_decref(rows);
	return 0;
}

static const char *
poll_status_name(int status)
{
	switch (status) {
	case WIRE_POLL_OK:
		return "ok";
	case WIRE_POLL_TIMEOUT:
		return "timeout";
	}
	return "error";
}

/* Policy inputs from a row whose columns start at `col`: admin, oper,
 * speed, duplex, last_seen, in_errors, out_errors, poll_interval. */
void
port_obs_from_row(sqlite3_stmt *st, int col, uint64_t now, struct port_obs *o)
{
	uint64_t last = (uint64_t)sqlite3_column_int64(st, col + 4);
	double interval = sqlite3_column_double(st, col + 7);

	memset(o, 0, sizeof(*o));
	o->fresh = sqlite3_column_type(st, col + 4) != SQLITE_NULL &&
	    now - last <= (uint64_t)(interval * 1000 * FRESH_INTERVALS) + 1000;
	o->admin = sqlite3_column_int(st, col);
	o->oper = sqlite3_column_int(st, col + 1);
	o->speed_mbps = (uint32_t)sqlite3_column_int64(st, col + 2);
	o->duplex = sqlite3_column_int(st, col + 3);
	if (sqlite3_column_type(st, col + 5) != SQLITE_NULL && interval > 0) {
		o->have_errors = true;
		o->errors_per_min = (double)(sqlite3_column_int64(st, col + 5) +
					 sqlite3_column_int64(st, col + 6)) *
		    60.0 / interval;
	}
}

static json_t *
reasons_json(unsigned reasons, enum port_role role)
{
	json_t *a = json_array();

	for (unsigned r = REASON_DOWN; r <= REASON_ERRORS; r <<= 1)
		if (reasons & r)
			json_array_append_new(a,
			    json_string(policy_cause(role, r)));
	return a;
}

/*
 * The port_map view for ?1's school (all when NULL), as a WITH table pm:
 * its two cases (the port's ifName; else its ifDescr when no port has that
 * ifName) as two indexed lookups with the school inside them. Through the
 * view SQLite works out every school's mapping first: 110-300 ms for a
 * county against 10-60 (bench/api_bench.py). The same rows.
 */
#define PORT_MAP_OF_SCHOOL                                                    \
	"WITH pm(port_id, inventory_id, school_code, role, room) AS ("        \
	" SELECT p.id, i.id, i.school_code, i.role, i.room FROM inventory i"  \
	"  JOIN agents a ON a.school = i.school_code"                         \
	"  JOIN switches s ON s.agent_id = a.id AND s.name = i.switch"        \
	"  JOIN ports p ON p.switch_id = s.id AND p.if_name = i.port"         \
	"  WHERE i.valid_to IS NULL AND (?1 IS NULL OR i.school_code = ?1)"   \
	" UNION ALL"                                                          \
	" SELECT p.id, i.id, i.school_code, i.role, i.room FROM inventory i"  \
	"  JOIN agents a ON a.school = i.school_code"                         \
	"  JOIN switches s ON s.agent_id = a.id AND s.name = i.switch"        \
	"  JOIN ports p ON p.switch_id = s.id AND p.if_descr = i.port"        \
	"  WHERE i.valid_to IS NULL AND (?1 IS NULL OR i.school_code = ?1)"   \
	"  AND NOT EXISTS (SELECT 1 FROM ports q WHERE q.switch_id = s.id"    \
	"   AND q.if_name = i.port))"

int
query_ports(sqlite3 *db, const struct policy_conf *pc, const char *school,
    bool json, FILE *out)
{
	static const char sql[] =
	    PORT_MAP_OF_SCHOOL
	    " SELECT a.school, a.name, s.name, p.if_index, p.if_name,"
	    " p.if_descr, p.if_alias, p.if_type,"
	    " p.admin, p.oper, p.speed_mbps, p.duplex, p.last_seen,"
	    " p.in_errors, p.out_errors, s.poll_interval,"
	    " p.since, p.in_bps, p.out_bps, p.in_discards, p.out_discards,"
	    " m.role, m.room, sc.name, sc.town"
	    " FROM ports p JOIN switches s ON s.id = p.switch_id"
	    " JOIN agents a ON a.id = s.agent_id"
	    " LEFT JOIN pm m ON m.port_id = p.id"
	    " LEFT JOIN schools sc ON sc.code = m.school_code"
	    " WHERE ?1 IS NULL OR a.school = ?1"
	    " ORDER BY a.school, a.name, s.name, p.if_index";
	uint64_t now = time_now_ms();
	json_t *rows = json_array();
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, school, &st) != 0) {
		json_decref(rows);
		return 1;
	}
	if (!json)
		fprintf(out, "%-8s %-10s %-24s %-5s %7s %-6s %-10s %-10s %s\n",
		    "school", "switch", "port", "oper", "Mbps", "duplex",
		    "role", "state", "room / why");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum port_role role =
		    policy_role((const char *)sqlite3_column_text(st, 21));
		bool mapped = sqlite3_column_type(st, 21) != SQLITE_NULL;
		struct port_verdict v;
		struct port_obs o;
		char why[160];

		port_obs_from_row(st, 8, now, &o);
		policy_eval_port(pc, role, &o, &v);
		policy_reasons_text(&v, &o, why, sizeof(why));
		if (!json) {
			fprintf(out, "%-8s %-10s %-24s %-5s %7lld %-6s %-10s %-10s "
			       "%s%s%s\n",
			    text(st, 0), text(st, 2),
			    *text(st, 4) ? text(st, 4) : text(st, 5),
			    wire_oper_name(o.oper), (long long)o.speed_mbps,
			    wire_duplex_name(o.duplex),
			    mapped ? policy_role_name(role) : "-",
			    mapped ? verdict_name(v.verdict)
				   : (o.fresh ? "" : "stale"),
			    mapped ? text(st, 22) : "",
			    mapped && v.verdict != VERDICT_OK ? ": " : "",
			    mapped && v.verdict != VERDICT_OK ? why : "");
			continue;
		}
		json_array_append_new(rows,
		    json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:i,"
			      " s:s, s:s, s:I, s:s, s:o, s:o, s:b, s:o, s:o,"
			      " s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o,"
			      " s:o, s:o, s:o}",
			"school", text(st, 0), "agent", text(st, 1), "switch",
			text(st, 2), "if_index",
			(json_int_t)sqlite3_column_int64(st, 3), "if_name",
			text(st, 4), "if_descr", text(st, 5), "if_alias",
			text(st, 6), "if_type", sqlite3_column_int(st, 7),
			"admin", wire_oper_name(o.admin), "oper",
			wire_oper_name(o.oper), "speed_mbps",
			(json_int_t)o.speed_mbps, "duplex",
			wire_duplex_name(o.duplex), "since",
			db_col_time(st, 16), "last_seen", db_col_time(st, 12),
			"fresh", o.fresh, "in_bps", real_or_null(st, 17),
			"out_bps", real_or_null(st, 18), "in_errors",
			int_or_null(st, 13), "out_errors", int_or_null(st, 14),
			"in_discards", int_or_null(st, 19), "out_discards",
			int_or_null(st, 20), "mapped", mapped, "role",
			mapped ? json_string(policy_role_name(role)) : json_null(),
			"room", mapped ? json_string(text(st, 22)) : json_null(),
			"school_name",
			mapped ? json_string(text(st, 23)) : json_null(),
			"town", mapped ? json_string(text(st, 24)) : json_null(),
			"state",
			mapped ? json_string(verdict_name(v.verdict))
			       : json_null(),
			"reasons",
			mapped ? reasons_json(v.reasons, role) : json_null(),
			"target_mbps",
			mapped ? json_integer(v.target_mbps) : json_null()));
	}
	return finish(db, st, rc, "ports", rows, json, out);
}

int
query_switches(sqlite3 *db, const char *school, bool json, FILE *out)
{
	static const char sql[] =
	    "SELECT a.school, a.name, s.name, s.address, s.status, s.error,"
	    " s.last_poll, s.last_ok, s.sys_uptime, s.pdus, s.duration_ms,"
	    " (SELECT count(*) FROM ports p WHERE p.switch_id = s.id)"
	    " FROM switches s JOIN agents a ON a.id = s.agent_id"
	    " WHERE ?1 IS NULL OR a.school = ?1"
	    " ORDER BY a.school, a.name, s.name";
	json_t *rows = json_array();
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, school, &st) != 0) {
		json_decref(rows);
		return 1;
	}
	if (!json)
		fprintf(out, "%-8s %-12s %-22s %-8s %5s %6s  %-20s  %s\n", "school",
		    "switch", "address", "status", "ports", "ms", "last poll",
		    "error");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char seen[32];

		if (!json) {
			time_iso8601((uint64_t)sqlite3_column_int64(st, 6), seen,
			    sizeof(seen));
			fprintf(out, "%-8s %-12s %-22s %-8s %5lld %6lld  %-20s  %s\n",
			    text(st, 0), text(st, 2), text(st, 3),
			    poll_status_name(sqlite3_column_int(st, 4)),
			    sqlite3_column_int64(st, 11),
			    sqlite3_column_int64(st, 10), seen, text(st, 5));
			continue;
		}
		json_array_append_new(rows,
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o,"
			      " s:o, s:o, s:I}",
			"school", text(st, 0), "agent", text(st, 1), "switch",
			text(st, 2), "address", text(st, 3), "status",
			poll_status_name(sqlite3_column_int(st, 4)), "error",
			text(st, 5), "last_poll", db_col_time(st, 6), "last_ok",
			db_col_time(st, 7), "sys_uptime", int_or_null(st, 8),
			"pdus", int_or_null(st, 9), "duration_ms",
			int_or_null(st, 10), "ports",
			(json_int_t)sqlite3_column_int64(st, 11)));
	}
	return finish(db, st, rc, "switches", rows, json, out);
}


static json_t *
tally_json(const struct verdict_tally *t)
{
	return json_pack("{s:i, s:i, s:i, s:i}", "total", t->total, "ok",
	    t->ok, "below", t->below, "unknown", t->unknown);
}

/* Meets a target: true, false, or null when the data cannot tell. */
static json_t *
meets_json(const struct verdict_tally *t)
{
	if (t->total == 0)
		return json_null();
	if (t->below > 0)
		return json_false();
	return t->unknown > 0 ? json_null() : json_true();
}

struct school_acc {
	char code[64];
	json_t *obj, *rooms;
	struct verdict_tally uplink, classrooms, recording;
	bool town_seat, brief;
	int open_alerts;
};

/*
 * The probes' figures of one school, asked per school (two indexed lookups
 * each, and none for a school without recording rooms) rather than joined
 * to every inventory row of the listing.
 */
struct school_probes {
	sqlite3_stmt *tp, *rec;
	uint64_t now;
};

static const char school_tp_sql[] =
    "SELECT id, finished_ms, down_mbps, up_mbps, uplink_mbps"
    " FROM probe_throughput WHERE school_code = ?1 AND state = 'done'"
    " ORDER BY requested_ms DESC LIMIT 1";
/* A room's newest interval counts while it is fresh (2.5 of its check
 * intervals); else, or with no interval, the room is unknown. */
static const char school_rec_sql[] =
    "SELECT count(*), coalesce(sum(avail = 1), 0), coalesce(sum(avail IS"
    " NULL), 0) FROM (SELECT (SELECT CASE WHEN ?2 <= r.t_end +"
    "  r.interval_ms * 2.5 + 1000 THEN r.available END"
    "  FROM recording_state r WHERE r.inventory_id = i.id"
    "  ORDER BY r.t_start DESC LIMIT 1) AS avail"
    " FROM inventory i WHERE i.school_code = ?1 AND i.role = 'recording'"
    "  AND i.valid_to IS NULL)";

/* The school's latest done throughput test, or JSON null. */
static json_t *
school_throughput(struct school_probes *q, const char *code)
{
	sqlite3_stmt *st = q->tp;
	json_t *o = json_null();

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = json_pack("{s:I, s:o, s:o, s:o, s:o}", "id",
		    (json_int_t)sqlite3_column_int64(st, 0), "at",
		    db_col_time(st, 1), "down_mbps", real_or_null(st, 2),
		    "up_mbps", real_or_null(st, 3), "uplink_mbps",
		    int_or_null(st, 4));
	sqlite3_reset(st);
	return o;
}

/* {rooms, available, unknown} of the school's recording rooms. */
static json_t *
school_recording(struct school_probes *q, const char *code, int rooms)
{
	sqlite3_stmt *st = q->rec;
	json_int_t n[3] = {0, 0, 0};

	if (rooms > 0) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)q->now);
		if (sqlite3_step(st) == SQLITE_ROW)
			for (int i = 0; i < 3; i++)
				n[i] = sqlite3_column_int64(st, i);
		sqlite3_reset(st);
	}
	return json_pack("{s:I, s:I, s:I}", "rooms", n[0], "available", n[1],
	    "unknown", n[2]);
}

static void
school_finish(struct school_acc *a, struct school_probes *q, json_t *rows,
    bool json, FILE *out)
{
	const char *state;
	bool gap = a->town_seat && a->recording.total == 0;

	if (a->obj == NULL)
		return;
	if (a->uplink.below + a->classrooms.below + a->recording.below > 0)
		state = "below";
	else if (a->uplink.unknown + a->classrooms.unknown +
		a->recording.unknown > 0 ||
	    a->uplink.total == 0)
		state = "unknown";
	else
		state = "ok";
	if (json) {
		json_object_set_new(a->obj, "state", json_string(state));
		json_object_set_new(a->obj, "meets_gigabit_uplink",
		    meets_json(&a->uplink));
		json_object_set_new(a->obj, "meets_100m_classrooms",
		    meets_json(&a->classrooms));
		json_object_set_new(a->obj, "uplinks", tally_json(&a->uplink));
		json_object_set_new(a->obj, "classrooms",
		    tally_json(&a->classrooms));
		json_object_set_new(a->obj, "recording_rooms",
		    tally_json(&a->recording));
		json_object_set_new(a->obj, "recording_gap", json_boolean(gap));
		json_object_set_new(a->obj, "open_alerts",
		    json_integer(a->open_alerts));
		json_object_set_new(a->obj, "throughput",
		    school_throughput(q, a->code));
		json_object_set_new(a->obj, "recording",
		    school_recording(q, a->code, a->recording.total));
		if (a->brief)
			json_decref(a->rooms);
		else
			json_object_set_new(a->obj, "rooms", a->rooms);
		json_array_append_new(rows, a->obj);
	} else {
		json_t *rec = school_recording(q, a->code, a->recording.total);
		json_int_t rooms = json_integer_value(
		    json_object_get(rec, "rooms"));
		char avail[48] = "";

		/* Where recording hosts are checked: how many are available. */
		if (rooms > json_integer_value(json_object_get(rec, "unknown")))
			snprintf(avail, sizeof(avail), ", %lld/%lld available",
			    (long long)json_integer_value(
				json_object_get(rec, "available")),
			    (long long)rooms);
		json_decref(rec);
		fprintf(out, "%-8s %-7s %-8s uplink %-7s  classrooms %3d/%-3d ok  "
		       "recording %d/%d ok%s%s  alerts %d  %s\n",
		    a->code, state,
		    json_string_value(json_object_get(a->obj, "town")),
		    a->uplink.total == 0 ? "none"
		    : a->uplink.ok == a->uplink.total ? "ok"
		    : a->uplink.below		      ? "below"
						      : "unknown",
		    a->classrooms.ok, a->classrooms.total, a->recording.ok,
		    a->recording.total, avail, gap ? " (录播室 missing)" : "",
		    a->open_alerts,
		    json_string_value(json_object_get(a->obj, "name")));
		json_decref(a->obj);
		json_decref(a->rooms);
	}
	a->obj = a->rooms = NULL;
}

int
query_schools(sqlite3 *db, const struct policy_conf *pc, const char *school,
    bool json, bool rooms, FILE *out)
{
	/* The dashboard polls this: open alerts are counted once per
	 * school, not once per row (70 ms instead of 280 for a county). */
	static const char sql[] =
	    PORT_MAP_OF_SCHOOL ","
	    " oa(school_code, n) AS (SELECT school_code, count(*) FROM alerts"
	    "  WHERE cleared_at IS NULL GROUP BY 1)"
	    "SELECT sc.code, sc.name, sc.town, sc.type, sc.town_seat,"
	    " i.role, i.room, i.switch, i.port,"
	    " p.admin, p.oper, p.speed_mbps, p.duplex, p.last_seen,"
	    " p.in_errors, p.out_errors, s.poll_interval, coalesce(oa.n, 0)"
	    " FROM schools sc"
	    " LEFT JOIN inventory i ON i.school_code = sc.code"
	    "  AND i.valid_to IS NULL"
	    " LEFT JOIN pm m ON m.inventory_id = i.id"
	    " LEFT JOIN ports p ON p.id = m.port_id"
	    " LEFT JOIN switches s ON s.id = p.switch_id"
	    " LEFT JOIN oa ON oa.school_code = sc.code"
	    " WHERE sc.removed_at IS NULL AND (?1 IS NULL OR sc.code = ?1)"
	    " ORDER BY sc.town, sc.code, CASE i.role WHEN 'uplink' THEN 0"
	    "  WHEN 'recording' THEN 1 ELSE 2 END, i.room";
	uint64_t now = time_now_ms();
	json_t *rows = json_array();
	struct school_probes q = {.now = now};
	struct school_acc acc;
	sqlite3_stmt *st;
	int rc;

	memset(&acc, 0, sizeof(acc));
	if ((json && prepare(db, school_tp_sql, NULL, &q.tp) != 0) ||
	    prepare(db, school_rec_sql, NULL, &q.rec) != 0) {
		sqlite3_finalize(q.tp);
		json_decref(rows);
		return 1;
	}
	if (prepare(db, sql, school, &st) != 0) {
		sqlite3_finalize(q.tp);
		sqlite3_finalize(q.rec);
		json_decref(rows);
		return 1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum port_role role;
		struct port_verdict v;
		struct port_obs o;

		if (acc.obj == NULL || strcmp(acc.code, text(st, 0)) != 0) {
			school_finish(&acc, &q, rows, json, out);
			memset(&acc, 0, sizeof(acc));
			snprintf(acc.code, sizeof(acc.code), "%s", text(st, 0));
			acc.town_seat = sqlite3_column_int(st, 4) != 0;
			acc.brief = !rooms;
			acc.open_alerts = sqlite3_column_int(st, 17);
			acc.obj = json_pack("{s:s, s:s, s:s, s:s, s:b}", "code",
			    text(st, 0), "name", text(st, 1), "town",
			    text(st, 2), "type", text(st, 3), "town_seat",
			    acc.town_seat);
			acc.rooms = json_array();
		}
		if (sqlite3_column_type(st, 5) == SQLITE_NULL)
			continue; /* a school with no inventory rows */
		role = policy_role(text(st, 5));
		port_obs_from_row(st, 9, now, &o);
		policy_eval_port(pc, role, &o, &v);
		verdict_tally_add(role == ROLE_UPLINK	   ? &acc.uplink
			  : role == ROLE_RECORDING ? &acc.recording
						   : &acc.classrooms,
		    v.verdict);
		json_array_append_new(acc.rooms,
		    json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o, s:o, s:o,"
			      " s:I}",
			"role", policy_role_name(role), "room", text(st, 6),
			"switch", text(st, 7), "port", text(st, 8), "seen",
			sqlite3_column_type(st, 13) != SQLITE_NULL, "state",
			verdict_name(v.verdict), "reasons",
			reasons_json(v.reasons, role), "speed_mbps",
			sqlite3_column_type(st, 11) == SQLITE_NULL
			    ? json_null()
			    : json_integer(o.speed_mbps),
			"duplex",
			sqlite3_column_type(st, 12) == SQLITE_NULL
			    ? json_null()
			    : json_string(wire_duplex_name(o.duplex)),
			"target_mbps", (json_int_t)v.target_mbps));
	}
	school_finish(&acc, &q, rows, json, out);
	sqlite3_finalize(q.tp);
	sqlite3_finalize(q.rec);
	return finish(db, st, rc, "schools", rows, json, out);
}

int
query_alerts(sqlite3 *db, const char *school, bool open_only, int limit,
    bool json, FILE *out)
{
	static const char sql[] =
	    "SELECT a.id, a.cause, a.role, a.school_code, sc.name, sc.town,"
	    " a.room, a.agent, a.switch, a.port, a.since, a.opened_at,"
	    " a.cleared_at, a.speed_mbps, a.target_mbps, a.errors_per_min,"
	    " a.detail, a.flapping, a.suppressed, a.acked_by, a.acked_at,"
	    " (SELECT count(*) FROM outbox o WHERE o.alert_id = a.id"
	    "  AND o.sent_at IS NOT NULL),"
	    " (SELECT count(*) FROM outbox o WHERE o.alert_id = a.id"
	    "  AND o.sent_at IS NULL AND o.failed_at IS NULL),"
	    " (SELECT count(*) FROM outbox o WHERE o.alert_id = a.id"
	    "  AND o.failed_at IS NOT NULL)"
	    " FROM alerts a LEFT JOIN schools sc ON sc.code = a.school_code"
	    " WHERE (?1 IS NULL OR a.school_code = ?1)"
	    " AND (?2 = 0 OR a.cleared_at IS NULL)"
	    " ORDER BY a.opened_at DESC, a.id DESC LIMIT ?3";
	json_t *rows = json_array();
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, school, &st) != 0) {
		json_decref(rows);
		return 1;
	}
	sqlite3_bind_int(st, 2, open_only);
	sqlite3_bind_int(st, 3, limit > 0 && limit < ALERTS_LIST_MAX ? limit
								: ALERTS_LIST_MAX);
	if (!json)
		fprintf(out, "%6s %-6s %-21s %-8s %-24s %-20s %s\n", "id", "state",
		    "cause", "school", "port", "since",
		    "room (acknowledged by)");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		bool open = sqlite3_column_type(st, 12) == SQLITE_NULL;
		char since[32];

		if (!json) {
			time_iso8601((uint64_t)sqlite3_column_int64(st, 10),
			    since, sizeof(since));
			/* Free text last: Chinese names break columns. */
			fprintf(out, "%6lld %-6s %-21s %-8s %-24s %-20s %s%s%s%s\n",
			    sqlite3_column_int64(st, 0),
			    open ? "open" : "closed", text(st, 1), text(st, 3),
			    *text(st, 9) ? text(st, 9) : text(st, 8), since,
			    text(st, 6), *text(st, 19) ? " (" : "",
			    text(st, 19), *text(st, 19) ? ")" : "");
			continue;
		}
		json_array_append_new(rows,
		    json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
			      " s:s, s:s, s:o, s:o, s:o, s:b, s:o, s:o, s:o,"
			      " s:s, s:b, s:b, s:o, s:o, s:{s:i, s:i, s:i}}",
			"id", (json_int_t)sqlite3_column_int64(st, 0), "state",
			open ? "open" : "closed", "cause", text(st, 1), "role",
			text(st, 2), "school", text(st, 3), "school_name",
			text(st, 4), "town", text(st, 5), "room", text(st, 6),
			"agent", text(st, 7), "switch", text(st, 8), "port",
			text(st, 9), "since", db_col_time(st, 10), "opened_at",
			db_col_time(st, 11), "cleared_at", db_col_time(st, 12),
			"open", open, "speed_mbps", int_or_null(st, 13),
			"target_mbps", int_or_null(st, 14), "errors_per_min",
			real_or_null(st, 15), "detail", text(st, 16),
			"flapping", sqlite3_column_int(st, 17) != 0,
			"suppressed", sqlite3_column_int(st, 18) != 0,
			"acknowledged_by",
			sqlite3_column_type(st, 19) == SQLITE_NULL
			    ? json_null()
			    : json_string(text(st, 19)),
			"acknowledged_at", db_col_time(st, 20),
			"notifications", "sent", sqlite3_column_int(st, 21),
			"pending", sqlite3_column_int(st, 22), "failed",
			sqlite3_column_int(st, 23)));
	}
	return finish(db, st, rc, "alerts", rows, json, out);
}

int
query_agents(sqlite3 *db, const char *school, bool json, FILE *out)
{
	static const char sql[] =
	    "SELECT a.name, a.school, a.peer, a.software, a.epoch, a.last_seq,"
	    " a.last_heard, a.dropped, a.spool_pending,"
	    " (SELECT max(poll_interval) FROM switches s WHERE s.agent_id = a.id)"
	    " FROM agents a WHERE ?1 IS NULL OR a.school = ?1"
	    " ORDER BY a.school, a.name";
	uint64_t now = time_now_ms();
	json_t *rows = json_array();
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, school, &st) != 0) {
		json_decref(rows);
		return 1;
	}
	if (!json)
		fprintf(out, "%-10s %-8s %-8s %10s %8s %8s  %-20s %s\n", "agent",
		    "school", "state", "last seq", "dropped", "spooled",
		    "last heard", "from");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		double interval = sqlite3_column_double(st, 9);
		uint64_t heard = (uint64_t)sqlite3_column_int64(st, 6);
		/* Heard within 2.5 poll intervals: reporting. */
		bool live = sqlite3_column_type(st, 6) != SQLITE_NULL &&
		    now - heard <= (uint64_t)((interval > 0 ? interval : 60) *
		    1000 * FRESH_INTERVALS) + 1000;
		char seen[32];

		if (!json) {
			time_iso8601(heard, seen, sizeof(seen));
			fprintf(out, "%-10s %-8s %-8s %10lld %8lld %8lld  %-20s %s\n",
			    text(st, 0), text(st, 1),
			    live ? "reporting" : "silent",
			    sqlite3_column_int64(st, 5),
			    sqlite3_column_int64(st, 7),
			    sqlite3_column_int64(st, 8), seen, text(st, 2));
			continue;
		}
		json_array_append_new(rows,
		    json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:o, s:I,"
			      " s:o}",
			"name", text(st, 0), "school", text(st, 1), "reporting",
			live, "peer", text(st, 2), "software", text(st, 3),
			"epoch", text(st, 4), "last_seq",
			(json_int_t)sqlite3_column_int64(st, 5), "last_heard",
			db_col_time(st, 6), "dropped",
			(json_int_t)sqlite3_column_int64(st, 7), "spool_pending",
			int_or_null(st, 8)));
	}
	return finish(db, st, rc, "agents", rows, json, out);
}

/*
 * Through probe_last: one row per (agent, label), its newest round. A
 * round is fresh while the next is not overdue (2.5 of its intervals).
 */
int
query_probes(sqlite3 *db, const char *school, bool json, FILE *out)
{
	static const char sql[] =
	    "SELECT p.school, a.name, p.label, p.target, p.t_ms, p.interval_ms,"
	    " p.sent, p.answered, p.rtt_min_us, p.rtt_avg_us, p.rtt_max_us,"
	    " p.jitter_us, p.error"
	    " FROM probe_last l JOIN agents a ON a.id = l.agent_id"
	    " JOIN probe_latency p ON p.agent_id = l.agent_id"
	    "  AND p.label = l.label AND p.t_ms = l.t_ms"
	    " WHERE ?1 IS NULL OR p.school = ?1"
	    " GROUP BY l.agent_id, l.label" /* two rounds in one ms */
	    " ORDER BY p.school, p.label, a.name";
	uint64_t now = time_now_ms();
	json_t *rows = json_array();
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, school, &st) != 0) {
		json_decref(rows);
		return 1;
	}
	if (!json)
		fprintf(out, "%-8s %-10s %-12s %-24s %-20s %7s %6s  %s\n",
		    "school", "agent", "label", "target", "time", "answer",
		    "loss", "rtt avg (min..max), jitter");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t t = (uint64_t)sqlite3_column_int64(st, 4);
		int64_t interval = sqlite3_column_int64(st, 5);
		int64_t sent = sqlite3_column_int64(st, 6);
		int64_t answered = sqlite3_column_int64(st, 7);
		bool fresh = now < t ||
		    now - t <= (uint64_t)((double)interval * FRESH_INTERVALS) +
			1000;
		double loss = sent > 0 ? 100.0 * (double)(sent - answered) /
			(double)sent : 0;
		char when[32], rtt[96] = "-";

		if (!json) {
			time_iso8601(t, when, sizeof(when));
			if (answered > 0)
				snprintf(rtt, sizeof(rtt),
				    "%.1f ms (%.1f..%.1f), %s%.1f ms",
				    sqlite3_column_int64(st, 9) / 1000.0,
				    sqlite3_column_int64(st, 8) / 1000.0,
				    sqlite3_column_int64(st, 10) / 1000.0,
				    answered > 1 ? "" : "no jitter ",
				    sqlite3_column_int64(st, 11) / 1000.0);
			fprintf(out, "%-8s %-10s %-12s %-24s %-20s %3lld/%-3lld "
				     "%5.1f%%  %s%s%s%s\n",
			    text(st, 0), text(st, 1), text(st, 2), text(st, 3),
			    when, (long long)answered, (long long)sent, loss,
			    rtt, fresh ? "" : " (stale)",
			    *text(st, 12) ? "; " : "", text(st, 12));
			continue;
		}
		json_array_append_new(rows,
		    json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:b, s:I, s:I,"
			      " s:o, s:o, s:o, s:o, s:o, s:s}",
			"school", text(st, 0), "agent", text(st, 1), "label",
			text(st, 2), "target", text(st, 3), "time",
			db_col_time(st, 4), "interval_s",
			(json_int_t)(interval / 1000), "fresh", fresh, "sent",
			(json_int_t)sent, "answered", (json_int_t)answered,
			"loss_pct", sent > 0 ? json_real(loss) : json_null(),
			"rtt_min_us", int_or_null(st, 8), "rtt_avg_us",
			int_or_null(st, 9), "rtt_max_us", int_or_null(st, 10),
			"jitter_us", int_or_null(st, 11), "error",
			text(st, 12)));
	}
	return finish(db, st, rc, "probes", rows, json, out);
}

/* The newest port of that name on the school's switches; 0 if none. */
static int64_t
history_port(sqlite3 *db, const struct history_args *a)
{
	sqlite3_stmt *st;
	int64_t id = 0;

	if (sqlite3_prepare_v2(db,
		"SELECT p.id FROM ports p JOIN switches s ON s.id = p.switch_id"
		" JOIN agents ag ON ag.id = s.agent_id"
		" WHERE ag.school = ? AND s.name = ? AND p.if_index = ?"
		" ORDER BY p.last_seen DESC LIMIT 1",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, a->school, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->sw, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, a->if_index);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		id = sqlite3_column_int64(st, 0);
		break;
	case SQLITE_DONE:
		break;
	default:
		id = -1;
	}
	sqlite3_finalize(st);
	return id;
}

static json_t *
state_row(sqlite3_stmt *st, const struct history_args *a)
{
	(void)a;
	return json_pack("{s:o, s:o, s:s, s:s, s:o, s:s}", "from",
	    db_col_time(st, 0), "to", db_col_time(st, 1), "admin",
	    wire_oper_name(sqlite3_column_int(st, 2)), "oper",
	    wire_oper_name(sqlite3_column_int(st, 3)), "speed_mbps",
	    int_or_null(st, 4), "duplex",
	    wire_duplex_name(sqlite3_column_int(st, 5)));
}

static json_t *
rate_row(sqlite3_stmt *st, const struct history_args *a)
{
	char t[32];

	time_iso8601(a->from + (uint64_t)sqlite3_column_int64(st, 0) * a->step,
	    t, sizeof(t));
	return json_pack("{s:s, s:f, s:f, s:f, s:f, s:I, s:I}", "t", t,
	    "in_bps", sqlite3_column_double(st, 1), "out_bps",
	    sqlite3_column_double(st, 2), "in_bps_max",
	    sqlite3_column_double(st, 3), "out_bps_max",
	    sqlite3_column_double(st, 4), "in_errors",
	    (json_int_t)sqlite3_column_int64(st, 5), "out_errors",
	    (json_int_t)sqlite3_column_int64(st, 6));
}

/* The rows of sql (?1 port, ?2 from, ?3 to, ?4 step), each made by row. */
static json_t *
history_rows(sqlite3 *db, const char *sql, int64_t port,
    const struct history_args *a,
    json_t *(*row)(sqlite3_stmt *, const struct history_args *))
{
	json_t *rows = json_array();
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		json_decref(rows);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, port);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)a->from);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)a->to);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)a->step);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(rows, row(st, a));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(rows);
		return NULL;
	}
	return rows;
}

/*
 * The state intervals that overlap [from, to): those that start in it, and
 * the one before it if it reaches in (a port's intervals do not overlap),
 * so that the index is read from `from` on only. The newest
 * HISTORY_STATES_MAX + 1, oldest first: one more than is shown tells that
 * older ones were left out.
 */
#define HISTORY_STATES_MAX 10000
static const char states_sql[] =
    "SELECT * FROM ("
    " SELECT t_start, t_end, admin, oper, speed_mbps, duplex"
    "  FROM port_state WHERE port_id = ?1 AND t_start >= ?2 AND t_start < ?3"
    " UNION ALL SELECT * FROM ("
    "  SELECT t_start, t_end, admin, oper, speed_mbps, duplex"
    "  FROM port_state WHERE port_id = ?1 AND t_start < ?2"
    "  ORDER BY t_start DESC LIMIT 1) WHERE t_end > ?2"
    " ORDER BY t_start DESC LIMIT 10001) WHERE ?4 > 0 ORDER BY t_start";

/*
 * Rates in buckets of step ms from `from`: bit rates averaged over the
 * time each sample covers, their peaks, and error counts summed. A sample
 * counts in the bucket its end falls in, (from + k step, from + (k+1)
 * step]. A bucket with no sample is left out (a gap, not a zero).
 */
static const char rates_sql[] =
    "SELECT (t_end - 1 - ?2) / ?4,"
    " sum(in_bps * (t_end - t_start)) / max(sum(t_end - t_start), 1),"
    " sum(out_bps * (t_end - t_start)) / max(sum(t_end - t_start), 1),"
    " max(in_bps), max(out_bps), sum(in_errors), sum(out_errors)"
    " FROM port_rates WHERE port_id = ?1 AND t_end > ?2"
    " AND t_end <= ?3 GROUP BY 1 ORDER BY 1";

int
query_port_history(sqlite3 *db, const struct history_args *a, FILE *out)
{
	json_t *states = NULL, *rates = NULL, *top;
	bool truncated = false;
	char stamp[32], from[32], to[32];
	int64_t port = history_port(db, a);

	if (port <= 0)
		return port == 0 ? 1 : -1;
	if ((states = history_rows(db, states_sql, port, a, state_row)) ==
		NULL ||
	    (rates = history_rows(db, rates_sql, port, a, rate_row)) == NULL) {
		json_decref(states);
		return -1;
	}
	if (json_array_size(states) > HISTORY_STATES_MAX) {
		json_array_remove(states, 0); /* the oldest, to say so */
		truncated = true;
	}
	time_iso8601(time_now_ms(), stamp, sizeof(stamp));
	time_iso8601(a->from, from, sizeof(from));
	time_iso8601(a->to, to, sizeof(to));
	top = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:b, s:o, s:o}",
	    "generated_at", stamp, "school", a->school, "switch", a->sw,
	    "if_index", (json_int_t)a->if_index, "from", from, "to", to,
	    "step_s", (json_int_t)(a->step / 1000), "states_truncated",
	    truncated, "states", states, "rates", rates);
	if (top == NULL || json_dumpf(top, out, JSON_INDENT(1)) != 0) {
		json_decref(top);
		return -1;
	}
	fputc('\n', out);
	json_decref(top);
	return 0;
}

static void
tally_sum(json_t *sum, json_t *add)
{
	const char *key;
	json_t *v;

	json_object_foreach(add, key, v)
		json_object_set_new(sum, key,
		    json_integer(json_integer_value(json_object_get(sum, key)) +
			json_integer_value(v)));
}

/* A town's (or the district's) figures, empty. */
static json_t *
area_new(const char *town)
{
	json_t *a = json_object(), *figures = json_pack(
	    "{s:{s:i, s:i, s:i, s:i}, s:i, s:{s:i, s:i, s:i,"
			      " s:i}, s:{s:i, s:i, s:i, s:i}, s:i, s:i, s:i}",
	    "schools", "total", 0, "ok", 0, "below", 0, "unknown", 0,
	    "schools_below_1g", 0, "classrooms", "total", 0, "ok", 0, "below",
	    0, "unknown", 0, "recording_rooms", "total", 0, "ok", 0, "below",
	    0, "unknown", 0, "town_seat_schools", 0, "recording_gaps", 0,
	    "open_alerts", 0);

	if (town)
		json_object_set_new(a, "town", json_string(town));
	json_object_update(a, figures);
	json_decref(figures);
	return a;
}

static void
area_add(json_t *a, json_t *school)
{
	json_t *st = json_object_get(a, "schools");
	const char *state = json_string_value(json_object_get(school, "state"));
	struct {
		const char *key;
		bool yes;
	} counts[] = {
	    {"schools_below_1g",
		json_is_false(json_object_get(school, "meets_gigabit_uplink"))},
	    {"town_seat_schools",
		json_is_true(json_object_get(school, "town_seat"))},
	    {"recording_gaps",
		json_is_true(json_object_get(school, "recording_gap"))},
	};

	json_object_set_new(st, "total",
	    json_integer(json_integer_value(json_object_get(st, "total")) + 1));
	json_object_set_new(st, state,
	    json_integer(json_integer_value(json_object_get(st, state)) + 1));
	for (size_t i = 0; i < nitems(counts); i++)
		json_object_set_new(a, counts[i].key,
		    json_integer(json_integer_value(json_object_get(a,
				     counts[i].key)) +
			counts[i].yes));
	json_object_set_new(a, "open_alerts",
	    json_integer(json_integer_value(json_object_get(a, "open_alerts")) +
		json_integer_value(json_object_get(school, "open_alerts"))));
	tally_sum(json_object_get(a, "classrooms"),
	    json_object_get(school, "classrooms"));
	tally_sum(json_object_get(a, "recording_rooms"),
	    json_object_get(school, "recording_rooms"));
}

int
query_towns(sqlite3 *db, const struct policy_conf *pc, bool json, FILE *out)
{
	json_t *all, *towns = json_array(), *district = area_new(NULL), *top;
	json_error_t jerr;
	char *buf = NULL, stamp[32];
	size_t len = 0, i;
	FILE *m = open_memstream(&buf, &len);
	json_t *school;
	int rc;

	/* The schools' own listing, summed: the same states by definition. */
	rc = m == NULL || query_schools(db, pc, NULL, true, false, m) != 0;
	if (m)
		fclose(m);
	all = rc ? NULL : json_loadb(buf, len, 0, &jerr);
	free(buf);
	if (all == NULL) {
		json_decref(towns);
		json_decref(district);
		return 1;
	}
	json_array_foreach(json_object_get(all, "schools"), i, school) {
		const char *town =
		    json_string_value(json_object_get(school, "town"));
		size_t n = json_array_size(towns);
		json_t *t = n ? json_array_get(towns, n - 1) : NULL;

		/* schools come ordered by town */
		if (t == NULL || strcmp(json_string_value(json_object_get(t,
					    "town")),
				     town) != 0)
			json_array_append_new(towns, t = area_new(town));
		area_add(t, school);
		area_add(district, school);
	}
	json_decref(all);
	if (json) {
		time_iso8601(time_now_ms(), stamp, sizeof(stamp));
		top = json_pack("{s:s, s:o, s:o}", "generated_at", stamp,
		    "district", district, "towns", towns);
		json_dumpf(top, out, JSON_INDENT(2));
		fputc('\n', out);
		json_decref(top);
		return 0;
	}
	/* The town last: Chinese names break columns. */
	fprintf(out, "%7s %5s %5s %7s %10s %16s %11s  %s\n", "schools", "ok",
	    "below", "unknown", "uplink<1G", "classrooms<100M", "rec.gaps",
	    "town");
	json_array_append(towns, district);
	json_array_foreach(towns, i, school) {
		json_t *s = json_object_get(school, "schools");
		json_t *c = json_object_get(school, "classrooms");
		char cls[32];

		snprintf(cls, sizeof(cls), "%lld of %lld",
		    (long long)json_integer_value(json_object_get(c, "below")),
		    (long long)json_integer_value(json_object_get(c, "total")));
		fprintf(out, "%7lld %5lld %5lld %7lld %10lld %16s %11lld  %s\n",
		    (long long)json_integer_value(json_object_get(s, "total")),
		    (long long)json_integer_value(json_object_get(s, "ok")),
		    (long long)json_integer_value(json_object_get(s, "below")),
		    (long long)json_integer_value(json_object_get(s, "unknown")),
		    (long long)json_integer_value(json_object_get(school,
			"schools_below_1g")),
		    cls,
		    (long long)json_integer_value(json_object_get(school,
			"recording_gaps")),
		    json_object_get(school, "town")
			? json_string_value(json_object_get(school, "town"))
			: "(district)");
	}
	json_decref(towns);
	json_decref(district);
	return 0;
}

/* A listing's limit: def when 0, never more than max. */
static int
list_limit(int limit, int def, int max)
{
	return limit <= 0 ? def : limit < max ? limit : max;
}

static void
mbps_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.0f", sqlite3_column_double(st, col));
}

/* Throughput tests, newest first (ids grow with the requests). */
int
query_throughput(sqlite3 *db, const char *school, int limit, bool json,
    FILE *out)
{
	static const char sql[] =
	    "SELECT id, school_code, reason, requested_by, state,"
	    " requested_ms, started_ms, finished_ms, agent, down_mbps,"
	    " up_mbps, uplink_mbps, down_bytes, up_bytes, down_ms, up_ms,"
	    " served_bytes, max_bytes, max_ms, streams, error"
	    " FROM probe_throughput WHERE ?1 IS NULL OR school_code = ?1"
	    " ORDER BY id DESC LIMIT ?2";
	json_t *rows = json_array();
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, school, &st) != 0) {
		json_decref(rows);
		return 1;
	}
	sqlite3_bind_int(st, 2,
	    list_limit(limit, THROUGHPUT_LIST_DEFAULT, THROUGHPUT_LIST_MAX));
	if (!json)
		fprintf(out, "%6s %-8s %-8s %-9s %-20s %-20s %-10s %13s %6s "
			     "%8s %8s  %s\n",
		    "id", "school", "reason", "state", "requested", "finished",
		    "agent", "down/up Mbps", "uplink", "MB", "served", "error");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char req[32], fin[32] = "-", down[16], up[16], mbps[40];
		char link[16];

		if (!json) {
			time_iso8601((uint64_t)sqlite3_column_int64(st, 5), req,
			    sizeof(req));
			if (sqlite3_column_type(st, 7) != SQLITE_NULL)
				time_iso8601((uint64_t)sqlite3_column_int64(st,
						 7),
				    fin, sizeof(fin));
			mbps_text(st, 9, down, sizeof(down));
			mbps_text(st, 10, up, sizeof(up));
			mbps_text(st, 11, link, sizeof(link));
			snprintf(mbps, sizeof(mbps), "%s/%s", down, up);
			/* Free text last: it may be long. */
			fprintf(out, "%6lld %-8s %-8s %-9s %-20s %-20s %-10s "
				     "%13s %6s %8.1f %8.1f  %s\n",
			    sqlite3_column_int64(st, 0), text(st, 1),
			    text(st, 2), text(st, 4), req, fin,
			    *text(st, 8) ? text(st, 8) : "-", mbps, link,
			    (double)(sqlite3_column_int64(st, 12) +
				sqlite3_column_int64(st, 13)) / 1e6,
			    (double)sqlite3_column_int64(st, 16) / 1e6,
			    text(st, 20));
			continue;
		}
		json_array_append_new(rows,
		    json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o,"
			      " s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I,"
			      " s:I, s:i, s:s}",
			"id", (json_int_t)sqlite3_column_int64(st, 0), "school",
			text(st, 1), "reason", text(st, 2), "requested_by",
			text(st, 3), "state", text(st, 4), "requested_at",
			db_col_time(st, 5), "started_at", db_col_time(st, 6),
			"finished_at", db_col_time(st, 7), "agent",
			sqlite3_column_type(st, 8) == SQLITE_NULL
			    ? json_null()
			    : json_string(text(st, 8)),
			"down_mbps", real_or_null(st, 9), "up_mbps",
			real_or_null(st, 10), "uplink_mbps",
			int_or_null(st, 11), "down_bytes", int_or_null(st, 12),
			"up_bytes", int_or_null(st, 13), "down_ms",
			int_or_null(st, 14), "up_ms", int_or_null(st, 15),
			"served_bytes", (json_int_t)sqlite3_column_int64(st, 16),
			"max_bytes", (json_int_t)sqlite3_column_int64(st, 17),
			"max_ms", (json_int_t)sqlite3_column_int64(st, 18),
			"streams", sqlite3_column_int(st, 19), "error",
			text(st, 20)));
	}
	return finish(db, st, rc, "throughput", rows, json, out);
}

/*
 * The share of the school's hours in [from, now) that a room was available,
 * of the hours it was checked in (NULL when none): its intervals from the
 * newest back, stopping at the first that ends before from (they do not
 * overlap). -1 when there is nothing to say.
 */
static double
recording_share(sqlite3_stmt *st, const struct calendar *cal, int64_t room,
    const char *type, uint64_t from, uint64_t now)
{
	uint64_t checked = 0, avail = 0;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, room);
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint64_t t0 = (uint64_t)sqlite3_column_int64(st, 0);
		uint64_t t1 = (uint64_t)sqlite3_column_int64(st, 1);
		uint64_t ms;

		if (t1 <= from)
			break;
		ms = calendar_hours_between(cal, type, t0 > from ? t0 : from,
		    t1 < now ? t1 : now);
		checked += ms;
		if (sqlite3_column_int(st, 2))
			avail += ms;
	}
	sqlite3_reset(st);
	return checked ? 100.0 * (double)avail / (double)checked : -1;
}

/* Why a room is not available (or not known), for people. */
static void
recording_why(sqlite3_stmt *st, bool known, bool fresh, char *buf,
    size_t size)
{
	int status = sqlite3_column_int(st, 13);

	buf[0] = '\0';
	if (!known)
		snprintf(buf, size, "%s", *text(st, 6) ? "not checked yet"
						       : "no probe URL");
	else if (!fresh)
		snprintf(buf, size, "no check since the last one");
	else if (sqlite3_column_int(st, 10) == 0 && *text(st, 15))
		snprintf(buf, size, "host: %s", text(st, 15));
	else if (sqlite3_column_int(st, 10) == 0)
		snprintf(buf, size, "host: status %d", status);
	else if (sqlite3_column_type(st, 11) == SQLITE_NULL)
		snprintf(buf, size, "port not known");
	else if (sqlite3_column_int(st, 11) == 0)
		snprintf(buf, size, "port below target");
}

/*
 * Every current recording room: its latest check interval (host and port),
 * available / unavailable / unknown (none, or stale: 2.5 check intervals),
 * and with a calendar the share available in school hours over 7 days.
 */
int
query_recording(sqlite3 *db, const struct calendar *cal, const char *school,
    bool json, FILE *out)
{
	static const char sql[] =
	    "SELECT i.id, i.school_code, sc.type, i.room, i.switch, i.port,"
	    " i.probe, r.t_start, r.t_end, r.interval_ms, r.host_ok,"
	    " r.port_ok, r.available, r.status, r.time_ms, r.error"
	    " FROM inventory i JOIN schools sc ON sc.code = i.school_code"
	    " LEFT JOIN recording_state r ON r.id = (SELECT id FROM"
	    "  recording_state WHERE inventory_id = i.id"
	    "  ORDER BY t_start DESC LIMIT 1)"
	    " WHERE i.role = 'recording' AND i.valid_to IS NULL"
	    "  AND sc.removed_at IS NULL AND (?1 IS NULL OR i.school_code = ?1)"
	    " ORDER BY sc.town, i.school_code, i.room, i.id";
	static const char share_sql[] =
	    "SELECT t_start, t_end, available FROM recording_state"
	    " WHERE inventory_id = ?1 ORDER BY t_start DESC";
	uint64_t now = time_now_ms(), from = now - 7 * DAY_MS;
	json_t *rows = json_array();
	sqlite3_stmt *st, *sh = NULL;
	int rc;

	if ((cal && prepare(db, share_sql, NULL, &sh) != 0) ||
	    prepare(db, sql, school, &st) != 0) {
		sqlite3_finalize(sh);
		json_decref(rows);
		return 1;
	}
	if (!json)
		fprintf(out, "%-8s %-12s %-10s %-11s %-20s %6s %7s %6s  %s\n",
		    "school", "switch", "port", "state", "since", "status",
		    "time", "7 days", "room: why (url)");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		bool known = sqlite3_column_type(st, 7) != SQLITE_NULL;
		uint64_t t_end = (uint64_t)sqlite3_column_int64(st, 8);
		bool fresh = known &&
		    now <= t_end + (uint64_t)((double)sqlite3_column_int64(st,
						  9) * FRESH_INTERVALS) + 1000;
		const char *state = !fresh ? "unknown"
		    : sqlite3_column_int(st, 12) ? "available"
						 : "unavailable";
		double share = sh ? recording_share(sh, cal,
					sqlite3_column_int64(st, 0),
					text(st, 2), from, now)
				  : -1;
		char why[320], since[32] = "-", pct[16] = "-", ms[16] = "-";
		char status[16] = "-";

		recording_why(st, known, fresh, why, sizeof(why));
		if (!json) {
			if (known)
				time_iso8601((uint64_t)sqlite3_column_int64(st,
						 7),
				    since, sizeof(since));
			if (share >= 0)
				snprintf(pct, sizeof(pct), "%.1f%%", share);
			if (sqlite3_column_type(st, 14) != SQLITE_NULL)
				snprintf(ms, sizeof(ms), "%lld ms",
				    sqlite3_column_int64(st, 14));
			if (sqlite3_column_type(st, 13) != SQLITE_NULL)
				snprintf(status, sizeof(status), "%d",
				    sqlite3_column_int(st, 13));
			fprintf(out, "%-8s %-12s %-10s %-11s %-20s %6s %7s "
				     "%6s  %s%s%s (%s)\n",
			    text(st, 1), text(st, 4), text(st, 5), state,
			    since, status, ms, pct, text(st, 3),
			    why[0] ? ": " : "", why,
			    *text(st, 6) ? text(st, 6) : "no url");
			continue;
		}
		json_array_append_new(rows,
		    json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s,"
			      " s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o}",
			"inventory_id", (json_int_t)sqlite3_column_int64(st, 0),
			"school", text(st, 1), "room", text(st, 3), "switch",
			text(st, 4), "port", text(st, 5), "url", text(st, 6),
			"available",
			fresh ? json_boolean(sqlite3_column_int(st, 12))
			      : json_null(),
			"state", state, "why", why, "since",
			db_col_time(st, 7), "checked_at", db_col_time(st, 8),
			"host_ok",
			known ? json_boolean(sqlite3_column_int(st, 10))
			      : json_null(),
			"port_ok",
			sqlite3_column_type(st, 11) == SQLITE_NULL
			    ? json_null()
			    : json_boolean(sqlite3_column_int(st, 11)),
			"status", int_or_null(st, 13), "time_ms",
			int_or_null(st, 14), "error", text(st, 15),
			"available_7d_pct",
			share >= 0 ? json_real(share) : json_null()));
	}
	sqlite3_finalize(sh);
	return finish(db, st, rc, "recording", rows, json, out);
}
