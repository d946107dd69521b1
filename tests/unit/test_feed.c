/* test_feed.c - the feed seam (adapters/feed/feed.h): feed ids, raw table names, opening by id
 * and mapping through the table of feed types. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/feed/feed.h"
#include "testconfig.h"

static void test_ids(void **state)
{
    (void)state;
    static const struct dm_test_pred_case cases[] = {
        {"nivoda", true},     {"acme_2", true},
        {"a", true},          {"abcdefghijklmnopqrstuvwxyz012345", true}, /* 32 */
        {"2acme", true},      {"_x", true},
        {"", false},          {"Nivoda", false},
        {"acme-gems", false}, {"a b", false},
        {"x;drop", false},    {"abcdefghijklmnopqrstuvwxyz0123456", false}, /* 33 */
        {"é", false},         {"x'y", false},
        {"a\"b", false},      {NULL, false},
    };
    DM_TEST_PRED(dm_feed_id_valid, cases);
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

/* The worker's configuration (it reads every feed variable) of the FEED* variables the test set,
 * with the seed's Nivoda login. */
static void load_worker(struct dm_test_config *t)
{
    setenv("NIVODA_ENDPOINT", "http://127.0.0.1:9/graphql", 1);
    setenv("NIVODA_USERNAME", "u", 1);
    setenv("NIVODA_PASSWORD", "p", 1);
    setenv("DATABASE_URL", "postgresql://u@127.0.0.1/db", 1);
    dm_test_config_load_ok(t, DM_SVC_WORKER);
}

static void test_open(void **state)
{
    (void)state;
    setenv("FEEDS", "nivoda,second,acme", 1);
    setenv("FEED_SECOND_TYPE", "nivoda", 1);
    setenv("FEED_SECOND_URL", "http://127.0.0.1:10/graphql", 1);
    setenv("FEED_ACME_TYPE", "file", 1);
    setenv("FEED_ACME_URL", "file:///tmp/acme.csv", 1);
    struct dm_test_config t;
    load_worker(&t);
    struct dm_feed *f = (struct dm_feed *)&t.cfg; /* must be reset to NULL on failure */
    struct dm_error err = {0};
    assert_int_equal(dm_feed_open(&t.cfg, "other", 0, &f, &err), DM_ERR_INVALID);
    assert_null(f);
    assert_non_null(
        strstr(err.message, "feed 'other' is not configured (FEEDS=nivoda,second,acme)"));
    assert_int_equal(dm_feed_open(&t.cfg, "Bad id", 0, &f, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "feed id"));
    assert_int_equal(dm_feed_open(&t.cfg, NULL, 0, &f, &err), DM_ERR_INVALID);
    assert_int_equal(dm_feed_open(&t.cfg, "nivoda", 0, &f, &err), DM_OK);
    assert_non_null(f);
    assert_string_equal(dm_feed_id(f), "nivoda");
    assert_ptr_equal(dm_feed_conf(f), dm_config_feed(&t.cfg, "nivoda"));
    assert_false(dm_feed_snapshot(dm_feed_conf(f)));
    dm_feed_close(f);
    /* A second feed of the same type: its own id and endpoint. */
    assert_int_equal(dm_feed_open(&t.cfg, "second", 0, &f, &err), DM_OK);
    assert_string_equal(dm_feed_id(f), "second");
    assert_string_equal(dm_feed_conf(f)->url, "http://127.0.0.1:10/graphql");
    dm_feed_close(f);
    dm_feed_close(NULL);
    assert_true(dm_feed_snapshot(dm_config_feed(&t.cfg, "acme")));
    assert_false(dm_feed_snapshot(NULL));
    dm_test_config_free(&t);

    /* Known, but without credentials (the API reads them without requiring them). */
    unsetenv("NIVODA_ENDPOINT");
    dm_test_config_load_ok(&t, DM_SVC_API);
    assert_int_equal(dm_feed_open(&t.cfg, "nivoda", 0, &f, &err), DM_ERR_NOT_FOUND);
    assert_null(f);
    assert_non_null(strstr(err.message, "NIVODA_ENDPOINT"));
    dm_test_config_free(&t);
    unsetenv("FEEDS");
}

static void test_map(void **state)
{
    (void)state;
    setenv("FEEDS", "nivoda,second", 1);
    setenv("FEED_SECOND_TYPE", "nivoda", 1);
    struct dm_test_config t;
    load_worker(&t);
    const char *item =
        "{\"id\":\"offer-1\",\"price\":123456,\"diamond\":{\"id\":\"stone-1\","
        "\"availability\":\"AVAILABLE\",\"certificate\":{\"lab\":\"GIA\",\"certNumber\":\"1\","
        "\"shape\":\"round\",\"carats\":1.01,\"clarity\":\"VS1\",\"color\":\"G\"}}}";
    struct dm_diamond d;
    struct dm_error err = {0};
    assert_int_equal(dm_feed_map(&t.cfg, "nivoda", item, strlen(item), &d, &err), DM_OK);
    assert_string_equal(d.feed, "nivoda");
    assert_string_equal(d.supplier_stone_id, "stone-1");
    assert_string_equal(d.offer_id, "offer-1");
    assert_int_equal(d.carats_c2, 101);
    dm_diamond_free(&d);
    /* The same item from the second feed is that feed's stone. */
    assert_int_equal(dm_feed_map(&t.cfg, "second", item, strlen(item), &d, &err), DM_OK);
    assert_string_equal(d.feed, "second");
    dm_diamond_free(&d);
    assert_int_equal(dm_feed_map(&t.cfg, "acme", item, strlen(item), &d, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "feed 'acme' is not configured"));
    assert_int_equal(dm_feed_map(&t.cfg, "nivoda", "{}", 2, &d, &err), DM_ERR_INVALID);
    dm_test_config_free(&t);
    unsetenv("FEEDS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),  cmocka_unit_test(test_raw_table), cmocka_unit_test(test_sql),
        cmocka_unit_test(test_open), cmocka_unit_test(test_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
