#!/usr/bin/env bash
# file_ingest.sh - a file feed end to end (issue 18): `diamond feed-sim --format csv` as the
# supplier, FEEDS=acme with FEED_ACME_TYPE=file, the real scheduler, worker and consolidator on
# a real PostgreSQL. Checked in the database against what the simulator says its file holds
# (GET /admin/file: rows, bad-row lines, lines of the shapes the catalogue does not carry):
#   1. a snapshot with bad rows: raw_diamonds_acme and the catalogue hold exactly the good
#      stones; progress (records, next_offset) exact; each bad row a row_refused event with its
#      line, the first 1000 only, the total in snapshot_read; not-carried shapes counted apart;
#   2. the file unchanged: one conditional request answered 304, the run completes with 0
#      changes, nothing rewritten, nothing removed;
#   3. churn: changed stones updated, stones gone from the file removed from the catalogue;
#   4. a truncated download: the run fails with the reason, an alert, the catalogue intact;
#   5. the shrink guard: a file of a tenth of the stones is refused, alert, catalogue intact;
#   6. a worker killed mid-file: the redelivery completes the run with exact counts and no
#      bad row reported twice.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/ingest.sh"

new_db file_ingest
start_sim --format csv --seed 41 --count 3000 --malformed-rate 0.4
export FEEDS=acme FEED_ACME_TYPE=file FEED_ACME_URL="$SIM/inventory.csv"
"$DIAMOND" migrate >/dev/null # raw_diamonds_acme
start_worker w1 LOG_LEVEL=info
spawn cons "$DIAMOND" consolidator

# expect: what the simulator's current file must give, as shell variables.
cat >"$T/expect.py" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
rows = f["rows"]
bad = {b["line"]: b["kind"] for b in f["bad_rows"]}
other = set(f["other_shape_lines"])
# The mapper checks the shape before weight and price: a bad weight or price on a shape the
# catalogue does not carry is "not carried"; a structure error (fields missing) is a bad row.
reported = sorted(l for l, k in bad.items() if not (l in other and k != "structure"))
not_carried = sorted(l for l in other if bad.get(l) != "structure")
stones = rows - len(set(bad) | other)
print(f"ROWS={rows} STONES={stones} BAD={len(reported)} NC={len(not_carried)}")
print("FIRST1000=" + ",".join(map(str, reported[:1000])))
PY
expect() { curl -fsS "$SIM/admin/file" >"$T/file.json"; eval "$(python3 "$T/expect.py" "$T/file.json")"; }

run_once() { # run_once: plan a full run of feed acme, print its id
    "$DIAMOND" scheduler --feed acme --full >/dev/null
    psql_q "SELECT run_id FROM run_metadata WHERE feed = 'acme' ORDER BY started_at DESC LIMIT 1"
}
completed() { [ "$(psql_q "SELECT completed_at IS NOT NULL FROM run_metadata WHERE run_id = '$1'")" = t ]; }
failed() { [ "$(psql_q "SELECT bool_or(failed) FROM partition_progress WHERE run_id = '$1'")" = t ]; }
active() { psql_q "SELECT count(*) FROM diamonds WHERE feed = 'acme' AND status = 'active'"; }
event() { psql_q "SELECT detail->>'$3' FROM run_events WHERE run_id = '$1' AND event = '$2'"; }
catalogue() { psql_q "SELECT md5(string_agg(supplier_stone_id || status || feed_price || availability, ',' ORDER BY supplier_stone_id)) FROM diamonds WHERE feed = 'acme'"; }

# --- 1. the first snapshot ---------------------------------------------------------------------
expect
check "the file has more than 1000 bad rows (the cap is exercised)" [ "$BAD" -gt 1000 ]
check "and rows of shapes the catalogue does not carry" [ "$NC" -gt 0 ]
run1=$(run_once)
check_eq "one partition for a file feed's run" 1 "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run1'")"
wait_until 120 completed "$run1"
check_eq "raw_diamonds_acme holds the good stones" "$STONES" "$(psql_q "SELECT count(*) FROM raw_diamonds_acme WHERE last_seen_run_id = '$run1'")"
check_eq "the catalogue holds them" "$STONES" "$(active)"
check_eq "partition records = stones" "$STONES" "$(psql_q "SELECT records FROM partition_progress WHERE run_id = '$run1'")"
check_eq "partition next_offset = rows read" "$ROWS" "$(psql_q "SELECT next_offset FROM partition_progress WHERE run_id = '$run1'")"
check "progress was written in batches" [ "$(psql_q "SELECT pages FROM partition_progress WHERE run_id = '$run1'")" -ge 3 ]
check_eq "the first 1000 bad rows reported with their line numbers" "$FIRST1000" \
    "$(psql_q "SELECT string_agg(detail->>'line', ',' ORDER BY (detail->>'line')::int) FROM run_events WHERE run_id = '$run1' AND event = 'row_refused'")"
