#!/usr/bin/env bash
# api_trading.sh - hold and purchase through the real API against the feed simulator as the
# supplier (diamond feed-sim; its /admin/stats counts the hold and order calls that reach it).
# (issue 7: requirements 8 and 9)
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db api_trading
# Diamonds whose offers exist at the supplier: available ones, and one the supplier will deny.
trade_stones 12 1
DENY=$D13
ops() { curl -s "$SIM/admin/stats" | jq -r ".operations.$1"; }

# Without supplier credentials: 503, never a crash.
start_api api_nocreds HMAC_SECRETS='{}'
KEY=$(new_key trader read,trade)
H="X-API-Key: $KEY"
req POST "/api/v2/diamonds/$D1/hold" "" "$H"
check_eq "hold without NIVODA_* -> 503" "503 SERVICE_UNAVAILABLE" "$STATUS $(jqb .error.code)"
req POST "/api/v2/diamonds/$D1/purchase" '{"destination_id":"dest-1"}' "$H" "X-Idempotency-Key: nocreds-1"
check_eq "purchase without NIVODA_* -> 503" "503 SERVICE_UNAVAILABLE" "$STATUS $(jqb .error.code)"
check_eq "no purchase row without credentials" 0 "$(psql_q "SELECT count(*) FROM purchase_history")"
stop_api api_nocreds

# Ten concurrent duplicates below are all in flight at once: above the default per-client cap.
start_api api HMAC_SECRETS='{}' NIVODA_ENDPOINT="$SIM/graphql" NIVODA_USERNAME=u1 NIVODA_PASSWORD=p1 \
    API_SUPPLIER_PER_CLIENT=16

# --- 8. hold ---
psql_q "UPDATE diamonds SET availability = 'on_hold' WHERE id = '$D2'" >/dev/null
before=$(ops create_hold)
req POST "/api/v2/diamonds/$D2/hold" "" "$H"
check_eq "hold on a stone not available -> 409" 409 "$STATUS"
check_eq "409: no supplier call" "$before" "$(ops create_hold)"
req POST /api/v2/diamonds/not-a-uuid/hold "" "$H"
check_eq "hold with a malformed id -> 400" 400 "$STATUS"
req POST /api/v2/diamonds/00000000-0000-4000-8000-000000000000/hold "" "$H"
check_eq "hold on an unknown id -> 404" 404 "$STATUS"
req POST "/api/v2/diamonds/$D1/hold" "" "$H"
check_eq "hold success -> 200" 200 "$STATUS"
check_eq "hold not denied" false "$(jqb .data.denied)"
HOLD=$(jqb .data.holdId)
check "supplier hold id returned" test -n "$HOLD" -a "$HOLD" != null
check_eq "hold reached the supplier once" "$((before + 1))" "$(ops create_hold)"
check_eq "stone on_hold with the hold id" "on_hold $HOLD" "$(psql_q "SELECT availability || ' ' || hold_id FROM diamonds WHERE id = '$D1'")"
check_eq "hold_history row placed" "placed false key:trader" "$(psql_q "SELECT status || ' ' || denied || ' ' || client FROM hold_history WHERE diamond_id = '$D1'")"
before=$(ops create_hold)
req POST "/api/v2/diamonds/$DENY/hold" "" "$H"
check_eq "denied hold -> 200" 200 "$STATUS"
check_eq "denied: true reported" true "$(jqb .data.denied)"
check_eq "denied hold recorded" "denied true" "$(psql_q "SELECT status || ' ' || denied FROM hold_history WHERE diamond_id = '$DENY'")"
check_eq "denied hold leaves the stone available" available "$(psql_q "SELECT availability FROM diamonds WHERE id = '$DENY'")"
# Two concurrent holds on one stone: one supplier call, one 200, one 409.
before=$(ops create_hold)
( req POST "/api/v2/diamonds/$D3/hold" "" "$H"; echo "$STATUS" >"$T/h1" ) &
p1=$!
( T2=$T; req POST "/api/v2/diamonds/$D3/hold" "" "$H"; echo "$STATUS" >"$T2/h2" ) &
p2=$!
wait $p1 $p2
check_eq "two concurrent holds: one 200 and one 409" "200 409" "$(cat "$T/h1" "$T/h2" | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "two concurrent holds: one supplier call" "$((before + 1))" "$(ops create_hold)"
check_eq "two concurrent holds: one placed row" 1 "$(psql_q "SELECT count(*) FROM hold_history WHERE diamond_id = '$D3' AND status = 'placed'")"

