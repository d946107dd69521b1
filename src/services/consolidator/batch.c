/*
 * batch.c - one consolidation batch, in one transaction: claim raw rows (row locks taken with
 * FOR UPDATE SKIP LOCKED), map and price them, COPY new stones straight into diamonds and
 * changed ones into a TEMP staging table for one guarded upsert, mark the rows done / failed
 * where the payload hash is still the claimed one, and add the batch's counts to the run's
 * stats. Commit makes all of it visible at once; any failure or crash rolls all of it back and
 * the rows are claimable again.
 */
#include <stdlib.h>
#include <string.h>

#include "adapters/db/feed_sql.h"
#include "adapters/feed/feed.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/failpoint.h"
#include "core/log.h"
#include "core/num.h"
#include "core/pgarray.h"
#include "core/timeutil.h"
#include "domain/mapping.h"
#include "domain/offer.h"
#include "services/consolidator/consolidator.h"
#include "store/runs.h"

#define STAGE "pg_temp.dm_consol_stage"

/* Claims are row locks held by the batch's one transaction (FOR UPDATE SKIP LOCKED): peers skip
 * the rows, the consolidator's death (its connection closes) or a rollback makes them claimable
 * at once, and a consolidator hung inside its transaction loses them after
 * DM_CLAIM_TIMEOUT_S (idle_in_transaction_session_timeout). Each raw row is rewritten once,
 * pending -> done, in the transaction that writes its diamond: no separate claim write (the
 * ~1.8 kB row was rewritten twice, each time with an entry in every index of the table).
 * Pending rows first, else `processing` rows whose durable claim (written by an earlier
 * version of the consolidator) expired. Each is one plain index scan on the partial claim
 * index that stops after LIMIT rows. The stored state of the stone comes along, so unchanged
 * and new stones are recognised without another round trip: "STATE#CS#KEY", C 't' when the
 * offer is chosen, S 't' when another offer is listed under its key KEY (one probe of the
 * listing key index). */
#define CLAIM_COLUMNS                                                                              \
    "SELECT r.id, r.payload_hash, r.payload, (SELECT d.status || '|' || d.content_hash || "        \
    "'|' || d.price_per_carat || '|' || d.retail_price || '|' || d.markup_ratio || '|' || "        \
    "coalesce(d.rating::text, '') || '|' || coalesce(d.pricing_rule_id::text, '') || "             \
    "'#' || CASE WHEN d.chosen THEN 't' ELSE 'f' END || CASE WHEN EXISTS (SELECT 1 FROM "          \
    "diamonds o WHERE o.listing_key = d.listing_key AND o.id <> d.id) THEN 't' ELSE 'f' END || "   \
    "'#' || d.listing_key "                                                                        \
    "FROM diamonds d WHERE d.feed = {feed} AND d.supplier_stone_id = r.supplier_stone_id), "       \
    "r.ctid FROM {raw} r "
static const char *CLAIM_PENDING_SQL =
    CLAIM_COLUMNS "WHERE r.consolidation_status = 'pending' LIMIT $1 FOR UPDATE OF r SKIP LOCKED";
static const char *CLAIM_EXPIRED_SQL = CLAIM_COLUMNS
    "WHERE r.consolidation_status = 'processing' "
    "AND r.claimed_at < now() - make_interval(secs => $2) LIMIT $1 FOR UPDATE OF r SKIP LOCKED";

/* The listing columns each written row carries after the mapped ones (store/listings.h): the
 * offer's identity, the key it is listed under (its identity; a clash split is the refresh's
 * business) and that key's listing id. */
#define LISTING_COLUMNS "identity_key, listing_key, listing_id"

/* Same columns and types as diamonds; rows vanish at commit. */
static const char *STAGE_SQL =
    "CREATE TEMP TABLE dm_consol_stage ON COMMIT DELETE ROWS AS SELECT " DM_DIAMOND_COPY_COLUMNS
    ", " LISTING_COLUMNS " FROM diamonds WITH NO DATA";

