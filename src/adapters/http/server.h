/*
 * server.h - a small HTTP server over libmicrohttpd (thread pool, internal polling). The whole
 * request body is collected (bounded by max_body: larger bodies get 413 with a JSON error
 * before the handler runs), then the handler fills a response. Used by the API, the feed
 * simulator and test doubles. The raw request target (path and query exactly as sent) is
 * available for signature checks.
 */
#ifndef DM_ADAPTERS_HTTP_SERVER_H
#define DM_ADAPTERS_HTTP_SERVER_H

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

struct dm_http_server_opts {
    const char *bind;   /* "127.0.0.1" (default) or "0.0.0.0" */
    int port;           /* 0 = ephemeral (see dm_http_server_port) */
    int threads;        /* thread pool size; default 4 */
    size_t max_body;    /* default 100 kB */
    unsigned timeout_s; /* idle connection timeout; default 30 */
    dm_http_handler handler;
    void *ctx;
};

struct dm_http_server;

enum dm_err dm_http_server_start(const struct dm_http_server_opts *opts,
                                 struct dm_http_server **out, struct dm_error *err) DM_MUST_CHECK;
int dm_http_server_port(const struct dm_http_server *srv);
/* Stop accepting, finish in-flight requests, free. NULL is a no-op. */
void dm_http_server_stop(struct dm_http_server *srv);

#endif
