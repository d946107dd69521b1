/*
 * nivoda.h - the Nivoda GraphQL client (feed.md §1): authenticate, count, search, hold,
 * order. A token is reused until 5 minutes before its 6-hour lifetime ends (10 % before, for
 * lifetimes under 10 minutes); the token cache is shared by every client of the process with
 * the same endpoint and credentials, and only one authentication is in flight for it however
 * many threads need a token. A token error (HTTP 401, UNAUTHENTICATED, or a message saying the
 * token is invalid/expired/unauthorized) clears the cache and retries the call once.
 * Retries with exponential back-off and jitter on network errors, timeouts, 429 (honouring
 * Retry-After) and 5xx; no retry on other 4xx or GraphQL validation errors. A process-wide
 * rate limit (NIVODA_MAX_RPS): one token bucket shared by every client in the process (burst
 * max_rps/10, at least 1), its rate set by the most recently created client. Bodies are capped
 * per operation (a search page 4 MiB; authenticate, count, hold and order 64 KiB: a larger
 * answer is DM_ERR_TOO_LARGE, not retried, read no further than the cap), a response of more
 * than 200,000 JSON values is refused before it is parsed, and a page with more items than the
 * limit asked for is refused (DM_ERR_REMOTE) before they are stored. Retry-After (seconds; on 429
 * and 503) is honoured up to 120 s. Credentials and tokens are never logged. Thread-safe: one
 * client serves many threads with requests in flight at once.
 */
#ifndef DM_ADAPTERS_NIVODA_H
#define DM_ADAPTERS_NIVODA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "adapters/feed/feed.h"
#include "core/config.h"
#include "core/error.h"

struct dm_nivoda_opts {
    const char *endpoint;
    const char *username;
    const char *password;
    double max_rps;            /* default 25 */
    long timeout_ms;           /* default 45000 */
    int max_attempts;          /* default 5 */
    int64_t backoff_base_ms;   /* default 250 */
    int64_t backoff_max_ms;    /* default 10000 */
    int64_t token_ttl_ms;      /* assumed token lifetime; default 6 h */
    size_t max_response;       /* search page response cap; default 4 MiB */
    size_t max_small_response; /* authenticate, count, hold, order cap; default 64 KiB */
};

struct dm_nivoda;

struct dm_nivoda *dm_nivoda_new(const struct dm_nivoda_opts *opts);
/* Options from configuration (NIVODA_ENDPOINT/USERNAME/PASSWORD/MAX_RPS/TIMEOUT_MS). */
void dm_nivoda_opts_from_config(const struct dm_config *cfg, struct dm_nivoda_opts *opts);
void dm_nivoda_free(struct dm_nivoda *n);

enum dm_err dm_nivoda_count(struct dm_nivoda *n, const struct dm_feed_query *q, int64_t *count,
                            struct dm_error *err) DM_MUST_CHECK;
/* One page, order createdAt ASC; limit is clamped to DM_PAGE_LIMIT; a page of more items is
 * refused. */
enum dm_err dm_nivoda_search(struct dm_nivoda *n, const struct dm_feed_query *q, int64_t offset,
                             int limit, struct dm_feed_page *page,
                             struct dm_error *err) DM_MUST_CHECK;
void dm_feed_page_free(struct dm_feed_page *page);

enum dm_err dm_nivoda_hold(struct dm_nivoda *n, const char *offer_id, struct dm_feed_hold *out,
                           struct dm_error *err) DM_MUST_CHECK;

enum dm_err dm_nivoda_order(struct dm_nivoda *n, const struct dm_feed_order_req *req,
                            struct dm_feed_order *out, struct dm_error *err) DM_MUST_CHECK;

/* Counters for tests and metrics. */
struct dm_nivoda_stats {
    int64_t requests, auth_calls, retries, errors;
};
void dm_nivoda_get_stats(struct dm_nivoda *n, struct dm_nivoda_stats *out);

