/* listings.c - the listing columns of diamonds (see listings.h). */
#include "store/listings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pgarray.h"

void dm_listing_policy_from_config(const struct dm_config *cfg, struct dm_listing_policy *out)
{
    memset(out, 0, sizeof(*out));
    out->policy = DM_OFFER_POLICY_DEFAULT;
    if (cfg == NULL)
        return;
    /* OFFER_POLICY was validated at start-up (core/config.c): a value that does not parse here
     * cannot occur, and keeps the default. */
    struct dm_error err = {0};
    if (dm_offer_policy_parse(cfg->offer_policy, &out->policy, &err) != DM_OK)
        out->policy = DM_OFFER_POLICY_DEFAULT;
    for (int i = 0; i < cfg->n_feeds && out->n < DM_LISTING_MAX_FEEDS; i++) {
        snprintf(out->feed[out->n], sizeof(out->feed[out->n]), "%s", cfg->feeds[i].id);
        out->priority[out->n] = cfg->feeds[i].priority;
        out->n++;
    }
}

int dm_listing_priority(const struct dm_listing_policy *p, const char *feed)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->feed[i], feed) == 0)
            return p->priority[i];
    return 0;
}

/* dm_offer_compare in SQL: available first, then the policy's two keys, then feed id and
 * supplier stone id in byte order (COLLATE "C", as strcmp). Retail prices are never negative in
 * the table (CHECK), so "not priced" does not arise. */
#define PRIO_SQL "coalesce(($3::int[])[array_position($2::text[], d.feed)], 0)"
static const char ORDER_LOWEST_RETAIL[] =
    "(d.availability <> 'available'), d.retail_price, " PRIO_SQL " DESC, "
    "d.feed COLLATE \"C\", d.supplier_stone_id COLLATE \"C\"";
static const char ORDER_FEED_PRIORITY[] =
    "(d.availability <> 'available'), " PRIO_SQL " DESC, d.retail_price, "
    "d.feed COLLATE \"C\", d.supplier_stone_id COLLATE \"C\"";

const char *dm_listings_order_sql(enum dm_offer_policy p)
{
    return p == DM_OFFER_POLICY_FEED_PRIORITY ? ORDER_FEED_PRIORITY : ORDER_LOWEST_RETAIL;
}

enum dm_err dm_listings_policy_params(const struct dm_listing_policy *p, struct dm_buf *feeds,
                                      struct dm_buf *prios)
{
    enum dm_err e = dm_buf_append_char(feeds, '{');
    if (e == DM_OK)
        e = dm_buf_append_char(prios, '{');
    for (size_t i = 0; e == DM_OK && i < p->n; i++) {
        e = dm_pgarray_add(feeds, p->feed[i]);
        if (e == DM_OK)
            e = dm_buf_appendf(prios, "%s%d", i ? "," : "", p->priority[i]);
    }
    if (e == DM_OK)
        e = dm_buf_append_char(feeds, '}');
    if (e == DM_OK)
        e = dm_buf_append_char(prios, '}');
    return e;
}

/* ---- chosen ---- */

/* The keys to recompute ($1, $4, $5 joined), the best active offer of each and the offer chosen
 * now (one probe of the small partial unique index). */
#define BEST_SQL                                                                                   \
    "WITH k AS (SELECT DISTINCT key FROM unnest(array_cat(array_cat($1::text[], $4::text[]), "     \
    "$5::text[])) AS key WHERE key IS NOT NULL) "                                                  \
    "SELECT (SELECT d.id FROM diamonds d WHERE d.listing_key = k.key "                             \
    "AND d.status = 'active' ORDER BY %s LIMIT 1)::text, "                                         \
    "(SELECT d.id FROM diamonds d WHERE d.listing_key = k.key AND d.chosen)::text FROM k"

/* By primary key, the offers that stop being chosen, then those that start. */
static const char CLEAR_SQL[] = "UPDATE diamonds x SET chosen = false FROM unnest($1::uuid[]) "
                                "AS u(id) WHERE x.id = u.id AND x.chosen";
static const char SET_SQL[] = "UPDATE diamonds x SET chosen = true FROM unnest($1::uuid[]) "
                              "AS u(id) WHERE x.id = u.id AND NOT x.chosen";

