/*
 * test_nivoda_raw.c - the raw search page scanner (nivoda_raw.c): items keep the feed's text
 * (compacted), ids are picked out as the jansson path reports them, the hash of a compact
 * feed item equals the hash of its dm_json_write serialisation (no re-consolidation after the
 * switch), and every response the scanner is not sure about is left to the regular path.
 */
#include "testlib.h"

#include <string.h>

#include "adapters/feed/nivoda.h"
#include "core/buf.h"
#include "core/json.h"
#include "domain/jsonwrite.h"

#define ITEM1                                                                                      \
    "{\"id\":\"41b8a2c1-2cfe-050b-3527-ad49af75a0f7\",\"price\":23416,\"discount\":-42.9,"         \
    "\"diamond_price\":23416,\"markup_price\":24586,\"markup_discount\":-16.8,\"diamond\":{"       \
    "\"id\":\"8a556856-970d-ddf5-802c-c978dfd8b4d8\",\"availability\":\"AVAILABLE\","              \
    "\"HoldId\":null,\"NivodaStockId\":\"NIV25205493\",\"image\":\"https://images.feed-sim.local/" \
    "d/8a5.jpg\",\"eyeClean\":false,\"milky\":0,\"delivery_time\":{"                               \
    "\"express_timeline_applicable\":true,\"min_business_days\":4},\"certificate\":{"              \
    "\"carats\":0.26,\"table\":58,\"comments\":\"Caf\\u00e9 \\\"quoted\\\" \\ud83d\\ude00 "        \
    "\xc3\xa9\xe2\x82\xac\"},\"supplier\":{\"id\":\"s1\",\"name\":\"A\\/B\"}}}"
#define ITEM2                                                                                      \
    "{\"id\":7,\"diamond\":{\"id\":12345678901234},\"c\":1.50,\"z\":-0.00,\"t\":58.00,\"n\":-2."   \
    "10}"

static const char *page_body(const char *items)
{
    static char buf[8192];
    snprintf(buf, sizeof(buf),
             "{\"data\":{\"as\":{\"diamonds_by_query\":{\"total_count\":42,\"items\":[%s]}}}}",
             items);
    return buf;
}

/* The regular path for the same body, as a raw page. */
static void regular(const char *body, struct dm_feed_raw_page *out)
{
    json_t *data = NULL;
    bool tok = false;
    assert_int_equal(dm_nivoda_parse_response(200, body, strlen(body), &data, &tok, NULL), DM_OK);
    struct dm_feed_page p = {0};
    assert_int_equal(dm_nivoda_extract_page(data, &p, NULL), DM_OK);
    assert_int_equal(dm_nivoda_raw_from_items(p.items, p.total_count, out, NULL), DM_OK);
    dm_feed_page_free(&p);
    json_decref(data);
}

static bool span_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (a == NULL || b == NULL)
        return a == b;
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Scanner and regular path agree item by item: same ids, equal JSON values. */
static void assert_agree(const char *body)
{
    struct dm_feed_raw_page fast, slow;
    assert_int_equal(dm_nivoda_scan_raw_page(body, strlen(body), &fast), DM_OK);
    regular(body, &slow);
    assert_int_equal(fast.n, slow.n);
    for (size_t i = 0; i < fast.n; i++) {
        const struct dm_feed_raw_item *a = &fast.items[i], *b = &slow.items[i];
        assert_true(span_eq(a->stone_id, a->stone_id_len, b->stone_id, b->stone_id_len));
        assert_true(span_eq(a->offer_id, a->offer_id_len, b->offer_id, b->offer_id_len));
        json_t *ja = json_loadb(a->json, a->json_len, 0, NULL);
        json_t *jb = json_loadb(b->json, b->json_len, 0, NULL);
        assert_non_null(ja);
        assert_non_null(jb);
        assert_true(json_equal(ja, jb));
        json_decref(ja);
        json_decref(jb);
    }
    dm_feed_raw_page_free(&fast);
    dm_feed_raw_page_free(&slow);
}

