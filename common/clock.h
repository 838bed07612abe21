/*
 * Time: the wall clock for timestamps, the monotonic clock for intervals,
 * RFC 3339 formatting and parsing. Tests may override the wall clock.
 */
#ifndef HO_CLOCK_H
#define HO_CLOCK_H

#include <stdint.h>

#include "error.h"

#define CLOCK_RFC3339_LEN 32 /* buffer size for clock_format_rfc3339 */

/* Milliseconds since the Unix epoch (or the override when set). */
int64_t clock_wall_ms(void);
/* Milliseconds of the monotonic clock; only differences mean anything. */
int64_t clock_mono_ms(void);
/* Test hook: makes clock_wall_ms return ms; 0 restores the real clock. */
void clock_set_wall_override(int64_t ms);
/* Writes ms as "2026-11-24T14:00:00.123Z" into out (CLOCK_RFC3339_LEN bytes). */
void clock_format_rfc3339(int64_t ms, char *out);
/*
 * Parses RFC 3339 ("2026-11-24T14:00:00Z", optional fraction, "Z" or +hh:mm)
 * into ms since the epoch. HO_EINVAL for anything else or years outside 1970..9999.
 */
enum ho_code clock_parse_rfc3339(const char *s, int64_t *ms) HO_WUR;

#endif
