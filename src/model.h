/* Llama-family model: hyperparameters from GGUF metadata, weight views into the file
 * mapping, checked against each other at load. */
#ifndef CL_MODEL_H
#define CL_MODEL_H

#include <stdint.h>

#include "cllama.h"
#include "gguf.h"
#include "tokenizer.h"

/* A weight matrix or vector: ne[0] values per row, ne[1] rows, row_bytes per row. In
 * the file mapping as stored, or (packed = 1, see repack.h) with each group of 8 rows
 * interleaved block by block, group g still starting at data + 8 g row_bytes. */
typedef struct {
    const void *data;
    int type;
    int64_t ne[2];
    size_t row_bytes;
    int packed;
} cl_tensor;

typedef struct {
    float *attn_norm;        /* [n_embd] */
    cl_tensor wq;            /* [n_embd] -> [n_head * head_dim] */
    cl_tensor wk;            /* [n_embd] -> [n_head_kv * head_dim] */
    cl_tensor wv;            /* [n_embd] -> [n_head_kv * head_dim] */
    cl_tensor wo;            /* [n_head * head_dim] -> [n_embd] */
    float *ffn_norm;         /* [n_embd] */
    cl_tensor w_gate;        /* [n_embd] -> [n_ff] */
    cl_tensor w_up;          /* [n_embd] -> [n_ff] */
    cl_tensor w_down;        /* [n_ff] -> [n_embd] */
} cl_layer;

typedef struct {
    int n_vocab;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;
    int n_ff;
    int n_ctx_train;
    float rope_base;
    float rope_scale;  /* positions are multiplied by this (linear scaling; 1 = none) */
    float rms_eps;
} cl_hparams;

struct cllama_model {
    cl_gguf *gguf;
    cl_vocab *vocab;
    char arch[32];
    char name[128];
    cl_hparams hp;
    int vocab_only;
    cl_tensor tok_embd;      /* [n_embd] x n_vocab rows */
    float *output_norm;      /* [n_embd] */
    cl_tensor output;        /* [n_embd] -> [n_vocab]; tok_embd when tied */
    int tied_output;
    float *rope_freqs;       /* [head_dim/2] divisors of the rope frequencies, or NULL */
    cl_layer *layers;        /* [n_layer] */
    uint64_t n_params;
    uint64_t weight_bytes;
    void *packed;            /* interleaved copies of the packed tensors (repack.c), or NULL */
    size_t packed_bytes;
    double load_ms;
};

/* Bytes a context of n_ctx tokens allocates for a model of these hyperparameters:
 * the F16 KV cache plus scratch (activations of one micro-batch, attention rows). */
uint64_t cl_context_bytes(const cl_hparams *hp, int n_ctx, int n_threads);

/* As cllama_model_load, from a GGUF image in memory (not copied: it must outlive the
 * model). */
int cl_model_load_buffer(const void *buf, size_t size, const cllama_model_params *params, cllama_model **out);

#endif
