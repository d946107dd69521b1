/*
 * test_queue_servicebus.c - the Service Bus backend against a local HTTP double (built on
 * adapters/http/server.h) that checks every request exactly - method, path, query, headers,
 * BrokerProperties, batch format and size, and the SAS signature, recomputed here with
 * OpenSSL independently of core/crypto - and answers like Service Bus: 201 with
 * BrokerProperties/Location on peek-lock, 204 when empty, 410 for a lost lock, 429/503 when
 * told to throttle, Atom XML queue descriptions, a $deadletterqueue fed by MaxDeliveryCount.
 * Any request the double does not expect is counted as an error and fails the test. The last
 * test runs the real `diamond queue stats/dlq/resubmit` with the double as its Service Bus.
 */
#include "testlib.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/http/server.h"
#include "adapters/queue/queue.h"
#include "app/adapter_opts.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"

#define KEY_NAME "RootManageSharedAccessKey"
#define KEY "c2VjcmV0LWtleS1mb3ItdGhlLWRvdWJsZQ=="
/* Queue-scoped rules: "<queue>-rule" with this key signs for <queue> only, as Service Bus
 * holds a queue's own rules on that queue. */
#define QKEY "cXVldWUtc2NvcGVkLWtleQ=="
#define MAXMSG 8192
#define LOCK_MS 60000

struct dmsg {
    char queue[32];
    int64_t seq;
    char id[200];
    char *body;
    int delivery;
    char token[40];
    int64_t locked_until;
    int64_t visible_at;
    bool dead;
    bool gone;
    char reason[64];
};

struct dbl {
    pthread_mutex_t mu;
    int port;
    const char *key;
    struct dmsg *msgs;
    int n;
    int64_t next_seq;
    int max_delivery;
    /* Scripted failures: the next requests of route `force_route` answer these statuses. */
    char force_route[16];
    int force[8];
    int nforce;
    /* What was seen. */
    int requests, errors, auth_failures;
    char last_rule[DM_Q_COUNT][64]; /* key name the last request per queue was signed with */
    int single_sends, batch_sends, receives, deletes, unlocks, renews, gets;
    size_t batch_max_bytes;
    int last_timeout;
    char last_error[512];
};

static struct dbl D;

static void put(struct dm_buf *b, const char *s)
{
    if (dm_buf_append_str(b, s) != DM_OK)
        abort();
}

static void fail_req(struct dbl *d, struct dm_http_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail_req(struct dbl *d, struct dm_http_resp *resp, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->last_error, sizeof(d->last_error), fmt, ap);
    va_end(ap);
    fprintf(stderr, "double: unexpected request: %s\n", d->last_error);
    d->errors++;
    resp->status = status;
    resp->content_type = "application/xml";
    put(&resp->body, "<Error><Code>400</Code></Error>");
}

/* ---- independent SAS check (OpenSSL, own percent-encoding) ---------------------------------- */

static void pct(const char *s, char *out, size_t size)
{
    size_t j = 0;
    for (; *s && j + 4 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            out[j++] = (char)c;
        else
            j += (size_t)snprintf(out + j, size - j, "%%%02X", c);
    }
    out[j] = '\0';
}

/* The whole Authorization value must equal the token recomputed here for this queue's
 * entity URI and the expiry it carries (about an hour ahead), signed with the namespace rule
 * or with this queue's own rule ("<queue>-rule"); *rule receives the key name used. */
static bool sas_ok(struct dbl *d, const char *auth, const char *queue, char *why, size_t wl,
                   char *rule, size_t rl)
{
    const char *se_at = auth ? strstr(auth, "&se=") : NULL;
    const char *skn_at = auth ? strstr(auth, "&skn=") : NULL;
    int64_t exp = 0;
    char se[32] = "";
    if (se_at == NULL || skn_at == NULL) {
        snprintf(why, wl, "no se or skn in Authorization");
        return false;
    }
    char own[64];
    snprintf(own, sizeof(own), "%s-rule", queue);
    const char *key_name = KEY_NAME, *key = d->key;
    if (!strcmp(skn_at + 5, own)) {
        key_name = own;
        key = QKEY;
    }
    snprintf(rule, rl, "%s", key_name);
    snprintf(se, sizeof(se), "%.*s", (int)strcspn(se_at + 4, "&"), se_at + 4);
    int64_t now = (int64_t)time(NULL);
    if (dm_parse_i64(se, 0, INT64_MAX, &exp) != DM_OK || exp < now + 600 || exp > now + 7300) {
        snprintf(why, wl, "se %s not about an hour ahead", se);
        return false;
    }
    char uri[256], sr[512];
    snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/%s", d->port, queue);
    pct(uri, sr, sizeof(sr));
    char to_sign[600];
    snprintf(to_sign, sizeof(to_sign), "%s\n%s", sr, se);
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)to_sign, strlen(to_sign), mac,
         &maclen);
    unsigned char b64[64];
    EVP_EncodeBlock(b64, mac, (int)maclen);
    char sig[128], skn[128];
    pct((const char *)b64, sig, sizeof(sig));
    pct(key_name, skn, sizeof(skn));
    char want[1024];
    snprintf(want, sizeof(want), "SharedAccessSignature sr=%s&sig=%s&se=%s&skn=%s", sr, sig, se,
             skn);
    if (strcmp(auth, want)) {
        snprintf(why, wl, "Authorization differs from the recomputed SAS token");
        return false;
    }
    return true;
}

