/* graphql.c - recursive-descent GraphQL parser (bounded) for the feed simulator. */
#include "services/feedsim/graphql.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/text.h"

#define MAX_DEPTH 32
#define MAX_NODES 20000
#define MAX_STRING ((size_t)256 * 1024)

enum tok {
    T_EOF,
    T_PUNCT, /* one of ! $ ( ) : = @ [ ] { | } & or "..." */
    T_NAME,
    T_INT,
    T_FLOAT,
    T_STRING,
};

struct parser {
    const char *s;
    size_t len, pos;
    /* current token */
    enum tok t;
    char punct;    /* for T_PUNCT ('.' stands for "...") */
    size_t tstart; /* token text [tstart, tend) for names and numbers */
    size_t tend;
    char *str; /* decoded T_STRING value (owned) */
    size_t str_len;
    const json_t *vars;   /* request variables (may be NULL) */
    json_t *var_defaults; /* declared variable -> default (null when none) */
    int nodes;
    char msg[256];
    bool failed;
};

static void fail(struct parser *p, const char *fmt, ...) DM_PRINTF(2, 3);
static void fail(struct parser *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
    va_end(ap);
}

static bool append_utf8(struct dm_buf *b, uint32_t cp)
{
    char o[4];
    return dm_buf_append(b, o, dm_text_utf8_encode(cp, o)) == DM_OK;
}

static bool lex_string(struct parser *p)
{
    struct dm_buf b;
    dm_buf_init(&b, MAX_STRING);
    const char *s = p->s;
    bool ok = false;
    if (p->pos + 2 < p->len && s[p->pos + 1] == '"' && s[p->pos + 2] == '"') {
        /* Block string: raw up to the closing triple quote (\""" escapes one). */
        p->pos += 3;
        for (;;) {
            if (p->pos >= p->len) {
                fail(p, "Syntax Error: Unterminated string.");
                goto out;
            }
            if (p->pos + 2 < p->len && s[p->pos] == '"' && s[p->pos + 1] == '"' &&
                s[p->pos + 2] == '"') {
                p->pos += 3;
                break;
            }
            if (p->pos + 3 < p->len && s[p->pos] == '\\' && s[p->pos + 1] == '"' &&
                s[p->pos + 2] == '"' && s[p->pos + 3] == '"') {
                if (dm_buf_append(&b, "\"\"\"", 3) != DM_OK)
                    goto toolong;
                p->pos += 4;
                continue;
            }
            if (dm_buf_append_char(&b, s[p->pos]) != DM_OK)
                goto toolong;
            p->pos++;
        }
    } else {
        p->pos++;
        for (;;) {
            if (p->pos >= p->len || s[p->pos] == '\n' || s[p->pos] == '\r') {
                fail(p, "Syntax Error: Unterminated string.");
                goto out;
            }
            char c = s[p->pos];
            if (c == '"') {
                p->pos++;
                break;
            }
            if (c != '\\') {
                if (dm_buf_append_char(&b, c) != DM_OK)
                    goto toolong;
                p->pos++;
                continue;
            }
            if (p->pos + 1 >= p->len) {
                fail(p, "Syntax Error: Unterminated string.");
                goto out;
            }
            char e = s[p->pos + 1];
            p->pos += 2;
            char out = 0;
            switch (e) {
            case '"':
                out = '"';
                break;
            case '\\':
                out = '\\';
                break;
            case '/':
                out = '/';
                break;
            case 'b':
                out = '\b';
                break;
            case 'f':
                out = '\f';
                break;
            case 'n':
                out = '\n';
                break;
            case 'r':
                out = '\r';
                break;
            case 't':
                out = '\t';
                break;
            case 'u': {
                int h = p->pos + 4 <= p->len ? dm_text_hex4(s + p->pos) : -1;
                if (h < 0) {
                    fail(p, "Syntax Error: Invalid Unicode escape sequence.");
                    goto out;
                }
                uint32_t cp = (uint32_t)h;
                p->pos += 4;
                if (cp >= 0xD800 && cp <= 0xDFFF)
                    cp = 0xFFFD; /* lone surrogates are not representable */
                if (cp == 0)
                    cp = 0xFFFD; /* keep C strings intact */
                if (!append_utf8(&b, cp))
                    goto toolong;
                continue;
            }
            default:
                fail(p, "Syntax Error: Invalid character escape sequence.");
                goto out;
            }
            if (dm_buf_append_char(&b, out) != DM_OK)
                goto toolong;
        }
    }
    if (dm_buf_append(&b, "", 0) != DM_OK)
        goto toolong;
    free(p->str);
    p->str_len = b.len;
    p->str = dm_buf_steal(&b);
    ok = true;
    goto out;
toolong:
    fail(p, "Syntax Error: String too long.");
out:
    dm_buf_free(&b);
    return ok;
}

