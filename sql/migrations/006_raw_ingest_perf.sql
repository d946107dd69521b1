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

-- Room on every page for a second version of each of its rows (~1.8 kB payloads: two rows per
-- 8 kB page instead of four), so the per-run last_seen_run_id update of unchanged stones stays
-- on its page (HOT: no index entries, WAL of the changed bytes only; the previous version is
-- pruned on the next visit). A page's rows arrive together and are updated together in one
-- transaction, so room for one update per page (fillfactor 75) made only ~35-46 % of them
-- HOT. Measured, three full runs of 88,651 stones: HOT updates 3 % (fillfactor 100), 46 % (75),
-- 100 % (50); table after three runs 508 MB, 479 MB, 346 MB (non-HOT versions bloat it until
-- vacuum, HOT ones are pruned in place); indexes 18, 16, 11 MB; PostgreSQL CPU per unchanged
-- stone about half of fillfactor 100's, no measurable difference on the first (insert) run.
-- Applies to pages written from now on.
ALTER TABLE raw_diamonds_nivoda SET (fillfactor = 50);
