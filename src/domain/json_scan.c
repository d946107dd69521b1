/* json_scan.c - flat, validating JSON tokenizer and key lookup. */
#include "domain/json_scan.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

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

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Length of a valid UTF-8 sequence at p (max n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static int scan_string(struct scanner *s)
{
    const char *p = s->js->text;
    size_t len = s->js->len;
    size_t start = ++s->pos; /* after the quote */
    int idx = add_tok(s, DM_JSTR, start);
    bool esc = false;
    while (s->pos < len) {
        unsigned char c = (unsigned char)p[s->pos];
        if (c == '"') {
            s->js->tok[idx].end = (int32_t)s->pos;
            s->js->tok[idx].esc = esc;
            s->pos++;
            return idx;
        }
        if (c < 0x20) {
            s->why = "control character in string";
            return -1;
        }
        if (c == '\\') {
            esc = true;
            if (s->pos + 1 >= len) {
                s->why = "unterminated escape";
                return -1;
            }
            char e = p[s->pos + 1];
            if (e == 'u') {
                if (s->pos + 6 > len) {
                    s->why = "short \\u escape";
                    return -1;
                }
                long u = hex4(p + s->pos + 2);
                if (u < 0) {
                    s->why = "bad \\u escape";
                    return -1;
                }
                if (u == 0) {
                    s->why = "\\u0000 is not allowed";
                    return -1;
                }
                s->pos += 6;
                if (u >= 0xDC00 && u <= 0xDFFF) {
                    s->why = "lone low surrogate";
                    return -1;
                }
                if (u >= 0xD800 && u <= 0xDBFF) {
                    long lo = (s->pos + 6 <= len && p[s->pos] == '\\' && p[s->pos + 1] == 'u')
                                  ? hex4(p + s->pos + 2)
                                  : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        s->why = "lone high surrogate";
                        return -1;
                    }
                    s->pos += 6;
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                s->why = "bad escape";
                return -1;
            }
            s->pos += 2;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)p + s->pos, len - s->pos);
            if (n == 0) {
                s->why = "invalid UTF-8";
                return -1;
            }
            s->pos += n;
            continue;
        }
        s->pos++;
    }
    s->why = "unterminated string";
    return -1;
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
            unsigned long cp = (unsigned long)hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* validated: a low surrogate follows */
                unsigned long lo = (unsigned long)hex4(p + 2);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            /* UTF-8 is never longer than the escape it came from (6 or 12 bytes). */
            if (cp < 0x80) {
                out[n++] = (char)cp;
            } else if (cp < 0x800) {
                out[n++] = (char)(0xC0 | (cp >> 6));
                out[n++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                out[n++] = (char)(0xE0 | (cp >> 12));
                out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[n++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[n++] = (char)(0xF0 | (cp >> 18));
                out[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[n++] = (char)(0x80 | (cp & 0x3F));
            }
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
