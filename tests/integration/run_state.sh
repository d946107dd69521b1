#!/usr/bin/env bash
# run_state.sh - one run state everywhere (store/runs.h, issue 17 item 2). A cancelled
# partition is a failed partition: a run with a completed and a cancelled partition (the row
# says cancelled without failed, as a hand edit or another version could leave it) and a run
# with a completed and a failed partition must look the same through the API's /api/v2 runs,
# `diamond status` and the consolidator (CONSOLIDATE without force: skipped, both). Before the
# store the API counted `failed` (the first run was "running" with 0 failed workers) while
# `diamond status` and the consolidator counted `failed OR cancelled`. A run cancelled with
# `diamond run cancel` is then "cancelled" with its unfinished partition failed, everywhere.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db run_state
export WATERMARK_DIR=$T/wm
mkdir -p "$WATERMARK_DIR"
X=aaaaaaaa-1111-4111-8111-111111111111 # p0 completed, p1 cancelled (not flagged failed)
Y=bbbbbbbb-2222-4222-8222-222222222222 # p0 completed, p1 failed
Z=cccccccc-3333-4333-8333-333333333333 # p0 completed, p1 running: cancelled below
psql_q "
INSERT INTO run_metadata (run_id, run_type, updated_from, updated_to, expected_workers, started_at)
 VALUES ('$X', 'full', '2000-01-01', now() - interval '1 hour', 2, now() - interval '3 minutes'),
        ('$Y', 'full', '2000-01-01', now() - interval '1 hour', 2, now() - interval '2 minutes'),
        ('$Z', 'full', '2000-01-01', now() - interval '1 hour', 2, now() - interval '1 minute');
INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, estimated_records,
   next_offset, records, completed, failed, cancelled, last_error)
 VALUES ('$X', 'p0', 0, 999, 10, 10, 10, true, false, false, NULL),
        ('$X', 'p1', 1000, 99999, 10, 5, 5, false, false, true, 'cancelled'),
        ('$Y', 'p0', 0, 999, 10, 10, 10, true, false, false, NULL),
        ('$Y', 'p1', 1000, 99999, 10, 5, 5, false, true, false, 'feed: HTTP 503'),
        ('$Z', 'p0', 0, 999, 10, 10, 10, true, false, false, NULL),
        ('$Z', 'p1', 1000, 99999, 10, 5, 5, false, false, false, NULL);
INSERT INTO worker_runs (run_id, partition_id, status) SELECT run_id, partition_id,
   CASE WHEN completed THEN 'completed' WHEN failed OR cancelled THEN 'failed' ELSE 'running' END
   FROM partition_progress;" >/dev/null

rc=0
"$DIAMOND" run cancel "$Z" >"$T/cancel.out" 2>&1 || rc=$?
check_eq "diamond run cancel exits 0" 0 "$rc"

start_api api HMAC_SECRETS='{}' API_SEARCH_INDEX=false
ADMIN=$(new_key ops admin,read,trade)
H="X-API-Key: $ADMIN"

