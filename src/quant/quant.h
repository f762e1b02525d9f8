/* Weight types and block formats (ggml type ids, as stored in GGUF).
 *
 * Each quantized type packs `block_size` values into `type_size` bytes. The
 * activation format for dot products is cl_block_q8: 32 values rounded to int8 with
 * one float scale, plus the scaled sum used by types with an offset/min. */
#ifndef CL_QUANT_H
#define CL_QUANT_H

#include <stddef.h>
#include <stdint.h>

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

/* Activation block: x[i] ~= d * qs[i]; s = d * sum(qs). */
typedef struct {
    float d;
    float s;
    int8_t qs[CL_QK];
} cl_block_q8;

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

#endif
