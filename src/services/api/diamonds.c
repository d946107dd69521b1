/*
 * diamonds.c - the catalogue and trading routes: search (offset and keyset paging, capped or
 * estimated totals, ETag/If-None-Match), get by id, availability, hold (row lock so that
 * concurrent holds make one supplier call) and purchase (idempotency key bound to caller,
 * diamond and body; a committed pending row plus row locks make concurrent duplicates wait for
 * the one supplier order and replay its stored result).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/feed/nivoda.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "domain/search_query.h"
#include "services/api/api.h"

#define CC_MIN_CACHED 1000 /* smaller totals are recounted: they are exact and cheap */
#define RC_MAX_KEY (16 * 1024)

#pragma weak dm_nivoda_hold
#pragma weak dm_nivoda_order

/* A pending purchase older than this that nobody holds was orphaned by a crash: a live owner
 * holds the row lock from just after recording the attempt until it settles it, supplier call
 * included, so an unlocked pending row is only ever that young while its owner lives. */
#define PURCHASE_ORPHAN_AFTER "2 minutes"

static void sql_key(const struct dm_sql *s, char out[DM_SHA256_HEX_LEN])
{
    struct dm_buf b;
    dm_buf_init(&b, 256 * 1024);
    enum dm_err e = dm_buf_append_str(&b, s->text.data ? s->text.data : "");
    for (int i = 0; e == DM_OK && i < s->n; i++)
        e = dm_buf_appendf(&b, "\x1f%s", s->params[i] ? s->params[i] : "\x1e");
    dm_sha256_hex(b.data ? b.data : "", b.len, out);
    dm_buf_free(&b);
}

/* The canonical text of everything that determines a search's response (the parsed query, so
 * `shape=round` and `shape[]=ROUND` share an entry). Entries compare this text exactly: a hash
 * collision can only share a slot, never a body. Values never contain control characters
 * (dm_search_query_parse rejects them), so \x1e / \x1f separate unambiguously. */
static enum dm_err query_key(const struct dm_search_query *q, struct dm_buf *k)
{
    enum dm_err e = dm_buf_appendf(
        k, "v1\x1e%d\x1e%d\x1e%d\x1e%d\x1e%d\x1e%d:%lld\x1e%d:%lld\x1e%d:%lld\x1e%d:%lld\x1e%d",
        q->page, q->limit, (int)q->sort, q->desc ? 1 : 0, q->lab_grown, q->has_carat_min ? 1 : 0,
        (long long)q->carat_min, q->has_carat_max ? 1 : 0, (long long)q->carat_max,
        q->has_price_min ? 1 : 0, (long long)q->price_min, q->has_price_max ? 1 : 0,
        (long long)q->price_max, q->has_cursor ? 1 : 0);
    if (e == DM_OK && q->has_cursor)
        e = dm_buf_appendf(k, "\x1f%s\x1f%s", q->cursor_key, q->cursor_id);
    const struct dm_sq_list *lists[] = {&q->shape,        &q->color,        &q->clarity,
                                        &q->cut,          &q->polish,       &q->symmetry,
                                        &q->fluorescence, &q->availability, &q->feed};
    for (size_t i = 0; e == DM_OK && i < sizeof(lists) / sizeof(lists[0]); i++) {
        e = dm_buf_append_char(k, '\x1e');
        for (int j = 0; e == DM_OK && j < lists[i]->n; j++)
            e = dm_buf_appendf(k, "\x1f%s", lists[i]->v[j]);
    }
    return e;
}

static enum dm_err exec_sql(struct dm_db_conn *conn, const struct dm_sql *s, PGresult **r,
                            struct dm_error *err)
{
    return dm_db_exec(conn, s->text.data, s->n, (const char *const *)s->params, r, err);
}

/* True when the search filters rows: then its best plan depends on the values (a generic
 * prepared plan chose a bitmap scan + sort at ~100x the cost), so it is planned each time.
 * Unfiltered searches (default order, keyset pages) run as prepared statements. */
