/*
 * test_api_supplier.c - the real `diamond api` against a supplier double that answers Nivoda's
 * authenticate and create_hold (issue 15).
 *
 * Item 3: holds run off the HTTP threads. The double holds every create_hold until the test
 * opens its gate, so 32 holds are provably in flight at the supplier (it counts arrivals) while
 * /health and a search must each answer within 2 s; the API has fewer HTTP threads (8) than
 * holds in flight. With the deferral pool full a further hold gets 503, a client over its cap
 * 429, both with Retry-After; once the gate opens every hold completes and is recorded.
 *
 * Item 12: what the supplier answers is validated: a garbage `until` still leaves the placed
 * hold recorded (without an end, the problem noted); an empty hold id is recorded as a failed
 * hold and answered 502, the stone left available.
 */
#include "testlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/db/db.h"
#include "adapters/http/client.h"
#include "adapters/http/server.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/timeutil.h"

#define HOLDS 32       /* in flight at once: API_SUPPLIER_CONCURRENCY, 4 per key x 8 keys */
#define KEYS 9         /* 8 with 4 holds each, one more for the saturated pool */
#define HTTP_THREADS 8 /* API_THREADS: fewer than the holds in flight */

enum hold_mode { HOLD_GATED, HOLD_BAD_UNTIL, HOLD_EMPTY_ID };

/* The supplier double's state. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int arrivals; /* create_hold calls received */
static bool gate_open;
static enum hold_mode mode = HOLD_GATED;

static struct {
    struct dm_http_server *supplier;
    struct dm_db *db;
    char *url;
    pid_t api;
    char base[64];
    char keys[KEYS][40];
    char ids[HOLDS + 8][DM_UUID_LEN];
} S;

/* A create_hold: counted on arrival, answered once the gate opens (in HOLD_GATED mode). Runs on
 * the double's own deferral pool, so a waiting hold never blocks the double's HTTP threads. */
static void hold_answer(void *arg, const struct dm_http_req *req, struct dm_http_resp *resp)
{
    (void)arg;
    (void)req;
    pthread_mutex_lock(&mu);
    int n = ++arrivals;
    pthread_cond_broadcast(&cv);
    while (mode == HOLD_GATED && !gate_open)
        pthread_cond_wait(&cv, &mu);
    enum hold_mode m = mode;
    pthread_mutex_unlock(&mu);
    char id[32];
    snprintf(id, sizeof(id), "H-%d", n);
    json_t *hold =
        json_pack("{s:s,s:b,s:s}", "id", m == HOLD_EMPTY_ID ? "" : id, "denied", 0, "until",
                  m == HOLD_BAD_UNTIL ? "next tuesday-ish" : "2031-01-02T03:04:05Z");
    dm_http_resp_json(resp, 200, json_pack("{s:{s:{s:o}}}", "data", "as", "create_hold", hold));
}

static void supplier(void *ctx, const struct dm_http_req *req, struct dm_http_resp *resp)
{
    (void)ctx;
    if (strstr(req->body, "authenticate")) {
        dm_http_resp_json(resp, 200,
                          json_pack("{s:{s:{s:{s:s}}}}", "data", "authenticate",
                                    "username_and_password", "token", "tok-1"));
        return;
    }
    if (!strstr(req->body, "create_hold")) {
        dm_http_resp_error(resp, 400, "BAD", "unexpected operation");
        return;
    }
    if (!dm_http_defer(req, hold_answer, NULL))
        dm_http_resp_error(resp, 503, "BUSY", "supplier double saturated");
}

/* One request to the API: status (-1 on a transport failure or timeout); Retry-After into ra
 * when given. */
static long call(const char *method, const char *path, const char *key, long timeout_ms, char *ra,
                 size_t ra_size)
{
    char url[256], hdr[96];
    snprintf(url, sizeof(url), "%s%s", S.base, path);
    snprintf(hdr, sizeof(hdr), "X-API-Key: %s", key ? key : "");
    const char *headers[] = {hdr, NULL};
    struct dm_http_request rq = {
        .method = method, .url = url, .headers = key ? headers : NULL, .timeout_ms = timeout_ms};
    struct dm_http_response rs;
    struct dm_error err = {0};
    long status = -1;
    if (dm_http_do(&rq, &rs, &err) == DM_OK) {
        status = rs.status;
        if (ra && !dm_http_header(&rs, "Retry-After", ra, ra_size))
            ra[0] = '\0';
    }
    dm_http_response_free(&rs);
    return status;
}

