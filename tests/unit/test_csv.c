/* test_csv.c - the streaming CSV tokenizer: every sample is parsed whole, split at every byte
 * offset into two chunks, split into three chunks at every pair of offsets (short samples), and
 * fed one byte at a time; each way must give the same rows, line numbers and end state.
 * Table-driven. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/csv.h"

/* Rows rendered as "LINE:f1|f2|...\n" ("LINE:!" for an oversized row), control bytes escaped. */
static enum dm_err render(void *ctx, const struct dm_csv_row *row)
{
    struct dm_buf *b = ctx;
    assert_int_equal(dm_buf_appendf(b, "%llu:", (unsigned long long)row->line), DM_OK);
    if (row->err != DM_OK) {
        assert_int_equal(row->err, DM_ERR_TOO_LARGE);
        assert_int_equal(row->nfields, 0);
        assert_int_equal(dm_buf_append_str(b, "!\n"), DM_OK);
        return DM_OK;
    }
    for (size_t i = 0; i < row->nfields; i++) {
        if (i > 0)
            assert_int_equal(dm_buf_append_char(b, '|'), DM_OK);
        assert_int_equal(row->fields[i][row->lens[i]], '\0');
        for (size_t k = 0; k < row->lens[i]; k++) {
            char c = row->fields[i][k];
            enum dm_err e = c == '\n'   ? dm_buf_append_str(b, "\\n")
                            : c == '\r' ? dm_buf_append_str(b, "\\r")
                            : c == '\0' ? dm_buf_append_str(b, "\\0")
                                        : dm_buf_append_char(b, c);
            assert_int_equal(e, DM_OK);
        }
    }
    assert_int_equal(dm_buf_append_char(b, '\n'), DM_OK);
    return DM_OK;
}

struct sample {
    const char *name;
    const char *in;
    size_t len; /* 0 = strlen(in) */
    size_t max_row;
    const char *want;
    bool unterminated, open_quote;
    uint64_t lines;
};

static const struct sample SAMPLES[] = {
    {"simple LF", "a,b,c\n1,2,3\n", 0, 0, "1:a|b|c\n2:1|2|3\n", false, false, 2},
    {"CRLF", "a,b\r\n1,2\r\n", 0, 0, "1:a|b\n2:1|2\n", false, false, 2},
    {"lone CR", "a,b\r1,2\r", 0, 0, "1:a|b\n2:1|2\n", false, false, 2},
    {"no final newline", "a,b\n1,2", 0, 0, "1:a|b\n2:1|2\n", true, false, 2},
    {"empty fields", ",a,,\n,\n", 0, 0, "1:|a||\n2:|\n", false, false, 2},
    {"blank lines skipped", "a\n\n\r\nb\n", 0, 0, "1:a\n4:b\n", false, false, 4},
    {"quoted comma", "\"a,b\",c\n", 0, 0, "1:a,b|c\n", false, false, 1},
    {"quoted newline", "\"a\nb\",c\nd\n", 0, 0, "1:a\\nb|c\n3:d\n", false, false, 3},
    {"quoted CRLF", "x,\"a\r\nb\"\r\ny\r\n", 0, 0, "1:x|a\\r\\nb\n3:y\n", false, false, 3},
    {"doubled quotes", "\"say \"\"hi\"\"\",\"\"\"\"\n", 0, 0, "1:say \"hi\"|\"\n", false, false, 1},
    {"empty quoted", "\"\",\"\"\n", 0, 0, "1:|\n", false, false, 1},
    {"quote inside unquoted", "ab\"c,d\n", 0, 0, "1:ab\"c|d\n", false, false, 1},
    {"bytes after closing quote", "\"ab\"c,d\n", 0, 0, "1:abc|d\n", false, false, 1},
    {"BOM", "\xEF\xBB\xBFStock #,Shape\r\nA1,Round\r\n", 0, 0, "1:Stock #|Shape\n2:A1|Round\n",
     false, false, 2},
    {"not a BOM",
     "\xEF\xBB"
     "x,y\n",
     0, 0, "1:\xEF\xBBx|y\n", false, false, 1},
    {"BOM only", "\xEF\xBB\xBF", 0, 0, "", false, false, 0},
    {"partial BOM at end", "\xEF\xBB", 0, 0, "1:\xEF\xBB\n", true, false, 1},
    {"open quote at end", "a,\"bc\nd", 0, 0, "1:a|bc\\nd\n", true, true, 2},
    {"closed quote at end", "a,\"bc\"", 0, 0, "1:a|bc\n", true, false, 1},
    {"embedded NUL", "a\0b,c\n", 6, 0, "1:a\\0b|c\n", false, false, 1},
    {"empty input", "", 0, 0, "", false, false, 0},
    /* Bound 8: "abcdefgh" plus its NUL is 9 bytes. */
    {"oversized row resyncs", "ab,c\nabcdefghij,k\nx,y\n", 0, 8, "1:ab|c\n2:!\n3:x|y\n", false,
     false, 3},
    {"oversize by the closing NUL", "abcdefgh\nx\n", 0, 8, "1:!\n2:x\n", false, false, 2},
    {"exactly at the bound", "abcdefg\nx\n", 0, 8, "1:abcdefg\n2:x\n", false, false, 2},
    {"oversized quoted resyncs at next line", "\"abcdefghij\nk\",z\nx\n", 0, 8,
     "1:!\n2:k\"|z\n3:x\n", false, false, 3},
    {"oversized with CRLF", "abcdefghijk\r\nx\r\n", 0, 8, "1:!\n2:x\n", false, false, 2},
    {"oversized at end", "x\nabcdefghijk", 0, 8, "1:x\n2:!\n", true, false, 2},
    {"many fields over the bound", ",,,,,,,,,,\nx\n", 0, 8, "1:!\n2:x\n", false, false, 2},
};

