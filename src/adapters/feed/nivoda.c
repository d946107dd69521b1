/*
 * nivoda.c - the Nivoda GraphQL client (feed.md §1) over adapters/http/client.h: a token cache
 * with one authentication in flight (mutex + condvar), a process-wide token bucket, retries with
 * exponential back-off and jitter for transient failures, and classified errors for the rest.
 * Tokens and credentials only ever travel in request bodies; nothing here logs them.
 */
#include "adapters/feed/nivoda.h"
#include "domain/messages.h"
#include "domain/shapes.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "adapters/http/client.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/num.h"
#include "core/signals.h"
#include "core/timeutil.h"

#define TOKEN_MAX 4096
#define DEFAULT_MAX_RESPONSE (4u << 20)        /* a search page */
#define DEFAULT_MAX_SMALL_RESPONSE (64u << 10) /* authenticate, count, hold, order */
/* More values than this in one response and it is refused before jansson allocates them (a
 * jansson value costs ~70 bytes: a few MB of "[0,0,...]" would cost hundreds of MB). */
#define MAX_RESPONSE_VALUES 200000
#define REFRESH_MARGIN_MS (5LL * 60 * 1000)

static const char *const q_auth =
    "query ($username: String!, $password: String!) { authenticate { "
    "username_and_password(username: $username, password: $password) { token } } }";

static const char *const q_count =
    "query ($token: String!, $query: DiamondQuery) { as(token: $token) { "
    "diamonds_by_query_count(query: $query) } }";

#define ITEM_FIELDS                                                                                \
    "id price discount diamond_price markup_price markup_discount "                                \
    "diamond { id availability HoldId NivodaStockId supplierStockId image video eyeClean "         \
    "brown green blue gray milky bowtie mine_of_origin supplier_video_link approval_type "         \
    "final_price show_measurements show_certificate_number return_window CertificateType "         \
    "delivery_time { express_timeline_applicable min_business_days max_business_days } "           \
    "certificate { id lab certNumber pdfUrl shape fullShape carats clarity cut polish "            \
    "symmetry color length width depth depthPercentage table crownAngle crownHeight pavAngle "     \
    "pavHeight pavDepth floInt floCol verified labgrown labgrown_type treated girdle culetSize "   \
    "girdleCondition culet_condition cut_style keyToSymbols comments } "                           \
    "supplier { id name legal_name } }"

static const char *const q_search =
    "query ($token: String!, $query: DiamondQuery, $offset: Int, $limit: Int) { as(token: "
    "$token) { diamonds_by_query(query: $query, offset: $offset, limit: $limit, order: {type: "
    "createdAt, direction: ASC}) { total_count items { " ITEM_FIELDS " } } } }";

static const char *const q_hold =
    "mutation ($token: String!, $offerId: ID!) { as(token: $token) { "
    "create_hold(product_id: $offerId, product_type: Diamond) { id denied until } } }";

static const char *const q_order =
    "mutation ($token: String!, $items: [OrderItemInput!]!) { as(token: $token) { "
    "create_order(items: $items) } }";

/* ---- process-wide token bucket ---------------------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    double rate;   /* tokens per second */
    double cap;    /* burst */
    double tokens; /* may go negative: reservations waiting their turn */
    int64_t last_ms;
} bucket = {.mu = PTHREAD_MUTEX_INITIALIZER, .rate = 25, .cap = 2.5, .tokens = 2.5};

static void bucket_configure(double rps)
{
    if (!(rps > 0))
        rps = 25;
    pthread_mutex_lock(&bucket.mu);
    bucket.rate = rps;
    bucket.cap = rps / 10.0 < 1.0 ? 1.0 : rps / 10.0;
    if (bucket.tokens > bucket.cap)
        bucket.tokens = bucket.cap;
    pthread_mutex_unlock(&bucket.mu);
}

/* Reserve one request slot and sleep until it is ours. Reservations are ordered, so many
 * threads waiting together still leave at the configured rate. */
static void bucket_take(void)
{
    pthread_mutex_lock(&bucket.mu);
    int64_t now = dm_mono_ms();
    if (bucket.last_ms == 0)
        bucket.last_ms = now;
    bucket.tokens += (double)(now - bucket.last_ms) * bucket.rate / 1000.0;
    if (bucket.tokens > bucket.cap)
        bucket.tokens = bucket.cap;
    bucket.last_ms = now;
    bucket.tokens -= 1.0;
    double wait_ms = bucket.tokens < 0 ? -bucket.tokens * 1000.0 / bucket.rate : 0;
    pthread_mutex_unlock(&bucket.mu);
    if (wait_ms > 0)
        dm_sleep_ms((int64_t)ceil(wait_ms), NULL);
}

