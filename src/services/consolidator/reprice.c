/* reprice.c - set-based repricing of the active catalogue with the active pricing rules. */
#include "services/consolidator/reprice.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/timeutil.h"
#include "domain/pricing.h"
#include "store/listings.h"

/* The statement is built from the rows of dm_pricing_fields (domain/pricing.h), the table
 * dm_pricing_match reads, so the SQL and the C choose the same rule: the rules CTE selects
 * every column the rule holds (sets upper-cased), and each criterion becomes one clause of the
 * lateral WHERE, "any" when the rule's value is NULL (or an empty set).
 * The update finds each priced row by its ctid (a TID scan per row): joined by id, each slice
 * hashed the whole table (32 full scans per reprice). A row updated concurrently is followed
 * to its newest version (the TID scan's recheck accepts it) and repriced there, as with the id
 * join; the id is compared as well. */
static const char *const REPRICE_HEAD = "WITH rules AS MATERIALIZED (SELECT ";
/* After the rules' columns; the default markup (DM_DEFAULT_MARKUP_E4) is printed into it. */
#define REPRICE_PRICED                                                                             \
    " FROM pricing_rules WHERE active), "                                                          \
    "priced AS (SELECT d.ctid AS tid, d.id, d.retail_price AS old_retail, "                        \
    "coalesce(m.markup_ratio, %lld.%04lld::numeric(6,4)) AS markup, m.rating, m.id AS rule_id "    \
    "FROM diamonds d LEFT JOIN LATERAL (SELECT r.id, r.markup_ratio, r.rating FROM rules r "       \
    "WHERE "
/* After the criteria. */
static const char *const REPRICE_TAIL =
    " ORDER BY r.priority, r.id LIMIT 1) m ON true WHERE d.status = 'active' "
    "AND d.ctid >= format('(%s,0)', $1::bigint)::tid "
    "AND d.ctid < format('(%s,0)', $2::bigint)::tid), "
    "upd AS (UPDATE diamonds d SET markup_ratio = p.markup, rating = p.rating, "
    "pricing_rule_id = p.rule_id, retail_price = round(d.feed_price * p.markup, 2), "
    "updated_at = now() FROM priced p WHERE d.ctid = p.tid AND d.id = p.id AND ("
    "d.markup_ratio IS DISTINCT FROM p.markup OR d.rating IS DISTINCT FROM p.rating "
    "OR d.pricing_rule_id IS DISTINCT FROM p.rule_id "
    "OR d.retail_price IS DISTINCT FROM round(d.feed_price * p.markup, 2)) "
    "RETURNING p.old_retail IS DISTINCT FROM d.retail_price AS price_changed) "
    "SELECT (SELECT count(*) FROM priced), count(*), count(*) FILTER (WHERE price_changed) "
    "FROM upd";

/* One criterion as SQL over rule r and diamond d (the match of domain/pricing.c). */
static enum dm_err criterion_sql(struct dm_buf *b, const struct dm_pricing_field *f)
{
    const char *n = f->name, *col = f->stone;
    switch (f->match) {
    case DM_PRM_MIN:
        return dm_buf_appendf(b, "(r.%s IS NULL OR d.%s >= r.%s)", n, col, n);
    case DM_PRM_MAX:
        return dm_buf_appendf(b, "(r.%s IS NULL OR d.%s <= r.%s)", n, col, n);
    case DM_PRM_IN:
        return dm_buf_appendf(b, "(cardinality(r.%s) = 0 OR upper(d.%s) = ANY (r.%s))", n, col, n);
    case DM_PRM_EQ:
        return dm_buf_appendf(b, "(r.%s IS NULL OR r.%s = d.%s)", n, n, col);
    case DM_PRM_NONE:
        break;
    }
    return DM_ERR_INTERNAL;
}

/* The whole statement: $1, $2 are a slice's first and end block. */
static enum dm_err reprice_sql(struct dm_buf *b)
{
    enum dm_err e = dm_buf_append_str(b, REPRICE_HEAD);
    int n = 0;
    for (size_t i = 0; i < dm_pricing_nfields && e == DM_OK; i++) {
        const struct dm_pricing_field *f = &dm_pricing_fields[i];
        if (f->rule == DM_PRICING_NONE)
            continue;
        if (n++)
            e = dm_buf_append_str(b, ", ");
        if (e == DM_OK)
            e = f->type == DM_PRT_SET
                    ? dm_buf_appendf(b, "ARRAY(SELECT upper(s) FROM unnest(%s) s) AS %s", f->name,
                                     f->name)
                    : dm_buf_append_str(b, f->name);
    }
    if (e == DM_OK)
        e = dm_buf_appendf(b, REPRICE_PRICED, (long long)(DM_DEFAULT_MARKUP_E4 / DM_MARKUP_SCALE),
                           (long long)(DM_DEFAULT_MARKUP_E4 % DM_MARKUP_SCALE));
    n = 0;
    for (size_t i = 0; i < dm_pricing_nfields && e == DM_OK; i++) {
        const struct dm_pricing_field *f = &dm_pricing_fields[i];
        if (f->match == DM_PRM_NONE)
            continue;
        if (n++)
            e = dm_buf_append_str(b, " AND ");
        if (e == DM_OK)
            e = criterion_sql(b, f);
    }
    if (e == DM_OK)
        e = dm_buf_append_str(b, REPRICE_TAIL);
    return e;
}