check_eq "each with its stock id and a reason" 0 "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$run1' AND event = 'row_refused' AND (detail->>'stockId' = '' OR detail->>'reason' IS NULL)")"
check_eq "the total of bad rows in snapshot_read" "$BAD" "$(event "$run1" snapshot_read badRows)"
check_eq "not-carried shapes counted apart" "$NC" "$(event "$run1" snapshot_read notCarried)"
check_eq "a weight refused names the field" 1 "$(psql_q "SELECT count(*) > 0 FROM run_events WHERE run_id = '$run1' AND event = 'row_refused' AND detail->>'reason' LIKE 'carats (column \"Weight\")%'" | tr tf 10)"
check_eq "the file's validators recorded" "$(jq -r .etag "$T/file.json")" "$(psql_q "SELECT etag FROM file_snapshots WHERE feed = 'acme'")"
check_eq "the consolidation of run 1 added every stone" "$STONES" "$(psql_q "SELECT stats_new FROM run_metadata WHERE run_id = '$run1'")"
# A stone's catalogue row carries the file's price (Total Price, dollars).
stock=$(psql_q "SELECT supplier_stone_id FROM diamonds WHERE feed = 'acme' ORDER BY supplier_stone_id LIMIT 1")
curl -fsS "$SIM/inventory.csv" >"$T/file1.csv"
want_price=$(python3 -c "import csv,sys; print(next(r['Total Price'] for r in csv.DictReader(open('$T/file1.csv', newline='')) if r['Stock #'] == '$stock'))")
check_eq "a stone's feed price is the file's Total Price" "$want_price" "$(psql_q "SELECT feed_price FROM diamonds WHERE feed = 'acme' AND supplier_stone_id = '$stock'")"

# --- 2. unchanged file: one request, 304, zero changes -----------------------------------------
files_before=$(sim_stat .operations.file)
nm_before=$(sim_stat .operations.file_not_modified)
raw_before=$(psql_q "SELECT md5(string_agg(id::text || updated_at::text, ',' ORDER BY id)) FROM raw_diamonds_acme")
cat_before=$(catalogue)
run2=$(run_once)
wait_until 120 completed "$run2"
check_eq "the unchanged file cost one 304" "$((nm_before + 1)) $files_before" "$(sim_stat .operations.file_not_modified) $(sim_stat .operations.file)"
check_eq "snapshot_read says not modified" true "$(event "$run2" snapshot_read notModified)"
check_eq "0 new, 0 changed, 0 removed" "0 0 0" "$(psql_q "SELECT stats_new || ' ' || stats_changed || ' ' || stats_removed FROM run_metadata WHERE run_id = '$run2'")"
check_eq "no raw row rewritten" "$raw_before" "$(psql_q "SELECT md5(string_agg(id::text || updated_at::text, ',' ORDER BY id)) FROM raw_diamonds_acme")"
check_eq "every stone seen by run 2" "$STONES" "$(psql_q "SELECT count(*) FROM raw_diamonds_acme WHERE last_seen_run_id = '$run2'")"
check_eq "the catalogue unchanged" "$cat_before" "$(catalogue)"

# --- 3. churn: changes and removals ------------------------------------------------------------
curl -fsS -X POST -d '{"percent":10}' "$SIM/admin/churn" >"$T/churn.json"
check "churn removed and sold stones" [ "$(jq '.removed + .sold' "$T/churn.json")" -gt 0 ]
expect
run3=$(run_once)
wait_until 120 completed "$run3"
check_eq "the catalogue holds exactly the new file's stones" "$STONES" "$(active)"
check "stones gone from the file were removed" [ "$(psql_q "SELECT stats_removed FROM run_metadata WHERE run_id = '$run3'")" -gt 0 ]
check_eq "no active stone missing from the snapshot" 0 "$(psql_q "SELECT count(*) FROM diamonds d WHERE d.feed = 'acme' AND d.status = 'active' AND NOT EXISTS (SELECT 1 FROM raw_diamonds_acme r WHERE r.supplier_stone_id = d.supplier_stone_id AND r.last_seen_run_id = '$run3')")"
check "changed stones were updated" [ "$(psql_q "SELECT stats_changed FROM run_metadata WHERE run_id = '$run3'")" -gt 0 ]
STONES3=$STONES

