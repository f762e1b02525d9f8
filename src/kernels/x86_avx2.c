/* AVX2 (+FMA, F16C) dot kernels: the set of generic.c, vectorized.
 *
 * Every kernel walks the weight row once per tile of up to 4 activation rows: a weight
 * block is loaded and unpacked into registers, then multiplied with the matching
 * activation block of each row of the tile. Integer products use maddubs (u8 x s8 ->
 * pairwise int16 sums), so weights are unpacked to unsigned bytes and the offset of
 * the symmetric types is removed with the activation sum a.s, or, for 16-value
 * sub-blocks with their own scales, with the sign trick (|q| x sign(a, q)).
 *
 * x86_avxvnni.c, x86_avx512.c and x86_avx512bf16.c include this file with their own
 * CL_SET_ID and flags (sets.def). With VNNI (AVX-VNNI's VEX form or AVX-512 VNNI's EVEX form of the same
 * instruction) the u8 x s8 products use vpdpbusd, one instruction instead of maddubs +
 * madd, which also makes signed Q8_0 weights (offset by 128) fit; with AVX-512VL the
 * tiles grow into the 32 vector registers and ternary logic merges bit fields. The
 * code follows the compiler's predefined macros, so a set is exactly what its flags
 * enable (isa.h checks those against its CPU test); with AVX-512 BF16, BF16 weights
 * take bf16 activations and vdpbf16ps. */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#ifndef CL_SET_ID
#define CL_SET_ID avx2
#endif
#include "kernels/isa.h"
#include "quant/interleave.h"

/* CL_X86_VNNI: vpdpbusd / vpdpwssd on 256-bit registers, in either encoding.
 * CL_X86_REG32: AVX-512VL, 32 vector registers and vpternlog on 256 bits. */
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define CL_X86_VNNI 1
#define dpbusd(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define dpwssd(acc, x, y) _mm256_dpwssd_epi32(acc, x, y)
#elif defined(__AVXVNNI__)
#define CL_X86_VNNI 1
#define dpbusd(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define dpwssd(acc, x, y) _mm256_dpwssd_avx_epi32(acc, x, y)
#endif
#ifdef __AVX512VL__
#define CL_X86_REG32 1
#endif

#define ACT(a, t, stride) ((const cl_block_q8 *)((const char *)(a) + (size_t)(t) * (stride)))
#define INLINE static inline __attribute__((always_inline))
/* Tile loops (rows, sub-blocks) have compile-time trip counts; unrolled, their
 * accumulators stay in registers (-O2 alone keeps them in memory). */
#define UNROLL _Pragma("GCC unroll 8")

INLINE float hsum(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

INLINE float f16(const void *p) { return _cvtsh_ss(cl_rd16(p)); }

INLINE __m256i loadu(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* Eight int32 sums of four u8 x s8 products each (lanes 0..3: bytes 0..15). maddubs
 * saturates int16 only past 2 * 255 * 127; our unsigned operands stay <= 63 (or are
 * |int8| <= 128 against activations bounded by 127). */
INLINE __m256i mul_sum_u8s8(__m256i u, __m256i s) {
#ifdef CL_X86_VNNI
    return dpbusd(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* 16 bytes of nibbles -> 32 bytes 0..15: low nibbles first, then high nibbles. */
INLINE __m256i unpack_nibbles(const uint8_t *qs) {
    __m128i x = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(x, 4), x);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* Bit j of the 32-bit little-endian word at p -> byte j = 0x10 if set, else 0. */
INLINE __m256i bits_to_0x10(const uint8_t *p) {
    __m256i v = _mm256_set1_epi32((int)cl_rd32(p));
    /* byte j <- byte j/8 of the word, then test bit j%8 */
    v = _mm256_shuffle_epi8(v, _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL, 0x0303030303030303LL));
    v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7FBFDFEFF7FBFDFELL));
    v = _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* ---- float weights; any n ---- */

/* Weights i..i+7 as floats. */
#define LOAD_F32(p, i) _mm256_loadu_ps((const float *)(p) + (i))
#define LOAD_F16(p, i) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const cl_f16 *)(p) + (i))))
#define LOAD_BF16(p, i) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const cl_bf16 *)(p) + (i)))), 16))

#define FLOAT_TILE(NAME, LOAD, SCALAR)                                                                              \
    INLINE void NAME##_tile(int64_t n, const void *w, const void *a, size_t stride, const int R, float *out) {     \
        const float *y[4];                                                                                          \
        __m256 acc0[4], acc1[4];                                                                                    \
        UNROLL for (int r = 0; r < R; r++) {                                                                               \
            y[r] = (const float *)((const char *)a + (size_t)r * stride);                                          \
            acc0[r] = acc1[r] = _mm256_setzero_ps();                                                                \
        }                                                                                                           \
        int64_t i = 0;                                                                                              \
        for (; i + 16 <= n; i += 16) {                                                                              \
            __m256 w0 = LOAD(w, i), w1 = LOAD(w, i + 8);                                                            \
            UNROLL for (int r = 0; r < R; r++) {                                                                           \
                acc0[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(y[r] + i), acc0[r]);                                  \
                acc1[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(y[r] + i + 8), acc1[r]);                              \
            }                                                                                                       \
        }                                                                                                           \
        for (; i + 8 <= n; i += 8) {                                                                                \
            __m256 w0 = LOAD(w, i);                                                                                 \
            UNROLL for (int r = 0; r < R; r++) acc0[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(y[r] + i), acc0[r]);         \
        }                                                                                                           \
        UNROLL for (int r = 0; r < R; r++) {                                                                               \
            float s = hsum(_mm256_add_ps(acc0[r], acc1[r]));                                                        \
            for (int64_t k = i; k < n; k++) s += SCALAR(w, k) * y[r][k];                                            \
            out[r] = s;                                                                                             \
        }                                                                                                           \
    }

#define SCALAR_F32(p, k) cl_rdf32((const uint8_t *)(p) + 4 * (k))
#define SCALAR_F16(p, k) _cvtsh_ss(cl_rd16((const uint8_t *)(p) + 2 * (k)))
#define SCALAR_BF16(p, k) cl_bf16_to_f32(cl_rd16((const uint8_t *)(p) + 2 * (k)))

FLOAT_TILE(f32, LOAD_F32, SCALAR_F32)
FLOAT_TILE(f16, LOAD_F16, SCALAR_F16)
FLOAT_TILE(bf16, LOAD_BF16, SCALAR_BF16)

/* The exported kernel: tiles of 4 rows, then the remainder with a tile of its size, each
 * tile size a compile-time constant so the accumulators stay in registers. */
#define DOT_FN(NAME)                                                                                       \
    static void dot_##NAME(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out) {   \
        int t = 0;                                                                                         \
        for (; t + 4 <= nt; t += 4) NAME##_tile(n, w, (const char *)a + (size_t)t * stride, stride, 4, out + t); \
        const void *at = (const char *)a + (size_t)t * stride;                                             \
        switch (nt - t) {                                                                                  \
        case 3: NAME##_tile(n, w, at, stride, 3, out + t); break;                                          \
        case 2: NAME##_tile(n, w, at, stride, 2, out + t); break;                                          \
        case 1: NAME##_tile(n, w, at, stride, 1, out + t); break;                                          \
        default: break;                                                                                    \
        }                                                                                                  \
    }

DOT_FN(f32)
DOT_FN(f16)
DOT_FN(bf16)

#ifdef __AVX512BF16__
/* BF16 weights against BF16 activation rows (CL_ACT_BF16). vdpbf16ps multiplies 32
 * pairs of bf16 exactly and adds them pairwise into 16 float lanes: twice the products
 * per instruction of the float kernel's 512-bit FMA, and no widening of the weights.
 * Two accumulators per activation row (dpbf16ps latency, not throughput, binds one). */
