/* NEON (AArch64 Advanced SIMD) dot kernels: the set of generic.c, vectorized.
 *
 * Integer products are signed 8 x 8 bit: weights are unpacked to int8 with their
 * offset already removed (Q4_0: q - 8, Q6_K: q - 32, Q8_0 x8: stored q + 128 XOR
 * 0x80), so only the types with a min need the activation sums. A product of 16 bytes
 * into four int32 lanes (4 bytes each) is dot16(): one sdot with the dot-product
 * extension, which arm_dotprod.c compiles this file for (the set "neon-dotprod");
 * two widening multiplies and two pairwise adds on the plain ARMv8.0 NEON that every
 * AArch64 CPU has (the set "neon").
 *
 * Every kernel walks the weight row once per tile of up to 4 activation rows, each tile
 * size a compile-time constant so the accumulators stay in registers (32 of them).
 *
 * The x8 layouts (interleave.h) put 4 bytes of each of 4 rows in one 16-byte register;
 * sdot by lane multiplies them with 4 activation bytes broadcast from one lane, so a
 * register pair advances all 8 rows with no transposes. */
#include <arm_neon.h>
#include <stddef.h>
#include <string.h>

#ifndef CL_SET_ID
#define CL_SET_ID neon
#endif
#include "kernels/isa.h"
#include "quant/interleave.h"

/* CL_ARM_DOTPROD: the sdot instruction (arm_dotprod.c's flags). */
#ifdef __ARM_FEATURE_DOTPROD
#define CL_ARM_DOTPROD 1
#endif

#define ACT(a, t, stride) ((const cl_block_q8 *)((const char *)(a) + (size_t)(t) * (stride)))
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

/* One f16 at any address (blocks in a mapped file need not be aligned). */
INLINE float f16(const void *p) {
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

/* Four f16 at any address as floats. Byte loads have no alignment requirement. */
INLINE float32x4_t f16x4(const void *p) { return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8((const uint8_t *)p))); }

/* A field of a packed block, as bytes (its address may be odd). */
#define FIELD(p, T, f) ((const uint8_t *)(p) + offsetof(T, f))

INLINE int8x16_t s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }

/* acc[l] += sum_k w[4l + k] a[4l + k] for lanes l = 0..3. Without sdot the int16 pair
 * sums stay below 2^15: |w a| <= 128 * 127 for every pairing used here (Q8 activations
 * are >= -127, and Q8K's -128 only meets weights of magnitude <= 32). */
INLINE int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t a) {
#ifdef CL_ARM_DOTPROD
    return vdotq_s32(acc, w, a);
#else
    return vpadalq_s16(acc, vpaddq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(a)), vmull_high_s8(w, a)));
#endif
}

/* acc[l] += sum_k w[4l + k] a[4 LANE + k]: four rows' 4 bytes against 4 activation
 * bytes (LANE a constant). */
#ifdef CL_ARM_DOTPROD
#define DOT_LANE(acc, w, a, lane) vdotq_laneq_s32(acc, w, a, lane)
#else
#define DOT_LANE(acc, w, a, lane) dot16(acc, w, vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a), lane)))
#endif


#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "arm.c reads packed scale words as little-endian"
#endif

/* The sum of four int32 lanes, as float. */
INLINE float hsum_i(int32x4_t v) { return (float)vaddvq_s32(v); }

/* ---- float weights; any n ---- */

#define LOAD_F32(p, i) vld1q_f32((const float *)(p) + (i))
#define LOAD_F16(p, i) f16x4((const cl_f16 *)(p) + (i))
#define LOAD_BF16(p, i) \
    vreinterpretq_f32_u32(vshll_n_u16(vreinterpret_u16_u8(vld1_u8((const uint8_t *)((const cl_bf16 *)(p) + (i)))), 16))
#define SCALAR_F32(p, k) cl_rdf32((const uint8_t *)(p) + 4 * (k))
#define SCALAR_F16(p, k) f16((const uint8_t *)(p) + 2 * (k))
#define SCALAR_BF16(p, k) cl_bf16_to_f32(cl_rd16((const uint8_t *)(p) + 2 * (k)))

/* F32 weights may sit at any address too: AArch64 does not fault on unaligned vector
 * loads from ordinary memory. Two accumulators per row hide the FMA latency. */
