#!/usr/bin/env bash
# layers_rules.sh - layers.sh can fail: on a copy of src/, each seeded violation of a rule is
# reported (exit 1, naming the file), and the allowed exception is not. Covers the adapter
# rule of issue 17 item 9 (adapters/ never include core/config.h, except adapters/feed/) and
# two older include rules, so a layers.sh that accepted everything would fail here.
# Usage: layers_rules.sh [SRC_DIR]
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-"$here/../../src"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fresh() { rm -rf "$tmp/src" && cp -r "$src" "$tmp/src"; }
expect() { # want(pass|fail) what file-to-name
    local out rc
    out=$(bash "$here/layers.sh" "$tmp/src" 2>&1)
    rc=$?
    if [ "$1" = pass ] && [ "$rc" -ne 0 ]; then
        echo "FAIL: $2: layers.sh refused it:"; echo "$out"; failures=$((failures + 1))
    elif [ "$1" = fail ] && { [ "$rc" -ne 1 ] || ! grep -q "^$3:" <<<"$out"; }; then
        echo "FAIL: $2: layers.sh exit $rc, expected 1 naming $3:"; echo "$out"
        failures=$((failures + 1))
    else
        echo "ok: $2"
    fi
}
seed() { printf '#include "%s"\n' "$2" >>"$tmp/src/$1"; }

# (structure.layers checks that the tree as it is passes.)
fresh
seed adapters/queue/queue.c core/config.h
expect fail "an adapter including core/config.h" "adapters/queue/queue.c:[0-9]*"
fresh
seed adapters/watermark/watermark.h core/config.h
expect fail "an adapter header including core/config.h" "adapters/watermark/watermark.h:[0-9]*"
fresh
seed adapters/feed/feed.c core/config.h
expect pass "adapters/feed/ including core/config.h (the allowed exception)" ""
fresh
seed adapters/alert/alert.c app/app.h
expect fail "an adapter including app/" "adapters/alert/alert.c:[0-9]*"
fresh
seed services/worker/worker.c commands/commands.h
expect fail "a service including commands/" "services/worker/worker.c:[0-9]*"

if [ "$failures" -gt 0 ]; then
    echo "layers_rules.sh: $failures case(s) failed"
    exit 1
fi
echo "layers_rules.sh: every seeded violation reported, the exception allowed"
