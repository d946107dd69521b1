/* search_query.c - parsing, validation and keyset cursors for diamond search (the SQL it
 * becomes is adapters/db/search_sql.c). */
#include "domain/search_query.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/num.h"

/* ---- sort table ---- */

struct sort_def {
    const char *name;
    enum { KEY_TIME, KEY_NUM, KEY_RANK } kind; /* cursor key syntax */
};

static const struct sort_def sorts[DM_SQ_SORT_COUNT] = {
    [DM_SQ_SORT_CREATED_AT] = {"created_at", KEY_TIME},
    [DM_SQ_SORT_RETAIL_PRICE] = {"retail_price", KEY_NUM},
    [DM_SQ_SORT_FEED_PRICE] = {"feed_price", KEY_NUM},
    [DM_SQ_SORT_CARATS] = {"carats", KEY_NUM},
    [DM_SQ_SORT_COLOR] = {"color", KEY_RANK},
    [DM_SQ_SORT_CLARITY] = {"clarity", KEY_RANK},
};

const char *dm_sq_sort_name(enum dm_sq_sort s)
{
    if ((int)s < 0 || s >= DM_SQ_SORT_COUNT)
        return "created_at";
    return sorts[s].name;
}

static bool parse_sort(const char *v, enum dm_sq_sort *out)
{
    if (!strcmp(v, "price_model_price")) {
        *out = DM_SQ_SORT_FEED_PRICE;
        return true;
    }
    for (int i = 0; i < DM_SQ_SORT_COUNT; i++) {
        if (!strcmp(v, sorts[i].name)) {
            *out = (enum dm_sq_sort)i;
            return true;
        }
    }
    return false;
}

/* ---- parsing ---- */

static enum dm_err fail(struct dm_sq_error *e, const char *param, const char *fmt, ...)
    DM_PRINTF(3, 4);
static enum dm_err fail(struct dm_sq_error *e, const char *param, const char *fmt, ...)
{
    if (e) {
        snprintf(e->param, sizeof(e->param), "%.63s", param);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
    }
    return DM_ERR_INVALID;
}

