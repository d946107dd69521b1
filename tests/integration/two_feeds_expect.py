#!/usr/bin/env python3
"""two_feeds_expect.py - the listings two feeds must make, computed from what the feeds served,
independently of the pipeline (no code under test: issue 18's identity rule written again here).

    two_feeds_expect.py NIVODA_TSV ACME_CSV ACME_ADMIN_FILE_JSON OUT_DIR [--carry-other-shapes]

NIVODA_TSV: one stone per line as the GraphQL feed served it (from raw_diamonds_nivoda's
payloads): supplier stone id, lab, certificate number, shape, carats, colour, clarity.
ACME_CSV: the file feed's snapshot as downloaded from the simulator (the same ETag the worker
read). ACME_ADMIN_FILE_JSON: the simulator's GET /admin/file (bad-row lines, other-shape lines).

Writes OUT_DIR/expected_keys (one listing key per line, sorted), OUT_DIR/overlap (key, nivoda
stone id, acme stock number) and prints "listings N overlap K clashes C acme_rows R".
"""
import csv
import json
import os
import sys

# The identity rule (issue 18): (certificate lab, certificate number) when both are present,
# else (feed, supplier stone id). The simulators write clean labs and numbers, so upper-casing
# is all the normalisation they need.
PLACEHOLDERS = {"", "NONE", "N/A", "NA", "UNCERTIFIED"}


def identity(feed, stone, lab, number):
    lab = (lab or "").strip().upper()
    number = (number or "").strip().upper()
    if lab in PLACEHOLDERS or number == "":
        return "feed:%s:%s" % (feed, stone)
    return "cert:%s:%s" % (lab, number)


def main():
    nivoda_tsv, acme_csv, admin_json, out = sys.argv[1:5]
    carry_other = "--carry-other-shapes" in sys.argv[5:]
    admin = json.load(open(admin_json))
    skip = {b["line"] for b in admin.get("bad_rows", [])}
    if not carry_other:
        skip |= set(admin.get("other_shape_lines", []))

    offers = {}  # key -> {feed: (stone, grading)}
    for line in open(nivoda_tsv):
        stone, lab, number, shape, carats, color, clarity = line.rstrip("\n").split("\t")
        key = identity("nivoda", stone, lab, number)
        offers.setdefault(key, {})["nivoda"] = (stone, (shape.upper(), float(carats), color, clarity))

    acme_rows = 0
    with open(acme_csv, newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        for lineno, fields in enumerate(rows, start=2):  # no field holds a line break
            if lineno in skip:
                continue
            r = dict(zip(header, fields))
            acme_rows += 1
            key = identity("acme", r["Stock #"], r["Lab"], r["Certificate #"])
            grading = (r["Shape"].upper(), float(r["Weight"]), r["Color"], r["Clarity"])
            offers.setdefault(key, {})["acme"] = (r["Stock #"], grading)

    # A clash (same certificate, grading that disagrees) keeps the offers apart: each takes its
    # feed identity. The simulators share stones byte for byte, so none is expected.
    keys, overlap, clashes = [], [], 0
    for key, by_feed in offers.items():
        if len(by_feed) == 2:
            (ns, ng), (as_, ag) = by_feed["nivoda"], by_feed["acme"]
            if ng[0] != ag[0] or abs(ng[1] - ag[1]) > 0.01 or ng[2:] != ag[2:]:
                clashes += 1
                keys += ["feed:nivoda:" + ns, "feed:acme:" + as_]
                continue
            overlap.append((key, ns, as_))
        keys.append(key)
    with open(os.path.join(out, "expected_keys"), "w") as f:
        f.write("".join(k + "\n" for k in sorted(keys)))
    with open(os.path.join(out, "overlap"), "w") as f:
        f.write("".join("%s\t%s\t%s\n" % o for o in sorted(overlap)))
    print("listings %d overlap %d clashes %d acme_rows %d" % (len(keys), len(overlap), clashes, acme_rows))


main()
