/* json_scan.c - flat, validating JSON tokenizer and key lookup. */
#include "core/json_scan.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/text.h"
#include "core/json_string.h"

struct scanner {
    struct dm_jscan *js;
    size_t pos;
    int depth;
    const char *why;
};

static int add_tok(struct scanner *s, enum dm_jtype type, size_t start)
{
    struct dm_jscan *js = s->js;
    if (js->ntok == js->cap) {
        js->cap = js->cap ? js->cap * 2 : 128;
        js->tok = dm_xrealloc(js->tok, (size_t)js->cap * sizeof(*js->tok));
    }
    struct dm_jtok *t = &js->tok[js->ntok];
    t->type = (uint8_t)type;
    t->esc = 0;
    t->start = (int32_t)start;
    t->end = (int32_t)start;
    t->next = js->ntok + 1;
    return js->ntok++;
}

static void skip_ws(struct scanner *s)
{
    const char *p = s->js->text;
    while (s->pos < s->js->len &&
           (p[s->pos] == ' ' || p[s->pos] == '\t' || p[s->pos] == '\n' || p[s->pos] == '\r'))
        s->pos++;
}

static int scan_string(struct scanner *s)
{
    const unsigned char *text = (const unsigned char *)s->js->text, *stop;
    size_t start = ++s->pos; /* after the quote */
    int idx = add_tok(s, DM_JSTR, start);
    bool esc;
    enum dm_json_string_err e =
        dm_json_string_scan(text + start, text + s->js->len, true, &stop, &esc);
    s->pos = (size_t)(stop - text);
    if (e != DM_JSON_STRING_OK) {
        s->why = dm_json_string_strerror(e);
        return -1;
    }
    s->js->tok[idx].end = (int32_t)s->pos;
    s->js->tok[idx].esc = esc;
    s->pos++;
    return idx;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int scan_number(struct scanner *s)
{
    const char *p = s->js->text;
    size_t len = s->js->len, i = s->pos;
    if (i < len && p[i] == '-')
        i++;
    if (i >= len || !is_digit(p[i]))
        goto bad;
    if (p[i] == '0')
        i++;
    else
        while (i < len && is_digit(p[i]))
            i++;
    if (i < len && p[i] == '.') {
        i++;
        if (i >= len || !is_digit(p[i]))
            goto bad;
        while (i < len && is_digit(p[i]))
            i++;
    }
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < len && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i >= len || !is_digit(p[i]))
            goto bad;
        while (i < len && is_digit(p[i]))
            i++;
    }
    int idx = add_tok(s, DM_JNUM, s->pos);
    s->js->tok[idx].end = (int32_t)i;
    s->pos = i;
    return idx;
bad:
    s->why = "bad number";
    return -1;
}

static int scan_value(struct scanner *s);

static int scan_container(struct scanner *s, bool object)
{
    struct dm_jscan *js = s->js;
    if (++s->depth > DM_JSCAN_MAX_DEPTH) {
        s->why = "nested too deeply";
        return -1;
    }
    int idx = add_tok(s, object ? DM_JOBJ : DM_JARR, s->pos);
    s->pos++;
    skip_ws(s);
    char close = object ? '}' : ']';
    if (s->pos < js->len && js->text[s->pos] == close) {
        s->pos++;
    } else {
        for (;;) {
            skip_ws(s);
            if (object) {
                if (s->pos >= js->len || js->text[s->pos] != '"') {
                    s->why = "expected a key";
                    return -1;
                }
                if (scan_string(s) < 0)
                    return -1;
                skip_ws(s);
                if (s->pos >= js->len || js->text[s->pos] != ':') {
                    s->why = "expected ':'";
                    return -1;
                }
                s->pos++;
            }
            if (scan_value(s) < 0)
                return -1;
            skip_ws(s);
            if (s->pos < js->len && js->text[s->pos] == ',') {
                s->pos++;
                continue;
            }
            if (s->pos < js->len && js->text[s->pos] == close) {
                s->pos++;
                break;
            }
            s->why = object ? "expected ',' or '}'" : "expected ',' or ']'";
            return -1;
        }
    }
    s->depth--;
    js->tok[idx].end = (int32_t)s->pos;
    js->tok[idx].next = js->ntok;
    return idx;
}

static int scan_literal(struct scanner *s, const char *word, enum dm_jtype type)
{
    size_t n = strlen(word);
    if (s->js->len - s->pos < n || memcmp(s->js->text + s->pos, word, n) != 0) {
        s->why = "invalid literal";
        return -1;
    }
    int idx = add_tok(s, type, s->pos);
    s->pos += n;
    s->js->tok[idx].end = (int32_t)s->pos;
    return idx;
}

