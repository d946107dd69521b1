/*
 * diamonds.c - the trading routes: availability, hold (row lock so that concurrent holds make
 * one supplier call) and purchase (idempotency key unique per verified caller and bound to the
 * diamond and body; a committed pending row plus row locks make concurrent duplicates wait for
 * the one supplier order and replay its stored result). A stone on hold may be bought only by
 * the caller that placed the hold or by an admin until the hold ends. Hold and purchase run on
 * the HTTP server's deferral pool (router.c), never on an HTTP thread. What the supplier
 * answers is validated before it is stored, and a hold is recorded even when part of the
 * answer is unusable.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/feed/nivoda.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "services/api/api.h"

/* A pending purchase older than this that nobody holds was orphaned by a crash: a live owner
 * holds the row lock from just after recording the attempt until it settles it, supplier call
 * included, so an unlocked pending row is only ever that young while its owner lives. */
#define PURCHASE_ORPHAN_AFTER "2 minutes"

void api_diamond_availability(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "id", &id))
        return;
    const char *p[1] = {id};
    PGresult *r = NULL;
    if (!api_query_row(c,
                       "SELECT id, availability, hold_id, raw_availability, updated_at "
                       "FROM diamonds WHERE id = $1 AND status = 'active'",
                       1, p, &r, "Diamond not found"))
        return;
    json_t *d = api_row_json(r, 0);
    json_object_set_new(d, "available", json_boolean(!strcmp(PQgetvalue(r, 0, 1), "available")));
    PQclear(r);
    api_data(c, 200, d);
}

/* ---- hold ---- */

static bool supplier_ready(struct api_call *c)
{
    if (c->api->nivoda == NULL) {
        api_error(c, 503, "SERVICE_UNAVAILABLE",
                  "Supplier trading is not configured (NIVODA_ENDPOINT, NIVODA_USERNAME, "
                  "NIVODA_PASSWORD)",
                  NULL);
        return false;
    }
    return true;
}

/* A supplier hold id we can store and refer to: 1..127 printable ASCII characters (the
 * client's buffer truncates longer ones, so 127 is treated as too long). */
static bool valid_hold_id(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if ((unsigned char)id[n] < 0x21 || (unsigned char)id[n] > 0x7e)
            return false;
    return n > 0 && n < sizeof(((struct dm_nivoda_hold *)0)->id) - 1;
}

