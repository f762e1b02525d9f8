#include "arch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define M CL_T_MATRIX
#define MR (CL_T_MATRIX | CL_T_REPACK)
#define VEC CL_T_VECTOR

/* The Llama layer as GGUF files store it (llama.cpp's names), in the order converters
 * write it, with what its relatives add: Qwen2's Q/K/V biases; Gemma's RMSNorms after
 * attention and after the FFN (post_attention_norm, post_ffw_norm) and Gemma 3's
 * per-head Q/K norms. */
static const cl_tensor_desc llama_tensors[] = {
    {CL_TOK_EMBD, "token_embd", "weight", CL_DIM_E, CL_DIM_V, M, CL_P_ALWAYS},
    {CL_OUTPUT_NORM, "output_norm", "weight", CL_DIM_E, CL_DIM_1, VEC, CL_P_ALWAYS},
    {CL_OUTPUT, "output", "weight", CL_DIM_E, CL_DIM_V, MR, CL_P_UNTIED},
    {CL_ROPE_FREQS, "rope_freqs", "weight", CL_DIM_ROT, CL_DIM_1, VEC, CL_P_FILE},
    {CL_ATTN_NORM, "attn_norm", "weight", CL_DIM_E, CL_DIM_1, VEC, CL_P_ALWAYS},
    {CL_ATTN_Q, "attn_q", "weight", CL_DIM_E, CL_DIM_QD, MR, CL_P_ALWAYS},
    {CL_ATTN_K, "attn_k", "weight", CL_DIM_E, CL_DIM_KD, MR, CL_P_ALWAYS},
    {CL_ATTN_V, "attn_v", "weight", CL_DIM_E, CL_DIM_KD, MR, CL_P_ALWAYS},
    {CL_ATTN_Q_B, "attn_q", "bias", CL_DIM_QD, CL_DIM_1, VEC, CL_P_QKV_BIAS},
    {CL_ATTN_K_B, "attn_k", "bias", CL_DIM_KD, CL_DIM_1, VEC, CL_P_QKV_BIAS},
    {CL_ATTN_V_B, "attn_v", "bias", CL_DIM_KD, CL_DIM_1, VEC, CL_P_QKV_BIAS},
    {CL_ATTN_Q_NORM, "attn_q_norm", "weight", CL_DIM_D, CL_DIM_1, VEC, CL_P_QK_NORM},
    {CL_ATTN_K_NORM, "attn_k_norm", "weight", CL_DIM_D, CL_DIM_1, VEC, CL_P_QK_NORM},
    {CL_ATTN_OUT, "attn_output", "weight", CL_DIM_QD, CL_DIM_E, MR, CL_P_ALWAYS},
    {CL_ATTN_POST_NORM, "post_attention_norm", "weight", CL_DIM_E, CL_DIM_1, VEC, CL_P_POST_NORM},
    {CL_FFN_NORM, "ffn_norm", "weight", CL_DIM_E, CL_DIM_1, VEC, CL_P_ALWAYS},
    {CL_FFN_GATE, "ffn_gate", "weight", CL_DIM_E, CL_DIM_F, MR, CL_P_ALWAYS},
    {CL_FFN_UP, "ffn_up", "weight", CL_DIM_E, CL_DIM_F, MR, CL_P_ALWAYS},
    {CL_FFN_DOWN, "ffn_down", "weight", CL_DIM_F, CL_DIM_E, MR, CL_P_ALWAYS},
    {CL_FFN_POST_NORM, "post_ffw_norm", "weight", CL_DIM_E, CL_DIM_1, VEC, CL_P_POST_NORM},
};

/* Phi-3/3.5-mini (LLM_ARCH_PHI3): Q, K and V in one matrix (attn_qkv), gate and up in
 * one (ffn_up, [E] -> [2F], gate rows first), LongRoPE factors for long contexts. */
static const cl_tensor_desc phi3_tensors[] = {
    {CL_TOK_EMBD, "token_embd", "weight", CL_DIM_E, CL_DIM_V, M, CL_P_ALWAYS},
    {CL_OUTPUT_NORM, "output_norm", "weight", CL_DIM_E, CL_DIM_1, VEC, CL_P_ALWAYS},
    {CL_OUTPUT, "output", "weight", CL_DIM_E, CL_DIM_V, MR, CL_P_UNTIED},
    {CL_ROPE_LONG, "rope_factors_long", "weight", CL_DIM_ROT, CL_DIM_1, VEC, CL_P_FILE},
    {CL_ROPE_SHORT, "rope_factors_short", "weight", CL_DIM_ROT, CL_DIM_1, VEC, CL_P_FILE},
    {CL_ATTN_NORM, "attn_norm", "weight", CL_DIM_E, CL_DIM_1, VEC, CL_P_ALWAYS},
    {CL_ATTN_QKV, "attn_qkv", "weight", CL_DIM_E, CL_DIM_QKV, MR, CL_P_ALWAYS},
    {CL_ATTN_OUT, "attn_output", "weight", CL_DIM_QD, CL_DIM_E, MR, CL_P_ALWAYS},
    {CL_FFN_NORM, "ffn_norm", "weight", CL_DIM_E, CL_DIM_1, VEC, CL_P_ALWAYS},
    {CL_FFN_GATE_UP, "ffn_up", "weight", CL_DIM_E, CL_DIM_2F, MR, CL_P_ALWAYS},
    {CL_FFN_DOWN, "ffn_down", "weight", CL_DIM_F, CL_DIM_E, MR, CL_P_ALWAYS},
};
#undef M
#undef MR
#undef VEC
#define ROWS(t) t, (int)(sizeof t / sizeof *t)

