/*
 * config.h - table-driven configuration from the environment, with the seed's variable names.
 * Each variable has a type, a default, the services that read it, whether it is required and
 * a validator. dm_config_load() reads every variable the service uses, validates all of them,
 * prints every problem at once to stderr and returns DM_ERR_INVALID (the caller exits 2).
 * Secrets are never printed, not even in error messages.
 */
#ifndef DM_CORE_CONFIG_H
#define DM_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "core/feed_id.h"
#include "core/log.h"

/* Which service reads a variable (bit mask). */
enum dm_service {
    DM_SVC_API = 1 << 0,
    DM_SVC_WORKER = 1 << 1,
    DM_SVC_CONSOLIDATOR = 1 << 2,
    DM_SVC_SCHEDULER = 1 << 3,
    DM_SVC_DASHBOARD = 1 << 4,
    DM_SVC_CLI = 1 << 5, /* operator commands: migrate, apikey, status, ... */
    DM_SVC_FEEDSIM = 1 << 6,
};
#define DM_SVC_PIPELINE (DM_SVC_API | DM_SVC_WORKER | DM_SVC_CONSOLIDATOR | DM_SVC_SCHEDULER)
#define DM_SVC_DB (DM_SVC_PIPELINE | DM_SVC_CLI)
#define DM_SVC_ALL 0x7f

/*
 * Feeds (issue 18). FEEDS is a comma list of feed ids (default "nivoda"; spaces around ids
 * ignored); each id is 1 to DM_FEED_ID_LEN characters of [a-z0-9_] (core/feed_id.h: it names
 * the raw table raw_diamonds_<id> and the variables FEED_<ID>_*, ID upper-cased). Per feed:
 *   FEED_<ID>_TYPE        nivoda | file (default nivoda for the id nivoda; required otherwise)
 *   FEED_<ID>_URL         file: https://, http:// to a loopback host, file:// or an Azure Blob
 *                         URL (required); nivoda: the GraphQL endpoint (default NIVODA_ENDPOINT)
 *   FEED_<ID>_USERNAME, FEED_<ID>_PASSWORD   nivoda only (default NIVODA_USERNAME/PASSWORD)
 *   FEED_<ID>_MAPPING     file only: mapping file path (optional)
 *   FEED_<ID>_FORMAT      file only: csv | jsonl | auto (default auto: by URL, then type)
 *   FEED_<ID>_PRIORITY    integer -1000000..1000000 (default 0; higher wins ties)
 *   FEED_<ID>_CRON        the feed's schedule in the resident scheduler (optional)
 *   FEED_<ID>_MAX_SHRINK  fraction 0..1 a snapshot may shrink by (default 0.5)
 * With the default FEEDS=nivoda every seed name and behaviour is unchanged.
 */
#define DM_FEEDS_MAX 16 /* feeds in FEEDS */

enum dm_feed_type {
    DM_FEED_TYPE_NIVODA = 0, /* a Nivoda-compatible GraphQL marketplace */
    DM_FEED_TYPE_FILE,       /* a supplier inventory file (full snapshot) */
};

/* One configured feed. Strings are malloc'd or NULL. */
struct dm_feed_conf {
    char id[DM_FEED_ID_LEN + 1];
    enum dm_feed_type type;
    char *url;      /* file: snapshot URL; nivoda: endpoint (NULL where the service has none) */
    char *username; /* nivoda only */
    char *password; /* nivoda only; secret */
    char *mapping;  /* file only: mapping file path, or NULL */
    char *format;   /* file only: "csv", "jsonl" or NULL (auto) */
    int priority;
    char *cron; /* NULL = the resident scheduler's default schedule (--cron) */
    double max_shrink;
};

/* "nivoda" / "file". */
const char *dm_feed_type_name(enum dm_feed_type t);

