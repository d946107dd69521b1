/*
 * queue.h - the three pipeline queues behind one small interface (a vtable), with Service Bus
 * semantics: peek-lock receive, complete / abandon / dead-letter / renew-lock, duplicate
 * detection on message id, scheduled delivery, time-to-live, dead-lettering on expiry and on
 * exceeding max delivery, depth and dead-letter depth. Backends: PostgreSQL tables (default)
 * and Azure Service Bus over REST (when AZURE_SERVICE_BUS_CONNECTION_STRING, or one of the
 * per-queue AZURE_SERVICE_BUS_CONNECTION_STRING_<QUEUE>, is set), chosen once from struct
 * dm_queue_opts (filled from the configuration in one place: src/app/adapter_opts.c). The
 * handle and the backend vtable are private (queue_impl.h).
 * Callers (scheduler, worker, consolidator, api, cli) never know which backend runs.
 *
 * Thread-safety: one struct dm_queue may be used by many threads at once.
 */
#ifndef DM_ADAPTERS_QUEUE_H
#define DM_ADAPTERS_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

struct dm_db;

enum dm_queue_name { DM_Q_WORK_ITEMS = 0, DM_Q_WORK_DONE, DM_Q_CONSOLIDATE, DM_Q_COUNT };

/* Settings of one queue, exactly as in the seed (one table in queue.c). */
struct dm_queue_settings {
    const char *name;      /* "work-items", "work-done", "consolidate" */
    int64_t lock_ms;       /* peek-lock duration */
    int max_delivery;      /* deliveries before dead-lettering */
    int64_t dup_window_ms; /* duplicate detection window, 0 = off */
    int64_t ttl_ms;        /* message time-to-live */
    bool dead_letter_on_expiry;
};

const struct dm_queue_settings *dm_queue_settings(enum dm_queue_name q);
/* Parse "work-items" etc. */
enum dm_err dm_queue_parse_name(const char *s, enum dm_queue_name *out) DM_MUST_CHECK;

/* A message to send. */
struct dm_queue_out {
    const char *id;       /* message id for duplicate detection (required) */
    const char *body;     /* JSON text */
    int64_t scheduled_ms; /* enqueue time (ms since epoch) or 0 for now */
};

/* A received (peek-locked) message; release with dm_queue_msg_free. */
struct dm_queue_msg {
    enum dm_queue_name queue;
    char *id;           /* message id */
    char *body;         /* NUL-terminated */
    char *lock_token;   /* settle operations need it */
    int delivery_count; /* 1 on first delivery */
    int64_t enqueued_ms;
    int64_t locked_until_ms;
    char *dead_letter_reason; /* only for messages listed from the dead-letter state */
    char *backend_ref;        /* backend's own handle (sequence number / lock URL) */
};

struct dm_queue_stats {
    int64_t active;    /* visible or locked, not dead-lettered */
    int64_t scheduled; /* not yet visible */
    int64_t dead_letter;
    int64_t oldest_age_ms; /* age of the oldest active message, 0 when none */
};

struct dm_queue; /* opaque handle: backend + its state */

/* What dm_queue_open needs (strings borrowed for the call only). */
struct dm_queue_opts {
    /* "pg" | "servicebus" (QUEUE_BACKEND); NULL: servicebus when any connection string below
     * is set, else pg. */
    const char *backend;
    const char *namespace_cs;         /* AZURE_SERVICE_BUS_CONNECTION_STRING, or NULL */
    const char *queue_cs[DM_Q_COUNT]; /* per-queue strings in enum order, each NULL or set */
    int64_t work_items_lock_ms;       /* pg only (WORK_ITEMS_LOCK_MS, tests): > 0 replaces the
                                       * work-items peek-lock; 0 keeps the seed's */
};

/* Open the backend the options choose: Service Bus (see dm_queue_open_servicebus_scoped), or
 * PostgreSQL over db (which must outlive the queue), whose LISTEN connection uses the pool's
 * conninfo. DM_ERR_INVALID for an unknown backend or a missing db. */
enum dm_err dm_queue_open(const struct dm_queue_opts *opts, struct dm_db *db, struct dm_queue **out,
                          struct dm_error *err) DM_MUST_CHECK;
/* Open a backend explicitly, with per-queue settings (an array of DM_Q_COUNT entries in enum
 * order, copied; NULL = the seed's defaults). Production code uses dm_queue_open; tests use
 * these to shorten locks, windows and TTLs.
 * PostgreSQL: db must outlive the queue; conninfo (may be NULL: polling only) is used for one
 * dedicated LISTEN connection, opened lazily by the first receive that waits.
 * Service Bus: see queue_servicebus.c for the connection string keys. */
