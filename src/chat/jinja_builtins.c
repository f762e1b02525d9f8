/* Jinja built-ins as jinja2 and transformers provide them to chat templates: filters,
 * tests, methods of strings/dicts/lists, the globals raise_exception, namespace,
 * range, dict and strftime_now, and Python's str(), repr() and json.dumps() (tojson
 * is transformers' json.dumps(x, ensure_ascii=False, indent, separators, sort_keys)).
 * Case mapping covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/jinja.h"
#include "cllama.h"

#define A(c) jctx_arena(c)

/* ---- UTF-8 ---- */

size_t ju_len(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

size_t ju_offset(const char *s, size_t n, size_t cp) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (k == cp) return i;
            k++;
        }
    }
    return n;
}

/* Decodes one code point at s[*i] (advancing *i); a malformed byte is taken alone. */
static uint32_t ju_next(const char *s, size_t n, size_t *i) {
    unsigned char c = (unsigned char)s[(*i)++];
    int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    uint32_t cp = extra ? c & (0x3F >> extra) : c;
    for (int k = 0; k < extra; k++) {
        if (*i >= n || ((unsigned char)s[*i] & 0xC0) != 0x80) return c;
        cp = cp << 6 | ((unsigned char)s[(*i)++] & 0x3F);
    }
    return cp;
}

static void ju_put(jctx *c, jbuf *b, uint32_t cp) {
    char o[4];
    size_t k = 0;
    if (cp < 0x80) o[k++] = (char)cp;
    else if (cp < 0x800) o[k++] = (char)(0xC0 | cp >> 6), o[k++] = (char)(0x80 | (cp & 0x3F));
    else if (cp < 0x10000)
        o[k++] = (char)(0xE0 | cp >> 12), o[k++] = (char)(0x80 | (cp >> 6 & 0x3F)), o[k++] = (char)(0x80 | (cp & 0x3F));
    else
        o[k++] = (char)(0xF0 | cp >> 18), o[k++] = (char)(0x80 | (cp >> 12 & 0x3F)),
        o[k++] = (char)(0x80 | (cp >> 6 & 0x3F)), o[k++] = (char)(0x80 | (cp & 0x3F));
    jbuf_put(c, b, o, k);
}

static uint32_t cp_upper(uint32_t cp) {
    if (cp >= 'a' && cp <= 'z') return cp - 32;
    if ((cp >= 0xE0 && cp <= 0xFE && cp != 0xF7)) return cp - 32;
    if (cp == 0xFF) return 0x178;
    if (cp >= 0x100 && cp <= 0x17F && cp != 0x130 && cp != 0x131 && cp != 0x138 && cp != 0x149 && cp != 0x17F) {
        int odd_lower = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
        if (odd_lower ? (cp & 1) == 0 : (cp & 1) == 1) return cp - 1;
        return cp;
    }
    if (cp >= 0x3B1 && cp <= 0x3C9 && cp != 0x3C2) return cp - 32;
    if (cp >= 0x430 && cp <= 0x44F) return cp - 32;
    if (cp >= 0x450 && cp <= 0x45F) return cp - 80;
    return cp;
}

static uint32_t cp_lower(uint32_t cp) {
    if (cp >= 'A' && cp <= 'Z') return cp + 32;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
    if (cp == 0x178) return 0xFF;
    if (cp >= 0x100 && cp <= 0x17F && cp != 0x130 && cp != 0x131 && cp != 0x138 && cp != 0x149 && cp != 0x17F) {
        int odd_lower = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
        if (odd_lower ? (cp & 1) == 1 : (cp & 1) == 0) return cp + 1;
        return cp;
    }
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
    return cp;
}

static int cp_cased(uint32_t cp) { return cp_upper(cp) != cp || cp_lower(cp) != cp; }

