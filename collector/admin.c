/* admin.c: commands that change state: acknowledge alerts, maintenance. */
#include <stdio.h>
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
static int
parse_time(const struct calendar *cal, const char *s, uint64_t *out)
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

static int
maint_add(sqlite3 *db, const struct calendar *cal, const struct maint_args *a)
{
	uint64_t from, to, now = time_now_ms();
	char f[32], t[32];
	sqlite3_stmt *st;
	double secs;
	int rc;

	if (a->school == NULL) {
		fprintf(stderr, "schoolnet-collector: maintenance add needs "
				"--school CODE\n");
		return 1;
	}
	if (parse_time(cal, a->from ? a->from : "now", &from) != 0) {
		fprintf(stderr, "schoolnet-collector: --from: expected \"now\" "
				"or \"YYYY-MM-DD HH:MM\" (local time)\n");
		return 1;
	}
	if (a->to) {
		if (parse_time(cal, a->to, &to) != 0) {
			fprintf(stderr, "schoolnet-collector: --to: expected "
					"\"YYYY-MM-DD HH:MM\" (local time)\n");
			return 1;
		}
	} else if (a->duration && cfg_parse_seconds(a->duration, &secs) == 0 &&
	    secs > 0 && secs <= 366 * 86400.0) {
		to = from + (uint64_t)(secs * 1000);
	} else {
		fprintf(stderr, "schoolnet-collector: maintenance add needs "
				"--to TIME or --for DURATION (e.g. 2h, 3d)\n");
		return 1;
	}
	if (to <= from) {
		fprintf(stderr, "schoolnet-collector: the window ends before "
				"it starts\n");
		return 1;
	}
	if (sqlite3_prepare_v2(db,
		"INSERT INTO maintenance(school_code, switch, starts_at,"
		" ends_at, reason, created_by, created_at)"
		" VALUES(?,?,?,?,?,?,?)",
		-1, &st, NULL) != SQLITE_OK)
		return fail(db, "maintenance add");
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
		return fail(db, "maintenance add");
	local_text(cal, from, f, sizeof(f));
	local_text(cal, to, t, sizeof(t));
	printf("maintenance window %lld: school %s, %s%s, %s to %s (local "
	       "time); alerts are recorded but not sent\n",
	    (long long)sqlite3_last_insert_rowid(db), a->school,
	    a->sw ? "switch " : "every switch", a->sw ? a->sw : "", f, t);
	return 0;
}

static int
maint_list(sqlite3 *db, const struct calendar *cal, const struct maint_args *a)
{
	json_t *rows = json_array();
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
		"SELECT id, school_code, switch, starts_at, ends_at, reason,"
		" created_by FROM maintenance WHERE ends_at > ?"
		" AND (?2 IS NULL OR school_code = ?2) ORDER BY starts_at",
		-1, &st, NULL) != SQLITE_OK)
		return fail(db, "maintenance list");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time_now_ms());
	if (a->school)
		sqlite3_bind_text(st, 2, a->school, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char f[32], t[32], fu[32], tu[32];
		uint64_t from = (uint64_t)sqlite3_column_int64(st, 3);
		uint64_t to = (uint64_t)sqlite3_column_int64(st, 4);

		local_text(cal, from, f, sizeof(f));
		local_text(cal, to, t, sizeof(t));
		if (!a->json) {
			printf("%4lld  %-8s %-12s %s .. %s  %s%s%s\n",
			    sqlite3_column_int64(st, 0),
			    sqlite3_column_text(st, 1),
			    *sqlite3_column_text(st, 2)
				? (const char *)sqlite3_column_text(st, 2)
				: "(all)",
			    f, t, sqlite3_column_text(st, 5),
			    *sqlite3_column_text(st, 6) ? " -- " : "",
			    sqlite3_column_text(st, 6));
			continue;
		}
		time_iso8601(from, fu, sizeof(fu));
		time_iso8601(to, tu, sizeof(tu));
		json_array_append_new(rows,
		    json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
			(json_int_t)sqlite3_column_int64(st, 0), "school",
			sqlite3_column_text(st, 1), "switch",
			sqlite3_column_text(st, 2), "starts_at", fu, "ends_at",
			tu, "reason", sqlite3_column_text(st, 5), "created_by",
			sqlite3_column_text(st, 6)));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(rows);
		return fail(db, "maintenance list");
	}
	if (a->json)
		print_listing(stdout, "maintenance", rows);
	else
		json_decref(rows);
	return 0;
}

static int
maint_delete(sqlite3 *db, const char *idtext)
{
	sqlite3_stmt *st;
	char *end;
	long long id = strtoll(idtext, &end, 10);
	int rc;

	if (*idtext == '\0' || *end != '\0' || id <= 0) {
		fprintf(stderr, "schoolnet-collector: maintenance delete ID: "
				"'%s' is not an id\n",
		    idtext);
		return 1;
	}
	if (sqlite3_prepare_v2(db, "DELETE FROM maintenance WHERE id = ?", -1,
		&st, NULL) != SQLITE_OK)
		return fail(db, "maintenance delete");
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(db, "maintenance delete");
	if (sqlite3_changes(db) == 0) {
		fprintf(stderr, "schoolnet-collector: there is no maintenance "
				"window %lld\n",
		    id);
		return 1;
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
		return maint_list(db, cal, a);
	if (strcmp(sub, "delete") == 0 && argc == 2)
		return maint_delete(db, argv[1]);
	fprintf(stderr, "schoolnet-collector: usage: maintenance add|list|"
			"delete ID\n");
	return 1;
}
