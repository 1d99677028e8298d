/*
 * report.c: the monthly digital-campus compliance report.
 *
 * Every figure is time-weighted over the school hours of the month (the
 * calendar's, per school type) and read from the daily roll-ups (rollup.c);
 * only the part of the current month that is not rolled up yet (today, and
 * yesterday within the grace period) is computed from the raw intervals.
 * The result is one JSON model (the contract in the README, "The monthly
 * report"): the JSON output is that model, CSV and HTML are rendered from
 * it (report_render.c), so all formats show the same figures.
 *
 * A room is counted from the local day its school and its inventory row
 * were added, and until the day they were removed (exclusive). Unknown time
 * is school time with no data: it is never counted as up or down, and the
 * shares below are of the *known* school time.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "collector.h"
#include "report_render.h"
#include "schoolnet/calendar.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

#define MAX_DAYS 31

/* School-hours time of a room (or a sum of rooms) by what it was. */
struct tally {
	uint64_t school, ok, speed, half, errors, down;
};

static uint64_t
known(const struct tally *t)
{
	return t->ok + t->speed + t->half + t->errors + t->down;
}

static void
tally_add(struct tally *a, const struct tally *b)
{
	a->school += b->school;
	a->ok += b->ok;
	a->speed += b->speed;
	a->half += b->half;
	a->errors += b->errors;
	a->down += b->down;
}

struct room {
	char *school, *room, *sw, *port;
	enum port_role role;
	int school_idx;
	struct tally t;
	uint32_t min_speed; /* UINT32_MAX: never seen up */
	uint32_t max_speed;
	int compliant;      /* 1, 0, -1 unknown */
	const char *cause;
	bool checked;		/* a recording room with host checks */
	uint64_t rec_avail, rec_known; /* their school time: available, all */
};

/* A recording room's inventory row, for its host checks. */
struct inv_room {
	int64_t inv;
	int room;
};

/* A room's port over a run of days: port_day rows are matched by these. */
struct port_use {
	int64_t port_id;
	int room;
	int from, to; /* day indexes, to exclusive */
};

struct school {
	char *code, *name, *town, *type;
	bool town_seat;
	int from, to; /* day indexes counted */
	int type_idx;
	struct tally rooms, uplink, recording;
	struct tally cls_failing; /* non-compliant classrooms' time */
	uint64_t cls_ok[MAX_DAYS], cls_known[MAX_DAYS];
	int uplinks, classrooms, cls_known_n, cls_compliant, recordings;
	uint32_t up_min, up_max;
	int uplink_ok; /* 1, 0, -1 */
	int status;    /* 1 pass, 0 fail, -1 unknown */
	const char *cause;
	int64_t alerts_opened, alerts_recovered;
	uint64_t recover_ms;
	/* The month's done throughput tests (download). */
	int tp_tests;
	double tp_median, tp_worst;
	uint32_t tp_uplink; /* the tests' uplink speed, the highest; 0: none */
	int tp_below;	    /* median below target: 1, 0, -1 unknown */
	/* Recording rooms' available school time: by host checks where a
	 * room has them, else its port at target. */
	uint64_t rec_avail, rec_known;
	int rec_checked;
};

/* One month's figures, before they become JSON. */
struct month {
	int y, m, n_days;
	uint64_t m0, m1, until; /* [m0, m1) the month; until = min(m1, now) */
	struct school *schools;
	size_t n_schools;
	struct code_idx {
		const char *code;
		int idx;
	} * by_code; /* the schools sorted by code */
	struct room *rooms;
	size_t n_rooms, cap_rooms;
	struct port_use *uses;
	size_t n_uses, cap_uses;
	struct inv_room *invs;
	size_t n_invs, cap_invs;
	char *types[CALENDAR_MAX_TYPES + 1];
	uint64_t type_day_ms[CALENDAR_MAX_TYPES + 1][MAX_DAYS];
	int n_types;
	uint64_t cls_school[MAX_DAYS], cls_ok[MAX_DAYS], cls_known[MAX_DAYS];
};

struct report_ctx {
	sqlite3 *db;
	const struct calendar *cal;
	const struct collector_conf *conf;
	const struct report_args *a;
	uint64_t now;
};

static double
round2(double x)
{
	return round(x * 100.0) / 100.0;
}

static json_t *
pct_or_null(uint64_t part, uint64_t whole)
{
	if (whole == 0)
		return json_null();
	return json_real(round2(100.0 * (double)part / (double)whole));
}

static json_t *
minutes(uint64_t ms)
{
	return json_real(round2((double)ms / 60000.0));
}

static int
day_index(const struct month *mo, uint64_t t)
{
	if (t <= mo->m0)
		return 0;
	if (t >= mo->m1)
		return mo->n_days;
	return (int)((t - mo->m0) / DAY_MS);
}

static int
type_index(struct month *mo, const struct calendar *cal, const char *type)
{
	int i;

	/* More types than a calendar can name: the last slot is "", which
	 * has the default hours. */
	if (mo->n_types >= (int)nitems(mo->types) - 1)
		type = "";
	for (i = 0; i < mo->n_types; i++)
		if (strcmp(mo->types[i], type) == 0)
			return i;
	mo->types[i] = xstrdup(type);
	for (int d = 0; d < mo->n_days; d++) {
		uint64_t d0 = mo->m0 + (uint64_t)d * DAY_MS;
		uint64_t d1 = d0 + DAY_MS < mo->until ? d0 + DAY_MS : mo->until;

		mo->type_day_ms[i][d] =
		    d0 < d1 ? calendar_hours_between(cal, type, d0, d1) : 0;
	}
	mo->n_types++;
	return i;
}

static int
cmp_code(const void *a, const void *b)
{
	const struct code_idx *x = a, *y = b;

	return strcmp(x->code, y->code);
}

static void
index_codes(struct month *mo)
{
	mo->by_code =
	    xreallocarray(NULL, mo->n_schools + 1, sizeof(*mo->by_code));
	for (size_t i = 0; i < mo->n_schools; i++) {
		mo->by_code[i].code = mo->schools[i].code;
		mo->by_code[i].idx = (int)i;
	}
	if (mo->n_schools)
		qsort(
		    mo->by_code, mo->n_schools, sizeof(*mo->by_code), cmp_code);
}