/* Python's str.isspace. */
static int cp_space(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* mode: 0 lower, 1 upper, 2 Python title, 3 capitalize, 4 jinja's title filter */
static jv recase(jctx *c, const jv *v, int mode) {
    jbuf b = {0};
    int start = 1;
    for (size_t i = 0; i < v->s.n;) {
        uint32_t cp = ju_next(v->s.s, v->s.n, &i);
        uint32_t o = cp;
        if (mode == 0) o = cp_lower(cp);
        else if (mode == 1) o = cp_upper(cp);
        else if (mode == 3) o = start ? cp_upper(cp) : cp_lower(cp), start = 0;
        else if (mode == 2) {
            o = start ? cp_upper(cp) : cp_lower(cp);
            start = !cp_cased(cp);
        } else {
            int sep = cp == '-' || cp_space(cp) || cp == '(' || cp == '{' || cp == '[' || cp == '<';
            o = sep ? cp : start ? cp_upper(cp) : cp_lower(cp);
            start = sep;
        }
        ju_put(c, &b, o);
    }
    return (jv){.k = JV_STR, .s = {b.p ? b.p : "", b.n}};
}

/* ---- str(), repr(), json ---- */

static void put_float(jctx *c, jbuf *b, double f) {
    char s[64];
    if (isnan(f)) {
        jbuf_put(c, b, "nan", 3);
        return;
    }
    if (isinf(f)) {
        jbuf_put(c, b, f < 0 ? "-inf" : "inf", f < 0 ? 4 : 3);
        return;
    }
    /* Python's repr: the shortest digits that read back, in fixed notation for
     * exponents -4..15, else d.ddde+XX */
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(s, sizeof s, "%.*e", prec - 1, f);
        if (strtod(s, NULL) == f) break;
    }
    snprintf(s, sizeof s, "%.*e", prec - 1, f);
    char digits[32];
    int nd = 0, neg = s[0] == '-';
    const char *p = s + neg;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char o[80];
    int k = 0;
    if (neg) o[k++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            o[k++] = '0', o[k++] = '.';
            for (int i = 0; i < -exp - 1; i++) o[k++] = '0';
            for (int i = 0; i < nd; i++) o[k++] = digits[i];
        } else {
            for (int i = 0; i <= exp; i++) o[k++] = i < nd ? digits[i] : '0';
            o[k++] = '.';
            if (nd > exp + 1)
                for (int i = exp + 1; i < nd; i++) o[k++] = digits[i];
            else
                o[k++] = '0';
        }
    } else {
        o[k++] = digits[0];
        if (nd > 1) {
            o[k++] = '.';
            for (int i = 1; i < nd; i++) o[k++] = digits[i];
        }
        k += snprintf(o + k, sizeof o - (size_t)k, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    jbuf_put(c, b, o, (size_t)k);
}

/* Characters Python's repr escapes (not printable): C0, DEL, C1, and the common
 * Unicode separators, format and space characters. */
static int cp_unprintable(uint32_t cp) {
    return cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD || (cp >= 0x2000 && cp <= 0x200F) ||
           (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x2064) || cp == 0x3000 || cp == 0xFEFF ||
           cp == 0x1680 || cp == 0x180E;
}

static void repr_str(jctx *c, jbuf *b, const char *s, size_t n) {
    int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    jbuf_put(c, b, &q, 1);
    for (size_t i = 0; i < n;) {
        uint32_t cp = ju_next(s, n, &i);
        char e[16];
        if (cp == '\\' || cp == (uint32_t)q) jbuf_put(c, b, "\\", 1), ju_put(c, b, cp);
        else if (cp == '\n') jbuf_put(c, b, "\\n", 2);
        else if (cp == '\r') jbuf_put(c, b, "\\r", 2);
        else if (cp == '\t') jbuf_put(c, b, "\\t", 2);
        else if (cp_unprintable(cp)) {
            int k = cp <= 0xFF ? snprintf(e, sizeof e, "\\x%02x", cp) : snprintf(e, sizeof e, "\\u%04x", cp);
            jbuf_put(c, b, e, (size_t)k);
        } else ju_put(c, b, cp);
    }
    jbuf_put(c, b, &q, 1);
}

static void to_str(jctx *c, jbuf *b, const jv *v, int repr) {
    char t[32];
    switch (v->k) {
    case JV_UNDEF: return;
    case JV_NONE: jbuf_put(c, b, "None", 4); return;
    case JV_BOOL: jbuf_put(c, b, v->b ? "True" : "False", v->b ? 4 : 5); return;
    case JV_INT: jbuf_put(c, b, t, (size_t)snprintf(t, sizeof t, "%lld", (long long)v->i)); return;
    case JV_FLOAT: put_float(c, b, v->f); return;
    case JV_STR:
        if (repr) repr_str(c, b, v->s.s, v->s.n);
        else jbuf_put(c, b, v->s.s, v->s.n);
        return;
    case JV_LIST:
        jbuf_put(c, b, v->l->tuple ? "(" : "[", 1);
        for (size_t i = 0; i < v->l->n; i++) {
            if (i) jbuf_put(c, b, ", ", 2);
            to_str(c, b, &v->l->v[i], 1);
        }
        if (v->l->tuple && v->l->n == 1) jbuf_put(c, b, ",", 1);
        jbuf_put(c, b, v->l->tuple ? ")" : "]", 1);
        return;
    case JV_DICT:
        if (v->d->ns) jbuf_put(c, b, "<Namespace ", 11);
        jbuf_put(c, b, "{", 1);
        for (size_t i = 0; i < v->d->n; i++) {
            if (i) jbuf_put(c, b, ", ", 2);
            to_str(c, b, &v->d->keys[i], 1);
            jbuf_put(c, b, ": ", 2);
            to_str(c, b, &v->d->vals[i], 1);
        }
        jbuf_put(c, b, v->d->ns ? "}>" : "}", v->d->ns ? 2 : 1);
        return;
    case JV_FUNC: {
        int k = snprintf(t, sizeof t, "<function %.16s>", v->fn->name ? v->fn->name : "?");
        jbuf_put(c, b, t, (size_t)k);
        return;
    }
    }
}

void jv_to_str(jctx *c, jbuf *b, const jv *v) { to_str(c, b, v, 0); }
void jv_repr(jctx *c, jbuf *b, const jv *v) { to_str(c, b, v, 1); }

jv jv_stringify(jctx *c, const jv *v) {
    if (v->k == JV_STR) return *v;
    jbuf b = {0};
    jv_to_str(c, &b, v);
    return (jv){.k = JV_STR, .s = {b.p ? b.p : "", b.n}};
}

typedef struct {
    const char *indent; /* NULL: one line */
    const char *item_sep, *key_sep;
    int sort_keys;
} json_style;

static void json_str(jctx *c, jbuf *b, const char *s, size_t n) {
    jbuf_put(c, b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char e[8];
        switch (ch) {
        case '"': jbuf_put(c, b, "\\\"", 2); break;
        case '\\': jbuf_put(c, b, "\\\\", 2); break;
        case '\n': jbuf_put(c, b, "\\n", 2); break;
        case '\r': jbuf_put(c, b, "\\r", 2); break;
        case '\t': jbuf_put(c, b, "\\t", 2); break;
        case '\b': jbuf_put(c, b, "\\b", 2); break;
        case '\f': jbuf_put(c, b, "\\f", 2); break;
        default:
            if (ch < 0x20) jbuf_put(c, b, e, (size_t)snprintf(e, sizeof e, "\\u%04x", ch));
            else jbuf_put(c, b, (const char *)&ch, 1);
        }
    }
    jbuf_put(c, b, "\"", 1);
}

static void json_newline(jctx *c, jbuf *b, const json_style *st, int level) {
    jbuf_put(c, b, "\n", 1);
    for (int i = 0; i < level; i++) jbuf_put(c, b, st->indent, strlen(st->indent));
}

static int key_cmp(const void *x, const void *y) {
    const jv *a = *(const jv *const *)x, *b = *(const jv *const *)y;
    if (a->k != JV_STR || b->k != JV_STR) return (a->k > b->k) - (a->k < b->k);
    size_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
    int r = memcmp(a->s.s, b->s.s, n);
    return r ? r : (a->s.n > b->s.n) - (a->s.n < b->s.n);
}

static void to_json(jctx *c, jbuf *b, const jv *v, const json_style *st, int level) {
    if (level > 100) jerr(c, 0, "tojson: value nested too deeply");
    switch (v->k) {
    case JV_NONE: jbuf_put(c, b, "null", 4); return;
    case JV_BOOL: jbuf_put(c, b, v->b ? "true" : "false", v->b ? 4 : 5); return;
    case JV_INT: jv_to_str(c, b, v); return;
    case JV_FLOAT:
        if (isnan(v->f)) jbuf_put(c, b, "NaN", 3);
        else if (isinf(v->f)) jbuf_put(c, b, v->f < 0 ? "-Infinity" : "Infinity", v->f < 0 ? 9 : 8);
        else put_float(c, b, v->f);
        return;
    case JV_STR: json_str(c, b, v->s.s, v->s.n); return;
    case JV_LIST:
        if (!v->l->n) {
            jbuf_put(c, b, "[]", 2);
            return;
        }
        jbuf_put(c, b, "[", 1);
        for (size_t i = 0; i < v->l->n; i++) {
            if (i) jbuf_put(c, b, st->item_sep, strlen(st->item_sep));
            if (st->indent) json_newline(c, b, st, level + 1);
            to_json(c, b, &v->l->v[i], st, level + 1);
        }
        if (st->indent) json_newline(c, b, st, level);
        jbuf_put(c, b, "]", 1);
        return;
    case JV_DICT: {
        if (!v->d->n) {
            jbuf_put(c, b, "{}", 2);
            return;
        }
        const jv **order = ja_alloc(A(c), v->d->n * sizeof *order);
        for (size_t i = 0; i < v->d->n; i++) order[i] = &v->d->keys[i];
        if (st->sort_keys) qsort(order, v->d->n, sizeof *order, key_cmp);
        jbuf_put(c, b, "{", 1);
        for (size_t i = 0; i < v->d->n; i++) {
            if (i) jbuf_put(c, b, st->item_sep, strlen(st->item_sep));
            if (st->indent) json_newline(c, b, st, level + 1);
            if (order[i]->k == JV_STR) {
                json_str(c, b, order[i]->s.s, order[i]->s.n);
            } else { /* json.dumps writes other keys as strings: 1 -> "1", true -> "true" */
                jbuf k = {0};
                if (order[i]->k == JV_BOOL || order[i]->k == JV_NONE) to_json(c, &k, order[i], st, level + 1);
                else jv_to_str(c, &k, order[i]);
                json_str(c, b, k.p ? k.p : "", k.n);
            }
            jbuf_put(c, b, st->key_sep, strlen(st->key_sep));
            to_json(c, b, &v->d->vals[order[i] - v->d->keys], st, level + 1);
        }
        if (st->indent) json_newline(c, b, st, level);
        jbuf_put(c, b, "}", 1);
        return;
    }
    default: jerr(c, 0, "tojson: a %s is not JSON serializable", v->k == JV_UNDEF ? "Undefined" : "function");
    }
}

/* ---- argument helpers ---- */

/* Argument i (positional) or keyword `name`, else def. */
static jv arg(const jv *args, int n, const char *const *kw, const jv *kwv, int nkw, int i, const char *name, jv def) {
    if (i < n) return args[i];
    for (int k = 0; k < nkw; k++)
        if (!strcmp(kw[k], name)) return kwv[k];
    return def;
}

static const char *need_str(jctx *c, const jv *v, const char *what) {
    if (v->k != JV_STR) jerr(c, 0, "%s expects a string, got %s", what, v->k == JV_UNDEF ? "undefined" : "another type");
    return v->s.s;
}

static jlist *as_list(jctx *c, const jv *v, const char *what) {
    if (v->k == JV_LIST) return v->l;
    jlist *l = jlist_new(A(c));
    if (v->k == JV_DICT) {
        for (size_t i = 0; i < v->d->n; i++) jlist_push(A(c), l, v->d->keys[i]);
    } else if (v->k == JV_STR) {
        for (size_t i = 0; i < v->s.n;) {
            size_t i0 = i;
            ju_next(v->s.s, v->s.n, &i);
            jlist_push(A(c), l, (jv){.k = JV_STR, .s = {v->s.s + i0, i - i0}});
        }
    } else if (v->k != JV_UNDEF) {
        jerr(c, 0, "%s expects a sequence", what);
    }
    return l;
}

static jv str_of(jbuf *b) { return (jv){.k = JV_STR, .s = {b->p ? b->p : "", b->n}}; }

#define FILTER(name) static jv f_##name(jctx *c __attribute__((unused)), const jv *v, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw)
#define UNUSED_ARGS (void)args, (void)n, (void)kw, (void)kwv, (void)nkw

/* ---- strings ---- */

/* Python's str.strip/lstrip/rstrip: whitespace, or the characters of `chars`. */
static jv strip(jctx *c, const jv *v, const jv *chars, int left, int right) {
    need_str(c, v, "strip");
    const char *s = v->s.s;
    size_t lo = 0, hi = v->s.n;
    for (;;) { /* from the left */
        if (!left || lo >= hi) break;
        size_t i = lo;
        uint32_t cp = ju_next(s, hi, &i);
        int drop = chars && chars->k == JV_STR ? (ju_len(chars->s.s, chars->s.n) && memmem(chars->s.s, chars->s.n, s + lo, i - lo) != NULL) : cp_space(cp);
        if (!drop) break;
        lo = i;
    }
    while (right && hi > lo) {
        size_t j = hi - 1;
        while (j > lo && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
        size_t i = j;
        uint32_t cp = ju_next(s, hi, &i);
        int drop = chars && chars->k == JV_STR ? memmem(chars->s.s, chars->s.n, s + j, hi - j) != NULL : cp_space(cp);
        if (!drop) break;
        hi = j;
    }
    return (jv){.k = JV_STR, .s = {s + lo, hi - lo}};
}

static jv split(jctx *c, const jv *v, const jv *sep, int64_t maxsplit) {
    need_str(c, v, "split");
    jlist *l = jlist_new(A(c));
    const char *s = v->s.s;
    size_t n = v->s.n;
    if (!sep || sep->k == JV_NONE || sep->k == JV_UNDEF) { /* runs of whitespace */
        size_t i = 0;
        while (i < n) {
            size_t j = i, k;
            while (j < n && (k = j, cp_space(ju_next(s, n, &k)))) j = k;
            if (j >= n) break;
            if (maxsplit >= 0 && (int64_t)l->n == maxsplit) {
                size_t e = n;
                while (e > j) { /* trailing whitespace goes, as Python's split does */
                    size_t b0 = e - 1;
                    while (b0 > j && ((unsigned char)s[b0] & 0xC0) == 0x80) b0--;
                    size_t t = b0;
                    if (!cp_space(ju_next(s, n, &t))) break;
                    e = b0;
                }
                jlist_push(A(c), l, (jv){.k = JV_STR, .s = {s + j, e - j}});
                break;
            }
            size_t e = j;
            while (e < n && (k = e, !cp_space(ju_next(s, n, &k)))) e = k;
            jlist_push(A(c), l, (jv){.k = JV_STR, .s = {s + j, e - j}});
            i = e;
        }
        return (jv){.k = JV_LIST, .l = l};
    }
    need_str(c, sep, "split separator");
    if (!sep->s.n) jerr(c, 0, "split: empty separator");
    size_t start = 0;
    for (size_t i = 0; i + sep->s.n <= n;) {
        if ((maxsplit < 0 || (int64_t)l->n < maxsplit) && !memcmp(s + i, sep->s.s, sep->s.n)) {
            jlist_push(A(c), l, (jv){.k = JV_STR, .s = {s + start, i - start}});
            i += sep->s.n;
            start = i;
        } else {
            i++;
        }
    }
    jlist_push(A(c), l, (jv){.k = JV_STR, .s = {s + start, n - start}});
    return (jv){.k = JV_LIST, .l = l};
}

static jv replace(jctx *c, const jv *v, const jv *old, const jv *new_, int64_t count) {
    need_str(c, v, "replace");
    need_str(c, old, "replace");
    need_str(c, new_, "replace");
    jbuf b = {0};
    size_t i = 0;
    int64_t done = 0;
    if (!old->s.n) { /* Python inserts the replacement between every character */
        for (size_t k = 0; k <= v->s.n;) {
            if (count < 0 || done < count) jbuf_put(c, &b, new_->s.s, new_->s.n), done++;
            if (k == v->s.n) break;
            size_t k0 = k;
            ju_next(v->s.s, v->s.n, &k);
            jbuf_put(c, &b, v->s.s + k0, k - k0);
        }
        return str_of(&b);
    }
    while (i < v->s.n) {
        if ((count < 0 || done < count) && i + old->s.n <= v->s.n && !memcmp(v->s.s + i, old->s.s, old->s.n)) {
            jbuf_put(c, &b, new_->s.s, new_->s.n);
            i += old->s.n;
            done++;
        } else {
            jbuf_put(c, &b, v->s.s + i, 1);
            i++;
        }
    }
    return str_of(&b);
}

static int has_affix(const jv *v, const jv *a, int suffix) {
    if (a->k == JV_LIST) {
        for (size_t i = 0; i < a->l->n; i++)
            if (has_affix(v, &a->l->v[i], suffix)) return 1;
        return 0;
    }
    if (a->k != JV_STR || a->s.n > v->s.n) return 0;
    return !memcmp(v->s.s + (suffix ? v->s.n - a->s.n : 0), a->s.s, a->s.n);
}

static jv join(jctx *c, const jv *seq, const jv *sep, const jv *attr) {
    jlist *l = as_list(c, seq, "join");
    jbuf b = {0};
    for (size_t i = 0; i < l->n; i++) {
        if (i && sep->k == JV_STR) jbuf_put(c, &b, sep->s.s, sep->s.n);
        jv item = l->v[i];
        if (attr && attr->k == JV_STR && item.k == JV_DICT) {
            jv *a = jdict_get(item.d, attr->s.s, attr->s.n);
            item = a ? *a : jv_undef("attribute");
        }
        jv_to_str(c, &b, &item);
    }
    return str_of(&b);
}

/* ---- methods ---- */

typedef struct {
    const char *name;
    jfunc_fn fn;
} method;

#define METHOD(name) static jv m_##name(jctx *c, const jv *self, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw)

METHOD(strip) { return strip(c, self, n ? &args[0] : (nkw ? &kwv[0] : NULL), 1, 1); (void)kw; }
METHOD(lstrip) { return strip(c, self, n ? &args[0] : (nkw ? &kwv[0] : NULL), 1, 0); (void)kw; }
METHOD(rstrip) { return strip(c, self, n ? &args[0] : (nkw ? &kwv[0] : NULL), 0, 1); (void)kw; }
METHOD(split) {
    jv sep = arg(args, n, kw, kwv, nkw, 0, "sep", jv_none()), mx = arg(args, n, kw, kwv, nkw, 1, "maxsplit", jv_int(-1));
    return split(c, self, &sep, mx.k == JV_INT ? mx.i : -1);
}
METHOD(lower) { UNUSED_ARGS; return recase(c, self, 0); }
METHOD(upper) { UNUSED_ARGS; return recase(c, self, 1); }
METHOD(title) { UNUSED_ARGS; return recase(c, self, 2); }
METHOD(capitalize) { UNUSED_ARGS; return recase(c, self, 3); }
METHOD(startswith) {
    UNUSED_ARGS;
    if (n < 1) jerr(c, 0, "startswith needs an argument");
    return jv_bool(has_affix(self, &args[0], 0));
}
METHOD(endswith) {
    UNUSED_ARGS;
    if (n < 1) jerr(c, 0, "endswith needs an argument");
    return jv_bool(has_affix(self, &args[0], 1));
}
METHOD(replace) {
    if (n < 2) jerr(c, 0, "replace needs two arguments");
    jv cnt = arg(args, n, kw, kwv, nkw, 2, "count", jv_int(-1));
    return replace(c, self, &args[0], &args[1], cnt.k == JV_INT ? cnt.i : -1);
}
METHOD(join) {
    UNUSED_ARGS;
    if (n < 1) jerr(c, 0, "join needs an argument");
    return join(c, &args[0], self, NULL);
}
METHOD(find) {
    UNUSED_ARGS;
    if (n < 1 || args[0].k != JV_STR) jerr(c, 0, "find needs a string");
    for (size_t i = 0; i + args[0].s.n <= self->s.n; i++)
        if (!memcmp(self->s.s + i, args[0].s.s, args[0].s.n)) return jv_int((int64_t)ju_len(self->s.s, i));
    return jv_int(-1);
}
METHOD(count) {
    UNUSED_ARGS;
    if (n < 1) jerr(c, 0, "count needs an argument");
    int64_t k = 0;
    if (self->k == JV_STR) {
        need_str(c, &args[0], "count");
        if (!args[0].s.n) return jv_int((int64_t)ju_len(self->s.s, self->s.n) + 1);
        for (size_t i = 0; i + args[0].s.n <= self->s.n;)
            if (!memcmp(self->s.s + i, args[0].s.s, args[0].s.n)) k++, i += args[0].s.n;
            else i++;
    } else {
        for (size_t i = 0; i < self->l->n; i++) k += jv_equal(&self->l->v[i], &args[0]);
    }
    return jv_int(k);
}
METHOD(items) {
    UNUSED_ARGS;
    jlist *l = jlist_new(A(c));
    for (size_t i = 0; i < self->d->n; i++) {
        jlist *pair = jlist_new(A(c));
        pair->tuple = 1;
        jlist_push(A(c), pair, self->d->keys[i]);
        jlist_push(A(c), pair, self->d->vals[i]);
        jlist_push(A(c), l, (jv){.k = JV_LIST, .l = pair});
    }
    return (jv){.k = JV_LIST, .l = l};
}
METHOD(keys) {
    UNUSED_ARGS;
    jlist *l = jlist_new(A(c));
    for (size_t i = 0; i < self->d->n; i++) jlist_push(A(c), l, self->d->keys[i]);
    return (jv){.k = JV_LIST, .l = l};
}
METHOD(values) {
    UNUSED_ARGS;
    jlist *l = jlist_new(A(c));
    for (size_t i = 0; i < self->d->n; i++) jlist_push(A(c), l, self->d->vals[i]);
    return (jv){.k = JV_LIST, .l = l};
}
METHOD(get) {
    UNUSED_ARGS;
    if (n < 1) jerr(c, 0, "get needs a key");
    jv def = n > 1 ? args[1] : jv_none();
    jv *v = jdict_find(self->d, &args[0]);
    return v ? *v : def;
}

/* str.format: {} (numbered in order), {N} and {name} fields, {{ and }}; no format specs. */
METHOD(format) {
    jbuf b = {0};
    int auto_i = 0;
    const char *s = self->s.s;
    size_t len = self->s.n;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '{' && i + 1 < len && s[i + 1] == '{') {
            jbuf_put(c, &b, "{", 1), i++;
            continue;
        }
        if (s[i] == '}' && i + 1 < len && s[i + 1] == '}') {
            jbuf_put(c, &b, "}", 1), i++;
            continue;
        }
        if (s[i] != '{') {
            jbuf_put(c, &b, s + i, 1);
            continue;
        }
        size_t j = i + 1;
        while (j < len && s[j] != '}') j++;
        if (j >= len) jerr(c, 0, "str.format: '{' without '}'");
        const char *f = s + i + 1;
        size_t fl = j - i - 1;
        if (memchr(f, ':', fl) || memchr(f, '!', fl) || memchr(f, '.', fl) || memchr(f, '[', fl)) {
            jctx_set_code(c, CLLAMA_E_UNSUPPORTED);
            jerr(c, 0, "str.format: format specs and field lookups are not supported");
        }
        const jv *val = NULL;
        if (fl == 0) {
            if (auto_i >= n) jerr(c, 0, "str.format: not enough arguments");
            val = &args[auto_i++];
        } else if (f[0] >= '0' && f[0] <= '9') {
            int k = atoi(f);
            if (k >= n) jerr(c, 0, "str.format: no argument %d", k);
            val = &args[k];
        } else {
            for (int k = 0; k < nkw && !val; k++)
                if (strlen(kw[k]) == fl && !memcmp(kw[k], f, fl)) val = &kwv[k];
            if (!val) jerr(c, 0, "str.format: no argument named %.*s", (int)fl, f);
        }
        jv_to_str(c, &b, val);
        i = j;
    }
    return str_of(&b);
}