/* ---- the double ---------------------------------------------------------------------------------
 */

static void rfc1123(int64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static bool parse_rfc1123(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end)
        return false;
    *ms = (int64_t)timegm(&tm) * 1000;
    return true;
}

static bool valid_props(struct dbl *d, json_t *p, int64_t *sched, struct dm_http_resp *resp)
{
    *sched = 0;
    if (!json_is_object(p) || !json_is_string(json_object_get(p, "MessageId")) ||
        json_integer_value(json_object_get(p, "TimeToLive")) != 86400) {
        fail_req(d, resp, 400, "BrokerProperties need MessageId and TimeToLive 86400");
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v)
    {
        if (strcmp(k, "MessageId") && strcmp(k, "TimeToLive") &&
            strcmp(k, "ScheduledEnqueueTimeUtc")) {
            fail_req(d, resp, 400, "unexpected broker property %s", k);
            return false;
        }
    }
    json_t *s = json_object_get(p, "ScheduledEnqueueTimeUtc");
    if (s && (!json_is_string(s) || !parse_rfc1123(json_string_value(s), sched))) {
        fail_req(d, resp, 400, "bad ScheduledEnqueueTimeUtc");
        return false;
    }
    return true;
}

static void add_msg(struct dbl *d, const char *queue, const char *id, const char *body, size_t len,
                    int64_t sched)
{
    if (d->n == MAXMSG)
        abort();
    struct dmsg *m = &d->msgs[d->n++];
    memset(m, 0, sizeof(*m));
    snprintf(m->queue, sizeof(m->queue), "%s", queue);
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->body = dm_xstrndup(body, len);
    m->seq = ++d->next_seq;
    m->visible_at = sched;
}

static void do_send(struct dbl *d, const char *queue, const struct dm_http_req *req,
                    struct dm_http_resp *resp)
{
    const char *ct = dm_http_req_header(req, "Content-Type");
    const char *bp = dm_http_req_header(req, "BrokerProperties");
    if (strchr(req->target, '?')) {
        fail_req(d, resp, 400, "send with a query");
        return;
    }
    if (ct && !strcmp(ct, "application/json")) {
        json_t *p = bp ? json_loads(bp, 0, NULL) : NULL;
        int64_t sched = 0;
        if (valid_props(d, p, &sched, resp)) {
            add_msg(d, queue, json_string_value(json_object_get(p, "MessageId")), req->body,
                    req->body_len, sched);
            d->single_sends++;
            resp->status = 201;
        }
        json_decref(p);
        return;
    }
    if (ct && !strcmp(ct, "application/vnd.microsoft.servicebus.json")) {
        if (bp) {
            fail_req(d, resp, 400, "batch with a BrokerProperties header");
            return;
        }
        if (req->body_len >= 256 * 1024) {
            fail_req(d, resp, 413, "batch of %zu bytes", req->body_len);
            return;
        }
        json_t *arr = json_loadb(req->body, req->body_len, 0, NULL);
        if (!json_is_array(arr) || json_array_size(arr) == 0) {
            json_decref(arr);
            fail_req(d, resp, 400, "batch is not a JSON array");
            return;
        }
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e)
        {
            int64_t sched = 0;
            json_t *b = json_object_get(e, "Body");
            if (json_object_size(e) != 2 || !json_is_string(b) ||
                !valid_props(d, json_object_get(e, "BrokerProperties"), &sched, resp)) {
                if (resp->status != 400)
                    fail_req(d, resp, 400, "bad batch entry");
                json_decref(arr);
                return;
            }
            add_msg(d, queue,
                    json_string_value(
                        json_object_get(json_object_get(e, "BrokerProperties"), "MessageId")),
                    json_string_value(b), json_string_length(b), sched);
        }
        json_decref(arr);
        d->batch_sends++;
        if (req->body_len > d->batch_max_bytes)
            d->batch_max_bytes = req->body_len;
        resp->status = 201;
        return;
    }
    fail_req(d, resp, 400, "send with Content-Type %s", ct ? ct : "(none)");
}

