/* admin.c: commands that change state: acknowledge alerts, maintenance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "collector.h"
#include "schoolnet/calendar.h"
#include "schoolnet/timeutil.h"

static int
fail(sqlite3 *db, const char *what)
{
	fprintf(stderr, "schoolnet-collector: %s: %s\n", what,
	    sqlite3_errmsg(db));
	return 1;
}

int
alerts_ack(sqlite3 *db, long long id, const char *by, char *prev_by,
    size_t size)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
		"UPDATE alerts SET acked_by = ?, acked_at = ? WHERE id = ?"
		" AND acked_by IS NULL",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time_now_ms());
	sqlite3_bind_int64(st, 3, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (sqlite3_changes(db) == 1)
		return ACK_DONE;
	if (sqlite3_prepare_v2(db, "SELECT acked_by FROM alerts WHERE id = ?",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && prev_by)
		snprintf(prev_by, size, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? ACK_ALREADY
	    : rc == SQLITE_DONE ? ACK_NO_ALERT
				: -1;
}

int
cmd_alerts_ack(sqlite3 *db, long long id, const char *by)
{
	char prev[256];

	if (by == NULL || *by == '\0') {
		fprintf(stderr, "schoolnet-collector: alerts ack needs --by "
				"NAME (who takes care of it)\n");
		return 1;
	}
	switch (alerts_ack(db, id, by, prev, sizeof(prev))) {
	case ACK_DONE:
		printf("alert %lld acknowledged by %s\n", id, by);
		return 0;
	case ACK_ALREADY:
		fprintf(stderr, "schoolnet-collector: alert %lld was already "
				"acknowledged by %s\n",
		    id, prev);
		return 1;
	case ACK_NO_ALERT:
		fprintf(stderr, "schoolnet-collector: there is no alert %lld\n",
		    id);
		return 1;
	}
	return fail(db, "alerts ack");
}

/*
 * "now", "2026-11-23 08:00", "2026-11-23T08:00[:SS]" in the calendar's
 * local time, or the same with a trailing "Z" for UTC.
 */
int
time_parse_local(const struct calendar *cal, const char *s, uint64_t *out)
{
	int y, mo, d, h, mi, sec = 0, n = 0, m = 0, y2, mo2, d2;
	const char *rest;
	bool utc = false;
	char sep;
	uint64_t t;

	if (strcmp(s, "now") == 0) {
		*out = time_now_ms();
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi,
		&n) != 6 ||
	    (sep != ' ' && sep != 'T'))
		return -1;
	rest = s + n;
	if (*rest == ':') {
		if (sscanf(rest, ":%2d%n", &sec, &m) != 1)
			return -1;
		rest += m;
	}
	if (*rest == 'Z') {
		utc = true;
		rest++;
	}
	if (*rest != '\0' || y < 2000 || y > 2200 || mo < 1 || mo > 12 ||
	    d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 59)
		return -1;
	t = calendar_local_midnight(cal, y, mo, d);
	calendar_local_date(cal, t, &y2, &mo2, &d2);
	if (y2 != y || mo2 != mo || d2 != d)
		return -1; /* 2026-02-30 and the like */
	t += ((uint64_t)h * 3600 + (uint64_t)mi * 60 + (uint64_t)sec) * 1000;
	if (utc)
		t += (uint64_t)((int64_t)calendar_utc_offset_min(cal) * 60000);
	*out = t;
	return 0;
}

static void
local_text(const struct calendar *cal, uint64_t t, char *buf, size_t size)
{
	int64_t local = (int64_t)t +
	    (int64_t)calendar_utc_offset_min(cal) * 60000;

	time_iso8601((uint64_t)local, buf, size);
	/* "2026-11-22T08:00:00Z" -> "2026-11-22 08:00" */
	buf[10] = ' ';
	buf[16] = '\0';
}

static json_t *
window_json(long long id, const char *school, const char *sw, uint64_t from,
    uint64_t to, const char *reason, const char *by)
{
	char fu[32], tu[32];

	time_iso8601(from, fu, sizeof(fu));
	time_iso8601(to, tu, sizeof(tu));
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
	    (json_int_t)id, "school", school, "switch", sw, "starts_at", fu,
	    "ends_at", tu, "reason", reason, "created_by", by);
}

