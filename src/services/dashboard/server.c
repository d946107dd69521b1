/*
 * server.c - the dashboard service (`diamond dashboard`): a libmicrohttpd server (one thread per
 * connection, so a slow upstream call blocks only its own connection) that serves the static
 * dashboard and reverse-proxies the API paths through the HTTP client module. See dashboard.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapters/http/client.h"
#include "adapters/http/stream.h"
#include "adapters/http/url.h"
#include "core/config.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/num.h"
#include "core/signals.h"
#include "core/timeutil.h"
#include "services/dashboard/dashboard.h"

#define DASHBOARD_THREADS 8
#define DASHBOARD_CONNECTIONS 2048
#define DASHBOARD_CONNECTIONS_PER_IP 64

struct dashboard {
    char root[PATH_MAX]; /* real path of the static files */
    char api_url[1024];  /* without a trailing slash; requests get only path and query on it */
};

/* Per-request state, created by the URI log callback (it sees the raw target). */
struct req_state {
    char *target;
    char rid[160];
    bool started;
    bool too_large;
    bool unexpected_body;      /* body bytes on a request that announced none */
    bool streaming;            /* the client sends a body: it goes upstream piece by piece */
    size_t path_len;           /* length of the path part of target (the query follows) */
    struct dm_http_stream *up; /* the upstream exchange, once started */
    enum dm_err up_err;        /* first upstream failure (answered at the end of the request) */
    struct dm_error err;
    size_t sent; /* request body bytes received */
    int64_t t0_ms;
};

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct req_state *st = dm_xcalloc(1, sizeof(*st));
    st->target = dm_xstrdup(uri ? uri : "/");
    return st;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct req_state *st = *con_cls;
    if (st == NULL)
        return;
    free(st->target);
    dm_http_stream_close(st->up);
    free(st);
    *con_cls = NULL;
}

static void add_security_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
}