static const char *UPSERT_SQL =
    "WITH up AS (INSERT INTO diamonds (" DM_DIAMOND_COPY_COLUMNS ", " LISTING_COLUMNS
    ", last_run_id) SELECT " DM_DIAMOND_COPY_COLUMNS ", " LISTING_COLUMNS ", $1::uuid FROM " STAGE
    " ORDER BY supplier_stone_id "
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
    "updated_at = now(), "
    /* Same identity: stays listed where it is (a clash split included) and keeps its choice
     * until the refresh; another identity: moves, and is chosen again by the refresh. */
    "listing_key = CASE WHEN diamonds.identity_key IS NOT DISTINCT FROM EXCLUDED.identity_key "
    "THEN diamonds.listing_key ELSE EXCLUDED.listing_key END, "
    "listing_id = CASE WHEN diamonds.identity_key IS NOT DISTINCT FROM EXCLUDED.identity_key "
    "THEN diamonds.listing_id ELSE EXCLUDED.listing_id END, "
    "clash_fields = CASE WHEN diamonds.identity_key IS NOT DISTINCT FROM EXCLUDED.identity_key "
    "THEN diamonds.clash_fields END, "
    "chosen = diamonds.chosen AND diamonds.identity_key IS NOT DISTINCT FROM "
    "EXCLUDED.identity_key, identity_key = EXCLUDED.identity_key "
    "WHERE diamonds.content_hash IS DISTINCT FROM EXCLUDED.content_hash "
    "OR diamonds.status = 'deleted' "
    "OR diamonds.retail_price IS DISTINCT FROM EXCLUDED.retail_price "
    "OR diamonds.price_per_carat IS DISTINCT FROM EXCLUDED.price_per_carat "
    "OR diamonds.markup_ratio IS DISTINCT FROM EXCLUDED.markup_ratio "
    "OR diamonds.rating IS DISTINCT FROM EXCLUDED.rating "
    "OR diamonds.pricing_rule_id IS DISTINCT FROM EXCLUDED.pricing_rule_id "
    "OR diamonds.identity_key IS DISTINCT FROM EXCLUDED.identity_key "
    "RETURNING (xmax = 0) AS inserted) "
    "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up";

/* The batch's rows are still locked by this transaction, so only this transaction can have
 * changed them since the claim (the row version at the claimed ctid is then no longer visible:
 * such a row, e.g. rewritten by a trigger, stays pending). The hash is checked all the same. */
static const char *DONE_SQL =
    "UPDATE {raw} r SET consolidation_status = 'done', claim_token = NULL, "
    "claimed_at = NULL, consolidation_error = NULL "
    "FROM unnest($1::tid[], $2::text[]) AS u(t, h) "
    "WHERE r.ctid = u.t AND r.payload_hash = u.h "
    "AND r.consolidation_status IN ('pending', 'processing')";

static const char *FAILED_SQL =
    "UPDATE {raw} r SET consolidation_status = 'failed', claim_token = NULL, "
    "claimed_at = NULL, consolidation_error = u.reason "
    "FROM unnest($1::tid[], $2::text[], $3::text[]) AS u(t, h, reason) "
    "WHERE r.ctid = u.t AND r.payload_hash = u.h "
    "AND r.consolidation_status IN ('pending', 'processing')";

/* Stones the catalogue did not have at the claim go straight into diamonds (COPY: batched heap
 * inserts, no staging copy, no speculative insertion). Nobody else inserts a stone whose raw
 * row this transaction holds locked; should one exist all the same (SQLSTATE 23505), the batch
 * is rolled back and redone through the upsert. */
#define FRESH_COPY_SQL                                                                             \
    "COPY diamonds (" DM_DIAMOND_COPY_COLUMNS ", " LISTING_COLUMNS ", chosen, last_run_id) "       \
    "FROM STDIN"
