/* feedsim.c - GraphQL execution, faults, tokens, stats and admin endpoints of the simulator. */
#include "services/feedsim/feedsim.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/http/server.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "domain/messages.h"
#include "services/feedsim/graphql.h"
#include "services/feedsim/internal.h"
#include "services/feedsim/inventory.h"

#define MAX_BODY (1u << 20)

static const char *const op_names[OP_N] = {"authenticate",      "diamonds_by_query_count",
                                           "diamonds_by_query", "create_hold",
                                           "create_order",      "other",
                                           "invalid",           "file",
                                           "file_not_modified"};

static const char *const fault_names[FT_N] = {
    "latency",   "error",         "rate_limit", "short_page", "duplicate", "malformed",
    "fail_next", "graphql_error", "poison",     "truncate",   "bad_row",   "drip"};

/* ---- small helpers ------------------------------------------------------------------------ */

static __thread uint64_t tl_rng;

static double frand(void)
{
    if (tl_rng == 0)
        dm_random_bytes(&tl_rng, sizeof(tl_rng));
    tl_rng ^= tl_rng << 13;
    tl_rng ^= tl_rng >> 7;
    tl_rng ^= tl_rng << 17;
    return (double)(tl_rng >> 11) * (1.0 / 9007199254740992.0);
}

static void bump(int64_t *c, int64_t d)
{
    __atomic_add_fetch(c, d, __ATOMIC_RELAXED);
}

static int64_t load(const int64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void faults_get(struct dm_feedsim *sim, struct dm_feedsim_faults *out)
{
    pthread_mutex_lock(&sim->fmu);
    *out = sim->f;
    pthread_mutex_unlock(&sim->fmu);
}

/* Take one of a counted fault (fail_next / graphql_error_next) if any is left. */
static bool take_counted(struct dm_feedsim *sim, bool graphql, int *status)
{
    bool took = false;
    pthread_mutex_lock(&sim->fmu);
    int64_t *n = graphql ? &sim->f.graphql_error_next : &sim->f.fail_next;
    if (*n > 0) {
        (*n)--;
        took = true;
        if (status)
            *status = sim->f.fail_status ? sim->f.fail_status : 503;
    }
    pthread_mutex_unlock(&sim->fmu);
    return took;
}

double dm_feedsim_frand(void)
{
    return frand();
}

void dm_feedsim_bump(int64_t *c, int64_t d)
{
    bump(c, d);
}

void dm_feedsim_faults_get(struct dm_feedsim *sim, struct dm_feedsim_faults *out)
{
    faults_get(sim, out);
}

bool dm_feedsim_take_counted(struct dm_feedsim *sim, bool graphql, int *status)
{
    return take_counted(sim, graphql, status);
}

bool dm_feedsim_take_truncate(struct dm_feedsim *sim)
{
    bool took = false;
    pthread_mutex_lock(&sim->fmu);
    if (sim->f.truncate_next > 0) {
        sim->f.truncate_next--;
        took = true;
    } else if (sim->f.truncate_rate > 0 && frand() < sim->f.truncate_rate) {
        took = true;
    }
    pthread_mutex_unlock(&sim->fmu);
    return took;
}

static void reply_errors(struct dm_feedsim_reply *r, int status, const char *msg, const char *code)
{
    json_t *e = json_pack("{s:s}", "message", msg);
    if (e == NULL)
        e = json_pack("{s:s}", "message", "invalid request");
    if (code)
        json_object_set_new(e, "extensions", json_pack("{s:s}", "code", code));
    json_t *root = json_pack("{s:[o],s:n}", "errors", e, "data");
    char *s = dm_json_dumps(root);
    json_decref(root);
    dm_buf_reset(&r->body);
    if (dm_buf_append_str(&r->body, s) != DM_OK)
        dm_buf_reset(&r->body);
    free(s);
    r->status = status;
}

/* ---- tokens: stateless "sim1.<epoch>.<expiry ms>.<hmac>" ------------------------------------ */

static void token_mac(const struct dm_feedsim *sim, const char *payload, char out[65])
{
    dm_hmac_sha256_hex(sim->secret, sizeof(sim->secret), payload, strlen(payload), out);
}

static void token_issue(struct dm_feedsim *sim, char *out, size_t size)
{
    char payload[64], mac[65];
    snprintf(payload, sizeof(payload), "sim1.%lld.%lld",
             (long long)__atomic_load_n(&sim->token_epoch, __ATOMIC_RELAXED),
             (long long)dm_now_ms() + (long long)sim->token_ttl_ms);
    token_mac(sim, payload, mac);
    snprintf(out, size, "%s.%s", payload, mac);
}

/* NULL when valid, else the Nivoda-style message. */
static const char *token_check(struct dm_feedsim *sim, const char *tok)
{
    if (tok == NULL || strncmp(tok, "sim1.", 5) != 0 || strlen(tok) > 200)
        return "Invalid token";
    const char *dot = strrchr(tok, '.');
    char payload[201];
    size_t plen = (size_t)(dot - tok);
    memcpy(payload, tok, plen);
    payload[plen] = '\0';
    char mac[65];
    token_mac(sim, payload, mac);
    if (!dm_ct_equal(mac, 64, dot + 1, strlen(dot + 1)))
        return "Invalid token";
    /* payload = "sim1.<epoch>.<expiry>" and the MAC matched, so the shape is ours. */
    char *mid = strchr(payload + 5, '.');
    int64_t epoch = -1, exp = 0;
    if (mid == NULL)
        return "Invalid token";
    *mid = '\0';
    if (dm_parse_i64(payload + 5, 0, INT64_MAX, &epoch) != DM_OK ||
        dm_parse_i64(mid + 1, 0, INT64_MAX, &exp) != DM_OK)
        return "Invalid token";
    if (epoch != __atomic_load_n(&sim->token_epoch, __ATOMIC_RELAXED))
        return "Invalid token";
    if (dm_now_ms() >= exp)
        return "Token expired";
    return NULL;
}

/* ---- DiamondQuery --------------------------------------------------------------------------- */

static bool num_of(const json_t *v, double *out)
{
    if (json_is_integer(v))
        *out = (double)json_integer_value(v);
    else if (json_is_real(v))
        *out = json_real_value(v);
    else
        return false;
    return true;
}

/* A range object {from, to} (either optional, null as absent): each present bound read by
 * `bound` into *from or *to (of the bound's type). Returns an error text, or NULL. */
static const char *range_of(const json_t *o, const char *(*bound)(const json_t *v, void *out),
                            void *from, void *to)
{
    if (!json_is_object(o))
        return "must be an object {from, to}";
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (strcmp(k, "from") != 0 && strcmp(k, "to") != 0)
            return "has an unknown field";
        if (json_is_null(v))
            continue;
        const char *bad = bound(v, !strcmp(k, "from") ? from : to);
        if (bad)
            return bad;
    }
    return NULL;
}

