/* Scalar reference codecs of the K-quants (256-value super-blocks).
 *
 * Value v (0..255) of a super-block, written v = 128 n + 32 j + l (n 0..1, j 0..3,
 * l 0..31), sits in these places:
 *   Q2_K  bits 2j..2j+1 of qs[32 n + l]; scale/min byte scales[v / 16]
 *   Q3_K  as Q2_K for the low 2 bits; high bit: bit 4n + j of hmask[l]; scale v / 16
 *   Q6_K  low nibble of ql[64 n + 32 (j & 1) + l], the nibble chosen by j >> 1;
 *         bits 2j..2j+1 of qh[32 n + l]; scale scales[v / 16]
 * and, writing v = 64 c + 32 h + l (c 0..3, h 0..1):
 *   Q4_K  nibble h of qs[32 c + l]; sub-block 2c + h (32 values)
 *   Q5_K  as Q4_K, fifth bit: bit 2c + h of qh[l]
 * So every scale covers consecutive values, in order. */
#include <math.h>
#include <string.h>

#include "quant/quant.h"

static void dequant_q2_K(const cl_block_q2_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += CL_QK_K) {
        float d = cl_f16_to_f32(cl_rd16(&b[i].d)), dmin = cl_f16_to_f32(cl_rd16(&b[i].dmin));
        for (int v = 0; v < CL_QK_K; v++) {
            int n = v / 128, j = (v / 32) % 4, l = v % 32;
            uint8_t sc = b[i].scales[v / 16];
            int q = (b[i].qs[32 * n + l] >> (2 * j)) & 3;
            y[v] = d * (sc & 0xF) * q - dmin * (sc >> 4);
        }
    }
}

static void dequant_q3_K(const cl_block_q3_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += CL_QK_K) {
        float d = cl_f16_to_f32(cl_rd16(&b[i].d));
        int8_t sc[16];
        cl_q3k_scales(b[i].scales, sc);
        for (int v = 0; v < CL_QK_K; v++) {
            int n = v / 128, j = (v / 32) % 4, l = v % 32;
            int q = (b[i].qs[32 * n + l] >> (2 * j)) & 3;
            int hi = (b[i].hmask[l] >> (4 * n + j)) & 1;
            y[v] = d * sc[v / 16] * (q - (hi ? 0 : 4));
        }
    }
}

static void dequant_q4_K(const cl_block_q4_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += CL_QK_K) {
        float d = cl_f16_to_f32(cl_rd16(&b[i].d)), dmin = cl_f16_to_f32(cl_rd16(&b[i].dmin));
        for (int s = 0; s < 8; s++) {
            uint8_t sc, m;
            cl_k4_scale_min(s, b[i].scales, &sc, &m);
            float ds = d * sc, dm = dmin * m;
            const uint8_t *q = b[i].qs + 32 * (s / 2);
            int shift = 4 * (s & 1);
            for (int l = 0; l < 32; l++) y[32 * s + l] = ds * ((q[l] >> shift) & 0xF) - dm;
        }
    }
}

static void dequant_q5_K(const cl_block_q5_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += CL_QK_K) {
        float d = cl_f16_to_f32(cl_rd16(&b[i].d)), dmin = cl_f16_to_f32(cl_rd16(&b[i].dmin));
        for (int s = 0; s < 8; s++) {
            uint8_t sc, m;
            cl_k4_scale_min(s, b[i].scales, &sc, &m);
            float ds = d * sc, dm = dmin * m;
            const uint8_t *q = b[i].qs + 32 * (s / 2);
            int shift = 4 * (s & 1);
            for (int l = 0; l < 32; l++) {
                int v = ((q[l] >> shift) & 0xF) | ((b[i].qh[l] >> s) & 1) << 4;
                y[32 * s + l] = ds * v - dm;
            }
        }
    }
}

