#!/usr/bin/env bash
# api_core.sh - `diamond api` over real HTTP against a real database: health (incl. a database
# outage on a private second cluster), API keys, every HMAC case incl. replay, permissions,
# request ids, CORS, JSON errors (unknown route, malformed JSON, >100 kB, garbage), rate
# limiting, graceful SIGTERM. (issue 7: requirements 1, 2, 3, 4, 14)
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db api_core
seed_diamonds 20
SECRET=s3cret-value
start_api api HMAC_SECRETS="{\"shop\":\"$SECRET\",\"other\":\"x\"}" CORS_ORIGINS="https://shop.example, https://admin.example"

# --- 1. health ---
req GET /health
check_eq "health 200 without auth" 200 "$STATUS"
check_eq "health database ok" ok "$(jqb .database)"
check_eq "health queue ok" ok "$(jqb .queue)"
check "health has status and timestamp" test "$(jqb '.status != null and .timestamp != null')" = true

# --- 2. API keys ---
KEY=$(new_key tester read,trade,admin)
req GET /api/v2/diamonds
check_eq "no credentials -> 401" 401 "$STATUS"
check_eq "no credentials message" "Invalid or missing authentication" "$(jqb .error.message)"
check_eq "error code UNAUTHORIZED" UNAUTHORIZED "$(jqb .error.code)"
req GET /api/v2/diamonds "" "X-API-Key: dk_unknown_key"
check_eq "unknown key -> 401" 401 "$STATUS"
check_eq "unknown key message" "Invalid API key" "$(jqb .error.message)"
INACTIVE=$(new_key inactive)
psql_q "UPDATE api_keys SET active = false WHERE client_name = 'inactive'"
req GET /api/v2/diamonds "" "X-API-Key: $INACTIVE"
check_eq "inactive key -> 401" 401 "$STATUS"
EXPIRED=$(new_key expired)
psql_q "UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE client_name = 'expired'"
req GET /api/v2/diamonds "" "X-API-Key: $EXPIRED"
check_eq "expired key -> 401 Invalid API key" "401 Invalid API key" "$STATUS $(jqb .error.message)"
# A key in use is cached and re-read in the background; revoking it still shuts it out (within
# the cache's 5 s lifetime; polled here with a generous deadline, not timed).
REVOKED=$(new_key revoked)
req GET /api/v2/diamonds "" "X-API-Key: $REVOKED"
check_eq "key to be revoked works" 200 "$STATUS"
psql_q "UPDATE api_keys SET active = false WHERE client_name = 'revoked'"
revoked_refused() { req GET /api/v2/diamonds "" "X-API-Key: $REVOKED"; [ "$STATUS" = 401 ]; }
check "a revoked key in use is refused" wait_until 15 revoked_refused
# An invalid key never falls back to a valid HMAC signature.
TS=$(date +%s)
SIG=$(sign "$SECRET" GET /api/v2/diamonds "$TS" "")
req GET /api/v2/diamonds "" "X-API-Key: nope" "X-Client-Id: shop" "X-Timestamp: $TS" "X-Signature: $SIG"
check_eq "invalid key + valid HMAC -> 401 (no fallback)" "401 Invalid API key" "$STATUS $(jqb .error.message)"
check_eq "last_used_at empty before use" "" "$(psql_q "SELECT last_used_at FROM api_keys WHERE client_name = 'tester'")"
req GET /api/v2/diamonds "" "X-API-Key: $KEY"
check_eq "valid key -> 200" 200 "$STATUS"
lu() { psql_q "SELECT last_used_at IS NOT NULL FROM api_keys WHERE client_name = 'tester'" | grep -q t; }
check "last_used_at advances (batched)" wait_until 15 lu

