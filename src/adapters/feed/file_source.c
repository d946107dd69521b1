/*
 * file_source.c - a file feed's snapshot streamed from http(s)://, an Azure Blob or file://
 * into the CSV tokenizer or the JSON-lines splitter, each row mapped and delivered as it
 * completes (see file_source.h). The transports only move bytes into a sink; the sink owns
 * the format, the header, the row counts and the decision whether the end was clean.
 */
#include "adapters/feed/file_source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapters/azure/storage.h"
#include "adapters/http/stream.h"
#include "core/buf.h"
#include "core/csv.h"
#include "core/text.h"

#define READ_CHUNK ((size_t)64 * 1024)
#define DEFAULT_MAX_BYTES ((uint64_t)4 << 30)
#define DEFAULT_TIMEOUT_MS (30L * 60 * 1000)

enum dm_err dm_file_format_parse(const char *s, enum dm_file_format *out)
{
    if (s == NULL || s[0] == '\0' || !strcasecmp(s, "auto"))
        *out = DM_FILE_FORMAT_AUTO;
    else if (!strcasecmp(s, "csv"))
        *out = DM_FILE_FORMAT_CSV;
    else if (!strcasecmp(s, "jsonl") || !strcasecmp(s, "ndjson"))
        *out = DM_FILE_FORMAT_JSONL;
    else
        return DM_ERR_INVALID;
    return DM_OK;
}

/* ---- the sink: bytes -> rows -> callback ------------------------------------------------ */

struct sink {
    const struct dm_file_source_options *o;
    const char *url; /* o->url without its query (which may hold a SAS token): for messages */
    struct dm_file_mapping *m;
    dm_file_row_fn fn;
    void *ctx;
    struct dm_file_result *res;
    struct dm_error *err;
    size_t max_row;
    /* CSV */
    struct dm_csv *csv;
    bool header_bound;
    bool finishing; /* a row delivered by dm_csv_finish had no line end: not delivered */
    /* JSON lines */
    struct dm_buf line;
    bool skipping; /* the current line passed max_row: dropped up to its end */
    uint64_t line_no, line_start;
    struct dm_file_raw raw; /* the row being delivered */
};

/* Deliver one row; raw says whether s->raw belongs to it (false: a row refused before it was
 * mapped, such as an oversized one). */
static enum dm_err deliver(struct sink *s, uint64_t line, struct dm_diamond *d,
                           enum dm_file_field bad, const char *why, bool raw)
{
    struct dm_file_row row = {.line = line, .diamond = d, .bad_field = bad, .error = why};
    /* A good row's stone id is the mapped one (any length); a bad row's only when shown. */
    row.stock_id = d != NULL ? d->supplier_stone_id : raw ? s->raw.stock_id : "";
    row.not_carried = raw && d == NULL && s->raw.not_carried;
    if (raw && d != NULL) {
        row.payload = s->raw.payload.data;
        row.payload_len = s->raw.payload.len;
    }
    if (d != NULL)
        s->res->rows++;
    else
        s->res->bad_rows++;
    enum dm_err e = s->fn(s->ctx, &row);
    if (d != NULL)
        dm_diamond_free(d); /* a no-op when the callback moved it out */
    if (e != DM_OK)
        dm_error_set(s->err, e, "%s: stopped by the row handler at line %llu", s->url,
                     (unsigned long long)line);
    return e;
}

static enum dm_err csv_row(void *ctx, const struct dm_csv_row *row)
{
    struct sink *s = ctx;
    if (s->finishing)
        return DM_OK; /* the unterminated last row: the end reports it */
    if (!s->header_bound) {
        if (row->err != DM_OK)
            return dm_error_set(s->err, DM_ERR_INVALID, "%s: header row longer than %zu bytes",
                                s->url, s->max_row);
        struct dm_error herr = {0};
        if (dm_file_mapping_bind_header(s->m, row->fields, row->lens, row->nfields, &herr) != DM_OK)
            return dm_error_set(s->err, DM_ERR_INVALID, "%s: line %llu: %s", s->url,
                                (unsigned long long)row->line, herr.message);
        s->header_bound = true;
        return DM_OK;
    }
    if (row->err != DM_OK) {
        char why[96];
        snprintf(why, sizeof(why), "row longer than %zu bytes", s->max_row);
        return deliver(s, row->line, NULL, DM_FF_NONE, why, false);
    }
    struct dm_diamond d;
    struct dm_error rerr = {0};
    enum dm_file_field bad = DM_FF_NONE;
    if (dm_file_mapping_row_raw(s->m, row->fields, row->lens, row->nfields, s->o->feed, &d, &s->raw,
                                &bad, &rerr) != DM_OK)
        return deliver(s, row->line, NULL, bad, rerr.message, true);
    return deliver(s, row->line, &d, DM_FF_NONE, NULL, true);
}

