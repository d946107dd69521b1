/* file_feed.c - the `file` feed type: snapshot reads, no orders, raw items mapped back (see
 * file_feed.h). */
#include "adapters/feed/file_feed.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "domain/file_mapping.h"

struct dm_file_feed {
    char *feed, *url, *azure;
    char *mapping_json; /* the mapping file's text, or NULL */
    size_t mapping_len;
    enum dm_file_format format;
};

/* Read the mapping file at path (at most DM_FILE_MAPPING_MAX_JSON bytes) and check it. */
static enum dm_err read_mapping(const char *path, char **out, size_t *len, struct dm_error *err)
{
    *out = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "mapping file %.200s: %s", path, strerror(errno));
    struct dm_buf b;
    dm_buf_init(&b, DM_FILE_MAPPING_MAX_JSON);
    enum dm_err e = DM_OK;
    char chunk[4096];
    size_t n;
    while (e == DM_OK && (n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        e = dm_buf_append(&b, chunk, n);
    bool failed = ferror(fp) != 0;
    fclose(fp);
    if (e != DM_OK || failed) {
        dm_buf_free(&b);
        return dm_error_set(err, DM_ERR_INVALID, "mapping file %.200s: %s", path,
                            failed ? "read error" : "larger than 64 KiB");
    }
    struct dm_file_mapping *m = NULL;
    struct dm_error merr = {0};
    e = dm_file_mapping_new(b.data ? b.data : "", b.len, &m, &merr);
    dm_file_mapping_free(m);
    if (e != DM_OK) {
        dm_buf_free(&b);
        return dm_error_set(err, DM_ERR_INVALID, "%.200s: %s", path, merr.message);
    }
    *len = b.len;
    *out = dm_buf_steal(&b);
    if (*out == NULL)
        *out = dm_xstrdup("");
    return DM_OK;
}

enum dm_err dm_file_feed_new(const struct dm_file_feed_opts *o, struct dm_file_feed **out,
                             struct dm_error *err)
{
    *out = NULL;
    if (o->feed == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "file feed: no feed id");
    struct dm_file_feed *f = dm_xcalloc(1, sizeof(*f));
    if (o->mapping_path != NULL && o->mapping_path[0] != '\0') {
        enum dm_err e = read_mapping(o->mapping_path, &f->mapping_json, &f->mapping_len, err);
        if (e != DM_OK) {
            free(f);
            return e;
        }
    }
    f->feed = dm_xstrdup(o->feed);
    f->url = o->url && o->url[0] ? dm_xstrdup(o->url) : NULL;
    f->azure = o->azure_connection_string ? dm_xstrdup(o->azure_connection_string) : NULL;
    f->format = o->format;
    *out = f;
    return DM_OK;
}

void dm_file_feed_free(struct dm_file_feed *f)
{
    if (f == NULL)
        return;
    free(f->feed);
    free(f->url);
    free(f->azure);
    free(f->mapping_json);
    free(f);
}

/* ---- reading ----------------------------------------------------------------------------- */

struct reader {
    dm_file_feed_row_fn fn;
    void *ctx;
};

static enum dm_err on_row(void *ctx, struct dm_file_row *row)
{
    struct reader *r = ctx;
    struct dm_file_feed_row out = {.line = row->line,
                                   .stock = row->stock_id ? row->stock_id : "",
                                   .not_carried = row->not_carried};
    if (row->diamond != NULL && row->payload != NULL) {
        out.json = row->payload;
        out.json_len = row->payload_len;
    } else {
        out.refused = row->error ? row->error : "refused";
    }
    return r->fn(r->ctx, &out);
}

enum dm_err dm_file_feed_read(struct dm_file_feed *f, const char *etag, const char *last_modified,
                              int (*should_abort)(void), dm_file_feed_row_fn fn, void *ctx,
                              struct dm_file_result *res, struct dm_error *err)
{
    memset(res, 0, sizeof(*res));
    if (f->url == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "file feed %s has no URL (FEED_<ID>_URL)",
                            f->feed);
    /* A mapping per read: binding the header writes into it. */
    struct dm_file_mapping *m = NULL;
    enum dm_err e = dm_file_mapping_new(f->mapping_json, f->mapping_len, &m, err);
    if (e != DM_OK)
        return e;
    struct dm_file_source_options o = {.url = f->url,
                                       .feed = f->feed,
                                       .format = f->format,
                                       .etag = etag && etag[0] ? etag : NULL,
                                       .last_modified =
                                           last_modified && last_modified[0] ? last_modified : NULL,
                                       .azure_connection_string = f->azure,
                                       .should_abort = should_abort};
    struct reader r = {.fn = fn, .ctx = ctx};
    e = dm_file_source_fetch(&o, m, on_row, &r, res, err);
    dm_file_mapping_free(m);
    return e;
}

enum dm_err dm_file_feed_no_orders(const struct dm_file_feed *f, struct dm_error *err)
{
    return dm_error_set(err, DM_ERR_CONFLICT, "feed %s takes no orders through an API", f->feed);
}

/* ---- mapping stored items ------------------------------------------------------------------ */

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct dm_file_mapping *default_mapping;

static void make_default(void)
{
    if (dm_file_mapping_new(NULL, 0, &default_mapping, NULL) != DM_OK) {
        dm_log(DM_LOG_FATAL, NULL, "file feed: the default column mapping could not be built");
        abort();
    }
}

enum dm_err dm_file_feed_map(const char *feed, const char *text, size_t len, struct dm_diamond *d,
                             struct dm_error *err)
{
    pthread_once(&default_once, make_default);
    return dm_file_mapping_json(default_mapping, text, len, feed, d, NULL, err);
}
