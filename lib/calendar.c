/* calendar.c: school calendar files and exact school-hours arithmetic. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "schoolnet/calendar.h"
#include "schoolnet/mem.h"
#include "schoolnet/utf8.h"

#define DAY_MS INT64_C(86400000)
#define MIN_MS INT64_C(60000)
#define CALENDAR_TITLE_MAX 127

/* A period of school on one weekday, in minutes after local midnight. */
struct calendar_period {
	uint16_t start, end; /* start < end <= 1440 */
};

struct calendar_week {
	char type[CALENDAR_NAME_MAX + 1];
	int line;     /* where [hours] set it; 0 = built in */
	uint8_t n[7]; /* periods per weekday, Monday first */
	struct calendar_period p[7][CALENDAR_MAX_PERIODS]; /* sorted, apart */
};

enum calendar_kind { KIND_HOLIDAY, KIND_WORKDAY, KIND_VACATION, KIND_COUNT };

struct calendar_range {
	int64_t first, last; /* local days (1970-01-01 is 0), inclusive */
	int wday;	     /* make-up days: the weekday whose hours apply */
	int line;
	char name[CALENDAR_NAME_MAX + 1];
};

struct calendar {
	char name[CALENDAR_TITLE_MAX + 1];
	int utc_offset_min;
	struct calendar_week *weeks; /* weeks[0] is "default" */
	size_t n_weeks;
	struct calendar_range *ranges[KIND_COUNT]; /* sorted, disjoint */
	size_t n_ranges[KIND_COUNT];
};

/* What a local day holds for one school type. */
struct calendar_plan {
	enum calendar_day kind;
	const char *name;
	const struct calendar_period *p;
	size_t n;
};

enum calendar_section {
	SEC_NONE, /* before the first [section] */
	SEC_CALENDAR,
	SEC_HOURS,
	SEC_HOLIDAYS,
	SEC_WORKDAYS,
	SEC_VACATIONS,
	SEC_SKIP, /* a refused section: its keys are not checked */
};

static const struct {
	const char *name;
	enum calendar_section sec;
	int once; /* the dated sections may repeat, e.g. one per year */
} calendar_sections[] = {
	{"calendar", SEC_CALENDAR, 1},
	{"hours", SEC_HOURS, 1},
	{"holidays", SEC_HOLIDAYS, 0},
	{"workdays", SEC_WORKDAYS, 0},
	{"vacations", SEC_VACATIONS, 0},
};

struct calendar_parse {
	FILE *fp;
	const char *path;
	int line;
	struct cfg_err *e;
	struct calendar *c;
	enum calendar_section sec;
	int sec_line[SEC_SKIP];	 /* first line of each section, 0 = unseen */
	int name_line, offset_line; /* [calendar] keys already given */
	size_t n_dated;
	int too_many_types, too_many_dated;
};

static const char *const calendar_wday_abbr[7] = {
    "mon", "tue", "wed", "thu", "fri", "sat", "sun"};
static const char *const calendar_wday_full[7] = {"Monday", "Tuesday",
    "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
static const char *const calendar_kind_noun[KIND_COUNT] = {
    "a holiday", "a make-up day", "a vacation"};

/* --- date arithmetic on day numbers (H. Hinnant's civil algorithms) --- */

static int64_t
calendar_floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b != 0 && (a < 0) != (b < 0))
		q--;
	return q;
}

static int64_t
calendar_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = calendar_floordiv(y, 400);
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
calendar_civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = calendar_floordiv(z, 146097);
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

/* 0 = Monday; day 0 (1970-01-01) was a Thursday. */
static int
calendar_weekday(int64_t day)
{
	return (int)(day + 3 - calendar_floordiv(day + 3, 7) * 7);
}

static int
calendar_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
calendar_month_days(int64_t y, int m)
{
	static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31};

	return m == 2 && calendar_leap(y) ? 29 : len[m - 1];
}

/* The local day of t and the milliseconds since its local midnight. */
static int64_t
calendar_local_day(const struct calendar *c, uint64_t t, int64_t *ms_of_day)
{
	int64_t lt, day;

	if (t >= CALENDAR_TIME_MAX)
		t = CALENDAR_TIME_MAX - 1;
	lt = (int64_t)t + c->utc_offset_min * MIN_MS;
	day = calendar_floordiv(lt, DAY_MS);
	if (ms_of_day != NULL)
		*ms_of_day = lt - day * DAY_MS;
	return day;
}

