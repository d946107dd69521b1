#!/usr/bin/env bash
# chaos_short.sh - the short chaos run inside `make test` (scripts/chaos with 10,000 stones):
# SIGKILLed workers and consolidator, a PostgreSQL restart, feed faults, duplicate/stale/
# malformed queue messages; the final catalogue must equal a clean run's.
set -uo pipefail
: "${DIAMOND_BIN:?}" "${DM_SOURCE_DIR:?}"
CHAOS_STONES=${CHAOS_STONES:-10000} CHAOS_SEED=${CHAOS_SEED:-7} CHAOS_DEADLINE=${CHAOS_DEADLINE:-600} \
    bash "$DM_SOURCE_DIR/scripts/chaos"
