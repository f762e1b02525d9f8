/* The context: KV cache cells shared by sequences, scratch of one forward micro-batch,
 * and the outputs of the last decode. context.c owns the cells, the batch checks and
 * the outputs; forward.c runs one micro-batch through the layers.
 * Shapes: E = n_embd, H = n_head, Hkv = n_head_kv, D = head_dim, F = n_ff,
 * V = n_vocab, B = tokens in the micro-batch, C = n_ctx cells, L = layers of the
 * context's range. */
#ifndef CL_CONTEXT_H
#define CL_CONTEXT_H

#include <stdint.h>

#include "model.h"
#include "quant/quant.h"
#include "threads.h"

#define CL_MAX_SEQ 64
#define CL_MAX_INFLIGHT 8 /* batches of one pipelined context in flight at once, at most */

/* A batch stage 0 sent down the pipeline whose answer is not read yet (arrays owned).
 * failed: its submit failed after micro-batches went down; collecting it reads the
 * failure and rolls its positions back on every stage. */
typedef struct {
    int n, failed;
    int32_t *pos, *seq, *taken, *out_flags, *out_row; /* [n] */
} cl_inflight;

/* A KV cell: the K and V rows of one evaluated token, at one position, held by the
 * sequences whose bits are set (a prefix copied to another sequence shares its cells).
 * seq == 0: free. */
typedef struct {
    int32_t pos;
    uint64_t seq;
} cl_kv_cell;

struct cllama_context {
    cllama_model *m;
    cl_pool *pool;
    int own_pool;
    int n_ctx, n_seq_max, n_batch;
    int layer_begin, layer_end;
    int embeddings;
    int (*abort_cb)(void *);
    void *abort_data;

    cl_kv_cell *cells; /* [C] */
    int used_hi;       /* cells at or above are free */
    int n_used;
    cl_f16 *k_cache;   /* [L][C][Hkv*D], rows by cell */
    cl_f16 *v_cache;   /* [L][C][Hkv*D] */

    /* the micro-batch being evaluated */
    int32_t *ub_pos;   /* [B] */
    int32_t *ub_seq;   /* [B] */
    int32_t *ub_cell;  /* [B] */
    int32_t *tiles;    /* [B + 1] first token of each attention tile, then B */
    int n_tiles;
    int cells_in_order; /* cell p holds position p of sequence 0, for every cell in use */

    float *x;        /* [B][E] residual stream */
    float *xb;       /* [B][E] normed input of a block */
    float *q;        /* [B][H*D] */
    float *k;        /* [B][Hkv*D] */
    float *v;        /* [B][Hkv*D] */
    float *att;      /* [B][H*D] attention output */
    float *hb;       /* [B][F] gate, then silu(gate) * up */
    float *hb2;      /* [B][F] up */
    int att_tok;     /* tokens per attention tile */
    int att_rows;    /* query rows per attention item (att_tok x heads per KV head) */
    float *scores;   /* [n_threads][C][att_rows] attention weights, key-major */
    float *att_q;    /* [n_threads][att_rows][D] one item's query rows */
    float *att_o;    /* [n_threads][att_rows][D] one item's outputs */
    int64_t *vis;    /* [n_threads][C] an item's visible cells as position << 32 | cell, in position order */
    int32_t *vis_first; /* [n_threads][C] the first of the item's rows that sees each */
    float *inv_freq; /* [2][D/2] rope frequency of each pair, radians per position: global, windowed layers */
    void *act;       /* quantized activations for the matmuls */

    /* outputs of the last decode */
    float *logits;   /* [n_out][V] */
    float *embd;     /* [n_out][E] */
    size_t logits_cap, embd_cap; /* rows allocated */
    int32_t *out_row; /* [out_n] row of batch entry i, -1 if not kept */
    int32_t *token;   /* [out_n] token sampled for entry i (cllama_set_sampler), -1 if none */
    int out_n, out_cap;
    cllama_sampler **samplers; /* [n_seq_max] NULL: that sequence's outputs are logits */
    float *sample_buf; /* [V] a logits row the sampler may change */

