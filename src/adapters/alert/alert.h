/*
 * alert.h - one sink for operator alerts: JSON log lines by default, Resend e-mail when
 * RESEND_API_KEY is set (subject prefix "[Diamond Platform] "). Two backends behind a vtable
 * private to alert.c, chosen once from struct dm_alert_opts (filled from the configuration in
 * one place: src/app/adapter_opts.c). Sending never fails the caller: a failed send is logged
 * and reported through the return value only.
 * Thread-safe.
 */
#ifndef DM_ADAPTERS_ALERT_H
#define DM_ADAPTERS_ALERT_H

#include "core/error.h"
#include "core/log.h"

#define DM_ALERT_SUBJECT_PREFIX "[Diamond Platform] "

struct dm_alert_sink;

/* What the sink needs (strings borrowed for the call to dm_alert_open only). */
struct dm_alert_opts {
    const char *resend_api_key;  /* RESEND_API_KEY; NULL or "": log only */
    const char *resend_endpoint; /* RESEND_ENDPOINT; NULL: https://api.resend.com */
    const char *email_to;        /* ALERT_EMAIL_TO: addresses separated by commas */
    const char *email_from;      /* ALERT_EMAIL_FROM */
};

/* Choose the sink: Resend when the key, the recipients and the sender are all given, else
 * log (also when opts is NULL). Never fails. */
struct dm_alert_sink *dm_alert_open(const struct dm_alert_opts *opts);
void dm_alert_free(struct dm_alert_sink *s);
const char *dm_alert_backend_name(const struct dm_alert_sink *s); /* "log" | "resend" */

/* Send an alert. subject without the prefix ("Consolidation failed"); body plain text.
 * Always logs a warn line with the alert; returns the delivery result for tests/metrics. */
enum dm_err dm_alert_send(struct dm_alert_sink *s, const struct dm_log_ctx *ctx,
                          const char *subject, const char *body);

#endif
