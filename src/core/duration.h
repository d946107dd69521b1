/*
 * duration.h - the short human form of a duration: "4.2s", "3m07s", "2h05m", "1d03h" (the
 * operator commands' tables: `diamond status`, `diamond queue stats`). Pure; no I/O.
 */
#ifndef DM_CORE_DURATION_H
#define DM_CORE_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Format ms into out (size bytes, always terminated; 16 fit every value): tenths of a second
 * below a minute, then minutes and seconds, hours and minutes, days and hours, each truncated,
 * the second unit on two digits. A negative duration prints as "0.0s". */
void dm_duration_format(int64_t ms, char *out, size_t size);

#endif
