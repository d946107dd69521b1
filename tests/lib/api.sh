#!/usr/bin/env bash
export LC_ALL=C
# api.sh - helpers for the API integration tests (sourced after tests/lib/common.sh):
# start_api (spawns `diamond api` on a free port and waits for /health and its search index),
# wait_index (the index has applied every committed change), req (one HTTP
# request; status in $STATUS, body in $T/body, headers in $T/headers), jqb (jq over the last
# body), sign (HMAC-SHA256 of the canonical string), seed_diamonds N, trade_stones N [M]
# (a feed simulator as the supplier and its offers in diamonds, for holds and purchases).

# start_api NAME [ENV=VALUE...]: starts the API with extra environment; sets $API.
start_api() {
    local name=$1; shift
    API_PORT=$(free_port)
    API="http://127.0.0.1:$API_PORT"
    spawn "$name" env PORT="$API_PORT" "$@" "$DIAMOND" api
    wait_until 20 curl -sf "$API/health"
    # Searches are answered from the in-memory index once it has loaded (before that, by
    # PostgreSQL): tests start from a loaded index, as a replica serves once it is ready.
    case " $* " in *" API_SEARCH_INDEX=false "*) return 0 ;; esac
    API_DB=$DATABASE_URL
    local a
    for a in "$@"; do case $a in DATABASE_URL=*) API_DB=${a#DATABASE_URL=} ;; esac; done
    if psql -qAt "$API_DB" -c "SELECT 1" >/dev/null 2>&1; then wait_index; fi
}

# index_caught_up: the API's search index has loaded and applied every committed change to
# diamonds (its lastSeq has reached the database's latest change_seq).
index_caught_up() {
    local h seq
    h=$(curl -s "$API/health") || return 1
    [ "$(echo "$h" | jq -r '.searchIndex.status')" = ok ] || return 1
    seq=$(psql -qAt "${API_DB:-$DATABASE_URL}" -c "SELECT coalesce(max(change_seq), 0) FROM diamonds") || return 1
    [ "$(echo "$h" | jq -r '.searchIndex.lastSeq')" -ge "$seq" ]
}
# wait_index: after a write to diamonds, before a search that must see it.
wait_index() { wait_until 30 index_caught_up; }

# req METHOD PATH [BODY] [HEADER...]
req() {
    local method=$1 path=$2 body=${3-} ; shift 2; [ $# -gt 0 ] && shift
    rm -f "$T/body"; : >"$T/body"
    local args=(-s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$method")
    for h in "$@"; do args+=(-H "$h"); done
    if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
    STATUS=$(curl "${args[@]}" "$API$path" || true)
}

jqb() { jq -r "$@" <"$T/body"; }
header() { grep -i "^$1:" "$T/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# sign SECRET METHOD TARGET TIMESTAMP BODY -> lowercase hex signature
sign() {
    local bh
    bh=$(printf '%s' "$5" | sha256sum | cut -d' ' -f1)
    printf '%s\n%s\n%s\n%s' "$2" "$3" "$4" "$bh" | openssl dgst -sha256 -hmac "$1" -hex |
        sed 's/^.*= //'
}

# new_key NAME [PERMISSIONS] -> prints the key
new_key() {
    if [ -n "${2-}" ]; then
        "$DIAMOND" apikey create --name "$1" --permissions "$2" 2>/dev/null | tail -1
    else
        "$DIAMOND" apikey create --name "$1" 2>/dev/null | tail -1
    fi
}

# seed_diamonds N [OFFSET]: N synthetic active diamonds with distinct created_at.
seed_diamonds() {
    local n=$1 off=${2:-0}
    psql_q "INSERT INTO diamonds (supplier_stone_id, offer_id, shape, carats, color, clarity,
        cut, lab_grown, feed_price, price_per_carat, retail_price, markup_ratio, rating,
        availability, content_hash, created_at)
      SELECT 'stone-'||g, 'offer-'||g, (ARRAY['ROUND','OVAL','PEAR','HEART','EMERALD'])[1+g%5],
        (0.30 + (g%300)/100.0)::numeric(6,2),
        (ARRAY['D','E','F','G','H','I','J'])[1+g%7],
        (ARRAY['FL','IF','VVS1','VVS2','VS1','VS2','SI1'])[1+(g/7)%7],
        CASE WHEN g%3=0 THEN NULL ELSE 'EX' END, g%2=0,
        (100+g*7)::numeric(12,2), ((100+g*7)/(0.30 + (g%300)/100.0))::numeric(12,2),
        round((100+g*7)*1.15, 2), 1.15, 5,
        (ARRAY['available','available','available','on_hold','sold'])[1+g%5],
        md5(g::text)||md5(g::text),
        timestamptz '2026-01-01' + (g % 97 || ' minutes')::interval
      FROM generate_series($((off + 1)), $((off + n))) g" >/dev/null
}

# stop_api NAME: SIGTERM the API started as NAME and check a clean exit (status 0; under ASan a
# leak or error report makes it non-zero).
stop_api() {
    local var="PID_${1//-/_}" rc=0
    kill -TERM "${!var}"
    wait "${!var}" || rc=$?
    check_eq "$1 exits 0 after SIGTERM (no leak or sanitizer report)" 0 "$rc"
    if [ "$rc" != 0 ]; then tail -30 "$T/$1.log"; fi
}

# trade_stones N [M]: a feed simulator as the supplier (300 stones, credentials u1/p1; its URL in
# $SIM) and, in diamonds, N of its available stones then M (default 0) unavailable ones, as
# $D1, $D2, ... (diamond ids of offers the supplier knows). Checks the simulator had N.
trade_stones() {
    local n=$1 m=${2:-0} i=0 offer stone
    local port
    port=$(free_port)
    spawn sim "$DIAMOND" feed-sim --port "$port" --count 300 --username u1 --password p1
    SIM="http://127.0.0.1:$port"
    wait_until 20 curl -sf "$SIM/admin/stats"
    curl -s "$SIM/admin/stones?offset=0&limit=300" >"$T/stones"
    jq -r --argjson n "$n" '[.items[] | select(.diamond.availability == "AVAILABLE")][:$n][]
        | "\(.id) \(.diamond.id)"' "$T/stones" >"$T/avail"
    jq -r --argjson m "$m" '[.items[] | select(.diamond.availability != "AVAILABLE")][:$m][]
        | "\(.id) \(.diamond.id)"' "$T/stones" >"$T/unavail"
    check_eq "simulator has stones to trade" "$n" "$(wc -l <"$T/avail")"
    check_eq "simulator has unavailable stones to trade" "$m" "$(wc -l <"$T/unavail")"
    while read -r offer stone; do
        i=$((i + 1))
        psql_q "INSERT INTO diamonds (supplier_stone_id, offer_id, shape, carats, color, clarity,
            feed_price, price_per_carat, retail_price, markup_ratio, availability, content_hash)
            VALUES ('$stone', '$offer', 'ROUND', 1.00, 'G', 'VS1', 1000, 1000, 1150, 1.15,
            'available', repeat('a', 64))" >/dev/null
        eval "D$i=\$(psql_q \"SELECT id FROM diamonds WHERE offer_id = '$offer'\")"
    done < <(cat "$T/avail" "$T/unavail")
}
