/*
 * test_nivoda_client.c - the Nivoda client against the real feed simulator (served in-process
 * on an ephemeral loopback port): token reuse and expiry, Retry-After, 5xx retries, no retry
 * for 400 and GraphQL errors, a stalled server hitting the timeout, the process-wide rate
 * limit under 8 threads, one authentication for many concurrent threads, holds and orders;
 * and against a hostile test listener: a huge hold answer and pages with more items than asked
 * for are refused with bounded memory (measured as the peak RSS growth of a child process).
 */
#include "testlib.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/feed/nivoda.h"
#include "adapters/http/client.h"
#include "adapters/http/server.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "services/feedsim/feedsim.h"

/* The fixture of the simulator tests: an in-process simulator of the size the test's prestate
 * (struct fx_size) asks for, and a client of it at 1000 requests/s (a client authenticates on
 * its first call only, so tests that make their own clients are unaffected by this one). */
struct fx {
    struct dm_feedsim *sim;
    char url[128];
    char base[64];
    struct dm_nivoda *n;
    struct dm_feed_query all; /* no price band */
};

struct fx_size {
    uint32_t count;
    int64_t token_ttl_ms; /* 0: the simulator's default */
};

static struct fx_size sim_100 = {100, 0}, sim_300 = {300, 0}, sim_500 = {500, 0},
                      sim_5000_ttl_2s = {5000, 2000};

static struct dm_nivoda *client(const struct fx *f, double rps)
{
    struct dm_nivoda_opts o = {
        .endpoint = f->url,
        .username = "sim",
        .password = "sim",
        .max_rps = rps,
        .timeout_ms = 10000,
        .max_attempts = 5,
        .backoff_base_ms = 20,
        .backoff_max_ms = 200,
    };
    return dm_nivoda_new(&o);
}

static int fx_setup(void **state)
{
    const struct fx_size *size = *state;
    struct fx *f = calloc(1, sizeof(*f));
    struct dm_feedsim_opts o = {
        .seed = 42, .count = size->count, .token_ttl_ms = size->token_ttl_ms};
    o.faults.price_min = o.faults.price_max = -1;
    f->sim = dm_feedsim_new(&o);
    struct dm_error err = {0};
    assert_int_equal(dm_feedsim_listen(f->sim, "127.0.0.1", 0, 24, &err), DM_OK);
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", dm_feedsim_port(f->sim));
    snprintf(f->url, sizeof(f->url), "%s/graphql", f->base);
    f->n = client(f, 1000);
    f->all = (struct dm_feed_query){.price_from = -1, .price_to = -1};
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    dm_nivoda_free(f->n);
    dm_feedsim_free(f->sim);
    free(f);
    return 0;
}

#define FX_TEST(test, size)                                                                        \
    cmocka_unit_test_prestate_setup_teardown(test, fx_setup, fx_teardown, &(size))

/* A test listener with handler on an ephemeral loopback port; url gets its /graphql. */
static struct dm_http_server *listener(dm_http_handler handler, char *url, size_t url_size)
{
    struct dm_http_server_opts so = {.port = 0, .threads = 4, .handler = handler};
    struct dm_http_server *srv = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_http_server_start(&so, &srv, &err), DM_OK);
    snprintf(url, url_size, "http://127.0.0.1:%d/graphql", dm_http_server_port(srv));
    return srv;
}

/* POST/GET an admin endpoint; returns the parsed JSON answer (caller decrefs). */
static json_t *admin(const struct fx *f, const char *method, const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", f->base, path);
    const char *hdr[] = {"Content-Type: application/json", NULL};
    struct dm_http_request rq = {.method = method,
                                 .url = url,
                                 .headers = hdr,
                                 .body = body,
                                 .body_len = body ? strlen(body) : 0,
                                 .timeout_ms = 10000,
                                 .max_response = 64u << 20};
    struct dm_http_response resp;
    struct dm_error err = {0};
    assert_int_equal(dm_http_do(&rq, &resp, &err), DM_OK);
    assert_int_equal(resp.status, 200);
    json_t *j = dm_json_parse(resp.body.data, resp.body.len, resp.body.len, &err);
    dm_http_response_free(&resp);
    assert_non_null(j);
    return j;
}

