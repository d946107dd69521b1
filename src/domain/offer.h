/*
 * offer.h - one listing per physical stone (issue 18): a stone's identity, the listing id derived
 * from it, the choice of the offer a listing shows (OFFER_POLICY), and cross-feed grading
 * clashes. An "offer" is one row of the catalogue (one feed's stone: feed + supplier stone id);
 * a "listing" is what search returns: one per identity, showing its chosen offer. Pure: no I/O,
 * no allocation, thread-safe (no shared state).
 *
 * Identity (dm_offer_identity):
 *   - "cert:<LAB>:<NUMBER>" when the certificate lab and number are both usable after
 *     normalisation, else "feed:<feed>:<supplier stone id>".
 *   - Lab: ASCII letters upper-cased; whitespace, '.', '-', '_' and '/' removed anywhere
 *     ("G.I.A." -> "GIA", "hrd antwerp" -> "HRDANTWERP"), then known aliases folded to one
 *     name (GIA, IGI, HRD, AGS, GCAL, GSI, EGL; full names such as "Gemological Institute of
 *     America" and "AGSL" included). Unknown labs keep their compacted spelling. A lab is
 *     unusable (no certificate) when it is empty, a placeholder (NONE, NA, N/A, NIL, NULL,
 *     NOCERT, NONCERT, NOLAB, UNCERTIFIED, OTHER), over 16 bytes compacted, or has anything
 *     but A-Z and 0-9 after compaction (non-ASCII included).
 *   - Number: ASCII whitespace (anywhere) and '-' removed, a leading '#' dropped, ASCII letters
 *     upper-cased ("  lg-123 456 " -> "LG123456"). Unusable when empty, a placeholder (NA, NONE,
 *     NIL, NULL), all zeros, longer than DM_OFFER_CERT_MAX - 1 bytes, or containing anything but
 *     A-Z and 0-9 (non-ASCII, '.', '/', '+' as in Excel's "2.14E+09", control bytes): such a
 *     number cannot be matched across suppliers, so the stone falls back to its feed identity
 *     rather than risk merging two stones. Leading zeros are kept (never guessed away).
 *   - Feed identity: the feed id and the supplier stone id exactly as stored in
 *     diamonds(feed, supplier_stone_id) (no folding: supplier ids are opaque and
 *     case-sensitive). DM_ERR_INVALID when either is empty, the feed id has a character
 *     outside [A-Za-z0-9_-] (so never ':'), or the supplier id has a control byte;
 *     DM_ERR_TOO_LARGE when the feed id is over 32 bytes or the supplier id over 400 (so every
 *     key fits DM_LISTING_KEY_MAX). Feed ids and labs cannot contain ':': keys are unambiguous.
 *   The key is stable text for a `listing_key text NOT NULL` column on diamonds (indexed, and
 *   UNIQUE among chosen offers: `UNIQUE (listing_key) WHERE chosen`).
 *
 * Listing id (dm_offer_listing_id): a name-based UUID in the RFC 9562 version-8 layout:
 *   SHA-256(DM_LISTING_NAMESPACE's 16 bytes || key), first 16 bytes, version nibble 8, variant
 *   10. Same key -> same id forever, so a listing keeps its id (and storefront links keep
 *   working) when its chosen offer is sold, removed or repriced and another offer takes over.
 *
 * Offer choice (dm_offer_choose, total order dm_offer_compare):
 *   - Available offers always come before offers that are not (on_hold, sold, unavailable are
 *     one class); an unavailable offer is chosen only when none is available, and the listing
 *     then shows as not available.
 *   - lowest_retail (default): lowest retail price, then highest feed priority, then feed id,
 *     then supplier stone id (byte order, ascending).
 *   - feed_priority: highest feed priority, then lowest retail price, then feed id, then
 *     supplier stone id.
 *   - A negative retail price means "not priced" and sorts after every priced offer.
 *   (feed, supplier stone id) is unique in the catalogue, so the order is total and the choice
 *   deterministic. `updated_at` is carried for the API's offers list but is deliberately not a
 *   tie-breaker: it changes whenever a row is rewritten, which would make equal offers swap.
 *   Takeover: re-run dm_offer_choose over the identity's remaining offers after a sale, removal
 *   or reprice; the listing id does not change.
 *
 * Clashes (dm_offer_grading_clash, dm_offer_resolve_clashes): offers sharing a certificate
 *   identity whose grading disagrees (carats differ by more than 0.01 ct, or colour, clarity or
 *   shape differ; NULL equals only NULL) are not the same stone as far as we can tell. Rule:
 *   the reference offer is the one from the highest-priority feed, ties by feed id, then
 *   supplier stone id (availability and price play no part: grading authority is the
 *   supplier's, not the market's). Every offer is compared with the reference only (the 0.01 ct
 *   tolerance is not transitive). Offers that agree keep the certificate identity; each offer
 *   that disagrees is split off to its own feed identity (dm_offer_feed_identity), counted and
 *   shown to operators with the fields that disagree. Split offers are not merged with each
 *   other even when they agree among themselves. When the reference offer leaves the
 *   catalogue, the next one by the same order becomes the reference.
 */
