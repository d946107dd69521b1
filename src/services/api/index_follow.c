/* index_follow.c - load and follow the search index (see index_follow.h). */
#include "services/api/index_follow.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/db/listen.h"
#include "core/log.h"
#include "core/pgarray.h"
#include "core/num.h"
#include "core/timeutil.h"

#define CHUNK 20000     /* rows per FETCH */
#define APPLY_MAX 50000 /* changed rows applied as one version at most */
#define POLL_MS 1000    /* sync at least this often without a notification */
#define STALE_AFTER_MS 5000

struct api_index {
    char *conninfo;
    struct dm_search_index *ix;
    pthread_t th;
    bool started;
    atomic_bool stop;
    /* follower state (thread only) */
    struct dm_db_listener *l;
    int64_t last_seq, epoch;
    char *xip;     /* in-progress transactions at the previous read, as an xid8[] literal */
    char xmax[32]; /* and its xmax: transactions from there on were not finished either */
    char server_start[64], server_start_now[64]; /* pg_postmaster_start_time at load / now */
    bool loaded;
    const char *offsets_sql; /* how rows carry their time zone offsets (see connect()) */
    /* shared figures */
    pthread_mutex_t mu;
    pthread_cond_t synced; /* broadcast after every sync */
    int64_t db_seq, synced_ms, load_ms, loads, batches, rows_applied, errors, warned_ms, syncs;
};

/* The database's upper() of each text (dm_search_upper_fn), on the follower's connection. */
static enum dm_err db_upper(void *ctx, const char *const *in, size_t n, char **out,
                            struct dm_error *err)
{
    struct api_index *ai = ctx;
    struct dm_buf arr;
    dm_buf_init(&arr, (size_t)64 * 1024 * 1024);
    enum dm_err e = dm_pgarray_encode(&arr, in, n);
    PGresult *r = NULL;
    const char *p[1] = {arr.data};
    if (e == DM_OK)
        e = dm_db_listener_exec(ai->l,
                                "SELECT upper(x) FROM unnest($1::text[]) WITH ORDINALITY t(x, i) "
                                "ORDER BY i",
                                1, p, false, &r, err);
    else
        dm_error_set(err, e, "upper: %s", dm_strerror(e));
    dm_buf_free(&arr);
    if (e != DM_OK)
        return e;
    if ((size_t)PQntuples(r) != n) {
        PQclear(r);
        return dm_error_set(err, DM_ERR_DB, "upper: %d rows for %zu values", PQntuples(r), n);
    }
    for (size_t i = 0; i < n; i++)
        out[i] = dm_xstrdup(PQgetvalue(r, (int)i, 0));
    PQclear(r);
    return DM_OK;
}

struct api_index *api_index_new(const char *conninfo)
{
    struct api_index *ai = dm_xcalloc(1, sizeof(*ai));
    ai->conninfo = dm_xstrdup(conninfo ? conninfo : "");
    ai->ix = dm_search_index_new();
    dm_search_index_set_upper(ai->ix, db_upper, ai);
    ai->warned_ms = INT64_MIN / 2;
    ai->xip = dm_xstrdup("{}");
    pthread_mutex_init(&ai->mu, NULL);
    pthread_cond_init(&ai->synced, NULL);
    return ai;
}

struct dm_search_index *api_index_get(struct api_index *ai)
{
    return ai->ix;
}

static void note_error(struct api_index *ai, const struct dm_error *err, const char *what)
{
    pthread_mutex_lock(&ai->mu);
    int64_t n = ++ai->errors, now = dm_mono_ms();
    /* An outage retries every second: say so at once, then once a minute. */
    bool say = now - ai->warned_ms >= 60000;
    if (say)
        ai->warned_ms = now;
    pthread_mutex_unlock(&ai->mu);
    if (say)
        dm_warn(NULL,
                "search index: %s: %s (%lld follower errors so far; searches answer from "
                "the index as it is)",
                what, err->message, (long long)n);
}

