/* Model loading: metadata -> hyperparameters, tensor lookup with shape checks, and the
 * public model/token API. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "kernels/kernels.h"
#include "quant/quant.h"
#include "repack.h"

/* Bounds on hyperparameters: far above any released Llama-family model, low enough
 * that products of them cannot overflow the size computations below. */
#define MAX_VOCAB (1 << 22)
#define MAX_EMBD (1 << 16)
#define MAX_LAYER 1024
#define MAX_HEAD 1024
#define MAX_FF (1 << 20)
#define MAX_CTX (1 << 24)

cllama_model_params cllama_model_default_params(void) {
    cllama_model_params p = {0};
    return p;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Reads "<arch>.<suffix>" as an integer in [lo, hi]; `def` < 0 means required. */
static int hp_int(const cl_gguf *g, const char *arch, const char *suffix, long def, long lo, long hi,
                  int *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v;
    int rc = cl_gguf_get_i64(g, key, &v);
    if (rc < 0) return rc;
    if (rc == 0) {
        if (def < 0) return cl_err(CLLAMA_E_FORMAT, "missing metadata %s", key);
        v = def;
    }
    if (v < lo || v > hi)
        return cl_err(CLLAMA_E_FORMAT, "metadata %s = %lld is out of range [%ld, %ld]", key,
                      (long long)v, lo, hi);
    *out = (int)v;
    return 0;
}

static int hp_float(const cl_gguf *g, const char *arch, const char *suffix, float def, float lo,
                    float hi, float *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    float v = def;
    int rc = cl_gguf_get_f32(g, key, &v);
    if (rc < 0) return rc;
    if (!(v >= lo && v <= hi))
        return cl_err(CLLAMA_E_FORMAT, "metadata %s = %g is out of range [%g, %g]", key, v, lo, hi);
    *out = v;
    return 0;
}

static int read_hparams(cllama_model *m) {
    const cl_gguf *g = m->gguf;
    const char *a = m->arch;
    cl_hparams *hp = &m->hp;
    int rc;
    if ((rc = hp_int(g, a, "embedding_length", -1, 1, MAX_EMBD, &hp->n_embd)) ||
        (rc = hp_int(g, a, "block_count", -1, 1, MAX_LAYER, &hp->n_layer)) ||
        (rc = hp_int(g, a, "attention.head_count", -1, 1, MAX_HEAD, &hp->n_head)) ||
        (rc = hp_int(g, a, "attention.head_count_kv", hp->n_head, 1, MAX_HEAD, &hp->n_head_kv)) ||
        (rc = hp_int(g, a, "feed_forward_length", -1, 1, MAX_FF, &hp->n_ff)) ||
        (rc = hp_int(g, a, "context_length", 2048, 1, MAX_CTX, &hp->n_ctx_train)) ||
        (rc = hp_float(g, a, "rope.freq_base", 10000.0f, 1.0f, 1e12f, &hp->rope_base)) ||
        (rc = hp_float(g, a, "attention.layer_norm_rms_epsilon", 1e-5f, 0.0f, 1.0f, &hp->rms_eps)))
        return rc;
    if (hp->n_embd % hp->n_head)
        return cl_err(CLLAMA_E_FORMAT, "%s.attention.head_count %d does not divide embedding_length %d",
                      a, hp->n_head, hp->n_embd);
    if (hp->n_head % hp->n_head_kv)
        return cl_err(CLLAMA_E_FORMAT, "%s.attention.head_count_kv %d does not divide head_count %d", a,
                      hp->n_head_kv, hp->n_head);
    if ((rc = hp_int(g, a, "attention.key_length", hp->n_embd / hp->n_head, 2, 4096, &hp->head_dim)))
        return rc;
    int vdim, rope_dim;
    if ((rc = hp_int(g, a, "attention.value_length", hp->head_dim, 2, 4096, &vdim)) ||
        (rc = hp_int(g, a, "rope.dimension_count", hp->head_dim, 2, 4096, &rope_dim)))
        return rc;
    if (vdim != hp->head_dim || rope_dim != hp->head_dim || hp->head_dim % 2)
        return cl_err(CLLAMA_E_UNSUPPORTED,
                      "key_length %d, value_length %d and rope.dimension_count %d must be equal and even",
                      hp->head_dim, vdim, rope_dim);

    hp->rope_scale = 1.0f;
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    cl_str st;
    if ((rc = cl_gguf_get_str(g, key, &st)) < 0) return rc;
    if (rc == 1 && !cl_str_eq(st, "none")) {
        if (!cl_str_eq(st, "linear"))
            return cl_err(CLLAMA_E_UNSUPPORTED, "%s = %.*s is not supported (none, linear are)", key,
                          (int)st.len, st.ptr);
        float factor = 1.0f;
        if ((rc = hp_float(g, a, "rope.scaling.factor", 1.0f, 1e-3f, 1e3f, &factor))) return rc;
        hp->rope_scale = 1.0f / factor;
    }
    return 0;
}

/* Looks up `name`, checks its shape is [ne0, ne1] (ne1 = 1 for vectors) and that the
 * engine has a kernel for its type. */
static int get_tensor(cllama_model *m, const char *name, int64_t ne0, int64_t ne1, int matrix,
                      cl_tensor *out) {
    const cl_gguf_tensor *t = cl_gguf_find_tensor(m->gguf, name);
    if (!t) return cl_err(CLLAMA_E_FORMAT, "missing tensor %s", name);
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    if (t->ne[0] != ne0 || rows != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
        return cl_err(CLLAMA_E_FORMAT,
                      "tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld] from the metadata",
                      name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                      (long long)t->ne[3], (long long)ne0, (long long)ne1);
    const cl_type_traits *tt = cl_type_info(t->type);
    const cl_kernels *k = cl_kernels_get();
    if (!tt || !tt->weight || (matrix && !k->dot[t->type]))
        return cl_err(CLLAMA_E_UNSUPPORTED, "tensor %s has type %s, which this engine does not support",
                      name, cl_type_name(t->type));
    if (matrix && k->act[t->type] != CL_ACT_F32 && ne0 % CL_QK)
        return cl_err(CLLAMA_E_UNSUPPORTED, "tensor %s: row length %lld is not a multiple of %d", name,
                      (long long)ne0, CL_QK);
    out->data = t->data;
    out->type = t->type;
    out->ne[0] = ne0;
    out->ne[1] = ne1;
    out->row_bytes = cl_row_size(t->type, ne0);
    m->n_params += (uint64_t)(ne0 * ne1);
    m->weight_bytes += t->nbytes;
    return 0;
}

/* Small vectors (norm weights, rope factors) are decoded to float once at load. */
static int get_vector(cllama_model *m, const char *name, int64_t n, float **out) {
    cl_tensor t;
    int rc = get_tensor(m, name, n, 1, 0, &t);
    if (rc) return rc;
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    cl_dequantize_row(t.type, t.data, v, n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            free(v);
            return cl_err(CLLAMA_E_FORMAT, "tensor %s holds a non-finite value at %lld", name, (long long)i);
        }
    *out = v;
    return 0;
}

static int load_tensors(cllama_model *m) {
    const cl_hparams *hp = &m->hp;
    int64_t E = hp->n_embd, V = hp->n_vocab, F = hp->n_ff;
    int64_t QD = (int64_t)hp->n_head * hp->head_dim, KD = (int64_t)hp->n_head_kv * hp->head_dim;
    int rc;
    if ((rc = get_tensor(m, "token_embd.weight", E, V, 1, &m->tok_embd))) return rc;
    if ((rc = get_vector(m, "output_norm.weight", E, &m->output_norm))) return rc;
    if (cl_gguf_find_tensor(m->gguf, "output.weight")) {
        if ((rc = get_tensor(m, "output.weight", E, V, 1, &m->output))) return rc;
    } else {
        m->output = m->tok_embd;
        m->tied_output = 1;
    }
    if (cl_gguf_find_tensor(m->gguf, "rope_freqs.weight") &&
        (rc = get_vector(m, "rope_freqs.weight", hp->head_dim / 2, &m->rope_freqs)))
        return rc;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    for (int l = 0; l < hp->n_layer; l++) {
        cl_layer *L = &m->layers[l];
        char n[64];
#define T(field, suffix, ne0, ne1)                                  \
    snprintf(n, sizeof n, "blk.%d." suffix ".weight", l);            \
    if ((rc = get_tensor(m, n, ne0, ne1, 1, &L->field))) return rc;
#define VEC(field, suffix)                                          \
    snprintf(n, sizeof n, "blk.%d." suffix ".weight", l);            \
    if ((rc = get_vector(m, n, E, &L->field))) return rc;
        VEC(attn_norm, "attn_norm")
        T(wq, "attn_q", E, QD)
        T(wk, "attn_k", E, KD)
        T(wv, "attn_v", E, KD)
        T(wo, "attn_output", QD, E)
        VEC(ffn_norm, "ffn_norm")
        T(w_gate, "ffn_gate", E, F)
        T(w_up, "ffn_up", E, F)
        T(w_down, "ffn_down", F, E)
#undef T
#undef VEC
    }
    return 0;
}

void cllama_model_free(cllama_model *m) {
    if (!m) return;
    if (m->layers)
        for (int l = 0; l < m->hp.n_layer; l++) {
            free(m->layers[l].attn_norm);
            free(m->layers[l].ffn_norm);
        }
    free(m->layers);
    free(m->output_norm);
    free(m->rope_freqs);
    cl_vocab_free(m->vocab);
    cl_repack_free(m);
    cl_gguf_close(m->gguf);
    free(m);
}

/* Everything after the file is open: metadata, vocabulary, weights. Takes `g`. */
static int load_from_gguf(cl_gguf *g, const cllama_model_params *params, double t0, cllama_model **out) {
    cllama_model_params def = cllama_model_default_params();
    if (!params) params = &def;
    cllama_model *m = calloc(1, sizeof *m);
    if (!m) {
        cl_gguf_close(g);
        return cl_err(CLLAMA_E_NOMEM, "out of memory");
    }
    m->gguf = g;
    m->vocab_only = params->vocab_only;
    int rc;
    cl_str s;
    if ((rc = cl_gguf_get_str(g, "general.name", &s)) < 0) goto fail;
    if (rc == 1) snprintf(m->name, sizeof m->name, "%.*s", (int)(s.len < 127 ? s.len : 127), s.ptr);
    if ((rc = cl_gguf_get_str(g, "general.architecture", &s)) < 0) goto fail;
    if (rc == 0) {
        rc = cl_err(CLLAMA_E_FORMAT, "missing metadata general.architecture");
        goto fail;
    }
    snprintf(m->arch, sizeof m->arch, "%.*s", (int)(s.len < 31 ? s.len : 31), s.ptr);

    if ((rc = cl_vocab_load(g, &m->vocab))) goto fail;
    m->hp.n_vocab = cl_vocab_n_tokens(m->vocab);
    if (m->hp.n_vocab > MAX_VOCAB) {
        rc = cl_err(CLLAMA_E_FORMAT, "vocabulary of %d tokens exceeds %d", m->hp.n_vocab, MAX_VOCAB);
        goto fail;
    }
    if (!m->vocab_only) {
        if (strcmp(m->arch, "llama") != 0) {
            rc = cl_err(CLLAMA_E_UNSUPPORTED, "architecture '%s' is not supported (llama is)", m->arch);
            goto fail;
        }
        if ((rc = read_hparams(m)) || (rc = load_tensors(m)) || (rc = cl_repack_model(m))) goto fail;
    }
    m->load_ms = now_ms() - t0;
    *out = m;
    return CLLAMA_OK;
fail:
    if (rc > 0) rc = CLLAMA_E_FORMAT;
    cllama_model_free(m);
    return rc;
}

int cllama_model_load(const char *path, const cllama_model_params *params, cllama_model **out) {
    *out = NULL;
    if (!path) return cl_err(CLLAMA_E_INVALID, "no model path given");
    double t0 = now_ms();
    cl_gguf *g;
    int rc = cl_gguf_open(path, &g);
    if (rc) return rc;
    rc = load_from_gguf(g, params, t0, out);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cllama_last_error());
        cl_err(rc, "%s: %s", path, msg);
    }
    return rc;
}

