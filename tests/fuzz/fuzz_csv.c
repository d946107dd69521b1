/* fuzz_csv.c - libFuzzer driver for the streaming CSV tokenizer and the file-feed row mapping:
 * any bytes must parse without a crash, and parsing them in chunks (sizes taken from the first
 * input byte) must give exactly the rows, line numbers and end state of parsing them whole. The
 * second byte picks the row bound, so the oversize and resync paths are reached by short
 * inputs. The first row is then bound as a header and every later row mapped (a diamond or a
 * clean error, and a mapped diamond must price and serialise); a mapped row's raw record (the
 * payload a file feed stores) must map back to exactly the same diamond, as the consolidator
 * maps it (issue 18). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/csv.h"
#include "domain/file_mapping.h"

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

struct mapper {
    struct dm_file_mapping *m;
    bool bound;
    struct dm_file_raw raw;
};

/* The raw record of d maps back (default column names, as the consolidator) to d itself. */
static void round_trip(struct dm_file_mapping *m, const struct dm_diamond *d,
                       const struct dm_file_raw *raw)
{
    struct dm_diamond back;
    struct dm_buf a, b;
    dm_buf_init(&a, 1u << 20);
    dm_buf_init(&b, 1u << 20);
    if (dm_file_mapping_json(m, raw->payload.data, raw->payload.len, "fuzz", &back, NULL, NULL) !=
        DM_OK)
        abort();
    if (dm_diamond_copy_line(d, &a, NULL) != DM_OK ||
        dm_diamond_copy_line(&back, &b, NULL) != DM_OK || a.len != b.len ||
        memcmp(a.data, b.data, a.len) != 0)
        abort();
    dm_diamond_free(&back);
    dm_buf_free(&a);
    dm_buf_free(&b);
}

static enum dm_err map_row(void *ctx, const struct dm_csv_row *row)
{
    struct mapper *mp = ctx;
    struct dm_error err;
    if (row->err != DM_OK)
        return DM_OK;
    if (!mp->bound) {
        mp->bound =
            dm_file_mapping_bind_header(mp->m, row->fields, row->lens, row->nfields, &err) == DM_OK;
        return mp->bound ? DM_OK : DM_ERR_INVALID;
    }
    struct dm_diamond d;
    enum dm_file_field bad;
    if (dm_file_mapping_row_raw(mp->m, row->fields, row->lens, row->nfields, "fuzz", &d, &mp->raw,
                                &bad, &err) == DM_OK) {
        round_trip(mp->m, &d, &mp->raw);
        struct dm_buf b;
        dm_buf_init(&b, 1u << 20);
        if (dm_mapping_price(&d, NULL, 0, &err) == DM_OK && dm_diamond_copy_line(&d, &b, NULL))
            b.len = 0;
        dm_buf_free(&b);
        dm_diamond_free(&d);
    }
    return DM_OK;
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

    struct mapper mp = {0};
    if (dm_file_mapping_new(NULL, 0, &mp.m, NULL) != DM_OK)
        abort();
    dm_file_raw_init(&mp.raw);
    struct dm_csv *p = dm_csv_new(max_row);
    if (dm_csv_feed(p, (const char *)data, size, map_row, &mp) == DM_OK)
        (void)!dm_csv_finish(p, map_row, &mp, NULL);
    dm_csv_free(p);
    /* The same bytes as one JSON-lines object. */
    struct dm_diamond d;
    if (dm_file_mapping_json_raw(mp.m, (const char *)data, size, "fuzz", &d, &mp.raw, NULL, NULL) ==
        DM_OK) {
        round_trip(mp.m, &d, &mp.raw);
        dm_diamond_free(&d);
    }
    dm_file_raw_free(&mp.raw);
    dm_file_mapping_free(mp.m);
    return 0;
}
