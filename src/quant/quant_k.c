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

/* ---- quantization: round to nearest in two levels ----
 * Each sub-block gets a float scale (and min) from its own range; the super-block
 * then stores the largest as d (dmin) and every sub-block's as a small integer
 * multiple of it. Values are rounded against the scales as finally stored. */

/* Range of sub-block x[0..n) for the min-offset types: x ~= scale * q - min with
 * q in 0..nmax; the min is clamped at 0 (min stored non-negative). */
static void range_scale_min(const float *x, int n, int nmax, float *scale, float *min) {
    float mn = 0, mx = x[0];
    for (int l = 0; l < n; l++) mn = fminf(mn, x[l]), mx = fmaxf(mx, x[l]);
    *scale = (mx - mn) / (float)nmax;
    *min = -mn;
}

/* For the symmetric types: the value of largest magnitude maps to -nmax. */
static float sym_scale(const float *x, int n, int nmax) {
    float amax = 0, v = 0;
    for (int l = 0; l < n; l++)
        if (fabsf(x[l]) > amax) amax = fabsf(x[l]), v = x[l];
    return v / (float)-nmax;
}

static float fmax_arr(const float *x, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) m = fmaxf(m, x[i]);
    return m;
}

/* Quantizes super-block scales/mins (all >= 0) to 0..lmax against d = max / lmax. */
static float quant_levels(const float *v, int n, int lmax, uint8_t *out) {
    float d = fmax_arr(v, n) / (float)lmax;
    float dd = cl_f16_to_f32(cl_f32_to_f16(d)), id = dd > 0 ? 1.0f / dd : 0.0f;
    for (int i = 0; i < n; i++) out[i] = (uint8_t)cl_clampi(cl_nearest_int(v[i] * id), 0, lmax);
    return d;
}

/* q = round((x + dm) / ds) in 0..nmax. */
static void quant_offset(const float *x, int n, float ds, float dm, int nmax, uint8_t *q) {
    float id = ds != 0 ? 1.0f / ds : 0.0f;
    for (int l = 0; l < n; l++) q[l] = (uint8_t)cl_clampi(cl_nearest_int((x[l] + dm) * id), 0, nmax);
}

static void quant_q2_K(const float *x, cl_block_q2_K *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK_K) {
        float scale[16], min[16];
        uint8_t ls[16], lm[16], q[CL_QK_K];
        for (int s = 0; s < 16; s++) range_scale_min(x + 16 * s, 16, 3, &scale[s], &min[s]);
        cl_wr16(&b[i].d, cl_f32_to_f16(quant_levels(scale, 16, 15, ls)));
        cl_wr16(&b[i].dmin, cl_f32_to_f16(quant_levels(min, 16, 15, lm)));
        float d = cl_f16_to_f32(cl_rd16(&b[i].d)), dmin = cl_f16_to_f32(cl_rd16(&b[i].dmin));
        for (int s = 0; s < 16; s++) {
            b[i].scales[s] = (uint8_t)(ls[s] | lm[s] << 4);
            quant_offset(x + 16 * s, 16, d * ls[s], dmin * lm[s], 3, q + 16 * s);
        }
        memset(b[i].qs, 0, sizeof b[i].qs);
        for (int v = 0; v < CL_QK_K; v++) b[i].qs[32 * (v / 128) + v % 32] |= (uint8_t)(q[v] << (2 * ((v / 32) % 4)));
    }
}

static void quant_q3_K(const float *x, cl_block_q3_K *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK_K) {
        float scale[16], maxs = 0, maxs_signed = 0;
        for (int s = 0; s < 16; s++) {
            scale[s] = sym_scale(x + 16 * s, 16, 4);
            if (fabsf(scale[s]) > maxs) maxs = fabsf(scale[s]), maxs_signed = scale[s];
        }
        /* The largest scale maps to -32 (the 6-bit range is -32..31). */
        float iscale = maxs_signed != 0 ? -32.0f / maxs_signed : 0.0f;
        cl_wr16(&b[i].d, cl_f32_to_f16(iscale != 0 ? 1.0f / iscale : 0.0f));
        float d = cl_f16_to_f32(cl_rd16(&b[i].d));
        memset(b[i].scales, 0, sizeof b[i].scales);
        memset(b[i].qs, 0, sizeof b[i].qs);
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (int s = 0; s < 16; s++) {
            int sc = cl_clampi(cl_nearest_int(iscale * scale[s]), -32, 31);
            int u6 = sc + 32;
            if (s < 8) b[i].scales[s] |= (uint8_t)(u6 & 0xF);
            else b[i].scales[s - 8] |= (uint8_t)((u6 & 0xF) << 4);
            b[i].scales[8 + s % 4] |= (uint8_t)((u6 >> 4) << (2 * (s / 4)));
            float ds = d * sc, id = ds != 0 ? 1.0f / ds : 0.0f;
            for (int l = 0; l < 16; l++) {
                int v = 16 * s + l, n = v / 128, j = (v / 32) % 4, k = v % 32;
                int u = cl_clampi(cl_nearest_int(x[v] * id), -4, 3) + 4; /* 0..7 */
                b[i].qs[32 * n + k] |= (uint8_t)((u & 3) << (2 * j));
                b[i].hmask[k] |= (uint8_t)((u >> 2) << (4 * n + j));
            }
        }
    }
}

