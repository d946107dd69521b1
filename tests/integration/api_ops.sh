#!/usr/bin/env bash
# api_ops.sh - the operator side of the API over real HTTP: analytics (summary, runs with
# filters/paging/derived status, run detail, failed workers, feeds, consolidation, the
# allowlisted query endpoint), triggers (scheduler incl. 409 and 503 manual_command,
# consolidate, retry-workers from next_offset, cancel-run, failed-workers), pricing rules CRUD
# and reprice, /metrics, /openapi.json and /api-docs. (issue 7: requirements 10-13)
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db api_ops
seed_diamonds 60
A=11111111-1111-4111-8111-111111111111 # full run: 2 completed, 1 failed -> failed
B=22222222-2222-4222-8222-222222222222 # incremental, 1 completed, 1 running -> running
C=33333333-3333-4333-8333-333333333333 # completed
psql_q "
INSERT INTO run_metadata (run_id, run_type, updated_from, updated_to, expected_workers, started_at, completed_at, consolidation_completed_at)
 VALUES ('$A', 'full', '2000-01-01', now() - interval '2 hours', 3, now() - interval '2 hours', NULL, NULL),
        ('$B', 'incremental', now() - interval '1 day', now() - interval '5 minutes', 2, now() - interval '5 minutes', NULL, NULL),
        ('$C', 'full', '2000-01-01', now() - interval '3 days', 1, now() - interval '3 days', now() - interval '3 days' + interval '20 minutes', now() - interval '3 days' + interval '20 minutes');
INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, estimated_records, next_offset, records, completed, failed, updated_at)
 VALUES ('$A', 'p0', 0, 999, 100, 100, 100, true, false, now() - interval '2 hours'),
        ('$A', 'p1', 1000, 4999, 100, 100, 100, true, false, now() - interval '2 hours'),
        ('$A', 'p2', 5000, 99999, 300, 150, 150, false, true, now() - interval '2 hours'),
        ('$B', 'p0', 0, 999, 10, 10, 10, true, false, now()),
        ('$B', 'p1', 1000, 99999, 10, 0, 0, false, false, now()),
        ('$C', 'p0', 0, 99999, 60, 60, 60, true, false, now() - interval '3 days');
INSERT INTO worker_runs (run_id, partition_id, worker_id, status, records_processed, error_message, completed_at)
 VALUES ('$A', 'p0', 'w1', 'completed', 100, NULL, now()), ('$A', 'p1', 'w1', 'completed', 100, NULL, now()),
        ('$A', 'p2', 'w2', 'failed', 150, 'feed timeout', now()), ('$B', 'p0', 'w3', 'completed', 10, NULL, now()),
        ('$B', 'p1', 'w3', 'running', 0, NULL, NULL);
INSERT INTO run_events (run_id, partition_id, event, detail) VALUES ('$A', NULL, 'run_planned', '{\"partitions\":3}'),
        ('$A', 'p2', 'partition_failed', '{\"error\":\"feed timeout\"}');
INSERT INTO raw_diamonds_nivoda (supplier_stone_id, offer_id, payload, payload_hash, run_id, last_seen_run_id, consolidation_status)
 SELECT 'raw-'||g, 'o-'||g, '{}', repeat('0', 64), '$A', '$A', CASE WHEN g <= 6 THEN 'done' ELSE 'pending' END FROM generate_series(1, 10) g;" >/dev/null
start_api api HMAC_SECRETS='{}'
ADMIN=$(new_key ops admin,read)
H="X-API-Key: $ADMIN"

