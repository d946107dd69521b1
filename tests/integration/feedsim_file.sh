#!/usr/bin/env bash
# feedsim_file.sh - `diamond feed-sim --format csv|jsonl` as a file feed's tests will use it:
# the whole inventory as an RFC 4180 CSV (python's csv module reads it back: canonical header,
# row count, quoting) or as JSON lines (every line a JSON object), streamed chunked with
# bounded memory; ETag / Last-Modified with 304 on conditional GET and a new ETag after churn;
# the file faults (bad rows at the lines GET /admin/file reports, truncation mid-row at the
# configured line, cleanly or by a dropped connection, 5xx, slow drip); and --share-from: two
# simulators overlap by certificate by exactly the fraction, shared stones graded identically
# at their own prices and stock numbers, in both modes.
. "$DM_SOURCE_DIR/tests/lib/common.sh"
# shellcheck disable=SC2154 # URL_<name> and PID_<name> are set by spawn_sim / spawn through eval

faults() { curl -s -o /dev/null -w '%{http_code}' -X POST -d "$2" "$1/admin/faults"; }

cat >"$T/check.py" <<'PY'
import csv, io, json, sys

HEADER = ["Stock #", "Shape", "Weight", "Color", "Clarity", "Cut", "Polish", "Symmetry",
          "Fluorescence Intensity", "Lab", "Certificate #", "Price Per Carat", "Total Price",
          "Measurements", "Depth %", "Table %", "Image", "Video", "Availability", "Growth Type",
          "Key To Symbols", "Comments"]
GRADING = ["Shape", "Weight", "Color", "Clarity", "Cut", "Polish", "Symmetry",
           "Fluorescence Intensity", "Lab", "Certificate #", "Measurements", "Depth %", "Table %",
           "Growth Type"]

def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f, strict=True))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]], rows[1:]

def bad_kind(fields):
    if len(fields) != len(HEADER):
        return "structure"
    row = dict(zip(HEADER, fields))
    try:
        float(row["Weight"])
    except ValueError:
        return "weight"
    if row["Total Price"] == "POA" or row["Price Per Carat"] == "POA":
        return "price"
    float(row["Total Price"]); float(row["Price Per Carat"])
    return None

cmd = sys.argv[1]
if cmd == "csv":  # csv FILE N: a clean file of N rows
    header, rows, raw = read_csv(sys.argv[2])
    assert header == HEADER, header
    assert len(rows) == int(sys.argv[3]), len(rows)
    assert all(len(r) == len(HEADER) for r in raw)
    assert all(bad_kind(r) is None for r in raw)
    assert len({r["Stock #"] for r in rows}) == len(rows), "stock numbers repeat"
    text = open(sys.argv[2], newline="").read()
    assert text.count("\r\n") == len(rows) + 1 and text.endswith("\r\n"), "CRLF lines"
    # quoting exercised: fields with commas and with quotes came back whole
    assert any("," in r["Key To Symbols"] for r in rows)
    assert any('"eye clean"' in r["Comments"] for r in rows)
    assert '""eye clean""' in text
elif cmd == "jsonl":  # jsonl FILE N
    n = 0
    with open(sys.argv[2]) as f:
        for line in f:
            o = json.loads(line)
            assert isinstance(o, dict) and list(o.keys()) == HEADER, o
            assert isinstance(o["Weight"], float) and isinstance(o["Total Price"], (int, float))
            n += 1
    assert n == int(sys.argv[3]), n
elif cmd == "badlines":  # badlines FILE: "line kind" for each malformed line (CSV)
    lines = open(sys.argv[2], newline="").read().split("\r\n")
    assert lines[-1] == ""
    for i, line in enumerate(lines[1:-1], start=2):
        k = bad_kind(next(csv.reader(io.StringIO(line))))
        if k:
            print(i, k)
elif cmd == "badlines-jsonl":
    for i, line in enumerate(open(sys.argv[2]), start=1):
        try:
            o = json.loads(line)
        except ValueError:
            print(i, "structure"); continue
        if not isinstance(o["Weight"], float):
            print(i, "weight")
        elif o["Total Price"] == "POA":
            print(i, "price")
elif cmd == "reported":  # reported ADMIN_JSON: "line kind" as GET /admin/file reports them
    for b in json.load(open(sys.argv[2]))["bad_rows"]:
        print(b["line"], b["kind"])
