/* test_watermark_azure.c - the Azure Blob watermark backend against a real Azure Storage
 * emulator (Azurite). Skipped unless DM_TEST_AZURE_STORAGE names a connection string;
 * tests/integration/watermark_azurite.sh starts Azurite on a free loopback port and runs this
 * with it set. Covers: absent blob (container created on first write), If-None-Match: * for the
 * first write, If-Match with the ETag, 412 -> conflict, never backwards, advance, and a wrong
 * account key being rejected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/http/client.h"
#include "adapters/watermark/watermark.h"
#include "adapters/watermark/watermark_backends.h"
#include "testlib.h"

static const char *conn(void)
{
    return getenv("DM_TEST_AZURE_STORAGE");
}

static struct dm_watermark wm_at(int64_t ms)
{
    struct dm_watermark wm = {.last_updated_at_ms = ms, .last_run_completed_at_ms = ms + 1};
    dm_uuid_v4(wm.last_run_id);
    return wm;
}

static void test_blob_conditional_writes(void **state)
{
    (void)state;
    if (conn() == NULL) {
        print_message("DM_TEST_AZURE_STORAGE not set: skipped (see watermark_azurite.sh)\n");
        skip();
    }
    struct dm_config cfg = {0};
    cfg.azure_storage_connection_string = (char *)conn();
    struct dm_watermark_store *s = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_watermark_open(&cfg, &s, &err), DM_OK);
    assert_string_equal(dm_watermark_backend_name(s), "azure");
    struct dm_watermark cur;
    char etag[128] = "", etag2[128] = "";
    enum dm_err e = dm_watermark_read(s, &cur, etag, sizeof(etag), &err);
    print_message("first read: %s\n", err.message);
    assert_int_equal(e, DM_ERR_NOT_FOUND);

    struct dm_watermark w1 = wm_at(1700000000000LL), w2 = wm_at(1700000600000LL),
                        w0 = wm_at(1600000000000LL);
    e = dm_watermark_write(s, &w1, NULL, &err);
    if (e != DM_OK)
        print_message("write: %s\n", err.message);
    assert_int_equal(e, DM_OK);
    assert_int_equal(dm_watermark_write(s, &w2, NULL, &err), DM_ERR_CONFLICT);
    assert_int_equal(dm_watermark_read(s, &cur, etag, sizeof(etag), &err), DM_OK);
    assert_int_equal(cur.last_updated_at_ms, w1.last_updated_at_ms);
    assert_string_equal(cur.last_run_id, w1.last_run_id);
    assert_true(strlen(etag) > 0);
    assert_int_equal(dm_watermark_write(s, &w2, "\"0x8DEADBEEF\"", &err), DM_ERR_CONFLICT);
    assert_int_equal(dm_watermark_write(s, &w0, etag, &err), DM_ERR_CONFLICT);
    assert_int_equal(dm_watermark_write(s, &w2, etag, &err), DM_OK);
    assert_int_equal(dm_watermark_read(s, &cur, etag2, sizeof(etag2), &err), DM_OK);
    assert_int_equal(cur.last_updated_at_ms, w2.last_updated_at_ms);
    assert_string_not_equal(etag, etag2);
    bool written = true;
    assert_int_equal(dm_watermark_advance(s, &w1, &written, &err), DM_OK);
    assert_false(written);
    struct dm_watermark w3 = wm_at(1700001200000LL);
    assert_int_equal(dm_watermark_advance(s, &w3, &written, &err), DM_OK);
    assert_true(written);
    assert_int_equal(dm_watermark_read(s, &cur, NULL, 0, &err), DM_OK);
    assert_int_equal(cur.last_updated_at_ms, w3.last_updated_at_ms);
    dm_watermark_free(s);
}

static void test_wrong_key_rejected(void **state)
{
    (void)state;
    const char *endpoint = getenv("DM_TEST_AZURE_BLOB_ENDPOINT");
    if (endpoint == NULL) {
        print_message("DM_TEST_AZURE_BLOB_ENDPOINT not set: skipped\n");
        skip();
    }
    char cs[512];
    snprintf(
        cs, sizeof(cs),
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;"
        "BlobEndpoint=%s;",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        endpoint);
    struct dm_watermark_store *s = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_watermark_azure_open(cs, &s, &err), DM_OK);
    struct dm_watermark cur;
    enum dm_err e = dm_watermark_read(s, &cur, NULL, 0, &err);
    print_message("wrong key: %s\n", err.message);
    assert_int_equal(e, DM_ERR_AUTH);
    dm_watermark_free(s);
}

int main(void)
{
    dm_http_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob_conditional_writes),
        cmocka_unit_test(test_wrong_key_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
