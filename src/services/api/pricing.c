/*
 * pricing.c - pricing rules CRUD with validation (markup_ratio > 0, carat_min <= carat_max,
 * price_min <= price_max, rating 1..10, shapes from the supplier's known shapes) and the
 * reprice action (services/consolidator/reprice.h). Bodies accept snake_case or camelCase.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/json.h"
#include "core/num.h"
#include "core/pgarray.h"
#include "domain/shapes.h"
#include "services/api/api.h"
#include "services/consolidator/reprice.h"

#define RULE_COLS                                                                                  \
    "id, name, priority, carat_min, carat_max, to_json(shapes) AS shapes, lab_grown, feed, "       \
    "price_min, price_max, markup_ratio, rating, active, created_at, updated_at"

/* One editable field: JSON names (snake, camel), kind, SQL cast. */
struct field {
    const char *snake, *camel;
    enum { F_TEXT, F_INT, F_NUM, F_BOOL, F_SHAPES } kind;
    const char *cast;
};
static const struct field fields[] = {
    {"name", "name", F_TEXT, "text"},
    {"priority", "priority", F_INT, "integer"},
    {"carat_min", "caratMin", F_NUM, "numeric"},
    {"carat_max", "caratMax", F_NUM, "numeric"},
    {"shapes", "shapes", F_SHAPES, "text[]"},
    {"lab_grown", "labGrown", F_BOOL, "boolean"},
    {"feed", "feed", F_TEXT, "text"},
    {"price_min", "priceMin", F_NUM, "numeric"},
    {"price_max", "priceMax", F_NUM, "numeric"},
    {"markup_ratio", "markupRatio", F_NUM, "numeric"},
    {"rating", "rating", F_INT, "smallint"},
    {"active", "active", F_BOOL, "boolean"},
};
#define NFIELDS (int)(sizeof(fields) / sizeof(fields[0]))

/* Field values as SQL parameter text; present[i] tells whether the body set field i. */
struct rule_in {
    bool present[NFIELDS];
    char *val[NFIELDS]; /* NULL = SQL NULL */
};

static void rule_in_free(struct rule_in *in)
{
    for (int i = 0; i < NFIELDS; i++)
        free(in->val[i]);
}

static int fidx(const char *snake)
{
    for (int i = 0; i < NFIELDS; i++)
        if (!strcmp(fields[i].snake, snake))
            return i;
    return -1;
}

