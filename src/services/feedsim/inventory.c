/* inventory.c - deterministic synthetic stones, filtering with a match cache, item rendering. */
#include "services/feedsim/inventory.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/num.h"
#include "core/timeutil.h"
#include "domain/shapes.h"

#define T0_MS 1767225600000LL /* 2026-01-01T00:00:00Z: inventory history ends here */
#define SPAN_MS (730LL * 86400 * 1000)
#define CACHE_MAX 64
#define CACHE_MAX_POSITIONS (8u << 20) /* cached positions across entries (32 MiB) */

enum { AV_AVAILABLE, AV_HOLD, AV_SOLD, AV_NOT_AVAILABLE, AV_MEMO };
static const char *const avail_names[] = {"AVAILABLE", "On Hold", "Sold", "Not Available", "Memo"};

enum { F_LABGROWN = 1, F_TREATED = 2, F_REMOVED = 4, F_HPHT = 8, F_SHARED = 16 };

/* One stone: 48 bytes. Everything else of an item is derived from (seed, serial); a shared
 * stone's physical attributes (F_SHARED) from (share seed, pserial) instead. */
struct stone {
    int64_t created_ms;
    int64_t updated_ms;
    uint32_t serial;
    uint32_t price_cents;
    uint32_t hold_seq;
    uint32_t pserial; /* serial of the physical stone: own serial, or the share seed's */
    uint16_t carats100;
    uint8_t shape, color, clarity, cut, polish, symmetry, flo, lab, avail, flags, supplier;
};

/* One row of the price index: what filters look at, 24 bytes, scanned sequentially. */
struct pentry {
    uint32_t price_cents;
    uint32_t pos;
    int64_t updated_ms;
    uint16_t carats100;
    uint8_t shape, flags;
};

struct centry {
    struct dm_inv_match m; /* first: dm_inv_release casts back */
    struct dm_inv_filter key;
    uint64_t version;
    uint64_t tick;
    int refs;
    bool in_table;
    uint32_t *pos;
};

struct dm_inventory {
    pthread_rwlock_t lock;
    uint64_t seed;
    uint64_t mask_d, mask_o, mask_c, mask_h;
    /* --share-from: serials below share_limit are shared at share_ppm parts per million. */
    bool share;
    uint64_t share_seed, share_mask_c;
    uint32_t share_ppm, share_limit;
    /* Content identity for the file mode (under cmu): hash of what a file shows, per version. */
    bool content_valid;
    uint64_t content_version, content_hash;
    int64_t changed_ms;  /* last mutation (or the newest `updated` of the initial inventory) */
    struct stone *st;    /* feed order */
    uint32_t n, cap;     /* positions used (incl. removed), allocated */
    uint32_t *by_serial; /* serial -> position */
    struct pentry *pidx; /* price index: filter columns sorted by (price, position) */
    uint32_t next_serial;
    uint32_t live;
    uint64_t version; /* bumps on every mutation */
    int64_t day;
    pthread_mutex_t cmu;
    struct centry *cache[CACHE_MAX];
    uint64_t tick;
    uint64_t cached_positions;
};

/* The simulator's shapes: the 17 the pipeline queries (domain/shapes.h, in its order, so index i
 * < DM_SHAPE_COUNT is dm_shapes[i]), then 3 it never asks for. */
_Static_assert(DM_INV_SHAPES == DM_SHAPE_COUNT + 3, "17 queried shapes and 3 unlisted ones");
static const char *const unlisted_shapes[DM_INV_SHAPES - DM_SHAPE_COUNT] = {
    "BAGUETTE",
    "TAPERED BAGUETTE",
    "BRIOLETTE",
};
static const char *shape_name(int i)
{
    return i < DM_SHAPE_COUNT ? dm_shapes[i] : unlisted_shapes[i - DM_SHAPE_COUNT];
}
static const char *const full_shapes[DM_INV_SHAPES] = {
    "Round Brilliant",
    "Oval Brilliant",
    "Emerald Step Cut",
    "Cushion",
    "Cushion Brilliant B",
    "Cushion Modified Brilliant",
    "Cushion Brilliant",
    "Asscher Step Cut",
    "Radiant",
    "Marquise Brilliant",
    "Pear Brilliant",
    "Princess Cut",
    "Rose Cut",
    "Old Miner Cut",
    "Trilliant",
    "Hexagonal",
    "Heart Brilliant",
    "Baguette",
    "Tapered Baguette",
    "Briolette",
};
static const double shape_w[DM_INV_SHAPES] = {44, 11, 7,   5,   1,   3,   2, 2,   5,   2,
                                              6,  5,  0.5, 0.5, 0.5, 0.5, 2, 1.5, 0.7, 0.3};
static const double shape_ratio[DM_INV_SHAPES] = {1.0, 1.4, 1.4, 1.1, 1.1, 1.1, 1.1, 1.0, 1.3, 2.0,
                                                  1.6, 1.0, 1.2, 1.0, 1.0, 1.0, 1.0, 2.5, 2.5, 1.8};

static const char *const colors[] = {"D", "E", "F", "G", "H", "I", "J", "K", "L", "M"};
static const double color_w_nat[] = {3, 6, 10, 15, 15, 14, 12, 10, 8, 7};
static const double color_w_lab[] = {15, 20, 25, 18, 10, 6, 3, 2, 1, 0};
static const double color_f[] = {1.55, 1.40, 1.28, 1.15, 1.0, 0.86, 0.74, 0.62, 0.54, 0.47};

static const char *const clarities[] = {"FL",  "IF",  "VVS1", "VVS2", "VS1",
                                        "VS2", "SI1", "SI2",  "I1",   "I2"};
static const double clarity_w_nat[] = {1, 3, 6, 9, 14, 17, 18, 16, 10, 6};
static const double clarity_w_lab[] = {1, 5, 18, 22, 24, 18, 8, 3, 1, 0};
static const double clarity_f[] = {1.9, 1.6, 1.4, 1.28, 1.15, 1.05, 0.9, 0.75, 0.5, 0.35};

static const char *const grades[] = {"EX", "VG", "GD", "FR"};
static const double cut_w[] = {60, 25, 12, 3};
static const double finish_w[] = {55, 35, 9, 1};
static const double cut_f[] = {1.08, 1.0, 0.9, 0.8};

static const char *const flos[] = {"NON", "FNT", "MED", "STG", "VST"};
static const double flo_w[] = {60, 18, 12, 8, 2};

static const char *const cert_labs[] = {"GIA", "IGI", "HRD", "AGS", "GCAL"};
static const double lab_w_nat[] = {70, 12, 8, 5, 5};
static const double lab_w_lab[] = {10, 75, 0, 0, 15};

static const double avail_w[] = {94, 3, 0, 2, 1};

#define NSUPPLIERS 24
static const char *const suppliers[NSUPPLIERS] = {
    "Antwerp Brilliants",
    "Surat Stars",
    "Mumbai Gems",
    "Tel Aviv Diamonds",
    "New York Solitaire",
    "Hong Kong Lustre",
    "Dubai Facets",
    "Gaborone Rough",
    "Ramat Gan Cutters",
    "Bangkok Sparkle",
    "London Carat Co",
    "Geneva Fine Stones",
    "Kimberley Select",
    "Lab Grown Direct",
    "Pure Lab Labs",
    "Sierra Lab Stones",
    "Nova Created",
    "Brilliant Earth Supply",
    "Cullinan Trading",
    "Amsterdam Cut",
    "Jaipur Gemcraft",
    "Toronto Ice",
    "Sydney Sapphire & Diamond",
    "Tokyo Clarity",
};

static const char *const mines[] = {"Botswana", "Canada",    "Russia", "South Africa",
                                    "Namibia",  "Australia", "Angola", "Lesotho"};
static const char *const girdles[] = {"THN-MED", "MED", "MED-STK", "STK", "THK", "THN-STK"};
static const char *const key_symbols[] = {"Crystal, Feather", "Cloud, Needle",
                                          "Feather, Indented Natural", "Pinpoint",
                                          "Crystal, Cloud, Twinning Wisp"};
static const char *const comments[] = {"Additional clouds are not shown.",
                                       "Surface graining is not shown.", "Pinpoints are not shown.",
                                       "This is a laboratory-grown diamond."};

/* ---- hashing and randomness -------------------------------------------------------------- */

static uint64_t unmix(uint64_t x)
{
    x ^= (x >> 31) ^ (x >> 62);
    x *= 0x319642b2d24d8ec3ULL;
    x ^= (x >> 27) ^ (x >> 54);
    x *= 0x96de1b173f119089ULL;
    x ^= (x >> 30) ^ (x >> 60);
    return x;
}

struct rng {
    uint64_t s;
};

static uint64_t rnext(struct rng *r)
{
    r->s += 0x9E3779B97F4A7C15ULL;
    return dm_mix64(r->s);
}

