#!/usr/bin/env bash
# bench/api.sh - `diamond api` at 500,000 active diamonds (issues 7 and 14): wrk (2 threads,
# 32 connections, API_BENCH_DURATION, default 30 s).
#   varied_search         every request a different shopper search (bench/varied_search.lua:
#                         seeded; 1-3 shapes, carat range, colour and clarity runs, sometimes
#                         lab_grown and a price range, any sort, page 1-5, limit 20-50)
#   varied_search_facets  the same with include=facets
#   facets                GET /api/v2/diamonds/facets with the same varied filters
#   by_id                 get by id (random ids)
#   cache_default, cache_filtered, cache_keyset_deep, cache_first_page
#                         one URL repeated: on the SQL path served by the 1 s search
#                         micro-cache (they measure the cache, not search); the index path
#                         has no response cache and renders each
#   nocache_default, nocache_filtered, nocache_keyset_deep
#                         the same single URLs with the micro-cache off (API_CACHE_MS=0)
# Reports req/s (answered requests: errors are not counted), p50/p99, errors and CPU per request (API and PostgreSQL) per case, the API's
# RSS, and the search index (/health searchIndex, /metrics diamond_search_index_load_seconds):
# the bench waits until the index says ok before measuring; a build without the index is
# reported as api_search_index_ok 0 (a missed target), never silently measured as if it had one.
# The varied cases' URLs are counted (api_varied_*_distinct_ratio: distinct / sent).
# Private cluster, cleaned up. Writes $BENCH_OUT/api.json. BENCH_QUICK=1: 100,000 rows, 10 s.
# For iteration: API_BENCH_DIR=<dir> keeps the cluster (and its rows) there between runs (the
# load is skipped when the catalogue already has N active rows; stop it with `diamond db stop
# --dir <dir>/pg`), API_BENCH_CASES="varied_search by_id ..." runs only those cases (the JSON is
# then not written). VARIED_SEED (default 42) seeds the varied searches.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/scripts/lib.sh"
bench_env
N=${API_BENCH_ROWS:-500000}
DUR=${API_BENCH_DURATION:-30s}
if [ "${BENCH_QUICK:-0}" = 1 ]; then N=100000; DUR=10s; fi
command -v wrk >/dev/null || { echo "api bench: wrk is not installed (scripts/install-deps)" >&2; exit 1; }
export LOG_LEVEL=warn

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

BASE=""
api_t0=""
# start_api [ENV=VALUE...]: starts `diamond api` on a free port with the production defaults
# plus the given environment, waits for /health, then for the search index (see index_wait).
start_api() {
    api_port=$(free_port)
    BASE="http://127.0.0.1:$api_port"
    api_t0=$(date +%s.%N)
    # One API key sends every request: no per-key rate limit (API_RATE_LIMIT_RPS=0).
    env PORT="$api_port" HMAC_SECRETS='{}' API_RATE_LIMIT_RPS=0 LOG_LEVEL=info "$@" "$DIAMOND_BIN" api >/dev/null 2>>"$dir/api.err" &
    api_pid=$!
    for _ in $(seq 1 300); do curl -s "$BASE/health" >/dev/null && break; sleep 0.1; done
    index_wait
}
stop_api() {
    kill -TERM "$api_pid"; wait "$api_pid" 2>/dev/null || true
    api_pid=""
}
# index_wait: /health's searchIndex: wait (up to 300 s) while it is loading. Sets INDEX_STATUS
# (ok, loading, stale, off, or absent when /health has no searchIndex: a build without the
# index), INDEX_READY_S (API start to status ok, wall time), INDEX_ROWS and INDEX_LOAD_S (from
# /metrics diamond_search_index_load_seconds, "null" when not exported).
INDEX_STATUS=absent INDEX_READY_S=null INDEX_ROWS=null INDEX_LOAD_S=null
index_wait() {
    local end=$((SECONDS + 300)) h
    while :; do
        h=$(curl -s "$BASE/health" || true)
        INDEX_STATUS=$(echo "$h" | jq -r 'if (.searchIndex | type) == "object" then .searchIndex.status // "unknown" else "absent" end' 2>/dev/null || echo absent)
        [ "$INDEX_STATUS" = loading ] && [ $SECONDS -lt $end ] || break
        sleep 0.1
    done
    case "$INDEX_STATUS" in
    ok)
        INDEX_READY_S=$(awk -v a="$api_t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
        INDEX_ROWS=$(echo "$h" | jq '.searchIndex.rows // null')
        INDEX_LOAD_S=$(curl -s -H "X-API-Key: $KEY" "$BASE/metrics" | awk '$1 == "diamond_search_index_load_seconds" { print $2 + 0; exit }')
        # (/health's searchIndex.loadSeconds when /metrics does not export it)
        [ -n "$INDEX_LOAD_S" ] || INDEX_LOAD_S=$(echo "$h" | jq '.searchIndex.loadSeconds // null')
        echo "api bench: search index ok: $INDEX_ROWS rows, ready ${INDEX_READY_S} s after start, load ${INDEX_LOAD_S} s (/metrics)" >&2
        grep -i 'index' "$dir/api.err" | tail -3 >&2 || true
        ;;
    absent)
        echo "api bench: /health has no searchIndex: this build has no in-memory search index;" \
            "the figures below measure the SQL path and api_search_index_ok is 0 (a missed target)" >&2 ;;
    *)
        echo "api bench: search index status '$INDEX_STATUS' (not ok) after waiting: api_search_index_ok is 0" >&2 ;;
    esac
}

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
VARIED_LUA=$ROOT/bench/varied_search.lua
export BENCH_API_KEY=$KEY VARIED_SEED=${VARIED_SEED:-42}

