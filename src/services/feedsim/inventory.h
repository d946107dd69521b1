/*
 * inventory.h - the feed simulator's in-memory stone inventory. Deterministic from (seed,
 * count): realistic shapes, carats, colours, clarities, cuts, a price model correlated with
 * carats (long tail past $250,000), ~40 % lab-grown, optional fields sometimes null, unique ids,
 * `updated` spread over two years before 2026-01-01. Each stone is a compact 48-byte record;
 * item JSON is rendered on demand. Stones are kept in feed order (createdAt ASC, then id),
 * and filter results are cached per (filter, inventory version) so paging a partition costs
 * one scan, then O(page) per page: counts and pages always come from the same match list.
 *
 * Locking: readers (queries, rendering, lookups) hold dm_inv_rdlock while they use results;
 * mutations (churn, hold, order) take the write lock themselves and bump the version.
 */
#ifndef DM_FEEDSIM_INVENTORY_H
#define DM_FEEDSIM_INVENTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

#define DM_INV_SHAPES 20        /* the 17 queried shapes and 3 the pipeline never asks for */
#define DM_INV_LISTED_SHAPES 17 /* shape indexes below this are the pipeline's shapes */

/* A DiamondQuery, normalised. Zero-initialise, then set what the query carries. */
struct dm_inv_filter {
    bool has_price;
    int64_t price_from, price_to; /* whole dollars, inclusive (floor(price_cents / 100)) */
    bool has_updated;
    int64_t updated_from, updated_to; /* ms since epoch, inclusive */
    bool has_sizes;
    int64_t size_from, size_to; /* carats x 100, inclusive */
    bool has_shapes;
    uint32_t shape_mask; /* bit i = shape i of dm_inv_shape_name */
    int labgrown;        /* -1 any (set it!), 0 natural, 1 lab-grown */
};

/* Matching stones in feed order: positions into the inventory, valid under the read lock. */
struct dm_inv_match {
    uint32_t n;
    const uint32_t *pos;
};

/* Item variants for fault injection. */
enum dm_inv_variant {
    DM_INV_NORMAL = 0,
    DM_INV_NO_CERTIFICATE,
    DM_INV_NO_PRICE,
    DM_INV_NO_SHAPE,
    DM_INV_NO_COLOR,
    /* Poisoned stones (see dm_inv_poison): pathological but well-formed JSON values. */
    DM_INV_PRICE_OVERFLOW, /* "price":1e400 (beyond a double) */
    DM_INV_DEEP_VALUE,     /* "discount" nested 200 arrays deep */
    DM_INV_PRICE_EXPONENT, /* "price" written with an exponent: 123456E0 (the same number) */
    DM_INV_BIG_INTEGER,    /* "diamond_price"/"final_price" a 30-digit integer (unread) */
};
#define DM_INV_POISON_KINDS 4

struct dm_inv_churn_result {
    int64_t day;
    int64_t live_before, live_after;
    int64_t changed; /* price_changed + availability_changed + sold: new `updated` times */
    int64_t price_changed, availability_changed, sold, removed, added;
};

struct dm_inventory;

/* Generate count stones from seed (count <= 20,000,000). */
struct dm_inventory *dm_inv_new(uint64_t seed, uint32_t count);

/* --share-from SEED:FRACTION: floor(count x fraction) of the generated stones (spread evenly
 * over the serials) are the share seed's stones 0, 1, 2, ... as `dm_inv_new(seed, n)` draws
 * them: the same physical stone (lab-grown or not, treatment, shape, carats, colour, clarity,
 * cut, polish, symmetry, fluorescence, certificate lab and number, measurements and the other
 * certificate attributes), with this inventory's own ids, availability, price and dates.
 * Stones added later by churn are never shared. A share seed equal to seed is ignored (it would
 * list stones twice). Deterministic from (seed, count, share). */
struct dm_inv_share {
    uint64_t seed;
    double fraction; /* 0..1; 0 = no sharing */
};
struct dm_inventory *dm_inv_new_shared(uint64_t seed, uint32_t count,
                                       const struct dm_inv_share *share);