static bool is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The index after the digits at p->s[i], or 0 when there is none (a number part needs one). */
static size_t digits(const struct parser *p, size_t i)
{
    if (i >= p->len || !is_digit(p->s[i]))
        return 0;
    while (i < p->len && is_digit(p->s[i]))
        i++;
    return i;
}

/* The number at p->pos (GraphQL IntValue / FloatValue): T_INT or T_FLOAT, or T_EOF after
 * fail. */
static enum tok lex_number(struct parser *p)
{
    const char *s = p->s;
    size_t i = p->pos;
    bool is_float = false;
    if (s[i] == '-')
        i++;
    size_t end = digits(p, i);
    if (end == 0)
        goto invalid;
    if (s[i] == '0' && end > i + 1) {
        fail(p, "Syntax Error: Invalid number, unexpected digit after 0.");
        return T_EOF;
    }
    i = end;
    if (i < p->len && s[i] == '.') {
        is_float = true;
        i = digits(p, i + 1);
        if (i == 0)
            goto invalid;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        is_float = true;
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        i = digits(p, i);
        if (i == 0)
            goto invalid;
    }
    if (i < p->len && (is_name_start(s[i]) || s[i] == '.'))
        goto invalid;
    p->pos = i;
    return is_float ? T_FLOAT : T_INT;
invalid:
    fail(p, "Syntax Error: Invalid number.");
    return T_EOF;
}

/* Advance to the next token. */
static void next(struct parser *p)
{
    if (p->failed) {
        p->t = T_EOF;
        return;
    }
    const char *s = p->s;
    for (;;) {
        if (p->pos >= p->len) {
            p->t = T_EOF;
            return;
        }
        char c = s[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',') {
            p->pos++;
        } else if (c == '#') {
            while (p->pos < p->len && s[p->pos] != '\n' && s[p->pos] != '\r')
                p->pos++;
        } else if ((unsigned char)c == 0xEF && p->pos + 2 < p->len &&
                   (unsigned char)s[p->pos + 1] == 0xBB && (unsigned char)s[p->pos + 2] == 0xBF) {
            p->pos += 3;
        } else {
            break;
        }
    }
    char c = s[p->pos];
    p->tstart = p->pos;
    if (strchr("!$()=:@[]{}|&", c) && c != '\0') {
        p->t = T_PUNCT;
        p->punct = c;
        p->pos++;
    } else if (c == '.') {
        if (p->pos + 2 < p->len && s[p->pos + 1] == '.' && s[p->pos + 2] == '.') {
            p->t = T_PUNCT;
            p->punct = '.';
            p->pos += 3;
        } else {
            fail(p, "Syntax Error: Unexpected \".\".");
            p->t = T_EOF;
        }
    } else if (is_name_start(c)) {
        while (p->pos < p->len && (is_name_start(s[p->pos]) || is_digit(s[p->pos])))
            p->pos++;
        p->t = T_NAME;
    } else if (c == '-' || is_digit(c)) {
        p->t = lex_number(p);
    } else if (c == '"') {
        if (lex_string(p))
            p->t = T_STRING;
        else
            p->t = T_EOF;
    } else {
        fail(p, "Syntax Error: Unexpected character at position %zu.", p->pos);
        p->t = T_EOF;
    }
    p->tend = p->pos;
}

