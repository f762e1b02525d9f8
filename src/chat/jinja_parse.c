/* Jinja lexer and parser: template text to a tree (jinja.h). The lexer follows
 * jinja2's (lexer.py) with trim_blocks and lstrip_blocks on, as transformers renders
 * chat templates: newlines normalized, one trailing newline dropped, the newline after
 * a block or comment tag dropped, spaces before a block or comment tag at the start of
 * a line dropped, {%- -%} {{- -}} {#- -#} strip all whitespace on their side, {%+
 * keeps it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja.h"

enum { T_TEXT, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END, T_NAME, T_STR, T_INT, T_FLOAT, T_OP, T_EOF };

typedef struct {
    int type;
    int line;
    const char *s; /* name or operator text (T_NAME, T_OP) */
    size_t n;
    jv v;          /* T_TEXT, T_STR: the text; T_INT, T_FLOAT: the number */
} jtok;

typedef struct {
    jarena *a;
    jtok *t;
    int n, cap, pos;
    char *err;
    size_t errcap;
    int depth; /* expression nesting */
    jmp_buf fail;
} parser;

/* Parse errors unwind to cl_jinja_parse. */
static _Noreturn void perr(parser *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static _Noreturn void perr(parser *p, int line, const char *fmt, ...) {
    va_list ap;
    int k = snprintf(p->err, p->errcap, "chat template line %d: ", line);
    va_start(ap, fmt);
    if (k >= 0 && (size_t)k < p->errcap) vsnprintf(p->err + k, p->errcap - (size_t)k, fmt, ap);
    va_end(ap);
    longjmp(p->fail, 1);
}

static void push(parser *p, jtok t) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 256;
        jtok *nt = ja_alloc(p->a, (size_t)cap * sizeof *nt);
        if (p->n) memcpy(nt, p->t, (size_t)p->n * sizeof *nt);
        p->t = nt;
        p->cap = cap;
    }
    p->t[p->n++] = t;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_name0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void put_utf8(char *o, size_t *k, uint32_t cp) {
    if (cp < 0x80) o[(*k)++] = (char)cp;
    else if (cp < 0x800) o[(*k)++] = (char)(0xC0 | cp >> 6), o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    else if (cp < 0x10000)
        o[(*k)++] = (char)(0xE0 | cp >> 12), o[(*k)++] = (char)(0x80 | (cp >> 6 & 0x3F)),
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    else
        o[(*k)++] = (char)(0xF0 | cp >> 18), o[(*k)++] = (char)(0x80 | (cp >> 12 & 0x3F)),
        o[(*k)++] = (char)(0x80 | (cp >> 6 & 0x3F)), o[(*k)++] = (char)(0x80 | (cp & 0x3F));
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A string literal's body with Python's escapes decoded (what jinja2's unicode-escape
 * decoding gives; unknown escapes stay as written). */
static jv unescape(parser *p, const char *s, size_t n, int line) {
    char *o = ja_alloc(p->a, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 == n) {
            o[k++] = s[i];
            continue;
        }
        char e = s[++i];
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (digits) {
            uint32_t cp = 0;
            for (int d = 0; d < digits; d++) {
                int h = i + 1 + (size_t)d < n ? hexval(s[i + 1 + d]) : -1;
                if (h < 0) perr(p, line, "bad \\%c escape in a string literal", e);
                cp = cp << 4 | (uint32_t)h;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) perr(p, line, "escape of an invalid code point");
            i += (size_t)digits;
            put_utf8(o, &k, cp);
            continue;
        }
        if (e >= '0' && e <= '7') {
            uint32_t cp = 0;
            int d = 0;
            for (; d < 3 && i < n && s[i] >= '0' && s[i] <= '7'; d++, i++) cp = cp * 8 + (uint32_t)(s[i] - '0');
            i--;
            put_utf8(o, &k, cp);
            continue;
        }
        switch (e) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        case 'a': o[k++] = '\a'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'v': o[k++] = '\v'; break;
        case '\\': case '\'': case '"': o[k++] = e; break;
        case '\n': break; /* line continuation */
        default: o[k++] = '\\', o[k++] = e;
        }
    }
    return (jv){.k = JV_STR, .s = {o, k}};
}

