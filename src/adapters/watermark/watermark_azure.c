/*
 * watermark_azure.c - Azure Blob watermark backend over the HTTP client: container
 * "watermarks", blob <name> ("watermark.json" by default), reads return the blob's ETag, writes
 * are conditional
 * (If-Match on the ETag, or If-None-Match: * for the first), 409/412 map to DM_ERR_CONFLICT.
 * Blob versioning on the account keeps the history. Works against Azurite
 * (UseDevelopmentStorage=true).
 *
 * Two credentials:
 * - the account key (AccountName + AccountKey): Shared Key authorization; the container is
 *   created on first use;
 * - a shared access signature scoped to the container (`BlobEndpoint=https://ACCOUNT.blob.
 *   core.windows.net/;SharedAccessSignature=sv=...&sr=c&sp=r&se=...&sig=...`, as Azure writes
 *   SAS connection strings; AccountName + EndpointSuffix may stand for BlobEndpoint): the
 *   token is appended to every request's query and nothing is signed here. A container SAS
 *   cannot create its container, so the container must exist (Terraform creates it); its
 *   permissions decide what this process may do (read only: reads work, writes get 403).
 *   Least privilege: no app needs the account key (docs/operations.md, Security).
 * Errors never carry the key or the token (the HTTP client's messages quote the URL; the
 * token is cut out of them). Connection strings, Shared Key signatures and SAS requests are
 * adapters/azure/storage.c's, shared with the file feed's Blob reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/azure/storage.h"
#include "adapters/http/client.h"
#include "adapters/watermark/watermark_impl.h"
#include "core/buf.h"
#include "core/log.h"

#define AZ_CONTAINER "watermarks"

struct azure_store {
    struct dm_azure_storage *st; /* credentials and endpoint (adapters/azure/storage.h) */
    bool container_ready;
    char *name; /* the blob: "watermark.json" */
    char *path; /* "/watermarks/<name>" */
};

struct az_req {
    const char *method;
    const char *path;  /* "/watermarks/<name>" */
    const char *query; /* "restype=container" or NULL (single parameter) */
    const char *content_type;
    const char *if_match;
    const char *if_none_match;
    bool blob_type; /* x-ms-blob-type: BlockBlob */
    const char *body;
    size_t body_len;
};

static enum dm_err az_do(struct azure_store *az, const struct az_req *r,
                         struct dm_http_response *resp, struct dm_error *err)
{
    struct dm_azure_request ar = {
        .method = r->method,
        .path = r->path,
        .query = r->query,
        .content_type = r->content_type,
        .if_match = r->if_match,
        .if_none_match = r->if_none_match,
        .blob_type = r->blob_type,
        .body_len = r->body_len,
    };
    struct dm_azure_signed sig;
    enum dm_err e = dm_azure_storage_sign(az->st, &ar, &sig, err);
    if (e != DM_OK) {
        memset(resp, 0, sizeof(*resp)); /* released by the caller in every case */
        return e;
    }
    struct dm_http_request req = {
        .method = r->method,
        .url = sig.url,
        .headers = sig.headers,
        .body = r->body,
        .body_len = r->body_len,
        .timeout_ms = 30000,
        .max_response = 1 << 20,
    };
    e = dm_http_do(&req, resp, err);
    if (e != DM_OK && err)
        dm_azure_storage_redact(az->st, err->message);
    dm_azure_signed_free(&sig);
    return e;
}

static enum dm_err status_error(const struct dm_http_response *resp, const char *what,
                                struct dm_error *err)
{
    char code[128] = "";
    dm_http_header(resp, "x-ms-error-code", code, sizeof(code));
    enum dm_err e = dm_http_classify(resp->status);
    if (resp->status == 412)
        e = DM_ERR_CONFLICT;
    dm_error_set(err, e, "azure: %s: HTTP %ld %s", what, resp->status, code);
    if (err)
        err->status = (int)resp->status;
    return e;
}

static enum dm_err ensure_container(struct azure_store *az, struct dm_error *err)
{
    if (az->container_ready)
        return DM_OK;
    struct dm_http_response resp;
    struct az_req r = {.method = "PUT", .path = "/" AZ_CONTAINER, .query = "restype=container"};
    enum dm_err e = az_do(az, &r, &resp, err);
    if (e == DM_OK) {
        if (resp.status == 201 || resp.status == 409) /* created, or already exists */
            az->container_ready = true;
        else
            e = status_error(&resp, "create container " AZ_CONTAINER, err);
    }
    dm_http_response_free(&resp);
    return e;
}

