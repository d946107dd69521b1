#!/usr/bin/env bash
# bench/feed.sh - the feed simulator and the Nivoda client on loopback:
#   sim_pages_per_s_8_clients   pages of 50 served per second to 8 concurrent raw clients
#                               (1,000,000-stone inventory, random offsets in 30 price bands)
#   sim_rss_mb_1m               simulator peak RSS holding 1,000,000 stones, after the load
#   sim_generate_1m_s           time to generate the 1,000,000-stone inventory and listen
#   client_pages_per_s_16_inflight_100ms  pages/s through the client with 16 requests in flight
#                               against the simulator adding 100 ms latency per request
#                               (ceiling 16 / 0.1 s = 160/s: concurrency sets throughput;
#                               the simulator sleeps in its HTTP threads, and a thread that
#                               accepted two connections at once serves them one after the
#                               other, hence 256 threads and a p99 above 100 ms)
# Writes $BENCH_OUT/feed.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/scripts/lib.sh"
bench_env
export LOG_LEVEL=warn
COUNT=1000000
SECS=10
if [ "${BENCH_QUICK:-0}" = 1 ]; then SECS=4; fi

work_dir bench-feed

# start_sim LOGNAME ARGS... : start a simulator on an ephemeral port; sets SIM_PID and SIM_URL.
start_sim() {
    local log=$tmp/$1.log; shift
    "$DIAMOND_BIN" feed-sim --port 0 "$@" >"$log" 2>&1 &
    SIM_PID=$!
    pids+=("$SIM_PID")
    for _ in $(seq 1 600); do
        if grep -q 'feed-sim listening on' "$log"; then break; fi
        if ! kill -0 "$SIM_PID" 2>/dev/null; then cat "$log" >&2; return 1; fi
        sleep 0.1
    done
    SIM_URL=$(grep -o 'http://[0-9.]*:[0-9]*/graphql' "$log" | head -n 1)
    [ -n "$SIM_URL" ]
}

t0=$(date +%s.%N)
start_sim sim --count "$COUNT" --seed 1 --threads 16
t1=$(date +%s.%N)
gen_s=$(echo "$t1 - $t0" | bc -l)
sim_json=$("$DM_BUILD_DIR/bench_feed" sim "$SIM_URL" 8 "$SECS" | tail -n 1)
echo "sim (8 clients, $COUNT stones): $sim_json"
rss_kb=$(awk '/VmHWM/{print $2}' "/proc/$SIM_PID/status")
kill -TERM "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true

start_sim lat --count 100000 --seed 2 --threads 256
cli_json=$("$DM_BUILD_DIR/bench_feed" client "$SIM_URL" 16 "$SECS" 100 | tail -n 1)
echo "client (16 in flight, +100 ms): $cli_json"

sim_pps=$(echo "$sim_json" | sed -E 's/.*"pages_per_s":([0-9.]+).*/\1/')
sim_err=$(echo "$sim_json" | sed -E 's/.*"errors":([0-9]+).*/\1/')
cli_pps=$(echo "$cli_json" | sed -E 's/.*"pages_per_s":([0-9.]+).*/\1/')
cli_err=$(echo "$cli_json" | sed -E 's/.*"errors":([0-9]+).*/\1/')
cli_p50=$(echo "$cli_json" | sed -E 's/.*"p50_ms":([0-9.]+).*/\1/')
cli_p99=$(echo "$cli_json" | sed -E 's/.*"p99_ms":([0-9.]+).*/\1/')
sim_p99=$(echo "$sim_json" | sed -E 's/.*"p99_ms":([0-9.]+).*/\1/')
rss_mb=$(( rss_kb / 1024 ))
printf 'feed: sim %s pages/s (8 clients), sim RSS %s MB for %s stones (generated+listening in %.2f s), client %s pages/s (16 in flight, 100 ms latency)\n' \
    "$sim_pps" "$rss_mb" "$COUNT" "$gen_s" "$cli_pps"
cat > "$BENCH_OUT/feed.json" <<JSON
{"sim_pages_per_s_8_clients": $sim_pps, "sim_page_errors": $sim_err,
 "sim_rss_mb_1m": $rss_mb, "sim_generate_1m_s": $(printf '%.2f' "$gen_s"),
 "sim_page_p99_ms": $sim_p99,
 "client_pages_per_s_16_inflight_100ms": $cli_pps, "client_page_errors": $cli_err,
 "client_page_p50_ms": $cli_p50, "client_page_p99_ms": $cli_p99,
 "targets": {"sim_pages_per_s_8_clients": ">= 2000", "sim_rss_mb_1m": "< 1024",
             "client_pages_per_s_16_inflight_100ms": ">= 100 (ceiling 160)"}}
JSON