static void dequant_q6_K(const cl_block_q6_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += CL_QK_K) {
        float d = cl_f16_to_f32(cl_rd16(&b[i].d));
        for (int v = 0; v < CL_QK_K; v++) {
            int n = v / 128, j = (v / 32) % 4, l = v % 32;
            int lo = (b[i].ql[64 * n + 32 * (j & 1) + l] >> (4 * (j >> 1))) & 0xF;
            int hi = (b[i].qh[32 * n + l] >> (2 * j)) & 3;
            y[v] = d * b[i].scales[v / 16] * ((lo | hi << 4) - 32);
        }
    }
}

int cl_dequantize_row_k(int type, const void *src, float *dst, int64_t n) {
    int64_t nb = n / CL_QK_K;
    switch (type) {
    case CL_TYPE_Q2_K: dequant_q2_K(src, dst, nb); return 0;
    case CL_TYPE_Q3_K: dequant_q3_K(src, dst, nb); return 0;
    case CL_TYPE_Q4_K: dequant_q4_K(src, dst, nb); return 0;
    case CL_TYPE_Q5_K: dequant_q5_K(src, dst, nb); return 0;
    case CL_TYPE_Q6_K: dequant_q6_K(src, dst, nb); return 0;
    default: return -1;
    }
}

/* ---- quantization: llama.cpp's reference K-quantizers ----
 * These produce the blocks of llama.cpp's quantize_row_q{2..6}_K_ref, which is what
 * llama-quantize runs for a K-quant tensor when it has no importance matrix
 * (ggml_quantize_chunk -> quantize_qN_K(..., quant_weights = NULL) -> *_ref).
 *
 * Every type follows one plan per 256-value super-block:
 *  1. each sub-block (16 or 32 values) gets its own float scale (and min) from a
 *     weighted search over candidate scales: search_scale_min (Q2_K, Q4_K, Q5_K),
 *     search_scale_sym (Q6_K), search_scale_q3 (Q3_K);
 *  2. the super-block stores the largest of them as an f16 d (and dmin), and each
 *     sub-block's as a 4-, 6- or 8-bit integer multiple of d;
 *  3. the values are quantized again against the scales as stored (f16 d times the
 *     integer). A sub-block whose stored scale is 0 keeps its levels from step 1.
 *
 * Byte equality with the reference depends on doing the same float operations in the
 * same order: keep each expression as written (left to right, in float), and unfused:
 * gcc in ISO C mode (-std=c11, as CMake sets) does not contract a * b + c into an
 * FMA, clang does unless told not to. The reference's x86-64 build (ggml-base, no
 * -mfma) evaluates the same way. */

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* The reference's nearest_int: round to nearest, ties to even, for |x| < 2^22 (adding
 * 1.5 * 2^23 leaves the integer in the low mantissa bits). Unlike cl_nearest_int it does
 * not clamp: a larger argument, which only a degenerate sub-block produces (a min
 * far larger than its spread), wraps exactly as in the reference, so the clamp to the
 * level range that always follows picks the reference's level. */
static inline int ref_nearest(float x) {
    float f = x + 12582912.0f;
    int32_t i;
    memcpy(&i, &f, 4);
    return (i & 0x007FFFFF) - 0x00400000;
}

/* A sub-block whose largest magnitude is below this is all zero (reference's
 * GROUP_MAX_EPS). */
#define GROUP_MAX_EPS 1e-15f

static inline float err_pow(float diff, int mad) { return mad ? fabsf(diff) : diff * diff; }

/* Scale and min of one sub-block for the types with a min (reference: make_qkx2_quants).
 *   x[n], w[n]: values and their weights (n <= 32)
 *   out: L[n] levels 0..nmax, *the_min (>= 0); returns the scale, so x ~= scale*L - min.
 * The min only ever offsets downward (an all-positive sub-block gets min 0). Starts
 * from the range [min(x, 0), max(x)] mapped onto 0..nmax; then, for nstep + 1 other
 * scales (nmax + rmin + rdelta*k) / range, rounds x to levels, fits scale and min to
 * those levels by weighted least squares, and keeps the fit of lowest weighted error
 * (sum w*|err| if mad, else sum w*err^2). */
