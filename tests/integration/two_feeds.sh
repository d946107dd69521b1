#!/usr/bin/env bash
# two_feeds.sh - issue 18's proof: two suppliers, one listing per physical stone. A GraphQL
# simulator (feed nivoda) and a CSV simulator (feed acme, FEED_ACME_TYPE=file) started with
# --share-from so 30 % of its stones are the GraphQL one's physical stones at their own prices;
# both feeds run through the real scheduler, worker and consolidator into one catalogue, and:
#   - the listings are exactly the distinct identities, computed from what the feeds served
#     (raw_diamonds_nivoda's payloads and the downloaded CSV, by two_feeds_expect.py, which
#     writes the identity rule again instead of asking the pipeline); search `total` agrees;
#   - each overlapping stone is listed once, at the offer OFFER_POLICY picks (the order is
#     written again here in SQL: available first, lowest retail, then priority, feed id, stone
#     id); GET /api/v2/diamonds/{listing id} lists both offers;
#   - takeover on sale: the chosen GraphQL offer is bought through the API, the file offer takes
#     over under the same listing id; a hold on a listing whose chosen offer is the file feed's
#     answers 409 (a file feed takes no orders);
#   - takeover on removal: a simulated day of churn, the next file run removes the stones gone
#     from the file and their GraphQL offers take over under the same listing ids;
#   - bad rows: every bad row the simulator wrote is reported with its line number in the run's
#     events, the run still completes;
#   - the shrink guard: a complete snapshot of a third of the stones is refused (the run fails
#     with the reason, an alert), and a download cut mid-row is refused too; the catalogue keeps
#     every listing either way.
# Skipped (exit 77, with the reason) only while a prerequisite of issue 18 is not in this tree.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

