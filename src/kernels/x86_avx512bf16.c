/* AVX-512 VNNI + BF16 (Zen 4 and 5, Cooper Lake, Sapphire Rapids and later): the
 * avx512 set plus BF16 weights multiplied with vdpbf16ps against activations rounded to
 * bf16 once per matrix product (CL_ACT_BF16; see x86_avx2.c), as the reference engine
 * does for BF16 weights. */
#define CL_SET_ID avx512_bf16

#include "x86_avx2.c"
