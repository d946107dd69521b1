/* fuzz_config.c - libFuzzer driver for configuration values: the input is split into
 * "NAME=value" lines, set in the environment, and loaded for every service. Any value must
 * give a clean DM_OK or DM_ERR_INVALID with messages, never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "app/app.h"
#include "core/config.h"

static const char *names[] = {"PORT",
                              "LOG_LEVEL",
                              "DATABASE_URL",
                              "DATABASE_HOST",
                              "DATABASE_PORT",
                              "DATABASE_SSLMODE",
                              "DATABASE_POOL_SIZE",
                              "HMAC_SECRETS",
                              "RESEND_API_KEY",
                              "ALERT_EMAIL_TO",
                              "ALERT_EMAIL_FROM",
                              "NIVODA_ENDPOINT",
                              "NIVODA_MAX_RPS",
                              "MAX_SCHEDULER_RECORDS",
                              "RUN_TYPE",
                              "QUEUE_BACKEND",
                              "AZURE_SERVICE_BUS_CONNECTION_STRING",
                              "WORKER_CONCURRENCY",
                              "METRICS_REQUIRE_AUTH",
                              "API_URL"};
#define NNAMES (sizeof(names) / sizeof(names[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < NNAMES; i++)
        unsetenv(names[i]);
    char *text = fuzz_text(data, size);
    /* Each line: one byte choosing the variable, then its value. */
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '\0')
            continue;
        setenv(names[(unsigned char)line[0] % NNAMES], line + 1, 1);
    }
    static const unsigned services[] = {DM_SVC_API,       DM_SVC_WORKER,    DM_SVC_CONSOLIDATOR,
                                        DM_SVC_SCHEDULER, DM_SVC_DASHBOARD, DM_SVC_CLI};
    FILE *devnull = fopen("/dev/null", "w");
    for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
        struct dm_config cfg;
        if (dm_config_load(&cfg, services[s], dm_app_config_checks(), devnull) == DM_OK) {
            char *ci = dm_config_conninfo(&cfg);
            free(ci);
        }
        dm_config_free(&cfg);
    }
    fclose(devnull);
    free(text);
    return 0;
}
