/* test_calendar.c: school calendar files and school-hours arithmetic. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "schoolnet/calendar.h"
#include "tmpdir.h"

#ifndef SCHOOLNET_SOURCE_DIR
#error "SCHOOLNET_SOURCE_DIR must name the source tree"
#endif
#define SHIPPED SCHOOLNET_SOURCE_DIR "/deploy/calendar.conf"

#define MIN_MS UINT64_C(60000)
#define HOUR_MS UINT64_C(3600000)
#define DAY_MS UINT64_C(86400000)

TestSuite(calendar, .init = tmp_setup, .fini = tmp_teardown);

static struct calendar *
cal_ok(const char *text)
{
	struct calendar *c = NULL;
	struct cfg_err e;

	memset(&e, 0, sizeof(e));
	write_file("c.conf", text);
	cr_assert_eq(calendar_load("c.conf", &c, &e), 0, "refused:\n%s",
	    e.text);
	cr_assert_str_eq(e.text, "");
	cr_assert_not_null(c);
	return c;
}

static void
cal_fails(const char *text, const char *want)
{
	struct calendar *c = (struct calendar *)&c; /* not NULL */
	struct cfg_err e;

	memset(&e, 0, sizeof(e));
	write_file("c.conf", text);
	cr_assert_eq(calendar_load("c.conf", &c, &e), -1,
	    "accepted; wanted:\n%s", want);
	cr_assert_null(c, "*out is NULL on failure");
	cr_assert_str_eq(e.text, want);
	cr_assert_gt(e.count, 0);
}

/*
 * Expected instants come from timegm(), not from the code under test.
 * utc() is a UTC wall time; cn() a China (UTC+8) wall time.
 */
static uint64_t
utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (uint64_t)timegm(&tm) * 1000;
}

static uint64_t
cn(int y, int mo, int d, int h, int mi)
{
	return utc(y, mo, d, h, mi, 0) - 8 * HOUR_MS;
}

/* The calendar most tests use: the 2026 facts the brief names, plus a type
 * with short Fridays (to see whose hours a make-up day follows) and one
 * whose evening runs over midnight. */
#define TEST_CAL                                                            \
	"[calendar]\n"                                                      \
	"name = 测试县\n"                                                   \
	"utc_offset = +08:00\n"                                             \
	"\n"                                                                \
	"[hours]\n"                                                         \
	"default = mon-fri 07:30-17:30\n"                                   \
	"幼儿园 = mon-fri 08:00-16:30\n"                                    \
	"寄宿制 = mon-fri 06:30-21:30, sun 17:00-21:00\n"                   \
	"周五短 = mon-thu 07:30-17:30, fri 07:30-12:00\n"                   \
	"夜校 = mon 20:00-24:00, tue 00:00-02:00\n"                         \
	"\n"                                                                \
	"[holidays]\n"                                                      \
	"2026-01-01..2026-01-03 = 元旦\n"                                   \
	"2026-10-01..2026-10-07 = 国庆节\n"                                 \
	"\n"                                                                \
	"[workdays]\n"                                                      \
	"2026-01-04 = 元旦调休\n"                                           \
	"2026-02-28 = 春节调休\n"                                           \
	"2026-10-10 = 国庆节调休 @fri\n"                                    \
	"\n"                                                                \
	"[vacations]\n"                                                     \
	"2026-01-24..2026-02-28 = 寒假\n"                                   \
	"2026-07-04..2026-08-31 = 暑假\n"

/* --- the clock: fixed offset, civil dates ---------------------------- */

Test(calendar, timegm_anchor)
{
	/* `date -u -d 2026-03-03 +%s` = 1772496000: the helpers agree. */
	cr_assert_eq(utc(2026, 3, 3, 0, 0, 0), UINT64_C(1772496000000));
	cr_assert_eq(cn(2026, 3, 3, 8, 0), UINT64_C(1772496000000));
}

Test(calendar, utc_offset_china)
{
	struct calendar *c = cal_ok(TEST_CAL);
	int y, m, d;

	cr_assert_eq(calendar_utc_offset_min(c), 480);
	cr_assert_str_eq(calendar_name(c), "测试县");
	/* 2026-03-02T23:30Z + 8 h = Tuesday 2026-03-03 07:30 local. */
	cr_assert(calendar_in_hours(c, NULL, utc(2026, 3, 2, 23, 30, 0)));
	cr_assert_not(calendar_in_hours(c, NULL,
	    utc(2026, 3, 2, 23, 30, 0) - 1));
	calendar_local_date(c, utc(2026, 3, 2, 23, 30, 0), &y, &m, &d);
	cr_assert_eq(y * 10000 + m * 100 + d, 20260303);
	/* 15:59:59.999Z is still Monday locally; 16:00Z is Tuesday. */
	calendar_local_date(c, utc(2026, 3, 2, 16, 0, 0) - 1, &y, &m, &d);
	cr_assert_eq(y * 10000 + m * 100 + d, 20260302);
	calendar_local_date(c, utc(2026, 3, 2, 16, 0, 0), &y, &m, &d);
	cr_assert_eq(y * 10000 + m * 100 + d, 20260303);
	cr_assert_eq(calendar_local_midnight(c, 2026, 3, 3),
	    utc(2026, 3, 2, 16, 0, 0));
	calendar_free(c);
}

Test(calendar, utc_offset_configurable)
{
	struct calendar *c = cal_ok("[calendar]\nutc_offset = -03:30\n");
	int y, m, d;

	cr_assert_eq(calendar_utc_offset_min(c), -210);
	/* Tuesday 2026-03-03 07:30 at -03:30 is 11:00Z. */
	cr_assert(calendar_in_hours(c, NULL, utc(2026, 3, 3, 11, 0, 0)));
	cr_assert_not(calendar_in_hours(c, NULL,
	    utc(2026, 3, 3, 11, 0, 0) - 1));
	/* 17:30 local is 21:00Z: the end is exclusive. */
	cr_assert(calendar_in_hours(c, NULL, utc(2026, 3, 3, 21, 0, 0) - 1));
	cr_assert_not(calendar_in_hours(c, NULL, utc(2026, 3, 3, 21, 0, 0)));
	/* 02:00Z on the 4th is still the 3rd locally (22:30). */
	calendar_local_date(c, utc(2026, 3, 4, 2, 0, 0), &y, &m, &d);
	cr_assert_eq(y * 10000 + m * 100 + d, 20260303);
	cr_assert_eq(calendar_local_midnight(c, 2026, 3, 4),
	    utc(2026, 3, 4, 3, 30, 0));
	calendar_free(c);
}

