/*
 * rollup.c: daily roll-ups of every port's school-hours time.
 *
 * The monthly report needs, per port and local day, how much of the day's
 * school hours the port spent up at each speed and duplex, how much of that
 * with too many errors, and how much down; the rest is unknown. That is
 * computed here, exactly, from the raw state intervals (port_state) and the
 * error counts (port_rates): every interval is cut at local midnight and
 * at the start and end of school hours by calendar_hours_between(). The
 * facts are stored in port_day; the policy (which speed a room needs) is
 * applied when the report is made, so a changed target needs no recompute.
 *
 * A stored day is trusted while rollup_days holds it under the current
 * fingerprint (calendar contents and error limit). Reports that arrive late
 * mark their hour in rollup_dirty (db.c), and the day is computed again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "collector.h"
#include "schoolnet/calendar.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

#define ROLLUP_CHUNK_DAYS 4 /* days computed in one read pass */

uint64_t
rollup_day_start(const struct calendar *cal, uint64_t t_ms)
{
	int64_t off = (int64_t)calendar_utc_offset_min(cal) * 60000;
	int64_t local = (int64_t)t_ms + off;
	int64_t day = local - ((local % DAY_MS) + DAY_MS) % DAY_MS;

	return day - off < 0 ? 0 : (uint64_t)(day - off);
}

/* "calendar=sha256:…;max_errors_per_min=10": what the roll-ups depend on. */
int
rollup_fingerprint(const struct policy_conf *pc, char *buf, size_t size)
{
	char cal[80] = "builtin";

	if (pc->calendar[0] != '\0') {
		unsigned char md[EVP_MAX_MD_SIZE], chunk[8192];
		unsigned int md_len = 0;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		FILE *f = fopen(pc->calendar, "rb");
		size_t n;
		int ok;

		ok = ctx && f && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		while (ok && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			ok = EVP_DigestUpdate(ctx, chunk, n);
		ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &md_len);
		if (!ok)
			log_warnx("calendar %s: cannot read: %s", pc->calendar,
			    strerror(errno));
		if (f)
			fclose(f);
		EVP_MD_CTX_free(ctx);
		if (!ok)
			return -1;
		n = (size_t)snprintf(cal, sizeof(cal), "sha256:");
		for (unsigned i = 0; i < md_len && n + 3 <= sizeof(cal); i++)
			n += (size_t)snprintf(
			    cal + n, sizeof(cal) - n, "%02x", md[i]);
	}
	snprintf(buf, size, "calendar=%s;max_errors_per_min=%g", cal,
	    pc->max_errors_per_min);
	return 0;
}

/* --- from the raw intervals ---------------------------------------- */

struct span {
	uint64_t t0, t1;
	int admin, oper, duplex;
	uint32_t speed;
};

struct spans {
	struct span *v;
	size_t n, cap;
};

static void
spans_push(struct spans *s, const struct span *x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	s->v[s->n++] = *x;
}

struct compute {
	sqlite3_stmt *ports, *states, *errors;
	const struct calendar *cal;
	double max_errors_per_min;
	struct spans states_v, errors_v;
	struct day_row *rows; /* one day's rows of one port */
	size_t n_rows, cap_rows;
};

/* Add ms (err_ms of it erroring) in one condition to the day's rows. */
static void
add_row(struct compute *c, const struct day_row *x)
{
	for (size_t i = 0; i < c->n_rows; i++) {
		struct day_row *r = &c->rows[i];

		if (r->up == x->up && r->speed_mbps == x->speed_mbps &&
		    r->duplex == x->duplex) {
			r->ms += x->ms;
			r->err_ms += x->err_ms;
			return;
		}
	}
	if (c->n_rows == c->cap_rows) {
		c->cap_rows = c->cap_rows ? c->cap_rows * 2 : 8;
		c->rows = xreallocarray(c->rows, c->cap_rows, sizeof(*c->rows));
	}
	c->rows[c->n_rows++] = *x;
}

