/*
 * alert.c - operator alerts through one sink: a warn log line always, and a Resend e-mail
 * (POST {RESEND_ENDPOINT}/emails, bearer RESEND_API_KEY) when configured. A failed send is
 * logged and returned, never fatal to the caller.
 */
#include "adapters/alert/alert.h"

#include <stdlib.h>
#include <string.h>

#include "adapters/http/client.h"
#include "core/buf.h"
#include "core/json.h"

struct dm_alert_sink;

struct dm_alert_ops {
    const char *name;
    enum dm_err (*send)(struct dm_alert_sink *s, const struct dm_log_ctx *ctx, const char *subject,
                        const char *body);
};

struct dm_alert_sink {
    const struct dm_alert_ops *ops;
    char *endpoint; /* "https://api.resend.com/emails" */
    char *api_key;
    char *from;
    json_t *to; /* array of addresses */
};

static enum dm_err log_send(struct dm_alert_sink *s, const struct dm_log_ctx *ctx,
                            const char *subject, const char *body)
{
    return DM_OK; /* the warn line written by dm_alert_send is the whole delivery */
}

static enum dm_err resend_send(struct dm_alert_sink *s, const struct dm_log_ctx *ctx,
                               const char *subject, const char *body)
{
    json_t *msg = json_object();
    json_object_set_new(msg, "from", json_string(s->from));
    json_object_set(msg, "to", s->to);
    char *full_subject = dm_xasprintf("%s%s", DM_ALERT_SUBJECT_PREFIX, subject);
    json_object_set_new(msg, "subject", json_string(full_subject));
    json_object_set_new(msg, "text", json_string(body ? body : ""));
    char *text = dm_json_dumps(msg);
    json_decref(msg);
    free(full_subject);

    char *auth = dm_xasprintf("Authorization: Bearer %s", s->api_key);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    struct dm_http_request req = {.method = "POST",
                                  .url = s->endpoint,
                                  .headers = headers,
                                  .body = text,
                                  .body_len = strlen(text),
                                  .connect_timeout_ms = 5000,
                                  .timeout_ms = 15000,
                                  .max_response = (size_t)64 * 1024};
    struct dm_http_response resp;
    struct dm_error err = {0};
    enum dm_err e = dm_http_do(&req, &resp, &err);
    if (e == DM_OK) {
        e = dm_http_classify(resp.status);
        if (e != DM_OK)
            dm_error(ctx, "alert e-mail '%s' rejected by Resend: HTTP %ld", subject, resp.status);
    } else {
        dm_error(ctx, "alert e-mail '%s' not sent: %s", subject, err.message);
    }
    dm_http_response_free(&resp);
    /* The header holds the key: wipe it before release. */
    memset(auth, 0, strlen(auth));
    free(auth);
    free(text);
    return e;
}

static const struct dm_alert_ops LOG_OPS = {"log", log_send};
static const struct dm_alert_ops RESEND_OPS = {"resend", resend_send};

struct dm_alert_sink *dm_alert_open(const struct dm_alert_opts *opts)
{
    struct dm_alert_sink *s = dm_xcalloc(1, sizeof(*s));
    s->ops = &LOG_OPS;
    if (opts != NULL && opts->resend_api_key != NULL && opts->resend_api_key[0] != '\0' &&
        opts->email_to != NULL && opts->email_from != NULL) {
        const char *base = opts->resend_endpoint ? opts->resend_endpoint : "https://api.resend.com";
        size_t n = strlen(base);
        while (n > 0 && base[n - 1] == '/')
            n--;
        s->endpoint = dm_xasprintf("%.*s/emails", (int)n, base);
        s->api_key = dm_xstrdup(opts->resend_api_key);
        s->from = dm_xstrdup(opts->email_from);
        /* ALERT_EMAIL_TO may list several addresses separated by commas. */
        s->to = json_array();
        const char *p = opts->email_to;
        while (*p) {
            size_t len = strcspn(p, ",");
            const char *a = p;
            size_t alen = len;
            while (alen > 0 && (*a == ' ' || *a == '\t')) {
                a++;
                alen--;
            }
            while (alen > 0 && (a[alen - 1] == ' ' || a[alen - 1] == '\t'))
                alen--;
            if (alen > 0)
                json_array_append_new(s->to, json_stringn(a, alen));
            p += len;
            if (*p == ',')
                p++;
        }
        s->ops = &RESEND_OPS;
    }
    return s;
}

void dm_alert_free(struct dm_alert_sink *s)
{
    if (s == NULL)
        return;
    if (s->api_key) {
        memset(s->api_key, 0, strlen(s->api_key));
        free(s->api_key);
    }
    free(s->endpoint);
    free(s->from);
    json_decref(s->to);
    free(s);
}

const char *dm_alert_backend_name(const struct dm_alert_sink *s)
{
    return s ? s->ops->name : "log";
}

enum dm_err dm_alert_send(struct dm_alert_sink *s, const struct dm_log_ctx *ctx,
                          const char *subject, const char *body)
{
    json_t *fields = json_object();
    json_object_set_new(fields, "alert", json_string(subject ? subject : ""));
    json_object_set_new(fields, "alertBody", json_string(body ? body : ""));
    json_object_set_new(fields, "alertSink", json_string(dm_alert_backend_name(s)));
    char *msg = dm_xasprintf("alert: %s%s", DM_ALERT_SUBJECT_PREFIX, subject ? subject : "");
    dm_log_fields(DM_LOG_WARN, ctx, msg, fields);
    free(msg);
    json_decref(fields);
    if (s == NULL)
        return DM_OK;
    return s->ops->send(s, ctx, subject ? subject : "", body);
}
