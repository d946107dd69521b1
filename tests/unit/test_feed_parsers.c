/*
 * test_feed_parsers.c - pure pieces of the feed: the Nivoda client's response classification,
 * token-message detection and DiamondQuery building; the simulator's GraphQL parser (tables of
 * valid and invalid documents); inventory ids (offer and diamond ids resolve back to stones).
 */
#include "testlib.h"

#include <string.h>

#include "adapters/feed/nivoda.h"
#include "core/json.h"
#include "services/feedsim/graphql.h"
#include "services/feedsim/inventory.h"

struct resp_case {
    long status;
    const char *body;
    enum dm_err want;
    bool token_error;
    bool retryable;
};

static void test_response_classification(void **state)
{
    static const struct resp_case cases[] = {
        {200, "{\"data\":{\"as\":{\"diamonds_by_query_count\":3}}}", DM_OK, false, false},
        {200, "{\"data\":{},\"errors\":[]}", DM_OK, false, false},
        {200, "{\"errors\":[{\"message\":\"Token expired\"}],\"data\":null}", DM_ERR_AUTH, true,
         false},
        {200, "{\"errors\":[{\"message\":\"invalid token\"}]}", DM_ERR_AUTH, true, false},
        {200, "{\"errors\":[{\"message\":\"Unauthorized\"}]}", DM_ERR_AUTH, true, false},
        {200, "{\"errors\":[{\"message\":\"x\",\"extensions\":{\"code\":\"UNAUTHENTICATED\"}}]}",
         DM_ERR_AUTH, true, false},
        {200, "{\"errors\":[{\"message\":\"Field q is not defined\"}],\"data\":{}}",
         DM_ERR_REJECTED, false, false},
        {200,
         "{\"errors\":[{\"message\":\"boom\",\"extensions\":{\"code\":\"INTERNAL_SERVER_ERROR\"}}"
         "]}",
         DM_ERR_REMOTE, false, true},
        {200, "{\"errors\":\"bad\"}", DM_ERR_REJECTED, false, false},
        {200, "not json", DM_ERR_REMOTE, false, true},
        {200, "", DM_ERR_REMOTE, false, true},
        {200, "[]", DM_ERR_REMOTE, false, true},
        {200, "{\"data\":null}", DM_ERR_REMOTE, false, true},
        {400, "{\"errors\":[{\"message\":\"Syntax Error\"}]}", DM_ERR_REJECTED, false, false},
        {401, "", DM_ERR_AUTH, true, false},
        {404, "", DM_ERR_NOT_FOUND, false, false},
        {429, "{\"errors\":[{\"message\":\"slow down\"}]}", DM_ERR_RATE_LIMITED, false, true},
        {500, "<html>", DM_ERR_REMOTE, false, true},
        {503, "", DM_ERR_REMOTE, false, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct resp_case *c = &cases[i];
        json_t *data = NULL;
        bool tok = false;
        struct dm_error err = {0};
        enum dm_err e =
            dm_nivoda_parse_response(c->status, c->body, strlen(c->body), &data, &tok, &err);
        if (e != c->want || tok != c->token_error || (e != DM_OK && err.retryable != c->retryable))
            fail_msg("case %zu (%ld %s): got %s tok=%d retryable=%d", i, c->status, c->body,
                     dm_strerror(e), tok, err.retryable);
        if (e == DM_OK)
            assert_true(json_is_object(data));
        else
            assert_null(data);
        json_decref(data);
    }
}

static void test_feed_message_kept_in_error(void **state)
{
    const char *b = "{\"errors\":[{\"message\":\"Variable $query got invalid value\"}]}";
    json_t *data;
    bool tok;
    struct dm_error err = {0};
    assert_int_equal(dm_nivoda_parse_response(200, b, strlen(b), &data, &tok, &err),
                     DM_ERR_REJECTED);
    assert_non_null(strstr(err.message, "Variable $query got invalid value"));
}

static void test_extractors(void **state)
{
    struct dm_error err = {0};
    json_t *d = json_loads("{\"as\":{\"diamonds_by_query\":{\"total_count\":7,\"items\":[{\"id\":"
                           "\"a\"},{\"id\":\"b\"}]},\"diamonds_by_query_count\":7}}",
                           0, NULL);
    struct dm_feed_page p;
    assert_int_equal(dm_nivoda_extract_page(d, &p, &err), DM_OK);
    assert_int_equal(json_array_size(p.items), 2);
    assert_int_equal(p.total_count, 7);
    dm_feed_page_free(&p);
    int64_t n;
    assert_int_equal(dm_nivoda_extract_count(d, &n, &err), DM_OK);
    assert_int_equal(n, 7);
    char tok[8];
    assert_int_equal(dm_nivoda_extract_token(d, tok, sizeof(tok), &err), DM_ERR_AUTH);
    json_decref(d);
    d = json_loads("{\"as\":{\"diamonds_by_query\":{\"items\":[1]},"
                   "\"diamonds_by_query_count\":-1}}",
                   0, NULL);
    assert_int_equal(dm_nivoda_extract_page(d, &p, &err), DM_ERR_REMOTE);
    assert_null(p.items);
    assert_int_equal(dm_nivoda_extract_count(d, &n, &err), DM_ERR_REMOTE);
    json_decref(d);
    d = json_loads("{\"authenticate\":{\"username_and_password\":{\"token\":\"0123456789\"}}}", 0,
                   NULL);
    assert_int_equal(dm_nivoda_extract_token(d, tok, sizeof(tok), &err), DM_ERR_AUTH); /* long */
    char big[64];
    assert_int_equal(dm_nivoda_extract_token(d, big, sizeof(big), &err), DM_OK);
    assert_string_equal(big, "0123456789");
    json_decref(d);
}

static void test_token_messages(void **state)
{
    static const struct dm_test_pred_case cases[] = {
        {"Token expired", true},
        {"INVALID TOKEN", true},
        {"unauthorized", true},
        {"The token has expired, please log in", true},
        {"jwt expired", true},
        {"Invalid username or password.", false},
        {"limit must be between 1 and 50", false},
        {NULL, false},
    };
    DM_TEST_PRED(dm_nivoda_is_token_message, cases);
}

static void test_query_json(void **state)
{
    struct dm_feed_query q = {.price_from = 1000,
                              .price_to = 1999,
                              .updated_from_ms = 1767225600000LL,
                              .updated_to_ms = 0};
    json_t *j = dm_nivoda_query_json(&q);
    assert_int_equal(json_array_size(json_object_get(j, "shapes")), 17);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "shapes"), 5)),
                        "CUSHION MODIFIED");
    json_t *dv = json_object_get(j, "dollar_value");
    assert_int_equal(json_integer_value(json_object_get(dv, "from")), 1000);
    assert_int_equal(json_integer_value(json_object_get(dv, "to")), 1999);
    json_t *sz = json_object_get(j, "sizes");
    assert_true(json_real_value(json_object_get(sz, "from")) == 0.5);
    assert_true(json_real_value(json_object_get(sz, "to")) == 10.0);
    json_t *up = json_object_get(j, "updated");
    assert_string_equal(dm_json_str(up, "from"), "2026-01-01T00:00:00.000Z");
    assert_null(json_object_get(up, "to"));
    json_decref(j);
    struct dm_feed_query none = {.price_from = -1, .price_to = -1};
    j = dm_nivoda_query_json(&none);
    assert_null(json_object_get(j, "dollar_value"));
    assert_null(json_object_get(j, "updated"));
    json_decref(j);
}

