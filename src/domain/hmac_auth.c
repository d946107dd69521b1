/* hmac_auth.c - canonical string, signing and verification of HMAC-signed requests. */
#include "domain/hmac_auth.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"

/* One "permissions" list into *out; DM_ERR_INVALID naming the client otherwise. */
static enum dm_err parse_permissions(const char *client, const json_t *list, unsigned *out,
                                     struct dm_error *err)
{
    *out = 0;
    if (!json_is_array(list) || json_array_size(list) == 0)
        return dm_error_set(err, DM_ERR_INVALID,
                            "HMAC_SECRETS: client \"%.64s\": permissions must be a non-empty "
                            "array of \"read\", \"trade\", \"admin\"",
                            client);
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *name = json_string_value(v);
        if (name && !strcmp(name, "read"))
            *out |= DM_HMAC_PERM_READ;
        else if (name && !strcmp(name, "trade"))
            *out |= DM_HMAC_PERM_TRADE;
        else if (name && !strcmp(name, "admin"))
            *out |= DM_HMAC_PERM_ADMIN;
        else
            return dm_error_set(err, DM_ERR_INVALID,
                                "HMAC_SECRETS: client \"%.64s\": unknown permission (allowed: "
                                "read, trade, admin)",
                                client);
    }
    return DM_OK;
}

/* One client value: "secret" or {"secret": "...", "permissions": [...]}. */
static enum dm_err parse_client(const char *client, const json_t *v, const char **secret,
                                unsigned *perms, struct dm_error *err)
{
    *secret = NULL;
    *perms = DM_HMAC_PERM_DEFAULT;
    if (json_is_string(v)) {
        *secret = json_string_value(v);
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (strcmp(k, "secret") && strcmp(k, "permissions"))
                return dm_error_set(err, DM_ERR_INVALID,
                                    "HMAC_SECRETS: client \"%.64s\": unknown member (allowed: "
                                    "secret, permissions)",
                                    client);
        }
        *secret = json_string_value(json_object_get(v, "secret"));
        const json_t *list = json_object_get(v, "permissions");
        if (list && parse_permissions(client, list, perms, err) != DM_OK)
            return DM_ERR_INVALID;
    }
    if (client[0] == '\0' || *secret == NULL || (*secret)[0] == '\0')
        return dm_error_set(err, DM_ERR_INVALID,
                            "HMAC_SECRETS: every client id must map to a non-empty secret string "
                            "or to {\"secret\": \"...\", \"permissions\": [...]}");
    return DM_OK;
}

enum dm_err dm_hmac_secrets_parse(const char *json_text, struct dm_hmac_secrets *out,
                                  struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    if (json_text == NULL || json_text[0] == '\0')
        return DM_OK;
    struct dm_error jerr = {0};
    json_t *j = dm_json_parse(json_text, strlen(json_text), (size_t)64 * 1024, &jerr);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        return dm_error_set(err, DM_ERR_INVALID,
                            "HMAC_SECRETS must be a JSON object mapping client id to secret");
    }
    const char *k;
    json_t *v;
    enum dm_err e = DM_OK;
    json_object_foreach(j, k, v)
    {
        const char *secret = NULL;
        unsigned perms = 0;
        e = parse_client(k, v, &secret, &perms, err);
        if (e != DM_OK)
            break;
        if (out->n >= DM_HMAC_MAX_CLIENTS) {
            e = dm_error_set(err, DM_ERR_INVALID, "HMAC_SECRETS: more than %d clients",
                             DM_HMAC_MAX_CLIENTS);
            break;
        }
        out->items[out->n].client_id = dm_xstrdup(k);
        out->items[out->n].secret = dm_xstrdup(secret);
        out->items[out->n].permissions = perms;
        out->n++;
    }
    json_decref(j);
    if (e != DM_OK)
        dm_hmac_secrets_free(out);
    return e;
}

void dm_hmac_secrets_free(struct dm_hmac_secrets *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->n; i++) {
        free(s->items[i].client_id);
        if (s->items[i].secret) {
            /* Secrets do not linger in freed memory. */
            memset(s->items[i].secret, 0, strlen(s->items[i].secret));
            free(s->items[i].secret);
        }
    }
    s->n = 0;
}

const char *dm_hmac_secret_for(const struct dm_hmac_secrets *s, const char *client_id)
{
    if (s == NULL || client_id == NULL)
        return NULL;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->items[i].client_id, client_id))
            return s->items[i].secret;
    return NULL;
}

