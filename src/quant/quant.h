/* Weight types and block formats (ggml type ids, as stored in GGUF).
 *
 * Each quantized type packs `block_size` values into `type_size` bytes. The
 * activation format for dot products is cl_block_q8: 32 values rounded to int8 with
 * one float scale, plus the scaled sum used by types with an offset/min. */
#ifndef CL_QUANT_H
#define CL_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum cl_type {
    CL_TYPE_F32 = 0,
    CL_TYPE_F16 = 1,
    CL_TYPE_Q4_0 = 2,
    CL_TYPE_Q4_1 = 3,
    CL_TYPE_Q5_0 = 6,
    CL_TYPE_Q5_1 = 7,
    CL_TYPE_Q8_0 = 8,
    CL_TYPE_Q8_1 = 9,
    CL_TYPE_Q2_K = 10,
    CL_TYPE_Q3_K = 11,
    CL_TYPE_Q4_K = 12,
    CL_TYPE_Q5_K = 13,
    CL_TYPE_Q6_K = 14,
    CL_TYPE_Q8_K = 15,
    CL_TYPE_BF16 = 30,
    CL_TYPE_COUNT = 40
};

#define CL_QK 32   /* values per block of the legacy types and of activations */
#define CL_QK_K 256 /* values per super-block of the K-quants */

typedef uint16_t cl_f16;
typedef uint16_t cl_bf16;

/* Activation block: x[i] ~= d * qs[i]. Rows quantized for the legacy types (Q8) carry
 * s = d * sum(qs); rows for the K-quants (Q8K), whose 8 blocks per 256 values share d,
 * carry the integer sums of each 16-value half instead (bs[0]: qs[0..15], bs[1]:
 * qs[16..31]), which the K-quants' 16- and 32-value sub-blocks need. */
typedef struct {
    float d;
    union {
        float s;
        int16_t bs[2];
    };
    int8_t qs[CL_QK];
} cl_block_q8;
_Static_assert(sizeof(cl_block_q8) == 40, "activation block size");

typedef struct {
    const char *name;
    int block_size;   /* values per block */
    size_t type_size; /* bytes per block */
    int weight;       /* 1: the engine can use tensors of this type as weights */
} cl_type_traits;

/* NULL for an id this engine does not know at all. */
const cl_type_traits *cl_type_info(int type);
/* "F32", "Q4_K", ... or "unknown(N)" (static storage). */
const char *cl_type_name(int type);
/* Bytes for n values of `type` (n a multiple of the block size), 0 if unknown. */
size_t cl_row_size(int type, int64_t n);

float cl_f16_to_f32(cl_f16 h);
cl_f16 cl_f32_to_f16(float f);
float cl_bf16_to_f32(cl_bf16 h);
cl_bf16 cl_f32_to_bf16(float f);

/* Decodes n values (a multiple of the type's block size) of `src` into `dst`.
 * Scalar reference: the ground truth that SIMD kernels are tested against. */
void cl_dequantize_row(int type, const void *src, float *dst, int64_t n);

/* Encodes n floats (multiple of the block size) as `type`: round-to-nearest
 * quantizers used to build synthetic models and test inputs. Returns 0, or -1 if the
 * type has no quantizer. */
int cl_quantize_row(int type, const float *src, void *dst, int64_t n);

/* Activations: n floats (multiple of 32) to n/32 cl_block_q8. */
void cl_quantize_row_q8(const float *x, cl_block_q8 *y, int64_t n);
/* Activations for the K-quants: n floats (multiple of 256) to n/32 cl_block_q8 where
 * the 8 blocks of each 256 values share the scale the reference's Q8_K would pick. */
void cl_quantize_row_q8k(const float *x, cl_block_q8 *y, int64_t n);

/* Block layouts, byte-exact with GGUF/ggml. All fields are byte-aligned and the
 * blocks are packed back to back in a row, so a block may sit at any address: read
 * multi-byte fields with memcpy / unaligned loads. Value order within a block is given
 * at each dequantizer (quant.c, quant_k.c).
 * CL_BLOCK makes the types' alignment 1 (they have no padding, so layout and size are
 * unchanged): indexing a row of blocks, or naming a field to take its address, through
 * a pointer of 2-byte-aligned type would be undefined at an odd address, and rows sit
 * at odd addresses whenever a file's general.alignment is 1. */
#define CL_BLOCK __attribute__((packed))

/* Q4_0: x = d * (q - 8); q 4-bit, values 0..15 in low nibbles, 16..31 in high. */
typedef struct {
    cl_f16 d;
    uint8_t qs[CL_QK / 2];
} CL_BLOCK cl_block_q4_0;
_Static_assert(sizeof(cl_block_q4_0) == 18, "Q4_0 block size");

/* Q4_1: x = d * q + m. */
typedef struct {
    cl_f16 d;
    cl_f16 m;
    uint8_t qs[CL_QK / 2];
} CL_BLOCK cl_block_q4_1;
_Static_assert(sizeof(cl_block_q4_1) == 20, "Q4_1 block size");