#define FLOAT_TILE(NAME, LOAD, SCALAR)                                                                          \
    INLINE void NAME##_tile(int64_t n, const void *w, const char *a, size_t stride, float *out, const int M) { \
        float32x4_t acc[4][2];                                                                                  \
        UNROLL for (int t = 0; t < M; t++) acc[t][0] = acc[t][1] = vdupq_n_f32(0);                             \
        int64_t i = 0;                                                                                          \
        for (; i + 8 <= n; i += 8) {                                                                            \
            float32x4_t w0 = LOAD(w, i), w1 = LOAD(w, i + 4);                                                   \
            UNROLL for (int t = 0; t < M; t++) {                                                                \
                const float *y = (const float *)(a + (size_t)t * stride) + i;                                   \
                acc[t][0] = vfmaq_f32(acc[t][0], w0, vld1q_f32(y));                                             \
                acc[t][1] = vfmaq_f32(acc[t][1], w1, vld1q_f32(y + 4));                                         \
            }                                                                                                   \
        }                                                                                                       \
        UNROLL for (int t = 0; t < M; t++) {                                                                    \
            const float *y = (const float *)(a + (size_t)t * stride);                                           \
            float s = vaddvq_f32(vaddq_f32(acc[t][0], acc[t][1]));                                              \
            for (int64_t k = i; k < n; k++) s += SCALAR(w, k) * y[k];                                           \
            out[t] = s;                                                                                         \
        }                                                                                                       \
    }

FLOAT_TILE(f32, LOAD_F32, SCALAR_F32)
FLOAT_TILE(f16, LOAD_F16, SCALAR_F16)
FLOAT_TILE(bf16, LOAD_BF16, SCALAR_BF16)

/* ---- legacy 32-value blocks: acc += cvt(int dot) * (d_w d_a), plus m_w a.s ---- */

/* A block unpacked: values 0..15 in lo, 16..31 in hi; x = d q + m. */
typedef struct {
    int8x16_t lo, hi;
    float d, m;
} legacy_q;

static const uint8_t bit_of_byte[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};

/* Bits 0..15 of the two bytes at p -> byte j = 0x10 if bit j is set, else 0 (the
 * fifth bit of Q5 values). */
INLINE uint8x16_t bits_0x10(const uint8_t *p) {
    uint8x16_t b = vcombine_u8(vdup_n_u8(p[0]), vdup_n_u8(p[1]));
    return vandq_u8(vtstq_u8(b, vld1q_u8(bit_of_byte)), vdupq_n_u8(0x10));
}

INLINE legacy_q nibbles(const uint8_t *qs, const uint8_t *qh, int off, float d, float m) {
    uint8x16_t q = vld1q_u8(qs), lo = vandq_u8(q, vdupq_n_u8(0xF)), hi = vshrq_n_u8(q, 4);
    if (qh) lo = vorrq_u8(lo, bits_0x10(qh)), hi = vorrq_u8(hi, bits_0x10(qh + 2));
    legacy_q r = {vsubq_s8(s8(lo), vdupq_n_s8((int8_t)off)), vsubq_s8(s8(hi), vdupq_n_s8((int8_t)off)), d, m};
    return r;
}

INLINE legacy_q load_q4_0(const uint8_t *p) {
    const cl_block_q4_0 *b = (const cl_block_q4_0 *)p;
    return nibbles(b->qs, NULL, 8, f16(&b->d), 0);
}
INLINE legacy_q load_q4_1(const uint8_t *p) {
    const cl_block_q4_1 *b = (const cl_block_q4_1 *)p;
    return nibbles(b->qs, NULL, 0, f16(&b->d), f16(&b->m));
}
INLINE legacy_q load_q5_0(const uint8_t *p) {
    const cl_block_q5_0 *b = (const cl_block_q5_0 *)p;
    return nibbles(b->qs, b->qh, 16, f16(&b->d), 0);
}
INLINE legacy_q load_q5_1(const uint8_t *p) {
    const cl_block_q5_1 *b = (const cl_block_q5_1 *)p;
    return nibbles(b->qs, b->qh, 0, f16(&b->d), f16(&b->m));
}
INLINE legacy_q load_q8_0(const uint8_t *p) {
    const cl_block_q8_0 *b = (const cl_block_q8_0 *)p;
    legacy_q r = {vld1q_s8(b->qs), vld1q_s8(b->qs + 16), f16(&b->d), 0};
    return r;
}

