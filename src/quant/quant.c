/* Type traits, half-precision conversions, and the scalar reference codecs of the
 * float and legacy 32-value block types. K-quants are in quant_k.c. */
#include "quant/quant.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const cl_type_traits traits[CL_TYPE_COUNT] = {
    [CL_TYPE_F32] = {"F32", 1, 4, 1},
    [CL_TYPE_F16] = {"F16", 1, 2, 1},
    [CL_TYPE_BF16] = {"BF16", 1, 2, 1},
    [CL_TYPE_Q4_0] = {"Q4_0", CL_QK, sizeof(cl_block_q4_0), 1},
    [CL_TYPE_Q4_1] = {"Q4_1", CL_QK, sizeof(cl_block_q4_1), 1},
    [CL_TYPE_Q5_0] = {"Q5_0", CL_QK, sizeof(cl_block_q5_0), 1},
    [CL_TYPE_Q5_1] = {"Q5_1", CL_QK, sizeof(cl_block_q5_1), 1},
    [CL_TYPE_Q8_0] = {"Q8_0", CL_QK, sizeof(cl_block_q8_0), 1},
    /* ggml's activation formats: known so a file using them gets a clear error. */
    [CL_TYPE_Q8_1] = {"Q8_1", CL_QK, 36, 0},
    [CL_TYPE_Q8_K] = {"Q8_K", CL_QK_K, 292, 0},
    [CL_TYPE_Q2_K] = {"Q2_K", CL_QK_K, sizeof(cl_block_q2_K), 1},
    [CL_TYPE_Q3_K] = {"Q3_K", CL_QK_K, sizeof(cl_block_q3_K), 1},
    [CL_TYPE_Q4_K] = {"Q4_K", CL_QK_K, sizeof(cl_block_q4_K), 1},
    [CL_TYPE_Q5_K] = {"Q5_K", CL_QK_K, sizeof(cl_block_q5_K), 1},
    [CL_TYPE_Q6_K] = {"Q6_K", CL_QK_K, sizeof(cl_block_q6_K), 1},
};

const cl_type_traits *cl_type_info(int type) {
    if (type < 0 || type >= CL_TYPE_COUNT || !traits[type].name) return NULL;
    return &traits[type];
}

const char *cl_type_name(int type) {
    const cl_type_traits *t = cl_type_info(type);
    if (t) return t->name;
    static _Thread_local char buf[32];
    snprintf(buf, sizeof buf, "unknown(%d)", type);
    return buf;
}

size_t cl_row_size(int type, int64_t n) {
    const cl_type_traits *t = cl_type_info(type);
    if (!t || n < 0 || n % t->block_size) return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}

/* ---- half precision ---- */

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float cl_f16_to_f32(cl_f16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 0) { /* zero or subnormal: mant * 2^-24 */
        float f = (float)mant * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 31) return bits_f32(sign | 0x7F800000u | mant << 13);
    return bits_f32(sign | (exp + 112) << 23 | mant << 13);
}

/* Round to nearest, ties to even; overflow to infinity; NaN stays NaN (quiet). */
cl_f16 cl_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    u &= 0x7FFFFFFFu;
    if (u >= 0x7F800000u) return sign | 0x7C00 | (u > 0x7F800000u ? 0x200 : 0);
    if (u >= 0x477FF000u) return sign | 0x7C00; /* >= 65520 rounds past 65504 */
    if (u < 0x38800000u) {                     /* below 2^-14: subnormal result */
        /* x * 2^24 is exact and < 2^10; adding 2^23 rounds it to an integer (ties
         * to even) in the low mantissa bits. 1024 encodes the smallest normal. */
        float x = bits_f32(u) * 0x1p24f + 0x1p23f;
        return sign | (uint16_t)(f32_bits(x) - 0x4B000000u);
    }
    return sign | (uint16_t)((u - 0x38000000u + 0xFFFu + ((u >> 13) & 1)) >> 13);
}

float cl_bf16_to_f32(cl_bf16 h) { return bits_f32((uint32_t)h << 16); }

