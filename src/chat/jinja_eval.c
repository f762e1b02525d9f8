/* Jinja evaluation: the tree of jinja_parse.c against variables, with jinja2's
 * scoping (a for loop's body gets a fresh scope every iteration, so `set` inside a
 * loop is gone after it: templates carry state in namespace() objects; if blocks
 * share their scope; a macro runs in a scope of its own over the template's). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja.h"
#include "error.h"

#define MAX_OUTPUT ((size_t)64 << 20) /* bytes a render may produce */
#define MAX_STEPS 50000000L           /* nodes evaluated: bounds loops a template could make endless */
#define MAX_DEPTH 200                 /* nested statements and macro calls */

/* ---- arena ---- */

typedef struct jblock {
    struct jblock *next;
    size_t used, cap;
    _Alignas(16) char data[];
} jblock;

struct jarena {
    jblock *head;
    jmp_buf *fail; /* where running out of memory unwinds to */
    size_t total;
};

jarena *ja_new(void) { return calloc(1, sizeof(jarena)); }

void ja_free(jarena *a) {
    if (!a) return;
    for (jblock *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(a);
}

void ja_on_fail(jarena *a, jmp_buf *jb) { a->fail = jb; }

void *ja_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        jblock *b = a->total + cap > ((size_t)1 << 30) ? NULL : malloc(sizeof *b + cap);
        if (!b) longjmp(*a->fail, 2);
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
        a->total += cap;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

char *ja_strndup(jarena *a, const char *s, size_t n) {
    char *d = ja_alloc(a, n + 1);
    memcpy(d, s, n);
    return d;
}

/* ---- values ---- */

jv jv_str(jarena *a, const char *s, size_t n) { return (jv){.k = JV_STR, .s = {ja_strndup(a, s, n), n}}; }
jv jv_cstr(const char *s) { return (jv){.k = JV_STR, .s = {s, strlen(s)}}; }
jv jv_int(int64_t i) { return (jv){.k = JV_INT, .i = i}; }
jv jv_bool(int b) { return (jv){.k = JV_BOOL, .b = !!b}; }
jv jv_none(void) { return (jv){.k = JV_NONE}; }
jv jv_undef(const char *name) { return (jv){.k = JV_UNDEF, .name = name}; }

jlist *jlist_new(jarena *a) { return ja_alloc(a, sizeof(jlist)); }

void jlist_push(jarena *a, jlist *l, jv v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        jv *nv = ja_alloc(a, cap * sizeof *nv);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

jdict *jdict_new(jarena *a) { return ja_alloc(a, sizeof(jdict)); }

jv *jdict_get(jdict *d, const char *key, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].k == JV_STR && d->keys[i].s.n == n && !memcmp(d->keys[i].s.s, key, n)) return &d->vals[i];
    return NULL;
}

jv *jdict_find(jdict *d, const jv *key) {
    if (key->k == JV_STR) return jdict_get(d, key->s.s, key->s.n);
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].k != JV_STR && jv_equal(&d->keys[i], key)) return &d->vals[i];
    return NULL;
}

void jdict_set(jarena *a, jdict *d, jv key, jv val) {
    jv *old = jdict_find(d, &key);
    if (old) {
        *old = val;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        jv *nk = ja_alloc(a, cap * sizeof *nk), *nv = ja_alloc(a, cap * sizeof *nv);
        if (d->n) {
            memcpy(nk, d->keys, d->n * sizeof *nk);
            memcpy(nv, d->vals, d->n * sizeof *nv);
        }
        d->keys = nk;
        d->vals = nv;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n++] = val;
}

/* ---- context ---- */

typedef struct scope {
    struct scope *parent;
    jdict *vars;
} scope;

struct jctx {
    jarena *a;
    jmp_buf fail;
    int code;
    char msg[512];
    jbuf out;
    scope *sc;
    scope *top;    /* the template's own scope: macros run over it */
    const jglobal *vars;
    int n_vars;
    int64_t now;
    long steps;
    int depth;
    int line;
    int loop_ctl;  /* 1 break, 2 continue, pending */
};

jarena *jctx_arena(jctx *c) { return c->a; }
int jctx_line(const jctx *c) { return c->line; }
int64_t jctx_now(const jctx *c) { return c->now; }

_Noreturn void jerr(jctx *c, int line, const char *fmt, ...) {
    va_list ap;
    int k = snprintf(c->msg, sizeof c->msg, "chat template line %d: ", line ? line : c->line);
    va_start(ap, fmt);
    if (k >= 0 && (size_t)k < sizeof c->msg) vsnprintf(c->msg + k, sizeof c->msg - (size_t)k, fmt, ap);
    va_end(ap);
    longjmp(c->fail, 1);
}

