/*
 * server.h - a small HTTP server over libmicrohttpd (thread pool over epoll, never a thread per
 * connection). The whole request body is collected (bounded by max_body: larger bodies get 413
 * with a JSON error before the handler runs), then the handler fills a response. Used by the
 * API, the feed simulator and test doubles. The raw request target (path and query exactly as
 * sent) is available for signature checks. Connections are capped in total and per client IP
 * address and closed after timeout_s without activity.
 *
 * Deferral: a handler that would wait on something slow (a supplier call) calls dm_http_defer;
 * its connection is then suspended and the work runs on one of pool_threads worker threads,
 * so the HTTP thread goes on serving its other connections. At most pool_threads + pool_queue
 * deferred requests are accepted at once; beyond that dm_http_defer refuses and the handler
 * answers itself (503).
 */
#ifndef DM_ADAPTERS_HTTP_SERVER_H
#define DM_ADAPTERS_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include <jansson.h>

#include "core/error.h"

struct MHD_Connection;

struct dm_http_req {
    const char *method;
    const char *path;   /* decoded path without the query */
    const char *target; /* raw request target as sent: path?query */
    const char *body;   /* NUL-terminated; "" when none */
    size_t body_len;
    char client_ip[64];
    struct MHD_Connection *conn; /* for header and argument lookup */
    void *internal;              /* the server's per-request state */
};

#define DM_HTTP_MAX_HEADERS 16

struct dm_http_resp {
    int status;               /* default 200 */
    const char *content_type; /* default "application/json" */
    struct dm_buf body;       /* max 64 MiB */
    int nheaders;
    char *header_names[DM_HTTP_MAX_HEADERS];
    char *header_values[DM_HTTP_MAX_HEADERS];
};

/* Request header (case-insensitive) or NULL. */
const char *dm_http_req_header(const struct dm_http_req *req, const char *name);
/* First value of a query argument or NULL (decoded). */
const char *dm_http_req_arg(const struct dm_http_req *req, const char *name);
/* All query arguments as (key, value) pairs, in order; returns count (<= max). */
int dm_http_req_args(const struct dm_http_req *req, const char **keys, const char **values,
                     int max);

/* Add a response header (copied). Silently ignores more than DM_HTTP_MAX_HEADERS. */
void dm_http_resp_header(struct dm_http_resp *resp, const char *name, const char *value);
/* Set status and a JSON body {"error":{"code":code,"message":message}}. */
void dm_http_resp_error(struct dm_http_resp *resp, int status, const char *code,
                        const char *message);
/* Set the body to a serialised JSON value (steals the reference). */
void dm_http_resp_json(struct dm_http_resp *resp, int status, json_t *body);

typedef void (*dm_http_handler)(void *ctx, const struct dm_http_req *req,
                                struct dm_http_resp *resp);

/* Work deferred by a handler: runs on a pool thread and finishes filling resp; req and resp
 * stay valid until it returns, and resp is sent then. */
typedef void (*dm_http_work)(void *arg, const struct dm_http_req *req, struct dm_http_resp *resp);

/* Called by a handler (on the HTTP thread, at most once per request): when it returns true the
 * server runs work(arg, req, resp) on the deferral pool and sends resp afterwards; the handler
 * returns without answering and must not touch resp again. False when the pool is full,
 * stopping or absent (pool_threads 0): nothing was deferred and the handler answers itself. */
bool dm_http_defer(const struct dm_http_req *req, dm_http_work work, void *arg);

struct dm_http_server_opts {
    const char *bind;         /* "127.0.0.1" (default) or "0.0.0.0" */
    int port;                 /* 0 = ephemeral (see dm_http_server_port) */
    int threads;              /* thread pool size; default 4 */
    size_t max_body;          /* default 100 kB */
    unsigned timeout_s;       /* idle connection timeout; default 30 */
    unsigned max_connections; /* open connections in total; default 4096 */
    unsigned per_ip_limit;    /* open connections per client IP address; default 256 */
    int pool_threads;         /* deferral workers; default 0 (dm_http_defer refuses) */
    int pool_queue;           /* deferred requests waiting beyond the running ones */
    dm_http_handler handler;
    void *ctx;
};

struct dm_http_server;

enum dm_err dm_http_server_start(const struct dm_http_server_opts *opts,
                                 struct dm_http_server **out, struct dm_error *err) DM_MUST_CHECK;
int dm_http_server_port(const struct dm_http_server *srv);
/* Finish the deferred work (new deferrals are refused), give answered connections up to 5 s to
 * send, stop, free. NULL is a no-op. */
void dm_http_server_stop(struct dm_http_server *srv);

#endif
