/*
 * server.c - libmicrohttpd adapter: bounded body collection, raw target capture, responses,
 * connection limits (total and per IP), and the deferral pool: a handler that must wait on a
 * slow dependency hands its work to a small pool of worker threads while its connection is
 * suspended, so the HTTP thread keeps serving every other connection it owns.
 */
#include "adapters/http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/num.h"

struct conn_state;

struct dm_http_server {
    struct MHD_Daemon *d;
    struct dm_http_server_opts opts;
    int port;
    /* Deferral pool: accepted jobs (queued or running) are at most pool_threads + pool_queue. */
    pthread_mutex_t mu;
    pthread_cond_t work_cv;         /* a job was queued, or stopping */
    pthread_cond_t idle_cv;         /* a deferred request ended */
    struct conn_state *head, *tail; /* queued jobs, oldest first */
    int accepted;                   /* deferred requests not yet ended (completed callback) */
    bool stopping;
    int nworkers;
    pthread_t *workers;
};

/* Per-request state, created by the URI log callback before the handler sees the request.
 * The request and response live here (not on the HTTP thread's stack) so a deferred request
 * keeps them while its connection is suspended. */
struct conn_state {
    struct dm_http_server *srv;
    char *target;
    struct dm_buf body;
    bool too_large;
    bool started; /* MHD's first call carries only the headers */
    struct dm_http_req req;
    struct dm_http_resp resp;
    bool has_resp;
    /* Deferral: set by dm_http_defer, queued after the connection is suspended. */
    dm_http_work work;
    void *work_arg;
    bool reserved; /* counted in srv->accepted */
    bool done;     /* work returned: resp is ready to send */
    struct conn_state *next;
};

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct dm_http_server *srv = cls;
    struct conn_state *st = dm_xcalloc(1, sizeof(*st));
    st->srv = srv;
    st->target = dm_xstrdup(uri ? uri : "/");
    dm_buf_init(&st->body, srv->opts.max_body);
    return st;
}

static void resp_free(struct dm_http_resp *r);

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct dm_http_server *srv = cls;
    struct conn_state *st = *con_cls;
    if (st == NULL)
        return;
    if (st->reserved) {
        pthread_mutex_lock(&srv->mu);
        srv->accepted--;
        pthread_cond_broadcast(&srv->idle_cv);
        pthread_mutex_unlock(&srv->mu);
    }
    if (st->has_resp)
        resp_free(&st->resp);
    free(st->target);
    dm_buf_free(&st->body);
    free(st);
    *con_cls = NULL;
}

/* ---- deferral pool ---- */

bool dm_http_defer(const struct dm_http_req *req, dm_http_work work, void *arg)
{
    struct conn_state *st = req->internal;
    struct dm_http_server *srv = st->srv;
    if (st->work != NULL || work == NULL)
        return false;
    bool ok;
    pthread_mutex_lock(&srv->mu);
    ok = !srv->stopping && srv->nworkers > 0 &&
         srv->accepted < srv->opts.pool_threads + srv->opts.pool_queue;
    if (ok)
        srv->accepted++;
    pthread_mutex_unlock(&srv->mu);
    if (ok) {
        st->reserved = true;
        st->work = work;
        st->work_arg = arg;
    }
    return ok;
}

static void *pool_worker(void *arg)
{
    struct dm_http_server *srv = arg;
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        while (srv->head == NULL && !srv->stopping)
            pthread_cond_wait(&srv->work_cv, &srv->mu);
        struct conn_state *st = srv->head;
        if (st == NULL)
            break; /* stopping and nothing left */
        srv->head = st->next;
        if (srv->head == NULL)
            srv->tail = NULL;
        pthread_mutex_unlock(&srv->mu);
        st->work(st->work_arg, &st->req, &st->resp);
        st->done = true;
        /* The suspended connection's HTTP thread calls on_request again, which sends resp. */
        MHD_resume_connection(st->req.conn);
        pthread_mutex_lock(&srv->mu);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* Queue a deferred request whose connection was just suspended. */
static void pool_push(struct dm_http_server *srv, struct conn_state *st)
{
    pthread_mutex_lock(&srv->mu);
    st->next = NULL;
    if (srv->tail)
        srv->tail->next = st;
    else
        srv->head = st;
    srv->tail = st;
    pthread_cond_signal(&srv->work_cv);
    pthread_mutex_unlock(&srv->mu);
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
    if (st->done) {
        /* A deferred request's work has finished: send what it produced. */
        return send_resp(c, &st->resp);
    }
    if (st->work != NULL)
        return MHD_YES; /* cannot happen: a suspended connection is not called */
    st->has_resp = true;
    st->resp.status = 200;
    dm_buf_init(&st->resp.body, 64u << 20);
    if (st->too_large || declared_too_large(c, srv->opts.max_body)) {
        dm_http_resp_error(&st->resp, 413, "PAYLOAD_TOO_LARGE", "request body exceeds the limit");
        return send_resp(c, &st->resp);
    }
    struct dm_http_req *req = &st->req;
    req->method = method;
    req->path = url;
    req->target = st->target;
    req->body = st->body.data ? st->body.data : "";
    req->body_len = st->body.len;
    req->conn = c;
    req->internal = st;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        if (ci->client_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, req->client_ip,
                      sizeof(req->client_ip));
        else if (ci->client_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ci->client_addr)->sin6_addr,
                      req->client_ip, sizeof(req->client_ip));
    }
    srv->opts.handler(srv->opts.ctx, req, &st->resp);
    if (st->work != NULL) {
        /* Suspend first, then queue: the worker's resume must come after the suspend. */
        MHD_suspend_connection(c);
        pool_push(srv, st);
        return MHD_YES;
    }
    return send_resp(c, &st->resp);
}