static void test_graphql_valid_documents(void **state)
{
    json_t *vars = json_pack("{s:s,s:{s:i}}", "t", "tok", "q", "dollar_value", 5);
    struct dm_gql_doc *doc = NULL;
    struct dm_error err = {0};
    const char *src =
        "# leading comment\n"
        "query Named($t: String!, $q: DiamondQuery, $lim: Int = 25, $l: [String!]! = [\"x\"]) {\n"
        "  as(token: $t) {\n"
        "    n: diamonds_by_query_count(query: $q)\n"
        "    diamonds_by_query(query: {shapes: [ROUND, \"OVAL\"], sizes: {from: 0.5, to: 1e1}}, "
        "limit: $lim, order: {type: createdAt, direction: ASC}) { total_count items { id } }\n"
        "  }\n"
        "}\n";
    assert_int_equal(dm_gql_parse(src, strlen(src), vars, &doc, &err), DM_OK);
    assert_string_equal(doc->op_type, "query");
    assert_string_equal(doc->op_name, "Named");
    const struct dm_gql_field *as = doc->fields;
    assert_string_equal(as->name, "as");
    assert_string_equal(dm_json_str(as->args, "token"), "tok");
    const struct dm_gql_field *cnt = as->children;
    assert_string_equal(cnt->alias, "n");
    assert_string_equal(cnt->name, "diamonds_by_query_count");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(cnt->args, "query"), "dollar_value")),
        5);
    const struct dm_gql_field *s = cnt->next;
    assert_int_equal(json_integer_value(json_object_get(s->args, "limit")), 25); /* default */
    json_t *q = json_object_get(s->args, "query");
    assert_string_equal(json_string_value(json_array_get(json_object_get(q, "shapes"), 0)),
                        "ROUND"); /* enum as string */
    assert_true(json_real_value(json_object_get(json_object_get(q, "sizes"), "to")) == 10.0);
    assert_non_null(dm_gql_child(s, "items"));
    dm_gql_doc_free(doc);

    const char *shorthand = "{ a b: c(x: \"\\u00e9\\n\", y: -0, z: null, w: true) { d } }";
    assert_int_equal(dm_gql_parse(shorthand, strlen(shorthand), NULL, &doc, &err), DM_OK);
    assert_string_equal(doc->fields->next->alias, "b");
    assert_string_equal(dm_json_str(doc->fields->next->args, "x"), "\xc3\xa9\n");
    dm_gql_doc_free(doc);
    const char *block = "mutation { a(s: \"\"\"raw \\\"\"\" \"quoted\" \"\"\") }";
    assert_int_equal(dm_gql_parse(block, strlen(block), NULL, &doc, &err), DM_OK);
    assert_string_equal(doc->op_type, "mutation");
    assert_string_equal(dm_json_str(doc->fields->args, "s"), "raw \"\"\" \"quoted\" ");
    dm_gql_doc_free(doc);
    json_decref(vars);
}

