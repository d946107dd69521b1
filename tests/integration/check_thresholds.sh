#!/usr/bin/env bash
# check_thresholds.sh - `diamond check` against real state: each of the seed's five thresholds
# is pushed just over (and just under) its limit by writing rows / the watermark file, and the
# command must report BREACH for that one threshold, exit 1 and send one alert e-mail (to a
# local Resend double) per breach; with everything healthy it prints five OKs and exits 0.
. "$DM_SOURCE_DIR/tests/lib/common.sh"

new_db check
export WATERMARK_DIR=$T/wm
mkdir -p "$WATERMARK_DIR"

# A local Resend double: records each POST /emails body as one line in $T/mail.log.
MAIL_PORT=$(free_port)
cat >"$T/resend.js" <<'JS'
const http = require('http');
const fs = require('fs');
const [port, log] = process.argv.slice(2);
http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/emails') {
      fs.appendFileSync(log, JSON.stringify(JSON.parse(body)) + '\n');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id":"test"}');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
}).listen(Number(port), '127.0.0.1');
JS
spawn resend node "$T/resend.js" "$MAIL_PORT" "$T/mail.log"
wait_until 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MAIL_PORT"
export RESEND_API_KEY=re_test_key RESEND_ENDPOINT="http://127.0.0.1:$MAIL_PORT"
export ALERT_EMAIL_TO=alerts@example.com ALERT_EMAIL_FROM=noreply@example.com