static const char *num_bound(const json_t *v, void *out)
{
    return num_of(v, out) ? NULL : "bounds must be numbers";
}

static const char *time_bound(const json_t *v, void *out)
{
    if (!json_is_string(v) || dm_time_parse(json_string_value(v), out) != DM_OK)
        return "bounds must be ISO-8601 date-times";
    return NULL;
}

/* Range of numbers (also as a one-element array of the range object). */
static const char *range_num(const json_t *o, double *from, double *to)
{
    if (json_is_array(o) && json_array_size(o) == 1)
        o = json_array_get(o, 0);
    return range_of(o, num_bound, from, to);
}

static const char *range_time(const json_t *o, int64_t *from, int64_t *to)
{
    return range_of(o, time_bound, from, to);
}

/* Fill f from a DiamondQuery value; on error writes a message and returns false. */
static bool parse_query(const json_t *q, struct dm_inv_filter *f, bool *has_band, int64_t *blo,
                        int64_t *bhi, char *msg, size_t msz)
{
    memset(f, 0, sizeof(*f));
    f->labgrown = -1;
    *has_band = true;
    *blo = 0;
    *bhi = INT64_MAX;
    if (q == NULL || json_is_null(q))
        return true;
    if (!json_is_object(q)) {
        snprintf(msg, msz, "Argument \"query\" has an invalid value: expected DiamondQuery.");
        return false;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)q, k, v)
    {
        const char *bad = NULL;
        if (json_is_null(v))
            continue;
        if (!strcmp(k, "shapes")) {
            if (!json_is_array(v)) {
                bad = "must be a list of shapes";
            } else if (json_array_size(v) > 0) {
                f->has_shapes = true;
                size_t i;
                const json_t *s;
                json_array_foreach(v, i, s)
                {
                    if (!json_is_string(s)) {
                        bad = "must be a list of strings";
                        break;
                    }
                    int idx = dm_inv_shape_index(json_string_value(s));
                    if (idx >= 0)
                        f->shape_mask |= 1u << idx;
                }
            }
        } else if (!strcmp(k, "sizes")) {
            double from = 0, to = 1e9;
            bad = range_num(v, &from, &to);
            if (!bad) {
                f->has_sizes = true;
                f->size_from = (int64_t)ceil(from * 100 - 1e-6);
                f->size_to = to >= 1e7 ? INT64_MAX : (int64_t)floor(to * 100 + 1e-6);
            }
        } else if (!strcmp(k, "dollar_value")) {
            double from = 0, to = 1e18;
            bad = range_num(v, &from, &to);
            if (!bad) {
                f->has_price = true;
                f->price_from = from < 0 ? 0 : (int64_t)ceil(from);
                f->price_to = to >= 9e15 ? INT64_MAX : (int64_t)floor(to);
                *blo = f->price_from;
                *bhi = f->price_to;
            }
        } else if (!strcmp(k, "updated")) {
            int64_t from = INT64_MIN, to = INT64_MAX;
            bad = range_time(v, &from, &to);
            if (!bad) {
                f->has_updated = true;
                f->updated_from = from;
                f->updated_to = to;
            }
        } else if (!strcmp(k, "labgrown")) {
            if (!json_is_boolean(v))
                bad = "must be a boolean";
            else
                f->labgrown = json_is_true(v) ? 1 : 0;
        } else {
            snprintf(msg, msz, "Field \"%.100s\" is not defined by type \"DiamondQuery\".", k);
            return false;
        }
        if (bad) {
            snprintf(msg, msz, "DiamondQuery.%.100s %s.", k, bad);
            return false;
        }
    }
    return true;
}

/* ---- execution ------------------------------------------------------------------------------- */

struct exec {
    struct dm_feedsim *sim;
    struct dm_feedsim_faults f;
    struct dm_buf *out;
    char msg[512];
    const char *code; /* extensions.code of the error */
    bool failed;
    enum dm_err e;
};

static void x_fail(struct exec *x, const char *code, const char *msg)
{
    if (x->failed)
        return;
    x->failed = true;
    x->code = code;
    if (msg != x->msg) /* callers often format into x->msg first */
        snprintf(x->msg, sizeof(x->msg), "%s", msg);
}

/* The GraphQL validation error for a field that type does not have. */
static void x_no_field(struct exec *x, const char *type, const char *field)
{
    snprintf(x->msg, sizeof(x->msg), "Cannot query field \"%.100s\" on type \"%s\".", field, type);
    x_fail(x, "GRAPHQL_VALIDATION_FAILED", x->msg);
}

static void x_raw(struct exec *x, const char *s, size_t n)
{
    if (x->e == DM_OK)
        x->e = dm_buf_append(x->out, s, n);
}

static void x_str(struct exec *x, const char *s)
{
    x_raw(x, s, strlen(s));
}

static void x_key(struct exec *x, const struct dm_gql_field *f, bool *first)
{
    if (!*first)
        x_raw(x, ",", 1);
    *first = false;
    x_raw(x, "\"", 1);
    x_str(x, f->alias); /* GraphQL names: [_A-Za-z0-9]+, no escaping needed */
    x_raw(x, "\":", 2);
}

static bool in_band(const struct dm_feedsim_faults *f, int64_t lo, int64_t hi)
{
    int64_t fl = f->price_min >= 0 ? f->price_min : 0;
    int64_t fh = f->price_max >= 0 ? f->price_max : INT64_MAX;
    return lo <= fh && hi >= fl;
}

static bool banded(const struct dm_feedsim_faults *f)
{
    return f->price_min >= 0 || f->price_max >= 0;
}

static void sel_free(struct dm_inv_sel *sel, int n)
{
    if (sel == NULL)
        return;
    for (int i = 0; i < n; i++)
        sel_free((struct dm_inv_sel *)sel[i].children, sel[i].nchildren);
    free(sel);
}

/* Compile a selection on the item schema (parent -1 = Item). NULL with x failed on a bad
 * field; keys point into the document, which outlives the rendering. */
