/*
 * queue_pg.c - the PostgreSQL queue backend (tables in sql/migrations/002_queues.sql).
 *
 * Every time is the database server's clock, so many processes on many machines agree.
 * - send: one multi-row INSERT per batch of up to BATCH_ROWS messages (all batches in one
 *   transaction); with a duplicate window, a record per (queue, message id) in queue_dedup
 *   is inserted or refreshed only when expired, and only messages whose record was
 *   (re)written are inserted, so duplicates inside the window are accepted and dropped even
 *   after the original was completed. Each send NOTIFYs channel dm_queue (payload: queue).
 * - receive: one statement takes the earliest visible message (visible_at, seq) with FOR
 *   UPDATE SKIP LOCKED and either locks it (delivery_count + 1, fresh uuid lock token,
 *   visible_at = lock expiry) or, when it is past max delivery or its time-to-live, moves it
 *   to queue_dead_letters (MaxDeliveryCountExceeded / TTLExpiredException) and tries again.
 *   Order is by the time a message became visible: enqueue order for new messages; an
 *   abandoned or lock-expired one lines up again from that moment (Service Bus keeps its
 *   place; no consumer here depends on order).
 * - settle: complete / abandon / dead-letter / renew match (seq, lock token) and an unexpired
 *   lock; no row means DM_ERR_LOCK_LOST. Abandon of the max-th delivery dead-letters at once.
 * - receive, complete and single-message sends run as prepared statements on each pooled
 *   connection (dm_db_exec_prepared), falling back to planned statements behind a transaction
 *   pooler.
 * - idle receivers wait on a condition variable woken by a dedicated LISTEN connection (one
 *   per handle, opened by the first waiting receive, not taken from the pool), and at the
 *   latest after POLL_MS or when the next scheduled message or lock expiry is due. The
 *   LISTEN connection needs a session (not a transaction pooler): without it, receivers
 *   still work by polling.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/db/db.h"
#include "adapters/queue/queue_impl.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/num.h"
#include "core/signals.h"
#include "core/timeutil.h"

#define POLL_MS 1000          /* fallback poll when no notification arrives */
#define ACQUIRE_MS 10000      /* wait for a pooled connection */
#define BATCH_ROWS 1000       /* messages per INSERT statement */
#define BATCH_BYTES (8 << 20) /* body bytes per INSERT statement */
#define DEDUP_SWEEP_MS 60000  /* delete expired duplicate records this often per handle */
#define CHANNEL "dm_queue"

/* Milliseconds since the epoch of a timestamptz expression. */
#define MS(x) "(extract(epoch from " x ") * 1000)::bigint"

struct pg_queue {
    struct dm_db *db;
    char *conninfo;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    uint64_t gen[DM_Q_COUNT];
    bool listener_started;
    bool stopping;
    pthread_t listener;
    int wake[2]; /* self-pipe that stops the listener */
    int64_t last_dedup_sweep;
};

static struct pg_queue *impl(struct dm_queue *q)
{
    return q->impl;
}

static char *i64str(int64_t v)
{
    return dm_xasprintf("%" PRId64, v);
}

/* ---- wakeups ------------------------------------------------------------------------- */

