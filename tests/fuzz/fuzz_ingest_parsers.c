/* fuzz_ingest_parsers.c - libFuzzer driver for the ingestion parsers of outside bytes: the
 * watermark JSON (file or blob content), cron expressions (configuration), and the fast JSON
 * serialiser over any parsable JSON (its output must parse back to an equal value). Any input
 * gives DM_OK or a clean error, never a crash. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "adapters/watermark/watermark.h"
#include "core/buf.h"
#include "domain/cron.h"
#include "core/jsonwrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size);
    struct dm_watermark wm;
    struct dm_error err;
    if (dm_watermark_from_json(s, size, &wm, &err) == DM_OK) {
        char *back = dm_watermark_to_json(&wm);
        struct dm_watermark wm2;
        if (dm_watermark_from_json(back, strlen(back), &wm2, &err) != DM_OK ||
            wm2.last_updated_at_ms != wm.last_updated_at_ms)
            abort();
        free(back);
    }
    struct dm_cron c;
    if (dm_cron_parse(s, &c, &err) == DM_OK) {
        int64_t next;
        if (dm_cron_next(&c, 1764400000000LL, &next) == DM_OK && !dm_cron_matches(&c, next))
            abort();
    }
    json_error_t je;
    json_t *j = json_loadb(s, size, JSON_DECODE_ANY, &je);
    if (j) {
        struct dm_buf b;
        dm_buf_init(&b, 1 << 22);
        if (dm_json_write(&b, j) == DM_OK) {
            json_t *back = json_loadb(b.data, b.len, JSON_DECODE_ANY, &je);
            if (back == NULL || !json_equal(j, back))
                abort();
            json_decref(back);
        }
        dm_buf_free(&b);
        json_decref(j);
    }
    free(s);
    return 0;
}