static const char *OPS[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")",
                            "{",  "}",  ">",  "<",  "=",  ".",  ":", "|", ",", ";"};

/* Tokens of one tag's inside, from *i up to its end marker ("}}" or "%}") at bracket
 * depth 0. Returns the end marker's sign ('-', '+' or 0) and leaves *i after it. */
static int lex_tag(parser *p, const char *src, size_t len, size_t *i, int *line, const char *end) {
    int depth = 0;
    for (;;) {
        while (*i < len && is_space(src[*i])) {
            if (src[*i] == '\n') ++*line;
            ++*i;
        }
        if (*i >= len) perr(p, *line, "tag not closed (missing '%s')", end);
        const char *c = src + *i;
        if (depth == 0) {
            for (int sign = 0; sign < 3; sign++) {
                size_t off = sign ? 1 : 0;
                if ((sign == 0 || c[0] == (sign == 1 ? '-' : '+')) && *i + off + 2 <= len && !memcmp(c + off, end, 2)) {
                    *i += off + 2;
                    return sign == 1 ? '-' : sign == 2 ? '+' : 0;
                }
            }
        }
        jtok t = {.line = *line, .s = c};
        if (is_name0(*c) || (unsigned char)*c >= 0x80) {
            size_t k = 0;
            while (*i + k < len && (is_name0(c[k]) || is_digit(c[k]) || (unsigned char)c[k] >= 0x80)) k++;
            t.type = T_NAME;
            t.n = k;
            *i += k;
        } else if (is_digit(*c)) {
            char num[64];
            size_t k = 0, m = 0;
            int is_float = 0;
            while (*i + k < len && m < sizeof num - 1) {
                char d = c[k];
                if (is_digit(d)) num[m++] = d;
                else if (d == '_' && k > 0 && *i + k + 1 < len && is_digit(c[k + 1])) {
                } else if (d == '.' && !is_float && *i + k + 1 < len && is_digit(c[k + 1])) num[m++] = d, is_float = 1;
                else if ((d == 'e' || d == 'E') && *i + k + 1 < len &&
                         (is_digit(c[k + 1]) || ((c[k + 1] == '+' || c[k + 1] == '-') && *i + k + 2 < len && is_digit(c[k + 2]))))
                    num[m++] = d, num[m++] = c[++k], is_float = 1;
                else break;
                k++;
            }
            num[m] = 0;
            *i += k;
            if (is_float) t.type = T_FLOAT, t.v = (jv){.k = JV_FLOAT, .f = strtod(num, NULL)};
            else t.type = T_INT, t.v = jv_int(strtoll(num, NULL, 10));
        } else if (*c == '\'' || *c == '"') {
            size_t k = 1;
            while (*i + k < len && c[k] != *c) {
                if (c[k] == '\\') k++;
                if (*i + k < len && c[k] == '\n') ++*line;
                k++;
            }
            if (*i + k >= len) perr(p, t.line, "string literal not closed");
            t.type = T_STR;
            t.v = unescape(p, c + 1, k - 1, t.line);
            *i += k + 1;
        } else {
            size_t k = 0;
            for (size_t o = 0; o < sizeof OPS / sizeof *OPS && !k; o++) {
                size_t ol = strlen(OPS[o]);
                if (*i + ol <= len && !memcmp(c, OPS[o], ol)) k = ol;
            }
            if (!k) perr(p, *line, "unexpected character '%c'", *c);
            t.type = T_OP;
            t.n = k;
            *i += k;
            if (*c == '(' || *c == '[' || *c == '{') depth++;
            else if ((*c == ')' || *c == ']' || *c == '}') && depth > 0) depth--;
        }
        push(p, t);
    }
}

/* Text from the template, with a following tag's whitespace control applied. */
static void push_text(parser *p, const char *s, size_t n, int line) {
    if (n) push(p, (jtok){.type = T_TEXT, .line = line, .v = {.k = JV_STR, .s = {s, n}}});
}

static int count_nl(const char *s, size_t n) {
    int k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == '\n';
    return k;
}

/* Skips what a tag's end strips after it: all whitespace after '-', the one newline
 * trim_blocks removes after a block or comment tag; returns line_starting. */
