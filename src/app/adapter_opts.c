/* adapter_opts.c - configuration to adapter options, in one place (see adapter_opts.h). */
#include "app/adapter_opts.h"

#include <string.h>

void dm_app_alert_opts(const struct dm_config *cfg, struct dm_alert_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->resend_api_key = cfg->resend_api_key;
    o->resend_endpoint = cfg->resend_endpoint;
    o->email_to = cfg->alert_email_to;
    o->email_from = cfg->alert_email_from;
}

void dm_app_jobtrigger_opts(const struct dm_config *cfg, struct dm_jobtrigger_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->subscription_id = cfg->azure_subscription_id;
    o->resource_group = cfg->azure_resource_group;
    o->job_name = cfg->azure_scheduler_job_name;
    o->management_endpoint = cfg->azure_management_endpoint;
    o->identity_endpoint = cfg->azure_identity_endpoint;
    o->identity_header = cfg->azure_identity_header;
}

void dm_app_queue_opts(const struct dm_config *cfg, struct dm_queue_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->backend = cfg->queue_backend;
    o->namespace_cs = cfg->azure_service_bus_connection_string;
    o->queue_cs[DM_Q_WORK_ITEMS] = cfg->azure_service_bus_connection_string_work_items;
    o->queue_cs[DM_Q_WORK_DONE] = cfg->azure_service_bus_connection_string_work_done;
    o->queue_cs[DM_Q_CONSOLIDATE] = cfg->azure_service_bus_connection_string_consolidate;
    o->work_items_lock_ms = cfg->work_items_lock_ms;
}

void dm_app_watermark_opts(const struct dm_config *cfg, struct dm_watermark_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->azure_connection_string = cfg->azure_storage_connection_string;
    o->dir = cfg->watermark_dir;
    o->name = DM_WATERMARK_DEFAULT_NAME;
}

struct dm_alert_sink *dm_app_alert_open(const struct dm_config *cfg)
{
    struct dm_alert_opts o;
    dm_app_alert_opts(cfg, &o);
    return dm_alert_open(&o);
}

struct dm_jobtrigger *dm_app_jobtrigger_open(const struct dm_config *cfg, const char *self_exe)
{
    struct dm_jobtrigger_opts o;
    dm_app_jobtrigger_opts(cfg, &o);
    o.self_exe = self_exe;
    return dm_jobtrigger_open(&o);
}

enum dm_err dm_app_queue_open(const struct dm_config *cfg, struct dm_db *db, struct dm_queue **out,
                              struct dm_error *err)
{
    struct dm_queue_opts o;
    dm_app_queue_opts(cfg, &o);
    return dm_queue_open(&o, db, out, err);
}

enum dm_err dm_app_watermark_open(const struct dm_config *cfg, struct dm_watermark_store **out,
                                  struct dm_error *err)
{
    struct dm_watermark_opts o;
    dm_app_watermark_opts(cfg, &o);
    return dm_watermark_open(&o, out, err);
}
