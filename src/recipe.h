/* File types and their per-tensor recipes: which weight type each tensor of a model
 * gets when the model is quantized to "Q4_K_M", "Q8_0", ... The rules are llama.cpp's
 * (llama-quant.cpp, no importance matrix), so that `cllama quantize` and `cllama synth`
 * give each tensor the type llama-quantize gives it. Used by src/quantize.c and by the
 * toolkit's synthetic models. */
#ifndef CL_RECIPE_H
#define CL_RECIPE_H

#include <stdint.h>

/* llama.cpp's enum llama_ftype: the number in general.file_type. */
typedef struct {
    const char *name; /* "Q4_K_M" */
    uint32_t ftype;   /* 15 */
    int base;         /* the type most matrices get (CL_TYPE_*), -1 if cllama cannot make it */
} cl_ftype;

/* By name ("q4_k_m" matches too), NULL if unknown. */
const cl_ftype *cl_ftype_find(const char *name);
/* By general.file_type number, NULL if llama.cpp defines no such number. */
const cl_ftype *cl_ftype_by_number(uint32_t ftype);
/* The names cllama can make, space-separated: "F32 F16 BF16 Q8_0 ... Q6_K". */
const char *cl_ftype_list(void);

/* What the recipe needs to know of the model. */
typedef struct {
    const cl_ftype *ft;
    int n_layer;
    int n_head, n_head_kv;
    int is_70b;       /* llama.cpp's LLM_TYPE_70B: 80 layers with GQA */
    int n_attn_v;     /* attn_v (or attn_qkv) matrices in the model */
    int tied;         /* no output.weight: token_embd is the output projection too */
    int pure;         /* every quantized matrix gets ft->base (fallbacks still apply) */
    int output_type;  /* forced type for output.weight (and a tied token_embd), -1: recipe */
    int embd_type;    /* forced type for token_embd.weight, -1: recipe */
} cl_recipe;

/* Counters the recipe advances as it walks the tensors in file order (llama.cpp's
 * "more bits" layers are counted per attn_v and per ffn_down tensor met). Zero it
 * before a walk. */
typedef struct {
    int i_attn_v, i_ffn_down;
} cl_recipe_state;

/* The type tensor `name` (n_dims, rows of ne0 values) gets, or -1 if the tensor is not
 * quantized (vectors, norms, anything not ending in "weight"): it keeps its type.
 * *fallback is set to 1 when the recipe's type needs whole 256-value blocks and ne0 is
 * not a multiple (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, else
 * F16). */
int cl_recipe_type(const cl_recipe *r, cl_recipe_state *st, const char *name, int n_dims, int64_t ne0,
                   int *fallback);

#endif