# --- 10. analytics ---
req GET /api/v2/analytics/summary "" "$H"
check_eq "summary 200" 200 "$STATUS"
check_eq "summary active count" "$(psql_q "SELECT count(*) FROM diamonds WHERE status='active'")" "$(jqb .data.totalActive)"
check_eq "summary last run is the newest (B)" "$B" "$(jqb .data.lastRun.runId)"
req GET /api/v2/analytics/runs "" "$H"
check_eq "runs 200" 200 "$STATUS"
check_eq "runs total" 3 "$(jqb .pagination.total)"
check_eq "derived statuses (newest first)" "running failed completed" "$(jqb '[.data[].status] | join(" ")')"
check_eq "run counts" "3 2 1" "$(jqb '.data[1] | "\(.expectedWorkers) \(.completedWorkers) \(.failedWorkers)"')"
req GET "/api/v2/analytics/runs?run_type=full" "" "$H"
check_eq "runs filter run_type" "2 full" "$(jqb '"\(.pagination.total) \([.data[].runType] | unique | join(","))"')"
req GET "/api/v2/analytics/runs?status=failed" "" "$H"
check_eq "runs filter by derived status" "1 $A" "$(jqb '"\(.pagination.total) \(.data[0].runId)"')"
req GET "/api/v2/analytics/runs?limit=1&page=2" "" "$H"
check_eq "runs paging" "1 $A 3" "$(jqb '"\(.data | length) \(.data[0].runId) \(.pagination.totalPages)"')"
req GET "/api/v2/analytics/runs?started_after=$(date -u -d '1 day ago' +%Y-%m-%dT%H:%M:%SZ)" "" "$H"
check_eq "runs started_after" 2 "$(jqb .pagination.total)"
req GET "/api/v2/analytics/runs?status=bogus" "" "$H"
check_eq "runs bad status -> 400" 400 "$STATUS"
req GET "/api/v2/analytics/runs?run_type=weekly" "" "$H"
check_eq "runs bad run_type -> 400" 400 "$STATUS"
req GET "/api/v2/analytics/runs?started_before=yesterday" "" "$H"
check_eq "runs bad time -> 400" 400 "$STATUS"
req GET "/api/v2/analytics/runs/$A" "" "$H"
check_eq "run detail 200" 200 "$STATUS"
check_eq "run detail partitions" "p0 p1 p2" "$(jqb '[.data.partitions[].partitionId] | join(" ")')"
check_eq "run detail worker info" "failed feed timeout 150" "$(jqb '.data.partitions[2] | "\(.status) \(.errorMessage) \(.nextOffset)"')"
check_eq "run detail events" "run_planned partition_failed" "$(jqb '[.data.events[].event] | join(" ")')"
req GET /api/v2/analytics/runs/nope "" "$H"
check_eq "run detail malformed -> 400" 400 "$STATUS"
req GET /api/v2/analytics/runs/44444444-4444-4444-8444-444444444444 "" "$H"
check_eq "run detail unknown -> 404" 404 "$STATUS"
req GET /api/v2/analytics/failed-workers "" "$H"
check_eq "failed workers" "$A p2 feed timeout" "$(jqb '.data[0] | "\(.runId) \(.partitionId) \(.errorMessage)"')"
req GET /api/v2/analytics/feeds "" "$H"
check_eq "feeds" "nivoda $(psql_q "SELECT count(*) FROM diamonds WHERE status='active'") 10" "$(jqb '.data[0] | "\(.feed) \(.active) \(.raw.total)"')"
check_eq "feeds: the feed's last completed run (C)" \
    "$(psql_q "SELECT to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM run_metadata WHERE run_id = '$C'")" \
    "$(jqb '.data[0].lastRunCompletedAt')"
req GET /api/v2/analytics/consolidation "" "$H"
check_eq "consolidation list" 200 "$STATUS"
req GET "/api/v2/analytics/consolidation/$A" "" "$H"
check_eq "consolidation progress of a run" "6 4 10 0.6" "$(jqb '.data | "\(.raw.done) \(.raw.pending) \(.raw.total) \(.progress)"')"
req GET /api/v2/analytics/consolidation/xyz "" "$H"
check_eq "consolidation malformed id -> 400" 400 "$STATUS"