static bool at_punct(const struct parser *p, char c)
{
    return !p->failed && p->t == T_PUNCT && p->punct == c;
}

static bool at_name(const struct parser *p, const char *name)
{
    size_t n = strlen(name);
    return !p->failed && p->t == T_NAME && p->tend - p->tstart == n &&
           !memcmp(p->s + p->tstart, name, n);
}

static bool expect_punct(struct parser *p, char c)
{
    if (at_punct(p, c)) {
        next(p);
        return true;
    }
    if (c == '.')
        fail(p, "Syntax Error: Expected \"...\".");
    else
        fail(p, "Syntax Error: Expected \"%c\" at position %zu.", c, p->tstart);
    return false;
}

/* Current name token copied (caller frees), then advance. */
static char *take_name(struct parser *p)
{
    if (p->failed || p->t != T_NAME) {
        fail(p, "Syntax Error: Expected Name at position %zu.", p->tstart);
        return NULL;
    }
    char *n = dm_xstrndup(p->s + p->tstart, p->tend - p->tstart);
    next(p);
    return n;
}

/* The current token's text as a C string in buf (a number literal); false when it does not
 * fit. */
static bool token_text(const struct parser *p, char *buf, size_t size)
{
    size_t n = p->tend - p->tstart;
    if (n >= size)
        return false;
    memcpy(buf, p->s + p->tstart, n);
    buf[n] = '\0';
    return true;
}

static bool count_node(struct parser *p)
{
    if (++p->nodes > MAX_NODES) {
        fail(p, "Document too large.");
        return false;
    }
    return true;
}

static json_t *parse_value(struct parser *p, bool is_const, int depth);

static json_t *parse_variable_ref(struct parser *p)
{
    next(p); /* $ */
    char *name = take_name(p);
    if (name == NULL)
        return NULL;
    json_t *v = NULL;
    if (p->var_defaults == NULL || json_object_get(p->var_defaults, name) == NULL) {
        fail(p, "Variable \"$%.100s\" is not defined.", name);
    } else {
        const json_t *given = p->vars ? json_object_get(p->vars, name) : NULL;
        if (given)
            v = json_deep_copy(given);
        else
            v = json_deep_copy(json_object_get(p->var_defaults, name));
        if (v == NULL)
            fail(p, "Variable \"$%.100s\" could not be read.", name);
    }
    free(name);
    return v;
}

/*
 * "name: value" pairs into obj until the punctuator `close` (left for the caller), stopping at
 * the first failure; `what` names a pair in the duplicate-name error ("input field",
 * "argument"). Values are parsed at `depth`.
 */
static void parse_pairs(struct parser *p, json_t *obj, char close, bool is_const, int depth,
                        const char *what)
{
    while (!p->failed && !at_punct(p, close)) {
        char *k = take_name(p);
        if (k == NULL)
            break;
        if (!expect_punct(p, ':')) {
            free(k);
            break;
        }
        json_t *v = parse_value(p, is_const, depth);
        if (v == NULL) {
            free(k);
            break;
        }
        if (json_object_get(obj, k))
            fail(p, "There can be only one %s named \"%.100s\".", what, k);
        json_object_set_new(obj, k, v);
        free(k);
    }
}

