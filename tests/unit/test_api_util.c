/* test_api_util.c - the API handlers' shared answers (services/api/util.c): api_uuid_param's
 * 400 for a path parameter that is not a UUID, and api_row_found's three outcomes (a row; no
 * row -> 404 with the handler's message; an error -> api_fail's status), each releasing the
 * result it does not hand back. */
#include "testlib.h"

#include <string.h>

#include "services/api/api.h"

struct fixture {
    struct dm_http_resp resp;
    struct api_call call;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    dm_buf_init(&f->resp.body, 1 << 20);
    f->call.resp = &f->resp;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dm_buf_free(&f->resp.body);
    free(f);
    return 0;
}

static const char *body(struct fixture *f)
{
    return f->resp.body.data ? f->resp.body.data : "";
}

/* A one-column result with nrows rows (libpq can build results without a server). */
static PGresult *result(int nrows)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc col = {.name = "x", .typid = 25, .typlen = -1, .atttypmod = -1};
    assert_int_equal(PQsetResultAttrs(r, 1, &col), 1);
    for (int i = 0; i < nrows; i++)
        assert_int_equal(PQsetvalue(r, i, 0, "v", 1), 1);
    return r;
}

static void test_etag_of(void **state)
{
    (void)state;
    struct dm_buf b;
    dm_buf_init(&b, 64);
    char etag[40];
    api_etag_of(&b, etag); /* empty body: SHA-256 of "" */
    assert_string_equal(etag, "\"e3b0c44298fc1c149afbf4c8996fb924\"");
    assert_int_equal(dm_buf_append_str(&b, "abc"), DM_OK);
    api_etag_of(&b, etag);
    assert_string_equal(etag, "\"ba7816bf8f01cfea414140de5dae2223\"");
    dm_buf_free(&b);
}

static void test_uuid_param(void **state)
{
    struct fixture *f = *state;
    const char *id = NULL;
    f->call.params[0] = "0193a1b2-0000-7000-8000-000000000001";
    assert_true(api_uuid_param(&f->call, "runId", &id));
    assert_string_equal(id, "0193a1b2-0000-7000-8000-000000000001");
    assert_int_equal(f->resp.status, 0);
    assert_int_equal(f->resp.body.len, 0);

    f->call.params[0] = "not-a-uuid";
    assert_false(api_uuid_param(&f->call, "runId", &id));
    assert_int_equal(f->resp.status, 400);
    assert_string_equal(body(f), "{\"error\":{\"code\":\"VALIDATION_ERROR\",\"message\":\"runId "
                                 "must be a UUID\",\"details\":{\"param\":\"runId\",\"issue\":"
                                 "\"must be a UUID\"}}}");
}

static void test_row_found(void **state)
{
    struct fixture *f = *state;
    struct dm_error err = {0};
    PGresult *r = result(1);
    PGresult *kept = r;
    assert_true(api_row_found(&f->call, DM_OK, &err, &r, "Run not found"));
    assert_ptr_equal(r, kept);
    assert_int_equal(f->resp.status, 0);
    PQclear(r);
}

static void test_row_not_found(void **state)
{
    struct fixture *f = *state;
    struct dm_error err = {0};
    PGresult *r = result(0);
    assert_false(api_row_found(&f->call, DM_OK, &err, &r, "Pricing rule not found"));
    assert_null(r);
    assert_int_equal(f->resp.status, 404);
    assert_string_equal(
        body(f), "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"Pricing rule not found\"}}");
}

static void test_row_error(void **state)
{
    struct fixture *f = *state;
    struct dm_error err = {0};
    (void)dm_error_set(&err, DM_ERR_DB_RETRY, "connection lost");
    PGresult *r = NULL;
    assert_false(api_row_found(&f->call, DM_ERR_DB_RETRY, &err, &r, "Run not found"));
    assert_null(r);
    assert_int_equal(f->resp.status, 503);
    assert_non_null(strstr(body(f), "\"SERVICE_UNAVAILABLE\""));

    /* A result that came with an error is released too (ASan's leak check sees it). */
    r = result(1);
    assert_false(api_row_found(&f->call, DM_ERR_CONFLICT, &err, &r, "Run not found"));
    assert_null(r);
    assert_int_equal(f->resp.status, 409);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag_of),
        cmocka_unit_test_setup_teardown(test_uuid_param, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
