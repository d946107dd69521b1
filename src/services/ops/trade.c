/* trade.c - hold and purchase through the supplier (see trade.h). */
#include "services/ops/trade.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/pgarray.h"
#include "core/timeutil.h"

/* A pending purchase older than this that nobody holds was orphaned by a crash: a live owner
 * holds the row lock from just after recording the attempt until it settles it, supplier call
 * included, so an unlocked pending row is only ever that young while its owner lives. */
#define PURCHASE_ORPHAN_AFTER "2 minutes"

static void answer_error(struct dm_trade_answer *out, int http, const char *code, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

static void answer_error(struct dm_trade_answer *out, int http, const char *code, const char *fmt,
                         ...)
{
    out->http = http;
    out->body = NULL;
    out->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
}

static void answer_no_supplier(struct dm_trade_answer *out, const char *feed)
{
    answer_error(out, 503, "SERVICE_UNAVAILABLE",
                 "Supplier trading is not configured for feed %s (its endpoint and credentials: "
                 "NIVODA_* or FEED_<ID>_*)",
                 feed);
}

static void answer_data(struct dm_trade_answer *out, json_t *data)
{
    out->http = 200;
    out->body = json_pack("{s:o}", "data", data);
}

/* ---- listings ---- */

/* The offer a request names (trade.h): its own id, or a listing id's chosen offer. */
#define OFFER_OF_SQL "(d.id = $1 OR (d.listing_id = $1 AND d.chosen)) AND d.status = 'active'"

static const struct dm_listing_policy *policy_of(const struct dm_listing_policy *p,
                                                 struct dm_listing_policy *def)
{
    if (p != NULL)
        return p;
    dm_listing_policy_from_config(NULL, def);
    return def;
}

/* The opened supplier of feed, or NULL when the API has none for it. */
static struct dm_feed *supplier_of(const struct dm_trade_suppliers *s, const char *feed)
{
    for (int i = 0; s != NULL && i < s->n; i++)
        if (strcmp(dm_feed_id(s->feed[i]), feed) == 0)
            return s->feed[i];
    return NULL;
}

/* Whether a supplier takes orders through an API (a file feed does not). */
static bool takes_orders(const struct dm_feed *f)
{
    return !dm_feed_snapshot(dm_feed_conf(f));
}

/* Recompute the chosen offer of offer id's listing (its availability changed), in a
 * transaction of its own after the trade's record committed: under the listings lock, taken
 * while this connection holds no row (store/listings.h), so it never meets a consolidation
 * batch's refresh half-way. Recording the trade first means a lost race here can never undo a
 * hold or an order the supplier has placed; the listing then keeps its choice until the next
 * refresh of its key, and the failure is logged. */
static void refresh_listing(struct dm_db_conn *conn, const struct dm_listing_policy *p,
                            const char *id, const struct dm_log_ctx *log)
{
    struct dm_listing_policy def;
    char arr[DM_UUID_LEN + 2];
    snprintf(arr, sizeof(arr), "{%s}", id);
    struct dm_error err = {0};
    enum dm_err e = DM_OK;
    for (int attempt = 1; attempt <= 3; attempt++) {
        memset(&err, 0, sizeof(err));
        e = dm_db_begin(conn, &err);
        if (e == DM_OK)
            e = dm_listings_lock(conn, &err);
        if (e == DM_OK)
            e = dm_listings_refresh_ids(conn, policy_of(p, &def), arr, &err);
        if (e == DM_OK)
            e = dm_db_commit(conn, &err);
        else
            dm_db_rollback(conn);
        if (e == DM_OK || (strcmp(err.sqlstate, "23505") && strcmp(err.sqlstate, "40P01")))
            break;
    }
    if (e != DM_OK)
        dm_warn(log, "listing of %s not chosen again after its trade: %s", id, err.message);
}

/* The 409 body for an offer whose feed takes no orders through an API: the reason and the
 * listing's other available offers from feeds that do. */
static enum dm_err no_api_body(struct dm_db_conn *conn, const struct dm_trade_suppliers *suppliers,
                               const char *id, const char *feed, const char *reason, json_t **out,
                               struct dm_error *err)
{
    /* The feeds that take orders, as a text[] literal. */
    const char *ids[DM_FEEDS_MAX];
    size_t n = 0;
    for (int i = 0; suppliers != NULL && i < suppliers->n && n < DM_FEEDS_MAX; i++)
        if (takes_orders(suppliers->feed[i]))
            ids[n++] = dm_feed_id(suppliers->feed[i]);
    struct dm_buf feeds;
    dm_buf_init(&feeds, (size_t)64 * 1024);
    enum dm_err e = dm_pgarray_encode(&feeds, ids, n);
    if (e != DM_OK) {
        dm_buf_free(&feeds);
        return dm_error_set(err, e, "409 body: too many feeds");
    }
    const char *p[2] = {id, feeds.data};
    PGresult *r = NULL;
    e = dm_db_exec(
        conn,
        "SELECT coalesce(json_agg(json_build_object('id', a.id, 'listingId', a.listing_id, "
        "'feed', a.feed, 'supplierStoneId', a.supplier_stone_id, 'retailPrice', a.retail_price, "
        "'availability', a.availability) ORDER BY a.retail_price, a.feed COLLATE \"C\", "
        "a.supplier_stone_id COLLATE \"C\"), '[]')::text "
        "FROM diamonds d JOIN diamonds a ON a.listing_key = d.listing_key AND a.id <> d.id "
        "WHERE d.id = $1 AND a.status = 'active' AND a.availability = 'available' "
        "AND a.feed = ANY($2::text[])",
        2, p, &r, err);
    dm_buf_free(&feeds);
    if (e != DM_OK)
        return e;
    json_t *alts = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    *out = json_pack("{s:{s:s,s:s,s:s,s:o}}", "error", "code", "CONFLICT", "message", reason,
                     "feed", feed, "alternatives", alts ? alts : json_array());
    return DM_OK;
}

static enum dm_err answer_no_api(struct dm_db_conn *conn,
                                 const struct dm_trade_suppliers *suppliers, const char *id,
                                 const char *feed, const char *reason, struct dm_trade_answer *out,
                                 struct dm_error *err)
{
    json_t *b = NULL;
    enum dm_err e = no_api_body(conn, suppliers, id, feed, reason, &b, err);
    if (e != DM_OK)
        return e;
    out->http = 409;
    out->body = b;
    return DM_OK;
}

/* ---- hold ---- */

/* A supplier hold id we can store and refer to: 1..127 printable ASCII characters (the
 * client's buffer truncates longer ones, so 127 is treated as too long). */
static bool valid_hold_id(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if ((unsigned char)id[n] < 0x21 || (unsigned char)id[n] > 0x7e)
            return false;
    return n > 0 && n < sizeof(((struct dm_feed_hold *)0)->id) - 1;
}

/* Record a hold attempt that placed nothing (status 'failed', error) and commit. */
static enum dm_err record_failed_hold(struct dm_db_conn *conn, const struct dm_hold_request *req,
                                      const char *offer, const char *error, struct dm_error *err)
{
    const char *p[5] = {req->diamond_id, req->client, offer, error, req->caller};
    enum dm_err e = dm_db_exec(conn,
                               "INSERT INTO hold_history (diamond_id, client, offer_id, status, "
                               "error_message, caller) VALUES ($1, $2, $3, 'failed', $4, $5)",
                               5, p, NULL, err);
    if (e == DM_OK)
        e = dm_db_commit(conn, err);
    return e;
}

/* The supplier placed hold h: record it, mark the stone on hold, commit and answer. */
static enum dm_err record_placed_hold(struct dm_db_conn *conn, const struct dm_hold_request *req,
                                      const char *offer, const struct dm_feed_hold *h,
                                      const struct dm_log_ctx *log, struct dm_trade_answer *out,
                                      struct dm_error *err)
{
    const char *id = req->diamond_id;
    char until[DM_ISO_LEN] = "";
    char note[160] = "";
    if (h->until[0]) {
        int64_t until_ms = 0;
        if (dm_time_parse(h->until, &until_ms) == DM_OK) {
            dm_time_format(until_ms, until);
        } else {
            snprintf(note, sizeof(note), "supplier sent an invalid hold end (until); kept none");
            dm_warn(log, "supplier hold %s for %s: invalid until ignored", h->id, id);
        }
    }
    const char *p[7] = {id,          req->client,          offer, h->id, until[0] ? until : NULL,
                        req->caller, note[0] ? note : NULL};
    PGresult *r = NULL;
    enum dm_err e = dm_db_exec(conn,
                               "INSERT INTO hold_history (diamond_id, client, offer_id, "
                               "supplier_hold_id, hold_until, status, caller, error_message) "
                               "VALUES ($1, $2, $3, $4, $5::timestamptz, 'placed', $6, $7) "
                               "RETURNING id::text",
                               7, p, &r, err);
    if (e == DM_OK) {
        const char *pu[2] = {id, h->id};
        e = dm_db_exec(conn,
                       "UPDATE diamonds SET availability = 'on_hold', hold_id = $2, "
                       "updated_at = now() WHERE id = $1",
                       2, pu, NULL, err);
    }
    if (e == DM_OK)
        e = dm_db_commit(conn, err);
    if (e != DM_OK) {
        dm_error(log, "hold %s placed at the supplier but not recorded: %s", h->id, err->message);
        PQclear(r);
        return e;
    }
    refresh_listing(conn, req->listing, id, log);
    json_t *d = json_pack("{s:s,s:b,s:s,s:s}", "diamondId", id, "denied", 0, "holdId", h->id,
                          "historyId", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (until[0])
        json_object_set_new(d, "until", json_string(until));
    answer_data(out, d);
    out->changed = true;
    return DM_OK;
}

enum dm_err dm_trade_hold(struct dm_db_conn *conn, const struct dm_trade_suppliers *suppliers,
                          const struct dm_hold_request *request, const struct dm_log_ctx *log,
                          struct dm_trade_answer *out, struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    PGresult *r = NULL;
    const char *p1[1] = {request->diamond_id};
    enum dm_err e = dm_db_begin(conn, err);
    if (e == DM_OK)
        e = dm_db_exec(conn,
                       "SELECT d.offer_id, d.availability, d.id::text, d.feed FROM diamonds d "
                       "WHERE " OFFER_OF_SQL " LIMIT 1 FOR UPDATE",
                       1, p1, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 0) {
        PQclear(r);
        answer_error(out, 404, "NOT_FOUND", "Diamond not found");
        return DM_OK;
    }
    if (strcmp(PQgetvalue(r, 0, 1), "available")) {
        answer_error(out, 409, "CONFLICT", "Diamond is not available (%s)", PQgetvalue(r, 0, 1));
        PQclear(r);
        return DM_OK;
    }
    /* From here on the offer traded is the one resolved. */
    char offer[256], oid[DM_UUID_LEN], feed[DM_OFFER_FEED_MAX];
    snprintf(offer, sizeof(offer), "%s", PQgetvalue(r, 0, 0));
    snprintf(oid, sizeof(oid), "%s", PQgetvalue(r, 0, 2));
    snprintf(feed, sizeof(feed), "%s", PQgetvalue(r, 0, 3));
    struct dm_hold_request resolved = *request;
    resolved.diamond_id = oid;
    const struct dm_hold_request *req = &resolved;
    const char *id = oid;
    PQclear(r);
    r = NULL;
    struct dm_feed *supplier = supplier_of(suppliers, feed);
    if (supplier == NULL) {
        answer_no_supplier(out, feed);
        return DM_OK;
    }
    char reason[160];
    if (!takes_orders(supplier)) {
        snprintf(reason, sizeof(reason), "feed %s takes no orders through an API", feed);
        return answer_no_api(conn, suppliers, id, feed, reason, out, err);
    }
    struct dm_feed_hold h;
    memset(&h, 0, sizeof(h));
    struct dm_error serr = {0};
    enum dm_err he = dm_feed_hold(supplier, offer, &h, &serr);
    if (he == DM_ERR_CONFLICT)
        return answer_no_api(conn, suppliers, id, feed, serr.message, out, err);
    if (he != DM_OK) {
        /* The answer is 502 whether or not the attempt could be recorded. */
        struct dm_error rerr = {0};
        (void)record_failed_hold(conn, req, offer, serr.message, &rerr);
        dm_warn(log, "supplier hold failed for %s: %s", id, serr.message);
        answer_error(out, 502, "BAD_GATEWAY", "Supplier hold failed");
        return DM_OK;
    }
    if (h.denied) {
        const char *p[4] = {id, req->client, offer, req->caller};
        e = dm_db_exec(conn,
                       "INSERT INTO hold_history (diamond_id, client, offer_id, denied, status, "
                       "caller) VALUES ($1, $2, $3, true, 'denied', $4) RETURNING id::text",
                       4, p, &r, err);
        if (e == DM_OK)
            e = dm_db_commit(conn, err);
        if (e != DM_OK) {
            PQclear(r);
            return e;
        }
        answer_data(out, json_pack("{s:s,s:b,s:n,s:s}", "diamondId", id, "denied", 1, "holdId",
                                   "historyId", PQgetvalue(r, 0, 0)));
        PQclear(r);
        return DM_OK;
    }
    if (!valid_hold_id(h.id)) {
        struct dm_error rerr = {0};
        if (record_failed_hold(conn, req, offer,
                               "supplier answered a placed hold without a usable hold id",
                               &rerr) != DM_OK)
            dm_error(log, "hold answer without id for %s not recorded: %s", id, rerr.message);
        dm_warn(log, "supplier hold for %s answered without a usable hold id", id);
        answer_error(out, 502, "BAD_GATEWAY", "Supplier hold answer was invalid");
        return DM_OK;
    }
    return record_placed_hold(conn, req, offer, &h, log, out, err);
}

/* ---- purchase ---- */

static json_t *error_body(const char *code, const char *message)
{
    return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
}

/* The answer stored with an earlier request {"status":N,"body":{...}}, replayed. */
static enum dm_err answer_replay(struct dm_trade_answer *out, const char *stored,
                                 struct dm_error *err)
{
    json_t *j = json_loads(stored ? stored : "", 0, NULL);
    json_t *st = json_object_get(j, "status");
    json_t *body = json_object_get(j, "body");
    if (!json_is_integer(st) || body == NULL) {
        json_decref(j);
        return dm_error_set(err, DM_ERR_INTERNAL, "stored purchase answer cannot be read");
    }
    out->http = (int)json_integer_value(st);
    out->body = json_incref(body);
    out->replayed = true;
    json_decref(j);
    return DM_OK;
}

/* Record the final answer of our pending purchase (not committed). */
static enum dm_err settle(struct dm_db_conn *conn, const char *purchase_id, const char *status,
                          const char *order_id, const char *supplier_status, const char *error,
                          int http, json_t *body, struct dm_error *err)
{
    json_t *stored = json_pack("{s:i,s:O}", "status", http, "body", body);
    char *text = dm_json_dumps(stored);
    json_decref(stored);
    const char *p[6] = {purchase_id, status, order_id, supplier_status, error, text};
    enum dm_err e = dm_db_exec(conn,
                               "UPDATE purchase_history SET status = $2, supplier_order_id = $3, "
                               "supplier_status = $4, error_message = $5, response = $6::jsonb, "
                               "updated_at = now() WHERE id = $1",
                               6, p, NULL, err);
    free(text);
    return e;
}

/* Settle our pending purchase as failed (error recorded) with the answer http
 * {"error":{code,message}} and commit; that is the answer. */
static enum dm_err settle_failed(struct dm_db_conn *conn, const char *purchase_id,
                                 const char *error, int http, const char *code, const char *message,
                                 struct dm_trade_answer *out, struct dm_error *err)
{
    json_t *b = error_body(code, message);
    enum dm_err e = settle(conn, purchase_id, "failed", NULL, NULL, error, http, b, err);
    if (e == DM_OK)
        e = dm_db_commit(conn, err);
    if (e != DM_OK) {
        json_decref(b);
        return e;
    }
    out->http = http;
    out->body = b;
    return DM_OK;
}

/* The purchase rule for a stone on hold (trade.h). Fills msg with the 409 message when the
 * caller may not buy the stone, else msg[0] = '\0'. */
static enum dm_err held_for_another(struct dm_db_conn *conn, const struct dm_purchase_request *req,
                                    const char *id, char *msg, size_t size, struct dm_error *err)
{
    msg[0] = '\0';
    if (req->admin)
        return DM_OK;
    const char *p[1] = {id};
    PGresult *r = NULL;
    enum dm_err e =
        dm_db_exec(conn,
                   "SELECT h.caller, to_char(h.hold_until AT TIME ZONE 'UTC', "
                   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), COALESCE(h.hold_until <= now(), false) "
                   "FROM diamonds d LEFT JOIN LATERAL (SELECT caller, hold_until FROM hold_history "
                   "WHERE diamond_id = d.id AND status = 'placed' AND supplier_hold_id = d.hold_id "
                   "ORDER BY created_at DESC LIMIT 1) h ON true "
                   "WHERE d.id = $1 AND d.availability = 'on_hold'",
                   1, p, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 1) {
        const char *holder = dm_db_get(r, 0, 0);
        const char *until = dm_db_get(r, 0, 1);
        bool over = PQgetvalue(r, 0, 2)[0] == 't';
        if (!over && (holder == NULL || strcmp(holder, req->caller))) {
            if (until)
                snprintf(msg, size, "Diamond is on hold for another client until %s", until);
            else
                snprintf(msg, size,
                         "Diamond is on hold for another client; the hold's end is not known");
        }
    }
    PQclear(r);
    return DM_OK;
}

/* Outcome of looking at the idempotency key and the stone before recording an attempt. */
enum claim { CLAIM_OWNED, CLAIM_ANSWERED, CLAIM_AGAIN };

/* One look: an existing row for the key is replayed, refused or waited for; otherwise the
 * stone is checked and a pending row inserted. CLAIM_OWNED fills purchase_id. */
static enum dm_err claim_key(struct dm_db_conn *conn, const struct dm_trade_suppliers *suppliers,
                             const struct dm_purchase_request *req, const struct dm_log_ctx *log,
                             int64_t deadline, char purchase_id[DM_UUID_LEN], char oid[DM_UUID_LEN],
                             enum claim *claim, struct dm_trade_answer *out, struct dm_error *err)
{
    const char *id = req->diamond_id;
    const char *pk[2] = {req->caller, req->idempotency_key};
    PGresult *r = NULL;
    *claim = CLAIM_ANSWERED;
    /* FOR SHARE waits while the owner holds the row for its supplier call. */
    enum dm_err e =
        dm_db_exec(conn,
                   "SELECT caller, diamond_id::text, request_hash, status, "
                   "response::text, created_at < now() - interval '" PURCHASE_ORPHAN_AFTER
                   "' FROM purchase_history WHERE caller = $1 AND idempotency_key = $2 "
                   "FOR SHARE",
                   2, pk, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) > 0) {
        /* The request hash binds the id the request named (a listing id resolves to an offer
         * that may differ after a takeover, so the stored offer id is not compared). */
        if (strcmp(PQgetvalue(r, 0, 0), req->caller) ||
            strcmp(PQgetvalue(r, 0, 2), req->request_hash)) {
            answer_error(out, 409, "CONFLICT",
                         "X-Idempotency-Key was already used for a different request");
        } else if (strcmp(PQgetvalue(r, 0, 3), "pending")) {
            e = answer_replay(out, dm_db_get(r, 0, 4), err);
        } else if (PQgetvalue(r, 0, 5)[0] == 't') {
            /* Pending, unlocked (FOR SHARE did not wait) and old: the request that owned it
             * died between recording the attempt and settling it, so whether the supplier
             * order was placed is unknown. Retrying could buy twice; say so at once. */
            dm_error(log,
                     "purchase with idempotency key %s for %s was interrupted; its supplier "
                     "outcome is unknown and needs an operator (docs/operations.md)",
                     req->idempotency_key, id);
            answer_error(out, 409, "CONFLICT",
                         "An earlier purchase with this key was interrupted and its outcome at "
                         "the supplier is unknown; contact support before retrying");
        } else if (dm_mono_ms() > deadline) {
            answer_error(out, 409, "CONFLICT", "A purchase with this key is still in progress");
        } else {
            dm_sleep_ms(20, NULL);
            *claim = CLAIM_AGAIN;
        }
        PQclear(r);
        return e;
    }
    PQclear(r);
    r = NULL;
    const char *pd[1] = {id};
    e = dm_db_exec(conn,
                   "SELECT d.availability, d.id::text, d.feed FROM diamonds d WHERE " OFFER_OF_SQL
                   " LIMIT 1",
                   1, pd, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 0) {
        PQclear(r);
        answer_error(out, 404, "NOT_FOUND", "Diamond not found");
        return DM_OK;
    }
    const char *av = PQgetvalue(r, 0, 0);
    bool sold = !strcmp(av, "sold");
    bool unavailable = sold || (strcmp(av, "available") && strcmp(av, "on_hold"));
    char feed[DM_OFFER_FEED_MAX];
    snprintf(oid, DM_UUID_LEN, "%s", PQgetvalue(r, 0, 1));
    snprintf(feed, sizeof(feed), "%s", PQgetvalue(r, 0, 2));
    id = oid;
    PQclear(r);
    r = NULL;
    if (unavailable) {
        /* A concurrent duplicate may have bought it with this very key since the key was
         * looked up: then its stored result is the answer, not "already sold". */
        e = dm_db_exec(conn,
                       "SELECT 1 FROM purchase_history WHERE caller = $1 AND idempotency_key = $2",
                       2, pk, &r, err);
        if (e != DM_OK)
            return e;
        bool keyed = PQntuples(r) > 0;
        PQclear(r);
        r = NULL;
        if (keyed) {
            *claim = CLAIM_AGAIN;
            return DM_OK;
        }
        answer_error(out, 409, "CONFLICT",
                     sold ? "Diamond is already sold" : "Diamond is not available");
        return DM_OK;
    }
    char held[200];
    e = held_for_another(conn, req, id, held, sizeof(held), err);
    if (e != DM_OK)
        return e;
    if (held[0]) {
        answer_error(out, 409, "CONFLICT", "%s", held);
        return DM_OK;
    }
    struct dm_feed *supplier = supplier_of(suppliers, feed);
    if (supplier == NULL) {
        answer_no_supplier(out, feed);
        return DM_OK;
    }
    if (!takes_orders(supplier)) {
        char reason[160];
        snprintf(reason, sizeof(reason), "feed %s takes no orders through an API", feed);
        return answer_no_api(conn, suppliers, id, feed, reason, out, err);
    }
    const char *pi[5] = {req->idempotency_key, req->client, id, req->request_hash, req->caller};
    e = dm_db_exec(conn,
                   "INSERT INTO purchase_history (idempotency_key, client, diamond_id, "
                   "request_hash, status, caller) VALUES ($1, $2, $3, $4, 'pending', $5) "
                   "ON CONFLICT (caller, idempotency_key) DO NOTHING RETURNING id::text",
                   5, pi, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 1) {
        snprintf(purchase_id, DM_UUID_LEN, "%s", PQgetvalue(r, 0, 0));
        *claim = CLAIM_OWNED;
    } else {
        *claim = CLAIM_AGAIN; /* another request inserted it first: read its state */
    }
    PQclear(r);
    return DM_OK;
}