int cl_model_load_buffer(const void *buf, size_t size, const cllama_model_params *params, cllama_model **out) {
    *out = NULL;
    double t0 = now_ms();
    cl_gguf *g;
    int rc = cl_gguf_open_memory(buf, size, &g);
    return rc ? rc : load_from_gguf(g, params, t0, out);
}

int cllama_model_n_vocab(const cllama_model *m) { return m->hp.n_vocab; }
int cllama_model_n_ctx_train(const cllama_model *m) { return m->hp.n_ctx_train; }
int cllama_model_n_embd(const cllama_model *m) { return m->hp.n_embd; }

int cllama_tokenize(const cllama_model *m, const char *text, size_t len, int flags, int32_t *ids,
                    int cap) {
    if (!m || (!text && len) || cap < 0 || (!ids && cap))
        return cl_err(CLLAMA_E_INVALID, "cllama_tokenize: invalid arguments");
    return cl_vocab_tokenize(m->vocab, text, len, flags, ids, cap);
}

int cllama_token_to_piece(const cllama_model *m, int32_t id, char *buf, int cap) {
    return cl_vocab_piece(m->vocab, id, buf, cap);
}

int32_t cllama_token_bos(const cllama_model *m) { return cl_vocab_bos(m->vocab); }
int32_t cllama_token_eos(const cllama_model *m) { return cl_vocab_eos(m->vocab); }
int cllama_token_is_eog(const cllama_model *m, int32_t id) { return cl_vocab_is_eog(m->vocab, id); }