# run NAME URL SCRIPT -> prints "rps p50_ms p99_ms errors api_us_per_req pg_us_per_req"
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
    # Warm-up (caches, connections), then the measured run. The varied cases' warm-up also
    # counts the answers (VARIED_CHECK: how many were 200, how many found nothing).
    VARIED_CHECK=1 wrk -t2 -c32 -d3s -s "$script" "$url" >"$dir/$name.warmup" 2>&1 || true
    if grep -q '^varied:' "$dir/$name.warmup"; then
        echo "api bench: $name warm-up: $(grep '^varied:' "$dir/$name.warmup" | sed 's/^varied: //')" >&2
    fi
    local pids a0 g0 a1 g1
    pids=$(pg_pids)
    a0=$(cpu_ms "$api_pid"); g0=$(cpu_ms $pids)
    wrk -t2 -c32 -d"$DUR" --latency -s "$script" "$url" >"$dir/$name.out" 2>&1
    a1=$(cpu_ms "$api_pid"); g1=$(cpu_ms $pids)
    if ! kill -0 "$api_pid" 2>/dev/null; then
        local st=0
        wait "$api_pid" || st=$?
        echo "api bench: the API exited during $name (exit status $st; 0 = a SIGTERM from outside this script, 139 = SIGSEGV); stderr:" >&2
        tail -20 "$dir/api.err" >&2
        exit 1
    fi
    cp "$dir/$name.out" "$BENCH_OUT/api-$name.wrk.txt" 2>/dev/null || true
    local rps p50 p99 non2xx sock
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$dir/$name.out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$dir/$name.out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$dir/$name.out")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$dir/$name.out")
    sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$dir/$name.out")
    local errors=$(( ${non2xx:-0} + ${sock:-0} ))
    local reqs cpu api_us pg_us
    reqs=$(awk '/requests in/ {print $1}' "$dir/$name.out")
    # req/s counts answered requests only: a case whose route fails fast (404, 5xx) must not
    # show a rate that meets its target.
    rps=$(awk -v r="${rps:-0}" -v n="${reqs:-0}" -v e="$errors" 'BEGIN { printf "%.2f", (n > 0 ? r * (n - e) / n : 0) }')
    read -r api_us pg_us <<<"$(awk -v a=$((a1 - a0)) -v g=$((g1 - g0)) -v n="${reqs:-0}" \
        'BEGIN { if (n > 0) printf "%.0f %.0f", a * 1000 / n, g * 1000 / n; else print "null null" }')"
    cpu="cpu/req api $api_us us, pg $pg_us us"
    printf 'api bench: %-20s %10s req/s  p50 %7s ms  p99 %7s ms  errors %s  %s  load %s\n' "$name" "${rps:-0}" "$p50" "$p99" "$errors" "$cpu" "$(cut -d' ' -f1 /proc/loadavg)" >&2
    if grep -q '^varied:' "$dir/$name.out"; then
        echo "api bench: $name: $(grep '^varied:' "$dir/$name.out" | sed 's/^varied: //')" >&2
    fi
    echo "${rps:-0} $p50 $p99 $errors $api_us $pg_us"
}
# no_facets NAME -> the warm-up's count of 200 answers without a facets member (null if the
# warm-up printed none).
no_facets() {
    awk '/^varied:/ { for (i = 1; i <= NF; i++) if ($i == "without" && $(i + 1) == "facets") n = $(i - 1) }
         END { print (n == "" ? "null" : n) }' "$dir/$1.warmup"
}
# distinct NAME -> "sent distinct ratio" from the measured run's done() line.
distinct() {
    awk '/^varied:/ { for (i = 1; i <= NF; i++) { if ($i == "generated,") g = $(i - 1); if ($i == "distinct") d = $(i - 1) } }
         END { if (g > 0) printf "%d %d %.4f", g, d, d / g; else print "0 0 0" }' "$dir/$1.out"
}
# run prints its figures to stderr and the result line to stdout (tee /dev/stderr would
# reopen - and truncate - a redirected log).
declare -A RES=()
FILTERED_QS="shape=ROUND&carat_min=0.5&carat_max=2&color=D&color=E&color=F&color=G&sort_by=retail_price&sort_order=asc"

