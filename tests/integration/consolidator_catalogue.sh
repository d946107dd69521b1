#!/usr/bin/env bash
# consolidator_catalogue.sh - the consolidator alone (raw rows written directly, CONSOLIDATE
# through the queue, real processes, real PostgreSQL):
#   20,000 raw rows -> 20,000 diamonds, every row checked field by field against values computed
#   independently in SQL from the raw JSON (prices exact to the cent); watermark = run window end;
#   an unchanged second run rewrites nothing (updated_at unchanged) and still advances the
#   watermark; payloads changed only in non-canonical fields rewrite nothing either; churn +
#   incremental updates changed stones (price and availability) and inserts new ones; a full run
#   marks vanished stones deleted; stones that come back are active again; a rule change then
#   `diamond reprice` moves every matching retail price, and a second reprice changes nothing.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/integration/consol_lib.bash"
consol_setup consol_cat
export LOG_LEVEL=info
spawn consolidator "$DIAMOND" consolidator

# --- 1. first full run: 20,000 stones ------------------------------------------------------
R1=$(make_run full)
ingest "$R1" 1 20000 0
consolidate "$R1"
wait_completed "$R1"
check_eq "run 1: diamonds" 20000 "$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active'")"
check_eq "run 1: stats processed/new/changed/unchanged/failed/removed" "20000|20000|0|0|0|0" \
    "$(stat_of "$R1" "stats_processed, stats_new, stats_changed, stats_unchanged, stats_failed, stats_removed")"
check_eq "run 1: every field of every stone matches the raw JSON" "ok (20000 rows)" \
    "$(psql_q "SELECT dm_test.check_catalogue(1.15, 5)")"
check_eq "run 1: sample stone-42 priced to the cent" \
    "$(psql_q "SELECT round(round((payload->>'price')::numeric / 100, 2) * 1.15, 2) FROM raw_diamonds_nivoda WHERE supplier_stone_id = 'stone-42'")" \
    "$(psql_q "SELECT retail_price FROM diamonds WHERE supplier_stone_id = 'stone-42'")"
check_eq "run 1: all raw rows done" 20000 "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status = 'done' AND claim_token IS NULL")"
check_eq "run 1: watermark run id" "$R1" "$(wm_field lastRunId)"
check_eq "run 1: watermark = run's updatedTo" "$(updated_to_iso "$R1")" "$(wm_field lastUpdatedAt)"
check "run 1: duration recorded" test "$(stat_of "$R1" "consolidation_duration_ms IS NOT NULL AND consolidation_completed_at IS NOT NULL")" = t
check "run 1: timeline events" test "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$R1' AND event IN ('consolidation_started', 'consolidation_completed')")" = 2

# --- 2. unchanged second run ---------------------------------------------------------------
T0=$(psql_q "SELECT max(updated_at) FROM diamonds")
R2=$(make_run full)
ingest "$R2" 1 20000 0
check_eq "run 2: identical payloads stay consolidated" 0 "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status <> 'done'")"
consolidate "$R2"
wait_completed "$R2"
check_eq "run 2: zero diamonds rewritten" 0 "$(psql_q "SELECT count(*) FROM diamonds WHERE updated_at > '$T0'")"
check_eq "run 2: nothing removed" "0|20000" "$(psql_q "SELECT (SELECT stats_removed FROM run_metadata WHERE run_id = '$R2'), count(*) FROM diamonds WHERE status = 'active'")"
check_eq "run 2: watermark advanced" "$R2|$(updated_to_iso "$R2")" "$(wm_field lastRunId)|$(wm_field lastUpdatedAt)"

# --- 2b. payloads changed only outside the canonical fields: re-mapped, nothing rewritten ---
R2B=$(make_run incremental)
psql_q "UPDATE raw_diamonds_nivoda SET payload = json_build_object('id', payload->'id', 'price', payload->'price', 'diamond_price', 1, 'diamond', payload->'diamond'), payload_hash = md5(random()::text) || md5(random()::text), consolidation_status = 'pending', last_seen_run_id = '$R2B' WHERE supplier_stone_id <= 'stone-3'" >/dev/null
PENDING=$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status = 'pending'")
consolidate "$R2B"
wait_completed "$R2B"
check_eq "run 2b: re-mapped stones all unchanged" "$PENDING|0|0|$PENDING" \
    "$(stat_of "$R2B" "stats_processed, stats_new, stats_changed, stats_unchanged")"
check_eq "run 2b: zero diamonds rewritten" 0 "$(psql_q "SELECT count(*) FROM diamonds WHERE updated_at > '$T0'")"

# --- 3. churn + incremental: ~10% change price/availability, 1,000 new ---------------------
R3=$(make_run incremental)
ingest "$R3" 1 21000 7
CHURNED=$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status = 'pending' AND supplier_stone_id NOT IN (SELECT supplier_stone_id FROM diamonds)")
PEND3=$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status = 'pending'")
consolidate "$R3"
wait_completed "$R3"
check_eq "run 3: 1,000 new stones" "1000|1000" "$CHURNED|$(stat_of "$R3" stats_new)"
NEW3=$(stat_of "$R3" "stats_new + stats_changed + stats_unchanged")
check_eq "run 3: every pending row counted once" "$PEND3" "$NEW3"
CHG=$(stat_of "$R3" stats_changed)
check "run 3: changed stones updated ($CHG)" test "$CHG" -gt 1000
check_eq "run 3: rewritten rows = new + changed" "$((1000 + CHG))" "$(psql_q "SELECT count(*) FROM diamonds WHERE updated_at > '$T0'")"
check_eq "run 3: catalogue matches the new payloads (prices and availability)" "ok (21000 rows)" \
    "$(psql_q "SELECT dm_test.check_catalogue(1.15, 5)")"