static void fmt_bytes(char *buf, size_t n, double b) {
    if (b >= 1024.0 * 1024 * 1024) snprintf(buf, n, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024) snprintf(buf, n, "%.2f MiB", b / (1024.0 * 1024));
    else snprintf(buf, n, "%.1f KiB", b / 1024.0);
}

void cllama_model_print_info(const cllama_model *m, void *fp) {
    FILE *f = fp;
    const cl_hparams *hp = &m->hp;
    char sz[32];
    fmt_bytes(sz, sizeof sz, (double)cl_gguf_file_size(m->gguf));
    fprintf(f, "name:            %s\n", m->name[0] ? m->name : "(none)");
    fprintf(f, "architecture:    %s\n", m->arch);
    fprintf(f, "gguf version:    %u, alignment %llu, %llu metadata keys, %llu tensors\n",
            cl_gguf_version(m->gguf), (unsigned long long)cl_gguf_alignment(m->gguf),
            (unsigned long long)cl_gguf_n_kv(m->gguf), (unsigned long long)cl_gguf_n_tensors(m->gguf));
    fprintf(f, "file size:       %s (%llu bytes)\n", sz, (unsigned long long)cl_gguf_file_size(m->gguf));
    cl_vocab_print(m->vocab, f);
    if (m->vocab_only) return;
    fprintf(f, "n_vocab:         %d\n", hp->n_vocab);
    fprintf(f, "n_embd:          %d\n", hp->n_embd);
    fprintf(f, "n_layer:         %d\n", hp->n_layer);
    fprintf(f, "n_head:          %d\n", hp->n_head);
    fprintf(f, "n_head_kv:       %d (GQA %d:1)\n", hp->n_head_kv, hp->n_head / hp->n_head_kv);
    fprintf(f, "head_dim:        %d\n", hp->head_dim);
    fprintf(f, "n_ff:            %d\n", hp->n_ff);
    fprintf(f, "n_ctx_train:     %d\n", hp->n_ctx_train);
    fprintf(f, "rope:            base %g, linear scale %g%s\n", hp->rope_base, 1.0 / hp->rope_scale,
            m->rope_freqs ? ", per-dimension factors (rope_freqs.weight)" : "");
    fprintf(f, "rms_eps:         %g\n", hp->rms_eps);
    fprintf(f, "output:          %s\n", m->tied_output ? "tied to token_embd" : "output.weight");
    fmt_bytes(sz, sizeof sz, (double)m->weight_bytes);
    fprintf(f, "parameters:      %.3f M (%llu), weights %s, %.2f bits per weight\n", m->n_params / 1e6,
            (unsigned long long)m->n_params, sz, 8.0 * m->weight_bytes / (double)m->n_params);
    if (m->packed) {
        fmt_bytes(sz, sizeof sz, (double)m->packed_bytes);
        fprintf(f, "kernels:         %s; %s of matrices rewritten as 8-row (x8) blocks at load for the 8- and 16-row kernels, "
                   "the rest used in place from the mapping\n", cl_kernels_get()->isa, sz);
    } else {
        fprintf(f, "kernels:         %s (weights used in place from the mapping)\n", cl_kernels_get()->isa);
    }
    fprintf(f, "\n%-32s %-6s %-24s %12s\n", "tensor", "type", "shape", "bytes");
    for (uint64_t i = 0; i < cl_gguf_n_tensors(m->gguf); i++) {
        const cl_gguf_tensor *t = cl_gguf_tensor_at(m->gguf, i);
        char shape[64];
        int k = snprintf(shape, sizeof shape, "[%lld", (long long)t->ne[0]);
        for (int d = 1; d < t->n_dims && k < (int)sizeof shape; d++)
            k += snprintf(shape + k, sizeof shape - k, ", %lld", (long long)t->ne[d]);
        if (k < (int)sizeof shape) snprintf(shape + k, sizeof shape - k, "]");
        fprintf(f, "%-32.*s %-6s %-24s %12llu\n", (int)(t->name.len < 64 ? t->name.len : 64), t->name.ptr,
                cl_type_name(t->type), shape, (unsigned long long)t->nbytes);
    }
}