void api_diamond_hold(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "id", &id))
        return;
    struct dm_db_conn *conn = api_conn(c);
    if (conn == NULL)
        return;
    PGresult *r = NULL;
    struct dm_error err = {0};
    const char *p1[1] = {id};
    /* The row lock serialises concurrent holds: the second sees on_hold and gets 409. */
    if (!api_lock_row(c, conn,
                      "SELECT offer_id, availability FROM diamonds "
                      "WHERE id = $1 AND status = 'active' FOR UPDATE",
                      1, p1, &r, "Diamond not found"))
        goto out;
    if (strcmp(PQgetvalue(r, 0, 1), "available")) {
        char msg[128];
        snprintf(msg, sizeof(msg), "Diamond is not available (%s)", PQgetvalue(r, 0, 1));
        api_error(c, 409, "CONFLICT", msg, NULL);
        goto out;
    }
    if (!supplier_ready(c))
        goto out;
    char offer[256];
    snprintf(offer, sizeof(offer), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    struct dm_nivoda_hold h;
    memset(&h, 0, sizeof(h));
    struct dm_error serr = {0};
    enum dm_err se = dm_nivoda_hold(c->api->nivoda, offer, &h, &serr);
    enum dm_err e;
    if (se != DM_OK) {
        const char *p[5] = {id, c->client, offer, serr.message, c->caller};
        e = dm_db_exec(conn,
                       "INSERT INTO hold_history (diamond_id, client, offer_id, status, "
                       "error_message, caller) VALUES ($1, $2, $3, 'failed', $4, $5)",
                       5, p, NULL, &err);
        if (e == DM_OK)
            e = dm_db_commit(conn, &err);
        dm_warn(&c->log, "supplier hold failed for %s: %s", id, serr.message);
        api_error(c, 502, "BAD_GATEWAY", "Supplier hold failed", NULL);
        goto out;
    }
    if (h.denied) {
        const char *p[4] = {id, c->client, offer, c->caller};
        e = dm_db_exec(conn,
                       "INSERT INTO hold_history (diamond_id, client, offer_id, denied, status, "
                       "caller) VALUES ($1, $2, $3, true, 'denied', $4) RETURNING id::text",
                       4, p, &r, &err);
        if (e == DM_OK)
            e = dm_db_commit(conn, &err);
        if (e != DM_OK) {
            api_fail(c, e, &err);
            goto out;
        }
        api_data(c, 200,
                 json_pack("{s:s,s:b,s:n,s:s}", "diamondId", id, "denied", 1, "holdId", "historyId",
                           PQgetvalue(r, 0, 0)));
        goto out;
    }
    /* The supplier's answer is checked before it is stored: a hold without a usable id cannot
     * be referred to again (recorded failed, the stone stays available); an `until` that is not
     * an ISO time is dropped (the hold is recorded without an end, the problem noted) rather
     * than failing the statement and leaving a placed hold unrecorded. */
    if (!valid_hold_id(h.id)) {
        const char *p[5] = {id, c->client, offer,
                            "supplier answered a placed hold without a usable hold id", c->caller};
        e = dm_db_exec(conn,
                       "INSERT INTO hold_history (diamond_id, client, offer_id, status, "
                       "error_message, caller) VALUES ($1, $2, $3, 'failed', $4, $5)",
                       5, p, NULL, &err);
        if (e == DM_OK)
            e = dm_db_commit(conn, &err);
        if (e != DM_OK)
            dm_error(&c->log, "hold answer without id for %s not recorded: %s", id, err.message);
        dm_warn(&c->log, "supplier hold for %s answered without a usable hold id", id);
        api_error(c, 502, "BAD_GATEWAY", "Supplier hold answer was invalid", NULL);
        goto out;
    }
    char until[DM_ISO_LEN] = "";
    char note[160] = "";
    if (h.until[0]) {
        int64_t until_ms = 0;
        if (dm_time_parse(h.until, &until_ms) == DM_OK) {
            dm_time_format(until_ms, until);
        } else {
            snprintf(note, sizeof(note), "supplier sent an invalid hold end (until); kept none");
            dm_warn(&c->log, "supplier hold %s for %s: invalid until ignored", h.id, id);
        }
    }
    const char *p[7] = {
        id, c->client, offer, h.id, until[0] ? until : NULL, c->caller, note[0] ? note : NULL};
    e = dm_db_exec(conn,
                   "INSERT INTO hold_history (diamond_id, client, offer_id, supplier_hold_id, "
                   "hold_until, status, caller, error_message) "
                   "VALUES ($1, $2, $3, $4, $5::timestamptz, 'placed', $6, $7) "
                   "RETURNING id::text",
                   7, p, &r, &err);
    if (e == DM_OK) {
        const char *pu[2] = {id, h.id};
        e = dm_db_exec(conn,
                       "UPDATE diamonds SET availability = 'on_hold', hold_id = $2, "
                       "updated_at = now() WHERE id = $1",
                       2, pu, NULL, &err);
    }
    if (e == DM_OK)
        e = dm_db_commit(conn, &err);
    if (e != DM_OK) {
        dm_error(&c->log, "hold %s placed at the supplier but not recorded: %s", h.id, err.message);
        api_fail(c, e, &err);
        goto out;
    }
    json_t *d = json_pack("{s:s,s:b,s:s,s:s}", "diamondId", id, "denied", 0, "holdId", h.id,
                          "historyId", PQgetvalue(r, 0, 0));
    if (until[0])
        json_object_set_new(d, "until", json_string(until));
    api_search_settle(c->api);
    api_data(c, 200, d);
out:
    PQclear(r);
    dm_db_release(conn);
}

/* ---- purchase ---- */

static bool valid_idem_key(const char *k)
{
    size_t n = 0;
    for (; k[n]; n++)
        if (n >= 255 || (unsigned char)k[n] < 0x21 || (unsigned char)k[n] > 0x7e)
            return false;
    return n > 0;
}

