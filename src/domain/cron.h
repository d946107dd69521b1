/*
 * cron.h - standard five-field cron expressions (minute hour day-of-month month day-of-week),
 * evaluated in UTC. Fields accept `*`, numbers, ranges `a-b`, steps `*\/n` and `a-b/n`, lists
 * `a,b,c`, month names JAN-DEC and day names SUN-SAT (0 and 7 are Sunday). As in Vixie cron,
 * when both day-of-month and day-of-week are restricted a day matches if either does.
 * Pure: no I/O, no clock (callers pass "now").
 */
#ifndef DM_DOMAIN_CRON_H
#define DM_DOMAIN_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

struct dm_cron {
    uint64_t minutes; /* bit i = minute i (0-59) */
    uint32_t hours;   /* 0-23 */
    uint32_t mdays;   /* 1-31 */
    uint16_t months;  /* 1-12 */
    uint8_t wdays;    /* 0-6, Sunday = 0 */
    bool mday_star, wday_star;
};

/* Parse; DM_ERR_INVALID with a message naming the bad field. */
enum dm_err dm_cron_parse(const char *expr, struct dm_cron *out,
                          struct dm_error *err) DM_MUST_CHECK;
/* True when the minute containing t_ms (UTC) matches. */
bool dm_cron_matches(const struct dm_cron *c, int64_t t_ms);
/* The first matching minute strictly after after_ms (ms since epoch, UTC), in *next_ms.
 * DM_ERR_NOT_FOUND when none within 5 years (e.g. "0 0 30 2 *"). */
enum dm_err dm_cron_next(const struct dm_cron *c, int64_t after_ms, int64_t *next_ms) DM_MUST_CHECK;

#endif
