/*
 * test_feedsim.c - the feed simulator's contract, in-process (the same code `diamond feed-sim`
 * serves): same seed -> same inventory byte for byte; for random price/updated windows the
 * count equals the stones paged through and equals a brute-force filter over the ground truth;
 * churn changes exactly the announced stones and their `updated` times; faults (short pages,
 * duplicates, malformed items, price bands) keep paging exact; malformed GraphQL and unknown
 * operations answer GraphQL-style errors.
 */
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/feed/nivoda.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "services/feedsim/feedsim.h"

static struct dm_feedsim *sim_new(uint64_t seed, uint32_t count)
{
    struct dm_feedsim_opts o = {.seed = seed, .count = count};
    o.faults.price_min = o.faults.price_max = -1;
    return dm_feedsim_new(&o);
}

/* One GraphQL exchange; returns the parsed body (never NULL) and the status. */
static json_t *gql(struct dm_feedsim *s, const char *query, json_t *vars, int *status)
{
    json_t *req = json_pack("{s:s}", "query", query);
    if (vars)
        json_object_set_new(req, "variables", vars);
    char *body = dm_json_dumps(req);
    json_decref(req);
    struct dm_feedsim_reply r = {0};
    dm_buf_init(&r.body, 64u << 20);
    dm_feedsim_graphql(s, body, strlen(body), &r);
    free(body);
    struct dm_error err = {0};
    json_t *j = dm_json_parse(r.body.data, r.body.len, r.body.len, &err);
    if (j == NULL)
        fail_msg("reply is not JSON: %s", r.body.data ? r.body.data : "(empty)");
    *status = r.status;
    dm_buf_free(&r.body);
    return j;
}

static char *token(struct dm_feedsim *s)
{
    int st;
    json_t *j = gql(s,
                    "query ($u: String!, $p: String!) { authenticate { "
                    "username_and_password(username: $u, password: $p) { token } } }",
                    json_pack("{s:s,s:s}", "u", "sim", "p", "sim"), &st);
    assert_int_equal(st, 200);
    char *t = NULL;
    json_t *data = NULL;
    bool tokerr;
    char buf[512];
    char *txt = dm_json_dumps(j);
    struct dm_error err = {0};
    assert_int_equal(dm_nivoda_parse_response(st, txt, strlen(txt), &data, &tokerr, &err), DM_OK);
    assert_int_equal(dm_nivoda_extract_token(data, buf, sizeof(buf), &err), DM_OK);
    t = strdup(buf);
    free(txt);
    json_decref(data);
    json_decref(j);
    return t;
}

static const char *Q_COUNT = "query ($token: String!, $query: DiamondQuery) { as(token: $token) "
                             "{ diamonds_by_query_count(query: $query) } }";
static const char *Q_PAGE =
    "query ($token: String!, $query: DiamondQuery, $offset: Int, $limit: Int) { as(token: "
    "$token) { diamonds_by_query(query: $query, offset: $offset, limit: $limit, order: {type: "
    "createdAt, direction: ASC}) { total_count items { id price diamond { id certificate { "
    "shape color } } } } } }";

static int64_t count_of(struct dm_feedsim *s, const char *tok, json_t *query)
{
    int st;
    json_t *j = gql(s, Q_COUNT, json_pack("{s:s,s:o}", "token", tok, "query", query), &st);
    assert_int_equal(st, 200);
    json_t *c = json_object_get(json_object_get(json_object_get(j, "data"), "as"),
                                "diamonds_by_query_count");
    assert_true(json_is_integer(c));
    int64_t n = json_integer_value(c);
    json_decref(j);
    return n;
}

/* Page items (new reference); *total from total_count. */
static json_t *page_of(struct dm_feedsim *s, const char *tok, json_t *query, int64_t offset,
                       int limit)
{
    int st;
    json_t *j = gql(s, Q_PAGE,
                    json_pack("{s:s,s:o,s:I,s:i}", "token", tok, "query", query, "offset",
                              (json_int_t)offset, "limit", limit),
                    &st);
    if (st != 200 || json_object_get(j, "errors"))
        fail_msg("page failed: %s", dm_json_dumps(j));
    json_t *items = json_object_get(
        json_object_get(json_object_get(json_object_get(j, "data"), "as"), "diamonds_by_query"),
        "items");
    assert_true(json_is_array(items));
    json_incref(items);
    json_decref(j);
    return items;
}

