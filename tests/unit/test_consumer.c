/*
 * test_consumer.c - the queue consumer (adapters/queue/consumer.h) against an in-memory queue
 * backend: each settle outcome reaches the queue (complete, abandon, dead-letter with the
 * handler's reason or the queue's default), a lost lock or a failed receive does not stop the
 * consumer, handlers run concurrently, a slow handler's lock is renewed (and never after its
 * message was settled), and the stop flag lets in-flight handlers finish and settle without
 * receiving anything more. Threads meet on condition variables; the timed waits are only
 * guards that turn a hang into a failure.
 */
#include "testlib.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/queue/consumer.h"
#include "adapters/queue/queue_impl.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/timeutil.h"

#define MAXMSG 16
#define GUARD_MS 20000 /* a wait this long means the consumer hangs */

enum state { QUEUED, LOCKED, COMPLETED, ABANDONED, DEAD };

struct fake_msg {
    char id[32];
    char body[64];
    enum state state;
    int renewals;
    int renewals_after_settle;
    char reason[DM_QUEUE_MAX_REASON + 1];
};

/* The in-memory backend: messages in arrival order; every change broadcasts cv. */
struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    struct fake_msg msgs[MAXMSG];
    int n;
    int receives;       /* messages handed out */
    int receive_errors; /* receives still to fail */
    int lock_lost;      /* index whose settle answers DM_ERR_LOCK_LOST, or -1 */
    int settled;
    bool woken; /* receivers return at once (the test is stopping the consumer) */
    /* handler side */
    int in_handler, max_in_handler, handled;
    int gate_open; /* handlers with body "gate" wait for this */
};

static struct fake *fake_of(struct dm_queue *q)
{
    return q->impl;
}

static bool wait_until(struct fake *f, int64_t deadline_ms, bool (*cond)(struct fake *, void *),
                       void *arg)
{
    while (!cond(f, arg)) {
        if (dm_mono_ms() >= deadline_ms)
            return false;
        struct timespec ts = dm_deadline_after(CLOCK_MONOTONIC, deadline_ms - dm_mono_ms());
        pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    }
    return true;
}

static bool has_message_or_woken(struct fake *f, void *arg)
{
    (void)arg;
    if (f->woken)
        return true;
    for (int i = 0; i < f->n; i++)
        if (f->msgs[i].state == QUEUED)
            return true;
    return false;
}

static enum dm_err fake_receive(struct dm_queue *q, enum dm_queue_name name, int wait_ms,
                                struct dm_queue_msg **out, struct dm_error *err)
{
    struct fake *f = fake_of(q);
    pthread_mutex_lock(&f->mu);
    if (f->receive_errors > 0) {
        f->receive_errors--;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        return dm_error_set(err, DM_ERR_NETWORK, "injected receive failure");
    }
    wait_until(f, dm_mono_ms() + wait_ms, has_message_or_woken, NULL);
    for (int i = 0; i < f->n; i++) {
        if (f->msgs[i].state != QUEUED)
            continue;
        f->msgs[i].state = LOCKED;
        f->receives++;
        struct dm_queue_msg *m = dm_queue_msg_new(name);
        m->id = dm_xstrdup(f->msgs[i].id);
        m->body = dm_xstrdup(f->msgs[i].body);
        m->lock_token = dm_xasprintf("%d", i);
        m->delivery_count = 1;
        *out = m;
        break;
    }
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return DM_OK;
}

static enum dm_err fake_settle(struct dm_queue *q, struct dm_queue_msg *m, enum state to,
                               const char *reason, struct dm_error *err)
{
    struct fake *f = fake_of(q);
    int i = atoi(m->lock_token);
    pthread_mutex_lock(&f->mu);
    enum dm_err e = DM_OK;
    if (f->msgs[i].state != LOCKED) {
        e = dm_error_set(err, DM_ERR_INTERNAL, "settled twice");
    } else {
        f->msgs[i].state = to;
        if (reason)
            snprintf(f->msgs[i].reason, sizeof(f->msgs[i].reason), "%s", reason);
        f->settled++;
        if (i == f->lock_lost)
            e = dm_error_set(err, DM_ERR_LOCK_LOST, "lock expired");
    }
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return e;
}