# ---- prerequisites (the three issue-18 branches this test proves together)
missing=()
sched_help=$("$DIAMOND" scheduler --help 2>&1 || true) # (grep -q in a pipe: SIGPIPE under pipefail)
grep -q -- '--feed' <<<"$sched_help" || missing+=("feeds-config (diamond scheduler --feed)")
grep -rqs "takes no orders through an API" "$DM_SOURCE_DIR/src/adapters/feed/" || missing+=("file-ingest (the file feed type)")
ls "$DM_SOURCE_DIR"/sql/migrations/009_*.sql >/dev/null 2>&1 || missing+=("listings (migration 009)")
if [ ${#missing[@]} -gt 0 ]; then
    echo "SKIP: issue 18 prerequisites not in this tree yet: ${missing[*]}"
    exit 77
fi

N=${TWO_FEEDS_STONES:-2500}
SHARE=0.3
export WATERMARK_DIR=$T/wm NIVODA_USERNAME=sim NIVODA_PASSWORD=sim NIVODA_MAX_RPS=100000
export WORK_ITEMS_LOCK_MS=2000 LOG_LEVEL=warn
export FEEDS=nivoda,acme FEED_ACME_TYPE=file FEED_ACME_PRIORITY=1 OFFER_POLICY=lowest_retail

# sim NAME ARGS...: a simulator on a free port; sets URL_<NAME>.
sim() {
    local name=$1 port; shift
    port=$(free_port)
    spawn "$name" "$DIAMOND" feed-sim --port "$port" "$@"
    wait_until 60 curl -sf "http://127.0.0.1:$port/" -o /dev/null
    eval "URL_$name=http://127.0.0.1:$port"
}
sim nivoda --seed 31 --count "$N"
# 1 % bad rows in the file (the same stones on every download), a third of each kind.
sim acme --seed 32 --count "$N" --format csv --share-from "31:$SHARE" --malformed-rate 0.01
# shellcheck disable=SC2154 # set by sim through eval
export NIVODA_ENDPOINT=$URL_nivoda/graphql FEED_ACME_URL=$URL_acme/inventory.csv
new_db two_feeds
check "migrate made the file feed's raw table" test "$(psql_q "SELECT to_regclass('raw_diamonds_acme') IS NOT NULL")" = t

spawn worker env WORKER_CONCURRENCY=4 "$DIAMOND" worker
spawn consolidator "$DIAMOND" consolidator
start_api api HMAC_SECRETS='{}'
KEY=$(new_key two-feeds read,trade,admin)
H="X-API-Key: $KEY"

run_of() { psql_q "SELECT run_id FROM run_metadata WHERE feed = '$1' ORDER BY started_at DESC LIMIT 1"; }
run_failed() { [ "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$1' AND failed")" -gt 0 ]; }
run_over() { run_completed "$1" || run_failed "$1"; }
# plan FEED: a full run of the feed; prints its run id.
plan() {
    "$DIAMOND" scheduler --feed "$1" --full >>"$T/scheduler.log" 2>&1 || { tail -5 "$T/scheduler.log" >&2; return 1; }
    run_of "$1"
}
active() { psql_q "SELECT count(*) FROM diamonds WHERE status = 'active' $1"; }
search_total() { req GET "/api/v2/diamonds?limit=1" "" "$H"; jqb .pagination.total; }

# ---- 1. both feeds, at once, into one catalogue
R_NIV=$(plan nivoda)
R_ACME=$(plan acme)
check "two runs, one per feed" test -n "$R_NIV" -a -n "$R_ACME" -a "$R_NIV" != "$R_ACME"
check_eq "the file feed's run is one partition (the snapshot)" 1 "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$R_ACME'")"
wait_until 300 run_over "$R_NIV"
wait_until 300 run_over "$R_ACME"
check "the nivoda run completed" run_completed "$R_NIV"
check "the acme run completed (bad rows are never fatal)" run_completed "$R_ACME"
wait_index

# What the feeds served: the GraphQL stones from their stored payloads, the file as downloaded
# (its ETag unchanged since the run: the worker read these bytes), the simulator's own account
# of its bad rows.
psql_q "COPY (SELECT supplier_stone_id, coalesce(c->>'lab', ''), coalesce(c->>'certNumber', ''), c->>'shape', c->>'carats', c->>'color', c->>'clarity'
              FROM (SELECT supplier_stone_id, payload->'diamond'->'certificate' AS c FROM raw_diamonds_nivoda
                    WHERE last_seen_run_id = '$R_NIV') s) TO STDOUT" >"$T/nivoda.tsv"
curl -sf -o "$T/acme.csv" "$URL_acme/inventory.csv"
curl -sf -o "$T/acme-file.json" "$URL_acme/admin/file"
# The stones of the three shapes the catalogue does not carry (BAGUETTE, ...): refused as bad
# rows by the file mapping, like the GraphQL query leaves them out.
read -r _ LISTINGS _ OVERLAP _ CLASHES _ ACME_ROWS <<<"$(python3 "$DM_SOURCE_DIR/tests/integration/two_feeds_expect.py" \
    "$T/nivoda.tsv" "$T/acme.csv" "$T/acme-file.json" "$T")"
LC_ALL=C sort -o "$T/expected_keys" "$T/expected_keys"
echo "expected: $LISTINGS listings, $OVERLAP stones offered by both feeds, $CLASHES clashes, $ACME_ROWS good file rows"
check "the simulators overlap (--share-from)" test "$OVERLAP" -gt $((N / 10))
check_eq "raw rows of the file feed = its good rows" "$ACME_ROWS" "$(psql_q "SELECT count(*) FROM raw_diamonds_acme WHERE last_seen_run_id = '$R_ACME'")"
check_eq "active offers = every stone of both feeds" "$(($(wc -l <"$T/nivoda.tsv") + ACME_ROWS))" "$(active "")"

psql_q "COPY (SELECT listing_key FROM diamonds WHERE status = 'active' AND chosen) TO STDOUT" | LC_ALL=C sort >"$T/chosen_keys"
check_eq "one chosen offer per distinct identity (listings)" "$LISTINGS" "$(wc -l <"$T/chosen_keys")"
check "the listings are exactly the distinct identities" cmp -s "$T/expected_keys" "$T/chosen_keys"
check_eq "no identity has two chosen offers" 0 "$(psql_q "SELECT count(*) FROM (SELECT listing_key FROM diamonds WHERE status = 'active' AND chosen GROUP BY 1 HAVING count(*) > 1) d")"
check_eq "one listing id per identity" 0 "$(psql_q "SELECT count(*) FROM (SELECT listing_key FROM diamonds WHERE status = 'active' GROUP BY 1 HAVING count(DISTINCT listing_id) > 1) d")"
check_eq "search total = distinct identities" "$LISTINGS" "$(search_total)"
check_eq "identities offered by both feeds" "$OVERLAP" "$(psql_q "SELECT count(*) FROM (SELECT listing_key FROM diamonds WHERE status = 'active' GROUP BY 1 HAVING count(DISTINCT feed) = 2) d")"

# The policy, written again: available offers first, then lowest retail, then highest feed
# priority (acme 1, nivoda 0), then feed id, then supplier stone id.
POLICY_WRONG="SELECT count(*) FROM (
    SELECT chosen, row_number() OVER (PARTITION BY listing_key ORDER BY availability = 'available' DESC,
           retail_price, CASE feed WHEN 'acme' THEN 1 ELSE 0 END DESC, feed, supplier_stone_id) AS rank
    FROM diamonds WHERE status = 'active') o WHERE chosen <> (rank = 1)"
