/* Model loading: metadata -> hyperparameters, the architecture's tensor table walked
 * with shape checks, and the public model/token API. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "kernels/dispatch.h"
#include "quant/quant.h"
#include "recipe.h"
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
    const char *a = m->arch_name;
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

    const cl_arch *arch = m->arch;
    hp->rope_scale = 1.0f;
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    cl_str st;
    if ((rc = cl_gguf_get_str(g, key, &st)) < 0) return rc;
    int longrope = rc == 1 && cl_str_eq(st, "longrope"); /* factors: tensors rope_factors_long/_short */
    if (rc == 1 && !cl_str_eq(st, "none") && !longrope) {
        if (!cl_str_eq(st, "linear"))
            return cl_err(CLLAMA_E_UNSUPPORTED, "%s = %.*s is not supported (none, linear, longrope are)", key,
                          (int)st.len, st.ptr);
        float factor = 1.0f;
        if ((rc = hp_float(g, a, "rope.scaling.factor", 1.0f, 1e-3f, 1e3f, &factor))) return rc;
        hp->rope_scale = 1.0f / factor;
    }
    cl_arch_hparams(arch, hp); /* what the architecture implies; the file's keys below override it */
    /* LongRoPE's factors are tensors (rope_factors_long/_short); its attention factor
     * scales the rotated values whatever the context, as the reference applies it. */
    if ((rc = hp_float(g, a, "rope.scaling.attn_factor", 1.0f, 1e-3f, 1e3f, &hp->rope_attn_factor)) ||
        (rc = hp_int(g, a, "rope.scaling.original_context_length", hp->n_ctx_train, 1, MAX_CTX, &hp->n_ctx_orig)))
        return rc;
    if ((rc = hp_int(g, a, "attention.sliding_window", hp->n_swa, 0, MAX_CTX, &hp->n_swa))) return rc;
    if (arch->flags & CL_A_NO_SWA) hp->n_swa = 0;
    if ((rc = hp_float(g, a, "rope.freq_base_swa", hp->rope_base_swa, 1.0f, 1e12f, &hp->rope_base_swa))) return rc;
    /* Soft-capping: only Gemma 2 caps scores, whatever other files say (as the reference). */
    if ((rc = hp_float(g, a, "attn_logit_softcapping", hp->attn_softcap, 0.0f, 1e6f, &hp->attn_softcap)) ||
        (rc = hp_float(g, a, "final_logit_softcapping", hp->final_softcap, 0.0f, 1e6f, &hp->final_softcap)))
        return rc;
    if (!(arch->flags & CL_A_SOFTCAP)) hp->attn_softcap = 0.0f;
    return 0;
}

/* Per-layer window flags from <arch>.attention.sliding_window_pattern: a list of
 * booleans (one per layer), or a number that becomes hp.swa_pattern (the
 * architecture's when absent). */
static int read_swa_layers(cllama_model *m) {
    cl_hparams *hp = &m->hp;
    char key[160];
    snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", m->arch_name);
    const cl_gguf_kv *kv = cl_gguf_find(m->gguf, key);
    int rc;
    if (kv && kv->type == CL_GGUF_ARRAY &&
        (kv->arr_type != CL_GGUF_BOOL || kv->arr_n != (uint64_t)hp->n_layer))
        return cl_err(CLLAMA_E_FORMAT, "%s must be one boolean per layer (%d)", key, hp->n_layer);
    if (kv && kv->type != CL_GGUF_ARRAY &&
        (rc = hp_int(m->gguf, m->arch_name, "attention.sliding_window_pattern", 1, 1, MAX_LAYER, &hp->swa_pattern)))
        return rc;
    for (int l = 0; l < hp->n_layer; l++)
        m->layers[l].swa = hp->n_swa > 0 && (kv && kv->type == CL_GGUF_ARRAY ? kv->data[l] != 0 : cl_layer_swa(hp, l));
    return 0;
}

/* A tensor by name in the file or any part of a split model. */
static const cl_gguf_tensor *find_tensor(const cllama_model *m, const char *name) {
    const cl_gguf_tensor *t = cl_gguf_find_tensor(m->gguf, name);
    for (int i = 0; !t && i < m->n_parts; i++) t = cl_gguf_find_tensor(m->parts[i], name);
    return t;
}

