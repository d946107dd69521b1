/*
 * client.h - the one HTTP client module (libcurl). Timeouts always set, response bodies
 * bounded, TLS 1.2+ with certificate verification on for https, errors classified:
 * DM_ERR_NETWORK (connect/transport), DM_ERR_TIMEOUT, and for completed exchanges the status
 * is returned in the response and the caller decides (dm_http_classify helps).
 * Thread-safe: each call uses its own easy handle; call dm_http_global_init() once at start.
 */
#ifndef DM_ADAPTERS_HTTP_CLIENT_H
#define DM_ADAPTERS_HTTP_CLIENT_H

#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"

struct dm_http_request {
    const char *method; /* "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD" */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;           /* may be NULL */
    size_t body_len;
    long connect_timeout_ms; /* 0 = 10000 */
    long timeout_ms;         /* total; 0 = 45000 */
    size_t max_response;     /* 0 = 16 MiB */
};

struct dm_http_response {
    long status;
    struct dm_buf body;    /* NUL-terminated */
    struct dm_buf headers; /* raw response header lines */
};

void dm_http_global_init(void);
/* Release the calling thread's cached connection handle (threads that exit release theirs
 * automatically; the main thread may call this before exit). */
void dm_http_thread_cleanup(void);
/* Perform the request. DM_OK when an HTTP response was received (any status); resp must be
 * released with dm_http_response_free in every case. */
enum dm_err dm_http_do(const struct dm_http_request *req, struct dm_http_response *resp,
                       struct dm_error *err) DM_MUST_CHECK;
void dm_http_response_free(struct dm_http_response *resp);
/* Value of a response header (case-insensitive name) copied into out; false when absent. */
bool dm_http_header(const struct dm_http_response *resp, const char *name, char *out, size_t size);
/* Map an HTTP status to a code: 2xx DM_OK, 408/5xx DM_ERR_REMOTE (retryable), 429
 * DM_ERR_RATE_LIMITED, 401/403 DM_ERR_AUTH, 404 DM_ERR_NOT_FOUND, 409/412 DM_ERR_CONFLICT,
 * other 4xx DM_ERR_REJECTED. */
enum dm_err dm_http_classify(long status);

#endif