/* Run one of the statements above over ids (a uuid[] literal), counting the rows changed. */
static enum dm_err set_chosen(struct dm_db_conn *c, const char *sql, const char *ids,
                              int64_t *changed, struct dm_error *err)
{
    PGresult *r = NULL;
    const char *params[1] = {ids};
    enum dm_err e = dm_db_exec(c, sql, 1, params, &r, err);
    if (e == DM_OK && changed)
        *changed += strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return e;
}

/* The best offer of each key is computed once; only the keys whose chosen offer is not their
 * best are written (after a reprice or a run most listings keep theirs, and a listing of one
 * offer always does). */
static enum dm_err recompute(struct dm_db_conn *c, const struct dm_listing_policy *p,
                             const char *k1, const char *k2, const char *k3,
                             struct dm_listing_counts *cnt, struct dm_error *err)
{
    struct dm_buf feeds, prios, clear, set;
    dm_buf_init(&feeds, (size_t)64 * 1024);
    dm_buf_init(&prios, (size_t)4096);
    dm_buf_init(&clear, (size_t)1 << 28);
    dm_buf_init(&set, (size_t)1 << 28);
    char sql[2048];
    PGresult *r = NULL;
    enum dm_err e = dm_listings_policy_params(p, &feeds, &prios);
    const char *params[5] = {k1 ? k1 : "{}", feeds.data, prios.data, k2 ? k2 : "{}",
                             k3 ? k3 : "{}"};
    if (e == DM_OK) {
        snprintf(sql, sizeof(sql), BEST_SQL, dm_listings_order_sql(p->policy));
        e = dm_db_exec(c, sql, 5, params, &r, err);
    }
    if (e == DM_OK)
        e = dm_buf_append_char(&clear, '{');
    if (e == DM_OK)
        e = dm_buf_append_char(&set, '{');
    size_t nclear = 0, nset = 0;
    for (int i = 0; e == DM_OK && i < PQntuples(r); i++) {
        const char *best = PQgetisnull(r, i, 0) ? NULL : PQgetvalue(r, i, 0);
        const char *now = PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1);
        if (best && now && strcmp(best, now) == 0)
            continue;
        if (now) {
            e = dm_pgarray_add(&clear, now);
            if (e == DM_OK && cnt->written)
                e = dm_pgarray_add(cnt->written, now);
            nclear++;
        }
        if (e == DM_OK && best) {
            e = dm_pgarray_add(&set, best);
            if (e == DM_OK && cnt->written)
                e = dm_pgarray_add(cnt->written, best);
            nset++;
        }
    }
    if (e == DM_OK)
        e = dm_buf_append_char(&clear, '}');
    if (e == DM_OK)
        e = dm_buf_append_char(&set, '}');
    if (e == DM_OK && nclear > 0)
        e = set_chosen(c, CLEAR_SQL, clear.data, &cnt->changed, err);
    if (e == DM_OK && nset > 0)
        e = set_chosen(c, SET_SQL, set.data, &cnt->changed, err);
    PQclear(r);
    if (e != DM_OK && err->message[0] == '\0')
        dm_error_set(err, e, "listing refresh: too many listings for one batch");
    dm_buf_free(&feeds);
    dm_buf_free(&prios);
    dm_buf_free(&clear);
    dm_buf_free(&set);
    return e;
}

/* ---- clashes ---- */

/* The active offers of the identities in $1: those listed under their identity (listing key
 * index) and those split off it (the small partial index of split offers). */
static const char OFFERS_SQL[] =
    "SELECT d.id::text, d.identity_key, d.listing_key, d.feed, d.supplier_stone_id, "
    "(d.carats * 100)::bigint, d.color, d.clarity, d.shape, coalesce(d.clash_fields, '') "
    "FROM diamonds d WHERE d.status = 'active' AND ("
    "(d.listing_key = ANY($1::text[]) AND d.identity_key = d.listing_key) OR "
    "(d.identity_key = ANY($1::text[]) AND d.identity_key IS DISTINCT FROM d.listing_key)) "
    "ORDER BY d.identity_key";

static const char MOVE_SQL[] =
    "UPDATE diamonds d SET listing_key = u.k, listing_id = u.lid::uuid, "
    "clash_fields = nullif(u.c, ''), chosen = false "
    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(id, k, lid, c) "
    "WHERE d.id = u.id";

struct moves {
    struct dm_buf ids, keys, lids, clashes, touched;
    int64_t n;
};