/* Looks up `name`, checks its shape is [ne0, ne1] (ne1 = 1 for vectors) and that the
 * engine has a kernel for its type. */
static int get_tensor(cllama_model *m, const char *name, int64_t ne0, int64_t ne1, int matrix,
                      cl_tensor *out) {
    const cl_gguf_tensor *t = find_tensor(m, name);
    if (!t) return cl_err(CLLAMA_E_FORMAT, "missing tensor %s", name);
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    if (t->ne[0] != ne0 || rows != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
        return cl_err(CLLAMA_E_FORMAT,
                      "tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld] from the metadata",
                      name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                      (long long)t->ne[3], (long long)ne0, (long long)ne1);
    const cl_type_traits *tt = cl_type_info(t->type);
    const cl_kernels *k = m->kern;
    if (!tt || !tt->weight || (matrix && !k->dot[t->type]))
        return cl_err(CLLAMA_E_UNSUPPORTED, "tensor %s has type %s, which this engine does not support",
                      name, cl_type_name(t->type));
    if (matrix && (k->act[t->type] == CL_ACT_Q8 || k->act[t->type] == CL_ACT_Q8K) && ne0 % CL_QK)
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
static int get_vector(cllama_model *m, const char *name, int64_t n, cl_tensor *out) {
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
    *out = (cl_tensor){.data = v, .type = CL_TYPE_F32, .ne = {n, 1}, .row_bytes = (size_t)n * sizeof *v};
    return 0;
}

/* Whether the loaded slice needs a model-wide tensor: token_embd for the first layer's
 * lookups (and the last layer's output when tied), the output head for the last. */
static int global_needed(const cllama_model *m, int id) {
    int first = m->layer_begin == 0, last = m->layer_end == m->hp.n_layer;
    switch (id) {
    case CL_TOK_EMBD: return first || (last && m->hp.tied_output);
    case CL_OUTPUT_NORM:
    case CL_OUTPUT: return last;
    default: return 1;
    }
}

/* Walks the architecture's table: each tensor present in the file or required by the
 * hyperparameter flags is found, shape-checked and set in m->g or m->layers. */
static int load_tensors(cllama_model *m) {
    cl_hparams *hp = &m->hp;
    const cl_arch *a = m->arch;
    char name[96];
    /* Flags read off the file: no output.weight means the output is tied; a bias on
     * the first loaded layer's attn_q means every layer has Q/K/V biases. */
    hp->tied_output = !find_tensor(m, "output.weight");
    hp->qkv_bias = !!(a->flags & CL_A_QKV_BIAS);
    for (int i = 0; i < a->n_tensors; i++)
        if (a->tensors[i].id == CL_ATTN_Q_B) {
            cl_tensor_name(&a->tensors[i], m->layer_begin, name, sizeof name);
            hp->qkv_bias |= find_tensor(m, name) != NULL;
        }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    int rc = read_swa_layers(m);
    if (rc) return rc;
    for (int i = 0; i < a->n_tensors; i++) {
        const cl_tensor_desc *t = &a->tensors[i];
        int per_layer = cl_tensor_per_layer(t);
        if (!per_layer && !global_needed(m, t->id)) continue;
        int64_t ne0 = cl_arch_dim(hp, t->ne0), ne1 = cl_arch_dim(hp, t->ne1);
        for (int l = per_layer ? m->layer_begin : 0; l < (per_layer ? m->layer_end : 1); l++) {
            cl_tensor_name(t, l, name, sizeof name);
            cl_tensor *dst = per_layer ? &m->layers[l].w[t->id] : &m->g[t->id];
            int want = t->presence == CL_P_FILE ? find_tensor(m, name) != NULL : cl_arch_present(t, hp);
            if (!want) continue;
            rc = (t->flags & CL_T_VECTOR) ? get_vector(m, name, ne0, dst) : get_tensor(m, name, ne0, ne1, 1, dst);
            if (rc) return rc;
        }
    }
    if (hp->tied_output && global_needed(m, CL_OUTPUT)) m->g[CL_OUTPUT] = m->g[CL_TOK_EMBD];
    int64_t QD = cl_arch_dim(hp, CL_DIM_QD), KD = cl_arch_dim(hp, CL_DIM_KD);
    for (int l = m->layer_begin; l < m->layer_end; l++) {
        cl_tensor *w = m->layers[l].w;
        w[CL_ATTN_QKV].keep_rows = QD % 8 || KD % 8;
        w[CL_FFN_GATE_UP].keep_rows = hp->n_ff % 8;
    }
    return 0;
}

/* Rows [r0, r0 + n) of matrix t as a matrix of its own. Interleaved (packed) tensors
 * keep group g of 8 rows at data + 8 g row_bytes, so r0 on a group boundary (the
 * loader's keep_rows) views them alike. */
static cl_tensor row_view(const cl_tensor *t, int64_t r0, int64_t n) {
    cl_tensor v = *t;
    v.data = (const char *)t->data + (size_t)r0 * t->row_bytes;
    v.ne[1] = n;
    return v;
}

/* The fused matrices (Phi-3's attn_qkv and gate+up ffn_up) as the separate ones the
 * forward pass multiplies: after interleaving, which moves them. */
static void view_fused(cllama_model *m) {
    const cl_hparams *hp = &m->hp;
    int64_t QD = cl_arch_dim(hp, CL_DIM_QD), KD = cl_arch_dim(hp, CL_DIM_KD), F = hp->n_ff;
    for (int l = m->layer_begin; l < m->layer_end; l++) {
        cl_tensor *w = m->layers[l].w;
        if (w[CL_ATTN_QKV].data) {
            w[CL_ATTN_Q] = row_view(&w[CL_ATTN_QKV], 0, QD);
            w[CL_ATTN_K] = row_view(&w[CL_ATTN_QKV], QD, KD);
            w[CL_ATTN_V] = row_view(&w[CL_ATTN_QKV], QD + KD, KD);
        }
        if (w[CL_FFN_GATE_UP].data) {
            w[CL_FFN_GATE] = row_view(&w[CL_FFN_GATE_UP], 0, F);
            w[CL_FFN_UP] = row_view(&w[CL_FFN_GATE_UP], F, F);
        }
    }
}

/* The vectors decoded at load, freed by walking the same table. */
static void free_vectors(cllama_model *m) {
    const cl_arch *a = m->arch;
    for (int i = 0; a && i < a->n_tensors; i++) {
        const cl_tensor_desc *t = &a->tensors[i];
        if (!(t->flags & CL_T_VECTOR)) continue;
        if (!cl_tensor_per_layer(t)) free((void *)m->g[t->id].data);
        else if (m->layers)
            for (int l = 0; l < m->hp.n_layer; l++) free((void *)m->layers[l].w[t->id].data);
    }
}

void cllama_model_free(cllama_model *m) {
    if (!m) return;
    free_vectors(m);
    free(m->layers);
    free(m->chat_template);
    cl_vocab_free(m->vocab);
    cl_repack_free(m);
    cl_gguf_close(m->gguf);
    for (int i = 0; i < m->n_parts; i++) cl_gguf_close(m->parts[i]);
    free(m->parts);
    free(m);
}

/* Everything after the file is open: metadata, vocabulary, weights. Takes `g` and the
 * n_parts other parts of a split model (parts, malloc'd, may be NULL). */
static int load_from_gguf(cl_gguf *g, cl_gguf **parts, int n_parts, const cllama_model_params *params, double t0,
                          cllama_model **out) {
    cllama_model_params def = cllama_model_default_params();
    if (!params) params = &def;
    cllama_model *m = calloc(1, sizeof *m);
    if (!m) {
        cl_gguf_close(g);
        for (int i = 0; i < n_parts; i++) cl_gguf_close(parts[i]);
        free(parts);
        return cl_err(CLLAMA_E_NOMEM, "out of memory");
    }
    m->gguf = g;
    m->parts = parts;
    m->n_parts = n_parts;
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
    snprintf(m->arch_name, sizeof m->arch_name, "%.*s", (int)(s.len < 31 ? s.len : 31), s.ptr);

    if ((rc = cl_gguf_get_str(g, "tokenizer.chat_template", &s)) < 0) goto fail;
    if (rc == 1) {
        if (s.len > ((uint64_t)1 << 24) || memchr(s.ptr, 0, s.len)) {
            rc = cl_err(CLLAMA_E_FORMAT, "tokenizer.chat_template is not a text of at most 16 MiB");
            goto fail;
        }
        if (!(m->chat_template = malloc(s.len + 1))) {
            rc = cl_err(CLLAMA_E_NOMEM, "out of memory");
            goto fail;
        }
        memcpy(m->chat_template, s.ptr, s.len);
        m->chat_template[s.len] = 0;
    }
    if ((rc = cl_vocab_load(g, &m->vocab))) goto fail;
    m->hp.n_vocab = cl_vocab_n_tokens(m->vocab);
    if (m->hp.n_vocab > MAX_VOCAB) {
        rc = cl_err(CLLAMA_E_FORMAT, "vocabulary of %d tokens exceeds %d", m->hp.n_vocab, MAX_VOCAB);
        goto fail;
    }
    char why[128] = "";
    if (!(m->kern = cl_kernels_find(params->kernels, why, sizeof why))) {
        rc = cl_err(CLLAMA_E_UNSUPPORTED, "kernel set '%s' is not available on this machine: %s (available: %s)",
                    params->kernels, why, cllama_kernel_sets());
        goto fail;
    }
    if (!m->vocab_only) {
        char key[64];
        int64_t experts = 0;
        snprintf(key, sizeof key, "%s.expert_count", m->arch_name);
        if (cl_gguf_get_i64(g, key, &experts) == 1 && experts > 0) {
            rc = cl_err(CLLAMA_E_UNSUPPORTED, "'%s' is a mixture-of-experts model (%s = %lld), which this engine does "
                        "not run (dense %s are supported)", m->arch_name, key, (long long)experts, cl_arch_names());
            goto fail;
        }
        if (!(m->arch = cl_arch_find(m->arch_name))) {
            rc = cl_err(CLLAMA_E_UNSUPPORTED, "architecture '%s' is not supported (supported: %s)", m->arch_name,
                        cl_arch_names());
            goto fail;
        }
        if ((rc = read_hparams(m))) goto fail;
        m->layer_begin = params->layer_begin;
        m->layer_end = params->layer_begin || params->layer_end ? params->layer_end : m->hp.n_layer;
        if (m->layer_begin < 0 || m->layer_end > m->hp.n_layer || m->layer_begin >= m->layer_end) {
            rc = cl_err(CLLAMA_E_INVALID, "layer range [%d, %d) is not within the model's %d layers",
                        params->layer_begin, params->layer_end, m->hp.n_layer);
            goto fail;
        }
        if ((rc = load_tensors(m)) || (!params->no_repack && (rc = cl_repack_model(m, params->threadpool))))
            goto fail;
        view_fused(m);
    }
    m->load_ms = now_ms() - t0;
    *out = m;
    return CLLAMA_OK;
fail:
    if (rc > 0) rc = CLLAMA_E_FORMAT;
    cllama_model_free(m);
    return rc;
}

/* The other parts of a split model whose first part `g` is at `path`
 * (NAME-00001-of-0000K.gguf, as llama.cpp's gguf-split writes them: split.no,
 * split.count and split.tensors.count in every part). *parts NULL for a whole file. */
static int open_parts(const char *path, const cl_gguf *g, cl_gguf ***parts, int *n_parts) {
    *parts = NULL;
    *n_parts = 0;
    int64_t count = 1, no = 0, total = -1;
    int rc;
    if ((rc = cl_gguf_get_i64(g, "split.count", &count)) < 0 || (rc = cl_gguf_get_i64(g, "split.no", &no)) < 0 ||
        (rc = cl_gguf_get_i64(g, "split.tensors.count", &total)) < 0)
        return cl_err(CLLAMA_E_FORMAT, "split.* metadata of the wrong type");
    rc = 0;
    if (count <= 1) return 0;
    if (count > CL_MAX_PARTS)
        return cl_err(CLLAMA_E_FORMAT, "split.count %lld: at most %d parts", (long long)count, CL_MAX_PARTS);
    if (no != 0)
        return cl_err(CLLAMA_E_FORMAT, "part %lld of %lld of a split model: load the first, NAME-00001-of-%05lld.gguf",
                      (long long)no + 1, (long long)count, (long long)count);
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-00001-of-%05lld.gguf", (long long)count);
    size_t len = strlen(path), sl = strlen(suffix);
    if (len < sl || strcmp(path + len - sl, suffix))
        return cl_err(CLLAMA_E_FORMAT, "the first of %lld parts of a split model, but not named NAME%s: the other "
                      "parts cannot be found", (long long)count, suffix);
    cl_gguf **p = calloc((size_t)count - 1, sizeof *p);
    char *name = malloc(len + 1);
    if (!p || !name) {
        free(p);
        free(name);
        return cl_err(CLLAMA_E_NOMEM, "out of memory");
    }
    uint64_t tensors = cl_gguf_n_tensors(g);
    for (int i = 1; i < count && !rc; i++) {
        snprintf(name, len + 1, "%.*s-%05d-of-%05lld.gguf", (int)(len - sl), path, i + 1, (long long)count);
        int64_t pno = -1, pcount = -1;
        if ((rc = cl_gguf_open(name, &p[i - 1]))) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", cllama_last_error());
            rc = cl_err(rc, "part %d of %lld: %s", i + 1, (long long)count, msg);
        } else if (cl_gguf_get_i64(p[i - 1], "split.no", &pno) != 1 || cl_gguf_get_i64(p[i - 1], "split.count", &pcount) != 1 ||
                   pno != i || pcount != count) {
            rc = cl_err(CLLAMA_E_FORMAT, "%s is not part %d of %lld of this model (its split.no %lld, split.count %lld)",
                        name, i + 1, (long long)count, (long long)pno + 1, (long long)pcount);
        } else {
            tensors += cl_gguf_n_tensors(p[i - 1]);
        }
    }
    if (!rc && total >= 0 && (uint64_t)total != tensors)
        rc = cl_err(CLLAMA_E_FORMAT, "the %lld parts hold %llu tensors; split.tensors.count says %lld", (long long)count,
                    (unsigned long long)tensors, (long long)total);
    free(name);
    if (rc) {
        for (int i = 0; i < count - 1; i++) cl_gguf_close(p[i]);
        free(p);
        return rc;
    }
    *parts = p;
    *n_parts = (int)count - 1;
    return 0;
}

int cllama_model_load(const char *path, const cllama_model_params *params, cllama_model **out) {
    *out = NULL;
    if (!path) return cl_err(CLLAMA_E_INVALID, "no model path given");
    double t0 = now_ms();
    cl_gguf *g, **parts = NULL;
    int n_parts = 0;
    int rc = cl_gguf_open(path, &g);
    if (rc) return rc;
    if ((rc = open_parts(path, g, &parts, &n_parts))) cl_gguf_close(g);
    else rc = load_from_gguf(g, parts, n_parts, params, t0, out);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cllama_last_error());
        cl_err(rc, "%s: %s", path, msg);
    }
    return rc;
}

