#!/usr/bin/env bash
# consolidator_e2e.sh - the whole pipeline (feed simulator, scheduler, worker, consolidator,
# real PostgreSQL): a full run of 20,000 simulated stones ends as a priced catalogue; a sample of
# stones fetched from the simulator is checked field by field against the diamonds rows with
# prices computed independently in integer cents; every row matches its raw JSON; the watermark
# is the run's window end; churn + an incremental run updates changed stones and adds new ones;
# a full run then deletes the stones the feed no longer has.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"
. "$DM_SOURCE_DIR/tests/integration/consol_lib.bash"
consol_setup consol_e2e
export WATERMARK_DIR=$T/watermarks LOG_LEVEL=info
start_sim --count 20000 --seed 23
start_worker worker WORKER_CONCURRENCY=6
spawn consolidator "$DIAMOND" consolidator

# --- full run ------------------------------------------------------------------------------
"$DIAMOND" scheduler --full >"$T/sched1.out"
R1=$(latest_run)
wait_completed "$R1" 300
RAW=$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda")
check "most of the 20,000 stones fetched ($RAW)" test "$RAW" -gt 15000
check_eq "full run: one diamond per raw row" "$RAW|$RAW" "$(psql_q "SELECT count(*), count(*) FILTER (WHERE status = 'active') FROM diamonds")"
check_eq "full run: stats" "$RAW|$RAW|0" "$(stat_of "$R1" "stats_processed, stats_new, stats_failed")"
check_eq "full run: every field of every stone matches its raw JSON" "ok ($RAW rows)" "$(psql_q "SELECT dm_test.check_catalogue(1.15, 5)")"
check_eq "full run: watermark = window end" "$R1|$(updated_to_iso "$R1")" "$(wm_field lastRunId)|$(wm_field lastUpdatedAt)"

# A sample straight from the simulator, checked with integer-cent arithmetic in the shell.
IDS=$(psql_q "SELECT string_agg(supplier_stone_id, ',') FROM (SELECT supplier_stone_id FROM raw_diamonds_nivoda ORDER BY md5(supplier_stone_id) LIMIT 25) s")
curl -fsS "$SIM/admin/stones?ids=$IDS" >"$T/sample.json"
N_SAMPLE=$(jq '[.. | objects | select(has("diamond") and has("price"))] | length' "$T/sample.json")
check_eq "sample fetched from the simulator" 25 "$N_SAMPLE"
bad=0
while IFS=$'\t' read -r sid offer price shape color clarity; do
    retail=$(( (price * 115 + 50) / 100 ))          # cents, half up
    want=$(printf '%s|%s|%d.%02d|%d.%02d|%s|%s' "$offer" "$shape" $((price / 100)) $((price % 100)) \
        $((retail / 100)) $((retail % 100)) "$color" "$clarity")
    got=$(psql_q "SELECT offer_id || '|' || shape || '|' || feed_price || '|' || retail_price || '|' || color || '|' || clarity FROM diamonds WHERE supplier_stone_id = '$sid'")
    if [ "$want" != "$got" ]; then echo "sample $sid: want $want got $got"; bad=$((bad + 1)); fi
done < <(jq -r '.. | objects | select(has("diamond") and has("price")) | [.diamond.id, .id, .price, (.diamond.certificate.shape | ascii_upcase), .diamond.certificate.color, .diamond.certificate.clarity] | @tsv' "$T/sample.json")
check_eq "sample: offer, shape, feed and retail price to the cent, colour, clarity" 0 "$bad"

# --- churn, incremental ----------------------------------------------------------------------
T0=$(psql_q "SELECT max(updated_at) FROM diamonds")
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"percent":10}' "$SIM/admin/churn" >"$T/churn.json"
"$DIAMOND" scheduler --incremental >"$T/sched2.out"
R2=$(latest_run)
check "second run is incremental" test "$(stat_of "$R2" run_type)" = incremental
wait_completed "$R2" 300
check "incremental: changed stones updated" test "$(stat_of "$R2" stats_changed)" -gt 0
check "incremental: new stones inserted" test "$(stat_of "$R2" stats_new)" -gt 0
check_eq "incremental: rewritten = new + changed" "$(stat_of "$R2" "stats_new + stats_changed")" "$(psql_q "SELECT count(*) FROM diamonds WHERE updated_at > '$T0'")"
check_eq "incremental: nothing removed" 0 "$(stat_of "$R2" stats_removed)"
check_eq "incremental: catalogue matches the payloads" "ok ($(psql_q "SELECT count(*) FROM raw_diamonds_nivoda") rows)" "$(psql_q "SELECT dm_test.check_catalogue(1.15, 5)")"

# --- full run: stones gone from the feed are deleted ---------------------------------------
"$DIAMOND" scheduler --full >"$T/sched3.out"
R3=$(latest_run)
wait_completed "$R3" 300
GONE=$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE last_seen_run_id <> '$R3'")
check "some stones left the feed ($GONE)" test "$GONE" -gt 0
check_eq "full run: vanished stones deleted" "$GONE|$GONE" "$(psql_q "SELECT (SELECT stats_removed FROM run_metadata WHERE run_id = '$R3'), count(*) FROM diamonds WHERE status = 'deleted'")"
check_eq "full run: active = stones in the feed" "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE last_seen_run_id = '$R3'")" "$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active'")"
check_eq "full run: watermark" "$R3" "$(wm_field lastRunId)"
check "no errors logged" bash -c "! grep -q '\"level\":\"error\"' '$T/consolidator.log'"
finish