Test(calendar, local_midnight_carries)
{
	struct calendar *c = calendar_default();
	int y, m, d;

	/* Month 13 is next January; day 0 the last day of the month before;
	 * 2028 is a leap year, 2100 is not. */
	cr_assert_eq(calendar_local_midnight(c, 2026, 13, 1),
	    cn(2027, 1, 1, 0, 0));
	cr_assert_eq(calendar_local_midnight(c, 2026, 3, 0),
	    cn(2026, 2, 28, 0, 0));
	cr_assert_eq(calendar_local_midnight(c, 2028, 3, 0),
	    cn(2028, 2, 29, 0, 0));
	cr_assert_eq(calendar_local_midnight(c, 2100, 3, 0),
	    cn(2100, 2, 28, 0, 0));
	cr_assert_eq(calendar_local_midnight(c, 2027, 0, 1),
	    cn(2026, 12, 1, 0, 0));
	cr_assert_eq(calendar_local_midnight(c, 2026, -11, 1),
	    cn(2025, 1, 1, 0, 0));
	cr_assert_eq(calendar_local_midnight(c, 2026, 1, 32),
	    cn(2026, 2, 1, 0, 0));
	/* Before 1970-01-01T00:00Z and past year 9999: clamped. */
	cr_assert_eq(calendar_local_midnight(c, 1970, 1, 1), 0);
	cr_assert_eq(calendar_local_midnight(c, 12000, 1, 1),
	    CALENDAR_TIME_MAX);
	/* Every day of 1999-2101 round-trips, checked against timegm(). */
	for (uint64_t t = cn(1999, 1, 1, 0, 0); t < cn(2102, 1, 1, 0, 0);
	     t += DAY_MS) {
		time_t s = (time_t)((t + 8 * HOUR_MS) / 1000);
		struct tm tm;

		gmtime_r(&s, &tm);
		calendar_local_date(c, t + DAY_MS - 1, &y, &m, &d);
		cr_assert_eq(y, tm.tm_year + 1900);
		cr_assert_eq(m, tm.tm_mon + 1);
		cr_assert_eq(d, tm.tm_mday);
		cr_assert_eq(calendar_local_midnight(c, y, m, d), t);
	}
	calendar_free(c);
}

/* --- in_hours ---------------------------------------------------------- */

Test(calendar, default_calendar)
{
	struct calendar *c = calendar_default();

	cr_assert_eq(calendar_utc_offset_min(c), 480);
	cr_assert_str_eq(calendar_name(c), "");
	cr_assert(calendar_in_hours(c, "小学", cn(2026, 3, 3, 10, 0)));
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 3, 6, 17, 29)));
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 3, 7, 10, 0)));
	/* No holidays built in: 2026-10-01 (a Thursday) is a school day. */
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 10, 1, 10, 0)));
	calendar_free(c);
	calendar_free(NULL);
}

Test(calendar, tuesday_and_its_edges)
{
	struct calendar *c = cal_ok(TEST_CAL);

	/* 2026-03-03 is a Tuesday; default hours 07:30-17:30. */
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 3, 3, 10, 0)));
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 3, 3, 7, 30) - 1000),
	    "07:29:59");
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 3, 3, 7, 30)), "07:30");
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 3, 3, 17, 30) - 1),
	    "17:29:59.999");
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 3, 3, 17, 30)),
	    "17:30:00, the end is exclusive");
	calendar_free(c);
}

Test(calendar, weekend_holiday_vacation)
{
	struct calendar *c = cal_ok(TEST_CAL);

	/* 2026-03-07 is a Saturday. */
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 3, 7, 10, 0)));
	/* 2026-10-05 is a Monday inside 国庆节 10-01..10-07. */
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 10, 5, 10, 0)));
	cr_assert_not(calendar_in_hours(c, "寄宿制", cn(2026, 10, 5, 20, 0)));
	/* 10-08 (Thursday) is back to school. */
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 10, 8, 10, 0)));
	/* 2026-07-08, a Wednesday in 暑假 07-04..08-31. */
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 7, 8, 10, 0)));
	cr_assert_not(calendar_in_hours(c, "幼儿园", cn(2026, 7, 8, 10, 0)));
	/* The vacation includes its last day, 08-31 (a Monday)... */
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 8, 31, 10, 0)));
	/* ...and school starts 09-01 (a Tuesday). */
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 9, 1, 10, 0)));
	calendar_free(c);
}

Test(calendar, makeup_days)
{
	struct calendar *c = cal_ok(TEST_CAL);

	/* 2026-01-04 is a Sunday make-up day with Monday's hours. */
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 1, 4, 7, 30)));
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 1, 4, 7, 30) - 1));
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 1, 4, 17, 30) - 1));
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 1, 4, 17, 30)));
	/* 幼儿园's Monday is 08:00-16:30. */
	cr_assert_not(calendar_in_hours(c, "幼儿园", cn(2026, 1, 4, 7, 45)));
	cr_assert(calendar_in_hours(c, "幼儿园", cn(2026, 1, 4, 8, 0)));
	/* 寄宿制 gets Monday's 06:30-21:30, not its Sunday 17:00-21:00. */
	cr_assert(calendar_in_hours(c, "寄宿制", cn(2026, 1, 4, 10, 0)));
	cr_assert(calendar_in_hours(c, "寄宿制", cn(2026, 1, 4, 21, 29)));
	/* 2026-10-10 (Saturday) follows Friday's hours (@fri): 周五短 ends
	 * at 12:00 that day, default at 17:30. */
	cr_assert(calendar_in_hours(c, "周五短", cn(2026, 10, 10, 11, 59)));
	cr_assert_not(calendar_in_hours(c, "周五短",
	    cn(2026, 10, 10, 12, 0)));
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 10, 10, 15, 0)));
	/* 2026-02-28 (Saturday) is a make-up day inside 寒假: vacation wins. */
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 2, 28, 10, 0)));
	calendar_free(c);
}

