/*
 * test_queue_conformance.c - the queue contract (src/adapters/queue/queue.h) checked against
 * the PostgreSQL backend on a fresh database per test: peek-lock, lock expiry, max delivery,
 * duplicate window, renew, lock lost, scheduled delivery, TTL, dead-letter list/resubmit, any
 * bytes as body, batches, 8 consumers in 2 processes, and a consumer killed with SIGKILL.
 * Lock durations, windows and TTLs are shortened through dm_queue_open_pg's settings; the
 * production table is checked separately. The second process is this binary re-executed
 * with "consume" or "hold" as its first argument.
 */
#include "testlib.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/db/db.h"
#include "adapters/queue/queue.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"

struct fx {
    char *url;
    struct dm_db *db;
    struct dm_queue *q;
};

/* Short settings for tests: the lock given (1 s in the fixture) on every queue; work-items
 * max 5 / window 1500 ms; work-done max 3 / TTL 700 ms; consolidate max 3. */
static void short_settings(struct dm_queue_settings s[DM_Q_COUNT], int64_t lock_ms)
{
    for (int i = 0; i < DM_Q_COUNT; i++)
        s[i] = *dm_queue_settings((enum dm_queue_name)i);
    for (int i = 0; i < DM_Q_COUNT; i++)
        s[i].lock_ms = lock_ms;
    s[DM_Q_WORK_ITEMS].dup_window_ms = 1500;
    s[DM_Q_WORK_DONE].ttl_ms = 700;
}

static struct dm_queue *open_queue(struct dm_db *db, const char *url, int64_t lock_ms)
{
    struct dm_queue_settings s[DM_Q_COUNT];
    short_settings(s, lock_ms);
    struct dm_queue *q = NULL;
    struct dm_error err = {0};
    if (dm_queue_open_pg(db, url, s, &q, &err) != DM_OK) {
        fprintf(stderr, "queue open: %s\n", err.message);
        abort();
    }
    return q;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->url = dm_test_new_db("queue");
    f->db = dm_db_new(f->url, 12);
    f->q = open_queue(f->db, f->url, 1000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    dm_queue_free(f->q);
    dm_db_free(f->db);
    free(f->url);
    free(f);
    return 0;
}

static int64_t sql_i64(struct dm_db *db, const char *sql)
{
    PGresult *r = NULL;
    struct dm_error err = {0};
    if (dm_db_query(db, sql, 0, NULL, &r, &err) != DM_OK) {
        fprintf(stderr, "%s: %s\n", sql, err.message);
        abort();
    }
    int64_t v = -1;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) &&
        dm_parse_i64(PQgetvalue(r, 0, 0), INT64_MIN, INT64_MAX, &v) != DM_OK)
        v = -1;
    PQclear(r);
    return v;
}

static void send1(struct dm_queue *q, enum dm_queue_name n, const char *id, const char *body,
                  int64_t sched)
{
    struct dm_queue_out m = {.id = id, .body = body, .scheduled_ms = sched};
    struct dm_error err = {0};
    enum dm_err e = dm_queue_send(q, n, &m, &err);
    if (e != DM_OK)
        fprintf(stderr, "send: %s\n", err.message);
    assert_int_equal(e, DM_OK);
}

static struct dm_queue_msg *recv1(struct dm_queue *q, enum dm_queue_name n, int wait_ms)
{
    struct dm_queue_msg *m = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_queue_receive(q, n, wait_ms, &m, &err);
    if (e != DM_OK)
        fprintf(stderr, "receive: %s\n", err.message);
    assert_int_equal(e, DM_OK);
    return m;
}

static struct dm_queue_stats stats(struct dm_queue *q, enum dm_queue_name n)
{
    struct dm_queue_stats st;
    struct dm_error err = {0};
    assert_int_equal(dm_queue_stats(q, n, &st, &err), DM_OK);
    return st;
}

/* Sleep until the database clock has passed `ms` (epoch ms) - waiting for a lock or window
 * to run out is the scenario, so poll the condition rather than guessing a duration. */
static void wait_db_time(struct dm_db *db, int64_t ms)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint");
    int64_t deadline = dm_mono_ms() + 30000;
    while (sql_i64(db, sql) <= ms) {
        assert_true(dm_mono_ms() < deadline);
        dm_sleep_ms(10, NULL);
    }
}

