#!/usr/bin/env bash
# search_index_diff.sh - the in-memory search index answers exactly as PostgreSQL does
# (issue 14). Two `diamond api` processes on one database: API_SEARCH_INDEX=true (the index) and
# API_SEARCH_INDEX=false (the SQL path, the reference), both with API_CACHE_MS=0.
# tests/lib/search_diff.mjs sends thousands of seeded random searches (filters in every list
# form, case variants, tie values, lookups, every sort, offset pages, keyset cursor chains,
# invalid values, include=facets) to both and compares them byte for byte, checks every total
# against an exact psql count, ETag/304, and facet counts against SQL GROUP BYs.
# The fixture (tests/lib/search_diff_fixture.sql) holds the data an index gets wrong: NULL,
# lower-case, empty and non-ASCII grades, ties in every sort key, edge numbers, pre-1970
# timestamps, quotes, backslashes, unicode and control characters, nested JSON with nulls,
# deleted rows. Then the database changes (repricing, availability, removals, reactivations,
# new grades, sort keys, inserts) and, once /health's searchIndex.lastSeq reaches the
# database's max(change_seq), everything is compared again.
# The test database's LC_CTYPE is C.utf8 (SEARCH_DIFF_CTYPE), as a production database's
# UTF-8 locale: upper() there folds non-ASCII letters ('ñ' -> 'Ñ').
# Fails when the index is not there (no searchIndex in /health, no change_seq column) or was
# not used (/metrics diamond_api_search_queries_total{path="index"} must grow).
# SEARCH_DIFF_SEED, SEARCH_DIFF_QUERIES (default 3000; the second round runs half) to explore.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

SEED=${SEARCH_DIFF_SEED:-1401}
NQ=${SEARCH_DIFF_QUERIES:-3000}
CTYPE=${SEARCH_DIFF_CTYPE:-C.utf8}
DIFF=$DM_SOURCE_DIR/tests/lib/search_diff.mjs
FIXTURE=$DM_SOURCE_DIR/tests/lib/search_diff_fixture.sql

dbname="t_search_diff_$$_$RANDOM"
psql -qAt "$DM_TEST_PG_ADMIN_URL" -c "CREATE DATABASE $dbname TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE '$CTYPE'" >/dev/null
export DATABASE_URL="postgresql://postgres@127.0.0.1:$DM_TEST_PG_PORT/$dbname"
"$DIAMOND" migrate >/dev/null
psql -q -v ON_ERROR_STOP=1 -v lo=1 -v hi=4000 "$DATABASE_URL" -f "$FIXTURE"

# --- two feeds (issue 18): 300 offers of a second feed listed with existing stones; for about
# a third of those listings the second feed's offer is the chosen one, the other hidden. Both
# paths must show one listing per key, from its chosen offer, under the listing id.
psql_q "INSERT INTO diamonds (feed, supplier_stone_id, offer_id, shape, carats, color, clarity,
            cut, feed_price, price_per_carat, retail_price, markup_ratio, availability,
            certificate_lab, certificate_number, content_hash, created_at, listing_key,
            listing_id, chosen)
        SELECT 'second', 'S-' || supplier_stone_id, 'S-' || offer_id, shape, carats, color,
            clarity, cut, feed_price, price_per_carat, greatest(retail_price - 1, 0),
            markup_ratio, availability, certificate_lab, certificate_number, content_hash,
            created_at, listing_key, listing_id, false
        FROM diamonds WHERE status = 'active' AND feed = 'nivoda'
        ORDER BY supplier_stone_id LIMIT 300" >/dev/null
psql_q "UPDATE diamonds SET chosen = false WHERE feed <> 'second' AND listing_key IN
            (SELECT listing_key FROM diamonds WHERE feed = 'second' AND abs(hashtext(offer_id)) % 3 = 0)" >/dev/null
