/* test_feedsim_graphql.c - the feed simulator's GraphQL parser: arguments and input objects
 * ("name: value" pairs) parse to JSON objects, and every failure inside them gives its exact
 * GraphQL-style message. Table-driven. */
#include "testlib.h"

#include <string.h>

#include "services/feedsim/graphql.h"

static void test_pairs(void **state)
{
    (void)state;
    const char *src = "query Q($v: Int = 3) { a(x: {y: 1, z: [1, \"\\u00e9\"]}, w: \"s\", "
                      "e: RED, n: null, b: true, f: 1.5, v: $v) { id } }";
    struct dm_gql_doc *doc = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_gql_parse(src, strlen(src), NULL, &doc, &err), DM_OK);
    const struct dm_gql_field *a = doc->fields;
    assert_string_equal(a->name, "a");
    char *args = json_dumps(a->args, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(args, "{\"b\":true,\"e\":\"RED\",\"f\":1.5,\"n\":null,\"v\":3,\"w\":\"s\","
                              "\"x\":{\"y\":1,\"z\":[1,\"\xc3\xa9\"]}}");
    free(args);
    assert_non_null(dm_gql_child(a, "id"));
    dm_gql_doc_free(doc);
}

static void test_pair_errors(void **state)
{
    (void)state;
    struct {
        const char *src;
        const char *msg;
    } cases[] = {
        {"{ a(x: 1, x: 2) }", "There can be only one argument named \"x\"."},
        {"{ a(x: {y: 1, y: 2}) }", "There can be only one input field named \"y\"."},
        {"{ a(x: {y: 1}, x: {y: 1}) }", "There can be only one argument named \"x\"."},
        {"{ a(x: {y: {z: 1, z: 1}}) }", "There can be only one input field named \"z\"."},
        {"{ a() }", "Syntax Error: Expected Name, found \")\"."},
        {"{ a(x: \"\\q\") }", "Syntax Error: Invalid character escape sequence."},
        {"{ a(x: \"\\u12g4\") }", "Syntax Error: Invalid Unicode escape sequence."},
        {"{ a(x: \"\\u12", "Syntax Error: Invalid Unicode escape sequence."},
        {"{ a(x: 12345678901234567890) }", "Int cannot represent a value this large."},
        {"{ a(x: 123456789012345678901234567890123) }", "Int cannot represent a value this large."},
        {"{ a(x: 1.00000000000000000000000000000000000000000000000000000000000000000) }",
         "Float literal too long."},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_gql_doc *doc = NULL;
        struct dm_error err = {0};
        enum dm_err e = dm_gql_parse(cases[i].src, strlen(cases[i].src), NULL, &doc, &err);
        if (e != DM_ERR_INVALID || strcmp(err.message, cases[i].msg) != 0)
            fail_msg("case %zu: e=%d '%s', want '%s'", i, e, err.message, cases[i].msg);
        assert_null(doc);
    }
}

/* \u escapes decode to UTF-8; surrogates and NUL become U+FFFD. */
static void test_string_escapes(void **state)
{
    (void)state;
    const char *src = "{ a(s: \"A\\u00e9\\u20AC\\ud83d\\u0000\\n\") }";
    struct dm_gql_doc *doc = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_gql_parse(src, strlen(src), NULL, &doc, &err), DM_OK);
    const char *s = json_string_value(json_object_get(doc->fields->args, "s"));
    assert_non_null(s);
    assert_string_equal(s, "A\xc3\xa9\xe2\x82\xac\xef\xbf\xbd\xef\xbf\xbd\n");
    dm_gql_doc_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_pair_errors),
        cmocka_unit_test(test_string_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