/* ---- the client ------------------------------------------------------------------------- */

/* The token cache, shared by every client of the process with the same endpoint and
 * credentials, so that one process authenticates once however many clients and threads ask. */
struct tokcache {
    struct tokcache *next;
    char key[DM_SHA256_HEX_LEN]; /* sha256(endpoint, username, password) */
    int refs;                    /* under reg_mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char token[TOKEN_MAX];    /* "" = none */
    int64_t token_expires_ms; /* monotonic: renew from here on */
    bool auth_in_flight;
    uint64_t auth_gen; /* bumps when an authentication finishes */
    enum dm_err auth_err;
    char auth_msg[256];
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tokcache *reg_head;

static struct tokcache *tokcache_get(const char *endpoint, const char *user, const char *pass)
{
    struct dm_buf k;
    dm_buf_init(&k, 1u << 20);
    if (dm_buf_append(&k, endpoint, strlen(endpoint) + 1) != DM_OK ||
        dm_buf_append(&k, user, strlen(user) + 1) != DM_OK ||
        dm_buf_append(&k, pass, strlen(pass)) != DM_OK)
        dm_buf_reset(&k); /* absurdly long settings: key on nothing rather than fail */
    char key[DM_SHA256_HEX_LEN];
    dm_sha256_hex(k.data ? k.data : "", k.len, key);
    if (k.data)
        explicit_bzero(k.data, k.len);
    dm_buf_free(&k);
    pthread_mutex_lock(&reg_mu);
    struct tokcache *t = reg_head;
    while (t && strcmp(t->key, key) != 0)
        t = t->next;
    if (t == NULL) {
        t = dm_xcalloc(1, sizeof(*t));
        memcpy(t->key, key, sizeof(key));
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->cv, NULL);
        t->next = reg_head;
        reg_head = t;
    }
    t->refs++;
    pthread_mutex_unlock(&reg_mu);
    return t;
}

static void tokcache_put(struct tokcache *t)
{
    pthread_mutex_lock(&reg_mu);
    if (--t->refs == 0) {
        struct tokcache **pp = &reg_head;
        while (*pp != t)
            pp = &(*pp)->next;
        *pp = t->next;
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
        explicit_bzero(t->token, sizeof(t->token));
        free(t);
    }
    pthread_mutex_unlock(&reg_mu);
}

struct dm_nivoda {
    struct dm_nivoda_opts o;
    char *endpoint, *username, *password;
    struct tokcache *tc;
    int64_t requests, auth_calls, retries, errors; /* __atomic */
};

void dm_nivoda_opts_from_config(const struct dm_config *cfg, struct dm_nivoda_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->endpoint = cfg->nivoda_endpoint;
    opts->username = cfg->nivoda_username;
    opts->password = cfg->nivoda_password;
    opts->max_rps = cfg->nivoda_max_rps;
    opts->timeout_ms = cfg->nivoda_timeout_ms;
}

struct dm_nivoda *dm_nivoda_new(const struct dm_nivoda_opts *opts)
{
    struct dm_nivoda *n = dm_xcalloc(1, sizeof(*n));
    n->o = *opts;
    n->endpoint = dm_xstrdup(opts->endpoint ? opts->endpoint : "");
    n->username = dm_xstrdup(opts->username ? opts->username : "");
    n->password = dm_xstrdup(opts->password ? opts->password : "");
    n->o.endpoint = n->endpoint;
    n->o.username = n->username;
    n->o.password = n->password;
    if (!(n->o.max_rps > 0))
        n->o.max_rps = 25;
    if (n->o.timeout_ms <= 0)
        n->o.timeout_ms = 45000;
    if (n->o.max_attempts <= 0)
        n->o.max_attempts = 5;
    if (n->o.backoff_base_ms <= 0)
        n->o.backoff_base_ms = 250;
    if (n->o.backoff_max_ms <= 0)
        n->o.backoff_max_ms = 10000;
    if (n->o.token_ttl_ms <= 0)
        n->o.token_ttl_ms = 6LL * 3600 * 1000;
    if (n->o.max_response == 0)
        n->o.max_response = DEFAULT_MAX_RESPONSE;
    if (n->o.max_small_response == 0)
        n->o.max_small_response = DEFAULT_MAX_SMALL_RESPONSE;
    n->tc = tokcache_get(n->endpoint, n->username, n->password);
    bucket_configure(n->o.max_rps);
    dm_http_global_init();
    return n;
}