struct holder {
    pthread_t th;
    int key, stone;
    long status;
};

static void *hold_thread(void *arg)
{
    struct holder *h = arg;
    char path[128];
    snprintf(path, sizeof(path), "/api/v2/diamonds/%s/hold", S.ids[h->stone]);
    h->status = call("POST", path, S.keys[h->key], 60000, NULL, 0);
    return NULL;
}

static void wait_arrivals(int want, int64_t within_ms)
{
    struct timespec deadline = dm_deadline_after(CLOCK_REALTIME, within_ms);
    pthread_mutex_lock(&mu);
    while (arrivals < want && pthread_cond_timedwait(&cv, &mu, &deadline) == 0)
        ;
    int got = arrivals;
    pthread_mutex_unlock(&mu);
    if (got < want)
        fail_msg("holds in flight at the supplier: %d of %d", got, want);
}

static char *scalar(const char *sql)
{
    return dm_test_scalar(S.db, sql);
}

static int setup(void **state)
{
    (void)state;
    dm_http_global_init();
    struct dm_error err = {0};
    struct dm_http_server_opts so = {
        .port = 0, .threads = 4, .pool_threads = HOLDS + 8, .handler = supplier};
    assert_int_equal(dm_http_server_start(&so, &S.supplier, &err), DM_OK);
    S.url = dm_test_new_db("api_supplier");
    assert_int_equal(dm_db_open(S.url, 2, &S.db, &err), DM_OK);
    dm_test_exec(S.db, "INSERT INTO diamonds (supplier_stone_id, offer_id, shape, carats, color, "
                       "clarity, feed_price, price_per_carat, retail_price, markup_ratio, "
                       "availability, content_hash) SELECT 'stone-'||g, 'offer-'||g, 'ROUND', 1, "
                       "'G', 'VS1', 1000, 1000, 1150, 1.15, 'available', repeat('a', 64) "
                       "FROM generate_series(1, 40) g");
    PGresult *r = dm_test_query(S.db, "SELECT id::text FROM diamonds ORDER BY offer_id");
    assert_int_equal(PQntuples(r), 40);
    for (int i = 0; i < HOLDS + 8; i++)
        snprintf(S.ids[i], sizeof(S.ids[i]), "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    for (int k = 0; k < KEYS; k++) {
        snprintf(S.keys[k], sizeof(S.keys[k]), "dk_supplier_test_key_%02d", k);
        char hash[DM_SHA256_HEX_LEN], name[32];
        dm_sha256_hex(S.keys[k], strlen(S.keys[k]), hash);
        snprintf(name, sizeof(name), "trader-%d", k);
        const char *p[2] = {hash, name};
        assert_int_equal(dm_db_query(S.db,
                                     "INSERT INTO api_keys (key_hash, client_name, permissions) "
                                     "VALUES ($1, $2, '{read,trade}')",
                                     2, p, NULL, &err),
                         DM_OK);
    }

    char e_niv[128], e_conc[48], e_thr[32];
    snprintf(e_niv, sizeof(e_niv), "NIVODA_ENDPOINT=http://127.0.0.1:%d/graphql",
             dm_http_server_port(S.supplier));
    snprintf(e_conc, sizeof(e_conc), "API_SUPPLIER_CONCURRENCY=%d", HOLDS);
    snprintf(e_thr, sizeof(e_thr), "API_THREADS=%d", HTTP_THREADS);
    const char *extra[] = {e_niv,
                           e_conc,
                           e_thr,
                           "API_SUPPLIER_QUEUE=0",
                           "API_SUPPLIER_PER_CLIENT=4",
                           "DATABASE_POOL_SIZE=48",
                           "NIVODA_USERNAME=u",
                           "NIVODA_PASSWORD=p",
                           "NIVODA_MAX_RPS=10000",
                           "HMAC_SECRETS={}",
                           "LOG_LEVEL=warn",
                           NULL};
    const char *drop[] = {"NIVODA_", "API_", NULL};
    S.api = dm_test_start_api(S.url, drop, extra, S.base, sizeof(S.base));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pthread_mutex_lock(&mu);
    gate_open = true; /* never leave a supplier call waiting */
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    dm_test_stop(S.api); /* exits 0: under ASan, no leak or error report */
    dm_http_server_stop(S.supplier);
    dm_db_free(S.db);
    free(S.url);
    return 0;
}

