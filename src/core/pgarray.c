/* pgarray.c - PostgreSQL array literals (the one encoder; see pgarray.h). */
#include "core/pgarray.h"

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