static int
load_schools(struct report_ctx *c, struct month *mo)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	if (sqlite3_prepare_v2(c->db,
	        "SELECT code, name, town, type, town_seat, added_at, removed_at"
	        " FROM schools WHERE added_at < ?1"
	        " AND (removed_at IS NULL OR removed_at > ?2)"
	        " AND (?3 IS NULL OR town = ?3) AND (?4 IS NULL OR code = ?4)"
	        " ORDER BY town, code",
	        -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)mo->until);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)mo->m0);
	if (c->a->town)
		sqlite3_bind_text(st, 3, c->a->town, -1, SQLITE_STATIC);
	if (c->a->school)
		sqlite3_bind_text(st, 4, c->a->school, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct school *s;

		if (mo->n_schools == cap) {
			cap = cap ? cap * 2 : 64;
			mo->schools = xreallocarray(
			    mo->schools, cap, sizeof(*mo->schools));
		}
		s = &mo->schools[mo->n_schools++];
		memset(s, 0, sizeof(*s));
		s->code = db_col_dup(st, 0);
		s->name = db_col_dup(st, 1);
		s->town = db_col_dup(st, 2);
		s->type = db_col_dup(st, 3);
		s->town_seat = sqlite3_column_int(st, 4) != 0;
		/* Counted from the day it was added. */
		s->from = day_index(mo,
		    rollup_day_start(
		        c->cal, (uint64_t)sqlite3_column_int64(st, 5)));
		s->to = sqlite3_column_type(st, 6) == SQLITE_NULL
		    ? mo->n_days
		    : day_index(mo,
		          rollup_day_start(
		              c->cal, (uint64_t)sqlite3_column_int64(st, 6)));
		if (s->from >= s->to) { /* removed on the month's first day */
			free(s->code);
			free(s->name);
			free(s->town);
			free(s->type);
			mo->n_schools--;
			continue;
		}
		s->type_idx = type_index(mo, c->cal, s->type);
		s->up_min = UINT32_MAX;
	}
	sqlite3_finalize(st);
	index_codes(mo);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The index of the school with this code, or -1 (not in scope). */
static int
school_index(const struct month *mo, const char *code)
{
	size_t lo = 0, hi = mo->n_schools;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(code, mo->by_code[mid].code);

		if (c == 0)
			return mo->by_code[mid].idx;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/*
 * The inventory rows valid during the month, with the port each names
 * (none when the agent has not reported it). Rows of one room (a port
 * changed by a re-import) become one room with several port uses.
 */
static int
load_rooms(struct report_ctx *c, struct month *mo)
{
	sqlite3_stmt *st;
	int rc;
	char *last_school = NULL;
	int last_idx = -1;
	int64_t last_row = -1;

	/* Every port that answers to the row, as in the port_map view: an
	 * agent replaced during the month leaves the old port (data before)
	 * and the new one (data after). */
	if (sqlite3_prepare_v2(c->db,
	        "SELECT i.school_code, i.role, i.room, i.switch, i.port,"
	        " i.valid_from, i.valid_to, i.id, p.id"
	        " FROM inventory i"
	        " LEFT JOIN agents a ON a.school = i.school_code"
	        " LEFT JOIN switches s ON s.agent_id = a.id AND s.name = i.switch"
	        " LEFT JOIN ports p ON p.id IN ("
	        "  SELECT x.id FROM ports x WHERE x.switch_id = s.id"
	        "  AND x.if_name = i.port"
	        "  UNION ALL SELECT y.id FROM ports y WHERE y.switch_id = s.id"
	        "  AND y.if_descr = i.port AND NOT EXISTS (SELECT 1 FROM ports q"
	        "  WHERE q.switch_id = s.id AND q.if_name = i.port))"
	        " WHERE i.valid_from < ?1 AND (i.valid_to IS NULL OR"
	        " i.valid_to > ?2)"
	        " ORDER BY i.school_code, i.role, i.room, i.valid_from, i.id",
	        -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)mo->until);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)mo->m0);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *code = (const char *)sqlite3_column_text(st, 0);
		const char *role = (const char *)sqlite3_column_text(st, 1);
		const char *name = (const char *)sqlite3_column_text(st, 2);
		struct room *r =
		    mo->n_rooms ? &mo->rooms[mo->n_rooms - 1] : NULL;
		struct school *s;
		int from, to;

		if (code == NULL || role == NULL || name == NULL)
			continue;
		if (last_school == NULL || strcmp(last_school, code) != 0) {
			free(last_school);
			last_school = xstrdup(code);
			last_idx = school_index(mo, code);
		}
		if (last_idx < 0)
			continue; /* not in scope */
		s = &mo->schools[last_idx];
		from = day_index(mo,
		    rollup_day_start(
		        c->cal, (uint64_t)sqlite3_column_int64(st, 5)));
		to = sqlite3_column_type(st, 6) == SQLITE_NULL
		    ? mo->n_days
		    : day_index(mo,
		          rollup_day_start(
		              c->cal, (uint64_t)sqlite3_column_int64(st, 6)));
		if (from < s->from)
			from = s->from;
		if (to > s->to)
			to = s->to;
		if (from >= to)
			continue;
		if (r == NULL || strcmp(r->school, code) != 0 ||
		    r->role != policy_role(role) ||
		    strcmp(r->room, name) != 0) {
			if (mo->n_rooms == mo->cap_rooms) {
				mo->cap_rooms =
				    mo->cap_rooms ? mo->cap_rooms * 2 : 256;
				mo->rooms = xreallocarray(mo->rooms,
				    mo->cap_rooms, sizeof(*mo->rooms));
			}
			r = &mo->rooms[mo->n_rooms++];
			memset(r, 0, sizeof(*r));
			r->school = s->code;
			r->school_idx = last_idx;
			r->role = policy_role(role);
			r->room = xstrdup(name);
			r->min_speed = UINT32_MAX;
		} else if (sqlite3_column_int64(st, 7) != last_row) {
			free(r->sw); /* a newer row of the room names them */
			free(r->port);
		}
		if (sqlite3_column_int64(st, 7) != last_row) {
			/* The row's first port: its school time, once. */
			last_row = sqlite3_column_int64(st, 7);
			r->sw = db_col_dup(st, 3);
			r->port = db_col_dup(st, 4);
			if (r->role == ROLE_RECORDING) {
				if (mo->n_invs == mo->cap_invs) {
					mo->cap_invs = mo->cap_invs
					    ? mo->cap_invs * 2
					    : 64;
					mo->invs = xreallocarray(mo->invs,
					    mo->cap_invs, sizeof(*mo->invs));
				}
				mo->invs[mo->n_invs].inv = last_row;
				mo->invs[mo->n_invs++].room =
				    (int)(r - mo->rooms);
			}
			for (int d = from; d < to; d++) {
				uint64_t ms = mo->type_day_ms[s->type_idx][d];

				r->t.school += ms;
				if (r->role == ROLE_CLASSROOM)
					mo->cls_school[d] += ms;
			}
		}
		if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
			struct port_use *u;

			if (mo->n_uses == mo->cap_uses) {
				mo->cap_uses =
				    mo->cap_uses ? mo->cap_uses * 2 : 256;
				mo->uses = xreallocarray(
				    mo->uses, mo->cap_uses, sizeof(*mo->uses));
			}
			u = &mo->uses[mo->n_uses++];
			u->port_id = sqlite3_column_int64(st, 8);
			u->room = (int)(r - mo->rooms);
			u->from = from;
			u->to = to;
		}
	}
	free(last_school);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