static void do_receive(struct dbl *d, const char *queue, bool dlq, const struct dm_http_req *req,
                       struct dm_http_resp *resp)
{
    const char *keys[4], *vals[4];
    int na = dm_http_req_args(req, keys, vals, 4);
    int t = -1;
    if (na != 1 || strcmp(keys[0], "timeout") || dm_parse_int(vals[0], 0, 55, &t) != DM_OK) {
        fail_req(d, resp, 400, "peek-lock query %s", req->target);
        return;
    }
    if (dm_http_req_header(req, "BrokerProperties")) {
        fail_req(d, resp, 400, "peek-lock with BrokerProperties");
        return;
    }
    d->last_timeout = t;
    d->receives++;
    int64_t now = dm_now_ms();
    for (int i = 0; i < d->n; i++) {
        struct dmsg *m = &d->msgs[i];
        if (strcmp(m->queue, queue) || m->gone || m->dead != dlq || m->locked_until > now ||
            m->visible_at > now)
            continue;
        if (!dlq && m->delivery >= d->max_delivery) {
            m->dead = true;
            snprintf(m->reason, sizeof(m->reason), "MaxDeliveryCountExceeded");
            continue;
        }
        m->delivery++;
        char uuid[40];
        snprintf(uuid, sizeof(uuid), "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)rand(),
                 (unsigned)rand() & 0xffff, (unsigned)rand() & 0xfff, (unsigned)rand() & 0xfff,
                 (unsigned long long)m->seq);
        snprintf(m->token, sizeof(m->token), "%s", uuid);
        m->locked_until = now + LOCK_MS;
        char until[40], enq[40];
        rfc1123(m->locked_until, until, sizeof(until));
        rfc1123(now, enq, sizeof(enq));
        json_t *p = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:s, s:i}", "DeliveryCount",
                              m->delivery, "EnqueuedTimeUtc", enq, "LockToken", m->token,
                              "LockedUntilUtc", until, "MessageId", m->id, "SequenceNumber",
                              (json_int_t)m->seq, "State", "Active", "TimeToLive", 86400);
        char *ps = json_dumps(p, JSON_COMPACT);
        json_decref(p);
        dm_http_resp_header(resp, "BrokerProperties", ps);
        free(ps);
        char loc[256];
        snprintf(loc, sizeof(loc), "http://127.0.0.1:%d/%s%s/messages/%lld/%s", d->port, queue,
                 dlq ? "/$deadletterqueue" : "", (long long)m->seq, m->token);
        dm_http_resp_header(resp, "Location", loc);
        if (dlq) {
            char r[80];
            snprintf(r, sizeof(r), "\"%s\"", m->reason);
            dm_http_resp_header(resp, "DeadLetterReason", r);
        }
        resp->status = 201;
        resp->content_type = "application/json";
        put(&resp->body, m->body);
        return;
    }
    resp->status = 204;
}

static void do_lock_op(struct dbl *d, const char *queue, bool dlq, const char *rest,
                       const struct dm_http_req *req, struct dm_http_resp *resp)
{
    long long seq = 0;
    char token[64];
    int used = 0;
    if (sscanf(rest, "%lld/%63[0-9a-f-]%n", &seq, token, &used) != 2 || rest[used] ||
        strchr(req->target, '?') || req->body_len != 0) {
        fail_req(d, resp, 400, "lock operation %s %s", req->method, req->target);
        return;
    }
    int64_t now = dm_now_ms();
    for (int i = 0; i < d->n; i++) {
        struct dmsg *m = &d->msgs[i];
        if (m->seq != seq || strcmp(m->queue, queue))
            continue;
        if (m->gone || m->dead != dlq || strcmp(m->token, token) || m->locked_until <= now) {
            resp->status = 410; /* MessageLockLost */
            return;
        }
        if (!strcmp(req->method, "DELETE")) {
            m->gone = true;
            d->deletes++;
        } else if (!strcmp(req->method, "PUT")) {
            m->locked_until = 0;
            m->token[0] = '\0';
            d->unlocks++;
        } else {
            m->locked_until = now + LOCK_MS;
            char until[40];
            rfc1123(m->locked_until, until, sizeof(until));
            char ps[128];
            snprintf(ps, sizeof(ps), "{\"LockedUntilUtc\":\"%s\"}", until);
            dm_http_resp_header(resp, "BrokerProperties", ps);
            d->renews++;
        }
        resp->status = 200;
        return;
    }
    resp->status = 404;
}

static void do_get(struct dbl *d, const char *queue, const struct dm_http_req *req,
                   struct dm_http_resp *resp)
{
    const char *keys[4], *vals[4];
    int na = dm_http_req_args(req, keys, vals, 4);
    if (na != 1 || strcmp(keys[0], "api-version") || strcmp(vals[0], "2021-05")) {
        fail_req(d, resp, 400, "queue description query %s", req->target);
        return;
    }
    d->gets++;
    int64_t now = dm_now_ms();
    long active = 0, dead = 0, sched = 0;
    for (int i = 0; i < d->n; i++) {
        struct dmsg *m = &d->msgs[i];
        if (strcmp(m->queue, queue) || m->gone)
            continue;
        if (m->dead)
            dead++;
        else if (m->visible_at > now)
            sched++;
        else
            active++;
    }
    resp->status = 200;
    resp->content_type = "application/atom+xml;type=entry;charset=utf-8";
    if (dm_buf_appendf(
            &resp->body,
            "<entry xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"text\">%s</title>"
            "<content type=\"application/xml\"><QueueDescription "
            "xmlns=\"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect\" "
            "xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">"
            "<LockDuration>PT2M</LockDuration><MaxDeliveryCount>%d</MaxDeliveryCount>"
            "<MessageCount>%ld</MessageCount><CountDetails "
            "xmlns:d2p1=\"http://schemas.microsoft.com/netservices/2011/06/servicebus\">"
            "<d2p1:ActiveMessageCount>%ld</d2p1:ActiveMessageCount>"
            "<d2p1:DeadLetterMessageCount>%ld</d2p1:DeadLetterMessageCount>"
            "<d2p1:ScheduledMessageCount>%ld</d2p1:ScheduledMessageCount>"
            "<d2p1:TransferMessageCount>0</d2p1:TransferMessageCount>"
            "</CountDetails></QueueDescription></content></entry>",
            queue, d->max_delivery, active + dead + sched, active, dead, sched) != DM_OK)
        abort();
}

