/*
 * test_search_index.c - the in-memory search index against a brute-force reference
 * (tests/fuzz/search_ref.h): thousands of seeded random searches (every filter, sort, offset
 * page and keyset cursor chains) and facets, on a catalogue with nasty values, before and after
 * batches of changes (updates, removals, inserts, late stale rows); plus rendering, lookups,
 * versions pinned across changes, and rows the index must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../fuzz/search_ref.h"
#include "testlib.h"

static struct ref_cat cat;

/* Run one query against the index and the reference; follow nextCursor twice. */
static void check_query(struct dm_search_index *ix, const struct ref_args *a, int *checked)
{
    struct dm_search_query q;
    if (!ref_parse_args(a, &q))
        return;
    struct dm_search_index_view *v = dm_search_index_acquire(ix);
    assert_non_null(v);
    struct dm_buf out;
    dm_buf_init(&out, 16 * 1024 * 1024);
    for (int hop = 0; hop < 3; hop++) {
        assert_int_equal(dm_search_index_search(v, &q, false, &out), DM_OK);
        assert_int_equal(dm_buf_append_char(&out, '\0'), DM_OK);
        const char *why = ref_check(&cat, &q, out.data);
        if (why) {
            fprintf(stderr, "query (hop %d):", hop);
            for (int i = 0; i < a->n; i++)
                fprintf(stderr, " %s=%s", a->k[i], a->v[i]);
            fprintf(stderr, "\n  %s\n", why);
            fail();
        }
        (*checked)++;
        json_t *j = json_loads(out.data, 0, NULL);
        const char *next =
            json_string_value(json_object_get(json_object_get(j, "pagination"), "nextCursor"));
        bool go = next != NULL;
        if (go) {
            char *cur = strdup(next);
            const char *k[2] = {"cursor", "limit"}, *vv[2] = {cur, NULL};
            char lim[16];
            snprintf(lim, sizeof(lim), "%d", q.limit);
            vv[1] = lim;
            /* The cursor carries sort and order; the filters are those of the query. */
            struct dm_search_query q2;
            struct dm_sq_error e;
            assert_int_equal(dm_search_query_parse(k, vv, 2, &q2, &e), DM_OK);
            struct dm_search_query keep = q;
            q = keep;
            q.has_cursor = true;
            q.sort = q2.sort;
            q.desc = q2.desc;
            memcpy(q.cursor_key, q2.cursor_key, sizeof(q.cursor_key));
            memcpy(q.cursor_id, q2.cursor_id, sizeof(q.cursor_id));
            free(cur);
        }
        json_decref(j);
        if (!go)
            break;
    }
    dm_buf_free(&out);
    dm_search_index_release(v);
}

static void check_facets(struct dm_search_index *ix, const struct ref_args *a)
{
    struct dm_search_query q;
    if (!ref_parse_args(a, &q))
        return;
    struct dm_search_index_view *v = dm_search_index_acquire(ix);
    struct dm_buf out;
    dm_buf_init(&out, 1024 * 1024);
    assert_int_equal(dm_search_index_facets(v, &q, &out), DM_OK);
    assert_int_equal(dm_buf_append_char(&out, '\0'), DM_OK);
    json_t *j = json_loads(out.data, 0, NULL);
    assert_non_null(j);
    json_t *f = json_object_get(j, "facets");
    static const char *const names[] = {"shape",  "color",    "clarity",      "cut",
                                        "polish", "symmetry", "fluorescence", "availability",
                                        "feed",   "labGrown"};
    for (int d = 0; d < 10; d++) {
        const char *why = ref_check_facet(&cat, &q, json_object_get(f, names[d]), d);
        if (why) {
            fprintf(stderr, "facets:");
            for (int i = 0; i < a->n; i++)
                fprintf(stderr, " %s=%s", a->k[i], a->v[i]);
            fprintf(stderr, "\n  %s\n  %s\n", why, out.data);
            fail();
        }
    }
    /* Histogram counts add up to the matches ignoring the histogram's own range. */
    int total = 0;
    static int order[REF_MAX];
    struct dm_search_query qp = q;
    qp.has_price_min = qp.has_price_max = false;
    ref_search(&cat, &qp, order, &total);
    json_t *h = json_object_get(json_object_get(j, "histograms"), "retailPrice");
    long sum = 0;
    for (size_t i = 0; i < json_array_size(h); i++)
        sum += (long)json_integer_value(json_object_get(json_array_get(h, i), "count"));
    assert_int_equal(sum, total);
    json_decref(j);
    dm_buf_free(&out);
    dm_search_index_release(v);
}

