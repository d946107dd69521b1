#!/usr/bin/env bash
# demo.sh - `diamond demo` end to end in a private directory: its own PostgreSQL, the feed
# simulator, a worker (and the consolidator when built), one run with a progress line and a
# summary; exit 0; nothing left running. Then Ctrl-C (SIGINT) mid-run stops everything it
# started.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
chmod 755 "$T" # the demo's cluster runs as the postgres user when we are root

# Children of the demo are found by their log files under the var dir.
left_running() { # left_running VAR -> count of processes whose cwd/args mention VAR or its pg
    local n=0
    for pid in $(pgrep -f "diamond (feed-sim|worker|consolidator|scheduler)" || true); do
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -q "WATERMARK_DIR=$1/"; then n=$((n + 1)); fi
    done
    if pgrep -f "postgres.*-D $1/pg" >/dev/null 2>&1; then n=$((n + 1)); fi
    echo "$n"
}

var=$T/var
set +e
timeout 300 "$DIAMOND" demo --var "$var" --count 3000 >"$T/demo.out" 2>&1
rc=$?
set -e
check_eq "demo exits 0" 0 "$rc"
check "summary line" grep -Eq "^run [0-9a-f-]{36} completed in .* stones fetched" "$T/demo.out"
check "progress line" grep -q "partitions .* stones .* stones/s" "$T/demo.out"
check "where to look next" grep -q "where to look next" "$T/demo.out"
# The priced catalogue: availability counts add up to the active diamonds, a price range, the
# watermark the run wrote.
active=$(sed -nE 's/^consolidated: ([0-9]+) active diamonds$/\1/p' "$T/demo.out")
by_avail=$(sed -nE 's/^  by availability: //p' "$T/demo.out" | tr ',' '\n' | awk '{s += $2} END {print s + 0}')
check "some diamonds consolidated ($active)" test "${active:-0}" -gt 0
check_eq "availability counts add up to the active diamonds" "$active" "$by_avail"
check "retail price range" grep -Eq "^  retail price: [0-9]+\.[0-9]{2} to [0-9]+\.[0-9]{2} USD" "$T/demo.out"
check "watermark shown" grep -Eq "^  watermark: 20[0-9]{2}-[0-9]{2}-[0-9]{2}T" "$T/demo.out"
check "service logs written" test -e "$var/log/worker.log" -a -s "$var/log/feed-sim.log"
check_eq "nothing left running" 0 "$(left_running "$var")"
# Two feeds (the default): a run per feed, both completed; listings, one per physical stone,
# fewer than the offers since the file feed's simulator shares 30 % of its stones.
check_eq "one completed run per feed" 2 "$(grep -Ec "^run [0-9a-f-]{36} completed in .*\((feed nivoda, GraphQL|feed acme, CSV file)\)$" "$T/demo.out")"
listings=$(sed -nE 's/^listings: ([0-9]+) .*/\1/p' "$T/demo.out")
shared=$(sed -nE 's/^listings: .*; ([0-9]+) stones offered by more than one feed$/\1/p' "$T/demo.out")
check "listings counted (${listings:-none}) and fewer than the active offers ($active)" test "${listings:-0}" -gt 0 -a "${listings:-0}" -lt "${active:-0}"
check "stones offered by both feeds (${shared:-none})" test "${shared:-0}" -gt 0
check_eq "offers = listings + the second offers of shared stones" "$active" "$((${listings:-0} + ${shared:-0}))"
check "each feed's offers shown" grep -Eq "^  feed acme +[0-9]+ active offers, [0-9]+ shown" "$T/demo.out"
check "the file feed's simulator logged" test -s "$var/log/feed-sim-acme.log"

# One feed (--feeds 1): today's single-feed demo.
var1=$T/var1
set +e
timeout 300 "$DIAMOND" demo --feeds 1 --var "$var1" --count 1000 >"$T/demo1.out" 2>&1
rc=$?
set -e
check_eq "demo --feeds 1 exits 0" 0 "$rc"
check_eq "--feeds 1: one run, named as before" 1 "$(grep -Ec "^run [0-9a-f-]{36} completed in .* raw rows$" "$T/demo1.out")"
check "--feeds 1: no file feed" test ! -e "$var1/log/feed-sim-acme.log"
check_eq "--feeds 1: nothing left running" 0 "$(left_running "$var1")"

# Ctrl-C mid-run.
var2=$T/var2
"$DIAMOND" demo --var "$var2" --count 60000 >"$T/demo2.out" 2>&1 &
demo_pid=$!
wait_until 120 grep -q "partitions [0-9]*/" "$T/demo2.out"
# issue 15 item 19: the demo's API (it holds an admin key) and dashboard listen on loopback
# unless --bind asks otherwise.
api_port=$(sed -nE 's/.*\(API http:\/\/[0-9.]+:([0-9]+).*/\1/p' "$T/demo2.out" | head -n 1)
dash_port=$(sed -nE 's/^  dashboard +http:\/\/[0-9.]+:([0-9]+)\/.*/\1/p' "$T/demo2.out" | head -n 1)
listeners() { ss -Hltn "sport = :$1" | awk '{print $4}' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
check "the API is up (precondition: port $api_port)" curl -sf -o /dev/null "http://127.0.0.1:$api_port/health"
check_eq "the demo's API listens on loopback only" "127.0.0.1:$api_port" "$(listeners "$api_port")"
check_eq "the demo's dashboard listens on loopback only" "127.0.0.1:$dash_port" "$(listeners "$dash_port")"
kill -INT "$demo_pid"
if wait "$demo_pid"; then rc=0; else rc=$?; fi
check "interrupted demo says so" grep -q "interrupted, stopping everything it started" "$T/demo2.out"
check_eq "Ctrl-C: nothing left running" 0 "$(left_running "$var2")"
check "demo --help documents --bind" bash -c "'$DIAMOND' demo --help | grep -q -- '--bind ADDR'"
set +e
"$DIAMOND" demo --bind not-an-address >/dev/null 2>&1; rc=$?
set -e
check_eq "demo --bind with a bad address is a usage error" 2 "$rc"
finish
