/* fuzz_csv.c - libFuzzer driver for the streaming CSV tokenizer: any bytes must parse without a
 * crash, and parsing them in chunks (sizes taken from the first input byte) must give exactly
 * the rows, line numbers and end state of parsing them whole. The second byte picks the row
 * bound, so the oversize and resync paths are reached by short inputs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/csv.h"

static enum dm_err record(void *ctx, const struct dm_csv_row *row)
{
    struct dm_buf *b = ctx;
    if (dm_buf_appendf(b, "%llu:%d:%zu:", (unsigned long long)row->line, (int)row->err,
                       row->nfields) != DM_OK)
        return DM_ERR_TOO_LARGE;
    for (size_t i = 0; i < row->nfields; i++) {
        if (row->fields[i][row->lens[i]] != '\0')
            abort();
        if (dm_buf_appendf(b, "%zu:", row->lens[i]) != DM_OK ||
            dm_buf_append(b, row->fields[i], row->lens[i]) != DM_OK)
            return DM_ERR_TOO_LARGE;
    }
    return dm_buf_append_char(b, '\n');
}

static void parse(const uint8_t *data, size_t size, size_t max_row, size_t chunk,
                  struct dm_buf *out, struct dm_csv_end *end)
{
    struct dm_csv *p = dm_csv_new(max_row);
    enum dm_err e = DM_OK;
    for (size_t at = 0; at < size && e == DM_OK; at += chunk) {
        size_t n = size - at < chunk ? size - at : chunk;
        e = dm_csv_feed(p, (const char *)data + at, n, record, out);
    }
    if (e == DM_OK)
        e = dm_csv_finish(p, record, out, end);
    if (e != DM_OK)
        abort(); /* the output bound is far above what these inputs produce */
    dm_csv_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 65536)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    size_t max_row = (size_t)data[1] * 4 + 1;
    data += 2;
    size -= 2;
    struct dm_buf whole, parts;
    dm_buf_init(&whole, 16u << 20);
    dm_buf_init(&parts, 16u << 20);
    struct dm_csv_end e1 = {0}, e2 = {0};
    parse(data, size, max_row, size ? size : 1, &whole, &e1);
    parse(data, size, max_row, chunk, &parts, &e2);
    if (whole.len != parts.len || (whole.len && memcmp(whole.data, parts.data, whole.len)) ||
        e1.unterminated != e2.unterminated || e1.open_quote != e2.open_quote ||
        e1.lines != e2.lines || e1.rows != e2.rows)
        abort();
    dm_buf_free(&whole);
    dm_buf_free(&parts);
    return 0;
}
