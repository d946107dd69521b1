/* test_deploy_env.c - the environment variables each container gets in the seed (its lists,
 * transcribed in tests/deploy/seed_values.json and checked against the seed and the Terraform by
 * tests/deploy/terraform_check.js) are the ones the service reads: every seed name is in
 * dm_config_names(service), and a container given exactly the seed's variables starts
 * (dm_config_load succeeds, the Azure backends are selected where the seed sets them). */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/queue/queue.h"
#include "adapters/watermark/watermark.h"
#include "app/adapter_opts.h"
#include "app/app.h"
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

/* dm_config_load for service from the environment as the service starts (with the app's
 * checks); *errs (malloc'd, the caller frees it) holds what it reported. */
static enum dm_err load_config(unsigned service, struct dm_config *cfg, char **errs)
{
    size_t len = 0;
    *errs = NULL;
    FILE *f = open_memstream(errs, &len);
    assert_non_null(f);
    enum dm_err e = dm_config_load(cfg, service, dm_app_config_checks(), f);
    fclose(f);
    return e;
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
        struct dm_config cfg;
        enum dm_err e = load_config(containers[c].service, &cfg, &errs);
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

/* The deployment's least-privilege variables (infrastructure/terraform, issue 15 item 18):
 * instead of the namespace-level Service Bus string, one queue-scoped string per queue the
 * app holds a rule for (app_permissions in seed_values.json, which terraform_check.js holds
 * the Terraform to); instead of the account key, a container SAS (none for the worker). Each
 * pipeline service starts with them and opens its queue and watermark backends. */
static void test_least_privilege_environment_starts_each_service(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/deploy/seed_values.json", DM_SOURCE_DIR);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    assert_non_null(root);
    json_t *env = json_object_get(root, "env"), *perms = json_object_get(root, "app_permissions");
    static const struct {
        const char *name, *queue_var;
    } qvars[] = {{"work-items", "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS"},
                 {"work-done", "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE"},
                 {"consolidate", "AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE"}};
    for (size_t c = 0; c < sizeof(containers) / sizeof(containers[0]); c++) {
        if (!(containers[c].service & DM_SVC_PIPELINE))
            continue;
        const char *app = containers[c].name;
        clear_config_env();
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(env, app), i, v)
        {
            const char *n = json_string_value(v);
            if (strcmp(n, "AZURE_SERVICE_BUS_CONNECTION_STRING") != 0)
                setenv(n, sample_value(n), 1);
        }
        if (!strcmp(app, "worker")) {
            unsetenv("AZURE_STORAGE_CONNECTION_STRING");
        } else {
            char sas[512];
            snprintf(sas, sizeof(sas),
                     "BlobEndpoint=https://diamondprod.blob.core.windows.net/;"
                     "SharedAccessSignature=sv=2018-11-09&sr=c&st=2026-01-01T00%%3A00%%3A00Z&"
                     "se=2027-01-01T00%%3A00%%3A00Z&sp=%s&spr=https&sig=c2lnbmF0dXJl%%3D",
                     strcmp(app, "consolidator") ? "r" : "rcw");
            setenv("AZURE_STORAGE_CONNECTION_STRING", sas, 1);
        }
        json_t *queues = json_object_get(perms, app);
        assert_true(json_object_size(queues) > 0);
        for (size_t q = 0; q < 3; q++) {
            if (json_object_get(queues, qvars[q].name) == NULL)
                continue;
            char cs[512];
            snprintf(cs, sizeof(cs),
                     "Endpoint=sb://diamond-prod-servicebus.servicebus.windows.net/;"
                     "SharedAccessKeyName=%s-%s;SharedAccessKey=a2V5;EntityPath=%s",
                     app, qvars[q].name, qvars[q].name);
            setenv(qvars[q].queue_var, cs, 1);
        }
        char *errs = NULL;
        struct dm_config cfg;
        enum dm_err e = load_config(containers[c].service, &cfg, &errs);
        if (e != DM_OK)
            fail_msg("%s container with least-privilege variables does not start:\n%s", app, errs);
        assert_string_equal(cfg.queue_backend, "servicebus");
        assert_null(cfg.azure_service_bus_connection_string);
        struct dm_error err = {0};
        struct dm_queue *qh = NULL;
        if (dm_app_queue_open(&cfg, NULL, &qh, &err) != DM_OK)
            fail_msg("%s: queue: %s", app, err.message);
        assert_string_equal(dm_queue_backend_name(qh), "servicebus");
        dm_queue_free(qh);
        struct dm_watermark_store *wm = NULL;
        if (dm_app_watermark_open(&cfg, &wm, &err) != DM_OK)
            fail_msg("%s: watermark: %s", app, err.message);
        assert_string_equal(dm_watermark_backend_name(wm),
                            strcmp(app, "worker") ? "azure" : "file");
        dm_watermark_free(wm);
        free(errs);
        dm_config_free(&cfg);
    }
    clear_config_env();
    json_decref(root);
}

/* A required variable left out of a container is reported (the check above can fail). */
static void test_missing_required_is_reported(void **state)
{
    clear_config_env();
    setenv("DATABASE_HOST", "db.example.com", 1);
    setenv("NIVODA_USERNAME", "u", 1);
    setenv("NIVODA_PASSWORD", "p", 1);
    char *errs = NULL;
    struct dm_config cfg;
    enum dm_err e = load_config(DM_SVC_WORKER, &cfg, &errs);
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
        cmocka_unit_test(test_least_privilege_environment_starts_each_service),
        cmocka_unit_test(test_missing_required_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