#ifndef DM_DOMAIN_OFFER_H
#define DM_DOMAIN_OFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/error.h"
#include "domain/availability.h"

struct dm_diamond;

#define DM_OFFER_LAB_MAX 17          /* compacted lab, 16 bytes + NUL */
#define DM_OFFER_CERT_MAX 41         /* normalised certificate number, 40 bytes + NUL */
#define DM_OFFER_FEED_MAX 33         /* feed id, 32 bytes + NUL */
#define DM_OFFER_SUPPLIER_ID_MAX 401 /* supplier stone id, 400 bytes + NUL */
/* Longest key + NUL: "feed:" + feed + ":" + supplier stone id. */
#define DM_LISTING_KEY_MAX (5 + DM_OFFER_FEED_MAX + DM_OFFER_SUPPLIER_ID_MAX)
/* Namespace of listing ids (any fixed 16 bytes; changing it changes every listing id). */
#define DM_LISTING_NAMESPACE "3f0c5a1e-9b7d-4c2a-8e61-d1a4b2c7e905"

enum dm_identity_kind {
    DM_IDENTITY_CERT, /* "cert:LAB:NUMBER" */
    DM_IDENTITY_FEED, /* "feed:FEED:SUPPLIER_STONE_ID" */
};

/* A value: copy freely. */
struct dm_stone_identity {
    enum dm_identity_kind kind;
    char key[DM_LISTING_KEY_MAX];
};

/* Normalised lab into out; false (out = "") when the lab is absent or unusable (NULL ok). */
bool dm_offer_normalise_lab(const char *lab, char out[DM_OFFER_LAB_MAX]);
/* Normalised certificate number into out; false (out = "") when absent or unusable. */
bool dm_offer_normalise_cert_number(const char *number, char out[DM_OFFER_CERT_MAX]);

/* The identity of an offer from its four fields (lab and number may be NULL). Errors only on
 * the feed fallback (see above: DM_ERR_INVALID, DM_ERR_TOO_LARGE, err names the field); a
 * certificate identity never fails. */
enum dm_err dm_offer_identity(const char *feed, const char *supplier_stone_id, const char *lab,
                              const char *number, struct dm_stone_identity *out,
                              struct dm_error *err) DM_MUST_CHECK;
/* dm_offer_identity over a mapped diamond's feed, supplier_stone_id, certificate_lab and
 * certificate_number. */
enum dm_err dm_offer_identity_of(const struct dm_diamond *d, struct dm_stone_identity *out,
                                 struct dm_error *err) DM_MUST_CHECK;