static void test_items_and_ids(void **state)
{
    (void)state;
    const char *body = page_body(ITEM1 "," ITEM2);
    struct dm_feed_raw_page p;
    assert_int_equal(dm_nivoda_scan_raw_page(body, strlen(body), &p), DM_OK);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.total_count, 42);
    assert_int_equal(p.items[0].json_len, strlen(ITEM1));
    assert_memory_equal(p.items[0].json, ITEM1, strlen(ITEM1));
    assert_true(span_eq(p.items[0].stone_id, p.items[0].stone_id_len,
                        "8a556856-970d-ddf5-802c-c978dfd8b4d8", 36));
    assert_true(span_eq(p.items[0].offer_id, p.items[0].offer_id_len,
                        "41b8a2c1-2cfe-050b-3527-ad49af75a0f7", 36));
    assert_true(span_eq(p.items[1].stone_id, p.items[1].stone_id_len, "12345678901234", 14));
    assert_true(span_eq(p.items[1].offer_id, p.items[1].offer_id_len, "7", 1));
    dm_feed_raw_page_free(&p);
    assert_agree(body);
    assert_agree(page_body(""));
    /* ids: missing, empty, null, real, object, nested "id" elsewhere */
    assert_agree(page_body("{\"diamond\":{\"id\":\"a\"}},{\"id\":\"\",\"diamond\":{\"id\":\"\"}},"
                           "{\"id\":null,\"diamond\":null},{\"id\":1.5,\"diamond\":{\"id\":2.5}},"
                           "{\"id\":{\"id\":1},\"x\":{\"diamond\":{\"id\":\"no\"}}},"
                           "{\"id\":-3,\"diamond\":{\"x\":{\"id\":\"deep\"},\"id\":0}}"));
}

/* A compact feed item hashes the same as its dm_json_write serialisation did. */
static void test_same_text_as_json_write(void **state)
{
    (void)state;
    const char *body = page_body(ITEM1 "," ITEM2);
    struct dm_feed_raw_page p;
    assert_int_equal(dm_nivoda_scan_raw_page(body, strlen(body), &p), DM_OK);
    struct dm_feed_raw_page slow;
    regular(body, &slow);
    /* ITEM1 carries escapes jansson normalises (\u00e9, \/): compare ITEM2 byte for byte and
     * ITEM1 as values; the simulator's own pages are checked byte for byte by bench_ingest_page */
    assert_int_equal(p.items[1].json_len, slow.items[1].json_len);
    assert_memory_equal(p.items[1].json, slow.items[1].json, p.items[1].json_len);
    dm_feed_raw_page_free(&p);
    dm_feed_raw_page_free(&slow);
}

static void test_whitespace_compacted(void **state)
{
    (void)state;
    const char *body = " { \"data\" : { \"as\" : {\"diamonds_by_query\":{\"items\":[ {\n\"id\" :"
                       " \"o 1\" , \"diamond\" : { \"id\" : \"d 1\" } , \"a\" : [ 1 , 2.5 , true ,"
                       " null , \"x y\" ] } ] } } } }\r\n";
    struct dm_feed_raw_page p;
    assert_int_equal(dm_nivoda_scan_raw_page(body, strlen(body), &p), DM_OK);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.total_count, -1);
    const char *want =
        "{\"id\":\"o 1\",\"diamond\":{\"id\":\"d 1\"},\"a\":[1,2.5,true,null,\"x y\"]}";
    assert_int_equal(p.items[0].json_len, strlen(want));
    assert_memory_equal(p.items[0].json, want, strlen(want));
    assert_true(span_eq(p.items[0].stone_id, p.items[0].stone_id_len, "d 1", 3));
    dm_feed_raw_page_free(&p);
    assert_agree(body);
}