cmp_use(const void *a, const void *b)
{
	const struct port_use *x = a, *y = b;

	return (x->port_id > y->port_id) - (x->port_id < y->port_id);
}

/* Folding the day rows into rooms. */
struct fold {
	struct report_ctx *c;
	struct month *mo;
	size_t at;		/* the first use of the last row's port */
};

/*
 * The first use of port_id in the sorted uses (n_uses when none). Rows come
 * with ascending port ids (day by day, or port by port), so the search
 * mostly steps forward from the last position.
 */
static size_t
first_use(struct fold *f, int64_t port_id)
{
	const struct month *mo = f->mo;
	size_t lo = 0, hi = mo->n_uses;

	if (f->at < mo->n_uses && mo->uses[f->at].port_id <= port_id) {
		while (f->at < mo->n_uses && mo->uses[f->at].port_id < port_id)
			f->at++;
		return f->at;
	}
	while (lo < hi) { /* a new day: back to the start */
		size_t mid = lo + (hi - lo) / 2;

		if (mo->uses[mid].port_id < port_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return f->at = lo;
}

static int
fold_row(void *arg, const struct day_row *x)
{
	struct fold *f = arg;
	struct month *mo = f->mo;
	const struct policy_conf *pc = &f->c->conf->policy;
	int d;

	if (x->day < mo->m0 || x->day >= mo->m1)
		return 0;
	d = (int)((x->day - mo->m0) / DAY_MS);
	for (size_t i = first_use(f, x->port_id);
	     i < mo->n_uses && mo->uses[i].port_id == x->port_id; i++) {
		const struct port_use *u = &mo->uses[i];
		struct room *r = &mo->rooms[u->room];
		struct school *s = &mo->schools[r->school_idx];
		uint64_t ok = 0;

		if (d < u->from || d >= u->to)
			continue;
		if (!x->up) {
			r->t.down += x->ms;
		} else if (x->speed_mbps < policy_target(pc, r->role)) {
			r->t.speed += x->ms;
		} else if (x->duplex == WIRE_DUPLEX_HALF) {
			r->t.half += x->ms;
		} else {
			ok = x->ms - (x->err_ms < x->ms ? x->err_ms : x->ms);
			r->t.errors += x->ms - ok;
			r->t.ok += ok;
		}
		if (x->up && x->speed_mbps < r->min_speed)
			r->min_speed = x->speed_mbps;
		if (x->up && x->speed_mbps > r->max_speed)
			r->max_speed = x->speed_mbps;
		if (r->role == ROLE_CLASSROOM) {
			s->cls_ok[d] += ok;
			s->cls_known[d] += x->ms;
		}
	}
	return 0;
}

/* Read the stored roll-ups of [m0, rolled) and compute the rest raw. */
static int
fold_month(struct report_ctx *c, struct month *mo, uint64_t rolled)
{
	struct fold f = {.c = c, .mo = mo};
	sqlite3_stmt *st;
	int rc = 0;

	if (mo->n_uses)
		qsort(mo->uses, mo->n_uses, sizeof(*mo->uses), cmp_use);
	if (rolled > mo->m0) {
		if (sqlite3_prepare_v2(c->db,
		        "SELECT day, port_id, up, speed_mbps, duplex, ms, "
		        "err_ms"
		        " FROM port_day WHERE day >= ? AND day < ?",
		        -1, &st, NULL) != SQLITE_OK)
			return -1;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)mo->m0);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)rolled);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct day_row x = {
			    .day = (uint64_t)sqlite3_column_int64(st, 0),
			    .port_id = sqlite3_column_int64(st, 1),
			    .up = sqlite3_column_int(st, 2),
			    .speed_mbps = (uint32_t)sqlite3_column_int64(st, 3),
			    .duplex = sqlite3_column_int(st, 4),
			    .ms = (uint64_t)sqlite3_column_int64(st, 5),
			    .err_ms = (uint64_t)sqlite3_column_int64(st, 6)};

			fold_row(&f, &x);
		}
		sqlite3_finalize(st);
		rc = rc == SQLITE_DONE ? 0 : -1;
	}
	if (rc == 0 && rolled < mo->until)
		rc = rollup_compute(c->db, c->cal,
		    c->conf->policy.max_errors_per_min,
		    rolled > mo->m0 ? rolled : mo->m0, mo->until, false, NULL,
		    fold_row, &f);
	return rc;
}

static int
load_alerts(struct report_ctx *c, struct month *mo)
{
	sqlite3_stmt *st;
	int rc, idx = -1;
	char *last = NULL;

	if (sqlite3_prepare_v2(c->db,
	        "SELECT school_code, since, cleared_at FROM alerts"
	        " WHERE opened_at >= ? AND opened_at < ? AND school_code != ''"
	        " ORDER BY school_code",
	        -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)mo->m0);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)mo->until);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *code = (const char *)sqlite3_column_text(st, 0);
		struct school *s;

		if (last == NULL || strcmp(last, code) != 0) {
			free(last);
			last = xstrdup(code);
			idx = school_index(mo, code);
		}
		if (idx < 0)
			continue;
		s = &mo->schools[idx];
		s->alerts_opened++;
		if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
			int64_t since = sqlite3_column_int64(st, 1);
			int64_t cleared = sqlite3_column_int64(st, 2);

			s->alerts_recovered++;
			s->recover_ms +=
			    cleared > since ? (uint64_t)(cleared - since) : 0;
		}
	}
	free(last);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
cmp_inv(const void *a, const void *b)
{
	const struct inv_room *x = a, *y = b;

	return (x->inv > y->inv) - (x->inv < y->inv);
}

/*
 * Recording rooms with host checks (recording_state intervals): the school
 * time of the month each was checked in, and was available in (its host
 * answered and its port met its target).
 */
static int
load_checks(struct report_ctx *c, struct month *mo)
{
	sqlite3_stmt *st;
	int rc;

	if (mo->n_invs == 0)
		return 0;
	qsort(mo->invs, mo->n_invs, sizeof(*mo->invs), cmp_inv);
	if (sqlite3_prepare_v2(c->db,
	        "SELECT inventory_id, t_start, t_end, available"
	        " FROM recording_state WHERE t_end > ?1 AND t_start < ?2",
	        -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)mo->m0);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)mo->until);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct inv_room key = {sqlite3_column_int64(st, 0), 0}, *ir;
		uint64_t t0 = (uint64_t)sqlite3_column_int64(st, 1);
		uint64_t t1 = (uint64_t)sqlite3_column_int64(st, 2);
		uint64_t lo, hi, ms;
		struct school *s;
		struct room *r;

		ir = bsearch(&key, mo->invs, mo->n_invs, sizeof(*mo->invs),
		    cmp_inv);
		if (ir == NULL)
			continue; /* not a recording room in scope */
		r = &mo->rooms[ir->room];
		s = &mo->schools[r->school_idx];
		/* The school's counted days only. */
		lo = mo->m0 + (uint64_t)s->from * DAY_MS;
		hi = mo->m0 + (uint64_t)s->to * DAY_MS;
		if (hi > mo->until)
			hi = mo->until;
		if (t0 < lo)
			t0 = lo;
		if (t1 > hi)
			t1 = hi;
		r->checked = true;
		ms = calendar_hours_between(c->cal, s->type, t0, t1);
		r->rec_known += ms;
		if (sqlite3_column_int(st, 3))
			r->rec_avail += ms;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of n sorted values (n > 0). */