/* Q4_K / Q5_K scales: 8 scales and 8 mins of 6 bits in 12 bytes (see cl_k4_scale_min). */
static void pack_k4_scales(const uint8_t *ls, const uint8_t *lm, uint8_t *q) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(ls[j] | (ls[j + 4] >> 4) << 6);
        q[j + 4] = (uint8_t)(lm[j] | (lm[j + 4] >> 4) << 6);
        q[j + 8] = (uint8_t)((ls[j + 4] & 0xF) | (lm[j + 4] & 0xF) << 4);
    }
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): scales, mins and q (0..nmax) per value.
 * dp and dminp point at the block's f16 fields, which may be unaligned. */
static void quant_k4_common(const float *x, int nmax, void *dp, void *dminp, uint8_t *scales, uint8_t *q) {
    float scale[8], min[8];
    uint8_t ls[8], lm[8];
    for (int s = 0; s < 8; s++) range_scale_min(x + 32 * s, 32, nmax, &scale[s], &min[s]);
    cl_wr16(dp, cl_f32_to_f16(quant_levels(scale, 8, 63, ls)));
    cl_wr16(dminp, cl_f32_to_f16(quant_levels(min, 8, 63, lm)));
    float d = cl_f16_to_f32(cl_rd16(dp)), dmin = cl_f16_to_f32(cl_rd16(dminp));
    pack_k4_scales(ls, lm, scales);
    for (int s = 0; s < 8; s++) quant_offset(x + 32 * s, 32, d * ls[s], dmin * lm[s], nmax, q + 32 * s);
}

static void quant_q4_K(const float *x, cl_block_q4_K *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK_K) {
        uint8_t q[CL_QK_K];
        quant_k4_common(x, 15, &b[i].d, &b[i].dmin, b[i].scales, q);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) b[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | q[64 * c + 32 + l] << 4);
    }
}

static void quant_q5_K(const float *x, cl_block_q5_K *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK_K) {
        uint8_t q[CL_QK_K];
        quant_k4_common(x, 31, &b[i].d, &b[i].dmin, b[i].scales, q);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                b[i].qs[32 * c + l] = (uint8_t)((lo & 0xF) | (hi & 0xF) << 4);
                b[i].qh[l] |= (uint8_t)((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
            }
    }
}

static void quant_q6_K(const float *x, cl_block_q6_K *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK_K) {
        float scale[16], maxs = 0, maxs_signed = 0;
        for (int s = 0; s < 16; s++) {
            scale[s] = sym_scale(x + 16 * s, 16, 32);
            if (fabsf(scale[s]) > maxs) maxs = fabsf(scale[s]), maxs_signed = scale[s];
        }
        /* The largest scale maps to -128 (int8 scales). */
        float iscale = maxs_signed != 0 ? -128.0f / maxs_signed : 0.0f;
        cl_wr16(&b[i].d, cl_f32_to_f16(iscale != 0 ? 1.0f / iscale : 0.0f));
        float d = cl_f16_to_f32(cl_rd16(&b[i].d));
        uint8_t q[CL_QK_K];
        for (int s = 0; s < 16; s++) {
            int sc = cl_clampi(cl_nearest_int(iscale * scale[s]), -128, 127);
            b[i].scales[s] = (int8_t)sc;
            float ds = d * sc, id = ds != 0 ? 1.0f / ds : 0.0f;
            for (int l = 0; l < 16; l++) q[16 * s + l] = (uint8_t)(cl_clampi(cl_nearest_int(x[16 * s + l] * id), -32, 31) + 32);
        }
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int v = 0; v < CL_QK_K; v++) {
            int n = v / 128, j = (v / 32) % 4, l = v % 32;
            uint8_t *ql = &b[i].ql[64 * n + 32 * (j & 1) + l];
            if (j < 2) *ql = q[v] & 0xF;
            else *ql |= (uint8_t)((q[v] & 0xF) << 4);
            b[i].qh[32 * n + l] |= (uint8_t)((q[v] >> 4) << (2 * j));
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
