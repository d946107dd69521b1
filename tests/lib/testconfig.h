/*
 * testconfig.h - configuration loads for C tests: load a service's configuration from the
 * environment as start-up does (with the application's checks), keep what it reported, and
 * check the outcome against the problems a test expects.
 */
#ifndef DM_TESTCONFIG_H
#define DM_TESTCONFIG_H

#include "core/config.h"
#include "core/error.h"

/* One load: the configuration, the result and the report (one line per problem). */
struct dm_test_config {
    struct dm_config cfg;
    enum dm_err err;
    char *report; /* malloc'd; "" when there was no problem */
};

/* Load service svc's configuration (an enum dm_service bit) from the environment with
 * dm_app_config_checks(). Always release with dm_test_config_free. */
void dm_test_config_load(struct dm_test_config *t, unsigned svc);
/* dm_test_config_load, failing the test (showing the report) unless the load is clean: DM_OK
 * and nothing reported. */
void dm_test_config_load_ok(struct dm_test_config *t, unsigned svc);
/* Release the configuration and the report; a second call is harmless. */
void dm_test_config_free(struct dm_test_config *t);
/* Load svc's configuration and fail the test (showing the report) unless the result is want,
 * every string of has is in the report and no string of lacks is (both NULL-terminated, or
 * NULL for none); then release it. */
void dm_test_config_expect(unsigned svc, enum dm_err want, const char *const *has,
                           const char *const *lacks);
/* Unset every variable the configuration reads (dm_config_names of every service) and every
 * FEED* one (the per-feed FEED_<ID>_* names are not listed), so that a test starts from the
 * defaults. */
void dm_test_config_unset_all(void);

#endif