static void test_random_queries_and_churn(void **state)
{
    (void)state;
    ref_init(&cat, 7, 2500);
    struct dm_search_index *ix = dm_search_index_new();
    assert_null(dm_search_index_acquire(ix));
    ref_build(&cat, ix);
    int checked = 0;
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < 400; i++) {
            struct ref_args a;
            ref_random_args(&cat, &a);
            check_query(ix, &a, &checked);
            if (i % 8 == 0)
                check_facets(ix, &a);
        }
        ref_churn(&cat, ix, 40 + round * 60);
        ref_reprice(&cat, ix, round % 2 ? 30 : 900); /* few (binary-search merge) and many */
    }
    assert_true(checked > 2400);
    struct dm_search_index_stats st;
    dm_search_index_stats(ix, &st);
    int live = 0;
    for (int i = 0; i < cat.n; i++)
        live += cat.s[i].live;
    assert_int_equal(st.rows, live);
    assert_int_equal(st.last_seq, cat.seq);
    dm_search_index_free(ix);
}

/* A small catalogue: every offset and cursor path of the scan strategy (many matches) and the
 * collect strategy (few matches) is exercised with both directions. */
static void test_dense_and_sparse(void **state)
{
    (void)state;
    ref_init(&cat, 99, 600);
    struct dm_search_index *ix = dm_search_index_new();
    ref_build(&cat, ix);
    int checked = 0;
    for (int i = 0; i < 1500; i++) {
        struct ref_args a;
        memset(&a, 0, sizeof(a));
        static const char *const sorts[] = {"created_at", "retail_price", "feed_price",
                                            "carats",     "color",        "clarity"};
        ref_arg(&a, "sort_by", sorts[i % 6]);
        ref_arg(&a, "sort_order", i % 2 ? "asc" : "desc");
        char num[16];
        snprintf(num, sizeof(num), "%d", 1 + i % 7);
        ref_arg(&a, "page", num);
        snprintf(num, sizeof(num), "%d", 1 + (i * 7) % 100);
        ref_arg(&a, "limit", num);
        if (i % 3 == 1)
            ref_arg(&a, "shape", "HEART");
        if (i % 3 == 2)
            ref_arg(&a, "certificate_number", "C7,C8,C9");
        check_query(ix, &a, &checked);
    }
    dm_search_index_free(ix);
}

/* A pinned version keeps answering as it was while later versions replace its stones. */
static void test_pinned_version(void **state)
{
    (void)state;
    ref_init(&cat, 5, 300);
    struct dm_search_index *ix = dm_search_index_new();
    ref_build(&cat, ix);
    struct dm_search_index_view *old = dm_search_index_acquire(ix);
    char id[DM_UUID_LEN];
    dm_uuid_format(cat.s[0].id, id);
    assert_non_null(dm_search_index_get(old, id));
    struct ref_cat before = cat;
    for (int k = 0; k < 5; k++)
        ref_churn(&cat, ix, 100);
    struct dm_search_index_stats st;
    dm_search_index_stats(ix, &st);
    assert_true(st.pinned >= 1);
    /* The old view still answers from the old catalogue. */
    struct ref_cat now = cat;
    cat = before;
    struct dm_search_query q;
    struct ref_args a;
    memset(&a, 0, sizeof(a));
    ref_arg(&a, "limit", "100");
    assert_true(ref_parse_args(&a, &q));
    struct dm_buf out;
    dm_buf_init(&out, 4 * 1024 * 1024);
    assert_int_equal(dm_search_index_search(old, &q, false, &out), DM_OK);
    assert_int_equal(dm_buf_append_char(&out, '\0'), DM_OK);
    assert_null(ref_check(&cat, &q, out.data));
    dm_buf_free(&out);
    dm_search_index_release(old);
    cat = now;
    dm_search_index_stats(ix, &st);
    assert_int_equal(st.pinned, 0);
    dm_search_index_free(ix);
}

