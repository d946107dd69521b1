/*
 * queue_servicebus.c - the Azure Service Bus backend over REST (see servicebus.h for the
 * protocol, the connection string and what replaces the missing dead-letter operation).
 */
#include "adapters/queue/servicebus.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "adapters/http/client.h"
#include "adapters/queue/queue_impl.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"

#define TOKEN_TTL_S 3600
#define TOKEN_RENEW_S 300
#define BATCH_LIMIT ((size_t)230 * 1024) /* JSON bytes per batch: under 256 KB with headers */
#define SEND_ATTEMPTS 4
#define MAX_WAIT_S 55       /* longest server-side wait per receive request */
#define PROPS_MAX 8192      /* BrokerProperties header */
#define RESUBMIT_SCAN 10000 /* DLQ messages examined by one resubmit */
#define DLQ_WAIT_S 1        /* scanning the DLQ: a zero wait may miss what is not cached */
#define API_VERSION "2021-05"

/* ---- connection string, SAS, times ------------------------------------------------------- */

static char *trim_dup(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return dm_xstrndup(s, n);
}

/* "sb://host[:port][/]" or "http(s)://host[:port][/]" -> base URL without trailing slash. */
static enum dm_err endpoint_url(const char *ep, bool emulator, char **out, struct dm_error *err)
{
    const char *scheme = NULL, *rest = NULL;
    if (!strncasecmp(ep, "sb://", 5)) {
        scheme = emulator ? "http://" : "https://";
        rest = ep + 5;
    } else if (!strncasecmp(ep, "https://", 8)) {
        scheme = "https://";
        rest = ep + 8;
    } else if (!strncasecmp(ep, "http://", 7)) {
        scheme = "http://";
        rest = ep + 7;
    } else {
        return dm_error_set(err, DM_ERR_INVALID,
                            "service bus connection string: Endpoint must be sb://, http:// "
                            "or https://");
    }
    size_t hl = strcspn(rest, "/");
    if (hl == 0 || strcspn(rest, " \t?#@") < hl)
        return dm_error_set(err, DM_ERR_INVALID,
                            "service bus connection string: Endpoint has no valid host");
    *out = dm_xasprintf("%s%.*s", scheme, (int)hl, rest);
    return DM_OK;
}

enum dm_err dm_sb_parse_connection_string(const char *cs, struct dm_sb_conn_info *out,
                                          struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    char *endpoint = NULL;
    bool emulator = false;
    enum dm_err e = DM_OK;
    const char *p = cs ? cs : "";
    while (*p && e == DM_OK) {
        size_t len = strcspn(p, ";");
        const char *eq = memchr(p, '=', len);
        if (eq != NULL) {
            char *k = trim_dup(p, (size_t)(eq - p));
            char *v = trim_dup(eq + 1, len - (size_t)(eq + 1 - p));
            char **slot = NULL;
            if (!strcasecmp(k, "Endpoint"))
                slot = &endpoint;
            else if (!strcasecmp(k, "SharedAccessKeyName"))
                slot = &out->key_name;
            else if (!strcasecmp(k, "SharedAccessKey"))
                slot = &out->key;
            else if (!strcasecmp(k, "EntityPath"))
                slot = &out->entity_path;
            else if (!strcasecmp(k, "UseDevelopmentEmulator"))
                emulator = !strcasecmp(v, "true");
            if (slot) {
                free(*slot);
                *slot = v;
                v = NULL;
            }
            free(k);
            free(v);
        } else if (len > 0 && strspn(p, " \t") < len) {
            e = dm_error_set(err, DM_ERR_INVALID,
                             "service bus connection string: expected Key=Value pairs");
        }
        p += len;
        if (*p == ';')
            p++;
    }
    if (e != DM_OK) {
        /* reported above */
    } else if (endpoint == NULL || endpoint[0] == '\0') {
        e = dm_error_set(err, DM_ERR_INVALID, "service bus connection string: no Endpoint");
    } else if (out->key_name == NULL || out->key_name[0] == '\0') {
        e = dm_error_set(err, DM_ERR_INVALID,
                         "service bus connection string: no SharedAccessKeyName");
    } else if (out->key == NULL || out->key[0] == '\0') {
        e = dm_error_set(err, DM_ERR_INVALID, "service bus connection string: no SharedAccessKey");
    } else {
        e = endpoint_url(endpoint, emulator, &out->base_url, err);
    }
    free(endpoint);
    if (e != DM_OK)
        dm_sb_conn_info_free(out);
    return e;
}

