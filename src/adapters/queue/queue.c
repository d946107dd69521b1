/*
 * queue.c - the queue settings table (the seed's Service Bus queues), backend selection and
 * the public wrappers that validate arguments before calling the backend's vtable.
 */
#include "adapters/queue/queue.h"

#include <stdlib.h>
#include <string.h>

#include "adapters/db/db.h"
#include "adapters/queue/queue_impl.h"
#include "core/buf.h"

#define MINUTE_MS (60LL * 1000)
#define DAY_MS (24LL * 60 * MINUTE_MS)

/* Exactly the seed: work-items PT2M / 5 / duplicate detection PT10M; work-done PT1M / 3;
 * consolidate PT5M / 3; every queue TTL 1 day with dead-lettering on expiry. */
static const struct dm_queue_settings defaults[DM_Q_COUNT] = {
    [DM_Q_WORK_ITEMS] = {"work-items", 2 * MINUTE_MS, 5, 10 * MINUTE_MS, DAY_MS, true},
    [DM_Q_WORK_DONE] = {"work-done", 1 * MINUTE_MS, 3, 0, DAY_MS, true},
    [DM_Q_CONSOLIDATE] = {"consolidate", 5 * MINUTE_MS, 3, 0, DAY_MS, true},
};

const struct dm_queue_settings *dm_queue_settings(enum dm_queue_name q)
{
    if ((int)q < 0 || q >= DM_Q_COUNT)
        return NULL;
    return &defaults[q];
}

enum dm_err dm_queue_parse_name(const char *s, enum dm_queue_name *out)
{
    for (int i = 0; s != NULL && i < DM_Q_COUNT; i++) {
        if (!strcmp(s, defaults[i].name)) {
            *out = (enum dm_queue_name)i;
            return DM_OK;
        }
    }
    return DM_ERR_INVALID;
}

static struct dm_queue *queue_new(const struct dm_queue_settings *settings)
{
    struct dm_queue *q = dm_xcalloc(1, sizeof(*q));
    for (int i = 0; i < DM_Q_COUNT; i++) {
        q->settings[i] = settings ? settings[i] : defaults[i];
        /* Names are the queues' identity on every backend: never overridden. */
        q->settings[i].name = defaults[i].name;
    }
    return q;
}

/* The end of an open: q into *out when its backend's init answered e == DM_OK; else q is freed
 * and e returned. */
static enum dm_err opened(struct dm_queue *q, enum dm_err e, struct dm_queue **out)
{
    if (e != DM_OK) {
        free(q);
        return e;
    }
    *out = q;
    return DM_OK;
}

enum dm_err dm_queue_open_pg(struct dm_db *db, const char *conninfo,
                             const struct dm_queue_settings *settings, struct dm_queue **out,
                             struct dm_error *err)
{
    *out = NULL;
    if (db == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "queue: the pg backend needs a database");
    struct dm_queue *q = queue_new(settings);
    return opened(q, dm_queue_pg_init(q, db, conninfo, err), out);
}

enum dm_err dm_queue_open_servicebus_scoped(const char *namespace_cs, const char *const *queue_cs,
                                            const struct dm_queue_settings *settings,
                                            struct dm_queue **out, struct dm_error *err)
{
    *out = NULL;
    bool any = namespace_cs != NULL && namespace_cs[0] != '\0';
    for (int i = 0; queue_cs != NULL && i < DM_Q_COUNT; i++)
        any |= queue_cs[i] != NULL && queue_cs[i][0] != '\0';
    if (!any)
        return dm_error_set(err, DM_ERR_INVALID,
                            "queue: AZURE_SERVICE_BUS_CONNECTION_STRING is not set");
    struct dm_queue *q = queue_new(settings);
    return opened(q, dm_queue_sb_init(q, namespace_cs, queue_cs, err), out);
}

enum dm_err dm_queue_open_servicebus(const char *connection_string,
                                     const struct dm_queue_settings *settings,
                                     struct dm_queue **out, struct dm_error *err)
{
    return dm_queue_open_servicebus_scoped(connection_string, NULL, settings, out, err);
}

