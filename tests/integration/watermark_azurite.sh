#!/usr/bin/env bash
# watermark_azurite.sh - the Azure Blob watermark backend against Azurite (the Azure Storage
# emulator from npm, package.json devDependency), started here on a free loopback port, then
# the backend's test program (test_watermark_azure) runs against it: first write with
# If-None-Match: *, If-Match on the ETag, 412 -> conflict, never backwards, wrong key -> 403;
# then with container-scoped SAS tokens (the apps' credential): read/write, read-only (writes
# 403), another container's or a forged token refused.
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
PROG="$DM_BUILD_DIR/test_watermark_azure"
[ -x "$PROG" ] || { echo "missing $PROG"; exit 1; }

port=$(free_port)
mkdir -p "$T/azurite"
spawn azurite "$AZ" --blobHost 127.0.0.1 --blobPort "$port" --location "$T/azurite" --silent \
    --skipApiVersionCheck --loose
wait_until 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"

endpoint="http://127.0.0.1:$port/devstoreaccount1"
key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
export DM_TEST_AZURE_STORAGE="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=$endpoint;"
export DM_TEST_AZURE_BLOB_ENDPOINT=$endpoint
check "azure backend conditional writes against Azurite" "$PROG"

finish
