/*
 * watermark_azure.c - Azure Blob watermark backend over the HTTP client: container
 * "watermarks", blob "watermark.json", reads return the blob's ETag, writes are conditional
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
 * token is cut out of them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "adapters/http/client.h"
#include "adapters/watermark/watermark_backends.h"
#include "core/buf.h"
#include "core/log.h"

#define AZ_VERSION "2021-08-06"
#define AZ_CONTAINER "watermarks"
#define AZ_BLOB "watermark.json"
#define AZ_DEV_ACCOUNT "devstoreaccount1"
#define AZ_DEV_KEY                                                                                 \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define AZ_DEV_ENDPOINT "http://127.0.0.1:10000/devstoreaccount1"

struct azure_store {
    char *account;
    uint8_t *key; /* account key (Shared Key), or NULL with a SAS */
    size_t key_len;
    char *sas;           /* container SAS query ("sv=...&sig=..."), or NULL with a key */
    char *endpoint;      /* no trailing slash */
    char *endpoint_path; /* path part of the endpoint ("" or "/devstoreaccount1") */
    bool container_ready;
};

/* Value of key in a "K=V;K=V" connection string (malloc'd) or NULL. */
static char *conn_get(const char *cs, const char *key)
{
    size_t klen = strlen(key);
    const char *p = cs;
    while (*p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > klen && p[klen] == '=' && !strncasecmp(p, key, klen))
            return dm_xstrndup(p + klen + 1, len - klen - 1);
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

static void http_date(char out[64])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

struct az_req {
    const char *method;
    const char *path;  /* "/watermarks/watermark.json" */
    const char *query; /* "restype=container" or NULL (single parameter) */
    const char *content_type;
    const char *if_match;
    const char *if_none_match;
    bool blob_type; /* x-ms-blob-type: BlockBlob */
    const char *body;
    size_t body_len;
};

/* Cut every copy of secret out of msg (in place). */
static void redact(char *msg, const char *secret)
{
    size_t sl = strlen(secret);
    if (sl == 0)
        return;
    for (char *p; (p = strstr(msg, secret)) != NULL;) {
        static const char mark[] = "<SharedAccessSignature>";
        size_t ml = sizeof(mark) - 1;
        size_t tail = strlen(p + sl) + 1;
        if (ml <= sl) {
            memcpy(p, mark, ml);
            memmove(p + ml, p + sl, tail);
        } else {
            memmove(p, p + sl, tail); /* a tiny token: drop it */
        }
    }
}

/* A request authorized by the container SAS: the token goes in the query, nothing signed. */
static enum dm_err az_do_sas(struct azure_store *az, const struct az_req *r,
                             struct dm_http_response *resp, struct dm_error *err)
{
    char date[64];
    http_date(date);
    char *url = dm_xasprintf("%s%s?%s%s%s", az->endpoint, r->path, r->query ? r->query : "",
                             r->query ? "&" : "", az->sas);
    char h_date[96], h_ver[64], h_ct[160], h_im[200], h_inm[200];
    snprintf(h_date, sizeof(h_date), "x-ms-date: %s", date);
    snprintf(h_ver, sizeof(h_ver), "x-ms-version: %s", AZ_VERSION);
    snprintf(h_ct, sizeof(h_ct), "Content-Type:%s%s", r->content_type ? " " : "",
             r->content_type ? r->content_type : "");
    const char *headers[8];
    int nh = 0;
    headers[nh++] = h_date;
    headers[nh++] = h_ver;
    headers[nh++] = h_ct;
    if (r->blob_type)
        headers[nh++] = "x-ms-blob-type: BlockBlob";
    if (r->if_match) {
        snprintf(h_im, sizeof(h_im), "If-Match: %s", r->if_match);
        headers[nh++] = h_im;
    }
    if (r->if_none_match) {
        snprintf(h_inm, sizeof(h_inm), "If-None-Match: %s", r->if_none_match);
        headers[nh++] = h_inm;
    }
    headers[nh] = NULL;
    struct dm_http_request req = {
        .method = r->method,
        .url = url,
        .headers = headers,
        .body = r->body,
        .body_len = r->body_len,
        .timeout_ms = 30000,
        .max_response = 1 << 20,
    };
    enum dm_err e = dm_http_do(&req, resp, err);
    if (e != DM_OK && err)
        redact(err->message, az->sas);
    free(url);
    return e;
}

static enum dm_err az_do(struct azure_store *az, const struct az_req *r,
                         struct dm_http_response *resp, struct dm_error *err)
{
    if (az->sas)
        return az_do_sas(az, r, resp, err);
    char date[64];
    http_date(date);
    char clen[32] = "";
    if (r->body_len > 0)
        snprintf(clen, sizeof(clen), "%zu", r->body_len);
    /* Canonicalized headers: x-ms-* sorted by name. */
    struct dm_buf sts, url;
    dm_buf_init(&sts, 8192);
    dm_buf_init(&url, 8192);
    enum dm_err e = dm_buf_appendf(
        &sts, "%s\n\n\n%s\n\n%s\n\n\n%s\n%s\n\n\n%sx-ms-date:%s\nx-ms-version:%s\n/%s%s%s",
        r->method, clen, r->content_type ? r->content_type : "", r->if_match ? r->if_match : "",
        r->if_none_match ? r->if_none_match : "", r->blob_type ? "x-ms-blob-type:BlockBlob\n" : "",
        date, AZ_VERSION, az->account, az->endpoint_path, r->path);
    if (e == DM_OK && r->query) {
        const char *eq = strchr(r->query, '=');
        if (eq)
            e = dm_buf_appendf(&sts, "\n%.*s:%s", (int)(eq - r->query), r->query, eq + 1);
    }
    if (e == DM_OK)
        e = dm_buf_appendf(&url, "%s%s%s%s", az->endpoint, r->path, r->query ? "?" : "",
                           r->query ? r->query : "");
    if (e != DM_OK) {
        dm_buf_free(&sts);
        dm_buf_free(&url);
        return dm_error_set(err, DM_ERR_TOO_LARGE, "azure: request too large");
    }
    uint8_t mac[DM_SHA256_LEN];
    dm_hmac_sha256(az->key, az->key_len, sts.data, sts.len, mac);
    char *sig = dm_base64_encode(mac, sizeof(mac));
    char h_auth[512], h_date[96], h_ver[64], h_ct[160], h_im[200], h_inm[200];
    snprintf(h_auth, sizeof(h_auth), "Authorization: SharedKey %s:%s", az->account, sig);
    snprintf(h_date, sizeof(h_date), "x-ms-date: %s", date);
    snprintf(h_ver, sizeof(h_ver), "x-ms-version: %s", AZ_VERSION);
    /* An empty Content-Type line stops libcurl from adding its form default. */
    snprintf(h_ct, sizeof(h_ct), "Content-Type:%s%s", r->content_type ? " " : "",
             r->content_type ? r->content_type : "");
    const char *headers[10];
    int nh = 0;
    headers[nh++] = h_auth;
    headers[nh++] = h_date;
    headers[nh++] = h_ver;
    headers[nh++] = h_ct;
    if (r->blob_type)
        headers[nh++] = "x-ms-blob-type: BlockBlob";
    if (r->if_match) {
        snprintf(h_im, sizeof(h_im), "If-Match: %s", r->if_match);
        headers[nh++] = h_im;
    }
    if (r->if_none_match) {
        snprintf(h_inm, sizeof(h_inm), "If-None-Match: %s", r->if_none_match);
        headers[nh++] = h_inm;
    }
    headers[nh] = NULL;
    struct dm_http_request req = {
        .method = r->method,
        .url = url.data,
        .headers = headers,
        .body = r->body,
        .body_len = r->body_len,
        .timeout_ms = 30000,
        .max_response = 1 << 20,
    };
    e = dm_http_do(&req, resp, err);
    free(sig);
    dm_buf_free(&sts);
    dm_buf_free(&url);
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
    struct az_req r = {.method = "GET", .path = "/" AZ_CONTAINER "/" AZ_BLOB};
    enum dm_err e = az_do(az, &r, &resp, err);
    if (e != DM_OK)
        goto out;
    if (resp.status == 404) {
        e = dm_error_set(err, DM_ERR_NOT_FOUND, "watermark: none written yet");
        goto out;
    }
    if (resp.status != 200) {
        e = status_error(&resp, "read " AZ_BLOB, err);
        goto out;
    }
    e = dm_watermark_from_json(resp.body.data ? resp.body.data : "", resp.body.len, wm, err);
    if (e != DM_OK) {
        e = dm_error_set(err, DM_ERR_INVALID, "watermark: blob is unreadable: %s",
                         err ? err->message : "invalid JSON");
        goto out;
    }
    if (etag && etag_size && !dm_http_header(&resp, "ETag", etag, etag_size)) {
        e = dm_error_set(err, DM_ERR_REMOTE, "azure: read " AZ_BLOB ": no ETag");
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
        .path = "/" AZ_CONTAINER "/" AZ_BLOB,
        .content_type = "application/json",
        .if_match = expected_etag,
        .if_none_match = expected_etag ? NULL : "*",
        .blob_type = true,
        .body = json,
        .body_len = strlen(json),
    };
    e = az_do(az, &r, &resp, err);
    if (e == DM_OK && resp.status != 201 && resp.status != 200) {
        e = status_error(&resp, "write " AZ_BLOB, err);
        if (resp.status == 409 || resp.status == 412)
            e = dm_error_set(err, DM_ERR_CONFLICT,
                             "watermark: changed since it was read (HTTP %ld)", resp.status);
    }
    dm_http_response_free(&resp);
    free(json);
    return e;
}

static void wipe_free(char *p)
{
    if (p) {
        memset(p, 0, strlen(p));
        free(p);
    }
}

static void az_free(struct dm_watermark_store *s)
{
    struct azure_store *az = s->impl;
    free(az->account);
    if (az->key)
        memset(az->key, 0, az->key_len);
    free(az->key);
    wipe_free(az->sas);
    free(az->endpoint);
    free(az->endpoint_path);
    free(az);
    free(s);
}

static const struct dm_watermark_ops azure_ops = {
    .name = "azure",
    .read = az_read,
    .write = az_write,
    .free = az_free,
};

/* A SAS token is a query string: URL-safe characters only, with a signature and a version. */
static bool sas_valid(const char *sas)
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                             "-._~%&=+/:,";
    if (sas[0] == '\0' || sas[strspn(sas, ok)] != '\0')
        return false;
    return (!strncmp(sas, "sig=", 4) || strstr(sas, "&sig=") != NULL) &&
           (!strncmp(sas, "sv=", 3) || strstr(sas, "&sv=") != NULL);
}

