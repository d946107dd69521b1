/* test_pricing.c - rule matching and exact half-up cent arithmetic, table-driven. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "domain/pricing.h"

/* One case of a money operation op(cents, x, &out): the result wanted (when e is DM_OK). */
struct money_case {
    int64_t cents, x, want;
    enum dm_err e;
};

/* Fails the test on the first case where op does not give e (and want). */
static void check_money(const char *what, enum dm_err (*op)(int64_t, int64_t, int64_t *),
                        const struct money_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t got = 0;
        enum dm_err e = op(cases[i].cents, cases[i].x, &got);
        if (e != cases[i].e || (e == DM_OK && got != cases[i].want))
            fail_msg("%s case %zu: %lld, %lld: got %lld (e=%d), want %lld (e=%d)", what, i,
                     (long long)cases[i].cents, (long long)cases[i].x, (long long)got, e,
                     (long long)cases[i].want, cases[i].e);
    }
}

static void test_retail_rounding(void **state)
{
    /* cents, markup x 10^4, retail cents */
    static const struct money_case cases[] = {
        {100000, 11500, 115000, DM_OK}, /* $1000 x 1.15 */
        {1, 15000, 2, DM_OK},           /* 0.015 -> 0.02 (half up) */
        {1, 14999, 1, DM_OK},           /* 0.014999 -> 0.01 */
        {3, 11500, 3, DM_OK},           /* 0.0345 -> 0.03 */
        {10, 10050, 10, DM_OK},         /* 0.1005 -> 0.10 */
        {100, 10050, 101, DM_OK},       /* 1.005 -> 1.01: binary float says 1.00 */
        {33, 11500, 38, DM_OK},         /* 0.3795 -> 0.38 */
        {1, 5000, 1, DM_OK},            /* 0.005 -> 0.01 */
        {1, 4999, 0, DM_OK},            /* 0.004999 -> 0.00 */
        {0, 11500, 0, DM_OK},
        {-1, 5000, -1, DM_OK}, /* half away from zero, like round(numeric) */
        {869565217390LL, 11500, 999999999999LL, DM_OK}, /* .5 rounds up, just fits */
        {869565217391LL, 11500, 0, DM_ERR_INVALID},     /* rounds to 1e10 dollars: no fit */
        {INT64_MAX, 999999, 0, DM_ERR_INVALID},         /* no overflow, just an error */
    };
    check_money("retail", dm_pricing_retail, cases, sizeof(cases) / sizeof(cases[0]));
    (void)state;
}

static void test_per_carat(void **state)
{
    /* cents, carats x 100, cents per carat */
    static const struct money_case cases[] = {
        {100000, 100, 100000, DM_OK}, /* $1000 / 1.00ct */
        {100000, 300, 33333, DM_OK},  /* 333.333.. -> 333.33 */
        {200000, 300, 66667, DM_OK},  /* 666.666.. -> 666.67 */
        {1, 200, 1, DM_OK},           /* 0.005 -> 0.01 */
        {1, 201, 0, DM_OK},           /* 0.004975 -> 0.00 */
        {3, 200, 2, DM_OK},           /* 0.015 -> 0.02 */
        {0, 150, 0, DM_OK},
        {100000, 0, 0, DM_ERR_INVALID},   /* zero carats */
        {100000, -50, 0, DM_ERR_INVALID}, /* negative carats */
        {999999999999LL, 100, 999999999999LL, DM_OK},
        {999999999999LL, 1, 0, DM_ERR_INVALID}, /* $10^10 per 0.01 ct: out of range */
        {25000000, 1, 2500000000LL, DM_OK},     /* $250,000 at 0.01 ct */
    };
    check_money("per carat", dm_pricing_per_carat, cases, sizeof(cases) / sizeof(cases[0]));
    (void)state;
}

static void test_div_round(void **state)
{
    assert_int_equal(dm_div_round_half_up(5, 10), 1);
    assert_int_equal(dm_div_round_half_up(4, 10), 0);
    assert_int_equal(dm_div_round_half_up(-5, 10), -1);
    assert_int_equal(dm_div_round_half_up(-4, 10), 0);
    assert_int_equal(dm_div_round_half_up(15, 10), 2);
    assert_int_equal(dm_div_round_half_up(25, 10), 3);
}

static char **shapes(const char *a, const char *b, int *n)
{
    *n = (a != NULL) + (b != NULL);
    if (*n == 0)
        return NULL;
    char **s = dm_xcalloc((size_t)*n, sizeof(char *));
    s[0] = dm_xstrdup(a);
    if (b)
        s[1] = dm_xstrdup(b);
    return s;
}

