/* server.c - libmicrohttpd adapter: bounded body collection, raw target capture, responses. */
#include "adapters/http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "core/num.h"

struct dm_http_server {
    struct MHD_Daemon *d;
    struct dm_http_server_opts opts;
    int port;
};

/* Per-request state, created by the URI log callback before the handler sees the request. */
struct conn_state {
    char *target;
    struct dm_buf body;
    bool too_large;
    bool started; /* MHD's first call carries only the headers */
};

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct dm_http_server *srv = cls;
    struct conn_state *st = dm_xcalloc(1, sizeof(*st));
    st->target = dm_xstrdup(uri ? uri : "/");
    dm_buf_init(&st->body, srv->opts.max_body);
    return st;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct conn_state *st = *con_cls;
    if (st == NULL)
        return;
    free(st->target);
    dm_buf_free(&st->body);
    free(st);
    *con_cls = NULL;
}

const char *dm_http_req_header(const struct dm_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *dm_http_req_arg(const struct dm_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct args_ctx {
    const char **keys, **values;
    int n, max;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct args_ctx *a = cls;
    if (a->n >= a->max)
        return MHD_NO;
    a->keys[a->n] = key;
    a->values[a->n] = value ? value : "";
    a->n++;
    return MHD_YES;
}

int dm_http_req_args(const struct dm_http_req *req, const char **keys, const char **values, int max)
{
    struct args_ctx a = {keys, values, 0, max};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    return a.n;
}

void dm_http_resp_header(struct dm_http_resp *resp, const char *name, const char *value)
{
    if (resp->nheaders >= DM_HTTP_MAX_HEADERS)
        return;
    resp->header_names[resp->nheaders] = dm_xstrdup(name);
    resp->header_values[resp->nheaders] = dm_xstrdup(value);
    resp->nheaders++;
}

void dm_http_resp_json(struct dm_http_resp *resp, int status, json_t *body)
{
    resp->status = status;
    resp->content_type = "application/json";
    dm_buf_reset(&resp->body);
    char *s = dm_json_dumps(body);
    json_decref(body);
    if (dm_buf_append_str(&resp->body, s) != DM_OK) {
        dm_buf_reset(&resp->body);
        resp->status = 500;
        if (dm_buf_append_str(&resp->body, "{\"error\":{\"code\":\"INTERNAL_ERROR\","
                                           "\"message\":\"response too large\"}}") != DM_OK)
            resp->status = 500; /* cannot happen: the buffer was just emptied */
    }
    free(s);
}

void dm_http_resp_error(struct dm_http_resp *resp, int status, const char *code,
                        const char *message)
{
    json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    dm_http_resp_json(resp, status, e);
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct dm_http_resp *r)
{
    struct MHD_Response *mr = MHD_create_response_from_buffer(
        r->body.len, r->body.data ? r->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (mr == NULL)
        return MHD_NO;
    MHD_add_response_header(mr, "Content-Type",
                            r->content_type ? r->content_type : "application/json");
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(mr, r->header_names[i], r->header_values[i]);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)(r->status ? r->status : 200), mr);
    MHD_destroy_response(mr);
    return ok;
}

static void resp_free(struct dm_http_resp *r)
{
    dm_buf_free(&r->body);
    for (int i = 0; i < r->nheaders; i++) {
        free(r->header_names[i]);
        free(r->header_values[i]);
    }
}

/* True when the request declares a Content-Length above max (or one that is not a number). */
static bool declared_too_large(struct MHD_Connection *c, size_t max)
{
    const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    int64_t n = 0;
    return clen != NULL && (dm_parse_i64(clen, 0, INT64_MAX, &n) != DM_OK || (uint64_t)n > max);
}

static enum MHD_Result refuse_too_large(struct MHD_Connection *c)
{
    struct dm_http_resp resp = {.status = 413};
    dm_buf_init(&resp.body, 4096);
    dm_http_resp_error(&resp, 413, "PAYLOAD_TOO_LARGE", "request body exceeds the limit");
    enum MHD_Result ok = send_resp(c, &resp);
    resp_free(&resp);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct dm_http_server *srv = cls;
    struct conn_state *st = *con_cls;
    if (st == NULL)
        return MHD_NO; /* uri_log always runs first; be defensive */
    if (!st->started) {
        st->started = true;
        /* A declared oversize body is refused now, before anything is read: answering at this
         * first call means libmicrohttpd never sends `100 Continue` to an `Expect` client. */
        if (declared_too_large(c, srv->opts.max_body))
            return refuse_too_large(c);
        /* Otherwise responding now would skip the request body: wait for the upload calls. */
        return MHD_YES;
    }
    if (*upload_size) {
        if (!st->too_large && dm_buf_append(&st->body, upload_data, *upload_size) != DM_OK)
            st->too_large = true;
        *upload_size = 0;
        return MHD_YES;
    }
    /* A declared oversize body is refused before reading it. */
    struct dm_http_resp resp = {.status = 200};
    dm_buf_init(&resp.body, 64u << 20);
    const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (st->too_large || (clen && strtoull(clen, NULL, 10) > srv->opts.max_body)) {
        dm_http_resp_error(&resp, 413, "PAYLOAD_TOO_LARGE", "request body exceeds the limit");
        enum MHD_Result ok = send_resp(c, &resp);
        resp_free(&resp);
        return ok;
    }
    struct dm_http_req req = {
        .method = method,
        .path = url,
        .target = st->target,
        .body = st->body.data ? st->body.data : "",
        .body_len = st->body.len,
        .conn = c,
    };
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        if (ci->client_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, req.client_ip,
                      sizeof(req.client_ip));
        else if (ci->client_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ci->client_addr)->sin6_addr, req.client_ip,
                      sizeof(req.client_ip));
    }
    srv->opts.handler(srv->opts.ctx, &req, &resp);
    enum MHD_Result ok = send_resp(c, &resp);
    resp_free(&resp);
    return ok;
}

enum dm_err dm_http_server_start(const struct dm_http_server_opts *opts,
                                 struct dm_http_server **out, struct dm_error *err)
{
    struct dm_http_server *srv = dm_xcalloc(1, sizeof(*srv));
    srv->opts = *opts;
    if (srv->opts.threads <= 0)
        srv->opts.threads = 4;
    if (srv->opts.max_body == 0)
        srv->opts.max_body = 100 * 1000;
    if (srv->opts.timeout_s == 0)
        srv->opts.timeout_s = 30;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opts->port);
    if (inet_pton(AF_INET, opts->bind ? opts->bind : "127.0.0.1", &addr.sin_addr) != 1) {
        free(srv);
        return dm_error_set(err, DM_ERR_INVALID, "bad bind address");
    }
    srv->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)opts->port,
        NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->opts.threads, MHD_OPTION_URI_LOG_CALLBACK,
        uri_log, srv, MHD_OPTION_NOTIFY_COMPLETED, completed, srv, MHD_OPTION_CONNECTION_TIMEOUT,
        srv->opts.timeout_s, MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        1024u, MHD_OPTION_END);
    if (srv->d == NULL) {
        free(srv);
        return dm_error_set(err, DM_ERR_IO, "cannot listen on %s:%d (port in use?)",
                            opts->bind ? opts->bind : "127.0.0.1", opts->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : opts->port;
    *out = srv;
    return DM_OK;
}

int dm_http_server_port(const struct dm_http_server *srv)
{
    return srv->port;
}

void dm_http_server_stop(struct dm_http_server *srv)
{
    if (srv == NULL)
        return;
    MHD_stop_daemon(srv->d);
    free(srv);
}
