/* Context (KV cache, scratch, threads) and the Llama forward pass over a batch of
 * tokens. Shapes: E = n_embd, H = n_head, Hkv = n_head_kv, D = head_dim,
 * F = n_ff, V = n_vocab, B = tokens in the current micro-batch, C = n_ctx. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernels/kernels.h"
#include "matmul.h"
#include "model.h"
#include "quant/quant.h"
#include "threads.h"

/* Tokens per forward micro-batch: prompts up to this length run as one batch; longer
 * ones in chunks, which bounds the scratch memory (B x F floats). */
#define MAX_BATCH 512
#define DEFAULT_CTX_CAP 4096

struct cllama_context {
    cllama_model *m;
    cl_pool *pool;
    int n_ctx;
    int n_past;
    cl_f16 *k_cache; /* [n_layer][C][Hkv*D] */
    cl_f16 *v_cache; /* [n_layer][C][Hkv*D] */
    float *x;        /* [B][E] residual stream */
    float *xb;       /* [B][E] normed input of a block */
    float *q;        /* [B][H*D] */
    float *k;        /* [B][Hkv*D] */
    float *v;        /* [B][Hkv*D] */
    float *att;      /* [B][H*D] attention output */
    float *hb;       /* [B][F] gate, then silu(gate) * up */
    float *hb2;      /* [B][F] up */
    int att_rows;    /* query rows per attention item (att_tokens() x heads per KV head) */
    float *scores;   /* [n_threads][C][att_rows] attention weights, key-major */
    float *att_q;    /* [n_threads][att_rows][D] one item's query rows */
    float *att_o;    /* [n_threads][att_rows][D] one item's outputs */
    float *inv_freq; /* [D/2] rope frequency of each pair, radians per position */
    void *act;       /* quantized activations for the matmuls */
};

cllama_context_params cllama_context_default_params(void) {
    cllama_context_params p = {0, 0};
    return p;
}

void cllama_context_free(cllama_context *c) {
    if (!c) return;
    cl_pool_free(c->pool);
    free(c->k_cache);
    free(c->v_cache);
    free(c->x);
    free(c->xb);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->hb);
    free(c->hb2);
    free(c->scores);
    free(c->att_q);
    free(c->att_o);
    free(c->inv_freq);
    free(c->act);
    free(c);
}

/* Query rows per attention work item, about: tokens per item = ATT_ROWS / (query heads
 * per KV head), at least 1. */
#define ATT_ROWS 8
static int att_tokens(const cl_hparams *hp) {
    int group = hp->n_head / hp->n_head_kv;
    return group >= ATT_ROWS ? 1 : ATT_ROWS / group;
}

/* Largest input width of any matmul, for the activation scratch. */
static size_t max_in(const cl_hparams *hp) {
    size_t E = hp->n_embd, QD = (size_t)hp->n_head * hp->head_dim, F = hp->n_ff;
    size_t m = E > F ? E : F;
    return QD > m ? QD : m;
}

uint64_t cl_context_bytes(const cl_hparams *hp, int n_ctx, int n_threads) {
    uint64_t E = hp->n_embd, QD = (uint64_t)hp->n_head * hp->head_dim, KD = (uint64_t)hp->n_head_kv * hp->head_dim;
    uint64_t F = hp->n_ff, B = MAX_BATCH < n_ctx ? MAX_BATCH : (uint64_t)n_ctx;
    uint64_t kv = 2 * (uint64_t)hp->n_layer * (uint64_t)n_ctx * KD * sizeof(cl_f16);
    uint64_t acts = B * (2 * E + 2 * QD + 2 * KD + 2 * F) * sizeof(float);
    uint64_t rows = (uint64_t)att_tokens(hp) * (uint64_t)(hp->n_head / hp->n_head_kv);
    return kv + acts + cl_matmul_scratch((int64_t)max_in(hp), (int)B) +
           (uint64_t)n_threads * rows * ((uint64_t)n_ctx + 2 * (uint64_t)hp->head_dim) * sizeof(float);
}

static void *alloc_floats(size_t n) { return aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64); }

