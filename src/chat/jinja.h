/* A Jinja interpreter for chat templates: the subset of Jinja2 that real
 * tokenizer_config.json / GGUF chat templates use, rendered as Hugging Face renders
 * them (jinja2 with trim_blocks, lstrip_blocks and loop controls; raise_exception,
 * strftime_now and a json.dumps-like tojson), byte for byte.
 *
 * Contract: cl_jinja_render never crashes, hangs or leaks on any input. A construct
 * outside the subset, a type error, a call of raise_exception(...) or a resource
 * limit (output size, steps, nesting) ends rendering with CLLAMA_E_UNSUPPORTED or
 * CLLAMA_E_INVALID and a one-line message naming the construct and its line.
 *
 * The subset. Statements: if/elif/else, for (tuple targets, `if` filter, else,
 * loop.index/index0/revindex/revindex0/first/last/length/previtem/nextitem, break,
 * continue), set (names, namespace attributes, tuples, blocks), macro and call of a
 * macro, raw, generation (a no-op block, as transformers' AssistantTracker), comments,
 * whitespace control ({%- -%} {{- -}} {#- -#}, {%+). Expressions: literals (strings
 * with Python escapes, ints, floats, true/false/none, lists, dicts, tuples), names,
 * attribute and item access, slices, calls with keyword arguments, + - * / // % **
 * ~, comparisons, and/or/not, in/not in, `is` tests, filters, inline if/else.
 * Values follow Python: str() and repr() of every type, code-point string lengths
 * and slices, truthiness; undefined names print as "" and fail on attribute access.
 *
 * Implementation: parse to a tree (jinja_parse.c), evaluate it (jinja_eval.c) with
 * filters, tests and methods (jinja_builtins.c); every allocation of one render comes
 * from one arena freed at the end. */
#ifndef CL_JINJA_H
#define CL_JINJA_H

#include <stddef.h>
#include <stdint.h>

/* ---- arena ---- */

#include <setjmp.h>

typedef struct jarena jarena;
void *ja_alloc(jarena *a, size_t n); /* zeroed; never NULL: out of memory longjmps (value 2) to ja_on_fail's buffer */
void ja_on_fail(jarena *a, jmp_buf *jb);
char *ja_strndup(jarena *a, const char *s, size_t n);

/* ---- values ---- */

typedef enum { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_FUNC } jv_kind;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jfunc jfunc;

typedef struct {
    jv_kind k;
    union {
        int b;
        int64_t i;
        double f;
        struct {
            const char *s;
            size_t n;
        } s;
        jlist *l;
        jdict *d;
        const jfunc *fn;
    };
    const char *name; /* for JV_UNDEF: what was undefined, for messages */
} jv;

struct jlist {
    jv *v;
    size_t n, cap;
    int tuple;
};

struct jdict {
    jv *keys; /* strings, or other hashable values (ints, floats, bools, none) */
    jv *vals;
    size_t n, cap;
    int ns; /* a namespace(): attributes may be set */
};

typedef struct jctx jctx;
/* Built-in callables: self is the bound object for methods (JV_UNDEF otherwise);
 * args positional, kw names/values keyword. */
typedef jv (*jfunc_fn)(jctx *c, const jv *self, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw);

struct jfunc {
    const char *name;
    jfunc_fn fn;
    jv self;
    const struct jnode *macro; /* a template macro (fn NULL) */
};

jv jv_str(jarena *a, const char *s, size_t n);
jv jv_cstr(const char *s); /* static storage */
jv jv_int(int64_t i);
jv jv_bool(int b);
jv jv_none(void);
jv jv_undef(const char *name);
jlist *jlist_new(jarena *a);
void jlist_push(jarena *a, jlist *l, jv v);
jdict *jdict_new(jarena *a);
void jdict_set(jarena *a, jdict *d, jv key, jv val);
/* NULL if absent. jdict_get finds string keys; jdict_find any key (ints, bools, none too). */
jv *jdict_get(jdict *d, const char *key, size_t n);
jv *jdict_find(jdict *d, const jv *key);

/* ---- the tree ---- */

