/* partition.c - recursive bisection of the price axis into near-equal partitions. */
#include "domain/partition.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

struct planner {
    const struct dm_partition_opts *o;
    dm_partition_count_fn count;
    void *ctx;
    struct dm_error *err;
    int queries;
    struct dm_partition *parts;
    int n, cap;
};

static enum dm_err count_range(struct planner *pl, int64_t lo, int64_t hi, int64_t *out)
{
    pl->queries++;
    enum dm_err e = pl->count(pl->ctx, lo, hi, out, pl->err);
    if (e == DM_OK && *out < 0)
        e = dm_error_set(pl->err, DM_ERR_INVALID, "count callback returned a negative count");
    return e;
}

static void emit(struct planner *pl, int64_t lo, int64_t hi, int64_t c)
{
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 16;
        pl->parts = dm_xrealloc(pl->parts, (size_t)pl->cap * sizeof(*pl->parts));
    }
    pl->parts[pl->n++] = (struct dm_partition){.min_price = lo, .max_price = hi, .estimated = c};
}

/* Log-price coordinate; defined for p >= -1. */
static double xcoord(int64_t p)
{
    return log((double)p + 2.0);
}

/*
 * Find p in [lo, hi-1] whose cumulative count f(p) = count(lo, p) is within tol of target
 * (or the closest one when prices are too lumpy). c = count(lo, hi) is known.
 * at_least: prefer the smallest p with f(p) >= target (used for the cap).
 */
static enum dm_err find_split(struct planner *pl, int64_t lo, int64_t hi, int64_t c, int64_t target,
                              int64_t tol, bool at_least, int64_t *p_out, int64_t *f_out)
{
    int64_t L = lo - 1, fL = 0, R = hi, fR = c;
    int last_side = 0, same_side = 0;
    while (R - L > 1) {
        int64_t p;
        if (same_side >= 2 || fR == fL) {
            /* Interpolation is stalling on one side: halve the bracket in log space. */
            double xm = (xcoord(L) + xcoord(R)) / 2.0;
            p = (int64_t)llround(exp(xm) - 2.0);
            same_side = 0;
        } else {
            double frac = (double)(target - fL) / (double)(fR - fL);
            double xp = xcoord(L) + frac * (xcoord(R) - xcoord(L));
            p = (int64_t)llround(exp(xp) - 2.0);
        }
        if (p <= L)
            p = L + 1;
        if (p >= R)
            p = R - 1;
        int64_t f;
        enum dm_err e = count_range(pl, lo, p, &f);
        if (e != DM_OK)
            return e;
        bool ok = at_least ? (f >= target && f - target <= tol) : llabs(f - target) <= tol;
        if (ok) {
            *p_out = p;
            *f_out = f;
            return DM_OK;
        }
        int side = f < target ? -1 : 1;
        if (side == -1) {
            L = p;
            fL = f;
        } else {
            R = p;
            fR = f;
        }
        same_side = side == last_side ? same_side + 1 : 0;
        last_side = side;
    }
    /* Bracket closed: L and R are adjacent prices. Choose the better valid one. */
    bool l_ok = L >= lo, r_ok = R <= hi - 1;
    /* at_least takes R whenever it is valid; otherwise the closer of the two valid ones. */
    if (l_ok && !(at_least && r_ok) && (!r_ok || llabs(fL - target) <= llabs(fR - target))) {
        *p_out = L;
        *f_out = fL;
    } else if (r_ok) {
        *p_out = R;
        *f_out = fR;
    } else {
        /* hi == lo: cannot split. */
        *p_out = hi;
        *f_out = c;
    }
    return DM_OK;
}