static json_t *stones(struct dm_feedsim *s, const char *ids)
{
    struct dm_buf b;
    dm_buf_init(&b, 512u << 20);
    assert_int_equal(dm_feedsim_stones(s, ids, 0, 100000, &b), DM_OK);
    struct dm_error err = {0};
    json_t *j = dm_json_parse(b.data, b.len, b.len, &err);
    assert_non_null(j);
    dm_buf_free(&b);
    return j;
}

static void test_same_seed_same_inventory(void **state)
{
    struct dm_buf a, b, c;
    dm_buf_init(&a, 256u << 20);
    dm_buf_init(&b, 256u << 20);
    dm_buf_init(&c, 256u << 20);
    struct dm_feedsim *s1 = sim_new(99, 4000), *s2 = sim_new(99, 4000), *s3 = sim_new(100, 4000);
    assert_int_equal(dm_feedsim_stones(s1, NULL, 0, 100000, &a), DM_OK);
    assert_int_equal(dm_feedsim_stones(s2, NULL, 0, 100000, &b), DM_OK);
    assert_int_equal(dm_feedsim_stones(s3, NULL, 0, 100000, &c), DM_OK);
    assert_true(a.len > 4000 * 1000);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_true(a.len != c.len || memcmp(a.data, c.data, a.len) != 0);
    /* And through GraphQL pages too. */
    char *t1 = token(s1), *t2 = token(s2);
    for (int64_t off = 0; off < 4000; off += 1000) {
        json_t *p1 = page_of(s1, t1, json_object(), off, 50);
        json_t *p2 = page_of(s2, t2, json_object(), off, 50);
        assert_true(json_equal(p1, p2));
        json_decref(p1);
        json_decref(p2);
    }
    free(t1);
    free(t2);
    dm_feedsim_free(s1);
    dm_feedsim_free(s2);
    dm_feedsim_free(s3);
    dm_buf_free(&a);
    dm_buf_free(&b);
    dm_buf_free(&c);
}

static void test_distributions_are_realistic(void **state)
{
    struct dm_feedsim *s = sim_new(5, 20000);
    json_t *all = stones(s, NULL);
    json_t *items = json_object_get(all, "items");
    assert_int_equal(json_array_size(items), 20000);
    size_t i;
    json_t *it;
    int lab = 0, over250k = 0, null_image = 0, rounds = 0, under_half = 0;
    double sum_small = 0, sum_big = 0;
    int n_small = 0, n_big = 0;
    json_t *ids = json_object();
    json_array_foreach(items, i, it)
    {
        json_t *d = json_object_get(it, "diamond");
        json_t *c = json_object_get(d, "certificate");
        int64_t price = json_integer_value(json_object_get(it, "price"));
        double carats = json_number_value(json_object_get(c, "carats"));
        assert_true(price > 0);
        lab += json_is_true(json_object_get(c, "labgrown"));
        over250k += price >= 25000000;
        null_image += json_is_null(json_object_get(d, "image"));
        rounds += !strcmp(dm_json_str(c, "shape"), "ROUND");
        under_half += carats < 0.5;
        if (!json_is_true(json_object_get(c, "labgrown"))) {
            if (carats >= 0.9 && carats < 1.1) {
                sum_small += (double)price;
                n_small++;
            } else if (carats >= 1.9 && carats < 2.1) {
                sum_big += (double)price;
                n_big++;
            }
        }
        assert_null(json_object_get(ids, dm_json_str(d, "id"))); /* unique ids */
        json_object_set_new(ids, dm_json_str(d, "id"), json_true());
    }
    printf("lab %d, >= $250k %d, null image %d, round %d, < 0.5 ct %d\n", lab, over250k, null_image,
           rounds, under_half);
    assert_true(lab > 7000 && lab < 9000); /* ~40 % */
    assert_true(over250k > 0);             /* a long tail */
    assert_true(null_image > 1000 && null_image < 4000);
    assert_true(rounds > 7000 && rounds < 11000);
    assert_true(under_half > 200);                              /* some outside the sizes filter */
    assert_true(sum_big / n_big > 2.0 * (sum_small / n_small)); /* price grows with carats */
    json_decref(ids);
    json_decref(all);
    dm_feedsim_free(s);
}