check_eq "every listing shows the offer lowest_retail picks" 0 "$(psql_q "$POLICY_WRONG")"
check "both feeds win some overlapping listings" test "$(psql_q "SELECT count(DISTINCT feed) FROM diamonds d WHERE status = 'active' AND chosen
    AND (SELECT count(*) FROM diamonds o WHERE o.listing_key = d.listing_key AND o.status = 'active') = 2")" = 2

# Through the API: search shows listing ids once each; GET by listing id lists every offer, and
# the listing's price is the policy's (numbers compared as JSON writes them: 1900, not 1900.00).
req GET "/api/v2/diamonds?limit=100&sort_by=retail_price&sort_order=asc" "" "$H"
jqb '.data[].id' | LC_ALL=C sort >"$T/page_ids"
check_eq "a search page shows each listing once" "$(wc -l <"$T/page_ids")" "$(LC_ALL=C sort -u "$T/page_ids" | wc -l)"
check_eq "search ids are listing ids of chosen offers" 0 "$(psql_q "SELECT count(*) FROM unnest(string_to_array('$(tr '\n' ',' <"$T/page_ids" | sed 's/,$//')', ',')) i
    WHERE NOT EXISTS (SELECT 1 FROM diamonds WHERE listing_id::text = i AND chosen AND status = 'active')")"
offers_ok=0 sampled=0
while IFS='|' read -r lid want_price want_feed; do
    sampled=$((sampled + 1))
    req GET "/api/v2/diamonds/$lid" "" "$H"
    got=$(jqb '[.data.id, .data.retailPrice, ([.data.offers[].feed] | sort | join(",")), ([.data.offers[].supplierStoneId] | length)] | map(tostring) | join("|")')
    if [ "$STATUS" = 200 ] && [ "$got" = "$lid|$want_price|acme,nivoda|2" ]; then offers_ok=$((offers_ok + 1))
    else echo "  listing $lid: $STATUS $got (expected $lid|$want_price|acme,nivoda|2, chosen $want_feed)"; fi
done < <(psql_q "SELECT d.listing_id, trim_scale(d.retail_price), d.feed FROM diamonds d WHERE d.status = 'active' AND d.chosen
                 AND (SELECT count(*) FROM diamonds o WHERE o.listing_key = d.listing_key AND o.status = 'active') = 2
                 ORDER BY d.listing_key LIMIT 12")
check_eq "GET by listing id: both offers, the policy's price (12 overlapping stones)" "12/12" "$offers_ok/$sampled"

# ---- 2. bad rows: each one the simulator wrote, with its line number, in the run's events
jq -r '.bad_rows[].line' "$T/acme-file.json" | sort -n >"$T/bad_lines"
check "the simulator wrote bad rows" test "$(wc -l <"$T/bad_lines")" -gt 0
psql_q "SELECT detail::text FROM run_events WHERE run_id = '$R_ACME'" >"$T/acme-events"
missing_lines=0
while read -r l; do grep -Eq "line\"?[: ]+$l\b" "$T/acme-events" || missing_lines=$((missing_lines + 1)); done <"$T/bad_lines"
check_eq "every bad row is reported with its line number" 0 "$missing_lines"

# ---- 3. takeover on sale: buy a listing's chosen GraphQL offer; the file offer takes over
SALE=$(psql_q "SELECT d.listing_id || '|' || d.id || '|' || o.id FROM diamonds d JOIN diamonds o
               ON o.listing_key = d.listing_key AND o.feed = 'acme' AND o.status = 'active' AND o.availability = 'available'
               WHERE d.status = 'active' AND d.chosen AND d.feed = 'nivoda' AND d.availability = 'available'
               ORDER BY d.listing_key LIMIT 1")
IFS='|' read -r SALE_LID SALE_NIV SALE_ACME <<<"$SALE"
check "a listing whose chosen offer is an available GraphQL one with an available file twin" test -n "$SALE_ACME"
req POST "/api/v2/diamonds/$SALE_LID/purchase" '{"destination_id":"dest-1"}' "$H" "X-Idempotency-Key: two-feeds-sale"
check_eq "purchase through the listing -> 200" 200 "$STATUS"
check_eq "the GraphQL offer is sold" sold "$(psql_q "SELECT availability FROM diamonds WHERE id = '$SALE_NIV'")"
check_eq "the file offer took over (chosen)" t "$(psql_q "SELECT chosen FROM diamonds WHERE id = '$SALE_ACME'")"
check_eq "same listing id after the takeover" "$SALE_LID" "$(psql_q "SELECT listing_id FROM diamonds WHERE id = '$SALE_ACME'")"
wait_index
req GET "/api/v2/diamonds/$SALE_LID" "" "$H"
check_eq "the listing now shows the file offer's price" "$(psql_q "SELECT trim_scale(retail_price) FROM diamonds WHERE id = '$SALE_ACME'")" "$(jqb .data.retailPrice)"
check_eq "search total unchanged by a sale" "$LISTINGS" "$(search_total)"
# A hold on it now goes to the file feed, which takes no orders: 409 with the reason.
req POST "/api/v2/diamonds/$SALE_LID/hold" "" "$H"
check_eq "hold on a listing chosen from the file feed -> 409" 409 "$STATUS"
check "the 409 says why" grep -q "takes no orders" "$T/body"
check_eq "the policy still holds after the sale" 0 "$(psql_q "$POLICY_WRONG")"

# ---- 4. takeover on removal: a simulated day of churn in the file, the next run
psql_q "COPY (SELECT d.listing_key, d.listing_id, d.supplier_stone_id FROM diamonds d WHERE d.status = 'active' AND d.chosen
              AND d.feed = 'acme' AND EXISTS (SELECT 1 FROM diamonds o WHERE o.listing_key = d.listing_key
              AND o.feed = 'nivoda' AND o.status = 'active')) TO STDOUT" | LC_ALL=C sort >"$T/acme_chosen_shared"
curl -sf -X POST -d '{"percent":30}' "$URL_acme/admin/churn" >"$T/churn.json"
check "the churn removed stones from the file" test "$(jq .removed "$T/churn.json")" -gt 0
R_ACME2=$(plan acme)
wait_until 300 run_over "$R_ACME2"
check "the acme run after churn completed" run_completed "$R_ACME2"
curl -sf -o "$T/acme2.csv" "$URL_acme/inventory.csv"
python3 -c 'import csv,sys; [print(r["Stock #"]) for r in csv.DictReader(open(sys.argv[1], newline=""))]' "$T/acme2.csv" | LC_ALL=C sort >"$T/acme2_stocks"
LC_ALL=C join -t $'\t' -1 3 -2 1 -o 1.1,1.2,1.3 <(LC_ALL=C sort -t $'\t' -k3,3 "$T/acme_chosen_shared") "$T/acme2_stocks" >"$T/still"
LC_ALL=C sort -t $'\t' -k3,3 "$T/acme_chosen_shared" | LC_ALL=C join -t $'\t' -v 1 -1 3 -2 1 -o 1.1,1.2,1.3 - "$T/acme2_stocks" >"$T/gone"
check "some chosen file offers of shared stones left the file" test "$(wc -l <"$T/gone")" -gt 0
taken=0
while IFS=$'\t' read -r key lid stock; do
    got=$(psql_q "SELECT (SELECT status FROM diamonds WHERE feed = 'acme' AND supplier_stone_id = '$stock') || '|' ||
                         feed || '|' || listing_id FROM diamonds WHERE listing_key = '$key' AND chosen AND status = 'active'")
    [ "$got" = "deleted|nivoda|$lid" ] && taken=$((taken + 1)) || echo "  $key: $got (expected deleted|nivoda|$lid)"
done <"$T/gone"
check_eq "each removed chosen offer: removed, the GraphQL offer took over, same listing id" "$(wc -l <"$T/gone")" "$taken"
check_eq "the policy still holds after the removals" 0 "$(psql_q "$POLICY_WRONG")"
curl -sf -o "$T/acme-file2.json" "$URL_acme/admin/file"
psql_q "COPY (SELECT supplier_stone_id, coalesce(c->>'lab', ''), coalesce(c->>'certNumber', ''), c->>'shape', c->>'carats', c->>'color', c->>'clarity'
              FROM (SELECT supplier_stone_id, payload->'diamond'->'certificate' AS c FROM raw_diamonds_nivoda
                    WHERE last_seen_run_id = '$R_NIV') s) TO STDOUT" >"$T/nivoda.tsv"
read -r _ LISTINGS2 _ <<<"$(python3 "$DM_SOURCE_DIR/tests/integration/two_feeds_expect.py" "$T/nivoda.tsv" "$T/acme2.csv" "$T/acme-file2.json" "$T")"
wait_index
check_eq "after the churn: listings = distinct identities again" "$LISTINGS2" "$(active "AND chosen")"
check_eq "after the churn: search total = distinct identities" "$LISTINGS2" "$(search_total)"

# ---- 5. the shrink guard: a complete snapshot of a third of the stones, then a cut download
before_acme=$(active "AND feed = 'acme'")
before_listings=$(active "AND chosen")
head -n $((ACME_ROWS / 3)) "$T/acme2.csv" >"$T/short.csv"
kill -TERM "$PID_worker"; wait "$PID_worker" 2>/dev/null || true
spawn worker2 env WORKER_CONCURRENCY=4 FEED_ACME_URL="file://$T/short.csv" "$DIAMOND" worker
R_SHORT=$(FEED_ACME_URL="file://$T/short.csv" plan acme)
wait_until 300 run_over "$R_SHORT"
check "a snapshot a third the size is refused (the run does not complete)" run_failed "$R_SHORT"
check "the refusal says why (shrink)" grep -qi "shrink" <(psql_q "SELECT coalesce(last_error, '') FROM partition_progress WHERE run_id = '$R_SHORT'
    UNION ALL SELECT detail::text FROM run_events WHERE run_id = '$R_SHORT'")
check "an alert was sent" grep -qi "shrink" "$T/worker2.log" "$T/consolidator.log"
check_eq "the file feed's stones are all still listed" "$before_acme" "$(active "AND feed = 'acme'")"
check_eq "the listings are all still there" "$before_listings" "$(active "AND chosen")"
kill -TERM "$PID_worker2"; wait "$PID_worker2" 2>/dev/null || true
spawn worker3 env WORKER_CONCURRENCY=4 "$DIAMOND" worker
# A small churn first, so the file differs from the last good snapshot (an unchanged file is a
# 304 and never downloaded); then every download is cut mid-row, redeliveries included.
curl -sf -X POST -d '{"percent":2}' "$URL_acme/admin/churn" >/dev/null
curl -sf -X POST -d '{"truncate_rate":1}' "$URL_acme/admin/faults" >/dev/null
R_CUT=$(plan acme)
wait_until 300 run_over "$R_CUT"
curl -sf -X POST -d '{"truncate_rate":0}' "$URL_acme/admin/faults" >/dev/null
check "a download cut mid-row is refused (the run does not complete)" run_failed "$R_CUT"
check "the simulator cut downloads" test "$(curl -sf "$URL_acme/admin/stats" | jq '.faults.truncate // 0')" -gt 0
check_eq "after the cut download: the file feed's stones are all still listed" "$before_acme" "$(active "AND feed = 'acme'")"
wait_index
check_eq "after both refusals: search total unchanged" "$before_listings" "$(search_total)"
finish
