/*
 * batch.c - one consolidation batch: claim raw rows (FOR UPDATE SKIP LOCKED, claim token),
 * map and price them, COPY into a TEMP staging table, one guarded upsert into diamonds, then
 * mark done / failed only the rows whose claim token and payload hash are still ours, and add
 * the batch's counts to the run's stats, all in one transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "domain/mapping.h"
#include "services/consolidator/consolidator.h"

#define STAGE "pg_temp.dm_consol_stage"

/* Claims: pending rows first, else processing rows whose claim expired (their consolidator
 * died). Each is one plain index scan on the partial claim index that stops after LIMIT rows;
 * an OR of both would become a bitmap scan reading every pending entry for each batch, which
 * is quadratic over a large run. */
#define CLAIM_RETURNING                                                                            \
    " RETURNING r.id, r.payload_hash, r.payload, (SELECT d.status || '|' || d.content_hash || "    \
    "'|' || d.price_per_carat || '|' || d.retail_price || '|' || d.markup_ratio || '|' || "        \
    "coalesce(d.rating::text, '') || '|' || coalesce(d.pricing_rule_id::text, '') "                \
    "FROM diamonds d WHERE d.feed = 'nivoda' AND d.supplier_stone_id = r.supplier_stone_id)"
static const char *CLAIM_PENDING_SQL =
    "UPDATE raw_diamonds_nivoda r SET consolidation_status = 'processing', claim_token = $1, "
    "claimed_at = now() FROM (SELECT id FROM raw_diamonds_nivoda "
    "WHERE consolidation_status = 'pending' LIMIT $2 FOR UPDATE SKIP LOCKED) c "
    "WHERE r.id = c.id" CLAIM_RETURNING;
static const char *CLAIM_EXPIRED_SQL =
    "UPDATE raw_diamonds_nivoda r SET consolidation_status = 'processing', claim_token = $1, "
    "claimed_at = now() FROM (SELECT id FROM raw_diamonds_nivoda "
    "WHERE consolidation_status = 'processing' AND claimed_at < now() - make_interval(secs => $3) "
    "LIMIT $2 FOR UPDATE SKIP LOCKED) c WHERE r.id = c.id" CLAIM_RETURNING;

/* Same columns and types as diamonds; rows vanish at commit. */
static const char *STAGE_SQL =
    "CREATE TEMP TABLE dm_consol_stage ON COMMIT DELETE ROWS AS SELECT " DM_DIAMOND_COPY_COLUMNS
    " FROM diamonds WITH NO DATA";

static const char *UPSERT_SQL =
    "WITH up AS (INSERT INTO diamonds (" DM_DIAMOND_COPY_COLUMNS ", last_run_id) "
    "SELECT " DM_DIAMOND_COPY_COLUMNS ", $1::uuid FROM " STAGE " ORDER BY supplier_stone_id "
    "ON CONFLICT (feed, supplier_stone_id) DO UPDATE SET "
    "offer_id = EXCLUDED.offer_id, shape = EXCLUDED.shape, carats = EXCLUDED.carats, "
    "color = EXCLUDED.color, clarity = EXCLUDED.clarity, cut = EXCLUDED.cut, "
    "polish = EXCLUDED.polish, symmetry = EXCLUDED.symmetry, "
    "fluorescence = EXCLUDED.fluorescence, lab_grown = EXCLUDED.lab_grown, "
    "treated = EXCLUDED.treated, feed_price = EXCLUDED.feed_price, "
    "availability = EXCLUDED.availability, raw_availability = EXCLUDED.raw_availability, "
    "hold_id = EXCLUDED.hold_id, image_url = EXCLUDED.image_url, "
    "video_url = EXCLUDED.video_url, certificate_lab = EXCLUDED.certificate_lab, "
    "certificate_number = EXCLUDED.certificate_number, "
    "certificate_pdf_url = EXCLUDED.certificate_pdf_url, "
    "measurements = EXCLUDED.measurements, attributes = EXCLUDED.attributes, "
    "supplier_name = EXCLUDED.supplier_name, "
    "supplier_legal_name = EXCLUDED.supplier_legal_name, "
    "price_per_carat = EXCLUDED.price_per_carat, retail_price = EXCLUDED.retail_price, "
    "markup_ratio = EXCLUDED.markup_ratio, rating = EXCLUDED.rating, "
    "pricing_rule_id = EXCLUDED.pricing_rule_id, content_hash = EXCLUDED.content_hash, "
    "status = 'active', deleted_at = NULL, last_run_id = EXCLUDED.last_run_id, "
    "updated_at = now() "
    "WHERE diamonds.content_hash IS DISTINCT FROM EXCLUDED.content_hash "
    "OR diamonds.status = 'deleted' "
    "OR diamonds.retail_price IS DISTINCT FROM EXCLUDED.retail_price "
    "OR diamonds.price_per_carat IS DISTINCT FROM EXCLUDED.price_per_carat "
    "OR diamonds.markup_ratio IS DISTINCT FROM EXCLUDED.markup_ratio "
    "OR diamonds.rating IS DISTINCT FROM EXCLUDED.rating "
    "OR diamonds.pricing_rule_id IS DISTINCT FROM EXCLUDED.pricing_rule_id "
    "RETURNING (xmax = 0) AS inserted) "
    "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up";