void jbuf_put(jctx *c, jbuf *b, const char *s, size_t n) {
    if (!n) return;
    if (b->n + n + 1 > b->cap) {
        if (b->n + n > MAX_OUTPUT) jerr(c, 0, "output exceeds %zu bytes", MAX_OUTPUT);
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = ja_alloc(c->a, cap);
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void tick(jctx *c, int line) {
    c->line = line;
    if (++c->steps > MAX_STEPS) jerr(c, line, "template runs too long (over %ld steps)", MAX_STEPS);
}

static jv lookup(jctx *c, const char *name) {
    size_t n = strlen(name);
    for (scope *s = c->sc; s; s = s->parent) {
        jv *v = jdict_get(s->vars, name, n);
        if (v) return *v;
    }
    for (int i = 0; i < c->n_vars; i++)
        if (!strcmp(c->vars[i].name, name)) return c->vars[i].value;
    jv g = cl_jinja_global(name);
    return g.k == JV_UNDEF ? jv_undef(name) : g;
}

static void assign(jctx *c, const char *name, jv v) { jdict_set(c->a, c->sc->vars, jv_cstr(name), v); }

static scope *push_scope(jctx *c, scope *parent) {
    scope *s = ja_alloc(c->a, sizeof *s);
    s->parent = parent;
    s->vars = jdict_new(c->a);
    return s;
}

int jv_truthy(const jv *v) {
    switch (v->k) {
    case JV_BOOL: return v->b;
    case JV_INT: return v->i != 0;
    case JV_FLOAT: return v->f != 0;
    case JV_STR: return v->s.n > 0;
    case JV_LIST: return v->l->n > 0;
    case JV_DICT: return v->d->n > 0 || v->d->ns;
    case JV_FUNC: return 1;
    default: return 0;
    }
}

int jv_equal(const jv *a, const jv *b) {
    int na = a->k == JV_INT || a->k == JV_FLOAT || a->k == JV_BOOL, nb = b->k == JV_INT || b->k == JV_FLOAT || b->k == JV_BOOL;
    if (na && nb) {
        double x = a->k == JV_FLOAT ? a->f : a->k == JV_INT ? (double)a->i : a->b;
        double y = b->k == JV_FLOAT ? b->f : b->k == JV_INT ? (double)b->i : b->b;
        if (a->k != JV_FLOAT && b->k != JV_FLOAT) return (a->k == JV_INT ? a->i : a->b) == (b->k == JV_INT ? b->i : b->b);
        return x == y;
    }
    if (a->k != b->k) return 0;
    switch (a->k) {
    case JV_NONE:
    case JV_UNDEF: return 1;
    case JV_STR: return a->s.n == b->s.n && !memcmp(a->s.s, b->s.s, a->s.n);
    case JV_LIST:
        if (a->l->n != b->l->n) return 0;
        for (size_t i = 0; i < a->l->n; i++)
            if (!jv_equal(&a->l->v[i], &b->l->v[i])) return 0;
        return 1;
    case JV_DICT:
        if (a->d->n != b->d->n) return 0;
        for (size_t i = 0; i < a->d->n; i++) {
            jv *o = jdict_find(b->d, &a->d->keys[i]);
            if (!o || !jv_equal(&a->d->vals[i], o)) return 0;
        }
        return 1;
    default: return a->fn == b->fn;
    }
}

static const char *type_name(const jv *v) {
    static const char *names[] = {"undefined", "NoneType", "bool", "int", "float", "str", "list", "dict", "function"};
    if (v->k == JV_LIST && v->l->tuple) return "tuple";
    return names[v->k];
}

/* Attribute (x.name) and item (x[key]) access: jinja2 tries both, so a dict's key is
 * also its attribute; a missing one is undefined. */
static jv get_attr(jctx *c, const jv *obj, const char *name, int line) {
    if (obj->k == JV_UNDEF) jerr(c, line, "'%s' is undefined", obj->name ? obj->name : "value");
    if (obj->k == JV_DICT) {
        jv *v = jdict_get(obj->d, name, strlen(name));
        if (v) return *v;
    }
    jv m = cl_jinja_method(c, obj, name);
    if (m.k != JV_UNDEF) return m;
    return jv_undef(name);
}

static int64_t norm_index(jctx *c, int64_t i, int64_t n, int line) {
    (void)c;
    (void)line;
    return i < 0 ? i + n : i;
}

static jv get_item(jctx *c, const jv *obj, const jv *key, int line) {
    if (obj->k == JV_UNDEF) jerr(c, line, "'%s' is undefined", obj->name ? obj->name : "value");
    if (obj->k == JV_DICT) {
        jv *v = jdict_find(obj->d, key);
        return v ? *v : jv_undef("item");
    }
    if ((obj->k == JV_LIST || obj->k == JV_STR) && (key->k == JV_INT || key->k == JV_BOOL)) {
        int64_t n = obj->k == JV_LIST ? (int64_t)obj->l->n : (int64_t)ju_len(obj->s.s, obj->s.n);
        int64_t i = norm_index(c, key->k == JV_INT ? key->i : key->b, n, line);
        if (i < 0 || i >= n) return jv_undef("item");
        if (obj->k == JV_LIST) return obj->l->v[i];
        size_t o0 = ju_offset(obj->s.s, obj->s.n, (size_t)i), o1 = ju_offset(obj->s.s, obj->s.n, (size_t)i + 1);
        return (jv){.k = JV_STR, .s = {obj->s.s + o0, o1 - o0}};
    }
    if (key->k == JV_STR) return get_attr(c, obj, ja_strndup(c->a, key->s.s, key->s.n), line);
    jerr(c, line, "cannot index a %s with a %s", type_name(obj), type_name(key));
}

static int64_t slice_arg(jctx *c, const jv *v, int64_t def, int line) {
    if (v->k == JV_NONE || v->k == JV_UNDEF) return def;
    if (v->k != JV_INT) jerr(c, line, "slice indices must be integers");
    return v->i;
}

/* Python's slice semantics for lists and (by code point) strings. */
static jv slice(jctx *c, const jv *obj, const jv *lo, const jv *hi, const jv *st, int line) {
    if (obj->k != JV_LIST && obj->k != JV_STR) jerr(c, line, "cannot slice a %s", type_name(obj));
    int64_t n = obj->k == JV_LIST ? (int64_t)obj->l->n : (int64_t)ju_len(obj->s.s, obj->s.n);
    int64_t step = slice_arg(c, st, 1, line);
    if (step == 0) jerr(c, line, "slice step cannot be zero");
    int64_t start = slice_arg(c, lo, step > 0 ? 0 : n - 1, line), stop = slice_arg(c, hi, step > 0 ? n : -n - 1, line);
    if (lo->k == JV_INT && start < 0) start += n;
    if (hi->k == JV_INT && stop < 0) stop += n;
    if (step > 0) {
        start = start < 0 ? 0 : start > n ? n : start;
        stop = stop < 0 ? 0 : stop > n ? n : stop;
    } else {
        start = start < -1 ? -1 : start > n - 1 ? n - 1 : start;
        stop = stop < -1 ? -1 : stop > n - 1 ? n - 1 : stop;
    }
    if (obj->k == JV_STR && step == 1) {
        if (stop < start) stop = start;
        size_t o0 = ju_offset(obj->s.s, obj->s.n, (size_t)start), o1 = ju_offset(obj->s.s, obj->s.n, (size_t)stop);
        return (jv){.k = JV_STR, .s = {obj->s.s + o0, o1 - o0}};
    }
    jlist *out = jlist_new(c->a);
    jbuf sb = {0};
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (obj->k == JV_LIST) {
            jlist_push(c->a, out, obj->l->v[i]);
        } else {
            size_t o0 = ju_offset(obj->s.s, obj->s.n, (size_t)i), o1 = ju_offset(obj->s.s, obj->s.n, (size_t)i + 1);
            jbuf_put(c, &sb, obj->s.s + o0, o1 - o0);
        }
    }
    if (obj->k == JV_STR) return (jv){.k = JV_STR, .s = {sb.p ? sb.p : "", sb.n}};
    out->tuple = obj->l->tuple;
    return (jv){.k = JV_LIST, .l = out};
}

static double num(const jv *v) { return v->k == JV_FLOAT ? v->f : v->k == JV_INT ? (double)v->i : v->b; }
static int is_num(const jv *v) { return v->k == JV_INT || v->k == JV_FLOAT || v->k == JV_BOOL; }

static int compare(jctx *c, const jv *a, const jv *b, int line) {
    if (is_num(a) && is_num(b)) {
        double x = num(a), y = num(b);
        return x < y ? -1 : x > y;
    }
    if (a->k == JV_STR && b->k == JV_STR) {
        size_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
        int r = memcmp(a->s.s, b->s.s, n);
        return r ? (r < 0 ? -1 : 1) : (a->s.n > b->s.n) - (a->s.n < b->s.n);
    }
    jerr(c, line, "cannot compare a %s with a %s", type_name(a), type_name(b));
}

static int contains(jctx *c, const jv *hay, const jv *needle, int line) {
    switch (hay->k) {
    case JV_STR:
        if (needle->k != JV_STR) jerr(c, line, "'in <string>' needs a string on the left, not a %s", type_name(needle));
        if (!needle->s.n) return 1;
        for (size_t i = 0; i + needle->s.n <= hay->s.n; i++)
            if (!memcmp(hay->s.s + i, needle->s.s, needle->s.n)) return 1;
        return 0;
    case JV_LIST:
        for (size_t i = 0; i < hay->l->n; i++)
            if (jv_equal(&hay->l->v[i], needle)) return 1;
        return 0;
    case JV_DICT: return jdict_find(hay->d, needle) != NULL;
    case JV_UNDEF: return 0; /* jinja2's Undefined iterates as empty */
    default: jerr(c, line, "a %s is not a container", type_name(hay));
    }
}

enum { OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN, OP_NEG, OP_POS };

static jv arith(jctx *c, int op, const jv *a, const jv *b, int line) {
    if (op == OP_CONCAT) {
        jbuf s = {0};
        jv_to_str(c, &s, a);
        jv_to_str(c, &s, b);
        return (jv){.k = JV_STR, .s = {s.p ? s.p : "", s.n}};
    }
    if (op == OP_ADD && a->k == JV_STR && b->k == JV_STR) {
        jbuf s = {0};
        jbuf_put(c, &s, a->s.s, a->s.n);
        jbuf_put(c, &s, b->s.s, b->s.n);
        return (jv){.k = JV_STR, .s = {s.p ? s.p : "", s.n}};
    }
    if (op == OP_ADD && a->k == JV_LIST && b->k == JV_LIST) {
        jlist *l = jlist_new(c->a);
        for (size_t i = 0; i < a->l->n; i++) jlist_push(c->a, l, a->l->v[i]);
        for (size_t i = 0; i < b->l->n; i++) jlist_push(c->a, l, b->l->v[i]);
        return (jv){.k = JV_LIST, .l = l};
    }
    if (op == OP_MUL && ((a->k == JV_STR && b->k == JV_INT) || (a->k == JV_INT && b->k == JV_STR))) {
        const jv *s = a->k == JV_STR ? a : b;
        int64_t k = a->k == JV_INT ? a->i : b->i;
        jbuf o = {0};
        for (int64_t i = 0; i < k; i++) jbuf_put(c, &o, s->s.s, s->s.n);
        return (jv){.k = JV_STR, .s = {o.p ? o.p : "", o.n}};
    }
    if (!is_num(a) || !is_num(b))
        jerr(c, line, "unsupported operand types for an arithmetic operator: %s and %s", type_name(a), type_name(b));
    int ints = a->k != JV_FLOAT && b->k != JV_FLOAT;
    int64_t x = a->k == JV_INT ? a->i : a->b, y = b->k == JV_INT ? b->i : b->b;
    double fx = num(a), fy = num(b);
    switch (op) {
    case OP_ADD: return ints ? jv_int((int64_t)((uint64_t)x + (uint64_t)y)) : (jv){.k = JV_FLOAT, .f = fx + fy};
    case OP_SUB: return ints ? jv_int((int64_t)((uint64_t)x - (uint64_t)y)) : (jv){.k = JV_FLOAT, .f = fx - fy};
    case OP_MUL: return ints ? jv_int((int64_t)((uint64_t)x * (uint64_t)y)) : (jv){.k = JV_FLOAT, .f = fx * fy};
    case OP_DIV:
        if (fy == 0) jerr(c, line, "division by zero");
        return (jv){.k = JV_FLOAT, .f = fx / fy};
    case OP_FLOORDIV:
    case OP_MOD:
        if (fy == 0) jerr(c, line, "division by zero");
        if (ints) {
            if (y == -1) return jv_int(op == OP_MOD ? 0 : (int64_t)(0 - (uint64_t)x));
            int64_t q = x / y, r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) q--, r += y;
            return jv_int(op == OP_MOD ? r : q);
        } else {
            double q = floor(fx / fy), r = fx - q * fy;
            return (jv){.k = JV_FLOAT, .f = op == OP_MOD ? r : q};
        }
    case OP_POW:
        if (ints && y >= 0) {
            int64_t r = 1;
            for (int64_t i = 0; i < y && i < 64; i++) r = (int64_t)((uint64_t)r * (uint64_t)x);
            return jv_int(r);
        }
        return (jv){.k = JV_FLOAT, .f = pow(fx, fy)};
    default: jerr(c, line, "unknown operator");
    }
}