/* One complete JSON line (without its line end). */
static enum dm_err json_line(struct sink *s)
{
    const char *text = s->line.data ? s->line.data : "";
    size_t len = s->line.len;
    if (s->line_start == 1 && len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
        text += 3, len -= 3; /* a byte-order mark */
    if (len > 0 && text[len - 1] == '\r')
        len--;
    size_t k = 0;
    while (k < len && (text[k] == ' ' || text[k] == '\t'))
        k++;
    if (k == len)
        return DM_OK; /* a blank line is no row */
    struct dm_diamond d;
    struct dm_error rerr = {0};
    enum dm_file_field bad = DM_FF_NONE;
    if (dm_file_mapping_json_raw(s->m, text, len, s->o->feed, &d, &s->raw, &bad, &rerr) != DM_OK)
        return deliver(s, s->line_start, NULL, bad, rerr.message, true);
    return deliver(s, s->line_start, &d, DM_FF_NONE, NULL, true);
}

static enum dm_err json_feed(struct sink *s, const char *data, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (s->line.len == 0 && !s->skipping)
            s->line_start = s->line_no + 1;
        if (!s->skipping && dm_buf_append(&s->line, data, take) != DM_OK) {
            s->skipping = true;
            dm_buf_reset(&s->line);
            char why[96];
            snprintf(why, sizeof(why), "row longer than %zu bytes", s->max_row);
            enum dm_err e = deliver(s, s->line_start, NULL, DM_FF_NONE, why, false);
            if (e != DM_OK)
                return e;
        }
        if (nl == NULL)
            return DM_OK;
        s->line_no++;
        enum dm_err e = s->skipping ? DM_OK : json_line(s);
        s->skipping = false;
        dm_buf_reset(&s->line);
        if (e != DM_OK)
            return e;
        data += take + 1;
        len -= take + 1;
    }
    return DM_OK;
}

static enum dm_err sink_feed(struct sink *s, const char *data, size_t len)
{
    s->res->bytes += len;
    if (s->res->format == DM_FILE_FORMAT_CSV)
        return dm_csv_feed(s->csv, data, len, csv_row, s);
    return json_feed(s, data, len);
}

/* The body ended cleanly at the transport level: was the content whole? */
static enum dm_err sink_finish(struct sink *s)
{
    struct dm_file_result *res = s->res;
    if (res->format == DM_FILE_FORMAT_CSV) {
        struct dm_csv_end end;
        s->finishing = true;
        enum dm_err e = dm_csv_finish(s->csv, csv_row, s, &end);
        if (e != DM_OK)
            return e;
        res->lines = end.lines;
        if (end.open_quote || end.unterminated) {
            res->truncated = true;
            return dm_error_set(s->err, DM_ERR_INVALID,
                                end.open_quote ? "%s: truncated: a quoted field is still open at "
                                                 "the end (line %llu)"
                                               : "%s: truncated: the last line (%llu) has no "
                                                 "line end",
                                s->url, (unsigned long long)end.lines);
        }
        if (!s->header_bound)
            return dm_error_set(s->err, DM_ERR_INVALID, "%s: empty file: no header row", s->url);
        return DM_OK;
    }
    res->lines = s->line_no;
    if (s->line.len > 0 || s->skipping) {
        res->lines++;
        res->truncated = true;
        return dm_error_set(s->err, DM_ERR_INVALID,
                            "%s: truncated: the last line (%llu) has no line end", s->url,
                            (unsigned long long)res->lines);
    }
    if (res->bytes == 0)
        return dm_error_set(s->err, DM_ERR_INVALID, "%s: empty file", s->url);
    return DM_OK;
}

/* ---- format and URL helpers --------------------------------------------------------------- */

