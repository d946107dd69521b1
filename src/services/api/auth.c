/*
 * auth.c - authentication of /api/v2 requests: X-API-Key (SHA-256 looked up in api_keys,
 * active and not expired; valid keys cached for a few seconds; last_used_at written in
 * batches) or HMAC signatures (domain/hmac_auth.h) with replay protection in hmac_replay.
 * An invalid key is final: it never falls back to HMAC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/pgarray.h"
#include "core/timeutil.h"
#include "services/api/api.h"

#define KC_SLOTS 512
#define KC_TTL_MS 5000     /* a revoked key stops working within this */
#define KC_REFRESH_MS 4000 /* from this age one request re-reads the key ahead of expiry */
/* From this age the housekeeping thread re-reads a key in use (api_auth_refresh), so requests
 * normally never wait on the database for a known key: a request that does holds its HTTP
 * thread, and every connection that thread serves waits behind it. */
#define KC_BG_REFRESH_MS 2500
/* A key read successfully within this long keeps working while the database is unreachable. */
#define KC_OUTAGE_GRACE_MS ((int64_t)15 * 60 * 1000)
#define KC_BG_BATCH 32

struct key_entry {
    bool set;
    bool used; /* since the last flush */
    char hash[DM_SHA256_HEX_LEN];
    char id[DM_UUID_LEN];
    char name[128];
    unsigned perms;
    int64_t expires_ms; /* 0 = never */
    int64_t fetched_ms;
    int64_t refresh_ms; /* a request or the housekeeper is re-reading the key since then */
    bool hot;           /* used since it was fetched: re-read ahead of expiry in the background */
};

struct api_keycache {
    pthread_mutex_t mu;
    struct key_entry e[KC_SLOTS];
};

struct api_keycache *api_keycache_new(void)
{
    struct api_keycache *kc = dm_xcalloc(1, sizeof(*kc));
    pthread_mutex_init(&kc->mu, NULL);
    return kc;
}

void api_keycache_free(struct api_keycache *kc)
{
    if (kc == NULL)
        return;
    pthread_mutex_destroy(&kc->mu);
    free(kc);
}

static unsigned slot_of(const char *hash)
{
    unsigned h = 0;
    for (int i = 0; i < 8; i++)
        h = h * 16 + (unsigned)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
    return h % KC_SLOTS;
}

static unsigned parse_perms(const char *arr)
{
    /* text[] output: {read,trade} ; empty = all (backward compatible) */
    unsigned p = 0;
    if (arr == NULL)
        return API_PERM_ALL;
    if (strstr(arr, "read"))
        p |= API_PERM_READ;
    if (strstr(arr, "trade"))
        p |= API_PERM_TRADE;
    if (strstr(arr, "admin"))
        p |= API_PERM_ADMIN;
    return p ? p : API_PERM_ALL;
}

static void unauthorized(struct api_call *c, const char *msg)
{
    api_error(c, 401, "UNAUTHORIZED", msg, NULL);
}

/* Read the active key with this hash into *k (fetched_ms = now); *found false when there is
 * none (unknown, inactive or deleted). */
static enum dm_err read_key(struct dm_api *api, const char *hash, int64_t now, struct key_entry *k,
                            bool *found, struct dm_error *err)
{
    const char *p[1] = {hash};
    PGresult *r = NULL;
    enum dm_err rc =
        dm_db_query_prepared(api->db,
                             "SELECT id::text, client_name, permissions::text, "
                             "COALESCE((extract(epoch FROM expires_at) * 1000)::bigint, 0) "
                             "FROM api_keys WHERE key_hash = $1 AND active",
                             1, p, &r, err);
    if (rc != DM_OK)
        return rc;
    memset(k, 0, sizeof(*k));
    *found = PQntuples(r) > 0;
    if (*found) {
        k->set = true;
        snprintf(k->hash, sizeof(k->hash), "%s", hash);
        snprintf(k->id, sizeof(k->id), "%s", PQgetvalue(r, 0, 0));
        snprintf(k->name, sizeof(k->name), "%s", PQgetvalue(r, 0, 1));
        k->perms = parse_perms(PQgetvalue(r, 0, 2));
        k->fetched_ms = now;
        if (dm_db_get_i64(r, 0, 3, &k->expires_ms) != DM_OK)
            rc = dm_db_bad_value(r, 0, 3, "api key", err);
    }
    PQclear(r);
    return rc;
}

