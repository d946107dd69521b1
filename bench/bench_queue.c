/*
 * bench_queue.c - PostgreSQL queue backend figures: throughput of send -> receive -> complete
 * with one producer (batches of 100) and 4 consumer threads over N messages, and the
 * send-to-receive latency seen by an idle consumer (woken by LISTEN/NOTIFY) over M messages.
 * usage: bench_queue DATABASE_URL [MESSAGES [LATENCY_SAMPLES]]   (a migrated database)
 * Prints a JSON object of figures on stdout (last line).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/db/db.h"
#include "adapters/queue/queue.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"

#define CONSUMERS 4
#define BATCH 100

struct shared {
    struct dm_queue *q;
    int total;
    atomic_int completed;
    atomic_int errors;
};

static void *consumer(void *arg)
{
    struct shared *s = arg;
    while (atomic_load(&s->completed) < s->total) {
        struct dm_queue_msg *m = NULL;
        struct dm_error err = {0};
        if (dm_queue_receive(s->q, DM_Q_WORK_ITEMS, 200, &m, &err) != DM_OK) {
            atomic_fetch_add(&s->errors, 1);
            continue;
        }
        if (m == NULL)
            continue;
        if (dm_queue_complete(s->q, m, &err) == DM_OK)
            atomic_fetch_add(&s->completed, 1);
        else
            atomic_fetch_add(&s->errors, 1);
        dm_queue_msg_free(m);
    }
    return NULL;
}

static int throughput(struct dm_queue *q, int n, double *per_s)
{
    struct shared s = {.q = q, .total = n};
    pthread_t th[CONSUMERS];
    int64_t t0 = dm_mono_us();
    for (int i = 0; i < CONSUMERS; i++)
        pthread_create(&th[i], NULL, consumer, &s);
    char ids[BATCH][48];
    struct dm_queue_out out[BATCH];
    const char *body = "{\"type\":\"WORK_ITEM\",\"runId\":\"6f1c7f0e-8d0a-4f4e-9a57-0b4f9a3d2c11\","
                       "\"partitionId\":\"p-0001\",\"minPrice\":0,\"maxPrice\":1000,"
                       "\"offset\":0,\"limit\":30,\"attempt\":1}";
    int rc = 0;
    for (int sent = 0; sent < n;) {
        int k = n - sent < BATCH ? n - sent : BATCH;
        for (int i = 0; i < k; i++) {
            snprintf(ids[i], sizeof(ids[i]), "bench:%d:%d", (int)t0 % 100000, sent + i);
            out[i] = (struct dm_queue_out){.id = ids[i], .body = body};
        }
        struct dm_error err = {0};
        if (dm_queue_send_many(q, DM_Q_WORK_ITEMS, out, k, &err) != DM_OK) {
            fprintf(stderr, "send: %s\n", err.message);
            rc = 1;
            atomic_store(&s.completed, n); /* stop consumers */
            break;
        }
        sent += k;
    }
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(th[i], NULL);
    int64_t us = dm_mono_us() - t0;
    *per_s = (double)n * 1e6 / (double)us;
    fprintf(stderr, "throughput: %d messages in %.2f s = %.0f msgs/s (%d errors)\n", n,
            (double)us / 1e6, *per_s, atomic_load(&s.errors));
    return rc || atomic_load(&s.errors) ? 1 : 0;
}

struct lat {
    struct dm_queue *q;
    int n;
    int64_t *recv_us; /* per message receive time */
    atomic_int got;
    atomic_int waiting;
};

