#include "cllama_toolkit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "threads.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void cllama_host_info(cllama_host *h) {
    memset(h, 0, sizeof *h);
    snprintf(h->cpu, sizeof h->cpu, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 1;
        while (*v == ' ') v++;
        v[strcspn(v, "\n")] = 0;
        if (!strncmp(line, "model name", 10)) snprintf(h->cpu, sizeof h->cpu, "%s", v);
        if (!strncmp(line, "flags", 5) && !h->isa[0]) {
            static const char *want[] = {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", NULL};
            for (int i = 0; want[i]; i++) {
                char pat[32];
                snprintf(pat, sizeof pat, " %s ", want[i]);
                char padded[4100];
                snprintf(padded, sizeof padded, " %s ", v);
                if (strstr(padded, pat)) {
                    strncat(h->isa, h->isa[0] ? " " : "", sizeof h->isa - strlen(h->isa) - 1);
                    strncat(h->isa, want[i], sizeof h->isa - strlen(h->isa) - 1);
                }
            }
        }
        if (!strncmp(line, "Features", 8) && !h->isa[0]) snprintf(h->isa, sizeof h->isa, "%s", v);
    }
    if (f) fclose(f);
    if (!h->isa[0]) snprintf(h->isa, sizeof h->isa, "scalar");
    h->cores = cl_default_threads();
    h->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    f = fopen("/proc/meminfo", "r");
    unsigned long kb;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %lu kB", &kb) == 1) h->mem_total = (uint64_t)kb * 1024;
        if (sscanf(line, "MemAvailable: %lu kB", &kb) == 1) h->mem_avail = (uint64_t)kb * 1024;
    }
    if (f) fclose(f);
}

typedef struct {
    const uint64_t *buf;
    uint64_t n; /* words */
    uint64_t sink;
} bw_job;

/* Eight independent sums so the loop is bound by loads, not by an add chain; with AVX2,
 * 32-byte loads as the kernels use (8-byte ones cannot saturate memory from 2 cores). */
static uint64_t sum_words(const uint64_t *p, int64_t lo, int64_t hi) {
    uint64_t s[8] = {0};
    for (int64_t i = lo; i + 8 <= hi; i += 8)
        for (int k = 0; k < 8; k++) s[k] += p[i + k];
    uint64_t t = 0;
    for (int k = 0; k < 8; k++) t += s[k];
    return t;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t sum_words_avx2(const uint64_t *p, int64_t lo, int64_t hi) {
    __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int64_t i = lo; i + 16 <= hi; i += 16)
        for (int k = 0; k < 4; k++) s[k] = _mm256_add_epi64(s[k], _mm256_load_si256((const __m256i *)(p + i + 4 * k)));
    uint64_t v[4], t = 0;
    _mm256_storeu_si256((__m256i *)v, _mm256_add_epi64(_mm256_add_epi64(s[0], s[1]), _mm256_add_epi64(s[2], s[3])));
    for (int k = 0; k < 4; k++) t += v[k];
    return t;
}
#endif

static void bw_task(void *arg, int ith, int nth) {
    bw_job *j = arg;
    int64_t lo, hi;
    cl_split((int64_t)j->n, ith, nth, 64, &lo, &hi);
    uint64_t t;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) t = sum_words_avx2(j->buf, lo, hi);
    else t = sum_words(j->buf, lo, hi);
#else
    t = sum_words(j->buf, lo, hi);
#endif
    __atomic_fetch_add(&j->sink, t, __ATOMIC_RELAXED);
}

/* The probe buffer: `bytes` rounded down to whole 64-word chunks, filled so the pages
 * are mapped before any timed pass. NULL if out of memory. */
