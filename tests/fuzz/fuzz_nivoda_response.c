/* fuzz_nivoda_response.c - libFuzzer driver for the Nivoda client's response handling: the
 * first byte picks an HTTP status, the rest is the body; classification and every extractor
 * (token, count, page) must give DM_OK or a clean error, never a crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/feed/nivoda.h"

static const long statuses[] = {200, 200, 200, 200, 201, 400, 401, 403, 404, 408, 429, 500, 503};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    long status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    json_t *d = NULL;
    bool tokerr = false;
    struct dm_error err = {0};
    enum dm_err e = dm_nivoda_parse_response(status, body, len, &d, &tokerr, &err);
    if (e == DM_OK) {
        if (d == NULL || !json_is_object(d))
            abort();
        char tok[512];
        int64_t count;
        struct dm_feed_page page;
        (void)!dm_nivoda_extract_token(d, tok, sizeof(tok), &err);
        (void)!dm_nivoda_extract_count(d, &count, &err);
        if (dm_nivoda_extract_page(d, &page, &err) == DM_OK) {
            if (!json_is_array(page.items))
                abort();
            dm_feed_page_free(&page);
        }
        json_decref(d);
    } else if (d != NULL) {
        abort(); /* no data on failure */
    }
    (void)dm_nivoda_is_token_message(err.message);
    return 0;
}
