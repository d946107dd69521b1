-- 006_raw_ingest_perf: a cheaper raw write path for the worker (pipeline.md §3), measured with
-- bench/ingest.sh (CPU per stone of the worker's PostgreSQL backends).
--
-- raw_diamonds_nivoda_run_idx (run_id) is redundant: raw_diamonds_nivoda_run_status_idx
-- (run_id, consolidation_status, from 005) serves every lookup by run_id (the API's per-run raw
-- counts even index-only). One index fewer to maintain on every insert.
DROP INDEX IF EXISTS raw_diamonds_nivoda_run_idx;

-- raw_diamonds_nivoda_last_seen_idx (last_seen_run_id): no query uses it (EXPLAIN of the
-- consolidator's removal anti-join and reactivation join: a sequential scan, resp. the
-- run/status index), and it made every seen stone's update non-HOT: last_seen_run_id changes
-- on every stone of every run, so each unchanged stone cost a new tuple version plus an entry
-- in every index of the table. Without it the unchanged-hash path touches no indexed column.
DROP INDEX IF EXISTS raw_diamonds_nivoda_last_seen_idx;

-- Room for one more version of a row (~1.8 kB payloads: three rows per 8 kB page instead of
-- four) so the per-run last_seen_run_id update stays on its page (HOT: no index entries; the
-- previous version is pruned on a later visit). Applies to pages written from now on.
ALTER TABLE raw_diamonds_nivoda SET (fillfactor = 75);
