#!/usr/bin/env bash
# chaos_short.sh - the short chaos run inside `make test`: scripts/chaos, the same fault plan
# as `make chaos`, at 10,000 stones (about 2-2.5 minutes on 2 cores). Every planned fault (worker,
# consolidator and scheduler SIGKILLs at their points, PostgreSQL restarts during ingest,
# consolidation and a reprice, the API restarted under load, every feed-simulator fault kind,
# duplicate/stale/malformed messages) must fire, and the final diamonds table must equal a clean
# run's; the report's lines say when each fault fired. CHAOS_SEED replays another plan.
# One feed here (CHAOS_FEEDS=1, the run as before issue 18); `make chaos` runs two feeds
# (CHAOS_FEEDS=2 runs that plan here).
set -uo pipefail
: "${DIAMOND_BIN:?}" "${DM_SOURCE_DIR:?}"
CHAOS_STONES=${CHAOS_STONES:-10000} CHAOS_SEED=${CHAOS_SEED:-7} CHAOS_DEADLINE=${CHAOS_DEADLINE:-240} \
    CHAOS_FEEDS=${CHAOS_FEEDS:-1} bash "$DM_SOURCE_DIR/scripts/chaos"