#define STAGE_COPY_SQL                                                                             \
    "COPY " STAGE " (" DM_DIAMOND_COPY_COLUMNS ", " LISTING_COLUMNS ") FROM STDIN"

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

/* COPY data into the staging table over the raw connection. */
static enum dm_err copy_in(struct dm_db_conn *c, const char *sql, const char *data, size_t len,
                           struct dm_error *err)
{
    PGconn *pg = dm_db_pg(c);
    enum dm_err e = DM_OK;
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        e = dm_error_set(err, st ? dm_db_map_sqlstate(st) : DM_ERR_DB_RETRY, "COPY: %s",
                         PQerrorMessage(pg));
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

/* A new stone of the batch: its identity and where its `chosen` value sits in the COPY data. */
struct fresh_ref {
    char *key;
    size_t pos;
    bool shared; /* another offer is (or is being) listed under key: the refresh chooses */
};

/* Buffers of one batch. refresh_keys / refresh_old: the identities and former listing keys
 * whose listings the batch's writes may change (store/listings.h dm_listings_refresh).
 * solo_keys: the keys of changed offers that were, at the claim, the chosen and only offer of
 * their listing under their own identity: such a listing needs no choice (checked again under
 * the listings lock, see solo_check). */
struct batch_bufs {
    struct dm_buf fresh, copy, line, done_tids, done_hashes, fail_tids, fail_hashes, fail_reasons;
    struct dm_buf refresh_keys, refresh_old, solo_keys;
    struct fresh_ref *fr;
    size_t nfr, capfr;
    int64_t nrefresh, nsolo;
};

static void bufs_init(struct batch_bufs *b)
{
    dm_buf_init(&b->fresh, (size_t)1 << 30);
    dm_buf_init(&b->copy, (size_t)1 << 30);
    dm_buf_init(&b->line, (size_t)1 << 24);
    dm_buf_init(&b->done_tids, (size_t)1 << 28);
    dm_buf_init(&b->done_hashes, (size_t)1 << 28);
    dm_buf_init(&b->fail_tids, (size_t)1 << 28);
    dm_buf_init(&b->fail_hashes, (size_t)1 << 28);
    dm_buf_init(&b->fail_reasons, (size_t)1 << 28);
    dm_buf_init(&b->refresh_keys, (size_t)1 << 28);
    dm_buf_init(&b->refresh_old, (size_t)1 << 28);
    dm_buf_init(&b->solo_keys, (size_t)1 << 28);
    b->fr = NULL;
    b->nfr = b->capfr = 0;
    b->nrefresh = b->nsolo = 0;
}

static void bufs_free(struct batch_bufs *b)
{
    dm_buf_free(&b->fresh);
    dm_buf_free(&b->copy);
    dm_buf_free(&b->line);
    dm_buf_free(&b->done_tids);
    dm_buf_free(&b->done_hashes);
    dm_buf_free(&b->fail_tids);
    dm_buf_free(&b->fail_hashes);
    dm_buf_free(&b->fail_reasons);
    dm_buf_free(&b->refresh_keys);
    dm_buf_free(&b->refresh_old);
    dm_buf_free(&b->solo_keys);
    for (size_t i = 0; i < b->nfr; i++)
        free(b->fr[i].key);
    free(b->fr);
}

/* Begin the batch transaction and claim up to batch_size rows (pending, else expired). */
static enum dm_err claim(struct dm_consolidator *cs, struct dm_db_conn *c, const char *feed,
                         PGresult **claimed, struct dm_error *err)
{
    char limit[16], timeout[16], setting[64];
    snprintf(limit, sizeof(limit), "%d", cs->batch_size);
    snprintf(timeout, sizeof(timeout), "%d", DM_CLAIM_TIMEOUT_S);
    /* A consolidator hung inside its transaction gives its rows back after the claim timeout. */
    snprintf(setting, sizeof(setting), "SET LOCAL idle_in_transaction_session_timeout = '%ds'",
             DM_CLAIM_TIMEOUT_S);
    const char *cp[] = {limit, timeout};
    enum dm_err e = dm_db_begin(c, err);
    if (e == DM_OK)
        e = dm_db_exec(c, setting, 0, NULL, NULL, err);
    /* Small statements: JIT compilation would cost more than it saves. The partial claim
     * index finds the few pending rows among many done ones. */
    if (e == DM_OK)
        e = dm_db_exec(c, "SET LOCAL jit = off", 0, NULL, NULL, err);
    if (e == DM_OK)
        e = dm_db_exec(c, "SET LOCAL enable_seqscan = off", 0, NULL, NULL, err);
    if (e == DM_OK)
        e = dm_db_exec(c, "SET LOCAL enable_bitmapscan = off", 0, NULL, NULL, err);
    if (e == DM_OK)
        e = dm_feed_exec(c, CLAIM_PENDING_SQL, feed, 1, cp, claimed, err);
    if (e == DM_OK && PQntuples(*claimed) == 0) {
        PQclear(*claimed);
        *claimed = NULL;
        e = dm_feed_exec(c, CLAIM_EXPIRED_SQL, feed, 2, cp, claimed, err);
    }
    if (e == DM_OK)
        e = dm_db_exec(c, "RESET enable_seqscan", 0, NULL, NULL, err);
    if (e == DM_OK)
        e = dm_db_exec(c, "RESET enable_bitmapscan", 0, NULL, NULL, err);
    return e;
}

/* Under the listings lock: the batch's solo keys (struct batch_bufs) that have another offer
 * now, as a text[] literal in *lost (malloc'd), or NULL when none has. Under the exclusive lock
 * the caller refreshes them; under the shared lock it cannot, and runs the batch again (its
 * claim then sees them shared). */
static enum dm_err solo_check(struct dm_db_conn *c, struct batch_bufs *b, char **lost,
                              struct dm_error *err)
{
    *lost = NULL;
    PGresult *r = NULL;
    enum dm_err e = dm_listings_keys_shared(c, b->solo_keys.data, &r, err);
    if (e == DM_OK && strcmp(dm_db_get(r, 0, 0), "{}") != 0)
        *lost = dm_xstrdup(dm_db_get(r, 0, 0));
    PQclear(r);
    return e;
}

/* Counts of one attempt. */
struct attempt {
    int64_t mapped, failed, skipped, fresh, staged;
};

/* Append the listing columns of a row listed under its identity key to a COPY line. */
static enum dm_err listing_columns(struct dm_buf *line, const char *key)
{
    char lid[DM_UUID_LEN];
    dm_offer_listing_id(key, lid);
    enum dm_err e = dm_buf_append_char(line, '\t');
    if (e == DM_OK)
        e = dm_copy_append_text(line, key);
    if (e == DM_OK)
        e = dm_buf_append_char(line, '\t');
    if (e == DM_OK)
        e = dm_copy_append_text(line, key);
    if (e == DM_OK)
        e = dm_buf_appendf(line, "\t%s", lid);
    return e;
}

static void fresh_add(struct batch_bufs *b, const char *key, size_t pos)
{
    if (b->nfr == b->capfr) {
        b->capfr = b->capfr ? b->capfr * 2 : 256;
        b->fr = dm_xrealloc(b->fr, b->capfr * sizeof(*b->fr));
    }
    b->fr[b->nfr++] = (struct fresh_ref){.key = dm_xstrdup(key), .pos = pos};
}

static int fresh_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fresh_ref *)a)->key, ((const struct fresh_ref *)b)->key);
}