static int after_end(const char *src, size_t len, size_t *i, int *line, int sign, int block) {
    size_t start = *i;
    if (sign == '-')
        while (*i < len && is_space(src[*i])) ++*i;
    else if (sign != '+' && block && *i < len && src[*i] == '\n')
        ++*i;
    *line += count_nl(src + start, *i - start);
    return *i > 0 && src[*i - 1] == '\n';
}

static void lex(parser *p, const char *src, size_t len) {
    size_t i = 0;
    int line = 1, line_starting = 1;
    while (i < len) {
        const char *open = NULL;
        for (size_t j = i; j + 1 < len && !open; j++)
            if (src[j] == '{' && (src[j + 1] == '{' || src[j + 1] == '%' || src[j + 1] == '#')) open = src + j;
        if (!open) {
            push_text(p, src + i, len - i, line);
            break;
        }
        size_t tn = (size_t)(open - (src + i)), at = (size_t)(open - src);
        char kind = open[1];
        char sign = at + 2 < len && (src[at + 2] == '-' || src[at + 2] == '+') ? src[at + 2] : 0;
        const char *text = src + i;
        if (sign == '-') {
            while (tn && is_space(text[tn - 1])) tn--;
        } else if (sign != '+' && kind != '{') {
            size_t l = tn;
            while (l && text[l - 1] != '\n') l--;
            int all_ws = l < tn;
            for (size_t k = l; k < tn; k++) all_ws &= text[k] == ' ' || text[k] == '\t' || text[k] == '\r' || text[k] == '\f' || text[k] == '\v';
            if ((l > 0 || line_starting) && all_ws) tn = l;
        }
        push_text(p, text, tn, line);
        line += count_nl(src + i, at - i);
        i = at + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            size_t j = i;
            int esign = 0;
            for (;; j++) {
                if (j + 1 >= len) perr(p, line, "comment not closed");
                if (src[j] == '#' && src[j + 1] == '}') break;
                if ((src[j] == '-' || src[j] == '+') && j + 2 < len && src[j + 1] == '#' && src[j + 2] == '}') {
                    esign = src[j];
                    break;
                }
            }
            line += count_nl(src + i, j - i);
            i = j + (esign ? 3 : 2);
            line_starting = after_end(src, len, &i, &line, esign, 1);
            continue;
        }
        if (kind == '%') {
            /* {% raw %} ... {% endraw %}: the inside is text */
            size_t j = i;
            while (j < len && is_space(src[j])) j++;
            if (j + 3 <= len && !memcmp(src + j, "raw", 3) && (j + 3 == len || !is_name0(src[j + 3]))) {
                j += 3;
                while (j < len && is_space(src[j])) j++;
                int rsign = 0;
                if (j < len && src[j] == '-') rsign = '-', j++;
                if (j + 2 > len || memcmp(src + j, "%}", 2)) perr(p, line, "malformed raw tag");
                j += 2;
                if (rsign == '-')
                    while (j < len && is_space(src[j])) j++;
                line += count_nl(src + i, j - i);
                size_t k = j;
                for (;; k++) {
                    if (k + 1 >= len) perr(p, line, "raw block not closed (missing endraw)");
                    if (src[k] == '{' && src[k + 1] == '%') {
                        size_t m = k + 2;
                        char s2 = m < len && (src[m] == '-' || src[m] == '+') ? src[m++] : 0;
                        while (m < len && is_space(src[m])) m++;
                        if (m + 6 <= len && !memcmp(src + m, "endraw", 6)) {
                            size_t tl = k - j;
                            if (s2 == '-')
                                while (tl && is_space(src[j + tl - 1])) tl--;
                            push_text(p, src + j, tl, line);
                            m += 6;
                            while (m < len && is_space(src[m])) m++;
                            int esign = 0;
                            if (m < len && (src[m] == '-' || src[m] == '+')) esign = src[m++];
                            if (m + 2 > len || memcmp(src + m, "%}", 2)) perr(p, line, "malformed endraw tag");
                            line += count_nl(src + j, m - j);
                            i = m + 2;
                            line_starting = after_end(src, len, &i, &line, esign, 1);
                            break;
                        }
                    }
                }
                continue;
            }
        }
        push(p, (jtok){.type = kind == '{' ? T_VAR_BEGIN : T_BLOCK_BEGIN, .line = line});
        int esign = lex_tag(p, src, len, &i, &line, kind == '{' ? "}}" : "%}");
        push(p, (jtok){.type = kind == '{' ? T_VAR_END : T_BLOCK_END, .line = line});
        line_starting = after_end(src, len, &i, &line, esign, kind == '%');
    }
    push(p, (jtok){.type = T_EOF, .line = line});
}