void dm_nivoda_free(struct dm_nivoda *n)
{
    if (n == NULL)
        return;
    tokcache_put(n->tc);
    /* Wipe secrets before releasing the memory. */
    explicit_bzero(n->password, strlen(n->password));
    free(n->endpoint);
    free(n->username);
    free(n->password);
    free(n);
}

void dm_nivoda_get_stats(struct dm_nivoda *n, struct dm_nivoda_stats *out)
{
    out->requests = __atomic_load_n(&n->requests, __ATOMIC_RELAXED);
    out->auth_calls = __atomic_load_n(&n->auth_calls, __ATOMIC_RELAXED);
    out->retries = __atomic_load_n(&n->retries, __ATOMIC_RELAXED);
    out->errors = __atomic_load_n(&n->errors, __ATOMIC_RELAXED);
}

/* ---- response parsing (pure; fuzzed) ----------------------------------------------------- */

bool dm_nivoda_is_token_message(const char *m)
{
    if (m == NULL)
        return false;
    if (strcasestr(m, "unauthorized") || strcasestr(m, "unauthenticated"))
        return true;
    return (strcasestr(m, "token") || strcasestr(m, "jwt")) &&
           (strcasestr(m, "invalid") || strcasestr(m, "expired") || strcasestr(m, "malformed"));
}

/* First GraphQL error: message and extensions.code (either may come back NULL). */
static bool first_error(const json_t *root, const char **msg, const char **code)
{
    *msg = NULL;
    *code = NULL;
    const json_t *errs = json_is_object(root) ? json_object_get(root, "errors") : NULL;
    if (errs == NULL || json_is_null(errs))
        return false;
    if (!json_is_array(errs) || json_array_size(errs) == 0)
        return json_is_array(errs) ? false : true;
    const json_t *e = json_array_get(errs, 0);
    if (json_is_object(e)) {
        *msg = dm_json_str(e, "message");
        const json_t *ext = json_object_get(e, "extensions");
        if (json_is_object(ext))
            *code = dm_json_str(ext, "code");
    } else if (json_is_string(e)) {
        *msg = json_string_value(e);
    }
    return true;
}

/* More than `max` JSON values in body? Counted from its structure (a value per opening
 * bracket, plus one per comma, outside strings), before anything is allocated. */
static bool too_many_values(const char *body, size_t len, size_t max)
{
    size_t n = 1;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == ',' || c == '[' || c == '{') {
            if (++n > max)
                return true;
        }
    }
    return false;
}

