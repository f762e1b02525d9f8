/* Host probes for `cllama limits` and the benchmarks: memory read bandwidth and peak
 * floating-point throughput measured in a few seconds, plus what the CPU is. */
#ifndef CL_PROBE_H
#define CL_PROBE_H

#include <stdint.h>

typedef struct {
    char cpu[128];      /* model name */
    int cores;          /* physical cores */
    int threads;        /* online CPUs */
    char isa[128];      /* "avx2 fma f16c avx512f avx512vnni avx512bf16 ..." */
    uint64_t mem_total; /* bytes */
    uint64_t mem_avail; /* bytes */
} cl_host;

void cl_host_info(cl_host *h);

/* Read bandwidth in GB/s (1e9 bytes/s): n_threads threads summing a buffer of `bytes`
 * (far larger than the caches), best of `reps` passes. Negative if out of memory. */
double cl_probe_read_bw(int n_threads, uint64_t bytes, int reps);

/* Peak FP32 throughput in GFLOPS: n_threads threads running independent FMA chains in
 * registers with the widest vectors the CPU has. */
double cl_probe_flops(int n_threads);

/* Peak 8-bit multiply-accumulate throughput in GOPS (2 ops per MAC; u8 x s8 into int32,
 * with VNNI where the CPU has it): the roof of prompt processing on quantized weights. */
double cl_probe_int8(int n_threads);

#endif
