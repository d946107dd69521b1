#!/usr/bin/env bash
# pg-fixture.sh start|stop DIR - the private PostgreSQL cluster for one ctest run.
# start: picks a free loopback port, runs `diamond db start --fast`, writes DIR/env with
#        DM_TEST_PG_ADMIN_URL (the cluster's "postgres" database) for tests to create databases.
set -euo pipefail
action=$1
dir=$2
: "${DIAMOND_BIN:?DIAMOND_BIN must point at the diamond binary}"
export LOG_LEVEL=warn
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh" # free_port

case "$action" in
start)
    if [ -f "$dir/env" ]; then
        # A previous run's cluster may still be up: stop it and start clean.
        "$DIAMOND_BIN" db stop --dir "$dir" >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    port=$(free_port) || { echo "no free port" >&2; exit 1; }
    "$DIAMOND_BIN" db start --dir "$dir" --port "$port" --fast >/dev/null
    echo "DM_TEST_PG_ADMIN_URL=postgresql://postgres@127.0.0.1:$port/postgres" > "$dir/env"
    echo "DM_TEST_PG_PORT=$port" >> "$dir/env"
    echo "test cluster on port $port"
    ;;
stop)
    "$DIAMOND_BIN" db stop --dir "$dir" || true
    ;;
*)
    echo "usage: pg-fixture.sh start|stop DIR" >&2
    exit 2
    ;;
esac
