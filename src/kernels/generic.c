/* Scalar reference dot kernels for every weight type: the "generic" set, and the
 * table every other set starts from (dispatch.c).
 *
 * Quantized weights meet cl_block_q8 activations block by block: each 32-value
 * activation block has its own scale d, so every weight (sub-)block contributes
 * w_scale * a.d * sum(q_w * q_a)  (integer dot), and the types with a min/offset add
 * w_min * a.d * sum(q_a): a.s for the legacy types, the integer half sums a.bs for
 * the K-quants. Each weight block is decoded once per call, into small int8 arrays,
 * and applied to all nt activation rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

#define ACT(a, t, stride) ((const cl_block_q8 *)((const char *)(a) + (size_t)(t) * (stride)))

static inline int idot(const int8_t *q, const int8_t *a, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += q[i] * a[i];
    return s;
}

static inline int isum(const int8_t *a, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += a[i];
    return s;
}

/* ---- float weights, float activations; n need not be a multiple of anything ---- */

/* Weight rows may sit at any address in the file (general.alignment can be 1): read
 * them with memcpy. Activation rows are ours and aligned. */
static void dot_f32(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out) {
    const uint8_t *x = w;
    for (int t = 0; t < nt; t++) {
        const float *y = (const float *)((const char *)a + (size_t)t * stride);
        float s = 0;
        for (int64_t i = 0; i < n; i++) s += cl_rdf32(x + 4 * i) * y[i];
        out[t] = s;
    }
}

static void dot_f16(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out) {
    const uint8_t *x = w;
    for (int t = 0; t < nt; t++) {
        const float *y = (const float *)((const char *)a + (size_t)t * stride);
        float s = 0;
        for (int64_t i = 0; i < n; i++) s += cl_f16_to_f32(cl_rd16(x + 2 * i)) * y[i];
        out[t] = s;
    }
}

static void dot_bf16(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out) {
    const uint8_t *x = w;
    for (int t = 0; t < nt; t++) {
        const float *y = (const float *)((const char *)a + (size_t)t * stride);
        float s = 0;
        for (int64_t i = 0; i < n; i++) s += cl_bf16_to_f32(cl_rd16(x + 2 * i)) * y[i];
        out[t] = s;
    }
}

/* ---- legacy 32-value blocks ---- */

/* Low nibbles are values 0..15, high nibbles 16..31; `off` is subtracted. */
static inline void unpack_nibbles(const uint8_t *qs, int off, int8_t *q) {
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((qs[j] & 0xF) - off);
        q[j + 16] = (int8_t)((qs[j] >> 4) - off);
    }
}

static inline void unpack_q5(const uint8_t *qs, const uint8_t *qhp, int off, int8_t *q) {
    uint32_t qh = cl_rd32(qhp);
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)(((qs[j] & 0xF) | ((qh >> j) & 1) << 4) - off);
        q[j + 16] = (int8_t)(((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - off);
    }
}

/* A legacy block decoded: 32 signed values, the scale d and the min m (0 for the
 * symmetric types), so that x = d q + m. */
typedef void (*legacy_decode)(const uint8_t *blk, int8_t *q, float *d, float *m);

static void decode_q4_0(const uint8_t *blk, int8_t *q, float *d, float *m) {
    const cl_block_q4_0 *b = (const cl_block_q4_0 *)blk;
    unpack_nibbles(b->qs, 8, q);
    *d = cl_f16_to_f32(cl_rd16(&b->d)), *m = 0;
}

static void decode_q4_1(const uint8_t *blk, int8_t *q, float *d, float *m) {
    const cl_block_q4_1 *b = (const cl_block_q4_1 *)blk;
    unpack_nibbles(b->qs, 0, q);
    *d = cl_f16_to_f32(cl_rd16(&b->d)), *m = cl_f16_to_f32(cl_rd16(&b->m));
}

static void decode_q5_0(const uint8_t *blk, int8_t *q, float *d, float *m) {
    const cl_block_q5_0 *b = (const cl_block_q5_0 *)blk;
    unpack_q5(b->qs, b->qh, 16, q);
    *d = cl_f16_to_f32(cl_rd16(&b->d)), *m = 0;
}

static void decode_q5_1(const uint8_t *blk, int8_t *q, float *d, float *m) {
    const cl_block_q5_1 *b = (const cl_block_q5_1 *)blk;
    unpack_q5(b->qs, b->qh, 0, q);
    *d = cl_f16_to_f32(cl_rd16(&b->d)), *m = cl_f16_to_f32(cl_rd16(&b->m));
}

static void decode_q8_0(const uint8_t *blk, int8_t *q, float *d, float *m) {
    const cl_block_q8_0 *b = (const cl_block_q8_0 *)blk;
    memcpy(q, b->qs, CL_QK);
    *d = cl_f16_to_f32(cl_rd16(&b->d)), *m = 0;
}

