/*
 * trade.h - holding and buying a stone through its supplier (api.md: hold, purchase), the one
 * implementation behind POST /api/v2/diamonds/{id}/hold and /purchase. The HTTP layer
 * (services/api/diamonds.c) validates the request and turns the answer into the response; this
 * module owns the rules, the statements on diamonds, hold_history and purchase_history, and the
 * supplier calls. It logs through the caller's log context and never writes a response itself.
 *
 * Hold: the stone's row lock serialises concurrent holds (the second sees on_hold and gets 409),
 * so concurrent requests make one supplier call. What the supplier answers is checked before it
 * is stored: a hold without a usable id is recorded failed (the stone stays available); an
 * `until` that is not an ISO time is dropped and noted, never failing the statement that records
 * a placed hold.
 *
 * Purchase: an idempotency key is unique per verified caller and bound to the diamond and the
 * exact request (request_hash). The first request commits a pending purchase_history row, then
 * in one transaction locks that row (duplicates wait on it with FOR SHARE), then the stone,
 * re-checks sold and the hold rule, places the supplier order and settles the row with its
 * answer ({"status":N,"body":...}), marking the stone sold. Duplicates replay the stored answer.
 * A stone on hold may be bought only by the caller that placed the hold, or by an admin, until
 * the hold ends; a stone held through the feed (no hold of ours on record) is an admin's to buy.
 * A pending row that nobody holds and is older than two minutes was orphaned by a crash: its
 * supplier outcome is unknown and the request is refused (409) rather than risking a second
 * order.
 *
 * Listings (issue 18): the id a request names is a listing id (the listing's chosen offer is
 * traded) or the id of one offer (that offer is traded: how a client takes one of the
 * alternatives below, and what links from before listings name). A hold or a purchase changes
 * the offer's availability, so the listing's chosen offer is recomputed right after the
 * trade's record commits, in a transaction of its own under the listings lock
 * (store/listings.h): another supplier's offer takes over. An offer of a feed that
 * takes no orders through an API (not the supplier's feed, or the feed answers
 * DM_ERR_CONFLICT) is answered 409 CONFLICT with body {"error":{code, message, feed,
 * alternatives: [{id, listingId, feed, supplierStoneId, retailPrice, availability}]}}: the
 * listing's other available offers from feeds that take orders.
 *
 * Thread-safety: reentrant; conn is the caller's (one thread at a time), supplier is
 * thread-safe (may be NULL: trading not configured, answered 503).
 */
#ifndef DM_SERVICES_OPS_TRADE_H
#define DM_SERVICES_OPS_TRADE_H

#include <jansson.h>
#include <stdbool.h>

#include "adapters/db/db.h"
#include "adapters/feed/feed.h"
#include "core/log.h"
#include "store/listings.h"

/* What an operation answers. Either body is set (the whole response body, owned by the caller:
 * a built answer, an answer recorded for replay, or a replayed one) or it is NULL and code and
 * message describe an error response {"error":{code,message}}. */
struct dm_trade_answer {
    int http;
    json_t *body;
    bool replayed;     /* body is the stored answer of an earlier request with the same key */
    bool changed;      /* the stone's availability changed (the search index should settle) */
    const char *code;  /* static, when body is NULL */
    char message[200]; /* when body is NULL */
};

/* The feeds the API trades through: every configured feed it could open (a feed whose
 * credentials are not configured is absent, and trading an offer of it answers 503). A feed
 * that takes no orders through an API (a file feed) is present: trading its offer answers 409
 * with the reason and the listing's orderable alternatives. */
struct dm_trade_suppliers {
    struct dm_feed *feed[DM_FEEDS_MAX];
    int n;
};

struct dm_hold_request {
    const char *diamond_id; /* UUID text (listing or offer id), validated by the caller */
    const char *caller;     /* verified identity (api.h struct api_call.caller) */
    const char *client;     /* client label recorded with the hold */
    const struct dm_listing_policy *listing; /* OFFER_POLICY; NULL = the default */
};

/* Place a hold. Returns DM_OK with *out filled (answers 200 {"data":...}, 404, 409, 502, 503),
 * or a database error with err filled. conn must not be inside a transaction on entry; it may
 * be left inside one (with nothing of value in it): the caller releases it, which rolls back. */
enum dm_err dm_trade_hold(struct dm_db_conn *conn, const struct dm_trade_suppliers *suppliers,
                          const struct dm_hold_request *req, const struct dm_log_ctx *log,
                          struct dm_trade_answer *out, struct dm_error *err) DM_MUST_CHECK;

struct dm_purchase_request {
    const char *diamond_id;      /* UUID text (listing or offer id), validated by the caller */
    const char *caller;          /* verified identity the key is bound to */
    const char *client;          /* client label recorded with the purchase */
    bool admin;                  /* the caller holds the admin permission */
    const char *idempotency_key; /* 1..255 printable characters, validated by the caller */
    const char *request_hash;    /* SHA-256 hex of caller, diamond id and the exact body */
    const char *destination_id;  /* required */
    const char *reference;       /* NULL when absent */
    const char *comments;        /* NULL when absent */
    const char *return_option;   /* NULL when absent */
    const struct dm_listing_policy *listing; /* OFFER_POLICY; NULL = the default */
};

/* Buy the stone as described above. Returns DM_OK with *out filled, or a database error (or
 * DM_ERR_INTERNAL for a stored answer that cannot be read) with err filled. conn as for
 * dm_trade_hold. */
enum dm_err dm_trade_purchase(struct dm_db_conn *conn, const struct dm_trade_suppliers *suppliers,
                              const struct dm_purchase_request *req, const struct dm_log_ctx *log,
                              struct dm_trade_answer *out, struct dm_error *err) DM_MUST_CHECK;

#endif
