/*
 * pricing.c - pricing rules CRUD with validation (markup_ratio > 0, carat_min <= carat_max,
 * price_min <= price_max, rating 1..10, shapes from the supplier's known shapes) and the
 * reprice action (services/consolidator/reprice.h). Bodies accept snake_case or camelCase.
 * The fields, their validation and the columns answered are the rows of dm_pricing_fields
 * (domain/pricing.h); bounds and messages come from the rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/json.h"
#include "core/num.h"
#include "core/pgarray.h"
#include "domain/pricing.h"
#include "services/api/api.h"
#include "services/consolidator/reprice.h"

#define NFIELDS DM_PRICING_MAX_FIELDS
#define FIELD(i) (&dm_pricing_fields[i])
#define NUM_LIMIT 1e12 /* a number outside +-10^12 is "not a number" */

/* Field values as SQL parameter text, indexed like dm_pricing_fields; present[i] tells whether
 * the body set field i. */
struct rule_in {
    bool present[NFIELDS];
    char *val[NFIELDS]; /* NULL = SQL NULL */
};

static void rule_in_free(struct rule_in *in)
{
    for (int i = 0; i < NFIELDS; i++)
        free(in->val[i]);
}

/* Every column, in table order, as the API answers them (a set as a JSON array). */
static enum dm_err append_cols(struct dm_buf *b)
{
    enum dm_err e = DM_OK;
    for (size_t i = 0; i < dm_pricing_nfields && e == DM_OK; i++) {
        const struct dm_pricing_field *f = FIELD(i);
        e = f->type == DM_PRT_SET
                ? dm_buf_appendf(b, "%sto_json(%s) AS %s", i ? ", " : "", f->name, f->name)
                : dm_buf_appendf(b, "%s%s", i ? ", " : "", f->name);
    }
    return e;
}

/* The names of a set field's JSON array as an upper-case array literal; answers 400 and
 * returns NULL on a problem. */