/* Parse the rows of r into recs (appending); returns DM_OK or the first unreadable row. */
static enum dm_err parse_rows(struct api_index *ai, PGresult *r, struct dm_stone **recs,
                              bool *deleted, size_t *n, int64_t *max_seq, struct dm_error *err)
{
    int rows = PQntuples(r);
    if (PQnfields(r) != DM_SC_COUNT)
        return dm_error_set(err, DM_ERR_INTERNAL, "expected %d columns, got %d", DM_SC_COUNT,
                            PQnfields(r));
    for (int i = 0; i < rows; i++) {
        const char *vals[DM_SC_COUNT];
        size_t lens[DM_SC_COUNT];
        for (int c = 0; c < DM_SC_COUNT; c++) {
            vals[c] = PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
            lens[c] = (size_t)PQgetlength(r, i, c);
        }
        struct dm_stone *s = NULL;
        bool del = false;
        enum dm_err e = dm_stone_parse(ai->ix, vals, lens, &s, &del, err);
        if (e != DM_OK)
            return e;
        int64_t seq = dm_stone_change_seq(s);
        if (seq > *max_seq)
            *max_seq = seq;
        recs[*n] = s;
        if (deleted)
            deleted[*n] = del;
        (*n)++;
    }
    return DM_OK;
}

/* BEGIN a repeatable-read snapshot and read the epoch, the latest sequence and the snapshot's
 * in-progress transactions. */
static enum dm_err begin_snapshot(struct api_index *ai, int64_t *epoch, int64_t *seq, char **xip,
                                  char xmax[32], struct dm_error *err)
{
    PGresult *r = NULL;
    enum dm_err e = dm_db_listener_exec(ai->l, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
                                        NULL, false, NULL, err);
    if (e == DM_OK)
        e = dm_db_listener_exec(ai->l,
                                "SELECT (SELECT epoch FROM catalogue_epoch), "
                                "(SELECT coalesce(max(change_seq), 0) FROM diamonds), "
                                "(SELECT coalesce(array_agg(x)::text, '{}') FROM "
                                "pg_snapshot_xip(pg_current_snapshot()) x), "
                                "pg_snapshot_xmax(pg_current_snapshot())::text, "
                                "pg_postmaster_start_time()::text",
                                0, NULL, false, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) != 1 || dm_parse_i64(PQgetvalue(r, 0, 0), 0, INT64_MAX, epoch) != DM_OK ||
        dm_parse_i64(PQgetvalue(r, 0, 1), 0, INT64_MAX, seq) != DM_OK) {
        PQclear(r);
        return dm_error_set(err, DM_ERR_DB, "unexpected snapshot row");
    }
    *xip = dm_xstrdup(PQgetvalue(r, 0, 2));
    snprintf(xmax, 32, "%s", PQgetvalue(r, 0, 3));
    snprintf(ai->server_start_now, sizeof(ai->server_start_now), "%s", PQgetvalue(r, 0, 4));
    PQclear(r);
    return DM_OK;
}

static void end_snapshot(struct api_index *ai)
{
    struct dm_error err = {0};
    if (dm_db_listener_exec(ai->l, "ROLLBACK", 0, NULL, false, NULL, &err) != DM_OK)
        dm_warn(NULL, "search index: rollback: %s", err.message);
}