enum dm_err dm_queue_open(const struct dm_queue_opts *opts, struct dm_db *db, struct dm_queue **out,
                          struct dm_error *err)
{
    *out = NULL;
    const char *backend = opts->backend;
    if (backend == NULL) {
        bool sb = opts->namespace_cs != NULL;
        for (int i = 0; i < DM_Q_COUNT; i++)
            sb |= opts->queue_cs[i] != NULL;
        backend = sb ? "servicebus" : "pg";
    }
    if (!strcmp(backend, "servicebus"))
        return dm_queue_open_servicebus_scoped(opts->namespace_cs, opts->queue_cs, NULL, out, err);
    if (strcmp(backend, "pg") != 0)
        return dm_error_set(err, DM_ERR_INVALID, "queue: unknown backend '%s'", backend);
    if (db == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "queue: the pg backend needs a database");
    /* WORK_ITEMS_LOCK_MS (tests only) shortens the work-items peek-lock; 0 keeps the seed's. */
    struct dm_queue_settings s[DM_Q_COUNT];
    memcpy(s, defaults, sizeof(s));
    if (opts->work_items_lock_ms > 0)
        s[DM_Q_WORK_ITEMS].lock_ms = opts->work_items_lock_ms;
    /* The LISTEN connection goes to the pool's own database. */
    return dm_queue_open_pg(db, dm_db_conninfo(db), s, out, err);
}

void dm_queue_free(struct dm_queue *q)
{
    if (q == NULL)
        return;
    if (q->ops && q->ops->free)
        q->ops->free(q);
    free(q);
}

const char *dm_queue_backend_name(const struct dm_queue *q)
{
    return q->ops->name;
}

const struct dm_queue_settings *dm_queue_handle_settings(const struct dm_queue *q,
                                                         enum dm_queue_name name)
{
    if ((int)name < 0 || name >= DM_Q_COUNT)
        return NULL;
    return &q->settings[name];
}

static enum dm_err check_name(enum dm_queue_name name, struct dm_error *err)
{
    if ((int)name < 0 || name >= DM_Q_COUNT)
        return dm_error_set(err, DM_ERR_INVALID, "queue: unknown queue %d", (int)name);
    return DM_OK;
}