/* The port's state intervals overlapping [t0, t1), oldest first. */
static int
load_states(struct compute *c, int64_t port_id, uint64_t t0, uint64_t t1)
{
	sqlite3_stmt *st = c->states;
	size_t first;
	int rc;

	c->states_v.n = 0;
	sqlite3_bind_int64(st, 1, port_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)t1);
	/* Newest first: intervals of a port do not overlap, so the first
	 * one ending at or before t0 ends the walk. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct span x = {.t0 = (uint64_t)sqlite3_column_int64(st, 0),
		    .t1 = (uint64_t)sqlite3_column_int64(st, 1),
		    .admin = sqlite3_column_int(st, 2),
		    .oper = sqlite3_column_int(st, 3),
		    .speed = (uint32_t)sqlite3_column_int64(st, 4),
		    .duplex = sqlite3_column_int(st, 5)};

		if (x.t1 <= t0)
			break;
		spans_push(&c->states_v, &x);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	for (first = 0; first < c->states_v.n / 2; first++) {
		struct span tmp = c->states_v.v[first];
		size_t last = c->states_v.n - 1 - first;

		c->states_v.v[first] = c->states_v.v[last];
		c->states_v.v[last] = tmp;
	}
	return 0;
}

/* The polls in [t0, t1) whose errors per minute pass the limit. */
static int
load_errors(struct compute *c, int64_t port_id, uint64_t t0, uint64_t t1)
{
	sqlite3_stmt *st = c->errors;
	int rc;

	c->errors_v.n = 0;
	sqlite3_bind_int64(st, 1, port_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)t0);
	/* A poll ends at most a day after it began. */
	sqlite3_bind_int64(st, 3, (sqlite3_int64)(t1 + DAY_MS));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct span x = {.t0 = (uint64_t)sqlite3_column_int64(st, 0),
		    .t1 = (uint64_t)sqlite3_column_int64(st, 1)};
		double errors = (double)sqlite3_column_int64(st, 2);

		if (x.t1 <= x.t0 || x.t0 >= t1)
			continue;
		if (errors / ((double)(x.t1 - x.t0) / 60000.0) >
		    c->max_errors_per_min)
			spans_push(&c->errors_v, &x);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static uint64_t
max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * School-hours ms of [a, b) that fall in a poll with too many errors. The
 * pieces asked for start later and later, so the polls ending before a
 * are passed for good (*first): linear in the polls, not quadratic.
 */
static uint64_t
error_ms(struct compute *c, const char *type, uint64_t a, uint64_t b,
    size_t *first)
{
	uint64_t ms = 0;

	while (*first < c->errors_v.n && c->errors_v.v[*first].t1 <= a)
		(*first)++;
	for (size_t i = *first; i < c->errors_v.n; i++) {
		const struct span *e = &c->errors_v.v[i];

		if (e->t0 >= b)
			break;
		if (e->t1 > a)
			ms += calendar_hours_between(
			    c->cal, type, max_u64(a, e->t0), min_u64(b, e->t1));
	}
	return ms;
}

