/* testconfig.c - configuration loads for C tests (see testconfig.h). */
#include "testconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "testlib.h"

extern char **environ;

void dm_test_config_load(struct dm_test_config *t, unsigned svc)
{
    size_t len = 0;
    t->report = NULL;
    FILE *f = open_memstream(&t->report, &len);
    assert_non_null(f);
    t->err = dm_config_load(&t->cfg, svc, dm_app_config_checks(), f);
    fclose(f);
}

void dm_test_config_load_ok(struct dm_test_config *t, unsigned svc)
{
    dm_test_config_load(t, svc);
    if (t->err != DM_OK || t->report[0] != '\0')
        fail_msg("config load gave %s; report:\n%s", dm_strerror(t->err), t->report);
}

void dm_test_config_free(struct dm_test_config *t)
{
    dm_config_free(&t->cfg);
    free(t->report);
    t->report = NULL;
}

void dm_test_config_expect(unsigned svc, enum dm_err want, const char *const *has,
                           const char *const *lacks)
{
    struct dm_test_config t;
    dm_test_config_load(&t, svc);
    if (t.err != want)
        fail_msg("config load gave %s, want %s; report:\n%s", dm_strerror(t.err), dm_strerror(want),
                 t.report);
    dm_test_contains(t.report, has, lacks);
    dm_test_config_free(&t);
}

void dm_test_config_unset_all(void)
{
    for (const char **n = dm_config_names(DM_SVC_ALL); *n; n++)
        unsetenv(*n);
    const char *prefix = "FEED";
    size_t pl = strlen(prefix);
    /* unsetenv changes environ: look again from the start after each removal */
    for (bool found = true; found;) {
        found = false;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, prefix, pl) != 0)
                continue;
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
            unsetenv(name);
            found = true;
            break;
        }
    }
}
