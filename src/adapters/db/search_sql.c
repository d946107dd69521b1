/* search_sql.c - the SQL of a diamond search (see search_sql.h). */
#include "adapters/db/search_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/num.h"
#include "core/pgarray.h"

/* How each sort orders rows in SQL: the ORDER BY expression, the same as text (the cursor
 * key) and the cast of a cursor key parameter. */
struct sort_sql {
    const char *expr;
    const char *key_sql;
    const char *key_cast;
};

static const struct sort_sql sorts[DM_SQ_SORT_COUNT] = {
    [DM_SQ_SORT_CREATED_AT] = {"created_at",
                               "to_char(created_at AT TIME ZONE 'UTC', "
                               "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
                               "timestamptz"},
    [DM_SQ_SORT_RETAIL_PRICE] = {"retail_price", "retail_price::text", "numeric"},
    [DM_SQ_SORT_FEED_PRICE] = {"feed_price", "feed_price::text", "numeric"},
    [DM_SQ_SORT_CARATS] = {"carats", "carats::text", "numeric"},
    [DM_SQ_SORT_COLOR] = {"dm_color_rank(color)", "dm_color_rank(color)::text", "smallint"},
    [DM_SQ_SORT_CLARITY] = {"dm_clarity_rank(clarity)", "dm_clarity_rank(clarity)::text",
                            "smallint"},
};

void dm_sql_init(struct dm_sql *s)
{
    memset(s, 0, sizeof(*s));
    dm_buf_init(&s->text, (size_t)64 * 1024);
}

void dm_sql_free(struct dm_sql *s)
{
    if (s == NULL)
        return;
    dm_buf_free(&s->text);
    for (int i = 0; i < s->n; i++)
        free(s->params[i]);
    s->n = 0;
}

enum dm_err dm_sql_param(struct dm_sql *s, const char *value)
{
    if (s->n >= DM_SQL_MAX_PARAMS)
        return DM_ERR_TOO_LARGE;
    s->params[s->n] = value ? dm_xstrdup(value) : NULL;
    s->n++;
    return dm_buf_appendf(&s->text, "$%d", s->n);
}

enum dm_err dm_sql_text(struct dm_sql *s, const char *text)
{
    return dm_buf_append_str(&s->text, text);
}

enum dm_err dm_sql_array_literal(const struct dm_sq_list *l, struct dm_buf *out)
{
    const char *items[DM_SQ_MAX_VALUES];
    for (int i = 0; i < l->n; i++)
        items[i] = l->v[i];
    return dm_pgarray_encode(out, items, (size_t)l->n);
}

const char DM_DIAMOND_JSON_SQL[] =
    "json_strip_nulls(json_build_object("
    "'id',listing_id,'feed',feed,'supplierStoneId',supplier_stone_id,'offerId',offer_id,"
    "'shape',shape,'carats',carats,'color',color,'clarity',clarity,'cut',cut,"
    "'polish',polish,'symmetry',symmetry,'fluorescence',fluorescence,"
    "'labGrown',lab_grown,'treated',treated,'feedPrice',feed_price,"
    "'priceModelPrice',feed_price,'pricePerCarat',price_per_carat,"
    "'retailPrice',retail_price,'markupRatio',markup_ratio,'rating',rating,"
    "'pricingRuleId',pricing_rule_id,'availability',availability,"
    "'rawAvailability',raw_availability,'holdId',hold_id,'imageUrl',image_url,"
    "'videoUrl',video_url,'certificateLab',certificate_lab,"
    "'certificateNumber',certificate_number,'certificatePdfUrl',certificate_pdf_url,"
    "'measurements',measurements,'attributes',attributes,'supplierName',supplier_name,"
    "'supplierLegalName',supplier_legal_name,'status',status,'createdAt',created_at,"
    "'updatedAt',updated_at))::text";

static enum dm_err list_filter(struct dm_sql *s, const struct dm_sq_list *l, const char *expr)
{
    if (l->n == 0)
        return DM_OK;
    if (l->n == 1) {
        /* Plain equality lets the planner use an index's order (e.g. shape + price) where
         * "= ANY(array)" would force a sort over every matching row. */
        enum dm_err e = dm_buf_appendf(&s->text, " AND %s = ", expr);
        if (e == DM_OK)
            e = dm_sql_param(s, l->v[0]);
        return e;
    }
    struct dm_buf arr;
    dm_buf_init(&arr, 8192);
    enum dm_err e = dm_sql_array_literal(l, &arr);
    if (e == DM_OK)
        e = dm_buf_appendf(&s->text, " AND %s = ANY(", expr);
    if (e == DM_OK)
        e = dm_sql_param(s, arr.data);
    if (e == DM_OK)
        e = dm_sql_text(s, "::text[])");
    dm_buf_free(&arr);
    return e;
}

static enum dm_err fixed_filter(struct dm_sql *s, bool has, int64_t v, int scale,
                                const char *expr_op)
{
    if (!has)
        return DM_OK;
    char num[40];
    dm_format_fixed(v, scale, num, sizeof(num));
    enum dm_err e = dm_buf_appendf(&s->text, " AND %s ", expr_op);
    if (e == DM_OK)
        e = dm_sql_param(s, num);
    if (e == DM_OK)
        e = dm_sql_text(s, "::numeric");
    return e;
}

