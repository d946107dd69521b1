/*
 * storage.h - Azure Storage (Blob service) credentials and request authorization, shared by
 * every component that talks to Blob Storage: the watermark backend and file feeds whose file
 * sits in a blob. From AZURE_STORAGE_CONNECTION_STRING:
 * - an account key (AccountName + AccountKey, with BlobEndpoint or
 *   DefaultEndpointsProtocol/EndpointSuffix; UseDevelopmentStorage=true for Azurite): requests
 *   are signed with Shared Key;
 * - a shared access signature (BlobEndpoint + SharedAccessSignature, as Azure writes SAS
 *   connection strings; AccountName + EndpointSuffix may stand for BlobEndpoint): the token
 *   is appended to every request's query and nothing is signed.
 * Nothing here performs I/O: dm_azure_storage_sign turns a request description into a URL and
 * header lines for the HTTP client (buffered or streamed). Error messages never carry the key
 * or the token; dm_azure_storage_redact cuts the token out of a message that quotes a URL.
 * Thread-safety: a storage handle is immutable after open and may be shared.
 */
#ifndef DM_ADAPTERS_AZURE_STORAGE_H
#define DM_ADAPTERS_AZURE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

struct dm_azure_storage;

/* Parse a connection string. DM_ERR_INVALID (naming AZURE_STORAGE_CONNECTION_STRING and what
 * is wrong) when it holds no usable credential. On DM_OK *out is freed with
 * dm_azure_storage_free. */
enum dm_err dm_azure_storage_open(const char *connection_string, struct dm_azure_storage **out,
                                  struct dm_error *err) DM_MUST_CHECK;
/* Wipes the key and token. NULL is a no-op. */
void dm_azure_storage_free(struct dm_azure_storage *st);

/* The Blob endpoint, without a trailing slash ("https://ACCOUNT.blob.core.windows.net",
 * "http://127.0.0.1:10000/devstoreaccount1"). */
const char *dm_azure_storage_endpoint(const struct dm_azure_storage *st);
/* True when requests carry a SAS token (which cannot create its own container). */
bool dm_azure_storage_uses_sas(const struct dm_azure_storage *st);

/* A Blob request to authorize. Optional members may be NULL. */
struct dm_azure_request {
    const char *method; /* "GET", "PUT", ... */
    const char *path;   /* below the endpoint, from '/': "/watermarks/watermark.json" */
    const char *query;  /* one "name=value" parameter, or NULL */
    const char *content_type;
    const char *if_match, *if_none_match, *if_modified_since;
    bool blob_type; /* x-ms-blob-type: BlockBlob */
    size_t body_len;
};

#define DM_AZURE_MAX_HEADERS 10

/* The authorized request: the URL and NULL-terminated "Name: value" lines for the client. */
struct dm_azure_signed {
    char *url; /* malloc'd */
    const char *headers[DM_AZURE_MAX_HEADERS + 1];
    char lines[DM_AZURE_MAX_HEADERS][512];
};

/* Authorize r (Shared Key signature or SAS token; x-ms-date and x-ms-version set). On DM_OK
 * out must be released with dm_azure_signed_free. DM_ERR_TOO_LARGE when a member is too long. */
enum dm_err dm_azure_storage_sign(const struct dm_azure_storage *st,
                                  const struct dm_azure_request *r, struct dm_azure_signed *out,
                                  struct dm_error *err) DM_MUST_CHECK;
/* Release out's URL (the struct may be reused). */
void dm_azure_signed_free(struct dm_azure_signed *out);
/* Cut every copy of the SAS token out of msg (in place); nothing without a token. */
void dm_azure_storage_redact(const struct dm_azure_storage *st, char *msg);

#endif
