#!/usr/bin/env bash
# api_lookups.sh - the exact answers of the lookups the API handlers share (util.c
# api_uuid_param, api_query_row, api_lock_row, api_run_get; services/ops/retry.h): every route
# that looks one row up answers a malformed id with 400 naming its parameter, and an unknown
# one with 404 and its own message, byte for byte; retry-workers and `diamond retry` answer
# unknown, cancelled and nothing-to-retry runs with their own words, and both clear a skipped
# run's skipped_at when they reset partitions.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db api_lookups
U=44444444-4444-4444-8444-444444444444 # no such row anywhere
X=55555555-5555-4555-8555-555555555555 # cancelled run
S=66666666-6666-4666-8666-666666666666 # skipped run with a failed partition
N=77777777-7777-4777-8777-777777777777 # run with nothing failed
psql_q "
INSERT INTO run_metadata (run_id, run_type, updated_from, updated_to, expected_workers, cancelled_at, skipped_at)
 VALUES ('$X', 'full', '2000-01-01', now(), 1, now(), NULL), ('$S', 'full', '2000-01-01', now(), 1, NULL, now()),
        ('$N', 'full', '2000-01-01', now(), 1, NULL, NULL);
INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, estimated_records, next_offset, failed)
 VALUES ('$X', 'p0', 0, 99, 10, 0, true), ('$S', 'p0', 0, 99, 10, 5, true), ('$N', 'p0', 0, 99, 10, 0, false);" >/dev/null
start_api api HMAC_SECRETS='{}'
H="X-API-Key: $(new_key ops admin,read,trade)"

# answer NAME WANT_STATUS WANT_BODY: the last request's status and exact body.
answer() { check_eq "$1" "$2 $3" "$STATUS $(cat "$T/body")"; }
bad() { echo "{\"error\":{\"code\":\"VALIDATION_ERROR\",\"message\":\"$1 must be a UUID\",\"details\":{\"param\":\"$1\",\"issue\":\"must be a UUID\"}}}"; }
gone() { echo "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"$1\"}}"; }

# --- malformed ids: 400 naming the path parameter ---
req GET /api/v2/diamonds/nope "" "$H"
answer "diamond get malformed id" 400 "$(bad id)"
req POST /api/v2/diamonds/nope/hold "" "$H"
answer "hold malformed id" 400 "$(bad id)"
req GET /api/v2/analytics/runs/nope "" "$H"
answer "run detail malformed id" 400 "$(bad runId)"
req GET /api/v2/analytics/consolidation/nope "" "$H"
answer "consolidation run malformed id" 400 "$(bad runId)"
req GET /api/v2/triggers/failed-workers/nope "" "$H"
answer "failed-workers malformed id" 400 "$(bad runId)"
req DELETE /api/v2/pricing-rules/nope "" "$H"
answer "rule delete malformed id" 400 "$(bad id)"

# --- unknown ids: 404 with each route's message ---
req GET "/api/v2/diamonds/$U" "" "$H"
answer "diamond get unknown" 404 "$(gone 'Diamond not found')"
req POST "/api/v2/diamonds/$U/availability" "" "$H"
answer "availability unknown" 404 "$(gone 'Diamond not found')"
req POST "/api/v2/diamonds/$U/hold" "" "$H"
answer "hold unknown (row lock)" 404 "$(gone 'Diamond not found')"
req GET "/api/v2/analytics/runs/$U" "" "$H"
answer "run detail unknown" 404 "$(gone 'Run not found')"
req GET "/api/v2/analytics/consolidation/$U" "" "$H"
answer "consolidation run unknown" 404 "$(gone 'Run not found')"
req GET "/api/v2/triggers/failed-workers/$U" "" "$H"
answer "failed-workers unknown" 404 "$(gone 'Run not found')"
req POST /api/v2/triggers/consolidate "{\"run_id\":\"$U\"}" "$H"
answer "consolidate unknown" 404 "$(gone 'Run not found')"
req POST /api/v2/triggers/cancel-run "{\"run_id\":\"$U\"}" "$H"
answer "cancel-run unknown (row lock)" 404 "$(gone 'Run not found')"
req PUT "/api/v2/pricing-rules/$U" '{"markup_ratio":1.2}' "$H"
answer "rule update unknown" 404 "$(gone 'Pricing rule not found')"
req DELETE "/api/v2/pricing-rules/$U" "" "$H"
answer "rule delete unknown" 404 "$(gone 'Pricing rule not found')"
req GET "/api/v2/triggers/failed-workers/$N" "" "$H"
answer "failed-workers of a run without failures" 200 "{\"data\":{\"run_id\":\"$N\",\"total_failed\":0,\"workers\":[]}}"