static void test_render_and_get(void **state)
{
    (void)state;
    ref_init(&cat, 11, 10);
    cat.s[0].json_kind = 0;
    cat.s[0].created_us = 1735689600123400LL; /* .1234 s */
    cat.s[0].cut = NULL;
    struct dm_search_index *ix = dm_search_index_new();
    ref_build(&cat, ix);
    struct dm_search_index_view *v = dm_search_index_acquire(ix);
    char id[DM_UUID_LEN];
    dm_uuid_format(cat.s[0].id, id);
    const struct dm_stone *s = dm_search_index_get(v, id);
    assert_non_null(s);
    struct dm_buf out;
    dm_buf_init(&out, 65536);
    assert_int_equal(dm_stone_render(v, s, &out), DM_OK);
    assert_int_equal(dm_buf_append_char(&out, '\0'), DM_OK);
    /* As json_strip_nulls(json_build_object(...)) renders it: compact, nulls gone (nested too),
     * strings escaped, numerics at their scale, times in the session's zone. */
    static const char *const has[] = {
        "\"offerId\":\"offer \\\"1\\\"\\n\\\\x\"",
        "\"measurements\":{\"depth\":4.0,\"tags\":[1,null]}",
        "\"createdAt\":\"2025-01-01T00:00:00.1234+00:00\"",
        "\"markupRatio\":1.1500",
        "\"imageUrl\":\"https://img.example/\u00e9\\t.jpg\"",
        NULL,
    };
    static const char *const lacks[] = {"\"cut\"", "width", NULL};
    dm_test_contains(out.data, has, lacks);
    assert_null(dm_search_index_get(v, "00000000-0000-0000-0000-000000000000"));
    assert_null(dm_search_index_get(v, "not-a-uuid"));
    dm_buf_free(&out);
    dm_search_index_release(v);
    dm_search_index_free(ix);
}

static void test_refuses_unrepresentable_rows(void **state)
{
    (void)state;
    ref_init(&cat, 3, 1);
    struct dm_search_index *ix = dm_search_index_new();
    struct ref_row r;
    struct dm_stone *s = NULL;
    bool del;
    struct dm_error err = {0};
    ref_encode(&cat.s[0], &r);
    r.l[DM_SC_ID] = 15;
    assert_int_equal(dm_stone_parse(ix, r.v, r.l, &s, &del, &err), DM_ERR_INVALID);
    ref_encode(&cat.s[0], &r);
    r.buf[DM_SC_CARATS][7] = 3; /* dscale 3: more decimals than numeric(6,2) */
    assert_int_equal(dm_stone_parse(ix, r.v, r.l, &s, &del, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "carats"));
    ref_encode(&cat.s[0], &r);
    r.v[DM_SC_MEASUREMENTS] = "\x01{\"a\": ";
    r.l[DM_SC_MEASUREMENTS] = strlen(r.v[DM_SC_MEASUREMENTS]);
    assert_int_equal(dm_stone_parse(ix, r.v, r.l, &s, &del, &err), DM_ERR_INVALID);
    ref_encode(&cat.s[0], &r);
    r.v[DM_SC_SHAPE] = NULL;
    assert_int_equal(dm_stone_parse(ix, r.v, r.l, &s, &del, &err), DM_ERR_INVALID);
    /* A removal needs only id and sequence. */
    cat.s[0].live = false;
    ref_encode(&cat.s[0], &r);
    r.v[DM_SC_SHAPE] = NULL;
    assert_int_equal(dm_stone_parse(ix, r.v, r.l, &s, &del, &err), DM_OK);
    assert_true(del);
    dm_stone_free(s);
    dm_search_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_queries_and_churn),
        cmocka_unit_test(test_dense_and_sparse),
        cmocka_unit_test(test_pinned_version),
        cmocka_unit_test(test_render_and_get),
        cmocka_unit_test(test_refuses_unrepresentable_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