static int64_t cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum dm_err full_load(struct api_index *ai, struct dm_error *err)
{
    int64_t t0 = dm_mono_ms(), c0 = cpu_ms(), read_ms = 0, read_cpu = 0;
    int64_t epoch = 0, seq = 0;
    char *xip = NULL, xmax[32] = "0";
    struct dm_stone **recs = NULL;
    size_t n = 0, cap = 0;
    PGresult *r = NULL;
    enum dm_err e = begin_snapshot(ai, &epoch, &seq, &xip, xmax, err);
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "DECLARE dm_ix BINARY NO SCROLL CURSOR FOR SELECT %s, %s FROM diamonds "
             "WHERE status = 'active' AND chosen",
             DM_STONE_COLUMNS_SQL, ai->offsets_sql);
    if (e == DM_OK)
        e = dm_db_listener_exec(ai->l, sql, 0, NULL, false, NULL, err);
    int64_t max_seq = 0;
    /* The next chunk is asked for before this one is parsed: the server reads while we parse. */
    if (e == DM_OK)
        e = dm_db_listener_send(ai->l, "FETCH 20000 FROM dm_ix", true, err);
    while (e == DM_OK) {
        e = dm_db_listener_result(ai->l, &r, err);
        if (e != DM_OK || PQntuples(r) == 0)
            break;
        if (PQntuples(r) == 20000)
            e = dm_db_listener_send(ai->l, "FETCH 20000 FROM dm_ix", true, err);
        if (e != DM_OK)
            break;
        if (n + (size_t)PQntuples(r) > cap) {
            cap = (cap ? cap * 2 : 65536) + (size_t)PQntuples(r);
            /* An array of pointers: clang-tidy 14 misreads sizeof(*p) here (15 adds an option). */
            /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
            recs = dm_xrealloc(recs, cap * sizeof(*recs));
        }
        bool last = PQntuples(r) < 20000;
        e = parse_rows(ai, r, recs, NULL, &n, &max_seq, err);
        PQclear(r);
        r = NULL;
        if (e != DM_OK && !last) { /* collect the chunk already asked for */
            struct dm_error ignored = {0};
            if (dm_db_listener_result(ai->l, &r, &ignored) == DM_OK)
                PQclear(r);
            r = NULL;
        }
        if (last)
            break;
    }
    PQclear(r);
    end_snapshot(ai);
    read_ms = dm_mono_ms() - t0;
    read_cpu = cpu_ms() - c0;
    if (e == DM_OK) {
        e = dm_search_index_build(ai->ix, recs, n, seq, err);
        n = 0; /* owned by the index now */
    }
    for (size_t i = 0; i < n; i++)
        dm_stone_free(recs[i]);
    free(recs);
    malloc_trim(0); /* the load's transient buffers back to the system */
    if (e != DM_OK) {
        free(xip);
        return e;
    }
    ai->last_seq = seq;
    ai->epoch = epoch;
    snprintf(ai->server_start, sizeof(ai->server_start), "%s", ai->server_start_now);
    free(ai->xip);
    ai->xip = xip;
    snprintf(ai->xmax, sizeof(ai->xmax), "%s", xmax);
    ai->loaded = true;
    int64_t now = dm_mono_ms();
    pthread_mutex_lock(&ai->mu);
    ai->load_ms = now - t0;
    ai->loads++;
    ai->db_seq = seq;
    ai->synced_ms = now;
    pthread_cond_broadcast(&ai->synced);
    pthread_mutex_unlock(&ai->mu);
    struct dm_search_index_stats st;
    dm_search_index_stats(ai->ix, &st);
    dm_info(NULL,
            "search index: loaded %lld active diamonds at change %lld in %lld ms (reading %lld "
            "ms, %lld ms of it parsing; building %lld ms, %lld ms CPU)",
            (long long)st.rows, (long long)seq, (long long)(now - t0), (long long)read_ms,
            (long long)read_cpu, (long long)(now - t0 - read_ms),
            (long long)(cpu_ms() - c0 - read_cpu));
    return DM_OK;
}

