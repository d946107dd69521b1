/* testrows.c - supplier file rows for C tests (see testrows.h). */
#include "testrows.h"

#include <stdlib.h>
#include <string.h>

#include "testlib.h"

void dm_test_split(struct dm_test_line *l, const char *s)
{
    l->copy = strdup(s);
    assert_non_null(l->copy);
    l->n = 0;
    char *p = l->copy;
    char sep = strchr(s, '|') ? '|' : ',';
    for (;;) {
        if (l->n == DM_TEST_LINE_MAX)
            fail_msg("more than %d fields in: %s", DM_TEST_LINE_MAX, s);
        char *c = strchr(p, sep);
        if (c)
            *c = '\0';
        l->f[l->n] = p;
        l->len[l->n] = strlen(p);
        l->n++;
        if (!c)
            break;
        p = c + 1;
    }
}

void dm_test_line_free(struct dm_test_line *l)
{
    free(l->copy);
    l->copy = NULL;
}

struct dm_file_mapping *dm_test_file_mapping(const char *json)
{
    struct dm_file_mapping *m = NULL;
    struct dm_error err = {0};
    if (dm_file_mapping_new(json, json ? strlen(json) : 0, &m, &err) != DM_OK)
        fail_msg("mapping: %s", err.message);
    return m;
}

void dm_test_file_bind(struct dm_file_mapping *m, const char *header)
{
    struct dm_test_line h;
    dm_test_split(&h, header);
    struct dm_error err = {0};
    if (dm_file_mapping_bind_header(m, h.f, h.len, h.n, &err) != DM_OK)
        fail_msg("bind %s: %s", header, err.message);
    dm_test_line_free(&h);
}

enum dm_err dm_test_map_row(const struct dm_file_mapping *m, const char *row, const char *feed,
                            struct dm_diamond *d, enum dm_file_field *bad, struct dm_error *err)
{
    struct dm_test_line r;
    dm_test_split(&r, row);
    enum dm_err e = dm_file_mapping_row(m, r.f, r.len, r.n, feed, d, bad, err);
    dm_test_line_free(&r);
    return e;
}

enum dm_err dm_test_map_row_raw(const struct dm_file_mapping *m, const char *row, const char *feed,
                                struct dm_diamond *d, struct dm_file_raw *raw,
                                enum dm_file_field *bad, struct dm_error *err)
{
    struct dm_test_line r;
    dm_test_split(&r, row);
    enum dm_err e = dm_file_mapping_row_raw(m, r.f, r.len, r.n, feed, d, raw, bad, err);
    dm_test_line_free(&r);
    return e;
}