static void bump(struct pg_queue *p, int which)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < DM_Q_COUNT; i++)
        if (which < 0 || which == i)
            p->gen[i]++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static PGconn *listen_connect(struct pg_queue *p)
{
    /* A bounded connect: stopping the handle joins this thread. Later keywords override
     * what the expanded conninfo says. */
    const char *const keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *const vals[] = {p->conninfo, "5", "diamond-queue-listener", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return NULL;
    }
    PGresult *r = PQexec(c, "LISTEN " CHANNEL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || PQsetnonblocking(c, 1) != 0) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

static void *listener_main(void *arg)
{
    struct pg_queue *p = arg;
    PGconn *c = NULL;
    bool warned = false;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        bool stop = p->stopping;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        if (c == NULL) {
            c = listen_connect(p);
            if (c) {
                warned = false;
                bump(p, -1); /* notifications may have been missed while disconnected */
            } else if (!warned) {
                dm_warn(NULL, "queue: LISTEN connection failed; receivers poll every %d ms",
                        POLL_MS);
                warned = true;
            }
        }
        struct pollfd fds[2] = {{.fd = p->wake[0], .events = POLLIN},
                                {.fd = c ? PQsocket(c) : -1, .events = POLLIN}};
        int rc = poll(fds, c ? 2 : 1, POLL_MS);
        if (rc < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            break;
        if (c == NULL || rc <= 0 || fds[1].revents == 0)
            continue;
        if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            c = NULL;
            bump(p, -1);
            continue;
        }
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL) {
            enum dm_queue_name name;
            if (dm_queue_parse_name(n->extra, &name) == DM_OK)
                bump(p, (int)name);
            PQfreemem(n);
        }
    }
    if (c)
        PQfinish(c);
    return NULL;
}

static void ensure_listener(struct pg_queue *p)
{
    if (p->conninfo == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    if (!p->listener_started && !p->stopping) {
        if (pthread_create(&p->listener, NULL, listener_main, p) == 0)
            p->listener_started = true;
    }
    pthread_mutex_unlock(&p->mu);
}

/* Wait until the generation of `name` moves from gen or wait_ms passes. */
static void wait_for(struct pg_queue *p, enum dm_queue_name name, uint64_t gen, int64_t wait_ms)
{
    struct timespec ts = dm_deadline_after(CLOCK_MONOTONIC, wait_ms);
    pthread_mutex_lock(&p->mu);
    while (p->gen[name] == gen && !p->stopping)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0)
            break;
    pthread_mutex_unlock(&p->mu);
}

/* ---- results --------------------------------------------------------------------------- */

static int64_t get_i64(const PGresult *r, int row, int col)
{
    const char *v = dm_db_get(r, row, col);
    int64_t x = 0;
    if (v == NULL || dm_parse_i64(v, INT64_MIN, INT64_MAX, &x) != DM_OK)
        return 0;
    return x;
}

/* A bytea column (hex text format) as a NUL-terminated malloc'd string. Embedded NUL bytes
 * are kept in the buffer; the body is whatever bytes were sent. */
static char *get_bytes(const PGresult *r, int row, int col)
{
    const char *v = dm_db_get(r, row, col);
    if (v == NULL)
        return dm_xstrdup("");
    size_t len = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)v, &len);
    if (raw == NULL)
        return dm_xstrdup("");
    char *out = dm_xmalloc(len + 1);
    memcpy(out, raw, len);
    out[len] = '\0';
    PQfreemem(raw);
    return out;
}

static char *get_str(const PGresult *r, int row, int col)
{
    const char *v = dm_db_get(r, row, col);
    return v ? dm_xstrdup(v) : NULL;
}

/* ---- hot statements ---------------------------------------------------------------------- */

/* Receive and complete run as named prepared statements (dm_db_exec_prepared): planning the
 * receive costs more than running it, so this roughly doubles what the database can serve. */

/* ---- send ------------------------------------------------------------------------------- */