static json_t *parse_value(struct parser *p, bool is_const, int depth)
{
    if (depth > MAX_DEPTH) {
        fail(p, "Document nested too deeply.");
        return NULL;
    }
    if (p->failed || !count_node(p))
        return NULL;
    if (at_punct(p, '$')) {
        if (is_const) {
            fail(p, "Syntax Error: Unexpected variable in constant value.");
            return NULL;
        }
        return parse_variable_ref(p);
    }
    if (at_punct(p, '[')) {
        next(p);
        json_t *a = json_array();
        while (!p->failed && !at_punct(p, ']')) {
            if (p->t == T_EOF) {
                fail(p, "Syntax Error: Expected \"]\".");
                break;
            }
            json_t *v = parse_value(p, is_const, depth + 1);
            if (v == NULL)
                break;
            json_array_append_new(a, v);
        }
        if (p->failed) {
            json_decref(a);
            return NULL;
        }
        next(p);
        return a;
    }
    if (at_punct(p, '{')) {
        next(p);
        json_t *o = json_object();
        parse_pairs(p, o, '}', is_const, depth + 1, "input field");
        if (p->failed) {
            json_decref(o);
            return NULL;
        }
        next(p);
        return o;
    }
    json_t *v = NULL;
    switch (p->t) {
    case T_INT: {
        char buf[32];
        if (!token_text(p, buf, sizeof(buf))) {
            fail(p, "Int cannot represent a value this large.");
            return NULL;
        }
        char *end;
        errno = 0;
        long long x = strtoll(buf, &end, 10);
        if (errno || *end) {
            fail(p, "Int cannot represent a value this large.");
            return NULL;
        }
        v = json_integer(x);
        break;
    }
    case T_FLOAT: {
        char buf[64];
        if (!token_text(p, buf, sizeof(buf))) {
            fail(p, "Float literal too long.");
            return NULL;
        }
        double d = strtod(buf, NULL);
        if (!(d == d) || d > 1e300 || d < -1e300) {
            fail(p, "Float cannot represent this value.");
            return NULL;
        }
        v = json_real(d);
        break;
    }
    case T_STRING:
        v = json_stringn(p->str, p->str_len);
        if (v == NULL) {
            fail(p, "String is not valid UTF-8.");
            return NULL;
        }
        break;
    case T_NAME:
        if (at_name(p, "true"))
            v = json_true();
        else if (at_name(p, "false"))
            v = json_false();
        else if (at_name(p, "null"))
            v = json_null();
        else
            v = json_stringn(p->s + p->tstart, p->tend - p->tstart); /* enum value */
        break;
    default:
        fail(p, "Syntax Error: Unexpected token at position %zu.", p->tstart);
        return NULL;
    }
    next(p);
    return v;
}

/* Skip a type reference: Name, [Type], with optional !. */
static void skip_type(struct parser *p, int depth)
{
    if (depth > MAX_DEPTH) {
        fail(p, "Type nested too deeply.");
        return;
    }
    if (at_punct(p, '[')) {
        next(p);
        skip_type(p, depth + 1);
        expect_punct(p, ']');
    } else {
        free(take_name(p));
    }
    if (at_punct(p, '!'))
        next(p);
}

static void parse_var_defs(struct parser *p)
{
    next(p); /* ( */
    while (!p->failed && !at_punct(p, ')')) {
        if (!expect_punct(p, '$'))
            return;
        char *name = take_name(p);
        if (name == NULL)
            return;
        if (!expect_punct(p, ':')) {
            free(name);
            return;
        }
        skip_type(p, 0);
        json_t *def = NULL;
        if (at_punct(p, '=')) {
            next(p);
            def = parse_value(p, true, 0);
        }
        if (at_punct(p, '@'))
            fail(p, "Directives are not supported.");
        if (!p->failed) {
            if (json_object_get(p->var_defaults, name))
                fail(p, "There can be only one variable named \"$%.100s\".", name);
            json_object_set_new(p->var_defaults, name, def ? def : json_null());
            def = NULL;
        }
        json_decref(def);
        free(name);
    }
    expect_punct(p, ')');
}

static void field_free(struct dm_gql_field *f)
{
    while (f) {
        struct dm_gql_field *nx = f->next;
        field_free(f->children);
        free(f->name);
        free(f->alias);
        json_decref(f->args);
        free(f);
        f = nx;
    }
}

static struct dm_gql_field *parse_selection_set(struct parser *p, int depth);