static double
median_of(const double *v, size_t n)
{
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One school's tests in ascending download: its figures. */
static void
tests_done(struct month *mo, int idx, const double *v, size_t n,
    uint32_t uplink)
{
	struct school *s;

	if (idx < 0 || n == 0)
		return;
	s = &mo->schools[idx];
	s->tp_tests = (int)n;
	s->tp_median = median_of(v, n);
	s->tp_worst = v[0];
	s->tp_uplink = uplink;
}

/* The done throughput tests that ended in the month, per school. */
static int
load_tests(struct report_ctx *c, struct month *mo)
{
	sqlite3_stmt *st;
	double *v = NULL;
	size_t n = 0, cap = 0;
	uint32_t uplink = 0;
	int idx = -1, rc;
	char *code = NULL;

	if (sqlite3_prepare_v2(c->db,
	        "SELECT school_code, down_mbps, uplink_mbps"
	        " FROM probe_throughput WHERE state = 'done'"
	        " AND down_mbps IS NOT NULL"
	        " AND finished_ms >= ?1 AND finished_ms < ?2"
	        " ORDER BY school_code, down_mbps",
	        -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)mo->m0);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)mo->until);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sc = (const char *)sqlite3_column_text(st, 0);
		uint32_t up = (uint32_t)sqlite3_column_int64(st, 2);

		if (sc == NULL)
			continue;
		if (code == NULL || strcmp(code, sc) != 0) {
			tests_done(mo, idx, v, n, uplink);
			free(code);
			code = xstrdup(sc);
			idx = school_index(mo, code);
			n = 0;
			uplink = 0;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n++] = sqlite3_column_double(st, 1);
		if (up > uplink)
			uplink = up;
	}
	tests_done(mo, idx, v, n, uplink);
	free(code);
	free(v);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Median download below [probe] throughput_min_percent of the uplink
 * (at most the uplink target): the
 * speed the tests saw, else the month's highest, at most the target. */
static int
tests_below(const struct report_ctx *c, const struct school *s)
{
	uint32_t link = s->tp_uplink ? s->tp_uplink
	    : s->up_min != UINT32_MAX ? s->up_max
				      : 0;

	if (link > c->conf->policy.uplink_mbps)
		link = c->conf->policy.uplink_mbps;
	if (s->tp_tests == 0 || link == 0)
		return -1;
	return s->tp_median <
	    c->conf->probe.throughput_min_percent / 100.0 * link;
}

/* At target for at least the compliant share of its known time? */
static int
compliant(const struct report_ctx *c, const struct tally *t)
{
	uint64_t k = known(t);

	if (k == 0)
		return -1;
	return 100.0 * (double)t->ok >=
	    c->conf->policy.compliant_share * (double)k;
}

/* The cause that took the most school time from a tally. */
static const char *
main_cause(enum port_role role, const struct tally *t)
{
	const char *cause = NULL;
	uint64_t most = 0;
	struct {
		uint64_t ms;
		unsigned reason;
	} c[] = {{t->down, REASON_DOWN}, {t->speed, REASON_SPEED},
	    {t->half, REASON_HALF}, {t->errors, REASON_ERRORS}};

	for (size_t i = 0; i < nitems(c); i++)
		if (c[i].ms > most) {
			most = c[i].ms;
			cause = policy_cause(role, c[i].reason);
		}
	return cause;
}

/* Per room and per school: who is compliant, and why not. */
static void
judge(struct report_ctx *c, struct month *mo)
{
	for (size_t i = 0; i < mo->n_rooms; i++) {
		struct room *r = &mo->rooms[i];
		struct school *s = &mo->schools[r->school_idx];

		/* Rows beyond the school time (a type changed after the
		 * roll-up) must not make unknown time negative. */
		if (known(&r->t) > r->t.school)
			r->t.school = known(&r->t);
		r->compliant = compliant(c, &r->t);
		r->cause = r->compliant == 1 ? NULL
		    : r->compliant < 0       ? "no_data"
		                             : main_cause(r->role, &r->t);
		tally_add(&s->rooms, &r->t);
		switch (r->role) {
		case ROLE_UPLINK:
			s->uplinks++;
			tally_add(&s->uplink, &r->t);
			if (r->min_speed < s->up_min)
				s->up_min = r->min_speed;
			if (r->max_speed > s->up_max)
				s->up_max = r->max_speed;
			break;
		case ROLE_CLASSROOM:
			s->classrooms++;
			s->cls_known_n += r->compliant >= 0;
			s->cls_compliant += r->compliant == 1;
			if (r->compliant == 0)
				tally_add(&s->cls_failing, &r->t);
			break;
		case ROLE_RECORDING:
			s->recordings++;
			tally_add(&s->recording, &r->t);
			s->rec_checked += r->checked;
			s->rec_avail += r->checked ? r->rec_avail : r->t.ok;
			s->rec_known += r->checked ? r->rec_known : known(&r->t);
			break;
		case ROLE_NONE:
			break;
		}
	}
	for (size_t i = 0; i < mo->n_schools; i++) {
		struct school *s = &mo->schools[i];

		s->uplink_ok = s->uplinks ? compliant(c, &s->uplink) : -1;
		s->tp_below = tests_below(c, s);
		if (s->uplink_ok == 0) {
			s->status = 0;
			s->cause = main_cause(ROLE_UPLINK, &s->uplink);
		} else if (s->cls_compliant < s->cls_known_n) {
			s->status = 0;
		} else if (s->uplink_ok < 0 || s->cls_known_n < s->classrooms) {
			s->status = -1;
			s->cause = "no_data";
		} else {
			s->status = 1;
		}
		if (s->status == 0 && s->cause == NULL)
			s->cause = main_cause(ROLE_CLASSROOM, &s->cls_failing);
		for (int d = 0; d < mo->n_days; d++) {
			mo->cls_ok[d] += s->cls_ok[d];
			mo->cls_known[d] += s->cls_known[d];
		}
	}
}

