/*
 * test_listings_order.c - the chosen offer in SQL agrees with dm_offer_choose in C (issue 18).
 * store/listings.c recomputes `chosen` with an ORDER BY that must be dm_offer_compare's order;
 * this test generates listings of up to seven offers with tied prices, every availability, feed
 * ids and supplier ids whose byte order differs from a locale's order (upper case, '_', '-'),
 * deleted offers, and several priority settings, lets the store choose for every listing in one
 * refresh under both policies, and compares each choice with the C rule. It also checks that the
 * migration's dm_listing_uuid (SQL) gives dm_offer_listing_id's id for awkward keys.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/db/db.h"
#include "core/buf.h"
#include "core/pgarray.h"
#include "domain/offer.h"
#include "store/listings.h"

#define GROUPS 400
#define MAX_OFFERS 7

static const char *const FEEDS[] = {"alpha", "Zeta", "a_b", "ab", "a-b", "nivoda"};
#define NFEEDS (sizeof(FEEDS) / sizeof(FEEDS[0]))
static const char *const AVAIL[] = {"available", "on_hold", "sold", "unavailable"};
static const char *const SIDS[] = {"s", "S", "s_1", "s-1", "s1", "t"};

struct gen_offer {
    char feed[16], sid[32];
    int64_t price; /* cents */
    int avail;
    bool deleted;
};
static struct gen_offer offers[GROUPS][MAX_OFFERS];
static int noffers[GROUPS];

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void generate(void)
{
    for (int g = 0; g < GROUPS; g++) {
        noffers[g] = 1 + (int)(next() % MAX_OFFERS);
        for (int i = 0; i < noffers[g]; i++) {
            struct gen_offer *o = &offers[g][i];
            /* Distinct (feed, supplier id) per listing: the sid carries the offer's index. */
            snprintf(o->feed, sizeof(o->feed), "%s", FEEDS[next() % NFEEDS]);
            snprintf(o->sid, sizeof(o->sid), "%s/%d.%d", SIDS[next() % 6], g, i);
            o->price = 100000 + (int64_t)(next() % 3) * 1; /* ties are the point */
            o->avail = (int)(next() % 4 == 0 ? 1 + next() % 3 : 0);
            o->deleted = next() % 9 == 0;
        }
    }
}

static void insert_all(struct dm_db *db)
{
    struct dm_buf sql;
    dm_buf_init(&sql, (size_t)64 << 20);
    assert_int_equal(
        dm_buf_append_str(&sql,
                          "INSERT INTO diamonds (feed, supplier_stone_id, offer_id, shape, carats, "
                          "color, clarity, feed_price, price_per_carat, retail_price, "
                          "markup_ratio, availability, status, content_hash, identity_key, "
                          "listing_key, listing_id, chosen) VALUES "),
        DM_OK);
    bool first = true;
    for (int g = 0; g < GROUPS; g++) {
        char key[64], lid[DM_UUID_LEN];
        snprintf(key, sizeof(key), "cert:GIA:%d", 1000 + g);
        dm_offer_listing_id(key, lid);
        for (int i = 0; i < noffers[g]; i++) {
            const struct gen_offer *o = &offers[g][i];
            assert_int_equal(dm_buf_appendf(&sql,
                                            "%s('%s', '%s', 'o', 'ROUND', 1, 'G', 'VS1', 1, 1, "
                                            "%lld.%02lld, 1.15, '%s', '%s', repeat('a', 64), "
                                            "'%s', '%s', '%s', false)",
                                            first ? "" : ",", o->feed, o->sid,
                                            (long long)(o->price / 100),
                                            (long long)(o->price % 100), AVAIL[o->avail],
                                            o->deleted ? "deleted" : "active", key, key, lid),
                             DM_OK);
            first = false;
        }
    }
    dm_test_exec(db, sql.data);
    dm_buf_free(&sql);
}

/* The C choice for listing g under p (-1 when no active offer). */
static int c_choice(int g, const struct dm_listing_policy *p)
{
    struct dm_offer os[MAX_OFFERS];
    int map[MAX_OFFERS], n = 0;
    for (int i = 0; i < noffers[g]; i++) {
        const struct gen_offer *o = &offers[g][i];
        if (o->deleted)
            continue;
        memset(&os[n], 0, sizeof(os[n]));
        os[n].feed = o->feed;
        os[n].supplier_stone_id = o->sid;
        os[n].feed_priority = dm_listing_priority(p, o->feed);
        os[n].retail_price_cents = o->price;
        os[n].availability = (enum dm_availability)o->avail;
        map[n++] = i;
    }
    if (n == 0)
        return -1;
    return map[dm_offer_choose(os, (size_t)n, p->policy)];
}