static int64_t iso_ms(const char *s)
{
    int64_t ms = 0;
    assert_int_equal(dm_time_parse(s, &ms), DM_OK);
    return ms;
}

static void test_random_windows_count_equals_pages(void **state)
{
    struct dm_feedsim *s = sim_new(7, 6000);
    char *tok = token(s);
    /* Mutations first, so the indexes they maintain are what gets checked. */
    struct dm_inv_churn_result churn;
    dm_feedsim_churn(s, 10, &churn);
    json_t *before = stones(s, NULL);
    int holds = 0;
    for (size_t i = 0; i < 400 && holds < 20; i += 7) {
        json_t *it = json_array_get(json_object_get(before, "items"), i);
        int st;
        json_t *r = gql(s,
                        "mutation ($t: String!, $o: ID!) { as(token: $t) { create_hold("
                        "product_id: $o, product_type: Diamond) { id denied } } }",
                        json_pack("{s:s,s:s}", "t", tok, "o", dm_json_str(it, "id")), &st);
        json_t *h =
            json_object_get(json_object_get(json_object_get(r, "data"), "as"), "create_hold");
        holds += json_is_false(json_object_get(h, "denied"));
        json_decref(r);
    }
    assert_true(holds >= 10);
    json_decref(before);
    json_t *all = stones(s, NULL);
    json_t *items = json_object_get(all, "items"), *upd = json_object_get(all, "updated");
    srand(1234);
    for (int round = 0; round < 40; round++) {
        int64_t lo = rand() % 20000, hi = lo + rand() % 30000;
        int64_t t_lo = iso_ms("2024-01-01T00:00:00Z") + (int64_t)(rand() % 700) * 86400000LL;
        int64_t t_hi = t_lo + (int64_t)(rand() % 400) * 86400000LL + rand() % 86400000;
        if (round % 4 == 1) /* a window over today's changes */
            t_hi = dm_now_ms() + 1000;
        bool use_time = round % 3 != 0, use_price = round % 5 != 4;
        char from[DM_ISO_LEN], to[DM_ISO_LEN];
        dm_time_format(t_lo, from);
        dm_time_format(t_hi, to);
        json_t *q = json_pack("{s:[s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s],s:{s:f,s:i}}", "shapes",
                              "ROUND", "OVAL", "EMERALD", "CUSHION", "CUSHION B",
                              "CUSHION MODIFIED", "CUSHION BRILLIANT", "ASSCHER", "RADIANT",
                              "MARQUISE", "PEAR", "PRINCESS", "ROSE", "OLD MINER", "TRILLIANT",
                              "HEXAGONAL", "HEART", "sizes", "from", 0.5, "to", 10);
        if (use_price)
            json_object_set_new(q, "dollar_value", json_pack("{s:I,s:I}", "from", lo, "to", hi));
        if (use_time)
            json_object_set_new(q, "updated", json_pack("{s:s,s:s}", "from", from, "to", to));
        /* Brute force over the ground truth. */
        int64_t expect = 0;
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            json_t *c = json_object_get(json_object_get(it, "diamond"), "certificate");
            int64_t dollars = json_integer_value(json_object_get(it, "price")) / 100;
            double ct = json_number_value(json_object_get(c, "carats"));
            const char *shape = dm_json_str(c, "shape");
            int64_t u = iso_ms(json_string_value(json_array_get(upd, i)));
            bool ok = ct >= 0.5 && ct <= 10 && strcmp(shape, "BAGUETTE") &&
                      strcmp(shape, "TAPERED BAGUETTE") && strcmp(shape, "BRIOLETTE");
            if (use_price)
                ok = ok && dollars >= lo && dollars <= hi;
            if (use_time)
                ok = ok && u >= t_lo && u <= t_hi;
            expect += ok;
        }
        int64_t n = count_of(s, tok, json_incref(q));
        assert_int_equal(n, expect);
        /* Page through with a varying page size; every stone exactly once, in order. */
        int limit = 1 + round % 50;
        int64_t seen = 0;
        json_t *ids = json_object();
        for (int64_t off = 0;; off += limit) {
            json_t *p = page_of(s, tok, json_incref(q), off, limit);
            size_t k = json_array_size(p);
            json_t *x;
            json_array_foreach(p, i, x)
            {
                const char *id = dm_json_str(json_object_get(x, "diamond"), "id");
                assert_null(json_object_get(ids, id));
                json_object_set_new(ids, id, json_true());
            }
            seen += (int64_t)k;
            json_decref(p);
            if (k < (size_t)limit)
                break;
        }
        assert_int_equal(seen, n);
        json_decref(ids);
        json_decref(q);
    }
    json_decref(all);
    free(tok);
    dm_feedsim_free(s);
}