void dm_sb_conn_info_free(struct dm_sb_conn_info *ci)
{
    if (ci == NULL)
        return;
    free(ci->base_url);
    free(ci->key_name);
    free(ci->entity_path);
    if (ci->key) {
        memset(ci->key, 0, strlen(ci->key));
        free(ci->key);
    }
    memset(ci, 0, sizeof(*ci));
}

enum dm_err dm_sb_parse_queue_connection_string(const char *cs, const char *queue,
                                                struct dm_sb_conn_info *out, struct dm_error *err)
{
    enum dm_err e = dm_sb_parse_connection_string(cs, out, err);
    if (e != DM_OK)
        return e;
    /* A queue-scoped rule signs only for its own queue: given for another queue, every call
     * would be refused (401) at run time. Say so at start-up instead. */
    const char *ep = out->entity_path;
    if (ep != NULL && ep[0] != '\0' && strcasecmp(ep, queue) != 0) {
        dm_sb_conn_info_free(out);
        return dm_error_set(err, DM_ERR_INVALID,
                            "service bus connection string: EntityPath names another queue "
                            "(a string for %s must have EntityPath=%s or none)",
                            queue, queue);
    }
    return DM_OK;
}

const char *dm_sb_queue_variable(enum dm_queue_name name)
{
    static const char *vars[DM_Q_COUNT] = {
        [DM_Q_WORK_ITEMS] = "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS",
        [DM_Q_WORK_DONE] = "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE",
        [DM_Q_CONSOLIDATE] = "AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE",
    };
    if ((int)name < 0 || name >= DM_Q_COUNT)
        return "AZURE_SERVICE_BUS_CONNECTION_STRING";
    return vars[name];
}

char *dm_sb_sas_token(const char *resource_uri, const char *key_name, const char *key,
                      int64_t expiry_s)
{
    char *sr = dm_url_encode(resource_uri);
    char *to_sign = dm_xasprintf("%s\n%" PRId64, sr, expiry_s);
    uint8_t mac[DM_SHA256_LEN];
    dm_hmac_sha256(key, strlen(key), to_sign, strlen(to_sign), mac);
    char *b64 = dm_base64_encode(mac, sizeof(mac));
    char *sig = dm_url_encode(b64);
    char *skn = dm_url_encode(key_name);
    char *token = dm_xasprintf("SharedAccessSignature sr=%s&sig=%s&se=%" PRId64 "&skn=%s", sr, sig,
                               expiry_s, skn);
    free(sr);
    free(to_sign);
    free(b64);
    free(sig);
    free(skn);
    return token;
}

void dm_sb_rfc1123(int64_t ms, char out[DM_RFC1123_LEN])
{
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    /* Names from tables, not strftime: the locale must not change the wire format. */
    snprintf(out, DM_RFC1123_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

/* n decimal digits at s into *v. */
static bool digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

enum dm_err dm_sb_parse_rfc1123(const char *s, int64_t *ms)
{
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    /* Fixed layout: "Sun, 06 Nov 1994 08:49:37 GMT" (29 characters). */
    int d, y, hh, mm, ss, m = -1;
    if (s == NULL || strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0 ||
        !isalpha((unsigned char)s[0]) || !digits(s + 5, 2, &d) || !digits(s + 12, 4, &y) ||
        !digits(s + 17, 2, &hh) || !digits(s + 20, 2, &mm) || !digits(s + 23, 2, &ss))
        return DM_ERR_INVALID;
    for (int i = 0; i < 12; i++)
        if (strncmp(s + 8, months[i], 3) == 0)
            m = i;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m < 0 || d < 1 || d > mdays[m] + (m == 1 && leap) || y < 1970 || hh > 23 || mm > 59 ||
        ss > 59)
        return DM_ERR_INVALID; /* no calendar normalisation: what parses, formats back */
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = m, .tm_mday = d, .tm_hour = hh, .tm_min = mm, .tm_sec = ss};
    *ms = (int64_t)timegm(&tm) * 1000;
    return DM_OK;
}

/* ---- backend state and HTTP ---------------------------------------------------------------- */

struct sb_queue {
    /* Each queue's credential: its own connection string or the namespace's; base_url NULL
     * when the queue has none (every operation on it then fails before any request). */
    struct dm_sb_conn_info ci[DM_Q_COUNT];
    pthread_mutex_t mu;
    char *token[DM_Q_COUNT];
    int64_t token_exp[DM_Q_COUNT];
};