/* Decide `chosen` of the batch's new stones: an identity nobody is listed under yet and no
 * other new stone of the batch shares is its own listing, chosen at once (a first load writes
 * each row once). The others are left unchosen for the refresh. */
static enum dm_err decide_fresh(struct dm_db_conn *c, struct batch_bufs *b, struct dm_error *err)
{
    if (b->nfr == 0)
        return DM_OK;
    qsort(b->fr, b->nfr, sizeof(*b->fr), fresh_cmp);
    struct dm_buf keys;
    dm_buf_init(&keys, (size_t)1 << 28);
    enum dm_err e = dm_buf_append_char(&keys, '{');
    for (size_t i = 0; e == DM_OK && i < b->nfr; i++) {
        bool dup_prev = i > 0 && strcmp(b->fr[i].key, b->fr[i - 1].key) == 0;
        bool dup_next = i + 1 < b->nfr && strcmp(b->fr[i].key, b->fr[i + 1].key) == 0;
        b->fr[i].shared = dup_prev || dup_next;
        if (!dup_prev)
            e = dm_pgarray_add(&keys, b->fr[i].key);
    }
    if (e == DM_OK)
        e = dm_buf_append_char(&keys, '}');
    if (e != DM_OK) {
        dm_buf_free(&keys);
        return dm_error_set(err, e, "batch buffers exceeded");
    }
    PGresult *r = NULL;
    e = dm_listings_keys_in_use(c, keys.data, &r, err);
    dm_buf_free(&keys);
    for (int i = 0; e == DM_OK && i < PQntuples(r); i++) {
        struct fresh_ref probe = {.key = PQgetvalue(r, i, 0)};
        struct fresh_ref *hit = bsearch(&probe, b->fr, b->nfr, sizeof(*b->fr), fresh_cmp);
        if (hit == NULL)
            continue;
        while (hit > b->fr && strcmp(hit[-1].key, probe.key) == 0)
            hit--;
        for (; hit < b->fr + b->nfr && strcmp(hit->key, probe.key) == 0; hit++)
            hit->shared = true;
    }
    PQclear(r);
    for (size_t i = 0; e == DM_OK && i < b->nfr; i++) {
        if (!b->fr[i].shared) {
            b->fresh.data[b->fr[i].pos] = 't';
            continue;
        }
        e = dm_pgarray_add(&b->refresh_keys, b->fr[i].key);
        b->nrefresh++;
    }
    return e;
}

