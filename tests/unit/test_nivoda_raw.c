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
#include "core/jsonwrite.h"

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

/* Bodies that are not JSON, or whose envelope the scanner does not understand, go to the
 * regular path whole. */
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
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":null}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{}]}}}} x",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":tru}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":1,}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\" 1}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":1}]}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":[1}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":\"x}]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":1},]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[{\"a\":x}]}}}}",
        "{\"d\\u0061ta\":{\"as\":{\"diamonds_by_query\":{\"items\":[]}}}}",
        "{\"data\":{\"as\":{\"diamonds_by_query\":{\"items\":[]},\"diamonds_by_query\":{}}}}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct dm_feed_raw_page p;
        if (dm_nivoda_scan_raw_page(bodies[i], strlen(bodies[i]), &p) != DM_ERR_INVALID)
            fail_msg("body %zu was accepted: %s", i, bodies[i]);
        assert_null(p.items);
        assert_null(p.text);
    }
}

#define GOOD_A "{\"id\":\"oa\",\"price\":100,\"diamond\":{\"id\":\"sa\"}}"
#define GOOD_B "{\"id\":\"ob\",\"price\":200,\"diamond\":{\"id\":\"sb\"}}"

/* The items a scanned page holds, one per char of `want`: 'g' stored as the text it came
 * with, 'w' stored as jansson re-wrote it, 'r' refused. */
static void assert_items(const struct dm_feed_raw_page *p, const char *want)
{
    assert_int_equal(p->n, strlen(want));
    for (size_t i = 0; i < p->n; i++) {
        const struct dm_feed_raw_item *it = &p->items[i];
        if (want[i] == 'r') {
            if (it->refused == NULL || it->json != NULL || it->refused[0] == '\0')
                fail_msg("item %zu not refused", i);
            continue;
        }
        if (it->refused != NULL)
            fail_msg("item %zu refused: %s", i, it->refused);
        json_t *j = json_loadb(it->json, it->json_len,
                               JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);
        assert_true(json_is_object(j));
        json_decref(j);
    }
}

/* Would the regular path (jansson, then dm_json_write item by item) fail on this body? */
static bool regular_fails(const char *body, size_t len)
{
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (root == NULL)
        return true;
    json_t *items = json_object_get(
        json_object_get(json_object_get(json_object_get(root, "data"), "as"), "diamonds_by_query"),
        "items");
    bool fails = false;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        struct dm_buf b;
        dm_buf_init(&b, 1 << 20);
        fails = fails || dm_json_write(&b, it) != DM_OK;
        dm_buf_free(&b);
    }
    json_decref(root);
    return fails;
}

static void deep_value(struct dm_buf *b, int levels)
{
    for (int i = 0; i < levels; i++)
        assert_int_equal(dm_buf_append_char(b, '['), DM_OK);
    assert_int_equal(dm_buf_append_char(b, '0'), DM_OK);
    for (int i = 0; i < levels; i++)
        assert_int_equal(dm_buf_append_char(b, ']'), DM_OK);
}

/* One bad stone never costs the page (issue 20): each pathological value inside an otherwise
 * good page, alone and combined. Before, each of these pages was refused whole (the first two
 * alone, the last two together) and the partition failed after five deliveries. */