static enum dm_err az_read(struct dm_watermark_store *s, struct dm_watermark *wm, char *etag,
                           size_t etag_size, struct dm_error *err)
{
    struct azure_store *az = s->impl;
    struct dm_http_response resp;
    struct az_req r = {.method = "GET", .path = az->path};
    enum dm_err e = az_do(az, &r, &resp, err);
    if (e != DM_OK)
        goto out;
    if (resp.status == 404) {
        e = dm_error_set(err, DM_ERR_NOT_FOUND, "watermark: none written yet");
        goto out;
    }
    if (resp.status != 200) {
        char what[DM_WATERMARK_MAX_NAME + 8];
        snprintf(what, sizeof(what), "read %s", az->name);
        e = status_error(&resp, what, err);
        goto out;
    }
    e = dm_watermark_from_json(resp.body.data ? resp.body.data : "", resp.body.len, wm, err);
    if (e != DM_OK) {
        e = dm_error_set(err, DM_ERR_INVALID, "watermark: blob is unreadable: %s",
                         err ? err->message : "invalid JSON");
        goto out;
    }
    if (etag && etag_size && !dm_http_header(&resp, "ETag", etag, etag_size)) {
        e = dm_error_set(err, DM_ERR_REMOTE, "azure: read %s: no ETag", az->name);
        goto out;
    }
out:
    dm_http_response_free(&resp);
    return e;
}

static enum dm_err az_write(struct dm_watermark_store *s, const struct dm_watermark *wm,
                            const char *expected_etag, struct dm_error *err)
{
    struct azure_store *az = s->impl;
    enum dm_err e = ensure_container(az, err);
    if (e != DM_OK)
        return e;
    /* Refuse to move backwards even when the caller holds a fresh etag. */
    if (expected_etag) {
        struct dm_watermark cur;
        char cur_etag[128];
        e = az_read(s, &cur, cur_etag, sizeof(cur_etag), err);
        if (e == DM_OK && strcmp(cur_etag, expected_etag) != 0)
            return dm_error_set(err, DM_ERR_CONFLICT, "watermark: changed since it was read");
        if (e == DM_OK && dm_watermark_older(wm, &cur))
            return dm_error_set(err, DM_ERR_CONFLICT, "watermark: refusing to move backwards");
        if (e == DM_ERR_NOT_FOUND)
            return dm_error_set(err, DM_ERR_CONFLICT, "watermark: expected version is gone");
        if (e != DM_OK)
            return e;
    }
    char *json = dm_watermark_to_json(wm);
    struct dm_http_response resp;
    struct az_req r = {
        .method = "PUT",
        .path = az->path,
        .content_type = "application/json",
        .if_match = expected_etag,
        .if_none_match = expected_etag ? NULL : "*",
        .blob_type = true,
        .body = json,
        .body_len = strlen(json),
    };
    e = az_do(az, &r, &resp, err);
    if (e == DM_OK && resp.status != 201 && resp.status != 200) {
        char what[DM_WATERMARK_MAX_NAME + 8];
        snprintf(what, sizeof(what), "write %s", az->name);
        e = status_error(&resp, what, err);
        if (resp.status == 409 || resp.status == 412)
            e = dm_error_set(err, DM_ERR_CONFLICT,
                             "watermark: changed since it was read (HTTP %ld)", resp.status);
    }
    dm_http_response_free(&resp);
    free(json);
    return e;
}

static void az_free(struct dm_watermark_store *s)
{
    struct azure_store *az = s->impl;
    dm_azure_storage_free(az->st);
    free(az->name);
    free(az->path);
    free(az);
    free(s);
}

static const struct dm_watermark_ops azure_ops = {
    .name = "azure",
    .read = az_read,
    .write = az_write,
    .free = az_free,
};

enum dm_err dm_watermark_azure_open(const char *cs, const char *name,
                                    struct dm_watermark_store **out, struct dm_error *err)
{
    *out = NULL;
    enum dm_err e = dm_watermark_name_check(&name, err);
    if (e != DM_OK)
        return e;
    struct dm_azure_storage *st = NULL;
    e = dm_azure_storage_open(cs, &st, err);
    if (e != DM_OK)
        return e;
    struct azure_store *az = dm_xcalloc(1, sizeof(*az));
    az->st = st;
    az->name = dm_xstrdup(name);
    az->path = dm_xasprintf("/" AZ_CONTAINER "/%s", name);
    /* A container SAS cannot create its container: Terraform does. */
    az->container_ready = dm_azure_storage_uses_sas(st);
    struct dm_watermark_store *s = dm_xcalloc(1, sizeof(*s));
    s->ops = &azure_ops;
    s->impl = az;
    *out = s;
    return DM_OK;
}
