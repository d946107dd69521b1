#!/usr/bin/env bash
# ingest_incremental.sh - after a full run and a watermark at its window end, the simulator
# churns 5 % of the stones; an incremental run fixes its window at [watermark - 15 min, now],
# plans at most 10 partitions and fetches only the stones updated inside that window; rows
# outside it keep their last_seen_run_id.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"

new_db ingest_incr
start_sim --count 20000 --seed 21
start_worker w WORKER_CONCURRENCY=6
"$DIAMOND" scheduler --full >/dev/null
run1=$(latest_run)
wait_run_terminal "$run1" 180
full=$(psql_q "SELECT sum(records) FROM partition_progress WHERE run_id = '$run1'")
# What the consolidator would write after a good run: the run's window end.
to1=$(psql_q "SELECT to_char(updated_to AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM run_metadata WHERE run_id = '$run1'")
mkdir -p "$WATERMARK_DIR"
echo "{\"lastUpdatedAt\":\"$to1\",\"lastRunId\":\"$run1\",\"lastRunCompletedAt\":\"$to1\"}" >"$WATERMARK_DIR/watermark.json"

curl -fsS -X POST -H 'Content-Type: application/json' -d '{"percent":5}' "$SIM/admin/churn" >"$T/churn.json"
touched=$(jq '.changed + .added' "$T/churn.json")
check "churn touched about 5 % of the stones" test "$touched" -gt 500 -a "$touched" -lt 3000
searches_before=$(sim_stat '.operations.diamonds_by_query')

"$DIAMOND" scheduler --incremental --force >"$T/sched2.out"
check "incremental summary line" grep -q "type=incremental" "$T/sched2.out"
run2=$(latest_run)
wait_run_terminal "$run2" 180
check_eq "run type" incremental "$(psql_q "SELECT run_type FROM run_metadata WHERE run_id = '$run2'")"
check_eq "window starts 15 min before the watermark" 900 "$(psql_q "SELECT extract(epoch FROM (SELECT updated_to FROM run_metadata WHERE run_id = '$run1') - updated_from)::int FROM run_metadata WHERE run_id = '$run2'")"
check_eq "watermark_before recorded" t "$(psql_q "SELECT watermark_before = (SELECT updated_to FROM run_metadata WHERE run_id = '$run1') FROM run_metadata WHERE run_id = '$run2'")"
check "at most 10 partitions" [ "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run2'")" -le 10 ]
inc=$(psql_q "SELECT sum(records) FROM partition_progress WHERE run_id = '$run2'")
check_eq "every partition completed" 0 "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run2' AND NOT completed")"
check_eq "records = stones counted in the window" "$(estimated_records "$run2")" "$inc"
check "only the churned stones were fetched (not the catalogue)" test "$inc" -gt 0 -a "$inc" -le "$touched" -a "$inc" -lt $((full / 5))
check_eq "feed pages: only the window's" "$(expected_pages "$run2")" "$(( $(sim_stat '.operations.diamonds_by_query') - searches_before ))"
check_eq "rows seen by the incremental run = its records" "$inc" "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE last_seen_run_id = '$run2'")"
changed=$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE run_id = '$run2'")
check "changed payloads were rewritten and marked pending" test "$changed" -gt 0 -a "$changed" -le "$inc"
check_eq "rewritten rows are pending" 0 "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE run_id = '$run2' AND consolidation_status <> 'pending'")"
check_eq "rows outside the window keep the full run's stamp" "$(( $(psql_q 'SELECT count(*) FROM raw_diamonds_nivoda') - inc ))" "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE last_seen_run_id = '$run1'")"
check "partition bounds exact" partition_coverage_ok "$run2"
finish
