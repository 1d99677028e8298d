/* fuzz_calendar.c: the calendar parser, and its queries on what it loads. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "schoolnet/calendar.h"
#include "schoolnet/utf8.h"

/*
 * The input is a calendar file. When it loads, the queries must agree with
 * each other at instants taken from the file itself (its first date), from
 * a hash of it, and at the ends of the calendar's range:
 *   hours_between over [a,b) + [b,c) == [a,c), and never more than c - a;
 *   next_change(t) > t, in_hours flips there and nowhere before it, and
 *   the school hours up to it are all of [t, next) or none;
 *   walking next_change across [a,c) adds up to hours_between(a, c);
 *   in school hours the day is a school day or a make-up day.
 */

#define DAY UINT64_C(86400000)
#define MINUTE UINT64_C(60000)
#define MAX_TYPES 4
#define WALK_STEPS 64

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * UINT64_C(0x100000001b3);
	return h;
}

static uint64_t
mix(uint64_t *h)
{
	*h ^= *h >> 29;
	*h *= UINT64_C(0xbf58476d1ce4e5b9);
	*h ^= *h >> 32;
	return *h;
}

static uint64_t
clamp(uint64_t t)
{
	return t > CALENDAR_TIME_MAX + DAY ? CALENDAR_TIME_MAX + DAY : t;
}

/* The first YYYY-MM-DD in the input, or 0. */
static int
first_date(const uint8_t *p, size_t n, int *y, int *m, int *d)
{
	for (size_t i = 0; i + 10 <= n; i++) {
		size_t k;

		for (k = 0; k < 10; k++)
			if (k == 4 || k == 7 ? p[i + k] != '-'
			                     : !isdigit(p[i + k]))
				break;
		if (k < 10)
			continue;
		*y = (p[i] - '0') * 1000 + (p[i + 1] - '0') * 100 +
		    (p[i + 2] - '0') * 10 + (p[i + 3] - '0');
		*m = (p[i + 5] - '0') * 10 + (p[i + 6] - '0');
		*d = (p[i + 8] - '0') * 10 + (p[i + 9] - '0');
		return 1;
	}
	return 0;
}

/* School types to ask about: NULL (the default hours) and the first keys
 * of the file's [hours] section. */
static size_t
find_types(const uint8_t *p, size_t n, char types[][CALENDAR_NAME_MAX + 1])
{
	size_t nt = 0, i = 0, len, kl;
	int in_hours = 0;

	while (i < n && nt < MAX_TYPES - 1) {
		const char *l = (const char *)p + i, *eq;

		len = 0;
		while (i + len < n && p[i + len] != '\n')
			len++;
		i += len + 1;
		while (len > 0 && (*l == ' ' || *l == '\t')) {
			l++;
			len--;
		}
		if (len > 0 && *l == '[') {
			in_hours = len >= 7 && memcmp(l, "[hours]", 7) == 0;
			continue;
		}
		if (!in_hours || (eq = memchr(l, '=', len)) == NULL)
			continue;
		kl = (size_t)(eq - l);
		while (kl > 0 && (l[kl - 1] == ' ' || l[kl - 1] == '\t'))
			kl--;
		if (kl == 0 || kl > CALENDAR_NAME_MAX || memchr(l, '\0', kl))
			continue;
		memcpy(types[nt], l, kl);
		types[nt][kl] = '\0';
		nt++;
	}
	return nt;
}

static void
check_between(const struct calendar *c, const char *type, uint64_t a,
    uint64_t b, uint64_t z)
{
	uint64_t ab = calendar_hours_between(c, type, a, b);
	uint64_t bz = calendar_hours_between(c, type, b, z);
	uint64_t az = calendar_hours_between(c, type, a, z);

	FUZZ_CHECK(ab + bz == az,
	    "hours_between: [%llu,%llu) %llu + [%llu,%llu) %llu != %llu",
	    (unsigned long long)a, (unsigned long long)b,
	    (unsigned long long)ab, (unsigned long long)b,
	    (unsigned long long)z, (unsigned long long)bz,
	    (unsigned long long)az);
	FUZZ_CHECK(az <= z - a,
	    "hours_between(%llu, %llu) = %llu is longer "
	    "than the interval",
	    (unsigned long long)a, (unsigned long long)z,
	    (unsigned long long)az);
	FUZZ_CHECK(calendar_hours_between(c, type, z, a) == 0,
	    "hours_between of a backwards interval is not 0");
}

static void
check_change(const struct calendar *c, const char *type, uint64_t t)
{
	bool v = calendar_in_hours(c, type, t);
	uint64_t nx = calendar_next_change(c, type, t), end, span;

	if (nx == UINT64_MAX) {
		/* Nothing changes for 400 days (or the calendar ends). */
		end = t + 400 * DAY;
		if (end > CALENDAR_TIME_MAX)
			end = CALENDAR_TIME_MAX;
		if (end <= t)
			return;
		span = calendar_hours_between(c, type, t, end);
		FUZZ_CHECK(span == (v ? end - t : 0),
		    "next_change(%llu) = never, but %llu of %llu ms after it "
		    "are school hours",
		    (unsigned long long)t, (unsigned long long)span,
		    (unsigned long long)(end - t));
		return;
	}
	FUZZ_CHECK(nx > t, "next_change(%llu) = %llu is not after it",
	    (unsigned long long)t, (unsigned long long)nx);
	FUZZ_CHECK(calendar_in_hours(c, type, nx) != v,
	    "in_hours does not flip at next_change(%llu) = %llu",
	    (unsigned long long)t, (unsigned long long)nx);
	FUZZ_CHECK(calendar_in_hours(c, type, nx - 1) == v &&
	        calendar_in_hours(c, type, t + (nx - t) / 2) == v,
	    "in_hours flips before next_change(%llu) = %llu",
	    (unsigned long long)t, (unsigned long long)nx);
	span = calendar_hours_between(c, type, t, nx);
	FUZZ_CHECK(span == (v ? nx - t : 0),
	    "hours_between(%llu, next_change = %llu) = %llu, in_hours %d",
	    (unsigned long long)t, (unsigned long long)nx,
	    (unsigned long long)span, v);
}

