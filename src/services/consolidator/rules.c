/* rules.c - load the active pricing rules from pricing_rules into domain structs. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/num.h"
#include "services/consolidator/consolidator.h"

static enum dm_err fixed_opt(const PGresult *r, int row, int col, int scale, bool *has, int64_t *v)
{
    const char *s = dm_db_get(r, row, col);
    *has = s != NULL;
    if (s == NULL)
        return DM_OK;
    return dm_parse_fixed(s, scale, v);
}

enum dm_err dm_consolidator_load_rules(struct dm_db_conn *c, struct dm_pricing_rule **rules,
                                       size_t *n, struct dm_error *err)
{
    PGresult *r = NULL;
    *rules = NULL;
    *n = 0;
    enum dm_err e = dm_db_exec(c,
                               "SELECT id, priority, carat_min, carat_max, array_to_json(shapes), "
                               "lab_grown, feed, price_min, price_max, markup_ratio, rating "
                               "FROM pricing_rules WHERE active ORDER BY priority, id",
                               0, NULL, &r, err);
    if (e != DM_OK)
        return e;
    int rows = PQntuples(r);
    struct dm_pricing_rule *out = dm_xcalloc(rows > 0 ? (size_t)rows : 1, sizeof(*out));
    for (int i = 0; i < rows && e == DM_OK; i++) {
        struct dm_pricing_rule *p = &out[i];
        snprintf(p->id, sizeof(p->id), "%s", dm_db_get(r, i, 0));
        int64_t prio = 0;
        bool has = false, has_markup = false;
        e = dm_parse_i64(dm_db_get(r, i, 1), INT32_MIN, INT32_MAX, &prio);
        p->priority = (int)prio;
        if (e == DM_OK)
            e = fixed_opt(r, i, 2, 2, &p->has_carat_min, &p->carat_min_c2);
        if (e == DM_OK)
            e = fixed_opt(r, i, 3, 2, &p->has_carat_max, &p->carat_max_c2);
        const char *shapes = dm_db_get(r, i, 4);
        json_t *arr = shapes ? json_loads(shapes, 0, NULL) : NULL;
        if (json_is_array(arr) && json_array_size(arr) > 0) {
            p->shapes = dm_xcalloc(json_array_size(arr), sizeof(char *));
            size_t k;
            json_t *v;
            json_array_foreach(arr, k, v)
            {
                if (json_is_string(v))
                    p->shapes[p->nshapes++] = dm_xstrdup(json_string_value(v));
            }
        }
        json_decref(arr);
        const char *lg = dm_db_get(r, i, 5);
        p->lab_grown = lg == NULL ? -1 : (lg[0] == 't');
        const char *feed = dm_db_get(r, i, 6);
        p->feed = feed ? dm_xstrdup(feed) : NULL;
        if (e == DM_OK)
            e = fixed_opt(r, i, 7, 2, &p->has_price_min, &p->price_min_cents);
        if (e == DM_OK)
            e = fixed_opt(r, i, 8, 2, &p->has_price_max, &p->price_max_cents);
        if (e == DM_OK)
            e = fixed_opt(r, i, 9, 4, &has_markup, &p->markup_e4);
        int64_t rating = 0;
        if (e == DM_OK)
            e = fixed_opt(r, i, 10, 0, &has, &rating);
        p->rating = has ? (int)rating : 0;
        if (e != DM_OK)
            e = dm_error_set(err, DM_ERR_INVALID, "pricing rule %s: unreadable value", p->id);
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
