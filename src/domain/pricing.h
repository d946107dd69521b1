/*
 * pricing.h - markup rules and exact retail pricing (pipeline.md §4). Money is an int64 count
 * of cents, carats an int64 count of hundredths, markup an int64 count of 1/10000 (numeric(6,4)).
 * Rules are tried by priority ascending, ties by id; the first rule whose non-null criteria all
 * hold wins; no match -> markup 1.15, rating null, no rule id.
 *   retail_price    = round_half_up(feed_price x markup, 2)
 *   price_per_carat = round_half_up(feed_price / carats, 2)
 * computed in integer arithmetic (no binary floating point). "Half up" rounds halves away from
 * zero, like PostgreSQL's round(numeric). Pure: no I/O. The reprice SQL in
 * services/consolidator/reprice.c mirrors these rules exactly.
 */
#ifndef DM_DOMAIN_PRICING_H
#define DM_DOMAIN_PRICING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/error.h"

#define DM_MARKUP_SCALE 10000             /* markup_ratio numeric(6,4) */
#define DM_DEFAULT_MARKUP_E4 11500        /* 1.15 */
#define DM_MONEY_MAX_CENTS 999999999999LL /* numeric(12,2): 9,999,999,999.99 */
#define DM_CARATS_MAX_C2 999999LL         /* numeric(6,2): 9999.99 */

struct dm_pricing_rule {
    char id[DM_UUID_LEN];
    int priority;
    bool has_carat_min, has_carat_max;
    int64_t carat_min_c2, carat_max_c2;
    char **shapes; /* owned; empty = any shape (compared case-insensitively) */
    int nshapes;
    int lab_grown; /* -1 = any, 0 = natural only, 1 = lab-grown only */
    char *feed;    /* owned; NULL = any feed */
    bool has_price_min, has_price_max;
    int64_t price_min_cents, price_max_cents; /* on feed_price */
    int64_t markup_e4;
    int rating; /* 1..10, 0 = null */
};

struct dm_pricing_input {
    const char *shape;
    int64_t carats_c2;
    bool lab_grown;
    const char *feed;
    int64_t feed_price_cents;
};

struct dm_pricing_result {
    int64_t markup_e4;
    int rating;          /* 0 = null */
    const char *rule_id; /* points into the matched rule; NULL for the default */
    int64_t retail_price_cents;
    int64_t price_per_carat_cents;
};

/* Order rules by priority ascending, then id. */
void dm_pricing_sort(struct dm_pricing_rule *rules, size_t n);
/* Index of the first matching rule of a sorted array, or -1. */
int dm_pricing_match(const struct dm_pricing_rule *rules, size_t n,
                     const struct dm_pricing_input *in);
/* Match and compute. DM_ERR_INVALID when carats <= 0 or a result exceeds numeric(12,2). */
enum dm_err dm_pricing_apply(const struct dm_pricing_rule *rules, size_t n,
                             const struct dm_pricing_input *in, struct dm_pricing_result *out,
                             struct dm_error *err) DM_MUST_CHECK;

/* round_half_up(cents x markup_e4 / 10^4) in cents. DM_ERR_INVALID on overflow. */
enum dm_err dm_pricing_retail(int64_t cents, int64_t markup_e4, int64_t *out) DM_MUST_CHECK;
/* round_half_up(cents / (carats_c2 / 100)) in cents; DM_ERR_INVALID when carats_c2 <= 0. */
enum dm_err dm_pricing_per_carat(int64_t cents, int64_t carats_c2, int64_t *out) DM_MUST_CHECK;
/* num / den rounded half away from zero; den > 0. */
int64_t dm_div_round_half_up(__int128 num, int64_t den);

/* Release the owned members of n rules and the array itself. NULL is a no-op. */
void dm_pricing_rules_free(struct dm_pricing_rule *rules, size_t n);

#endif
