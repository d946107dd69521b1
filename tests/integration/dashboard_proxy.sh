#!/usr/bin/env bash
# dashboard_proxy.sh - `diamond dashboard` as a static server and reverse proxy: 502 JSON when the
# API is down, method/target/body/headers passed both ways (X-API-Key, X-Request-Id, ETag and
# If-None-Match, status codes), hop-by-hop headers dropped, body limit, static MIME types and
# revalidation, path traversal refused, graceful SIGTERM.
. "$DM_SOURCE_DIR/tests/lib/common.sh"

# The stand-in API takes an ephemeral port and prints it.
spawn upstream node "$DM_SOURCE_DIR/tests/browser/echo_upstream.mjs" 0
up_port() { grep -Eo '^[0-9]+$' "$T/upstream.log" | head -n 1; }
wait_until 20 up_port
UP_PORT=$(up_port)

# free_port can race with other tests: a dashboard that cannot bind exits and is started
# again on another port. serve NAME API_URL -> sets SERVED_PORT.
serve() {
    local name=$1 api=$2
    for attempt in 1 2 3 4 5; do
        SERVED_PORT=$(free_port)
        spawn "$name" env PORT="$SERVED_PORT" API_URL="$api" "$DIAMOND" dashboard --bind 127.0.0.1
        local pid=${DM_PIDS[-1]} end=$((SECONDS + 20))
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do
            if curl -fsS -o /dev/null "http://127.0.0.1:$SERVED_PORT/" 2>/dev/null; then
                eval "PID_$name=$pid"
                return 0
            fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
    done
    return 1
}
# Nothing listens on a port the kernel just handed out and took back.
DOWN_PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})')
serve dash_down "http://127.0.0.1:$DOWN_PORT"
PORT_A=$SERVED_PORT
serve dash "http://127.0.0.1:$UP_PORT/"
PORT_B=$SERVED_PORT
A="http://127.0.0.1:$PORT_A"
B="http://127.0.0.1:$PORT_B"

# --- API down: 502 with a JSON error and a request id
code=$(curl -s -o "$T/down.json" -D "$T/down.h" -w '%{http_code}' -H 'X-Request-Id: req-down-1' "$A/api/v2/diamonds")
check_eq "API down gives 502" 502 "$code"
check_eq "502 body is the API's error format" BAD_GATEWAY "$(jq -r .error.code "$T/down.json")"
check "502 carries the caller's X-Request-Id" grep -qi '^X-Request-Id: req-down-1' "$T/down.h"
check_eq "/health proxied too (502 when down)" 502 "$(curl -s -o /dev/null -w '%{http_code}' "$A/health")"
check_eq "static files still served while the API is down" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$A/")"

# --- request passed upstream as sent
code=$(curl -s -o "$T/get.json" -D "$T/get.h" -w '%{http_code}' \
    -H 'X-API-Key: secret-key-1' -H 'X-Request-Id: req-42' -H 'Connection: keep-alive, X-Hop' -H 'X-Hop: 1' \
    "$B/api/v2/diamonds?shape=ROUND&shape=oval&x=%2Fa%20b&status=200")
check_eq "GET proxied" 200 "$code"
check_eq "raw target (path and query) passed exactly" '/api/v2/diamonds?shape=ROUND&shape=oval&x=%2Fa%20b&status=200' "$(jq -r .url "$T/get.json")"
check_eq "X-API-Key passed upstream" secret-key-1 "$(jq -r '.headers["x-api-key"]' "$T/get.json")"
check_eq "X-Request-Id passed upstream" req-42 "$(jq -r '.headers["x-request-id"]' "$T/get.json")"
check_eq "X-Forwarded-For set" 127.0.0.1 "$(jq -r '.headers["x-forwarded-for"]' "$T/get.json")"
check_eq "hop-by-hop headers (Connection and those it names) not forwarded" "none none" "$(jq -r '[(.headers.connection // "none" | if . == "close" or . == "keep-alive" then "none" else . end), (.headers["x-hop"] // "none")] | join(" ")' "$T/get.json")"
check "X-Request-Id comes back" grep -qi '^X-Request-Id: req-42' "$T/get.h"
check "ETag comes back" grep -qi '^ETag: "v1"' "$T/get.h"
check "other end-to-end headers come back (Retry-After, X-Upstream)" \
    bash -c "grep -qi '^Retry-After: 7' '$T/get.h' && grep -qi '^X-Upstream: echo' '$T/get.h'"
