/*
 * file_mapping.h - a supplier inventory file (CSV or JSON lines) to the canonical diamond
 * record (struct dm_diamond of mapping.h), for file feeds (issue 18). Two steps:
 *
 * 1. Columns. A header name is compared case-, space- and punctuation-insensitively ("Stock #",
 *    "stock_no" and "STOCK NO." are one name: letters and digits kept, '#' read as "no", '%' as
 *    "pct", '$' as "usd", everything else dropped) against the usual aliases of the common
 *    supplier upload formats (the table in file_mapping.c; docs/operations.md, "File feeds",
 *    lists it). An optional mapping file, a JSON object of canonical field name -> supplier
 *    header ({"stock_id": "Vendor Ref", "depth": null}), overrides the aliases of the fields it
 *    names (null: that field is never read). When two columns match one field, the better alias
 *    wins ("Total Price" over "Price"), then the first column.
 * 2. Rows. Each row's values are trimmed, checked and normalised with the same vocabularies as
 *    Nivoda items (dm_mapping_canonical: shapes, colours, clarities, cut/polish/symmetry
 *    grades) and exact decimals (dm_mapping_decimal_text).
 *
 * Required fields: stock_id, shape, carats, color, clarity, and total_price or
 * price_per_carat (the catalogue cannot hold a stone without them). A header without one of
 * their columns is refused as a whole (every missing field named); a row without a value for
 * one, or with a value that does not parse, is a bad row: DM_ERR_INVALID, the message names
 * the field and the supplier's column, and *bad_field says which. When only price_per_carat is
 * given, the total is round_half_up(price_per_carat x carats) in exact decimal (as
 * domain/pricing); when both are given the total is used.
 *
 * Pure: no I/O. A mapping is immutable after dm_file_mapping_bind_header, so rows may be mapped
 * from several threads with one mapping.
 */
#ifndef DM_DOMAIN_FILE_MAPPING_H
#define DM_DOMAIN_FILE_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "domain/mapping.h"

/* Canonical fields of a supplier file, in the mapping file's spelling (dm_file_field_name). */
enum dm_file_field {
    DM_FF_STOCK_ID,        /* "stock_id": the supplier's stone id (also the offer id) */
    DM_FF_SHAPE,           /* "shape" */
    DM_FF_CARATS,          /* "carats" */
    DM_FF_COLOR,           /* "color" */
    DM_FF_CLARITY,         /* "clarity" */
    DM_FF_CUT,             /* "cut" */
    DM_FF_POLISH,          /* "polish" */
    DM_FF_SYMMETRY,        /* "symmetry" */
    DM_FF_FLUORESCENCE,    /* "fluorescence": intensity, kept as written */
    DM_FF_LAB,             /* "lab": upper-cased */
    DM_FF_CERT_NUMBER,     /* "certificate_number" */
    DM_FF_CERT_URL,        /* "certificate_url" */
    DM_FF_TOTAL_PRICE,     /* "total_price": dollars */
    DM_FF_PRICE_PER_CARAT, /* "price_per_carat": dollars */
    DM_FF_MEASUREMENTS,    /* "measurements": "L x W x D" (mm) */
    DM_FF_LENGTH,          /* "length" (mm) */
    DM_FF_WIDTH,           /* "width" (mm) */
    DM_FF_DEPTH,           /* "depth" (mm) */
    DM_FF_DEPTH_PCT,       /* "depth_percent" */
    DM_FF_TABLE_PCT,       /* "table_percent" */
    DM_FF_IMAGE,           /* "image": http(s) URL */
    DM_FF_VIDEO,           /* "video": http(s) URL */
    DM_FF_AVAILABILITY,    /* "availability" */
    DM_FF_LAB_GROWN,       /* "lab_grown": boolean */
    DM_FF_TREATED,         /* "treated": boolean */
    DM_FF_GROWTH_TYPE,     /* "growth_type": CVD/HPHT (lab-grown) or Natural */
    DM_FF_KEY_TO_SYMBOLS,  /* "key_to_symbols": attributes.keyToSymbols */
    DM_FF_COMMENTS,        /* "comments": attributes.comments */
    DM_FF_COUNT,
    DM_FF_NONE = -1, /* an error not about one field (field count, JSON syntax) */
};

/* Longest mapping file read, and the longest field value accepted. */
#define DM_FILE_MAPPING_MAX_JSON ((size_t)64 * 1024)
#define DM_FILE_MAPPING_MAX_VALUE 1024

struct dm_file_mapping;

/* The mapping file's name of a field ("stock_id"), or "?" out of range. */
const char *dm_file_field_name(enum dm_file_field f);
/* True for the required fields (price: see dm_file_mapping_bind_header). */
bool dm_file_field_required(enum dm_file_field f);

/* A mapping from the aliases, overridden by the mapping file json[0..len) when json is not
 * NULL. DM_ERR_INVALID (err names the key) when the file is not a JSON object of known field
 * names to strings or null, or names one column for two fields. On DM_OK *out is freed with
 * dm_file_mapping_free. */