static bool key_auth(struct api_call *c, const char *key)
{
    struct dm_api *api = c->api;
    size_t klen = strlen(key);
    if (klen == 0 || klen > 256) {
        unauthorized(c, "Invalid API key");
        return false;
    }
    char hash[DM_SHA256_HEX_LEN];
    dm_sha256_hex(key, klen, hash);
    int64_t now = dm_now_ms();
    unsigned s = slot_of(hash);
    struct key_entry k = {0}, last = {0};
    bool hit = false, refresh = false, known = false;
    pthread_mutex_lock(&api->keys->mu);
    struct key_entry *e = &api->keys->e[s];
    if (e->set && !strcmp(e->hash, hash) && now - e->fetched_ms < KC_OUTAGE_GRACE_MS) {
        last = *e; /* valid when last read: usable while the database is unreachable */
        known = true;
    }
    if (e->set && !strcmp(e->hash, hash) && now - e->fetched_ms < KC_TTL_MS) {
        k = *e;
        hit = true;
        /* Single flight ahead of expiry: one request re-reads the key while the others keep
         * using the entry, so an expiry never sends every connection to the database at once
         * and a revoked key still stops working within KC_TTL_MS. */
        if (now - e->fetched_ms >= KC_REFRESH_MS &&
            (e->refresh_ms == 0 || now - e->refresh_ms >= 2000)) {
            e->refresh_ms = now;
            refresh = true;
        }
    }
    pthread_mutex_unlock(&api->keys->mu);
    if (!hit || refresh) {
        struct dm_error err = {0};
        struct key_entry fresh;
        bool found = false;
        enum dm_err rc = read_key(api, hash, now, &fresh, &found, &err);
        if (rc != DM_OK && !hit && known && (rc == DM_ERR_DB || rc == DM_ERR_DB_RETRY)) {
            /* PostgreSQL is unreachable (nobody can revoke a key meanwhile): a key that was
             * valid when last read keeps working, so searches answered from the in-memory
             * index go on during an outage. Its entry is not renewed. */
            fresh = last;
            found = true;
            hit = true; /* not written back: the entry's age keeps counting */
            rc = DM_OK;
        } else if (rc != DM_OK && !hit) {
            api_fail(c, rc == DM_ERR_DB ? DM_ERR_DB : rc, &err);
            return false;
        }
        if (rc != DM_OK) {
            /* The entry is still valid: keep using it; a later request retries. */
            refresh = false;
        } else if (!found) {
            pthread_mutex_lock(&api->keys->mu);
            e = &api->keys->e[s];
            if (e->set && !strcmp(e->hash, hash))
                memset(e, 0, sizeof(*e)); /* revoked or deleted */
            pthread_mutex_unlock(&api->keys->mu);
            unauthorized(c, "Invalid API key");
            return false;
        } else {
            k = fresh;
        }
    }
    if (k.expires_ms != 0 && k.expires_ms <= now) {
        unauthorized(c, "Invalid API key");
        return false;
    }
    pthread_mutex_lock(&api->keys->mu);
    e = &api->keys->e[s];
    bool same = e->set && !strcmp(e->hash, hash);
    if (!hit || refresh) {
        bool used = same && e->used;
        *e = k; /* fresh row; refresh_ms = 0 */
        e->used = used;
        same = true;
    }
    if (same) {
        e->used = true;
        e->hot = true;
    }
    pthread_mutex_unlock(&api->keys->mu);
    snprintf(c->client, sizeof(c->client), "key:%s", k.name);
    snprintf(c->key_id, sizeof(c->key_id), "%s", k.id);
    snprintf(c->caller, sizeof(c->caller), "key:%s", k.id);
    c->perms = k.perms;
    return true;
}