static const method str_methods[] = {
    {"format", m_format},
    {"strip", m_strip}, {"lstrip", m_lstrip}, {"rstrip", m_rstrip}, {"split", m_split}, {"lower", m_lower},
    {"upper", m_upper}, {"title", m_title}, {"capitalize", m_capitalize}, {"startswith", m_startswith},
    {"endswith", m_endswith}, {"replace", m_replace}, {"join", m_join}, {"find", m_find}, {"count", m_count},
};
static const method dict_methods[] = {{"items", m_items}, {"keys", m_keys}, {"values", m_values}, {"get", m_get}};
static const method list_methods[] = {{"count", m_count}};

jv cl_jinja_method(jctx *c, const jv *obj, const char *name) {
    const method *ms = NULL;
    size_t nm = 0;
    if (obj->k == JV_STR) ms = str_methods, nm = sizeof str_methods / sizeof *str_methods;
    else if (obj->k == JV_DICT && !obj->d->ns) ms = dict_methods, nm = sizeof dict_methods / sizeof *dict_methods;
    else if (obj->k == JV_LIST) ms = list_methods, nm = sizeof list_methods / sizeof *list_methods;
    for (size_t i = 0; i < nm; i++)
        if (!strcmp(ms[i].name, name)) {
            jfunc *f = ja_alloc(A(c), sizeof *f);
            f->name = ms[i].name;
            f->fn = ms[i].fn;
            f->self = *obj;
            return (jv){.k = JV_FUNC, .fn = f};
        }
    if (obj->k == JV_LIST && (!strcmp(name, "append") || !strcmp(name, "pop") || !strcmp(name, "extend") ||
                              !strcmp(name, "insert") || !strcmp(name, "remove") || !strcmp(name, "clear")))
        jerr(c, 0, "list.%s is not allowed: templates render in an immutable sandbox", name);
    return jv_undef(name);
}

