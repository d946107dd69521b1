/*
 * fileserve.c - the simulator's file mode: GET /inventory.csv (or .jsonl) streams the whole
 * inventory as a supplier file (chunked, a bounded buffer per download, rendered from a
 * snapshot so churn never waits), with ETag / Last-Modified and conditional GET, and the file
 * faults: 5xx / 429 / latency like GraphQL mode, bad rows at fixed lines, truncation mid-row,
 * slow drip. GET /admin/file reports the ETag, rows and the lines of the bad rows. Every other
 * request goes to the GraphQL mode's handler, so /graphql and /admin/ work on the same port.
 *
 * Why its own libmicrohttpd daemon: the shared server (adapters/http/server.h) answers from a
 * whole in-memory body (max 64 MiB); a 500,000-row file is larger and must stream.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "services/feedsim/feedfile.h"
#include "services/feedsim/internal.h"

#define MAX_BODY (1u << 20)
#define BLOCK ((size_t)64 * 1024)  /* bytes handed to libmicrohttpd per call at most */
#define FILL ((size_t)32 * 1024)   /* rows rendered ahead per refill */
#define PEND_MAX ((size_t)4 << 20) /* one row never comes near this */

struct fileserver {
    struct MHD_Daemon *d;
    int port;
};

/* Per request: the collected body, and the response of a delegated request. */
struct fconn {
    struct dm_buf body;
    bool too_large;
};

/* One download in progress. */
struct download {
    struct dm_feedsim *sim;
    struct dm_inv_snapshot *snap;
    enum dm_feedfile_format fmt;
    uint32_t n, next;
    bool header_done, ended;
    int64_t trunc_line; /* 0 = not cut */
    bool trunc_abort;
    double bad_rate;
    int64_t drip_bps, t0_ms;
    uint64_t sent;
    struct dm_buf pend;
    size_t off;
};

/* Line of row i: CSV has the header on line 1. */
static int64_t row_line(enum dm_feedfile_format f, uint32_t i)
{
    return (int64_t)i + (f == DM_FEEDFILE_CSV ? 2 : 1);
}

/* The line a cut download stops in: truncate_line, clamped to the rows; else the middle row. */
static int64_t cut_line(enum dm_feedfile_format f, uint32_t n, int64_t want)
{
    if (n == 0)
        return 0;
    int64_t first = row_line(f, 0), last = row_line(f, n - 1);
    if (want <= 0)
        return row_line(f, n / 2);
    return want < first ? first : want > last ? last : want;
}