int cllama_context_init(cllama_model *m, const cllama_context_params *params, cllama_context **out) {
    *out = NULL;
    if (!m || m->vocab_only)
        return cl_err(CLLAMA_E_INVALID, "a context needs a model loaded with its weights");
    cllama_context_params def = cllama_context_default_params();
    if (!params) params = &def;
    const cl_hparams *hp = &m->hp;
    int n_ctx = params->n_ctx;
    if (n_ctx < 0) return cl_err(CLLAMA_E_INVALID, "context length %d is negative", n_ctx);
    if (n_ctx == 0) n_ctx = hp->n_ctx_train < DEFAULT_CTX_CAP ? hp->n_ctx_train : DEFAULT_CTX_CAP;
    if (n_ctx > (1 << 22)) return cl_err(CLLAMA_E_INVALID, "context length %d too large", n_ctx);
    int n_threads = params->n_threads > 0 ? params->n_threads : cl_default_threads();

    cllama_context *c = calloc(1, sizeof *c);
    if (!c) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    c->m = m;
    c->n_ctx = n_ctx;
    int rc = cl_pool_init(n_threads, &c->pool);
    if (rc) {
        free(c);
        return rc;
    }
    size_t E = hp->n_embd, QD = (size_t)hp->n_head * hp->head_dim, KD = (size_t)hp->n_head_kv * hp->head_dim;
    size_t F = hp->n_ff, B = MAX_BATCH < n_ctx ? MAX_BATCH : n_ctx;
    size_t kv = (size_t)hp->n_layer * n_ctx * KD;
    c->k_cache = aligned_alloc(64, (kv * sizeof(cl_f16) + 63) / 64 * 64);
    c->v_cache = aligned_alloc(64, (kv * sizeof(cl_f16) + 63) / 64 * 64);
    c->x = alloc_floats(B * E);
    c->xb = alloc_floats(B * E);
    c->q = alloc_floats(B * QD);
    c->k = alloc_floats(B * KD);
    c->v = alloc_floats(B * KD);
    c->att = alloc_floats(B * QD);
    c->hb = alloc_floats(B * F);
    c->hb2 = alloc_floats(B * F);
    c->att_rows = att_tokens(hp) * (hp->n_head / hp->n_head_kv);
    c->scores = alloc_floats((size_t)n_threads * n_ctx * c->att_rows);
    c->att_q = alloc_floats((size_t)n_threads * c->att_rows * hp->head_dim);
    c->att_o = alloc_floats((size_t)n_threads * c->att_rows * hp->head_dim);
    c->inv_freq = alloc_floats((size_t)hp->head_dim / 2);
    c->act = aligned_alloc(64, (cl_matmul_scratch((int64_t)max_in(hp), (int)B) + 63) / 64 * 64);
    if (!c->k_cache || !c->v_cache || !c->x || !c->xb || !c->q || !c->k || !c->v || !c->att || !c->hb ||
        !c->hb2 || !c->scores || !c->att_q || !c->att_o || !c->inv_freq || !c->act) {
        cllama_context_free(c);
        return cl_err(CLLAMA_E_NOMEM, "out of memory allocating a %d-token context", n_ctx);
    }
    for (int i = 0; i < hp->head_dim / 2; i++) {
        double f = pow(hp->rope_base, -2.0 * i / hp->head_dim);
        if (m->rope_freqs) f /= m->rope_freqs[i];
        c->inv_freq[i] = (float)(f * hp->rope_scale);
    }
    *out = c;
    return CLLAMA_OK;
}

int cllama_context_n_ctx(const cllama_context *c) { return c->n_ctx; }
int cllama_context_n_past(const cllama_context *c) { return c->n_past; }
int cllama_context_n_threads(const cllama_context *c) { return cl_pool_size(c->pool); }
void cllama_context_reset(cllama_context *c) { c->n_past = 0; }

/* out[B][n] = x / rms(x) * w, per row. */
static void rmsnorm(float *out, const float *x, const float *w, int n, int B, float eps) {
    for (int b = 0; b < B; b++) {
        const float *xr = x + (size_t)b * n;
        float *o = out + (size_t)b * n;
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float s = (float)(1.0 / sqrt(ss / n + eps));
        for (int i = 0; i < n; i++) o[i] = xr[i] * s * w[i];
    }
}

/* Rotates each pair (x[2i], x[2i+1]) of every head by pos * inv_freq[i]. x: [n_heads][D]. */
static void rope(float *x, int n_heads, int D, const float *cs) {
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * D;
        for (int i = 0; i < D / 2; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * c - b * s;
            v[2 * i + 1] = a * s + b * c;
        }
    }
}

typedef struct {
    cllama_context *c;
    int layer;
    int B;
    int T; /* tokens per item, att_tokens() */
} att_job;

/* One work item: up to att_tokens() consecutive tokens x the query heads that share
 * one KV head (rows r = t * group + hh: token b0 + t, head g * group + hh). Each cached
 * key and value row is then read and converted once per item for all its rows, in one
 * kernel call, instead of once per (token, head). Under the causal mask token t sees
 * positions <= n_past + b0 + t, so key p goes to the rows of tokens from p - n_past - b0
 * on: a suffix of the rows, and nothing past a row's own position is computed. Items
 * run last tile first: the costly ones taken first leave the cheap ones to even out
 * the threads' ends. */
