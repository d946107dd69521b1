/*
 * storage.c - Azure Storage connection strings, Shared Key signatures and SAS requests (see
 * storage.h). Moved here from the watermark backend so the file feed reads blobs with the same
 * code.
 */
#include "adapters/azure/storage.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/crypto.h"

#define AZ_VERSION "2021-08-06"
#define AZ_DEV_ACCOUNT "devstoreaccount1"
#define AZ_DEV_KEY                                                                                 \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define AZ_DEV_ENDPOINT "http://127.0.0.1:10000/devstoreaccount1"

struct dm_azure_storage {
    char *account;
    uint8_t *key; /* account key (Shared Key), or NULL with a SAS */
    size_t key_len;
    char *sas;           /* container SAS query ("sv=...&sig=..."), or NULL with a key */
    char *endpoint;      /* no trailing slash */
    char *endpoint_path; /* path part of the endpoint ("" or "/devstoreaccount1") */
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

void dm_azure_storage_redact(const struct dm_azure_storage *st, char *msg)
{
    if (st == NULL || st->sas == NULL || msg == NULL)
        return;
    const char *secret = st->sas;
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

/* Add one formatted header line; false when it does not fit. */
static bool add_line(struct dm_azure_signed *out, int *n, const char *name, const char *value)
{
    if (*n >= DM_AZURE_MAX_HEADERS)
        return false;
    int w = snprintf(out->lines[*n], sizeof(out->lines[*n]), "%s:%s%s", name, value[0] ? " " : "",
                     value);
    if (w < 0 || (size_t)w >= sizeof(out->lines[*n]))
        return false;
    out->headers[*n] = out->lines[*n];
    (*n)++;
    out->headers[*n] = NULL;
    return true;
}

/* The header lines every request carries (after Authorization, if any). */
static bool common_lines(struct dm_azure_signed *out, int *n, const struct dm_azure_request *r,
                         const char *date)
{
    /* An empty Content-Type line stops libcurl from adding its form default. */
    bool ok = add_line(out, n, "x-ms-date", date) && add_line(out, n, "x-ms-version", AZ_VERSION) &&
              add_line(out, n, "Content-Type", r->content_type ? r->content_type : "");
    if (ok && r->blob_type)
        ok = add_line(out, n, "x-ms-blob-type", "BlockBlob");
    if (ok && r->if_match)
        ok = add_line(out, n, "If-Match", r->if_match);
    if (ok && r->if_none_match)
        ok = add_line(out, n, "If-None-Match", r->if_none_match);
    if (ok && r->if_modified_since)
        ok = add_line(out, n, "If-Modified-Since", r->if_modified_since);
    return ok;
}

enum dm_err dm_azure_storage_sign(const struct dm_azure_storage *st,
                                  const struct dm_azure_request *r, struct dm_azure_signed *out,
                                  struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    char date[64];
    http_date(date);
    int n = 0;
    if (st->sas) {
        /* The token goes in the query, nothing is signed. */
        out->url = dm_xasprintf("%s%s?%s%s%s", st->endpoint, r->path, r->query ? r->query : "",
                                r->query ? "&" : "", st->sas);
        if (!common_lines(out, &n, r, date)) {
            dm_azure_signed_free(out);
            return dm_error_set(err, DM_ERR_TOO_LARGE, "azure: request headers too long");
        }
        return DM_OK;
    }
    char clen[32] = "";
    if (r->body_len > 0)
        snprintf(clen, sizeof(clen), "%zu", r->body_len);
    /* String to sign: the standard headers in their fixed order, then x-ms-* sorted by name,
     * then the canonicalized resource. */
    struct dm_buf sts, url;
    dm_buf_init(&sts, 8192);
    dm_buf_init(&url, 8192);
    enum dm_err e = dm_buf_appendf(
        &sts, "%s\n\n\n%s\n\n%s\n\n%s\n%s\n%s\n\n\n%sx-ms-date:%s\nx-ms-version:%s\n/%s%s%s",
        r->method, clen, r->content_type ? r->content_type : "",
        r->if_modified_since ? r->if_modified_since : "", r->if_match ? r->if_match : "",
        r->if_none_match ? r->if_none_match : "", r->blob_type ? "x-ms-blob-type:BlockBlob\n" : "",
        date, AZ_VERSION, st->account, st->endpoint_path, r->path);
    if (e == DM_OK && r->query) {
        const char *eq = strchr(r->query, '=');
        if (eq)
            e = dm_buf_appendf(&sts, "\n%.*s:%s", (int)(eq - r->query), r->query, eq + 1);
    }
    if (e == DM_OK)
        e = dm_buf_appendf(&url, "%s%s%s%s", st->endpoint, r->path, r->query ? "?" : "",
                           r->query ? r->query : "");
    if (e != DM_OK) {
        dm_buf_free(&sts);
        dm_buf_free(&url);
        return dm_error_set(err, DM_ERR_TOO_LARGE, "azure: request too large");
    }
    uint8_t mac[DM_SHA256_LEN];
    dm_hmac_sha256(st->key, st->key_len, sts.data, sts.len, mac);
    char *sig = dm_base64_encode(mac, sizeof(mac));
    char auth[300];
    snprintf(auth, sizeof(auth), "SharedKey %s:%s", st->account, sig);
    free(sig);
    dm_buf_free(&sts);
    out->url = dm_buf_steal(&url);
    if (!add_line(out, &n, "Authorization", auth) || !common_lines(out, &n, r, date)) {
        dm_azure_signed_free(out);
        return dm_error_set(err, DM_ERR_TOO_LARGE, "azure: request headers too long");
    }
    return DM_OK;
}

void dm_azure_signed_free(struct dm_azure_signed *out)
{
    if (out == NULL)
        return;
    free(out->url);
    out->url = NULL;
}

const char *dm_azure_storage_endpoint(const struct dm_azure_storage *st)
{
    return st->endpoint;
}

bool dm_azure_storage_uses_sas(const struct dm_azure_storage *st)
{
    return st->sas != NULL;
}

static void wipe_free(char *p)
{
    if (p) {
        memset(p, 0, strlen(p));
        free(p);
    }
}

void dm_azure_storage_free(struct dm_azure_storage *st)
{
    if (st == NULL)
        return;
    free(st->account);
    if (st->key)
        memset(st->key, 0, st->key_len);
    free(st->key);
    wipe_free(st->sas);
    free(st->endpoint);
    free(st->endpoint_path);
    free(st);
}

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

enum dm_err dm_azure_storage_open(const char *cs, struct dm_azure_storage **out,
                                  struct dm_error *err)
{
    *out = NULL;
    enum dm_err e = DM_OK;
    char *account = NULL, *key = NULL, *endpoint = NULL, *dev = NULL, *proto = NULL, *suffix = NULL,
         *sas = NULL;
    struct dm_azure_storage *st = NULL;
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
    if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) {
        e = dm_error_set(err, DM_ERR_INVALID,
                         "AZURE_STORAGE_CONNECTION_STRING: BlobEndpoint must be an http(s) URL");
        goto out;
    }
    st = dm_xcalloc(1, sizeof(*st));
    size_t elen = strlen(endpoint);
    while (elen > 0 && endpoint[elen - 1] == '/')
        endpoint[--elen] = '\0';
    if (sas) {
        st->sas = sas;
        sas = NULL;
    } else if (dm_base64_decode(key, &st->key, &st->key_len) != DM_OK) {
        e = dm_error_set(err, DM_ERR_INVALID,
                         "AZURE_STORAGE_CONNECTION_STRING: AccountKey is not base64");
        goto out;
    }
    const char *host = strstr(endpoint, "://") + 3;
    const char *path = strchr(host, '/');
    st->endpoint_path = dm_xstrdup(path ? path : "");
    st->account = account ? account : dm_xstrdup("");
    account = NULL;
    st->endpoint = endpoint;
    endpoint = NULL;
    *out = st;
    st = NULL;
out:
    dm_azure_storage_free(st);
    free(account);
    wipe_free(key);
    wipe_free(sas);
    free(endpoint);
    free(dev);
    free(proto);
    free(suffix);
    return e;
}