static enum dm_err move(struct moves *m, const char *id, const char *from, const char *to,
                        const char *clash)
{
    char lid[DM_UUID_LEN];
    dm_offer_listing_id(to, lid);
    enum dm_err e = dm_pgarray_add(&m->ids, id);
    if (e == DM_OK)
        e = dm_pgarray_add(&m->keys, to);
    if (e == DM_OK)
        e = dm_pgarray_add(&m->lids, lid);
    if (e == DM_OK)
        e = dm_pgarray_add(&m->clashes, clash);
    if (e == DM_OK)
        e = dm_pgarray_add(&m->touched, from);
    if (e == DM_OK)
        e = dm_pgarray_add(&m->touched, to);
    m->n++;
    return e;
}

/* One identity's offers, rows [lo, hi) of r: the listing key and clash each should have. */
static enum dm_err resolve_group(const PGresult *r, int lo, int hi,
                                 const struct dm_listing_policy *p, struct dm_offer *offers,
                                 unsigned *clash, struct moves *m, struct dm_listing_counts *cnt,
                                 struct dm_error *err)
{
    int n = hi - lo;
    bool cert = strncmp(PQgetvalue(r, lo, 1), "cert:", 5) == 0;
    for (int i = 0; i < n; i++) {
        int row = lo + i;
        struct dm_offer *o = &offers[i];
        memset(o, 0, sizeof(*o));
        o->feed = PQgetvalue(r, row, 3);
        o->supplier_stone_id = PQgetvalue(r, row, 4);
        o->feed_priority = dm_listing_priority(p, o->feed);
        struct dm_db_row rd = DM_DB_ROW(r, row);
        o->carats_c2 = dm_db_row_i64_or(&rd, 5, 0);
        if (dm_db_row_check(&rd, "listing offers", err) != DM_OK)
            return DM_ERR_DB;
        o->color = PQgetisnull(r, row, 6) ? NULL : PQgetvalue(r, row, 6);
        o->clarity = PQgetisnull(r, row, 7) ? NULL : PQgetvalue(r, row, 7);
        o->shape = PQgetisnull(r, row, 8) ? NULL : PQgetvalue(r, row, 8);
        clash[i] = 0;
    }
    if (cert && n > 1)
        (void)dm_offer_resolve_clashes(offers, (size_t)n, clash);
    enum dm_err e = DM_OK;
    for (int i = 0; e == DM_OK && i < n; i++) {
        int row = lo + i;
        const char *identity = PQgetvalue(r, row, 1);
        const char *listed = PQgetvalue(r, row, 2);
        const char *had = PQgetvalue(r, row, 9);
        struct dm_stone_identity own;
        char names[32] = "";
        const char *want = identity;
        if (clash[i] != 0) {
            struct dm_error ierr = {0};
            if (dm_offer_feed_identity(offers[i].feed, offers[i].supplier_stone_id, &own, &ierr) !=
                DM_OK)
                continue; /* cannot be split: stays where it is */
            want = own.key;
            if (dm_offer_clash_names(clash[i], names, sizeof(names)) != DM_OK)
                names[0] = '\0';
        }
        if (strcmp(want, listed) == 0 && strcmp(names, had) == 0)
            continue;
        if (clash[i] != 0 && strcmp(identity, listed) == 0)
            cnt->split++;
        else if (clash[i] == 0)
            cnt->merged++;
        e = move(m, PQgetvalue(r, row, 0), listed, want, names);
        if (e == DM_OK && cnt->written)
            e = dm_pgarray_add(cnt->written, PQgetvalue(r, row, 0));
    }
    return e;
}

static enum dm_err resolve_clashes(struct dm_db_conn *c, const struct dm_listing_policy *p,
                                   const char *identity_keys, struct moves *m,
                                   struct dm_listing_counts *cnt, struct dm_error *err)
{
    PGresult *r = NULL;
    const char *params[1] = {identity_keys};
    enum dm_err e = dm_db_exec(c, OFFERS_SQL, 1, params, &r, err);
    if (e != DM_OK)
        return e;
    int n = PQntuples(r);
    struct dm_offer *offers = n > 0 ? dm_xcalloc((size_t)n, sizeof(*offers)) : NULL;
    unsigned *clash = n > 0 ? dm_xcalloc((size_t)n, sizeof(*clash)) : NULL;
    for (int lo = 0; e == DM_OK && lo < n;) {
        int hi = lo + 1;
        while (hi < n && strcmp(PQgetvalue(r, hi, 1), PQgetvalue(r, lo, 1)) == 0)
            hi++;
        e = resolve_group(r, lo, hi, p, offers, clash, m, cnt, err);
        lo = hi;
    }
    free(offers);
    free(clash);
    PQclear(r);
    if (e != DM_OK && err->message[0] == '\0')
        return dm_error_set(err, e, "listing refresh: too many offers for one batch");
    return e;
}

