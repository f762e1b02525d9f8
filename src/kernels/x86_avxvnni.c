/* AVX2 + AVX-VNNI (Alder Lake and later Intel clients, Sierra Forest; no AVX-512): the
 * AVX2 kernels recompiled with the VEX-encoded vpdpbusd for the u8 x s8 products and
 * the Q8_0 8- and 16-row kernels that need it (see x86_avx2.c). 16 vector registers,
 * so the tiles keep AVX2's sizes. */
#define CL_SET_ID avx_vnni

#include "x86_avx2.c"
