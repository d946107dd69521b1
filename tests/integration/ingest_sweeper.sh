#!/usr/bin/env bash
# ingest_sweeper.sh - the resident scheduler's repairs and the worker's lock renewal:
# a run whose partitions make no progress is reported stalled (alert, once); a run whose
# partitions all completed without a CONSOLIDATE (worker died right after its final commit)
# gets it from the backstop, exactly once; a page slower than the peek-lock is not fetched
# twice because the worker renews the lock.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"

start_sim --count 3000 --seed 8

# --- stalled run + CONSOLIDATE backstop --------------------------------------------------------
new_db ingest_sweep
"$DIAMOND" scheduler --full >/dev/null
stalled=$(latest_run)
psql_q "DELETE FROM queue_messages WHERE queue = 'work-items'" >/dev/null # no worker will ever see them
# A second run whose partitions all completed but whose CONSOLIDATE was never sent.
"$DIAMOND" scheduler --full --force >/dev/null
done_run=$(latest_run)
psql_q "DELETE FROM queue_messages WHERE queue = 'work-items'" >/dev/null
psql_q "UPDATE partition_progress SET completed = true, next_offset = estimated_records, records = estimated_records WHERE run_id = '$done_run'" >/dev/null
spawn sched env LOG_LEVEL=info "$DIAMOND" scheduler --cron "0 0 1 1 *" --sweep-interval-ms 300 --stall-ms 1000
wait_until 30 grep -q "Run stalled" "$T/sched.log"
check "stalled run alerted" grep -q "Run stalled" "$T/sched.log"
wait_until 30 sql_is 1 "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'"
check_eq "backstop sent the missing CONSOLIDATE" "consolidate:$done_run" "$(psql_q "SELECT message_id FROM queue_messages WHERE queue = 'consolidate'")"
check_eq "consolidate_sent_at recorded" t "$(psql_q "SELECT consolidate_sent_at IS NOT NULL FROM run_metadata WHERE run_id = '$done_run'")"
# The stale partitions of the stalled run get their continuations re-sent (stale = 5 x lock).
wait_until 40 sql_ge 1 "SELECT count(*) FROM run_events WHERE run_id = '$stalled' AND event = 'continuation_repaired'"
check_eq "sweeper re-sent every stale partition" "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$stalled'")" "$(psql_q "SELECT count(DISTINCT partition_id) FROM run_events WHERE run_id = '$stalled' AND event = 'continuation_repaired'")"
sleep 1.5 # a few more sweeps: nothing is reported or sent twice
check_eq "stall reported once" 1 "$(grep -c "Run stalled" "$T/sched.log")"
check_eq "CONSOLIDATE still exactly one" 1 "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'")"
# The re-sent items finish the stalled run once a worker is there.
start_worker w WORKER_CONCURRENCY=4
wait_run_terminal "$stalled" 120
check_eq "the stalled run completes after repair" 0 "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$stalled' AND NOT completed")"
kill -TERM "$PID_sched" "$PID_w"; wait "$PID_sched" "$PID_w" || true

# --- lock renewal: pages slower than the lock --------------------------------------------------
new_db ingest_renew
sim_faults '{"reset":true}'
MAX_SCHEDULER_RECORDS=150 "$DIAMOND" scheduler --full >/dev/null
run=$(latest_run)
# Each page now takes 1.5 x the lock; idle handlers would pick up an expired message.
sim_faults '{"latency_ms":4500}'
before=$(sim_stat '.operations.diamonds_by_query')
start_worker wr WORKER_CONCURRENCY=3 WORK_ITEMS_LOCK_MS=3000 LOG_LEVEL=warn
wait_run_terminal "$run" 120
check_eq "slow pages: records exact" 150 "$(psql_q "SELECT sum(records) FROM partition_progress WHERE run_id = '$run'")"
check_eq "slow pages: each page fetched once (lock renewed)" 3 "$(( $(sim_stat '.operations.diamonds_by_query') - before ))"
check "no lock-lost settle" bash -c "! grep -q 'lock lost' '$T/wr.log'"
finish
