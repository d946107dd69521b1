/* pricing.c - the pricing-rule fields, rule matching and exact cent arithmetic for retail
 * prices. */
#include "domain/pricing.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "domain/shapes.h"

#define ROFF(f) (int)offsetof(struct dm_pricing_rule, f)
#define IOFF(f) (int)offsetof(struct dm_pricing_input, f)
#define NONE DM_PRICING_NONE
/* A row's column: its name, its SQL type and the kind of value it holds. */
#define COL(n, sqlt, ty) .name = (n), .sql_type = (sqlt), .type = (ty)
/* A column no criterion reads: loaded into the rule at offset r, or not loaded (NONE). */
#define NOT_MATCHED(r) .rule = (r), .flag = NONE, .input = NONE
/* A nullable bound (m: DM_PRM_MIN or DM_PRM_MAX) on a stone's value of 2 decimals: the rule's
 * value r and its "has" flag, the diamonds column stn and the input's value in. */
#define BOUND(m, r, has, stn, in)                                                                  \
    .match = (m), .nullable = true, .rule = ROFF(r), .flag = ROFF(has), .scale = 2,                \
    .stone = (stn), .input = IOFF(in), .lo = 0, .hi = 1e12, .range_msg = "must not be negative"

/* Every column of pricing_rules, once, in the order the API shows them: the match below, the
 * consolidator's loader, the reprice statement and the API read this table (pricing.h). A new
 * criterion of an existing kind is one row here and its column in a migration. */
const struct dm_pricing_field dm_pricing_fields[] = {
    {COL("id", "uuid", DM_PRT_UUID), .server = true, NOT_MATCHED(ROFF(id))},
    {COL("name", "text", DM_PRT_TEXT), .nullable = true, NOT_MATCHED(NONE), .max = 200},
    {COL("priority", "integer", DM_PRT_INT), .required = true, NOT_MATCHED(ROFF(priority)),
     .lo = -1e9, .hi = 1e9, .range_msg = "is out of range"},
    {COL("carat_min", "numeric(6,2)", DM_PRT_FIXED),
     BOUND(DM_PRM_MIN, carat_min_c2, has_carat_min, "carats", carats_c2)},
    {COL("carat_max", "numeric(6,2)", DM_PRT_FIXED),
     BOUND(DM_PRM_MAX, carat_max_c2, has_carat_max, "carats", carats_c2)},
    {COL("shapes", "text[]", DM_PRT_SET), .match = DM_PRM_IN, .rule = ROFF(shapes),
     .flag = ROFF(nshapes), .stone = "shape", .input = IOFF(shape), .max = DM_SHAPE_COUNT,
     .known = dm_shape_known, .item = "shape"},
    {COL("lab_grown", "boolean", DM_PRT_BOOL), .match = DM_PRM_EQ, .nullable = true,
     .rule = ROFF(lab_grown), .flag = NONE, .stone = "lab_grown", .input = IOFF(lab_grown)},
    {COL("feed", "text", DM_PRT_TEXT), .match = DM_PRM_EQ, .nullable = true, .rule = ROFF(feed),
     .flag = NONE, .stone = "feed", .input = IOFF(feed), .max = 200},
    {COL("price_min", "numeric(12,2)", DM_PRT_FIXED),
     BOUND(DM_PRM_MIN, price_min_cents, has_price_min, "feed_price", feed_price_cents)},
    {COL("price_max", "numeric(12,2)", DM_PRT_FIXED),
     BOUND(DM_PRM_MAX, price_max_cents, has_price_max, "feed_price", feed_price_cents)},
    {COL("markup_ratio", "numeric(6,4)", DM_PRT_FIXED), .required = true,
     NOT_MATCHED(ROFF(markup_e4)), .scale = 4, .lo = 0, .hi = 100, .open = true,
     .range_msg = "must be greater than 0 (and below 100)"},
    {COL("rating", "smallint", DM_PRT_INT), .nullable = true, NOT_MATCHED(ROFF(rating)), .lo = 1,
     .hi = 10, .range_msg = "must be between 1 and 10"},
    {COL("active", "boolean", DM_PRT_BOOL), NOT_MATCHED(NONE)},
    {COL("created_at", "timestamp with time zone", DM_PRT_TIME), .server = true, NOT_MATCHED(NONE)},
    {COL("updated_at", "timestamp with time zone", DM_PRT_TIME), .server = true, NOT_MATCHED(NONE)},
};
#define NFIELDS (sizeof(dm_pricing_fields) / sizeof(dm_pricing_fields[0]))
_Static_assert(NFIELDS <= DM_PRICING_MAX_FIELDS, "raise DM_PRICING_MAX_FIELDS");
const size_t dm_pricing_nfields = NFIELDS;

const struct dm_pricing_field *dm_pricing_field_find(const char *name)
{
    for (size_t i = 0; i < dm_pricing_nfields; i++)
        if (!strcmp(dm_pricing_fields[i].name, name))
            return &dm_pricing_fields[i];
    return NULL;
}

static int rule_cmp(const void *a, const void *b)
{
    const struct dm_pricing_rule *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return strcmp(x->id, y->id);
}

void dm_pricing_sort(struct dm_pricing_rule *rules, size_t n)
{
    if (n > 1)
        qsort(rules, n, sizeof(*rules), rule_cmp);
}