# 1. The production configuration (index as configured, 1 s micro-cache).
start_api
INDEX_OK=0
[ "$INDEX_STATUS" = ok ] && INDEX_OK=1
INDEX_STATUS_1=$INDEX_STATUS INDEX_READY_S_1=$INDEX_READY_S INDEX_ROWS_1=$INDEX_ROWS INDEX_LOAD_S_1=$INDEX_LOAD_S
if want varied_search; then RES[varied_search]=$(VARIED_KIND=search run varied_search "$BASE" "$VARIED_LUA" | tail -1); fi
if want varied_search_facets; then RES[varied_search_facets]=$(VARIED_KIND=search_facets run varied_search_facets "$BASE" "$VARIED_LUA" | tail -1); fi
if want facets; then RES[facets]=$(VARIED_KIND=facets run facets "$BASE" "$VARIED_LUA" | tail -1); fi
if want by_id; then RES[by_id]=$(run by_id "$BASE/api/v2/diamonds/x" "$dir/byid.lua" | tail -1); fi
if want cache_default; then RES[cache_default]=$(run cache_default "$BASE/api/v2/diamonds" "$dir/key.lua" | tail -1); fi
if want cache_filtered; then RES[cache_filtered]=$(run cache_filtered "$BASE/api/v2/diamonds?$FILTERED_QS" "$dir/key.lua" | tail -1); fi
if want cache_keyset_deep; then RES[cache_keyset_deep]=$(run cache_keyset_deep "$BASE/api/v2/diamonds?cursor=$CURSOR" "$dir/key.lua" | tail -1); fi
if want cache_first_page; then RES[cache_first_page]=$(run cache_first_page "$BASE/api/v2/diamonds?limit=50&page=1" "$dir/key.lua" | tail -1); fi
rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$api_pid/status")
rss_mb=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
echo "api bench: API peak RSS ${rss_mb} MB (VmHWM)"
# Sanity: the deep keyset page really is deep and full.
deep_ok=$(curl -s -H "X-API-Key: $KEY" "$BASE/api/v2/diamonds?cursor=$CURSOR" | jq '.data | length')
index_q=$(curl -s -H "X-API-Key: $KEY" "$BASE/metrics" | awk '/^diamond_api_search_queries_total\{path="index"\}/ { print $2 + 0; exit }')
index_mb=$(curl -s -H "X-API-Key: $KEY" "$BASE/metrics" | awk '$1 == "diamond_search_index_bytes" { printf "%.1f", $2 / 1048576; exit }')
[ -z "$index_q" ] || echo "api bench: searches answered by the index: $index_q; index memory ${index_mb:-?} MB (/metrics)"
stop_api

