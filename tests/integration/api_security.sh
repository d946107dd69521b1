#!/usr/bin/env bash
# api_security.sh - issue 15 (security hardening), the API's side: connection limits per IP
# (item 4), rate limits on the verified identity and failed authentications per IP (item 5),
# HMAC client permissions (item 8), idempotency keys per caller (item 9), purchases bound to
# the caller's key id (item 10), who may buy a stone on hold (item 11) and one clock for HMAC
# replay rows (item 16). Supplier: the feed simulator (diamond feed-sim).
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db api_security
SECRET=shop-secret-1
ADMIN_SECRET=ops-secret-2
HMAC="{\"shop\":\"$SECRET\",\"ops\":{\"secret\":\"$ADMIN_SECRET\",\"permissions\":[\"read\",\"trade\",\"admin\"]}}"
seed_diamonds 20
KEY=$(new_key reader read)

# hmac_req CLIENT SECRET METHOD TARGET BODY TS: one signed request.
hmac_req() {
    local sig
    sig=$(sign "$2" "$3" "$4" "$6" "$5")
    req "$3" "$4" "$5" "X-Client-Id: $1" "X-Timestamp: $6" "X-Signature: $sig"
}

# --- item 5: rate limits on the verified identity; failed authentications per IP ---
# Ten unsigned requests naming the victim's client id, sent at once, must not spend the
# victim's bucket (one request per second: they would empty it for a second).
start_api api_rl1 HMAC_SECRETS="$HMAC" API_RATE_LIMIT_RPS=1
pids=()
for i in $(seq 1 10); do
    curl -s -o /dev/null -w '%{http_code}\n' -H "X-Client-Id: shop" "$API/api/v2/diamonds?limit=1" >"$T/unsigned.$i" &
    pids+=($!)
done
wait "${pids[@]}"
check_eq "unsigned requests with a victim's X-Client-Id are all refused" 0 "$(cat "$T"/unsigned.* | grep -c '^200$' || true)"
hmac_req shop "$SECRET" GET "/api/v2/diamonds?limit=2" "" "$(date +%s)"
check_eq "the victim's real signed request right after them -> 200, not 429" 200 "$STATUS"
stop_api api_rl1

start_api api_rl HMAC_SECRETS="$HMAC" API_RATE_LIMIT_RPS=5 API_AUTH_FAILURES_PER_MIN=5
req GET "/api/v2/diamonds?limit=1" "" "X-API-Key: $KEY"
check_eq "a valid key before the failures -> 200" 200 "$STATUS"
# Rotating made-up keys: each is a failed authentication of this IP, whatever the key.
codes=""
for i in $(seq 1 12); do
    # X-Forwarded-For is not trusted unless API_TRUSTED_PROXY_HOPS says so: varying it does not help.
    req GET "/api/v2/diamonds?limit=1" "" "X-API-Key: fake-$i-$RANDOM$RANDOM" "X-Forwarded-For: 10.0.0.$i"
    codes="$codes $STATUS"
done
check "rotating fake keys: refused (401 or 429) every time ($codes)" sh -c "! echo '$codes' | grep -q 200"
check_eq "rotating fake keys run into the per-IP limit" 429 "$STATUS"
check_eq "429 code" RATE_LIMITED "$(jqb .error.code)"
check "429 carries Retry-After" test -n "$(header Retry-After)"
req GET "/api/v2/diamonds?limit=1" "" "X-API-Key: $KEY"
check_eq "a known valid key from that IP still works" 200 "$STATUS"
# The per-client bucket: one verified client over its rate is limited.
codes=""
for i in $(seq 1 12); do req GET "/api/v2/diamonds?limit=1" "" "X-API-Key: $KEY"; codes="$codes $STATUS"; done
check "a verified client over API_RATE_LIMIT_RPS gets 429 ($codes)" sh -c "echo '$codes' | grep -q 429"
stop_api api_rl
# Behind one trusted proxy the address it appended (the rightmost) is the client's.
start_api api_xff HMAC_SECRETS='{}' API_TRUSTED_PROXY_HOPS=1 API_AUTH_FAILURES_PER_MIN=3
codes=""
for i in 1 2 3 4 5; do
    req GET "/api/v2/diamonds?limit=1" "" "X-API-Key: fake-$i" "X-Forwarded-For: 7.7.7.$i, 198.51.100.7"
    codes="$codes $STATUS"
done
check_eq "behind a proxy: the client's failures are limited whatever it puts left of the proxy's entry" \
    " 401 401 401 429 429" "$codes"
req GET "/api/v2/diamonds?limit=1" "" "X-API-Key: fake-6" "X-Forwarded-For: 198.51.100.8"
check_eq "another client behind the same proxy is not limited" 401 "$STATUS"
stop_api api_xff
check_eq "rate limiting is on by default" 100 \
    "$("$DIAMOND" api --help | grep 'API_RATE_LIMIT_RPS' | grep -o 'default [0-9]*' | cut -d' ' -f2 || true)"