cl_bf16 cl_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (cl_bf16)((u >> 16) | 0x40);
    return (cl_bf16)((u + 0x7FFFu + ((u >> 16) & 1)) >> 16);
}

/* ---- dequantization: value order within each block is the order of x[] ---- */

static void dequant_q4_0(const cl_block_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += CL_QK) {
        float d = cl_f16_to_f32(cl_rd16(&b[i].d));
        for (int j = 0; j < CL_QK / 2; j++) {
            y[j] = d * ((b[i].qs[j] & 0xF) - 8);
            y[j + 16] = d * ((b[i].qs[j] >> 4) - 8);
        }
    }
}

static void dequant_q4_1(const cl_block_q4_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += CL_QK) {
        float d = cl_f16_to_f32(cl_rd16(&b[i].d)), m = cl_f16_to_f32(cl_rd16(&b[i].m));
        for (int j = 0; j < CL_QK / 2; j++) {
            y[j] = d * (b[i].qs[j] & 0xF) + m;
            y[j + 16] = d * (b[i].qs[j] >> 4) + m;
        }
    }
}

static void dequant_q5_0(const cl_block_q5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += CL_QK) {
        float d = cl_f16_to_f32(cl_rd16(&b[i].d));
        uint32_t qh = cl_rd32(b[i].qh);
        for (int j = 0; j < CL_QK / 2; j++) {
            int lo = (b[i].qs[j] & 0xF) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = d * (lo - 16);
            y[j + 16] = d * (hi - 16);
        }
    }
}

static void dequant_q5_1(const cl_block_q5_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += CL_QK) {
        float d = cl_f16_to_f32(cl_rd16(&b[i].d)), m = cl_f16_to_f32(cl_rd16(&b[i].m));
        uint32_t qh = cl_rd32(b[i].qh);
        for (int j = 0; j < CL_QK / 2; j++) {
            int lo = (b[i].qs[j] & 0xF) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = d * lo + m;
            y[j + 16] = d * hi + m;
        }
    }
}

static void dequant_q8_0(const cl_block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += CL_QK) {
        float d = cl_f16_to_f32(cl_rd16(&b[i].d));
        for (int j = 0; j < CL_QK; j++) y[j] = d * b[i].qs[j];
    }
}

void cl_dequantize_row(int type, const void *src, float *dst, int64_t n) {
    const cl_type_traits *t = cl_type_info(type);
    if (!t || !t->weight || n % t->block_size) return;
    int64_t nb = n / t->block_size;
    switch (type) {
    case CL_TYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case CL_TYPE_F16: {
        const uint8_t *p = src;
        for (int64_t i = 0; i < n; i++) dst[i] = cl_f16_to_f32(cl_rd16(p + 2 * i));
        break;
    }
    case CL_TYPE_BF16: {
        const uint8_t *p = src;
        for (int64_t i = 0; i < n; i++) dst[i] = cl_bf16_to_f32(cl_rd16(p + 2 * i));
        break;
    }
    case CL_TYPE_Q4_0: dequant_q4_0(src, dst, nb); break;
    case CL_TYPE_Q4_1: dequant_q4_1(src, dst, nb); break;
    case CL_TYPE_Q5_0: dequant_q5_0(src, dst, nb); break;
    case CL_TYPE_Q5_1: dequant_q5_1(src, dst, nb); break;
    case CL_TYPE_Q8_0: dequant_q8_0(src, dst, nb); break;
    default: cl_dequantize_row_k(type, src, dst, n); break;
    }
}