static uint64_t *bw_buffer(uint64_t bytes, uint64_t *n_words) {
    uint64_t n = bytes / 8 / 64 * 64;
    /* Huge pages where the kernel gives them, as for the weights repack.c interleaves:
     * with 4 KiB pages, TLB misses cost a few percent of the bandwidth. */
    uint64_t *buf = mmap(NULL, n * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return NULL;
    madvise(buf, n * 8, MADV_HUGEPAGE);
    for (uint64_t i = 0; i < n; i++) buf[i] = i;
    *n_words = n;
    return buf;
}

/* Best GB/s of `reps` timed passes over j's buffer on the pool. */
static double bw_passes(cl_pool *pool, bw_job *j, int reps) {
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        cl_pool_run(pool, bw_task, j);
        double gbs = j->n * 8 / (now_s() - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    return best;
}

/* The buffer and the pool of a bandwidth probe; 0, or -1 with nothing left allocated. */
static int bw_setup(int n_threads, uint64_t bytes, bw_job *j, cl_pool **pool) {
    uint64_t n;
    uint64_t *buf = bw_buffer(bytes, &n);
    if (!buf) return -1;
    if (cl_pool_init(n_threads, pool)) {
        munmap(buf, n * 8);
        return -1;
    }
    *j = (bw_job){buf, n, 0};
    return 0;
}

static void bw_teardown(bw_job *j, cl_pool *pool) {
    cl_pool_free(pool);
    munmap((void *)j->buf, j->n * 8); /* the mapping bw_buffer made */
}

double cllama_probe_read_bw(int n_threads, uint64_t bytes, int reps) {
    bw_job j;
    cl_pool *pool;
    if (bw_setup(n_threads, bytes, &j, &pool)) return -1;
    double best = bw_passes(pool, &j, reps);
    bw_teardown(&j, pool);
    return j.sink == 1 ? best + 1e-9 : best; /* keeps the sums live */
}

#define FMA_ITERS 20000000

#if defined(__x86_64__)
/* 12 independent accumulators: enough to cover FMA latency x throughput on current
 * cores. Returns FLOPs done. */
__attribute__((target("avx512f"))) static double fma_avx512(float *out) {
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < 12; k++) a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < FMA_ITERS / 4; i++)
        for (int k = 0; k < 12; k++) a[k] = _mm512_fmadd_ps(a[k], m, c);
    for (int k = 1; k < 12; k++) a[0] = _mm512_add_ps(a[0], a[k]);
    *out = _mm512_reduce_add_ps(a[0]);
    return (double)FMA_ITERS / 4 * 12 * 16 * 2;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(float *out) {
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < FMA_ITERS / 4; i++)
        for (int k = 0; k < 12; k++) a[k] = _mm256_fmadd_ps(a[k], m, c);
    for (int k = 1; k < 12; k++) a[0] = _mm256_add_ps(a[0], a[k]);
    float v[8];
    _mm256_storeu_ps(v, a[0]);
    *out = v[0];
    return (double)FMA_ITERS / 4 * 12 * 8 * 2;
}
#endif

static double fma_scalar(float *out) {
    float a[12];
    for (int k = 0; k < 12; k++) a[k] = (float)k;
    for (long i = 0; i < FMA_ITERS / 8; i++)
        for (int k = 0; k < 12; k++) a[k] = a[k] * 0.999999f + 1e-7f;
    for (int k = 1; k < 12; k++) a[0] += a[k];
    *out = a[0];
    return (double)FMA_ITERS / 8 * 12 * 2;
}

/* 8-bit multiply-accumulate: the operation quantized matmuls run on (u8 x s8 products
 * summed into int32). 12 independent chains, as for FMA. Returns ops done (2 per MAC). */
#define I8_ITERS 10000000

#if defined(__x86_64__)
__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) static double i8_vnni(float *out) {
    __m256i a[12], u = _mm256_set1_epi8(3), v = _mm256_set1_epi8(-2);
    for (int k = 0; k < 12; k++) a[k] = _mm256_set1_epi32(k);
    for (long i = 0; i < I8_ITERS / 4; i++)
        for (int k = 0; k < 12; k++) a[k] = _mm256_dpbusd_epi32(a[k], u, v);
    for (int k = 1; k < 12; k++) a[0] = _mm256_add_epi32(a[0], a[k]);
    *out = (float)_mm256_extract_epi32(a[0], 0);
    return (double)I8_ITERS / 4 * 12 * 32 * 2;
}

/* AVX2 has no 8-bit accumulate: maddubs (u8 x s8 pairs to int16) then madd to int32,
 * as the kernels do it; the int32 adds ride along in the count of MACs. */