_Static_assert(DM_HMAC_PERM_READ == API_PERM_READ && DM_HMAC_PERM_TRADE == API_PERM_TRADE &&
                   DM_HMAC_PERM_ADMIN == API_PERM_ADMIN,
               "HMAC client permissions use the api_keys bits");

static bool hmac_auth(struct api_call *c)
{
    struct dm_api *api = c->api;
    struct dm_hmac_headers h = {
        dm_http_req_header(c->req, "X-Client-Id"),
        dm_http_req_header(c->req, "X-Timestamp"),
        dm_http_req_header(c->req, "X-Signature"),
    };
    /* One clock (the database's) decides both whether the timestamp is inside the window and
     * when its replay row may be purged (api_auth_flush): with the API's clock for the first
     * and the database's for the second, an API clock behind the database's let a signature
     * be accepted again once its row had been purged. So the signature is checked here with
     * the window left to the statement below. */
    int64_t ts = 0;
    int64_t now_s = dm_now_ms() / 1000;
    if (h.timestamp && dm_hmac_parse_timestamp(h.timestamp, &ts) == DM_OK)
        now_s = ts;
    const char *client = NULL;
    enum dm_hmac_result r = dm_hmac_verify(&api->hmac, &h, c->req->method, c->req->target,
                                           c->req->body, c->req->body_len, now_s, &client);
    if (r == DM_HMAC_ABSENT) {
        unauthorized(c, "Invalid or missing authentication");
        return false;
    }
    if (r != DM_HMAC_OK) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Invalid signature: %s", dm_hmac_result_str(r));
        unauthorized(c, msg);
        return false;
    }
    /* Replay protection: a signature is accepted once while its timestamp is valid; the row
     * lives until the database's clock passes the window's end. */
    char tstext[32], tol[16];
    snprintf(tstext, sizeof(tstext), "%lld", (long long)ts);
    snprintf(tol, sizeof(tol), "%d", DM_HMAC_TOLERANCE_S);
    const char *p[4] = {h.signature, client, tstext, tol};
    PGresult *res = NULL;
    struct dm_error err = {0};
    enum dm_err rc = dm_db_query(
        api->db,
        "WITH clock AS (SELECT abs(extract(epoch FROM now()) - $3::bigint) <= $4::int AS fresh), "
        "ins AS (INSERT INTO hmac_replay (signature, client_id, expires_at) "
        "SELECT $1, $2, to_timestamp($3::bigint + $4::int + 1) FROM clock WHERE fresh "
        "ON CONFLICT (signature) DO NOTHING RETURNING 1) "
        "SELECT (SELECT fresh FROM clock), (SELECT count(*) FROM ins)",
        4, p, &res, &err);
    if (rc != DM_OK) {
        api_fail(c, rc, &err);
        return false;
    }
    bool in_window = PQgetvalue(res, 0, 0)[0] == 't';
    bool fresh = !strcmp(PQgetvalue(res, 0, 1), "1");
    PQclear(res);
    if (!in_window) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Invalid signature: %s", dm_hmac_result_str(DM_HMAC_EXPIRED));
        unauthorized(c, msg);
        return false;
    }
    if (!fresh) {
        unauthorized(c, "Invalid signature: request replayed");
        return false;
    }
    snprintf(c->client, sizeof(c->client), "hmac:%s", client);
    /* HMAC clients are identified by their client id (HMAC_SECRETS keys are unique). */
    snprintf(c->caller, sizeof(c->caller), "hmac:%s", client);
    c->perms = dm_hmac_permissions_for(&api->hmac, client);
    return true;
}

bool api_authenticate(struct api_call *c)
{
    const char *key = dm_http_req_header(c->req, "X-API-Key");
    if (key != NULL)
        return key_auth(c, key);
    return hmac_auth(c);
}