static void handler(void *ctx, const struct dm_http_req *req, struct dm_http_resp *resp)
{
    struct dbl *d = ctx;
    pthread_mutex_lock(&d->mu);
    d->requests++;
    char queue[32] = "";
    const char *p = req->path + 1;
    size_t ql = strcspn(p, "/");
    if (req->path[0] != '/' || ql == 0 || ql >= sizeof(queue)) {
        fail_req(d, resp, 404, "path %s", req->path);
        goto out;
    }
    memcpy(queue, p, ql);
    queue[ql] = '\0';
    enum dm_queue_name qn;
    if (dm_queue_parse_name(queue, &qn) != DM_OK) {
        fail_req(d, resp, 404, "no queue %s", queue);
        goto out;
    }
    char why[256] = "";
    if (!sas_ok(d, dm_http_req_header(req, "Authorization"), queue, why, sizeof(why),
                d->last_rule[qn], sizeof(d->last_rule[qn]))) {
        d->auth_failures++;
        resp->status = 401;
        resp->content_type = "application/xml";
        put(&resp->body, "<Error><Code>401</Code><Detail>InvalidSignature"
                         "</Detail></Error>");
        goto out;
    }
    const char *rest = p + ql;
    bool dlq = false;
    if (!strncmp(rest, "/$deadletterqueue", 17)) {
        dlq = true;
        rest += 17;
    }
    const char *route = !strcmp(rest, "/messages")         ? "send"
                        : !strcmp(rest, "/messages/head")  ? "receive"
                        : !strncmp(rest, "/messages/", 10) ? "lock"
                        : rest[0] == '\0'                  ? "describe"
                                                           : "?";
    if (d->nforce > 0 && !strcmp(route, d->force_route)) {
        resp->status = d->force[0];
        memmove(d->force, d->force + 1, sizeof(d->force[0]) * (size_t)(--d->nforce));
        if (resp->status == 429)
            dm_http_resp_header(resp, "Retry-After", "0");
        resp->content_type = "application/xml";
        put(&resp->body, "<Error><Code>Throttled</Code></Error>");
        goto out;
    }
    if (!strcmp(route, "send") && !strcmp(req->method, "POST") && !dlq)
        do_send(d, queue, req, resp);
    else if (!strcmp(route, "receive") && !strcmp(req->method, "POST"))
        do_receive(d, queue, dlq, req, resp);
    else if (!strcmp(route, "lock") &&
             (!strcmp(req->method, "DELETE") || !strcmp(req->method, "PUT") ||
              !strcmp(req->method, "POST")))
        do_lock_op(d, queue, dlq, rest + 10, req, resp);
    else if (!strcmp(route, "describe") && !strcmp(req->method, "GET") && !dlq)
        do_get(d, queue, req, resp);
    else
        fail_req(d, resp, 405, "%s %s", req->method, req->target);
out:
    pthread_mutex_unlock(&d->mu);
}

static void force(const char *route, int n, const int *statuses)
{
    pthread_mutex_lock(&D.mu);
    snprintf(D.force_route, sizeof(D.force_route), "%s", route);
    memcpy(D.force, statuses, sizeof(int) * (size_t)n);
    D.nforce = n;
    pthread_mutex_unlock(&D.mu);
}

/* ---- fixture -------------------------------------------------------------------------------- */

struct fx {
    struct dm_http_server *srv;
    struct dm_queue *q;
};

static struct dm_queue *open_sb(const char *key)
{
    char cs[256];
    snprintf(cs, sizeof(cs),
             "Endpoint=http://127.0.0.1:%d/;SharedAccessKeyName=" KEY_NAME ";SharedAccessKey=%s",
             D.port, key);
    struct dm_queue *q = NULL;
    struct dm_error err = {0};
    if (dm_queue_open_servicebus(cs, NULL, &q, &err) != DM_OK) {
        fprintf(stderr, "open: %s\n", err.message);
        abort();
    }
    return q;
}

static int setup(void **state)
{
    for (int i = 0; i < D.n; i++)
        free(D.msgs[i].body);
    free(D.msgs);
    pthread_mutex_destroy(&D.mu);
    memset(&D, 0, sizeof(D));
    pthread_mutex_init(&D.mu, NULL);
    D.msgs = calloc(MAXMSG, sizeof(struct dmsg));
    D.key = KEY;
    D.max_delivery = 5;
    struct fx *f = calloc(1, sizeof(*f));
    struct dm_http_server_opts o = {
        .port = 0, .threads = 4, .max_body = 1 << 20, .handler = handler, .ctx = &D};
    struct dm_error err = {0};
    if (dm_http_server_start(&o, &f->srv, &err) != DM_OK) {
        fprintf(stderr, "server: %s\n", err.message);
        abort();
    }
    D.port = dm_http_server_port(f->srv);
    f->q = open_sb(KEY);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    dm_queue_free(f->q);
    dm_http_server_stop(f->srv);
    free(f);
    for (int i = 0; i < D.n; i++)
        free(D.msgs[i].body);
    D.n = 0;
    return 0;
}

static void no_unexpected_requests(void)
{
    if (D.errors)
        fprintf(stderr, "last unexpected request: %s\n", D.last_error);
    assert_int_equal(D.errors, 0);
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void test_open_selects_backend(void **state)
{
    struct fx *f = *state;
    assert_string_equal(dm_queue_backend_name(f->q), "servicebus");
    struct dm_config cfg = {0};
    char cs[200];
    snprintf(cs, sizeof(cs),
             "Endpoint=http://127.0.0.1:%d/;SharedAccessKeyName=" KEY_NAME ";SharedAccessKey=" KEY,
             D.port);
    cfg.azure_service_bus_connection_string = cs;
    cfg.queue_backend = "servicebus";
    struct dm_queue *q = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_app_queue_open(&cfg, NULL, &q, &err), DM_OK);
    assert_string_equal(dm_queue_backend_name(q), "servicebus");
    dm_queue_free(q);
    cfg.azure_service_bus_connection_string = "Endpoint=sb://x/;SharedAccessKeyName=a";
    assert_int_equal(dm_app_queue_open(&cfg, NULL, &q, &err), DM_ERR_INVALID);
    assert_null(q);
}