#define LEGACY_TILE(NAME, HAS_MIN)                                                                              \
    INLINE void NAME##_tile(int64_t n, const void *w, const char *a, size_t stride, float *out, const int M) { \
        float32x4_t acc[4];                                                                                     \
        float off[4];                                                                                           \
        UNROLL for (int t = 0; t < M; t++) acc[t] = vdupq_n_f32(0), off[t] = 0;                                 \
        for (int64_t i = 0; i < n / CL_QK; i++) {                                                               \
            legacy_q q = load_##NAME((const uint8_t *)w + (size_t)i * sizeof(cl_block_##NAME));                 \
            UNROLL for (int t = 0; t < M; t++) {                                                                \
                const cl_block_q8 *y = ACT(a, t, stride) + i;                                                   \
                int32x4_t p = dot16(dot16(vdupq_n_s32(0), q.lo, vld1q_s8(y->qs)), q.hi, vld1q_s8(y->qs + 16));  \
                acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(p), q.d * y->d);                                     \
                if (HAS_MIN) off[t] += q.m * y->s;                                                              \
            }                                                                                                   \
        }                                                                                                       \
        UNROLL for (int t = 0; t < M; t++) out[t] = vaddvq_f32(acc[t]) + off[t];                                \
    }

LEGACY_TILE(q4_0, 0)
LEGACY_TILE(q4_1, 1)
LEGACY_TILE(q5_0, 0)
LEGACY_TILE(q5_1, 1)
LEGACY_TILE(q8_0, 0)

/* ---- K-quants: super-block i meets activation blocks 8i..8i+7, which share one d ---- */

/* The 8 scales and 8 mins of a Q4_K/Q5_K super-block (as cl_k4_scale_min), four at a
 * time from the twelve bytes read as three little-endian words. */
INLINE void k4_scales(const uint8_t *q, uint8_t *sc, uint8_t *m) {
    uint32_t w0 = cl_rd32(q), w1 = cl_rd32(q + 4), w2 = cl_rd32(q + 8);
    uint32_t s[2] = {w0 & 0x3F3F3F3Fu, (w2 & 0x0F0F0F0Fu) | ((w0 >> 6) & 0x03030303u) << 4};
    uint32_t mm[2] = {w1 & 0x3F3F3F3Fu, ((w2 >> 4) & 0x0F0F0F0Fu) | ((w1 >> 6) & 0x03030303u) << 4};
    memcpy(sc, s, 8);
    memcpy(m, mm, 8);
}

/* Q4_K (five = 0) and Q5_K (five = 1): out = sum over super-blocks of
 * d_a (d sum_b sc_b (q_b . a_b) - dmin sum_b m_b (sum of a_b)). */
INLINE void k45_tile(int64_t n, const void *w, const char *a, size_t stride, float *out, const int M, const int five) {
    const uint8x16_t m4 = vdupq_n_u8(0xF), b10 = vdupq_n_u8(0x10);
    float acc[4] = {0};
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        const cl_block_q4_K *x4 = (const cl_block_q4_K *)w + i;
        const cl_block_q5_K *x5 = (const cl_block_q5_K *)w + i;
        const uint8_t *qs = five ? x5->qs : x4->qs;
        uint8_t sc[8], mn[8];
        k4_scales(five ? x5->scales : x4->scales, sc, mn);
        float d = five ? f16(&x5->d) : f16(&x4->d), dmin = five ? f16(&x5->dmin) : f16(&x4->dmin);
        uint8x16_t h0 = vdupq_n_u8(0), h1 = h0;
        if (five) h0 = vld1q_u8(x5->qh), h1 = vld1q_u8(x5->qh + 16);
        int32x4_t isum[4];
        UNROLL for (int t = 0; t < M; t++) isum[t] = vdupq_n_s32(0);
        UNROLL for (int c = 0; c < 4; c++) {
            /* 32 bytes: sub-block 2c in the low nibbles, 2c+1 in the high ones */
            uint8x16_t v0 = vld1q_u8(qs + 32 * c), v1 = vld1q_u8(qs + 32 * c + 16);
            uint8x16_t l0 = vandq_u8(v0, m4), l1 = vandq_u8(v1, m4), u0 = vshrq_n_u8(v0, 4), u1 = vshrq_n_u8(v1, 4);
            if (five) {
                uint8x16_t bl = vdupq_n_u8((uint8_t)(1u << (2 * c))), bu = vdupq_n_u8((uint8_t)(2u << (2 * c)));
                l0 = vorrq_u8(l0, vandq_u8(vtstq_u8(h0, bl), b10)), l1 = vorrq_u8(l1, vandq_u8(vtstq_u8(h1, bl), b10));
                u0 = vorrq_u8(u0, vandq_u8(vtstq_u8(h0, bu), b10)), u1 = vorrq_u8(u1, vandq_u8(vtstq_u8(h1, bu), b10));
            }
            UNROLL for (int t = 0; t < M; t++) {
                const cl_block_q8 *y = ACT(a, t, stride) + 8 * i + 2 * c;
                int32x4_t z = vdupq_n_s32(0);
                int32x4_t pl = dot16(dot16(z, s8(l0), vld1q_s8(y[0].qs)), s8(l1), vld1q_s8(y[0].qs + 16));
                int32x4_t pu = dot16(dot16(z, s8(u0), vld1q_s8(y[1].qs)), s8(u1), vld1q_s8(y[1].qs + 16));
                isum[t] = vmlaq_n_s32(vmlaq_n_s32(isum[t], pl, sc[2 * c]), pu, sc[2 * c + 1]);
            }
        }
        UNROLL for (int t = 0; t < M; t++) {
            const cl_block_q8 *y = ACT(a, t, stride) + 8 * i;
            int macc = 0;
            for (int b = 0; b < 8; b++) macc += mn[b] * (y[b].bs[0] + y[b].bs[1]);
            acc[t] += y->d * (d * hsum_i(isum[t]) - dmin * (float)macc);
        }
    }
    UNROLL for (int t = 0; t < M; t++) out[t] = acc[t];
}

