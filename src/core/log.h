/*
 * log.h - JSON-line logging to stdout: one object per line, written with one write(2), fields
 * time, level, service, msg, and runId / partitionId / traceId / requestId when the context
 * carries them. The level is checked before any formatting. Never pass secrets. Thread-safe.
 */
#ifndef DM_CORE_LOG_H
#define DM_CORE_LOG_H

#include <jansson.h>

#include "core/error.h"

enum dm_log_level { DM_LOG_DEBUG, DM_LOG_INFO, DM_LOG_WARN, DM_LOG_ERROR, DM_LOG_FATAL };

/* Correlation ids carried through a unit of work; any member may be NULL. */
struct dm_log_ctx {
    const char *run_id;
    const char *partition_id;
    const char *trace_id;
    const char *request_id;
};

/* Set the service name ("api", "worker", ...) and minimum level. Call once at start-up. */
void dm_log_init(const char *service, enum dm_log_level level);
/* Parse "debug|info|warn|error" (case-insensitive). */
enum dm_err dm_log_level_parse(const char *s, enum dm_log_level *out) DM_MUST_CHECK;
/* Redirect output to fd (default 1). For tests and tools that keep stdout for data. */
void dm_log_set_fd(int fd);
int dm_log_enabled(enum dm_log_level level);

/* A JSON string for a log field from bytes that may not be UTF-8 (a request path, a header):
 * valid UTF-8 is kept as it is and every byte that is not part of a well-formed sequence is
 * written as the four characters \xNN, so the field is escaped and never dropped. s NULL gives
 * "". Never returns NULL. The message and the context ids go through it too. */
json_t *dm_log_str(const char *s);

/* Log a formatted message. ctx may be NULL. */
void dm_log(enum dm_log_level level, const struct dm_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Log a message with extra fields (fields is borrowed, may be NULL). */
void dm_log_fields(enum dm_log_level level, const struct dm_log_ctx *ctx, const char *msg,
                   const json_t *fields);

#define dm_debug(ctx, ...) dm_log(DM_LOG_DEBUG, ctx, __VA_ARGS__)
#define dm_info(ctx, ...) dm_log(DM_LOG_INFO, ctx, __VA_ARGS__)
#define dm_warn(ctx, ...) dm_log(DM_LOG_WARN, ctx, __VA_ARGS__)
#define dm_error(ctx, ...) dm_log(DM_LOG_ERROR, ctx, __VA_ARGS__)

#endif