enum dm_err dm_nivoda_parse_response(long status, const char *body, size_t len, json_t **data,
                                     bool *token_error, struct dm_error *err)
{
    *data = NULL;
    *token_error = false;
    struct dm_error perr = {0};
    json_t *root = NULL;
    if (body && len > 0 && too_many_values(body, len, MAX_RESPONSE_VALUES)) {
        enum dm_err e = dm_error_set(err, DM_ERR_TOO_LARGE,
                                     "feed response (HTTP %ld, %zu bytes) holds more than %d JSON "
                                     "values",
                                     status, len, MAX_RESPONSE_VALUES);
        if (err)
            err->retryable = false;
        return e;
    }
    if (body && len > 0)
        root = dm_json_parse(body, len, len, &perr);
    const char *msg = NULL, *code = NULL;
    bool has_errors = first_error(root, &msg, &code);
    enum dm_err e = DM_OK;
    if (status < 200 || status >= 300) {
        e = dm_http_classify(status);
        if (status == 401 || dm_nivoda_is_token_message(msg) ||
            (code && !strcmp(code, "UNAUTHENTICATED")))
            *token_error = true;
        e = dm_error_set(err, e, "feed HTTP %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
        if (err)
            err->status = (int)status;
        goto out;
    }
    if (!json_is_object(root)) {
        e = dm_error_set(err, DM_ERR_REMOTE, "feed returned an unparsable body (HTTP %ld): %s",
                         status, root ? "not an object" : perr.message);
        goto out;
    }
    if (has_errors) {
        if (dm_nivoda_is_token_message(msg) || (code && !strcmp(code, "UNAUTHENTICATED"))) {
            *token_error = true;
            e = dm_error_set(err, DM_ERR_AUTH, "feed: %s", msg ? msg : "token rejected");
        } else if (code && (!strcmp(code, "INTERNAL_SERVER_ERROR") ||
                            !strcmp(code, "SERVICE_UNAVAILABLE"))) {
            e = dm_error_set(err, DM_ERR_REMOTE, "feed: %s", msg ? msg : code);
        } else {
            e = dm_error_set(err, DM_ERR_REJECTED, "feed: %s", msg ? msg : "GraphQL error");
            if (err)
                err->retryable = false;
        }
        goto out;
    }
    json_t *d = json_object_get(root, "data");
    if (!json_is_object(d)) {
        e = dm_error_set(err, DM_ERR_REMOTE, "feed response has no data");
        goto out;
    }
    *data = json_incref(d);
out:
    json_decref(root);
    return e;
}

static const json_t *as_field(const json_t *data, const char *name)
{
    const json_t *as = json_object_get(data, "as");
    return json_is_object(as) ? json_object_get(as, name) : NULL;
}

enum dm_err dm_nivoda_extract_token(const json_t *data, char *out, size_t size,
                                    struct dm_error *err)
{
    const json_t *a = json_object_get(data, "authenticate");
    const json_t *u = json_is_object(a) ? json_object_get(a, "username_and_password") : NULL;
    const char *t = json_is_object(u) ? dm_json_str(u, "token") : NULL;
    if (t == NULL || t[0] == '\0')
        return dm_error_set(err, DM_ERR_AUTH, "feed authentication returned no token");
    if (dm_strlcpy(out, t, size) != DM_OK)
        return dm_error_set(err, DM_ERR_AUTH, "feed token too long");
    return DM_OK;
}

enum dm_err dm_nivoda_extract_count(const json_t *data, int64_t *count, struct dm_error *err)
{
    const json_t *c = as_field(data, "diamonds_by_query_count");
    if (!json_is_integer(c) || json_integer_value(c) < 0)
        return dm_error_set(err, DM_ERR_REMOTE, "feed count is missing or not an integer");
    *count = json_integer_value(c);
    return DM_OK;
}

enum dm_err dm_nivoda_extract_page(const json_t *data, struct dm_feed_page *page,
                                   struct dm_error *err)
{
    page->items = NULL;
    page->total_count = -1;
    const json_t *q = as_field(data, "diamonds_by_query");
    if (!json_is_object(q))
        return dm_error_set(err, DM_ERR_REMOTE, "feed page is missing");
    json_t *items = json_object_get(q, "items");
    if (!json_is_array(items))
        return dm_error_set(err, DM_ERR_REMOTE, "feed page has no items array");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (!json_is_object(it))
            return dm_error_set(err, DM_ERR_REMOTE, "feed page item %zu is not an object", i);
    }
    const json_t *tc = json_object_get(q, "total_count");
    if (json_is_integer(tc))
        page->total_count = json_integer_value(tc);
    page->items = json_incref(items);
    return DM_OK;
}

void dm_feed_page_free(struct dm_feed_page *page)
{
    if (page == NULL)
        return;
    json_decref(page->items);
    page->items = NULL;
}

const char *dm_nivoda_item_fields(void)
{
    return ITEM_FIELDS;
}

json_t *dm_nivoda_query_json(const struct dm_feed_query *q)
{
    json_t *o = json_object();
    json_t *sh = json_array();
    for (size_t i = 0; i < DM_SHAPE_COUNT; i++)
        json_array_append_new(sh, json_string(dm_shapes[i]));
    json_object_set_new(o, "shapes", sh);
    json_object_set_new(o, "sizes", json_pack("{s:f,s:f}", "from", 0.5, "to", 10.0));
    if (q && (q->price_from >= 0 || q->price_to >= 0)) {
        json_t *dv = json_object();
        if (q->price_from >= 0)
            json_object_set_new(dv, "from", json_integer(q->price_from));
        if (q->price_to >= 0)
            json_object_set_new(dv, "to", json_integer(q->price_to));
        json_object_set_new(o, "dollar_value", dv);
    }
    if (q && (q->updated_from_ms > 0 || q->updated_to_ms > 0)) {
        json_t *up = json_object();
        char iso[DM_ISO_LEN];
        if (q->updated_from_ms > 0) {
            dm_time_format(q->updated_from_ms, iso);
            json_object_set_new(up, "from", json_string(iso));
        }
        if (q->updated_to_ms > 0) {
            dm_time_format(q->updated_to_ms, iso);
            json_object_set_new(up, "to", json_string(iso));
        }
        json_object_set_new(o, "updated", up);
    }
    return o;
}

/* ---- transport with retries ---------------------------------------------------------------- */

typedef enum dm_err (*extract_fn)(const json_t *data, void *out, struct dm_error *err);