/* UTC milliseconds of the local midnight that starts day (may be < 0). */
static int64_t
calendar_day_start(const struct calendar *c, int64_t day)
{
	return day * DAY_MS - c->utc_offset_min * MIN_MS;
}

static void
calendar_format_day(int64_t day, char *buf, size_t size)
{
	int y, m, d;

	calendar_civil_from_days(day, &y, &m, &d);
	snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
}

static void
calendar_format_range(int64_t first, int64_t last, char *buf, size_t size)
{
	char a[16], b[16];
	int n;

	calendar_format_day(first, a, sizeof(a));
	calendar_format_day(last, b, sizeof(b));
	/* Checked, so gcc -O2 knows truncation is handled (it cannot be:
	 * callers pass 32 bytes). */
	if (first == last)
		n = snprintf(buf, size, "%s", a);
	else
		n = snprintf(buf, size, "%s..%s", a, b);
	if (n < 0 || (size_t)n >= size)
		buf[size - 1] = '\0';
}

/* --- queries ---------------------------------------------------------- */

static const struct calendar_week *
calendar_week_for(const struct calendar *c, const char *school_type)
{
	if (school_type != NULL)
		for (size_t i = 1; i < c->n_weeks; i++)
			if (strcmp(c->weeks[i].type, school_type) == 0)
				return &c->weeks[i];
	return &c->weeks[0];
}

static const struct calendar_range *
calendar_range_find(const struct calendar *c, enum calendar_kind k,
    int64_t day)
{
	const struct calendar_range *r = c->ranges[k];
	size_t lo = 0, hi = c->n_ranges[k], mid;

	/* The last range starting on or before day is the only candidate. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (r[mid].first <= day)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || r[lo - 1].last < day)
		return NULL;
	return &r[lo - 1];
}

static void
calendar_plan_day(const struct calendar *c, const struct calendar_week *w,
    int64_t day, struct calendar_plan *pl)
{
	const struct calendar_range *r;
	int wd = calendar_weekday(day);

	pl->p = NULL;
	pl->n = 0;
	if ((r = calendar_range_find(c, KIND_VACATION, day)) != NULL) {
		pl->kind = CAL_VACATION;
		pl->name = r->name;
	} else if ((r = calendar_range_find(c, KIND_WORKDAY, day)) != NULL) {
		pl->kind = CAL_MAKEUP_DAY;
		pl->name = r->name;
		pl->p = w->p[r->wday];
		pl->n = w->n[r->wday];
	} else if ((r = calendar_range_find(c, KIND_HOLIDAY, day)) != NULL) {
		pl->kind = CAL_HOLIDAY;
		pl->name = r->name;
	} else {
		pl->p = w->p[wd];
		pl->n = w->n[wd];
		pl->kind = pl->n ? CAL_SCHOOL_DAY : CAL_WEEKEND;
		pl->name = NULL;
	}
}

static bool
calendar_week_in_hours(const struct calendar *c,
    const struct calendar_week *w, uint64_t t)
{
	struct calendar_plan pl;
	int64_t ms, day;

	if (t >= CALENDAR_TIME_MAX)
		return false;
	day = calendar_local_day(c, t, &ms);
	calendar_plan_day(c, w, day, &pl);
	for (size_t i = 0; i < pl.n; i++)
		if (ms >= pl.p[i].start * MIN_MS && ms < pl.p[i].end * MIN_MS)
			return true;
	return false;
}

bool
calendar_in_hours(const struct calendar *c, const char *school_type,
    uint64_t t_ms)
{
	return calendar_week_in_hours(c, calendar_week_for(c, school_type),
	    t_ms);
}

uint64_t
calendar_hours_between(const struct calendar *c, const char *school_type,
    uint64_t t0, uint64_t t1)
{
	const struct calendar_week *w = calendar_week_for(c, school_type);
	struct calendar_plan pl;
	int64_t a, b, base, lo, hi, day, last;
	uint64_t sum = 0;

	if (t1 > CALENDAR_TIME_MAX)
		t1 = CALENDAR_TIME_MAX;
	if (t0 >= t1)
		return 0;
	lo = (int64_t)t0;
	hi = (int64_t)t1;
	last = calendar_local_day(c, t1 - 1, NULL);
	for (day = calendar_local_day(c, t0, NULL); day <= last; day++) {
		calendar_plan_day(c, w, day, &pl);
		base = calendar_day_start(c, day);
		for (size_t i = 0; i < pl.n; i++) {
			a = base + pl.p[i].start * MIN_MS;
			b = base + pl.p[i].end * MIN_MS;
			if (a < lo)
				a = lo;
			if (b > hi)
				b = hi;
			if (b > a)
				sum += (uint64_t)(b - a);
		}
	}
	return sum;
}

uint64_t
calendar_next_change(const struct calendar *c, const char *school_type,
    uint64_t t_ms)
{
	const struct calendar_week *w = calendar_week_for(c, school_type);
	struct calendar_plan pl;
	int64_t day, base, cand, t, limit;
	bool v;

	if (t_ms >= CALENDAR_TIME_MAX)
		return UINT64_MAX;
	t = (int64_t)t_ms;
	limit = t + CALENDAR_MAX_RANGE_DAYS * DAY_MS;
	v = calendar_week_in_hours(c, w, t_ms);
	/*
	 * in_hours changes only where a period starts or ends, so the answer
	 * is the first of those instants after t where the value differs
	 * (periods that touch, as 20:00-24:00 then 00:00-02:00, do not
	 * change it). They come in ascending order.
	 */
	day = calendar_local_day(c, t_ms, NULL);
	for (int i = 0; i <= CALENDAR_MAX_RANGE_DAYS + 1; i++, day++) {
		calendar_plan_day(c, w, day, &pl);
		base = calendar_day_start(c, day);
		for (size_t j = 0; j < 2 * pl.n; j++) {
			if (j % 2 == 0)
				cand = base + pl.p[j / 2].start * MIN_MS;
			else
				cand = base + pl.p[j / 2].end * MIN_MS;
			if (cand <= t)
				continue;
			if (cand > limit)
				return UINT64_MAX;
			if (cand >= (int64_t)CALENDAR_TIME_MAX)
				return v ? CALENDAR_TIME_MAX : UINT64_MAX;
			if (calendar_week_in_hours(c, w, (uint64_t)cand) != v)
				return (uint64_t)cand;
		}
	}
	return UINT64_MAX;
}

