/*
 * nivoda_raw.c - the raw search page (see nivoda.h): a validating, compacting single-pass
 * scanner over a search response that keeps each item's own JSON text and picks out `id` and
 * `diamond.id`. An item it is not sure about is read again alone: first loosely (structure
 * only, to find where it ends and what its ids are), then by jansson, as the regular path
 * would read it; an item jansson refuses, one nested deeper than 64 levels, one too large,
 * or one that is not an object is refused alone (kept out of the page with its ids and the
 * reason), so one bad stone never costs the page. Only a body that is not JSON, or whose
 * envelope the scanner does not understand, is left to the regular path whole. The scanner
 * never reports an id differently from the regular path. Pure: no I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "adapters/feed/nivoda.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/json_string.h"
#include "core/jsonwrite.h"

#define MAX_DEPTH 64
/* An item read again alone is refused beyond these (the mapper refuses payloads over 1 MiB
 * anyway; a real item has about 120 values): they bound what jansson may allocate for it. */
#define ITEM_MAX_BYTES ((size_t)1024 * 1024)
#define ITEM_MAX_VALUES 65536
#define ITEM_MAX_DEPTH 64

struct span {
    size_t off, len; /* into the output buffer, or into the extra buffer when x */
    bool set, x;
};

struct scan {
    const unsigned char *p, *end;
    char *out; /* compacted output (items only) */
    size_t olen;
    bool emit;    /* copying into out */
    bool lenient; /* loose reading: structure only (see skip) */
    int depth;
    /* skip()'s bracket stack, its deepest level relative to where it started and the number
     * of values it read */
    unsigned char *stack;
    size_t stack_cap;
    int depth_base; /* s->depth outside the item being read again (see salvage) */
    int deepest;
    size_t values;
    size_t max_items;
    bool too_many;    /* the page holds more than max_items items */
    struct dm_buf *x; /* items re-written by jansson, and refusal reasons */
};

/* Items found so far (offsets into out or x; turned into pointers at the end). */
struct item_spans {
    struct span json, id, sid, why;
};

struct items {
    struct item_spans *v;
    size_t n, cap;
};

static void ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static void put(struct scan *s, const unsigned char *from, size_t n)
{
    if (s->emit) {
        memcpy(s->out + s->olen, from, n);
        s->olen += n;
    }
}

static void putc1(struct scan *s, char c)
{
    if (s->emit)
        s->out[s->olen++] = c;
}

/*
 * A string (s->p at the opening quote), copied as it is. *escaped tells whether it held an
 * escape (its raw bytes then differ from its value). The span covers the content without
 * quotes. Lone or reversed surrogate escapes are left to jansson.
 */
static int str(struct scan *s, struct span *sp, bool *escaped)
{
    const unsigned char *body = s->p + 1, *close;
    if (dm_json_string_scan(body, s->end, false, &close, escaped) != DM_JSON_STRING_OK)
        return -1;
    putc1(s, '"');
    size_t start = s->olen;
    put(s, body, (size_t)(close - body));
    if (sp) {
        sp->off = start;
        sp->len = s->olen - start;
        sp->set = true;
    }
    s->p = close + 1;
    putc1(s, '"');
    return 0;
}

/* A number; *plain_int tells whether it is -?(0|[1-9][0-9]{0,17}) (printed identically by
 * jansson's %lld). Exponents and very long numbers go to jansson (it may refuse them). */
