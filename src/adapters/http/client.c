/* client.c - libcurl wrapper with bounded bodies and classified errors. */
#include "adapters/http/client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
/* One easy handle per thread, reused across calls so connections (and TLS sessions) stay alive:
 * curl_easy_reset keeps the connection cache. Released when the thread exits. */
static pthread_key_t handle_key;

static void free_handle(void *h)
{
    curl_easy_cleanup(h);
}

static void init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&handle_key, free_handle);
}

static CURL *thread_handle(void)
{
    CURL *h = pthread_getspecific(handle_key);
    if (h != NULL) {
        curl_easy_reset(h);
        return h;
    }
    h = curl_easy_init();
    if (h != NULL && pthread_setspecific(handle_key, h) != 0) {
        curl_easy_cleanup(h);
        h = NULL;
    }
    return h;
}

void dm_http_thread_cleanup(void)
{
    dm_http_global_init();
    CURL *h = pthread_getspecific(handle_key);
    if (h != NULL) {
        pthread_setspecific(handle_key, NULL);
        curl_easy_cleanup(h);
    }
}

void dm_http_global_init(void)
{
    pthread_once(&once, init_once);
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    struct dm_buf *b = ud;
    if (dm_buf_append(b, ptr, size * n) != DM_OK)
        return 0; /* aborts the transfer: body too large */
    return size * n;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud)
{
    struct dm_buf *b = ud;
    if (dm_buf_append(b, ptr, size * n) != DM_OK)
        return 0;
    return size * n;
}

enum dm_err dm_http_do(const struct dm_http_request *req, struct dm_http_response *resp,
                       struct dm_error *err)
{
    dm_http_global_init();
    resp->status = 0;
    dm_buf_init(&resp->body, req->max_response ? req->max_response : 16u << 20);
    dm_buf_init(&resp->headers, (size_t)64 * 1024);
    CURL *h = thread_handle();
    if (h == NULL)
        return dm_error_set(err, DM_ERR_NOMEM, "curl_easy_init failed");
    struct curl_slist *hdrs = NULL;
    for (const char *const *p = req->headers; p && *p; p++)
        hdrs = curl_slist_append(hdrs, *p);
    if (req->body)
        hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    if (!strcmp(req->method, "HEAD"))
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (req->body || !strcmp(req->method, "POST") || !strcmp(req->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms ? req->connect_timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms ? req->timeout_ms : 45000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp->headers);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    CURLcode rc = curl_easy_perform(h);
    enum dm_err e = DM_OK;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        e = dm_error_set(err, DM_ERR_TIMEOUT, "%s %s: timed out", req->method, req->url);
    } else if (rc == CURLE_WRITE_ERROR) {
        e = dm_error_set(err, DM_ERR_TOO_LARGE, "%s %s: response body over %zu bytes", req->method,
                         req->url, resp->body.max);
    } else {
        e = dm_error_set(err, DM_ERR_NETWORK, "%s %s: %s", req->method, req->url,
                         curl_easy_strerror(rc));
    }
    if (e == DM_OK && resp->body.data == NULL) {
        /* Always leave a NUL-terminated (empty) body. */
        if (dm_buf_append(&resp->body, "", 0) != DM_OK)
            e = DM_ERR_NOMEM;
    }
    /* The handle still points at hdrs and the body buffers: detach them before they go. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    return e;
}

void dm_http_response_free(struct dm_http_response *resp)
{
    if (resp == NULL)
        return;
    dm_buf_free(&resp->body);
    dm_buf_free(&resp->headers);
}

bool dm_http_header(const struct dm_http_response *resp, const char *name, char *out, size_t size)
{
    const char *p = resp->headers.data;
    size_t nlen = strlen(name);
    bool found = false;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nlen && p[nlen] == ':' && !strncasecmp(p, name, nlen)) {
            const char *v = p + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vlen = len - (size_t)(v - p);
            if (vlen >= size)
                vlen = size - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            found = true; /* keep scanning: the last response's header wins after redirects */
        }
        if (!eol)
            break;
        p = eol + 2;
    }
    return found;
}

enum dm_err dm_http_classify(long status)
{
    if (status >= 200 && status < 300)
        return DM_OK;
    if (status == 429)
        return DM_ERR_RATE_LIMITED;
    if (status == 408 || status >= 500)
        return DM_ERR_REMOTE;
    if (status == 401 || status == 403)
        return DM_ERR_AUTH;
    if (status == 404)
        return DM_ERR_NOT_FOUND;
    if (status == 409 || status == 412)
        return DM_ERR_CONFLICT;
    return DM_ERR_REJECTED;
}