static void test_adjacent_price_bands_partition_the_inventory(void **state)
{
    struct dm_feedsim *s = sim_new(8, 5000);
    char *tok = token(s);
    int64_t total = count_of(s, tok, json_object());
    int64_t sum = 0;
    int64_t edges[] = {0, 700, 1500, 2999, 3000, 8000, 20000, 100000000};
    for (size_t i = 0; i + 1 < sizeof(edges) / sizeof(edges[0]); i++)
        sum += count_of(
            s, tok,
            json_pack("{s:{s:I,s:I}}", "dollar_value", "from", edges[i], "to", edges[i + 1] - 1));
    assert_int_equal(sum, total);
    free(tok);
    dm_feedsim_free(s);
}

static void test_churn_changes_exactly_what_it_announces(void **state)
{
    struct dm_feedsim *s = sim_new(11, 5000);
    json_t *before = stones(s, NULL);
    int64_t t0 = dm_now_ms();
    struct dm_inv_churn_result c;
    dm_feedsim_churn(s, 10, &c);
    json_t *after = stones(s, NULL);
    printf("churn: changed %lld (price %lld, availability %lld, sold %lld), removed %lld, "
           "added %lld\n",
           (long long)c.changed, (long long)c.price_changed, (long long)c.availability_changed,
           (long long)c.sold, (long long)c.removed, (long long)c.added);
    assert_int_equal(c.changed + c.removed, 500);
    assert_int_equal(c.added, 50);
    assert_true(c.price_changed > 0 && c.availability_changed > 0 && c.sold > 0 && c.removed > 0);
    assert_int_equal(c.live_after, 5000 - c.removed + c.added);
    /* Index both snapshots by diamond id. */
    json_t *bi = json_object(), *ai = json_object();
    json_t *snaps[2] = {before, after}, *idx[2] = {bi, ai};
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(snaps[k], "items"), i, it)
        {
            json_t *u = json_array_get(json_object_get(snaps[k], "updated"), i);
            json_object_set_new(idx[k], dm_json_str(json_object_get(it, "diamond"), "id"),
                                json_pack("{s:O,s:O}", "item", it, "updated", u));
        }
    }
    int64_t removed = 0, added = 0, changed = 0, updated_changed = 0, price_changed = 0;
    const char *id;
    json_t *v;
    json_object_foreach(bi, id, v)
    {
        json_t *w = json_object_get(ai, id);
        if (w == NULL) {
            removed++;
            continue;
        }
        bool item_diff = !json_equal(json_object_get(v, "item"), json_object_get(w, "item"));
        bool upd_diff = !json_equal(json_object_get(v, "updated"), json_object_get(w, "updated"));
        changed += item_diff;
        updated_changed += upd_diff;
        assert_int_equal(item_diff, upd_diff); /* a change always comes with a new `updated` */
        if (upd_diff)
            assert_true(iso_ms(json_string_value(json_object_get(w, "updated"))) >= t0);
        price_changed += json_integer_value(json_object_get(json_object_get(v, "item"), "price")) !=
                         json_integer_value(json_object_get(json_object_get(w, "item"), "price"));
    }
    json_object_foreach(ai, id, v) added += json_object_get(bi, id) == NULL;
    assert_int_equal(removed, c.removed);
    assert_int_equal(added, c.added);
    assert_int_equal(changed, c.changed);
    assert_int_equal(updated_changed, c.changed);
    assert_int_equal(price_changed, c.price_changed);
    /* An incremental window from t0 finds exactly the changed and the new stones. */
    char *tok = token(s);
    char from[DM_ISO_LEN], to[DM_ISO_LEN];
    dm_time_format(t0, from);
    dm_time_format(dm_now_ms() + 1000, to);
    assert_int_equal(
        count_of(s, tok, json_pack("{s:{s:s,s:s}}", "updated", "from", from, "to", to)),
        c.changed + c.added);
    free(tok);
    json_decref(bi);
    json_decref(ai);
    json_decref(before);
    json_decref(after);
    dm_feedsim_free(s);
}