static const char *DONE_SQL =
    "UPDATE raw_diamonds_nivoda r SET consolidation_status = 'done', claim_token = NULL, "
    "claimed_at = NULL, consolidation_error = NULL "
    "FROM unnest($1::uuid[], $2::text[]) AS u(id, h) "
    "WHERE r.id = u.id AND r.claim_token = $3 AND r.payload_hash = u.h "
    "AND r.consolidation_status = 'processing'";

static const char *FAILED_SQL =
    "UPDATE raw_diamonds_nivoda r SET consolidation_status = 'failed', claim_token = NULL, "
    "claimed_at = NULL, consolidation_error = u.reason "
    "FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(id, h, reason) "
    "WHERE r.id = u.id AND r.claim_token = $4 AND r.payload_hash = u.h "
    "AND r.consolidation_status = 'processing'";

static const char *STATS_SQL =
    "UPDATE run_metadata SET stats_processed = stats_processed + $2, "
    "stats_new = stats_new + $3, stats_changed = stats_changed + $4, "
    "stats_unchanged = stats_unchanged + $5, stats_failed = stats_failed + $6 "
    "WHERE run_id = $1";

/* The stored state of a diamond as the claim query renders it; equal means nothing to write. */
static void current_state(const struct dm_diamond *d, const char *hash, char *out, size_t size)
{
    char ppc[32], retail[32], markup[32], rating[16] = "";
    dm_format_fixed(d->price_per_carat_cents, 2, ppc, sizeof(ppc));
    dm_format_fixed(d->retail_price_cents, 2, retail, sizeof(retail));
    dm_format_fixed(d->markup_e4, 4, markup, sizeof(markup));
    if (d->rating > 0)
        snprintf(rating, sizeof(rating), "%d", d->rating);
    snprintf(out, size, "active|%s|%s|%s|%s|%s|%s", hash, ppc, retail, markup, rating,
             d->pricing_rule_id);
}

/* Append one element to a PostgreSQL array literal being built ("{" already there). */
static enum dm_err array_add(struct dm_buf *a, const char *s)
{
    enum dm_err e = DM_OK;
    if (a->len > 1)
        e = dm_buf_append_char(a, ',');
    if (e == DM_OK)
        e = dm_buf_append_char(a, '"');
    for (const char *p = s; e == DM_OK && *p; p++) {
        if (*p == '"' || *p == '\\')
            e = dm_buf_append_char(a, '\\');
        if (e == DM_OK)
            e = dm_buf_append_char(a, *p);
    }
    if (e == DM_OK)
        e = dm_buf_append_char(a, '"');
    return e;
}

/* COPY data into the staging table over the raw connection. */
static enum dm_err copy_in(struct dm_db_conn *c, const char *data, size_t len, struct dm_error *err)
{
    PGconn *pg = dm_db_pg(c);
    enum dm_err e = DM_OK;
    PGresult *r = PQexec(pg, "COPY " STAGE " (" DM_DIAMOND_COPY_COLUMNS ") FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        e = dm_error_set(err, st ? dm_db_map_sqlstate(st) : DM_ERR_DB_RETRY,
                         "COPY into staging: %s", PQerrorMessage(pg));
        PQclear(r);
        return e;
    }
    PQclear(r);
    if (len > 0 && PQputCopyData(pg, data, (int)len) != 1)
        e = dm_error_set(err, DM_ERR_DB_RETRY, "COPY data: %s", PQerrorMessage(pg));
    if (PQputCopyEnd(pg, e == DM_OK ? NULL : "aborted") != 1 && e == DM_OK)
        e = dm_error_set(err, DM_ERR_DB_RETRY, "COPY end: %s", PQerrorMessage(pg));
    while ((r = PQgetResult(pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && e == DM_OK) {
            const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            e = dm_error_set(err, st ? dm_db_map_sqlstate(st) : DM_ERR_DB, "COPY: %s",
                             PQresultErrorMessage(r));
            if (st)
                snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", st);
        }
        PQclear(r);
    }
    return e;
}

