#!/usr/bin/env bash
# watermark_azurite.sh - the Azure Blob watermark backend against Azurite (the Azure Storage
# emulator from npm, package.json devDependency), started here on a free loopback port, then
# the backend's test program (test_watermark_azure) runs against it: first write with
# If-None-Match: *, If-Match on the ETag, 412 -> conflict, never backwards, wrong key -> 403;
# then with container-scoped SAS tokens (the apps' credential): read/write, read-only (writes
# 403), another container's or a forged token refused.
# Skips (exit 0 with a message) when Azurite is not installed (`make deps` installs it).
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/azurite.sh"
PROG="$DM_BUILD_DIR/test_watermark_azure"
[ -x "$PROG" ] || { echo "missing $PROG"; exit 1; }
start_azurite
check "azure backend conditional writes against Azurite" "$PROG"

finish
