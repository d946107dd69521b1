#!/usr/bin/env bash
# api_search.sh - catalogue search and reads over real HTTP: defaults, validation (400 naming
# the parameter), filters (multi-value forms, case-insensitive shape, lab_grown), grade-order
# sorts, walking every page with offset and keyset paging (each active diamond exactly once),
# ETag/If-None-Match, exact totals from the search index (estimated ones on the SQL path), get by
# id and availability, the SQL path's micro-cache. (issue 7: 5, 6, 7; issue 14)
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db api_search
seed_diamonds 230
# Deleted stones never appear.
psql_q "UPDATE diamonds SET status = 'deleted', deleted_at = now() WHERE supplier_stone_id IN ('stone-1','stone-2','stone-3')"
ACTIVE=$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active'")
start_api api HMAC_SECRETS='{}' API_CACHE_MS=0
KEY=$(new_key searcher read)
H="X-API-Key: $KEY"

# --- 5. defaults ---
req GET /api/v2/diamonds "" "$H"
check_eq "default search 200" 200 "$STATUS"
check_eq "default page 1" 1 "$(jqb .pagination.page)"
check_eq "default limit 50" 50 "$(jqb .pagination.limit)"
check_eq "50 rows" 50 "$(jqb '.data | length')"
check_eq "total = active diamonds" "$ACTIVE" "$(jqb .pagination.total)"
check_eq "totalPages" "$(( (ACTIVE + 49) / 50 ))" "$(jqb .pagination.totalPages)"
check_eq "exact total" false "$(jqb .pagination.totalIsEstimate)"
# A search result's id is its listing id (issue 18); rows are ordered by their own id on ties.
WANT=$(psql_q "SELECT md5(string_agg(listing_id::text, ',')) FROM (SELECT listing_id FROM diamonds WHERE status='active' ORDER BY created_at DESC, id DESC LIMIT 50) t")
check_eq "order: created_at desc, id tie-break" "$WANT" "$(jqb '[.data[].id] | join(",")' | tr -d '\n' | md5sum | cut -d' ' -f1)"