INLINE void bf16x_tile(int64_t n, const void *w, const void *a, size_t stride, const int R, float *out) {
    const cl_bf16 *y[4];
    __m512 acc0[4], acc1[4];
    UNROLL for (int r = 0; r < R; r++) {
        y[r] = (const cl_bf16 *)((const char *)a + (size_t)r * stride);
        acc0[r] = acc1[r] = _mm512_setzero_ps();
    }
    const char *wb = w;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(wb + 2 * i), w1 = (__m512bh)_mm512_loadu_si512(wb + 2 * i + 64);
        UNROLL for (int r = 0; r < R; r++) {
            acc0[r] = _mm512_dpbf16_ps(acc0[r], w0, (__m512bh)_mm512_loadu_si512(y[r] + i));
            acc1[r] = _mm512_dpbf16_ps(acc1[r], w1, (__m512bh)_mm512_loadu_si512(y[r] + i + 32));
        }
    }
    for (; i + 32 <= n; i += 32) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(wb + 2 * i);
        UNROLL for (int r = 0; r < R; r++) acc0[r] = _mm512_dpbf16_ps(acc0[r], w0, (__m512bh)_mm512_loadu_si512(y[r] + i));
    }
    UNROLL for (int r = 0; r < R; r++) {
        float s = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
        for (int64_t k = i; k < n; k++) s += SCALAR_BF16(w, k) * cl_bf16_to_f32(y[r][k]);
        out[r] = s;
    }
}
DOT_FN(bf16x)

/* Floats to bf16 rounded to nearest even, NaN kept quiet: the bytes of cl_f32_to_bf16,
 * by integer arithmetic (vcvtneps2bf16 would flush subnormals to zero). */
static void quantize_bf16(const float *x, void *out, int64_t n) {
    cl_bf16 *o = out;
    const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7FFF), abs = _mm512_set1_epi32(0x7FFFFFFF),
                  inf = _mm512_set1_epi32(0x7F800000), quiet = _mm512_set1_epi32(0x40);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_loadu_si512(x + i);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(u, 16), one))), 16);
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs), inf);
        r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), quiet));
        _mm256_storeu_si256((__m256i *)(o + i), _mm512_cvtepi32_epi16(r));
    }
    for (; i < n; i++) o[i] = cl_f32_to_bf16(x[i]);
}
#endif

/* ---- legacy 32-value blocks: acc += cvt(int dot) * (d_w * d_a); mins via a.s ----
 * Blocks alternate between two accumulator sets so consecutive blocks' FMAs do not
 * wait on each other (with one activation row the FMA latency would bound the loop). */

/* One block of weights applied to R rows: q unsigned bytes (or |q| with sgn the signs),
 * d its scale, o the weight of a.s (if o_used). */
INLINE void legacy_rows(__m256i q, __m256i sgn, int use_sign, float d, const int o_used, float o, const void *a, size_t stride,
                        int64_t i, const int R, __m256 *acc, float *off) {
    __m256 dv = _mm256_set1_ps(d);
    UNROLL for (int r = 0; r < R; r++) {
        const cl_block_q8 *y = ACT(a, r, stride) + i;
        __m256i av = loadu(y->qs);
        if (use_sign) av = _mm256_sign_epi8(av, sgn);
        __m256i p = mul_sum_u8s8(q, av);
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dv, _mm256_broadcast_ss(&y->d)), acc[r]);
        if (o_used) off[r] += o * y->s;
    }
}

#define LEGACY_TILE(NAME, BT, STEP, OFFSET)                                                              \
    INLINE void NAME##_tile(int64_t n, const void *w, const void *a, size_t stride, const int R, float *out) { \
        const BT *x = w;                                                                                  \
        __m256 acc0[4], acc1[4];                                                                          \
        float off0[4] = {0}, off1[4] = {0};                                                               \
        UNROLL for (int r = 0; r < R; r++) acc0[r] = acc1[r] = _mm256_setzero_ps();                              \
        int64_t nb = n / CL_QK, i = 0;                                                                    \
        for (; i + 1 < nb; i += 2) {                                                                      \
            STEP(x, i, acc0, off0);                                                                       \
            STEP(x, i + 1, acc1, off1);                                                                   \
        }                                                                                                 \
        if (i < nb) STEP(x, i, acc0, off0);                                                               \
        UNROLL for (int r = 0; r < R; r++) out[r] = hsum(_mm256_add_ps(acc0[r], acc1[r])) + OFFSET * (off0[r] + off1[r]); \
    }

/* (q - 8) . a = q . a - 8 sum(a): the offset rides on a.s */
#define STEP_Q4_0(x, i, acc, off) \
    legacy_rows(unpack_nibbles(x[i].qs), _mm256_setzero_si256(), 0, f16(&x[i].d), 1, f16(&x[i].d), a, stride, i, R, acc, off)
#define STEP_Q4_1(x, i, acc, off) \
    legacy_rows(unpack_nibbles(x[i].qs), _mm256_setzero_si256(), 0, f16(&x[i].d), 1, f16(&x[i].m), a, stride, i, R, acc, off)
#define STEP_Q5_0(x, i, acc, off)                                                                          \
    legacy_rows(_mm256_or_si256(unpack_nibbles(x[i].qs), bits_to_0x10(x[i].qh)), _mm256_setzero_si256(), 0, f16(&x[i].d), 1, f16(&x[i].d), \
                a, stride, i, R, acc, off)
#define STEP_Q5_1(x, i, acc, off)                                                                          \
    legacy_rows(_mm256_or_si256(unpack_nibbles(x[i].qs), bits_to_0x10(x[i].qh)), _mm256_setzero_si256(), 0, f16(&x[i].d), 1, f16(&x[i].m), \
                a, stride, i, R, acc, off)
/* signed weights: |q| x sign(a, q); abs(-128) = 0x80 is 128 as unsigned, still exact */
#define STEP_Q8_0(x, i, acc, off)                                                                           \
    do {                                                                                                    \
        __m256i qq = loadu(x[i].qs);                                                                        \
        legacy_rows(_mm256_abs_epi8(qq), qq, 1, f16(&x[i].d), 0, 0.0f, a, stride, i, R, acc, off);             \
    } while (0)

LEGACY_TILE(q4_0, cl_block_q4_0, STEP_Q4_0, -8.0f)
LEGACY_TILE(q4_1, cl_block_q4_1, STEP_Q4_1, 1.0f)
LEGACY_TILE(q5_0, cl_block_q5_0, STEP_Q5_0, -16.0f)
LEGACY_TILE(q5_1, cl_block_q5_1, STEP_Q5_1, 1.0f)
LEGACY_TILE(q8_0, cl_block_q8_0, STEP_Q8_0, 0.0f)

DOT_FN(q4_0)
DOT_FN(q4_1)
DOT_FN(q5_0)
DOT_FN(q5_1)
DOT_FN(q8_0)

/* ---- 8 weight rows at a time: Q4_0, and Q8_0 with VNNI ----
 * Eight rows' blocks are transposed in registers so that 32-bit lane r holds four
 * consecutive weights of row r. One u8 x s8 dot against four activation bytes
 * broadcast to every lane then advances all 8 rows, with no horizontal sums, and a
 * block's 8 scales are applied in one multiply: about half the instructions per
 * (weight block, activation row) of the one-row kernels above. Measured on one Zen 4
 * core, 4096-wide Q4_0 rows, one activation row: 27 GB/s of weights from cache vs 15
 * for the one-row kernel; from memory 26 GB/s with rows interleaved (repack.h) but 12
 * with eight separate row streams. */

/* acc + four-byte u8 x s8 dot products per 32-bit lane. Without VNNI, maddubs may
 * saturate (int16 pair sums past 32767), so without VNNI only weights below 128 (Q4_0, Q4_K
 * nibbles, Q6_K 6-bit values) take this path; Q8_0 (+128) needs VNNI. */
INLINE __m256i dot4_acc(__m256i acc, __m256i u, __m256i s) {
#ifdef CL_X86_VNNI
    return dpbusd(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

/* In each 128-bit half, a 4x4 transpose of 32-bit words: x[r] word j -> x[j] word r. */
INLINE void transpose4x4(__m256i *x) {
    __m256i t0 = _mm256_unpacklo_epi32(x[0], x[1]), t1 = _mm256_unpackhi_epi32(x[0], x[1]);
    __m256i t2 = _mm256_unpacklo_epi32(x[2], x[3]), t3 = _mm256_unpackhi_epi32(x[2], x[3]);
    x[0] = _mm256_unpacklo_epi64(t0, t2);
    x[1] = _mm256_unpackhi_epi64(t0, t2);
    x[2] = _mm256_unpacklo_epi64(t1, t3);
    x[3] = _mm256_unpackhi_epi64(t1, t3);
}

INLINE __m256i load2x128(const uint8_t *lo, const uint8_t *hi) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                   _mm_loadu_si128((const __m128i *)hi), 1);
}

