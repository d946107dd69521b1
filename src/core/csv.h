/*
 * csv.h - a streaming RFC 4180 CSV tokenizer. Bytes arrive in chunks of any size (a field, a
 * quoted newline, a CRLF pair or the byte-order mark may span two chunks) and every complete
 * row is handed to a callback with the 1-based physical line number where it starts, so a
 * supplier file of any length is parsed with one reusable row buffer and no allocation per
 * field.
 *
 * Grammar (RFC 4180, read leniently where suppliers' exports are known to differ):
 * - fields separated by ','; rows end at CRLF, LF or a lone CR;
 * - a field that starts with '"' is quoted: it may hold ',', CR, LF and '""' (one quote);
 *   bytes after its closing quote and before the next separator are kept as written
 *   ("ab"c -> abc), a '"' inside an unquoted field is an ordinary byte;
 * - one UTF-8 byte-order mark at the very start of the input is skipped;
 * - a blank line (no bytes between two line ends) is no row; it still counts as a line;
 * - a row longer than max_row bytes (separators included) is reported as a row error
 *   (DM_ERR_TOO_LARGE, no fields) and parsing resumes after the next physical line end, even
 *   one inside quotes: a stray quote costs one bounded row, never the rest of the file.
 * Fields are NUL-terminated copies in the row buffer; lens[] gives their length (a field may
 * hold a NUL byte; callers that need C strings check strlen == len).
 *
 * Pure: no I/O. A parser belongs to one thread at a time.
 */
#ifndef DM_CORE_CSV_H
#define DM_CORE_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Default row bound: far above any real supplier row (a few hundred bytes). */
#define DM_CSV_DEFAULT_MAX_ROW ((size_t)64 * 1024)

struct dm_csv;

/* One row, valid only during the callback. */
struct dm_csv_row {
    uint64_t line;   /* 1-based physical line where the row starts */
    enum dm_err err; /* DM_OK, or DM_ERR_TOO_LARGE: the row was over the bound (no fields) */
    size_t nfields;
    const char *const *fields; /* NUL-terminated */
    const size_t *lens;
};

/* Called for every row (good or oversized) in input order. Anything but DM_OK stops the parse:
 * dm_csv_feed / dm_csv_finish return that code at once. */
typedef enum dm_err (*dm_csv_row_fn)(void *ctx, const struct dm_csv_row *row);

/* A parser whose rows are bounded by max_row bytes (0 = DM_CSV_DEFAULT_MAX_ROW). */
struct dm_csv *dm_csv_new(size_t max_row);
/* NULL is a no-op. */
void dm_csv_free(struct dm_csv *p);

/* Consume len bytes, calling fn for each row completed by them. DM_OK, or the callback's code.
 * After a non-OK return the parser must not be fed again. */
enum dm_err dm_csv_feed(struct dm_csv *p, const char *data, size_t len, dm_csv_row_fn fn,
                        void *ctx) DM_MUST_CHECK;

/* How the input ended, filled by dm_csv_finish. */
struct dm_csv_end {
    bool unterminated; /* the last row had no line end (it was still delivered) */
    bool open_quote;   /* the input ended inside a quoted field (that row was delivered) */
    uint64_t lines;    /* physical lines seen (a final line without a line end counts) */
    uint64_t rows;     /* rows delivered, oversized ones included */
};

/* End of input: deliver a last row that had no line end. end (may be NULL) says how the input
 * ended, so a caller can tell a truncated stream from a clean one. DM_OK or the callback's
 * code. */
enum dm_err dm_csv_finish(struct dm_csv *p, dm_csv_row_fn fn, void *ctx,
                          struct dm_csv_end *end) DM_MUST_CHECK;

#endif