static void test_faults_keep_paging_exact(void **state)
{
    struct dm_feedsim_opts o = {.seed = 3, .count = 3000};
    o.faults.price_min = o.faults.price_max = -1;
    o.faults.short_pages = 0.5;
    o.faults.duplicate_rate = 1.0;
    o.faults.malformed_rate = 0.05;
    struct dm_feedsim *s = dm_feedsim_new(&o);
    char *tok = token(s);
    json_t *q = json_pack("{s:{s:i,s:i}}", "dollar_value", "from", 0, "to", 1000000);
    int64_t n = count_of(s, tok, json_incref(q));
    int64_t off = 0, raw = 0, shorts = 0, malformed = 0;
    json_t *ids = json_object();
    for (;;) {
        json_t *p = page_of(s, tok, json_incref(q), off, 50);
        size_t k = json_array_size(p);
        if (k == 0) {
            json_decref(p);
            break;
        }
        size_t i;
        json_t *x;
        json_array_foreach(p, i, x)
        {
            json_t *d = json_object_get(x, "diamond");
            json_t *c = json_object_get(d, "certificate");
            json_object_set_new(ids, dm_json_str(d, "id"), json_true());
            malformed += json_is_null(json_object_get(x, "price")) || json_is_null(c) ||
                         json_is_null(json_object_get(c, "shape")) ||
                         json_is_null(json_object_get(c, "color"));
        }
        if (k < 50 && off + (int64_t)k < n)
            shorts++;
        raw += (int64_t)k;
        off += (int64_t)k; /* as the worker does: advance by the items returned */
        json_decref(p);
    }
    printf("faults: %lld stones, %lld items returned, %lld short pages, %lld malformed\n",
           (long long)n, (long long)raw, (long long)shorts, (long long)malformed);
    assert_true(malformed > 50 && malformed < 400);      /* ~5 % of 3000 */
    assert_int_equal((int64_t)json_object_size(ids), n); /* nothing lost */
    assert_true(shorts > 0);
    assert_true(raw == n || raw == n + 1); /* at most the one duplicate on the last page */
    json_decref(ids);
    json_decref(q);
    free(tok);
    dm_feedsim_free(s);
}