static int num(struct scan *s, struct span *sp, bool *plain_int)
{
    const unsigned char *b = s->p, *q = s->p;
    if (q < s->end && *q == '-')
        q++;
    if (q >= s->end)
        return -1;
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (q < s->end && *q >= '0' && *q <= '9')
            q++;
    } else {
        return -1;
    }
    size_t int_digits = (size_t)(q - b) - (*b == '-');
    bool frac = false;
    if (q < s->end && *q == '.') {
        frac = true;
        q++;
        const unsigned char *d = q;
        while (q < s->end && *q >= '0' && *q <= '9')
            q++;
        if (q == d)
            return -1;
    }
    if (q < s->end && (*q == 'e' || *q == 'E'))
        return -1;
    if (q - b > 40)
        return -1;
    *plain_int = !frac && int_digits <= 18 && !(int_digits == 1 && *b == '-' && b[1] == '0');
    if (sp) {
        sp->off = s->olen;
        sp->len = (size_t)(q - b);
        sp->set = true;
    }
    if (frac && s->emit) {
        /* Trailing zeros of a fraction go ("3.90" -> "3.9", "58.00" -> "58.0", "-0.0" ->
         * "0.0"): the same number, and for up to 9 integer digits, 9 decimals and 15
         * significant digits exactly what dm_json_write prints for it, so a payload hashes
         * the same on both paths (and as before the raw path existed). */
        const unsigned char *dot = memchr(b, '.', (size_t)(q - b));
        const unsigned char *last = q - 1;
        while (last > dot + 1 && *last == '0')
            last--;
        size_t fd = (size_t)(last - dot);
        bool neg = *b == '-';
        bool zero = int_digits == 1 && b[neg] == '0' && fd == 1 && *last == '0';
        if (int_digits <= 9 && fd <= 9 && int_digits + fd <= 15) {
            const unsigned char *from = neg && zero ? b + 1 : b;
            put(s, from, (size_t)(last + 1 - from));
            s->p = q;
            return 0;
        }
    }
    put(s, b, (size_t)(q - b));
    s->p = q;
    return 0;
}

static int lit(struct scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    put(s, s->p, n);
    s->p += n;
    return 0;
}

/* ---- loose reading -------------------------------------------------------------------------- */

/*
 * A string read loosely: it ends at the first quote not escaped by a backslash, whatever its
 * content (every reading of JSON agrees on that much); the content is checked by whoever
 * reads the item next (jansson), or not at all (envelope members nobody reads).
 */
static int loose_str(struct scan *s)
{
    const unsigned char *q = s->p + 1;
    while (q < s->end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    if (q >= s->end)
        return -1;
    put(s, s->p, (size_t)(q + 1 - s->p));
    s->p = q + 1;
    return 0;
}

/* A number read loosely: a run of the characters numbers are made of. */
static int loose_num(struct scan *s)
{
    const unsigned char *q = s->p;
    while (q < s->end && ((*q >= '0' && *q <= '9') || *q == '-' || *q == '+' || *q == '.' ||
                          *q == 'e' || *q == 'E'))
        q++;
    if (q == s->p)
        return -1;
    put(s, s->p, (size_t)(q - s->p));
    s->p = q;
    return 0;
}

static int loose_key(struct scan *s)
{
    ws(s);
    if (s->p >= s->end || *s->p != '"' || loose_str(s) != 0)
        return -1;
    ws(s);
    if (s->p >= s->end || *s->p != ':')
        return -1;
    putc1(s, ':');
    s->p++;
    return 0;
}

/*
 * One value read loosely and without recursion (any depth): brackets, commas, colons and
 * literals must be right, strings and numbers only delimited (see above). Copies compacted
 * text when emitting. Counts the values read (s->values) and the deepest nesting level
 * (s->deepest, counted from s->depth_base). -1 only when the text is not JSON.
 */
static int skip(struct scan *s)
{
    size_t sp = 0;
    for (;;) {
        /* a value */
        ws(s);
        if (s->p >= s->end)
            return -1;
        unsigned char c = *s->p;
        s->values++;
        if (c == '{' || c == '[') {
            if (sp == s->stack_cap) {
                s->stack_cap = s->stack_cap ? s->stack_cap * 2 : 64;
                s->stack = dm_xrealloc(s->stack, s->stack_cap);
            }
            s->stack[sp++] = c;
            if (s->depth - s->depth_base + (int)sp > s->deepest)
                s->deepest = s->depth - s->depth_base + (int)sp;
            putc1(s, (char)c);
            s->p++;
            ws(s);
            unsigned char close = c == '{' ? '}' : ']';
            if (s->p < s->end && *s->p == close) {
                putc1(s, (char)close);
                s->p++;
                sp--;
            } else {
                if (c == '{' && loose_key(s) != 0)
                    return -1;
                continue;
            }
        } else if (c == '"') {
            if (loose_str(s) != 0)
                return -1;
        } else if (c == 't' || c == 'f' || c == 'n') {
            if (lit(s, c == 't' ? "true" : c == 'f' ? "false" : "null") != 0)
                return -1;
        } else if (loose_num(s) != 0) {
            return -1;
        }
        /* after a value: close what is complete, stop at the next value */
        for (;;) {
            if (sp == 0)
                return 0;
            ws(s);
            if (s->p >= s->end)
                return -1;
            unsigned char top = s->stack[sp - 1];
            if (*s->p == ',') {
                putc1(s, ',');
                s->p++;
                if (top == '{' && loose_key(s) != 0)
                    return -1;
                break;
            }
            if (*s->p != (top == '{' ? '}' : ']'))
                return -1;
            putc1(s, (char)*s->p);
            s->p++;
            sp--;
        }
    }
}

static int value(struct scan *s);

/* After an object's key: the ':' (copied) and the white space around it; -1 without it. */
static int colon(struct scan *s)
{
    ws(s);
    if (s->p >= s->end || *s->p != ':')
        return -1;
    putc1(s, ':');
    s->p++;
    ws(s);
    return 0;
}

/* At the container's close (s->p): copy it and leave the container. 0. */
static int closed(struct scan *s, unsigned char close)
{
    putc1(s, (char)close);
    s->p++;
    s->depth--;
    return 0;
}

/* After a member or element of a container that close ends: 1 when a ',' (copied) says
 * another follows, 0 when the container ended (closed), -1 for anything else. */
static int after_item(struct scan *s, unsigned char close)
{
    ws(s);
    if (s->p >= s->end)
        return -1;
    if (*s->p == ',') {
        putc1(s, ',');
        s->p++;
        ws(s);
        return 1;
    }
    if (*s->p != close)
        return -1;
    return closed(s, close);
}

/* Generic object or array (s->p at the bracket). */
static int container(struct scan *s)
{
    bool obj = *s->p == '{';
    unsigned char close = obj ? '}' : ']';
    if (++s->depth > MAX_DEPTH)
        return -1;
    putc1(s, (char)*s->p);
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == close)
        return closed(s, close);
    for (;;) {
        if (obj) {
            bool esc;
            if (s->p >= s->end || *s->p != '"' || str(s, NULL, &esc) != 0 || colon(s) != 0)
                return -1;
        }
        if (value(s) != 0)
            return -1;
        int more = after_item(s, close);
        if (more <= 0)
            return more;
    }
}

