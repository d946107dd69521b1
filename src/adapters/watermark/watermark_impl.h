/*
 * watermark_impl.h - private to the watermark adapter (watermark.c and its backends, and the
 * backends' own tests): the store handle, the backend vtable and the backends' constructors.
 * Callers use watermark.h only.
 */
#ifndef DM_ADAPTERS_WATERMARK_IMPL_H
#define DM_ADAPTERS_WATERMARK_IMPL_H

#include "adapters/watermark/watermark.h"

struct dm_watermark_ops {
    const char *name; /* "file" | "azure" */
    enum dm_err (*read)(struct dm_watermark_store *s, struct dm_watermark *wm, char *etag,
                        size_t etag_size, struct dm_error *err);
    enum dm_err (*write)(struct dm_watermark_store *s, const struct dm_watermark *wm,
                         const char *expected_etag, struct dm_error *err);
    void (*free)(struct dm_watermark_store *s);
};

struct dm_watermark_store {
    const struct dm_watermark_ops *ops;
    void *impl;
};

/* The start of a backend's open: *name, or DM_WATERMARK_DEFAULT_NAME when it is NULL, as the
 * name to use; DM_ERR_INVALID when dm_watermark_name_valid refuses it. */
enum dm_err dm_watermark_name_check(const char **name, struct dm_error *err) DM_MUST_CHECK;

/* Previous versions kept next to the watermark file (<name>.<ms>) by the file backend. */
#define DM_WATERMARK_FILE_HISTORY 10

/* File backend: dir/name (dir created on first write). name NULL: DM_WATERMARK_DEFAULT_NAME;
 * DM_ERR_INVALID when dm_watermark_name_valid refuses it. */
enum dm_err dm_watermark_file_open(const char *dir, const char *name,
                                   struct dm_watermark_store **out,
                                   struct dm_error *err) DM_MUST_CHECK;
/* Azure Blob backend, blob watermarks/name (name as above), from a connection string: an
 * account key (AccountName/AccountKey/BlobEndpoint or DefaultEndpointsProtocol/EndpointSuffix,
 * or UseDevelopmentStorage=true for Azurite), or a container SAS (BlobEndpoint/
 * SharedAccessSignature; see watermark_azure.c). */
enum dm_err dm_watermark_azure_open(const char *connection_string, const char *name,
                                    struct dm_watermark_store **out,
                                    struct dm_error *err) DM_MUST_CHECK;

/* True when a is strictly older than b (the watermark never moves backwards). */
bool dm_watermark_older(const struct dm_watermark *a, const struct dm_watermark *b);

#endif
