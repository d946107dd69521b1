/*
 * watermark.h - where the catalogue is known to be current: {lastUpdatedAt, lastRunId,
 * lastRunCompletedAt}. Two backends behind one vtable (watermark_impl.h, private), chosen once
 * from struct dm_watermark_opts: a versioned file in a directory (default) and Azure Blob
 * Storage (container "watermarks", Shared Key or container SAS, If-Match / If-None-Match
 * conditional writes) when a storage connection string is given. Each watermark has a name,
 * the file or blob name ("watermark.json" by default), so several can share a directory or a
 * container. The watermark only moves forward: a write older than the stored one is refused.
 * The options come from the configuration in one place: src/app/adapter_opts.c.
 */
#ifndef DM_ADAPTERS_WATERMARK_H
#define DM_ADAPTERS_WATERMARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/error.h"

struct dm_watermark {
    int64_t last_updated_at_ms; /* the run's updatedTo */
    char last_run_id[DM_UUID_LEN];
    int64_t last_run_completed_at_ms;
};

/* Serialise / parse the JSON form
 * {"lastUpdatedAt":ISO,"lastRunId":UUID,"lastRunCompletedAt":ISO}.*/
char *dm_watermark_to_json(const struct dm_watermark *wm);
enum dm_err dm_watermark_from_json(const char *text, size_t len, struct dm_watermark *wm,
                                   struct dm_error *err) DM_MUST_CHECK;

struct dm_watermark_store;

/* The default watermark name (the seed's file and blob). */
#define DM_WATERMARK_DEFAULT_NAME "watermark.json"
/* The default directory of the file backend. */
#define DM_WATERMARK_DEFAULT_DIR "./var/watermarks"
/* Longest watermark name. */
#define DM_WATERMARK_MAX_NAME 200

/* What a watermark store needs (strings borrowed for the call to dm_watermark_open only). */
struct dm_watermark_opts {
    /* Azure Blob when set (AZURE_STORAGE_CONNECTION_STRING), else the file backend. */
    const char *azure_connection_string;
    const char *dir;  /* file backend directory (WATERMARK_DIR); NULL: DM_WATERMARK_DEFAULT_DIR */
    const char *name; /* file / blob name; NULL: DM_WATERMARK_DEFAULT_NAME. Letters, digits,
                       * '.', '_' and '-', not starting with '.', not ending in '.<digits>'
                       * (the file backend's history suffix), at most DM_WATERMARK_MAX_NAME. */
};

/* Open the backend the options choose. DM_ERR_INVALID for a bad name, directory or
 * connection string (the message never quotes a key or token). */
enum dm_err dm_watermark_open(const struct dm_watermark_opts *opts, struct dm_watermark_store **out,
                              struct dm_error *err) DM_MUST_CHECK;
/* True when name is acceptable as a watermark name (see struct dm_watermark_opts). */
bool dm_watermark_name_valid(const char *name);
void dm_watermark_free(struct dm_watermark_store *s);
const char *dm_watermark_backend_name(const struct dm_watermark_store *s); /* "file" | "azure" */

/* Read the current watermark. DM_ERR_NOT_FOUND when none was ever written; any other error
 * means "unreadable" (the scheduler must not start a run). etag (may be NULL, size >= 128)
 * receives the version for a conditional write. */
enum dm_err dm_watermark_read(struct dm_watermark_store *s, struct dm_watermark *wm, char *etag,
                              size_t etag_size, struct dm_error *err) DM_MUST_CHECK;
/* Conditional write: expected_etag NULL means "only if none exists". DM_ERR_CONFLICT when the
 * stored version changed meanwhile, or when wm is older than the stored watermark. */
enum dm_err dm_watermark_write(struct dm_watermark_store *s, const struct dm_watermark *wm,
                               const char *expected_etag, struct dm_error *err) DM_MUST_CHECK;
/* Read-check-write loop that only advances: writes wm unless the stored watermark is newer or
 * equal (then DM_OK without writing; *written false). Retries on concurrent-write conflicts. */
enum dm_err dm_watermark_advance(struct dm_watermark_store *s, const struct dm_watermark *wm,
                                 bool *written, struct dm_error *err) DM_MUST_CHECK;

#endif