/* Map and price the claimed rows into the batch buffers. upsert_only: new stones are staged
 * too (after a 23505 on the direct COPY). */
static enum dm_err map_rows(const struct dm_config *cfg, PGresult *claimed, const char *run_id,
                            const char *feed, const struct dm_pricing_rule *rules, size_t nrules,
                            bool upsert_only, struct batch_bufs *b, struct attempt *a,
                            const struct dm_log_ctx *ctx)
{
    enum dm_err e = DM_OK;
    int n = PQntuples(claimed);
    struct dm_buf *arrays[] = {&b->done_tids, &b->done_hashes,  &b->fail_tids,    &b->fail_hashes,
                               &b->solo_keys, &b->fail_reasons, &b->refresh_keys, &b->refresh_old};
    for (size_t k = 0; k < sizeof(arrays) / sizeof(arrays[0]) && e == DM_OK; k++)
        e = dm_buf_append_char(arrays[k], '{');
    for (int i = 0; i < n && e == DM_OK; i++) {
        const char *id = dm_db_get(claimed, i, 0);
        const char *hash = dm_db_get(claimed, i, 1);
        const char *payload = dm_db_get(claimed, i, 2);
        const char *stored = dm_db_get(claimed, i, 3);
        const char *tid = dm_db_get(claimed, i, 4);
        struct dm_diamond d;
        struct dm_error merr = {0};
        enum dm_err me =
            dm_feed_map(cfg, feed, payload, (size_t)PQgetlength(claimed, i, 2), &d, &merr);
        if (me == DM_OK && d.dropped_urls[0] != '\0')
            dm_warn(ctx, "stone %s: supplier URL field(s) %s dropped (not http(s) URLs)",
                    d.supplier_stone_id, d.dropped_urls);
        if (me == DM_OK) {
            me = dm_mapping_price(&d, rules, nrules, &merr);
            char chash[DM_SHA256_HEX_LEN];
            struct dm_stone_identity ident;
            dm_buf_reset(&b->line);
            if (me == DM_OK)
                me = dm_offer_identity_of(&d, &ident, &merr);
            if (me == DM_OK)
                me = dm_diamond_copy_line(&d, &b->line, chash);
            if (me == DM_OK && b->line.len > 0)
                b->line.len--; /* the '\n': the listing columns follow */
            if (me == DM_OK)
                e = listing_columns(&b->line, ident.key);
            if (e == DM_OK && me == DM_OK && stored == NULL && !upsert_only) {
                /* New: listed under its identity; chosen decided once the batch is mapped. */
                e = dm_buf_append(&b->fresh, b->line.data, b->line.len);
                if (e == DM_OK)
                    e = dm_buf_append_str(&b->fresh, "\tf\t");
                if (e == DM_OK)
                    fresh_add(b, ident.key, b->fresh.len - 2);
                if (e == DM_OK)
                    e = dm_buf_append_str(&b->fresh, run_id);
                if (e == DM_OK)
                    e = dm_buf_append_char(&b->fresh, '\n');
                a->fresh++;
            } else if (e == DM_OK && me == DM_OK) {
                char now[512] = "";
                const char *flags = stored ? strchr(stored, '#') : NULL;
                size_t slen = flags ? (size_t)(flags - stored) : (stored ? strlen(stored) : 0);
                /* "#CS#KEY": chosen, shared, the key it is listed under */
                const char *listed = flags && strlen(flags) >= 4 ? flags + 3 : NULL;
                bool solo = listed && flags[1] == 't' && flags[2] == 'f' &&
                            strcmp(listed + 1, ident.key) == 0;
                if (stored != NULL)
                    current_state(&d, chash, now, sizeof(now));
                if (stored != NULL && strlen(now) == slen && strncmp(now, stored, slen) == 0) {
                    a->skipped++; /* unchanged: nothing to write; still marked done below */
                } else {
                    e = dm_buf_append(&b->copy, b->line.data, b->line.len);
                    if (e == DM_OK)
                        e = dm_buf_append_char(&b->copy, '\n');
                    if (e == DM_OK && solo) {
                        e = dm_pgarray_add(&b->solo_keys, ident.key);
                        b->nsolo++;
                    } else {
                        if (e == DM_OK)
                            e = dm_pgarray_add(&b->refresh_keys, ident.key);
                        if (e == DM_OK && listed != NULL)
                            e = dm_pgarray_add(&b->refresh_old, listed + 1);
                        b->nrefresh++;
                    }
                    a->staged++;
                }
            }
            dm_diamond_free(&d);
        }
        if (e != DM_OK)
            break;
        if (me == DM_OK) {
            a->mapped++;
            e = dm_pgarray_add(&b->done_tids, tid);
            if (e == DM_OK)
                e = dm_pgarray_add(&b->done_hashes, hash);
        } else {
            a->failed++;
            dm_debug(ctx, "raw row %s failed to map: %s", id, merr.message);
            e = dm_pgarray_add(&b->fail_tids, tid);
            if (e == DM_OK)
                e = dm_pgarray_add(&b->fail_hashes, hash);
            if (e == DM_OK)
                e = dm_pgarray_add(&b->fail_reasons,
                                   merr.message[0] ? merr.message : dm_strerror(me));
        }
    }
    /* The refresh arrays stay open: decide_fresh adds to them. */
    for (size_t k = 0; k < sizeof(arrays) / sizeof(arrays[0]) - 2 && e == DM_OK; k++)
        e = dm_buf_append_char(arrays[k], '}');
    return e;
}