/* Printable ASCII or UTF-8 continuation bytes only: control characters are garbage. */
static bool clean_text(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

#define QOFF(f) offsetof(struct dm_search_query, f)
static const char *const availabilities[] = {"available", "on_hold", "sold", "unavailable", NULL};

/* A list filter of graded values, compared upper-cased to the SQL expression col. */
#define UPPER_LIST(name, f, col)                                                                   \
    name, DM_SQF_LIST, DM_SQ_UPPER, QOFF(f), 0, 0, 0, col, NULL, NULL,                             \
        "one or many: repeated, name[] or comma-separated; case-insensitive"

/* Every search filter, once: parsing, validation, SQL, the cache key (search.c), the OpenAPI
 * document (openapi.c) and the search index (search_index.c) all read this table, so a new
 * filter is one row here (plus, for the index, a bitmap dimension or range). */
const struct dm_sq_filter dm_sq_filters[] = {
    {UPPER_LIST("shape", shape, "shape")},
    {UPPER_LIST("color", color, "upper(color)")},
    {UPPER_LIST("clarity", clarity, "upper(clarity)")},
    {UPPER_LIST("cut", cut, "upper(cut)")},
    {UPPER_LIST("polish", polish, "upper(polish)")},
    {UPPER_LIST("symmetry", symmetry, "upper(symmetry)")},
    {UPPER_LIST("fluorescence", fluorescence, "upper(fluorescence)")},
    {"availability", DM_SQF_LIST, DM_SQ_LOWER, QOFF(availability), 0, 0, 0, "availability", NULL,
     availabilities, "one or more of available, on_hold, sold, unavailable"},
    {"feed", DM_SQF_LIST, DM_SQ_LOWER, QOFF(feed), 0, 0, 0, "feed", NULL, NULL,
     "one or many feed ids"},
    {"certificate_number", DM_SQF_LIST, DM_SQ_EXACT, QOFF(certificate_number), 0, 0, 0,
     "certificate_number", NULL, NULL, "exact lookup: one or many certificate numbers, as given"},
    {"supplier_stone_id", DM_SQF_LIST, DM_SQ_EXACT, QOFF(supplier_stone_id), 0, 0, 0,
     "supplier_stone_id", NULL, NULL, "exact lookup: one or many supplier stock ids, as given"},
    {"carat_min", DM_SQF_MIN, DM_SQ_EXACT, QOFF(carat_min), QOFF(has_carat_min), 4, 10000000,
     "carats", "numeric", NULL, "carats, at least"},
    {"carat_max", DM_SQF_MAX, DM_SQ_EXACT, QOFF(carat_max), QOFF(has_carat_max), 4, 10000000,
     "carats", "numeric", NULL, "carats, at most"},
    {"price_min", DM_SQF_MIN, DM_SQ_EXACT, QOFF(price_min), QOFF(has_price_min), 2, 99999999999LL,
     "retail_price", "numeric", NULL, "retail dollars, at least"},
    {"price_max", DM_SQF_MAX, DM_SQ_EXACT, QOFF(price_max), QOFF(has_price_max), 2, 99999999999LL,
     "retail_price", "numeric", NULL, "retail dollars, at most"},
    {"lab_grown", DM_SQF_BOOL, DM_SQ_EXACT, QOFF(lab_grown), 0, 0, 0, "lab_grown", "boolean", NULL,
     "true or false only"},
};
const size_t dm_sq_nfilters = sizeof(dm_sq_filters) / sizeof(dm_sq_filters[0]);

const struct dm_sq_filter *dm_sq_filter_find(const char *name)
{
    for (size_t i = 0; i < dm_sq_nfilters; i++)
        if (!strcmp(dm_sq_filters[i].name, name))
            return &dm_sq_filters[i];
    return NULL;
}

static enum dm_err add_values(struct dm_sq_list *l, const struct dm_sq_filter *lp, const char *v,
                              struct dm_sq_error *e)
{
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        /* Trim spaces around each item. */
        const char *s = p;
        size_t n = len;
        while (n > 0 && *s == ' ') {
            s++;
            n--;
        }
        while (n > 0 && s[n - 1] == ' ')
            n--;
        if (n > 0) {
            if (n >= DM_SQ_VALUE_MAX)
                return fail(e, lp->name, "value too long (at most %s characters)", "47");
            if (l->n >= DM_SQ_MAX_VALUES)
                return fail(e, lp->name, "too many values (at most %s)", "24");
            char *dst = l->v[l->n];
            for (size_t i = 0; i < n; i++)
                dst[i] = lp->fold == DM_SQ_UPPER   ? (char)toupper((unsigned char)s[i])
                         : lp->fold == DM_SQ_LOWER ? (char)tolower((unsigned char)s[i])
                                                   : s[i];
            dst[n] = '\0';
            if (lp->allowed) {
                bool ok = false;
                for (size_t i = 0; lp->allowed[i]; i++)
                    ok = ok || !strcmp(dst, lp->allowed[i]);
                if (!ok)
                    return fail(e, lp->name, "must be %s (got '%.40s')", lp->doc, dst);
            }
            bool dup = false;
            for (int i = 0; i < l->n; i++)
                dup = dup || !strcmp(l->v[i], dst);
            if (!dup)
                l->n++;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return DM_OK;
}

/* Key matches name or name[] (or name[N]). */
static bool key_is(const char *key, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(key, name, n))
        return false;
    if (key[n] == '\0')
        return true;
    if (key[n] != '[')
        return false;
    const char *p = key + n + 1;
    while (isdigit((unsigned char)*p))
        p++;
    return p[0] == ']' && p[1] == '\0';
}

/* One filter parameter's value into q. */
static enum dm_err parse_filter(const struct dm_sq_filter *f, const char *v,
                                struct dm_search_query *q, struct dm_sq_error *e)
{
    char *at = (char *)q + f->value;
    switch (f->kind) {
    case DM_SQF_LIST:
        return add_values((struct dm_sq_list *)at, f, v, e);
    case DM_SQF_MIN:
    case DM_SQF_MAX: {
        int64_t x;
        if (dm_parse_fixed(v, f->scale, &x) != DM_OK || x < 0 || x > f->max)
            return fail(e, f->name, "must be a non-negative number (got '%.40s')", v);
        *(int64_t *)at = x;
        *(bool *)((char *)q + f->has) = true;
        return DM_OK;
    }
    case DM_SQF_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "false")) {
            *(int *)at = v[0] == 't';
            return DM_OK;
        }
        return fail(e, f->name, "must be true or false (got '%.40s')", v);
    }
    return DM_ERR_INVALID;
}