static int64_t backoff_ms(const struct dm_nivoda *n, int attempt)
{
    int64_t d = n->o.backoff_base_ms;
    for (int i = 1; i < attempt && d < n->o.backoff_max_ms; i++)
        d *= 2;
    if (d > n->o.backoff_max_ms)
        d = n->o.backoff_max_ms;
    /* "Equal jitter": half fixed, half random, so concurrent retries spread out. */
    return d / 2 + (int64_t)dm_random_below((uint64_t)(d / 2 + 1));
}

static bool retryable(enum dm_err e)
{
    return e == DM_ERR_NETWORK || e == DM_ERR_TIMEOUT || e == DM_ERR_RATE_LIMITED ||
           e == DM_ERR_REMOTE;
}

/* Retry-After in seconds (the HTTP-date form is ignored: back-off applies). Capped at
 * RETRY_AFTER_MAX_S so a confused feed cannot park a worker for an hour. */
#define RETRY_AFTER_MAX_S 120
static int64_t retry_after_ms(const struct dm_http_response *resp)
{
    char v[64];
    int64_t s;
    if (!dm_http_header(resp, "Retry-After", v, sizeof(v)))
        return -1;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        v[--n] = '\0';
    if (dm_parse_i64(v, 0, 86400, &s) != DM_OK)
        return -1;
    return (s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s) * 1000;
}

static enum dm_err get_token(struct dm_nivoda *n, char *out, size_t size, struct dm_error *err);

/* A fast extractor over a 2xx body (the raw search): DM_OK when it understood the body,
 * DM_ERR_INVALID to let dm_nivoda_parse_response and `extract` decide, any other code a
 * failure of this attempt (err set; retried per the policy). */
typedef enum dm_err (*raw_extract_fn)(const char *body, size_t len, void *out,
                                      struct dm_error *err);

/* One GraphQL operation: token (when needed), rate limit, POST (response body at most cap
 * bytes), classify, extract; retried per the policy above. vars is borrowed (the token
 * variable is set on it). raw may be NULL. */
static enum dm_err gql_call_ex(struct dm_nivoda *n, const char *op, const char *query, json_t *vars,
                               bool needs_token, size_t cap, raw_extract_fn raw, extract_fn extract,
                               void *out, struct dm_error *err)
{
    static const char *const headers[] = {"Content-Type: application/json",
                                          "Accept: application/json", NULL};
    bool token_retried = false;
    char token[TOKEN_MAX];
    enum dm_err e = DM_OK;
    for (int attempt = 1;; attempt++) {
        if (dm_stop_requested())
            return dm_error_set(err, DM_ERR_SHUTDOWN, "feed %s: shutting down", op);
        if (needs_token) {
            e = get_token(n, token, sizeof(token), err);
            if (e != DM_OK)
                break;
            json_object_set_new(vars, "token", json_string(token));
        }
        json_t *req_json = json_pack("{s:s,s:O}", "query", query, "variables", vars);
        if (req_json == NULL) {
            e = dm_error_set(err, DM_ERR_INVALID, "feed %s: request variables are not valid", op);
            break;
        }
        char *body = dm_json_dumps(req_json);
        json_decref(req_json);
        if (needs_token) /* keep the token out of anything that outlives this call */
            json_object_del(vars, "token");
        bucket_take();
        __atomic_add_fetch(&n->requests, 1, __ATOMIC_RELAXED);
        struct dm_http_request rq = {
            .method = "POST",
            .url = n->endpoint,
            .headers = headers,
            .body = body,
            .body_len = strlen(body),
            .connect_timeout_ms = n->o.timeout_ms,
            .timeout_ms = n->o.timeout_ms,
            .max_response = cap,
        };
        struct dm_http_response resp;
        e = dm_http_do(&rq, &resp, err);
        explicit_bzero(body, strlen(body));
        free(body);
        bool token_error = false;
        int64_t ra = -1;
        bool decided = false;
        if (e == DM_OK && raw != NULL && resp.status >= 200 && resp.status < 300) {
            enum dm_err re = raw(resp.body.data, resp.body.len, out, err);
            if (re == DM_OK) {
                dm_http_response_free(&resp);
                return DM_OK;
            }
            decided = re != DM_ERR_INVALID;
            if (decided)
                e = re;
        }
        if (e == DM_OK && !decided) {
            json_t *data = NULL;
            e = dm_nivoda_parse_response(resp.status, resp.body.data, resp.body.len, &data,
                                         &token_error, err);
            if (e == DM_OK) {
                e = extract(data, out, err);
                json_decref(data);
            }
            if (e == DM_ERR_RATE_LIMITED || e == DM_ERR_REMOTE)
                ra = retry_after_ms(&resp); /* 429, and 503 when the feed says when */
        }
        dm_http_response_free(&resp);
        if (e == DM_OK)
            return DM_OK;
        if (token_error && needs_token && !token_retried) {
            /* The token went bad (expired early, revoked): forget it, retry once at once. */
            token_retried = true;
            pthread_mutex_lock(&n->tc->mu);
            if (!strcmp(n->tc->token, token))
                n->tc->token[0] = '\0';
            pthread_mutex_unlock(&n->tc->mu);
            attempt--;
            dm_info(NULL, "feed %s: token rejected, re-authenticating", op);
            continue;
        }
        if (token_error)
            e = DM_ERR_AUTH;
        if (!retryable(e) || attempt >= n->o.max_attempts)
            break;
        int64_t delay = backoff_ms(n, attempt);
        if (ra >= 0)
            delay = ra + (int64_t)dm_random_below((uint64_t)(n->o.backoff_base_ms / 2 + 1));
        __atomic_add_fetch(&n->retries, 1, __ATOMIC_RELAXED);
        dm_warn(NULL, "feed %s attempt %d/%d failed (%s: %s); retrying in %lld ms", op, attempt,
                n->o.max_attempts, dm_strerror(e), err ? err->message : "", (long long)delay);
        dm_sleep_ms(delay, (volatile int *)&dm_stop_flag);
    }
    explicit_bzero(token, sizeof(token));
    __atomic_add_fetch(&n->errors, 1, __ATOMIC_RELAXED);
    if (err) {
        err->code = e;
        err->retryable = retryable(e);
    }
    return e;
}