static float search_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                              float rmin, float rdelta, int nstep, int mad) {
    uint8_t Laux[32];
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)cl_clampi(ref_nearest(iscale * (x[i] - min)), 0, nmax);
        best_error += w[i] * err_pow(scale * L[i] + min - x[i], mad);
    }
    for (int k = 0; k <= nstep; k++) {
        iscale = (rmin + rdelta * k + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = cl_clampi(ref_nearest(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float cur_error = 0;
        for (int i = 0; i < n; i++) cur_error += w[i] * err_pow(this_scale * Laux[i] + this_min - x[i], mad);
        if (cur_error < best_error) {
            memcpy(L, Laux, (size_t)n);
            best_error = cur_error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* The value of largest magnitude (first on ties) and that magnitude. */
static float signed_max(const float *x, int n, float *amax) {
    float max = 0;
    *amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > *amax) *amax = fabsf(x[i]), max = x[i];
    return max;
}

/* Rounds x[n] to levels l = nearest(iscale x) in -nmax..nmax-1 and sums, with the
 * weights x^2 the symmetric searches use, sumlx = sum w x l and suml2 = sum w l^2.
 * With L non-NULL, stores l + offset there. */
static inline void round_levels(int n, int nmax, float iscale, const float *x, int8_t *L, int offset, float *sumlx,
                                float *suml2) {
    *sumlx = *suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = cl_clampi(ref_nearest(iscale * x[i]), -nmax, nmax - 1);
        if (L) L[i] = (int8_t)(l + offset);
        float w = x[i] * x[i];
        *sumlx += w * x[i] * l;
        *suml2 += w * l * l;
    }
}

/* Symmetric scale of one Q6_K sub-block (reference: make_qx_quants with rmse_type 1 and
 * no importance weights).
 *   x[n]: values; out: L[n] levels l + nmax for l in -nmax..nmax-1; returns the scale,
 *   so x ~= scale * l (the scale is negative when the extreme value is positive).
 * Tries the scales max / -(nmax + 0.1 k), k = -9..9: for each, rounds x to levels and
 * takes the least-squares scale for them with weights x^2; keeps the one that explains
 * the most (largest sumlx^2 / suml2). An all-zero sub-block gives L = 0 and scale 0. */
static float search_scale_sym(int n, int nmax, const float *x, int8_t *L) {
    float amax, max = signed_max(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float sumlx, suml2;
    round_levels(n, nmax, -nmax / max, x, L, nmax, &sumlx, &suml2);
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0) continue;
        float iscale = -(nmax + 0.1f * k) / max;
        round_levels(n, nmax, iscale, x, NULL, 0, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            round_levels(n, nmax, iscale, x, L, nmax, &sumlx, &suml2);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric scale of one Q3_K sub-block (reference: make_q3_quants with do_rmse).
 *   x[n]: values; out: L[n] levels l + nmax for l in -nmax..nmax-1; returns the scale.
 * Rounds x against max / -nmax, then up to 5 sweeps of coordinate descent: each value
 * in turn moves to the level that the least-squares scale of the others asks for, if
 * that raises sumlx^2 / suml2 (weights x^2). An all-zero sub-block gives L = 0 (not
 * nmax: the reference leaves it so) and scale 0. */
static float search_scale_q3(int n, int nmax, const float *x, int8_t *L) {
    float amax, max = signed_max(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float sumlx, suml2;
    round_levels(n, nmax, -nmax / max, x, L, 0, &sumlx, &suml2);
    for (int sweep = 0; sweep < 5; sweep++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int new_l = cl_clampi(ref_nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (new_l == L[i]) continue;
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                n_changed++;
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Q2_K / Q3_K: the 2-bit parts of levels L[256] (0..3) into qs[64]: value
 * 128 n + 32 j + l at bits 2j of qs[32 n + l]. */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int n = 0; n < 2; n++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *p = L + 128 * n + l;
            qs[32 * n + l] = (uint8_t)(p[0] | p[32] << 2 | p[64] << 4 | p[96] << 6);
        }
}

static void quant_q2_K(const float *x, cl_block_q2_K *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK_K) {
        uint8_t L[CL_QK_K];  /* levels 0..3 */
        float scales[16], mins[16], w[16], max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
            scales[j] = search_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        /* 4-bit scale (low nibble) and min (high nibble) per 16 values; the casts
         * wrap as the reference's stores do. */
        uint8_t *sc = b[i].scales;
        memset(sc, 0, 16);
        if (max_scale > 0) {
            float iscale = 15.f / max_scale;
            for (int j = 0; j < 16; j++) sc[j] = (uint8_t)ref_nearest(iscale * scales[j]);
        }
        cl_wr16(&b[i].d, cl_f32_to_f16(max_scale > 0 ? max_scale / 15.f : 0.f));
        if (max_min > 0) {
            float iscale = 15.f / max_min;
            for (int j = 0; j < 16; j++) sc[j] |= (uint8_t)((unsigned)ref_nearest(iscale * mins[j]) << 4);
        }
        cl_wr16(&b[i].dmin, cl_f32_to_f16(max_min > 0 ? max_min / 15.f : 0.f));
        float d = cl_f16_to_f32(cl_rd16(&b[i].d)), dmin = cl_f16_to_f32(cl_rd16(&b[i].dmin));
        for (int j = 0; j < 16; j++) {
            const float ds = d * (sc[j] & 0xF);
            if (!ds) continue;
            const float dm = dmin * (sc[j] >> 4);
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)cl_clampi(ref_nearest((x[16 * j + l] + dm) / ds), 0, 3);
        }
        pack_2bit(L, b[i].qs);
    }
}

static void quant_q3_K(const float *x, cl_block_q3_K *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK_K) {
        int8_t L[CL_QK_K]; /* levels 0..7 (l + 4) */
        float scales[16], amax = 0, max_scale = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = search_scale_q3(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) amax = fabsf(scales[j]), max_scale = scales[j];
        }
        /* 6-bit signed scales (stored + 32), the largest at -32: low nibbles in bytes
         * 0..7 (sub-block j and j + 8), top 2 bits in bytes 8..11 (cl_q3k_scales). */
        memset(b[i].scales, 0, 12);
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = cl_clampi(ref_nearest(iscale * scales[j]), -32, 31) + 32;
                if (j < 8) b[i].scales[j] = (uint8_t)(l & 0xF);
                else b[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                b[i].scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            cl_wr16(&b[i].d, cl_f32_to_f16(1 / iscale));
        } else {
            cl_wr16(&b[i].d, cl_f32_to_f16(0.f));
        }
        int8_t sc[16];
        cl_q3k_scales(b[i].scales, sc);
        float d_all = cl_f16_to_f32(cl_rd16(&b[i].d));
        for (int j = 0; j < 16; j++) {
            const float d = d_all * sc[j];
            if (!d) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(cl_clampi(ref_nearest(x[16 * j + l] / d), -4, 3) + 4);
        }
        /* Bit 2 of value v goes to bit v / 32 of hmask[v % 32]; bits 0..1 as Q2_K. */
        uint8_t low[CL_QK_K];
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (int v = 0; v < CL_QK_K; v++) {
            if (L[v] > 3) b[i].hmask[v % 32] |= (uint8_t)(1u << (v / 32));
            low[v] = (uint8_t)(L[v] & 3);
        }
        pack_2bit(low, b[i].qs);
    }
}

/* Q4_K / Q5_K: sub-block scales and levels of one super-block.
 *   x[256] in; out: L[256] levels 0..nmax, scales12 (packed 6-bit scales and mins, see
 *   cl_k4_scale_min), *dp / *dminp (f16 fields, possibly unaligned).
 * Each 32-value sub-block's search weighs value x by rms(sub-block) + |x|. */
static void quant_k4_levels(const float *x, int nmax, float rmin, int nstep, uint8_t *L, uint8_t *scales12,
                            void *dp, void *dminp) {
    float scales[8], mins[8], w[32], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xs[l]);
        scales[j] = search_scale_min(32, nmax, xs, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        /* The reference stores the rounded value in a uint8_t, then caps it at 63. */
        ls[j] = (uint8_t)ref_nearest(inv_scale * scales[j]);
        lm[j] = (uint8_t)ref_nearest(inv_min * mins[j]);
        if (ls[j] > 63) ls[j] = 63;
        if (lm[j] > 63) lm[j] = 63;
    }
    for (int j = 0; j < 4; j++) {
        scales12[j] = (uint8_t)(ls[j] | (ls[j + 4] >> 4) << 6);
        scales12[j + 4] = (uint8_t)(lm[j] | (lm[j + 4] >> 4) << 6);
        scales12[j + 8] = (uint8_t)((ls[j + 4] & 0xF) | (lm[j + 4] & 0xF) << 4);
    }
    cl_wr16(dp, cl_f32_to_f16(max_scale / 63.f));
    cl_wr16(dminp, cl_f32_to_f16(max_min / 63.f));
    float d = cl_f16_to_f32(cl_rd16(dp)), dmin = cl_f16_to_f32(cl_rd16(dminp));
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        cl_k4_scale_min(j, scales12, &sc, &m);
        const float ds = d * sc;
        if (!ds) continue;
        const float dm = dmin * m;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)cl_clampi(ref_nearest((x[32 * j + l] + dm) / ds), 0, nmax);
    }
}

