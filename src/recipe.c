/* File types and per-tensor recipes (see recipe.h). The rules follow llama.cpp's
 * llama_tensor_get_type for the file types cllama can make, without an importance
 * matrix; architectures other than Llama-family dense models (Falcon, MoE) are not
 * handled. */
#include "recipe.h"

#include <string.h>
#include <strings.h>

#include "quant/quant.h"

/* Every number llama.cpp defines (so files are named as it names them), with the base
 * type of the ones cllama makes. */
static const cl_ftype FTYPES[] = {
    {"F32", 0, CL_TYPE_F32},       {"F16", 1, CL_TYPE_F16},       {"Q4_0", 2, CL_TYPE_Q4_0},
    {"Q4_1", 3, CL_TYPE_Q4_1},     {"Q8_0", 7, CL_TYPE_Q8_0},     {"Q5_0", 8, CL_TYPE_Q5_0},
    {"Q5_1", 9, CL_TYPE_Q5_1},     {"Q2_K", 10, CL_TYPE_Q2_K},    {"Q3_K_S", 11, CL_TYPE_Q3_K},
    {"Q3_K_M", 12, CL_TYPE_Q3_K},  {"Q3_K_L", 13, CL_TYPE_Q3_K},  {"Q4_K_S", 14, CL_TYPE_Q4_K},
    {"Q4_K_M", 15, CL_TYPE_Q4_K},  {"Q5_K_S", 16, CL_TYPE_Q5_K},  {"Q5_K_M", 17, CL_TYPE_Q5_K},
    {"Q6_K", 18, CL_TYPE_Q6_K},    {"IQ2_XXS", 19, -1},           {"IQ2_XS", 20, -1},
    {"Q2_K_S", 21, -1},            {"IQ3_XS", 22, -1},            {"IQ3_XXS", 23, -1},
    {"IQ1_S", 24, -1},             {"IQ4_NL", 25, -1},            {"IQ3_S", 26, -1},
    {"IQ3_M", 27, -1},             {"IQ2_S", 28, -1},             {"IQ2_M", 29, -1},
    {"IQ4_XS", 30, -1},            {"IQ1_M", 31, -1},             {"BF16", 32, CL_TYPE_BF16},
};
#define N_FTYPES (int)(sizeof FTYPES / sizeof *FTYPES)

const cl_ftype *cl_ftype_find(const char *name) {
    for (int i = 0; name && i < N_FTYPES; i++)
        if (!strcasecmp(FTYPES[i].name, name)) return &FTYPES[i];
    return NULL;
}

const cl_ftype *cl_ftype_by_number(uint32_t ftype) {
    for (int i = 0; i < N_FTYPES; i++)
        if (FTYPES[i].ftype == ftype) return &FTYPES[i];
    return NULL;
}

const char *cl_ftype_list(void) {
    return "F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K";
}

/* The layers the "_M" mixes give more bits: the first and last eighth, and every
 * third layer between. */
static int more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* llama.cpp's tensor_allows_quantization, for the tensors of Llama-family models. */
static int quantizable(const char *name, int n_dims) {
    return n_dims >= 2 && ends_with(name, "weight") && !strstr(name, "_norm.weight") &&
           !strstr(name, "ffn_gate_inp.weight");
}

static int is_ftype(const cl_recipe *r, const char *name) { return !strcmp(r->ft->name, name); }

/* A 256-block type on rows that are not whole super-blocks. */
static int fit_row(int type, int64_t ne0, int *fallback) {
    const cl_type_traits *tt = cl_type_info(type);
    if (!tt || ne0 % tt->block_size == 0) return type;
    *fallback = 1;
    int t;
    switch (type) {
    case CL_TYPE_Q2_K:
    case CL_TYPE_Q3_K: t = CL_TYPE_Q4_0; break;
    case CL_TYPE_Q4_K: t = CL_TYPE_Q5_0; break;
    case CL_TYPE_Q5_K: t = CL_TYPE_Q5_1; break;
    case CL_TYPE_Q6_K: t = CL_TYPE_Q8_0; break;
    default: t = type; break;
    }
    /* rows not even a multiple of 32: F16, as llama.cpp does */
    return ne0 % cl_type_info(t)->block_size == 0 ? t : CL_TYPE_F16;
}