static void test_settings_table(void **state)
{
    (void)state;
    const struct dm_queue_settings *w = dm_queue_settings(DM_Q_WORK_ITEMS);
    const struct dm_queue_settings *d = dm_queue_settings(DM_Q_WORK_DONE);
    const struct dm_queue_settings *c = dm_queue_settings(DM_Q_CONSOLIDATE);
    assert_string_equal(w->name, "work-items");
    assert_int_equal(w->lock_ms, 120000);
    assert_int_equal(w->max_delivery, 5);
    assert_int_equal(w->dup_window_ms, 600000);
    assert_string_equal(d->name, "work-done");
    assert_int_equal(d->lock_ms, 60000);
    assert_int_equal(d->max_delivery, 3);
    assert_int_equal(d->dup_window_ms, 0);
    assert_string_equal(c->name, "consolidate");
    assert_int_equal(c->lock_ms, 300000);
    assert_int_equal(c->max_delivery, 3);
    for (int i = 0; i < DM_Q_COUNT; i++) {
        const struct dm_queue_settings *s = dm_queue_settings((enum dm_queue_name)i);
        assert_int_equal(s->ttl_ms, 86400000);
        assert_true(s->dead_letter_on_expiry);
        enum dm_queue_name n;
        assert_int_equal(dm_queue_parse_name(s->name, &n), DM_OK);
        assert_int_equal(n, i);
    }
    enum dm_queue_name n;
    assert_int_equal(dm_queue_parse_name("work_items", &n), DM_ERR_INVALID);
    assert_int_equal(dm_queue_parse_name(NULL, &n), DM_ERR_INVALID);
}

static void test_roundtrip(void **state)
{
    struct fx *f = *state;
    assert_string_equal(dm_queue_backend_name(f->q), "pg");
    assert_null(recv1(f->q, DM_Q_CONSOLIDATE, 0));
    int64_t t0 = dm_mono_ms();
    assert_null(recv1(f->q, DM_Q_CONSOLIDATE, 300));
    assert_true(dm_mono_ms() - t0 >= 290);
    send1(f->q, DM_Q_CONSOLIDATE, "consolidate:1", "{\"type\":\"CONSOLIDATE\"}", 0);
    struct dm_queue_stats st = stats(f->q, DM_Q_CONSOLIDATE);
    assert_int_equal(st.active, 1);
    assert_int_equal(st.dead_letter, 0);
    /* Other queues are independent. */
    assert_null(recv1(f->q, DM_Q_WORK_DONE, 0));
    struct dm_queue_msg *m = recv1(f->q, DM_Q_CONSOLIDATE, 1000);
    assert_non_null(m);
    assert_string_equal(m->id, "consolidate:1");
    assert_string_equal(m->body, "{\"type\":\"CONSOLIDATE\"}");
    assert_int_equal(m->delivery_count, 1);
    assert_int_equal(m->queue, DM_Q_CONSOLIDATE);
    assert_non_null(m->lock_token);
    assert_true(m->locked_until_ms > m->enqueued_ms);
    /* Locked: nobody else gets it. */
    assert_null(recv1(f->q, DM_Q_CONSOLIDATE, 0));
    struct dm_error err = {0};
    assert_int_equal(dm_queue_complete(f->q, m, &err), DM_OK);
    /* Completing twice: the lock is gone. */
    assert_int_equal(dm_queue_complete(f->q, m, &err), DM_ERR_LOCK_LOST);
    dm_queue_msg_free(m);
    st = stats(f->q, DM_Q_CONSOLIDATE);
    assert_int_equal(st.active, 0);
    assert_int_equal(sql_i64(f->db, "SELECT count(*) FROM queue_messages"), 0);
    /* Invalid arguments. */
    struct dm_queue_out bad = {.id = "", .body = "{}"};
    assert_int_equal(dm_queue_send(f->q, DM_Q_CONSOLIDATE, &bad, &err), DM_ERR_INVALID);
    bad.id = "x";
    bad.body = NULL;
    assert_int_equal(dm_queue_send(f->q, DM_Q_CONSOLIDATE, &bad, &err), DM_ERR_INVALID);
    assert_int_equal(dm_queue_send(f->q, DM_Q_COUNT, &bad, &err), DM_ERR_INVALID);
}

static void test_lock_expiry_redelivers(void **state)
{
    struct fx *f = *state;
    send1(f->q, DM_Q_CONSOLIDATE, "c1", "{}", 0);
    struct dm_queue_msg *a = recv1(f->q, DM_Q_CONSOLIDATE, 1000);
    assert_non_null(a);
    assert_null(recv1(f->q, DM_Q_CONSOLIDATE, 0));
    /* Nobody settles: after the 1 s lock the same message comes back. */
    struct dm_queue_msg *b = recv1(f->q, DM_Q_CONSOLIDATE, 5000);
    assert_non_null(b);
    assert_string_equal(b->id, "c1");
    assert_int_equal(b->delivery_count, 2);
    assert_string_not_equal(a->lock_token, b->lock_token);
    struct dm_error err = {0};
    assert_int_equal(dm_queue_complete(f->q, a, &err), DM_ERR_LOCK_LOST);
    assert_int_equal(dm_queue_complete(f->q, b, &err), DM_OK);
    dm_queue_msg_free(a);
    dm_queue_msg_free(b);
}