static void test_send_receive_complete(void **state)
{
    struct fx *f = *state;
    struct dm_error err = {0};
    struct dm_queue_out m = {.id = "run-1:p-1:0", .body = "{\"type\":\"WORK_ITEM\",\"n\":1}"};
    assert_int_equal(dm_queue_send(f->q, DM_Q_WORK_ITEMS, &m, &err), DM_OK);
    assert_int_equal(D.single_sends, 1);
    assert_string_equal(D.msgs[0].id, "run-1:p-1:0");
    assert_string_equal(D.msgs[0].body, m.body);
    struct dm_queue_msg *r = NULL;
    assert_int_equal(dm_queue_receive(f->q, DM_Q_WORK_ITEMS, 2500, &r, &err), DM_OK);
    assert_non_null(r);
    assert_int_equal(D.last_timeout, 3); /* ceil(2.5 s) */
    assert_string_equal(r->id, "run-1:p-1:0");
    assert_string_equal(r->body, m.body);
    assert_int_equal(r->delivery_count, 1);
    assert_string_equal(r->lock_token, D.msgs[0].token);
    assert_true(r->locked_until_ms > dm_now_ms() + LOCK_MS - 5000);
    char loc[128];
    snprintf(loc, sizeof(loc), "http://127.0.0.1:%d/work-items/messages/1/%s", D.port,
             D.msgs[0].token);
    assert_string_equal(r->backend_ref, loc);
    /* Locked: nothing else to receive (204), with timeout 0 for a non-waiting receive. */
    struct dm_queue_msg *none = NULL;
    assert_int_equal(dm_queue_receive(f->q, DM_Q_WORK_ITEMS, 0, &none, &err), DM_OK);
    assert_null(none);
    assert_int_equal(D.last_timeout, 0);
    /* A waiting receive against a server that answers 204 at once does not spin. */
    int before = D.receives;
    int64_t t0 = dm_mono_ms();
    assert_int_equal(dm_queue_receive(f->q, DM_Q_WORK_ITEMS, 1000, &none, &err), DM_OK);
    assert_null(none);
    assert_true(dm_mono_ms() - t0 >= 990);
    assert_true(D.receives - before <= 12);
    assert_int_equal(dm_queue_renew(f->q, r, &err), DM_OK);
    assert_int_equal(D.renews, 1);
    assert_int_equal(dm_queue_complete(f->q, r, &err), DM_OK);
    assert_int_equal(D.deletes, 1);
    assert_true(D.msgs[0].gone);
    /* Completing again: 410 from Service Bus is a lost lock. */
    assert_int_equal(dm_queue_complete(f->q, r, &err), DM_ERR_LOCK_LOST);
    assert_int_equal(err.status, 410);
    dm_queue_msg_free(r);
    no_unexpected_requests();
}

static void test_scheduled_and_stats(void **state)
{
    struct fx *f = *state;
    struct dm_error err = {0};
    int64_t due = dm_now_ms() + 3600 * 1000;
    struct dm_queue_out m = {.id = "consolidate:r1", .body = "{}", .scheduled_ms = due};
    assert_int_equal(dm_queue_send(f->q, DM_Q_CONSOLIDATE, &m, &err), DM_OK);
    assert_int_equal(D.msgs[0].visible_at, (due / 1000) * 1000);
    struct dm_queue_out now = {.id = "consolidate:r2", .body = "{}"};
    assert_int_equal(dm_queue_send(f->q, DM_Q_CONSOLIDATE, &now, &err), DM_OK);
    struct dm_queue_stats st;
    assert_int_equal(dm_queue_stats(f->q, DM_Q_CONSOLIDATE, &st, &err), DM_OK);
    assert_int_equal(st.active, 1);
    assert_int_equal(st.scheduled, 1);
    assert_int_equal(st.dead_letter, 0);
    assert_int_equal(st.oldest_age_ms, 0);
    assert_int_equal(D.gets, 1);
    no_unexpected_requests();
}

static void test_batches_never_drop(void **state)
{
    struct fx *f = *state;
    enum { N = 3000 };
    struct dm_queue_out *msgs = calloc(N, sizeof(*msgs));
    char(*ids)[32] = calloc(N, sizeof(*ids));
    char *body = malloc(1001);
    memset(body, 'a', 1000);
    body[0] = '"'; /* needs escaping inside the batch's JSON string */
    body[1000] = '\0';
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "run:p%d:0", i);
        msgs[i].id = ids[i];
        msgs[i].body = body;
    }
    msgs[1500].body = "\xff\xfe not utf-8"; /* goes alone, raw */
    char *big = malloc(DM_QUEUE_MAX_BODY + 1);
    memset(big, 'b', DM_QUEUE_MAX_BODY);
    big[DM_QUEUE_MAX_BODY] = '\0';
    msgs[2000].body = big; /* too big for a batch entry: alone too */
    struct dm_error err = {0};
    assert_int_equal(dm_queue_send_many(f->q, DM_Q_WORK_ITEMS, msgs, N, &err), DM_OK);
    assert_int_equal(D.n, N);
    for (int i = 0; i < N; i++) {
        assert_string_equal(D.msgs[i].id, ids[i]);
        assert_string_equal(D.msgs[i].body, msgs[i].body);
    }
    assert_int_equal(D.single_sends, 2);
    assert_true(D.batch_sends >= 12);
    assert_true(D.batch_max_bytes < 256 * 1024);
    assert_true(D.batch_max_bytes > 150 * 1024); /* batches are filled, not tiny */
    free(msgs);
    free(ids);
    free(body);
    free(big);
    no_unexpected_requests();
}