/* ---- quantization: the reference's quantizers (llama.cpp's quantize_row_*_ref, which
 * gguf-py's numpy quantizers mirror), byte for byte ----
 * Each value is scaled by id = 1/d and converted to an integer the way the reference
 * does it: by truncating (x * id + offset + 0.5) toward zero (Q4_0..Q5_1: ties round
 * up, and the sum is rounded to float first), or with roundf (Q8_0: ties away from
 * zero). Keep the float operations in this order and unfused (no FMA contraction; see
 * quant_k.c), or the bytes drift from the reference's at rounding boundaries.
 * Non-finite rows are rejected by callers; they must only not crash here. */

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* (int)v, truncated toward zero, for a v the reference converts with a C cast. A NaN or
 * a value beyond the int range (reached only from non-finite input, or from id = 1/d
 * overflowing for a block of values below ~1e-37) gives 0: what that cast yields on
 * x86-64 (cvttss2si's 0x80000000, low byte 0) and what numpy's astype gives. */
static inline int trunc_int(float v) { return v > -2147483648.0f && v < 2147483648.0f ? (int)v : 0; }

/* The value of largest magnitude, with its sign (the first one on ties; 0 if all are 0). */
static float signed_absmax(const float *x, int n) {
    float amax = 0, v = 0;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) amax = fabsf(x[j]), v = x[j];
    return v;
}

/* Smallest and largest value of x[0..n). */
static void min_max(const float *x, int n, float *mn, float *mx) {
    *mn = FLT_MAX, *mx = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < *mn) *mn = x[j];
        if (x[j] > *mx) *mx = x[j];
    }
}

/* Q4_0 / Q5_0: d = (signed absmax) / -2^(bits-1), so the extreme value maps to level 0
 * and the opposite side reaches 2^bits - 1 at most. Returns levels 0..nmax in q[32]. */
static float quant_sym_levels(const float *x, float half, int nmax, uint8_t *q) {
    const float d = signed_absmax(x, CL_QK) / -half;
    const float id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < CL_QK; j++) {
        const float v = x[j] * id;
        q[j] = (uint8_t)cl_clampi(trunc_int(v + (half + 0.5f)), 0, nmax);
    }
    return d;
}

/* Q4_1 / Q5_1: d = (max - min) / nmax, x ~= d * q + min. Returns levels in q[32]. */
static float quant_min_levels(const float *x, int nmax, float *min, uint8_t *q) {
    float mn, mx;
    min_max(x, CL_QK, &mn, &mx);
    const float d = (mx - mn) / (float)nmax;
    const float id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < CL_QK; j++) {
        const float v = (x[j] - mn) * id;
        q[j] = (uint8_t)cl_clampi(trunc_int(v + 0.5f), 0, nmax);
    }
    *min = mn;
    return d;
}

/* 4-bit levels: value j in the low nibble of qs[j], value j + 16 in the high nibble. */
static void pack_nibbles(const uint8_t *q, uint8_t *qs) {
    for (int j = 0; j < CL_QK / 2; j++) qs[j] = (uint8_t)((q[j] & 0xF) | (q[j + 16] & 0xF) << 4);
}

/* 5-bit levels: low 4 bits as pack_nibbles, bit 4 of value j in bit j of qh. */
static uint32_t pack_fifth_bits(const uint8_t *q) {
    uint32_t qh = 0;
    for (int j = 0; j < CL_QK; j++) qh |= (uint32_t)(q[j] >> 4) << j;
    return qh;
}

static void quant_q4_0(const float *x, cl_block_q4_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK) {
        uint8_t q[CL_QK];
        cl_wr16(&b[i].d, cl_f32_to_f16(quant_sym_levels(x, 8.0f, 15, q)));
        pack_nibbles(q, b[i].qs);
    }
}

static void quant_q4_1(const float *x, cl_block_q4_1 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK) {
        uint8_t q[CL_QK];
        float min;
        cl_wr16(&b[i].d, cl_f32_to_f16(quant_min_levels(x, 15, &min, q)));
        cl_wr16(&b[i].m, cl_f32_to_f16(min));
        pack_nibbles(q, b[i].qs);
    }
}

static void quant_q5_0(const float *x, cl_block_q5_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK) {
        uint8_t q[CL_QK];
        cl_wr16(&b[i].d, cl_f32_to_f16(quant_sym_levels(x, 16.0f, 31, q)));
        cl_wr32(b[i].qh, pack_fifth_bits(q));
        pack_nibbles(q, b[i].qs);
    }
}