Test(calendar, school_types)
{
	struct calendar *c = cal_ok(TEST_CAL);
	uint64_t tue = cn(2026, 3, 3, 0, 0);

	/* 幼儿园 08:00-16:30 against default 07:30-17:30. */
	cr_assert(calendar_in_hours(c, NULL, tue + 7 * HOUR_MS + 45 * MIN_MS));
	cr_assert_not(calendar_in_hours(c, "幼儿园",
	    tue + 7 * HOUR_MS + 45 * MIN_MS));
	cr_assert(calendar_in_hours(c, "幼儿园", tue + 16 * HOUR_MS));
	cr_assert_not(calendar_in_hours(c, "幼儿园",
	    tue + 16 * HOUR_MS + 30 * MIN_MS));
	cr_assert(calendar_in_hours(c, "default",
	    tue + 16 * HOUR_MS + 30 * MIN_MS));
	/* A type without its own line, and NULL, get the default hours. */
	cr_assert(calendar_in_hours(c, "特殊教育学校",
	    tue + 7 * HOUR_MS + 45 * MIN_MS));
	cr_assert(calendar_in_hours(c, "", tue + 17 * HOUR_MS));
	cr_assert_not(calendar_in_hours(c, "特殊教育学校",
	    tue + 17 * HOUR_MS + 30 * MIN_MS));
	/* 寄宿制 on Sunday 2026-03-08: 17:00-21:00 only. */
	cr_assert(calendar_in_hours(c, "寄宿制", cn(2026, 3, 8, 18, 0)));
	cr_assert_not(calendar_in_hours(c, "寄宿制", cn(2026, 3, 8, 16, 59)));
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 3, 8, 18, 0)));
	calendar_free(c);
}

Test(calendar, day_lists_and_touching_periods)
{
	struct calendar *c = cal_ok("[hours]\n"
	    "default = daily 00:00-01:00\n"
	    "a = mon,wed, fri 08:00-09:00,tue 08:00-09:00\n"
	    "b = sat-sun 12:00-13:00, sat 08:00-12:00 , Sun 13:00-24:00\n");

	/* a: Mon 03-02, Tue 03-03, Wed 03-04, Fri 03-06; not Thu 03-05. */
	cr_assert(calendar_in_hours(c, "a", cn(2026, 3, 2, 8, 30)));
	cr_assert(calendar_in_hours(c, "a", cn(2026, 3, 3, 8, 30)));
	cr_assert(calendar_in_hours(c, "a", cn(2026, 3, 4, 8, 30)));
	cr_assert_not(calendar_in_hours(c, "a", cn(2026, 3, 5, 8, 30)));
	cr_assert(calendar_in_hours(c, "a", cn(2026, 3, 6, 8, 30)));
	/* daily covers the weekend too. */
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 3, 7, 0, 30)));
	/* b on Saturday 03-07: 08:00-12:00 then 12:00-13:00, so in_hours
	 * does not change at 12:00. */
	cr_assert_eq(calendar_next_change(c, "b", cn(2026, 3, 7, 9, 0)),
	    cn(2026, 3, 7, 13, 0));
	/* b on Sunday 03-08: 12:00-24:00 runs into Monday, with no hours. */
	cr_assert(calendar_in_hours(c, "b", cn(2026, 3, 9, 0, 0) - 1));
	cr_assert_eq(calendar_next_change(c, "b", cn(2026, 3, 8, 12, 0)),
	    cn(2026, 3, 9, 0, 0));
	calendar_free(c);
}

/* --- hours_between ----------------------------------------------------- */

Test(calendar, hours_between_simple)
{
	struct calendar *c = cal_ok(TEST_CAL);

	/* Mon 2026-03-02 00:00 .. Mon 03-09 00:00: 5 days x 10 h. */
	cr_assert_eq(calendar_hours_between(c, NULL, cn(2026, 3, 2, 0, 0),
	    cn(2026, 3, 9, 0, 0)), 50 * HOUR_MS);
	/* Tue 16:00 .. 19:00 crosses 17:30: 1.5 h. */
	cr_assert_eq(calendar_hours_between(c, NULL, cn(2026, 3, 3, 16, 0),
	    cn(2026, 3, 3, 19, 0)), 90 * MIN_MS);
	/* Tue 17:00 .. Wed 08:30 crosses midnight: 0.5 h + 1 h. */
	cr_assert_eq(calendar_hours_between(c, NULL, cn(2026, 3, 3, 17, 0),
	    cn(2026, 3, 4, 8, 30)), 90 * MIN_MS);
	/* Tue 03-31 16:00 .. Wed 04-01 09:00: 1.5 h + 1.5 h. */
	cr_assert_eq(calendar_hours_between(c, NULL, cn(2026, 3, 31, 16, 0),
	    cn(2026, 4, 1, 9, 0)), 3 * HOUR_MS);
	/* Milliseconds count: 07:29:59.999 .. 07:30:00.001 holds 1 ms. */
	cr_assert_eq(calendar_hours_between(c, NULL,
	    cn(2026, 3, 3, 7, 30) - 1, cn(2026, 3, 3, 7, 30) + 1), 1);
	/* 夜校 Monday 20:00-24:00 then Tuesday 00:00-02:00: 23:00..01:00 is
	 * 2 h, all of it in hours. */
	cr_assert_eq(calendar_hours_between(c, "夜校", cn(2026, 3, 2, 23, 0),
	    cn(2026, 3, 3, 1, 0)), 2 * HOUR_MS);
	/* Empty and reversed intervals. */
	cr_assert_eq(calendar_hours_between(c, NULL, cn(2026, 3, 3, 10, 0),
	    cn(2026, 3, 3, 10, 0)), 0);
	cr_assert_eq(calendar_hours_between(c, NULL, cn(2026, 3, 3, 12, 0),
	    cn(2026, 3, 3, 10, 0)), 0);
	/* Past the end of time: bounded, and nothing is counted there. */
	cr_assert_eq(calendar_hours_between(c, NULL, CALENDAR_TIME_MAX,
	    UINT64_MAX), 0);
	cr_assert_not(calendar_in_hours(c, NULL, UINT64_MAX));
	calendar_free(c);
}