/* Parse the body; on a problem answers 400 and returns false. */
static bool parse_rule(struct api_call *c, json_t *body, struct rule_in *in)
{
    memset(in, 0, sizeof(*in));
    for (int i = 0; i < NFIELDS; i++) {
        const struct field *f = &fields[i];
        json_t *v = json_object_get(body, f->snake);
        if (v == NULL)
            v = json_object_get(body, f->camel);
        if (v == NULL)
            continue;
        in->present[i] = true;
        if (json_is_null(v)) {
            if (!strcmp(f->snake, "priority") || !strcmp(f->snake, "markup_ratio") ||
                !strcmp(f->snake, "active")) {
                api_validation(c, f->snake, "must not be null");
                return false;
            }
            if (f->kind == F_SHAPES)
                in->val[i] = dm_xstrdup("{}");
            continue;
        }
        switch (f->kind) {
        case F_TEXT:
            if (!json_is_string(v) || json_string_length(v) > 200) {
                api_validation(c, f->snake, "must be a string (at most 200 characters)");
                return false;
            }
            in->val[i] = dm_xstrdup(json_string_value(v));
            break;
        case F_INT: {
            if (!json_is_integer(v)) {
                api_validation(c, f->snake, "must be an integer");
                return false;
            }
            json_int_t x = json_integer_value(v);
            if (!strcmp(f->snake, "rating") && (x < 1 || x > 10)) {
                api_validation(c, "rating", "must be between 1 and 10");
                return false;
            }
            if (!strcmp(f->snake, "priority") && (x < -1000000000 || x > 1000000000)) {
                api_validation(c, "priority", "is out of range");
                return false;
            }
            in->val[i] = dm_xasprintf("%lld", (long long)x);
            break;
        }
        case F_NUM: {
            char *txt = NULL;
            if (json_is_number(v))
                txt = json_is_integer(v) ? dm_xasprintf("%lld", (long long)json_integer_value(v))
                                         : dm_xasprintf("%.10g", json_real_value(v));
            else if (json_is_string(v))
                txt = dm_xstrdup(json_string_value(v));
            double x;
            if (txt == NULL || dm_parse_double(txt, -1e12, 1e12, &x) != DM_OK) {
                free(txt);
                api_validation(c, f->snake, "must be a number");
                return false;
            }
            bool markup = !strcmp(f->snake, "markup_ratio");
            if ((markup && (x <= 0 || x >= 100)) || (!markup && x < 0)) {
                free(txt);
                api_validation(c, f->snake,
                               markup ? "must be greater than 0 (and below 100)"
                                      : "must not be negative");
                return false;
            }
            in->val[i] = txt;
            break;
        }
        case F_BOOL:
            if (!json_is_boolean(v)) {
                api_validation(c, f->snake, "must be a boolean");
                return false;
            }
            in->val[i] = dm_xstrdup(json_is_true(v) ? "true" : "false");
            break;
        case F_SHAPES: {
            if (!json_is_array(v) || json_array_size(v) > 17) {
                api_validation(c, "shapes", "must be an array of known shapes");
                return false;
            }
            struct dm_buf b;
            dm_buf_init(&b, 4096);
            enum dm_err e = dm_buf_append_char(&b, '{');
            size_t k;
            json_t *s;
            json_array_foreach(v, k, s)
            {
                if (!json_is_string(s) || !dm_shape_known(json_string_value(s))) {
                    dm_buf_free(&b);
                    char msg[160];
                    snprintf(msg, sizeof(msg), "contains an unknown shape '%.40s'",
                             json_is_string(s) ? json_string_value(s) : "?");
                    api_validation(c, "shapes", msg);
                    return false;
                }
                char upper[64];
                size_t j = 0;
                for (const char *p = json_string_value(s); *p && j + 1 < sizeof(upper); p++)
                    upper[j++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
                upper[j] = '\0';
                if (e == DM_OK)
                    e = dm_pgarray_add(&b, upper);
            }
            if (e == DM_OK)
                e = dm_buf_append_char(&b, '}');
            if (e != DM_OK) { /* a partial array must not reach the SQL */
                dm_buf_free(&b);
                api_validation(c, "shapes", "is too long");
                return false;
            }
            in->val[i] = dm_buf_steal(&b);
            break;
        }
        }
    }
    return true;
}

static double num_or(const struct rule_in *in, const char *snake, double def, bool *set)
{
    int i = fidx(snake);
    double x = def;
    *set = false;
    if (in->val[i] && dm_parse_double(in->val[i], -1e12, 1e12, &x) == DM_OK)
        *set = true;
    return x;
}

/* Cross-field rules over the merged values. */
static bool check_ranges(struct api_call *c, const struct rule_in *in)
{
    bool a, b;
    double lo = num_or(in, "carat_min", 0, &a), hi = num_or(in, "carat_max", 0, &b);
    if (a && b && lo > hi) {
        api_validation(c, "carat_min", "must not be greater than carat_max");
        return false;
    }
    lo = num_or(in, "price_min", 0, &a);
    hi = num_or(in, "price_max", 0, &b);
    if (a && b && lo > hi) {
        api_validation(c, "price_min", "must not be greater than price_max");
        return false;
    }
    return true;
}

void api_rules_list(struct api_call *c)
{
    api_rows_answer(c, "SELECT " RULE_COLS " FROM pricing_rules ORDER BY priority, id", 0, NULL);
}

/* INSERT (id == NULL) or UPDATE of the given values; answers the stored rule. */
static void write_rule(struct api_call *c, const char *id, struct rule_in *in)
{
    struct dm_buf sql;
    dm_buf_init(&sql, 8192);
    const char *params[NFIELDS + 1];
    int np = 0;
    enum dm_err e = DM_OK;
    if (id == NULL) {
        e = dm_buf_append_str(&sql, "INSERT INTO pricing_rules (");
        int n = 0;
        for (int i = 0; i < NFIELDS && e == DM_OK; i++)
            if (in->present[i])
                e = dm_buf_appendf(&sql, "%s%s", n++ ? ", " : "", fields[i].snake);
        if (e == DM_OK)
            e = dm_buf_append_str(&sql, ") VALUES (");
        for (int i = 0; i < NFIELDS && e == DM_OK; i++) {
            if (!in->present[i])
                continue;
            params[np] = in->val[i];
            np++;
            e = dm_buf_appendf(&sql, "%s$%d::%s", np > 1 ? ", " : "", np, fields[i].cast);
        }
        if (e == DM_OK)
            e = dm_buf_append_str(&sql, ") RETURNING " RULE_COLS);
    } else {
        e = dm_buf_append_str(&sql, "UPDATE pricing_rules SET updated_at = now()");
        for (int i = 0; i < NFIELDS && e == DM_OK; i++) {
            if (!in->present[i])
                continue;
            params[np] = in->val[i];
            np++;
            e = dm_buf_appendf(&sql, ", %s = $%d::%s", fields[i].snake, np, fields[i].cast);
        }
        params[np] = id;
        np++;
        if (e == DM_OK)
            e = dm_buf_appendf(&sql, " WHERE id = $%d RETURNING " RULE_COLS, np);
    }
    PGresult *r = NULL;
    struct dm_error err = {0};
    if (e == DM_OK)
        e = dm_db_query(c->api->db, sql.data, np, params, &r, &err);
    dm_buf_free(&sql);
    if (e == DM_ERR_INVALID) {
        api_error(c, 400, "VALIDATION_ERROR", "Pricing rule violates a constraint", NULL);
        return;
    }
    if (!api_row_found(c, e, &err, &r, "Pricing rule not found"))
        return;
    api_data(c, id ? 200 : 201, api_row_json(r, 0));
    PQclear(r);
}

void api_rules_create(struct api_call *c)
{
    json_t *body = api_body_object(c);
    if (body == NULL)
        return;
    struct rule_in in;
    if (!parse_rule(c, body, &in))
        goto out;
    if (!in.present[fidx("priority")]) {
        api_validation(c, "priority", "is required");
        goto out;
    }
    if (!in.present[fidx("markup_ratio")]) {
        api_validation(c, "markup_ratio", "is required");
        goto out;
    }
    if (!check_ranges(c, &in))
        goto out;
    write_rule(c, NULL, &in);
out:
    rule_in_free(&in);
    json_decref(body);
}

void api_rules_update(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "id", &id))
        return;
    json_t *body = api_body_object(c);
    if (body == NULL)
        return;
    struct rule_in in;
    PGresult *r = NULL;
    if (!parse_rule(c, body, &in))
        goto out;
    /* Validate ranges against the merged rule (stored values for fields not sent). */
    const char *p[1] = {id};
    if (!api_query_row(c,
                       "SELECT carat_min::text, carat_max::text, price_min::text, "
                       "price_max::text FROM pricing_rules WHERE id = $1",
                       1, p, &r, "Pricing rule not found"))
        goto out;
    struct rule_in merged;
    memset(&merged, 0, sizeof(merged));
    const char *names[4] = {"carat_min", "carat_max", "price_min", "price_max"};
    for (int k = 0; k < 4; k++) {
        int i = fidx(names[k]);
        merged.val[i] = in.present[i]          ? (in.val[i] ? dm_xstrdup(in.val[i]) : NULL)
                        : PQgetisnull(r, 0, k) ? NULL
                                               : dm_xstrdup(PQgetvalue(r, 0, k));
    }
    bool ok = check_ranges(c, &merged);
    rule_in_free(&merged);
    if (!ok)
        goto out;
    write_rule(c, id, &in);
