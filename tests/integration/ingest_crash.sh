#!/usr/bin/env bash
# ingest_crash.sh - a worker killed with SIGKILL in mid-run and a continuation deliberately
# lost: the run still completes with exact counts, through redelivery (locks expire), the
# worker's lost-continuation repair and the resident scheduler's sweeper. Also: SIGTERM stops
# a worker gracefully (exit 0).
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"

new_db ingest_crash
start_sim --count 20000 --seed 3 --latency-ms 8
start_worker w1 WORKER_CONCURRENCY=4
run=$(full_run)
expected=$(estimated_records "$run")
wait_until 120 sql_ge 4000 "SELECT COALESCE(sum(records),0) FROM partition_progress WHERE run_id = '$run'"
kill -KILL "$PID_w1"
wait "$PID_w1" 2>/dev/null || true
# Lose one continuation that is waiting in the queue (as if its send had never happened).
lost=$(psql_q "DELETE FROM queue_messages WHERE seq = (SELECT seq FROM queue_messages WHERE queue = 'work-items' AND lock_token IS NULL AND message_id NOT LIKE '%:0' ORDER BY seq LIMIT 1) RETURNING message_id")
check "a continuation was removed from the queue" [ -n "$lost" ]
lost_pid=$(echo "$lost" | cut -d: -f2)
check_eq "the run is not finished yet" f "$(psql_q "SELECT bool_and(completed) FROM partition_progress WHERE run_id = '$run'")"

start_worker w2 WORKER_CONCURRENCY=4 LOG_LEVEL=info
spawn sched "$DIAMOND" scheduler --cron "0 0 1 1 *" --sweep-interval-ms 500
wait_run_terminal "$run" 240
wait_until 30 sql_is 1 "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'"
check_ingested "" "$run" "$expected"
check_eq "exactly one CONSOLIDATE" 1 "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'")"
check_eq "the lost partition was repaired by the sweeper" 1 "$(psql_q "SELECT count(*) > 0 FROM run_events WHERE run_id = '$run' AND partition_id = '$lost_pid' AND event = 'continuation_repaired' AND detail->>'by' = 'sweeper'" | sed 's/t/1/;s/f/0/')"
check_eq "no dead letters" 0 "$(psql_q "SELECT count(*) FROM queue_dead_letters")"
kill -TERM "$PID_w2"
if wait "$PID_w2"; then rc=0; else rc=$?; fi
check_eq "SIGTERM: worker exits 0" 0 "$rc"
check "SIGTERM: worker logged its stop" grep -q "worker stopped" "$T/w2.log"
kill -TERM "$PID_sched"
if wait "$PID_sched"; then rc=0; else rc=$?; fi
check_eq "SIGTERM: resident scheduler exits 0" 0 "$rc"
finish
