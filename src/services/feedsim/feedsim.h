/*
 * feedsim.h - the Nivoda-compatible feed simulator (feed.md §3) behind `diamond feed-sim`.
 * POST /graphql speaks the operations the client sends (authenticate, diamonds_by_query_count,
 * diamonds_by_query, create_hold, create_order) over an in-memory inventory (inventory.h);
 * anything else gets a GraphQL-style {"errors":[{"message":...}]}. GET / describes the service.
 * Admin endpoints (JSON):
 *   POST /admin/churn   {"percent":P}  advance a simulated day; answers the exact counts
 *   GET|POST /admin/faults              read / change fault settings live (partial updates;
 *        keys: latency_ms, error_rate, rate_limit, short_pages, duplicate_rate, malformed_rate,
 *        poison_rate,
 *        price_min, price_max (null = no band), fail_next {"count":N,"status":S},
 *        graphql_error_next N, reset true)
 *   GET /admin/stats                    requests by operation, auth calls, faults, pages
 *   GET /admin/stones?ids=a,b | ?offset=O&limit=L   ground-truth items (feed order) with
 *                                       their `updated` and `created` times alongside
 *   POST /admin/revoke-tokens           invalidate every issued token
 * File mode (opts.format, fileserve.c): GET /inventory.csv or /inventory.jsonl streams the whole
 * inventory as a supplier file (feedfile.h) with ETag / Last-Modified and conditional GET, on the
 * same port as everything above; GET /admin/file reports its ETag, rows and bad-row lines.
 * opts.share (--share-from) makes a fraction of the stones another seed's (inventory.h).
 * Faults limited to a price band apply only to diamond queries whose dollar_value range
 * overlaps the band (malformed items: items priced inside the band), so one partition can fail
 * while the others succeed. Thread-safe: the HTTP server calls in from many threads.
 */
#ifndef DM_FEEDSIM_FEEDSIM_H
#define DM_FEEDSIM_FEEDSIM_H

#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "services/feedsim/inventory.h"

struct dm_feedsim_faults {
    int64_t latency_ms;
    double error_rate;     /* fraction answered HTTP 503 */
    double rate_limit;     /* fraction answered 429 with Retry-After: 1 */
    double short_pages;    /* fraction of full mid-stream pages cut short (never empty) */
    double duplicate_rate; /* fraction of pages with one stone twice (last page of a result) */
    double malformed_rate; /* fraction of items missing a required field */
    double poison_rate;    /* fraction of stones (the same ones on every request) served with a
                              pathological value: price 1e400, a 200-deep discount, a price with
                              an exponent, a 30-digit diamond_price (dm_inv_poison) */
    int64_t price_min;     /* fault band in dollars; -1 = open */
    int64_t price_max;
    int64_t fail_next; /* the next N matching requests answer fail_status */
    int fail_status;
    int64_t graphql_error_next; /* the next N matching requests answer a GraphQL error */
    /* File mode only (error_rate, rate_limit, fail_next and latency_ms apply to file requests
     * too, malformed_rate writes bad rows; price bands do not apply to files): */
    int64_t truncate_next; /* the next N downloads stop mid-row */
    double truncate_rate;  /* fraction of downloads that stop mid-row */
    int64_t truncate_line; /* line where a cut download stops (0 = the middle row) */
    bool truncate_abort;   /* cut by dropping the connection (else the response ends cleanly) */
    int64_t drip_bps;      /* > 0: send file bodies at this many bytes per second */
};

struct dm_feedsim_opts {
    uint64_t seed;
    uint32_t count;
    const char *username;
    const char *password;
    int64_t token_ttl_ms; /* default 6 h */
    struct dm_feedsim_faults faults;
    int format;                /* enum dm_feedfile_format: 0 = GraphQL only */
    struct dm_inv_share share; /* --share-from (fraction 0 = none) */
};

/* A reply to one request (for tests and the fuzz driver, without the network). */
struct dm_feedsim_reply {
    int status;
    int retry_after_s; /* > 0: send Retry-After */
    const char *op;    /* static operation name for logs and stats */
    struct dm_buf body;
};

struct dm_feedsim;

struct dm_feedsim *dm_feedsim_new(const struct dm_feedsim_opts *opts);
void dm_feedsim_free(struct dm_feedsim *sim);

/* Answer one POST /graphql body. r->body must be initialised by the caller (dm_buf_init). */
void dm_feedsim_graphql(struct dm_feedsim *sim, const char *body, size_t len,
                        struct dm_feedsim_reply *r);

/* Ground truth, as GET /admin/stones answers it: with ids (comma-separated diamond or offer
 * ids) those stones, else live stones in feed order from offset (at most limit). Appends
 * {"total":live,"items":[...],"updated":[iso...],"created":[iso...],"missing":[ids...]}. */
enum dm_err dm_feedsim_stones(struct dm_feedsim *sim, const char *ids, int64_t offset,
                              int64_t limit, struct dm_buf *out) DM_MUST_CHECK;

/* Advance one simulated day (as POST /admin/churn does) and log the counts. */
void dm_feedsim_churn(struct dm_feedsim *sim, double percent, struct dm_inv_churn_result *out);

/* Serve over HTTP on bind:port (port 0 = ephemeral) with `threads` workers (0 = 16). */
enum dm_err dm_feedsim_listen(struct dm_feedsim *sim, const char *bind, int port, int threads,
                              struct dm_error *err) DM_MUST_CHECK;
int dm_feedsim_port(const struct dm_feedsim *sim);
/* Stop serving (dm_feedsim_free also does). */
void dm_feedsim_stop(struct dm_feedsim *sim);

#endif