static enum dm_err send_batch(struct dm_queue *q, struct dm_db_conn *c, enum dm_queue_name name,
                              const struct dm_queue_out *msgs, int n, struct dm_error *err)
{
    const struct dm_queue_settings *s = &q->settings[name];
    bool dedup = s->dup_window_ms > 0;
    /* Fixed parameters: $1 queue, $2 ttl ms, $3 window ms; then 3 per message. */
    int np = 3 + 3 * n;
    const char **params = dm_xcalloc((size_t)np, sizeof(char *));
    int *lengths = dm_xcalloc((size_t)np, sizeof(int));
    int *formats = dm_xcalloc((size_t)np, sizeof(int));
    char **scheds = dm_xcalloc((size_t)n, sizeof(char *));
    char *ttl = i64str(s->ttl_ms), *window = i64str(s->dup_window_ms);
    struct dm_buf sql;
    dm_buf_init(&sql, (size_t)64 * 1024 * 1024);
    PGresult *r = NULL;
    enum dm_err e = DM_OK;

    params[0] = s->name;
    params[1] = ttl;
    params[2] = window;
    e = dm_buf_append_str(&sql, "WITH input(ord, message_id, body, sched) AS (VALUES ");
    for (int i = 0; i < n && e == DM_OK; i++) {
        int b = 3 + 3 * i;
        scheds[i] = i64str(msgs[i].scheduled_ms);
        params[b] = msgs[i].id;
        params[b + 1] = msgs[i].body;
        lengths[b + 1] = (int)strlen(msgs[i].body);
        formats[b + 1] = 1; /* bytes as sent: no text encoding check */
        params[b + 2] = scheds[i];
        e = dm_buf_appendf(&sql, "%s(%d, $%d::text, $%d::bytea, $%d::bigint)", i ? ", " : "", i,
                           b + 1, b + 2, b + 3);
    }
    if (e != DM_OK)
        goto out;
    if (dedup)
        e = dm_buf_append_str(
            &sql, "), uniq AS (SELECT DISTINCT ON (message_id) * FROM input"
                  " ORDER BY message_id, ord),"
                  " fresh AS (INSERT INTO queue_dedup (queue, message_id, expires_at)"
                  " SELECT $1, message_id, now() + $3::bigint * interval '1 millisecond'"
                  " FROM uniq ON CONFLICT (queue, message_id) DO UPDATE"
                  " SET expires_at = EXCLUDED.expires_at WHERE queue_dedup.expires_at <= now()"
                  " RETURNING message_id),"
                  " src AS (SELECT u.* FROM uniq u JOIN fresh f USING (message_id)),");
    else
        /* No window: $3 is 0; referencing it gives the parameter its type. */
        e = dm_buf_append_str(&sql, "), src AS (SELECT * FROM input WHERE $3::bigint = 0),");
    if (e != DM_OK)
        goto out;
    e = dm_buf_append_str(
        &sql, " ins AS (INSERT INTO queue_messages"
              " (queue, message_id, body, enqueued_at, visible_at, expires_at)"
              " SELECT $1, message_id, body, t, t, t + $2::bigint * interval '1 millisecond'"
              " FROM (SELECT *, CASE WHEN sched > 0 THEN greatest(now(),"
              " to_timestamp(sched / 1000.0)) ELSE now() END AS t FROM src) x ORDER BY ord"
              " RETURNING 1)"
              " SELECT (SELECT count(*) FROM ins), pg_notify('" CHANNEL "', $1)");
    if (e != DM_OK)
        goto out;
    /* A single message (every continuation, WORK_DONE and CONSOLIDATE) has one statement text
     * per duplicate-window setting: prepared (named by its hash), planning it cost more than
     * running it. Larger batches vary in shape and run rarely: planned each time. */
    if (n == 1)
        e = dm_db_exec_prepared(c, NULL, sql.data, np, params, lengths, formats, &r, err);
    else
        e = dm_db_execv(c, sql.data, np, params, lengths, formats, &r, err);
out:
    if (e == DM_ERR_TOO_LARGE)
        dm_error_set(err, e, "queue: send statement too large");
    PQclear(r);
    for (int i = 0; i < n; i++)
        free(scheds[i]);
    free(scheds);
    free(ttl);
    free(window);
    free(params);
    free(lengths);
    free(formats);
    dm_buf_free(&sql);
    return e;
}

