/* cllama toolkit: what models cost on machines, measured and predicted. Beside the
 * engine (include/cllama.h), not inside it: synthetic models of real shapes for
 * benchmarks, the cost model behind `cllama limits` with its device table, and host
 * probes. The CLI's bench, limits and synth use it; it links the engine.
 * Conventions as in cllama.h (int status, cllama_last_error()). */
#ifndef CLLAMA_TOOLKIT_H
#define CLLAMA_TOOLKIT_H

#include <stddef.h>
#include <stdint.h>

#include "cllama.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== synthetic models ====
 * Synthetic models of real shapes: the published hyperparameters of well-known
 * Llama-family models (data/shapes.tsv, compiled in), a quantization scheme that
 * assigns each tensor the type the usual recipe gives it, and random but valid
 * weights generated in memory as a GGUF image. */

typedef struct {
    char name[32];
    char arch[16]; /* general.architecture: llama, qwen2, gemma2, gemma3, phi3 */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx_train;
    int head_dim;  /* 0: n_embd / n_head */
    float rope_base, rms_eps;
    int n_swa;     /* sliding window; -1: the architecture's default */
    int tied;
    char source[160];
} cllama_shape;

/* Number of built-in shapes and the i-th one. */
int cllama_shape_count(void);
int cllama_shape_at(int i, cllama_shape *out);
/* 0 and *out if `name` is a built-in shape, else CLLAMA_E_INVALID (message lists them). */
int cllama_shape_find(const char *name, cllama_shape *out);

/* Quantization schemes by llama.cpp file-type name: F32, F16, BF16, Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, each
 * tensor typed by llama.cpp's recipe (src/recipe.c). Returns 0 if known. */
int cllama_scheme_check(const char *scheme);
/* A space-separated list of the schemes (static storage). */
const char *cllama_scheme_list(void);

/* The hyperparameters a model of this shape loads with. */
void cllama_shape_hparams(const cllama_shape *s, cllama_hparams *hp);
/* Layers of shape s that attend within a sliding window (0 without one). */
int cllama_shape_swa_layers(const cllama_shape *s);

/* Parameter count and weight bytes of shape s under scheme, without building it. */
void cllama_synth_size(const cllama_shape *s, const char *scheme, uint64_t *n_params, uint64_t *bytes);

/* Builds the GGUF image (general.name says it is synthetic; placeholder vocabulary of
 * the right size). *buf must be released with cllama_synth_free(*buf, *size). */
int cllama_synth_build(const cllama_shape *s, const char *scheme, int n_threads, uint64_t seed, uint8_t **buf,
                       size_t *size);
void cllama_synth_free(uint8_t *buf, size_t size);

/* ==== cost model and devices ====
 * The cost model behind `cllama limits`: what one generated token and one prompt
 * token cost a Llama-family model, and what a device's bandwidth, compute and memory
 * make of it.
 *
 *   bytes per generated token = all weight bytes + KV cache read at depth d
 *                               (2 [K,V] x n_layer x d x n_head_kv x head_dim x 2 bytes, F16)
 *   FLOPs per token           = 2 x parameters + attention 4 x n_layer x d x n_head x head_dim
 *   tg ceiling                = bandwidth / bytes per generated token
 *   pp ceiling                = peak FLOP/s / FLOPs per token (weights are reused across the
 *                               batch, so prompt processing is compute-bound)
 *   memory needed             = weights + KV cache for n_ctx tokens + scratch */

typedef struct {
    char name[32];
    char label[64];
    char kind[8];          /* apple, gpu, cpu, host */
    double bw_gbs;         /* GB/s */
    double mem_gb[8];      /* sizes offered, GB */
    int n_mem;
    int cores;             /* GPU cores, SMs or CPU cores */
    double fp16_tflops, fp32_tflops;
    double int8_tops;      /* 8-bit MAC peak (CPUs: probed on this host only; 0 = unknown) */
    /* Reported llama.cpp figures for Llama 2 7B (t/s; 0 = none): [F16, Q8_0, Q4_0] x [pp512, tg128] */
    double reported[3][2];
    char source[256];
    char notes[256];
} cllama_device;

int cllama_device_count(void);
int cllama_device_at(int i, cllama_device *out);
/* 0 and *out, or CLLAMA_E_INVALID with the known names in the message. */
int cllama_device_find(const char *name, cllama_device *out);

/* Usable memory in bytes for a memory size of `gb` GB on `d`: Apple GPUs may wire only
 * part of unified memory by default (Metal's recommendedMaxWorkingSetSize: about 2/3
 * of RAM up to 36 GB, 3/4 above); other kinds use all of it. */
double cllama_device_usable_bytes(const cllama_device *d, double gb);

/* Reported tokens/s of `shape` at `quant` on device `d` (pp512 and tg128, 0 where none):
 * the device's Llama 2 7B columns, then data/reported.tsv. Returns 1 if any. */
int cllama_reported(const cllama_device *d, const char *shape, const char *quant, double *pp, double *tg);