/* The f16 at p in each of 8 rows `ws` bytes apart, as floats. */
INLINE __m256 f16x8(const uint8_t *p, size_t ws) {
    return _mm256_cvtph_ps(_mm_setr_epi16((short)cl_rd16(p), (short)cl_rd16(p + ws), (short)cl_rd16(p + 2 * ws),
                                          (short)cl_rd16(p + 3 * ws), (short)cl_rd16(p + 4 * ws),
                                          (short)cl_rd16(p + 5 * ws), (short)cl_rd16(p + 6 * ws),
                                          (short)cl_rd16(p + 7 * ws)));
}

/* 8 rows x 16 bytes at p, `ws` bytes apart -> x[w] lane r = word w of row r (w < 4).
 * 128-bit loads into each half cost a load and an insert each, cheaper than
 * lane-crossing permutes of 256-bit loads. */
INLINE void transpose8x16(const uint8_t *p, size_t ws, __m256i *x) {
    UNROLL for (int r = 0; r < 4; r++) x[r] = load2x128(p + r * ws, p + (r + 4) * ws);
    transpose4x4(x);
}

/* 8 rows x 32 bytes at p -> x[w] lane r = word w of row r (w = 0..7). */
INLINE void transpose8x32(const uint8_t *p, size_t ws, __m256i *x) {
    transpose8x16(p, ws, x);
    transpose8x16(p + 16, ws, x + 4);
}

/* The 8 side-by-side f16 scales of an x8 block at p as floats. */
INLINE __m256 scales8(const void *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/* v[j] lane r = unsigned values 4j..4j+3 of a block whose 16 bytes of nibbles are at
 * qs: 8 stored blocks `ws` bytes apart (Q4_0, and Q5_0's low bits). */
INLINE void unpack8_nibbles(const uint8_t *qs, size_t ws, __m256i *v) {
    __m256i x[4];
    transpose8x16(qs, ws, x);
    const __m256i m = _mm256_set1_epi8(0x0F);
    UNROLL for (int j = 0; j < 4; j++) {
        v[j] = _mm256_and_si256(x[j], m);
        v[j + 4] = _mm256_and_si256(_mm256_srli_epi16(x[j], 4), m);
    }
}

/* Row r's Q4_0 block at b: its nibbles. */
INLINE void unpack8_q4_0(const uint8_t *b, size_t ws, __m256i *v) { unpack8_nibbles(b + offsetof(cl_block_q4_0, qs), ws, v); }

/* 5-bit values (Q5_0, Q5_1): the nibbles at qs, plus 0x10 where bit k of the row's
 * 32-bit word at h is set (value k). Lane r of qh holds row r's word; for v[j] (values
 * 4j..4j+3) each byte of the lane takes byte j/2 of that word and tests bit
 * 4 (j % 2) + b of it. */
INLINE void unpack8_5bit(const uint8_t *qs, const uint8_t *h, size_t ws, __m256i *v) {
    unpack8_nibbles(qs, ws, v);
    __m256i qh = _mm256_setr_epi32((int)cl_rd32(h), (int)cl_rd32(h + ws), (int)cl_rd32(h + 2 * ws),
                                   (int)cl_rd32(h + 3 * ws), (int)cl_rd32(h + 4 * ws), (int)cl_rd32(h + 5 * ws),
                                   (int)cl_rd32(h + 6 * ws), (int)cl_rd32(h + 7 * ws));
    const __m256i lo = _mm256_set1_epi32(0x08040201), hi = _mm256_set1_epi32((int)0x80402010), x10 = _mm256_set1_epi8(0x10);
    UNROLL for (int j = 0; j < 8; j++) {
        char c = (char)(j / 2);
        __m256i byte = _mm256_shuffle_epi8(qh, _mm256_setr_epi8(c, c, c, c, c + 4, c + 4, c + 4, c + 4, c + 8, c + 8, c + 8,
                                                                c + 8, c + 12, c + 12, c + 12, c + 12, c, c, c, c, c + 4,
                                                                c + 4, c + 4, c + 4, c + 8, c + 8, c + 8, c + 8, c + 12,
                                                                c + 12, c + 12, c + 12));
        __m256i m = j % 2 ? hi : lo;
        v[j] = _mm256_or_si256(v[j], _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(byte, m), m), x10));
    }
}

INLINE void unpack8_q5_0(const uint8_t *b, size_t ws, __m256i *v) {
    unpack8_5bit(b + offsetof(cl_block_q5_0, qs), b + offsetof(cl_block_q5_0, qh), ws, v);
}

INLINE void unpack8_q5_1(const uint8_t *b, size_t ws, __m256i *v) {
    unpack8_5bit(b + offsetof(cl_block_q5_1, qs), b + offsetof(cl_block_q5_1, qh), ws, v);
}

#ifdef CL_X86_VNNI
/* As unpack8_q4_0 for Q8_0: q + 128 as unsigned bytes. */
INLINE void unpack8_q8_0(const uint8_t *b, size_t ws, __m256i *v) {
    transpose8x32(b + offsetof(cl_block_q8_0, qs), ws, v);
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    UNROLL for (int j = 0; j < 8; j++) v[j] = _mm256_xor_si256(v[j], flip);
}
#endif

/* out[t * os + r] = row r . activation row t, for R <= 4 activation rows and 8 stored
 * weight rows `ws` bytes apart with blocks `bs` bytes apart (see cl_gemm8_fn; x8 blocks
 * go through the gemmx tiles below). Weights are d_w (u + OFFSET) for the unsigned
 * values u, or d_w u + m_w (OFFSET 1, MIN the rows' m_w), so
 * w . a = d_w d_a (u . a_q) + OFFSET MIN s_a, with MIN = d_w for the former. */
#define GEMM8_TILE(NAME, BT, UNPACK, OFFSET, MIN)                                                            \
    INLINE void NAME##_gemm8_tile(int64_t n, const uint8_t *w, size_t ws, size_t bs, const void *a,         \
                                  size_t stride, const int R, float *out, size_t os) {                      \
        __m256 acc[4], off[4];                                                                               \
        UNROLL for (int t = 0; t < R; t++) acc[t] = off[t] = _mm256_setzero_ps();                            \
        for (int64_t i = 0; i < n / CL_QK; i++) {                                                            \
            const uint8_t *b = w + (size_t)i * bs;                                                           \
            __m256i v[8];                                                                                    \
            UNPACK(b, ws, v);                                                                                \
            __m256 dw = f16x8(b, ws), mw = MIN;                                                              \
            UNROLL for (int t = 0; t < R; t++) {                                                             \
                const cl_block_q8 *y = ACT(a, t, stride) + i;                                                \
                __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();                            \
                UNROLL for (int j = 0; j < 8; j += 2) {                                                      \
                    s0 = dot4_acc(s0, v[j], _mm256_set1_epi32((int)cl_rd32(y->qs + 4 * j)));                 \
                    s1 = dot4_acc(s1, v[j + 1], _mm256_set1_epi32((int)cl_rd32(y->qs + 4 * j + 4)));         \
                }                                                                                            \
                __m256 p = _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1));                                     \
                acc[t] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw, _mm256_set1_ps(y->d)), acc[t]);                \
                off[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(y->s), off[t]);                                  \
            }                                                                                                \
        }                                                                                                    \
        UNROLL for (int t = 0; t < R; t++)                                                                   \
            _mm256_storeu_ps(out + (size_t)t * os, _mm256_fmadd_ps(_mm256_set1_ps(OFFSET), off[t], acc[t])); \
    }

/* The exported stored-row 8-row kernel: tiles of 4 activation rows, then the
 * remainder. */
#define GEMM8_FN(NAME)                                                                                       \
    static void gemm8_##NAME(int64_t n, const void *w, size_t ws, size_t bs, const void *a, size_t stride,  \
                             int nt, float *out, size_t os) {                                                \
        int t = 0;                                                                                           \
        for (; t + 4 <= nt; t += 4)                                                                          \
            NAME##_gemm8_tile(n, w, ws, bs, (const char *)a + (size_t)t * stride, stride, 4, out + (size_t)t * os, os); \
        const void *at = (const char *)a + (size_t)t * stride;                                               \
        float *ot = out + (size_t)t * os;                                                                    \
        switch (nt - t) {                                                                                    \
        case 3: NAME##_gemm8_tile(n, w, ws, bs, at, stride, 3, ot, os); break;                               \
        case 2: NAME##_gemm8_tile(n, w, ws, bs, at, stride, 2, ot, os); break;                               \
        case 1: NAME##_gemm8_tile(n, w, ws, bs, at, stride, 1, ot, os); break;                               \
        default: break;                                                                                      \
        }                                                                                                    \
    }

