#!/usr/bin/env bash
# ingest_bad_items.sh - one bad stone never costs a run (issue 20). The simulator serves 4 % of
# its stones with a pathological value (--poison-rate: price 1e400, a discount nested 200 deep,
# a price written with an exponent, a 30-digit diamond_price; the same stones on every request),
# mixed into otherwise good pages, so many pages hold several kinds together. The run
# completes with no failed partition and no page error; each 1e400 and 200-deep stone is refused
# alone (an items_refused event names it and says why) and every other stone, the exponent and
# 30-digit ones included, is stored and consolidated. Before, each such page was refused whole
# five times, its partition failed and the run consolidated nothing.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"
. "$DM_SOURCE_DIR/tests/integration/consol_lib.bash"
consol_setup ingest_bad_items
export WATERMARK_DIR=$T/wm
start_sim --count 3000 --seed 29 --poison-rate 0.04
start_worker worker WORKER_CONCURRENCY=4
spawn consolidator "$DIAMOND" consolidator

# Ground truth: every live stone's poison, as the simulator serves it.
curl -fsS "$SIM/admin/stones?offset=0&limit=100000" >"$T/truth.json"
jq -r '[.items, .poison] | transpose[] | "\(.[0].diamond.id)\t\(.[1] // "none")\t\(.[0].price)"' \
    "$T/truth.json" >"$T/truth.tsv"
for kind in overflow deep exponent bignum; do
    check "the simulator poisons some stones with '$kind'" [ "$(grep -c "	$kind	" "$T/truth.tsv")" -gt 5 ]
done
psql_q "CREATE TABLE truth (id text PRIMARY KEY, poison text, price bigint)"
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "\\copy truth FROM '$T/truth.tsv'"

"$DIAMOND" scheduler --full >"$T/sched.out"
R=$(latest_run)
wait_run_terminal "$R" 300
check "the poisoned values were served" [ "$(sim_stat .faults.poison)" -gt 0 ]
check_eq "no partition failed" 0 "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$R' AND failed")"
check_eq "no page error (no page refused, none retried)" 0 "$(psql_q "SELECT coalesce(sum(page_errors), 0) FROM partition_progress WHERE run_id = '$R'")"
wait_completed "$R" 300
check "the run was consolidated" run_completed "$R"
check_eq "the watermark moved to the run" "$R" "$(wm_field lastRunId)"

# What the worker refused, from the run's events: id and reason of each stone.
psql_q "CREATE TABLE refused AS SELECT i->>'stoneId' AS id, i->>'reason' AS reason FROM run_events e, jsonb_array_elements(e.detail->'items') i WHERE e.run_id = '$R' AND e.event = 'items_refused'"
check_eq "the events count what they list" "$(psql_q "SELECT count(*) FROM refused")" "$(psql_q "SELECT coalesce(sum((detail->>'count')::int), 0) FROM run_events WHERE run_id = '$R' AND event = 'items_refused'")"
check "some stones were refused" [ "$(psql_q "SELECT count(*) FROM refused")" -gt 5 ]
check_eq "every refused stone is named and is a 1e400 or 200-deep one" 0 "$(psql_q "SELECT count(*) FROM refused r LEFT JOIN truth t USING (id) WHERE t.poison IS NULL OR t.poison NOT IN ('overflow', 'deep')")"
check_eq "1e400: refused for the number" 0 "$(psql_q "SELECT count(*) FROM refused JOIN truth USING (id) WHERE poison = 'overflow' AND reason NOT LIKE '%real number overflow%'")"
check_eq "200 deep: refused for the nesting" 0 "$(psql_q "SELECT count(*) FROM refused JOIN truth USING (id) WHERE poison = 'deep' AND reason NOT LIKE '%deeper than 64%'")"
check_eq "no 1e400 or 200-deep stone was stored" 0 "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda r JOIN truth t ON t.id = r.supplier_stone_id WHERE t.poison IN ('overflow', 'deep')")"
check_eq "every stone served was stored or refused" "$(stat_of "$R" estimated_records)" "$(psql_q "SELECT (SELECT count(*) FROM raw_diamonds_nivoda) + (SELECT count(*) FROM refused)")"
for kind in exponent bignum; do
    check "'$kind' stones were served and stored" [ "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda r JOIN truth t ON t.id = r.supplier_stone_id WHERE t.poison = '$kind'")" -gt 0 ]
done
check_eq "every stored stone consolidated: one active diamond each, none failed" "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda")|0" "$(psql_q "SELECT count(*) FILTER (WHERE status = 'active') || '|' || (SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status <> 'done') FROM diamonds")"
check_eq "the run's statistics agree" "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda")|0" "$(stat_of "$R" "stats_processed || '|' || stats_failed")"
check_eq "exponent and 30-digit stones carry their feed price to the cent" 0 "$(psql_q "SELECT count(*) FROM diamonds d JOIN truth t ON t.id = d.supplier_stone_id WHERE t.poison IN ('exponent', 'bignum') AND d.feed_price * 100 <> t.price")"
finish
