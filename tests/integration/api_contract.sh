#!/usr/bin/env bash
# api_contract.sh - the reference's own clients against our /api/v2 (issue 16): every request
# in tests/integration/contract/reference_v2.json is sent exactly as the reference's dashboard
# (shaunnez/diamond-opus 217db8b, apps/dashboard) or storefront client sends it (X-API-Key and
# Content-Type: application/json on every request, its query strings and bodies), and every
# field its pages read is checked for name, type and nullability (shared/spec/
# reference-contract.md §4-5), against a fixture catalogue with runs in every state.
#
# The table is the test: one entry per request, so a new endpoint is one entry. Entry keys:
#   name, method, path, body (JSON, sent as is), status (a number or "2xx"),
#   before_sql (run first), fields {jq path: type}, values {jq expr: JSON value},
#   sql_equals {jq expr: SQL whose one value the expression's text must equal},
#   openapi (the route's pattern): the served body has every key the OpenAPI document's
#   success schema for that route requires (the document describes the shapes as served),
#   request_headers ["Name: value", ...] (added), response_headers {name: extended regex}.
# Types: int number string bool uuid iso (ISODate: UTC, ms, Z) datetime (any ISO-8601 time with
# an offset: the search's diamond times) decimal (a DECIMAL as a string)
# run_type worker_status object array null, "=text" (that exact value), "T|null" (always
# present, may be null), "T?" (omitted or T). A path may yield several values (.data[].x): there
# must be at least one and each must match. {{RUNNING}} ... {{DIAMOND}} name fixture ids.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
. "$DM_SOURCE_DIR/tests/lib/api.sh"

TABLE="$DM_SOURCE_DIR/tests/integration/contract/reference_v2.json"
new_db api_contract
seed_diamonds 30
RUNNING=a1111111-1111-4111-8111-111111111111
COMPLETED=a2222222-2222-4222-8222-222222222222
FAILED=a3333333-3333-4333-8333-333333333333
PARTIAL=a4444444-4444-4444-8444-444444444444
CONSOLIDATING=a5555555-5555-4555-8555-555555555555
CANCELLED=a6666666-6666-4666-8666-666666666666
psql_q "
UPDATE diamonds SET feed = 'demo' WHERE supplier_stone_id IN ('stone-1', 'stone-2', 'stone-3', 'stone-4', 'stone-5');
UPDATE diamonds SET status = 'deleted', deleted_at = now() WHERE supplier_stone_id = 'stone-30';
INSERT INTO run_metadata (run_id, run_type, updated_from, updated_to, expected_workers, started_at,
    completed_at, consolidation_completed_at, consolidate_sent_at, consolidation_started_at, cancelled_at,
    watermark_before, watermark_after, stats_processed, stats_new)
 VALUES ('$RUNNING', 'incremental', now() - interval '1 day', now() - interval '5 minutes', 2, now() - interval '5 minutes',
         NULL, NULL, NULL, NULL, NULL, date_trunc('second', now() - interval '3 days'), NULL, 0, 0),
        ('$COMPLETED', 'full', '2000-01-01', now() - interval '3 days', 1, date_trunc('second', now() - interval '3 days'),
         date_trunc('second', now() - interval '3 days') + interval '20 minutes',
         date_trunc('second', now() - interval '3 days') + interval '20 minutes',
         now() - interval '3 days', now() - interval '3 days', NULL,
         NULL, date_trunc('second', now() - interval '3 days'), 60, 60),
        ('$FAILED', 'full', '2000-01-01', now() - interval '2 hours', 3, now() - interval '2 hours',
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0),
        ('$PARTIAL', 'incremental', now() - interval '1 day', now() - interval '30 minutes', 3, now() - interval '30 minutes',
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0),
        ('$CONSOLIDATING', 'incremental', now() - interval '1 day', now() - interval '1 hour', 2, now() - interval '1 hour',
         NULL, NULL, now() - interval '2 minutes', now() - interval '1 minute', NULL, NULL, NULL, 0, 0),
        ('$CANCELLED', 'full', '2000-01-01', now() - interval '4 hours', 2, now() - interval '4 hours',
         NULL, NULL, NULL, NULL, now() - interval '3 hours', NULL, NULL, 0, 0);
INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, estimated_records, next_offset, records,
    completed, failed, cancelled, last_error, updated_at)
 VALUES ('$RUNNING', 'p0', 0, 999, 10, 10, 10, true, false, false, NULL, now()),
        ('$RUNNING', 'p1', 1000, 99999, 40, 5, 5, false, false, false, NULL, now()),
        ('$COMPLETED', 'p0', 0, 99999, 60, 60, 60, true, false, false, NULL, now() - interval '3 days'),
        ('$FAILED', 'p0', 0, 999, 100, 100, 100, true, false, false, NULL, now() - interval '2 hours'),
        ('$FAILED', 'p1', 1000, 4999, 100, 100, 100, true, false, false, NULL, now() - interval '2 hours'),
        ('$FAILED', 'p2', 5000, 99999, 300, 50, 50, false, true, false, 'feed timeout', now() - interval '2 hours'),
        ('$PARTIAL', 'p0', 0, 999, 20, 20, 20, true, false, false, NULL, now()),
        ('$PARTIAL', 'p1', 1000, 4999, 20, 0, 0, false, true, false, 'HTTP 500', now()),
        ('$PARTIAL', 'p2', 5000, 99999, 20, 10, 10, false, false, false, NULL, now()),
        ('$CONSOLIDATING', 'p0', 0, 999, 5, 5, 5, true, false, false, NULL, now() - interval '3 minutes'),
        ('$CONSOLIDATING', 'p1', 1000, 99999, 5, 5, 5, true, false, false, NULL, now() - interval '3 minutes'),
        ('$CANCELLED', 'p0', 0, 999, 10, 10, 10, true, false, false, NULL, now() - interval '3 hours'),
        ('$CANCELLED', 'p1', 1000, 99999, 10, 2, 2, false, true, true, NULL, now() - interval '3 hours');
INSERT INTO worker_runs (run_id, partition_id, worker_id, status, records_processed, error_message,
    work_item_payload, started_at, completed_at)
 SELECT p.run_id, p.partition_id, CASE WHEN p.records > 0 THEN 'w-' || p.partition_id END,
        CASE WHEN p.failed THEN 'failed' WHEN p.completed THEN 'completed' ELSE 'running' END,
        p.records, p.last_error,
        CASE WHEN p.run_id <> '$CONSOLIDATING' THEN jsonb_build_object('type', 'WORK_ITEM', 'runId', p.run_id,
             'partitionId', p.partition_id, 'minPrice', p.min_price, 'maxPrice', p.max_price,
             'estimatedRecords', p.estimated_records, 'offset', 0, 'limit', 30) END,
        r.started_at, CASE WHEN p.completed OR (p.failed AND p.run_id <> '$PARTIAL') THEN p.updated_at END
 FROM partition_progress p JOIN run_metadata r USING (run_id);
INSERT INTO raw_diamonds_nivoda (supplier_stone_id, offer_id, payload, payload_hash, run_id, last_seen_run_id, consolidation_status)
 SELECT 'raw-'||g, 'o-'||g, '{}', repeat('0', 64), '$CONSOLIDATING', '$CONSOLIDATING',
        CASE WHEN g <= 4 THEN 'done' ELSE 'pending' END FROM generate_series(1, 10) g;" >/dev/null
DIAMOND_ID=$(psql_q "SELECT id FROM diamonds WHERE status = 'active' ORDER BY supplier_stone_id LIMIT 1")

start_api api HMAC_SECRETS='{}'
KEY=$(new_key reference-dashboard read,trade,admin) # the reference knows no permissions: all of them

sed -e "s/{{RUNNING}}/$RUNNING/g" -e "s/{{COMPLETED}}/$COMPLETED/g" -e "s/{{FAILED}}/$FAILED/g" \
    -e "s/{{PARTIAL}}/$PARTIAL/g" -e "s/{{CONSOLIDATING}}/$CONSOLIDATING/g" \
    -e "s/{{CANCELLED}}/$CANCELLED/g" -e "s/{{DIAMOND}}/$DIAMOND_ID/g" "$TABLE" >"$T/table.json"