static jv eval(jctx *c, const jnode *n);

/* Evaluates call arguments: positional into args, keyword into kw/kwv. */
static int eval_args(jctx *c, const jnode *n, jv *args, const char **kw, jv *kwv, int *nkw) {
    int na = 0;
    *nkw = 0;
    for (int i = 0; i < n->n_kids; i++) {
        jv v = eval(c, n->kids[i]);
        if (n->kw[i]) kw[*nkw] = n->kw[i], kwv[(*nkw)++] = v;
        else args[na++] = v;
    }
    return na;
}

static void exec_body(jctx *c, const jnode *body);

/* Calls a template macro: parameters bound from arguments or defaults, in a scope
 * over the template's, its output returned as a string. */
static jv call_macro(jctx *c, const jnode *m, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw,
                     const jnode *caller) {
    if (++c->depth > MAX_DEPTH) jerr(c, m->line, "macros nested too deeply");
    scope *saved = c->sc;
    jbuf saved_out = c->out;
    scope *s = push_scope(c, c->top);
    if (n > m->n_kids) jerr(c, m->line, "macro '%s' takes %d arguments, %d given", m->name, m->n_kids, n);
    for (int i = 0; i < m->n_kids; i++) {
        jv v = jv_undef(m->kw[i]);
        if (i < n) v = args[i];
        else {
            int found = 0;
            for (int k = 0; k < nkw; k++)
                if (!strcmp(kw[k], m->kw[i])) v = kwv[k], found = 1;
            if (!found && m->kids[i]) {
                c->sc = s;
                v = eval(c, m->kids[i]);
            }
        }
        jdict_set(c->a, s->vars, jv_cstr(m->kw[i]), v);
    }
    if (caller) {
        jfunc *f = ja_alloc(c->a, sizeof *f);
        f->name = "caller";
        f->macro = caller;
        jdict_set(c->a, s->vars, jv_cstr("caller"), (jv){.k = JV_FUNC, .fn = f});
    }
    c->sc = s;
    c->out = (jbuf){0};
    exec_body(c, m->a);
    jv r = {.k = JV_STR, .s = {c->out.p ? c->out.p : "", c->out.n}};
    c->out = saved_out;
    c->sc = saved;
    c->depth--;
    return r;
}