check_eq "failed-authentication limit is on by default" 30 \
    "$("$DIAMOND" api --help | grep 'API_AUTH_FAILURES_PER_MIN' | grep -o 'default [0-9]*' | cut -d' ' -f2 || true)"

# --- item 8: HMAC client permissions ---
start_api api HMAC_SECRETS="$HMAC"
TS=$(date +%s)
hmac_req shop "$SECRET" GET "/api/v2/diamonds?limit=1" "" "$TS"
check_eq "plain-form HMAC client can read" 200 "$STATUS"
hmac_req shop "$SECRET" POST /api/v2/triggers/cancel-run '{"run_id":"00000000-0000-4000-8000-000000000000"}' "$TS"
check_eq "HMAC client without admin -> 403 on an admin route" "403 FORBIDDEN" "$STATUS $(jqb .error.code)"
hmac_req shop "$SECRET" POST /api/v2/pricing-rules '{}' "$TS"
check_eq "HMAC client without admin -> 403 on pricing rules" 403 "$STATUS"
hmac_req ops "$ADMIN_SECRET" POST /api/v2/triggers/cancel-run '{"run_id":"00000000-0000-4000-8000-000000000000"}' "$TS"
check_eq "HMAC client given admin reaches the admin route (unknown run -> 404)" 404 "$STATUS"
rc=0
PORT=$(free_port) HMAC_SECRETS='{"x":{"secret":"hush-hush","permissions":["root"]}}' \
    "$DIAMOND" api >"$T/badperm.out" 2>&1 || rc=$?
check_eq "unknown HMAC permission -> start-up fails with exit 2" 2 "$rc"
check "the message names HMAC_SECRETS and the problem" grep -q "HMAC_SECRETS.*unknown permission" "$T/badperm.out"
check "the secret is not printed" sh -c "! grep -q hush-hush '$T/badperm.out'"
stop_api api

# --- item 4: connections per IP ---
start_api api_conn HMAC_SECRETS='{}' API_MAX_CONNECTIONS_PER_IP=64
spawn idle python3 "$DM_SOURCE_DIR/tests/lib/idle_connections.py" "$API_PORT" 100 36
wait_until 30 test -s "$T/idle.log"
check_eq "one IP holds at most API_MAX_CONNECTIONS_PER_IP idle connections" 64 "$(head -1 "$T/idle.log" | cut -d' ' -f1)"
check "another connection from that IP is refused" sh -c "! curl -s -m 5 --interface 127.0.0.2 -o /dev/null '$API/health'"
req GET /health
check_eq "a normal request from another IP is answered meanwhile" 200 "$STATUS"
req GET "/api/v2/diamonds?limit=1" "" "X-API-Key: $KEY"
check_eq "and a search too" 200 "$STATUS"
kill "$PID_idle"
stop_api api_conn

# --- items 9, 10, 11: trading bound to the caller ---
trade_stones 8
start_api api_trade HMAC_SECRETS="$HMAC" NIVODA_ENDPOINT="$SIM/graphql" NIVODA_USERNAME=u1 NIVODA_PASSWORD=p1
A=$(new_key alice read,trade)
B=$(new_key bob read,trade)
A2=$(new_key alice read,trade) # same client name, another key
ADM=$(new_key boss read,trade,admin)
A_ID=$(psql_q "SELECT id FROM api_keys WHERE key_hash = encode(sha256('$A'::bytea), 'hex')")

# item 9: the same idempotency key used by two callers is two purchases.
req POST "/api/v2/diamonds/$D1/purchase" '{"destination_id":"dest-a"}' "X-API-Key: $A" "X-Idempotency-Key: shared-1"
check_eq "alice buys with key shared-1" 200 "$STATUS"
req POST "/api/v2/diamonds/$D2/purchase" '{"destination_id":"dest-b"}' "X-API-Key: $B" "X-Idempotency-Key: shared-1"
check_eq "bob's own purchase with the same key string -> 200, not 409" 200 "$STATUS"
check_eq "two purchase rows for key shared-1" 2 "$(psql_q "SELECT count(*) FROM purchase_history WHERE idempotency_key = 'shared-1' AND status = 'completed'")"

# item 10: a second key with the same client name does not share alice's purchases.
check_eq "purchase bound to alice's key id" "key:$A_ID" "$(psql_q "SELECT caller FROM purchase_history WHERE idempotency_key = 'shared-1' AND diamond_id = '$D1'")"
req POST "/api/v2/diamonds/$D1/purchase" '{"destination_id":"dest-a"}' "X-API-Key: $A2" "X-Idempotency-Key: shared-1"
check_eq "same name, other key, same key and body: not alice's stored result" "409 " "$STATUS $(header Idempotent-Replayed)"
check "it is refused because the stone is sold, not replayed" grep -q "already sold" "$T/body"
req POST "/api/v2/diamonds/$D1/purchase" '{"destination_id":"dest-a"}' "X-API-Key: $A" "X-Idempotency-Key: shared-1"
check_eq "alice's own replay still works" "200 true" "$STATUS $(header Idempotent-Replayed)"