/* An operation with a small answer (everything but a search page). */
static enum dm_err gql_call(struct dm_nivoda *n, const char *op, const char *query, json_t *vars,
                            bool needs_token, extract_fn extract, void *out, struct dm_error *err)
{
    return gql_call_ex(n, op, query, vars, needs_token, n->o.max_small_response, NULL, extract, out,
                       err);
}

static enum dm_err ex_token(const json_t *data, void *out, struct dm_error *err)
{
    return dm_nivoda_extract_token(data, out, TOKEN_MAX, err);
}

/* Cached token, or one new authentication shared by every thread that needs it. */
static enum dm_err get_token(struct dm_nivoda *n, char *out, size_t size, struct dm_error *err)
{
    pthread_mutex_lock(&n->tc->mu);
    for (;;) {
        if (n->tc->token[0] && dm_mono_ms() < n->tc->token_expires_ms) {
            enum dm_err e = dm_strlcpy(out, n->tc->token, size);
            pthread_mutex_unlock(&n->tc->mu);
            return e;
        }
        if (!n->tc->auth_in_flight)
            break;
        uint64_t gen = n->tc->auth_gen;
        while (n->tc->auth_in_flight && n->tc->auth_gen == gen)
            pthread_cond_wait(&n->tc->cv, &n->tc->mu);
        if (n->tc->auth_gen != gen && n->tc->token[0] == '\0') {
            /* The authentication we waited for failed: share its error, don't pile on. */
            enum dm_err e = dm_error_set(err, n->tc->auth_err, "%s", n->tc->auth_msg);
            pthread_mutex_unlock(&n->tc->mu);
            return e;
        }
    }
    n->tc->auth_in_flight = true;
    n->tc->token[0] = '\0';
    pthread_mutex_unlock(&n->tc->mu);

    __atomic_add_fetch(&n->auth_calls, 1, __ATOMIC_RELAXED);
    json_t *vars = json_pack("{s:s,s:s}", "username", n->username, "password", n->password);
    if (vars == NULL)
        vars = json_object(); /* not UTF-8: the feed will refuse it, as it should */
    char *tok = dm_xcalloc(1, TOKEN_MAX);
    struct dm_error aerr = {0};
    int64_t started = dm_mono_ms();
    enum dm_err e = gql_call(n, "authenticate", q_auth, vars, false, ex_token, tok, &aerr);
    json_decref(vars);
    if (e == DM_ERR_REJECTED)
        e = DM_ERR_AUTH; /* "wrong username or password" is an authentication failure */