/* A request id for responses the proxy makes itself: the caller's if it looks sane. */
static void request_id(struct MHD_Connection *c, char *out, size_t size)
{
    const char *in = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (in != NULL && in[0] != '\0' && strlen(in) <= 128) {
        bool ok = true;
        for (const char *p = in; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
                ok = false;
        if (ok && dm_strlcpy(out, in, size) == DM_OK)
            return;
    }
    char uuid[DM_UUID_LEN];
    dm_uuid_v4(uuid);
    if (dm_strlcpy(out, uuid, size) != DM_OK)
        out[0] = '\0';
}

/* A JSON error in the API's format; rid NULL: the caller's X-Request-Id or a new one. */
static enum MHD_Result send_json_error(struct MHD_Connection *c, const char *rid_in,
                                       unsigned status, const char *code, const char *message)
{
    char rid[160];
    if (rid_in == NULL || dm_strlcpy(rid, rid_in, sizeof(rid)) != DM_OK)
        request_id(c, rid, sizeof(rid));
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s == NULL)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Request-Id", rid);
    add_security_headers(r);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---- static files ---- */

static void http_date(time_t t, char *out, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static enum MHD_Result serve_static(struct dashboard *d, struct MHD_Connection *c,
                                    const char *method, const char *url)
{
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_json_error(c, NULL, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                               "static files accept GET and HEAD only");
    char path[PATH_MAX];
    enum dm_err e = dm_dashboard_resolve(d->root, url, path, sizeof(path));
    if (e == DM_ERR_INVALID) {
        dm_warn(NULL, "dashboard: refused path %s", url);
        return send_json_error(c, NULL, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST", "invalid path");
    }
    if (e != DM_OK)
        return send_json_error(c, NULL, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no such file");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return send_json_error(c, NULL, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no such file");
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return send_json_error(c, NULL, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no such file");
    }
    char etag[96], lastmod[64];
    snprintf(etag, sizeof(etag), "W/\"%llx-%llx-%lx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec);
    http_date(st.st_mtim.tv_sec, lastmod, sizeof(lastmod));
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    struct MHD_Response *r;
    unsigned status;
    if (inm != NULL && strstr(inm, etag + 2) != NULL) {
        close(fd);
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_MODIFIED;
    } else {
        r = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* owns fd */
        status = MHD_HTTP_OK;
        if (r == NULL)
            close(fd);
    }
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", dm_dashboard_mime_type(path));
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "ETag", etag);
    MHD_add_response_header(r, "Last-Modified", lastmod);
    add_security_headers(r);
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data: http: https:; "
                            "style-src 'self' 'unsafe-inline'; script-src 'self'; "
                            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---- proxy ---- */

struct hdr_ctx {
    const char *connection; /* the Connection header: the fields it names are hop-by-hop too */
    char *lines[DM_DASHBOARD_MAX_HEADERS + 8];
    int n;
    size_t bytes;
    bool has_request_id;
    bool overflow;
};

/* True when name is one of the comma-separated tokens of list (case-insensitive). */
static bool token_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t len = strcspn(p, ", \t");
        if (len == n && !strncasecmp(p, name, n))
            return true;
        p += len;
    }
    return false;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct hdr_ctx *h = cls;
    if (key == NULL || dm_dashboard_skip_request_header(key) || token_listed(h->connection, key))
        return MHD_YES;
    /* A bare CR or LF (or another control) in a value could split the header upstream. */
    if (!dm_dashboard_header_ok(key, value))
        return MHD_YES;
    if (!strcasecmp(key, "X-Request-Id"))
        h->has_request_id = true;
    size_t len = strlen(key) + (value ? strlen(value) : 0);
    if (h->n >= DM_DASHBOARD_MAX_HEADERS || h->bytes + len > (size_t)64 * 1024) {
        h->overflow = true;
        return MHD_NO;
    }
    h->bytes += len;
    h->lines[h->n++] = dm_xasprintf("%s: %s", key, value ? value : "");
    return MHD_YES;
}

static bool method_allowed(const char *m)
{
    static const char *const ok[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!strcmp(m, ok[i]))
            return true;
    return false;
}

/* Copy the end-to-end headers of the final response block (raw lines, status line first) onto
 * r. The block may hold earlier responses (1xx): only the last one counts. */
static void copy_response_headers(const char *block, struct MHD_Response *r)
{
    const char *p = block;
    if (p == NULL)
        return;
    /* Find the last status line. */
    const char *last = p;
    for (const char *q = p; (q = strstr(q, "HTTP/")) != NULL; q++)
        if (q == p || (q >= p + 2 && q[-1] == '\n'))
            last = q;
    p = last;
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len == 0)
            break;
        const char *colon = memchr(p, ':', len);
        if (colon != NULL && strncmp(p, "HTTP/", 5) != 0) {
            char name[128], value[8192];
            size_t nlen = (size_t)(colon - p);
            const char *v = colon + 1;
            while (v < p + len && (*v == ' ' || *v == '\t'))
                v++;
            size_t vlen = (size_t)(p + len - v);
            if (nlen > 0 && nlen < sizeof(name) && vlen < sizeof(value)) {
                memcpy(name, p, nlen);
                name[nlen] = '\0';
                memcpy(value, v, vlen);
                value[vlen] = '\0';
                if (!dm_dashboard_skip_response_header(name))
                    MHD_add_response_header(r, name, value);
            }
        }
        if (!eol)
            break;
        p = eol + 2;
    }
}

/* The body of a proxied response, pulled by libmicrohttpd as the client takes it. */
/* dm_stop_requested() is inline; the stream needs a function pointer. */
static int stopping(void)
{
    return dm_stop_requested();
}

struct relay {
    struct dm_http_stream *s;
    char rid[160];
    char *target;
};

static ssize_t relay_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct relay *rl = cls;
    struct dm_error err = {0};
    ssize_t n = dm_http_stream_read(rl->s, buf, max, &err);
    if (n > 0)
        return n;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    struct dm_log_ctx lc = {.request_id = rl->rid};
    dm_warn(&lc, "proxy %s: response body cut short: %s", rl->target, err.message);
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void relay_free(void *cls)
{
    struct relay *rl = cls;
    dm_http_stream_close(rl->s);
    free(rl->target);
    free(rl);
}

/* Upstream request headers for this client request: its end-to-end headers plus X-Request-Id
 * (when it sent none), X-Forwarded-For/-Host/-Proto. false when it sent too many. */
static bool upstream_headers(struct MHD_Connection *c, const char *rid, struct hdr_ctx *h)
{
    h->connection = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Connection");
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, h);
    if (h->overflow)
        return false;
    /* Give the API our id so its log line and ours share it. */
    if (!h->has_request_id)
        h->lines[h->n++] = dm_xasprintf("X-Request-Id: %s", rid);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char ip[64] = "";
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, ip, sizeof(ip));
    if (ip[0])
        h->lines[h->n++] = dm_xasprintf("X-Forwarded-For: %s", ip);
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (host != NULL && strlen(host) < 256)
        h->lines[h->n++] = dm_xasprintf("X-Forwarded-Host: %s", host);
    h->lines[h->n++] = dm_xstrdup("X-Forwarded-Proto: http");
    h->lines[h->n] = NULL;
    return true;
}