static struct dm_gql_field *parse_field(struct parser *p, int depth)
{
    if (!count_node(p))
        return NULL;
    if (at_punct(p, '.')) {
        fail(p, "Fragments are not supported.");
        return NULL;
    }
    char *first = take_name(p);
    if (first == NULL)
        return NULL;
    struct dm_gql_field *f = dm_xcalloc(1, sizeof(*f));
    f->args = json_object();
    if (at_punct(p, ':')) {
        next(p);
        f->alias = first;
        f->name = take_name(p);
    } else {
        f->name = first;
        f->alias = dm_xstrdup(first);
    }
    if (f->name == NULL)
        goto bad;
    if (at_punct(p, '(')) {
        next(p);
        if (at_punct(p, ')'))
            fail(p, "Syntax Error: Expected Name, found \")\".");
        parse_pairs(p, f->args, ')', false, depth + 1, "argument");
        expect_punct(p, ')');
    }
    if (at_punct(p, '@'))
        fail(p, "Directives are not supported.");
    if (!p->failed && at_punct(p, '{')) {
        f->has_selection = true;
        f->children = parse_selection_set(p, depth + 1);
    }
    if (p->failed)
        goto bad;
    return f;
bad:
    field_free(f);
    return NULL;
}

static struct dm_gql_field *parse_selection_set(struct parser *p, int depth)
{
    if (depth > MAX_DEPTH) {
        fail(p, "Document nested too deeply.");
        return NULL;
    }
    if (!expect_punct(p, '{'))
        return NULL;
    struct dm_gql_field *head = NULL, **tail = &head;
    if (at_punct(p, '}'))
        fail(p, "Syntax Error: Expected Name, found \"}\".");
    while (!p->failed && !at_punct(p, '}')) {
        if (p->t == T_EOF) {
            fail(p, "Syntax Error: Expected \"}\".");
            break;
        }
        struct dm_gql_field *f = parse_field(p, depth);
        if (f == NULL)
            break;
        *tail = f;
        tail = &f->next;
    }
    if (p->failed) {
        field_free(head);
        return NULL;
    }
    next(p); /* } */
    return head;
}

void dm_gql_doc_free(struct dm_gql_doc *doc)
{
    if (doc == NULL)
        return;
    field_free(doc->fields);
    free(doc->op_name);
    free(doc);
}

enum dm_err dm_gql_parse(const char *src, size_t len, const json_t *variables,
                         struct dm_gql_doc **out, struct dm_error *err)
{
    *out = NULL;
    struct parser p = {.s = src ? src : "", .len = src ? len : 0};
    p.vars = json_is_object(variables) ? variables : NULL;
    p.var_defaults = json_object();
    struct dm_gql_doc *doc = dm_xcalloc(1, sizeof(*doc));
    next(&p);
    if (p.t == T_EOF && !p.failed)
        fail(&p, "Syntax Error: Unexpected <EOF>.");
    if (at_punct(&p, '{')) {
        snprintf(doc->op_type, sizeof(doc->op_type), "query");
    } else if (at_name(&p, "query") || at_name(&p, "mutation")) {
        snprintf(doc->op_type, sizeof(doc->op_type), "%s",
                 at_name(&p, "query") ? "query" : "mutation");
        next(&p);
        if (p.t == T_NAME)
            doc->op_name = take_name(&p);
        if (at_punct(&p, '('))
            parse_var_defs(&p);
        if (at_punct(&p, '@'))
            fail(&p, "Directives are not supported.");
    } else if (at_name(&p, "subscription")) {
        fail(&p, "Subscriptions are not supported.");
    } else if (at_name(&p, "fragment")) {
        fail(&p, "Fragments are not supported.");
    } else if (!p.failed) {
        fail(&p, "Syntax Error: Unexpected token at position %zu.", p.tstart);
    }
    if (!p.failed)
        doc->fields = parse_selection_set(&p, 0);
    if (!p.failed && p.t != T_EOF)
        fail(&p, "Only one operation per document is supported.");
    free(p.str);
    json_decref(p.var_defaults);
    if (p.failed) {
        dm_gql_doc_free(doc);
        return dm_error_set(err, DM_ERR_INVALID, "%s", p.msg);
    }
    *out = doc;
    return DM_OK;
}

const struct dm_gql_field *dm_gql_child(const struct dm_gql_field *f, const char *name)
{
    for (const struct dm_gql_field *c = f ? f->children : NULL; c; c = c->next)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}
