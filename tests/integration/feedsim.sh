#!/usr/bin/env bash
# feedsim.sh - `diamond feed-sim` as operators run it: the command-line contract (--help, bad
# options exit 2, the listening line, SIGTERM), the same seed gives the same inventory byte for
# byte across processes, POST /admin/churn and --churn-percent change exactly what they
# announce, start-up fault flags (429 with Retry-After, 5xx limited to a price band), expiring
# tokens, and malformed or hostile requests answered with errors while the process lives on.
. "$DM_SOURCE_DIR/tests/lib/common.sh"

gql() { # gql BASE JSON -> body on stdout, status in $T/status
    curl -s -o "$T/gql.out" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$2" "$1/graphql" >"$T/status"
    cat "$T/gql.out"
}
auth_body='{"query":"query ($u: String!, $p: String!) { authenticate { username_and_password(username: $u, password: $p) { token } } }","variables":{"u":"sim","p":"sim"}}'
token() { gql "$1" "$auth_body" | jq -r '.data.authenticate.username_and_password.token'; }
count_body() { # count_body TOKEN QUERY_JSON
    printf '{"query":"query ($t: String!, $q: DiamondQuery) { as(token: $t) { diamonds_by_query_count(query: $q) } }","variables":{"t":"%s","q":%s}}' "$1" "$2"
}

# --- command line ----------------------------------------------------------------------------
check "--help exits 0 and documents the fault flags" bash -c "'$DIAMOND' feed-sim --help | grep -q -- --malformed-rate"
set +e
"$DIAMOND" feed-sim --bogus >/dev/null 2>&1; rc_unknown=$?
"$DIAMOND" feed-sim --count lots >/dev/null 2>&1; rc_bad=$?
set -e
check_eq "unknown option exits 2" 2 "$rc_unknown"
check_eq "bad value exits 2" 2 "$rc_bad"

# --- determinism -------------------------------------------------------------------------------
spawn_sim a --seed 77 --count 3000
spawn_sim b --seed 77 --count 3000
spawn_sim c --seed 78 --count 3000
check_eq "GET / answers 200" 200 "$(curl -s -o "$T/root.json" -w '%{http_code}' "$URL_a/")"
check_eq "GET / describes the simulator" 3000 "$(jq -r .stones "$T/root.json")"
curl -s "$URL_a/admin/stones?offset=0&limit=100000" >"$T/a.json"
curl -s "$URL_b/admin/stones?offset=0&limit=100000" >"$T/b.json"
curl -s "$URL_c/admin/stones?offset=0&limit=100000" >"$T/c.json"
check_eq "3000 stones dumped" 3000 "$(jq '.items | length' "$T/a.json")"
check "same seed, same inventory byte for byte" cmp -s "$T/a.json" "$T/b.json"
check "another seed, another inventory" bash -c "! cmp -s '$T/a.json' '$T/c.json'"
ta=$(token "$URL_a"); tb=$(token "$URL_b")
page() { printf '{"query":"query ($t: String!, $o: Int) { as(token: $t) { diamonds_by_query(offset: $o, limit: 50, order: {type: createdAt, direction: ASC}, query: {dollar_value: {from: 1000, to: 9000}}) { total_count items { id } } } }","variables":{"t":"%s","o":%s}}' "$1" "$2"; }
gql "$URL_a" "$(page "$ta" 100)" >"$T/pa.json"
gql "$URL_b" "$(page "$tb" 100)" >"$T/pb.json"
check "same seed, same GraphQL page byte for byte" cmp -s "$T/pa.json" "$T/pb.json"
check_eq "a page holds 50 items" 50 "$(jq '.data.as.diamonds_by_query.items | length' "$T/pa.json")"

