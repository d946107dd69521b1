-- 003_ingestion: worker page accounting (for `diamond check` and /metrics) and the indexes the
-- scheduler's sweeper and the worker's completion checks use.
-- Worker error rate = sum(page_errors) / (sum(pages) + sum(page_errors)) over partitions
-- updated in the last 24 h.

ALTER TABLE partition_progress
    ADD COLUMN pages bigint NOT NULL DEFAULT 0 CHECK (pages >= 0),
    ADD COLUMN page_errors bigint NOT NULL DEFAULT 0 CHECK (page_errors >= 0),
    ADD COLUMN last_error_at timestamptz;

-- The sweeper scans unfinished partitions by age of their last progress.
CREATE INDEX partition_progress_unfinished_idx ON partition_progress (updated_at)
    WHERE NOT completed AND NOT failed;
-- Error-rate window for monitoring.
CREATE INDEX partition_progress_updated_idx ON partition_progress (updated_at);

-- Manual trigger requests are polled by the resident scheduler, oldest first.
CREATE INDEX scheduler_requests_pending_idx ON scheduler_requests (created_at)
    WHERE status = 'pending';
