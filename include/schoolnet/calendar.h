/* calendar.h: school hours (weekly hours, holidays, 调休, vacations). */
#ifndef SCHOOLNET_CALENDAR_H
#define SCHOOLNET_CALENDAR_H

#include <stdbool.h>
#include <stdint.h>

#include "schoolnet/config.h"

#define CALENDAR_MAX_TYPES 64	   /* [hours] lines besides default */
#define CALENDAR_MAX_PERIODS 8	   /* periods on one weekday of one type */
#define CALENDAR_MAX_DATED 4096	   /* [holidays] + [workdays] + [vacations] */
#define CALENDAR_MAX_RANGE_DAYS 400 /* longest DATE..DATE */
#define CALENDAR_NAME_MAX 63	   /* bytes in a school type or day name */

/*
 * The calendar works from 1970 to the end of 9999: instants from
 * 10000-01-01T00:00Z on are never in school hours, which keeps every loop
 * over days bounded whatever a caller passes.
 */
#define CALENDAR_TIME_MAX UINT64_C(253402300800000)

enum calendar_day {
	CAL_SCHOOL_DAY, /* the weekly hours apply and have a period today */
	CAL_WEEKEND,	/* the weekly hours have no period on this weekday */
	CAL_HOLIDAY,	/* [holidays] */
	CAL_MAKEUP_DAY, /* [workdays]: 调休, a weekend day with school */
	CAL_VACATION,	/* [vacations] */
};

/*
 * A loaded calendar is read-only: every query below may run on any thread
 * at once. Times are milliseconds since the Unix epoch (UTC); "local" means
 * the calendar's fixed UTC offset (no daylight saving time).
 */
struct calendar;

/* Mon-Fri 07:30-17:30 for every school type, UTC+8, no dated entries.
 * The caller owns the result (calendar_free). Never fails. */
struct calendar *calendar_default(void);

/*
 * Read a calendar file (format: deploy/calendar.conf). Returns 0 with a new
 * calendar in *out (the caller owns it), or -1 with *out NULL and one
 * "FILE:LINE: reason" line per problem appended to *e, which the caller
 * must have initialised (zeroed, or filled by an earlier check).
 */
int calendar_load(const char *path, struct calendar **out, struct cfg_err *e)
    __attribute__((warn_unused_result));
void calendar_free(struct calendar *c); /* NULL is fine */

/* [calendar] name (empty when the file gave none), and the offset of local
 * time from UTC in minutes (+480 for China). */
const char *calendar_name(const struct calendar *c);
int calendar_utc_offset_min(const struct calendar *c);

/*
 * school_type is the inventory's school_type ("小学", "幼儿园", ...); NULL or
 * a type without its own [hours] line gets the `default` hours. Periods
 * include their start and exclude their end.
 */
bool calendar_in_hours(const struct calendar *c, const char *school_type,
    uint64_t t_ms);
/* Milliseconds of school hours inside [t0, t1); 0 when t1 <= t0. */
uint64_t calendar_hours_between(const struct calendar *c,
    const char *school_type, uint64_t t0, uint64_t t1);
/* The first instant after t_ms at which calendar_in_hours() changes value,
 * or UINT64_MAX when it does not change within 400 days of t_ms. */
uint64_t calendar_next_change(const struct calendar *c,
    const char *school_type, uint64_t t_ms);

/* The kind of local day t_ms falls on. *name (if name is not NULL) gets the
 * holiday, make-up day or vacation name, owned by c, or NULL for school days
 * and weekends. */
enum calendar_day calendar_day_kind(const struct calendar *c,
    const char *school_type, uint64_t t_ms, const char **name);

/* The local date of t_ms (t_ms past CALENDAR_TIME_MAX counts as that). */
void calendar_local_date(const struct calendar *c, uint64_t t_ms, int *y,
    int *m, int *d);
/*
 * The instant of local midnight starting y-m-d. m and d may be out of range
 * and carry over (month 13 is January of y + 1, day 0 is the last day of the
 * month before), so callers can step months. Clamped to
 * [0, CALENDAR_TIME_MAX].
 */
uint64_t calendar_local_midnight(const struct calendar *c, int y, int m,
    int d);

#endif