static enum dm_err plan_range(struct planner *pl, int64_t lo, int64_t hi, int64_t c, int k)
{
    if (k <= 1 || hi <= lo || c < 2) {
        emit(pl, lo, hi, c);
        return DM_OK;
    }
    int k1 = k / 2;
    int64_t target = (int64_t)((double)c * k1 / k + 0.5);
    int64_t tol = (int64_t)(pl->o->tolerance * (double)c / k);
    if (tol < 1)
        tol = 1;
    int64_t p, cl;
    enum dm_err e = find_split(pl, lo, hi, c, target, tol, false, &p, &cl);
    if (e != DM_OK)
        return e;
    int64_t cr = c - cl;
    if (cl <= 0 || cr <= 0 || p >= hi) {
        /* The stones sit on one price: this range cannot be divided further. */
        emit(pl, lo, hi, c);
        return DM_OK;
    }
    /* Give each side its share of the partitions (at least one each). */
    int kl = (int)llround((double)k * (double)cl / (double)c);
    if (kl < 1)
        kl = 1;
    if (kl > k - 1)
        kl = k - 1;
    e = plan_range(pl, lo, p, cl, kl);
    if (e != DM_OK)
        return e;
    return plan_range(pl, p + 1, hi, cr, k - kl);
}

void dm_partition_opts_default(struct dm_partition_opts *o, bool incremental)
{
    memset(o, 0, sizeof(*o));
    o->max_partitions = incremental ? 10 : 30;
    o->min_per_partition = 1000;
    o->cap = 0;
    o->price_min = 0;
    o->price_max = DM_PARTITION_PRICE_MAX;
    o->tolerance = 0.05;
}

static int partitions_for(const struct dm_partition_opts *o, int64_t total)
{
    int64_t k = o->min_per_partition > 0 ? total / o->min_per_partition : total;
    if (k < 1)
        k = 1;
    if (k > o->max_partitions)
        k = o->max_partitions;
    return (int)k;
}

enum dm_err dm_partition_plan(const struct dm_partition_opts *o, dm_partition_count_fn count,
                              void *ctx, struct dm_partition_plan *plan, struct dm_error *err)
{
    memset(plan, 0, sizeof(*plan));
    if (o->max_partitions < 1 || o->price_min < 0 || o->price_max < o->price_min || o->cap < 0 ||
        o->tolerance < 0)
        return dm_error_set(err, DM_ERR_INVALID, "invalid partition options");
    struct planner pl = {.o = o, .count = count, .ctx = ctx, .err = err};
    int64_t lo = o->price_min, hi = o->price_max, total;
    enum dm_err e = count_range(&pl, lo, hi, &total);
    if (e != DM_OK)
        goto out;
    plan->uncapped_total = total;
    if (total == 0)
        goto out;
    int64_t planned = total;
    if (o->cap > 0 && o->cap < total) {
        /* Plan only the cheapest `cap` stones (plus the lumpiness of one price). */
        int64_t tol = (int64_t)(o->tolerance * (double)o->cap);
        if (tol < 1)
            tol = 1;
        int64_t p, f;
        e = find_split(&pl, lo, hi, total, o->cap, tol, true, &p, &f);
        if (e != DM_OK)
            goto out;
        if (f >= o->cap) {
            hi = p;
            planned = f;
            plan->capped = true;
        }
    }
    int k = partitions_for(o, plan->capped ? o->cap : planned);
    e = plan_range(&pl, lo, hi, planned, k);
    if (e != DM_OK)
        goto out;
    if (plan->capped) {
        /* Trim: keep partitions until the cap is covered, the last one cut to fit. */
        int64_t sum = 0;
        int keep = 0;
        for (; keep < pl.n && sum < o->cap; keep++) {
            if (sum + pl.parts[keep].estimated > o->cap)
                pl.parts[keep].estimated = o->cap - sum;
            sum += pl.parts[keep].estimated;
        }
        pl.n = keep;
    }
out:
    plan->count_queries = pl.queries;
    if (e != DM_OK) {
        free(pl.parts);
        plan->parts = NULL;
        plan->n = 0;
        return e;
    }
    plan->parts = pl.parts;
    plan->n = pl.n;
    for (int i = 0; i < pl.n; i++) {
        int64_t est = pl.parts[i].estimated;
        plan->total += est;
        if (i == 0 || est > plan->largest)
            plan->largest = est;
        if (i == 0 || est < plan->smallest)
            plan->smallest = est;
    }
    return DM_OK;
}

void dm_partition_plan_free(struct dm_partition_plan *plan)
{
    if (plan == NULL)
        return;
    free(plan->parts);
    plan->parts = NULL;
    plan->n = 0;
}

void dm_partition_id(int i, char *out, size_t size)
{
    snprintf(out, size, "p%02d", i + 1);
}