# --- churn -------------------------------------------------------------------------------------
curl -s -X POST -H 'Content-Type: application/json' -d '{"percent":5}' "$URL_a/admin/churn" >"$T/churn.json"
curl -s "$URL_a/admin/stones?offset=0&limit=100000" >"$T/a2.json"
changed=$(jq .changed "$T/churn.json"); removed=$(jq .removed "$T/churn.json"); added=$(jq .added "$T/churn.json")
check_eq "5 % of 3000 stones touched" 150 "$((changed + removed))"
jq -r '.items[] | [.diamond.id, (.|tojson)] | @tsv' "$T/a.json" | sort >"$T/before.tsv"
jq -r '.items[] | [.diamond.id, (.|tojson)] | @tsv' "$T/a2.json" | sort >"$T/after.tsv"
cut -f1 "$T/before.tsv" >"$T/before.ids"; cut -f1 "$T/after.tsv" >"$T/after.ids"
check_eq "removed stones are gone" "$removed" "$(comm -23 "$T/before.ids" "$T/after.ids" | wc -l)"
check_eq "new stones appeared" "$added" "$(comm -13 "$T/before.ids" "$T/after.ids" | wc -l)"
check_eq "exactly the announced stones changed" "$changed" \
    "$(join -t $'\t' "$T/before.tsv" "$T/after.tsv" | awk -F'\t' '$2 != $3' | wc -l)"
jq -r '.items as $i | .updated as $u | range(0; $i|length) | "\($i[.].diamond.id)\t\($u[.])"' "$T/a.json" | sort >"$T/ub.tsv"
jq -r '.items as $i | .updated as $u | range(0; $i|length) | "\($i[.].diamond.id)\t\($u[.])"' "$T/a2.json" | sort >"$T/ua.tsv"
check_eq "and exactly those got new updated times" "$changed" \
    "$(join -t $'\t' "$T/ub.tsv" "$T/ua.tsv" | awk -F'\t' '$2 != $3' | wc -l)"
check_eq "bad churn body is a 400" 400 "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"percent":"x"}' "$URL_a/admin/churn")"

