/* pricing.c - rule matching and exact cent arithmetic for retail prices. */
#include "domain/pricing.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static bool rule_matches(const struct dm_pricing_rule *r, const struct dm_pricing_input *in)
{
    if (r->has_carat_min && in->carats_c2 < r->carat_min_c2)
        return false;
    if (r->has_carat_max && in->carats_c2 > r->carat_max_c2)
        return false;
    if (r->nshapes > 0) {
        bool found = false;
        for (int i = 0; i < r->nshapes && !found; i++)
            found = in->shape != NULL && strcasecmp(r->shapes[i], in->shape) == 0;
        if (!found)
            return false;
    }
    if (r->lab_grown >= 0 && (r->lab_grown != 0) != in->lab_grown)
        return false;
    if (r->feed != NULL && (in->feed == NULL || strcmp(r->feed, in->feed) != 0))
        return false;
    if (r->has_price_min && in->feed_price_cents < r->price_min_cents)
        return false;
    if (r->has_price_max && in->feed_price_cents > r->price_max_cents)
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

enum dm_err dm_pricing_retail(int64_t cents, int64_t markup_e4, int64_t *out)
{
    __int128 prod = (__int128)cents * markup_e4;
    __int128 a = prod < 0 ? -prod : prod;
    if (a / DM_MARKUP_SCALE > DM_MONEY_MAX_CENTS)
        return DM_ERR_INVALID;
    int64_t v = dm_div_round_half_up(prod, DM_MARKUP_SCALE);
    if (!money_ok(v))
        return DM_ERR_INVALID;
    *out = v;
    return DM_OK;
}

enum dm_err dm_pricing_per_carat(int64_t cents, int64_t carats_c2, int64_t *out)
{
    if (carats_c2 <= 0)
        return DM_ERR_INVALID;
    /* (cents / 100) / (c2 / 100) dollars = cents / c2 dollars = cents x 100 / c2 cents. */
    __int128 num = (__int128)cents * 100;
    __int128 a = num < 0 ? -num : num;
    if (a / carats_c2 > DM_MONEY_MAX_CENTS)
        return DM_ERR_INVALID;
    int64_t v = dm_div_round_half_up(num, carats_c2);
    if (!money_ok(v))
        return DM_ERR_INVALID;
    *out = v;
    return DM_OK;
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
        for (int j = 0; j < rules[i].nshapes; j++)
            free(rules[i].shapes[j]);
        free(rules[i].shapes);
        free(rules[i].feed);
    }
    free(rules);
}