/* The rooms: the previous month needs only its schools' figures. */
static void
month_free_rooms(struct month *mo)
{
	for (size_t i = 0; i < mo->n_rooms; i++) {
		free(mo->rooms[i].room);
		free(mo->rooms[i].sw);
		free(mo->rooms[i].port);
	}
	free(mo->rooms);
	free(mo->uses);
	free(mo->invs);
	mo->rooms = NULL;
	mo->uses = NULL;
	mo->invs = NULL;
	mo->n_rooms = mo->cap_rooms = mo->n_uses = mo->cap_uses = 0;
	mo->n_invs = mo->cap_invs = 0;
}

static void
month_free(struct month *mo)
{
	for (size_t i = 0; i < mo->n_schools; i++) {
		free(mo->schools[i].code);
		free(mo->schools[i].name);
		free(mo->schools[i].town);
		free(mo->schools[i].type);
	}
	month_free_rooms(mo);
	for (int i = 0; i < mo->n_types; i++)
		free(mo->types[i]);
	free(mo->schools);
	free(mo->by_code);
}

static int
days_in_month(int y, int m)
{
	static const int days[] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Gather one month's figures (y-m) into mo. */
static int
month_load(struct report_ctx *c, int y, int m, struct month *mo)
{
	uint64_t rolled;
	int n;

	mo->y = y;
	mo->m = m;
	mo->n_days = days_in_month(y, m);
	mo->m0 = calendar_local_midnight(c->cal, y, m, 1);
	mo->m1 = calendar_local_midnight(c->cal, y, m + 1, 1);
	mo->until = c->now < mo->m1 ? c->now : mo->m1;
	if (mo->until <= mo->m0)
		return 0; /* a month still to come: nothing counted */
	rolled = mo->m0;
	if (!c->a->from_raw) {
		n = rollup_update(c->db, c->cal, &c->conf->policy, mo->m0,
		    mo->m1, c->now, c->a->progress, NULL);
		if (n < 0)
			return -1;
		/* Stored days end where rollup_update stopped: the first
		 * day not yet over for ROLLUP_GRACE_MS. */
		rolled = rollup_day_start(c->cal, mo->until);
		while (rolled > mo->m0 && rolled + ROLLUP_GRACE_MS > c->now)
			rolled -= DAY_MS;
	}
	if (load_schools(c, mo) != 0 || load_rooms(c, mo) != 0 ||
	    fold_month(c, mo, rolled) != 0 || load_alerts(c, mo) != 0 ||
	    load_checks(c, mo) != 0 || load_tests(c, mo) != 0) {
		log_warnx("report %04d-%02d: %s", y, m, sqlite3_errmsg(c->db));
		return -1;
	}
	judge(c, mo);
	return 0;
}

/* --- the JSON model ------------------------------------------------- */

struct summary {
	int schools, schools_known, passing, uplinks_ok;
	int classrooms, cls_known, cls_compliant;
	int town_seat, town_seat_rec, recordings;
	struct tally rooms, recording;
	uint64_t rec_avail, rec_known;
	int rec_checked;
	int64_t alerts, recovered;
	uint64_t recover_ms;
};

static void
summary_add(struct summary *a, const struct school *s)
{
	a->schools++;
	a->schools_known += s->status >= 0;
	a->passing += s->status == 1;
	a->uplinks_ok += s->uplink_ok == 1;
	a->classrooms += s->classrooms;
	a->cls_known += s->cls_known_n;
	a->cls_compliant += s->cls_compliant;
	a->town_seat += s->town_seat;
	a->town_seat_rec += s->town_seat && s->recordings > 0;
	a->recordings += s->recordings;
	tally_add(&a->rooms, &s->rooms);
	tally_add(&a->recording, &s->recording);
	a->rec_avail += s->rec_avail;
	a->rec_known += s->rec_known;
	a->rec_checked += s->rec_checked;
	a->alerts += s->alerts_opened;
	a->recovered += s->alerts_recovered;
	a->recover_ms += s->recover_ms;
}

static json_t *
mttr(uint64_t ms, int64_t n)
{
	return n ? minutes(ms / (uint64_t)n) : json_null();
}

static double
pct(uint64_t part, uint64_t whole, bool *ok)
{
	*ok = whole != 0;
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* The change in percentage points, or null when either side is unknown. */
static json_t *
delta(uint64_t p1, uint64_t w1, const struct summary *prev, uint64_t p0,
    uint64_t w0)
{
	bool ok1, ok0;
	double now = pct(p1, w1, &ok1), before = pct(p0, w0, &ok0);

	if (prev == NULL || !ok1 || !ok0)
		return json_null();
	return json_real(round2(round2(now) - round2(before)));
}

static json_t *
summary_json(const struct summary *s, const struct summary *p)
{
	json_t *o = json_object();
	const struct summary zero = {0};
	const struct summary *q = p ? p : &zero;

	json_object_set_new(o, "schools", json_integer(s->schools));
	json_object_set_new(o, "schools_known", json_integer(s->schools_known));
	json_object_set_new(o, "schools_passing", json_integer(s->passing));
	json_object_set_new(o, "schools_passing_pct",
	    pct_or_null((uint64_t)s->passing, (uint64_t)s->schools_known));
	json_object_set_new(
	    o, "uplinks_compliant", json_integer(s->uplinks_ok));
	json_object_set_new(o, "classrooms", json_integer(s->classrooms));
	json_object_set_new(o, "classrooms_known", json_integer(s->cls_known));
	json_object_set_new(
	    o, "classrooms_compliant", json_integer(s->cls_compliant));
	json_object_set_new(o, "classrooms_compliant_pct",
	    pct_or_null((uint64_t)s->cls_compliant, (uint64_t)s->cls_known));
	json_object_set_new(o, "town_seat_schools", json_integer(s->town_seat));
	json_object_set_new(
	    o, "town_seat_with_recording", json_integer(s->town_seat_rec));
	json_object_set_new(o, "recording_coverage_pct",
	    pct_or_null((uint64_t)s->town_seat_rec, (uint64_t)s->town_seat));
	json_object_set_new(o, "recording_rooms", json_integer(s->recordings));
	json_object_set_new(o, "recording_available_pct",
	    pct_or_null(s->rec_avail, s->rec_known));
	json_object_set_new(o, "recording_checked_rooms",
	    json_integer(s->rec_checked));
	json_object_set_new(o, "completeness_pct",
	    pct_or_null(known(&s->rooms), s->rooms.school));
	json_object_set_new(o, "alerts_opened", json_integer(s->alerts));
	json_object_set_new(o, "mttr_min", mttr(s->recover_ms, s->recovered));
	json_object_set_new(o, "change",
	    json_pack("{s:o, s:o, s:o, s:o}", "schools_passing_pct",
	        delta((uint64_t)s->passing, (uint64_t)s->schools_known, p,
	            (uint64_t)q->passing, (uint64_t)q->schools_known),
	        "classrooms_compliant_pct",
	        delta((uint64_t)s->cls_compliant, (uint64_t)s->cls_known, p,
	            (uint64_t)q->cls_compliant, (uint64_t)q->cls_known),
	        "recording_coverage_pct",
	        delta((uint64_t)s->town_seat_rec, (uint64_t)s->town_seat, p,
	            (uint64_t)q->town_seat_rec, (uint64_t)q->town_seat),
	        "recording_available_pct",
	        delta(s->rec_avail, s->rec_known, p, q->rec_avail,
	            q->rec_known)));
	return o;
}

/* Summaries per town (towns sorted by name: schools are) and for all. */
struct town_sum {
	const char *town;
	struct summary s;
};

static struct town_sum *
summarize(const struct month *mo, size_t *n_towns, struct summary *all)
{
	struct town_sum *t = NULL;
	size_t n = 0;

	memset(all, 0, sizeof(*all));
	for (size_t i = 0; i < mo->n_schools; i++) {
		const struct school *s = &mo->schools[i];

		if (n == 0 || strcmp(t[n - 1].town, s->town) != 0) {
			t = xreallocarray(t, n + 1, sizeof(*t));
			memset(&t[n], 0, sizeof(t[n]));
			t[n++].town = s->town;
		}
		summary_add(&t[n - 1].s, s);
		summary_add(all, s);
	}
	*n_towns = n;
	return t;
}

static const struct summary *
find_town(const struct town_sum *t, size_t n, const char *town)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].town, town) == 0)
			return &t[i].s;
	return NULL;
}

