/* jobtrigger_azure.h - the Azure Container Apps Job backend of jobtrigger.h (internal). */
#ifndef DM_ADAPTERS_JOBTRIGGER_AZURE_H
#define DM_ADAPTERS_JOBTRIGGER_AZURE_H

#include "adapters/jobtrigger/jobtrigger.h"

extern const struct dm_jobtrigger_ops dm_jobtrigger_azure_ops;
/* Copy what the backend needs from the configuration. */
void *dm_jobtrigger_azure_state(const struct dm_config *cfg);

#endif
