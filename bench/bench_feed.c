/*
 * bench_feed.c - feed benchmarks driven by bench/feed.sh.
 *   bench_feed sim URL THREADS SECONDS    raw pages of 50 per second from the simulator: THREADS
 *                                         clients POST diamonds_by_query pages with every item
 *                                         field the client asks for (random offsets across 30
 *                                         price bands) and only check status and size, so the
 *                                         simulator, not JSON parsing, is measured.
 *   bench_feed client URL THREADS SECONDS [LATENCY_MS]
 *                                         pages per second through the Nivoda client (token
 *                                         cache, rate limit at 100000 rps, full JSON parsing);
 *                                         LATENCY_MS is set on the simulator (POST /admin/faults)
 *                                         after the bands are measured, before the clock starts.
 * Prints one JSON object: {"pages":N,"seconds":S,"pages_per_s":R,"errors":E,"bytes":B,
 * "p50_ms":..,"p99_ms":..,"max_ms":..} (per-request latency as the clients saw it).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/feed/nivoda.h"
#include "adapters/http/client.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"

#define BANDS 30

static const char *url;
static int64_t deadline_ms;
static char token[512];
static int64_t bands[BANDS + 1]; /* dollar band edges */
static int64_t band_count[BANDS];
static struct dm_nivoda *client;

#define MAX_SAMPLES 200000

struct counters {
    int64_t pages, errors, bytes;
    int64_t *lat_us; /* per-request latency samples */
    size_t nlat;
};

static void sample(struct counters *c, int64_t t0_us)
{
    if (c->nlat < MAX_SAMPLES)
        c->lat_us[c->nlat++] = dm_mono_us() - t0_us;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : (x > y);
}

/* POST the JSON body to `to` (a page, at most 32 MiB, within timeout_ms). */
static enum dm_err post_to(const char *to, const char *body, int timeout_ms,
                           struct dm_http_response *resp, struct dm_error *err)
{
    const char *hdr[] = {"Content-Type: application/json", NULL};
    struct dm_http_request rq = {.method = "POST",
                                 .url = to,
                                 .headers = hdr,
                                 .body = body,
                                 .body_len = strlen(body),
                                 .timeout_ms = timeout_ms,
                                 .max_response = 32u << 20};
    return dm_http_do(&rq, resp, err);
}

/* POST a GraphQL request to the simulator. */
static enum dm_err post(const char *body, struct dm_http_response *resp, struct dm_error *err)
{
    return post_to(url, body, 30000, resp, err);
}

static int authenticate(void)
{
    const char *body = "{\"query\":\"query ($u: String!, $p: String!) { authenticate { "
                       "username_and_password(username: $u, password: $p) { token } } }\","
                       "\"variables\":{\"u\":\"sim\",\"p\":\"sim\"}}";
    struct dm_http_response resp;
    struct dm_error err = {0};
    if (post(body, &resp, &err) != DM_OK) {
        fprintf(stderr, "auth: %s\n", err.message);
        return -1;
    }
    json_t *data = NULL;
    bool tokerr;
    int rc = -1;
    if (dm_nivoda_parse_response(resp.status, resp.body.data, resp.body.len, &data, &tokerr,
                                 &err) == DM_OK &&
        dm_nivoda_extract_token(data, token, sizeof(token), &err) == DM_OK)
        rc = 0;
    else
        fprintf(stderr, "auth: %s\n", err.message);
    json_decref(data);
    dm_http_response_free(&resp);
    return rc;
}

/* The next page a worker asks for, from its random state *r: a price band (returned) and the
 * offset of one of the band's pages of 50. */
static int random_page(uint64_t *r, int64_t *off)
{
    *r = *r * 6364136223846793005ULL + 1442695040888963407ULL;
    int b = (int)((*r >> 33) % BANDS);
    int64_t pages = band_count[b] / 50;
    *off = pages > 0 ? (int64_t)((*r >> 13) % (uint64_t)pages) * 50 : 0;
    return b;
}

static void *sim_worker(void *p)
{
    struct counters *c = p;
    char body[4096];
    uint64_t r;
    dm_random_bytes(&r, sizeof(r));
    while (dm_mono_ms() < deadline_ms) {
        int64_t off;
        int b = random_page(&r, &off);
        snprintf(body, sizeof(body),
                 "{\"query\":\"query ($token: String!, $query: DiamondQuery, $offset: Int, "
                 "$limit: Int) { as(token: $token) { diamonds_by_query(query: $query, offset: "
                 "$offset, limit: $limit, order: {type: createdAt, direction: ASC}) { "
                 "total_count items { %s } } } }\",\"variables\":{\"token\":\"%s\",\"query\":{"
                 "\"sizes\":{\"from\":0.5,\"to\":10},\"dollar_value\":{\"from\":%lld,\"to\":%lld}}"
                 ",\"offset\":%lld,\"limit\":50}}",
                 dm_nivoda_item_fields(), token, (long long)bands[b], (long long)bands[b + 1] - 1,
                 (long long)off);
        struct dm_http_response resp;
        struct dm_error err = {0};
        int64_t t0 = dm_mono_us();
        enum dm_err e = post(body, &resp, &err);
        sample(c, t0);
        if (e == DM_OK && resp.status == 200 && resp.body.len > 1000) {
            c->pages++;
            c->bytes += (int64_t)resp.body.len;
        } else {
            c->errors++;
        }
        dm_http_response_free(&resp);
    }
    return NULL;
}

