#!/usr/bin/env bash
# bench/staleness.sh - how stale the API's search is while the catalogue changes in bulk
# (issue 14: "while a reprice and a consolidation run, the seconds from each commit to the
# first search that reflects it"; target p99 <= 1 s, at least 50 probes).
# A private cluster, a catalogue of N stones (500,000; BENCH_QUICK=1: 100,000; STALENESS_ROWS
# to override) built the production way (raw rows consolidated by a real `diamond
# consolidator`), 50 probe stones (feed 'probe'), one `diamond api` in its production
# configuration (search index on, defaults) waiting until /health searchIndex is ok. Then, at
# the same time:
#   - `diamond reprice` after a rule change (every active price changes),
#   - a full consolidation run in which ~19 % of the stones changed price at the supplier
#     (re-consolidated: upserts) and 5 % were not seen (removed by the run's removal pass),
#   - bench_staleness (bench/bench_staleness.c): every 100 ms one plain UPDATE gives a probe
#     stone a carat value never used before, records when it returned, and polls the search
#     (feed=probe&carat_min=c&carat_max=c) until that stone appears.
# Reports max / p99 / p50 staleness, the number of probes, what ran and for how long, and the
# index's load time. Writes $BENCH_OUT/staleness.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/scripts/lib.sh"
bench_env
STALE_BIN=${STALENESS_BIN:-${DM_BUILD_DIR:-$ROOT/build}/bench_staleness}
N=${STALENESS_ROWS:-500000}
if [ "${BENCH_QUICK:-0}" = 1 ] && [ -z "${STALENESS_ROWS:-}" ]; then N=100000; fi
PROBES=50
INTERVAL_MS=100
[ -x "$STALE_BIN" ] || { echo "staleness: $STALE_BIN not built (cmake --build <dir> --target bench_staleness)" >&2; exit 1; }
export LOG_LEVEL=warn

dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-stale.XXXXXX")
chmod 755 "$dir"
CPID="" APID="" RPID="" SPID=""
cleanup() {
    for p in $SPID $RPID $CPID $APID; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    "$DIAMOND_BIN" db stop --dir "$dir/pg" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
consol_bench_db "$dir"
q() { psql -qAt -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }

# 1. The catalogue, consolidated from raw rows.
echo "staleness: building a catalogue of $N stones (raw rows, then a consolidation)"
t0=$SECONDS
R1=$(q "SELECT dm_test.make_run('full')")
q "SELECT dm_test.ingest_bulk('$R1', 1, $N)" >/dev/null
q "VACUUM ANALYZE raw_diamonds_nivoda" >/dev/null
q "SELECT dm_test.finish_run('$R1')" >/dev/null
"$DIAMOND_BIN" consolidator --sweep-interval-ms 0 >"$dir/consolidator.log" 2>&1 &
CPID=$!
wait_run() { wait_run_completed "$1" 1800 "$dir/consolidator.log"; }
"$DIAMOND_BIN" consolidate "$R1" >/dev/null
wait_run "$R1"
q "INSERT INTO diamonds (feed, supplier_stone_id, offer_id, shape, carats, color, clarity, lab_grown,
       feed_price, price_per_carat, retail_price, markup_ratio, rating, availability, content_hash)
   SELECT 'probe', 'probe-' || k, 'probe-offer-' || k, 'ROUND', 10 + k / 100.0, 'D', 'IF', false,
       1000, 100, 1150, 1.15, 5, 'available', md5('probe' || k) || md5('probe' || k)
   FROM generate_series(0, $((PROBES - 1))) k" >/dev/null
q "VACUUM ANALYZE diamonds" >/dev/null
ACTIVE=$(q "SELECT count(*) FROM diamonds WHERE status = 'active'")
echo "staleness: $ACTIVE active diamonds in $((SECONDS - t0)) s"

# 2. The API, in its production configuration.
api_port=$(free_port)
API="http://127.0.0.1:$api_port"
KEY=$("$DIAMOND_BIN" apikey create --name staleness 2>/dev/null | tail -1)
a0=$(date +%s.%N)
PORT=$api_port HMAC_SECRETS='{}' API_RATE_LIMIT_RPS=0 LOG_LEVEL=info "$DIAMOND_BIN" api >"$dir/api.log" 2>&1 &
APID=$!
INDEX=absent
for _ in $(seq 1 3000); do
    INDEX=$(curl -s "$API/health" | jq -r 'if (.searchIndex | type) == "object" then .searchIndex.status else "absent" end' 2>/dev/null || echo down)
    case "$INDEX" in ok | absent | off) break ;; esac
    sleep 0.1
done
READY_S=$(awk -v a="$a0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
case "$INDEX" in
ok) ;;
absent) echo "staleness: /health has no searchIndex: this build has no search index; measuring what it has (the SQL path and its micro-cache)" >&2 ;;
*) echo "staleness: search index status '$INDEX' (not ok): measuring anyway" >&2 ;;
esac
LOAD_S=$(curl -s "$API/health" | jq '.searchIndex.loadSeconds // null')
echo "staleness: API up, search index $INDEX, ready ${READY_S} s after start (index load ${LOAD_S} s)"

