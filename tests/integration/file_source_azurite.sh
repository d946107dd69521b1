#!/usr/bin/env bash
# file_source_azurite.sh - a file feed read from an Azure Blob: Azurite (the Azure Storage
# emulator from npm, package.json devDependency) on a free loopback port, then the file-source
# test program (it_test_file_source) with the account-key connection string: it uploads a
# 5000-row CSV blob, reads it through dm_file_source_fetch with the storage credentials
# (Shared Key), gets 304 with the blob's ETag, and is refused without the credentials.
# Skips (exit 0 with a message) when Azurite is not installed (`make deps` installs it).
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/azurite.sh"
PROG="$DM_BUILD_DIR/it_test_file_source"
[ -x "$PROG" ] || { echo "missing $PROG"; exit 1; }
start_azurite
out="$T/file_source.out"
check "file source reads a blob with the storage credentials (Azurite)" \
    bash -c "'$PROG' >'$out' 2>&1"
cat "$out"
check "the blob case ran (not skipped)" bash -c "! grep -q 'DM_TEST_AZURE_STORAGE not set' '$out'"

finish
