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

/* Word k (values 4k..4k+3 of each of the four 32-value blocks) of half h of the Q6_K
 * block at x, in the x8 byte format (interleave.h), four bytes at a time: out[j] for
 * j < 3. */
static inline void q6k_word(const uint8_t *x, int h, int k, uint32_t *out) {
    const uint32_t lo = 0x0F0F0F0Fu, hi = 0x30303030u, b2 = 0x03030303u;
    uint32_t l0 = cl_rd32(x + offsetof(cl_block_q6_K, ql) + 64 * h + 4 * k);
    uint32_t l1 = cl_rd32(x + offsetof(cl_block_q6_K, ql) + 64 * h + 32 + 4 * k);
    uint32_t qh = cl_rd32(x + offsetof(cl_block_q6_K, qh) + 32 * h + 4 * k);
    uint32_t v0 = (l0 & lo) | ((qh << 4) & hi), v1 = (l1 & lo) | ((qh << 2) & hi);
    uint32_t v2 = ((l0 >> 4) & lo) | (qh & hi), v3 = ((l1 >> 4) & lo) | ((qh >> 2) & hi);
    out[0] = v0 | (v3 & b2) << 6;
    out[1] = v1 | ((v3 >> 2) & b2) << 6;
    out[2] = v2 | ((v3 >> 4) & b2) << 6;
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
            for (int r = 0; r < 8; r++) {
                const uint8_t *x = b + r * rb;
                memcpy(&d->d[r], x + offsetof(cl_block_q6_K, d), 2);
                const int8_t *sc = (const int8_t *)(x + offsetof(cl_block_q6_K, scales));
                for (int k = 0; k < 4; k++) {
                    static const int pick[4] = {0, 2, 1, 3};
                    for (int e = 0; e < 4; e++) d->scales[k][4 * r + e] = sc[4 * k + pick[e]];
                }
                for (int h = 0; h < 2; h++)
                    for (int k = 0; k < 8; k++) {
                        uint32_t wd[3];
                        q6k_word(x, h, k, wd);
                        for (int j = 0; j < 3; j++) cl_wr32(&d->q[h][k][j][4 * r], wd[j]);
                    }
            }
        }
        break;
    }
    default: break;
    }
}