/* Optional string member: absent/null -> NULL; string -> value; bool -> "true"/"false";
 * anything else -> error. */
static bool opt_str(json_t *body, const char *key, const char **out)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return true;
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return json_string_length(v) <= 1000;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v) ? "true" : "false";
        return true;
    }
    return false;
}

/* Answer from a stored response {"status":N,"body":{...}}. */
static void replay(struct api_call *c, const char *stored)
{
    json_t *j = json_loads(stored ? stored : "", 0, NULL);
    json_t *st = json_object_get(j, "status");
    json_t *body = json_object_get(j, "body");
    if (!json_is_integer(st) || body == NULL) {
        json_decref(j);
        api_fail(c, DM_ERR_INTERNAL, NULL);
        return;
    }
    dm_http_resp_header(c->resp, "Idempotent-Replayed", "true");
    api_json(c->resp, (int)json_integer_value(st), json_incref(body));
    json_decref(j);
}

/* Record the final result of our pending purchase and answer with it. */
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

static json_t *error_body(const char *code, const char *message)
{
    return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
}

/* Settle our pending purchase as failed (error recorded) with the answer http {"error":{code,
 * message}}, commit, and give that answer; api_fail instead when it cannot be recorded. */
static void settle_failed(struct api_call *c, struct dm_db_conn *conn, const char *purchase_id,
                          const char *error, int http, const char *code, const char *message)
{
    struct dm_error err = {0};
    json_t *b = error_body(code, message);
    enum dm_err e = settle(conn, purchase_id, "failed", NULL, NULL, error, http, b, &err);
    if (e == DM_OK)
        e = dm_db_commit(conn, &err);
    if (e != DM_OK)
        json_decref(b), api_fail(c, e, &err);
    else
        api_json(c->resp, http, b);
}

/* The purchase rule for a stone on hold: the caller that placed the hold, or an admin, may
 * buy it until the hold ends; anyone may once its end has passed. A stone on hold without a
 * hold of ours on record (held through the feed) is an admin's to buy. Fills msg with the 409
 * message when c may not buy the stone, else msg[0] = '\0'. */
