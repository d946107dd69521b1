#!/usr/bin/env bash
# deploy_static.sh - the deployment files checked without a cloud or a Docker engine:
#   terraform_check.js  every .tf parses (@cdktf/hcl2json); prod and staging values = the seed's
#   workflows_check.js  the three workflows parse (yaml) and build/push/deploy the five images
#   docker_check.js     Dockerfiles' stages, users, ports, health checks, entrypoints; the runtime
#                       packages provide every library `ldd $DIAMOND_BIN` lists (dpkg -S)
# The per-service environment variable names are checked by tests/unit/test_deploy_env.c.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
cd "$DM_SOURCE_DIR"

run_js() { # NAME: run tests/deploy/NAME.js, show its lines, pass when it exits 0
    local out status=0
    out=$(node "tests/deploy/$1.js" 2>&1) || status=$?
    echo "$out" | sed "s/^/  [$1] /"
    check "$1: $(echo "$out" | tail -1)" [ "$status" = 0 ]
}

check "node is available" command -v node
run_js terraform_check
run_js workflows_check
run_js docker_check
check ".dockerignore keeps the build context free of build dirs and secrets" \
    grep -qE '^build\*/' .dockerignore
finish