enum calendar_day
calendar_day_kind(const struct calendar *c, const char *school_type,
    uint64_t t_ms, const char **name)
{
	struct calendar_plan pl;

	calendar_plan_day(c, calendar_week_for(c, school_type),
	    calendar_local_day(c, t_ms, NULL), &pl);
	if (name != NULL)
		*name = pl.name;
	return pl.kind;
}

const char *
calendar_name(const struct calendar *c)
{
	return c->name;
}

int
calendar_utc_offset_min(const struct calendar *c)
{
	return c->utc_offset_min;
}

void
calendar_local_date(const struct calendar *c, uint64_t t_ms, int *y, int *m,
    int *d)
{
	calendar_civil_from_days(calendar_local_day(c, t_ms, NULL), y, m, d);
}

uint64_t
calendar_local_midnight(const struct calendar *c, int y, int m, int d)
{
	int64_t yy = y, mm = (int64_t)m - 1, carry, ms;

	carry = calendar_floordiv(mm, 12);
	yy += carry;
	mm -= carry * 12;
	/* Far outside 1970..9999 only the clamp matters; stop overflow. */
	if (yy < 1900)
		return 0;
	if (yy > 10001)
		return CALENDAR_TIME_MAX;
	ms = calendar_day_start(c,
	    calendar_days_from_civil(yy, (unsigned)mm + 1, 1) + d - 1);
	if (ms < 0)
		return 0;
	if (ms > (int64_t)CALENDAR_TIME_MAX)
		return CALENDAR_TIME_MAX;
	return (uint64_t)ms;
}

/* --- building ----------------------------------------------------------- */

static void
calendar_week_default(struct calendar_week *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->type, sizeof(w->type), "default");
	for (int d = 0; d < 5; d++) {
		w->n[d] = 1;
		w->p[d][0].start = 7 * 60 + 30;
		w->p[d][0].end = 17 * 60 + 30;
	}
}

static struct calendar *
calendar_new(void)
{
	struct calendar *c = xcalloc(1, sizeof(*c));

	c->utc_offset_min = 8 * 60;
	c->weeks = xcalloc(1, sizeof(*c->weeks));
	c->n_weeks = 1;
	calendar_week_default(&c->weeks[0]);
	return c;
}

struct calendar *
calendar_default(void)
{
	return calendar_new();
}

