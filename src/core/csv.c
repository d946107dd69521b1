/*
 * csv.c - streaming RFC 4180 tokenizer: a byte-at-a-time state machine over one reusable row
 * buffer (see csv.h for the grammar). Every piece of state that a chunk boundary can cut (an
 * open quote, a quote that may be the first of '""', a CR that may be followed by LF, a
 * partly seen byte-order mark) lives in the parser, never in a local variable.
 */
#include "core/csv.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

enum state {
    S_FIELD,       /* at the start of a field */
    S_UNQUOTED,    /* inside an unquoted field */
    S_QUOTED,      /* inside a quoted field */
    S_QUOTE_QUOTE, /* a '"' inside a quoted field: closing, or the first of '""' */
    S_SKIP,        /* an oversized row: skipping to the next physical line end */
};

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

struct dm_csv {
    size_t max_row;
    char *buf; /* fields, each NUL-terminated, back to back */
    size_t len, cap;
    size_t fstart; /* offset of the current field */
    size_t *offs, *lens;
    const char **ptrs;
    size_t nf, fcap;
    enum state st;
    bool in_row;   /* a byte of the current row was consumed */
    bool eol_cr;   /* the last byte was a CR ending a line: a following LF belongs to it */
    bool quote_cr; /* the last byte was a CR inside quotes: a following LF is the same line */
    unsigned bom_seen;
    bool bom_done;
    uint64_t line, row_line, rows;
};

struct dm_csv *dm_csv_new(size_t max_row)
{
    struct dm_csv *p = dm_xcalloc(1, sizeof(*p));
    p->max_row = max_row ? max_row : DM_CSV_DEFAULT_MAX_ROW;
    p->line = 1;
    return p;
}

void dm_csv_free(struct dm_csv *p)
{
    if (p == NULL)
        return;
    free(p->buf);
    free(p->offs);
    free(p->lens);
    free(p->ptrs);
    free(p);
}

static void reset_row(struct dm_csv *p)
{
    p->len = 0;
    p->fstart = 0;
    p->nf = 0;
    p->in_row = false;
}

/* Append one byte to the row; false when the row would pass its bound. */
static bool put(struct dm_csv *p, char c)
{
    if (p->len + 1 > p->max_row)
        return false;
    if (p->len == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        if (cap > p->max_row)
            cap = p->max_row;
        p->buf = dm_xrealloc(p->buf, cap);
        p->cap = cap;
    }
    p->buf[p->len++] = c;
    return true;
}

/* Close the current field (its NUL counts against the bound). */
static bool end_field(struct dm_csv *p)
{
    if (!put(p, '\0'))
        return false;
    if (p->nf == p->fcap) {
        size_t cap = p->fcap ? p->fcap * 2 : 32;
        p->offs = dm_xrealloc(p->offs, cap * sizeof(*p->offs));
        p->lens = dm_xrealloc(p->lens, cap * sizeof(*p->lens));
        p->ptrs = dm_xrealloc(p->ptrs, cap * sizeof(*p->ptrs));
        p->fcap = cap;
    }
    p->offs[p->nf] = p->fstart;
    p->lens[p->nf] = p->len - 1 - p->fstart;
    p->nf++;
    p->fstart = p->len;
    return true;
}

static enum dm_err emit(struct dm_csv *p, dm_csv_row_fn fn, void *ctx, enum dm_err row_err)
{
    struct dm_csv_row row = {.line = p->row_line, .err = row_err};
    if (row_err == DM_OK) {
        /* Pointers are made now: the buffer may have moved while the row grew. */
        for (size_t i = 0; i < p->nf; i++)
            p->ptrs[i] = p->buf + p->offs[i];
        row.nfields = p->nf;
        row.fields = p->ptrs;
        row.lens = p->lens;
    }
    p->rows++;
    reset_row(p);
    return fn(ctx, &row);
}

/* The row passed its bound: report it and skip to the next physical line end. */
static enum dm_err oversize(struct dm_csv *p, dm_csv_row_fn fn, void *ctx)
{
    enum dm_err e = emit(p, fn, ctx, DM_ERR_TOO_LARGE);
    p->st = S_SKIP;
    return e;
}

/* A line end outside quotes (CR, or LF not after a CR). */
static enum dm_err line_end(struct dm_csv *p, char c, dm_csv_row_fn fn, void *ctx)
{
    enum dm_err e = DM_OK;
    if (p->st == S_SKIP) {
        /* the oversized row was reported when it passed the bound */
    } else if (p->in_row) {
        if (end_field(p))
            e = emit(p, fn, ctx, DM_OK);
        else
            e = emit(p, fn, ctx, DM_ERR_TOO_LARGE);
    }
    p->st = S_FIELD;
    p->line++;
    p->eol_cr = c == '\r';
    return e;
}

