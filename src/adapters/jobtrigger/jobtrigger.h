/*
 * jobtrigger.h - starting a scheduler execution on demand (API POST /api/v2/triggers/scheduler)
 * behind a small vtable (jobtrigger_impl.h, private) with two backends, chosen once from
 * struct dm_jobtrigger_opts (filled from the configuration in one place:
 * src/app/adapter_opts.c):
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

#include "core/error.h"

struct dm_jobtrigger; /* opaque handle: backend + its state */

/* What a trigger needs (strings borrowed for the call to dm_jobtrigger_open only). */
struct dm_jobtrigger_opts {
    /* Azure when all three are set: AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP,
     * AZURE_SCHEDULER_JOB_NAME. */
    const char *subscription_id;
    const char *resource_group;
    const char *job_name;
    const char *management_endpoint; /* AZURE_MANAGEMENT_ENDPOINT; NULL: management.azure.com */
    const char *identity_endpoint;   /* IDENTITY_ENDPOINT (managed identity), or NULL */
    const char *identity_header;     /* IDENTITY_HEADER, or NULL */
    const char *self_exe;            /* local: path of this binary; NULL: "/proc/self/exe" */
};

/* Choose the backend: Azure when the three job fields are set, else local. Never fails. */
struct dm_jobtrigger *dm_jobtrigger_open(const struct dm_jobtrigger_opts *opts);
void dm_jobtrigger_free(struct dm_jobtrigger *t);
const char *dm_jobtrigger_name(const struct dm_jobtrigger *t);
enum dm_err dm_jobtrigger_start(struct dm_jobtrigger *t, const char *run_type,
                                const char *request_id, char *execution, size_t size,
                                struct dm_error *err) DM_MUST_CHECK;
/* Reap finished local children (call periodically; non-blocking). */
void dm_jobtrigger_reap(void);

#endif