out:
    PQclear(r);
    rule_in_free(&in);
    json_decref(body);
}

void api_rules_delete(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "id", &id))
        return;
    const char *p[1] = {id};
    PGresult *r = NULL;
    if (!api_query_row(c, "DELETE FROM pricing_rules WHERE id = $1 RETURNING id", 1, p, &r,
                       "Pricing rule not found"))
        return;
    PQclear(r);
    api_data(c, 200, json_pack("{s:s,s:b}", "id", id, "deleted", 1));
}

void api_rules_reprice(struct api_call *c)
{
    struct dm_reprice_result res;
    memset(&res, 0, sizeof(res));
    struct dm_error err = {0};
    enum dm_err e = dm_reprice_all(c->api->db, &res, &err);
    if (e != DM_OK) {
        api_fail(c, e, &err);
        return;
    }
    dm_info(&c->log, "repriced by %s: %lld examined, %lld updated", c->client,
            (long long)res.examined, (long long)res.updated);
    api_search_settle(c->api);
    api_data(c, 200,
             json_pack("{s:I,s:I,s:I,s:I}", "examined", (json_int_t)res.examined, "updated",
                       (json_int_t)res.updated, "pricesChanged", (json_int_t)res.prices_changed,
                       "durationMs", (json_int_t)res.duration_ms));
}