# --- 9. purchase ---
req POST "/api/v2/diamonds/$D4/purchase" '{"destination_id":"dest-1"}' "$H"
check_eq "purchase without X-Idempotency-Key -> 400" "400 X-Idempotency-Key" "$STATUS $(jqb .error.details.param)"
req POST "/api/v2/diamonds/$D4/purchase" '{"reference":"r"}' "$H" "X-Idempotency-Key: k-missing-dest"
check_eq "purchase without destination_id -> 400" "400 destination_id" "$STATUS $(jqb .error.details.param)"
req POST "/api/v2/diamonds/$D4/purchase" '{"destination_id":' "$H" "X-Idempotency-Key: k-bad-json"
check_eq "purchase with malformed JSON -> 400" 400 "$STATUS"
before=$(ops create_order)
BODY='{"destination_id":"dest-1","reference":"PO-1","comments":"gift"}'
req POST "/api/v2/diamonds/$D4/purchase" "$BODY" "$H" "X-Idempotency-Key: k-one"
check_eq "purchase -> 200" 200 "$STATUS"
ORDER=$(jqb .data.orderId)
check "supplier order id returned" test -n "$ORDER" -a "$ORDER" != null
check_eq "one supplier order" "$((before + 1))" "$(ops create_order)"
check_eq "purchase recorded completed" "completed $ORDER" "$(psql_q "SELECT status || ' ' || supplier_order_id FROM purchase_history WHERE idempotency_key = 'k-one'")"
check_eq "stone sold" sold "$(psql_q "SELECT availability FROM diamonds WHERE id = '$D4'")"
req POST "/api/v2/diamonds/$D4/purchase" "$BODY" "$H" "X-Idempotency-Key: k-one"
check_eq "replay -> stored result" "200 $ORDER" "$STATUS $(jqb .data.orderId)"
check_eq "replay: no second supplier call" "$((before + 1))" "$(ops create_order)"
check_eq "replay is marked" true "$(header Idempotent-Replayed)"
req POST "/api/v2/diamonds/$D5/purchase" "$BODY" "$H" "X-Idempotency-Key: k-one"
check_eq "same key, another diamond -> 409" 409 "$STATUS"
req POST "/api/v2/diamonds/$D4/purchase" '{"destination_id":"dest-2","reference":"PO-1","comments":"gift"}' "$H" "X-Idempotency-Key: k-one"
check_eq "same key, another body -> 409" 409 "$STATUS"
OTHER=$(new_key other read,trade)
req POST "/api/v2/diamonds/$D4/purchase" "$BODY" "X-API-Key: $OTHER" "X-Idempotency-Key: k-one"
check_eq "same key, another caller -> 409" 409 "$STATUS"
req POST "/api/v2/diamonds/$D4/purchase" "$BODY" "$H" "X-Idempotency-Key: k-two"
check_eq "sold stone -> 409" 409 "$STATUS"
check_eq "sold: no supplier call" "$((before + 1))" "$(ops create_order)"

# Ten concurrent identical requests -> exactly one supplier order.
before=$(ops create_order)
BODY10='{"destination_id":"dest-10"}'
pids=()
for n in $(seq 1 10); do
    curl -s -o "$T/p$n.json" -w '%{http_code}' -X POST -H "$H" -H "X-Idempotency-Key: k-ten" \
        -H 'Content-Type: application/json' --data-binary "$BODY10" "$API/api/v2/diamonds/$D5/purchase" >"$T/p$n.code" &
    pids+=($!)
done
wait "${pids[@]}"
check_eq "10 concurrent identical purchases: one supplier order" "$((before + 1))" "$(ops create_order)"
check_eq "10 concurrent identical purchases: one purchase row" 1 "$(psql_q "SELECT count(*) FROM purchase_history WHERE idempotency_key = 'k-ten'")"
check_eq "10 concurrent identical purchases: all 200" "200" "$(awk 1 "$T"/p*.code | sort -u | tr -d '\n')"
check_eq "10 concurrent identical purchases: one order id" 1 "$(jq -r .data.orderId "$T"/p*.json | sort -u | wc -l)"

# Supplier failure -> 502, purchase failed, stone unchanged.
before=$(ops create_order)
curl -s -X POST -H 'Content-Type: application/json' --data-binary '{"fail_next":{"count":20,"status":500}}' "$SIM/admin/faults" >/dev/null
req POST "/api/v2/diamonds/$D6/purchase" '{"destination_id":"dest-6"}' "$H" "X-Idempotency-Key: k-fail"
curl -s -X POST -H 'Content-Type: application/json' --data-binary '{"reset":true}' "$SIM/admin/faults" >/dev/null
check_eq "supplier failure -> 502" 502 "$STATUS"
check_eq "purchase recorded failed" failed "$(psql_q "SELECT status FROM purchase_history WHERE idempotency_key = 'k-fail'")"
check "failure reason recorded" test -n "$(psql_q "SELECT error_message FROM purchase_history WHERE idempotency_key = 'k-fail'")"
check_eq "stone unchanged" available "$(psql_q "SELECT availability FROM diamonds WHERE id = '$D6'")"
req POST "/api/v2/diamonds/$D6/purchase" '{"destination_id":"dest-6"}' "$H" "X-Idempotency-Key: k-fail"
check_eq "replay of the failure -> stored 502" 502 "$STATUS"
# A purchase orphaned by a crash (pending, unlocked, old): same caller, stone and body under a new
# key answers at once that its outcome is unknown, without a supplier call, instead of waiting.
psql_q "INSERT INTO purchase_history (idempotency_key, client, caller, diamond_id, request_hash, status, created_at)
        SELECT 'k-orphan', client, caller, diamond_id, request_hash, 'pending', now() - interval '10 minutes'
        FROM purchase_history WHERE idempotency_key = 'k-fail'" >/dev/null
before=$(ops create_order)
t0=$SECONDS
req POST "/api/v2/diamonds/$D6/purchase" '{"destination_id":"dest-6"}' "$H" "X-Idempotency-Key: k-orphan"
check_eq "orphaned purchase -> 409 outcome unknown" "409 CONFLICT" "$STATUS $(jqb .error.code)"
check "the message says it was interrupted" grep -q "interrupted" "$T/body"
check "answered without the 60 s in-progress wait ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -lt 30
check_eq "no supplier call for it" "$before" "$(ops create_order)"
check_eq "left pending for the operator" pending "$(psql_q "SELECT status FROM purchase_history WHERE idempotency_key = 'k-orphan'")"
# Purchase of a held stone works (our own hold).
req POST "/api/v2/diamonds/$D7/hold" "" "$H"
check_eq "hold before purchase" 200 "$STATUS"
stop_api api
finish