jv jv_call(jctx *c, const jv *fn, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw) {
    if (fn->k == JV_UNDEF) jerr(c, 0, "'%s' is undefined", fn->name ? fn->name : "function");
    if (fn->k != JV_FUNC) jerr(c, 0, "a %s is not callable", type_name(fn));
    if (fn->fn->macro) {
        if (fn->fn->macro->k == JN_BODY) { /* caller() of a call block: its body in the caller's scope */
            jbuf saved = c->out;
            c->out = (jbuf){0};
            exec_body(c, fn->fn->macro);
            jv r = {.k = JV_STR, .s = {c->out.p ? c->out.p : "", c->out.n}};
            c->out = saved;
            return r;
        }
        return call_macro(c, fn->fn->macro, args, n, kw, kwv, nkw, NULL);
    }
    return fn->fn->fn(c, &fn->fn->self, args, n, kw, kwv, nkw);
}

#define MAX_ARGS 16

static jv eval(jctx *c, const jnode *n) {
    tick(c, n->line);
    switch (n->k) {
    case JN_LIT: return n->lit;
    case JN_NAME: return lookup(c, n->name);
    case JN_LIST:
    case JN_TUPLE: {
        jlist *l = jlist_new(c->a);
        for (int i = 0; i < n->n_kids; i++) jlist_push(c->a, l, eval(c, n->kids[i]));
        l->tuple = n->k == JN_TUPLE;
        return (jv){.k = JV_LIST, .l = l};
    }
    case JN_DICT: {
        jdict *d = jdict_new(c->a);
        for (int i = 0; i + 1 < n->n_kids; i += 2) {
            jv k = eval(c, n->kids[i]);
            if (k.k == JV_LIST || k.k == JV_DICT || k.k == JV_UNDEF) jerr(c, n->line, "unhashable dict key: %s", type_name(&k));
            jdict_set(c->a, d, k, eval(c, n->kids[i + 1]));
        }
        return (jv){.k = JV_DICT, .d = d};
    }
    case JN_ATTR: {
        jv o = eval(c, n->a);
        return get_attr(c, &o, n->name, n->line);
    }
    case JN_ITEM: {
        jv o = eval(c, n->a), k = eval(c, n->b);
        return get_item(c, &o, &k, n->line);
    }
    case JN_SLICE: {
        jv o = eval(c, n->a), none = jv_none();
        jv lo = n->b ? eval(c, n->b) : none, hi = n->c ? eval(c, n->c) : none,
           st = n->filter_cond ? eval(c, n->filter_cond) : none;
        return slice(c, &o, &lo, &hi, &st, n->line);
    }
    case JN_CALL: {
        jv fn = eval(c, n->a);
        if (n->n_kids > MAX_ARGS) jerr(c, n->line, "too many call arguments");
        jv args[MAX_ARGS], kwv[MAX_ARGS];
        const char *kw[MAX_ARGS];
        int nkw, na = eval_args(c, n, args, kw, kwv, &nkw);
        if (fn.k == JV_UNDEF) jerr(c, n->line, "'%s' is undefined (not a function the subset knows)", fn.name ? fn.name : "?");
        c->line = n->line;
        return jv_call(c, &fn, args, na, kw, kwv, nkw);
    }
    case JN_FILTER: {
        jfilter_fn f = cl_jinja_filter(n->name);
        if (!f) jctx_set_code(c, CLLAMA_E_UNSUPPORTED), jerr(c, n->line, "the '%s' filter is not supported", n->name);
        jv v = eval(c, n->a);
        if (n->n_kids > MAX_ARGS) jerr(c, n->line, "too many filter arguments");
        jv args[MAX_ARGS], kwv[MAX_ARGS];
        const char *kw[MAX_ARGS];
        int nkw, na = eval_args(c, n, args, kw, kwv, &nkw);
        c->line = n->line;
        return f(c, &v, args, na, kw, kwv, nkw);
    }
    case JN_TEST: {
        jtest_fn t = cl_jinja_test(n->name);
        if (!t) jctx_set_code(c, CLLAMA_E_UNSUPPORTED), jerr(c, n->line, "the '%s' test is not supported", n->name);
        jv v = eval(c, n->a);
        if (n->n_kids > MAX_ARGS) jerr(c, n->line, "too many test arguments");
        jv args[MAX_ARGS];
        for (int i = 0; i < n->n_kids; i++) args[i] = eval(c, n->kids[i]);
        c->line = n->line;
        return jv_bool(t(c, &v, args, n->n_kids) != n->op);
    }
    case JN_UNARY: {
        jv v = eval(c, n->a);
        if (!is_num(&v)) jerr(c, n->line, "bad operand type for unary %s: %s", n->op == OP_NEG ? "-" : "+", type_name(&v));
        if (n->op == OP_POS) return v.k == JV_BOOL ? jv_int(v.b) : v;
        return v.k == JV_FLOAT ? (jv){.k = JV_FLOAT, .f = -v.f} : jv_int(-(v.k == JV_INT ? v.i : v.b));
    }
    case JN_BINARY: {
        jv a = eval(c, n->a), b = eval(c, n->b);
        switch (n->op) {
        case OP_EQ: return jv_bool(jv_equal(&a, &b));
        case OP_NE: return jv_bool(!jv_equal(&a, &b));
        case OP_LT: return jv_bool(compare(c, &a, &b, n->line) < 0);
        case OP_LE: return jv_bool(compare(c, &a, &b, n->line) <= 0);
        case OP_GT: return jv_bool(compare(c, &a, &b, n->line) > 0);
        case OP_GE: return jv_bool(compare(c, &a, &b, n->line) >= 0);
        case OP_IN: return jv_bool(contains(c, &b, &a, n->line));
        case OP_NOTIN: return jv_bool(!contains(c, &b, &a, n->line));
        default:
            if (a.k == JV_UNDEF || b.k == JV_UNDEF) {
                const jv *u = a.k == JV_UNDEF ? &a : &b;
                if (n->op != OP_CONCAT) jerr(c, n->line, "'%s' is undefined", u->name ? u->name : "value");
            }
            return arith(c, n->op, &a, &b, n->line);
        }
    }
    case JN_AND: {
        jv a = eval(c, n->a);
        return jv_truthy(&a) ? eval(c, n->b) : a;
    }
    case JN_OR: {
        jv a = eval(c, n->a);
        return jv_truthy(&a) ? a : eval(c, n->b);
    }
    case JN_NOT: {
        jv a = eval(c, n->a);
        return jv_bool(!jv_truthy(&a));
    }
    case JN_COND: {
        jv cond = eval(c, n->b);
        if (jv_truthy(&cond)) return eval(c, n->a);
        return n->c ? eval(c, n->c) : jv_undef("else");
    }
    default: jerr(c, n->line, "statement used as an expression");
    }
}

