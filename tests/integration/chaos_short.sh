#!/usr/bin/env bash
# chaos_short.sh - the short chaos run inside `make test`: scripts/chaos with the same fault plan
# at 10,000 stones (every fault is tied to progress, so the plan is the same at any size). It
# fails when any planned fault did not fire, as well as on any catalogue, watermark, queue or
# API check. Replay a failure with the seed it prints: CHAOS_SEED=N CHAOS_STONES=10000 scripts/chaos.
set -uo pipefail
: "${DIAMOND_BIN:?}" "${DM_SOURCE_DIR:?}"
CHAOS_STONES=${CHAOS_STONES:-10000} CHAOS_SEED=${CHAOS_SEED:-7} CHAOS_DEADLINE=${CHAOS_DEADLINE:-300} \
    bash "$DM_SOURCE_DIR/scripts/chaos"
