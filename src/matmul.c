/* Weight-stationary matrix multiply. The weights are cut into units of ROW_UNIT rows
 * (times a chunk of tokens) that threads take from a shared counter
 * (cl_pool_run_items), so a thread slowed by the rest of the machine does not hold up
 * the others at the end of the product.
 * Within a unit, each weight row block is applied to a tile of tokens per kernel call,
 * so each weight byte comes from memory once per token chunk however long the batch. */
#include "matmul.h"

#include "kernels/kernels.h"
#include "quant/quant.h"

#define ROW_UNIT 64 /* weight rows per unit of work (a 4096-wide Q4_0 row is 2.3 KB) */
/* For a few tokens the product streams the weights from memory, and a thread should
 * then read long runs: taking units from a shared counter, each thread jumps to a new
 * region every few microseconds, before the hardware prefetcher has ramped up
 * (measured, 2 threads, 14336 x 4096 Q4_K, 1 token: 35 GB/s, against 58 with each
 * thread on its own eighth of the rows, where the machine read 64 GB/s). Such
 * products go through cl_pool_run_ranges instead. */
#define STREAM_TOKENS 4
#define TOK_TILE 8   /* activation rows per kernel call */
/* Activation rows per pass over the weights: 64 rows of a 11008-wide input are 0.9 MB
 * of q8 blocks, which stay in L2 while the units of that chunk meet them. Longer
 * batches take several passes: reading the weights again costs less than streaming
 * all the activations from L3 or memory for every unit. */
#define TOK_CHUNK 64
#define MAX_GROUP 4

size_t cl_matmul_scratch(int64_t n_in, int n_tok) {
    size_t q8 = cl_act_row_bytes(CL_ACT_Q8, n_in), bf16 = cl_act_row_bytes(CL_ACT_BF16, n_in);
    return (q8 > bf16 ? q8 : bf16) * (size_t)n_tok;
}

typedef struct {
    int nw;
    const cl_tensor *w[MAX_GROUP];
    float *y[MAX_GROUP];
    int64_t first_unit[MAX_GROUP + 1]; /* units of w[i]: [first_unit[i], first_unit[i+1]) */
    const cl_kernels *k;
    const float *x;
    int n_in, n_tok, n_chunks;
    int act_kind; /* enum cl_act, the same for every w[i] */
    void *scratch;
    const void *act; /* activation rows handed to the kernels */
    size_t act_stride;
    int64_t q_units, q_per_row; /* quantization work: q_per_row pieces of each token row */
} mm_job;

/* Quantization pieces are 256 values (whole Q8K super-blocks) where the row allows,
 * else 32, so that one long activation row is also split across the threads. */
static void quantize_task(void *arg, int ith, int nth) {
    mm_job *j = arg;
    int64_t lo, hi;
    cl_split(j->q_units, ith, nth, 1, &lo, &hi);
    int64_t piece = j->n_in / j->q_per_row;
    for (int64_t u = lo; u < hi; u++) {
        int64_t t = u / j->q_per_row, p = u % j->q_per_row;
        /* piece p of row t: whole blocks of the row's format */
        size_t off = cl_act_row_bytes(j->act_kind, p * piece);
        j->k->quantize[j->act_kind](j->x + t * j->n_in + p * piece, (char *)j->scratch + t * j->act_stride + off, piece);
    }
}

/* Rows [r0, r1) of w against token rows [c0, c1). */
static void run_unit(const mm_job *j, const cl_tensor *w, float *yw, int64_t r0, int64_t r1, int c0, int c1) {
    int64_t n_in = w->ne[0], n_out = w->ne[1];
    cl_dot_fn dot = j->k->dot[w->type];
    /* Interleaved rows go through the x8 kernels (16 rows, then 8); rows as stored
     * through the 8-row kernel where the set has one, whatever the number of activation
     * rows: it rounds differently from dot, and a row's result must not depend on the
     * batch it came in. */
    cl_gemm8x_fn gemm8x = w->packed ? j->k->gemm8x[w->type] : NULL;
    cl_gemm16x_fn gemm16x = w->packed ? j->k->gemm16x[w->type] : NULL;
    cl_gemm8_fn gemm8 = !w->packed ? j->k->gemm8[w->type] : NULL;
    size_t bb = cl_type_info(w->type)->type_size;
    float out[TOK_TILE];
    for (int t0 = c0; t0 < c1; t0 += TOK_TILE) {
        int nt = c1 - t0 < TOK_TILE ? c1 - t0 : TOK_TILE;
        const char *a = (const char *)j->act + (size_t)t0 * j->act_stride;
        float *y = yw + (size_t)t0 * n_out;
        int64_t r = r0;
        /* Two groups are two streams 8 row_bytes apart, which one core reads from memory
         * much slower than one (Q4_K, 1 token: 17 vs 28 GB/s on one core, 31 vs 44 on
         * two): the 16-row kernel pays only once 3 or more tokens share the weights. */
        if (gemm16x && nt > 2)
            for (; r + 16 <= r1; r += 16)
                gemm16x(n_in, (const char *)w->data + (size_t)r * w->row_bytes, 8 * w->row_bytes, a, j->act_stride, nt,
                        y + r, (size_t)n_out);
        if (gemm8x)
            for (; r + 8 <= r1; r += 8)
                gemm8x(n_in, (const char *)w->data + (size_t)r * w->row_bytes, a, j->act_stride, nt, y + r,
                       (size_t)n_out);
        else if (gemm8)
            for (; r + 8 <= r1; r += 8)
                gemm8(n_in, (const char *)w->data + (size_t)r * w->row_bytes, w->row_bytes, bb, a, j->act_stride, nt,
                      y + r, (size_t)n_out);
        for (; r < r1; r++) {
            dot(n_in, (const char *)w->data + (size_t)r * w->row_bytes, a, j->act_stride, nt, out);
            for (int t = 0; t < nt; t++) y[(size_t)t * n_out + r] = out[t];
        }
    }
}

