/* Hostile GGUF files: one generated malformed file per class of defect that has hit
 * GGUF loaders (counts and sizes that overflow, lengths past the end of the file,
 * bad dimensions and types, duplicates, bad alignment, absurd or inconsistent
 * hyperparameters, special ids outside the vocabulary). Each must fail to load with
 * the expected code and a one-line message naming the field; none may crash (the
 * suite also runs under ASan/UBSan).
 *
 * usage: test_hostile TMPDIR */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"
#include "gguf.h"
#include "gguf_write.h"
#include "quant/quant.h"

static const char *tmpdir;
static int fails, cases;

/* ---- raw byte builder, for defects a well-behaved writer cannot produce ---- */
typedef struct {
    unsigned char *b;
    size_t n, cap;
} bytes;

static void put(bytes *x, const void *p, size_t n) {
    if (x->n + n > x->cap) {
        x->cap = (x->n + n) * 2 + 256;
        x->b = realloc(x->b, x->cap);
        if (!x->b) abort();
    }
    memcpy(x->b + x->n, p, n);
    x->n += n;
}
static void u32(bytes *x, uint32_t v) { put(x, &v, 4); }
static void u64(bytes *x, uint64_t v) { put(x, &v, 8); }
static void str(bytes *x, const char *s) {
    u64(x, strlen(s));
    put(x, s, strlen(s));
}
static void header(bytes *x, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(x, "GGUF", 4);
    u32(x, version);
    u64(x, n_tensors);
    u64(x, n_kv);
}
static void kv_u32(bytes *x, const char *k, uint32_t v) {
    str(x, k);
    u32(x, CL_GGUF_U32);
    u32(x, v);
}
static void kv_str(bytes *x, const char *k, const char *v) {
    str(x, k);
    u32(x, CL_GGUF_STRING);
    str(x, v);
}
static void tensor_info(bytes *x, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off) {
    str(x, name);
    u32(x, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) u64(x, ne[i]);
    u32(x, type);
    u64(x, off);
}
static void pad(bytes *x, size_t align, size_t extra) {
    while (x->n % align) put(x, "", 1);
    for (size_t i = 0; i < extra; i++) put(x, "", 1);
}

/* Writes the file, loads it, checks code and that the message has each needle. */
static void expect_file(const char *name, const void *data, size_t n, int code, int vocab_only, ...) {
    cases++;
    char path[1024];
    snprintf(path, sizeof path, "%s/hostile-%s.gguf", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f)) {
        printf("FAIL %s: cannot write %s\n", name, path);
        fails++;
        return;
    }
    cllama_model_params p = cllama_model_default_params();
    p.vocab_only = vocab_only;
    cllama_model *m = NULL;
    int rc = cllama_model_load(path, &p, &m);
    const char *msg = cllama_last_error();
    int ok = rc == code && !m && *msg && !strchr(msg, '\n');
    va_list ap;
    va_start(ap, vocab_only);
    for (const char *s; (s = va_arg(ap, const char *));) ok = ok && strstr(msg, s);
    va_end(ap);
    printf("%s %-28s rc %d: %s\n", ok ? "ok  " : "FAIL", name, rc, msg);
    if (!ok) fails++;
    cllama_model_free(m);
    remove(path);
}

static void expect_bytes(const char *name, bytes *x, int code, const char *needle) {
    expect_file(name, x->b, x->n, code, 1, needle, NULL);
    free(x->b);
    memset(x, 0, sizeof *x);
}

/* ---- a small valid model through our writer, with overridable metadata ---- */
typedef struct {
    uint32_t n_embd, n_head, n_head_kv, n_layer, n_ff;
    int64_t bos;
    int scores_short;       /* scores array one shorter than tokens */
    int skip_tensor;        /* leave out blk.0.ffn_up */
    uint32_t alignment;     /* 0: default */
    int wtype;              /* type of the matrices (norms stay F32); 0: F32 */
} model_opts;

static const model_opts base_opts = {64, 4, 2, 2, 96, 1, 0, 0, 0, CL_TYPE_F32};

