/* Contexts: the KV cells and their sequences, batches checked and cut into forward
 * micro-batches, the outputs they keep, and the one-sequence wrappers. */
#include "context.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sampler.h"
#include "matmul.h"

#define DEFAULT_BATCH 512
/* Stage 0 of a pipeline: micro-batches of 64 tokens, so the later stages start on a
 * prompt after 64 of its tokens, not after all of it; the matmuls lose nothing (they
 * reread the weights every 64 rows anyway: TOK_CHUNK in matmul.c). */
#define DEFAULT_PIPE_BATCH 64
#define DEFAULT_CTX_CAP 4096
#define MAX_CTX (1 << 22)
#define MAX_POS (1 << 30)

cllama_context_params cllama_context_default_params(void) {
    cllama_context_params p = {0};
    return p;
}

/* The settings a context derives from its params, shared by init and the estimate. */
typedef struct {
    int n_ctx, n_seq, n_batch, n_threads, n_layers;
} ctx_dims;

static int derive(const cl_hparams *hp, const cllama_context_params *p, int model_layers, ctx_dims *d) {
    if (p->n_ctx < 0 || p->n_ctx > MAX_CTX)
        return cl_err(CLLAMA_E_INVALID, "context length %d is out of range (0 to %d)", p->n_ctx, MAX_CTX);
    if (p->n_seq_max < 0 || p->n_seq_max > CL_MAX_SEQ)
        return cl_err(CLLAMA_E_INVALID, "n_seq_max %d is out of range (1 to %d)", p->n_seq_max, CL_MAX_SEQ);
    if (p->n_batch < 0) return cl_err(CLLAMA_E_INVALID, "n_batch %d is negative", p->n_batch);
    if (p->n_threads < 0 || p->n_threads > 1024)
        return cl_err(CLLAMA_E_INVALID, "thread count %d out of range (1 to 1024)", p->n_threads);
    d->n_ctx = p->n_ctx ? p->n_ctx : hp->n_ctx_train < DEFAULT_CTX_CAP ? hp->n_ctx_train : DEFAULT_CTX_CAP;
    d->n_seq = p->n_seq_max ? p->n_seq_max : 1;
    d->n_batch = p->n_batch ? p->n_batch : p->pipe ? DEFAULT_PIPE_BATCH : DEFAULT_BATCH;
    if (d->n_batch > d->n_ctx) d->n_batch = d->n_ctx;
    d->n_threads = p->threadpool ? cl_pool_size(p->threadpool) : p->n_threads ? p->n_threads : cl_default_threads();
    int b = p->layer_begin, e = p->layer_begin || p->layer_end ? p->layer_end : model_layers;
    d->n_layers = e - b;
    return 0;
}

uint64_t cllama_context_bytes(const cllama_hparams *hp, const cllama_context_params *params) {
    cllama_context_params def = cllama_context_default_params();
    ctx_dims d;
    if (derive(hp, params ? params : &def, hp->n_layer, &d) || d.n_layers <= 0) return 0;
    uint64_t E = hp->n_embd, QD = (uint64_t)hp->n_head * hp->head_dim, KD = (uint64_t)hp->n_head_kv * hp->head_dim;
    uint64_t F = hp->n_ff, B = (uint64_t)d.n_batch, C = (uint64_t)d.n_ctx;
    uint64_t kv = 2 * (uint64_t)d.n_layers * C * KD * sizeof(cl_f16) + C * sizeof(cl_kv_cell);
    uint64_t acts = B * (2 * E + 2 * QD + 2 * KD + 2 * F) * sizeof(float) + B * 4 * sizeof(int32_t);
    uint64_t rows = (uint64_t)cl_att_tokens(hp) * (uint64_t)(hp->n_head / hp->n_head_kv);
    uint64_t att = (uint64_t)d.n_threads * (rows * (C + 2 * (uint64_t)hp->head_dim) * sizeof(float) + 3 * C * sizeof(int32_t));
    uint64_t out = (uint64_t)d.n_seq * (uint64_t)hp->n_vocab * sizeof(float);
    return kv + acts + cl_matmul_scratch((int64_t)cl_max_in(hp), (int)B) + att + out;
}

