/*
 * search_index.h - the in-memory index of the active catalogue that answers storefront
 * searches (issue 14; api.md "GET /api/v2/diamonds"). Pure: no I/O. The follower
 * (services/api/index_follow.c) feeds it rows read from PostgreSQL; the API asks it searches,
 * facets and lookups.
 *
 * What it holds. One record per active diamond with every column the API renders (so a page
 * is rendered from memory, byte for byte as DM_DIAMOND_JSON_SQL (adapters/db/search_sql.h) renders
 * it, and search keeps answering while PostgreSQL is down), plus search structures:
 *  - per-value bitmaps of the enumerated columns (shape, color, clarity, cut, polish, symmetry,
 *    fluorescence, availability, lab_grown, feed, certificate lab): a filter is an OR of its
 *    values' bitmaps, filters AND together, and `total` is the popcount: exact;
 *  - cumulative bin bitmaps over carats and retail price (32 quantile bins fixed at build):
 *    a range is two bitmaps plus an exact check of the stones of its two edge bins;
 *  - every sort order (created_at, retail_price, feed_price, carats, color, clarity; ties by
 *    id) as an array of slots, and the id / certificate / supplier stock id orders for lookups.
 *
 * Semantics are the SQL path's (search_query.c): shape compared exactly to the upper-cased
 * values; color, clarity, cut, polish, symmetry, fluorescence by ASCII upper case (PostgreSQL's
 * upper() under the C locale the private cluster uses); availability and feed exactly; NULL
 * never matches; colour and clarity rank as dm_color_rank / dm_clarity_rank (99 when unknown).
 *
 * Versions. Readers never wait: each change batch builds a new immutable version
 * (copy-on-write of the search structures; records are shared) that is published atomically.
 * dm_search_index_acquire pins the current version; records replaced by a later version are
 * freed once every version that could see them has been released.
 *
 * Thread-safety: acquire/release and every query function are thread-safe. Build and apply
 * (the writer side) must be called from one thread at a time.
 */
#ifndef DM_DOMAIN_SEARCH_INDEX_H
#define DM_DOMAIN_SEARCH_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "domain/search_query.h"

struct dm_search_index;      /* the index (opaque) */
struct dm_search_index_view; /* one pinned version (opaque) */
struct dm_stone;             /* one diamond record (opaque) */

/* The columns a row carries, in this order (the follower's SELECT lists them so). */
enum dm_stone_col {
    DM_SC_ID = 0,
    DM_SC_CHANGE_SEQ,
    DM_SC_STATUS,
    DM_SC_FEED,
    DM_SC_SUPPLIER_STONE_ID,
    DM_SC_OFFER_ID,
    DM_SC_SHAPE,
    DM_SC_CARATS,
    DM_SC_COLOR,
    DM_SC_CLARITY,
    DM_SC_CUT,
    DM_SC_POLISH,
    DM_SC_SYMMETRY,
    DM_SC_FLUORESCENCE,
    DM_SC_LAB_GROWN,
    DM_SC_TREATED,
    DM_SC_FEED_PRICE,
    DM_SC_PRICE_PER_CARAT,
    DM_SC_RETAIL_PRICE,
    DM_SC_MARKUP_RATIO,
    DM_SC_RATING,
    DM_SC_PRICING_RULE_ID,
    DM_SC_AVAILABILITY,
    DM_SC_RAW_AVAILABILITY,
    DM_SC_HOLD_ID,
    DM_SC_IMAGE_URL,
    DM_SC_VIDEO_URL,
    DM_SC_CERTIFICATE_LAB,
    DM_SC_CERTIFICATE_NUMBER,
    DM_SC_CERTIFICATE_PDF_URL,
    DM_SC_MEASUREMENTS,
    DM_SC_ATTRIBUTES,
    DM_SC_SUPPLIER_NAME,
    DM_SC_SUPPLIER_LEGAL_NAME,
    DM_SC_CREATED_AT,
    DM_SC_UPDATED_AT,
    DM_SC_LISTING_ID,  /* rendered as "id" (NULL: the row's own id) */
    DM_SC_CREATED_OFF, /* seconds east of UTC of the session's rendering of created_at */
    DM_SC_UPDATED_OFF,
    DM_SC_COUNT
};

/* The SELECT list producing those columns from `diamonds`, in order, read in binary format
 * (a BINARY cursor or binary results): DM_STONE_COLUMNS_SQL then ", " and one of the offsets
 * lists (the UTC one when the session's TimeZone is UTC, so rendering needs no per-row zone). */
extern const char DM_STONE_COLUMNS_SQL[];
extern const char DM_STONE_OFFSETS_UTC_SQL[];
extern const char DM_STONE_OFFSETS_SQL[];

