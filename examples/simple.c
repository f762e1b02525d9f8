/* The smallest complete program on libcllama: load a model, evaluate a prompt, then
 * generate greedily, printing the text as it comes (and the generated token ids on
 * stderr). Built against the installed library:
 *
 *   cc simple.c $(pkg-config --cflags --libs cllama) -o simple
 *   ./simple MODEL.gguf "Once upon a time" 32
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cllama.h>

static int fail(const char *what) {
    fprintf(stderr, "simple: %s: %s\n", what, cllama_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT [N_TOKENS]\n", argv[0]);
        return 2;
    }
    int n_gen = argc > 3 ? atoi(argv[3]) : 32;
    cllama_model *model;
    if (cllama_model_load(argv[1], NULL, &model)) return fail("load");
    cllama_context *ctx;
    if (cllama_context_init(model, NULL, &ctx)) return fail("context");

    int32_t ids[512];
    int n = cllama_tokenize(model, argv[2], strlen(argv[2]), CLLAMA_TOKENIZE_ADD_BOS, ids, 512);
    if (n < 0 || n > 512) return fail("tokenize");
    cllama_batch batch = {.n_tokens = n, .token = ids}; /* sequence 0, logits of the last token */
    int n_vocab = cllama_model_n_vocab(model);
    cllama_detok detok;
    cllama_detok_init(&detok, model, 0);
    char text[1024];
    fprintf(stderr, "generated ids:");
    for (int i = 0; i < n_gen; i++) {
        if (cllama_decode(ctx, &batch)) return fail("decode");
        const float *logits = cllama_get_logits(ctx, -1);
        int32_t best = 0;
        for (int v = 1; v < n_vocab; v++)
            if (logits[v] > logits[best]) best = v;
        if (cllama_token_is_eog(model, best)) break;
        fprintf(stderr, " %d", best);
        int k = cllama_detok_push(&detok, best, text, sizeof text);
        if (k > 0) fwrite(text, 1, (size_t)k, stdout);
        fflush(stdout);
        ids[0] = best;
        batch.n_tokens = 1; /* next step: the new token, at the sequence's next position */
    }
    int k = cllama_detok_flush(&detok, text, sizeof text);
    if (k > 0) fwrite(text, 1, (size_t)k, stdout);
    printf("\n");
    fprintf(stderr, "\n");
    cllama_context_free(ctx);
    cllama_model_free(model);
    return 0;
}
