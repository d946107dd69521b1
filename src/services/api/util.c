/* util.c - result-to-JSON helpers shared by the API handlers. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "services/api/api.h"

/* PostgreSQL type oids we convert. */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_JSON 114
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700
#define OID_TIMESTAMPTZ 1184
#define OID_JSONB 3802

int64_t api_i64(const PGresult *r, int row, int col)
{
    int64_t v = 0;
    if (dm_db_get_i64(r, row, col, &v) != DM_OK)
        return 0;
    return v;
}

void api_camel(const char *snake, char *out, size_t size)
{
    size_t n = 0;
    bool up = false;
    for (const char *p = snake; *p && n + 1 < size; p++) {
        if (*p == '_') {
            up = n > 0;
            continue;
        }
        out[n++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;
        up = false;
    }
    out[n] = '\0';
}

json_t *api_time_json(const char *v)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", v);
    size_t n = strlen(buf);
    if (n >= 3 && (buf[n - 3] == '+' || buf[n - 3] == '-') && n + 3 < sizeof(buf))
        memcpy(buf + n, ":00", 4);
    int64_t ms;
    if (dm_time_parse(buf, &ms) != DM_OK)
        return json_string(v);
    char iso[DM_ISO_LEN];
    dm_time_format(ms, iso);
    return json_string(iso);
}

static json_t *value_json(const PGresult *r, int row, int col)
{
    const char *v = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case OID_BOOL:
        return json_boolean(v[0] == 't');
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        return json_integer(strtoll(v, NULL, 10));
    case OID_NUMERIC:
    case OID_FLOAT4:
    case OID_FLOAT8: {
        json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
        if (j && json_is_number(j))
            return j;
        json_decref(j);
        return json_string(v);
    }
    case OID_JSON:
    case OID_JSONB: {
        json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
        return j ? j : json_null();
    }
    case OID_TIMESTAMPTZ:
        return api_time_json(v);
    default:
        return json_string(v);
    }
}

json_t *api_row_json(const PGresult *r, int row)
{
    json_t *o = json_object();
    int nf = PQnfields(r);
    for (int col = 0; col < nf; col++) {
        if (PQgetisnull(r, row, col))
            continue;
        char key[128];
        api_camel(PQfname(r, col), key, sizeof(key));
        json_t *v = value_json(r, row, col);
        if (v)
            json_object_set_new(o, key, v);
    }
    return o;
}

json_t *api_rows_json(const PGresult *r)
{
    json_t *a = json_array();
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        json_array_append_new(a, api_row_json(r, i));
    return a;
}

json_t *api_result_rows(struct api_call *c, enum dm_err e, const struct dm_error *err, PGresult *r,
                        bool *ok)
{
    if (e != DM_OK) {
        PQclear(r);
        api_fail(c, e, err);
        *ok = false;
        return NULL;
    }
    json_t *a = api_rows_json(r);
    PQclear(r);
    *ok = true;
    return a;
}

json_t *api_query_rows(struct api_call *c, const char *sql, int n, const char *const *params,
                       bool *ok)
{
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_db_query(c->api->db, sql, n, params, &r, &err);
    return api_result_rows(c, e, &err, r, ok);
}

void api_rows_answer(struct api_call *c, const char *sql, int n, const char *const *params)
{
    bool ok;
    json_t *rows = api_query_rows(c, sql, n, params, &ok);
    if (ok)
        api_data(c, 200, rows);
}

bool api_uuid_param(struct api_call *c, const char *param, const char **id)
{
    *id = c->params[0];
    if (!dm_uuid_valid(*id)) {
        api_validation(c, param, "must be a UUID");
        return false;
    }
    return true;
}

bool api_row_found(struct api_call *c, enum dm_err e, const struct dm_error *err, PGresult **r,
                   const char *not_found)
{
    if (e == DM_OK && PQntuples(*r) > 0)
        return true;
    PQclear(*r);
    *r = NULL;
    if (e != DM_OK)
        api_fail(c, e, err);
    else
        api_error(c, 404, "NOT_FOUND", not_found, NULL);
    return false;
}

bool api_query_row(struct api_call *c, const char *sql, int n, const char *const *params,
                   PGresult **r, const char *not_found)
{
    struct dm_error err = {0};
    enum dm_err e = dm_db_query(c->api->db, sql, n, params, r, &err);
    return api_row_found(c, e, &err, r, not_found);
}

bool api_lock_row(struct api_call *c, struct dm_db_conn *conn, const char *sql, int n,
                  const char *const *params, PGresult **r, const char *not_found)
{
    struct dm_error err = {0};
    enum dm_err e = dm_db_begin(conn, &err);
    if (e == DM_OK)
        e = dm_db_exec(conn, sql, n, params, r, &err);
    return api_row_found(c, e, &err, r, not_found);
}

void api_etag_of(const struct dm_buf *body, char etag[40])
{
    char hash[DM_SHA256_HEX_LEN];
    dm_sha256_hex(body->data ? body->data : "", body->len, hash);
    snprintf(etag, 40, "\"%.32s\"", hash);
}