/* ---- parser ---- */

static jtok *cur(parser *p) { return &p->t[p->pos]; }
static int is_op(const jtok *t, const char *op) { return t->type == T_OP && t->n == strlen(op) && !memcmp(t->s, op, t->n); }
static int is_name(const jtok *t, const char *nm) {
    return t->type == T_NAME && t->n == strlen(nm) && !memcmp(t->s, nm, t->n);
}
static int accept_op(parser *p, const char *op) {
    if (!is_op(cur(p), op)) return 0;
    p->pos++;
    return 1;
}
static int accept_name(parser *p, const char *nm) {
    if (!is_name(cur(p), nm)) return 0;
    p->pos++;
    return 1;
}
static void expect_op(parser *p, const char *op) {
    if (!accept_op(p, op)) perr(p, cur(p)->line, "expected '%s'", op);
}
static const char *take_name(parser *p) {
    jtok *t = cur(p);
    if (t->type != T_NAME) perr(p, t->line, "expected a name");
    p->pos++;
    return ja_strndup(p->a, t->s, t->n);
}

static jnode *node(parser *p, jn_kind k, int line) {
    jnode *n = ja_alloc(p->a, sizeof *n);
    n->k = k;
    n->line = line;
    return n;
}

static void add_kid(parser *p, jnode *n, jnode *kid, const char *kw) {
    jnode **k = ja_alloc(p->a, (size_t)(n->n_kids + 1) * sizeof *k);
    const char **w = ja_alloc(p->a, (size_t)(n->n_kids + 1) * sizeof *w);
    if (n->n_kids) {
        memcpy(k, n->kids, (size_t)n->n_kids * sizeof *k);
        memcpy(w, n->kw, (size_t)n->n_kids * sizeof *w);
    }
    k[n->n_kids] = kid;
    w[n->n_kids] = kw;
    n->kids = k;
    n->kw = w;
    n->n_kids++;
}

static jnode *parse_expr(parser *p);
static jnode *parse_unary(parser *p, int with_filter);

static void depth_guard(parser *p, int delta) {
    p->depth += delta;
    if (p->depth > 200) perr(p, cur(p)->line, "expression nested too deeply");
}

/* Call arguments after '(': positional and name=value. */
static void parse_args(parser *p, jnode *call) {
    while (!accept_op(p, ")")) {
        const char *kw = NULL;
        if (cur(p)->type == T_NAME && is_op(&p->t[p->pos + 1], "=")) {
            kw = take_name(p);
            p->pos++;
        }
        add_kid(p, call, parse_expr(p), kw);
        if (!accept_op(p, ",")) {
            expect_op(p, ")");
            break;
        }
    }
}

