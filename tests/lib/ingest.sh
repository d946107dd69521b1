#!/usr/bin/env bash
# ingest.sh - helpers for the ingestion integration tests (source after common.sh):
#   start_sim [feed-sim args...]  simulator on a free port; exports NIVODA_* and SIM (base URL)
#   start_worker NAME [env...]    a worker (WORKER_CONCURRENCY from the environment)
#   sim_stat JQ_PATH              a figure from the simulator's /admin/stats
#   sim_faults JSON               POST /admin/faults
#   latest_run                    the newest run id
#   full_run                      `diamond scheduler --full`, then the new run's id
#   estimated_records RUN         the stones the scheduler planned for RUN
#   check_ingested LABEL RUN N    RUN fetched exactly N stones: checks (named LABEL...) that
#                                 every partition completed, N raw rows and records, and that
#                                 the partitions' price bands cover every raw row once
#   wait_run_terminal RUN [S]     every partition completed or failed
#   expected_pages RUN            pages the feed must serve: sum over partitions of
#                                 ceil(records/50) + 1 (the final empty page)
#   inject_work_item ID BODY      put a raw message on work-items (as a producer would)
export NIVODA_USERNAME=sim NIVODA_PASSWORD=sim NIVODA_MAX_RPS=100000
export WATERMARK_DIR=$T/watermarks
# Short peek-lock so redelivery after a crash or abandon is quick (sweeper stale = 5 x lock).
export WORK_ITEMS_LOCK_MS=${WORK_ITEMS_LOCK_MS:-2000}

start_sim() {
    local port
    port=$(free_port)
    spawn sim "$DIAMOND" feed-sim --port "$port" "$@"
    wait_until 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
    export SIM="http://127.0.0.1:$port"
    export NIVODA_ENDPOINT="$SIM/graphql"
}

start_worker() {
    local name=$1; shift
    spawn "$name" env "$@" "$DIAMOND" worker
}

sim_stat() { curl -fsS "$SIM/admin/stats" | jq -r "$1"; }
sim_faults() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$SIM/admin/faults" >/dev/null; }

latest_run() { psql_q "SELECT run_id FROM run_metadata ORDER BY started_at DESC LIMIT 1"; }
full_run() { "$DIAMOND" scheduler --full >/dev/null && latest_run; }
estimated_records() { psql_q "SELECT estimated_records FROM run_metadata WHERE run_id = '$1'"; }

run_terminal() {
    [ "$(psql_q "SELECT count(*) > 0 AND bool_and(completed OR failed) FROM partition_progress WHERE run_id = '$1'")" = t ]
}
wait_run_terminal() { wait_until "${2:-180}" run_terminal "$1"; }

expected_pages() {
    psql_q "SELECT COALESCE(sum(ceil(records / 50.0) + 1), 0)::bigint FROM partition_progress WHERE run_id = '$1'"
}

inject_work_item() {
    psql_q "INSERT INTO queue_messages (queue, message_id, body, visible_at, expires_at)
            VALUES ('work-items', '$1', convert_to(\$b\$$2\$b\$, 'UTF8'), now(), now() + interval '1 day')" >/dev/null
}

# Every raw row lies in exactly one partition of RUN by its price (whole dollars), and each
# partition holds exactly its `records`: no stone fetched by two partitions, none missed.
partition_coverage_ok() {
    local run=$1
    local bad
    bad=$(psql_q "WITH raw AS (SELECT supplier_stone_id, floor((payload->>'price')::numeric / 100)::bigint AS dollars
                               FROM raw_diamonds_nivoda WHERE last_seen_run_id = '$run'),
                  hits AS (SELECT r.supplier_stone_id, count(p.partition_id) AS n FROM raw r
                           LEFT JOIN partition_progress p ON p.run_id = '$run'
                           AND r.dollars BETWEEN p.min_price AND p.max_price GROUP BY 1),
                  per AS (SELECT p.partition_id, p.records, count(r.*) AS n FROM partition_progress p
                          LEFT JOIN raw r ON r.dollars BETWEEN p.min_price AND p.max_price
                          WHERE p.run_id = '$run' GROUP BY 1, 2)
             SELECT (SELECT count(*) FROM hits WHERE n <> 1) + (SELECT count(*) FROM per WHERE n <> records)")
    [ "$bad" = 0 ]
}

check_ingested() { # check_ingested LABEL RUN EXPECTED
    local label=$1 run=$2 n=$3
    check_eq "${label}every partition completed" 0 "$(psql_q "SELECT count(*) FROM partition_progress WHERE run_id = '$run' AND NOT completed")"
    check_eq "${label}raw rows exact" "$n" "$(psql_q 'SELECT count(*) FROM raw_diamonds_nivoda')"
    check_eq "${label}records exact" "$n" "$(psql_q "SELECT sum(records) FROM partition_progress WHERE run_id = '$run'")"
    check "${label}bounds exact" partition_coverage_ok "$run"
}
