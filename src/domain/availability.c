/* availability.c - supplier availability text to the four catalogue states. */
#include "domain/availability.h"

#include <stddef.h>
#include <string.h>

/* Case-insensitive substring search over ASCII (the feed's availability words are ASCII). */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i]) {
            char a = p[i], b = needle[i];
            if (a >= 'A' && a <= 'Z')
                a = (char)(a - 'A' + 'a');
            if (a != b)
                break;
            i++;
        }
        if (i == n)
            return 1;
    }
    return 0;
}

enum dm_availability dm_availability_normalise(const char *raw)
{
    if (raw == NULL)
        return DM_AVAIL_UNAVAILABLE;
    /* Order matters: "unavailable" contains "available". */
    if (contains_ci(raw, "unavailable") || contains_ci(raw, "not available"))
        return DM_AVAIL_UNAVAILABLE;
    if (contains_ci(raw, "available"))
        return DM_AVAIL_AVAILABLE;
    if (contains_ci(raw, "hold"))
        return DM_AVAIL_ON_HOLD;
    if (contains_ci(raw, "sold"))
        return DM_AVAIL_SOLD;
    return DM_AVAIL_UNAVAILABLE;
}

const char *dm_availability_name(enum dm_availability a)
{
    switch (a) {
    case DM_AVAIL_AVAILABLE:
        return "available";
    case DM_AVAIL_ON_HOLD:
        return "on_hold";
    case DM_AVAIL_SOLD:
        return "sold";
    case DM_AVAIL_UNAVAILABLE:
        break;
    }
    return "unavailable";
}