typedef struct {
    double bytes_per_token;  /* generation, at depth */
    double flops_per_token;  /* at depth */
    double kv_bytes;         /* KV cache for n_ctx tokens */
    double mem_needed;       /* weights + KV + scratch */
} cllama_cost;

void cllama_cost_model(const cllama_hparams *hp, uint64_t n_params, uint64_t weight_bytes, int n_ctx, int depth,
                   cllama_cost *out);

/* ==== pipelines: one model over N devices, by layers ====
 * Each of N devices of a kind holds 1/N of the layers (the first also the token
 * embedding, the last the output head); a link joins them. For a generated token the
 * stages run one after the other, so
 *   tg time  = bytes per token / bandwidth          (the stages' reads, summed)
 *            + (N - 1) x (latency + n_embd x 4 B / link)    hidden state, stage to stage
 *            + latency + 292 B / link                        the sampled token back
 * (as cllama's MPI pipeline does it: the last stage samples and returns the token, its
 * sampler's random state and a 256-byte header, not n_vocab x 4 B of logits). A prompt
 * of P tokens goes in micro-batches of U (64 in cllama's pipeline): M = ceil(P / U) of
 * them flow through the stages, each stage busy U x FLOPs per token / N / peak per
 * micro-batch, each hop carrying U x n_embd x 4 B:
 *   pp time  = (M + N - 1) x max(stage time, hop time) + the token back.
 * So generation never gets faster with N (the link only adds), and once the hops'
 * latency is a visible share of the token time more devices only slow it; pipelining
 * pays for prompts of many micro-batches. */
typedef struct {
    char name[24];
    char label[64];
    double gbs;        /* GB/s one way */
    double latency_us; /* one message, one hop */
} cllama_link;

/* A named link (cllama_link_names()) or "GBPS,LATENCY_US". 0, or CLLAMA_E_INVALID with
 * the names in the message. */
int cllama_link_find(const char *spec, cllama_link *out);
const char *cllama_link_names(void);

typedef struct {
    int nodes;
    double mem_per_node;  /* bytes the fullest device needs: its layers' weights and KV, its
                           * end of the model (embedding or head), the scratch */
    double hop_s;         /* one hop of one token's hidden state */
    double back_s;        /* the sampled token back to the first device */
    double tg, pp;        /* tokens/s */
    double link_share;    /* share of a generated token's time spent on the link */
} cllama_pipeline_pred;

/* For the model of cost c and hp (cllama_cost_model), on `nodes` devices of bandwidth
 * bw_gbs (GB/s) and peak peak_flops (FLOP/s) over link l; pp for n_prompt tokens in
 * micro-batches of n_ubatch. */
void cllama_pipeline_predict(const cllama_cost *c, const cllama_hparams *hp, uint64_t n_params, uint64_t weight_bytes,
                             double bw_gbs, double peak_flops, int nodes, const cllama_link *l, int n_prompt,
                             int n_ubatch, cllama_pipeline_pred *out);

/* ==== host probes ====
 * Host probes for `cllama limits` and the benchmarks: memory read bandwidth and peak
 * floating-point throughput measured in a few seconds, plus what the CPU is. */


typedef struct {
    char cpu[128];      /* model name */
    int cores;          /* physical cores */
    int threads;        /* online CPUs */
    char isa[128];      /* "avx2 fma f16c avx512f avx512vnni avx512bf16 ..." */
    uint64_t mem_total; /* bytes */
    uint64_t mem_avail; /* bytes */
} cllama_host;

void cllama_host_info(cllama_host *h);

/* Read bandwidth in GB/s (1e9 bytes/s): n_threads threads summing a buffer of `bytes`
 * (far larger than the caches), best of `reps` passes. Negative if out of memory. */
double cllama_probe_read_bw(int n_threads, uint64_t bytes, int reps);

/* Peak FP32 throughput in GFLOPS: n_threads threads running independent FMA chains in
 * registers with the widest vectors the CPU has. */
double cllama_probe_flops(int n_threads);

/* Peak 8-bit multiply-accumulate throughput in GOPS (2 ops per MAC; u8 x s8 into int32,
 * with VNNI where the CPU has it): the roof of prompt processing on quantized weights. */
double cllama_probe_int8(int n_threads);

typedef struct {
    double read_gbs;    /* GB/s, as cllama_probe_read_bw */
    double fp32_gflops; /* as cllama_probe_flops */
    double int8_gops;   /* as cllama_probe_int8 */
    int rounds;
} cllama_probe_peaks;

/* The three probes above on n_threads threads and a read buffer of `bytes`, run in
 * `rounds` interleaved rounds, keeping the best reading of each: a probe that shares
 * the host with other work reads low, never high, so the best is the closest to the
 * peak. Returns 0, or -1 if the buffer or the threads cannot be had. */
int cllama_probe_peaks_best(int n_threads, uint64_t bytes, int rounds, cllama_probe_peaks *out);

#ifdef __cplusplus
}
#endif
#endif