/* Read and apply what changed since the previous read. */
static enum dm_err follow_once(struct api_index *ai, bool *reload, struct dm_error *err)
{
    int64_t epoch = 0, seq = 0, t0 = dm_mono_ms(), apply_ms = 0;
    char *xip = NULL, xmax[32] = "0";
    *reload = false;
    enum dm_err e = begin_snapshot(ai, &epoch, &seq, &xip, xmax, err);
    if (e != DM_OK) {
        free(xip);
        return e;
    }
    /* A new catalogue epoch (DELETE/TRUNCATE) or a server that restarted: after a crash with
     * asynchronous commit, or a failover, commits this index applied may be gone and the
     * sequence may hand out numbers it has already seen, so following could miss rows. */
    if (epoch != ai->epoch || strcmp(ai->server_start_now, ai->server_start) != 0) {
        end_snapshot(ai);
        free(xip);
        *reload = true;
        return DM_OK;
    }
    char sql[2048];
    /* Rows past the last sequence applied, and rows of transactions that were in progress at
     * the previous read, whose sequences may be below it: those its snapshot lists (xip) and
     * those at or above its xmax, which a snapshot does not list (a transaction that started
     * after the last one to finish). Keyset pages by change_seq. */
    snprintf(sql, sizeof(sql),
             "SELECT %s, %s FROM diamonds WHERE (change_seq > $1 OR change_xid = ANY($2::xid8[]) "
             "OR change_xid >= $4::xid8) AND change_seq > $3 ORDER BY change_seq LIMIT %d",
             DM_STONE_COLUMNS_SQL, ai->offsets_sql, CHUNK);
    char floor_s[32], after_s[32];
    snprintf(floor_s, sizeof(floor_s), "%lld", (long long)ai->last_seq);
    int64_t after = -1, max_seq = ai->last_seq, applied = 0;
    /* Rows are read CHUNK at a time and applied as one version per APPLY_MAX rows: every
     * version costs a pass over the whole index, so a sync that reads 30,000 changed rows makes
     * one version, not two. */
    /* An array of pointers: clang-tidy 14 misreads sizeof(*p) here (15 adds an option). */
    /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
    struct dm_stone **recs = dm_xmalloc(APPLY_MAX * sizeof(*recs));
    bool *deleted = dm_xmalloc(APPLY_MAX * sizeof(bool));
    size_t n = 0;
    for (;;) {
        snprintf(after_s, sizeof(after_s), "%lld", (long long)after);
        const char *p[4] = {floor_s, ai->xip, after_s, ai->xmax};
        PGresult *r = NULL;
        e = dm_db_listener_exec(ai->l, sql, 4, p, true, &r, err);
        if (e != DM_OK)
            break;
        int rows = PQntuples(r);
        int64_t chunk_max = after;
        size_t before = n;
        e = parse_rows(ai, r, recs, deleted, &n, &chunk_max, err);
        PQclear(r);
        applied += (int64_t)(n - before);
        bool last = e != DM_OK || rows < CHUNK;
        if (e == DM_OK && n > 0 && (last || n + CHUNK > APPLY_MAX)) {
            int64_t a0 = dm_mono_ms();
            e = dm_search_index_apply(ai->ix, recs, deleted, n, ai->last_seq, err);
            apply_ms += dm_mono_ms() - a0;
            n = 0; /* owned by the index now (freed on failure too) */
        }
        if (e != DM_OK)
            break;
        after = chunk_max;
        if (chunk_max > max_seq)
            max_seq = chunk_max;
        if (last)
            break;
    }
    for (size_t i = 0; i < n; i++)
        dm_stone_free(recs[i]);
    free(recs);
    free(deleted);
    end_snapshot(ai);
    if (e != DM_OK) {
        free(xip);
        return e;
    }
    if (max_seq > ai->last_seq)
        ai->last_seq = max_seq;
    free(ai->xip);
    ai->xip = xip;
    snprintf(ai->xmax, sizeof(ai->xmax), "%s", xmax);
    /* Everything committed up to this snapshot is in the index now. */
    dm_search_index_mark(ai->ix, seq > ai->last_seq ? seq : ai->last_seq);
    pthread_mutex_lock(&ai->mu);
    ai->db_seq = seq > ai->last_seq ? seq : ai->last_seq;
    ai->synced_ms = dm_mono_ms();
    ai->syncs++;
    pthread_cond_broadcast(&ai->synced);
    if (applied > 0)
        dm_debug(NULL, "search index: applied %lld changed rows in %lld ms (%lld ms publishing)",
                 (long long)applied, (long long)(dm_mono_ms() - t0), (long long)apply_ms);
    if (applied > 0) {
        ai->batches++;
        ai->rows_applied += applied;
    }
    pthread_mutex_unlock(&ai->mu);
    return DM_OK;
}

/* Open the listener and learn the session's time zone: under UTC (the usual server setting)
 * every offset is 0 and rows need not carry theirs. */