void
calendar_free(struct calendar *c)
{
	if (c == NULL)
		return;
	for (int k = 0; k < KIND_COUNT; k++)
		free(c->ranges[k]);
	free(c->weeks);
	free(c);
}

/* --- parsing ------------------------------------------------------------ */

static void calendar_error(struct calendar_parse *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
calendar_error(struct calendar_parse *st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_error(st->e, st->path, st->line, "%s", msg);
}

static const char *
calendar_skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* mon..sun (any case) as 0..6, or -1. */
static int
calendar_day_index(const char *s, size_t n)
{
	for (int i = 0; i < 7; i++)
		if (n == 3 && strncasecmp(s, calendar_wday_abbr[i], 3) == 0)
			return i;
	return -1;
}

/* One term of a day list: "mon", "mon-fri" or "daily", added to *mask. */
static int
calendar_parse_days(const char **pp, unsigned *mask, char *why, size_t size)
{
	const char *p = *pp, *w = p, *w2;
	size_t n, n2;
	int a, b;

	while (isalpha((unsigned char)*p))
		p++;
	n = (size_t)(p - w);
	if (n == 5 && strncasecmp(w, "daily", 5) == 0) {
		*mask |= 0x7f;
		*pp = p;
		return 0;
	}
	if ((a = calendar_day_index(w, n)) < 0)
		goto bad;
	b = a;
	if (*p == '-' && isalpha((unsigned char)p[1])) {
		w2 = ++p;
		while (isalpha((unsigned char)*p))
			p++;
		n2 = (size_t)(p - w2);
		if ((b = calendar_day_index(w2, n2)) < 0) {
			w = w2;
			n = n2;
			goto bad;
		}
		if (b < a) {
			snprintf(why, size,
			    "day range '%.*s' runs backwards (the week starts "
			    "on mon)", (int)(p - w), w);
			return -1;
		}
	}
	for (int i = a; i <= b; i++)
		*mask |= 1u << i;
	*pp = p;
	return 0;
bad:
	if (n == 0)
		n = strcspn(w, " \t,");
	snprintf(why, size,
	    "unknown day '%.*s' (use mon..sun, mon-fri, mon,wed,fri or daily)",
	    (int)n, w);
	return -1;
}

/* "H:MM" or "HH:MM", 00:00 to 24:00, as minutes; -1 if it is not one. */
static int
calendar_parse_time(const char **pp)
{
	const char *p = *pp;
	int h = 0, m, digits = 0;

	while (isdigit((unsigned char)*p) && digits < 3) {
		h = h * 10 + (*p++ - '0');
		digits++;
	}
	if (digits < 1 || digits > 2 || *p != ':' ||
	    !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) ||
	    isdigit((unsigned char)p[3]))
		return -1;
	m = (p[1] - '0') * 10 + (p[2] - '0');
	if (h > 24 || m > 59 || (h == 24 && m != 0))
		return -1;
	*pp = p + 3;
	return h * 60 + m;
}

