#!/usr/bin/env bash
# feeds_two.sh - two feeds run independently (issue 18): FEEDS=nivoda,second, where second is
# another Nivoda-type marketplace (a second simulator on its own port and seed). `diamond
# migrate` creates raw_diamonds_second like raw_diamonds_nivoda; each feed has its own runs
# (run_metadata.feed), raw table and watermark; a run of one feed in progress does not block the
# other; one catalogue holds both feeds' stones, and a full run of one feed removes none of the
# other's. `diamond status`, the trigger endpoint and the runs analytics take the feed. Bad feed
# configuration exits 2 naming the variable.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db feeds_two
start_sim --count 700 --seed 11
PORT_B=$(free_port)
spawn sim_b "$DIAMOND" feed-sim --port "$PORT_B" --count 400 --seed 22
wait_until 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT_B"
export FEEDS=nivoda,second FEED_SECOND_TYPE=nivoda FEED_SECOND_URL="http://127.0.0.1:$PORT_B/graphql"

# --- configuration ------------------------------------------------------------------------
rc=0
FEEDS=nivoda,Second "$DIAMOND" migrate >/dev/null 2>"$T/cfg.err" || rc=$?
check_eq "a malformed feed id exits 2" 2 "$rc"
check "... naming FEEDS" grep -q 'config: FEEDS="nivoda,Second" has a feed id' "$T/cfg.err"
rc=0
FEEDS=nivoda,third "$DIAMOND" scheduler --feed third --dry-run >/dev/null 2>"$T/cfg2.err" || rc=$?
check_eq "a feed without a type exits 2" 2 "$rc"
check "... naming FEED_THIRD_TYPE" grep -q "config: FEED_THIRD_TYPE is required" "$T/cfg2.err"

# --- raw tables ---------------------------------------------------------------------------
"$DIAMOND" migrate >"$T/migrate.out"
check "migrate creates the second feed's raw table" grep -q "0 migrations applied, 1 feed table created" "$T/migrate.out"
"$DIAMOND" migrate >"$T/migrate2.out"
check "... once" grep -q "0 feed tables created" "$T/migrate2.out"
"$DIAMOND" migrate --status >"$T/mstatus.out"
check "migrate --status lists both raw tables" grep -q "^present  raw_diamonds_second (feed second)" "$T/mstatus.out"
shape() { # columns with type, default and nullability; indexes by definition; checks; fillfactor
    psql_q "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, ''), ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = '$1'"
    psql_q "SELECT string_agg(d, '; ' ORDER BY d) FROM (SELECT regexp_replace(indexdef, '^.* USING ', '') AS d FROM pg_indexes WHERE tablename = '$1') x"
    psql_q "SELECT string_agg(d, '; ' ORDER BY d) FROM (SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conrelid = '$1'::regclass) x"
    psql_q "SELECT reloptions FROM pg_class WHERE relname = '$1'"
}
check_eq "raw_diamonds_second has raw_diamonds_nivoda's columns, indexes, checks and fillfactor" \
    "$(shape raw_diamonds_nivoda)" "$(shape raw_diamonds_second)"
check "... which has indexes and a check to compare" bash -c "[ \$(psql -qAt '$DATABASE_URL' -c \"SELECT count(*) FROM pg_indexes WHERE tablename = 'raw_diamonds_second'\") -ge 3 ]"

rc=0
"$DIAMOND" scheduler --feed other --dry-run >/dev/null 2>"$T/cfg3.err" || rc=$?
check_eq "scheduler --feed of a feed FEEDS does not name exits 2" 2 "$rc"
check "... saying so" grep -q "not one of FEEDS (nivoda,second)" "$T/cfg3.err"

# --- runs per feed ------------------------------------------------------------------------
start_worker worker WORKER_CONCURRENCY=4
"$DIAMOND" scheduler --feed nivoda --full >"$T/a.out"
RUN_A=$(latest_run)
check "nivoda: the seed's summary line (no feed named)" grep -Eq "^run $RUN_A type=full window=" "$T/a.out"
wait_run_terminal "$RUN_A" 180
# No consolidator yet: run A stays in progress (consolidating).
"$DIAMOND" scheduler --feed nivoda --full >"$T/a_busy.out"
check "a second nivoda run waits for the first" grep -q "run $RUN_A of feed nivoda is still consolidating" "$T/a_busy.out"
"$DIAMOND" scheduler --feed second --full >"$T/b.out"
RUN_B=$(latest_run)
check "the second feed plans although nivoda's run is in progress" [ "$RUN_B" != "$RUN_A" ]
check "second: its summary line names the feed" grep -Eq "^run $RUN_B feed=second type=full window=" "$T/b.out"
wait_run_terminal "$RUN_B" 180
check_eq "runs record their feed" "nivoda second" \
    "$(psql_q "SELECT string_agg(feed, ' ' ORDER BY started_at) FROM run_metadata")"
