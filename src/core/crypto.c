/* crypto.c - OpenSSL-backed hashing, MAC, randomness; local encoders. */
#include "core/crypto.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

void dm_sha256(const void *data, size_t len, uint8_t out[DM_SHA256_LEN])
{
    SHA256(data, len, out);
}

void dm_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void dm_sha256_hex(const void *data, size_t len, char out[DM_SHA256_HEX_LEN])
{
    uint8_t md[DM_SHA256_LEN];
    dm_sha256(data, len, md);
    dm_hex_encode(md, DM_SHA256_LEN, out);
}

void dm_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                    uint8_t out[DM_SHA256_LEN])
{
    unsigned int olen = DM_SHA256_LEN;
    static const uint8_t empty = 0;
    if (HMAC(EVP_sha256(), key_len ? key : &empty, (int)key_len, data, len, out, &olen) == NULL)
        abort();
}

void dm_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                        char out[DM_SHA256_HEX_LEN])
{
    uint8_t md[DM_SHA256_LEN];
    dm_hmac_sha256(key, key_len, data, len, md);
    dm_hex_encode(md, DM_SHA256_LEN, out);
}

bool dm_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    if (alen == 0)
        return true;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

void dm_random_bytes(void *out, size_t n)
{
    if (RAND_bytes(out, (int)n) != 1)
        abort();
}

uint64_t dm_random_below(uint64_t bound)
{
    uint64_t x, limit = UINT64_MAX - UINT64_MAX % bound;
    do {
        dm_random_bytes(&x, sizeof(x));
    } while (x >= limit);
    return x % bound;
}

void dm_uuid_format(const uint8_t b[16], char out[DM_UUID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[n++] = '-';
        out[n++] = hex[b[i] >> 4];
        out[n++] = hex[b[i] & 15];
    }
    out[n] = '\0';
}

void dm_uuid_v4(char out[DM_UUID_LEN])
{
    uint8_t b[16];
    dm_random_bytes(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    dm_uuid_format(b, out);
}

void dm_uuid_v7(int64_t ms, const uint8_t rnd[10], char out[DM_UUID_LEN])
{
    uint8_t b[16];
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
    memcpy(b + 6, rnd, 10);
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0f));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    dm_uuid_format(b, out);
}

bool dm_uuid_valid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

void dm_random_token(char *out, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[dm_random_below(64)];
    out[n] = '\0';
}

char *dm_base64_encode(const void *data, size_t len)
{
    size_t outlen = 4 * ((len + 2) / 3) + 1;
    char *out = dm_xmalloc(outlen);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

enum dm_err dm_base64_decode(const char *s, uint8_t **out, size_t *out_len)
{
    size_t n = strlen(s);
    if (n % 4 != 0)
        return DM_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(isalnum((unsigned char)c) || c == '+' || c == '/' || (c == '=' && i >= n - 2)))
            return DM_ERR_INVALID;
    }
    uint8_t *buf = dm_xmalloc(n / 4 * 3 + 1);
    int k = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
    if (k < 0) {
        free(buf);
        return DM_ERR_INVALID;
    }
    size_t pad = (n >= 1 && s[n - 1] == '=') + (n >= 2 && s[n - 2] == '=');
    *out = buf;
    *out_len = (size_t)k - pad;
    return DM_OK;
}

char *dm_url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = dm_xmalloc(3 * n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out[j++] = (char)c;
        } else {
            out[j++] = '%';
            out[j++] = hex[c >> 4];
            out[j++] = hex[c & 15];
        }
    }
    out[j] = '\0';
    return out;
}
