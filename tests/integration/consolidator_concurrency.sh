#!/usr/bin/env bash
# consolidator_concurrency.sh - two consolidator processes (two batch loops each) work the same
# 100,000 raw rows at once (two CONSOLIDATE deliveries for one run): every row is processed
# exactly once (the per-delivery counts add up to 100,000 and the run's stats are exact), no
# deadlock, one completion, the catalogue matches the payloads.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/integration/consol_lib.bash"
consol_setup consol_conc
export LOG_LEVEL=info CONSOLIDATOR_BATCH_SIZE=1000 CONSOLIDATOR_CONCURRENCY=2

R=$(make_run full)
psql_q "SELECT dm_test.ingest_bulk('$R', 1, 100000)" >/dev/null
N=$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status = 'pending'")
check_eq "100,000 raw rows pending" 100000 "$N"
spawn c1 "$DIAMOND" consolidator
spawn c2 "$DIAMOND" consolidator
# Two deliveries for the same run, so both consolidators work on it at once.
consolidate "$R"
consolidate "$R"
wait_until 60 log_has c1 'consolidating run'
wait_until 60 log_has c2 'consolidating run'
wait_completed "$R" 600
# Let both deliveries settle (the second one finds the run completed).
wait_until 60 sql_is 0 "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate'"

P1=$(grep -o '"msg":"this delivery: [0-9]* processed' "$T/c1.log" | grep -o '[0-9]*' | paste -sd+ | bc 2>/dev/null || echo 0)
P2=$(grep -o '"msg":"this delivery: [0-9]* processed' "$T/c2.log" | grep -o '[0-9]*' | paste -sd+ | bc 2>/dev/null || echo 0)
B1=$(grep -c '"msg":"consolidating run' "$T/c1.log")
B2=$(grep -c '"msg":"consolidating run' "$T/c2.log")
check_eq "both consolidators took a delivery" "1|1" "$B1|$B2"
check_eq "stats: each row processed exactly once" "100000|100000|0|0|0" \
    "$(stat_of "$R" "stats_processed, stats_new, stats_changed, stats_unchanged, stats_failed")"
check_eq "diamonds" 100000 "$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active'")"
check_eq "raw rows all done, none claimed" "100000|0" "$(psql_q "SELECT count(*) FILTER (WHERE consolidation_status = 'done'), count(claim_token) FROM raw_diamonds_nivoda")"
check_eq "one completion event" 1 "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$R' AND event = 'consolidation_completed'")"
check "no deadlock or error in either log" bash -c "! grep -qiE 'deadlock|\"level\":\"error\"' '$T/c1.log' '$T/c2.log'"
check_eq "no failure recorded" 0 "$(stat_of "$R" consolidation_failures)"
check_eq "catalogue matches the payloads" "ok (100000 rows)" "$(psql_q "SELECT dm_test.check_catalogue(1.15, 5)")"
check_eq "per-delivery counts add up to every row once (c1 $P1 + c2 $P2)" 100000 "$((P1 + P2))"
check "both did part of the work" test "$P1" -gt 0 -a "$P2" -gt 0
finish
