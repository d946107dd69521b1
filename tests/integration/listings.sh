#!/usr/bin/env bash
# listings.sh - one listing per physical stone (issue 18), real consolidator, API and
# PostgreSQL, the feed simulator as the orderable supplier (feed nivoda). Its 200 stones are
# consolidated from raw rows; a second feed (file1, which takes no orders through an API) is
# written straight into the catalogue with 40 of the same certified stones (lab and number
# spelled differently), 6 with a clashing grading and 10 uncertified ones, and the next
# consolidation computes their identities. Proves: totals = distinct identities (index and SQL
# paths); each overlapping stone listed once at the lower retail price; GET by listing id (and
# by an old offer id) returns every offer; 409 with the orderable alternative on a file1 offer;
# takeover on sale (visible to search when the purchase answers), on removal and on reprice,
# listing id unchanged; clashes split, counted and named.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/integration/consol_lib.bash"
. "$DM_SOURCE_DIR/tests/lib/api.sh"
consol_setup listings
export LOG_LEVEL=info

SIM_PORT=$(free_port)
spawn sim "$DIAMOND" feed-sim --port "$SIM_PORT" --count 200 --username u1 --password p1
SIM="http://127.0.0.1:$SIM_PORT"
wait_until 20 curl -sf "$SIM/admin/stats"
curl -s "$SIM/admin/stones?offset=0&limit=200" | jq -c '.items' >"$T/items.json"
check_eq "simulator stones" 200 "$(jq length "$T/items.json")"