static int scan_value(struct scanner *s)
{
    skip_ws(s);
    if (s->pos >= s->js->len) {
        s->why = "unexpected end of input";
        return -1;
    }
    switch (s->js->text[s->pos]) {
    case '{':
        return scan_container(s, true);
    case '[':
        return scan_container(s, false);
    case '"':
        return scan_string(s);
    case 't':
        return scan_literal(s, "true", DM_JTRUE);
    case 'f':
        return scan_literal(s, "false", DM_JFALSE);
    case 'n':
        return scan_literal(s, "null", DM_JNULL);
    default:
        return scan_number(s);
    }
}

enum dm_err dm_jscan_parse(struct dm_jscan *js, const char *text, size_t len, struct dm_error *err)
{
    memset(js, 0, sizeof(*js));
    if (text == NULL || len == 0)
        return dm_error_set(err, DM_ERR_INVALID, "malformed JSON: empty input");
    if (len > INT32_MAX / 2)
        return dm_error_set(err, DM_ERR_INVALID, "malformed JSON: input too large");
    js->text = text;
    js->len = len;
    struct scanner s = {.js = js};
    if (scan_value(&s) >= 0) {
        skip_ws(&s);
        if (s.pos == len)
            return DM_OK;
        s.why = "trailing characters";
    }
    size_t at = s.pos;
    const char *why = s.why ? s.why : "invalid JSON";
    dm_jscan_free(js);
    return dm_error_set(err, DM_ERR_INVALID, "malformed JSON at offset %zu: %s", at, why);
}

void dm_jscan_free(struct dm_jscan *js)
{
    if (js == NULL)
        return;
    free(js->tok);
    js->tok = NULL;
    js->ntok = js->cap = 0;
}

int dm_jscan_type(const struct dm_jscan *js, int i)
{
    return i < 0 || i >= js->ntok ? -1 : js->tok[i].type;
}

/* Decode the string token into out (which has room for end - start + 1 bytes). */
static size_t decode(const struct dm_jscan *js, const struct dm_jtok *t, char *out)
{
    const char *p = js->text + t->start, *end = js->text + t->end;
    size_t n = 0;
    if (!t->esc) {
        n = (size_t)(end - p);
        memcpy(out, p, n);
        out[n] = '\0';
        return n;
    }
    while (p < end) {
        if (*p != '\\') {
            out[n++] = *p++;
            continue;
        }
        char e = p[1];
        p += 2;
        switch (e) {
        case 'b':
            out[n++] = '\b';
            break;
        case 'f':
            out[n++] = '\f';
            break;
        case 'n':
            out[n++] = '\n';
            break;
        case 'r':
            out[n++] = '\r';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'u': {
            uint32_t cp = (uint32_t)dm_text_hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* validated: a low surrogate follows */
                uint32_t lo = (uint32_t)dm_text_hex4(p + 2);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            /* UTF-8 is never longer than the escape it came from (6 or 12 bytes). */
            n += dm_text_utf8_encode(cp, out + n);
            break;
        }
        default: /* '"', '\\', '/' */
            out[n++] = e;
            break;
        }
    }
    out[n] = '\0';
    return n;
}

static bool key_equals(const struct dm_jscan *js, const struct dm_jtok *t, const char *key,
                       size_t klen)
{
    if (!t->esc)
        return (size_t)(t->end - t->start) == klen && memcmp(js->text + t->start, key, klen) == 0;
    char small[256];
    if ((size_t)(t->end - t->start) >= sizeof(small))
        return false; /* no key of ours is that long */
    size_t n = decode(js, t, small);
    return n == klen && memcmp(small, key, klen) == 0;
}

int dm_jscan_get(const struct dm_jscan *js, int obj, const char *key)
{
    if (obj < 0 || obj >= js->ntok || js->tok[obj].type != DM_JOBJ)
        return -1;
    size_t klen = strlen(key);
    int found = -1;
    int end = js->tok[obj].next;
    for (int i = obj + 1; i < end;) {
        int v = i + 1; /* value follows its key */
        if (key_equals(js, &js->tok[i], key, klen))
            found = v;
        i = js->tok[v].next;
    }
    return found;
}

char *dm_jscan_strdup(const struct dm_jscan *js, int i, size_t *n)
{
    const struct dm_jtok *t = &js->tok[i];
    char *out = dm_xmalloc((size_t)(t->end - t->start) + 1);
    size_t len = decode(js, t, out);
    if (n)
        *n = len;
    return out;
}

const char *dm_jscan_raw(const struct dm_jscan *js, int i, size_t *n)
{
    const struct dm_jtok *t = &js->tok[i];
    if (t->type == DM_JSTR) {
        *n = (size_t)(t->end - t->start) + 2;
        return js->text + t->start - 1;
    }
    *n = (size_t)(t->end - t->start);
    return js->text + t->start;
}
