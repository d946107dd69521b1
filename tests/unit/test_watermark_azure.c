/* test_watermark_azure.c - the Azure Blob watermark backend against a real Azure Storage
 * emulator (Azurite). Skipped unless DM_TEST_AZURE_STORAGE names a connection string;
 * tests/integration/watermark_azurite.sh starts Azurite on a free loopback port and runs this
 * with it set. Covers: absent blob (container created on first write), If-None-Match: * for the
 * first write, If-Match with the ETag, 412 -> conflict, never backwards, advance, a named
 * blob beside the default one (one watermark per feed), and a wrong account key being
 * rejected; a container-scoped SAS (the credential the apps hold, issue 15
 * item 18): read/write with "rcw", read-only with "r" (writes refused), a SAS for another
 * container or with a bad signature refused. Always (no emulator): SAS connection strings
 * parsed and refused when malformed, and the token never in an error message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/http/client.h"
#include "adapters/watermark/watermark.h"
#include "adapters/watermark/watermark_impl.h"
#include "core/crypto.h"
#include "testlib.h"

#define DEV_KEY                                                                                    \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

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
    struct dm_watermark_opts opts = {.azure_connection_string = conn()};
    struct dm_watermark_store *s = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_watermark_open(&opts, &s, &err), DM_OK);
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

/* Each name is its own blob in the one container (one watermark per feed): writing one leaves
 * the default blob alone; a name that is not one is refused before any request. */
static void test_named_blobs(void **state)
{
    (void)state;
    struct dm_watermark_opts bad = {.azure_connection_string = "UseDevelopmentStorage=true",
                                    .name = "../watermark.json"};
    struct dm_watermark_store *s = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_watermark_open(&bad, &s, &err), DM_ERR_INVALID);
    assert_null(s);
    if (conn() == NULL) {
        print_message("DM_TEST_AZURE_STORAGE not set: skipped (see watermark_azurite.sh)\n");
        skip();
    }
    struct dm_watermark_opts def = {.azure_connection_string = conn()};
    struct dm_watermark_opts named = {.azure_connection_string = conn(), .name = "feed-b.json"};
    struct dm_watermark_store *d = NULL;
    assert_int_equal(dm_watermark_open(&def, &d, &err), DM_OK);
    assert_int_equal(dm_watermark_open(&named, &s, &err), DM_OK);
    struct dm_watermark before, cur;
    assert_int_equal(dm_watermark_read(d, &before, NULL, 0, &err), DM_OK);
    assert_int_equal(dm_watermark_read(s, &cur, NULL, 0, &err), DM_ERR_NOT_FOUND);
    struct dm_watermark w = wm_at(before.last_updated_at_ms + 3600000);
    bool written = false;
    assert_int_equal(dm_watermark_advance(s, &w, &written, &err), DM_OK);
    assert_true(written);
    assert_int_equal(dm_watermark_read(s, &cur, NULL, 0, &err), DM_OK);
    assert_string_equal(cur.last_run_id, w.last_run_id);
    assert_int_equal(dm_watermark_read(d, &cur, NULL, 0, &err), DM_OK);
    assert_string_equal(cur.last_run_id, before.last_run_id);
    assert_int_equal(cur.last_updated_at_ms, before.last_updated_at_ms);
    dm_watermark_free(s);
    dm_watermark_free(d);
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
    assert_int_equal(dm_watermark_azure_open(cs, NULL, &s, &err), DM_OK);
    struct dm_watermark cur;
    enum dm_err e = dm_watermark_read(s, &cur, NULL, 0, &err);
    print_message("wrong key: %s\n", err.message);
    assert_int_equal(e, DM_ERR_AUTH);
    dm_watermark_free(s);
}

/* A service SAS for a container of Azurite's development account (sv 2021-08-06 string to
 * sign: permissions, start, expiry, canonical resource, identifier, IP, protocol, version,
 * resource, snapshot, encryption scope, five response headers), as Terraform's
 * azurerm_storage_account_blob_container_sas writes it. malloc'd. */
static char *container_sas(const char *container, const char *perms)
{
    const char *se = "2099-01-01T00:00:00Z";
    char *to_sign =
        dm_xasprintf("%s\n\n%s\n/blob/devstoreaccount1/%s\n\n\n\n2021-08-06\nc\n\n\n\n\n\n\n",
                     perms, se, container);
    uint8_t *key = NULL;
    size_t key_len = 0;
    assert_int_equal(dm_base64_decode(DEV_KEY, &key, &key_len), DM_OK);
    uint8_t mac[DM_SHA256_LEN];
    dm_hmac_sha256(key, key_len, to_sign, strlen(to_sign), mac);
    char *b64 = dm_base64_encode(mac, sizeof(mac));
    char *sig = dm_url_encode(b64);
    char *sas =
        dm_xasprintf("sv=2021-08-06&sr=c&sp=%s&se=2099-01-01T00%%3A00%%3A00Z&sig=%s", perms, sig);
    free(to_sign);
    free(key);
    free(b64);
    free(sig);
    return sas;
}

static struct dm_watermark_store *open_sas(const char *endpoint, const char *sas)
{
    char *cs = dm_xasprintf("BlobEndpoint=%s/;SharedAccessSignature=%s", endpoint, sas);
    struct dm_watermark_store *s = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_watermark_azure_open(cs, NULL, &s, &err);
    if (e != DM_OK)
        print_message("open: %s\n", err.message);
    assert_int_equal(e, DM_OK);
    free(cs);
    return s;
}