/* The format named by the URL path's extension, or AUTO. */
static enum dm_file_format format_of_path(const char *url)
{
    size_t n = strcspn(url, "?#");
    static const struct {
        const char *ext;
        enum dm_file_format f;
    } exts[] = {{".csv", DM_FILE_FORMAT_CSV},
                {".jsonl", DM_FILE_FORMAT_JSONL},
                {".ndjson", DM_FILE_FORMAT_JSONL}};
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        size_t k = strlen(exts[i].ext);
        if (n > k && !strncasecmp(url + n - k, exts[i].ext, k))
            return exts[i].f;
    }
    return DM_FILE_FORMAT_AUTO;
}

static enum dm_file_format format_of_type(const char *type)
{
    if (!strncasecmp(type, "text/csv", 8))
        return DM_FILE_FORMAT_CSV;
    if (!strncasecmp(type, "application/x-ndjson", 20) ||
        !strncasecmp(type, "application/jsonl", 17) ||
        !strncasecmp(type, "application/x-jsonlines", 23))
        return DM_FILE_FORMAT_JSONL;
    return DM_FILE_FORMAT_AUTO;
}

/* Value of header name in a raw header block, trimmed, into out; false when absent. */
static bool header_value(const char *block, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = block; *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
            const char *v = p + nl + 1, *e = p + len;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
            snprintf(out, size, "%.*s", (int)(e - v), v);
            return (size_t)(e - v) < size;
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    return false;
}

/* The local path of a file:// URL (percent-decoded, malloc'd), or NULL. */
static char *file_path(const char *url)
{
    const char *p = url + 7;
    if (!strncasecmp(p, "localhost/", 10))
        p += 9;
    if (*p != '/')
        return NULL;
    size_t n = strcspn(p, "?#");
    char *out = dm_xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        int hi = i + 2 < n ? dm_text_hex_digit((unsigned char)p[i + 1]) : -1;
        int lo = i + 2 < n ? dm_text_hex_digit((unsigned char)p[i + 2]) : -1;
        if (p[i] == '%' && hi >= 0 && lo >= 0) {
            char c = (char)(hi * 16 + lo);
            if (c == '\0') {
                free(out);
                return NULL;
            }
            *o++ = c;
            i += 2;
        } else {
            *o++ = p[i];
        }
    }
    *o = '\0';
    return out;
}

/* Remove every copy of what from msg (in place). */
static void cut_all(char *msg, const char *what)
{
    size_t n = strlen(what);
    for (char *p; n > 0 && (p = strstr(msg, what)) != NULL;)
        memmove(p, p + n, strlen(p + n) + 1);
}