elif cmd == "cut":  # cut FULL CUT LINE: CUT is FULL stopped inside line LINE
    full = open(sys.argv[2], "rb").read(); cut = open(sys.argv[3], "rb").read()
    line = int(sys.argv[4])
    assert full.startswith(cut), "not a prefix"
    lines = full.split(b"\n")
    before = sum(len(l) + 1 for l in lines[:line - 1])
    assert before < len(cut) < before + len(lines[line - 1]), (before, len(cut))
    assert cut.count(b"\n") == line - 1
elif cmd == "share":  # share A B: overlap count, graded alike, own prices, own stock numbers
    _, a, _ = read_csv(sys.argv[2]); _, b, _ = read_csv(sys.argv[3])
    by_cert = {(r["Lab"], r["Certificate #"]): r for r in a}
    overlap = [(by_cert[(r["Lab"], r["Certificate #"])], r) for r in b
               if (r["Lab"], r["Certificate #"]) in by_cert]
    same_grading = sum(all(x[k] == y[k] for k in GRADING) for x, y in overlap)
    same_price = sum(x["Total Price"] == y["Total Price"] for x, y in overlap)
    same_stock = sum(x["Stock #"] == y["Stock #"] for x, y in overlap)
    print(len(overlap), same_grading, same_price, same_stock)
elif cmd == "othershapes":  # othershapes FILE ADMIN_JSON: rows of the 3 unlisted shapes
    _, rows, _ = read_csv(sys.argv[2])
    got = [i for i, r in enumerate(rows, start=2)
           if r["Shape"] in ("BAGUETTE", "TAPERED BAGUETTE", "BRIOLETTE")]
    want = json.load(open(sys.argv[3]))["other_shape_lines"]
    assert got == want and 0 < len(got) < len(rows) / 10, (len(got), len(want))
elif cmd == "certs":  # certs STONES_JSON: lab/number of each GraphQL item
    for it in json.load(open(sys.argv[2]))["items"]:
        c = it["diamond"]["certificate"]
        print(c["lab"], c["certNumber"])
PY
py() { python3 "$T/check.py" "$@"; }

# --- command line ------------------------------------------------------------------------------
set +e
"$DIAMOND" feed-sim --format xml >/dev/null 2>&1; rc_fmt=$?
"$DIAMOND" feed-sim --share-from 31 >/dev/null 2>&1; rc_share=$?
"$DIAMOND" feed-sim --share-from 31:1.5 >/dev/null 2>&1; rc_frac=$?
"$DIAMOND" feed-sim --seed 31 --share-from 31:0.5 >/dev/null 2>&1; rc_self=$?
set -e
check_eq "--share-from its own seed exits 2" 2 "$rc_self"
check_eq "--format xml exits 2" 2 "$rc_fmt"
check_eq "--share-from without a fraction exits 2" 2 "$rc_share"
check_eq "--share-from with a fraction above 1 exits 2" 2 "$rc_frac"
check "--help documents the file mode" bash -c "'$DIAMOND' feed-sim --help | grep -q -- '--share-from'"

# --- CSV: format, determinism, streaming -------------------------------------------------------
spawn_sim a --format csv --seed 21 --count 3000
spawn_sim b --format csv --seed 21 --count 3000
check "the listening line names the file" grep -q "listening on $URL_a/inventory.csv" "$T/a.log"
check_eq "GET / names the file" /inventory.csv "$(curl -s "$URL_a/" | jq -r .file)"
curl -s -D "$T/a.h" -o "$T/a.csv" "$URL_a/inventory.csv"
check_eq "GET /inventory.csv answers 200" 200 "$(awk 'NR==1{print $2}' "$T/a.h")"
check "it is text/csv" grep -qi '^Content-Type: text/csv' "$T/a.h"
check "streamed chunked" grep -qi '^Transfer-Encoding: chunked' "$T/a.h"
check "python's csv reads 3000 rows under the canonical header, quoted where needed" py csv "$T/a.csv" 3000
etag=$(grep -i '^ETag:' "$T/a.h" | cut -d' ' -f2 | tr -d '\r')
lm=$(grep -i '^Last-Modified:' "$T/a.h" | cut -d' ' -f2- | tr -d '\r')
check "an ETag" [ -n "$etag" ]
check "a Last-Modified" [ -n "$lm" ]
curl -s -D "$T/b.h" -o "$T/b.csv" "$URL_b/inventory.csv"
check "same seed, same file byte for byte" cmp -s "$T/a.csv" "$T/b.csv"
check_eq "and the same ETag" "$etag" "$(grep -i '^ETag:' "$T/b.h" | cut -d' ' -f2 | tr -d '\r')"
check_eq "the GraphQL endpoint still answers on the same port" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary '{"query":"{ __typename }"}' "$URL_a/graphql")"
check_eq "POST to the file is 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL_a/inventory.csv")"
check_eq "the other format's path is 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL_a/inventory.jsonl")"