Test(calendar, hours_between_months)
{
	struct calendar *c = cal_ok(TEST_CAL);

	/*
	 * March 2026: the 1st is a Sunday; weekdays 2-6, 9-13, 16-20, 23-27,
	 * 30-31 = 22, no holidays: 22 x 10 h = 220 h.
	 */
	cr_assert_eq(calendar_hours_between(c, NULL, cn(2026, 3, 1, 0, 0),
	    cn(2026, 4, 1, 0, 0)), 220 * HOUR_MS);
	/* 幼儿园: 22 x 8.5 h = 187 h. */
	cr_assert_eq(calendar_hours_between(c, "幼儿园", cn(2026, 3, 1, 0, 0),
	    cn(2026, 4, 1, 0, 0)), 187 * HOUR_MS);
	/*
	 * October 2026: the 1st is a Thursday. Weekdays outside 国庆节
	 * 10-01..10-07: 8, 9, 12-16, 19-23, 26-30 = 17, plus the make-up
	 * Saturday 10-10 = 18 days x 10 h = 180 h.
	 */
	cr_assert_eq(calendar_hours_between(c, NULL, cn(2026, 10, 1, 0, 0),
	    cn(2026, 11, 1, 0, 0)), 180 * HOUR_MS);
	/*
	 * 周五短: of those 17, Fridays 9, 16, 23, 30 have 4.5 h and 13 days
	 * 10 h; 10-10 follows Friday: 130 + 4 x 4.5 + 4.5 = 152.5 h.
	 */
	cr_assert_eq(calendar_hours_between(c, "周五短", cn(2026, 10, 1, 0, 0),
	    cn(2026, 11, 1, 0, 0)), 1525 * HOUR_MS / 10);
	/*
	 * January 2026: 01-01..03 off, 01-04 (Sun) make-up; 寒假 from 01-24.
	 * Weekdays 5-9, 12-16, 19-23 = 15, plus 01-04 = 16 x 10 h = 160 h.
	 */
	cr_assert_eq(calendar_hours_between(c, NULL, cn(2026, 1, 1, 0, 0),
	    cn(2026, 2, 1, 0, 0)), 160 * HOUR_MS);
	/* February 2026 is all vacation, make-up day 02-28 included. */
	cr_assert_eq(calendar_hours_between(c, NULL, cn(2026, 2, 1, 0, 0),
	    cn(2026, 3, 1, 0, 0)), 0);
	calendar_free(c);
}

static uint64_t
rnd_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t
rnd(uint64_t n)
{
	/* xorshift64: a fixed seed keeps failures reproducible. */
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state % n;
}

/* Sum in_hours minute by minute: every boundary is on a whole minute, so
 * in_hours is constant inside each piece. */
static uint64_t
brute_hours(const struct calendar *c, const char *type, uint64_t t0,
    uint64_t t1)
{
	uint64_t sum = 0, t = t0, next;

	while (t < t1) {
		next = (t / MIN_MS + 1) * MIN_MS;
		if (next > t1)
			next = t1;
		if (calendar_in_hours(c, type, t))
			sum += next - t;
		t = next;
	}
	return sum;
}

Test(calendar, hours_between_brute_force)
{
	static const char *const types[] = {NULL, "幼儿园", "寄宿制", "周五短",
	    "夜校"};
	struct calendar *c = cal_ok(TEST_CAL);
	uint64_t from = cn(2025, 12, 20, 0, 0), span = 300 * DAY_MS;

	for (int i = 0; i < 30; i++) {
		uint64_t t0 = from + rnd(span), t1 = t0 + rnd(9 * DAY_MS);
		const char *type = types[i % 5];

		cr_assert_eq(calendar_hours_between(c, type, t0, t1),
		    brute_hours(c, type, t0, t1), "type %s, [%llu, %llu)",
		    type ? type : "NULL", (unsigned long long)t0,
		    (unsigned long long)t1);
	}
	calendar_free(c);
}

/* --- next_change ----------------------------------------------------- */

Test(calendar, next_change)
{
	struct calendar *c = cal_ok(TEST_CAL);

	/* Tuesday 10:00 -> 17:30 the same day. */
	cr_assert_eq(calendar_next_change(c, NULL, cn(2026, 3, 3, 10, 0)),
	    cn(2026, 3, 3, 17, 30));
	/* At 07:30 exactly the value is already "in": next is 17:30. */
	cr_assert_eq(calendar_next_change(c, NULL, cn(2026, 3, 3, 7, 30)),
	    cn(2026, 3, 3, 17, 30));
	cr_assert_eq(calendar_next_change(c, NULL, cn(2026, 3, 3, 7, 30) - 1),
	    cn(2026, 3, 3, 7, 30));
	/* Friday 03-06 17:30 -> Monday 03-09 07:30. */
	cr_assert_eq(calendar_next_change(c, NULL, cn(2026, 3, 6, 17, 30)),
	    cn(2026, 3, 9, 7, 30));
	/* Wednesday 2025-12-31 17:30: 01-01..03 are off, the make-up Sunday
	 * 01-04 comes first. */
	cr_assert_eq(calendar_next_change(c, NULL, cn(2025, 12, 31, 17, 30)),
	    cn(2026, 1, 4, 7, 30));
	/* Friday 2026-01-23 17:30: 寒假 (make-up 02-28 too) until Monday
	 * 03-02. */
	cr_assert_eq(calendar_next_change(c, NULL, cn(2026, 1, 23, 17, 30)),
	    cn(2026, 3, 2, 7, 30));
	/* 夜校: Monday 21:00 stays in across midnight until Tuesday 02:00. */
	cr_assert_eq(calendar_next_change(c, "夜校", cn(2026, 3, 2, 21, 0)),
	    cn(2026, 3, 3, 2, 0));
	calendar_free(c);
}

Test(calendar, next_change_never)
{
	/* 365 + 365 days of vacation: no change within 400 days. */
	struct calendar *c = cal_ok("[vacations]\n"
				    "2026-01-01..2026-12-31 = a\n"
				    "2027-01-01..2027-12-31 = b\n");

	cr_assert_eq(calendar_next_change(c, NULL, cn(2026, 1, 1, 0, 0)),
	    UINT64_MAX);
	/* From 2027-06-01 the change (2028-01-03, a Monday) is near. */
	cr_assert_eq(calendar_next_change(c, NULL, cn(2027, 6, 1, 0, 0)),
	    cn(2028, 1, 3, 7, 30));
	cr_assert_eq(calendar_next_change(c, NULL, UINT64_MAX), UINT64_MAX);
	calendar_free(c);
}

Test(calendar, next_change_brute_force)
{
	static const char *const types[] = {NULL, "幼儿园", "寄宿制", "夜校"};
	struct calendar *c = cal_ok(TEST_CAL);
	uint64_t from = cn(2025, 12, 20, 0, 0), span = 300 * DAY_MS;

	for (int i = 0; i < 40; i++) {
		const char *type = types[i % 4];
		uint64_t t = from + rnd(span), n;
		bool v = calendar_in_hours(c, type, t);

		n = calendar_next_change(c, type, t);
		cr_assert_gt(n, t);
		cr_assert_lt(n - t, 100 * DAY_MS);
		cr_assert_neq(calendar_in_hours(c, type, n), v);
		cr_assert_eq(calendar_in_hours(c, type, n - 1), v);
		/* Constant in between: no hours, or all of them. */
		cr_assert_eq(calendar_hours_between(c, type, t, n),
		    v ? n - t : 0);
	}
	calendar_free(c);
}

/* --- day_kind ---------------------------------------------------------- */

