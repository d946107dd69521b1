/* pgarray.c - PostgreSQL array literals (the one encoder; see pgarray.h). */
#include "core/pgarray.h"

#include <stdint.h>

enum dm_err dm_pgarray_add(struct dm_buf *b, const char *item)
{
    enum dm_err e = DM_OK;
    if (b->len == 0 || b->data[b->len - 1] != '{')
        e = dm_buf_append_char(b, ',');
    if (e == DM_OK)
        e = dm_buf_append_char(b, '"');
    for (const char *p = item; e == DM_OK && *p; p++) {
        if (*p == '"' || *p == '\\')
            e = dm_buf_append_char(b, '\\');
        if (e == DM_OK)
            e = dm_buf_append_char(b, *p);
    }
    if (e == DM_OK)
        e = dm_buf_append_char(b, '"');
    return e;
}

enum dm_err dm_pgarray_encode(struct dm_buf *b, const char *const *items, size_t n)
{
    enum dm_err e = dm_buf_append_char(b, '{');
    for (size_t i = 0; e == DM_OK && i < n; i++)
        e = dm_pgarray_add(b, items[i]);
    if (e == DM_OK)
        e = dm_buf_append_char(b, '}');
    return e;
}

#define TEXT_OID 25
#define BIN_HEADER 20

static void put_be32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

enum dm_err dm_pgarray_bin_begin(struct dm_buf *b)
{
    char h[BIN_HEADER];
    put_be32(h, 1);
    put_be32(h + 4, 0);
    put_be32(h + 8, TEXT_OID);
    put_be32(h + 12, 0); /* element count, fixed up by dm_pgarray_bin_end */
    put_be32(h + 16, 1);
    return dm_buf_append(b, h, sizeof(h));
}

enum dm_err dm_pgarray_bin_add(struct dm_buf *b, const char *s, size_t len)
{
    char l[4];
    put_be32(l, (uint32_t)len);
    enum dm_err e = dm_buf_append(b, l, sizeof(l));
    return e == DM_OK ? dm_buf_append(b, s, len) : e;
}

void dm_pgarray_bin_end(struct dm_buf *b, int n)
{
    if (b->data == NULL || b->len < BIN_HEADER)
        return;
    if (n == 0) {
        put_be32(b->data, 0); /* zero dimensions: the empty array */
        b->len = 12;
        b->data[b->len] = '\0';
        return;
    }
    put_be32(b->data + 12, (uint32_t)n);
}