static void sweep_dedup(struct pg_queue *p, struct dm_db_conn *c)
{
    int64_t now = dm_mono_ms();
    pthread_mutex_lock(&p->mu);
    bool due = p->last_dedup_sweep == 0 || now - p->last_dedup_sweep >= DEDUP_SWEEP_MS;
    if (due)
        p->last_dedup_sweep = now;
    pthread_mutex_unlock(&p->mu);
    if (!due)
        return;
    struct dm_error err = {0};
    if (dm_db_exec(c,
                   "DELETE FROM queue_dedup WHERE ctid IN (SELECT ctid FROM queue_dedup"
                   " WHERE expires_at < now() LIMIT 10000)",
                   0, NULL, NULL, &err) != DM_OK)
        dm_warn(NULL, "queue: duplicate record sweep failed: %s", err.message);
}

static enum dm_err pg_send_many(struct dm_queue *q, enum dm_queue_name name,
                                const struct dm_queue_out *msgs, int n, struct dm_error *err)
{
    struct pg_queue *p = impl(q);
    struct dm_db_conn *c = NULL;
    enum dm_err e = dm_db_acquire(p->db, ACQUIRE_MS, &c, err);
    if (e != DM_OK)
        return e;
    /* Split by rows and bytes; several batches share one transaction (all-or-error). */
    int start = 0;
    bool tx = false;
    while (start < n) {
        int end = start;
        size_t bytes = 0;
        while (end < n && end - start < BATCH_ROWS) {
            size_t len = strlen(msgs[end].body);
            if (end > start && bytes + len > BATCH_BYTES)
                break;
            bytes += len;
            end++;
        }
        if (start == 0 && end < n) {
            if ((e = dm_db_begin(c, err)) != DM_OK)
                goto out;
            tx = true;
        }
        if ((e = send_batch(q, c, name, msgs + start, end - start, err)) != DM_OK)
            goto out;
        start = end;
    }
    if (tx) {
        e = dm_db_commit(c, err);
        tx = false;
    }
    if (e == DM_OK && q->settings[name].dup_window_ms > 0)
        sweep_dedup(p, c);
out:
    if (tx)
        dm_db_rollback(c);
    dm_db_release(c);
    return e;
}

/* ---- receive ------------------------------------------------------------------------------ */

static const char *receive_sql =
    "WITH c AS (SELECT seq FROM queue_messages WHERE queue = $1 AND visible_at <= now()"
    "  ORDER BY visible_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED),"
    " live AS (UPDATE queue_messages m SET delivery_count = m.delivery_count + 1,"
    "  lock_token = gen_random_uuid(),"
    "  visible_at = clock_timestamp() + $2::bigint * interval '1 millisecond'"
    "  FROM c WHERE m.seq = c.seq AND m.delivery_count < $3::int AND m.expires_at > now()"
    "  RETURNING m.seq, m.message_id, m.body, m.lock_token, m.delivery_count, m.enqueued_at,"
    "  m.visible_at),"
    " dead AS (DELETE FROM queue_messages m USING c WHERE m.seq = c.seq"
    "  AND NOT (m.delivery_count < $3::int AND m.expires_at > now()) RETURNING m.*),"
    " parked AS (INSERT INTO queue_dead_letters"
    "  (seq, queue, message_id, body, enqueued_at, delivery_count, reason)"
    "  SELECT seq, queue, message_id, body, enqueued_at, delivery_count,"
    "  CASE WHEN expires_at <= now() THEN 'TTLExpiredException'"
    "  ELSE 'MaxDeliveryCountExceeded' END FROM dead WHERE $4::bool RETURNING seq)"
    " SELECT 'L', seq, message_id, body, lock_token::text, delivery_count, " MS(
        "enqueued_at") ", " MS("visible_at") " FROM live"
                                             " UNION ALL SELECT 'D', seq, NULL, NULL, NULL, NULL, "
                                             "NULL, NULL FROM parked"
                                             " UNION ALL SELECT 'X', seq, NULL, NULL, NULL, NULL, "
                                             "NULL, NULL FROM dead WHERE NOT $4::bool";

/* Dead-letter (or drop) expired visible messages; report ms until the next message becomes
 * visible (scheduled time or lock expiry), -1 when the queue is empty. */