typedef enum {
    /* expressions */
    JN_LIT, JN_NAME, JN_LIST, JN_TUPLE, JN_DICT, JN_ATTR, JN_ITEM, JN_SLICE, JN_CALL, JN_FILTER, JN_TEST,
    JN_UNARY, JN_BINARY, JN_AND, JN_OR, JN_NOT, JN_COND,
    /* statements */
    JN_TEXT, JN_OUTPUT, JN_IF, JN_FOR, JN_SET, JN_SET_BLOCK, JN_MACRO, JN_CALL_BLOCK, JN_BREAK, JN_CONTINUE, JN_BODY,
} jn_kind;

typedef struct jnode {
    jn_kind k;
    int line;
    int op;             /* operator token for unary/binary; negated for tests */
    jv lit;             /* JN_LIT, JN_TEXT */
    const char *name;   /* names, attributes, filters, tests, macros, keyword of a call arg */
    struct jnode *a, *b, *c; /* operands; JN_IF: cond, then, else; JN_FOR: target, iter, body; JN_COND: then, cond, else */
    struct jnode *filter_cond; /* JN_FOR: the `if` filter; JN_SLICE: step */
    struct jnode *else_body;   /* JN_FOR */
    struct jnode **kids;       /* list items, call args, body statements, dict keys/values interleaved */
    const char **kw;           /* names of keyword call args (NULL entries for positional); macro parameter names */
    int n_kids;
} jnode;

/* Parses `src` into a body node (the arena owns it). NULL with the message in err. */
jnode *cl_jinja_parse(jarena *a, const char *src, size_t len, char *err, size_t errcap);

/* ---- evaluation ---- */

/* Raises a render error: formats the message into the context and unwinds. */
_Noreturn void jerr(jctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The error code the next jerr reports (default CLLAMA_E_INVALID; CLLAMA_E_UNSUPPORTED
 * for constructs outside the subset). */
void jctx_set_code(jctx *c, int code);
jarena *jctx_arena(jctx *c);
int jctx_line(const jctx *c);
int64_t jctx_now(const jctx *c);

int jv_truthy(const jv *v);
/* Python's str() and repr() of v, appended to a growing string. */
typedef struct {
    char *p;
    size_t n, cap;
} jbuf;
void jbuf_put(jctx *c, jbuf *b, const char *s, size_t n);
void jv_to_str(jctx *c, jbuf *b, const jv *v);
void jv_repr(jctx *c, jbuf *b, const jv *v);
jv jv_stringify(jctx *c, const jv *v);
int jv_equal(const jv *a, const jv *b);
/* Calls a callable value. */
jv jv_call(jctx *c, const jv *fn, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw);

/* Built-ins (jinja_builtins.c): NULL if there is no such filter/test; method lookup
 * gives JV_UNDEF if the object has no such method. */
typedef jv (*jfilter_fn)(jctx *c, const jv *v, const jv *args, int n, const char *const *kw, const jv *kwv, int nkw);
typedef int (*jtest_fn)(jctx *c, const jv *v, const jv *args, int n);
jfilter_fn cl_jinja_filter(const char *name);
jtest_fn cl_jinja_test(const char *name);
jv cl_jinja_method(jctx *c, const jv *obj, const char *name);
/* The global functions (raise_exception, namespace, range, strftime_now, dict). */
jv cl_jinja_global(const char *name);

/* String helpers on code points. */
size_t ju_len(const char *s, size_t n);             /* code points */
size_t ju_offset(const char *s, size_t n, size_t cp); /* byte offset of code point cp (n if past the end) */

/* ---- rendering ---- */

typedef struct {
    const char *name;
    jv value;
} jglobal;

/* Renders src with the variables `vars` (n_vars) and the built-in globals into a
 * malloc'd NUL-terminated *out. now: seconds since the epoch for strftime_now. The
 * values in vars must live in `a`. Returns 0 or a negative CLLAMA_E_* with the message
 * set (cllama_last_error). */
int cl_jinja_render(jarena *a, const char *src, size_t len, const jglobal *vars, int n_vars, int64_t now, char **out);

jarena *ja_new(void);
void ja_free(jarena *a);

#endif
