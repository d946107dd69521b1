#!/usr/bin/env bash
# check_feeds.sh - `diamond check` and /metrics with two feeds (FEEDS=nivoda,acme, issue 18):
# each feed's watermark is checked (acme's never written, then 49 h old, while nivoda's is
# fresh: the threshold breaches and names acme), the worker error rate of a small failing
# feed is not averaged away by a healthy big one, each feed's consolidator failures are shown,
# --json gives the per-feed parts, and /metrics has diamond_feed_watermark_age_seconds per feed
# beside the default feed's diamond_watermark_age_seconds (each falling back to its own feed's
# last completed run while the watermark cannot be read).
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db check_feeds
export WATERMARK_DIR=$T/wm
mkdir -p "$WATERMARK_DIR"
export FEEDS=nivoda,acme FEED_ACME_TYPE=file FEED_ACME_URL="file://$T/acme.csv"
export NIVODA_ENDPOINT=http://127.0.0.1:9/graphql NIVODA_USERNAME=u NIVODA_PASSWORD=p

iso() { date -u -d "$1" +%Y-%m-%dT%H:%M:%S.000Z; }
RN=$(psql_q "INSERT INTO run_metadata (run_type, feed, updated_from, updated_to, expected_workers)
             VALUES ('full', 'nivoda', '2000-01-01', now(), 1) RETURNING run_id")
RA=$(psql_q "INSERT INTO run_metadata (run_type, feed, updated_from, updated_to, expected_workers)
             VALUES ('full', 'acme', '2000-01-01', now(), 1) RETURNING run_id")
psql_q "INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, estimated_records,
        pages, page_errors, updated_at) VALUES ('$RN', 'p0', 0, 1000, 100, 1000, 10, now()),
        ('$RA', 'p0', 0, 1000, 100, 9, 0, now())" >/dev/null
set_wm() { # FILE AGE RUN
    printf '{"lastUpdatedAt":"%s","lastRunId":"%s","lastRunCompletedAt":"%s"}' \
        "$(iso "$2")" "$3" "$(iso "$2")" >"$WATERMARK_DIR/$1"
}
run_check() { # NAME ARGS...: output in $T/NAME.out, status in $RC
    RC=0
    "$DIAMOND" check --no-alerts "${@:2}" >"$T/$1.out" 2>"$T/$1.err" || RC=$?
}
# row NAME METRIC [FEED]: the line of output NAME of METRIC, or of FEED under METRIC's line.
row() {
    awk -v m="$2" -v f="${3-}" 'index($0, m) == 1 { if (f == "") { print; exit } in_m = 1; next }
        in_m && index($0, "  feed " f " ") == 1 { print; exit }
        in_m && index($0, "  feed ") != 1 { exit }' "$T/$1.out"
}
state() { row "$@" | grep -oE ' (OK|BREACH|UNKNOWN) ' | head -1 | tr -d ' '; }

# --- the watermark of every feed ---------------------------------------------------------------
set_wm watermark.json "-1 hour" "$RN" # nivoda's is fresh; acme.json was never written
run_check never
check_eq "acme never written: exit 1" 1 "$RC"
check_eq "the watermark threshold breaches" BREACH "$(state never 'Watermark age')"
check "it names the feed" bash -c "grep '^Watermark age' '$T/never.out' | grep -q 'feed acme: never written'"
check_eq "nivoda's line OK" OK "$(state never 'Watermark age' nivoda)"
check_eq "acme's line BREACH" BREACH "$(state never 'Watermark age' acme)"
check_eq "only the watermark breaches" 1 "$(grep -c '^[A-Z].* BREACH ' "$T/never.out")"

set_wm acme.json "-49 hours" "$RA"
run_check old
check_eq "acme 49 h old: breached" BREACH "$(state old 'Watermark age')"
check "the value is acme's age" bash -c "grep '^Watermark age' '$T/old.out' | grep -qE 'feed acme: (48\.9|49\.0|49\.1) h'"
check_eq "nivoda still OK" OK "$(state old 'Watermark age' nivoda)"

set_wm acme.json "-2 hours" "$RA"
run_check fresh
check_eq "both fresh: exit 0" 0 "$RC"
check "the older feed's age is the value" bash -c "grep '^Watermark age' '$T/fresh.out' | grep -qE 'feed acme: (1\.9|2\.0|2\.1) h'"

# --- the worker error rate per feed -------------------------------------------------------------
# nivoda 10 failed of 1,010 (0.99 %), acme 1 failed of 10 (10 %): 11 of 1,020 overall (1.08 %).
psql_q "UPDATE partition_progress SET page_errors = 1, updated_at = now() WHERE run_id = '$RA'" >/dev/null
run_check errors
check_eq "a small feed at 10 %: breached" BREACH "$(state errors 'Worker error rate')"
check "the value names the feed and the overall rate" bash -c "grep '^Worker error rate' '$T/errors.out' | grep -q '10.00% (feed acme; 1.08% over all feeds)'"
check "acme's line" grep -q 'BREACH   10.00% (1 failed of 10 page attempts' <(row errors 'Worker error rate' acme)
check_eq "nivoda's line OK" OK "$(state errors 'Worker error rate' nivoda)"
psql_q "UPDATE partition_progress SET page_errors = 0 WHERE run_id = '$RA'" >/dev/null

# --- consolidator failures per feed --------------------------------------------------------------
psql_q "UPDATE run_metadata SET consolidation_failures = 1, consolidation_failed_at = now() WHERE run_id = '$RA'" >/dev/null
run_check consol
check_eq "one failure a day in total: OK" OK "$(state consol 'Consolidator failures')"
check "acme's line counts it" grep -q 'OK       1 in 24 h (1 run)' <(row consol 'Consolidator failures' acme)
check "nivoda's line none" grep -q 'OK       0 in 24 h (0 runs)' <(row consol 'Consolidator failures' nivoda)

# --- --json -----------------------------------------------------------------------------------
set_wm acme.json "-49 hours" "$RA"
run_check json --json
check "--json: the watermark's feeds" node -e "
  const o = JSON.parse(require('fs').readFileSync('$T/json.out', 'utf8'));
  const w = o.checks.find((c) => c.name === 'watermark_age');
  const f = Object.fromEntries(w.feeds.map((x) => [x.feed, x.state]));
  const e = o.checks.find((c) => c.name === 'worker_error_rate');
  process.exit(!o.ok && w.state === 'BREACH' && f.nivoda === 'OK' && f.acme === 'BREACH'
    && e.feeds.length === 2 && !o.checks.find((c) => c.name === 'dead_letters').feeds ? 0 : 1)"

# --- one feed: the seed's table, no feed lines ----------------------------------------------------
FEEDS=nivoda run_check one
check_eq "FEEDS=nivoda: no feed lines" 0 "$(grep -c '^  feed ' "$T/one.out" || true)"
check_eq "FEEDS=nivoda: the watermark is nivoda's (OK)" OK "$(state one 'Watermark age')"

# --- /metrics: each feed's watermark age --------------------------------------------------------
start_api api HMAC_SECRETS='{}' API_SEARCH_INDEX=false METRICS_CACHE_MS=0
KEY=$(new_key ops admin,read)
req GET /metrics "" "X-API-Key: $KEY"
check_eq "metrics 200" 200 "$STATUS"
age() { awk -v m="$1" 'index($0, m" ") == 1 { print int($2 / 3600) }' "$T/body"; }
check_eq "the default feed's series unchanged (nivoda, 1 h)" 1 "$(age diamond_watermark_age_seconds)"
check_eq "nivoda's per-feed series" 1 "$(age 'diamond_feed_watermark_age_seconds{feed="nivoda"}')"
check_eq "acme's per-feed series (49 h)" 49 "$(age 'diamond_feed_watermark_age_seconds{feed="acme"}')"

# Without a readable watermark, each series falls back to its own feed's last completed run:
# the default feed's series no longer takes the newest run of any feed (acme's, 3 h).
psql_q "UPDATE run_metadata SET completed_at = now(), updated_to = now() - interval '10 hours' WHERE run_id = '$RN';
        UPDATE run_metadata SET completed_at = now(), updated_to = now() - interval '3 hours' WHERE run_id = '$RA'" >/dev/null
mkdir -p "$T/no-watermarks"
start_api api2 HMAC_SECRETS='{}' API_SEARCH_INDEX=false METRICS_CACHE_MS=0 WATERMARK_DIR="$T/no-watermarks"
req GET /metrics "" "X-API-Key: $KEY"
check_eq "no watermark: the default feed's series from nivoda's last run (10 h)" 10 "$(age diamond_watermark_age_seconds)"
check_eq "no watermark: nivoda's per-feed series from its last run" 10 "$(age 'diamond_feed_watermark_age_seconds{feed="nivoda"}')"
check_eq "no watermark: acme's per-feed series from its last run" 3 "$(age 'diamond_feed_watermark_age_seconds{feed="acme"}')"
finish
