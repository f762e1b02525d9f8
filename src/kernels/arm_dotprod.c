/* NEON kernels with the dot-product extension (ARMv8.2 sdot, FEAT_DotProd: Apple M1 and
 * later, Cortex-A55/A76 and later, Neoverse): arm.c recompiled with
 * -march=armv8.2-a+dotprod (sets.def), chosen at run time from the CPU's hwcaps. */
#define CL_SET_ID neon_dotprod

#include "arm.c"