struct run {
    struct dm_buf out;
    struct dm_csv_end end;
};

/* Parse in the chunks given by cut offsets (sorted, within [0, len]). */
static void parse_cuts(const struct sample *s, size_t len, const size_t *cuts, size_t ncuts,
                       struct run *r)
{
    dm_buf_init(&r->out, 1 << 20);
    assert_int_equal(dm_buf_append_str(&r->out, ""), DM_OK);
    struct dm_csv *p = dm_csv_new(s->max_row);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        /* Each chunk in its own allocation, so reading past it is an ASan error. */
        char *chunk = malloc(to - at + 1);
        memcpy(chunk, s->in + at, to - at);
        assert_int_equal(dm_csv_feed(p, chunk, to - at, render, &r->out), DM_OK);
        free(chunk);
        at = to;
    }
    assert_int_equal(dm_csv_finish(p, render, &r->out, &r->end), DM_OK);
    dm_csv_free(p);
}

static void check(const struct sample *s, struct run *r, const char *how)
{
    if (strcmp(r->out.data, s->want) != 0 || r->end.unterminated != s->unterminated ||
        r->end.open_quote != s->open_quote || r->end.lines != s->lines)
        fail_msg("%s (%s): got\n%s(unterminated %d, open quote %d, lines %llu), want\n%s"
                 "(unterminated %d, open quote %d, lines %llu)",
                 s->name, how, r->out.data, r->end.unterminated, r->end.open_quote,
                 (unsigned long long)r->end.lines, s->want, s->unterminated, s->open_quote,
                 (unsigned long long)s->lines);
    dm_buf_free(&r->out);
}

static void test_samples_every_split(void **state)
{
    for (size_t i = 0; i < sizeof(SAMPLES) / sizeof(SAMPLES[0]); i++) {
        const struct sample *s = &SAMPLES[i];
        size_t len = s->len ? s->len : strlen(s->in);
        struct run r;
        char how[64];
        parse_cuts(s, len, NULL, 0, &r);
        check(s, &r, "whole");
        for (size_t a = 0; a <= len; a++) {
            parse_cuts(s, len, &a, 1, &r);
            snprintf(how, sizeof(how), "split at %zu", a);
            check(s, &r, how);
            for (size_t b = a; b <= len && len <= 40; b++) {
                size_t cuts[2] = {a, b};
                parse_cuts(s, len, cuts, 2, &r);
                snprintf(how, sizeof(how), "split at %zu and %zu", a, b);
                check(s, &r, how);
            }
        }
        size_t *every = malloc((len + 1) * sizeof(*every));
        for (size_t k = 0; k < len; k++)
            every[k] = k + 1;
        parse_cuts(s, len, every, len, &r);
        check(s, &r, "byte by byte");
        free(every);
    }
}

/* A callback that stops the parse after n rows. */
struct stopper {
    int left;
    int seen;
};

static enum dm_err stop_after(void *ctx, const struct dm_csv_row *row)
{
    struct stopper *s = ctx;
    s->seen++;
    return --s->left > 0 ? DM_OK : DM_ERR_SHUTDOWN;
}

static void test_callback_stops(void **state)
{
    struct dm_csv *p = dm_csv_new(0);
    struct stopper st = {.left = 2};
    const char *in = "a\nb\nc\nd\n";
    assert_int_equal(dm_csv_feed(p, in, strlen(in), stop_after, &st), DM_ERR_SHUTDOWN);
    assert_int_equal(st.seen, 2);
    dm_csv_free(p);
    dm_csv_free(NULL);
    /* The last row of finish is subject to the callback too. */
    p = dm_csv_new(0);
    st = (struct stopper){.left = 1};
    assert_int_equal(dm_csv_feed(p, "x", 1, stop_after, &st), DM_OK);
    assert_int_equal(dm_csv_finish(p, stop_after, &st, NULL), DM_ERR_SHUTDOWN);
    assert_int_equal(st.seen, 1);
    dm_csv_free(p);
}

/* Line numbers stay exact across many rows with quoted line breaks, and the buffer is reused. */
static void test_line_numbers_long(void **state)
{
    struct dm_buf in, want;
    dm_buf_init(&in, 1 << 24);
    dm_buf_init(&want, 1 << 24);
    uint64_t line = 1;
    for (int i = 0; i < 20000; i++) {
        if (i % 7 == 0) {
            assert_int_equal(dm_buf_appendf(&in, "%d,\"two\r\nlines\"\r\n", i), DM_OK);
            assert_int_equal(
                dm_buf_appendf(&want, "%llu:%d|two\\r\\nlines\n", (unsigned long long)line, i),
                DM_OK);
            line += 2;
        } else {
            assert_int_equal(dm_buf_appendf(&in, "%d,plain\r\n", i), DM_OK);
            assert_int_equal(dm_buf_appendf(&want, "%llu:%d|plain\n", (unsigned long long)line, i),
                             DM_OK);
            line += 1;
        }
    }
    struct sample s = {.name = "long", .in = in.data, .want = want.data, .lines = line - 1};
    struct run r;
    size_t cuts[64];
    for (size_t k = 0; k < 64; k++)
        cuts[k] = (k + 1) * (in.len / 65) + k % 3;
    parse_cuts(&s, in.len, cuts, 64, &r);
    check(&s, &r, "64 chunks");
    dm_buf_free(&in);
    dm_buf_free(&want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_every_split),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_line_numbers_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