static const char *idle_sql =
    "WITH dead AS (DELETE FROM queue_messages WHERE queue = $1 AND visible_at <= now()"
    "  AND expires_at <= now() RETURNING *),"
    " parked AS (INSERT INTO queue_dead_letters"
    "  (seq, queue, message_id, body, enqueued_at, delivery_count, reason)"
    "  SELECT seq, queue, message_id, body, enqueued_at, delivery_count, 'TTLExpiredException'"
    "  FROM dead WHERE $2::bool RETURNING seq)"
    " SELECT (SELECT count(*) FROM parked) + (SELECT count(*) FROM dead WHERE NOT $2::bool),"
    " coalesce((extract(epoch from min(visible_at) - clock_timestamp()) * 1000)::bigint, -1)"
    " FROM queue_messages WHERE queue = $1";

static enum dm_err expire_and_next(struct pg_queue *p, struct dm_db_conn *c,
                                   const struct dm_queue_settings *s, int64_t *expired,
                                   int64_t *next_ms, struct dm_error *err)
{
    const char *params[2] = {s->name, s->dead_letter_on_expiry ? "true" : "false"};
    PGresult *r = NULL;
    enum dm_err e = dm_db_exec(c, idle_sql, 2, params, &r, err);
    if (e == DM_OK && PQntuples(r) == 1) {
        *expired = get_i64(r, 0, 0);
        *next_ms = PQgetisnull(r, 0, 1) ? -1 : get_i64(r, 0, 1);
    }
    PQclear(r);
    (void)p;
    return e;
}

/* One attempt: *out set when a message was locked; *retry when one was dead-lettered (the
 * caller tries again at once); else *next_ms tells when to look again (-1: empty queue). */
static enum dm_err try_receive(struct dm_queue *q, enum dm_queue_name name, bool idle_check,
                               struct dm_queue_msg **out, bool *retry, int64_t *next_ms,
                               struct dm_error *err)
{
    struct pg_queue *p = impl(q);
    const struct dm_queue_settings *s = &q->settings[name];
    struct dm_db_conn *c = NULL;
    PGresult *r = NULL;
    char *lock = i64str(s->lock_ms), *maxd = i64str(s->max_delivery);
    *retry = false;
    *next_ms = -1;
    enum dm_err e = dm_db_acquire(p->db, ACQUIRE_MS, &c, err);
    if (e != DM_OK)
        goto out;
    const char *params[4] = {s->name, lock, maxd, s->dead_letter_on_expiry ? "true" : "false"};
    if ((e = dm_db_exec_prepared(c, "dm_queue_receive", receive_sql, 4, params, NULL, NULL, &r,
                                 err)) != DM_OK)
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *kind = PQgetvalue(r, i, 0);
        if (kind[0] != 'L') {
            *retry = true;
            continue;
        }
        struct dm_queue_msg *m = dm_queue_msg_new(name);
        m->backend_ref = get_str(r, i, 1);
        m->id = get_str(r, i, 2);
        m->body = get_bytes(r, i, 3);
        m->lock_token = get_str(r, i, 4);
        m->delivery_count = (int)get_i64(r, i, 5);
        m->enqueued_ms = get_i64(r, i, 6);
        m->locked_until_ms = get_i64(r, i, 7);
        *out = m;
        goto out;
    }
    if (!*retry && idle_check) {
        int64_t expired = 0;
        if ((e = expire_and_next(p, c, s, &expired, next_ms, err)) != DM_OK)
            goto out;
        if (expired > 0)
            *retry = true;
    }
out:
    PQclear(r);
    dm_db_release(c);
    free(lock);
    free(maxd);
    return e;
}