static void test_max_delivery_abandon(void **state)
{
    struct fx *f = *state;
    send1(f->q, DM_Q_WORK_ITEMS, "w1", "{\"type\":\"WORK_ITEM\"}", 0);
    struct dm_error err = {0};
    for (int i = 1; i <= 5; i++) {
        struct dm_queue_msg *m = recv1(f->q, DM_Q_WORK_ITEMS, 1000);
        assert_non_null(m);
        assert_int_equal(m->delivery_count, i);
        assert_int_equal(dm_queue_abandon(f->q, m, &err), DM_OK);
        dm_queue_msg_free(m);
    }
    /* The 5th failed delivery dead-lettered it. */
    assert_null(recv1(f->q, DM_Q_WORK_ITEMS, 200));
    struct dm_queue_stats st = stats(f->q, DM_Q_WORK_ITEMS);
    assert_int_equal(st.active, 0);
    assert_int_equal(st.dead_letter, 1);
    struct dm_queue_msg **ms = NULL;
    int n = 0;
    assert_int_equal(dm_queue_dlq_list(f->q, DM_Q_WORK_ITEMS, 10, &ms, &n, &err), DM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ms[0]->id, "w1");
    assert_string_equal(ms[0]->dead_letter_reason, "MaxDeliveryCountExceeded");
    assert_int_equal(ms[0]->delivery_count, 5);
    assert_string_equal(ms[0]->body, "{\"type\":\"WORK_ITEM\"}");
    dm_queue_msgs_free(ms, n);
}

static void test_max_delivery_lock_expiry(void **state)
{
    struct fx *f = *state;
    /* consolidate: max 3; each delivery's lock simply runs out (a crashed consumer). */
    send1(f->q, DM_Q_CONSOLIDATE, "c-expire", "{}", 0);
    for (int i = 1; i <= 3; i++) {
        struct dm_queue_msg *m = recv1(f->q, DM_Q_CONSOLIDATE, 5000);
        assert_non_null(m);
        assert_int_equal(m->delivery_count, i);
        dm_queue_msg_free(m);
    }
    assert_null(recv1(f->q, DM_Q_CONSOLIDATE, 1500));
    struct dm_queue_msg **ms = NULL;
    int n = 0;
    struct dm_error err = {0};
    assert_int_equal(dm_queue_dlq_list(f->q, DM_Q_CONSOLIDATE, 10, &ms, &n, &err), DM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ms[0]->dead_letter_reason, "MaxDeliveryCountExceeded");
    assert_int_equal(ms[0]->delivery_count, 3);
    dm_queue_msgs_free(ms, n);
}

static int drain_count(struct dm_queue *q, enum dm_queue_name n, const char *id)
{
    int count = 0;
    struct dm_queue_msg *m;
    struct dm_error err = {0};
    while ((m = recv1(q, n, 100)) != NULL) {
        if (id)
            assert_string_equal(m->id, id);
        assert_int_equal(dm_queue_complete(q, m, &err), DM_OK);
        dm_queue_msg_free(m);
        count++;
    }
    return count;
}

static void test_duplicate_window(void **state)
{
    struct fx *f = *state;
    send1(f->q, DM_Q_WORK_ITEMS, "run:p1:0", "{\"n\":1}", 0);
    send1(f->q, DM_Q_WORK_ITEMS, "run:p1:0", "{\"n\":2}", 0); /* accepted, dropped */
    /* Duplicates inside one batch too. */
    struct dm_queue_out batch[3] = {{.id = "run:p2:0", .body = "{\"n\":3}"},
                                    {.id = "run:p2:0", .body = "{\"n\":4}"},
                                    {.id = "run:p1:0", .body = "{\"n\":5}"}};
    struct dm_error err = {0};
    assert_int_equal(dm_queue_send_many(f->q, DM_Q_WORK_ITEMS, batch, 3, &err), DM_OK);
    struct dm_queue_msg *m = recv1(f->q, DM_Q_WORK_ITEMS, 1000);
    assert_non_null(m);
    assert_string_equal(m->id, "run:p1:0");
    assert_string_equal(m->body, "{\"n\":1}");
    assert_int_equal(dm_queue_complete(f->q, m, &err), DM_OK);
    dm_queue_msg_free(m);
    m = recv1(f->q, DM_Q_WORK_ITEMS, 1000);
    assert_non_null(m);
    assert_string_equal(m->id, "run:p2:0");
    assert_string_equal(m->body, "{\"n\":3}");
    assert_int_equal(dm_queue_complete(f->q, m, &err), DM_OK);
    dm_queue_msg_free(m);
    /* After the original was completed, a duplicate inside the window is still dropped. */
    send1(f->q, DM_Q_WORK_ITEMS, "run:p1:0", "{\"n\":6}", 0);
    assert_int_equal(drain_count(f->q, DM_Q_WORK_ITEMS, NULL), 0);
    /* Outside the window (1.5 s) the same id is a new message. */
    wait_db_time(f->db, sql_i64(f->db, "SELECT (extract(epoch from max(expires_at)) * 1000)"
                                       "::bigint FROM queue_dedup"));
    send1(f->q, DM_Q_WORK_ITEMS, "run:p1:0", "{\"n\":7}", 0);
    m = recv1(f->q, DM_Q_WORK_ITEMS, 1000);
    assert_non_null(m);
    assert_string_equal(m->body, "{\"n\":7}");
    assert_int_equal(m->delivery_count, 1);
    assert_int_equal(dm_queue_complete(f->q, m, &err), DM_OK);
    dm_queue_msg_free(m);
    /* Queues without a window deliver every copy. */
    send1(f->q, DM_Q_CONSOLIDATE, "consolidate:r", "{}", 0);
    send1(f->q, DM_Q_CONSOLIDATE, "consolidate:r", "{}", 0);
    assert_int_equal(drain_count(f->q, DM_Q_CONSOLIDATE, "consolidate:r"), 2);
}

