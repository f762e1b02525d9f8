/* A loaded model: hyperparameters from GGUF metadata, weight views into the file
 * mapping laid out by the architecture's tensor table (arch.h), checked against each
 * other at load. */
#ifndef CL_MODEL_H
#define CL_MODEL_H

#include <stdint.h>

#include "arch.h"
#include "cllama.h"
#include "gguf.h"
#include "kernels/kernels.h"
#include "tokenizer.h"

typedef cllama_hparams cl_hparams;

/* A weight matrix or vector: ne[0] values per row, ne[1] rows, row_bytes per row. In
 * the file mapping as stored, or (packed = 1, see repack.h) with each group of 8 rows
 * interleaved block by block, group g still starting at data + 8 g row_bytes. Vectors
 * (CL_T_VECTOR) are decoded to F32 at load into memory the model owns. */
typedef struct {
    const void *data;
    int type;
    int64_t ne[2];
    size_t row_bytes;
    int packed;
    int keep_rows; /* not to be interleaved: a fused matrix whose parts do not start on 8-row groups */
} cl_tensor;

/* One layer's tensors, indexed by enum cl_tensor_id (ids below CL_N_GLOBAL unused);
 * data is NULL for an absent optional tensor. */
typedef struct {
    cl_tensor w[CL_N_TENSOR_IDS];
    int swa; /* attends within the sliding window (hp.n_swa) */
} cl_layer;

#define CL_MAX_PARTS 256 /* files of a split model (NAME-00001-of-0000K.gguf) */

struct cllama_model {
    cl_gguf *gguf;              /* the file, or the first part of a split model: metadata */
    cl_gguf **parts;            /* [n_parts] the other parts (tensors only), NULL if none */
    int n_parts;
    cl_vocab *vocab;
    const cl_arch *arch;
    char arch_name[32];
    char name[128];
    char *chat_template;        /* tokenizer.chat_template, NUL-terminated, or NULL */
    cl_hparams hp;
    int vocab_only;
    const cl_kernels *kern;
    int layer_begin, layer_end; /* layers loaded */
    cl_tensor g[CL_N_GLOBAL];   /* model-wide tensors; g[CL_OUTPUT] is token_embd when tied */
    cl_layer *layers;           /* [n_layer], filled for [layer_begin, layer_end) */
    uint64_t n_params;
    uint64_t weight_bytes;
    void *packed;               /* interleaved copies of the packed tensors (repack.c), or NULL */
    size_t packed_bytes;
    double load_ms;
};

/* A vector tensor's floats (NULL if absent). */
static inline const float *cl_vec(const cl_tensor *t) { return (const float *)t->data; }

#endif