static void test_throttling_and_errors(void **state)
{
    struct fx *f = *state;
    struct dm_error err = {0};
    /* A send throttled twice is retried and lands once. */
    force("send", 2, (int[]){429, 503});
    struct dm_queue_out m = {.id = "wd:1", .body = "{}"};
    assert_int_equal(dm_queue_send(f->q, DM_Q_WORK_DONE, &m, &err), DM_OK);
    assert_int_equal(D.requests, 3);
    assert_int_equal(D.n, 1);
    /* Persistent throttling: the error comes back after the retries. */
    force("send", 4, (int[]){429, 429, 429, 429});
    assert_int_equal(dm_queue_send(f->q, DM_Q_WORK_DONE, &m, &err), DM_ERR_RATE_LIMITED);
    assert_int_equal(D.n, 1);
    /* Receive: 429 and 503 reported as such (the caller backs off). */
    struct dm_queue_msg *r = NULL;
    force("receive", 1, (int[]){429});
    assert_int_equal(dm_queue_receive(f->q, DM_Q_WORK_DONE, 0, &r, &err), DM_ERR_RATE_LIMITED);
    assert_int_equal(err.status, 429);
    force("receive", 1, (int[]){503});
    assert_int_equal(dm_queue_receive(f->q, DM_Q_WORK_DONE, 0, &r, &err), DM_ERR_REMOTE);
    assert_int_equal(dm_queue_receive(f->q, DM_Q_WORK_DONE, 0, &r, &err), DM_OK);
    assert_non_null(r);
    force("lock", 1, (int[]){503});
    assert_int_equal(dm_queue_complete(f->q, r, &err), DM_ERR_REMOTE);
    force("lock", 1, (int[]){404});
    assert_int_equal(dm_queue_complete(f->q, r, &err), DM_ERR_LOCK_LOST);
    /* The lock runs out on the server: 410 -> lock lost for every settle operation. */
    pthread_mutex_lock(&D.mu);
    D.msgs[0].locked_until = dm_now_ms() - 1;
    pthread_mutex_unlock(&D.mu);
    assert_int_equal(dm_queue_complete(f->q, r, &err), DM_ERR_LOCK_LOST);
    assert_int_equal(dm_queue_abandon(f->q, r, &err), DM_ERR_LOCK_LOST);
    assert_int_equal(dm_queue_renew(f->q, r, &err), DM_ERR_LOCK_LOST);
    assert_int_equal(dm_queue_dead_letter(f->q, r, "x", &err), DM_ERR_LOCK_LOST);
    /* A lock URL that is not under our endpoint never gets our credentials. */
    free(r->backend_ref);
    r->backend_ref = strdup("http://evil.example/work-done/messages/1/x");
    int before = D.requests;
    assert_int_equal(dm_queue_complete(f->q, r, &err), DM_ERR_LOCK_LOST);
    assert_int_equal(D.requests, before);
    dm_queue_msg_free(r);
    /* A wrong key is refused by the signature check: DM_ERR_AUTH. */
    struct dm_queue *bad = open_sb("d3Jvbmcta2V5");
    assert_int_equal(dm_queue_receive(bad, DM_Q_WORK_DONE, 0, &r, &err), DM_ERR_AUTH);
    assert_int_equal(D.auth_failures, 1);
    dm_queue_free(bad);
    no_unexpected_requests();
}