static int
calendar_period_cmp(const void *a, const void *b)
{
	const struct calendar_period *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

/*
 * "DAYS HH:MM-HH:MM[, DAYS HH:MM-HH:MM ...]" into w's periods. Commas both
 * separate items and list days ("mon,wed 08:00-12:00"), so a comma followed
 * by a letter continues the day list only until a time has been read.
 */
static int
calendar_parse_hours(const char *v, struct calendar_week *w, char *why,
    size_t size)
{
	const char *p = calendar_skip_space(v), *tok;
	struct calendar_period per;
	unsigned mask;
	int s, e;

	memset(w->n, 0, sizeof(w->n));
	if (*p == '\0') {
		snprintf(why, size, "no hours: write DAYS HH:MM-HH:MM");
		return -1;
	}
	for (;;) {
		mask = 0;
		for (;;) {
			if (calendar_parse_days(&p, &mask, why, size) != 0)
				return -1;
			if (*calendar_skip_space(p) != ',')
				break;
			p = calendar_skip_space(calendar_skip_space(p) + 1);
		}
		if (*calendar_skip_space(p) == '\0') {
			snprintf(why, size, "no HH:MM-HH:MM after the days");
			return -1;
		}
		if (*p != ' ' && *p != '\t') {
			tok = p;
			goto bad_period;
		}
		tok = p = calendar_skip_space(p);
		if ((s = calendar_parse_time(&p)) < 0 || *p++ != '-' ||
		    (e = calendar_parse_time(&p)) < 0)
			goto bad_period;
		if (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
			goto bad_period;
		if (s >= e) {
			snprintf(why, size,
			    "period %.*s must end after it starts (periods may "
			    "not cross midnight; 24:00 ends the day)",
			    (int)(p - tok), tok);
			return -1;
		}
		per.start = (uint16_t)s;
		per.end = (uint16_t)e;
		for (int d = 0; d < 7; d++) {
			if (!(mask & (1u << d)))
				continue;
			if (w->n[d] == CALENDAR_MAX_PERIODS) {
				snprintf(why, size, "more than %d periods on "
				    "%s", CALENDAR_MAX_PERIODS,
				    calendar_wday_abbr[d]);
				return -1;
			}
			w->p[d][w->n[d]++] = per;
		}
		p = calendar_skip_space(p);
		if (*p == '\0')
			break;
		if (*p != ',') {
			snprintf(why, size,
			    "expected ',' before '%s' (items are DAYS "
			    "HH:MM-HH:MM, separated by commas)", p);
			return -1;
		}
		p = calendar_skip_space(p + 1);
		if (*p == '\0') {
			snprintf(why, size, "nothing after the last ','");
			return -1;
		}
	}
	/* Sorted and apart, so queries can walk a day's periods in order. */
	for (int d = 0; d < 7; d++) {
		struct calendar_period *q = w->p[d];

		qsort(q, w->n[d], sizeof(*q), calendar_period_cmp);
		for (size_t i = 1; i < w->n[d]; i++) {
			if (q[i].start >= q[i - 1].end)
				continue;
			snprintf(why, size, "periods %02d:%02d-%02d:%02d and "
			    "%02d:%02d-%02d:%02d overlap on %s",
			    q[i - 1].start / 60, q[i - 1].start % 60,
			    q[i - 1].end / 60, q[i - 1].end % 60,
			    q[i].start / 60, q[i].start % 60, q[i].end / 60,
			    q[i].end % 60, calendar_wday_abbr[d]);
			return -1;
		}
	}
	return 0;
bad_period:
	snprintf(why, size,
	    "bad period '%.*s': expected HH:MM-HH:MM (00:00 to 24:00)",
	    (int)strcspn(tok, ", \t"), tok);
	return -1;
}

static void
calendar_key_calendar(struct calendar_parse *st, const char *key,
    const char *value)
{
	struct calendar *c = st->c;
	const char *p = value;
	int sign, h = 0, m, digits = 0;

	if (strcmp(key, "name") == 0) {
		if (st->name_line) {
			calendar_error(st, "'name' repeats line %d",
			    st->name_line);
			return;
		}
		st->name_line = st->line;
		if (strlen(value) > CALENDAR_TITLE_MAX) {
			calendar_error(st, "name is longer than %d bytes",
			    CALENDAR_TITLE_MAX);
			return;
		}
		snprintf(c->name, sizeof(c->name), "%s", value);
		return;
	}
	if (strcmp(key, "utc_offset") != 0) {
		calendar_error(st,
		    "unknown key '%s' in [calendar] (use name, utc_offset)",
		    key);
		return;
	}
	if (st->offset_line) {
		calendar_error(st, "'utc_offset' repeats line %d",
		    st->offset_line);
		return;
	}
	st->offset_line = st->line;
	if (*p != '+' && *p != '-')
		goto bad;
	sign = *p++ == '-' ? -1 : 1;
	while (isdigit((unsigned char)*p) && digits < 3) {
		h = h * 10 + (*p++ - '0');
		digits++;
	}
	if (digits < 1 || digits > 2 || *p != ':' ||
	    !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) ||
	    p[3] != '\0')
		goto bad;
	m = (p[1] - '0') * 10 + (p[2] - '0');
	if (m > 59)
		goto bad;
	m = sign * (h * 60 + m);
	if (m < -12 * 60 || m > 14 * 60) {
		calendar_error(st,
		    "utc_offset = %s: must be from -12:00 to +14:00", value);
		return;
	}
	c->utc_offset_min = m;
	return;
bad:
	calendar_error(st,
	    "utc_offset = %s: expected +HH:MM or -HH:MM (China: +08:00)",
	    value);
}

static void
calendar_key_hours(struct calendar_parse *st, const char *key,
    const char *value)
{
	struct calendar *c = st->c;
	struct calendar_week w, *dst;
	char why[320];

	if (strlen(key) > CALENDAR_NAME_MAX) {
		calendar_error(st, "school type '%s' is longer than %d bytes",
		    key, CALENDAR_NAME_MAX);
		return;
	}
	for (size_t i = 0; i < c->n_weeks; i++) {
		if (c->weeks[i].line && strcmp(c->weeks[i].type, key) == 0) {
			calendar_error(st, "'%s' repeats line %d", key,
			    c->weeks[i].line);
			return;
		}
	}
	if (strcmp(key, "default") != 0 &&
	    c->n_weeks > CALENDAR_MAX_TYPES) {
		if (!st->too_many_types)
			calendar_error(st,
			    "more than %d school types in [hours]",
			    CALENDAR_MAX_TYPES);
		st->too_many_types = 1;
		return;
	}
	memset(&w, 0, sizeof(w));
	snprintf(w.type, sizeof(w.type), "%s", key);
	w.line = st->line;
	if (calendar_parse_hours(value, &w, why, sizeof(why)) != 0) {
		calendar_error(st, "%s: %s", key, why);
		/* Remember the key anyway, so a repeat is still reported. */
		memset(w.n, 0, sizeof(w.n));
	}
	if (strcmp(key, "default") == 0) {
		dst = &c->weeks[0];
	} else {
		c->weeks = xreallocarray(c->weeks, c->n_weeks + 1,
		    sizeof(*c->weeks));
		dst = &c->weeks[c->n_weeks++];
	}
	*dst = w;
}

/* "YYYY-MM-DD" in s[0..n) as a day number; why says what is wrong. */
static int
calendar_parse_date(const char *s, size_t n, int64_t *day, char *why,
    size_t size)
{
	int y, m, d, ok = n == 10;

	for (size_t i = 0; ok && i < n; i++)
		ok = i == 4 || i == 7 ? s[i] == '-' :
		    isdigit((unsigned char)s[i]) != 0;
	if (!ok) {
		snprintf(why, size, "'%.*s' is not a date: write YYYY-MM-DD "
		    "or YYYY-MM-DD..YYYY-MM-DD", (int)n, s);
		return -1;
	}
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1970 || m < 1 || m > 12 || d < 1 ||
	    d > calendar_month_days(y, m)) {
		snprintf(why, size, "no such date: %.10s%s", s,
		    y < 1970 ? " (the calendar starts in 1970)" : "");
		return -1;
	}
	*day = calendar_days_from_civil(y, (unsigned)m, (unsigned)d);
	return 0;
}

