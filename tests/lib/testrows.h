/*
 * testrows.h - supplier file rows for C tests: a header or row written as one string, split
 * into the field arrays the file mapping takes, and a mapping made and bound to a header
 * (domain/file_mapping.h) that fails the test on any error.
 */
#ifndef DM_TESTROWS_H
#define DM_TESTROWS_H

#include <stddef.h>

#include "domain/file_mapping.h"

#define DM_TEST_LINE_MAX 64

/* One line as fields: f[i] (len[i] bytes, NUL-terminated) for i < n, inside copy. */
struct dm_test_line {
    char *copy;
    const char *f[DM_TEST_LINE_MAX];
    size_t len[DM_TEST_LINE_MAX];
    size_t n;
};

/* Split s at '|' when it holds one, else at ',' (no quoting); fails the test beyond
 * DM_TEST_LINE_MAX fields. Release with dm_test_line_free. */
void dm_test_split(struct dm_test_line *l, const char *s);
void dm_test_line_free(struct dm_test_line *l);

/* A mapping from the mapping file text json (NULL: no mapping file); fails the test when it is
 * refused. */
struct dm_file_mapping *dm_test_file_mapping(const char *json);
/* Bind m to header (split as by dm_test_split); fails the test when it is refused. */
void dm_test_file_bind(struct dm_file_mapping *m, const char *header);

/* Map row (split as by dm_test_split) of feed `feed` with dm_file_mapping_row /
 * dm_file_mapping_row_raw (same results and ownership: d, raw, *bad and err as there). */
enum dm_err dm_test_map_row(const struct dm_file_mapping *m, const char *row, const char *feed,
                            struct dm_diamond *d, enum dm_file_field *bad, struct dm_error *err);
enum dm_err dm_test_map_row_raw(const struct dm_file_mapping *m, const char *row, const char *feed,
                                struct dm_diamond *d, struct dm_file_raw *raw,
                                enum dm_file_field *bad, struct dm_error *err);

#endif
