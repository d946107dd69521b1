#!/usr/bin/env bash
# ingest_full.sh - a full run of 20,000 simulated stones end to end (scheduler + worker, real
# PostgreSQL, the simulator): exact raw rows, every partition completed, exactly one
# CONSOLIDATE, the feed served exactly the pages needed (no page fetched twice), partition
# bounds without overlap or gap; then a second full run with nothing changed rewrites no raw
# row and stamps every row with the new run; plus --dry-run, the empty window and an
# unreadable watermark.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"

new_db ingest_full
start_sim --count 20000 --seed 11

# --dry-run: the plan, no run.
"$DIAMOND" scheduler --full --dry-run >"$T/dry.out"
check "dry run prints the plan" grep -q "^dry-run type=full .*partitions=[0-9]* .*count_queries=[0-9]* largest=[0-9]* smallest=[0-9]*" "$T/dry.out"
check_eq "dry run creates no run" 0 "$(psql_q 'SELECT count(*) FROM run_metadata')"

start_worker worker WORKER_CONCURRENCY=6
"$DIAMOND" scheduler --full >"$T/sched1.out"
check "summary line" grep -Eq "^run [0-9a-f-]{36} type=full window=2000-01-01T00:00:00.000Z\.\..* partitions=[0-9]+ estimated=[0-9]+ count_queries=[0-9]+ largest=[0-9]+ smallest=[0-9]+ seconds=" "$T/sched1.out"
run1=$(latest_run)
wait_run_terminal "$run1" 180
expected=$(estimated_records "$run1")
served_items=$(sim_stat .items)
check "the window holds most of the 20,000 stones" [ "$expected" -gt 15000 ]
check_eq "raw rows = stones in the window" "$expected" "$(psql_q 'SELECT count(*) FROM raw_diamonds_nivoda')"
check_eq "records = stones in the window" "$expected" "$(psql_q "SELECT sum(records) FROM partition_progress WHERE run_id = '$run1'")"
check_eq "every partition completed" 0 "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run1' AND NOT completed")"
check_eq "partitions = expected_workers" "$(psql_q "SELECT expected_workers FROM run_metadata WHERE run_id = '$run1'")" "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run1'")"
check_eq "worker_runs all completed" 0 "$(psql_q "SELECT count(*) FROM worker_runs WHERE run_id = '$run1' AND status <> 'completed'")"
wait_until 20 sql_is 1 "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'"
check_eq "exactly one CONSOLIDATE sent" 1 "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'")"
check_eq "CONSOLIDATE names the run" "consolidate:$run1" "$(psql_q "SELECT message_id FROM queue_messages WHERE queue = 'consolidate'")"
check_eq "one WORK_DONE success per partition" "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run1'")" "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'work-done' AND convert_from(body, 'UTF8') LIKE '%\"status\":\"success\"%'")"
check_eq "feed search requests = pages needed" "$(expected_pages "$run1")" "$(sim_stat '.operations.diamonds_by_query')"
check_eq "pages recorded = pages needed" "$(expected_pages "$run1")" "$(psql_q "SELECT sum(pages) FROM partition_progress WHERE run_id = '$run1'")"
check_eq "items served = raw rows (no stone fetched twice)" "$expected" "$served_items"
check "partition bounds: no overlap, no gap" partition_coverage_ok "$run1"
check_eq "payload hash is SHA-256 of the payload" 0 "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE payload_hash <> encode(sha256(convert_to(payload::text, 'UTF8')), 'hex')")"
check_eq "offer_id = item id" 0 "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE offer_id <> payload->>'id'")"
check_eq "supplier_stone_id = diamond.id" 0 "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE supplier_stone_id <> payload->'diamond'->>'id'")"
check_eq "events: partition_completed per partition" "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run1'")" "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$run1' AND event = 'partition_completed'")"
check_eq "event: run_planned" 1 "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$run1' AND event = 'run_planned'")"

# One run at a time: the first is still "consolidating" (no consolidator here).
"$DIAMOND" scheduler --full >"$T/busy.out"
check "a second scheduler refuses while a run is in progress (exit 0)" grep -q "still .*use --force" "$T/busy.out"
check_eq "no second run" 1 "$(psql_q 'SELECT count(*) FROM run_metadata')"

# Second full run, nothing changed: no row rewritten, last_seen_run_id = the new run.
before=$(psql_q "SELECT md5(string_agg(supplier_stone_id || updated_at::text || run_id::text || payload_hash, ',' ORDER BY supplier_stone_id)) FROM raw_diamonds_nivoda")
"$DIAMOND" scheduler --full --force >"$T/sched2.out"
run2=$(latest_run)
check "second run is a new run" [ "$run2" != "$run1" ]
wait_run_terminal "$run2" 180
after=$(psql_q "SELECT md5(string_agg(supplier_stone_id || updated_at::text || run_id::text || payload_hash, ',' ORDER BY supplier_stone_id)) FROM raw_diamonds_nivoda")
check_eq "no raw row rewritten (updated_at, run_id, hash unchanged)" "$before" "$after"
check_eq "every row seen by the second run" 0 "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE last_seen_run_id <> '$run2'")"
check_eq "raw rows unchanged in number" "$expected" "$(psql_q 'SELECT count(*) FROM raw_diamonds_nivoda')"

# Empty window -> exit 0 without a run: a watermark ahead of the feed.
mkdir -p "$WATERMARK_DIR"
future=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%S.000Z)
echo "{\"lastUpdatedAt\":\"$future\",\"lastRunId\":\"$run2\",\"lastRunCompletedAt\":\"$future\"}" >"$WATERMARK_DIR/watermark.json"
runs_before=$(psql_q 'SELECT count(*) FROM run_metadata')
check "empty incremental window exits 0" "$DIAMOND" scheduler --incremental --force
check_eq "empty window creates no run" "$runs_before" "$(psql_q 'SELECT count(*) FROM run_metadata')"

# Unreadable watermark -> non-zero exit, no run.
echo '{"lastUpdatedAt": broken' >"$WATERMARK_DIR/watermark.json"
if "$DIAMOND" scheduler --force >"$T/bad.out" 2>&1; then rc=0; else rc=$?; fi
check "unreadable watermark exits non-zero" [ "$rc" != 0 ]
check_eq "unreadable watermark creates no run" "$runs_before" "$(psql_q 'SELECT count(*) FROM run_metadata')"
finish
