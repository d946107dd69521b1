/*
 * search_cache.h - the two caches behind GET /api/v2/diamonds (search_cache.c): totals of
 * large result sets (count cache) and whole search responses (response cache, API_CACHE_MS)
 * with its background refresher. The refresher renders through api_search_render (api.h).
 *
 * Thread-safety: every function may be called from any thread; each cache has its own lock.
 */
#ifndef DM_SERVICES_API_SEARCH_CACHE_H
#define DM_SERVICES_API_SEARCH_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

struct dm_api;
struct dm_search_query;
struct api_countcache;
struct api_respcache;

/* Totals of large result sets, keyed by the hash of the count statement, reused for 10 s; an
 * expired total is recounted by one caller while the others keep it. Thread-safe. */
struct api_countcache *api_countcache_new(void);
void api_countcache_free(struct api_countcache *cc);
bool api_countcache_get(struct api_countcache *cc, const char *key, int64_t *total, bool *estimate);
void api_countcache_put(struct api_countcache *cc, const char *key, int64_t total, bool estimate);

/* Search responses reused for ttl_ms (0 = off), keyed by the canonical text of the parsed
 * search. With the refresher started, an entry read since it was stored is re-rendered in the
 * background once half its lifetime has passed, so hot searches never wait on the database; a
 * result is then at most ttl_ms old. While it runs, an expired hot entry (read since it was
 * stored) is served and left to the refresher for up to 4 ttl_ms + 1 s, or while its
 * background refresh is in flight (at most 30 s); past that it is a miss. An expired cold entry
 * (not read since stored), or any expired entry without the refresher: one request refreshes it
 * (its get answers false) while the others keep the previous body within the same window.
 * _free stops the refresher. */
struct api_respcache *api_respcache_new(int ttl_ms);
void api_respcache_free(struct api_respcache *rc);
/* Copy the cached body for key into out and its ETag into etag; false on a miss, and when the
 * caller is the one chosen to refresh an expired entry. */
bool api_respcache_get(struct api_respcache *rc, const char *key, struct dm_buf *out,
                       char etag[40]);
/* Store body (bodies over 512 kB are not cached) and its ETag for key and its parsed query. */
void api_respcache_put(struct api_respcache *rc, const char *key, const struct dm_search_query *q,
                       const struct dm_buf *body, const char *etag);
/* Start the background refresher thread; it renders through api_search_render(api, ...).
 * No-op when the cache is off. DM_ERR_INTERNAL when the thread cannot be created. */
enum dm_err api_respcache_start(struct api_respcache *rc, struct dm_api *api) DM_MUST_CHECK;
/* Stop and join the refresher (no-op when not started). */
void api_respcache_stop(struct api_respcache *rc);
struct api_respcache_counts {
    long long hits, misses, refreshes_background, refreshes_request, refresh_failures;
};
void api_respcache_stats(struct api_respcache *rc, struct api_respcache_counts *out);

/* For tests: the monotonic clock (ms) the response cache reads; NULL restores dm_mono_ms. Set
 * before the cache is shared between threads. */
void api_respcache_set_clock(struct api_respcache *rc, int64_t (*now_ms)(void));

#endif