Test(calendar, day_kind_names)
{
	struct calendar *c = cal_ok(TEST_CAL);
	const char *name = "x";

	cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 3, 3, 3, 0), &name),
	    CAL_SCHOOL_DAY);
	cr_assert_null(name);
	name = "x";
	cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 3, 7, 10, 0), &name),
	    CAL_WEEKEND);
	cr_assert_null(name);
	/* A boarding school's Sunday has hours: a school day. */
	cr_assert_eq(calendar_day_kind(c, "寄宿制", cn(2026, 3, 8, 10, 0),
	    NULL), CAL_SCHOOL_DAY);
	cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 3, 8, 10, 0), NULL),
	    CAL_WEEKEND);
	cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 10, 5, 0, 0), &name),
	    CAL_HOLIDAY);
	cr_assert_str_eq(name, "国庆节");
	/* The last millisecond of 10-07 is still the holiday. */
	cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 10, 8, 0, 0) - 1,
	    &name), CAL_HOLIDAY);
	cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 1, 4, 23, 0), &name),
	    CAL_MAKEUP_DAY);
	cr_assert_str_eq(name, "元旦调休");
	/* "国庆节调休 @fri": the name stops before the '@'. */
	cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 10, 10, 9, 0), &name),
	    CAL_MAKEUP_DAY);
	cr_assert_str_eq(name, "国庆节调休");
	cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 2, 28, 9, 0), &name),
	    CAL_VACATION);
	cr_assert_str_eq(name, "寒假");
	cr_assert_eq(calendar_day_kind(c, "幼儿园", cn(2026, 8, 1, 9, 0),
	    &name), CAL_VACATION);
	cr_assert_str_eq(name, "暑假");
	calendar_free(c);
}

/* --- validation ------------------------------------------------------- */

Test(calendar, valid_edges)
{
	struct calendar *c;

	/* Offsets at both limits; a 400-day range; 24:00 as an end. */
	c = cal_ok("[calendar]\nutc_offset = +14:00\n");
	cr_assert_eq(calendar_utc_offset_min(c), 840);
	calendar_free(c);
	c = cal_ok("[calendar]\nutc_offset = -12:00\n");
	cr_assert_eq(calendar_utc_offset_min(c), -720);
	calendar_free(c);
	c = cal_ok("[calendar]\nutc_offset = +5:45\n");
	cr_assert_eq(calendar_utc_offset_min(c), 345);
	calendar_free(c);
	/* 2026-01-01..2027-02-04 = 365 + 35 = 400 days. */
	c = cal_ok("[vacations]\n2026-01-01..2027-02-04 = long\n"
		   "[hours]\ndefault = fri 22:00-24:00\n");
	calendar_free(c);
	/* An empty file is the default calendar; comments, blank lines,
	 * CRLF, a BOM, indentation and inline comments are fine. */
	c = cal_ok("");
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 3, 3, 10, 0)));
	calendar_free(c);
	c = cal_ok("\xef\xbb\xbf# comment\r\n"
		   "; another\r\n"
		   "\r\n"
		   "[holidays]   ; no school\r\n"
		   "   2026-03-03 = 测试 ; why\r\n"
		   "\t2026-03-04 .. 2026-03-05 = 测试二\r\n");
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 3, 3, 10, 0)));
	cr_assert_not(calendar_in_hours(c, NULL, cn(2026, 3, 5, 10, 0)));
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 3, 6, 10, 0)));
	cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 3, 3, 10, 0), NULL),
	    CAL_HOLIDAY);
	calendar_free(c);
}

Test(calendar, bad_dates)
{
	cal_fails("[holidays]\n2026-02-30 = x\n",
	    "c.conf:2: no such date: 2026-02-30\n");
	cal_fails("[holidays]\n2025-02-29 = x\n",
	    "c.conf:2: no such date: 2025-02-29\n");
	cal_fails("[vacations]\n2026-13-01 = x\n",
	    "c.conf:2: no such date: 2026-13-01\n");
	cal_fails("[holidays]\n2026-2-3 = x\n",
	    "c.conf:2: '2026-2-3' is not a date: write YYYY-MM-DD or "
	    "YYYY-MM-DD..YYYY-MM-DD\n");
	cal_fails("[holidays]\n2026-01-01...2026-01-03 = x\n",
	    "c.conf:2: '.2026-01-03' is not a date: write YYYY-MM-DD or "
	    "YYYY-MM-DD..YYYY-MM-DD\n");
	cal_fails("[holidays]\n1969-12-31 = x\n",
	    "c.conf:2: no such date: 1969-12-31 (the calendar starts in "
	    "1970)\n");
	cal_fails("[holidays]\n2026-01-03..2026-01-01 = x\n",
	    "c.conf:2: 2026-01-03..2026-01-01 ends before it starts\n");
	/* 2026-01-01..2027-02-05 = 365 + 36 = 401 days. */
	cal_fails("[vacations]\n2026-01-01..2027-02-05 = x\n",
	    "c.conf:2: 2026-01-01..2027-02-05 is 401 days long: at most 400\n");
	cal_fails("[holidays]\n2026-01-01 =\n2026-01-02 = \n",
	    "c.conf:2: 2026-01-01 needs a name: DATE = NAME\n"
	    "c.conf:3: 2026-01-02 needs a name: DATE = NAME\n");
}

Test(calendar, holiday_and_workday_clash)
{
	cal_fails("[holidays]\n"
		  "2026-01-01..2026-01-04 = 元旦\n"
		  "[workdays]\n"
		  "2026-01-04 = 元旦调休\n",
	    "c.conf:4: 2026-01-04 is a holiday on line 2 and cannot also be "
	    "a make-up day\n");
	cal_fails("[workdays]\n"
		  "2026-01-04 = 元旦调休\n"
		  "[holidays]\n"
		  "2026-01-01..2026-01-05 = 元旦\n",
	    "c.conf:4: 2026-01-04 is a make-up day on line 2 and cannot also "
	    "be a holiday\n");
	/* A holiday or make-up day inside a vacation is fine. */
	calendar_free(cal_ok("[vacations]\n2026-01-01..2026-01-31 = 寒假\n"
			     "[holidays]\n2026-01-01 = 元旦\n"
			     "[workdays]\n2026-01-04 = 调休\n"));
}

Test(calendar, workday_rules)
{
	/* 2026-01-07 is a Wednesday. */
	cal_fails("[workdays]\n2026-01-07 = x\n",
	    "c.conf:2: 2026-01-07 is a Wednesday: a make-up day (调休) is a "
	    "Saturday or Sunday\n");
	/* 2026-01-03 (Sat), 01-04 (Sun), 01-05 (Mon). */
	cal_fails("[workdays]\n2026-01-03..2026-01-05 = x\n",
	    "c.conf:2: 2026-01-05 is a Monday: a make-up day (调休) is a "
	    "Saturday or Sunday\n");
	cal_fails("[workdays]\n2026-01-04 = x @fr\n2026-01-10 = x @fri y\n"
		  "2026-01-11 = @fri\n",
	    "c.conf:2: 2026-01-04: unknown day 'fr' after '@' (use "
	    "mon..sun)\n"
	    "c.conf:3: 2026-01-10: unknown day 'fri y' after '@' (use "
	    "mon..sun)\n"
	    "c.conf:4: 2026-01-11 needs a name: DATE = NAME\n");
}