void cllama_context_free(cllama_context *c) {
    if (!c) return;
    while (c->fl_n && cllama_decode_collect(c) != CLLAMA_E_IO) {} /* every answer read before the stages free theirs */
    if (c->piped) cl_pipe_close(c);
    if (c->own_pool) cl_pool_free(c->pool);
    void *bufs[] = {c->cells, c->k_cache, c->v_cache, c->ub_pos, c->ub_seq, c->ub_cell, c->tiles, c->x, c->xb, c->q,
                    c->k,     c->v,       c->att,     c->hb,     c->hb2,    c->scores,  c->att_q, c->att_o, c->vis, c->vis_first,
                    c->inv_freq, c->act,  c->logits,  c->embd,   c->out_row, c->pipe_buf,
                    c->token, c->samplers, c->sample_buf, c->pipe_smp};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(c);
}

static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

int cllama_context_init(cllama_model *m, const cllama_context_params *params, cllama_context **out) {
    if (!out) return cl_err(CLLAMA_E_INVALID, "cllama_context_init: no output pointer");
    *out = NULL;
    if (!m || m->vocab_only) return cl_err(CLLAMA_E_INVALID, "a context needs a model loaded with its weights");
    cllama_context_params def = cllama_context_default_params();
    if (!params) params = &def;
    const cl_hparams *hp = &m->hp;
    ctx_dims d;
    int rc = derive(hp, params, m->layer_end - m->layer_begin, &d);
    if (rc) return rc;
    int lb = params->layer_begin || params->layer_end ? params->layer_begin : m->layer_begin;
    int le = params->layer_begin || params->layer_end ? params->layer_end : m->layer_end;
    if (lb < m->layer_begin || le > m->layer_end || lb >= le)
        return cl_err(CLLAMA_E_INVALID, "layer range [%d, %d) is not within the loaded layers [%d, %d)", lb, le,
                      m->layer_begin, m->layer_end);

    const cllama_pipe *pp = params->pipe;
    if (pp && (pp->stage != 0 || pp->n_stages < 2 || !pp->send || !pp->recv))
        return cl_err(CLLAMA_E_INVALID, "a context takes the pipeline as its stage 0 (stage %d of %d)", pp->stage,
                      pp->n_stages);
    if (pp && (lb != 0 || le == hp->n_layer))
        return cl_err(CLLAMA_E_INVALID, "stage 0 of a pipeline evaluates the first layers, not all (layers [%d, %d) "
                      "of %d)", lb, le, hp->n_layer);

    cllama_context *c = calloc(1, sizeof *c);
    if (!c) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    c->m = m;
    c->n_ctx = d.n_ctx;
    c->n_seq_max = d.n_seq;
    c->n_batch = d.n_batch;
    c->layer_begin = lb;
    c->layer_end = le;
    c->embeddings = params->embeddings;
    c->abort_cb = params->abort_callback;
    c->abort_data = params->abort_data;
    if (params->threadpool) {
        c->pool = params->threadpool;
    } else {
        if ((rc = cl_pool_init(d.n_threads, &c->pool))) {
            free(c);
            return rc;
        }
        c->own_pool = 1;
    }
    size_t E = hp->n_embd, QD = (size_t)hp->n_head * hp->head_dim, KD = (size_t)hp->n_head_kv * hp->head_dim;
    size_t F = hp->n_ff, B = (size_t)d.n_batch, C = (size_t)d.n_ctx, T = (size_t)d.n_threads;
    size_t kv = (size_t)(le - lb) * C * KD * sizeof(cl_f16);
    c->att_tok = cl_att_tokens(hp);
    c->att_rows = c->att_tok * (hp->n_head / hp->n_head_kv);
    c->cells = malloc(C * sizeof *c->cells);
    c->k_cache = alloc64(kv);
    c->v_cache = alloc64(kv);
    c->ub_pos = malloc(B * sizeof(int32_t));
    c->ub_seq = malloc(B * sizeof(int32_t));
    c->ub_cell = malloc(B * sizeof(int32_t));
    c->tiles = malloc((B + 1) * sizeof(int32_t));
    c->x = alloc64(B * E * sizeof(float));
    c->xb = alloc64(B * E * sizeof(float));
    c->q = alloc64(B * QD * sizeof(float));
    c->k = alloc64(B * KD * sizeof(float));
    c->v = alloc64(B * KD * sizeof(float));
    c->att = alloc64(B * QD * sizeof(float));
    c->hb = alloc64(B * F * sizeof(float));
    c->hb2 = alloc64(B * F * sizeof(float));
    c->scores = alloc64(T * C * (size_t)c->att_rows * sizeof(float));
    c->att_q = alloc64(T * (size_t)c->att_rows * hp->head_dim * sizeof(float));
    c->att_o = alloc64(T * (size_t)c->att_rows * hp->head_dim * sizeof(float));
    c->vis = malloc(T * C * sizeof(int64_t));
    c->vis_first = malloc(T * C * sizeof(int32_t));
    c->inv_freq = alloc64((size_t)hp->head_dim * sizeof(float));
    c->act = alloc64(cl_matmul_scratch((int64_t)cl_max_in(hp), (int)B));
    c->samplers = calloc((size_t)d.n_seq, sizeof *c->samplers);
    c->sample_buf = malloc((size_t)hp->n_vocab * sizeof(float));
    if (!c->samplers || !c->sample_buf || !c->cells || !c->k_cache || !c->v_cache || !c->ub_pos || !c->ub_seq || !c->ub_cell || !c->tiles || !c->x ||
        !c->xb || !c->q || !c->k || !c->v || !c->att || !c->hb || !c->hb2 || !c->scores || !c->att_q || !c->att_o ||
        !c->vis || !c->vis_first || !c->inv_freq || !c->act) {
        cllama_context_free(c);
        return cl_err(CLLAMA_E_NOMEM, "out of memory allocating a %d-token context", d.n_ctx);
    }
    cllama_kv_clear(c);
    /* Per-dimension divisors: Llama 3.1's rope_freqs, or LongRoPE's long factors when
     * the context is longer than the original one and its short ones otherwise (one
     * choice per context, as the reference makes it from n_ctx). */
    const float *freqs = cl_vec(&m->g[CL_ROPE_FREQS]);
    if (!freqs) freqs = cl_vec(&m->g[d.n_ctx > hp->n_ctx_orig && m->g[CL_ROPE_LONG].data ? CL_ROPE_LONG : CL_ROPE_SHORT]);
    int half = hp->head_dim / 2;
    for (int i = 0; i < half; i++) {
        double f = pow(hp->rope_base, -2.0 * i / hp->head_dim);
        double fl = pow(hp->rope_base_swa, -2.0 * i / hp->head_dim);
        if (freqs) f /= freqs[i], fl /= freqs[i];
        c->inv_freq[i] = (float)(f * hp->rope_scale);
        c->inv_freq[half + i] = (float)(fl * hp->rope_scale_swa);
    }
    cl_log(CLLAMA_LOG_INFO, "context: %d cells, %d sequences, layers [%d, %d), %.1f MiB of KV cache, %d threads%s",
           d.n_ctx, d.n_seq, lb, le, 2.0 * kv / 1048576.0, d.n_threads, c->own_pool ? "" : " (shared pool)");
    if (pp) {
        c->pipe = *pp;
        c->progress = pp->progress, c->progress_data = pp->data;
        c->pipe_threads = params->n_threads;
        if ((rc = cl_pipe_open(c))) { /* a later stage could not make its context */
            cllama_context_free(c);
            return rc;
        }
        c->piped = 1;
    }
    *out = c;
    return CLLAMA_OK;
}