bool api_auth_key_known(struct dm_api *api, const char *key)
{
    size_t klen = strlen(key);
    if (klen == 0 || klen > 256)
        return false;
    char hash[DM_SHA256_HEX_LEN];
    dm_sha256_hex(key, klen, hash);
    int64_t now = dm_now_ms();
    pthread_mutex_lock(&api->keys->mu);
    const struct key_entry *e = &api->keys->e[slot_of(hash)];
    bool known = e->set && !strcmp(e->hash, hash) && now - e->fetched_ms < KC_TTL_MS &&
                 (e->expires_ms == 0 || e->expires_ms > now);
    pthread_mutex_unlock(&api->keys->mu);
    return known;
}

void api_auth_refresh(struct dm_api *api)
{
    char due[KC_BG_BATCH][DM_SHA256_HEX_LEN];
    int n = 0;
    int64_t now = dm_now_ms();
    pthread_mutex_lock(&api->keys->mu);
    for (int i = 0; i < KC_SLOTS && n < KC_BG_BATCH; i++) {
        struct key_entry *e = &api->keys->e[i];
        if (!e->set || !e->hot || now - e->fetched_ms < KC_BG_REFRESH_MS ||
            (e->refresh_ms != 0 && now - e->refresh_ms < 2000))
            continue;
        e->refresh_ms = now; /* requests leave it to us meanwhile */
        e->hot = false;      /* a key nobody uses again is left to expire */
        snprintf(due[n++], DM_SHA256_HEX_LEN, "%s", e->hash);
    }
    pthread_mutex_unlock(&api->keys->mu);
    for (int i = 0; i < n; i++) {
        struct key_entry fresh;
        bool found = false;
        struct dm_error err = {0};
        enum dm_err rc = read_key(api, due[i], now, &fresh, &found, &err);
        pthread_mutex_lock(&api->keys->mu);
        struct key_entry *e = &api->keys->e[slot_of(due[i])];
        if (e->set && !strcmp(e->hash, due[i])) {
            if (rc != DM_OK) {
                e->refresh_ms = 0; /* still valid until it expires; retried next round */
            } else if (!found) {
                memset(e, 0, sizeof(*e)); /* revoked or deleted */
            } else {
                fresh.used = e->used;
                fresh.hot = e->hot;
                *e = fresh;
            }
        }
        pthread_mutex_unlock(&api->keys->mu);
        if (rc != DM_OK)
            dm_debug(NULL, "api key refresh failed: %s", err.message);
    }
}

void api_auth_flush(struct dm_api *api)
{
    /* Collect used key ids under the lock, write outside it. */
    struct dm_buf ids;
    dm_buf_init(&ids, (size_t)64 * 1024);
    enum dm_err e = dm_buf_append_char(&ids, '{');
    int n = 0;
    pthread_mutex_lock(&api->keys->mu);
    for (int i = 0; i < KC_SLOTS && e == DM_OK; i++) {
        struct key_entry *k = &api->keys->e[i];
        if (k->set && k->used) {
            k->used = false;
            e = dm_pgarray_add(&ids, k->id);
            n++;
        }
    }
    pthread_mutex_unlock(&api->keys->mu);
    if (e == DM_OK)
        e = dm_buf_append_char(&ids, '}');
    struct dm_error err = {0};
    if (n > 0 && e == DM_OK) {
        const char *p[1] = {ids.data};
        if (dm_db_query(api->db,
                        "UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::uuid[])", 1, p,
                        NULL, &err) != DM_OK)
            dm_warn(NULL, "last_used_at update failed: %s", err.message);
    }
    dm_buf_free(&ids);
    if (dm_db_query(api->db, "DELETE FROM hmac_replay WHERE expires_at < now()", 0, NULL, NULL,
                    &err) != DM_OK)
        dm_debug(NULL, "hmac_replay purge failed: %s", err.message);
}