static enum dm_err pg_receive(struct dm_queue *q, enum dm_queue_name name, int wait_ms,
                              struct dm_queue_msg **out, struct dm_error *err)
{
    struct pg_queue *p = impl(q);
    int64_t deadline = dm_mono_ms() + wait_ms;
    if (wait_ms > 0)
        ensure_listener(p);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        uint64_t gen = p->gen[name];
        pthread_mutex_unlock(&p->mu);
        bool retry = false;
        int64_t next_ms = -1;
        int64_t left = deadline - dm_mono_ms();
        enum dm_err e = try_receive(q, name, left > 0, out, &retry, &next_ms, err);
        if (e != DM_OK || *out != NULL)
            return e;
        if (retry)
            continue;
        left = deadline - dm_mono_ms();
        if (left <= 0 || dm_stop_requested())
            return DM_OK;
        int64_t wait = left < POLL_MS ? left : POLL_MS;
        if (next_ms >= 0 && next_ms + 1 < wait)
            wait = next_ms + 1;
        /* A visible row another receiver holds row-locked: look again shortly. */
        if (wait < 2)
            wait = 2;
        wait_for(p, name, gen, wait);
    }
}

/* ---- settle ------------------------------------------------------------------------------- */

static enum dm_err settle(struct dm_queue *q, struct dm_queue_msg *m, const char *hot_name,
                          const char *sql, int np, const char **params, PGresult **res,
                          struct dm_error *err)
{
    struct pg_queue *p = impl(q);
    struct dm_db_conn *c = NULL;
    PGresult *r = NULL;
    /* A token that is not a uuid, or a reference that is not ours, cannot hold a lock. */
    int64_t seq = 0;
    if (!dm_uuid_valid(m->lock_token) || m->backend_ref == NULL ||
        dm_parse_i64(m->backend_ref, 1, INT64_MAX, &seq) != DM_OK)
        return dm_error_set(err, DM_ERR_LOCK_LOST, "queue: message %s: lock lost", m->id);
    enum dm_err e = dm_db_acquire(p->db, ACQUIRE_MS, &c, err);
    if (e != DM_OK)
        return e;
    if (hot_name)
        e = dm_db_exec_prepared(c, hot_name, sql, np, params, NULL, NULL, &r, err);
    else
        e = dm_db_exec(c, sql, np, params, &r, err);
    dm_db_release(c);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return dm_error_set(err, DM_ERR_LOCK_LOST, "queue: message %s: lock lost", m->id);
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return DM_OK;
}

static enum dm_err pg_complete(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    const char *params[2] = {m->backend_ref, m->lock_token};
    return settle(q, m, "dm_queue_complete",
                  "DELETE FROM queue_messages WHERE seq = $1::bigint AND lock_token = $2::uuid"
                  " AND visible_at > now() RETURNING seq",
                  2, params, NULL, err);
}

static enum dm_err pg_abandon(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    const struct dm_queue_settings *s = &q->settings[m->queue];
    char *maxd = i64str(s->max_delivery);
    const char *params[4] = {m->backend_ref, m->lock_token, maxd, s->name};
    /* The max-th delivery abandoned: dead-letter now rather than on the next receive. */
    enum dm_err e =
        settle(q, m, NULL,
               "WITH m AS (SELECT seq, delivery_count FROM queue_messages WHERE seq = $1::bigint"
               "  AND lock_token = $2::uuid AND visible_at > now() FOR UPDATE),"
               " back AS (UPDATE queue_messages x SET lock_token = NULL, visible_at = now() FROM m"
               "  WHERE x.seq = m.seq AND m.delivery_count < $3::int RETURNING x.seq),"
               " dead AS (DELETE FROM queue_messages x USING m WHERE x.seq = m.seq"
               "  AND m.delivery_count >= $3::int RETURNING x.*),"
               " parked AS (INSERT INTO queue_dead_letters"
               "  (seq, queue, message_id, body, enqueued_at, delivery_count, reason)"
               "  SELECT seq, queue, message_id, body, enqueued_at, delivery_count,"
               "  'MaxDeliveryCountExceeded' FROM dead RETURNING seq)"
               " SELECT seq, (SELECT count(*) FROM back), (SELECT count(*) FROM parked),"
               " pg_notify('" CHANNEL "', $4) FROM m",
               4, params, NULL, err);
    free(maxd);
    return e;
}