static struct dm_inv_sel *sel_compile(struct exec *x, const struct dm_gql_field *f, int parent,
                                      int *n)
{
    int count = 0;
    for (const struct dm_gql_field *c = f->children; c; c = c->next)
        count++;
    struct dm_inv_sel *sel = dm_xcalloc((size_t)(count ? count : 1), sizeof(*sel));
    int i = 0;
    for (const struct dm_gql_field *c = f->children; c; c = c->next, i++) {
        bool obj;
        const char *type;
        int id = dm_inv_field(parent, c->name, &obj, &type);
        if (id < 0) {
            snprintf(x->msg, sizeof(x->msg), "Cannot query field \"%.100s\" on type \"%s\".",
                     c->name, type);
        } else if (obj && !c->has_selection) {
            snprintf(x->msg, sizeof(x->msg),
                     "Field \"%.100s\" of type \"%s\" must have a selection of subfields.", c->name,
                     type);
        } else if (!obj && c->has_selection) {
            snprintf(x->msg, sizeof(x->msg), "Field \"%.100s\" must not have a selection.",
                     c->name);
        } else {
            sel[i].key = c->alias;
            sel[i].field = id;
            if (!obj)
                continue;
            sel[i].children = sel_compile(x, c, id, &sel[i].nchildren);
            if (sel[i].children != NULL)
                continue;
        }
        x_fail(x, "GRAPHQL_VALIDATION_FAILED", x->msg);
        sel_free(sel, i + 1);
        return NULL;
    }
    *n = count;
    return sel;
}

static void exec_search(struct exec *x, const struct dm_gql_field *fld)
{
    struct dm_feedsim *sim = x->sim;
    struct dm_inv_filter filt;
    bool has_band;
    int64_t blo, bhi;
    if (!parse_query(json_object_get(fld->args, "query"), &filt, &has_band, &blo, &bhi, x->msg,
                     sizeof(x->msg))) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED", x->msg);
        return;
    }
    int64_t offset = 0, limit = DM_PAGE_LIMIT;
    const char *k;
    const json_t *v;
    json_object_foreach(fld->args, k, v)
    {
        if (!strcmp(k, "query"))
            continue;
        if (!strcmp(k, "offset") || !strcmp(k, "limit")) {
            if (json_is_null(v))
                continue;
            if (!json_is_integer(v)) {
                snprintf(x->msg, sizeof(x->msg), "Argument \"%s\" must be an Int.", k);
                x_fail(x, "GRAPHQL_VALIDATION_FAILED", x->msg);
                return;
            }
            if (!strcmp(k, "offset"))
                offset = json_integer_value(v);
            else
                limit = json_integer_value(v);
        } else if (!strcmp(k, "order")) {
            const char *t = json_is_object(v) ? dm_json_str(v, "type") : NULL;
            const char *d = json_is_object(v) ? dm_json_str(v, "direction") : NULL;
            if (!json_is_null(v) && (t == NULL || strcmp(t, "createdAt") != 0 ||
                                     (d && strcmp(d, "ASC") != 0) || json_object_size(v) > 2)) {
                x_fail(x, "GRAPHQL_VALIDATION_FAILED",
                       "The simulator supports order {type: createdAt, direction: ASC} only.");
                return;
            }
        } else {
            snprintf(x->msg, sizeof(x->msg),
                     "Unknown argument \"%.100s\" on field \"diamonds_by_query\".", k);
            x_fail(x, "GRAPHQL_VALIDATION_FAILED", x->msg);
            return;
        }
    }
    if (offset < 0) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED", "offset must not be negative");
        return;
    }
    if (limit < 1 || limit > DM_PAGE_LIMIT) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED", "limit must be between 1 and 50");
        return;
    }
    struct dm_inv_sel *sel = NULL;
    int nsel = 0;
    for (const struct dm_gql_field *c = fld->children; c && sel == NULL; c = c->next) {
        if (strcmp(c->name, "items") != 0)
            continue;
        if (!c->has_selection) {
            x_fail(x, "GRAPHQL_VALIDATION_FAILED",
                   "Field \"items\" of type \"[Item]\" must have a selection of subfields.");
            return;
        }
        if ((sel = sel_compile(x, c, -1, &nsel)) == NULL)
            return;
    }
    bool faulty = !banded(&x->f) || in_band(&x->f, blo, bhi);
    dm_inv_rdlock(sim->inv);
    const struct dm_inv_match *m = dm_inv_query(sim->inv, &filt);
    uint64_t start = (uint64_t)offset < m->n ? (uint64_t)offset : m->n;
    uint64_t end = start + (uint64_t)limit < m->n ? start + (uint64_t)limit : m->n;
    uint64_t n = end - start;
    /* Short page: a full page with more to come is cut (never to zero). */
    if (faulty && x->f.short_pages > 0 && n == (uint64_t)limit && end < m->n && n > 1 &&
        frand() < x->f.short_pages) {
        n = 1 + (uint64_t)(frand() * (double)(n - 1));
        bump(&sim->faults[FT_SHORT_PAGE], 1);
    }
    /* Duplicate: only where it cannot shift positions (the last page of the result). */
    bool dup = faulty && x->f.duplicate_rate > 0 && n > 0 && n < (uint64_t)limit && end == m->n &&
               frand() < x->f.duplicate_rate;
    bool first = true;
    x_raw(x, "{", 1);
    for (const struct dm_gql_field *c = fld->children; c; c = c->next) {
        x_key(x, c, &first);
        if (!strcmp(c->name, "total_count")) {
            char buf[24];
            snprintf(buf, sizeof(buf), "%u", m->n);
            x_str(x, buf);
        } else if (!strcmp(c->name, "items")) {
            x_raw(x, "[", 1);
            for (uint64_t i = 0; i < n; i++) {
                uint32_t pos = m->pos[start + i];
                enum dm_inv_variant var = DM_INV_NORMAL;
                if (x->f.malformed_rate > 0) {
                    int64_t p = dm_inv_price_dollars(sim->inv, pos);
                    if ((!banded(&x->f) || in_band(&x->f, p, p)) && frand() < x->f.malformed_rate) {
                        var = (enum dm_inv_variant)(1 + (int)(frand() * 4) % 4);
                        bump(&sim->faults[FT_MALFORMED], 1);
                    }
                }
                if (var == DM_INV_NORMAL && x->f.poison_rate > 0) {
                    int64_t p = dm_inv_price_dollars(sim->inv, pos);
                    if (!banded(&x->f) || in_band(&x->f, p, p))
                        var = dm_inv_poison(sim->inv, pos, x->f.poison_rate);
                    if (var != DM_INV_NORMAL)
                        bump(&sim->faults[FT_POISON], 1);
                }
                if (i)
                    x_raw(x, ",", 1);
                if (x->e == DM_OK)
                    x->e = dm_inv_render_sel(sim->inv, pos, var, sel, nsel, x->out);
            }
            if (dup) {
                x_raw(x, ",", 1);
                uint32_t pos = m->pos[start + (uint64_t)(frand() * (double)n) % n];
                if (x->e == DM_OK)
                    x->e = dm_inv_render_sel(sim->inv, pos, DM_INV_NORMAL, sel, nsel, x->out);
                bump(&sim->faults[FT_DUPLICATE], 1);
            }
            x_raw(x, "]", 1);
            bump(&sim->pages, 1);
            bump(&sim->items, (int64_t)n + dup);
        } else if (!strcmp(c->name, "__typename")) {
            x_str(x, "\"DiamondQueryResult\"");
        } else {
            x_no_field(x, "DiamondQueryResult", c->name);
            break;
        }
    }
    x_raw(x, "}", 1);
    dm_inv_release(sim->inv, m);
    dm_inv_unlock(sim->inv);
    sel_free(sel, nsel);
}

