#!/usr/bin/env bash
# bench/ingest.sh - full ingest from the feed simulator into raw_diamonds_nivoda: 500,000 stones
# (BENCH_QUICK=1: 100,000; INGEST_STONES=N), one worker process (WORKER_CONCURRENCY=8),
# stones/s from the scheduler's exit (work items sent; planning reported apart) to the last
# partition's completion, CPU per stone of worker, PostgreSQL and simulator, and each process's
# peak RSS (worker, simulator, scheduler). Then, with 100 ms of simulated feed latency,
# throughput as WORKER_CONCURRENCY doubles (4, 8, 16, 32: at most one message per partition is
# in flight and a full run has at most 30 partitions, so 32 shows that ceiling). Private
# cluster, cleaned up. Writes $BENCH_OUT/ingest.json. Also measures the raw write path three
# ways (bench_raw_write.c).
# INGEST_LATENCY=0 skips the latency sweep and INGEST_RAW_WRITE=0 the write-path program (quick
# CPU-per-stone measurements while tuning).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/scripts/lib.sh"
bench_env
N=${INGEST_STONES:-500000}
LAT_N=40000
CONC=${INGEST_CONCURRENCY:-8}
if [ "${BENCH_QUICK:-0}" = 1 ]; then N=100000; LAT_N=20000; fi
export LOG_LEVEL=warn
export NIVODA_USERNAME=sim NIVODA_PASSWORD=sim NIVODA_MAX_RPS=100000

