#!/usr/bin/env bash
# dashboard_connections.sh - slow and idle connections cannot take the dashboard down (issue 15
# item 4): 300 idle connections from one address (127.0.0.2) keep at most 64 open (the others
# are closed), another connection from that address is refused, and meanwhile requests from
# another address get their page at once. (Thread per connection stopped at 256 idle sockets.)
. "$DM_SOURCE_DIR/tests/lib/common.sh"

PORT_D=$(free_port)
spawn dash env PORT="$PORT_D" API_URL="http://127.0.0.1:9" "$DIAMOND" dashboard --bind 127.0.0.1
wait_until 20 curl -sf -o /dev/null "http://127.0.0.1:$PORT_D/"
spawn idle python3 "$DM_SOURCE_DIR/tests/lib/idle_connections.py" "$PORT_D" 300 236
wait_until 40 test -s "$T/idle.log"
read -r kept opened <"$T/idle.log"
check_eq "300 idle connections were opened" 300 "$opened"
check_eq "one address keeps at most 64 of them" 64 "$kept"
check "another connection from that address is refused" \
    sh -c "! curl -s -m 5 --interface 127.0.0.2 -o /dev/null 'http://127.0.0.1:$PORT_D/'"
for i in 1 2 3; do
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT_D/")
    check_eq "meanwhile another address gets the page ($i)" 200 "$code"
done
check "the dashboard is still up" kill -0 "$PID_dash"
kill "$PID_idle"
finish
