#!/usr/bin/env bash
# bench/api.sh - `diamond api` at 500,000 active diamonds (issue 7 benchmark): wrk (2 threads,
# 32 connections, API_BENCH_DURATION, default 30 s) against default search, filtered + sorted
# search (shape, carat range, colours, price sort), a keyset page deep in the catalogue and get
# by id (a Lua script picking random ids). Reports req/s, p50/p99, errors and the API's RSS.
# The searches run twice: with the default search micro-cache (API_CACHE_MS=1000) and with it
# off (*_nocache: every request planned and executed by PostgreSQL).
# Private cluster, cleaned up. Writes $BENCH_OUT/api.json. BENCH_QUICK=1: 100,000 rows, 10 s.
# For iteration: API_BENCH_DIR=<dir> keeps the cluster (and its rows) there between runs (the
# load is skipped when the catalogue already has N active rows; stop it with `diamond db stop
# --dir <dir>/pg`), API_BENCH_CASES="default by_id ..." runs only those cases (the JSON is
# then not written).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIAMOND_BIN=${DIAMOND_BIN:-$ROOT/build/diamond}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$BENCH_OUT"
N=${API_BENCH_ROWS:-500000}
DUR=${API_BENCH_DURATION:-30s}
if [ "${BENCH_QUICK:-0}" = 1 ]; then N=100000; DUR=10s; fi
command -v wrk >/dev/null || { echo "api bench: wrk is not installed (scripts/install-deps)" >&2; exit 1; }
export LOG_LEVEL=warn

free_port() {
    for _ in $(seq 1 100); do
        local p=$((20000 + RANDOM % 20000))
        if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}
CASES=${API_BENCH_CASES:-}
want() { [ -z "$CASES" ] || [[ " $CASES " == *" $1 "* ]]; }
keep=${API_BENCH_DIR:-}
if [ -n "$keep" ]; then
    mkdir -p "$keep"
    dir=$keep
else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-api.XXXXXX")
fi
chmod 755 "$dir" # the cluster runs as the postgres user
api_pid=""
cleanup() {
    [ -n "$api_pid" ] && kill -TERM "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null || true
    if [ -z "$keep" ]; then
        "$DIAMOND_BIN" db stop --dir "$dir/pg" >/dev/null 2>&1 || true
        rm -rf "$dir"
    fi
}
trap cleanup EXIT
if [ -n "$keep" ] && [ -f "$dir/pg_port" ] && "$DIAMOND_BIN" db status --dir "$dir/pg" >/dev/null 2>&1; then
    pg_port=$(cat "$dir/pg_port")
else
    pg_port=$(free_port)
    if [ -n "$keep" ]; then
        # A kept cluster outlives this script: it must not inherit the descriptor of a
        # `flock /tmp/dm-bench.lock` around us (it would hold the benchmark lock for good).
        (
            for fd in /proc/$BASHPID/fd/*; do
                n=${fd##*/}
                [ "$n" -gt 2 ] && [ "$n" -lt 255 ] && eval "exec $n>&-" 2>/dev/null
            done
            "$DIAMOND_BIN" db start --dir "$dir/pg" --port "$pg_port" --fast >/dev/null
        )
    else
        "$DIAMOND_BIN" db start --dir "$dir/pg" --port "$pg_port" --fast >/dev/null
    fi
    echo "$pg_port" >"$dir/pg_port"
fi
DATABASE_URL=$("$DIAMOND_BIN" db url --dir "$dir/pg" --port "$pg_port")
export DATABASE_URL
"$DIAMOND_BIN" migrate >/dev/null