psql_q "UPDATE diamonds SET chosen = true WHERE feed = 'second' AND abs(hashtext(offer_id)) % 3 = 0" >/dev/null
check "two feeds: some second-feed offers chosen, some hidden" [ "$(psql_q "SELECT count(DISTINCT chosen) FROM diamonds WHERE feed = 'second'")" = 2 ]
check_eq "two feeds: one chosen offer per listing key" 0 "$(psql_q "SELECT count(*) FROM (SELECT listing_key FROM diamonds WHERE status = 'active' GROUP BY 1 HAVING count(*) FILTER (WHERE chosen) <> 1) k")"

# --- the fixture really holds the nasty rows ---
check_fixture() {
    local what=$1 sql=$2 n
    n=$(psql_q "SELECT count(*) FROM diamonds WHERE $sql")
    check "fixture: $what ($n rows)" [ "$n" -gt 0 ]
}
check_fixture "NULL cut, polish, symmetry, fluorescence" "cut IS NULL AND status = 'active'"
check_fixture "NULL polish" "polish IS NULL" ; check_fixture "NULL symmetry" "symmetry IS NULL"
check_fixture "NULL fluorescence" "fluorescence IS NULL"; check_fixture "NULL certificate lab" "certificate_lab IS NULL"
check_fixture "lower-case colours" "color <> upper(color) AND color ~ '^[a-z]'"
check_fixture "odd colours (fancy, N, empty, padded, non-ASCII)" "color IN ('fancy', 'N', '', ' D', 'ñ')"
check_fixture "odd clarities" "clarity IN ('vs1', 'n/a', '', 'SI3')"
check_fixture "a lower-case shape (never matched: shape compares exactly)" "shape = 'oval'"
check_fixture "every availability" "availability = 'unavailable'"
check_fixture "on hold" "availability = 'on_hold'"; check_fixture "sold" "availability = 'sold'"
check_fixture "lab-grown" "lab_grown"; check_fixture "natural" "NOT lab_grown"
check_fixture "deleted" "status = 'deleted'"
check_fixture "several feeds" "feed <> 'nivoda'"
check_fixture "quote in supplier_stone_id" "supplier_stone_id LIKE '%\"%'"
check_fixture "backslash in supplier_stone_id" "strpos(supplier_stone_id, E'\\\\') > 0"
check_fixture "unicode in supplier_stone_id" "supplier_stone_id ~ '[^\\x01-\\x7f]'"
check_fixture "control character in supplier_stone_id" "supplier_stone_id ~ '[\\x01-\\x1f\\x7f]'"
check_fixture "control character in a url" "image_url ~ '[\\x01-\\x1f]'"
check_fixture "unicode in a certificate number" "certificate_number ~ '[^\\x01-\\x7f]'"
check_fixture "a shared certificate number" "certificate_number = 'DUP-1'"
check_fixture "nested JSON with nulls" "measurements::text LIKE '%null%' OR attributes::text LIKE '%null%'"
check_fixture "pre-1970 created_at" "created_at < '1970-01-01'"
check_fixture "created_at with microseconds" "extract(microseconds FROM created_at)::bigint % 1000000 <> 0"
check "fixture: many ties in retail price" [ "$(psql_q "SELECT count(*) FROM (SELECT retail_price FROM diamonds GROUP BY 1 HAVING count(*) > 5) t")" -gt 50 ]
check "fixture: many ties in created_at" [ "$(psql_q "SELECT count(*) FROM (SELECT created_at FROM diamonds GROUP BY 1 HAVING count(*) > 20) t")" -gt 20 ]
check "fixture: under 10,000 rows (the SQL path's totals are exact too)" [ "$(psql_q "SELECT count(*) FROM diamonds")" -lt 9000 ]
check_eq "database LC_CTYPE" "$CTYPE" "$(psql_q "SELECT datctype FROM pg_database WHERE datname = current_database()")"

KEY=$(new_key differ read)
start_api idx HMAC_SECRETS='{}' API_RATE_LIMIT_RPS=0 METRICS_CACHE_MS=0 API_CACHE_MS=0 API_SEARCH_INDEX=true
IDX=$API
API_NAMES="idx sql"
start_api sql HMAC_SECRETS='{}' API_RATE_LIMIT_RPS=0 METRICS_CACHE_MS=0 API_CACHE_MS=0 API_SEARCH_INDEX=false
SQLAPI=$API

