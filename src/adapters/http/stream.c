/* stream.c - libcurl (multi interface, one easy handle) driven by the reader: see stream.h. */
#include "adapters/http/stream.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"

struct dm_http_stream {
    CURL *h;
    CURLM *m;
    struct curl_slist *hdrs;
    char *method, *url;
    struct dm_buf headers; /* header block of the latest response */
    char *win;             /* buffered body bytes [win_off, win_len) */
    size_t win_len, win_off, win_cap;
    size_t max_response, received;
    bool paused, head_done, done, too_large;
    /* Request body sent piecewise (dm_http_stream_begin/write/finish). */
    const char *up_data;
    size_t up_len, up_off;
    bool up_paused, up_eof;
    int (*should_abort)(void);
    CURLcode result;
};

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    struct dm_http_stream *s = ud;
    size_t len = size * n;
    if (s->max_response && s->received + len > s->max_response) {
        s->too_large = true;
        return 0; /* aborts the transfer */
    }
    if (s->win_off == s->win_len)
        s->win_off = s->win_len = 0;
    if (s->win_cap - s->win_len < len && s->win_off > 0) {
        memmove(s->win, s->win + s->win_off, s->win_len - s->win_off);
        s->win_len -= s->win_off;
        s->win_off = 0;
    }
    if (s->win_cap - s->win_len < len) {
        if (s->win_len > 0) {
            s->paused = true; /* the reader is behind: hold the sender */
            return CURL_WRITEFUNC_PAUSE;
        }
        /* Empty window but a bigger chunk (curl may hand back buffered data at once). */
        s->win = dm_xrealloc(s->win, len);
        s->win_cap = len;
    }
    memcpy(s->win + s->win_len, ptr, len);
    s->win_len += len;
    s->received += len;
    return len;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud)
{
    struct dm_http_stream *s = ud;
    size_t len = size * n;
    if (len >= 5 && !strncmp(ptr, "HTTP/", 5))
        dm_buf_reset(&s->headers); /* a new response (after 1xx or a redirect) */
    if (dm_buf_append(&s->headers, ptr, len) != DM_OK)
        return 0;
    if ((len == 2 && ptr[0] == '\r') || (len == 1 && ptr[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200)
            s->head_done = true;
    }
    return len;
}

/* Copy up to n of the bytes src[*off, len) to dst and move *off past them: how many. */
static size_t take(char *dst, size_t n, const char *src, size_t *off, size_t len)
{
    size_t k = len - *off;
    if (k > n)
        k = n;
    memcpy(dst, src + *off, k);
    *off += k;
    return k;
}

static size_t on_upload(char *buf, size_t size, size_t n, void *ud)
{
    struct dm_http_stream *s = ud;
    if (s->up_off < s->up_len)
        return take(buf, size * n, s->up_data, &s->up_off, s->up_len);
    if (s->up_eof)
        return 0;
    s->up_paused = true; /* nothing from the client yet: wait for dm_http_stream_write */
    return CURL_READFUNC_PAUSE;
}

static enum dm_err failure(struct dm_http_stream *s, struct dm_error *err)
{
    if (s->too_large)
        return dm_error_set(err, DM_ERR_TOO_LARGE, "%s %s: response body over %zu bytes", s->method,
                            s->url, s->max_response);
    if (s->result == CURLE_OPERATION_TIMEDOUT)
        return dm_error_set(err, DM_ERR_TIMEOUT, "%s %s: timed out", s->method, s->url);
    return dm_error_set(err, DM_ERR_NETWORK, "%s %s: %s", s->method, s->url,
                        curl_easy_strerror(s->result));
}

/* Move the transfer on; waits up to 250 ms for the socket when nothing happened. */
static enum dm_err pump(struct dm_http_stream *s, struct dm_error *err)
{
    if (s->should_abort && s->should_abort())
        return dm_error_set(err, DM_ERR_SHUTDOWN, "%s %s: abandoned (shutting down)", s->method,
                            s->url);
    int running = 0;
    CURLMcode mc = curl_multi_perform(s->m, &running);
    if (mc != CURLM_OK)
        return dm_error_set(err, DM_ERR_NETWORK, "%s %s: %s", s->method, s->url,
                            curl_multi_strerror(mc));
    int left;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(s->m, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            s->done = true;
            s->result = msg->data.result;
            s->head_done = true;
        }
    }
    if (!s->done && s->win_off == s->win_len && !s->paused) {
        mc = curl_multi_poll(s->m, NULL, 0, 250, NULL);
        if (mc != CURLM_OK)
            return dm_error_set(err, DM_ERR_NETWORK, "%s %s: %s", s->method, s->url,
                                curl_multi_strerror(mc));
    }
    return DM_OK;
}

