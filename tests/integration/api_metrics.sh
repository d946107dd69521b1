#!/usr/bin/env bash
# api_metrics.sh - /metrics and /health under abuse (issue 15, item 6): /metrics needs a
# credential by default (METRICS_TOKEN as a bearer token, or an API key that may read), its
# queue/database/watermark figures are rendered once per METRICS_CACHE_MS however many scrapes
# come (this process's counters stay current), /health is rate-limited per client IP; and the
# request log escapes a path that is not UTF-8 instead of dropping it (item 15).
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db api_metrics
seed_diamonds 20
TOKEN=metrics-token-0123456789abcdef
KEY=$(new_key scraper read)
start_api api HMAC_SECRETS='{}' METRICS_TOKEN="$TOKEN" METRICS_CACHE_MS=600000 HEALTH_RATE_LIMIT_RPS=2 LOG_LEVEL=info

# --- auth by default (METRICS_REQUIRE_AUTH unset)
req GET /metrics
check_eq "anonymous /metrics -> 401" "401 UNAUTHORIZED" "$STATUS $(jqb .error.code)"
check "the 401 leaks no figure" bash -c "! grep -q diamond_ '$T/body'"
req GET /metrics "" "Authorization: Bearer wrong-token-0123456789abcdef"
check_eq "wrong bearer token -> 401" 401 "$STATUS"
req GET /metrics "" "Authorization: Bearer $TOKEN"
check_eq "METRICS_TOKEN as a bearer token -> 200" 200 "$STATUS"
check "it is the Prometheus text" grep -q '^diamond_active_diamonds{availability="available"} ' "$T/body"
req GET /metrics "" "X-API-Key: $KEY"
check_eq "an API key that may read -> 200" 200 "$STATUS"

# --- the expensive part is rendered once per METRICS_CACHE_MS (600 s here: never twice)
metric() { awk -v m="$1" '$1 == m { print $2 }' "$T/body"; }
req GET /metrics "" "Authorization: Bearer $TOKEN"
avail0=$(metric 'diamond_active_diamonds{availability="available"}')
ok0=$(metric 'diamond_api_requests_total{status_class="2xx"}')
check "catalogue figures present (precondition: $avail0)" test -n "$avail0"
seed_diamonds 15 1000 # 9 more available stones
check_eq "(the catalogue did change)" $((avail0 + 9)) "$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active' AND availability = 'available'")"
for i in $(seq 1 20); do req GET /metrics "" "Authorization: Bearer $TOKEN"; done
check_eq "20 more scrapes did not aggregate the catalogue again" "$avail0" "$(metric 'diamond_active_diamonds{availability="available"}')"
check_eq "one render for all the scrapes so far" 1 "$(metric diamond_api_metrics_renders_total)"
check "this process's request counters stay current ($ok0 -> $(metric 'diamond_api_requests_total{status_class="2xx"}'))" \
    test "$(metric 'diamond_api_requests_total{status_class="2xx"}')" -ge $((ok0 + 20))

# --- /health per client IP
codes=""
# The first 429's body and headers are kept from the flood itself: a request sent after it could
# find the bucket refilled on a slow machine.
for i in $(seq 1 30); do
    c=$(curl -s -o "$T/h.json" -D "$T/h.h" -w '%{http_code}' "$API/health")
    codes="$codes $c"
    if [ "$c" = 429 ] && [ ! -f "$T/h429.json" ]; then cp "$T/h.json" "$T/h429.json"; cp "$T/h.h" "$T/h429.h"; fi
done
check "a /health flood from one address gets 429 ($codes)" bash -c "echo '$codes' | grep -q 429"
check "(it was answered 200 at first)" bash -c "echo '$codes' | grep -q '^ 200'"
check_eq "429 is the API's JSON error" RATE_LIMITED "$(jq -r .error.code "$T/h429.json" 2>/dev/null)"
check "429 has Retry-After" grep -qi '^Retry-After: [0-9]' "$T/h429.h"
check_eq "another address is not limited" 200 "$(curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "$API/health")"

# --- item 15: a decoded path that is not UTF-8 is logged escaped, not dropped
req GET "/no/such/caf%E9-$$" "" "X-API-Key: $KEY"
check_eq "the request is answered (404)" 404 "$STATUS"
logged() { grep -F "\"path\":\"/no/such/caf\\\\xe9-$$\"" "$T/api.log" | jq -e . >/dev/null; }
check "its log line keeps the path, escaped" wait_until 10 logged
stop_api api

# --- METRICS_REQUIRE_AUTH=false (a scraper on a private network) and METRICS_CACHE_MS=0
start_api api_open HMAC_SECRETS='{}' METRICS_REQUIRE_AUTH=false METRICS_CACHE_MS=0
req GET /metrics
check_eq "METRICS_REQUIRE_AUTH=false: anonymous /metrics -> 200" 200 "$STATUS"
r1=$(metric diamond_api_metrics_renders_total)
req GET /metrics
check_eq "METRICS_CACHE_MS=0: rendered for every request" $((r1 + 1)) "$(metric diamond_api_metrics_renders_total)"
stop_api api_open
finish