enum dm_err dm_listings_refresh(struct dm_db_conn *c, const struct dm_listing_policy *p,
                                const char *identity_keys, const char *listing_keys,
                                struct dm_listing_counts *counts, struct dm_error *err)
{
    struct dm_listing_counts local = {0};
    struct dm_listing_counts *cnt = counts ? counts : &local;
    struct moves m = {0};
    struct dm_buf *bufs[] = {&m.ids, &m.keys, &m.lids, &m.clashes, &m.touched};
    enum dm_err e = DM_OK;
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        dm_buf_init(bufs[i], (size_t)1 << 28);
        if (e == DM_OK)
            e = dm_buf_append_char(bufs[i], '{');
    }
    bool have_ids = identity_keys && strcmp(identity_keys, "{}") != 0;
    if (e == DM_OK && have_ids)
        e = resolve_clashes(c, p, identity_keys, &m, cnt, err);
    for (size_t i = 0; e == DM_OK && i < sizeof(bufs) / sizeof(bufs[0]); i++)
        e = dm_buf_append_char(bufs[i], '}');
    if (e == DM_OK && m.n > 0) {
        const char *mp[4] = {m.ids.data, m.keys.data, m.lids.data, m.clashes.data};
        e = dm_db_exec(c, MOVE_SQL, 4, mp, NULL, err);
    }
    if (e == DM_OK)
        e = recompute(c, p, identity_keys, listing_keys, m.touched.data, cnt, err);
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        dm_buf_free(bufs[i]);
    return e;
}

enum dm_err dm_listings_refresh_ids(struct dm_db_conn *c, const struct dm_listing_policy *p,
                                    const char *ids, struct dm_error *err)
{
    PGresult *r = NULL;
    const char *params[1] = {ids};
    enum dm_err e = dm_db_exec(c,
                               "SELECT coalesce(array_agg(DISTINCT identity_key) "
                               "FILTER (WHERE identity_key IS NOT NULL), '{}')::text, "
                               "coalesce(array_agg(DISTINCT listing_key), '{}')::text "
                               "FROM diamonds WHERE id = ANY($1::uuid[])",
                               1, params, &r, err);
    if (e == DM_OK)
        e = dm_listings_refresh(c, p, dm_db_get(r, 0, 0), dm_db_get(r, 0, 1), NULL, err);
    PQclear(r);
    return e;
}

enum dm_err dm_listings_lock(struct dm_db_conn *c, struct dm_error *err)
{
    /* One key for the whole catalogue ("dmls"): a refresh is short, and one lock keeps the
     * lock table small whatever the number of listings touched. */
    return dm_db_exec(c, "SELECT pg_advisory_xact_lock(1684892787)", 0, NULL, NULL, err);
}

enum dm_err dm_listings_lock_shared(struct dm_db_conn *c, struct dm_error *err)
{
    return dm_db_exec(c, "SELECT pg_advisory_xact_lock_shared(1684892787)", 0, NULL, NULL, err);
}

enum dm_err dm_listings_keys_shared(struct dm_db_conn *c, const char *keys, PGresult **out,
                                    struct dm_error *err)
{
    const char *params[1] = {keys};
    /* One probe of the listing key index per key, stopping at the second offer. */
    return dm_db_exec(c,
                      "SELECT coalesce(array_agg(k.key), '{}')::text FROM unnest($1::text[]) "
                      "AS k(key) WHERE (SELECT count(*) FROM (SELECT 1 FROM diamonds d "
                      "WHERE d.listing_key = k.key LIMIT 2) o) > 1",
                      1, params, out, err);
}