static enum dm_err connect_listener(struct api_index *ai, struct dm_error *err)
{
    static const char *const utc[] = {"UTC",       "Etc/UTC",      "GMT",       "Etc/GMT",
                                      "UCT",       "Etc/UCT",      "Universal", "Etc/Universal",
                                      "Zulu",      "Etc/Zulu",     "GMT0",      "Etc/GMT0",
                                      "Greenwich", "Etc/Greenwich"};
    enum dm_err e = dm_db_listener_open(ai->conninfo, "diamonds_changed", &ai->l, err);
    PGresult *r = NULL;
    if (e == DM_OK)
        e = dm_db_listener_exec(ai->l, "SELECT current_setting('TimeZone')", 0, NULL, false, &r,
                                err);
    if (e != DM_OK)
        return e;
    const char *tz = PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "";
    ai->offsets_sql = DM_STONE_OFFSETS_SQL;
    for (size_t i = 0; i < sizeof(utc) / sizeof(utc[0]); i++)
        if (!strcmp(tz, utc[i]))
            ai->offsets_sql = DM_STONE_OFFSETS_UTC_SQL;
    PQclear(r);
    return DM_OK;
}

static void pause_ms(struct api_index *ai, int ms)
{
    for (int t = 0; t < ms && !atomic_load(&ai->stop); t += 100)
        dm_sleep_ms(100, NULL);
}

static void *run(void *arg)
{
    struct api_index *ai = arg;
    int64_t last_sync = 0;
    while (!atomic_load(&ai->stop)) {
        struct dm_error err = {0};
        if (ai->l == NULL) {
            if (connect_listener(ai, &err) != DM_OK) {
                dm_db_listener_free(ai->l);
                ai->l = NULL;
                note_error(ai, &err, "connect");
                pause_ms(ai, 1000);
                continue;
            }
        }
        enum dm_err e = DM_OK;
        bool reload = !ai->loaded;
        if (!reload)
            e = follow_once(ai, &reload, &err);
        if (e == DM_OK && reload)
            e = full_load(ai, &err);
        if (e != DM_OK) {
            note_error(ai, &err, ai->loaded ? "follow" : "load");
            dm_db_listener_free(ai->l);
            ai->l = NULL;
            pause_ms(ai, 1000);
            continue;
        }
        last_sync = dm_mono_ms();
        /* Wait for a notification, or poll once a second in case one was missed. */
        while (!atomic_load(&ai->stop)) {
            bool notified = false;
            e = dm_db_listener_wait(ai->l, 250, &notified, &err);
            if (e != DM_OK) {
                note_error(ai, &err, "listen");
                dm_db_listener_free(ai->l);
                ai->l = NULL;
                break;
            }
            if (notified || dm_mono_ms() - last_sync >= POLL_MS)
                break;
        }
    }
    return NULL;
}

enum dm_err api_index_start(struct api_index *ai)
{
    if (pthread_create(&ai->th, NULL, run, ai) != 0)
        return DM_ERR_INTERNAL;
    ai->started = true;
    return DM_OK;
}

void api_index_stop(struct api_index *ai)
{
    if (ai == NULL || !ai->started)
        return;
    atomic_store(&ai->stop, true);
    pthread_join(ai->th, NULL);
    ai->started = false;
}

void api_index_free(struct api_index *ai)
{
    if (ai == NULL)
        return;
    api_index_stop(ai);
    dm_db_listener_free(ai->l);
    dm_search_index_free(ai->ix);
    pthread_mutex_destroy(&ai->mu);
    pthread_cond_destroy(&ai->synced);
    free(ai->xip);
    free(ai->conninfo);
    free(ai);
}

