/* error.c - error names and the detail struct. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *dm_strerror(enum dm_err code)
{
    switch (code) {
    case DM_OK:
        return "ok";
    case DM_ERR_NOMEM:
        return "out of memory";
    case DM_ERR_INVALID:
        return "invalid input";
    case DM_ERR_NOT_FOUND:
        return "not found";
    case DM_ERR_CONFLICT:
        return "conflict";
    case DM_ERR_TOO_LARGE:
        return "too large";
    case DM_ERR_IO:
        return "i/o error";
    case DM_ERR_DB:
        return "database error";
    case DM_ERR_DB_RETRY:
        return "transient database error";
    case DM_ERR_NETWORK:
        return "network error";
    case DM_ERR_TIMEOUT:
        return "timeout";
    case DM_ERR_RATE_LIMITED:
        return "rate limited";
    case DM_ERR_REMOTE:
        return "remote server error";
    case DM_ERR_REJECTED:
        return "rejected by remote";
    case DM_ERR_AUTH:
        return "authentication failed";
    case DM_ERR_LOCK_LOST:
        return "lock lost";
    case DM_ERR_UNAVAILABLE:
        return "unavailable";
    case DM_ERR_SCHEMA:
        return "schema too old";
    case DM_ERR_SHUTDOWN:
        return "shutting down";
    case DM_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown error";
}

bool dm_err_is_retryable(enum dm_err code)
{
    switch (code) {
    case DM_ERR_DB_RETRY:
    case DM_ERR_NETWORK:
    case DM_ERR_TIMEOUT:
    case DM_ERR_RATE_LIMITED:
    case DM_ERR_REMOTE:
    case DM_ERR_IO:
        return true;
    default:
        return false;
    }
}

enum dm_err dm_error_set(struct dm_error *err, enum dm_err code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->retryable = dm_err_is_retryable(code);
    err->status = 0;
    err->sqlstate[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

void dm_error_clear(struct dm_error *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof(*err));
}
