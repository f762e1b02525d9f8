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
    float *inv_freq; /* [D/2] rope frequency of each pair, radians per position */
    void *act;       /* quantized activations for the matmuls */

    /* outputs of the last decode */
    float *logits;   /* [n_out][V] */
    float *embd;     /* [n_out][E] */
    size_t logits_cap, embd_cap; /* rows allocated */
    int32_t *out_row; /* [out_n] row of batch entry i, -1 if not kept */
    int out_n, out_cap;

    /* stage 0 of a pipeline (src/pipe.c): the later stages hold the rest of the layers */
    int piped;
    cllama_pipe pipe;
    int pipe_id;     /* this context's id on the other stages */
    int pipe_threads; /* params.n_threads as given (0: each stage's default) */
    void *pipe_buf;   /* a micro-batch's message */
    size_t pipe_cap;
};

/* Pipeline messages from stage 0 (src/pipe.c). Each returns 0 or a CLLAMA_E_* code
 * with the message set. */
/* After init: the other stages create their contexts (n_ctx, n_seq_max, n_batch as c). */
int cl_pipe_open(cllama_context *c);
/* Before free: the other stages free theirs. */
void cl_pipe_close(cllama_context *c);
/* Micro-batch [B] of the current call: positions, sequences, whether each entry's
 * logits are kept, and the hidden states [B][E] leaving this stage. last: the call's
 * final micro-batch (or, with B = 0, the end of an aborted call). */
int cl_pipe_send_ub(cllama_context *c, int B, const int32_t *pos, const int32_t *seq, const int32_t *out,
                    const float *x, int last);
/* The end of a call: the last stage's status and n_out rows of logits into `logits`. */
int cl_pipe_finish(cllama_context *c, float *logits, int n_out);
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
