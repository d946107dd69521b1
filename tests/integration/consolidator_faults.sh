#!/usr/bin/env bash
# consolidator_faults.sh - the consolidator under faults (real processes, real PostgreSQL):
#   malformed items -> failed with a reason, the loop ends, the run completes, stats count them;
#   a worker rewriting a raw row while it is claimed -> the newer payload is consolidated;
#   failed partitions without force -> "Consolidation skipped" alert, watermark untouched; with
#   force -> consolidated; a database error -> "Consolidation failed" alert, failure counted,
#   watermark and completion untouched, the redelivery succeeds once the error is gone;
#   WORK_DONE -> timeline event and the CONSOLIDATE backstop; an invalid message is
#   dead-lettered; SIGKILL mid-batch -> the redelivery finishes with exact counts; SIGTERM exits 0.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/integration/consol_lib.bash"
consol_setup consol_faults
export LOG_LEVEL=info
spawn consolidator "$DIAMOND" consolidator

# --- malformed items ------------------------------------------------------------------------
R1=$(make_run full)
ingest "$R1" 1 200 0
psql_q "INSERT INTO raw_diamonds_nivoda (supplier_stone_id, offer_id, payload, payload_hash, run_id, last_seen_run_id)
  SELECT sid, 'o-' || sid, p::json, encode(sha256(convert_to(p, 'UTF8')), 'hex'), '$R1', '$R1' FROM (VALUES
  ('bad-cert', '{\"id\":\"o1\",\"price\":100,\"diamond\":{\"id\":\"bad-cert\"}}'),
  ('bad-shape', '{\"id\":\"o2\",\"price\":100,\"diamond\":{\"id\":\"bad-shape\",\"certificate\":{\"carats\":1,\"color\":\"D\",\"clarity\":\"IF\"}}}'),
  ('bad-carats', '{\"id\":\"o3\",\"price\":100,\"diamond\":{\"id\":\"bad-carats\",\"certificate\":{\"shape\":\"ROUND\",\"carats\":0,\"color\":\"D\",\"clarity\":\"IF\"}}}'),
  ('bad-color', '{\"id\":\"o4\",\"price\":100,\"diamond\":{\"id\":\"bad-color\",\"certificate\":{\"shape\":\"ROUND\",\"carats\":1,\"clarity\":\"IF\"}}}'),
  ('bad-clarity', '{\"id\":\"o5\",\"price\":100,\"diamond\":{\"id\":\"bad-clarity\",\"certificate\":{\"shape\":\"ROUND\",\"carats\":1,\"color\":\"D\"}}}'),
  ('bad-price', '{\"id\":\"o6\",\"diamond\":{\"id\":\"bad-price\",\"certificate\":{\"shape\":\"ROUND\",\"carats\":1,\"color\":\"D\",\"clarity\":\"IF\"}}}'),
  ('bad-shape-type', '[1,2,3]'),
  ('bad-nul', '{\"id\":\"o8\",\"price\":100,\"diamond\":{\"id\":\"bad-nul\",\"certificate\":{\"shape\":\"R\\u0000\",\"carats\":1,\"color\":\"D\",\"clarity\":\"IF\"}}}')
  ) AS v(sid, p)" >/dev/null
consolidate "$R1"
wait_completed "$R1"
check_eq "malformed: run completes; stats count them" "208|200|8" "$(stat_of "$R1" "stats_processed, stats_new, stats_failed")"
check_eq "malformed: every bad row failed with a reason" 8 "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status = 'failed' AND consolidation_error <> '' AND claim_token IS NULL")"
check_eq "malformed: reasons are precise" \
    "bad-carats:certificate.carats must be > 0|bad-cert:missing certificate|bad-clarity:missing certificate.clarity|bad-color:missing certificate.color|bad-price:missing price|bad-shape:missing certificate.shape|bad-shape-type:item is not a JSON object" \
    "$(psql_q "SELECT string_agg(supplier_stone_id || ':' || consolidation_error, '|' ORDER BY supplier_stone_id) FROM raw_diamonds_nivoda WHERE consolidation_status = 'failed' AND supplier_stone_id <> 'bad-nul'")"