static void test_renew_keeps_lock(void **state)
{
    struct fx *f = *state;
    send1(f->q, DM_Q_CONSOLIDATE, "renew-me", "{}", 0);
    struct dm_queue_msg *m = recv1(f->q, DM_Q_CONSOLIDATE, 1000);
    assert_non_null(m);
    int64_t first_until = m->locked_until_ms;
    struct dm_error err = {0};
    /* Hold it for three lock durations, renewing at a third of the lock. */
    int64_t end = dm_mono_ms() + 3000;
    while (dm_mono_ms() < end) {
        dm_sleep_ms(200, NULL);
        assert_int_equal(dm_queue_renew(f->q, m, &err), DM_OK);
        assert_null(recv1(f->q, DM_Q_CONSOLIDATE, 0));
    }
    assert_true(m->locked_until_ms > first_until + 1800);
    assert_int_equal(dm_queue_complete(f->q, m, &err), DM_OK);
    dm_queue_msg_free(m);
    assert_null(recv1(f->q, DM_Q_CONSOLIDATE, 600));
}

static void test_settle_after_lock_loss(void **state)
{
    struct fx *f = *state;
    send1(f->q, DM_Q_CONSOLIDATE, "lost", "{}", 0);
    struct dm_queue_msg *m = recv1(f->q, DM_Q_CONSOLIDATE, 1000);
    assert_non_null(m);
    wait_db_time(f->db, m->locked_until_ms);
    struct dm_error err = {0};
    assert_int_equal(dm_queue_complete(f->q, m, &err), DM_ERR_LOCK_LOST);
    assert_int_equal(err.code, DM_ERR_LOCK_LOST);
    assert_int_equal(dm_queue_renew(f->q, m, &err), DM_ERR_LOCK_LOST);
    assert_int_equal(dm_queue_abandon(f->q, m, &err), DM_ERR_LOCK_LOST);
    assert_int_equal(dm_queue_dead_letter(f->q, m, "Poison", &err), DM_ERR_LOCK_LOST);
    /* The message is still there for the next consumer. */
    struct dm_queue_msg *again = recv1(f->q, DM_Q_CONSOLIDATE, 1000);
    assert_non_null(again);
    assert_int_equal(again->delivery_count, 2);
    /* A forged token never settles. */
    char *saved = again->lock_token;
    again->lock_token = "not-a-uuid";
    assert_int_equal(dm_queue_complete(f->q, again, &err), DM_ERR_LOCK_LOST);
    again->lock_token = "00000000-0000-4000-8000-000000000000";
    assert_int_equal(dm_queue_complete(f->q, again, &err), DM_ERR_LOCK_LOST);
    again->lock_token = saved;
    assert_int_equal(dm_queue_complete(f->q, again, &err), DM_OK);
    dm_queue_msg_free(again);
    dm_queue_msg_free(m);
}

static void test_scheduled_invisible(void **state)
{
    struct fx *f = *state;
    int64_t due = dm_now_ms() + 900;
    send1(f->q, DM_Q_CONSOLIDATE, "later", "{\"at\":1}", due);
    send1(f->q, DM_Q_CONSOLIDATE, "past", "{}", dm_now_ms() - 5000); /* past = now */
    struct dm_queue_msg *m = recv1(f->q, DM_Q_CONSOLIDATE, 0);
    assert_non_null(m);
    assert_string_equal(m->id, "past");
    struct dm_error err = {0};
    assert_int_equal(dm_queue_complete(f->q, m, &err), DM_OK);
    dm_queue_msg_free(m);
    assert_null(recv1(f->q, DM_Q_CONSOLIDATE, 0));
    struct dm_queue_stats st = stats(f->q, DM_Q_CONSOLIDATE);
    assert_int_equal(st.scheduled, 1);
    assert_int_equal(st.active, 0);
    /* A waiting receiver gets it once due (the idle wait is bounded by the due time). */
    m = recv1(f->q, DM_Q_CONSOLIDATE, 5000);
    assert_non_null(m);
    int64_t got = dm_now_ms();
    assert_string_equal(m->id, "later");
    assert_true(got >= due - 5);
    assert_true(got < due + 3000);
    assert_int_equal(dm_queue_complete(f->q, m, &err), DM_OK);
    dm_queue_msg_free(m);
}