static int64_t stat_of(const struct fx *f, const char *key)
{
    json_t *s = admin(f, "GET", "/admin/stats", NULL);
    int64_t v = json_integer_value(json_object_get(s, key));
    json_decref(s);
    return v;
}

static struct dm_feed_query band(int64_t lo, int64_t hi)
{
    struct dm_feed_query q = {.price_from = lo, .price_to = hi};
    return q;
}

static void test_token_reused_then_renewed_after_expiry(void **state)
{
    struct fx *f = *state; /* sim_5000_ttl_2s: the simulator's tokens live 2 s */
    struct dm_nivoda *n = f->n;
    struct dm_feed_query q = f->all;
    struct dm_error err = {0};
    int64_t total = 0;
    assert_int_equal(dm_nivoda_count(n, &q, &total, &err), DM_OK);
    assert_true(total > 4000);
    for (int i = 0; i < 30; i++) {
        struct dm_feed_page p;
        assert_int_equal(dm_nivoda_search(n, &q, i * 10, 10, &p, &err), DM_OK);
        assert_int_equal(json_array_size(p.items), 10);
        dm_feed_page_free(&p);
    }
    struct dm_nivoda_stats st;
    dm_nivoda_get_stats(n, &st);
    assert_int_equal(st.auth_calls, 1);
    assert_int_equal(stat_of(f, "auth_calls"), 1);

    /* The client still believes in its token (it assumes 6 h); the feed says it expired:
     * the cache is cleared and the call retried once with a fresh token. */
    dm_sleep_ms(2100, NULL);
    struct dm_feed_page p;
    assert_int_equal(dm_nivoda_search(n, &q, 0, 50, &p, &err), DM_OK);
    dm_feed_page_free(&p);
    dm_nivoda_get_stats(n, &st);
    assert_int_equal(st.auth_calls, 2);
    assert_int_equal(stat_of(f, "token_rejected"), 1);
    dm_nivoda_free(n);

    /* A client told the real lifetime renews before expiry: no rejected call at all. */
    struct dm_nivoda_opts o = {.endpoint = f->url,
                               .username = "sim",
                               .password = "sim",
                               .max_rps = 1000,
                               .token_ttl_ms = 2000};
    n = f->n = dm_nivoda_new(&o);
    assert_int_equal(dm_nivoda_count(n, &q, &total, &err), DM_OK);
    dm_sleep_ms(1850, NULL); /* inside the 10 % refresh margin (renews from 1.8 s) */
    assert_int_equal(dm_nivoda_count(n, &q, &total, &err), DM_OK);
    dm_nivoda_get_stats(n, &st);
    assert_int_equal(st.auth_calls, 2);
    assert_int_equal(stat_of(f, "token_rejected"), 1);
}

static void test_revoked_token_retried_once(void **state)
{
    struct fx *f = *state;
    struct dm_nivoda *n = f->n;
    struct dm_feed_query q = f->all;
    struct dm_error err = {0};
    int64_t c1 = 0, c2 = 0;
    assert_int_equal(dm_nivoda_count(n, &q, &c1, &err), DM_OK);
    json_decref(admin(f, "POST", "/admin/revoke-tokens", "{}"));
    assert_int_equal(dm_nivoda_count(n, &q, &c2, &err), DM_OK);
    assert_int_equal(c1, c2);
    struct dm_nivoda_stats st;
    dm_nivoda_get_stats(n, &st);
    assert_int_equal(st.auth_calls, 2);
    assert_int_equal(st.retries, 0);
}

static void test_wrong_password_is_auth_error(void **state)
{
    struct fx *f = *state;
    struct dm_nivoda_opts o = {.endpoint = f->url, .username = "sim", .password = "nope"};
    struct dm_nivoda *n = dm_nivoda_new(&o);
    struct dm_feed_query q = f->all;
    struct dm_error err = {0};
    int64_t c;
    assert_int_equal(dm_nivoda_count(n, &q, &c, &err), DM_ERR_AUTH);
    assert_non_null(strstr(err.message, "Invalid username or password"));
    assert_null(strstr(err.message, "nope")); /* the password never shows up */
    struct dm_nivoda_stats st;
    dm_nivoda_get_stats(n, &st);
    assert_int_equal(st.requests, 1);
    dm_nivoda_free(n);
}

