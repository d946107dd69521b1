#!/usr/bin/env bash
# bench/consolidate_two_feeds.sh - issue 18: consolidation of two overlapping 500,000-stone feeds
# into one catalogue with one listing per physical stone (BENCH_QUICK=1: 100,000 each), private
# cluster, cleaned up. FEEDS=nivoda,second (both Nivoda-shaped: what is measured is the
# catalogue and listing work, not a feed's mapping). Raw rows are loaded directly (the SQL
# generator of tests/integration/consol_lib.sql, 5,000 distinct items replicated under new stone
# ids and, here, new certificate numbers), TWO_FEEDS_SHARE (0.3) of feed second's stones being
# feed nivoda's physical stones (same lab, certificate number and grading) at their own prices
# and availability; then consolidated through the queue by a real `diamond consolidator`:
#   nivoda_stones_per_s           feed nivoda into an empty catalogue (every offer a new listing)
#   second_stones_per_s           feed second into that catalogue: its shared stones join
#                                 nivoda's listings (the chosen offer recomputed for each)
#   recompute_stones_per_s        feed second again with every price and availability changed:
#   recompute_s                   every one of its offers re-chosen against nivoda's; the time
#                                 of that run is the time of the chosen recompute at this scale
#                                 (recompute_takeovers: listings whose chosen offer changed)
#   reprice_s                     `diamond reprice` over both feeds' offers (retail prices and
#                                 then the chosen offers recomputed)
#   consolidator_peak_rss_mb      VmHWM of the consolidator over all of it
# Checked, not timed: listings = distinct identities (2N - shared), one chosen offer each.
# Writes $BENCH_OUT/consolidate_two_feeds.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/scripts/lib.sh"
bench_env
N=${TWO_FEEDS_BENCH_N:-500000}
if [ "${BENCH_QUICK:-0}" = 1 ]; then N=100000; fi
SHARE=${TWO_FEEDS_SHARE:-0.3}
S=$(awk -v n="$N" -v s="$SHARE" 'BEGIN { printf "%d", n * s }')
export LOG_LEVEL=${LOG_LEVEL:-info}
export FEEDS=nivoda,second FEED_SECOND_TYPE=nivoda
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-consol2.XXXXXX")
chmod 755 "$tmp" # the private PostgreSQL runs as the postgres user when we are root
CPID=""
cleanup() {
    [ -n "$CPID" ] && kill -TERM "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
    "$DIAMOND_BIN" db stop --dir "$tmp/pg" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

consol_bench_db "$tmp" # migrated with FEEDS: raw_diamonds_second too
q() { psql -qAt -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }
[ "$(q "SELECT to_regclass('raw_diamonds_second') IS NOT NULL")" = t ] ||
    { echo "consolidate_two_feeds: migrate made no raw_diamonds_second (FEEDS=$FEEDS)" >&2; exit 1; }

# Feed F's stones lo..hi under run r. Physical stone p (what the certificate and the grading
# come from): nivoda's stone n is p = n; second's stone j is p = j for j <= shared (nivoda's
# stone j) and p = N + j otherwise. Grading comes from the base item 1 + p % 5000 (salt 0
# draws), prices and availability from the base set of the feed's salt, the certificate number
# from p (unique per physical stone).
cat >"$tmp/ingest_feed.sql" <<'SQL'
CREATE OR REPLACE FUNCTION dm_test.ingest_feed(feed text, r uuid, lo bigint, hi bigint, salt int,
                                               shared bigint, n_all bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    tbl text := 'raw_diamonds_' || feed;
    pre text := CASE WHEN feed = 'nivoda' THEN '' ELSE feed || '-' END;
BEGIN
    EXECUTE format('CREATE TABLE IF NOT EXISTS dm_test.base_%s AS
                    SELECT i, dm_test.item(i, %s) AS t FROM generate_series(1, 5000) i', salt, salt);
    EXECUTE format($f$
    INSERT INTO %1$I (supplier_stone_id, offer_id, payload, payload_hash, run_id, last_seen_run_id)
    SELECT sid, oid, x::json, encode(sha256(convert_to(x, 'UTF8')), 'hex'), $1, $1
    FROM (SELECT %2$L || 'stone-' || s.n AS sid, %2$L || 'offer-' || s.n AS oid,
                 replace(replace(replace(b.t, '"stone-' || b.i || '"', '"' || %2$L || 'stone-' || s.n || '"'),
                                 '"offer-' || b.i || '"', '"' || %2$L || 'offer-' || s.n || '"'),
                         '"certNumber" : "' || (1000000000 + b.i) || '"',
                         '"certNumber" : "' || (2000000000 + s.p) || '"') AS x
          FROM (SELECT n, CASE WHEN %3$L = 'nivoda' OR n <= $2 THEN n ELSE $3 + n END AS p
                FROM generate_series($4, $5) n) s
          JOIN dm_test.base_%4$s b ON b.i = 1 + s.p %% 5000) s2
    ON CONFLICT (supplier_stone_id) DO UPDATE SET payload = EXCLUDED.payload,
        consolidation_status = CASE WHEN %1$I.payload_hash = EXCLUDED.payload_hash
                                    THEN %1$I.consolidation_status ELSE 'pending' END,
        payload_hash = EXCLUDED.payload_hash, run_id = EXCLUDED.run_id,
        last_seen_run_id = EXCLUDED.last_seen_run_id, updated_at = now()
    $f$, tbl, pre, feed, salt)
    USING r, shared, n_all, lo, hi;
END $$;
SQL
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f "$tmp/ingest_feed.sql" >/dev/null

"$DIAMOND_BIN" consolidator --sweep-interval-ms 0 >"$tmp/consolidator.log" 2>&1 &
CPID=$!
# exit, not return: run() is called in a command substitution, where set -e does not hold.
wait_run() { wait_run_completed "$1" 1800 "$tmp/consolidator.log" || exit 1; }
rate() { q "SELECT round(stats_processed * 1000.0 / greatest(consolidation_duration_ms, 1)) FROM run_metadata WHERE run_id = '$1'"; }
secs() { q "SELECT round(consolidation_duration_ms / 1000.0, 2) FROM run_metadata WHERE run_id = '$1'"; }
# run FEED SALT: one full run of the feed (all N stones), consolidated; prints the run id.
run() {
    local r t0
    r=$(q "SELECT dm_test.make_run('full')")
    q "UPDATE run_metadata SET feed = '$1' WHERE run_id = '$r'" >/dev/null
    t0=$SECONDS
    q "SELECT dm_test.ingest_feed('$1', '$r', 1, $N, $2, $S, $N)" >/dev/null
    q "VACUUM ANALYZE raw_diamonds_$1" >/dev/null
    echo "consolidate_two_feeds: feed $1: $N raw rows written in $((SECONDS - t0)) s" >&2
    q "SELECT dm_test.finish_run('$r')" >/dev/null
    "$DIAMOND_BIN" consolidate "$r" >/dev/null
    wait_run "$r"
    q "VACUUM ANALYZE diamonds" >/dev/null
    echo "$r"
}
chosen_snapshot() { q "COPY (SELECT listing_key, id FROM diamonds WHERE status = 'active' AND chosen) TO STDOUT" | LC_ALL=C sort >"$1"; }

LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
echo "consolidate_two_feeds: 2 x $N stones, $S shared (load average $LOAD_START on $(nproc) cores, shared_buffers $(q "SHOW shared_buffers"))"

R1=$(run nivoda 0)
A_RATE=$(rate "$R1") A_S=$(secs "$R1")
echo "consolidate_two_feeds: nivoda into an empty catalogue: $N stones in $A_S s = $A_RATE stones/s"
R2=$(run second 3)
B_RATE=$(rate "$R2") B_S=$(secs "$R2")
echo "consolidate_two_feeds: second (sharing $S stones): $N stones in $B_S s = $B_RATE stones/s"
chosen_snapshot "$tmp/chosen-before"
R3=$(run second 5)
C_RATE=$(rate "$R3") C_S=$(secs "$R3")
chosen_snapshot "$tmp/chosen-after"
TAKEOVERS=$(LC_ALL=C comm -13 "$tmp/chosen-before" "$tmp/chosen-after" | wc -l)
echo "consolidate_two_feeds: second with every price/availability changed (chosen recompute): $N stones in $C_S s = $C_RATE stones/s, $TAKEOVERS listings changed their chosen offer"

RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$CPID/status")
RSS_MB=$(((RSS_KB + 1023) / 1024))
LISTINGS=$(q "SELECT count(*) FROM diamonds WHERE status = 'active' AND chosen")
DUP=$(q "SELECT count(*) FROM (SELECT listing_key FROM diamonds WHERE status = 'active' AND chosen GROUP BY 1 HAVING count(*) > 1) d")
OFFERS=$(q "SELECT count(*) FROM diamonds WHERE status = 'active'")
EXPECTED=$((2 * N - S))
echo "consolidate_two_feeds: $OFFERS active offers, $LISTINGS listings (expected $EXPECTED), $DUP identities with two chosen offers; consolidator peak RSS $RSS_MB MB"
[ "$LISTINGS" = "$EXPECTED" ] && [ "$DUP" = 0 ] || { echo "consolidate_two_feeds: wrong listings" >&2; exit 1; }

q "UPDATE pricing_rules SET markup_ratio = 1.2000 WHERE name = 'Default markup'" >/dev/null
t0=$(date +%s.%N)
"$DIAMOND_BIN" reprice >"$tmp/reprice.out"
t1=$(date +%s.%N)
REPRICE_S=$(echo "$t1 $t0" | awk '{printf "%.2f", $1 - $2}')
echo "consolidate_two_feeds: $(cat "$tmp/reprice.out") (wall $REPRICE_S s)"
DUP2=$(q "SELECT count(*) FROM (SELECT listing_key FROM diamonds WHERE status = 'active' AND chosen GROUP BY 1 HAVING count(*) > 1) d")
LISTINGS2=$(q "SELECT count(*) FROM diamonds WHERE status = 'active' AND chosen")
[ "$LISTINGS2" = "$EXPECTED" ] && [ "$DUP2" = 0 ] || { echo "consolidate_two_feeds: wrong listings after reprice" >&2; exit 1; }
# Every offer repriced, those the listing choice rewrote during the reprice included.
STALE=$(q "SELECT count(*) FROM diamonds WHERE status = 'active'
           AND (markup_ratio <> 1.2 OR retail_price <> round(feed_price * 1.2, 2))")
[ "$STALE" = 0 ] || { echo "consolidate_two_feeds: $STALE offers not repriced" >&2; exit 1; }

LOAD_END=$(cut -d' ' -f1 /proc/loadavg)
cat >"$BENCH_OUT/consolidate_two_feeds.json" <<JSON
{"stones_per_feed": $N, "shared_stones": $S, "listings": $LISTINGS, "offers": $OFFERS,
 "load_avg_start": $LOAD_START, "load_avg_end": $LOAD_END,
 "nivoda_stones_per_s": $A_RATE, "nivoda_s": $A_S,
 "second_stones_per_s": $B_RATE, "second_s": $B_S,
 "recompute_stones_per_s": $C_RATE, "recompute_s": $C_S, "recompute_takeovers": $TAKEOVERS,
 "reprice_s": $REPRICE_S, "consolidator_peak_rss_mb": $RSS_MB,
 "targets": {"nivoda_stones_per_s": ">= 12000", "second_stones_per_s": ">= 12000",
             "recompute_stones_per_s": ">= 12000", "consolidator_peak_rss_mb": "<= 64", "reprice_s": "<= 60"}}
JSON
cat "$BENCH_OUT/consolidate_two_feeds.json"