# --- 3. HMAC ---
hmac_req() { # METHOD TARGET BODY TS [SIG]
    local sig=${5:-$(sign "$SECRET" "$1" "$2" "$4" "$3")}
    req "$1" "$2" "$3" "X-Client-Id: shop" "X-Timestamp: $4" "X-Signature: $sig"
}
TS=$(date +%s)
hmac_req GET "/api/v2/diamonds?limit=2&shape=ROUND" "" "$TS"
check_eq "HMAC signed GET with query -> 200" 200 "$STATUS"
hmac_req GET "/api/v2/diamonds?limit=2&shape=ROUND" "" "$TS"
check_eq "same signed request twice -> 401 replay" 401 "$STATUS"
check "replay message" grep -q replay "$T/body"
hmac_req GET "/api/v2/diamonds?limit=3" "" "$((TS - 301))"
check_eq "HMAC 301 s old -> 401" 401 "$STATUS"
hmac_req GET "/api/v2/diamonds?limit=3" "" "$((TS + 299))"
check_eq "HMAC 299 s ahead -> 200" 200 "$STATUS"
SIG=$(sign "$SECRET" GET "/api/v2/diamonds?limit=4" "${TS}.0" "")
hmac_req GET "/api/v2/diamonds?limit=4" "" "${TS}.0" "$SIG"
check_eq "non-numeric timestamp -> 401" 401 "$STATUS"
SIG=$(sign "$SECRET" GET "/api/v2/diamonds?limit=4" "2026-11-29T09:00:00Z" "")
hmac_req GET "/api/v2/diamonds?limit=4" "" "2026-11-29T09:00:00Z" "$SIG"
check_eq "ISO timestamp -> 401" 401 "$STATUS"
RID=$(psql_q "SELECT id FROM diamonds LIMIT 1")
BODY='{"destination_id":"dest-1"}'
SIG=$(sign "$SECRET" POST "/api/v2/diamonds/$RID/availability" "$TS" "$BODY")
hmac_req POST "/api/v2/diamonds/$RID/availability" '{"destination_id":"dest-2"}' "$TS" "$SIG"
check_eq "one changed body byte -> 401" 401 "$STATUS"
hmac_req POST "/api/v2/diamonds/$RID/availability" "$BODY" "$TS" "$SIG"
check_eq "signed POST with body -> 200" 200 "$STATUS"
UPPER=$(sign "$SECRET" GET "/api/v2/diamonds?limit=5" "$TS" "" | tr a-f A-F)
hmac_req GET "/api/v2/diamonds?limit=5" "" "$TS" "$UPPER"
check_eq "upper-case signature -> 401" 401 "$STATUS"
SIG=$(sign "$SECRET" GET "/api/v2/diamonds?limit=6" "$TS" "")
req GET "/api/v2/diamonds?limit=6" "" "X-Client-Id: shop" "X-Timestamp: $TS"
check_eq "two of three headers (no signature) -> 401" 401 "$STATUS"
req GET "/api/v2/diamonds?limit=6" "" "X-Client-Id: shop" "X-Signature: $SIG"
check_eq "two of three headers (no timestamp) -> 401" 401 "$STATUS"
req GET "/api/v2/diamonds?limit=6" "" "X-Timestamp: $TS" "X-Signature: $SIG"
check_eq "two of three headers (no client) -> 401" 401 "$STATUS"
SIG=$(sign "wrong" GET "/api/v2/diamonds?limit=7" "$TS" "")
hmac_req GET "/api/v2/diamonds?limit=7" "" "$TS" "$SIG"
check_eq "wrong secret -> 401" 401 "$STATUS"
SIG=$(sign "$SECRET" GET "/api/v2/diamonds?limit=8" "$TS" "")
req GET "/api/v2/diamonds?limit=8" "" "X-Client-Id: nobody" "X-Timestamp: $TS" "X-Signature: $SIG"
check_eq "unknown client -> 401" 401 "$STATUS"
check "replay rows recorded" test "$(psql_q "SELECT count(*) FROM hmac_replay WHERE client_id = 'shop'")" -ge 2

# --- 4. permissions ---
READ=$(new_key reader read)
req GET /api/v2/diamonds "" "X-API-Key: $READ"
check_eq "read key can search" 200 "$STATUS"
req POST /api/v2/triggers/scheduler '{"run_type":"full"}' "X-API-Key: $READ"
check_eq "read key -> 403 on triggers" 403 "$STATUS"
check_eq "403 code" FORBIDDEN "$(jqb .error.code)"
req POST /api/v2/pricing-rules '{"priority":1,"markup_ratio":1.2}' "X-API-Key: $READ"
check_eq "read key -> 403 on pricing-rule writes" 403 "$STATUS"
req DELETE /api/v2/pricing-rules/00000000-0000-4000-8000-000000000000 "" "X-API-Key: $READ"
check_eq "read key -> 403 on pricing-rule delete" 403 "$STATUS"
req POST "/api/v2/diamonds/$RID/purchase" '{"destination_id":"d"}' "X-API-Key: $READ" "X-Idempotency-Key: k1"
check_eq "read key -> 403 on purchase" 403 "$STATUS"
req POST "/api/v2/diamonds/$RID/hold" '' "X-API-Key: $READ"
check_eq "read key -> 403 on hold" 403 "$STATUS"
TRADE=$(new_key trader read,trade)
req POST /api/v2/pricing-rules/reprice '' "X-API-Key: $TRADE"
check_eq "trade key -> 403 on reprice" 403 "$STATUS"
req GET /api/v2/pricing-rules "" "X-API-Key: $READ"
check_eq "read key can list pricing rules" 200 "$STATUS"