for bad in "limit=0:limit" "limit=101:limit" "limit=abc:limit" "page=0:page" "page=-2:page" \
    "sort_by=name:sort_by" "sort_order=sideways:sort_order" "lab_grown=maybe:lab_grown" \
    "carat_min=2&carat_max=1:carat_min" "price_min=900&price_max=100:price_min" \
    "carat_min=x:carat_min" "availability=lost:availability" "cursor=zzz:cursor"; do
    qs=${bad%:*}; param=${bad##*:}
    req GET "/api/v2/diamonds?$qs" "" "$H"
    check_eq "$qs -> 400 naming $param" "400 VALIDATION_ERROR $param" "$STATUS $(jqb .error.code) $(jqb .error.details.param)"
done

req GET "/api/v2/diamonds?lab_grown=false&limit=100" "" "$H"
check_eq "lab_grown=false 200" 200 "$STATUS"
check_eq "lab_grown=false returns only natural stones" "[false]" "$(jqb -c '[.data[].labGrown] | unique')"
check_eq "lab_grown=false total" "$(psql_q "SELECT count(*) FROM diamonds WHERE status='active' AND NOT lab_grown")" "$(jqb .pagination.total)"
req GET "/api/v2/diamonds?lab_grown=true&limit=100" "" "$H"
check_eq "lab_grown=true returns only lab-grown" "[true]" "$(jqb -c '[.data[].labGrown] | unique')"

WANT=$(psql_q "SELECT count(*) FROM diamonds WHERE status='active' AND shape IN ('ROUND','OVAL')")
req GET "/api/v2/diamonds?shape=ROUND&shape=OVAL" "" "$H"
check_eq "repeated shape= form" "$WANT" "$(jqb .pagination.total)"
req GET "/api/v2/diamonds?shape%5B%5D=round&shape%5B%5D=Oval" "" "$H"
check_eq "shape[] form, case-insensitive" "$WANT" "$(jqb .pagination.total)"
req GET "/api/v2/diamonds?shape=round,oval&limit=100" "" "$H"
check_eq "comma form" "$WANT" "$(jqb .pagination.total)"
check_eq "only the requested shapes" '["OVAL","ROUND"]' "$(jqb -c '[.data[].shape] | unique')"
WANT=$(psql_q "SELECT count(*) FROM diamonds WHERE status='active' AND color IN ('D','E') AND clarity IN ('FL','IF') AND carats BETWEEN 0.5 AND 2 AND retail_price BETWEEN 200 AND 1500")
req GET "/api/v2/diamonds?color=d&color=e&clarity[]=FL&clarity[]=if&carat_min=0.5&carat_max=2&price_min=200&price_max=1500&limit=100" "" "$H"
check_eq "combined filters match SQL" "$WANT" "$(jqb .pagination.total)"
WANT=$(psql_q "SELECT count(*) FROM diamonds WHERE status='active' AND availability IN ('on_hold','sold')")
req GET "/api/v2/diamonds?availability=on_hold&availability=sold" "" "$H"
check_eq "availability multi-value" "$WANT" "$(jqb .pagination.total)"

req GET "/api/v2/diamonds?sort_by=color&sort_order=asc&limit=100" "" "$H"
check_eq "colour sorts in grade order (D first)" D "$(jqb -r '.data[0].color')"
check "colour order is D,E,F,... not text order" sh -c "jq -r '[.data[].color] | unique_by(.) | length' '$T/body' >/dev/null && jq -e '[.data[].color] as \$c | [\$c[] | {\"D\":1,\"E\":2,\"F\":3,\"G\":4,\"H\":5,\"I\":6,\"J\":7}[.]] as \$r | \$r == (\$r | sort)' '$T/body' >/dev/null"
req GET "/api/v2/diamonds?sort_by=clarity&sort_order=desc&limit=100" "" "$H"
check "clarity desc: grade order (SI1 before VS2 ... FL last)" sh -c "jq -e '[.data[].clarity] as \$c | [\$c[] | {\"FL\":1,\"IF\":2,\"VVS1\":3,\"VVS2\":4,\"VS1\":5,\"VS2\":6,\"SI1\":7}[.]] as \$r | \$r == (\$r | sort | reverse)' '$T/body' >/dev/null"
req GET "/api/v2/diamonds?sort_by=price_model_price&sort_order=asc&limit=20" "" "$H"
check_eq "price_model_price alias sorts by feed price" "$(psql_q "SELECT md5(string_agg(listing_id::text, ',')) FROM (SELECT listing_id FROM diamonds WHERE status='active' ORDER BY feed_price, id LIMIT 20) t")" "$(jqb '[.data[].id] | join(",")' | tr -d '\n' | md5sum | cut -d' ' -f1)"
check "feedPrice and priceModelPrice are equal numbers" sh -c "jq -e 'all(.data[]; (.feedPrice|type)==\"number\" and .feedPrice == .priceModelPrice)' '$T/body' >/dev/null"

# --- 6. walking every page ---
psql_q "SELECT listing_id FROM diamonds WHERE status='active' ORDER BY listing_id" >"$T/want"
: >"$T/offset_ids"
page=1
while :; do
    req GET "/api/v2/diamonds?limit=37&page=$page&sort_by=retail_price&sort_order=asc" "" "$H"
    [ "$STATUS" = 200 ] || break
    n=$(jqb '.data | length')
    [ "$n" -gt 0 ] || break
    jqb '.data[].id' >>"$T/offset_ids"
    page=$((page + 1))
    [ $page -le 20 ] || break
done
check_eq "offset walk: every active diamond exactly once" "$(md5sum <"$T/want")" "$(sort "$T/offset_ids" | md5sum)"
check_eq "offset walk: no duplicates" "$(wc -l <"$T/offset_ids")" "$(sort -u "$T/offset_ids" | wc -l)"
for sort in created_at:desc carats:asc color:desc clarity:asc feed_price:desc; do
    : >"$T/keyset_ids"
    cursor=""
    for _ in $(seq 1 30); do
        req GET "/api/v2/diamonds?limit=23&sort_by=${sort%:*}&sort_order=${sort#*:}${cursor:+&cursor=$cursor}" "" "$H"
        [ "$STATUS" = 200 ] || break
        jqb '.data[].id' >>"$T/keyset_ids"
        cursor=$(jqb '.pagination.nextCursor // empty')
        [ -n "$cursor" ] || break
    done
    check_eq "keyset walk ($sort): every active diamond exactly once ($(wc -l <"$T/keyset_ids") rows)" "$(md5sum <"$T/want")" "$(sort "$T/keyset_ids" | md5sum)"
done
req GET "/api/v2/diamonds?limit=5&sort_by=carats&sort_order=asc" "" "$H"
CUR=$(jqb .pagination.nextCursor)
req GET "/api/v2/diamonds?limit=5&sort_by=retail_price&cursor=$CUR" "" "$H"
check_eq "cursor with a different sort -> 400" "400 cursor" "$STATUS $(jqb .error.details.param)"

# --- ETag ---
req GET "/api/v2/diamonds?limit=10" "" "$H"
ETAG=$(header ETag)
check "search has an ETag" test -n "$ETAG"
req GET "/api/v2/diamonds?limit=10" "" "$H" "If-None-Match: $ETAG"
check_eq "If-None-Match -> 304" 304 "$STATUS"
check_eq "304 has no body" 0 "$(wc -c <"$T/body")"
req GET "/api/v2/diamonds?limit=11" "" "$H" "If-None-Match: $ETAG"
check_eq "other query, same tag -> 200" 200 "$STATUS"
psql_q "UPDATE diamonds SET retail_price = retail_price + 1 WHERE id = (SELECT id FROM diamonds WHERE status='active' ORDER BY created_at DESC, id DESC LIMIT 1)" >/dev/null
wait_index # the index has the change before the search that must see it
req GET "/api/v2/diamonds?limit=10" "" "$H" "If-None-Match: $ETAG"
check_eq "changed data -> 200 with a new ETag" 200 "$STATUS"

# --- 7. get by id ---
req GET /api/v2/diamonds/not-a-uuid "" "$H"
check_eq "malformed id -> 400" 400 "$STATUS"
req GET /api/v2/diamonds/00000000-0000-4000-8000-000000000000 "" "$H"
check_eq "unknown id -> 404" 404 "$STATUS"
DEL=$(psql_q "SELECT id FROM diamonds WHERE status = 'deleted' LIMIT 1")
req GET "/api/v2/diamonds/$DEL" "" "$H"
check_eq "deleted id -> 404" 404 "$STATUS"
ID=$(psql_q "SELECT id FROM diamonds WHERE status='active' AND cut IS NULL LIMIT 1")
req GET "/api/v2/diamonds/$ID" "" "$H"
check_eq "found -> 200" 200 "$STATUS"
check_eq "id is the listing id" "$(psql_q "SELECT listing_id FROM diamonds WHERE id = '$ID'")" "$(jqb .data.id)"
check_eq "the listing's offers: this one" "$ID" "$(jqb '.data.offers | map(.id) | join(",")')"
check_eq "camelCase fields" "true true true" "$(jqb '[.data | has("supplierStoneId"), has("retailPrice"), has("labGrown")] | map(tostring) | join(" ")')"
check_eq "no snake_case fields" false "$(jqb '.data | has("retail_price")')"
check_eq "prices are JSON numbers" "number number number number" "$(jqb '[.data.feedPrice, .data.retailPrice, .data.pricePerCarat, .data.carats] | map(type) | join(" ")')"
check_eq "retail price exact" "$(psql_q "SELECT retail_price FROM diamonds WHERE id = '$ID'")" "$(grep -o '"retailPrice":[0-9.]*' "$T/body" | cut -d: -f2)"
check_eq "null columns omitted (cut, imageUrl)" "false false" "$(jqb '[.data | has("cut"), has("imageUrl")] | map(tostring) | join(" ")')"
ETAG1=$(header ETag)
req GET "/api/v2/diamonds/$ID" "" "$H" "If-None-Match: $ETAG1"
check_eq "get by id with If-None-Match -> 304" 304 "$STATUS"
req GET "/api/v2/diamonds/$ID" "" "$H"
check "no null values at all" sh -c "jq -e '[.data[] | select(. == null)] | length == 0' '$T/body' >/dev/null"
req POST "/api/v2/diamonds/$ID/availability" "" "$H"
check_eq "availability 200" 200 "$STATUS"
check_eq "availability from the database" "$(psql_q "SELECT availability FROM diamonds WHERE id = '$ID'")" "$(jqb .data.availability)"
req POST /api/v2/diamonds/00000000-0000-4000-8000-000000000000/availability "" "$H"
check_eq "availability unknown -> 404" 404 "$STATUS"

# --- the search index counts exactly at any size ---
seed_diamonds 10500 1000
check "the index follows 10,500 new stones" wait_index
req GET "/api/v2/diamonds?limit=5" "" "$H"
check_eq "large total is exact (index)" "false $(psql_q "SELECT count(*) FROM diamonds WHERE status='active'")" "$(jqb .pagination.totalIsEstimate) $(jqb .pagination.total)"
req GET /metrics "" "$H"
IX=$(awk '/^diamond_api_search_queries_total\{path="index"\}/ {print $2}' "$T/body")
check "these searches were answered by the index" test "${IX:-0}" -ge 10
stop_api api

# --- the SQL path (API_SEARCH_INDEX=false, the reference): totals above the cap estimated ---
start_api api_sql HMAC_SECRETS='{}' API_CACHE_MS=0 API_SEARCH_INDEX=false
req GET "/api/v2/diamonds?limit=5" "" "$H"
check_eq "large total flagged as estimate" true "$(jqb .pagination.totalIsEstimate)"
check "estimated total is above the cap" test "$(jqb .pagination.total)" -gt 10000
req GET "/api/v2/diamonds?limit=5&shape=HEART&color=D" "" "$H"
check_eq "small filtered total is exact" false "$(jqb .pagination.totalIsEstimate)"
check_eq "small filtered total value" "$(psql_q "SELECT count(*) FROM diamonds WHERE status='active' AND shape='HEART' AND color='D'")" "$(jqb .pagination.total)"
req GET "/api/v2/diamonds/facets" "" "$H"
check_eq "facets need the index" "503 SERVICE_UNAVAILABLE" "$STATUS $(jqb .error.code)"
stop_api api_sql

# --- search micro-cache (API_CACHE_MS): identical searches inside the window come from memory ---
start_api api_cached HMAC_SECRETS='{}' API_CACHE_MS=60000 API_SEARCH_INDEX=false
req GET "/api/v2/diamonds?limit=3&sort_by=carats" "" "$H"
BODY1=$(cat "$T/body"); TAG1=$(header ETag)
psql_q "UPDATE diamonds SET carats = carats + 0.01 WHERE status = 'active'" >/dev/null
req GET "/api/v2/diamonds?limit=3&sort_by=carats" "" "$H"
check_eq "cached search: same body within API_CACHE_MS" "$BODY1" "$(cat "$T/body")"
req GET "/api/v2/diamonds?limit=3&sort_by=carats" "" "$H" "If-None-Match: $TAG1"
check_eq "cached search: If-None-Match still 304" 304 "$STATUS"
req GET "/api/v2/diamonds?limit=3&sort_by=carats&sort_order=asc" "" "$H"
check "another query is not served from the cache" test "$BODY1" != "$(cat "$T/body")"
# Every filter is part of the cache key (one table drives parsing, SQL and the key): searches
# that differ only in a lookup filter never share an answer.
req GET "/api/v2/diamonds?supplier_stone_id=stone-5" "" "$H"
check_eq "cached lookup: stone-5" stone-5 "$(jqb '.data[0].supplierStoneId')"
req GET "/api/v2/diamonds?supplier_stone_id=stone-6" "" "$H"
check_eq "cached lookup: stone-6 is not stone-5's cached answer" stone-6 "$(jqb '.data[0].supplierStoneId')"
stop_api api_cached

# --- the cache's background refresher: a search that keeps being read is re-rendered off the
# request path, so it follows the catalogue without any request waiting on the database ---
# (3 s lifetime: the polls below, each a read, keep the entry hot even on a slow machine; an
# entry nobody read since it was stored is refreshed by the request that finds it expired.)
start_api api_refresh HMAC_SECRETS='{}' API_CACHE_MS=3000 API_SEARCH_INDEX=false
Q="/api/v2/diamonds?limit=3&shape=round&sort_by=carats&sort_order=desc"
req GET "$Q" "" "$H"
BODY1=$(cat "$T/body"); TAG1=$(header ETag)
req GET "$Q" "" "$H"
check_eq "second read comes from the cache" "$BODY1" "$(cat "$T/body")"
psql_q "UPDATE diamonds SET retail_price = retail_price + 1 WHERE status = 'active'" >/dev/null
search_changed() { req GET "$Q" "" "$H"; [ "$STATUS" = 200 ] && [ "$(cat "$T/body")" != "$BODY1" ]; }
check "a search being read follows a catalogue change" wait_until 30 search_changed
WANT=$(psql_q "SELECT string_agg(listing_id::text || '=' || retail_price::float8::text, ',' ORDER BY carats DESC, id DESC) FROM (SELECT id, listing_id, carats, retail_price FROM diamonds WHERE status = 'active' AND shape = 'ROUND' ORDER BY carats DESC, id DESC LIMIT 3) t")
check_eq "refreshed body is the current catalogue" "$WANT" "$(jqb '[.data[] | "\(.id)=\(.retailPrice)"] | join(",")')"
check "refreshed body has a new ETag" test "$(header ETag)" != "$TAG1"
req GET "$Q" "" "$H" "If-None-Match: $TAG1"
check_eq "the old ETag no longer matches" 200 "$STATUS"
req GET /metrics "" "$H"
BG=$(awk '/^diamond_api_search_cache_refreshes_total\{by="background"\}/ {print $2}' "$T/body")
check "the background refresher did the refresh (diamond_api_search_cache_refreshes_total)" test "${BG:-0}" -ge 1
HITS=$(awk '/^diamond_api_search_cache_lookups_total\{result="hit"\}/ {print $2}' "$T/body")
check "cache hits are counted" test "${HITS:-0}" -ge 1
stop_api api_refresh
finish