    pthread_mutex_lock(&n->tc->mu);
    n->tc->auth_in_flight = false;
    n->tc->auth_gen++;
    if (e == DM_OK) {
        int64_t ttl = n->o.token_ttl_ms;
        /* Refresh 5 minutes before the end; for short test lifetimes, 10 % before. */
        int64_t margin = ttl > 2 * REFRESH_MARGIN_MS ? REFRESH_MARGIN_MS : ttl / 10;
        n->tc->token_expires_ms = started + ttl - margin;
        memcpy(n->tc->token, tok, TOKEN_MAX);
        e = dm_strlcpy(out, tok, size);
    } else {
        n->tc->auth_err = e;
        snprintf(n->tc->auth_msg, sizeof(n->tc->auth_msg), "feed authentication failed: %.200s",
                 aerr.message);
        dm_error_set(err, e, "%s", n->tc->auth_msg);
        dm_warn(NULL, "%s", n->tc->auth_msg);
    }
    pthread_cond_broadcast(&n->tc->cv);
    pthread_mutex_unlock(&n->tc->mu);
    explicit_bzero(tok, TOKEN_MAX);
    free(tok);
    return e;
}

/* ---- operations ----------------------------------------------------------------------------- */

static enum dm_err ex_count(const json_t *data, void *out, struct dm_error *err)
{
    return dm_nivoda_extract_count(data, out, err);
}

/* What a page extractor fills, and the limit the page was asked with. */
struct page_out {
    void *page; /* struct dm_feed_page or struct dm_feed_raw_page */
    size_t limit;
};

static enum dm_err over_limit(size_t n, size_t limit, struct dm_error *err)
{
    return dm_error_set(err, DM_ERR_REMOTE,
                        "feed page has %s%zu items, more than the %zu asked for",
                        n > limit ? "" : "over ", n, limit);
}

static enum dm_err ex_page(const json_t *data, void *out, struct dm_error *err)
{
    struct page_out *po = out;
    struct dm_feed_page *page = po->page;
    enum dm_err e = dm_nivoda_extract_page(data, page, err);
    if (e == DM_OK && json_array_size(page->items) > po->limit) {
        e = over_limit(json_array_size(page->items), po->limit, err);
        dm_feed_page_free(page);
    }
    return e;
}

enum dm_err dm_nivoda_count(struct dm_nivoda *n, const struct dm_feed_query *q, int64_t *count,
                            struct dm_error *err)
{
    json_t *vars = json_object();
    json_object_set_new(vars, "query", dm_nivoda_query_json(q));
    enum dm_err e = gql_call(n, "count", q_count, vars, true, ex_count, count, err);
    json_decref(vars);
    return e;
}

/* One search page into page (read by raw, else by extract: a struct page_out); a limit outside
 * 1..DM_PAGE_LIMIT is DM_PAGE_LIMIT. */
static enum dm_err search_page(struct dm_nivoda *n, const struct dm_feed_query *q, int64_t offset,
                               int limit, void *page, raw_extract_fn raw, extract_fn extract,
                               struct dm_error *err)
{
    if (offset < 0)
        return dm_error_set(err, DM_ERR_INVALID, "negative offset");
    if (limit <= 0 || limit > DM_PAGE_LIMIT)
        limit = DM_PAGE_LIMIT;
    json_t *vars = json_object();
    json_object_set_new(vars, "query", dm_nivoda_query_json(q));
    json_object_set_new(vars, "offset", json_integer(offset));
    json_object_set_new(vars, "limit", json_integer(limit));
    struct page_out po = {.page = page, .limit = (size_t)limit};
    enum dm_err e =
        gql_call_ex(n, "search", q_search, vars, true, n->o.max_response, raw, extract, &po, err);
    json_decref(vars);
    return e;
}

enum dm_err dm_nivoda_search(struct dm_nivoda *n, const struct dm_feed_query *q, int64_t offset,
                             int limit, struct dm_feed_page *page, struct dm_error *err)
{
    page->items = NULL;
    page->total_count = -1;
    return search_page(n, q, offset, limit, page, NULL, ex_page, err);
}

static enum dm_err raw_page(const char *body, size_t len, void *out, struct dm_error *err)
{
    struct page_out *po = out;
    /* one item over the limit is enough to know: the scanner stops there */
    enum dm_err e = dm_nivoda_scan_raw_page_limit(body, len, po->limit, po->page);
    if (e == DM_ERR_TOO_LARGE)
        return over_limit(po->limit, po->limit, err);
    return e;
}