/* Binds a for/set target (a name or a tuple of names) to v. */
static void bind(jctx *c, const jnode *target, jv v) {
    if (target->k == JN_NAME) {
        assign(c, target->name, v);
        return;
    }
    if (target->k == JN_TUPLE) {
        if (v.k != JV_LIST || (int)v.l->n != target->n_kids)
            jerr(c, target->line, "cannot unpack a %s into %d names", type_name(&v), target->n_kids);
        for (int i = 0; i < target->n_kids; i++) bind(c, target->kids[i], v.l->v[i]);
        return;
    }
    if (target->k == JN_ATTR) {
        jv o = eval(c, target->a);
        if (o.k != JV_DICT || !o.d->ns) jerr(c, target->line, "only namespace() attributes can be set");
        jdict_set(c->a, o.d, jv_cstr(target->name), v);
        return;
    }
    jerr(c, target->line, "cannot assign to this target");
}

/* The items a for loop walks: lists, a dict's keys, a string's characters. */
static jlist *iterable(jctx *c, const jv *v, int line) {
    if (v->k == JV_LIST) return v->l;
    jlist *l = jlist_new(c->a);
    if (v->k == JV_DICT) {
        for (size_t i = 0; i < v->d->n; i++) jlist_push(c->a, l, v->d->keys[i]);
    } else if (v->k == JV_STR) {
        for (size_t i = 0, n = ju_len(v->s.s, v->s.n); i < n; i++) {
            size_t o0 = ju_offset(v->s.s, v->s.n, i), o1 = ju_offset(v->s.s, v->s.n, i + 1);
            jlist_push(c->a, l, (jv){.k = JV_STR, .s = {v->s.s + o0, o1 - o0}});
        }
    } else if (v->k != JV_UNDEF && v->k != JV_NONE) {
        jerr(c, line, "a %s is not iterable", type_name(v));
    } else if (v->k == JV_NONE) {
        jerr(c, line, "'NoneType' object is not iterable");
    }
    return l;
}

