/*
 * config.c - the configuration table. One row per environment variable: type, default, which
 * services read it, which require it, and its validator. Add a variable by adding a row.
 */
#include "core/config.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/num.h"

enum var_type { T_STR, T_INT, T_I64, T_DOUBLE, T_BOOL, T_LOGLEVEL };

/* NULL when value is fine, else why (never naming the value). x: the checks above core. */
typedef const char *(*validator_fn)(const char *value, const struct dm_config_checks *x);

struct var {
    const char *name;
    enum var_type type;
    size_t offset;
    const char *def;   /* default as text, NULL = unset */
    unsigned services; /* who reads it */
    unsigned required; /* who must have it */
    double min, max;   /* numeric range */
    bool secret;
    validator_fn validate;
    const char *help;
};

static const char *v_url(const char *v, const struct dm_config_checks *x)
{
    if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
        return "must be an http:// or https:// URL";
    return NULL;
}

static const char *v_db_url(const char *v, const struct dm_config_checks *x)
{
    if (!strncmp(v, "postgres://", 11) || !strncmp(v, "postgresql://", 13) || strchr(v, '='))
        return NULL;
    return "must be a postgres:// URL or a libpq key=value string";
}

static const char *v_sslmode(const char *v, const struct dm_config_checks *x)
{
    static const char *ok[] = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!strcmp(v, ok[i]))
            return NULL;
    return "must be one of disable, allow, prefer, require, verify-ca, verify-full";
}

static const char *v_run_type(const char *v, const struct dm_config_checks *x)
{
    if (!strcmp(v, "full") || !strcmp(v, "incremental"))
        return NULL;
    return "must be full or incremental";
}

static const char *v_uuid(const char *v, const struct dm_config_checks *x)
{
    (void)x;
    return dm_uuid_valid(v) ? NULL : "must be a UUID";
}

static const char *v_queue_backend(const char *v, const struct dm_config_checks *x)
{
    if (!strcmp(v, "pg") || !strcmp(v, "servicebus"))
        return NULL;
    return "must be pg or servicebus";
}

/* The API's own parser decides (x->hmac_secrets: domain/hmac_auth.h), so start-up refuses
 * exactly what the API could not use. */
static const char *v_hmac(const char *v, const struct dm_config_checks *x)
{
    if (v[0] == '\0')
        return "must be a JSON object mapping client id to secret";
    return x && x->hmac_secrets ? x->hmac_secrets(v) : NULL;
}

static const char *v_metrics_token(const char *v, const struct dm_config_checks *x)
{
    if (strlen(v) < 16)
        return "must be at least 16 characters (a random token)";
    for (const char *p = v; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return "must not contain spaces or control characters";
    return NULL;
}

static const char *v_conn_string(const char *v, const struct dm_config_checks *x)
{
    if (strchr(v, '=') == NULL || strchr(v, ';') == NULL)
        return "must be an Azure connection string (Key=Value;Key=Value)";
    return NULL;
}

/* A per-queue Service Bus string: the queue adapter's own parser decides
 * (x->sb_queue_string: adapters/queue/servicebus.h, as for HMAC_SECRETS), so start-up refuses
 * exactly what the queue could not use, including an EntityPath naming another queue. */
static const char *v_sb_work_items(const char *v, const struct dm_config_checks *x)
{
    return x && x->sb_queue_string ? x->sb_queue_string(v, "work-items") : NULL;
}

static const char *v_sb_work_done(const char *v, const struct dm_config_checks *x)
{
    return x && x->sb_queue_string ? x->sb_queue_string(v, "work-done") : NULL;
}

static const char *v_sb_consolidate(const char *v, const struct dm_config_checks *x)
{
    return x && x->sb_queue_string ? x->sb_queue_string(v, "consolidate") : NULL;
}

static const char *v_email(const char *v, const struct dm_config_checks *x)
{
    const char *at = strchr(v, '@');
    if (at == NULL || at == v || strchr(at, '.') == NULL)
        return "must be an e-mail address";
    return NULL;
}

static const char *v_offer_policy(const char *v, const struct dm_config_checks *x)
{
    if (!strcmp(v, "lowest_retail") || !strcmp(v, "feed_priority"))
        return NULL;
    return "must be lowest_retail or feed_priority";
}

/* One entry of the FEEDS list: [start, start+len) with surrounding spaces trimmed. */
static void trim(const char **start, size_t *len)
{
    while (*len && (**start == ' ' || **start == '\t')) {
        (*start)++;
        (*len)--;
    }
    while (*len && ((*start)[*len - 1] == ' ' || (*start)[*len - 1] == '\t'))
        (*len)--;
}

/* Calls fn for each entry of a FEEDS value; stops at the first non-NULL answer. */
static const char *each_feed(const char *v, const char *(*fn)(const char *id, void *arg), void *arg)
{
    for (const char *p = v;;) {
        const char *comma = strchr(p, ',');
        const char *s = p;
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        trim(&s, &len);
        char id[DM_FEED_ID_LEN + 2];
        if (len == 0)
            return "has an empty feed id";
        if (len > DM_FEED_ID_LEN)
            return "has a feed id longer than 32 characters";
        memcpy(id, s, len);
        id[len] = '\0';
        if (!dm_feed_id_valid(id))
            return "has a feed id with characters other than a-z, 0-9 and _";
        const char *why = fn(id, arg);
        if (why)
            return why;
        if (comma == NULL)
            return NULL;
        p = comma + 1;
    }
}

struct feed_ids {
    char ids[DM_FEEDS_MAX][DM_FEED_ID_LEN + 1];
    int n;
};

static const char *collect_feed(const char *id, void *arg)
{
    struct feed_ids *f = arg;
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->ids[i], id))
            return "names a feed twice";
    if (f->n == DM_FEEDS_MAX)
        return "names more than 16 feeds";
    snprintf(f->ids[f->n++], DM_FEED_ID_LEN + 1, "%.32s", id);
    return NULL;
}