static void test_429_waits_retry_after(void **state)
{
    struct fx *f = *state;
    struct dm_nivoda *n = f->n;
    struct dm_feed_query q = f->all;
    struct dm_error err = {0};
    int64_t c;
    assert_int_equal(dm_nivoda_count(n, &q, &c, &err), DM_OK); /* token first */
    json_decref(admin(f, "POST", "/admin/faults", "{\"fail_next\":{\"count\":1,\"status\":429}}"));
    int64_t t0 = dm_mono_ms();
    assert_int_equal(dm_nivoda_count(n, &q, &c, &err), DM_OK);
    int64_t took = dm_mono_ms() - t0;
    assert_true(took >= 1000); /* Retry-After: 1 */
    assert_true(took < 5000);
    struct dm_nivoda_stats st;
    dm_nivoda_get_stats(n, &st);
    assert_int_equal(st.retries, 1);
}

static void test_5xx_retried_and_succeeds(void **state)
{
    struct fx *f = *state;
    struct dm_nivoda *n = f->n;
    struct dm_feed_query q = band(1000, 5000);
    struct dm_error err = {0};
    int64_t c;
    json_decref(admin(f, "POST", "/admin/faults", "{\"fail_next\":{\"count\":3,\"status\":503}}"));
    assert_int_equal(dm_nivoda_count(n, &q, &c, &err), DM_OK); /* auth fails 3 times, then ok */
    struct dm_nivoda_stats st;
    dm_nivoda_get_stats(n, &st);
    assert_int_equal(st.retries, 3);
    assert_int_equal(st.errors, 0);
    /* Exhausted attempts surface a retryable remote error. */
    json_decref(admin(f, "POST", "/admin/faults", "{\"fail_next\":{\"count\":5,\"status\":500}}"));
    assert_int_equal(dm_nivoda_count(n, &q, &c, &err), DM_ERR_REMOTE);
    assert_true(err.retryable);
    assert_int_equal(err.status, 500);
}

static void test_400_and_graphql_error_not_retried(void **state)
{
    struct fx *f = *state;
    struct dm_nivoda *n = f->n;
    struct dm_feed_query q = f->all;
    struct dm_error err = {0};
    int64_t c;
    assert_int_equal(dm_nivoda_count(n, &q, &c, &err), DM_OK);
    struct dm_nivoda_stats before, after;
    dm_nivoda_get_stats(n, &before);
    json_decref(admin(f, "POST", "/admin/faults", "{\"fail_next\":{\"count\":1,\"status\":400}}"));
    assert_int_equal(dm_nivoda_count(n, &q, &c, &err), DM_ERR_REJECTED);
    assert_false(err.retryable);
    assert_int_equal(err.status, 400);
    dm_nivoda_get_stats(n, &after);
    assert_int_equal(after.requests - before.requests, 1);
    assert_int_equal(after.retries, 0);

    json_decref(admin(f, "POST", "/admin/faults", "{\"graphql_error_next\":1}"));
    struct dm_feed_page p;
    assert_int_equal(dm_nivoda_search(n, &q, 0, 50, &p, &err), DM_ERR_REJECTED);
    assert_null(p.items);
    assert_non_null(strstr(err.message, "Simulated validation error"));
    assert_false(err.retryable);
    dm_nivoda_get_stats(n, &after);
    assert_int_equal(after.requests - before.requests, 2);
    assert_int_equal(after.retries, 0);
    /* And the next call is fine. */
    assert_int_equal(dm_nivoda_search(n, &q, 0, 50, &p, &err), DM_OK);
    assert_int_equal(json_array_size(p.items), 50);
    dm_feed_page_free(&p);
}

static volatile int stall_stop;

static void stall_handler(void *ctx, const struct dm_http_req *req, struct dm_http_resp *resp)
{
    dm_sleep_ms(3000, &stall_stop);
    dm_http_resp_json(resp, 200, json_pack("{s:{}}", "data"));
}