int cllama_context_n_ctx(const cllama_context *c) { return c->n_ctx; }
int cllama_context_n_seq_max(const cllama_context *c) { return c->n_seq_max; }
int cllama_context_n_threads(const cllama_context *c) { return cl_pool_size(c->pool); }

void cllama_context_set_abort_callback(cllama_context *c, int (*fn)(void *), void *data) {
    c->abort_cb = fn;
    c->abort_data = data;
}

/* ---- KV cells ---- */

static void recount(cllama_context *c) {
    c->n_used = 0;
    c->used_hi = 0;
    for (int i = 0; i < c->n_ctx; i++)
        if (c->cells[i].seq) {
            c->n_used++;
            c->used_hi = i + 1;
        }
}

void cllama_kv_clear(cllama_context *c) {
    for (int i = 0; i < c->n_ctx; i++) c->cells[i] = (cl_kv_cell){-1, 0};
    c->n_used = c->used_hi = 0;
    if (c->piped) cl_pipe_kv(c, CL_PIPE_KV_CLEAR, 0, 0, 0, 0);
}

static uint64_t seq_mask(int seq) { return seq < 0 ? ~0ull : 1ull << seq; }

static int check_seq(const cllama_context *c, int seq, int allow_all) {
    if ((seq < 0 && !allow_all) || seq >= c->n_seq_max)
        return cl_err(CLLAMA_E_INVALID, "sequence id %d is out of range (0 to %d)", seq, c->n_seq_max - 1);
    return 0;
}

/* cllama_kv_seq_rm on this process only. */
static void kv_rm(cllama_context *c, int seq, int p0, int p1) {
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = MAX_POS + 1;
    uint64_t keep = ~seq_mask(seq);
    for (int i = 0; i < c->used_hi; i++) {
        cl_kv_cell *cell = &c->cells[i];
        if (cell->seq && cell->pos >= p0 && cell->pos < p1) {
            cell->seq &= keep;
            if (!cell->seq) cell->pos = -1;
        }
    }
    recount(c);
}

