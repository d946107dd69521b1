/*
 * diamonds.c - the trading routes over HTTP: availability, hold and purchase. This file checks
 * the request (UUID, X-Idempotency-Key, the body's order fields), binds the key to the caller,
 * the diamond and the exact body (request hash), and turns the answer into the response; the
 * rules, statements and supplier calls are services/ops/trade.c. Hold and purchase run on the
 * HTTP server's deferral pool (router.c), never on an HTTP thread.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "services/api/api.h"
#include "services/ops/trade.h"

void api_diamond_availability(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "id", &id))
        return;
    const char *p[1] = {id};
    PGresult *r = NULL;
    if (!api_query_row(c,
                       "SELECT id, availability, hold_id, raw_availability, updated_at "
                       "FROM diamonds WHERE (id = $1 OR (listing_id = $1 AND chosen)) "
                       "AND status = 'active' LIMIT 1",
                       1, p, &r, "Diamond not found"))
        return;
    json_t *d = api_row_json(r, 0);
    json_object_set_new(d, "available", json_boolean(!strcmp(PQgetvalue(r, 0, 1), "available")));
    PQclear(r);
    api_data(c, 200, d);
}

/* The answer of a trade operation (services/ops/trade.h) as the HTTP response. */
static void answer(struct api_call *c, enum dm_err e, const struct dm_error *err,
                   struct dm_trade_answer *a)
{
    if (e != DM_OK) {
        json_decref(a->body);
        api_fail(c, e, err);
        return;
    }
    if (a->changed)
        api_search_settle(c->api);
    if (a->body == NULL) {
        api_error(c, a->http, a->code, a->message, NULL);
        return;
    }
    if (a->replayed)
        dm_http_resp_header(c->resp, "Idempotent-Replayed", "true");
    api_json(c->resp, a->http, a->body);
}

void api_diamond_hold(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "id", &id))
        return;
    struct dm_db_conn *conn = api_conn(c);
    if (conn == NULL)
        return;
    struct dm_hold_request req = {id, c->caller, c->client, &c->api->listing};
    struct dm_trade_answer a;
    struct dm_error err = {0};
    enum dm_err e = dm_trade_hold(conn, &c->api->suppliers, &req, &c->log, &a, &err);
    dm_db_release(conn);
    answer(c, e, &err, &a);
}

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

/* The body's order fields into req; answers 400 and returns false when one is invalid. */
static bool order_fields(struct api_call *c, json_t *body, struct dm_purchase_request *req)
{
    if (!opt_str(body, "destination_id", &req->destination_id) || req->destination_id == NULL ||
        req->destination_id[0] == '\0') {
        api_validation(c, "destination_id", "is required (string)");
        return false;
    }
    if (!opt_str(body, "reference", &req->reference)) {
        api_validation(c, "reference", "must be a string");
        return false;
    }
    if (!opt_str(body, "comments", &req->comments)) {
        api_validation(c, "comments", "must be a string");
        return false;
    }
    if (!opt_str(body, "return_option", &req->return_option)) {
        api_validation(c, "return_option", "must be a string or boolean");
        return false;
    }
    return true;
}

/* The key is the caller's own and is bound to the diamond and the exact body. */
static bool request_hash(struct api_call *c, const char *id, char hash[DM_SHA256_HEX_LEN])
{
    struct dm_buf hb;
    dm_buf_init(&hb, API_MAX_BODY + 1024);
    bool ok = dm_buf_appendf(&hb, "%s\n%s\n", c->caller, id) == DM_OK &&
              dm_buf_append(&hb, c->req->body, c->req->body_len) == DM_OK;
    if (ok)
        dm_sha256_hex(hb.data, hb.len, hash);
    dm_buf_free(&hb);
    return ok;
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
    char hash[DM_SHA256_HEX_LEN];
    struct dm_purchase_request req = {.listing = &c->api->listing,
                                      .diamond_id = id,
                                      .caller = c->caller,
                                      .client = c->client,
                                      .admin = (c->perms & API_PERM_ADMIN) != 0,
                                      .idempotency_key = idem,
                                      .request_hash = hash};
    struct dm_db_conn *conn = NULL;
    if (!order_fields(c, body, &req))
        goto out;
    if (!request_hash(c, id, hash)) {
        api_fail(c, DM_ERR_INTERNAL, NULL);
        goto out;
    }
    conn = api_conn(c);
    if (conn == NULL)
        goto out;
    struct dm_trade_answer a;
    struct dm_error err = {0};
    enum dm_err e = dm_trade_purchase(conn, &c->api->suppliers, &req, &c->log, &a, &err);
    dm_db_release(conn);
    answer(c, e, &err, &a);
out:
    json_decref(body);
}