static jnode *parse_primary(parser *p) {
    jtok *t = cur(p);
    jnode *n;
    if (t->type == T_STR) {
        n = node(p, JN_LIT, t->line);
        n->lit = t->v;
        p->pos++;
        /* adjacent literals concatenate, as in Python */
        while (cur(p)->type == T_STR) {
            jv s = cur(p)->v;
            char *b = ja_alloc(p->a, n->lit.s.n + s.s.n + 1);
            memcpy(b, n->lit.s.s, n->lit.s.n);
            memcpy(b + n->lit.s.n, s.s.s, s.s.n);
            n->lit = (jv){.k = JV_STR, .s = {b, n->lit.s.n + s.s.n}};
            p->pos++;
        }
        return n;
    }
    if (t->type == T_INT || t->type == T_FLOAT) {
        n = node(p, JN_LIT, t->line);
        n->lit = t->v;
        p->pos++;
        return n;
    }
    if (t->type == T_NAME) {
        n = node(p, JN_LIT, t->line);
        if (is_name(t, "true") || is_name(t, "True")) n->lit = jv_bool(1);
        else if (is_name(t, "false") || is_name(t, "False")) n->lit = jv_bool(0);
        else if (is_name(t, "none") || is_name(t, "None")) n->lit = jv_none();
        else {
            n->k = JN_NAME;
            n->name = ja_strndup(p->a, t->s, t->n);
        }
        p->pos++;
        return n;
    }
    if (accept_op(p, "(")) {
        if (accept_op(p, ")")) return node(p, JN_TUPLE, t->line);
        jnode *e = parse_expr(p);
        if (accept_op(p, ")")) return e;
        n = node(p, JN_TUPLE, t->line);
        add_kid(p, n, e, NULL);
        while (accept_op(p, ",")) {
            if (is_op(cur(p), ")")) break;
            add_kid(p, n, parse_expr(p), NULL);
        }
        expect_op(p, ")");
        return n;
    }
    if (accept_op(p, "[")) {
        n = node(p, JN_LIST, t->line);
        while (!accept_op(p, "]")) {
            add_kid(p, n, parse_expr(p), NULL);
            if (!accept_op(p, ",")) {
                expect_op(p, "]");
                break;
            }
        }
        return n;
    }
    if (accept_op(p, "{")) {
        n = node(p, JN_DICT, t->line);
        while (!accept_op(p, "}")) {
            add_kid(p, n, parse_expr(p), NULL);
            expect_op(p, ":");
            add_kid(p, n, parse_expr(p), NULL);
            if (!accept_op(p, ",")) {
                expect_op(p, "}");
                break;
            }
        }
        return n;
    }
    perr(p, t->line, "unexpected %s in an expression",
         t->type == T_OP ? "operator" : t->type == T_EOF ? "end of template" : "end of tag");
}

static jnode *parse_postfix(parser *p, jnode *n) {
    for (;;) {
        int line = cur(p)->line;
        if (accept_op(p, ".")) {
            jtok *t = cur(p);
            jnode *a = node(p, JN_ATTR, line);
            a->a = n;
            if (t->type == T_INT) { /* x.0 is x[0] in Jinja */
                a->k = JN_ITEM;
                a->b = node(p, JN_LIT, line);
                a->b->lit = t->v;
                p->pos++;
            } else {
                a->name = take_name(p);
            }
            n = a;
        } else if (accept_op(p, "[")) {
            jnode *lo = NULL, *hi = NULL, *step = NULL;
            int slice = 0;
            if (!is_op(cur(p), ":")) lo = parse_expr(p);
            if (accept_op(p, ":")) {
                slice = 1;
                if (!is_op(cur(p), "]") && !is_op(cur(p), ":")) hi = parse_expr(p);
                if (accept_op(p, ":") && !is_op(cur(p), "]")) step = parse_expr(p);
            }
            expect_op(p, "]");
            jnode *s = node(p, slice ? JN_SLICE : JN_ITEM, line);
            s->a = n;
            s->b = lo;
            s->c = hi;
            s->filter_cond = step;
            if (!slice && !lo) perr(p, line, "empty subscript");
            n = s;
        } else if (accept_op(p, "(")) {
            jnode *c = node(p, JN_CALL, line);
            c->a = n;
            parse_args(p, c);
            n = c;
        } else {
            return n;
        }
    }
}

/* `| name(args)` and `is [not] name [(args) | arg]`. */
static jnode *parse_filters(parser *p, jnode *n) {
    for (;;) {
        int line = cur(p)->line;
        if (accept_op(p, "|")) {
            jnode *f = node(p, JN_FILTER, line);
            f->a = n;
            f->name = take_name(p);
            if (is_op(cur(p), ".")) perr(p, line, "dotted filter name '%s.' is not supported", f->name);
            if (accept_op(p, "(")) parse_args(p, f);
            n = f;
        } else if (accept_name(p, "is")) {
            jnode *t = node(p, JN_TEST, line);
            t->a = n;
            t->op = accept_name(p, "not");
            if (is_name(cur(p), "none") || is_name(cur(p), "true") || is_name(cur(p), "false")) {
                t->name = ja_strndup(p->a, cur(p)->s, cur(p)->n);
                p->pos++;
            } else {
                t->name = take_name(p);
            }
            if (accept_op(p, "(")) parse_args(p, t);
            else if (cur(p)->type == T_STR || cur(p)->type == T_INT || cur(p)->type == T_FLOAT ||
                     (cur(p)->type == T_NAME && !is_name(cur(p), "and") && !is_name(cur(p), "or") &&
                      !is_name(cur(p), "if") && !is_name(cur(p), "else") && !is_name(cur(p), "in") &&
                      !is_name(cur(p), "not") && !is_name(cur(p), "is")))
                add_kid(p, t, parse_postfix(p, parse_primary(p)), NULL);
            n = t;
        } else {
            return n;
        }
    }
}

