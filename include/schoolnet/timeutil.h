/* timeutil.h: wall-clock and monotonic time in milliseconds, ISO 8601. */
#ifndef SCHOOLNET_TIMEUTIL_H
#define SCHOOLNET_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

uint64_t time_now_ms(void);  /* CLOCK_REALTIME */
uint64_t time_mono_ms(void); /* CLOCK_MONOTONIC */
/* "2026-11-22T12:40:01Z" (UTC) into buf (at least 21 bytes). */
void time_iso8601(uint64_t ms, char *buf, size_t size);

#endif