static int value(struct scan *s)
{
    if (s->p >= s->end)
        return -1;
    if (s->lenient)
        return skip(s);
    bool b;
    switch (*s->p) {
    case '{':
    case '[':
        return container(s);
    case '"':
        return str(s, NULL, &b);
    case 't':
        return lit(s, "true");
    case 'f':
        return lit(s, "false");
    case 'n':
        return lit(s, "null");
    default:
        return num(s, NULL, &b);
    }
}

/* An id value: a string (kept when `allow_empty` or non-empty, and without escapes) or a plain
 * integer; anything else means "no id". Escaped ids and non-plain integers: jansson's call. */
static int id_value_strict(struct scan *s, struct span *sp, bool allow_empty);

/* An id value; read loosely, an id the strict reading refuses is no id (the item is being
 * refused or re-read by jansson: these ids only name it). */
static int id_value(struct scan *s, struct span *sp, bool allow_empty)
{
    if (!s->lenient)
        return id_value_strict(s, sp, allow_empty);
    const unsigned char *p = s->p;
    size_t olen = s->olen;
    s->lenient = false;
    int rc = id_value_strict(s, sp, allow_empty);
    s->lenient = true;
    if (rc == 0)
        return 0;
    memset(sp, 0, sizeof(*sp));
    s->p = p;
    s->olen = olen;
    return skip(s);
}

static int id_value_strict(struct scan *s, struct span *sp, bool allow_empty)
{
    memset(sp, 0, sizeof(*sp));
    if (s->p >= s->end)
        return -1;
    if (*s->p == '"') {
        bool esc;
        if (str(s, sp, &esc) != 0 || esc)
            return -1;
        if (!allow_empty && sp->len == 0)
            sp->set = false;
        return 0;
    }
    if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) {
        const unsigned char *b = s->p;
        bool plain;
        if (num(s, sp, &plain) != 0)
            return -1;
        if (plain)
            return 0;
        /* a real is no id (jansson: not an integer); a long or "-0" integer: jansson's call */
        sp->set = false;
        return memchr(b, '.', (size_t)(s->p - b)) != NULL ? 0 : -1;
    }
    return value(s); /* no id */
}

