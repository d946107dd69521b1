-- 005_api: API request accounting (for `diamond check`: API 5xx > 1 %) and the indexes the
-- API's routes need beyond those of 001.

-- Per-minute request counts by status class, flushed by every API process every few seconds.
CREATE TABLE api_request_stats (
    minute       timestamptz NOT NULL,
    status_class text NOT NULL CHECK (status_class IN ('2xx', '3xx', '4xx', '5xx')),
    count        bigint NOT NULL DEFAULT 0 CHECK (count >= 0),
    PRIMARY KEY (minute, status_class)
);

-- Searches filtered by shape and sorted by price: the included columns let the search's inner
-- id query filter on carats / colour / clarity / lab-grown / availability with an index-only
-- scan (rows the filters skip cost no heap fetch: ~0.5 ms instead of ~90 ms at 500,000 rows).
CREATE INDEX diamonds_active_shape_price_idx ON diamonds (shape, retail_price, id)
    INCLUDE (carats, color, clarity, lab_grown, availability) WHERE status = 'active';
CREATE INDEX diamonds_active_feed_idx ON diamonds (feed) WHERE status = 'active';

-- Trading history per caller, newest first.
CREATE INDEX hold_history_client_idx ON hold_history (client, created_at DESC);
CREATE INDEX purchase_history_client_idx ON purchase_history (client, created_at DESC);

-- Analytics: runs by type and start, failed workers by time, run events by time.
CREATE INDEX run_metadata_type_started_idx ON run_metadata (run_type, started_at DESC);
CREATE INDEX worker_runs_failed_time_idx ON worker_runs (completed_at DESC) WHERE status = 'failed';
CREATE INDEX raw_diamonds_nivoda_run_status_idx ON raw_diamonds_nivoda (run_id, consolidation_status);
