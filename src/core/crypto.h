/*
 * crypto.h - hashing, MACs, randomness and encodings over OpenSSL libcrypto: SHA-256,
 * HMAC-SHA256, constant-time comparison, UUID v4, random URL-safe tokens, base64 and
 * percent-encoding (for SAS tokens and Shared Key signatures). All functions are thread-safe.
 */
#ifndef DM_CORE_CRYPTO_H
#define DM_CORE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define DM_SHA256_LEN 32
#define DM_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */
#define DM_UUID_LEN 37       /* 36 chars + NUL */

void dm_sha256(const void *data, size_t len, uint8_t out[DM_SHA256_LEN]);
/* Lower-case hex SHA-256 of data. */
void dm_sha256_hex(const void *data, size_t len, char out[DM_SHA256_HEX_LEN]);
void dm_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                    uint8_t out[DM_SHA256_LEN]);
void dm_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                        char out[DM_SHA256_HEX_LEN]);
/* Lower-case hex encoding of n bytes into out (2n+1 bytes). */
void dm_hex_encode(const uint8_t *in, size_t n, char *out);
/* Constant-time equality of two byte strings (lengths compared first, in public). */
bool dm_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Cryptographically random bytes; aborts if the system RNG fails. */
void dm_random_bytes(void *out, size_t n);
/* Random uint64 in [0, bound). bound > 0. */
uint64_t dm_random_below(uint64_t bound);
/* The canonical lower-case 8-4-4-4-12 text of 16 bytes (version/variant bits as given). */
void dm_uuid_format(const uint8_t b[16], char out[DM_UUID_LEN]);
/* New random UUID v4, lower-case. */
void dm_uuid_v4(char out[DM_UUID_LEN]);
/* A time-ordered UUID (version 7 layout: 48-bit Unix milliseconds ms, then the 10 bytes rnd
 * with the version and variant bits set): new keys land at the right edge of a B-tree. */
void dm_uuid_v7(int64_t ms, const uint8_t rnd[10], char out[DM_UUID_LEN]);
/* True if s is a canonical UUID (8-4-4-4-12 hex, any case). */
bool dm_uuid_valid(const char *s);
/* Random token of n characters from A-Za-z0-9_- (n < size). */
void dm_random_token(char *out, size_t n);

/* Base64 (standard alphabet, padded). Returns malloc'd NUL-terminated string. */
char *dm_base64_encode(const void *data, size_t len);
/* Decode standard base64; *out malloc'd. DM_ERR_INVALID on bad input. */
enum dm_err dm_base64_decode(const char *s, uint8_t **out, size_t *out_len) DM_MUST_CHECK;
/* RFC 3986 percent-encoding of every byte outside A-Za-z0-9-._~. malloc'd result. */
char *dm_url_encode(const char *s);

#endif
