/* bench_ingest_page.c - CPU cost (thread CPU time) of the worker's per-page work on one feed
 * response: the regular path (jansson parse, then each item serialised with dm_json_write;
 * json_dumpb for comparison) against the raw path the worker uses (dm_nivoda_scan_raw_page:
 * one validating, compacting pass), and SHA-256 per item. Also counts the items whose raw text
 * is byte-identical to their dm_json_write serialisation (same payload hash on both paths).
 * usage: bench_ingest_page RESPONSE.json [ITERATIONS] -> one JSON line. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/feed/nivoda.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/timeutil.h"
#include "core/jsonwrite.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct dm_buf b;
    dm_buf_init(&b, 64 << 20);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (dm_buf_append(&b, chunk, n) != DM_OK)
            break;
    fclose(f);
    *len = b.len;
    return dm_buf_steal(&b);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int iters = argc > 2 ? atoi(argv[2]) : 200;
    size_t len = 0;
    char *body = slurp(argv[1], &len);
    if (!body)
        return 1;
    int64_t t_parse = 0, t_write = 0, t_dumpb = 0, t_sha = 0, t_raw = 0;
    size_t items = 0, same = 0, raw_items = 0;
    struct dm_buf out;
    dm_buf_init(&out, 1 << 20);
    char *scratch = malloc(1 << 20);
    for (int it = 0; it < iters; it++) {
        struct timespec a, b2;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        json_error_t je;
        json_t *root = json_loadb(body, len, 0, &je);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b2);
        t_parse += (b2.tv_sec - a.tv_sec) * 1000000000LL + (b2.tv_nsec - a.tv_nsec);
        json_t *arr =
            json_object_get(json_object_get(json_object_get(json_object_get(root, "data"), "as"),
                                            "diamonds_by_query"),
                            "items");
        items = json_array_size(arr);
        for (size_t i = 0; i < items; i++) {
            json_t *item = json_array_get(arr, i);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
            dm_buf_reset(&out);
            if (dm_json_write(&out, item) != DM_OK)
                return 1;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b2);
            t_write += (b2.tv_sec - a.tv_sec) * 1000000000LL + (b2.tv_nsec - a.tv_nsec);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
            size_t n = json_dumpb(item, scratch, 1 << 20, JSON_COMPACT);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b2);
            t_dumpb += (b2.tv_sec - a.tv_sec) * 1000000000LL + (b2.tv_nsec - a.tv_nsec);
            (void)n;
            char hex[DM_SHA256_HEX_LEN];
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
            dm_sha256_hex(out.data, out.len, hex);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b2);
            t_sha += (b2.tv_sec - a.tv_sec) * 1000000000LL + (b2.tv_nsec - a.tv_nsec);
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        struct dm_feed_raw_page rp;
        enum dm_err re = dm_nivoda_scan_raw_page(body, len, &rp);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b2);
        t_raw += (b2.tv_sec - a.tv_sec) * 1000000000LL + (b2.tv_nsec - a.tv_nsec);
        if (re == DM_OK && it == 0) {
            raw_items = rp.n;
            for (size_t i = 0; i < rp.n && i < items; i++) {
                dm_buf_reset(&out);
                if (dm_json_write(&out, json_array_get(arr, i)) == DM_OK &&
                    out.len == rp.items[i].json_len &&
                    memcmp(out.data, rp.items[i].json, out.len) == 0)
                    same++;
            }
        }
        dm_feed_raw_page_free(&rp);
        json_decref(root);
    }
    double per = (double)iters * (double)(items ? items : 1);
    printf("{\"page_bytes\":%zu,\"items\":%zu,\"parse_us_per_item\":%.2f,"
           "\"write_us_per_item\":%.2f,\"jansson_dumpb_us_per_item\":%.2f,"
           "\"sha256_us_per_item\":%.2f,\"raw_scan_us_per_item\":%.2f,\"raw_items\":%zu,"
           "\"raw_same_as_json_write\":%zu}\n",
           len, items, t_parse / per / 1000.0, t_write / per / 1000.0, t_dumpb / per / 1000.0,
           t_sha / per / 1000.0, t_raw / per / 1000.0, raw_items, same);
    dm_buf_free(&out);
    free(scratch);
    free(body);
    return 0;
}