/* ---- filters ---- */

FILTER(trim) { return strip(c, v, n ? &args[0] : (nkw ? &kwv[0] : NULL), 1, 1); (void)kw; }
FILTER(upper) {
    UNUSED_ARGS;
    jv s = jv_stringify(c, v);
    return recase(c, &s, 1);
}
FILTER(lower) {
    UNUSED_ARGS;
    jv s = jv_stringify(c, v);
    return recase(c, &s, 0);
}
FILTER(capitalize) {
    UNUSED_ARGS;
    jv s = jv_stringify(c, v);
    return recase(c, &s, 3);
}
FILTER(title) {
    UNUSED_ARGS;
    jv s = jv_stringify(c, v);
    return recase(c, &s, 4);
}
FILTER(string) { UNUSED_ARGS; return jv_stringify(c, v); }
FILTER(safe) { UNUSED_ARGS; return *v; }
FILTER(length) {
    UNUSED_ARGS;
    switch (v->k) {
    case JV_STR: return jv_int((int64_t)ju_len(v->s.s, v->s.n));
    case JV_LIST: return jv_int((int64_t)v->l->n);
    case JV_DICT: return jv_int((int64_t)v->d->n);
    case JV_UNDEF: return jv_int(0);
    default: jerr(c, 0, "length of a value without one");
    }
}
FILTER(list) { UNUSED_ARGS; return (jv){.k = JV_LIST, .l = as_list(c, v, "list")}; }
FILTER(first) {
    UNUSED_ARGS;
    jlist *l = as_list(c, v, "first");
    return l->n ? l->v[0] : jv_undef("first");
}
FILTER(last) {
    UNUSED_ARGS;
    jlist *l = as_list(c, v, "last");
    return l->n ? l->v[l->n - 1] : jv_undef("last");
}
FILTER(reverse) {
    UNUSED_ARGS;
    if (v->k == JV_STR) {
        jbuf b = {0};
        for (size_t i = v->s.n; i > 0;) {
            size_t j = i - 1;
            while (j > 0 && ((unsigned char)v->s.s[j] & 0xC0) == 0x80) j--;
            jbuf_put(c, &b, v->s.s + j, i - j);
            i = j;
        }
        return str_of(&b);
    }
    jlist *l = as_list(c, v, "reverse"), *r = jlist_new(A(c));
    for (size_t i = l->n; i > 0; i--) jlist_push(A(c), r, l->v[i - 1]);
    return (jv){.k = JV_LIST, .l = r};
}
FILTER(join) {
    jv sep = arg(args, n, kw, kwv, nkw, 0, "d", jv_cstr("")), attr = arg(args, n, kw, kwv, nkw, 1, "attribute", jv_none());
    return join(c, v, &sep, &attr);
}
FILTER(replace) {
    if (n < 2) jerr(c, 0, "replace needs two arguments");
    jv cnt = arg(args, n, kw, kwv, nkw, 2, "count", jv_int(-1));
    jv s = jv_stringify(c, v);
    return replace(c, &s, &args[0], &args[1], cnt.k == JV_INT ? cnt.i : -1);
}
FILTER(default) {
    jv d = arg(args, n, kw, kwv, nkw, 0, "default_value", jv_cstr("")), b = arg(args, n, kw, kwv, nkw, 1, "boolean", jv_bool(0));
    if (v->k == JV_UNDEF || (jv_truthy(&b) && !jv_truthy(v))) return d;
    return *v;
}
FILTER(tojson) {
    jv ind = arg(args, n, kw, kwv, nkw, 0, "indent", jv_none()), seps = arg(args, n, kw, kwv, nkw, 1, "separators", jv_none());
    jv sk = arg(args, n, kw, kwv, nkw, 2, "sort_keys", jv_bool(0));
    json_style st = {NULL, ", ", ": ", jv_truthy(&sk)};
    if (ind.k == JV_INT) {
        char *sp = ja_alloc(A(c), (size_t)(ind.i > 0 ? ind.i : 0) + 1);
        for (int64_t i = 0; i < ind.i && i < 64; i++) sp[i] = ' ';
        st.indent = sp;
        st.item_sep = ",";
    } else if (ind.k == JV_STR) {
        st.indent = ja_strndup(A(c), ind.s.s, ind.s.n);
        st.item_sep = ",";
    }
    if (seps.k == JV_LIST && seps.l->n == 2 && seps.l->v[0].k == JV_STR && seps.l->v[1].k == JV_STR) {
        st.item_sep = ja_strndup(A(c), seps.l->v[0].s.s, seps.l->v[0].s.n);
        st.key_sep = ja_strndup(A(c), seps.l->v[1].s.s, seps.l->v[1].s.n);
    }
    jbuf b = {0};
    to_json(c, &b, v, &st, 0);
    return str_of(&b);
}
FILTER(items) {
    UNUSED_ARGS;
    if (v->k == JV_UNDEF) return (jv){.k = JV_LIST, .l = jlist_new(A(c))};
    if (v->k != JV_DICT) jerr(c, 0, "items expects a mapping");
    return m_items(c, v, NULL, 0, NULL, NULL, 0);
}
FILTER(int) {
    jv d = arg(args, n, kw, kwv, nkw, 0, "default", jv_int(0));
    if (v->k == JV_INT) return *v;
    if (v->k == JV_BOOL) return jv_int(v->b);
    if (v->k == JV_FLOAT) return isfinite(v->f) ? jv_int((int64_t)v->f) : d;
    if (v->k == JV_STR) {
        char tmp[64];
        size_t k = v->s.n < sizeof tmp - 1 ? v->s.n : sizeof tmp - 1;
        memcpy(tmp, v->s.s, k);
        tmp[k] = 0;
        char *end;
        double f = strtod(tmp, &end);
        while (*end && cp_space((unsigned char)*end)) end++;
        if (end != tmp && !*end && isfinite(f)) return jv_int((int64_t)f);
    }
    return d;
}
FILTER(float) {
    jv d = arg(args, n, kw, kwv, nkw, 0, "default", (jv){.k = JV_FLOAT, .f = 0});
    if (v->k == JV_INT || v->k == JV_BOOL) return (jv){.k = JV_FLOAT, .f = v->k == JV_INT ? (double)v->i : v->b};
    if (v->k == JV_FLOAT) return *v;
    if (v->k == JV_STR) {
        char tmp[64];
        size_t k = v->s.n < sizeof tmp - 1 ? v->s.n : sizeof tmp - 1;
        memcpy(tmp, v->s.s, k);
        tmp[k] = 0;
        char *end;
        double f = strtod(tmp, &end);
        if (end != tmp && !*end) return (jv){.k = JV_FLOAT, .f = f};
    }
    return d;
}
FILTER(abs) {
    UNUSED_ARGS;
    if (v->k == JV_INT) return jv_int(v->i < 0 ? -v->i : v->i);
    if (v->k == JV_FLOAT) return (jv){.k = JV_FLOAT, .f = fabs(v->f)};
    jerr(c, 0, "abs of a non-number");
}
FILTER(round) {
    jv prec = arg(args, n, kw, kwv, nkw, 0, "precision", jv_int(0)), method = arg(args, n, kw, kwv, nkw, 1, "method", jv_cstr("common"));
    if (v->k != JV_INT && v->k != JV_FLOAT) jerr(c, 0, "round of a non-number");
    double x = v->k == JV_INT ? (double)v->i : v->f, m = pow(10, prec.k == JV_INT ? (double)prec.i : 0);
    const char *how = method.k == JV_STR ? method.s.s : "common";
    double r = !strncmp(how, "floor", 5) ? floor(x * m) / m : !strncmp(how, "ceil", 4) ? ceil(x * m) / m : round(x * m) / m;
    return (jv){.k = JV_FLOAT, .f = r};
}