static enum dm_err fake_complete(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    return fake_settle(q, m, COMPLETED, NULL, err);
}

static enum dm_err fake_abandon(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    return fake_settle(q, m, ABANDONED, NULL, err);
}

static enum dm_err fake_dead_letter(struct dm_queue *q, struct dm_queue_msg *m, const char *reason,
                                    struct dm_error *err)
{
    return fake_settle(q, m, DEAD, reason, err);
}

static enum dm_err fake_renew(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    (void)err;
    struct fake *f = fake_of(q);
    int i = atoi(m->lock_token);
    pthread_mutex_lock(&f->mu);
    if (f->msgs[i].state == LOCKED)
        f->msgs[i].renewals++;
    else
        f->msgs[i].renewals_after_settle++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return DM_OK;
}

static void fake_free(struct dm_queue *q)
{
    struct fake *f = fake_of(q);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static const struct dm_queue_ops fake_ops = {
    .name = "fake",
    .receive = fake_receive,
    .complete = fake_complete,
    .abandon = fake_abandon,
    .dead_letter = fake_dead_letter,
    .renew = fake_renew,
    .free = fake_free,
};

static struct dm_queue *fake_open(void)
{
    struct dm_queue *q = dm_xcalloc(1, sizeof(*q));
    for (int i = 0; i < DM_Q_COUNT; i++)
        q->settings[i] = *dm_queue_settings((enum dm_queue_name)i);
    struct fake *f = dm_xcalloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    dm_cond_init_monotonic(&f->cv);
    f->lock_lost = -1;
    q->ops = &fake_ops;
    q->impl = f;
    return q;
}

static void fake_push(struct fake *f, const char *id, const char *body)
{
    pthread_mutex_lock(&f->mu);
    assert_true(f->n < MAXMSG);
    struct fake_msg *m = &f->msgs[f->n++];
    snprintf(m->id, sizeof(m->id), "%s", id);
    snprintf(m->body, sizeof(m->body), "%s", body);
    m->state = QUEUED;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static bool settled_at_least(struct fake *f, void *arg)
{
    return f->settled >= *(int *)arg;
}

static bool renewed_twice(struct fake *f, void *arg)
{
    return f->msgs[*(int *)arg].renewals >= 2;
}

/* Once reached, stays reached: the first handler through leaves the others waiting. */
static bool all_in_handler(struct fake *f, void *arg)
{
    return f->max_in_handler >= *(int *)arg;
}

static bool gate_is_open(struct fake *f, void *arg)
{
    (void)arg;
    return f->gate_open;
}

static bool someone_in_handler(struct fake *f, void *arg)
{
    (void)arg;
    return f->in_handler > 0;
}

/* ---- the handler under the consumer ---------------------------------------------------- */

struct harness {
    struct fake *f;
    int barrier;  /* body "barrier": wait until this many handlers run at once */
    int slow_idx; /* body "slow": wait until message slow_idx was renewed twice */
    bool guard_hit;
};

static enum dm_settle handler(void *arg, struct dm_delivery *d)
{
    struct harness *h = arg;
    struct fake *f = h->f;
    const char *b = d->msg->body;
    struct dm_log_ctx ctx = {.run_id = "run-1", .partition_id = "p-1", .trace_id = "t-1"};
    dm_delivery_set_ctx(d, &ctx);
    pthread_mutex_lock(&f->mu);
    f->in_handler++;
    if (f->in_handler > f->max_in_handler)
        f->max_in_handler = f->in_handler;
    pthread_cond_broadcast(&f->cv);
    int64_t guard = dm_mono_ms() + GUARD_MS;
    bool ok = true;
    if (!strcmp(b, "barrier"))
        ok = wait_until(f, guard, all_in_handler, &h->barrier);
    else if (!strcmp(b, "slow"))
        ok = wait_until(f, guard, renewed_twice, &h->slow_idx);
    else if (!strcmp(b, "gate"))
        ok = wait_until(f, guard, gate_is_open, NULL);
    if (!ok)
        h->guard_hit = true;
    f->in_handler--;
    f->handled++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (!strcmp(b, "abandon"))
        return DM_SETTLE_ABANDON;
    if (!strncmp(b, "dead:", 5))
        return dm_delivery_dead_letter(d, "bad body %s", b + 5);
    if (!strcmp(b, "dead-no-reason"))
        return DM_SETTLE_DEAD_LETTER;
    return DM_SETTLE_COMPLETE;
}

static volatile sig_atomic_t stop_flag;

static struct dm_consumer *start(struct dm_queue *q, struct harness *h, int concurrency,
                                 int64_t renew_ms)
{
    stop_flag = 0;
    struct dm_consumer_opts o = {.queue = q,
                                 .name = DM_Q_WORK_ITEMS,
                                 .handle = handler,
                                 .arg = h,
                                 .concurrency = concurrency,
                                 .renew_ms = renew_ms,
                                 .receive_wait_ms = 5000,
                                 .receive_retry_ms = 1,
                                 .stop = &stop_flag};
    struct dm_consumer *c = NULL;
    struct dm_error err = {0};
    assert_int_equal(dm_consumer_start(&o, &c, &err), DM_OK);
    assert_int_equal(dm_consumer_threads(c), concurrency);
    return c;
}

/* Set the stop flag, wake receivers waiting for a message, wait for the consumer. */
static void stop_and_join(struct fake *f, struct dm_consumer *c)
{
    stop_flag = 1;
    pthread_mutex_lock(&f->mu);
    f->woken = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    dm_consumer_join(c);
}

static void wait_settled(struct fake *f, int n)
{
    pthread_mutex_lock(&f->mu);
    bool ok = wait_until(f, dm_mono_ms() + GUARD_MS, settled_at_least, &n);
    pthread_mutex_unlock(&f->mu);
    assert_true(ok);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_settle_outcomes(void **state)
{
    (void)state;
    struct dm_queue *q = fake_open();
    struct fake *f = fake_of(q);
    struct harness h = {.f = f};
    f->receive_errors = 2; /* a failing receive is retried, not fatal */
    f->lock_lost = 4;      /* a lost lock on settle is logged, the consumer goes on */
    fake_push(f, "m-complete", "complete");
    fake_push(f, "m-abandon", "abandon");
    fake_push(f, "m-dead", "dead:{oops}");
    fake_push(f, "m-dead-default", "dead-no-reason");
    fake_push(f, "m-lost", "complete");
    fake_push(f, "m-after", "complete");
    struct dm_consumer *c = start(q, &h, 2, 0);
    wait_settled(f, 6);
    stop_and_join(f, c);
    assert_int_equal(f->receive_errors, 0);
    assert_int_equal(f->receives, 6);
    assert_int_equal(f->handled, 6);
    assert_int_equal(f->msgs[0].state, COMPLETED);
    assert_int_equal(f->msgs[1].state, ABANDONED);
    assert_int_equal(f->msgs[2].state, DEAD);
    assert_string_equal(f->msgs[2].reason, "bad body {oops}");
    assert_int_equal(f->msgs[3].state, DEAD);
    assert_string_equal(f->msgs[3].reason, "DeadLetteredByConsumer"); /* the queue's default */
    assert_int_equal(f->msgs[4].state, COMPLETED);
    assert_int_equal(f->msgs[5].state, COMPLETED);
    for (int i = 0; i < 6; i++)
        assert_int_equal(f->msgs[i].renewals + f->msgs[i].renewals_after_settle, 0);
    dm_queue_free(q);
}

static void test_handlers_run_concurrently(void **state)
{
    (void)state;
    struct dm_queue *q = fake_open();
    struct fake *f = fake_of(q);
    struct harness h = {.f = f, .barrier = 3};
    for (int i = 0; i < 3; i++)
        fake_push(f, "m", "barrier");
    struct dm_consumer *c = start(q, &h, 3, 0);
    wait_settled(f, 3);
    stop_and_join(f, c);
    assert_false(h.guard_hit);
    assert_int_equal(f->max_in_handler, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f->msgs[i].state, COMPLETED);
    dm_queue_free(q);
}

static void test_slow_handler_lock_renewed(void **state)
{
    (void)state;
    struct dm_queue *q = fake_open();
    struct fake *f = fake_of(q);
    struct harness h = {.f = f, .slow_idx = 0};
    fake_push(f, "m-slow", "slow");
    /* Renewal every 5 ms: the handler returns only after its lock was renewed twice. */
    struct dm_consumer *c = start(q, &h, 2, 5);
    wait_settled(f, 1);
    /* A message whose handler is quick is settled without needing a renewal. */
    fake_push(f, "m-quick", "complete");
    wait_settled(f, 2);
    stop_and_join(f, c);
    assert_false(h.guard_hit);
    assert_int_equal(f->msgs[0].state, COMPLETED);
    assert_true(f->msgs[0].renewals >= 2);
    assert_int_equal(f->msgs[0].renewals_after_settle, 0);
    assert_int_equal(f->msgs[1].state, COMPLETED);
    assert_int_equal(f->msgs[1].renewals_after_settle, 0);
    dm_queue_free(q);
}

static void test_stop_drains_in_flight(void **state)
{
    (void)state;
    struct dm_queue *q = fake_open();
    struct fake *f = fake_of(q);
    struct harness h = {.f = f};
    fake_push(f, "m-in-flight", "gate");
    struct dm_consumer *c = start(q, &h, 1, 5);
    pthread_mutex_lock(&f->mu);
    assert_true(wait_until(f, dm_mono_ms() + GUARD_MS, someone_in_handler, NULL));
    pthread_mutex_unlock(&f->mu);
    /* SIGTERM while the message is in flight; another message arrives meanwhile. */
    stop_flag = 1;
    fake_push(f, "m-after-stop", "complete");
    pthread_mutex_lock(&f->mu);
    f->gate_open = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    dm_consumer_join(c);
    /* The in-flight message was handled and settled before join returned; nothing more was
     * received. */
    assert_false(h.guard_hit);
    assert_int_equal(f->msgs[0].state, COMPLETED);
    assert_int_equal(f->settled, 1);
    assert_int_equal(f->receives, 1);
    assert_int_equal(f->msgs[1].state, QUEUED);
    assert_int_equal(f->msgs[0].renewals_after_settle, 0);
    dm_queue_free(q);
}

static void test_bad_options(void **state)
{
    (void)state;
    struct dm_queue *q = fake_open();
    struct harness h = {.f = fake_of(q)};
    struct dm_consumer *c = NULL;
    struct dm_error err = {0};
    struct dm_consumer_opts o = {.queue = q, .name = DM_Q_WORK_DONE, .handle = handler, .arg = &h};
    assert_int_equal(dm_consumer_start(&o, &c, &err), DM_ERR_INVALID); /* concurrency 0 */
    assert_null(c);
    o.concurrency = 1;
    o.handle = NULL;
    assert_int_equal(dm_consumer_start(&o, &c, &err), DM_ERR_INVALID);
    o.handle = handler;
    o.name = DM_Q_COUNT;
    assert_int_equal(dm_consumer_start(&o, &c, &err), DM_ERR_INVALID);
    /* Half the lock duration of the queue in force for this handle. */
    q->settings[DM_Q_CONSOLIDATE].lock_ms = 3000;
    assert_int_equal(dm_consumer_renew_ms(q, DM_Q_CONSOLIDATE), 1500);
    assert_int_equal(dm_consumer_renew_ms(q, DM_Q_WORK_ITEMS), 60000);
    dm_consumer_join(NULL);
    dm_queue_free(q);
}

int main(void)
{
    dm_log_init("test", DM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settle_outcomes),
        cmocka_unit_test(test_handlers_run_concurrently),
        cmocka_unit_test(test_slow_handler_lock_renewed),
        cmocka_unit_test(test_stop_drains_in_flight),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
