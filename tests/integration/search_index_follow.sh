#!/usr/bin/env bash
# search_index_follow.sh - the follower never loses a commit whose change sequence is lower
# than one it has already applied (issue 14). Sequences are taken when a row is written, not
# when its transaction commits, so a follower that only read "change_seq > last" would skip:
#   B takes its transaction id first; A starts after it (a higher id), writes stone X (seq s1);
#   B then writes stone Y (seq s2 > s1) and commits. The follower reads: Y is visible, its last
#   sequence is now s2, and A is still running. No transaction finished after A started, so
#   A's id is at or above the snapshot's xmax and the snapshot does not list it as in progress.
#   A commits; X (seq s1 < s2) must still reach the index.
# Also: a long transaction listed in progress (xip), a rolled-back write, and both at once.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

new_db search_index_follow
seed_diamonds 400
KEY=$(new_key reader read)
H="X-API-Key: $KEY"
start_api api HMAC_SECRETS='{}' API_RATE_LIMIT_RPS=0
check "the index loaded" index_caught_up

syncs() { curl -s -H "$H" "$API/metrics" | awk '/^diamond_search_index_syncs_total / {print $2}'; }
# wait_syncs N: the follower has read the changes at least N more times from now.
wait_syncs() {
    local want=$(($(syncs) + $1))
    more() { [ "$(syncs)" -ge "$want" ]; }
    wait_until 30 more
}
price_of() { # supplier_stone_id -> retail price the index answers
    req GET "/api/v2/diamonds?supplier_stone_id=$1" "" "$H"
    jqb '.data[0].retailPrice'
}
# Two psql sessions driven step by step, through FIFOs (A: fds 7/8, B: fds 5/6).
mkfifo "$T/a.in" "$T/a.out" "$T/b.in" "$T/b.out"
psql -qAtX -v ON_ERROR_STOP=1 "$DATABASE_URL" <"$T/a.in" >"$T/a.out" 2>&1 &
DM_PIDS+=($!)
exec 7>"$T/a.in" 8<"$T/a.out"
psql -qAtX -v ON_ERROR_STOP=1 "$DATABASE_URL" <"$T/b.in" >"$T/b.out" 2>&1 &
DM_PIDS+=($!)
exec 5>"$T/b.in" 6<"$T/b.out"
say() { # say A|B SQL: send one statement, print its output once it has run
    local fd_in=7 fd_out=8
    if [ "$1" = B ]; then fd_in=5; fd_out=6; fi
    printf '%s;\n\\echo __done\n' "$2" >&"$fd_in"
    local line out=""
    while IFS= read -r -t 30 line <&"$fd_out"; do
        [ "$line" = __done ] && break
        out="$out$line"
    done
    echo "$out"
}

# --- the xmax case ---
say B "BEGIN" >/dev/null
XB=$(say B "SELECT pg_current_xact_id()")
say A "BEGIN" >/dev/null
say A "UPDATE diamonds SET retail_price = 11.11 WHERE supplier_stone_id = 'stone-10'" >/dev/null
XA=$(say A "SELECT pg_current_xact_id()")
check "A's transaction id is above B's ($XA > $XB)" test "$XA" -gt "$XB"
say B "UPDATE diamonds SET retail_price = 22.22 WHERE supplier_stone_id = 'stone-20'" >/dev/null
say B "COMMIT" >/dev/null
S1=$(psql_q "SELECT change_seq FROM diamonds WHERE supplier_stone_id = 'stone-20'")
check "the follower reads while A is open" wait_syncs 2
check_eq "B's commit shows" 22.22 "$(price_of stone-20)"
check_eq "A's write does not show before A commits" false "$(test "$(price_of stone-10)" = 11.11 && echo true || echo false)"
LAST=$(curl -s "$API/health" | jq -r .searchIndex.lastSeq)
check "the index's last sequence passed B's ($LAST >= $S1)" test "$LAST" -ge "$S1"
say A "COMMIT" >/dev/null
check "A's commit (a lower sequence than B's) reaches the index" wait_index
check_eq "A's write shows" 11.11 "$(price_of stone-10)"

# --- a long transaction listed in progress, a rollback, and later commits passing them ---
say A "BEGIN" >/dev/null
say A "UPDATE diamonds SET retail_price = 33.33 WHERE supplier_stone_id = 'stone-30'" >/dev/null
say B "BEGIN" >/dev/null
say B "UPDATE diamonds SET retail_price = 44.44 WHERE supplier_stone_id = 'stone-40'" >/dev/null
psql_q "UPDATE diamonds SET retail_price = 55.55 WHERE supplier_stone_id = 'stone-50'" >/dev/null
say B "ROLLBACK" >/dev/null
check "the follower reads while A is open" wait_syncs 2
check_eq "a later commit passes the open transaction" 55.55 "$(price_of stone-50)"
check "a rolled-back write never shows" test "$(price_of stone-40)" != 44.44
say A "COMMIT" >/dev/null
check "the long transaction reaches the index" wait_index
check_eq "its write shows" 33.33 "$(price_of stone-30)"
req GET "/api/v2/diamonds?price_max=60&sort_by=retail_price&sort_order=asc" "" "$H"
check_eq "exactly the committed writes are in the index" "11.11 22.22 33.33 55.55" "$(jq -r '[.data[].retailPrice | tostring] | join(" ")' "$T/body")"
exec 7>&- 5>&- 8<&- 6<&-
stop_api api
finish
