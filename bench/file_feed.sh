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
# The generated files: the simulator's header set, 1 row in 200 bad (unknown shape).
# Writes $BENCH_OUT/file_feed.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DM_BUILD_DIR=${DM_BUILD_DIR:-$ROOT/build}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$BENCH_OUT"
. "$ROOT/scripts/lib.sh"
ROWS=500000
if [ "${BENCH_QUICK:-0}" = 1 ]; then ROWS=100000; fi
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
 "targets": {"csv_file_peak_rss_mb": "< 64", "csv_http_peak_rss_mb": "< 64",
             "jsonl_file_peak_rss_mb": "< 64", "csv_file_bad_rows": "== $((ROWS / 200))"}}
JSON
cat "$BENCH_OUT/file_feed.json"