static void test_stalled_server_times_out(void **state)
{
    char url[128];
    struct dm_http_server *srv = listener(stall_handler, url, sizeof(url));
    struct dm_nivoda_opts o = {.endpoint = url,
                               .username = "u",
                               .password = "p",
                               .timeout_ms = 300,
                               .max_attempts = 2,
                               .backoff_base_ms = 10};
    struct dm_nivoda *n = dm_nivoda_new(&o);
    struct dm_feed_query q = band(-1, -1);
    struct dm_error err = {0};
    int64_t c;
    int64_t t0 = dm_mono_ms();
    assert_int_equal(dm_nivoda_count(n, &q, &c, &err), DM_ERR_TIMEOUT);
    int64_t took = dm_mono_ms() - t0;
    assert_true(took >= 600); /* two attempts of 300 ms */
    assert_true(took < 2500); /* well before the server would answer */
    assert_true(err.retryable);
    dm_nivoda_free(n);
    stall_stop = 1;
    dm_http_server_stop(srv);
}

struct worker_arg {
    struct dm_nivoda *n;
    int calls;
    int failures;
};

static void *worker(void *p)
{
    struct worker_arg *a = p;
    struct dm_feed_query q = band(-1, -1);
    for (int i = 0; i < a->calls; i++) {
        int64_t c;
        struct dm_error err = {0};
        if (dm_nivoda_count(a->n, &q, &c, &err) != DM_OK)
            a->failures++;
    }
    return NULL;
}

static void run_threads(struct dm_nivoda *n, int threads, int calls, int *failures)
{
    pthread_t t[16];
    struct worker_arg a[16];
    for (int i = 0; i < threads; i++) {
        a[i] = (struct worker_arg){n, calls, 0};
        pthread_create(&t[i], NULL, worker, &a[i]);
    }
    *failures = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        *failures += a[i].failures;
    }
}

static void test_one_authentication_for_many_threads(void **state)
{
    struct fx *f = *state;
    json_decref(admin(f, "POST", "/admin/faults", "{\"latency_ms\":200}")); /* slow auth */
    struct dm_nivoda *n = f->n;
    int failures;
    run_threads(n, 8, 1, &failures);
    assert_int_equal(failures, 0);
    struct dm_nivoda_stats st;
    dm_nivoda_get_stats(n, &st);
    assert_int_equal(st.auth_calls, 1);
    assert_int_equal(stat_of(f, "auth_calls"), 1);
    /* A second client of the same feed and credentials shares the process's token... */
    struct dm_nivoda *n2 = client(f, 1000);
    run_threads(n2, 4, 1, &failures);
    assert_int_equal(failures, 0);
    dm_nivoda_get_stats(n2, &st);
    assert_int_equal(st.auth_calls, 0);
    assert_int_equal(stat_of(f, "auth_calls"), 1);
    /* ...but other credentials never do. */
    struct dm_nivoda_opts o = {.endpoint = f->url, .username = "sim", .password = "other"};
    struct dm_nivoda *n3 = dm_nivoda_new(&o);
    struct dm_feed_query q = band(-1, -1);
    int64_t c;
    struct dm_error err = {0};
    assert_int_equal(dm_nivoda_count(n3, &q, &c, &err), DM_ERR_AUTH);
    dm_nivoda_free(n3);
    dm_nivoda_free(n2);
}

static void test_rate_limit_holds_under_8_threads(void **state)
{
    struct fx *f = *state;
    const double rps = 40;
    struct dm_nivoda *n = client(f, rps);
    int64_t t0 = dm_mono_ms();
    int failures;
    run_threads(n, 8, 10, &failures); /* 80 counts + 1 authentication */
    double took_s = (double)(dm_mono_ms() - t0) / 1000.0;
    assert_int_equal(failures, 0);
    struct dm_nivoda_stats st;
    dm_nivoda_get_stats(n, &st);
    assert_int_equal(st.requests, 81);
    /* Burst is rps/10 = 4 tokens: the rest leave at most 40 per second. */
    double min_s = (81.0 - 4.0) / rps;
    printf("rate limit: %lld requests in %.2f s (limit %.0f/s, floor %.2f s)\n",
           (long long)st.requests, took_s, rps, min_s);
    assert_true(took_s >= min_s - 0.05);
    assert_true(took_s < min_s * 3 + 2);
    assert_int_equal(stat_of(f, "requests"), 81);
    dm_nivoda_free(n);
}

