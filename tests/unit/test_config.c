/* test_config.c - configuration table: defaults, validation, all problems reported at once,
 * secrets never echoed, conninfo building; and the JSON-line logger. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "testconfig.h"

static int clear_env(void **state)
{
    (void)state;
    dm_test_config_unset_all();
    unsetenv("PGHOST"); /* libpq's, read by dm_config_conninfo_needs_tls */
    unsetenv("PGSSLMODE");
    return 0;
}

/* The conninfo of the operator commands' configuration, which must load. */
static char *cli_conninfo(void)
{
    struct dm_test_config t;
    dm_test_config_load_ok(&t, DM_SVC_CLI);
    char *ci = dm_config_conninfo(&t.cfg);
    dm_test_config_free(&t);
    return ci;
}

static void test_defaults(void **state)
{
    (void)state;
    setenv("DATABASE_URL", "postgresql://u@127.0.0.1:5432/db", 1);
    struct dm_test_config t;
    dm_test_config_load_ok(&t, DM_SVC_API);
    assert_int_equal(t.cfg.port, 3000);
    assert_int_equal(t.cfg.database_pool_size, 15);
    assert_int_equal(t.cfg.log_level, DM_LOG_INFO);
    assert_string_equal(t.cfg.queue_backend, "pg");
    assert_string_equal(t.cfg.cors_origins, "*");
    char *ci = dm_config_conninfo(&t.cfg);
    assert_string_equal(ci, "postgresql://u@127.0.0.1:5432/db");
    free(ci);
    dm_test_config_free(&t);
}

static void test_all_problems_at_once(void **state)
{
    (void)state;
    setenv("DATABASE_PORT", "abc", 1);
    setenv("DATABASE_HOST", "db.example.com", 1);
    setenv("LOG_LEVEL", "loud", 1);
    setenv("HMAC_SECRETS", "{not json", 1);
    setenv("DATABASE_PASSWORD", "hunter2-secret", 1);
    setenv("DATABASE_POOL_SIZE", "0", 1);
    static const char *const has[] = {
        "DATABASE_PORT=\"abc\"",    "LOG_LEVEL=\"loud\"", "HMAC_SECRETS must be a JSON object",
        "DATABASE_POOL_SIZE=\"0\"", "4 problems",         NULL};
    /* A secret's value is never echoed. */
    static const char *const lacks[] = {"{not json", "hunter2", NULL};
    dm_test_config_expect(DM_SVC_API, DM_ERR_INVALID, has, lacks);
}

static void test_required_and_cross_field(void **state)
{
    (void)state;
    setenv("DATABASE_HOST", "db.example.com", 1);
    setenv("RESEND_API_KEY", "re_123", 1);
    setenv("ALERT_EMAIL_TO", "not-an-email", 1);
    static const char *const has[] = {"NIVODA_ENDPOINT is required", "NIVODA_USERNAME is required",
                                      "ALERT_EMAIL_TO=\"not-an-email\" must be an e-mail address",
                                      "ALERT_EMAIL_TO and ALERT_EMAIL_FROM are required", NULL};
    dm_test_config_expect(DM_SVC_WORKER, DM_ERR_INVALID, has, NULL);
}

static void test_conninfo_sslmode(void **state)
{
    (void)state;
    setenv("DATABASE_HOST", "aws-0-us-east-1.pooler.supabase.com", 1);
    setenv("DATABASE_USERNAME", "post'gres", 1);
    setenv("DATABASE_PASSWORD", "p\\w", 1);
    char *ci = cli_conninfo();
    assert_non_null(strstr(ci, "sslmode='require'"));
    assert_non_null(strstr(ci, "user='post\\'gres'"));
    assert_non_null(strstr(ci, "password='p\\\\w'"));
    free(ci);

    setenv("DATABASE_HOST", "127.0.0.1", 1);
    ci = cli_conninfo();
    assert_non_null(strstr(ci, "sslmode='disable'"));
    free(ci);

    setenv("DATABASE_SSLMODE", "verify-full", 1);
    ci = cli_conninfo();
    assert_non_null(strstr(ci, "sslmode='verify-full'"));
    free(ci);
    unsetenv("DATABASE_SSLMODE");
}

/* DATABASE_URL gets the DATABASE_HOST rule: sslmode=require for a remote host unless the URL
 * (or DATABASE_SSLMODE) says otherwise; libpq's default (prefer) can be downgraded to plaintext
 * by anyone in between (issue 15, item 7). */
