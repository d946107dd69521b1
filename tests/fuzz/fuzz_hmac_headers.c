/*
 * fuzz_hmac_headers.c - libFuzzer driver for HMAC request authentication: the input is split
 * on newlines into X-Client-Id, X-Timestamp, X-Signature, method, target and body (missing
 * parts are absent headers), verified against fixed secrets at a fixed time; HMAC_SECRETS
 * parsing is fed the whole input too. A request signed correctly for its own parts must pass.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "domain/hmac_auth.h"

#define NOW 1764400000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char *buf = fuzz_text(data, size);
    struct dm_hmac_secrets sec;
    struct dm_error err = {0};
    if (dm_hmac_secrets_parse(buf, &sec, &err) == DM_OK)
        dm_hmac_secrets_free(&sec);
    if (dm_hmac_secrets_parse("{\"shop\":\"s3cret\",\"x\":\"y\"}", &sec, &err) != DM_OK)
        abort();
    const char *part[6] = {NULL, NULL, NULL, "GET", "/", ""};
    char *p = buf;
    for (int i = 0; i < 6 && p; i++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        part[i] = p;
        p = nl ? nl + 1 : NULL;
    }
    struct dm_hmac_headers h = {part[0], part[1], part[2]};
    const char *client = NULL;
    enum dm_hmac_result r =
        dm_hmac_verify(&sec, &h, part[3], part[4], part[5], strlen(part[5]), NOW, &client);
    if (r == DM_HMAC_OK && (client == NULL || dm_hmac_secret_for(&sec, client) == NULL))
        abort();
    (void)dm_hmac_result_str(r);
    /* Re-sign with the right secret: must verify when the timestamp is acceptable. */
    if (part[1] && part[0] && dm_hmac_secret_for(&sec, part[0])) {
        char sig[DM_SHA256_HEX_LEN];
        int64_t ts;
        if (dm_hmac_sign(dm_hmac_secret_for(&sec, part[0]), part[3], part[4], part[1], part[5],
                         strlen(part[5]), sig) == DM_OK &&
            dm_hmac_parse_timestamp(part[1], &ts) == DM_OK && ts >= NOW - 300 && ts <= NOW + 300) {
            struct dm_hmac_headers ok = {part[0], part[1], sig};
            if (dm_hmac_verify(&sec, &ok, part[3], part[4], part[5], strlen(part[5]), NOW, NULL) !=
                DM_HMAC_OK)
                abort();
        }
    }
    dm_hmac_secrets_free(&sec);
    free(buf);
    return 0;
}