static enum dm_err ensure_stage(struct dm_db_conn *c, struct dm_error *err)
{
    PGresult *r = NULL;
    enum dm_err e = dm_db_exec(c, "SELECT to_regclass('" STAGE "') IS NOT NULL", 0, NULL, &r, err);
    if (e != DM_OK)
        return e;
    bool exists = PQntuples(r) == 1 && dm_db_get(r, 0, 0)[0] == 't';
    PQclear(r);
    if (exists)
        return DM_OK;
    return dm_db_exec(c, STAGE_SQL, 0, NULL, NULL, err);
}

static int64_t count_at(const PGresult *r, int col)
{
    const char *s = dm_db_get(r, 0, col);
    return s ? strtoll(s, NULL, 10) : 0;
}

enum dm_err dm_consolidator_batch(struct dm_consolidator *cs, const char *run_id,
                                  const struct dm_pricing_rule *rules, size_t nrules,
                                  struct dm_consol_stats *st, int *claimed, struct dm_error *err)
{
    struct dm_db_conn *c = NULL;
    PGresult *claim = NULL, *r = NULL;
    struct dm_buf copy, done_ids, done_hashes, fail_ids, fail_hashes, fail_reasons;
    dm_buf_init(&copy, (size_t)1 << 30);
    dm_buf_init(&done_ids, (size_t)1 << 28);
    dm_buf_init(&done_hashes, (size_t)1 << 28);
    dm_buf_init(&fail_ids, (size_t)1 << 28);
    dm_buf_init(&fail_hashes, (size_t)1 << 28);
    dm_buf_init(&fail_reasons, (size_t)1 << 28);
    char token[DM_UUID_LEN];
    dm_uuid_v4(token);
    *claimed = 0;
    int64_t mapped = 0, failed = 0, skipped = 0;
    struct dm_log_ctx ctx = {.run_id = run_id};

    int64_t t0 = dm_mono_ms(), t_claim = 0, t_map = 0;
    enum dm_err e = dm_db_acquire(cs->db, 30000, &c, err);
    if (e != DM_OK)
        goto out;

    /* 1. Claim, in its own short transaction, so peers skip these rows from now on. */
    char limit[16], timeout[16];
    snprintf(limit, sizeof(limit), "%d", cs->batch_size);
    snprintf(timeout, sizeof(timeout), "%d", DM_CLAIM_TIMEOUT_S);
    const char *cp[] = {token, limit, timeout};
    e = dm_db_begin(c, err);
    /* The partial claim index finds the few pending rows among many done ones. */
    if (e == DM_OK)
        e = dm_db_exec(c, "SET LOCAL enable_seqscan = off", 0, NULL, NULL, err);
    if (e == DM_OK)
        e = dm_db_exec(c, "SET LOCAL enable_bitmapscan = off", 0, NULL, NULL, err);
    if (e == DM_OK)
        e = dm_db_exec(c, CLAIM_PENDING_SQL, 2, cp, &claim, err);
    if (e == DM_OK && PQntuples(claim) == 0) {
        PQclear(claim);
        claim = NULL;
        e = dm_db_exec(c, CLAIM_EXPIRED_SQL, 3, cp, &claim, err);
    }
    if (e == DM_OK)
        e = dm_db_commit(c, err);
    else
        dm_db_rollback(c);
    if (e != DM_OK)
        goto out;
    int n = PQntuples(claim);
    *claimed = n;
    t_claim = dm_mono_ms();
    if (n == 0)
        goto out;

    /* 2. Map and price; one payload parsed at a time keeps memory flat. */
    e = dm_buf_append_char(&done_ids, '{');
    if (e == DM_OK)
        e = dm_buf_append_char(&done_hashes, '{');
    if (e == DM_OK)
        e = dm_buf_append_char(&fail_ids, '{');
    if (e == DM_OK)
        e = dm_buf_append_char(&fail_hashes, '{');
    if (e == DM_OK)
        e = dm_buf_append_char(&fail_reasons, '{');
    for (int i = 0; i < n && e == DM_OK; i++) {
        const char *id = dm_db_get(claim, i, 0);
        const char *hash = dm_db_get(claim, i, 1);
        const char *payload = dm_db_get(claim, i, 2);
        struct dm_diamond d;
        struct dm_error merr = {0};
        enum dm_err me = dm_mapping_map_text(payload, (size_t)PQgetlength(claim, i, 2), &d, &merr);
        if (me == DM_OK) {
            me = dm_mapping_price(&d, rules, nrules, &merr);
            size_t before = copy.len;
            char chash[DM_SHA256_HEX_LEN];
            if (me == DM_OK)
                me = dm_diamond_copy_line(&d, &copy, chash);
            const char *stored = dm_db_get(claim, i, 3);
            if (me == DM_OK && stored != NULL) {
                char now[512];
                current_state(&d, chash, now, sizeof(now));
                if (strcmp(now, stored) == 0) {
                    /* Unchanged: no need to stage it; it is still marked done below. */
                    copy.len = before;
                    copy.data[before] = '\0';
                    skipped++;
                }
            }
            dm_diamond_free(&d);
        }
        if (me == DM_OK) {
            mapped++;
            e = array_add(&done_ids, id);
            if (e == DM_OK)
                e = array_add(&done_hashes, hash);
        } else {
            failed++;
            dm_debug(&ctx, "raw row %s failed to map: %s", id, merr.message);
            e = array_add(&fail_ids, id);
            if (e == DM_OK)
                e = array_add(&fail_hashes, hash);
            if (e == DM_OK)
                e = array_add(&fail_reasons, merr.message[0] ? merr.message : dm_strerror(me));
        }
    }
    PQclear(claim);
    claim = NULL;
    if (e == DM_OK)
        e = dm_buf_append_char(&done_ids, '}');
    if (e == DM_OK)
        e = dm_buf_append_char(&done_hashes, '}');
    if (e == DM_OK)
        e = dm_buf_append_char(&fail_ids, '}');
    if (e == DM_OK)
        e = dm_buf_append_char(&fail_hashes, '}');
    if (e == DM_OK)
        e = dm_buf_append_char(&fail_reasons, '}');
    if (e != DM_OK) {
        dm_error_set(err, e, "batch buffers exceeded");
        goto release;
    }