static enum dm_err step(struct dm_csv *p, char c, dm_csv_row_fn fn, void *ctx)
{
    if (p->eol_cr) {
        p->eol_cr = false;
        if (c == '\n')
            return DM_OK; /* second byte of a CRLF */
    }
    switch (p->st) {
    case S_SKIP:
        if (c == '\r' || c == '\n')
            return line_end(p, c, fn, ctx);
        return DM_OK;
    case S_FIELD:
        if (c == '\r' || c == '\n')
            return line_end(p, c, fn, ctx);
        if (!p->in_row) {
            p->in_row = true;
            p->row_line = p->line;
        }
        if (c == '"') {
            p->st = S_QUOTED;
            return DM_OK;
        }
        if (c == ',')
            return end_field(p) ? DM_OK : oversize(p, fn, ctx);
        p->st = S_UNQUOTED;
        return put(p, c) ? DM_OK : oversize(p, fn, ctx);
    case S_UNQUOTED:
        if (c == '\r' || c == '\n')
            return line_end(p, c, fn, ctx);
        if (c == ',') {
            p->st = S_FIELD;
            return end_field(p) ? DM_OK : oversize(p, fn, ctx);
        }
        return put(p, c) ? DM_OK : oversize(p, fn, ctx);
    case S_QUOTED: {
        if (c == '"') {
            p->st = S_QUOTE_QUOTE;
            p->quote_cr = false;
            return DM_OK;
        }
        /* A quoted line break is part of the field but still a physical line. */
        bool brk = c == '\r' || (c == '\n' && !p->quote_cr);
        if (brk)
            p->line++;
        p->quote_cr = c == '\r';
        if (put(p, c))
            return DM_OK;
        enum dm_err e = oversize(p, fn, ctx);
        if (brk) { /* this break is the line end the skip would wait for */
            p->st = S_FIELD;
            p->eol_cr = c == '\r';
            p->quote_cr = false;
        }
        return e;
    }
    case S_QUOTE_QUOTE:
        if (c == '"') { /* '""': one literal quote, still inside */
            p->st = S_QUOTED;
            p->quote_cr = false;
            return put(p, c) ? DM_OK : oversize(p, fn, ctx);
        }
        if (c == '\r' || c == '\n')
            return line_end(p, c, fn, ctx);
        if (c == ',') {
            p->st = S_FIELD;
            return end_field(p) ? DM_OK : oversize(p, fn, ctx);
        }
        /* Bytes after the closing quote are kept (lenient, as common readers are). */
        p->st = S_UNQUOTED;
        return put(p, c) ? DM_OK : oversize(p, fn, ctx);
    }
    return DM_ERR_INTERNAL;
}

enum dm_err dm_csv_feed(struct dm_csv *p, const char *data, size_t len, dm_csv_row_fn fn, void *ctx)
{
    size_t i = 0;
    while (!p->bom_done && i < len) {
        if ((unsigned char)data[i] == BOM[p->bom_seen]) {
            i++;
            if (++p->bom_seen == sizeof(BOM))
                p->bom_done = true;
            continue;
        }
        /* Not a byte-order mark after all: the bytes held back are data. */
        p->bom_done = true;
        for (unsigned k = 0; k < p->bom_seen && k < sizeof(BOM); k++) {
            enum dm_err e = step(p, (char)BOM[k], fn, ctx);
            if (e != DM_OK)
                return e;
        }
    }
    for (; i < len; i++) {
        enum dm_err e = step(p, data[i], fn, ctx);
        if (e != DM_OK)
            return e;
    }
    return DM_OK;
}

enum dm_err dm_csv_finish(struct dm_csv *p, dm_csv_row_fn fn, void *ctx, struct dm_csv_end *end)
{
    enum dm_err e = DM_OK;
    if (!p->bom_done) {
        p->bom_done = true;
        for (unsigned k = 0; k < p->bom_seen && k < sizeof(BOM) && e == DM_OK; k++)
            e = step(p, (char)BOM[k], fn, ctx);
    }
    bool unterminated = false, open_quote = false;
    if (e == DM_OK) {
        if (p->st == S_SKIP) {
            unterminated = true;
        } else if (p->in_row) {
            unterminated = true;
            open_quote = p->st == S_QUOTED;
            e = end_field(p) ? emit(p, fn, ctx, DM_OK) : emit(p, fn, ctx, DM_ERR_TOO_LARGE);
        }
        p->st = S_FIELD;
    }
    if (end != NULL) {
        end->unterminated = unterminated;
        end->open_quote = open_quote;
        end->lines = p->line - 1 + (unterminated ? 1 : 0);
        end->rows = p->rows;
    }
    return e;
}