Test(calendar, bad_hours)
{
	cal_fails("[hours]\ndefault = mon-fri 25:00-26:00\n",
	    "c.conf:2: default: bad period '25:00-26:00': expected "
	    "HH:MM-HH:MM (00:00 to 24:00)\n");
	cal_fails("[hours]\ndefault = mon-fri 07:60-17:30\n",
	    "c.conf:2: default: bad period '07:60-17:30': expected "
	    "HH:MM-HH:MM (00:00 to 24:00)\n");
	cal_fails("[hours]\ndefault = mon-fri 07:30-24:01\n",
	    "c.conf:2: default: bad period '07:30-24:01': expected "
	    "HH:MM-HH:MM (00:00 to 24:00)\n");
	cal_fails("[hours]\ndefault = mon-fri 17:30-07:30\n",
	    "c.conf:2: default: period 17:30-07:30 must end after it starts "
	    "(periods may not cross midnight; 24:00 ends the day)\n");
	cal_fails("[hours]\ndefault = mon 08:00-08:00\n",
	    "c.conf:2: default: period 08:00-08:00 must end after it starts "
	    "(periods may not cross midnight; 24:00 ends the day)\n");
	cal_fails("[hours]\ndefault = mon 24:00-24:00\n",
	    "c.conf:2: default: period 24:00-24:00 must end after it starts "
	    "(periods may not cross midnight; 24:00 ends the day)\n");
	cal_fails("[hours]\ndefault = mon-fry 07:30-17:30\n",
	    "c.conf:2: default: unknown day 'fry' (use mon..sun, mon-fri, "
	    "mon,wed,fri or daily)\n");
	cal_fails("[hours]\ndefault = 周一 07:30-17:30\n",
	    "c.conf:2: default: unknown day '周一' (use mon..sun, mon-fri, "
	    "mon,wed,fri or daily)\n");
	cal_fails("[hours]\ndefault = 07:30-17:30\n",
	    "c.conf:2: default: unknown day '07:30-17:30' (use mon..sun, "
	    "mon-fri, mon,wed,fri or daily)\n");
	cal_fails("[hours]\ndefault = fri-mon 07:30-17:30\n",
	    "c.conf:2: default: day range 'fri-mon' runs backwards (the week "
	    "starts on mon)\n");
	cal_fails("[hours]\ndefault = mon-fri\n",
	    "c.conf:2: default: no HH:MM-HH:MM after the days\n");
	cal_fails("[hours]\ndefault =\n",
	    "c.conf:2: default: no hours: write DAYS HH:MM-HH:MM\n");
	cal_fails("[hours]\ndefault = mon-fri 07:30-11:30 14:00-17:30\n",
	    "c.conf:2: default: expected ',' before '14:00-17:30' (items are "
	    "DAYS HH:MM-HH:MM, separated by commas)\n");
	cal_fails("[hours]\ndefault = mon-fri 07:30-17:30,\n",
	    "c.conf:2: default: nothing after the last ','\n");
	cal_fails("[hours]\ndefault = mon-fri 07:30-12:00, mon 11:00-13:00\n",
	    "c.conf:2: default: periods 07:30-12:00 and 11:00-13:00 overlap "
	    "on mon\n");
	cal_fails("[hours]\ndefault = daily 00:00-01:00, daily 01:00-02:00, "
		  "daily 02:00-03:00, daily 03:00-04:00, daily 04:00-05:00, "
		  "daily 05:00-06:00, daily 06:00-07:00, daily 07:00-08:00, "
		  "sun 09:00-10:00\n",
	    "c.conf:2: default: more than 8 periods on sun\n");
	/* [hours] without default, reported at the section line. */
	cal_fails("[calendar]\n[hours]\n幼儿园 = mon-fri 08:00-16:30\n",
	    "c.conf:2: [hours] has no 'default' line (the hours of every "
	    "school type not listed)\n");
}

Test(calendar, bad_calendar_section)
{
	cal_fails("[calendar]\ntimezone = Asia/Shanghai\n",
	    "c.conf:2: unknown key 'timezone' in [calendar] (use name, "
	    "utc_offset)\n");
	cal_fails("[calendar]\nutc_offset = +14:30\n",
	    "c.conf:2: utc_offset = +14:30: must be from -12:00 to +14:00\n");
	cal_fails("[calendar]\nutc_offset = -12:01\n",
	    "c.conf:2: utc_offset = -12:01: must be from -12:00 to +14:00\n");
	cal_fails("[calendar]\nutc_offset = 8\n",
	    "c.conf:2: utc_offset = 8: expected +HH:MM or -HH:MM (China: "
	    "+08:00)\n");
	cal_fails("[calendar]\nutc_offset = +08:60\n",
	    "c.conf:2: utc_offset = +08:60: expected +HH:MM or -HH:MM (China: "
	    "+08:00)\n");
	cal_fails("[calendar]\nutc_offset = UTC+8\n",
	    "c.conf:2: utc_offset = UTC+8: expected +HH:MM or -HH:MM (China: "
	    "+08:00)\n");
}

Test(calendar, unknown_section)
{
	/* One error for the section, none for its keys. */
	cal_fails("[holiday]\n2026-01-01 = x\n2026-99-01 = y\n",
	    "c.conf:1: unknown section [holiday] (use calendar, hours, "
	    "holidays, workdays, vacations)\n");
	cal_fails("[hours 小学]\ndefault = mon 07:00-08:00\n",
	    "c.conf:1: unknown section [hours 小学] (use calendar, hours, "
	    "holidays, workdays, vacations)\n");
	cal_fails("2026-01-01 = x\n[holidays]\n",
	    "c.conf:1: '2026-01-01' is outside any [section]\n");
}

