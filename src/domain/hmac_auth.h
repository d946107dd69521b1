/*
 * hmac_auth.h - HMAC request signing (api.md "Authentication"), pure: no I/O, no clock.
 *
 * Canonical string: METHOD "\n" TARGET "\n" TIMESTAMP "\n" hex(SHA-256(body)), where TARGET is
 * the request target exactly as sent (path and query), TIMESTAMP the X-Timestamp header
 * (decimal Unix seconds, digits only). X-Signature is the lower-case hex HMAC-SHA256 of the
 * canonical string under the client's secret. Verification: all three headers present, the
 * timestamp within ±DM_HMAC_TOLERANCE_S of now, the signature 64 lower-case hex digits and
 * equal (constant time) to the expected one. Replay detection (a signature seen before inside
 * the window) needs storage and lives in the API service.
 *
 * HMAC_SECRETS: a JSON object client id -> client, parsed once at start-up. A client is either
 * its secret (a non-empty string; permissions DM_HMAC_PERM_DEFAULT) or an object
 * {"secret": "...", "permissions": ["read", "trade", "admin"]} (permissions optional, default
 * read + trade; when given, a non-empty list of those names). Nothing else is accepted.
 */
#ifndef DM_DOMAIN_HMAC_AUTH_H
#define DM_DOMAIN_HMAC_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/error.h"

#define DM_HMAC_TOLERANCE_S 300
#define DM_HMAC_MAX_CLIENTS 64

/* Client permissions; the same bits as the API's api_keys permissions. */
#define DM_HMAC_PERM_READ 1u
#define DM_HMAC_PERM_TRADE 2u
#define DM_HMAC_PERM_ADMIN 4u
#define DM_HMAC_PERM_DEFAULT (DM_HMAC_PERM_READ | DM_HMAC_PERM_TRADE)

enum dm_hmac_result {
    DM_HMAC_OK = 0,
    DM_HMAC_ABSENT,         /* none of the three headers */
    DM_HMAC_INCOMPLETE,     /* one or two of the three headers */
    DM_HMAC_BAD_TIMESTAMP,  /* not decimal digits */
    DM_HMAC_EXPIRED,        /* outside the tolerance */
    DM_HMAC_UNKNOWN_CLIENT, /* no secret for the client id */
    DM_HMAC_BAD_SIGNATURE,  /* not 64 lower-case hex digits */
    DM_HMAC_MISMATCH,       /* well-formed but wrong */
};

/* The three request headers (any may be NULL when absent). */
struct dm_hmac_headers {
    const char *client_id;
    const char *timestamp;
    const char *signature;
};

struct dm_hmac_secret {
    char *client_id;
    char *secret;
    unsigned permissions; /* DM_HMAC_PERM_* bits */
};

/* Parsed HMAC_SECRETS. */
struct dm_hmac_secrets {
    int n;
    struct dm_hmac_secret items[DM_HMAC_MAX_CLIENTS];
};

/* Parse HMAC_SECRETS (NULL or "" gives an empty set). DM_ERR_INVALID with a clear message
 * (starting "HMAC_SECRETS", naming the client id, never a secret) when it is not a JSON object
 * of clients as above, or has too many clients; *out is then empty. */
enum dm_err dm_hmac_secrets_parse(const char *json_text, struct dm_hmac_secrets *out,
                                  struct dm_error *err) DM_MUST_CHECK;
void dm_hmac_secrets_free(struct dm_hmac_secrets *s);
/* Secret for a client id or NULL. */
const char *dm_hmac_secret_for(const struct dm_hmac_secrets *s, const char *client_id);
/* Permissions (DM_HMAC_PERM_* bits) of a client id; 0 for an unknown client. */
unsigned dm_hmac_permissions_for(const struct dm_hmac_secrets *s, const char *client_id);

/* Decimal Unix seconds: 1..12 digits, nothing else (no sign, spaces or fraction). */
enum dm_err dm_hmac_parse_timestamp(const char *s, int64_t *out) DM_MUST_CHECK;

/* Append the canonical string to out. */
enum dm_err dm_hmac_canonical(const char *method, const char *target, const char *timestamp,
                              const void *body, size_t body_len, struct dm_buf *out) DM_MUST_CHECK;

/* Compute the signature (lower-case hex) of a request. */
enum dm_err dm_hmac_sign(const char *secret, const char *method, const char *target,
                         const char *timestamp, const void *body, size_t body_len,
                         char out[DM_SHA256_HEX_LEN]) DM_MUST_CHECK;

/* Verify a request against the secrets at time now_s. On DM_HMAC_OK *client (may be NULL)
 * points at the matching client id inside secrets. */
enum dm_hmac_result dm_hmac_verify(const struct dm_hmac_secrets *secrets,
                                   const struct dm_hmac_headers *h, const char *method,
                                   const char *target, const void *body, size_t body_len,
                                   int64_t now_s, const char **client);

/* Short English reason for a result ("signature mismatch", ...). */
const char *dm_hmac_result_str(enum dm_hmac_result r);

#endif
