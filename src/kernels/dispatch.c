/* The run-time choice of a kernel set: this CPU's features (CPUID and XCR0 on x86-64,
 * the hwcaps on AArch64), the one ordered list of sets (sets.def) and the scalar set
 * after it. Dependencies run one way: this file calls generic.c and each ISA file's
 * cl_fill_<id>(); no kernel file includes or calls this one. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20) /* Linux arch/arm64 uapi hwcap.h */
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13)
#endif
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#include "cllama.h"
#include "kernels/features.h"
#include "kernels/dispatch.h"

#define CL_SET(id, name, arch, file, flags, needs) void cl_fill_##id(cl_kernels *k);
#include "kernels/sets.def"
#undef CL_SET

/* A set is part of the build on its own architecture only (CMakeLists.txt compiles
 * the files of the target's). */
#if defined(__x86_64__)
#define ON_x86_64(f) f
#else
#define ON_x86_64(f) NULL
#endif
#if defined(__aarch64__)
#define ON_aarch64(f) f
#else
#define ON_aarch64(f) NULL
#endif

static const struct {
    const char *name;
    unsigned needs;
    void (*fill)(cl_kernels *k); /* NULL: not in this build (and for generic: nothing to override) */
} sets[] = {
#define CL_SET(id, name, arch, file, flags, needs) {name, (needs), ON_##arch(cl_fill_##id)},
#include "kernels/sets.def"
#undef CL_SET
    {"generic", 0, NULL},
};
enum { N_SETS = (int)(sizeof sets / sizeof *sets), GENERIC = N_SETS - 1 };

/* Linux's /proc/cpuinfo names ("flags" on x86, "Features" on AArch64) where it has one. */
static const char *const feature_names[32] = {
    [0] = "x86-64",        [1] = "avx2",      [2] = "fma",          [3] = "f16c",          [4] = "avx_vnni",
    [5] = "avx512f",       [6] = "avx512bw",  [7] = "avx512dq",     [8] = "avx512vl",      [9] = "avx512_vnni",
    [10] = "avx512_bf16",  [11] = "amx_tile", [12] = "amx_int8",    [13] = "amx_bf16",     [16] = "aarch64",
    [17] = "asimddp",      [18] = "i8mm",
};

static int built(int i) { return i == GENERIC || sets[i].fill != NULL; }

unsigned cl_cpu_features(void) {
    unsigned f = 0;
#if defined(__x86_64__)
    unsigned a, b, c, d;
    f |= CL_CPU_X86_64;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    unsigned fma = c >> 12 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1, f16c = c >> 29 & 1;
    /* XCR0: which register state the OS saves on a context switch (bits 1-2 XMM/YMM,
     * 5-7 opmask and ZMM, 17-18 tile configuration and data). */
    unsigned lo = 0, hi = 0;
    if (osxsave) __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    int ymm = (lo & 0x6) == 0x6, zmm = ymm && (lo & 0xE0) == 0xE0, tiles = (lo & 0x60000) == 0x60000;
    unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0;
    if (__get_cpuid_max(0, NULL) >= 7) {
        unsigned sub;
        __cpuid_count(7, 0, sub, b7, c7, d7);
        if (sub >= 1) __cpuid_count(7, 1, a71, b, c, d);
    }
    if (ymm && avx) {
        f |= (b7 >> 5 & 1 ? CL_CPU_AVX2 : 0) | (fma ? CL_CPU_FMA : 0) | (f16c ? CL_CPU_F16C : 0) |
             (a71 >> 4 & 1 ? CL_CPU_AVX_VNNI : 0);
    }
    if (zmm) {
        f |= (b7 >> 16 & 1 ? CL_CPU_AVX512F : 0) | (b7 >> 17 & 1 ? CL_CPU_AVX512DQ : 0) |
             (b7 >> 30 & 1 ? CL_CPU_AVX512BW : 0) | (b7 >> 31 & 1 ? CL_CPU_AVX512VL : 0) |
             (c7 >> 11 & 1 ? CL_CPU_AVX512_VNNI : 0) | (a71 >> 5 & 1 ? CL_CPU_AVX512_BF16 : 0);
    }
    if (tiles) {
        f |= (d7 >> 24 & 1 ? CL_CPU_AMX_TILE : 0) | (d7 >> 25 & 1 ? CL_CPU_AMX_INT8 : 0) |
             (d7 >> 22 & 1 ? CL_CPU_AMX_BF16 : 0);
    }
#elif defined(__aarch64__)
    f |= CL_CPU_AARCH64;
#if defined(__linux__)
    f |= (getauxval(AT_HWCAP) & HWCAP_ASIMDDP ? CL_CPU_DOTPROD : 0) | (getauxval(AT_HWCAP2) & HWCAP2_I8MM ? CL_CPU_I8MM : 0);
#elif defined(__APPLE__)
    const char *keys[] = {"hw.optional.arm.FEAT_DotProd", "hw.optional.arm.FEAT_I8MM"};
    const unsigned bits[] = {CL_CPU_DOTPROD, CL_CPU_I8MM};
    for (int i = 0; i < 2; i++) {
        int v = 0;
        size_t len = sizeof v;
        if (sysctlbyname(keys[i], &v, &len, NULL, 0) == 0 && v) f |= bits[i];
    }
#endif
#endif
    return f;
}