static void test_ttl_dead_letters(void **state)
{
    struct fx *f = *state;
    /* work-done TTL is 700 ms here; nobody receives. */
    send1(f->q, DM_Q_WORK_DONE, "wd1", "{}", 0);
    send1(f->q, DM_Q_WORK_DONE, "wd2", "{}", 0);
    int64_t deadline = dm_mono_ms() + 10000;
    struct dm_queue_stats st;
    do {
        assert_true(dm_mono_ms() < deadline);
        dm_sleep_ms(50, NULL);
        st = stats(f->q, DM_Q_WORK_DONE);
    } while (st.dead_letter < 2);
    assert_int_equal(st.active, 0);
    assert_null(recv1(f->q, DM_Q_WORK_DONE, 0));
    /* A locked message that expires is dead-lettered on the next receive, never returned. */
    send1(f->q, DM_Q_WORK_DONE, "wd3", "{}", 0);
    struct dm_queue_msg *m = recv1(f->q, DM_Q_WORK_DONE, 1000);
    assert_non_null(m);
    wait_db_time(f->db, m->locked_until_ms > m->enqueued_ms + 700 ? m->locked_until_ms
                                                                  : m->enqueued_ms + 700);
    dm_queue_msg_free(m);
    assert_null(recv1(f->q, DM_Q_WORK_DONE, 0));
    struct dm_queue_msg **ms = NULL;
    int n = 0;
    struct dm_error err = {0};
    assert_int_equal(dm_queue_dlq_list(f->q, DM_Q_WORK_DONE, 10, &ms, &n, &err), DM_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)
        assert_string_equal(ms[i]->dead_letter_reason, "TTLExpiredException");
    assert_string_equal(ms[0]->id, "wd1");
    dm_queue_msgs_free(ms, n);
}

static void test_dead_letter_and_resubmit(void **state)
{
    struct fx *f = *state;
    struct dm_error err = {0};
    send1(f->q, DM_Q_CONSOLIDATE, "poison", "{\"type\":", 0);
    send1(f->q, DM_Q_CONSOLIDATE, "other", "{}", 0);
    for (int i = 0; i < 2; i++) {
        struct dm_queue_msg *m = recv1(f->q, DM_Q_CONSOLIDATE, 1000);
        assert_non_null(m);
        assert_int_equal(dm_queue_dead_letter(f->q, m, "InvalidMessage: bad JSON", &err), DM_OK);
        dm_queue_msg_free(m);
    }
    struct dm_queue_msg **ms = NULL;
    int n = 0;
    assert_int_equal(dm_queue_dlq_list(f->q, DM_Q_CONSOLIDATE, 1, &ms, &n, &err), DM_OK);
    assert_int_equal(n, 1); /* max honoured */
    assert_string_equal(ms[0]->id, "poison");
    assert_string_equal(ms[0]->dead_letter_reason, "InvalidMessage: bad JSON");
    dm_queue_msgs_free(ms, n);
    int count = -1;
    assert_int_equal(dm_queue_dlq_resubmit(f->q, DM_Q_CONSOLIDATE, "nope", &count, &err),
                     DM_ERR_NOT_FOUND);
    assert_int_equal(dm_queue_dlq_resubmit(f->q, DM_Q_CONSOLIDATE, "poison", &count, &err), DM_OK);
    assert_int_equal(count, 1);
    struct dm_queue_msg *m = recv1(f->q, DM_Q_CONSOLIDATE, 1000);
    assert_non_null(m);
    assert_string_equal(m->id, "poison");
    assert_string_equal(m->body, "{\"type\":");
    assert_int_equal(m->delivery_count, 1);
    assert_int_equal(dm_queue_complete(f->q, m, &err), DM_OK);
    dm_queue_msg_free(m);
    assert_int_equal(dm_queue_dlq_resubmit(f->q, DM_Q_CONSOLIDATE, NULL, &count, &err), DM_OK);
    assert_int_equal(count, 1);
    assert_int_equal(stats(f->q, DM_Q_CONSOLIDATE).dead_letter, 0);
    assert_int_equal(drain_count(f->q, DM_Q_CONSOLIDATE, "other"), 1);
}