# 2. The same single URLs with the micro-cache off.
if want nocache_default || want nocache_filtered || want nocache_keyset_deep; then
start_api API_CACHE_MS=0
if want nocache_default; then RES[nocache_default]=$(run nocache_default "$BASE/api/v2/diamonds" "$dir/key.lua" | tail -1); fi
if want nocache_filtered; then RES[nocache_filtered]=$(run nocache_filtered "$BASE/api/v2/diamonds?$FILTERED_QS" "$dir/key.lua" | tail -1); fi
if want nocache_keyset_deep; then RES[nocache_keyset_deep]=$(run nocache_keyset_deep "$BASE/api/v2/diamonds?cursor=$CURSOR" "$dir/key.lua" | tail -1); fi
stop_api
fi
if [ -n "$CASES" ]; then
    echo "api bench: API_BENCH_CASES set: $BENCH_OUT/api.json not written"
    exit 0
fi

f() { echo "$1" | awk -v i="$2" '{ print ($i == "" ? "null" : $i) }'; }
figures=""
for c in varied_search varied_search_facets facets by_id cache_default cache_filtered cache_keyset_deep \
    cache_first_page nocache_default nocache_filtered nocache_keyset_deep; do
    r=${RES[$c]}
    figures+="  \"api_${c}_rps\": $(f "$r" 1), \"api_${c}_p50_ms\": $(f "$r" 2), \"api_${c}_p99_ms\": $(f "$r" 3), \"api_${c}_errors\": $(f "$r" 4), \"api_${c}_cpu_api_us\": $(f "$r" 5), \"api_${c}_cpu_pg_us\": $(f "$r" 6),"$'\n'
done
for c in varied_search varied_search_facets facets; do
    read -r sent dist ratio <<<"$(distinct "$c")"
    figures+="  \"api_${c}_urls_sent\": $sent, \"api_${c}_urls_distinct\": $dist, \"api_${c}_distinct_ratio\": $ratio,"$'\n'
done
for c in varied_search_facets facets; do
    figures+="  \"api_${c}_answers_without_facets\": $(no_facets "$c"),"$'\n'
done
cat >"$BENCH_OUT/api.json" <<JSON
{
  "api_rows": $N,
  "api_duration": "$DUR",
  "api_varied_seed": $VARIED_SEED,
  "api_search_index_status": "$INDEX_STATUS_1",
  "api_search_index_ok": $INDEX_OK,
  "api_search_index_rows": $INDEX_ROWS_1,
  "api_search_index_load_s": $INDEX_LOAD_S_1,
  "api_search_index_ready_s": $INDEX_READY_S_1,
  "api_search_index_queries": ${index_q:-null},
  "api_search_index_mb": ${index_mb:-null},
$figures  "api_keyset_deep_rows": ${deep_ok:-0},
  "api_peak_rss_mb": $rss_mb,
  "targets": {
    "api_search_index_ok": ">= 1",
    "api_varied_search_rps": ">= 3000", "api_varied_search_p99_ms": "<= 20", "api_varied_search_errors": "== 0",
    "api_varied_search_facets_errors": "== 0", "api_varied_search_facets_answers_without_facets": "== 0",
    "api_facets_answers_without_facets": "== 0",
    "api_facets_rps": ">= 1000", "api_facets_p99_ms": "<= 30", "api_facets_errors": "== 0",
    "api_varied_search_distinct_ratio": ">= 0.95", "api_facets_distinct_ratio": ">= 0.95",
    "api_by_id_rps": ">= 8000", "api_by_id_errors": "== 0",
    "api_peak_rss_mb": "<= 256",
    "api_cache_default_rps": ">= 2000", "api_cache_default_p99_ms": "<= 25", "api_cache_default_errors": "== 0",
    "api_cache_filtered_rps": ">= 2000", "api_cache_filtered_p99_ms": "<= 25", "api_cache_filtered_errors": "== 0",
    "api_cache_keyset_deep_errors": "== 0", "api_keyset_deep_rows": ">= 50"
  }
}
JSON
jq -c . "$BENCH_OUT/api.json" >/dev/null
echo "api bench: wrote $BENCH_OUT/api.json"
