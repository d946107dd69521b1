/* test_search_query.c - search parameter parsing, validation, cursors and SQL generation. */
#include "testlib.h"

#include <stdio.h>
#include <string.h>

#include "adapters/db/search_sql.h"
#include "domain/search_query.h"

/* Parse "k=v&k=v" (no decoding) into arrays and run the parser. */
static enum dm_err parse(const char *qs, struct dm_search_query *q, struct dm_sq_error *e)
{
    static char buf[2048];
    const char *keys[80], *vals[80];
    int n = 0;
    snprintf(buf, sizeof(buf), "%s", qs);
    char *p = buf;
    while (*p && n < 80) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        keys[n] = p;
        vals[n] = eq ? eq + 1 : "";
        n++;
        if (!amp)
            break;
        p = amp + 1;
    }
    memset(e, 0, sizeof(*e));
    return dm_search_query_parse(keys, vals, qs[0] ? n : 0, q, e);
}

static void test_defaults(void **state)
{
    (void)state;
    struct dm_search_query q;
    struct dm_sq_error e;
    assert_int_equal(parse("", &q, &e), DM_OK);
    assert_int_equal(q.page, 1);
    assert_int_equal(q.limit, 50);
    assert_int_equal(q.sort, DM_SQ_SORT_CREATED_AT);
    assert_true(q.desc);
    assert_int_equal(q.lab_grown, -1);
    assert_false(q.has_cursor);
    struct dm_sql s;
    dm_sql_init(&s);
    assert_int_equal(dm_search_build_page_sql(&q, &s), DM_OK);
    assert_non_null(strstr(s.text.data, "ORDER BY created_at DESC, id DESC LIMIT $1"));
    assert_null(strstr(s.text.data, "OFFSET"));
    assert_non_null(strstr(s.text.data, "AS dm_sort_key"));
    assert_null(strstr(s.text.data, "::text FROM"));
    assert_string_equal(s.params[0], "51");
    dm_sql_free(&s);
}