bool api_index_wait(struct api_index *ai, int64_t seq, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    struct dm_search_index_stats st;
    pthread_mutex_lock(&ai->mu);
    for (;;) {
        dm_search_index_stats(ai->ix, &st);
        if (st.loaded && st.last_seq >= seq)
            break;
        if (pthread_cond_timedwait(&ai->synced, &ai->mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&ai->mu);
    return st.loaded && st.last_seq >= seq;
}

void api_index_status(struct api_index *ai, struct api_index_status *out)
{
    memset(out, 0, sizeof(*out));
    dm_search_index_stats(ai->ix, &out->ix);
    pthread_mutex_lock(&ai->mu);
    int64_t now = dm_mono_ms();
    out->db_seq = ai->db_seq;
    out->lag_seconds = out->ix.loaded ? (double)(now - ai->synced_ms) / 1000.0 : 0;
    out->load_seconds = (double)ai->load_ms / 1000.0;
    out->loads = ai->loads;
    out->batches = ai->batches;
    out->rows_applied = ai->rows_applied;
    out->errors = ai->errors;
    out->syncs = ai->syncs;
    bool stale = now - ai->synced_ms > STALE_AFTER_MS;
    pthread_mutex_unlock(&ai->mu);
    out->status = !out->ix.loaded ? "loading" : stale ? "stale" : "ok";
}

void api_index_metrics(struct api_index *ai, struct dm_buf *b)
{
    struct api_index_status s;
    api_index_status(ai, &s);
    enum dm_err e = dm_buf_appendf(
        b,
        "# HELP diamond_search_index_loaded 1 once the search index has loaded\n"
        "# TYPE diamond_search_index_loaded gauge\ndiamond_search_index_loaded %d\n"
        "# HELP diamond_search_index_rows Active diamonds in the search index\n"
        "# TYPE diamond_search_index_rows gauge\ndiamond_search_index_rows %lld\n"
        "# HELP diamond_search_index_bytes Memory held by the search index\n"
        "# TYPE diamond_search_index_bytes gauge\ndiamond_search_index_bytes %lld\n"
        "# HELP diamond_search_index_last_seq Change sequence the index has applied\n"
        "# TYPE diamond_search_index_last_seq gauge\ndiamond_search_index_last_seq %lld\n"
        "# HELP diamond_search_index_lag_seqs Database changes not yet applied, as last read\n"
        "# TYPE diamond_search_index_lag_seqs gauge\ndiamond_search_index_lag_seqs %lld\n"
        "# HELP diamond_search_index_lag_seconds Seconds since the index last had every commit\n"
        "# TYPE diamond_search_index_lag_seconds gauge\ndiamond_search_index_lag_seconds %.3f\n"
        "# HELP diamond_search_index_load_seconds Duration of the last full load\n"
        "# TYPE diamond_search_index_load_seconds gauge\n"
        "diamond_search_index_load_seconds %.3f\n"
        "# HELP diamond_search_index_loads_total Full loads (start and reloads)\n"
        "# TYPE diamond_search_index_loads_total counter\ndiamond_search_index_loads_total %lld\n"
        "# HELP diamond_search_index_batches_total Change batches applied\n"
        "# TYPE diamond_search_index_batches_total counter\n"
        "diamond_search_index_batches_total %lld\n"
        "# HELP diamond_search_index_rows_applied_total Changed rows applied\n"
        "# TYPE diamond_search_index_rows_applied_total counter\n"
        "diamond_search_index_rows_applied_total %lld\n"
        "# HELP diamond_search_index_syncs_total Reads of the changes since the previous one\n"
        "# TYPE diamond_search_index_syncs_total counter\ndiamond_search_index_syncs_total %lld\n"
        "# HELP diamond_search_index_errors_total Follower errors (connection, statements)\n"
        "# TYPE diamond_search_index_errors_total counter\n"
        "diamond_search_index_errors_total %lld\n"
        "# HELP diamond_search_index_versions_pinned Retired versions still pinned by readers\n"
        "# TYPE diamond_search_index_versions_pinned gauge\n"
        "diamond_search_index_versions_pinned %lld\n",
        s.ix.loaded ? 1 : 0, (long long)s.ix.rows, (long long)s.ix.bytes, (long long)s.ix.last_seq,
        (long long)(s.db_seq > s.ix.last_seq ? s.db_seq - s.ix.last_seq : 0), s.lag_seconds,
        s.load_seconds, (long long)s.loads, (long long)s.batches, (long long)s.rows_applied,
        (long long)s.syncs, (long long)s.errors, (long long)s.ix.pinned);
    (void)e;
}
