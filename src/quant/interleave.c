#include "quant/interleave.h"

#include <string.h>

int cl_interleave_supported(int type) {
    return type == CL_TYPE_Q4_0 || type == CL_TYPE_Q8_0 || type == CL_TYPE_Q4_K;
}

/* Words [w0, w0 + nw) of the 8 byte strings at s, s + stride, ..., lane-ordered into
 * d: d[(w - w0) * 32 + 4 r ..] = word w of string r. */
static inline void words8(uint8_t *d, const uint8_t *s, size_t stride, int nw) {
    for (int w = 0; w < nw; w++)
        for (int r = 0; r < 8; r++) memcpy(d + 32 * w + 4 * r, s + r * stride + 4 * w, 4);
}

void cl_interleave8(int type, const void *src, size_t rb, void *dst, int64_t n) {
    const uint8_t *s = src;
    switch (type) {
    case CL_TYPE_Q4_0: {
        cl_block_q4_0x8 *d = dst;
        for (int64_t i = 0; i < n / CL_QK; i++, d++) {
            const uint8_t *b = s + i * sizeof(cl_block_q4_0);
            for (int r = 0; r < 8; r++) memcpy(&d->d[r], b + r * rb + offsetof(cl_block_q4_0, d), 2);
            words8(&d->qs[0][0], b + offsetof(cl_block_q4_0, qs), rb, 4);
        }
        break;
    }
    case CL_TYPE_Q8_0: {
        cl_block_q8_0x8 *d = dst;
        for (int64_t i = 0; i < n / CL_QK; i++, d++) {
            const uint8_t *b = s + i * sizeof(cl_block_q8_0);
            for (int r = 0; r < 8; r++) memcpy(&d->d[r], b + r * rb + offsetof(cl_block_q8_0, d), 2);
            words8(&d->qs[0][0], b + offsetof(cl_block_q8_0, qs), rb, 8);
            for (int k = 0; k < 256; k++) (&d->qs[0][0])[k] ^= 0x80;
        }
        break;
    }
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
    default: break;
    }
}