/* One attempt at a batch, in one transaction: claim, map, write, settle, count, commit. */
static enum dm_err attempt_batch(struct dm_consolidator *cs, struct dm_db_conn *c,
                                 const char *run_id, const char *feed,
                                 const struct dm_pricing_rule *rules, size_t nrules,
                                 bool upsert_only, struct dm_consol_stats *st, int *claimed_n,
                                 struct dm_error *err)
{
    PGresult *claimed = NULL, *r = NULL;
    struct batch_bufs b;
    bufs_init(&b);
    struct attempt a = {0};
    struct dm_log_ctx ctx = {.run_id = run_id};
    int64_t t0 = dm_mono_ms(), t_claim = 0, t_map = 0;
    char *lost_solo = NULL; /* solo keys that gained an offer since the claim (solo_check) */
    *claimed_n = 0;

    enum dm_err e = claim(cs, c, feed, &claimed, err);
    if (e != DM_OK)
        goto out;
    int n = PQntuples(claimed);
    *claimed_n = n;
    t_claim = dm_mono_ms();
    if (n == 0) {
        e = dm_db_commit(c, err);
        goto out;
    }
    /* One payload parsed at a time keeps memory flat. */
    e = map_rows(cs->cfg, claimed, run_id, feed, rules, nrules, upsert_only, &b, &a, &ctx);
    PQclear(claimed);
    claimed = NULL;
    if (e != DM_OK) {
        dm_error_set(err, e, "batch buffers exceeded");
        goto out;
    }
    e = decide_fresh(c, &b, err);
    if (e == DM_OK)
        e = dm_buf_append_char(&b.refresh_keys, '}');
    if (e == DM_OK)
        e = dm_buf_append_char(&b.refresh_old, '}');
    if (e != DM_OK)
        goto out;
    t_map = dm_mono_ms();
    dm_failpoint("consolidator.batch_write");

