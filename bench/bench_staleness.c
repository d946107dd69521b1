/*
 * bench_staleness.c - how long a committed change takes to show in the API's search (issue 14:
 * "the seconds from each commit to the first search that reflects it"), measured while other
 * work (a reprice, a consolidation) runs. Driven by bench/staleness.sh.
 *
 * usage: bench_staleness DATABASE_URL API_BASE_URL API_KEY STOP_FILE [INTERVAL_MS [PROBES]]
 *
 * The database holds PROBES probe stones (feed 'probe', supplier_stone_id 'probe-<k>', k =
 * 0..PROBES-1, each with carats no other probe has). A committer thread, every INTERVAL_MS
 * (default 100), gives the next probe stone (round robin) a carat value never used before with
 * one plain autocommit UPDATE and records when the UPDATE returned (the commit is then
 * durable and visible). A poller thread searches, for every probe not yet seen,
 *   GET /api/v2/diamonds?feed=probe&carat_min=<c>&carat_max=<c>&limit=1
 * which finds the stone only once the search reflects that commit (the value is unique to it),
 * and records when the first such answer arrived (an upper bound: the answer's arrival, not
 * the moment the index applied the change). Rounds are 2 ms apart, so the resolution is a
 * few ms plus one request.
 * The committer stops when STOP_FILE exists; the poller then waits up to 60 s for the probes
 * still unseen. Prints progress on stderr and a JSON object on stdout (last line): probes,
 * seen, unseen, staleness max / p99 / p50 / mean in seconds, commit latency p50 / max, search
 * errors. An unseen probe counts as staleness above 60 s (p99 and max are then null).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/db/db.h"
#include "adapters/http/client.h"
#include "core/log.h"
#include "core/timeutil.h"

#define MAX_SAMPLES 100000
#define DRAIN_S 60

struct sample {
    int probe;
    char carats[16];
    int64_t commit_us; /* when the UPDATE returned */
    int64_t seen_us;   /* when the first reflecting search answer arrived, 0 = not yet */
};

struct shared {
    const char *api, *key, *stop_file;
    struct dm_db *db;
    int interval_ms, probes;
    pthread_mutex_t mu;
    struct sample *s;
    int n;               /* samples committed (under mu) */
    atomic_bool writing; /* the committer still runs */
    atomic_int search_errors, update_errors;
    atomic_long searches;
};