spawn_sim d --seed 77 --count 3000 --churn-percent 10
wait_until 10 grep -q 'feed-sim churn day 1' "$T/d.log"
live=$(curl -s "$URL_d/" | jq .stones)
line=$(grep -o '[0-9]* removed, [0-9]* added' "$T/d.log" | head -n 1)
r=${line%% removed*}; a=${line##*, }; a=${a%% added}
check_eq "--churn-percent applied one day at start" "$((3000 - r + a))" "$live"

# --- faults and tokens from the command line ---------------------------------------------------
spawn_sim e --seed 1 --count 2000 --rate-limit 1
code=$(curl -s -D "$T/h429" -o "$T/b429" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$auth_body" "$URL_e/graphql")
check_eq "--rate-limit 1 answers 429" 429 "$code"
check "with Retry-After: 1" grep -qi '^Retry-After: 1' "$T/h429"
check "and a GraphQL-style error" jq -e '.errors[0].message' "$T/b429"

spawn_sim f --seed 1 --count 2000 --error-rate 1 --fault-price-min 1000 --fault-price-max 2000
tf=$(token "$URL_f")
check "band faults leave authentication alone" [ -n "$tf" ]
gql "$URL_f" "$(count_body "$tf" '{"dollar_value":{"from":1500,"to":1600}}')" >/dev/null
check_eq "a query overlapping the band gets 503" 503 "$(cat "$T/status")"
n_out=$(gql "$URL_f" "$(count_body "$tf" '{"dollar_value":{"from":3000,"to":9000}}')" | jq .data.as.diamonds_by_query_count)
check_eq "a query outside the band succeeds" 200 "$(cat "$T/status")"
check "with a count" [ "$n_out" -gt 0 ]
curl -s -X POST -d '{"reset":true}' "$URL_f/admin/faults" >/dev/null
gql "$URL_f" "$(count_body "$tf" '{"dollar_value":{"from":1500,"to":1600}}')" >/dev/null
check_eq "faults cleared live" 200 "$(cat "$T/status")"
# Range filters {from, to}: each bound read by its type, one-element array form, exact refusals.
err_of() { gql "$URL_f" "$(count_body "$tf" "$1")" | jq -r '.errors[0].message'; }
check_eq "a price range as a one-element array counts the same" "$n_out" \
    "$(gql "$URL_f" "$(count_body "$tf" '{"dollar_value":[{"from":3000,"to":9000}]}')" | jq .data.as.diamonds_by_query_count)"
check_eq "a range field other than from/to is refused" "DiamondQuery.dollar_value has an unknown field." \
    "$(err_of '{"dollar_value":{"from":1,"upto":2}}')"
check_eq "a price bound that is not a number is refused" "DiamondQuery.dollar_value bounds must be numbers." \
    "$(err_of '{"dollar_value":{"from":"cheap"}}')"
check_eq "a time bound that is not ISO-8601 is refused" "DiamondQuery.updated bounds must be ISO-8601 date-times." \
    "$(err_of '{"updated":{"from":"yesterday"}}')"
check_eq "a range that is not an object is refused" "DiamondQuery.updated must be an object {from, to}." \
    "$(err_of '{"updated":5}')"
check "stats count the injected faults" [ "$(curl -s "$URL_f/admin/stats" | jq .faults.error)" -ge 1 ]

spawn_sim g --seed 1 --count 100 --token-ttl 2
tg=$(token "$URL_g")
check_eq "a fresh token works" 100 "$(gql "$URL_g" "$(count_body "$tg" '{}')" | jq '.data.as.diamonds_by_query_count')"
sleep 2.2 # let the 2 s token lifetime pass (waiting for time itself, not for a process)
msg=$(gql "$URL_g" "$(count_body "$tg" '{}')" | jq -r '.errors[0].message')
check_eq "an expired token is refused Nivoda-style" "Token expired" "$msg"

# --- hostile input -----------------------------------------------------------------------------
bad_bodies=(
    'not json'
    '{"query":"{ as(token: \"x\") { diamonds_by_query { items { id } } }"}'
    '{"query":"query { __schema { types { name } } }"}'
    '{"query":"{ a(b: \"\\ud800\") }"}'
    "{\"query\":\"$(printf '{a%.0s' $(seq 1 200))\"}"
    "{\"query\":\"{ a(x: $(printf '[%.0s' $(seq 1 500))1$(printf ']%.0s' $(seq 1 500))) }\"}"
    '{"query":"{ authenticate { username_and_password(username: \"sim\", password: \"sim\") { token } } }","variables":[]}'
    '{"query":"mutation { as(token: \"t\") { create_order(items: [{offerId: 1}]) } }"}'
)
for b in "${bad_bodies[@]}"; do
    out=$(gql "$URL_a" "$b")
    st=$(cat "$T/status")
    check "hostile body answered $st with errors: ${b:0:40}" bash -c "echo '$st' | grep -qE '^(200|400)$' && echo \"\$1\" | jq -e '.errors[0].message' >/dev/null" _ "$out"
done
head -c 300000 /dev/urandom >"$T/random.bin"
check "random bytes do not kill it" bash -c "curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @'$T/random.bin' '$URL_a/graphql' | grep -qE '^(400|413)$'"
head -c 2000000 /dev/zero | tr '\0' 'a' >"$T/big.bin"
check_eq "an oversize body is refused" 413 "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$T/big.bin" "$URL_a/graphql")"
check_eq "GET /graphql is 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' "$URL_a/graphql")"
check_eq "unknown path is 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL_a/nope")"
check_eq "still serving after all that" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL_a/")"
check "request log lines" grep -q '"msg":"POST /graphql op=' "$T/a.log"
check "the password never reaches the log" bash -c "! grep -q '\"p\":\"sim\"' '$T/a.log'"

# --- graceful stop -----------------------------------------------------------------------------
kill -TERM "$PID_a"
set +e
wait "$PID_a"; rc=$?
set -e
check_eq "SIGTERM stops it cleanly" 0 "$rc"
finish