static void refill(struct download *d)
{
    dm_buf_reset(&d->pend);
    d->off = 0;
    enum dm_err e = DM_OK;
    while (d->pend.len < FILL && !d->ended && e == DM_OK) {
        if (!d->header_done) {
            d->header_done = true;
            e = dm_feedfile_header(d->fmt, &d->pend);
            continue;
        }
        if (d->next >= d->n) {
            d->ended = true;
            break;
        }
        struct dm_inv_row r;
        dm_inv_snapshot_row(d->sim->inv, d->snap, d->next, &r);
        int bad = dm_inv_bad_row(d->sim->inv, r.serial, d->bad_rate);
        if (bad)
            dm_feedsim_bump(&d->sim->faults[FT_BAD_ROW], 1);
        size_t before = d->pend.len;
        e = dm_feedfile_row(d->fmt, &r, bad, &d->pend);
        int64_t line = row_line(d->fmt, d->next);
        d->next++;
        if (e == DM_OK && d->trunc_line == line) {
            /* Stop mid-row: half of this row's bytes, never its line ending. */
            d->pend.len = before + (d->pend.len - before) / 2;
            d->ended = true;
            dm_feedsim_bump(&d->sim->faults[FT_TRUNCATE], 1);
            dm_info(NULL, "feed-sim %s download cut at line %lld (%s)", dm_feedfile_path(d->fmt),
                    (long long)line, d->trunc_abort ? "connection dropped" : "clean end");
        }
    }
    if (e != DM_OK) { /* cannot happen with PEND_MAX; end rather than send a half row */
        dm_warn(NULL, "feed-sim: row too large for the stream buffer");
        d->ended = true;
        d->trunc_abort = true;
    }
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct download *d = cls;
    if (d->sim->stopping)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (d->off >= d->pend.len) {
        if (d->ended)
            return d->trunc_line && d->trunc_abort ? MHD_CONTENT_READER_END_WITH_ERROR
                                                   : MHD_CONTENT_READER_END_OF_STREAM;
        refill(d);
        if (d->pend.len == 0)
            return d->trunc_line && d->trunc_abort ? MHD_CONTENT_READER_END_WITH_ERROR
                                                   : MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = d->pend.len - d->off;
    if (n > max)
        n = max;
    if (d->drip_bps > 0) {
        /* Slow drip: a tenth of a second's worth at a time, each when it is due. */
        size_t chunk = (size_t)(d->drip_bps / 10 > 0 ? d->drip_bps / 10 : 1);
        if (n > chunk)
            n = chunk;
        int64_t due = d->t0_ms + (int64_t)(d->sent * 1000 / (uint64_t)d->drip_bps);
        int64_t now = dm_mono_ms();
        if (due > now)
            dm_sleep_ms(due - now, &d->sim->stopping);
        if (d->sim->stopping)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    memcpy(buf, d->pend.data + d->off, n);
    d->off += n;
    d->sent += n;
    return (ssize_t)n;
}

static void download_free(void *cls)
{
    struct download *d = cls;
    dm_inv_snapshot_free(d->snap);
    dm_buf_free(&d->pend);
    free(d);
}

static enum MHD_Result queue_buffer(struct MHD_Connection *c, int status, const char *type,
                                    const char *body, size_t len, const char *const *headers)
{
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (mr == NULL)
        return MHD_NO;
    if (type)
        MHD_add_response_header(mr, "Content-Type", type);
    for (int i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(mr, headers[i], headers[i + 1]);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, mr);
    MHD_destroy_response(mr);
    return ok;
}

static enum MHD_Result queue_error(struct MHD_Connection *c, int status, const char *code,
                                   const char *msg, const char *const *headers)
{
    char body[256];
    int n =
        snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
    return queue_buffer(c, status, "application/json", body, (size_t)n, headers);
}

/* Queue the streamed answer; d is owned by the response from here on. */
static enum MHD_Result queue_download(struct MHD_Connection *c, struct download *d,
                                      const char *etag, const char *lm)
{
    struct MHD_Response *mr =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK, reader, d, download_free);
    if (mr == NULL) {
        download_free(d);
        return MHD_NO;
    }
    MHD_add_response_header(mr, "Content-Type", dm_feedfile_content_type(d->fmt));
    MHD_add_response_header(mr, "ETag", etag);
    MHD_add_response_header(mr, "Last-Modified", lm);
    enum MHD_Result ok = MHD_queue_response(c, 200, mr);
    MHD_destroy_response(mr);
    return ok;
}

static enum MHD_Result serve_file(struct dm_feedsim *sim, struct MHD_Connection *c, bool head)
{
    struct dm_feedsim_faults f;
    dm_feedsim_faults_get(sim, &f);
    if (f.latency_ms > 0) {
        dm_feedsim_bump(&sim->faults[FT_LATENCY], 1);
        dm_sleep_ms(f.latency_ms, &sim->stopping);
    }
    int st = 0;
    if (dm_feedsim_take_counted(sim, false, &st)) {
        dm_feedsim_bump(&sim->faults[FT_FAIL_NEXT], 1);
        const char *const ra[] = {"Retry-After", "1", NULL};
        return queue_error(c, st, st >= 500 ? "INTERNAL_SERVER_ERROR" : "SIMULATED_FAILURE",
                           "Simulated failure", st == 429 ? ra : NULL);
    }
    if (f.rate_limit > 0 && dm_feedsim_frand() < f.rate_limit) {
        dm_feedsim_bump(&sim->faults[FT_RATE_LIMIT], 1);
        const char *const ra[] = {"Retry-After", "1", NULL};
        return queue_error(c, 429, "RATE_LIMITED", "Too many requests, slow down.", ra);
    }
    if (f.error_rate > 0 && dm_feedsim_frand() < f.error_rate) {
        dm_feedsim_bump(&sim->faults[FT_ERROR], 1);
        return queue_error(c, 503, "INTERNAL_SERVER_ERROR", "Simulated server error.", NULL);
    }

    uint64_t hash;
    int64_t changed;
    dm_inv_rdlock(sim->inv);
    dm_inv_content(sim->inv, &hash, &changed);
    dm_inv_unlock(sim->inv);
    char etag[48], lm[DM_HTTP_DATE_LEN];
    dm_feedfile_etag(sim->format, hash, f.malformed_rate, etag);
    dm_feedfile_http_date(changed, lm);
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    const char *ims = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Modified-Since");
    if (dm_feedfile_not_modified(inm, ims, etag, changed)) {
        dm_feedsim_bump(&sim->by_op[OP_FILE_NOT_MODIFIED], 1);
        const char *const h[] = {"ETag", etag, "Last-Modified", lm, NULL};
        return queue_buffer(c, 304, NULL, NULL, 0, h);
    }
    dm_feedsim_bump(&sim->by_op[OP_FILE], 1);
    struct download *d = dm_xcalloc(1, sizeof(*d));
    d->sim = sim;
    d->fmt = sim->format;
    dm_buf_init(&d->pend, PEND_MAX);
    if (head) {
        /* The same headers as a GET (chunked, no length); libmicrohttpd never reads a HEAD
         * body, so no snapshot is taken. */
        d->ended = true;
        return queue_download(c, d, etag, lm);
    }
    d->snap = dm_inv_snapshot_new(sim->inv);
    d->n = dm_inv_snapshot_len(d->snap);
    d->bad_rate = f.malformed_rate;
    d->drip_bps = f.drip_bps;
    d->t0_ms = dm_mono_ms();
    if (dm_feedsim_take_truncate(sim)) {
        d->trunc_line = cut_line(d->fmt, d->n, f.truncate_line);
        d->trunc_abort = f.truncate_abort;
    }
    if (d->drip_bps > 0)
        dm_feedsim_bump(&sim->faults[FT_DRIP], 1);
    /* The body is this snapshot: its tags, not the ones looked up before it was taken. */
    dm_feedfile_etag(sim->format, dm_inv_snapshot_hash(d->snap), f.malformed_rate, etag);
    dm_feedfile_http_date(dm_inv_snapshot_changed_ms(d->snap), lm);
    dm_info(NULL, "feed-sim serving %s: %u rows, ETag %s%s", dm_feedfile_path(d->fmt), d->n, etag,
            d->trunc_line ? ", to be cut mid-row" : "");
    return queue_download(c, d, etag, lm);
}

/* GET /admin/file: what a download would carry now, and where its faults sit. */
static void admin_file(struct dm_feedsim *sim, struct dm_http_resp *resp)
{
    struct dm_feedsim_faults f;
    dm_feedsim_faults_get(sim, &f);
    struct dm_inv_snapshot *snap = dm_inv_snapshot_new(sim->inv);
    uint32_t n = dm_inv_snapshot_len(snap);
    char etag[48], lm[DM_HTTP_DATE_LEN];
    dm_feedfile_etag(sim->format, dm_inv_snapshot_hash(snap), f.malformed_rate, etag);
    dm_feedfile_http_date(dm_inv_snapshot_changed_ms(snap), lm);
    struct dm_buf *b = &resp->body;
    resp->content_type = "application/json";
    /* The ETag is a quoted string: escape its quotes for JSON. */
    char tag[64];
    snprintf(tag, sizeof(tag), "\\\"%.*s\\\"", (int)strlen(etag) - 2, etag + 1);
    enum dm_err e = dm_buf_appendf(
        b,
        "{\"format\":\"%s\",\"path\":\"%s\",\"etag\":\"%s\",\"last_modified\":\"%s\","
        "\"rows\":%u,\"lines\":%lld,\"truncate_line\":%lld,\"bad_rows\":[",
        dm_feedfile_name(sim->format), dm_feedfile_path(sim->format), tag, lm, n,
        (long long)n + (sim->format == DM_FEEDFILE_CSV ? 1 : 0),
        (long long)cut_line(sim->format, n, f.truncate_line));
    bool first = true;
    for (uint32_t i = 0; i < n && e == DM_OK; i++) {
        int bad = dm_inv_bad_row(sim->inv, dm_inv_snapshot_serial(snap, i), f.malformed_rate);
        if (!bad)
            continue;
        struct dm_inv_row r;
        dm_inv_snapshot_row(sim->inv, snap, i, &r);
        e = dm_buf_appendf(b, "%s{\"line\":%lld,\"kind\":\"%s\",\"stock\":\"%s\"}",
                           first ? "" : ",", (long long)row_line(sim->format, i),
                           dm_feedfile_bad_kind_name(bad), r.stock);
        first = false;
    }
    /* Stones with the three shapes the pipeline never lists (as in GraphQL mode, where its
     * query leaves them out): a file reader that knows the 17 shapes refuses these rows, so
     * tests can tell them from injected bad rows. */
    if (e == DM_OK)
        e = dm_buf_append_str(b, "],\"other_shape_lines\":[");
    first = true;
    for (uint32_t i = 0; i < n && e == DM_OK; i++) {
        struct dm_inv_row r;
        dm_inv_snapshot_row(sim->inv, snap, i, &r);
        if (dm_inv_shape_index(r.shape) < DM_INV_LISTED_SHAPES)
            continue;
        e = dm_buf_appendf(b, "%s%lld", first ? "" : ",", (long long)row_line(sim->format, i));
        first = false;
    }
    if (e == DM_OK)
        e = dm_buf_append_str(b, "]}");
    dm_inv_snapshot_free(snap);
    if (e != DM_OK)
        dm_http_resp_error(resp, 500, "INTERNAL_ERROR", "response too large");
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct dm_http_resp *r)
{
    const char *h[2 * DM_HTTP_MAX_HEADERS + 1];
    int k = 0;
    for (int i = 0; i < r->nheaders; i++) {
        h[k++] = r->header_names[i];
        h[k++] = r->header_values[i];
    }
    h[k] = NULL;
    return queue_buffer(c, r->status ? r->status : 200,
                        r->content_type ? r->content_type : "application/json", r->body.data,
                        r->body.len, h);
}

static void resp_free(struct dm_http_resp *r)
{
    dm_buf_free(&r->body);
    for (int i = 0; i < r->nheaders; i++) {
        free(r->header_names[i]);
        free(r->header_values[i]);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct dm_feedsim *sim = cls;
    struct fconn *fc = *con_cls;
    if (fc == NULL) {
        fc = dm_xcalloc(1, sizeof(*fc));
        dm_buf_init(&fc->body, MAX_BODY);
        *con_cls = fc;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!fc->too_large && dm_buf_append(&fc->body, upload_data, *upload_size) != DM_OK)
            fc->too_large = true;
        *upload_size = 0;
        return MHD_YES;
    }
    int64_t t0 = dm_mono_ms();
    bool get = !strcmp(method, "GET"), head = !strcmp(method, "HEAD");
    if (fc->too_large)
        return queue_error(c, 413, "PAYLOAD_TOO_LARGE", "request body exceeds the limit", NULL);
    if (!strcmp(url, dm_feedfile_path(sim->format))) {
        dm_feedsim_bump(&sim->requests, 1);
        if (!get && !head) {
            const char *const allow[] = {"Allow", "GET, HEAD", NULL};
            return queue_error(c, 405, "METHOD_NOT_ALLOWED", "use GET", allow);
        }
        enum MHD_Result ok = serve_file(sim, c, head);
        dm_info(NULL, "%s %s op=file ms=%lld", method, url, (long long)(dm_mono_ms() - t0));
        return ok;
    }
    struct dm_http_resp resp = {.status = 200};
    dm_buf_init(&resp.body, 64u << 20);
    if (!strcmp(url, "/admin/file") && get) {
        admin_file(sim, &resp);
    } else {
        struct dm_http_req req = {
            .method = method,
            .path = url,
            .target = url,
            .body = fc->body.data ? fc->body.data : "",
            .body_len = fc->body.len,
            .conn = c,
        };
        dm_feedsim_handle(sim, &req, &resp);
    }
    enum MHD_Result ok = send_resp(c, &resp);
    resp_free(&resp);
    return ok;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct fconn *fc = *con_cls;
    if (fc == NULL)
        return;
    dm_buf_free(&fc->body);
    free(fc);
    *con_cls = NULL;
}

enum dm_err dm_feedsim_file_listen(struct dm_feedsim *sim, const char *bind, int port, int threads,
                                   struct dm_error *err)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind ? bind : "127.0.0.1", &addr.sin_addr) != 1)
        return dm_error_set(err, DM_ERR_INVALID, "bad bind address");
    struct fileserver *fs = dm_xcalloc(1, sizeof(*fs));
    /* Thread pool over epoll, as the shared server: a dripping download holds its thread
     * while it waits, like a latency fault does in GraphQL mode. */
    fs->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, on_request, sim, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(threads > 0 ? threads : 16),
        MHD_OPTION_NOTIFY_COMPLETED, completed, sim, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
        MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (fs->d == NULL) {
        free(fs);
        return dm_error_set(err, DM_ERR_IO, "cannot listen on %s:%d (port in use?)",
                            bind ? bind : "127.0.0.1", port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(fs->d, MHD_DAEMON_INFO_BIND_PORT);
    fs->port = di ? di->port : port;
    sim->fsrv = fs;
    return DM_OK;
}

int dm_feedsim_file_port(const struct dm_feedsim *sim)
{
    return sim->fsrv ? sim->fsrv->port : 0;
}

void dm_feedsim_file_stop(struct dm_feedsim *sim)
{
    if (sim->fsrv == NULL)
        return;
    MHD_stop_daemon(sim->fsrv->d);
    free(sim->fsrv);
    sim->fsrv = NULL;
}