enum dm_err dm_search_query_parse(const char *const *keys, const char *const *values, int n,
                                  struct dm_search_query *q, struct dm_sq_error *e)
{
    memset(q, 0, sizeof(*q));
    q->page = 1;
    q->limit = DM_SQ_DEFAULT_LIMIT;
    q->sort = DM_SQ_SORT_CREATED_AT;
    q->desc = true;
    q->lab_grown = -1;
    if (n > DM_SQ_MAX_ARGS)
        return fail(e, "query", "too many query parameters (at most %s)", "64");
    const char *cursor = NULL;
    bool seen_sort = false, seen_order = false;
    for (int i = 0; i < n; i++) {
        const char *k = keys[i];
        const char *v = values[i] ? values[i] : "";
        if (k == NULL || !clean_text(k))
            return fail(e, "query", "malformed query parameter name%s", "");
        if (!clean_text(v) || strlen(v) > 1024)
            return fail(e, k, "malformed value%s", "");
        const struct dm_sq_filter *f = NULL;
        for (size_t j = 0; j < dm_sq_nfilters && f == NULL; j++)
            if (dm_sq_filters[j].kind == DM_SQF_LIST ? key_is(k, dm_sq_filters[j].name)
                                                     : !strcmp(k, dm_sq_filters[j].name))
                f = &dm_sq_filters[j];
        if (f != NULL) {
            enum dm_err r = parse_filter(f, v, q, e);
            if (r != DM_OK)
                return r;
            continue;
        }
        if (!strcmp(k, "page")) {
            if (dm_parse_int(v, 1, DM_SQ_MAX_PAGE, &q->page) != DM_OK)
                return fail(e, "page", "must be an integer >= 1 (got '%.40s')", v);
        } else if (!strcmp(k, "limit")) {
            if (dm_parse_int(v, 1, DM_SQ_MAX_LIMIT, &q->limit) != DM_OK)
                return fail(e, "limit", "must be an integer between 1 and 100 (got '%.40s')", v);
        } else if (!strcmp(k, "sort_by")) {
            if (!parse_sort(v, &q->sort))
                return fail(e, "sort_by",
                            "must be one of created_at, retail_price, feed_price, "
                            "price_model_price, carats, color, clarity (got '%.40s')",
                            v);
            seen_sort = true;
        } else if (!strcmp(k, "sort_order")) {
            if (!strcasecmp(v, "asc"))
                q->desc = false;
            else if (!strcasecmp(v, "desc"))
                q->desc = true;
            else
                return fail(e, "sort_order", "must be asc or desc (got '%.40s')", v);
            seen_order = true;
        } else if (!strcmp(k, "include")) {
            if (!strcmp(v, "facets"))
                q->include_facets = true;
            else if (v[0] != '\0')
                return fail(e, "include", "must be facets (got '%.40s')", v);
        } else if (!strcmp(k, "cursor")) {
            if (v[0] != '\0')
                cursor = v;
        }
        /* anything else: ignored, as the reference did */
    }
    if (q->has_carat_min && q->has_carat_max && q->carat_min > q->carat_max)
        return fail(e, "carat_min", "must not be greater than carat_max%s", "");
    if (q->has_price_min && q->has_price_max && q->price_min > q->price_max)
        return fail(e, "price_min", "must not be greater than price_max%s", "");
    if (cursor) {
        enum dm_sq_sort cs;
        bool cdesc;
        if (dm_search_cursor_decode(cursor, &cs, &cdesc, q->cursor_key, q->cursor_id) != DM_OK)
            return fail(e, "cursor", "is not a valid cursor%s", "");
        /* A cursor carries its ordering; an explicit different one is a contradiction. */
        if ((seen_sort && cs != q->sort) || (seen_order && cdesc != q->desc))
            return fail(e, "cursor", "was issued for a different sort_by/sort_order%s", "");
        q->sort = cs;
        q->desc = cdesc;
        q->has_cursor = true;
    }
    return DM_OK;
}

/* ---- cursors ---- */