GEMM8_TILE(q4_0, cl_block_q4_0, unpack8_q4_0, -8.0f, dw)
GEMM8_FN(q4_0)
GEMM8_TILE(q5_0, cl_block_q5_0, unpack8_q5_0, -16.0f, dw)
GEMM8_FN(q5_0)
GEMM8_TILE(q5_1, cl_block_q5_1, unpack8_q5_1, 1.0f, f16x8(b + offsetof(cl_block_q5_1, m), ws))
GEMM8_FN(q5_1)
#ifdef CL_X86_VNNI
GEMM8_TILE(q8_0, cl_block_q8_0, unpack8_q8_0, -128.0f, dw)
GEMM8_FN(q8_0)
#endif

/* 16 rows for K-quants and legacy types: AVX-512VL's 32 registers hold 4 activation
 * rows' accumulators for two groups of 8 rows, AVX2's 16 two. */
#ifdef CL_X86_REG32
#define GEMM16_R 4
#else
#define GEMM16_R 2
#endif

/* Legacy types on x8 blocks, G = 1 or 2 groups of 8 rows (the second `gs` bytes after
 * the first), R activation rows: word j of a block (activation bytes 4j..4j+3) meets
 * every activation row before the next word is unpacked, so only one word per group
 * is live and R x G accumulators fit. Two groups share each activation broadcast
 * between two products, as for Q4_K; one group keeps two product chains per row
 * instead, since dpbusd latency binds a single chain. */
#define GEMMX_TILE(NAME, XBT, WORD, OFFSET)                                                                  \
    INLINE void NAME##_gemmx_tile(int64_t n, const uint8_t *w, size_t gs, const void *a, size_t stride,     \
                                  const int R, float *out, size_t os, const int G) {                        \
        __m256 acc[4][2], off[4][2];                                                                         \
        UNROLL for (int t = 0; t < R; t++) acc[t][0] = acc[t][1] = off[t][0] = off[t][1] = _mm256_setzero_ps(); \
        for (int64_t i = 0; i < n / CL_QK; i++) {                                                            \
            const XBT *b[2] = {(const XBT *)w + i, (const XBT *)(w + gs) + i};                               \
            __m256i p[4][2];                                                                                 \
            UNROLL for (int t = 0; t < R; t++) p[t][0] = p[t][1] = _mm256_setzero_si256();                   \
            UNROLL for (int j = 0; j < 8; j++) {                                                             \
                __m256i v[2];                                                                                \
                UNROLL for (int g = 0; g < G; g++) v[g] = WORD(b[g], j);                                     \
                UNROLL for (int t = 0; t < R; t++) {                                                         \
                    __m256i u = _mm256_set1_epi32((int)cl_rd32((ACT(a, t, stride) + i)->qs + 4 * j));        \
                    UNROLL for (int g = 0; g < G; g++) {                                                     \
                        int c = G == 2 ? g : j & 1;                                                          \
                        p[t][c] = dot4_acc(p[t][c], v[g], u);                                                \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
            if (G == 1) UNROLL for (int t = 0; t < R; t++) p[t][0] = _mm256_add_epi32(p[t][0], p[t][1]);     \
            UNROLL for (int g = 0; g < G; g++) {                                                             \
                __m256 dw = scales8(b[g]->d);                                                                \
                UNROLL for (int t = 0; t < R; t++) {                                                         \
                    const cl_block_q8 *y = ACT(a, t, stride) + i;                                            \
                    acc[t][g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p[t][g]), _mm256_mul_ps(dw, _mm256_set1_ps(y->d)), acc[t][g]); \
                    off[t][g] = _mm256_fmadd_ps(dw, _mm256_set1_ps(y->s), off[t][g]);                        \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
        UNROLL for (int t = 0; t < R; t++)                                                                   \
            UNROLL for (int g = 0; g < G; g++)                                                               \
                _mm256_storeu_ps(out + (size_t)t * os + 8 * g, _mm256_fmadd_ps(_mm256_set1_ps(OFFSET), off[t][g], acc[t][g])); \
    }

/* The exported x8 kernels of a type with a NAME##_gemmx_tile (legacy types here, Q4_K
 * below): tiles of RMAX activation rows, then 2, then 1. */
#define GEMMX_FNS(NAME)                                                                                      \
    INLINE void NAME##_gemmx(int64_t n, const void *w, size_t gs, const void *a, size_t stride, int nt,     \
                             float *out, size_t os, const int G) {                                           \
        const int RMAX = G == 1 ? 4 : GEMM16_R;                                                              \
        int t = 0;                                                                                           \
        for (; t + RMAX <= nt; t += RMAX)                                                                    \
            NAME##_gemmx_tile(n, w, gs, (const char *)a + (size_t)t * stride, stride, RMAX, out + (size_t)t * os, os, G); \
        for (; t + 2 <= nt; t += 2)                                                                          \
            NAME##_gemmx_tile(n, w, gs, (const char *)a + (size_t)t * stride, stride, 2, out + (size_t)t * os, os, G); \
        if (t < nt)                                                                                          \
            NAME##_gemmx_tile(n, w, gs, (const char *)a + (size_t)t * stride, stride, 1, out + (size_t)t * os, os, G); \
    }                                                                                                        \
    static void gemm8x_##NAME(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out,    \
                              size_t os) {                                                                   \
        NAME##_gemmx(n, w, 0, a, stride, nt, out, os, 1);                                                    \
    }                                                                                                        \
    static void gemm16x_##NAME(int64_t n, const void *w, size_t gs, const void *a, size_t stride, int nt,    \
                               float *out, size_t os) {                                                      \
        NAME##_gemmx(n, w, gs, a, stride, nt, out, os, 2);                                                   \
    }

/* Word j of an x8 block as unsigned bytes, lanes = rows: Q4_0 words 4..7 are the high
 * nibbles of words 0..3; Q8_0 x8 blocks hold q + 128. */
#define WORD_Q4_0(b, j) \
    _mm256_and_si256((j) < 4 ? loadu((b)->qs[j]) : _mm256_srli_epi16(loadu((b)->qs[(j) - 4]), 4), _mm256_set1_epi8(0x0F))
#define WORD_Q8_0(b, j) loadu((b)->qs[j])

GEMMX_TILE(q4_0, cl_block_q4_0x8, WORD_Q4_0, -8.0f)
GEMMX_FNS(q4_0)
#ifdef CL_X86_VNNI
GEMMX_TILE(q8_0, cl_block_q8_0x8, WORD_Q8_0, -128.0f)
GEMMX_FNS(q8_0)
#endif

/* ---- K-quants: super-block i meets activation blocks 8i..8i+7 ---- */

/* acc + pairwise int16 products summed per 32-bit lane. */
INLINE __m256i dot2_i16_acc(__m256i acc, __m256i x, __m256i y) {
#ifdef CL_X86_VNNI
    return dpwssd(acc, x, y);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
#endif
}

/* Per lane: sum over the 8 activation blocks at y of pr[b] . (y[b].bs[0], y[b].bs[1]),
 * where pr[b] holds an int16 pair per lane (the two 16-value sub-blocks' scales or
 * mins). Two chains: one is latency-bound (measured). */
INLINE __m256i pair_dot8(const __m256i *pr, const cl_block_q8 *y) {
    __m256i s[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    UNROLL for (int b = 0; b < 8; b++) s[b & 1] = dot2_i16_acc(s[b & 1], pr[b], _mm256_set1_epi32((int)cl_rd32(y[b].bs)));
    return _mm256_add_epi32(s[0], s[1]);
}

/* Q4_K/Q5_K scales and mins (see cl_k4_scale_min), eight of each. */
INLINE void k4_scales(const uint8_t *s, uint8_t *sc, uint8_t *m) {
    uint32_t u0 = cl_rd32(s), u1 = cl_rd32(s + 4), u2 = cl_rd32(s + 8);
    uint32_t v[4] = {u0 & 0x3F3F3F3Fu, ((u2 & 0x0F0F0F0Fu) | ((u0 >> 6) & 0x03030303u) << 4), u1 & 0x3F3F3F3Fu,
                     (((u2 >> 4) & 0x0F0F0F0Fu) | ((u1 >> 6) & 0x03030303u) << 4)};
    memcpy(sc, v, 8);
    memcpy(m, v + 2, 8);
}

/* ---- Q4_K, 8 rows at a time (see the 8-row kernels above) ----
 * Per super-block: 32-byte chunk c of qs holds sub-blocks 2c (low nibbles) and 2c+1
 * (high nibbles); 8 rows' chunks are transposed as for Q8_0. Each sub-block's integer
 * dot is scaled by its 6-bit scale in int32 (at most 8 x 63 x 32 x 15 x 127, far from
 * overflow), converted once per super-block and multiplied by d_w d_a: the activation
 * blocks of a super-block share one scale (CL_ACT_Q8K). The mins meet the activation
 * half sums once per super-block as int16 pair dots (pair_dot8), then
 * - dmin_w d_a sum_s m_s sum(a_s) in float. */

/* Sub-block scales (int32) and mins (the same int16 twice, for pair_dot8 against
 * both half sums of an activation block) of 8 rows' super-blocks, one vector per
 * sub-block with a lane per row: the three 32-bit words of each row's 12 scale bytes are
 * transposed into lanes, then unpacked as k4_scales does, in every lane at once. */
INLINE void q4k_scales8(const uint8_t *b, size_t ws, __m256i *sc, __m256i *mp, const int X) {
    __m256i x[4];
    if (X) {
        UNROLL for (int k = 0; k < 3; k++) x[k] = loadu(b + offsetof(cl_block_q4_Kx8, scales) + 32 * k);
    } else {
        /* 16 bytes per row: the 12 scale bytes and 4 of qs, which are not used */
        transpose8x16(b + offsetof(cl_block_q4_K, scales), ws, x);
    }
    const __m256i m6 = _mm256_set1_epi32(0x3F3F3F3F), m4 = _mm256_set1_epi32(0x0F0F0F0F),
                  m2 = _mm256_set1_epi32(0x03030303), mb = _mm256_set1_epi32(0xFF);
    __m256i u0 = x[0], u1 = x[1], u2 = x[2];
    __m256i s03 = _mm256_and_si256(u0, m6), m03 = _mm256_and_si256(u1, m6);
    __m256i s47 = _mm256_or_si256(_mm256_and_si256(u2, m4),
                                  _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), m2), 4));
    __m256i m47 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), m4),
                                  _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), m2), 4));
    UNROLL for (int j = 0; j < 4; j++) {
        sc[j] = _mm256_and_si256(_mm256_srli_epi32(s03, 8 * j), mb);
        sc[j + 4] = _mm256_and_si256(_mm256_srli_epi32(s47, 8 * j), mb);
        __m256i m0 = _mm256_and_si256(_mm256_srli_epi32(m03, 8 * j), mb);
        __m256i m1 = _mm256_and_si256(_mm256_srli_epi32(m47, 8 * j), mb);
        mp[j] = _mm256_or_si256(m0, _mm256_slli_epi32(m0, 16));
        mp[j + 4] = _mm256_or_si256(m1, _mm256_slli_epi32(m1, 16));
    }
}