enum dm_err dm_queue_open_pg(struct dm_db *db, const char *conninfo,
                             const struct dm_queue_settings *settings, struct dm_queue **out,
                             struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_queue_open_servicebus(const char *connection_string,
                                     const struct dm_queue_settings *settings,
                                     struct dm_queue **out, struct dm_error *err) DM_MUST_CHECK;
/* Service Bus with a credential per queue: queue_cs (NULL, or DM_Q_COUNT entries in enum
 * order, each NULL or a connection string whose EntityPath, if any, names that queue) wins over
 * namespace_cs (may be NULL) for its queue. At least one string must be given; a queue with
 * none answers DM_ERR_AUTH (servicebus.h). */
enum dm_err dm_queue_open_servicebus_scoped(const char *namespace_cs, const char *const *queue_cs,
                                            const struct dm_queue_settings *settings,
                                            struct dm_queue **out,
                                            struct dm_error *err) DM_MUST_CHECK;
/* The settings in force for one queue of this handle. */
const struct dm_queue_settings *dm_queue_handle_settings(const struct dm_queue *q,
                                                         enum dm_queue_name name);
void dm_queue_free(struct dm_queue *q);
const char *dm_queue_backend_name(const struct dm_queue *q); /* "pg" | "servicebus" */

/* Largest message body accepted by dm_queue_send (Service Bus Standard tier limit). */
#define DM_QUEUE_MAX_BODY (256 * 1024 - 1024)
/* Longest message id (Service Bus limit); ids are printable ASCII. */
#define DM_QUEUE_MAX_ID 128
/* Dead-letter reasons are cut to this length and non-printable bytes become '?'. */
#define DM_QUEUE_MAX_REASON 1024

/* Send one message. A duplicate id inside the window is accepted and dropped (DM_OK). */
enum dm_err dm_queue_send(struct dm_queue *q, enum dm_queue_name name,
                          const struct dm_queue_out *msg, struct dm_error *err) DM_MUST_CHECK;
/* Send n messages; never drops any (batches internally; all-or-error). The whole array is
 * validated first. pg: one transaction. Service Bus: batches in order, each retried on
 * throttling; an error after the retries leaves the earlier batches sent (at-least-once). */
enum dm_err dm_queue_send_many(struct dm_queue *q, enum dm_queue_name name,
                               const struct dm_queue_out *msgs, int n,
                               struct dm_error *err) DM_MUST_CHECK;
/* Receive with peek-lock, waiting up to wait_ms for a message. *out is NULL when none
 * arrived (DM_OK). Messages past max delivery or TTL are dead-lettered, never returned. */
enum dm_err dm_queue_receive(struct dm_queue *q, enum dm_queue_name name, int wait_ms,
                             struct dm_queue_msg **out, struct dm_error *err) DM_MUST_CHECK;
/* Settle. DM_ERR_LOCK_LOST when the lock expired (the message may be redelivered). */
enum dm_err dm_queue_complete(struct dm_queue *q, struct dm_queue_msg *m,
                              struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_queue_abandon(struct dm_queue *q, struct dm_queue_msg *m,
                             struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_queue_dead_letter(struct dm_queue *q, struct dm_queue_msg *m, const char *reason,
                                 struct dm_error *err) DM_MUST_CHECK;
/* Extend the lock by the queue's lock duration from now. */
enum dm_err dm_queue_renew(struct dm_queue *q, struct dm_queue_msg *m,
                           struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_queue_stats(struct dm_queue *q, enum dm_queue_name name, struct dm_queue_stats *out,
                           struct dm_error *err) DM_MUST_CHECK;
/* List up to max dead-lettered messages (oldest first); *out is an array of *n messages,
 * released with dm_queue_msgs_free. */
enum dm_err dm_queue_dlq_list(struct dm_queue *q, enum dm_queue_name name, int max,
                              struct dm_queue_msg ***out, int *n,
                              struct dm_error *err) DM_MUST_CHECK;
/* Move a dead-lettered message (by id; NULL = all) back to the active queue with a fresh
 * delivery count. *count receives how many moved. */
enum dm_err dm_queue_dlq_resubmit(struct dm_queue *q, enum dm_queue_name name, const char *id,
                                  int *count, struct dm_error *err) DM_MUST_CHECK;

void dm_queue_msg_free(struct dm_queue_msg *m);
void dm_queue_msgs_free(struct dm_queue_msg **ms, int n);

#endif
