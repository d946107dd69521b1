/*
 * feed.h - the feed seam: everything the pipeline asks of a supplier feed, and the one place
 * that knows which feeds exist. The scheduler plans with dm_feed_count, the worker ingests with
 * dm_feed_fetch_page (items keep the feed's own JSON text and identities), the consolidator
 * turns a stored item into a canonical diamond with dm_feed_map and names the feed's raw table
 * with dm_feed_raw_table, and the API passes holds and orders through dm_feed_hold and
 * dm_feed_order. No service names a supplier; Nivoda (adapters/feed/nivoda.h) is the first
 * implementation.
 *
 * Feeds are configured (core/config.h: FEEDS, FEED_<ID>_*): a feed has an id (its raw table,
 * its runs, its watermark) and a type (enum dm_feed_type) that decides which row of feed.c's
 * table of feed types serves it; two feeds may share a type (two Nivoda-compatible
 * marketplaces at different endpoints).
 *
 * Adding a feed type: an enum dm_feed_type value and its FEED_<ID>_TYPE name in core/config,
 * an implementation next to nivoda.c, one row in feed.c's table of feed types (how to open it
 * from its struct dm_feed_conf, count, fetch a page, hold, order, its mapper), and its mapping
 * of items to struct dm_diamond in domain/. Nothing else changes.
 *
 * Thread-safety: an opened feed is thread-safe (many threads may call it at once); open and
 * close are not (one thread, at start-up and shutdown).
 */
#ifndef DM_ADAPTERS_FEED_FEED_H
#define DM_ADAPTERS_FEED_FEED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/db/feed_sql.h"
#include "core/config.h"
#include "core/error.h"
#include "domain/mapping.h"

/* What one partition asks for: price band (whole dollars, inclusive) and the updated window. */
struct dm_feed_query {
    int64_t price_from;      /* dollars, inclusive; -1 = no lower bound */
    int64_t price_to;        /* dollars, inclusive; -1 = no upper bound */
    int64_t updated_from_ms; /* ms since epoch; 0 = none */
    int64_t updated_to_ms;   /* ms since epoch; 0 = none */
};

/* One page of search results as parsed JSON. items is a JSON array of item objects (owned). */
struct dm_feed_page {
    json_t *items;
    int64_t total_count; /* as reported; never used for planning */
};

/* One item of a raw page: the feed's own JSON text and the identities picked out of it. */
struct dm_feed_raw_item {
    const char *json; /* compact item text (into the page's storage), not NUL-terminated;
                         NULL when refused */
    size_t json_len;
    const char *offer_id; /* the offer's id (what holds and orders name): string (may be
                             empty) or integer digits; NULL = none */
    size_t offer_id_len;
    const char *stone_id; /* the supplier's stone id: non-empty string or integer digits;
                             NULL = none */
    size_t stone_id_len;
    const char *refused; /* NULL, or why the item was kept out (NUL-terminated, in storage) */
};

/* One page of items as raw text (the ingest path). */
struct dm_feed_raw_page {
    char *text; /* owned storage the items point into */
    struct dm_feed_raw_item *items;
    size_t n;            /* items, refused ones included */
    int64_t total_count; /* as reported; -1 when absent */
};
void dm_feed_raw_page_free(struct dm_feed_raw_page *page);

/* A hold as the supplier answered it. */
struct dm_feed_hold {
    char id[128];
    bool denied;
    char until[64]; /* ISO time or "" */
};

struct dm_feed_order_req {
    const char *offer_id;
    const char *destination_id;
    const char *reference;     /* may be NULL */
    const char *comments;      /* may be NULL */
    const char *return_option; /* may be NULL */
};
struct dm_feed_order {
    char id[128];
    char status[64];
};

struct dm_feed;

/* dm_feed_open flags. */
enum {
    /* For trading on a request's behalf (the API): a call fails fast (at most two attempts)
     * rather than holding a shopper's request for minutes of back-off. */
    DM_FEED_FAIL_FAST = 1u << 0,
};

/* Open feed id (one of cfg->feeds) by its type. DM_ERR_INVALID (err says why) for a malformed
 * id or one FEEDS does not name; DM_ERR_UNAVAILABLE when its type has no row in this build;
 * DM_ERR_NOT_FOUND when the feed's credentials are not configured (a service that can run
 * without a supplier, like the API without trading, decides what that means). cfg must
 * outlive the feed (the feed keeps its struct dm_feed_conf). */
