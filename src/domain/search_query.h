/*
 * search_query.h - the diamond search of GET /api/v2/diamonds (api.md), pure: parse and
 * validate the query parameters into a struct dm_search_query and encode/decode keyset
 * cursors. The SQL a query becomes is adapters/db/search_sql.h; the search index
 * (domain/search_index.h) answers the same queries from memory.
 *
 * Parameters: shape, color, clarity, cut, polish, symmetry, fluorescence, availability, feed
 * (one or many: repeated `shape=A&shape=B`, `shape[]=A`, or comma-separated `shape=A,B`;
 * matched case-insensitively), carat_min/carat_max, price_min/price_max (retail dollars),
 * lab_grown (true|false only), certificate_number and supplier_stone_id (exact lookups, one or
 * many, compared as given), include (facets), sort_by (created_at, retail_price, feed_price or its
 * alias price_model_price, carats, color, clarity), sort_order (asc|desc), page (>= 1), limit
 * (1..100, default 50), cursor (keyset paging; takes precedence over page). Unknown
 * parameters are ignored; malformed ones give DM_ERR_INVALID with the parameter named.
 *
 * Ordering always breaks ties by id in the same direction, so pages are stable; colour and
 * clarity sort in grade order (dm_color_rank / dm_clarity_rank, migration 001).
 */
#ifndef DM_DOMAIN_SEARCH_QUERY_H
#define DM_DOMAIN_SEARCH_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/error.h"

#define DM_SQ_MAX_VALUES 24
#define DM_SQ_VALUE_MAX 48
#define DM_SQ_DEFAULT_LIMIT 50
#define DM_SQ_MAX_LIMIT 100
#define DM_SQ_MAX_PAGE 1000000
#define DM_SQ_MAX_ARGS 64
#define DM_SQ_KEY_MAX 64

enum dm_sq_sort {
    DM_SQ_SORT_CREATED_AT = 0,
    DM_SQ_SORT_RETAIL_PRICE,
    DM_SQ_SORT_FEED_PRICE,
    DM_SQ_SORT_CARATS,
    DM_SQ_SORT_COLOR,
    DM_SQ_SORT_CLARITY,
    DM_SQ_SORT_COUNT
};

struct dm_sq_list {
    int n;
    char v[DM_SQ_MAX_VALUES][DM_SQ_VALUE_MAX];
};

struct dm_search_query {
    int page;  /* >= 1 */
    int limit; /* 1..100 */
    enum dm_sq_sort sort;
    bool desc;
    struct dm_sq_list shape, color, clarity, cut, polish, symmetry, fluorescence, availability,
        feed;
    struct dm_sq_list certificate_number, supplier_stone_id; /* exact lookups */
    bool include_facets;                                     /* include=facets */
    bool has_carat_min, has_carat_max, has_price_min, has_price_max;
    int64_t carat_min, carat_max; /* 1/10000 carat */
    int64_t price_min, price_max; /* cents */
    int lab_grown;                /* -1 any, 0 natural, 1 lab-grown */
    bool has_cursor;
    char cursor_key[DM_SQ_KEY_MAX]; /* sort key of the last row seen, as text */
    char cursor_id[DM_UUID_LEN];    /* id of the last row seen */
};

/* The search filters, one row each (search_query.c dm_sq_filters): what parsing, validation, the
 * SQL, the response-cache key, the OpenAPI document and the search index read. */
enum dm_sq_filter_kind {
    DM_SQF_LIST, /* struct dm_sq_list: one or many values */
    DM_SQF_MIN,  /* int64_t fixed-point lower bound, with a bool "has" flag */
    DM_SQF_MAX,  /* int64_t fixed-point upper bound, with a bool "has" flag */
    DM_SQF_BOOL  /* int: -1 any, 0 false, 1 true */
};
enum dm_sq_fold { DM_SQ_UPPER, DM_SQ_LOWER, DM_SQ_EXACT }; /* how list values are normalised */
struct dm_sq_filter {
    const char *name; /* query parameter */
    enum dm_sq_filter_kind kind;
    enum dm_sq_fold fold;
    size_t value;               /* offsetof the value in struct dm_search_query */
    size_t has;                 /* MIN/MAX: offsetof its bool flag */
    int scale;                  /* MIN/MAX: decimals accepted (10^-scale units) */
    int64_t max;                /* MIN/MAX: largest value accepted, in those units */
    const char *column;         /* SQL: the column or expression compared ("upper(color)") */
    const char *cast;           /* SQL: cast of the parameter (MIN/MAX/BOOL) */
    const char *const *allowed; /* LIST: the only values accepted (NULL-terminated), or NULL */
    const char *doc;            /* one line for the API documentation */
};
extern const struct dm_sq_filter dm_sq_filters[];
extern const size_t dm_sq_nfilters;
/* The filter called name, or NULL. */
const struct dm_sq_filter *dm_sq_filter_find(const char *name);

/* A validation failure: the offending parameter and why. */
struct dm_sq_error {
    char param[64];
    char message[256];
};

/* Parse n (key, value) pairs (decoded query arguments, in order). On failure fills e. */
enum dm_err dm_search_query_parse(const char *const *keys, const char *const *values, int n,
                                  struct dm_search_query *q, struct dm_sq_error *e) DM_MUST_CHECK;

/* Name of a sort key as accepted by sort_by ("created_at", ...). */
const char *dm_sq_sort_name(enum dm_sq_sort s);

/* Keyset cursor: base64url (no padding) of {"s":sort,"d":"asc|desc","k":key,"id":id}.
 * out_size >= 256. */
enum dm_err dm_search_cursor_encode(enum dm_sq_sort sort, bool desc, const char *key,
                                    const char *id, char *out, size_t out_size) DM_MUST_CHECK;
/* Decode and validate a cursor (key syntax checked for the sort's type). */
enum dm_err dm_search_cursor_decode(const char *cursor, enum dm_sq_sort *sort, bool *desc,
                                    char key[DM_SQ_KEY_MAX], char id[DM_UUID_LEN]) DM_MUST_CHECK;

#endif