static int build_model(const model_opts *o, uint8_t **buf, size_t *size, cl_gguf_writer **wout) {
    enum { V = 300 };
    cl_gguf_writer *w = cl_gw_new();
    char *tok[V];
    float score[V];
    int32_t type[V];
    for (int i = 0; i < V; i++) {
        char b[16];
        if (i == 0) snprintf(b, sizeof b, "<unk>");
        else if (i == 1) snprintf(b, sizeof b, "<s>");
        else if (i == 2) snprintf(b, sizeof b, "</s>");
        else if (i < 259) snprintf(b, sizeof b, "<0x%02X>", i - 3);
        else snprintf(b, sizeof b, "\xe2\x96\x81w%d", i);
        tok[i] = strdup(b);
        score[i] = -(float)i;
        type[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
    }
    uint32_t E = o->n_embd, D = o->n_head ? E / o->n_head : 1, KD = o->n_head_kv * D;
    int rc = cl_gw_str(w, "general.architecture", "llama") || cl_gw_u32(w, "llama.embedding_length", E) ||
             cl_gw_u32(w, "llama.block_count", o->n_layer) || cl_gw_u32(w, "llama.feed_forward_length", o->n_ff) ||
             cl_gw_u32(w, "llama.attention.head_count", o->n_head) ||
             cl_gw_u32(w, "llama.attention.head_count_kv", o->n_head_kv) ||
             cl_gw_u32(w, "llama.context_length", 128) || cl_gw_str(w, "tokenizer.ggml.model", "llama") ||
             cl_gw_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, V) ||
             cl_gw_arr_f32(w, "tokenizer.ggml.scores", score, o->scores_short ? V - 1 : V) ||
             cl_gw_arr_i32(w, "tokenizer.ggml.token_type", type, V) ||
             cl_gw_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)o->bos) ||
             cl_gw_u32(w, "tokenizer.ggml.eos_token_id", 2) ||
             (o->alignment && cl_gw_u32(w, "general.alignment", o->alignment));
    for (int i = 0; i < V; i++) free(tok[i]);
    if (rc) return -1;
    /* Shapes follow the real hyperparameters only when they are sane; the defects
     * under test are in the metadata. */
    int64_t e = 64, kd = KD > 0 && KD <= 64 ? KD : 32, ff = 96;
    int64_t shapes[][3] = {{e, V, 0}, {e, 1, 0}, {e, V, 0}};
    const char *gl[] = {"token_embd.weight", "output_norm.weight", "output.weight"};
    for (int i = 0; i < 3; i++)
        cl_gw_tensor(w, gl[i], shapes[i][1] == 1 ? CL_TYPE_F32 : o->wtype, shapes[i][1] == 1 ? 1 : 2, shapes[i]);
    for (uint32_t l = 0; l < (o->n_layer < 4 ? o->n_layer : 2); l++) {
        struct { const char *k; int64_t ne0, ne1; } t[] = {
            {"attn_norm", e, 1}, {"attn_q", e, e}, {"attn_k", e, kd}, {"attn_v", e, kd}, {"attn_output", e, e},
            {"ffn_norm", e, 1},  {"ffn_gate", e, ff}, {"ffn_up", e, ff}, {"ffn_down", ff, e}};
        for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
            if (o->skip_tensor && l == 0 && !strcmp(t[i].k, "ffn_up")) continue;
            char n[64];
            snprintf(n, sizeof n, "blk.%u.%s.weight", l, t[i].k);
            int64_t ne[2] = {t[i].ne0, t[i].ne1};
            cl_gw_tensor(w, n, t[i].ne1 == 1 ? CL_TYPE_F32 : o->wtype, t[i].ne1 == 1 ? 1 : 2, ne);
        }
    }
    if (cl_gw_layout(w, buf, size)) return -1;
    for (int i = 0; i < cl_gw_n_tensors(w); i++) {
        size_t nb;
        uint8_t *d = cl_gw_tensor_data(w, *buf, i, &nb);
        const cl_type_traits *tt = cl_type_info(cl_gw_tensor_type(w, i));
        int64_t n = (int64_t)(nb / tt->type_size) * tt->block_size;
        float *v = malloc((size_t)n * sizeof *v);
        if (!v) return -1;
        for (int64_t k = 0; k < n; k++) v[k] = 0.01f * (float)((k * 7919) % 13) - 0.06f;
        /* blocks are independent, so the whole tensor quantizes as one row */
        int rc = cl_quantize_row(cl_gw_tensor_type(w, i), v, d, n);
        free(v);
        if (rc) return -1;
    }
    *wout = w;
    return 0;
}

static void expect_model(const char *name, const model_opts *o, int code, const char *needle) {
    uint8_t *buf;
    size_t size;
    cl_gguf_writer *w;
    if (build_model(o, &buf, &size, &w)) {
        printf("FAIL %s: cannot build\n", name);
        fails++;
        return;
    }
    expect_file(name, buf, size, code, 0, needle, NULL);
    cl_gw_buffer_free(buf, size);
    cl_gw_free(w);
}

