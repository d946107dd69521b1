/*
 * search_cache.c - the two caches behind GET /api/v2/diamonds: totals of large result sets
 * (count cache) and whole search responses (response cache, API_CACHE_MS), with the
 * background refresher that keeps the response cache's read entries fresh.
 *
 * Why a refresher: a cached search expires every API_CACHE_MS. If the request that finds it
 * expired re-runs the query, that request's HTTP thread is busy with PostgreSQL for a few to a
 * few hundred milliseconds, and every other connection served by the same thread waits behind
 * it: measured at 500,000 diamonds, the search p99 went from 13 ms (no expiry) to 280-1,100 ms
 * (one expiry a second). The refresher re-renders an entry that was read since it was stored
 * once it is half a lifetime old, on its own thread, so a request for a search that is being
 * read never waits on the database. An entry nobody reads is left to expire.
 *
 * Freshness contract: a response is at most API_CACHE_MS old while the refresher keeps up.
 * When it falls behind (a slow, overloaded or unavailable database), readers of a hot entry
 * keep the previous body for up to 4 lifetimes + 1 s, or while a background refresh of it is
 * in flight (at most 30 s); past that the entry is a miss and requests go to the database
 * themselves. An entry nobody read since it was stored is cold: the request that finds it
 * expired refreshes it (the others keep the previous body meanwhile), as without the
 * refresher. Without the
 * refresher (API_CACHE_MS=0 turns the cache off; a failed thread start falls back), one request
 * refreshes an expired entry while the others keep it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "domain/search_query.h"
#include "services/api/api.h"
#include "services/api/search_cache.h"

/* ---- count cache: totals of large result sets are reused for a few seconds ---- */

#define CC_SLOTS 128
#define CC_TTL_MS ((int64_t)10000)

struct cc_entry {
    char key[DM_SHA256_HEX_LEN];
    int64_t total;
    bool estimate;
    int64_t at_ms;
    int64_t refresh_ms;
};

struct api_countcache {
    pthread_mutex_t mu;
    struct cc_entry e[CC_SLOTS];
};

struct api_countcache *api_countcache_new(void)
{
    struct api_countcache *cc = dm_xcalloc(1, sizeof(*cc));
    pthread_mutex_init(&cc->mu, NULL);
    return cc;
}

void api_countcache_free(struct api_countcache *cc)
{
    if (cc == NULL)
        return;
    pthread_mutex_destroy(&cc->mu);
    free(cc);
}

static unsigned cc_slot(const char *key)
{
    return (unsigned)strtoul(
               (char[9]){key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7], 0}, NULL,
               16) %
           CC_SLOTS;
}

/* A fresh total is a hit; an expired one is recounted by one caller while the others keep
 * using it (totals of large result sets are approximate anyway). */
bool api_countcache_get(struct api_countcache *cc, const char *key, int64_t *total, bool *estimate)
{
    bool hit = false;
    int64_t now = dm_mono_ms();
    pthread_mutex_lock(&cc->mu);
    struct cc_entry *e = &cc->e[cc_slot(key)];
    if (!strcmp(e->key, key) && now - e->at_ms < 6 * CC_TTL_MS) {
        hit = now - e->at_ms < CC_TTL_MS;
        if (!hit) {
            if (e->refresh_ms > 0 && now - e->refresh_ms < 5000)
                hit = true; /* another caller is recounting */
            else
                e->refresh_ms = now;
        }
        if (hit) {
            *total = e->total;
            *estimate = e->estimate;
        }
    }
    pthread_mutex_unlock(&cc->mu);
    return hit;
}

void api_countcache_put(struct api_countcache *cc, const char *key, int64_t total, bool estimate)
{
    pthread_mutex_lock(&cc->mu);
    struct cc_entry *e = &cc->e[cc_slot(key)];
    snprintf(e->key, sizeof(e->key), "%s", key);
    e->total = total;
    e->estimate = estimate;
    e->at_ms = dm_mono_ms();
    e->refresh_ms = 0;
    pthread_mutex_unlock(&cc->mu);
}