int cllama_kv_seq_rm(cllama_context *c, int seq, int p0, int p1) {
    int rc = check_seq(c, seq, 1);
    if (rc) return rc;
    kv_rm(c, seq, p0, p1);
    return c->piped ? cl_pipe_kv(c, CL_PIPE_KV_RM, seq, 0, p0, p1) : 0;
}

int cllama_kv_seq_cp(cllama_context *c, int src, int dst, int p0, int p1) {
    int rc;
    if ((rc = check_seq(c, src, 0)) || (rc = check_seq(c, dst, 0))) return rc;
    if (src == dst) return 0;
    kv_rm(c, dst, p0, p1);
    int q0 = p0 < 0 ? 0 : p0, q1 = p1 < 0 ? MAX_POS + 1 : p1;
    for (int i = 0; i < c->used_hi; i++) {
        cl_kv_cell *cell = &c->cells[i];
        if ((cell->seq >> src & 1) && cell->pos >= q0 && cell->pos < q1) cell->seq |= 1ull << dst;
    }
    return c->piped ? cl_pipe_kv(c, CL_PIPE_KV_CP, src, dst, p0, p1) : 0;
}

int cllama_kv_seq_pos_max(const cllama_context *c, int seq) {
    if (seq < 0 || seq >= c->n_seq_max) return -1;
    int mx = -1;
    for (int i = 0; i < c->used_hi; i++)
        if ((c->cells[i].seq >> seq & 1) && c->cells[i].pos > mx) mx = c->cells[i].pos;
    return mx;
}

int cllama_kv_n_used(const cllama_context *c) { return c->n_used; }

/* ---- decode ---- */

/* Checks the batch and fills pos[] and seq[] (n entries) with every token's position
 * and sequence, the defaults applied. Nothing in the context changes. */
static int check_batch(const cllama_context *c, const cllama_batch *b, int32_t *pos, int32_t *seq) {
    const cl_hparams *hp = &c->m->hp;
    int n = b->n_tokens;
    if (!!b->token == !!b->embd)
        return cl_err(CLLAMA_E_INVALID, "a batch carries either token ids or hidden states (embd), not %s",
                      b->token ? "both" : "neither");
    if (b->token && c->layer_begin > 0)
        return cl_err(CLLAMA_E_INVALID, "this context starts at layer %d: its input is hidden states (embd), not tokens",
                      c->layer_begin);
    if (n > c->n_ctx - c->n_used)
        return cl_err(CLLAMA_E_RANGE, "%d tokens do not fit in the context (%d of %d cells used)", n, c->n_used, c->n_ctx);
    int32_t next[CL_MAX_SEQ]; /* next free position of each sequence, then above the batch so far */
    for (int s = 0; s < c->n_seq_max; s++) next[s] = cllama_kv_seq_pos_max(c, s) + 1;
    for (int i = 0; i < n; i++) {
        if (b->token && (b->token[i] < 0 || b->token[i] >= hp->n_vocab))
            return cl_err(CLLAMA_E_RANGE, "token id %d at batch entry %d is outside the vocabulary (0..%d)", b->token[i],
                          i, hp->n_vocab - 1);
        int s = b->seq_id ? b->seq_id[i] : 0;
        if (s < 0 || s >= c->n_seq_max)
            return cl_err(CLLAMA_E_INVALID, "sequence id %d at batch entry %d is out of range (0 to %d)", s, i,
                          c->n_seq_max - 1);
        int p = b->pos ? b->pos[i] : next[s];
        if (p < next[s] || p > MAX_POS)
            return cl_err(CLLAMA_E_INVALID,
                          "position %d of sequence %d at batch entry %d must be above %d (what the sequence holds "
                          "or what the batch gave it before)",
                          p, s, i, next[s] - 1);
        next[s] = p + 1;
        pos[i] = p;
        seq[i] = s;
    }
    return 0;
}

/* Room for n_out rows of logits in c->logits. */
static int logits_room(cllama_context *c, int n_out) {
    if ((size_t)n_out <= c->logits_cap) return 0;
    float *l = realloc(c->logits, (size_t)n_out * c->m->hp.n_vocab * sizeof *l);
    if (!l) return cl_err(CLLAMA_E_NOMEM, "out of memory for the logits of %d tokens", n_out);
    c->logits = l;
    c->logits_cap = (size_t)n_out;
    return 0;
}