/* Always the feed identity (the fallback, and the identity of an offer split off a clash). */
enum dm_err dm_offer_feed_identity(const char *feed, const char *supplier_stone_id,
                                   struct dm_stone_identity *out,
                                   struct dm_error *err) DM_MUST_CHECK;

/* The listing id of a key (lower-case 8-4-4-4-12). */
void dm_offer_listing_id(const char *key, char out[DM_UUID_LEN]);

enum dm_offer_policy {
    DM_OFFER_POLICY_LOWEST_RETAIL, /* default */
    DM_OFFER_POLICY_FEED_PRIORITY,
};
#define DM_OFFER_POLICY_DEFAULT DM_OFFER_POLICY_LOWEST_RETAIL

/* Parse an OFFER_POLICY value: exactly "lowest_retail" or "feed_priority" (case-sensitive, as
 * every enumerated setting). NULL or "" gives the default. DM_ERR_INVALID otherwise, err says
 * which values are accepted. */
enum dm_err dm_offer_policy_parse(const char *s, enum dm_offer_policy *out,
                                  struct dm_error *err) DM_MUST_CHECK;
/* "lowest_retail" or "feed_priority". Never NULL. */
const char *dm_offer_policy_name(enum dm_offer_policy p);

/* One offer of a stone, as the choice and the clash rules see it. Borrowed pointers: the
 * caller keeps the strings alive while it uses the struct. */
struct dm_offer {
    const char *feed;              /* feed id; non-NULL */
    const char *supplier_stone_id; /* non-NULL */
    int feed_priority;             /* FEED_<ID>_PRIORITY: higher wins */
    int64_t retail_price_cents;    /* < 0 = not priced */
    enum dm_availability availability;
    int64_t updated_at; /* carried, not compared */
    /* Grading, for clashes. */
    int64_t carats_c2;                   /* hundredths of a carat */
    const char *color, *clarity, *shape; /* canonical spellings or NULL */
};

/* Fill o from a mapped diamond (pointers into d) with the feed's priority; updated_at = 0. */
void dm_offer_from_diamond(const struct dm_diamond *d, int feed_priority, struct dm_offer *o);

/* <0 when a is preferred to b under p, >0 when b is, 0 only for equal (feed, supplier stone
 * id). A strict total order over a catalogue's offers; usable with a qsort wrapper. */
int dm_offer_compare(const struct dm_offer *a, const struct dm_offer *b, enum dm_offer_policy p);
/* Index of the chosen offer among offers[0..n), or n when n == 0. */
size_t dm_offer_choose(const struct dm_offer *offers, size_t n, enum dm_offer_policy p);

/* Fields of a grading clash (a bitmask; 0 = the gradings agree). */
enum dm_clash_field {
    DM_CLASH_CARAT = 1u << 0,
    DM_CLASH_COLOUR = 1u << 1,
    DM_CLASH_CLARITY = 1u << 2,
    DM_CLASH_SHAPE = 1u << 3,
};
/* Which grading fields of a and b disagree (carats by more than 1 hundredth; colour, clarity,
 * shape compared ignoring ASCII case, NULL equal only to NULL). */
unsigned dm_offer_grading_clash(const struct dm_offer *a, const struct dm_offer *b);
/* The mask as "carat,colour,clarity,shape" (only set fields, in that order; "" for 0) into out.
 * DM_ERR_TOO_LARGE when size is too small (27 bytes always suffice). */
enum dm_err dm_offer_clash_names(unsigned mask, char *out, size_t size) DM_MUST_CHECK;
/* For offers[0..n) sharing one certificate identity: the index of the reference offer (see
 * above), and clash[i] = dm_offer_grading_clash(offers[i], reference) for every i (0 for the
 * reference). An offer with clash[i] != 0 takes dm_offer_feed_identity. Returns n when n == 0. */
size_t dm_offer_resolve_clashes(const struct dm_offer *offers, size_t n, unsigned *clash);

#endif