unsigned dm_hmac_permissions_for(const struct dm_hmac_secrets *s, const char *client_id)
{
    if (s == NULL || client_id == NULL)
        return 0;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->items[i].client_id, client_id))
            return s->items[i].permissions;
    return 0;
}

enum dm_err dm_hmac_parse_timestamp(const char *s, int64_t *out)
{
    if (s == NULL || s[0] == '\0')
        return DM_ERR_INVALID;
    int64_t v = 0;
    size_t n = 0;
    for (const char *p = s; *p; p++, n++) {
        if (*p < '0' || *p > '9' || n >= 12)
            return DM_ERR_INVALID;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return DM_OK;
}

enum dm_err dm_hmac_canonical(const char *method, const char *target, const char *timestamp,
                              const void *body, size_t body_len, struct dm_buf *out)
{
    char hash[DM_SHA256_HEX_LEN];
    dm_sha256_hex(body ? body : "", body ? body_len : 0, hash);
    return dm_buf_appendf(out, "%s\n%s\n%s\n%s", method, target, timestamp, hash);
}

enum dm_err dm_hmac_sign(const char *secret, const char *method, const char *target,
                         const char *timestamp, const void *body, size_t body_len,
                         char out[DM_SHA256_HEX_LEN])
{
    struct dm_buf b;
    dm_buf_init(&b, (size_t)64 * 1024);
    enum dm_err e = dm_hmac_canonical(method, target, timestamp, body, body_len, &b);
    if (e == DM_OK)
        dm_hmac_sha256_hex(secret, strlen(secret), b.data, b.len, out);
    dm_buf_free(&b);
    return e;
}

static bool lower_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 64 || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return n == 64;
}

enum dm_hmac_result dm_hmac_verify(const struct dm_hmac_secrets *secrets,
                                   const struct dm_hmac_headers *h, const char *method,
                                   const char *target, const void *body, size_t body_len,
                                   int64_t now_s, const char **client)
{
    int present = (h->client_id != NULL) + (h->timestamp != NULL) + (h->signature != NULL);
    if (present == 0)
        return DM_HMAC_ABSENT;
    if (present != 3)
        return DM_HMAC_INCOMPLETE;
    int64_t ts;
    if (dm_hmac_parse_timestamp(h->timestamp, &ts) != DM_OK)
        return DM_HMAC_BAD_TIMESTAMP;
    int64_t skew = now_s - ts;
    if (skew > DM_HMAC_TOLERANCE_S || skew < -DM_HMAC_TOLERANCE_S)
        return DM_HMAC_EXPIRED;
    if (!lower_hex64(h->signature))
        return DM_HMAC_BAD_SIGNATURE;
    const char *secret = NULL;
    const char *id = NULL;
    for (int i = 0; secrets && i < secrets->n; i++) {
        if (!strcmp(secrets->items[i].client_id, h->client_id)) {
            secret = secrets->items[i].secret;
            id = secrets->items[i].client_id;
        }
    }
    if (secret == NULL)
        return DM_HMAC_UNKNOWN_CLIENT;
    char want[DM_SHA256_HEX_LEN];
    if (dm_hmac_sign(secret, method, target, h->timestamp, body, body_len, want) != DM_OK)
        return DM_HMAC_MISMATCH;
    if (!dm_ct_equal(want, 64, h->signature, 64))
        return DM_HMAC_MISMATCH;
    if (client)
        *client = id;
    return DM_HMAC_OK;
}

const char *dm_hmac_result_str(enum dm_hmac_result r)
{
    switch (r) {
    case DM_HMAC_OK:
        return "ok";
    case DM_HMAC_ABSENT:
        return "no signature headers";
    case DM_HMAC_INCOMPLETE:
        return "X-Client-Id, X-Timestamp and X-Signature are all required";
    case DM_HMAC_BAD_TIMESTAMP:
        return "X-Timestamp must be decimal Unix seconds";
    case DM_HMAC_EXPIRED:
        return "X-Timestamp outside the allowed window";
    case DM_HMAC_UNKNOWN_CLIENT:
        return "unknown client";
    case DM_HMAC_BAD_SIGNATURE:
        return "X-Signature must be 64 lower-case hex digits";
    case DM_HMAC_MISMATCH:
        return "signature mismatch";
    }
    return "invalid signature";
}