/* Rules deliberately unsorted; ids decide ties. */
static struct dm_pricing_rule *make_rules(size_t *n)
{
    *n = 7;
    struct dm_pricing_rule *r = dm_xcalloc(*n, sizeof(*r));
    for (size_t i = 0; i < *n; i++)
        r[i].lab_grown = -1;
    /* default, lowest precedence */
    snprintf(r[0].id, sizeof(r[0].id), "00000000-0000-4000-8000-000000000009");
    r[0].priority = 1000;
    r[0].markup_e4 = 11500;
    r[0].rating = 5;
    /* lab-grown rounds 1-2 ct */
    snprintf(r[1].id, sizeof(r[1].id), "00000000-0000-4000-8000-000000000002");
    r[1].priority = 10;
    r[1].has_carat_min = r[1].has_carat_max = true;
    r[1].carat_min_c2 = 100;
    r[1].carat_max_c2 = 200;
    r[1].shapes = shapes("round", NULL, &r[1].nshapes);
    r[1].lab_grown = 1;
    r[1].markup_e4 = 13000;
    r[1].rating = 7;
    /* tie with rule 1 on priority but a larger id: loses the tie */
    snprintf(r[2].id, sizeof(r[2].id), "00000000-0000-4000-8000-000000000003");
    r[2].priority = 10;
    r[2].lab_grown = 1;
    r[2].markup_e4 = 12000;
    r[2].rating = 6;
    /* expensive naturals */
    snprintf(r[3].id, sizeof(r[3].id), "00000000-0000-4000-8000-000000000004");
    r[3].priority = 20;
    r[3].lab_grown = 0;
    r[3].has_price_min = true;
    r[3].price_min_cents = 1000000; /* $10,000 */
    r[3].markup_e4 = 11000;
    r[3].rating = 9;
    /* other feed only */
    snprintf(r[4].id, sizeof(r[4].id), "00000000-0000-4000-8000-000000000005");
    r[4].priority = 1;
    r[4].feed = dm_xstrdup("other");
    r[4].markup_e4 = 20000;
    /* cheap pears and ovals */
    snprintf(r[5].id, sizeof(r[5].id), "00000000-0000-4000-8000-000000000006");
    r[5].priority = 30;
    r[5].shapes = shapes("PEAR", "Oval", &r[5].nshapes);
    r[5].has_price_max = true;
    r[5].price_max_cents = 50000; /* $500 */
    r[5].markup_e4 = 14000;
    /* tiny stones, natural, feed nivoda */
    snprintf(r[6].id, sizeof(r[6].id), "00000000-0000-4000-8000-000000000007");
    r[6].priority = 40;
    r[6].has_carat_max = true;
    r[6].carat_max_c2 = 30;
    r[6].feed = dm_xstrdup("nivoda");
    r[6].markup_e4 = 15000;
    dm_pricing_sort(r, *n);
    return r;
}

static void test_rules(void **state)
{
    size_t n;
    struct dm_pricing_rule *rules = make_rules(&n);
    struct {
        const char *shape;
        int64_t c2;
        bool lab;
        int64_t cents;
        const char *want_id; /* last digit, or NULL for the built-in default */
        int64_t retail;
    } cases[] = {
        {"ROUND", 150, true, 100000, "2", 130000},    /* rule 2 wins the priority-10 tie */
        {"ROUND", 100, true, 100000, "2", 130000},    /* carat_min inclusive */
        {"ROUND", 200, true, 100000, "2", 130000},    /* carat_max inclusive */
        {"ROUND", 201, true, 100000, "3", 120000},    /* outside range -> next lab rule */
        {"OVAL", 150, true, 100000, "3", 120000},     /* wrong shape -> rule 3 */
        {"ROUND", 150, false, 1000000, "4", 1100000}, /* price_min inclusive */
        {"ROUND", 150, false, 999999, "9", 1149999},  /* 9999.99 x 1.15 = 11499.9885 */
        {"PEAR", 150, false, 50000, "6", 70000},      /* price_max inclusive, shape case */
        {"OVAL", 150, false, 50001, "9", 57501},      /* 575.0115 -> 575.01 */
        {"ROUND", 30, false, 10000, "7", 15000},      /* tiny, feed nivoda */
        {"ROUND", 31, false, 10000, "9", 11500},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_pricing_input in = {.shape = cases[i].shape,
                                      .carats_c2 = cases[i].c2,
                                      .lab_grown = cases[i].lab,
                                      .feed = "nivoda",
                                      .feed_price_cents = cases[i].cents};
        struct dm_pricing_result r;
        struct dm_error err = {0};
        assert_int_equal(dm_pricing_apply(rules, n, &in, &r, &err), DM_OK);
        assert_non_null(r.rule_id);
        if (r.rule_id[strlen(r.rule_id) - 1] != cases[i].want_id[0] ||
            r.retail_price_cents != cases[i].retail)
            fail_msg("case %zu: rule %s retail %lld, want rule ..%s retail %lld", i, r.rule_id,
                     (long long)r.retail_price_cents, cases[i].want_id, (long long)cases[i].retail);
    }
    /* No rule at all: 1.15, rating null. */
    struct dm_pricing_input in = {
        .shape = "ROUND", .carats_c2 = 100, .feed = "nivoda", .feed_price_cents = 100};
    struct dm_pricing_result r;
    struct dm_error err = {0};
    assert_int_equal(dm_pricing_apply(NULL, 0, &in, &r, &err), DM_OK);
    assert_null(r.rule_id);
    assert_int_equal(r.rating, 0);
    assert_int_equal(r.markup_e4, 11500);
    assert_int_equal(r.retail_price_cents, 115);
    /* Zero / negative carats are errors, never a division. */
    in.carats_c2 = 0;
    assert_int_equal(dm_pricing_apply(rules, n, &in, &r, &err), DM_ERR_INVALID);
    in.carats_c2 = -100;
    assert_int_equal(dm_pricing_apply(rules, n, &in, &r, &err), DM_ERR_INVALID);
    dm_pricing_rules_free(rules, n);
}

static void test_sort(void **state)
{
    size_t n;
    struct dm_pricing_rule *rules = make_rules(&n);
    for (size_t i = 1; i < n; i++)
        assert_true(rules[i - 1].priority < rules[i].priority ||
                    (rules[i - 1].priority == rules[i].priority &&
                     strcmp(rules[i - 1].id, rules[i].id) < 0));
    dm_pricing_rules_free(rules, n);
    dm_pricing_rules_free(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retail_rounding),
        cmocka_unit_test(test_per_carat),
        cmocka_unit_test(test_div_round),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
