/*
 * mapping.h - a Nivoda search item (the raw payload) to the canonical diamond record
 * (feed.md §2), and the record's two serialisations: its content hash and its PostgreSQL
 * COPY text line. Every way an item can be unusable is a DM_ERR_INVALID with a precise reason
 * (missing diamond / certificate / shape / color / clarity / price, carats <= 0, out-of-range
 * numbers, malformed JSON, a boolean that is not one, an enumerated value outside its
 * vocabulary, each naming the field); no JSON shape can crash it. The rules for ambiguous
 * supplier values are listed in docs/architecture.md ("Mapping rules"). Pure: no I/O.
 *
 * Ownership: every char* of struct dm_diamond is malloc'd and released by dm_diamond_free.
 */
#ifndef DM_DOMAIN_MAPPING_H
#define DM_DOMAIN_MAPPING_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/error.h"
#include "domain/availability.h"
#include "domain/pricing.h"

#define DM_FEED_NIVODA "nivoda"
/* Largest raw payload the mapper parses. */
#define DM_MAPPING_MAX_PAYLOAD ((size_t)1024 * 1024)

struct dm_diamond {
    const char *feed;        /* feed id: static "nivoda", or the configuration's */
    char *supplier_stone_id; /* d.id */
    char *offer_id;          /* item.id */
    char *shape;             /* upper-cased */
    int64_t carats_c2;       /* hundredths of a carat, rounded half up */
    char *color, *clarity;
    char *cut, *polish, *symmetry; /* upper-cased or NULL */
    char *fluorescence;            /* "floInt floCol", "floInt" or NULL */
    bool lab_grown, treated;
    int64_t feed_price_cents; /* item.price */
    enum dm_availability availability;
    char *raw_availability, *hold_id;
    char *image_url, *video_url;
    char *certificate_lab, *certificate_number, *certificate_pdf_url;
    char *measurements; /* compact JSON object or NULL when no key is present */
    char *attributes;   /* compact JSON object or NULL when no key is present */
    char *supplier_name, *supplier_legal_name;
    /* Supplier URL fields dropped because they were not http(s) URLs ("image,pdfUrl"; "" =
     * none): the stone is kept without them, and the caller logs them. */
    char dropped_urls[64];
    /* Pricing (dm_mapping_price). */
    int64_t price_per_carat_cents, retail_price_cents, markup_e4;
    int rating;                        /* 0 = null */
    char pricing_rule_id[DM_UUID_LEN]; /* "" = null */
};

/* Map a parsed item. On error d holds nothing (already released) and err names the reason. */
enum dm_err dm_mapping_map(const json_t *item, struct dm_diamond *d,
                           struct dm_error *err) DM_MUST_CHECK;
/* Parse (at most DM_MAPPING_MAX_PAYLOAD bytes) and map. */
enum dm_err dm_mapping_map_text(const char *text, size_t len, struct dm_diamond *d,
                                struct dm_error *err) DM_MUST_CHECK;
/* Price a mapped diamond with sorted rules (see pricing.h). DM_ERR_INVALID when out of range. */
enum dm_err dm_mapping_price(struct dm_diamond *d, const struct dm_pricing_rule *rules, size_t n,
                             struct dm_error *err) DM_MUST_CHECK;
void dm_diamond_free(struct dm_diamond *d);

/* Columns of the COPY line, in order. The feed-derived columns come first (through
 * supplier_legal_name); the content hash covers exactly those, so unchanged stones can be
 * recognised; pricing columns are compared separately by the upsert. */
#define DM_DIAMOND_COPY_COLUMNS                                                                    \
    "feed, supplier_stone_id, offer_id, shape, carats, color, clarity, cut, polish, symmetry, "    \
    "fluorescence, lab_grown, treated, feed_price, availability, raw_availability, hold_id, "      \
    "image_url, video_url, certificate_lab, certificate_number, certificate_pdf_url, "             \
    "measurements, attributes, supplier_name, supplier_legal_name, price_per_carat, "              \
    "retail_price, markup_ratio, rating, pricing_rule_id, content_hash"
#define DM_DIAMOND_COPY_NCOLS 32

/* SHA-256 hex over the feed-derived canonical fields. */
void dm_diamond_content_hash(const struct dm_diamond *d, char out[DM_SHA256_HEX_LEN]);
/* Append one COPY text line (tab-separated, escaped, "\N" for NULL, '\n'-terminated) with the
 * columns of DM_DIAMOND_COPY_COLUMNS; hash (may be NULL) receives the content hash. */
enum dm_err dm_diamond_copy_line(const struct dm_diamond *d, struct dm_buf *out,
                                 char hash[DM_SHA256_HEX_LEN]) DM_MUST_CHECK;
/* Append s to out in COPY text escaping (NULL -> \N). */
enum dm_err dm_copy_append_text(struct dm_buf *out, const char *s) DM_MUST_CHECK;

/* A JSON number or numeric string as a fixed-point integer with `scale` decimals, rounded half
 * away from zero on the decimal digits as written. DM_ERR_NOT_FOUND when absent/null,
 * DM_ERR_INVALID when not a number, DM_ERR_TOO_LARGE when it does not fit. */
enum dm_err dm_json_decimal(const json_t *v, int scale, int64_t *out) DM_MUST_CHECK;

/* The vocabularies the mapper normalises supplier spellings with (aliases, any case, spaces,
 * hyphens and underscores ignored), shared by every feed format: a file feed's rows go
 * through the same tables as Nivoda's items. */
enum dm_vocab { DM_VOCAB_SHAPE, DM_VOCAB_COLOUR, DM_VOCAB_CLARITY, DM_VOCAB_GRADE };
/* The canonical spelling of s in vocabulary v (a static string), or NULL when unknown. */
const char *dm_mapping_canonical(enum dm_vocab v, const char *s);
/* Decimal text "[+-]digits[.digits]" as fixed point with scale (0..6) decimals, rounded half
 * away from zero on the digits as written. DM_ERR_INVALID (syntax), DM_ERR_TOO_LARGE. */
enum dm_err dm_mapping_decimal_text(const char *s, int scale, int64_t *out) DM_MUST_CHECK;
/* True when s is an http(s) URL the catalogue keeps (image, video, certificate links). */
bool dm_mapping_http_url(const char *s);

#endif