have=$(psql -qAt "$DATABASE_URL" -c "SELECT count(*) FROM diamonds WHERE status = 'active'")
if [ "$have" != "$N" ]; then
echo "api bench: inserting $N active diamonds"
t0=$SECONDS
if [ "$have" != 0 ]; then psql -qAt "$DATABASE_URL" -c "SET client_min_messages = warning" -c "TRUNCATE diamonds CASCADE"; fi
psql -qAt -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
INSERT INTO diamonds (supplier_stone_id, offer_id, shape, carats, color, clarity, cut, polish,
    symmetry, fluorescence, lab_grown, feed_price, price_per_carat, retail_price, markup_ratio,
    rating, availability, certificate_lab, certificate_number, image_url, measurements,
    supplier_name, content_hash, created_at, updated_at)
SELECT 'stone-' || g, 'offer-' || g,
    (ARRAY['ROUND','ROUND','ROUND','OVAL','EMERALD','CUSHION','PEAR','PRINCESS','RADIANT','MARQUISE',
           'ASSCHER','HEART'])[1 + g % 12],
    c.carats,
    (ARRAY['D','E','F','G','H','I','J','K'])[1 + (g / 12) % 8],
    (ARRAY['FL','IF','VVS1','VVS2','VS1','VS2','SI1','SI2','I1'])[1 + (g / 96) % 9],
    (ARRAY['EX','VG','GD', NULL])[1 + g % 4], 'EX', 'VG', (ARRAY['NONE','FAINT','MEDIUM BLUE'])[1 + g % 3],
    g % 5 < 2, p.price, round(p.price / c.carats, 2), round(p.price * 1.15, 2), 1.15, 5,
    (ARRAY['available','available','available','available','available','available','on_hold','sold'])[1 + g % 8],
    'GIA', 'C' || g, 'https://img.example/' || g || '.jpg',
    jsonb_build_object('length', 6.5, 'width', 6.4, 'depth', 4.0),
    'Supplier ' || (g % 50), md5(g::text) || md5((g + 1)::text),
    timestamptz '2025-01-01' + (g * 61 || ' seconds')::interval, now()
FROM generate_series(1::bigint, $N::bigint) g,
LATERAL (SELECT round((0.3 + ((g * 7919) % 470) / 100.0)::numeric, 2) AS carats) c,
LATERAL (SELECT round((300 + power(c.carats, 2) * 1800 * (1 + (g % 13) / 10.0))::numeric, 2) AS price) p;
SQL
# Two passes: the first VACUUM right after the load does not mark every page all-visible
# (measured: ~700 heap fetches per filtered index-only scan afterwards); the second does, as
# autovacuum eventually would.
psql -qAt "$DATABASE_URL" -c "VACUUM ANALYZE diamonds" -c "VACUUM diamonds"
echo "api bench: inserted in $((SECONDS - t0)) s"
fi
KEY=$("$DIAMOND_BIN" apikey create --name bench 2>/dev/null | tail -1)
psql -qAt "$DATABASE_URL" -c "SELECT id FROM diamonds ORDER BY md5(id::text) LIMIT 20000" >"$dir/ids"
# A keyset cursor deep in the catalogue (row 400,000 of the default order, or 80 % of N).
deep=$((N * 4 / 5))
row=$(psql -qAt -F ' ' "$DATABASE_URL" -c "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), id FROM diamonds WHERE status = 'active' ORDER BY created_at DESC, id DESC OFFSET $deep LIMIT 1")
CURSOR=$(printf '{"s":"created_at","d":"desc","k":"%s","id":"%s"}' "${row% *}" "${row#* }" | base64 -w0 | tr '+/' '-_' | tr -d '=')

api_port=$(free_port)
PORT=$api_port HMAC_SECRETS='{}' LOG_LEVEL=info "$DIAMOND_BIN" api >/dev/null 2>"$dir/api.err" &
api_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$api_port/health" >/dev/null && break; sleep 0.1; done
BASE="http://127.0.0.1:$api_port"