check "no duplicate Date header" test "$(grep -ci '^Date:' "$T/get.h")" = 1

# a request without an id gets one, and the API sees the same one the client gets back
curl -s -o "$T/noid.json" -D "$T/noid.h" "$B/api/v2/x"
sent=$(jq -r '.headers["x-request-id"]' "$T/noid.json")
back=$(grep -i '^X-Request-Id:' "$T/noid.h" | tr -d '\r' | awk '{print $2}')
check "generated request id reaches the API and the client" test -n "$sent" -a "$sent" = "$back"

# --- If-None-Match -> 304 passed through
check_eq "If-None-Match passed, 304 returned" 304 "$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "v1"' "$B/api/v2/diamonds")"

# --- methods, bodies, statuses
body='{"run_type":"incremental","note":"ünïcode"}'
code=$(curl -s -o "$T/post.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary "$body" "$B/api/v2/triggers/scheduler?status=409")
check_eq "POST status passed back (409)" 409 "$code"
check_eq "POST body passed upstream byte for byte" "$body" "$(jq -r .body "$T/post.json")"
check_eq "Content-Type passed upstream" application/json "$(jq -r '.headers["content-type"]' "$T/post.json")"
check_eq "PUT method passed" PUT "$(curl -s -X PUT --data-binary '{}' "$B/api/v2/pricing-rules/1" | jq -r .method)"
check_eq "DELETE method passed" DELETE "$(curl -s -X DELETE "$B/api/v2/pricing-rules/1" | jq -r .method)"
check_eq "5xx from the API passed through (503)" 503 "$(curl -s -o /dev/null -w '%{http_code}' "$B/api/v2/x?status=503")"
check_eq "/metrics proxied with credentials" GET "$(curl -s -H 'X-API-Key: k' "$B/metrics" | jq -r .method)"
head -c 2000000 /dev/zero >"$T/big.bin"
check_eq "request body over the limit gives 413" 413 "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T/big.bin" "$B/api/v2/pricing-rules")"
check_eq "a large response passes whole (3 MB)" 3000000 "$(curl -s "$B/api/big?bytes=3000000" | wc -c | tr -d ' ')"

# --- responses stream: the first chunk arrives while the API is still answering, and a body
# far larger than the proxy's window passes without the proxy holding it.
curl -sN "$B/api/hold" >"$T/hold.out" &
hold_pid=$!
first_chunk() { grep -q first-chunk "$T/hold.out"; }
check "first chunk relayed before the API finished" wait_until 20 first_chunk
check "the response is still open meanwhile" bash -c "! grep -q last-chunk '$T/hold.out'"
curl -s "http://127.0.0.1:$UP_PORT/release"
wait "$hold_pid"
check_eq "the rest follows once the API finishes" "first-chunk last-chunk" "$(tr '\n' ' ' <"$T/hold.out" | sed 's/ $//')"
hwm() { awk '/VmHWM/ {print $2}' "/proc/$PID_dash/status"; }
before=$(hwm)
check_eq "a 200 MB response passes whole" 200000000 "$(curl -s "$B/api/big?bytes=200000000" | wc -c | tr -d ' ')"
after=$(hwm)
check "the proxy did not hold it in memory (peak RSS +$(((after - before) / 1024)) MB)" test $((after - before)) -lt 65536
check_eq "TRACE is refused" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X TRACE "$B/api/v2/x")"

# --- static files
check "index.html served as HTML" bash -c "curl -s -D - -o /dev/null '$B/' | grep -qi '^Content-Type: text/html'"
check "JS modules served as JavaScript" bash -c "curl -s -D - -o /dev/null '$B/js/app.js' | grep -qi '^Content-Type: text/javascript'"
check "CSS served as CSS" bash -c "curl -s -D - -o /dev/null '$B/css/app.css' | grep -qi '^Content-Type: text/css'"
check "static files carry caching headers" bash -c "curl -s -D - -o /dev/null '$B/js/app.js' | grep -qi '^Cache-Control: no-cache'"
etag=$(curl -s -D - -o /dev/null "$B/js/app.js" | grep -i '^ETag:' | tr -d '\r' | cut -d' ' -f2-)
check_eq "static revalidation gives 304" 304 "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$B/js/app.js")"
check_eq "unknown file is 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$B/nope.js")"
for p in '/../../../../etc/passwd' '/%2e%2e/%2e%2e/%2e%2e/etc/passwd' '/js/..%2f..%2f..%2fREADME.md' '/.git/config' '/js/%2e%2e/%2e%2e/CMakeLists.txt'; do
    code=$(curl -s --path-as-is -o "$T/trav.out" -w '%{http_code}' "$B$p")
    check "traversal $p refused ($code)" bash -c "[ '$code' = 400 ] || [ '$code' = 404 ]"
    check "traversal $p leaks nothing" bash -c "! grep -q -e 'root:' -e 'cmake_minimum' -e 'repositoryformatversion' '$T/trav.out'"