static struct sb_queue *impl(struct dm_queue *q)
{
    return q->impl;
}

/* DM_OK when this process holds a credential for queue `name`, else DM_ERR_AUTH naming the
 * variables that would give it one. Checked before any URL of the queue is built. */
static enum dm_err need_conn(struct dm_queue *q, enum dm_queue_name name, struct dm_error *err)
{
    if (impl(q)->ci[name].base_url != NULL)
        return DM_OK;
    return dm_error_set(err, DM_ERR_AUTH,
                        "service bus: no credential for queue %s (set %s or "
                        "AZURE_SERVICE_BUS_CONNECTION_STRING)",
                        q->settings[name].name, dm_sb_queue_variable(name));
}

/* "Authorization: SharedAccessSignature ..." for the queue's entity (malloc'd). */
static char *auth_header(struct dm_queue *q, enum dm_queue_name name)
{
    struct sb_queue *s = impl(q);
    int64_t now = dm_now_ms() / 1000;
    pthread_mutex_lock(&s->mu);
    if (s->token[name] == NULL || s->token_exp[name] - now < TOKEN_RENEW_S) {
        const struct dm_sb_conn_info *ci = &s->ci[name];
        char *uri = dm_xasprintf("%s/%s", ci->base_url, q->settings[name].name);
        free(s->token[name]);
        s->token_exp[name] = now + TOKEN_TTL_S;
        s->token[name] = dm_sb_sas_token(uri, ci->key_name, ci->key, s->token_exp[name]);
        free(uri);
    }
    char *h = dm_xasprintf("Authorization: %s", s->token[name]);
    pthread_mutex_unlock(&s->mu);
    return h;
}

struct call {
    const char *method;
    const char *url;
    const char *content_type; /* NULL = none */
    const char *props;        /* BrokerProperties JSON or NULL */
    const char *body;
    size_t body_len;
    long timeout_ms;
};

static enum dm_err http_call(struct dm_queue *q, enum dm_queue_name name, const struct call *c,
                             struct dm_http_response *resp, struct dm_error *err)
{
    char *auth = auth_header(q, name);
    char *ct = c->content_type ? dm_xasprintf("Content-Type: %s", c->content_type) : NULL;
    char *bp = c->props ? dm_xasprintf("BrokerProperties: %s", c->props) : NULL;
    const char *headers[4];
    int n = 0;
    headers[n++] = auth;
    if (ct)
        headers[n++] = ct;
    if (bp)
        headers[n++] = bp;
    headers[n] = NULL;
    struct dm_http_request req = {
        .method = c->method,
        .url = c->url,
        .headers = headers,
        .body = c->body,
        .body_len = c->body_len,
        .timeout_ms = c->timeout_ms ? c->timeout_ms : 30000,
        .max_response = 1u << 20,
    };
    enum dm_err e = dm_http_do(&req, resp, err);
    free(auth);
    free(ct);
    free(bp);
    return e;
}

/* Map a non-2xx status; settle operations report 404/410 as a lost lock. */
static enum dm_err status_error(const struct dm_http_response *resp, const char *what, bool settle,
                                struct dm_error *err)
{
    long st = resp->status;
    enum dm_err code = dm_http_classify(st);
    if (settle && (st == 404 || st == 410))
        code = DM_ERR_LOCK_LOST;
    if (st == 410 && !settle)
        code = DM_ERR_NOT_FOUND;
    /* Service Bus error bodies are short XML; quote the start for the operator. */
    const char *b = resp->body.data ? resp->body.data : "";
    dm_error_set(err, code, "service bus %s: HTTP %ld %.200s", what, st, b);
    if (err)
        err->status = (int)st;
    return code;
}

static int64_t retry_after_ms(const struct dm_http_response *resp, int attempt)
{
    char v[32];
    int64_t s = 0;
    if (dm_http_header(resp, "Retry-After", v, sizeof(v)) && dm_parse_i64(v, 0, 3600, &s) == DM_OK)
        return s * 1000 > 5000 ? 5000 : s * 1000;
    return 250LL << attempt;
}

