#!/usr/bin/env bash
# listings_solo.sh - a changed offer that is the only offer of its listing needs no choice
# (issue 18): the consolidator's batch takes the listings lock in shared mode and refreshes
# nothing, unless, checked again under the lock, its listing gained an offer since the claim.
# Here the consolidator stops itself inside the batch (failpoint consolidator.batch_write=stop),
# another feed's cheaper offer of the same certificate is committed meanwhile, and after
# SIGCONT the listing must show the cheaper offer: the batch ran again and chose. Real
# consolidator and PostgreSQL; raw rows from the SQL generator.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/integration/consol_lib.bash"
consol_setup listings_solo
export LOG_LEVEL=debug

spawn consolidator "$DIAMOND" consolidator
R1=$(make_run full)
ingest "$R1" 1 20 0
consolidate "$R1"
wait_completed "$R1"
check_eq "run 1: 20 offers, each the chosen and only offer of its listing" "20|20|20" \
    "$(psql_q "SELECT count(*), count(*) FILTER (WHERE chosen), count(DISTINCT listing_key)
               FROM diamonds WHERE status = 'active' AND listing_key LIKE 'cert:%'")"
kill "$PID_consolidator"
wait "$PID_consolidator" || true

# Run 2 changes stone-5 (another draw of its prices and grading, same certificate): its batch
# claims it as a solo offer, then stops before writing.
R2=$(make_run incremental)
ingest "$R2" 5 5 -3
check_eq "run 2: stone-5 pending again" 1 \
    "$(psql_q "SELECT count(*) FROM raw_diamonds_nivoda WHERE consolidation_status = 'pending'")"
DM_FAILPOINTS="consolidator.batch_write=stop" spawn consolidator2 "$DIAMOND" consolidator
consolidate "$R2"
stopped() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ]; }
check "the consolidator stopped inside the batch" wait_until 30 stopped "$PID_consolidator2"
KEY=$(psql_q "SELECT listing_key FROM diamonds WHERE supplier_stone_id = 'stone-5'")
# Meanwhile another feed's offer of the same stone, far cheaper, is committed unchosen (as a
# batch of that feed would leave it before its refresh, under the exclusive lock).
psql_q "INSERT INTO diamonds (feed, supplier_stone_id, offer_id, shape, carats, color, clarity,
            feed_price, price_per_carat, retail_price, markup_ratio, availability,
            certificate_lab, certificate_number, content_hash, identity_key, listing_key,
            listing_id, chosen)
        SELECT 'file1', 'F-5', 'F-5', shape, carats, color, clarity, 1, 1, 1, 1, 'available',
            certificate_lab, certificate_number, repeat('b', 64), listing_key, listing_key,
            listing_id, false
        FROM diamonds WHERE supplier_stone_id = 'stone-5'" >/dev/null
kill -CONT "$PID_consolidator2"
wait_completed "$R2"
check "the batch found the listing had gained an offer and ran again" \
    log_has consolidator2 "a listing gained an offer during the batch"
check_eq "stone-5's listing shows the cheaper file1 offer (and only it)" "1|1" \
    "$(psql_q "SELECT count(*) FILTER (WHERE chosen AND feed = 'file1') || '|' ||
               count(*) FILTER (WHERE chosen) FROM diamonds WHERE listing_key = '$KEY'")"
check_eq "run 2 changed stone-5 (not lost with the retried batch)" 1 "$(stat_of "$R2" stats_changed)"
check_eq "every other listing keeps its one chosen offer" 19 \
    "$(psql_q "SELECT count(*) FROM diamonds WHERE chosen AND feed = 'nivoda'
               AND listing_key <> '$KEY'")"
finish