check "malformed: NUL escape refused" test "$(psql_q "SELECT consolidation_error LIKE 'malformed JSON%' FROM raw_diamonds_nivoda WHERE supplier_stone_id = 'bad-nul'")" = t
check_eq "malformed: no diamond for a bad row" 0 "$(psql_q "SELECT count(*) FROM diamonds WHERE supplier_stone_id LIKE 'bad-%'")"

# --- a worker rewrites a raw row while the consolidator holds its claim ----------------------
# The "worker" runs inside the consolidator's write transaction (an AFTER trigger fired by the
# upsert of stone-150), i.e. after the claim and before the batch is marked done.
R2=$(make_run incremental)
psql_q "CREATE TABLE race_done (x int);
  CREATE FUNCTION race() RETURNS trigger LANGUAGE plpgsql AS \$f\$ BEGIN
    IF NEW.supplier_stone_id = 'stone-150' AND NOT EXISTS (SELECT 1 FROM race_done) THEN
      INSERT INTO race_done VALUES (1);
      UPDATE raw_diamonds_nivoda SET payload = dm_test.item(150, 99)::json,
        payload_hash = encode(sha256(convert_to(dm_test.item(150, 99), 'UTF8')), 'hex'),
        consolidation_status = 'pending', updated_at = now() WHERE supplier_stone_id = 'stone-150';
    END IF; RETURN NULL; END \$f\$;
  CREATE TRIGGER race AFTER INSERT OR UPDATE ON diamonds FOR EACH ROW EXECUTE FUNCTION race();" >/dev/null
ingest "$R2" 101 200 -5
consolidate "$R2"
wait_completed "$R2"
check_eq "race: the worker's write happened mid-batch" 1 "$(psql_q "SELECT count(*) FROM race_done")"
check_eq "race: the newer payload was consolidated" \
    "$(psql_q "SELECT round((dm_test.item(150, 99)::json->>'price')::numeric / 100, 2)")" \
    "$(psql_q "SELECT feed_price FROM diamonds WHERE supplier_stone_id = 'stone-150'")"
check_eq "race: raw row done with the newer hash" "done|t" \
    "$(psql_q "SELECT consolidation_status, payload_hash = encode(sha256(convert_to(dm_test.item(150, 99), 'UTF8')), 'hex') FROM raw_diamonds_nivoda WHERE supplier_stone_id = 'stone-150'")"
check_eq "race: stone-150 processed twice, the rest once" "101|101" "$(stat_of "$R2" "stats_processed, stats_changed + stats_unchanged")"
psql_q "DROP TRIGGER race ON diamonds" >/dev/null

# --- failed partitions: skipped without force, consolidated with force ------------------------
WM_BEFORE=$(wm_field lastRunId)
R3=$(make_run full 1)
ingest "$R3" 201 300 0
consolidate "$R3"
wait_until 60 sql_is t "SELECT skipped_at IS NOT NULL FROM run_metadata WHERE run_id = '$R3'"
check "skipped: alert line" grep -q '"alert":"Consolidation skipped"' "$T/consolidator.log"
check "skipped: alert names the counts" grep -q '1 of 3 partitions failed, 2 completed' "$T/consolidator.log"
check_eq "skipped: watermark untouched" "$WM_BEFORE" "$(wm_field lastRunId)"
check_eq "skipped: run not completed, nothing consolidated" "f|0" "$(stat_of "$R3" "completed_at IS NOT NULL, stats_processed")"
check_eq "skipped: timeline event" 1 "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$R3' AND event = 'consolidation_skipped'")"
consolidate "$R3" --force
wait_completed "$R3"
check_eq "forced: consolidated" "100|100" "$(stat_of "$R3" "stats_processed, stats_new")"
check_eq "forced: watermark advanced" "$R3" "$(wm_field lastRunId)"
check_eq "forced: no removal with failed partitions" 0 "$(stat_of "$R3" stats_removed)"