static void test_container_sas(void **state)
{
    (void)state;
    const char *endpoint = getenv("DM_TEST_AZURE_BLOB_ENDPOINT");
    if (endpoint == NULL) {
        print_message("DM_TEST_AZURE_BLOB_ENDPOINT not set: skipped\n");
        skip();
    }
    char *rw = container_sas("watermarks", "rcw"), *ro = container_sas("watermarks", "r"),
         *other = container_sas("other", "rcw");
    struct dm_error err = {0};
    struct dm_watermark cur;
    bool written = false;

    /* The consolidator's SAS: reads and conditional writes, nothing else needed. */
    struct dm_watermark_store *s = open_sas(endpoint, rw);
    struct dm_watermark w = wm_at(1800000000000LL);
    enum dm_err e = dm_watermark_advance(s, &w, &written, &err);
    if (e != DM_OK)
        print_message("advance with rcw: %s\n", err.message);
    assert_int_equal(e, DM_OK);
    assert_true(written);
    char etag[128] = "";
    assert_int_equal(dm_watermark_read(s, &cur, etag, sizeof(etag), &err), DM_OK);
    assert_int_equal(cur.last_updated_at_ms, w.last_updated_at_ms);
    struct dm_watermark old = wm_at(1600000000000LL);
    assert_int_equal(dm_watermark_write(s, &old, etag, &err), DM_ERR_CONFLICT);
    dm_watermark_free(s);

    /* The readers' SAS (API, scheduler, monitor): reads, and writes refused by Azure. */
    s = open_sas(endpoint, ro);
    assert_int_equal(dm_watermark_read(s, &cur, NULL, 0, &err), DM_OK);
    assert_string_equal(cur.last_run_id, w.last_run_id);
    struct dm_watermark later = wm_at(1900000000000LL);
    e = dm_watermark_advance(s, &later, &written, &err);
    print_message("write with a read-only SAS: %s\n", err.message);
    assert_int_equal(e, DM_ERR_AUTH);
    assert_int_equal(err.status, 403);
    assert_null(strstr(err.message, "sig="));
    dm_watermark_free(s);

    /* A SAS for another container, or with a signature that is not Azure's: refused. */
    s = open_sas(endpoint, other);
    assert_int_equal(dm_watermark_read(s, &cur, NULL, 0, &err), DM_ERR_AUTH);
    dm_watermark_free(s);
    char *forged = dm_xstrdup(rw);
    char *sig = strstr(forged, "&sig=") + 5;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    s = open_sas(endpoint, forged);
    assert_int_equal(dm_watermark_read(s, &cur, NULL, 0, &err), DM_ERR_AUTH);
    dm_watermark_free(s);
    free(forged);
    free(rw);
    free(ro);
    free(other);
}

/* SAS connection strings without an emulator: what is accepted, what is refused, and the
 * token kept out of error messages (the HTTP client quotes URLs, which carry it). */
static void test_sas_parsing_and_redaction(void **state)
{
    (void)state;
    static const struct {
        const char *cs;
        enum dm_err want;
    } cases[] = {
        {"BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2021-08-06&sr="
         "c&sp=r&se=2099-01-01T00%3A00%3A00Z&sig=abc%2B%2F%3D",
         DM_OK},
        /* As the portal copies it, with '?'; or an account name instead of the endpoint. */
        {"BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=?sv=1&sig=x",
         DM_OK},
        {"AccountName=acct;SharedAccessSignature=sv=1&sig=x", DM_OK},
        {"BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=1",
         DM_ERR_INVALID},
        {"BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sig=x",
         DM_ERR_INVALID},
        {"BlobEndpoint=https://a/;SharedAccessSignature=sv=1&sig=x y", DM_ERR_INVALID},
        {"BlobEndpoint=https://a/;SharedAccessSignature=sv=1&sig=x#frag", DM_ERR_INVALID},
        {"SharedAccessSignature=sv=1&sig=x", DM_ERR_INVALID},
        {"BlobEndpoint=ftp://a/;SharedAccessSignature=sv=1&sig=x", DM_ERR_INVALID},
        {"BlobEndpoint=https://a/", DM_ERR_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_watermark_store *s = NULL;
        struct dm_error err = {0};
        enum dm_err e = dm_watermark_azure_open(cases[i].cs, NULL, &s, &err);
        print_message("case %zu: %s\n", i, e == DM_OK ? "ok" : err.message);
        assert_int_equal(e, cases[i].want);
        if (e == DM_OK)
            assert_string_equal(dm_watermark_backend_name(s), "azure");
        else
            assert_null(strstr(err.message, "sig="));
        dm_watermark_free(s);
    }
    /* Nothing listens on port 1: the network error quotes the URL, minus the token. */
    struct dm_watermark_store *s = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_watermark_azure_open("BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
                                             "SharedAccessSignature=sv=2021-08-06&sr=c&sp=rcw&sig="
                                             "T0pS3cr3tS1gnature%3D",
                                             NULL, &s, &err),
                     DM_OK);
    struct dm_watermark cur;
    assert_int_equal(dm_watermark_read(s, &cur, NULL, 0, &err), DM_ERR_NETWORK);
    print_message("network error: %s\n", err.message);
    assert_non_null(strstr(err.message, "127.0.0.1:1"));
    assert_null(strstr(err.message, "T0pS3cr3tS1gnature"));
    assert_null(strstr(err.message, "sig="));
    struct dm_watermark w = wm_at(1700000000000LL);
    assert_int_equal(dm_watermark_write(s, &w, NULL, &err), DM_ERR_NETWORK);
    assert_null(strstr(err.message, "T0pS3cr3tS1gnature"));
    dm_watermark_free(s);
}

int main(void)
{
    dm_http_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob_conditional_writes),   cmocka_unit_test(test_named_blobs),
        cmocka_unit_test(test_wrong_key_rejected),        cmocka_unit_test(test_container_sas),
        cmocka_unit_test(test_sas_parsing_and_redaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
