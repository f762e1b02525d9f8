#include "quant/interleave.h"

#include <string.h>

int cl_interleave_supported(int type) {
    return type == CL_TYPE_Q4_0 || type == CL_TYPE_Q8_0 || type == CL_TYPE_Q4_K || type == CL_TYPE_Q6_K;
}

/* Words 0..nw-1 of the 8 byte strings at s, s + stride, ..., lane-ordered into d:
 * d[32 w + 4 r ..] = word w of string r. */
static inline void words8(uint8_t *d, const uint8_t *s, size_t stride, int nw) {
    for (int w = 0; w < nw; w++)
        for (int r = 0; r < 8; r++) memcpy(d + 32 * w + 4 * r, s + r * stride + 4 * w, 4);
}

/* The legacy types' x8 blocks: 8 f16 scales, then nw words of quants in lane order
 * (XOR 0x80 for flip: Q8_0's signed quants as the unsigned operand). Stored blocks are
 * bb bytes, d first and the quants from byte 2. */
static void legacy8(const uint8_t *s, size_t rb, uint8_t *d, int64_t nb, size_t bb, int nw, int flip) {
    for (int64_t i = 0; i < nb; i++, d += 8 * bb) {
        const uint8_t *b = s + i * bb;
        for (int r = 0; r < 8; r++) memcpy(d + 2 * r, b + r * rb, 2);
        words8(d + 16, b + 2, rb, nw);
        if (flip)
            for (int k = 0; k < 32 * nw; k++) d[16 + k] ^= 0x80;
    }
}

void cl_interleave8(int type, const void *src, size_t rb, void *dst, int64_t n) {
    const uint8_t *s = src;
    _Static_assert(offsetof(cl_block_q4_0, qs) == 2 && offsetof(cl_block_q8_0, qs) == 2, "legacy block layout");
    _Static_assert(offsetof(cl_block_q4_0x8, qs) == 16 && offsetof(cl_block_q8_0x8, qs) == 16, "x8 block layout");
    switch (type) {
    case CL_TYPE_Q4_0: legacy8(s, rb, dst, n / CL_QK, sizeof(cl_block_q4_0), 4, 0); break;
    case CL_TYPE_Q8_0: legacy8(s, rb, dst, n / CL_QK, sizeof(cl_block_q8_0), 8, 1); break;
    case CL_TYPE_Q4_K: {
        cl_block_q4_Kx8 *d = dst;
        for (int64_t i = 0; i < n / CL_QK_K; i++, d++) {
            const uint8_t *b = s + i * sizeof(cl_block_q4_K);
            for (int r = 0; r < 8; r++) {
                memcpy(&d->d[r], b + r * rb + offsetof(cl_block_q4_K, d), 2);
                memcpy(&d->dmin[r], b + r * rb + offsetof(cl_block_q4_K, dmin), 2);
            }
            words8(&d->scales[0][0], b + offsetof(cl_block_q4_K, scales), rb, 3);
            for (int c = 0; c < 4; c++) words8(&d->qs[c][0][0], b + offsetof(cl_block_q4_K, qs) + 32 * c, rb, 8);
        }
        break;
    }
    case CL_TYPE_Q6_K: {
        cl_block_q6_Kx8 *d = dst;
        for (int64_t i = 0; i < n / CL_QK_K; i++, d++) {
            const uint8_t *b = s + i * sizeof(cl_block_q6_K);
            for (int r = 0; r < 8; r++) memcpy(&d->d[r], b + r * rb + offsetof(cl_block_q6_K, d), 2);
            words8((uint8_t *)&d->scales[0][0], b + offsetof(cl_block_q6_K, scales), rb, 4);
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < 8; k++) {
                    const uint8_t *ql = b + offsetof(cl_block_q6_K, ql) + 64 * h + 4 * k;
                    words8(d->q[h][k][0], ql, rb, 1);
                    words8(d->q[h][k][1], ql + 32, rb, 1);
                    words8(d->q[h][k][2], b + offsetof(cl_block_q6_K, qh) + 32 * h + 4 * k, rb, 1);
                }
        }
        break;
    }
    default: break;
    }
}