# --- the index is there ---
has_change_seq=$(psql_q "SELECT count(*) FROM information_schema.columns WHERE table_name = 'diamonds' AND column_name = 'change_seq'")
if [ "$has_change_seq" != 1 ]; then
    echo "FAIL - index not available: diamonds has no change_seq column (migration 007)"
    exit 1
fi
if ! curl -s "$IDX/health" | jq -e '.searchIndex | type == "object"' >/dev/null; then
    echo "FAIL - index not available: /health has no searchIndex: $(curl -s "$IDX/health")"
    exit 1
fi
# caught_up: the index serves (status ok) at the database's latest change and holds as many
# stones as are active (a hard DELETE leaves no sequence behind: the row count shows it).
caught_up() {
    local want rows h
    read -r want rows <<<"$(psql_q "SELECT coalesce(max(change_seq), 0), count(*) FILTER (WHERE status = 'active' AND chosen) FROM diamonds" | tr '|' ' ')"
    h=$(curl -s "$IDX/health") || return 1
    echo "$h" | jq -e --argjson w "$want" --argjson n "$rows" \
        '.searchIndex.status == "ok" and .searchIndex.lastSeq >= $w and .searchIndex.rows == $n' >/dev/null
}
# seq_reached SEQ: the index has applied every change up to SEQ.
seq_reached() { curl -s "$IDX/health" | jq -e --argjson w "$1" '.searchIndex.lastSeq >= $w' >/dev/null; }
wait_caught_up() {
    if ! wait_until 60 caught_up; then
        echo "FAIL - the index did not reach max(change_seq) = $(psql_q "SELECT max(change_seq) FROM diamonds"): $(curl -s "$IDX/health")"
        exit 1
    fi
}
wait_caught_up
check_eq "index rows = listed diamonds" "$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active' AND chosen")" "$(curl -s "$IDX/health" | jq .searchIndex.rows)"
check_eq "the SQL-path API reports its index off" off "$(curl -s "$SQLAPI/health" | jq -r '.searchIndex.status')"

# metric URL PATH_LABEL -> diamond_api_search_queries_total{path=LABEL}, "absent" if not exported
metric() {
    curl -s -H "X-API-Key: $KEY" "$1/metrics" | awk -v m="diamond_api_search_queries_total{path=\"$2\"}" '$1 == m { print $2 + 0; f = 1 } END { if (!f) print "absent" }'
}

# diff_round PHASE SEED QUERIES: one comparison run; checks the index path was used.
diff_round() {
    local phase=$1 seed=$2 n=$3 i0 s0 si0 i1 s1 si1 out rc=0
    i0=$(metric "$IDX" index); si0=$(metric "$SQLAPI" index); s0=$(metric "$SQLAPI" sql)
    node "$DIFF" --idx "$IDX" --sql "$SQLAPI" --key "$KEY" --db "$DATABASE_URL" --seed "$seed" \
        --queries "$n" --phase "$phase" --out "$T" >"$T/$phase.out" 2>&1 || rc=$?
    grep -v '^{' "$T/$phase.out" | head -200
    # Both processes must have lived through it (a crash shows as failed fetches above).
    local who pid st
    for who in $API_NAMES; do
        pid="PID_$who"
        if kill -0 "${!pid}" 2>/dev/null; then st=alive; else
            st=dead; wait "${!pid}" 2>/dev/null || st="dead (exit status $?)"
            tail -40 "$T/$who.log"
        fi
        check_eq "$phase: API '$who' still running" alive "$st"
    done
    check_eq "$phase: every query answered alike (search_diff.mjs exit)" 0 "$rc"
    if [ "$rc" != 0 ]; then
        echo "  (all differences: $T/$phase-failures.txt with KEEP_TMP=1; the first bodies in $T/$phase-first-*.body)"
        if [ "$CTYPE" != C ]; then
            echo "  note: this database's LC_CTYPE is $CTYPE: PostgreSQL's upper() folds non-ASCII letters there"
            echo "  ('ñ' -> 'Ñ'), as in a production database with a UTF-8 locale; SEARCH_DIFF_CTYPE=C reruns"
            echo "  with an ASCII-only ctype to tell a case-folding difference from another one."
        fi
    fi
    out=$(grep '^{' "$T/$phase.out" | tail -1)
    i1=$(metric "$IDX" index); si1=$(metric "$SQLAPI" index); s1=$(metric "$SQLAPI" sql)
    local answered sqlanswered used=no sqlside=no
    answered=$(echo "${out:-"{}"}" | jq '.idx200 // 0')
    sqlanswered=$(echo "${out:-"{}"}" | jq '.sql200 // 0')
    if [ "$i1" != absent ] && [ "$i0" != absent ] && [ "$answered" -gt 0 ] && [ $((i1 - i0)) -ge "$answered" ]; then used=yes; fi
    check_eq "$phase: /metrics index path on the index API grew by >= the $answered searches it answered 200 ($i0 -> $i1)" yes "$used"
    # The reference really is the SQL path: its index counter does not move (absent is fine),
    # and its sql counter, when exported, grows.
    if { [ "$si1" = absent ] || [ "$si1" = "$si0" ]; } && { [ "$s1" = absent ] || [ $((s1 - s0)) -ge "$sqlanswered" ]; }; then sqlside=yes; fi
    check_eq "$phase: the SQL-path API answered from SQL (index $si0 -> $si1, sql $s0 -> $s1)" yes "$sqlside"
}

