/* test_alert_resend.c - the Resend alert sink against a local HTTP capture: endpoint path,
 * bearer auth, JSON body; a failing or unreachable endpoint is reported, never fatal. */
#include "testlib.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/alert/alert.h"
#include "adapters/http/client.h"
#include "adapters/http/server.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"

struct capture {
    pthread_mutex_t mu;
    int count;
    int status; /* what to answer */
    char method[16];
    char path[256];
    char auth[256];
    char content_type[128];
    char *body;
};

static void handler(void *ctx, const struct dm_http_req *req, struct dm_http_resp *resp)
{
    struct capture *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->count++;
    snprintf(c->method, sizeof(c->method), "%s", req->method);
    snprintf(c->path, sizeof(c->path), "%s", req->path);
    const char *a = dm_http_req_header(req, "Authorization");
    snprintf(c->auth, sizeof(c->auth), "%s", a ? a : "");
    const char *ct = dm_http_req_header(req, "Content-Type");
    snprintf(c->content_type, sizeof(c->content_type), "%s", ct ? ct : "");
    free(c->body);
    c->body = dm_xstrdup(req->body);
    int status = c->status;
    pthread_mutex_unlock(&c->mu);
    dm_http_resp_json(resp, status, json_pack("{s:s}", "id", "email-1"));
}

static void test_resend(void **state)
{
    dm_http_global_init();
    dm_log_init("test", DM_LOG_ERROR);
    struct capture cap = {.status = 200};
    pthread_mutex_init(&cap.mu, NULL);
    struct dm_http_server_opts opts = {.port = 0, .handler = handler, .ctx = &cap};
    struct dm_http_server *srv = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_http_server_start(&opts, &srv, &err), DM_OK);
    char base[128];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d/", dm_http_server_port(srv));

    struct dm_alert_opts o = {.resend_api_key = "re_test_key_123",
                              .resend_endpoint = base,
                              .email_to = "ops@example.com, oncall@example.com",
                              .email_from = "alerts@example.com"};
    struct dm_alert_sink *s = dm_alert_open(&o);
    assert_string_equal(dm_alert_backend_name(s), "resend");
    struct dm_log_ctx ctx = {.run_id = "11111111-2222-4333-8444-555555555555"};
    assert_int_equal(
        dm_alert_send(s, &ctx, "Consolidation failed", "Run X\nwatermark not advanced"), DM_OK);

    pthread_mutex_lock(&cap.mu);
    assert_int_equal(cap.count, 1);
    assert_string_equal(cap.method, "POST");
    assert_string_equal(cap.path, "/emails");
    assert_string_equal(cap.auth, "Bearer re_test_key_123");
    assert_non_null(strstr(cap.content_type, "application/json"));
    json_t *body = json_loads(cap.body, 0, NULL);
    if (body == NULL)
        fail_msg("body: [%s]", cap.body);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "from")), "alerts@example.com");
    json_t *to = json_object_get(body, "to");
    assert_true(json_is_array(to));
    assert_int_equal(json_array_size(to), 2);
    assert_string_equal(json_string_value(json_array_get(to, 0)), "ops@example.com");
    assert_string_equal(json_string_value(json_array_get(to, 1)), "oncall@example.com");
    assert_string_equal(json_string_value(json_object_get(body, "subject")),
                        "[Diamond Platform] Consolidation failed");
    assert_string_equal(json_string_value(json_object_get(body, "text")),
                        "Run X\nwatermark not advanced");
    json_decref(body);
    cap.status = 500;
    pthread_mutex_unlock(&cap.mu);

    /* A failing provider is reported, not fatal. */
    assert_int_not_equal(dm_alert_send(s, &ctx, "Run stalled", "body"), DM_OK);
    pthread_mutex_lock(&cap.mu);
    assert_int_equal(cap.count, 2);
    pthread_mutex_unlock(&cap.mu);
    dm_alert_free(s);

    /* Unreachable endpoint: a network error, returned quickly. */
    int port = dm_http_server_port(srv);
    dm_http_server_stop(srv);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    s = dm_alert_open(&o);
    assert_int_not_equal(dm_alert_send(s, NULL, "Consolidation skipped", "b"), DM_OK);
    dm_alert_free(s);

    /* No key: the log sink, which always succeeds. */
    struct dm_alert_opts plain = {0};
    s = dm_alert_open(&plain);
    assert_string_equal(dm_alert_backend_name(s), "log");
    dm_alert_free(s);
    s = dm_alert_open(NULL);
    assert_string_equal(dm_alert_backend_name(s), "log");
    assert_int_equal(dm_alert_send(s, NULL, "Consolidation skipped", "b"), DM_OK);
    dm_alert_free(s);
    free(cap.body);
    pthread_mutex_destroy(&cap.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_resend)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
