/* The model description: one table of tensors per architecture family, and the
 * architectures that use it with their flags. Loading (model.c), interleaving at load
 * (repack.c), synthetic models (toolkit/synth.c) and the forward pass (forward.c, by
 * tensor id) all read their layout from here; nothing else spells a tensor name.
 *
 * Adding a Llama-like architecture is a row of cl_archs (arch.c) plus, where its
 * forward pass differs, a hyperparameter flag that forward.c honours. */
#ifndef CL_ARCH_H
#define CL_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "cllama.h"

/* Tensor ids: model-wide ones first, then one set per layer. */
enum cl_tensor_id {
    CL_TOK_EMBD,    /* [E] x V rows: embedding lookups, and the output when tied */
    CL_OUTPUT_NORM, /* [E] */
    CL_OUTPUT,      /* [E] -> [V] */
    CL_ROPE_FREQS,  /* [D/2] divisors of the rope frequencies (Llama 3.1) */
    CL_N_GLOBAL,
    CL_ATTN_NORM = CL_N_GLOBAL, /* [E] */
    CL_ATTN_Q,      /* [E] -> [H*D] */
    CL_ATTN_K,      /* [E] -> [Hkv*D] */
    CL_ATTN_V,      /* [E] -> [Hkv*D] */
    CL_ATTN_Q_B,    /* [H*D] bias of attn_q */
    CL_ATTN_K_B,    /* [Hkv*D] */
    CL_ATTN_V_B,    /* [Hkv*D] */
    CL_ATTN_OUT,    /* [H*D] -> [E] */
    CL_FFN_NORM,    /* [E] */
    CL_FFN_GATE,    /* [E] -> [F] */
    CL_FFN_UP,      /* [E] -> [F] */
    CL_FFN_DOWN,    /* [F] -> [E] */
    CL_N_TENSOR_IDS
};

/* Extents, from the hyperparameters. */
enum cl_dim { CL_DIM_1, CL_DIM_E, CL_DIM_V, CL_DIM_QD, CL_DIM_KD, CL_DIM_F, CL_DIM_ROT };

enum cl_tensor_flags {
    CL_T_MATRIX = 1, /* multiplied by activations: needs a dot kernel for its type */
    CL_T_VECTOR = 2, /* decoded to float at load (norm weights, biases, rope factors) */
    CL_T_REPACK = 4, /* may be interleaved as x8 blocks (repack.c) */
};

/* When a tensor is present. */
enum cl_presence {
    CL_P_ALWAYS,   /* required */
    CL_P_UNTIED,   /* present unless the output is tied to token_embd (hp.tied_output) */
    CL_P_QKV_BIAS, /* present when hp.qkv_bias */
    CL_P_FILE,     /* optional; taken if the file has it, never written by synth */
};

typedef struct {
    int id;             /* enum cl_tensor_id */
    const char *name;   /* "attn_q": the file holds "blk.N.attn_q.weight" */
    const char *suffix; /* "weight" or "bias" */
    int ne0, ne1;       /* enum cl_dim: values per row, rows */
    int flags;          /* enum cl_tensor_flags */
    int presence;       /* enum cl_presence */
} cl_tensor_desc;

typedef struct {
    const char *name;       /* general.architecture; also the metadata key prefix */
    int rope_neox;          /* rope pairs (x[i], x[i + D/2]) */
    int qkv_bias;           /* 1: biases required; 0: taken if present */
    const cl_tensor_desc *tensors; /* file order: model-wide, then per layer */
    int n_tensors;
} cl_arch;

/* NULL if `name` is not a supported architecture. */
const cl_arch *cl_arch_find(const char *name);
/* "llama, qwen2" (static storage), for messages. */
const char *cl_arch_names(void);

static inline int cl_tensor_per_layer(const cl_tensor_desc *t) { return t->id >= CL_N_GLOBAL; }

/* The extent `dim` has for hyperparameters hp. */
int64_t cl_arch_dim(const cllama_hparams *hp, int dim);
/* Whether a model of hyperparameters hp has tensor t (what a writer puts in a file). */
int cl_arch_present(const cl_tensor_desc *t, const cllama_hparams *hp);
/* The tensor's name in the file: "token_embd.weight", "blk.3.attn_q.bias". */
void cl_tensor_name(const cl_tensor_desc *t, int layer, char *buf, size_t n);

#endif
