/*
 * file_source.h - a file feed's snapshot (issue 18), read as a stream: the supplier's whole
 * inventory as CSV or JSON lines at a URL, tokenized (core/csv) and mapped
 * (domain/file_mapping) as the bytes arrive, each row handed to a callback with its line
 * number. Memory stays bounded whatever the file size: the HTTP window
 * (DM_HTTP_STREAM_WINDOW), one row buffer and one mapped row at a time.
 *
 * URLs:
 * - http:// and https:// (any host; TLS verified; redirects are not followed);
 * - an Azure Blob URL (https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB, or any URL under
 *   the BlobEndpoint of azure_connection_string, e.g. Azurite's) is read with the storage
 *   credentials of azure_connection_string (account key or SAS, adapters/azure/storage.h) when
 *   given; a URL carrying its own SAS (…?sv=…&sig=…) is read as is;
 * - file:///absolute/path (or file://localhost/…), percent escapes decoded.
 *
 * Conditional reads: with the previous snapshot's ETag and/or Last-Modified, an unchanged
 * file costs one request that answers 304 (res->not_modified, no rows). For file:// the
 * validators are the file's modification time and size ("mtime-size" as ETag), and an
 * unchanged file is not opened.
 *
 * A snapshot is complete or it is an error: a body shorter than its Content-Length, a
 * connection closed mid-body, a file that changed size while read, a last line without a line
 * end (the format requires one) or a quoted field still open at the end all set
 * res->truncated and return non-OK (DM_ERR_NETWORK / DM_ERR_TIMEOUT for the transfer,
 * DM_ERR_INVALID for the content), even though the rows before were delivered: the caller
 * must never take a truncated file for the full inventory. An empty body (no header, no row)
 * is refused too (DM_ERR_INVALID).
 *
 * A bad row (it does not map, or it is longer than max_row) is delivered with its error and
 * counted, never fatal. The CSV header row is bound first; a header without the required
 * columns fails the whole snapshot (DM_ERR_INVALID).
 *
 * Thread-safety: one fetch per thread; the mapping is bound by the fetch, so it must not be
 * shared by two fetches running at once. Call dm_http_global_init() once at start.
 */
#ifndef DM_ADAPTERS_FEED_FILE_SOURCE_H
#define DM_ADAPTERS_FEED_FILE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "domain/file_mapping.h"
#include "domain/mapping.h"

enum dm_file_format {
    DM_FILE_FORMAT_AUTO,  /* by the URL's extension, then by Content-Type */
    DM_FILE_FORMAT_CSV,   /* .csv, text/csv */
    DM_FILE_FORMAT_JSONL, /* .jsonl, .ndjson, application/x-ndjson, application/jsonl */
};

/* Parse "csv", "jsonl" (also "ndjson") or "auto"/"" (any case). DM_ERR_INVALID otherwise. */
enum dm_err dm_file_format_parse(const char *s, enum dm_file_format *out) DM_MUST_CHECK;

struct dm_file_source_options {
    const char *url;
    const char *feed; /* feed id, becomes diamond->feed (must outlive the fetch) */
    enum dm_file_format format;
    const char *etag;                    /* previous snapshot's ETag, or NULL */
    const char *last_modified;           /* previous Last-Modified, or NULL */
    const char *azure_connection_string; /* storage credentials for Blob URLs, or NULL */
    size_t max_row;                      /* row bound in bytes; 0 = DM_CSV_DEFAULT_MAX_ROW */
    uint64_t max_bytes;                  /* body bound; 0 = 4 GiB */
    long connect_timeout_ms;             /* 0 = 10 s */
    long timeout_ms;                     /* whole transfer; 0 = 30 min */
    int (*should_abort)(void);           /* polled while waiting; non-zero: DM_ERR_SHUTDOWN */
};

/* One row as delivered: a mapped diamond, or the reason it was refused. */
struct dm_file_row {
    uint64_t line;                /* 1-based line where the row starts */
    struct dm_diamond *diamond;   /* NULL for a bad row; the callback may move it out (copy the
                                     struct, then zero *diamond); released after the call */
    enum dm_file_field bad_field; /* for a bad row: the field at fault, or DM_FF_NONE */
    const char *error;            /* for a bad row: why (NUL-terminated); NULL otherwise */
    /* The row's raw record (domain/file_mapping.h struct dm_file_raw), valid during the call:
     * a good row's payload (compact JSON, payload_len bytes; NULL for a bad row), the stock id
     * (a good row's as mapped; a bad row's as struct dm_file_raw shows it, "" when unknown)
     * and, for a bad row, whether it was refused only for a shape the catalogue does not
     * carry. */
    const char *payload;
    size_t payload_len;
    const char *stock_id;
    bool not_carried;
};

/* Called for each data row in file order. Anything but DM_OK stops the fetch, which returns
 * that code. */
typedef enum dm_err (*dm_file_row_fn)(void *ctx, struct dm_file_row *row);

struct dm_file_result {
    bool not_modified; /* 304 (or an unchanged file://): no rows were read */
    bool truncated;    /* the snapshot is incomplete (see above) */
    long status;       /* HTTP status, 0 for file:// */
    enum dm_file_format format;
    char etag[256]; /* validators of what was read, "" when none */
    char last_modified[64];
    uint64_t rows;     /* good rows delivered */
    uint64_t bad_rows; /* bad rows delivered */
    uint64_t lines;    /* physical lines read */
    uint64_t bytes;    /* body bytes read */
};

/*
 * Fetch opts->url and deliver its rows to fn. m is bound to the CSV header (and used to map
 * rows). res is filled in every case (counts so far on error). Errors: DM_ERR_INVALID (URL,
 * format, header, content truncation, empty), DM_ERR_NOT_FOUND (404, missing file), the HTTP
 * status classes of dm_http_classify, DM_ERR_NETWORK / DM_ERR_TIMEOUT (transfer),
 * DM_ERR_TOO_LARGE (over max_bytes), DM_ERR_IO (file://), DM_ERR_SHUTDOWN, or fn's code.
 * err says which URL and why, never with a credential.
 */
enum dm_err dm_file_source_fetch(const struct dm_file_source_options *opts,
                                 struct dm_file_mapping *m, dm_file_row_fn fn, void *ctx,
                                 struct dm_file_result *res, struct dm_error *err) DM_MUST_CHECK;

#endif
