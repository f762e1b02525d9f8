/* AVX-512 (F/VL + VNNI; Cascade Lake, Ice Lake, Zen 4, Sapphire Rapids): the AVX2
 * kernels recompiled with vpdpbusd for the u8 x s8 products (see x86_avx2.c), and with
 * AVX-512VL's 32 vector registers, which let the 16-row kernels hold 4 activation rows
 * per tile instead of 2. No BF16 instruction: Ice Lake and Cascade Lake get this set.
 * Measured on Zen 4, 256-bit VNNI kernels beat 512-bit ones holding two 32-value
 * blocks per register (the per-block scale shuffles cost more than the halved
 * instruction count saves), so the vector width stays 256. */
#define CL_SET_ID avx512

#include "x86_avx2.c"