/* The first day two inclusive ranges share, or -1. */
static int64_t
calendar_overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
	if (a0 > b1 || b0 > a1)
		return -1;
	return a0 > b0 ? a0 : b0;
}

static void
calendar_key_dated(struct calendar_parse *st, enum calendar_kind kind,
    const char *key, const char *value)
{
	struct calendar *c = st->c;
	struct calendar_range r, *o;
	const char *dots, *at;
	char why[320], buf[32], other[32];
	size_t n1, namelen;
	int64_t day;
	int wd;

	memset(&r, 0, sizeof(r));
	r.line = st->line;
	dots = strstr(key, "..");
	n1 = dots ? (size_t)(dots - key) : strlen(key);
	while (n1 > 0 && isspace((unsigned char)key[n1 - 1]))
		n1--;
	if (calendar_parse_date(key, n1, &r.first, why, sizeof(why)) != 0 ||
	    (dots != NULL && calendar_parse_date(calendar_skip_space(dots + 2),
	    strlen(calendar_skip_space(dots + 2)), &r.last, why,
	    sizeof(why)) != 0)) {
		calendar_error(st, "%s", why);
		return;
	}
	if (dots == NULL)
		r.last = r.first;
	if (r.last < r.first) {
		calendar_error(st, "%s ends before it starts", key);
		return;
	}
	if (r.last - r.first + 1 > CALENDAR_MAX_RANGE_DAYS) {
		calendar_error(st, "%s is %lld days long: at most %d", key,
		    (long long)(r.last - r.first + 1),
		    CALENDAR_MAX_RANGE_DAYS);
		return;
	}
	/* "NAME @fri": the weekday whose hours a make-up day follows. */
	namelen = strlen(value);
	if (kind == KIND_WORKDAY && (at = strrchr(value, '@')) != NULL) {
		const char *d = calendar_skip_space(at + 1);
		size_t dn = strcspn(d, " \t");

		if ((wd = calendar_day_index(d, dn)) < 0 ||
		    *calendar_skip_space(d + dn) != '\0') {
			calendar_error(st, "%s: unknown day '%s' after '@' "
			    "(use mon..sun)", key, d);
			return;
		}
		r.wday = wd;
		namelen = (size_t)(at - value);
		while (namelen > 0 &&
		    isspace((unsigned char)value[namelen - 1]))
			namelen--;
	}
	if (namelen == 0) {
		calendar_error(st, "%s needs a name: DATE = NAME", key);
		return;
	}
	if (namelen > CALENDAR_NAME_MAX) {
		calendar_error(st, "%s: name is longer than %d bytes", key,
		    CALENDAR_NAME_MAX);
		return;
	}
	memcpy(r.name, value, namelen);
	r.name[namelen] = '\0';
	if (kind == KIND_WORKDAY) {
		for (day = r.first; day <= r.last; day++) {
			if ((wd = calendar_weekday(day)) < 5) {
				calendar_format_day(day, buf, sizeof(buf));
				calendar_error(st, "%s is a %s: a make-up day "
				    "(调休) is a Saturday or Sunday", buf,
				    calendar_wday_full[wd]);
				return;
			}
		}
	}
	for (size_t i = 0; i < c->n_ranges[kind]; i++) {
		o = &c->ranges[kind][i];
		if (calendar_overlap(r.first, r.last, o->first, o->last) < 0)
			continue;
		calendar_format_range(o->first, o->last, other, sizeof(other));
		if (o->first == r.first && o->last == r.last)
			calendar_error(st, "'%s' repeats line %d", key,
			    o->line);
		else
			calendar_error(st, "%s overlaps %s on line %d", key,
			    other, o->line);
		return;
	}
	/* A day cannot be both off and a make-up working day. */
	if (kind == KIND_HOLIDAY || kind == KIND_WORKDAY) {
		enum calendar_kind ok = kind == KIND_HOLIDAY ? KIND_WORKDAY :
		    KIND_HOLIDAY;

		for (size_t i = 0; i < c->n_ranges[ok]; i++) {
			o = &c->ranges[ok][i];
			day = calendar_overlap(r.first, r.last, o->first,
			    o->last);
			if (day < 0)
				continue;
			calendar_format_day(day, buf, sizeof(buf));
			calendar_error(st, "%s is %s on line %d and cannot "
			    "also be %s", buf, calendar_kind_noun[ok], o->line,
			    calendar_kind_noun[kind]);
			return;
		}
	}
	if (st->n_dated >= CALENDAR_MAX_DATED) {
		if (!st->too_many_dated)
			calendar_error(st, "more than %d dated entries",
			    CALENDAR_MAX_DATED);
		st->too_many_dated = 1;
		return;
	}
	st->n_dated++;
	c->ranges[kind] = xreallocarray(c->ranges[kind], c->n_ranges[kind] + 1,
	    sizeof(r));
	c->ranges[kind][c->n_ranges[kind]++] = r;
}