/* A send, retried on throttling, 5xx and transport errors. */
static enum dm_err send_call(struct dm_queue *q, enum dm_queue_name name, const struct call *c,
                             struct dm_error *err)
{
    enum dm_err e = DM_OK;
    for (int attempt = 0; attempt < SEND_ATTEMPTS; attempt++) {
        struct dm_http_response resp;
        e = http_call(q, name, c, &resp, err);
        int64_t pause = 250LL << attempt;
        if (e == DM_OK) {
            if (resp.status >= 200 && resp.status < 300) {
                dm_http_response_free(&resp);
                return DM_OK;
            }
            e = status_error(&resp, "send", false, err);
            pause = retry_after_ms(&resp, attempt);
        }
        dm_http_response_free(&resp);
        if (!dm_err_is_retryable(e) || attempt + 1 == SEND_ATTEMPTS)
            break;
        dm_warn(NULL, "service bus send to %s failed (%s); retrying in %" PRId64 " ms",
                q->settings[name].name, dm_strerror(e), pause);
        dm_sleep_ms(pause, NULL);
    }
    return e;
}

static json_t *broker_props(const struct dm_queue_settings *s, const struct dm_queue_out *m)
{
    json_t *p =
        json_pack("{s:s, s:I}", "MessageId", m->id, "TimeToLive", (json_int_t)(s->ttl_ms / 1000));
    if (m->scheduled_ms > 0) {
        char t[DM_RFC1123_LEN];
        dm_sb_rfc1123(m->scheduled_ms, t);
        json_object_set_new(p, "ScheduledEnqueueTimeUtc", json_string(t));
    }
    return p;
}

static enum dm_err send_one(struct dm_queue *q, enum dm_queue_name name,
                            const struct dm_queue_out *m, struct dm_error *err)
{
    json_t *p = broker_props(&q->settings[name], m);
    char *props = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    char *url = dm_xasprintf("%s/%s/messages", impl(q)->ci[name].base_url, q->settings[name].name);
    struct call c = {.method = "POST",
                     .url = url,
                     .content_type = "application/json",
                     .props = props,
                     .body = m->body,
                     .body_len = strlen(m->body)};
    enum dm_err e = send_call(q, name, &c, err);
    free(url);
    free(props);
    return e;
}

static enum dm_err send_batch(struct dm_queue *q, enum dm_queue_name name, json_t *arr,
                              struct dm_error *err)
{
    char *body = json_dumps(arr, JSON_COMPACT);
    if (body == NULL)
        return dm_error_set(err, DM_ERR_INTERNAL, "service bus: batch serialisation failed");
    char *url = dm_xasprintf("%s/%s/messages", impl(q)->ci[name].base_url, q->settings[name].name);
    struct call c = {.method = "POST",
                     .url = url,
                     .content_type = "application/vnd.microsoft.servicebus.json",
                     .body = body,
                     .body_len = strlen(body)};
    enum dm_err e = send_call(q, name, &c, err);
    free(url);
    free(body);
    return e;
}

static enum dm_err sb_send_many(struct dm_queue *q, enum dm_queue_name name,
                                const struct dm_queue_out *msgs, int n, struct dm_error *err)
{
    if (need_conn(q, name, err) != DM_OK)
        return DM_ERR_AUTH;
    if (n == 1)
        return send_one(q, name, &msgs[0], err);
    json_t *batch = json_array();
    size_t batch_bytes = 2;
    enum dm_err e = DM_OK;
    for (int i = 0; i < n && e == DM_OK; i++) {
        /* Only valid UTF-8 can travel as a JSON string; anything else goes alone, raw. */
        json_t *body = json_stringn(msgs[i].body, strlen(msgs[i].body));
        json_t *entry = NULL;
        size_t len = 0;
        if (body != NULL) {
            entry = json_pack("{s:o, s:o}", "Body", body, "BrokerProperties",
                              broker_props(&q->settings[name], &msgs[i]));
            char *text = entry ? json_dumps(entry, JSON_COMPACT) : NULL;
            len = text ? strlen(text) + 1 : BATCH_LIMIT;
            free(text);
        }
        if (entry == NULL || len + 2 > BATCH_LIMIT) {
            /* Flush first so the queue sees the messages in the caller's order. */
            json_decref(entry);
            if (json_array_size(batch) > 0) {
                e = send_batch(q, name, batch, err);
                json_array_clear(batch);
                batch_bytes = 2;
            }
            if (e == DM_OK)
                e = send_one(q, name, &msgs[i], err);
            continue;
        }
        if (batch_bytes + len > BATCH_LIMIT) {
            e = send_batch(q, name, batch, err);
            json_array_clear(batch);
            batch_bytes = 2;
            if (e != DM_OK) {
                json_decref(entry);
                break;
            }
        }
        json_array_append_new(batch, entry);
        batch_bytes += len;
    }
    if (e == DM_OK && json_array_size(batch) > 0)
        e = send_batch(q, name, batch, err);
    json_decref(batch);
    return e;
}

