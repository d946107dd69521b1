/*
 * config_checks.c - the configuration checks core cannot make (see dm_config_checks in
 * core/config.h): the values are judged by the parsers their users run, so start-up refuses
 * exactly what the API or the queue could not use.
 */
#include <stdio.h>
#include <string.h>

#include "adapters/queue/servicebus.h"
#include "app/app.h"
#include "domain/cron.h"
#include "domain/hmac_auth.h"

/* HMAC_SECRETS: the parser's message starts with the variable's name, which the configuration
 * loader prints already. */
static const char *hmac_secrets(const char *v)
{
    static char why[160];
    struct dm_hmac_secrets s;
    struct dm_error err = {0};
    if (dm_hmac_secrets_parse(v, &s, &err) == DM_OK) {
        dm_hmac_secrets_free(&s);
        return NULL;
    }
    const char *m = err.message;
    if (!strncmp(m, "HMAC_SECRETS", 12))
        m += 12;
    m += strspn(m, ": ");
    snprintf(why, sizeof(why), "%s", m);
    return why;
}

/* A per-queue Service Bus string; the parser's messages name neither the key nor the value. */
static const char *sb_queue_string(const char *v, const char *queue)
{
    static char why[160];
    struct dm_sb_conn_info ci;
    struct dm_error err = {0};
    if (dm_sb_parse_queue_connection_string(v, queue, &ci, &err) == DM_OK) {
        dm_sb_conn_info_free(&ci);
        return NULL;
    }
    const char *m = err.message;
    if (!strncmp(m, "service bus connection string: ", 31))
        m += 31;
    snprintf(why, sizeof(why), "%.150s", m);
    return why;
}

/* FEED_<ID>_CRON: the resident scheduler's parser; an expression that never fires is refused
 * too (it would silently never run the feed). */
static const char *cron(const char *v)
{
    static char why[160];
    struct dm_cron c;
    struct dm_error err = {0};
    int64_t next = 0;
    if (dm_cron_parse(v, &c, &err) != DM_OK) {
        snprintf(why, sizeof(why), "%.150s", err.message);
        return why;
    }
    if (dm_cron_next(&c, 0, &next) != DM_OK)
        return "never fires";
    return NULL;
}

const struct dm_config_checks *dm_app_config_checks(void)
{
    static const struct dm_config_checks checks = {
        .hmac_secrets = hmac_secrets,
        .sb_queue_string = sb_queue_string,
        .cron = cron,
    };
    return &checks;
}