static enum dm_err where_filters(const struct dm_search_query *q, struct dm_sql *s)
{
    /* One listing per stone: its chosen offer (store/listings.h). */
    enum dm_err e = dm_sql_text(s, " WHERE status = 'active' AND chosen");
    for (size_t i = 0; e == DM_OK && i < dm_sq_nfilters; i++) {
        const struct dm_sq_filter *f = &dm_sq_filters[i];
        const char *at = (const char *)q + f->value;
        char op[80];
        switch (f->kind) {
        case DM_SQF_LIST:
            e = list_filter(s, (const struct dm_sq_list *)at, f->column);
            break;
        case DM_SQF_MIN:
        case DM_SQF_MAX:
            snprintf(op, sizeof(op), "%s %s", f->column, f->kind == DM_SQF_MIN ? ">=" : "<=");
            e = fixed_filter(s, *(const bool *)((const char *)q + f->has), *(const int64_t *)at,
                             f->scale, op);
            break;
        case DM_SQF_BOOL:
            if (*(const int *)at < 0)
                break;
            e = dm_buf_appendf(&s->text, " AND %s = ", f->column);
            if (e == DM_OK)
                e = dm_sql_param(s, *(const int *)at ? "true" : "false");
            if (e == DM_OK)
                e = dm_buf_appendf(&s->text, "::%s", f->cast);
            break;
        }
    }
    return e;
}

/* The id query of a page: dm_row_id, dm_sort_key in page order, at most limit + 1 rows. */
static enum dm_err ids_query(const struct dm_search_query *q, struct dm_sql *out)
{
    const struct sort_sql *sd = &sorts[q->sort];
    const char *dir = q->desc ? "DESC" : "ASC";
    enum dm_err e = dm_buf_appendf(
        &out->text, "SELECT id::text AS dm_row_id, %s AS dm_sort_key FROM diamonds", sd->key_sql);
    if (e == DM_OK)
        e = where_filters(q, out);
    if (e == DM_OK && q->has_cursor) {
        /* Row comparison keeps the (expr, id) index usable in either direction. */
        e = dm_buf_appendf(&out->text, " AND (%s, id) %s (", sd->expr, q->desc ? "<" : ">");
        if (e == DM_OK)
            e = dm_sql_param(out, q->cursor_key);
        if (e == DM_OK)
            e = dm_buf_appendf(&out->text, "::%s, ", sd->key_cast);
        if (e == DM_OK)
            e = dm_sql_param(out, q->cursor_id);
        if (e == DM_OK)
            e = dm_sql_text(out, "::uuid)");
    }
    if (e == DM_OK)
        e = dm_buf_appendf(&out->text, " ORDER BY %s %s, id %s LIMIT ", sd->expr, dir, dir);
    char num[32];
    snprintf(num, sizeof(num), "%d", q->limit + 1);
    if (e == DM_OK)
        e = dm_sql_param(out, num);
    if (e == DM_OK && !q->has_cursor && q->page > 1) {
        snprintf(num, sizeof(num), "%lld", (long long)(q->page - 1) * q->limit);
        e = dm_sql_text(out, " OFFSET ");
        if (e == DM_OK)
            e = dm_sql_param(out, num);
    }
    return e;
}

enum dm_err dm_search_build_ids_sql(const struct dm_search_query *q, struct dm_sql *out)
{
    return ids_query(q, out);
}

enum dm_err dm_search_build_page_sql(const struct dm_search_query *q, struct dm_sql *out)
{
    const struct sort_sql *sd = &sorts[q->sort];
    const char *dir = q->desc ? "DESC" : "ASC";
    /* Two steps in one statement: the inner query finds the page's ids using only the sort
     * index (an index-only scan where the index covers the filters, so rows skipped by filters
     * or OFFSET cost no heap fetch), the outer one builds the JSON of just those rows. Output
     * column aliases cannot capture ORDER BY names (a text column "feed_price" would). */
    enum dm_err e = dm_buf_appendf(&out->text,
                                   "SELECT %s AS dm_json, k.dm_sort_key, id::text AS dm_row_id "
                                   "FROM (",
                                   DM_DIAMOND_JSON_SQL);
    if (e == DM_OK)
        e = ids_query(q, out);
    if (e == DM_OK)
        e = dm_buf_appendf(&out->text,
                           ") k JOIN diamonds ON diamonds.id = k.dm_row_id::uuid "
                           "ORDER BY %s %s, id %s",
                           sd->expr, dir, dir);
    return e;
}

enum dm_err dm_search_build_count_sql(const struct dm_search_query *q, int64_t cap,
                                      struct dm_sql *out)
{
    enum dm_err e = dm_sql_text(out, "SELECT count(*) FROM (SELECT 1 FROM diamonds");
    if (e == DM_OK)
        e = where_filters(q, out);
    if (e == DM_OK && cap > 0) {
        char num[32];
        snprintf(num, sizeof(num), "%lld", (long long)cap + 1);
        e = dm_sql_text(out, " LIMIT ");
        if (e == DM_OK)
            e = dm_sql_param(out, num);
    }
    if (e == DM_OK)
        e = dm_sql_text(out, ") t");
    return e;
}

enum dm_err dm_search_build_filter_sql(const struct dm_search_query *q, struct dm_sql *out)
{
    enum dm_err e = dm_sql_text(out, "SELECT 1 FROM diamonds");
    if (e == DM_OK)
        e = where_filters(q, out);
    return e;
}
