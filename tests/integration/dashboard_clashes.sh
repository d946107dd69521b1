#!/usr/bin/env bash
# dashboard_clashes.sh - identity clashes shown to operators (issue 18). Two file feeds read by
# the real worker and consolidator: acme (FEED_ACME_PRIORITY=10, the reference grading) and
# beta, which offers ten of acme's certificates, five of them graded differently (carat, colour,
# both). The consolidator splits those five off; then
#   - GET /api/v2/analytics/clashes lists exactly them (certificate, feeds, fields that differ,
#     both gradings), pages with limit/offset (total kept past the end), filters by feed and
#     refuses bad arguments; the summary's clashes count agrees;
#   - the dashboard (tests/browser/clashes.mjs, headless Chromium) shows the count on the
#     overview and every clash in its list, compared with the database; and, with beta's
#     watermark made 49 h old, the overview's watermark card lists each feed's age and alerts.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

if [ ! -x /usr/bin/chromium ] || [ ! -d "$DM_SOURCE_DIR/node_modules/playwright-core" ]; then
    echo "FAIL - needs /usr/bin/chromium and npm's playwright-core (run scripts/install-deps)"
    exit 1
fi

new_db dashboard_clashes
export FEEDS=acme,beta FEED_ACME_TYPE=file FEED_BETA_TYPE=file FEED_ACME_PRIORITY=10
export FEED_ACME_URL="file://$T/acme.csv" FEED_BETA_URL="file://$T/beta.csv"
"$DIAMOND" migrate >/dev/null

python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
head = "Stock #,Shape,Weight,Color,Clarity,Lab,Certificate #,Total Price\n"
def row(sid, i, carat, color, price):
    return f"{sid},Round,{carat:.2f},{color},VS1,GIA,{7100000000 + i},{price}\n"
with open(f"{t}/acme.csv", "w") as f:
    f.write(head)
    for i in range(20):
        f.write(row(f"A{i:05d}", i, 1 + i / 100, "G", 2000 + i))
# beta: certificates 0..9 of acme's; 1-3 another carat, 4 another colour, 5 both; one of its own.
with open(f"{t}/beta.csv", "w") as f:
    f.write(head)
    for i in range(10):
        carat = 1 + i / 100 + (0.5 if i in (1, 2, 3, 5) else 0)
        f.write(row(f"B{i:05d}", i, carat, "H" if i in (4, 5) else "G", 1900 + i))
    f.write(row("B00099", 999, 1.5, "F", 3000))
PY

start_worker worker
spawn consolidator "$DIAMOND" consolidator
consolidated() { [ "$(psql_q "SELECT bool_and(consolidation_completed_at IS NOT NULL) FROM run_metadata WHERE feed = '$1'")" = t ]; }
for feed in acme beta; do
    "$DIAMOND" scheduler --feed "$feed" --full >/dev/null
    wait_until 120 consolidated "$feed"
done
clash_sql="FROM diamonds d WHERE d.status = 'active' AND d.clash_fields IS NOT NULL"
check_eq "precondition: the consolidator split off beta's five differently graded offers" \
    "B00001:carat B00002:carat B00003:carat B00004:colour B00005:carat,colour" \
    "$(psql_q "SELECT string_agg(supplier_stone_id || ':' || clash_fields, ' ' ORDER BY supplier_stone_id) $clash_sql")"

start_api api HMAC_SECRETS='{}'
KEY=$(new_key clash-operator read,trade,admin)
H="X-API-Key: $KEY"

# --- the API's list ----------------------------------------------------------------------------
req GET "/api/v2/analytics/clashes" "" "$H"
check_eq "clashes 200" 200 "$STATUS"
check_eq "five clashes, by certificate" \
    "GIA 7100000001 beta B00001 carat acme,beta|GIA 7100000002 beta B00002 carat acme,beta|GIA 7100000003 beta B00003 carat acme,beta|GIA 7100000004 beta B00004 colour acme,beta|GIA 7100000005 beta B00005 carat,colour acme,beta" \
    "$(jqb '[.data[] | "\(.certificateLab) \(.certificateNumber) \(.feed) \(.supplierStoneId) \(.clashFields | join(",")) \(.feeds | join(","))"] | join("|")')"