static void test_slow_supplier(void **state)
{
    (void)state;
    struct holder h[HOLDS];
    for (int i = 0; i < HOLDS; i++) {
        h[i].key = i / 4;
        h[i].stone = i;
        h[i].status = 0;
        assert_int_equal(pthread_create(&h[i].th, NULL, hold_thread, &h[i]), 0);
    }
    /* Precondition: every hold has reached the supplier and none can finish (gate closed). */
    wait_arrivals(HOLDS, 30000);

    /* The API answers everything else promptly meanwhile. */
    for (int round = 0; round < 3; round++) {
        int64_t t0 = dm_mono_ms();
        long health = call("GET", "/health", NULL, 10000, NULL, 0);
        int64_t t_health = dm_mono_ms() - t0;
        t0 = dm_mono_ms();
        long search = call("GET", "/api/v2/diamonds?limit=5", S.keys[KEYS - 1], 10000, NULL, 0);
        int64_t t_search = dm_mono_ms() - t0;
        if (health != 200 || t_health > 2000 || search != 200 || t_search > 2000)
            fail_msg("with %d holds in flight: /health %ld in %lld ms, search %ld in %lld ms",
                     HOLDS, health, (long long)t_health, search, (long long)t_search);
    }
    /* A client at its cap (4 in flight): 429 with Retry-After, no supplier call. */
    char ra[16] = "", path[128];
    snprintf(path, sizeof(path), "/api/v2/diamonds/%s/hold", S.ids[HOLDS]);
    assert_int_equal(call("POST", path, S.keys[0], 10000, ra, sizeof(ra)), 429);
    assert_true(ra[0] != '\0');
    /* Another client while the pool is saturated: 503 with Retry-After. */
    ra[0] = '\0';
    assert_int_equal(call("POST", path, S.keys[KEYS - 1], 10000, ra, sizeof(ra)), 503);
    assert_true(ra[0] != '\0');
    pthread_mutex_lock(&mu);
    assert_int_equal(arrivals, HOLDS); /* neither reached the supplier */
    for (int i = 0; i < HOLDS; i++)
        assert_int_equal(h[i].status, 0); /* all still in flight */
    gate_open = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);

    for (int i = 0; i < HOLDS; i++) {
        pthread_join(h[i].th, NULL);
        assert_int_equal(h[i].status, 200);
    }
    char *placed = scalar("SELECT count(*) FROM hold_history WHERE status = 'placed'");
    assert_string_equal(placed, "32");
    free(placed);
    /* The pool has room again. */
    assert_int_equal(call("POST", path, S.keys[KEYS - 1], 10000, NULL, 0), 200);
}

static void test_bad_supplier_answers(void **state)
{
    (void)state;
    pthread_mutex_lock(&mu);
    mode = HOLD_BAD_UNTIL;
    pthread_mutex_unlock(&mu);
    char path[128], sql[512];
    const char *stone = S.ids[HOLDS + 1];
    snprintf(path, sizeof(path), "/api/v2/diamonds/%s/hold", stone);
    assert_int_equal(call("POST", path, S.keys[1], 10000, NULL, 0), 200);
    snprintf(
        sql, sizeof(sql),
        "SELECT status || ' ' || supplier_hold_id || ' ' || (hold_until IS NULL) || ' ' || "
        "(error_message LIKE '%%invalid hold end%%') FROM hold_history WHERE diamond_id = '%s'",
        stone);
    char *v = scalar(sql);
    if (strncmp(v, "placed H-", 9) || !strstr(v, " true true"))
        fail_msg("garbage until: hold_history row is '%s'", v);
    free(v);
    snprintf(sql, sizeof(sql), "SELECT availability FROM diamonds WHERE id = '%s'", stone);
    dm_test_check_scalar(S.db, sql, "on_hold");

    pthread_mutex_lock(&mu);
    mode = HOLD_EMPTY_ID;
    pthread_mutex_unlock(&mu);
    stone = S.ids[HOLDS + 2];
    snprintf(path, sizeof(path), "/api/v2/diamonds/%s/hold", stone);
    assert_int_equal(call("POST", path, S.keys[1], 10000, NULL, 0), 502);
    snprintf(sql, sizeof(sql),
             "SELECT status || ' ' || (error_message LIKE '%%without a usable hold id%%') "
             "FROM hold_history WHERE diamond_id = '%s'",
             stone);
    dm_test_check_scalar(S.db, sql, "failed true");
    snprintf(sql, sizeof(sql),
             "SELECT availability || ' ' || COALESCE(hold_id, '-') FROM diamonds WHERE id = '%s'",
             stone);
    dm_test_check_scalar(S.db, sql, "available -");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_supplier),
        cmocka_unit_test(test_bad_supplier_answers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