wait_port() { for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
calc() { awk "BEGIN { printf \"${2:-%.6f}\", $1 }"; } # calc EXPR [FORMAT]
peak_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# CPU seconds (user+sys) of a process, and of the whole cluster: the postmaster, its live
# children (backends, WAL writer, background writer, checkpointer) and the children it has
# already reaped (autovacuum workers, short-lived connections: the postmaster's cutime+cstime).
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
reaped_cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($16 + $17) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_cpu_s() {
    local pm total
    pm=$(head -1 "$dir/pg/data/postmaster.pid")
    total=$(reaped_cpu_s "$pm")
    for p in "$pm" $(pgrep -P "$pm"); do total=$(calc "$total + $(cpu_s "$p")"); done
    echo "$total"
}
# psql without Debian's Perl wrapper (about 40 ms of CPU per call), when installed.
PSQL=psql
for p in /usr/lib/postgresql/*/bin/psql; do [ -x "$p" ] && PSQL=$p; done

dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-ingest.XXXXXX")
chmod 755 "$dir" # the cluster runs as the postgres user when we are root
pgport=$(free_port)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    "$DIAMOND_BIN" db stop --dir "$dir/pg" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
"$DIAMOND_BIN" db start --dir "$dir/pg" --port "$pgport" --fast >/dev/null
ADMIN=postgresql://postgres@127.0.0.1:$pgport/postgres

fresh_db() { # fresh_db NAME -> exports DATABASE_URL, migrated
    psql -qAt "$ADMIN" -c "CREATE DATABASE $1" >/dev/null
    export DATABASE_URL=postgresql://postgres@127.0.0.1:$pgport/$1
    "$DIAMOND_BIN" migrate >/dev/null
}
start_sim() { # start_sim COUNT [args] -> SIM_PID, NIVODA_ENDPOINT
    local port
    port=$(free_port)
    "$DIAMOND_BIN" feed-sim --port "$port" --count "$1" --threads 64 "${@:2}" >"$dir/sim.log" 2>&1 &
    SIM_PID=$!
    PIDS+=("$SIM_PID")
    wait_port "$port"
    export NIVODA_ENDPOINT=http://127.0.0.1:$port/graphql
}
# ingest CONCURRENCY -> sets STONES, SECS (fetch phase: work items sent -> last partition
# completed), PLAN_SECS (scheduler: watermark, count queries, rows, sends), RATE, WORKER_KB,
# SCHED_KB
ingest() {
    WORKER_CONCURRENCY=$1 WATERMARK_DIR=$dir/wm-$RANDOM "$DIAMOND_BIN" worker >"$dir/worker.log" 2>&1 &
    local wpid=$!
    PIDS+=("$wpid")
    local t0 t1 tp pg0
    pg0=$(pg_cpu_s)
    t0=$(date +%s.%N)
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f "%M" -o "$dir/sched.rss" "$DIAMOND_BIN" scheduler --full --force >"$dir/sched.out"
    else
        "$DIAMOND_BIN" scheduler --full --force >"$dir/sched.out"
        echo 0 >"$dir/sched.rss" # GNU time not installed: scheduler RSS not measured
    fi
    tp=$(date +%s.%N)
    PLAN_SECS=$(calc "$tp - $t0")
    local run
    run=$(psql -qAt "$DATABASE_URL" -c "SELECT run_id FROM run_metadata ORDER BY started_at DESC LIMIT 1")
    # Wait for the last partition from one connection polling every 50 ms (at most 10 min):
    # a psql process per poll cost a noticeable share of the two cores being measured.
    "$PSQL" -qAt "$DATABASE_URL" -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
        WHILE NOT coalesce((SELECT bool_and(completed OR failed) FROM partition_progress
                            WHERE run_id = '$run'), false)
              AND clock_timestamp() < t0 + interval '10 minutes' LOOP
            PERFORM pg_sleep(0.05);
        END LOOP; END \$\$" >/dev/null
    t1=$(date +%s.%N)
    STONES=$(psql -qAt "$DATABASE_URL" -c "SELECT sum(records) FROM partition_progress WHERE run_id = '$run'")
    local failed
    failed=$(psql -qAt "$DATABASE_URL" -c "SELECT count(*) FROM partition_progress WHERE run_id = '$run' AND NOT completed")
    [ "$failed" = 0 ] || { echo "ingest: $failed partition(s) not completed" >&2; exit 1; }
    SECS=$(calc "$t1 - $tp")
    RATE=$(calc "$STONES / $SECS" %.0f)
    WORKER_KB=$(peak_kb "$wpid")
    WORKER_CPU=$(cpu_s "$wpid")
    PG_CPU=$(calc "$(pg_cpu_s) - $pg0")
    SCHED_KB=$(cat "$dir/sched.rss")
    kill -TERM "$wpid"
    wait "$wpid" || true
}

# --- full ingest, no latency ------------------------------------------------------------------
fresh_db ingest_full
start_sim "$N"
ingest "$CONC"
SIM_KB=$(peak_kb "$SIM_PID")
SIM_CPU=$(cpu_s "$SIM_PID")
# CPU cost per stone of the whole ingest (worker + PostgreSQL + simulator), and what two idle
# cores would sustain at that cost: the throughput figure itself depends on what else runs.
cost_us=$(calc "($WORKER_CPU + $PG_CPU + $SIM_CPU) * 1000000 / $STONES" %.1f)
worker_us=$(calc "$WORKER_CPU * 1000000 / $STONES" %.1f)
pg_us=$(calc "$PG_CPU * 1000000 / $STONES" %.1f)
sim_us=$(calc "$SIM_CPU * 1000000 / $STONES" %.1f)
projected=$(calc "2000000 / $cost_us" %.0f)
load=$(cut -d' ' -f1 /proc/loadavg)
full_rate=$RATE
full_stones=$STONES
full_secs=$(printf '%.1f' "$SECS")
plan_secs=$(printf '%.2f' "$PLAN_SECS")
worker_mb=$(calc "$WORKER_KB / 1024" %.1f)
sched_mb=$(calc "${SCHED_KB:-0} / 1024" %.1f)
sim_mb=$(calc "$SIM_KB / 1024" %.1f)
echo "ingest: planned in ${plan_secs} s ($(grep -o 'partitions=[0-9]* estimated=[0-9]* count_queries=[0-9]*' "$dir/sched.out")), fetched $full_stones stones in ${full_secs} s = $full_rate stones/s (concurrency $CONC); peak RSS worker ${worker_mb} MB, scheduler ${sched_mb} MB, feed-sim ${sim_mb} MB"
echo "ingest: CPU per stone: worker ${worker_us} us, PostgreSQL ${pg_us} us, feed-sim ${sim_us} us = ${cost_us} us -> ${projected} stones/s on 2 idle cores (load average now $load)"
# --- the raw write path, measured three ways on one connection (see bench_raw_write.c) --------
RAW_JSON='{}'
if [ "${INGEST_RAW_WRITE:-1}" = 1 ] && [ -x "$DM_BUILD_DIR/bench_raw_write" ]; then
    curl -fsS "${NIVODA_ENDPOINT%/graphql}/admin/stones?offset=0&limit=50" >"$dir/page.json"
    fresh_db ingest_rawwrite
    RAW_JSON=$("$DM_BUILD_DIR/bench_raw_write" "$DATABASE_URL" "$dir/page.json" 200 | tail -n 1)
    echo "ingest: raw write path (rows/s, one connection): $RAW_JSON"
fi
kill -TERM "$SIM_PID"; wait "$SIM_PID" || true

# --- 100 ms feed latency, concurrency doubling -------------------------------------------------
declare -A lat=([4]=null [8]=null [16]=null [32]=null)
# The simulator sleeps the latency in its HTTP thread, and a thread holding two of the worker's
# keep-alive connections serves them one after the other: 256 threads make that rare.
if [ "${INGEST_LATENCY:-1}" = 1 ]; then start_sim "$LAT_N" --latency-ms 100 --threads 256; fi
for c in 4 8 16 32; do
    [ "${INGEST_LATENCY:-1}" = 1 ] || break
    fresh_db ingest_lat_$c
    ingest "$c"
    lat[$c]=$RATE
    echo "ingest: latency 100 ms, WORKER_CONCURRENCY=$c: $STONES stones in $(printf '%.1f' "$SECS") s = $RATE stones/s (planning $(printf '%.1f' "$PLAN_SECS") s)"
done

cat >"$BENCH_OUT/ingest.json" <<JSON
{"ingest_stones": $full_stones, "ingest_seconds": $full_secs, "ingest_stones_per_s": $full_rate,
 "ingest_plan_seconds": $plan_secs,
 "ingest_cpu_us_per_stone": $cost_us, "worker_cpu_us_per_stone": $worker_us,
 "postgres_cpu_us_per_stone": $pg_us, "feedsim_cpu_us_per_stone": $sim_us,
 "ingest_projected_stones_per_s_2_idle_cores": $projected, "load_average_during_run": $load,
 "ingest_worker_concurrency": $CONC,
 "worker_peak_rss_mb": $worker_mb, "scheduler_peak_rss_mb": $sched_mb, "feedsim_peak_rss_mb": $sim_mb,
 "latency100_stones_per_s_c4": ${lat[4]}, "latency100_stones_per_s_c8": ${lat[8]},
 "latency100_stones_per_s_c16": ${lat[16]}, "latency100_stones_per_s_c32": ${lat[32]},
 "targets": {"ingest_stones_per_s": ">= 15000", "worker_peak_rss_mb": "<= 32"}}
JSON
# Merge the write-path figures into the report.
jq -c --argjson raw "$RAW_JSON" '. + $raw' "$BENCH_OUT/ingest.json" >"$dir/merged.json" &&
    mv "$dir/merged.json" "$BENCH_OUT/ingest.json"
cat "$BENCH_OUT/ingest.json"
