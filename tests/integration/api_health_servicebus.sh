#!/usr/bin/env bash
# api_health_servicebus.sh - /health and /metrics with the Service Bus queue backend: a namespace
# that answers 401 to the queue-description read (the API's Send/Listen policy lacks Manage) is
# up, not down; a namespace that does not answer at all is down (503, queue "down").
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db api_health_sb
SB_PORT=$(free_port)
# A Service Bus double: every request is logged and answered 401 as Service Bus does for a SAS
# policy without the needed right.
cat >"$T/sb401.mjs" <<'JS'
import http from 'node:http';
import fs from 'node:fs';
const [port, log] = process.argv.slice(2);
http.createServer((req, res) => {
  fs.appendFileSync(log, `${req.method} ${req.url} ${(req.headers.authorization || 'none').split(' ')[0]}\n`);
  res.writeHead(401, { 'Content-Type': 'application/xml' });
  res.end('<Error><Code>401</Code><Detail>Manage,EntityRead claims required for this operation.</Detail></Error>');
}).listen(Number(port), '127.0.0.1', () => fs.appendFileSync(log, 'listening\n'));
JS
: >"$T/sb.requests"
spawn sb node "$T/sb401.mjs" "$SB_PORT" "$T/sb.requests"
wait_until 20 grep -q listening "$T/sb.requests"

start_api api HMAC_SECRETS='{}' METRICS_REQUIRE_AUTH=false METRICS_CACHE_MS=0 QUEUE_BACKEND=servicebus \
    AZURE_SERVICE_BUS_CONNECTION_STRING="Endpoint=http://127.0.0.1:$SB_PORT/;SharedAccessKeyName=api;SharedAccessKey=c2VjcmV0"
req GET /health
check_eq "401 on queue stats: /health 200" 200 "$STATUS"
check_eq "queue reported ok" ok "$(jqb .queue)"
req GET /metrics
check "/metrics: diamond_queue_up 1" grep -qx "diamond_queue_up 1" "$T/body"
check "/metrics: no depth figures it could not read" bash -c "! grep -q '^diamond_queue_depth{' '$T/body'"
check "the double was asked for the work-items description" grep -q "^GET /work-items" "$T/sb.requests"
check "the request was signed (SharedAccessSignature)" grep -q "^GET /work-items.* SharedAccessSignature$" "$T/sb.requests"

# The namespace goes away: down.
kill -TERM "$PID_sb"
wait "$PID_sb" 2>/dev/null || true
req GET /health
check_eq "unreachable Service Bus: /health 503" 503 "$STATUS"
check_eq "queue reported down" down "$(jqb .queue)"
check_eq "database still ok" ok "$(jqb .database)"
req GET /metrics
check "/metrics: diamond_queue_up 0" grep -qx "diamond_queue_up 0" "$T/body"
finish
