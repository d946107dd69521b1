#!/usr/bin/env bash
# bench/queue.sh - PostgreSQL queue backend: send -> receive -> complete messages/s with 4
# consumers over 20,000 messages, and idle send-to-receive latency p50/p99 over 200 messages
# (LISTEN/NOTIFY wakeups). Private cluster, cleaned up. Writes $BENCH_OUT/queue.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIAMOND_BIN=${DIAMOND_BIN:-$ROOT/build/diamond}
DM_BUILD_DIR=${DM_BUILD_DIR:-$ROOT/build}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$BENCH_OUT"
N=20000
SAMPLES=200
if [ "${BENCH_QUICK:-0}" = 1 ]; then N=5000; SAMPLES=100; fi
export LOG_LEVEL=warn

dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-queue.XXXXXX")
port=""
for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "no free port" >&2; exit 1; }
cleanup() { "$DIAMOND_BIN" db stop --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT

"$DIAMOND_BIN" db start --dir "$dir" --port "$port" --fast >/dev/null
DATABASE_URL=$("$DIAMOND_BIN" db url --dir "$dir" --port "$port")
export DATABASE_URL
"$DIAMOND_BIN" migrate >/dev/null

json=$("$DM_BUILD_DIR/bench_queue" "$DATABASE_URL" "$N" "$SAMPLES" | tail -n 1)
echo "$json" > "$BENCH_OUT/queue.json"
echo "queue: $json"