# --- the API -------------------------------------------------------------------------------
req GET /api/v2/analytics/runs "" "$H"
check_eq "runs 200" 200 "$STATUS"
api_run() { jqb --arg id "$1" '.data[] | select(.runId == $id) |
    "\(.status) \(.completedWorkers) \(.failedWorkers) \(.runningWorkers)"'; }
check_eq "API: cancelled partition -> failed run, 1 failed worker" "failed 1 1 0" "$(api_run "$X")"
check_eq "API: failed partition -> failed run, 1 failed worker" "failed 1 1 0" "$(api_run "$Y")"
check_eq "API: cancelled run, its unfinished partition failed" "cancelled 1 1 0" "$(api_run "$Z")"
req GET "/api/v2/analytics/runs?status=failed" "" "$H"
check_eq "API: status=failed lists both" "$X $Y" \
    "$(jqb '[.data[].runId] | sort | join(" ")')"
req GET "/api/v2/analytics/runs/$X" "" "$H"
check_eq "API run page: the cancelled partition's state" cancelled \
    "$(jqb '.data.partitions[] | select(.partitionId == "p1") | .status')"
check_eq "API run page: its worker failed" failed \
    "$(jqb '.data.workers[] | select(.partitionId == "p1") | .status')"
for R in "$X" "$Y"; do
    req GET "/api/v2/triggers/failed-workers/$R" "" "$H"
    check_eq "API failed-workers of ${R:0:8}: p1" "1 p1" \
        "$(jqb '"\(.data.total_failed) \(.data.workers[0].partition_id)"')"
    req POST /api/v2/triggers/consolidate "{\"run_id\":\"$R\"}" "$H"
    check_eq "API consolidate ${R:0:8} without force: 400, 1 failed worker" "400 1" \
        "$STATUS $(jqb .error.details.failedWorkers)"
done
req POST /api/v2/analytics/query/run_metadata '{"select":["run_id","failed_workers"]}' "$H"
check_eq "API query: failed_workers 1 for each run" "1 1 1" \
    "$(jqb '[.data[] | .failed_workers] | map(tostring) | join(" ")')"

# --- diamond status ------------------------------------------------------------------------
"$DIAMOND" status --runs 10 >"$T/status" 2>"$T/status.err"
cat "$T/status"
cli_run() { awk -v id="${1:0:8}" '$1 == id { print $3, $6, $7 }' "$T/status"; }
check_eq "status: cancelled partition -> failed run, DONE 1, FAIL 1" "failed 1 1" "$(cli_run "$X")"
check_eq "status: failed partition -> failed run, DONE 1, FAIL 1" "failed 1 1" "$(cli_run "$Y")"
check_eq "status: cancelled run, FAIL 1" "cancelled 1 1" "$(cli_run "$Z")"
"$DIAMOND" status --run "$X" >"$T/parts" 2>&1
check "status --run: the partition shows as cancelled" grep -qE "^  p1 .* cancelled " "$T/parts"

# --- the consolidator ----------------------------------------------------------------------
spawn consolidator "$DIAMOND" consolidator
for R in "$X" "$Y" "$Z"; do "$DIAMOND" consolidate "$R" >/dev/null; done
skipped() { [ "$(psql_q "SELECT count(*) FROM run_metadata WHERE run_id IN ('$X', '$Y')
              AND skipped_at IS NOT NULL")" = 2 ]; }
wait_until 60 skipped
check "consolidator: both runs skipped (failed partitions, no force)" skipped
check_eq "consolidator: the skip event counts 1 failed of 2 for each" "1/2 1/2" \
    "$(psql_q "SELECT string_agg((detail->>'failed') || '/' || (detail->>'partitions'), ' '
               ORDER BY run_id) FROM run_events WHERE event = 'consolidation_skipped'")"
wait_until 30 grep -q "run was cancelled: not consolidated" "$T/consolidator.log"
check "consolidator: the cancelled run is left alone" \
    test "$(psql_q "SELECT skipped_at IS NULL AND completed_at IS NULL FROM run_metadata WHERE run_id = '$Z'")" = t
check "consolidator: nothing was consolidated, no watermark" test ! -e "$WATERMARK_DIR/watermark.json"
req GET /api/v2/analytics/runs "" "$H"
check_eq "API after the consolidator: both skipped" "skipped skipped" \
    "$(jqb --arg x "$X" --arg y "$Y" '[.data[] | select(.runId == $x or .runId == $y) | .status] | join(" ")')"
"$DIAMOND" status --runs 10 >"$T/status2" 2>/dev/null
check_eq "status after the consolidator: both skipped" "skipped skipped" \
    "$(awk -v x="${X:0:8}" -v y="${Y:0:8}" '$1 == x || $1 == y { print $3 }' "$T/status2" | xargs)"
finish