diff_round initial "$SEED" "$NQ"

# --- the catalogue changes ---
seq0=$(psql_q "SELECT max(change_seq) FROM diamonds")
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<'SQL'
-- reprice a third of the catalogue
UPDATE diamonds SET markup_ratio = 1.2500, retail_price = round(feed_price * 1.25, 2), updated_at = now()
WHERE status = 'active' AND hashtext(id::text) % 3 = 0;
-- availability moves (holds, sales, releases)
UPDATE diamonds SET availability = CASE availability WHEN 'available' THEN 'on_hold' WHEN 'on_hold' THEN 'sold'
    WHEN 'sold' THEN 'unavailable' ELSE 'available' END, updated_at = now()
WHERE hashtext(id::text || 'a') % 7 = 0;
-- removals and reactivations
UPDATE diamonds SET status = 'deleted', deleted_at = now(), updated_at = now()
WHERE status = 'active' AND hashtext(id::text || 'd') % 13 = 0;
UPDATE diamonds SET status = 'active', deleted_at = NULL, updated_at = now()
WHERE status = 'deleted' AND deleted_at < '2026-06-01' AND hashtext(id::text || 'r') % 2 = 0;
-- grades never seen before, and sort keys that move
UPDATE diamonds SET shape = 'TRILLION', color = 'fancy pink', clarity = 'I3', cut = NULL, updated_at = now()
WHERE hashtext(id::text || 's') % 29 = 0;
UPDATE diamonds SET carats = carats + 0.01, created_at = created_at + interval '1 microsecond', updated_at = now()
WHERE hashtext(id::text || 'k') % 11 = 0 AND carats < 9999;
SQL
# the same stones changed again, in separate transactions
for k in 1 2 3; do
    psql_q "UPDATE diamonds SET retail_price = retail_price + $k, availability = 'available', updated_at = now() WHERE hashtext(id::text || 'twice') % 17 = 0" >/dev/null
done
psql -q -v ON_ERROR_STOP=1 -v lo=4001 -v hi=4400 "$DATABASE_URL" -f "$FIXTURE"
seq1=$(psql_q "SELECT max(change_seq) FROM diamonds")
check "the changes advanced change_seq ($seq0 -> $seq1)" [ "$seq1" -gt "$seq0" ]
wait_caught_up
check_eq "index rows = listed diamonds after the changes" "$(psql_q "SELECT count(*) FROM diamonds WHERE status = 'active' AND chosen")" "$(curl -s "$IDX/health" | jq .searchIndex.rows)"
# The SQL path keeps totals of large result sets for 10 s (search.c count cache): a fresh
# process is the reference for the changed database.
stop_api sql
start_api sql2 HMAC_SECRETS='{}' API_RATE_LIMIT_RPS=0 METRICS_CACHE_MS=0 API_CACHE_MS=0 API_SEARCH_INDEX=false
SQLAPI=$API
API_NAMES="idx sql2"