/* The regular path for the raw search: a jansson page converted item by item. */
static enum dm_err ex_raw_page(const json_t *data, void *out, struct dm_error *err)
{
    struct page_out *po = out;
    const json_t *as = json_object_get(data, "as");
    const json_t *q = json_is_object(as) ? json_object_get(as, "diamonds_by_query") : NULL;
    if (!json_is_object(q))
        return dm_error_set(err, DM_ERR_REMOTE, "feed page is missing");
    const json_t *items = json_object_get(q, "items");
    if (!json_is_array(items))
        return dm_error_set(err, DM_ERR_REMOTE, "feed page has no items array");
    if (json_array_size(items) > po->limit)
        return over_limit(json_array_size(items), po->limit, err);
    const json_t *tc = json_object_get(q, "total_count");
    return dm_nivoda_raw_from_items(items, json_is_integer(tc) ? json_integer_value(tc) : -1,
                                    po->page, err);
}

enum dm_err dm_nivoda_search_raw(struct dm_nivoda *n, const struct dm_feed_query *q, int64_t offset,
                                 int limit, struct dm_feed_raw_page *page, struct dm_error *err)
{
    memset(page, 0, sizeof(*page));
    page->total_count = -1;
    return search_page(n, q, offset, limit, page, raw_page, ex_raw_page, err);
}

static enum dm_err ex_hold(const json_t *data, void *out, struct dm_error *err)
{
    struct dm_feed_hold *h = out;
    const json_t *o = as_field(data, "create_hold");
    if (!json_is_object(o))
        return dm_error_set(err, DM_ERR_REMOTE, "feed hold response is missing");
    memset(h, 0, sizeof(*h));
    const json_t *id = json_object_get(o, "id");
    if (json_is_string(id))
        (void)dm_strlcpy(h->id, json_string_value(id), sizeof(h->id));
    else if (json_is_integer(id))
        snprintf(h->id, sizeof(h->id), "%lld", (long long)json_integer_value(id));
    h->denied = json_is_true(json_object_get(o, "denied"));
    const char *until = dm_json_str(o, "until");
    if (until)
        (void)dm_strlcpy(h->until, until, sizeof(h->until));
    return DM_OK;
}

enum dm_err dm_nivoda_hold(struct dm_nivoda *n, const char *offer_id, struct dm_feed_hold *out,
                           struct dm_error *err)
{
    if (offer_id == NULL || offer_id[0] == '\0')
        return dm_error_set(err, DM_ERR_INVALID, "offer id is required");
    json_t *vars = json_pack("{s:s}", "offerId", offer_id);
    if (vars == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "offer id is not valid UTF-8");
    enum dm_err e = gql_call(n, "hold", q_hold, vars, true, ex_hold, out, err);
    json_decref(vars);
    return e;
}

static enum dm_err ex_order(const json_t *data, void *out, struct dm_error *err)
{
    struct dm_feed_order *o = out;
    memset(o, 0, sizeof(*o));
    const json_t *r = as_field(data, "create_order");
    if (json_is_string(r)) {
        (void)dm_strlcpy(o->id, json_string_value(r), sizeof(o->id));
        (void)dm_strlcpy(o->status, "created", sizeof(o->status));
        return DM_OK;
    }
    if (json_is_object(r)) {
        const json_t *id = json_object_get(r, "id");
        if (json_is_string(id))
            (void)dm_strlcpy(o->id, json_string_value(id), sizeof(o->id));
        else if (json_is_integer(id))
            snprintf(o->id, sizeof(o->id), "%lld", (long long)json_integer_value(id));
        const char *st = dm_json_str(r, "status");
        (void)dm_strlcpy(o->status, st ? st : "created", sizeof(o->status));
        if (o->id[0])
            return DM_OK;
    }
    return dm_error_set(err, DM_ERR_REMOTE, "feed order response has no order id");
}

enum dm_err dm_nivoda_order(struct dm_nivoda *n, const struct dm_feed_order_req *req,
                            struct dm_feed_order *out, struct dm_error *err)
{
    if (req->offer_id == NULL || req->offer_id[0] == '\0' || req->destination_id == NULL ||
        req->destination_id[0] == '\0')
        return dm_error_set(err, DM_ERR_INVALID, "offer id and destination id are required");
    json_t *item =
        json_pack("{s:s,s:s}", "offerId", req->offer_id, "destinationId", req->destination_id);
    if (req->reference)
        json_object_set_new(item, "reference", json_string(req->reference));
    if (req->comments)
        json_object_set_new(item, "comments", json_string(req->comments));
    if (req->return_option)
        json_object_set_new(item, "return_option", json_string(req->return_option));
    if (item == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "order ids are not valid UTF-8");
    json_t *vars = json_pack("{s:[o]}", "items", item);
    enum dm_err e = gql_call(n, "order", q_order, vars, true, ex_order, out, err);
    json_decref(vars);
    return e;
}
