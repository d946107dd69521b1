#!/usr/bin/env bash
# lib.sh - shell helpers shared by the scripts, the benchmarks (bench/*.sh) and the shell
# integration tests (tests/lib/common.sh). Source it:
#   . "$ROOT/scripts/lib.sh"
# Gives: free_port, work_dir, bench_env, bench_db, consol_bench_db, run_completed,
# wait_run_completed.

# A TCP port on 127.0.0.1 that nothing listens on now, printed; 1 when 100 tries found none.
# Chosen from 20000-31999, below the kernel's ephemeral range (32768-), so an outgoing
# connection cannot take it between this check and the caller's bind.
free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

# bench_env: a benchmark's defaults (its ROOT set first): DIAMOND_BIN (diamond in DM_BUILD_DIR,
# else $ROOT/build/diamond), DM_BUILD_DIR (the binary's directory, where the bench programs are
# built) and BENCH_OUT (a new temporary directory), created. bench/run exports all three.
bench_env() {
    DIAMOND_BIN=${DIAMOND_BIN:-${DM_BUILD_DIR:-$ROOT/build}/diamond}
    DM_BUILD_DIR=${DM_BUILD_DIR:-$(dirname "$DIAMOND_BIN")}
    BENCH_OUT=${BENCH_OUT:-$(mktemp -d)}
    mkdir -p "$BENCH_OUT"
}

# work_dir NAME: a fresh temporary directory in $tmp and an empty $pids; on exit the processes
# in $pids get SIGTERM, are waited for, and the directory is removed. For benchmarks and scripts
# that start helper processes (append each one's pid to pids).
work_dir() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    pids=()
    trap _work_dir_cleanup EXIT
}
_work_dir_cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}

# bench_db DIR [SHARED_BUFFERS]: a private PostgreSQL cluster in DIR (`diamond db start --fast`,
# $DIAMOND_BIN) on a free port, tried three times (a port found free can be taken before the
# cluster binds it); with SHARED_BUFFERS, restarted with that shared_buffers. Sets pgport and
# exports DATABASE_URL (the cluster's database, migrated). The caller stops it
# (`diamond db stop --dir DIR`), typically in its exit trap.
bench_db() {
    local d=$1 sb=${2:-} started=""
    for _ in 1 2 3; do
        pgport=$(free_port) || break
        if "$DIAMOND_BIN" db start --dir "$d" --port "$pgport" --fast >/dev/null; then started=1; break; fi
        rm -rf "$d"
    done
    [ -n "$started" ] || { echo "could not start PostgreSQL in $d" >&2; return 1; }
    if [ -n "$sb" ]; then
        echo "shared_buffers = '$sb'" >>"$d/data/postgresql.conf"
        "$DIAMOND_BIN" db stop --dir "$d" >/dev/null
        "$DIAMOND_BIN" db start --dir "$d" --port "$pgport" --fast >/dev/null
    fi
    DATABASE_URL=$("$DIAMOND_BIN" db url --dir "$d" --port "$pgport")
    export DATABASE_URL
    "$DIAMOND_BIN" migrate >/dev/null
}

# consol_bench_db DIR: the consolidation benchmarks' database (ROOT set): bench_db in DIR/pg
# with CONSOL_BENCH_SHARED_BUFFERS (bench/run sets 1GB: a 500,000-stone catalogue does not fit
# the embedded cluster's default 256 MB, and a reprice would measure buffer eviction),
# WATERMARK_DIR=DIR/wm exported, and the raw-row generator tests/integration/consol_lib.sql
# (dm_test.*) loaded.
consol_bench_db() {
    bench_db "$1/pg" "${CONSOL_BENCH_SHARED_BUFFERS:-}"
    export WATERMARK_DIR=$1/wm
    psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f "$ROOT/tests/integration/consol_lib.sql" >/dev/null 2>&1
}

# run_completed RUN: the run's consolidation has completed (run_metadata.completed_at is set in
# the database of $DATABASE_URL).
run_completed() {
    [ "$(psql -qAt -v ON_ERROR_STOP=1 "$DATABASE_URL" -c \
        "SELECT completed_at IS NOT NULL FROM run_metadata WHERE run_id = '$1'")" = t ]
}

# wait_run_completed RUN SECONDS LOG: poll run_completed RUN (every 0.2 s); after SECONDS, say
# so on stderr with the last lines of LOG (the consolidator's) and return 1.
wait_run_completed() {
    local end=$((SECONDS + $2))
    until run_completed "$1"; do
        [ $SECONDS -lt $end ] || { echo "run $1 did not complete" >&2; tail -5 "$3" >&2; return 1; }
        sleep 0.2
    done
}