static void
date_of(const struct month *mo, int d, char *buf, size_t size)
{
	snprintf(buf, size, "%04d-%02d-%02d", mo->y, mo->m, d + 1);
}

static json_t *
local_time(const struct calendar *cal, uint64_t t)
{
	int off = calendar_utc_offset_min(cal), y, m, d;
	uint64_t local_ms = t + (uint64_t)((int64_t)off * 60000);
	uint64_t in_day = local_ms % DAY_MS;
	char buf[40];

	calendar_local_date(cal, t, &y, &m, &d);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
	    y, m, d, (int)(in_day / 3600000), (int)(in_day / 60000 % 60),
	    (int)(in_day / 1000 % 60), off < 0 ? '-' : '+', abs(off) / 60,
	    abs(off) % 60);
	return json_string(buf);
}

static json_t *
params_json(const struct report_ctx *c, const struct month *mo,
    const struct month *prev)
{
	const struct policy_conf *p = &c->conf->policy;
	char month[24], pmonth[24], stamp[32];

	snprintf(month, sizeof(month), "%04d-%02d", mo->y, mo->m);
	snprintf(pmonth, sizeof(pmonth), "%04d-%02d", prev->y, prev->m);
	time_iso8601(c->now, stamp, sizeof(stamp));
	return json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:b,"
	                 " s:i, s:s, s:{s:I, s:I, s:I, s:f, s:f}}",
	    "month", month, "previous_month", pmonth, "town",
	    c->a->town ? json_string(c->a->town) : json_null(), "school",
	    c->a->school ? json_string(c->a->school) : json_null(), "lang",
	    c->a->en ? "en" : "zh", "generated_at", stamp, "period_start",
	    local_time(c->cal, mo->m0), "period_end",
	    local_time(c->cal, mo->m1), "counted_until",
	    local_time(c->cal, mo->until > mo->m0 ? mo->until : mo->m0),
	    "complete", c->now >= mo->m1, "utc_offset_min",
	    calendar_utc_offset_min(c->cal), "calendar", calendar_name(c->cal),
	    "targets", "uplink_mbps", (json_int_t)p->uplink_mbps,
	    "classroom_mbps", (json_int_t)p->classroom_mbps, "recording_mbps",
	    (json_int_t)p->recording_mbps, "max_errors_per_min",
	    p->max_errors_per_min, "compliant_share_pct",
	    c->conf->policy.compliant_share);
}

static json_t *
tristate(int v)
{
	return v < 0 ? json_null() : json_boolean(v);
}

static json_t *
speed_or_null(uint32_t v)
{
	return v == UINT32_MAX ? json_null() : json_integer(v);
}

static json_t *
mbps_or_null(int n, double v)
{
	return n ? json_real(round2(v)) : json_null();
}

/* uplink.throughput: the month's done tests of the school. */
static json_t *
school_tests_json(const struct school *s)
{
	return json_pack("{s:i, s:o, s:o, s:o, s:o}", "tests", s->tp_tests,
	    "median_mbps", mbps_or_null(s->tp_tests, s->tp_median),
	    "worst_mbps", mbps_or_null(s->tp_tests, s->tp_worst),
	    "uplink_mbps",
	    s->tp_uplink ? json_integer(s->tp_uplink) : json_null(),
	    "below_target", tristate(s->tp_below));
}

/*
 * A town's (NULL: the district's) throughput: its schools' tests, the
 * median of the tested schools' medians, the worst test, and how many
 * schools' median is below target.
 */
static json_t *
area_tests_json(const struct month *mo, const char *town)
{
	double *med = xreallocarray(NULL, mo->n_schools + 1, sizeof(*med));
	double worst = 0;
	size_t n = 0;
	int tests = 0, below = 0;
	json_t *o;

	for (size_t i = 0; i < mo->n_schools; i++) {
		const struct school *s = &mo->schools[i];

		if (town && strcmp(s->town, town) != 0)
			continue;
		tests += s->tp_tests;
		below += s->tp_below == 1;
		if (s->tp_tests == 0)
			continue;
		if (n == 0 || s->tp_worst < worst)
			worst = s->tp_worst;
		med[n++] = s->tp_median;
	}
	qsort(med, n, sizeof(*med), cmp_double);
	o = json_pack("{s:i, s:i, s:o, s:o, s:i}", "schools_tested", (int)n,
	    "tests", tests, "median_mbps",
	    mbps_or_null((int)n, n ? median_of(med, n) : 0), "worst_mbps",
	    mbps_or_null((int)n, worst), "below_target", below);
	free(med);
	return o;
}

