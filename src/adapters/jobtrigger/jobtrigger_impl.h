/*
 * jobtrigger_impl.h - private to the jobtrigger adapter (jobtrigger.c, jobtrigger_azure.c):
 * the handle, the backend vtable and the Azure backend's constructor. Callers use
 * jobtrigger.h only.
 */
#ifndef DM_ADAPTERS_JOBTRIGGER_IMPL_H
#define DM_ADAPTERS_JOBTRIGGER_IMPL_H

#include "adapters/jobtrigger/jobtrigger.h"

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

extern const struct dm_jobtrigger_ops dm_jobtrigger_azure_ops;
/* Copy what the Azure backend needs from the options (the three job fields are set). */
void *dm_jobtrigger_azure_state(const struct dm_jobtrigger_opts *opts);

#endif