static bool has_filters(const struct dm_search_query *q)
{
    return q->shape.n || q->color.n || q->clarity.n || q->cut.n || q->polish.n || q->symmetry.n ||
           q->fluorescence.n || q->availability.n || q->feed.n || q->has_carat_min ||
           q->has_carat_max || q->has_price_min || q->has_price_max || q->lab_grown >= 0;
}

/* Total for the filters: exact up to API_TOTAL_EXACT_CAP, else the planner's estimate. */
static enum dm_err search_total(struct dm_api *api, struct dm_db_conn *conn,
                                const struct dm_search_query *q, int64_t *total, bool *estimate,
                                struct dm_error *err)
{
    struct dm_sql s;
    dm_sql_init(&s);
    PGresult *r = NULL;
    enum dm_err e = dm_search_build_count_sql(q, API_TOTAL_EXACT_CAP, &s);
    char key[DM_SHA256_HEX_LEN];
    if (e != DM_OK)
        goto out;
    sql_key(&s, key);
    if (api_countcache_get(api->counts, key, total, estimate))
        goto out;
    /* A capped count is a few milliseconds on one core; parallel workers only add start-up
     * cost and compete with the requests being served (measured: 75-125 ms with two workers
     * on a busy 2-core machine). */
    e = dm_db_begin(conn, err);
    if (e == DM_OK)
        e = dm_db_exec(conn, "SET LOCAL max_parallel_workers_per_gather = 0", 0, NULL, NULL, err);
    if (e == DM_OK)
        e = exec_sql(conn, &s, &r, err);
    if (e != DM_OK)
        goto out;
    *total = api_i64(r, 0, 0);
    *estimate = false;
    PQclear(r);
    r = NULL;
    if (*total > API_TOTAL_EXACT_CAP) {
        struct dm_sql f;
        dm_sql_init(&f);
        e = dm_sql_text(&f, "EXPLAIN (FORMAT JSON) ");
        if (e == DM_OK)
            e = dm_search_build_filter_sql(q, &f);
        if (e == DM_OK)
            e = exec_sql(conn, &f, &r, err);
        dm_sql_free(&f);
        if (e != DM_OK)
            goto out;
        json_t *plan = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
        json_t *rows =
            json_object_get(json_object_get(json_array_get(plan, 0), "Plan"), "Plan Rows");
        int64_t est = json_is_number(rows) ? (int64_t)json_number_value(rows) : 0;
        json_decref(plan);
        *total = est > API_TOTAL_EXACT_CAP ? est : API_TOTAL_EXACT_CAP + 1;
        *estimate = true;
    }
    e = dm_db_commit(conn, err);
    if (e != DM_OK)
        goto out;
    if (*total >= CC_MIN_CACHED)
        api_countcache_put(api->counts, key, *total, *estimate);
out:
    PQclear(r);
    dm_sql_free(&s);
    return e;
}

static bool etag_matches(const char *inm, const char *etag)
{
    if (inm == NULL)
        return false;
    if (!strcmp(inm, "*"))
        return true;
    /* A list of tags, possibly weak (W/"..."): compare the quoted value. */
    return strstr(inm, etag) != NULL;
}

/* Set ETag (computed from the body unless given) and answer 304 when it matches. */
static void finish_with_etag_tag(struct api_call *c, char etag[40])
{
    struct dm_http_resp *resp = c->resp;
    if (etag[0] == '\0')
        api_etag_of(&resp->body, etag);
    dm_http_resp_header(resp, "ETag", etag);
    dm_http_resp_header(resp, "Cache-Control", "private, no-cache");
    if (etag_matches(dm_http_req_header(c->req, "If-None-Match"), etag)) {
        dm_buf_reset(&resp->body);
        resp->status = 304;
    }
}

static void finish_with_etag(struct api_call *c)
{
    char etag[40] = "";
    finish_with_etag_tag(c, etag);
}

