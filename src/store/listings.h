/*
 * listings.h - the owner of the listing columns of diamonds (migration 009: identity_key,
 * listing_key, listing_id, chosen, clash_fields): one listing per physical stone (issue 18).
 * The rules are domain/offer.h's; this module applies them to the catalogue:
 *
 *  - clashes: for the certificate identities it is given, the active offers sharing one are read
 *    and dm_offer_resolve_clashes decides (in C) which keep the certificate's listing key and
 *    which are split off to their feed identity (clash_fields names why);
 *  - the chosen offer: for the listing keys touched, two set-based statements (whatever the
 *    number of keys) recompute `chosen` in dm_offer_compare's order for the policy
 *    (dm_listings_order_sql: the same order in SQL; it.test_listings_order compares them on
 * generated offers). First the offers that must stop being chosen, then the new ones: the partial
 *    unique index (listing_key) WHERE chosen is checked row by row, so one statement doing
 *    both could see two chosen offers of one key in passing.
 *
 * Every function runs inside the caller's transaction on the caller's connection (so a batch,
 * a removal, a hold or a purchase and its listings commit together), except
 * dm_listings_backfill, which takes its own. Concurrency: the consolidator's refreshing batches,
 * its removal pass, the backfill and reprice take dm_listings_lock first, so their choices are
 * serialised; a new stone chosen in a COPY without the lock, or a trade, that meets another
 * chosen offer of its key fails with a unique violation (SQLSTATE 23505) or a deadlock (40P01)
 * and is retried by its caller: never two chosen offers.
 *
 * Thread-safety: reentrant (no state).
 */
#ifndef DM_STORE_LISTINGS_H
#define DM_STORE_LISTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/db/db.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "domain/offer.h"

#define DM_LISTING_MAX_FEEDS 32

/* OFFER_POLICY and the feeds' priorities (FEED_<ID>_PRIORITY; an unlisted feed has 0). */
struct dm_listing_policy {
    enum dm_offer_policy policy;
    size_t n;
    char feed[DM_LISTING_MAX_FEEDS][DM_OFFER_FEED_MAX];
    int priority[DM_LISTING_MAX_FEEDS];
};

/* The policy configuration asks for. Until the per-feed configuration exists this is
 * lowest_retail with every priority 0; it is the one place that reads it. */
void dm_listing_policy_from_config(const struct dm_config *cfg, struct dm_listing_policy *out);
/* A feed's priority under p (0 when unlisted). */
int dm_listing_priority(const struct dm_listing_policy *p, const char *feed);

/* The ORDER BY list (table alias d) that ranks a key's offers best first under p, with the
 * priorities as parameters $2 (text[] of feeds) and $3 (int[] of priorities). Static text. */
const char *dm_listings_order_sql(enum dm_offer_policy p);
/* p's feeds and priorities as the two array literals $2 and $3 take (appended to feeds, prios). */
enum dm_err dm_listings_policy_params(const struct dm_listing_policy *p, struct dm_buf *feeds,
                                      struct dm_buf *prios) DM_MUST_CHECK;

/* What a refresh did. */
struct dm_listing_counts {
    int64_t split;   /* offers newly split off a clash */
    int64_t merged;  /* offers given back their certificate identity */
    int64_t changed; /* offers whose chosen flag changed */
    /* Optional (NULL: not wanted): the ids of the offers the refresh rewrote (moved to another
     * key, chosen or not chosen any more), appended as elements of a uuid[] literal the caller
     * opens and closes (dm_pgarray_add); a reprice repasses them (their row moved). */
    struct dm_buf *written;
};

/* Refresh the listings of identity_keys and listing_keys (text[] array literals; either may be
 * NULL or "{}"): resolve the clashes of the certificate identities among identity_keys, then
 * recompute `chosen` for listing_keys, the keys those identities' offers are listed under, and
 * every key a split or merge moved an offer from or to. In the caller's transaction. counts may
 * be NULL. */
enum dm_err dm_listings_refresh(struct dm_db_conn *c, const struct dm_listing_policy *p,
                                const char *identity_keys, const char *listing_keys,
                                struct dm_listing_counts *counts,
                                struct dm_error *err) DM_MUST_CHECK;

/* dm_listings_refresh for the listings of diamond ids (uuid[] array literal): a hold, a
 * purchase, a release or a reprice changed their availability or price. */
enum dm_err dm_listings_refresh_ids(struct dm_db_conn *c, const struct dm_listing_policy *p,
                                    const char *ids, struct dm_error *err) DM_MUST_CHECK;

/* Take the listings lock (a transaction-level advisory lock, held until the caller's
 * transaction ends): refreshes that hold it never run at once, so they cannot choose for one
 * key from two snapshots. Take it before the transaction changes a committed diamonds row (a
 * transaction that waits for it then holds no row another holder may need: no deadlock); rows
 * it inserted before are invisible to the holder (a consolidator batch copies its new stones
 * first). */
enum dm_err dm_listings_lock(struct dm_db_conn *c, struct dm_error *err) DM_MUST_CHECK;

/* The listings lock in shared mode: taken by a consolidation batch whose changed offers are
 * all the only offer of their listing (no choice to make). Such batches run at once; a
 * refresh (exclusive mode) waits for them, and they for it. Before the batch relies on "only
 * offer", it checks again under this lock (dm_listings_keys_shared): an offer another feed
 * added since its claim was committed by a refresh that held the lock exclusively. */
enum dm_err dm_listings_lock_shared(struct dm_db_conn *c, struct dm_error *err) DM_MUST_CHECK;

/* Of the keys in keys (text[] literal), those with more than one offer listed under them, as a
 * result of one row and one text[] literal column (the caller frees it). */
enum dm_err dm_listings_keys_shared(struct dm_db_conn *c, const char *keys, PGresult **out,
                                    struct dm_error *err) DM_MUST_CHECK;

/* Of the keys in keys (text[] literal), those that have an active offer listed under them, as
 * a result with one text column (the caller frees it). */
enum dm_err dm_listings_keys_in_use(struct dm_db_conn *c, const char *keys, PGresult **out,
                                    struct dm_error *err) DM_MUST_CHECK;

/* Compute the identity of every row whose identity_key is NULL (rows from before migration 009,
 * rows inserted by hand), in chunks of `chunk` rows, each chunk one transaction: identity,
 * listing key and id written, then refreshed as above. *done counts the rows given an identity
 * (may be NULL). */
enum dm_err dm_listings_backfill(struct dm_db *db, const struct dm_listing_policy *p, int chunk,
                                 int64_t *done, struct dm_error *err) DM_MUST_CHECK;

#endif
