#!/usr/bin/env bash
# ingest_duplicates.sh - the same WORK_ITEM delivered more than once, sequentially and
# concurrently (two worker processes, copies of every first page and of continuations
# mid-stream): counts unchanged, completion side effects exactly once (one WORK_DONE per
# partition, one partition_completed event each, one CONSOLIDATE).
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"

new_db ingest_dups
start_sim --count 12000 --seed 9 --latency-ms 3
run=$(full_run)
expected=$(estimated_records "$run")
parts=$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run'")
# Two extra copies of every first page (distinct ids, so duplicate detection keeps them).
psql_q "INSERT INTO queue_messages (queue, message_id, body, visible_at, expires_at)
        SELECT queue, message_id || ':copy' || g, body, now(), now() + interval '1 day'
        FROM queue_messages, generate_series(1, 2) g WHERE queue = 'work-items'" >/dev/null
check_eq "three deliveries of each first page queued" $((parts * 3)) "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'work-items'")"
start_worker wa WORKER_CONCURRENCY=8
start_worker wb WORKER_CONCURRENCY=8
# Duplicate continuations while the run goes.
copies=0
for i in $(seq 1 25); do
    n=$(psql_q "WITH c AS (INSERT INTO queue_messages (queue, message_id, body, visible_at, expires_at)
                SELECT queue, message_id || ':mid$i', body, now(), now() + interval '1 day'
                FROM queue_messages WHERE queue = 'work-items' AND message_id NOT LIKE '%:copy%'
                AND message_id NOT LIKE '%:mid%' AND message_id NOT LIKE '%:0' LIMIT 5 RETURNING 1)
                SELECT count(*) FROM c")
    copies=$((copies + n))
    run_terminal "$run" && break
    sleep 0.1
done
check "continuations were duplicated mid-run" [ "$copies" -gt 0 ]
wait_run_terminal "$run" 240
wait_until 30 sql_is 0 "SELECT count(*) FROM queue_messages WHERE queue = 'work-items'"
check_ingested "" "$run" "$expected"
check_eq "pages exact" "$(expected_pages "$run")" "$(psql_q "SELECT sum(pages) FROM partition_progress WHERE run_id = '$run'")"
check_eq "one partition_completed event per partition" "$parts" "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$run' AND event = 'partition_completed'")"
check_eq "one WORK_DONE per partition" "$parts" "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'work-done'")"
check_eq "exactly one CONSOLIDATE" 1 "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'")"
check_eq "no dead letters" 0 "$(psql_q "SELECT count(*) FROM queue_dead_letters")"
check_eq "worker_runs completed" 0 "$(psql_q "SELECT count(*) FROM worker_runs WHERE run_id = '$run' AND status <> 'completed'")"
finish
