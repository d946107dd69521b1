/* test_adapter_opts.c - the one place where the configuration becomes adapter options
 * (app/adapter_opts.h): every variable an adapter family reads reaches its options struct
 * unchanged, an unset one stays NULL (the adapter's default), and the map-and-open helpers
 * choose the backend the configuration asks for: alert log | resend, jobtrigger local |
 * azure, queue pg (with the work-items lock override) | servicebus, watermark file (the
 * default name in WATERMARK_DIR) | azure. No network, no database: the pg queue is opened
 * over a pool that never connects. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/db/db.h"
#include "app/adapter_opts.h"

#define SB_NS "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=ns;SharedAccessKey=a2V5"
#define SB_WI                                                                                      \
    "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=wi;SharedAccessKey=a2V5;"        \
    "EntityPath=work-items"

/* A configuration whose every adapter variable is set to its own string. */
static struct dm_config full_config(void)
{
    struct dm_config cfg = {0};
    cfg.resend_api_key = "re_key";
    cfg.resend_endpoint = "http://127.0.0.1:1/";
    cfg.alert_email_to = "ops@example.com";
    cfg.alert_email_from = "alerts@example.com";
    cfg.azure_subscription_id = "sub";
    cfg.azure_resource_group = "rg";
    cfg.azure_scheduler_job_name = "job";
    cfg.azure_management_endpoint = "http://127.0.0.1:2";
    cfg.azure_identity_endpoint = "http://127.0.0.1:3/token";
    cfg.azure_identity_header = "idh";
    cfg.queue_backend = "servicebus";
    cfg.azure_service_bus_connection_string = SB_NS;
    cfg.azure_service_bus_connection_string_work_items = SB_WI;
    cfg.azure_service_bus_connection_string_work_done = "wd-string";
    cfg.azure_service_bus_connection_string_consolidate = "co-string";
    cfg.work_items_lock_ms = 4321;
    cfg.azure_storage_connection_string = "UseDevelopmentStorage=true";
    cfg.watermark_dir = "/wm/dir";
    return cfg;
}

static void test_every_field_mapped(void **state)
{
    (void)state;
    struct dm_config cfg = full_config();

    struct dm_alert_opts a;
    dm_app_alert_opts(&cfg, &a);
    assert_ptr_equal(a.resend_api_key, cfg.resend_api_key);
    assert_ptr_equal(a.resend_endpoint, cfg.resend_endpoint);
    assert_ptr_equal(a.email_to, cfg.alert_email_to);
    assert_ptr_equal(a.email_from, cfg.alert_email_from);

    struct dm_jobtrigger_opts j;
    dm_app_jobtrigger_opts(&cfg, &j);
    assert_ptr_equal(j.subscription_id, cfg.azure_subscription_id);
    assert_ptr_equal(j.resource_group, cfg.azure_resource_group);
    assert_ptr_equal(j.job_name, cfg.azure_scheduler_job_name);
    assert_ptr_equal(j.management_endpoint, cfg.azure_management_endpoint);
    assert_ptr_equal(j.identity_endpoint, cfg.azure_identity_endpoint);
    assert_ptr_equal(j.identity_header, cfg.azure_identity_header);
    assert_null(j.self_exe);

    struct dm_queue_opts q;
    dm_app_queue_opts(&cfg, &q);
    assert_ptr_equal(q.backend, cfg.queue_backend);
    assert_ptr_equal(q.namespace_cs, cfg.azure_service_bus_connection_string);
    assert_ptr_equal(q.queue_cs[DM_Q_WORK_ITEMS],
                     cfg.azure_service_bus_connection_string_work_items);
    assert_ptr_equal(q.queue_cs[DM_Q_WORK_DONE], cfg.azure_service_bus_connection_string_work_done);
    assert_ptr_equal(q.queue_cs[DM_Q_CONSOLIDATE],
                     cfg.azure_service_bus_connection_string_consolidate);
    assert_int_equal(q.work_items_lock_ms, 4321);

    struct dm_watermark_opts w;
    dm_app_watermark_opts(&cfg, &w);
    assert_ptr_equal(w.azure_connection_string, cfg.azure_storage_connection_string);
    assert_ptr_equal(w.dir, cfg.watermark_dir);
    assert_string_equal(w.name, "watermark.json");
}

/* Unset variables stay unset: the adapters' own defaults apply. */
static void test_unset_stays_null(void **state)
{
    (void)state;
    struct dm_config cfg = {0};
    struct dm_alert_opts a;
    memset(&a, 0xff, sizeof(a)); /* the mapping must write every field */
    dm_app_alert_opts(&cfg, &a);
    assert_null(a.resend_api_key);
    assert_null(a.resend_endpoint);
    assert_null(a.email_to);
    assert_null(a.email_from);
    struct dm_jobtrigger_opts j;
    memset(&j, 0xff, sizeof(j));
    dm_app_jobtrigger_opts(&cfg, &j);
    assert_null(j.subscription_id);
    assert_null(j.management_endpoint);
    assert_null(j.self_exe);
    struct dm_queue_opts q;
    memset(&q, 0xff, sizeof(q));
    dm_app_queue_opts(&cfg, &q);
    assert_null(q.backend);
    assert_null(q.namespace_cs);
    for (int i = 0; i < DM_Q_COUNT; i++)
        assert_null(q.queue_cs[i]);
    assert_int_equal(q.work_items_lock_ms, 0);
    struct dm_watermark_opts w;
    memset(&w, 0xff, sizeof(w));
    dm_app_watermark_opts(&cfg, &w);
    assert_null(w.azure_connection_string);
    assert_null(w.dir);
    assert_string_equal(w.name, DM_WATERMARK_DEFAULT_NAME);
}

