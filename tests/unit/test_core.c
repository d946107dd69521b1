/* test_core.c - table-driven tests of the core library: buffers, numbers, time, crypto, JSON. */
#include "testlib.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/num.h"
#include "core/timeutil.h"

static void test_buf_bounded(void **state)
{
    struct dm_buf b;
    dm_buf_init(&b, 10);
    assert_int_equal(dm_buf_append_str(&b, "hello"), DM_OK);
    assert_int_equal(dm_buf_appendf(&b, "%d", 1234), DM_OK);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(dm_buf_append_str(&b, "xy"), DM_ERR_TOO_LARGE);
    assert_int_equal(b.len, 9); /* a refused append changes nothing */
    assert_int_equal(dm_buf_append_char(&b, '!'), DM_OK);
    assert_int_equal(dm_buf_append_char(&b, '!'), DM_ERR_TOO_LARGE);
    dm_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    dm_buf_free(&b);
    dm_buf_free(NULL);

    struct dm_buf big;
    dm_buf_init(&big, 1 << 20);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(dm_buf_appendf(&big, "%0300d", i), DM_OK);
    assert_int_equal(big.len, 300000);
    char *s = dm_buf_steal(&big);
    assert_int_equal(strlen(s), 300000);
    free(s);
    assert_null(big.data);
}

