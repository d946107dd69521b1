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
/* After the criteria: the rows a statement reprices, a slice's blocks ($1, $2) or the ids
 * in $1 (a uuid[]: the rows a slice's rechoose rewrote, see catch_up). */
static const char *const REPRICE_MATCHED =
    " ORDER BY r.priority, r.id LIMIT 1) m ON true WHERE d.status = 'active' ";
static const char *const REPRICE_RANGE = "AND d.ctid >= format('(%s,0)', $1::bigint)::tid "
                                         "AND d.ctid < format('(%s,0)', $2::bigint)::tid), ";
static const char *const REPRICE_IDS = "AND d.id = ANY ($1::uuid[])), ";
static const char *const REPRICE_TAIL =
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

/* The whole statement: by_ids, for the ids in $1; else $1, $2 are a slice's first and end
 * block. */
static enum dm_err reprice_sql(struct dm_buf *b, bool by_ids)
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
        e = dm_buf_append_str(b, REPRICE_MATCHED);
    if (e == DM_OK)
        e = dm_buf_append_str(b, by_ids ? REPRICE_IDS : REPRICE_RANGE);
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
    struct dm_buf rewritten; /* ids the slices' rechooses rewrote: uuid[] elements (catch_up) */
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
                            struct dm_buf *rewritten, struct dm_error *err)
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
        struct dm_listing_counts cnt = {.written = rewritten};
        if (e == DM_OK)
            e = dm_listings_refresh(c, policy, NULL, dm_db_get(r, 0, 0), &cnt, err);
    }
    PQclear(r);
    return e;
}

/* Reprice one slice (sql with its nparams params: blocks, or ids) in one transaction, with the
 * listings it changes chosen again; adds the rows rewritten and the prices changed to *updated
 * and *changed, and the ids the rechoose rewrote to *rewritten (uuid[] elements). A slice that
 * loses a deadlock (a consolidation updating the same stones in another order), a
 * serialization conflict or a peer's choice for the same listing is run again: its transaction
 * was rolled back. */
static enum dm_err run_slice(struct dm_db_conn *c, const char *sql,
                             const struct dm_listing_policy *policy, int nparams,
                             const char *const *p, int64_t *updated, int64_t *changed,
                             struct dm_buf *rewritten, struct dm_error *err)
{
    PGresult *r = NULL;
    enum dm_err e = DM_OK;
    size_t mark = rewritten->len; /* a rolled-back attempt's ids are dropped */
    for (int attempt = 1;; attempt++) {
        PQclear(r);
        r = NULL;
        rewritten->len = mark;
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
            e = dm_db_exec(c, sql, nparams, p, &r, err);
        if (e == DM_OK)
            e = rechoose(c, policy, rewritten, err);
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

/* Append the uuid[] elements of from (a literal opened with '{', not closed) to into's. */
static enum dm_err add_elements(struct dm_buf *into, const struct dm_buf *from)
{
    if (from->len <= 1)
        return DM_OK;
    enum dm_err e = DM_OK;
    if (into->len > 1)
        e = dm_buf_append_char(into, ',');
    if (e == DM_OK)
        e = dm_buf_append(into, from->data + 1, from->len - 1);
    return e;
}

static void *reprice_worker(void *arg)
{
    struct shared *sh = arg;
    struct dm_db_conn *c = NULL;
    struct dm_error err = {0};
    struct dm_buf mine;
    dm_buf_init(&mine, (size_t)1 << 28);
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
        const char *p[] = {lo, hi};
        dm_buf_reset(&mine);
        e = dm_buf_append_char(&mine, '{');
        if (e == DM_OK)
            e = run_slice(c, sh->sql, sh->policy, 2, p, &updated, &changed, &mine, &err);
        if (e == DM_OK) {
            pthread_mutex_lock(&sh->mu);
            sh->res.updated += updated;
            sh->res.prices_changed += changed;
            e = add_elements(&sh->rewritten, &mine);
            pthread_mutex_unlock(&sh->mu);
            if (e != DM_OK)
                dm_error_set(&err, e, "reprice: too many rows chosen again");
        }
    }
    dm_buf_free(&mine);
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
 * the start, before its own slice repriced it. So the rows the slices' rechooses rewrote are
 * repriced again by id (the update is guarded: those already repriced are only read), and the
 * rows that pass rewrites in turn, until none is left. With one feed, and for listings of one
 * offer, nothing is rewritten and nothing is passed again. */
#define CATCH_UP_PASSES 3

static enum dm_err catch_up(struct dm_db *db, const char *sql_ids, const char *sql_all,
                            const struct dm_listing_policy *policy, struct dm_buf *ids,
                            struct dm_reprice_result *res, struct dm_error *err)
{
    struct dm_error local = {0};
    if (err == NULL)
        err = &local; /* run_slice reads the SQLSTATE */
    if (ids->len <= 1)
        return DM_OK;
    struct dm_db_conn *c = NULL;
    enum dm_err e = dm_db_acquire(db, 30000, &c, err);
    struct dm_buf next;
    dm_buf_init(&next, (size_t)1 << 28);
    for (int pass = 0; e == DM_OK && ids->len > 1; pass++) {
        int64_t updated = 0;
        dm_buf_reset(&next);
        e = dm_buf_append_char(&next, '{');
        if (e == DM_OK && pass == CATCH_UP_PASSES) {
            /* Still rewriting after the passes (listings choosing back and forth while the
             * rules change under them): one pass over the whole table settles it. */
            const char *p[] = {"0", "4294967295"};
            e = run_slice(c, sql_all, policy, 2, p, &updated, &res->prices_changed, &next, err);
            res->updated += updated;
            break;
        }
        if (e == DM_OK)
            e = dm_buf_append_char(ids, '}');
        const char *p[] = {ids->data};
        if (e == DM_OK)
            e = run_slice(c, sql_ids, policy, 1, p, &updated, &res->prices_changed, &next, err);
        res->updated += updated;
        dm_buf_reset(ids);
        if (e == DM_OK)
            e = dm_buf_append(ids, next.data, next.len);
    }
    dm_buf_free(&next);
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
    struct dm_buf sql, sql_ids;
    dm_buf_init(&sql, 16384);
    dm_buf_init(&sql_ids, 16384);
    dm_buf_init(&sh.rewritten, (size_t)1 << 28);
    if (reprice_sql(&sql, false) != DM_OK || reprice_sql(&sql_ids, true) != DM_OK ||
        dm_buf_append_char(&sh.rewritten, '{') != DM_OK) {
        dm_buf_free(&sql);
        dm_buf_free(&sql_ids);
        dm_buf_free(&sh.rewritten);
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
        e = dm_error_set(err, DM_ERR_INTERNAL, "reprice: no thread could start");
    } else if (sh.e != DM_OK) {
        e = sh.e;
        if (err)
            *err = sh.err;
    } else {
        e = catch_up(db, sql_ids.data, sql.data, policy, &sh.rewritten, &sh.res, err);
    }
    dm_buf_free(&sql);
    dm_buf_free(&sql_ids);
    dm_buf_free(&sh.rewritten);
    if (e != DM_OK)
        return e;
    *out = sh.res;
    out->examined = examined;
    out->duration_ms = dm_mono_ms() - t0;
    return DM_OK;
}
