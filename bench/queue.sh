#!/usr/bin/env bash
# bench/queue.sh - PostgreSQL queue backend: send -> receive -> complete messages/s with 4
# consumers over 20,000 messages, and idle send-to-receive latency p50/p99 over 200 messages
# (LISTEN/NOTIFY wakeups). Private cluster, cleaned up. Writes $BENCH_OUT/queue.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/scripts/lib.sh"
bench_env
N=20000
SAMPLES=200
if [ "${BENCH_QUICK:-0}" = 1 ]; then N=5000; SAMPLES=100; fi
export LOG_LEVEL=warn

dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-queue.XXXXXX")
chmod 755 "$dir" # the cluster runs as the postgres user when we are root
cleanup() { "$DIAMOND_BIN" db stop --dir "$dir/pg" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
bench_db "$dir/pg"

json=$("$DM_BUILD_DIR/bench_queue" "$DATABASE_URL" "$N" "$SAMPLES" | tail -n 1)
echo "$json" > "$BENCH_OUT/queue.json"
echo "queue: $json"