int
maintenance_add(sqlite3 *db, const struct calendar *cal,
    const struct maint_args *a, json_t **added, uint64_t span[2], char *why,
    size_t size)
{
	uint64_t from, to, now = time_now_ms();
	sqlite3_stmt *st;
	double secs;
	int rc;

	*added = NULL;
	if (a->school == NULL || a->school[0] == '\0') {
		snprintf(why, size, "a window needs a school");
		return 1;
	}
	if (time_parse_local(cal, a->from && *a->from ? a->from : "now", &from) !=
	    0) {
		snprintf(why, size, "from: expected \"now\" or \"YYYY-MM-DD "
				    "HH:MM\" (local time)");
		return 1;
	}
	if (a->to && *a->to) {
		if (time_parse_local(cal, a->to, &to) != 0) {
			snprintf(why, size, "to: expected \"YYYY-MM-DD HH:MM\" "
					    "(local time)");
			return 1;
		}
	} else if (a->duration && cfg_parse_seconds(a->duration, &secs) == 0 &&
	    secs > 0 && secs <= 366 * 86400.0) {
		to = from + (uint64_t)(secs * 1000);
	} else {
		snprintf(why, size, "a window needs an end: a time, or a "
				    "duration such as 2h or 3d (at most 366d)");
		return 1;
	}
	if (to <= from) {
		snprintf(why, size, "the window ends before it starts");
		return 1;
	}
	if ((rc = db_school_exists(db, a->school)) == 0) {
		snprintf(why, size, "there is no school %s", a->school);
		return 1;
	}
	if (rc < 0 ||
	    sqlite3_prepare_v2(db,
		"INSERT INTO maintenance(school_code, switch, starts_at,"
		" ends_at, reason, created_by, created_at)"
		" VALUES(?,?,?,?,?,?,?)",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, a->school, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->sw ? a->sw : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)from);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)to);
	sqlite3_bind_text(st, 5, a->reason ? a->reason : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 6, a->by ? a->by : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	span[0] = from;
	span[1] = to;
	*added = window_json(sqlite3_last_insert_rowid(db), a->school,
	    a->sw ? a->sw : "", from, to, a->reason ? a->reason : "",
	    a->by ? a->by : "");
	return 0;
}

static int
maint_add(sqlite3 *db, const struct calendar *cal, const struct maint_args *a)
{
	char why[160], f[32], t[32];
	uint64_t span[2];
	json_t *w;

	switch (maintenance_add(db, cal, a, &w, span, why, sizeof(why))) {
	case 1:
		fprintf(stderr, "schoolnet-collector: maintenance add: %s\n",
		    why);
		return 1;
	case -1:
		return fail(db, "maintenance add");
	}
	local_text(cal, span[0], f, sizeof(f));
	local_text(cal, span[1], t, sizeof(t));
	printf("maintenance window %lld: school %s, %s%s, %s to %s (local "
	       "time); alerts are recorded but not sent\n",
	    (long long)json_integer_value(json_object_get(w, "id")), a->school,
	    a->sw ? "switch " : "every switch", a->sw ? a->sw : "", f, t);
	json_decref(w);
	return 0;
}

int
maintenance_list(sqlite3 *db, const struct calendar *cal, const char *school,
    bool json, FILE *out)
{
	json_t *rows = json_array();
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
		"SELECT id, school_code, switch, starts_at, ends_at, reason,"
		" created_by FROM maintenance WHERE ends_at > ?"
		" AND (?2 IS NULL OR school_code = ?2) ORDER BY starts_at",
		-1, &st, NULL) != SQLITE_OK) {
		json_decref(rows);
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time_now_ms());
	if (school)
		sqlite3_bind_text(st, 2, school, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t from = (uint64_t)sqlite3_column_int64(st, 3);
		uint64_t to = (uint64_t)sqlite3_column_int64(st, 4);
		const char *sw = (const char *)sqlite3_column_text(st, 2);
		const char *by = (const char *)sqlite3_column_text(st, 6);
		char f[32], t[32];

		if (json) {
			json_array_append_new(rows,
			    window_json(sqlite3_column_int64(st, 0),
				(const char *)sqlite3_column_text(st, 1), sw,
				from, to,
				(const char *)sqlite3_column_text(st, 5), by));
			continue;
		}
		local_text(cal, from, f, sizeof(f));
		local_text(cal, to, t, sizeof(t));
		fprintf(out, "%4lld  %-8s %-12s %s .. %s  %s%s%s\n",
		    sqlite3_column_int64(st, 0), sqlite3_column_text(st, 1),
		    *sw ? sw : "(all)", f, t, sqlite3_column_text(st, 5),
		    *by ? " -- " : "", by);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(rows);
		return -1;
	}
	if (json)
		print_listing(out, "maintenance", rows);
	else
		json_decref(rows);
	return 0;
}

