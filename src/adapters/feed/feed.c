/* feed.c - the feed seam (see feed.h): the table of feed types and the calls through it. */
#include "adapters/feed/feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/feed/file_feed.h"
#include "adapters/feed/nivoda.h"
#include "core/buf.h"

/* One feed type: how to open it and what it can do. */
struct feed_type {
    enum dm_feed_type type;
    /* Open from the feed's configuration: DM_ERR_NOT_FOUND when its credentials are not set.
     * conf belongs to cfg and outlives the opened feed. */
    enum dm_err (*open)(const struct dm_config *cfg, const struct dm_feed_conf *conf,
                        unsigned flags, void **impl, struct dm_error *err);
    void (*close)(void *impl);
    enum dm_err (*count)(void *impl, const struct dm_feed_query *q, int64_t *count,
                         struct dm_error *err);
    enum dm_err (*fetch_page)(void *impl, const struct dm_feed_query *q, int64_t offset, int limit,
                              struct dm_feed_raw_page *page, struct dm_error *err);
    enum dm_err (*hold)(void *impl, const char *offer_id, struct dm_feed_hold *out,
                        struct dm_error *err);
    enum dm_err (*order)(void *impl, const struct dm_feed_order_req *req, struct dm_feed_order *out,
                         struct dm_error *err);
    enum dm_err (*map)(const char *text, size_t len, struct dm_diamond *d, struct dm_error *err);
    /* Snapshot feeds only (NULL for paged ones). */
    enum dm_err (*read_snapshot)(void *impl, const struct dm_feed_snapshot_req *req,
                                 dm_feed_row_fn fn, void *ctx, struct dm_feed_snapshot *out,
                                 struct dm_error *err);
};

struct dm_feed {
    const struct feed_type *type;
    const struct dm_feed_conf *conf;
    void *impl;
};

/* ---- Nivoda ---- */

static enum dm_err nivoda_open(const struct dm_config *cfg, const struct dm_feed_conf *conf,
                               unsigned flags, void **impl, struct dm_error *err)
{
    if (conf->url == NULL || conf->username == NULL || conf->password == NULL) {
        if (!strcmp(conf->id, DM_FEED_DEFAULT))
            return dm_error_set(err, DM_ERR_NOT_FOUND,
                                "feed nivoda needs NIVODA_ENDPOINT, NIVODA_USERNAME and "
                                "NIVODA_PASSWORD");
        return dm_error_set(err, DM_ERR_NOT_FOUND,
                            "feed %s needs its endpoint and credentials (FEED_<ID>_URL, "
                            "_USERNAME, _PASSWORD or NIVODA_ENDPOINT, _USERNAME, _PASSWORD)",
                            conf->id);
    }
    struct dm_nivoda_opts o;
    dm_nivoda_opts_from_config(cfg, &o);
    o.endpoint = conf->url;
    o.username = conf->username;
    o.password = conf->password;
    if ((flags & DM_FEED_FAIL_FAST) && (o.max_attempts == 0 || o.max_attempts > 2))
        o.max_attempts = 2;
    *impl = dm_nivoda_new(&o);
    return DM_OK;
}

static void nivoda_close(void *impl)
{
    dm_nivoda_free(impl);
}

static enum dm_err nivoda_count(void *impl, const struct dm_feed_query *q, int64_t *count,
                                struct dm_error *err)
{
    return dm_nivoda_count(impl, q, count, err);
}

static enum dm_err nivoda_fetch_page(void *impl, const struct dm_feed_query *q, int64_t offset,
                                     int limit, struct dm_feed_raw_page *page, struct dm_error *err)
{
    return dm_nivoda_search_raw(impl, q, offset, limit, page, err);
}

static enum dm_err nivoda_hold(void *impl, const char *offer_id, struct dm_feed_hold *out,
                               struct dm_error *err)
{
    return dm_nivoda_hold(impl, offer_id, out, err);
}

static enum dm_err nivoda_order(void *impl, const struct dm_feed_order_req *req,
                                struct dm_feed_order *out, struct dm_error *err)
{
    return dm_nivoda_order(impl, req, out, err);
}

/* ---- file (adapters/feed/file_feed.h) ---- */

