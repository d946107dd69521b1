#!/usr/bin/env bash
# bench/file_feed.sh - a file feed's 500,000-row snapshot read end to end (fetch, CSV or
# JSON-lines tokenizer, row mapping; rows counted, not stored) by bench_file_feed:
#   csv_file_rows_per_cpu_s    rows per CPU second, CSV through file:// (the parser's cost; the
#                              wall-clock figure beside it depends on the machine's other load)
#   csv_file_rows_per_s        rows per wall-clock second, same run
#   csv_file_peak_rss_mb       peak RSS of that process: bounded, whatever the file size
#   csv_http_rows_per_s        CSV served by python3 -m http.server on loopback
#   csv_http_peak_rss_mb
#   jsonl_file_rows_per_cpu_s  the same file as JSON lines through file://
#   worker_csv_stones_per_s    the worker ingesting the CSV as a file feed's snapshot
#                              (FEEDS=bench, file://): scheduler exit to partition completed,
#                              stones written to raw_diamonds_bench per second
#   worker_csv_peak_rss_mb     the worker's peak RSS over that run (VmHWM)
#   worker_csv_cpu_s           the worker's CPU seconds for it
#   worker_unchanged_s         the next run on the unchanged file (no read: the file's
#                              validators match; every stone marked seen), after consolidation
# The generated files: the simulator's header set, 1 row in 200 bad (unknown shape).
# FILE_FEED_WORKER=0 skips the worker part (no PostgreSQL); FILE_FEED_ROWS=N another size.
# Writes $BENCH_OUT/file_feed.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/scripts/lib.sh"
bench_env
ROWS=500000
if [ "${BENCH_QUICK:-0}" = 1 ]; then ROWS=100000; fi
ROWS=${FILE_FEED_ROWS:-$ROWS}
B=$DM_BUILD_DIR/bench_file_feed

work_dir bench-file-feed

"$B" generate "$tmp/inventory.csv" "$ROWS"
"$B" generate "$tmp/inventory.jsonl" "$ROWS"
echo "generated $ROWS rows: $(du -m "$tmp/inventory.csv" | cut -f1) MB CSV, $(du -m "$tmp/inventory.jsonl" | cut -f1) MB JSON lines"

csv_file=$("$B" read "file://$tmp/inventory.csv")
echo "csv file://: $csv_file"
jsonl_file=$("$B" read "file://$tmp/inventory.jsonl")
echo "jsonl file://: $jsonl_file"

port=$(free_port)
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$tmp" >"$tmp/http.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
done
csv_http=$("$B" read "http://127.0.0.1:$port/inventory.csv")
echo "csv http://: $csv_http"

