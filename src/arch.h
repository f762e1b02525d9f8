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
    CL_ROPE_LONG,   /* [D/2] LongRoPE divisors for contexts above n_ctx_orig (Phi-3) */
    CL_ROPE_SHORT,  /* [D/2] LongRoPE divisors for the others */
    CL_N_GLOBAL,
    CL_ATTN_NORM = CL_N_GLOBAL, /* [E] */
    CL_ATTN_Q,      /* [E] -> [H*D] */
    CL_ATTN_K,      /* [E] -> [Hkv*D] */
    CL_ATTN_V,      /* [E] -> [Hkv*D] */
    CL_ATTN_QKV,    /* [E] -> [H*D + 2*Hkv*D]: Q, K, V rows in one matrix (Phi-3); loading
                     * makes CL_ATTN_Q/K/V views of its row ranges */
    CL_ATTN_Q_B,    /* [H*D] bias of attn_q */
    CL_ATTN_K_B,    /* [Hkv*D] */
    CL_ATTN_V_B,    /* [Hkv*D] */
    CL_ATTN_Q_NORM, /* [D] RMSNorm of each query head before rope (Gemma 3) */
    CL_ATTN_K_NORM, /* [D] of each key head */
    CL_ATTN_OUT,    /* [H*D] -> [E] */
    CL_ATTN_POST_NORM, /* [E] RMSNorm of the attention output before the residual add (Gemma) */
    CL_FFN_NORM,    /* [E] */
    CL_FFN_GATE,    /* [E] -> [F] */
    CL_FFN_UP,      /* [E] -> [F] */
    CL_FFN_GATE_UP, /* [E] -> [2F]: gate rows then up rows (Phi-3's ffn_up); views as for QKV */
    CL_FFN_DOWN,    /* [F] -> [E] */
    CL_FFN_POST_NORM, /* [E] RMSNorm of the FFN output before the residual add (Gemma) */
    CL_N_TENSOR_IDS
};

/* Extents, from the hyperparameters. */
enum cl_dim { CL_DIM_1, CL_DIM_E, CL_DIM_V, CL_DIM_QD, CL_DIM_KD, CL_DIM_F, CL_DIM_ROT, CL_DIM_D, CL_DIM_QKV, CL_DIM_2F };

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
    CL_P_QK_NORM,  /* present when hp.qk_norm */
    CL_P_POST_NORM, /* present when hp.post_norms */
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

/* What an architecture's forward pass does beyond the Llama layer. */
enum cl_arch_flags {
    CL_A_NEOX = 1,       /* rope pairs (x[i], x[i + D/2]) */
    CL_A_QKV_BIAS = 2,   /* Q/K/V biases required (else taken if present) */
    CL_A_GEMMA = 4,      /* embeddings x sqrt(E), GeGLU (tanh GELU), post-attention and post-FFN norms */
    CL_A_SWA = 8,        /* a 4096-position window when the file gives none (Gemma 2); the others
                          * window only with <arch>.attention.sliding_window */
    CL_A_SOFTCAP = 16,   /* attention and final logit soft-capping by default (Gemma 2: 50, 30) */
    CL_A_QK_NORM = 32,   /* per-head RMSNorm of queries and keys before rope (Gemma 3) */
    CL_A_NO_SWA = 64,    /* attention.sliding_window read and not applied, as the reference does
                          * (Phi-3: its converters mark no windowed layer; Qwen2: use_sliding_window
                          * is off in every released config) */
    CL_A_LOCAL_ROPE = 128, /* windowed layers rotate with base 10000, unscaled, unless
                            * rope.freq_base_swa says (Gemma 3); else as the global layers */
};

typedef struct {
    const char *name;       /* general.architecture; also the metadata key prefix */
    int flags;              /* enum cl_arch_flags */
    int swa_pattern;        /* default layer pattern of the window (see cllama_hparams) */
    int wide_query_layers;  /* the layer count of the model (Gemma's 27B) that scales queries by
                             * 1/sqrt(n_embd / n_head), as the reference decides it; 0: none */
    const cl_tensor_desc *tensors; /* file order: model-wide, then per layer */
    int n_tensors;
} cl_arch;

/* NULL if `name` is not a supported architecture. */
const cl_arch *cl_arch_find(const char *name);
/* "llama, qwen2, ..." (static storage), for messages. */
const char *cl_arch_names(void);

static inline int cl_tensor_per_layer(const cl_tensor_desc *t) { return t->id >= CL_N_GLOBAL; }

/* Sets the hyperparameters an architecture implies (rope layout, biases, window,
 * soft-caps, Gemma's layer), from hp's sizes, rope_base and rope_scale; the loader then
 * overrides them with what the file says. */
void cl_arch_hparams(const cl_arch *a, cllama_hparams *hp);

/* The extent `dim` has for hyperparameters hp. */
int64_t cl_arch_dim(const cllama_hparams *hp, int dim);
/* Whether layer l of a model of hyperparameters hp is windowed (n_swa and swa_pattern). */
static inline int cl_layer_swa(const cllama_hparams *hp, int l) {
    return hp->n_swa > 0 && l % hp->swa_pattern < hp->swa_pattern - 1 + (hp->swa_pattern == 1);
}
/* Whether a model of hyperparameters hp has tensor t (what a writer puts in a file). */
int cl_arch_present(const cl_tensor_desc *t, const cllama_hparams *hp);
/* The tensor's name in the file: "token_embd.weight", "blk.3.attn_q.bias". */
void cl_tensor_name(const cl_tensor_desc *t, int layer, char *buf, size_t n);

#endif