static void test_parse_int(void **state)
{
    struct {
        const char *in;
        int64_t min, max;
        enum dm_err want;
        int64_t value;
    } cases[] = {
        {"0", 0, 10, DM_OK, 0},
        {"10", 0, 10, DM_OK, 10},
        {"11", 0, 10, DM_ERR_INVALID, 0},
        {"-1", 0, 10, DM_ERR_INVALID, 0},
        {"-5", -10, 10, DM_OK, -5},
        {"abc", 0, 10, DM_ERR_INVALID, 0},
        {"1x", 0, 10, DM_ERR_INVALID, 0},
        {"", 0, 10, DM_ERR_INVALID, 0},
        {" 1", 0, 10, DM_ERR_INVALID, 0},
        {"1 ", 0, 10, DM_ERR_INVALID, 0},
        {"99999999999999999999", 0, INT64_MAX, DM_ERR_INVALID, 0},
        {"9223372036854775807", 0, INT64_MAX, DM_OK, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = -42;
        enum dm_err e = dm_parse_i64(cases[i].in, cases[i].min, cases[i].max, &v);
        assert_int_equal(e, cases[i].want);
        if (e == DM_OK)
            assert_int_equal(v, cases[i].value);
    }
    assert_int_equal(dm_parse_i64(NULL, 0, 1, &(int64_t){0}), DM_ERR_INVALID);
}

static void test_parse_double_bool(void **state)
{
    double d;
    assert_int_equal(dm_parse_double("1.5", 0, 10, &d), DM_OK);
    assert_true(d == 1.5);
    assert_int_equal(dm_parse_double("nan", 0, 10, &d), DM_ERR_INVALID);
    assert_int_equal(dm_parse_double("inf", 0, 1e308, &d), DM_ERR_INVALID);
    assert_int_equal(dm_parse_double("0x10", 0, 100, &d), DM_ERR_INVALID);
    assert_int_equal(dm_parse_double("11", 0, 10, &d), DM_ERR_INVALID);
    assert_int_equal(dm_parse_double("1e400", 0, 1e308, &d), DM_ERR_INVALID);
    bool b;
    assert_int_equal(dm_parse_bool("TRUE", &b), DM_OK);
    assert_true(b);
    assert_int_equal(dm_parse_bool("false", &b), DM_OK);
    assert_false(b);
    assert_int_equal(dm_parse_bool("maybe", &b), DM_ERR_INVALID);
}

static void test_fixed(void **state)
{
    struct {
        const char *in;
        int scale;
        enum dm_err want;
        int64_t v;
    } cases[] = {
        {"12.3", 2, DM_OK, 1230},        {"12", 2, DM_OK, 1200},
        {"0.05", 2, DM_OK, 5},           {"-1.25", 2, DM_OK, -125},
        {"1.255", 2, DM_ERR_INVALID, 0}, {"1.", 2, DM_ERR_INVALID, 0},
        {".5", 2, DM_ERR_INVALID, 0},    {"1.1500", 4, DM_OK, 11500},
        {"abc", 2, DM_ERR_INVALID, 0},   {"922337203685477580", 2, DM_ERR_INVALID, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 0;
        assert_int_equal(dm_parse_fixed(cases[i].in, cases[i].scale, &v), cases[i].want);
        if (cases[i].want == DM_OK)
            assert_int_equal(v, cases[i].v);
    }
    char out[32];
    dm_format_fixed(1230, 2, out, sizeof(out));
    assert_string_equal(out, "12.30");
    dm_format_fixed(-5, 2, out, sizeof(out));
    assert_string_equal(out, "-0.05");
    dm_format_fixed(11500, 4, out, sizeof(out));
    assert_string_equal(out, "1.1500");
    dm_format_fixed(7, 0, out, sizeof(out));
    assert_string_equal(out, "7");
}

static void test_time(void **state)
{
    struct {
        const char *in;
        enum dm_err want;
        int64_t ms;
    } cases[] = {
        {"1970-01-01T00:00:00Z", DM_OK, 0},
        {"2000-01-01T00:00:00.000Z", DM_OK, 946684800000LL},
        {"2026-11-29T09:00:00.123Z", DM_OK, 1795942800123LL},
        {"2026-11-29T10:00:00+01:00", DM_OK, 1795942800000LL},
        {"2024-02-29T00:00:00Z", DM_OK, 1709164800000LL},
        {"2023-02-29T00:00:00Z", DM_ERR_INVALID, 0},
        {"2026-13-01T00:00:00Z", DM_ERR_INVALID, 0},
        {"2026-11-29T09:00:00", DM_ERR_INVALID, 0},
        {"2026-11-29", DM_ERR_INVALID, 0},
        {"yesterday", DM_ERR_INVALID, 0},
        {"2026-11-29T09:00:00Zjunk", DM_ERR_INVALID, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -1;
        enum dm_err e = dm_time_parse(cases[i].in, &ms);
        assert_int_equal(e, cases[i].want);
        if (e == DM_OK)
            assert_int_equal(ms, cases[i].ms);
    }
    char iso[DM_ISO_LEN];
    dm_time_format(1795942800123LL, iso);
    assert_string_equal(iso, "2026-11-29T09:00:00.123Z");
    int64_t back;
    assert_int_equal(dm_time_parse(iso, &back), DM_OK);
    assert_int_equal(back, 1795942800123LL);
    assert_true(dm_mono_ms() <= dm_mono_ms());
}

/* dm_fnv1a: the start value for "", one xor-multiply step per byte, and every byte counts. */
static void test_fnv1a(void **state)
{
    (void)state;
    assert_true(dm_fnv1a("") == 1469598103934665603ULL);
    assert_true(dm_fnv1a("a") == (1469598103934665603ULL ^ 'a') * 1099511628211ULL);
    assert_true(dm_fnv1a("ab") != dm_fnv1a("ba"));
    assert_true(dm_fnv1a("stone-1") == dm_fnv1a("stone-1"));
}

static void test_crypto(void **state)
{
    char hex[DM_SHA256_HEX_LEN];
    dm_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    dm_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* RFC 4231 test case 2. */
    dm_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_true(dm_ct_equal("abc", 3, "abc", 3));
    assert_false(dm_ct_equal("abc", 3, "abd", 3));
    assert_false(dm_ct_equal("abc", 3, "abcd", 4));

    char u1[DM_UUID_LEN], u2[DM_UUID_LEN];
    dm_uuid_v4(u1);
    dm_uuid_v4(u2);
    assert_true(dm_uuid_valid(u1));
    assert_string_not_equal(u1, u2);
    assert_int_equal(u1[14], '4');
    assert_false(dm_uuid_valid("not-a-uuid"));
    assert_false(dm_uuid_valid("123e4567-e89b-12d3-a456-42661417400"));
    assert_false(dm_uuid_valid("123e4567xe89b-12d3-a456-426614174000"));
    assert_true(dm_uuid_valid("123E4567-E89B-12D3-A456-426614174000"));
    const uint8_t ub[16] = {0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3,
                            0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0xff};
    dm_uuid_format(ub, u1);
    assert_string_equal(u1, "123e4567-e89b-12d3-a456-4266141740ff");
    /* Version 7: the milliseconds first (time-ordered), version and variant bits set. */
    const uint8_t rnd[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    dm_uuid_v7(0x0123456789abLL, rnd, u1);
    assert_string_equal(u1, "01234567-89ab-7fff-bfff-ffffffffffff");
    dm_uuid_v7(0x0123456789acLL, rnd, u2);
    assert_true(strcmp(u1, u2) < 0);

    char tok[41];
    dm_random_token(tok, 40);
    assert_int_equal(strlen(tok), 40);
    assert_int_equal(
        strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"), 40);

    char *b64 = dm_base64_encode("hello world", 11);
    assert_string_equal(b64, "aGVsbG8gd29ybGQ=");
    uint8_t *dec = NULL;
    size_t n = 0;
    assert_int_equal(dm_base64_decode(b64, &dec, &n), DM_OK);
    assert_int_equal(n, 11);
    assert_memory_equal(dec, "hello world", 11);
    free(dec);
    free(b64);
    assert_int_equal(dm_base64_decode("a$==", &dec, &n), DM_ERR_INVALID);
    assert_int_equal(dm_base64_decode("abc", &dec, &n), DM_ERR_INVALID);

    char *enc = dm_url_encode("sb://ns.servicebus.windows.net/work-items a~");
    assert_string_equal(enc, "sb%3A%2F%2Fns.servicebus.windows.net%2Fwork-items%20a~");
    free(enc);
}

static void test_json(void **state)
{
    struct dm_error err = {0};
    const char *text = "{\"s\":\"x\",\"i\":5,\"f\":1.5,\"b\":true,\"n\":null,\"e\":\"\"}";
    json_t *o = dm_json_parse_object(text, strlen(text), 1000, &err);
    assert_non_null(o);
    assert_string_equal(dm_json_str(o, "s"), "x");
    assert_null(dm_json_str(o, "i"));
    int64_t i;
    assert_int_equal(dm_json_int(o, "i", &i), DM_OK);
    assert_int_equal(i, 5);
    assert_int_equal(dm_json_int(o, "f", &i), DM_ERR_INVALID);
    assert_int_equal(dm_json_int(o, "n", &i), DM_ERR_NOT_FOUND);
    assert_int_equal(dm_json_int(o, "missing", &i), DM_ERR_NOT_FOUND);
    double d;
    assert_int_equal(dm_json_num(o, "i", &d), DM_OK);
    assert_true(d == 5.0);
    bool b;
    assert_int_equal(dm_json_bool(o, "b", &b), DM_OK);
    assert_true(b);
    const char *s;
    assert_int_equal(dm_json_req_str(o, "e", &s, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "'e'"));
    assert_int_equal(dm_json_req_str(o, "missing", &s, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "missing field 'missing'"));
    json_decref(o);

    assert_null(dm_json_parse_object("[1]", 3, 100, &err));
    assert_int_equal(err.code, DM_ERR_INVALID);
    assert_null(dm_json_parse("{\"a\":", 5, 100, &err));
    assert_int_equal(err.code, DM_ERR_INVALID);
    assert_null(dm_json_parse("{\"a\":1}", 7, 3, &err));
    assert_int_equal(err.code, DM_ERR_TOO_LARGE);
    assert_null(dm_json_parse("{\"a\":1,\"a\":2}", 13, 100, &err)); /* duplicate keys */
}

static void test_deadline_after(void **state)
{
    (void)state;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec d = dm_deadline_after(CLOCK_MONOTONIC, 2999);
    assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
    int64_t delta_ms =
        (int64_t)(d.tv_sec - now.tv_sec) * 1000 + (d.tv_nsec - now.tv_nsec) / 1000000;
    assert_true(delta_ms >= 2999 && delta_ms < 2999 + 1000); /* normalised carry, same clock */
    struct timespec r = dm_deadline_after(CLOCK_REALTIME, 0);
    assert_true(r.tv_nsec >= 0 && r.tv_nsec < 1000000000L);
    assert_true(r.tv_sec > 1700000000); /* the wall clock, not the monotonic one */
}

/* dm_mono_us is dm_mono_ms's clock in microseconds; a condition variable from
 * dm_cond_init_monotonic times out at a dm_deadline_after(CLOCK_MONOTONIC, ...) deadline (on
 * the realtime clock that deadline lies decades in the past and the wait would return at once). */
static void test_monotonic_us_and_cond(void **state)
{
    (void)state;
    int64_t ms0 = dm_mono_ms(), us = dm_mono_us(), ms1 = dm_mono_ms();
    assert_true(us / 1000 >= ms0 && us / 1000 <= ms1);
    assert_true(dm_mono_us() >= us);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    dm_cond_init_monotonic(&cv);
    pthread_mutex_lock(&mu);
    int64_t t0 = dm_mono_us();
    struct timespec d = dm_deadline_after(CLOCK_MONOTONIC, 50);
    int rc = 0;
    while (rc == 0) /* a spurious wake-up waits again */
        rc = pthread_cond_timedwait(&cv, &mu, &d);
    pthread_mutex_unlock(&mu);
    assert_int_equal(rc, ETIMEDOUT);
    assert_true(dm_mono_us() - t0 >= 50000);
    pthread_cond_destroy(&cv);
}

/* Civil dates and day numbers: known points, and a round trip over 2,000 years either side
 * of 1970 (leap years, centuries and negative days included). */
static void test_civil_days(void **state)
{
    (void)state;
    assert_int_equal(dm_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(dm_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(dm_days_from_civil(1969, 12, 31), -1);
    int y, m, d;
    dm_civil_from_days(dm_days_from_civil(2024, 2, 29), &y, &m, &d);
    assert_true(y == 2024 && m == 2 && d == 29);
    for (int64_t z = -730000; z <= 730000; z += 37) {
        dm_civil_from_days(z, &y, &m, &d);
        assert_int_equal(dm_days_from_civil(y, m, d), z);
        assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_days),
        cmocka_unit_test(test_deadline_after),
        cmocka_unit_test(test_monotonic_us_and_cond),
        cmocka_unit_test(test_buf_bounded),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_double_bool),
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_fnv1a),
        cmocka_unit_test(test_crypto),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