/* Stored rows only: x8 blocks go through q4_K_gemmx_tile below. */
INLINE void q4_K_gemm8_tile(int64_t n, const uint8_t *w, size_t ws, size_t bs, const void *a, size_t stride,
                            const int R, float *out, size_t os) {
    __m256 acc[4];
    UNROLL for (int t = 0; t < R; t++) acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        const uint8_t *b = w + (size_t)i * bs;
        __m256i sc[8], mp[8];
        q4k_scales8(b, ws, sc, mp, 0);
        __m256i isum[4];
        UNROLL for (int t = 0; t < R; t++) isum[t] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            /* sub-block 2c in the low nibbles of the chunk's words, 2c + 1 in the high */
            __m256i x[8], v0[8], v1[8];
            transpose8x32(b + offsetof(cl_block_q4_K, qs) + 32 * c, ws, x);
            UNROLL for (int j = 0; j < 8; j++) {
                v0[j] = _mm256_and_si256(x[j], m4);
                v1[j] = _mm256_and_si256(_mm256_srli_epi16(x[j], 4), m4);
            }
            UNROLL for (int t = 0; t < R; t++) {
                const cl_block_q8 *y0 = ACT(a, t, stride) + 8 * i + 2 * c, *y1 = y0 + 1;
                /* two chains per sub-block: dpbusd latency, not throughput, binds otherwise */
                __m256i p0 = _mm256_setzero_si256(), p1 = _mm256_setzero_si256();
                __m256i p2 = _mm256_setzero_si256(), p3 = _mm256_setzero_si256();
                UNROLL for (int j = 0; j < 8; j += 2) {
                    p0 = dot4_acc(p0, v0[j], _mm256_set1_epi32((int)cl_rd32(y0->qs + 4 * j)));
                    p1 = dot4_acc(p1, v1[j], _mm256_set1_epi32((int)cl_rd32(y1->qs + 4 * j)));
                    p2 = dot4_acc(p2, v0[j + 1], _mm256_set1_epi32((int)cl_rd32(y0->qs + 4 * j + 4)));
                    p3 = dot4_acc(p3, v1[j + 1], _mm256_set1_epi32((int)cl_rd32(y1->qs + 4 * j + 4)));
                }
                p0 = _mm256_add_epi32(p0, p2);
                p1 = _mm256_add_epi32(p1, p3);
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_mullo_epi32(p0, sc[2 * c]),
                                                                      _mm256_mullo_epi32(p1, sc[2 * c + 1])));
            }
        }
        __m256 dw = f16x8(b + offsetof(cl_block_q4_K, d), ws), dm = f16x8(b + offsetof(cl_block_q4_K, dmin), ws);
        UNROLL for (int t = 0; t < R; t++) {
            const cl_block_q8 *y = ACT(a, t, stride) + 8 * i;
            __m256 da = _mm256_set1_ps(y->d);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, da), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dm, da), _mm256_cvtepi32_ps(pair_dot8(mp, y)), acc[t]);
        }
    }
    UNROLL for (int t = 0; t < R; t++) _mm256_storeu_ps(out + (size_t)t * os, acc[t]);
}
GEMM8_FN(q4_K)

/* Q4_K on x8 blocks, G = 1 or 2 groups (8 or 16 rows), the second `gs` bytes after the
 * first. With two groups each pair of activation broadcasts feeds four dot products
 * instead of two: with 8 rows the broadcast loads alone match the dpbusd count and bind
 * with them (measured, one Zen 4 core, 64 tokens in cache: 141 vs 114 G MAC/s).
 * Accumulators: 2 G per activation row, so for 16 rows AVX2's 16 registers take 2 rows
 * per tile and AVX-512VL's 32 take 4. */
