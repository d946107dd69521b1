/*
 * stream.h - streaming HTTP exchanges over libcurl, the sibling of client.h for callers that
 * pass bodies along without holding them (the dashboard's reverse proxy).
 * dm_http_stream_open() sends the request and returns once the final response's status and
 * headers are in; the body is then pulled with dm_http_stream_read(), which blocks until some
 * bytes, the end or an error. At most DM_HTTP_STREAM_WINDOW bytes are buffered: when the
 * reader falls behind, the transfer is paused (TCP flow control reaches the sender), so memory
 * stays bounded whatever the body size. Content-Encoding is not undone: bytes pass as sent.
 * Timeouts: connect_timeout_ms, timeout_ms for the whole exchange (body included), and
 * max_response caps the body (DM_ERR_TOO_LARGE once passed). Errors as in client.h:
 * DM_ERR_NETWORK, DM_ERR_TIMEOUT. A stream belongs to one thread at a time.
 */
#ifndef DM_ADAPTERS_HTTP_STREAM_H
#define DM_ADAPTERS_HTTP_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "adapters/http/client.h"
#include "core/error.h"

#define DM_HTTP_STREAM_WINDOW ((size_t)256 * 1024)

struct dm_http_stream;

/* Send req (its body, if any, is sent whole; max_response 0 = unlimited) and wait for the
 * final response head. On DM_OK *out must be closed with dm_http_stream_close. */
enum dm_err dm_http_stream_open(const struct dm_http_request *req, struct dm_http_stream **out,
                                struct dm_error *err) DM_MUST_CHECK;
/* The same with a request body sent piecewise as it arrives (req->body is ignored): begin
 * starts the exchange without waiting (body_len >= 0 announces Content-Length, -1 sends the
 * body chunked); write passes the next bytes, blocking until libcurl has taken them (if the API
 * answers early, e.g. refusing the body, the rest is dropped and the answer stands); finish ends
 * the body and waits for the response head. After begin, the stream must be closed whatever
 * happens; after a failed write or finish only dm_http_stream_close is allowed. */
enum dm_err dm_http_stream_begin(const struct dm_http_request *req, int64_t body_len,
                                 struct dm_http_stream **out, struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_http_stream_write(struct dm_http_stream *s, const char *data, size_t len,
                                 struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_http_stream_finish(struct dm_http_stream *s, struct dm_error *err) DM_MUST_CHECK;

long dm_http_stream_status(const struct dm_http_stream *s);
/* Raw header lines of the final response ("Name: value\r\n" each, status line first). */
const char *dm_http_stream_headers(const struct dm_http_stream *s);
/* Content-Length of the response, or -1 when unknown (chunked, close-delimited). */
int64_t dm_http_stream_length(const struct dm_http_stream *s);
/* Copy up to n body bytes into buf: > 0 bytes, 0 at the end of the body, -1 on failure
 * (err filled: network, timeout, too large). Blocks until one of these. */
ssize_t dm_http_stream_read(struct dm_http_stream *s, char *buf, size_t n, struct dm_error *err);
/* Poll should_abort (e.g. dm_stop_requested) while waiting for the API: when it returns
 * non-zero, pending and later reads fail with DM_ERR_SHUTDOWN. */
void dm_http_stream_set_abort(struct dm_http_stream *s, int (*should_abort)(void));
/* Abort if unfinished and free. NULL is a no-op. */
void dm_http_stream_close(struct dm_http_stream *s);

#endif
