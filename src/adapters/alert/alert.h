/*
 * alert.h - one sink for operator alerts: JSON log lines by default, Resend e-mail when
 * RESEND_API_KEY is set (subject prefix "[Diamond Platform] "). Sending never fails the
 * caller: a failed send is logged and reported through the return value only.
 * Thread-safe.
 */
#ifndef DM_ADAPTERS_ALERT_H
#define DM_ADAPTERS_ALERT_H

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

#define DM_ALERT_SUBJECT_PREFIX "[Diamond Platform] "

struct dm_alert_sink;

/* Choose the sink from configuration (Resend when RESEND_API_KEY is set, else log). */
struct dm_alert_sink *dm_alert_open(const struct dm_config *cfg);
void dm_alert_free(struct dm_alert_sink *s);
const char *dm_alert_backend_name(const struct dm_alert_sink *s); /* "log" | "resend" */

/* Send an alert. subject without the prefix ("Consolidation failed"); body plain text.
 * Always logs a warn line with the alert; returns the delivery result for tests/metrics. */
enum dm_err dm_alert_send(struct dm_alert_sink *s, const struct dm_log_ctx *ctx,
                          const char *subject, const char *body);

#endif
