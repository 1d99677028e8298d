/* timeutil.c: clocks and timestamp formatting. */
#include <time.h>

#include "schoolnet/timeutil.h"

static uint64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
time_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

uint64_t
time_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

void
time_iso8601(uint64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