static void exec_count(struct exec *x, const struct dm_gql_field *fld)
{
    struct dm_inv_filter filt;
    bool has_band;
    int64_t blo, bhi;
    const char *k;
    const json_t *v;
    json_object_foreach(fld->args, k, v)
    {
        if (strcmp(k, "query") != 0) {
            snprintf(x->msg, sizeof(x->msg),
                     "Unknown argument \"%.100s\" on field \"diamonds_by_query_count\".", k);
            x_fail(x, "GRAPHQL_VALIDATION_FAILED", x->msg);
            return;
        }
    }
    if (!parse_query(json_object_get(fld->args, "query"), &filt, &has_band, &blo, &bhi, x->msg,
                     sizeof(x->msg))) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED", x->msg);
        return;
    }
    if (fld->has_selection) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED",
               "Field \"diamonds_by_query_count\" must not have a selection since type \"Int\" "
               "has no subfields.");
        return;
    }
    dm_inv_rdlock(x->sim->inv);
    char buf[24];
    snprintf(buf, sizeof(buf), "%u", dm_inv_count(x->sim->inv, &filt));
    x_str(x, buf);
    dm_inv_unlock(x->sim->inv);
}

static const char *arg_str(const struct dm_gql_field *f, const char *name)
{
    const json_t *v = json_object_get(f->args, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void exec_hold(struct exec *x, const struct dm_gql_field *fld)
{
    const char *pid = arg_str(fld, "product_id");
    if (pid == NULL) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED",
               "Argument \"product_id\" of type \"ID!\" is required.");
        return;
    }
    const char *ptype = arg_str(fld, "product_type");
    if (ptype && strcmp(ptype, "Diamond") != 0) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED", "product_type must be Diamond.");
        return;
    }
    bool denied;
    char hid[40];
    int64_t until;
    int64_t now = dm_now_ms();
    if (dm_inv_hold(x->sim->inv, pid, now, &denied, hid, &until) != DM_OK) {
        x_fail(x, "NOT_FOUND", "Product not found.");
        return;
    }
    bool first = true;
    x_raw(x, "{", 1);
    for (const struct dm_gql_field *c = fld->children; c; c = c->next) {
        x_key(x, c, &first);
        if (!strcmp(c->name, "id")) {
            if (denied) {
                x_str(x, "null");
            } else {
                x_raw(x, "\"", 1);
                x_str(x, hid);
                x_raw(x, "\"", 1);
            }
        } else if (!strcmp(c->name, "denied")) {
            x_str(x, denied ? "true" : "false");
        } else if (!strcmp(c->name, "until")) {
            if (denied) {
                x_str(x, "null");
            } else {
                char iso[DM_ISO_LEN];
                dm_time_format(until, iso);
                x_raw(x, "\"", 1);
                x_str(x, iso);
                x_raw(x, "\"", 1);
            }
        } else {
            x_no_field(x, "Hold", c->name);
            break;
        }
    }
    x_raw(x, "}", 1);
}

static void exec_order(struct exec *x, const struct dm_gql_field *fld)
{
    const json_t *items = json_object_get(fld->args, "items");
    if (!json_is_array(items) || json_array_size(items) != 1) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED",
               "Argument \"items\" must be a list with exactly one item in the simulator.");
        return;
    }
    const json_t *it = json_array_get(items, 0);
    const char *offer = json_is_object(it) ? dm_json_str(it, "offerId") : NULL;
    const char *dest = json_is_object(it) ? dm_json_str(it, "destinationId") : NULL;
    if (offer == NULL || dest == NULL) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED", "Order items need offerId and destinationId.");
        return;
    }
    char oid[40];
    enum dm_err e = dm_inv_order(x->sim->inv, offer, dm_now_ms(), oid);
    if (e == DM_ERR_NOT_FOUND) {
        x_fail(x, "NOT_FOUND", "Product not found.");
        return;
    }
    if (e != DM_OK) {
        x_fail(x, "BAD_USER_INPUT", "Diamond is not available for ordering.");
        return;
    }
    x_str(x, "{\"id\":\"");
    x_str(x, oid);
    x_str(x, "\",\"status\":\"CONFIRMED\"}");
}

static void exec_as(struct exec *x, const struct dm_gql_field *as, enum op *op)
{
    const char *tok = arg_str(as, "token");
    const char *why = token_check(x->sim, tok);
    if (why) {
        bump(&x->sim->token_rejected, 1);
        x_fail(x, "UNAUTHENTICATED", why);
        return;
    }
    if (!as->has_selection) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED", "Field \"as\" must have a selection of subfields.");
        return;
    }
    bool first = true;
    x_raw(x, "{", 1);
    for (const struct dm_gql_field *c = as->children; c && !x->failed; c = c->next) {
        x_key(x, c, &first);
        if (!strcmp(c->name, "diamonds_by_query_count")) {
            exec_count(x, c);
        } else if (!strcmp(c->name, "diamonds_by_query")) {
            if (!c->has_selection) {
                x_fail(x, "GRAPHQL_VALIDATION_FAILED",
                       "Field \"diamonds_by_query\" must have a selection of subfields.");
                break;
            }
            exec_search(x, c);
        } else if (!strcmp(c->name, "create_hold")) {
            exec_hold(x, c);
        } else if (!strcmp(c->name, "create_order")) {
            exec_order(x, c);
        } else if (!strcmp(c->name, "__typename")) {
            x_str(x, "\"AsQuery\"");
        } else {
            x_no_field(x, "AsQuery", c->name);
        }
    }
    x_raw(x, "}", 1);
    (void)op;
}