/* The catalogue is repriced in RANGES slices of its physical blocks (TID range scans, so each
 * slice reads only its own pages), by THREADS connections at once: short transactions, and
 * both cores busy. Blocks are those that existed at the start; row versions this reprice
 * writes beyond them are already repriced. A version moved into a later slice is seen again
 * there but not rewritten (the update is guarded), so `examined` is counted once, up front. */
#define RANGES 32
#define THREADS 2

struct shared {
    struct dm_db *db;
    const char *sql; /* reprice_sql */
    const struct dm_listing_policy *policy;
    int64_t blocks;
    pthread_mutex_t mu;
    int next;
    struct dm_reprice_result res;
    enum dm_err e;
    struct dm_error err;
};

static void range_bounds(int64_t blocks, int i, char lo[32], char hi[32])
{
    int64_t a = blocks * i / RANGES, b = blocks * (i + 1) / RANGES;
    if (i == RANGES - 1)
        b = blocks + 1;
    snprintf(lo, 32, "%lld", (long long)a);
    snprintf(hi, 32, "%lld", (long long)b);
}

/* Listings (issue 18): a new retail price can change which offer a listing shows. The rows
 * this slice's transaction rewrote carry its transaction id (change_xid, migration 007), so
 * their listings are found without touching the reprice statement, and chosen again before the
 * slice commits (store/listings.h). A peer slice choosing for the same listing at once makes
 * one of them fail with a unique violation; it is run again like a deadlock. */
static enum dm_err rechoose(struct dm_db_conn *c, const struct dm_listing_policy *policy,
                            struct dm_error *err)
{
    PGresult *r = NULL;
    /* A listing whose one offer is chosen keeps it whatever its price: only listings of
     * several offers (and an unchosen offer) are chosen again (one index probe per row; in a
     * single feed's catalogue that is every listing skipped). */
    enum dm_err e = dm_db_exec(c,
                               "SELECT coalesce(array_agg(DISTINCT d.listing_key), '{}')::text "
                               "FROM diamonds d WHERE d.change_xid = pg_current_xact_id() "
                               "AND (NOT d.chosen OR EXISTS (SELECT 1 FROM diamonds o "
                               "WHERE o.listing_key = d.listing_key AND o.id <> d.id))",
                               0, NULL, &r, err);
    if (e == DM_OK && strcmp(dm_db_get(r, 0, 0), "{}") != 0) {
        struct dm_listing_policy def;
        if (policy == NULL) {
            dm_listing_policy_from_config(NULL, &def);
            policy = &def;
        }
        /* Taken after the slice's writes: a deadlock with a consolidation batch is possible
         * and resolved by PostgreSQL; the slice is then run again (below). */
        e = dm_listings_lock(c, err);
        if (e == DM_OK)
            e = dm_listings_refresh(c, policy, NULL, dm_db_get(r, 0, 0), NULL, err);
    }
    PQclear(r);
    return e;
}

/* Reprice the blocks [lo, hi) in one transaction, with the listings it changes chosen again;
 * adds the rows rewritten and the prices changed to *updated and *changed. A slice that loses
 * a deadlock (a consolidation updating the same stones in another order), a serialization
 * conflict or a peer's choice for the same listing is run again: its transaction was rolled
 * back. */
static enum dm_err run_slice(struct dm_db_conn *c, const char *sql,
                             const struct dm_listing_policy *policy, const char *lo, const char *hi,
                             int64_t *updated, int64_t *changed, struct dm_error *err)
{
    const char *p[] = {lo, hi};
    PGresult *r = NULL;
    enum dm_err e = DM_OK;
    for (int attempt = 1;; attempt++) {
        PQclear(r);
        r = NULL;
        /* One transaction per slice; JIT compilation of each slice's statement cost more than
         * it saved (SET LOCAL: the pooled connection may serve the API afterwards). */
        e = dm_db_begin(c, err);
        if (e == DM_OK)
            e = dm_db_exec(c, "SET LOCAL jit = off", 0, NULL, NULL, err);
        /* Nested loop + TID scan only (a hash join on ctid would scan the whole table and
         * would not follow a concurrently updated row). */
        if (e == DM_OK)
            e = dm_db_exec(c, "SET LOCAL enable_hashjoin = off", 0, NULL, NULL, err);
        if (e == DM_OK)
            e = dm_db_exec(c, "SET LOCAL enable_mergejoin = off", 0, NULL, NULL, err);
        if (e == DM_OK)
            e = dm_db_exec(c, sql, 2, p, &r, err);
        if (e == DM_OK)
            e = rechoose(c, policy, err);
        if (e == DM_OK)
            e = dm_db_commit(c, err);
        else
            dm_db_rollback(c);
        if (e == DM_OK || attempt >= 5 ||
            (strcmp(err->sqlstate, "40P01") && strcmp(err->sqlstate, "40001") &&
             strcmp(err->sqlstate, "23505")))
            break;
        memset(err, 0, sizeof(*err));
        dm_sleep_ms((int64_t)20 * attempt, NULL);
    }
    if (e == DM_OK) {
        struct dm_db_row rd = DM_DB_ROW(r, 0);
        int64_t u = dm_db_row_i64(&rd, 1), n = dm_db_row_i64(&rd, 2);
        e = dm_db_row_check(&rd, "reprice", err);
        if (e == DM_OK) {
            *updated += u;
            *changed += n;
        }
    }
    PQclear(r);
    return e;
}