INLINE void q4_K_tile(int64_t n, const void *w, const char *a, size_t stride, float *out, const int M) {
    k45_tile(n, w, a, stride, out, M, 0);
}
INLINE void q5_K_tile(int64_t n, const void *w, const char *a, size_t stride, float *out, const int M) {
    k45_tile(n, w, a, stride, out, M, 1);
}

/* Q6_K: q = (4 low bits | 2 high bits << 4) - 32, one int8 scale per 16 values. */
INLINE void q6_K_tile(int64_t n, const void *w, const char *a, size_t stride, float *out, const int M) {
    const uint8x16_t m4 = vdupq_n_u8(0xF), m30 = vdupq_n_u8(0x30);
    const int8x16_t v32 = vdupq_n_s8(32);
    float acc[4] = {0};
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        const cl_block_q6_K *x = (const cl_block_q6_K *)w + i;
        const int8_t *sc = x->scales;
        int32x4_t isum[4];
        UNROLL for (int t = 0; t < M; t++) isum[t] = vdupq_n_s32(0);
        for (int nn = 0; nn < 2; nn++) {
            /* values 128 nn + 32 j + l: low bits from ql[64 nn + 32 (j & 1) + l], shifted
             * by 4 (j >> 1); high bits from qh[32 nn + l], shifted by 2 j */
            const uint8_t *ql = x->ql + 64 * nn, *qh = x->qh + 32 * nn;
            uint8x16_t L[4] = {vld1q_u8(ql), vld1q_u8(ql + 16), vld1q_u8(ql + 32), vld1q_u8(ql + 48)};
            uint8x16_t H[2] = {vld1q_u8(qh), vld1q_u8(qh + 16)};
            UNROLL for (int j = 0; j < 4; j++) {
                int8x16_t q[2];
                UNROLL for (int h = 0; h < 2; h++) {
                    uint8x16_t lo = j >> 1 ? vshrq_n_u8(L[2 * (j & 1) + h], 4) : vandq_u8(L[2 * (j & 1) + h], m4);
                    uint8x16_t hi = vandq_u8(vshlq_u8(H[h], vdupq_n_s8((int8_t)(4 - 2 * j))), m30);
                    q[h] = vsubq_s8(s8(vorrq_u8(lo, hi)), v32);
                }
                int b = 4 * nn + j;
                UNROLL for (int t = 0; t < M; t++) {
                    const cl_block_q8 *y = ACT(a, t, stride) + 8 * i + b;
                    int32x4_t z = vdupq_n_s32(0);
                    isum[t] = vmlaq_n_s32(isum[t], dot16(z, q[0], vld1q_s8(y->qs)), sc[2 * b]);
                    isum[t] = vmlaq_n_s32(isum[t], dot16(z, q[1], vld1q_s8(y->qs + 16)), sc[2 * b + 1]);
                }
            }
        }
        float d = f16(&x->d);
        UNROLL for (int t = 0; t < M; t++) acc[t] += d * ACT(a, t, stride)[8 * i].d * hsum_i(isum[t]);
    }
    UNROLL for (int t = 0; t < M; t++) out[t] = acc[t];
}

#define DOT_TILES(NAME)                                                                                  \
    static void dot_##NAME(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out) { \
        const char *ac = a;                                                                              \
        int t = 0;                                                                                       \
        for (; t + 4 <= nt; t += 4) NAME##_tile(n, w, ac + (size_t)t * stride, stride, out + t, 4);      \
        switch (nt - t) {                                                                                \
        case 3: NAME##_tile(n, w, ac + (size_t)t * stride, stride, out + t, 3); break;                   \
        case 2: NAME##_tile(n, w, ac + (size_t)t * stride, stride, out + t, 2); break;                   \
        case 1: NAME##_tile(n, w, ac + (size_t)t * stride, stride, out + t, 1); break;                   \
        default: break;                                                                                  \
        }                                                                                                \
    }

