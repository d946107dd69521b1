#!/usr/bin/env bash
# dashboard_vocabulary.sh - the dashboard reads only field names the API emits (issue 17 item 9).
# A real stack (private PostgreSQL, feed simulator, worker, consolidator, API) makes runs in the
# states the dashboard draws: a completed full run with consolidation statistics and events, and
# a failed one whose partitions' feed pages always fail. Every API answer the dashboard reads is
# saved as the API sent it, and tests/browser/vocabulary.mjs feeds them to the dashboard's own
# web/dashboard/js/model.js (the one place that knows the API's field names): each field a
# normaliser reads must be present in the API's objects, and each normalised field must come out
# defined (not undefined or NaN) where the API's object has it. A renamed or misspelt field in
# model.js fails here. DM_VOCAB_KEEP=DIR keeps the saved answers there.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db dashboard_vocabulary
OUT=$T/answers
mkdir -p "$OUT"

start_sim --count 600 --seed 11
start_worker worker WORKER_CONCURRENCY=2
spawn consolidator "$DIAMOND" consolidator
start_api api HMAC_SECRETS='{}'
KEY=$(new_key dashboard-vocabulary read,trade,admin)
check "operator API key created" test -n "$KEY"
H="X-API-Key: $KEY"

# save NAME METHOD PATH [BODY]: the API's answer to the request as the dashboard sends it, in
# $OUT/NAME.json; fails the check unless it is a 2xx JSON body (or EXPECT=code).
save() {
    local name=$1 method=$2 path=$3 body=${4-}
    req "$method" "$path" "$body" "$H"
    cp "$T/body" "$OUT/$name.json"
    check_eq "$name: $method $path answers ${EXPECT:-2xx}" "${EXPECT:-2xx}" \
        "$(if [ -z "${EXPECT:-}" ] && [ "${STATUS:0:1}" = 2 ]; then echo 2xx; else echo "$STATUS"; fi)"
}

# A rule with every criterion set, so each of the rule's fields has a value to read.
save rule-created POST /api/v2/pricing-rules \
    '{"name":"vocabulary rounds","priority":10,"carat_min":0.1,"carat_max":50,"shapes":["ROUND"],"lab_grown":false,"feed":"nivoda","price_min":1,"price_max":10000000,"markup_ratio":1.4,"rating":7,"active":true}'

# Run 1: a full run that completes (partitions, workers, events, consolidation statistics).
"$DIAMOND" scheduler --full >"$T/scheduler1.log" 2>&1
RUN_OK=$(latest_run)
check "full run planned" test -n "$RUN_OK"
wait_until 240 run_completed "$RUN_OK"
check "full run completed" run_completed "$RUN_OK"
save reprice POST /api/v2/pricing-rules/reprice '{}'
wait_index

# Run 2: every feed page fails, so each partition fails after its deliveries: failed workers,
# partition errors and failure events.
# (Planned while the feed still answers its counts; fetched by a new worker once it fails.)
kill -TERM "$PID_worker"
wait "$PID_worker" || true
"$DIAMOND" scheduler --full >"$T/scheduler2.log" 2>&1
RUN_BAD=$(latest_run)
check "second run planned" test "$RUN_BAD" != "$RUN_OK"
sim_faults '{"reset":true,"error_rate":1.0}'
start_worker worker2 WORKER_CONCURRENCY=2
wait_run_terminal "$RUN_BAD" 300
check "second run's partitions all failed" test \
    "$(psql_q "SELECT bool_and(failed) FROM partition_progress WHERE run_id = '$RUN_BAD'")" = t
sim_faults '{"reset":true}'
# A consolidation failure as the consolidator records it (record_failure in consolidate.c): the
# run's lastError.
psql_q "UPDATE run_metadata SET consolidation_failures = 1, consolidation_failed_at = now(),
        last_error = 'injected consolidation failure' WHERE run_id = '$RUN_BAD'" >/dev/null

# Run 3: planned with no worker running, cancelled from the run page.
kill -TERM "$PID_worker2"
wait "$PID_worker2" || true
"$DIAMOND" scheduler --full >"$T/scheduler3.log" 2>&1
RUN_CANCELLED=$(latest_run)
check "third run planned" test "$RUN_CANCELLED" != "$RUN_BAD"
save cancel POST /api/v2/triggers/cancel-run "{\"run_id\":\"$RUN_CANCELLED\"}"
start_worker worker3 WORKER_CONCURRENCY=2