# --- conditional GET and churn -----------------------------------------------------------------
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check_eq "If-None-Match with the ETag: 304" 304 "$(code -H "If-None-Match: $etag" "$URL_a/inventory.csv")"
check_eq "If-Modified-Since Last-Modified: 304" 304 "$(code -H "If-Modified-Since: $lm" "$URL_a/inventory.csv")"
check_eq "another ETag: 200" 200 "$(code -H 'If-None-Match: "csv-0"' "$URL_a/inventory.csv")"
check_eq "an older date: 200" 200 "$(code -H 'If-Modified-Since: Thu, 01 Jan 2015 00:00:00 GMT' "$URL_a/inventory.csv")"
curl -s -I -o "$T/head.h" "$URL_a/inventory.csv"
check_eq "HEAD answers 200" 200 "$(awk 'NR==1{print $2}' "$T/head.h")"
check "with the file's ETag" grep -qi "^ETag: $etag" "$T/head.h"
check_eq "stats count the 304s" 2 "$(curl -s "$URL_a/admin/stats" | jq .operations.file_not_modified)"
curl -s -X POST -d '{"percent":5}' "$URL_a/admin/churn" >"$T/churn.json"
curl -s -D "$T/a2.h" -o "$T/a2.csv" -H "If-None-Match: $etag" "$URL_a/inventory.csv"
check_eq "after churn the old ETag gets the file (200)" 200 "$(awk 'NR==1{print $2}' "$T/a2.h")"
etag2=$(grep -i '^ETag:' "$T/a2.h" | cut -d' ' -f2 | tr -d '\r')
check "with a new ETag" bash -c "[ -n '$etag2' ] && [ '$etag2' != '$etag' ]"
check "and a newer Last-Modified" [ "$(grep -i '^Last-Modified:' "$T/a2.h" | cut -d' ' -f2- | tr -d '\r')" != "$lm" ]
check "the churned file has the live count" py csv "$T/a2.csv" "$(jq .live_after "$T/churn.json")"
check "and differs" bash -c "! cmp -s '$T/a.csv' '$T/a2.csv'"
check_eq "the new ETag is honoured" 304 "$(code -H "If-None-Match: $etag2" "$URL_a/inventory.csv")"

# --- bad rows at the reported lines ------------------------------------------------------------
check_eq "malformed_rate set live" 200 "$(faults "$URL_b" '{"malformed_rate":0.02}')"
curl -s "$URL_b/admin/file" >"$T/file.json"
curl -s -D "$T/bad.h" -o "$T/bad.csv" "$URL_b/inventory.csv"
py reported "$T/file.json" >"$T/reported.txt"
py badlines "$T/bad.csv" >"$T/found.txt"
check "some bad rows were injected" [ "$(wc -l <"$T/reported.txt")" -ge 20 ]
check "bad rows of every kind" bash -c "[ \$(cut -d' ' -f2 '$T/reported.txt' | sort -u | wc -l) = 3 ]"
check "the malformed lines are exactly the reported ones" cmp -s "$T/reported.txt" "$T/found.txt"
check_eq "/admin/file reports the file's ETag" "$(grep -i '^ETag:' "$T/bad.h" | cut -d' ' -f2 | tr -d '\r')" "$(jq -r .etag "$T/file.json")"
check "bad rows change the ETag" [ "$(jq -r .etag "$T/file.json")" != "$etag" ]
check "/admin/file lists the lines of the three unlisted shapes" py othershapes "$T/b.csv" "$T/file.json"
check_eq "every row is still there, the structure ones short of fields" \
    "3000 $((3000 - $(grep -c structure "$T/reported.txt")))" \
    "$(python3 -c "import csv; r=list(csv.reader(open('$T/bad.csv', newline='')))[1:]; print(len(r), sum(len(x)==22 for x in r))")"