Test(calendar, repeats)
{
	cal_fails("[hours]\ndefault = mon 07:00-08:00\n"
		  "default = tue 07:00-08:00\n",
	    "c.conf:3: 'default' repeats line 2\n");
	cal_fails("[hours]\ndefault = mon 07:00-08:00\n"
		  "小学 = mon 07:00-08:00\n小学 = mon 07:00-09:00\n",
	    "c.conf:4: '小学' repeats line 3\n");
	cal_fails("[calendar]\nname = a\nname = b\n",
	    "c.conf:3: 'name' repeats line 2\n");
	cal_fails("[calendar]\nutc_offset = +08:00\nutc_offset = +08:00\n",
	    "c.conf:3: 'utc_offset' repeats line 2\n");
	cal_fails("[holidays]\n2026-10-01 = a\n2026-10-01 = b\n",
	    "c.conf:3: '2026-10-01' repeats line 2\n");
	cal_fails("[holidays]\n2026-10-01..2026-10-07 = a\n"
		  "2026-10-03 = b\n",
	    "c.conf:3: 2026-10-03 overlaps 2026-10-01..2026-10-07 on line 2\n");
	cal_fails("[vacations]\n2026-07-04..2026-08-31 = a\n"
		  "2026-06-01..2026-07-04 = b\n",
	    "c.conf:3: 2026-06-01..2026-07-04 overlaps 2026-07-04..2026-08-31 "
	    "on line 2\n");
	/* Dated sections may repeat (one block a year); their keys may not. */
	cal_fails("[holidays]\n2026-10-01 = a\n[workdays]\n2026-10-10 = b\n"
		  "[holidays]\n2027-01-01 = c\n2026-10-01 = d\n",
	    "c.conf:7: '2026-10-01' repeats line 2\n");
	cal_fails("[hours]\ndefault = mon 07:00-08:00\n[calendar]\n[hours]\n",
	    "c.conf:4: section [hours] repeats the one on line 1\n");
}

Test(calendar, line_length_limit)
{
	char text[1024], line[600];
	struct calendar *c;
	int max = 198; /* inih's 200-byte buffer, less "\n" and NUL */

	/* A comment of exactly 198 bytes (with LF or CRLF) is fine... */
	line[0] = '#';
	memset(line + 1, 'x', (size_t)max - 1);
	line[max] = '\0';
	snprintf(text, sizeof(text), "[calendar]\n%s\nname = a\n", line);
	c = cal_ok(text);
	calendar_free(c);
	snprintf(text, sizeof(text), "[calendar]\r\n%s\r\nname = a\r\n", line);
	c = cal_ok(text);
	calendar_free(c);
	/* ...one more byte is not, and the next line is still counted. */
	line[max] = 'x';
	line[max + 1] = '\0';
	snprintf(text, sizeof(text), "[calendar]\n%s\nfoo = 1\n", line);
	cal_fails(text, "c.conf:2: line longer than 198 bytes\n"
			"c.conf:3: unknown key 'foo' in [calendar] (use name, "
			"utc_offset)\n");
	/* Bytes, not characters: "#" and 66 x "假" is 199 bytes, 67
	 * characters. */
	strcpy(line, "#");
	for (int i = 0; i < 66; i++)
		strcat(line, "假");
	snprintf(text, sizeof(text), "[holidays]\n%s\n", line);
	cal_fails(text, "c.conf:2: line longer than 198 bytes\n");
}

Test(calendar, bad_bytes)
{
	/* "元旦" in GBK (D4AA B5A9): the usual mistake on Windows. */
	cal_fails("[holidays]\n2026-01-01 = \xd4\xaa\xb5\xa9\n",
	    "c.conf:2: not valid UTF-8 (save the file as UTF-8, not GBK)\n");
	/* In a comment too: the whole file must be UTF-8. */
	cal_fails("# \xc3\x28\n[holidays]\n",
	    "c.conf:1: not valid UTF-8 (save the file as UTF-8, not GBK)\n");
	cal_fails("[holidays]\n2026-01-01 = a\x1b[31m\n",
	    "c.conf:2: control character (byte 0x1b) in line\n");
	/* A school type name too long for the table. */
	cal_fails("[hours]\ndefault = mon 07:00-08:00\n"
		  "一二三四五六七八九十一二三四五六七八九十一二 = mon "
		  "07:00-08:00\n",
	    "c.conf:3: school type "
	    "'一二三四五六七八九十一二三四五六七八九十一二' is longer than "
	    "63 bytes\n");
	cal_fails("[holidays]\n2026-01-01 = "
		  "一二三四五六七八九十一二三四五六七八九十一二\n",
	    "c.conf:2: 2026-01-01: name is longer than 63 bytes\n");
}

Test(calendar, syntax_errors_all_reported)
{
	cal_fails("[holidays]\n"
		  "2026-01-01 元旦\n"
		  "[workdays\n"
		  "= x\n"
		  "2026-01-04 = 调休\n",
	    "c.conf:2: syntax error: expected '[section]' or 'key = value'\n"
	    "c.conf:3: syntax error: expected '[section]' or 'key = value'\n"
	    "c.conf:4: missing key before '='\n");
}

Test(calendar, many_errors_in_line_order)
{
	cal_fails("[calendar]\n"
		  "utc_offset = +15:00\n"
		  "[hours]\n"
		  "default = mon-fri 07:30-17:30\n"
		  "小学 = mon-sat 07:30-25:00\n"
		  "[holidays]\n"
		  "2026-02-30 = 坏\n"
		  "2026-10-01..2026-10-07 = 国庆节\n"
		  "[workdays]\n"
		  "2026-10-03 = 冲突\n",
	    "c.conf:2: utc_offset = +15:00: must be from -12:00 to +14:00\n"
	    "c.conf:5: 小学: bad period '07:30-25:00': expected HH:MM-HH:MM "
	    "(00:00 to 24:00)\n"
	    "c.conf:7: no such date: 2026-02-30\n"
	    "c.conf:10: 2026-10-03 is a holiday on line 8 and cannot also be "
	    "a make-up day\n");
}

Test(calendar, bounds)
{
	size_t size = 200000, used = 0;
	char *text = malloc(size);
	char want[128];
	int day = 0;

	cr_assert_not_null(text);
	/* 65 school types besides default: one too many. */
	used = (size_t)snprintf(text, size, "[hours]\ndefault = mon "
	    "07:00-08:00\n");
	for (int i = 0; i < 65; i++)
		used += (size_t)snprintf(text + used, size - used,
		    "t%d = mon 07:00-08:00\n", i);
	cal_fails(text, "c.conf:67: more than 64 school types in [hours]\n");
	/* 4097 single days (1990-01-01 onwards): one too many. */
	used = (size_t)snprintf(text, size, "[holidays]\n");
	for (int i = 0; i < 4097; i++, day++) {
		time_t s = (time_t)(631152000 + (int64_t)day * 86400);
		struct tm tm;

		gmtime_r(&s, &tm);
		used += (size_t)snprintf(text + used, size - used,
		    "%04d-%02d-%02d = h\n", tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday);
	}
	snprintf(want, sizeof(want),
	    "c.conf:4098: more than 4096 dated entries\n");
	cal_fails(text, want);
	free(text);
}

