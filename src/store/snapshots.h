/*
 * snapshots.h - the run store's statements for a file feed's snapshot (issue 18): the worker
 * streams a whole file into the feed's raw table within its run's one partition, in batches,
 * and completes or fails that partition here. Also the owner of file_snapshots (migration
 * 011): per feed, the last good snapshot's run, validators (ETag / Last-Modified) and counts.
 *
 * Progress: each batch is one statement that upserts its rows into raw_diamonds_<feed> (the
 * page path's content-hash upsert: an unchanged row is not rewritten, it only gets
 * last_seen_run_id) and moves the partition's next_offset (rows read, bad ones included) and
 * records (stones stored) forward, so `diamond status` and the dashboard show the file's
 * progress. A redelivered work item reads the file again from its start: its batches up to the
 * committed next_offset re-upsert (idempotent) without moving progress and without reporting
 * their bad rows a second time. Batches commit asynchronously (synchronous_commit off, as the
 * page path's continuing pages): a database crash loses at most the last batches, which the
 * redelivery writes again; the completion is durable.
 *
 * Thread-safety: reentrant (pooled connections).
 */
#ifndef DM_STORE_SNAPSHOTS_H
#define DM_STORE_SNAPSHOTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "adapters/db/db.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/error.h"

/* A feed's last good snapshot (file_snapshots). */
struct dm_snapshot_record {
    bool found;               /* a good snapshot of this feed exists */
    char run_id[DM_UUID_LEN]; /* the run whose raw rows last saw every stone of it */
    char etag[256];           /* "" = none */
    char last_modified[64];   /* "" = none */
    int64_t rows;             /* stones it held */
    /* The validators may be sent: no other run of this feed started since run_id (one that
     * failed or was cancelled part-way may have moved last_seen_run_id of some rows). */
    bool validators_usable;
    int64_t catalogue_active; /* active diamonds of the feed now (the guard's baseline when
                                 there is no record) */
};

/* Load feed's record (found false when none) for run run_id (the run about to read). */
enum dm_err dm_snapshot_load(struct dm_db *db, const char *feed, const char *run_id,
                             struct dm_snapshot_record *out, struct dm_error *err) DM_MUST_CHECK;

/* One batch of a snapshot. Arrays as struct dm_runs_page's (binary text[], built by the
 * worker); refused: a JSON array of bad-row event details ({row, line, stockId, reason}; row
 * is the 1-based row index in the file), one row_refused run event each (without row), written
 * only for rows beyond the partition's committed next_offset; NULL = none. */
struct dm_snapshot_batch {
    const char *feed, *run_id, *partition_id, *worker_id;
    int64_t read_to; /* rows read up to the end of this batch (the partition's next_offset) */
    int64_t stored;  /* stones stored so far in this read (the partition's records) */
    int unique;      /* rows in the arrays */
    const struct dm_buf *ids, *stone_ids, *offer_ids, *payloads, *hashes;
    const char *refused;
};
/* *live false: the partition is over (completed, failed, cancelled: nothing was written, stop
 * reading). *advanced: this batch moved next_offset (a first read of these rows). */
enum dm_err dm_snapshot_commit_batch(struct dm_db *db, const struct dm_snapshot_batch *b,
                                     bool *live, bool *advanced,
                                     struct dm_error *err) DM_MUST_CHECK;

/* Stones of feed's raw table last seen by run_id (a finished read's distinct stones). */
enum dm_err dm_snapshot_count_seen(struct dm_db *db, const char *feed, const char *run_id,
                                   int64_t *n, struct dm_error *err) DM_MUST_CHECK;

/* A finished snapshot read, to complete the partition with. */
struct dm_snapshot_done {
    const char *feed, *run_id, *partition_id, *worker_id;
    int64_t rows_read; /* next_offset */
    int64_t stones;    /* records: distinct stones of the snapshot */
    int64_t bad_rows, not_carried, lines, bytes;
    const char *etag, *last_modified; /* of what was read */
    bool not_modified;                /* 304: touch_run_id's rows are this run's too */
    /* With not_modified: every raw row whose last_seen_run_id is touch_run_id (the record's
     * run) is marked seen by run_id, in the same statement. */
    const char *touch_run_id;
    const json_t *summary; /* the snapshot_read event's detail (borrowed) */
};
/* One durable statement: mark the partition completed (only if it is still live), its
 * worker_runs row, the partition_completed and snapshot_read events, and the feed's record.
 * *completed tells whether this call did it (false: another delivery did, or it was cancelled
 * or failed meanwhile; nothing written). */
enum dm_err dm_snapshot_complete(struct dm_db *db, const struct dm_snapshot_done *d,
                                 bool *completed, struct dm_error *err) DM_MUST_CHECK;

/* Mark the partition failed (only if still live), its worker_runs row, a partition_failed
 * event and an event named `event` (may be NULL) with detail (borrowed, may be NULL; the
 * statement adds "withheld"). *marked tells whether this call did it (then *records is the
 * partition's records). The feed's record is left as it was: a refused snapshot is never the
 * previous good one. A refused snapshot leaves nothing half-applied: in the same statement the
 * raw rows the run wrote (new or changed, still pending) are withheld from consolidation
 * (*withheld of them): marked failed ("not consolidated: the snapshot of run ... was refused")
 * with the hash DM_SNAPSHOT_WITHHELD_HASH, so no consolidation ever applies them, and the next
 * snapshot replaces each (its hash differs from any file row's) and consolidates it as usual.
 * Rows the run saw unchanged keep their state. */
enum dm_err dm_snapshot_fail(struct dm_db *db, const char *feed, const char *run_id,
                             const char *partition_id, const char *worker_id, const char *message,
                             const char *event, const json_t *detail, bool *marked,
                             int64_t *records, int64_t *withheld,
                             struct dm_error *err) DM_MUST_CHECK;

/* The payload_hash of a withheld raw row (SQL literal, char(64)): never a SHA-256 hex. */
#define DM_SNAPSHOT_WITHHELD_HASH "'withheld'"

#endif
