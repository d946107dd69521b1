/*
 * timeutil.h - wall-clock and monotonic time in milliseconds, and ISO-8601 UTC formatting and
 * parsing ("2026-11-29T09:00:00.000Z"; parsing also accepts no fraction and +00:00 offsets).
 */
#ifndef DM_CORE_TIMEUTIL_H
#define DM_CORE_TIMEUTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/error.h"

#define DM_ISO_LEN 32

/* Milliseconds since the Unix epoch (wall clock). */
int64_t dm_now_ms(void);
/* Milliseconds from an arbitrary origin, never going backwards. */
int64_t dm_mono_ms(void);
/* The same clock in microseconds (request durations, benchmark latencies). */
int64_t dm_mono_us(void);
/* Format ms since epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out[DM_ISO_LEN]. */
void dm_time_format(int64_t ms, char out[DM_ISO_LEN]);
/* Parse ISO-8601 with a Z or ±HH:MM offset (fraction optional) into ms since epoch. */
enum dm_err dm_time_parse(const char *s, int64_t *ms) DM_MUST_CHECK;
/* The time ms milliseconds from now on clock (CLOCK_MONOTONIC or CLOCK_REALTIME), as the
 * absolute deadline pthread_cond_timedwait takes (for a condition variable on that clock). */
struct timespec dm_deadline_after(clockid_t clock, int64_t ms);
/* Initialise cv (default attributes otherwise) to time its waits on CLOCK_MONOTONIC, for
 * deadlines from dm_deadline_after(CLOCK_MONOTONIC, ...): a wall-clock step changes no wait. */
void dm_cond_init_monotonic(pthread_cond_t *cv);
/* Sleep for ms milliseconds (restarts after signals unless *stop becomes non-zero). */
void dm_sleep_ms(int64_t ms, volatile int *stop);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (any year, no time zone). */
int64_t dm_days_from_civil(int64_t y, int m, int d);
void dm_civil_from_days(int64_t days, int *y, int *m, int *d);

#endif
