-- 010_feeds: several feeds (issue 18). Runs already carry their feed (run_metadata.feed,
-- default 'nivoda'); a manual trigger request now does too, and "the newest runs of feed X"
-- (a run in progress per feed, the dashboard's feed filter) is an index range.
-- The raw table of a feed other than nivoda, raw_diamonds_<id>, is not a migration: feeds are
-- configuration (FEEDS), so `diamond migrate` and the pipeline services at start-up create
-- each configured feed's table like raw_diamonds_nivoda (adapters/db/migrate.c).
ALTER TABLE scheduler_requests ADD COLUMN feed text NOT NULL DEFAULT 'nivoda';
CREATE INDEX run_metadata_feed_started_idx ON run_metadata (feed, started_at DESC);
