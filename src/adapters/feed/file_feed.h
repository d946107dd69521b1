/*
 * file_feed.h - the `file` feed type of the feed seam (feed.h; issue 18): a supplier whose
 * whole inventory is one CSV or JSON-lines file at a URL (FEED_<ID>_URL), read as a snapshot
 * by adapters/feed/file_source and mapped by domain/file_mapping (with FEED_<ID>_MAPPING when
 * set). Each row reaches the caller as a raw item: the row's values keyed by canonical field
 * name (struct dm_file_raw's payload), its stock id as both supplier stone id and offer id, or
 * the reason it was refused, with its line number.
 *
 * A file feed takes no orders: hold and order fail with DM_ERR_CONFLICT ("feed X takes no
 * orders through an API"), which the API turns into 409 with the orderable alternatives. It is
 * not paged either: count and page fetches are DM_ERR_INVALID (its runs are one partition, the
 * whole snapshot).
 *
 * Thread-safety: a file feed is immutable after dm_file_feed_new; each read binds its own
 * mapping, so reads may run at once from several threads.
 */
#ifndef DM_ADAPTERS_FEED_FILE_FEED_H
#define DM_ADAPTERS_FEED_FILE_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/feed/file_source.h"
#include "core/error.h"
#include "domain/mapping.h"

struct dm_file_feed_opts {
    const char *feed;                    /* feed id (copied) */
    const char *url;                     /* FEED_<ID>_URL (copied); NULL: reads fail (a
                                            service that only trades needs none) */
    const char *mapping_path;            /* FEED_<ID>_MAPPING, or NULL (read at open) */
    const char *azure_connection_string; /* for Azure Blob URLs, or NULL (copied) */
    enum dm_file_format format;          /* DM_FILE_FORMAT_AUTO: by extension / Content-Type */
};

struct dm_file_feed;

/* Open: copies the options and reads and validates the mapping file. DM_ERR_INVALID (err
 * names the file and the problem) for an unreadable or invalid mapping file. */
enum dm_err dm_file_feed_new(const struct dm_file_feed_opts *o, struct dm_file_feed **out,
                             struct dm_error *err) DM_MUST_CHECK;
/* NULL is a no-op. */
void dm_file_feed_free(struct dm_file_feed *f);

/* One row of a snapshot, valid during the callback. */
struct dm_file_feed_row {
    uint64_t line;       /* 1-based line where the row starts */
    const char *json;    /* the raw item (compact JSON), NULL for a refused row */
    size_t json_len;     /* its length */
    const char *stock;   /* the stock id: supplier stone id and offer id; "" when unknown */
    const char *refused; /* NULL, or why the row was refused */
    bool not_carried;    /* refused only for a shape the catalogue does not carry */
};
typedef enum dm_err (*dm_file_feed_row_fn)(void *ctx, const struct dm_file_feed_row *row);

/* Read the snapshot: every row to fn in file order. etag / last_modified (may be NULL) are the
 * previous good snapshot's validators; res as dm_file_source_fetch fills it (not_modified:
 * no rows). Errors as dm_file_source_fetch (a truncated or empty file is never OK). */
enum dm_err dm_file_feed_read(struct dm_file_feed *f, const char *etag, const char *last_modified,
                              int (*should_abort)(void), dm_file_feed_row_fn fn, void *ctx,
                              struct dm_file_result *res, struct dm_error *err) DM_MUST_CHECK;

/* DM_ERR_CONFLICT: "feed X takes no orders through an API". */
enum dm_err dm_file_feed_no_orders(const struct dm_file_feed *f,
                                   struct dm_error *err) DM_MUST_CHECK;

/* Map a stored raw item of file feed `feed` (a string that outlives d: d->feed points to it)
 * to the canonical diamond: dm_file_mapping_json with the default mapping. Pure; needs no
 * opened feed. DM_ERR_INVALID as dm_file_mapping_json. */
enum dm_err dm_file_feed_map(const char *feed, const char *text, size_t len, struct dm_diamond *d,
                             struct dm_error *err) DM_MUST_CHECK;

#endif
