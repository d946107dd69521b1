/*
 * test_servicebus_scoped.c - per-queue Service Bus credentials (issue 15 item 18): parsing a
 * string meant for one queue (EntityPath must name that queue, or be absent; malformed strings
 * refused; the key never in a message), and which credential each queue ends up with
 * (own string, else the namespace string, else none: refused before any request). The
 * requests themselves, and which key signs them, are checked against the Service Bus double
 * in tests/integration/test_queue_servicebus.c.
 */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

#include "adapters/http/client.h"
#include "adapters/queue/queue.h"
#include "adapters/queue/servicebus.h"
#include "app/adapter_opts.h"

#define SECRET "c2VjcmV0LXF1ZXVlLWtleQ=="
/* Port 1 on loopback: nothing listens, so a request that is made fails with a network error,
 * while a queue without a credential must fail with DM_ERR_AUTH before any request. */
#define EP "Endpoint=http://127.0.0.1:1/;"

static void test_queue_string_parsing(void **state)
{
    (void)state;
    static const struct {
        const char *cs, *queue;
        enum dm_err want;
        const char *entity; /* parsed EntityPath when accepted */
        const char *msg;    /* part of the message when refused */
    } cases[] = {
        {"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=worker-work-items;"
         "SharedAccessKey=" SECRET ";EntityPath=work-items",
         "work-items", DM_OK, "work-items", NULL},
        /* Entity names are case-insensitive in Service Bus; spaces around values trimmed. */
        {"EntityPath = Work-Items ; Endpoint=sb://ns.servicebus.windows.net/;"
         "SharedAccessKeyName=k;SharedAccessKey=" SECRET,
         "work-items", DM_OK, "Work-Items", NULL},
        /* No EntityPath: a namespace rule for one queue still works. */
        {"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=" SECRET,
         "work-done", DM_OK, NULL, NULL},
        {"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=" SECRET
         ";EntityPath=work-items",
         "work-done", DM_ERR_INVALID, NULL, "EntityPath names another queue"},
        {"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=" SECRET
         ";EntityPath=work-items/$deadletterqueue",
         "work-items", DM_ERR_INVALID, NULL, "EntityPath=work-items"},
        {"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;EntityPath=consolidate",
         "consolidate", DM_ERR_INVALID, NULL, "no SharedAccessKey"},
        {"SharedAccessKeyName=k;SharedAccessKey=" SECRET ";EntityPath=consolidate", "consolidate",
         DM_ERR_INVALID, NULL, "no Endpoint"},
        {"not a connection string", "consolidate", DM_ERR_INVALID, NULL, "Key=Value"},
        {"Endpoint=ftp://ns/;SharedAccessKeyName=k;SharedAccessKey=" SECRET, "consolidate",
         DM_ERR_INVALID, NULL, "Endpoint must be"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_sb_conn_info ci;
        struct dm_error err = {0};
        enum dm_err e = dm_sb_parse_queue_connection_string(cases[i].cs, cases[i].queue, &ci, &err);
        print_message("case %zu: %s\n", i, e == DM_OK ? "ok" : err.message);
        assert_int_equal(e, cases[i].want);
        if (e == DM_OK) {
            if (cases[i].entity)
                assert_string_equal(ci.entity_path, cases[i].entity);
            else
                assert_null(ci.entity_path);
            assert_string_equal(ci.key, SECRET);
            dm_sb_conn_info_free(&ci);
        } else {
            assert_non_null(strstr(err.message, cases[i].msg));
            assert_null(strstr(err.message, SECRET));
            assert_null(ci.key);
        }
    }
    assert_string_equal(dm_sb_queue_variable(DM_Q_WORK_ITEMS),
                        "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS");
    assert_string_equal(dm_sb_queue_variable(DM_Q_WORK_DONE),
                        "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE");
    assert_string_equal(dm_sb_queue_variable(DM_Q_CONSOLIDATE),
                        "AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE");
}

/* Which queues a handle can reach: a queue with a credential makes a request (here: a
 * network error, nothing listens), a queue without one is refused with DM_ERR_AUTH first. */
static void expect_reach(struct dm_queue *q, bool wi, bool wd, bool co)
{
    const bool want[DM_Q_COUNT] = {
        [DM_Q_WORK_ITEMS] = wi, [DM_Q_WORK_DONE] = wd, [DM_Q_CONSOLIDATE] = co};
    for (int i = 0; i < DM_Q_COUNT; i++) {
        struct dm_queue_stats st;
        struct dm_error err = {0};
        enum dm_err e = dm_queue_stats(q, (enum dm_queue_name)i, &st, &err);
        print_message("%s: %s\n", dm_queue_settings((enum dm_queue_name)i)->name, err.message);
        if (want[i]) {
            assert_int_not_equal(e, DM_ERR_AUTH);
            assert_int_not_equal(e, DM_OK);
        } else {
            assert_int_equal(e, DM_ERR_AUTH);
            assert_non_null(strstr(err.message, dm_sb_queue_variable((enum dm_queue_name)i)));
        }
    }
}

static void test_selection(void **state)
{
    (void)state;
    const char *ns = EP "SharedAccessKeyName=ns;SharedAccessKey=" SECRET;
    const char *wi = EP "SharedAccessKeyName=wi;SharedAccessKey=" SECRET ";EntityPath=work-items";
    const char *co = EP "SharedAccessKeyName=co;SharedAccessKey=" SECRET ";EntityPath=consolidate";
    struct dm_queue *q = NULL;
    struct dm_error err = {0};

    /* The seed's single variable: every queue. */
    assert_int_equal(dm_queue_open_servicebus(ns, NULL, &q, &err), DM_OK);
    expect_reach(q, true, true, true);
    dm_queue_free(q);
    /* Per-queue strings only: exactly those queues. */
    const char *scheduler[DM_Q_COUNT] = {[DM_Q_WORK_ITEMS] = wi};
    assert_int_equal(dm_queue_open_servicebus_scoped(NULL, scheduler, NULL, &q, &err), DM_OK);
    expect_reach(q, true, false, false);
    dm_queue_free(q);
    const char *two[DM_Q_COUNT] = {[DM_Q_WORK_ITEMS] = wi, [DM_Q_CONSOLIDATE] = co};
    assert_int_equal(dm_queue_open_servicebus_scoped(NULL, two, NULL, &q, &err), DM_OK);
    expect_reach(q, true, false, true);
    dm_queue_free(q);
    /* Both: the namespace string covers the rest; empty strings count as unset. */
    const char *empty_wd[DM_Q_COUNT] = {[DM_Q_WORK_ITEMS] = wi, [DM_Q_WORK_DONE] = ""};
    assert_int_equal(dm_queue_open_servicebus_scoped(ns, empty_wd, NULL, &q, &err), DM_OK);
    expect_reach(q, true, true, true);
    dm_queue_free(q);
    /* Nothing at all, or only empty strings: refused. */
    const char *none[DM_Q_COUNT] = {"", NULL, ""};
    q = NULL;
    assert_int_equal(dm_queue_open_servicebus_scoped(NULL, none, NULL, &q, &err), DM_ERR_INVALID);
    assert_null(q);
    /* A queue's string naming another queue, or malformed: refused, naming the variable. */
    const char *swapped[DM_Q_COUNT] = {[DM_Q_CONSOLIDATE] = wi};
    assert_int_equal(dm_queue_open_servicebus_scoped(ns, swapped, NULL, &q, &err), DM_ERR_INVALID);
    assert_null(q);
    assert_non_null(strstr(err.message, "AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE"));
    assert_null(strstr(err.message, SECRET));
    const char *broken[DM_Q_COUNT] = {[DM_Q_WORK_DONE] = EP "SharedAccessKeyName=wd"};
    assert_int_equal(dm_queue_open_servicebus_scoped(ns, broken, NULL, &q, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE"));
    /* A malformed namespace string is refused as before, even beside good per-queue ones. */
    assert_int_equal(
        dm_queue_open_servicebus_scoped(EP "SharedAccessKeyName=ns", two, NULL, &q, &err),
        DM_ERR_INVALID);
    assert_null(q);
}

/* The configuration's strings reach the queue: a per-queue variable alone selects Service
 * Bus and opens only its queue. */
static void test_open_from_config(void **state)
{
    (void)state;
    struct dm_config cfg = {0};
    cfg.azure_service_bus_connection_string_consolidate =
        EP "SharedAccessKeyName=co;SharedAccessKey=" SECRET ";EntityPath=consolidate";
    struct dm_queue *q = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_app_queue_open(&cfg, NULL, &q, &err), DM_OK);
    assert_string_equal(dm_queue_backend_name(q), "servicebus");
    expect_reach(q, false, false, true);
    dm_queue_free(q);
}

int main(void)
{
    dm_http_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_string_parsing),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_open_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
