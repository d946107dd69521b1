/*
 * testlib.h - helpers for C tests: cmocka includes, and for integration tests a fresh migrated
 * database in the private test cluster (see tests/lib/pg-fixture.sh).
 */
#ifndef DM_TESTLIB_H
#define DM_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Create a new database named after prefix, apply all migrations, return its URL (malloc'd).
 * Fails the test (abort) if the test cluster is not available. */
char *dm_test_new_db(const char *prefix);
/* Value of a variable from the cluster env file (DM_TEST_PG_ENV) or the environment. */
const char *dm_test_env(const char *name);
/* Path of the diamond binary under test. */
const char *dm_test_bin(void);
/* A TCP port on 127.0.0.1 free now (the kernel picks it); fails the test when none is. */
int dm_test_free_port(void);

/* Starts the binary under test as `diamond cmd` in this process's environment without the
 * variables that begin with one of drop (NULL-terminated prefixes: "DATABASE_", "PORT=") and with
 * extra ("NAME=value", NULL-terminated) added; returns its pid. Fails the test when it cannot
 * start. */
int dm_test_spawn(const char *cmd, const char *const *drop, const char *const *extra);
/* Forks with a pipe from the child to this process: in the child returns 0 and *fd is the pipe's
 * write end; in this process returns the child's pid and *fd is the read end (the other ends
 * are closed). Fails the test when it cannot. */
int dm_test_fork_pipe(int *fd);
/* Starts `diamond api` (dm_test_spawn: drop and extra as there) on a free loopback port against
 * db_url (DATABASE_URL and PORT set, every other DATABASE_* dropped), waits until its /health
 * answers 200 and writes its base URL ("http://127.0.0.1:PORT") to base; returns its pid. Fails
 * the test when it does not answer within 30 s. */
int dm_test_start_api(const char *db_url, const char *const *drop, const char *const *extra,
                      char *base, size_t base_size);
/* Sends SIGTERM to pid and fails the test unless it exits with status 0 (under ASan: no leak
 * or error report). */
void dm_test_stop(int pid);

/* Fails the test (showing text) unless every string of has is in text and no string of lacks
 * is (both NULL-terminated, or NULL for none). */
void dm_test_contains(const char *text, const char *const *has, const char *const *lacks);

/* One input of a string predicate and the answer it must give. */
struct dm_test_pred_case {
    const char *in;
    bool want;
};
/* Fails the test, naming the predicate and the input, unless pred(in) == want for each of the n
 * cases. DM_TEST_PRED(pred, cases) passes a case array and its length. */
void dm_test_pred(const char *name, bool (*pred)(const char *),
                  const struct dm_test_pred_case *cases, size_t n);
#define DM_TEST_PRED(pred, cases) dm_test_pred(#pred, pred, cases, sizeof(cases) / sizeof(cases[0]))

struct dm_db;
/* Run sql (no parameters) on db; fails the test with the statement and the error otherwise. */
void dm_test_exec(struct dm_db *db, const char *sql);
/* The result of sql (no parameters; the caller PQclears it); fails the test with the statement
 * and the error when the query fails. */
struct pg_result *dm_test_query(struct dm_db *db, const char *sql);
/* The first column of the first row of sql as a malloc'd string ("" for no row or NULL);
 * fails the test when the query fails. */
char *dm_test_scalar(struct dm_db *db, const char *sql);
/* Fails the test unless dm_test_scalar(db, sql) is want (the message shows both). */
void dm_test_check_scalar(struct dm_db *db, const char *sql, const char *want);

#endif