static int
calendar_handler(void *user, const char *section, const char *key,
    const char *value)
{
	struct calendar_parse *st = user;

	(void)section; /* the reader tracks sections, with their lines */
	if (st->sec == SEC_SKIP)
		return 1;
	if (st->sec == SEC_NONE) {
		calendar_error(st, "'%s' is outside any [section]", key);
		return 1;
	}
	if (*key == '\0') {
		calendar_error(st, "missing key before '='");
		return 1;
	}
	switch (st->sec) {
	case SEC_CALENDAR:
		calendar_key_calendar(st, key, value);
		break;
	case SEC_HOURS:
		calendar_key_hours(st, key, value);
		break;
	case SEC_HOLIDAYS:
		calendar_key_dated(st, KIND_HOLIDAY, key, value);
		break;
	case SEC_WORKDAYS:
		calendar_key_dated(st, KIND_WORKDAY, key, value);
		break;
	case SEC_VACATIONS:
		calendar_key_dated(st, KIND_VACATION, key, value);
		break;
	default:
		break;
	}
	return 1;
}

/* A "[name]" line (already known to have its ']'). */
static void
calendar_section_begin(struct calendar_parse *st, const char *text)
{
	const char *name = calendar_skip_space(text + 1);
	size_t n = strcspn(name, "]");

	while (n > 0 && isspace((unsigned char)name[n - 1]))
		n--;
	st->sec = SEC_SKIP;
	for (size_t i = 0; i < nitems(calendar_sections); i++) {
		enum calendar_section sec = calendar_sections[i].sec;

		if (strlen(calendar_sections[i].name) != n ||
		    strncmp(calendar_sections[i].name, name, n) != 0)
			continue;
		if (calendar_sections[i].once && st->sec_line[sec]) {
			calendar_error(st, "section [%.*s] repeats the one on "
			    "line %d", (int)n, name, st->sec_line[sec]);
			return;
		}
		if (!st->sec_line[sec])
			st->sec_line[sec] = st->line;
		st->sec = sec;
		return;
	}
	calendar_error(st, "unknown section [%.*s] (use calendar, hours, "
	    "holidays, workdays, vacations)", (int)n, name);
}