static jnode *binary(parser *p, int op, jnode *a, jnode *b, int line) {
    jnode *n = node(p, JN_BINARY, line);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

enum { OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN, OP_NEG, OP_POS };

static jnode *parse_unary(parser *p, int with_filter) {
    int line = cur(p)->line;
    jnode *n;
    depth_guard(p, 1);
    if (accept_op(p, "-") || (is_op(cur(p), "+") && (p->pos++, 1))) {
        int neg = is_op(&p->t[p->pos - 1], "-");
        n = node(p, JN_UNARY, line);
        n->op = neg ? OP_NEG : OP_POS;
        n->a = parse_unary(p, 0);
    } else {
        n = parse_primary(p);
    }
    n = parse_postfix(p, n);
    if (with_filter) n = parse_filters(p, n);
    depth_guard(p, -1);
    return n;
}

static jnode *parse_pow(parser *p) {
    jnode *n = parse_unary(p, 1);
    while (is_op(cur(p), "**")) {
        int line = cur(p)->line;
        p->pos++;
        n = binary(p, OP_POW, n, parse_unary(p, 1), line);
    }
    return n;
}

static jnode *parse_math2(parser *p) {
    jnode *n = parse_pow(p);
    for (;;) {
        int line = cur(p)->line, op = is_op(cur(p), "*") ? OP_MUL : is_op(cur(p), "/") ? OP_DIV : is_op(cur(p), "//") ? OP_FLOORDIV : is_op(cur(p), "%") ? OP_MOD : 0;
        if (!op) return n;
        p->pos++;
        n = binary(p, op, n, parse_pow(p), line);
    }
}

static jnode *parse_concat(parser *p) {
    jnode *n = parse_math2(p);
    while (is_op(cur(p), "~")) {
        int line = cur(p)->line;
        p->pos++;
        n = binary(p, OP_CONCAT, n, parse_math2(p), line);
    }
    return n;
}

static jnode *parse_math1(parser *p) {
    jnode *n = parse_concat(p);
    for (;;) {
        int line = cur(p)->line, op = is_op(cur(p), "+") ? OP_ADD : is_op(cur(p), "-") ? OP_SUB : 0;
        if (!op) return n;
        p->pos++;
        n = binary(p, op, n, parse_concat(p), line);
    }
}

static jnode *parse_compare(parser *p) {
    jnode *n = parse_math1(p);
    for (;;) {
        jtok *t = cur(p);
        int line = t->line, op = 0;
        if (is_op(t, "==")) op = OP_EQ;
        else if (is_op(t, "!=")) op = OP_NE;
        else if (is_op(t, "<")) op = OP_LT;
        else if (is_op(t, "<=")) op = OP_LE;
        else if (is_op(t, ">")) op = OP_GT;
        else if (is_op(t, ">=")) op = OP_GE;
        else if (is_name(t, "in")) op = OP_IN;
        else if (is_name(t, "not") && is_name(&p->t[p->pos + 1], "in")) op = OP_NOTIN, p->pos++;
        if (!op) return n;
        p->pos++;
        /* a < b < c compares pairwise in Jinja; the subset takes one at a time */
        n = binary(p, op, n, parse_math1(p), line);
    }
}

static jnode *parse_not(parser *p) {
    int line = cur(p)->line;
    if (accept_name(p, "not")) {
        jnode *n = node(p, JN_NOT, line);
        depth_guard(p, 1);
        n->a = parse_not(p);
        depth_guard(p, -1);
        return n;
    }
    return parse_compare(p);
}

static jnode *parse_and(parser *p) {
    jnode *n = parse_not(p);
    while (is_name(cur(p), "and")) {
        jnode *a = node(p, JN_AND, cur(p)->line);
        p->pos++;
        a->a = n;
        a->b = parse_not(p);
        n = a;
    }
    return n;
}

static jnode *parse_or(parser *p) {
    jnode *n = parse_and(p);
    while (is_name(cur(p), "or")) {
        jnode *o = node(p, JN_OR, cur(p)->line);
        p->pos++;
        o->a = n;
        o->b = parse_and(p);
        n = o;
    }
    return n;
}

/* x if cond [else y] */
static jnode *parse_expr(parser *p) {
    depth_guard(p, 1);
    jnode *n = parse_or(p);
    while (is_name(cur(p), "if")) {
        jnode *c = node(p, JN_COND, cur(p)->line);
        p->pos++;
        c->a = n;
        c->b = parse_or(p);
        if (accept_name(p, "else")) c->c = parse_expr(p);
        n = c;
    }
    depth_guard(p, -1);
    return n;
}

/* A comma list without brackets is a tuple (for targets and `set a, b = ...`). */
static jnode *parse_tuple(parser *p, int names_only) {
    int line = cur(p)->line;
    jnode *first = names_only ? parse_primary(p) : parse_expr(p);
    if (!is_op(cur(p), ",")) return first;
    jnode *t = node(p, JN_TUPLE, line);
    add_kid(p, t, first, NULL);
    while (accept_op(p, ",")) add_kid(p, t, names_only ? parse_primary(p) : parse_expr(p), NULL);
    return t;
}

static void end_tag(parser *p) {
    if (cur(p)->type != T_BLOCK_END) perr(p, cur(p)->line, "expected the end of the tag");
    p->pos++;
}

/* Statements until a block tag whose name is one of `ends` (NULL-terminated); that
 * name is returned (its tag's remaining tokens not consumed), or NULL at EOF when
 * ends is empty. */
static jnode *parse_body(parser *p, const char *const *ends, const char **ended);

static jnode *parse_statement(parser *p, int line) {
    jtok *t = cur(p);
    if (t->type != T_NAME) perr(p, line, "expected a statement name");
    const char *ended;
    if (accept_name(p, "if")) {
        jnode *n = node(p, JN_IF, line), *last = n;
        n->a = parse_expr(p);
        end_tag(p);
        static const char *const ends[] = {"elif", "else", "endif", NULL};
        for (;;) {
            last->b = parse_body(p, ends, &ended);
            if (!strcmp(ended, "elif")) {
                jnode *e = node(p, JN_IF, cur(p)->line);
                e->a = parse_expr(p);
                end_tag(p);
                jnode *wrap = node(p, JN_BODY, e->line);
                add_kid(p, wrap, e, NULL);
                last->c = wrap;
                last = e;
            } else if (!strcmp(ended, "else")) {
                end_tag(p);
                static const char *const endif[] = {"endif", NULL};
                last->c = parse_body(p, endif, &ended);
                end_tag(p);
                return n;
            } else {
                end_tag(p);
                return n;
            }
        }
    }
    if (accept_name(p, "for")) {
        jnode *n = node(p, JN_FOR, line);
        n->a = parse_tuple(p, 1);
        if (!accept_name(p, "in")) perr(p, line, "expected 'in' in a for tag");
        n->b = parse_or(p);
        if (accept_name(p, "if")) n->filter_cond = parse_expr(p);
        if (accept_name(p, "recursive")) perr(p, line, "recursive for loops are not supported");
        end_tag(p);
        static const char *const ends[] = {"else", "endfor", NULL};
        n->c = parse_body(p, ends, &ended);
        end_tag(p);
        if (!strcmp(ended, "else")) {
            static const char *const endfor[] = {"endfor", NULL};
            n->else_body = parse_body(p, endfor, &ended);
            end_tag(p);
        }
        return n;
    }
    if (accept_name(p, "set")) {
        jnode *target = parse_tuple(p, 1);
        target = parse_postfix(p, target); /* ns.attr */
        if (accept_op(p, "=")) {
            jnode *n = node(p, JN_SET, line);
            n->a = target;
            n->b = parse_tuple(p, 0);
            end_tag(p);
            return n;
        }
        jnode *n = node(p, JN_SET_BLOCK, line);
        n->a = target;
        while (accept_op(p, "|")) { /* {% set x | filter %} */
            jnode *f = node(p, JN_FILTER, line);
            f->name = take_name(p);
            if (accept_op(p, "(")) parse_args(p, f);
            f->a = n->c;
            n->c = f;
        }
        end_tag(p);
        static const char *const ends[] = {"endset", NULL};
        n->b = parse_body(p, ends, &ended);
        end_tag(p);
        return n;
    }
    if (accept_name(p, "macro")) {
        jnode *n = node(p, JN_MACRO, line);
        n->name = take_name(p);
        expect_op(p, "(");
        while (!accept_op(p, ")")) { /* parameters: kids are defaults (NULL: none) */
            const char *pn = take_name(p);
            jnode *def = accept_op(p, "=") ? parse_expr(p) : NULL;
            add_kid(p, n, def, pn);
            if (!accept_op(p, ",")) {
                expect_op(p, ")");
                break;
            }
        }
        end_tag(p);
        static const char *const ends[] = {"endmacro", NULL};
        n->a = parse_body(p, ends, &ended);
        end_tag(p);
        return n;
    }
    if (accept_name(p, "call")) {
        jnode *n = node(p, JN_CALL_BLOCK, line);
        if (is_op(cur(p), "(")) perr(p, line, "call blocks with caller arguments are not supported");
        n->a = parse_expr(p);
        end_tag(p);
        static const char *const ends[] = {"endcall", NULL};
        n->b = parse_body(p, ends, &ended);
        end_tag(p);
        return n;
    }
    if (accept_name(p, "generation")) { /* transformers' AssistantTracker: renders its body */
        end_tag(p);
        static const char *const ends[] = {"endgeneration", NULL};
        jnode *b = parse_body(p, ends, &ended);
        end_tag(p);
        return b;
    }
    if (accept_name(p, "break") || accept_name(p, "continue")) {
        jnode *n = node(p, is_name(&p->t[p->pos - 1], "break") ? JN_BREAK : JN_CONTINUE, line);
        end_tag(p);
        return n;
    }
    perr(p, line, "the '%.*s' tag is not supported", (int)(t->n < 40 ? t->n : 40), t->s);
}

static jnode *parse_body(parser *p, const char *const *ends, const char **ended) {
    jnode *body = node(p, JN_BODY, cur(p)->line);
    for (;;) {
        jtok *t = cur(p);
        if (t->type == T_EOF) {
            if (ends[0]) perr(p, t->line, "missing '%s' at the end of the template", ends[0]);
            *ended = NULL;
            return body;
        }
        if (t->type == T_TEXT) {
            jnode *n = node(p, JN_TEXT, t->line);
            n->lit = t->v;
            add_kid(p, body, n, NULL);
            p->pos++;
        } else if (t->type == T_VAR_BEGIN) {
            p->pos++;
            jnode *n = node(p, JN_OUTPUT, t->line);
            n->a = parse_expr(p);
            if (cur(p)->type != T_VAR_END) perr(p, cur(p)->line, "expected '}}'");
            p->pos++;
            add_kid(p, body, n, NULL);
        } else if (t->type == T_BLOCK_BEGIN) {
            p->pos++;
            jtok *nt = cur(p);
            for (int i = 0; ends[i]; i++)
                if (is_name(nt, ends[i])) {
                    p->pos++;
                    *ended = ends[i];
                    return body;
                }
            if (nt->type == T_NAME && (nt->n > 3 && !memcmp(nt->s, "end", 3)))
                perr(p, nt->line, "unexpected '%.*s'", (int)nt->n, nt->s);
            if (is_name(nt, "elif") || is_name(nt, "else")) perr(p, nt->line, "unexpected '%.*s'", (int)nt->n, nt->s);
            add_kid(p, body, parse_statement(p, nt->line), NULL);
        } else {
            perr(p, t->line, "unexpected token");
        }
    }
}

jnode *cl_jinja_parse(jarena *a, const char *src, size_t len, char *err, size_t errcap) {
    parser p = {.a = a, .err = err, .errcap = errcap};
    if (setjmp(p.fail)) return NULL;
    /* newlines normalized to \n, one trailing newline dropped (keep_trailing_newline off) */
    char *norm = ja_alloc(a, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            norm[n++] = src[i];
        }
    }
    if (n && norm[n - 1] == '\n') n--;
    lex(&p, norm, n);
    static const char *const none[] = {NULL};
    const char *ended;
    return parse_body(&p, none, &ended);
}
