/* fuzz_nivoda_raw.c - libFuzzer driver for the raw search page scanner (nivoda_raw.c),
 * differential against the regular path: every item the scanner keeps must be valid JSON
 * (numbers beyond jansson's range aside) and every item it refuses must carry a reason and no
 * text; when jansson accepts the same body too, both must report the same items (equal values)
 * and the same ids, and the scanner may refuse only what the regular path refuses too or what
 * is nested deeper than 64 levels or too large. With an item limit, a page over it is refused
 * with nothing allocated. Never a crash, leak or read past the input. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/feed/nivoda.h"
#include "core/json_scan.h"

static bool span_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (a == NULL || b == NULL)
        return a == b;
    return alen == blen && memcmp(a, b, alen) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy of exactly `size` bytes: ASan catches any read past the end. */
    char *body = malloc(size ? size : 1);
    if (size)
        memcpy(body, data, size);
    struct dm_feed_raw_page fast;
    enum dm_err e = dm_nivoda_scan_raw_page(body, size, &fast);
    if (e != DM_OK) {
        if (fast.items != NULL || fast.text != NULL)
            abort();
        free(body);
        return 0;
    }
    /* the limit: a page of n items is refused under a limit of n - 1 and kept under n */
    if (fast.n > 0) {
        struct dm_feed_raw_page lim;
        if (dm_nivoda_scan_raw_page_limit(body, size, fast.n - 1, &lim) != DM_ERR_TOO_LARGE ||
            lim.items != NULL || lim.text != NULL)
            abort();
        if (dm_nivoda_scan_raw_page_limit(body, size, fast.n, &lim) != DM_OK || lim.n != fast.n)
            abort();
        dm_feed_raw_page_free(&lim);
    }
    for (size_t i = 0; i < fast.n; i++) {
        if (fast.items[i].refused != NULL) {
            if (fast.items[i].json != NULL || fast.items[i].refused[0] == '\0')
                abort();
            continue;
        }
        json_error_t je;
        json_t *j = json_loadb(fast.items[i].json, fast.items[i].json_len, JSON_ALLOW_NUL, &je);
        /* JSON has no number range; jansson has (int64, double). The scanner keeps such a
         * number (PostgreSQL's json stores it; mapping then fails that one stone), so a
         * refusal for range alone is not a scanner fault: the item must still be an object
         * once integers are read as reals, or fail only for a real's overflow. */
        if (j == NULL && (strstr(je.text, "too big") || strstr(je.text, "overflow"))) {
            j = json_loadb(fast.items[i].json, fast.items[i].json_len,
                           JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
            if (j == NULL && strstr(je.text, "overflow")) {
                /* Beyond a double too: our own tokenizer has no number range. */
                struct dm_jscan js;
                struct dm_error err = {0};
                bool ok =
                    dm_jscan_parse(&js, fast.items[i].json, fast.items[i].json_len, &err) == DM_OK;
                if (ok) {
                    ok = js.ntok > 0 && js.tok[0].type == DM_JOBJ;
                    dm_jscan_free(&js);
                } else {
                    ok = strstr(err.message, "\\u0000") != NULL; /* it refuses what json keeps */
                }
                j = ok ? json_object() : NULL;
            }
        }
        if (!json_is_object(j))
            abort(); /* the scanner produced text that is not a JSON object */
        json_decref(j);
    }
    json_t *d = NULL;
    bool tok = false;
    struct dm_feed_page page = {0};
    if (dm_nivoda_parse_response(200, body, size, &d, &tok, NULL) == DM_OK &&
        dm_nivoda_extract_page(d, &page, NULL) == DM_OK) {
        struct dm_feed_raw_page slow;
        if (dm_nivoda_raw_from_items(page.items, page.total_count, &slow, NULL) == DM_OK) {
            if (slow.n != fast.n)
                abort();
            for (size_t i = 0; i < fast.n; i++) {
                const struct dm_feed_raw_item *a = &fast.items[i], *b = &slow.items[i];
                if (b->refused != NULL && a->refused == NULL)
                    abort(); /* the regular path refuses only what is not an object or too deep */
                if (a->refused != NULL) {
                    if (b->refused == NULL && strstr(a->refused, "deeper than") == NULL &&
                        strstr(a->refused, "too large") == NULL)
                        abort(); /* refused although jansson read the whole body */
                    continue;
                }
                if (!span_eq(a->stone_id, a->stone_id_len, b->stone_id, b->stone_id_len) ||
                    !span_eq(a->offer_id, a->offer_id_len, b->offer_id, b->offer_id_len))
                    abort();
                json_t *ja = json_loadb(a->json, a->json_len, JSON_ALLOW_NUL, NULL);
                json_t *jb = json_loadb(b->json, b->json_len, JSON_ALLOW_NUL, NULL);
                bool same = ja && jb && json_equal(ja, jb);
                json_decref(ja);
                json_decref(jb);
                if (!same)
                    abort();
            }
            dm_feed_raw_page_free(&slow);
        }
        dm_feed_page_free(&page);
    }
    json_decref(d);
    dm_feed_raw_page_free(&fast);
    free(body);
    return 0;
}
