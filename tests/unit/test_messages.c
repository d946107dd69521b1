/* test_messages.c - queue message encoding, validation and deterministic ids. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/messages.h"

#define RUN "11111111-2222-4333-8444-555555555555"
#define TRACE "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

static void test_work_item_roundtrip(void **state)
{
    struct dm_work_item m = {.min_price = 100,
                             .max_price = 199,
                             .estimated_records = 1234,
                             .offset = 50,
                             .limit = 50,
                             .updated_from_ms = 946684800000LL,
                             .updated_to_ms = 1795942800000LL,
                             .attempt = 0};
    memcpy(m.run_id, RUN, sizeof(RUN));
    memcpy(m.trace_id, TRACE, sizeof(TRACE));
    snprintf(m.partition_id, sizeof(m.partition_id), "p07");
    char *json = dm_work_item_to_json(&m);
    assert_true(strncmp(json, "{\"type\":\"WORK_ITEM\"", 19) == 0);
    struct dm_work_item back;
    struct dm_error err = {0};
    assert_int_equal(dm_work_item_parse(json, strlen(json), &back, &err), DM_OK);
    assert_memory_equal(&m, &back, sizeof(m));
    free(json);
    char id[192];
    dm_work_item_id(&m, id, sizeof(id));
    assert_string_equal(id, RUN ":p07:50");
    m.attempt = 2;
    dm_work_item_id(&m, id, sizeof(id));
    assert_string_equal(id, RUN ":p07:50:r2");
}

static void test_work_item_invalid(void **state)
{
#define BASE                                                                                       \
    "{\"type\":\"WORK_ITEM\",\"runId\":\"" RUN "\",\"traceId\":\"" TRACE                           \
    "\",\"partitionId\":\"p1\",\"minPrice\":%s,\"maxPrice\":%s,"                                   \
    "\"estimatedRecords\":10,\"offset\":%s,\"limit\":%s,"                                          \
    "\"updatedFrom\":\"2000-01-01T00:00:00Z\",\"updatedTo\":\"%s\"}"
    struct {
        const char *minp, *maxp, *offset, *limit, *to, *field;
    } cases[] = {
        {"5", "1", "0", "50", "2026-01-01T00:00:00Z", "minPrice"},
        {"-1", "1", "0", "50", "2026-01-01T00:00:00Z", "minPrice"},
        {"0", "1", "-3", "50", "2026-01-01T00:00:00Z", "offset"},
        {"0", "1", "0", "51", "2026-01-01T00:00:00Z", "limit"},
        {"0", "1", "0", "0", "2026-01-01T00:00:00Z", "limit"},
        {"0", "1", "0", "\"50\"", "2026-01-01T00:00:00Z", "limit"},
        {"0", "1", "0", "50", "1999-01-01T00:00:00Z", "updatedFrom"},
        {"0", "1", "0", "50", "soon", "updatedTo"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), BASE, cases[i].minp, cases[i].maxp, cases[i].offset,
                 cases[i].limit, cases[i].to);
        struct dm_work_item m;
        struct dm_error err = {0};
        assert_int_equal(dm_work_item_parse(text, strlen(text), &m, &err), DM_ERR_INVALID);
        assert_non_null(strstr(err.message, cases[i].field));
    }
    const char *bad[] = {"",
                         "null",
                         "[]",
                         "{\"type\":\"WORK_DONE\"}",
                         "{\"type\":1}",
                         "{\"type\":\"WORK_ITEM\",\"runId\":\"x\"}",
                         "\xff\xfe"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dm_work_item m;
        struct dm_error err = {0};
        assert_int_equal(dm_work_item_parse(bad[i], strlen(bad[i]), &m, &err), DM_ERR_INVALID);
        assert_true(err.message[0] != '\0');
    }
}

static void test_work_done_and_consolidate(void **state)
{
    struct dm_work_done d = {.records_processed = 77, .status = DM_WORK_FAILED};
    memcpy(d.run_id, RUN, sizeof(RUN));
    memcpy(d.trace_id, TRACE, sizeof(TRACE));
    snprintf(d.partition_id, sizeof(d.partition_id), "p2");
    snprintf(d.worker_id, sizeof(d.worker_id), "host-1234");
    snprintf(d.error, sizeof(d.error), "feed 503");
    char *json = dm_work_done_to_json(&d);
    struct dm_work_done back;
    struct dm_error err = {0};
    assert_int_equal(dm_work_done_parse(json, strlen(json), &back, &err), DM_OK);
    assert_memory_equal(&d, &back, sizeof(d));
    char id[192];
    dm_work_done_id(&d, id, sizeof(id));
    assert_string_equal(id, "work-done:" RUN ":p2:failed");
    enum dm_msg_type t;
    assert_int_equal(dm_msg_type_of(json, strlen(json), &t, &err), DM_OK);
    assert_int_equal(t, DM_MSG_WORK_DONE);
    free(json);

    struct dm_consolidate c = {.force = true, .updated_to_ms = 1795942800000LL};
    memcpy(c.run_id, RUN, sizeof(RUN));
    memcpy(c.trace_id, TRACE, sizeof(TRACE));
    json = dm_consolidate_to_json(&c);
    struct dm_consolidate cb;
    assert_int_equal(dm_consolidate_parse(json, strlen(json), &cb, &err), DM_OK);
    assert_memory_equal(&c, &cb, sizeof(c));
    dm_consolidate_id(&c, id, sizeof(id));
    assert_string_equal(id, "consolidate:" RUN);
    free(json);
    const char *badforce = "{\"type\":\"CONSOLIDATE\",\"runId\":\"" RUN "\",\"traceId\":\"" TRACE
                           "\",\"force\":\"yes\"}";
    assert_int_equal(dm_consolidate_parse(badforce, strlen(badforce), &cb, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "force"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_work_item_roundtrip),
        cmocka_unit_test(test_work_item_invalid),
        cmocka_unit_test(test_work_done_and_consolidate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