/* Room for n batch entries in out_row and token. */
static int entries_room(cllama_context *c, int n) {
    if (n <= c->out_cap) return 0;
    int32_t *r = realloc(c->out_row, (size_t)n * sizeof *r);
    if (r) c->out_row = r;
    int32_t *t = r ? realloc(c->token, (size_t)n * sizeof *t) : NULL;
    if (!t) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    c->token = t;
    c->out_cap = n;
    return 0;
}

/* Output rows for the batch: out_row[i], and room for them in the logits and
 * embeddings buffers. */
static int prepare_outputs(cllama_context *c, const cllama_batch *b, int logits_external) {
    int n = b->n_tokens, n_out = 0;
    int rc = entries_room(c, n);
    if (rc) return rc;
    for (int i = 0; i < n; i++) {
        int keep = b->output ? b->output[i] != 0 : i == n - 1;
        c->out_row[i] = keep ? n_out++ : -1;
        c->token[i] = -1;
    }
    c->out_n = n;
    const cl_hparams *hp = &c->m->hp;
    int last = c->layer_end == hp->n_layer || c->piped; /* stage 0 receives the last stage's logits */
    if ((rc = last && !logits_external ? logits_room(c, n_out) : 0)) return rc;
    if ((!last || c->embeddings) && (size_t)n_out > c->embd_cap) {
        float *e = realloc(c->embd, (size_t)n_out * hp->n_embd * sizeof *e);
        if (!e) return cl_err(CLLAMA_E_NOMEM, "out of memory for the hidden states of %d tokens", n_out);
        c->embd = e;
        c->embd_cap = (size_t)n_out;
    }
    return 0;
}

/* Keeps the outputs of micro-batch entries [i0, i0 + B) of the batch: the output
 * rows are gathered to the front of the hidden states, then the output head runs on
 * them alone. */
static void keep_outputs(cllama_context *c, int i0, int B, float *logits) {
    const cl_hparams *hp = &c->m->hp;
    int E = hp->n_embd, last = c->layer_end == hp->n_layer, n = 0, row0 = -1;
    float *h = last ? c->xb : c->x;
    for (int b = 0; b < B; b++) {
        int r = c->out_row[i0 + b];
        if (r < 0) continue;
        if (row0 < 0) row0 = r;
        if (n != b) memmove(h + (size_t)n * E, h + (size_t)b * E, (size_t)E * sizeof *h);
        n++;
    }
    if (!n) return;
    if (!last || c->embeddings) memcpy(c->embd + (size_t)row0 * E, h, (size_t)n * E * sizeof *h);
    if (!last) return;
    float *lg = logits + (size_t)row0 * hp->n_vocab;
    cl_matmul(c->m->kern, c->pool, &c->m->g[CL_OUTPUT], h, n, lg, c->act);
    float cap = hp->final_softcap;
    if (cap > 0)
        for (size_t i = 0; i < (size_t)n * hp->n_vocab; i++) lg[i] = cap * tanhf(lg[i] / cap);
}

/* Drops cells [0, n) of the list (this call's tokens after an abort). */
static void release(cllama_context *c, const int32_t *cells, int n) {
    for (int i = 0; i < n; i++) c->cells[cells[i]] = (cl_kv_cell){-1, 0};
    recount(c);
}

/* A failed or aborted call on stage 0 of a pipeline: with `unfinished`, the later
 * stages are told the call ended (and their answer is waited for); then every
 * sequence of the batch drops its positions from the batch's first on every stage
 * (they held nothing there before the call: check_batch), so the cache is as before
 * it on all stages. The error message of the call is kept. */
static void pipe_rollback(cllama_context *c, const int32_t *pos, const int32_t *seq, int n, int unfinished) {
    char keep[256];
    snprintf(keep, sizeof keep, "%s", cllama_last_error());
    if (unfinished && !cl_pipe_send_ub(c, 0, NULL, NULL, NULL, NULL, 1)) cl_pipe_finish(c, NULL, NULL, NULL, 0);
    int32_t first[CL_MAX_SEQ];
    for (int s = 0; s < CL_MAX_SEQ; s++) first[s] = -1;
    for (int i = 0; i < n; i++)
        if (first[seq[i]] < 0 || pos[i] < first[seq[i]]) first[seq[i]] = pos[i];
    for (int s = 0; s < CL_MAX_SEQ; s++)
        if (first[s] >= 0) cl_pipe_kv(c, CL_PIPE_KV_RM, s, 0, first[s], -1);
    cl_err(CLLAMA_E_INVALID, "%s", keep); /* the code is the caller's; only the message matters */
}

