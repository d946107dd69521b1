#!/usr/bin/env bash
# ingest_edges.sh - MAX_SCHEDULER_RECORDS caps a run (exactly the cap, no page past it);
# short pages mid-stream and duplicates inside a page; malformed work items dead-lettered with
# a reason; `diamond run cancel`; manual trigger requests (`scheduler --request ID`).
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"

start_sim --count 20000 --seed 4

# --- cap --------------------------------------------------------------------------------------
new_db ingest_cap
start_worker wcap WORKER_CONCURRENCY=4
before=$(sim_stat '.operations.diamonds_by_query')
MAX_SCHEDULER_RECORDS=5000 "$DIAMOND" scheduler --full >"$T/cap.out"
run=$(latest_run)
check "cap: summary says capped" grep -q "estimated=5000 capped" "$T/cap.out"
check_eq "cap: run marked capped" t "$(psql_q "SELECT capped FROM run_metadata WHERE run_id = '$run'")"
wait_run_terminal "$run" 120
check_eq "cap: exactly the cap fetched" 5000 "$(psql_q 'SELECT count(*) FROM raw_diamonds_nivoda')"
check_eq "cap: records" 5000 "$(psql_q "SELECT sum(records) FROM partition_progress WHERE run_id = '$run'")"
check_eq "cap: every partition completed at its estimate" 0 "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run' AND (NOT completed OR next_offset <> estimated_records)")"
check_eq "cap: no page past the cap" "$(psql_q "SELECT sum(ceil(records / 50.0))::bigint FROM partition_progress WHERE run_id = '$run'")" "$(( $(sim_stat '.operations.diamonds_by_query') - before ))"
check_eq "cap: one CONSOLIDATE" 1 "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'")"
kill -TERM "$PID_wcap"; wait "$PID_wcap" || true

# --- short pages and in-page duplicates -------------------------------------------------------
new_db ingest_short
sim_faults '{"reset":true,"short_pages":0.3,"duplicate_rate":0.5}'
start_worker wshort WORKER_CONCURRENCY=4
run=$(full_run)
wait_run_terminal "$run" 180
expected=$(estimated_records "$run")
check "short pages were served" [ "$(sim_stat .faults.short_page)" -gt 0 ]
check "duplicates were served" [ "$(sim_stat .faults.duplicate)" -gt 0 ]
check_ingested "short/dups (duplicates counted once): " "$run" "$expected"
sim_faults '{"reset":true}'

# --- malformed work items ---------------------------------------------------------------------
inject_work_item bad-json 'this is not json'
inject_work_item bad-fields '{"type":"WORK_ITEM","runId":"not-a-uuid"}'
inject_work_item bad-run '{"type":"WORK_ITEM","runId":"00000000-0000-4000-8000-000000000000","traceId":"00000000-0000-4000-8000-000000000001","partitionId":"p01","minPrice":0,"maxPrice":10,"estimatedRecords":5,"offset":0,"limit":50,"updatedFrom":"2000-01-01T00:00:00Z","updatedTo":"2026-01-01T00:00:00Z","attempt":0}'
wait_until 30 sql_is 3 "SELECT count(*) FROM queue_dead_letters WHERE queue = 'work-items'"
check_eq "malformed items dead-lettered at once" 3 "$(psql_q "SELECT count(*) FROM queue_dead_letters WHERE queue = 'work-items' AND delivery_count = 1")"
check "reason names the problem (json)" test -n "$(psql_q "SELECT reason FROM queue_dead_letters WHERE message_id = 'bad-json' AND reason LIKE 'invalid WORK_ITEM:%'")"
check "reason names the field" test -n "$(psql_q "SELECT reason FROM queue_dead_letters WHERE message_id = 'bad-fields' AND reason LIKE 'invalid WORK_ITEM:%' AND (reason LIKE '%runId%' OR reason LIKE '%traceId%')")"
check "unknown run dead-lettered with a reason" test -n "$(psql_q "SELECT reason FROM queue_dead_letters WHERE message_id = 'bad-run' AND reason LIKE 'unknown run%'")"
check "the worker survived" kill -0 "$PID_wshort"
kill -TERM "$PID_wshort"; wait "$PID_wshort" || true