static jv loop_method_cycle(jctx *c, const jv *self, const jv *args, int n, const char *const *kw, const jv *kwv,
                            int nkw) {
    (void)kw, (void)kwv, (void)nkw;
    if (n == 0) jerr(c, 0, "loop.cycle needs arguments");
    int64_t idx = self->k == JV_INT ? self->i : 0;
    return args[idx % n];
}

static void exec_for(jctx *c, const jnode *n) {
    jv it = eval(c, n->b);
    jlist *items = iterable(c, &it, n->line);
    if (n->filter_cond) { /* {% for x in xs if cond %}: filtered before loop.* counts */
        jlist *kept = jlist_new(c->a);
        scope *saved = c->sc;
        for (size_t i = 0; i < items->n; i++) {
            c->sc = push_scope(c, saved);
            bind(c, n->a, items->v[i]);
            jv cond = eval(c, n->filter_cond);
            if (jv_truthy(&cond)) jlist_push(c->a, kept, items->v[i]);
        }
        c->sc = saved;
        items = kept;
    }
    if (items->n == 0) {
        if (n->else_body) exec_body(c, n->else_body);
        return;
    }
    scope *saved = c->sc;
    for (size_t i = 0; i < items->n; i++) {
        c->sc = push_scope(c, saved);
        jdict *loop = jdict_new(c->a);
        int64_t len = (int64_t)items->n, k = (int64_t)i;
        jdict_set(c->a, loop, jv_cstr("index"), jv_int(k + 1));
        jdict_set(c->a, loop, jv_cstr("index0"), jv_int(k));
        jdict_set(c->a, loop, jv_cstr("revindex"), jv_int(len - k));
        jdict_set(c->a, loop, jv_cstr("revindex0"), jv_int(len - k - 1));
        jdict_set(c->a, loop, jv_cstr("first"), jv_bool(k == 0));
        jdict_set(c->a, loop, jv_cstr("last"), jv_bool(k == len - 1));
        jdict_set(c->a, loop, jv_cstr("length"), jv_int(len));
        jdict_set(c->a, loop, jv_cstr("depth"), jv_int(1));
        jdict_set(c->a, loop, jv_cstr("depth0"), jv_int(0));
        jdict_set(c->a, loop, jv_cstr("previtem"), k > 0 ? items->v[k - 1] : jv_undef("previtem"));
        jdict_set(c->a, loop, jv_cstr("nextitem"), k + 1 < len ? items->v[k + 1] : jv_undef("nextitem"));
        jfunc *cyc = ja_alloc(c->a, sizeof *cyc);
        cyc->name = "cycle";
        cyc->fn = loop_method_cycle;
        cyc->self = jv_int(k);
        jdict_set(c->a, loop, jv_cstr("cycle"), (jv){.k = JV_FUNC, .fn = cyc});
        assign(c, "loop", (jv){.k = JV_DICT, .d = loop});
        bind(c, n->a, items->v[i]);
        exec_body(c, n->c);
        int ctl = c->loop_ctl;
        c->loop_ctl = 0;
        if (ctl == 1) break;
    }
    c->sc = saved;
}