static void hdr_free(struct hdr_ctx *h)
{
    for (int i = 0; i < h->n; i++)
        free(h->lines[i]);
    h->n = 0;
}

/* Start the upstream exchange. With a client body (st->streaming) the body follows piecewise;
 * otherwise the exchange runs until the response head. */
static enum dm_err upstream_start(struct dashboard *d, struct MHD_Connection *c, const char *method,
                                  struct req_state *st, int64_t body_len, struct dm_error *err)
{
    struct hdr_ctx h = {0};
    if (!upstream_headers(c, st->rid, &h)) {
        hdr_free(&h);
        return dm_error_set(err, DM_ERR_INVALID, "too many or too large request headers");
    }
    /* Only the path and the query of the raw target reach the URL: the API's scheme, host and
     * port stay the configured ones whatever the client sent (never concatenated). */
    char *path = dm_xasprintf("%.*s", (int)st->path_len, st->target);
    const char *query = st->target[st->path_len] == '?' ? st->target + st->path_len + 1 : NULL;
    char *url = NULL;
    struct dm_error uerr = {0};
    enum dm_err ue = dm_http_url_on_base(d->api_url, path, query, &url, &uerr);
    free(path);
    if (ue != DM_OK) {
        hdr_free(&h);
        return dm_error_set(err, DM_ERR_REJECTED, "request target refused: %s", uerr.message);
    }
    struct dm_http_request rq = {
        .method = method,
        .url = url,
        .headers = (const char *const *)h.lines,
        .connect_timeout_ms = DM_DASHBOARD_CONNECT_TIMEOUT_MS,
        .timeout_ms = DM_DASHBOARD_UPSTREAM_TIMEOUT_MS,
        .max_response = DM_DASHBOARD_MAX_RESPONSE_BODY,
    };
    /* A body-less POST/PUT/PATCH still says Content-Length: 0. */
    if (!st->streaming &&
        (!strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH")))
        rq.body = "";
    enum dm_err e = st->streaming ? dm_http_stream_begin(&rq, body_len, &st->up, err)
                                  : dm_http_stream_open(&rq, &st->up, err);
    hdr_free(&h);
    free(url);
    return e;
}

/* Answer the client after a failed exchange (502/504/400 with a JSON error). */
static enum MHD_Result upstream_failed(struct MHD_Connection *c, const char *method,
                                       struct req_state *st, enum dm_err e,
                                       const struct dm_error *err)
{
    struct dm_log_ctx lc = {.request_id = st->rid};
    dm_warn(&lc, "proxy %s %s: %s (%ld ms)", method, st->target, err->message,
            (long)(dm_mono_ms() - st->t0_ms));
    if (e == DM_ERR_INVALID)
        return send_json_error(c, st->rid, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "BAD_REQUEST",
                               "too many or too large request headers");
    if (e == DM_ERR_REJECTED)
        return send_json_error(c, st->rid, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                               "invalid request target");
    if (e == DM_ERR_TIMEOUT)
        return send_json_error(c, st->rid, MHD_HTTP_GATEWAY_TIMEOUT, "GATEWAY_TIMEOUT",
                               "the API did not answer in time");
    if (e == DM_ERR_TOO_LARGE)
        return send_json_error(c, st->rid, MHD_HTTP_BAD_GATEWAY, "BAD_GATEWAY",
                               "the API's response is larger than the proxy allows");
    return send_json_error(c, st->rid, MHD_HTTP_BAD_GATEWAY, "BAD_GATEWAY",
                           "the API is not reachable");
}

/* Relay the response whose head st->up holds; its body streams to the client. */
static enum MHD_Result relay_response(struct MHD_Connection *c, const char *method,
                                      struct req_state *st)
{
    struct dm_http_stream *up = st->up;
    long status = dm_http_stream_status(up);
    if (status < 100 || status > 599)
        return send_json_error(c, st->rid, MHD_HTTP_BAD_GATEWAY, "BAD_GATEWAY",
                               "the API gave an invalid response");
    /* Valid while the stream lives: until the response below is freed. */
    const char *head = dm_http_stream_headers(up);
    struct MHD_Response *r;
    if (!strcmp(method, "HEAD") || status == 204 || status == 304) {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (r == NULL)
            return MHD_NO;
    } else {
        /* libmicrohttpd pulls the body from the API as the client reads it. */
        struct relay *rl = dm_xcalloc(1, sizeof(*rl));
        int64_t len = dm_http_stream_length(up);
        rl->s = up;
        dm_http_stream_set_abort(up, stopping);
        rl->target = dm_xstrdup(st->target);
        memcpy(rl->rid, st->rid, sizeof(rl->rid));
        r = MHD_create_response_from_callback(len >= 0 ? (uint64_t)len : MHD_SIZE_UNKNOWN,
                                              (size_t)32 * 1024, relay_read, rl, relay_free);
        if (r == NULL) {
            free(rl->target);
            free(rl);
            return MHD_NO;
        }
        st->up = NULL; /* owned by the response now */
    }
    copy_response_headers(head, r);
    if (MHD_get_response_header(r, "X-Request-Id") == NULL)
        MHD_add_response_header(r, "X-Request-Id", st->rid);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    if (dm_log_enabled(DM_LOG_INFO)) {
        struct dm_log_ctx lc = {.request_id = st->rid};
        /* dm_log_str: a target with bytes that are not UTF-8 is escaped, never dropped. */
        json_t *f =
            json_pack("{s:o,s:o,s:i,s:I,s:I}", "method", dm_log_str(method), "path",
                      dm_log_str(st->target), "status", (int)status, "headMs",
                      (json_int_t)(dm_mono_ms() - st->t0_ms), "requestBytes", (json_int_t)st->sent);
        dm_log_fields(DM_LOG_INFO, &lc, "proxied", f);
        json_decref(f);
    }
    return ok;
}

/*
 * A proxied request, over the calls libmicrohttpd makes for it: the head (checks; with a body,
 * the upstream exchange starts at once), each piece of the body (passed on as it comes, within
 * DM_DASHBOARD_MAX_REQUEST_BODY), and the end (the response is relayed).
 */
static enum MHD_Result proxy(struct dashboard *d, struct MHD_Connection *c, const char *method,
                             struct req_state *st, const char *data, size_t *size)
{
    if (!st->started) {
        st->started = true;
        st->t0_ms = dm_mono_ms();
        request_id(c, st->rid, sizeof(st->rid));
        if (!method_allowed(method))
            return send_json_error(c, st->rid, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                                   "method not allowed");
        const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
        int64_t n = -1;
        if (te != NULL) {
            /* libmicrohttpd decodes the chunked body and ignores any Content-Length beside
             * it: the API gets the decoded bytes chunked, never the client's length. */
            n = -1;
        } else if (clen != NULL && (dm_parse_i64(clen, 0, INT64_MAX, &n) != DM_OK ||
                                    (uint64_t)n > DM_DASHBOARD_MAX_REQUEST_BODY)) {
            return send_json_error(c, st->rid, 413u, "PAYLOAD_TOO_LARGE",
                                   "request body exceeds the proxy's limit");
        }
        st->streaming = te != NULL || n > 0;
        if (st->streaming)
            st->up_err = upstream_start(d, c, method, st, n, &st->err);
        return MHD_YES;
    }
    if (*size) {
        st->sent += *size;
        if (st->sent > DM_DASHBOARD_MAX_REQUEST_BODY)
            st->too_large = true;
        else if (!st->streaming)
            st->unexpected_body = true; /* cannot happen with the framing checked above */
        else if (st->up_err == DM_OK)
            st->up_err = dm_http_stream_write(st->up, data, *size, &st->err);
        *size = 0; /* after a failure the rest is read and dropped; the end answers */
        return MHD_YES;
    }
    if (st->too_large)
        return send_json_error(c, st->rid, 413u, "PAYLOAD_TOO_LARGE",
                               "request body exceeds the proxy's limit");
    if (st->unexpected_body)
        return send_json_error(c, st->rid, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                               "request body without a length");
    if (!st->streaming)
        st->up_err = upstream_start(d, c, method, st, 0, &st->err);
    else if (st->up_err == DM_OK)
        st->up_err = dm_http_stream_finish(st->up, &st->err);
    if (st->up_err != DM_OK)
        return upstream_failed(c, method, st, st->up_err, &st->err);
    return relay_response(c, method, st);
}

/* True when the request carries API credentials (an API key, a bearer token or an HMAC
 * signature): the API checks them; the dashboard only keeps anonymous callers out. */
static bool has_credentials(struct MHD_Connection *c)
{
    static const char *const names[] = {"X-API-Key", "Authorization", "X-Signature"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, names[i]);
        if (v != NULL && v[0] != '\0')
            return true;
    }
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct dashboard *d = cls;
    struct req_state *st = *con_cls;
    if (st == NULL)
        return MHD_NO;
    /* Decided on the raw target, never on the decoded path: "%2Fapi%2F@host:port/" decodes
     * to an API path but is no origin-form target, and must reach nothing. */
    enum dm_dashboard_target kind = dm_dashboard_classify_target(st->target, &st->path_len);
    if (kind == DM_DASHBOARD_TARGET_BAD) {
        dm_warn(NULL, "dashboard: refused request target %s", st->target);
        return send_json_error(c, NULL, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                               "invalid request target");
    }
    if (kind == DM_DASHBOARD_TARGET_PROXY_CREDENTIALS && !has_credentials(c))
        return send_json_error(c, NULL, MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED",
                               "Invalid or missing authentication");
    if (kind != DM_DASHBOARD_TARGET_STATIC)
        return proxy(d, c, method, st, upload_data, upload_size);
    if (!st->started) {
        st->started = true;
        return MHD_YES;
    }
    if (*upload_size) {
        st->too_large = true; /* static files take no body; read and drop it */
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->too_large)
        return send_json_error(c, NULL, 413u, "PAYLOAD_TOO_LARGE",
                               "static files take no request body");
    return serve_static(d, c, method, url);
}

enum dm_err dm_dashboard_serve(const struct dm_config *cfg, const char *bind, struct dm_error *err)
{
    struct dashboard *d = dm_xcalloc(1, sizeof(*d));
    struct MHD_Daemon *daemon = NULL;
    enum dm_err rc = DM_ERR_INVALID; /* configuration problems, until the daemon starts */
    /* The config table's PORT default (3000) is the API's; the dashboard's own is 8080. */
    const char *port_env = getenv("PORT");
    int port = (port_env && port_env[0]) ? cfg->port : DM_DASHBOARD_DEFAULT_PORT;
    const char *dir = dm_dashboard_default_dir(cfg->dashboard_dir);
    if (realpath(dir, d->root) == NULL) {
        dm_error_set(err, rc, "DASHBOARD_DIR %s: %s", dir, strerror(errno));
        goto out;
    }
    if (dm_strlcpy(d->api_url, cfg->api_url, sizeof(d->api_url)) != DM_OK) {
        dm_error_set(err, rc, "API_URL is too long");
        goto out;
    }
    size_t n = strlen(d->api_url);
    while (n > 0 && d->api_url[n - 1] == '/')
        d->api_url[--n] = '\0';
    dm_http_global_init();
    char *probe = NULL;
    struct dm_error uerr = {0};
    if (dm_http_url_on_base(d->api_url, "/health", NULL, &probe, &uerr) != DM_OK) {
        dm_error_set(err, rc, "API_URL %s: %s", d->api_url, uerr.message);
        goto out;
    }
    free(probe);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind, &addr.sin_addr) != 1) {
        dm_error_set(err, rc, "--bind %s is not an IPv4 address", bind);
        goto out;
    }
    /* No thread per connection: idle connections cost a socket, not a thread (issue 15 item 4:
     * 256 idle connections used to stop the dashboard). A pool of threads serves requests (a
     * proxied one holds its thread while the API answers); one address may hold at most
     * DASHBOARD_CONNECTIONS_PER_IP connections, everyone together DASHBOARD_CONNECTIONS. */
    daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, on_request, d, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log, d, MHD_OPTION_NOTIFY_COMPLETED, completed, d,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)DASHBOARD_THREADS, MHD_OPTION_CONNECTION_TIMEOUT,
        30u, MHD_OPTION_CONNECTION_LIMIT, (unsigned)DASHBOARD_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)DASHBOARD_CONNECTIONS_PER_IP,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 256u, MHD_OPTION_END);
    if (daemon == NULL) {
        rc = dm_error_set(err, DM_ERR_IO, "cannot listen on %s:%d (port in use?)", bind, port);
        goto out;
    }
    dm_info(NULL, "dashboard listening on %s:%d, files %s, API %s", bind, port, d->root,
            d->api_url);
    while (!dm_stop_requested()) {
        struct timespec ts = {0, 100L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    dm_info(NULL, "dashboard stopping");
    rc = DM_OK;
out:
    if (daemon != NULL)
        MHD_stop_daemon(daemon);
    free(d);
    return rc;
}