# --- 4. a truncated download never wipes the catalogue -----------------------------------------
cat_before=$(catalogue)
curl -fsS -X POST -d '{"percent":1}' "$SIM/admin/churn" >/dev/null # a new ETag: a full download
sim_faults '{"truncate_next":1,"truncate_line":100}'
run4=$(run_once)
wait_until 120 failed "$run4"
check "the run failed naming the truncation" bash -c "psql -qAt '$DATABASE_URL' -c \"SELECT last_error FROM partition_progress WHERE run_id = '$run4'\" | grep -q truncated"
check "an alert was sent" grep -q "File feed snapshot refused" "$T/w1.log"
check_eq "nothing consolidated, the catalogue intact" "$cat_before" "$(catalogue)"
check_eq "the record still names the last good snapshot" "$run3" "$(psql_q "SELECT run_id FROM file_snapshots WHERE feed = 'acme'")"

# --- 5. the shrink guard -----------------------------------------------------------------------
curl -fsS "$SIM/inventory.csv" >"$T/full.csv"
head -n $((ROWS / 10)) "$T/full.csv" >"$T/small.csv" # the header and a tenth of the rows
kill -TERM "$PID_w1"; wait "$PID_w1" || true
start_worker w2 LOG_LEVEL=info FEED_ACME_URL="file://$T/small.csv"
run5=$(run_once)
wait_until 120 failed "$run5"
check "the run failed naming the shrink guard" bash -c "psql -qAt '$DATABASE_URL' -c \"SELECT last_error FROM partition_progress WHERE run_id = '$run5'\" | grep -q 'shrink guard'"
check_eq "snapshot_refused records the baseline" "$STONES3" "$(event "$run5" snapshot_refused baseline)"
check "an alert was sent" grep -q "File feed snapshot refused" "$T/w2.log"
check_eq "the catalogue intact" "$cat_before" "$(catalogue)"
check_eq "no CONSOLIDATE for a refused snapshot" 0 "$(psql_q "SELECT count(*) FROM run_metadata WHERE run_id = '$run5' AND consolidate_sent_at IS NOT NULL")"

# --- 6. a worker killed mid-file ---------------------------------------------------------------
kill -TERM "$PID_w2"; wait "$PID_w2" || true
sim_faults '{"drip_bps":60000}'
start_worker w3
run6=$(run_once)
wait_until 60 bash -c "[ \$(psql -qAt '$DATABASE_URL' -c \"SELECT records FROM partition_progress WHERE run_id = '$run6'\") -gt 0 ]"
kill -KILL "$PID_w3"; wait "$PID_w3" 2>/dev/null || true
check_eq "killed mid-file" f "$(psql_q "SELECT completed FROM partition_progress WHERE run_id = '$run6'")"
sim_faults '{"drip_bps":0}'
expect
start_worker w4
wait_until 120 completed "$run6"
check_eq "the redelivery completed it: raw rows exact" "$STONES" "$(psql_q "SELECT count(*) FROM raw_diamonds_acme WHERE last_seen_run_id = '$run6'")"
check_eq "records exact" "$STONES" "$(psql_q "SELECT records FROM partition_progress WHERE run_id = '$run6'")"
check_eq "the catalogue holds the file's stones" "$STONES" "$(active)"
check_eq "no bad row reported twice" "$(psql_q "SELECT count(*) FROM run_events WHERE run_id = '$run6' AND event = 'row_refused'")" \
    "$(psql_q "SELECT count(DISTINCT detail->>'line') FROM run_events WHERE run_id = '$run6' AND event = 'row_refused'")"
check_eq "the first 1000 bad rows, once each" "$FIRST1000" \
    "$(psql_q "SELECT string_agg(detail->>'line', ',' ORDER BY (detail->>'line')::int) FROM run_events WHERE run_id = '$run6' AND event = 'row_refused'")"
check_eq "no dead letters" 0 "$(psql_q "SELECT count(*) FROM queue_dead_letters")"
finish
