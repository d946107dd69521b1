/*
 * search.c - the catalogue's read routes: search (offset and keyset paging, ETag/If-None-Match),
 * facets and get by id. Answered from the in-memory search index (domain/search_index.h) once
 * it has loaded; the SQL path (capped or estimated totals, the response micro-cache) is the
 * reference, used with API_SEARCH_INDEX=false and while the index loads at start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/json.h"
#include "domain/search_index.h"
#include "adapters/db/search_sql.h"
#include "domain/search_query.h"
#include "services/api/api.h"
#include "services/api/index_follow.h"

#define CC_MIN_CACHED 1000 /* smaller totals are recounted: they are exact and cheap */
#define RC_MAX_KEY ((size_t)16 * 1024)

static void sql_key(const struct dm_sql *s, char out[DM_SHA256_HEX_LEN])
{
    struct dm_buf b;
    dm_buf_init(&b, (size_t)256 * 1024);
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
    enum dm_err e = dm_buf_appendf(k, "v2\x1e%d\x1e%d\x1e%d\x1e%d\x1e%d", q->page, q->limit,
                                   (int)q->sort, q->desc ? 1 : 0, q->has_cursor ? 1 : 0);
    if (e == DM_OK && q->has_cursor)
        e = dm_buf_appendf(k, "\x1f%s\x1f%s", q->cursor_key, q->cursor_id);
    /* Every filter of the one table (a filter missing here would make two searches share an
     * answer). */
    for (size_t i = 0; e == DM_OK && i < dm_sq_nfilters; i++) {
        const struct dm_sq_filter *f = &dm_sq_filters[i];
        const char *at = (const char *)q + f->value;
        e = dm_buf_append_char(k, '\x1e');
        if (e != DM_OK)
            break;
        if (f->kind == DM_SQF_LIST) {
            const struct dm_sq_list *l = (const struct dm_sq_list *)at;
            for (int j = 0; e == DM_OK && j < l->n; j++)
                e = dm_buf_appendf(k, "\x1f%s", l->v[j]);
        } else if (f->kind == DM_SQF_BOOL) {
            e = dm_buf_appendf(k, "%d", *(const int *)at);
        } else if (*(const bool *)((const char *)q + f->has)) {
            e = dm_buf_appendf(k, "%lld", (long long)*(const int64_t *)at);
        }
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
    for (size_t i = 0; i < dm_sq_nfilters; i++) {
        const struct dm_sq_filter *f = &dm_sq_filters[i];
        const char *at = (const char *)q + f->value;
        if (f->kind == DM_SQF_LIST   ? ((const struct dm_sq_list *)at)->n > 0
            : f->kind == DM_SQF_BOOL ? *(const int *)at >= 0
                                     : *(const bool *)((const char *)q + f->has))
            return true;
    }
    return false;
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
    /* API_CACHE_MS=0 turns every search cache off, counts included (the reference path must
     * not answer a total older than its rows). */
    bool cache = api->cfg->api_cache_ms > 0;
    if (cache && api_countcache_get(api->counts, key, total, estimate))
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
    if (cache && *total >= CC_MIN_CACHED)
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
        e = dm_db_exec_prepared(conn, NULL, s.text.data, s.n, (const char *const *)s.params, NULL,
                                NULL, &r, err);
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
        dm_buf_init(&arr, (size_t)64 * 1024);
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
            e = dm_db_exec_prepared(conn, NULL, bysql, 1, bp, NULL, NULL, &r, err);
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

/* Parse the search parameters; answers 400 and returns false when they are invalid. */
static bool parse_query(struct api_call *c, struct dm_search_query *q)
{
    const char *keys[DM_SQ_MAX_ARGS + 1], *vals[DM_SQ_MAX_ARGS + 1];
    int n = dm_http_req_args(c->req, keys, vals, DM_SQ_MAX_ARGS + 1);
    struct dm_sq_error qe = {{0}, {0}};
    if (dm_search_query_parse(keys, vals, n, q, &qe) != DM_OK) {
        api_validation(c, qe.param, qe.message);
        return false;
    }
    return true;
}

/* Answer the body rendered into c->resp->body (200 with its ETag), or 500 when rendering
 * failed. */
static void answer_rendered(struct api_call *c, enum dm_err e)
{
    if (e != DM_OK) {
        api_fail(c, DM_ERR_INTERNAL, NULL);
        return;
    }
    c->resp->status = 200;
    c->resp->content_type = "application/json";
    finish_with_etag(c);
}

static void facets_need_index(struct api_call *c)
{
    api_error(c, 503, "SERVICE_UNAVAILABLE",
              "Facets need the search index (API_SEARCH_INDEX), which is off or loading", NULL);
}

/* The search index's current version, or NULL when it is off or not loaded yet. */
static struct dm_search_index_view *index_view(struct dm_api *api)
{
    return api->index ? dm_search_index_acquire(api_index_get(api->index)) : NULL;
}

void api_diamonds_search(struct api_call *c)
{
    struct dm_search_query q;
    if (!parse_query(c, &q))
        return;
    struct dm_error err = {0};
    char etag[40] = "";
    struct dm_search_index_view *v = index_view(c->api);
    if (v != NULL) {
        /* From memory: exact totals and no response cache, so a change shows as soon as the
         * index has it (the staleness bound is the follower's, not a cache lifetime). */
        atomic_fetch_add(&c->api->search_queries[0], 1);
        enum dm_err e = dm_search_index_search(v, &q, q.include_facets, &c->resp->body);
        dm_search_index_release(v);
        answer_rendered(c, e);
        return;
    }
    if (q.include_facets) {
        facets_need_index(c);
        return;
    }
    atomic_fetch_add(&c->api->search_queries[1], 1);
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

void api_search_settle(struct dm_api *api)
{
    if (api->index == NULL)
        return;
    struct dm_search_index_stats st;
    dm_search_index_stats(api_index_get(api->index), &st);
    if (!st.loaded)
        return;
    PGresult *r = NULL;
    struct dm_error err = {0};
    if (dm_db_query(api->db, "SELECT coalesce(max(change_seq), 0) FROM diamonds", 0, NULL, &r,
                    &err) != DM_OK)
        return;
    int64_t seq = api_i64(r, 0, 0);
    PQclear(r);
    api_index_wait(api->index, seq, 2000);
}

void api_diamonds_facets(struct api_call *c)
{
    struct dm_search_query q;
    if (!parse_query(c, &q))
        return;
    struct dm_search_index_view *v = index_view(c->api);
    if (v == NULL) {
        facets_need_index(c);
        return;
    }
    atomic_fetch_add(&c->api->search_queries[0], 1);
    struct dm_buf *b = &c->resp->body;
    dm_buf_reset(b);
    enum dm_err e = dm_buf_append_str(b, "{\"data\":");
    if (e == DM_OK)
        e = dm_search_index_facets(v, &q, b);
    if (e == DM_OK)
        e = dm_buf_append_char(b, '}');
    dm_search_index_release(v);
    answer_rendered(c, e);
}

/* A listing by its listing id, or by the id of one of its offers (links made before listings):
 * the chosen offer as search renders it, plus every active offer of the stone. */
#define LISTING_SQL                                                                                \
    "SELECT j.json, o.offers FROM (SELECT x.listing_key FROM diamonds x "                          \
    "WHERE x.listing_id = $1 OR x.id = $1 ORDER BY x.chosen DESC LIMIT 1) k "                      \
    "CROSS JOIN LATERAL (SELECT %s AS json FROM diamonds "                                         \
    "WHERE diamonds.listing_key = k.listing_key AND chosen AND status = 'active') j "              \
    "CROSS JOIN LATERAL (SELECT json_agg(json_build_object('id', d.id, 'feed', d.feed, "           \
    "'supplierStoneId', d.supplier_stone_id, 'offerId', d.offer_id, 'feedPrice', d.feed_price, "   \
    "'retailPrice', d.retail_price, 'availability', d.availability, 'updatedAt', d.updated_at, "   \
    "'chosen', d.chosen) ORDER BY d.chosen DESC, d.retail_price, d.feed COLLATE \"C\", "           \
    "d.supplier_stone_id COLLATE \"C\")::text AS offers FROM diamonds d "                          \
    "WHERE d.listing_key = k.listing_key AND d.status = 'active') o"

/* The index's record of an offer id, when PostgreSQL cannot be asked (no offers list). */
static bool answer_from_index(struct api_call *c, const char *id)
{
    struct dm_search_index_view *v = index_view(c->api);
    if (v == NULL)
        return false;
    const struct dm_stone *s = dm_search_index_get(v, id);
    struct dm_buf *b = &c->resp->body;
    dm_buf_reset(b);
    enum dm_err e = s ? dm_buf_append_str(b, "{\"data\":") : DM_OK;
    if (s && e == DM_OK)
        e = dm_stone_render(v, s, b);
    if (s && e == DM_OK)
        e = dm_buf_append_char(b, '}');
    dm_search_index_release(v);
    if (s == NULL)
        return false;
    answer_rendered(c, e);
    return true;
}

void api_diamond_get(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "id", &id))
        return;
    char sql[4096];
    snprintf(sql, sizeof(sql), LISTING_SQL, DM_DIAMOND_JSON_SQL);
    const char *p[1] = {id};
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_db_query_prepared(c->api->db, sql, 1, p, &r, &err);
    if (e != DM_OK && e != DM_ERR_NOT_FOUND && answer_from_index(c, id)) {
        PQclear(r);
        return;
    }
    if (!api_row_found(c, e, &err, &r, "Diamond not found"))
        return;
    struct dm_buf *b = &c->resp->body;
    dm_buf_reset(b);
    c->resp->status = 200;
    /* The listing is the chosen offer's object with "offers" added as its last member. */
    int jl = PQgetlength(r, 0, 0);
    if (jl < 2 || dm_buf_append_str(b, "{\"data\":") != DM_OK ||
        dm_buf_append(b, PQgetvalue(r, 0, 0), (size_t)jl - 1) != DM_OK ||
        dm_buf_append_str(b, ",\"offers\":") != DM_OK ||
        dm_buf_append_str(b, PQgetisnull(r, 0, 1) ? "[]" : PQgetvalue(r, 0, 1)) != DM_OK ||
        dm_buf_append_str(b, "}}") != DM_OK)
        api_fail(c, DM_ERR_INTERNAL, NULL);
    else
        finish_with_etag(c);
    PQclear(r);
}
