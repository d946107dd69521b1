/*
 * reprice.h - re-apply the active pricing rules to every active diamond in place, without
 * re-ingesting (pipeline.md §4: "Changing rules reprices existing diamonds"). One set-based
 * statement that mirrors domain/pricing.h exactly: rules by priority then id, first rule whose
 * non-null criteria all hold, default markup 1.15 with rating null, retail_price =
 * round(feed_price x markup, 2) (PostgreSQL numeric: exact, half away from zero). Only rows
 * whose markup, rating, rule or retail price differ are written. The catalogue is processed in
 * slices of the id space, each its own transaction, two connections at once (a concurrent
 * reader sees each slice switch atomically; a failure leaves earlier slices repriced, and a
 * second run finishes the job since it is idempotent).
 * Used by `diamond reprice` and POST /api/v2/pricing-rules/reprice. Thread-safe (uses the pool).
 */
#ifndef DM_SERVICES_CONSOLIDATOR_REPRICE_H
#define DM_SERVICES_CONSOLIDATOR_REPRICE_H

#include <stdint.h>

#include "adapters/db/db.h"
#include "core/error.h"
#include "store/listings.h"

struct dm_reprice_result {
    int64_t examined;       /* active diamonds considered */
    int64_t updated;        /* rows rewritten (markup, rating, rule or price changed) */
    int64_t prices_changed; /* rows whose retail_price changed */
    int64_t duration_ms;
};

/* Reprice every active diamond by the active rules; the listings whose offers change are chosen
 * again by policy (OFFER_POLICY and feed priorities; NULL = the default policy). */
enum dm_err dm_reprice_all(struct dm_db *db, const struct dm_listing_policy *policy,
                           struct dm_reprice_result *out, struct dm_error *err) DM_MUST_CHECK;

#endif