static void test_dead_letter_dlq_resubmit(void **state)
{
    struct fx *f = *state;
    struct dm_error err = {0};
    struct dm_queue_out m = {.id = "run:bad:0", .body = "{\"type\":"};
    assert_int_equal(dm_queue_send(f->q, DM_Q_WORK_ITEMS, &m, &err), DM_OK);
    /* The consumer rejects the poison message each time: unlocked until Service Bus
     * dead-letters it after MaxDeliveryCount (5). */
    int deliveries = 0;
    for (;;) {
        struct dm_queue_msg *r = NULL;
        assert_int_equal(dm_queue_receive(f->q, DM_Q_WORK_ITEMS, 0, &r, &err), DM_OK);
        if (r == NULL)
            break;
        deliveries++;
        assert_string_equal(r->id, "run:bad:0");
        assert_int_equal(r->delivery_count, deliveries);
        assert_int_equal(dm_queue_dead_letter(f->q, r, "InvalidMessage: bad JSON", &err), DM_OK);
        dm_queue_msg_free(r);
        assert_true(deliveries <= 5);
    }
    assert_int_equal(deliveries, 5);
    struct dm_queue_stats st;
    assert_int_equal(dm_queue_stats(f->q, DM_Q_WORK_ITEMS, &st, &err), DM_OK);
    assert_int_equal(st.dead_letter, 1);
    struct dm_queue_msg **ms = NULL;
    int n = 0;
    assert_int_equal(dm_queue_dlq_list(f->q, DM_Q_WORK_ITEMS, 10, &ms, &n, &err), DM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ms[0]->id, "run:bad:0");
    assert_string_equal(ms[0]->dead_letter_reason, "MaxDeliveryCountExceeded");
    assert_string_equal(ms[0]->body, "{\"type\":");
    dm_queue_msgs_free(ms, n);
    /* Listing left it in the DLQ, unlocked. */
    assert_true(D.msgs[0].dead && !D.msgs[0].gone && D.msgs[0].locked_until == 0);
    int count = 0;
    assert_int_equal(dm_queue_dlq_resubmit(f->q, DM_Q_WORK_ITEMS, "nope", &count, &err),
                     DM_ERR_NOT_FOUND);
    assert_true(D.msgs[0].dead && !D.msgs[0].gone && D.msgs[0].locked_until == 0);
    assert_int_equal(dm_queue_dlq_resubmit(f->q, DM_Q_WORK_ITEMS, "run:bad:0", &count, &err),
                     DM_OK);
    assert_int_equal(count, 1);
    assert_true(D.msgs[0].gone);
    /* The copy carries a suffixed id (work-items' duplicate window would swallow the same id). */
    struct dmsg *copy = &D.msgs[D.n - 1];
    assert_false(copy->dead);
    assert_int_equal(strncmp(copy->id, "run:bad:0:resubmit-", 19), 0);
    assert_string_equal(copy->body, "{\"type\":");
    no_unexpected_requests();
}

/* Least privilege (issue 15 item 18): a queue signs with its own queue-scoped rule when it has
 * one (AZURE_SERVICE_BUS_CONNECTION_STRING_<QUEUE>, EntityPath = the queue), else with the
 * namespace rule; a queue with neither is refused before any request; a string whose
 * EntityPath names another queue is refused when the queue opens. */
static void test_queue_scoped_credentials(void **state)
{
    (void)state;
    char wi[256], co[256], ns[256], wi_bare[256];
    snprintf(wi, sizeof(wi),
             "Endpoint=http://127.0.0.1:%d/;SharedAccessKeyName=work-items-rule;"
             "SharedAccessKey=" QKEY ";EntityPath=work-items",
             D.port);
    snprintf(co, sizeof(co),
             "Endpoint=http://127.0.0.1:%d/;SharedAccessKeyName=consolidate-rule;"
             "SharedAccessKey=" QKEY ";EntityPath=consolidate",
             D.port);
    snprintf(ns, sizeof(ns),
             "Endpoint=http://127.0.0.1:%d/;SharedAccessKeyName=" KEY_NAME ";SharedAccessKey=" KEY,
             D.port);
    snprintf(wi_bare, sizeof(wi_bare),
             "Endpoint=http://127.0.0.1:%d/;SharedAccessKeyName=work-items-rule;"
             "SharedAccessKey=" QKEY,
             D.port);
    struct dm_error err = {0};
    struct dm_queue *q = NULL;

    /* Per-queue strings only (the worker-style app without any namespace rule). */
    const char *per[DM_Q_COUNT] = {[DM_Q_WORK_ITEMS] = wi, [DM_Q_CONSOLIDATE] = co};
    assert_int_equal(dm_queue_open_servicebus_scoped(NULL, per, NULL, &q, &err), DM_OK);
    struct dm_queue_out m = {.id = "run-9:p-1:0", .body = "{\"type\":\"WORK_ITEM\"}"};
    assert_int_equal(dm_queue_send(q, DM_Q_WORK_ITEMS, &m, &err), DM_OK);
    assert_string_equal(D.last_rule[DM_Q_WORK_ITEMS], "work-items-rule");
    struct dm_queue_msg *r = NULL;
    assert_int_equal(dm_queue_receive(q, DM_Q_WORK_ITEMS, 0, &r, &err), DM_OK);
    assert_non_null(r);
    assert_int_equal(dm_queue_complete(q, r, &err), DM_OK);
    dm_queue_msg_free(r);
    struct dm_queue_out c = {.id = "consolidate:run-9", .body = "{}"};
    assert_int_equal(dm_queue_send(q, DM_Q_CONSOLIDATE, &c, &err), DM_OK);
    assert_string_equal(D.last_rule[DM_Q_CONSOLIDATE], "consolidate-rule");
    assert_int_equal(D.auth_failures, 0);
    /* work-done: no credential here, so nothing is sent anywhere. */
    int before = D.requests;
    struct dm_queue_out wd = {.id = "work-done:run-9:p-1:success", .body = "{}"};
    assert_int_equal(dm_queue_send(q, DM_Q_WORK_DONE, &wd, &err), DM_ERR_AUTH);
    assert_non_null(strstr(err.message, "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE"));
    assert_int_equal(dm_queue_receive(q, DM_Q_WORK_DONE, 0, &r, &err), DM_ERR_AUTH);
    struct dm_queue_stats st;
    assert_int_equal(dm_queue_stats(q, DM_Q_WORK_DONE, &st, &err), DM_ERR_AUTH);
    assert_int_equal(D.requests, before);
    dm_queue_free(q);

    /* Through the configuration, beside the namespace string: work-done falls back to it. */
    struct dm_config cfg = {0};
    cfg.azure_service_bus_connection_string = ns;
    cfg.azure_service_bus_connection_string_work_items = wi;
    assert_int_equal(dm_app_queue_open(&cfg, NULL, &q, &err), DM_OK);
    assert_string_equal(dm_queue_backend_name(q), "servicebus");
    assert_int_equal(dm_queue_send(q, DM_Q_WORK_DONE, &wd, &err), DM_OK);
    assert_string_equal(D.last_rule[DM_Q_WORK_DONE], KEY_NAME);
    m.id = "run-9:p-2:0";
    assert_int_equal(dm_queue_send(q, DM_Q_WORK_ITEMS, &m, &err), DM_OK);
    assert_string_equal(D.last_rule[DM_Q_WORK_ITEMS], "work-items-rule");
    dm_queue_free(q);
    /* A per-queue string alone selects Service Bus. */
    cfg.azure_service_bus_connection_string = NULL;
    assert_int_equal(dm_app_queue_open(&cfg, NULL, &q, &err), DM_OK);
    assert_string_equal(dm_queue_backend_name(q), "servicebus");
    dm_queue_free(q);

    /* work-items' rule given for work-done: its EntityPath refuses it, naming the variable and
     * never the key. */
    const char *swapped[DM_Q_COUNT] = {[DM_Q_WORK_DONE] = wi};
    q = NULL;
    assert_int_equal(dm_queue_open_servicebus_scoped(ns, swapped, NULL, &q, &err), DM_ERR_INVALID);
    assert_null(q);
    assert_non_null(strstr(err.message, "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE"));
    assert_non_null(strstr(err.message, "EntityPath"));
    assert_null(strstr(err.message, QKEY));
    /* Without EntityPath it opens, and Service Bus (here the double) refuses the foreign rule. */
    const char *bare[DM_Q_COUNT] = {[DM_Q_CONSOLIDATE] = wi_bare};
    assert_int_equal(dm_queue_open_servicebus_scoped(NULL, bare, NULL, &q, &err), DM_OK);
    assert_int_equal(dm_queue_send(q, DM_Q_CONSOLIDATE, &c, &err), DM_ERR_AUTH);
    assert_int_equal(D.auth_failures, 1);
    dm_queue_free(q);
    no_unexpected_requests();
}