check_eq "the same lines on every request" "$(md5sum <"$T/bad.csv")" "$(curl -s "$URL_b/inventory.csv" | md5sum)"
faults "$URL_b" '{"reset":true}' >/dev/null

# --- truncation --------------------------------------------------------------------------------
faults "$URL_b" '{"truncate_next":1,"truncate_line":500}' >/dev/null
check_eq "/admin/file reports where a cut download stops" 500 "$(curl -s "$URL_b/admin/file" | jq .truncate_line)"
curl -s -o "$T/cut.csv" -w '%{http_code}' "$URL_b/inventory.csv" >"$T/cut.code"
check_eq "a cut download still answers 200" 200 "$(cat "$T/cut.code")"
check "it stops inside line 500" py cut "$T/b.csv" "$T/cut.csv" 500
check "the cut is logged with its line" grep -q 'download cut at line 500 (clean end)' "$T/b.log"
curl -s -o "$T/next.csv" "$URL_b/inventory.csv"
check "truncate_next 1 cuts one download only" cmp -s "$T/b.csv" "$T/next.csv"
faults "$URL_b" '{"truncate_next":1,"truncate_line":1200,"truncate_abort":true}' >/dev/null
set +e
curl -s -o "$T/abort.csv" "$URL_b/inventory.csv"; rc_abort=$?
set -e
check "a dropped connection is a transfer error for the client (curl $rc_abort)" [ "$rc_abort" -ne 0 ]
check "what arrived is a prefix of the file, short of line 1200" \
    python3 -c "import sys; f=open('$T/b.csv','rb').read(); c=open('$T/abort.csv','rb').read(); sys.exit(not (f.startswith(c) and c.count(b'\n') < 1200))"
check_eq "stats count both cuts" 2 "$(curl -s "$URL_b/admin/stats" | jq .faults.truncate)"
faults "$URL_b" '{"reset":true,"truncate_rate":1}' >/dev/null
check_eq "truncate_rate 1: the middle row (row 1500, line 1502) by default" 1502 "$(curl -s "$URL_b/admin/file" | jq .truncate_line)"
curl -s -o "$T/mid.csv" "$URL_b/inventory.csv"
check "cut inside line 1502" py cut "$T/b.csv" "$T/mid.csv" 1502
faults "$URL_b" '{"reset":true}' >/dev/null

# --- 5xx, 429, slow drip -----------------------------------------------------------------------
faults "$URL_b" '{"fail_next":{"count":1,"status":500}}' >/dev/null
check_eq "fail_next answers its status" 500 "$(code "$URL_b/inventory.csv")"
check_eq "then the file again" 200 "$(code "$URL_b/inventory.csv")"
faults "$URL_b" '{"error_rate":1}' >/dev/null
check_eq "error_rate 1: 503" 503 "$(code "$URL_b/inventory.csv")"
faults "$URL_b" '{"reset":true,"rate_limit":1}' >/dev/null
curl -s -D "$T/rl.h" -o /dev/null "$URL_b/inventory.csv"
check_eq "rate_limit 1: 429" 429 "$(awk 'NR==1{print $2}' "$T/rl.h")"
check "with Retry-After" grep -qi '^Retry-After: 1' "$T/rl.h"
spawn_sim d --format csv --seed 5 --count 60 --drip-bps 20000
curl -s -o "$T/d.csv" "$URL_d/inventory.csv"
size=$(stat -c %s "$T/d.csv")
secs=$(curl -s -o "$T/d2.csv" -w '%{time_total}' "$URL_d/inventory.csv")
check "a dripped download takes at least size/rate ($size bytes in $secs s)" \
    python3 -c "import sys; sys.exit(not ($secs >= ($size - 2000) / 20000.0))"
check "and arrives whole" py csv "$T/d2.csv" 60
# A download is one snapshot: churn answers while a dripping download is still going, and that
# download stays the file as it was when it began.
curl -s -o "$T/d3.csv" "$URL_d/inventory.csv" &
curl_pid=$!
wait_until 10 bash -c "[ \$(grep -c 'feed-sim serving /inventory.csv' '$T/d.log') -ge 3 ]"
curl -s -X POST -d '{"percent":20}' "$URL_d/admin/churn" >/dev/null
check "churn is answered while the download is still running" kill -0 "$curl_pid"
wait "$curl_pid"
check "the running download is the file from before the churn" cmp -s "$T/d.csv" "$T/d3.csv"
curl -s -o "$T/d4.csv" "$URL_d/inventory.csv"
check "the next download shows the churn" bash -c "! cmp -s '$T/d.csv' '$T/d4.csv'"

