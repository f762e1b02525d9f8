/* NEON kernels with the dot-product extension (ARMv8.2 sdot, FEAT_DotProd: Apple M1 and
 * later, Cortex-A55/A76 and later, Neoverse): arm.c recompiled with CL_ARM_DOTPROD and
 * -march=armv8.2-a+dotprod, chosen at run time from the CPU's hwcaps. */
#define CL_ARM_DOTPROD 1
#define CL_ARM_NAME "neon-dotprod"
#define CL_ARM_EXPORT cl_kernels_neon_dotprod

#include "arm.c"
