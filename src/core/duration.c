/* duration.c - short human durations (see duration.h). */
#include "core/duration.h"

#include <inttypes.h>
#include <stdio.h>

void dm_duration_format(int64_t ms, char *out, size_t size)
{
    if (ms < 0)
        ms = 0;
    int64_t s = ms / 1000;
    if (s < 60)
        snprintf(out, size, "%" PRId64 ".%" PRId64 "s", s, (ms % 1000) / 100);
    else if (s < 3600)
        snprintf(out, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
    else
        snprintf(out, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s % 86400) / 3600);
}