/* Everything the scanner is unsure about goes to the regular path. */
static void test_left_to_regular_path(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "",
        "{}",
        "[]",
        "{\"data\":null}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[]}}},\"errors\":[]}",
        "{\"errors\":[{\"message\":\"Token expired\"}]}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"total_count\":1}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[1]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{}]}}}} x",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"id\":\"\\u0041\"}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":\"\\ud800\"}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":\"\\udc00\"}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":\"\xc3\"}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":\"\xed\xa0\x80\"}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":\"\x01\"}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":1e400}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":01}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":1.}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":tru}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"id\":99999999999999999999}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"id\":1,\"id\":2}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"diamond\":{\"id\":1,\"id\":2}}]}}}"
        "}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":1,}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\" 1}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":1}]}}}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct dm_feed_raw_page p;
        if (dm_nivoda_scan_raw_page(bodies[i], strlen(bodies[i]), &p) != DM_ERR_INVALID)
            fail_msg("body %zu was accepted: %s", i, bodies[i]);
        assert_null(p.items);
        assert_null(p.text);
    }
    /* Deep nesting inside an item: left to jansson and dm_json_write. */
    struct dm_buf b;
    dm_buf_init(&b, 1 << 20);
    assert_int_equal(dm_buf_append_str(&b, "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":["
                                           "{\"a\":"),
                     DM_OK);
    for (int i = 0; i < 70; i++)
        assert_int_equal(dm_buf_append_char(&b, '['), DM_OK);
    for (int i = 0; i < 70; i++)
        assert_int_equal(dm_buf_append_char(&b, ']'), DM_OK);
    assert_int_equal(dm_buf_append_str(&b, "}]}}}}"), DM_OK);
    struct dm_feed_raw_page p;
    assert_int_equal(dm_nivoda_scan_raw_page(b.data, b.len, &p), DM_ERR_INVALID);
    dm_buf_free(&b);
}

/* String values: every valid form is kept byte for byte, every invalid one refuses the page. */
static void test_strings(void **state)
{
    (void)state;
    struct {
        const char *s; /* the string value's raw text, between the quotes */
        bool ok;
    } cases[] = {
        {"", true},
        {"plain ascii \x7f", true},
        {"\\\"\\\\\\/\\b\\f\\n\\r\\t", true},
        {"\\u0041\\u00e9\\uFFFF\\ud83d\\ude00\\uDBFF\\uDFFF", true},
        {"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", true},
        {"a\x01", false},
        {"\x1f", false},
        {"\\x", false},
        {"\\U0041", false},
        {"\\u12", false},
        {"\\u12g4", false},
        {"\\udc00", false},
        {"\\ud800", false},
        {"\\ud800x", false},
        {"\\ud800\\u0041", false},
        {"\\ud800\\udbff", false},
        {"\\ud800\\udcg0", false},
        {"\\ud800\\n", false},
        {"\xc0\xaf", false},
        {"\xc1\xbf", false},
        {"\xe0\x80\xaf", false},
        {"\xe0\x9f\xbf", false},
        {"\xf0\x80\x80\xaf", false},
        {"\xf0\x8f\xbf\xbf", false},
        {"\xed\xa0\x80", false},
        {"\xed\xbf\xbf", false},
        {"\xf4\x90\x80\x80", false},
        {"\xf5\x80\x80\x80", false},
        {"\xff", false},
        {"\x80", false},
        {"\xc3", false},
        {"\xe2\x82", false},
        {"\xe2\x28\xa1", false},
        {"\xf0\x90\x80", false},
    };
    char item[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(item, sizeof(item), "{\"id\":\"o\",\"a\":\"%s\",\"k\":1}", cases[i].s);
        const char *body = page_body(item);
        struct dm_feed_raw_page p;
        enum dm_err e = dm_nivoda_scan_raw_page(body, strlen(body), &p);
        if ((e == DM_OK) != cases[i].ok)
            fail_msg("case %zu '%s': e=%d", i, cases[i].s, e);
        if (e != DM_OK) {
            assert_null(p.items);
            continue;
        }
        assert_int_equal(p.n, 1);
        assert_int_equal(p.items[0].json_len, strlen(item));
        assert_memory_equal(p.items[0].json, item, strlen(item));
        dm_feed_raw_page_free(&p);
    }
    /* A string cut off by the end of the body, inside and after an escape. */
    static const char *const cut[] = {"{\"data\":\"abc", "{\"data\":\"a\\", "{\"data\":\"\\u00",
                                      "{\"data\":\"\\ud800\\udc"};
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        struct dm_feed_raw_page p;
        assert_int_equal(dm_nivoda_scan_raw_page(cut[i], strlen(cut[i]), &p), DM_ERR_INVALID);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items_and_ids),
        cmocka_unit_test(test_same_text_as_json_write),
        cmocka_unit_test(test_whitespace_compacted),
        cmocka_unit_test(test_left_to_regular_path),
        cmocka_unit_test(test_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