enum dm_err dm_listings_keys_in_use(struct dm_db_conn *c, const char *keys, PGresult **out,
                                    struct dm_error *err)
{
    const char *params[1] = {keys};
    /* A chosen offer that is no longer active (written by hand) still holds its key in the
     * unique index until a refresh clears it. One index probe per key (a correlated subquery is
     * never turned into a join): written as `listing_key = ANY($1) AND (active OR chosen)` the
     * planner scanned every active row of the catalogue for each batch (41 ms a batch at
     * 100,000 stones, growing with the catalogue). */
    return dm_db_exec(c,
                      "SELECT k.key FROM unnest($1::text[]) AS k(key) "
                      "WHERE (SELECT true FROM diamonds d WHERE d.listing_key = k.key "
                      "AND (d.status = 'active' OR d.chosen) LIMIT 1)",
                      1, params, out, err);
}

/* ---- backfill ---- */

static const char TODO_SQL[] =
    "SELECT id::text, feed, supplier_stone_id, certificate_lab, certificate_number, listing_key "
    "FROM diamonds WHERE identity_key IS NULL LIMIT $1 FOR UPDATE SKIP LOCKED";
/* A row moving to another key stops being chosen until the refresh below chooses again. */
static const char IDENTIFY_SQL[] =
    "UPDATE diamonds d SET identity_key = u.ik, listing_key = u.ik, listing_id = u.lid::uuid, "
    "clash_fields = NULL, chosen = d.chosen AND d.listing_key = u.ik "
    "FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(id, ik, lid) WHERE d.id = u.id";

static enum dm_err backfill_chunk(struct dm_db_conn *c, const struct dm_listing_policy *p,
                                  int chunk, int *n, struct dm_error *err)
{
    PGresult *r = NULL;
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", chunk);
    const char *lp[1] = {limit};
    struct dm_buf ids, iks, lids, old;
    struct dm_buf *bufs[] = {&ids, &iks, &lids, &old};
    *n = 0;
    enum dm_err e = dm_db_begin(c, err);
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        dm_buf_init(bufs[i], (size_t)1 << 28);
        if (e == DM_OK)
            e = dm_buf_append_char(bufs[i], '{');
    }
    if (e == DM_OK)
        e = dm_listings_lock(c, err);
    if (e == DM_OK)
        e = dm_db_exec(c, TODO_SQL, 1, lp, &r, err);
    for (int i = 0; e == DM_OK && i < PQntuples(r); i++) {
        struct dm_stone_identity id;
        struct dm_error ierr = {0};
        const char *listed = PQgetvalue(r, i, 5);
        const char *key = listed; /* an offer whose ids cannot make a key keeps the one it has */
        if (dm_offer_identity(PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                              PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3),
                              PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4), &id,
                              &ierr) == DM_OK)
            key = id.key;
        char lid[DM_UUID_LEN];
        dm_offer_listing_id(key, lid);
        e = dm_pgarray_add(&ids, PQgetvalue(r, i, 0));
        if (e == DM_OK)
            e = dm_pgarray_add(&iks, key);
        if (e == DM_OK)
            e = dm_pgarray_add(&lids, lid);
        if (e == DM_OK)
            e = dm_pgarray_add(&old, listed);
    }
    *n = r ? PQntuples(r) : 0;
    for (size_t i = 0; e == DM_OK && i < sizeof(bufs) / sizeof(bufs[0]); i++)
        e = dm_buf_append_char(bufs[i], '}');
    if (e == DM_OK && *n > 0) {
        const char *up[3] = {ids.data, iks.data, lids.data};
        e = dm_db_exec(c, IDENTIFY_SQL, 3, up, NULL, err);
    }
    if (e == DM_OK && *n > 0)
        e = dm_listings_refresh(c, p, iks.data, old.data, NULL, err);
    if (e == DM_OK)
        e = dm_db_commit(c, err);
    else
        dm_db_rollback(c);
    PQclear(r);
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        dm_buf_free(bufs[i]);
    return e;
}

enum dm_err dm_listings_backfill(struct dm_db *db, const struct dm_listing_policy *p, int chunk,
                                 int64_t *done, struct dm_error *err)
{
    struct dm_db_conn *c = NULL;
    if (done)
        *done = 0;
    enum dm_err e = dm_db_acquire(db, 30000, &c, err);
    if (e != DM_OK)
        return e;
    for (;;) {
        int n = 0;
        e = backfill_chunk(c, p, chunk > 0 ? chunk : 5000, &n, err);
        if (e != DM_OK || n == 0)
            break;
        if (done)
            *done += n;
    }
    dm_db_release(c);
    return e;
}
