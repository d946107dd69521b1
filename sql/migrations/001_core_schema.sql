-- 001_core_schema: the seven tables of the seed plus the history, replay and run-event tables.
-- Money is numeric(12,2) in US dollars; all ids are UUIDs; all times timestamptz.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE run_metadata (
    run_id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    run_type                 text NOT NULL CHECK (run_type IN ('full', 'incremental')),
    trace_id                 uuid NOT NULL DEFAULT gen_random_uuid(),
    feed                     text NOT NULL DEFAULT 'nivoda',
    updated_from             timestamptz NOT NULL,
    updated_to               timestamptz NOT NULL,
    expected_workers         integer NOT NULL CHECK (expected_workers >= 0),
    estimated_records        bigint NOT NULL DEFAULT 0,
    capped                   boolean NOT NULL DEFAULT false,
    count_queries            integer NOT NULL DEFAULT 0,
    watermark_before         timestamptz,
    watermark_after          timestamptz,
    started_at               timestamptz NOT NULL DEFAULT now(),
    consolidate_sent_at      timestamptz,
    consolidation_started_at timestamptz,
    consolidation_completed_at timestamptz,
    completed_at             timestamptz,
    cancelled_at             timestamptz,
    skipped_at               timestamptz,
    stats_processed          bigint NOT NULL DEFAULT 0,
    stats_new                bigint NOT NULL DEFAULT 0,
    stats_changed            bigint NOT NULL DEFAULT 0,
    stats_unchanged          bigint NOT NULL DEFAULT 0,
    stats_removed            bigint NOT NULL DEFAULT 0,
    stats_failed             bigint NOT NULL DEFAULT 0,
    consolidation_duration_ms bigint,
    last_error               text,
    CHECK (updated_from <= updated_to)
);
CREATE INDEX run_metadata_started_idx ON run_metadata (started_at DESC);

CREATE TABLE partition_progress (
    run_id            uuid NOT NULL REFERENCES run_metadata (run_id) ON DELETE CASCADE,
    partition_id      text NOT NULL,
    min_price         bigint NOT NULL CHECK (min_price >= 0),
    max_price         bigint NOT NULL,
    estimated_records bigint NOT NULL CHECK (estimated_records >= 0),
    next_offset       bigint NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    records           bigint NOT NULL DEFAULT 0 CHECK (records >= 0),
    completed         boolean NOT NULL DEFAULT false,
    failed            boolean NOT NULL DEFAULT false,
    cancelled         boolean NOT NULL DEFAULT false,
    attempts          integer NOT NULL DEFAULT 0,
    last_error        text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, partition_id),
    CHECK (min_price <= max_price)
);

CREATE TABLE worker_runs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    run_id            uuid NOT NULL REFERENCES run_metadata (run_id) ON DELETE CASCADE,
    partition_id      text NOT NULL,
    worker_id         text,
    status            text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    records_processed bigint NOT NULL DEFAULT 0,
    error_message     text,
    work_item_payload jsonb,
    started_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    UNIQUE (run_id, partition_id)
);
CREATE INDEX worker_runs_failed_idx ON worker_runs (run_id) WHERE status = 'failed';