static void test_any_bytes_body(void **state)
{
    struct fx *f = *state;
    /* Not UTF-8, not JSON, control bytes, quotes and backslashes: carried as sent. */
    const char *bodies[] = {"\xff\xfe\x80{not json", "\x01\x02\\x00'\"\\", "", "\xc3\x28",
                            "{\"type\":\"WORK_ITEM\",\"runId\":\"\xe2\x82\"}"};
    int nb = (int)(sizeof(bodies) / sizeof(bodies[0]));
    struct dm_error err = {0};
    char id[32];
    for (int i = 0; i < nb; i++) {
        snprintf(id, sizeof(id), "b%d", i);
        send1(f->q, DM_Q_CONSOLIDATE, id, bodies[i], 0);
    }
    /* A big body (just under the limit) and one over it. */
    char *big = malloc(DM_QUEUE_MAX_BODY + 2);
    memset(big, '\xee', DM_QUEUE_MAX_BODY);
    big[DM_QUEUE_MAX_BODY] = '\0';
    send1(f->q, DM_Q_CONSOLIDATE, "big", big, 0);
    big[DM_QUEUE_MAX_BODY] = 'x';
    big[DM_QUEUE_MAX_BODY + 1] = '\0';
    struct dm_queue_out over = {.id = "over", .body = big};
    assert_int_equal(dm_queue_send(f->q, DM_Q_CONSOLIDATE, &over, &err), DM_ERR_TOO_LARGE);
    big[DM_QUEUE_MAX_BODY] = '\0';
    struct dm_queue_out badid = {.id = "caf\xc3\xa9", .body = "{}"};
    assert_int_equal(dm_queue_send(f->q, DM_Q_CONSOLIDATE, &badid, &err), DM_ERR_INVALID);
    for (int i = 0; i < nb; i++) {
        struct dm_queue_msg *m = recv1(f->q, DM_Q_CONSOLIDATE, 1000);
        assert_non_null(m);
        snprintf(id, sizeof(id), "b%d", i);
        assert_string_equal(m->id, id);
        assert_string_equal(m->body, bodies[i]);
        assert_int_equal(dm_queue_dead_letter(f->q, m, "bad \xff reason", &err), DM_OK);
        dm_queue_msg_free(m);
    }
    struct dm_queue_msg *m = recv1(f->q, DM_Q_CONSOLIDATE, 1000);
    assert_non_null(m);
    assert_string_equal(m->body, big);
    assert_int_equal(dm_queue_dead_letter(f->q, m, "Big", &err), DM_OK);
    dm_queue_msg_free(m);
    free(big);
    struct dm_queue_msg **ms = NULL;
    int n = 0;
    assert_int_equal(dm_queue_dlq_list(f->q, DM_Q_CONSOLIDATE, 100, &ms, &n, &err), DM_OK);
    assert_int_equal(n, nb + 1);
    for (int i = 0; i < nb; i++) {
        assert_string_equal(ms[i]->body, bodies[i]);
        assert_string_equal(ms[i]->dead_letter_reason, "bad ? reason");
    }
    dm_queue_msgs_free(ms, n);
    int count = 0;
    assert_int_equal(dm_queue_dlq_resubmit(f->q, DM_Q_CONSOLIDATE, NULL, &count, &err), DM_OK);
    assert_int_equal(count, nb + 1);
    assert_int_equal(drain_count(f->q, DM_Q_CONSOLIDATE, NULL), nb + 1);
}

static void test_send_many_never_drops(void **state)
{
    struct fx *f = *state;
    enum { N = 2500 };
    struct dm_queue_out *msgs = calloc(N, sizeof(*msgs));
    char(*ids)[32] = calloc(N, sizeof(*ids));
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "run:p%d:0", i);
        msgs[i].id = ids[i];
        msgs[i].body = "{\"type\":\"WORK_ITEM\"}";
    }
    struct dm_error err = {0};
    assert_int_equal(dm_queue_send_many(f->q, DM_Q_WORK_ITEMS, msgs, N, &err), DM_OK);
    struct dm_queue_stats st = stats(f->q, DM_Q_WORK_ITEMS);
    assert_int_equal(st.active, N);
    assert_true(st.oldest_age_ms >= 0);
    assert_int_equal(sql_i64(f->db, "SELECT count(DISTINCT message_id) FROM queue_messages"), N);
    /* Atomic: a bad message anywhere rejects the whole call before anything is sent. */
    msgs[N - 1].id = "";
    assert_int_equal(dm_queue_send_many(f->q, DM_Q_CONSOLIDATE, msgs, N, &err), DM_ERR_INVALID);
    assert_int_equal(stats(f->q, DM_Q_CONSOLIDATE).active, 0);
    /* One transaction: the database refusing a message in the second batch (a schedule far
     * beyond its timestamp range) takes the first batch back too. */
    msgs[N - 1].id = "last";
    msgs[1500].scheduled_ms = INT64_MAX / 2;
    assert_int_not_equal(dm_queue_send_many(f->q, DM_Q_CONSOLIDATE, msgs, N, &err), DM_OK);
    assert_int_equal(sql_i64(f->db, "SELECT count(*) FROM queue_messages"
                                    " WHERE queue = 'consolidate'"),
                     0);
    free(msgs);
    free(ids);
}

/* Kill every server connection of this database (pool and LISTEN) from outside. */
static int kill_backends(const char *url)
{
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int n = 0;
    assert_int_equal(dm_parse_int(PQgetvalue(r, 0, 0), 0, 1000, &n), DM_OK);
    PQclear(r);
    PQfinish(c);
    return n;
}

static bool listener_connected(struct dm_db *db)
{
    return sql_i64(db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                       " AND query = 'LISTEN dm_queue'") == 1;
}

struct waiter {
    struct dm_queue *q;
    struct dm_queue_msg *m;
    int64_t got_ms;
};

static void *wait_one(void *arg)
{
    struct waiter *w = arg;
    struct dm_error err = {0};
    if (dm_queue_receive(w->q, DM_Q_CONSOLIDATE, 5000, &w->m, &err) != DM_OK)
        w->m = NULL;
    w->got_ms = dm_mono_ms();
    return NULL;
}

