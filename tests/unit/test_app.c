/* test_app.c - dm_app_init / dm_app_free (app/app.h): a failed start-up (configuration error,
 * no database configured, unreachable database) returns its exit status with everything
 * released, so the caller returns without dm_app_free (LeakSanitizer checks it in the ASan
 * build); dm_app_free stays harmless on a failed, a zeroed and an already freed app. */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

#include "app/app.h"

static int clean_env(void **state)
{
    (void)state;
    static const char *const vars[] = {"DATABASE_URL", "DATABASE_HOST", "DATABASE_PORT",
                                       "DATABASE_NAME"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    setenv("LOG_LEVEL", "error", 1);
    return 0;
}

/* Nothing the app holds is left: no pool, no configuration string. */
static void assert_released(const struct dm_app *app)
{
    assert_null(app->db);
    assert_null(app->cfg.database_url);
    assert_null(app->cfg.database_name);
}

/* With var=value added to the environment, dm_app_init(flags) fails with want, released. */
static void init_fails(struct dm_app *app, const char *var, const char *value, unsigned flags,
                       int want)
{
    setenv(var, value, 1);
    assert_int_equal(dm_app_init(app, DM_SVC_CLI, "test", flags), want);
    assert_released(app);
}

static void test_config_error(void **state)
{
    (void)state;
    struct dm_app app;
    setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/x", 1);
    init_fails(&app, "DATABASE_PORT", "abc", DM_APP_DB | DM_APP_SCHEMA, DM_EXIT_CONFIG);
    /* No dm_app_free: the contract says nothing is left to release. */
}

static void test_no_database(void **state)
{
    (void)state;
    struct dm_app app;
    init_fails(&app, "DATABASE_NAME", "x", DM_APP_DB, DM_EXIT_CONFIG);
    dm_app_free(&app); /* harmless after a failure */
    assert_released(&app);
}

static void test_unreachable_database(void **state)
{
    (void)state;
    struct dm_app app;
    init_fails(&app, "DATABASE_URL", "postgresql://postgres@127.0.0.1:1/x",
               DM_APP_DB | DM_APP_SCHEMA, DM_EXIT_FAIL);
}

static void test_free_is_harmless(void **state)
{
    (void)state;
    struct dm_app zero;
    memset(&zero, 0, sizeof(zero));
    dm_app_free(&zero);
    setenv("DATABASE_NAME", "x", 1);
    struct dm_app app;
    assert_int_equal(dm_app_init(&app, DM_SVC_CLI, "test", 0), 0);
    assert_string_equal(app.cfg.database_name, "x");
    dm_app_free(&app);
    assert_released(&app);
    dm_app_free(&app); /* a second time */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_config_error, clean_env),
        cmocka_unit_test_setup(test_no_database, clean_env),
        cmocka_unit_test_setup(test_unreachable_database, clean_env),
        cmocka_unit_test_setup(test_free_is_harmless, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