    t_map = dm_mono_ms();
    /* 3. One transaction: stage, upsert, settle the raw rows, count. */
    int64_t inserted = 0, changed = 0;
    e = dm_db_begin(c, err);
    if (e == DM_OK && mapped > skipped) {
        e = ensure_stage(c, err);
        if (e == DM_OK)
            e = copy_in(c, copy.data, copy.len, err);
        const char *up[] = {run_id};
        if (e == DM_OK)
            e = dm_db_exec(c, UPSERT_SQL, 1, up, &r, err);
        if (e == DM_OK) {
            inserted = count_at(r, 0);
            changed = count_at(r, 1);
        }
        PQclear(r);
        r = NULL;
    }
    if (e == DM_OK && mapped > 0) {
        const char *dp[] = {done_ids.data, done_hashes.data, token};
        e = dm_db_exec(c, DONE_SQL, 3, dp, NULL, err);
    }
    if (e == DM_OK && failed > 0) {
        const char *fp[] = {fail_ids.data, fail_hashes.data, fail_reasons.data, token};
        e = dm_db_exec(c, FAILED_SQL, 4, fp, NULL, err);
    }
    char s_proc[24], s_new[24], s_chg[24], s_unch[24], s_fail[24];
    snprintf(s_proc, sizeof(s_proc), "%d", n);
    snprintf(s_new, sizeof(s_new), "%lld", (long long)inserted);
    snprintf(s_chg, sizeof(s_chg), "%lld", (long long)changed);
    snprintf(s_unch, sizeof(s_unch), "%lld", (long long)(mapped - inserted - changed));
    snprintf(s_fail, sizeof(s_fail), "%lld", (long long)failed);
    const char *sp[] = {run_id, s_proc, s_new, s_chg, s_unch, s_fail};
    if (e == DM_OK)
        e = dm_db_exec(c, STATS_SQL, 6, sp, NULL, err);
    if (e == DM_OK)
        e = dm_db_commit(c, err);
    else
        dm_db_rollback(c);
    if (e == DM_OK) {
        st->processed += n;
        st->inserted += inserted;
        st->changed += changed;
        st->unchanged += mapped - inserted - changed;
        st->failed += failed;
        int64_t t_end = dm_mono_ms();
        dm_debug(&ctx,
                 "batch of %d: %lld new, %lld changed, %lld failed; claim %lld ms, map %lld ms, "
                 "write %lld ms",
                 n, (long long)inserted, (long long)changed, (long long)failed,
                 (long long)(t_claim - t0), (long long)(t_map - t_claim),
                 (long long)(t_end - t_map));
        goto out;
    }
release:
    /* Give the claim back so a redelivery need not wait for it to expire. */
    {
        const char *rp[] = {token};
        struct dm_error rerr = {0};
        if (dm_db_exec(c,
                       "UPDATE raw_diamonds_nivoda SET consolidation_status = 'pending', "
                       "claim_token = NULL, claimed_at = NULL WHERE claim_token = $1 "
                       "AND consolidation_status = 'processing'",
                       1, rp, NULL, &rerr) != DM_OK)
            dm_warn(&ctx, "could not release claim %s: %s", token, rerr.message);
    }
out:
    PQclear(claim);
    if (c)
        dm_db_release(c);
    dm_buf_free(&copy);
    dm_buf_free(&done_ids);
    dm_buf_free(&done_hashes);
    dm_buf_free(&fail_ids);
    dm_buf_free(&fail_hashes);
    dm_buf_free(&fail_reasons);
    return e;
}