/* The attribute or item `attr` (dotted: a.b) of v. */
static jv attr_of(jctx *c, const jv *v, const jv *attr) {
    jv cur = *v;
    if (attr->k == JV_INT) {
        if (cur.k == JV_LIST && attr->i >= 0 && (size_t)attr->i < cur.l->n) return cur.l->v[attr->i];
        return jv_undef("item");
    }
    const char *s = need_str(c, attr, "attribute");
    size_t n = attr->s.n;
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && s[j] != '.') j++;
        if (cur.k != JV_DICT) return jv_undef("attribute");
        jv *x = jdict_get(cur.d, s + i, j - i);
        if (!x) return jv_undef("attribute");
        cur = *x;
        i = j + 1;
    }
    return cur;
}

FILTER(attr) {
    UNUSED_ARGS;
    if (n < 1) jerr(c, 0, "attr needs a name");
    return attr_of(c, v, &args[0]);
}

/* select/reject/selectattr/rejectattr: the items for which the test (truthiness if
 * none) holds, or fails. */
static jv select_items(jctx *c, const jv *v, const jv *args, int n, int by_attr, int keep) {
    /* jinja2 walks the value only if it is truthy: none selects nothing */
    jlist *l = jv_truthy(v) ? as_list(c, v, "select") : jlist_new(A(c)), *out = jlist_new(A(c));
    int k = 0;
    jv attr = jv_none();
    if (by_attr) {
        if (n < 1) jerr(c, 0, "selectattr needs an attribute");
        attr = args[k++];
    }
    jtest_fn t = NULL;
    if (k < n) {
        const char *tn = need_str(c, &args[k], "select test");
        if (!(t = cl_jinja_test(tn))) jctx_set_code(c, CLLAMA_E_UNSUPPORTED), jerr(c, 0, "the '%s' test is not supported", tn);
        k++;
    }
    for (size_t i = 0; i < l->n; i++) {
        jv x = by_attr ? attr_of(c, &l->v[i], &attr) : l->v[i];
        int ok = t ? t(c, &x, args + k, n - k) : jv_truthy(&x);
        if (ok == keep) jlist_push(A(c), out, l->v[i]);
    }
    return (jv){.k = JV_LIST, .l = out};
}
FILTER(select) { (void)kw, (void)kwv, (void)nkw; return select_items(c, v, args, n, 0, 1); }
FILTER(reject) { (void)kw, (void)kwv, (void)nkw; return select_items(c, v, args, n, 0, 0); }
FILTER(selectattr) { (void)kw, (void)kwv, (void)nkw; return select_items(c, v, args, n, 1, 1); }
FILTER(rejectattr) { (void)kw, (void)kwv, (void)nkw; return select_items(c, v, args, n, 1, 0); }