enum dm_err dm_http_server_start(const struct dm_http_server_opts *opts,
                                 struct dm_http_server **out, struct dm_error *err)
{
    struct dm_http_server *srv = dm_xcalloc(1, sizeof(*srv));
    srv->opts = *opts;
    if (srv->opts.threads <= 0)
        srv->opts.threads = 4;
    if (srv->opts.max_body == 0)
        srv->opts.max_body = (size_t)100 * 1000;
    if (srv->opts.timeout_s == 0)
        srv->opts.timeout_s = 30;
    if (srv->opts.max_connections == 0)
        srv->opts.max_connections = 4096;
    if (srv->opts.per_ip_limit == 0)
        srv->opts.per_ip_limit = 256;
    if (srv->opts.pool_threads < 0)
        srv->opts.pool_threads = 0;
    if (srv->opts.pool_queue < 0)
        srv->opts.pool_queue = 0;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->work_cv, NULL);
    pthread_cond_init(&srv->idle_cv, NULL);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opts->port);
    if (inet_pton(AF_INET, opts->bind ? opts->bind : "127.0.0.1", &addr.sin_addr) != 1) {
        dm_http_server_stop(srv);
        return dm_error_set(err, DM_ERR_INVALID, "bad bind address");
    }
    /* Thread pool over epoll (never a thread per connection): an idle or slow connection costs
     * a socket, not a thread. Per-IP and total connection caps and the idle timeout bound what
     * one client holding connections open can take. */
    srv->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
            MHD_ALLOW_SUSPEND_RESUME,
        (uint16_t)opts->port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->opts.threads,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log, srv, MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, srv->opts.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        srv->opts.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->opts.per_ip_limit,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (srv->d == NULL) {
        dm_http_server_stop(srv);
        return dm_error_set(err, DM_ERR_IO, "cannot listen on %s:%d (port in use?)",
                            opts->bind ? opts->bind : "127.0.0.1", opts->port);
    }
    if (srv->opts.pool_threads > 0) {
        srv->workers = dm_xcalloc((size_t)srv->opts.pool_threads, sizeof(pthread_t));
        for (int i = 0; i < srv->opts.pool_threads; i++) {
            if (pthread_create(&srv->workers[i], NULL, pool_worker, srv) != 0)
                break;
            srv->nworkers++;
        }
        if (srv->nworkers == 0)
            dm_warn(NULL, "http server: no deferral worker could be started; deferred requests "
                          "are refused");
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
    /* Finish the deferred work (no new jobs are accepted), then give the resumed connections a
     * bounded time to send their answers before the daemon closes everything. */
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->work_cv);
    pthread_mutex_unlock(&srv->mu);
    for (int i = 0; i < srv->nworkers; i++)
        pthread_join(srv->workers[i], NULL);
    free(srv->workers);
    if (srv->d != NULL) {
        struct timespec deadline = dm_deadline_after(CLOCK_REALTIME, 5000);
        pthread_mutex_lock(&srv->mu);
        while (srv->accepted > 0)
            if (pthread_cond_timedwait(&srv->idle_cv, &srv->mu, &deadline) != 0)
                break;
        pthread_mutex_unlock(&srv->mu);
        MHD_stop_daemon(srv->d);
    }
    pthread_cond_destroy(&srv->idle_cv);
    pthread_cond_destroy(&srv->work_cv);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}
