/*
 * index_follow.h - the search index of one API process and the thread that keeps it in step
 * with PostgreSQL (issue 14). At start it loads every active diamond in one snapshot; then it
 * follows the change sequence (migration 007): woken by NOTIFY diamonds_changed, and at least
 * once a second, it reads the rows past the last sequence applied plus the rows of
 * transactions that were in progress at its previous read, and applies them as one new index
 * version. A new catalogue epoch (DELETE or TRUNCATE on diamonds) makes it reload. While
 * PostgreSQL is unreachable the index keeps serving what it has, and lag_seconds grows.
 *
 * Thread-safety: all functions may be called from any thread once started.
 */
#ifndef DM_SERVICES_API_INDEX_FOLLOW_H
#define DM_SERVICES_API_INDEX_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "domain/search_index.h"

struct api_index;

/* A follower for conninfo (not started). */
struct api_index *api_index_new(const char *conninfo);
/* Start the follower thread; the first load happens on it. */
enum dm_err api_index_start(struct api_index *ai) DM_MUST_CHECK;
/* Stop the thread (returns within about half a second) and keep the index. */
void api_index_stop(struct api_index *ai);
void api_index_free(struct api_index *ai);

/* The index; dm_search_index_acquire on it is NULL until the first load completed. */
struct dm_search_index *api_index_get(struct api_index *ai);

/* Wait until the index has applied change sequence seq (true) or timeout_ms passed (false). */
bool api_index_wait(struct api_index *ai, int64_t seq, int timeout_ms);

struct api_index_status {
    const char *status; /* "loading", "ok" (synchronised within 5 s) or "stale" */
    struct dm_search_index_stats ix;
    int64_t db_seq;      /* the database's latest change sequence, as last read */
    double lag_seconds;  /* since the follower last had everything committed */
    double load_seconds; /* duration of the last full load */
    int64_t loads, batches, rows_applied, errors, syncs;
};
void api_index_status(struct api_index *ai, struct api_index_status *out);
/* Append the index's Prometheus series to b. */
void api_index_metrics(struct api_index *ai, struct dm_buf *b);

#endif
