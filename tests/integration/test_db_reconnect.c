/* test_db_reconnect.c - the pool survives a PostgreSQL restart: the first query after the
 * server comes back succeeds. Uses its own private cluster (the shared one is never stopped). */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/db/db.h"
#include "adapters/db/pgcluster.h"
#include "core/buf.h"

static int free_port(void)
{
    return 20000 + (int)(getpid() % 12000); /* below the kernel ephemeral range */
}

static void test_reconnect_after_restart(void **state)
{
    char dir[] = "/tmp/dm-reconnect-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct dm_pgcluster_opts o = {
        .dir = dir, .port = free_port(), .fast = true, .dbname = "diamond"};
    struct dm_error err = {0};
    enum dm_err e = dm_pgcluster_start(&o, &err);
    if (e != DM_OK)
        fail_msg("start: %s", err.message);
    char *url = dm_pgcluster_url(&o);
    struct dm_db *db = NULL;
    assert_int_equal(dm_db_open(url, 2, &db, &err), DM_OK);
    PGresult *r = NULL;
    assert_int_equal(dm_db_query(db, "SELECT pg_backend_pid()", 0, NULL, &r, &err), DM_OK);
    char *pid_before = dm_xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);

    assert_int_equal(dm_pgcluster_stop(&o, &err), DM_OK);
    /* While the server is down a query fails with a retryable error, never a crash. */
    e = dm_db_query(db, "SELECT 1", 0, NULL, NULL, &err);
    assert_int_equal(e, DM_ERR_DB_RETRY);
    assert_false(dm_db_ping(db));

    assert_int_equal(dm_pgcluster_start(&o, &err), DM_OK);
    /* First query after the restart succeeds, on a new backend. */
    e = dm_db_query(db, "SELECT pg_backend_pid()", 0, NULL, &r, &err);
    if (e != DM_OK)
        fail_msg("query after restart: %s", err.message);
    assert_string_not_equal(PQgetvalue(r, 0, 0), pid_before);
    PQclear(r);
    /* Every pooled connection recovers too. */
    for (int i = 0; i < 4; i++)
        assert_true(dm_db_ping(db));

    /* A statement error inside a transaction is mapped, and the connection stays usable. */
    struct dm_db_conn *c = NULL;
    assert_int_equal(dm_db_acquire(db, 1000, &c, &err), DM_OK);
    assert_int_equal(dm_db_begin(c, &err), DM_OK);
    e = dm_db_exec(c, "SELECT 1/0", 0, NULL, NULL, &err);
    assert_int_equal(e, DM_ERR_INVALID);
    assert_string_equal(err.sqlstate, "22012");
    dm_db_rollback(c);
    assert_int_equal(dm_db_exec(c, "SELECT 1", 0, NULL, NULL, &err), DM_OK);
    e = dm_db_exec(c, "SELECT * FROM no_such_table", 0, NULL, NULL, &err);
    assert_int_equal(e, DM_ERR_SCHEMA);
    dm_db_release(c);

    /* The pool bounds connections: with both checked out, a third acquire times out. */
    struct dm_db_conn *a = NULL, *b = NULL, *x = NULL;
    assert_int_equal(dm_db_acquire(db, 1000, &a, &err), DM_OK);
    assert_int_equal(dm_db_acquire(db, 1000, &b, &err), DM_OK);
    assert_int_equal(dm_db_acquire(db, 100, &x, &err), DM_ERR_TIMEOUT);
    dm_db_release(a);
    assert_int_equal(dm_db_acquire(db, 100, &x, &err), DM_OK);
    dm_db_release(x);
    dm_db_release(b);

    free(pid_before);
    dm_db_free(db);
    free(url);
    assert_int_equal(dm_pgcluster_stop(&o, &err), DM_OK);
    char *rm = dm_xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(rm), 0);
    free(rm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_reconnect_after_restart)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