# t(type): the type test of the table's type names, over one value.
PRELUDE='
def t($s):
  if $s | startswith("=") then (tostring == $s[1:])
  elif $s | endswith("?") then (. == null or t($s[:-1]))
  elif $s | endswith("|null") then (. == null or t($s[:-5]))
  elif $s == "int" then (type == "number" and . == floor)
  elif $s == "number" then type == "number"
  elif $s == "string" then type == "string"
  elif $s == "bool" then type == "boolean"
  elif $s == "object" then type == "object"
  elif $s == "array" then type == "array"
  elif $s == "null" then . == null
  elif $s == "uuid" then (type == "string" and test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))
  elif $s == "iso" then (type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$"))
  elif $s == "datetime" then (type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}([.][0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"))
  elif $s == "decimal" then (type == "string" and test("^-?[0-9]+([.][0-9]+)?$"))
  elif $s == "run_type" then (. == "full" or . == "incremental")
  elif $s == "worker_status" then (. == "running" or . == "completed" or . == "failed")
  else error("unknown type " + $s) end;'

# has_type PATH TYPE: every value PATH yields in the last body (at least one) is of TYPE.
has_type() {
    jq -e --arg ty "$2" "$PRELUDE [$1] as \$v | (\$v | length) > 0 and (\$v | all(t(\$ty)))" \
        "$T/body" >/dev/null 2>&1
}

# call METHOD PATH BODY [HEADER...]: the request as axios sends it from the reference's
# dashboard.
call() {
    local args=(-s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$1" -H "X-API-Key: $KEY"
        -H 'Content-Type: application/json' -H 'Accept: application/json, text/plain, */*')
    if [ -n "$3" ]; then args+=(--data-binary "$3"); fi
    local url="$API$2"
    shift 3
    for h in "$@"; do args+=(-H "$h"); done
    STATUS=$(curl "${args[@]}" "$url" || true)
}

curl -s "$API/openapi.json" >"$T/openapi.json"

# described PATTERN METHOD STATUS: the last body's data (each item of a list) has every key the
# OpenAPI success schema of the route requires.
described() {
    jq -e --slurpfile doc "$T/openapi.json" --arg route "$1" --arg m "$2" --arg code "$3" '
      ($doc[0].paths[$route][$m].responses[$code].content["application/json"].schema.properties.data) as $d
      | ($d["$ref"] // $d.items["$ref"] | split("/") | last) as $name
      | ($doc[0].components.schemas[$name].required // []) as $req
      | ($req | length) > 0 and
        ([if $d.items then .data[] else .data end | . as $o | $req | map(. as $k | $o | has($k)) | all]
         | length > 0 and all)' "$T/body" >/dev/null 2>&1
}

n=$(jq length "$T/table.json")
for i in $(seq 0 $((n - 1))); do
    jq -c ".[$i]" "$T/table.json" >"$T/entry.json"
    name=$(jq -r .name "$T/entry.json")
    sql=$(jq -r '.before_sql // empty' "$T/entry.json")
    if [ -n "$sql" ]; then psql_q "$sql" >/dev/null; fi
    mapfile -t extra < <(jq -r '.request_headers // [] | .[]' "$T/entry.json")
    call "$(jq -r .method "$T/entry.json")" "$(jq -r .path "$T/entry.json")" \
        "$(jq -c '.body // empty' "$T/entry.json")" ${extra[@]+"${extra[@]}"}
    want=$(jq -r .status "$T/entry.json")
    got=$STATUS
    if [ "$want" = 2xx ] && [ "${STATUS:0:1}" = 2 ]; then got=2xx; fi
    check_eq "$name: status" "$want" "$got"
    if [ "$got" != "$want" ]; then head -c 400 "$T/body"; echo; fi
    while IFS=$'\t' read -r hname pattern; do
        [ -n "$hname" ] || continue
        check "$name: header $hname matches $pattern" grep -qiE "^$hname: $pattern"$'\r'"?\$" "$T/headers"
    done < <(jq -r '.response_headers // {} | to_entries[] | [.key, .value] | @tsv' "$T/entry.json")
    route=$(jq -r '.openapi // empty' "$T/entry.json")
    if [ -n "$route" ]; then
        m=$(jq -r '.method | ascii_downcase' "$T/entry.json")
        check "$name: has what the OpenAPI document requires" described "$route" "$m" "$STATUS"
    fi
    while IFS=$'\t' read -r path type; do
        [ -n "$path" ] || continue
        check "$name: $path is $type" has_type "$path" "$type"
    done < <(jq -r '.fields // {} | to_entries[] | [.key, .value] | @tsv' "$T/entry.json")
    while IFS=$'\t' read -r expr value; do
        [ -n "$expr" ] || continue
        check_eq "$name: $expr" "$value" "$(jq -c "$expr" "$T/body" 2>/dev/null || echo '<error>')"
    done < <(jq -r '.values // {} | to_entries[] | [.key, (.value | tojson)] | @tsv' "$T/entry.json")
    while IFS=$'\t' read -r expr query; do
        [ -n "$expr" ] || continue
        check_eq "$name: $expr equals the database" "$(psql_q "$query")" \
            "$(jq -r "$expr" "$T/body" 2>/dev/null || echo '<error>')"
    done < <(jq -r '.sql_equals // {} | to_entries[] | [.key, .value] | @tsv' "$T/entry.json")
done
echo "contract: $n requests"
stop_api api
finish
