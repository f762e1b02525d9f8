#include "arch.h"

#include <stdio.h>
#include <string.h>

/* The Llama layer as GGUF files store it (llama.cpp's names), in the order converters
 * write it. Qwen2 uses the same tensors with Q/K/V biases present. */
static const cl_tensor_desc llama_tensors[] = {
    {CL_TOK_EMBD, "token_embd", "weight", CL_DIM_E, CL_DIM_V, CL_T_MATRIX, CL_P_ALWAYS},
    {CL_OUTPUT_NORM, "output_norm", "weight", CL_DIM_E, CL_DIM_1, CL_T_VECTOR, CL_P_ALWAYS},
    {CL_OUTPUT, "output", "weight", CL_DIM_E, CL_DIM_V, CL_T_MATRIX | CL_T_REPACK, CL_P_UNTIED},
    {CL_ROPE_FREQS, "rope_freqs", "weight", CL_DIM_ROT, CL_DIM_1, CL_T_VECTOR, CL_P_FILE},
    {CL_ATTN_NORM, "attn_norm", "weight", CL_DIM_E, CL_DIM_1, CL_T_VECTOR, CL_P_ALWAYS},
    {CL_ATTN_Q, "attn_q", "weight", CL_DIM_E, CL_DIM_QD, CL_T_MATRIX | CL_T_REPACK, CL_P_ALWAYS},
    {CL_ATTN_K, "attn_k", "weight", CL_DIM_E, CL_DIM_KD, CL_T_MATRIX | CL_T_REPACK, CL_P_ALWAYS},
    {CL_ATTN_V, "attn_v", "weight", CL_DIM_E, CL_DIM_KD, CL_T_MATRIX | CL_T_REPACK, CL_P_ALWAYS},
    {CL_ATTN_Q_B, "attn_q", "bias", CL_DIM_QD, CL_DIM_1, CL_T_VECTOR, CL_P_QKV_BIAS},
    {CL_ATTN_K_B, "attn_k", "bias", CL_DIM_KD, CL_DIM_1, CL_T_VECTOR, CL_P_QKV_BIAS},
    {CL_ATTN_V_B, "attn_v", "bias", CL_DIM_KD, CL_DIM_1, CL_T_VECTOR, CL_P_QKV_BIAS},
    {CL_ATTN_OUT, "attn_output", "weight", CL_DIM_QD, CL_DIM_E, CL_T_MATRIX | CL_T_REPACK, CL_P_ALWAYS},
    {CL_FFN_NORM, "ffn_norm", "weight", CL_DIM_E, CL_DIM_1, CL_T_VECTOR, CL_P_ALWAYS},
    {CL_FFN_GATE, "ffn_gate", "weight", CL_DIM_E, CL_DIM_F, CL_T_MATRIX | CL_T_REPACK, CL_P_ALWAYS},
    {CL_FFN_UP, "ffn_up", "weight", CL_DIM_E, CL_DIM_F, CL_T_MATRIX | CL_T_REPACK, CL_P_ALWAYS},
    {CL_FFN_DOWN, "ffn_down", "weight", CL_DIM_F, CL_DIM_E, CL_T_MATRIX | CL_T_REPACK, CL_P_ALWAYS},
};
#define N_LLAMA (int)(sizeof llama_tensors / sizeof *llama_tensors)

/* llama: Llama 1/2/3/3.1/3.2, TinyLlama, SmolLM, Mistral 7B (biases taken if present).
 * qwen2: Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen: Q/K/V biases and NeoX rope
 * (llama.cpp's LLM_ARCH_QWEN2, rope type NEOX). */
static const cl_arch archs[] = {
    {"llama", 0, 0, llama_tensors, N_LLAMA},
    {"qwen2", 1, 1, llama_tensors, N_LLAMA},
};

const cl_arch *cl_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        if (!strcmp(archs[i].name, name)) return &archs[i];
    return NULL;
}

const char *cl_arch_names(void) { return "llama, qwen2"; }

int64_t cl_arch_dim(const cllama_hparams *hp, int dim) {
    switch (dim) {
    case CL_DIM_E: return hp->n_embd;
    case CL_DIM_V: return hp->n_vocab;
    case CL_DIM_QD: return (int64_t)hp->n_head * hp->head_dim;
    case CL_DIM_KD: return (int64_t)hp->n_head_kv * hp->head_dim;
    case CL_DIM_F: return hp->n_ff;
    case CL_DIM_ROT: return hp->head_dim / 2;
    default: return 1;
    }
}

int cl_arch_present(const cl_tensor_desc *t, const cllama_hparams *hp) {
    switch (t->presence) {
    case CL_P_UNTIED: return !hp->tied_output;
    case CL_P_QKV_BIAS: return hp->qkv_bias;
    case CL_P_FILE: return 0;
    default: return 1;
    }
}

void cl_tensor_name(const cl_tensor_desc *t, int layer, char *buf, size_t n) {
    if (cl_tensor_per_layer(t)) snprintf(buf, n, "blk.%d.%s.%s", layer, t->name, t->suffix);
    else snprintf(buf, n, "%s.%s", t->name, t->suffix);
}