static void *reprice_worker(void *arg)
{
    struct shared *sh = arg;
    struct dm_db_conn *c = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_db_acquire(sh->db, 30000, &c, &err);
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        int i = sh->e == DM_OK && e == DM_OK ? sh->next++ : RANGES;
        pthread_mutex_unlock(&sh->mu);
        if (i >= RANGES)
            break;
        char lo[32], hi[32];
        range_bounds(sh->blocks, i, lo, hi);
        int64_t updated = 0, changed = 0;
        e = run_slice(c, sh->sql, sh->policy, lo, hi, &updated, &changed, &err);
        if (e == DM_OK) {
            pthread_mutex_lock(&sh->mu);
            sh->res.updated += updated;
            sh->res.prices_changed += changed;
            pthread_mutex_unlock(&sh->mu);
        }
    }
    if (c)
        dm_db_release(c);
    if (e != DM_OK) {
        pthread_mutex_lock(&sh->mu);
        if (sh->e == DM_OK) {
            sh->e = e;
            sh->err = err;
        }
        pthread_mutex_unlock(&sh->mu);
    }
    return NULL;
}

/* Choosing a listing's offer rewrites the listing's other offers (their `chosen`), and a
 * rewritten row may move to a block a slice has already passed, or past the blocks counted at
 * the start, before its own slice repriced it. So the whole table is passed again until a pass
 * rewrites nothing: the update is guarded, so a pass over a repriced catalogue only reads. */
#define CATCH_UP_PASSES 3

static enum dm_err catch_up(struct dm_db *db, const char *sql,
                            const struct dm_listing_policy *policy, struct dm_reprice_result *res,
                            struct dm_error *err)
{
    struct dm_error local = {0};
    if (err == NULL)
        err = &local; /* run_slice reads the SQLSTATE */
    struct dm_db_conn *c = NULL;
    enum dm_err e = dm_db_acquire(db, 30000, &c, err);
    for (int pass = 0; e == DM_OK && pass < CATCH_UP_PASSES; pass++) {
        int64_t updated = 0;
        e = run_slice(c, sql, policy, "0", "4294967295", &updated, &res->prices_changed, err);
        res->updated += updated;
        if (updated == 0)
            break;
    }
    if (c)
        dm_db_release(c);
    return e;
}

enum dm_err dm_reprice_all(struct dm_db *db, const struct dm_listing_policy *policy,
                           struct dm_reprice_result *out, struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    int64_t t0 = dm_mono_ms();
    struct shared sh = {.db = db, .policy = policy};
    PGresult *r = NULL;
    enum dm_err e = dm_db_query(db,
                                "SELECT pg_relation_size('diamonds') / "
                                "current_setting('block_size')::bigint, "
                                "(SELECT count(*) FROM diamonds WHERE status = 'active')",
                                0, NULL, &r, err);
    if (e != DM_OK)
        return e;
    struct dm_db_row rd = DM_DB_ROW(r, 0);
    sh.blocks = dm_db_row_i64(&rd, 0);
    int64_t examined = dm_db_row_i64(&rd, 1);
    e = dm_db_row_check(&rd, "reprice", err);
    PQclear(r);
    if (e != DM_OK)
        return e;
    struct dm_buf sql;
    dm_buf_init(&sql, 16384);
    if (reprice_sql(&sql) != DM_OK) {
        dm_buf_free(&sql);
        return dm_error_set(err, DM_ERR_INTERNAL, "reprice: statement too long");
    }
    sh.sql = sql.data;
    pthread_mutex_init(&sh.mu, NULL);
    pthread_t th[THREADS];
    bool ok[THREADS];
    for (int i = 0; i < THREADS; i++)
        ok[i] = pthread_create(&th[i], NULL, reprice_worker, &sh) == 0;
    for (int i = 0; i < THREADS; i++)
        if (ok[i])
            pthread_join(th[i], NULL);
    pthread_mutex_destroy(&sh.mu);
    if (!ok[0] && !ok[1]) {
        dm_buf_free(&sql);
        return dm_error_set(err, DM_ERR_INTERNAL, "reprice: no thread could start");
    }
    if (sh.e != DM_OK) {
        dm_buf_free(&sql);
        if (err)
            *err = sh.err;
        return sh.e;
    }
    e = catch_up(db, sql.data, policy, &sh.res, err);
    dm_buf_free(&sql);
    if (e != DM_OK)
        return e;
    *out = sh.res;
    out->examined = examined;
    out->duration_ms = dm_mono_ms() - t0;
    return DM_OK;
}
