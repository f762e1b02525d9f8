/* Writes small valid GGUF models into DIR as fuzz_gguf seeds (made at run time, never
 * committed): one per weight type the engine supports, with a SentencePiece or a
 * byte-level BPE vocabulary, so mutations start from files that load and evaluate and
 * reach every dequantizer and dot kernel, not only the header parser.
 * usage: make_seeds DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_write.h"
#include "quant/quant.h"

enum { SPM, BPE };

/* GPT-2's byte -> unicode mapping, as UTF-8. */
static void gpt2_char(int b, char *out) {
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    unsigned cp = (unsigned)b;
    if (!printable) {
        cp = 256;
        for (int i = 0; i < b; i++) cp += !((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255));
    }
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

static int add_vocab(cl_gguf_writer *w, int kind) {
    static const char *const spm_words[] = {"\xe2\x96\x81the", "\xe2\x96\x81Hello", "\xe2\x96\x81world", "ll", "or",
                                            "\xe2\x96\x81w", "he", "\xe2\x96\x81t"};
    static const char *const bpe_merges[] = {"\xc4\xa0 t", "h e", "\xc4\xa0t he", "l l", "o r", "\xc4\xa0 w",
                                             "\xc4\xa0w or", "\xc4\xa0wor ld"};
    enum { NW = 8, MAXV = 3 + 256 + NW };
    char *tok[MAXV];
    float score[MAXV];
    int32_t type[MAXV];
    int n = 0, rc = 0;
    char b[32];
    if (kind == SPM) {
        const char *head[3] = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < 3; i++) type[n] = i ? 3 : 2, tok[n++] = strdup(head[i]);
        for (int i = 0; i < 256; i++) snprintf(b, sizeof b, "<0x%02X>", i), type[n] = 6, tok[n++] = strdup(b);
        for (int i = 0; i < NW; i++) type[n] = 1, tok[n++] = strdup(spm_words[i]);
    } else {
        for (int i = 0; i < 256; i++) gpt2_char(i, b), type[n] = 1, tok[n++] = strdup(b);
        for (int i = 0; i < NW; i++) { /* each merge's result is a token */
            const char *m = bpe_merges[i], *sp = strchr(m, ' ');
            snprintf(b, sizeof b, "%.*s%s", (int)(sp - m), m, sp + 1);
            type[n] = 1, tok[n++] = strdup(b);
        }
        type[n] = 3, tok[n++] = strdup("<|begin_of_text|>");
        type[n] = 3, tok[n++] = strdup("<|eot_id|>");
    }
    for (int i = 0; i < n; i++) score[i] = -(float)i;
    rc |= cl_gw_str(w, "tokenizer.ggml.model", kind == SPM ? "llama" : "gpt2");
    if (kind == BPE) {
        rc |= cl_gw_str(w, "tokenizer.ggml.pre", "llama-bpe");
        rc |= cl_gw_arr_str(w, "tokenizer.ggml.merges", bpe_merges, NW);
        rc |= cl_gw_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)n - 2);
        rc |= cl_gw_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)n - 1);
        rc |= cl_gw_bool(w, "tokenizer.ggml.add_bos_token", 1);
    } else {
        rc |= cl_gw_arr_f32(w, "tokenizer.ggml.scores", score, (uint64_t)n);
    }
    rc |= cl_gw_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)n);
    rc |= cl_gw_arr_i32(w, "tokenizer.ggml.token_type", type, (uint64_t)n);
    for (int i = 0; i < n; i++) free(tok[i]);
    return rc ? -1 : n;
}

/* A one-layer model whose matrices are all of `type` (norms F32); vocab_only: no
 * tensors. Rows are one K-quant super-block or two legacy blocks long. */