int cllama_model_load_buffer(const void *buf, size_t size, const cllama_model_params *params, cllama_model **out) {
    *out = NULL;
    if (!buf) return cl_err(CLLAMA_E_INVALID, "no model image given");
    double t0 = now_ms();
    cl_gguf *g;
    int rc = cl_gguf_open_memory(buf, size, &g);
    return rc ? rc : load_from_gguf(g, NULL, 0, params, t0, out);
}

int cllama_model_n_vocab(const cllama_model *m) { return m->hp.n_vocab; }
int cllama_model_n_ctx_train(const cllama_model *m) { return m->hp.n_ctx_train; }
int cllama_model_n_embd(const cllama_model *m) { return m->hp.n_embd; }
int cllama_model_n_layer(const cllama_model *m) { return m->hp.n_layer; }

/* The file type read off the tensor types, for files without general.file_type:
 * elements per type over the 2-D weight matrices (vectors such as norms stay F32 in
 * every recipe; token_embd and output are left out too, as the recipes give them Q6_K
 * or 8 bits whatever the file type, unless the file has no other matrix). The dominant
 * type names the file, and for K-quants the other types present name the recipe that
 * makes that mix in llama.cpp's quantizer: Q4_K with Q6_K is Q4_K_M (more bits for
 * attn_v and ffn_down in half the layers), with Q5_K only Q4_K_S; Q5_K with Q6_K is
 * Q5_K_M, alone Q5_K_S; Q3_K with Q4_K is Q3_K_M, with Q5_K only Q3_K_L, alone
 * Q3_K_S. "mixed" when there is no matrix or the dominant type has no file type. */