/*
 * Response parsing, exposed so the fuzz driver and unit tests reach it without a network.
 * dm_nivoda_parse_response classifies one HTTP exchange: a non-2xx status maps through
 * dm_http_classify (401/403 and token messages set *token_error); a 2xx body must be a JSON
 * object without an `errors` array (an `errors` array is a failure even with HTTP 200: token
 * errors -> DM_ERR_AUTH with *token_error, INTERNAL_SERVER_ERROR -> DM_ERR_REMOTE, anything
 * else -> DM_ERR_REJECTED carrying the feed's message) and with a `data` object, returned in
 * *data (new reference). Unparsable 2xx bodies are DM_ERR_REMOTE (retryable).
 */
enum dm_err dm_nivoda_parse_response(long status, const char *body, size_t len, json_t **data,
                                     bool *token_error, struct dm_error *err) DM_MUST_CHECK;
/* From a response's data object: the token, the count, a page (items array must be objects). */
enum dm_err dm_nivoda_extract_token(const json_t *data, char *out, size_t size,
                                    struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_nivoda_extract_count(const json_t *data, int64_t *count,
                                    struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_nivoda_extract_page(const json_t *data, struct dm_feed_page *page,
                                   struct dm_error *err) DM_MUST_CHECK;
/* True when a feed error message says the token is invalid, expired or unauthorized. */
bool dm_nivoda_is_token_message(const char *message);
/* The item selection the client requests (every field of feed.md §1), for tools and tests. */
const char *dm_nivoda_item_fields(void);
/* The DiamondQuery variable object sent for q (new reference): 17 shapes, sizes 0.5..10,
 * dollar_value and updated bounds when set. */
json_t *dm_nivoda_query_json(const struct dm_feed_query *q);

/*
 * Raw search (the worker's ingest path, nivoda_raw.c): one page whose items stay the feed's
 * own JSON text instead of a jansson tree, so a stone costs one validating pass over its bytes
 * rather than a parse into ~100 allocated values and a re-serialisation. Each item's text is
 * compacted (whitespace outside strings removed; nothing else changes), and `id` /
 * `diamond.id` are picked out on the way.
 * Per item: an item the scanner is not sure about (a key or id with escapes, lone surrogates,
 * invalid UTF-8, numbers with an exponent or beyond 40 characters, nesting deeper than the
 * scanner's 64 levels, duplicate `id`/`diamond` keys) is read again alone by jansson and, when
 * jansson reads it, serialised with dm_json_write exactly as the regular path would. An item
 * jansson refuses (e.g. `1e400`, a 30-digit id), one nested deeper than 64 levels, one over
 * 1 MiB or 65,536 values, or one that is not an object is *refused*: it keeps its place in the
 * page (it counts towards n and the offset) with `refused` set, the ids a loose reading found,
 * and no text. Only a body that is not JSON, or one whose envelope the scanner does not
 * understand (an `errors` member, no data, escaped envelope keys), takes the regular path
 * whole: jansson classifies it exactly as dm_nivoda_search does and, when it is a page after
 * all, each item is serialised with dm_json_write (non-objects refused).
 */

/* dm_nivoda_search with the items as raw text (see above). */
enum dm_err dm_nivoda_search_raw(struct dm_nivoda *n, const struct dm_feed_query *q, int64_t offset,
                                 int limit, struct dm_feed_raw_page *page,
                                 struct dm_error *err) DM_MUST_CHECK;
void dm_feed_raw_page_free(struct dm_feed_raw_page *page);
/* The scanner alone (for tests and the fuzz driver): DM_OK with *page filled when body is a
 * page response whose envelope it understands; DM_ERR_TOO_LARGE (nothing allocated beyond
 * max_items items) when the page holds more than max_items items; DM_ERR_INVALID (nothing
 * allocated) when the regular path must decide. dm_nivoda_scan_raw_page: no item limit. */
enum dm_err dm_nivoda_scan_raw_page_limit(const char *body, size_t len, size_t max_items,
                                          struct dm_feed_raw_page *page);
enum dm_err dm_nivoda_scan_raw_page(const char *body, size_t len, struct dm_feed_raw_page *page);
/* The regular path's conversion: a jansson page's items as a raw page (dm_json_write text,
 * ids as the scanner would report them, items that are not objects refused). */
enum dm_err dm_nivoda_raw_from_items(const json_t *items, int64_t total_count,
                                     struct dm_feed_raw_page *page,
                                     struct dm_error *err) DM_MUST_CHECK;

#endif
