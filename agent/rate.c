/* rate.c: counter deltas with wrap, reset and device-reboot handling. */
#include "agent.h"

#define TIMETICKS_WRAP 4294967296ULL /* 2^32 centiseconds */
/* sysUpTime may lag wall time a little (polling jitter, agent load). */
#define UPTIME_SLACK_CS 500

int
rate_counter_delta(uint64_t prev, uint64_t cur, int bits, uint64_t *delta)
{
	if (cur >= prev) {
		*delta = cur - prev;
		return 0;
	}
	if (bits == 32 && prev <= UINT32_MAX && cur <= UINT32_MAX) {
		*delta = (cur + (1ULL << 32)) - prev;
		return 0;
	}
	return -1;
}

bool
rate_rebooted(uint32_t prev_uptime, uint32_t cur_uptime, uint64_t elapsed_ms)
{
	uint64_t expected = (uint64_t)prev_uptime + elapsed_ms / 10;

	if (cur_uptime >= prev_uptime)
		return false;
	/* Went back: only a TimeTicks wrap explains it without a reboot. */
	if (expected >= TIMETICKS_WRAP) {
		uint64_t wrapped = expected - TIMETICKS_WRAP;

		if (cur_uptime <= wrapped + UPTIME_SLACK_CS &&
		    cur_uptime + UPTIME_SLACK_CS >= wrapped)
			return false;
	}
	return true;
}

bool
rate_plausible(uint64_t octets, uint64_t interval_ms, uint32_t speed_mbps)
{
	long double bps, limit;

	if (interval_ms == 0)
		return false;
	if (speed_mbps == 0)
		return true; /* nothing to compare with */
	bps = (long double)octets * 8 * 1000 / interval_ms;
	limit = (long double)speed_mbps * 1e6L * 1.1L;
	return bps <= limit;
}