/* w . a = sum over blocks of d_w d_a (q . a_q) + m_w s_a. */
static void dot_legacy(int64_t n, const void *w, size_t block_bytes, legacy_decode decode, const void *a,
                       size_t stride, int nt, float *out) {
    for (int t = 0; t < nt; t++) out[t] = 0;
    for (int64_t i = 0; i < n / CL_QK; i++) {
        int8_t q[CL_QK];
        float d, m;
        decode((const uint8_t *)w + (size_t)i * block_bytes, q, &d, &m);
        for (int t = 0; t < nt; t++) {
            const cl_block_q8 *y = ACT(a, t, stride) + i;
            out[t] += d * y->d * (float)idot(q, y->qs, CL_QK) + m * y->s;
        }
    }
}

#define LEGACY_DOT(NAME)                                                                                  \
    static void dot_##NAME(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out) { \
        dot_legacy(n, w, sizeof(cl_block_##NAME), decode_##NAME, a, stride, nt, out);                     \
    }
LEGACY_DOT(q4_0)
LEGACY_DOT(q4_1)
LEGACY_DOT(q5_0)
LEGACY_DOT(q5_1)
LEGACY_DOT(q8_0)

/* ---- K-quants: super-block i covers activation blocks 8i..8i+7 ---- */

static void dot_q2_K(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out) {
    const cl_block_q2_K *x = w;
    for (int t = 0; t < nt; t++) out[t] = 0;
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        int8_t q[CL_QK_K];
        for (int v = 0; v < CL_QK_K; v++) q[v] = (int8_t)((x[i].qs[32 * (v / 128) + v % 32] >> (2 * ((v / 32) % 4))) & 3);
        float d = cl_f16_to_f32(cl_rd16(&x[i].d)), dmin = cl_f16_to_f32(cl_rd16(&x[i].dmin));
        for (int t = 0; t < nt; t++) {
            const cl_block_q8 *y = ACT(a, t, stride) + 8 * i;
            float acc = 0;
            for (int b = 0; b < 8; b++) {
                /* Two 16-value sub-blocks per activation block; the min needs the
                 * activation sum of each half. */
                uint8_t s0 = x[i].scales[2 * b], s1 = x[i].scales[2 * b + 1];
                int qd = (s0 & 0xF) * idot(q + 32 * b, y[b].qs, 16) + (s1 & 0xF) * idot(q + 32 * b + 16, y[b].qs + 16, 16);
                int md = (s0 >> 4) * isum(y[b].qs, 16) + (s1 >> 4) * isum(y[b].qs + 16, 16);
                acc += y[b].d * (d * (float)qd - dmin * (float)md);
            }
            out[t] += acc;
        }
    }
}

static void dot_q3_K(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out) {
    const cl_block_q3_K *x = w;
    for (int t = 0; t < nt; t++) out[t] = 0;
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        int8_t q[CL_QK_K], sc[16];
        for (int v = 0; v < CL_QK_K; v++) {
            int nn = v / 128, j = (v / 32) % 4, l = v % 32;
            int lo = (x[i].qs[32 * nn + l] >> (2 * j)) & 3;
            int hi = (x[i].hmask[l] >> (4 * nn + j)) & 1;
            q[v] = (int8_t)(lo - (hi ? 0 : 4));
        }
        cl_q3k_scales(x[i].scales, sc);
        float d = cl_f16_to_f32(cl_rd16(&x[i].d));
        for (int t = 0; t < nt; t++) {
            const cl_block_q8 *y = ACT(a, t, stride) + 8 * i;
            float acc = 0;
            for (int b = 0; b < 8; b++) {
                int qd = sc[2 * b] * idot(q + 32 * b, y[b].qs, 16) + sc[2 * b + 1] * idot(q + 32 * b + 16, y[b].qs + 16, 16);
                acc += y[b].d * (float)qd;
            }
            out[t] += d * acc;
        }
    }
}

/* Q4_K and Q5_K share everything but the decoding of q (0..15 or 0..31). */
static void dot_k4_common(const int8_t *q, const uint8_t *scales, float d, float dmin, const void *a, size_t stride,
                          int64_t ab, int nt, float *out) {
    uint8_t sc[8], m[8];
    for (int b = 0; b < 8; b++) cl_k4_scale_min(b, scales, &sc[b], &m[b]);
    for (int t = 0; t < nt; t++) {
        const cl_block_q8 *y = ACT(a, t, stride) + ab;
        float acc = 0;
        int macc = 0;
        for (int b = 0; b < 8; b++) {
            acc += y[b].d * (float)(sc[b] * idot(q + 32 * b, y[b].qs, 32));
            macc += m[b] * (y[b].bs[0] + y[b].bs[1]);
        }
        out[t] += d * acc - dmin * y[0].d * (float)macc;
    }
}

static void dot_q4_K(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out) {
    const cl_block_q4_K *x = w;
    for (int t = 0; t < nt; t++) out[t] = 0;
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        int8_t q[CL_QK_K];
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                q[64 * c + l] = (int8_t)(x[i].qs[32 * c + l] & 0xF);
                q[64 * c + 32 + l] = (int8_t)(x[i].qs[32 * c + l] >> 4);
            }
        dot_k4_common(q, x[i].scales, cl_f16_to_f32(cl_rd16(&x[i].d)), cl_f16_to_f32(cl_rd16(&x[i].dmin)), a, stride,
                      8 * i, nt, out);
    }
}