/* The loaded configuration. Strings are malloc'd copies or NULL when unset. */
struct dm_config {
    int port;
    enum dm_log_level log_level;
    /* database */
    char *database_url;
    char *database_host;
    int database_port;
    char *database_name;
    char *database_username;
    char *database_password;
    char *database_sslmode;
    int database_pool_size;
    /* Azure */
    char *azure_storage_connection_string;
    char *azure_service_bus_connection_string;
    /* Per-queue Service Bus credentials (queue-scoped rules, EntityPath = the queue); each
     * wins over the namespace-level string for its queue. */
    char *azure_service_bus_connection_string_work_items;
    char *azure_service_bus_connection_string_work_done;
    char *azure_service_bus_connection_string_consolidate;
    char *azure_subscription_id;
    char *azure_resource_group;
    char *azure_scheduler_job_name;
    char *azure_management_endpoint; /* ARM base URL (tests point it at a local double) */
    char *azure_identity_endpoint;   /* managed identity endpoint (IDENTITY_ENDPOINT) */
    char *azure_identity_header;     /* IDENTITY_HEADER */
    /* API */
    char *hmac_secrets;
    char *cors_origins;
    int api_rate_limit_rps;
    int api_auth_failures_per_min;  /* per client IP, 0 = off */
    int api_supplier_concurrency;   /* 0 = DATABASE_POOL_SIZE / 3, at least 1 */
    int api_supplier_queue;         /* waiting supplier calls beyond the running ones */
    int api_supplier_per_client;    /* in flight per verified client, 0 = no cap */
    int api_max_connections_per_ip; /* open connections per client IP */
    int api_trusted_proxy_hops;     /* X-Forwarded-For entries appended by trusted proxies */
    bool metrics_require_auth;
    char *metrics_token;       /* bearer token for /metrics, or NULL */
    int metrics_cache_ms;      /* /metrics shared figures reused this long, 0 = off */
    int health_rate_limit_rps; /* /health per client IP, 0 = off */
    int api_cache_ms;          /* search response micro-cache lifetime, 0 = off */
    bool api_search_index;     /* answer searches from the in-memory index */
    int api_threads;           /* HTTP worker threads, 0 = DATABASE_POOL_SIZE */
    /* Nivoda */
    char *nivoda_endpoint;
    char *nivoda_username;
    char *nivoda_password;
    double nivoda_max_rps;
    int nivoda_timeout_ms;
    /* alerts */
    char *resend_api_key;
    char *resend_endpoint;
    char *alert_email_to;
    char *alert_email_from;
    /* pipeline */
    int64_t max_scheduler_records;
    char *run_type;
    char *scheduler_request_id; /* the manual trigger request an Azure job execution runs */
    char *watermark_dir;
    int worker_concurrency;
    int consolidator_batch_size;
    int consolidator_concurrency; /* batch loops per CONSOLIDATE */
    char *queue_backend; /* "pg" (default) or "servicebus" (implied by any Service Bus string) */
    int64_t
        work_items_lock_ms; /* test override of the work-items peek-lock (pg backend); 0 = seed */
    /* dashboard */
    char *api_url;
    char *dashboard_dir;
    /* feeds (services that read FEEDS: the pipeline and the operator commands) */
    char *feeds_text;           /* FEEDS as written */
    struct dm_feed_conf *feeds; /* in FEEDS order; feeds[0] is the default feed */
    int n_feeds;
    char *offer_policy; /* OFFER_POLICY: "lowest_retail" (default) or "feed_priority", exactly
                           the spellings dm_offer_policy_parse (domain/offer.h) accepts */
};

/* The configured feed id, or NULL when FEEDS does not name it (or id is NULL). */
const struct dm_feed_conf *dm_config_feed(const struct dm_config *cfg, const char *id);

/*
 * Checks of values whose syntax a layer above core owns, so that start-up refuses exactly what
 * their users could not use: HMAC_SECRETS (the API's parser, domain/hmac_auth.h) and the
 * per-queue Service Bus connection strings (the queue adapter's parser; queue is "work-items",
 * "work-done" or "consolidate"). Each returns NULL when the value is fine, else why, in static
 * storage, naming neither the variable nor the value. A NULL function (or a NULL struct)
 * accepts every value. Start-up passes dm_app_config_checks() (app/app.h); core cannot call
 * those parsers itself because it sits below them.
 */
struct dm_config_checks {
    const char *(*hmac_secrets)(const char *value);
    const char *(*sb_queue_string)(const char *value, const char *queue);
    const char *(*cron)(const char *value); /* FEED_<ID>_CRON: domain/cron.h's parser */
};

/* Load the variables used by `service` (one enum dm_service bit or a mask) from the
 * environment, with checks (may be NULL) for the values core cannot judge. On any problem,
 * writes one line per problem to `errs` (may be NULL) and returns DM_ERR_INVALID; cfg must
 * still be released with dm_config_free. */
enum dm_err dm_config_load(struct dm_config *cfg, unsigned service,
                           const struct dm_config_checks *checks, FILE *errs) DM_MUST_CHECK;
void dm_config_free(struct dm_config *cfg);

/* libpq conninfo string for the configured database (malloc'd), or NULL if none configured.
 * sslmode defaults to "require" for a non-local host and "disable" for loopback/unix sockets.
 * DATABASE_URL (a URL or key=value string) is kept as written; DATABASE_SSLMODE is added to it
 * when set, else sslmode=require when dm_config_conninfo_needs_tls says so. */
char *dm_config_conninfo(const struct dm_config *cfg);

/* True when conninfo (a postgres:// URL or a key=value string) sets no sslmode, PGSSLMODE is
 * unset, and it connects to a host that is not local (not loopback, a unix socket or, when it
 * names no host, PGHOST's): libpq would use sslmode=prefer, which a man in the middle
 * downgrades to plaintext. Every host of a multi-host list must be local to be exempt. */
bool dm_config_conninfo_needs_tls(const char *conninfo);

/* Names of variables read by a service, NULL-terminated static array (for docs and tests). */
const char **dm_config_names(unsigned service);

/* Print the variables of a service with defaults, for --help output (the per-feed
 * FEED_<ID>_* variables as patterns). */
void dm_config_print_help(unsigned service, FILE *out);

#endif
