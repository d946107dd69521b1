/* test_db_get.c - the db adapter's result accessors (adapters/db/db.c): dm_db_get's NULL for SQL
 * NULL and for a cell outside the result; dm_db_get_i64's checked integers (a value a row of
 * another version could hold - empty, text, a fraction, out of int64 range, SQL NULL - is
 * DM_ERR_INVALID and leaves the output alone, never a silent 0); dm_db_get_i64_or's default for
 * SQL NULL only; dm_db_bad_value's DM_ERR_DB naming the column; the row reader (struct dm_db_row)
 * remembering the first column that did not read. */
#include "testlib.h"

#include <stdint.h>
#include <string.h>

#include "adapters/db/db.h"

/* A one-row result with one text column per value; NULL stands for SQL NULL (libpq builds
 * results without a server). */
static PGresult *row_of(const char *const *v, int n)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc cols[16];
    char names[16][16];
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "c%d", i);
        cols[i] = (PGresAttDesc){.name = names[i], .typid = 25, .typlen = -1, .atttypmod = -1};
    }
    assert_int_equal(PQsetResultAttrs(r, n, cols), 1);
    for (int i = 0; i < n; i++)
        assert_int_equal(PQsetvalue(r, 0, i, (char *)v[i], v[i] ? (int)strlen(v[i]) : -1), 1);
    return r;
}

static void test_get_text(void **state)
{
    (void)state;
    const char *v[] = {"abc", NULL, ""};
    PGresult *r = row_of(v, 3);
    assert_string_equal(dm_db_get(r, 0, 0), "abc");
    assert_null(dm_db_get(r, 0, 1));
    assert_string_equal(dm_db_get(r, 0, 2), "");
    assert_null(dm_db_get(r, 1, 0));
    assert_null(dm_db_get(r, 0, 3));
    assert_null(dm_db_get(r, -1, 0));
    assert_null(dm_db_get(NULL, 0, 0));
    PQclear(r);
}

static void test_get_i64(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum dm_err e;
        int64_t want;
    } cases[] = {
        {"0", DM_OK, 0},
        {"42", DM_OK, 42},
        {"-7", DM_OK, -7},
        {"9223372036854775807", DM_OK, INT64_MAX},
        {"-9223372036854775808", DM_OK, INT64_MIN},
        {"9223372036854775808", DM_ERR_INVALID, 0},
        {"", DM_ERR_INVALID, 0},
        {"abc", DM_ERR_INVALID, 0},
        {"12abc", DM_ERR_INVALID, 0},
        {"1.5", DM_ERR_INVALID, 0},
        {" 1", DM_ERR_INVALID, 0},
        {"t", DM_ERR_INVALID, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *v[] = {cases[i].text};
        PGresult *r = row_of(v, 1);
        int64_t out = 99;
        assert_int_equal(dm_db_get_i64(r, 0, 0, &out), cases[i].e);
        assert_true(out == (cases[i].e == DM_OK ? cases[i].want : 99));
        PQclear(r);
    }
}

static void test_get_i64_null_and_range(void **state)
{
    (void)state;
    const char *v[] = {NULL, "5", "x"};
    PGresult *r = row_of(v, 3);
    int64_t out = 99;
    assert_int_equal(dm_db_get_i64(r, 0, 0, &out), DM_ERR_INVALID);
    assert_int_equal(dm_db_get_i64(r, 1, 1, &out), DM_ERR_INVALID);
    assert_int_equal(dm_db_get_i64(r, 0, 3, &out), DM_ERR_INVALID);
    assert_int_equal(dm_db_get_i64(NULL, 0, 0, &out), DM_ERR_INVALID);
    assert_true(out == 99);
    /* _or: the default for SQL NULL only; a garbage value or a missing cell stays an error. */
    assert_int_equal(dm_db_get_i64_or(r, 0, 0, -1, &out), DM_OK);
    assert_true(out == -1);
    assert_int_equal(dm_db_get_i64_or(r, 0, 1, -1, &out), DM_OK);
    assert_true(out == 5);
    out = 99;
    assert_int_equal(dm_db_get_i64_or(r, 0, 2, -1, &out), DM_ERR_INVALID);
    assert_int_equal(dm_db_get_i64_or(r, 1, 0, -1, &out), DM_ERR_INVALID);
    assert_int_equal(dm_db_get_i64_or(NULL, 0, 0, -1, &out), DM_ERR_INVALID);
    assert_true(out == 99);
    PQclear(r);
}

static void test_bad_value(void **state)
{
    (void)state;
    const char *v[] = {"x", "y"};
    PGresult *r = row_of(v, 2);
    struct dm_error err = {0};
    assert_int_equal(dm_db_bad_value(r, 0, 1, "run counters", &err), DM_ERR_DB);
    assert_int_equal(err.code, DM_ERR_DB);
    assert_false(err.retryable);
    assert_string_equal(err.message, "run counters: column c1 of row 0 is not an integer");
    assert_int_equal(dm_db_bad_value(r, 0, 7, "x", NULL), DM_ERR_DB);
    assert_int_equal(dm_db_bad_value(NULL, 0, 0, "x", &err), DM_ERR_DB);
    assert_string_equal(err.message, "x: column ? of row 0 is not an integer");
    PQclear(r);
}

static void test_row_reader(void **state)
{
    (void)state;
    const char *v[] = {"1", NULL, "x", "4", "y"};
    PGresult *r = row_of(v, 5);
    struct dm_db_row rd = DM_DB_ROW(r, 0);
    assert_true(dm_db_row_i64(&rd, 0) == 1);
    assert_true(dm_db_row_i64_or(&rd, 1, 7) == 7);
    struct dm_error err = {0};
    assert_int_equal(dm_db_row_check(&rd, "facts", &err), DM_OK);
    assert_true(dm_db_row_i64(&rd, 2) == 0);
    assert_true(dm_db_row_i64(&rd, 3) == 4);
    assert_true(dm_db_row_i64(&rd, 4) == 0);
    assert_int_equal(dm_db_row_check(&rd, "facts", &err), DM_ERR_DB);
    assert_string_equal(err.message, "facts: column c2 of row 0 is not an integer");
    struct dm_db_row rn = DM_DB_ROW(r, 0);
    assert_true(dm_db_row_i64(&rn, 1) == 0); /* SQL NULL where a value is required */
    assert_int_equal(dm_db_row_check(&rn, "facts", &err), DM_ERR_DB);
    assert_string_equal(err.message, "facts: column c1 of row 0 is not an integer");
    PQclear(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_text),
        cmocka_unit_test(test_get_i64),
        cmocka_unit_test(test_get_i64_null_and_range),
        cmocka_unit_test(test_bad_value),
        cmocka_unit_test(test_row_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
