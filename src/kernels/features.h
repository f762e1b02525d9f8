/* CPU features the kernel sets need, as bits of one mask: what dispatch.c reads from
 * the CPU (and the OS: a vector state the kernel does not save is as good as absent),
 * what sets.def says each set needs, and what the compiler flags of a kernel file
 * enable (CL_CPU_COMPILED, from the compiler's predefined macros), so that a kernel
 * file can check at compile time that its flags and its set's CPU test agree. */
#ifndef CL_FEATURES_H
#define CL_FEATURES_H

enum {
    CL_CPU_X86_64 = 1 << 0,
    CL_CPU_AVX2 = 1 << 1,        /* with the OS saving YMM state */
    CL_CPU_FMA = 1 << 2,
    CL_CPU_F16C = 1 << 3,
    CL_CPU_AVX_VNNI = 1 << 4,    /* VEX vpdpbusd/vpdpwssd on 256 bits (Alder Lake, Sierra Forest) */
    CL_CPU_AVX512F = 1 << 5,     /* with the OS saving ZMM and opmask state */
    CL_CPU_AVX512BW = 1 << 6,
    CL_CPU_AVX512DQ = 1 << 7,
    CL_CPU_AVX512VL = 1 << 8,
    CL_CPU_AVX512_VNNI = 1 << 9, /* Cascade Lake, Ice Lake, Zen 4 */
    CL_CPU_AVX512_BF16 = 1 << 10, /* Cooper Lake, Sapphire Rapids, Zen 4 */
    CL_CPU_AMX_TILE = 1 << 11,   /* with the OS offering tile state (XCR0 bits 17, 18) */
    CL_CPU_AMX_INT8 = 1 << 12,
    CL_CPU_AMX_BF16 = 1 << 13,
    CL_CPU_AARCH64 = 1 << 16,    /* Advanced SIMD (NEON) is part of every AArch64 CPU */
    CL_CPU_DOTPROD = 1 << 17,    /* ARMv8.2 sdot/udot (FEAT_DotProd) */
    CL_CPU_I8MM = 1 << 18,       /* ARMv8.6 smmla (FEAT_I8MM) */
};

/* What every x86 SIMD set builds on. */
#define CL_CPU_AVX2_SET (CL_CPU_X86_64 | CL_CPU_AVX2 | CL_CPU_FMA | CL_CPU_F16C)

/* The features the flags of the file being compiled enable (those listed above). */
#define CL_CPU_COMPILED                                                                                        \
    (CL_C_X86_64 | CL_C_AVX2 | CL_C_FMA | CL_C_F16C | CL_C_AVX_VNNI | CL_C_AVX512F | CL_C_AVX512BW |          \
     CL_C_AVX512DQ | CL_C_AVX512VL | CL_C_AVX512_VNNI | CL_C_AVX512_BF16 | CL_C_AMX_TILE | CL_C_AMX_INT8 |   \
     CL_C_AMX_BF16 | CL_C_AARCH64 | CL_C_DOTPROD | CL_C_I8MM)

#ifdef __x86_64__
#define CL_C_X86_64 CL_CPU_X86_64
#else
#define CL_C_X86_64 0
#endif
#ifdef __AVX2__
#define CL_C_AVX2 CL_CPU_AVX2
#else
#define CL_C_AVX2 0
#endif
#ifdef __FMA__
#define CL_C_FMA CL_CPU_FMA
#else
#define CL_C_FMA 0
#endif
#ifdef __F16C__
#define CL_C_F16C CL_CPU_F16C
#else
#define CL_C_F16C 0
#endif
#ifdef __AVXVNNI__
#define CL_C_AVX_VNNI CL_CPU_AVX_VNNI
#else
#define CL_C_AVX_VNNI 0
#endif
#ifdef __AVX512F__
#define CL_C_AVX512F CL_CPU_AVX512F
#else
#define CL_C_AVX512F 0
#endif
#ifdef __AVX512BW__
#define CL_C_AVX512BW CL_CPU_AVX512BW
#else
#define CL_C_AVX512BW 0
#endif
#ifdef __AVX512DQ__
#define CL_C_AVX512DQ CL_CPU_AVX512DQ
#else
#define CL_C_AVX512DQ 0
#endif
#ifdef __AVX512VL__
#define CL_C_AVX512VL CL_CPU_AVX512VL
#else
#define CL_C_AVX512VL 0
#endif
#ifdef __AVX512VNNI__
#define CL_C_AVX512_VNNI CL_CPU_AVX512_VNNI
#else
#define CL_C_AVX512_VNNI 0
#endif
#ifdef __AVX512BF16__
#define CL_C_AVX512_BF16 CL_CPU_AVX512_BF16
#else
#define CL_C_AVX512_BF16 0
#endif
#ifdef __AMX_TILE__
#define CL_C_AMX_TILE CL_CPU_AMX_TILE
#else
#define CL_C_AMX_TILE 0
#endif
#ifdef __AMX_INT8__
#define CL_C_AMX_INT8 CL_CPU_AMX_INT8
#else
#define CL_C_AMX_INT8 0
#endif
#ifdef __AMX_BF16__
#define CL_C_AMX_BF16 CL_CPU_AMX_BF16
#else
#define CL_C_AMX_BF16 0
#endif
#ifdef __aarch64__
#define CL_C_AARCH64 CL_CPU_AARCH64
#else
#define CL_C_AARCH64 0
#endif
#ifdef __ARM_FEATURE_DOTPROD
#define CL_C_DOTPROD CL_CPU_DOTPROD
#else
#define CL_C_DOTPROD 0
#endif
#ifdef __ARM_FEATURE_MATMUL_INT8
#define CL_C_I8MM CL_CPU_I8MM
#else
#define CL_C_I8MM 0
#endif

#endif