static enum dm_err check_out(const struct dm_queue_out *m, struct dm_error *err)
{
    if (m->id == NULL || m->id[0] == '\0')
        return dm_error_set(err, DM_ERR_INVALID, "queue: message id is required");
    if (strlen(m->id) > DM_QUEUE_MAX_ID)
        return dm_error_set(err, DM_ERR_INVALID, "queue: message id longer than %d characters",
                            DM_QUEUE_MAX_ID);
    for (const char *c = m->id; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            return dm_error_set(err, DM_ERR_INVALID, "queue: message id must be printable ASCII");
    if (m->body == NULL)
        return dm_error_set(err, DM_ERR_INVALID, "queue: message %s has no body", m->id);
    if (strlen(m->body) > DM_QUEUE_MAX_BODY)
        return dm_error_set(err, DM_ERR_TOO_LARGE, "queue: message %s body exceeds %d bytes", m->id,
                            DM_QUEUE_MAX_BODY);
    if (m->scheduled_ms < 0)
        return dm_error_set(err, DM_ERR_INVALID, "queue: message %s has a negative schedule",
                            m->id);
    return DM_OK;
}

enum dm_err dm_queue_send(struct dm_queue *q, enum dm_queue_name name,
                          const struct dm_queue_out *msg, struct dm_error *err)
{
    return dm_queue_send_many(q, name, msg, 1, err);
}

enum dm_err dm_queue_send_many(struct dm_queue *q, enum dm_queue_name name,
                               const struct dm_queue_out *msgs, int n, struct dm_error *err)
{
    enum dm_err e = check_name(name, err);
    if (e != DM_OK)
        return e;
    if (n < 0 || (n > 0 && msgs == NULL))
        return dm_error_set(err, DM_ERR_INVALID, "queue: bad message array");
    if (n == 0)
        return DM_OK;
    for (int i = 0; i < n; i++)
        if ((e = check_out(&msgs[i], err)) != DM_OK)
            return e;
    return q->ops->send_many(q, name, msgs, n, err);
}

enum dm_err dm_queue_receive(struct dm_queue *q, enum dm_queue_name name, int wait_ms,
                             struct dm_queue_msg **out, struct dm_error *err)
{
    *out = NULL;
    enum dm_err e = check_name(name, err);
    if (e != DM_OK)
        return e;
    return q->ops->receive(q, name, wait_ms < 0 ? 0 : wait_ms, out, err);
}

static enum dm_err check_msg(const struct dm_queue_msg *m, struct dm_error *err)
{
    if (m == NULL || m->lock_token == NULL || (int)m->queue < 0 || m->queue >= DM_Q_COUNT)
        return dm_error_set(err, DM_ERR_INVALID, "queue: not a locked message");
    return DM_OK;
}

enum dm_err dm_queue_complete(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    enum dm_err e = check_msg(m, err);
    return e != DM_OK ? e : q->ops->complete(q, m, err);
}

enum dm_err dm_queue_abandon(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    enum dm_err e = check_msg(m, err);
    return e != DM_OK ? e : q->ops->abandon(q, m, err);
}

enum dm_err dm_queue_dead_letter(struct dm_queue *q, struct dm_queue_msg *m, const char *reason,
                                 struct dm_error *err)
{
    enum dm_err e = check_msg(m, err);
    if (e != DM_OK)
        return e;
    if (reason == NULL || reason[0] == '\0')
        reason = "DeadLetteredByConsumer";
    /* Reasons often quote what was wrong with the body: keep them printable ASCII and short
     * so every backend can store them (a text column, an HTTP header). */
    char clean[DM_QUEUE_MAX_REASON + 1];
    size_t i = 0;
    for (; reason[i] && i < DM_QUEUE_MAX_REASON; i++) {
        unsigned char ch = (unsigned char)reason[i];
        clean[i] = (ch >= 0x20 && ch <= 0x7e) ? (char)ch : '?';
    }
    clean[i] = '\0';
    return q->ops->dead_letter(q, m, clean, err);
}

enum dm_err dm_queue_renew(struct dm_queue *q, struct dm_queue_msg *m, struct dm_error *err)
{
    enum dm_err e = check_msg(m, err);
    return e != DM_OK ? e : q->ops->renew(q, m, err);
}

enum dm_err dm_queue_stats(struct dm_queue *q, enum dm_queue_name name, struct dm_queue_stats *out,
                           struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    enum dm_err e = check_name(name, err);
    return e != DM_OK ? e : q->ops->stats(q, name, out, err);
}

enum dm_err dm_queue_dlq_list(struct dm_queue *q, enum dm_queue_name name, int max,
                              struct dm_queue_msg ***out, int *n, struct dm_error *err)
{
    *out = NULL;
    *n = 0;
    enum dm_err e = check_name(name, err);
    if (e != DM_OK)
        return e;
    if (max <= 0)
        return DM_OK;
    return q->ops->dlq_list(q, name, max, out, n, err);
}

enum dm_err dm_queue_dlq_resubmit(struct dm_queue *q, enum dm_queue_name name, const char *id,
                                  int *count, struct dm_error *err)
{
    *count = 0;
    enum dm_err e = check_name(name, err);
    return e != DM_OK ? e : q->ops->dlq_resubmit(q, name, id, count, err);
}

struct dm_queue_msg *dm_queue_msg_new(enum dm_queue_name name)
{
    struct dm_queue_msg *m = dm_xcalloc(1, sizeof(*m));
    m->queue = name;
    return m;
}

void dm_queue_msg_free(struct dm_queue_msg *m)
{
    if (m == NULL)
        return;
    free(m->id);
    free(m->body);
    free(m->lock_token);
    free(m->dead_letter_reason);
    free(m->backend_ref);
    free(m);
}

void dm_queue_msgs_free(struct dm_queue_msg **ms, int n)
{
    if (ms == NULL)
        return;
    for (int i = 0; i < n; i++)
        dm_queue_msg_free(ms[i]);
    free(ms);
}