DOT_TILES(f32)
DOT_TILES(f16)
DOT_TILES(bf16)
DOT_TILES(q4_0)
DOT_TILES(q4_1)
DOT_TILES(q5_0)
DOT_TILES(q5_1)
DOT_TILES(q8_0)
DOT_TILES(q4_K)
DOT_TILES(q5_K)
DOT_TILES(q6_K)

/* ---- 8-row kernels on x8 blocks (interleave.h) ----
 * s[t][0] holds rows 0..3 of activation row t, s[t][1] rows 4..7; one x8 block's
 * integer sums are scaled into the float accumulators as 8 lanes of d_w times d_a. */

INLINE void store8(float *out, size_t os, float32x4_t acc[][2], const int M) {
    UNROLL for (int t = 0; t < M; t++) {
        vst1q_f32(out + (size_t)t * os, acc[t][0]);
        vst1q_f32(out + (size_t)t * os + 4, acc[t][1]);
    }
}

/* acc[t][h] += cvt(s[t][h]) * d_w(rows 4h..4h+3) * d_a(t), for an x8 block's 8 f16
 * scales at d. */
INLINE void scale8(float32x4_t acc[][2], int32x4_t s[][2], const uint8_t *d, const char *a, size_t stride, int64_t blk,
                   const int M) {
    float32x4_t d0 = f16x4(d), d1 = f16x4(d + 8);
    UNROLL for (int t = 0; t < M; t++) {
        float yd = ACT(a, t, stride)[blk].d;
        acc[t][0] = vfmaq_f32(acc[t][0], vcvtq_f32_s32(s[t][0]), vmulq_n_f32(d0, yd));
        acc[t][1] = vfmaq_f32(acc[t][1], vcvtq_f32_s32(s[t][1]), vmulq_n_f32(d1, yd));
    }
}

/* Activation block blk of tile rows t < M: values 0..15 in a0[t], 16..31 in a1[t];
 * zeroes the integer sums s[t]. */
INLINE void act_block(const char *a, size_t stride, int64_t blk, int8x16_t *a0, int8x16_t *a1, int32x4_t s[][2],
                      const int M) {
    UNROLL for (int t = 0; t < M; t++) {
        const cl_block_q8 *y = ACT(a, t, stride) + blk;
        a0[t] = vld1q_s8(y->qs), a1[t] = vld1q_s8(y->qs + 16);
        s[t][0] = s[t][1] = vdupq_n_s32(0);
    }
}

/* Word j of the x8 block: w0 (rows 0..3), w1 (rows 4..7) against lane L of A[t]. */
#define LANE8(w0, w1, A, L)                                      \
    UNROLL for (int t = 0; t < M; t++) {                         \
        s[t][0] = DOT_LANE(s[t][0], w0, A[t], L);                \
        s[t][1] = DOT_LANE(s[t][1], w1, A[t], L);                \
    }

/* The frame shared by the legacy x8 tiles: per block i, the activation block into
 * a0/a1 and fresh sums s, then WORDS (a macro over x, i, a0, a1, s and M) adds the 8
 * words' products, then the block's scales are applied. */
#define LEGACY_X8_TILE(NAME, XBT, WORDS)                                                                     \
    INLINE void NAME##x8_tile(int64_t n, const void *w, const char *a, size_t stride, float *out, size_t os,  \
                              const int M) {                                                                 \
        const XBT *x = w;                                                                                    \
        float32x4_t acc[4][2];                                                                               \
        UNROLL for (int t = 0; t < M; t++) acc[t][0] = acc[t][1] = vdupq_n_f32(0);                           \
        for (int64_t i = 0; i < n / CL_QK; i++) {                                                            \
            int8x16_t a0[4], a1[4];                                                                          \
            int32x4_t s[4][2];                                                                               \
            act_block(a, stride, i, a0, a1, s, M);                                                           \
            WORDS                                                                                            \
            scale8(acc, s, FIELD(x + i, XBT, d), a, stride, i, M);                                           \
        }                                                                                                    \
        store8(out, os, acc, M);                                                                             \
    }

/* Q4_0 word j: values 4j.. in the low nibbles (lane j of a0), 16 + 4j.. in the high ones
 * (lane j of a1), minus 8. */
