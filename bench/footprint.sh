#!/usr/bin/env bash
# bench/footprint.sh - end to end, and what our services cost to run (the runbook's cost table,
# docs/operations.md §8): one full run of N stones (FOOTPRINT_N, default 100,000; BENCH_QUICK=1:
# 20,000) from the feed simulator through scheduler -> worker -> consolidator, each process under
# /usr/bin/time (CPU seconds user+system, peak RSS):
#   e2e_full_run_s         scheduler start -> run completed (watermark written)
#   incremental_1pct_s     then one simulated day of 1 % churn in the simulator and an incremental
#                          run: scheduler start -> completed; the changed stones must be in the
#                          catalogue afterwards (every sold/removed one gone from `active` after
#                          the next full run is the consolidator tests' business, not this one's)
# then the API under wrk for 10 s of searches (CPU ms per request, peak RSS) and the dashboard
# idle. Writes $BENCH_OUT/footprint.json with per-1000-stone CPU figures that scale to the
# seed's 500,000 diamonds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/scripts/lib.sh"
bench_env
N=${FOOTPRINT_N:-100000}
[ "${BENCH_QUICK:-0}" = 1 ] && N=20000
export LOG_LEVEL=warn

dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-footprint.XXXXXX")
chmod 755 "$dir" # the cluster runs as the postgres user when we are root
pids=()
cleanup() {
    # The time(1) wrappers do not forward signals: stop their children.
    for p in "${pids[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    "$DIAMOND_BIN" db stop --dir "$dir/pg" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
# timed NAME CMD...: run under /usr/bin/time; "user system maxrss_kb" lands in $dir/NAME.time
timed() {
    local name=$1; shift
    /usr/bin/time -o "$dir/$name.time" -f "%U %S %M" "$@" >"$dir/$name.log" 2>&1 &
    pids+=($!)
    eval "PID_$name=$!"
}
stop() { # NAME: SIGTERM the time wrapper's child and wait for the figures
    local pid_var="PID_$1"
    local tpid=${!pid_var}
    pkill -TERM -P "$tpid" 2>/dev/null || true
    wait "$tpid" 2>/dev/null || true
}
wait_for() { # TIMEOUT_S CMD...
    local end=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && { echo "timeout: $*" >&2; return 1; }
        sleep 0.2
    done
}
cpu_s() { awk '{printf "%.2f", $1 + $2}' "$dir/$1.time"; }
rss_mb() { awk '{printf "%.1f", $3 / 1024}' "$dir/$1.time"; }

bench_db "$dir/pg"
export WATERMARK_DIR=$dir/wm
psql_q() { psql -qAt -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }

feedport=$(free_port)
timed feedsim "$DIAMOND_BIN" feed-sim --port "$feedport" --count "$N" --threads 8
wait_for 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$feedport"
export NIVODA_ENDPOINT="http://127.0.0.1:$feedport/graphql" NIVODA_USERNAME=sim NIVODA_PASSWORD=sim

start=$(date +%s.%N)
timed worker "$DIAMOND_BIN" worker
timed consolidator "$DIAMOND_BIN" consolidator
/usr/bin/time -o "$dir/scheduler.time" -f "%U %S %M" "$DIAMOND_BIN" scheduler --full >"$dir/scheduler.log" 2>&1
# Done when the newest run is completed; give up at once when a partition failed (nothing to measure).
run_state() {
    psql_q "SELECT CASE WHEN completed_at IS NOT NULL THEN 'completed'
                        WHEN EXISTS (SELECT 1 FROM partition_progress p
                                     WHERE p.run_id = r.run_id AND p.failed) THEN 'failed'
                        ELSE 'running' END FROM run_metadata r ORDER BY started_at DESC LIMIT 1"
}
end_by=$((SECONDS + 1200))
while [ "$(run_state)" = running ] && [ $SECONDS -lt $end_by ]; do sleep 0.5; done
state=$(run_state)
if [ "$state" != completed ]; then
    echo "footprint: the run did not complete ($state); worker log:" >&2
    tail -5 "$dir/worker.log" >&2
    exit 1
fi
end=$(date +%s.%N)
active=$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active'")
fetched=$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda")
[ -s "$WATERMARK_DIR/watermark.json" ] || { echo "footprint: no watermark after the full run" >&2; exit 1; }
echo "footprint: full run of $fetched stones, scheduler start to watermark $(echo "$start $end" | awk '{printf "%.1f", $2 - $1}') s"

# One simulated day of 1 % churn, then an incremental run on the same services.
churn=$(curl -fsS -X POST -H 'Content-Type: application/json' -d '{"percent":1}' \
    "http://127.0.0.1:$feedport/admin/churn")
changed=$(echo "$churn" | sed -nE 's/.*"changed": *([0-9]+).*/\1/p')
added=$(echo "$churn" | sed -nE 's/.*"added": *([0-9]+).*/\1/p')
runs_before=$(psql_q "SELECT count(*) FROM run_metadata")
inc_start=$(date +%s.%N)
"$DIAMOND_BIN" scheduler >"$dir/scheduler-inc.log" 2>&1
[ "$(psql_q "SELECT count(*) FROM run_metadata")" -gt "$runs_before" ] ||
    { echo "footprint: the incremental scheduler created no run:" >&2; cat "$dir/scheduler-inc.log" >&2; exit 1; }
inc_id=$(psql_q "SELECT run_id FROM run_metadata ORDER BY started_at DESC LIMIT 1")
[ "$(psql_q "SELECT run_type FROM run_metadata WHERE run_id = '$inc_id'")" = incremental ] ||
    { echo "footprint: the second run is not incremental" >&2; exit 1; }
end_by=$((SECONDS + 600))
while [ "$(run_state)" = running ] && [ $SECONDS -lt $end_by ]; do sleep 0.2; done
[ "$(run_state)" = completed ] || { echo "footprint: the incremental run did not complete" >&2; exit 1; }
inc_end=$(date +%s.%N)
inc_fetched=$(psql_q "SELECT coalesce(sum(records), 0) FROM partition_progress WHERE run_id = '$inc_id'")
inc_s=$(echo "$inc_start $inc_end" | awk '{printf "%.1f", $2 - $1}')
echo "footprint: 1 % churn ($changed changed, $added added): incremental run fetched $inc_fetched stones, scheduler start to completion $inc_s s"
[ "$inc_fetched" -gt 0 ] || { echo "footprint: the incremental run fetched nothing" >&2; exit 1; }
stop worker
stop consolidator

# API: searches under load, then the dashboard idle in front of it.
apiport=$(free_port)
key=$("$DIAMOND_BIN" apikey create --name bench --permissions read | tail -n 1)
# One API key sends every request: no per-key rate limit (API_RATE_LIMIT_RPS=0, as bench/api.sh).
PORT=$apiport API_RATE_LIMIT_RPS=0 timed api "$DIAMOND_BIN" api
wait_for 60 curl -fsS "http://127.0.0.1:$apiport/health"
# Shoppers' searches, every request different (bench/varied_search.lua), not one URL through the
# response cache: the CPU per request is what real traffic costs.
BENCH_API_KEY=$key VARIED_KIND=search wrk -t2 -c16 -d10s -s "$ROOT/bench/varied_search.lua" \
    "http://127.0.0.1:$apiport" >"$dir/wrk.txt" 2>&1 || true
requests=$(awk '/requests in/ {print $1}' "$dir/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$dir/wrk.txt")
if [ -n "$non2xx" ] && [ "$non2xx" != 0 ]; then
    echo "footprint: $non2xx of $requests API requests were not 2xx" >&2
    exit 1
fi
dashport=$(free_port)
PORT=$dashport API_URL="http://127.0.0.1:$apiport" DASHBOARD_DIR="$ROOT/web/dashboard" \
    timed dashboard "$DIAMOND_BIN" dashboard
wait_for 60 curl -fsS "http://127.0.0.1:$dashport/"
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$dashport/" >/dev/null; done
stop dashboard
stop api
stop feedsim

wall=$(echo "$start $end" | awk '{printf "%.1f", $2 - $1}')
per_k() { echo "$1 $fetched" | awk '{printf "%.4f", $1 * 1000 / $2}'; }
w_cpu=$(cpu_s worker); c_cpu=$(cpu_s consolidator); s_cpu=$(cpu_s scheduler); a_cpu=$(cpu_s api)
api_ms=$(echo "$a_cpu ${requests:-0}" | awk '{ if ($2 > 0) printf "%.3f", $1 * 1000 / $2; else print "null" }')
cat >"$BENCH_OUT/footprint.json" <<JSON
{"feed_stones": $N, "stones_fetched": $fetched, "active_diamonds": $active, "e2e_full_run_s": $wall,
 "churn_changed": ${changed:-0}, "churn_added": ${added:-0}, "incremental_fetched": $inc_fetched, "incremental_1pct_s": $inc_s,
 "worker_cpu_s": $w_cpu, "worker_cpu_s_per_1k_stones": $(per_k "$w_cpu"), "worker_peak_rss_mb": $(rss_mb worker),
 "consolidator_cpu_s": $c_cpu, "consolidator_cpu_s_per_1k_stones": $(per_k "$c_cpu"), "consolidator_peak_rss_mb": $(rss_mb consolidator),
 "scheduler_cpu_s": $s_cpu, "scheduler_peak_rss_mb": $(rss_mb scheduler),
 "api_requests": ${requests:-0}, "api_cpu_ms_per_request": $api_ms, "api_peak_rss_mb": $(rss_mb api),
 "dashboard_peak_rss_mb": $(rss_mb dashboard), "feedsim_cpu_s": $(cpu_s feedsim),
 "targets": {"worker_peak_rss_mb": "<= 1024 (seed: 1 GiB)", "consolidator_peak_rss_mb": "<= 2048 (seed: 2 GiB)",
             "api_peak_rss_mb": "<= 1024 (seed: 1 GiB)", "dashboard_peak_rss_mb": "<= 512 (seed: 0.5 GiB)"}}
JSON
cat "$BENCH_OUT/footprint.json"
