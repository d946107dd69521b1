/*
 * serve.c - the API service (`diamond api`): dependencies (queue, Nivoda client, watermark
 * store, job trigger) on the application's pool, the multi-threaded HTTP server, a housekeeping
 * thread (request statistics, API keys re-read ahead of expiry and their last_used_at, replay
 * purge, child reaping), the search cache's refresher thread and graceful shutdown on SIGTERM: stop
 * accepting, finish in-flight requests, flush, return.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/feed/feed.h"
#include "adapters/http/client.h"
#include "adapters/jobtrigger/jobtrigger.h"
#include "adapters/queue/queue.h"
#include "adapters/watermark/watermark.h"
#include "app/adapter_opts.h"
#include "core/signals.h"
#include "core/timeutil.h"
#include "services/api/api.h"
#include "services/api/index_follow.h"
#include "services/api/serve.h"

struct housekeeper {
    struct dm_api *api;
    pthread_t th;
    volatile int stop;
};

static void *housekeeping(void *arg)
{
    struct housekeeper *hk = arg;
    int64_t last = dm_mono_ms();
    while (!hk->stop) {
        dm_sleep_ms(200, &hk->stop);
        dm_jobtrigger_reap();
        api_auth_refresh(hk->api);
        if (dm_mono_ms() - last >= 5000) {
            last = dm_mono_ms();
            api_stats_flush(hk->api);
            api_auth_flush(hk->api);
        }
    }
    return NULL;
}

enum dm_err dm_api_serve(struct dm_app *app, struct dm_error *err)
{
    enum dm_err rc = DM_OK;
    struct dm_api api;
    memset(&api, 0, sizeof(api));
    struct dm_http_server *srv = NULL;
    struct housekeeper hk = {.api = &api};
    bool hk_started = false;
    api.cfg = &app->cfg;
    dm_listing_policy_from_config(&app->cfg, &api.listing);
    api.db = app->db;
    api.started_ms = dm_now_ms();
    if (dm_hmac_secrets_parse(app->cfg.hmac_secrets, &api.hmac, err) != DM_OK) {
        /* The message names HMAC_SECRETS and the client, never a secret. */
        rc = DM_ERR_INVALID;
        goto out;
    }
    snprintf(api.cors_origins, sizeof(api.cors_origins), "%s",
             app->cfg.cors_origins ? app->cfg.cors_origins : "*");
    dm_http_global_init();
    struct dm_error derr = {0}; /* dependencies the API runs without */
    if (dm_app_queue_open(&app->cfg, app->db, &api.queue, &derr) != DM_OK) {
        dm_warn(NULL, "queue unavailable (%s): triggers that send messages answer 503",
                derr.message);
        api.queue = NULL;
    }
    if (dm_app_watermark_open(&app->cfg, &api.wm, &derr) != DM_OK) {
        dm_warn(NULL, "watermark store unavailable: %s", derr.message);
        api.wm = NULL;
    }
    /* Every configured feed is a supplier an offer can be traded through. Without a feed's
     * credentials the API runs without that supplier: holds and orders of its offers answer
     * 503; a file feed opens, and its offers answer 409 (it takes no orders through an API). */
    for (int i = 0; i < app->cfg.n_feeds && i < DM_FEEDS_MAX; i++) {
        const char *id = app->cfg.feeds[i].id;
        struct dm_feed *f = NULL;
        if (dm_feed_open(&app->cfg, id, DM_FEED_FAIL_FAST, &f, &derr) != DM_OK) {
            dm_info(NULL, "supplier trading off for feed %s: %s", id, derr.message);
            continue;
        }
        api.suppliers.feed[api.suppliers.n++] = f;
    }
    api.trigger = dm_app_jobtrigger_open(&app->cfg, "/proc/self/exe");
    api.keys = api_keycache_new();
    api.rl = api_ratelimit_new(app->cfg.api_rate_limit_rps, app->cfg.api_rate_limit_rps);
    api.rl_fail = api_ratelimit_new(app->cfg.api_auth_failures_per_min / 60.0,
                                    app->cfg.api_auth_failures_per_min);
    api.supplier = api_supplier_new(app->cfg.api_supplier_per_client);
    api.rl_health =
        api_ratelimit_new(app->cfg.health_rate_limit_rps, 2.0 * app->cfg.health_rate_limit_rps);
    api.metrics_cache = api_metrics_cache_new(app->cfg.metrics_cache_ms);
    api.counts = api_countcache_new();
    api.responses = api_respcache_new(app->cfg.api_cache_ms);
    /* The search index publishes versions of a few tens of MB by the dozen while a
     * consolidation or reprice runs: large blocks come from mmap and go back to the system when
     * freed (glibc's default threshold grows until they stay in the heap, and RSS with them). */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    if (app->cfg.api_search_index) {
        /* The index loads on its own thread: until it has, searches use PostgreSQL. */
        char *ci = dm_config_conninfo(&app->cfg);
        api.index = api_index_new(ci);
        free(ci);
        if (api_index_start(api.index) != DM_OK) {
            dm_warn(NULL, "search index follower not started: searches use PostgreSQL");
            api_index_free(api.index);
            api.index = NULL;
        }
    }

    /* Each worker thread serves its connections one request at a time. Searches from the
     * in-memory index are CPU work, so by default one thread per core: more runnable threads
     * than cores only lengthen the tail (500,000 stones, varied searches on 2 cores: p99 30 ms
     * with 15 threads, 10-17 ms with 2-4, the same throughput); supplier calls run on their own
     * pool. Without the index requests wait on PostgreSQL: one thread per pooled connection. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = app->cfg.api_threads > 0 ? app->cfg.api_threads
                  : api.index              ? (int)(cores >= 2 ? (cores < 64 ? cores : 64) : 2)
                                           : app->cfg.database_pool_size;
    /* Supplier calls hold a pooled connection (and the stone's row lock) while the supplier
     * answers: by default they get a third of the pool, so searches keep the rest. */
    int supplier_threads = app->cfg.api_supplier_concurrency > 0 ? app->cfg.api_supplier_concurrency
                                                                 : app->cfg.database_pool_size / 3;
    if (supplier_threads < 1)
        supplier_threads = 1;
    struct dm_http_server_opts so = {
        .bind = getenv("API_BIND") ? getenv("API_BIND") : "0.0.0.0",
        .port = app->cfg.port,
        .threads = threads,
        .max_body = API_MAX_BODY,
        .timeout_s = 30,
        .per_ip_limit = (unsigned)app->cfg.api_max_connections_per_ip,
        .pool_threads = supplier_threads,
        .pool_queue = app->cfg.api_supplier_queue,
        .handler = api_handle,
        .ctx = &api,
    };
    if (dm_http_server_start(&so, &srv, err) != DM_OK) {
        dm_error(NULL, "%s", err->message);
        rc = err->code = DM_ERR_IO; /* not DM_ERR_INVALID: the configuration was accepted */
        goto out;
    }
    if (pthread_create(&hk.th, NULL, housekeeping, &hk) == 0)
        hk_started = true;
    if (api_respcache_start(api.responses, &api) != DM_OK)
        dm_warn(NULL, "search cache refresher not started: expired searches are refreshed by "
                      "the request that finds them");
    dm_info(NULL,
            "api listening on port %d (threads %d, supplier calls %d + %d waiting, queue %s, "
            "trigger %s, supplier %s)",
            dm_http_server_port(srv), so.threads, so.pool_threads, so.pool_queue,
            api.queue ? dm_queue_backend_name(api.queue) : "unavailable",
            dm_jobtrigger_name(api.trigger), api.suppliers.n > 0 ? "configured" : "not configured");
    while (!dm_stop_requested())
        dm_sleep_ms(200, (volatile int *)&dm_stop_flag);
    dm_info(NULL, "api stopping: finishing in-flight requests");
    rc = DM_OK;
out:
    dm_http_server_stop(srv);
    api_respcache_stop(api.responses);
    if (hk_started) {
        hk.stop = 1;
        pthread_join(hk.th, NULL);
        api_stats_flush(&api);
        api_auth_flush(&api);
    }
    for (int i = 0; i < api.suppliers.n; i++)
        dm_feed_close(api.suppliers.feed[i]);
    if (api.queue)
        dm_queue_free(api.queue);
    if (api.wm)
        dm_watermark_free(api.wm);
    dm_jobtrigger_free(api.trigger);
    api_keycache_free(api.keys);
    api_ratelimit_free(api.rl);
    api_ratelimit_free(api.rl_fail);
    api_supplier_free(api.supplier);
    api_ratelimit_free(api.rl_health);
    api_metrics_cache_free(api.metrics_cache);
    api_countcache_free(api.counts);
    api_respcache_free(api.responses);
    api_index_free(api.index);
    dm_hmac_secrets_free(&api.hmac);
    return rc;
}