/* Is the key just read (raw span in out, or in input when not emitting) equal to word? Keys
 * with escapes go to jansson. */
static bool key_is(const char *k, size_t klen, const char *word)
{
    return strlen(word) == klen && memcmp(k, word, klen) == 0;
}

/* Read an object key without emitting it when not emitting, returning its raw bytes. */
static int read_key(struct scan *s, const char **k, size_t *klen)
{
    if (s->p >= s->end || *s->p != '"')
        return -1;
    const unsigned char *start = s->p + 1;
    bool esc = false;
    if (s->lenient ? loose_str(s) != 0 : str(s, NULL, &esc) != 0 || esc)
        return -1;
    *k = (const char *)start;
    *klen = (size_t)(s->p - start) - 1;
    return colon(s);
}

/* Iterate an object's members: calls member(s, key, klen, ctx) with s->p at the value. */
typedef int (*member_fn)(struct scan *s, const char *k, size_t klen, void *ctx);

static int object(struct scan *s, member_fn member, void *ctx)
{
    if (s->p >= s->end || *s->p != '{')
        return -1;
    if (++s->depth > MAX_DEPTH && !s->lenient)
        return -1;
    putc1(s, '{');
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}')
        return closed(s, '}');
    for (;;) {
        const char *k;
        size_t klen;
        if (read_key(s, &k, &klen) != 0 || member(s, k, klen, ctx) != 0)
            return -1;
        int more = after_item(s, '}');
        if (more <= 0)
            return more;
    }
}

/* Mark a member as read and tell whether it was read before: jansson refuses an item with a
 * duplicate key, so the scanner refuses it as well (read loosely, the first one names it). */
static bool seen_before(bool *seen)
{
    bool was = *seen;
    *seen = true;
    return was;
}

/* A duplicate member: refused, or skipped when reading loosely. */
static int duplicate(struct scan *s)
{
    return s->lenient ? skip(s) : -1;
}

/* A member of an object whose member `key` (read once) is an object read by `member`; the
 * other members are skipped. */
static int member_once(struct scan *s, const char *k, size_t klen, const char *key, bool *seen,
                       member_fn member, void *ctx)
{
    if (!key_is(k, klen, key))
        return skip(s); /* nobody reads it: only its structure matters */
    return seen_before(seen) ? -1 : object(s, member, ctx);
}

/* ---- one item ---------------------------------------------------------------------------- */

struct diamond_ctx {
    struct span sid;
    bool seen_id;
};

static int diamond_member(struct scan *s, const char *k, size_t klen, void *ctx)
{
    struct diamond_ctx *d = ctx;
    if (key_is(k, klen, "id"))
        return seen_before(&d->seen_id) ? duplicate(s) : id_value(s, &d->sid, false);
    return value(s);
}

struct item_ctx {
    struct span id, sid;
    bool seen_id, seen_diamond;
};

static int item_member(struct scan *s, const char *k, size_t klen, void *ctx)
{
    struct item_ctx *it = ctx;
    if (key_is(k, klen, "id"))
        return seen_before(&it->seen_id) ? duplicate(s) : id_value(s, &it->id, true);
    if (key_is(k, klen, "diamond")) {
        if (seen_before(&it->seen_diamond))
            return duplicate(s);
        if (s->p < s->end && *s->p == '{') {
            struct diamond_ctx d = {0};
            if (object(s, diamond_member, &d) != 0)
                return -1;
            it->sid = d.sid;
            return 0;
        }
        return value(s);
    }
    return value(s);
}

/* A NUL-terminated text in the extra buffer (refusal reasons). */
static void x_text(struct scan *s, struct span *sp, const char *text)
{
    size_t n = strlen(text);
    sp->off = s->x->len;
    sp->len = n;
    sp->set = sp->x = true;
    if (dm_buf_append(s->x, text, n + 1) != DM_OK)
        sp->len = sp->off = 0, sp->set = false;
}