check_eq "pagination" '{"total":5,"limit":50,"offset":0,"count":5}' "$(jqb -c .pagination)"
check_eq "a clash's own grading and the one its certificate is listed with" \
    "1.51 G|acme A00001 1.01 G" \
    "$(jqb '.data[0] | "\(.carats) \(.color)|\(.certificateListing.feed) \(.certificateListing.supplierStoneId) \(.certificateListing.carats) \(.certificateListing.color)"')"
check_eq "the split offer has a listing of its own" \
    "$(psql_q "SELECT listing_id FROM diamonds WHERE supplier_stone_id = 'B00001'")" "$(jqb '.data[0].listingId')"
req GET "/api/v2/analytics/clashes?limit=2&offset=2" "" "$H"
check_eq "a page: limit 2, offset 2" "B00003 B00004 | 5 2" "$(jqb '[.data[].supplierStoneId] | join(" ")') | $(jqb '"\(.pagination.total) \(.pagination.count)"')"
req GET "/api/v2/analytics/clashes?offset=10" "" "$H"
check_eq "past the end: no rows, the total kept" "0 5" "$(jqb '"\(.data | length) \(.pagination.total)"')"
req GET "/api/v2/analytics/clashes?feed=acme" "" "$H"
check_eq "feed acme (the reference) has none" "0 0" "$(jqb '"\(.data | length) \(.pagination.total)"')"
req GET "/api/v2/analytics/clashes?feed=beta&limit=1" "" "$H"
check_eq "feed beta: five, one per page" "1 5" "$(jqb '"\(.data | length) \(.pagination.total)"')"
for bad in "limit=0" "limit=1001" "offset=-1" "feed=Not-A-Feed"; do
    req GET "/api/v2/analytics/clashes?$bad" "" "$H"
    check_eq "?$bad refused" 400 "$STATUS"
done
req GET "/api/v2/analytics/clashes"
check_eq "without a key: 401" 401 "$STATUS"
req GET "/api/v2/analytics/summary" "" "$H"
check_eq "the summary counts the same clashes" 5 "$(jqb .data.clashes)"
req GET "/openapi.json"
check_eq "OpenAPI: the route and its schema" "Clash OffsetPagination" \
    "$(jqb '.paths["/api/v2/analytics/clashes"].get.responses["200"].content["application/json"].schema.properties | "\(.data.items["$ref"] | split("/") | last) \(.pagination["$ref"] | split("/") | last)"')"

# --- the dashboard -----------------------------------------------------------------------------
DASH_PORT=
for attempt in 1 2 3 4 5; do # free_port can race with other tests: try another port
    port=$(free_port)
    spawn "dashboard$attempt" env -u DATABASE_URL PORT="$port" API_URL="$API" "$DIAMOND" dashboard --bind 127.0.0.1
    if wait_until 20 curl -fsS -o /dev/null "http://127.0.0.1:$port/"; then DASH_PORT=$port; break; fi
done
check "dashboard started" test -n "$DASH_PORT"
WANT=$(psql_q "SELECT json_agg(json_build_object('certificate', d.certificate_lab || ' ' || d.certificate_number,
    'feed', d.feed, 'fields', d.clash_fields, 'feeds', (SELECT string_agg(DISTINCT o.feed, ',' ORDER BY o.feed)
    FROM diamonds o WHERE o.status = 'active' AND o.certificate_lab = d.certificate_lab
    AND o.certificate_number = d.certificate_number))) $clash_sql")
# beta's watermark two days and an hour old (acme's is fresh): the overview's watermark card
# lists each feed's age and turns into an alert for beta's.
iso() { date -u -d "$1" +%Y-%m-%dT%H:%M:%S.000Z; }
printf '{"lastUpdatedAt":"%s","lastRunId":"%s","lastRunCompletedAt":"%s"}' "$(iso '-49 hours')" \
    "$(psql_q "SELECT run_id FROM run_metadata WHERE feed = 'beta' LIMIT 1")" "$(iso '-49 hours')" >"$WATERMARK_DIR/beta.json"
check "precondition: acme's watermark written by its run" test -s "$WATERMARK_DIR/acme.json"
OUT=${DM_BUILD_DIR:-$T}/test-output/screenshots
browser_rc=0
BASE="http://127.0.0.1:$DASH_PORT" API="$API" KEY="$KEY" OUT="$OUT" WANT="$WANT" \
    node "$DM_SOURCE_DIR/tests/browser/clashes.mjs" >"$T/browser.log" 2>&1 || browser_rc=$?
cat "$T/browser.log"
check_eq "browser test passed" 0 "$browser_rc"
finish