static void attention_item(void *arg, int64_t item, int ith) {
    const att_job *j = arg;
    cllama_context *c = j->c;
    const cl_hparams *hp = &c->m->hp;
    int H = hp->n_head, Hkv = hp->n_head_kv, D = hp->head_dim, KD = Hkv * D, QD = H * D, group = H / Hkv;
    int T = j->T, n_tiles = (j->B + T - 1) / T;
    const cl_kernels *kern = cl_kernels_get();
    const cl_f16 *kc = c->k_cache + (size_t)j->layer * c->n_ctx * KD;
    const cl_f16 *vc = c->v_cache + (size_t)j->layer * c->n_ctx * KD;
    item = (int64_t)n_tiles * Hkv - 1 - item;
    int b0 = (int)(item / Hkv) * T, g = (int)(item % Hkv);
    int nb = j->B - b0 < T ? j->B - b0 : T, R = nb * group, base = c->n_past + b0;
    size_t hd = (size_t)group * D; /* floats of one token's rows: its group's heads are adjacent */
    float *qb = c->att_q + (size_t)ith * c->att_rows * D; /* [R][D] */
    float *ob = c->att_o + (size_t)ith * c->att_rows * D; /* [R][D] */
    float *sc = c->scores + (size_t)ith * c->att_rows * c->n_ctx; /* [n_keys][R] */
    for (int t = 0; t < nb; t++) memcpy(qb + t * hd, c->q + (size_t)(b0 + t) * QD + g * hd, hd * sizeof(float));
    int n_keys = base + nb;
    for (int p = 0; p < n_keys; p++) {
        int f = (p > base ? p - base : 0) * group;
        kern->dot[CL_TYPE_F16](D, kc + (size_t)p * KD + (size_t)g * D, qb + (size_t)f * D, (size_t)D * sizeof(float),
                               R - f, sc + (size_t)p * R + f);
    }
    float scale = 1.0f / sqrtf((float)D);
    for (int r = 0; r < R; r++) {
        int keys = base + r / group + 1;
        float mx = -INFINITY;
        for (int p = 0; p < keys; p++) {
            float v = sc[(size_t)p * R + r] * scale;
            sc[(size_t)p * R + r] = v;
            if (v > mx) mx = v;
        }
        double sum = 0;
        for (int p = 0; p < keys; p++) {
            float e = expf(sc[(size_t)p * R + r] - mx);
            sc[(size_t)p * R + r] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int p = 0; p < keys; p++) sc[(size_t)p * R + r] *= inv;
    }
    memset(ob, 0, (size_t)R * D * sizeof *ob);
    for (int p = 0; p < n_keys; p++) {
        int f = (p > base ? p - base : 0) * group;
        kern->axpy_f16(D, R - f, sc + (size_t)p * R + f, vc + (size_t)p * KD + (size_t)g * D, ob + (size_t)f * D);
    }
    for (int t = 0; t < nb; t++) memcpy(c->att + (size_t)(b0 + t) * QD + g * hd, ob + t * hd, hd * sizeof(float));
}

/* The per-token steps between the matmuls. Each token row is independent, so a step
 * is split by rows across the pool; for a few rows (generation) the wake-up of the
 * other threads would cost more than the step, so they run on the calling thread. */
enum row_op {
    ROW_NORM,     /* xb = rmsnorm(x) * w */
    ROW_ADD_NORM, /* x += xb, then ROW_NORM */
    ROW_ROPE,     /* rotate q and k at each token's position, store k and v in the cache */
    ROW_SILU,     /* hb = silu(hb) * hb2 */
};

typedef struct {
    cllama_context *c;
    enum row_op op;
    int B, layer;
    const float *w; /* [E] norm weights */
} row_job;

static void row_task(void *arg, int ith, int nth) {
    const row_job *j = arg;
    cllama_context *c = j->c;
    const cl_hparams *hp = &c->m->hp;
    int E = hp->n_embd, H = hp->n_head, Hkv = hp->n_head_kv, D = hp->head_dim, F = hp->n_ff;
    int QD = H * D, KD = Hkv * D;
    int64_t lo, hi;
    cl_split(j->B, ith, nth, 1, &lo, &hi);
    switch (j->op) {
    case ROW_ADD_NORM:
        for (size_t i = (size_t)lo * E; i < (size_t)hi * E; i++) c->x[i] += c->xb[i];
        /* fall through */
    case ROW_NORM:
        rmsnorm(c->xb + (size_t)lo * E, c->x + (size_t)lo * E, j->w, E, (int)(hi - lo), hp->rms_eps);
        break;
    case ROW_ROPE: {
        cl_f16 *kc = c->k_cache + (size_t)j->layer * c->n_ctx * KD;
        cl_f16 *vc = c->v_cache + (size_t)j->layer * c->n_ctx * KD;
        float cs[2 * 4096 / 2]; /* cos/sin per pair for one position; D <= 4096 */
        for (int64_t b = lo; b < hi; b++) {
            int pos = c->n_past + (int)b;
            for (int i = 0; i < D / 2; i++) {
                float th = (float)pos * c->inv_freq[i];
                cs[2 * i] = cosf(th);
                cs[2 * i + 1] = sinf(th);
            }
            rope(c->q + (size_t)b * QD, H, D, cs);
            rope(c->k + (size_t)b * KD, Hkv, D, cs);
            for (int i = 0; i < KD; i++) {
                kc[(size_t)pos * KD + i] = cl_f32_to_f16(c->k[(size_t)b * KD + i]);
                vc[(size_t)pos * KD + i] = cl_f32_to_f16(c->v[(size_t)b * KD + i]);
            }
        }
        break;
    }
    case ROW_SILU:
        for (size_t i = (size_t)lo * F; i < (size_t)hi * F; i++) {
            float g = c->hb[i];
            c->hb[i] = g / (1.0f + expf(-g)) * c->hb2[i];
        }
        break;
    }
}