CREATE TABLE run_events (
    id           bigserial PRIMARY KEY,
    run_id       uuid NOT NULL REFERENCES run_metadata (run_id) ON DELETE CASCADE,
    partition_id text,
    event        text NOT NULL,
    detail       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_events_run_idx ON run_events (run_id, id);

CREATE TABLE raw_diamonds_nivoda (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    supplier_stone_id    text NOT NULL UNIQUE,
    offer_id             text NOT NULL,
    payload              json NOT NULL,
    payload_hash         char(64) NOT NULL,
    run_id               uuid NOT NULL,
    last_seen_run_id     uuid NOT NULL,
    consolidation_status text NOT NULL DEFAULT 'pending'
        CHECK (consolidation_status IN ('pending', 'processing', 'done', 'failed')),
    claim_token          uuid,
    claimed_at           timestamptz,
    consolidation_error  text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX raw_diamonds_nivoda_run_idx ON raw_diamonds_nivoda (run_id);
CREATE INDEX raw_diamonds_nivoda_last_seen_idx ON raw_diamonds_nivoda (last_seen_run_id);
-- Serves the consolidator's claim query: pending rows, and processing rows whose claim expired.
CREATE INDEX raw_diamonds_nivoda_claim_idx ON raw_diamonds_nivoda (consolidation_status, claimed_at)
    WHERE consolidation_status IN ('pending', 'processing');

CREATE TABLE diamonds (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    feed                text NOT NULL DEFAULT 'nivoda',
    supplier_stone_id   text NOT NULL,
    offer_id            text NOT NULL,
    shape               text NOT NULL,
    carats              numeric(6,2) NOT NULL CHECK (carats > 0),
    color               text NOT NULL,
    clarity             text NOT NULL,
    cut                 text,
    polish              text,
    symmetry            text,
    fluorescence        text,
    lab_grown           boolean NOT NULL DEFAULT false,
    treated             boolean NOT NULL DEFAULT false,
    feed_price          numeric(12,2) NOT NULL CHECK (feed_price >= 0),
    price_per_carat     numeric(12,2) NOT NULL,
    retail_price        numeric(12,2) NOT NULL CHECK (retail_price >= 0),
    markup_ratio        numeric(6,4) NOT NULL CHECK (markup_ratio > 0),
    rating              smallint CHECK (rating BETWEEN 1 AND 10),
    pricing_rule_id     uuid,
    availability        text NOT NULL CHECK (availability IN ('available', 'on_hold', 'sold', 'unavailable')),
    raw_availability    text,
    hold_id             text,
    image_url           text,
    video_url           text,
    certificate_lab     text,
    certificate_number  text,
    certificate_pdf_url text,
    measurements        jsonb,
    attributes          jsonb,
    supplier_name       text,
    supplier_legal_name text,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deleted')),
    deleted_at          timestamptz,
    content_hash        char(64) NOT NULL,
    last_run_id         uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (feed, supplier_stone_id)
);
-- Grade order for colour and clarity sorts (D best .. Z; FL best .. I3).
CREATE FUNCTION dm_color_rank(c text) RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(array_position(ARRAY['D','E','F','G','H','I','J','K','L','M','N','O','P','Q','R',
        'S','T','U','V','W','X','Y','Z'], upper(c)), 99)::smallint $$;
CREATE FUNCTION dm_clarity_rank(c text) RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(array_position(ARRAY['FL','IF','VVS1','VVS2','VS1','VS2','SI1','SI2','SI3',
        'I1','I2','I3'], upper(c)), 99)::smallint $$;
CREATE INDEX diamonds_active_created_idx ON diamonds (created_at DESC, id DESC) WHERE status = 'active';
CREATE INDEX diamonds_active_retail_idx ON diamonds (retail_price, id) WHERE status = 'active';
CREATE INDEX diamonds_active_feed_price_idx ON diamonds (feed_price, id) WHERE status = 'active';
CREATE INDEX diamonds_active_carats_idx ON diamonds (carats, id) WHERE status = 'active';
CREATE INDEX diamonds_active_color_idx ON diamonds (dm_color_rank(color), id) WHERE status = 'active';
CREATE INDEX diamonds_active_clarity_idx ON diamonds (dm_clarity_rank(clarity), id) WHERE status = 'active';
CREATE INDEX diamonds_active_shape_idx ON diamonds (shape, carats) WHERE status = 'active';
CREATE INDEX diamonds_active_availability_idx ON diamonds (availability) WHERE status = 'active';
CREATE INDEX diamonds_active_lab_idx ON diamonds (lab_grown, retail_price) WHERE status = 'active';

CREATE TABLE pricing_rules (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text,
    priority     integer NOT NULL,
    carat_min    numeric(6,2),
    carat_max    numeric(6,2),
    shapes       text[] NOT NULL DEFAULT '{}',
    lab_grown    boolean,
    feed         text,
    price_min    numeric(12,2),
    price_max    numeric(12,2),
    markup_ratio numeric(6,4) NOT NULL CHECK (markup_ratio > 0),
    rating       smallint CHECK (rating BETWEEN 1 AND 10),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (carat_min IS NULL OR carat_max IS NULL OR carat_min <= carat_max),
    CHECK (price_min IS NULL OR price_max IS NULL OR price_min <= price_max)
);
CREATE INDEX pricing_rules_active_idx ON pricing_rules (priority, id) WHERE active;
INSERT INTO pricing_rules (name, priority, markup_ratio, rating)
    VALUES ('Default markup', 1000, 1.15, 5);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key_hash     char(64) NOT NULL UNIQUE,
    client_name  text NOT NULL,
    permissions  text[] NOT NULL DEFAULT '{}'
        CHECK (permissions <@ ARRAY['read', 'trade', 'admin']::text[]),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz
);

CREATE TABLE hold_history (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    diamond_id    uuid NOT NULL REFERENCES diamonds (id),
    client        text NOT NULL,
    offer_id      text NOT NULL,
    supplier_hold_id text,
    denied        boolean NOT NULL DEFAULT false,
    hold_until    timestamptz,
    status        text NOT NULL CHECK (status IN ('placed', 'denied', 'failed')),
    error_message text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hold_history_diamond_idx ON hold_history (diamond_id);

CREATE TABLE purchase_history (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key   text NOT NULL UNIQUE,
    client            text NOT NULL,
    diamond_id        uuid NOT NULL REFERENCES diamonds (id),
    request_hash      char(64) NOT NULL,
    status            text NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    supplier_order_id text,
    supplier_status   text,
    response          jsonb,
    error_message     text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purchase_history_diamond_idx ON purchase_history (diamond_id);

CREATE TABLE hmac_replay (
    signature  char(64) PRIMARY KEY,
    client_id  text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX hmac_replay_expires_idx ON hmac_replay (expires_at);

-- Manual trigger requests from the API for the resident (local) scheduler.
CREATE TABLE scheduler_requests (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    run_type     text NOT NULL CHECK (run_type IN ('full', 'incremental')),
    requested_by text,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    run_id       uuid,
    message      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