q() { req POST "/api/v2/analytics/query/$1" "$2" "$H"; }
q diamonds '{"filters":[{"column":"shape","operator":"eq","value":"ROUND"},{"column":"carats","operator":"gte","value":0.5}],"limit":1000}'
check_eq "query eq+gte" "$(psql_q "SELECT count(*) FROM diamonds WHERE shape='ROUND' AND carats >= 0.5")" "$(jqb '.data | length')"
check_eq "default select stays inside the allowlist" false "$(jqb '.data[0] | has("contentHash") or has("measurements") or has("content_hash")')"
check_eq "query keys are column names (the reference's rows)" true "$(jqb '.data[0] | has("retail_price") and has("price_model_price")')"
check_eq "query keeps null columns (every row has every column)" "true 1" "$(jqb '"\([.data[][] | select(. == null)] | length > 0) \([.data[] | keys | length] | unique | length)"')"
check_eq "query total counts every match" "$(psql_q "SELECT count(*) FROM diamonds WHERE shape='ROUND' AND carats >= 0.5")" "$(jqb .pagination.total)"
q diamonds '{"select":["id","color"],"filters":[{"column":"color","operator":"in","value":["D","E"]}],"order_by":{"column":"color","direction":"desc"},"limit":5}'
check_eq "query select+in+order" "E id,color" "$(jqb '"\(.data[0].color) \(.data[0] | keys_unsorted | join(","))"')"
q diamonds '{"filters":[{"column":"shape","operator":"ilike","value":"%und"},{"column":"cut","operator":"is","value":null}]}'
check_eq "query ilike + is null" "$(psql_q "SELECT count(*) FROM diamonds WHERE shape ILIKE '%und' AND cut IS NULL")" "$(jqb '.data | length')"
q diamonds '{"filters":[{"column":"feed_price","operator":"neq","value":107},{"column":"feed_price","operator":"lt","value":200},{"column":"feed_price","operator":"gt","value":100},{"column":"feed_price","operator":"lte","value":199}]}'
check_eq "query neq/lt/gt/lte" "$(psql_q "SELECT count(*) FROM diamonds WHERE feed_price <> 107 AND feed_price < 200 AND feed_price > 100")" "$(jqb '.data | length')"
q diamonds '{"filters":[{"column":"supplier_stone_id","operator":"like","value":"stone-1%"}]}'
check_eq "query like" "$(psql_q "SELECT count(*) FROM diamonds WHERE supplier_stone_id LIKE 'stone-1%'")" "$(jqb '.data | length')"
q run_metadata '{"filters":[{"column":"run_type","operator":"eq","value":"full"}]}'
check_eq "query run_metadata" 2 "$(jqb '.data | length')"
q worker_runs '{"filters":[{"column":"status","operator":"eq","value":"failed"}]}'
check_eq "query worker_runs" "p2" "$(jqb '.data[0].partition_id')"
q diamonds '{"filters":[{"column":"content_hash","operator":"eq","value":"x"}]}'
check_eq "query unknown column -> 400" 400 "$STATUS"
q diamonds '{"select":["payload"]}'
check_eq "query select outside the allowlist -> 400" 400 "$STATUS"
q diamonds '{"filters":[{"column":"shape","operator":"regex","value":"x"}]}'
check_eq "query unknown operator -> 400" 400 "$STATUS"
q diamonds '{"limit":1001}'
check_eq "query limit > 1000 -> 400" 400 "$STATUS"
q api_keys '{}'
check_eq "query table outside the allowlist -> 400" 400 "$STATUS"
q diamonds '{"filters":[{"column":"carats","operator":"gt","value":"abc"}]}'
check_eq "query value of the wrong type -> 400" 400 "$STATUS"
q diamonds '{"filters":[{"column":"shape","operator":"eq","value":"x'"'"'; DROP TABLE diamonds; --"}]}'
check_eq "query injection attempt is just a value" "200 0" "$STATUS $(jqb '.data | length')"
check_eq "diamonds table intact" 60 "$(psql_q "SELECT count(*) FROM diamonds")"