INLINE void q4_K_gemmx_tile(int64_t n, const uint8_t *w, size_t gs, const void *a, size_t stride, const int R,
                            float *out, size_t os, const int G) {
    __m256 acc[4][2];
    UNROLL for (int t = 0; t < R; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        const uint8_t *bg[2] = {w + (size_t)i * sizeof(cl_block_q4_Kx8), w + gs + (size_t)i * sizeof(cl_block_q4_Kx8)};
        __m256i sc[2][8], mp[2][8];
        UNROLL for (int g = 0; g < G; g++) q4k_scales8(bg[g], 0, sc[g], mp[g], 1);
        __m256i isum[4][2];
        UNROLL for (int t = 0; t < R; t++) isum[t][0] = isum[t][1] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i p[4][4]; /* per row t: low/high nibbles of group 0, then of group 1 */
            UNROLL for (int t = 0; t < R; t++) p[t][0] = p[t][1] = p[t][2] = p[t][3] = _mm256_setzero_si256();
            UNROLL for (int j = 0; j < 8; j++) {
                __m256i v[4];
                UNROLL for (int g = 0; g < G; g++) {
                    __m256i x = loadu(bg[g] + offsetof(cl_block_q4_Kx8, qs) + 256 * c + 32 * j);
                    v[2 * g] = _mm256_and_si256(x, m4);
                    v[2 * g + 1] = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
                }
                UNROLL for (int t = 0; t < R; t++) {
                    const cl_block_q8 *y = ACT(a, t, stride) + 8 * i + 2 * c;
                    __m256i u0 = _mm256_set1_epi32((int)cl_rd32(y[0].qs + 4 * j));
                    __m256i u1 = _mm256_set1_epi32((int)cl_rd32(y[1].qs + 4 * j));
                    UNROLL for (int g = 0; g < G; g++) {
                        p[t][2 * g] = dot4_acc(p[t][2 * g], v[2 * g], u0);
                        p[t][2 * g + 1] = dot4_acc(p[t][2 * g + 1], v[2 * g + 1], u1);
                    }
                }
            }
            UNROLL for (int t = 0; t < R; t++)
                UNROLL for (int g = 0; g < G; g++)
                    isum[t][g] = _mm256_add_epi32(isum[t][g], _mm256_add_epi32(_mm256_mullo_epi32(p[t][2 * g], sc[g][2 * c]),
                                                                                _mm256_mullo_epi32(p[t][2 * g + 1], sc[g][2 * c + 1])));
        }
        UNROLL for (int g = 0; g < G; g++) {
            __m256 dw = scales8(bg[g] + offsetof(cl_block_q4_Kx8, d));
            __m256 dm = scales8(bg[g] + offsetof(cl_block_q4_Kx8, dmin));
            UNROLL for (int t = 0; t < R; t++) {
                const cl_block_q8 *y = ACT(a, t, stride) + 8 * i;
                __m256 da = _mm256_set1_ps(y->d);
                acc[t][g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t][g]), _mm256_mul_ps(dw, da), acc[t][g]);
                acc[t][g] = _mm256_fnmadd_ps(_mm256_mul_ps(dm, da), _mm256_cvtepi32_ps(pair_dot8(mp[g], y)), acc[t][g]);
            }
        }
    }
    UNROLL for (int t = 0; t < R; t++)
        UNROLL for (int g = 0; g < G; g++) _mm256_storeu_ps(out + (size_t)t * os + 8 * g, acc[t][g]);
}

GEMMX_FNS(q4_K)

/* ---- Q6_K, 8 rows of x8 blocks at a time (interleave.h) ----
 * Activation block b = 4 h + j meets, for word k < 8, the register q[h][k][j] (j < 3:
 * the low 6 bits) or the top 2 bits of q[h][k][0..2] (j = 3). Stored q' = q + 32 is
 * unsigned (0..63), so the integer dot is q' . a - 32 sum(a): the per-16-value products
 * are scaled by their signed 8-bit scales in int32 (at most 16 sub-blocks x 16 values
 * x 63 x 128 x 128 = 2.6e8 per super-block, inside int32), and the 32 sum(a) terms come
 * off once per super-block as one pairwise int16 dot of the scales with the activation
 * half sums (pair_dot8). The 8 activation blocks share one scale (Q8K). */

/* The 16 half sums (cl_block_q8.bs) of the 8 activation blocks at y, as int16 in
 * order: one per 16-value sub-block of a K-quant super-block. */
INLINE __m256i half_sums8(const cl_block_q8 *y) {
    int v[8];
    UNROLL for (int b = 0; b < 8; b++) memcpy(&v[b], y[b].bs, 4);
    return _mm256_loadu_si256((const __m256i *)v);
}

/* The four value registers of word k: v[j] lane r = q' of values 4k..4k+3 of
 * activation block j of row r's half. Masking before each shift keeps the 16-bit
 * shifts from carrying bits across bytes. */
INLINE void q6k_unpack4(const uint8_t *q, __m256i *v) {
    const __m256i m6 = _mm256_set1_epi8(0x3F), top = _mm256_set1_epi8((char)0xC0);
    __m256i x0 = loadu(q), x1 = loadu(q + 32), x2 = loadu(q + 64);
    v[0] = _mm256_and_si256(x0, m6);
    v[1] = _mm256_and_si256(x1, m6);
    v[2] = _mm256_and_si256(x2, m6);
    __m256i t = _mm256_srli_epi16(_mm256_and_si256(x0, top), 2);
#ifdef CL_X86_REG32
    /* a | (b & c) */
    t = _mm256_srli_epi16(_mm256_ternarylogic_epi32(t, x1, top, 0xF8), 2);
    v[3] = _mm256_srli_epi16(_mm256_ternarylogic_epi32(t, x2, top, 0xF8), 2);
#else
    t = _mm256_srli_epi16(_mm256_or_si256(t, _mm256_and_si256(x1, top)), 2);
    v[3] = _mm256_srli_epi16(_mm256_or_si256(t, _mm256_and_si256(x2, top)), 2);
#endif
}

/* Tiles of R activation rows: R x 4 accumulators (one per activation block of a half)
 * plus R sums, so AVX-512VL's 32 registers take 4 rows and AVX2's 16 take 2. (Two
 * groups of 8 rows x 2 activation rows, as Q4_K does, measured slower: 94 vs 103 G
 * MAC/s per core at 64 tokens.) */
#ifdef CL_X86_REG32
#define Q6K_R 4
#else
#define Q6K_R 2
#endif
INLINE void q6_K_gemmx_tile(int64_t n, const uint8_t *w, const void *a, size_t stride, const int R, float *out,
                            size_t os) {
    __m256 acc[Q6K_R];
    UNROLL for (int t = 0; t < R; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        const cl_block_q6_Kx8 *b = (const cl_block_q6_Kx8 *)w + i;
        /* sp[blk] lane r = int16 scales of the two sub-blocks of activation block blk */
        __m256i sp[8];
        UNROLL for (int k = 0; k < 4; k++) {
            __m256i x = loadu(b->scales[k]);
            sp[2 * k] = _mm256_srai_epi16(_mm256_slli_epi16(x, 8), 8);
            sp[2 * k + 1] = _mm256_srai_epi16(x, 8);
        }
        __m256i isum[Q6K_R];
        UNROLL for (int t = 0; t < R; t++) {
            __m256i off = pair_dot8(sp, ACT(a, t, stride) + 8 * i);
            isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
        }
        for (int h = 0; h < 2; h++) {
            __m256i p[Q6K_R][4];
            UNROLL for (int k = 0; k < 8; k++) {
                __m256i v[4];
                q6k_unpack4(b->q[h][k][0], v);
                UNROLL for (int t = 0; t < R; t++) {
                    const cl_block_q8 *y = ACT(a, t, stride) + 8 * i + 4 * h;
                    UNROLL for (int j = 0; j < 4; j++) {
                        __m256i u = _mm256_set1_epi32((int)cl_rd32(y[j].qs + 4 * k));
                        p[t][j] = dot4_acc(k % 4 ? p[t][j] : _mm256_setzero_si256(), v[j], u);
                    }
                }
                if (k % 4 == 3)
                    /* values 0..15 (k < 4) or 16..31 of each block: one sub-block */
                    UNROLL for (int j = 0; j < 4; j++) {
                        __m256i sc = sp[4 * h + j];
                        sc = k < 4 ? _mm256_srai_epi32(_mm256_slli_epi32(sc, 16), 16) : _mm256_srai_epi32(sc, 16);
                        UNROLL for (int t = 0; t < R; t++) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(p[t][j], sc));
                    }
            }
        }
        __m256 dw = scales8(b->d);
        UNROLL for (int t = 0; t < R; t++) {
            const cl_block_q8 *y = ACT(a, t, stride) + 8 * i;
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, _mm256_set1_ps(y->d)), acc[t]);
        }
    }
    UNROLL for (int t = 0; t < R; t++) _mm256_storeu_ps(out + (size_t)t * os, acc[t]);
}

static void gemm8x_q6_K(int64_t n, const void *w, const void *a, size_t stride, int nt, float *out, size_t os) {
    int t = 0;
    for (; t + Q6K_R <= nt; t += Q6K_R)
        q6_K_gemmx_tile(n, w, (const char *)a + (size_t)t * stride, stride, Q6K_R, out + (size_t)t * os, os);
#if Q6K_R > 2
    for (; t + 2 <= nt; t += 2)
        q6_K_gemmx_tile(n, w, (const char *)a + (size_t)t * stride, stride, 2, out + (size_t)t * os, os);
#endif
    if (t < nt) q6_K_gemmx_tile(n, w, (const char *)a + (size_t)t * stride, stride, 1, out + (size_t)t * os, os);
}