static void exec_node(jctx *c, const jnode *n) {
    tick(c, n->line);
    switch (n->k) {
    case JN_TEXT: jbuf_put(c, &c->out, n->lit.s.s, n->lit.s.n); return;
    case JN_OUTPUT: {
        jv v = eval(c, n->a);
        jv_to_str(c, &c->out, &v);
        return;
    }
    case JN_IF: {
        jv cond = eval(c, n->a);
        if (jv_truthy(&cond)) exec_body(c, n->b);
        else if (n->c) exec_body(c, n->c);
        return;
    }
    case JN_FOR:
        if (++c->depth > MAX_DEPTH) jerr(c, n->line, "loops nested too deeply");
        exec_for(c, n);
        c->depth--;
        return;
    case JN_SET: bind(c, n->a, eval(c, n->b)); return;
    case JN_SET_BLOCK: {
        jbuf saved = c->out;
        c->out = (jbuf){0};
        exec_body(c, n->b);
        jv v = {.k = JV_STR, .s = {c->out.p ? c->out.p : "", c->out.n}};
        c->out = saved;
        /* the filters of `{% set x | f | g %}`, innermost (applied first) at the end of the chain */
        const jnode *chain[MAX_ARGS];
        int nf = 0;
        for (const jnode *f = n->c; f && nf < MAX_ARGS; f = f->a) chain[nf++] = f;
        for (int i = nf - 1; i >= 0; i--) {
            jfilter_fn f = cl_jinja_filter(chain[i]->name);
            if (!f) jerr(c, n->line, "the '%s' filter is not supported", chain[i]->name);
            jv args[MAX_ARGS], kwv[MAX_ARGS];
            const char *kw[MAX_ARGS];
            if (chain[i]->n_kids > MAX_ARGS) jerr(c, n->line, "too many filter arguments");
            int nkw, na = eval_args(c, chain[i], args, kw, kwv, &nkw);
            v = f(c, &v, args, na, kw, kwv, nkw);
        }
        bind(c, n->a, v);
        return;
    }
    case JN_MACRO: {
        jfunc *f = ja_alloc(c->a, sizeof *f);
        f->name = n->name;
        f->macro = n;
        assign(c, n->name, (jv){.k = JV_FUNC, .fn = f});
        return;
    }
    case JN_CALL_BLOCK: {
        const jnode *call = n->a;
        if (call->k != JN_CALL) jerr(c, n->line, "a call block needs a macro call");
        jv fn = eval(c, call->a);
        if (fn.k != JV_FUNC || !fn.fn->macro) jerr(c, n->line, "a call block needs a macro");
        jv args[MAX_ARGS], kwv[MAX_ARGS];
        const char *kw[MAX_ARGS];
        if (call->n_kids > MAX_ARGS) jerr(c, n->line, "too many call arguments");
        int nkw, na = eval_args(c, call, args, kw, kwv, &nkw);
        jv r = call_macro(c, fn.fn->macro, args, na, kw, kwv, nkw, n->b);
        jbuf_put(c, &c->out, r.s.s, r.s.n);
        return;
    }
    case JN_BREAK: c->loop_ctl = 1; return;
    case JN_CONTINUE: c->loop_ctl = 2; return;
    case JN_BODY: exec_body(c, n); return;
    default: {
        jv v = eval(c, n); /* not reached: the parser makes statements only */
        (void)v;
    }
    }
}