# --- 11. triggers ---
req GET /api/v2/triggers/failed-workers/bad "" "$H"
check_eq "failed-workers malformed id -> 400" 400 "$STATUS"
req GET "/api/v2/triggers/failed-workers/$A" "" "$H"
check_eq "failed-workers of a run" "1 p2 150" "$(jqb '.data | "\(.total_failed) \(.workers[0].partition_id) \(.workers[0].next_offset)"')"
req POST /api/v2/triggers/scheduler '{"run_type":"weekly"}' "$H"
check_eq "scheduler bad run_type -> 400" 400 "$STATUS"
req POST /api/v2/triggers/scheduler '{"run_type":"full"}' "$H"
check_eq "scheduler while run B is in progress -> 409" 409 "$STATUS"
req POST /api/v2/triggers/consolidate '{"run_id":"44444444-4444-4444-8444-444444444444"}' "$H"
check_eq "consolidate unknown run -> 404" 404 "$STATUS"
req POST /api/v2/triggers/consolidate "{\"run_id\":\"$A\"}" "$H"
check_eq "consolidate with failures and no force -> 400" 400 "$STATUS"
req POST /api/v2/triggers/consolidate "{\"run_id\":\"$A\",\"force\":\"true\"}" "$H"
check_eq "consolidate with string force -> 400" "400 force" "$STATUS $(jqb .error.details.param)"
req POST /api/v2/triggers/consolidate '{"run_id":"not-a-uuid"}' "$H"
check_eq "consolidate malformed run_id -> 400" 400 "$STATUS"
req POST /api/v2/triggers/consolidate "{\"run_id\":\"$A\",\"force\":true}" "$H"
check_eq "consolidate with force -> 202" 202 "$STATUS"
check_eq "CONSOLIDATE queued" 1 "$(psql_q "SELECT count(*) FROM queue_messages WHERE queue = 'consolidate' AND message_id = 'consolidate:$A' AND convert_from(body, 'UTF8')::json->>'force' = 'true'")"
req POST /api/v2/triggers/retry-workers "{\"run_id\":\"$A\"}" "$H"
check_eq "retry-workers -> 202" "202 1" "$STATUS $(jqb .data.retried)"
check_eq "retry resumes at next_offset" 150 "$(jqb '.data.partitions[0].offset')"
check_eq "retry message id has the :r suffix" "$A:p2:150:r1" "$(psql_q "SELECT message_id FROM queue_messages WHERE queue = 'work-items'")"
check_eq "WORK_ITEM offset is next_offset" 150 "$(psql_q "SELECT convert_from(body, 'UTF8')::json->>'offset' FROM queue_messages WHERE queue = 'work-items'")"
check_eq "partition flag cleared" "false 1" "$(psql_q "SELECT failed || ' ' || attempts FROM partition_progress WHERE run_id = '$A' AND partition_id = 'p2'")"
check_eq "partition_retried event" 1 "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$A' AND event = 'partition_retried'")"
req POST /api/v2/triggers/retry-workers "{\"run_id\":\"$A\"}" "$H"
check_eq "retry with nothing failed -> 400 (the reference's)" 400 "$STATUS"
req POST /api/v2/triggers/cancel-run "{\"run_id\":\"$B\"}" "$H"
check_eq "cancel-run -> 200" "200 1" "$STATUS $(jqb .data.partitionsCancelled)"
check_eq "run cancelled, unfinished partition failed+cancelled" "true true true" "$(psql_q "SELECT (r.cancelled_at IS NOT NULL) || ' ' || p.failed || ' ' || p.cancelled FROM run_metadata r JOIN partition_progress p USING (run_id) WHERE run_id = '$B' AND partition_id = 'p1'")"
req POST /api/v2/triggers/cancel-run "{\"run_id\":\"$B\"}" "$H"
check_eq "cancel twice -> 409" 409 "$STATUS"
req GET "/api/v2/analytics/runs/$B" "" "$H"
check_eq "cancelled run status" cancelled "$(jqb .data.status)"
# A is still in progress (its retried partition runs): trigger refused; finish it.
psql_q "UPDATE run_metadata SET cancelled_at = now() WHERE run_id = '$A'" >/dev/null
req POST /api/v2/triggers/scheduler '{"run_type":"incremental"}' "$H"
check_eq "scheduler local execution -> 202" "202 local" "$STATUS $(jqb .data.executor)"
REQ=$(jqb .data.requestId)
check_eq "scheduler_requests row" "incremental key:ops" "$(psql_q "SELECT run_type || ' ' || requested_by FROM scheduler_requests WHERE id = '$REQ'")"
check "spawned scheduler pid reported" sh -c "jq -r .data.execution '$T/body' | grep -q '^local-pid-[0-9]'"
stop_api api
# Azure configured but unreachable: 503 with manual_command.
DEAD=$(free_port)
start_api api_azure HMAC_SECRETS='{}' AZURE_SUBSCRIPTION_ID=sub AZURE_RESOURCE_GROUP=rg AZURE_SCHEDULER_JOB_NAME=job \
    AZURE_MANAGEMENT_ENDPOINT="http://127.0.0.1:$DEAD" IDENTITY_ENDPOINT="http://127.0.0.1:$DEAD/token" IDENTITY_HEADER=h