#define Q4_0X8_WORD(j)                                                                                       \
    {                                                                                                        \
        const uint8x16_t m4 = vdupq_n_u8(0xF);                                                               \
        const int8x16_t v8 = vdupq_n_s8(8);                                                                  \
        uint8x16_t w0 = vld1q_u8(x[i].qs[j]), w1 = vld1q_u8(x[i].qs[j] + 16);                                \
        int8x16_t l0 = vsubq_s8(s8(vandq_u8(w0, m4)), v8), l1 = vsubq_s8(s8(vandq_u8(w1, m4)), v8);          \
        int8x16_t u0 = vsubq_s8(s8(vshrq_n_u8(w0, 4)), v8), u1 = vsubq_s8(s8(vshrq_n_u8(w1, 4)), v8);        \
        LANE8(l0, l1, a0, j)                                                                                 \
        LANE8(u0, u1, a1, j)                                                                                 \
    }
#define Q4_0X8_WORDS Q4_0X8_WORD(0) Q4_0X8_WORD(1) Q4_0X8_WORD(2) Q4_0X8_WORD(3)
LEGACY_X8_TILE(q4_0, cl_block_q4_0x8, Q4_0X8_WORDS)

/* Q8_0 word j: values 4j..4j+3 (stored + 128), lane L of A. */
#define Q8_0X8_WORD(j, A, L)                                                                                 \
    {                                                                                                        \
        const uint8x16_t flip = vdupq_n_u8(0x80);                                                            \
        int8x16_t w0 = s8(veorq_u8(vld1q_u8(x[i].qs[j]), flip));                                             \
        int8x16_t w1 = s8(veorq_u8(vld1q_u8(x[i].qs[j] + 16), flip));                                        \
        LANE8(w0, w1, A, L)                                                                                  \
    }
#define Q8_0X8_WORDS                                                                                         \
    Q8_0X8_WORD(0, a0, 0) Q8_0X8_WORD(1, a0, 1) Q8_0X8_WORD(2, a0, 2) Q8_0X8_WORD(3, a0, 3)                  \
    Q8_0X8_WORD(4, a1, 0) Q8_0X8_WORD(5, a1, 1) Q8_0X8_WORD(6, a1, 2) Q8_0X8_WORD(7, a1, 3)
LEGACY_X8_TILE(q8_0, cl_block_q8_0x8, Q8_0X8_WORDS)

/* Byte k (0..3) of each 32-bit lane, as int32: one sub-block's 6-bit scale (or min) for
 * 4 rows. */
INLINE int32x4_t byte_of_lanes(uint32x4_t v, int k) {
    return vreinterpretq_s32_u32(vandq_u32(vshlq_u32(v, vdupq_n_s32(-8 * k)), vdupq_n_u32(0xFF)));
}

/* Q4_K x8: per sub-block k (8 of 32 values each), the integer dots of 8 rows, times each
 * row's 6-bit scale; the mins against the activations' integer half sums. */
