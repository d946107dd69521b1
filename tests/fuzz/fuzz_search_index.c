/*
 * fuzz_search_index.c - libFuzzer driver for the in-memory search index: the input is a raw
 * query string, percent-decoded and parsed like GET /api/v2/diamonds; every query the parser
 * accepts is answered by the index (search with facets, and facets alone) over a fixed
 * catalogue with nasty values that has also been through a batch of changes, and compared with
 * the brute-force reference (search_ref.h). A difference, a crash or a leak is a finding.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "query_args.h"
#include "search_ref.h"

static struct ref_cat cat;
static struct dm_search_index *ix;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ix == NULL) {
        ref_init(&cat, 20261206, 1500);
        ix = dm_search_index_new();
        ref_build(&cat, ix);
        ref_churn(&cat, ix, 200);
    }
    if (size > 4096)
        return 0;
    char *buf = NULL;
    struct dm_search_query q;
    if (query_parse(data, size, &q, &buf) == DM_OK) {
        struct dm_search_index_view *v = dm_search_index_acquire(ix);
        struct dm_buf out;
        dm_buf_init(&out, 64 * 1024 * 1024);
        if (dm_search_index_search(v, &q, true, &out) != DM_OK ||
            dm_buf_append_char(&out, '\0') != DM_OK)
            abort();
        const char *why = ref_check(&cat, &q, out.data);
        if (why) {
            fprintf(stderr, "search differs from the reference: %s\n", why);
            abort();
        }
        dm_buf_reset(&out);
        if (dm_search_index_facets(v, &q, &out) != DM_OK || dm_buf_append_char(&out, '\0') != DM_OK)
            abort();
        json_t *j = json_loads(out.data, 0, NULL);
        if (j == NULL)
            abort();
        static const char *const names[] = {"shape",  "color",    "clarity",      "cut",
                                            "polish", "symmetry", "fluorescence", "availability",
                                            "feed",   "labGrown"};
        for (int d = 0; d < 10; d++) {
            why = ref_check_facet(&cat, &q, json_object_get(json_object_get(j, "facets"), names[d]),
                                  d);
            if (why) {
                fprintf(stderr, "facets differ from the reference: %s\n", why);
                abort();
            }
        }
        json_decref(j);
        dm_buf_free(&out);
        dm_search_index_release(v);
    }
    free(buf);
    return 0;
}