static void test_hold_and_order_change_availability(void **state)
{
    struct fx *f = *state;
    struct dm_nivoda *n = f->n;
    struct dm_feed_query q = f->all;
    struct dm_error err = {0};
    struct dm_feed_page p;
    assert_int_equal(dm_nivoda_search(n, &q, 0, 50, &p, &err), DM_OK);
    const char *offer = NULL, *did = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(p.items, i, it)
    {
        json_t *d = json_object_get(it, "diamond");
        if (!strcmp(dm_json_str(d, "availability"), "AVAILABLE")) {
            offer = dm_json_str(it, "id");
            did = dm_json_str(d, "id");
            break;
        }
    }
    assert_non_null(offer);
    struct dm_feed_hold h;
    assert_int_equal(dm_nivoda_hold(n, offer, &h, &err), DM_OK);
    assert_false(h.denied);
    assert_true(strlen(h.id) > 0);
    assert_true(strlen(h.until) > 0);
    char path[256];
    snprintf(path, sizeof(path), "/admin/stones?ids=%s", did);
    json_t *s = admin(f, "GET", path, NULL);
    json_t *d = json_object_get(json_array_get(json_object_get(s, "items"), 0), "diamond");
    assert_string_equal(dm_json_str(d, "availability"), "On Hold");
    assert_string_equal(dm_json_str(d, "HoldId"), h.id);
    json_decref(s);
    assert_int_equal(dm_nivoda_hold(n, offer, &h, &err), DM_OK);
    assert_true(h.denied);

    struct dm_feed_order_req rq = {
        .offer_id = offer, .destination_id = "dest-1", .reference = "PO-1"};
    struct dm_feed_order o;
    assert_int_equal(dm_nivoda_order(n, &rq, &o, &err), DM_OK);
    assert_true(strlen(o.id) > 0);
    assert_string_equal(o.status, "CONFIRMED");
    s = admin(f, "GET", path, NULL);
    d = json_object_get(json_array_get(json_object_get(s, "items"), 0), "diamond");
    assert_string_equal(dm_json_str(d, "availability"), "Sold");
    json_decref(s);
    assert_int_equal(dm_nivoda_order(n, &rq, &o, &err), DM_ERR_REJECTED);
    assert_int_equal(dm_nivoda_hold(n, "00000000-0000-0000-0000-000000000000", &h, &err),
                     DM_ERR_REJECTED);
    dm_feed_page_free(&p);
}

/* ---- hostile supplier answers (issue 15 item 2) -------------------------------------------- */

/* A supplier that authenticates, then answers create_hold with about hostile_hold_bytes of
 * tiny values and every search with hostile_page_items empty items, whatever the limit. */
static size_t hostile_hold_bytes, hostile_page_items;
static int64_t hostile_requests;

static void append_repeated(struct dm_buf *b, const char *unit, size_t count)
{
    char chunk[4096];
    size_t ulen = strlen(unit), per = sizeof(chunk) / ulen;
    for (size_t i = 0; i < per; i++)
        memcpy(chunk + i * ulen, unit, ulen);
    while (count > 0) {
        size_t k = count < per ? count : per;
        assert_int_equal(dm_buf_append(b, chunk, k * ulen), DM_OK);
        count -= k;
    }
}

static void hostile_handler(void *ctx, const struct dm_http_req *req, struct dm_http_resp *resp)
{
    (void)ctx;
    __atomic_add_fetch(&hostile_requests, 1, __ATOMIC_RELAXED);
    if (strstr(req->body, "username_and_password") != NULL) {
        dm_http_resp_json(resp, 200,
                          json_pack("{s:{s:{s:{s:s}}}}", "data", "authenticate",
                                    "username_and_password", "token", "hostile-token"));
        return;
    }
    resp->status = 200;
    if (strstr(req->body, "create_hold") != NULL) {
        assert_int_equal(dm_buf_append_str(&resp->body, "{\"data\":{\"as\":{\"create_hold\":{"
                                                        "\"id\":\"h1\",\"denied\":false,"
                                                        "\"pad\":[0"),
                         DM_OK);
        append_repeated(&resp->body, ",0", hostile_hold_bytes / 2);
        assert_int_equal(dm_buf_append_str(&resp->body, "]}}}}"), DM_OK);
        return;
    }
    assert_int_equal(dm_buf_append_str(&resp->body, "{\"data\":{\"as\":{\"diamonds_by_query\":{"
                                                    "\"total_count\":1,\"items\":["),
                     DM_OK);
    if (hostile_page_items > 0) {
        assert_int_equal(dm_buf_append_str(&resp->body, "{}"), DM_OK);
        append_repeated(&resp->body, ",{}", hostile_page_items - 1);
    }
    assert_int_equal(dm_buf_append_str(&resp->body, "]}}}}"), DM_OK);
}