psql_q "UPDATE scheduler_requests SET status = 'done'" >/dev/null
req POST /api/v2/triggers/scheduler '{"run_type":"full"}' "$H"
check_eq "neither executor can run -> 503" 503 "$STATUS"
check_eq "503 carries manual_command" "diamond scheduler --full" "$(jqb .manual_command)"
check_eq "failed request recorded" failed "$(psql_q "SELECT status FROM scheduler_requests ORDER BY created_at DESC LIMIT 1")"

# --- 12. pricing rules ---
req POST /api/v2/pricing-rules '{"name":"rounds","priority":10,"shapes":["round"],"carat_min":0.5,"carat_max":5,"markup_ratio":2,"rating":8}' "$H"
check_eq "create rule -> 201" 201 "$STATUS"
RULE=$(jqb .data.id)
check_eq "rule stored, shapes upper-cased" "ROUND 2" "$(jqb '"\(.data.shapes[0]) \(.data.markupRatio)"')"
for bad in '{"priority":1,"markup_ratio":0}:markup_ratio' '{"priority":1,"markup_ratio":-1}:markup_ratio' \
    '{"priority":1,"markup_ratio":1.2,"carat_min":3,"carat_max":1}:carat_min' \
    '{"priority":1,"markup_ratio":1.2,"rating":11}:rating' '{"priority":1,"markup_ratio":1.2,"rating":0}:rating' \
    '{"priority":1,"markup_ratio":1.2,"shapes":["SQUIRCLE"]}:shapes' '{"markup_ratio":1.2}:priority' \
    '{"priority":1}:markup_ratio' '{"priority":"1","markup_ratio":1.2}:priority'; do
    req POST /api/v2/pricing-rules "${bad%:*}" "$H"
    check_eq "invalid rule ${bad%:*} -> 400" "400 ${bad##*:}" "$STATUS $(jqb .error.details.param)"
done
req PUT "/api/v2/pricing-rules/$RULE" '{"markup_ratio":1.5}' "$H"
check_eq "update rule" "200 1.5 8" "$STATUS $(jqb '"\(.data.markupRatio) \(.data.rating)"')"
req PUT "/api/v2/pricing-rules/$RULE" '{"carat_min":9}' "$H"
check_eq "update violating carat_min <= stored carat_max -> 400" 400 "$STATUS"
req PUT /api/v2/pricing-rules/00000000-0000-4000-8000-000000000000 '{"markup_ratio":1.5}' "$H"
check_eq "update unknown rule -> 404" 404 "$STATUS"
req GET /api/v2/pricing-rules "" "$H"
check_eq "list rules by priority" "rounds Default markup" "$(jqb '[.data[].name] | join(" ")')"
req POST /api/v2/pricing-rules/reprice "" "$H"
check_eq "reprice -> 200" 200 "$STATUS"
check "reprice reports counts" test "$(jqb .data.updated)" -gt 0
check_eq "reprice applied the rule" 0 "$(psql_q "SELECT count(*) FROM diamonds WHERE status='active' AND shape = 'ROUND' AND carats BETWEEN 0.5 AND 5 AND retail_price <> round(feed_price * 1.5, 2)")"
req DELETE "/api/v2/pricing-rules/$RULE" "" "$H"
check_eq "delete rule" 200 "$STATUS"
req DELETE "/api/v2/pricing-rules/$RULE" "" "$H"
check_eq "delete again -> 404" 404 "$STATUS"

