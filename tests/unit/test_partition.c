/* test_partition.c - partition planning over synthetic in-memory inventories: coverage (no
 * stone lost or fetched twice), balance, partition limits, the cap, and count-query economy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "domain/partition.h"
#include "testlib.h"

struct inventory {
    int64_t *prices; /* sorted, whole dollars */
    int64_t n;
    int queries;
    int fail_after; /* fail the count call after this many queries; -1 never */
};

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double urand(void)
{
    return (double)(rng() >> 11) / 9007199254740992.0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

enum dist { D_LOGNORMAL, D_UNIFORM, D_ONE_PRICE, D_CLUSTERS };

static void make_inventory(struct inventory *inv, int64_t n, enum dist d, uint64_t seed)
{
    rng_state = seed;
    inv->n = n;
    inv->queries = 0;
    inv->fail_after = -1;
    inv->prices = calloc((size_t)(n ? n : 1), sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        double u1 = urand() + 1e-12, u2 = urand();
        double z = sqrt(-2.0 * log(u1)) * cos(2 * M_PI * u2);
        switch (d) {
        case D_LOGNORMAL: /* long tail to $250,000+ */
            inv->prices[i] = (int64_t)(2500.0 * exp(1.3 * z));
            break;
        case D_UNIFORM:
            inv->prices[i] = 200 + (int64_t)(urand() * 20000);
            break;
        case D_ONE_PRICE:
            inv->prices[i] = 1000;
            break;
        case D_CLUSTERS: /* most stones on a handful of round prices */
            inv->prices[i] =
                (int64_t)(1 + rng() % 5) * 1000 + (rng() % 10 == 0 ? (int64_t)(rng() % 900) : 0);
            break;
        }
        if (inv->prices[i] < 0)
            inv->prices[i] = 0;
    }
    qsort(inv->prices, (size_t)n, sizeof(int64_t), cmp_i64);
}

static int64_t lower_bound(const struct inventory *inv, int64_t v)
{
    int64_t lo = 0, hi = inv->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (inv->prices[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static enum dm_err count_cb(void *ctx, int64_t lo, int64_t hi, int64_t *count, struct dm_error *err)
{
    struct inventory *inv = ctx;
    if (inv->fail_after >= 0 && inv->queries >= inv->fail_after)
        return dm_error_set(err, DM_ERR_REMOTE, "feed down");
    inv->queries++;
    *count = hi < lo ? 0 : lower_bound(inv, hi + 1) - lower_bound(inv, lo);
    return DM_OK;
}

/* Every stone priced inside the planned range lies in exactly one partition; ranges are
 * contiguous, whole-dollar, inclusive. */
static void check_coverage(const struct inventory *inv, const struct dm_partition_plan *p,
                           const struct dm_partition_opts *o)
{
    assert_true(p->n > 0);
    assert_int_equal(p->parts[0].min_price, o->price_min);
    for (int i = 0; i < p->n; i++) {
        assert_true(p->parts[i].min_price <= p->parts[i].max_price);
        if (i > 0)
            assert_int_equal(p->parts[i].min_price, p->parts[i - 1].max_price + 1);
    }
    if (!p->capped)
        assert_int_equal(p->parts[p->n - 1].max_price, o->price_max);
    int64_t top = p->parts[p->n - 1].max_price, covered = 0;
    for (int64_t s = 0; s < inv->n; s++) {
        int64_t price = inv->prices[s];
        if (price > top)
            continue;
        int hits = 0;
        for (int i = 0; i < p->n; i++)
            hits += price >= p->parts[i].min_price && price <= p->parts[i].max_price;
        assert_int_equal(hits, 1);
        covered++;
    }
    if (!p->capped) {
        assert_int_equal(covered, inv->n);
        assert_int_equal(p->total, inv->n);
    }
    /* Estimates are the real counts (except the trimmed last partition of a capped plan). */
    int64_t sum = 0;
    for (int i = 0; i < p->n; i++) {
        int64_t real =
            lower_bound(inv, p->parts[i].max_price + 1) - lower_bound(inv, p->parts[i].min_price);
        if (p->capped && i == p->n - 1)
            assert_true(p->parts[i].estimated <= real);
        else
            assert_int_equal(p->parts[i].estimated, real);
        sum += p->parts[i].estimated;
    }
    assert_int_equal(sum, p->total);
}

struct plan_case {
    const char *name;
    int64_t stones;
    enum dist dist;
    bool incremental;
    int64_t cap;
    int want_partitions; /* exact, or -1 = don't check */
    double max_ratio;    /* largest/smallest bound, 0 = don't check */
    int max_queries;
    int64_t want_total;
};

static const struct plan_case cases[] = {
    {"20k lognormal full", 20000, D_LOGNORMAL, false, 0, 20, 1.25, 100, 20000},
    {"500k lognormal full", 500000, D_LOGNORMAL, false, 0, 30, 1.25, 130, 500000},
    {"1M uniform full", 1000000, D_UNIFORM, false, 0, 30, 1.25, 130, 1000000},
    {"50k incremental", 50000, D_LOGNORMAL, true, 0, 10, 1.25, 60, 50000},
    {"small total: one partition", 800, D_LOGNORMAL, false, 0, 1, 0, 2, 800},
    {"2500 stones: two partitions", 2500, D_UNIFORM, false, 0, 2, 1.3, 40, 2500},
    {"one price cannot split", 5000, D_ONE_PRICE, false, 0, 1, 0, 200, 5000},
    {"lumpy prices", 30000, D_CLUSTERS, false, 0, -1, 0, 400, 30000},
    {"cap 5000 of 20000", 20000, D_LOGNORMAL, false, 5000, 5, 1.3, 50, 5000},
    {"cap above total", 20000, D_LOGNORMAL, false, 50000, 20, 1.25, 100, 20000},
    {"cap 1234 of 500k", 500000, D_LOGNORMAL, false, 1234, 1, 0, 60, 1234},
};

static void test_plan_cases(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct plan_case *tc = &cases[c];
        print_message("case: %s\n", tc->name);
        struct inventory inv;
        make_inventory(&inv, tc->stones, tc->dist, 0x9e3779b97f4a7c15ULL + c);
        struct dm_partition_opts o;
        dm_partition_opts_default(&o, tc->incremental);
        o.cap = tc->cap;
        struct dm_partition_plan p;
        struct dm_error err = {0};
        assert_int_equal(dm_partition_plan(&o, count_cb, &inv, &p, &err), DM_OK);
        check_coverage(&inv, &p, &o);
        assert_int_equal(p.total, tc->want_total);
        assert_int_equal(p.count_queries, inv.queries);
        assert_true(p.n <= o.max_partitions);
        if (tc->want_partitions >= 0)
            assert_int_equal(p.n, tc->want_partitions);
        if (tc->max_ratio > 0 && p.n > 1 && !p.capped)
            assert_true((double)p.largest / (double)p.smallest <= tc->max_ratio);
        if (p.capped)
            assert_true(tc->cap > 0);
        print_message("  partitions %d, queries %d, largest %lld, smallest %lld\n", p.n,
                      p.count_queries, (long long)p.largest, (long long)p.smallest);
        assert_true(p.count_queries <= tc->max_queries);
        dm_partition_plan_free(&p);
        free(inv.prices);
    }
}

static void test_empty_window(void **state)
{
    (void)state;
    struct inventory inv;
    make_inventory(&inv, 0, D_UNIFORM, 1);
    struct dm_partition_opts o;
    dm_partition_opts_default(&o, false);
    struct dm_partition_plan p;
    assert_int_equal(dm_partition_plan(&o, count_cb, &inv, &p, NULL), DM_OK);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.total, 0);
    assert_int_equal(p.count_queries, 1);
    dm_partition_plan_free(&p);
    free(inv.prices);
}

static void test_count_error_propagates(void **state)
{
    (void)state;
    struct inventory inv;
    make_inventory(&inv, 20000, D_LOGNORMAL, 7);
    inv.fail_after = 5;
    struct dm_partition_opts o;
    dm_partition_opts_default(&o, false);
    struct dm_partition_plan p;
    struct dm_error err = {0};
    assert_int_equal(dm_partition_plan(&o, count_cb, &inv, &p, &err), DM_ERR_REMOTE);
    assert_null(p.parts);
    assert_int_equal(p.n, 0);
    dm_partition_plan_free(&p);
    free(inv.prices);
}

static void test_invalid_options(void **state)
{
    (void)state;
    struct inventory inv;
    make_inventory(&inv, 10, D_UNIFORM, 3);
    struct dm_partition_opts o;
    dm_partition_opts_default(&o, false);
    o.max_partitions = 0;
    struct dm_partition_plan p;
    assert_int_equal(dm_partition_plan(&o, count_cb, &inv, &p, NULL), DM_ERR_INVALID);
    dm_partition_opts_default(&o, false);
    o.price_max = -5;
    assert_int_equal(dm_partition_plan(&o, count_cb, &inv, &p, NULL), DM_ERR_INVALID);
    free(inv.prices);
}

static void test_partition_ids(void **state)
{
    (void)state;
    char id[16];
    dm_partition_id(0, id, sizeof(id));
    assert_string_equal(id, "p01");
    dm_partition_id(29, id, sizeof(id));
    assert_string_equal(id, "p30");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_cases),
        cmocka_unit_test(test_empty_window),
        cmocka_unit_test(test_count_error_propagates),
        cmocka_unit_test(test_invalid_options),
        cmocka_unit_test(test_partition_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
