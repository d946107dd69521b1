/* test_search_cache.c - the API's search response cache without its refresher thread (that
 * one needs a database: it.api_search checks it): hits and misses by key, the cache off, the
 * body size bound, and the expiry rules on a test clock (one request refreshes an expired entry
 * while the others keep the previous body, for at most 4 lifetimes + 1 s). */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/search_query.h"
#include "services/api/search_cache.h"

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

static void put_text(struct api_respcache *rc, const char *key, const char *text, const char *etag)
{
    struct dm_search_query q;
    memset(&q, 0, sizeof(q));
    struct dm_buf b;
    dm_buf_init(&b, 1024 * 1024);
    assert_int_equal(dm_buf_append_str(&b, text), DM_OK);
    api_respcache_put(rc, key, &q, &b, etag);
    dm_buf_free(&b);
}

/* get; on a hit *body receives the body text (static buffer) */
static bool get_text(struct api_respcache *rc, const char *key, char *body, size_t size,
                     char etag[40])
{
    struct dm_buf out;
    dm_buf_init(&out, 1024 * 1024);
    bool hit = api_respcache_get(rc, key, &out, etag);
    if (hit)
        snprintf(body, size, "%.*s", (int)out.len, out.data ? out.data : "");
    dm_buf_free(&out);
    return hit;
}

static void test_hit_and_miss(void **state)
{
    (void)state;
    struct api_respcache *rc = api_respcache_new(1000);
    char body[256], etag[40];
    assert_false(get_text(rc, "k1", body, sizeof(body), etag));
    put_text(rc, "k1", "{\"data\":[1]}", "\"aa\"");
    assert_true(get_text(rc, "k1", body, sizeof(body), etag));
    assert_string_equal(body, "{\"data\":[1]}");
    assert_string_equal(etag, "\"aa\"");
    assert_false(get_text(rc, "k2", body, sizeof(body), etag));
    /* Storing the same search again replaces its body and tag. */
    put_text(rc, "k1", "{\"data\":[2]}", "\"bb\"");
    assert_true(get_text(rc, "k1", body, sizeof(body), etag));
    assert_string_equal(body, "{\"data\":[2]}");
    assert_string_equal(etag, "\"bb\"");
    struct api_respcache_counts n;
    api_respcache_stats(rc, &n);
    assert_int_equal(n.hits, 2);
    assert_int_equal(n.misses, 2);
    assert_int_equal(n.refreshes_request, 0);
    api_respcache_free(rc);
}

static void test_off_and_bounds(void **state)
{
    (void)state;
    char body[64], etag[40];
    struct api_respcache *off = api_respcache_new(0);
    put_text(off, "k", "{}", "\"t\"");
    assert_false(get_text(off, "k", body, sizeof(body), etag));
    api_respcache_free(off);
    api_respcache_free(NULL);

    /* A body over 512 kB is not kept. */
    struct api_respcache *rc = api_respcache_new(1000);
    char *big = malloc(600 * 1024 + 1);
    assert_non_null(big);
    memset(big, 'x', 600 * 1024);
    big[600 * 1024] = '\0';
    put_text(rc, "big", big, "\"t\"");
    assert_false(get_text(rc, "big", body, sizeof(body), etag));
    free(big);
    api_respcache_free(rc);
}

static void test_expiry_without_refresher(void **state)
{
    (void)state;
    char body[64], etag[40];
    struct api_respcache *rc = api_respcache_new(1000);
    api_respcache_set_clock(rc, fake_clock);
    fake_now = 100000;
    put_text(rc, "k", "old", "\"o\"");

    fake_now += 999; /* fresh */
    assert_true(get_text(rc, "k", body, sizeof(body), etag));
    fake_now += 1; /* expired: this caller refreshes */
    assert_false(get_text(rc, "k", body, sizeof(body), etag));
    fake_now += 1; /* the others keep the previous body meanwhile */
    assert_true(get_text(rc, "k", body, sizeof(body), etag));
    assert_string_equal(body, "old");
    fake_now += 1999; /* 2 s after the refresh started it counts as abandoned: another one */
    assert_false(get_text(rc, "k", body, sizeof(body), etag));
    fake_now += 1; /* 3,001 ms old, still inside 4 lifetimes + 1 s */
    assert_true(get_text(rc, "k", body, sizeof(body), etag));
    struct api_respcache_counts n;
    api_respcache_stats(rc, &n);
    assert_int_equal(n.refreshes_request, 2);

    /* The refresh lands: fresh again. */
    put_text(rc, "k", "new", "\"n\"");
    fake_now += 500;
    assert_true(get_text(rc, "k", body, sizeof(body), etag));
    assert_string_equal(body, "new");
    assert_string_equal(etag, "\"n\"");

    /* Past 4 lifetimes + 1 s nobody gets the old body. */
    fake_now += 5000;
    assert_false(get_text(rc, "k", body, sizeof(body), etag));
    fake_now += 1;
    assert_false(get_text(rc, "k", body, sizeof(body), etag));
    api_respcache_free(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_miss),
        cmocka_unit_test(test_off_and_bounds),
        cmocka_unit_test(test_expiry_without_refresher),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
