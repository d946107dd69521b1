/*
 * feedfile.h - the feed simulator's file mode, the pure half: a supplier inventory file's
 * canonical columns, one row as CSV (RFC 4180) or JSON lines, the malformed rows the
 * bad-row fault writes, ETags, HTTP dates and conditional-GET evaluation (RFC 9110 §13).
 * No I/O and no locks: fileserve.c streams what this formats.
 *
 * The canonical header (CSV header line; JSON-lines object keys, in this order):
 *   Stock #, Shape, Weight, Color, Clarity, Cut, Polish, Symmetry, Fluorescence Intensity, Lab,
 *   Certificate #, Price Per Carat, Total Price, Measurements, Depth %, Table %, Image, Video,
 *   Availability, Growth Type, Key To Symbols, Comments
 * Unknown or absent values are empty CSV fields / JSON null. CSV lines end with CRLF; fields
 * holding a comma, a double quote, CR or LF are quoted with quotes doubled; no field holds a
 * line break, so line N of the file is the header (N = 1) or row N - 1.
 */
#ifndef DM_FEEDSIM_FEEDFILE_H
#define DM_FEEDSIM_FEEDFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "services/feedsim/inventory.h"

enum dm_feedfile_format {
    DM_FEEDFILE_NONE = 0, /* GraphQL only */
    DM_FEEDFILE_CSV,
    DM_FEEDFILE_JSONL,
};

#define DM_FEEDFILE_NCOLUMNS 22
extern const char *const dm_feedfile_columns[DM_FEEDFILE_NCOLUMNS];

/* "csv" or "jsonl" -> format; DM_ERR_INVALID otherwise. */
enum dm_err dm_feedfile_parse_format(const char *s, enum dm_feedfile_format *out) DM_MUST_CHECK;
/* "/inventory.csv" or "/inventory.jsonl"; "csv" / "jsonl"; the Content-Type. */
const char *dm_feedfile_path(enum dm_feedfile_format f);
const char *dm_feedfile_name(enum dm_feedfile_format f);
const char *dm_feedfile_content_type(enum dm_feedfile_format f);

/* Append the header line (CSV; nothing for JSON lines). */
enum dm_err dm_feedfile_header(enum dm_feedfile_format f, struct dm_buf *out) DM_MUST_CHECK;

/* Bad-row kinds (dm_inv_bad_row): 1 "structure" (CSV: the last three fields missing; JSON
 * lines: the object cut off mid-way, not valid JSON), 2 "weight" (Weight "1.O1"-style, a
 * letter O for a zero), 3 "price" (both prices "POA"). 0 is a good row. */
const char *dm_feedfile_bad_kind_name(int kind);

/* Append row r (with its line ending) in format f, malformed as `bad_kind` says. */
enum dm_err dm_feedfile_row(enum dm_feedfile_format f, const struct dm_inv_row *r, int bad_kind,
                            struct dm_buf *out) DM_MUST_CHECK;

/* Strong ETag ("csv-<16 hex>") of a content hash in a format with a bad-row rate (bad rows
 * change the bytes, so they change the tag). */
void dm_feedfile_etag(enum dm_feedfile_format f, uint64_t content_hash, double bad_rate,
                      char out[48]);

/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") of ms since the epoch, and back (seconds
 * precision; false for anything else, which callers then ignore as RFC 9110 says). */
#define DM_HTTP_DATE_LEN 30
void dm_feedfile_http_date(int64_t ms, char out[DM_HTTP_DATE_LEN]);
bool dm_feedfile_parse_http_date(const char *s, int64_t *ms);

/* Conditional GET: true when the request's If-None-Match (a list of tags, or "*"; weak
 * comparison) matches etag, or, without If-None-Match, when a valid If-Modified-Since is at or
 * after last_modified (seconds precision). Either header may be NULL. */
bool dm_feedfile_not_modified(const char *if_none_match, const char *if_modified_since,
                              const char *etag, int64_t last_modified_ms);

#endif