static void dot_q5_K(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out) {
    const cl_block_q5_K *x = w;
    for (int t = 0; t < nt; t++) out[t] = 0;
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        int8_t q[CL_QK_K];
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                uint8_t h = x[i].qh[l];
                q[64 * c + l] = (int8_t)((x[i].qs[32 * c + l] & 0xF) | ((h >> (2 * c)) & 1) << 4);
                q[64 * c + 32 + l] = (int8_t)((x[i].qs[32 * c + l] >> 4) | ((h >> (2 * c + 1)) & 1) << 4);
            }
        dot_k4_common(q, x[i].scales, cl_f16_to_f32(cl_rd16(&x[i].d)), cl_f16_to_f32(cl_rd16(&x[i].dmin)), a, stride,
                      8 * i, nt, out);
    }
}

static void dot_q6_K(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out) {
    const cl_block_q6_K *x = w;
    for (int t = 0; t < nt; t++) out[t] = 0;
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        int8_t q[CL_QK_K];
        for (int v = 0; v < CL_QK_K; v++) {
            int nn = v / 128, j = (v / 32) % 4, l = v % 32;
            int lo = (x[i].ql[64 * nn + 32 * (j & 1) + l] >> (4 * (j >> 1))) & 0xF;
            int hi = (x[i].qh[32 * nn + l] >> (2 * j)) & 3;
            q[v] = (int8_t)((lo | hi << 4) - 32);
        }
        const int8_t *sc = x[i].scales;
        float d = cl_f16_to_f32(cl_rd16(&x[i].d));
        for (int t = 0; t < nt; t++) {
            const cl_block_q8 *y = ACT(a, t, stride) + 8 * i;
            float acc = 0;
            for (int b = 0; b < 8; b++) {
                int qd = sc[2 * b] * idot(q + 32 * b, y[b].qs, 16) + sc[2 * b + 1] * idot(q + 32 * b + 16, y[b].qs + 16, 16);
                acc += y[b].d * (float)qd;
            }
            out[t] += d * acc;
        }
    }
}

static void axpy_f16(int64_t n, int nr, const float *a, const cl_f16 *x, float *y) {
    for (int r = 0; r < nr; r++)
        for (int64_t i = 0; i < n; i++) y[r * n + i] += a[r] * cl_f16_to_f32(x[i]);
}

static void quantize_q8(const float *x, void *y, int64_t n) { cl_quantize_row_q8(x, y, n); }
static void quantize_q8k(const float *x, void *y, int64_t n) { cl_quantize_row_q8k(x, y, n); }
static void quantize_bf16(const float *x, void *y, int64_t n) {
    cl_bf16 *o = y;
    for (int64_t i = 0; i < n; i++) o[i] = cl_f32_to_bf16(x[i]);
}

/* The scalar set takes BF16 weights with float activations (dot_bf16); the reference
 * for a set that takes them with BF16 activations is dot_bf16 on activations rounded
 * by quantize[CL_ACT_BF16], whose products are then the same exact values. */
static const cl_kernels generic = {
    .isa = "generic",
    .axpy_f16 = axpy_f16,
    .quantize = {[CL_ACT_Q8] = quantize_q8, [CL_ACT_Q8K] = quantize_q8k, [CL_ACT_BF16] = quantize_bf16},
    .dot =
        {
            [CL_TYPE_F32] = dot_f32,
            [CL_TYPE_F16] = dot_f16,
            [CL_TYPE_BF16] = dot_bf16,
            [CL_TYPE_Q4_0] = dot_q4_0,
            [CL_TYPE_Q4_1] = dot_q4_1,
            [CL_TYPE_Q5_0] = dot_q5_0,
            [CL_TYPE_Q5_1] = dot_q5_1,
            [CL_TYPE_Q8_0] = dot_q8_0,
            [CL_TYPE_Q2_K] = dot_q2_K,
            [CL_TYPE_Q3_K] = dot_q3_K,
            [CL_TYPE_Q4_K] = dot_q4_K,
            [CL_TYPE_Q5_K] = dot_q5_K,
            [CL_TYPE_Q6_K] = dot_q6_K,
        },
    .act =
        {
            [CL_TYPE_Q4_0] = CL_ACT_Q8,
            [CL_TYPE_Q4_1] = CL_ACT_Q8,
            [CL_TYPE_Q5_0] = CL_ACT_Q8,
            [CL_TYPE_Q5_1] = CL_ACT_Q8,
            [CL_TYPE_Q8_0] = CL_ACT_Q8,
            [CL_TYPE_Q2_K] = CL_ACT_Q8K,
            [CL_TYPE_Q3_K] = CL_ACT_Q8K,
            [CL_TYPE_Q4_K] = CL_ACT_Q8K,
            [CL_TYPE_Q5_K] = CL_ACT_Q8K,
            [CL_TYPE_Q6_K] = CL_ACT_Q8K,
        },
};

const cl_kernels *cl_kernels_generic(void) { return &generic; }
