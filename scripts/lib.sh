#!/usr/bin/env bash
# lib.sh - shell helpers shared by the scripts, the benchmarks (bench/*.sh) and the shell
# integration tests (tests/lib/common.sh). Source it:
#   . "$ROOT/scripts/lib.sh"
# Gives: free_port, work_dir.

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