/* Shared by Q4_K and Q5_K: q holds the 8 sub-blocks' values (bytes 0..31 each). */
#define K4_TILE_BODY(UNPACK)                                                                        \
    __m256 acc0[4], acc1[4], offv[4];                                                                \
    UNROLL for (int r = 0; r < R; r++) acc0[r] = acc1[r] = offv[r] = _mm256_setzero_ps();                   \
    for (int64_t i = 0; i < n / CL_QK_K; i++) {                                                      \
        uint8_t sc[8], m[8];                                                                         \
        k4_scales(x[i].scales, sc, m);                                                               \
        float d = f16(&x[i].d);                                                                      \
        float ds[8];                                                                                 \
        UNROLL for (int b = 0; b < 8; b++) ds[b] = d * sc[b];                                              \
        /* mins: dmin * m[b] * a.d * sum(a_b), all 8 sub-blocks at once */                         \
        __m256 mv = _mm256_mul_ps(_mm256_set1_ps(f16(&x[i].dmin)),                                   \
                                  _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)m)))); \
        UNROLL for (int r = 0; r < R; r++) {                                                                \
            const cl_block_q8 *y = ACT(a, r, stride) + 8 * i;                                       \
            __m256 sv = _mm256_cvtepi32_ps(_mm256_madd_epi16(half_sums8(y), _mm256_set1_epi16(1)));  \
            offv[r] = _mm256_fmadd_ps(_mm256_mul_ps(mv, _mm256_set1_ps(y->d)), sv, offv[r]);         \
        }                                                                                            \
        UNROLL for (int c = 0; c < 4; c++) {                                                                \
            __m256i lo, hi;                                                                          \
            UNPACK;                                                                                  \
            UNROLL for (int r = 0; r < R; r++) {                                                            \
                const cl_block_q8 *y = ACT(a, r, stride) + 8 * i + 2 * c;                           \
                __m256i p0 = mul_sum_u8s8(lo, loadu(y[0].qs));                                       \
                __m256i p1 = mul_sum_u8s8(hi, loadu(y[1].qs));                                       \
                acc0[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(ds[2 * c] * y[0].d), acc0[r]); \
                acc1[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(ds[2 * c + 1] * y[1].d), acc1[r]); \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
    UNROLL for (int r = 0; r < R; r++) out[r] = hsum(_mm256_sub_ps(_mm256_add_ps(acc0[r], acc1[r]), offv[r]));

INLINE void q4_K_tile(int64_t n, const void *w, const void *a, size_t stride, const int R, float *out) {
    const cl_block_q4_K *x = w;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    K4_TILE_BODY({
        __m256i v = loadu(x[i].qs + 32 * c);
        lo = _mm256_and_si256(v, m4);
        hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    })
}

INLINE void q5_K_tile(int64_t n, const void *w, const void *a, size_t stride, const int R, float *out) {
    const cl_block_q5_K *x = w;
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    K4_TILE_BODY({
        __m256i v = loadu(x[i].qs + 32 * c);
        /* fifth bits: bit 2c (low nibbles) and 2c+1 (high nibbles) of qh[l], moved to bit 4 */
        __m256i h = _mm256_srl_epi16(loadu(x[i].qh), _mm_cvtsi32_si128(2 * c));
        lo = _mm256_or_si256(_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), b4));
        hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), _mm256_and_si256(_mm256_slli_epi16(h, 3), b4));
    })
}

/* int16 vectors [s[2b] x8 | s[2b+1] x8] for the 16-value sub-blocks of activation block
 * b, from s[0..15] held as int16 in `lo8` (s0..s7 in both lanes) and `hi8` (s8..s15). */
static const uint8_t pair_shuffle[4][32] __attribute__((aligned(32))) = {
    {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3},
    {4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
    {8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11},
    {12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15},
};

INLINE __m256i scale_pair(__m256i lo8, __m256i hi8, int b) {
    return _mm256_shuffle_epi8(b < 4 ? lo8 : hi8, _mm256_load_si256((const __m256i *)pair_shuffle[b & 3]));
}

/* Signed sub-block dot with per-16 int16 scales: q signed (|q| <= 32), 8 int32 lanes
 * (0..3 first sub-block, 4..7 second), each already times its scale. */
INLINE __m256i signed_dot_scaled(__m256i qabs, __m256i q, __m256i act, __m256i scale16) {
    __m256i p = _mm256_maddubs_epi16(qabs, _mm256_sign_epi8(act, q));
    return _mm256_madd_epi16(p, scale16);
}

/* Q6_K against one activation row at a time: stored q' = q + 32 is unsigned (0..63),
 * so maddubs takes it as is (pair sums <= 2 x 63 x 128, no saturation) and the 32
 * offsets come off once per super-block as 32 sum_k sc_k bs_k over the 16 sub-blocks'
 * activation sums. Integer sums stay in int32 across the super-block (at most 8 x 2 x
 * 16128 x 128 per lane) and meet d_w d_a once. */
INLINE void q6_K_tile(int64_t n, const void *w, const void *a, size_t stride, const int R, float *out) {
    const cl_block_q6_K *x = w;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[4];
    UNROLL for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        __m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        __m256i lo8 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(sc8));
        __m256i hi8 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(sc8, 8)));
        __m256i isum[4];
        UNROLL for (int r = 0; r < R; r++) isum[r] = _mm256_setzero_si256();
        UNROLL for (int h = 0; h < 2; h++) {
            __m256i l0 = loadu(x[i].ql + 64 * h), l1 = loadu(x[i].ql + 64 * h + 32), qh = loadu(x[i].qh + 32 * h);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
            UNROLL for (int k = 0; k < 4; k++) {
                int b = 4 * h + k;
                __m256i s16 = scale_pair(lo8, hi8, b);
                UNROLL for (int r = 0; r < R; r++) {
                    const cl_block_q8 *y = ACT(a, r, stride) + 8 * i + b;
                    isum[r] = _mm256_add_epi32(isum[r], _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], loadu(y->qs)), s16));
                }
            }
        }
        __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        float d = f16(&x[i].d);
        UNROLL for (int r = 0; r < R; r++) {
            const cl_block_q8 *y = ACT(a, r, stride) + 8 * i;
            __m256i off = _mm256_madd_epi16(sc16, half_sums8(y));
            isum[r] = _mm256_sub_epi32(isum[r], _mm256_slli_epi32(off, 5));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]), _mm256_set1_ps(d * y->d), acc[r]);
        }
    }
    UNROLL for (int r = 0; r < R; r++) out[r] = hsum(acc[r]);
}

INLINE void q3_K_tile(int64_t n, const void *w, const void *a, size_t stride, const int R, float *out) {
    const cl_block_q3_K *x = w;
    const __m256i m3 = _mm256_set1_epi8(3), k4 = _mm256_set1_epi8(4);
    __m256 acc[2][4]; /* by parity of the activation block */
    UNROLL for (int r = 0; r < R; r++) acc[0][r] = acc[1][r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        float d = f16(&x[i].d);
        int8_t sc[16];
        cl_q3k_scales(x[i].scales, sc);
        __m256i lo8 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        __m256i hi8 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(sc + 8))));
        __m256i hm = loadu(x[i].hmask);
        UNROLL for (int h = 0; h < 2; h++) {
            __m256i qv = loadu(x[i].qs + 32 * h);
            UNROLL for (int j = 0; j < 4; j++) {
                int b = 4 * h + j;
                __m128i sh = _mm_cvtsi32_si128(2 * j);
                /* q - 4 * !hbit: hbit (bit 4h+j of hmask[l]) moved to bit 2 */
                __m256i hb = _mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(b)), _mm256_set1_epi8(1));
                __m256i q = _mm256_and_si256(_mm256_srl_epi16(qv, sh), m3);
                __m256i qs = _mm256_sub_epi8(_mm256_or_si256(q, _mm256_slli_epi16(hb, 2)), k4);
                __m256i qa = _mm256_abs_epi8(qs);
                __m256i s16 = scale_pair(lo8, hi8, b);
                UNROLL for (int r = 0; r < R; r++) {
                    const cl_block_q8 *y = ACT(a, r, stride) + 8 * i + b;
                    __m256i p = signed_dot_scaled(qa, qs, loadu(y->qs), s16);
                    acc[b & 1][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d * y->d), acc[b & 1][r]);
                }
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) out[r] = hsum(_mm256_add_ps(acc[0][r], acc[1][r]));
}

