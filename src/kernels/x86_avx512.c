/* AVX-512 (F/BW/VL/DQ + VNNI) dot kernels: the AVX2 kernels recompiled with vpdpbusd
 * for the u8 x s8 products (see x86_avx2.c), and with AVX-512VL's 32 vector registers,
 * which let the 16-row kernels hold 4 activation rows per tile instead of 2. Measured
 * on Zen 4, 256-bit VNNI kernels beat 512-bit ones holding two 32-value blocks per
 * register (the per-block scale shuffles cost more than the halved instruction count
 * saves), so the vector width stays 256. */
#define CL_X86_VNNI 1
#define CL_X86_NAME "avx512"
#define CL_X86_EXPORT cl_kernels_avx512

#include "x86_avx2.c"