iso() { date -u -d "$1" +%Y-%m-%dT%H:%M:%S.000Z; }
RUN=$(psql_q "INSERT INTO run_metadata (run_type, updated_from, updated_to, expected_workers)
              VALUES ('full', '2000-01-01', now(), 1) RETURNING run_id")
psql_q "INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, estimated_records)
        VALUES ('$RUN', 'p0', 0, 1000, 100)" >/dev/null
set_watermark() { # AGE (date -d expression, e.g. "-1 hour")
    printf '{"lastUpdatedAt":"%s","lastRunId":"%s","lastRunCompletedAt":"%s"}' \
        "$(iso "$1")" "$RUN" "$(iso "$1")" >"$WATERMARK_DIR/watermark.json"
}

# run_check NAME: runs `diamond check`, output in $T/NAME.out, exit status in $RC, mails sent
# by this run in $MAILS (lines of $T/mail.log added).
run_check() {
    local before=0
    [ -f "$T/mail.log" ] && before=$(wc -l <"$T/mail.log")
    RC=0
    "$DIAMOND" check "${@:2}" >"$T/$1.out" 2>"$T/$1.err" || RC=$?
    MAILS=$(tail -n +$((before + 1)) "$T/mail.log" 2>/dev/null || true)
}
state_of() { # STATE of the row whose metric starts with $2 in output $1
    awk -v m="$2" 'index($0, m) == 1 { for (i = 1; i <= NF; i++) if ($i == "OK" || $i == "BREACH" || $i == "UNKNOWN") { print $i; exit } }' "$T/$1.out"
}
breaches() { grep -cE ' BREACH ' "$T/$1.out" || true; }

# --- no watermark yet: only the watermark is breached -------------------------------------
run_check fresh
check_eq "fresh: exit 1" 1 "$RC"
check_eq "fresh: watermark breached (never written)" BREACH "$(state_of fresh 'Watermark age')"
check "fresh: says never written" grep -q "never written" "$T/fresh.out"
check_eq "fresh: one breach" 1 "$(breaches fresh)"

# --- all healthy ---------------------------------------------------------------------------
set_watermark "-1 hour"
psql_q "UPDATE partition_progress SET pages = 95, page_errors = 5, updated_at = now()" >/dev/null
psql_q "INSERT INTO api_request_stats (minute, status_class, count) VALUES
        (date_trunc('minute', now()), '2xx', 990), (date_trunc('minute', now()), '5xx', 10),
        (date_trunc('minute', now()) - interval '25 hours', '5xx', 500)" >/dev/null
psql_q "UPDATE run_metadata SET consolidation_failures = 1, consolidation_failed_at = now()" >/dev/null
run_check healthy
check_eq "healthy: exit 0" 0 "$RC"
check_eq "healthy: five OK lines" 5 "$(grep -cE ' OK ' "$T/healthy.out")"
check "healthy: worker error rate at exactly 5% is OK" grep -q "5.00% (5 failed of 100" "$T/healthy.out"
check "healthy: API 5xx at exactly 1% is OK (rows older than 24 h ignored)" \
    grep -q "1.00% (10 5xx of 1000" "$T/healthy.out"
check "healthy: one consolidator failure per day is OK" grep -qE "Consolidator failures .* OK +1 in 24 h" "$T/healthy.out"
check_eq "healthy: no alert sent" "" "$MAILS"

# --- 1. dead letters > 0 -------------------------------------------------------------------
psql_q "INSERT INTO queue_dead_letters (seq, queue, message_id, body, enqueued_at, delivery_count, reason)
        VALUES (987654, 'work-items', 'dlq-test', convert_to('{}', 'UTF8'), now(), 5, 'test')" >/dev/null
run_check dlq
check_eq "dead letter: exit 1" 1 "$RC"
check_eq "dead letter: breached" BREACH "$(state_of dlq 'Dead letter queue count')"
check "dead letter: value names the queue" grep -q "1 (work-items 1" "$T/dlq.out"
check_eq "dead letter: only this threshold" 1 "$(breaches dlq)"
check "dead letter: one alert e-mail with the prefix" \
    test "$(echo "$MAILS" | grep -c '"subject":"\[Diamond Platform\] Monitoring: Dead letter queue count')" = 1
check "dead letter: e-mail goes to ALERT_EMAIL_TO" bash -c "echo '$MAILS' | grep -q alerts@example.com"
run_check dlq_quiet --no-alerts
check_eq "dead letter --no-alerts: still exit 1" 1 "$RC"
check_eq "dead letter --no-alerts: no e-mail" "" "$MAILS"
run_check dlq_json --json --no-alerts
check "dead letter --json: JSON names the breach" \
    node -e "const o=JSON.parse(require('fs').readFileSync('$T/dlq_json.out','utf8'));
             const c=o.checks.find(x=>x.name==='dead_letters');
             process.exit(!o.ok && c.state==='BREACH' && c.value===1 ? 0 : 1)"
psql_q "DELETE FROM queue_dead_letters" >/dev/null

# --- 2. worker error rate > 5 % -------------------------------------------------------------
psql_q "UPDATE partition_progress SET pages = 90, page_errors = 10, updated_at = now()" >/dev/null
run_check workers
check_eq "worker errors: exit 1" 1 "$RC"
check_eq "worker errors: breached" BREACH "$(state_of workers 'Worker error rate')"
check "worker errors: value 10.00%" grep -q "10.00% (10 failed of 100" "$T/workers.out"
check_eq "worker errors: only this threshold" 1 "$(breaches workers)"
check "worker errors: one alert e-mail" \
    test "$(echo "$MAILS" | grep -c 'Monitoring: Worker error rate')" = 1
# Outside the 24 h window the same counts no longer count.
psql_q "UPDATE partition_progress SET updated_at = now() - interval '25 hours'" >/dev/null
run_check workers_old
check_eq "worker errors older than 24 h: OK" OK "$(state_of workers_old 'Worker error rate')"
psql_q "UPDATE partition_progress SET pages = 95, page_errors = 5, updated_at = now()" >/dev/null

# --- 3. consolidator failures > 1 per day ---------------------------------------------------
psql_q "UPDATE run_metadata SET consolidation_failures = 2, consolidation_failed_at = now()" >/dev/null
run_check consol
check_eq "consolidator: exit 1" 1 "$RC"
check_eq "consolidator: breached" BREACH "$(state_of consol 'Consolidator failures')"
check_eq "consolidator: only this threshold" 1 "$(breaches consol)"
psql_q "UPDATE run_metadata SET consolidation_failed_at = now() - interval '25 hours'" >/dev/null
run_check consol_old
check_eq "consolidator failures older than a day: OK" OK "$(state_of consol_old 'Consolidator failures')"

# --- 4. API 5xx > 1 % -----------------------------------------------------------------------
psql_q "UPDATE api_request_stats SET count = 11 WHERE status_class = '5xx' AND minute > now() - interval '1 hour'" >/dev/null
run_check api
check_eq "api 5xx: exit 1" 1 "$RC"
check_eq "api 5xx: breached" BREACH "$(state_of api 'API 5xx errors')"
check_eq "api 5xx: only this threshold" 1 "$(breaches api)"
psql_q "UPDATE api_request_stats SET count = 10 WHERE status_class = '5xx' AND minute > now() - interval '1 hour'" >/dev/null

# --- 5. watermark age > 48 h ----------------------------------------------------------------
set_watermark "-49 hours"
run_check wm
check_eq "watermark: exit 1" 1 "$RC"
check_eq "watermark: breached" BREACH "$(state_of wm 'Watermark age')"
check "watermark: age about 49 h" grep -qE "Watermark age .* (49\.0|48\.9|49\.1) h" "$T/wm.out"
check "watermark: one alert e-mail" test "$(echo "$MAILS" | grep -c 'Monitoring: Watermark age')" = 1
set_watermark "-47 hours"
run_check wm_ok
check_eq "watermark 47 h: OK" OK "$(state_of wm_ok 'Watermark age')"

# --- everything healthy again ----------------------------------------------------------------
run_check final
check_eq "restored: exit 0" 0 "$RC"
check_eq "restored: no breach" 0 "$(breaches final)"

# --- the database down: the check cannot measure, says so, exits non-zero --------------------
DATABASE_URL="postgresql://postgres@127.0.0.1:$(free_port)/nowhere" run_check down
check "database down: exit non-zero" test "$RC" -ne 0
finish