static void quant_q4_K(const float *x, cl_block_q4_K *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK_K) {
        uint8_t L[CL_QK_K];
        quant_k4_levels(x, 15, -1.f, 20, L, b[i].scales, &b[i].d, &b[i].dmin);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) b[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

static void quant_q5_K(const float *x, cl_block_q5_K *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK_K) {
        uint8_t L[CL_QK_K];
        quant_k4_levels(x, 31, -0.5f, 15, L, b[i].scales, &b[i].d, &b[i].dmin);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
                b[i].qs[32 * c + l] = (uint8_t)((lo & 0xF) | (hi & 0xF) << 4);
                b[i].qh[l] |= (uint8_t)((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
            }
    }
}

static void quant_q6_K(const float *x, cl_block_q6_K *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK_K) {
        int8_t L[CL_QK_K]; /* levels 0..63 (l + 32) */
        float scales[16], max_abs_scale = 0, max_scale = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = search_scale_sym(16, 32, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs_scale) max_abs_scale = fabsf(scales[j]), max_scale = scales[j];
        }
        if (max_abs_scale < GROUP_MAX_EPS) { /* all (near) zero: an all-zero block */
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* int8 scales, the largest at -128 (capped at 127 on the other side). */
        float iscale = -128.f / max_scale;
        cl_wr16(&b[i].d, cl_f32_to_f16(1 / iscale));
        for (int j = 0; j < 16; j++) {
            int l = ref_nearest(iscale * scales[j]);
            b[i].scales[j] = (int8_t)(l < 127 ? l : 127);
        }
        float d_all = cl_f16_to_f32(cl_rd16(&b[i].d));
        for (int j = 0; j < 16; j++) {
            const float d = d_all * b[i].scales[j];
            if (!d) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(cl_clampi(ref_nearest(x[16 * j + l] / d), -32, 31) + 32);
        }
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int v = 0; v < CL_QK_K; v++) {
            int n = v / 128, j = (v / 32) % 4, l = v % 32, q = L[v];
            uint8_t *ql = &b[i].ql[64 * n + 32 * (j & 1) + l];
            if (j < 2) *ql = (uint8_t)(q & 0xF);
            else *ql |= (uint8_t)((q & 0xF) << 4);
            b[i].qh[32 * n + l] |= (uint8_t)((q >> 4) << (2 * j));
        }
    }
}

int cl_quantize_row_k(int type, const float *src, void *dst, int64_t n) {
    int64_t nb = n / CL_QK_K;
    switch (type) {
    case CL_TYPE_Q2_K: quant_q2_K(src, dst, nb); return 0;
    case CL_TYPE_Q3_K: quant_q3_K(src, dst, nb); return 0;
    case CL_TYPE_Q4_K: quant_q4_K(src, dst, nb); return 0;
    case CL_TYPE_Q5_K: quant_q5_K(src, dst, nb); return 0;
    case CL_TYPE_Q6_K: quant_q6_K(src, dst, nb); return 0;
    default: return -1;
    }
}