enum dm_err api_search_render(struct dm_api *api, const struct dm_search_query *q,
                              struct dm_buf *out, struct dm_error *err)
{
    struct dm_sql s;
    dm_sql_init(&s);
    PGresult *r = NULL, *ids = NULL;
    struct dm_db_conn *conn = NULL;
    enum dm_err e = dm_search_build_page_sql(q, &s);
    if (e != DM_OK) {
        dm_error_set(err, e, "search statement: %s", dm_strerror(e));
        goto out;
    }
    e = dm_db_acquire(api->db, 5000, &conn, err);
    if (e != DM_OK) {
        e = e == DM_ERR_DB ? DM_ERR_DB_RETRY : e;
        goto out;
    }
    /* Rows of the page: JSON text per row, and the last row's sort key and id for the cursor. */
    const char *json[DM_SQ_MAX_LIMIT + 1];
    size_t jlen[DM_SQ_MAX_LIMIT + 1];
    const char *last_key = NULL, *last_id = NULL;
    int rows = 0;
    bool more = false;
    if (!has_filters(q)) {
        /* One prepared statement (its plan does not depend on values). */
        e = api_exec_hot(conn, s.text.data, s.n, (const char *const *)s.params, &r, err);
        if (e != DM_OK)
            goto out;
        rows = PQntuples(r);
        more = rows > q->limit;
        if (more)
            rows = q->limit;
        for (int i = 0; i < rows; i++) {
            json[i] = PQgetvalue(r, i, 0);
            jlen[i] = (size_t)PQgetlength(r, i, 0);
        }
        if (rows > 0) {
            last_key = PQgetvalue(r, rows - 1, 1);
            last_id = PQgetvalue(r, rows - 1, 2);
        }
    } else {
        /* Filtered: the id query is planned for its values (cheap: no JSON in it), the JSON
         * of those ids comes from one prepared statement. */
        struct dm_sql si;
        dm_sql_init(&si);
        e = dm_search_build_ids_sql(q, &si);
        if (e == DM_OK)
            e = exec_sql(conn, &si, &ids, err);
        dm_sql_free(&si);
        if (e != DM_OK)
            goto out;
        rows = PQntuples(ids);
        more = rows > q->limit;
        if (more)
            rows = q->limit;
        struct dm_buf arr;
        dm_buf_init(&arr, 64 * 1024);
        e = dm_buf_append_char(&arr, '{');
        for (int i = 0; e == DM_OK && i < rows; i++)
            e = dm_buf_appendf(&arr, "%s%s", i ? "," : "", PQgetvalue(ids, i, 0));
        if (e == DM_OK)
            e = dm_buf_append_char(&arr, '}');
        char bysql[4096];
        snprintf(bysql, sizeof(bysql),
                 "SELECT id::text, %s FROM diamonds WHERE id = ANY($1::uuid[])",
                 DM_DIAMOND_JSON_SQL);
        const char *bp[1] = {arr.data};
        if (e == DM_OK)
            e = api_exec_hot(conn, bysql, 1, bp, &r, err);
        dm_buf_free(&arr);
        if (e != DM_OK)
            goto out;
        int nj = PQntuples(r);
        int found = 0;
        for (int i = 0; i < rows; i++) {
            const char *id = PQgetvalue(ids, i, 0);
            for (int j = 0; j < nj; j++) {
                if (!strcmp(PQgetvalue(r, j, 0), id)) {
                    json[found] = PQgetvalue(r, j, 1);
                    jlen[found] = (size_t)PQgetlength(r, j, 1);
                    found++;
                    break;
                }
            }
        }
        /* A row deleted between the two statements is simply left out of this page. */
        if (rows > 0) {
            last_key = PQgetvalue(ids, rows - 1, 1);
            last_id = PQgetvalue(ids, rows - 1, 0);
        }
        rows = found;
    }
    int64_t total = 0;
    bool estimate = false;
    e = search_total(api, conn, q, &total, &estimate, err);
    if (e != DM_OK)
        goto out;
    dm_db_release(conn);
    conn = NULL;