INLINE void q4_Kx8_tile(int64_t n, const void *w, const char *a, size_t stride, float *out, size_t os, const int M) {
    const cl_block_q4_Kx8 *x = w;
    const uint8x16_t m4 = vdupq_n_u8(0xF), m63 = vdupq_n_u8(63);
    float32x4_t acc[4][2];
    UNROLL for (int t = 0; t < M; t++) acc[t][0] = acc[t][1] = vdupq_n_f32(0);
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        const cl_block_q4_Kx8 *b = x + i;
        /* [h]: rows 4h..4h+3, byte 4r + k = scale (min) of sub-block k (lo) or 4 + k (hi) */
        uint32x4_t sc_lo[2], sc_hi[2];
        int32x4_t isum[4][2], imin[4][2];
        UNROLL for (int h = 0; h < 2; h++) {
            uint8x16_t s0 = vld1q_u8(b->scales[0] + 16 * h), s1 = vld1q_u8(b->scales[1] + 16 * h);
            uint8x16_t s2 = vld1q_u8(b->scales[2] + 16 * h);
            sc_lo[h] = vreinterpretq_u32_u8(vandq_u8(s0, m63));
            sc_hi[h] = vreinterpretq_u32_u8(vorrq_u8(vandq_u8(s2, m4), vshlq_n_u8(vshrq_n_u8(s0, 6), 4)));
            uint32x4_t mn_lo = vreinterpretq_u32_u8(vandq_u8(s1, m63));
            uint32x4_t mn_hi = vreinterpretq_u32_u8(vorrq_u8(vshrq_n_u8(s2, 4), vshlq_n_u8(vshrq_n_u8(s1, 6), 4)));
            UNROLL for (int t = 0; t < M; t++) {
                const cl_block_q8 *y = ACT(a, t, stride) + 8 * i;
                int32x4_t m = vdupq_n_s32(0);
                UNROLL for (int k = 0; k < 4; k++) {
                    m = vmlaq_n_s32(m, byte_of_lanes(mn_lo, k), y[k].bs[0] + y[k].bs[1]);
                    m = vmlaq_n_s32(m, byte_of_lanes(mn_hi, k), y[4 + k].bs[0] + y[4 + k].bs[1]);
                }
                imin[t][h] = m;
                isum[t][h] = vdupq_n_s32(0);
            }
        }
        UNROLL for (int k = 0; k < 8; k++) {
            /* sub-block k: the low (k even) or high nibbles of qs[k / 2] */
            int8x16_t a0[4], a1[4];
            int32x4_t s[4][2];
            act_block(a, stride, 8 * i + k, a0, a1, s, M);
#define Q4_KX8_WORD(j, A, L)                                                              \
    {                                                                                     \
        uint8x16_t w0 = vld1q_u8(b->qs[k / 2][j]), w1 = vld1q_u8(b->qs[k / 2][j] + 16);   \
        int8x16_t v0 = s8(k & 1 ? vshrq_n_u8(w0, 4) : vandq_u8(w0, m4));                  \
        int8x16_t v1 = s8(k & 1 ? vshrq_n_u8(w1, 4) : vandq_u8(w1, m4));                  \
        LANE8(v0, v1, A, L)                                                               \
    }
            Q4_KX8_WORD(0, a0, 0) Q4_KX8_WORD(1, a0, 1) Q4_KX8_WORD(2, a0, 2) Q4_KX8_WORD(3, a0, 3)
            Q4_KX8_WORD(4, a1, 0) Q4_KX8_WORD(5, a1, 1) Q4_KX8_WORD(6, a1, 2) Q4_KX8_WORD(7, a1, 3)
#undef Q4_KX8_WORD
            UNROLL for (int h = 0; h < 2; h++) {
                int32x4_t scv = byte_of_lanes(k < 4 ? sc_lo[h] : sc_hi[h], k & 3);
                UNROLL for (int t = 0; t < M; t++) isum[t][h] = vmlaq_s32(isum[t][h], s[t][h], scv);
            }
        }
        const uint8_t *dp = FIELD(b, cl_block_q4_Kx8, d), *mp = FIELD(b, cl_block_q4_Kx8, dmin);
        float32x4_t d[2] = {f16x4(dp), f16x4(dp + 8)}, dm[2] = {f16x4(mp), f16x4(mp + 8)};
        UNROLL for (int t = 0; t < M; t++) {
            float yd = ACT(a, t, stride)[8 * i].d;
            UNROLL for (int h = 0; h < 2; h++) {
                acc[t][h] = vfmaq_f32(acc[t][h], vcvtq_f32_s32(isum[t][h]), vmulq_n_f32(d[h], yd));
                acc[t][h] = vfmsq_f32(acc[t][h], vcvtq_f32_s32(imin[t][h]), vmulq_n_f32(dm[h], yd));
            }
        }
    }
    store8(out, os, acc, M);
}

#define GEMM8X_FN(NAME)                                                                                        \
    static void gemm8x_##NAME(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out,     \
                              size_t os) {                                                                     \
        const char *ac = a;                                                                                    \
        int t = 0;                                                                                             \
        for (; t + 4 <= nt; t += 4) NAME##x8_tile(n, w, ac + (size_t)t * stride, stride, out + t * os, os, 4); \
        switch (nt - t) {                                                                                      \
        case 3: NAME##x8_tile(n, w, ac + (size_t)t * stride, stride, out + t * os, os, 3); break;              \
        case 2: NAME##x8_tile(n, w, ac + (size_t)t * stride, stride, out + t * os, os, 2); break;              \
        case 1: NAME##x8_tile(n, w, ac + (size_t)t * stride, stride, out + t * os, os, 1); break;              \
        default: break;                                                                                        \
        }                                                                                                      \
    }

GEMM8X_FN(q4_0)
GEMM8X_FN(q8_0)
GEMM8X_FN(q4_K)

/* ---- activation quantizers: the same bytes as cl_quantize_row_q8 / _q8k ----
 * The products are the scalar code's, lane by lane, and vcvtnq rounds to nearest even
 * as cl_nearest_int does; vmaxnm skips NaN as fmaxf and the > test do. */

/* 32 floats times s, rounded, clamped to [lo, 127], stored as int8 at q; the sums of
 * the two 16-value halves go to half[0..1]. */
