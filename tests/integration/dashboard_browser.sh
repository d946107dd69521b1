#!/usr/bin/env bash
# dashboard_browser.sh - the operator dashboard in headless Chromium (playwright-core) against a
# real stack: private PostgreSQL, feed simulator, worker, consolidator, API and dashboard, with
# one completed full run. The browser part (tests/browser/dashboard.mjs) logs in (a wrong key is
# refused), compares the overview with the API, opens the run and its partitions, searches
# diamonds by shape and carat and opens one, creates a pricing rule, reprices and sees prices
# change, triggers an incremental run and watches it complete, and checks that a 401 returns to
# the login page, with no console errors. Screenshots: $DM_BUILD_DIR/test-output/screenshots/.
# Afterwards the database is checked for the rule, the repriced stones and the second run.
. "$DM_SOURCE_DIR/tests/lib/common.sh"

if [ ! -x /usr/bin/chromium ] || [ ! -d "$DM_SOURCE_DIR/node_modules/playwright-core" ]; then
    echo "FAIL - needs /usr/bin/chromium and npm's playwright-core (run scripts/install-deps)"
    exit 1
fi

new_db dashboard_browser
OUT=${DM_BUILD_DIR:-$T}/test-output/screenshots
rm -rf "$OUT"
mkdir -p "$OUT"

# Ports come from free_port, which other tests running at the same time can race for: a
# service that cannot bind exits, and is started again on another port.
# serve NAME PATH CMD... : run CMD with PORT set until http://127.0.0.1:PORT/PATH answers;
# sets SERVED_PORT.
serve() {
    local name=$1 path=$2; shift 2
    for attempt in 1 2 3 4 5; do
        SERVED_PORT=$(free_port)
        spawn "$name" env PORT="$SERVED_PORT" "$@"
        local pid=${DM_PIDS[-1]} end=$((SECONDS + 30))
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do
            if curl -fsS -o /dev/null "http://127.0.0.1:$SERVED_PORT/$path" 2>/dev/null; then return 0; fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        echo "note: $name did not come up on port $SERVED_PORT (attempt $attempt)"
    done
    return 1
}

KEY=$("$DIAMOND" apikey create --name dashboard-operator --permissions read,trade,admin 2>/dev/null | tail -n 1)
check "operator API key created" test -n "$KEY"

# The simulator takes an ephemeral port and says which.
spawn feedsim "$DIAMOND" feed-sim --port 0 --count 1500 --seed 7
feed_url() { grep -o 'http://127.0.0.1:[0-9]*/graphql' "$T/feedsim.log" | head -n 1; }
wait_until 30 feed_url
export NIVODA_ENDPOINT NIVODA_USERNAME=sim NIVODA_PASSWORD=sim
NIVODA_ENDPOINT=$(feed_url)
FEEDSIM=${NIVODA_ENDPOINT%/graphql}
export WATERMARK_DIR="$T/watermarks"
spawn worker "$DIAMOND" worker
spawn consolidator "$DIAMOND" consolidator
serve api health "$DIAMOND" api
API_PORT=$SERVED_PORT
# The dashboard process gets no database or key: it only serves files and proxies.
serve dashboard "" env -u DATABASE_URL API_URL="http://127.0.0.1:$API_PORT" "$DIAMOND" dashboard --bind 127.0.0.1
DASH_PORT=$SERVED_PORT

# One completed full run before the browser looks.
"$DIAMOND" scheduler --full >"$T/scheduler.log" 2>&1
RUN_ID=$(psql_q "SELECT run_id FROM run_metadata ORDER BY started_at DESC LIMIT 1")
check "full run planned" test -n "$RUN_ID"
wait_until 180 run_completed "$RUN_ID"
check "full run completed" run_completed "$RUN_ID"
ACTIVE=$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active'")
check "catalogue filled by the run" test "$ACTIVE" -gt 0

browser_rc=0
BASE="http://127.0.0.1:$DASH_PORT" API="http://127.0.0.1:$API_PORT" KEY="$KEY" RUN_ID="$RUN_ID" \
    FEEDSIM="$FEEDSIM" OUT="$OUT" \
    node "$DM_SOURCE_DIR/tests/browser/dashboard.mjs" >"$T/browser.log" 2>&1 || browser_rc=$?
cat "$T/browser.log"
check_eq "browser test passed" 0 "$browser_rc"

# What the browser did, as the database sees it.
check_eq "pricing rule stored as edited, then deactivated" "5|1.6000|{ROUND}|f" \
    "$(psql_q "SELECT priority, markup_ratio, shapes, active FROM pricing_rules WHERE name = 'Browser test rounds'")"
check_eq "every round of the full run repriced by the new rule (x 1.5, before the edit)" 0 \
    "$(psql_q "SELECT count(*) FROM diamonds d JOIN pricing_rules r ON r.name = 'Browser test rounds'
               WHERE d.status = 'active' AND d.shape = 'ROUND' AND d.last_run_id = '$RUN_ID'
                 AND (d.pricing_rule_id IS DISTINCT FROM r.id OR d.retail_price <> round(d.feed_price * 1.5, 2))")"
check "the full run's rounds are there to check" test "$(psql_q "SELECT count(*) FROM diamonds WHERE shape = 'ROUND' AND last_run_id = '$RUN_ID'")" -gt 100
check_eq "the slow full run was cancelled from its page" 1 \
    "$(psql_q "SELECT count(*) FROM run_metadata WHERE run_type = 'full' AND cancelled_at IS NOT NULL")"
check_eq "the triggered incremental run completed" 1 \
    "$(psql_q "SELECT count(*) FROM run_metadata WHERE run_type = 'incremental' AND completed_at IS NOT NULL")"
for page in 01-login-refused 02-overview 03-runs 04-run-detail 05-diamonds 06-diamond-drawer \
    07-pricing-rule-form 08-pricing-rules 09-triggers 10-session-ended 11-cancel-confirm; do
    check "screenshot $page saved" test -s "$OUT/$page.png"
done
check "dashboard log has no errors" bash -c "! grep -q '\"level\":\"error\"' '$T/dashboard.log'"
finish