static void *client_worker(void *p)
{
    struct counters *c = p;
    uint64_t r;
    dm_random_bytes(&r, sizeof(r));
    while (dm_mono_ms() < deadline_ms) {
        int64_t off;
        int b = random_page(&r, &off);
        struct dm_feed_query q = {.price_from = bands[b], .price_to = bands[b + 1] - 1};
        struct dm_feed_page page;
        struct dm_error err = {0};
        int64_t t0 = dm_mono_us();
        enum dm_err e = dm_nivoda_search(client, &q, off, 50, &page, &err);
        sample(c, t0);
        if (e == DM_OK) {
            c->pages++;
            c->bytes += (int64_t)json_array_size(page.items);
        } else {
            c->errors++;
        }
        dm_feed_page_free(&page);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads, secs;
    int latency = 0;
    if (argc == 6 && dm_parse_int(argv[5], 0, 60000, &latency) != DM_OK)
        argc = 0;
    if (argc < 5 || argc > 6 || (strcmp(argv[1], "sim") && strcmp(argv[1], "client")) ||
        dm_parse_int(argv[3], 1, 256, &threads) != DM_OK ||
        dm_parse_int(argv[4], 1, 3600, &secs) != DM_OK) {
        fprintf(stderr, "usage: bench_feed sim|client URL THREADS SECONDS [LATENCY_MS]\n");
        return 2;
    }
    dm_log_init("bench", DM_LOG_ERROR);
    dm_http_global_init();
    url = argv[2];
    struct dm_nivoda_opts o = {.endpoint = url,
                               .username = "sim",
                               .password = "sim",
                               .max_rps = 100000,
                               .timeout_ms = 30000};
    client = dm_nivoda_new(&o);
    if (authenticate() != 0)
        return 1;
    /* 30 price bands by quantile: bisect each edge with count queries, like the scheduler. */
    struct dm_error err = {0};
    struct dm_feed_query all = {.price_from = -1, .price_to = -1};
    int64_t total = 0;
    if (dm_nivoda_count(client, &all, &total, &err) != DM_OK) {
        fprintf(stderr, "count: %s\n", err.message);
        return 1;
    }
    bands[0] = 0;
    bands[BANDS] = 100000000;
    for (int i = 1; i < BANDS; i++) {
        int64_t lo = bands[i - 1], hi = bands[BANDS], want = total * i / BANDS;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2, c = 0;
            struct dm_feed_query q = {.price_from = 0, .price_to = mid};
            if (dm_nivoda_count(client, &q, &c, &err) != DM_OK)
                return 1;
            if (c >= want)
                hi = mid;
            else
                lo = mid + 1;
        }
        bands[i] = lo + 1;
    }
    for (int i = 0; i < BANDS; i++) {
        struct dm_feed_query q = {.price_from = bands[i], .price_to = bands[i + 1] - 1};
        if (dm_nivoda_count(client, &q, &band_count[i], &err) != DM_OK)
            return 1;
    }
    if (latency > 0) {
        char furl[512], body[64];
        snprintf(furl, sizeof(furl), "%.*s/admin/faults",
                 (int)(strlen(url) - (strstr(url, "/graphql") ? strlen("/graphql") : 0)), url);
        snprintf(body, sizeof(body), "{\"latency_ms\":%d}", latency);
        struct dm_http_response resp;
        if (post_to(furl, body, 10000, &resp, &err) != DM_OK || resp.status != 200) {
            fprintf(stderr, "cannot set latency on %s\n", furl);
            dm_http_response_free(&resp);
            return 1;
        }
        dm_http_response_free(&resp);
    }
    pthread_t t[256];
    struct counters c[256];
    memset(c, 0, sizeof(c));
    for (int i = 0; i < threads; i++)
        c[i].lat_us = dm_xmalloc(MAX_SAMPLES * sizeof(int64_t));
    int64_t t0 = dm_mono_ms();
    deadline_ms = t0 + secs * 1000LL;
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, !strcmp(argv[1], "sim") ? sim_worker : client_worker, &c[i]);
    struct counters sum = {0};
    sum.lat_us = dm_xmalloc((size_t)threads * MAX_SAMPLES * sizeof(int64_t));
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        sum.pages += c[i].pages;
        sum.errors += c[i].errors;
        sum.bytes += c[i].bytes;
        memcpy(sum.lat_us + sum.nlat, c[i].lat_us, c[i].nlat * sizeof(int64_t));
        sum.nlat += c[i].nlat;
        free(c[i].lat_us);
    }
    qsort(sum.lat_us, sum.nlat, sizeof(int64_t), cmp_i64);
    double p50 = sum.nlat ? (double)sum.lat_us[sum.nlat / 2] / 1000.0 : 0;
    double p99 = sum.nlat ? (double)sum.lat_us[sum.nlat * 99 / 100] / 1000.0 : 0;
    double pmax = sum.nlat ? (double)sum.lat_us[sum.nlat - 1] / 1000.0 : 0;
    free(sum.lat_us);
    double took = (double)(dm_mono_ms() - t0) / 1000.0;
    printf("{\"pages\":%lld,\"seconds\":%.2f,\"pages_per_s\":%.1f,\"errors\":%lld,"
           "\"bytes\":%lld,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f}\n",
           (long long)sum.pages, took, (double)sum.pages / took, (long long)sum.errors,
           (long long)sum.bytes, p50, p99, pmax);
    dm_nivoda_free(client);
    return 0;
}