static int atoi_4(const char *s)
{
    return ((s[0] - '0') * 10 + (s[1] - '0')) * 100 + (s[2] - '0') * 10 + (s[3] - '0');
}

static bool valid_time_key(const char *s)
{
    /* YYYY-MM-DDTHH:MM:SS[.ffffff]Z */
    const char *pat = "dddd-dd-ddTdd:dd:dd";
    size_t i = 0;
    for (; pat[i]; i++) {
        if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i])
            return false;
    }
    int mo = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    int h = (s[11] - '0') * 10 + (s[12] - '0'), mi = (s[14] - '0') * 10 + (s[15] - '0');
    int se = (s[17] - '0') * 10 + (s[18] - '0');
    int y = atoi_4(s);
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
        se > 59)
        return false; /* PostgreSQL would refuse the cast */
    const char *p = s + i;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p) && digits < 7) {
            p++;
            digits++;
        }
        if (digits == 0 || digits > 6)
            return false;
    }
    return p[0] == 'Z' && p[1] == '\0';
}

static bool valid_key(enum dm_sq_sort s, const char *key)
{
    int64_t x;
    int r;
    switch (sorts[s].kind) {
    case KEY_TIME:
        return valid_time_key(key);
    case KEY_NUM:
        return dm_parse_fixed(key, 4, &x) == DM_OK && x >= 0;
    case KEY_RANK:
        return dm_parse_int(key, 0, 999, &r) == DM_OK;
    }
    return false;
}

enum dm_err dm_search_cursor_encode(enum dm_sq_sort sort, bool desc, const char *key,
                                    const char *id, char *out, size_t out_size)
{
    if ((int)sort < 0 || sort >= DM_SQ_SORT_COUNT || key == NULL || id == NULL)
        return DM_ERR_INVALID;
    json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "s", sorts[sort].name, "d", desc ? "desc" : "asc",
                          "k", key, "id", id);
    if (j == NULL)
        return DM_ERR_INVALID;
    char *text = dm_json_dumps(j);
    json_decref(j);
    char *b64 = dm_base64_encode(text, strlen(text));
    free(text);
    /* base64 -> base64url without padding */
    size_t n = 0;
    enum dm_err e = DM_OK;
    for (const char *p = b64; *p && *p != '='; p++) {
        if (n + 1 >= out_size) {
            e = DM_ERR_TOO_LARGE;
            break;
        }
        out[n++] = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    }
    if (out_size > 0)
        out[n < out_size ? n : out_size - 1] = '\0';
    free(b64);
    return e;
}

enum dm_err dm_search_cursor_decode(const char *cursor, enum dm_sq_sort *sort, bool *desc,
                                    char key[DM_SQ_KEY_MAX], char id[DM_UUID_LEN])
{
    size_t len = strlen(cursor);
    if (len == 0 || len > 400)
        return DM_ERR_INVALID;
    char b64[408];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = cursor[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!isalnum((unsigned char)c))
            return DM_ERR_INVALID;
        b64[n++] = c;
    }
    if (n % 4 == 1)
        return DM_ERR_INVALID;
    while (n % 4)
        b64[n++] = '=';
    b64[n] = '\0';
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (dm_base64_decode(b64, &raw, &raw_len) != DM_OK)
        return DM_ERR_INVALID;
    enum dm_err e = DM_ERR_INVALID;
    json_t *j = dm_json_parse((const char *)raw, raw_len, 1024, NULL);
    free(raw);
    if (j == NULL || !json_is_object(j))
        goto out;
    const char *s = dm_json_str(j, "s"), *d = dm_json_str(j, "d"), *k = dm_json_str(j, "k"),
               *i = dm_json_str(j, "id");
    if (!s || !d || !k || !i)
        goto out;
    enum dm_sq_sort so;
    if (!parse_sort(s, &so))
        goto out;
    if (strcmp(d, "asc") && strcmp(d, "desc"))
        goto out;
    if (!dm_uuid_valid(i) || strlen(k) >= DM_SQ_KEY_MAX || !valid_key(so, k))
        goto out;
    *sort = so;
    *desc = !strcmp(d, "desc");
    snprintf(key, DM_SQ_KEY_MAX, "%s", k);
    snprintf(id, DM_UUID_LEN, "%s", i);
    e = DM_OK;
out:
    json_decref(j);
    return e;
}