static enum dm_err pg_dead_letter(struct dm_queue *q, struct dm_queue_msg *m, const char *reason,
                                  struct dm_error *err)
{
    const char *params[3] = {m->backend_ref, m->lock_token, reason};
    return settle(q, m, NULL,
                  "WITH dead AS (DELETE FROM queue_messages WHERE seq = $1::bigint"
                  "  AND lock_token = $2::uuid AND visible_at > now() RETURNING *)"
                  " INSERT INTO queue_dead_letters"
                  " (seq, queue, message_id, body, enqueued_at, delivery_count, reason)"
                  " SELECT seq, queue, message_id, body, enqueued_at, delivery_count, $3"
                  " FROM dead RETURNING seq",
                  3, params, NULL, err);
}

static enum dm_err pg_renew(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    char *lock = i64str(q->settings[m->queue].lock_ms);
    const char *params[3] = {m->backend_ref, m->lock_token, lock};
    PGresult *r = NULL;
    enum dm_err e = settle(q, m, NULL,
                           "UPDATE queue_messages SET visible_at = clock_timestamp()"
                           " + $3::bigint * interval '1 millisecond' WHERE seq = $1::bigint"
                           " AND lock_token = $2::uuid AND visible_at > now()"
                           " RETURNING " MS("visible_at"),
                           3, params, &r, err);
    if (e == DM_OK)
        m->locked_until_ms = get_i64(r, 0, 0);
    PQclear(r);
    free(lock);
    return e;
}

/* ---- inspection --------------------------------------------------------------------------- */

static enum dm_err expire_now(struct dm_queue *q, enum dm_queue_name name, struct dm_error *err)
{
    struct pg_queue *p = impl(q);
    struct dm_db_conn *c = NULL;
    enum dm_err e = dm_db_acquire(p->db, ACQUIRE_MS, &c, err);
    if (e != DM_OK)
        return e;
    int64_t expired = 0, next = -1;
    e = expire_and_next(p, c, &q->settings[name], &expired, &next, err);
    dm_db_release(c);
    return e;
}

static enum dm_err pg_stats(struct dm_queue *q, enum dm_queue_name name, struct dm_queue_stats *out,
                            struct dm_error *err)
{
    enum dm_err e = expire_now(q, name, err);
    if (e != DM_OK)
        return e;
    const char *params[1] = {q->settings[name].name};
    PGresult *r = NULL;
    e = dm_db_query(impl(q)->db,
                    "SELECT count(*) FILTER (WHERE lock_token IS NOT NULL OR visible_at <= now()),"
                    " count(*) FILTER (WHERE lock_token IS NULL AND visible_at > now()),"
                    " (SELECT count(*) FROM queue_dead_letters WHERE queue = $1),"
                    " coalesce(greatest(0, (extract(epoch from now() - min(enqueued_at) FILTER"
                    " (WHERE lock_token IS NOT NULL OR visible_at <= now())) * 1000)::bigint), 0)"
                    " FROM queue_messages WHERE queue = $1",
                    1, params, &r, err);
    if (e == DM_OK && PQntuples(r) == 1) {
        out->active = get_i64(r, 0, 0);
        out->scheduled = get_i64(r, 0, 1);
        out->dead_letter = get_i64(r, 0, 2);
        out->oldest_age_ms = get_i64(r, 0, 3);
    }
    PQclear(r);
    return e;
}

