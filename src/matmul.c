/* Weight-stationary matrix multiply: each thread owns a slice of output rows, walks it
 * in blocks small enough to stay in L2, and applies every weight row of a block to a
 * tile of tokens per kernel call, so each weight byte comes from memory once per
 * matmul however many tokens the batch has. */
#include "matmul.h"

#include "kernels/kernels.h"
#include "quant/quant.h"

#define ROW_BLOCK 16 /* weight rows per block (a 4096-wide Q4_0 row is 2.3 KB) */
#define TOK_TILE 8   /* activation rows per kernel call */
/* Activation rows per pass over the weights: 64 rows of a 11008-wide input are 0.9 MB
 * of q8 blocks, which stay in L2 while every weight block of the thread's slice meets
 * them. Longer batches take several passes: reading the weights again costs less than
 * streaming all the activations from L3 or memory for every 16 weight rows. */
#define TOK_CHUNK 64

size_t cl_matmul_scratch(int64_t n_in, int n_tok) {
    size_t q8 = (size_t)((n_in + CL_QK - 1) / CL_QK) * sizeof(cl_block_q8);
    return q8 * (size_t)n_tok;
}

typedef struct {
    const cl_tensor *w;
    const cl_kernels *k;
    const float *x;
    int n_tok;
    float *y;
    void *scratch;
    const void *act; /* activation rows handed to the kernel */
    size_t act_stride;
} mm_job;

static void quantize_task(void *arg, int ith, int nth) {
    mm_job *j = arg;
    int64_t lo, hi, n_in = j->w->ne[0];
    cl_split(j->n_tok, ith, nth, 1, &lo, &hi);
    int k_blocks = j->k->act[j->w->type] == CL_ACT_Q8K;
    for (int64_t t = lo; t < hi; t++) {
        cl_block_q8 *y = (cl_block_q8 *)((char *)j->scratch + t * j->act_stride);
        if (k_blocks)
            cl_quantize_row_q8k(j->x + t * n_in, y, n_in);
        else
            cl_quantize_row_q8(j->x + t * n_in, y, n_in);
    }
}

static void matmul_task(void *arg, int ith, int nth) {
    mm_job *j = arg;
    const cl_tensor *w = j->w;
    int64_t n_in = w->ne[0], n_out = w->ne[1];
    cl_dot_fn dot = j->k->dot[w->type];
    /* Interleaved rows have only the 8-row kernel. As stored, its in-register transpose
     * pays when several activation rows share it, not for one (generation). */
    cl_gemm8x_fn gemm8x = w->packed ? j->k->gemm8x[w->type] : NULL;
    cl_gemm8_fn gemm8 = !w->packed && j->n_tok > 1 ? j->k->gemm8[w->type] : NULL;
    size_t bb = cl_type_info(w->type)->type_size;
    int64_t lo, hi;
    cl_split(n_out, ith, nth, ROW_BLOCK, &lo, &hi);
    float out[TOK_TILE];
    for (int c0 = 0; c0 < j->n_tok; c0 += TOK_CHUNK) {
        int c1 = j->n_tok - c0 < TOK_CHUNK ? j->n_tok : c0 + TOK_CHUNK;
        for (int64_t r0 = lo; r0 < hi; r0 += ROW_BLOCK) {
            int64_t r1 = r0 + ROW_BLOCK < hi ? r0 + ROW_BLOCK : hi;
            for (int t0 = c0; t0 < c1; t0 += TOK_TILE) {
                int nt = c1 - t0 < TOK_TILE ? c1 - t0 : TOK_TILE;
                const char *a = (const char *)j->act + (size_t)t0 * j->act_stride;
                int64_t r = r0;
                if (gemm8x)
                    for (; r + 8 <= r1; r += 8)
                        gemm8x(n_in, (const char *)w->data + (size_t)r * w->row_bytes, a, j->act_stride, nt,
                               j->y + (size_t)t0 * n_out + r, (size_t)n_out);
                else if (gemm8)
                    for (; r + 8 <= r1; r += 8)
                        gemm8(n_in, (const char *)w->data + (size_t)r * w->row_bytes, w->row_bytes, bb, a,
                              j->act_stride, nt, j->y + (size_t)t0 * n_out + r, (size_t)n_out);
                for (; r < r1; r++) {
                    dot(n_in, (const char *)w->data + (size_t)r * w->row_bytes, a, j->act_stride, nt, out);
                    for (int t = 0; t < nt; t++) j->y[(size_t)(t0 + t) * n_out + r] = out[t];
                }
            }
        }
    }
}

void cl_matmul(cl_pool *pool, const cl_tensor *w, const float *x, int n_tok, float *y, void *scratch) {
    mm_job j = {w, cl_kernels_get(), x, n_tok, y, scratch, x, (size_t)w->ne[0] * sizeof(float)};
    if (j.k->act[w->type] != CL_ACT_F32) {
        j.act = scratch;
        j.act_stride = cl_matmul_scratch(w->ne[0], 1);
        cl_pool_run(pool, quantize_task, &j);
    }
    cl_pool_run(pool, matmul_task, &j);
}