static void run_rows(cllama_context *c, enum row_op op, int B, int layer, const float *w) {
    row_job j = {c, op, B, layer, w};
    if (B < 8) row_task(&j, 0, 1);
    else cl_pool_run(c->pool, row_task, &j);
}

/* Runs B tokens at positions n_past.. through the model; leaves the final-normed
 * hidden states in c->xb. */
static void forward_batch(cllama_context *c, const int32_t *tokens, int B) {
    cllama_model *m = c->m;
    const cl_hparams *hp = &m->hp;
    int E = hp->n_embd, Hkv = hp->n_head_kv;
    cl_pool *pool = c->pool;

    for (int b = 0; b < B; b++)
        cl_dequantize_row(m->tok_embd.type, (const char *)m->tok_embd.data + (size_t)tokens[b] * m->tok_embd.row_bytes,
                          c->x + (size_t)b * E, E);

    run_rows(c, ROW_NORM, B, 0, m->layers[0].attn_norm);
    for (int l = 0; l < hp->n_layer; l++) {
        const cl_layer *L = &m->layers[l];
        const cl_tensor *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *qkv_out[3] = {c->q, c->k, c->v};
        cl_matmul_n(pool, 3, qkv, c->xb, B, qkv_out, c->act);
        run_rows(c, ROW_ROPE, B, l, NULL);
        att_job aj = {c, l, B, att_tokens(hp)};
        cl_pool_run_items(pool, (int64_t)(B + aj.T - 1) / aj.T * Hkv, attention_item, &aj);
        cl_matmul(pool, &L->wo, c->att, B, c->xb, c->act);
        run_rows(c, ROW_ADD_NORM, B, l, L->ffn_norm);

        const cl_tensor *gate_up[2] = {&L->w_gate, &L->w_up};
        float *gate_up_out[2] = {c->hb, c->hb2};
        cl_matmul_n(pool, 2, gate_up, c->xb, B, gate_up_out, c->act);
        run_rows(c, ROW_SILU, B, l, NULL);
        cl_matmul(pool, &L->w_down, c->hb, B, c->xb, c->act);
        run_rows(c, ROW_ADD_NORM, B, l, l + 1 < hp->n_layer ? m->layers[l + 1].attn_norm : m->output_norm);
    }
}

int cllama_context_eval(cllama_context *c, const int32_t *tokens, int n, float *logits, int all_logits) {
    if (!c || (!tokens && n)) return cl_err(CLLAMA_E_INVALID, "cllama_context_eval: invalid arguments");
    if (n <= 0) return cl_err(CLLAMA_E_INVALID, "cllama_context_eval: no tokens to evaluate");
    const cl_hparams *hp = &c->m->hp;
    if (n > c->n_ctx - c->n_past)
        return cl_err(CLLAMA_E_RANGE, "%d tokens do not fit in the context (%d of %d used)", n, c->n_past,
                      c->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return cl_err(CLLAMA_E_RANGE, "token id %d at position %d is outside the vocabulary (0..%d)",
                          tokens[i], i, hp->n_vocab - 1);
    int E = hp->n_embd, V = hp->n_vocab;
    int max_b = MAX_BATCH < c->n_ctx ? MAX_BATCH : c->n_ctx;
    for (int done = 0; done < n;) {
        int B = n - done < max_b ? n - done : max_b;
        forward_batch(c, tokens + done, B);
        c->n_past += B;
        done += B;
        if (!logits) continue;
        if (all_logits) {
            cl_matmul(c->pool, &c->m->output, c->xb, B, logits + (size_t)(done - B) * V, c->act);
        } else if (done == n) {
            cl_matmul(c->pool, &c->m->output, c->xb + (size_t)(B - 1) * E, 1, logits, c->act);
        }
    }
    return CLLAMA_OK;
}