    int64_t inserted = 0, changed = 0;
    if (a.fresh > 0) {
        e = copy_in(c, FRESH_COPY_SQL, b.fresh.data, b.fresh.len, err);
        inserted = a.fresh;
    }
    /* A batch whose listings need choosing takes the listings lock before it changes a row
     * other transactions can see (store/listings.h): refreshes never interleave, and one
     * waiting holds no committed diamonds row another holder may need. Its new stones go in
     * first, outside the lock, so concurrent batches copy at once: rows not yet committed are
     * invisible to the holder's refresh, which neither reads nor waits for them. New stones of
     * new identities alone (a first load) need no lock at all. A batch whose changed offers
     * are each the chosen and only offer of their listing (solo keys: most of a single feed's
     * changes) has no choice to make: it takes the lock shared, so such batches run at once,
     * and checks under it that no listing gained an offer since the claim (solo_check). */
    if (e == DM_OK && b.nrefresh > 0)
        e = dm_listings_lock(c, err);
    else if (e == DM_OK && b.nsolo > 0)
        e = dm_listings_lock_shared(c, err);
    if (e == DM_OK && b.nsolo > 0)
        e = solo_check(c, &b, &lost_solo, err);
    if (e == DM_OK && lost_solo != NULL && b.nrefresh == 0) {
        /* Retried by dm_consolidator_batch like a serialization failure. */
        e = dm_error_set(err, DM_ERR_DB_RETRY, "a listing gained an offer during the batch");
        snprintf(err->sqlstate, sizeof(err->sqlstate), "40001");
    }
    if (e == DM_OK && a.staged > 0) {
        e = ensure_stage(c, err);
        if (e == DM_OK)
            e = copy_in(c, STAGE_COPY_SQL, b.copy.data, b.copy.len, err);
        const char *up[] = {run_id};
        if (e == DM_OK)
            e = dm_db_exec(c, UPSERT_SQL, 1, up, &r, err);
        if (e == DM_OK) {
            struct dm_db_row rd = DM_DB_ROW(r, 0);
            inserted += dm_db_row_i64_or(&rd, 0, 0);
            changed = dm_db_row_i64_or(&rd, 1, 0);
            e = dm_db_row_check(&rd, "upsert counts", err);
        }
        PQclear(r);
        r = NULL;
    }
    /* The listings the batch touched: clashes, then the chosen offers (store/listings.h). */
    if (e == DM_OK && b.nrefresh > 0)
        e = dm_listings_refresh(c, &cs->listing, b.refresh_keys.data, b.refresh_old.data, NULL,
                                err);
    if (e == DM_OK && lost_solo != NULL)
        e = dm_listings_refresh(c, &cs->listing, lost_solo, NULL, NULL, err);
    if (e == DM_OK && a.mapped > 0) {
        const char *dp[] = {b.done_tids.data, b.done_hashes.data};
        e = dm_feed_exec(c, DONE_SQL, feed, 2, dp, NULL, err);
    }
    if (e == DM_OK && a.failed > 0) {
        const char *fp[] = {b.fail_tids.data, b.fail_hashes.data, b.fail_reasons.data};
        e = dm_feed_exec(c, FAILED_SQL, feed, 3, fp, NULL, err);
    }
    /* Last, so the run row is locked only briefly (concurrent batches add to it too). */
    struct dm_runs_batch_stats bs = {.processed = n,
                                     .inserted = inserted,
                                     .changed = changed,
                                     .unchanged = a.mapped - inserted - changed,
                                     .failed = a.failed};
    if (e == DM_OK)
        e = dm_runs_add_batch_stats(c, run_id, &bs, err);
    if (e == DM_OK)
        e = dm_db_commit(c, err);
    if (e == DM_OK) {
        st->processed += n;
        st->inserted += inserted;
        st->changed += changed;
        st->unchanged += a.mapped - inserted - changed;
        st->failed += a.failed;
        dm_debug(&ctx,
                 "batch of %d: %lld new, %lld changed, %lld unchanged, %lld failed; claim %lld "
                 "ms, map %lld ms, write %lld ms",
                 n, (long long)inserted, (long long)changed,
                 (long long)(a.mapped - inserted - changed), (long long)a.failed,
                 (long long)(t_claim - t0), (long long)(t_map - t_claim),
                 (long long)(dm_mono_ms() - t_map));
    }
out:
    if (e != DM_OK)
        dm_db_rollback(c); /* the claim (row locks) goes with it: the rows are pending again */
    PQclear(claimed);
    bufs_free(&b);
    free(lost_solo);
    return e;
}