unsigned cl_cpu_features_parse(const char *flags) {
    unsigned f = 0;
    while (flags && *flags) {
        size_t n = strcspn(flags, " \t\n");
        for (int b = 0; b < 32; b++)
            if (feature_names[b] && strlen(feature_names[b]) == n && !strncmp(flags, feature_names[b], n)) f |= 1u << b;
        flags += n;
        flags += strspn(flags, " \t\n");
    }
    return f;
}

const char *cl_cpu_feature_name(int bit) { return bit >= 0 && bit < 32 ? feature_names[bit] : NULL; }

int cl_kernel_set_count(void) { return N_SETS; }

const char *cl_kernel_set_name(int i) { return i >= 0 && i < N_SETS ? sets[i].name : NULL; }

unsigned cl_kernel_set_needs(int i) { return i >= 0 && i < N_SETS ? sets[i].needs : 0; }

int cl_kernels_choose(unsigned features, int any_build) {
    for (int i = 0; i < N_SETS; i++)
        if ((sets[i].needs & ~features) == 0 && (any_build || built(i))) return i;
    return GENERIC;
}

static unsigned cpu;
static cl_kernels tables[N_SETS];
static int runs[N_SETS];
static int chosen;
static char usable[96];

static void init(void) {
    cpu = cl_cpu_features();
    size_t len = 0;
    for (int i = 0; i < N_SETS; i++) {
        if (!built(i) || (sets[i].needs & ~cpu)) continue;
        /* fill only where the CPU runs it: the ISA file's own code uses its instructions */
        tables[i] = *cl_kernels_generic();
        tables[i].isa = sets[i].name;
        if (sets[i].fill) sets[i].fill(&tables[i]);
        runs[i] = 1;
        size_t n = strlen(sets[i].name);
        if (len + n + 2 > sizeof usable) continue;
        if (len) usable[len++] = ' ';
        memcpy(usable + len, sets[i].name, n + 1);
        len += n;
    }
    chosen = cl_kernels_choose(cpu, 0);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

const cl_kernels *cl_kernel_set(int i, char *why, size_t cap) {
    pthread_once(&once, init);
    if (i < 0 || i >= N_SETS) return NULL;
    if (runs[i]) return &tables[i];
    if (why && cap) {
        if (!built(i)) {
            snprintf(why, cap, "not built for this architecture");
        } else {
            size_t len = (size_t)snprintf(why, cap, "the CPU lacks");
            unsigned miss = sets[i].needs & ~cpu;
            for (int b = 0; b < 32 && len < cap; b++)
                if (miss >> b & 1) len += (size_t)snprintf(why + len, cap - len, " %s", feature_names[b] ? feature_names[b] : "?");
        }
    }
    return NULL;
}

const cl_kernels *cl_kernels_get(void) {
    pthread_once(&once, init);
    return &tables[chosen];
}

const cl_kernels *cl_kernels_find(const char *name, char *why, size_t cap) {
    if (!name || !*name) return cl_kernels_get();
    for (int i = 0; i < N_SETS; i++)
        if (!strcmp(sets[i].name, name)) return cl_kernel_set(i, why, cap);
    if (why && cap) snprintf(why, cap, "no such set");
    return NULL;
}

const char *cllama_kernel_sets(void) {
    pthread_once(&once, init);
    return usable;
}
