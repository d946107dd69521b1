# azurite.sh - start Azurite (the Azure Storage emulator, npm devDependency `azurite`) on a free
# loopback port for a test, after tests/lib/common.sh. start_azurite exits the test with SKIP
# (status 0) when Azurite is not installed (`make deps` installs it); otherwise it exports
# DM_TEST_AZURE_STORAGE (an account-key connection string for the emulator's well-known dev
# account) and DM_TEST_AZURE_BLOB_ENDPOINT, and the process is stopped with the test's others.
start_azurite() {
    local az="" c port
    for c in "$DM_SOURCE_DIR/node_modules/.bin/azurite-blob" "$(command -v azurite-blob || true)"; do
        if [ -n "$c" ] && [ -x "$c" ]; then az=$c; break; fi
    done
    if [ -z "$az" ]; then
        echo "SKIP: azurite-blob not installed (npm devDependency 'azurite'; run make deps)"
        exit 0
    fi
    port=$(free_port)
    mkdir -p "$T/azurite"
    spawn azurite "$az" --blobHost 127.0.0.1 --blobPort "$port" --location "$T/azurite" --silent \
        --skipApiVersionCheck --loose
    wait_until 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
    local endpoint="http://127.0.0.1:$port/devstoreaccount1"
    # The emulator's documented development account key (not a secret).
    local key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    export DM_TEST_AZURE_STORAGE="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=$endpoint;"
    export DM_TEST_AZURE_BLOB_ENDPOINT=$endpoint
}