static void test_one_bad_item_not_the_page(void **state)
{
    (void)state;
    const char *overflow = "{\"id\":\"o1\",\"price\":1e400,\"diamond\":{\"id\":\"s1\"}}";
    const char *exponent = "{\"id\":\"o3\",\"price\":1E0,\"diamond\":{\"id\":\"s3\"}}";
    const char *bignum = "{\"id\":\"o4\",\"diamond_price\":123456789012345678901234567890,"
                         "\"diamond\":{\"id\":\"s4\"}}";
    struct dm_buf deep;
    dm_buf_init(&deep, 1 << 20);
    assert_int_equal(dm_buf_append_str(&deep, "{\"id\":\"o2\",\"diamond\":{\"id\":\"s2\"},\"x\":"),
                     DM_OK);
    deep_value(&deep, 200);
    assert_int_equal(dm_buf_append_char(&deep, '}'), DM_OK);
    const char *items[] = {overflow, deep.data, exponent, bignum};
    const char kinds[] = {'r', 'r', 'w', 'g'};
    /* alone (between two good items), then all together */
    for (int k = 0; k <= 4; k++) {
        struct dm_buf body;
        dm_buf_init(&body, 1 << 20);
        assert_int_equal(
            dm_buf_append_str(&body, "{\"data\":{\"as\":{\"diamonds_by_query\":{\"total_count\":9,"
                                     "\"items\":[" GOOD_A),
            DM_OK);
        char want[8] = "g";
        for (int i = 0; i < 4; i++) {
            if (k < 4 && i != k)
                continue;
            assert_int_equal(dm_buf_append_char(&body, ','), DM_OK);
            assert_int_equal(dm_buf_append_str(&body, items[i]), DM_OK);
            want[strlen(want)] = kinds[i];
        }
        assert_int_equal(dm_buf_append_str(&body, "," GOOD_B "]}}}}"), DM_OK);
        want[strlen(want)] = 'g';
        /* the precondition: the regular path cannot take this page (jansson refuses the
         * body, or dm_json_write an item) unless it holds the exponent alone. Before, the
         * scanner left every page with an exponent, deep nesting or 1e400 to the regular path
         * (so 0, 1 and 4 were refused whole) and took the big number alone itself. */
        if (regular_fails(body.data, body.len) != (k != 2))
            fail_msg("combination %d: the regular path %s it", k, k != 2 ? "takes" : "refuses");
        struct dm_feed_raw_page p;
        assert_int_equal(dm_nivoda_scan_raw_page(body.data, body.len, &p), DM_OK);
        assert_items(&p, want);
        /* good items keep their text and ids; refused ones are named by their ids */
        assert_memory_equal(p.items[0].json, GOOD_A, strlen(GOOD_A));
        assert_memory_equal(p.items[p.n - 1].json, GOOD_B, strlen(GOOD_B));
        for (size_t i = 1; i + 1 < p.n; i++) {
            const struct dm_feed_raw_item *it = &p.items[i];
            assert_non_null(it->stone_id);
            assert_int_equal(it->stone_id_len, 2);
            assert_int_equal(it->stone_id[0], 's');
            assert_non_null(it->offer_id);
            if (it->stone_id[1] == '1')
                assert_non_null(strstr(it->refused, "real number overflow"));
            if (it->stone_id[1] == '2')
                assert_non_null(strstr(it->refused, "deeper than 64"));
            if (it->stone_id[1] == '3') /* as the regular path writes it: 1.0 */
                assert_non_null(strstr(it->json, "\"price\":1.0,"));
            if (it->stone_id[1] == '4')
                assert_non_null(strstr(it->json, "123456789012345678901234567890"));
        }
        dm_feed_raw_page_free(&p);
        dm_buf_free(&body);
    }
    dm_buf_free(&deep);
}

/* Other items the scanner is unsure about: re-read alone by jansson (stored as it writes
 * them) or refused alone. */