/* Units in order of token chunk, then matrix, then rows, so the threads work on one
 * chunk of activations at a time. */
static void matmul_unit(void *arg, int64_t u, int ith) {
    (void)ith;
    const mm_job *j = arg;
    int64_t per_chunk = j->first_unit[j->nw];
    int c = (int)(u / per_chunk);
    int64_t v = u % per_chunk;
    int i = 0;
    while (v >= j->first_unit[i + 1]) i++;
    int64_t r0 = (v - j->first_unit[i]) * ROW_UNIT, r1 = r0 + ROW_UNIT;
    if (r1 > j->w[i]->ne[1]) r1 = j->w[i]->ne[1];
    int c0 = c * TOK_CHUNK, c1 = c0 + TOK_CHUNK < j->n_tok ? c0 + TOK_CHUNK : j->n_tok;
    run_unit(j, j->w[i], j->y[i], r0, r1, c0, c1);
}

static void run_group(const cl_kernels *k, cl_pool *pool, int nw, const cl_tensor *const *w, const float *x, int n_tok,
                      float *const *y, void *scratch) {
    mm_job j = {.nw = nw, .k = k, .x = x, .n_in = (int)w[0]->ne[0], .n_tok = n_tok,
                .n_chunks = (n_tok + TOK_CHUNK - 1) / TOK_CHUNK, .scratch = scratch};
    j.act_kind = j.k->act[w[0]->type];
    for (int i = 0; i < nw; i++) {
        j.w[i] = w[i];
        j.y[i] = y[i];
        j.first_unit[i + 1] = j.first_unit[i] + (w[i]->ne[1] + ROW_UNIT - 1) / ROW_UNIT;
    }
    if (j.act_kind == CL_ACT_F32) {
        j.act = x;
        j.act_stride = (size_t)j.n_in * sizeof(float);
    } else {
        j.act = scratch;
        j.act_stride = cl_act_row_bytes(j.act_kind, j.n_in);
        int64_t piece = j.n_in % CL_QK_K == 0 ? CL_QK_K : j.n_in % CL_QK == 0 ? CL_QK : j.n_in; /* BF16: any n */
        j.q_per_row = j.n_in / piece;
        j.q_units = j.q_per_row * n_tok;
        cl_pool_run(pool, quantize_task, &j);
    }
    if (n_tok <= STREAM_TOKENS) cl_pool_run_ranges(pool, j.first_unit[nw] * j.n_chunks, matmul_unit, &j);
    else cl_pool_run_items(pool, j.first_unit[nw] * j.n_chunks, matmul_unit, &j);
}

void cl_matmul_n(const cl_kernels *k, cl_pool *pool, int nw, const cl_tensor *const *w, const float *x, int n_tok,
                 float *const *y, void *scratch) {
    /* Runs of consecutive products that want the same activation format share one
     * quantized copy of x. */
    for (int i = 0; i < nw;) {
        int n = 1;
        while (i + n < nw && n < MAX_GROUP && k->act[w[i + n]->type] == k->act[w[i]->type]) n++;
        run_group(k, pool, n, w + i, x, n_tok, y + i, scratch);
        i += n;
    }
}

void cl_matmul(const cl_kernels *k, cl_pool *pool, const cl_tensor *w, const float *x, int n_tok, float *y,
               void *scratch) {
    cl_matmul_n(k, pool, 1, &w, x, n_tok, &y, scratch);
}
