/* Force-included (CMakeLists.txt) into the x86 kernel files when the compiler is clang
 * older than 16, whose __builtin_cpu_supports rejects "f16c" at compile time: the
 * call is routed through a function that reads the F16C bit from CPUID itself and
 * passes every other feature name on to the builtin. Never included otherwise. */
#ifndef CL_CPU_SUPPORTS_COMPAT_H
#define CL_CPU_SUPPORTS_COMPAT_H

#include <cpuid.h>
#include <string.h>

static inline int cl_cpu_supports_compat(const char *f) {
    if (!strcmp(f, "f16c")) {
        unsigned a, b, c, d;
        /* F16C operates on YMM registers, so it also needs the OS support for AVX
         * state that the builtin's "avx" checks. */
        return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) && __builtin_cpu_supports("avx");
    }
#define CL_FEATURE(name) \
    if (!strcmp(f, name)) return __builtin_cpu_supports(name);
    CL_FEATURE("avx") CL_FEATURE("avx2") CL_FEATURE("fma") CL_FEATURE("avx512f") CL_FEATURE("avx512bw")
    CL_FEATURE("avx512vl") CL_FEATURE("avx512dq") CL_FEATURE("avx512vnni") CL_FEATURE("avx512bf16")
#undef CL_FEATURE
    return 0; /* a name not listed above: treat the feature as absent */
}

#define __builtin_cpu_supports(f) cl_cpu_supports_compat(f)

#endif