int
maintenance_delete(sqlite3 *db, long long id)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "DELETE FROM maintenance WHERE id = ?", -1,
		&st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	return sqlite3_changes(db) == 0 ? 1 : 0;
}

static int
maint_delete(sqlite3 *db, const char *idtext)
{
	char *end;
	long long id = strtoll(idtext, &end, 10);

	if (*idtext == '\0' || *end != '\0' || id <= 0) {
		fprintf(stderr, "schoolnet-collector: maintenance delete ID: "
				"'%s' is not an id\n",
		    idtext);
		return 1;
	}
	switch (maintenance_delete(db, id)) {
	case 1:
		fprintf(stderr, "schoolnet-collector: there is no maintenance "
				"window %lld\n",
		    id);
		return 1;
	case -1:
		return fail(db, "maintenance delete");
	}
	printf("maintenance window %lld deleted\n", id);
	return 0;
}

int
cmd_maintenance(sqlite3 *db, const struct calendar *cal, int argc,
    char **argv, const struct maint_args *a)
{
	const char *sub = argc > 0 ? argv[0] : "list";

	if (strcmp(sub, "add") == 0 && argc == 1)
		return maint_add(db, cal, a);
	if (strcmp(sub, "list") == 0 && argc <= 1)
		return maintenance_list(db, cal, a->school, a->json, stdout) == 0
		    ? 0
		    : fail(db, "maintenance list");
	if (strcmp(sub, "delete") == 0 && argc == 2)
		return maint_delete(db, argv[1]);
	fprintf(stderr, "schoolnet-collector: usage: maintenance add|list|"
			"delete ID\n");
	return 1;
}

/*
 * Ask for a throughput test of one school now: a probe_throughput row in
 * state requested, which the collector's scheduler sends to the school's
 * agent when it is connected and the monthly budget allows. One open test
 * per school: when one is already requested or running, *id is that one
 * and PROBE_DEMAND_OPEN is returned. PROBE_DEMAND_NEW for a new row,
 * PROBE_DEMAND_NO_SCHOOL, or -1 on a database error.
 */
int
probe_demand(sqlite3 *db, const char *school, const char *by,
    const struct probe_size *size, int64_t *id)
{
	sqlite3_stmt *st;
	int rc, known;

	if ((known = db_school_exists(db, school)) <= 0)
		return known < 0 ? -1 : PROBE_DEMAND_NO_SCHOOL;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db,
		"SELECT id FROM probe_throughput WHERE school_code = ?"
		" AND state IN ('requested','running')"
		" ORDER BY id LIMIT 1",
		-1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, school, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW) {
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		return PROBE_DEMAND_OPEN;
	}
	if (rc != SQLITE_DONE ||
	    sqlite3_prepare_v2(db,
		"INSERT INTO probe_throughput(school_code, reason,"
		" requested_by, state, requested_ms, max_bytes, max_ms,"
		" streams) VALUES(?, 'demand', ?, 'requested', ?, ?, ?, ?)",
		-1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, school, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time_now_ms());
	sqlite3_bind_int64(st, 4, (sqlite3_int64)size->max_bytes);
	sqlite3_bind_int64(st, 5, size->max_ms);
	sqlite3_bind_int(st, 6, size->streams);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	*id = sqlite3_last_insert_rowid(db);
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return PROBE_DEMAND_NEW;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