FILTER(map) {
    jlist *l = jv_truthy(v) ? as_list(c, v, "map") : jlist_new(A(c)), *out = jlist_new(A(c));
    jv attr = arg(args, 0, kw, kwv, nkw, 0, "attribute", jv_undef("attribute"));
    jv def = arg(args, 0, kw, kwv, nkw, 0, "default", jv_undef("default"));
    jfilter_fn f = NULL;
    if (attr.k == JV_UNDEF) {
        if (n < 1) jerr(c, 0, "map needs a filter name or attribute=");
        const char *fn = need_str(c, &args[0], "map filter");
        if (!(f = cl_jinja_filter(fn))) jctx_set_code(c, CLLAMA_E_UNSUPPORTED), jerr(c, 0, "the '%s' filter is not supported", fn);
    }
    for (size_t i = 0; i < l->n; i++) {
        jv x;
        if (f) x = f(c, &l->v[i], args + 1, n - 1, NULL, NULL, 0);
        else {
            x = attr_of(c, &l->v[i], &attr);
            if (x.k == JV_UNDEF && def.k != JV_UNDEF) x = def;
        }
        jlist_push(A(c), out, x);
    }
    return (jv){.k = JV_LIST, .l = out};
}

static const jv *sort_attr;
static jctx *sort_ctx;
static int sort_cmp(const void *x, const void *y) {
    jv a = *(const jv *)x, b = *(const jv *)y;
    if (sort_attr) a = attr_of(sort_ctx, &a, sort_attr), b = attr_of(sort_ctx, &b, sort_attr);
    int na = a.k == JV_INT || a.k == JV_FLOAT || a.k == JV_BOOL, nb = b.k == JV_INT || b.k == JV_FLOAT || b.k == JV_BOOL;
    if (na && nb) {
        double p = a.k == JV_FLOAT ? a.f : a.k == JV_INT ? (double)a.i : a.b, q = b.k == JV_FLOAT ? b.f : b.k == JV_INT ? (double)b.i : b.b;
        return p < q ? -1 : p > q;
    }
    if (a.k == JV_STR && b.k == JV_STR) { /* jinja2 sorts strings case-insensitively by default */
        jv la = recase(sort_ctx, &a, 0), lb = recase(sort_ctx, &b, 0);
        size_t n = la.s.n < lb.s.n ? la.s.n : lb.s.n;
        int r = memcmp(la.s.s, lb.s.s, n);
        return r ? r : (la.s.n > lb.s.n) - (la.s.n < lb.s.n);
    }
    jerr(sort_ctx, 0, "sort: values that do not compare");
}
FILTER(sort) {
    jv rev = arg(args, n, kw, kwv, nkw, 0, "reverse", jv_bool(0)), attr = arg(args, n, kw, kwv, nkw, 2, "attribute", jv_none());
    jlist *l = as_list(c, v, "sort"), *out = jlist_new(A(c));
    for (size_t i = 0; i < l->n; i++) jlist_push(A(c), out, l->v[i]);
    sort_ctx = c;
    sort_attr = attr.k == JV_NONE ? NULL : &attr;
    /* a stable insertion sort (Python's sort is stable; lists in templates are short) */
    for (size_t i = 1; i < out->n; i++) {
        jv x = out->v[i];
        size_t j = i;
        while (j > 0 && sort_cmp(&out->v[j - 1], &x) > 0) out->v[j] = out->v[j - 1], j--;
        out->v[j] = x;
    }
    if (jv_truthy(&rev))
        for (size_t i = 0; i < out->n / 2; i++) {
            jv t = out->v[i];
            out->v[i] = out->v[out->n - 1 - i];
            out->v[out->n - 1 - i] = t;
        }
    return (jv){.k = JV_LIST, .l = out};
}
FILTER(unique) {
    UNUSED_ARGS;
    jlist *l = as_list(c, v, "unique"), *out = jlist_new(A(c));
    for (size_t i = 0; i < l->n; i++) {
        int seen = 0;
        for (size_t k = 0; k < out->n && !seen; k++) seen = jv_equal(&out->v[k], &l->v[i]);
        if (!seen) jlist_push(A(c), out, l->v[i]);
    }
    return (jv){.k = JV_LIST, .l = out};
}
FILTER(sum) {
    UNUSED_ARGS;
    jlist *l = as_list(c, v, "sum");
    int64_t si = 0;
    double sf = 0;
    int flt = 0;
    for (size_t i = 0; i < l->n; i++) {
        const jv *x = &l->v[i];
        if (x->k == JV_FLOAT) flt = 1, sf += x->f;
        else if (x->k == JV_INT) si += x->i, sf += (double)x->i;
        else jerr(c, 0, "sum of non-numbers");
    }
    return flt ? (jv){.k = JV_FLOAT, .f = sf} : jv_int(si);
}
FILTER(wordcount) {
    UNUSED_ARGS;
    jv s = jv_stringify(c, v), w = split(c, &s, NULL, -1);
    return jv_int((int64_t)w.l->n);
}
FILTER(indent) {
    jv width = arg(args, n, kw, kwv, nkw, 0, "width", jv_int(4)), first = arg(args, n, kw, kwv, nkw, 1, "first", jv_bool(0)),
       blank = arg(args, n, kw, kwv, nkw, 2, "blank", jv_bool(0));
    jv s = jv_stringify(c, v);
    jbuf pad = {0}, b = {0};
    if (width.k == JV_STR) jbuf_put(c, &pad, width.s.s, width.s.n);
    else
        for (int64_t i = 0; width.k == JV_INT && i < width.i && i < 256; i++) jbuf_put(c, &pad, " ", 1);
    size_t i = 0;
    int line0 = 1;
    while (i <= s.s.n) {
        size_t j = i;
        while (j < s.s.n && s.s.s[j] != '\n') j++;
        int empty = j == i;
        if ((line0 ? jv_truthy(&first) : 1) && (!empty || jv_truthy(&blank))) jbuf_put(c, &b, pad.p, pad.n);
        jbuf_put(c, &b, s.s.s + i, j - i);
        if (j < s.s.n) jbuf_put(c, &b, "\n", 1);
        line0 = 0;
        i = j + 1;
    }
    return str_of(&b);
}
FILTER(escape) {
    UNUSED_ARGS;
    jv s = jv_stringify(c, v);
    jbuf b = {0};
    for (size_t i = 0; i < s.s.n; i++) {
        char ch = s.s.s[i];
        const char *r = ch == '&' ? "&amp;" : ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '"' ? "&#34;" : ch == '\'' ? "&#39;" : NULL;
        if (r) jbuf_put(c, &b, r, strlen(r));
        else jbuf_put(c, &b, &ch, 1);
    }
    return str_of(&b);
}
FILTER(dictsort) {
    UNUSED_ARGS;
    if (v->k != JV_DICT) jerr(c, 0, "dictsort expects a mapping");
    jv items = m_items(c, v, NULL, 0, NULL, NULL, 0), zero = jv_int(0);
    jv a2[] = {jv_none(), jv_none(), zero};
    const char *k2[] = {"attribute"};
    (void)a2;
    return f_sort(c, &items, NULL, 0, k2, &zero, 1);
}
/* Python's printf-style formatting for %s, %d, %i, %r and %%. */
FILTER(format) {
    (void)kw, (void)kwv, (void)nkw;
    jv s = jv_stringify(c, v);
    jbuf b = {0};
    int k = 0;
    for (size_t i = 0; i < s.s.n; i++) {
        if (s.s.s[i] != '%' || i + 1 >= s.s.n) {
            jbuf_put(c, &b, s.s.s + i, 1);
            continue;
        }
        char f = s.s.s[++i];
        if (f == '%') jbuf_put(c, &b, "%", 1);
        else if (f == 's' || f == 'd' || f == 'i' || f == 'r') {
            if (k >= n) jerr(c, 0, "format: not enough arguments");
            if (f == 'r') jv_repr(c, &b, &args[k++]);
            else jv_to_str(c, &b, &args[k++]);
        } else {
            jctx_set_code(c, CLLAMA_E_UNSUPPORTED);
            jerr(c, 0, "format: the %%%c conversion is not supported", f);
        }
    }
    return str_of(&b);
}

