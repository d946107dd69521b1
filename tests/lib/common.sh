#!/usr/bin/env bash
# common.sh - helpers for shell integration tests. Source it first:
#   . "$DM_SOURCE_DIR/tests/lib/common.sh"
# Gives: $DIAMOND (binary), $T (a fresh temp dir removed on exit), new_db NAME (creates a
# migrated database and exports DATABASE_URL), psql_q SQL (one value), sql_is EXPECTED SQL and
# sql_ge MIN SQL (conditions on that value, for wait_until and check), free_port and
# run_completed RUN (scripts/lib.sh), wait_until,
# check/fail/finish assertions, and process tracking (spawn NAME CMD...; killed on exit;
# spawn_sim NAME ARGS...: a feed simulator on a port of its choosing, its URL in URL_<NAME>).
set -euo pipefail
: "${DIAMOND_BIN:?}" "${DM_TEST_PG_ENV:?}"
DIAMOND=$DIAMOND_BIN
# shellcheck disable=SC1090
. "$DM_TEST_PG_ENV"
export LOG_LEVEL=${LOG_LEVEL:-warn}
T=$(mktemp -d "${TMPDIR:-/tmp}/dmtest.XXXXXX")
DM_PIDS=()
DM_CHECKS=0
DM_FAILS=0

cleanup() {
    for pid in "${DM_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${DM_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "${KEEP_TMP:-0}" = 0 ]; then rm -rf "$T"; fi
}
trap cleanup EXIT

new_db() {
    local name="t_$1_$$_$RANDOM"
    psql -qAt "$DM_TEST_PG_ADMIN_URL" -c "CREATE DATABASE $name" >/dev/null
    export DATABASE_URL="postgresql://postgres@127.0.0.1:$DM_TEST_PG_PORT/$name"
    "$DIAMOND" migrate >/dev/null
}

psql_q() { psql -qAt -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }
sql_is() { [ "$(psql_q "$2")" = "$1" ]; }   # sql_is EXPECTED SQL
sql_ge() { [ "$(psql_q "$2")" -ge "$1" ]; } # sql_ge MIN SQL

# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh" # free_port, run_completed

# spawn NAME CMD... : start a background process, output to $T/NAME.log, tracked for cleanup.
spawn() {
    local name=$1; shift
    "$@" >"$T/$name.log" 2>&1 &
    DM_PIDS+=($!)
    eval "PID_${name//-/_}=$!"
}

# spawn_sim NAME ARGS... : spawn `diamond feed-sim --port 0 ARGS...` as NAME (log level info),
# wait for its listening line; sets URL_<NAME> (its base URL, http://127.0.0.1:PORT).
spawn_sim() {
    local name=$1 url; shift
    spawn "$name" env LOG_LEVEL=info "$DIAMOND" feed-sim --port 0 "$@"
    wait_until 60 grep -q 'feed-sim listening on' "$T/$name.log"
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/$name.log" | head -n 1)
    eval "URL_$name=$url"
}

# wait_until TIMEOUT_S CMD... : poll CMD (every 0.1 s) until it succeeds; fail on timeout.
wait_until() {
    local timeout=$1; shift
    local end=$((SECONDS + timeout))
    while ! "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $end ]; then echo "timeout after ${timeout}s waiting for: $*" >&2; return 1; fi
        sleep 0.1
    done
}

check() { # check DESCRIPTION CMD...
    local what=$1; shift
    DM_CHECKS=$((DM_CHECKS + 1))
    if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; DM_FAILS=$((DM_FAILS + 1)); fi
}
check_eq() { # check_eq DESCRIPTION EXPECTED ACTUAL
    DM_CHECKS=$((DM_CHECKS + 1))
    if [ "$2" = "$3" ]; then echo "ok   - $1 ($3)"; else echo "FAIL - $1: expected '$2', got '$3'"; DM_FAILS=$((DM_FAILS + 1)); fi
}
finish() {
    echo "$((DM_CHECKS - DM_FAILS)) passed, $DM_FAILS failed"
    [ "$DM_FAILS" = 0 ] && [ "$DM_CHECKS" -gt 0 ]
}