/* The id as the regular path reports it (see id_text below), into the extra buffer. */
static enum dm_err id_text(const json_t *v, bool allow_empty, struct dm_buf *b, struct span *sp);

/*
 * The item at s->p could not be read strictly: read it again alone (see the file comment).
 * Fills *v: the item (re-written by jansson into the extra buffer) or its refusal with the
 * ids the loose reading found. -1 when the item is not JSON at all.
 */
static int salvage(struct scan *s, struct item_spans *v)
{
    const unsigned char *start = s->p;
    size_t off = s->olen;
    int depth = s->depth;
    struct item_ctx it = {0};
    s->lenient = true;
    s->emit = true;
    s->depth_base = depth;
    s->deepest = 0;
    s->values = 0;
    bool is_obj = *s->p == '{';
    int rc = is_obj ? object(s, item_member, &it) : skip(s);
    s->lenient = false;
    s->emit = false;
    s->depth = depth;
    if (rc != 0)
        return -1;
    memset(v, 0, sizeof(*v));
    v->id = it.id;
    v->sid = it.sid;
    size_t len = (size_t)(s->p - start);
    int deepest = s->deepest > 1 ? s->deepest : 1; /* the item's own level counts */
    char why[200];
    if (!is_obj) {
        x_text(s, &v->why, "item is not a JSON object");
        return 0;
    }
    if (deepest > ITEM_MAX_DEPTH) {
        snprintf(why, sizeof(why), "item nested deeper than %d levels", ITEM_MAX_DEPTH);
        x_text(s, &v->why, why);
        return 0;
    }
    if (len > ITEM_MAX_BYTES || s->values > ITEM_MAX_VALUES) {
        snprintf(why, sizeof(why), "item too large (%zu bytes, %zu values)", len, s->values);
        x_text(s, &v->why, why);
        return 0;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)start, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!json_is_object(j)) {
        snprintf(why, sizeof(why), "item is not valid JSON: %s", j ? "not an object" : je.text);
        json_decref(j);
        x_text(s, &v->why, why);
        return 0;
    }
    /* jansson read it: the regular path's text and ids (the loose text is dropped) */
    s->olen = off;
    v->json.off = s->x->len;
    v->json.set = v->json.x = true;
    enum dm_err e = dm_json_write(s->x, j);
    v->json.len = s->x->len - v->json.off;
    if (e == DM_OK)
        e = id_text(json_object_get(j, "id"), true, s->x, &v->id);
    const json_t *d = json_object_get(j, "diamond");
    if (e == DM_OK)
        e = id_text(json_is_object(d) ? json_object_get(d, "id") : NULL, false, s->x, &v->sid);
    json_decref(j);
    if (e != DM_OK) {
        memset(v, 0, sizeof(*v));
        x_text(s, &v->why, "item could not be serialised");
    }
    v->id.x = v->id.set;
    v->sid.x = v->sid.set;
    return 0;
}

static int items_array(struct scan *s, struct items *out)
{
    if (s->p >= s->end || *s->p != '[')
        return -1;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        if (s->p >= s->end)
            return -1;
        /* counted before anything is allocated for it */
        if (out->n >= s->max_items) {
            s->too_many = true;
            return -1;
        }
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 64;
            if (out->cap > s->max_items)
                out->cap = s->max_items;
            out->v = dm_xrealloc(out->v, out->cap * sizeof(*out->v));
        }
        struct item_spans *v = &out->v[out->n];
        struct item_ctx it = {0};
        const unsigned char *start = s->p;
        size_t off = s->olen;
        int depth = s->depth;
        int rc = -1;
        if (*s->p == '{') {
            s->emit = true;
            rc = object(s, item_member, &it);
            s->emit = false;
        }
        if (rc == 0) {
            *v = (struct item_spans){.json = {.off = off, .len = s->olen - off, .set = true},
                                     .id = it.id,
                                     .sid = it.sid};
        } else {
            /* not sure about this item: read it again alone */
            s->p = start;
            s->olen = off;
            s->depth = depth;
            if (salvage(s, v) != 0)
                return -1; /* not JSON: the regular path reports it */
        }
        out->n++;
        ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p != ']')
            return -1;
        s->p++;
        return 0;
    }
}