static void exec_auth(struct exec *x, const struct dm_gql_field *a)
{
    const struct dm_gql_field *up = dm_gql_child(a, "username_and_password");
    if (up == NULL || a->children->next != NULL) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED", "authenticate supports username_and_password only.");
        return;
    }
    const char *u = arg_str(up, "username");
    const char *p = arg_str(up, "password");
    if (u == NULL || p == NULL) {
        x_fail(x, "GRAPHQL_VALIDATION_FAILED", "username and password are required.");
        return;
    }
    bool ok_u = dm_ct_equal(u, strlen(u), x->sim->username, strlen(x->sim->username));
    bool ok_p = dm_ct_equal(p, strlen(p), x->sim->password, strlen(x->sim->password));
    if (!(ok_u && ok_p)) {
        bump(&x->sim->auth_failed, 1);
        x_fail(x, "BAD_USER_INPUT", "Invalid username or password.");
        return;
    }
    bump(&x->sim->auth_ok, 1);
    char tok[160];
    token_issue(x->sim, tok, sizeof(tok));
    bool first = true;
    x_str(x, "{");
    x_key(x, up, &first);
    x_str(x, "{");
    bool f2 = true;
    for (const struct dm_gql_field *c = up->children; c; c = c->next) {
        x_key(x, c, &f2);
        if (!strcmp(c->name, "token")) {
            x_raw(x, "\"", 1);
            x_str(x, tok);
            x_raw(x, "\"", 1);
        } else if (!strcmp(c->name, "__typename")) {
            x_str(x, "\"AuthResult\"");
        } else {
            x_no_field(x, "AuthResult", c->name);
            break;
        }
    }
    x_str(x, "}}");
    explicit_bzero(tok, sizeof(tok));
}

/* Classify the document: the operation for stats, and the price band for faults. */
static enum op classify(const struct dm_gql_doc *doc, bool *has_band, int64_t *lo, int64_t *hi)
{
    *has_band = false;
    const struct dm_gql_field *r = doc->fields;
    if (r == NULL)
        return OP_OTHER;
    if (!strcmp(r->name, "authenticate"))
        return OP_AUTH;
    if (strcmp(r->name, "as") != 0 || r->children == NULL)
        return OP_OTHER;
    const struct dm_gql_field *c = r->children;
    if (!strcmp(c->name, "diamonds_by_query") || !strcmp(c->name, "diamonds_by_query_count")) {
        struct dm_inv_filter f;
        char msg[8];
        if (!parse_query(json_object_get(c->args, "query"), &f, has_band, lo, hi, msg, sizeof(msg)))
            *has_band = false;
        return strcmp(c->name, "diamonds_by_query") != 0 ? OP_COUNT : OP_SEARCH;
    }
    if (!strcmp(c->name, "create_hold"))
        return OP_HOLD;
    if (!strcmp(c->name, "create_order"))
        return OP_ORDER;
    return OP_OTHER;
}

void dm_feedsim_graphql(struct dm_feedsim *sim, const char *body, size_t len,
                        struct dm_feedsim_reply *r)
{
    r->status = 200;
    r->retry_after_s = 0;
    r->op = op_names[OP_INVALID];
    dm_buf_reset(&r->body);
    bump(&sim->requests, 1);
    struct dm_error perr = {0};
    struct dm_gql_doc *doc = NULL;
    json_t *req = dm_json_parse_object(body, len, MAX_BODY, &perr);
    if (req == NULL) {
        bump(&sim->by_op[OP_INVALID], 1);
        reply_errors(r, 400, "Request body must be a JSON object {query, variables}.",
                     "BAD_REQUEST");
        return;
    }
    const json_t *q = json_object_get(req, "query");
    const json_t *vars = json_object_get(req, "variables");
    if (!json_is_string(q) || (vars && !json_is_null(vars) && !json_is_object(vars))) {
        bump(&sim->by_op[OP_INVALID], 1);
        reply_errors(r, 400, "\"query\" must be a string and \"variables\" an object.",
                     "BAD_REQUEST");
        goto out;
    }
    struct dm_error gerr = {0};
    if (dm_gql_parse(json_string_value(q), json_string_length(q), vars, &doc, &gerr) != DM_OK) {
        bump(&sim->by_op[OP_INVALID], 1);
        reply_errors(r, 400, gerr.message, "GRAPHQL_PARSE_FAILED");
        goto out;
    }
    bool has_band;
    int64_t lo = 0, hi = 0;
    enum op op = classify(doc, &has_band, &lo, &hi);
    r->op = op_names[op];
    bump(&sim->by_op[op], 1);

    struct exec x = {.sim = sim, .out = &r->body};
    faults_get(sim, &x.f);
    bool faulty = !banded(&x.f) || (has_band && in_band(&x.f, lo, hi));
    if (faulty) {
        if (x.f.latency_ms > 0) {
            bump(&sim->faults[FT_LATENCY], 1);
            dm_sleep_ms(x.f.latency_ms, NULL);
        }
        int st = 0;
        if (take_counted(sim, false, &st)) {
            bump(&sim->faults[FT_FAIL_NEXT], 1);
            if (st == 429)
                r->retry_after_s = 1;
            reply_errors(r, st, st == 429 ? "Too many requests" : "Simulated failure",
                         st >= 500 ? "INTERNAL_SERVER_ERROR" : "BAD_REQUEST");
            goto out;
        }
        if (take_counted(sim, true, NULL)) {
            bump(&sim->faults[FT_GRAPHQL_ERROR], 1);
            reply_errors(r, 200, "Simulated validation error: the query was rejected.",
                         "GRAPHQL_VALIDATION_FAILED");
            goto out;
        }
        if (x.f.rate_limit > 0 && frand() < x.f.rate_limit) {
            bump(&sim->faults[FT_RATE_LIMIT], 1);
            r->retry_after_s = 1;
            reply_errors(r, 429, "Too many requests, slow down.", "RATE_LIMITED");
            goto out;
        }
        if (x.f.error_rate > 0 && frand() < x.f.error_rate) {
            bump(&sim->faults[FT_ERROR], 1);
            reply_errors(r, 503, "Simulated server error.", "INTERNAL_SERVER_ERROR");
            goto out;
        }
    }
    if (!faulty) {
        /* Outside the band: item-level faults stay on for items priced inside it. */
        x.f.short_pages = 0;
        x.f.duplicate_rate = 0;
    }