EST_A=$(psql_q "SELECT estimated_records FROM run_metadata WHERE run_id = '$RUN_A'")
EST_B=$(psql_q "SELECT estimated_records FROM run_metadata WHERE run_id = '$RUN_B'")
check "both feeds have stones" bash -c "[ $EST_A -gt 300 ] && [ $EST_B -gt 150 ]"
check_eq "nivoda's raw table holds run A's stones only" "$EST_A $RUN_A" \
    "$(psql_q "SELECT count(*) || ' ' || string_agg(DISTINCT run_id::text, ',') FROM raw_diamonds_nivoda")"
check_eq "second's raw table holds run B's stones only" "$EST_B $RUN_B" \
    "$(psql_q "SELECT count(*) || ' ' || string_agg(DISTINCT run_id::text, ',') FROM raw_diamonds_second")"
check_eq "each simulator served its own run" "$EST_B" "$(curl -fsS "http://127.0.0.1:$PORT_B/admin/stats" | jq -r .items)"

# --- one catalogue ------------------------------------------------------------------------
spawn consolidator "$DIAMOND" consolidator
wait_until 180 run_completed "$RUN_A"
wait_until 180 run_completed "$RUN_B"
check "run A completed" run_completed "$RUN_A"
check "run B completed" run_completed "$RUN_B"
active() { psql_q "SELECT count(*) FROM diamonds WHERE status = 'active' AND feed = '$1'"; }
NEW_B=$(psql_q "SELECT stats_new FROM run_metadata WHERE run_id = '$RUN_B'")
check "the catalogue holds nivoda's stones" [ "$(active nivoda)" -gt 300 ]
check_eq "the catalogue holds second's stones, as feed second" "$NEW_B" "$(active second)"
check_eq "second's catalogue rows are its raw rows" 0 \
    "$(psql_q "SELECT count(*) FROM raw_diamonds_second r WHERE r.consolidation_status = 'done' AND NOT EXISTS (SELECT 1 FROM diamonds d WHERE d.feed = 'second' AND d.supplier_stone_id = r.supplier_stone_id)")"
check_eq "no raw row failed to map" 0 \
    "$(psql_q "SELECT (SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status <> 'done') + (SELECT count(*) FROM raw_diamonds_second WHERE consolidation_status <> 'done')")"

# --- watermarks ---------------------------------------------------------------------------
check_eq "nivoda keeps the seed's watermark file" "$RUN_A" "$(jq -r .lastRunId "$WATERMARK_DIR/watermark.json")"
WM_B="$WATERMARK_DIR/second.json"
check_eq "second has its own watermark" "$RUN_B" "$(jq -r .lastRunId "$WM_B")"

# A full nivoda run removes none of second's stones (removal is per feed), and an automatic
# run of second is incremental from its own watermark.
ACTIVE_B=$(active second)
"$DIAMOND" scheduler --feed nivoda --full >/dev/null
RUN_A2=$(latest_run)
wait_until 180 run_completed "$RUN_A2"
check_eq "a full nivoda run removed none of second's stones" "$ACTIVE_B" "$(active second)"
check_eq "... and completed as a nivoda run" nivoda "$(psql_q "SELECT feed FROM run_metadata WHERE run_id = '$RUN_A2'")"
check_eq "second's watermark untouched by nivoda's run" "$RUN_B" "$(jq -r .lastRunId "$WM_B")"
# (a dry run: the plan, or "no stones" when nothing changed since; either names the window)
FROM_B=$(date -u -d "$(jq -r .lastUpdatedAt "$WM_B") - 15 minutes" +%Y-%m-%dT%H:%M:%S)
"$DIAMOND" scheduler --feed second --dry-run >"$T/b2.out" 2>&1
check "second's next automatic run is incremental from its own watermark (minus the overlap)" \
    grep -Eq "feed second.* incremental window $FROM_B\.[0-9]{3}Z\.\." "$T/b2.out"