# --- retry: API ---
req POST /api/v2/triggers/retry-workers "{\"run_id\":\"$U\"}" "$H"
answer "retry unknown run" 404 "$(gone 'Run not found')"
req POST /api/v2/triggers/retry-workers "{\"run_id\":\"$X\"}" "$H"
answer "retry cancelled run" 409 '{"error":{"code":"CONFLICT","message":"Run was cancelled; start a new run instead"}}'
req POST /api/v2/triggers/retry-workers "{\"run_id\":\"$N\"}" "$H"
answer "retry with nothing failed" 400 '{"error":{"code":"BAD_REQUEST","message":"No failed workers found for this run"}}'
req POST /api/v2/triggers/retry-workers "{\"run_id\":\"$N\",\"partition_id\":\"p0\"}" "$H"
answer "retry a partition that is not failed" 400 '{"error":{"code":"BAD_REQUEST","message":"No failed workers found with partition_id: p0"}}'
check_eq "nothing was reset" "1|1" "$(psql_q "SELECT count(*) FILTER (WHERE run_id = '$X' AND failed), count(*) FILTER (WHERE run_id = '$S' AND failed) FROM partition_progress")"

# --- retry: CLI (same service, its own words and exit codes) ---
rc=0; "$DIAMOND" retry "$U" >"$T/out" 2>"$T/err" || rc=$?
check_eq "cli retry unknown run" "1 retry: run $U not found" "$rc $(grep '^retry:' "$T/err")"
rc=0; "$DIAMOND" retry "$X" >"$T/out" 2>"$T/err" || rc=$?
check_eq "cli retry cancelled run" "1 retry: run $X was cancelled; start a new run instead" "$rc $(grep '^retry:' "$T/err")"
rc=0; "$DIAMOND" retry "$N" p0 >"$T/out" 2>"$T/err" || rc=$?
check_eq "cli retry a partition that is not failed" "0 run $N: no failed partition p0 to retry" "$rc $(cat "$T/out")"
rc=0; "$DIAMOND" retry "$S" >"$T/out" 2>"$T/err" || rc=$?
check_eq "cli retry resends from next_offset" "0 retrying partition p0 of run $S from offset 5 (attempt 1, message $S:p0:5:r1)" "$rc $(head -1 "$T/out")"
check_eq "cli retry clears skipped_at (the run is no longer 'skipped')" t "$(psql_q "SELECT skipped_at IS NULL FROM run_metadata WHERE run_id = '$S'")"
check_eq "cli event has no 'by'" '{"offset": 5, "attempt": 1}' "$(psql_q "SELECT detail FROM run_events WHERE run_id = '$S' AND event = 'partition_retried'")"
psql_q "UPDATE partition_progress SET failed = true WHERE run_id = '$S'" >/dev/null
psql_q "UPDATE run_metadata SET skipped_at = now() WHERE run_id = '$S'" >/dev/null
req POST /api/v2/triggers/retry-workers "{\"run_id\":\"$S\"}" "$H"
check_eq "api retry resends from next_offset" "202 1 0 $S:p0:5:r2" "$STATUS $(jqb '"\(.data.retried) \(.data.notSent) \(.data.partitions[0].messageId)"')"
check_eq "api retry clears skipped_at" t "$(psql_q "SELECT skipped_at IS NULL FROM run_metadata WHERE run_id = '$S'")"
check_eq "api event records who" "key:ops" "$(psql_q "SELECT detail->>'by' FROM run_events WHERE run_id = '$S' AND event = 'partition_retried' ORDER BY id DESC LIMIT 1")"

stop_api api
finish