    /* stage 0 of a pipeline (src/pipe.c): the later stages hold the rest of the layers */
    int piped;
    cllama_pipe pipe;
    int pipe_id;     /* this context's id on the other stages */
    int pipe_threads; /* params.n_threads as given (0: each stage's default) */
    void *pipe_buf;   /* a micro-batch's message */
    size_t pipe_cap;
    void *pipe_smp;   /* the current call's sampler states for the last stage */
    size_t pipe_smp_len, pipe_smp_cap;
    void (*progress)(void *data); /* the pipeline transport's, between layers (any stage) */
    void *progress_data;
    cl_inflight fl[CL_MAX_INFLIGHT]; /* a ring, oldest at fl_head */
    int fl_head, fl_n;
    int sync_pending; /* not piped: a submitted batch (evaluated at once) not collected yet */
};

/* Pipeline messages from stage 0 (src/pipe.c). Each returns 0 or a CLLAMA_E_* code
 * with the message set. */
/* After init: the other stages create their contexts (n_ctx, n_seq_max, n_batch as c). */
int cl_pipe_open(cllama_context *c);
/* Before free: the other stages free theirs. */
void cl_pipe_close(cllama_context *c);
/* What comes back for a batch entry (out[] of cl_pipe_send_ub). */
enum { CL_PIPE_OUT_NONE = 0, CL_PIPE_OUT_LOGITS = 1, CL_PIPE_OUT_TOKEN = 2 };
/* The current call's entries [n] with out[i] == CL_PIPE_OUT_TOKEN: the samplers of
 * their sequences (c->samplers) packed for the last stage, which samples there. Call
 * before the first micro-batch (the last one's header carries the size, and the
 * states follow it). */
int cl_pipe_pack_samplers(cllama_context *c, const int32_t *seq, const int32_t *out, int n);
/* Micro-batch [B] of the current call: positions, sequences, what comes back for each
 * entry (CL_PIPE_OUT_*), and the hidden states [B][E] leaving this stage. last: the
 * call's final micro-batch (or, with B = 0, the end of an aborted call). */
int cl_pipe_send_ub(cllama_context *c, int B, const int32_t *pos, const int32_t *seq, const int32_t *out,
                    const float *x, int last);
/* The end of a call of n entries: the last stage's status, the logits rows of the CL_PIPE_OUT_LOGITS entries (into `logits` at their
 * out_row) and the tokens of the CL_PIPE_OUT_TOKEN ones (into c->token; their
 * samplers take the random state the last stage left) come back. */
int cl_pipe_finish(cllama_context *c, float *logits, const int32_t *seq, const int32_t *out, int n);
/* A KV operation on every other stage: rm (seq, p0, p1), cp (src, dst, p0, p1), clear. */
enum { CL_PIPE_KV_RM = 1, CL_PIPE_KV_CP, CL_PIPE_KV_CLEAR };
int cl_pipe_kv(cllama_context *c, int op, int a, int b, int p0, int p1);

/* Runs micro-batch tokens [0, B) (ub_pos, ub_seq, ub_cell set; ids in `tokens` or
 * hidden states in `embd`, [B][E]) through layers [layer_begin, layer_end), storing
 * their K and V in their cells. Leaves the hidden states in c->xb after output_norm
 * when the range ends at the last layer, else the residual stream in c->x. Returns 0,
 * or CLLAMA_E_ABORTED when the abort callback asked (checked before each layer). */
int cl_forward(cllama_context *c, const int32_t *tokens, const float *embd, int B);

/* Scratch sizes shared by the allocation and the estimate (cllama_context_bytes). */
int cl_att_tokens(const cl_hparams *hp);
size_t cl_max_in(const cl_hparams *hp);

#endif