/* A peak-memory figure of this process in kB ("VmHWM", "VmRSS"), or -1. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, field, n) && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

enum hostile_op { OP_HOLD, OP_SEARCH_RAW, OP_SEARCH };

/* What the child of hostile_call reports through its pipe. */
struct hostile_result {
    int e;
    long grew_kb;
    size_t items;
    char msg[200];
};

/*
 * One call against the hostile server in a child process (so the peak is this call's alone:
 * the child resets its VmHWM to its current RSS first). Returns the call's code and the peak
 * growth in MB (*grew_mb), or fails the test when the child cannot measure.
 */
static enum dm_err hostile_call(const char *url, enum hostile_op op, size_t *items, long *grew_mb,
                                char *msg, size_t msg_size)
{
    int fd;
    pid_t pid = dm_test_fork_pipe(&fd);
    if (pid == 0) {
        struct hostile_result r = {0};
        FILE *cr = fopen("/proc/self/clear_refs", "w");
        bool reset = cr != NULL && fputs("5", cr) >= 0;
        if (cr != NULL && fclose(cr) != 0)
            reset = false;
        long base = status_kb("VmHWM");
        struct dm_nivoda_opts o = {.endpoint = url,
                                   .username = "u",
                                   .password = "p",
                                   .timeout_ms = 20000,
                                   .max_attempts = 2,
                                   .backoff_base_ms = 10,
                                   .backoff_max_ms = 20};
        struct dm_nivoda *n = dm_nivoda_new(&o);
        struct dm_error err = {0};
        struct dm_feed_query q = band(-1, -1);
        if (op == OP_HOLD) {
            struct dm_feed_hold h;
            r.e = dm_nivoda_hold(n, "offer-1", &h, &err);
        } else if (op == OP_SEARCH_RAW) {
            struct dm_feed_raw_page p;
            r.e = dm_nivoda_search_raw(n, &q, 0, 50, &p, &err);
            r.items = r.e == DM_OK ? p.n : 0;
            if (r.e == DM_OK)
                dm_feed_raw_page_free(&p);
        } else {
            struct dm_feed_page p = {0};
            r.e = dm_nivoda_search(n, &q, 0, 50, &p, &err);
            r.items = r.e == DM_OK ? json_array_size(p.items) : 0;
            dm_feed_page_free(&p);
        }
        long peak = status_kb("VmHWM");
        r.grew_kb = reset && base > 0 && peak > 0 ? peak - base : -1;
        snprintf(r.msg, sizeof(r.msg), "%.199s", err.message);
        dm_nivoda_free(n);
        ssize_t w = write(fd, &r, sizeof(r));
        _exit(w == (ssize_t)sizeof(r) ? 0 : 1);
    }
    struct hostile_result r = {0};
    ssize_t got = read(fd, &r, sizeof(r));
    close(fd);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(got, (ssize_t)sizeof(r));
    if (r.grew_kb < 0)
        fail_msg("could not measure the child's peak memory (/proc/self/clear_refs)");
    *grew_mb = r.grew_kb / 1024;
    *items = r.items;
    snprintf(msg, msg_size, "%s", r.msg);
    return (enum dm_err)r.e;
}

/* A hold answer of 4 MB of tiny values (the review's was 31 MB, 3 GB of RSS): refused at the
 * 64 KiB cap while it downloads, not retried, and the call's peak memory stays small. Before,
 * the 32 MiB cap let it through and jansson built two million values from it. */
static void test_huge_hold_answer_bounded(void **state)
{
    char url[128];
    struct dm_http_server *srv = listener(hostile_handler, url, sizeof(url));
    hostile_hold_bytes = 4u << 20;
    hostile_requests = 0;
    size_t items = 0;
    long grew = 0;
    char msg[256];
    enum dm_err e = hostile_call(url, OP_HOLD, &items, &grew, msg, sizeof(msg));
    printf("# hold of 4 MB of tiny values: %s (%s), peak grew %ld MB, %lld requests\n",
           dm_strerror(e), msg, grew, (long long)hostile_requests);
    assert_int_equal(e, DM_ERR_TOO_LARGE);
    assert_non_null(strstr(msg, "over 65536 bytes"));
    assert_int_equal(__atomic_load_n(&hostile_requests, __ATOMIC_RELAXED), 2); /* auth + hold */
    assert_true(grew < 32);
    /* a normal-sized answer still works */
    hostile_hold_bytes = 1000;
    e = hostile_call(url, OP_HOLD, &items, &grew, msg, sizeof(msg));
    assert_int_equal(e, DM_OK);
    dm_http_server_stop(srv);
}