# --- the worker: a 500,000-row snapshot into raw_diamonds_bench ---------------------------------
worker_json='"worker_csv_stones_per_s": null, "worker_csv_peak_rss_mb": null, "worker_csv_cpu_s": null, "worker_unchanged_s": null'
if [ "${FILE_FEED_WORKER:-1}" = 1 ]; then
    DIAMOND_BIN=${DIAMOND_BIN:-$DM_BUILD_DIR/diamond}
    chmod 755 "$tmp" # the cluster runs as the postgres user when we are root
    pgport=$(free_port)
    "$DIAMOND_BIN" db start --dir "$tmp/pg" --port "$pgport" --fast >/dev/null
    stop_db() { "$DIAMOND_BIN" db stop --dir "$tmp/pg" >/dev/null 2>&1 || true; _work_dir_cleanup; }
    trap stop_db EXIT
    psql -qAt "postgresql://postgres@127.0.0.1:$pgport/postgres" -c "CREATE DATABASE bench" >/dev/null
    export DATABASE_URL=postgresql://postgres@127.0.0.1:$pgport/bench LOG_LEVEL=warn
    export FEEDS=bench FEED_BENCH_TYPE=file FEED_BENCH_URL="file://$tmp/inventory.csv"
    export WATERMARK_DIR=$tmp/wm
    "$DIAMOND_BIN" migrate >/dev/null
    q() { psql -qAt "$DATABASE_URL" -c "$1"; }
    WORKER_CONCURRENCY=1 "$DIAMOND_BIN" worker >"$tmp/worker.log" 2>&1 &
    wpid=$!
    pids+=("$wpid")
    plan() { "$DIAMOND_BIN" scheduler --feed bench --full >/dev/null; }
    run_done() { [ "$(q "SELECT count(*) FILTER (WHERE completed OR failed) FROM partition_progress WHERE run_id = '$1'")" = 1 ]; }
    wait_for() { for _ in $(seq 1 6000); do "$@" && return 0; sleep 0.1; done; echo "timeout: $*" >&2; return 1; }
    cpu0=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$wpid/stat")
    plan
    t0=$(date +%s.%N)
    run=$(q "SELECT run_id FROM run_metadata WHERE feed = 'bench' ORDER BY started_at DESC LIMIT 1")
    wait_for run_done "$run"
    t1=$(date +%s.%N)
    cpu1=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$wpid/stat")
    rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status")
    stones=$(q "SELECT records FROM partition_progress WHERE run_id = '$run'")
    # A failed or refused read is no figure: the run completed and stored every good row.
    [ "$(q "SELECT completed FROM partition_progress WHERE run_id = '$run'")" = t ] &&
        [ "$stones" = $((ROWS - ROWS / 200)) ] ||
        { echo "file_feed: the worker's run did not store the file ($stones stones)" >&2; exit 1; }
    echo "worker: $stones stones in $(awk "BEGIN {printf \"%.1f\", $t1 - $t0}") s, peak RSS $((rss_kb / 1024)) MB"
    "$DIAMOND_BIN" consolidator >"$tmp/consolidator.log" 2>&1 &
    pids+=($!)
    wait_for bash -c "[ \"\$(psql -qAt '$DATABASE_URL' -c \"SELECT completed_at IS NOT NULL FROM run_metadata WHERE run_id = '$run'\")\" = t ]"
    plan
    t2=$(date +%s.%N)
    run2=$(q "SELECT run_id FROM run_metadata WHERE feed = 'bench' ORDER BY started_at DESC LIMIT 1")
    wait_for run_done "$run2"
    t3=$(date +%s.%N)
    [ "$(q "SELECT completed FROM partition_progress WHERE run_id = '$run2'")|$(q "SELECT detail->>'notModified' FROM run_events WHERE run_id = '$run2' AND event = 'snapshot_read'")" = "t|true" ] ||
        { echo "file_feed: the unchanged file's run was not a completed 304" >&2; exit 1; }
    echo "unchanged file: run's partition done in $(awk "BEGIN {printf \"%.2f\", $t3 - $t2}") s"
    worker_json=$(awk -v n="$stones" -v a="$t0" -v b="$t1" -v c0="$cpu0" -v c1="$cpu1" -v r="$rss_kb" -v u0="$t2" -v u1="$t3" \
        'BEGIN {printf "\"worker_csv_stones_per_s\": %.0f, \"worker_csv_peak_rss_mb\": %.1f, \"worker_csv_cpu_s\": %.2f, \"worker_unchanged_s\": %.2f", n / (b - a), r / 1024, c1 - c0, u1 - u0}')
fi

field() { echo "$1" | sed -E "s/.*\"$2\":([0-9.]+).*/\1/"; }
cat > "$BENCH_OUT/file_feed.json" <<JSON
{"rows": $ROWS,
 "csv_file_rows_per_cpu_s": $(field "$csv_file" rows_per_cpu_s),
 "csv_file_rows_per_s": $(field "$csv_file" rows_per_s),
 "csv_file_peak_rss_mb": $(field "$csv_file" peak_rss_mb),
 "csv_file_bad_rows": $(field "$csv_file" bad_rows),
 "csv_http_rows_per_s": $(field "$csv_http" rows_per_s),
 "csv_http_peak_rss_mb": $(field "$csv_http" peak_rss_mb),
 "jsonl_file_rows_per_cpu_s": $(field "$jsonl_file" rows_per_cpu_s),
 "jsonl_file_peak_rss_mb": $(field "$jsonl_file" peak_rss_mb),
 $worker_json,
 "targets": {"csv_file_peak_rss_mb": "< 64", "csv_http_peak_rss_mb": "< 64",
             "jsonl_file_peak_rss_mb": "< 64", "csv_file_bad_rows": "== $((ROWS / 200))",
             "worker_csv_peak_rss_mb": "< 128"}}
JSON
cat "$BENCH_OUT/file_feed.json"