# --- a database error during consolidation ----------------------------------------------------
R4=$(make_run incremental)
ingest "$R4" 301 400 0
psql_q "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS \$f\$ BEGIN RAISE EXCEPTION 'injected failure'; END \$f\$;
        CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON diamonds FOR EACH ROW EXECUTE FUNCTION boom();" >/dev/null
consolidate "$R4"
wait_until 60 grep -q '"alert":"Consolidation failed"' "$T/consolidator.log"
psql_q "DROP TRIGGER boom ON diamonds" >/dev/null  # the consolidator backs off 5 s before redelivery
check "failed: alert says the watermark was not advanced" grep -q 'The watermark was not advanced' "$T/consolidator.log"
check "failed: alert carries the error" grep -q 'injected failure' "$T/consolidator.log"
check_eq "failed: counted, with time and error" "1|t|t" "$(stat_of "$R4" "consolidation_failures, consolidation_failed_at IS NOT NULL, last_error LIKE '%injected failure%'")"
check_eq "failed: watermark untouched" "$R3" "$(wm_field lastRunId)"
check_eq "failed: not completed" f "$(stat_of "$R4" "completed_at IS NOT NULL")"
wait_completed "$R4"
check_eq "redelivery: consolidated after the error is gone" "100|100|0" "$(stat_of "$R4" "stats_processed, stats_new, stats_failed")"
check_eq "redelivery: watermark advanced" "$R4" "$(wm_field lastRunId)"
check_eq "redelivery: failure count kept, error cleared" "1|" "$(stat_of "$R4" "consolidation_failures, last_error")"

# --- WORK_DONE: timeline + backstop CONSOLIDATE; an invalid message is dead-lettered --------
R5=$(make_run incremental)
ingest "$R5" 401 450 0
finish_run "$R5"
TRACE=$(stat_of "$R5" trace_id)
psql_q "INSERT INTO queue_messages (queue, message_id, body, visible_at, expires_at) VALUES
  ('work-done', 'work-done:$R5:p2:success', convert_to('{\"type\":\"WORK_DONE\",\"runId\":\"$R5\",\"traceId\":\"$TRACE\",\"workerId\":\"w-1\",\"partitionId\":\"p2\",\"recordsProcessed\":50,\"status\":\"success\"}', 'UTF8'), now(), now() + interval '1 day'),
  ('consolidate', 'junk-1', convert_to('{\"type\":\"CONSOLIDATE\",\"runId\":\"not-a-uuid\"}', 'UTF8'), now(), now() + interval '1 day')" >/dev/null
wait_completed "$R5"
check_eq "work-done: timeline event" 1 "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$R5' AND partition_id = 'p2' AND event = 'partition_completed' AND detail->>'workerId' = 'w-1'")"
check_eq "work-done: backstop sent CONSOLIDATE, run consolidated" "t|50" "$(stat_of "$R5" "consolidate_sent_at IS NOT NULL, stats_processed")"
wait_until 30 sql_is 1 "SELECT count(*) FROM queue_dead_letters WHERE message_id = 'junk-1'"
check "invalid message dead-lettered with a reason" test -n "$(psql_q "SELECT reason FROM queue_dead_letters WHERE message_id = 'junk-1'")"

# --- SIGTERM while idle: clean exit ----------------------------------------------------------
kill -TERM "$PID_consolidator"
rc=0
wait "$PID_consolidator" || rc=$?
check_eq "SIGTERM: exit 0" 0 "$rc"
check "no errors logged except the injected failure" bash -c "! grep '\"level\":\"error\"' '$T/consolidator.log' | grep -v 'injected failure'"

# --- SIGKILL mid-batch, then redelivery ------------------------------------------------------
R6=$(make_run incremental)
ingest "$R6" 1001 11000 0
N=$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status = 'pending'")
# A slow database (0.1 s per upsert statement) so the kill lands mid-run on any machine.
psql_q "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS \$f\$ BEGIN PERFORM pg_sleep(0.1); RETURN NULL; END \$f\$;
        CREATE TRIGGER slow AFTER INSERT ON diamonds FOR EACH STATEMENT EXECUTE FUNCTION slow();" >/dev/null