enum dm_err dm_feed_open(const struct dm_config *cfg, const char *id, unsigned flags,
                         struct dm_feed **out, struct dm_error *err) DM_MUST_CHECK;
/* NULL-safe. */
void dm_feed_close(struct dm_feed *f);
/* The feed's id ("nivoda"). */
const char *dm_feed_id(const struct dm_feed *f);
/* The feed's configuration (owned by the cfg it was opened with). */
const struct dm_feed_conf *dm_feed_conf(const struct dm_feed *f);
/* True when a run of this feed reads a whole snapshot (a file feed): the scheduler plans one
 * partition without count queries and the worker reads the snapshot in that one work item.
 * False for a NULL conf. */
bool dm_feed_snapshot(const struct dm_feed_conf *conf);

/* How many stones match q (partition planning). */
enum dm_err dm_feed_count(struct dm_feed *f, const struct dm_feed_query *q, int64_t *count,
                          struct dm_error *err) DM_MUST_CHECK;
/* One page of q from offset (at most limit items, oldest first), items as raw text. */
enum dm_err dm_feed_fetch_page(struct dm_feed *f, const struct dm_feed_query *q, int64_t offset,
                               int limit, struct dm_feed_raw_page *page,
                               struct dm_error *err) DM_MUST_CHECK;
/* Place a hold on an offer / order an offer at the supplier. */
enum dm_err dm_feed_hold(struct dm_feed *f, const char *offer_id, struct dm_feed_hold *out,
                         struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_feed_order(struct dm_feed *f, const struct dm_feed_order_req *req,
                          struct dm_feed_order *out, struct dm_error *err) DM_MUST_CHECK;

/* ---- snapshots (file feeds) ------------------------------------------------------------ */

/* One row of a snapshot as the ingest path stores it, valid during the callback. */
struct dm_feed_row {
    uint64_t line;        /* 1-based line of the file where the row starts */
    const char *json;     /* the raw item (compact JSON text), NULL when refused */
    size_t json_len;      /* its length */
    const char *stone_id; /* the supplier's stone id ("" when a refused row has none) */
    const char *offer_id; /* what holds and orders would name (a file: the stone id) */
    const char *refused;  /* NULL, or why the row was kept out ("carats (column ...) ...") */
    bool not_carried;     /* refused only because the catalogue does not carry its shape */
};
/* Called for each row in file order; anything but DM_OK stops the read with that code. */
typedef enum dm_err (*dm_feed_row_fn)(void *ctx, const struct dm_feed_row *row);

/* The previous good snapshot's validators, so an unchanged file costs one request. */
struct dm_feed_snapshot_req {
    const char *etag;          /* NULL or "" = none */
    const char *last_modified; /* NULL or "" = none */
    int (*should_abort)(void); /* polled while waiting; non-zero: DM_ERR_SHUTDOWN */
};
/* What a snapshot read saw (filled on errors too: counts so far). */
struct dm_feed_snapshot {
    bool not_modified; /* the file is unchanged since the validators: no rows were read */
    bool truncated;    /* the file was incomplete: never take it for the inventory */
    char etag[256];    /* validators of what was read ("" when none) */
    char last_modified[64];
    uint64_t rows, bad_rows, lines, bytes;
};

/* Read f's whole snapshot, every row to fn. DM_ERR_INVALID for a feed that is not a snapshot
 * feed; a truncated or empty file is an error (out->truncated says which); the transfer's
 * codes otherwise (retryable or not, as dm_err_is_retryable). */
enum dm_err dm_feed_read_snapshot(struct dm_feed *f, const struct dm_feed_snapshot_req *req,
                                  dm_feed_row_fn fn, void *ctx, struct dm_feed_snapshot *out,
                                  struct dm_error *err) DM_MUST_CHECK;

/* Map one stored item (its raw JSON text) of feed id (one of cfg->feeds) to the canonical
 * diamond, by the feed's type; d->feed is the feed's id (in cfg). Pure; needs no opened feed
 * (the consolidator has no supplier credentials). DM_ERR_INVALID for a feed id FEEDS does not
 * name or an unusable item (err says which); DM_ERR_UNAVAILABLE for a type not built in. */
enum dm_err dm_feed_map(const struct dm_config *cfg, const char *id, const char *text, size_t len,
                        struct dm_diamond *d, struct dm_error *err) DM_MUST_CHECK;

#endif