static void quant_q5_1(const float *x, cl_block_q5_1 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK) {
        uint8_t q[CL_QK];
        float min;
        cl_wr16(&b[i].d, cl_f32_to_f16(quant_min_levels(x, 31, &min, q)));
        cl_wr16(&b[i].m, cl_f32_to_f16(min));
        cl_wr32(b[i].qh, pack_fifth_bits(q));
        pack_nibbles(q, b[i].qs);
    }
}

static void quant_q8_0(const float *x, cl_block_q8_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += CL_QK) {
        float amax = 0;
        for (int j = 0; j < CL_QK; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float d = amax / 127.0f;
        const float id = d ? 1.0f / d : 0.0f;
        cl_wr16(&b[i].d, cl_f32_to_f16(d));
        for (int j = 0; j < CL_QK; j++) {
            const float v = x[j] * id;
            b[i].qs[j] = (int8_t)cl_clampi(trunc_int(roundf(v)), -127, 127);
        }
    }
}

int cl_quantize_row(int type, const float *src, void *dst, int64_t n) {
    const cl_type_traits *t = cl_type_info(type);
    if (!t || !t->weight || n % t->block_size) return -1;
    int64_t nb = n / t->block_size;
    switch (type) {
    case CL_TYPE_F32: memcpy(dst, src, (size_t)n * 4); return 0;
    case CL_TYPE_F16: {
        uint8_t *p = dst;
        for (int64_t i = 0; i < n; i++) cl_wr16(p + 2 * i, cl_f32_to_f16(src[i]));
        return 0;
    }
    case CL_TYPE_BF16: {
        uint8_t *p = dst;
        for (int64_t i = 0; i < n; i++) cl_wr16(p + 2 * i, cl_f32_to_bf16(src[i]));
        return 0;
    }
    case CL_TYPE_Q4_0: quant_q4_0(src, dst, nb); return 0;
    case CL_TYPE_Q4_1: quant_q4_1(src, dst, nb); return 0;
    case CL_TYPE_Q5_0: quant_q5_0(src, dst, nb); return 0;
    case CL_TYPE_Q5_1: quant_q5_1(src, dst, nb); return 0;
    case CL_TYPE_Q8_0: quant_q8_0(src, dst, nb); return 0;
    default: return cl_quantize_row_k(type, src, dst, n);
    }
}

void cl_quantize_row_q8(const float *x, cl_block_q8 *y, int64_t n) {
    for (int64_t i = 0; i < n / CL_QK; i++, x += CL_QK) {
        float amax = 0;
        for (int j = 0; j < CL_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < CL_QK; j++) {
            int q = cl_clampi(cl_nearest_int(x[j] * id), -127, 127);
            y[i].qs[j] = (int8_t)q;
            sum += q;
        }
        /* The reference keeps the activation scale as F16; so do we, so that both
         * engines multiply by the same number. */
        d = cl_f16_to_f32(cl_f32_to_f16(d));
        y[i].d = d;
        y[i].s = d * (float)sum;
    }
}

void cl_quantize_row_q8k(const float *x, cl_block_q8 *y, int64_t n) {
    for (int64_t i = 0; i < n / CL_QK_K; i++, x += CL_QK_K, y += CL_QK_K / CL_QK) {
        /* The signed value of largest magnitude maps to -127 (so d may be negative). */
        float amax = 0, vmax = 0;
        for (int j = 0; j < CL_QK_K; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), vmax = x[j];
        float iscale = amax != 0 ? -127.0f / vmax : 0.0f, d = amax != 0 ? 1.0f / iscale : 0.0f;
        for (int b = 0; b < CL_QK_K / CL_QK; b++) {
            int sum[2] = {0, 0};
            for (int j = 0; j < CL_QK; j++) {
                int q = cl_clampi(cl_nearest_int(iscale * x[CL_QK * b + j]), -128, 127);
                y[b].qs[j] = (int8_t)q;
                sum[j / 16] += q;
            }
            y[b].d = d;
            y[b].bs[0] = (int16_t)sum[0];
            y[b].bs[1] = (int16_t)sum[1];
        }
    }
}
