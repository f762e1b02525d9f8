/* Dot-product kernels, one implementation set per ISA under the same names.
 *
 * For each weight type, `dot` computes the dot product of one weight row of n values
 * with one activation row. Quantized types take activations as cl_block_q8 (n/32
 * blocks); F32/F16/BF16 take float activations. generic.c holds the scalar
 * reference of every kernel; each ISA file of sets.def overrides the ones it speeds up
 * (cl_fill_<id>), and dispatch.c picks the best set for this CPU once. */
#ifndef CL_KERNELS_H
#define CL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "quant/quant.h"

/* How a weight type wants its activations:
 * F32  plain floats;
 * Q8   cl_block_q8 rows, one scale per 32 values (the reference's Q8_0 / Q8_1);
 * Q8K  cl_block_q8 rows whose 8 blocks of each 256 share one scale, rounded exactly
 *      as the reference's Q8_K, so K-quant results track the reference's rounding. */
/* BF16  n bf16 values (the BF16 weight kernels of a set with a BF16 dot product),
 *       rounded to nearest even as cl_f32_to_bf16. */
enum cl_act { CL_ACT_F32 = 0, CL_ACT_Q8 = 1, CL_ACT_Q8K = 2, CL_ACT_BF16 = 3, CL_ACT_COUNT };

/* Bytes of one activation row of n values in format `kind` (whole 64-byte lines for
 * BF16; Q8 and Q8K rows as the blocks come). */
static inline size_t cl_act_row_bytes(int kind, int64_t n) {
    if (kind == CL_ACT_Q8 || kind == CL_ACT_Q8K) return (size_t)((n + CL_QK - 1) / CL_QK) * sizeof(cl_block_q8);
    if (kind == CL_ACT_BF16) return ((size_t)n * 2 + 63) & ~(size_t)63;
    return (size_t)n * sizeof(float);
}

/* Dot products of one weight row `w` (n values) with `nt` activation rows starting at
 * `a`, `a_stride` bytes apart; out[t] = w . a_t. Computing several activation rows per
 * call lets a kernel load each weight block once per tile. */
typedef void (*cl_dot_fn)(int64_t n, const void *w, const void *a, size_t a_stride, int nt,
                          float *out);

/* Dot products of 8 weight rows with `nt` activation rows: out[t * out_stride + r] =
 * w_r . a_t for r < 8, where block i of row r is at w + r row_stride + i block_stride:
 * rows as stored (row_stride = row bytes, block_stride = block bytes) or any other
 * layout of whole blocks (tests use interleaved block by block). Optional per type:
 * where a set has none, the matmul calls `dot` row by row, which is also the scalar
 * reference every gemm8 is tested against. */
typedef void (*cl_gemm8_fn)(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a,
                            size_t a_stride, int nt, float *out, size_t out_stride);

/* As cl_gemm8_fn for 8 rows interleaved as one group of x8 blocks at w (interleave.h). */
typedef void (*cl_gemm8x_fn)(int64_t n, const void *w, const void *a, size_t a_stride, int nt, float *out,
                             size_t out_stride);

/* As cl_gemm8x_fn for 16 rows: two x8 groups, the second `group_stride` bytes after
 * the first (out[t * out_stride + r], r < 16). */
typedef void (*cl_gemm16x_fn)(int64_t n, const void *w, size_t group_stride, const void *a, size_t a_stride, int nt,
                              float *out, size_t out_stride);

typedef struct {
    const char *isa;               /* the set's name in sets.def, or "generic" */
    cl_dot_fn dot[CL_TYPE_COUNT];  /* NULL: not a weight type */
    int act[CL_TYPE_COUNT];        /* enum cl_act per weight type */
    cl_gemm8_fn gemm8[CL_TYPE_COUNT]; /* NULL: use dot */
    /* NULL: keep this type's rows as stored. Else the 8-row kernel on x8 blocks
     * (interleave.h), which beats dot even for one activation row (measured), so
     * repack.c interleaves matrices of this type and generation uses it too. */
    cl_gemm8x_fn gemm8x[CL_TYPE_COUNT];
    /* NULL: pairs of x8 groups go through gemm8x one at a time. */
    cl_gemm16x_fn gemm16x[CL_TYPE_COUNT];
    /* Activation rows in the format act[] names (indexed by enum cl_act; NULL for
     * F32): n floats (a multiple of 32, of 256 for Q8K) to n/32 cl_block_q8, or to n
     * bf16 values (any n). SIMD versions give the same bytes as the scalar ones. */
    void (*quantize[CL_ACT_COUNT])(const float *x, void *y, int64_t n);
    /* y[r n + i] += a[r] x[i] for r < nr, i < n (any n): one F16 value row added to nr
     * attention outputs with their weights. */
    void (*axpy_f16)(int64_t n, int nr, const float *a, const cl_f16 *x, float *y);
} cl_kernels;

/* The scalar reference set (generic.c). */
const cl_kernels *cl_kernels_generic(void);

#endif