static void test_alert_and_trigger_backends(void **state)
{
    (void)state;
    struct dm_config cfg = full_config();
    struct dm_alert_sink *s = dm_app_alert_open(&cfg);
    assert_string_equal(dm_alert_backend_name(s), "resend");
    dm_alert_free(s);
    cfg.alert_email_from = NULL; /* Resend needs key, recipients and sender */
    s = dm_app_alert_open(&cfg);
    assert_string_equal(dm_alert_backend_name(s), "log");
    dm_alert_free(s);

    struct dm_jobtrigger *t = dm_app_jobtrigger_open(&cfg, "/bin/true");
    assert_string_equal(dm_jobtrigger_name(t), "azure");
    dm_jobtrigger_free(t);
    cfg.azure_scheduler_job_name = NULL; /* Azure needs all three job variables */
    t = dm_app_jobtrigger_open(&cfg, "/bin/true");
    assert_string_equal(dm_jobtrigger_name(t), "local");
    dm_jobtrigger_free(t);
}

static void test_queue_backends(void **state)
{
    (void)state;
    struct dm_config cfg = {0};
    struct dm_queue *q = NULL;
    struct dm_error err = {0};
    /* A per-queue string alone selects Service Bus (no database needed). */
    cfg.azure_service_bus_connection_string_work_items = SB_WI;
    assert_int_equal(dm_app_queue_open(&cfg, NULL, &q, &err), DM_OK);
    assert_string_equal(dm_queue_backend_name(q), "servicebus");
    dm_queue_free(q);
    /* QUEUE_BACKEND=pg wins over the strings; pg needs a database. */
    cfg.queue_backend = "pg";
    assert_int_equal(dm_app_queue_open(&cfg, NULL, &q, &err), DM_ERR_INVALID);
    assert_null(q);
    assert_non_null(strstr(err.message, "needs a database"));
    cfg.queue_backend = "kafka";
    assert_int_equal(dm_app_queue_open(&cfg, NULL, &q, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "kafka"));
    /* pg over a pool (never connected here) with WORK_ITEMS_LOCK_MS: only work-items' lock
     * changes. */
    struct dm_db *db = dm_db_new("host=/nonexistent dbname=none", 1);
    cfg.queue_backend = NULL;
    cfg.azure_service_bus_connection_string_work_items = NULL;
    cfg.work_items_lock_ms = 1500;
    assert_int_equal(dm_app_queue_open(&cfg, db, &q, &err), DM_OK);
    assert_string_equal(dm_queue_backend_name(q), "pg");
    assert_int_equal(dm_queue_handle_settings(q, DM_Q_WORK_ITEMS)->lock_ms, 1500);
    assert_int_equal(dm_queue_handle_settings(q, DM_Q_CONSOLIDATE)->lock_ms,
                     dm_queue_settings(DM_Q_CONSOLIDATE)->lock_ms);
    dm_queue_free(q);
    cfg.work_items_lock_ms = 0;
    assert_int_equal(dm_app_queue_open(&cfg, db, &q, &err), DM_OK);
    assert_int_equal(dm_queue_handle_settings(q, DM_Q_WORK_ITEMS)->lock_ms,
                     dm_queue_settings(DM_Q_WORK_ITEMS)->lock_ms);
    dm_queue_free(q);
    dm_db_free(db);
}

static void test_watermark_backends(void **state)
{
    (void)state;
    char dir[] = "/tmp/dm-adapter-opts.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct dm_config cfg = {0};
    cfg.watermark_dir = dir;
    struct dm_watermark_store *s = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_app_watermark_open(&cfg, &s, &err), DM_OK);
    assert_string_equal(dm_watermark_backend_name(s), "file");
    struct dm_watermark wm = {.last_updated_at_ms = 1700000000000LL};
    dm_uuid_v4(wm.last_run_id);
    assert_int_equal(dm_watermark_write(s, &wm, NULL, &err), DM_OK);
    dm_watermark_free(s);
    /* The seed's file, where WATERMARK_DIR says. */
    char path[128];
    snprintf(path, sizeof(path), "%s/watermark.json", dir);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/.watermark.lock", dir);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
    cfg.azure_storage_connection_string = "UseDevelopmentStorage=true";
    assert_int_equal(dm_app_watermark_open(&cfg, &s, &err), DM_OK);
    assert_string_equal(dm_watermark_backend_name(s), "azure");
    dm_watermark_free(s);
}

int main(void)
{
    dm_log_init("test", DM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field_mapped),         cmocka_unit_test(test_unset_stays_null),
        cmocka_unit_test(test_alert_and_trigger_backends), cmocka_unit_test(test_queue_backends),
        cmocka_unit_test(test_watermark_backends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