check "run 3: some availability changed" test "$(psql_q "SELECT count(*) FROM diamonds WHERE updated_at > '$T0' AND raw_availability IS DISTINCT FROM (SELECT d2 FROM (SELECT dm_test.item(substr(supplier_stone_id, 7)::bigint, 0)::json->'diamond'->>'availability' AS d2) s)")" -gt 0

# --- 4. full run where stones 19001..20000 vanished -------------------------------------------
R4=$(make_run full)
ingest "$R4" 1 19000 7
ingest "$R4" 20001 21000 7
consolidate "$R4"
wait_completed "$R4"
check_eq "run 4: 1,000 removed" 1000 "$(stat_of "$R4" stats_removed)"
check_eq "run 4: vanished stones deleted with deleted_at" 1000 \
    "$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'deleted' AND deleted_at IS NOT NULL AND substr(supplier_stone_id, 7)::int BETWEEN 19001 AND 20000")"
check_eq "run 4: the rest stays active" 20000 "$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active'")"

# --- 5. an incremental run removes nothing; a capped full run removes nothing -------------
R5=$(make_run full 0 true)
ingest "$R5" 1 100 7
consolidate "$R5"
wait_completed "$R5"
check_eq "run 5 (capped full): nothing removed" "0|20000" "$(psql_q "SELECT (SELECT stats_removed FROM run_metadata WHERE run_id = '$R5'), count(*) FROM diamonds WHERE status = 'active'")"

# --- 6. stones come back: 19001..19500 unchanged payload, 19501..20000 with a new price -----
R6=$(make_run full)
ingest "$R6" 1 19500 7
ingest "$R6" 19501 20000 -11
ingest "$R6" 20001 21000 7
consolidate "$R6"
wait_completed "$R6"
check_eq "run 6: all 21,000 active again" "21000|0" "$(psql_q "SELECT count(*), count(deleted_at) FROM diamonds WHERE status = 'active'")"
check_eq "run 6: reactivated without a payload change" 500 "$(stat_of "$R6" stats_reactivated)"
check_eq "run 6: catalogue matches the payloads" "ok (21000 rows)" "$(psql_q "SELECT dm_test.check_catalogue(1.15, 5)")"

# --- 7. pricing rules, then reprice ------------------------------------------------------------
psql_q "INSERT INTO pricing_rules (name, priority, lab_grown, markup_ratio, rating) VALUES ('lab', 10, true, 1.3000, 8);
        INSERT INTO pricing_rules (name, priority, carat_min, carat_max, shapes, markup_ratio, rating) VALUES ('round 1-2ct', 20, 1.00, 2.00, '{round}', 1.2250, 7);
        INSERT INTO pricing_rules (name, priority, price_min, markup_ratio, rating, active) VALUES ('inactive', 1, 0, 9.0000, 1, false);" >/dev/null
"$DIAMOND" reprice > "$T/reprice.out"
EXPECTED_SQL="CASE WHEN lab_grown THEN 1.3000 WHEN carats BETWEEN 1.00 AND 2.00 AND shape = 'ROUND' THEN 1.2250 ELSE 1.1500 END"
check_eq "reprice: every active retail price follows the rules" 0 \
    "$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active' AND (retail_price <> round(feed_price * ($EXPECTED_SQL), 2) OR markup_ratio <> ($EXPECTED_SQL) OR rating <> CASE WHEN lab_grown THEN 8 WHEN carats BETWEEN 1.00 AND 2.00 AND shape = 'ROUND' THEN 7 ELSE 5 END)")"
MOVED=$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active' AND ($EXPECTED_SQL) <> 1.1500")
check "reprice: reports the prices that changed ($MOVED)" grep -q "$MOVED prices changed" "$T/reprice.out"
"$DIAMOND" reprice > "$T/reprice2.out"
check "reprice again: nothing changes" grep -q " 0 prices changed, 0 rows updated" "$T/reprice2.out"
# New stones priced by the consolidator agree with the reprice SQL (C and SQL in step).
R7=$(make_run incremental)
ingest "$R7" 21001 22000 0
consolidate "$R7"
wait_completed "$R7"
"$DIAMOND" reprice > "$T/reprice3.out"
check "consolidator pricing = reprice SQL (0 rows to update)" grep -q " 0 rows updated" "$T/reprice3.out"
check_eq "consolidator applied the rules" 0 \
    "$(psql_q "SELECT count(*) FROM diamonds WHERE substr(supplier_stone_id, 7)::int > 21000 AND retail_price <> round(feed_price * ($EXPECTED_SQL), 2)")"

check "no errors logged" bash -c "! grep -q '\"level\":\"error\"' '$T/consolidator.log'"
finish
