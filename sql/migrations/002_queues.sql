-- 002_queues: the PostgreSQL queue backend (src/adapters/queue/queue_pg.c).
-- A message is receivable when visible_at <= now(): visible_at is the scheduled enqueue time,
-- then the lock expiry while a consumer holds the peek-lock (lock_token). Receivers take the
-- earliest visible message (visible_at, seq) with FOR UPDATE SKIP LOCKED. Bodies are bytes
-- (bytea): the queue never interprets them.

CREATE TABLE queue_messages (
    seq            bigserial PRIMARY KEY,
    queue          text NOT NULL,
    message_id     text NOT NULL,
    body           bytea NOT NULL,
    enqueued_at    timestamptz NOT NULL DEFAULT now(),
    visible_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    delivery_count integer NOT NULL DEFAULT 0 CHECK (delivery_count >= 0),
    lock_token     uuid
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.05,
        fillfactor = 80);
-- Receive: one index range scan on (queue, visible_at <= now()) in delivery order.
CREATE INDEX queue_messages_ready_idx ON queue_messages (queue, visible_at, seq);

-- Dead-lettered messages keep their original sequence number and delivery count.
CREATE TABLE queue_dead_letters (
    seq               bigint PRIMARY KEY,
    queue             text NOT NULL,
    message_id        text NOT NULL,
    body              bytea NOT NULL,
    enqueued_at       timestamptz NOT NULL,
    delivery_count    integer NOT NULL,
    reason            text NOT NULL,
    dead_lettered_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX queue_dead_letters_queue_idx ON queue_dead_letters (queue, seq);
CREATE INDEX queue_dead_letters_id_idx ON queue_dead_letters (queue, message_id);

-- Duplicate detection: one record per (queue, message id) until expires_at, independent of the
-- message's own life, so a duplicate sent after the original was completed is still dropped.
CREATE TABLE queue_dedup (
    queue      text NOT NULL,
    message_id text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (queue, message_id)
);
CREATE INDEX queue_dedup_expires_idx ON queue_dedup (expires_at);