/*
 * inih's line source: counts lines, bounds their length, checks UTF-8 and
 * syntax, and follows sections. A bad line reaches inih as an empty line,
 * so every bad line is reported, not only the first.
 */
static char *
calendar_reader(char *str, int num, void *stream)
{
	struct calendar_parse *st = stream;
	size_t len, n;
	char *p;
	int ch;

	if (fgets(str, num, st->fp) == NULL)
		return NULL;
	st->line++;
	len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n') {
		ch = fgetc(st->fp);
		if (ch == '\n' && str[len - 1] == '\r') {
			str[len - 1] = '\n'; /* CRLF at exactly the limit */
		} else if (ch != EOF) {
			calendar_error(st, "line longer than %d bytes",
			    num - 2);
			while (ch != EOF && ch != '\n')
				ch = fgetc(st->fp);
			str[0] = '\0';
			return str;
		}
	}
	p = str;
	if (st->line == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	/*
	 * inih (as Debian builds it) glues an indented line onto the previous
	 * value; nothing here spans lines, so hand it every line unindented.
	 */
	p = (char *)calendar_skip_space(p);
	if (p != str)
		memmove(str, p, strlen(p) + 1);
	n = strlen(str);
	while (n > 0 && (str[n - 1] == '\n' || str[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char b = (unsigned char)str[i];

		if ((b < 0x20 && b != '\t') || b == 0x7f) {
			calendar_error(st, "control character (byte 0x%02x) in "
			    "line", b);
			str[0] = '\0';
			return str;
		}
	}
	if (!utf8_valid_label(str, n)) {
		calendar_error(st, "not valid UTF-8 (save the file as UTF-8, "
		    "not GBK)");
		str[0] = '\0';
		return str;
	}
	if (n == 0 || *str == ';' || *str == '#')
		return str;
	if (*str == '[' && memchr(str, ']', n) != NULL) {
		calendar_section_begin(st, str);
		return str;
	}
	if (*str == '[' || memchr(str, '=', n) == NULL) {
		calendar_error(st,
		    "syntax error: expected '[section]' or 'key = value'");
		str[0] = '\0';
	}
	return str;
}

static int
calendar_range_cmp(const void *a, const void *b)
{
	const struct calendar_range *x = a, *y = b;

	return (x->first > y->first) - (x->first < y->first);
}

int
calendar_load(const char *path, struct calendar **out, struct cfg_err *e)
{
	struct calendar_parse st;
	int rc, before = e->count;

	*out = NULL;
	memset(&st, 0, sizeof(st));
	st.path = path;
	st.e = e;
	if ((st.fp = fopen(path, "r")) == NULL) {
		cfg_error(e, path, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	st.c = calendar_new();
	rc = ini_parse_stream(calendar_reader, &st, calendar_handler, &st);
	if (ferror(st.fp))
		cfg_error(e, path, 0, "cannot read: %s", strerror(errno));
	fclose(st.fp);
	if (rc > 0)
		cfg_error(e, path, rc,
		    "syntax error: expected '[section]' or 'key = value'");
	else if (rc < 0)
		cfg_error(e, path, 0, "cannot read the file");
	if (st.sec_line[SEC_HOURS] && st.c->weeks[0].line == 0)
		cfg_error(e, path, st.sec_line[SEC_HOURS],
		    "[hours] has no 'default' line (the hours of every school "
		    "type not listed)");
	if (e->count > before) {
		calendar_free(st.c);
		return -1;
	}
	for (int k = 0; k < KIND_COUNT; k++)
		if (st.c->n_ranges[k] > 1)
			qsort(st.c->ranges[k], st.c->n_ranges[k],
			    sizeof(struct calendar_range), calendar_range_cmp);
	*out = st.c;
	return 0;
}