/* Pages with more items than asked for are refused (both paths), before they are stored; a
 * page of a million tiny items costs little memory. Before, the scanner kept all of them (and
 * the worker stored them, offset + 1,000,000). */
static void test_page_over_limit_refused(void **state)
{
    char url[128];
    struct dm_http_server *srv = listener(hostile_handler, url, sizeof(url));
    size_t items = 0;
    long grew = 0;
    char msg[256];
    /* exactly the limit: fine on both paths */
    hostile_page_items = 50;
    assert_int_equal(hostile_call(url, OP_SEARCH_RAW, &items, &grew, msg, sizeof(msg)), DM_OK);
    assert_int_equal(items, 50);
    assert_int_equal(hostile_call(url, OP_SEARCH, &items, &grew, msg, sizeof(msg)), DM_OK);
    assert_int_equal(items, 50);
    /* one more: refused on both paths, retryable (the feed broke its contract) */
    hostile_page_items = 51;
    enum dm_err e = hostile_call(url, OP_SEARCH_RAW, &items, &grew, msg, sizeof(msg));
    assert_int_equal(e, DM_ERR_REMOTE);
    assert_non_null(strstr(msg, "more than the 50 asked for"));
    e = hostile_call(url, OP_SEARCH, &items, &grew, msg, sizeof(msg));
    assert_int_equal(e, DM_ERR_REMOTE);
    assert_non_null(strstr(msg, "51 items, more than the 50 asked for"));
    /* a million: refused by the scanner at item 51; too many values for jansson to build */
    hostile_page_items = 1000000;
    e = hostile_call(url, OP_SEARCH_RAW, &items, &grew, msg, sizeof(msg));
    printf("# raw page of 1,000,000 items: %s (%s), peak grew %ld MB\n", dm_strerror(e), msg, grew);
    assert_int_equal(e, DM_ERR_REMOTE);
    assert_true(grew < 40);
    e = hostile_call(url, OP_SEARCH, &items, &grew, msg, sizeof(msg));
    printf("# jansson page of 1,000,000 items: %s (%s), peak grew %ld MB\n", dm_strerror(e), msg,
           grew);
    assert_int_equal(e, DM_ERR_TOO_LARGE);
    assert_non_null(strstr(msg, "JSON values"));
    assert_true(grew < 40);
    /* and a page body over the 4 MiB page cap is refused while it downloads */
    hostile_page_items = 2000000; /* 6 MB */
    e = hostile_call(url, OP_SEARCH_RAW, &items, &grew, msg, sizeof(msg));
    assert_int_equal(e, DM_ERR_TOO_LARGE);
    assert_non_null(strstr(msg, "over 4194304 bytes"));
    dm_http_server_stop(srv);
}

int main(void)
{
    dm_log_init("test", DM_LOG_ERROR);
    dm_http_global_init();
    const struct CMUnitTest tests[] = {
        FX_TEST(test_token_reused_then_renewed_after_expiry, sim_5000_ttl_2s),
        FX_TEST(test_revoked_token_retried_once, sim_500),
        FX_TEST(test_wrong_password_is_auth_error, sim_100),
        FX_TEST(test_429_waits_retry_after, sim_500),
        FX_TEST(test_5xx_retried_and_succeeds, sim_500),
        FX_TEST(test_400_and_graphql_error_not_retried, sim_500),
        cmocka_unit_test(test_stalled_server_times_out),
        FX_TEST(test_one_authentication_for_many_threads, sim_500),
        FX_TEST(test_rate_limit_holds_under_8_threads, sim_500),
        FX_TEST(test_hold_and_order_change_availability, sim_300),
        cmocka_unit_test(test_huge_hold_answer_bounded),
        cmocka_unit_test(test_page_over_limit_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