/* ---- the envelope: {"data":{"as":{"diamonds_by_query":{"total_count":N,"items":[...]}}}} ---- */

struct env {
    struct items *items;
    int64_t total;
    bool seen_items, seen_total, seen_data, seen_as, seen_q;
};

static int q_member(struct scan *s, const char *k, size_t klen, void *ctx)
{
    struct env *e = ctx;
    if (key_is(k, klen, "items"))
        return seen_before(&e->seen_items) ? -1 : items_array(s, e->items);
    if (key_is(k, klen, "total_count")) {
        if (seen_before(&e->seen_total))
            return -1;
        struct span sp = {0};
        bool plain = false;
        const unsigned char *b = s->p;
        if (s->p < s->end && (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) &&
            num(s, &sp, &plain) == 0) {
            if (plain) {
                int64_t v = 0;
                bool neg = *b == '-';
                for (const unsigned char *q = b + neg; q < s->p; q++)
                    v = v * 10 + (*q - '0');
                e->total = neg ? -v : v;
            }
            return 0;
        }
        s->p = b;
        return skip(s); /* not a plain integer: reported as absent (it is never used) */
    }
    return skip(s);
}

static int as_member(struct scan *s, const char *k, size_t klen, void *ctx)
{
    struct env *e = ctx;
    return member_once(s, k, klen, "diamonds_by_query", &e->seen_q, q_member, e);
}

static int data_member(struct scan *s, const char *k, size_t klen, void *ctx)
{
    struct env *e = ctx;
    return member_once(s, k, klen, "as", &e->seen_as, as_member, e);
}

static int top_member(struct scan *s, const char *k, size_t klen, void *ctx)
{
    struct env *e = ctx;
    if (key_is(k, klen, "errors"))
        return -1; /* errors are classified by the regular path */
    return member_once(s, k, klen, "data", &e->seen_data, data_member, e);
}

/* The page from the scan: the extra buffer joins the text, spans become pointers. */
static void finish_page(struct dm_feed_raw_page *page, char *out, size_t olen, struct dm_buf *x,
                        struct items *it, int64_t total)
{
    if (x->len > 0) {
        out = dm_xrealloc(out, olen + x->len + 1);
        memcpy(out + olen, x->data, x->len);
        out[olen + x->len] = '\0';
    }
    page->text = out;
    page->n = it->n;
    page->total_count = total;
    page->items = dm_xcalloc(it->n + 1, sizeof(*page->items));
    for (size_t i = 0; i < it->n; i++) {
        struct item_spans *v = &it->v[i];
        struct dm_feed_raw_item *r = &page->items[i];
#define AT(sp) (out + (sp).off + ((sp).x ? olen : 0))
        if (v->why.set) {
            r->refused = AT(v->why);
        } else if (!v->json.set) {
            r->refused = "item could not be stored"; /* the reason itself could not be kept */
        } else {
            r->json = AT(v->json);
            r->json_len = v->json.len;
        }
        if (v->id.set) {
            r->offer_id = AT(v->id);
            r->offer_id_len = v->id.len;
        }
        if (v->sid.set) {
            r->stone_id = AT(v->sid);
            r->stone_id_len = v->sid.len;
        }
#undef AT
    }
    free(it->v);
}

enum dm_err dm_nivoda_scan_raw_page_limit(const char *body, size_t len, size_t max_items,
                                          struct dm_feed_raw_page *page)
{
    memset(page, 0, sizeof(*page));
    page->total_count = -1;
    if (body == NULL || len == 0)
        return DM_ERR_INVALID;
    struct dm_buf x;
    dm_buf_init(&x, 64u << 20);
    struct scan s = {.p = (const unsigned char *)body,
                     .end = (const unsigned char *)body + len,
                     .max_items = max_items,
                     .x = &x};
    s.out = dm_xmalloc(len + 1);
    struct items it = {0};
    struct env e = {.items = &it, .total = -1};
    ws(&s);
    int rc = object(&s, top_member, &e);
    ws(&s);
    free(s.stack);
    if (rc != 0 || s.p != s.end || !e.seen_items) {
        free(s.out);
        free(it.v);
        dm_buf_free(&x);
        return s.too_many ? DM_ERR_TOO_LARGE : DM_ERR_INVALID;
    }
    finish_page(page, s.out, s.olen, &x, &it, e.total);
    dm_buf_free(&x);
    return DM_OK;
}