done
check_eq "POST to a static path is refused" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$B/index.html")"

# --- request bodies stream too: the API sees the first bytes while the client still sends
head -c 600000 /dev/zero >"$T/up.bin"
curl -s --limit-rate 100k -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary @"$T/up.bin" "$B/api/upload" >"$T/up.json" &
up_pid=$!
api_got_some() { [ "$(curl -s "http://127.0.0.1:$UP_PORT/upload-progress")" -gt 0 ]; }
check "request body reaches the API while the client is still sending" wait_until 20 api_got_some
check "(the client was still sending then)" kill -0 "$up_pid"
wait "$up_pid"
check_eq "the whole request body arrived" 600000 "$(jq .received "$T/up.json")"
check_eq "a chunked request body passes (sent on chunked)" "300000 true" \
    "$(head -c 300000 /dev/zero | curl -s -X POST -H 'Transfer-Encoding: chunked' --data-binary @- "$B/api/upload" | jq -r '"\(.received) \(.chunked)"')"
check_eq "a chunked body over the limit gives 413" 413 \
    "$(head -c 2000000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Transfer-Encoding: chunked' --data-binary @- "$B/api/upload")"

# --- issue 15: what the proxy must never pass on. A raw listener keeps every byte it gets.
mkdir "$T/raw"
spawn rawup node "$DM_SOURCE_DIR/tests/lib/raw_upstream.mjs" "$T/raw"
raw_port() { grep -Eo '^[0-9]+$' "$T/rawup.log" | head -n 1; }
wait_until 20 raw_port
RAW_PORT=$(raw_port)
conns() { tr -d '\n' <"$T/raw/connections"; }
# raw_http PORT OUT: send stdin as the request bytes, keep the whole answer (the request says
# Connection: close, so the server ends it).
raw_http() {
    exec 5<>"/dev/tcp/127.0.0.1/$1"
    cat >&5
    timeout 20 cat <&5 >"$2" || true
    exec 5<&-
}
status_of() { head -n 1 "$1" | cut -d' ' -f2; }
curl -s -o /dev/null "http://127.0.0.1:$RAW_PORT/direct"
check_eq "the raw listener counts connections (precondition)" 1 "$(conns)"

# Item 1: a target that decodes to an API path but is no origin-form target used to make the
# upstream URL http://API%2Fapi%2F@127.0.0.1:PORT/anything: libcurl took the API's address as
# userinfo and sent the request (and the caller's X-API-Key) to PORT. It must reach nothing.
for tgt in "%2Fapi%2F@127.0.0.1:$RAW_PORT/anything" "%2fapi%2f@127.0.0.1:$RAW_PORT/anything" \
    "%2Fhealth%2F@127.0.0.1:$RAW_PORT/" "%2Fmetrics%2F@127.0.0.1:$RAW_PORT/" \
    "%2Fapi%2F@127.0.0.1:$RAW_PORT/x?y=%2F" "@127.0.0.1:$RAW_PORT/api/x" \
    "http://127.0.0.1:$RAW_PORT/api/x" "/api%2F@127.0.0.1:$RAW_PORT/x" \
    "//127.0.0.1:$RAW_PORT/api/x"; do
    for m in GET POST; do
        body=""
        [ "$m" = POST ] && body='Content-Length: 2\r\n\r\n{}' || body='\r\n'
        printf '%s %s HTTP/1.1\r\nHost: x\r\nX-API-Key: victim-key\r\nConnection: close\r\n%b' "$m" "$tgt" "$body" |
            raw_http "$PORT_B" "$T/ssrf.out"
        code=$(status_of "$T/ssrf.out")
        # (a static path refuses a body with 413 before looking for the file)
        check "$m $tgt refused: 400 or 404 ($code)" bash -c "[ '$code' = 400 ] || [ '$code' = 404 ] || [ '$m $code' = 'POST 413' ]"
    done
done
check_eq "the listener saw no connection from the proxy" 1 "$(conns)"

# A dashboard whose API is the raw listener: what exactly goes upstream.
LOG_LEVEL=info serve dash_raw "http://127.0.0.1:$RAW_PORT"
R=$SERVED_PORT
req_file() { echo "$T/raw/req-$(conns).raw"; }
decode() { node "$DM_SOURCE_DIR/tests/lib/raw_upstream.mjs" --decode "$(req_file)"; }
# Item 6: /metrics is not reachable anonymously through the dashboard.
before=$(conns)
check_eq "anonymous /metrics through the dashboard -> 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$R/metrics")"
check_eq "anonymous /metrics reached nothing upstream" "$before" "$(conns)"
check_eq "/metrics with an API key goes upstream" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: k' "http://127.0.0.1:$R/metrics")"
check_eq "(it reached the listener)" $((before + 1)) "$(conns)"

# Item 14: a chunked body is forwarded with its real length, never the client's
# Content-Length beside it (the body was decoded: the API would read a different body).
body300=$(head -c 300 /dev/zero | tr '\0' 'x')
chunked_req() { # chunked_req CONTENT_LENGTH_LINE
    printf 'POST /api/upload HTTP/1.1\r\nHost: x\r\n%bTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n12c\r\n%s\r\n0\r\n\r\n' "$1" "$body300"
}
chunked_req 'Content-Length: 5\r\n' | raw_http "$R" "$T/cl.out"
check_eq "chunked body with a Content-Length beside it: proxied" 200 "$(status_of "$T/cl.out")"
decode >"$T/cl.json"
check_eq "upstream got the whole decoded body (300 bytes)" 300 "$(jq .bodyBytes "$T/cl.json")"
check_eq "upstream got no Content-Length but the real framing" "0 true" \
    "$(jq -r '"\([.headers[] | select(.[0] | ascii_downcase == "content-length")] | length) \(.chunked)"' "$T/cl.json")"
chunked_req 'Content-Length: 0\r\n' | raw_http "$R" "$T/cl0.out"
check_eq "chunked body with Content-Length: 0 beside it: proxied (the dashboard used to crash)" 200 "$(status_of "$T/cl0.out")"
check_eq "upstream got the whole decoded body (300 bytes)" 300 "$(decode | jq .bodyBytes)"
check "the dashboard is still up" kill -0 "$PID_dash_raw"

# Item 14: a header value with a bare CR is dropped, never forwarded (the API could read it as
# a line break); the other headers go on.
printf 'GET /api/x HTTP/1.1\r\nHost: x\r\nX-Good: kept\r\nX-Evil: a\rX-Injected: 1\r\nConnection: close\r\n\r\n' |
    raw_http "$R" "$T/cr.out"
check_eq "request with a bare CR in a header value: proxied" 200 "$(status_of "$T/cr.out")"
decode >"$T/cr.json"
check_eq "the other headers were forwarded (precondition)" kept "$(jq -r '.headers[] | select(.[0] == "X-Good") | .[1]' "$T/cr.json")"
check_eq "the header with the bare CR was dropped" "" "$(jq -r '.headers[] | select(.[0] | test("evil|injected"; "i")) | .[0]' "$T/cr.json")"
check "no CR reached the API inside a header" bash -c "! grep -qP '\r.' '$(req_file)'"

# Item 15: a target with bytes that are not UTF-8 is logged escaped, never dropped.
printf 'GET /api/caf\xe9-%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$$" | raw_http "$R" "$T/utf.out"
check_eq "a raw non-ASCII target is refused" 400 "$(status_of "$T/utf.out")"
logged() { grep -F "caf\\\\xe9-$$" "$T/dash_raw.log" | jq -e . >/dev/null; }
check "its log line is valid JSON and shows the target escaped" wait_until 10 logged

# --- graceful stop, even with a response still streaming from a slow API
curl -sN "$B/api/hold" >"$T/hold2.out" &
hold2=$!
first_chunk2() { grep -q first-chunk "$T/hold2.out"; }
wait_until 20 first_chunk2
kill -TERM "$PID_dash"
gone() { ! kill -0 "$PID_dash" 2>/dev/null; }
check "SIGTERM stops the dashboard promptly with a response in flight" wait_until 10 gone
rc=0; wait "$PID_dash" || rc=$?
check_eq "SIGTERM stops the dashboard cleanly" 0 "$rc"
wait "$hold2" || true
curl -s "http://127.0.0.1:$UP_PORT/release" >/dev/null
"$DIAMOND" dashboard --help >"$T/help.txt"
check "--help names PORT and API_URL" bash -c "grep -q PORT '$T/help.txt' && grep -q API_URL '$T/help.txt'"
finish