static enum dm_err held_for_another(struct api_call *c, struct dm_db_conn *conn, const char *id,
                                    char *msg, size_t size, struct dm_error *err)
{
    msg[0] = '\0';
    if (c->perms & API_PERM_ADMIN)
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
        if (!over && (holder == NULL || strcmp(holder, c->caller))) {
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

void api_diamond_purchase(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "id", &id))
        return;
    const char *idem = dm_http_req_header(c->req, "X-Idempotency-Key");
    if (idem == NULL || idem[0] == '\0') {
        api_validation(c, "X-Idempotency-Key", "header is required");
        return;
    }
    if (!valid_idem_key(idem)) {
        api_validation(c, "X-Idempotency-Key", "must be 1..255 printable characters");
        return;
    }
    json_t *body = api_body_object(c);
    if (body == NULL)
        return;
    struct dm_db_conn *conn = NULL;
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e;
    const char *dest = NULL, *ref = NULL, *comments = NULL, *ret = NULL;
    if (!opt_str(body, "destination_id", &dest) || dest == NULL || dest[0] == '\0') {
        api_validation(c, "destination_id", "is required (string)");
        goto out;
    }
    if (!opt_str(body, "reference", &ref)) {
        api_validation(c, "reference", "must be a string");
        goto out;
    }
    if (!opt_str(body, "comments", &comments)) {
        api_validation(c, "comments", "must be a string");
        goto out;
    }
    if (!opt_str(body, "return_option", &ret)) {
        api_validation(c, "return_option", "must be a string or boolean");
        goto out;
    }
    /* The key is the caller's own and is bound to the diamond and the exact body. */
    char hash[DM_SHA256_HEX_LEN];
    {
        struct dm_buf hb;
        dm_buf_init(&hb, API_MAX_BODY + 1024);
        if (dm_buf_appendf(&hb, "%s\n%s\n", c->caller, id) != DM_OK ||
            dm_buf_append(&hb, c->req->body, c->req->body_len) != DM_OK) {
            dm_buf_free(&hb);
            api_fail(c, DM_ERR_INTERNAL, NULL);
            goto out;
        }
        dm_sha256_hex(hb.data, hb.len, hash);
        dm_buf_free(&hb);
    }
    conn = api_conn(c);
    if (conn == NULL)
        goto out;
    char purchase_id[DM_UUID_LEN] = "";
    int64_t deadline = dm_mono_ms() + 60000;
    for (;;) {
        const char *pk[2] = {c->caller, idem};
        /* FOR SHARE waits while the owner holds the row for its supplier call. */
        e = dm_db_exec(conn,
                       "SELECT caller, diamond_id::text, request_hash, status, response::text, "
                       "created_at < now() - interval '" PURCHASE_ORPHAN_AFTER "' "
                       "FROM purchase_history WHERE caller = $1 AND idempotency_key = $2 "
                       "FOR SHARE",
                       2, pk, &r, &err);
        if (e != DM_OK) {
            api_fail(c, e, &err);
            goto out;
        }
        if (PQntuples(r) > 0) {
            if (strcmp(PQgetvalue(r, 0, 0), c->caller) || strcmp(PQgetvalue(r, 0, 1), id) ||
                strcmp(PQgetvalue(r, 0, 2), hash)) {
                api_error(c, 409, "CONFLICT",
                          "X-Idempotency-Key was already used for a different request", NULL);
                goto out;
            }
            if (strcmp(PQgetvalue(r, 0, 3), "pending")) {
                replay(c, dm_db_get(r, 0, 4));
                goto out;
            }
            if (PQgetvalue(r, 0, 5)[0] == 't') {
                /* Pending, unlocked (FOR SHARE did not wait) and old: the request that owned it
                 * died between recording the attempt and settling it, so whether the supplier
                 * order was placed is unknown. Retrying could buy twice; say so at once. */
                dm_error(&c->log,
                         "purchase with idempotency key %s for %s was interrupted; its supplier "
                         "outcome is unknown and needs an operator (docs/operations.md)",
                         idem, id);
                api_error(c, 409, "CONFLICT",
                          "An earlier purchase with this key was interrupted and its outcome at "
                          "the supplier is unknown; contact support before retrying",
                          NULL);
                goto out;
            }
            PQclear(r);
            r = NULL;
            if (dm_mono_ms() > deadline) {
                api_error(c, 409, "CONFLICT", "A purchase with this key is still in progress",
                          NULL);
                goto out;
            }
            dm_sleep_ms(20, NULL);
            continue;
        }
        PQclear(r);
        r = NULL;
        const char *pd[1] = {id};
        e = dm_db_exec(conn,
                       "SELECT availability FROM diamonds WHERE id = $1 AND status = 'active'", 1,
                       pd, &r, &err);
        if (!api_row_found(c, e, &err, &r, "Diamond not found"))
            goto out;
        const char *av = PQgetvalue(r, 0, 0);
        bool sold = !strcmp(av, "sold");
        bool unavailable = sold || (strcmp(av, "available") && strcmp(av, "on_hold"));
        if (unavailable) {
            /* A concurrent duplicate may have bought it with this very key since the key was
             * looked up: then its stored result is the answer, not "already sold". */
            bool keyed = false;
            PQclear(r);
            r = NULL;
            e = dm_db_exec(conn,
                           "SELECT 1 FROM purchase_history WHERE caller = $1 AND "
                           "idempotency_key = $2",
                           2, pk, &r, &err);
            if (e != DM_OK) {
                api_fail(c, e, &err);
                goto out;
            }
            keyed = PQntuples(r) > 0;
            PQclear(r);
            r = NULL;
            if (keyed)
                continue;
        }
        if (sold) {
            api_error(c, 409, "CONFLICT", "Diamond is already sold", NULL);
            goto out;
        }
        if (unavailable) {
            api_error(c, 409, "CONFLICT", "Diamond is not available", NULL);
            goto out;
        }
        PQclear(r);
        r = NULL;
        char held[200];
        e = held_for_another(c, conn, id, held, sizeof(held), &err);
        if (e != DM_OK) {
            api_fail(c, e, &err);
            goto out;
        }
        if (held[0]) {
            api_error(c, 409, "CONFLICT", held, NULL);
            goto out;
        }
        if (!supplier_ready(c))
            goto out;
        const char *pi[5] = {idem, c->client, id, hash, c->caller};
        e = dm_db_exec(conn,
                       "INSERT INTO purchase_history (idempotency_key, client, diamond_id, "
                       "request_hash, status, caller) VALUES ($1, $2, $3, $4, 'pending', $5) "
                       "ON CONFLICT (caller, idempotency_key) DO NOTHING RETURNING id::text",
                       5, pi, &r, &err);
        if (e != DM_OK) {
            api_fail(c, e, &err);
            goto out;
        }
        if (PQntuples(r) == 1) {
            snprintf(purchase_id, sizeof(purchase_id), "%s", PQgetvalue(r, 0, 0));
            PQclear(r);
            r = NULL;
            break;
        }
        PQclear(r);
        r = NULL; /* another request inserted it first: read its state */
    }

    /* We own the pending row: lock it (duplicates wait on it), then the stone. */
    const char *pp[1] = {purchase_id};
    const char *pd[1] = {id};
    e = dm_db_begin(conn, &err);
    if (e == DM_OK)
        e = dm_db_exec(conn, "SELECT 1 FROM purchase_history WHERE id = $1 FOR UPDATE", 1, pp, NULL,
                       &err);
    if (e == DM_OK)
        e = dm_db_exec(conn, "SELECT offer_id, availability FROM diamonds WHERE id = $1 FOR UPDATE",
                       1, pd, &r, &err);
    if (e != DM_OK || PQntuples(r) == 0) {
        api_fail(c, e != DM_OK ? e : DM_ERR_INTERNAL, &err);
        goto out;
    }
    char offer[256];
    snprintf(offer, sizeof(offer), "%s", PQgetvalue(r, 0, 0));
    bool sold = !strcmp(PQgetvalue(r, 0, 1), "sold");
    PQclear(r);
    r = NULL;
    if (sold) {
        settle_failed(c, conn, purchase_id, "diamond already sold", 409, "CONFLICT",
                      "Diamond is already sold");
        goto out;
    }
    /* Again under the stone's lock: a hold placed since the check above counts. */
    {
        char held[200];
        e = held_for_another(c, conn, id, held, sizeof(held), &err);
        if (e != DM_OK) {
            api_fail(c, e, &err);
            goto out;
        }
        if (held[0]) {
            settle_failed(c, conn, purchase_id, "diamond on hold for another client", 409,
                          "CONFLICT", held);
            goto out;
        }
    }
    struct dm_nivoda_order_req oreq = {offer, dest, ref, comments, ret};
    struct dm_nivoda_order ord;
    memset(&ord, 0, sizeof(ord));
    struct dm_error serr = {0};
    enum dm_err se = dm_nivoda_order(c->api->nivoda, &oreq, &ord, &serr);
    if (se != DM_OK) {
        dm_warn(&c->log, "supplier order failed for %s: %s", id, serr.message);
        settle_failed(c, conn, purchase_id, serr.message, 502, "BAD_GATEWAY",
                      "Supplier order failed");
        goto out;
    }
    json_t *b =
        json_pack("{s:{s:s,s:s,s:s,s:s,s:s}}", "data", "purchaseId", purchase_id, "diamondId", id,
                  "orderId", ord.id, "status", "completed", "supplierStatus", ord.status);
    e = settle(conn, purchase_id, "completed", ord.id, ord.status, NULL, 200, b, &err);
    if (e == DM_OK)
        e = dm_db_exec(conn,
                       "UPDATE diamonds SET availability = 'sold', updated_at = now() "
                       "WHERE id = $1",
                       1, pd, NULL, &err);
    if (e == DM_OK)
        e = dm_db_commit(conn, &err);
    if (e != DM_OK) {
        dm_error(&c->log, "order %s placed at the supplier but not recorded: %s", ord.id,
                 err.message);
        json_decref(b);
        api_fail(c, e, &err);
        goto out;
    }
    api_search_settle(c->api);
    api_json(c->resp, 200, b);
out:
    PQclear(r);
    if (conn)
        dm_db_release(conn);
    json_decref(body);
}