static void sleep_us(int64_t us)
{
    if (us <= 0)
        return;
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void *committer(void *arg)
{
    struct shared *sh = arg;
    struct dm_db_conn *c = NULL;
    struct dm_error err = {0};
    if (dm_db_acquire(sh->db, 10000, &c, &err) != DM_OK) {
        fprintf(stderr, "staleness: no database connection: %s\n", err.message);
        atomic_store(&sh->writing, false);
        return NULL;
    }
    int64_t next = dm_mono_us();
    for (int seq = 0; seq < MAX_SAMPLES && access(sh->stop_file, F_OK) != 0; seq++) {
        sleep_us(next - dm_mono_us());
        next += (int64_t)sh->interval_ms * 1000;
        struct sample smp = {.probe = seq % sh->probes};
        /* 100.00 + seq / 100: unique per commit, never a probe's starting value (10 + k). */
        snprintf(smp.carats, sizeof(smp.carats), "%d.%02d", 100 + seq / 100, seq % 100);
        char sid[32];
        snprintf(sid, sizeof(sid), "probe-%d", smp.probe);
        const char *p[] = {smp.carats, sid};
        if (dm_db_exec(c,
                       "UPDATE diamonds SET carats = $1::numeric, updated_at = now() "
                       "WHERE feed = 'probe' AND supplier_stone_id = $2",
                       2, p, NULL, &err) != DM_OK) {
            atomic_fetch_add(&sh->update_errors, 1);
            fprintf(stderr, "staleness: probe update failed: %s\n", err.message);
            continue;
        }
        smp.commit_us = dm_mono_us();
        pthread_mutex_lock(&sh->mu);
        sh->s[sh->n++] = smp;
        pthread_mutex_unlock(&sh->mu);
    }
    dm_db_release(c);
    atomic_store(&sh->writing, false);
    return NULL;
}

/* 1 when the search reflects the sample, 0 when not yet, -1 on an error answer. */
static int reflected(struct shared *sh, const struct sample *smp)
{
    char url[512], hdr[160];
    snprintf(url, sizeof(url), "%s/api/v2/diamonds?feed=probe&carat_min=%s&carat_max=%s&limit=1",
             sh->api, smp->carats, smp->carats);
    snprintf(hdr, sizeof(hdr), "X-API-Key: %s", sh->key);
    const char *headers[] = {hdr, NULL};
    struct dm_http_request req = {
        .method = "GET", .url = url, .headers = headers, .timeout_ms = 10000};
    struct dm_http_response resp;
    struct dm_error err = {0};
    int r = -1;
    atomic_fetch_add(&sh->searches, 1);
    if (dm_http_do(&req, &resp, &err) == DM_OK && resp.status == 200 && resp.body.data) {
        char want[48];
        snprintf(want, sizeof(want), "\"supplierStoneId\":\"probe-%d\"", smp->probe);
        r = strstr(resp.body.data, "\"total\":1,") && strstr(resp.body.data, want) ? 1 : 0;
    }
    dm_http_response_free(&resp);
    return r;
}

static void *poller(void *arg)
{
    struct shared *sh = arg;
    int64_t drain_until = 0;
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        int n = sh->n;
        pthread_mutex_unlock(&sh->mu);
        int pending = 0;
        for (int i = 0; i < n; i++) {
            if (sh->s[i].seen_us)
                continue;
            pending++;
            int r = reflected(sh, &sh->s[i]);
            if (r < 0)
                atomic_fetch_add(&sh->search_errors, 1);
            else if (r == 1)
                sh->s[i].seen_us = dm_mono_us();
        }
        if (!atomic_load(&sh->writing)) {
            if (drain_until == 0)
                drain_until = dm_mono_us() + (int64_t)DRAIN_S * 1000000;
            if (pending == 0 || dm_mono_us() > drain_until)
                break;
        }
        sleep_us(2000);
    }
    dm_http_thread_cleanup();
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_staleness DATABASE_URL API_BASE_URL API_KEY STOP_FILE "
                        "[INTERVAL_MS [PROBES]]\n");
        return 2;
    }
    dm_log_init("bench_staleness", DM_LOG_WARN);
    dm_http_global_init();
    struct shared sh = {.api = argv[2],
                        .key = argv[3],
                        .stop_file = argv[4],
                        .interval_ms = argc > 5 ? atoi(argv[5]) : 100,
                        .probes = argc > 6 ? atoi(argv[6]) : 50};
    if (sh.interval_ms < 1 || sh.probes < 1) {
        fprintf(stderr, "staleness: bad INTERVAL_MS or PROBES\n");
        return 2;
    }
    struct dm_error err = {0};
    if (dm_db_open(argv[1], 1, &sh.db, &err) != DM_OK) {
        fprintf(stderr, "staleness: %s\n", err.message);
        return 1;
    }
    pthread_mutex_init(&sh.mu, NULL);
    sh.s = calloc(MAX_SAMPLES, sizeof(*sh.s));
    if (sh.s == NULL)
        return 1;
    atomic_store(&sh.writing, true);
    pthread_t tw, tp;
    pthread_create(&tw, NULL, committer, &sh);
    pthread_create(&tp, NULL, poller, &sh);
    pthread_join(tw, NULL);
    pthread_join(tp, NULL);

    int n = sh.n, seen = 0;
    int64_t *st = calloc((size_t)n + 1, sizeof(*st)), *cl = calloc((size_t)n + 1, sizeof(*cl));
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (sh.s[i].seen_us) {
            st[seen] = sh.s[i].seen_us - sh.s[i].commit_us;
            sum += (double)st[seen];
            seen++;
        }
    }
    /* Commit latency: from the planned start of a round to the UPDATE's return is not kept;
     * the spacing of commits shows how often a probe waited behind other writers. */
    int ngap = 0;
    for (int i = 1; i < n; i++)
        cl[ngap++] = sh.s[i].commit_us - sh.s[i - 1].commit_us;
    qsort(st, (size_t)seen, sizeof(*st), cmp_i64);
    qsort(cl, (size_t)ngap, sizeof(*cl), cmp_i64);
    int unseen = n - seen;
    /* Unseen probes rank above every seen one. */
    int i99 = n > 0 ? (int)((n * 99 + 99) / 100) - 1 : -1;
    int i50 = n > 0 ? (int)((n * 50 + 99) / 100) - 1 : -1;
    char p99[32] = "null", p50[32] = "null", mx[32] = "null";
    if (i99 >= 0 && i99 < seen)
        snprintf(p99, sizeof(p99), "%.3f", (double)st[i99] / 1e6);
    if (i50 >= 0 && i50 < seen)
        snprintf(p50, sizeof(p50), "%.3f", (double)st[i50] / 1e6);
    if (unseen == 0 && seen > 0)
        snprintf(mx, sizeof(mx), "%.3f", (double)st[seen - 1] / 1e6);
    fprintf(stderr,
            "staleness: %d probes committed, %d seen, %d unseen after %d s; commit to first "
            "reflecting search: p50 %s s, p99 %s s, max %s s; %ld searches, %d errors; commit "
            "spacing p50 %.0f ms, max %.0f ms\n",
            n, seen, unseen, DRAIN_S, p50, p99, mx, atomic_load(&sh.searches),
            atomic_load(&sh.search_errors), ngap ? (double)cl[ngap / 2] / 1000 : 0.0,
            ngap ? (double)cl[ngap - 1] / 1000 : 0.0);
    printf("{\"staleness_probes\": %d, \"staleness_seen\": %d, \"staleness_unseen\": %d, "
           "\"staleness_p50_s\": %s, \"staleness_p99_s\": %s, \"staleness_max_s\": %s, "
           "\"staleness_mean_s\": %.3f, \"staleness_searches\": %ld, "
           "\"staleness_search_errors\": %d, \"staleness_update_errors\": %d, "
           "\"staleness_commit_spacing_max_ms\": %.0f}\n",
           n, seen, unseen, p50, p99, mx, seen ? sum / seen / 1e6 : 0.0, atomic_load(&sh.searches),
           atomic_load(&sh.search_errors), atomic_load(&sh.update_errors),
           ngap ? (double)cl[ngap - 1] / 1000 : 0.0);
    free(st);
    free(cl);
    free(sh.s);
    pthread_mutex_destroy(&sh.mu);
    dm_db_free(sh.db);
    dm_http_thread_cleanup();
    return unseen == 0 && n > 0 ? 0 : 1;
}