cat >"$dir/key.lua" <<LUA
wrk.headers["X-API-Key"] = "$KEY"
LUA
cat >"$dir/byid.lua" <<LUA
wrk.headers["X-API-Key"] = "$KEY"
local ids = {}
for line in io.lines("$dir/ids") do ids[#ids + 1] = line end
math.randomseed(42)
request = function()
  return wrk.format("GET", "/api/v2/diamonds/" .. ids[math.random(#ids)])
end
LUA

# run NAME URL SCRIPT -> prints "rps p50_ms p99_ms errors"
to_ms() { # wrk latency like 812.00us / 3.21ms / 1.02s
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
# CPU time (ms) of the API process and of every process of the cluster (postmaster and its
# children): with other work on the machine, req/s alone does not say what a request costs.
clk=$(getconf CLK_TCK)
cpu_ms() { # PID... -> summed utime+stime in ms
    local t=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        t=$((t + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo $((t * 1000 / clk))
}
pg_pids() {
    local pm
    pm=$(head -1 "$dir/pg/data/postmaster.pid" 2>/dev/null) || return 0
    echo "$pm" $(pgrep -P "$pm")
}
run() {
    local name=$1 url=$2 script=$3
    # Warm-up (caches, connections), then the measured run.
    wrk -t2 -c32 -d3s -s "$script" "$url" >/dev/null 2>&1 || true
    local pids a0 g0 a1 g1
    pids=$(pg_pids)
    a0=$(cpu_ms "$api_pid"); g0=$(cpu_ms $pids)
    wrk -t2 -c32 -d"$DUR" --latency -s "$script" "$url" >"$dir/$name.out" 2>&1
    a1=$(cpu_ms "$api_pid"); g1=$(cpu_ms $pids)
    cp "$dir/$name.out" "$BENCH_OUT/api-$name.wrk.txt" 2>/dev/null || true
    local rps p50 p99 non2xx sock
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$dir/$name.out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$dir/$name.out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$dir/$name.out")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$dir/$name.out")
    sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$dir/$name.out")
    local errors=$(( ${non2xx:-0} + ${sock:-0} ))
    local reqs cpu
    reqs=$(awk '/requests in/ {print $1}' "$dir/$name.out")
    cpu=$(awk -v a=$((a1 - a0)) -v g=$((g1 - g0)) -v n="${reqs:-0}" \
        'BEGIN { if (n > 0) printf "cpu/req api %.0f us, pg %.0f us", a * 1000 / n, g * 1000 / n }')
    printf 'api bench: %-16s %10s req/s  p50 %7s ms  p99 %7s ms  errors %s  %s  load %s\n' "$name" "$rps" "$p50" "$p99" "$errors" "$cpu" "$(cut -d' ' -f1 /proc/loadavg)" >&2
    echo "$rps $p50 $p99 $errors"
}
# run prints its figures to stderr and the result line to stdout (tee /dev/stderr would
# reopen - and truncate - a redirected log).
r_default="" r_filtered="" r_keyset="" r_first="" r_byid="" r_default_nc="" r_filtered_nc="" r_keyset_nc=""
FILTERED="$BASE/api/v2/diamonds?shape=ROUND&carat_min=0.5&carat_max=2&color=D&color=E&color=F&color=G&sort_by=retail_price&sort_order=asc"
if want default; then r_default=$(run default "$BASE/api/v2/diamonds" "$dir/key.lua" | tail -1); fi
if want filtered; then r_filtered=$(run filtered "$FILTERED" "$dir/key.lua" | tail -1); fi
if want keyset_deep; then r_keyset=$(run keyset_deep "$BASE/api/v2/diamonds?cursor=$CURSOR" "$dir/key.lua" | tail -1); fi
if want first_page; then r_first=$(run first_page "$BASE/api/v2/diamonds?limit=50&page=1" "$dir/key.lua" | tail -1); fi
if want by_id; then r_byid=$(run by_id "$BASE/api/v2/diamonds/x" "$dir/byid.lua" | tail -1); fi
rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$api_pid/status")
rss_mb=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
echo "api bench: API peak RSS ${rss_mb} MB (VmHWM)"
# Sanity: the deep keyset page really is deep and full.
deep_ok=$(curl -s -H "X-API-Key: $KEY" "$BASE/api/v2/diamonds?cursor=$CURSOR" | jq '.data | length')
kill -TERM "$api_pid"; wait "$api_pid" 2>/dev/null || true
api_pid=""

# The same searches with the micro-cache off: every request goes to PostgreSQL.
if want default_nocache || want filtered_nocache || want keyset_nocache; then
PORT=$api_port HMAC_SECRETS='{}' API_CACHE_MS=0 LOG_LEVEL=info "$DIAMOND_BIN" api >/dev/null 2>"$dir/api.err" &
api_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$api_port/health" >/dev/null && break; sleep 0.1; done
if want default_nocache; then r_default_nc=$(run default_nocache "$BASE/api/v2/diamonds" "$dir/key.lua" | tail -1); fi
if want filtered_nocache; then r_filtered_nc=$(run filtered_nocache "$FILTERED" "$dir/key.lua" | tail -1); fi
if want keyset_nocache; then r_keyset_nc=$(run keyset_nocache "$BASE/api/v2/diamonds?cursor=$CURSOR" "$dir/key.lua" | tail -1); fi
fi
if [ -n "$CASES" ]; then
    echo "api bench: API_BENCH_CASES set: $BENCH_OUT/api.json not written"
    exit 0
fi

f() { echo "$1" | awk -v i="$2" '{print $i}'; }
cat >"$BENCH_OUT/api.json" <<JSON
{
  "api_rows": $N,
  "api_duration": "$DUR",
  "api_search_default_rps": $(f "$r_default" 1), "api_search_default_p50_ms": $(f "$r_default" 2), "api_search_default_p99_ms": $(f "$r_default" 3), "api_search_default_errors": $(f "$r_default" 4),
  "api_search_filtered_rps": $(f "$r_filtered" 1), "api_search_filtered_p50_ms": $(f "$r_filtered" 2), "api_search_filtered_p99_ms": $(f "$r_filtered" 3), "api_search_filtered_errors": $(f "$r_filtered" 4),
  "api_keyset_deep_rps": $(f "$r_keyset" 1), "api_keyset_deep_p50_ms": $(f "$r_keyset" 2), "api_keyset_deep_p99_ms": $(f "$r_keyset" 3), "api_keyset_deep_errors": $(f "$r_keyset" 4), "api_keyset_deep_rows": ${deep_ok:-0},
  "api_search_default_nocache_rps": $(f "$r_default_nc" 1), "api_search_default_nocache_p99_ms": $(f "$r_default_nc" 3),
  "api_search_filtered_nocache_rps": $(f "$r_filtered_nc" 1), "api_search_filtered_nocache_p99_ms": $(f "$r_filtered_nc" 3),
  "api_keyset_deep_nocache_rps": $(f "$r_keyset_nc" 1), "api_keyset_deep_nocache_p99_ms": $(f "$r_keyset_nc" 3),
  "api_first_page_rps": $(f "$r_first" 1), "api_first_page_p99_ms": $(f "$r_first" 3),
  "api_by_id_rps": $(f "$r_byid" 1), "api_by_id_p50_ms": $(f "$r_byid" 2), "api_by_id_p99_ms": $(f "$r_byid" 3), "api_by_id_errors": $(f "$r_byid" 4),
  "api_peak_rss_mb": $rss_mb,
  "targets": {
    "api_search_default_rps": ">= 2000", "api_search_default_p99_ms": "<= 25",
    "api_search_filtered_rps": ">= 2000", "api_search_filtered_p99_ms": "<= 25",
    "api_by_id_rps": ">= 8000", "api_peak_rss_mb": "<= 64",
    "api_search_default_errors": "== 0", "api_search_filtered_errors": "== 0",
    "api_keyset_deep_errors": "== 0", "api_by_id_errors": "== 0"
  }
}
JSON
jq -c . "$BENCH_OUT/api.json" >/dev/null
echo "api bench: wrote $BENCH_OUT/api.json"
