#!/usr/bin/env bash
# file_source_azurite.sh - a file feed read from an Azure Blob: Azurite (the Azure Storage
# emulator from npm, package.json devDependency) on a free loopback port, then the file-source
# test program (it_test_file_source) with the account-key connection string: it uploads a
# 5000-row CSV blob, reads it through dm_file_source_fetch with the storage credentials
# (Shared Key), gets 304 with the blob's ETag, and is refused without the credentials.
# Skips (exit 0 with a message) when Azurite is not installed (`make deps` installs it).
. "$DM_SOURCE_DIR/tests/lib/common.sh"

AZ=""
for c in "$DM_SOURCE_DIR/node_modules/.bin/azurite-blob" "$(command -v azurite-blob || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then AZ=$c; break; fi
done
if [ -z "$AZ" ]; then
    echo "SKIP: azurite-blob not installed (npm devDependency 'azurite'; run make deps)"
    exit 0
fi
PROG="$DM_BUILD_DIR/it_test_file_source"
[ -x "$PROG" ] || { echo "missing $PROG"; exit 1; }

port=$(free_port)
mkdir -p "$T/azurite"
spawn azurite "$AZ" --blobHost 127.0.0.1 --blobPort "$port" --location "$T/azurite" --silent \
    --skipApiVersionCheck --loose
wait_until 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"

endpoint="http://127.0.0.1:$port/devstoreaccount1"
key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
export DM_TEST_AZURE_STORAGE="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=$endpoint;"
out="$T/file_source.out"
check "file source reads a blob with the storage credentials (Azurite)" \
    bash -c "'$PROG' >'$out' 2>&1"
cat "$out"
check "the blob case ran (not skipped)" bash -c "! grep -q 'DM_TEST_AZURE_STORAGE not set' '$out'"

finish