# 3. The work that runs while the probes measure: a full consolidation run with changes...
R2=$(q "SELECT dm_test.make_run('full')")
q "UPDATE raw_diamonds_nivoda SET last_seen_run_id = '$R2' WHERE hashtext(supplier_stone_id) % 20 <> 0" >/dev/null
q "UPDATE raw_diamonds_nivoda r SET payload = x.p::json, payload_hash = encode(sha256(convert_to(x.p, 'UTF8')), 'hex'),
       consolidation_status = 'pending', run_id = '$R2', updated_at = now()
   FROM (SELECT id, jsonb_set(payload::jsonb, '{price}', to_jsonb((payload->>'price')::numeric + 100))::text AS p
         FROM raw_diamonds_nivoda WHERE hashtext(supplier_stone_id) % 5 = 0 AND last_seen_run_id = '$R2') x
   WHERE r.id = x.id" >/dev/null
q "VACUUM ANALYZE raw_diamonds_nivoda" >/dev/null
q "SELECT dm_test.finish_run('$R2')" >/dev/null
CHURN=$(q "SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status = 'pending'")
UNSEEN=$(q "SELECT count(*) FROM raw_diamonds_nivoda WHERE last_seen_run_id <> '$R2'")
# ... and a rule change for the reprice.
q "INSERT INTO pricing_rules (name, priority, lab_grown, markup_ratio, rating) VALUES ('lab-grown', 10, true, 1.3000, 8);
   UPDATE pricing_rules SET markup_ratio = 1.2000 WHERE name = 'Default markup'" >/dev/null
SEQ0=$(q "SELECT coalesce(max(change_seq), 0) FROM diamonds" 2>/dev/null || echo null)

# 4. Probes, with the reprice and the consolidation running together.
stop=$dir/stop
"$STALE_BIN" "$DATABASE_URL" "$API" "$KEY" "$stop" "$INTERVAL_MS" "$PROBES" >"$dir/probe.json" 2>"$dir/probe.log" &
SPID=$!
t0=$(date +%s.%N)
"$DIAMOND_BIN" reprice >"$dir/reprice.out" 2>&1 &
RPID=$!
"$DIAMOND_BIN" consolidate "$R2" >/dev/null
wait_run "$R2"
tc=$(date +%s.%N)
rc=0; wait "$RPID" || rc=$?
RPID=""
tr=$(date +%s.%N)
[ "$rc" = 0 ] || { echo "staleness: reprice failed: $(cat "$dir/reprice.out")" >&2; exit 1; }
touch "$stop"
src=0; wait "$SPID" || src=$?
SPID=""
cat "$dir/probe.log" >&2
LOAD_WALL=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
CONSOL_S=$(awk -v a="$t0" -v b="$tc" 'BEGIN { printf "%.1f", b - a }')
REPRICE_S=$(awk -v a="$t0" -v b="$tr" 'BEGIN { printf "%.1f", b - a }')
read -r CHANGED REMOVED <<<"$(q "SELECT stats_changed, stats_removed FROM run_metadata WHERE run_id = '$R2'" | tr '|' ' ')"
SEQ1=$(q "SELECT coalesce(max(change_seq), 0) FROM diamonds" 2>/dev/null || echo null)
echo "staleness: load: reprice ($(tr '\n' ' ' <"$dir/reprice.out")) ${REPRICE_S} s, together with a full consolidation run (${CHANGED} stones changed, ${REMOVED} removed; $CHURN raw rows pending, $UNSEEN not seen) ${CONSOL_S} s; change_seq $SEQ0 -> $SEQ1"
probe=$(tail -1 "$dir/probe.json")
echo "$probe" | jq -e . >/dev/null || { echo "staleness: no result from bench_staleness" >&2; exit 1; }
RSS_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$APID/status")

jq -n --argjson p "$probe" --argjson rows "$ACTIVE" --arg index "$INDEX" --argjson load "$LOAD_S" \
    --argjson ready "$READY_S" --argjson reprice "$REPRICE_S" --argjson consol "$CONSOL_S" \
    --argjson changed "${CHANGED:-0}" --argjson removed "${REMOVED:-0}" --argjson wall "$LOAD_WALL" \
    --argjson rss "$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')" \
    --arg what "reprice + consolidation, concurrent" \
    '{staleness_rows: $rows, staleness_search_index: $index, staleness_load: $what,
      staleness_index_load_s: $load, staleness_api_ready_s: $ready,
      staleness_reprice_s: $reprice, staleness_consolidation_s: $consol,
      staleness_consolidation_changed: $changed, staleness_consolidation_removed: $removed,
      staleness_window_s: $wall, staleness_api_peak_rss_mb: $rss} + $p +
     {targets: {staleness_p99_s: "<= 1", staleness_probes: ">= 50", staleness_unseen: "== 0",
                staleness_search_errors: "== 0", staleness_api_peak_rss_mb: "<= 256"}}' \
    >"$BENCH_OUT/staleness.json"
cat "$BENCH_OUT/staleness.json"
[ "$src" = 0 ] || echo "staleness: some probes were never seen (bench_staleness exit $src)" >&2