static bool has_header(const struct dm_http_request *req, const char *name)
{
    size_t n = strlen(name);
    for (const char *const *p = req->headers; p && *p; p++)
        if (!strncasecmp(*p, name, n) && (*p)[n] == ':')
            return true;
    return false;
}

/* Everything but the body. body_mode: 0 none, 1 whole (req->body), 2 piecewise. */
static struct dm_http_stream *setup(const struct dm_http_request *req, int body_mode,
                                    int64_t body_len, struct dm_error *err)
{
    dm_http_global_init();
    struct dm_http_stream *s = dm_xcalloc(1, sizeof(*s));
    s->method = dm_xstrdup(req->method);
    s->url = dm_xstrdup(req->url);
    s->max_response = req->max_response;
    s->win_cap = DM_HTTP_STREAM_WINDOW;
    s->win = dm_xmalloc(s->win_cap);
    dm_buf_init(&s->headers, (size_t)64 * 1024);
    s->h = curl_easy_init();
    s->m = curl_multi_init();
    if (s->h == NULL || s->m == NULL) {
        dm_error_set(err, DM_ERR_NOMEM, "curl initialisation failed");
        dm_http_stream_close(s);
        return NULL;
    }
    for (const char *const *p = req->headers; p && *p; p++)
        s->hdrs = curl_slist_append(s->hdrs, *p);
    s->hdrs = curl_slist_append(s->hdrs, "Expect:"); /* no 100-continue round trip */
    if (body_mode && !has_header(req, "Content-Type"))
        s->hdrs = curl_slist_append(s->hdrs, "Content-Type:"); /* not curl's form default */
    curl_easy_setopt(s->h, CURLOPT_URL, req->url);
    if (!strcmp(req->method, "HEAD"))
        curl_easy_setopt(s->h, CURLOPT_NOBODY, 1L);
    if (body_mode == 1) {
        curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(s->h, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
    } else if (body_mode == 2) {
        curl_easy_setopt(s->h, CURLOPT_POST, 1L);
        curl_easy_setopt(s->h, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(s->h, CURLOPT_READDATA, s);
        curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (body_len < 0)
            s->hdrs = curl_slist_append(s->hdrs, "Transfer-Encoding: chunked");
    }
    /* After the body options: they would otherwise imply POST. */
    curl_easy_setopt(s->h, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms ? req->connect_timeout_ms : 10000L);
    curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, req->timeout_ms ? req->timeout_ms : 45000L);
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(s->h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(s->h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(s->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(s->h, CURLOPT_HEADERDATA, s);
    if (curl_multi_add_handle(s->m, s->h) != CURLM_OK) {
        dm_error_set(err, DM_ERR_NOMEM, "curl_multi_add_handle failed");
        dm_http_stream_close(s);
        return NULL;
    }
    return s;
}

/* Pump until the response head is in; DM_OK or the exchange's failure. */
static enum dm_err wait_head(struct dm_http_stream *s, struct dm_error *err)
{
    while (!s->head_done) {
        enum dm_err e = pump(s, err);
        if (e != DM_OK)
            return e;
    }
    if (s->done && s->result != CURLE_OK)
        return failure(s, err);
    return DM_OK;
}

enum dm_err dm_http_stream_open(const struct dm_http_request *req, struct dm_http_stream **out,
                                struct dm_error *err)
{
    *out = NULL;
    struct dm_http_stream *s = setup(req, req->body ? 1 : 0, 0, err);
    if (s == NULL)
        return err ? err->code : DM_ERR_NOMEM;
    enum dm_err e = wait_head(s, err);
    if (e != DM_OK) {
        dm_http_stream_close(s);
        return e;
    }
    *out = s;
    return DM_OK;
}

enum dm_err dm_http_stream_begin(const struct dm_http_request *req, int64_t body_len,
                                 struct dm_http_stream **out, struct dm_error *err)
{
    *out = setup(req, 2, body_len, err);
    return *out ? DM_OK : (err ? err->code : DM_ERR_NOMEM);
}

enum dm_err dm_http_stream_write(struct dm_http_stream *s, const char *data, size_t len,
                                 struct dm_error *err)
{
    enum dm_err e = DM_OK;
    s->up_data = data;
    s->up_len = len;
    s->up_off = 0;
    /* An early answer (the API refusing the body) ends the upload: the rest is dropped. */
    while (s->up_off < s->up_len && !s->head_done) {
        if (s->up_paused) {
            s->up_paused = false;
            curl_easy_pause(s->h, CURLPAUSE_CONT);
        }
        e = pump(s, err);
        if (e != DM_OK)
            break;
    }
    s->up_data = NULL;
    s->up_len = s->up_off = 0;
    if (e == DM_OK && s->done && s->result != CURLE_OK)
        e = failure(s, err);
    return e;
}

enum dm_err dm_http_stream_finish(struct dm_http_stream *s, struct dm_error *err)
{
    s->up_eof = true;
    if (s->up_paused) {
        s->up_paused = false;
        curl_easy_pause(s->h, CURLPAUSE_CONT);
    }
    return wait_head(s, err);
}

long dm_http_stream_status(const struct dm_http_stream *s)
{
    long code = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

const char *dm_http_stream_headers(const struct dm_http_stream *s)
{
    return s->headers.data ? s->headers.data : "";
}

int64_t dm_http_stream_length(const struct dm_http_stream *s)
{
    curl_off_t len = -1;
    if (curl_easy_getinfo(s->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) != CURLE_OK)
        return -1;
    return len >= 0 ? (int64_t)len : -1;
}

void dm_http_stream_set_abort(struct dm_http_stream *s, int (*should_abort)(void))
{
    s->should_abort = should_abort;
}

ssize_t dm_http_stream_read(struct dm_http_stream *s, char *buf, size_t n, struct dm_error *err)
{
    for (;;) {
        if (s->win_off < s->win_len)
            return (ssize_t)take(buf, n, s->win, &s->win_off, s->win_len);
        if (s->paused) {
            /* The window is empty now: let curl hand over what it held back. */
            s->paused = false;
            curl_easy_pause(s->h, CURLPAUSE_CONT);
            continue;
        }
        if (s->done) {
            if (s->result == CURLE_OK && !s->too_large)
                return 0;
            (void)failure(s, err);
            return -1;
        }
        if (pump(s, err) != DM_OK)
            return -1;
    }
}

void dm_http_stream_close(struct dm_http_stream *s)
{
    if (s == NULL)
        return;
    if (s->m && s->h)
        curl_multi_remove_handle(s->m, s->h);
    if (s->h)
        curl_easy_cleanup(s->h);
    if (s->m)
        curl_multi_cleanup(s->m);
    curl_slist_free_all(s->hdrs);
    dm_buf_free(&s->headers);
    free(s->win);
    free(s->method);
    free(s->url);
    free(s);
}
