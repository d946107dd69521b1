/*
 * watermark_backends.h - internal to the watermark adapter: the store handle shared by the
 * backends and their constructors. Callers use watermark.h only.
 */
#ifndef DM_ADAPTERS_WATERMARK_BACKENDS_H
#define DM_ADAPTERS_WATERMARK_BACKENDS_H

#include "adapters/watermark/watermark.h"

struct dm_watermark_store {
    const struct dm_watermark_ops *ops;
    void *impl;
};

/* Previous versions kept next to watermark.json by the file backend. */
#define DM_WATERMARK_FILE_HISTORY 10

/* File backend over directory dir (created on first write). */
enum dm_err dm_watermark_file_open(const char *dir, struct dm_watermark_store **out,
                                   struct dm_error *err) DM_MUST_CHECK;
/* Azure Blob backend from a connection string: an account key (AccountName/AccountKey/
 * BlobEndpoint or DefaultEndpointsProtocol/EndpointSuffix, or UseDevelopmentStorage=true for
 * Azurite), or a container SAS (BlobEndpoint/SharedAccessSignature; see watermark_azure.c). */
enum dm_err dm_watermark_azure_open(const char *connection_string, struct dm_watermark_store **out,
                                    struct dm_error *err) DM_MUST_CHECK;

/* True when a is strictly older than b (the watermark never moves backwards). */
bool dm_watermark_older(const struct dm_watermark *a, const struct dm_watermark *b);

#endif
