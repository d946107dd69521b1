#!/usr/bin/env bash
# foundation.sh - migrate idempotence, schema-too-old refusal, apikey create/list/revoke,
# configuration errors (exit 2, every problem listed), --help on every subcommand.
. "$DM_SOURCE_DIR/tests/lib/common.sh"

# --- migrate is idempotent -------------------------------------------------------------------
new_db foundation
tables=$(psql_q "SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")
out=$("$DIAMOND" migrate)
check "second migrate applies nothing" grep -q "0 migrations applied" <<<"$out"
check_eq "table count unchanged by second migrate" "$tables" \
    "$(psql_q "SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")"
for t in raw_diamonds_nivoda diamonds pricing_rules run_metadata worker_runs partition_progress api_keys; do
    check_eq "seed table $t exists" "1" "$(psql_q "SELECT count(*) FROM pg_tables WHERE tablename='$t'")"
done
check_eq "default pricing rule seeded" "1000|1.1500|5" \
    "$(psql_q "SELECT priority, markup_ratio, rating FROM pricing_rules")"
status=$("$DIAMOND" migrate --status)
check "migrate --status lists applied migrations" grep -q "^applied  001_core_schema" <<<"$status"
check "no migration pending" bash -c "! grep -q pending <<<'$status'"

# --- a service against an older schema refuses to start, naming the migration ---------------
psql -qAt "$DM_TEST_PG_ADMIN_URL" -c "CREATE DATABASE t_empty_$$" >/dev/null
set +e
msg=$(DATABASE_URL="postgresql://postgres@127.0.0.1:$DM_TEST_PG_PORT/t_empty_$$" "$DIAMOND" apikey list 2>&1)
rc=$?
set -e
check_eq "old schema: exit status 1" "1" "$rc"
check "old schema: message names the missing migration" grep -q "missing migration 001_core_schema" <<<"$msg"
psql -qAt -d "postgresql://postgres@127.0.0.1:$DM_TEST_PG_PORT/t_empty_$$" \
    -c "CREATE TABLE schema_migrations (name text primary key, applied_at timestamptz default now())" >/dev/null
psql -qAt -d "postgresql://postgres@127.0.0.1:$DM_TEST_PG_PORT/t_empty_$$" \
    -c "INSERT INTO schema_migrations (name) VALUES ('001_core_schema')" >/dev/null
set +e
msg=$(DATABASE_URL="postgresql://postgres@127.0.0.1:$DM_TEST_PG_PORT/t_empty_$$" "$DIAMOND" apikey list 2>&1)
set -e
check "partially migrated schema names the first missing migration" grep -q "missing migration 002_" <<<"$msg"

# --- apikey create / list / revoke ------------------------------------------------------------
key=$("$DIAMOND" apikey create --name storefront --permissions read,trade 2>/dev/null)
check "key printed alone on its line, >= 24 chars of A-Za-z0-9_-" grep -Eq '^[A-Za-z0-9_-]{24,}$' <<<"$key"
hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
check_eq "only the SHA-256 of the key is stored" "1" "$(psql_q "SELECT count(*) FROM api_keys WHERE key_hash='$hash'")"
check_eq "the key itself is stored nowhere" "0" \
    "$(psql_q "SELECT count(*) FROM api_keys WHERE key_hash='$key' OR client_name='$key'")"
check_eq "permissions stored" "{read,trade}" "$(psql_q "SELECT permissions FROM api_keys WHERE key_hash='$hash'")"
list=$("$DIAMOND" apikey list)
check "list shows the client" grep -q storefront <<<"$list"
check "list never shows the key" bash -c "! grep -qF -- '$key' <<<'$list'"
id=$(psql_q "SELECT id FROM api_keys WHERE key_hash='$hash'")
"$DIAMOND" apikey revoke "$id" >/dev/null
check_eq "revoke deactivates" "f" "$(psql_q "SELECT active FROM api_keys WHERE id='$id'")"
set +e
"$DIAMOND" apikey revoke not-a-uuid >/dev/null 2>&1; rc1=$?
"$DIAMOND" apikey create --name x --permissions write >/dev/null 2>&1; rc2=$?
"$DIAMOND" apikey create >/dev/null 2>&1; rc3=$?
"$DIAMOND" apikey create --name exp --expires 2030-13-45 >/dev/null 2>&1; rc4=$?
set -e
check_eq "revoke with a bad id is a usage error" "2" "$rc1"
check_eq "unknown permission is a usage error" "2" "$rc2"
check_eq "create without --name is a usage error" "2" "$rc3"
check_eq "bad expiry date is a usage error" "2" "$rc4"
"$DIAMOND" apikey create --name temp --expires 2030-01-02 >/dev/null 2>&1
# issue 15 item 17: least privilege by default; admin only when asked for.
check_eq "a key created without --permissions may only read" "{read}" "$(psql_q "SELECT permissions FROM api_keys WHERE client_name='temp'")"
"$DIAMOND" apikey create --name ops --permissions read,trade,admin >/dev/null 2>&1
check_eq "admin when asked for" "{read,trade,admin}" "$(psql_q "SELECT permissions FROM api_keys WHERE client_name='ops'")"
set +e
"$DIAMOND" apikey create --name empty --permissions '' >/dev/null 2>&1; rc5=$?
"$DIAMOND" apikey create --name commas --permissions ',' >/dev/null 2>&1; rc6=$?
set -e
check_eq "an empty permission list (which would mean all) is a usage error" "2 2" "$rc5 $rc6"
check_eq "(and creates no key)" 0 "$(psql_q "SELECT count(*) FROM api_keys WHERE client_name IN ('empty', 'commas')")"
check_eq "expiry stored" "2030-01-02" "$(psql_q "SELECT to_char(expires_at AT TIME ZONE 'UTC','YYYY-MM-DD') FROM api_keys WHERE client_name='temp'")"

# --- configuration errors: exit 2, every problem listed ---------------------------------------
set +e
msg=$(DATABASE_PORT=abc LOG_LEVEL=loud DATABASE_POOL_SIZE=-1 "$DIAMOND" migrate 2>&1); rc=$?
set -e
check_eq "bad configuration exits 2" "2" "$rc"
check "DATABASE_PORT problem listed" grep -q 'DATABASE_PORT="abc"' <<<"$msg"
check "LOG_LEVEL problem listed" grep -q 'LOG_LEVEL="loud"' <<<"$msg"
check "DATABASE_POOL_SIZE problem listed" grep -q 'DATABASE_POOL_SIZE="-1"' <<<"$msg"
set +e
msg=$(env -u DATABASE_URL "$DIAMOND" migrate 2>&1); rc=$?
set -e
check_eq "no database configured exits 2" "2" "$rc"
check "explains how to get a database URL" grep -q "diamond db url" <<<"$msg"

# --- every subcommand answers --help -----------------------------------------------------------
for cmd in $("$DIAMOND" --help | awk '/^  [a-z]/{print $1}'); do
    check "diamond $cmd --help exits 0" "$DIAMOND" "$cmd" --help
done
set +e
"$DIAMOND" no-such-command >/dev/null 2>&1; rc=$?
set -e
check_eq "unknown subcommand exits 2" "2" "$rc"
# Subcommands without arguments refuse one before starting anything: exit 2, naming it.
for cmd in api worker reprice; do
    set +e
    msg=$("$DIAMOND" "$cmd" extra 2>&1 >/dev/null); rc=$?
    set -e
    check_eq "diamond $cmd with an argument exits 2" "2" "$rc"
    check "diamond $cmd names the unexpected argument" grep -q "^$cmd: unexpected argument 'extra'" <<<"$msg"
done
finish