enum dm_err dm_file_mapping_new(const char *json, size_t len, struct dm_file_mapping **out,
                                struct dm_error *err) DM_MUST_CHECK;
/* NULL is a no-op. */
void dm_file_mapping_free(struct dm_file_mapping *m);

/* The field a header name maps to, or DM_FF_NONE. */
enum dm_file_field dm_file_mapping_field(const struct dm_file_mapping *m, const char *header);

/* Bind a CSV header row: which column holds each field. DM_ERR_INVALID naming every missing
 * required field (and every column the mapping file names that the header lacks). */
enum dm_err dm_file_mapping_bind_header(struct dm_file_mapping *m, const char *const *names,
                                        const size_t *lens, size_t n,
                                        struct dm_error *err) DM_MUST_CHECK;
/* The column index bound to f, or -1. */
int dm_file_mapping_column(const struct dm_file_mapping *m, enum dm_file_field f);

/*
 * Map one CSV row (after dm_file_mapping_bind_header) of feed `feed` (a string that outlives d:
 * d->feed points to it). A row with fewer fields than the header, or more unless the extra
 * ones are empty, is refused. On error d holds nothing, err says why and *bad_field (may be
 * NULL) names the field or DM_FF_NONE.
 */
enum dm_err dm_file_mapping_row(const struct dm_file_mapping *m, const char *const *fields,
                                const size_t *lens, size_t n, const char *feed,
                                struct dm_diamond *d, enum dm_file_field *bad_field,
                                struct dm_error *err) DM_MUST_CHECK;

/*
 * What a row gives besides its diamond, for a file feed's raw table (the _raw variants below).
 *
 * payload: a good row's values as one compact JSON object keyed by field name
 * (dm_file_field_name), in field order, each value trimmed and kept as the supplier wrote it
 * (a JSON string; JSON-lines numbers and booleans as their text), fields without a value left
 * out: {"stock_id":"A1","shape":"Round","carats":"1.01",...}. It is the stone's raw item: its
 * SHA-256 is the content hash (a file re-exported in another column order, or with other
 * header names, hashes the same), and dm_file_mapping_json with the default mapping
 * (dm_file_mapping_new(NULL, ...)) maps it back to the same diamond, so the consolidator needs
 * neither the supplier's headers nor the mapping file. Empty for a bad row.
 *
 * stock_id: the row's stock id as written (trimmed), good or bad row, "" when absent, longer
 * than DM_FILE_STOCK_ID_SHOWN bytes or not printable UTF-8: for bad-row reports.
 *
 * not_carried: a bad row refused only because its shape is a real diamond shape the catalogue
 * does not carry (dm_file_shape_not_carried): not the supplier's error, reported apart from
 * bad rows.
 */
#define DM_FILE_STOCK_ID_SHOWN 64
struct dm_file_raw {
    struct dm_buf payload;
    char stock_id[DM_FILE_STOCK_ID_SHOWN + 1];
    bool not_carried;
};
/* An empty record (payload bounded by 32 x DM_FILE_MAPPING_MAX_VALUE escaped bytes). */
void dm_file_raw_init(struct dm_file_raw *r);
/* Releases the payload's storage. NULL is a no-op. */
void dm_file_raw_free(struct dm_file_raw *r);

/* True when s (any case; spaces, hyphens and underscores ignored) names a diamond shape outside
 * the catalogue's vocabulary (domain/shapes.h, mapping.c): baguette, tapered baguette,
 * briolette, trapezoid, half moon, kite, shield, bullet, triangle, lozenge, pentagon(al),
 * octagon(al), star. */
bool dm_file_shape_not_carried(const char *s);

/* dm_file_mapping_row, and fill raw (may be NULL; reset first) as described above. */
enum dm_err dm_file_mapping_row_raw(const struct dm_file_mapping *m, const char *const *fields,
                                    const size_t *lens, size_t n, const char *feed,
                                    struct dm_diamond *d, struct dm_file_raw *raw,
                                    enum dm_file_field *bad_field,
                                    struct dm_error *err) DM_MUST_CHECK;

/* Map one JSON-lines object (keys are supplier headers, resolved per object; values strings,
 * numbers, booleans or null). Errors as dm_file_mapping_row; malformed JSON, a non-object or a
 * nested value are DM_ERR_INVALID too. */
enum dm_err dm_file_mapping_json(const struct dm_file_mapping *m, const char *text, size_t len,
                                 const char *feed, struct dm_diamond *d,
                                 enum dm_file_field *bad_field, struct dm_error *err) DM_MUST_CHECK;
/* dm_file_mapping_json, and fill raw (may be NULL; reset first) as described above. */
enum dm_err dm_file_mapping_json_raw(const struct dm_file_mapping *m, const char *text, size_t len,
                                     const char *feed, struct dm_diamond *d,
                                     struct dm_file_raw *raw, enum dm_file_field *bad_field,
                                     struct dm_error *err) DM_MUST_CHECK;

#endif