static void test_conninfo_url_sslmode(void **state)
{
    static const struct {
        const char *url, *want;
    } cases[] = {
        {"postgresql://u:p@db.example.com:5432/app",
         "postgresql://u:p@db.example.com:5432/app?sslmode=require"},
        {"postgres://u@db.example.com/app?application_name=x",
         "postgres://u@db.example.com/app?application_name=x&sslmode=require"},
        {"postgresql://u@10.0.0.5/app", "postgresql://u@10.0.0.5/app?sslmode=require"},
        {"postgresql://u@[2001:db8::1]:5432/app",
         "postgresql://u@[2001:db8::1]:5432/app?sslmode=require"},
        /* one remote host in a list is enough */
        {"postgresql://u@127.0.0.1,db.example.com/app",
         "postgresql://u@127.0.0.1,db.example.com/app?sslmode=require"},
        /* host in the query string, hostaddr decides where the connection goes */
        {"postgresql:///app?host=db.example.com",
         "postgresql:///app?host=db.example.com&sslmode=require"},
        {"postgresql://localhost/app?hostaddr=192.0.2.7",
         "postgresql://localhost/app?hostaddr=192.0.2.7&sslmode=require"},
        {"host=db.example.com dbname=app user=u",
         "host=db.example.com dbname=app user=u sslmode=require"},
        {"host='db.example.com' port=6543", "host='db.example.com' port=6543 sslmode=require"},
        /* an explicit choice stands, local targets stay as they are */
        {"postgresql://u@db.example.com/app?sslmode=verify-full",
         "postgresql://u@db.example.com/app?sslmode=verify-full"},
        {"postgresql://u@db.example.com/app?sslmode=disable",
         "postgresql://u@db.example.com/app?sslmode=disable"},
        {"host=db.example.com sslmode=verify-ca", "host=db.example.com sslmode=verify-ca"},
        {"postgresql://u@127.0.0.1:5432/db", "postgresql://u@127.0.0.1:5432/db"},
        {"postgresql://u@localhost/db", "postgresql://u@localhost/db"},
        {"postgresql://u@[::1]/db", "postgresql://u@[::1]/db"},
        {"postgresql://%2Fvar%2Frun%2Fpostgresql/db", "postgresql://%2Fvar%2Frun%2Fpostgresql/db"},
        {"postgresql:///db", "postgresql:///db"},
        {"host=/tmp dbname=x", "host=/tmp dbname=x"},
        {"dbname=x", "dbname=x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setenv("DATABASE_URL", cases[i].url, 1);
        char *ci = cli_conninfo();
        if (strcmp(ci, cases[i].want) != 0)
            fail_msg("%s: got %s, want %s", cases[i].url, ci, cases[i].want);
        free(ci);
    }
    /* DATABASE_SSLMODE wins; PGHOST counts when the URL names no host; PGSSLMODE is a choice. */
    setenv("DATABASE_URL", "postgresql://u@db.example.com/app", 1);
    setenv("DATABASE_SSLMODE", "verify-full", 1);
    char *ci = cli_conninfo();
    assert_string_equal(ci, "postgresql://u@db.example.com/app?sslmode=verify-full");
    free(ci);
    unsetenv("DATABASE_SSLMODE");
    setenv("PGHOST", "db.example.com", 1);
    assert_true(dm_config_conninfo_needs_tls("dbname=x"));
    assert_true(dm_config_conninfo_needs_tls("postgresql:///db"));
    assert_false(dm_config_conninfo_needs_tls("host=127.0.0.1 dbname=x"));
    unsetenv("PGHOST");
    setenv("PGSSLMODE", "verify-full", 1);
    assert_false(dm_config_conninfo_needs_tls("host=db.example.com"));
    unsetenv("PGSSLMODE");
    assert_false(dm_config_conninfo_needs_tls("not a conninfo ="));
    (void)state;
}

static void test_servicebus_selected(void **state)
{
    (void)state;
    setenv("DATABASE_URL", "postgresql://u@127.0.0.1/db", 1);
    setenv("AZURE_SERVICE_BUS_CONNECTION_STRING",
           "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s", 1);
    struct dm_test_config t;
    dm_test_config_load_ok(&t, DM_SVC_CONSOLIDATOR);
    assert_string_equal(t.cfg.queue_backend, "servicebus");
    dm_test_config_free(&t);
}

/* Per-queue Service Bus strings (queue-scoped rules): one alone selects Service Bus; a
 * malformed one, or one whose EntityPath names another queue, fails start-up naming the
 * variable, never echoing the value or the key. */
static void test_servicebus_per_queue(void **state)
{
    (void)state;
    const char *ok_wi = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=scheduler-"
                        "work-items;SharedAccessKey=S3cretQueueKey=;EntityPath=work-items";
    setenv("DATABASE_URL", "postgresql://u@127.0.0.1/db", 1);
    setenv("AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS", ok_wi, 1);
    struct dm_test_config t;
    dm_test_config_load_ok(&t, DM_SVC_CONSOLIDATOR);
    assert_string_equal(t.cfg.queue_backend, "servicebus");
    assert_null(t.cfg.azure_service_bus_connection_string);
    assert_string_equal(t.cfg.azure_service_bus_connection_string_work_items, ok_wi);
    dm_test_config_free(&t);
    setenv("QUEUE_BACKEND", "servicebus", 1);
    dm_test_config_expect(DM_SVC_API, DM_OK, NULL, NULL);
    unsetenv("QUEUE_BACKEND");

    /* work-items' rule given as consolidate's, and a string without its key. */
    setenv("AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE", ok_wi, 1);
    setenv("AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE",
           "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=w;EntityPath=work-done",
           1);
    static const char *const has[] = {
        "config: AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE EntityPath names another queue",
        "config: AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE no SharedAccessKey", "2 problems",
        NULL};
    static const char *const lacks[] = {"S3cretQueueKey", "Endpoint=", NULL};
    dm_test_config_expect(DM_SVC_CONSOLIDATOR, DM_ERR_INVALID, has, lacks);
    /* The dashboard and the feed simulator do not read them. */
    dm_test_config_expect(DM_SVC_DASHBOARD, DM_OK, NULL, NULL);
}

static void test_names(void **state)
{
    const char **names = dm_config_names(DM_SVC_DASHBOARD);
    bool api_url = false, db = false;
    for (; *names; names++) {
        api_url |= !strcmp(*names, "API_URL");
        db |= !strcmp(*names, "DATABASE_URL");
    }
    assert_true(api_url);
    assert_false(db);
}

static void test_log_json_lines(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    dm_log_init("tester", DM_LOG_INFO);
    dm_log_set_fd(fds[1]);
    struct dm_log_ctx ctx = {.run_id = "r1", .partition_id = "p7", .request_id = "q\"x"};
    dm_debug(&ctx, "hidden %d", 1);
    dm_info(&ctx, "hello %s", "world");
    dm_log_set_fd(1);
    close(fds[1]);
    char buf[1024] = {0};
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(n > 0);
    assert_null(strstr(buf, "hidden"));
    struct dm_error err;
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    assert_null(strchr(nl + 1, '\n'));
    json_t *o = dm_json_parse_object(buf, (size_t)(nl - buf), 1024, &err);
    assert_non_null(o);
    assert_string_equal(dm_json_str(o, "level"), "info");
    assert_string_equal(dm_json_str(o, "service"), "tester");
    assert_string_equal(dm_json_str(o, "msg"), "hello world");
    assert_string_equal(dm_json_str(o, "runId"), "r1");
    assert_string_equal(dm_json_str(o, "partitionId"), "p7");
    assert_string_equal(dm_json_str(o, "requestId"), "q\"x");
    assert_non_null(dm_json_str(o, "time"));
    assert_null(json_object_get(o, "traceId"));
    json_decref(o);
}

/* Bytes that are not UTF-8 (a request path, a header) are escaped, never dropped: jansson
 * refuses such strings, and the field (or the message) used to vanish from the line. */
static void test_log_invalid_utf8(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    dm_log_init("tester", DM_LOG_INFO);
    dm_log_set_fd(fds[1]);
    struct dm_log_ctx ctx = {.request_id = "r\xff"
                                           "1"};
    dm_info(&ctx, "refused /caf\xe9/%s", "\xc3\xa9t\xc3");
    json_t *f = json_pack("{s:o,s:o}", "path", dm_log_str("/api/caf\xe9\x80\xf0\x9f\x92"), "ok",
                          dm_log_str("caf\xc3\xa9 \xf0\x9f\x92\x8e"));
    assert_non_null(f);
    dm_log_fields(DM_LOG_INFO, NULL, "request", f);
    json_decref(f);
    dm_log_set_fd(1);
    close(fds[1]);
    char buf[2048] = {0};
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    close(fds[0]);
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    struct dm_error err;
    json_t *o = dm_json_parse_object(buf, (size_t)(nl - buf), 2048, &err);
    assert_non_null(o);
    assert_string_equal(dm_json_str(o, "msg"), "refused /caf\\xe9/\xc3\xa9t\\xc3");
    assert_string_equal(dm_json_str(o, "requestId"), "r\\xff1");
    json_decref(o);
    o = dm_json_parse_object(nl + 1, strlen(nl + 1) - 1, 2048, &err);
    assert_non_null(o);
    assert_string_equal(dm_json_str(o, "path"), "/api/caf\\xe9\\x80\\xf0\\x9f\\x92");
    assert_string_equal(dm_json_str(o, "ok"), "caf\xc3\xa9 \xf0\x9f\x92\x8e"); /* valid: as is */
    json_decref(o);
    o = json_pack("{s:o}", "x", dm_log_str(NULL));
    assert_string_equal(dm_json_str(o, "x"), "");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_all_problems_at_once, clear_env),
        cmocka_unit_test_setup(test_required_and_cross_field, clear_env),
        cmocka_unit_test_setup(test_conninfo_sslmode, clear_env),
        cmocka_unit_test_setup(test_conninfo_url_sslmode, clear_env),
        cmocka_unit_test_setup(test_servicebus_selected, clear_env),
        cmocka_unit_test_setup(test_servicebus_per_queue, clear_env),
        cmocka_unit_test_setup(test_names, clear_env),
        cmocka_unit_test_setup(test_log_json_lines, clear_env),
        cmocka_unit_test_setup(test_log_invalid_utf8, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