# --- cancel -----------------------------------------------------------------------------------
new_db ingest_cancel
run=$(full_run)
"$DIAMOND" run cancel "$run" >"$T/cancel.out"
check "cancel reports" grep -q "cancelled" "$T/cancel.out"
start_worker wcancel WORKER_CONCURRENCY=4
wait_until 60 sql_is 0 "SELECT count(*) FROM queue_messages WHERE queue = 'work-items'"
check_eq "cancel: nothing fetched" 0 "$(psql_q 'SELECT count(*) FROM raw_diamonds_nivoda')"
check_eq "cancel: every partition failed+cancelled" 0 "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run' AND NOT (failed AND cancelled)")"
check_eq "cancel: run cancelled_at set" t "$(psql_q "SELECT cancelled_at IS NOT NULL FROM run_metadata WHERE run_id = '$run'")"
check_eq "cancel: no CONSOLIDATE" 0 "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'")"
check_eq "cancel: worker_runs failed" 0 "$(psql_q "SELECT count(*) FROM worker_runs WHERE run_id = '$run' AND status <> 'failed'")"
check_eq "cancel: run_cancelled event" 1 "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$run' AND event = 'run_cancelled'")"
check "cancel: retry refuses a cancelled run" bash -c "! '$DIAMOND' retry '$run' >/dev/null 2>&1"
check "cancel: a cancelled run does not block a new one" bash -c "'$DIAMOND' scheduler --full | grep -q '^run '"
kill -TERM "$PID_wcancel"; wait "$PID_wcancel" || true

# --- manual trigger requests ------------------------------------------------------------------
new_db ingest_requests
req=$(psql_q "INSERT INTO scheduler_requests (run_type, requested_by) VALUES ('full', 'test') RETURNING id")
"$DIAMOND" scheduler --request "$req" >"$T/req.out"
check_eq "request done" done "$(psql_q "SELECT status FROM scheduler_requests WHERE id = '$req'")"
run=$(psql_q "SELECT run_id FROM scheduler_requests WHERE id = '$req'")
check_eq "request points at its run" full "$(psql_q "SELECT run_type FROM run_metadata WHERE run_id = '$run'")"
req2=$(psql_q "INSERT INTO scheduler_requests (run_type, requested_by) VALUES ('incremental', 'test') RETURNING id")
spawn sched "$DIAMOND" scheduler --cron "0 0 1 1 *"
wait_until 30 sql_is failed "SELECT status FROM scheduler_requests WHERE id = '$req2'"
check "a request during a run fails with the reason" test -n "$(psql_q "SELECT message FROM scheduler_requests WHERE id = '$req2' AND message LIKE '%still%'")"
check "an unknown request exits non-zero" bash -c "! '$DIAMOND' scheduler --request 00000000-0000-4000-8000-0000000000ff >/dev/null 2>&1"
# An Azure job execution started by the API names its request in SCHEDULER_REQUEST_ID.
new_db ingest_requests_env
req3=$(psql_q "INSERT INTO scheduler_requests (run_type, requested_by) VALUES ('full', 'test') RETURNING id")
env SCHEDULER_REQUEST_ID="$req3" RUN_TYPE=full "$DIAMOND" scheduler >"$T/req3.out"
check_eq "SCHEDULER_REQUEST_ID: the request is done" done \
    "$(psql_q "SELECT status FROM scheduler_requests WHERE id = '$req3'")"
check_eq "SCHEDULER_REQUEST_ID: it points at its run" full \
    "$(psql_q "SELECT r.run_type FROM scheduler_requests q JOIN run_metadata r USING (run_id) WHERE q.id = '$req3'")"
rc=0; SCHEDULER_REQUEST_ID=not-a-uuid "$DIAMOND" scheduler >/dev/null 2>"$T/req4.err" || rc=$?
check_eq "SCHEDULER_REQUEST_ID that is not a UUID: exit 2" 2 "$rc"
check "... naming the variable" grep -q SCHEDULER_REQUEST_ID "$T/req4.err"
finish