static const struct {
    const char *name;
    jfilter_fn fn;
} filters[] = {
    {"trim", f_trim}, {"upper", f_upper}, {"lower", f_lower}, {"capitalize", f_capitalize}, {"title", f_title},
    {"string", f_string}, {"safe", f_safe}, {"length", f_length}, {"count", f_length}, {"list", f_list},
    {"first", f_first}, {"last", f_last}, {"reverse", f_reverse}, {"join", f_join}, {"replace", f_replace},
    {"default", f_default}, {"d", f_default}, {"tojson", f_tojson}, {"items", f_items}, {"int", f_int},
    {"float", f_float}, {"abs", f_abs}, {"round", f_round}, {"attr", f_attr}, {"select", f_select},
    {"reject", f_reject}, {"selectattr", f_selectattr}, {"rejectattr", f_rejectattr}, {"map", f_map},
    {"sort", f_sort}, {"unique", f_unique}, {"sum", f_sum}, {"wordcount", f_wordcount}, {"indent", f_indent},
    {"escape", f_escape}, {"e", f_escape}, {"dictsort", f_dictsort}, {"format", f_format},
};

jfilter_fn cl_jinja_filter(const char *name) {
    for (size_t i = 0; i < sizeof filters / sizeof *filters; i++)
        if (!strcmp(filters[i].name, name)) return filters[i].fn;
    return NULL;
}

/* ---- tests ---- */

#define TEST(name) static int t_##name(jctx *c, const jv *v, const jv *args, int n)
#define NOARGS (void)c, (void)args, (void)n