static void *lat_consumer(void *arg)
{
    struct lat *l = arg;
    while (atomic_load(&l->got) < l->n) {
        struct dm_queue_msg *m = NULL;
        struct dm_error err = {0};
        atomic_store(&l->waiting, 1);
        enum dm_err e = dm_queue_receive(l->q, DM_Q_CONSOLIDATE, 5000, &m, &err);
        int64_t t = dm_mono_us();
        atomic_store(&l->waiting, 0);
        if (e != DM_OK || m == NULL)
            continue;
        int idx = 0;
        if (dm_parse_int(m->body, 0, l->n - 1, &idx) == DM_OK)
            l->recv_us[idx] = t;
        if (dm_queue_complete(l->q, m, &err) != DM_OK)
            fprintf(stderr, "complete: %s\n", err.message);
        dm_queue_msg_free(m);
        atomic_fetch_add(&l->got, 1);
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int latency(struct dm_queue *q, int n, double *p50, double *p99)
{
    struct lat l = {.q = q, .n = n};
    l.recv_us = calloc((size_t)n, sizeof(int64_t));
    int64_t *sent_us = calloc((size_t)n, sizeof(int64_t));
    int64_t *d = calloc((size_t)n, sizeof(int64_t));
    pthread_t th;
    pthread_create(&th, NULL, lat_consumer, &l);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        /* Let the consumer go idle inside its receive before each send. */
        int64_t until = dm_mono_ms() + 5000;
        while ((atomic_load(&l.got) < i || !atomic_load(&l.waiting)) && dm_mono_ms() < until)
            dm_sleep_ms(1, NULL);
        dm_sleep_ms(10, NULL);
        char id[32], body[16];
        snprintf(id, sizeof(id), "lat:%d", i);
        snprintf(body, sizeof(body), "%d", i);
        struct dm_queue_out m = {.id = id, .body = body};
        struct dm_error err = {0};
        sent_us[i] = dm_mono_us();
        if (dm_queue_send(q, DM_Q_CONSOLIDATE, &m, &err) != DM_OK) {
            fprintf(stderr, "send: %s\n", err.message);
            rc = 1;
        }
    }
    int64_t until = dm_mono_ms() + 10000;
    while (atomic_load(&l.got) < n && dm_mono_ms() < until && rc == 0)
        dm_sleep_ms(5, NULL);
    if (atomic_load(&l.got) < n)
        rc = 1;
    atomic_store(&l.got, n);
    pthread_join(th, NULL);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (l.recv_us[i] > 0)
            d[k++] = l.recv_us[i] - sent_us[i];
    if (k > 0) {
        qsort(d, (size_t)k, sizeof(int64_t), cmp_i64);
        *p50 = (double)d[k / 2] / 1000.0;
        *p99 = (double)d[(k * 99) / 100 >= k ? k - 1 : (k * 99) / 100] / 1000.0;
    }
    fprintf(stderr, "idle latency over %d messages: p50 %.2f ms, p99 %.2f ms\n", k, *p50, *p99);
    free(l.recv_us);
    free(sent_us);
    free(d);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_queue DATABASE_URL [MESSAGES [LATENCY_SAMPLES]]\n");
        return 2;
    }
    int n = 20000, samples = 200;
    if ((argc > 2 && dm_parse_int(argv[2], 1, 10000000, &n) != DM_OK) ||
        (argc > 3 && dm_parse_int(argv[3], 1, 100000, &samples) != DM_OK)) {
        fprintf(stderr, "bench_queue: bad number\n");
        return 2;
    }
    dm_log_init("bench", DM_LOG_WARN);
    struct dm_db *db = dm_db_new(argv[1], CONSUMERS + 4);
    struct dm_queue *q = NULL;
    struct dm_error err = {0};
    if (dm_queue_open_pg(db, argv[1], NULL, &q, &err) != DM_OK) {
        fprintf(stderr, "open: %s\n", err.message);
        dm_db_free(db);
        return 1;
    }
    /* The machine is shared: record how busy it was, to read the figures against. */
    double load = -1;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &load) != 1) /* NOLINT(cert-err34-c): informative only */
            load = -1;
        fclose(la);
    }
    double per_s = 0, p50 = 0, p99 = 0;
    int rc = throughput(q, n, &per_s);
    rc |= latency(q, samples, &p50, &p99);
    printf(
        "{\"queue_msgs_per_s\": %.0f, \"queue_latency_p50_ms\": %.2f, "
        "\"queue_latency_p99_ms\": %.2f, \"queue_messages\": %d, \"queue_consumers\": %d, "
        "\"queue_latency_samples\": %d, \"queue_host_load_1m\": %.2f, "
        "\"targets\": {\"queue_msgs_per_s\": \">= 2000\", \"queue_latency_p50_ms\": \"<= 5\"}}\n",
        per_s, p50, p99, n, CONSUMERS, samples, load);
    dm_queue_free(q);
    dm_db_free(db);
    return rc;
}
