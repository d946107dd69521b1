#!/usr/bin/env bash
# layers.sh - dependencies run one way (docs/architecture.md "Layers"; issue 17 item 1).
# Checks every project include ("dir/file.h") of every file under src/ against the rule its
# layer keeps, and that services neither parse argv nor print:
#   core/      includes only core/
#   domain/    includes only core/ and domain/
#   adapters/  includes only core/, domain/ and adapters/, and never core/config.h: each
#              adapter takes its own small options struct, filled from the configuration in
#              one place (src/app/adapter_opts.c)
#   store/     includes only core/, domain/, adapters/db/ and store/ (table owners: no queue,
#              no alert, no feed; services send what a state change asks for)
#   app/       includes neither services/ nor commands/
#   services/  never includes commands/; no argv, no printf/puts/putchar, no stdout/stderr
#              (results go back to the caller; logging through core/log is fine)
#   commands/  may include every layer; only src/main.c includes commands/ from outside it
# Prints each violation as file:line: rule, and exits 1 when there is any.
# Usage: layers.sh [SRC_DIR]   (default: the src/ next to this script's tests/ directory)
set -u

src=${1:-"$(cd "$(dirname "$0")/../.." && pwd)/src"}
if [ ! -d "$src" ]; then
    echo "layers.sh: no source directory $src" >&2
    exit 2
fi
cd "$src" || exit 2

# Allowed exceptions, one "file-glob include" pair per line, each with the reason.
# - adapters/feed/ still opens feeds from struct dm_config (dm_feed_open, nivoda's options):
#   the feed open is being reworked (per-feed configuration) and moves to adapter options
#   with it; until then it alone may include core/config.h.
ALLOWED="adapters/feed/* core/config.h"

allowed() { # file include
    local pattern inc
    while read -r pattern inc; do
        # shellcheck disable=SC2053 # the pattern is a glob on purpose
        [ -n "$pattern" ] && [[ "$1" == $pattern ]] && [ "$2" = "$inc" ] && return 0
    done <<<"$ALLOWED"
    return 1
}

violations=0
report() { # file:line message
    echo "$1: $2"
    violations=$((violations + 1))
}

# Layers a file in $1 (a path under src/) may include, as a regex on the include's path.
may_include() {
    case "$1" in
    core/*) echo '^core/' ;;
    domain/*) echo '^(core|domain)/' ;;
    adapters/*) echo '^(core|domain|adapters)/' ;;
    store/*) echo '^(core/|domain/|adapters/db/|store/)' ;;
    app/*) echo '^(core|domain|adapters|app)/' ;;
    services/*) echo '^(core|domain|adapters|store|app|services)/' ;;
    commands/* | main.c) echo '.' ;;
    *) echo '^$' ;; # outside the known layers (reported below)
    esac
}

mapfile -t files < <(find . -type f \( -name '*.c' -o -name '*.h' \) | sed 's|^\./||' | sort)
[ "${#files[@]}" -gt 0 ] || { echo "layers.sh: no C files under $src" >&2; exit 2; }

for f in "${files[@]}"; do
    case "$f" in
    core/* | domain/* | adapters/* | store/* | app/* | services/* | commands/* | main.c) ;;
    *) report "$f:1" "is in no layer: put it under core/, domain/, adapters/, store/, app/, services/ or commands/" ;;
    esac
    rule=$(may_include "$f")
    # file:line:include for every project include of f
    while IFS=: read -r line inc; do
        [ -n "$inc" ] || continue
        if allowed "$f" "$inc"; then
            continue
        fi
        if [[ "$inc" == commands/* ]] && [[ "$f" != main.c ]] && [[ "$f" != commands/* ]]; then
            report "$f:$line" "includes $inc: only src/main.c includes commands/"
            continue
        fi
        if ! [[ "$inc" =~ $rule ]]; then
            report "$f:$line" "includes $inc: ${f%%/*}/ may include only what matches $rule"
        elif [[ "$f" == adapters/* ]] && [[ "$inc" == core/config.h ]]; then
            report "$f:$line" "includes core/config.h: adapters take an options struct (src/app/adapter_opts.c maps the configuration)"
        fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
        sed -E 's/^([0-9]+):[^"]*"([^"]*)".*/\1:\2/')
done

# Services are library calls: no argv, no printing (comment lines are skipped).
for f in "${files[@]}"; do
    case "$f" in services/*) ;; *) continue ;; esac
    while IFS= read -r hit; do
        report "$f:${hit%%:*}" "service code uses '$(sed -E 's/^[0-9]+:[[:space:]]*//' <<<"$hit")': parse arguments and print in commands/"
    done < <(grep -nE '(\b(argv|argc|stdout|stderr)\b|\b(printf|puts|putchar|vprintf)[[:space:]]*\()' "$f" |
        grep -vE '^[0-9]+:[[:space:]]*(/\*|\*|//)')
done

if [ "$violations" -gt 0 ]; then
    echo "layers.sh: $violations violation(s) of the layer rules (docs/architecture.md \"Layers\")"
    exit 1
fi
echo "layers.sh: ${#files[@]} files keep the layer rules"