static void test_survives_connection_loss(void **state)
{
    struct fx *f = *state;
    /* Start the listener and prepared statements, then kill every connection. */
    assert_null(recv1(f->q, DM_Q_CONSOLIDATE, 50));
    int64_t deadline = dm_mono_ms() + 10000;
    while (!listener_connected(f->db)) {
        assert_true(dm_mono_ms() < deadline);
        dm_sleep_ms(20, NULL);
    }
    assert_true(kill_backends(f->url) >= 1);
    /* The pool reconnects on the next statement; the prepared receive is prepared again. */
    send1(f->q, DM_Q_CONSOLIDATE, "after-kill", "{}", 0);
    struct dm_queue_msg *m = recv1(f->q, DM_Q_CONSOLIDATE, 2000);
    assert_non_null(m);
    assert_string_equal(m->id, "after-kill");
    struct dm_error err = {0};
    assert_int_equal(dm_queue_complete(f->q, m, &err), DM_OK);
    dm_queue_msg_free(m);
    /* The listener reconnects by itself, and wakeups are immediate again. */
    deadline = dm_mono_ms() + 10000;
    while (!listener_connected(f->db)) {
        assert_true(dm_mono_ms() < deadline);
        dm_sleep_ms(20, NULL);
    }
    struct waiter w = {.q = f->q};
    pthread_t th;
    pthread_create(&th, NULL, wait_one, &w);
    /* Let the receiver go idle (its first look finds nothing), then send. */
    dm_sleep_ms(100, NULL);
    int64_t sent = dm_mono_ms();
    send1(f->q, DM_Q_CONSOLIDATE, "wake", "{}", 0);
    pthread_join(th, NULL);
    assert_non_null(w.m);
    assert_true(w.got_ms - sent < 500); /* the fallback poll alone would take ~900 ms */
    assert_int_equal(dm_queue_complete(f->q, w.m, &err), DM_OK);
    dm_queue_msg_free(w.m);
}

/* ---- many consumers, two processes ---------------------------------------------------------- */

struct consumer_arg {
    struct dm_queue *q;
    struct dm_db *db;
    int done;
    int lock_lost;
    int failures;
};

/* Receive and complete until the queue has stayed empty after some work (or 2 minutes);
 * record each successful complete. */
static void *consumer_main(void *arg)
{
    struct consumer_arg *a = arg;
    int idle = 0;
    bool seen = false;
    int64_t deadline = dm_mono_ms() + 120000;
    while (!(seen && idle >= 3) && dm_mono_ms() < deadline) {
        struct dm_queue_msg *m = NULL;
        struct dm_error err = {0};
        if (dm_queue_receive(a->q, DM_Q_WORK_ITEMS, 300, &m, &err) != DM_OK) {
            a->failures++;
            continue;
        }
        if (m == NULL) {
            idle++;
            continue;
        }
        idle = 0;
        seen = true;
        enum dm_err e = dm_queue_complete(a->q, m, &err);
        if (e == DM_OK) {
            char pid[16];
            snprintf(pid, sizeof(pid), "%d", (int)getpid());
            const char *p[2] = {m->id, pid};
            if (dm_db_query(a->db, "INSERT INTO test_completed (message_id, pid) VALUES ($1, $2)",
                            2, p, NULL, &err) != DM_OK)
                a->failures++;
            a->done++;
        } else if (e == DM_ERR_LOCK_LOST) {
            a->lock_lost++;
        } else {
            a->failures++;
        }
        dm_queue_msg_free(m);
    }
    return NULL;
}

/* Consumer threads over their own pool and queue handle; with announce, print READY once
 * they run (the parent sends only then, so both processes surely get work). */
static int run_consumers(const char *url, int threads, bool announce)
{
    struct dm_db *db = dm_db_new(url, threads * 2 + 2);
    struct dm_queue_settings s[DM_Q_COUNT];
    short_settings(s, 60000); /* long locks: every complete must succeed */
    struct dm_queue *q = NULL;
    struct dm_error err = {0};
    if (dm_queue_open_pg(db, url, s, &q, &err) != DM_OK) {
        dm_db_free(db);
        return -1;
    }
    pthread_t th[16];
    struct consumer_arg args[16];
    for (int i = 0; i < threads; i++) {
        args[i] = (struct consumer_arg){.q = q, .db = db};
        pthread_create(&th[i], NULL, consumer_main, &args[i]);
    }
    if (announce) {
        printf("READY\n");
        fflush(stdout);
    }
    int failures = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures + args[i].lock_lost;
    }
    dm_queue_free(q);
    dm_db_free(db);
    return failures;
}

/* Re-execute this binary in `mode` with its stdout on a pipe; wait for its READY line. */
static pid_t spawn_self(const char *mode, const char *url, const char *arg)
{
    int fd;
    pid_t pid = dm_test_fork_pipe(&fd);
    if (pid == 0) {
        dup2(fd, 1);
        close(fd);
        execl("/proc/self/exe", "test_queue_conformance", mode, url, arg, (char *)NULL);
        _exit(127);
    }
    FILE *in = fdopen(fd, "r");
    char line[16] = {0};
    assert_non_null(fgets(line, sizeof(line), in)); /* blocks until the child is ready */
    assert_string_equal(line, "READY\n");
    fclose(in);
    return pid;
}

