#!/usr/bin/env bash
# chaos_short.sh - the short chaos run inside `make test`: scripts/chaos, the same fault plan
# as `make chaos`, at 10,000 stones (about 2-2.5 minutes on 2 cores). Every planned fault (worker,
# consolidator and scheduler SIGKILLs at their points, PostgreSQL restarts during ingest,
# consolidation and a reprice, the API restarted under load, every feed-simulator fault kind,
# duplicate/stale/malformed messages) must fire, and the final diamonds table must equal a clean
# run's; the report's lines say when each fault fired. CHAOS_SEED replays another plan.
# Two feeds, as `make chaos` (a GraphQL feed and a file feed overlapping it; the final table is
# compared offer by offer, listing and chosen offer included). CHAOS_FEEDS=1 runs the one-feed
# plan of before issue 18.
set -uo pipefail
: "${DIAMOND_BIN:?}" "${DM_SOURCE_DIR:?}"
CHAOS_STONES=${CHAOS_STONES:-10000} CHAOS_SEED=${CHAOS_SEED:-7} CHAOS_DEADLINE=${CHAOS_DEADLINE:-240} \
    CHAOS_FEEDS=${CHAOS_FEEDS:-2} bash "$DM_SOURCE_DIR/scripts/chaos"
