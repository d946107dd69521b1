-- 011_file_snapshots: a file feed's last good snapshot (issue 18), one row per file feed,
-- written by the worker in the statement that completes the snapshot's partition
-- (src/store/snapshots.c). It serves two things:
-- * conditional GET: the file's validators (ETag, Last-Modified) as last read, sent with the
--   next run's request so an unchanged file costs one request (304); run_id is the run whose
--   raw rows carry last_seen_run_id for every stone of that snapshot;
-- * the shrink guard: a snapshot with fewer than (1 - FEED_<ID>_MAX_SHRINK) x rows stones is
--   refused (the run fails, the catalogue is left alone).
-- A refused, truncated or failed snapshot never writes this row.
CREATE TABLE file_snapshots (
    feed          text PRIMARY KEY,
    run_id        uuid NOT NULL,
    etag          text NOT NULL DEFAULT '',
    last_modified text NOT NULL DEFAULT '',
    rows          bigint NOT NULL CHECK (rows >= 0),   -- stones stored (distinct stock ids)
    bad_rows      bigint NOT NULL DEFAULT 0 CHECK (bad_rows >= 0),
    not_carried   bigint NOT NULL DEFAULT 0 CHECK (not_carried >= 0),
    lines         bigint NOT NULL DEFAULT 0 CHECK (lines >= 0),
    bytes         bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    not_modified  boolean NOT NULL DEFAULT false,      -- the last run's read answered 304
    read_at       timestamptz NOT NULL DEFAULT now()
);