static void check_policy(struct dm_db *db, const struct dm_listing_policy *p, const char *what)
{
    struct dm_db_conn *c = NULL;
    struct dm_error err = {0};
    struct dm_buf keys;
    dm_buf_init(&keys, (size_t)1 << 20);
    assert_int_equal(dm_buf_append_char(&keys, '{'), DM_OK);
    for (int g = 0; g < GROUPS; g++) {
        char key[64];
        snprintf(key, sizeof(key), "cert:GIA:%d", 1000 + g);
        assert_int_equal(dm_pgarray_add(&keys, key), DM_OK);
    }
    assert_int_equal(dm_buf_append_char(&keys, '}'), DM_OK);
    assert_int_equal(dm_db_acquire(db, 10000, &c, &err), DM_OK);
    assert_int_equal(dm_db_begin(c, &err), DM_OK);
    enum dm_err e = dm_listings_refresh(c, p, NULL, keys.data, NULL, &err);
    if (e != DM_OK)
        fail_msg("%s: refresh: %s", what, err.message);
    assert_int_equal(dm_db_commit(c, &err), DM_OK);
    dm_db_release(c);
    dm_buf_free(&keys);

    PGresult *r = dm_test_query(db, "SELECT substr(listing_key, 10)::int - 1000, feed, "
                                    "supplier_stone_id, status FROM diamonds WHERE chosen");
    int got[GROUPS];
    for (int g = 0; g < GROUPS; g++)
        got[g] = -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int g = atoi(PQgetvalue(r, i, 0)); /* NOLINT(cert-err34-c): test data, digits only */
        assert_true(g >= 0 && g < GROUPS);
        assert_int_equal(got[g], -1); /* one chosen offer per listing */
        assert_string_equal(PQgetvalue(r, i, 3), "active");
        for (int k = 0; k < noffers[g]; k++)
            if (!strcmp(offers[g][k].feed, PQgetvalue(r, i, 1)) &&
                !strcmp(offers[g][k].sid, PQgetvalue(r, i, 2)))
                got[g] = k;
        assert_true(got[g] >= 0);
    }
    PQclear(r);
    int differ = 0;
    for (int g = 0; g < GROUPS; g++) {
        int want = c_choice(g, p);
        if (want != got[g]) {
            differ++;
            print_error("%s: listing %d: SQL chose %d, C chooses %d\n", what, g, got[g], want);
        }
    }
    assert_int_equal(differ, 0);
}

static void sql_order_is_c_order(void **state)
{
    (void)state;
    char *url = dm_test_new_db("listings_order");
    struct dm_db *db = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_db_open(url, 2, &db, &err), DM_OK);
    generate();
    insert_all(db);
    struct dm_listing_policy p;
    dm_listing_policy_from_config(NULL, &p);
    check_policy(db, &p, "lowest_retail, no priorities");
    p.policy = DM_OFFER_POLICY_FEED_PRIORITY;
    check_policy(db, &p, "feed_priority, no priorities");
    /* Priorities: some feeds above, one below the default 0, one unlisted. */
    p.n = 4;
    snprintf(p.feed[0], sizeof(p.feed[0]), "Zeta");
    p.priority[0] = 5;
    snprintf(p.feed[1], sizeof(p.feed[1]), "a_b");
    p.priority[1] = 5;
    snprintf(p.feed[2], sizeof(p.feed[2]), "nivoda");
    p.priority[2] = -3;
    snprintf(p.feed[3], sizeof(p.feed[3]), "ab");
    p.priority[3] = 1;
    check_policy(db, &p, "feed_priority with priorities");
    p.policy = DM_OFFER_POLICY_LOWEST_RETAIL;
    check_policy(db, &p, "lowest_retail with priorities");
    dm_db_free(db);
    free(url);
}

static void sql_listing_id_is_c_listing_id(void **state)
{
    (void)state;
    char *url = dm_test_new_db("listings_uuid");
    struct dm_db *db = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_db_open(url, 1, &db, &err), DM_OK);
    static const char *const keys[] = {
        "cert:GIA:1234567890", "feed:nivoda:abc", "feed:f:\xc3\xa9t\xc3\xa9 \\ ' \" x",
        "feed:f:", "cert:EGLUSA:LG123456789012345678901234567890123456"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char want[DM_UUID_LEN];
        dm_offer_listing_id(keys[i], want);
        const char *p[1] = {keys[i]};
        PGresult *r = NULL;
        assert_int_equal(dm_db_query(db, "SELECT dm_listing_uuid($1)::text", 1, p, &r, &err),
                         DM_OK);
        assert_string_equal(PQgetvalue(r, 0, 0), want);
        PQclear(r);
    }
    dm_db_free(db);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sql_order_is_c_order),
        cmocka_unit_test(sql_listing_id_is_c_listing_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