# --- request ids, CORS, JSON errors ---
req GET /health "" "X-Request-Id: abc-123_x.y"
check_eq "valid X-Request-Id echoed" "abc-123_x.y" "$(header X-Request-Id)"
req GET /health "" "X-Request-Id: bad id with spaces"
check "invalid X-Request-Id replaced by a UUID" grep -Eqi '^x-request-id: [0-9a-f-]{36}' "$T/headers"
req OPTIONS /api/v2/diamonds "" "Origin: https://shop.example" "Access-Control-Request-Method: POST"
check_eq "preflight 204" 204 "$STATUS"
check_eq "preflight allow-origin from CORS_ORIGINS" "https://shop.example" "$(header Access-Control-Allow-Origin)"
check "preflight allows X-API-Key, HMAC and idempotency headers" sh -c "grep -i '^access-control-allow-headers' '$T/headers' | grep -qi 'x-api-key.*x-client-id.*x-timestamp.*x-signature.*x-idempotency-key'"
req GET /health "" "Origin: https://evil.example"
check_eq "unlisted origin gets no allow-origin" "" "$(header Access-Control-Allow-Origin)"
req GET /no/such/route
check_eq "unknown route -> 404" 404 "$STATUS"
check_eq "unknown route is JSON" NOT_FOUND "$(jqb .error.code)"
req DELETE /api/v2/diamonds "" "X-API-Key: $KEY"
check_eq "wrong method -> 405 JSON" "405 METHOD_NOT_ALLOWED" "$STATUS $(jqb .error.code)"

# --- 14. malformed input ---
req POST /api/v2/pricing-rules '{"priority":1,' "X-API-Key: $KEY"
check_eq "malformed JSON -> 400" 400 "$STATUS"
check_eq "malformed JSON is a JSON error" BAD_REQUEST "$(jqb .error.code)"
req POST /api/v2/pricing-rules '[1,2]' "X-API-Key: $KEY"
check_eq "non-object JSON -> 400" 400 "$STATUS"
head -c 150000 /dev/zero | tr '\0' 'a' >"$T/big"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -X POST -H "X-API-Key: $KEY" -H 'Content-Type: application/json' --data-binary @"$T/big" "$API/api/v2/pricing-rules")
check_eq "body over 100 kB -> 413" 413 "$STATUS"
check_eq "413 is JSON" PAYLOAD_TOO_LARGE "$(jqb .error.code)"
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -X POST -H "X-API-Key: $KEY" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$API/api/v2/pricing-rules")
check_eq "chunked body over 100 kB -> 413" 413 "$STATUS"
# A declared oversize body is refused up front: the client that asks `Expect: 100-continue`
# gets 413 as the first answer, never `100 Continue` (it would then upload the whole body).
exec 5<>"/dev/tcp/127.0.0.1/$API_PORT"
printf 'POST /api/v2/pricing-rules HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nContent-Length: 150000\r\nExpect: 100-continue\r\n\r\n' "$KEY" >&5
first=""
IFS= read -r -t 20 first <&5 || true
exec 5<&-
check_eq "declared Content-Length over 100 kB -> 413 before any 100 Continue" "HTTP/1.1 413" "${first:0:12}"
req GET "/api/v2/diamonds?shape=%01%02" "" "X-API-Key: $KEY"
check_eq "control characters in the query -> 400" 400 "$STATUS"
req GET "/api/v2/diamonds?limit=%ZZ" "" "X-API-Key: $KEY"
check_eq "bad percent-encoding -> 400" 400 "$STATUS"
req GET "/api/v2/diamonds/%00" "" "X-API-Key: $KEY"
check_eq "NUL in the path -> 400" 400 "$STATUS"
req GET "/api/v2/diamonds%2F%2e%2e" "" "X-API-Key: $KEY"
check "encoded slashes in the path -> 4xx" test "$STATUS" -ge 400 -a "$STATUS" -lt 500
printf 'GARBAGE\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$API_PORT; cat >&3; cat <&3" >"$T/raw" 2>/dev/null || true
check "garbage request line -> 400 or closed, never a 2xx" sh -c "! grep -q ' 2[0-9][0-9] ' '$T/raw'"
printf 'GET /health HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$API_PORT; cat >&3; cat <&3" >"$T/raw" 2>/dev/null || true
check "malformed header -> 400" grep -q ' 400 ' "$T/raw"
req GET /health
check_eq "still serving after garbage" 200 "$STATUS"
check "one JSON log line per request" sh -c "grep '\"msg\":\"request\"' '$T/api.log' | head -5 | jq -e 'select(.requestId and .method and .path and .status and (.durationMs != null))' >/dev/null"
check "no key material in the log" sh -c "! grep -q -e '$KEY' -e '$SECRET' '$T/api.log'"