    char next[256] = "";
    if (more && last_key && last_id &&
        dm_search_cursor_encode(q->sort, q->desc, last_key, last_id, next, sizeof(next)) != DM_OK)
        next[0] = '\0';
    dm_buf_reset(out);
    e = dm_buf_append_str(out, "{\"data\":[");
    for (int i = 0; e == DM_OK && i < rows; i++) {
        if (i > 0)
            e = dm_buf_append_char(out, ',');
        if (e == DM_OK)
            e = dm_buf_append(out, json[i], jlen[i]);
    }
    int64_t pages = (total + q->limit - 1) / q->limit;
    if (e == DM_OK)
        e = dm_buf_appendf(out,
                           "],\"pagination\":{\"total\":%lld,\"totalIsEstimate\":%s,"
                           "\"page\":%d,\"limit\":%d,\"totalPages\":%lld,\"hasMore\":%s,"
                           "\"nextCursor\":",
                           (long long)total, estimate ? "true" : "false",
                           q->has_cursor ? 0 : q->page, q->limit, (long long)pages,
                           more ? "true" : "false");
    if (e == DM_OK)
        e = next[0] ? dm_buf_appendf(out, "\"%s\"}}", next) : dm_buf_append_str(out, "null}}");
    if (e != DM_OK) {
        dm_error_set(err, DM_ERR_INTERNAL, "search response: %s", dm_strerror(e));
        e = DM_ERR_INTERNAL;
    }
out:
    if (conn)
        dm_db_release(conn);
    PQclear(r);
    PQclear(ids);
    dm_sql_free(&s);
    return e;
}

void api_diamonds_search(struct api_call *c)
{
    const char *keys[DM_SQ_MAX_ARGS + 1], *vals[DM_SQ_MAX_ARGS + 1];
    int n = dm_http_req_args(c->req, keys, vals, DM_SQ_MAX_ARGS + 1);
    struct dm_search_query q;
    struct dm_sq_error qe = {{0}, {0}};
    if (dm_search_query_parse(keys, vals, n, &q, &qe) != DM_OK) {
        api_validation(c, qe.param, qe.message);
        return;
    }
    struct dm_error err = {0};
    char etag[40] = "";
    struct dm_buf key;
    dm_buf_init(&key, RC_MAX_KEY);
    if (query_key(&q, &key) != DM_OK) {
        api_fail(c, DM_ERR_INTERNAL, NULL);
        goto out;
    }
    if (!api_respcache_get(c->api->responses, key.data, &c->resp->body, etag)) {
        enum dm_err e = api_search_render(c->api, &q, &c->resp->body, &err);
        if (e != DM_OK) {
            api_fail(c, e, &err);
            goto out;
        }
        api_etag_of(&c->resp->body, etag);
        api_respcache_put(c->api->responses, key.data, &q, &c->resp->body, etag);
    }
    c->resp->status = 200;
    c->resp->content_type = "application/json";
    finish_with_etag_tag(c, etag);
out:
    dm_buf_free(&key);
}