static void test_invalid(void **state)
{
    (void)state;
    struct {
        const char *qs;
        const char *param;
    } cases[] = {
        {"limit=0", "limit"},
        {"limit=101", "limit"},
        {"limit=abc", "limit"},
        {"limit=", "limit"},
        {"page=0", "page"},
        {"page=-1", "page"},
        {"page=x", "page"},
        {"sort_by=name", "sort_by"},
        {"sort_by=", "sort_by"},
        {"sort_order=up", "sort_order"},
        {"lab_grown=maybe", "lab_grown"},
        {"lab_grown=1", "lab_grown"},
        {"lab_grown=TRUE", "lab_grown"},
        {"carat_min=2&carat_max=1", "carat_min"},
        {"price_min=500&price_max=100", "price_min"},
        {"carat_min=abc", "carat_min"},
        {"price_max=-5", "price_max"},
        {"availability=gone", "availability"},
        {"cursor=%%%", "cursor"},
        {"cursor=abc", "cursor"},
        {"shape=\x01", "shape"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_search_query q;
        struct dm_sq_error e;
        enum dm_err r = parse(cases[i].qs, &q, &e);
        if (r != DM_ERR_INVALID || strcmp(e.param, cases[i].param))
            print_error("case %s: r=%d param=%s\n", cases[i].qs, r, e.param);
        assert_int_equal(r, DM_ERR_INVALID);
        assert_string_equal(e.param, cases[i].param);
        assert_true(strlen(e.message) > 0);
    }
}

static void test_filters(void **state)
{
    (void)state;
    struct dm_search_query q;
    struct dm_sq_error e;
    assert_int_equal(parse("shape=round&shape[]=Oval&shape=PEAR,heart&color[]=d&lab_grown=false"
                           "&carat_min=0.5&carat_max=1.25&price_min=100&price_max=2000.50"
                           "&sort_by=price_model_price&sort_order=ASC&page=3&limit=20&foo=bar",
                           &q, &e),
                     DM_OK);
    assert_int_equal(q.shape.n, 4);
    assert_string_equal(q.shape.v[0], "ROUND");
    assert_string_equal(q.shape.v[1], "OVAL");
    assert_string_equal(q.shape.v[3], "HEART");
    assert_int_equal(q.color.n, 1);
    assert_string_equal(q.color.v[0], "D");
    assert_int_equal(q.lab_grown, 0);
    assert_int_equal(q.carat_min, 5000);
    assert_int_equal(q.carat_max, 12500);
    assert_int_equal(q.price_max, 200050);
    assert_int_equal(q.sort, DM_SQ_SORT_FEED_PRICE);
    assert_false(q.desc);
    assert_int_equal(q.page, 3);
    assert_int_equal(q.limit, 20);
    struct dm_sql s;
    dm_sql_init(&s);
    assert_int_equal(dm_search_build_page_sql(&q, &s), DM_OK);
    const char *t = s.text.data;
    assert_non_null(strstr(t, "shape = ANY($1::text[])"));
    assert_non_null(strstr(t, "upper(color) = $2 "));
    assert_non_null(strstr(t, "carats >= $3::numeric"));
    assert_non_null(strstr(t, "lab_grown = $7::boolean"));
    assert_non_null(strstr(t, "ORDER BY feed_price ASC, id ASC LIMIT $8 OFFSET $9"));
    assert_string_equal(s.params[0], "{\"ROUND\",\"OVAL\",\"PEAR\",\"HEART\"}");
    assert_string_equal(s.params[2], "0.5000");
    assert_string_equal(s.params[5], "2000.50");
    assert_string_equal(s.params[7], "21");
    assert_string_equal(s.params[8], "40");
    /* No user text ever reaches the SQL text. */
    assert_null(strstr(t, "ROUND"));
    dm_sql_free(&s);

    /* equal bounds are fine; availability list; grade sorts use rank functions */
    assert_int_equal(
        parse("carat_min=1&carat_max=1&availability=available,on_hold&sort_by=color", &q, &e),
        DM_OK);
    assert_int_equal(q.availability.n, 2);
    dm_sql_init(&s);
    assert_int_equal(dm_search_build_page_sql(&q, &s), DM_OK);
    assert_non_null(strstr(s.text.data, "ORDER BY dm_color_rank(color) DESC, id DESC"));
    dm_sql_free(&s);
}

static void test_sql_quoting(void **state)
{
    (void)state;
    struct dm_search_query q;
    struct dm_sq_error e;
    assert_int_equal(parse("feed=a\"b\\c'd&feed=x", &q, &e), DM_OK);
    struct dm_sql s;
    dm_sql_init(&s);
    assert_int_equal(dm_search_build_count_sql(&q, 10000, &s), DM_OK);
    assert_string_equal(s.params[0], "{\"a\\\"b\\\\c'd\",\"x\"}");
    assert_string_equal(s.params[1], "10001");
    assert_null(strstr(s.text.data, "'d"));
    dm_sql_free(&s);
}

static void test_cursor(void **state)
{
    (void)state;
    char cur[256];
    const char *id = "0b7e6a1c-8d4f-4c3e-9a2b-1f0e2d3c4b5a";
    assert_int_equal(dm_search_cursor_encode(DM_SQ_SORT_CREATED_AT, true,
                                             "2026-11-29T09:00:00.123456Z", id, cur, sizeof(cur)),
                     DM_OK);
    assert_null(strchr(cur, '='));
    assert_null(strchr(cur, '+'));
    assert_null(strchr(cur, '/'));
    enum dm_sq_sort so;
    bool desc;
    char key[DM_SQ_KEY_MAX], cid[DM_UUID_LEN];
    assert_int_equal(dm_search_cursor_decode(cur, &so, &desc, key, cid), DM_OK);
    assert_int_equal(so, DM_SQ_SORT_CREATED_AT);
    assert_true(desc);
    assert_string_equal(key, "2026-11-29T09:00:00.123456Z");
    assert_string_equal(cid, id);

    char qs[400];
    snprintf(qs, sizeof(qs), "cursor=%s&limit=10", cur);
    struct dm_search_query q;
    struct dm_sq_error e;
    assert_int_equal(parse(qs, &q, &e), DM_OK);
    assert_true(q.has_cursor);
    struct dm_sql s;
    dm_sql_init(&s);
    assert_int_equal(dm_search_build_page_sql(&q, &s), DM_OK);
    assert_non_null(strstr(s.text.data, "(created_at, id) < ($1::timestamptz, $2::uuid)"));
    assert_null(strstr(s.text.data, "OFFSET"));
    dm_sql_free(&s);

    /* A cursor for another ordering is refused. */
    snprintf(qs, sizeof(qs), "cursor=%s&sort_by=carats", cur);
    assert_int_equal(parse(qs, &q, &e), DM_ERR_INVALID);
    assert_string_equal(e.param, "cursor");

    /* Numeric keys; bad keys refused. */
    assert_int_equal(
        dm_search_cursor_encode(DM_SQ_SORT_RETAIL_PRICE, false, "1234.50", id, cur, sizeof(cur)),
        DM_OK);
    assert_int_equal(dm_search_cursor_decode(cur, &so, &desc, key, cid), DM_OK);
    assert_false(desc);
    assert_int_equal(dm_search_cursor_encode(DM_SQ_SORT_RETAIL_PRICE, false, "1; DROP TABLE", id,
                                             cur, sizeof(cur)),
                     DM_OK);
    assert_int_equal(dm_search_cursor_decode(cur, &so, &desc, key, cid), DM_ERR_INVALID);
    assert_int_equal(
        dm_search_cursor_encode(DM_SQ_SORT_COLOR, false, "3", "not-a-uuid", cur, sizeof(cur)),
        DM_OK);
    assert_int_equal(dm_search_cursor_decode(cur, &so, &desc, key, cid), DM_ERR_INVALID);
}

/* The one filter table: each filter parses from its parameter and reaches the SQL through its
 * column, as a parameter (never as text). */
static void test_filter_table(void **state)
{
    (void)state;
    assert_true(dm_sq_nfilters >= 16);
    for (size_t i = 0; i < dm_sq_nfilters; i++) {
        const struct dm_sq_filter *f = &dm_sq_filters[i];
        assert_ptr_equal(dm_sq_filter_find(f->name), f);
        const char *v = f->kind == DM_SQF_BOOL   ? "true"
                        : f->kind == DM_SQF_LIST ? (f->allowed ? f->allowed[0] : "zq9")
                                                 : "1.5";
        const char *k[1] = {f->name}, *vv[1] = {v};
        struct dm_search_query q;
        struct dm_sq_error e;
        assert_int_equal(dm_search_query_parse(k, vv, 1, &q, &e), DM_OK);
        struct dm_sql s;
        dm_sql_init(&s);
        assert_int_equal(dm_search_build_count_sql(&q, 0, &s), DM_OK);
        assert_non_null(strstr(s.text.data, f->column));
        assert_null(strstr(s.text.data, "zq9"));
        assert_int_equal(s.n, 1);
        dm_sql_free(&s);
    }
    assert_null(dm_sq_filter_find("nope"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_table), cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_invalid),      cmocka_unit_test(test_filters),
        cmocka_unit_test(test_sql_quoting),  cmocka_unit_test(test_cursor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
