#!/usr/bin/env bash
# bench/consolidate.sh - the consolidator on 500,000 raw rows (BENCH_QUICK=1: 100,000), private
# cluster, cleaned up. Raw rows are loaded directly (SQL generator of
# tests/integration/consol_lib.sql: 5,000 distinct synthetic Nivoda items replicated under new
# stone ids), then consolidated through the queue by a real `diamond consolidator`:
#   empty_catalogue_stones_per_s  all rows new (target >= 12,000/s)
#   unchanged_stones_per_s        a full run in which nothing changed (target >= 50,000/s): the
#                                 workers keep identical payloads `done`, so the consolidation is
#                                 the removal/reactivation pass over the whole catalogue only
#                                 (stones current / consolidation seconds)
#   unchanged_remap_stones_per_s  worst case: every raw row pending again yet mapping to identical
#                                 content (the supplier touched a non-canonical field of every
#                                 stone): each is claimed, re-mapped, compared and marked done;
#                                 unchanged_rewritten must be 0
#   changed_stones_per_s          every stone's price changed (raw payloads rewritten, pending):
#                                 each is claimed, mapped, priced and rewritten (no target; the
#                                 figure before listings is in docs/performance.md)
#   consolidator_peak_rss_mb      VmHWM of the consolidator over all of it (target <= 64 MB)
#   reprice_s                     `diamond reprice` over all active diamonds after a rule change
#                                 (target <= 30 s)
# Writes $BENCH_OUT/consolidate.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/scripts/lib.sh"
bench_env
N=${CONSOL_BENCH_N:-500000}
if [ "${BENCH_QUICK:-0}" = 1 ]; then N=100000; fi
export LOG_LEVEL=${LOG_LEVEL:-info}

dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-consol.XXXXXX")
chmod 755 "$dir"
CPID=""
cleanup() {
    [ -n "$CPID" ] && kill -TERM "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
    "$DIAMOND_BIN" db stop --dir "$dir/pg" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

# Optional: the cluster's shared_buffers (the embedded cluster's 256MB holds a 100k catalogue
# but not a 500k one with its 14 indexes: reprice and inserts then thrash the buffer pool).
consol_bench_db "$dir"
q() { psql -qAt -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }
# CPU seconds (user + system) of the cluster: the postmaster, its reaped children and its live
# children (the consolidator's pooled backends live through a phase).
PGPID=$(head -1 "$dir/pg/data/postmaster.pid")
TCK=$(getconf CLK_TCK)
pg_cpu() {
    local t
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$PGPID/stat")
    for c in $(cat "/proc/$PGPID/task/$PGPID/children" 2>/dev/null); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
proc_cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "<pg us/stone> <consolidator us/stone>" for a phase of n stones from the tick snapshots.
per_stone() { echo "$1 $2 $3 $4 $5" | awk -v tck="$TCK" '{printf "%.1f %.1f", ($2 - $1) * 1e6 / tck / $5, ($4 - $3) * 1e6 / tck / $5}'; }

LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
echo "consolidate: loading $N raw rows (load average $LOAD_START on $(nproc) cores, shared_buffers $(q "SHOW shared_buffers"))"
t0=$SECONDS
R1=$(q "SELECT dm_test.make_run('full')")
q "SELECT dm_test.ingest_bulk('$R1', 1, $N)" >/dev/null
q "VACUUM ANALYZE raw_diamonds_nivoda" >/dev/null
echo "consolidate: loaded in $((SECONDS - t0)) s"

"$DIAMOND_BIN" consolidator --sweep-interval-ms 0 > "$dir/consolidator.log" 2>&1 &
CPID=$!
wait_run() { wait_run_completed "$1" 900 "$dir/consolidator.log"; }
rate() { q "SELECT round(stats_processed * 1000.0 / greatest(consolidation_duration_ms, 1)) FROM run_metadata WHERE run_id = '$1'"; }
secs() { q "SELECT round(consolidation_duration_ms / 1000.0, 2) FROM run_metadata WHERE run_id = '$1'"; }
# consolidate_run RUN: the workers finish RUN, its CONSOLIDATE is sent, and it completes; sets
# PG_US and CS_US (CPU per stone of PostgreSQL and of the consolidator meanwhile) and SECS.
consolidate_run() {
    local p0 c0
    q "SELECT dm_test.finish_run('$1')" >/dev/null
    p0=$(pg_cpu); c0=$(proc_cpu "$CPID")
    "$DIAMOND_BIN" consolidate "$1" >/dev/null
    wait_run "$1"
    read -r PG_US CS_US <<<"$(per_stone "$p0" "$(pg_cpu)" "$c0" "$(proc_cpu "$CPID")" "$N")"
    SECS=$(secs "$1")
}

# 1. Into an empty catalogue.
consolidate_run "$R1"
EMPTY_PG_US=$PG_US EMPTY_CS_US=$CS_US EMPTY_S=$SECS
EMPTY_RATE=$(rate "$R1")
[ "$(q "SELECT stats_new FROM run_metadata WHERE run_id = '$R1'")" = "$N" ] || { echo "not all rows new" >&2; exit 1; }
echo "consolidate: empty catalogue: $N stones in $EMPTY_S s = $EMPTY_RATE stones/s (CPU per stone: PostgreSQL $EMPTY_PG_US us, consolidator $EMPTY_CS_US us)"

# 2. Nothing changed, but every raw row pending again (worst case for "unchanged").
q "VACUUM ANALYZE raw_diamonds_nivoda" >/dev/null
q "VACUUM ANALYZE diamonds" >/dev/null
R2=$(q "SELECT dm_test.make_run('full')")
q "UPDATE raw_diamonds_nivoda SET consolidation_status = 'pending', last_seen_run_id = '$R2'" >/dev/null
q "VACUUM ANALYZE raw_diamonds_nivoda" >/dev/null
T_BEFORE=$(q "SELECT max(updated_at) FROM diamonds")
consolidate_run "$R2"
REMAP_PG_US=$PG_US REMAP_CS_US=$CS_US REMAP_S=$SECS
REMAP_RATE=$(rate "$R2")
REWRITTEN=$(q "SELECT count(*) FROM diamonds WHERE updated_at > '$T_BEFORE'")
echo "consolidate: unchanged, every row re-mapped (worst case): $N stones in $REMAP_S s = $REMAP_RATE stones/s, $REWRITTEN rewritten (CPU per stone: PostgreSQL $REMAP_PG_US us, consolidator $REMAP_CS_US us)"

# 3. A realistic unchanged full run: identical payloads, raw rows stay done.
R3=$(q "SELECT dm_test.make_run('full')")
q "UPDATE raw_diamonds_nivoda SET last_seen_run_id = '$R3'" >/dev/null
# As after phase 2's rewrite: the vacuum of the simulated ingestion's 500k-row update belongs to
# ingestion (workers write over minutes, autovacuum keeps up), not to the consolidation timed.
q "VACUUM ANALYZE raw_diamonds_nivoda" >/dev/null
consolidate_run "$R3"
UNCH_PG_US=$PG_US UNCH_CS_US=$CS_US RUN3_S=$SECS
UNCH_RATE=$(q "SELECT round($N * 1000.0 / greatest(consolidation_duration_ms, 1)) FROM run_metadata WHERE run_id = '$R3'")
echo "consolidate: unchanged full run (identical payloads stay done): $N stones current in $RUN3_S s = $UNCH_RATE stones/s (CPU per stone: PostgreSQL $UNCH_PG_US us, consolidator $UNCH_CS_US us)"

# 4. Every stone's price changed (a supplier-wide repricing; the worst incremental run): each
# is claimed, mapped, priced and rewritten. With one feed every listing is one offer: the
# batches need no listing choice (solo keys, store/listings.h) and run at once.
R4=$(q "SELECT dm_test.make_run('incremental')")
# A supplier-wide repricing of 3 %: every stone's price times 1.03 (SET reads the old payload
# in both expressions).
NEWP="jsonb_set(payload::jsonb, '{price}', to_jsonb(round((payload->>'price')::numeric * 1.03)))::text"
q "UPDATE raw_diamonds_nivoda SET payload = ($NEWP)::json,
     payload_hash = encode(sha256(convert_to($NEWP, 'UTF8')), 'hex'),
     consolidation_status = 'pending', run_id = '$R4', last_seen_run_id = '$R4'" >/dev/null
q "VACUUM ANALYZE raw_diamonds_nivoda" >/dev/null
consolidate_run "$R4"
CHANGED_PG_US=$PG_US CHANGED_CS_US=$CS_US CHANGED_S=$SECS
CHANGED_RATE=$(rate "$R4")
[ "$(q "SELECT stats_changed FROM run_metadata WHERE run_id = '$R4'")" = "$N" ] || { echo "not every stone changed" >&2; exit 1; }
echo "consolidate: every price changed: $N stones in $CHANGED_S s = $CHANGED_RATE stones/s (CPU per stone: PostgreSQL $CHANGED_PG_US us, consolidator $CHANGED_CS_US us)"

RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$CPID/status")
kill -TERM "$CPID"
wait "$CPID" || true
CPID=""
RSS_MB=$(( (RSS_KB + 1023) / 1024 ))
echo "consolidate: consolidator peak RSS $RSS_MB MB"

# 5. Rule change, then reprice everything.
q "INSERT INTO pricing_rules (name, priority, lab_grown, markup_ratio, rating) VALUES ('lab-grown', 10, true, 1.3000, 8);
   UPDATE pricing_rules SET markup_ratio = 1.2000 WHERE name = 'Default markup'" >/dev/null
nchildren() { wc -w < "/proc/$PGPID/task/$PGPID/children"; }
K0=$(nchildren)
t0=$(date +%s.%N)
P0=$(pg_cpu)
"$DIAMOND_BIN" reprice > "$dir/reprice.out"
t1=$(date +%s.%N)
# The reprice's backends are reaped (their CPU counted) shortly after it exits.
end=$((SECONDS + 10))
while [ "$(nchildren)" -gt "$K0" ] && [ $SECONDS -lt $end ]; do sleep 0.05; done
REPRICE_PG_S=$(echo "$P0 $(pg_cpu)" | awk -v tck="$TCK" '{printf "%.1f", ($2 - $1) / tck}')
REPRICE_S=$(echo "$t1 - $t0" | bc | awk '{printf "%.2f", $1}')
echo "consolidate: $(cat "$dir/reprice.out") (wall $REPRICE_S s, PostgreSQL CPU $REPRICE_PG_S s)"
[ -z "${CONSOL_BENCH_LOG:-}" ] || cp "$dir/consolidator.log" "$CONSOL_BENCH_LOG"
CHANGED=$(grep -o '[0-9]* prices changed' "$dir/reprice.out" | grep -o '[0-9]*')

LOAD_END=$(cut -d' ' -f1 /proc/loadavg)
cat > "$BENCH_OUT/consolidate.json" <<JSON
{"raw_rows": $N, "load_avg_start": $LOAD_START, "load_avg_end": $LOAD_END, "empty_catalogue_stones_per_s": $EMPTY_RATE, "empty_catalogue_s": $EMPTY_S,
 "empty_pg_cpu_us_per_stone": $EMPTY_PG_US, "empty_consolidator_cpu_us_per_stone": $EMPTY_CS_US,
 "unchanged_pg_cpu_us_per_stone": $UNCH_PG_US, "unchanged_consolidator_cpu_us_per_stone": $UNCH_CS_US,
 "unchanged_remap_pg_cpu_us_per_stone": $REMAP_PG_US, "unchanged_remap_consolidator_cpu_us_per_stone": $REMAP_CS_US,
 "reprice_pg_cpu_s": $REPRICE_PG_S,
 "unchanged_stones_per_s": $UNCH_RATE, "unchanged_run_s": $RUN3_S,
 "changed_stones_per_s": $CHANGED_RATE, "changed_s": $CHANGED_S,
 "changed_pg_cpu_us_per_stone": $CHANGED_PG_US, "changed_consolidator_cpu_us_per_stone": $CHANGED_CS_US,
 "unchanged_remap_stones_per_s": $REMAP_RATE, "unchanged_remap_s": $REMAP_S, "unchanged_rewritten": $REWRITTEN, "consolidator_peak_rss_mb": $RSS_MB,
 "reprice_s": $REPRICE_S, "reprice_prices_changed": ${CHANGED:-0},
 "targets": {"empty_catalogue_stones_per_s": ">= 12000", "unchanged_stones_per_s": ">= 50000",
             "consolidator_peak_rss_mb": "<= 64", "reprice_s": "<= 30", "unchanged_rewritten": "== 0"}}
JSON
cat "$BENCH_OUT/consolidate.json"