static json_t *
school_json(const struct month *mo, const struct school *s)
{
	static const char *const status[] = {"unknown", "fail", "pass"};
	json_t *days = json_array();
	char from[40];

	for (int d = 0; d < mo->n_days; d++) {
		char date[40];

		date_of(mo, d, date, sizeof(date));
		json_array_append_new(days,
		    json_pack("{s:s, s:o}", "date", date, "classroom_pct",
		        pct_or_null(s->cls_ok[d], s->cls_known[d])));
	}
	date_of(mo, s->from < mo->n_days ? s->from : mo->n_days - 1, from,
	    sizeof(from));
	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:o, s:o, s:o, s:o,"
	    " s:{s:i, s:o, s:o, s:o, s:o, s:o},"
	    " s:{s:i, s:i, s:i}, s:{s:i, s:o, s:i, s:o}, s:{s:I, s:I, s:o},"
	    " s:o}",
	    "code", s->code, "name", s->name, "town", s->town, "type", s->type,
	    "town_seat", s->town_seat, "counted_from", from, "status",
	    status[s->status + 1], "main_cause",
	    s->cause ? json_string(s->cause) : json_null(), "school_min",
	    minutes(s->rooms.school), "known_min", minutes(known(&s->rooms)),
	    "completeness_pct", pct_or_null(known(&s->rooms), s->rooms.school),
	    "uplink", "rooms", s->uplinks, "at_target_pct",
	    pct_or_null(s->uplink.ok, known(&s->uplink)), "compliant",
	    tristate(s->uplink_ok), "speed_mbps_min", speed_or_null(s->up_min),
	    "speed_mbps_max",
	    s->up_min == UINT32_MAX ? json_null() : json_integer(s->up_max),
	    "throughput", school_tests_json(s), "classrooms",
	    "total", s->classrooms, "known", s->cls_known_n, "compliant",
	    s->cls_compliant, "recording", "rooms", s->recordings,
	    "available_pct", pct_or_null(s->rec_avail, s->rec_known),
	    "checked_rooms", s->rec_checked, "basis",
	    s->recordings == 0	   ? json_null()
	    : s->rec_checked == 0 ? json_string("port")
	    : s->rec_checked == s->recordings ? json_string("checks")
					      : json_string("mixed"),
	    "alerts", "opened", (json_int_t)s->alerts_opened, "recovered",
	    (json_int_t)s->alerts_recovered, "mttr_min",
	    mttr(s->recover_ms, s->alerts_recovered), "days", days);
}

static json_t *
room_json(
    const struct report_ctx *c, const struct month *mo, const struct room *r)
{
	const struct school *s = &mo->schools[r->school_idx];
	const struct tally *t = &r->t;
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o,"
	                 " s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "school", s->code, "town", s->town, "role",
	    policy_role_name(r->role), "room", r->room, "switch", r->sw, "port",
	    r->port, "target_mbps",
	    (json_int_t)policy_target(&c->conf->policy, r->role), "school_min",
	    minutes(t->school), "ok_min", minutes(t->ok), "speed_min",
	    minutes(t->speed), "half_min", minutes(t->half), "errors_min",
	    minutes(t->errors), "down_min", minutes(t->down), "unknown_min",
	    minutes(t->school - known(t)), "at_target_pct",
	    pct_or_null(t->ok, known(t)), "compliant", tristate(r->compliant),
	    "main_cause", r->cause ? json_string(r->cause) : json_null(),
	    "speed_mbps_min", speed_or_null(r->min_speed));
	/* A recording room: available by its host checks, else by its port. */
	if (r->role == ROLE_RECORDING) {
		json_object_set_new(o, "available_pct",
		    r->checked ? pct_or_null(r->rec_avail, r->rec_known)
			       : pct_or_null(t->ok, known(t)));
		json_object_set_new(o, "basis",
		    json_string(r->checked ? "checks" : "port"));
	}
	return o;
}

static const char *const day_kinds[] = {
    "school_day", "weekend", "holiday", "makeup_day", "vacation"};

/*
 * The model, without its rooms: a province has 800,000, and as jansson
 * objects they would take gigabytes. They are made one at a time where
 * they are written (next_room).
 */
static json_t *
model_json(const struct report_ctx *c, const struct month *mo,
    const struct month *prev)
{
	struct summary all, pall;
	size_t n_towns, n_ptowns;
	struct town_sum *towns = summarize(mo, &n_towns, &all);
	struct town_sum *ptowns = summarize(prev, &n_ptowns, &pall);
	bool have_prev = prev->n_schools > 0;
	json_t *jt = json_array(), *js = json_array();
	json_t *jd = json_array(), *bad_s = json_array(), *bad_c = json_array();
	json_t *district;

	for (size_t i = 0; i < n_towns; i++) {
		json_t *o = summary_json(&towns[i].s,
		    have_prev ? find_town(ptowns, n_ptowns, towns[i].town)
		              : NULL);

		json_object_set_new(o, "town", json_string(towns[i].town));
		json_object_set_new(o, "throughput",
		    area_tests_json(mo, towns[i].town));
		json_array_append_new(jt, o);
	}
	for (size_t i = 0; i < mo->n_schools; i++) {
		const struct school *s = &mo->schools[i];

		json_array_append_new(js, school_json(mo, s));
		if (s->status != 1)
			json_array_append_new(bad_s,
			    json_pack("{s:s, s:s, s:s, s:s, s:s}", "code",
			        s->code, "name", s->name, "town", s->town,
			        "status", s->status ? "unknown" : "fail",
			        "main_cause", s->cause ? s->cause : "no_data"));
	}
	for (size_t i = 0; i < mo->n_rooms; i++) {
		const struct room *r = &mo->rooms[i];
		const struct school *s = &mo->schools[r->school_idx];

		if (r->role == ROLE_CLASSROOM && r->compliant != 1)
			json_array_append_new(bad_c,
			    json_pack(
			        "{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s}",
			        "school", s->code, "school_name", s->name,
			        "town", s->town, "room", r->room, "switch",
			        r->sw, "port", r->port, "at_target_pct",
			        pct_or_null(r->t.ok, known(&r->t)),
			        "main_cause", r->cause));
	}
	for (int d = 0; d < mo->n_days; d++) {
		uint64_t noon = mo->m0 + (uint64_t)d * DAY_MS + DAY_MS / 2;
		const char *name = NULL;
		enum calendar_day kind =
		    calendar_day_kind(c->cal, NULL, noon, &name);
		char date[40];

		date_of(mo, d, date, sizeof(date));
		json_array_append_new(jd,
		    json_pack("{s:s, s:s, s:o, s:o, s:o}", "date", date, "kind",
		        day_kinds[kind], "name",
		        name ? json_string(name) : json_null(), "school_min",
		        minutes(mo->cls_school[d]), "classroom_pct",
		        pct_or_null(mo->cls_ok[d], mo->cls_known[d])));
	}
	free(towns);
	free(ptowns);
	district = summary_json(&all, have_prev ? &pall : NULL);
	json_object_set_new(district, "throughput", area_tests_json(mo, NULL));
	return json_pack(
	    "{s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o}}", "report",
	    "schoolnet-compliance", "version", 1, "params",
	    params_json(c, mo, prev), "district", district, "towns", jt,
	    "schools", js, "days", jd, "noncompliant", "schools",
	    bad_s, "classrooms", bad_c);
}

/* The rooms, one new JSON object at a time (NULL after the last). */
struct rooms_iter {
	const struct report_ctx *c;
	const struct month *mo;
	size_t next;
};

static json_t *
next_room(void *arg)
{
	struct rooms_iter *it = arg;

	if (it->next >= it->mo->n_rooms)
		return NULL;
	return room_json(it->c, it->mo, &it->mo->rooms[it->next++]);
}