/* ---- response cache ---- */

#define RC_SLOTS 128
#define RC_MAX_BODY ((size_t)512 * 1024)
#define RC_REFRESH_BUSY_MS 2000 /* a request refresh started this recently is in progress */
#define RC_RETRY_MS 1000        /* a failed background refresh is retried after this */
/* A background refresh in flight keeps its entry servable past the stale window for at most
 * this long: on a saturated machine a refresh can take seconds, and the readers of a hot
 * search should not all fall through to the database meanwhile. */
#define RC_BG_MAX_MS 30000

/* A cached body is shared: readers take a reference under the lock and copy it outside, so
 * the lock is held for a pointer swap, not for a copy of tens of kilobytes. */
struct rc_body {
    atomic_int refs;
    size_t len;
    char data[];
};

static void rc_body_unref(struct rc_body *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

struct rc_entry {
    char *key;                 /* canonical text of the search; NULL = empty slot */
    struct dm_search_query *q; /* the parsed search, for the refresher */
    char etag[40];
    struct rc_body *body;
    int64_t at_ms;
    int64_t refresh_ms; /* when a request started refreshing this entry; 0 = none */
    bool read;          /* served at least once since it was stored (or last taken) */
    bool bg_busy;       /* the refresher is re-rendering it now, since bg_started_ms */
    int64_t bg_started_ms;
    int64_t bg_retry_ms; /* after a failed background refresh: not before this */
};

struct api_respcache {
    pthread_mutex_t mu;
    int ttl_ms;
    struct rc_entry e[RC_SLOTS];
    int64_t (*now_ms)(void); /* dm_mono_ms; tests substitute a clock */
    atomic_llong hits, misses, refreshes_background, refreshes_request, refresh_failures;
    /* the refresher */
    struct dm_api *api;
    pthread_t th;
    atomic_bool started;
    bool stop;           /* under mu */
    pthread_cond_t wake; /* signalled on stop */
};

struct api_respcache *api_respcache_new(int ttl_ms)
{
    struct api_respcache *rc = dm_xcalloc(1, sizeof(*rc));
    pthread_mutex_init(&rc->mu, NULL);
    dm_cond_init_monotonic(&rc->wake);
    rc->ttl_ms = ttl_ms;
    rc->now_ms = dm_mono_ms;
    return rc;
}

void api_respcache_set_clock(struct api_respcache *rc, int64_t (*now_ms)(void))
{
    rc->now_ms = now_ms ? now_ms : dm_mono_ms;
}

void api_respcache_free(struct api_respcache *rc)
{
    if (rc == NULL)
        return;
    api_respcache_stop(rc);
    for (int i = 0; i < RC_SLOTS; i++) {
        rc_body_unref(rc->e[i].body);
        free(rc->e[i].key);
        free(rc->e[i].q);
    }
    pthread_cond_destroy(&rc->wake);
    pthread_mutex_destroy(&rc->mu);
    free(rc);
}

/* How long past its lifetime an entry may still be served while it is being refreshed. */
static int64_t stale_max(const struct api_respcache *rc)
{
    return 4LL * rc->ttl_ms + 1000;
}

static unsigned key_slot(const char *key)
{
    return (unsigned)(dm_fnv1a(key) % RC_SLOTS);
}

bool api_respcache_get(struct api_respcache *rc, const char *key, struct dm_buf *out, char etag[40])
{
    if (rc == NULL || rc->ttl_ms <= 0)
        return false;
    struct rc_body *body = NULL;
    bool refresh_here = false;
    int64_t now = rc->now_ms();
    pthread_mutex_lock(&rc->mu);
    struct rc_entry *e = &rc->e[key_slot(key)];
    if (e->body && e->key && !strcmp(e->key, key)) {
        int64_t age = now - e->at_ms;
        bool serve = age < rc->ttl_ms;
        bool in_flight = e->bg_busy && now - e->bg_started_ms < RC_BG_MAX_MS;
        /* A hot entry (read since it was stored, or being re-rendered) is the refresher's
         * job, so no request waits on the database for it. A cold one (stored and not read
         * since: the refresher leaves it alone) is refreshed by the request that finds it
         * expired, so a search asked for now and then is never served older than its
         * lifetime. */
        bool refresher_has_it = atomic_load(&rc->started) && (in_flight || e->read);
        if (!serve && (age < stale_max(rc) || in_flight)) {
            if (refresher_has_it ||
                (e->refresh_ms > 0 && now - e->refresh_ms < RC_REFRESH_BUSY_MS)) {
                serve = true; /* being refreshed: the previous body will do */
            } else {
                e->refresh_ms = now; /* this request refreshes */
                refresh_here = true;
            }
        }
        if (serve) {
            e->read = true;
            body = e->body;
            atomic_fetch_add(&body->refs, 1);
            snprintf(etag, 40, "%s", e->etag);
        }
    }
    pthread_mutex_unlock(&rc->mu);
    if (refresh_here)
        atomic_fetch_add(&rc->refreshes_request, 1);
    if (body == NULL) {
        atomic_fetch_add(&rc->misses, 1);
        return false;
    }
    dm_buf_reset(out);
    bool hit = dm_buf_append(out, body->data, body->len) == DM_OK;
    rc_body_unref(body);
    atomic_fetch_add(hit ? &rc->hits : &rc->misses, 1);
    return hit;
}

/* Store body for key; with only_if_present, only when the slot still holds key (a refresh
 * must not evict a search stored meanwhile in the same slot). */
static void put(struct api_respcache *rc, const char *key, const struct dm_search_query *q,
                const struct dm_buf *body, const char *etag, bool only_if_present)
{
    if (rc == NULL || rc->ttl_ms <= 0 || body->len > RC_MAX_BODY || body->data == NULL)
        return;
    struct rc_body *copy = dm_xmalloc(sizeof(*copy) + body->len);
    atomic_init(&copy->refs, 1);
    copy->len = body->len;
    memcpy(copy->data, body->data, body->len);
    char *old_key = NULL;
    struct dm_search_query *old_q = NULL;
    pthread_mutex_lock(&rc->mu);
    struct rc_entry *e = &rc->e[key_slot(key)];
    struct rc_body *old = e->body;
    bool same = e->key != NULL && !strcmp(e->key, key);
    if (!same && only_if_present) {
        pthread_mutex_unlock(&rc->mu);
        free(copy);
        return;
    }
    if (!same) {
        old_key = e->key; /* freed below, outside the lock */
        old_q = e->q;
        e->key = dm_xstrdup(key);
        e->q = dm_xmalloc(sizeof(*e->q));
        memcpy(e->q, q, sizeof(*q));
        e->read = false;
    }
    snprintf(e->etag, sizeof(e->etag), "%s", etag);
    e->body = copy;
    e->at_ms = rc->now_ms();
    e->refresh_ms = 0;
    e->bg_busy = false;
    e->bg_retry_ms = 0;
    /* A re-store of the same search keeps `read`: the refresher clears it when it starts. */
    pthread_mutex_unlock(&rc->mu);
    rc_body_unref(old);
    free(old_key);
    free(old_q);
}

void api_respcache_put(struct api_respcache *rc, const char *key, const struct dm_search_query *q,
                       const struct dm_buf *body, const char *etag)
{
    put(rc, key, q, body, etag, false);
}

void api_respcache_stats(struct api_respcache *rc, struct api_respcache_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (rc == NULL)
        return;
    out->hits = atomic_load(&rc->hits);
    out->misses = atomic_load(&rc->misses);
    out->refreshes_background = atomic_load(&rc->refreshes_background);
    out->refreshes_request = atomic_load(&rc->refreshes_request);
    out->refresh_failures = atomic_load(&rc->refresh_failures);
}

/* ---- the refresher ---- */

/* Pick the next entry due for a background refresh at or after slot *from: read since it was
 * stored or last taken, at least half a lifetime old, not expired past the stale window, not
 * being refreshed and not waiting to retry. Marks it busy and copies out its key and query. */
static bool take_due(struct api_respcache *rc, int *from, char **key, struct dm_search_query *q)
{
    int64_t now = rc->now_ms();
    bool found = false;
    pthread_mutex_lock(&rc->mu);
    for (; *from < RC_SLOTS && !found && !rc->stop; (*from)++) {
        struct rc_entry *e = &rc->e[*from];
        if (e->body == NULL || e->key == NULL || e->q == NULL || !e->read)
            continue;
        int64_t age = now - e->at_ms;
        if (age < rc->ttl_ms / 2 || age >= stale_max(rc) || e->bg_busy || now < e->bg_retry_ms)
            continue;
        e->bg_busy = true;
        e->bg_started_ms = now;
        e->read = false; /* a read after this keeps it alive for the next round */
        *key = dm_xstrdup(e->key);
        memcpy(q, e->q, sizeof(*q));
        found = true;
    }
    pthread_mutex_unlock(&rc->mu);
    return found;
}

static void refresh_one(struct api_respcache *rc, const char *key, const struct dm_search_query *q,
                        struct dm_buf *b)
{
    struct dm_error err = {0};
    dm_buf_reset(b);
    enum dm_err e = api_search_render(rc->api, q, b, &err);
    if (e != DM_OK) {
        /* Readers keep the previous body (within the stale window); retries are spaced out
         * while the database is unavailable. */
        atomic_fetch_add(&rc->refresh_failures, 1);
        dm_debug(NULL, "search cache refresh failed: %s", err.message);
        pthread_mutex_lock(&rc->mu);
        struct rc_entry *en = &rc->e[key_slot(key)];
        if (en->key && !strcmp(en->key, key)) {
            en->bg_busy = false;
            en->bg_retry_ms = rc->now_ms() + RC_RETRY_MS;
        }
        pthread_mutex_unlock(&rc->mu);
        return;
    }
    char etag[40];
    api_etag_of(b, etag);
    put(rc, key, q, b, etag, true);
    atomic_fetch_add(&rc->refreshes_background, 1);
}

static void *refresher(void *arg)
{
    struct api_respcache *rc = arg;
    /* Look often enough that an entry due at half its lifetime is refreshed well before it
     * expires: an eighth of the lifetime, between 10 ms and 1 s. */
    int64_t tick = rc->ttl_ms / 8;
    tick = tick < 10 ? 10 : tick > 1000 ? 1000 : tick;
    struct dm_search_query *q = dm_xmalloc(sizeof(*q));
    struct dm_buf b;
    dm_buf_init(&b, 2 * RC_MAX_BODY);
    for (;;) {
        int from = 0;
        char *key = NULL;
        while (take_due(rc, &from, &key, q)) {
            refresh_one(rc, key, q, &b);
            free(key);
            key = NULL;
        }
        pthread_mutex_lock(&rc->mu);
        if (!rc->stop) {
            struct timespec ts = dm_deadline_after(CLOCK_MONOTONIC, tick);
            pthread_cond_timedwait(&rc->wake, &rc->mu, &ts);
        }
        bool stop = rc->stop;
        pthread_mutex_unlock(&rc->mu);
        if (stop)
            break;
    }
    dm_buf_free(&b);
    free(q);
    return NULL;
}

enum dm_err api_respcache_start(struct api_respcache *rc, struct dm_api *api)
{
    if (rc == NULL || rc->ttl_ms <= 0 || atomic_load(&rc->started))
        return DM_OK;
    rc->api = api;
    rc->stop = false;
    if (pthread_create(&rc->th, NULL, refresher, rc) != 0)
        return DM_ERR_INTERNAL;
    atomic_store(&rc->started, true);
    return DM_OK;
}

void api_respcache_stop(struct api_respcache *rc)
{
    if (rc == NULL || !atomic_load(&rc->started))
        return;
    pthread_mutex_lock(&rc->mu);
    rc->stop = true;
    pthread_cond_signal(&rc->wake);
    pthread_mutex_unlock(&rc->mu);
    pthread_join(rc->th, NULL);
    atomic_store(&rc->started, false);
}
