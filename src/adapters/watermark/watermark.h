/*
 * watermark.h - where the catalogue is known to be current: {lastUpdatedAt, lastRunId,
 * lastRunCompletedAt}. Two backends behind one vtable: a versioned file (WATERMARK_DIR,
 * default) and Azure Blob Storage (container "watermarks", blob "watermark.json", Shared Key
 * auth, If-Match / If-None-Match conditional writes) when AZURE_STORAGE_CONNECTION_STRING is
 * set. The watermark only moves forward: a write older than the stored one is refused.
 */
#ifndef DM_ADAPTERS_WATERMARK_H
#define DM_ADAPTERS_WATERMARK_H

#include <stdint.h>

#include "core/config.h"
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

/* Open the backend chosen by configuration. */
enum dm_err dm_watermark_open(const struct dm_config *cfg, struct dm_watermark_store **out,
                              struct dm_error *err) DM_MUST_CHECK;
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

struct dm_watermark_ops {
    const char *name;
    enum dm_err (*read)(struct dm_watermark_store *s, struct dm_watermark *wm, char *etag,
                        size_t etag_size, struct dm_error *err);
    enum dm_err (*write)(struct dm_watermark_store *s, const struct dm_watermark *wm,
                         const char *expected_etag, struct dm_error *err);
    void (*free)(struct dm_watermark_store *s);
};

#endif