/* Q5_0: x = d * (q - 16); bit 4 of value j is bit j of the little-endian qh. */
typedef struct {
    cl_f16 d;
    uint8_t qh[4];
    uint8_t qs[CL_QK / 2];
} CL_BLOCK cl_block_q5_0;
_Static_assert(sizeof(cl_block_q5_0) == 22, "Q5_0 block size");

/* Q5_1: x = d * q + m. */
typedef struct {
    cl_f16 d;
    cl_f16 m;
    uint8_t qh[4];
    uint8_t qs[CL_QK / 2];
} CL_BLOCK cl_block_q5_1;
_Static_assert(sizeof(cl_block_q5_1) == 24, "Q5_1 block size");

/* Q8_0: x = d * q. */
typedef struct {
    cl_f16 d;
    int8_t qs[CL_QK];
} CL_BLOCK cl_block_q8_0;
_Static_assert(sizeof(cl_block_q8_0) == 34, "Q8_0 block size");

/* Q2_K: 16 sub-blocks of 16; x = d * (sc & 15) * q - dmin * (sc >> 4), q 2-bit. */
typedef struct {
    uint8_t scales[CL_QK_K / 16];
    uint8_t qs[CL_QK_K / 4];
    cl_f16 d;
    cl_f16 dmin;
} CL_BLOCK cl_block_q2_K;
_Static_assert(sizeof(cl_block_q2_K) == 84, "Q2_K block size");

/* Q3_K: 16 sub-blocks of 16; x = d * (sc - 32) * (q - 4 * !hbit), q 2-bit, sc 6-bit. */
typedef struct {
    uint8_t hmask[CL_QK_K / 8];
    uint8_t qs[CL_QK_K / 4];
    uint8_t scales[12];
    cl_f16 d;
} CL_BLOCK cl_block_q3_K;
_Static_assert(sizeof(cl_block_q3_K) == 110, "Q3_K block size");

/* Q4_K: 8 sub-blocks of 32; x = d * sc * q - dmin * m, sc and m 6-bit. */
typedef struct {
    cl_f16 d;
    cl_f16 dmin;
    uint8_t scales[12];
    uint8_t qs[CL_QK_K / 2];
} CL_BLOCK cl_block_q4_K;
_Static_assert(sizeof(cl_block_q4_K) == 144, "Q4_K block size");

/* Q5_K: as Q4_K with a fifth bit per value in qh. */
typedef struct {
    cl_f16 d;
    cl_f16 dmin;
    uint8_t scales[12];
    uint8_t qh[CL_QK_K / 8];
    uint8_t qs[CL_QK_K / 2];
} CL_BLOCK cl_block_q5_K;
_Static_assert(sizeof(cl_block_q5_K) == 176, "Q5_K block size");

/* Q6_K: 16 sub-blocks of 16; x = d * sc * (q - 32), q 6-bit (4 in ql, 2 in qh). */
typedef struct {
    uint8_t ql[CL_QK_K / 2];
    uint8_t qh[CL_QK_K / 4];
    int8_t scales[CL_QK_K / 16];
    cl_f16 d;
} CL_BLOCK cl_block_q6_K;
_Static_assert(sizeof(cl_block_q6_K) == 210, "Q6_K block size");

_Static_assert(sizeof(cl_block_q8) == 40, "activation block size");

/* Scale and min of sub-block j (0..7) of Q4_K/Q5_K: twelve bytes hold eight 6-bit
 * scales and eight 6-bit mins; j < 4 use the low 6 bits of bytes j and j+4, the others
 * combine a nibble of byte j+4 with the top 2 bits of bytes j-4 and j. */
static inline void cl_k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The sixteen signed scales (sc - 32, range -32..31) of a Q3_K block: low 4 bits from
 * the nibbles of bytes 0..7, high 2 bits from bytes 8..11. */
static inline void cl_q3k_scales(const uint8_t *q, int8_t *out) {
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? q[i] & 0xF : q[i - 8] >> 4;
        int hi = (q[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (int8_t)((lo | hi << 4) - 32);
    }
}

/* Unaligned little-endian field access (blocks sit at any address). */
static inline uint16_t cl_rd16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline uint32_t cl_rd32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline float cl_rdf32(const void *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}
static inline void cl_wr16(void *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void cl_wr32(void *p, uint32_t v) { memcpy(p, &v, 4); }

/* Round to nearest (ties to even) without a libm call: adding 1.5 * 2^23 leaves the
 * integer in the low mantissa bits. Inputs are clamped to the range where that holds. */
static inline int cl_nearest_int(float x) {
    x = x > 4194303.0f ? 4194303.0f : x < -4194303.0f ? -4194303.0f : x;
    float f = x + 12582912.0f;
    int32_t i;
    memcpy(&i, &f, 4);
    return (i & 0x007FFFFF) - 0x00400000;
}
static inline int cl_clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* K-quant halves of cl_dequantize_row / cl_quantize_row (quant_k.c). */
int cl_dequantize_row_k(int type, const void *src, float *dst, int64_t n);
int cl_quantize_row_k(int type, const float *src, void *dst, int64_t n);

#endif