static void test_selection_sets_are_honoured(void **state)
{
    struct dm_feedsim *s = sim_new(4, 100);
    char *tok = token(s);
    int st;
    json_t *j = gql(s,
                    "query ($t: String!) { as(token: $t) { page: diamonds_by_query(limit: 2) { "
                    "items { p: price id diamond { certificate { carats __typename } "
                    "__typename supplier { name } } } } } }",
                    json_pack("{s:s}", "t", tok), &st);
    assert_int_equal(st, 200);
    json_t *items = json_object_get(
        json_object_get(json_object_get(json_object_get(j, "data"), "as"), "page"), "items");
    assert_int_equal(json_array_size(items), 2);
    json_t *it = json_array_get(items, 0);
    char *txt = json_dumps(it, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("selected item: %s\n", txt);
    /* Exactly the selected fields, under their aliases, in selection order. */
    assert_int_equal(json_object_size(it), 3);
    assert_non_null(strstr(txt, "{\"p\":"));
    assert_non_null(strstr(txt, ",\"id\":\""));
    assert_non_null(strstr(txt, "\"diamond\":{\"certificate\":{\"carats\":"));
    assert_non_null(strstr(txt, "\"__typename\":\"Certificate\"},\"__typename\":\"Diamond\","
                                "\"supplier\":{\"name\":\""));
    free(txt);
    json_decref(j);
    /* And the full selection renders the same bytes as the ground truth. */
    json_t *page = page_of(s, tok, json_object(), 0, 1);
    json_t *truth = stones(s, NULL);
    json_t *first = json_array_get(json_object_get(truth, "items"), 0);
    assert_string_equal(dm_json_str(json_array_get(page, 0), "id"), dm_json_str(first, "id"));
    json_decref(page);
    json_decref(truth);
    free(tok);
    dm_feedsim_free(s);
}

static void test_malformed_requests_answer_graphql_errors(void **state)
{
    struct dm_feedsim *s = sim_new(1, 200);
    char *tok = token(s);
    const char *bodies[] = {
        "",
        "null",
        "[1,2]",
        "{\"query\": 5}",
        "{\"query\": \"{\", \"variables\": 3}",
        "{\"query\": \"{\"}",
        "{\"query\": \"{ }\"}",
        "{\"query\": \"query { unknown_field }\"}",
        "{\"query\": \"mutation { drop_all_diamonds }\"}",
        "{\"query\": \"subscription { x }\"}",
        "{\"query\": \"fragment f on X { a } { ...f }\"}",
        "{\"query\": \"{ as(token: \\\"nope\\\") { diamonds_by_query_count } }\"}",
        "{\"query\": \"query ($t: String!) { as(token: $t) { diamonds_by_query_count } }\"}",
        "{\"query\": \"{ a } { b }\"}",
        "{\"query\": \"{ a(x: $undefined) }\"}",
        "{\"query\": \"{ a(x: \\\"\\\\uZZZZ\\\") }\"}",
        "{\"query\": \"{ a(x: 1e99999) }\"}",
        "{\"query\": \"{ a(x: 99999999999999999999999) }\"}",
        "{\"query\": \"{ authenticate { username_and_password(username: 1) { token } } }\"}",
        "{\"query\": \"{ authenticate { username_and_password(username: \\\"sim\\\", password: "
        "\\\"bad\\\") { token } } }\"}",
        "{\"query\": \"{ __typename @include(if: true) }\"}",
        "{\"query\": \"{ a(x: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
        "]]]]]]]]]) }\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct dm_feedsim_reply r = {0};
        dm_buf_init(&r.body, 1u << 20);
        dm_feedsim_graphql(s, bodies[i], strlen(bodies[i]), &r);
        struct dm_error err = {0};
        json_t *j = dm_json_parse(r.body.data, r.body.len, r.body.len, &err);
        if (j == NULL || !json_is_array(json_object_get(j, "errors")))
            fail_msg("body %zu: no errors array: %s", i, r.body.data);
        const char *msg = dm_json_str(json_array_get(json_object_get(j, "errors"), 0), "message");
        assert_non_null(msg);
        assert_true(r.status == 200 || r.status == 400);
        json_decref(j);
        dm_buf_free(&r.body);
    }
    /* Bad arguments of the real operations. */
    const char *bad_args[] = {
        "{ as(token: $token) { diamonds_by_query(limit: 51) { items { id } } } }",
        "{ as(token: $token) { diamonds_by_query(offset: -1) { items { id } } } }",
        "{ as(token: $token) { diamonds_by_query(order: {type: price, direction: ASC}) { "
        "items { id } } } }",
        "{ as(token: $token) { diamonds_by_query(query: {colour: \"D\"}) { items { id } } } }",
        "{ as(token: $token) { diamonds_by_query(query: {updated: {from: \"yesterday\"}}) { "
        "items { id } } } }",
        "{ as(token: $token) { diamonds_by_query(query: {dollar_value: {from: \"1\"}}) { "
        "items { id } } } }",
        "{ as(token: $token) { diamonds_by_query(query: {shapes: \"ROUND\"}) { items { id } } } }",
        "{ as(token: $token) { diamonds_by_query { items { nope } } } }",
        "{ as(token: $token) { diamonds_by_query_count { x } } }",
        "{ as(token: $token) { create_hold(product_id: \"x\", product_type: Diamond) { id } } }",
        "{ as(token: $token) { create_order(items: []) } }",
        "{ as(token: $token) { delete_everything } }",
    };
    for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
        char q[1024];
        snprintf(q, sizeof(q), "query ($token: String!) %s", bad_args[i]);
        int st;
        json_t *j = gql(s, q, json_pack("{s:s}", "token", tok), &st);
        if (!json_is_array(json_object_get(j, "errors")))
            fail_msg("bad args %zu: no errors: %s", i, dm_json_dumps(j));
        json_decref(j);
    }
    /* Still serving. */
    assert_int_equal(count_of(s, tok, json_object()), 200);
    free(tok);
    dm_feedsim_free(s);
}

