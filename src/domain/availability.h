/*
 * availability.h - normalisation of the supplier's free-text availability (feed.md §2) into the
 * catalogue's four states. Case-insensitive: contains "unavailable" or "not available" ->
 * unavailable; else contains "available" -> available; "hold" -> on_hold; "sold" -> sold;
 * anything else (including NULL) -> unavailable. Pure: no I/O.
 */
#ifndef DM_DOMAIN_AVAILABILITY_H
#define DM_DOMAIN_AVAILABILITY_H

enum dm_availability {
    DM_AVAIL_AVAILABLE,
    DM_AVAIL_ON_HOLD,
    DM_AVAIL_SOLD,
    DM_AVAIL_UNAVAILABLE,
};

/* Normalise a raw availability string (NULL allowed). */
enum dm_availability dm_availability_normalise(const char *raw);
/* The database spelling: "available", "on_hold", "sold", "unavailable". Never NULL. */
const char *dm_availability_name(enum dm_availability a);

#endif