enum dm_err dm_watermark_azure_open(const char *cs, struct dm_watermark_store **out,
                                    struct dm_error *err)
{
    *out = NULL;
    enum dm_err e = DM_OK;
    char *account = NULL, *key = NULL, *endpoint = NULL, *dev = NULL, *proto = NULL, *suffix = NULL,
         *sas = NULL;
    struct azure_store *az = NULL;
    dev = conn_get(cs, "UseDevelopmentStorage");
    sas = conn_get(cs, "SharedAccessSignature");
    if (dev && !strcasecmp(dev, "true")) {
        account = dm_xstrdup(AZ_DEV_ACCOUNT);
        key = dm_xstrdup(AZ_DEV_KEY);
        char *proxy = conn_get(cs, "DevelopmentStorageProxyUri");
        endpoint =
            proxy ? dm_xasprintf("%s/%s", proxy, AZ_DEV_ACCOUNT) : dm_xstrdup(AZ_DEV_ENDPOINT);
        free(proxy);
    } else {
        account = conn_get(cs, "AccountName");
        key = sas ? NULL : conn_get(cs, "AccountKey");
        endpoint = conn_get(cs, "BlobEndpoint");
    }
    if (sas != NULL && (dev == NULL || strcasecmp(dev, "true") != 0)) {
        /* Azure writes the token without its '?'; tolerate one. */
        if (sas[0] == '?')
            memmove(sas, sas + 1, strlen(sas));
        if (!sas_valid(sas)) {
            e = dm_error_set(err, DM_ERR_INVALID,
                             "AZURE_STORAGE_CONNECTION_STRING: SharedAccessSignature is not a SAS "
                             "token (it needs sv and sig parameters, URL characters only)");
            goto out;
        }
        if (endpoint == NULL && account == NULL) {
            e = dm_error_set(err, DM_ERR_INVALID,
                             "AZURE_STORAGE_CONNECTION_STRING: a SharedAccessSignature needs "
                             "BlobEndpoint (or AccountName)");
            goto out;
        }
    } else if (account == NULL || key == NULL) {
        e = dm_error_set(err, DM_ERR_INVALID,
                         "AZURE_STORAGE_CONNECTION_STRING: AccountName and AccountKey (or "
                         "BlobEndpoint and SharedAccessSignature) are required");
        goto out;
    } else {
        free(sas);
        sas = NULL; /* the development account always signs with its key */
    }
    if (endpoint == NULL) {
        proto = conn_get(cs, "DefaultEndpointsProtocol");
        suffix = conn_get(cs, "EndpointSuffix");
        endpoint = dm_xasprintf("%s://%s.blob.%s", proto ? proto : "https", account,
                                suffix ? suffix : "core.windows.net");
    }
    if (strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8)) {
        e = dm_error_set(err, DM_ERR_INVALID,
                         "AZURE_STORAGE_CONNECTION_STRING: BlobEndpoint must be an http(s) URL");
        goto out;
    }
    az = dm_xcalloc(1, sizeof(*az));
    size_t elen = strlen(endpoint);
    while (elen > 0 && endpoint[elen - 1] == '/')
        endpoint[--elen] = '\0';
    if (sas) {
        az->sas = sas;
        sas = NULL;
        az->container_ready = true; /* a container SAS cannot create it: Terraform does */
    } else if (dm_base64_decode(key, &az->key, &az->key_len) != DM_OK) {
        e = dm_error_set(err, DM_ERR_INVALID,
                         "AZURE_STORAGE_CONNECTION_STRING: AccountKey is not base64");
        goto out;
    }
    const char *host = strstr(endpoint, "://") + 3;
    const char *path = strchr(host, '/');
    az->endpoint_path = dm_xstrdup(path ? path : "");
    az->account = account ? account : dm_xstrdup("");
    account = NULL;
    az->endpoint = endpoint;
    endpoint = NULL;
    struct dm_watermark_store *s = dm_xcalloc(1, sizeof(*s));
    s->ops = &azure_ops;
    s->impl = az;
    az = NULL;
    *out = s;
out:
    if (az) {
        free(az->key);
        wipe_free(az->sas);
        free(az->endpoint_path);
        free(az);
    }
    free(account);
    wipe_free(key);
    wipe_free(sas);
    free(endpoint);
    free(dev);
    free(proto);
    free(suffix);
    return e;
}
