#!/usr/bin/env bash
# ingest_faults.sh - feed faults: 10 % HTTP 5xx -> the run still completes exactly; a partition
# whose pages always fail (fault limited to its price band) -> failed after 5 deliveries, the
# other partitions complete, no CONSOLIDATE, WORK_DONE failed and the alert line; after the
# fault is cleared, `diamond retry RUN` resumes it from its next_offset (attempt 1, ":r1" id)
# and the run then triggers consolidation exactly once.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"

# --- 10 % 5xx ------------------------------------------------------------------------------
new_db ingest_5xx
start_sim --count 8000 --seed 5 --error-rate 0.1
start_worker w5xx WORKER_CONCURRENCY=4
run=$(full_run)
wait_run_terminal "$run" 240
expected=$(estimated_records "$run")
check "5xx were injected" [ "$(sim_stat .faults.error)" -gt 0 ]
check_ingested "5xx: " "$run" "$expected"
check_eq "5xx: one CONSOLIDATE" 1 "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'")"
kill -TERM "$PID_w5xx"; wait "$PID_w5xx" || true
sim_faults '{"reset":true}'

# --- a partition that always fails ----------------------------------------------------------
new_db ingest_band
sim_faults '{"reset":true,"latency_ms":15}'
run=$(full_run)
expected=$(estimated_records "$run")
read -r bad_pid band < <(psql_q "SELECT partition_id || ' ' || min_price FROM partition_progress WHERE run_id = '$run' ORDER BY partition_id OFFSET 2 LIMIT 1" | tr '|' ' ')
start_worker wband WORKER_CONCURRENCY=1
# Let the partition make some progress first, so the retry must resume mid-partition.
wait_until 120 sql_ge 100 "SELECT next_offset FROM partition_progress WHERE run_id = '$run' AND partition_id = '$bad_pid'"
sim_faults "{\"latency_ms\":0,\"error_rate\":1.0,\"price_min\":$band,\"price_max\":$band}"
wait_run_terminal "$run" 300
check_eq "the faulty partition failed" t "$(psql_q "SELECT failed FROM partition_progress WHERE run_id = '$run' AND partition_id = '$bad_pid'")"
check_eq "after exactly 5 deliveries (page_errors)" 5 "$(psql_q "SELECT page_errors FROM partition_progress WHERE run_id = '$run' AND partition_id = '$bad_pid'")"
check_eq "the other partitions completed" 0 "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run' AND partition_id <> '$bad_pid' AND NOT completed")"
check_eq "no CONSOLIDATE" 0 "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'")"
check_eq "worker_runs shows the failure" failed "$(psql_q "SELECT status FROM worker_runs WHERE run_id = '$run' AND partition_id = '$bad_pid'")"
check "worker_runs keeps the error" [ -n "$(psql_q "SELECT error_message FROM worker_runs WHERE run_id = '$run' AND partition_id = '$bad_pid'")" ]
check_eq "WORK_DONE failed sent once" 1 "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'work-done' AND message_id = 'work-done:$run:$bad_pid:failed'")"
check_eq "partition_failed event" 1 "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$run' AND event = 'partition_failed'")"
wait_until 10 grep -q "Run finished with failed partitions" "$T/wband.log"
check "alert line: Run finished with failed partitions" grep -q "Run finished with failed partitions" "$T/wband.log"
check_eq "the failed message was settled, not dead-lettered" 0 "$(psql_q "SELECT count(*) FROM queue_dead_letters")"
resume=$(psql_q "SELECT next_offset FROM partition_progress WHERE run_id = '$run' AND partition_id = '$bad_pid'")
check "it had made progress before failing" [ "$resume" -ge 100 ]

# --- clear the fault, retry -----------------------------------------------------------------
sim_faults '{"reset":true}'
"$DIAMOND" retry "$run" >"$T/retry.out"
check "retry resumes from next_offset with attempt 1" grep -q "partition $bad_pid of run $run from offset $resume (attempt 1, message $run:$bad_pid:$resume:r1)" "$T/retry.out"
wait_run_terminal "$run" 120
wait_until 20 sql_is 1 "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'"
check_ingested "after retry: " "$run" "$expected"
check_eq "the run triggered consolidation once" 1 "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'")"
check_eq "worker_runs completed" completed "$(psql_q "SELECT status FROM worker_runs WHERE run_id = '$run' AND partition_id = '$bad_pid'")"
check_eq "partition_retried event" 1 "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$run' AND event = 'partition_retried'")"
check_eq "nothing left to retry" 0 "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run' AND failed")"
"$DIAMOND" retry "$run" >"$T/retry2.out"
check "a second retry finds nothing" grep -q "no failed partitions to retry" "$T/retry2.out"
finish