    x_str(&x, "{\"data\":{");
    bool first = true;
    for (const struct dm_gql_field *f = doc->fields; f && !x.failed; f = f->next) {
        x_key(&x, f, &first);
        if (!strcmp(f->name, "authenticate") && f->has_selection && f->children) {
            exec_auth(&x, f);
        } else if (!strcmp(f->name, "as")) {
            exec_as(&x, f, &op);
        } else if (!strcmp(f->name, "__typename")) {
            x_str(&x, "\"Query\"");
        } else {
            x_no_field(&x, "Query", f->name);
        }
    }
    x_str(&x, "}}");
    if (x.failed)
        reply_errors(r, 200, x.msg, x.code);
    else if (x.e != DM_OK)
        reply_errors(r, 500, "Response too large.", "INTERNAL_SERVER_ERROR");
out:
    dm_gql_doc_free(doc);
    json_decref(req);
}

/* ---- admin --------------------------------------------------------------------------------- */

static json_t *faults_json(const struct dm_feedsim_faults *f)
{
    json_t *o =
        json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:I,s:i,s:I}", "latency_ms", (json_int_t)f->latency_ms,
                  "error_rate", f->error_rate, "rate_limit", f->rate_limit, "short_pages",
                  f->short_pages, "duplicate_rate", f->duplicate_rate, "malformed_rate",
                  f->malformed_rate, "fail_next", (json_int_t)f->fail_next, "fail_status",
                  f->fail_status, "graphql_error_next", (json_int_t)f->graphql_error_next);
    json_object_set_new(o, "poison_rate", json_real(f->poison_rate));
    json_object_set_new(o, "truncate_next", json_integer(f->truncate_next));
    json_object_set_new(o, "truncate_rate", json_real(f->truncate_rate));
    json_object_set_new(o, "truncate_line", json_integer(f->truncate_line));
    json_object_set_new(o, "truncate_abort", json_boolean(f->truncate_abort));
    json_object_set_new(o, "drip_bps", json_integer(f->drip_bps));
    json_object_set_new(o, "price_min",
                        f->price_min >= 0 ? json_integer(f->price_min) : json_null());
    json_object_set_new(o, "price_max",
                        f->price_max >= 0 ? json_integer(f->price_max) : json_null());
    return o;
}

static const char *set_rate(const json_t *o, const char *key, double *out)
{
    const json_t *v = json_object_get(o, key);
    double d;
    if (v == NULL)
        return NULL;
    if (!num_of(v, &d) || !(d >= 0 && d <= 1))
        return key;
    *out = d;
    return NULL;
}

static const char *set_int(const json_t *o, const char *key, int64_t min, int64_t max,
                           bool nullable, int64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL)
        return NULL;
    if (json_is_null(v) && nullable) {
        *out = -1;
        return NULL;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return key;
    *out = json_integer_value(v);
    return NULL;
}

/* Apply a JSON fault settings object to f; returns the offending key or NULL. */
static const char *faults_apply(const json_t *o, struct dm_feedsim_faults *f)
{
    const char *bad = NULL;
    if (json_is_true(json_object_get(o, "reset"))) {
        memset(f, 0, sizeof(*f));
        f->price_min = f->price_max = -1;
    }
    struct dm_feedsim_faults t = *f;
    if (!bad)
        bad = set_int(o, "latency_ms", 0, 600000, false, &t.latency_ms);
    if (!bad)
        bad = set_rate(o, "error_rate", &t.error_rate);
    if (!bad)
        bad = set_rate(o, "rate_limit", &t.rate_limit);
    if (!bad)
        bad = set_rate(o, "short_pages", &t.short_pages);
    if (!bad)
        bad = set_rate(o, "duplicate_rate", &t.duplicate_rate);
    if (!bad)
        bad = set_rate(o, "malformed_rate", &t.malformed_rate);
    if (!bad)
        bad = set_rate(o, "poison_rate", &t.poison_rate);
    if (!bad)
        bad = set_int(o, "price_min", 0, INT64_MAX / 2, true, &t.price_min);
    if (!bad)
        bad = set_int(o, "price_max", 0, INT64_MAX / 2, true, &t.price_max);
    if (!bad)
        bad = set_int(o, "graphql_error_next", 0, 1000000, false, &t.graphql_error_next);
    if (!bad)
        bad = set_int(o, "truncate_next", 0, 1000000, false, &t.truncate_next);
    if (!bad)
        bad = set_rate(o, "truncate_rate", &t.truncate_rate);
    if (!bad)
        bad = set_int(o, "truncate_line", 0, INT64_MAX / 2, false, &t.truncate_line);
    if (!bad)
        bad = set_int(o, "drip_bps", 0, INT64_MAX / 2, false, &t.drip_bps);
    const json_t *ta = json_object_get(o, "truncate_abort");
    if (!bad && ta) {
        if (json_is_boolean(ta))
            t.truncate_abort = json_is_true(ta);
        else
            bad = "truncate_abort";
    }
    const json_t *fn = json_object_get(o, "fail_next");
    if (!bad && fn) {
        int64_t cnt = 0, st = 503;
        if (json_is_integer(fn)) {
            cnt = json_integer_value(fn);
        } else if (json_is_object(fn)) {
            if (set_int(fn, "count", 0, 1000000, false, &cnt) ||
                set_int(fn, "status", 400, 599, false, &st))
                bad = "fail_next";
        } else {
            bad = "fail_next";
        }
        if (cnt < 0 || cnt > 1000000)
            bad = "fail_next";
        if (!bad) {
            t.fail_next = cnt;
            t.fail_status = (int)st;
        }
    }
    if (!bad)
        *f = t;
    return bad;
}

