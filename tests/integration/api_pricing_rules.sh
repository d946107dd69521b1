#!/usr/bin/env bash
# api_pricing_rules.sh - the pricing-rule fields over real HTTP (the rows of dm_pricing_fields,
# domain/pricing.c, drive validation and the answer): a rule answers every column of
# pricing_rules, camelCased; camelCase bodies; null where a column takes it (shapes: the empty
# set) and 400 where it does not; fields the database sets are ignored; shapes that cannot be
# built into an array (not an array, too many, not strings) are 400 naming shapes; values the
# field validation lets through but the column cannot hold (numeric overflow) are 400
# "Pricing rule violates a constraint" and store nothing; an update is checked against the
# stored bounds of either pair.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db api_pricing
start_api api HMAC_SECRETS='{}' API_SEARCH_INDEX=false
ADMIN=$(new_key ops admin,read)
H="X-API-Key: $ADMIN"
RULES() { psql_q "SELECT count(*) FROM pricing_rules"; }

# --- every column answered, camelCase accepted ---
req POST /api/v2/pricing-rules '{"name":"all","priority":3,"caratMin":0.5,"caratMax":2,"shapes":["oval","Pear"],"labGrown":true,"feed":"nivoda","priceMin":100,"priceMax":5000.5,"markupRatio":1.25,"rating":4,"active":false}' "$H"
check_eq "camelCase body -> 201" 201 "$STATUS"
ALL=$(jqb .data.id)
check_eq "values stored from camelCase members" "0.5 2 OVAL,PEAR true nivoda 100 5000.5 1.25 4 false" \
    "$(jqb '"\(.data.caratMin) \(.data.caratMax) \(.data.shapes | join(",")) \(.data.labGrown) \(.data.feed) \(.data.priceMin) \(.data.priceMax) \(.data.markupRatio) \(.data.rating) \(.data.active)"')"
COLS=$(psql_q "SELECT string_agg(lower(substr(c, 1, 1)) || substr(replace(initcap(c), '_', ''), 2), ',' ORDER BY n)
    FROM (SELECT attname::text AS c, attnum AS n FROM pg_attribute WHERE attrelid = 'pricing_rules'::regclass AND attnum > 0 AND NOT attisdropped) a")
check_eq "the answer has one member per column of pricing_rules, in column order" "$COLS" "$(jqb '.data | keys_unsorted | join(",")')"
req GET /api/v2/pricing-rules "" "$H"
check_eq "the list answers the same members" "$COLS" "$(jqb '.data[] | select(.name == "all") | keys_unsorted | join(",")')"

# --- the OpenAPI document describes the same fields ---
req GET /openapi.json
SETTABLE=$(psql_q "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'pricing_rules'::regclass
    AND attnum > 0 AND NOT attisdropped AND attname NOT IN ('id', 'created_at', 'updated_at')")
BODY='.paths["/api/v2/pricing-rules"].post.requestBody.content["application/json"].schema'
check_eq "OpenAPI: one create-body property per column a client sets" "$SETTABLE" "$(jqb "$BODY.properties | keys_unsorted | join(\",\")")"
check_eq "OpenAPI: create requires the NOT NULL columns without a default" \
    "$(psql_q "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'pricing_rules'::regclass
        AND attnum > 0 AND NOT attisdropped AND attnotnull AND NOT atthasdef")" "$(jqb "$BODY.required | join(\",\")")"
check_eq "OpenAPI: update requires nothing" null \
    "$(jqb '.paths["/api/v2/pricing-rules/{id}"].put.requestBody.content["application/json"].schema.required')"
check_eq "OpenAPI: markup_ratio bounds" "0 100 true true" \
    "$(jqb "$BODY.properties.markup_ratio | \"\\(.minimum) \\(.maximum) \\(.exclusiveMinimum) \\(.exclusiveMaximum)\"")"

# --- null: allowed where the column takes it, shapes null is the empty set ---
req PUT "/api/v2/pricing-rules/$ALL" '{"shapes":null,"feed":null,"lab_grown":null,"carat_min":null,"rating":null}' "$H"
check_eq "nulls clear optional fields" "200 [] null null null null" \
    "$STATUS $(jqb -c '[.data.shapes, .data.feed, .data.labGrown, .data.caratMin, .data.rating] | map(tostring) | join(" ")' | sed 's/^"//; s/"$//')"
for f in priority markup_ratio active; do
    req PUT "/api/v2/pricing-rules/$ALL" "{\"$f\":null}" "$H"
    check_eq "$f null -> 400" "400 $f must not be null" "$STATUS $(jqb .error.details.param) $(jqb .error.details.issue)"
done

# --- fields the database sets are ignored ---
req POST /api/v2/pricing-rules '{"id":"00000000-0000-4000-8000-000000000001","created_at":"2000-01-01T00:00:00Z","priority":4,"markup_ratio":1.1}' "$H"
check_eq "id and created_at in a body are ignored" "201 false false" \
    "$STATUS $(jqb '.data.id == "00000000-0000-4000-8000-000000000001"') $(jqb '.data.createdAt | startswith("2000")')"

# --- shapes that cannot be built into an array literal ---
N=$(RULES)
for bad in '"round"' '{"a":"round"}' '[1]' '[null]' \
    '["ROUND","OVAL","EMERALD","CUSHION","CUSHION B","CUSHION MODIFIED","CUSHION BRILLIANT","ASSCHER","RADIANT","MARQUISE","PEAR","PRINCESS","ROSE","OLD MINER","TRILLIANT","HEXAGONAL","HEART","ROUND"]'; do
    req POST /api/v2/pricing-rules "{\"priority\":1,\"markup_ratio\":1.2,\"shapes\":$bad}" "$H"
    check_eq "shapes $bad -> 400 naming shapes" "400 shapes" "$STATUS $(jqb .error.details.param)"
done
req POST /api/v2/pricing-rules '{"priority":1,"markup_ratio":1.2,"shapes":["ROUND","OVAL","EMERALD","CUSHION","CUSHION B","CUSHION MODIFIED","CUSHION BRILLIANT","ASSCHER","RADIANT","MARQUISE","PEAR","PRINCESS","ROSE","OLD MINER","TRILLIANT","HEXAGONAL","HEART"]}' "$H"
check_eq "all 17 known shapes -> 201" "201 17" "$STATUS $(jqb '.data.shapes | length')"
N=$((N + 1))

# --- values the field validation accepts but the column cannot hold ---
for bad in '"carat_max":10000' '"price_min":10000000000' '"markup_ratio":99.99999' '"carat_min":5,"carat_max":"1e5"'; do
    case $bad in *markup_ratio*) body="{\"priority\":1,$bad}" ;; *) body="{\"priority\":1,\"markup_ratio\":1.2,$bad}" ;; esac
    req POST /api/v2/pricing-rules "$body" "$H"
    check_eq "$bad: accepted by validation, refused by the column -> 400" "400 VALIDATION_ERROR Pricing rule violates a constraint" \
        "$STATUS $(jqb .error.code) $(jqb .error.message)"