static void test_graphql_invalid_documents(void **state)
{
    static const char *bad[] = {
        "",
        "   ",
        "{",
        "{ }",
        "{ a(",
        "{ a() }",
        "{ a(x: ) }",
        "{ a(x: $v) }",                   /* undeclared variable */
        "query ($v: Int, $v: Int) { a }", /* duplicate variable */
        "{ a(x: 1, x: 2) }",
        "{ a(x: {k: 1, k: 2}) }",
        "{ a(x: 01) }",
        "{ a(x: 1.) }",
        "{ a(x: 1e) }",
        "{ a(x: 12abc) }",
        "{ a(x: \"unterminated) }",
        "{ a(x: \"bad \\q escape\") }",
        "{ a(x: \"\\u12G4\") }",
        "{ a(x: 99999999999999999999) }",
        "{ a @skip(if: true) }",
        "{ ...frag }",
        "fragment f on Q { a }",
        "subscription { a }",
        "{ a } { b }",
        "query { a } extra",
        "{ a(x: [1, 2) }",
        "{ a { b { c { d { e { f { g { h { i { j { k { l { m { n { o { p { q { r { s { t { u { "
        "v { w { x { y { z { a { b { c { d { e { f { g { h } } } } } } } } } } } } } } } } } } } "
        "} } } } } } } } } } } } }",
        "{ a } \x01",
        "{ a.b }",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dm_gql_doc *doc = NULL;
        struct dm_error err = {0};
        enum dm_err e = dm_gql_parse(bad[i], strlen(bad[i]), NULL, &doc, &err);
        if (e != DM_ERR_INVALID || doc != NULL || err.message[0] == '\0')
            fail_msg("case %zu should fail: %s", i, bad[i]);
    }
}

static void test_inventory_ids_resolve(void **state)
{
    struct dm_inventory *inv = dm_inv_new(3, 500);
    dm_inv_rdlock(inv);
    struct dm_buf b;
    dm_buf_init(&b, 1u << 20);
    for (uint32_t pos = 0; pos < 500; pos += 37) {
        dm_buf_reset(&b);
        assert_int_equal(dm_inv_render(inv, pos, DM_INV_NORMAL, &b), DM_OK);
        json_t *it = json_loads(b.data, 0, NULL);
        assert_non_null(it);
        uint32_t p1 = 99999, p2 = 99999;
        assert_true(dm_inv_find(inv, dm_json_str(it, "id"), &p1));
        assert_true(dm_inv_find(inv, dm_json_str(json_object_get(it, "diamond"), "id"), &p2));
        assert_int_equal(p1, pos);
        assert_int_equal(p2, pos);
        json_decref(it);
    }
    uint32_t p;
    assert_false(dm_inv_find(inv, "00000000-0000-0000-0000-000000000000", &p));
    assert_false(dm_inv_find(inv, "not-an-id", &p));
    assert_false(dm_inv_find(inv, NULL, &p));
    dm_buf_free(&b);
    dm_inv_unlock(inv);
    dm_inv_free(inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_classification),
        cmocka_unit_test(test_feed_message_kept_in_error),
        cmocka_unit_test(test_extractors),
        cmocka_unit_test(test_token_messages),
        cmocka_unit_test(test_query_json),
        cmocka_unit_test(test_graphql_valid_documents),
        cmocka_unit_test(test_graphql_invalid_documents),
        cmocka_unit_test(test_inventory_ids_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