void api_diamond_get(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "id", &id))
        return;
    char sql[4096];
    snprintf(sql, sizeof(sql), "SELECT %s FROM diamonds WHERE id = $1 AND status = 'active'",
             DM_DIAMOND_JSON_SQL);
    const char *p[1] = {id};
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e = api_query_hot(c->api->db, sql, 1, p, &r, &err);
    if (!api_row_found(c, e, &err, &r, "Diamond not found"))
        return;
    struct dm_buf *b = &c->resp->body;
    dm_buf_reset(b);
    c->resp->status = 200;
    if (dm_buf_append_str(b, "{\"data\":") != DM_OK ||
        dm_buf_append(b, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0)) != DM_OK ||
        dm_buf_append_char(b, '}') != DM_OK)
        api_fail(c, DM_ERR_INTERNAL, NULL);
    else
        finish_with_etag(c);
    PQclear(r);
}

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
    if (c->api->nivoda == NULL || dm_nivoda_hold == NULL || dm_nivoda_order == NULL) {
        api_error(c, 503, "SERVICE_UNAVAILABLE",
                  "Supplier trading is not configured (NIVODA_ENDPOINT, NIVODA_USERNAME, "
                  "NIVODA_PASSWORD)",
                  NULL);
        return false;
    }
    return true;
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
        const char *p[4] = {id, c->client, offer, serr.message};
        e = dm_db_exec(conn,
                       "INSERT INTO hold_history (diamond_id, client, offer_id, status, "
                       "error_message) VALUES ($1, $2, $3, 'failed', $4)",
                       4, p, NULL, &err);
        if (e == DM_OK)
            e = dm_db_commit(conn, &err);
        dm_warn(&c->log, "supplier hold failed for %s: %s", id, serr.message);
        api_error(c, 502, "BAD_GATEWAY", "Supplier hold failed", NULL);
        goto out;
    }
    if (h.denied) {
        const char *p[3] = {id, c->client, offer};
        e = dm_db_exec(conn,
                       "INSERT INTO hold_history (diamond_id, client, offer_id, denied, status) "
                       "VALUES ($1, $2, $3, true, 'denied') RETURNING id::text",
                       3, p, &r, &err);
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
    const char *p[5] = {id, c->client, offer, h.id, h.until[0] ? h.until : NULL};
    e = dm_db_exec(conn,
                   "INSERT INTO hold_history (diamond_id, client, offer_id, supplier_hold_id, "
                   "hold_until, status) VALUES ($1, $2, $3, $4, $5::timestamptz, 'placed') "
                   "RETURNING id::text",
                   5, p, &r, &err);
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
    if (h.until[0])
        json_object_set_new(d, "until", json_string(h.until));
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
    /* The key is bound to the caller, the diamond and the exact body. */
    char hash[DM_SHA256_HEX_LEN];
    {
        struct dm_buf hb;
        dm_buf_init(&hb, API_MAX_BODY + 1024);
        if (dm_buf_appendf(&hb, "%s\n%s\n", c->client, id) != DM_OK ||
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
        const char *pk[1] = {idem};
        /* FOR SHARE waits while the owner holds the row for its supplier call. */
        e = dm_db_exec(conn,
                       "SELECT client, diamond_id::text, request_hash, status, response::text, "
                       "created_at < now() - interval '" PURCHASE_ORPHAN_AFTER "' "
                       "FROM purchase_history WHERE idempotency_key = $1 FOR SHARE",
                       1, pk, &r, &err);
        if (e != DM_OK) {
            api_fail(c, e, &err);
            goto out;
        }
        if (PQntuples(r) > 0) {
            if (strcmp(PQgetvalue(r, 0, 0), c->client) || strcmp(PQgetvalue(r, 0, 1), id) ||
                strcmp(PQgetvalue(r, 0, 2), hash)) {
                api_error(c, 409, "CONFLICT",
                          "X-Idempotency-Key was already used for a different request", NULL);
                goto out;
            }
            if (strcmp(PQgetvalue(r, 0, 3), "pending")) {
                replay(c, api_val(r, 0, 4));
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
            e = dm_db_exec(conn, "SELECT 1 FROM purchase_history WHERE idempotency_key = $1", 1, pk,
                           &r, &err);
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
        if (!supplier_ready(c))
            goto out;
        const char *pi[4] = {idem, c->client, id, hash};
        e = dm_db_exec(conn,
                       "INSERT INTO purchase_history (idempotency_key, client, diamond_id, "
                       "request_hash, status) VALUES ($1, $2, $3, $4, 'pending') "
                       "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id::text",
                       4, pi, &r, &err);
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
    api_json(c->resp, 200, b);
out:
    PQclear(r);
    if (conn)
        dm_db_release(conn);
    json_decref(body);
}