# --- diamond status -----------------------------------------------------------------------
"$DIAMOND" status --runs 10 >"$T/status.out" 2>/dev/null
check "status: runs carry their feed" grep -Eq "^  ${RUN_B:0:8}  second +full " "$T/status.out"
check "status: nivoda's too" grep -Eq "^  ${RUN_A:0:8}  nivoda +full " "$T/status.out"
check "status: each feed's watermark" grep -q "WATERMARK of feed second (file backend)" "$T/status.out"
"$DIAMOND" status --feed second --runs 10 >"$T/status_b.out" 2>/dev/null
check_eq "status --feed second lists second's runs only" 1 "$(grep -cE '^  [0-9a-f]{8}  ' "$T/status_b.out")"
check "status --feed second: no nivoda watermark" bash -c "! grep -q 'feed nivoda' '$T/status_b.out'"
rc=0
"$DIAMOND" status --feed third >/dev/null 2>&1 || rc=$?
check_eq "status --feed of an unknown feed exits 2" 2 "$rc"

# --- API: triggers and analytics take the feed -------------------------------------------
# (without a consolidator a triggered run stays in progress: consolidating)
kill -TERM "$PID_consolidator"
wait "$PID_consolidator" || true
start_api api HMAC_SECRETS='{}'
KEY=$(new_key feeds-two read,trade,admin)
H="X-API-Key: $KEY"
req POST /api/v2/triggers/scheduler '{"run_type":"full","feed":"third"}' "$H"
check_eq "trigger: a feed FEEDS does not name is 400" 400 "$STATUS"
check "... naming the feed field" bash -c "jq -e '.error.details | tostring | test(\"feed\")' '$T/body' >/dev/null"
req POST /api/v2/triggers/scheduler '{"run_type":"full","feed":7}' "$H"
check_eq "trigger: a feed that is not a string is 400" 400 "$STATUS"
req POST /api/v2/triggers/scheduler '{"run_type":"full","feed":"second"}' "$H"
check_eq "trigger: second's run requested" 202 "$STATUS"
check_eq "... the answer names the feed" second "$(jqb .data.feed)"
REQ=$(jqb .data.requestId)
check_eq "the request row records the feed" second "$(psql_q "SELECT feed FROM scheduler_requests WHERE id = '$REQ'")"
req_run() { [ -n "$(psql_q "SELECT run_id FROM scheduler_requests WHERE id = '$REQ' AND status = 'done'")" ]; }
wait_until 60 req_run
RUN_B3=$(psql_q "SELECT run_id FROM scheduler_requests WHERE id = '$REQ'")
check_eq "the triggered run is second's" second "$(psql_q "SELECT feed FROM run_metadata WHERE run_id = '$RUN_B3'")"
# Second's run is in progress (no consolidator): triggering second again is 409 naming it.
wait_run_terminal "$RUN_B3" 180
req POST /api/v2/triggers/scheduler '{"run_type":"full","feed":"second"}' "$H"
check_eq "trigger: second again while its run is in progress is 409" 409 "$STATUS"
check_eq "... naming the run" "$RUN_B3" "$(jqb .error.details.runId)"
spawn consolidator2 "$DIAMOND" consolidator
wait_until 180 run_completed "$RUN_B3"
check "the triggered run completed" run_completed "$RUN_B3"
req GET "/api/v2/analytics/runs?feed=second&limit=100" "" "$H"
check_eq "analytics runs?feed=second" 200 "$STATUS"
check_eq "... lists second's runs only" "2 second" "$(jqb '[.data[].feed] | "\(length) \(unique | join(","))"')"
req GET "/api/v2/analytics/runs?feed=Bad!" "" "$H"
check_eq "analytics runs?feed=<malformed> is 400" 400 "$STATUS"
req GET "/api/v2/analytics/feeds" "" "$H"
check_eq "analytics feeds: second's raw rows" "$(psql_q 'SELECT count(*) FROM raw_diamonds_second')" \
    "$(jqb '.data[] | select(.feed == "second") | .raw.total')"
req GET "/api/v2/analytics/consolidation?feed=second" "" "$H"
check_eq "analytics consolidation?feed=second: its raw rows" \
    "$(psql_q 'SELECT count(*) FROM raw_diamonds_second')" "$(jqb .data.totalRaw)"
req GET "/api/v2/analytics/consolidation" "" "$H"
check_eq "analytics consolidation: both feeds' raw rows" \
    "$(psql_q 'SELECT (SELECT count(*) FROM raw_diamonds_nivoda) + (SELECT count(*) FROM raw_diamonds_second)')" \
    "$(jqb .data.totalRaw)"
finish