#define CANONICAL (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15))

static int
digest_json(EVP_MD_CTX *ctx, const json_t *v)
{
	char *text = json_dumps(v, CANONICAL);
	int ok = text && EVP_DigestUpdate(ctx, text, strlen(text));

	free(text);
	return ok;
}

/* One room's figures as a line for the hash: cheaper than its JSON. */
static int
digest_room(EVP_MD_CTX *ctx, const struct month *mo, const struct room *r)
{
	const struct tally *t = &r->t;
	char line[1024];
	int n = snprintf(line, sizeof(line),
	    "%s\t%s\t%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
	    "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%d\t%s\t%" PRIu32
	    "\t%" PRIu32 "\n",
	    mo->schools[r->school_idx].code, policy_role_name(r->role), r->room,
	    r->sw, r->port, t->school, t->ok, t->speed, t->half, t->errors,
	    t->down, r->compliant, r->cause ? r->cause : "", r->min_speed,
	    r->max_speed);

	return n > 0 && EVP_DigestUpdate(ctx, line,
	    (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/*
 * content_hash: SHA-256 of the model's canonical JSON (compact, keys
 * sorted) without its time of making, then of a line of figures per room.
 * The same figures give the same hash, whatever the format.
 */
static int
add_content_hash(json_t *model, const struct month *mo)
{
	json_t *params = json_object_get(model, "params");
	json_t *stamp = json_incref(json_object_get(params, "generated_at"));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char hex[8 + 2 * EVP_MAX_MD_SIZE + 1] = "sha256:";
	int ok;

	json_object_del(params, "generated_at");
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    digest_json(ctx, model);
	for (size_t i = 0; ok && i < mo->n_rooms; i++)
		ok = digest_room(ctx, mo, &mo->rooms[i]);
	ok = ok && EVP_DigestFinal_ex(ctx, md, &md_len);
	EVP_MD_CTX_free(ctx);
	json_object_set_new(params, "generated_at", stamp);
	if (!ok)
		return -1;
	for (unsigned i = 0; i < md_len; i++)
		snprintf(hex + 7 + 2 * i, 3, "%02x", md[i]);
	json_object_set_new(model, "content_hash", json_string(hex));
	return 0;
}

/* The model as JSON, with its rooms streamed in as the last member. */
static int
write_json(FILE *out, const json_t *model, struct rooms_iter it)
{
	char *text = json_dumps(model, JSON_INDENT(1) | JSON_REAL_PRECISION(15));
	size_t n = text ? strlen(text) : 0;
	json_t *room;
	bool first = true;
	int rc = 0;

	/* text ends with the object's closing "}": the rooms go before it. */
	if (n < 2 || text[n - 1] != '}') {
		free(text);
		return -1;
	}
	while (n > 1 && (text[n - 2] == '\n' || text[n - 2] == ' '))
		n--;
	fwrite(text, 1, n - 1, out);
	free(text);
	fputs(",\n \"rooms\": [", out);
	while ((room = next_room(&it)) != NULL) {
		char *line = json_dumps(room, JSON_COMPACT |
		    JSON_REAL_PRECISION(15));

		rc |= line == NULL || fprintf(out, "%s\n  %s",
		    first ? "" : ",", line) < 0;
		first = false;
		free(line);
		json_decref(room);
	}
	fputs("\n ]\n}\n", out);
	return rc || ferror(out) ? -1 : 0;
}

static int
parse_month(const char *s, int *y, int *m)
{
	char tail;

	return s && sscanf(s, "%4d-%2d%c", y, m, &tail) == 2 && *y >= 1970 &&
	        *y <= 9998 && *m >= 1 && *m <= 12 && strlen(s) == 7
	    ? 0
	    : -1;
}

int
cmd_report(sqlite3 *db, const struct calendar *cal,
    const struct collector_conf *conf, const struct report_args *a)
{
	struct report_ctx c = {.db = db,
	    .cal = cal,
	    .conf = conf,
	    .a = a,
	    .now = a->now ? a->now : time_now_ms()};
	struct month mo = {0}, prev = {0};
	int y, m, rc = 1;
	json_t *model = NULL;
	FILE *out = a->out ? a->out : stdout;

	if (a->month == NULL) {
		calendar_local_date(cal, c.now, &y, &m, &(int){0});
	} else if (parse_month(a->month, &y, &m) != 0) {
		fprintf(stderr,
		    "schoolnet-collector: --month %s: expected "
		    "YYYY-MM\n",
		    a->month);
		return 1;
	}
	/* The previous month first, so that its rooms are gone before this
	 * month's are read. */
	if (month_load(&c, m == 1 ? y - 1 : y, m == 1 ? 12 : m - 1, &prev) != 0)
		goto done;
	month_free_rooms(&prev);
	if (month_load(&c, y, m, &mo) != 0)
		goto done;
	if ((a->town || a->school) && mo.n_schools == 0) {
		fprintf(stderr, "schoolnet-collector: report %04d-%02d: no school "
		    "%s%s%s%s in the inventory\n", y, m,
		    a->town ? "in town " : "", a->town ? a->town : "",
		    a->school ? (a->town ? " with code " : "with code ") : "",
		    a->school ? a->school : "");
		goto done;
	}
	model = model_json(&c, &mo, &prev);
	if (model == NULL ||
	    add_content_hash(model, &mo) != 0) {
		fprintf(stderr, "schoolnet-collector: report: out of memory\n");
		goto done;
	}
	if (a->output && (out = fopen(a->output, "w")) == NULL) {
		fprintf(stderr, "schoolnet-collector: %s: %s\n", a->output,
		    strerror(errno));
		goto done;
	}
	if (strcmp(a->format, "json") == 0)
		rc = a->no_rooms
		    ? (json_dumpf(model, out, JSON_INDENT(1) |
			   JSON_REAL_PRECISION(15)) != 0 ||
			  fputc('\n', out) == EOF)
		    : write_json(out, model, (struct rooms_iter){&c, &mo, 0});
	else if (strcmp(a->format, "csv") == 0)
		rc = report_write_csv_rows(out, model, a->level, a->en,
		    next_room, &(struct rooms_iter){&c, &mo, 0});
	else
		rc = report_write_html(out, model, a->en);
	rc = rc == 0 ? 0 : 1;
	if (a->output && fclose(out) != 0)
		rc = 1;
	if (rc != 0)
		fprintf(stderr,
		    "schoolnet-collector: report: cannot write %s\n",
		    a->output ? a->output : "to standard output");
	else if (a->output)
		log_info(
		    "report %04d-%02d (%s): %zu schools, %zu rooms: wrote %s",
		    y, m, a->format, mo.n_schools, mo.n_rooms, a->output);
done:
	json_decref(model);
	month_free(&prev);
	month_free(&mo);
	return rc;
}