void dm_inv_free(struct dm_inventory *inv);

void dm_inv_rdlock(struct dm_inventory *inv);
void dm_inv_unlock(struct dm_inventory *inv);

/* Shape name of index i (< DM_INV_SHAPES) and index of a name (case-insensitive), -1 if none. */
const char *dm_inv_shape_name(int i);
int dm_inv_shape_index(const char *name);

/* Under the read lock: the stones matching f, in feed order. Release with dm_inv_release. */
const struct dm_inv_match *dm_inv_query(struct dm_inventory *inv, const struct dm_inv_filter *f);
void dm_inv_release(struct dm_inventory *inv, const struct dm_inv_match *m);
/* Under the read lock: the number of stones matching f (same answer as dm_inv_query's n;
 * uses a cached match list when there is one, else scans without caching). */
uint32_t dm_inv_count(struct dm_inventory *inv, const struct dm_inv_filter *f);

/* A compiled item selection: the fields to render, under which response keys, in order. */
struct dm_inv_sel {
    const char *key; /* response key (alias or name): a GraphQL name, needs no escaping */
    int field;       /* from dm_inv_field */
    const struct dm_inv_sel *children; /* object fields: their selection */
    int nchildren;
};
/* Field id of `name` in the object type of `parent` (-1 = the Item, else an object field's
 * id), or -1 when the type has no such field; "__typename" is accepted everywhere. *type is the
 * GraphQL type name of `parent` (for messages); *is_object tells if a selection is required. */
int dm_inv_field(int parent, const char *name, bool *is_object, const char **type);
/* Under the read lock: append the item JSON of the stone at pos with exactly the selected
 * fields, in selection order. */
/* The poison of the stone at pos for a poison rate: DM_INV_NORMAL for most stones, one of the
 * four poisoned variants for about `rate` of them, chosen from the stone's serial and the seed
 * (the same stone gets the same poison on every request and after churn). Its name ("overflow",
 * "deep", "exponent", "bignum") from dm_inv_poison_name, NULL for DM_INV_NORMAL. */
enum dm_inv_variant dm_inv_poison(const struct dm_inventory *inv, uint32_t pos, double rate);
const char *dm_inv_poison_name(enum dm_inv_variant v);

enum dm_err dm_inv_render_sel(struct dm_inventory *inv, uint32_t pos, enum dm_inv_variant v,
                              const struct dm_inv_sel *sel, int n,
                              struct dm_buf *out) DM_MUST_CHECK;
/* Under the read lock: append the item JSON of the stone at pos, every field. */
enum dm_err dm_inv_render(struct dm_inventory *inv, uint32_t pos, enum dm_inv_variant v,
                          struct dm_buf *out) DM_MUST_CHECK;
/* Under the read lock: price of the stone at pos in whole dollars. */
int64_t dm_inv_price_dollars(const struct dm_inventory *inv, uint32_t pos);
/* Under the read lock: the stone's `updated` and createdAt times (ms since epoch). */
int64_t dm_inv_updated_ms(const struct dm_inventory *inv, uint32_t pos);
int64_t dm_inv_created_ms(const struct dm_inventory *inv, uint32_t pos);
/* Under the read lock: position of a live stone by diamond id or offer id. */
bool dm_inv_find(struct dm_inventory *inv, const char *id, uint32_t *pos);
/* Under the read lock: live stones (removed ones excluded), and all positions (incl. removed). */
uint32_t dm_inv_live(const struct dm_inventory *inv);
uint32_t dm_inv_size(const struct dm_inventory *inv);
bool dm_inv_is_live(const struct dm_inventory *inv, uint32_t pos);

/* ---- file mode --------------------------------------------------------------------------- */