static const char *ftype_from_tensors(const cl_gguf *g) {
    uint64_t elems[CL_TYPE_COUNT] = {0};
    for (int pass = 0; pass < 2; pass++) {
        uint64_t total = 0;
        for (uint64_t i = 0; i < cl_gguf_n_tensors(g); i++) {
            const cl_gguf_tensor *t = cl_gguf_tensor_at(g, i);
            if (t->n_dims < 2 || t->ne[1] < 2 || t->type < 0 || t->type >= CL_TYPE_COUNT) continue;
            if (!pass && (cl_str_eq(t->name, "token_embd.weight") || cl_str_eq(t->name, "output.weight"))) continue;
            uint64_t n = (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
            elems[t->type] += n;
            total += n;
        }
        if (total) break;
    }
    int top = -1;
    for (int k = 0; k < CL_TYPE_COUNT; k++)
        if (elems[k] && (top < 0 || elems[k] > elems[top])) top = k;
    switch (top) {
    case CL_TYPE_F32: return "F32";
    case CL_TYPE_F16: return "F16";
    case CL_TYPE_BF16: return "BF16";
    case CL_TYPE_Q4_0: return "Q4_0";
    case CL_TYPE_Q4_1: return "Q4_1";
    case CL_TYPE_Q5_0: return "Q5_0";
    case CL_TYPE_Q5_1: return "Q5_1";
    case CL_TYPE_Q8_0: return "Q8_0";
    case CL_TYPE_Q2_K: return "Q2_K";
    case CL_TYPE_Q3_K: return elems[CL_TYPE_Q4_K] ? "Q3_K_M" : elems[CL_TYPE_Q5_K] ? "Q3_K_L" : "Q3_K_S";
    case CL_TYPE_Q4_K: return elems[CL_TYPE_Q6_K] ? "Q4_K_M" : "Q4_K_S";
    case CL_TYPE_Q5_K: return elems[CL_TYPE_Q6_K] ? "Q5_K_M" : "Q5_K_S";
    case CL_TYPE_Q6_K: return "Q6_K";
    default: return "mixed";
    }
}

void cllama_model_describe(const cllama_model *m, cllama_model_desc *d) {
    memset(d, 0, sizeof *d);
    snprintf(d->arch, sizeof d->arch, "%s", m->arch_name);
    snprintf(d->name, sizeof d->name, "%s", m->name);
    /* A number llama.cpp does not define is named from the tensors, as an absent key. */
    uint32_t ft;
    const cl_ftype *f = cl_gguf_get_u32(m->gguf, "general.file_type", &ft) == 1 ? cl_ftype_by_number(ft) : NULL;
    const char *name = f ? f->name : NULL;
    snprintf(d->file_type, sizeof d->file_type, "%s", name ? name : ftype_from_tensors(m->gguf));
    d->hp = m->hp;
    d->n_params = m->n_params;
    d->weight_bytes = m->weight_bytes;
    d->file_bytes = cl_gguf_file_size(m->gguf);
    for (int i = 0; i < m->n_parts; i++) d->file_bytes += cl_gguf_file_size(m->parts[i]);
    d->repacked_bytes = m->packed_bytes;
    d->kernels = m->kern->isa;
    d->layer_begin = m->layer_begin;
    d->layer_end = m->layer_end;
    d->load_ms = m->load_ms;
}

int cllama_model_meta(const cllama_model *m, const char *key, char *buf, size_t cap) {
    const cl_gguf_kv *kv = key ? cl_gguf_find(m->gguf, key) : NULL;
    if (!kv) return cl_err(CLLAMA_E_RANGE, "no metadata key %s", key ? key : "(null)");
    char num[64];
    const char *text = num;
    size_t len;
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0;
    switch (kv->type) {
    case CL_GGUF_STRING:
        memcpy(&u, kv->data, 8);
        text = (const char *)kv->data + 8;
        len = (size_t)u;
        break;
    case CL_GGUF_ARRAY: len = (size_t)snprintf(num, sizeof num, "[%llu items]", (unsigned long long)kv->arr_n); break;
    case CL_GGUF_BOOL: len = (size_t)snprintf(num, sizeof num, "%s", kv->data[0] ? "true" : "false"); break;
    case CL_GGUF_F32: {
        float v;
        memcpy(&v, kv->data, 4);
        len = (size_t)snprintf(num, sizeof num, "%.9g", v);
        break;
    }
    case CL_GGUF_F64:
        memcpy(&f, kv->data, 8);
        len = (size_t)snprintf(num, sizeof num, "%.17g", f);
        break;
    case CL_GGUF_U64:
        memcpy(&u, kv->data, 8);
        len = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)u);
        break;
    default:
        if (cl_gguf_get_i64(m->gguf, key, &i) != 1) return cl_err(CLLAMA_E_FORMAT, "metadata %s is unreadable", key);
        len = (size_t)snprintf(num, sizeof num, "%lld", (long long)i);
    }
    if (cap) {
        size_t k = len < cap - 1 ? len : cap - 1;
        memcpy(buf, text, k);
        buf[k] = 0;
    }
    return len > INT32_MAX ? INT32_MAX : (int)len;
}

