/*
 * adapter_opts.h - the one place where the configuration (struct dm_config) becomes the
 * options of the adapter families: alert, jobtrigger, queue and watermark. Each adapter takes
 * its own small options struct (declared in its public header) and never sees struct
 * dm_config (tests/structure/layers.sh keeps adapters/ off core/config.h), so a new variable
 * for an adapter is read here and nowhere else.
 *
 * dm_app_*_opts fill an options struct whose strings are borrowed from cfg (valid while cfg
 * is). dm_app_*_open map and open in one call, with the contract of the adapter's own open.
 * A caller that needs to adjust an option (a watermark name per feed) maps, adjusts, then
 * calls the adapter's open itself.
 */
#ifndef DM_APP_ADAPTER_OPTS_H
#define DM_APP_ADAPTER_OPTS_H

#include "adapters/alert/alert.h"
#include "adapters/jobtrigger/jobtrigger.h"
#include "adapters/queue/queue.h"
#include "adapters/watermark/watermark.h"
#include "core/config.h"
#include "core/error.h"

struct dm_db;

/* RESEND_API_KEY, RESEND_ENDPOINT, ALERT_EMAIL_TO, ALERT_EMAIL_FROM. */
void dm_app_alert_opts(const struct dm_config *cfg, struct dm_alert_opts *o);
/* AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_SCHEDULER_JOB_NAME,
 * AZURE_MANAGEMENT_ENDPOINT, IDENTITY_ENDPOINT, IDENTITY_HEADER (self_exe left NULL). */
void dm_app_jobtrigger_opts(const struct dm_config *cfg, struct dm_jobtrigger_opts *o);
/* QUEUE_BACKEND, AZURE_SERVICE_BUS_CONNECTION_STRING and its per-queue variants,
 * WORK_ITEMS_LOCK_MS. */
void dm_app_queue_opts(const struct dm_config *cfg, struct dm_queue_opts *o);
/* AZURE_STORAGE_CONNECTION_STRING, WATERMARK_DIR; name DM_WATERMARK_DEFAULT_NAME. */
void dm_app_watermark_opts(const struct dm_config *cfg, struct dm_watermark_opts *o);

/* Map, then open (see each adapter's open). */
struct dm_alert_sink *dm_app_alert_open(const struct dm_config *cfg);
struct dm_jobtrigger *dm_app_jobtrigger_open(const struct dm_config *cfg, const char *self_exe);
enum dm_err dm_app_queue_open(const struct dm_config *cfg, struct dm_db *db, struct dm_queue **out,
                              struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_app_watermark_open(const struct dm_config *cfg, struct dm_watermark_store **out,
                                  struct dm_error *err) DM_MUST_CHECK;

#endif