static enum dm_err file_open(const struct dm_config *cfg, const struct dm_feed_conf *conf,
                             unsigned flags, void **impl, struct dm_error *err)
{
    (void)flags;
    enum dm_file_format format = DM_FILE_FORMAT_AUTO;
    if (conf->format != NULL && dm_file_format_parse(conf->format, &format) != DM_OK)
        return dm_error_set(err, DM_ERR_INVALID, "feed %s: format '%.20s' is not csv or jsonl",
                            conf->id, conf->format);
    struct dm_file_feed_opts o = {.feed = conf->id,
                                  .url = conf->url,
                                  .mapping_path = conf->mapping,
                                  .azure_connection_string = cfg->azure_storage_connection_string,
                                  .format = format};
    struct dm_file_feed *f = NULL;
    enum dm_err e = dm_file_feed_new(&o, &f, err);
    *impl = f;
    return e;
}

/* The feed's id is set by dm_feed_map over the placeholder. */
static enum dm_err file_map(const char *text, size_t len, struct dm_diamond *d,
                            struct dm_error *err)
{
    return dm_file_feed_map("file", text, len, d, err);
}

static void file_close(void *impl)
{
    dm_file_feed_free(impl);
}

static enum dm_err file_count(void *impl, const struct dm_feed_query *q, int64_t *count,
                              struct dm_error *err)
{
    (void)impl;
    (void)q;
    *count = 0;
    return dm_error_set(err, DM_ERR_INVALID, "a file feed is read as one snapshot, not counted");
}

static enum dm_err file_fetch_page(void *impl, const struct dm_feed_query *q, int64_t offset,
                                   int limit, struct dm_feed_raw_page *page, struct dm_error *err)
{
    (void)impl;
    (void)q;
    (void)offset;
    (void)limit;
    memset(page, 0, sizeof(*page));
    return dm_error_set(err, DM_ERR_INVALID, "a file feed is read as one snapshot, not paged");
}

static enum dm_err file_hold(void *impl, const char *offer_id, struct dm_feed_hold *out,
                             struct dm_error *err)
{
    (void)offer_id;
    memset(out, 0, sizeof(*out));
    return dm_file_feed_no_orders(impl, err);
}

static enum dm_err file_order(void *impl, const struct dm_feed_order_req *req,
                              struct dm_feed_order *out, struct dm_error *err)
{
    (void)req;
    memset(out, 0, sizeof(*out));
    return dm_file_feed_no_orders(impl, err);
}

/* The ingest path's view of a file row. */
struct file_rows {
    dm_feed_row_fn fn;
    void *ctx;
};

static enum dm_err file_row(void *ctx, const struct dm_file_feed_row *row)
{
    const struct file_rows *fr = ctx;
    struct dm_feed_row out = {.line = row->line,
                              .json = row->json,
                              .json_len = row->json_len,
                              .stone_id = row->stock,
                              .offer_id = row->stock,
                              .refused = row->refused,
                              .not_carried = row->not_carried};
    return fr->fn(fr->ctx, &out);
}

static enum dm_err file_read_snapshot(void *impl, const struct dm_feed_snapshot_req *req,
                                      dm_feed_row_fn fn, void *ctx, struct dm_feed_snapshot *out,
                                      struct dm_error *err)
{
    struct file_rows fr = {.fn = fn, .ctx = ctx};
    struct dm_file_result res;
    enum dm_err e = dm_file_feed_read(impl, req->etag, req->last_modified, req->should_abort,
                                      file_row, &fr, &res, err);
    memset(out, 0, sizeof(*out));
    out->not_modified = res.not_modified;
    out->truncated = res.truncated;
    snprintf(out->etag, sizeof(out->etag), "%s", res.etag);
    snprintf(out->last_modified, sizeof(out->last_modified), "%s", res.last_modified);
    out->rows = res.rows;
    out->bad_rows = res.bad_rows;
    out->lines = res.lines;
    out->bytes = res.bytes;
    return e;
}

/* ---- the table ---- */

static const struct feed_type types[] = {
    {DM_FEED_TYPE_NIVODA, nivoda_open, nivoda_close, nivoda_count, nivoda_fetch_page, nivoda_hold,
     nivoda_order, dm_mapping_map_text, NULL},
    {DM_FEED_TYPE_FILE, file_open, file_close, file_count, file_fetch_page, file_hold, file_order,
     file_map, file_read_snapshot},
};

static const struct feed_type *find_type(enum dm_feed_type type)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].type == type)
            return &types[i];
    return NULL;
}

/* The configuration of feed id, or NULL (err says why: DM_ERR_INVALID naming FEEDS) when it
 * is malformed or not configured. */