# --- JSON lines ----------------------------------------------------------------------------------
spawn_sim j --format jsonl --seed 21 --count 2000
curl -s -D "$T/j.h" -o "$T/j.jsonl" "$URL_j/inventory.jsonl"
check "application/x-ndjson" grep -qi '^Content-Type: application/x-ndjson' "$T/j.h"
check "2000 lines, each a JSON object with the canonical keys" py jsonl "$T/j.jsonl" 2000
jetag=$(grep -i '^ETag:' "$T/j.h" | cut -d' ' -f2 | tr -d '\r')
check_eq "conditional GET works for JSON lines too" 304 "$(code -H "If-None-Match: $jetag" "$URL_j/inventory.jsonl")"
faults "$URL_j" '{"malformed_rate":0.03}' >/dev/null
curl -s "$URL_j/admin/file" >"$T/jfile.json"
curl -s -o "$T/jbad.jsonl" "$URL_j/inventory.jsonl"
py reported "$T/jfile.json" >"$T/jreported.txt"
py badlines-jsonl "$T/jbad.jsonl" >"$T/jfound.txt"
check "JSON lines: bad rows at the reported lines" bash -c "[ -s '$T/jreported.txt' ] && cmp -s '$T/jreported.txt' '$T/jfound.txt'"

# --- --share-from ------------------------------------------------------------------------------
spawn_sim s1 --format csv --seed 31 --count 2000
spawn_sim s2 --format csv --seed 32 --count 2000 --share-from 31:0.25
spawn_sim s3 --format csv --seed 32 --count 2000 --share-from 31:0.25
spawn_sim s4 --format csv --seed 32 --count 2000
curl -s -o "$T/s1.csv" "$URL_s1/inventory.csv"
curl -s -o "$T/s2.csv" "$URL_s2/inventory.csv"
curl -s -o "$T/s3.csv" "$URL_s3/inventory.csv"
curl -s -o "$T/s4.csv" "$URL_s4/inventory.csv"
read -r overlap graded same_price same_stock <<<"$(py share "$T/s1.csv" "$T/s2.csv")"
check_eq "overlap by certificate is 25 % of 2000" 500 "$overlap"
check_eq "every shared stone graded identically" 500 "$graded"
check "at its own price (equal only by chance: $same_price)" [ "$same_price" -lt 25 ]
check_eq "under its own stock number" 0 "$same_stock"
check "the same arguments, the same file" cmp -s "$T/s2.csv" "$T/s3.csv"
check_eq "without --share-from no overlap" 0 "$(py share "$T/s1.csv" "$T/s4.csv" | cut -d' ' -f1)"
spawn_sim g1 --seed 31 --count 2000
spawn_sim g2 --seed 32 --count 2000 --share-from 31:0.25
curl -s "$URL_g1/admin/stones?offset=0&limit=100000" >"$T/g1.json"
curl -s "$URL_g2/admin/stones?offset=0&limit=100000" >"$T/g2.json"
py certs "$T/g1.json" | sort >"$T/g1.certs"
py certs "$T/g2.json" | sort >"$T/g2.certs"
check_eq "GraphQL mode overlaps by the same certificates" 500 "$(comm -12 "$T/g1.certs" "$T/g2.certs" | wc -l)"
cut -d, -f10,11 "$T/s2.csv" | tail -n +2 | tr ',' ' ' | sort >"$T/s2.certs"
check "and they are the file mode's stones" cmp -s "$T/g2.certs" "$T/s2.certs"

# --- bounded memory ----------------------------------------------------------------------------
spawn_sim big --format csv --seed 3 --count 200000
pid=$PID_big
hwm0=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
bytes=$(curl -s -o /dev/null -w '%{size_download}' "$URL_big/inventory.csv")
hwm1=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
grow_kb=$((hwm1 - hwm0))
check "a $((bytes / 1000000)) MB file grows peak RSS by ${grow_kb} kB: under a third of its size" \
    [ "$((grow_kb * 1024 * 3))" -lt "$bytes" ]
check "200,000 rows arrived" [ "$bytes" -gt 50000000 ]

kill -TERM "$PID_d"
set +e
wait "$PID_d"; rc=$?
set -e
check_eq "SIGTERM stops a file-mode simulator cleanly" 0 "$rc"
finish
