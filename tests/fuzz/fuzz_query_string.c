/*
 * fuzz_query_string.c - libFuzzer driver for the diamond search parameters: the input is a raw
 * query string ("k=v&k[]=v..."), percent-decoded like the HTTP server does, then parsed and
 * validated (domain/search_query.h), turned into page and count SQL, and the cursor decoder is
 * fed the raw bytes as well. Nothing may crash, leak or put input text into SQL text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "query_args.h"
#include "adapters/db/search_sql.h"
#include "domain/search_query.h"

/* Every filter value travels as a parameter: the SQL text of the same search with other
 * values in its free-text lists (same counts) must be byte for byte the same. (A substring
 * check gave false alarms: a shape called "limit" is in the text as LIMIT.) */
static void same_text_for_other_values(const struct dm_search_query *q, const char *text)
{
    struct dm_search_query *o = malloc(sizeof(*o));
    memcpy(o, q, sizeof(*o));
    struct dm_sq_list *lists[] = {&o->shape,  &o->color,    &o->clarity,      &o->cut,
                                  &o->polish, &o->symmetry, &o->fluorescence, &o->feed};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        for (int j = 0; j < lists[i]->n; j++)
            memcpy(lists[i]->v[j], "'); DROP TABLE x; --", sizeof("'); DROP TABLE x; --"));
    struct dm_sql s;
    dm_sql_init(&s);
    if (dm_search_build_page_sql(o, &s) != DM_OK || strcmp(s.text.data, text) != 0)
        abort();
    dm_sql_free(&s);
    free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *buf = NULL;
    struct dm_search_query q;
    if (query_parse(data, size, &q, &buf) == DM_OK) {
        struct dm_sql s;
        dm_sql_init(&s);
        if (dm_search_build_page_sql(&q, &s) == DM_OK && s.n > 0)
            same_text_for_other_values(&q, s.text.data);
        dm_sql_free(&s);
        dm_sql_init(&s);
        if (dm_search_build_count_sql(&q, 10000, &s) != DM_OK)
            abort();
        dm_sql_free(&s);
    }
    /* The cursor decoder on the raw input. */
    char *raw = fuzz_text(data, size);
    enum dm_sq_sort so;
    bool desc;
    char key[DM_SQ_KEY_MAX], id[DM_UUID_LEN];
    if (dm_search_cursor_decode(raw, &so, &desc, key, id) == DM_OK) {
        char again[256];
        if (dm_search_cursor_encode(so, desc, key, id, again, sizeof(again)) != DM_OK)
            abort();
    }
    free(raw);
    free(buf);
    return 0;
}