/* ---- receive and settle ---------------------------------------------------------------------- */

static int64_t prop_i64(json_t *p, const char *key)
{
    json_t *v = json_object_get(p, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static int64_t prop_time(json_t *p, const char *key)
{
    json_t *v = json_object_get(p, key);
    int64_t ms = 0;
    if (json_is_string(v) && dm_sb_parse_rfc1123(json_string_value(v), &ms) == DM_OK)
        return ms;
    return 0;
}

/* A user property header value: Service Bus quotes strings ("\"value\""). */
static char *unquote(const char *v)
{
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
        return dm_xstrndup(v + 1, n - 2);
    return dm_xstrdup(v);
}

/* Build a message from a 201 peek-lock response. entity is "work-items" or
 * "work-items/$deadletterqueue". */
static enum dm_err parse_locked(struct dm_queue *q, enum dm_queue_name name, const char *entity,
                                struct dm_http_response *resp, struct dm_queue_msg **out,
                                struct dm_error *err)
{
    struct sb_queue *s = impl(q);
    char *props = dm_xmalloc(PROPS_MAX);
    json_t *p = NULL;
    enum dm_err e = DM_OK;
    if (!dm_http_header(resp, "BrokerProperties", props, PROPS_MAX) ||
        (p = json_loads(props, 0, NULL)) == NULL || !json_is_object(p)) {
        e = dm_error_set(err, DM_ERR_REMOTE, "service bus receive: no valid BrokerProperties");
        goto out;
    }
    const char *token = json_string_value(json_object_get(p, "LockToken"));
    const char *id = json_string_value(json_object_get(p, "MessageId"));
    int64_t seq = prop_i64(p, "SequenceNumber");
    if (token == NULL || !dm_uuid_valid(token) || seq <= 0) {
        e = dm_error_set(err, DM_ERR_REMOTE,
                         "service bus receive: BrokerProperties without LockToken/SequenceNumber");
        goto out;
    }
    struct dm_queue_msg *m = dm_queue_msg_new(name);
    m->id = dm_xstrdup(id ? id : "");
    m->body = dm_xstrdup(resp->body.data ? resp->body.data : "");
    m->lock_token = dm_xstrdup(token);
    m->delivery_count = (int)prop_i64(p, "DeliveryCount");
    m->enqueued_ms = prop_time(p, "EnqueuedTimeUtc");
    m->locked_until_ms = prop_time(p, "LockedUntilUtc");
    if (m->locked_until_ms == 0)
        m->locked_until_ms = dm_now_ms() + q->settings[name].lock_ms;
    /* The lock URL: Location when it lies under our endpoint, else the documented form. */
    char loc[2048];
    const char *base = s->ci[name].base_url;
    size_t bl = strlen(base);
    if (dm_http_header(resp, "Location", loc, sizeof(loc)) && !strncmp(loc, base, bl) &&
        loc[bl] == '/')
        m->backend_ref = dm_xstrdup(loc);
    else
        m->backend_ref = dm_xasprintf("%s/%s/messages/%" PRId64 "/%s", base, entity, seq, token);
    char reason[1024];
    if (dm_http_header(resp, "DeadLetterReason", reason, sizeof(reason)))
        m->dead_letter_reason = unquote(reason);
    *out = m;
out:
    json_decref(p);
    free(props);
    return e;
}

/* One peek-lock request on entity with a server-side wait of timeout_s. */
static enum dm_err peek_lock(struct dm_queue *q, enum dm_queue_name name, const char *entity,
                             int timeout_s, struct dm_queue_msg **out, struct dm_error *err)
{
    *out = NULL;
    if (need_conn(q, name, err) != DM_OK)
        return DM_ERR_AUTH;
    char *url = dm_xasprintf("%s/%s/messages/head?timeout=%d", impl(q)->ci[name].base_url, entity,
                             timeout_s);
    struct call c = {.method = "POST", .url = url, .timeout_ms = (long)timeout_s * 1000 + 15000};
    struct dm_http_response resp;
    enum dm_err e = http_call(q, name, &c, &resp, err);
    if (e == DM_OK) {
        if (resp.status == 201 || resp.status == 200)
            e = parse_locked(q, name, entity, &resp, out, err);
        else if (resp.status != 204)
            e = status_error(&resp, "receive", false, err);
    }
    dm_http_response_free(&resp);
    free(url);
    return e;
}

static enum dm_err sb_receive(struct dm_queue *q, enum dm_queue_name name, int wait_ms,
                              struct dm_queue_msg **out, struct dm_error *err)
{
    int64_t deadline = dm_mono_ms() + wait_ms;
    for (;;) {
        int64_t left = deadline - dm_mono_ms();
        int timeout_s = left <= 0 ? 0 : (int)((left + 999) / 1000);
        if (timeout_s > MAX_WAIT_S)
            timeout_s = MAX_WAIT_S;
        int64_t t0 = dm_mono_ms();
        enum dm_err e = peek_lock(q, name, q->settings[name].name, timeout_s, out, err);
        if (e != DM_OK || *out != NULL || timeout_s == 0 || dm_mono_ms() >= deadline)
            return e;
        /* Service Bus holds an empty receive for the whole timeout; a server that answers
         * 204 at once (an emulator, a proxy) must not make this loop spin. */
        if (dm_mono_ms() - t0 < 100)
            dm_sleep_ms(100, NULL);
    }
}

static enum dm_err settle(struct dm_queue *q, struct dm_queue_msg *m, const char *method,
                          const char *what, struct dm_http_response *keep, struct dm_error *err)
{
    if (need_conn(q, m->queue, err) != DM_OK)
        return DM_ERR_AUTH;
    const char *base = impl(q)->ci[m->queue].base_url;
    size_t bl = strlen(base);
    /* Only ever send a queue's credential to that queue's endpoint. */
    if (m->backend_ref == NULL || strncmp(m->backend_ref, base, bl) != 0 ||
        m->backend_ref[bl] != '/')
        return dm_error_set(err, DM_ERR_LOCK_LOST, "service bus %s %s: lock lost", what,
                            m->id ? m->id : "");
    struct call c = {.method = method, .url = m->backend_ref};
    struct dm_http_response resp;
    enum dm_err e = http_call(q, m->queue, &c, &resp, err);
    if (e == DM_OK && (resp.status < 200 || resp.status >= 300))
        e = status_error(&resp, what, true, err);
    if (e == DM_OK && keep) {
        *keep = resp;
        return DM_OK;
    }
    dm_http_response_free(&resp);
    return e;
}

static enum dm_err sb_complete(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    return settle(q, m, "DELETE", "complete", NULL, err);
}

static enum dm_err sb_abandon(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    return settle(q, m, "PUT", "abandon", NULL, err);
}

static enum dm_err sb_dead_letter(struct dm_queue *q, struct dm_queue_msg *m, const char *reason,
                                  struct dm_error *err)
{
    /* No REST dead-letter: unlock, so that Service Bus dead-letters it itself after
     * MaxDeliveryCount (servicebus.h explains why). */
    dm_warn(NULL,
            "service bus %s: message %s rejected (delivery %d of %d): %s; unlocked so that "
            "Service Bus dead-letters it after max delivery",
            q->settings[m->queue].name, m->id ? m->id : "", m->delivery_count,
            q->settings[m->queue].max_delivery, reason);
    return settle(q, m, "PUT", "dead-letter", NULL, err);
}

static enum dm_err sb_renew(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    struct dm_http_response resp;
    enum dm_err e = settle(q, m, "POST", "renew", &resp, err);
    if (e != DM_OK)
        return e;
    int64_t until = 0;
    char *props = dm_xmalloc(PROPS_MAX);
    if (dm_http_header(&resp, "BrokerProperties", props, PROPS_MAX)) {
        json_t *p = json_loads(props, 0, NULL);
        until = p ? prop_time(p, "LockedUntilUtc") : 0;
        json_decref(p);
    }
    free(props);
    dm_http_response_free(&resp);
    m->locked_until_ms = until ? until : dm_now_ms() + q->settings[m->queue].lock_ms;
    return DM_OK;
}

/* ---- inspection -------------------------------------------------------------------------------
 */

/* The number inside <Tag>N</Tag> or <ns:Tag>N</ns:Tag>; -1 when absent. */
static int64_t xml_count(const char *xml, const char *tag)
{
    size_t tl = strlen(tag);
    for (const char *p = xml; (p = strstr(p, tag)) != NULL; p += tl) {
        char before = p > xml ? p[-1] : '\0';
        if ((before != '<' && before != ':') || p[tl] != '>')
            continue;
        /* An opening tag is followed by the digits and the closing tag's '<'; a closing
         * tag is not followed by digits, so it never matches. */
        const char *v = p + tl + 1;
        size_t dl = strspn(v, "0123456789");
        if (dl == 0 || dl > 18 || v[dl] != '<')
            continue;
        char num[20];
        memcpy(num, v, dl);
        num[dl] = '\0';
        int64_t n = 0;
        if (dm_parse_i64(num, 0, INT64_MAX, &n) == DM_OK)
            return n;
    }
    return -1;
}

enum dm_err dm_sb_parse_description(const char *xml, struct dm_queue_stats *out)
{
    memset(out, 0, sizeof(*out));
    int64_t active = xml_count(xml, "ActiveMessageCount");
    int64_t total = xml_count(xml, "MessageCount");
    int64_t dead = xml_count(xml, "DeadLetterMessageCount");
    int64_t sched = xml_count(xml, "ScheduledMessageCount");
    if (active < 0 && total < 0)
        return DM_ERR_INVALID;
    out->active = active >= 0 ? active : total;
    out->dead_letter = dead > 0 ? dead : 0;
    out->scheduled = sched > 0 ? sched : 0;
    out->oldest_age_ms = 0; /* not available over REST */
    return DM_OK;
}

static enum dm_err sb_stats(struct dm_queue *q, enum dm_queue_name name, struct dm_queue_stats *out,
                            struct dm_error *err)
{
    if (need_conn(q, name, err) != DM_OK)
        return DM_ERR_AUTH;
    char *url = dm_xasprintf("%s/%s?api-version=" API_VERSION, impl(q)->ci[name].base_url,
                             q->settings[name].name);
    struct call c = {.method = "GET", .url = url};
    struct dm_http_response resp;
    enum dm_err e = http_call(q, name, &c, &resp, err);
    if (e == DM_OK && resp.status != 200)
        e = status_error(&resp, "queue description", false, err);
    if (e == DM_OK && dm_sb_parse_description(resp.body.data ? resp.body.data : "", out) != DM_OK)
        e = dm_error_set(err, DM_ERR_REMOTE,
                         "service bus queue description without message counts");
    dm_http_response_free(&resp);
    free(url);
    return e;
}

static char *dlq_entity(struct dm_queue *q, enum dm_queue_name name)
{
    return dm_xasprintf("%s/$deadletterqueue", q->settings[name].name);
}

static void unlock_all(struct dm_queue *q, struct dm_queue_msg **ms, int n)
{
    for (int i = 0; i < n; i++) {
        struct dm_error err = {0};
        if (ms[i]->lock_token && settle(q, ms[i], "PUT", "unlock", NULL, &err) != DM_OK)
            dm_warn(NULL, "service bus: unlock of dead-lettered %s failed: %s", ms[i]->id,
                    err.message);
        free(ms[i]->lock_token);
        ms[i]->lock_token = NULL;
    }
}

static enum dm_err sb_dlq_list(struct dm_queue *q, enum dm_queue_name name, int max,
                               struct dm_queue_msg ***out, int *n, struct dm_error *err)
{
    char *entity = dlq_entity(q, name);
    struct dm_queue_msg **ms = dm_xcalloc((size_t)max, sizeof(struct dm_queue_msg *));
    int got = 0;
    enum dm_err e = DM_OK;
    while (got < max) {
        struct dm_queue_msg *m = NULL;
        if ((e = peek_lock(q, name, entity, DLQ_WAIT_S, &m, err)) != DM_OK || m == NULL)
            break;
        ms[got++] = m;
    }
    unlock_all(q, ms, got);
    free(entity);
    if (e != DM_OK) {
        dm_queue_msgs_free(ms, got);
        return e;
    }
    for (int i = 0; i < got; i++) {
        free(ms[i]->backend_ref); /* lock URLs are meaningless once unlocked */
        ms[i]->backend_ref = NULL;
        if (ms[i]->dead_letter_reason == NULL)
            ms[i]->dead_letter_reason = dm_xstrdup("");
    }
    *out = ms;
    *n = got;
    return DM_OK;
}

static enum dm_err sb_dlq_resubmit(struct dm_queue *q, enum dm_queue_name name, const char *id,
                                   int *count, struct dm_error *err)
{
    char *entity = dlq_entity(q, name);
    int cap = 64, kept = 0;
    struct dm_queue_msg **others = dm_xcalloc((size_t)cap, sizeof(struct dm_queue_msg *));
    enum dm_err e = DM_OK;
    for (int scanned = 0; scanned < RESUBMIT_SCAN; scanned++) {
        struct dm_queue_msg *m = NULL;
        if ((e = peek_lock(q, name, entity, DLQ_WAIT_S, &m, err)) != DM_OK || m == NULL)
            break;
        if (id != NULL && strcmp(m->id, id) != 0) {
            if (kept == cap) {
                cap *= 2;
                others = dm_xrealloc(others, (size_t)cap * sizeof(struct dm_queue_msg *));
            }
            others[kept++] = m;
            continue;
        }
        char newid[DM_QUEUE_MAX_ID + 1];
        if (q->settings[name].dup_window_ms > 0) {
            char suffix[24], rnd[9];
            dm_random_token(rnd, 8);
            snprintf(suffix, sizeof(suffix), ":resubmit-%s", rnd);
            snprintf(newid, sizeof(newid), "%.*s%s", (int)(DM_QUEUE_MAX_ID - strlen(suffix)), m->id,
                     suffix);
        } else {
            snprintf(newid, sizeof(newid), "%s", m->id);
        }
        struct dm_queue_out o = {.id = newid, .body = m->body};
        e = send_one(q, name, &o, err);
        if (e == DM_OK)
            e = settle(q, m, "DELETE", "complete dead-lettered", NULL, err);
        else
            unlock_all(q, &m, 1);
        dm_queue_msg_free(m);
        if (e != DM_OK)
            break;
        (*count)++;
    }
    unlock_all(q, others, kept);
    dm_queue_msgs_free(others, kept);
    free(entity);
    if (e == DM_OK && id != NULL && *count == 0)
        return dm_error_set(err, DM_ERR_NOT_FOUND, "queue: no dead-lettered message %s in %s", id,
                            q->settings[name].name);
    return e;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void sb_free(struct dm_queue *q)
{
    struct sb_queue *s = impl(q);
    if (s == NULL)
        return;
    for (int i = 0; i < DM_Q_COUNT; i++)
        free(s->token[i]);
    for (int i = 0; i < DM_Q_COUNT; i++)
        dm_sb_conn_info_free(&s->ci[i]);
    pthread_mutex_destroy(&s->mu);
    free(s);
    q->impl = NULL;
}

static const struct dm_queue_ops sb_ops = {
    .name = "servicebus",
    .send_many = sb_send_many,
    .receive = sb_receive,
    .complete = sb_complete,
    .abandon = sb_abandon,
    .dead_letter = sb_dead_letter,
    .renew = sb_renew,
    .stats = sb_stats,
    .dlq_list = sb_dlq_list,
    .dlq_resubmit = sb_dlq_resubmit,
    .free = sb_free,
};

enum dm_err dm_queue_sb_init(struct dm_queue *q, const char *namespace_cs,
                             const char *const *queue_cs, struct dm_error *err)
{
    struct sb_queue *s = dm_xcalloc(1, sizeof(*s));
    enum dm_err e = DM_OK;
    struct dm_sb_conn_info ns = {0};
    bool have_ns = namespace_cs != NULL && namespace_cs[0] != '\0';
    if (have_ns && (e = dm_sb_parse_connection_string(namespace_cs, &ns, err)) != DM_OK)
        goto out;
    for (int i = 0; i < DM_Q_COUNT; i++) {
        const char *own = queue_cs ? queue_cs[i] : NULL;
        if (own != NULL && own[0] != '\0') {
            e = dm_sb_parse_queue_connection_string(own, q->settings[i].name, &s->ci[i], err);
            if (e != DM_OK) {
                if (err) {
                    char m[sizeof(err->message)];
                    snprintf(m, sizeof(m), "%s", err->message);
                    dm_error_set(err, e, "%s: %s", dm_sb_queue_variable((enum dm_queue_name)i), m);
                }
                goto out;
            }
        } else if (have_ns) {
            /* A copy per queue: each queue's credential has one owner. */
            s->ci[i].base_url = dm_xstrdup(ns.base_url);
            s->ci[i].key_name = dm_xstrdup(ns.key_name);
            s->ci[i].key = dm_xstrdup(ns.key);
        }
    }
out:
    dm_sb_conn_info_free(&ns);
    if (e != DM_OK) {
        for (int i = 0; i < DM_Q_COUNT; i++)
            dm_sb_conn_info_free(&s->ci[i]);
        free(s);
        return e;
    }
    pthread_mutex_init(&s->mu, NULL);
    dm_http_global_init();
    q->ops = &sb_ops;
    q->impl = s;
    return DM_OK;
}
