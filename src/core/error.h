/*
 * error.h - the one error enum every fallible function returns, and a detail struct for
 * failures with an outside cause (database, network, feed). Adapters map SQLSTATE, CURLcode
 * and HTTP statuses to these codes at the edge so callers can decide whether a retry helps.
 */
#ifndef DM_CORE_ERROR_H
#define DM_CORE_ERROR_H

#include <stdbool.h>

#define DM_MUST_CHECK __attribute__((warn_unused_result))
#define DM_PRINTF(f, a) __attribute__((format(printf, f, a)))

enum dm_err {
    DM_OK = 0,
    DM_ERR_NOMEM,        /* allocation failed (only where size came from input) */
    DM_ERR_INVALID,      /* bad input: argument, message, request, configuration */
    DM_ERR_NOT_FOUND,    /* the thing asked for does not exist */
    DM_ERR_CONFLICT,     /* state conflict: precondition failed, duplicate, already done */
    DM_ERR_TOO_LARGE,    /* a bounded buffer or body limit was exceeded */
    DM_ERR_IO,           /* local file or process I/O */
    DM_ERR_DB,           /* database error that a retry will not fix */
    DM_ERR_DB_RETRY,     /* transient database error (connection, serialization, deadlock) */
    DM_ERR_NETWORK,      /* connect/transport failure (retryable) */
    DM_ERR_TIMEOUT,      /* operation timed out (retryable) */
    DM_ERR_RATE_LIMITED, /* remote asked us to slow down (retryable) */
    DM_ERR_REMOTE,       /* remote 5xx or equivalent (retryable) */
    DM_ERR_REJECTED,     /* remote 4xx / validation error (not retryable) */
    DM_ERR_AUTH,         /* authentication failed */
    DM_ERR_LOCK_LOST,    /* queue settle after the peek-lock expired */
    DM_ERR_UNAVAILABLE,  /* dependency not configured or down */
    DM_ERR_SCHEMA,       /* database schema older than this binary needs */
    DM_ERR_SHUTDOWN,     /* the process is stopping */
    DM_ERR_INTERNAL,     /* a bug: an invariant did not hold */
};

/* Detail for a failure: code, whether a retry can help, an outside status, a message. */
struct dm_error {
    enum dm_err code;
    bool retryable;
    int status;       /* HTTP status or 0 */
    char sqlstate[6]; /* SQLSTATE or "" */
    char message[512];
};

/* Static English name of a code ("invalid input", ...). Never NULL. */
const char *dm_strerror(enum dm_err code);

/* True for codes where retrying the same operation later can succeed. */
bool dm_err_is_retryable(enum dm_err code);

/* Fill err (may be NULL) and return code. retryable defaults from the code. */
enum dm_err dm_error_set(struct dm_error *err, enum dm_err code, const char *fmt, ...)
    DM_PRINTF(3, 4);

/* Reset to DM_OK / empty message. err may be NULL. */
void dm_error_clear(struct dm_error *err);

#endif