static int write_model(const char *dir, const char *name, int type, int kind, int tied, int vocab_only) {
    cl_gguf_writer *w = cl_gw_new();
    const cl_type_traits *tt = cl_type_info(type);
    int64_t E = tt->block_size == CL_QK_K ? 256 : 64, F = E, H = 4, Hkv = 2, D = E / H, KD = Hkv * D;
    int rc = !w || cl_gw_str(w, "general.architecture", "llama") || cl_gw_str(w, "general.name", name) ||
             cl_gw_u32(w, "llama.embedding_length", (uint32_t)E) || cl_gw_u32(w, "llama.block_count", 1) ||
             cl_gw_u32(w, "llama.feed_forward_length", (uint32_t)F) ||
             cl_gw_u32(w, "llama.attention.head_count", (uint32_t)H) ||
             cl_gw_u32(w, "llama.attention.head_count_kv", (uint32_t)Hkv) ||
             cl_gw_u32(w, "llama.context_length", 64) || cl_gw_f32(w, "llama.rope.freq_base", 10000.0f) ||
             cl_gw_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    int V = rc ? -1 : add_vocab(w, kind);
    if (V < 0) return -1;
    if (!vocab_only) {
        struct { const char *name; int64_t ne0, ne1; } t[] = {
            {"token_embd.weight", E, V},       {"output_norm.weight", E, 1},    {"output.weight", E, V},
            {"blk.0.attn_norm.weight", E, 1},  {"blk.0.attn_q.weight", E, E},   {"blk.0.attn_k.weight", E, KD},
            {"blk.0.attn_v.weight", E, KD},    {"blk.0.attn_output.weight", E, E}, {"blk.0.ffn_norm.weight", E, 1},
            {"blk.0.ffn_gate.weight", E, F},   {"blk.0.ffn_up.weight", E, F},   {"blk.0.ffn_down.weight", F, E}};
        for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
            if (tied && !strcmp(t[i].name, "output.weight")) continue;
            int64_t ne[2] = {t[i].ne0, t[i].ne1};
            if (cl_gw_tensor(w, t[i].name, t[i].ne1 == 1 ? CL_TYPE_F32 : type, t[i].ne1 == 1 ? 1 : 2, ne) < 0) return -1;
        }
    }
    uint8_t *buf;
    size_t size;
    if (cl_gw_layout(w, &buf, &size)) return -1;
    float row[256];
    unsigned seed = 12345;
    for (int i = 0; i < cl_gw_n_tensors(w); i++) {
        size_t nb;
        uint8_t *d = cl_gw_tensor_data(w, buf, i, &nb);
        int ty = cl_gw_tensor_type(w, i);
        size_t rb = cl_row_size(ty, E); /* every row is E long (F == E) */
        for (size_t r = 0; r < nb / rb; r++) {
            for (int64_t k = 0; k < E; k++) {
                seed = seed * 1103515245u + 12345u;
                row[k] = ty == CL_TYPE_F32 ? 1.0f : ((float)(seed >> 16 & 0x7FFF) / 32767.0f - 0.5f) * 0.2f;
            }
            if (cl_quantize_row(ty, row, d + r * rb, E)) return -1;
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(buf, 1, size, f) == size;
    if (f && fclose(f)) ok = 0;
    cl_gw_buffer_free(buf, size);
    cl_gw_free(w);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    static const int types[] = {CL_TYPE_F16,  CL_TYPE_BF16, CL_TYPE_Q4_0, CL_TYPE_Q4_1, CL_TYPE_Q5_0, CL_TYPE_Q5_1,
                                CL_TYPE_Q8_0, CL_TYPE_Q2_K, CL_TYPE_Q3_K, CL_TYPE_Q4_K, CL_TYPE_Q5_K, CL_TYPE_Q6_K};
    int fails = 0;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        char name[64];
        snprintf(name, sizeof name, "seed-%s", cl_type_name(types[i]));
        /* alternate the vocabulary kind and tied / separate output between types */
        fails += write_model(argv[1], name, types[i], i % 3 == 2 ? BPE : SPM, (int)(i % 2), 0) != 0;
    }
    fails += write_model(argv[1], "seed-bpe-vocab", CL_TYPE_F32, BPE, 0, 1) != 0;
    if (fails) fprintf(stderr, "make_seeds: %d seed files could not be written\n", fails);
    return fails ? 1 : 0;
}