/* Walk next_change from a to z, adding up the school hours seen. */
static void
check_walk(const struct calendar *c, const char *type, uint64_t a, uint64_t z)
{
	uint64_t t = a, nx, sum = 0;
	int steps;

	for (steps = 0; steps < WALK_STEPS && t < z; steps++) {
		nx = calendar_next_change(c, type, t);
		FUZZ_CHECK(nx > t, "next_change(%llu) = %llu is not after it",
		    (unsigned long long)t, (unsigned long long)nx);
		if (nx > z)
			nx = z;
		if (calendar_in_hours(c, type, t))
			sum += nx - t;
		t = nx;
	}
	if (t < z)
		return; /* too many changes to follow all of them */
	FUZZ_CHECK(sum == calendar_hours_between(c, type, a, z),
	    "walking next_change over [%llu, %llu) finds %llu ms of school "
	    "hours, hours_between says %llu",
	    (unsigned long long)a, (unsigned long long)z,
	    (unsigned long long)sum,
	    (unsigned long long)calendar_hours_between(c, type, a, z));
}

static void
check_day(const struct calendar *c, const char *type, uint64_t t)
{
	const char *name = "unset";
	enum calendar_day k = calendar_day_kind(c, type, t, &name);
	uint64_t mid;
	int y, m, d;

	switch (k) {
	case CAL_SCHOOL_DAY:
	case CAL_WEEKEND:
		FUZZ_CHECK(name == NULL, "a plain day has a name");
		break;
	case CAL_HOLIDAY:
	case CAL_MAKEUP_DAY:
	case CAL_VACATION:
		FUZZ_CHECK(name != NULL && *name != '\0' &&
		        strlen(name) <= CALENDAR_NAME_MAX,
		    "a dated day has no name");
		break;
	default:
		fuzz_fail("calendar_day_kind returned %d", (int)k);
	}
	FUZZ_CHECK(!calendar_in_hours(c, type, t) || k == CAL_SCHOOL_DAY ||
	        k == CAL_MAKEUP_DAY,
	    "in school hours on a day of kind %d", (int)k);
	if (t >= CALENDAR_TIME_MAX)
		return;
	calendar_local_date(c, t, &y, &m, &d);
	mid = calendar_local_midnight(c, y, m, d);
	FUZZ_CHECK(mid <= t && t < mid + DAY,
	    "local midnight of %04d-%02d-%02d (%llu) does not start the day "
	    "of %llu",
	    y, m, d, (unsigned long long)mid, (unsigned long long)t);
}

static void
check_at(const struct calendar *c, const char *type, uint64_t a, uint64_t *h)
{
	uint64_t b = clamp(a + mix(h) % (10 * DAY));
	uint64_t z = clamp(b + mix(h) % (10 * DAY));

	check_between(c, type, a, b, z);
	check_change(c, type, a);
	check_change(c, type, b);
	check_walk(c, type, a, z);
	check_day(c, type, a);
	check_day(c, type, b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char types[MAX_TYPES][CALENDAR_NAME_MAX + 1];
	const char *name;
	struct calendar *c = NULL;
	static struct cfg_err e;
	uint64_t h = fnv1a(data, size), starts[5];
	size_t nt, ns = 0;
	int y, m, d, off;

	memset(&e, 0, sizeof(e));
	if (calendar_load(fuzz_file(0, data, size), &c, &e) != 0) {
		FUZZ_CHECK(c == NULL && e.count > 0 && e.text[0] != '\0',
		    "calendar refused without a reason");
		return 0;
	}
	FUZZ_CHECK(c != NULL && e.count == 0, "calendar loaded with errors");
	name = calendar_name(c);
	FUZZ_CHECK(strlen(name) <= 127 && utf8_valid_label(name, strlen(name)),
	    "calendar name is not a clean label");
	off = calendar_utc_offset_min(c);
	FUZZ_CHECK(off >= -12 * 60 && off <= 14 * 60, "utc offset %d", off);

	/* 2024..2027 by the hash, the file's first date, the range's ends. */
	starts[ns++] = UINT64_C(1704067200000) +
	    mix(&h) % (4 * 365 * DAY / MINUTE) * MINUTE + mix(&h) % MINUTE;
	if (first_date(data, size, &y, &m, &d))
		starts[ns++] =
		    calendar_local_midnight(c, y, m, d) + mix(&h) % (2 * DAY);
	starts[ns++] = mix(&h) % (3 * DAY);
	starts[ns++] = CALENDAR_TIME_MAX - mix(&h) % (3 * DAY) - 1;

	nt = find_types(data, size, types);
	for (size_t i = 0; i < ns; i++) {
		check_at(c, NULL, starts[i], &h);
		for (size_t j = 0; j < nt; j++)
			check_at(c, types[j], starts[i], &h);
	}
	calendar_free(c);
	return 0;
}