/* The mixes: the type a quantized matrix gets beyond the base type. */
static int mix_type(const cl_recipe *r, cl_recipe_state *st, const char *name, int64_t ne0, int t) {
    int n = r->n_layer, gqa = r->n_head_kv > 0 ? r->n_head / r->n_head_kv : 1;
    int is_output = !strcmp(name, "output.weight"), is_embd = !strcmp(name, "token_embd.weight");
    if (is_output || (r->tied && is_embd)) {
        /* the most sensitive matrix: 6 bits unless already 8 */
        if (ne0 % cl_type_info(t)->block_size != 0) return CL_TYPE_Q8_0;
        return t != CL_TYPE_Q8_0 ? CL_TYPE_Q6_K : t;
    }
    if (is_embd) return t;
    if (strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight")) {
        int i = st->i_attn_v++;
        if (is_ftype(r, "Q2_K")) t = gqa >= 4 ? CL_TYPE_Q4_K : CL_TYPE_Q3_K;
        else if (is_ftype(r, "Q3_K_M")) t = i < 2 ? CL_TYPE_Q5_K : CL_TYPE_Q4_K;
        else if (is_ftype(r, "Q3_K_L")) t = CL_TYPE_Q5_K;
        else if ((is_ftype(r, "Q4_K_M") || is_ftype(r, "Q5_K_M")) && more_bits(i, r->n_attn_v)) t = CL_TYPE_Q6_K;
        else if (is_ftype(r, "Q4_K_S") && i < 4) t = CL_TYPE_Q5_K;
        /* 70B: 8 query heads share each V head, so attn_v is 8x smaller than attn_q and
         * more bits cost next to nothing */
        if (r->is_70b && (t == CL_TYPE_Q3_K || t == CL_TYPE_Q4_K)) t = CL_TYPE_Q5_K;
        return t;
    }
    if (strstr(name, "ffn_down")) {
        int i = st->i_ffn_down++;
        if (is_ftype(r, "Q2_K")) t = CL_TYPE_Q3_K;
        else if (is_ftype(r, "Q3_K_M")) t = i < n / 16 ? CL_TYPE_Q5_K : CL_TYPE_Q4_K;
        else if (is_ftype(r, "Q3_K_L")) t = CL_TYPE_Q5_K;
        else if (is_ftype(r, "Q4_K_M") && more_bits(i, n)) t = CL_TYPE_Q6_K;
        else if (is_ftype(r, "Q5_K_M") && more_bits(i, n)) t = CL_TYPE_Q6_K;
        else if (is_ftype(r, "Q4_K_S") && i < n / 8) t = CL_TYPE_Q5_K;
        return t;
    }
    if (strstr(name, "attn_output.weight")) {
        if (is_ftype(r, "Q2_K")) t = CL_TYPE_Q3_K;
        else if (is_ftype(r, "Q3_K_M")) t = CL_TYPE_Q4_K;
        else if (is_ftype(r, "Q3_K_L")) t = CL_TYPE_Q5_K;
    }
    return t;
}

int cl_recipe_type(const cl_recipe *r, cl_recipe_state *st, const char *name, int n_dims, int64_t ne0,
                   int *fallback) {
    *fallback = 0;
    if (!quantizable(name, n_dims)) return -1;
    int is_output = !strcmp(name, "output.weight"), is_embd = !strcmp(name, "token_embd.weight");
    /* forced types are taken as given (llama.cpp applies no fallback to them) */
    if (r->embd_type >= 0 && is_embd) return r->embd_type;
    if (r->output_type >= 0 && (is_output || (r->tied && is_embd))) return r->output_type;
    int t = r->ft->base;
    if (t == CL_TYPE_F32 || t == CL_TYPE_F16 || t == CL_TYPE_BF16) return t; /* float files have no mix */
    if (!r->pure) t = mix_type(r, st, name, ne0, t);
    else if (strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight")) st->i_attn_v++;
    else if (strstr(name, "ffn_down")) st->i_ffn_down++;
    return fit_row(t, ne0, fallback);
}
