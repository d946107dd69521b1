/*
 * store.h - private to src/store/: the helpers and SQL fragments the run store's files share
 * (runs.c, partitions.c, reports.c, snapshots.c). Not for callers of the store.
 */
#ifndef DM_STORE_STORE_H
#define DM_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "adapters/db/db.h"

/* A timestamptz as ms since the epoch (NULL stays NULL). */
#define MS(x) "(extract(epoch FROM " x ") * 1000)::bigint"

/* The partition status of runs.h in SQL, for the reports (table alias p). */
#define PARTITION_STATUS_SQL                                                                       \
    "CASE WHEN p.completed THEN 'completed' WHEN p.cancelled THEN 'cancelled' "                    \
    "WHEN p.failed THEN 'failed' ELSE 'running' END"
/* Failed in the sense of runs.h (cancelled included), for WHERE clauses (alias p). */
#define PARTITION_FAILED_SQL "(NOT p.completed AND (p.failed OR p.cancelled))"

/* The raw upsert's conflict clause (table alias r; the page path and the file snapshot path):
 * a row whose payload hash is unchanged keeps its payload, run, consolidation state and
 * updated_at and only gets last_seen_run_id; a changed one is replaced and pending again. Rows
 * with neither change are not written at all. */
#define RAW_UPSERT_CONFLICT_SQL                                                                    \
    " ON CONFLICT (supplier_stone_id) DO UPDATE SET"                                               \
    "  last_seen_run_id = EXCLUDED.last_seen_run_id,"                                              \
    "  offer_id = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.offer_id"                \
    "   ELSE EXCLUDED.offer_id END,"                                                               \
    "  payload = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.payload"                  \
    "   ELSE EXCLUDED.payload END,"                                                                \
    "  run_id = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.run_id"                    \
    "   ELSE EXCLUDED.run_id END,"                                                                 \
    "  consolidation_status = CASE WHEN r.payload_hash = EXCLUDED.payload_hash"                    \
    "   THEN r.consolidation_status ELSE 'pending' END,"                                           \
    "  claim_token = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.claim_token"          \
    "   ELSE NULL END,"                                                                            \
    "  claimed_at = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.claimed_at"            \
    "   ELSE NULL END,"                                                                            \
    "  consolidation_error = CASE WHEN r.payload_hash = EXCLUDED.payload_hash"                     \
    "   THEN r.consolidation_error ELSE NULL END,"                                                 \
    "  updated_at = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.updated_at"            \
    "   ELSE now() END,"                                                                           \
    "  payload_hash = EXCLUDED.payload_hash"                                                       \
    " WHERE r.payload_hash IS DISTINCT FROM EXCLUDED.payload_hash"                                 \
    "  OR r.last_seen_run_id IS DISTINCT FROM EXCLUDED.last_seen_run_id"

/* A hot statement on a pooled connection, prepared by name (see store.c). */
enum dm_err dm_store_run_hot(struct dm_db *db, const char *name, const char *sql, int n,
                             const char *const *p, const int *lengths, const int *formats,
                             PGresult **r, struct dm_error *err) DM_MUST_CHECK;
/* A boolean column is true ('t'); false for NULL or out of range. */
bool dm_store_is_true(const PGresult *r, int row, int col);
/* A text column into out (empty for NULL), cut to size. */
void dm_store_copy_text(char *out, size_t size, const PGresult *r, int row, int col);
/* A text column, malloc'd (NULL for SQL NULL). */
char *dm_store_dup_text(const PGresult *r, int row, int col);

#endif