static void inflight_free(cl_inflight *f) {
    free(f->pos);
    free(f->seq);
    free(f->taken);
    free(f->out_flags);
    free(f->out_row);
    memset(f, 0, sizeof *f);
}

/* Stage 0's part of a batch: its layers over every micro-batch, each sent down as soon
 * as it is ready (piped: *f then holds what reading the answer needs), or the whole
 * evaluation with its outputs kept (logits rows to `logits` when it is non-NULL) and
 * sampled. A piped batch that fails after micro-batches went down while other batches
 * are in flight is closed on the later stages and returned in *f as failed (its
 * answer comes after theirs); with none in flight it is rolled back at once. */
static int submit(cllama_context *c, const cllama_batch *b, float *logits, cl_inflight *f) {
    memset(f, 0, sizeof *f);
    if (!c || !b) return cl_err(CLLAMA_E_INVALID, "cllama_decode: invalid arguments");
    int n = b->n_tokens;
    if (n <= 0) return cl_err(CLLAMA_E_INVALID, "cllama_decode: no tokens to evaluate");
    int32_t *pos = malloc((size_t)n * sizeof *pos), *seq = malloc((size_t)n * sizeof *seq);
    int32_t *taken = malloc((size_t)n * sizeof *taken), *out_flags = NULL, *out_row = NULL;
    int rc = CLLAMA_E_NOMEM;
    if (!pos || !seq || !taken) {
        cl_err(rc, "out of memory");
        goto done;
    }
    if ((rc = check_batch(c, b, pos, seq)) || (rc = prepare_outputs(c, b, logits != NULL))) goto done;
    if (!logits) logits = c->logits;
    int E = c->m->hp.n_embd, cursor = 0, sent = 0;
    if (c->piped) { /* what comes back for each entry, as the later stages read it */
        out_flags = malloc((size_t)n * sizeof *out_flags);
        out_row = malloc((size_t)n * sizeof *out_row);
        if (!out_flags || !out_row) {
            rc = cl_err(CLLAMA_E_NOMEM, "out of memory");
            goto done;
        }
        memcpy(out_row, c->out_row, (size_t)n * sizeof *out_row);
        for (int i = 0; i < n; i++)
            out_flags[i] = c->out_row[i] < 0 ? CL_PIPE_OUT_NONE : c->samplers[seq[i]] ? CL_PIPE_OUT_TOKEN : CL_PIPE_OUT_LOGITS;
        if ((rc = cl_pipe_pack_samplers(c, seq, out_flags, n))) goto done;
    }
    for (int done = 0; done < n;) {
        int B = n - done < c->n_batch ? n - done : c->n_batch;
        for (int i = 0; i < B; i++) {
            while (c->cells[cursor].seq) cursor++; /* enough are free: check_batch */
            c->cells[cursor] = (cl_kv_cell){pos[done + i], 1ull << seq[done + i]};
            c->ub_cell[i] = taken[done + i] = cursor;
            c->ub_pos[i] = pos[done + i];
            c->ub_seq[i] = seq[done + i];
            if (cursor >= c->used_hi) c->used_hi = cursor + 1;
            c->n_used++;
        }
        rc = cl_forward(c, b->token ? b->token + done : NULL, b->embd ? b->embd + (size_t)done * E : NULL, B);
        if (!rc && c->abort_cb && c->abort_cb(c->abort_data)) rc = cl_err(CLLAMA_E_ABORTED, "evaluation aborted");
        if (!rc && c->piped) {
            rc = cl_pipe_send_ub(c, B, pos + done, seq + done, out_flags + done, c->x, done + B == n);
            sent += !rc;
        }
        if (rc) {
            release(c, taken, done + B);
            c->out_n = 0;
            if (sent && rc != CLLAMA_E_IO && c->fl_n) { /* the answers of earlier batches come first */
                char keep[256];
                snprintf(keep, sizeof keep, "%s", cllama_last_error());
                if (cl_pipe_send_ub(c, 0, NULL, NULL, NULL, NULL, 1)) goto done;
                *f = (cl_inflight){n, 1, pos, seq, taken, out_flags, out_row};
                cl_err(rc, "%s", keep);
                return rc;
            }
            if (sent && rc != CLLAMA_E_IO) pipe_rollback(c, pos, seq, n, 1);
            goto done;
        }
        if (!c->piped) keep_outputs(c, done, B, logits);
        done += B;
    }
    if (c->piped) {
        *f = (cl_inflight){n, 0, pos, seq, taken, out_flags, out_row};
        return 0;
    }
    for (int i = 0; i < n; i++) { /* sampling where the logits are */
        cllama_sampler *smp = c->out_row[i] >= 0 ? c->samplers[seq[i]] : NULL;
        if (!smp) continue;
        memcpy(c->sample_buf, logits + (size_t)c->out_row[i] * c->m->hp.n_vocab, (size_t)c->m->hp.n_vocab * sizeof(float));
        c->token[i] = cllama_sampler_sample(smp, c->sample_buf);
    }
    if (logits != c->logits) c->out_n = 0; /* the rows went to the caller's buffer */
    rc = 0;
done:
    free(pos);
    free(seq);
    free(taken);
    free(out_flags);
    free(out_row);
    return rc;
}

