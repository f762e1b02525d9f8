/* The forward pass of one micro-batch through the context's layer range: RMSNorm,
 * rope, grouped-query attention over the KV cells each token's sequence holds (within
 * the sliding window on windowed layers), SwiGLU or GeGLU; Gemma's extra norms and
 * soft-capping where the hyperparameters ask. Shapes as in context.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "error.h"
#include "matmul.h"

/* Query rows per attention work item, about: tokens per item = ATT_ROWS / (query heads
 * per KV head), at least 1. */
#define ATT_ROWS 8
int cl_att_tokens(const cl_hparams *hp) {
    int group = hp->n_head / hp->n_head_kv;
    return group >= ATT_ROWS ? 1 : ATT_ROWS / group;
}

size_t cl_max_in(const cl_hparams *hp) {
    size_t E = hp->n_embd, QD = (size_t)hp->n_head * hp->head_dim, F = hp->n_ff;
    size_t m = E > F ? E : F;
    return QD > m ? QD : m;
}

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

/* Rotates each head of x ([n_heads][D]) by the angles whose cos/sin are cs[2i], cs[2i+1]:
 * pair i is (x[2i], x[2i+1]) in the normal layout, (x[i], x[i + D/2]) in NeoX's. */
static void rope(float *x, int n_heads, int D, const float *cs, int neox) {
    int step = neox ? 1 : 2, half = neox ? D / 2 : 1;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * D;
        for (int i = 0; i < D / 2; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            float *p0 = v + i * step, *p1 = p0 + half;
            float a = *p0, b = *p1;
            *p0 = a * c - b * s;
            *p1 = a * s + b * c;
        }
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Softmax of one query row's scores over the cells it sees, key-major: x[k * stride]
 * for keys [lo, n) after scaling by `scale` and, with cap > 0, soft-capping to
 * cap * tanh(s / cap); keys [0, lo) (before the row's window) get weight 0. */
static void softmax_column(float *x, int stride, int lo, int n, float scale, float cap) {
    float mx = -INFINITY;
    for (int k = lo; k < n; k++) {
        float v = x[(size_t)k * stride] * scale;
        if (cap > 0) v = cap * tanhf(v / cap);
        x[(size_t)k * stride] = v;
        if (v > mx) mx = v;
    }
    double sum = 0;
    for (int k = lo; k < n; k++) {
        float e = expf(x[(size_t)k * stride] - mx);
        x[(size_t)k * stride] = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (int k = lo; k < n; k++) x[(size_t)k * stride] *= inv;
    for (int k = 0; k < lo; k++) x[(size_t)k * stride] = 0;
}

typedef struct {
    cllama_context *c;
    int layer; /* index into the context's cache */
    int n_items;
} att_job;

/* One work item: one tile of tokens (consecutive batch tokens of one sequence at
 * increasing positions, at most att_tok of them; tiles[]) x the query heads that share
 * one KV head (rows r = t * group + hh: token b0 + t, head g * group + hh). Each
 * visible key and value row is read and converted once per item for all its rows, in
 * one kernel call, instead of once per (token, head).
 * Visible: the cells the tile's sequence holds at positions up to the tile's last,
 * taken in position order. The k-th (at position pk) is seen by the tokens at
 * positions >= pk, a suffix of the tile's rows (from first[k]), so nothing a row must
 * not see is computed, and row r sees a prefix of the list. With one sequence written
 * in order the cells are the positions 0.. and this is the causal mask. Items run last tile first: the costly ones taken first leave the cheap ones
 * to even out the threads' ends. */
static void attention_item(void *arg, int64_t item, int ith) {
    const att_job *j = arg;
    cllama_context *c = j->c;
    const cl_hparams *hp = &c->m->hp;
    int H = hp->n_head, Hkv = hp->n_head_kv, D = hp->head_dim, KD = Hkv * D, QD = H * D, group = H / Hkv;
    const cl_kernels *kern = c->m->kern;
    const cl_f16 *kc = c->k_cache + (size_t)j->layer * c->n_ctx * KD;
    const cl_f16 *vc = c->v_cache + (size_t)j->layer * c->n_ctx * KD;
    item = j->n_items - 1 - item;
    int tile = (int)(item / Hkv), g = (int)(item % Hkv);
    int b0 = c->tiles[tile], nb = c->tiles[tile + 1] - b0, R = nb * group;
    uint64_t bit = 1ull << c->ub_seq[b0];
    const int32_t *pos = c->ub_pos + b0;
    size_t hd = (size_t)group * D; /* floats of one token's rows: its group's heads are adjacent */
    float *qb = c->att_q + (size_t)ith * c->att_rows * D; /* [R][D] */
    float *ob = c->att_o + (size_t)ith * c->att_rows * D; /* [R][D] */
    float *sc = c->scores + (size_t)ith * c->att_rows * c->n_ctx; /* [n_vis][R] */
    int64_t *vis = c->vis + (size_t)ith * c->n_ctx; /* position << 32 | cell */
    int32_t *first = c->vis_first + (size_t)ith * c->n_ctx;

    /* A windowed layer: the row at position p sees positions (p - W, p]; the tile's
     * rows together see no position at or before pos[0] - W. */
    int W = c->m->layers[c->layer_begin + j->layer].swa ? hp->n_swa : 0;
    int32_t oldest = W ? pos[0] - W + 1 : 0;
    int n_vis = 0, in_order = 1;
    if (c->cells_in_order) { /* cell p holds position p of sequence 0, the only one */
        for (int p = oldest > 0 ? oldest : 0; p <= pos[nb - 1]; p++) vis[n_vis++] = (int64_t)p << 32 | p;
    } else {
        for (int p = 0; p < c->used_hi; p++) {
            const cl_kv_cell *cell = &c->cells[p];
            if (!(cell->seq & bit) || cell->pos > pos[nb - 1] || cell->pos < oldest) continue;
            vis[n_vis] = (int64_t)cell->pos << 32 | p;
            in_order &= n_vis == 0 || vis[n_vis] > vis[n_vis - 1];
            n_vis++;
        }
        /* Cells reused out of position order (after removals, or between sequences):
         * the sums below always run in position order, so a row's result does not
         * depend on where its sequence's cells happen to lie. */
        if (!in_order) qsort(vis, (size_t)n_vis, sizeof *vis, cmp_i64);
    }
    for (int k = 0, t = 0; k < n_vis; k++) {
        while (pos[t] < (int32_t)(vis[k] >> 32)) t++;
        first[k] = t * group;
    }
    for (int t = 0; t < nb; t++) memcpy(qb + t * hd, c->q + (size_t)(b0 + t) * QD + g * hd, hd * sizeof(float));
    for (int k = 0; k < n_vis; k++) {
        int f = first[k];
        kern->dot[CL_TYPE_F16](D, kc + (size_t)(uint32_t)vis[k] * KD + (size_t)g * D, qb + (size_t)f * D,
                               (size_t)D * sizeof(float), R - f, sc + (size_t)k * R + f);
    }
    /* Row r sees a prefix of the list: the cells before the first one whose row comes
     * after r; in a window, from the first cell within W positions of its own. */
    for (int r = R - 1, nk = n_vis, lo = n_vis; r >= 0; r--) {
        while (nk > 0 && first[nk - 1] > r) nk--;
        int32_t from = W ? pos[r / group] - W + 1 : 0;
        if (lo > nk) lo = nk;
        while (lo > 0 && (int32_t)(vis[lo - 1] >> 32) >= from) lo--;
        softmax_column(sc + r, R, lo, nk, hp->attn_scale, hp->attn_softcap);
    }
    memset(ob, 0, (size_t)R * D * sizeof *ob);
    for (int k = 0; k < n_vis; k++) {
        int f = first[k];
        kern->axpy_f16(D, R - f, sc + (size_t)k * R + f, vc + (size_t)(uint32_t)vis[k] * KD + (size_t)g * D,
                       ob + (size_t)f * D);
    }
    for (int t = 0; t < nb; t++) memcpy(c->att + (size_t)(b0 + t) * QD + g * hd, ob + t * hd, hd * sizeof(float));
}

/* Cuts the micro-batch into attention tiles: runs of one sequence at increasing
 * positions, at most att_tok tokens each. */
static void make_tiles(cllama_context *c, int B) {
    int n = 0;
    for (int b = 0; b < B; b++) {
        int start = n == 0 || b - c->tiles[n - 1] >= c->att_tok || c->ub_seq[b] != c->ub_seq[b - 1] ||
                    c->ub_pos[b] <= c->ub_pos[b - 1];
        if (start) c->tiles[n++] = b;
    }
    c->tiles[n] = B;
    c->n_tiles = n;
}

/* The per-token steps between the matmuls. Each token row is independent, so a step
 * is split by rows across the pool; for a few rows (generation) the wake-up of the
 * other threads would cost more than the step, so they run on the calling thread. */
enum row_op {
    ROW_NORM,     /* xb = rmsnorm(x) * w */
    ROW_ADD,      /* x += xb (xb = rmsnorm(xb) * post first, with post-norms) */
    ROW_ADD_NORM, /* ROW_ADD, then ROW_NORM */
    ROW_ROPE,     /* biases added to q, k, v; q and k normed per head (Q/K norms) and rotated at
                   * each token's position; k and v stored in its cell */
    ROW_GLU,      /* hb = act(hb) * hb2: SiLU, or the tanh GELU */
};

typedef struct {
    cllama_context *c;
    enum row_op op;
    int B, layer; /* layer: model index */
    const float *w; /* [E] norm weights */
    const float *post; /* [E] ROW_ADD*: post-norm weights of xb, or NULL */
} row_job;

/* GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
static inline float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * x * (1.0f + 0.044715f * x * x)));
}

static void add_bias(float *x, const float *bias, int n) {
    for (int i = 0; i < n; i++) x[i] += bias[i];
}

static void row_task(void *arg, int ith, int nth) {
    const row_job *j = arg;
    cllama_context *c = j->c;
    const cl_hparams *hp = &c->m->hp;
    int E = hp->n_embd, H = hp->n_head, Hkv = hp->n_head_kv, D = hp->head_dim, F = hp->n_ff;
    int QD = H * D, KD = Hkv * D;
    int64_t lo, hi;
    cl_split(j->B, ith, nth, 1, &lo, &hi);
    switch (j->op) {
    case ROW_ADD:
    case ROW_ADD_NORM:
        if (j->post) rmsnorm(c->xb + (size_t)lo * E, c->xb + (size_t)lo * E, j->post, E, (int)(hi - lo), hp->rms_eps);
        for (size_t i = (size_t)lo * E; i < (size_t)hi * E; i++) c->x[i] += c->xb[i];
        if (j->op == ROW_ADD) break;
        /* fall through */
    case ROW_NORM:
        rmsnorm(c->xb + (size_t)lo * E, c->x + (size_t)lo * E, j->w, E, (int)(hi - lo), hp->rms_eps);
        break;
    case ROW_ROPE: {
        const cl_layer *L = &c->m->layers[j->layer];
        size_t lc = (size_t)(j->layer - c->layer_begin) * c->n_ctx * KD;
        cl_f16 *kc = c->k_cache + lc, *vc = c->v_cache + lc;
        float cs[2 * 4096 / 2]; /* cos/sin per pair for one position; D <= 4096 */
        const float *inv_freq = c->inv_freq + (L->swa ? D / 2 : 0);
        float mscale = hp->rope_attn_factor;
        for (int64_t b = lo; b < hi; b++) {
            float *q = c->q + (size_t)b * QD, *k = c->k + (size_t)b * KD, *v = c->v + (size_t)b * KD;
            if (hp->qkv_bias) {
                add_bias(q, cl_vec(&L->w[CL_ATTN_Q_B]), QD);
                add_bias(k, cl_vec(&L->w[CL_ATTN_K_B]), KD);
                add_bias(v, cl_vec(&L->w[CL_ATTN_V_B]), KD);
            }
            if (hp->qk_norm) {
                rmsnorm(q, q, cl_vec(&L->w[CL_ATTN_Q_NORM]), D, H, hp->rms_eps);
                rmsnorm(k, k, cl_vec(&L->w[CL_ATTN_K_NORM]), D, Hkv, hp->rms_eps);
            }
            int pos = c->ub_pos[b];
            for (int i = 0; i < D / 2; i++) {
                float th = (float)pos * inv_freq[i];
                cs[2 * i] = cosf(th) * mscale;
                cs[2 * i + 1] = sinf(th) * mscale;
            }
            rope(q, H, D, cs, hp->rope_neox);
            rope(k, Hkv, D, cs, hp->rope_neox);
            size_t cell = (size_t)c->ub_cell[b] * KD;
            for (int i = 0; i < KD; i++) {
                kc[cell + i] = cl_f32_to_f16(k[i]);
                vc[cell + i] = cl_f32_to_f16(v[i]);
            }
        }
        break;
    }
    case ROW_GLU:
        if (hp->ffn_gelu)
            for (size_t i = (size_t)lo * F; i < (size_t)hi * F; i++) c->hb[i] = gelu_tanh(c->hb[i]) * c->hb2[i];
        else
            for (size_t i = (size_t)lo * F; i < (size_t)hi * F; i++) {
                float g = c->hb[i];
                c->hb[i] = g / (1.0f + expf(-g)) * c->hb2[i];
            }
        break;
    }
}

static void run_rows(cllama_context *c, enum row_op op, int B, int layer, const float *w, const float *post) {
    row_job j = {c, op, B, layer, w, post};
    if (B < 8) row_task(&j, 0, 1);
    else cl_pool_run(c->pool, row_task, &j);
}

int cl_forward(cllama_context *c, const int32_t *tokens, const float *embd, int B) {
    cllama_model *m = c->m;
    const cl_hparams *hp = &m->hp;
    const cl_kernels *kern = m->kern;
    int E = hp->n_embd, Hkv = hp->n_head_kv;
    cl_pool *pool = c->pool;

    if (tokens) {
        const cl_tensor *te = &m->g[CL_TOK_EMBD];
        for (int b = 0; b < B; b++) {
            float *xr = c->x + (size_t)b * E;
            cl_dequantize_row(te->type, (const char *)te->data + (size_t)tokens[b] * te->row_bytes, xr, E);
            if (hp->embd_scale != 1.0f)
                for (int i = 0; i < E; i++) xr[i] *= hp->embd_scale;
        }
    } else {
        memcpy(c->x, embd, (size_t)B * E * sizeof *c->x);
    }
    make_tiles(c, B);
    c->cells_in_order = 1;
    for (int p = 0; p < c->used_hi && c->cells_in_order; p++)
        c->cells_in_order = c->cells[p].seq == 1 && c->cells[p].pos == p;

    int last = c->layer_end == hp->n_layer;
    run_rows(c, ROW_NORM, B, 0, cl_vec(&m->layers[c->layer_begin].w[CL_ATTN_NORM]), NULL);
    for (int l = c->layer_begin; l < c->layer_end; l++) {
        if (c->abort_cb && c->abort_cb(c->abort_data)) return cl_err(CLLAMA_E_ABORTED, "evaluation aborted");
        if (c->progress) c->progress(c->progress_data);
        const cl_layer *L = &m->layers[l];
        const cl_tensor *qkv[3] = {&L->w[CL_ATTN_Q], &L->w[CL_ATTN_K], &L->w[CL_ATTN_V]};
        float *qkv_out[3] = {c->q, c->k, c->v};
        cl_matmul_n(kern, pool, 3, qkv, c->xb, B, qkv_out, c->act);
        run_rows(c, ROW_ROPE, B, l, NULL, NULL);
        att_job aj = {c, l - c->layer_begin, c->n_tiles * Hkv};
        cl_pool_run_items(pool, aj.n_items, attention_item, &aj);
        cl_matmul(kern, pool, &L->w[CL_ATTN_OUT], c->att, B, c->xb, c->act);
        run_rows(c, ROW_ADD_NORM, B, l, cl_vec(&L->w[CL_FFN_NORM]), cl_vec(&L->w[CL_ATTN_POST_NORM]));

        const cl_tensor *gate_up[2] = {&L->w[CL_FFN_GATE], &L->w[CL_FFN_UP]};
        float *gate_up_out[2] = {c->hb, c->hb2};
        cl_matmul_n(kern, pool, 2, gate_up, c->xb, B, gate_up_out, c->act);
        run_rows(c, ROW_GLU, B, l, NULL, NULL);
        cl_matmul(kern, pool, &L->w[CL_FFN_DOWN], c->hb, B, c->xb, c->act);
        /* The next layer's (or the output's) norm fused into the residual add; a range
         * that stops before the last layer hands on the residual stream itself. */
        const float *post = cl_vec(&L->w[CL_FFN_POST_NORM]);
        if (l + 1 < c->layer_end) run_rows(c, ROW_ADD_NORM, B, l, cl_vec(&m->layers[l + 1].w[CL_ATTN_NORM]), post);
        else if (last) run_rows(c, ROW_ADD_NORM, B, l, cl_vec(&m->g[CL_OUTPUT_NORM]), post);
        else run_rows(c, ROW_ADD, B, l, NULL, post);
    }
    return 0;
}