/* One criterion of rule r against the stone in: true when it holds (or is "any"). */
static bool criterion_holds(const struct dm_pricing_field *f, const struct dm_pricing_rule *r,
                            const struct dm_pricing_input *in)
{
    const char *rv = (const char *)r + f->rule, *iv = (const char *)in + f->input;
    switch (f->match) {
    case DM_PRM_MIN:
    case DM_PRM_MAX: {
        if (f->flag != NONE && !*(const bool *)((const char *)r + f->flag))
            return true;
        int64_t stone = *(const int64_t *)iv, bound = *(const int64_t *)rv;
        return f->match == DM_PRM_MIN ? stone >= bound : stone <= bound;
    }
    case DM_PRM_IN: {
        int n = *(const int *)((const char *)r + f->flag);
        char *const *names = *(char *const *const *)rv;
        const char *stone = *(const char *const *)iv;
        if (n == 0)
            return true;
        for (int i = 0; i < n; i++)
            if (stone != NULL && strcasecmp(names[i], stone) == 0)
                return true;
        return false;
    }
    case DM_PRM_EQ:
        if (f->type == DM_PRT_BOOL) {
            int want = *(const int *)rv;
            return want < 0 || (want != 0) == *(const bool *)iv;
        } else {
            const char *want = *(const char *const *)rv, *stone = *(const char *const *)iv;
            return want == NULL || (stone != NULL && strcmp(want, stone) == 0);
        }
    case DM_PRM_NONE:
        break;
    }
    return true;
}

static bool rule_matches(const struct dm_pricing_rule *r, const struct dm_pricing_input *in)
{
    /* Unrolled, each row's constants fold into its check: as fast as the checks written out
     * by hand (the consolidator matches every stone against the rules). */
#pragma GCC unroll 32
    for (size_t i = 0; i < NFIELDS; i++)
        if (dm_pricing_fields[i].match != DM_PRM_NONE &&
            !criterion_holds(&dm_pricing_fields[i], r, in))
            return false;
    return true;
}

int dm_pricing_match(const struct dm_pricing_rule *rules, size_t n,
                     const struct dm_pricing_input *in)
{
    for (size_t i = 0; i < n; i++)
        if (rule_matches(&rules[i], in))
            return (int)i;
    return -1;
}

int64_t dm_div_round_half_up(__int128 num, int64_t den)
{
    bool neg = num < 0;
    __int128 a = neg ? -num : num;
    __int128 q = (a * 2 + den) / ((__int128)den * 2);
    return (int64_t)(neg ? -q : q);
}

static bool money_ok(__int128 v)
{
    return v <= DM_MONEY_MAX_CENTS && v >= -DM_MONEY_MAX_CENTS;
}

/* num / den (den > 0) rounded half up into *out when it is a money amount, else
 * DM_ERR_INVALID. */
static enum dm_err money_div(__int128 num, int64_t den, int64_t *out)
{
    __int128 a = num < 0 ? -num : num;
    if (a / den > DM_MONEY_MAX_CENTS)
        return DM_ERR_INVALID;
    int64_t v = dm_div_round_half_up(num, den);
    if (!money_ok(v))
        return DM_ERR_INVALID;
    *out = v;
    return DM_OK;
}

enum dm_err dm_pricing_retail(int64_t cents, int64_t markup_e4, int64_t *out)
{
    return money_div((__int128)cents * markup_e4, DM_MARKUP_SCALE, out);
}

enum dm_err dm_pricing_per_carat(int64_t cents, int64_t carats_c2, int64_t *out)
{
    if (carats_c2 <= 0)
        return DM_ERR_INVALID;
    /* (cents / 100) / (c2 / 100) dollars = cents / c2 dollars = cents x 100 / c2 cents. */
    return money_div((__int128)cents * 100, carats_c2, out);
}

enum dm_err dm_pricing_apply(const struct dm_pricing_rule *rules, size_t n,
                             const struct dm_pricing_input *in, struct dm_pricing_result *out,
                             struct dm_error *err)
{
    if (in->carats_c2 <= 0)
        return dm_error_set(err, DM_ERR_INVALID, "carats must be > 0 to price a stone");
    int idx = dm_pricing_match(rules, n, in);
    memset(out, 0, sizeof(*out));
    if (idx >= 0) {
        out->markup_e4 = rules[idx].markup_e4;
        out->rating = rules[idx].rating;
        out->rule_id = rules[idx].id;
    } else {
        out->markup_e4 = DM_DEFAULT_MARKUP_E4;
    }
    if (dm_pricing_retail(in->feed_price_cents, out->markup_e4, &out->retail_price_cents) != DM_OK)
        return dm_error_set(err, DM_ERR_INVALID, "retail price out of range");
    if (dm_pricing_per_carat(in->feed_price_cents, in->carats_c2, &out->price_per_carat_cents) !=
        DM_OK)
        return dm_error_set(err, DM_ERR_INVALID, "price per carat out of range");
    return DM_OK;
}

void dm_pricing_rules_free(struct dm_pricing_rule *rules, size_t n)
{
    if (rules == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        char *base = (char *)&rules[i];
        for (size_t k = 0; k < dm_pricing_nfields; k++) {
            const struct dm_pricing_field *f = &dm_pricing_fields[k];
            if (f->rule == NONE)
                continue;
            if (f->type == DM_PRT_SET) {
                char **names = *(char ***)(base + f->rule);
                int count = *(int *)(base + f->flag);
                for (int j = 0; j < count; j++)
                    free(names[j]);
                free(names);
            } else if (f->type == DM_PRT_TEXT) {
                free(*(char **)(base + f->rule));
            }
        }
    }
    free(rules);
}