# sim_ingest RUN [SKIP_STONE]: the simulator's items as a worker stores them, but SKIP_STONE.
sim_ingest() {
    psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -v run="$1" -v skip="${2:-none}" <<SQL >/dev/null
\\set items \`cat "$T/items.json"\`
INSERT INTO raw_diamonds_nivoda (supplier_stone_id, offer_id, payload, payload_hash, run_id,
    last_seen_run_id)
SELECT x->'diamond'->>'id', x->>'id', x, encode(sha256(convert_to(x::text, 'UTF8')), 'hex'),
    :'run', :'run'
FROM json_array_elements(:'items'::json) x WHERE x->'diamond'->>'id' <> :'skip'
ON CONFLICT (supplier_stone_id) DO UPDATE SET last_seen_run_id = EXCLUDED.last_seen_run_id;
SQL
}
spawn consolidator "$DIAMOND" consolidator

# --- one feed: one listing per stone ---------------------------------------------------------
R1=$(make_run full)
sim_ingest "$R1"
consolidate "$R1"
wait_completed "$R1"
# The simulator's poisoned stones are refused by mapping: N offers of 200 raw rows.
N=$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active'")
check_eq "run 1: every raw row an offer or a mapping failure" 200 "$((N + $(stat_of "$R1" stats_failed)))"
L=$((N + 16))
check_eq "run 1: $N offers, each chosen under its own identity" "$N|$N|$N" \
    "$(psql_q "SELECT count(*), count(*) FILTER (WHERE chosen), count(DISTINCT listing_key)
               FROM diamonds WHERE status = 'active' AND listing_key = identity_key")"
check_eq "listing ids: SQL dm_listing_uuid = C dm_offer_listing_id" 0 \
    "$(psql_q "SELECT count(*) FROM diamonds WHERE listing_id <> dm_listing_uuid(listing_key)")"

# --- a second feed overlapping the first -------------------------------------------------------
# n 1-20: file1 cheaper; 21-40: dearer; 41-43: carat clash; 44-46: colour clash.
psql_q "CREATE TABLE dm_test.sets AS SELECT row_number() OVER (ORDER BY supplier_stone_id) AS n,
            supplier_stone_id AS sid, listing_id AS lid, id AS nid
        FROM diamonds WHERE availability = 'available' AND identity_key LIKE 'cert:%'" >/dev/null
check "enough available certified stones" test "$(psql_q "SELECT count(*) FROM dm_test.sets")" -ge 46
psql_q "INSERT INTO diamonds (feed, supplier_stone_id, offer_id, shape, carats, color, clarity,
            feed_price, price_per_carat, retail_price, markup_ratio, availability,
            certificate_lab, certificate_number, content_hash)
        SELECT 'file1', 'F-' || d.supplier_stone_id, 'F-' || d.offer_id, d.shape,
            d.carats + CASE WHEN s.n BETWEEN 41 AND 43 THEN 0.05 ELSE 0 END,
            CASE WHEN s.n BETWEEN 44 AND 46 THEN (CASE WHEN d.color = 'D' THEN 'E' ELSE 'D' END)
                 ELSE d.color END,
            d.clarity, fp, round(fp / d.carats, 2), round(fp * 1.15, 2), 1.15, 'available',
            CASE WHEN s.n % 2 = 0 THEN lower(d.certificate_lab) || '.' ELSE d.certificate_lab END,
            CASE WHEN s.n % 3 = 0 THEN '#' || d.certificate_number ELSE d.certificate_number END,
            repeat('b', 64)
        FROM dm_test.sets s JOIN diamonds d ON d.feed = 'nivoda' AND d.supplier_stone_id = s.sid
        CROSS JOIN LATERAL (SELECT CASE WHEN s.n <= 20 THEN d.feed_price - 10
                                        ELSE d.feed_price + 10 END AS fp) p
        WHERE s.n <= 46;
        INSERT INTO diamonds (feed, supplier_stone_id, offer_id, shape, carats, color, clarity,
            feed_price, price_per_carat, retail_price, markup_ratio, availability, content_hash)
        SELECT 'file1', 'U-' || g, 'U-' || g, 'ROUND', 1, 'G', 'VS1', 1000, 1000, 1150, 1.15,
            'available', repeat('c', 64) FROM generate_series(1, 10) g" >/dev/null
R2=$(make_run incremental)
consolidate "$R2"
wait_completed "$R2"
chosen_feed() { # chosen_feed N: the feed of set member N's listing's chosen offer
    psql_q "SELECT d.feed FROM dm_test.sets s JOIN diamonds d ON d.listing_id = s.lid
            WHERE s.n = $1 AND d.chosen AND d.status = 'active'"
}
count_chosen() { # count_chosen LO HI FEED
    psql_q "SELECT count(*) FROM dm_test.sets s JOIN diamonds d ON d.listing_id = s.lid
            WHERE s.n BETWEEN $1 AND $2 AND d.chosen AND d.status = 'active' AND d.feed = '$3'"
}
check_eq "two feeds: N + 56 offers, N + 16 listings (6 clashes, 10 uncertified)" "$((N + 56))|$L|$L" \
    "$(psql_q "SELECT count(*), count(*) FILTER (WHERE chosen), count(DISTINCT listing_key)
               FROM diamonds WHERE status = 'active'")"
check_eq "overlapping stones: one listing each, two offers" 40 \
    "$(psql_q "SELECT count(*) FROM (SELECT listing_key FROM diamonds WHERE status = 'active'
               GROUP BY listing_key HAVING count(*) = 2) k")"
check_eq "lowest_retail: file1 chosen where cheaper" 20 "$(count_chosen 1 20 file1)"
check_eq "lowest_retail: nivoda chosen where cheaper" 20 "$(count_chosen 21 40 nivoda)"
# The reference grading is the highest-priority feed's, ties by feed id: file1's. The nivoda
# offers that disagree with it are split off to their own listings.
check_eq "clashes split off, named" "carat|3 colour|3" \
    "$(psql_q "SELECT string_agg(c || '|' || k, ' ' ORDER BY c) FROM (SELECT clash_fields AS c,
               count(*) AS k FROM diamonds WHERE clash_fields IS NOT NULL AND chosen
               AND listing_key = 'feed:nivoda:' || supplier_stone_id GROUP BY 1) x")"
check_eq "clashes: the certificate's listing shows the reference (file1) offer" 6 \
    "$(count_chosen 41 46 file1)"

# --- API ---------------------------------------------------------------------------------------
start_api api HMAC_SECRETS='{}' NIVODA_ENDPOINT="$SIM/graphql" NIVODA_USERNAME=u1 \
    NIVODA_PASSWORD=p1
KEY=$(new_key trader read,trade)
H="X-API-Key: $KEY"
req GET "/api/v2/diamonds?limit=1" "" "$H"
check_eq "search (index): total counts listings" "200 $L" "$STATUS $(jqb .pagination.total)"
start_api api_sql HMAC_SECRETS='{}' API_SEARCH_INDEX=false
req GET "/api/v2/diamonds?limit=100&feed=file1" "" "$H"
check_eq "search (SQL): file1 listings (20 cheaper + 6 clashes + 10 own)" "200 36" \
    "$STATUS $(jqb .pagination.total)"
stop_api api_sql

L1=$(psql_q "SELECT lid FROM dm_test.sets WHERE n = 1")
N1=$(psql_q "SELECT nid FROM dm_test.sets WHERE n = 1")
# This API trades through both configured feeds: nivoda (the simulator) and file1 (a file
# feed, which takes no orders through an API).
FEED_ENV=(FEEDS=nivoda,file1 FEED_FILE1_TYPE=file FEED_FILE1_URL="file://$T/file1.csv")
start_api api2 HMAC_SECRETS='{}' NIVODA_ENDPOINT="$SIM/graphql" NIVODA_USERNAME=u1 \
    NIVODA_PASSWORD=p1 "${FEED_ENV[@]}"
req GET "/api/v2/diamonds/$L1" "" "$H"
check_eq "GET listing: id, chosen feed, two offers" "200 $L1 file1 2" \
    "$STATUS $(jqb '.data.id + " " + .data.feed + " " + (.data.offers | length | tostring)')"
check_eq "GET listing: shown price is the lowest offer's" \
    "$(jqb '[.data.offers[].retailPrice] | min')" "$(jqb .data.retailPrice)"
check_eq "GET listing: offers name both feeds with prices and times" "file1,nivoda|true" \
    "$(jqb '([.data.offers[].feed] | sort | join(",")) + "|" + ([.data.offers[] | (.feedPrice != null and .updatedAt != null and .supplierStoneId != null and .availability != null)] | all | tostring)')"
req GET "/api/v2/diamonds/$N1" "" "$H"
check_eq "GET by an old offer id: the listing" "200 $L1" "$STATUS $(jqb .data.id)"

# A file1 offer is chosen: 409, the nivoda offer offered instead.
before=$(curl -s "$SIM/admin/stats" | jq -r .operations.create_hold)
req POST "/api/v2/diamonds/$L1/hold" "" "$H"
check_eq "hold on a file1 listing: 409 naming the feed" "409 CONFLICT file1" \
    "$STATUS $(jqb '.error.code + " " + .error.feed')"
check "409 reason says no API orders" grep -q "takes no orders through an API" "$T/body"
check_eq "409 alternatives: the nivoda offer" "nivoda $N1" \
    "$(jqb '.error.alternatives[0].feed + " " + .error.alternatives[0].id')"
check_eq "409: no supplier call" "$before" "$(curl -s "$SIM/admin/stats" | jq -r .operations.create_hold)"
# An API without file1 configured has no supplier for its offers: 503 naming the feed, not a
# hold sent to another feed's supplier.
API2=$API
start_api api3 HMAC_SECRETS='{}' NIVODA_ENDPOINT="$SIM/graphql" NIVODA_USERNAME=u1 \
    NIVODA_PASSWORD=p1
req POST "/api/v2/diamonds/$L1/hold" "" "$H"
check_eq "hold on an offer of an unconfigured feed: 503" "503 SERVICE_UNAVAILABLE" \
    "$STATUS $(jqb .error.code)"
check "503 names the feed" grep -q "feed file1" "$T/body"
check_eq "503: no supplier call" "$before" "$(curl -s "$SIM/admin/stats" | jq -r .operations.create_hold)"
stop_api api3
API=$API2

# Takeover on sale: buying a nivoda-chosen listing lets file1 take over, same listing id, and
# the purchase answers only once this API's search shows it.
L21=$(psql_q "SELECT lid FROM dm_test.sets WHERE n = 21")
req POST "/api/v2/diamonds/$L21/purchase" '{"destination_id":"dest-1"}' "$H" "X-Idempotency-Key: buy-21"
check_eq "purchase through the listing id" 200 "$STATUS"
check_eq "the nivoda offer is sold" sold \
    "$(psql_q "SELECT availability FROM dm_test.sets s JOIN diamonds d ON d.id = s.nid WHERE n = 21")"
check_eq "takeover on sale: file1 chosen" file1 "$(chosen_feed 21)"
req GET "/api/v2/diamonds?feed=file1&limit=100" "" "$H"
check_eq "takeover on sale: search shows the listing from file1 at once" 1 \
    "$(jqb --arg l "$L21" '[.data[] | select(.id == $l)] | length')"
req POST "/api/v2/diamonds/$L21/purchase" '{"destination_id":"dest-1"}' "$H" "X-Idempotency-Key: buy-21"
check_eq "the same purchase again is replayed" "200 true" "$STATUS $(header Idempotent-Replayed)"

# A trade is recorded before its listing is chosen again, and the choice waits for the listings
# lock (a consolidation batch refreshing listings holds it): while another session holds the
# lock, a hold on a nivoda-chosen listing is already recorded and the request waits; released,
# the request answers and file1 takes over. (Recording after the choice, without the lock, a
# batch's refresh of the same listing could make the trade's commit fail after the supplier
# placed the hold.)
L23=$(psql_q "SELECT lid FROM dm_test.sets WHERE n = 23")
N23=$(psql_q "SELECT nid FROM dm_test.sets WHERE n = 23")
check_eq "set 23 shows its nivoda offer" nivoda "$(chosen_feed 23)"
mkfifo "$T/lockq"
psql -qAt "$DATABASE_URL" <"$T/lockq" >"$T/lock.out" 2>&1 &
LOCKPID=$!
exec 9>"$T/lockq"
echo "SELECT pg_advisory_lock(1684892787); SELECT 'locked';" >&9
wait_until 20 grep -q locked "$T/lock.out"
curl -s -o "$T/hold23" -w '%{http_code}' -X POST -H "$H" "$API/api/v2/diamonds/$L23/hold" >"$T/hold23.status" &
HOLDPID=$!
hold_recorded() {
    [ "$(psql_q "SELECT count(*) FROM hold_history h JOIN diamonds d ON d.id = h.diamond_id
                 WHERE h.diamond_id = '$N23' AND h.status = 'placed'
                 AND d.availability = 'on_hold'")" = 1 ]
}
check "hold recorded while the listings lock is held elsewhere" wait_until 20 hold_recorded
check "... and the request waits for the lock to choose again" kill -0 "$HOLDPID"
check_eq "... so the listing still shows the held nivoda offer" nivoda "$(chosen_feed 23)"
echo "SELECT pg_advisory_unlock(1684892787);" >&9
exec 9>&-
wait "$LOCKPID" || true
wait "$HOLDPID" || true
check_eq "hold answered once the lock is free" 200 "$(cat "$T/hold23.status")"
check_eq "takeover on hold: file1 chosen" file1 "$(chosen_feed 23)"

# Takeover on removal: a full run without stone 22's nivoda offer.
R3=$(make_run full)
sim_ingest "$R3" "$(psql_q "SELECT sid FROM dm_test.sets WHERE n = 22")"
consolidate "$R3"
wait_completed "$R3"
check_eq "run 3 removed one offer" 1 "$(stat_of "$R3" stats_removed)"
check_eq "takeover on removal: file1 chosen" file1 "$(chosen_feed 22)"
L22=$(psql_q "SELECT lid FROM dm_test.sets WHERE n = 22")
wait_index
req GET "/api/v2/diamonds?feed=file1&limit=100" "" "$H"
check_eq "takeover on removal: search shows the listing from file1" 1 \
    "$(jqb --arg l "$L22" '[.data[] | select(.id == $l)] | length')"

# Takeover on reprice: nivoda's markup triples, file1 becomes the cheaper offer everywhere.
psql_q "INSERT INTO pricing_rules (name, priority, feed, markup_ratio) VALUES ('dear', 1, 'nivoda', 3)" >/dev/null
"$DIAMOND" reprice >/dev/null
check_eq "takeover on reprice: file1 chosen for every overlapping stone" 40 "$(count_chosen 1 40 file1)"
check_eq "every active nivoda offer repriced by the new rule, takeovers included" 0 \
    "$(psql_q "SELECT count(*) FROM diamonds WHERE feed = 'nivoda' AND status = 'active'
               AND (markup_ratio <> 3 OR retail_price <> round(feed_price * 3, 2))")"
check_eq "listing ids unchanged" 0 \
    "$(psql_q "SELECT count(*) FROM dm_test.sets s JOIN diamonds d ON d.id = s.nid
               WHERE d.listing_id <> s.lid AND s.n <= 40")"
wait_index
req GET "/api/v2/diamonds?limit=1" "" "$H"
check_eq "listings still N + 16" "$L" "$(jqb .pagination.total)"
req GET /api/v2/analytics/summary "" "$H"
check_eq "summary: listings and clashes" "$L 6" "$(jqb '"\(.data.listings) \(.data.clashes)"')"
check_eq "one chosen offer per listing" 0 \
    "$(psql_q "SELECT count(*) FROM (SELECT listing_key FROM diamonds WHERE chosen
               GROUP BY 1 HAVING count(*) > 1) x")"
# Reprice chooses by the configured policy: nivoda's markup falls to 2.5 (still dearer than
# file1), and with OFFER_POLICY=feed_priority and nivoda the higher priority, the repriced
# listings show nivoda's offers again (lowest_retail would keep file1's).
psql_q "UPDATE pricing_rules SET markup_ratio = 2.5 WHERE name = 'dear'" >/dev/null
env "${FEED_ENV[@]}" OFFER_POLICY=feed_priority FEED_NIVODA_PRIORITY=10 "$DIAMOND" reprice >/dev/null
check_eq "reprice under feed_priority: nivoda chosen where its offer is active and available (37: 21 sold, 22 removed, 23 held)" 37 \
    "$(count_chosen 1 40 nivoda)"
check_eq "... and not for the sold, the removed and the held one" 0 "$(count_chosen 21 23 nivoda)"
stop_api api
stop_api api2
finish
