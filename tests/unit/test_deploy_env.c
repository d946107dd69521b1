/* test_deploy_env.c - the environment variables each container gets in the seed (its lists,
 * transcribed in tests/deploy/seed_values.json and checked against the seed and the Terraform by
 * tests/deploy/terraform_check.js) are the ones the service reads: every seed name is in
 * dm_config_names(service), and a container given exactly the seed's variables starts
 * (dm_config_load succeeds, the Azure backends are selected where the seed sets them). */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/json.h"

struct container {
    const char *name; /* key in seed_values.json "env" */
    unsigned service;
};

static const struct container containers[] = {
    {"api", DM_SVC_API},
    {"worker", DM_SVC_WORKER},
    {"consolidator", DM_SVC_CONSOLIDATOR},
    {"scheduler", DM_SVC_SCHEDULER},
    {"dashboard", DM_SVC_DASHBOARD},
};

/* A plausible value per seed variable (placeholders in the seed replaced by valid values). */
static const char *sample_value(const char *name)
{
    static const struct {
        const char *name, *value;
    } samples[] = {
        {"PORT", "3000"},
        {"DATABASE_HOST", "aws-0-us-east-1.pooler.supabase.com"},
        {"DATABASE_PORT", "5432"},
        {"DATABASE_NAME", "postgres"},
        {"DATABASE_USERNAME", "postgres.project"},
        {"DATABASE_PASSWORD", "pw"},
        {"AZURE_STORAGE_CONNECTION_STRING",
         "DefaultEndpointsProtocol=https;AccountName=diamondprod;AccountKey=a2V5;"
         "EndpointSuffix=core.windows.net"},
        {"AZURE_SERVICE_BUS_CONNECTION_STRING",
         "Endpoint=sb://diamond-prod-servicebus.servicebus.windows.net/;"
         "SharedAccessKeyName=worker-app;SharedAccessKey=a2V5"},
        {"HMAC_SECRETS", "{\"storefront\":\"s3cret\"}"},
        {"AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000"},
        {"AZURE_RESOURCE_GROUP", "diamond-prod-rg"},
        {"AZURE_SCHEDULER_JOB_NAME", "diamond-prod-scheduler"},
        {"NIVODA_ENDPOINT", "https://graphql-lab.nivoda.net/graphql"},
        {"NIVODA_USERNAME", "user"},
        {"NIVODA_PASSWORD", "pass"},
        {"RESEND_API_KEY", "re_key"},
        {"ALERT_EMAIL_TO", "alerts@example.com"},
        {"ALERT_EMAIL_FROM", "noreply@example.com"},
        {"MAX_SCHEDULER_RECORDS", "0"},
        {"API_URL", "https://diamond-prod-api.azurecontainerapps.io"},
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        if (!strcmp(samples[i].name, name))
            return samples[i].value;
    return NULL;
}

static json_t *seed_env(void)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/deploy/seed_values.json", DM_SOURCE_DIR);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (root == NULL)
        fail_msg("cannot read %s: %s", path, je.text);
    json_t *env = json_incref(json_object_get(root, "env"));
    json_decref(root);
    assert_true(json_is_object(env));
    return env;
}

static bool in_list(const char **names, const char *name)
{
    for (const char **n = names; *n; n++)
        if (!strcmp(*n, name))
            return true;
    return false;
}

static void clear_config_env(void)
{
    for (const char **n = dm_config_names(DM_SVC_ALL); *n; n++)
        unsetenv(*n);
}

static void test_seed_names_are_read(void **state)
{
    json_t *env = seed_env();
    for (size_t c = 0; c < sizeof(containers) / sizeof(containers[0]); c++) {
        json_t *list = json_object_get(env, containers[c].name);
        assert_true(json_is_array(list));
        assert_true(json_array_size(list) > 0);
        const char **names = dm_config_names(containers[c].service);
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            const char *name = json_string_value(v);
            if (!in_list(names, name))
                fail_msg("%s container: the seed sets %s but the service does not read it",
                         containers[c].name, name);
        }
    }
    json_decref(env);
}

static void test_seed_environment_starts_each_service(void **state)
{
    json_t *env = seed_env();
    for (size_t c = 0; c < sizeof(containers) / sizeof(containers[0]); c++) {
        clear_config_env();
        json_t *list = json_object_get(env, containers[c].name);
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            const char *value = sample_value(json_string_value(v));
            if (value == NULL)
                fail_msg("no sample value for %s", json_string_value(v));
            setenv(json_string_value(v), value, 1);
        }
        if (containers[c].service == DM_SVC_DASHBOARD)
            setenv("PORT", "80", 1); /* set by docker/dashboard.Dockerfile */
        char *errs = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&errs, &len);
        struct dm_config cfg;
        enum dm_err e = dm_config_load(&cfg, containers[c].service, f);
        fclose(f);
        if (e != DM_OK)
            fail_msg("%s container with the seed's variables does not start:\n%s",
                     containers[c].name, errs);
        if (containers[c].service & DM_SVC_PIPELINE) {
            /* The seed gives every pipeline container Service Bus and Blob Storage. */
            assert_string_equal(cfg.queue_backend, "servicebus");
            assert_non_null(cfg.azure_storage_connection_string);
            assert_non_null(cfg.database_host);
            assert_int_equal(cfg.database_port, 5432);
        }
        if (containers[c].service == DM_SVC_API) {
            assert_int_equal(cfg.port, 3000);
            assert_non_null(cfg.hmac_secrets);
            assert_string_equal(cfg.azure_scheduler_job_name, "diamond-prod-scheduler");
        }
        if (containers[c].service == DM_SVC_CONSOLIDATOR) {
            assert_string_equal(cfg.alert_email_to, "alerts@example.com");
            assert_non_null(cfg.resend_api_key);
        }
        if (containers[c].service == DM_SVC_SCHEDULER)
            assert_int_equal(cfg.max_scheduler_records, 0);
        if (containers[c].service == DM_SVC_DASHBOARD) {
            assert_int_equal(cfg.port, 80);
            assert_string_equal(cfg.api_url, "https://diamond-prod-api.azurecontainerapps.io");
        }
        free(errs);
        dm_config_free(&cfg);
    }
    clear_config_env();
    json_decref(env);
}

/* A required variable left out of a container is reported (the check above can fail). */
static void test_missing_required_is_reported(void **state)
{
    clear_config_env();
    setenv("DATABASE_HOST", "db.example.com", 1);
    setenv("NIVODA_USERNAME", "u", 1);
    setenv("NIVODA_PASSWORD", "p", 1);
    char *errs = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&errs, &len);
    struct dm_config cfg;
    enum dm_err e = dm_config_load(&cfg, DM_SVC_WORKER, f);
    fclose(f);
    assert_int_equal(e, DM_ERR_INVALID);
    assert_non_null(strstr(errs, "NIVODA_ENDPOINT"));
    free(errs);
    dm_config_free(&cfg);
    clear_config_env();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_names_are_read),
        cmocka_unit_test(test_seed_environment_starts_each_service),
        cmocka_unit_test(test_missing_required_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