# --- 13. metrics, OpenAPI, docs ---
req GET /metrics "" "$H"
check_eq "metrics 200" 200 "$STATUS"
check "metrics content type" sh -c "grep -i '^content-type: text/plain' '$T/headers' >/dev/null"
for series in 'diamond_queue_depth{queue="consolidate"}' 'diamond_queue_dead_letter{queue="work-items"}' \
    diamond_worker_pages_total diamond_worker_page_errors_total diamond_worker_error_rate \
    diamond_consolidator_runs_total diamond_consolidator_failures_total \
    'diamond_api_requests_total{status_class="2xx"}' 'diamond_api_request_duration_seconds_bucket{le="+Inf"}' \
    diamond_api_request_duration_seconds_count 'diamond_active_diamonds{availability="available"}' \
    diamond_watermark_age_seconds 'diamond_run_duration_seconds{run_type="full"' \
    'diamond_api_search_cache_lookups_total{result="miss"}' 'diamond_api_search_cache_refreshes_total{by="background"}' \
    diamond_api_search_cache_refresh_failures_total; do
    check "metrics has $series" grep -qF "$series" "$T/body"
done
bad_metric_lines() { grep -v '^#' "$T/body" | grep -Ev '^[a-z_][a-z0-9_]*(\{[^}]*\})? [-+0-9.eE]+$'; }
check "metrics lines are valid exposition format" test -z "$(bad_metric_lines)"
req GET /openapi.json
check_eq "openapi 200" 200 "$STATUS"
check_eq "openapi version 3" 3 "$(jqb '.openapi | split(".")[0]')"
check_eq "both security schemes" "ApiKeyAuth HmacAuth" "$(jqb '.components.securitySchemes | keys | join(" ")')"
for route in "get /api/v2/diamonds" "get /api/v2/diamonds/{id}" "post /api/v2/diamonds/{id}/availability" \
    "post /api/v2/diamonds/{id}/hold" "post /api/v2/diamonds/{id}/purchase" "get /api/v2/analytics/summary" \
    "get /api/v2/analytics/runs" "get /api/v2/analytics/runs/{runId}" "get /api/v2/analytics/failed-workers" \
    "get /api/v2/analytics/feeds" "get /api/v2/analytics/consolidation" "get /api/v2/analytics/consolidation/{runId}" \
    "post /api/v2/analytics/query/{table}" "post /api/v2/triggers/scheduler" "post /api/v2/triggers/consolidate" \
    "post /api/v2/triggers/retry-workers" "post /api/v2/triggers/cancel-run" "get /api/v2/triggers/failed-workers/{runId}" \
    "get /api/v2/pricing-rules" "post /api/v2/pricing-rules" "put /api/v2/pricing-rules/{id}" \
    "delete /api/v2/pricing-rules/{id}" "post /api/v2/pricing-rules/reprice" "get /health" "get /metrics"; do
    check "openapi covers $route" test "$(jqb --arg p "${route#* }" --arg m "${route%% *}" '.paths[$p][$m] != null')" = true
done
if python3 -c 'import openapi_spec_validator' 2>/dev/null; then
    check "openapi validates (openapi-spec-validator)" python3 -c "import json,sys; from openapi_spec_validator import validate; validate(json.load(open('$T/body')))"
else
    check "openapi: every operation has responses" test "$(jqb '[.paths[][] | has("responses")] | all')" = true
fi
req GET /api-docs
check_eq "api-docs 200 html" "200 text/html; charset=utf-8" "$STATUS $(header Content-Type)"
check "api-docs loads openapi.json, no external resources" sh -c "grep -q 'openapi.json' '$T/body' && ! grep -Eq '(src|href)=\"https?:' '$T/body'"
stop_api api_azure
finish
