/* fuzz_mapping.c - libFuzzer driver for the consolidator's payload path: any bytes must map to
 * a diamond or a clean error (never a crash), and a mapped diamond must price and serialise. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json_scan.h"
#include "domain/mapping.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Not NUL-terminated on purpose: the scanner must respect the length. */
    char *s = malloc(size ? size : 1);
    memcpy(s, data, size);
    struct dm_diamond d;
    struct dm_error err;
    if (dm_mapping_map_text(s, size, &d, &err) == DM_OK) {
        struct dm_buf b;
        dm_buf_init(&b, 4u << 20);
        if (dm_mapping_price(&d, NULL, 0, &err) == DM_OK)
            (void)!dm_diamond_copy_line(&d, &b, NULL);
        dm_buf_free(&b);
        dm_diamond_free(&d);
    }
    struct dm_jscan js;
    if (dm_jscan_parse(&js, s, size, &err) == DM_OK) {
        for (int i = 0; i < js.ntok; i++) {
            if (js.tok[i].type == DM_JSTR)
                free(dm_jscan_strdup(&js, i, NULL));
            if (js.tok[i].type == DM_JOBJ)
                (void)dm_jscan_get(&js, i, "id");
        }
        dm_jscan_free(&js);
    }
    free(s);
    return 0;
}
