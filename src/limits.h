/* The cost model behind `cllama limits`: what one generated token and one prompt
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
#ifndef CL_LIMITS_H
#define CL_LIMITS_H

#include <stdint.h>

#include "model.h"

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
} cl_device;

int cl_device_count(void);
int cl_device_at(int i, cl_device *out);
/* 0 and *out, or CLLAMA_E_INVALID with the known names in the message. */
int cl_device_find(const char *name, cl_device *out);

/* Usable memory in bytes for a memory size of `gb` GB on `d`: Apple GPUs may wire only
 * part of unified memory by default (Metal's recommendedMaxWorkingSetSize: about 2/3
 * of RAM up to 36 GB, 3/4 above); other kinds use all of it. */
double cl_device_usable_bytes(const cl_device *d, double gb);

/* Reported tokens/s of `shape` at `quant` on device `d` (pp512 and tg128, 0 where none):
 * the device's Llama 2 7B columns, then data/reported.tsv. Returns 1 if any. */
int cl_reported(const cl_device *d, const char *shape, const char *quant, double *pp, double *tg);

typedef struct {
    double bytes_per_token;  /* generation, at depth */
    double flops_per_token;  /* at depth */
    double kv_bytes;         /* KV cache for n_ctx tokens */
    double mem_needed;       /* weights + KV + scratch */
} cl_cost;

void cl_cost_model(const cl_hparams *hp, uint64_t n_params, uint64_t weight_bytes, int n_ctx, int depth,
                   cl_cost *out);

#endif