enum dm_err dm_feedsim_stones(struct dm_feedsim *sim, const char *ids, int64_t offset,
                              int64_t limit, struct dm_buf *b)
{
    enum dm_err e = DM_OK;
    uint32_t *pos = NULL;
    size_t npos = 0, cap = 0;
    json_t *missing = json_array();
    dm_inv_rdlock(sim->inv);
    if (ids) {
        char *copy = dm_xstrdup(ids);
        char *t = copy;
        for (char *next = NULL; t; t = next) {
            char *comma = strchr(t, ',');
            next = comma ? comma + 1 : NULL;
            if (comma)
                *comma = '\0';
            if (*t == '\0')
                continue;
            uint32_t p;
            if (!dm_inv_find(sim->inv, t, &p)) {
                json_t *js = json_string(t);
                json_array_append_new(missing, js ? js : json_null());
                continue;
            }
            if (npos == cap) {
                cap = cap ? cap * 2 : 64;
                pos = dm_xrealloc(pos, cap * sizeof(*pos));
            }
            pos[npos++] = p;
        }
        free(copy);
    } else {
        int64_t seen = 0;
        uint32_t n = dm_inv_size(sim->inv);
        for (uint32_t p = 0; p < n && (int64_t)npos < limit; p++) {
            if (!dm_inv_is_live(sim->inv, p) || seen++ < offset)
                continue;
            if (npos == cap) {
                cap = cap ? cap * 2 : 1024;
                pos = dm_xrealloc(pos, cap * sizeof(*pos));
            }
            pos[npos++] = p;
        }
    }
    e = dm_buf_appendf(b, "{\"total\":%u,\"items\":[", dm_inv_live(sim->inv));
    for (size_t i = 0; i < npos && e == DM_OK; i++) {
        if (i)
            e = dm_buf_append_char(b, ',');
        if (e == DM_OK)
            e = dm_inv_render(sim->inv, pos[i], DM_INV_NORMAL, b);
    }
    /* Ground truth the items do not carry: `updated` and `createdAt`, parallel to items, and
     * with a poison rate set, each stone's poison (null or its name) as served in pages. */
    pthread_mutex_lock(&sim->fmu);
    double poison_rate = sim->f.poison_rate;
    pthread_mutex_unlock(&sim->fmu);
    if (poison_rate > 0 && e == DM_OK) {
        e = dm_buf_append_str(b, "],\"poison\":[");
        for (size_t i = 0; i < npos && e == DM_OK; i++) {
            const char *name = dm_inv_poison_name(dm_inv_poison(sim->inv, pos[i], poison_rate));
            e = dm_buf_appendf(b, "%s%s%s%s", i ? "," : "", name ? "\"" : "", name ? name : "null",
                               name ? "\"" : "");
        }
    }
    for (int k = 0; k < 2; k++) {
        if (e == DM_OK)
            e = dm_buf_append_str(b, k == 0 ? "],\"updated\":[" : "],\"created\":[");
        for (size_t i = 0; i < npos && e == DM_OK; i++) {
            char iso[DM_ISO_LEN];
            dm_time_format(k == 0 ? dm_inv_updated_ms(sim->inv, pos[i])
                                  : dm_inv_created_ms(sim->inv, pos[i]),
                           iso);
            e = dm_buf_appendf(b, "%s\"%s\"", i ? "," : "", iso);
        }
    }
    dm_inv_unlock(sim->inv);
    char *ms = dm_json_dumps(missing);
    if (e == DM_OK)
        e = dm_buf_appendf(b, "],\"missing\":%s}", ms);
    free(ms);
    json_decref(missing);
    free(pos);
    return e;
}

static void admin_stones(struct dm_feedsim *sim, const struct dm_http_req *req,
                         struct dm_http_resp *resp)
{
    const char *ids = dm_http_req_arg(req, "ids");
    int64_t offset = 0, limit = 1000;
    const char *o = dm_http_req_arg(req, "offset"), *l = dm_http_req_arg(req, "limit");
    if ((o && dm_parse_i64(o, 0, INT64_MAX, &offset) != DM_OK) ||
        (l && dm_parse_i64(l, 1, 100000, &limit) != DM_OK)) {
        dm_http_resp_error(resp, 400, "BAD_REQUEST", "offset >= 0, limit 1..100000");
        return;
    }
    if (dm_feedsim_stones(sim, ids, offset, limit, &resp->body) != DM_OK)
        dm_http_resp_error(resp, 500, "INTERNAL_ERROR", "response too large");
}

static json_t *stats_json(struct dm_feedsim *sim)
{
    json_t *ops = json_object(), *fl = json_object();
    for (int i = 0; i < OP_N; i++)
        json_object_set_new(ops, op_names[i], json_integer(load(&sim->by_op[i])));
    for (int i = 0; i < FT_N; i++)
        json_object_set_new(fl, fault_names[i], json_integer(load(&sim->faults[i])));
    int64_t ftotal = 0;
    for (int i = 0; i < FT_N; i++)
        ftotal += load(&sim->faults[i]);
    dm_inv_rdlock(sim->inv);
    uint32_t live = dm_inv_live(sim->inv);
    dm_inv_unlock(sim->inv);
    return json_pack("{s:I,s:o,s:I,s:I,s:I,s:o,s:I,s:I,s:I,s:I,s:I}", "requests",
                     (json_int_t)load(&sim->requests), "operations", ops, "auth_calls",
                     (json_int_t)load(&sim->by_op[OP_AUTH]), "auth_failed",
                     (json_int_t)load(&sim->auth_failed), "token_rejected",
                     (json_int_t)load(&sim->token_rejected), "faults", fl, "faults_total",
                     (json_int_t)ftotal, "pages", (json_int_t)load(&sim->pages), "items",
                     (json_int_t)load(&sim->items), "stones", (json_int_t)live, "uptime_ms",
                     (json_int_t)(dm_now_ms() - sim->started_ms));
}

void dm_feedsim_churn(struct dm_feedsim *sim, double percent, struct dm_inv_churn_result *c)
{
    dm_inv_churn(sim->inv, percent, dm_now_ms(), c);
    dm_info(NULL,
            "feed-sim churn day %lld (%.2f%%): %lld changed (%lld price, %lld availability, "
            "%lld sold), %lld removed, %lld added, %lld live",
            (long long)c->day, percent, (long long)c->changed, (long long)c->price_changed,
            (long long)c->availability_changed, (long long)c->sold, (long long)c->removed,
            (long long)c->added, (long long)c->live_after);
}

