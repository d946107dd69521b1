#!/usr/bin/env bash
# file_snapshot_gaps.sh - two file-snapshot rules the batches alone could not keep (issue 18),
# with a file feed read from file:// by the real worker and consolidator on a real PostgreSQL:
#   1. a stock id repeated in a later batch of the file (rows 1,000 apart) is a bad row: a
#      row_refused event naming the line it was first seen on, counted in snapshot_read, and the
#      first row's stone is what the catalogue holds (it used to be overwritten silently);
#   2. a snapshot refused by the shrink guard leaves nothing half-applied: the rows it wrote
#      (changed prices, a new stone) are withheld, and a forced consolidation of the refused run
#      afterwards changes nothing in `diamonds`;
#   3. the same file accepted later (FEED_ACME_MAX_SHRINK=1) is consolidated in full: withheld
#      rows of identical content are written again, not left marked.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"

new_db file_snapshot_gaps
export FEEDS=acme FEED_ACME_TYPE=file FEED_ACME_URL="file://$T/inventory.csv"
"$DIAMOND" migrate >/dev/null # raw_diamonds_acme
spawn cons "$DIAMOND" consolidator

# gen OUT N [PRICE_FACTOR] [EXTRA...]: a CSV of stones S00000..S<N-1> (unique certificates),
# prices times PRICE_FACTOR; each EXTRA "ID:PRICE" appends a row for stone ID at PRICE.
gen() {
    python3 - "$@" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
factor = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
with open(out + ".tmp", "w", newline="") as f:
    f.write("Stock #,Shape,Weight,Color,Clarity,Lab,Certificate #,Total Price\r\n")
    for i in range(n):
        f.write(f"S{i:05d},Round,{1 + i % 300 / 100:.2f},G,VS1,GIA,{7000000000 + i},"
                f"{(1000 + i) * factor:.2f}\r\n")
    for extra in sys.argv[4:]:
        sid, price = extra.split(":")
        i = int(sid[1:]) if sid[1:].isdigit() else 0
        f.write(f"{sid},Round,{1 + i % 300 / 100:.2f},G,VS1,GIA,{7000000000 + i},{price}\r\n")
import os
os.replace(out + ".tmp", out)
PY
}
run_once() {
    "$DIAMOND" scheduler --feed acme --full >/dev/null
    psql_q "SELECT run_id FROM run_metadata WHERE feed = 'acme' ORDER BY started_at DESC LIMIT 1"
}
completed() { [ "$(psql_q "SELECT completed_at IS NOT NULL FROM run_metadata WHERE run_id = '$1'")" = t ]; }
consolidated() { [ "$(psql_q "SELECT consolidation_completed_at IS NOT NULL FROM run_metadata WHERE run_id = '$1'")" = t ]; }
failed() { [ "$(psql_q "SELECT bool_or(failed) FROM partition_progress WHERE run_id = '$1'")" = t ]; }
event() { psql_q "SELECT detail->>'$3' FROM run_events WHERE run_id = '$1' AND event = '$2'"; }
catalogue() { psql_q "SELECT count(*) || ':' || md5(string_agg(supplier_stone_id || status || feed_price || retail_price || availability || chosen, ',' ORDER BY supplier_stone_id)) FROM diamonds WHERE feed = 'acme'"; }
price() { psql_q "SELECT feed_price FROM diamonds WHERE feed = 'acme' AND supplier_stone_id = '$1' AND status = 'active'"; }

# --- 1. a stock id repeated 2,500 rows later ---------------------------------------------------
# S00010 is on line 12 (the header is line 1); its repeat, at another price, is the last row,
# line 3002: three batches of 1,000 rows later.
gen "$T/inventory.csv" 3000 1 S00010:99999.00
start_worker w1 LOG_LEVEL=info
run1=$(run_once)
wait_until 120 completed "$run1"
check "precondition: the file was written in several batches" [ "$(psql_q "SELECT pages FROM partition_progress WHERE run_id = '$run1'")" -ge 3 ]
check_eq "the repeat is one row_refused event: its line, stock id and the first line" \
    "3002|S00010|duplicate stock id, first seen on line 12" \
    "$(psql_q "SELECT string_agg(concat_ws('|', detail->>'line', detail->>'stockId', detail->>'reason'), ';') FROM run_events WHERE run_id = '$run1' AND event = 'row_refused'")"
check_eq "counted as a bad row in snapshot_read" 1 "$(event "$run1" snapshot_read badRows)"
check_eq "3,000 stones read, every one stored once" "3000 3000" \
    "$(psql_q "SELECT records || ' ' || (SELECT count(*) FROM raw_diamonds_acme WHERE last_seen_run_id = '$run1') FROM partition_progress WHERE run_id = '$run1'")"
check_eq "the first row's stone is in the catalogue, not the repeat's" 1010.00 "$(price S00010)"
check "the stock-id set's size is reported" [ "$(event "$run1" snapshot_read stockIdSetBytes)" -gt 0 ]
check_eq "the catalogue holds the file's stones" 3000 "$(psql_q "SELECT count(*) FROM diamonds WHERE feed = 'acme' AND status = 'active'")"

# --- 2. a shrink-refused snapshot, then a forced consolidation --------------------------------
cat_before=$(catalogue)
# A tenth of the stones at twice their price, and a stone the catalogue does not have.
gen "$T/inventory.csv" 300 2 S09999:5000.00
run2=$(run_once)
wait_until 120 failed "$run2"
check "the run was refused by the shrink guard" bash -c "psql -qAt '$DATABASE_URL' -c \"SELECT last_error FROM partition_progress WHERE run_id = '$run2'\" | grep -q 'shrink guard'"
check_eq "precondition: the refused run wrote its changed and new rows (301)" 301 \
    "$(psql_q "SELECT count(*) FROM raw_diamonds_acme WHERE run_id = '$run2'")"
check_eq "none of them is left pending" 0 \
    "$(psql_q "SELECT count(*) FROM raw_diamonds_acme WHERE consolidation_status = 'pending'")"
check_eq "snapshot_refused counts them as withheld" 301 "$(event "$run2" snapshot_refused withheld)"
"$DIAMOND" consolidate "$run2" --force >/dev/null
wait_until 120 consolidated "$run2"
check_eq "the forced consolidation claimed nothing" 0 "$(psql_q "SELECT stats_new + stats_changed FROM run_metadata WHERE run_id = '$run2'")"
check_eq "diamonds unchanged by the refused snapshot" "$cat_before" "$(catalogue)"
check_eq "the new stone of the refused file is not in the catalogue" 0 "$(psql_q "SELECT count(*) FROM diamonds WHERE supplier_stone_id = 'S09999'")"

# --- 3. the same file accepted: every row of it consolidated ----------------------------------
kill -TERM "$PID_w1"; wait "$PID_w1" || true
start_worker w2 FEED_ACME_MAX_SHRINK=1
run3=$(run_once)
wait_until 120 consolidated "$run3"
check_eq "the accepted snapshot's changed stones are consolidated" "2000.00 2020.00" "$(price S00000) $(price S00010)"
check_eq "and its new stone" 5000.00 "$(price S09999)"
check_eq "the catalogue holds exactly the file's stones" 301 "$(psql_q "SELECT count(*) FROM diamonds WHERE feed = 'acme' AND status = 'active'")"
check_eq "no raw row left withheld or pending" 0 "$(psql_q "SELECT count(*) FROM raw_diamonds_acme WHERE last_seen_run_id = '$run3' AND consolidation_status <> 'done'")"
finish
