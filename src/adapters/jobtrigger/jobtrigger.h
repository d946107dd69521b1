/*
 * jobtrigger.h - starting a scheduler execution on demand (API POST /api/v2/triggers/scheduler)
 * behind a small vtable with two backends, chosen once from configuration:
 *  - azure: the Azure Container Apps Job (AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP,
 *    AZURE_SCHEDULER_JOB_NAME): a managed-identity token from IDENTITY_ENDPOINT (header
 *    X-IDENTITY-HEADER: IDENTITY_HEADER), GET the job from ARM (AZURE_MANAGEMENT_ENDPOINT),
 *    merge RUN_TYPE into every container's existing environment, POST .../start with that
 *    template (api-version 2023-05-01).
 *  - local: spawn `<this binary> scheduler --request <id>` as a detached child (own session),
 *    which executes the scheduler_requests row the API inserted.
 * Thread-safe: start may be called from several request threads at once.
 */
#ifndef DM_ADAPTERS_JOBTRIGGER_H
#define DM_ADAPTERS_JOBTRIGGER_H

#include <stddef.h>

#include "core/config.h"
#include "core/error.h"

struct dm_jobtrigger;

struct dm_jobtrigger_ops {
    const char *name; /* "local" | "azure" */
    /* Start one scheduler execution for run_type ("full"|"incremental") serving the
     * scheduler_requests row request_id. execution (size >= 256) receives an identifier
     * (child pid or Azure execution name). DM_ERR_UNAVAILABLE when this backend cannot run. */
    enum dm_err (*start)(struct dm_jobtrigger *t, const char *run_type, const char *request_id,
                         char *execution, size_t size, struct dm_error *err);
    void (*free)(struct dm_jobtrigger *t);
};

struct dm_jobtrigger {
    const struct dm_jobtrigger_ops *ops;
    void *state;
};

/* Choose the backend from configuration: Azure when the three AZURE_* job variables are set,
 * else local (self_exe = path of this binary, e.g. "/proc/self/exe"). Never fails. */
struct dm_jobtrigger *dm_jobtrigger_open(const struct dm_config *cfg, const char *self_exe);
void dm_jobtrigger_free(struct dm_jobtrigger *t);
const char *dm_jobtrigger_name(const struct dm_jobtrigger *t);
enum dm_err dm_jobtrigger_start(struct dm_jobtrigger *t, const char *run_type,
                                const char *request_id, char *execution, size_t size,
                                struct dm_error *err) DM_MUST_CHECK;
/* Reap finished local children (call periodically; non-blocking). */
void dm_jobtrigger_reap(void);

#endif