Test(calendar, load_errors)
{
	struct calendar *c = (struct calendar *)&c;
	struct cfg_err e;

	memset(&e, 0, sizeof(e));
	cr_assert_eq(calendar_load("nope.conf", &c, &e), -1);
	cr_assert_null(c);
	cr_assert_str_eq(e.text,
	    "nope.conf: cannot open: No such file or directory\n");
	/* Errors are appended to what *e already holds. */
	write_file("c.conf", "[holidays]\n2026-02-30 = x\n");
	cr_assert_eq(calendar_load("c.conf", &c, &e), -1);
	cr_assert_str_eq(e.text,
	    "nope.conf: cannot open: No such file or directory\n"
	    "c.conf:2: no such date: 2026-02-30\n");
	cr_assert_eq(e.count, 2);
}

/* --- the shipped calendar ---------------------------------------------- */

static struct calendar *
shipped(void)
{
	struct calendar *c = NULL;
	struct cfg_err e;

	memset(&e, 0, sizeof(e));
	cr_assert_eq(calendar_load(SHIPPED, &c, &e), 0, "%s", e.text);
	cr_assert_str_eq(e.text, "");
	return c;
}

Test(calendar, shipped_loads)
{
	struct calendar *c = shipped();
	const char *name;

	cr_assert_eq(calendar_utc_offset_min(c), 480);
	/* 国庆节 2026-10-01..10-07: every day off; 10-08 (Thu) is school. */
	for (int d = 1; d <= 7; d++) {
		cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 10, d, 10, 0),
		    &name), CAL_HOLIDAY, "2026-10-%02d", d);
		cr_assert_str_eq(name, "国庆节");
		cr_assert_not(calendar_in_hours(c, NULL,
		    cn(2026, 10, d, 10, 0)));
	}
	cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 10, 8, 10, 0), NULL),
	    CAL_SCHOOL_DAY);
	/* 2026-09-20 (Sunday) and 10-10 (Saturday) are make-up days. */
	cr_assert_eq(calendar_day_kind(c, NULL, cn(2026, 9, 20, 10, 0), &name),
	    CAL_MAKEUP_DAY);
	cr_assert_str_eq(name, "国庆节调休");
	cr_assert(calendar_in_hours(c, NULL, cn(2026, 9, 20, 10, 0)));
	cr_assert(calendar_in_hours(c, "幼儿园", cn(2026, 10, 10, 10, 0)));
	/* Hours: default, 幼儿园, and the boarding example. */
	cr_assert(calendar_in_hours(c, "小学", cn(2026, 3, 3, 7, 30)));
	cr_assert_not(calendar_in_hours(c, "幼儿园", cn(2026, 3, 3, 7, 30)));
	cr_assert(calendar_in_hours(c, "寄宿制", cn(2026, 3, 8, 20, 0)));
	calendar_free(c);
}

/* cn-holidays.md, 2025 and 2026: days off (o) and make-up days (w). */
static const struct {
	char what;
	int y, m, d0, m1, d1;
} facts[] = {
    {'o', 2025, 1, 1, 1, 1}, {'o', 2025, 1, 28, 2, 4},
    {'w', 2025, 1, 26, 1, 26}, {'w', 2025, 2, 8, 2, 8},
    {'o', 2025, 4, 4, 4, 6}, {'o', 2025, 5, 1, 5, 5},
    {'w', 2025, 4, 27, 4, 27}, {'o', 2025, 5, 31, 6, 2},
    {'o', 2025, 10, 1, 10, 8}, {'w', 2025, 9, 28, 9, 28},
    {'w', 2025, 10, 11, 10, 11},
    {'o', 2026, 1, 1, 1, 3}, {'w', 2026, 1, 4, 1, 4},
    {'o', 2026, 2, 15, 2, 23}, {'w', 2026, 2, 14, 2, 14},
    {'w', 2026, 2, 28, 2, 28}, {'o', 2026, 4, 4, 4, 6},
    {'o', 2026, 5, 1, 5, 5}, {'w', 2026, 5, 9, 5, 9},
    {'o', 2026, 6, 19, 6, 21}, {'o', 2026, 9, 25, 9, 27},
    {'o', 2026, 10, 1, 10, 7}, {'w', 2026, 9, 20, 9, 20},
    {'w', 2026, 10, 10, 10, 10},
};

Test(calendar, shipped_matches_the_facts)
{
	struct calendar *c = shipped();
	int off = 0, work = 0, n_off = 0, n_work = 0;

	for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++) {
		uint64_t t = cn(facts[i].y, facts[i].m, facts[i].d0, 10, 0);
		uint64_t end = cn(facts[i].y, facts[i].m1, facts[i].d1, 10, 0);

		for (; t <= end; t += DAY_MS) {
			enum calendar_day k = calendar_day_kind(c, NULL, t,
			    NULL);

			/* Inside a vacation the vacation wins. */
			if (k == CAL_VACATION)
				continue;
			if (facts[i].what == 'o') {
				cr_assert_eq(k, CAL_HOLIDAY, "i=%zu", i);
				off++;
			} else {
				cr_assert_eq(k, CAL_MAKEUP_DAY, "i=%zu", i);
				work++;
			}
		}
	}
	/* And nothing more: count every holiday and make-up day of
	 * 2025-2026 outside vacations. */
	for (uint64_t t = cn(2025, 1, 1, 10, 0); t < cn(2027, 1, 1, 0, 0);
	     t += DAY_MS) {
		enum calendar_day k = calendar_day_kind(c, NULL, t, NULL);

		n_off += k == CAL_HOLIDAY;
		n_work += k == CAL_MAKEUP_DAY;
	}
	cr_assert_eq(n_off, off);
	cr_assert_eq(n_work, work);
	/*
	 * 2025 has 261 weekdays (52 weeks + Wednesday 12-31) and no vacation
	 * in the file. Weekdays off: 元旦 1, 春节 6 (01-28..02-04 less
	 * Sat/Sun), 清明 1 (04-04), 劳动节 3 (05-01, 02, 05), 端午 1 (06-02),
	 * 国庆 6 (10-01..08 less 04, 05) = 18; 5 make-up days:
	 * 261 - 18 + 5 = 248 days x 10 h.
	 */
	cr_assert_eq(calendar_hours_between(c, NULL, cn(2025, 1, 1, 0, 0),
	    cn(2026, 1, 1, 0, 0)), 2480 * HOUR_MS);
	calendar_free(c);
}