static void exec_body(jctx *c, const jnode *body) {
    if (!body) return;
    for (int i = 0; i < body->n_kids && !c->loop_ctl; i++) exec_node(c, body->kids[i]);
}

int cl_jinja_render(jarena *a, const char *src, size_t len, const jglobal *vars, int n_vars, int64_t now, char **out) {
    *out = NULL;
    jctx *c = calloc(1, sizeof *c);
    if (!c) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    c->a = a;
    c->vars = vars;
    c->n_vars = n_vars;
    c->now = now;
    int rc = 0;
    int jumped = setjmp(c->fail);
    if (jumped) {
        rc = jumped == 2 ? cl_err(CLLAMA_E_NOMEM, "chat template: out of memory")
                         : cl_err(c->code ? c->code : CLLAMA_E_INVALID, "%s", c->msg);
        goto done;
    }
    ja_on_fail(a, &c->fail);
    char perr[512] = "";
    jnode *root = cl_jinja_parse(a, src, len, perr, sizeof perr);
    ja_on_fail(a, &c->fail);
    if (!root) {
        rc = cl_err(strstr(perr, "not supported") ? CLLAMA_E_UNSUPPORTED : CLLAMA_E_INVALID, "%s", perr);
        goto done;
    }
    c->top = c->sc = push_scope(c, NULL);
    exec_body(c, root);
    *out = malloc(c->out.n + 1);
    if (!*out) {
        rc = cl_err(CLLAMA_E_NOMEM, "out of memory");
        goto done;
    }
    if (c->out.n) memcpy(*out, c->out.p, c->out.n);
    (*out)[c->out.n] = 0;
done:
    free(c);
    return rc;
}

void jctx_set_code(jctx *c, int code) { c->code = code; }