done
check_eq "nothing stored by the refused writes" "$N" "$(RULES)"
req PUT "/api/v2/pricing-rules/$ALL" '{"carat_max":10000}' "$H"
check_eq "update refused by the column -> 400" "400 Pricing rule violates a constraint" "$STATUS $(jqb .error.message)"
check_eq "the refused update changed nothing" 2.00 "$(psql_q "SELECT carat_max FROM pricing_rules WHERE id = '$ALL'")"

# --- other per-field checks the rows carry ---
NAME201=$(printf 'n%.0s' $(seq 201))
for bad in "\"name\":\"$NAME201\":name" '"feed":7:feed' '"rating":1.5:rating' '"priority":1000000001:priority' \
    '"lab_grown":"yes":lab_grown' '"price_min":-1:price_min' '"markup_ratio":100:markup_ratio' '"carat_min":"abc":carat_min'; do
    case ${bad##*:} in # the base body without the member under test (no duplicate keys)
    priority) body="{\"markup_ratio\":1.2,${bad%:*}}" ;;
    markup_ratio) body="{\"priority\":1,${bad%:*}}" ;;
    *) body="{\"priority\":1,\"markup_ratio\":1.2,${bad%:*}}" ;;
    esac
    req POST /api/v2/pricing-rules "$body" "$H"
    check_eq "${bad%:*} -> 400" "400 ${bad##*:}" "$STATUS $(jqb .error.details.param)"
done
check_eq "nothing stored by the invalid bodies" "$N" "$(RULES)"

# --- an update is checked against the stored bounds of each pair ---
req PUT "/api/v2/pricing-rules/$ALL" '{"price_min":6000}' "$H"
check_eq "price_min above the stored price_max -> 400" "400 price_min must not be greater than price_max" \
    "$STATUS $(jqb .error.details.param) $(jqb .error.details.issue)"
req PUT "/api/v2/pricing-rules/$ALL" '{"price_min":6000,"price_max":null}' "$H"
check_eq "price_min with price_max cleared in the same body -> 200" "200 6000 null" "$STATUS $(jqb .data.priceMin) $(jqb .data.priceMax)"

finish