static int wait_child(pid_t pid, int timeout_ms)
{
    int64_t deadline = dm_mono_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (dm_mono_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        dm_sleep_ms(20, NULL);
    }
}

static void test_two_processes_exactly_once(void **state)
{
    struct fx *f = *state;
    enum { N = 10000 };
    PGresult *r = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_db_query(f->db,
                                 "CREATE TABLE test_completed (message_id text NOT NULL,"
                                 " pid int NOT NULL)",
                                 0, NULL, &r, &err),
                     DM_OK);
    PQclear(r);
    struct dm_queue_out *msgs = calloc(N, sizeof(*msgs));
    char(*ids)[40] = calloc(N, sizeof(*ids));
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "run:part-%05d:0", i);
        msgs[i].id = ids[i];
        msgs[i].body = "{\"type\":\"WORK_ITEM\"}";
    }
    pid_t child = spawn_self("consume", f->url, "4");
    assert_true(child > 0);
    assert_int_equal(dm_queue_send_many(f->q, DM_Q_WORK_ITEMS, msgs, N, &err), DM_OK);
    free(msgs);
    free(ids);
    int failures = run_consumers(f->url, 4, false);
    int status = wait_child(child, 300000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(failures, 0);
    assert_int_equal(sql_i64(f->db, "SELECT count(*) FROM test_completed"), N);
    assert_int_equal(sql_i64(f->db, "SELECT count(DISTINCT message_id) FROM test_completed"), N);
    /* Both processes did work. */
    assert_int_equal(sql_i64(f->db, "SELECT count(DISTINCT pid) FROM test_completed"), 2);
    assert_int_equal(sql_i64(f->db, "SELECT count(*) FROM queue_messages"), 0);
    assert_int_equal(sql_i64(f->db, "SELECT count(*) FROM queue_dead_letters"), 0);
}

/* Child "hold": receive `n` messages with a 3 s lock, print READY, then hang until killed. */
static int run_holder(const char *url, int n)
{
    struct dm_db *db = dm_db_new(url, 2);
    struct dm_queue_settings s[DM_Q_COUNT];
    short_settings(s, 3000);
    struct dm_queue *q = NULL;
    struct dm_error err = {0};
    if (dm_queue_open_pg(db, url, s, &q, &err) != DM_OK)
        return 1;
    for (int got = 0; got < n;) {
        struct dm_queue_msg *m = NULL;
        if (dm_queue_receive(q, DM_Q_WORK_ITEMS, 1000, &m, &err) != DM_OK)
            return 1;
        if (m) {
            got++;
            dm_queue_msg_free(m); /* "handling": never settled */
        }
    }
    printf("READY\n");
    fflush(stdout);
    for (;;)
        pause();
}

static void test_sigkill_loses_nothing(void **state)
{
    struct fx *f = *state;
    enum { N = 20 };
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "kill-%d", i);
        send1(f->q, DM_Q_WORK_ITEMS, id, "{\"type\":\"WORK_ITEM\"}", 0);
    }
    pid_t pid = spawn_self("hold", f->url, "20"); /* READY: it holds all 20 */
    /* All 20 are locked by the child: none visible. */
    assert_null(recv1(f->q, DM_Q_WORK_ITEMS, 0));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    /* After the lock runs out every message is redelivered, with delivery count 2. */
    int got = 0;
    struct dm_error err = {0};
    int64_t deadline = dm_mono_ms() + 20000;
    while (got < N && dm_mono_ms() < deadline) {
        struct dm_queue_msg *m = recv1(f->q, DM_Q_WORK_ITEMS, 2000);
        if (m == NULL)
            continue;
        assert_int_equal(m->delivery_count, 2);
        assert_int_equal(dm_queue_complete(f->q, m, &err), DM_OK);
        dm_queue_msg_free(m);
        got++;
    }
    assert_int_equal(got, N);
    assert_int_equal(sql_i64(f->db, "SELECT count(*) FROM queue_messages"), 0);
    assert_int_equal(sql_i64(f->db, "SELECT count(*) FROM queue_dead_letters"), 0);
}

int main(int argc, char **argv)
{
    dm_log_init("test", DM_LOG_ERROR);
    /* Children: stdout is the READY pipe the parent stops reading; logs go to stderr. */
    dm_log_set_fd(2);
    signal(SIGPIPE, SIG_IGN);
    if (argc == 4 && !strcmp(argv[1], "consume")) {
        int threads = 0;
        if (dm_parse_int(argv[3], 1, 16, &threads) != DM_OK)
            return 2;
        return run_consumers(argv[2], threads, true) == 0 ? 0 : 1;
    }
    if (argc == 4 && !strcmp(argv[1], "hold")) {
        int n = 0;
        if (dm_parse_int(argv[3], 1, 100000, &n) != DM_OK)
            return 2;
        return run_holder(argv[2], n);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_table),
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_expiry_redelivers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_delivery_abandon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_delivery_lock_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renew_keeps_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settle_after_lock_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduled_invisible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_dead_letters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_and_resubmit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any_bytes_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_many_never_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_connection_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_processes_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_loses_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