# What the pages read, requested as they request it.
WEEK_AGO=$(date -u -d '7 days ago' +%Y-%m-%dT%H:%M:%S.000Z)
save summary GET /api/v2/analytics/summary
save runs GET "/api/v2/analytics/runs?limit=30&page=1"
save runs-week GET "/api/v2/analytics/runs?started_after=$WEEK_AGO&limit=100&page=1"
save failed-workers GET "/api/v2/analytics/failed-workers?limit=50"
save run-completed GET "/api/v2/analytics/runs/$RUN_OK"
save run-failed GET "/api/v2/analytics/runs/$RUN_BAD"
save run-cancelled GET "/api/v2/analytics/runs/$RUN_CANCELLED"
curl -s "$API/health" >"$OUT/health.json"
req GET /metrics "" "$H"
cp "$T/body" "$OUT/metrics.txt"
save rules GET "/api/v2/pricing-rules?include_inactive=true"
save diamonds GET "/api/v2/diamonds?include=facets&sort_by=created_at&sort_order=desc&page=1&limit=25"
# A priced stone with every field the drawer shows (image, video, certificate, measurements with
# the length, width and depth it reads: the simulator leaves some out, and ids are random).
DIAMOND_ID=$(psql_q "SELECT id FROM diamonds WHERE status = 'active' AND pricing_rule_id IS NOT NULL
                     AND cut IS NOT NULL AND fluorescence IS NOT NULL AND image_url IS NOT NULL AND video_url IS NOT NULL AND certificate_pdf_url IS NOT NULL
                     AND measurements IS NOT NULL AND measurements::jsonb ?& array['length', 'width', 'depth']
                     ORDER BY id LIMIT 1")
check "a priced stone with media to open" test -n "$DIAMOND_ID"
save diamond GET "/api/v2/diamonds/$DIAMOND_ID"
save query-count POST /api/v2/analytics/query/diamonds \
    '{"select":"id","filters":[{"column":"status","operator":"eq","value":"active"},{"column":"feed_price","operator":"gte","value":1}],"limit":1}'
EXPECT=400 save validation-error GET "/api/v2/diamonds?carat_min=abc"
# The actions' answers (their message is shown).
save retry POST /api/v2/triggers/retry-workers "{\"run_id\":\"$RUN_BAD\"}"
wait_run_terminal "$RUN_BAD" 300
save consolidate POST /api/v2/triggers/consolidate "{\"run_id\":\"$RUN_BAD\",\"force\":true}"
wait_until 120 run_completed "$RUN_BAD"
save scheduler POST /api/v2/triggers/scheduler '{"run_type":"incremental"}'
# The scheduler it started has planned its run (or found nothing to do) before the API stops.
sched_settled() { [ "$(psql_q "SELECT count(*) FROM scheduler_requests WHERE status IN ('pending', 'running')")" = 0 ]; }
wait_until 60 sched_settled
stop_api api

# When the scheduler cannot be started the API answers with the command to run by hand (an
# Azure job trigger whose endpoint does not answer).
DEAD=$(free_port)
start_api api_azure HMAC_SECRETS='{}' AZURE_SUBSCRIPTION_ID=sub AZURE_RESOURCE_GROUP=rg AZURE_SCHEDULER_JOB_NAME=job \
    AZURE_MANAGEMENT_ENDPOINT="http://127.0.0.1:$DEAD" IDENTITY_ENDPOINT="http://127.0.0.1:$DEAD/token" IDENTITY_HEADER=h
psql_q "UPDATE run_metadata SET cancelled_at = now() WHERE completed_at IS NULL AND cancelled_at IS NULL;
        UPDATE scheduler_requests SET status = 'done'" >/dev/null
EXPECT=503 save manual-command POST /api/v2/triggers/scheduler '{"run_type":"full"}'
stop_api api_azure

rc=0
node "$DM_SOURCE_DIR/tests/browser/vocabulary.mjs" "$DM_SOURCE_DIR/web/dashboard/js" "$OUT" >"$T/vocabulary.log" 2>&1 || rc=$?
cat "$T/vocabulary.log"
check_eq "every field the dashboard reads is one the API emits" 0 "$rc"
if [ -n "${DM_VOCAB_KEEP:-}" ]; then rm -rf "$DM_VOCAB_KEEP" && cp -r "$OUT" "$DM_VOCAB_KEEP"; fi
finish
