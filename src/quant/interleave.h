/* Blocks of 8 weight rows interleaved for the 8-row kernels (kernels.h, gemm8x).
 *
 * An 8-row kernel keeps one 32-bit lane per row: one u8 x s8 four-byte dot product
 * against four activation bytes broadcast to every lane then advances all 8 rows. In
 * these layouts, block i of rows 8g..8g+7 is stored as one x8 block whose quant bytes
 * are already in that lane order (four bytes of row 0, of row 1, ..., of row 7, then
 * the next four bytes of each row) and whose f16 scales sit side by side, so the kernel
 * loads what it multiplies with no transposes or gathers. The layouts do not depend on
 * the ISA: any SIMD width that holds 8 (or 4) 32-bit lanes reads them as they are.
 * Sizes equal 8 stored blocks: memory and bandwidth are unchanged.
 *
 * A matrix of N rows (N a multiple of 8) becomes N/8 groups; group g is row_bytes * 8
 * bytes at data + 8 g row_bytes, holding its x8 blocks in order. */
#ifndef CL_INTERLEAVE_H
#define CL_INTERLEAVE_H

#include <stddef.h>
#include <stdint.h>

#include "quant/quant.h"

/* Q4_0, 8 rows: qs[j][4r..4r+3] = bytes 4j..4j+3 of row r's qs, i.e. values 4j..4j+3
 * in the low nibbles and 16+4j.. in the high nibbles. */
typedef struct {
    cl_f16 d[8];
    uint8_t qs[4][32];
} CL_BLOCK cl_block_q4_0x8;
_Static_assert(sizeof(cl_block_q4_0x8) == 8 * sizeof(cl_block_q4_0), "Q4_0x8 block size");

/* Q8_0, 8 rows: qs[j][4r..4r+3] = values 4j..4j+3 of row r, plus 128 (unsigned, the
 * operand the u8 x s8 product wants). */
typedef struct {
    cl_f16 d[8];
    uint8_t qs[8][32];
} CL_BLOCK cl_block_q8_0x8;
_Static_assert(sizeof(cl_block_q8_0x8) == 8 * sizeof(cl_block_q8_0), "Q8_0x8 block size");

/* Q4_K, 8 rows: scales[k][4r..] = scale bytes 4k..4k+3 of row r (still packed 6-bit);
 * qs[c][j][4r..] = bytes 32c+4j..32c+4j+3 of row r's qs (sub-block 2c in the low
 * nibbles, 2c+1 in the high). */
typedef struct {
    cl_f16 d[8];
    cl_f16 dmin[8];
    uint8_t scales[3][32];
    uint8_t qs[4][8][32];
} CL_BLOCK cl_block_q4_Kx8;
_Static_assert(sizeof(cl_block_q4_Kx8) == 8 * sizeof(cl_block_q4_K), "Q4_Kx8 block size");

/* Q6_K, 8 rows. Activation block 4 h + j of a super-block (j < 4) meets, for word k <
 * 8 (values 4k..4k+3 of the block), the bytes q[h][k][*][4r..4r+3] of row r:
 * q[h][k][j] holds the 6-bit q' of those values in bits 0..5 for j < 3, and bits 6..7 of
 * q[h][k][0], [1] and [2] hold bits 0..1, 2..3 and 4..5 of block 3's q'. So one word's
 * four registers unpack with a few masks and shifts (about 11 operations, 40 on the
 * stored ql/qh split), and a block is read as one sequential stream. scales[k][4r..] =
 * row r's int8 scales 4k, 4k+2, 4k+1, 4k+3: the 16-bit halves of the lane then pair the
 * two sub-blocks of one activation block (4k and 4k+1 in the low bytes, 4k+2 and 4k+3
 * in the high ones). */
typedef struct {
    cl_f16 d[8];
    int8_t scales[4][32];
    uint8_t q[2][8][3][32];
} CL_BLOCK cl_block_q6_Kx8;
_Static_assert(sizeof(cl_block_q6_Kx8) == 8 * sizeof(cl_block_q6_K), "Q6_Kx8 block size");

/* 1 if `type` has an x8 layout. */
int cl_interleave_supported(int type);

/* Interleaves rows `src`, src + row_bytes, ..., src + 7 row_bytes (n values each) into
 * one group of x8 blocks at dst (8 row_bytes bytes). Nothing if the type has no x8
 * layout. */
void cl_interleave8(int type, const void *src, size_t row_bytes, void *dst, int64_t n);

#endif