INLINE void round32(const float *x, float s, int lo, int8_t *q, int *half) {
    int32x4_t v[8];
    UNROLL for (int k = 0; k < 8; k++) {
        int32x4_t r = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4 * k), s));
        v[k] = vminq_s32(vmaxq_s32(r, vdupq_n_s32(lo)), vdupq_n_s32(127));
    }
    int16x8_t h[4];
    UNROLL for (int k = 0; k < 4; k++) h[k] = vcombine_s16(vmovn_s32(v[2 * k]), vmovn_s32(v[2 * k + 1]));
    vst1q_s8(q, vcombine_s8(vmovn_s16(h[0]), vmovn_s16(h[1])));
    vst1q_s8(q + 16, vcombine_s8(vmovn_s16(h[2]), vmovn_s16(h[3])));
    half[0] = vaddvq_s32(vaddq_s32(vaddq_s32(v[0], v[1]), vaddq_s32(v[2], v[3])));
    half[1] = vaddvq_s32(vaddq_s32(vaddq_s32(v[4], v[5]), vaddq_s32(v[6], v[7])));
}

/* max |x[k]| over n (a multiple of 4) values. */
INLINE float absmax(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0);
    for (int k = 0; k < n; k += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + k)));
    return vmaxnmvq_f32(m);
}

static void quantize_q8(const float *x, void *out, int64_t n) {
    cl_block_q8 *y = out;
    for (int64_t i = 0; i < n / CL_QK; i++, x += CL_QK) {
        float d = absmax(x, CL_QK) / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        int half[2];
        round32(x, id, -127, y[i].qs, half);
        d = cl_f16_to_f32(cl_f32_to_f16(d));
        y[i].d = d;
        y[i].s = d * (float)(half[0] + half[1]);
    }
}

static void quantize_q8k(const float *x, void *out, int64_t n) {
    cl_block_q8 *y = out;
    for (int64_t i = 0; i < n / CL_QK_K; i++, x += CL_QK_K, y += CL_QK_K / CL_QK) {
        float amax = absmax(x, CL_QK_K), vmax = 0;
        /* the first value of largest magnitude, as the scalar scan keeps */
        if (amax != 0)
            for (int k = 0; k < CL_QK_K; k++)
                if (__builtin_fabsf(x[k]) == amax) {
                    vmax = x[k];
                    break;
                }
        float iscale = amax != 0 ? -127.0f / vmax : 0.0f, d = amax != 0 ? 1.0f / iscale : 0.0f;
        for (int b = 0; b < CL_QK_K / CL_QK; b++) {
            int half[2];
            round32(x + CL_QK * b, iscale, -128, y[b].qs, half);
            y[b].d = d;
            y[b].bs[0] = (int16_t)half[0];
            y[b].bs[1] = (int16_t)half[1];
        }
    }
}

/* KV cache rows are ours; n is any head size. */
static void axpy_f16(int64_t n, int nr, const float *a, const cl_f16 *x, float *y) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t xv = f16x4(x + i);
        for (int r = 0; r < nr; r++) vst1q_f32(y + r * n + i, vfmaq_n_f32(vld1q_f32(y + r * n + i), xv, a[r]));
    }
    for (; i < n; i++)
        for (int r = 0; r < nr; r++) y[r * n + i] += a[r] * f16(x + i);
}

void CL_FILL(cl_kernels *k) {
    k->axpy_f16 = axpy_f16;
    k->quantize[CL_ACT_Q8] = quantize_q8;
    k->quantize[CL_ACT_Q8K] = quantize_q8k;
    k->dot[CL_TYPE_F32] = dot_f32;
    k->dot[CL_TYPE_F16] = dot_f16;
    k->dot[CL_TYPE_BF16] = dot_bf16;
    k->dot[CL_TYPE_Q4_0] = dot_q4_0;
    k->dot[CL_TYPE_Q4_1] = dot_q4_1;
    k->dot[CL_TYPE_Q5_0] = dot_q5_0;
    k->dot[CL_TYPE_Q5_1] = dot_q5_1;
    k->dot[CL_TYPE_Q8_0] = dot_q8_0;
    k->dot[CL_TYPE_Q4_K] = dot_q4_K;
    k->dot[CL_TYPE_Q5_K] = dot_q5_K;
    k->dot[CL_TYPE_Q6_K] = dot_q6_K;
    /* Q2_K and Q3_K keep the scalar kernels (rare in the files we target). The x8
     * kernels need no horizontal sums and load each activation block once per 8 rows;
     * not measured on ARM hardware here (none available), only tested under qemu. */
    k->gemm8x[CL_TYPE_Q4_0] = gemm8x_q4_0;
    k->gemm8x[CL_TYPE_Q8_0] = gemm8x_q8_0;
    k->gemm8x[CL_TYPE_Q4_K] = gemm8x_q4_K;
}