static void test_expired_token_is_rejected_nivoda_style(void **state)
{
    struct dm_feedsim_opts o = {.seed = 1, .count = 10, .token_ttl_ms = 50};
    o.faults.price_min = o.faults.price_max = -1;
    struct dm_feedsim *s = dm_feedsim_new(&o);
    char *tok = token(s);
    dm_sleep_ms(80, NULL);
    int st;
    json_t *j = gql(s, Q_COUNT, json_pack("{s:s}", "token", tok), &st);
    const char *msg = dm_json_str(json_array_get(json_object_get(j, "errors"), 0), "message");
    assert_non_null(msg);
    assert_true(dm_nivoda_is_token_message(msg));
    json_decref(j);
    j = gql(s, Q_COUNT, json_pack("{s:s}", "token", "sim1.0.99999999999999.abc"), &st);
    msg = dm_json_str(json_array_get(json_object_get(j, "errors"), 0), "message");
    assert_true(dm_nivoda_is_token_message(msg));
    json_decref(j);
    free(tok);
    dm_feedsim_free(s);
}

static void test_feed_order_is_created_then_id(void **state)
{
    struct dm_feedsim *s = sim_new(21, 20000);
    struct dm_inv_churn_result c;
    dm_feedsim_churn(s, 5, &c); /* new stones share one createdAt */
    json_t *all = stones(s, NULL);
    json_t *items = json_object_get(all, "items"), *created = json_object_get(all, "created");
    int ties = 0;
    for (size_t i = 1; i < json_array_size(items); i++) {
        const char *c0 = json_string_value(json_array_get(created, i - 1));
        const char *c1 = json_string_value(json_array_get(created, i));
        int cmp = strcmp(c0, c1); /* same-format ISO strings order like times */
        assert_true(cmp <= 0);
        if (cmp == 0) {
            ties++;
            const char *a =
                dm_json_str(json_object_get(json_array_get(items, i - 1), "diamond"), "id");
            const char *b = dm_json_str(json_object_get(json_array_get(items, i), "diamond"), "id");
            assert_true(strcmp(a, b) < 0);
        }
    }
    assert_true(ties >= (int)c.added - 1);
    json_decref(all);
    dm_feedsim_free(s);
}

int main(void)
{
    dm_log_init("test", DM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_inventory),
        cmocka_unit_test(test_distributions_are_realistic),
        cmocka_unit_test(test_random_windows_count_equals_pages),
        cmocka_unit_test(test_adjacent_price_bands_partition_the_inventory),
        cmocka_unit_test(test_churn_changes_exactly_what_it_announces),
        cmocka_unit_test(test_faults_keep_paging_exact),
        cmocka_unit_test(test_selection_sets_are_honoured),
        cmocka_unit_test(test_malformed_requests_answer_graphql_errors),
        cmocka_unit_test(test_expired_token_is_rejected_nivoda_style),
        cmocka_unit_test(test_feed_order_is_created_then_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