enum dm_err dm_consolidator_batch(struct dm_consolidator *cs, const char *run_id, const char *feed,
                                  const struct dm_pricing_rule *rules, size_t nrules,
                                  struct dm_consol_stats *st, int *claimed, struct dm_error *err)
{
    struct dm_db_conn *c = NULL;
    *claimed = 0;
    enum dm_err e = dm_db_acquire(cs->db, 30000, &c, err);
    if (e != DM_OK)
        return e;
    e = attempt_batch(cs, c, run_id, feed, rules, nrules, false, st, claimed, err);
    if (e != DM_OK && !strcmp(err->sqlstate, "23505")) {
        dm_warn(&(struct dm_log_ctx){.run_id = run_id},
                "a new stone was already in the catalogue, or its listing was chosen at once by "
                "another batch (%s): batch redone as an upsert",
                err->message);
        memset(err, 0, sizeof(*err));
        e = attempt_batch(cs, c, run_id, feed, rules, nrules, true, st, claimed, err);
    }
    /* Listings chosen by two transactions at once (a unique violation on the chosen offer, a
     * deadlock with a trade or a reprice slice): the batch was rolled back; run it again. */
    for (int again = 0; again < 5 && e != DM_OK &&
                        (!strcmp(err->sqlstate, "23505") || !strcmp(err->sqlstate, "40P01") ||
                         !strcmp(err->sqlstate, "40001"));
         again++) {
        dm_info(&(struct dm_log_ctx){.run_id = run_id}, "batch rolled back (%s): run again",
                err->message);
        memset(err, 0, sizeof(*err));
        dm_sleep_ms((int64_t)20 * (again + 1), NULL);
        e = attempt_batch(cs, c, run_id, feed, rules, nrules, true, st, claimed, err);
    }
    dm_db_release(c);
    return e;
}
