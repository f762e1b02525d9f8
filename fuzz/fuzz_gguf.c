/* libFuzzer target: the input is a GGUF image. It goes through the whole load path
 * (header, metadata, tensor table, vocabulary, hyperparameters, weight shapes) from
 * memory, so ASan sees any read past the exact end of the input. A model that loads
 * also gets a small context, an evaluation and a tokenization; one that does not is
 * retried as vocabulary-only, so fuzzed vocabularies reach the tokenizer too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"

/* Weights can alias (every tensor may point at the same bytes), so a small input can
 * describe a model whose one-token forward pass takes seconds; above this many weight
 * bytes the harness skips evaluation to keep the fuzzer fast. Loading is still checked. */
#define MAX_EVAL_WEIGHT_BYTES (16u << 20)

static void exercise_tokens(const cllama_model *m) {
    static const char text[] = "Hello world <s> \xe2\x96\x81 caf\xc3\xa9 \xff 12345";
    int32_t ids[64];
    char piece[32];
    for (int flags = 0; flags < 4; flags++) {
        int n = cllama_tokenize(m, text, sizeof text - 1, flags, ids, 64);
        cllama_detok d;
        cllama_detok_init(&d, m, flags & 1 ? CLLAMA_DETOK_SPECIAL : 0);
        char text_out[1024];
        for (int i = 0; i < n && i < 64; i++) {
            if (ids[i] < 0 || ids[i] >= cllama_model_n_vocab(m)) __builtin_trap();
            (void)cllama_token_to_piece(m, ids[i], piece, (int)sizeof piece);
            (void)cllama_detok_push(&d, ids[i], text_out, (int)sizeof text_out);
        }
        (void)cllama_detok_flush(&d, text_out, (int)sizeof text_out);
    }
    (void)cllama_token_to_piece(m, cllama_token_bos(m), piece, (int)sizeof piece);
    (void)cllama_token_to_piece(m, cllama_token_eos(m), piece, (int)sizeof piece);
    (void)cllama_token_is_eog(m, cllama_token_eos(m));
}

static void exercise_eval(cllama_model *m) {
    cllama_model_desc desc;
    cllama_model_describe(m, &desc);
    if (desc.weight_bytes > MAX_EVAL_WEIGHT_BYTES) return;
    cllama_context_params cp = cllama_context_default_params();
    cp.n_ctx = 8;
    cp.n_threads = 1;
    cp.n_seq_max = 2;
    cllama_context *c = NULL;
    if (cllama_context_init(m, &cp, &c) != CLLAMA_OK) return;
    int n_vocab = cllama_model_n_vocab(m);
    float *logits = malloc((size_t)n_vocab * 2 * sizeof *logits);
    if (logits) {
        int32_t bos = cllama_token_bos(m);
        int32_t t[2] = {bos >= 0 ? bos : 0, n_vocab - 1};
        (void)cllama_context_eval(c, t, 2, logits, 1);
        (void)cllama_context_eval(c, t, 1, logits, 0);
        /* a second sequence sharing the first's prefix, both advanced in one batch */
        int32_t seq[2] = {0, 1};
        (void)cllama_kv_seq_cp(c, 0, 1, 0, 2);
        cllama_batch b = {.n_tokens = 2, .token = t, .seq_id = seq};
        (void)cllama_decode(c, &b);
        (void)cllama_kv_seq_rm(c, 0, 1, -1);
    }
    free(logits);
    cllama_context_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cllama_model_params p = cllama_model_default_params();
    cllama_model *m = NULL;
    if (cllama_model_load_buffer(data, size, &p, &m) == CLLAMA_OK) {
        exercise_eval(m);
        exercise_tokens(m);
        cllama_model_free(m);
        return 0;
    }
    p.vocab_only = 1;
    if (cllama_model_load_buffer(data, size, &p, &m) == CLLAMA_OK) {
        exercise_tokens(m);
        cllama_model_free(m);
    }
    return 0;
}
