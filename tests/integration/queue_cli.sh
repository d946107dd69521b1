#!/usr/bin/env bash
# queue_cli.sh - `diamond queue stats|dlq|resubmit` against the PostgreSQL backend: the table
# of depths, dead-letter listing with unprintable bodies, resubmit by id and --all, usage errors.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
new_db queue_cli

# Two active messages, one scheduled an hour ahead, three dead-lettered (one body not UTF-8).
psql_q "INSERT INTO queue_messages (queue, message_id, body, enqueued_at, visible_at, expires_at)
        VALUES ('work-items', 'r:p1:0', '{\"type\":\"WORK_ITEM\"}', now() - interval '90 s', now() - interval '90 s', now() + interval '1 day'),
               ('work-items', 'r:p2:0', '{}', now(), now(), now() + interval '1 day'),
               ('consolidate', 'consolidate:r', '{}', now(), now() + interval '1 hour', now() + interval '1 day')" >/dev/null
psql_q "INSERT INTO queue_dead_letters (seq, queue, message_id, body, enqueued_at, delivery_count, reason)
        VALUES (1001, 'work-items', 'r:p9:0', '\\xfffe7b6e6f74206a736f6e'::bytea, now(), 5, 'MaxDeliveryCountExceeded'),
               (1002, 'work-items', 'r:p8:0', '{\"type\":\"WORK_ITEM\"}', now(), 1, 'InvalidMessage: missing runId'),
               (1003, 'work-done', 'wd:1', '{}', now(), 3, 'TTLExpiredException')" >/dev/null

out=$("$DIAMOND" queue stats)
echo "$out"
check "stats header" grep -q "QUEUE *ACTIVE *SCHEDULED *DEAD-LETTER *OLDEST AGE" <<<"$out"
check "work-items row" grep -Eq "^work-items +2 +0 +2 +1m3[0-9]s" <<<"$out"
check "work-done row" grep -Eq "^work-done +0 +0 +1 +-" <<<"$out"
check "consolidate row (scheduled)" grep -Eq "^consolidate +0 +1 +0 +-" <<<"$out"
json=$("$DIAMOND" queue stats --json)
check_eq "stats --json" 2 "$(jq '.[] | select(.queue=="work-items") | .deadLetter' <<<"$json")"

out=$("$DIAMOND" queue dlq work-items)
echo "$out"
check "dlq lists the unprintable body" grep -Eq "^r:p9:0 +MaxDeliveryCountExceeded +5 +\.\.\{not json" <<<"$out"
check "dlq lists the invalid one" grep -Eq "^r:p8:0 +InvalidMessage: missing runId +1 +\{\"type\":\"WORK_ITEM\"\}" <<<"$out"
check "dlq count line" grep -q "^2 dead-lettered messages in work-items" <<<"$out"
check_eq "dlq --json" '"MaxDeliveryCountExceeded"' "$("$DIAMOND" queue dlq work-items --json --limit 1 | jq '.[0].reason')"

check_eq "resubmit by id" "resubmitted 1 message to work-items" "$("$DIAMOND" queue resubmit work-items r:p9:0)"
check_eq "resubmitted message active again, fresh count" "0|1" \
    "$(psql_q "SELECT delivery_count, count(*) OVER () FROM queue_messages WHERE message_id = 'r:p9:0'" | tr '\n' ' ' | sed 's/ $//')"
check_eq "body bytes kept" '\xfffe7b6e6f74206a736f6e' "$(psql_q "SELECT body FROM queue_messages WHERE message_id = 'r:p9:0'")"
set +e
"$DIAMOND" queue resubmit work-items no-such-id >/dev/null 2>"$T/err"; rc=$?
set -e
check_eq "unknown id exits 1" 1 "$rc"
check "unknown id says so" grep -q "no dead-lettered message no-such-id" "$T/err"
check_eq "resubmit --all" "resubmitted 1 message to work-items" "$("$DIAMOND" queue resubmit work-items --all)"
check_eq "work-items dead-letter empty" 0 "$(psql_q "SELECT count(*) FROM queue_dead_letters WHERE queue = 'work-items'")"
check_eq "work-done untouched" 1 "$(psql_q "SELECT count(*) FROM queue_dead_letters WHERE queue = 'work-done'")"

set +e
"$DIAMOND" queue dlq no-such-queue >/dev/null 2>&1; rc1=$?
"$DIAMOND" queue resubmit work-items >/dev/null 2>&1; rc2=$?
"$DIAMOND" queue bogus >/dev/null 2>&1; rc3=$?
set -e
check_eq "bad queue name exits 2" 2 "$rc1"
check_eq "resubmit without id exits 2" 2 "$rc2"
check_eq "unknown subcommand exits 2" 2 "$rc3"
check "help" sh -c "\"$DIAMOND\" queue --help | grep -q 'diamond queue resubmit'"
finish