TEST(defined) { NOARGS; return v->k != JV_UNDEF; }
TEST(undefined) { NOARGS; return v->k == JV_UNDEF; }
TEST(none) { NOARGS; return v->k == JV_NONE; }
TEST(string) { NOARGS; return v->k == JV_STR; }
TEST(number) { NOARGS; return v->k == JV_INT || v->k == JV_FLOAT; }
TEST(integer) { NOARGS; return v->k == JV_INT; }
TEST(float) { NOARGS; return v->k == JV_FLOAT; }
TEST(boolean) { NOARGS; return v->k == JV_BOOL; }
TEST(true) { NOARGS; return v->k == JV_BOOL && v->b; }
TEST(false) { NOARGS; return v->k == JV_BOOL && !v->b; }
TEST(mapping) { NOARGS; return v->k == JV_DICT; }
TEST(sequence) { NOARGS; return v->k == JV_LIST || v->k == JV_STR || v->k == JV_DICT; }
TEST(iterable) { NOARGS; return v->k == JV_LIST || v->k == JV_STR || v->k == JV_DICT; }
TEST(callable) { NOARGS; return v->k == JV_FUNC; }
TEST(odd) { NOARGS; return v->k == JV_INT && (v->i % 2 != 0); }
TEST(even) { NOARGS; return v->k == JV_INT && v->i % 2 == 0; }
TEST(lower) {
    NOARGS;
    if (v->k != JV_STR) return 0;
    jv l = recase(c, v, 0);
    return l.s.n == v->s.n && !memcmp(l.s.s, v->s.s, l.s.n);
}
TEST(upper) {
    NOARGS;
    if (v->k != JV_STR) return 0;
    jv u = recase(c, v, 1);
    return u.s.n == v->s.n && !memcmp(u.s.s, v->s.s, u.s.n);
}
static const jv *one_arg(jctx *c, const jv *args, int n, const char *test) {
    if (n < 1) jerr(c, 0, "the '%s' test needs an argument", test);
    return &args[0];
}
TEST(eq) { return jv_equal(v, one_arg(c, args, n, "eq")); }
TEST(ne) { return !jv_equal(v, one_arg(c, args, n, "ne")); }
TEST(sameas) {
    const jv *o = one_arg(c, args, n, "sameas");
    return v->k == o->k && (v->k == JV_NONE || v->k == JV_UNDEF || (v->k == JV_BOOL && v->b == o->b));
}
TEST(divisibleby) {
    const jv *d = one_arg(c, args, n, "divisibleby");
    if (v->k != JV_INT || d->k != JV_INT || d->i == 0) jerr(c, 0, "divisibleby needs integers");
    return v->i % d->i == 0;
}
static int cmp_num(jctx *c, const jv *a, const jv *b) {
    double x = a->k == JV_INT ? (double)a->i : a->f, y = b->k == JV_INT ? (double)b->i : b->f;
    if ((a->k != JV_INT && a->k != JV_FLOAT) || (b->k != JV_INT && b->k != JV_FLOAT)) jerr(c, 0, "comparison test of non-numbers");
    return x < y ? -1 : x > y;
}
TEST(lt) { return cmp_num(c, v, one_arg(c, args, n, "lt")) < 0; }
TEST(le) { return cmp_num(c, v, one_arg(c, args, n, "le")) <= 0; }
TEST(gt) { return cmp_num(c, v, one_arg(c, args, n, "gt")) > 0; }
TEST(ge) { return cmp_num(c, v, one_arg(c, args, n, "ge")) >= 0; }
TEST(in) {
    const jv *h = one_arg(c, args, n, "in");
    if (h->k == JV_LIST) {
        for (size_t i = 0; i < h->l->n; i++)
            if (jv_equal(&h->l->v[i], v)) return 1;
        return 0;
    }
    if (h->k == JV_DICT) return v->k == JV_STR && jdict_get(h->d, v->s.s, v->s.n) != NULL;
    if (h->k == JV_STR && v->k == JV_STR) return memmem(h->s.s, h->s.n, v->s.s, v->s.n) != NULL || !v->s.n;
    return 0;
}

static const struct {
    const char *name;
    jtest_fn fn;
} tests[] = {
    {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none}, {"string", t_string},
    {"number", t_number}, {"integer", t_integer}, {"float", t_float}, {"boolean", t_boolean},
    {"true", t_true}, {"false", t_false}, {"mapping", t_mapping}, {"sequence", t_sequence},
    {"iterable", t_iterable}, {"callable", t_callable}, {"odd", t_odd}, {"even", t_even},
    {"lower", t_lower}, {"upper", t_upper}, {"eq", t_eq}, {"equalto", t_eq}, {"==", t_eq},
    {"ne", t_ne}, {"!=", t_ne}, {"sameas", t_sameas}, {"divisibleby", t_divisibleby}, {"lt", t_lt},
    {"lessthan", t_lt}, {"le", t_le}, {"gt", t_gt}, {"greaterthan", t_gt}, {"ge", t_ge}, {"in", t_in},
};

jtest_fn cl_jinja_test(const char *name) {
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++)
        if (!strcmp(tests[i].name, name)) return tests[i].fn;
    return NULL;
}

/* ---- globals ---- */

static jv g_raise_exception(jctx *c, const jv *self, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw) {
    (void)self, (void)kw, (void)kwv, (void)nkw;
    jbuf b = {0};
    if (n) jv_to_str(c, &b, &args[0]);
    jerr(c, 0, "the template raised an exception: %.*s", (int)(b.n < 300 ? b.n : 300), b.p ? b.p : "");
}

static jv g_namespace(jctx *c, const jv *self, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw) {
    (void)self;
    jdict *d = jdict_new(A(c));
    d->ns = 1;
    for (int i = 0; i < n; i++) /* namespace(a_dict) */
        if (args[i].k == JV_DICT)
            for (size_t k = 0; k < args[i].d->n; k++) jdict_set(A(c), d, args[i].d->keys[k], args[i].d->vals[k]);
    for (int i = 0; i < nkw; i++) jdict_set(A(c), d, jv_cstr(kw[i]), kwv[i]);
    return (jv){.k = JV_DICT, .d = d};
}

static jv g_dict(jctx *c, const jv *self, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw) {
    jv d = g_namespace(c, self, args, n, kw, kwv, nkw);
    d.d->ns = 0;
    return d;
}

static jv g_range(jctx *c, const jv *self, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw) {
    (void)self, (void)kw, (void)kwv, (void)nkw;
    int64_t a = 0, b = 0, st = 1;
    for (int i = 0; i < n; i++)
        if (args[i].k != JV_INT) jerr(c, 0, "range expects integers");
    if (n == 1) b = args[0].i;
    else if (n >= 2) a = args[0].i, b = args[1].i, st = n > 2 ? args[2].i : 1;
    else jerr(c, 0, "range expects 1 to 3 arguments");
    if (st == 0) jerr(c, 0, "range step cannot be zero");
    jlist *l = jlist_new(A(c));
    for (int64_t i = a; st > 0 ? i < b : i > b; i += st) {
        if (l->n >= 1000000) jerr(c, 0, "range too long");
        jlist_push(A(c), l, jv_int(i));
    }
    return (jv){.k = JV_LIST, .l = l};
}

/* strftime_now(format): the render's clock (UTC) through strftime. */
static jv g_strftime_now(jctx *c, const jv *self, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw) {
    (void)self, (void)kw, (void)kwv, (void)nkw;
    if (n < 1 || args[0].k != JV_STR) jerr(c, 0, "strftime_now expects a format string");
    char fmt[128], out[256];
    size_t k = args[0].s.n < sizeof fmt - 1 ? args[0].s.n : sizeof fmt - 1;
    memcpy(fmt, args[0].s.s, k);
    fmt[k] = 0;
    time_t t = (time_t)jctx_now(c);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t w = strftime(out, sizeof out, fmt, &tm);
    return jv_str(A(c), out, w);
}

static const jfunc globals[] = {
    {"raise_exception", g_raise_exception, {0}, NULL}, {"namespace", g_namespace, {0}, NULL},
    {"dict", g_dict, {0}, NULL}, {"range", g_range, {0}, NULL}, {"strftime_now", g_strftime_now, {0}, NULL},
};

jv cl_jinja_global(const char *name) {
    for (size_t i = 0; i < sizeof globals / sizeof *globals; i++)
        if (!strcmp(globals[i].name, name)) return (jv){.k = JV_FUNC, .fn = &globals[i]};
    return jv_undef(name);
}
