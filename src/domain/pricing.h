/*
 * pricing.h - markup rules and exact retail pricing (pipeline.md §4). Money is an int64 count
 * of cents, carats an int64 count of hundredths, markup an int64 count of 1/10000 (numeric(6,4)).
 * Rules are tried by priority ascending, ties by id; the first rule whose non-null criteria all
 * hold wins; no match -> markup 1.15, rating null, no rule id.
 *   retail_price    = round_half_up(feed_price x markup, 2)
 *   price_per_carat = round_half_up(feed_price / carats, 2)
 * computed in integer arithmetic (no binary floating point). "Half up" rounds halves away from
 * zero, like PostgreSQL's round(numeric). Pure: no I/O.
 *
 * Every column of pricing_rules is one row of dm_pricing_fields (pricing.c): its name (column
 * and JSON member), SQL type, how it is held in struct dm_pricing_rule and, for a criterion, the
 * stone value it is compared with and how. The match below, the consolidator's loader
 * (services/consolidator/rules.c), the reprice statement's WHERE (services/consolidator/
 * reprice.c) and the API's validation and JSON (services/api/pricing.c) all read the rows, so a
 * new criterion of an existing kind is one row here, its member in struct dm_pricing_rule, and
 * its column in a migration (it.test_pricing_fields fails until row and column agree). A
 * criterion on a stone value not yet in struct dm_pricing_input also needs that member, set by
 * dm_mapping_price (domain/mapping.c).
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

/* How a field's value is held (in struct dm_pricing_rule, in SQL, in JSON). */
enum dm_pricing_type {
    DM_PRT_UUID,  /* char[DM_UUID_LEN]; set by the database */
    DM_PRT_TIME,  /* timestamptz; set by the database, not held by the rule */
    DM_PRT_TEXT,  /* char * (owned), NULL = SQL NULL */
    DM_PRT_INT,   /* int; a nullable one holds SQL NULL as 0 */
    DM_PRT_FIXED, /* int64_t count of 10^-scale units, with a bool "has" flag when nullable */
    DM_PRT_SET,   /* char ** (owned) + int count; SQL text[] of upper-case names, never NULL */
    DM_PRT_BOOL,  /* a nullable boolean held as int: -1 SQL NULL, 0 false, 1 true; a NOT NULL
                   * one (active) is not held by the rule */
};
/* How a criterion compares the stone's value with the rule's. A NULL (or empty SET) rule
 * value means "any". */
enum dm_pricing_match {
    DM_PRM_NONE, /* not a criterion */
    DM_PRM_MIN,  /* FIXED: stone >= rule (int64_t stone value, same scale) */
    DM_PRM_MAX,  /* FIXED: stone <= rule */
    DM_PRM_IN,   /* SET: stone (const char *) is one of the names, case-insensitively */
    DM_PRM_EQ,   /* BOOL: stone (bool) equals the rule; TEXT: stone (const char *) equals it */
};
#define DM_PRICING_NONE (-1)     /* an offset the field does not have */
#define DM_PRICING_MAX_FIELDS 32 /* rows dm_pricing_fields may have (checked when compiled) */
struct dm_pricing_field {
    const char *name;     /* pricing_rules column, JSON member (camelCase accepted in bodies) */
    const char *sql_type; /* the column's type as PostgreSQL's format_type() prints it */
    enum dm_pricing_type type;
    enum dm_pricing_match match;
    bool nullable;     /* the column takes NULL (for a SET: JSON null means the empty set) */
    bool required;     /* NOT NULL without a default: a new rule must give it */
    bool server;       /* set by the database only (id, timestamps): never written by a client */
    int rule;          /* offsetof the value in struct dm_pricing_rule, or DM_PRICING_NONE */
    int flag;          /* FIXED: offsetof its bool "has" flag (DM_PRICING_NONE: NOT NULL);
                        * SET: offsetof its int count */
    int scale;         /* FIXED: decimals of the numeric column (10^-scale units) */
    const char *stone; /* criterion: the diamonds column compared */
    int input;         /* criterion: offsetof the stone's value in struct dm_pricing_input */
    /* API validation of a client's value: INT and FIXED within [lo, hi] (open: (lo, hi)),
     * else range_msg; TEXT at most max characters; SET at most max names, each accepted by
     * known, an unknown one reported as "unknown <item>". */
    double lo, hi;
    bool open;
    const char *range_msg;
    size_t max;
    bool (*known)(const char *name);
    const char *item;
};
extern const struct dm_pricing_field dm_pricing_fields[];
extern const size_t dm_pricing_nfields;
/* The field called name, or NULL. */
const struct dm_pricing_field *dm_pricing_field_find(const char *name);

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