static const struct dm_feed_conf *feed_conf(const struct dm_config *cfg, const char *id,
                                            struct dm_error *err)
{
    if (!dm_feed_id_valid(id)) {
        dm_error_set(err, DM_ERR_INVALID,
                     "feed id '%.40s' is not 1..%d lowercase letters, digits or '_'", id ? id : "",
                     DM_FEED_ID_MAX);
        return NULL;
    }
    const struct dm_feed_conf *conf = dm_config_feed(cfg, id);
    if (conf == NULL)
        dm_error_set(err, DM_ERR_INVALID, "feed '%s' is not configured (FEEDS=%.200s)", id,
                     cfg && cfg->feeds_text ? cfg->feeds_text : "");
    return conf;
}

/* The configuration of feed id and its built-in type: DM_ERR_INVALID as feed_conf,
 * DM_ERR_UNAVAILABLE when its type is not built in. */
static enum dm_err feed_find(const struct dm_config *cfg, const char *id,
                             const struct dm_feed_conf **conf, const struct feed_type **t,
                             struct dm_error *err)
{
    *conf = feed_conf(cfg, id, err);
    if (*conf == NULL)
        return DM_ERR_INVALID;
    *t = find_type((*conf)->type);
    if (*t == NULL)
        return dm_error_set(err, DM_ERR_UNAVAILABLE, "feed %s: type %s is not built in",
                            (*conf)->id, dm_feed_type_name((*conf)->type));
    return DM_OK;
}

enum dm_err dm_feed_open(const struct dm_config *cfg, const char *id, unsigned flags,
                         struct dm_feed **out, struct dm_error *err)
{
    *out = NULL;
    const struct dm_feed_conf *conf = NULL;
    const struct feed_type *t = NULL;
    enum dm_err e = feed_find(cfg, id, &conf, &t, err);
    if (e != DM_OK)
        return e;
    void *impl = NULL;
    e = t->open(cfg, conf, flags, &impl, err);
    if (e != DM_OK)
        return e;
    struct dm_feed *f = dm_xcalloc(1, sizeof(*f));
    f->type = t;
    f->conf = conf;
    f->impl = impl;
    *out = f;
    return DM_OK;
}

void dm_feed_close(struct dm_feed *f)
{
    if (f == NULL)
        return;
    f->type->close(f->impl);
    free(f);
}

const char *dm_feed_id(const struct dm_feed *f)
{
    return f->conf->id;
}

const struct dm_feed_conf *dm_feed_conf(const struct dm_feed *f)
{
    return f->conf;
}

bool dm_feed_snapshot(const struct dm_feed_conf *conf)
{
    return conf != NULL && conf->type == DM_FEED_TYPE_FILE;
}

enum dm_err dm_feed_count(struct dm_feed *f, const struct dm_feed_query *q, int64_t *count,
                          struct dm_error *err)
{
    return f->type->count(f->impl, q, count, err);
}

enum dm_err dm_feed_fetch_page(struct dm_feed *f, const struct dm_feed_query *q, int64_t offset,
                               int limit, struct dm_feed_raw_page *page, struct dm_error *err)
{
    return f->type->fetch_page(f->impl, q, offset, limit, page, err);
}

enum dm_err dm_feed_hold(struct dm_feed *f, const char *offer_id, struct dm_feed_hold *out,
                         struct dm_error *err)
{
    return f->type->hold(f->impl, offer_id, out, err);
}

enum dm_err dm_feed_order(struct dm_feed *f, const struct dm_feed_order_req *req,
                          struct dm_feed_order *out, struct dm_error *err)
{
    return f->type->order(f->impl, req, out, err);
}

enum dm_err dm_feed_read_snapshot(struct dm_feed *f, const struct dm_feed_snapshot_req *req,
                                  dm_feed_row_fn fn, void *ctx, struct dm_feed_snapshot *out,
                                  struct dm_error *err)
{
    if (f->type->read_snapshot == NULL) {
        memset(out, 0, sizeof(*out));
        return dm_error_set(err, DM_ERR_INVALID, "feed %s is read in pages, not as a snapshot",
                            f->conf->id);
    }
    return f->type->read_snapshot(f->impl, req, fn, ctx, out, err);
}

enum dm_err dm_feed_map(const struct dm_config *cfg, const char *id, const char *text, size_t len,
                        struct dm_diamond *d, struct dm_error *err)
{
    const struct dm_feed_conf *conf = NULL;
    const struct feed_type *t = NULL;
    enum dm_err e = feed_find(cfg, id, &conf, &t, err);
    if (e != DM_OK)
        return e;
    e = t->map(text, len, d, err);
    if (e == DM_OK)
        d->feed = conf->id; /* the feed's id, whatever its type's mapper wrote */
    return e;
}