static const char *v_feeds(const char *v, const struct dm_config_checks *x)
{
    struct feed_ids f = {.n = 0};
    return each_feed(v, collect_feed, &f);
}

#define OFF(f) offsetof(struct dm_config, f)
#define ALL DM_SVC_ALL
#define DB DM_SVC_DB

static const struct var vars[] = {
    {"PORT", T_INT, OFF(port), "3000", DM_SVC_API | DM_SVC_DASHBOARD, 0, 1, 65535, false, NULL,
     "listening port (api 3000, dashboard 8080 locally / 80 in the container)"},
    {"LOG_LEVEL", T_LOGLEVEL, OFF(log_level), "info", ALL, 0, 0, 0, false, NULL,
     "debug, info, warn or error"},
    {"DATABASE_URL", T_STR, OFF(database_url), NULL, DB, 0, 0, 0, true, v_db_url,
     "PostgreSQL URL (overrides DATABASE_HOST/...)"},
    {"DATABASE_HOST", T_STR, OFF(database_host), NULL, DB, 0, 0, 0, false, NULL,
     "PostgreSQL host or unix socket directory"},
    {"DATABASE_PORT", T_INT, OFF(database_port), "5432", DB, 0, 1, 65535, false, NULL,
     "PostgreSQL port"},
    {"DATABASE_NAME", T_STR, OFF(database_name), "postgres", DB, 0, 0, 0, false, NULL,
     "database name"},
    {"DATABASE_USERNAME", T_STR, OFF(database_username), NULL, DB, 0, 0, 0, false, NULL,
     "database user"},
    {"DATABASE_PASSWORD", T_STR, OFF(database_password), NULL, DB, 0, 0, 0, true, NULL,
     "database password"},
    {"DATABASE_SSLMODE", T_STR, OFF(database_sslmode), NULL, DB, 0, 0, 0, false, v_sslmode,
     "libpq sslmode (default require for remote hosts)"},
    {"DATABASE_POOL_SIZE", T_INT, OFF(database_pool_size), "15", DB, 0, 1, 200, false, NULL,
     "connections in the pool"},
    {"AZURE_STORAGE_CONNECTION_STRING", T_STR, OFF(azure_storage_connection_string), NULL,
     DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0, 0, true, v_conn_string,
     "selects the Azure Blob watermark backend"},
    {"AZURE_SERVICE_BUS_CONNECTION_STRING", T_STR, OFF(azure_service_bus_connection_string), NULL,
     DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0, 0, true, v_conn_string,
     "selects the Azure Service Bus queue backend"},
    {"AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS", T_STR,
     OFF(azure_service_bus_connection_string_work_items), NULL, DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0,
     0, true, v_sb_work_items,
     "work-items only (its queue-scoped rule, EntityPath=work-items); wins over "
     "AZURE_SERVICE_BUS_CONNECTION_STRING for that queue and also selects Service Bus"},
    {"AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE", T_STR,
     OFF(azure_service_bus_connection_string_work_done), NULL, DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0,
     0, true, v_sb_work_done,
     "work-done only (EntityPath=work-done); wins over AZURE_SERVICE_BUS_CONNECTION_STRING"},
    {"AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE", T_STR,
     OFF(azure_service_bus_connection_string_consolidate), NULL, DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0,
     0, true, v_sb_consolidate,
     "consolidate only (EntityPath=consolidate); wins over AZURE_SERVICE_BUS_CONNECTION_STRING"},
    {"AZURE_SUBSCRIPTION_ID", T_STR, OFF(azure_subscription_id), NULL, DM_SVC_API, 0, 0, 0, false,
     NULL, "subscription of the scheduler job (API trigger)"},
    {"AZURE_RESOURCE_GROUP", T_STR, OFF(azure_resource_group), NULL, DM_SVC_API, 0, 0, 0, false,
     NULL, "resource group of the scheduler job"},
    {"AZURE_SCHEDULER_JOB_NAME", T_STR, OFF(azure_scheduler_job_name), NULL, DM_SVC_API, 0, 0, 0,
     false, NULL, "Container Apps Job name of the scheduler"},
    {"AZURE_MANAGEMENT_ENDPOINT", T_STR, OFF(azure_management_endpoint),
     "https://management.azure.com", DM_SVC_API, 0, 0, 0, false, v_url, "ARM base URL"},
    {"IDENTITY_ENDPOINT", T_STR, OFF(azure_identity_endpoint), NULL, DM_SVC_API, 0, 0, 0, false,
     v_url, "managed identity token endpoint (set by Container Apps)"},
    {"IDENTITY_HEADER", T_STR, OFF(azure_identity_header), NULL, DM_SVC_API, 0, 0, 0, true, NULL,
     "managed identity header (set by Container Apps)"},
    {"HMAC_SECRETS", T_STR, OFF(hmac_secrets), NULL, DM_SVC_API, 0, 0, 0, true, v_hmac,
     "JSON object client id -> HMAC secret, or -> {\"secret\", \"permissions\": [read, "
     "trade, admin]} (default read + trade)"},
    {"CORS_ORIGINS", T_STR, OFF(cors_origins), "*", DM_SVC_API, 0, 0, 0, false, NULL,
     "Access-Control-Allow-Origin value"},
    {"API_RATE_LIMIT_RPS", T_INT, OFF(api_rate_limit_rps), "100", DM_SVC_API, 0, 0, 1000000, false,
     NULL,
     "requests per second per verified client (API key id or HMAC client; burst one second's "
     "worth; routes without authentication per IP; 0 = off)"},
    {"API_AUTH_FAILURES_PER_MIN", T_INT, OFF(api_auth_failures_per_min), "30", DM_SVC_API, 0, 0,
     1000000, false, NULL,
     "failed authentications per client IP per minute before 429 (burst a minute's worth; 0 = "
     "off)"},
    {"API_SUPPLIER_CONCURRENCY", T_INT, OFF(api_supplier_concurrency), "0", DM_SVC_API, 0, 0, 256,
     false, NULL,
     "supplier calls (holds, purchases) run at once, off the HTTP threads (0 = a third of "
     "DATABASE_POOL_SIZE, at least 1)"},
    {"API_SUPPLIER_QUEUE", T_INT, OFF(api_supplier_queue), "64", DM_SVC_API, 0, 0, 100000, false,
     NULL, "supplier calls waiting beyond the running ones before 503"},
    {"API_SUPPLIER_PER_CLIENT", T_INT, OFF(api_supplier_per_client), "4", DM_SVC_API, 0, 0, 100000,
     false, NULL, "supplier calls in flight per verified client before 429 (0 = no cap)"},
    {"API_TRUSTED_PROXY_HOPS", T_INT, OFF(api_trusted_proxy_hops), "0", DM_SVC_API, 0, 0, 8, false,
     NULL,
     "reverse proxies in front of the API that append the client address to X-Forwarded-For "
     "(Container Apps ingress: 1); the per-IP limits then use that address (0 = the peer)"},
    {"API_MAX_CONNECTIONS_PER_IP", T_INT, OFF(api_max_connections_per_ip), "256", DM_SVC_API, 0, 1,
     4096, false, NULL, "open connections per client IP address"},
    {"API_CACHE_MS", T_INT, OFF(api_cache_ms), "1000", DM_SVC_API, 0, 0, 60000, false, NULL,
     "search responses are reused for this long (ms, 0 = off); searches being read are "
     "refreshed in the background"},
    {"API_SEARCH_INDEX", T_BOOL, OFF(api_search_index), "true", DM_SVC_API, 0, 0, 0, false, NULL,
     "answer searches from the in-memory catalogue index (false: PostgreSQL, the reference)"},
    {"API_THREADS", T_INT, OFF(api_threads), "0", DM_SVC_API, 0, 0, 1024, false, NULL,
     "HTTP worker threads (0 = one per core with the search index, else DATABASE_POOL_SIZE)"},
    {"METRICS_REQUIRE_AUTH", T_BOOL, OFF(metrics_require_auth), "true", DM_SVC_API, 0, 0, 0, false,
     NULL,
     "/metrics needs METRICS_TOKEN as a bearer token or an API key with read (false: "
     "anonymous, for a scraper on a private network only)"},
    {"METRICS_TOKEN", T_STR, OFF(metrics_token), NULL, DM_SVC_API, 0, 0, 0, true, v_metrics_token,
     "bearer token for /metrics (Authorization: Bearer ...), the Prometheus scraper's credential"},
    {"METRICS_CACHE_MS", T_INT, OFF(metrics_cache_ms), "5000", DM_SVC_API, 0, 0, 600000, false,
     NULL,
     "/metrics reuses its queue, database and watermark figures for this long (ms, 0 = off); "
     "this process's request counters are always current"},
    {"HEALTH_RATE_LIMIT_RPS", T_INT, OFF(health_rate_limit_rps), "20", DM_SVC_API, 0, 0, 100000,
     false, NULL, "/health requests per second per client IP (burst twice that; 0 = off)"},
    {"NIVODA_ENDPOINT", T_STR, OFF(nivoda_endpoint), NULL,
     DM_SVC_WORKER | DM_SVC_SCHEDULER | DM_SVC_API, 0, 0, 0, false, v_url,
     "Nivoda GraphQL endpoint (required by the worker and scheduler while a nivoda-type feed "
     "uses it)"},
    {"NIVODA_USERNAME", T_STR, OFF(nivoda_username), NULL,
     DM_SVC_WORKER | DM_SVC_SCHEDULER | DM_SVC_API | DM_SVC_FEEDSIM, 0, 0, 0, true, NULL,
     "Nivoda username (required as NIVODA_ENDPOINT is)"},
    {"NIVODA_PASSWORD", T_STR, OFF(nivoda_password), NULL,
     DM_SVC_WORKER | DM_SVC_SCHEDULER | DM_SVC_API | DM_SVC_FEEDSIM, 0, 0, 0, true, NULL,
     "Nivoda password (required as NIVODA_ENDPOINT is)"},
    {"NIVODA_MAX_RPS", T_DOUBLE, OFF(nivoda_max_rps), "25",
     DM_SVC_WORKER | DM_SVC_SCHEDULER | DM_SVC_API, 0, 0.1, 100000, false, NULL,
     "process-wide Nivoda request rate limit"},
    {"NIVODA_TIMEOUT_MS", T_INT, OFF(nivoda_timeout_ms), "45000",
     DM_SVC_WORKER | DM_SVC_SCHEDULER | DM_SVC_API, 0, 100, 600000, false, NULL,
     "Nivoda connect and total timeout"},
    {"RESEND_API_KEY", T_STR, OFF(resend_api_key), NULL, DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0, 0,
     true, NULL, "Resend API key (alerts by e-mail when set)"},
    {"RESEND_ENDPOINT", T_STR, OFF(resend_endpoint), "https://api.resend.com",
     DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0, 0, false, v_url, "Resend API base URL"},
    {"ALERT_EMAIL_TO", T_STR, OFF(alert_email_to), NULL, DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0, 0,
     false, v_email, "alert recipient"},
    {"ALERT_EMAIL_FROM", T_STR, OFF(alert_email_from), NULL, DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0, 0,
     false, v_email, "alert sender"},
    {"MAX_SCHEDULER_RECORDS", T_I64, OFF(max_scheduler_records), "0",
     DM_SVC_SCHEDULER | DM_SVC_API | DM_SVC_WORKER, 0, 0, 1e12, false, NULL,
     "cap on stones per run (0 = unlimited)"},
    {"RUN_TYPE", T_STR, OFF(run_type), NULL, DM_SVC_SCHEDULER, 0, 0, 0, false, v_run_type,
     "force full or incremental"},
    {"SCHEDULER_REQUEST_ID", T_STR, OFF(scheduler_request_id), NULL, DM_SVC_SCHEDULER, 0, 0, 0,
     false, v_uuid,
     "run this manual trigger request (its feed and run type) and exit, as --request does; set "
     "by the API's Azure job trigger on the execution it starts"},
    {"WATERMARK_DIR", T_STR, OFF(watermark_dir), "./var/watermarks", DM_SVC_PIPELINE | DM_SVC_CLI,
     0, 0, 0, false, NULL, "file watermark backend directory"},
    {"WORKER_CONCURRENCY", T_INT, OFF(worker_concurrency), "4", DM_SVC_WORKER, 0, 1, 256, false,
     NULL, "work items processed at once per worker process"},
    {"CONSOLIDATOR_BATCH_SIZE", T_INT, OFF(consolidator_batch_size), "2000", DM_SVC_CONSOLIDATOR, 0,
     1, 100000, false, NULL, "raw rows claimed per batch"},
    {"CONSOLIDATOR_CONCURRENCY", T_INT, OFF(consolidator_concurrency), "2", DM_SVC_CONSOLIDATOR, 0,
     1, 16, false, NULL, "batches consolidated at once per CONSOLIDATE (threads)"},
    {"QUEUE_BACKEND", T_STR, OFF(queue_backend), NULL, DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0, 0, false,
     v_queue_backend, "pg or servicebus (default: servicebus when its connection string is set)"},
    {"WORK_ITEMS_LOCK_MS", T_I64, OFF(work_items_lock_ms), "0",
     DM_SVC_WORKER | DM_SVC_SCHEDULER | DM_SVC_CONSOLIDATOR | DM_SVC_CLI, 0, 0, 600000, false, NULL,
     "tests only: work-items peek-lock in ms for the pg queue (0 = the seed's 2 min)"},
    {"FEEDS", T_STR, OFF(feeds_text), DM_FEED_DEFAULT, DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0, 0, false,
     v_feeds,
     "comma list of feed ids ([a-z0-9_], up to 32 characters; raw table raw_diamonds_<id>, "
     "variables FEED_<ID>_*)"},
    {"OFFER_POLICY", T_STR, OFF(offer_policy), "lowest_retail", DM_SVC_PIPELINE | DM_SVC_CLI, 0, 0,
     0, false, v_offer_policy,
     "which offer a listing shows: lowest_retail or feed_priority (FEED_<ID>_PRIORITY)"},
    {"API_URL", T_STR, OFF(api_url), "http://127.0.0.1:3000", DM_SVC_DASHBOARD, 0, 0, 0, false,
     v_url, "API base URL the dashboard proxies to"},
    {"DASHBOARD_DIR", T_STR, OFF(dashboard_dir), NULL, DM_SVC_DASHBOARD, 0, 0, 0, false, NULL,
     "directory of the dashboard's static files"},
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* Why a value is refused (into why), as set_value's answer. */
static enum dm_err refuse(char *why, size_t whylen, const char *fmt, ...) DM_PRINTF(3, 4);
static enum dm_err refuse(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return DM_ERR_INVALID;
}

static enum dm_err set_value(struct dm_config *cfg, const struct var *v, const char *text,
                             const struct dm_config_checks *checks, char *why, size_t whylen)
{
    char *base = (char *)cfg + v->offset;
    switch (v->type) {
    case T_STR: {
        const char *p = v->validate ? v->validate(text, checks) : NULL;
        if (p)
            return refuse(why, whylen, "%s", p);
        char **dst = (char **)base;
        free(*dst);
        *dst = dm_xstrdup(text);
        return DM_OK;
    }
    case T_INT:
    case T_I64: {
        int64_t x;
        if (dm_parse_i64(text, (int64_t)v->min, (int64_t)v->max, &x) != DM_OK)
            return refuse(why, whylen, "must be an integer between %.0f and %.0f", v->min, v->max);
        if (v->type == T_INT)
            *(int *)base = (int)x; /* within [min, max], which an int holds */
        else
            *(int64_t *)base = x;
        return DM_OK;
    }
    case T_DOUBLE:
        if (dm_parse_double(text, v->min, v->max, (double *)base) != DM_OK)
            return refuse(why, whylen, "must be a number between %g and %g", v->min, v->max);
        return DM_OK;
    case T_BOOL:
        if (dm_parse_bool(text, (bool *)base) != DM_OK)
            return refuse(why, whylen, "must be true or false");
        return DM_OK;
    case T_LOGLEVEL:
        if (dm_log_level_parse(text, (enum dm_log_level *)base) != DM_OK)
            return refuse(why, whylen, "must be one of debug, info, warn, error");
        return DM_OK;
    }
    return DM_ERR_INTERNAL;
}

static void problem(FILE *errs, int *count, const char *name, const char *why, const char *value,
                    bool secret)
{
    (*count)++;
    if (errs == NULL)
        return;
    if (value && !secret) {
        /* Show at most 60 bytes of the offending value. */
        fprintf(errs, "config: %s=\"%.60s\" %s\n", name, value, why);
    } else {
        fprintf(errs, "config: %s %s\n", name, why);
    }
}

/* ---- feeds ----------------------------------------------------------------------------- */

const char *dm_feed_type_name(enum dm_feed_type t)
{
    return t == DM_FEED_TYPE_FILE ? "file" : "nivoda";
}

const struct dm_feed_conf *dm_config_feed(const struct dm_config *cfg, const char *id)
{
    if (cfg == NULL || id == NULL)
        return NULL;
    for (int i = 0; i < cfg->n_feeds; i++)
        if (!strcmp(cfg->feeds[i].id, id))
            return &cfg->feeds[i];
    return NULL;
}

/* A file feed's URL: https:// (Azure Blob URLs included), file://, or http:// to a loopback
 * host (tests, the simulator): a supplier file over plain HTTP elsewhere could be altered in
 * transit. */
static const char *v_file_url(const char *v)
{
    if ((!strncmp(v, "https://", 8) && v[8]) || (!strncmp(v, "file://", 7) && v[7]))
        return NULL;
    if (!strncmp(v, "http://", 7)) {
        const char *h = v + 7;
        size_t n = strcspn(h, "/?#");
        /* No user information: in "http://localhost:1@evil.example/" the host is evil.example
         * ("localhost:1" is a user and password to libcurl). */
        if (memchr(h, '@', n) != NULL)
            return "must not carry a user name or password (http:// only to a loopback host)";
        /* the host without a port ("[::1]" keeps its brackets) */
        size_t hl = n;
        if (h[0] == '[') {
            const char *close = memchr(h, ']', n);
            hl = close ? (size_t)(close - h) + 1 : n;
        } else {
            const char *colon = memchr(h, ':', n);
            if (colon)
                hl = (size_t)(colon - h);
        }
        if ((hl == 9 && !strncmp(h, "localhost", 9)) || (hl == 5 && !strncmp(h, "[::1]", 5)) ||
            (hl > 4 && !strncmp(h, "127.", 4) && strspn(h, "0123456789.") >= hl))
            return NULL;
    }
    return "must be an https://, file:// or Azure Blob URL (http:// only to a loopback host)";
}

static const char *v_feed_format(const char *v)
{
    if (!strcmp(v, "csv") || !strcmp(v, "jsonl") || !strcmp(v, "auto"))
        return NULL;
    return "must be csv, jsonl or auto";
}

/* FEED_<ID>_<suffix> into name. */
static void feed_var(char name[80], const char *id, const char *suffix)
{
    char up[DM_FEED_ID_LEN + 1];
    size_t i = 0;
    for (; id[i] && i < DM_FEED_ID_LEN; i++)
        up[i] = (char)(id[i] >= 'a' && id[i] <= 'z' ? id[i] - 'a' + 'A' : id[i]);
    up[i] = '\0';
    snprintf(name, 80, "FEED_%s_%s", up, suffix);
}

/* getenv, empty meaning unset (as for the table's variables). */
static const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* The per-feed variables of one feed; problems counted in *problems. */
static void load_feed(struct dm_feed_conf *fc, const struct dm_config *cfg, unsigned service,
                      const struct dm_config_checks *checks, FILE *errs, int *problems,
                      bool *nivoda_reported)
{
    char name[80];
    const char *v;
    bool typed = true;
    fc->max_shrink = 0.5;
    feed_var(name, fc->id, "TYPE");
    v = env_value(name);
    if (v == NULL && !strcmp(fc->id, DM_FEED_DEFAULT))
        v = "nivoda"; /* the seed's feed */
    if (v == NULL) {
        problem(errs, problems, name, "is required (nivoda or file)", NULL, false);
        typed = false;
    } else if (!strcmp(v, "nivoda")) {
        fc->type = DM_FEED_TYPE_NIVODA;
    } else if (!strcmp(v, "file")) {
        fc->type = DM_FEED_TYPE_FILE;
    } else {
        problem(errs, problems, name, "must be nivoda or file", v, false);
        typed = false;
    }

    feed_var(name, fc->id, "PRIORITY");
    if ((v = env_value(name)) && dm_parse_int(v, -1000000, 1000000, &fc->priority) != DM_OK)
        problem(errs, problems, name, "must be an integer between -1000000 and 1000000", v, false);
    feed_var(name, fc->id, "MAX_SHRINK");
    if ((v = env_value(name)) && dm_parse_double(v, 0, 1, &fc->max_shrink) != DM_OK)
        problem(errs, problems, name, "must be a fraction between 0 and 1 (0.5 = 50 %)", v, false);
    feed_var(name, fc->id, "CRON");
    if ((v = env_value(name))) {
        const char *why = checks && checks->cron ? checks->cron(v) : NULL;
        if (why)
            problem(errs, problems, name, why, v, false);
        else
            fc->cron = dm_xstrdup(v);
    }

    char url_name[80];
    feed_var(url_name, fc->id, "URL");
    const char *url_name_v = env_value(url_name);
    char user_name[80], pass_name[80], map_name[80], fmt_name[80];
    feed_var(user_name, fc->id, "USERNAME");
    feed_var(pass_name, fc->id, "PASSWORD");
    feed_var(map_name, fc->id, "MAPPING");
    feed_var(fmt_name, fc->id, "FORMAT");
    if (!typed)
        return;
    if (fc->type == DM_FEED_TYPE_FILE) {
        if (url_name_v == NULL)
            problem(errs, problems, url_name, "is required for a file feed", NULL, false);
        else if ((v = v_file_url(url_name_v)))
            problem(errs, problems, url_name, v, NULL, true); /* may carry a SAS token */
        else
            fc->url = dm_xstrdup(url_name_v);
        if ((v = env_value(map_name)))
            fc->mapping = dm_xstrdup(v);
        if ((v = env_value(fmt_name))) {
            const char *why = v_feed_format(v);
            if (why)
                problem(errs, problems, fmt_name, why, v, false);
            else if (strcmp(v, "auto") != 0)
                fc->format = dm_xstrdup(v);
        }
        if (env_value(user_name))
            problem(errs, problems, user_name, "is for nivoda feeds only", NULL, true);
        if (env_value(pass_name))
            problem(errs, problems, pass_name, "is for nivoda feeds only", NULL, true);
        return;
    }
    /* nivoda: its own endpoint and credentials, else the NIVODA_* ones. */
    if (env_value(map_name))
        problem(errs, problems, map_name, "is for file feeds only", NULL, false);
    if (env_value(fmt_name))
        problem(errs, problems, fmt_name, "is for file feeds only", NULL, false);
    if (url_name_v && (v = v_url(url_name_v, checks)))
        problem(errs, problems, url_name, v, url_name_v, false);
    else if (url_name_v || cfg->nivoda_endpoint)
        fc->url = dm_xstrdup(url_name_v ? url_name_v : cfg->nivoda_endpoint);
    v = env_value(user_name);
    if (v || cfg->nivoda_username)
        fc->username = dm_xstrdup(v ? v : cfg->nivoda_username);
    v = env_value(pass_name);
    if (v || cfg->nivoda_password)
        fc->password = dm_xstrdup(v ? v : cfg->nivoda_password);
    if (!(service & (DM_SVC_WORKER | DM_SVC_SCHEDULER)))
        return;
    /* The worker and the scheduler talk to the feed: its endpoint and credentials are
     * required. Missing NIVODA_* values are reported once, under their seed names. */
    /* (an invalid FEED_<ID>_URL was reported above) */
    const bool missing[3] = {fc->url == NULL && url_name_v == NULL, fc->username == NULL,
                             fc->password == NULL};
    static const char *const seed[3] = {"NIVODA_ENDPOINT", "NIVODA_USERNAME", "NIVODA_PASSWORD"};
    const char *own[3] = {url_name, user_name, pass_name};
    for (int i = 0; i < 3; i++) {
        if (!missing[i])
            continue;
        if (!strcmp(fc->id, DM_FEED_DEFAULT)) {
            if (!nivoda_reported[i])
                problem(errs, problems, seed[i], "is required but not set", NULL, false);
            nivoda_reported[i] = true;
        } else {
            char why[120];
            snprintf(why, sizeof(why), "is required for feed %s (or %s)", fc->id, seed[i]);
            problem(errs, problems, own[i], why, NULL, false);
        }
    }
}

static void load_feeds(struct dm_config *cfg, unsigned service,
                       const struct dm_config_checks *checks, FILE *errs, int *problems)
{
    struct feed_ids ids = {.n = 0};
    if (cfg->feeds_text == NULL || each_feed(cfg->feeds_text, collect_feed, &ids) != NULL)
        return; /* not read by this service, or reported already */
    cfg->feeds = dm_xcalloc((size_t)ids.n, sizeof(*cfg->feeds));
    cfg->n_feeds = ids.n;
    bool nivoda_reported[3] = {false, false, false};
    for (int i = 0; i < ids.n; i++) {
        snprintf(cfg->feeds[i].id, sizeof(cfg->feeds[i].id), "%s", ids.ids[i]);
        load_feed(&cfg->feeds[i], cfg, service, checks, errs, problems, nivoda_reported);
    }
}

static void free_feeds(struct dm_config *cfg)
{
    for (int i = 0; i < cfg->n_feeds; i++) {
        struct dm_feed_conf *fc = &cfg->feeds[i];
        free(fc->url);
        free(fc->username);
        free(fc->password);
        free(fc->mapping);
        free(fc->format);
        free(fc->cron);
    }
    free(cfg->feeds);
    cfg->feeds = NULL;
    cfg->n_feeds = 0;
}

enum dm_err dm_config_load(struct dm_config *cfg, unsigned service,
                           const struct dm_config_checks *checks, FILE *errs)
{
    memset(cfg, 0, sizeof(*cfg));
    int problems = 0;
    char why[160];
    for (size_t i = 0; i < NVARS; i++) {
        const struct var *v = &vars[i];
        if (!(v->services & service))
            continue;
        const char *text = getenv(v->name);
        if (text != NULL && text[0] == '\0')
            text = NULL; /* empty means unset, as in container platforms */
        if (text == NULL) {
            if (v->required & service) {
                problem(errs, &problems, v->name, "is required but not set", NULL, v->secret);
                continue;
            }
            if (v->def == NULL)
                continue;
            if (set_value(cfg, v, v->def, checks, why, sizeof(why)) != DM_OK)
                problem(errs, &problems, v->name, "has an invalid built-in default", NULL, false);
            continue;
        }
        if (set_value(cfg, v, text, checks, why, sizeof(why)) != DM_OK)
            problem(errs, &problems, v->name, why, text, v->secret);
    }
    load_feeds(cfg, service, checks, errs, &problems);
    /* Cross-field rules. */
    if (cfg->resend_api_key && (!cfg->alert_email_to || !cfg->alert_email_from))
        problem(errs, &problems, "RESEND_API_KEY",
                "is set, so ALERT_EMAIL_TO and ALERT_EMAIL_FROM are required", NULL, true);
    if ((service & DM_SVC_DB) && !(service & DM_SVC_CLI) && cfg->database_url == NULL &&
        cfg->database_host == NULL)
        problem(errs, &problems, "DATABASE_URL",
                "or DATABASE_HOST is required (run `diamond db url` for the local database)", NULL,
                false);
    bool servicebus = cfg->azure_service_bus_connection_string != NULL ||
                      cfg->azure_service_bus_connection_string_work_items != NULL ||
                      cfg->azure_service_bus_connection_string_work_done != NULL ||
                      cfg->azure_service_bus_connection_string_consolidate != NULL;
    if (cfg->queue_backend && !strcmp(cfg->queue_backend, "servicebus") && !servicebus &&
        (service & DM_SVC_PIPELINE))
        problem(errs, &problems, "QUEUE_BACKEND",
                "is servicebus but neither AZURE_SERVICE_BUS_CONNECTION_STRING nor a per-queue "
                "AZURE_SERVICE_BUS_CONNECTION_STRING_<QUEUE> is set",
                NULL, false);
    if (service & DM_SVC_API) {
        int n = (cfg->azure_subscription_id != NULL) + (cfg->azure_resource_group != NULL) +
                (cfg->azure_scheduler_job_name != NULL);
        if (n != 0 && n != 3)
            problem(errs, &problems, "AZURE_SUBSCRIPTION_ID",
                    "AZURE_RESOURCE_GROUP and AZURE_SCHEDULER_JOB_NAME must be set together", NULL,
                    false);
    }
    if (cfg->queue_backend == NULL)
        cfg->queue_backend = dm_xstrdup(servicebus ? "servicebus" : "pg");
    if (problems) {
        if (errs)
            fprintf(errs, "config: %d problem%s; see `diamond <command> --help`\n", problems,
                    problems == 1 ? "" : "s");
        return DM_ERR_INVALID;
    }
    return DM_OK;
}

void dm_config_free(struct dm_config *cfg)
{
    if (cfg == NULL)
        return;
    free_feeds(cfg);
    for (size_t i = 0; i < NVARS; i++) {
        if (vars[i].type == T_STR) {
            char **p = (char **)((char *)cfg + vars[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}

static bool is_local_host(const char *h)
{
    return h == NULL || h[0] == '/' || h[0] == '@' || !strcmp(h, "localhost") ||
           !strncmp(h, "127.", 4) || !strcmp(h, "::1");
}

/* True when every entry of a libpq host list ("a,b,c"; empty entries mean the default unix
 * socket) is local. */
static bool all_local(const char *list)
{
    char *copy = dm_xstrdup(list);
    bool local = true;
    char *save = NULL;
    for (char *h = strtok_r(copy, ",", &save); h && local; h = strtok_r(NULL, ",", &save))
        local = is_local_host(h);
    free(copy);
    return local;
}

bool dm_config_conninfo_needs_tls(const char *conninfo)
{
    /* libpq's own parser reads the URL or key=value string exactly as the connection will. */
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    if (opts == NULL)
        return false; /* libpq refuses it too, with its own message */
    const char *sslmode = NULL, *host = NULL, *hostaddr = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (!strcmp(o->keyword, "sslmode"))
            sslmode = o->val;
        else if (!strcmp(o->keyword, "host"))
            host = o->val;
        else if (!strcmp(o->keyword, "hostaddr"))
            hostaddr = o->val;
    }
    /* Where the connection goes: hostaddr when given, else host, else PGHOST, else the
     * default unix socket. */
    const char *target = hostaddr ? hostaddr : host ? host : getenv("PGHOST");
    bool needs = sslmode == NULL && getenv("PGSSLMODE") == NULL && target != NULL &&
                 target[0] != '\0' && !all_local(target);
    PQconninfoFree(opts);
    return needs;
}

static void kv(struct dm_buf *b, const char *key, const char *val)
{
    if (val == NULL)
        return;
    if (dm_buf_appendf(b, "%s%s='", b->len ? " " : "", key) != DM_OK)
        return;
    for (const char *p = val; *p; p++) {
        if (*p == '\'' || *p == '\\') {
            if (dm_buf_append_char(b, '\\') != DM_OK)
                return;
        }
        if (dm_buf_append_char(b, *p) != DM_OK)
            return;
    }
    if (dm_buf_append_char(b, '\'') != DM_OK)
        return;
}

char *dm_config_conninfo(const struct dm_config *cfg)
{
    struct dm_buf b;
    dm_buf_init(&b, 8192);
    if (cfg->database_url) {
        if (dm_buf_append_str(&b, cfg->database_url) != DM_OK) {
            dm_buf_free(&b);
            return NULL;
        }
        /* DATABASE_SSLMODE when set; else require TLS for a remote host the URL leaves to
         * libpq's default (prefer: a server, or anyone in between, answering "no TLS" would
         * get the password in clear), as for DATABASE_HOST. */
        const char *mode = cfg->database_sslmode;
        if (mode == NULL && dm_config_conninfo_needs_tls(cfg->database_url))
            mode = "require";
        if (mode) {
            /* A URL takes extra parameters after '?', a conninfo after a space. */
            bool is_url = strstr(cfg->database_url, "://") != NULL;
            if (dm_buf_appendf(&b, "%ssslmode=%s",
                               is_url ? (strchr(cfg->database_url, '?') ? "&" : "?") : " ",
                               mode) != DM_OK) {
                dm_buf_free(&b);
                return NULL;
            }
        }
        return dm_buf_steal(&b);
    }
    if (cfg->database_host == NULL)
        return NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", cfg->database_port);
    kv(&b, "host", cfg->database_host);
    kv(&b, "port", port);
    kv(&b, "dbname", cfg->database_name);
    kv(&b, "user", cfg->database_username);
    kv(&b, "password", cfg->database_password);
    kv(&b, "sslmode",
       cfg->database_sslmode ? cfg->database_sslmode
                             : (is_local_host(cfg->database_host) ? "disable" : "require"));
    kv(&b, "application_name", "diamond");
    return dm_buf_steal(&b);
}

const char **dm_config_names(unsigned service)
{
    static const char *names[NVARS + 1];
    size_t n = 0;
    for (size_t i = 0; i < NVARS; i++)
        if (vars[i].services & service)
            names[n++] = vars[i].name;
    names[n] = NULL;
    return names;
}

void dm_config_print_help(unsigned service, FILE *out)
{
    fprintf(out, "\nEnvironment:\n");
    for (size_t i = 0; i < NVARS; i++) {
        const struct var *v = &vars[i];
        if (!(v->services & service))
            continue;
        fprintf(out, "  %-36s %s%s%s%s%s\n", v->name, v->help, v->def ? " [default " : "",
                v->def ? v->def : "", v->def ? "]" : "",
                (v->required & service) ? " (required)" : "");
    }
    if (!(service & (DM_SVC_PIPELINE | DM_SVC_CLI)))
        return;
    static const char *const per_feed[][2] = {
        {"FEED_<ID>_TYPE", "nivoda or file [default nivoda for the feed nivoda]"},
        {"FEED_<ID>_URL", "file: https://, file://, Azure Blob or loopback http:// URL "
                          "(required); nivoda: GraphQL endpoint [default NIVODA_ENDPOINT]"},
        {"FEED_<ID>_USERNAME", "nivoda: username [default NIVODA_USERNAME]"},
        {"FEED_<ID>_PASSWORD", "nivoda: password [default NIVODA_PASSWORD]"},
        {"FEED_<ID>_MAPPING", "file: mapping file (supplier header per field)"},
        {"FEED_<ID>_FORMAT", "file: csv, jsonl or auto [default auto]"},
        {"FEED_<ID>_PRIORITY", "integer, higher wins ties and feed_priority [default 0]"},
        {"FEED_<ID>_CRON", "the feed's schedule in the resident scheduler [default --cron]"},
        {"FEED_<ID>_MAX_SHRINK", "fraction a snapshot may shrink by before it is refused "
                                 "[default 0.5]"},
    };
    fprintf(out, "\nPer feed (ID = the feed id of FEEDS, upper-cased):\n");
    for (size_t i = 0; i < sizeof(per_feed) / sizeof(per_feed[0]); i++)
        fprintf(out, "  %-36s %s\n", per_feed[i][0], per_feed[i][1]);
}