static cl_inflight inflight_pop(cllama_context *c) {
    cl_inflight f = c->fl[c->fl_head];
    memset(&c->fl[c->fl_head], 0, sizeof f);
    c->fl_head = (c->fl_head + 1) % CL_MAX_INFLIGHT;
    c->fl_n--;
    return f;
}

/* The failed batches at the front of the queue: their answers (the failure each was
 * closed with) read and their positions rolled back on every stage. 0, or
 * CLLAMA_E_IO when the transport broke; the last error message is kept. */
static int drain_failed(cllama_context *c) {
    while (c->fl_n && c->fl[c->fl_head].failed) {
        cl_inflight f = inflight_pop(c);
        char keep[256];
        snprintf(keep, sizeof keep, "%s", cllama_last_error());
        int rc = cl_pipe_finish(c, NULL, NULL, NULL, 0);
        if (rc != CLLAMA_E_IO) pipe_rollback(c, f.pos, f.seq, f.n, 0);
        inflight_free(&f);
        if (rc == CLLAMA_E_IO) return rc;
        cl_err(CLLAMA_E_INVALID, "%s", keep);
    }
    return 0;
}

/* Reads the answer of the oldest batch in flight (after those of failed ones, which
 * are rolled back): its outputs become the context's. */
static int collect(cllama_context *c, float *logits) {
    int rc = drain_failed(c);
    if (rc) return rc;
    if (!c->fl_n) return cl_err(CLLAMA_E_INVALID, "cllama_decode_collect: no batch in flight");
    cl_inflight f = inflight_pop(c);
    int n_out = 0;
    rc = entries_room(c, f.n);
    if (!rc) {
        memcpy(c->out_row, f.out_row, (size_t)f.n * sizeof *f.out_row);
        for (int i = 0; i < f.n; i++) c->token[i] = -1, n_out += f.out_row[i] >= 0;
        c->out_n = f.n;
        if (!logits) rc = logits_room(c, n_out);
    }
    if (!rc) rc = cl_pipe_finish(c, logits ? logits : c->logits, f.seq, f.out_flags, f.n);
    if (rc) { /* a later stage failed (or memory here): the batch leaves no trace */
        release(c, f.taken, f.n);
        c->out_n = 0;
        if (rc != CLLAMA_E_IO) pipe_rollback(c, f.pos, f.seq, f.n, 0);
    } else if (logits) {
        c->out_n = 0; /* the rows went to the caller's buffer */
    }
    inflight_free(&f);
    if (!rc) rc = drain_failed(c); /* a batch that failed after this one: its trace gone now */
    return rc;
}

static void inflight_push(cllama_context *c, const cl_inflight *f) {
    c->fl[(c->fl_head + c->fl_n) % CL_MAX_INFLIGHT] = *f;
    c->fl_n++;
}

/* cllama_decode, with the logits rows going to `logits` when it is non-NULL. */
static int decode(cllama_context *c, const cllama_batch *b, float *logits) {
    if (c && drain_failed(c)) return CLLAMA_E_IO;
    if (c && (c->fl_n || c->sync_pending))
        return cl_err(CLLAMA_E_INVALID, "cllama_decode: a submitted batch is not collected yet");
    cl_inflight f;
    int rc = submit(c, b, logits, &f);
    if (rc || !c->piped) return rc;
    inflight_push(c, &f);
    return collect(c, logits);
}

int cllama_decode(cllama_context *c, const cllama_batch *b) { return decode(c, b, NULL); }

/* One batch per stage keeps every stage busy; more would only queue. */
int cllama_context_max_inflight(const cllama_context *c) {
    if (!c || !c->piped) return 1;
    return c->pipe.n_stages < CL_MAX_INFLIGHT ? c->pipe.n_stages : CL_MAX_INFLIGHT;
}