stop_api api

# --- malformed HMAC_SECRETS fails start-up clearly ---
rc=0
PORT=$(free_port) HMAC_SECRETS='{"shop": 42' "$DIAMOND" api >"$T/badhmac.out" 2>&1 || rc=$?
check_eq "malformed HMAC_SECRETS -> exit 2" 2 "$rc"
check "start-up message names HMAC_SECRETS" grep -q HMAC_SECRETS "$T/badhmac.out"
check "the secret value is not printed" sh -c "! grep -q 42 '$T/badhmac.out'"

# --- rate limit ---
start_api api_rl API_RATE_LIMIT_RPS=2 HMAC_SECRETS='{}'
# Requests until the first 429 (the burst is 2; a loaded machine refills the bucket between
# requests, so a fixed count could pass the limit by): that answer is the one checked.
codes=""
for i in $(seq 1 30); do
    req GET /api/v2/diamonds?limit=1 "" "X-API-Key: $KEY"; codes="$codes $STATUS"
    [ "$STATUS" = 429 ] && break
done
check "token bucket: 429 after the burst" sh -c "echo '$codes' | grep -q 429"
check_eq "429 code" "429 RATE_LIMITED" "$STATUS $(jqb .error.code)"
check "429 has Retry-After" test -n "$(header Retry-After)"
req GET /api/v2/diamonds?limit=1 "" "X-API-Key: $READ"
check_eq "another client is not limited" 200 "$STATUS"

# --- graceful SIGTERM ---
stop_api api_rl
check "request counts flushed to api_request_stats" test "$(psql_q "SELECT COALESCE(sum(count),0) FROM api_request_stats WHERE status_class = '4xx'")" -gt 0

# --- 1. database outage on a private cluster ---
PG2_PORT=$(free_port)
chmod 755 "$T" # the cluster runs as the postgres user
"$DIAMOND" db start --dir "$T/pg2" --port "$PG2_PORT" --fast >/dev/null
stop_pg2() { "$DIAMOND" db stop --dir "$T/pg2" >/dev/null 2>&1 || true; }
trap 'stop_pg2; cleanup' EXIT
PG2_URL=$("$DIAMOND" db url --dir "$T/pg2" --port "$PG2_PORT")
DATABASE_URL=$PG2_URL "$DIAMOND" migrate >/dev/null
K2=$(DATABASE_URL=$PG2_URL new_key outage)
start_api api_outage DATABASE_URL="$PG2_URL" HMAC_SECRETS='{}'
req GET /health
check_eq "second cluster: health 200" 200 "$STATUS"
stop_pg2
req GET /health
check_eq "PostgreSQL down: health 503" 503 "$STATUS"
check_eq "PostgreSQL down: database down" down "$(jqb .database)"
req GET /api/v2/diamonds/00000000-0000-4000-8000-000000000000 "" "X-API-Key: $K2"
check_eq "PostgreSQL down: API request 503" "503 SERVICE_UNAVAILABLE" "$STATUS $(jqb .error.code)"
check "API process still up" kill -0 "$PID_api_outage"
"$DIAMOND" db start --dir "$T/pg2" --port "$PG2_PORT" --fast >/dev/null
healthy() { curl -sf "$API/health" >/dev/null; }
check "health recovers when PostgreSQL is back" wait_until 20 healthy
req GET /api/v2/diamonds "" "X-API-Key: $K2"
check_eq "requests served again after the outage" 200 "$STATUS"
stop_api api_outage
stop_pg2
finish
