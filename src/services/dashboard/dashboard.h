/*
 * dashboard.h - `diamond dashboard`: serves the operator dashboard's static files (plain HTML,
 * CSS and JavaScript modules from DASHBOARD_DIR) and reverse-proxies /api/, /health and /metrics
 * to API_URL so the browser talks to one origin. The process holds no secrets: the operator's
 * API key lives in the browser and travels in X-API-Key through the proxy untouched.
 *
 * Static files: only GET/HEAD; the decoded path is checked segment by segment ("..", hidden
 * segments and backslashes refused) and the resolved real path must stay under the root, so
 * neither traversal nor symlinks lead outside it. Responses carry a MIME type by extension,
 * `Cache-Control: no-cache` with a weak ETag/Last-Modified (cheap revalidation: the files have
 * no content hash in their names), and security headers.
 *
 * Proxy: method, raw request target (path and query exactly as sent, so HMAC signatures stay
 * valid), body and end-to-end headers go upstream; status, body and end-to-end headers come back
 * (X-Request-Id, ETag, Retry-After, Content-Encoding, ...). Both bodies stream
 * (adapters/http/stream.h): a request body goes to the API piece by piece as the client sends
 * it (Content-Length kept, or chunked), within DM_DASHBOARD_MAX_REQUEST_BODY (413 beyond; the
 * API itself takes at most 100 kB); the response body is pulled from the API by libmicrohttpd
 * as the client reads, through a bounded window, so a large answer never sits in memory. The
 * response is capped at DM_DASHBOARD_MAX_RESPONSE_BODY, the exchange at
 * DM_DASHBOARD_UPSTREAM_TIMEOUT_MS.
 * An unreachable API gives 502 and a timeout before the response head 504, both with a JSON
 * error body in the API's format; a failure mid-body cuts the response short. Every proxied
 * request is logged with its request id.
 */
#ifndef DM_SERVICES_DASHBOARD_H
#define DM_SERVICES_DASHBOARD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/error.h"

/* Bounds of the proxy. */
#define DM_DASHBOARD_MAX_REQUEST_BODY (1u << 20)    /* 1 MiB; the API itself refuses > 100 kB */
#define DM_DASHBOARD_MAX_RESPONSE_BODY (256u << 20) /* 256 MiB, streamed */
#define DM_DASHBOARD_CONNECT_TIMEOUT_MS 5000L
#define DM_DASHBOARD_UPSTREAM_TIMEOUT_MS 120000L /* reprice of a large catalogue takes a while */
#define DM_DASHBOARD_MAX_HEADERS 64
#define DM_DASHBOARD_DEFAULT_PORT 8080

/*
 * Serve the dashboard until SIGTERM, then return DM_OK: static files from DASHBOARD_DIR (or
 * dm_dashboard_default_dir), the proxy to API_URL, on bind (an IPv4 address) and PORT when set,
 * else DM_DASHBOARD_DEFAULT_PORT. Errors, with err (not NULL) filled: DM_ERR_INVALID for a
 * configuration problem (DASHBOARD_DIR missing, API_URL too long or not a base URL, bind not an
 * IPv4 address), DM_ERR_IO when it cannot listen.
 */
enum dm_err dm_dashboard_serve(const struct dm_config *cfg, const char *bind,
                               struct dm_error *err) DM_MUST_CHECK;

/*
 * Map a decoded URL path ("/", "/js/app.js") to a file under root (a real, absolute directory
 * path without a trailing slash). "/" and paths ending in "/" map to index.html in that
 * directory. Returns DM_OK with the real path in out, DM_ERR_INVALID for a path that tries to
 * leave the root or names a hidden segment, DM_ERR_NOT_FOUND when no regular file exists there,
 * DM_ERR_TOO_LARGE when the path does not fit. Pure apart from realpath(3)/stat(2).
 */
enum dm_err dm_dashboard_resolve(const char *root, const char *url_path, char *out,
                                 size_t size) DM_MUST_CHECK;

/* Content-Type for a file name by its extension; application/octet-stream when unknown. */
const char *dm_dashboard_mime_type(const char *path);

/* True for the paths that go to the API: /api/..., /health, /metrics (and their sub-paths),
 * and the API's own documentation (/openapi.json, /api-docs). */
bool dm_dashboard_is_proxied(const char *path);

/* What the dashboard does with a request, decided on its raw target (as sent, never decoded). */
enum dm_dashboard_target {
    DM_DASHBOARD_TARGET_BAD,    /* 400: not "/..." (origin form), or bytes no target may hold */
    DM_DASHBOARD_TARGET_STATIC, /* a static file (its decoded path is resolved separately) */
    DM_DASHBOARD_TARGET_PROXY,  /* goes to the API */
    DM_DASHBOARD_TARGET_PROXY_CREDENTIALS, /* goes to the API only with credentials (/metrics) */
};

/*
 * Classify a raw request target. It must start with '/' and hold only visible ASCII (no
 * spaces, controls, bytes >= 0x7f, '#' or backslash), else BAD. The path (up to the first
 * '?') is proxied when it is one of dm_dashboard_is_proxied's paths as written (so
 * "%2Fapi%2F@host/" is BAD and "/%61pi" is STATIC: neither reaches the API); a proxied path
 * with a "." or ".." segment is BAD (libcurl would resolve it into another path). *path_len
 * gets the length of the path part (the query, if any, follows at raw[*path_len + 1]).
 * Pure; the dashboard builds the upstream URL from these parts only (adapters/http/url.h).
 */
enum dm_dashboard_target dm_dashboard_classify_target(const char *raw, size_t *path_len);

/* True when a request header may be forwarded as it is: its name is a token and its value
 * has no control character other than HTAB (a bare CR or LF, a NUL: the header is dropped). */
bool dm_dashboard_header_ok(const char *name, const char *value);

/* True for hop-by-hop headers and the ones the proxy sets itself (never forwarded as-is). */
bool dm_dashboard_skip_request_header(const char *name);
bool dm_dashboard_skip_response_header(const char *name);

/* Directory of the static files: DASHBOARD_DIR when set, else <source dir>/web/dashboard if it
 * exists, else /usr/share/diamond/dashboard if it exists, else ./web/dashboard. */
const char *dm_dashboard_default_dir(const char *configured);

#endif