/* llama: Llama 1/2/3/3.1/3.2, TinyLlama, SmolLM, Mistral 7B and Nemo (a window from
 * llama.attention.sliding_window; biases taken if present).
 * qwen2: Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen: Q/K/V biases and NeoX rope
 * (llama.cpp's LLM_ARCH_QWEN2, rope type NEOX).
 * gemma2: window on every other layer (0, 2, ...), 4096 unless the file says;
 * soft-capping 50 / 30.
 * gemma3: the file's window (its files all have one) on 5 layers of 6, Q/K norms,
 * local layers' rope base 10000.
 * phi3: NeoX rope, LongRoPE.
 * qwen2 and phi3 read a sliding_window and do not apply it (CL_A_NO_SWA). */
static const cl_arch archs[] = {
    {"llama", 0, 1, 0, ROWS(llama_tensors)},
    {"qwen2", CL_A_NEOX | CL_A_QKV_BIAS | CL_A_NO_SWA, 1, 0, ROWS(llama_tensors)},
    {"gemma2", CL_A_NEOX | CL_A_GEMMA | CL_A_SWA | CL_A_SOFTCAP, 2, 46, ROWS(llama_tensors)},
    {"gemma3", CL_A_NEOX | CL_A_GEMMA | CL_A_QK_NORM | CL_A_LOCAL_ROPE, 6, 62, ROWS(llama_tensors)},
    {"phi3", CL_A_NEOX | CL_A_NO_SWA, 1, 0, ROWS(phi3_tensors)},
};

const cl_arch *cl_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        if (!strcmp(archs[i].name, name)) return &archs[i];
    return NULL;
}

const char *cl_arch_names(void) { return "llama, qwen2, gemma2, gemma3, phi3"; }

void cl_arch_hparams(const cl_arch *a, cllama_hparams *hp) {
    int gemma = !!(a->flags & CL_A_GEMMA), cap = !!(a->flags & CL_A_SOFTCAP);
    hp->rope_neox = !!(a->flags & CL_A_NEOX);
    hp->qkv_bias = !!(a->flags & CL_A_QKV_BIAS);
    hp->n_swa = (a->flags & CL_A_SWA) ? 4096 : 0; /* the file's attention.sliding_window overrides it */
    hp->swa_pattern = a->swa_pattern;
    int local = !!(a->flags & CL_A_LOCAL_ROPE);
    hp->rope_base_swa = local ? 10000.0f : hp->rope_base;
    hp->rope_scale_swa = local ? 1.0f : hp->rope_scale;
    hp->rope_attn_factor = 1.0f;
    hp->n_ctx_orig = hp->n_ctx_train;
    hp->attn_softcap = cap ? 50.0f : 0.0f;
    hp->final_softcap = cap ? 30.0f : 0.0f;
    int wide = a->wide_query_layers && hp->n_layer == a->wide_query_layers;
    hp->attn_scale = 1.0f / sqrtf((float)(wide ? hp->n_embd / hp->n_head : hp->head_dim));
    hp->embd_scale = gemma ? sqrtf((float)hp->n_embd) : 1.0f;
    hp->ffn_gelu = gemma;
    hp->post_norms = gemma;
    hp->qk_norm = !!(a->flags & CL_A_QK_NORM);
}

int64_t cl_arch_dim(const cllama_hparams *hp, int dim) {
    switch (dim) {
    case CL_DIM_E: return hp->n_embd;
    case CL_DIM_V: return hp->n_vocab;
    case CL_DIM_QD: return (int64_t)hp->n_head * hp->head_dim;
    case CL_DIM_KD: return (int64_t)hp->n_head_kv * hp->head_dim;
    case CL_DIM_F: return hp->n_ff;
    case CL_DIM_ROT: return hp->head_dim / 2;
    case CL_DIM_D: return hp->head_dim;
    case CL_DIM_QKV: return (int64_t)(hp->n_head + 2 * hp->n_head_kv) * hp->head_dim;
    case CL_DIM_2F: return 2 * (int64_t)hp->n_ff;
    default: return 1;
    }
}

int cl_arch_present(const cl_tensor_desc *t, const cllama_hparams *hp) {
    switch (t->presence) {
    case CL_P_UNTIED: return !hp->tied_output;
    case CL_P_QKV_BIAS: return hp->qkv_bias;
    case CL_P_QK_NORM: return hp->qk_norm;
    case CL_P_POST_NORM: return hp->post_norms;
    case CL_P_FILE: return 0;
    default: return 1;
    }
}

void cl_tensor_name(const cl_tensor_desc *t, int layer, char *buf, size_t n) {
    if (cl_tensor_per_layer(t)) snprintf(buf, n, "blk.%d.%s.%s", layer, t->name, t->suffix);
    else snprintf(buf, n, "%s.%s", t->name, t->suffix);
}
