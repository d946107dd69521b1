/*
 * messages.h - the pipeline's queue messages (pipeline.md §1): WORK_ITEM, WORK_DONE,
 * CONSOLIDATE. camelCase JSON with "type" first; ids are UUID strings; times ISO-8601 UTC.
 * Parsing validates every field and names the offending one, so a consumer can dead-letter a
 * bad message with a precise reason. Pure: no I/O.
 */
#ifndef DM_DOMAIN_MESSAGES_H
#define DM_DOMAIN_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/error.h"

#define DM_PARTITION_ID_MAX 64
#define DM_MSG_MAX_BYTES ((size_t)64 * 1024)

/* Items per feed page: the most one WORK_ITEM asks for, the most a Nivoda search returns (and
 * the simulator serves). The one definition of the pipeline's page size. */
#define DM_PAGE_LIMIT 50

struct dm_work_item {
    char run_id[DM_UUID_LEN];
    char trace_id[DM_UUID_LEN];
    char partition_id[DM_PARTITION_ID_MAX];
    int64_t min_price; /* dollars, inclusive */
    int64_t max_price; /* dollars, inclusive */
    int64_t estimated_records;
    int64_t offset;
    int limit; /* 1..DM_PAGE_LIMIT */
    int64_t updated_from_ms;
    int64_t updated_to_ms;
    int attempt; /* 0 for scheduler/continuations; n for manual retry n */
};

enum dm_work_status { DM_WORK_SUCCESS, DM_WORK_FAILED };

struct dm_work_done {
    char run_id[DM_UUID_LEN];
    char trace_id[DM_UUID_LEN];
    char worker_id[128];
    char partition_id[DM_PARTITION_ID_MAX];
    int64_t records_processed;
    enum dm_work_status status;
    char error[512]; /* "" when none */
};

struct dm_consolidate {
    char run_id[DM_UUID_LEN];
    char trace_id[DM_UUID_LEN];
    bool force;
    int64_t updated_to_ms; /* 0 when unknown */
};

enum dm_msg_type { DM_MSG_WORK_ITEM, DM_MSG_WORK_DONE, DM_MSG_CONSOLIDATE };

/* Serialise (malloc'd JSON text). */
char *dm_work_item_to_json(const struct dm_work_item *m);
char *dm_work_done_to_json(const struct dm_work_done *m);
char *dm_consolidate_to_json(const struct dm_consolidate *m);

/* Parse and validate; DM_ERR_INVALID with a reason naming the field. */
enum dm_err dm_work_item_parse(const char *text, size_t len, struct dm_work_item *m,
                               struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_work_done_parse(const char *text, size_t len, struct dm_work_done *m,
                               struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_consolidate_parse(const char *text, size_t len, struct dm_consolidate *m,
                                 struct dm_error *err) DM_MUST_CHECK;
/* Just the "type" of a message body. */
enum dm_err dm_msg_type_of(const char *text, size_t len, enum dm_msg_type *type,
                           struct dm_error *err) DM_MUST_CHECK;

/* Deterministic message ids (size >= 192):
 * "{runId}:{partitionId}:{offset}" plus ":r{attempt}" when attempt > 0;
 * "work-done:{runId}:{partitionId}:{success|failed}"; "consolidate:{runId}". */
void dm_work_item_id(const struct dm_work_item *m, char *out, size_t size);
void dm_work_done_id(const struct dm_work_done *m, char *out, size_t size);
void dm_consolidate_id(const struct dm_consolidate *m, char *out, size_t size);

#endif