int cllama_tokenize(const cllama_model *m, const char *text, size_t len, int flags, int32_t *ids,
                    int cap) {
    if (!m || (!text && len) || cap < 0 || (!ids && cap))
        return cl_err(CLLAMA_E_INVALID, "cllama_tokenize: invalid arguments");
    return cl_vocab_tokenize(m->vocab, text, len, flags, ids, cap);
}

int cllama_token_to_piece(const cllama_model *m, int32_t id, char *buf, int cap) {
    return cl_vocab_piece(m->vocab, id, buf, cap);
}

const char *cllama_token_text(const cllama_model *m, int32_t id, int *len) { return cl_vocab_token_text(m->vocab, id, len); }
int cllama_token_type(const cllama_model *m, int32_t id) { return cl_vocab_token_type(m->vocab, id); }

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
    cllama_model_desc d;
    cllama_model_describe(m, &d);
    uint64_t n_tensors = cl_gguf_n_tensors(m->gguf);
    for (int i = 0; i < m->n_parts; i++) n_tensors += cl_gguf_n_tensors(m->parts[i]);
    fmt_bytes(sz, sizeof sz, (double)d.file_bytes);
    fprintf(f, "name:            %s\n", m->name[0] ? m->name : "(none)");
    fprintf(f, "architecture:    %s\n", m->arch_name);
    fprintf(f, "gguf version:    %u, alignment %llu, %llu metadata keys, %llu tensors\n",
            cl_gguf_version(m->gguf), (unsigned long long)cl_gguf_alignment(m->gguf),
            (unsigned long long)cl_gguf_n_kv(m->gguf), (unsigned long long)n_tensors);
    fprintf(f, "file size:       %s (%llu bytes%s)\n", sz, (unsigned long long)d.file_bytes,
            m->n_parts ? ", all parts" : "");
    if (m->n_parts) fprintf(f, "parts:           %d files\n", m->n_parts + 1);
    uint32_t ft;
    fprintf(f, "file type:       %s (%s)\n", d.file_type,
            cl_gguf_get_u32(m->gguf, "general.file_type", &ft) == 1 ? "general.file_type" : "from the tensor types");
    cl_vocab_print(m->vocab, f);
    if (m->chat_template) {
        const char *t = m->chat_template, *nl = strchr(t, '\n');
        int first = (int)(nl ? nl - t : (ptrdiff_t)strlen(t));
        fprintf(f, "chat template:   %s, %zu bytes: %.*s%s\n", cllama_chat_template_family(t), strlen(t),
                first > 72 ? 72 : first, t, first > 72 || nl ? " ..." : "");
    } else {
        fprintf(f, "chat template:   none (chat uses the chatml built-in)\n");
    }
    if (m->vocab_only) return;
    fprintf(f, "n_vocab:         %d\n", hp->n_vocab);
    fprintf(f, "n_embd:          %d\n", hp->n_embd);
    fprintf(f, "n_layer:         %d\n", hp->n_layer);
    fprintf(f, "n_head:          %d\n", hp->n_head);
    fprintf(f, "n_head_kv:       %d (GQA %d:1)\n", hp->n_head_kv, hp->n_head / hp->n_head_kv);
    fprintf(f, "head_dim:        %d\n", hp->head_dim);
    fprintf(f, "n_ff:            %d\n", hp->n_ff);
    fprintf(f, "n_ctx_train:     %d\n", hp->n_ctx_train);
    fprintf(f, "rope:            %s, base %g, linear scale %g%s\n", hp->rope_neox ? "NeoX (halves)" : "normal (pairs)",
            hp->rope_base, 1.0 / hp->rope_scale,
            m->g[CL_ROPE_FREQS].data ? ", per-dimension factors (rope_freqs.weight)" : "");
    fprintf(f, "rms_eps:         %g\n", hp->rms_eps);
    if (hp->rope_attn_factor != 1.0f || m->g[CL_ROPE_LONG].data)
        fprintf(f, "longrope:        factors %s, original context %d, attention factor %g\n",
                m->g[CL_ROPE_LONG].data ? "long/short" : "none", hp->n_ctx_orig, hp->rope_attn_factor);
    if (hp->n_swa) {
        int n = 0;
        for (int l = 0; l < hp->n_layer; l++) n += m->layers[l].swa;
        fprintf(f, "sliding window:  %d positions on %d of %d layers (their rope: base %g, scale %g)\n", hp->n_swa, n,
                hp->n_layer, hp->rope_base_swa, 1.0 / hp->rope_scale_swa);
    }
    if (hp->attn_softcap || hp->final_softcap)
        fprintf(f, "soft-capping:    scores %g, logits %g\n", hp->attn_softcap, hp->final_softcap);
    if (hp->ffn_gelu)
        fprintf(f, "gemma layer:     embeddings x %g, GeGLU (tanh GELU), post-norms%s, query scale %g\n", hp->embd_scale,
                hp->qk_norm ? ", Q/K norms" : "", hp->attn_scale);
    fprintf(f, "qkv biases:      %s\n", hp->qkv_bias ? "yes" : "no");
    fprintf(f, "output:          %s\n", hp->tied_output ? "tied to token_embd" : "output.weight");
    if (m->layer_begin != 0 || m->layer_end != hp->n_layer)
        fprintf(f, "layers loaded:   [%d, %d) of %d\n", m->layer_begin, m->layer_end, hp->n_layer);
    fmt_bytes(sz, sizeof sz, (double)m->weight_bytes);
    fprintf(f, "parameters:      %.3f M (%llu), weights %s, %.2f bits per weight\n", m->n_params / 1e6,
            (unsigned long long)m->n_params, sz, 8.0 * m->weight_bytes / (double)m->n_params);
    if (m->packed) {
        fmt_bytes(sz, sizeof sz, (double)m->packed_bytes);
        fprintf(f, "kernels:         %s; %s of matrices rewritten as 8-row (x8) blocks at load for the 8- and 16-row kernels, "
                   "the rest used in place from the mapping\n", m->kern->isa, sz);
    } else {
        fprintf(f, "kernels:         %s (weights used in place from the mapping)\n", m->kern->isa);
    }
    fprintf(f, "\n%-32s %-6s %-24s %12s\n", "tensor", "type", "shape", "bytes");
    for (int part = 0; part <= m->n_parts; part++)
    for (uint64_t i = 0; i < cl_gguf_n_tensors(part ? m->parts[part - 1] : m->gguf); i++) {
        const cl_gguf_tensor *t = cl_gguf_tensor_at(part ? m->parts[part - 1] : m->gguf, i);
        char shape[64];
        int k = snprintf(shape, sizeof shape, "[%lld", (long long)t->ne[0]);
        for (int d = 1; d < t->n_dims && k < (int)sizeof shape; d++)
            k += snprintf(shape + k, sizeof shape - k, ", %lld", (long long)t->ne[d]);
        if (k < (int)sizeof shape) snprintf(shape + k, sizeof shape - k, "]");
        fprintf(f, "%-32.*s %-6s %-24s %12llu\n", (int)(t->name.len < 64 ? t->name.len : 64), t->name.ptr,
                cl_type_name(t->type), shape, (unsigned long long)t->nbytes);
    }
}