/* Run the real binary with the double as its Service Bus; return its stdout (malloc'd). */
static char *run_cli(const char *db_url, const char *args, int *status)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "DATABASE_URL='%s' LOG_LEVEL=error QUEUE_BACKEND=servicebus "
             "AZURE_SERVICE_BUS_CONNECTION_STRING='Endpoint=http://127.0.0.1:%d/;"
             "SharedAccessKeyName=" KEY_NAME ";SharedAccessKey=" KEY "' '%s' queue %s",
             db_url, D.port, dm_test_bin(), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    struct dm_buf out;
    dm_buf_init(&out, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        assert_int_equal(dm_buf_append(&out, chunk, n), DM_OK);
    *status = pclose(p);
    char *s = dm_buf_steal(&out);
    return s ? s : strdup("");
}

static void test_cli_on_servicebus(void **state)
{
    struct fx *f = *state;
    char *db = dm_test_new_db("queue_sb_cli");
    struct dm_error err = {0};
    struct dm_queue_out m = {.id = "consolidate:run-7", .body = "{\"type\":\"CONSOLIDATE\"}"};
    assert_int_equal(dm_queue_send(f->q, DM_Q_CONSOLIDATE, &m, &err), DM_OK);
    pthread_mutex_lock(&D.mu);
    D.msgs[0].dead = true;
    snprintf(D.msgs[0].reason, sizeof(D.msgs[0].reason), "MaxDeliveryCountExceeded");
    pthread_mutex_unlock(&D.mu);
    int st = 0;
    char *out = run_cli(db, "stats", &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "consolidate"));
    assert_non_null(strstr(out, "DEAD-LETTER"));
    /* consolidate: 0 active, 0 scheduled, 1 dead-lettered, no age over REST. */
    const char *row = strstr(out, "\nconsolidate");
    assert_non_null(row);
    long a = -1, sc = -1, dl = -1;
    assert_int_equal(sscanf(row, "\nconsolidate %ld %ld %ld", &a, &sc, &dl), 3);
    assert_int_equal(a, 0);
    assert_int_equal(sc, 0);
    assert_int_equal(dl, 1);
    free(out);
    out = run_cli(db, "dlq consolidate", &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "consolidate:run-7"));
    assert_non_null(strstr(out, "MaxDeliveryCountExceeded"));
    assert_non_null(strstr(out, "{\"type\":\"CONSOLIDATE\"}"));
    free(out);
    out = run_cli(db, "resubmit consolidate --all", &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "resubmitted 1 message to consolidate"));
    free(out);
    /* Completed in the DLQ, the copy (same id: consolidate has no duplicate window) active. */
    assert_true(D.msgs[0].gone);
    assert_string_equal(D.msgs[D.n - 1].id, "consolidate:run-7");
    assert_false(D.msgs[D.n - 1].dead);
    free(db);
    no_unexpected_requests();
}

int main(void)
{
    dm_log_init("test", DM_LOG_ERROR);
    pthread_mutex_init(&D.mu, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_selects_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_receive_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduled_and_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_never_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttling_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_dlq_resubmit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_on_servicebus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_scoped_credentials, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(D.msgs);
    pthread_mutex_destroy(&D.mu);
    return rc;
}
