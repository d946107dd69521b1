/* rules.c - load the active pricing rules from pricing_rules into domain structs. The columns
 * read and how each is parsed come from the rows of dm_pricing_fields (domain/pricing.h) that
 * the rule holds. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/num.h"
#include "services/consolidator/consolidator.h"

/* SELECT <every column the rule holds, in table order> FROM pricing_rules WHERE active ... */
static enum dm_err select_sql(struct dm_buf *sql)
{
    enum dm_err e = dm_buf_append_str(sql, "SELECT ");
    int n = 0;
    for (size_t i = 0; i < dm_pricing_nfields && e == DM_OK; i++) {
        const struct dm_pricing_field *f = &dm_pricing_fields[i];
        if (f->rule == DM_PRICING_NONE)
            continue;
        /* A set travels as JSON: names with commas or quotes need no array-literal parser. */
        e = dm_buf_appendf(sql, f->type == DM_PRT_SET ? "%sarray_to_json(%s)" : "%s%s",
                           n++ ? ", " : "", f->name);
    }
    if (e == DM_OK)
        e = dm_buf_append_str(sql, " FROM pricing_rules WHERE active ORDER BY priority, id");
    return e;
}

/* Parse one column's text (NULL = SQL NULL) into the rule's member for field f. */
static enum dm_err read_field(const struct dm_pricing_field *f, const char *s,
                              struct dm_pricing_rule *p)
{
    char *at = (char *)p + f->rule;
    if (s == NULL && !f->nullable && f->type != DM_PRT_SET)
        return DM_ERR_INVALID; /* a NOT NULL column read as NULL: another schema */
    switch (f->type) {
    case DM_PRT_UUID:
        if (s == NULL || strlen(s) >= DM_UUID_LEN)
            return DM_ERR_INVALID;
        memcpy(at, s, strlen(s) + 1);
        return DM_OK;
    case DM_PRT_TEXT:
        *(char **)at = s ? dm_xstrdup(s) : NULL;
        return DM_OK;
    case DM_PRT_INT: {
        int64_t v = 0; /* a nullable INT holds NULL as 0 */
        enum dm_err e = s ? dm_parse_i64(s, INT32_MIN, INT32_MAX, &v) : DM_OK;
        *(int *)at = (int)v;
        return e;
    }
    case DM_PRT_FIXED:
        if (f->flag != DM_PRICING_NONE)
            *(bool *)((char *)p + f->flag) = s != NULL;
        return s ? dm_parse_fixed(s, f->scale, (int64_t *)at) : DM_OK;
    case DM_PRT_SET: {
        json_t *arr = s ? json_loads(s, 0, NULL) : NULL;
        int *count = (int *)((char *)p + f->flag);
        if (json_is_array(arr) && json_array_size(arr) > 0) {
            char **names = dm_xcalloc(json_array_size(arr), sizeof(char *));
            *(char ***)at = names;
            size_t k;
            json_t *v;
            json_array_foreach(arr, k, v)
            {
                if (json_is_string(v))
                    names[(*count)++] = dm_xstrdup(json_string_value(v));
            }
        }
        json_decref(arr);
        return DM_OK;
    }
    case DM_PRT_BOOL:
        *(int *)at = s == NULL ? -1 : (s[0] == 't');
        return DM_OK;
    case DM_PRT_TIME:
        break;
    }
    return DM_ERR_INVALID;
}

enum dm_err dm_consolidator_load_rules(struct dm_db_conn *c, struct dm_pricing_rule **rules,
                                       size_t *n, struct dm_error *err)
{
    PGresult *r = NULL;
    *rules = NULL;
    *n = 0;
    struct dm_buf sql;
    dm_buf_init(&sql, 4096);
    enum dm_err e = select_sql(&sql);
    if (e != DM_OK)
        e = dm_error_set(err, DM_ERR_INTERNAL, "pricing rules: statement too long");
    if (e == DM_OK)
        e = dm_db_exec(c, sql.data, 0, NULL, &r, err);
    dm_buf_free(&sql);
    if (e != DM_OK)
        return e;
    int rows = PQntuples(r);
    struct dm_pricing_rule *out = dm_xcalloc(rows > 0 ? (size_t)rows : 1, sizeof(*out));
    for (int i = 0; i < rows && e == DM_OK; i++) {
        struct dm_pricing_rule *p = &out[i];
        int col = 0;
        for (size_t k = 0; k < dm_pricing_nfields && e == DM_OK; k++) {
            const struct dm_pricing_field *f = &dm_pricing_fields[k];
            if (f->rule == DM_PRICING_NONE)
                continue;
            e = read_field(f, dm_db_get(r, i, col), p);
            if (e != DM_OK)
                e = dm_error_set(err, DM_ERR_INVALID, "pricing rule %s: unreadable %s", p->id,
                                 f->name);
            col++;
        }
        *n = (size_t)i + 1;
    }
    PQclear(r);
    if (e != DM_OK) {
        dm_pricing_rules_free(out, *n);
        *n = 0;
        return e;
    }
    *n = (size_t)rows;
    dm_pricing_sort(out, *n);
    *rules = out;
    return DM_OK;
}