static enum dm_err pg_dlq_list(struct dm_queue *q, enum dm_queue_name name, int max,
                               struct dm_queue_msg ***out, int *n, struct dm_error *err)
{
    enum dm_err e = expire_now(q, name, err);
    if (e != DM_OK)
        return e;
    char *lim = i64str(max);
    const char *params[2] = {q->settings[name].name, lim};
    PGresult *r = NULL;
    e = dm_db_query(
        impl(q)->db,
        "SELECT seq, message_id, body, delivery_count, " MS(
            "enqueued_at") ", reason"
                           " FROM queue_dead_letters WHERE queue = $1 ORDER BY seq LIMIT $2::int",
        2, params, &r, err);
    free(lim);
    if (e != DM_OK)
        return e;
    int rows = PQntuples(r);
    struct dm_queue_msg **ms =
        dm_xcalloc((size_t)(rows > 0 ? rows : 1), sizeof(struct dm_queue_msg *));
    for (int i = 0; i < rows; i++) {
        struct dm_queue_msg *m = dm_queue_msg_new(name);
        m->backend_ref = get_str(r, i, 0);
        m->id = get_str(r, i, 1);
        m->body = get_bytes(r, i, 2);
        m->delivery_count = (int)get_i64(r, i, 3);
        m->enqueued_ms = get_i64(r, i, 4);
        m->dead_letter_reason = get_str(r, i, 5);
        ms[i] = m;
    }
    PQclear(r);
    *out = ms;
    *n = rows;
    return DM_OK;
}

static enum dm_err pg_dlq_resubmit(struct dm_queue *q, enum dm_queue_name name, const char *id,
                                   int *count, struct dm_error *err)
{
    const struct dm_queue_settings *s = &q->settings[name];
    char *ttl = i64str(s->ttl_ms);
    const char *params[3] = {s->name, id, ttl};
    PGresult *r = NULL;
    /* Back with a fresh delivery count and time-to-live; the duplicate window is bypassed
     * (the operator asked for this exact message again). */
    enum dm_err e = dm_db_query(
        impl(q)->db,
        "WITH d AS (DELETE FROM queue_dead_letters WHERE queue = $1"
        "  AND ($2::text IS NULL OR message_id = $2::text) RETURNING *),"
        " ins AS (INSERT INTO queue_messages (seq, queue, message_id, body, enqueued_at,"
        "  visible_at, expires_at)"
        "  SELECT seq, queue, message_id, body, now(), now(),"
        "  now() + $3::bigint * interval '1 millisecond' FROM d ORDER BY seq RETURNING 1)"
        " SELECT (SELECT count(*) FROM ins), pg_notify('" CHANNEL "', $1)",
        3, params, &r, err);
    free(ttl);
    if (e == DM_OK && PQntuples(r) == 1)
        *count = (int)get_i64(r, 0, 0);
    PQclear(r);
    if (e == DM_OK && id != NULL && *count == 0)
        return dm_error_set(err, DM_ERR_NOT_FOUND, "queue: no dead-lettered message %s in %s", id,
                            s->name);
    return e;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void pg_free(struct dm_queue *q)
{
    struct pg_queue *p = impl(q);
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    bool started = p->listener_started;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (started) {
        ssize_t w;
        do
            w = write(p->wake[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(p->listener, NULL);
    }
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->conninfo);
    free(p);
    q->impl = NULL;
}

static const struct dm_queue_ops pg_ops = {
    .name = "pg",
    .send_many = pg_send_many,
    .receive = pg_receive,
    .complete = pg_complete,
    .abandon = pg_abandon,
    .dead_letter = pg_dead_letter,
    .renew = pg_renew,
    .stats = pg_stats,
    .dlq_list = pg_dlq_list,
    .dlq_resubmit = pg_dlq_resubmit,
    .free = pg_free,
};

enum dm_err dm_queue_pg_init(struct dm_queue *q, struct dm_db *db, const char *conninfo,
                             struct dm_error *err)
{
    struct pg_queue *p = dm_xcalloc(1, sizeof(*p));
    if (pipe(p->wake) != 0) {
        free(p);
        return dm_error_set(err, DM_ERR_IO, "queue: pipe: %s", strerror(errno));
    }
    p->db = db;
    p->conninfo = conninfo ? dm_xstrdup(conninfo) : NULL;
    pthread_mutex_init(&p->mu, NULL);
    dm_cond_init_monotonic(&p->cv);
    q->ops = &pg_ops;
    q->impl = p;
    return DM_OK;
}
