/* test_feed.c - the feed seam (adapters/feed/feed.h): feed ids, raw table names, opening by id
 * and mapping through the table of feed types. */
#include "testlib.h"

#include <string.h>

#include "adapters/feed/feed.h"

static void test_ids(void **state)
{
    (void)state;
    assert_true(dm_feed_id_valid("nivoda"));
    assert_true(dm_feed_id_valid("acme_2"));
    assert_true(dm_feed_id_valid("a"));
    assert_true(dm_feed_id_valid("abcdefghijklmnopqrstuvwxyz012345")); /* 32 */
    assert_true(dm_feed_id_valid("2acme"));
    assert_true(dm_feed_id_valid("_x"));
    const char *bad[] = {"",    "Nivoda", "acme-gems",
                         "a b", "x;drop", "abcdefghijklmnopqrstuvwxyz0123456",
                         "é",   "x'y",    "a\"b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(dm_feed_id_valid(bad[i]));
    assert_false(dm_feed_id_valid(NULL));
}

static void test_raw_table(void **state)
{
    (void)state;
    char t[DM_FEED_TABLE_MAX];
    struct dm_error err = {0};
    assert_int_equal(dm_feed_raw_table("nivoda", t, &err), DM_OK);
    assert_string_equal(t, "raw_diamonds_nivoda");
    assert_int_equal(dm_feed_raw_table("abcdefghijklmnopqrstuvwxyz01234", t, &err), DM_OK);
    assert_string_equal(t, "raw_diamonds_abcdefghijklmnopqrstuvwxyz01234");
    assert_int_equal(dm_feed_raw_table("x\"; DROP TABLE diamonds; --", t, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "feed id"));
}

static void test_sql(void **state)
{
    (void)state;
    struct dm_buf b;
    dm_buf_init(&b, 4096);
    struct dm_error err = {0};
    assert_int_equal(dm_feed_sql("SELECT '{}'::text[], x FROM {raw} r JOIN diamonds d ON "
                                 "d.feed = {feed} WHERE {raw}.a = '{raw' AND b = '{",
                                 "acme_2", &b, &err),
                     DM_OK);
    assert_string_equal(b.data, "SELECT '{}'::text[], x FROM raw_diamonds_acme_2 r JOIN diamonds "
                                "d ON d.feed = 'acme_2' WHERE raw_diamonds_acme_2.a = '{raw' AND "
                                "b = '{");
    assert_int_equal(dm_feed_sql("{raw}", "x'; DROP TABLE diamonds; --", &b, &err), DM_ERR_INVALID);
    assert_int_equal(dm_feed_sql("", "nivoda", &b, &err), DM_OK);
    assert_int_equal(b.len, 0);
    dm_buf_free(&b);
}

static void test_open(void **state)
{
    (void)state;
    struct dm_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    struct dm_feed *f = (struct dm_feed *)&cfg; /* must be reset to NULL on failure */
    struct dm_error err = {0};
    assert_int_equal(dm_feed_open(&cfg, "acme", 0, &f, &err), DM_ERR_INVALID);
    assert_null(f);
    assert_non_null(strstr(err.message, "unknown feed 'acme'"));
    assert_non_null(strstr(err.message, "nivoda"));
    /* Known, but without credentials. */
    assert_int_equal(dm_feed_open(&cfg, "nivoda", 0, &f, &err), DM_ERR_NOT_FOUND);
    assert_null(f);
    assert_non_null(strstr(err.message, "NIVODA_ENDPOINT"));
    char endpoint[] = "http://127.0.0.1:9/graphql", user[] = "u", pass[] = "p";
    cfg.nivoda_endpoint = endpoint;
    cfg.nivoda_username = user;
    cfg.nivoda_password = pass;
    assert_int_equal(dm_feed_open(&cfg, "nivoda", 0, &f, &err), DM_OK);
    assert_non_null(f);
    assert_string_equal(dm_feed_id(f), "nivoda");
    dm_feed_close(f);
    dm_feed_close(NULL);
}

static void test_map(void **state)
{
    (void)state;
    const char *item =
        "{\"id\":\"offer-1\",\"price\":123456,\"diamond\":{\"id\":\"stone-1\","
        "\"availability\":\"AVAILABLE\",\"certificate\":{\"lab\":\"GIA\",\"certNumber\":\"1\","
        "\"shape\":\"round\",\"carats\":1.01,\"clarity\":\"VS1\",\"color\":\"G\"}}}";
    struct dm_diamond d;
    struct dm_error err = {0};
    assert_int_equal(dm_feed_map("nivoda", item, strlen(item), &d, &err), DM_OK);
    assert_string_equal(d.feed, "nivoda");
    assert_string_equal(d.supplier_stone_id, "stone-1");
    assert_string_equal(d.offer_id, "offer-1");
    assert_int_equal(d.carats_c2, 101);
    dm_diamond_free(&d);
    assert_int_equal(dm_feed_map("acme", item, strlen(item), &d, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "unknown feed"));
    assert_int_equal(dm_feed_map("nivoda", "{}", 2, &d, &err), DM_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),  cmocka_unit_test(test_raw_table), cmocka_unit_test(test_sql),
        cmocka_unit_test(test_open), cmocka_unit_test(test_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