/* Writer side: parse one row of binary values (values[i] NULL for SQL NULL, lens[i] their
 * lengths) into a new record. The status column is true for a listed row (active and chosen:
 * one listing per stone); the record's "id" renders its listing id, while lookups, sort ties
 * and cursors use the row's own id, as the SQL path does. *deleted is set when the row is not
 * listed: the caller applies a
 * removal of that id; *out is then a record carrying only id and change_seq. DM_ERR_INVALID
 * with the column named in err for a value the index cannot represent exactly. */
enum dm_err dm_stone_parse(struct dm_search_index *ix, const char *const *values,
                           const size_t *lens, struct dm_stone **out, bool *deleted,
                           struct dm_error *err) DM_MUST_CHECK;
void dm_stone_free(struct dm_stone *s);
int64_t dm_stone_change_seq(const struct dm_stone *s);
/* Append the record's JSON (DM_DIAMOND_JSON_SQL's output, byte for byte). */
enum dm_err dm_stone_render(const struct dm_search_index_view *v, const struct dm_stone *s,
                            struct dm_buf *out) DM_MUST_CHECK;

/* How the database upper-cases text (PostgreSQL's upper() under its locale): case-insensitive
 * filters (color, clarity, cut, polish, symmetry, fluorescence) compare upper(column) with the
 * upper-cased values, as the SQL path does. Given n texts, fill out[i] with malloc'd upper-case
 * texts. Build and apply call it, before publishing, for the values first seen since the last
 * call; without one, ASCII upper case is used (PostgreSQL's C locale). */
typedef enum dm_err (*dm_search_upper_fn)(void *ctx, const char *const *in, size_t n, char **out,
                                          struct dm_error *err);

struct dm_search_index *dm_search_index_new(void);
/* Writer side: set the upper-case function (before the first build). */
void dm_search_index_set_upper(struct dm_search_index *ix, dm_search_upper_fn fn, void *ctx);
void dm_search_index_free(struct dm_search_index *ix);

/* Writer side. Replace the whole content with these records (taking ownership of each, also
 * on failure); last_seq is the sequence the content is consistent with. */
enum dm_err dm_search_index_build(struct dm_search_index *ix, struct dm_stone **recs, size_t n,
                                  int64_t last_seq, struct dm_error *err) DM_MUST_CHECK;
/* Apply a batch of changed rows (ownership taken): an active record inserts or replaces the
 * stone with its id, a deleted one removes it. A record older than the one held (lower
 * change_seq) is ignored. Publishes a new version consistent with last_seq. */
enum dm_err dm_search_index_apply(struct dm_search_index *ix, struct dm_stone **recs,
                                  const bool *deleted, size_t n, int64_t last_seq,
                                  struct dm_error *err) DM_MUST_CHECK;

/* Record that the content is consistent with the database up to change sequence seq (the
 * follower found nothing newer). */
void dm_search_index_mark(struct dm_search_index *ix, int64_t seq);

/* Reader side. NULL until the first build. */
struct dm_search_index_view *dm_search_index_acquire(struct dm_search_index *ix);
void dm_search_index_release(struct dm_search_index_view *v);

struct dm_search_index_stats {
    bool loaded;
    int64_t rows;         /* active stones */
    int64_t bytes;        /* memory held: records, dictionaries and the current version */
    int64_t last_seq;     /* change sequence the current version is consistent with */
    int64_t versions;     /* versions published since start */
    int64_t pinned;       /* versions still pinned by readers or awaiting release */
    int64_t published_ms; /* dm_mono_ms() of the last publication */
};
void dm_search_index_stats(struct dm_search_index *ix, struct dm_search_index_stats *out);

/* Search: the full response body of GET /api/v2/diamonds, as the SQL path renders it, but with
 * an exact total (totalIsEstimate false). With facets, a "facets" member is added. */
enum dm_err dm_search_index_search(const struct dm_search_index_view *v,
                                   const struct dm_search_query *q, bool facets,
                                   struct dm_buf *out) DM_MUST_CHECK;
/* Facets of the filters of q (paging and sort ignored): the JSON object
 * {"total":N,"facets":{...},"histograms":{...}} (see api.md). */
enum dm_err dm_search_index_facets(const struct dm_search_index_view *v,
                                   const struct dm_search_query *q,
                                   struct dm_buf *out) DM_MUST_CHECK;
/* One active stone by id (36-character UUID text): NULL when absent. Valid while v is. */
const struct dm_stone *dm_search_index_get(const struct dm_search_index_view *v, const char *id);

#endif