static double runif(struct rng *r)
{
    return (double)(rnext(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double rnorm(struct rng *r)
{
    double u1 = runif(r), u2 = runif(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static int rpick(struct rng *r, const double *w, int n)
{
    double t = 0;
    for (int i = 0; i < n; i++)
        t += w[i];
    double x = runif(r) * t;
    for (int i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

#define PICK(r, w) rpick((r), (w), (int)(sizeof(w) / sizeof((w)[0])))

/* ---- generation ---------------------------------------------------------------------------- */

static uint32_t price_for(struct rng *r, const struct stone *s)
{
    double c = s->carats100 / 100.0;
    double ppc = 5200.0 * pow(c, 0.85) * color_f[s->color] * clarity_f[s->clarity] *
                 cut_f[s->cut < 4 ? s->cut : 1] * exp(0.18 * rnorm(r));
    if (s->flags & F_LABGROWN)
        ppc *= 0.11 * pow(c, -0.1);
    if (s->flags & F_TREATED)
        ppc *= 0.6;
    double dollars = ppc * c;
    if (dollars < 150)
        dollars = 150 + runif(r) * 50;
    double cents = dollars * 100.0;
    if (cents > 4.0e9)
        cents = 4.0e9;
    return (uint32_t)cents;
}

/* Is stone `serial` one of the shared ones, and which of the share seed's serials is it?
 * Serials below share_limit are spread evenly: serial i is shared when floor((i+1) f) passes
 * floor(i f), and is then the share seed's stone floor(i f). So exactly floor(n f) of the
 * first n stones are shared, and they are the share seed's first floor(n f) stones. */
static bool shared_serial(const struct dm_inventory *inv, uint32_t serial, uint32_t *pserial)
{
    *pserial = serial;
    if (!inv->share || serial >= inv->share_limit)
        return false;
    uint64_t a = (uint64_t)serial * inv->share_ppm / 1000000;
    uint64_t b = ((uint64_t)serial + 1) * inv->share_ppm / 1000000;
    if (b == a)
        return false;
    *pserial = (uint32_t)a;
    return true;
}

static uint64_t stone_seed(uint64_t seed, uint32_t serial)
{
    return dm_mix64(seed ^ ((uint64_t)serial * 0xD1B54A32D192ED03ULL));
}

static void gen_stone(const struct dm_inventory *inv, uint32_t serial, int64_t created_ms,
                      int64_t updated_ms, struct stone *s)
{
    struct rng own = {stone_seed(inv->seed, serial)};
    memset(s, 0, sizeof(*s));
    s->serial = serial;
    /* The physical stone (grading, lab, certificate) comes from the first draws: a shared
     * stone takes them from the share seed's generator, exactly as that simulator draws them,
     * then its offer (availability, supplier, price, dates) from its own. An unshared stone
     * draws everything from one sequence. */
    bool shared = shared_serial(inv, serial, &s->pserial);
    struct rng src = {shared ? stone_seed(inv->share_seed, s->pserial) : 0};
    struct rng *r = shared ? &src : &own;
    if (shared)
        s->flags |= F_SHARED;
    bool lab = runif(r) < 0.40;
    if (lab)
        s->flags |= F_LABGROWN | (runif(r) < 0.3 ? F_HPHT : 0);
    else if (runif(r) < 0.02)
        s->flags |= F_TREATED;
    s->shape = (uint8_t)PICK(r, shape_w);
    double c = exp(log(lab ? 1.4 : 0.95) + (lab ? 0.5 : 0.6) * rnorm(r));
    if (c < 0.18)
        c = 0.18 + runif(r) * 0.1;
    if (c > 30)
        c = 30;
    s->carats100 = (uint16_t)lround(c * 100);
    s->color = (uint8_t)(lab ? PICK(r, color_w_lab) : PICK(r, color_w_nat));
    s->clarity = (uint8_t)(lab ? PICK(r, clarity_w_lab) : PICK(r, clarity_w_nat));
    s->cut = (uint8_t)PICK(r, cut_w);
    s->polish = (uint8_t)PICK(r, finish_w);
    s->symmetry = (uint8_t)PICK(r, finish_w);
    s->flo = (uint8_t)PICK(r, flo_w);
    s->lab = (uint8_t)(lab ? PICK(r, lab_w_lab) : PICK(r, lab_w_nat));
    r = &own;
    s->avail = (uint8_t)PICK(r, avail_w);
    s->supplier = (uint8_t)(rnext(r) % NSUPPLIERS);
    s->price_cents = price_for(r, s);
    if (created_ms == 0) {
        int64_t back = (int64_t)(rnext(r) % (uint64_t)(SPAN_MS / 1000)) * 1000;
        created_ms = T0_MS - back;
        updated_ms = created_ms + (int64_t)(rnext(r) % (uint64_t)(back + 1));
    }
    s->created_ms = created_ms;
    s->updated_ms = updated_ms;
    if (s->avail == AV_HOLD)
        s->hold_seq = 1;
}

/* Feed order: createdAt, then the diamond id (its first 64 bits are dm_mix64(serial ^ mask_d),
 * printed as fixed-width hex, so numeric order is the id's string order). */
static void pidx_rebuild(struct dm_inventory *inv);

static int cmp_stone(const void *a, const void *b, void *ctx)
{
    const struct stone *x = a, *y = b;
    const struct dm_inventory *inv = ctx;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? -1 : 1;
    uint64_t hx = dm_mix64(x->serial ^ inv->mask_d), hy = dm_mix64(y->serial ^ inv->mask_d);
    return hx < hy ? -1 : (hx > hy);
}

static void ensure_cap(struct dm_inventory *inv, uint32_t need)
{
    if (need <= inv->cap)
        return;
    uint32_t cap = inv->cap ? inv->cap : 1024;
    while (cap < need)
        cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
    inv->st = dm_xrealloc(inv->st, (size_t)cap * sizeof(*inv->st));
    inv->by_serial = dm_xrealloc(inv->by_serial, (size_t)cap * sizeof(*inv->by_serial));
    inv->cap = cap;
}

struct dm_inventory *dm_inv_new(uint64_t seed, uint32_t count)
{
    return dm_inv_new_shared(seed, count, NULL);
}

struct dm_inventory *dm_inv_new_shared(uint64_t seed, uint32_t count,
                                       const struct dm_inv_share *share)
{
    struct dm_inventory *inv = dm_xcalloc(1, sizeof(*inv));
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* Writers (churn, holds) must not starve behind a steady stream of page reads. */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&inv->lock, &a);
    pthread_rwlockattr_destroy(&a);
    pthread_mutex_init(&inv->cmu, NULL);
    inv->seed = seed;
    inv->mask_d = dm_mix64(seed ^ 0x1111111111111111ULL);
    inv->mask_o = dm_mix64(seed ^ 0x2222222222222222ULL);
    inv->mask_c = dm_mix64(seed ^ 0x3333333333333333ULL);
    inv->mask_h = dm_mix64(seed ^ 0x4444444444444444ULL);
    if (share != NULL && share->fraction > 0 && share->seed != seed) {
        inv->share = true;
        inv->share_seed = share->seed;
        inv->share_mask_c = dm_mix64(share->seed ^ 0x3333333333333333ULL);
        double ppm = share->fraction >= 1 ? 1e6 : share->fraction * 1e6;
        inv->share_ppm = (uint32_t)llround(ppm);
        inv->share_limit = count;
    }
    ensure_cap(inv, count ? count : 1);
    for (uint32_t i = 0; i < count; i++)
        gen_stone(inv, i, 0, 0, &inv->st[i]);
    qsort_r(inv->st, count, sizeof(*inv->st), cmp_stone, inv);
    for (uint32_t i = 0; i < count; i++)
        inv->by_serial[inv->st[i].serial] = i;
    inv->n = count;
    inv->next_serial = count;
    inv->live = count;
    for (uint32_t i = 0; i < count; i++)
        if (inv->st[i].updated_ms > inv->changed_ms)
            inv->changed_ms = inv->st[i].updated_ms;
    pidx_rebuild(inv);
    return inv;
}

static void centry_free(struct dm_inventory *inv, struct centry *e)
{
    inv->cached_positions -= e->m.n;
    free(e->pos);
    free(e);
}

void dm_inv_free(struct dm_inventory *inv)
{
    if (inv == NULL)
        return;
    for (int i = 0; i < CACHE_MAX; i++)
        if (inv->cache[i])
            centry_free(inv, inv->cache[i]);
    pthread_rwlock_destroy(&inv->lock);
    pthread_mutex_destroy(&inv->cmu);
    free(inv->st);
    free(inv->by_serial);
    free(inv->pidx);
    free(inv);
}

void dm_inv_rdlock(struct dm_inventory *inv)
{
    pthread_rwlock_rdlock(&inv->lock);
}

void dm_inv_unlock(struct dm_inventory *inv)
{
    pthread_rwlock_unlock(&inv->lock);
}

const char *dm_inv_shape_name(int i)
{
    return i >= 0 && i < DM_INV_SHAPES ? shape_name(i) : NULL;
}

int dm_inv_shape_index(const char *name)
{
    for (int i = 0; i < DM_INV_SHAPES; i++)
        if (!strcasecmp(name, shape_name(i)))
            return i;
    return -1;
}

uint32_t dm_inv_live(const struct dm_inventory *inv)
{
    return inv->live;
}

enum dm_inv_variant dm_inv_poison(const struct dm_inventory *inv, uint32_t pos, double rate)
{
    if (!(rate > 0) || pos >= inv->n)
        return DM_INV_NORMAL;
    uint64_t h = dm_mix64(inv->st[pos].serial ^ dm_mix64(inv->seed ^ 0x706f69736f6eULL));
    if ((double)(h >> 11) * (1.0 / 9007199254740992.0) >= rate)
        return DM_INV_NORMAL;
    return (enum dm_inv_variant)(DM_INV_PRICE_OVERFLOW + (int)((h & 0xff) % DM_INV_POISON_KINDS));
}

const char *dm_inv_poison_name(enum dm_inv_variant v)
{
    switch (v) {
    case DM_INV_PRICE_OVERFLOW:
        return "overflow";
    case DM_INV_DEEP_VALUE:
        return "deep";
    case DM_INV_PRICE_EXPONENT:
        return "exponent";
    case DM_INV_BIG_INTEGER:
        return "bignum";
    default:
        return NULL;
    }
}

uint32_t dm_inv_size(const struct dm_inventory *inv)
{
    return inv->n;
}

bool dm_inv_is_live(const struct dm_inventory *inv, uint32_t pos)
{
    return pos < inv->n && !(inv->st[pos].flags & F_REMOVED);
}

int64_t dm_inv_updated_ms(const struct dm_inventory *inv, uint32_t pos)
{
    return inv->st[pos].updated_ms;
}

int64_t dm_inv_created_ms(const struct dm_inventory *inv, uint32_t pos)
{
    return inv->st[pos].created_ms;
}

int64_t dm_inv_price_dollars(const struct dm_inventory *inv, uint32_t pos)
{
    return inv->st[pos].price_cents / 100;
}

/* ---- filtering ---------------------------------------------------------------------------- */

/* Every criterion of f but the price against a stone's values (a stone's or its price-index
 * entry's: struct pentry carries just these); a removed stone matches nothing. */
static bool matches_but_price(uint8_t flags, int64_t updated_ms, uint16_t carats100, uint8_t shape,
                              const struct dm_inv_filter *f)
{
    if (flags & F_REMOVED)
        return false;
    if (f->has_updated && (updated_ms < f->updated_from || updated_ms > f->updated_to))
        return false;
    if (f->has_sizes && (carats100 < f->size_from || carats100 > f->size_to))
        return false;
    if (f->has_shapes && !(f->shape_mask & (1u << shape)))
        return false;
    if (f->labgrown >= 0 && ((flags & F_LABGROWN) != 0) != (f->labgrown == 1))
        return false;
    return true;
}

static bool matches(const struct stone *s, const struct dm_inv_filter *f)
{
    if (f->has_price) {
        int64_t d = s->price_cents / 100;
        if (d < f->price_from || d > f->price_to)
            return false;
    }
    return matches_but_price(s->flags, s->updated_ms, s->carats100, s->shape, f);
}

static bool filter_eq(const struct dm_inv_filter *a, const struct dm_inv_filter *b)
{
    return a->has_price == b->has_price && a->price_from == b->price_from &&
           a->price_to == b->price_to && a->has_updated == b->has_updated &&
           a->updated_from == b->updated_from && a->updated_to == b->updated_to &&
           a->has_sizes == b->has_sizes && a->size_from == b->size_from &&
           a->size_to == b->size_to && a->has_shapes == b->has_shapes &&
           a->shape_mask == b->shape_mask && a->labgrown == b->labgrown;
}

/* Canonical copy: fields a filter does not use are zero, so equal filters compare equal. */
static void canon(const struct dm_inv_filter *f, struct dm_inv_filter *k)
{
    memset(k, 0, sizeof(*k));
    k->has_price = f->has_price;
    if (f->has_price) {
        k->price_from = f->price_from;
        k->price_to = f->price_to;
    }
    k->has_updated = f->has_updated;
    if (f->has_updated) {
        k->updated_from = f->updated_from;
        k->updated_to = f->updated_to;
    }
    k->has_sizes = f->has_sizes;
    if (f->has_sizes) {
        k->size_from = f->size_from;
        k->size_to = f->size_to;
    }
    k->has_shapes = f->has_shapes;
    if (f->has_shapes)
        k->shape_mask = f->shape_mask;
    k->labgrown = f->labgrown;
}

static bool pmatches(const struct pentry *p, const struct dm_inv_filter *f)
{
    return matches_but_price(p->flags, p->updated_ms, p->carats100, p->shape, f);
}

static void pentry_fill(const struct stone *s, uint32_t pos, struct pentry *p)
{
    p->price_cents = s->price_cents;
    p->pos = pos;
    p->updated_ms = s->updated_ms;
    p->carats100 = s->carats100;
    p->shape = s->shape;
    p->flags = s->flags;
}

static int cmp_pentry(const void *a, const void *b)
{
    const struct pentry *x = a, *y = b;
    if (x->price_cents != y->price_cents)
        return x->price_cents < y->price_cents ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/* Under the write lock (or before sharing): rebuild the whole price index. */
static void pidx_rebuild(struct dm_inventory *inv)
{
    free(inv->pidx);
    inv->pidx = dm_xmalloc(((size_t)inv->n + 1) * sizeof(*inv->pidx));
    for (uint32_t i = 0; i < inv->n; i++)
        pentry_fill(&inv->st[i], i, &inv->pidx[i]);
    qsort(inv->pidx, inv->n, sizeof(*inv->pidx), cmp_pentry);
}

/* First index entry at or after (price, pos). */
static uint32_t pidx_lower(const struct dm_inventory *inv, uint64_t price, uint32_t pos)
{
    uint32_t lo = 0, hi = inv->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct pentry *p = &inv->pidx[mid];
        if (p->price_cents < price || (p->price_cents == price && p->pos < pos))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Under the write lock: refresh the index row of a stone whose price did not change. */
static void pidx_update(struct dm_inventory *inv, uint32_t pos)
{
    uint32_t i = pidx_lower(inv, inv->st[pos].price_cents, pos);
    if (i < inv->n && inv->pidx[i].pos == pos)
        pentry_fill(&inv->st[pos], pos, &inv->pidx[i]);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : (x > y);
}

/* The index rows [*a, *b) whose price can match f; false when a full scan is cheaper. */
static bool price_rows(const struct dm_inventory *inv, const struct dm_inv_filter *f, uint32_t *a,
                       uint32_t *b)
{
    if (!f->has_price)
        return false;
    uint64_t lo = f->price_from <= 0 ? 0 : (uint64_t)f->price_from * 100;
    uint64_t hi =
        f->price_to >= (int64_t)(UINT32_MAX / 100) ? UINT32_MAX : (uint64_t)f->price_to * 100 + 99;
    if (f->price_from > (int64_t)(UINT32_MAX / 100) || lo > hi) {
        *a = *b = 0;
        return true;
    }
    *a = pidx_lower(inv, lo, 0);
    *b = hi >= UINT32_MAX ? inv->n : pidx_lower(inv, hi + 1, 0);
    /* Wide bands read most of the index in price order: the feed-order scan is as cheap and
     * needs no sort. */
    return (uint64_t)(*b - *a) * 3 < inv->n;
}

/* Matching positions in feed order; *out malloc'd. */
static uint32_t collect(const struct dm_inventory *inv, const struct dm_inv_filter *key,
                        uint32_t **out)
{
    uint32_t cap = 1024, n = 0, a, b;
    uint32_t *pos = dm_xmalloc(cap * sizeof(uint32_t));
    bool by_price = price_rows(inv, key, &a, &b);
    uint32_t end = by_price ? b : inv->n;
    for (uint32_t i = by_price ? a : 0; i < end; i++) {
        bool ok = by_price ? pmatches(&inv->pidx[i], key) : matches(&inv->st[i], key);
        if (!ok)
            continue;
        if (n == cap) {
            cap *= 2;
            pos = dm_xrealloc(pos, (size_t)cap * sizeof(uint32_t));
        }
        pos[n++] = by_price ? inv->pidx[i].pos : i;
    }
    if (by_price)
        qsort(pos, n, sizeof(uint32_t), cmp_u32); /* feed order = position order */
    *out = pos;
    return n;
}

static uint32_t count_matches(const struct dm_inventory *inv, const struct dm_inv_filter *key)
{
    uint32_t n = 0, a, b;
    if (price_rows(inv, key, &a, &b)) {
        for (uint32_t i = a; i < b; i++)
            n += pmatches(&inv->pidx[i], key);
    } else {
        for (uint32_t i = 0; i < inv->n; i++)
            n += matches(&inv->st[i], key);
    }
    return n;
}

const struct dm_inv_match *dm_inv_query(struct dm_inventory *inv, const struct dm_inv_filter *f)
{
    struct dm_inv_filter key;
    canon(f, &key);
    pthread_mutex_lock(&inv->cmu);
    for (int i = 0; i < CACHE_MAX; i++) {
        struct centry *e = inv->cache[i];
        if (e && e->version == inv->version && filter_eq(&e->key, &key)) {
            e->refs++;
            e->tick = ++inv->tick;
            pthread_mutex_unlock(&inv->cmu);
            return &e->m;
        }
    }
    uint64_t version = inv->version; /* stable: we hold the read lock */
    pthread_mutex_unlock(&inv->cmu);

    struct centry *e = dm_xcalloc(1, sizeof(*e));
    e->key = key;
    e->version = version;
    uint32_t n = collect(inv, &key, &e->pos);
    e->m.n = n;
    e->m.pos = e->pos;
    e->refs = 1;

    pthread_mutex_lock(&inv->cmu);
    inv->cached_positions += n;
    e->tick = ++inv->tick;
    /* Drop entries of older versions and, if still full or too big, the least recently used. */
    for (;;) {
        int free_slot = -1, victim = -1;
        uint64_t oldest = UINT64_MAX;
        for (int i = 0; i < CACHE_MAX; i++) {
            struct centry *c = inv->cache[i];
            if (c == NULL) {
                free_slot = i;
                continue;
            }
            if (c->version != inv->version) {
                victim = i;
                oldest = 0;
            } else if (c->tick < oldest) {
                victim = i;
                oldest = c->tick;
            }
        }
        bool must_evict = (free_slot < 0 || inv->cached_positions > CACHE_MAX_POSITIONS ||
                           (victim >= 0 && inv->cache[victim]->version != inv->version));
        if (!must_evict || victim < 0) {
            if (free_slot >= 0) {
                inv->cache[free_slot] = e;
                e->in_table = true;
            }
            break;
        }
        struct centry *c = inv->cache[victim];
        inv->cache[victim] = NULL;
        c->in_table = false;
        if (c->refs == 0)
            centry_free(inv, c);
    }
    pthread_mutex_unlock(&inv->cmu);
    return &e->m;
}

uint32_t dm_inv_count(struct dm_inventory *inv, const struct dm_inv_filter *f)
{
    struct dm_inv_filter key;
    canon(f, &key);
    pthread_mutex_lock(&inv->cmu);
    for (int i = 0; i < CACHE_MAX; i++) {
        struct centry *e = inv->cache[i];
        if (e && e->version == inv->version && filter_eq(&e->key, &key)) {
            uint32_t n = e->m.n;
            pthread_mutex_unlock(&inv->cmu);
            return n;
        }
    }
    pthread_mutex_unlock(&inv->cmu);
    /* Counting alone does not cache: bisecting schedulers ask hundreds of one-off counts. */
    return count_matches(inv, &key);
}

void dm_inv_release(struct dm_inventory *inv, const struct dm_inv_match *m)
{
    if (m == NULL)
        return;
    struct centry *e = (struct centry *)m;
    pthread_mutex_lock(&inv->cmu);
    if (--e->refs == 0 && !e->in_table)
        centry_free(inv, e);
    pthread_mutex_unlock(&inv->cmu);
}

/* ---- ids ---------------------------------------------------------------------------------- */

static void fmt_uuid(uint64_t hi, uint64_t lo, char out[37])
{
    static const char hx[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 32; i++) {
        uint64_t w = i < 16 ? hi : lo;
        int sh = 60 - 4 * (i % 16);
        if (i == 8 || i == 12 || i == 16 || i == 20)
            *p++ = '-';
        *p++ = hx[(w >> sh) & 15];
    }
    *p = '\0';
}

static void diamond_id(const struct dm_inventory *inv, uint32_t serial, char out[37])
{
    uint64_t hi = dm_mix64(serial ^ inv->mask_d);
    fmt_uuid(hi, dm_mix64(hi ^ 0x5bd1e9955bd1e995ULL), out);
}

static void offer_id(const struct dm_inventory *inv, uint32_t serial, char out[37])
{
    uint64_t hi = dm_mix64(serial ^ inv->mask_o);
    fmt_uuid(hi, dm_mix64(hi ^ 0xc2b2ae3d27d4eb4fULL), out);
}

/* The certificate's id from its hash (dm_mix64(pserial ^ mask_c) of the physical stone): a shared
 * stone's certificate is the source's, id and PDF included. */
static void cert_id(uint64_t cert, char out[37])
{
    fmt_uuid(cert, dm_mix64(cert ^ 0x165667b19e3779f9ULL), out);
}

static void hold_id(const struct dm_inventory *inv, uint32_t serial, uint32_t seq, char out[37])
{
    uint64_t hi = dm_mix64(((uint64_t)seq << 32 | serial) ^ inv->mask_h);
    fmt_uuid(hi, dm_mix64(hi ^ 0x27d4eb2f165667c5ULL), out);
}

bool dm_inv_find(struct dm_inventory *inv, const char *id, uint32_t *pos)
{
    if (id == NULL || strlen(id) != 36)
        return false;
    uint64_t hi = 0;
    int digits = 0;
    for (const char *p = id; *p && digits < 16; p++) {
        if (*p == '-')
            continue;
        int v;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            v = *p - 'A' + 10;
        else
            return false;
        hi = hi << 4 | (uint64_t)v;
        digits++;
    }
    uint64_t masks[2] = {inv->mask_o, inv->mask_d};
    for (int k = 0; k < 2; k++) {
        uint64_t serial = unmix(hi) ^ masks[k];
        if (serial >= inv->next_serial)
            continue;
        char buf[37];
        if (k == 0)
            offer_id(inv, (uint32_t)serial, buf);
        else
            diamond_id(inv, (uint32_t)serial, buf);
        if (strcasecmp(buf, id) != 0)
            continue;
        uint32_t p = inv->by_serial[serial];
        if (inv->st[p].flags & F_REMOVED)
            return false;
        *pos = p;
        return true;
    }
    return false;
}

/* ---- rendering ---------------------------------------------------------------------------- */

struct jw {
    struct dm_buf *b;
    enum dm_err e;
};

static void w_raw(struct jw *w, const char *s, size_t n)
{
    if (w->e == DM_OK)
        w->e = dm_buf_append(w->b, s, n);
}

#define W_LIT(w, s) w_raw(w, s, sizeof(s) - 1)

static void w_str(struct jw *w, const char *s) /* s is always plain ASCII without quotes */
{
    W_LIT(w, "\"");
    w_raw(w, s, strlen(s));
    W_LIT(w, "\"");
}

static void w_i64(struct jw *w, int64_t v)
{
    char buf[24];
    char *p = buf + sizeof(buf);
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    w_raw(w, p, (size_t)(buf + sizeof(buf) - p));
}

/* v / 10^scale as a decimal (scale 1 or 2). */
static void w_fixed(struct jw *w, int64_t v, int scale)
{
    int64_t div = scale == 1 ? 10 : 100;
    if (v < 0) {
        W_LIT(w, "-");
        v = -v;
    }
    w_i64(w, v / div);
    char frac[4];
    int64_t f = v % div;
    if (scale == 1) {
        frac[0] = '.';
        frac[1] = (char)('0' + f);
        w_raw(w, frac, 2);
    } else {
        frac[0] = '.';
        frac[1] = (char)('0' + f / 10);
        frac[2] = (char)('0' + f % 10);
        w_raw(w, frac, 3);
    }
}

static void w_bool(struct jw *w, bool b)
{
    if (b)
        W_LIT(w, "true");
    else
        W_LIT(w, "false");
}

/* Optional-null decision: bit group k of h is zero one time in eight. */
static bool is_null(uint64_t h, int k)
{
    return ((h >> (3 * k)) & 7) == 0;
}

/* ---- item schema and selections --------------------------------------------------------- */

enum {
    /* Item */
    I_ID,
    I_PRICE,
    I_DISCOUNT,
    I_DIAMOND_PRICE,
    I_MARKUP_PRICE,
    I_MARKUP_DISCOUNT,
    I_DIAMOND,
    /* Diamond */
    D_ID,
    D_AVAILABILITY,
    D_HOLDID,
    D_NIVODA_STOCK,
    D_SUPPLIER_STOCK,
    D_IMAGE,
    D_VIDEO,
    D_EYECLEAN,
    D_BROWN,
    D_GREEN,
    D_BLUE,
    D_GRAY,
    D_MILKY,
    D_BOWTIE,
    D_MINE,
    D_SUPPLIER_VIDEO,
    D_APPROVAL,
    D_FINAL_PRICE,
    D_SHOW_MEAS,
    D_SHOW_CERTNO,
    D_RETURN_WINDOW,
    D_CERT_TYPE,
    D_DELIVERY,
    D_CERTIFICATE,
    D_SUPPLIER,
    /* DeliveryTime */
    T_EXPRESS,
    T_MIN,
    T_MAX,
    /* Certificate */
    C_ID,
    C_LAB,
    C_CERTNO,
    C_PDF,
    C_SHAPE,
    C_FULLSHAPE,
    C_CARATS,
    C_CLARITY,
    C_CUT,
    C_POLISH,
    C_SYMMETRY,
    C_COLOR,
    C_LENGTH,
    C_WIDTH,
    C_DEPTH,
    C_DEPTHPCT,
    C_TABLE,
    C_CROWN_ANGLE,
    C_CROWN_HEIGHT,
    C_PAV_ANGLE,
    C_PAV_HEIGHT,
    C_PAV_DEPTH,
    C_FLOINT,
    C_FLOCOL,
    C_VERIFIED,
    C_LABGROWN,
    C_LABGROWN_TYPE,
    C_TREATED,
    C_GIRDLE,
    C_CULET_SIZE,
    C_GIRDLE_COND,
    C_CULET_COND,
    C_CUT_STYLE,
    C_KEY_SYMBOLS,
    C_COMMENTS,
    /* Supplier */
    S_ID,
    S_NAME,
    S_LEGAL_NAME,
    NFIELDS,
    F_TYPENAME = NFIELDS,
};

static const struct {
    const char *name;
    int parent; /* -1 = Item */
} schema[NFIELDS] = {
    {"id", -1},
    {"price", -1},
    {"discount", -1},
    {"diamond_price", -1},
    {"markup_price", -1},
    {"markup_discount", -1},
    {"diamond", -1},
    {"id", I_DIAMOND},
    {"availability", I_DIAMOND},
    {"HoldId", I_DIAMOND},
    {"NivodaStockId", I_DIAMOND},
    {"supplierStockId", I_DIAMOND},
    {"image", I_DIAMOND},
    {"video", I_DIAMOND},
    {"eyeClean", I_DIAMOND},
    {"brown", I_DIAMOND},
    {"green", I_DIAMOND},
    {"blue", I_DIAMOND},
    {"gray", I_DIAMOND},
    {"milky", I_DIAMOND},
    {"bowtie", I_DIAMOND},
    {"mine_of_origin", I_DIAMOND},
    {"supplier_video_link", I_DIAMOND},
    {"approval_type", I_DIAMOND},
    {"final_price", I_DIAMOND},
    {"show_measurements", I_DIAMOND},
    {"show_certificate_number", I_DIAMOND},
    {"return_window", I_DIAMOND},
    {"CertificateType", I_DIAMOND},
    {"delivery_time", I_DIAMOND},
    {"certificate", I_DIAMOND},
    {"supplier", I_DIAMOND},
    {"express_timeline_applicable", D_DELIVERY},
    {"min_business_days", D_DELIVERY},
    {"max_business_days", D_DELIVERY},
    {"id", D_CERTIFICATE},
    {"lab", D_CERTIFICATE},
    {"certNumber", D_CERTIFICATE},
    {"pdfUrl", D_CERTIFICATE},
    {"shape", D_CERTIFICATE},
    {"fullShape", D_CERTIFICATE},
    {"carats", D_CERTIFICATE},
    {"clarity", D_CERTIFICATE},
    {"cut", D_CERTIFICATE},
    {"polish", D_CERTIFICATE},
    {"symmetry", D_CERTIFICATE},
    {"color", D_CERTIFICATE},
    {"length", D_CERTIFICATE},
    {"width", D_CERTIFICATE},
    {"depth", D_CERTIFICATE},
    {"depthPercentage", D_CERTIFICATE},
    {"table", D_CERTIFICATE},
    {"crownAngle", D_CERTIFICATE},
    {"crownHeight", D_CERTIFICATE},
    {"pavAngle", D_CERTIFICATE},
    {"pavHeight", D_CERTIFICATE},
    {"pavDepth", D_CERTIFICATE},
    {"floInt", D_CERTIFICATE},
    {"floCol", D_CERTIFICATE},
    {"verified", D_CERTIFICATE},
    {"labgrown", D_CERTIFICATE},
    {"labgrown_type", D_CERTIFICATE},
    {"treated", D_CERTIFICATE},
    {"girdle", D_CERTIFICATE},
    {"culetSize", D_CERTIFICATE},
    {"girdleCondition", D_CERTIFICATE},
    {"culet_condition", D_CERTIFICATE},
    {"cut_style", D_CERTIFICATE},
    {"keyToSymbols", D_CERTIFICATE},
    {"comments", D_CERTIFICATE},
    {"id", D_SUPPLIER},
    {"name", D_SUPPLIER},
    {"legal_name", D_SUPPLIER},
};

static bool is_object_field(int f)
{
    return f == I_DIAMOND || f == D_DELIVERY || f == D_CERTIFICATE || f == D_SUPPLIER;
}

static const char *type_name(int parent)
{
    switch (parent) {
    case I_DIAMOND:
        return "Diamond";
    case D_DELIVERY:
        return "DeliveryTime";
    case D_CERTIFICATE:
        return "Certificate";
    case D_SUPPLIER:
        return "Supplier";
    default:
        return "Item";
    }
}

int dm_inv_field(int parent, const char *name, bool *is_object, const char **type)
{
    *is_object = false;
    *type = type_name(parent);
    if (!strcmp(name, "__typename"))
        return F_TYPENAME;
    for (int f = 0; f < NFIELDS; f++) {
        if (schema[f].parent == parent && !strcmp(schema[f].name, name)) {
            *is_object = is_object_field(f);
            return f;
        }
    }
    return -1;
}

/* The full selection (what the Nivoda client asks for), in schema order. */
static struct dm_inv_sel full_sel[NFIELDS];
static int full_root_n;
static pthread_once_t full_once = PTHREAD_ONCE_INIT;

static void build_full(void)
{
    /* Children of a parent are contiguous in schema order, so each object field points at
     * the run of its children inside full_sel (which mirrors the schema array). */
    for (int f = 0; f < NFIELDS; f++) {
        full_sel[f].key = schema[f].name;
        full_sel[f].field = f;
        full_sel[f].children = NULL;
        full_sel[f].nchildren = 0;
        if (schema[f].parent < 0)
            full_root_n++;
    }
    for (int f = 0; f < NFIELDS; f++) {
        int p = schema[f].parent;
        if (p < 0)
            continue;
        if (full_sel[p].children == NULL)
            full_sel[p].children = &full_sel[f];
        full_sel[p].nchildren++;
    }
}

/* Everything an item's fields are derived from, computed once per rendered item. */
struct ictx {
    const struct dm_inventory *inv;
    const struct stone *s;
    enum dm_inv_variant v;
    uint64_t h, h2;
    uint64_t cert; /* the certificate number's hash: of the physical stone */
    bool lab, has_video;
    char did[37];
};

/* The null pattern and small attributes (measurements, table, girdle...) hash the physical
 * stone, so a shared stone shows its source's certificate and grading byte for byte. */
static void ictx_init(const struct dm_inventory *inv, const struct stone *s, enum dm_inv_variant v,
                      struct ictx *x)
{
    memset(x, 0, sizeof(*x));
    x->inv = inv;
    x->s = s;
    x->v = v;
    uint64_t pmask = (s->flags & F_SHARED) ? inv->share_mask_c : inv->mask_c;
    x->cert = dm_mix64(s->pserial ^ pmask);
    x->h = dm_mix64(s->pserial ^ pmask ^ 0x9999999999999999ULL); /* null pattern */
    x->h2 = dm_mix64(x->h ^ 0x7777777777777777ULL);              /* small attributes */
    x->lab = (s->flags & F_LABGROWN) != 0;
    x->has_video = !is_null(x->h, 3) && (x->h2 >> 20) % 3 != 0;
    diamond_id(inv, s->serial, x->did);
}

static void w_key(struct jw *w, const char *key, bool *first)
{
    if (!*first)
        W_LIT(w, ",");
    *first = false;
    W_LIT(w, "\"");
    w_raw(w, key, strlen(key));
    W_LIT(w, "\":");
}

static void w_null(struct jw *w)
{
    W_LIT(w, "null");
}

/* A member that is null for some stones: null when null is true, else the value. */
static void w_str_or_null(struct jw *w, bool null, const char *v)
{
    if (null)
        w_null(w);
    else
        w_str(w, v);
}

static void w_i64_or_null(struct jw *w, bool null, int64_t v)
{
    if (null)
        w_null(w);
    else
        w_i64(w, v);
}

static void w_fixed_or_null(struct jw *w, bool null, int64_t v, int scale)
{
    if (null)
        w_null(w);
    else
        w_fixed(w, v, scale);
}

/* A URL naming the stone by its id did: prefix (from the opening quote), the 36 characters of
 * did, suffix (to the closing quote); or null. */
static void w_id_url_or_null(struct jw *w, bool null, const char *prefix, const char *did,
                             const char *suffix)
{
    if (null) {
        w_null(w);
        return;
    }
    w_raw(w, prefix, strlen(prefix));
    w_raw(w, did, 36);
    w_raw(w, suffix, strlen(suffix));
}

/* Measurements from the carat weight and the shape's length/width ratio (x100 / x10). */
static void measurements(const struct stone *s, uint64_t h2, int64_t *len100, int64_t *wid100,
                         int64_t *dep100, int64_t *pct10)
{
    double c = s->carats100 / 100.0;
    double side = 6.45 * cbrt(c);
    double ratio = shape_ratio[s->shape];
    double width = side / sqrt(ratio);
    double length = width * ratio;
    double depth_pct = 59.0 + (double)(h2 % 60) / 10.0;
    *len100 = llround(length * 100);
    *wid100 = llround(width * 100);
    *dep100 = llround(width * depth_pct);
    *pct10 = llround(depth_pct * 10);
}

static void write_scalar(const struct ictx *x, int f, struct jw *w)
{
    const struct stone *s = x->s;
    const struct dm_inventory *inv = x->inv;
    uint64_t h = x->h, h2 = x->h2;
    char id[37];
    int64_t len100, wid100, dep100, pct10;
    switch (f) {
    case I_ID:
        offer_id(inv, s->serial, id);
        w_str(w, id);
        break;
    case I_PRICE:
        if (x->v == DM_INV_NO_PRICE) {
            w_null(w);
        } else if (x->v == DM_INV_PRICE_OVERFLOW) {
            W_LIT(w, "1e400");
        } else {
            w_i64(w, s->price_cents);
            if (x->v == DM_INV_PRICE_EXPONENT)
                W_LIT(w, "E0");
        }
        break;
    case I_DISCOUNT:
        if (x->v == DM_INV_DEEP_VALUE) {
            for (int i = 0; i < 200; i++)
                W_LIT(w, "[");
            W_LIT(w, "0");
            for (int i = 0; i < 200; i++)
                W_LIT(w, "]");
        } else if (is_null(h, 0))
            w_null(w);
        else
            w_fixed(w, -(int64_t)(h2 % 600), 1);
        break;
    case I_DIAMOND_PRICE:
    case D_FINAL_PRICE:
        if (x->v == DM_INV_BIG_INTEGER)
            W_LIT(w, "123456789012345678901234567890");
        else
            w_i64(w, s->price_cents);
        break;
    case I_MARKUP_PRICE:
        w_i64(w, (int64_t)s->price_cents + (int64_t)s->price_cents / 20);
        break;
    case I_MARKUP_DISCOUNT:
        w_fixed_or_null(w, is_null(h, 1), -(int64_t)((h2 >> 10) % 500), 1);
        break;
    case D_ID:
        w_str(w, x->did);
        break;
    case D_AVAILABILITY:
        w_str(w, avail_names[s->avail]);
        break;
    case D_HOLDID:
        if (s->avail == AV_HOLD) {
            hold_id(inv, s->serial, s->hold_seq, id);
            w_str(w, id);
        } else {
            w_null(w);
        }
        break;
    case D_NIVODA_STOCK:
        W_LIT(w, "\"NIV");
        w_i64(w, 10000000 + (int64_t)(dm_mix64(s->serial ^ inv->mask_d) % 90000000));
        W_LIT(w, "\"");
        break;
    case D_SUPPLIER_STOCK:
        W_LIT(w, "\"");
        w_raw(w, suppliers[s->supplier], 2);
        W_LIT(w, "-");
        w_i64(w, 100000 + (int64_t)(h2 % 900000));
        W_LIT(w, "\"");
        break;
    case D_IMAGE:
        w_id_url_or_null(w, is_null(h, 2), "\"https://images.feed-sim.local/d/", x->did, ".jpg\"");
        break;
    case D_VIDEO:
        w_id_url_or_null(w, !x->has_video, "\"https://video.feed-sim.local/v/", x->did,
                         "/video.mp4\"");
        break;
    case D_EYECLEAN:
        if (is_null(h, 4))
            w_null(w);
        else
            w_bool(w, s->clarity <= 6);
        break;
    case D_BROWN:
        w_i64_or_null(w, is_null(h, 5), (h2 >> 24) % 10 == 0);
        break;
    case D_GREEN:
        w_i64_or_null(w, is_null(h, 5), (h2 >> 26) % 20 == 0);
        break;
    case D_BLUE:
        w_i64_or_null(w, is_null(h, 5), 0);
        break;
    case D_GRAY:
        w_i64_or_null(w, is_null(h, 5), (h2 >> 28) % 25 == 0);
        break;
    case D_MILKY:
        w_i64_or_null(w, is_null(h, 6), (h2 >> 30) % 12 == 0);
        break;
    case D_BOWTIE:
        w_str_or_null(w, is_null(h, 7) || s->shape == 0, (h2 >> 32) % 4 == 0 ? "SLIGHT" : "NONE");
        break;
    case D_MINE:
        w_str_or_null(w, x->lab || is_null(h, 8) || (h2 >> 34) % 2, mines[(h2 >> 36) % 8]);
        break;
    case D_SUPPLIER_VIDEO:
        w_id_url_or_null(w, x->has_video || is_null(h, 9),
                         "\"https://suppliers.feed-sim.local/360/", x->did, "\"");
        break;
    case D_APPROVAL:
        w_str(w, (h2 >> 40) % 5 == 0 ? "MANUAL" : "AUTO");
        break;
    case D_SHOW_MEAS:
        W_LIT(w, "true");
        break;
    case D_SHOW_CERTNO:
        w_bool(w, (h2 >> 42) % 10 != 0);
        break;
    case D_RETURN_WINDOW:
        w_i64_or_null(w, is_null(h, 10), (h2 >> 44) % 2 ? 30 : 14);
        break;
    case D_CERT_TYPE:
        W_LIT(w, "\"DIAMOND\"");
        break;
    case T_EXPRESS:
        w_bool(w, (h2 >> 46) % 3 == 0);
        break;
    case T_MIN:
        w_i64(w, 1 + (int64_t)((h2 >> 48) % 4));
        break;
    case T_MAX:
        w_i64(w, 1 + (int64_t)((h2 >> 48) % 4) + 2 + (int64_t)((h2 >> 50) % 5));
        break;
    case C_ID:
        cert_id(x->cert, id);
        w_str(w, id);
        break;
    case C_LAB:
        w_str(w, cert_labs[s->lab]);
        break;
    case C_CERTNO:
        W_LIT(w, "\"");
        if (x->lab)
            W_LIT(w, "LG");
        w_i64(w, 1000000000 + (int64_t)(x->cert % 9000000000ULL));
        W_LIT(w, "\"");
        break;
    case C_PDF:
        if (is_null(h, 11)) {
            w_null(w);
        } else {
            cert_id(x->cert, id);
            W_LIT(w, "\"https://certs.feed-sim.local/");
            w_raw(w, cert_labs[s->lab], strlen(cert_labs[s->lab]));
            W_LIT(w, "/");
            w_raw(w, id, 36);
            W_LIT(w, ".pdf\"");
        }
        break;
    case C_SHAPE:
        w_str_or_null(w, x->v == DM_INV_NO_SHAPE, shape_name(s->shape));
        break;
    case C_FULLSHAPE:
        w_str_or_null(w, is_null(h, 12), full_shapes[s->shape]);
        break;
    case C_CARATS:
        w_fixed(w, s->carats100, 2);
        break;
    case C_CLARITY:
        w_str(w, clarities[s->clarity]);
        break;
    case C_CUT:
        if (s->shape != 0 && is_null(h, 13) == false && (h2 >> 52) % 10 < 7)
            w_null(w); /* fancy shapes mostly carry no cut grade */
        else
            w_str(w, grades[s->cut]);
        break;
    case C_POLISH:
        w_str(w, grades[s->polish]);
        break;
    case C_SYMMETRY:
        w_str(w, grades[s->symmetry]);
        break;
    case C_COLOR:
        w_str_or_null(w, x->v == DM_INV_NO_COLOR, colors[s->color]);
        break;
    case C_LENGTH:
    case C_WIDTH:
    case C_DEPTH:
        if (is_null(h, 14)) {
            w_null(w);
            break;
        }
        measurements(s, h2, &len100, &wid100, &dep100, &pct10);
        w_fixed(w, f == C_LENGTH ? len100 : f == C_WIDTH ? wid100 : dep100, 2);
        break;
    case C_DEPTHPCT:
        measurements(s, h2, &len100, &wid100, &dep100, &pct10);
        w_fixed(w, pct10, 1);
        break;
    case C_TABLE:
        w_i64(w, 54 + (int64_t)((h2 >> 6) % 8));
        break;
    case C_CROWN_ANGLE:
        w_fixed_or_null(w, is_null(h, 15), 330 + (int64_t)((h2 >> 8) % 30), 1);
        break;
    case C_CROWN_HEIGHT:
        w_fixed_or_null(w, is_null(h, 15), 130 + (int64_t)((h2 >> 12) % 35), 1);
        break;
    case C_PAV_ANGLE:
        w_fixed_or_null(w, is_null(h, 15), 404 + (int64_t)((h2 >> 16) % 12), 1);
        break;
    case C_PAV_HEIGHT:
        w_fixed_or_null(w, is_null(h, 15), 425 + (int64_t)((h2 >> 20) % 20), 1);
        break;
    case C_PAV_DEPTH:
        w_fixed_or_null(w, is_null(h, 15) || is_null(h, 16), 425 + (int64_t)((h2 >> 22) % 20), 1);
        break;
    case C_FLOINT:
        w_str_or_null(w, is_null(h, 17), flos[s->flo]);
        break;
    case C_FLOCOL:
        if (s->flo == 0 || (h2 >> 54) % 5 == 0)
            w_null(w);
        else
            W_LIT(w, "\"BLUE\"");
        break;
    case C_VERIFIED:
        w_bool(w, (h2 >> 56) % 8 != 0);
        break;
    case C_LABGROWN:
        w_bool(w, x->lab);
        break;
    case C_LABGROWN_TYPE:
        w_str_or_null(w, !x->lab, (s->flags & F_HPHT) ? "HPHT" : "CVD");
        break;
    case C_TREATED:
        w_bool(w, (s->flags & F_TREATED) != 0);
        break;
    case C_GIRDLE:
        w_str_or_null(w, is_null(h, 18), girdles[(h2 >> 58) % 6]);
        break;
    case C_CULET_SIZE:
        w_str_or_null(w, is_null(h, 19), (h2 >> 60) % 4 ? "NON" : "VSM");
        break;
    case C_GIRDLE_COND:
        w_str_or_null(w, is_null(h, 20), (h2 >> 61) % 2 ? "FAC" : "POL");
        break;
    case C_CULET_COND:
        if (!is_null(h, 20) && (h2 >> 62) == 0)
            W_LIT(w, "\"POINTED\"");
        else
            w_null(w);
        break;
    case C_CUT_STYLE:
        w_str_or_null(w, is_null(h, 21) || (h >> 63),
                      s->shape == 2 || s->shape == 7 || s->shape >= 17 ? "STEP" : "BRILLIANT");
        break;
    case C_KEY_SYMBOLS:
        w_str_or_null(w, is_null(h, 13) || s->clarity <= 1, key_symbols[(h2 >> 3) % 5]);
        break;
    case C_COMMENTS:
        if (x->lab)
            w_str(w, comments[3]);
        else if ((h2 >> 5) % 3 == 0)
            w_str(w, comments[(h2 >> 9) % 3]);
        else
            w_null(w);
        break;
    case S_ID: {
        uint64_t sh = dm_mix64(0xABCDEF0000ULL + s->supplier);
        fmt_uuid(sh, dm_mix64(sh), id);
        w_str(w, id);
        break;
    }
    case S_NAME:
        w_str(w, suppliers[s->supplier]);
        break;
    case S_LEGAL_NAME:
        if (s->supplier % 5 == 4) {
            w_null(w);
        } else {
            W_LIT(w, "\"");
            w_raw(w, suppliers[s->supplier], strlen(suppliers[s->supplier]));
            if (s->supplier % 2)
                W_LIT(w, " Ltd\"");
            else
                W_LIT(w, " BV\"");
        }
        break;
    default:
        w_null(w);
        break;
    }
}

static void write_object(const struct ictx *x, int type_field, const struct dm_inv_sel *sel, int n,
                         struct jw *w)
{
    bool first = true;
    W_LIT(w, "{");
    for (int i = 0; i < n; i++) {
        const struct dm_inv_sel *f = &sel[i];
        w_key(w, f->key, &first);
        if (f->field == F_TYPENAME) {
            W_LIT(w, "\"");
            w_raw(w, type_name(type_field), strlen(type_name(type_field)));
            W_LIT(w, "\"");
        } else if (f->field == D_CERTIFICATE && x->v == DM_INV_NO_CERTIFICATE) {
            w_null(w);
        } else if (f->field >= 0 && f->field < NFIELDS && is_object_field(f->field)) {
            write_object(x, f->field, f->children, f->nchildren, w);
        } else {
            write_scalar(x, f->field, w);
        }
    }
    W_LIT(w, "}");
}

enum dm_err dm_inv_render_sel(struct dm_inventory *inv, uint32_t pos, enum dm_inv_variant v,
                              const struct dm_inv_sel *sel, int n, struct dm_buf *out)
{
    const struct stone *s = &inv->st[pos];
    struct jw w = {out, DM_OK};
    struct ictx x;
    ictx_init(inv, s, v, &x);
    write_object(&x, -1, sel, n, &w);
    return w.e;
}

enum dm_err dm_inv_render(struct dm_inventory *inv, uint32_t pos, enum dm_inv_variant v,
                          struct dm_buf *out)
{
    pthread_once(&full_once, build_full);
    return dm_inv_render_sel(inv, pos, v, full_sel, full_root_n, out);
}

/* ---- mutations ---------------------------------------------------------------------------- */

/* Under the write lock: the inventory changed at now_ms (a new version for the match cache
 * and the file snapshot; changed_ms never moves back). */
static void changed_locked(struct dm_inventory *inv, int64_t now_ms)
{
    inv->version++;
    if (now_ms > inv->changed_ms)
        inv->changed_ms = now_ms;
}

void dm_inv_churn(struct dm_inventory *inv, double percent, int64_t now_ms,
                  struct dm_inv_churn_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!(percent >= 0))
        percent = 0;
    if (percent > 100)
        percent = 100;
    pthread_rwlock_wrlock(&inv->lock);
    inv->day++;
    out->day = inv->day;
    out->live_before = inv->live;
    struct rng r = {dm_mix64(inv->seed ^ ((uint64_t)inv->day * 0xA0761D6478BD642FULL))};
    uint32_t *live = dm_xmalloc(((size_t)inv->live + 1) * sizeof(uint32_t));
    uint32_t nl = 0;
    for (uint32_t i = 0; i < inv->n; i++)
        if (!(inv->st[i].flags & F_REMOVED))
            live[nl++] = i;
    uint32_t k = (uint32_t)llround((double)nl * percent / 100.0);
    if (k > nl)
        k = nl;
    for (uint32_t i = 0; i < k; i++) { /* partial Fisher-Yates: k distinct stones */
        uint32_t j = i + (uint32_t)(rnext(&r) % (nl - i));
        uint32_t t = live[i];
        live[i] = live[j];
        live[j] = t;
        struct stone *s = &inv->st[live[i]];
        double u = runif(&r);
        if (u < 0.60) {
            double f = 1.0 + (runif(&r) < 0.5 ? -1 : 1) * (0.02 + runif(&r) * 0.13);
            double cents = s->price_cents * f;
            if (cents < 15000)
                cents = 15000;
            if (cents > 4.0e9)
                cents = 4.0e9;
            uint32_t np = (uint32_t)cents;
            s->price_cents = np == s->price_cents ? np + 1 : np;
            s->updated_ms = now_ms;
            out->price_changed++;
        } else if (u < 0.80) {
            if (s->avail == AV_AVAILABLE) {
                s->avail = runif(&r) < 0.5 ? AV_HOLD : AV_NOT_AVAILABLE;
                if (s->avail == AV_HOLD)
                    s->hold_seq++;
            } else {
                s->avail = AV_AVAILABLE;
            }
            s->updated_ms = now_ms;
            out->availability_changed++;
        } else if (u < 0.90 && s->avail != AV_SOLD) {
            s->avail = AV_SOLD;
            s->updated_ms = now_ms;
            out->sold++;
        } else {
            s->flags |= F_REMOVED;
            inv->live--;
            out->removed++;
        }
    }
    free(live);
    out->changed = out->price_changed + out->availability_changed + out->sold;
    uint32_t add = (uint32_t)llround(k * 0.10);
    if (percent > 0 && add == 0 && k > 0)
        add = 1;
    if (add > UINT32_MAX - inv->n)
        add = 0;
    ensure_cap(inv, inv->n + add);
    int64_t created = now_ms;
    if (inv->n > 0 && inv->st[inv->n - 1].created_ms > created)
        created = inv->st[inv->n - 1].created_ms; /* clock went back: keep feed order */
    uint32_t first = inv->n;
    for (uint32_t i = 0; i < add; i++) {
        uint32_t serial = inv->next_serial++;
        gen_stone(inv, serial, created, now_ms, &inv->st[inv->n]);
        inv->n++;
        inv->live++;
    }
    /* New stones share one createdAt: put them (and any older stone of the same instant)
     * in id order, like the initial inventory. */
    while (first > 0 && inv->st[first - 1].created_ms == created)
        first--;
    qsort_r(inv->st + first, inv->n - first, sizeof(*inv->st), cmp_stone, inv);
    for (uint32_t i = first; i < inv->n; i++)
        inv->by_serial[inv->st[i].serial] = i;
    out->added = add;
    out->live_after = inv->live;
    pidx_rebuild(inv);
    changed_locked(inv, now_ms);
    pthread_rwlock_unlock(&inv->lock);
}

/* A hold or an order of stone s at now_ms, under the write lock: DM_OK when it changed the
 * stone (its hold or order id in id, a hold's end in *until_ms), DM_ERR_CONFLICT when the
 * stone's availability refuses it. */
typedef enum dm_err (*trade_fn)(const struct dm_inventory *inv, struct stone *s, int64_t now_ms,
                                char id[40], int64_t *until_ms);

static enum dm_err hold_stone(const struct dm_inventory *inv, struct stone *s, int64_t now_ms,
                              char id[40], int64_t *until_ms)
{
    if (s->avail != AV_AVAILABLE)
        return DM_ERR_CONFLICT;
    s->avail = AV_HOLD;
    s->hold_seq++;
    s->updated_ms = now_ms;
    hold_id(inv, s->serial, s->hold_seq, id);
    *until_ms = now_ms + 48LL * 3600 * 1000;
    return DM_OK;
}

static enum dm_err order_stone(const struct dm_inventory *inv, struct stone *s, int64_t now_ms,
                               char id[40], int64_t *until_ms)
{
    (void)until_ms;
    if (s->avail == AV_SOLD || s->avail == AV_NOT_AVAILABLE)
        return DM_ERR_CONFLICT;
    s->avail = AV_SOLD;
    s->updated_ms = now_ms;
    uint64_t hi = dm_mix64(s->serial ^ inv->mask_h ^ 0xEEEEEEEEEEEEEEEEULL);
    fmt_uuid(hi, dm_mix64(hi ^ (uint64_t)now_ms), id);
    return DM_OK;
}

/* fn on the stone offered as offer, under the write lock; DM_ERR_NOT_FOUND when there is none.
 * A change moves the stone's price-index entry and the inventory's version. */
static enum dm_err trade(struct dm_inventory *inv, const char *offer, int64_t now_ms, trade_fn fn,
                         char id[40], int64_t *until_ms)
{
    uint32_t pos;
    pthread_rwlock_wrlock(&inv->lock);
    enum dm_err e = DM_ERR_NOT_FOUND;
    if (dm_inv_find(inv, offer, &pos))
        e = fn(inv, &inv->st[pos], now_ms, id, until_ms);
    if (e == DM_OK) {
        pidx_update(inv, pos);
        changed_locked(inv, now_ms);
    }
    pthread_rwlock_unlock(&inv->lock);
    return e;
}

enum dm_err dm_inv_hold(struct dm_inventory *inv, const char *offer, int64_t now_ms, bool *denied,
                        char hid[40], int64_t *until_ms)
{
    *denied = false;
    hid[0] = '\0';
    *until_ms = 0;
    enum dm_err e = trade(inv, offer, now_ms, hold_stone, hid, until_ms);
    if (e == DM_ERR_CONFLICT) { /* not available: the supplier's "denied" answer */
        *denied = true;
        e = DM_OK;
    }
    return e;
}

enum dm_err dm_inv_order(struct dm_inventory *inv, const char *offer, int64_t now_ms, char oid[40])
{
    oid[0] = '\0';
    int64_t until_ms = 0;
    return trade(inv, offer, now_ms, order_stone, oid, &until_ms);
}

/* ---- file mode ---------------------------------------------------------------------------- */

static const char *const file_avail[] = {"Available", "On Hold", "Sold", "Not Available", "Memo"};
static const char *const file_flos[] = {"None", "Faint", "Medium", "Strong", "Very Strong"};
static const char *const file_comments[] = {
    "Additional clouds are not shown.",
    "Surface graining is not shown.",
    "Pinpoints are not shown.",
    "This is a laboratory-grown diamond.",
    "Described as \"eye clean\", per the supplier.",
};

struct dm_inv_snapshot {
    uint32_t n;
    uint64_t hash;
    int64_t changed_ms;
    struct stone *st;
};

static uint64_t content_hash_locked(const struct dm_inventory *inv)
{
    uint64_t h = dm_mix64(inv->seed ^ 0x66696c65ULL);
    h = dm_mix64(h ^ (inv->share ? inv->share_seed : 0) ^ ((uint64_t)inv->share_ppm << 1));
    for (uint32_t i = 0; i < inv->n; i++) {
        const struct stone *s = &inv->st[i];
        if (s->flags & F_REMOVED)
            continue;
        h = dm_mix64(h ^ ((uint64_t)s->serial << 32 | s->price_cents));
        h = dm_mix64(h ^ ((uint64_t)s->avail << 8 | s->flags));
    }
    return h;
}

void dm_inv_content(struct dm_inventory *inv, uint64_t *hash, int64_t *changed_ms)
{
    pthread_mutex_lock(&inv->cmu);
    bool valid = inv->content_valid && inv->content_version == inv->version;
    uint64_t h = inv->content_hash;
    pthread_mutex_unlock(&inv->cmu);
    if (!valid) {
        /* Readers may race to compute it: the answer is the same, the last one stores it. */
        h = content_hash_locked(inv);
        pthread_mutex_lock(&inv->cmu);
        inv->content_valid = true;
        inv->content_version = inv->version;
        inv->content_hash = h;
        pthread_mutex_unlock(&inv->cmu);
    }
    *hash = h;
    *changed_ms = inv->changed_ms;
}

struct dm_inv_snapshot *dm_inv_snapshot_new(struct dm_inventory *inv)
{
    struct dm_inv_snapshot *snap = dm_xcalloc(1, sizeof(*snap));
    dm_inv_rdlock(inv);
    snap->st = dm_xmalloc(((size_t)inv->live + 1) * sizeof(*snap->st));
    for (uint32_t i = 0; i < inv->n; i++)
        if (!(inv->st[i].flags & F_REMOVED))
            snap->st[snap->n++] = inv->st[i];
    dm_inv_content(inv, &snap->hash, &snap->changed_ms);
    dm_inv_unlock(inv);
    return snap;
}

void dm_inv_snapshot_free(struct dm_inv_snapshot *snap)
{
    if (snap == NULL)
        return;
    free(snap->st);
    free(snap);
}

uint32_t dm_inv_snapshot_len(const struct dm_inv_snapshot *snap)
{
    return snap->n;
}

uint64_t dm_inv_snapshot_hash(const struct dm_inv_snapshot *snap)
{
    return snap->hash;
}

int64_t dm_inv_snapshot_changed_ms(const struct dm_inv_snapshot *snap)
{
    return snap->changed_ms;
}

uint32_t dm_inv_snapshot_serial(const struct dm_inv_snapshot *snap, uint32_t i)
{
    return snap->st[i].serial;
}

/* A bijection of 32-bit values (murmur3's finaliser): unique stock numbers per serial. */
static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

void dm_inv_snapshot_row(const struct dm_inventory *inv, const struct dm_inv_snapshot *snap,
                         uint32_t i, struct dm_inv_row *r)
{
    const struct stone *s = &snap->st[i];
    struct ictx x;
    ictx_init(inv, s, DM_INV_NORMAL, &x);
    uint64_t h = x.h, h2 = x.h2;
    memset(r, 0, sizeof(*r));
    r->serial = s->serial;
    snprintf(r->stock, sizeof(r->stock), "ST%010u", fmix32(s->serial ^ (uint32_t)inv->mask_d));
    r->shape = shape_name(s->shape);
    r->carats100 = s->carats100;
    r->color = colors[s->color];
    r->clarity = clarities[s->clarity];
    /* The same nullness rules as the GraphQL items, so both modes describe one stone alike. */
    r->cut = (s->shape != 0 && !is_null(h, 13) && (h2 >> 52) % 10 < 7) ? NULL : grades[s->cut];
    r->polish = grades[s->polish];
    r->symmetry = grades[s->symmetry];
    r->fluorescence = is_null(h, 17) ? NULL : file_flos[s->flo];
    r->lab = cert_labs[s->lab];
    snprintf(r->certno, sizeof(r->certno), "%s%llu", x.lab ? "LG" : "",
             (unsigned long long)(1000000000 + x.cert % 9000000000ULL));
    r->price_cents = s->price_cents;
    r->ppc_cents =
        s->carats100 ? ((int64_t)s->price_cents * 100 + s->carats100 / 2) / s->carats100 : 0;
    int64_t pct10;
    measurements(s, h2, &r->len100, &r->wid100, &r->dep100, &pct10);
    r->has_meas = !is_null(h, 14);
    r->depth_pct10 = pct10;
    r->table_pct = 54 + (int64_t)((h2 >> 6) % 8);
    if (!is_null(h, 2))
        snprintf(r->image, sizeof(r->image), "https://images.feed-sim.local/d/%s.jpg", x.did);
    if (x.has_video)
        snprintf(r->video, sizeof(r->video), "https://video.feed-sim.local/v/%s/video.mp4", x.did);
    r->availability = file_avail[s->avail];
    r->growth = !x.lab ? "Natural" : (s->flags & F_HPHT) ? "HPHT" : "CVD";
    r->key_symbols = (is_null(h, 13) || s->clarity <= 1) ? NULL : key_symbols[(h2 >> 3) % 5];
    if (x.lab)
        r->comment = file_comments[3];
    else if ((h2 >> 5) % 3 == 0)
        r->comment = file_comments[(h2 >> 9) % 3];
    else if ((h2 >> 5) % 3 == 1 && (h2 >> 11) % 4 == 0)
        r->comment = file_comments[4];
}

int dm_inv_bad_row(const struct dm_inventory *inv, uint32_t serial, double rate)
{
    if (!(rate > 0))
        return 0;
    uint64_t h = dm_mix64(serial ^ dm_mix64(inv->seed ^ 0x626164726f77ULL));
    if ((double)(h >> 11) * (1.0 / 9007199254740992.0) >= rate)
        return 0;
    return 1 + (int)((h & 0xff) % DM_INV_BAD_KINDS);
}
