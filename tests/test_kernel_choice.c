/* The chooser (src/kernels/dispatch.c) against CPUs this machine is not:
 *  1. for the /proc/cpuinfo flags of real CPU generations, cl_kernels_choose picks the
 *     set that generation should get (Haswell avx2, Alder Lake avx-vnni, Cascade Lake
 *     and Ice Lake avx512 without BF16, Zen 4 and Sapphire Rapids avx512-bf16, ...; ARM
 *     cores with and without sdot);
 *  2. on this machine, the features read from CPUID/XCR0 (or the hwcaps) are the ones
 *     Linux lists in /proc/cpuinfo (skipped when that file is not this architecture's,
 *     as under qemu-user), and cl_kernels_get() is the set chosen for them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/features.h"
#include "kernels/dispatch.h"

static const struct {
    const char *cpu, *flags, *want;
} cases[] = {
    {"Sandy Bridge (AVX only)", "x86-64 fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt aes xsave avx", "generic"},
    {"Haswell", "x86-64 sse4_2 movbe popcnt aes xsave avx f16c rdrand fma bmi1 avx2 bmi2 erms invpcid", "avx2"},
    {"Knights Landing (AVX-512 without BW/VL)", "x86-64 avx f16c fma avx2 avx512f avx512pf avx512er avx512cd",
     "avx2"},
    {"Skylake-SP (AVX-512 without VNNI)",
     "x86-64 avx f16c fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl", "avx2"},
    {"Alder Lake (P+E cores, no AVX-512)",
     "x86-64 avx f16c fma avx2 bmi2 sha_ni gfni vaes vpclmulqdq avx_vnni movdiri movdir64b serialize", "avx-vnni"},
    {"Sierra Forest", "x86-64 avx f16c fma avx2 avx_vnni avx_vnni_int8 avx_ne_convert avx_ifma cmpccxadd", "avx-vnni"},
    {"Cascade Lake", "x86-64 avx f16c fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni", "avx512"},
    {"Ice Lake server",
     "x86-64 avx f16c fma avx2 avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512vbmi avx512_vbmi2 "
     "gfni vaes avx512_vnni avx512_bitalg avx512_vpopcntdq",
     "avx512"},
    {"Zen 4", "x86-64 avx f16c fma avx2 avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16 "
              "avx512vbmi avx512_vbmi2 avx512_vnni avx512_bitalg avx512_vpopcntdq",
     "avx512-bf16"},
    {"Cooper Lake", "x86-64 avx f16c fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni avx512_bf16",
     "avx512-bf16"},
    {"Sapphire Rapids", "x86-64 avx f16c fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx_vnni avx512_bf16 "
                        "avx512_vnni avx512_fp16 amx_bf16 amx_tile amx_int8",
     "avx512-bf16"},
    {"Cortex-A57 (ARMv8.0)", "aarch64 fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid", "neon"},
    {"Cortex-A76", "aarch64 fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
                   "dcpop asimddp",
     "neon-dotprod"},
    {"Neoverse V1 (Graviton 3)", "aarch64 fp asimd aes pmull sha1 sha2 crc32 atomics asimddp sve i8mm bf16",
     "neon-dotprod"},
};

/* This architecture's feature line of /proc/cpuinfo, or NULL. */
static char *cpuinfo_flags(char *buf, size_t cap) {
#if defined(__x86_64__)
    const char *key = "flags";
#elif defined(__aarch64__)
    const char *key = "Features";
#else
    return NULL;
#endif
    FILE *f = fopen("/proc/cpuinfo", "r");
    char *found = NULL;
    while (f && !found && fgets(buf, (int)cap, f)) {
        char *colon = strchr(buf, ':');
        if (!strncmp(buf, key, strlen(key)) && colon) found = colon + 1;
    }
    if (f) fclose(f);
    return found;
}

static void print_bits(unsigned m) {
    for (int b = 0; b < 32; b++)
        if (m >> b & 1) printf(" %s", cl_cpu_feature_name(b) ? cl_cpu_feature_name(b) : "?");
}

int main(void) {
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned f = cl_cpu_features_parse(cases[i].flags);
        const char *got = cl_kernel_set_name(cl_kernels_choose(f, 1));
        int ok = !strcmp(got, cases[i].want);
        printf("%-42s -> %-13s%s\n", cases[i].cpu, got, ok ? "  ok" : "  FAIL");
        if (!ok) printf("FAIL %s: expected %s\n", cases[i].cpu, cases[i].want);
        failed |= !ok;
    }

    unsigned have = cl_cpu_features(), arch = CL_CPU_X86_64 | CL_CPU_AARCH64;
    const char *chosen = cl_kernel_set_name(cl_kernels_choose(have, 0));
    printf("this CPU:");
    print_bits(have);
    printf(" -> %s\n", chosen);
    if (strcmp(chosen, cl_kernels_get()->isa)) {
        printf("FAIL: cl_kernels_get() is %s, not the set chosen for this CPU's features\n", cl_kernels_get()->isa);
        failed = 1;
    }
    static char line[1 << 16];
    char *flags = cpuinfo_flags(line, sizeof line);
    if (!flags) {
        printf("skipped: /proc/cpuinfo has no feature line of this architecture (qemu-user?)\n");
    } else {
        unsigned linux_says = cl_cpu_features_parse(flags) & ~arch, we_say = have & ~arch;
        if (linux_says != we_say) {
            printf("FAIL: CPUID/XCR0 (or hwcaps) and /proc/cpuinfo disagree: only ours:");
            print_bits(we_say & ~linux_says);
            printf("; only Linux's:");
            print_bits(linux_says & ~we_say);
            printf("\n");
            failed = 1;
        } else {
            printf("the features read from the CPU are those /proc/cpuinfo lists  ok\n");
        }
    }
    printf("test_kernel_choice: %s\n", failed ? "FAILED" : "ok");
    return failed;
}