void dm_feedsim_handle(void *ctx, const struct dm_http_req *req, struct dm_http_resp *resp)
{
    struct dm_feedsim *sim = ctx;
    int64_t t0 = dm_mono_ms();
    const char *op = "-";
    bool post = !strcmp(req->method, "POST");
    bool get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    if (!strcmp(req->path, "/graphql") && post) {
        struct dm_feedsim_reply r = {0};
        dm_buf_init(&r.body, 64u << 20);
        dm_feedsim_graphql(sim, req->body, req->body_len, &r);
        op = r.op;
        resp->status = r.status;
        resp->content_type = "application/json";
        if (r.retry_after_s > 0) {
            char v[16];
            snprintf(v, sizeof(v), "%d", r.retry_after_s);
            dm_http_resp_header(resp, "Retry-After", v);
        }
        /* Hand the rendered body over without copying it. */
        dm_buf_free(&resp->body);
        resp->body = r.body;
    } else if (!strcmp(req->path, "/graphql")) {
        dm_http_resp_header(resp, "Allow", "POST");
        json_t *e = json_pack("{s:[{s:s}]}", "errors", "message", "GraphQL requests must be POST.");
        dm_http_resp_json(resp, 405, e);
    } else if (!strcmp(req->path, "/") && get) {
        dm_inv_rdlock(sim->inv);
        uint32_t live = dm_inv_live(sim->inv);
        dm_inv_unlock(sim->inv);
        json_t *root =
            json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "service", "diamond feed-sim", "description",
                      "Nivoda-compatible GraphQL feed simulator (POST /graphql)", "graphql",
                      "/graphql", "stones", (json_int_t)live, "seed", (json_int_t)sim->seed,
                      "admin", "/admin/stats /admin/faults /admin/churn /admin/stones");
        if (sim->format != DM_FEEDFILE_NONE) /* file mode: where the file is */
            json_object_set_new(root, "file", json_string(dm_feedfile_path(sim->format)));
        dm_http_resp_json(resp, 200, root);
    } else if (!strcmp(req->path, "/admin/stats") && get) {
        dm_http_resp_json(resp, 200, stats_json(sim));
    } else if (!strcmp(req->path, "/admin/faults") && (get || post)) {
        if (post) {
            struct dm_error err = {0};
            json_t *o = dm_json_parse_object(req->body, req->body_len, (size_t)64 * 1024, &err);
            if (o == NULL) {
                dm_http_resp_error(resp, 400, "BAD_REQUEST", err.message);
                goto log;
            }
            pthread_mutex_lock(&sim->fmu);
            const char *bad = faults_apply(o, &sim->f);
            pthread_mutex_unlock(&sim->fmu);
            json_decref(o);
            if (bad) {
                char m[128];
                snprintf(m, sizeof(m), "invalid value for %s", bad);
                dm_http_resp_error(resp, 400, "BAD_REQUEST", m);
                goto log;
            }
            dm_info(NULL, "feed-sim faults changed");
        }
        struct dm_feedsim_faults f;
        faults_get(sim, &f);
        dm_http_resp_json(resp, 200, faults_json(&f));
    } else if (!strcmp(req->path, "/admin/churn") && post) {
        struct dm_error err = {0};
        json_t *o = dm_json_parse_object(req->body, req->body_len, (size_t)64 * 1024, &err);
        double pct;
        if (o == NULL || dm_json_num(o, "percent", &pct) != DM_OK || !(pct >= 0 && pct <= 100)) {
            json_decref(o);
            dm_http_resp_error(resp, 400, "BAD_REQUEST", "body must be {\"percent\": 0..100}");
            goto log;
        }
        json_decref(o);
        struct dm_inv_churn_result c;
        dm_feedsim_churn(sim, pct, &c);
        dm_http_resp_json(
            resp, 200,
            json_pack("{s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "day", (json_int_t)c.day,
                      "percent", pct, "changed", (json_int_t)c.changed, "price_changed",
                      (json_int_t)c.price_changed, "availability_changed",
                      (json_int_t)c.availability_changed, "sold", (json_int_t)c.sold, "removed",
                      (json_int_t)c.removed, "added", (json_int_t)c.added, "live_before",
                      (json_int_t)c.live_before, "live_after", (json_int_t)c.live_after));
    } else if (!strcmp(req->path, "/admin/stones") && get) {
        admin_stones(sim, req, resp);
    } else if (!strcmp(req->path, "/admin/revoke-tokens") && post) {
        __atomic_add_fetch(&sim->token_epoch, 1, __ATOMIC_RELAXED);
        dm_http_resp_json(resp, 200, json_pack("{s:b}", "revoked", 1));
    } else {
        bump(&sim->http_other, 1);
        dm_http_resp_error(resp, 404, "NOT_FOUND", "no such endpoint");
    }
log:
    dm_info(NULL, "%s %s op=%s status=%d ms=%lld", req->method, req->path, op,
            resp->status ? resp->status : 200, (long long)(dm_mono_ms() - t0));
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

struct dm_feedsim *dm_feedsim_new(const struct dm_feedsim_opts *o)
{
    struct dm_feedsim *sim = dm_xcalloc(1, sizeof(*sim));
    sim->seed = o->seed;
    sim->inv = dm_inv_new_shared(o->seed, o->count, &o->share);
    sim->format = o->format;
    sim->username = dm_xstrdup(o->username ? o->username : "sim");
    sim->password = dm_xstrdup(o->password ? o->password : "sim");
    sim->token_ttl_ms = o->token_ttl_ms > 0 ? o->token_ttl_ms : 6LL * 3600 * 1000;
    dm_random_bytes(sim->secret, sizeof(sim->secret));
    pthread_mutex_init(&sim->fmu, NULL);
    sim->f = o->faults;
    sim->started_ms = dm_now_ms();
    return sim;
}

enum dm_err dm_feedsim_listen(struct dm_feedsim *sim, const char *bind, int port, int threads,
                              struct dm_error *err)
{
    if (sim->format != DM_FEEDFILE_NONE)
        return dm_feedsim_file_listen(sim, bind, port, threads, err);
    struct dm_http_server_opts so = {
        .bind = bind,
        .port = port,
        .threads = threads > 0 ? threads : 16,
        .max_body = MAX_BODY,
        .timeout_s = 120,
        .handler = dm_feedsim_handle,
        .ctx = sim,
    };
    return dm_http_server_start(&so, &sim->srv, err);
}

int dm_feedsim_port(const struct dm_feedsim *sim)
{
    if (sim->fsrv)
        return dm_feedsim_file_port(sim);
    return sim->srv ? dm_http_server_port(sim->srv) : 0;
}

void dm_feedsim_stop(struct dm_feedsim *sim)
{
    if (sim == NULL)
        return;
    sim->stopping = 1;
    dm_feedsim_file_stop(sim);
    dm_http_server_stop(sim->srv);
    sim->srv = NULL;
}

void dm_feedsim_free(struct dm_feedsim *sim)
{
    if (sim == NULL)
        return;
    dm_feedsim_stop(sim);
    dm_inv_free(sim->inv);
    explicit_bzero(sim->password, strlen(sim->password));
    free(sim->username);
    free(sim->password);
    pthread_mutex_destroy(&sim->fmu);
    free(sim);
}