spawn killed env CONSOLIDATOR_BATCH_SIZE=200 CONSOLIDATOR_CONCURRENCY=1 "$DIAMOND" consolidator
consolidate "$R6"
wait_until 120 sql_ge 1000 "SELECT stats_processed FROM run_metadata WHERE run_id = '$R6'"
kill -KILL "$PID_killed"
wait "$PID_killed" 2>/dev/null || true
PART=$(stat_of "$R6" stats_processed)
check "killed mid-run ($PART of $N processed)" test "$PART" -lt "$N"
check_eq "killed: not completed" f "$(stat_of "$R6" "completed_at IS NOT NULL")"
# Let the time pass: the dead process's claims expire (30 min) and so does its message lock.
psql_q "DROP TRIGGER slow ON diamonds;
        UPDATE raw_diamonds_nivoda SET claimed_at = claimed_at - interval '31 minutes' WHERE consolidation_status = 'processing';
        UPDATE queue_messages SET visible_at = now() WHERE queue = 'consolidate'" >/dev/null
spawn redelivered env CONSOLIDATOR_BATCH_SIZE=200 "$DIAMOND" consolidator --sweep-interval-ms 500
wait_completed "$R6" 180
check_eq "redelivery: exact counts" "$N|$N|0|0|0" "$(stat_of "$R6" "stats_processed, stats_new, stats_changed, stats_unchanged, stats_failed")"
check_eq "redelivery: every row done once, nothing left claimed" "$N|0" \
    "$(psql_q "SELECT count(*) FILTER (WHERE consolidation_status = 'done' AND substr(supplier_stone_id, 7)::int > 1000), count(*) FILTER (WHERE consolidation_status IN ('pending', 'processing')) FROM raw_diamonds_nivoda")"
check_eq "redelivery: catalogue matches the payloads" "ok (10450 rows)" "$(psql_q "SELECT dm_test.check_catalogue(1.15, 5)")"
check "redelivery: delivery 2 logged" grep -q 'consolidating run (delivery 2' "$T/redelivered.log"

# --- SIGTERM mid-run: the batch in flight finishes, the message goes back, exit 0 -----------
kill -TERM "$PID_redelivered"
wait "$PID_redelivered" 2>/dev/null || true
R8=$(make_run incremental)
ingest "$R8" 20001 24000 0
psql_q "CREATE TRIGGER slow AFTER INSERT ON diamonds FOR EACH STATEMENT EXECUTE FUNCTION slow()" >/dev/null
spawn termed env CONSOLIDATOR_BATCH_SIZE=200 CONSOLIDATOR_CONCURRENCY=1 "$DIAMOND" consolidator
consolidate "$R8"
wait_until 120 sql_ge 600 "SELECT stats_processed FROM run_metadata WHERE run_id = '$R8'"
kill -TERM "$PID_termed"
rc=0
wait "$PID_termed" || rc=$?
check_eq "SIGTERM mid-run: exit 0" 0 "$rc"
check "SIGTERM mid-run: stopped before the end" test "$(stat_of "$R8" stats_processed)" -lt 4000
check_eq "SIGTERM mid-run: no claim left behind" 0 "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status = 'processing'")"
check "SIGTERM mid-run: message back in the queue" test "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate' AND visible_at <= now() + interval '1 second'")" = 1
psql_q "DROP TRIGGER slow ON diamonds" >/dev/null
spawn redelivered2 "$DIAMOND" consolidator --sweep-interval-ms 500
wait_completed "$R8" 120
check_eq "SIGTERM mid-run: the next consolidator finishes with exact counts" "4000|4000" "$(stat_of "$R8" "stats_processed, stats_new")"

# --- the sweeper: a completed run whose CONSOLIDATE was never sent gets one ------------------
R7=$(make_run incremental)
ingest "$R7" 451 460 0
finish_run "$R7"
wait_completed "$R7" 60
check_eq "sweeper: CONSOLIDATE sent for a forgotten run" "t|10" "$(stat_of "$R7" "consolidate_sent_at IS NOT NULL, stats_processed")"
finish