INLINE void q2_K_tile(int64_t n, const void *w, const void *a, size_t stride, const int R, float *out) {
    const cl_block_q2_K *x = w;
    const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(0x0F);
    const __m256i ones8 = _mm256_set1_epi8(1);
    __m256 acc[2][4]; /* by parity of the activation block */
    UNROLL for (int r = 0; r < R; r++) acc[0][r] = acc[1][r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / CL_QK_K; i++) {
        float d = f16(&x[i].d), dmin = f16(&x[i].dmin);
        __m128i sv = _mm_loadu_si128((const __m128i *)x[i].scales);
        __m128i scv = _mm_and_si128(sv, _mm256_castsi256_si128(m4));
        __m128i mv = _mm_and_si128(_mm_srli_epi16(sv, 4), _mm256_castsi256_si128(m4));
        __m256i sc_lo = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scv));
        __m256i sc_hi = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_srli_si128(scv, 8)));
        __m256i m_lo = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(mv));
        __m256i m_hi = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_srli_si128(mv, 8)));
        UNROLL for (int h = 0; h < 2; h++) {
            __m256i qv = loadu(x[i].qs + 32 * h);
            UNROLL for (int j = 0; j < 4; j++) {
                int b = 4 * h + j;
                __m256i q = _mm256_and_si256(_mm256_srl_epi16(qv, _mm_cvtsi32_si128(2 * j)), m3);
                __m256i s16 = scale_pair(sc_lo, sc_hi, b), mn16 = scale_pair(m_lo, m_hi, b);
                UNROLL for (int r = 0; r < R; r++) {
                    const cl_block_q8 *y = ACT(a, r, stride) + 8 * i + b;
                    __m256i av = loadu(y->qs);
                    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, av), s16);
                    /* min term: per-16 activation sums times the sub-block mins */
                    __m256i pm = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, av), mn16);
                    __m256 f = _mm256_fmsub_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), _mm256_mul_ps(_mm256_cvtepi32_ps(pm), _mm256_set1_ps(dmin)));
                    acc[b & 1][r] = _mm256_fmadd_ps(f, _mm256_broadcast_ss(&y->d), acc[b & 1][r]);
                }
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) out[r] = hsum(_mm256_add_ps(acc[0][r], acc[1][r]));
}

DOT_FN(q2_K)
DOT_FN(q3_K)
DOT_FN(q4_K)
DOT_FN(q5_K)
DOT_FN(q6_K)

/* ---- activation quantizers: the same bytes as cl_quantize_row_q8 / _q8k ----
 * Products and the round-to-nearest-even conversion are the scalar code's, lane by
 * lane; NaN inputs are skipped by the maxima as fmaxf / the > test skip them. */

INLINE float hmax(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/* 32 floats times s, rounded, clamped to [lo, 127], stored as int8 at q; the sums of
 * the two 16-value halves go to half[0..1]. */
INLINE void round32(const float *x, float s, int lo, int8_t *q, int *half) {
    const __m256 sv = _mm256_set1_ps(s);
    const __m256i lov = _mm256_set1_epi32(lo), hiv = _mm256_set1_epi32(127);
    __m256i v[4];
    UNROLL for (int k = 0; k < 4; k++) {
        __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), sv));
        v[k] = _mm256_min_epi32(_mm256_max_epi32(r, lov), hiv);
    }
    /* lanes 0..3: first half, 4..7: second */
    __m256i h = _mm256_add_epi32(_mm256_permute2x128_si256(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]), 0x20),
                                 _mm256_permute2x128_si256(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]), 0x31));
    h = _mm256_add_epi32(h, _mm256_shuffle_epi32(h, 0x4E));
    h = _mm256_add_epi32(h, _mm256_shuffle_epi32(h, 0xB1));
    /* packs interleave the 128-bit halves: 4-value groups come out as 0,2,4,6,1,3,5,7 */
    __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, b);
    half[0] = _mm256_cvtsi256_si32(h);
    half[1] = _mm_cvtsi128_si32(_mm256_extracti128_si256(h, 1));
}

static void quantize_q8(const float *x, void *out, int64_t n) {
    cl_block_q8 *y = out;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / CL_QK; i++, x += CL_QK) {
        __m256 m = _mm256_setzero_ps();
        UNROLL for (int k = 0; k < 4; k++) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)), m);
        float d = hmax(m) / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        int half[2];
        round32(x, id, -127, y[i].qs, half);
        d = cl_f16_to_f32(cl_f32_to_f16(d));
        y[i].d = d;
        y[i].s = d * (float)(half[0] + half[1]);
    }
}

static void quantize_q8k(const float *x, void *out, int64_t n) {
    cl_block_q8 *y = out;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / CL_QK_K; i++, x += CL_QK_K, y += CL_QK_K / CL_QK) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < CL_QK_K / 8; k++) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)), m);
        float amax = hmax(m), vmax = 0;
        /* the first value of largest magnitude, as the scalar scan keeps */
        if (amax != 0)
            for (int k = 0; k < CL_QK_K / 8; k++) {
                __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k));
                int hit = _mm256_movemask_ps(_mm256_cmp_ps(a, _mm256_set1_ps(amax), _CMP_EQ_OQ));
                if (hit) {
                    vmax = x[8 * k + __builtin_ctz((unsigned)hit)];
                    break;
                }
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

/* KV cache rows are ours and 2-byte aligned; n is any head size. */
static void axpy_f16(int64_t n, int nr, const float *a, const cl_f16 *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv = LOAD_F16(x, i);
        for (int r = 0; r < nr; r++) {
            float *yr = y + r * n + i;
            _mm256_storeu_ps(yr, _mm256_fmadd_ps(_mm256_set1_ps(a[r]), xv, _mm256_loadu_ps(yr)));
        }
    }
    for (; i < n; i++)
        for (int r = 0; r < nr; r++) y[r * n + i] += a[r] * _cvtsh_ss(x[i]);
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
    k->dot[CL_TYPE_Q2_K] = dot_q2_K;
    k->dot[CL_TYPE_Q3_K] = dot_q3_K;
    k->dot[CL_TYPE_Q4_K] = dot_q4_K;
    k->dot[CL_TYPE_Q5_K] = dot_q5_K;
    k->dot[CL_TYPE_Q6_K] = dot_q6_K;
    /* bench/matmul_bench, one Zen 4 core, one activation row: x8 blocks Q4_0 42, Q8_0
     * 62, Q4_K 47 GB/s of weights from cache (a 4096 x 1024 matrix); Q6_K x8 46 from
     * cache and 30 from memory (its one-row dot on stored rows 28 and 27), and 64-token
     * prompts 104 vs 62 G MAC/s on stored rows, so Q6_K is repacked too. */
    k->gemm8[CL_TYPE_Q4_0] = gemm8_q4_0;
    /* Q5_0 is what Q4_K_M gives matrices whose rows are not a multiple of 256 (Qwen2.5
     * 0.5B's 896, Gemma 3 1B's 1152): stored rows through the 8-row kernel took their
     * pp64 from 163 to 272 t/s (Qwen2.5 0.5B) and from 58 to 109 (Gemma 3 1B), with
     * tg16 unchanged, on 2 cores of an AVX-512 Xeon. */
    k->gemm8[CL_TYPE_Q5_0] = gemm8_q5_0;
    k->gemm8[CL_TYPE_Q5_1] = gemm8_q5_1; /* Q5_K_M's, likewise: Qwen2.5 0.5B pp64 126 -> 171 t/s */
    k->gemm8[CL_TYPE_Q4_K] = gemm8_q4_K;
    k->gemm8x[CL_TYPE_Q4_0] = gemm8x_q4_0;
    k->gemm8x[CL_TYPE_Q4_K] = gemm8x_q4_K;
    k->gemm8x[CL_TYPE_Q6_K] = gemm8x_q6_K;
    k->gemm16x[CL_TYPE_Q4_0] = gemm16x_q4_0;
    k->gemm16x[CL_TYPE_Q4_K] = gemm16x_q4_K;
#ifdef __AVX512BF16__
    k->act[CL_TYPE_BF16] = CL_ACT_BF16;
    k->quantize[CL_ACT_BF16] = quantize_bf16;
    k->dot[CL_TYPE_BF16] = dot_bf16x;
#endif
#ifdef CL_X86_VNNI
    k->gemm8[CL_TYPE_Q8_0] = gemm8_q8_0;
    k->gemm8x[CL_TYPE_Q8_0] = gemm8x_q8_0;
    k->gemm16x[CL_TYPE_Q8_0] = gemm16x_q8_0;
#endif
}