int cllama_decode_submit(cllama_context *c, const cllama_batch *b) {
    if (!c || !b) return cl_err(CLLAMA_E_INVALID, "cllama_decode_submit: invalid arguments");
    if (!c->piped) {
        if (c->sync_pending)
            return cl_err(CLLAMA_E_INVALID, "cllama_decode_submit: one batch in flight at most on a context that is "
                                            "not a pipeline's stage 0; collect it first");
        int rc = decode(c, b, NULL);
        c->sync_pending = !rc;
        return rc;
    }
    if (c->fl_n >= cllama_context_max_inflight(c))
        return cl_err(CLLAMA_E_RANGE, "cllama_decode_submit: %d batches in flight already", c->fl_n);
    uint64_t busy = 0; /* sequences in flight */
    for (int k = 0; k < c->fl_n; k++) {
        const cl_inflight *g = &c->fl[(c->fl_head + k) % CL_MAX_INFLIGHT];
        for (int i = 0; i < g->n; i++) busy |= 1ull << g->seq[i];
    }
    for (int i = 0; i < b->n_tokens; i++) {
        int s = b->seq_id ? b->seq_id[i] : 0;
        if (s >= 0 && s < CL_MAX_SEQ && (busy >> s & 1))
            return cl_err(CLLAMA_E_INVALID, "cllama_decode_submit: sequence %d is in a batch in flight", s);
    }
    cl_inflight f;
    int rc = submit(c, b, NULL, &f);
    if (!rc || f.failed) inflight_push(c, &f);
    return rc;
}

int cllama_decode_collect(cllama_context *c) {
    if (!c) return cl_err(CLLAMA_E_INVALID, "cllama_decode_collect: invalid arguments");
    if (!c->piped) {
        if (!c->sync_pending) return cl_err(CLLAMA_E_INVALID, "cllama_decode_collect: no batch in flight");
        c->sync_pending = 0;
        return 0;
    }
    return collect(c, NULL);
}

static float *output_row(cllama_context *c, int i, const float *buf, int width) {
    if (!c || !buf) return NULL;
    if (i < 0) i += c->out_n;
    if (i < 0 || i >= c->out_n || c->out_row[i] < 0) return NULL;
    return (float *)buf + (size_t)c->out_row[i] * width;
}

float *cllama_get_logits(cllama_context *c, int i) {
    if (!c || !(c->layer_end == c->m->hp.n_layer || c->piped)) return NULL;
    if (c->piped && cllama_get_token(c, i) >= 0) return NULL; /* sampled on the last stage: no logits came */
    return output_row(c, i, c->logits, c->m->hp.n_vocab);
}

int32_t cllama_get_token(cllama_context *c, int i) {
    if (!c) return -1;
    if (i < 0) i += c->out_n;
    return i < 0 || i >= c->out_n ? -1 : c->token[i];
}

int cllama_set_sampler(cllama_context *c, int seq, cllama_sampler *smp) {
    if (!c || seq < 0 || seq >= c->n_seq_max)
        return cl_err(CLLAMA_E_INVALID, "cllama_set_sampler: sequence %d is not one of this context's", seq);
    if (smp && cl_sampler_n_vocab(smp) != c->m->hp.n_vocab)
        return cl_err(CLLAMA_E_INVALID, "cllama_set_sampler: the sampler is for %d tokens, the model has %d",
                      cl_sampler_n_vocab(smp), c->m->hp.n_vocab);
    c->samplers[seq] = smp;
    return 0;
}

float *cllama_get_embeddings(cllama_context *c, int i) {
    return c && !c->piped && (c->embeddings || c->layer_end < c->m->hp.n_layer)
               ? output_row(c, i, c->embd, c->m->hp.n_embd)
               : NULL;
}

/* ---- one sequence ---- */

int cllama_context_n_past(const cllama_context *c) { return cllama_kv_seq_pos_max(c, 0) + 1; }
void cllama_context_reset(cllama_context *c) { cllama_kv_clear(c); }

int cllama_context_eval(cllama_context *c, const int32_t *tokens, int n, float *logits, int all_logits) {
    if (!c || (!tokens && n)) return cl_err(CLLAMA_E_INVALID, "cllama_context_eval: invalid arguments");
    if (n <= 0) return cl_err(CLLAMA_E_INVALID, "cllama_context_eval: no tokens to evaluate");
    int8_t *out = NULL;
    if (logits && all_logits) {
        if (!(out = malloc((size_t)n))) return cl_err(CLLAMA_E_NOMEM, "out of memory");
        memset(out, 1, (size_t)n);
    }
    cllama_batch b = {.n_tokens = n, .token = tokens, .output = out};
    int rc = decode(c, &b, logits);
    free(out);
    return rc;
}