/* Writes `n` bytes to TMPDIR/hostile-NAME.gguf and loads it; *m NULL on failure. */
static void load_bytes(const char *name, const void *data, size_t n, char *path, size_t path_cap, cllama_model **m) {
    *m = NULL;
    snprintf(path, path_cap, "%s/hostile-%s.gguf", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (f && fwrite(data, 1, n, f) == n && !fclose(f)) cllama_model_load(path, NULL, m);
}

/* Logits of the last of three tokens; NULL if anything fails. */
static float *eval3(cllama_model *m) {
    cllama_context *c = NULL;
    float *lg = malloc(300 * sizeof *lg);
    int32_t t[3] = {1, 7, 300 - 1};
    if (!m || !lg || cllama_context_init(m, NULL, &c) || cllama_context_eval(c, t, 3, lg, 0)) {
        free(lg);
        lg = NULL;
    }
    cllama_context_free(c);
    return lg;
}

/* Regression: general.alignment 1 lets a file put tensor data at odd offsets, so at
 * odd addresses in the mapping, and quantized blocks were then read through pointers
 * to 2-byte-aligned block structs (undefined; UBSan stops the sanitizer build there).
 * Such a file must load and give exactly the logits of the same weights aligned. The
 * writer aligns to 32, so its image is re-laid out with the data section right after
 * the tensor infos, plus one byte if that offset is even, and every tensor offset
 * patched to match. */
static void odd_addresses(void) {
    cases++;
    model_opts o = base_opts;
    o.wtype = CL_TYPE_Q8_0;
    uint8_t *ref = NULL, *buf = NULL, *odd = NULL;
    size_t ref_size = 0, size = 0, odd_size = 0;
    cl_gguf_writer *wref = NULL, *w = NULL;
    cl_gguf *g = NULL;
    cllama_model *ma = NULL, *mo = NULL;
    float *la = NULL, *lo = NULL;
    char pa[1024] = "", po[1024] = "";
    int ok = !build_model(&o, &ref, &ref_size, &wref);
    o.alignment = 1; /* same weights; the reader now takes data to start right after the infos */
    ok = ok && !build_model(&o, &buf, &size, &w) && !cl_gguf_open_memory(buf, size, &g);
    if (ok) {
        size_t nb, data_start = (size_t)(cl_gw_tensor_data(w, buf, 0, &nb) - buf); /* tensor 0 is at offset 0 */
        size_t head = (size_t)cl_gguf_data_offset(g), pad = head % 2 ? 0 : 1;
        odd_size = head + pad + (size - data_start);
        ok = (odd = calloc(odd_size, 1)) != NULL;
        if (ok) {
            memcpy(odd, buf, head);
            memcpy(odd + head + pad, buf + data_start, size - data_start);
            for (uint64_t i = 0; i < cl_gguf_n_tensors(g); i++) {
                const cl_gguf_tensor *t = cl_gguf_tensor_at(g, i);
                size_t at = (size_t)((const uint8_t *)t->name.ptr - buf) + t->name.len + 4 + 8 * (size_t)t->n_dims + 4;
                uint64_t off = t->offset + pad;
                memcpy(odd + at, &off, 8);
            }
        }
    }
    cl_gguf_close(g);
    g = NULL;
    if (ok) {
        load_bytes("aligned", ref, ref_size, pa, sizeof pa, &ma);
        load_bytes("odd-addresses", odd, odd_size, po, sizeof po, &mo);
        ok = ma && mo && !cl_gguf_open(po, &g);
    }
    const cl_gguf_tensor *te = ok ? cl_gguf_find_tensor(g, "token_embd.weight") : NULL;
    ok = ok && te && ((uintptr_t)te->data & 1);
    la = ok ? eval3(ma) : NULL;
    lo = ok ? eval3(mo) : NULL;
    ok = ok && la && lo && !memcmp(la, lo, 300 * sizeof *la);
    printf("%s Q8_0 model at odd addresses (general.alignment 1) loads and matches the aligned one\n",
           ok ? "ok  " : "FAIL");
    fails += !ok;
    free(la);
    free(lo);
    cl_gguf_close(g);
    cllama_model_free(ma);
    cllama_model_free(mo);
    remove(pa);
    remove(po);
    free(odd);
    cl_gw_buffer_free(ref, ref_size);
    cl_gw_buffer_free(buf, size);
    cl_gw_free(wref);
    cl_gw_free(w);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s TMPDIR\n", argv[0]);
        return 2;
    }
    tmpdir = argv[1];
    bytes x = {0};

    /* The valid base model loads and evaluates: the cases below differ from it in one defect. */
    {
        uint8_t *buf;
        size_t size;
        cl_gguf_writer *w;
        cllama_model *m = NULL;
        cllama_context *c = NULL;
        int ok = !build_model(&base_opts, &buf, &size, &w);
        char path[1024];
        snprintf(path, sizeof path, "%s/hostile-base.gguf", tmpdir);
        FILE *f = fopen(path, "wb");
        ok = ok && f && fwrite(buf, 1, size, f) == size && !fclose(f);
        ok = ok && !cllama_model_load(path, NULL, &m) && !cllama_context_init(m, NULL, &c);
        int32_t t[3] = {1, 300, 5};
        float *lg = malloc(300 * sizeof *lg);
        ok = ok && cllama_context_eval(c, t, 3, lg, 0) == CLLAMA_E_RANGE && strstr(cllama_last_error(), "300");
        t[1] = -1;
        ok = ok && cllama_context_eval(c, t, 3, lg, 0) == CLLAMA_E_RANGE;
        t[1] = 7;
        ok = ok && cllama_context_eval(c, t, 3, lg, 0) == CLLAMA_OK;
        int32_t *many = calloc(200, sizeof *many);
        ok = ok && cllama_context_eval(c, many, 200, lg, 0) == CLLAMA_E_RANGE; /* 128-token context */
        char piece[2];
        ok = ok && cllama_token_to_piece(m, 400, piece, 2) == CLLAMA_E_RANGE;
        printf("%s base model loads; eval rejects ids -1 and 300 and an over-long batch; bad piece id\n",
               ok ? "ok  " : "FAIL");
        fails += !ok;
        cases++;
        free(lg);
        free(many);
        cllama_context_free(c);
        cllama_model_free(m);
        remove(path);
        cl_gw_buffer_free(buf, size);
        cl_gw_free(w);
    }

    odd_addresses();

    header(&x, 3, 0, 0);
    x.b[0] = 'X';
    expect_bytes("bad-magic", &x, CLLAMA_E_FORMAT, "magic");
    header(&x, 1, 0, 0);
    expect_bytes("version-1", &x, CLLAMA_E_UNSUPPORTED, "version 1");
    header(&x, 3, 1ull << 62, 0);
    expect_bytes("tensor-count-overflow", &x, CLLAMA_E_FORMAT, "tensor count");
    header(&x, 3, 0, UINT64_MAX);
    expect_bytes("kv-count-overflow", &x, CLLAMA_E_FORMAT, "metadata count");
    header(&x, 3, 0, 1);
    u64(&x, 1ull << 40);
    put(&x, "key bytes, fewer than claimed", 29);
    expect_bytes("key-length-past-end", &x, CLLAMA_E_FORMAT, "key runs past");
    header(&x, 3, 0, 1);
    str(&x, "general.name");
    u32(&x, CL_GGUF_STRING);
    u64(&x, UINT64_MAX - 3);
    expect_bytes("string-length-overflow", &x, CLLAMA_E_FORMAT, "general.name");
    header(&x, 3, 0, 1);
    str(&x, "tokenizer.ggml.scores");
    u32(&x, CL_GGUF_ARRAY);
    u32(&x, CL_GGUF_F32);
    u64(&x, 1ull << 61);
    expect_bytes("array-count-overflow", &x, CLLAMA_E_FORMAT, "tokenizer.ggml.scores");
    header(&x, 3, 0, 1);
    str(&x, "deep");
    u32(&x, CL_GGUF_ARRAY);
    for (int i = 0; i < 20; i++) {
        u32(&x, CL_GGUF_ARRAY);
        u64(&x, 1);
    }
    u32(&x, CL_GGUF_U8);
    u64(&x, 0);
    expect_bytes("array-nesting-too-deep", &x, CLLAMA_E_FORMAT, "deep");
    header(&x, 3, 0, 1);
    str(&x, "weird");
    u32(&x, 13);
    expect_bytes("unknown-value-type", &x, CLLAMA_E_FORMAT, "unknown value type 13");
    header(&x, 3, 0, 2);
    kv_u32(&x, "llama.block_count", 2);
    kv_u32(&x, "llama.block_count", 3);
    expect_bytes("duplicate-key", &x, CLLAMA_E_FORMAT, "appears twice");
    header(&x, 3, 0, 1);
    kv_str(&x, "general.alignment", "32");
    expect_bytes("alignment-wrong-type", &x, CLLAMA_E_FORMAT, "general.alignment has type string");
    header(&x, 3, 0, 1);
    kv_u32(&x, "general.alignment", 0);
    expect_bytes("alignment-zero", &x, CLLAMA_E_FORMAT, "general.alignment 0");
    header(&x, 3, 0, 1);
    kv_u32(&x, "general.alignment", 48);
    expect_bytes("alignment-not-power-of-2", &x, CLLAMA_E_FORMAT, "general.alignment 48");

    uint64_t ne2[2] = {32, 2}, ne5[5] = {32, 1, 1, 1, 1}, huge[2] = {1ull << 40, 1ull << 40};
    header(&x, 3, 1, 0);
    tensor_info(&x, "t", 5, ne5, CL_TYPE_F32, 0);
    expect_bytes("too-many-dims", &x, CLLAMA_E_FORMAT, "5 dimensions");
    header(&x, 3, 1, 0);
    tensor_info(&x, "t", 2, huge, CL_TYPE_F32, 0);
    expect_bytes("element-count-overflow", &x, CLLAMA_E_FORMAT, "overflows");
    uint64_t zero[2] = {32, 0};
    header(&x, 3, 1, 0);
    tensor_info(&x, "t", 2, zero, CL_TYPE_F32, 0);
    expect_bytes("zero-dimension", &x, CLLAMA_E_FORMAT, "dimension 1 = 0");
    header(&x, 3, 1, 0);
    tensor_info(&x, "t", 2, ne2, 1000, 0);
    expect_bytes("type-out-of-range", &x, CLLAMA_E_UNSUPPORTED, "unsupported tensor type");
    uint64_t odd[2] = {33, 1};
    header(&x, 3, 1, 0);
    tensor_info(&x, "t", 2, odd, CL_TYPE_Q4_0, 0);
    expect_bytes("row-not-whole-blocks", &x, CLLAMA_E_FORMAT, "block size");
    header(&x, 3, 1, 0);
    tensor_info(&x, "t", 2, ne2, CL_TYPE_F32, 7);
    expect_bytes("misaligned-offset", &x, CLLAMA_E_FORMAT, "not aligned");
    header(&x, 3, 1, 0);
    tensor_info(&x, "t", 2, ne2, CL_TYPE_F32, 1ull << 50);
    pad(&x, 32, 256);
    expect_bytes("offset-past-end", &x, CLLAMA_E_FORMAT, "past the end");
    header(&x, 3, 1, 0);
    tensor_info(&x, "t", 2, ne2, CL_TYPE_F32, 0);
    pad(&x, 32, 100); /* needs 256 bytes */
    expect_bytes("data-past-end", &x, CLLAMA_E_FORMAT, "past the end");
    header(&x, 3, 2, 0);
    tensor_info(&x, "t", 2, ne2, CL_TYPE_F32, 0);
    tensor_info(&x, "t", 2, ne2, CL_TYPE_F32, 256);
    pad(&x, 32, 512);
    expect_bytes("duplicate-tensor", &x, CLLAMA_E_FORMAT, "tensor t appears twice");

    model_opts o;
    o = base_opts, o.n_embd = 0;
    expect_model("hparam-zero", &o, CLLAMA_E_FORMAT, "embedding_length = 0");
    o = base_opts, o.n_layer = 1u << 30;
    expect_model("hparam-absurd", &o, CLLAMA_E_FORMAT, "block_count");
    o = base_opts, o.n_head = 5;
    expect_model("heads-not-dividing-embd", &o, CLLAMA_E_FORMAT, "head_count 5 does not divide");
    o = base_opts, o.n_head_kv = 3;
    expect_model("kv-heads-not-dividing", &o, CLLAMA_E_FORMAT, "head_count_kv 3 does not divide");
    o = base_opts, o.n_ff = 128;
    expect_model("shape-vs-hparams", &o, CLLAMA_E_FORMAT, "ffn_gate");
    o = base_opts, o.skip_tensor = 1;
    expect_model("missing-tensor", &o, CLLAMA_E_FORMAT, "missing tensor blk.0.ffn_up.weight");
    o = base_opts, o.bos = 100000;
    expect_model("special-id-out-of-vocab", &o, CLLAMA_E_FORMAT, "bos_token_id");
    o = base_opts, o.scores_short = 1;
    expect_model("vocab-array-lengths", &o, CLLAMA_E_FORMAT, "scores");

    printf("%d of %d cases failed\n", fails, cases);
    return fails ? 1 : 0;
}
