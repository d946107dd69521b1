/*
 * nivoda_raw.c - the raw search page (see nivoda.h): a validating, compacting single-pass
 * scanner over a search response that keeps each item's own JSON text and picks out `id` and
 * `diamond.id`; anything it is not sure about is left to jansson (the regular path), so it
 * never accepts a page the regular path would refuse for a reason that matters, and never
 * reports an id differently. Pure: no I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "adapters/feed/nivoda.h"
#include "core/buf.h"
#include "domain/json_string.h"
#include "domain/jsonwrite.h"

#define MAX_DEPTH 64

struct span {
    size_t off, len; /* into the output buffer */
    bool set;
};

struct scan {
    const unsigned char *p, *end;
    char *out; /* compacted output (items only) */
    size_t olen;
    bool emit; /* copying into out */
    int depth;
};

/* Items found so far (offsets into out; turned into pointers at the end). */
struct item_spans {
    size_t off, len;
    struct span id, sid;
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

static int value(struct scan *s);

/* Generic object or array (s->p at the bracket). */
static int container(struct scan *s)
{
    bool obj = *s->p == '{';
    char close = obj ? '}' : ']';
    if (++s->depth > MAX_DEPTH)
        return -1;
    putc1(s, (char)*s->p);
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == close) {
        putc1(s, close);
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        if (obj) {
            bool esc;
            if (s->p >= s->end || *s->p != '"' || str(s, NULL, &esc) != 0)
                return -1;
            ws(s);
            if (s->p >= s->end || *s->p != ':')
                return -1;
            putc1(s, ':');
            s->p++;
            ws(s);
        }
        if (value(s) != 0)
            return -1;
        ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == ',') {
            putc1(s, ',');
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p != close)
            return -1;
        putc1(s, close);
        s->p++;
        s->depth--;
        return 0;
    }
}

static int value(struct scan *s)
{
    if (s->p >= s->end)
        return -1;
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
static int id_value(struct scan *s, struct span *sp, bool allow_empty)
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
    bool esc;
    if (str(s, NULL, &esc) != 0 || esc)
        return -1;
    *k = (const char *)start;
    *klen = (size_t)(s->p - start) - 1;
    ws(s);
    if (s->p >= s->end || *s->p != ':')
        return -1;
    putc1(s, ':');
    s->p++;
    ws(s);
    return 0;
}

/* Iterate an object's members: calls member(s, key, klen, ctx) with s->p at the value. */
typedef int (*member_fn)(struct scan *s, const char *k, size_t klen, void *ctx);

static int object(struct scan *s, member_fn member, void *ctx)
{
    if (s->p >= s->end || *s->p != '{')
        return -1;
    if (++s->depth > MAX_DEPTH)
        return -1;
    putc1(s, '{');
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        putc1(s, '}');
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        const char *k;
        size_t klen;
        if (read_key(s, &k, &klen) != 0 || member(s, k, klen, ctx) != 0)
            return -1;
        ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == ',') {
            putc1(s, ',');
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p != '}')
            return -1;
        putc1(s, '}');
        s->p++;
        s->depth--;
        return 0;
    }
}

/* Mark a member as read and tell whether it was read before: jansson refuses a page with a
 * duplicate key, so the scanner refuses it as well. */
static bool seen_before(bool *seen)
{
    bool was = *seen;
    *seen = true;
    return was;
}

/* A member of an object whose member `key` (read once) is an object read by `member`; the
 * other members are skipped. */
static int member_once(struct scan *s, const char *k, size_t klen, const char *key, bool *seen,
                       member_fn member, void *ctx)
{
    if (!key_is(k, klen, key))
        return value(s);
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
        return seen_before(&d->seen_id) ? -1 : id_value(s, &d->sid, false);
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
        return seen_before(&it->seen_id) ? -1 : id_value(s, &it->id, true);
    if (key_is(k, klen, "diamond")) {
        if (seen_before(&it->seen_diamond))
            return -1;
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
        if (s->p >= s->end || *s->p != '{')
            return -1; /* not an object: the regular path reports it */
        struct item_ctx it = {0};
        size_t off = s->olen;
        s->emit = true;
        int rc = object(s, item_member, &it);
        s->emit = false;
        if (rc != 0)
            return -1;
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 64;
            out->v = dm_xrealloc(out->v, out->cap * sizeof(*out->v));
        }
        out->v[out->n++] =
            (struct item_spans){.off = off, .len = s->olen - off, .id = it.id, .sid = it.sid};
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
        if (s->p < s->end && (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))) {
            const unsigned char *b = s->p;
            if (num(s, &sp, &plain) != 0)
                return -1;
            if (plain) {
                int64_t v = 0;
                bool neg = *b == '-';
                for (const unsigned char *q = b + neg; q < s->p; q++)
                    v = v * 10 + (*q - '0');
                e->total = neg ? -v : v;
            }
            return 0;
        }
        return value(s);
    }
    return value(s);
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

static void finish_page(struct dm_feed_raw_page *page, char *out, struct items *it, int64_t total)
{
    page->text = out;
    page->n = it->n;
    page->total_count = total;
    page->items = dm_xcalloc(it->n + 1, sizeof(*page->items));
    for (size_t i = 0; i < it->n; i++) {
        struct item_spans *v = &it->v[i];
        struct dm_feed_raw_item *r = &page->items[i];
        r->json = out + v->off;
        r->json_len = v->len;
        if (v->id.set) {
            r->offer_id = out + v->id.off;
            r->offer_id_len = v->id.len;
        }
        if (v->sid.set) {
            r->stone_id = out + v->sid.off;
            r->stone_id_len = v->sid.len;
        }
    }
    free(it->v);
}

enum dm_err dm_nivoda_scan_raw_page(const char *body, size_t len, struct dm_feed_raw_page *page)
{
    memset(page, 0, sizeof(*page));
    page->total_count = -1;
    if (body == NULL || len == 0)
        return DM_ERR_INVALID;
    struct scan s = {.p = (const unsigned char *)body, .end = (const unsigned char *)body + len};
    s.out = dm_xmalloc(len + 1);
    struct items it = {0};
    struct env e = {.items = &it, .total = -1};
    ws(&s);
    int rc = object(&s, top_member, &e);
    ws(&s);
    if (rc != 0 || s.p != s.end || !e.seen_items) {
        free(s.out);
        free(it.v);
        return DM_ERR_INVALID;
    }
    finish_page(page, s.out, &it, e.total);
    return DM_OK;
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
        v->off = b.len;
        e = dm_json_write(&b, item);
        v->len = b.len - v->off;
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
    finish_page(page, dm_buf_steal(&b), &it, total_count);
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