enum dm_err dm_nivoda_scan_raw_page(const char *body, size_t len, struct dm_feed_raw_page *page)
{
    return dm_nivoda_scan_raw_page_limit(body, len, SIZE_MAX, page);
}

/* ---- the regular path's conversion ------------------------------------------------------ */

/* The id as the scanner reports it: a string (non-empty unless allow_empty) or an integer. */
static enum dm_err id_text(const json_t *v, bool allow_empty, struct dm_buf *b, struct span *sp)
{
    memset(sp, 0, sizeof(*sp));
    char tmp[32];
    const char *t = NULL;
    size_t n = 0;
    if (json_is_string(v) && (allow_empty || json_string_length(v) > 0)) {
        t = json_string_value(v);
        n = strlen(t);
    } else if (json_is_integer(v)) {
        snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
        t = tmp;
        n = strlen(tmp);
    }
    if (t == NULL)
        return DM_OK;
    sp->off = b->len;
    sp->len = n;
    sp->set = true;
    return dm_buf_append(b, t, n);
}

enum dm_err dm_nivoda_raw_from_items(const json_t *items, int64_t total_count,
                                     struct dm_feed_raw_page *page, struct dm_error *err)
{
    memset(page, 0, sizeof(*page));
    page->total_count = total_count;
    size_t n = json_array_size(items);
    struct dm_buf b;
    dm_buf_init(&b, 64u << 20);
    struct items it = {0};
    it.cap = n + 1;
    it.v = dm_xcalloc(it.cap, sizeof(*it.v));
    enum dm_err e = DM_OK;
    for (size_t i = 0; i < n && e == DM_OK; i++) {
        const json_t *item = json_array_get(items, i);
        struct item_spans *v = &it.v[it.n++];
        if (!json_is_object(item)) {
            static const char why[] = "item is not a JSON object";
            v->why = (struct span){.off = b.len, .len = sizeof(why) - 1, .set = true};
            e = dm_buf_append(&b, why, sizeof(why));
            continue;
        }
        v->json.off = b.len;
        v->json.set = true;
        e = dm_json_write(&b, item);
        v->json.len = b.len - v->json.off;
        if (e == DM_ERR_INVALID) {
            /* nested deeper than dm_json_write goes: this item alone is refused */
            static const char why[] = "item nested deeper than 64 levels";
            b.len = v->json.off;
            memset(v, 0, sizeof(*v));
            v->why = (struct span){.off = b.len, .len = sizeof(why) - 1, .set = true};
            e = dm_buf_append(&b, why, sizeof(why));
            continue;
        }
        if (e == DM_OK)
            e = id_text(json_object_get(item, "id"), true, &b, &v->id);
        const json_t *d = json_object_get(item, "diamond");
        if (e == DM_OK)
            e = id_text(json_is_object(d) ? json_object_get(d, "id") : NULL, false, &b, &v->sid);
    }
    if (e != DM_OK) {
        dm_buf_free(&b);
        free(it.v);
        return dm_error_set(err, e == DM_ERR_INVALID ? DM_ERR_INVALID : DM_ERR_TOO_LARGE,
                            "feed page could not be serialised");
    }
    if (b.data == NULL && dm_buf_append(&b, "", 1) != DM_OK) {
        free(it.v);
        return dm_error_set(err, DM_ERR_TOO_LARGE, "feed page could not be serialised");
    }
    size_t len = b.len;
    struct dm_buf none;
    dm_buf_init(&none, 1);
    finish_page(page, dm_buf_steal(&b), len, &none, &it, total_count);
    return DM_OK;
}

void dm_feed_raw_page_free(struct dm_feed_raw_page *page)
{
    if (page == NULL)
        return;
    free(page->text);
    free(page->items);
    page->text = NULL;
    page->items = NULL;
    page->n = 0;
}