static void http_date(time_t t, char *out, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* ---- transports ---------------------------------------------------------------------------- */

static enum dm_err fetch_file(struct sink *s, struct dm_error *err)
{
    const struct dm_file_source_options *o = s->o;
    struct dm_file_result *res = s->res;
    enum dm_err e = DM_OK;
    int fd = -1;
    char *buf = NULL;
    char *path = file_path(o->url);
    if (path == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "%s: not a file:///absolute/path URL", s->url);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        e = dm_error_set(err, errno == ENOENT ? DM_ERR_NOT_FOUND : DM_ERR_IO, "%s: %s", s->url,
                         strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        e = dm_error_set(err, DM_ERR_INVALID, "%s: not a regular file", s->url);
        goto out;
    }
    /* The file's validators: modification time and size stand for an ETag. */
    snprintf(res->etag, sizeof(res->etag), "\"%lld.%09ld-%lld\"", (long long)st.st_mtim.tv_sec,
             (long)st.st_mtim.tv_nsec, (long long)st.st_size);
    http_date(st.st_mtim.tv_sec, res->last_modified, sizeof(res->last_modified));
    if ((o->etag && !strcmp(o->etag, res->etag)) ||
        (o->etag == NULL && o->last_modified && !strcmp(o->last_modified, res->last_modified))) {
        res->not_modified = true;
        goto out;
    }
    uint64_t max = o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES;
    if ((uint64_t)st.st_size > max) {
        e = dm_error_set(err, DM_ERR_TOO_LARGE, "%s: %lld bytes, over the %llu-byte bound", s->url,
                         (long long)st.st_size, (unsigned long long)max);
        goto out;
    }
    buf = dm_xmalloc(READ_CHUNK);
    for (;;) {
        if (o->should_abort && o->should_abort()) {
            e = dm_error_set(err, DM_ERR_SHUTDOWN, "%s: abandoned (shutting down)", s->url);
            goto out;
        }
        ssize_t n = read(fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = dm_error_set(err, DM_ERR_IO, "%s: read: %s", s->url, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (res->bytes + (uint64_t)n > (uint64_t)st.st_size) {
            res->truncated = true; /* growing under us: not the snapshot that was opened */
            e = dm_error_set(err, DM_ERR_INVALID, "%s: the file changed while it was read", s->url);
            goto out;
        }
        e = sink_feed(s, buf, (size_t)n);
        if (e != DM_OK)
            goto out;
    }
    if (res->bytes != (uint64_t)st.st_size) {
        res->truncated = true;
        e = dm_error_set(err, DM_ERR_INVALID,
                         "%s: truncated: %llu of %lld bytes read (the file changed while read)",
                         s->url, (unsigned long long)res->bytes, (long long)st.st_size);
        goto out;
    }
    e = sink_finish(s);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(path);
    return e;
}

/* True when url is a blob under the storage account's endpoint; *path gets its path. */
static bool blob_path(const struct dm_azure_storage *st, const char *url, const char **path)
{
    const char *ep = dm_azure_storage_endpoint(st);
    size_t n = strlen(ep);
    if (strncasecmp(url, ep, n) != 0 || url[n] != '/' || strchr(url + n, '?') != NULL)
        return false;
    *path = url + n;
    return true;
}

static enum dm_err fetch_http(struct sink *s, struct dm_error *err)
{
    const struct dm_file_source_options *o = s->o;
    struct dm_file_result *res = s->res;
    enum dm_err e = DM_OK;
    struct dm_azure_storage *st = NULL;
    struct dm_azure_signed sig = {0};
    struct dm_http_stream *hs = NULL;
    char *buf = NULL;
    char inm[300], ims[100];
    const char *plain[3] = {NULL};
    struct dm_http_request req = {
        .method = "GET",
        .url = o->url,
        .connect_timeout_ms = o->connect_timeout_ms,
        .timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS,
        .max_response = o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES,
    };
    const char *path = NULL;
    if (o->azure_connection_string && o->azure_connection_string[0]) {
        e = dm_azure_storage_open(o->azure_connection_string, &st, err);
        if (e != DM_OK)
            goto out;
    }
    if (st != NULL && blob_path(st, o->url, &path)) {
        struct dm_azure_request ar = {.method = "GET",
                                      .path = path,
                                      .if_none_match = o->etag,
                                      .if_modified_since = o->etag ? NULL : o->last_modified};
        e = dm_azure_storage_sign(st, &ar, &sig, err);
        if (e != DM_OK)
            goto out;
        req.url = sig.url;
        req.headers = sig.headers;
    } else {
        int nh = 0;
        if (o->etag) {
            snprintf(inm, sizeof(inm), "If-None-Match: %s", o->etag);
            plain[nh++] = inm;
        } else if (o->last_modified) {
            snprintf(ims, sizeof(ims), "If-Modified-Since: %s", o->last_modified);
            plain[nh++] = ims;
        }
        req.headers = plain;
    }
    e = dm_http_stream_open(&req, &hs, err);
    if (e != DM_OK)
        goto out;
    if (o->should_abort)
        dm_http_stream_set_abort(hs, o->should_abort);
    res->status = dm_http_stream_status(hs);
    const char *headers = dm_http_stream_headers(hs);
    if (res->status == 304) {
        res->not_modified = true;
        if (o->etag)
            snprintf(res->etag, sizeof(res->etag), "%s", o->etag);
        if (o->last_modified)
            snprintf(res->last_modified, sizeof(res->last_modified), "%s", o->last_modified);
        goto out;
    }
    if (res->status != 200) {
        char code[128] = "";
        header_value(headers, "x-ms-error-code", code, sizeof(code));
        e = dm_http_classify(res->status);
        if (e == DM_OK)
            e = DM_ERR_REJECTED; /* another 2xx (206, 204) is not a whole file */
        dm_error_set(err, e, "%s: HTTP %ld%s%s", s->url, res->status, code[0] ? " " : "", code);
        if (err)
            err->status = (int)res->status;
        goto out;
    }
    if (!header_value(headers, "ETag", res->etag, sizeof(res->etag)))
        res->etag[0] = '\0';
    if (!header_value(headers, "Last-Modified", res->last_modified, sizeof(res->last_modified)))
        res->last_modified[0] = '\0';
    if (res->format == DM_FILE_FORMAT_AUTO) {
        char type[128] = "";
        header_value(headers, "Content-Type", type, sizeof(type));
        res->format = format_of_type(type);
        if (res->format == DM_FILE_FORMAT_AUTO) {
            e = dm_error_set(err, DM_ERR_INVALID,
                             "%s: cannot tell CSV from JSON lines (no .csv/.jsonl extension, "
                             "Content-Type \"%s\"): set the format",
                             s->url, type);
            goto out;
        }
        if (res->format == DM_FILE_FORMAT_CSV)
            s->csv = dm_csv_new(s->max_row);
    }
    int64_t length = dm_http_stream_length(hs);
    buf = dm_xmalloc(READ_CHUNK);
    for (;;) {
        ssize_t n = dm_http_stream_read(hs, buf, READ_CHUNK, err);
        if (n < 0) {
            res->truncated = true; /* the connection failed mid-body */
            e = err ? err->code : DM_ERR_NETWORK;
            goto out;
        }
        if (n == 0)
            break;
        e = sink_feed(s, buf, (size_t)n);
        if (e != DM_OK)
            goto out;
    }
    if (length >= 0 && res->bytes != (uint64_t)length) {
        res->truncated = true;
        e = dm_error_set(err, DM_ERR_NETWORK, "%s: truncated: %llu of %lld bytes", s->url,
                         (unsigned long long)res->bytes, (long long)length);
        goto out;
    }
    e = sink_finish(s);
out:
    if (err && st)
        dm_azure_storage_redact(st, err->message);
    dm_http_stream_close(hs);
    dm_azure_signed_free(&sig);
    dm_azure_storage_free(st);
    free(buf);
    return e;
}

enum dm_err dm_file_source_fetch(const struct dm_file_source_options *o, struct dm_file_mapping *m,
                                 dm_file_row_fn fn, void *ctx, struct dm_file_result *res,
                                 struct dm_error *err)
{
    memset(res, 0, sizeof(*res));
    if (o->url == NULL || o->feed == NULL || m == NULL || fn == NULL)
        return dm_error_set(err, DM_ERR_INVALID,
                            "file source: url, feed, mapping and row "
                            "handler are required");
    char *shown = dm_xstrndup(o->url, strcspn(o->url, "?#"));
    struct sink s = {.o = o, .url = shown, .m = m, .fn = fn, .ctx = ctx, .res = res, .err = err};
    s.max_row = o->max_row ? o->max_row : DM_CSV_DEFAULT_MAX_ROW;
    dm_buf_init(&s.line, s.max_row);
    dm_file_raw_init(&s.raw);
    res->format = o->format != DM_FILE_FORMAT_AUTO ? o->format : format_of_path(o->url);
    if (res->format == DM_FILE_FORMAT_CSV)
        s.csv = dm_csv_new(s.max_row);
    enum dm_err e;
    if (!strncasecmp(o->url, "file://", 7)) {
        if (res->format == DM_FILE_FORMAT_AUTO)
            e = dm_error_set(err, DM_ERR_INVALID,
                             "%s: cannot tell CSV from JSON lines (no .csv/.jsonl extension): "
                             "set the format",
                             s.url);
        else
            e = fetch_file(&s, err);
    } else if (!strncasecmp(o->url, "http://", 7) || !strncasecmp(o->url, "https://", 8)) {
        e = fetch_http(&s, err);
    } else {
        e = dm_error_set(err, DM_ERR_INVALID, "%s: not an http(s):// or file:// URL", s.url);
    }
    /* The HTTP client's messages quote the whole URL: its query may be a SAS token. */
    const char *query = o->url + strlen(shown);
    if (e != DM_OK && err && *query)
        cut_all(err->message, query);
    free(shown);
    dm_csv_free(s.csv);
    dm_buf_free(&s.line);
    dm_file_raw_free(&s.raw);
    return e;
}