/* One port over [t0, t1): its rows, a day at a time. */
static int
compute_port(struct compute *c, int64_t port_id, const char *type, uint64_t t0,
    uint64_t t1, day_row_fn fn, void *arg)
{
	if (load_states(c, port_id, t0, t1) != 0 ||
	    load_errors(c, port_id, t0, t1) != 0)
		return -1;
	if (c->states_v.n == 0)
		return 0;
	for (uint64_t d = rollup_day_start(c->cal, t0); d < t1; d += DAY_MS) {
		size_t first_error = 0;
		uint64_t a0 = max_u64(d, t0), a1 = min_u64(d + DAY_MS, t1);

		c->n_rows = 0;
		for (size_t i = 0; i < c->states_v.n; i++) {
			const struct span *s = &c->states_v.v[i];
			uint64_t p0 = max_u64(s->t0, a0),
			         p1 = min_u64(s->t1, a1);
			struct day_row x = {.day = d, .port_id = port_id};

			if (p0 >= p1)
				continue;
			x.ms = calendar_hours_between(c->cal, type, p0, p1);
			if (x.ms == 0)
				continue;
			/* Down is down: speed and duplex say nothing then. */
			x.up = s->admin == 1 && s->oper == 1;
			if (x.up) {
				x.speed_mbps = s->speed;
				x.duplex = s->duplex;
				x.err_ms = error_ms(c, type, p0, p1,
				    &first_error);
			}
			add_row(c, &x);
		}
		for (size_t i = 0; i < c->n_rows; i++)
			if (fn(arg, &c->rows[i]) != 0)
				return -1;
	}
	return 0;
}

