/* test_hmac_auth.c - HMAC canonical string, signing and every verification case. */
#include "testlib.h"

#include <stdio.h>
#include <string.h>

#include "domain/hmac_auth.h"

#define NOW 1764400000LL

static struct dm_hmac_secrets secrets;

static int setup(void **state)
{
    (void)state;
    struct dm_error err = {0};
    return dm_hmac_secrets_parse("{\"shop\":\"s3cret\",\"other\":\"x\"}", &secrets, &err) == DM_OK
               ? 0
               : -1;
}

static int teardown(void **state)
{
    (void)state;
    dm_hmac_secrets_free(&secrets);
    return 0;
}

static void test_canonical(void **state)
{
    (void)state;
    struct dm_buf b;
    dm_buf_init(&b, 4096);
    assert_int_equal(
        dm_hmac_canonical("GET", "/api/v2/diamonds?shape=ROUND", "1764400000", "", 0, &b), DM_OK);
    assert_string_equal(b.data, "GET\n/api/v2/diamonds?shape=ROUND\n1764400000\n"
                                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    dm_buf_free(&b);
}

static enum dm_hmac_result verify(const char *client, const char *ts, const char *sig,
                                  const char *body)
{
    struct dm_hmac_headers h = {client, ts, sig};
    return dm_hmac_verify(&secrets, &h, "POST", "/api/v2/diamonds/x/hold?a=1", body, strlen(body),
                          NOW, NULL);
}

static void test_verify_cases(void **state)
{
    (void)state;
    char ts[32], sig[DM_SHA256_HEX_LEN];
    snprintf(ts, sizeof(ts), "%lld", NOW);
    const char *body = "{\"a\":1}";
    assert_int_equal(
        dm_hmac_sign("s3cret", "POST", "/api/v2/diamonds/x/hold?a=1", ts, body, strlen(body), sig),
        DM_OK);
    const char *client = NULL;
    struct dm_hmac_headers h = {"shop", ts, sig};
    assert_int_equal(dm_hmac_verify(&secrets, &h, "POST", "/api/v2/diamonds/x/hold?a=1", body,
                                    strlen(body), NOW, &client),
                     DM_HMAC_OK);
    assert_string_equal(client, "shop");

    /* Query string is part of the signed target. */
    h = (struct dm_hmac_headers){"shop", ts, sig};
    assert_int_equal(dm_hmac_verify(&secrets, &h, "POST", "/api/v2/diamonds/x/hold?a=2", body,
                                    strlen(body), NOW, NULL),
                     DM_HMAC_MISMATCH);
    /* One changed body byte. */
    assert_int_equal(verify("shop", ts, sig, "{\"a\":2}"), DM_HMAC_MISMATCH);
    /* Method is signed. */
    assert_int_equal(dm_hmac_verify(&secrets, &h, "GET", "/api/v2/diamonds/x/hold?a=1", body,
                                    strlen(body), NOW, NULL),
                     DM_HMAC_MISMATCH);
    /* Upper-case signature. */
    char upper[DM_SHA256_HEX_LEN];
    for (int i = 0; i < 65; i++)
        upper[i] = (sig[i] >= 'a' && sig[i] <= 'f') ? (char)(sig[i] - 32) : sig[i];
    assert_int_equal(verify("shop", ts, upper, body), DM_HMAC_BAD_SIGNATURE);
    /* Wrong secret / unknown client. */
    assert_int_equal(verify("other", ts, sig, body), DM_HMAC_MISMATCH);
    assert_int_equal(verify("nobody", ts, sig, body), DM_HMAC_UNKNOWN_CLIENT);
    /* Two of three headers, none. */
    assert_int_equal(verify("shop", ts, NULL, body), DM_HMAC_INCOMPLETE);
    assert_int_equal(verify(NULL, ts, sig, body), DM_HMAC_INCOMPLETE);
    assert_int_equal(verify("shop", NULL, sig, body), DM_HMAC_INCOMPLETE);
    assert_int_equal(verify(NULL, NULL, NULL, body), DM_HMAC_ABSENT);
    /* Truncated signature. */
    char shortsig[64];
    memcpy(shortsig, sig, 63);
    shortsig[63] = '\0';
    assert_int_equal(verify("shop", ts, shortsig, body), DM_HMAC_BAD_SIGNATURE);
}

static void test_timestamps(void **state)
{
    (void)state;
    const char *body = "";
    struct {
        long long offset; /* timestamp = NOW + offset */
        enum dm_hmac_result want;
    } cases[] = {
        {0, DM_HMAC_OK},   {-299, DM_HMAC_OK}, {-300, DM_HMAC_OK},     {-301, DM_HMAC_EXPIRED},
        {299, DM_HMAC_OK}, {300, DM_HMAC_OK},  {301, DM_HMAC_EXPIRED}, {-100000, DM_HMAC_EXPIRED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char ts[32], sig[DM_SHA256_HEX_LEN];
        snprintf(ts, sizeof(ts), "%lld", NOW + cases[i].offset);
        assert_int_equal(
            dm_hmac_sign("s3cret", "POST", "/api/v2/diamonds/x/hold?a=1", ts, "", 0, sig), DM_OK);
        assert_int_equal(verify("shop", ts, sig, body), cases[i].want);
    }
    const char *bad[] = {"",    "abc",         "1764400000.5", "+1764400000", "-5",
                         " 17", "1764400000 ", "1e9",          "0x10",        "1234567890123"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char sig[DM_SHA256_HEX_LEN];
        assert_int_equal(
            dm_hmac_sign("s3cret", "POST", "/api/v2/diamonds/x/hold?a=1", bad[i], "", 0, sig),
            DM_OK);
        assert_int_equal(verify("shop", bad[i], sig, body), DM_HMAC_BAD_TIMESTAMP);
    }
    int64_t v;
    assert_int_equal(dm_hmac_parse_timestamp("0", &v), DM_OK);
    assert_int_equal(v, 0);
}

static void test_secrets_parse(void **state)
{
    (void)state;
    struct dm_hmac_secrets s;
    struct dm_error err = {0};
    assert_int_equal(dm_hmac_secrets_parse(NULL, &s, &err), DM_OK);
    assert_int_equal(s.n, 0);
    const char *bad[] = {"not json", "[]", "{\"a\":1}", "{\"a\":\"\"}", "{\"\":\"x\"}", "\"s\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(dm_hmac_secrets_parse(bad[i], &s, &err), DM_ERR_INVALID);
        assert_non_null(strstr(err.message, "HMAC_SECRETS"));
        assert_int_equal(s.n, 0);
    }
    assert_int_equal(dm_hmac_secrets_parse("{\"a\":\"x\",\"b\":\"y\"}", &s, &err), DM_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(dm_hmac_secret_for(&s, "b"), "y");
    assert_null(dm_hmac_secret_for(&s, "c"));
    dm_hmac_secrets_free(&s);
}

/* Per-client permissions (issue 15 item 8): the plain form keeps working with read + trade,
 * the object form carries its own list, and every malformed entry is refused with a message
 * naming HMAC_SECRETS and the client, never the secret. */
static void test_secrets_permissions(void **state)
{
    (void)state;
    struct dm_hmac_secrets s;
    struct dm_error err = {0};
    assert_int_equal(dm_hmac_secrets_parse("{\"shop\":\"s1\",\"ops\":{\"secret\":\"s2\","
                                           "\"permissions\":[\"read\",\"admin\"]},\"bot\":{"
                                           "\"secret\":\"s3\"}}",
                                           &s, &err),
                     DM_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(dm_hmac_permissions_for(&s, "shop"), DM_HMAC_PERM_READ | DM_HMAC_PERM_TRADE);
    assert_int_equal(dm_hmac_permissions_for(&s, "ops"), DM_HMAC_PERM_READ | DM_HMAC_PERM_ADMIN);
    assert_int_equal(dm_hmac_permissions_for(&s, "bot"), DM_HMAC_PERM_DEFAULT);
    assert_int_equal(dm_hmac_permissions_for(&s, "nobody"), 0);
    assert_string_equal(dm_hmac_secret_for(&s, "ops"), "s2");
    dm_hmac_secrets_free(&s);

    static const struct {
        const char *text;
        const char *says;
    } bad[] = {
        {"{\"ops\":{\"secret\":\"topsecret\",\"permissions\":[\"root\"]}}", "unknown permission"},
        {"{\"ops\":{\"secret\":\"topsecret\",\"permissions\":[]}}", "non-empty array"},
        {"{\"ops\":{\"secret\":\"topsecret\",\"permissions\":\"admin\"}}", "non-empty array"},
        {"{\"ops\":{\"secret\":\"topsecret\",\"permissions\":[1]}}", "unknown permission"},
        {"{\"ops\":{\"secret\":\"topsecret\",\"perms\":[\"read\"]}}", "unknown member"},
        {"{\"ops\":{\"permissions\":[\"read\"]}}", "non-empty secret"},
        {"{\"ops\":{\"secret\":\"\"}}", "non-empty secret"},
        {"{\"ops\":{\"secret\":7}}", "non-empty secret"},
        {"{\"ops\":[\"topsecret\"]}", "non-empty secret"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(dm_hmac_secrets_parse(bad[i].text, &s, &err), DM_ERR_INVALID);
        assert_int_equal(s.n, 0);
        assert_non_null(strstr(err.message, "HMAC_SECRETS"));
        if (strstr(err.message, bad[i].says) == NULL)
            fail_msg("case %zu: '%s' does not say '%s'", i, err.message, bad[i].says);
        assert_null(strstr(err.message, "topsecret"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical),           cmocka_unit_test(test_verify_cases),
        cmocka_unit_test(test_timestamps),          cmocka_unit_test(test_secrets_parse),
        cmocka_unit_test(test_secrets_permissions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
