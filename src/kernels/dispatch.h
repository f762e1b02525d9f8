/* The choice of a kernel set (dispatch.c): what the engine, the tools and the tests
 * call. No kernel file includes this header. */
#ifndef CL_DISPATCH_H
#define CL_DISPATCH_H

#include "kernels/kernels.h"

/* This CPU's features, as CL_CPU_* bits (features.h). */
unsigned cl_cpu_features(void);
/* The CL_CPU_* bits named in a list of /proc/cpuinfo flags ("avx2 fma f16c ...";
 * "x86-64" and "aarch64" stand for the architecture bits), and the name of one bit. */
unsigned cl_cpu_features_parse(const char *flags);
const char *cl_cpu_feature_name(int bit);
/* The sets of sets.def in order, best first, then "generic": i = 0 .. count-1. */
int cl_kernel_set_count(void);
const char *cl_kernel_set_name(int i);
unsigned cl_kernel_set_needs(int i); /* CL_CPU_* bits */
/* Set i, or NULL with the reason in why (cap bytes; may be NULL): "not built for this
 * architecture" or "the CPU lacks avx512_vnni ...". */
const cl_kernels *cl_kernel_set(int i, char *why, size_t cap);
/* The index of the first set whose needs `features` meets (any_build: also sets not
 * part of this build): what a CPU with those features gets. */
int cl_kernels_choose(unsigned features, int any_build);
/* The best set for this CPU. */
const cl_kernels *cl_kernels_get(void);
/* The set called `name` (NULL or "": cl_kernels_get()), NULL if unknown or this build
 * or CPU lacks it, with the reason in why (as cl_kernel_set; may be NULL). */
const cl_kernels *cl_kernels_find(const char *name, char *why, size_t cap);

#endif