/* A stone as a supplier's inventory file shows it. Strings are static or in the struct. */
struct dm_inv_row {
    char stock[16]; /* supplier stone id ("ST" + 10 digits), unique in this inventory */
    const char *shape;
    int64_t carats100;
    const char *color, *clarity;
    const char *cut; /* NULL: no cut grade (most fancy shapes) */
    const char *polish, *symmetry;
    const char *fluorescence; /* None, Faint, Medium, Strong, Very Strong; NULL: not stated */
    const char *lab;
    char certno[16];
    int64_t price_cents; /* total price */
    int64_t ppc_cents;   /* price per carat, rounded */
    bool has_meas;       /* measurements stated */
    int64_t len100, wid100, dep100;
    int64_t depth_pct10, table_pct;
    char image[96], video[96]; /* "" when none */
    const char *availability;  /* Available, On Hold, Sold, Not Available, Memo */
    const char *growth;        /* Natural, CVD, HPHT */
    const char *key_symbols;   /* may hold commas; NULL when none */
    const char *comment;       /* may hold commas and double quotes; NULL when none */
    uint32_t serial;           /* for per-stone fault decisions (dm_inv_bad_row) */
};

/* A consistent copy of the live stones in feed order (48 bytes each), so a file is streamed
 * without holding the inventory lock: churn never waits for a slow download, and the file is
 * one version of the inventory. Takes the read lock itself. */
struct dm_inv_snapshot;
struct dm_inv_snapshot *dm_inv_snapshot_new(struct dm_inventory *inv);
void dm_inv_snapshot_free(struct dm_inv_snapshot *snap);
uint32_t dm_inv_snapshot_len(const struct dm_inv_snapshot *snap);
/* Content hash and last change time (ms) of the snapshot, as dm_inv_content reports them. */
uint64_t dm_inv_snapshot_hash(const struct dm_inv_snapshot *snap);
int64_t dm_inv_snapshot_changed_ms(const struct dm_inv_snapshot *snap);
/* Serial of row i (< len): for per-stone fault decisions without rendering the row. */
uint32_t dm_inv_snapshot_serial(const struct dm_inv_snapshot *snap, uint32_t i);
/* Row i (< len) of the snapshot. inv is only read for its immutable identity (seed, masks). */
void dm_inv_snapshot_row(const struct dm_inventory *inv, const struct dm_inv_snapshot *snap,
                         uint32_t i, struct dm_inv_row *out);

/* Under the read lock: a hash of everything an inventory file shows (live stones in order,
 * their ids, grading, prices and availability; not their `updated` times), cached per
 * version, and the time of the last mutation (for the initial inventory: its newest
 * `updated`). */
void dm_inv_content(struct dm_inventory *inv, uint64_t *hash, int64_t *changed_ms);

/* Bad-row kind (1..DM_INV_BAD_KINDS) of the stone with this serial for a malformed rate, or 0:
 * about `rate` of the stones, the same ones on every request (like dm_inv_poison). */
#define DM_INV_BAD_KINDS 3
int dm_inv_bad_row(const struct dm_inventory *inv, uint32_t serial, double rate);

/* Advance one simulated day: percent % of live stones change (price, availability, sold,
 * removed) with `updated` = now_ms, and new stones (10 % of the changed number) appear.
 * Which stones change is deterministic from (seed, day). Takes the write lock. */
void dm_inv_churn(struct dm_inventory *inv, double percent, int64_t now_ms,
                  struct dm_inv_churn_result *out);

/* Hold the stone with this offer (or diamond) id: DM_ERR_NOT_FOUND, or DM_OK with *denied
 * when it is not available; else its availability becomes "On Hold" and hold_id/until are
 * filled. Takes the write lock. */
enum dm_err dm_inv_hold(struct dm_inventory *inv, const char *offer_id, int64_t now_ms,
                        bool *denied, char hold_id[40], int64_t *until_ms) DM_MUST_CHECK;
/* Order: DM_ERR_NOT_FOUND, DM_ERR_CONFLICT when sold; else availability "Sold". */
enum dm_err dm_inv_order(struct dm_inventory *inv, const char *offer_id, int64_t now_ms,
                         char order_id[40]) DM_MUST_CHECK;

#endif