__attribute__((target("avx2"))) static double i8_avx2(float *out) {
    __m256i a[12], u = _mm256_set1_epi8(3), v = _mm256_set1_epi8(-2), one = _mm256_set1_epi16(1);
    for (int k = 0; k < 12; k++) a[k] = _mm256_set1_epi32(k);
    for (long i = 0; i < I8_ITERS / 4; i++)
        for (int k = 0; k < 12; k++)
            a[k] = _mm256_add_epi32(a[k], _mm256_madd_epi16(_mm256_maddubs_epi16(u, v), one));
    for (int k = 1; k < 12; k++) a[0] = _mm256_add_epi32(a[0], a[k]);
    *out = (float)_mm256_extract_epi32(a[0], 0);
    return (double)I8_ITERS / 4 * 12 * 32 * 2;
}
#endif

static double i8_scalar(float *out) {
    int32_t a[12];
    for (int k = 0; k < 12; k++) a[k] = k;
    for (long i = 0; i < I8_ITERS / 8; i++)
        for (int k = 0; k < 12; k++) a[k] += (int8_t)(a[k] & 0x7F) * 3;
    for (int k = 1; k < 12; k++) a[0] += a[k];
    *out = (float)a[0];
    return (double)I8_ITERS / 8 * 12 * 2;
}

typedef struct {
    int int8; /* 0: FP32 FMA, 1: 8-bit MAC */
    double flops[1024];
    double secs[1024];
} flops_job;

static void flops_task(void *arg, int ith, int nth) {
    (void)nth;
    flops_job *j = arg;
    float sink;
    double t0 = now_s(), f;
#if defined(__x86_64__)
    if (j->int8) {
        if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) f = i8_vnni(&sink);
        else if (__builtin_cpu_supports("avx2")) f = i8_avx2(&sink);
        else f = i8_scalar(&sink);
    } else if (__builtin_cpu_supports("avx512f")) f = fma_avx512(&sink);
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) f = fma_avx2(&sink);
    else f = fma_scalar(&sink);
#else
    f = j->int8 ? i8_scalar(&sink) : fma_scalar(&sink);
#endif
    j->secs[ith] = now_s() - t0;
    j->flops[ith] = sink == 12345.0f ? f + 1 : f; /* keeps the chains live */
}

/* GFLOPS (or GOPS) of one run of the FMA (or 8-bit) chains on every thread of the pool. */
static double ops_run(cl_pool *pool, int int8) {
    static flops_job j;
    j.int8 = int8;
    double total = 0;
    cl_pool_run(pool, flops_task, &j);
    for (int i = 0; i < cl_pool_size(pool); i++) total += j.flops[i] / j.secs[i];
    return total / 1e9;
}

static double probe_ops(int n_threads, int int8) {
    if (n_threads < 1 || n_threads > 1024) return -1;
    cl_pool *pool;
    if (cl_pool_init(n_threads, &pool)) return -1;
    double g = ops_run(pool, int8);
    cl_pool_free(pool);
    return g;
}

double cllama_probe_int8(int n_threads) { return probe_ops(n_threads, 1); }

double cllama_probe_flops(int n_threads) { return probe_ops(n_threads, 0); }

int cllama_probe_peaks_best(int n_threads, uint64_t bytes, int rounds, cllama_probe_peaks *out) {
    memset(out, 0, sizeof *out);
    if (n_threads < 1 || n_threads > 1024 || rounds < 1) return -1;
    bw_job j;
    cl_pool *pool;
    if (bw_setup(n_threads, bytes, &j, &pool)) return -1;
    /* Rounds interleave the three probes, so a burst of other work on the host lowers
     * one round's readings of each rather than all readings of one; two bandwidth
     * passes a round, as the first after the compute probes may find the cores at a
     * lower clock. */
    for (int r = 0; r < rounds; r++) {
        double bw = bw_passes(pool, &j, 2), fp = ops_run(pool, 0), i8 = ops_run(pool, 1);
        out->read_gbs = bw > out->read_gbs ? bw : out->read_gbs;
        out->fp32_gflops = fp > out->fp32_gflops ? fp : out->fp32_gflops;
        out->int8_gops = i8 > out->int8_gops ? i8 : out->int8_gops;
    }
    out->rounds = rounds;
    bw_teardown(&j, pool);
    if (j.sink == 1) out->read_gbs += 1e-9; /* keeps the sums live */
    return 0;
}