static char *set_value(struct api_call *c, const struct dm_pricing_field *f, json_t *v)
{
    char msg[160];
    if (!json_is_array(v) || json_array_size(v) > f->max) {
        snprintf(msg, sizeof(msg), "must be an array of known %s", f->name);
        api_validation(c, f->name, msg);
        return NULL;
    }
    struct dm_buf b;
    dm_buf_init(&b, 4096);
    enum dm_err e = dm_buf_append_char(&b, '{');
    size_t k;
    json_t *s;
    json_array_foreach(v, k, s)
    {
        if (!json_is_string(s) || !f->known(json_string_value(s))) {
            dm_buf_free(&b);
            snprintf(msg, sizeof(msg), "contains an unknown %s '%.40s'", f->item,
                     json_is_string(s) ? json_string_value(s) : "?");
            api_validation(c, f->name, msg);
            return NULL;
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
        api_validation(c, f->name, "is too long");
        return NULL;
    }
    return dm_buf_steal(&b);
}

/* One field's (non-null) JSON value as SQL parameter text; answers 400 and returns NULL on a
 * problem. */
static char *field_value(struct api_call *c, const struct dm_pricing_field *f, json_t *v)
{
    char msg[160];
    switch (f->type) {
    case DM_PRT_TEXT:
        if (!json_is_string(v) || json_string_length(v) > f->max) {
            snprintf(msg, sizeof(msg), "must be a string (at most %zu characters)", f->max);
            api_validation(c, f->name, msg);
            return NULL;
        }
        return dm_xstrdup(json_string_value(v));
    case DM_PRT_INT: {
        if (!json_is_integer(v)) {
            api_validation(c, f->name, "must be an integer");
            return NULL;
        }
        json_int_t x = json_integer_value(v);
        if ((double)x < f->lo || (double)x > f->hi) {
            api_validation(c, f->name, f->range_msg);
            return NULL;
        }
        return dm_xasprintf("%lld", (long long)x);
    }
    case DM_PRT_FIXED: {
        char *txt = NULL;
        if (json_is_number(v))
            txt = json_is_integer(v) ? dm_xasprintf("%lld", (long long)json_integer_value(v))
                                     : dm_xasprintf("%.10g", json_real_value(v));
        else if (json_is_string(v))
            txt = dm_xstrdup(json_string_value(v));
        double x;
        if (txt == NULL || dm_parse_double(txt, -NUM_LIMIT, NUM_LIMIT, &x) != DM_OK) {
            free(txt);
            api_validation(c, f->name, "must be a number");
            return NULL;
        }
        if (f->open ? (x <= f->lo || x >= f->hi) : (x < f->lo || x > f->hi)) {
            free(txt);
            api_validation(c, f->name, f->range_msg);
            return NULL;
        }
        return txt;
    }
    case DM_PRT_BOOL:
        if (!json_is_boolean(v)) {
            api_validation(c, f->name, "must be a boolean");
            return NULL;
        }
        return dm_xstrdup(json_is_true(v) ? "true" : "false");
    case DM_PRT_SET:
        return set_value(c, f, v);
    case DM_PRT_UUID:
    case DM_PRT_TIME:
        break;
    }
    api_validation(c, f->name, "is set by the server");
    return NULL;
}

/* Parse the body; on a problem answers 400 and returns false. Fields the database sets (id,
 * timestamps) are ignored. */
static bool parse_rule(struct api_call *c, json_t *body, struct rule_in *in)
{
    memset(in, 0, sizeof(*in));
    for (size_t i = 0; i < dm_pricing_nfields; i++) {
        const struct dm_pricing_field *f = FIELD(i);
        if (f->server)
            continue;
        char camel[64];
        api_camel(f->name, camel, sizeof(camel));
        json_t *v = json_object_get(body, f->name);
        if (v == NULL)
            v = json_object_get(body, camel);
        if (v == NULL)
            continue;
        in->present[i] = true;
        if (json_is_null(v)) {
            if (f->type == DM_PRT_SET) { /* null: any, the empty set */
                in->val[i] = dm_xstrdup("{}");
                continue;
            }
            if (!f->nullable) {
                api_validation(c, f->name, "must not be null");
                return false;
            }
            continue;
        }
        in->val[i] = field_value(c, f, v);
        if (in->val[i] == NULL)
            return false;
    }
    return true;
}

/* Index of the MAX field bounding the same stone value as the MIN field f, or -1. */
static int max_of(const struct dm_pricing_field *f)
{
    for (size_t i = 0; i < dm_pricing_nfields; i++)
        if (FIELD(i)->match == DM_PRM_MAX && !strcmp(FIELD(i)->stone, f->stone))
            return (int)i;
    return -1;
}

/* Cross-field rules over the merged values: every MIN at most its MAX. */
static bool check_ranges(struct api_call *c, const struct rule_in *in)
{
    for (size_t i = 0; i < dm_pricing_nfields; i++) {
        int j = FIELD(i)->match == DM_PRM_MIN ? max_of(FIELD(i)) : -1;
        double lo, hi;
        if (j < 0 || in->val[i] == NULL || in->val[j] == NULL ||
            dm_parse_double(in->val[i], -NUM_LIMIT, NUM_LIMIT, &lo) != DM_OK ||
            dm_parse_double(in->val[j], -NUM_LIMIT, NUM_LIMIT, &hi) != DM_OK || lo <= hi)
            continue;
        char msg[160];
        snprintf(msg, sizeof(msg), "must not be greater than %s", FIELD(j)->name);
        api_validation(c, FIELD(i)->name, msg);
        return false;
    }
    return true;
}

json_t *api_rules_schema(bool create)
{
    json_t *props = json_object(), *required = json_array();
    for (size_t i = 0; i < dm_pricing_nfields; i++) {
        const struct dm_pricing_field *f = FIELD(i);
        if (f->server)
            continue;
        json_t *p = json_object();
        switch (f->type) {
        case DM_PRT_TEXT:
            json_object_set_new(p, "type", json_string("string"));
            json_object_set_new(p, "maxLength", json_integer((json_int_t)f->max));
            break;
        case DM_PRT_INT:
            json_object_set_new(p, "type", json_string("integer"));
            json_object_set_new(p, "minimum", json_integer((json_int_t)f->lo));
            json_object_set_new(p, "maximum", json_integer((json_int_t)f->hi));
            break;
        case DM_PRT_FIXED:
            json_object_set_new(p, "type", json_string("number"));
            json_object_set_new(p, "minimum", json_real(f->lo));
            if (f->hi < NUM_LIMIT)
                json_object_set_new(p, "maximum", json_real(f->hi));
            if (f->open) { /* OpenAPI 3.0: booleans beside minimum and maximum */
                json_object_set_new(p, "exclusiveMinimum", json_true());
                if (f->hi < NUM_LIMIT)
                    json_object_set_new(p, "exclusiveMaximum", json_true());
            }
            break;
        case DM_PRT_SET:
            json_object_set_new(p, "type", json_string("array"));
            json_object_set_new(p, "items", json_pack("{s:s}", "type", "string"));
            json_object_set_new(p, "maxItems", json_integer((json_int_t)f->max));
            break;
        case DM_PRT_BOOL:
            json_object_set_new(p, "type", json_string("boolean"));
            break;
        case DM_PRT_UUID:
        case DM_PRT_TIME:
            break;
        }
        if (f->nullable || f->type == DM_PRT_SET)
            json_object_set_new(p, "nullable", json_true());
        json_object_set_new(props, f->name, p);
        if (create && f->required)
            json_array_append_new(required, json_string(f->name));
    }
    json_t *schema = json_pack("{s:s,s:o}", "type", "object", "properties", props);
    if (json_array_size(required) > 0)
        json_object_set_new(schema, "required", required);
    else
        json_decref(required);
    return schema;
}

void api_rules_list(struct api_call *c)
{
    struct dm_buf sql;
    dm_buf_init(&sql, 8192);
    enum dm_err e = dm_buf_append_str(&sql, "SELECT ");
    if (e == DM_OK)
        e = append_cols(&sql);
    if (e == DM_OK)
        e = dm_buf_append_str(&sql, " FROM pricing_rules ORDER BY priority, id");
    if (e == DM_OK)
        api_rows_answer(c, sql.data, 0, NULL);
    else
        api_fail(c, DM_ERR_INTERNAL, NULL);
    dm_buf_free(&sql);
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
        for (size_t i = 0; i < dm_pricing_nfields && e == DM_OK; i++)
            if (in->present[i])
                e = dm_buf_appendf(&sql, "%s%s", n++ ? ", " : "", FIELD(i)->name);
        if (e == DM_OK)
            e = dm_buf_append_str(&sql, ") VALUES (");
        for (size_t i = 0; i < dm_pricing_nfields && e == DM_OK; i++) {
            if (!in->present[i])
                continue;
            params[np] = in->val[i];
            np++;
            e = dm_buf_appendf(&sql, "%s$%d::%s", np > 1 ? ", " : "", np, FIELD(i)->sql_type);
        }
        if (e == DM_OK)
            e = dm_buf_append_str(&sql, ") RETURNING ");
    } else {
        e = dm_buf_append_str(&sql, "UPDATE pricing_rules SET updated_at = now()");
        for (size_t i = 0; i < dm_pricing_nfields && e == DM_OK; i++) {
            if (!in->present[i])
                continue;
            params[np] = in->val[i];
            np++;
            e = dm_buf_appendf(&sql, ", %s = $%d::%s", FIELD(i)->name, np, FIELD(i)->sql_type);
        }
        params[np] = id;
        np++;
        if (e == DM_OK)
            e = dm_buf_appendf(&sql, " WHERE id = $%d RETURNING ", np);
    }
    if (e == DM_OK)
        e = append_cols(&sql);
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
    for (size_t i = 0; i < dm_pricing_nfields; i++) {
        if (FIELD(i)->required && !in.present[i]) {
            api_validation(c, FIELD(i)->name, "is required");
            goto out;
        }
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
    struct rule_in merged;
    memset(&merged, 0, sizeof(merged));
    struct dm_buf sql;
    dm_buf_init(&sql, 4096);
    PGresult *r = NULL;
    if (!parse_rule(c, body, &in))
        goto out;
    /* Validate ranges against the merged rule (stored values for bounds not sent). */
    int bounds[NFIELDS], nb = 0;
    enum dm_err e = dm_buf_append_str(&sql, "SELECT ");
    for (size_t i = 0; i < dm_pricing_nfields && e == DM_OK; i++) {
        if (FIELD(i)->match != DM_PRM_MIN && FIELD(i)->match != DM_PRM_MAX)
            continue;
        e = dm_buf_appendf(&sql, "%s%s::text", nb ? ", " : "", FIELD(i)->name);
        bounds[nb++] = (int)i;
    }
    if (e == DM_OK)
        e = dm_buf_append_str(&sql, " FROM pricing_rules WHERE id = $1");
    if (e != DM_OK) {
        api_fail(c, DM_ERR_INTERNAL, NULL);
        goto out;
    }
    const char *p[1] = {id};
    if (!api_query_row(c, sql.data, 1, p, &r, "Pricing rule not found"))
        goto out;
    for (int k = 0; k < nb; k++) {
        int i = bounds[k];
        merged.val[i] = in.present[i]          ? (in.val[i] ? dm_xstrdup(in.val[i]) : NULL)
                        : PQgetisnull(r, 0, k) ? NULL
                                               : dm_xstrdup(PQgetvalue(r, 0, k));
    }
    if (!check_ranges(c, &merged))
        goto out;
    write_rule(c, id, &in);
out:
    rule_in_free(&merged);
    dm_buf_free(&sql);
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
    enum dm_err e = dm_reprice_all(c->api->db, &c->api->listing, &res, &err);
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