static void test_items_read_again_alone(void **state)
{
    (void)state;
    static const struct {
        const char *item;
        char kind; /* 'w' re-written by jansson, 'r' refused */
        const char *sid, *why;
    } cases[] = {
        {"1", 'r', NULL, "not a JSON object"},
        {"null", 'r', NULL, "not a JSON object"},
        {"[{\"diamond\":{\"id\":\"x\"}}]", 'r', NULL, "not a JSON object"},
        {"{\"id\":\"\\u0041\",\"diamond\":{\"id\":\"s\"}}", 'w', "s", NULL},
        {"{\"diamond\":{\"\\u0069d\":\"s\"}}", 'w', "s", NULL},
        {"{\"diamond\":{\"id\":\"s\"},\"a\":\"\\ud800\"}", 'r', "s", "Unicode"},
        {"{\"diamond\":{\"id\":\"s\"},\"a\":\"\\udc00\"}", 'r', "s", "Unicode"},
        {"{\"diamond\":{\"id\":\"s\"},\"a\":\"\xc3\"}", 'r', "s", "decode byte"},
        {"{\"diamond\":{\"id\":\"s\"},\"a\":\"\xed\xa0\x80\"}", 'r', "s", "decode byte"},
        {"{\"diamond\":{\"id\":\"s\"},\"a\":\"\x01\"}", 'r', "s", "control character"},
        {"{\"diamond\":{\"id\":\"s\"},\"a\":01}", 'r', "s", "invalid token"},
        {"{\"diamond\":{\"id\":\"s\"},\"a\":1.}", 'r', "s", "invalid token"},
        {"{\"diamond\":{\"id\":\"s\"},\"a\":-1e-400}", 'w', "s", NULL},
        {"{\"id\":99999999999999999999,\"diamond\":{\"id\":\"s\"}}", 'r', "s", "too big"},
        {"{\"id\":1,\"id\":2,\"diamond\":{\"id\":\"s\"}}", 'r', "s", "duplicate"},
        {"{\"diamond\":{\"id\":\"s\",\"id\":\"t\"}}", 'r', "s", "duplicate"},
        {"{\"diamond\":{\"id\":\"s\"},\"diamond\":{\"id\":\"t\"}}", 'r', "s", "duplicate"},
    };
    char buf[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s,%s,%s", GOOD_A, cases[i].item, GOOD_B);
        const char *body = page_body(buf);
        struct dm_feed_raw_page p;
        if (dm_nivoda_scan_raw_page(body, strlen(body), &p) != DM_OK)
            fail_msg("case %zu: page refused", i);
        char want[4] = {'g', cases[i].kind, 'g', '\0'};
        assert_items(&p, want);
        const struct dm_feed_raw_item *it = &p.items[1];
        if (cases[i].sid == NULL)
            assert_null(it->stone_id);
        else if (!span_eq(it->stone_id, it->stone_id_len, cases[i].sid, strlen(cases[i].sid)))
            fail_msg("case %zu: stone id '%.*s'", i, (int)it->stone_id_len,
                     it->stone_id ? it->stone_id : "");
        if (cases[i].why && strstr(it->refused, cases[i].why) == NULL)
            fail_msg("case %zu: reason '%s', want '%s'", i, it->refused, cases[i].why);
        if (cases[i].kind == 'w') {
            /* exactly what the regular path makes of the item */
            json_t *j = json_loads(cases[i].item, 0, NULL);
            struct dm_buf b;
            dm_buf_init(&b, 1 << 20);
            assert_int_equal(dm_json_write(&b, j), DM_OK);
            assert_int_equal(it->json_len, b.len);
            assert_memory_equal(it->json, b.data, b.len);
            dm_buf_free(&b);
            json_decref(j);
        }
        dm_feed_raw_page_free(&p);
    }
    /* an item nested 100,000 deep is refused without recursion; 64 levels are kept */
    static const int depths[] = {63, 64, 100000};
    for (size_t d = 0; d < 3; d++) {
        struct dm_buf b;
        dm_buf_init(&b, 1 << 20);
        assert_int_equal(dm_buf_append_str(&b, "{\"data\":{\"as\":{\"diamonds_by_query\":{"
                                               "\"items\":[{\"diamond\":{\"id\":\"d\"},\"a\":"),
                         DM_OK);
        deep_value(&b, depths[d]);
        assert_int_equal(dm_buf_append_str(&b, "}," GOOD_A "]}}}}"), DM_OK);
        struct dm_feed_raw_page p;
        assert_int_equal(dm_nivoda_scan_raw_page(b.data, b.len, &p), DM_OK);
        assert_items(&p, depths[d] == 63 ? "wg" : "rg");
        dm_feed_raw_page_free(&p);
        dm_buf_free(&b);
    }
    /* inside diamond, the item's levels count too: 62 arrays there make 64 levels, 63 make 65 */
    for (int levels = 62; levels <= 63; levels++) {
        struct dm_buf b;
        dm_buf_init(&b, 1 << 20);
        assert_int_equal(dm_buf_append_str(&b, "{\"data\":{\"as\":{\"diamonds_by_query\":{"
                                               "\"items\":[{\"diamond\":{\"id\":\"d\",\"x\":"),
                         DM_OK);
        deep_value(&b, levels);
        assert_int_equal(dm_buf_append_str(&b, "}}]}}}}"), DM_OK);
        struct dm_feed_raw_page p;
        assert_int_equal(dm_nivoda_scan_raw_page(b.data, b.len, &p), DM_OK);
        assert_items(&p, levels == 62 ? "w" : "r");
        if (levels == 63)
            assert_non_null(strstr(p.items[0].refused, "deeper than 64"));
        dm_feed_raw_page_free(&p);
        dm_buf_free(&b);
    }
    /* envelope members nobody reads are only checked for structure */
    const char *odd =
        "{\"extensions\":{\"cost\":1e400,\"deep\":[[[[\"\xff\"]]]]},\"data\":{\"as\":{"
        "\"diamonds_by_query\":{\"total_count\":1E2,\"items\":[" GOOD_A "]}}}}";
    struct dm_feed_raw_page p;
    assert_int_equal(dm_nivoda_scan_raw_page(odd, strlen(odd), &p), DM_OK);
    assert_items(&p, "g");
    assert_int_equal(p.total_count, -1);
    dm_feed_raw_page_free(&p);
}

/* A page with more items than the limit is refused before more are allocated (issue 15). */
static void test_item_limit(void **state)
{
    (void)state;
    const char *body = page_body(GOOD_A "," GOOD_B ",1");
    struct dm_feed_raw_page p;
    assert_int_equal(dm_nivoda_scan_raw_page_limit(body, strlen(body), 2, &p), DM_ERR_TOO_LARGE);
    assert_null(p.items);
    assert_null(p.text);
    assert_int_equal(dm_nivoda_scan_raw_page_limit(body, strlen(body), 3, &p), DM_OK);
    assert_items(&p, "ggr");
    dm_feed_raw_page_free(&p);
    /* the regular path's own check is in the client (it.test_nivoda_client) */
}

/* String values: every valid form is kept byte for byte, every invalid one refuses its item. */
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
        if (e != DM_OK)
            fail_msg("case %zu '%s': e=%d", i, cases[i].s, e);
        assert_int_equal(p.n, 1);
        if ((p.items[0].refused == NULL) != cases[i].ok)
            fail_msg("case %zu '%s': refused '%s'", i, cases[i].s,
                     p.items[0].refused ? p.items[0].refused : "");
        if (!cases[i].ok) {
            assert_null(p.items[0].json);
            assert_true(span_eq(p.items[0].offer_id, p.items[0].offer_id_len, "o", 1));
            dm_feed_raw_page_free(&p);
            continue;
        }
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
        cmocka_unit_test(test_one_bad_item_not_the_page),
        cmocka_unit_test(test_items_read_again_alone),
        cmocka_unit_test(test_item_limit),
        cmocka_unit_test(test_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
