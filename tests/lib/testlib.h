/*
 * testlib.h - helpers for C tests: cmocka includes, and for integration tests a fresh migrated
 * database in the private test cluster (see tests/lib/pg-fixture.sh).
 */
#ifndef DM_TESTLIB_H
#define DM_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
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

#endif