int
rollup_compute(sqlite3 *db, const struct calendar *cal,
    double max_errors_per_min, uint64_t t0, uint64_t t1, bool progress,
    const atomic_bool *cancel, day_row_fn fn, void *arg)
{
	struct compute c = {
	    .cal = cal, .max_errors_per_min = max_errors_per_min};
	uint64_t next_note = time_mono_ms() + 1000;
	int64_t done = 0;
	int rc = -1;

	if (sqlite3_prepare_v2(db,
	        "SELECT p.id, sc.type"
	        " FROM ports p JOIN switches s ON s.id = p.switch_id"
	        " JOIN agents a ON a.id = s.agent_id"
	        " LEFT JOIN schools sc ON sc.code = a.school"
	        " WHERE EXISTS (SELECT 1 FROM inventory i"
	        "  WHERE i.school_code = a.school AND i.switch = s.name"
	        "  AND i.port IN (p.if_name, p.if_descr)"
	        "  AND i.valid_from < ?2 AND (i.valid_to IS NULL OR"
	        "  i.valid_to > ?1))"
	        " ORDER BY p.id",
	        -1, &c.ports, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	        "SELECT t_start, t_end, admin, oper, speed_mbps, duplex"
	        " FROM port_state WHERE port_id = ? AND t_start < ?"
	        " ORDER BY t_start DESC",
	        -1, &c.states, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	        "SELECT t_start, t_end, in_errors + out_errors FROM port_rates"
	        " WHERE port_id = ? AND t_end > ? AND t_end < ?"
	        " AND in_errors + out_errors > 0 ORDER BY t_end",
	        -1, &c.errors, NULL) != SQLITE_OK) {
		log_warnx("roll-up: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_int64(c.ports, 1, (sqlite3_int64)t0);
	sqlite3_bind_int64(c.ports, 2, (sqlite3_int64)t1);
	while ((rc = sqlite3_step(c.ports)) == SQLITE_ROW) {
		const char *type =
		    (const char *)sqlite3_column_text(c.ports, 1);

		if (cancel && atomic_load(cancel)) {
			rc = SQLITE_INTERRUPT;
			break;
		}
		if (compute_port(&c, sqlite3_column_int64(c.ports, 0), type, t0,
		        t1, fn, arg) != 0)
			break;
		done++;
		if (progress && time_mono_ms() >= next_note) {
			fprintf(stderr, "  ... %" PRId64 " ports\n", done);
			next_note += 1000;
		}
	}
	if (rc != SQLITE_DONE && rc != SQLITE_INTERRUPT)
		log_warnx("roll-up: %s", sqlite3_errmsg(db));
	rc = rc == SQLITE_DONE ? 0 : -1;
out:
	sqlite3_finalize(c.ports);
	sqlite3_finalize(c.states);
	sqlite3_finalize(c.errors);
	free(c.states_v.v);
	free(c.errors_v.v);
	free(c.rows);
	return rc;
}

/* --- stored roll-ups ------------------------------------------------ */

struct row_buf {
	struct day_row *v;
	size_t n, cap;
};

static int
collect_row(void *arg, const struct day_row *r)
{
	struct row_buf *b = arg;

	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 4096;
		b->v = xreallocarray(b->v, b->cap, sizeof(*b->v));
	}
	b->v[b->n++] = *r;
	return 0;
}

static int
exec_sql(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	log_warnx("roll-up: %s", sqlite3_errmsg(db));
	return -1;
}

/* The late-data marks a pass consumes: read with its raw data. */
struct marks {
	int64_t (*v)[2];	/* hour, marked_at */
	size_t n;
};

/*
 * The marks on whole hours of [d0, d1), read in the transaction that reads
 * the raw data: a mark made after that (a late report stored meanwhile)
 * is not among them and stays for the next pass. An hour that straddles
 * local midnight (an offset like +05:45) belongs to two days and stays
 * until a pass has both.
 */
static int
read_marks(sqlite3 *db, uint64_t d0, uint64_t d1, struct marks *mk)
{
	sqlite3_stmt *st;
	int rc;

	mk->n = 0;
	if (sqlite3_prepare_v2(db,
	        "SELECT hour, marked_at FROM rollup_dirty"
	        " WHERE hour >= ? AND hour < ?",
	        -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)((d0 + 3599999) / 3600000));
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(d1 / 3600000));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mk->v = xreallocarray(mk->v, mk->n + 1, sizeof(*mk->v));
		mk->v[mk->n][0] = sqlite3_column_int64(st, 0);
		mk->v[mk->n][1] = sqlite3_column_int64(st, 1);
		mk->n++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Replace the stored days [d0, d1) with rows, and consume the marks read
 * with them: one short write transaction, after the rows were computed
 * under a read transaction.
 */
static int
store_days(sqlite3 *db, const char *fp, uint64_t d0, uint64_t d1,
    const struct row_buf *b, const struct marks *mk, uint64_t now)
{
	sqlite3_stmt *del = NULL, *ins = NULL, *day = NULL, *clean = NULL;
	int rc = -1;

	if (exec_sql(db, "BEGIN IMMEDIATE") != 0)
		return -1;
	if (sqlite3_prepare_v2(db,
	        "DELETE FROM port_day WHERE day >= ? AND day < ?", -1, &del,
	        NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	        "INSERT INTO port_day(day, port_id, up, speed_mbps, duplex, ms,"
	        " err_ms) VALUES(?, ?, ?, ?, ?, ?, ?)",
	        -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	        "INSERT OR REPLACE INTO rollup_days(day, fingerprint,"
	        " computed_at) VALUES(?, ?, ?)",
	        -1, &day, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	        "DELETE FROM rollup_dirty WHERE hour = ? AND marked_at = ?", -1,
	        &clean, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(del, 1, (sqlite3_int64)d0);
	sqlite3_bind_int64(del, 2, (sqlite3_int64)d1);
	if (sqlite3_step(del) != SQLITE_DONE)
		goto out;
	for (size_t i = 0; i < b->n; i++) {
		const struct day_row *r = &b->v[i];

		sqlite3_bind_int64(ins, 1, (sqlite3_int64)r->day);
		sqlite3_bind_int64(ins, 2, r->port_id);
		sqlite3_bind_int(ins, 3, r->up);
		sqlite3_bind_int64(ins, 4, r->speed_mbps);
		sqlite3_bind_int(ins, 5, r->duplex);
		sqlite3_bind_int64(ins, 6, (sqlite3_int64)r->ms);
		sqlite3_bind_int64(ins, 7, (sqlite3_int64)r->err_ms);
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto out;
		sqlite3_reset(ins);
	}
	for (uint64_t d = d0; d < d1; d += DAY_MS) {
		sqlite3_bind_int64(day, 1, (sqlite3_int64)d);
		sqlite3_bind_text(day, 2, fp, -1, SQLITE_STATIC);
		sqlite3_bind_int64(day, 3, (sqlite3_int64)now);
		if (sqlite3_step(day) != SQLITE_DONE)
			goto out;
		sqlite3_reset(day);
	}
	for (size_t i = 0; i < mk->n; i++) {
		sqlite3_bind_int64(clean, 1, mk->v[i][0]);
		sqlite3_bind_int64(clean, 2, mk->v[i][1]);
		if (sqlite3_step(clean) != SQLITE_DONE)
			goto out;
		sqlite3_reset(clean);
	}
	rc = exec_sql(db, "COMMIT");
out:
	if (rc != 0) {
		log_warnx("roll-up: storing: %s", sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	sqlite3_finalize(day);
	sqlite3_finalize(clean);
	return rc;
}

/* Is day d stored under fingerprint fp and clean? */
static int
day_is_current(sqlite3 *db, const char *fp, uint64_t d)
{
	sqlite3_stmt *st;
	int rc, current = 0;

	if (sqlite3_prepare_v2(db,
	        "SELECT (SELECT fingerprint = ?2 FROM rollup_days WHERE day = "
	        "?1)"
	        " AND NOT EXISTS (SELECT 1 FROM rollup_dirty"
	        "  WHERE hour >= ?1 / 3600000 AND hour < (?1 + 86400000 + "
	        "3599999)"
	        "  / 3600000)",
	        -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)d);
	sqlite3_bind_text(st, 2, fp, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		current = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? current : -1;
}

int
rollup_update(sqlite3 *db, const struct calendar *cal,
    const struct policy_conf *pc, uint64_t from, uint64_t to, uint64_t now,
    bool progress, const atomic_bool *cancel)
{
	char fp[256], date[40], first[40] = "";
	uint64_t d, end = rollup_day_start(cal, min_u64(to, now));
	size_t rows = 0;
	int days = 0, cur, y, m, dd;
	struct marks mk = {0};

	if (rollup_fingerprint(pc, fp, sizeof(fp)) != 0)
		return -1;
	/* A day is rolled up once it has been over for ROLLUP_GRACE_MS. */
	while (end > from && end + ROLLUP_GRACE_MS > now)
		end -= DAY_MS;
	for (d = rollup_day_start(cal, from); d < end;) {
		uint64_t d1 = d + DAY_MS;
		struct row_buf b = {0};
		int rc;

		if (cancel && atomic_load(cancel))
			break;
		if ((cur = day_is_current(db, fp, d)) != 0) {
			if (cur < 0)
				goto fail;
			d += DAY_MS;
			continue;
		}
		/* The run of days to compute, at most a chunk long. */
		while (d1 < end && d1 - d < ROLLUP_CHUNK_DAYS * DAY_MS &&
		    (cur = day_is_current(db, fp, d1)) == 0)
			d1 += DAY_MS;
		if (cur < 0)
			goto fail;
		calendar_local_date(cal, d, &y, &m, &dd);
		snprintf(date, sizeof(date), "%04d-%02d-%02d", y, m, dd);
		if (progress)
			fprintf(stderr, "rolling up %d day(s) from %s\n",
			    (int)((d1 - d) / DAY_MS), date);
		if (exec_sql(db, "BEGIN") != 0)
			goto fail;
		rc = read_marks(db, d, d1, &mk) != 0 ||
		    rollup_compute(db, cal, pc->max_errors_per_min, d, d1,
		        progress, cancel, collect_row, &b) != 0;
		sqlite3_exec(db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
		if (rc || store_days(db, fp, d, d1, &b, &mk, time_now_ms()) != 0) {
			free(b.v);
			if (cancel && atomic_load(cancel))
				break;
			goto fail;
		}
		free(b.v);
		if (days == 0)
			snprintf(first, sizeof(first), "%s", date);
		days += (int)((d1 - d) / DAY_MS);
		rows += b.n;
		d = d1;
	}
	if (days > 0)
		log_info("roll-up: %d day(s) from %s on stored, %zu rows", days,
		    first, rows);
	free(mk.v);
	return days;
fail:
	free(mk.v);
	return -1;
}

/* --- in the collector: keep the roll-ups current ------------------- */

#define JOB_FIRST_MS (30 * 1000) /* after the start */
#define JOB_EVERY_MS (15 * 60 * 1000)
#define JOB_DAYS 62 /* back from today */

struct rollup_job {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_work_t work;
	bool busy, closing;
	atomic_bool cancel;	/* set by close: stop between ports */
	char database[4096];
	struct policy_conf policy, next; /* next: set while busy */
	bool have_next;
	int days; /* the last run's result */
	void (*closed)(void *);
	void *closed_arg;
};

/* On a worker thread, with its own connection and calendar. */
static void
job_work(uv_work_t *w)
{
	struct rollup_job *j = container_of(w, struct rollup_job, work);
	struct calendar *cal = NULL;
	struct cfg_err err;
	sqlite3 *db = NULL;
	uint64_t now = time_now_ms();

	j->days = -1;
	memset(&err, 0, sizeof(err));
	if (j->policy.calendar[0] == '\0')
		cal = calendar_default();
	else if (calendar_load(j->policy.calendar, &cal, &err) != 0) {
		log_warnx("roll-up: %s", err.text);
		return;
	}
	if (db_open(j->database, false, &db) == 0) {
		sqlite3_busy_timeout(db, 10000);
		j->days = rollup_update(db, cal, &j->policy,
		    now - JOB_DAYS * DAY_MS, now, now, false, &j->cancel);
	}
	sqlite3_close(db);
	calendar_free(cal);
}

static void job_closed(uv_handle_t *h);

static void
job_done(uv_work_t *w, int status)
{
	struct rollup_job *j = container_of(w, struct rollup_job, work);

	(void)status;
	j->busy = false;
	if (j->days < 0 && !j->closing)
		log_warnx("roll-up: failed; trying again in %d minutes",
		    JOB_EVERY_MS / 60000);
	if (j->have_next) {
		j->policy = j->next;
		j->have_next = false;
	}
	if (j->closing)
		uv_close((uv_handle_t *)&j->timer, job_closed);
}

static void
job_tick(uv_timer_t *t)
{
	struct rollup_job *j = container_of(t, struct rollup_job, timer);

	if (j->busy)
		return;
	j->busy = true;
	uv_queue_work(j->loop, &j->work, job_work, job_done);
}

struct rollup_job *
rollup_job_start(uv_loop_t *loop, const struct collector_conf *conf)
{
	struct rollup_job *j = xcalloc(1, sizeof(*j));

	j->loop = loop;
	memcpy(j->database, conf->database, sizeof(j->database));
	j->policy = conf->policy;
	uv_timer_init(loop, &j->timer);
	uv_timer_start(&j->timer, job_tick, JOB_FIRST_MS, JOB_EVERY_MS);
	return j;
}

void
rollup_job_set_conf(struct rollup_job *j, const struct collector_conf *conf)
{
	if (j->busy) {
		j->next = conf->policy;
		j->have_next = true;
	} else {
		j->policy = conf->policy;
	}
}

static void
job_closed(uv_handle_t *h)
{
	struct rollup_job *j =
	    container_of((uv_timer_t *)h, struct rollup_job, timer);
	void (*cb)(void *) = j->closed;
	void *arg = j->closed_arg;

	free(j);
	if (cb)
		cb(arg);
}

void
rollup_job_close(struct rollup_job *j, void (*cb)(void *), void *arg)
{
	j->closing = true;
	atomic_store(&j->cancel, true);
	j->closed = cb;
	j->closed_arg = arg;
	uv_timer_stop(&j->timer);
	/* A run in progress stops at its next port, rolling back. */
	if (!j->busy)
		uv_close((uv_handle_t *)&j->timer, job_closed);
}