/* We own the pending row purchase_id: lock it (duplicates wait on it), then the stone; check
 * again, order from the supplier and settle. */
static enum dm_err place_order(struct dm_db_conn *conn, const struct dm_trade_suppliers *suppliers,
                               const struct dm_purchase_request *req, const char *purchase_id,
                               const char *id, const struct dm_log_ctx *log,
                               struct dm_trade_answer *out, struct dm_error *err)
{
    const char *pp[1] = {purchase_id};
    const char *pd[1] = {id};
    PGresult *r = NULL;
    enum dm_err e = dm_db_begin(conn, err);
    if (e == DM_OK)
        e = dm_db_exec(conn, "SELECT 1 FROM purchase_history WHERE id = $1 FOR UPDATE", 1, pp, NULL,
                       err);
    if (e == DM_OK)
        e = dm_db_exec(conn,
                       "SELECT offer_id, availability, feed FROM diamonds WHERE id = $1 FOR UPDATE",
                       1, pd, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return dm_error_set(err, DM_ERR_INTERNAL, "diamond %s vanished during its purchase", id);
    }
    char offer[256], feed[DM_OFFER_FEED_MAX];
    snprintf(offer, sizeof(offer), "%s", PQgetvalue(r, 0, 0));
    snprintf(feed, sizeof(feed), "%s", PQgetvalue(r, 0, 2));
    bool sold = !strcmp(PQgetvalue(r, 0, 1), "sold");
    PQclear(r);
    r = NULL;
    if (sold)
        return settle_failed(conn, purchase_id, "diamond already sold", 409, "CONFLICT",
                             "Diamond is already sold", out, err);
    /* Again under the stone's lock: a hold placed since the first check counts. */
    char held[200];
    e = held_for_another(conn, req, id, held, sizeof(held), err);
    if (e != DM_OK)
        return e;
    if (held[0])
        return settle_failed(conn, purchase_id, "diamond on hold for another client", 409,
                             "CONFLICT", held, out, err);
    /* claim_key checked the offer's feed has a supplier; the offer's feed never changes. */
    struct dm_feed *supplier = supplier_of(suppliers, feed);
    if (supplier == NULL)
        return dm_error_set(err, DM_ERR_INTERNAL, "no supplier for feed %s during a purchase",
                            feed);
    struct dm_feed_order_req oreq = {offer, req->destination_id, req->reference, req->comments,
                                     req->return_option};
    struct dm_feed_order ord;
    memset(&ord, 0, sizeof(ord));
    struct dm_error serr = {0};
    enum dm_err oe = dm_feed_order(supplier, &oreq, &ord, &serr);
    if (oe == DM_ERR_CONFLICT) {
        json_t *nb = NULL;
        e = no_api_body(conn, suppliers, id, feed, serr.message, &nb, err);
        if (e == DM_OK)
            e = settle(conn, purchase_id, "failed", NULL, NULL, serr.message, 409, nb, err);
        if (e == DM_OK)
            e = dm_db_commit(conn, err);
        if (e != DM_OK) {
            json_decref(nb);
            return e;
        }
        out->http = 409;
        out->body = nb;
        return DM_OK;
    }
    if (oe != DM_OK) {
        dm_warn(log, "supplier order failed for %s: %s", id, serr.message);
        return settle_failed(conn, purchase_id, serr.message, 502, "BAD_GATEWAY",
                             "Supplier order failed", out, err);
    }
    json_t *b =
        json_pack("{s:{s:s,s:s,s:s,s:s,s:s}}", "data", "purchaseId", purchase_id, "diamondId", id,
                  "orderId", ord.id, "status", "completed", "supplierStatus", ord.status);
    e = settle(conn, purchase_id, "completed", ord.id, ord.status, NULL, 200, b, err);
    if (e == DM_OK)
        e = dm_db_exec(conn,
                       "UPDATE diamonds SET availability = 'sold', updated_at = now() "
                       "WHERE id = $1",
                       1, pd, NULL, err);
    if (e == DM_OK)
        e = dm_db_commit(conn, err);
    if (e != DM_OK) {
        dm_error(log, "order %s placed at the supplier but not recorded: %s", ord.id, err->message);
        json_decref(b);
        return e;
    }
    /* Sold: the listing's next best offer takes over. */
    refresh_listing(conn, req->listing, id, log);
    out->http = 200;
    out->body = b;
    out->changed = true;
    return DM_OK;
}

enum dm_err dm_trade_purchase(struct dm_db_conn *conn, const struct dm_trade_suppliers *suppliers,
                              const struct dm_purchase_request *req, const struct dm_log_ctx *log,
                              struct dm_trade_answer *out, struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    char purchase_id[DM_UUID_LEN] = "", oid[DM_UUID_LEN] = "";
    int64_t deadline = dm_mono_ms() + 60000;
    enum claim claim = CLAIM_AGAIN;
    while (claim == CLAIM_AGAIN) {
        enum dm_err e =
            claim_key(conn, suppliers, req, log, deadline, purchase_id, oid, &claim, out, err);
        if (e != DM_OK)
            return e;
    }
    if (claim == CLAIM_ANSWERED)
        return DM_OK;
    return place_order(conn, suppliers, req, purchase_id, oid, log, out, err);
}
