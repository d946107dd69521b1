# consol_lib.bash - helpers for the consolidator's shell tests (sourced after common.sh; not a
# test itself: only *.sh files are registered). Raw rows are written directly with the SQL
# generator of consol_lib.sql, so the consolidator is tested alone, through its queue.

consol_setup() { # consol_setup NAME
    new_db "$1"
    psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f "$DM_SOURCE_DIR/tests/integration/consol_lib.sql" >/dev/null 2>&1
    export WATERMARK_DIR=$T/wm
    mkdir -p "$WATERMARK_DIR"
}
make_run() { psql_q "SELECT dm_test.make_run('$1', ${2:-0}, ${3:-false})"; }
ingest() { psql_q "SELECT dm_test.ingest('$1', $2, $3, $4)" >/dev/null; }
wait_completed() { wait_until "${2:-600}" run_completed "$1"; }
stat_of() { psql_q "SELECT $2 FROM run_metadata WHERE run_id = '$1'"; }
wm_field() { if [ -f "$WATERMARK_DIR/watermark.json" ]; then jq -r ".$1" "$WATERMARK_DIR/watermark.json"; else echo none; fi; }
updated_to_iso() { psql_q "SELECT to_char(updated_to AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM run_metadata WHERE run_id = '$1'"; }
log_has() { grep -q -- "$2" "$T/$1.log"; }
finish_run() { psql_q "SELECT dm_test.finish_run('$1')" >/dev/null; }
# consolidate RUN [--force]: the workers finish the run, then the CONSOLIDATE is sent.
consolidate() { finish_run "$1"; "$DIAMOND" consolidate "$@" >/dev/null; }
