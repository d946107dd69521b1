#!/usr/bin/env bash
# status_cmd.sh - `diamond status` against real state: a finished run and a running run with
# completed, failed and running partitions, a dead-lettered message and a watermark. Checks the
# tables name the runs with their derived status, the latest run's partitions, the queue depths
# and the watermark age; colours only on a terminal.
. "$DM_SOURCE_DIR/tests/lib/common.sh"

new_db status
export WATERMARK_DIR=$T/wm
mkdir -p "$WATERMARK_DIR"

OLD=$(psql_q "INSERT INTO run_metadata (run_type, updated_from, updated_to, expected_workers,
                started_at, completed_at, consolidation_completed_at, stats_new)
              VALUES ('full', '2000-01-01', now() - interval '1 day', 1, now() - interval '1 day',
                now() - interval '23 hours', now() - interval '23 hours', 1234)
              RETURNING run_id")
psql_q "INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, estimated_records,
          records, completed) VALUES ('$OLD', 'p0', 0, 99999, 1234, 1234, true)" >/dev/null
NEW=$(psql_q "INSERT INTO run_metadata (run_type, updated_from, updated_to, expected_workers)
              VALUES ('incremental', now() - interval '1 day', now(), 3) RETURNING run_id")
psql_q "INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, estimated_records,
          records, next_offset, completed, failed, pages, page_errors, last_error) VALUES
        ('$NEW', 'p00', 0, 999, 1500, 1500, 1500, true, false, 30, 0, NULL),
        ('$NEW', 'p01', 1000, 4999, 1400, 350, 350, false, true, 7, 5, 'feed: HTTP 503 from Nivoda'),
        ('$NEW', 'p02', 5000, 99999, 1300, 100, 100, false, false, 2, 0, NULL)" >/dev/null
psql_q "INSERT INTO queue_dead_letters (seq, queue, message_id, body, enqueued_at, delivery_count, reason)
        VALUES (424242, 'consolidate', 'consolidate:x', convert_to('{}', 'UTF8'), now(), 3, 'test')" >/dev/null
printf '{"lastUpdatedAt":"%s","lastRunId":"%s","lastRunCompletedAt":"%s"}' \
    "$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%S.000Z)" "$OLD" "$(date -u -d '-23 hours' +%Y-%m-%dT%H:%M:%S.000Z)" \
    >"$WATERMARK_DIR/watermark.json"

rc=0
"$DIAMOND" status >"$T/out" 2>"$T/err" || rc=$?
cat "$T/out"
check_eq "status exits 0" 0 "$rc"
line() { grep -E "$1" "$T/out" | head -1; }
check "runs: the running run is listed first" \
    bash -c "grep -A2 '^RUN' '$T/out' | sed -n 3p | grep -q '${NEW:0:8}'"
check "runs: the running run's derived status is partial (one failed, one running)" \
    bash -c "echo '$(line "^  ${NEW:0:8}")' | grep -q ' partial '"
check "runs: the old run is completed with its stats" \
    bash -c "echo '$(line "^  ${OLD:0:8}")' | grep -q ' completed .*+1234 new'"
check "partitions: of the latest run" grep -q "PARTITIONS of run $NEW (incremental)" "$T/out"
check "partitions: completed p00" grep -qE "^  p00 +0-999 +1,500 +1,500 +completed" "$T/out"
check "partitions: failed p01 with its error" \
    grep -qE "^  p01 +1000-4999 .* failed .* 5 .*feed: HTTP 503 from Nivoda" "$T/out"
check "partitions: running p02" grep -qE "^  p02 .* running " "$T/out"
check "queues: backend named" grep -q "QUEUES (pg backend)" "$T/out"
check "queues: consolidate has 1 dead-lettered message" grep -qE "^  consolidate +0 +0 +1 " "$T/out"
check "queues: work-items empty" grep -qE "^  work-items +0 +0 +0 " "$T/out"
check "watermark: last run id" grep -q "lastRunId           $OLD" "$T/out"
check "watermark: age about a day" grep -qE "age (1d00h|23h5[0-9]m)" "$T/out"
check "no colours when stdout is not a terminal" bash -c "! grep -q $'\033\\[' '$T/out'"
check "log lines stay off stdout" bash -c "! grep -q '\"level\"' '$T/out'"

"$DIAMOND" status --run "${OLD:0:8}" --runs 1 >"$T/old" 2>&1
check "--run shows that run's partitions" grep -q "PARTITIONS of run $OLD (full)" "$T/old"
check "--runs 1 lists one run" test "$(grep -cE '^  [0-9a-f]{8}  ' "$T/old")" = 1

if command -v script >/dev/null 2>&1; then
    script -qec "$DIAMOND status" /dev/null >"$T/tty" 2>&1 || true
    check "colours on a terminal" grep -q $'\033\[3[123]m' "$T/tty"
    NO_COLOR=1 script -qec "$DIAMOND status" /dev/null >"$T/tty2" 2>&1 || true
    check "NO_COLOR turns colours off" bash -c "! grep -q $'\033\\[3' '$T/tty2'"
fi

rc=0
"$DIAMOND" status --runs nope >/dev/null 2>&1 || rc=$?
check_eq "bad --runs exits 2" 2 "$rc"
finish