# item 11: a stone on hold is for the key that placed the hold, or an admin.
req POST "/api/v2/diamonds/$D3/hold" "" "X-API-Key: $A"
check_eq "alice holds D3" 200 "$STATUS"
UNTIL=$(jqb .data.until)
check "the hold has an end" test -n "$UNTIL" -a "$UNTIL" != null
req POST "/api/v2/diamonds/$D3/purchase" '{"destination_id":"dest-b"}' "X-API-Key: $B" "X-Idempotency-Key: buy-held-1"
check_eq "bob cannot buy alice's held stone -> 409" "409 CONFLICT" "$STATUS $(jqb .error.code)"
check "the 409 names when the hold ends" grep -q "on hold for another client until ${UNTIL:0:19}" "$T/body"
check_eq "nothing recorded for bob's attempt" 0 "$(psql_q "SELECT count(*) FROM purchase_history WHERE idempotency_key = 'buy-held-1'")"
check_eq "D3 still on hold" on_hold "$(psql_q "SELECT availability FROM diamonds WHERE id = '$D3'")"
req POST "/api/v2/diamonds/$D3/purchase" '{"destination_id":"dest-a"}' "X-API-Key: $A" "X-Idempotency-Key: buy-held-2"
check_eq "alice buys the stone she holds" 200 "$STATUS"
req POST "/api/v2/diamonds/$D4/hold" "" "X-API-Key: $A"
check_eq "alice holds D4" 200 "$STATUS"
req POST "/api/v2/diamonds/$D4/purchase" '{"destination_id":"dest-c"}' "X-API-Key: $ADM" "X-Idempotency-Key: buy-held-3"
check_eq "an admin key may buy a held stone" 200 "$STATUS"
psql_q "UPDATE diamonds SET availability = 'on_hold' WHERE id = '$D5'" >/dev/null
req POST "/api/v2/diamonds/$D5/purchase" '{"destination_id":"dest-b"}' "X-API-Key: $B" "X-Idempotency-Key: buy-held-4"
check_eq "a stone on hold with no hold of ours on record: not for a trade key" 409 "$STATUS"
check "its 409 says the hold's end is not known" grep -q "end is not known" "$T/body"
stop_api api_trade

# --- item 16: one clock for HMAC replay rows ---
# The API runs 400 s behind the database (clock shim). Its replay rows are purged by the
# database's clock, so the window must be judged by that clock too.
cat >"$T/clockshim.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
int clock_gettime(clockid_t clk, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    if (real == NULL)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int r = real(clk, ts);
    const char *off = getenv("DM_TEST_CLOCK_OFFSET_S");
    if (r == 0 && clk == CLOCK_REALTIME && off != NULL)
        ts->tv_sec += strtol(off, NULL, 10);
    return r;
}
C
cc -shared -fPIC -o "$T/clockshim.so" "$T/clockshim.c" -ldl
start_api api_clock HMAC_SECRETS="$HMAC" LD_PRELOAD="$T/clockshim.so" DM_TEST_CLOCK_OFFSET_S=-400 \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
API_NOW=$(curl -s "$API/health" | jq -r .timestamp)
DB_NOW=$(psql_q "SELECT extract(epoch FROM now())::bigint")
API_S=$(date -d "$API_NOW" +%s)
check "precondition: the API's clock is ~400 s behind the database's ($API_S vs $DB_NOW)" \
    test $((DB_NOW - API_S)) -ge 390 -a $((DB_NOW - API_S)) -le 410
# Signed by the API's clock: inside its window, outside the database's.
TS=$API_S
hmac_req shop "$SECRET" GET "/api/v2/diamonds?limit=3" "" "$TS"
first=$STATUS
psql_q "INSERT INTO hmac_replay (signature, client_id, expires_at) VALUES (repeat('0', 64), 'sentinel', now() - interval '1 second')" >/dev/null
sentinel_gone() { test "$(psql_q "SELECT count(*) FROM hmac_replay WHERE client_id = 'sentinel'")" = 0; }
wait_until 20 sentinel_gone || true
check_eq "precondition: a replay purge ran since" 0 "$(psql_q "SELECT count(*) FROM hmac_replay WHERE client_id = 'sentinel'")"
hmac_req shop "$SECRET" GET "/api/v2/diamonds?limit=3" "" "$TS"
check_eq "the same signature after the purge is refused (first answer $first)" 401 "$STATUS"
# Signed by the database's clock: accepted once, then a replay.
TS=$(psql_q "SELECT extract(epoch FROM now())::bigint")
hmac_req shop "$SECRET" GET "/api/v2/diamonds?limit=4" "" "$TS"
check_eq "a timestamp inside the database's window -> 200" 200 "$STATUS"
hmac_req shop "$SECRET" GET "/api/v2/diamonds?limit=4" "" "$TS"
check_eq "and its replay -> 401" 401 "$STATUS"
stop_api api_clock
finish
