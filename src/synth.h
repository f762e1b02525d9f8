/* Synthetic models of real shapes: the published hyperparameters of well-known
 * Llama-family models (data/shapes.tsv, compiled in), a quantization scheme that
 * assigns each tensor the type the usual recipe gives it, and random but valid
 * weights generated in memory as a GGUF image. */
#ifndef CL_SYNTH_H
#define CL_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef struct {
    char name[32];
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx_train;
    float rope_base, rms_eps;
    int tied;
    char source[160];
} cl_shape;

/* Number of built-in shapes and the i-th one. */
int cl_shape_count(void);
int cl_shape_at(int i, cl_shape *out);
/* 0 and *out if `name` is a built-in shape, else CLLAMA_E_INVALID (message lists them). */
int cl_shape_find(const char *name, cl_shape *out);

/* Quantization schemes by llama.cpp file-type name: F32, F16, BF16, Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q2_K, Q3_K_M, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K. Returns 0 if known. */
int cl_scheme_check(const char *scheme);
/* A space-separated list of the schemes (static storage). */
const char *cl_scheme_list(void);
/* The weight type of a tensor with rows of ne0 values under `scheme`. kind is the
 * tensor's name without "blk.N." and ".weight" ("attn_q", "ffn_down", "token_embd",
 * "output", ...). */
int cl_scheme_tensor_type(const char *scheme, const cl_shape *s, const char *kind, int layer, int64_t ne0);

/* The hyperparameters a model of this shape loads with. */
void cl_shape_hparams(const cl_shape *s, cl_hparams *hp);

/* Parameter count and weight bytes of shape s under scheme, without building it. */
void cl_synth_size(const cl_shape *s, const char *scheme, uint64_t *n_params, uint64_t *bytes);

/* Builds the GGUF image (general.name says it is synthetic; placeholder vocabulary of
 * the right size). *buf must be released with cl_gw_buffer_free(*buf, *size). */
int cl_synth_build(const cl_shape *s, const char *scheme, int n_threads, uint64_t seed, uint8_t **buf,
                   size_t *size);

#endif