diff_round changed $((SEED + 1)) $((NQ / 2))

# --- overlapping transactions: sequence numbers are taken at write time, not at commit ---
# A long transaction writes (taking sequence numbers) and stays open while short ones commit
# later numbers; the index must pass those and still apply the long one's rows when it
# commits. A rolled-back transaction leaves a gap. A hard DELETE leaves no row to follow.
open_txn() { # NAME END(COMMIT|ROLLBACK) SQL: runs in the background, holding the transaction
    PGAPPNAME="dm_diff_$1" psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" \
        -c "BEGIN" -c "$3" -c "SELECT pg_sleep(4)" -c "$2" >"$T/txn_$1.log" 2>&1 &
    eval "TXN_$1=$!"
}
in_sleep() { [ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dm_diff_$1' AND query LIKE '%pg_sleep%' AND state = 'active'")" = 1 ]; }
open_txn long COMMIT "UPDATE diamonds SET retail_price = retail_price + 7, availability = 'on_hold', updated_at = now()
    WHERE status = 'active' AND hashtext(id::text || 'long') % 5 = 0"
# (The row sets are disjoint: a write to a row the long transaction holds would wait for it.)
NOT_HELD="hashtext(id::text || 'long') % 5 <> 0 AND hashtext(id::text || 'undone') % 4 <> 0"
open_txn undone ROLLBACK "UPDATE diamonds SET carats = carats + 1, updated_at = now()
    WHERE hashtext(id::text || 'undone') % 4 = 0 AND hashtext(id::text || 'long') % 5 <> 0 AND carats < 9000"
wait_until 30 in_sleep long
wait_until 30 in_sleep undone
psql_q "UPDATE diamonds SET availability = 'sold', updated_at = now() WHERE hashtext(id::text || 'later') % 9 = 0 AND $NOT_HELD" >/dev/null
psql_q "UPDATE diamonds SET status = 'deleted', deleted_at = now(), updated_at = now() WHERE status = 'active' AND hashtext(id::text || 'later2') % 31 = 0 AND $NOT_HELD" >/dev/null
later=$(psql_q "SELECT max(change_seq) FROM diamonds")
wait_until 30 seq_reached "$later" || true
check "the index passed later commits ($later) while the long transaction was still open" \
    sh -c "curl -s '$IDX/health' | jq -e --argjson w $later '.searchIndex.lastSeq >= \$w' >/dev/null && [ \"\$(psql -qAt '$DATABASE_URL' -c \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dm_diff_long' AND state <> 'idle'\")\" = 1 ]"
rc=0; wait "$TXN_long" || rc=$?
check_eq "the long transaction committed" 0 "$rc"
rc=0; wait "$TXN_undone" || rc=$?
check_eq "the rolled-back transaction ran" 0 "$rc"
psql_q "DELETE FROM diamonds WHERE hashtext(id::text || 'hard') % 60 = 0" >/dev/null
psql -q -v ON_ERROR_STOP=1 -v lo=4401 -v hi=4450 "$DATABASE_URL" -f "$FIXTURE"
check "the long transaction's rows carry sequence numbers below the later commits'" \
    [ "$(psql_q "SELECT count(*) FROM diamonds WHERE hashtext(id::text || 'long') % 5 = 0 AND availability = 'on_hold' AND change_seq < $later")" -gt 100 ]
wait_caught_up
stop_api sql2
start_api sql3 HMAC_SECRETS='{}' API_RATE_LIMIT_RPS=0 METRICS_CACHE_MS=0 API_CACHE_MS=0 API_SEARCH_INDEX=false
SQLAPI=$API
API_NAMES="idx sql3"

diff_round overlapping $((SEED + 2)) $((NQ / 4))

stop_api idx
stop_api sql3
finish
