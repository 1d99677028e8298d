/* query.c: read-only views of the database for the command line (JSON/text). */
#include <string.h>

#include <jansson.h>

#include "collector.h"
#include "schoolnet/timeutil.h"

/* Data older than this many poll intervals is not current. */
#define FRESH_INTERVALS 2.5

static json_t *
iso_or_null(sqlite3_stmt *st, int col)
{
	char buf[32];

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	time_iso8601((uint64_t)sqlite3_column_int64(st, col), buf, sizeof(buf));
	return json_string(buf);
}

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

static int
print_json(const char *key, json_t *rows)
{
	char stamp[32];
	json_t *top;

	time_iso8601(time_now_ms(), stamp, sizeof(stamp));
	top = json_pack("{s:s, s:o}", "generated_at", stamp, key, rows);
	json_dumpf(top, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(top);
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

int
query_ports(sqlite3 *db, const char *school, bool json)
{
	static const char sql[] =
	    "SELECT a.school, a.name, s.name, p.if_index, p.if_name,"
	    " p.if_descr, p.if_alias, p.if_type, p.admin, p.oper,"
	    " p.speed_mbps, p.duplex, p.since, p.last_seen, p.in_bps,"
	    " p.out_bps, p.in_errors, p.out_errors, p.in_discards,"
	    " p.out_discards, s.poll_interval"
	    " FROM ports p JOIN switches s ON s.id = p.switch_id"
	    " JOIN agents a ON a.id = s.agent_id"
	    " WHERE ?1 IS NULL OR a.school = ?1"
	    " ORDER BY a.school, a.name, s.name, p.if_index";
	uint64_t now = time_now_ms();
	json_t *rows = json_array();
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "schoolnet-collector: %s\n", sqlite3_errmsg(db));
		json_decref(rows);
		return 1;
	}
	if (school)
		sqlite3_bind_text(st, 1, school, -1, SQLITE_STATIC);
	if (!json)
		printf("%-8s %-10s %-24s %6s %-5s %-5s %7s %-7s %12s %12s  %s\n",
		    "school", "switch", "port", "index", "admin", "oper",
		    "Mbps", "duplex", "in bit/s", "out bit/s", "last seen");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t last = (uint64_t)sqlite3_column_int64(st, 13);
		double interval = sqlite3_column_double(st, 20);
		bool fresh = now - last <= (uint64_t)(interval * 1000 *
		    FRESH_INTERVALS) + 1000;
		char seen[32];

		if (!json) {
			time_iso8601(last, seen, sizeof(seen));
			printf("%-8s %-10s %-24s %6lld %-5s %-5s %7lld %-7s "
			       "%12.0f %12.0f  %s%s\n",
			    text(st, 0), text(st, 2),
			    *text(st, 4) ? text(st, 4) : text(st, 5),
			    sqlite3_column_int64(st, 3),
			    wire_oper_name(sqlite3_column_int(st, 8)),
			    wire_oper_name(sqlite3_column_int(st, 9)),
			    sqlite3_column_int64(st, 10),
			    wire_duplex_name(sqlite3_column_int(st, 11)),
			    sqlite3_column_double(st, 14),
			    sqlite3_column_double(st, 15), seen,
			    fresh ? "" : " (stale)");
			continue;
		}
		json_array_append_new(rows,
		    json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:i,"
			      " s:s, s:s, s:I, s:s, s:o, s:o, s:b, s:o, s:o,"
			      " s:o, s:o, s:o, s:o}",
			"school", text(st, 0), "agent", text(st, 1), "switch",
			text(st, 2), "if_index",
			(json_int_t)sqlite3_column_int64(st, 3), "if_name",
			text(st, 4), "if_descr", text(st, 5), "if_alias",
			text(st, 6), "if_type", sqlite3_column_int(st, 7),
			"admin", wire_oper_name(sqlite3_column_int(st, 8)),
			"oper", wire_oper_name(sqlite3_column_int(st, 9)),
			"speed_mbps", (json_int_t)sqlite3_column_int64(st, 10),
			"duplex", wire_duplex_name(sqlite3_column_int(st, 11)),
			"since", iso_or_null(st, 12), "last_seen",
			iso_or_null(st, 13), "fresh", fresh, "in_bps",
			real_or_null(st, 14), "out_bps", real_or_null(st, 15),
			"in_errors", int_or_null(st, 16), "out_errors",
			int_or_null(st, 17), "in_discards", int_or_null(st, 18),
			"out_discards", int_or_null(st, 19)));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "schoolnet-collector: %s\n", sqlite3_errmsg(db));
		json_decref(rows);
		return 1;
	}
	if (json)
		return print_json("ports", rows);
	json_decref(rows);
	return 0;
}

int
query_switches(sqlite3 *db, const char *school, bool json)
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

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "schoolnet-collector: %s\n", sqlite3_errmsg(db));
		json_decref(rows);
		return 1;
	}
	if (school)
		sqlite3_bind_text(st, 1, school, -1, SQLITE_STATIC);
	if (!json)
		printf("%-8s %-12s %-22s %-8s %5s %6s  %-20s  %s\n", "school",
		    "switch", "address", "status", "ports", "ms", "last poll",
		    "error");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char seen[32];

		if (!json) {
			time_iso8601((uint64_t)sqlite3_column_int64(st, 6), seen,
			    sizeof(seen));
			printf("%-8s %-12s %-22s %-8s %5lld %6lld  %-20s  %s\n",
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
			text(st, 5), "last_poll", iso_or_null(st, 6), "last_ok",
			iso_or_null(st, 7), "sys_uptime", int_or_null(st, 8),
			"pdus", int_or_null(st, 9), "duration_ms",
			int_or_null(st, 10), "ports",
			(json_int_t)sqlite3_column_int64(st, 11)));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "schoolnet-collector: %s\n", sqlite3_errmsg(db));
		json_decref(rows);
		return 1;
	}
	if (json)
		return print_json("switches", rows);
	json_decref(rows);
	return 0;
}
