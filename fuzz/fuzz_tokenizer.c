/* libFuzzer target: the input is text. It is tokenized with the Llama 2
 * (SentencePiece) and Llama 3 (byte-level BPE) vocabularies, with and without special
 * token matching, into exactly sized buffers (ASan catches a write one past), then a
 * too-small buffer; every id is turned back into its piece, also into a buffer one
 * byte short. Besides memory errors it checks the API contract: the count does not
 * depend on the capacity, ids are in the vocabulary, and plain text round-trips. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"

#ifndef CLLAMA_TESTDATA_DEFAULT
#define CLLAMA_TESTDATA_DEFAULT "../shared/testdata"
#endif

enum { SPM, BPE, NVOCAB };
static cllama_model *vocab[NVOCAB];

static void fail(const char *what, int v, int flags, size_t len) {
    fprintf(stderr, "fuzz_tokenizer: %s (vocab %s, flags %d, %zu bytes)\n", what, v == SPM ? "llama2" : "llama3",
            flags, len);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("CLLAMA_TESTDATA");
    if (!dir || !*dir) dir = CLLAMA_TESTDATA_DEFAULT;
    static const char *const files[NVOCAB] = {"vocab/llama2-vocab.gguf", "vocab/llama3-vocab.gguf"};
    cllama_model_params p = cllama_model_default_params();
    p.vocab_only = 1;
    for (int v = 0; v < NVOCAB; v++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[v]);
        if (cllama_model_load(path, &p, &vocab[v]) != CLLAMA_OK) {
            fprintf(stderr, "fuzz_tokenizer: %s (set CLLAMA_TESTDATA)\n", cllama_last_error());
            exit(1);
        }
    }
    return 0;
}

/* Tokenizes into a buffer of exactly `cap` ids, so any write past it is caught. */
static int tokenize_exact(const cllama_model *m, const uint8_t *text, size_t len, int flags, int cap,
                          int32_t **out) {
    *out = malloc((size_t)(cap > 0 ? cap : 1) * sizeof **out);
    if (!*out) abort();
    return cllama_tokenize(m, (const char *)text, len, flags, cap > 0 ? *out : NULL, cap);
}

/* Appends the piece of `id` to `acc` (grown as needed); returns its length. */
static int piece(const cllama_model *m, int32_t id, char **acc, size_t *acc_len, size_t *acc_cap, int v,
                 int flags, size_t len) {
    int cap = 8, n;
    char *buf;
    for (;;) {
        if (!(buf = malloc((size_t)cap))) abort();
        n = cllama_token_to_piece(m, id, buf, cap);
        if (n != CLLAMA_E_RANGE || cap >= 1 << 20) break;
        free(buf);
        cap *= 8;
    }
    if (n < 0 || n > cap) fail("token_to_piece failed on an id tokenize returned", v, flags, len);
    if (n > 0) {
        char *small = malloc((size_t)n - 1 ? (size_t)n - 1 : 1);
        if (!small) abort();
        if (cllama_token_to_piece(m, id, small, n - 1) != CLLAMA_E_RANGE)
            fail("token_to_piece accepted a buffer one byte short", v, flags, len);
        free(small);
        if (*acc_len + (size_t)n > *acc_cap) {
            *acc_cap = (*acc_len + (size_t)n) * 2;
            if (!(*acc = realloc(*acc, *acc_cap))) abort();
        }
        memcpy(*acc + *acc_len, buf, (size_t)n);
        *acc_len += (size_t)n;
    }
    free(buf);
    return n;
}

static void check(int v, const uint8_t *data, size_t size, int flags) {
    const cllama_model *m = vocab[v];
    int32_t *ids;
    int cap = (int)size + 8;
    int n = tokenize_exact(m, data, size, flags, cap, &ids);
    if (n < 0) fail(cllama_last_error(), v, flags, size);
    if (n > cap) {
        free(ids);
        cap = n;
        if (tokenize_exact(m, data, size, flags, cap, &ids) != n) fail("count depends on capacity", v, flags, size);
    }
    int n_vocab = cllama_model_n_vocab(m);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab) fail("id outside the vocabulary", v, flags, size);

    if (n > 1) {
        int32_t *few;
        if (tokenize_exact(m, data, size, flags, n / 2, &few) != n) fail("count depends on capacity", v, flags, size);
        if (memcmp(few, ids, (size_t)(n / 2) * sizeof *ids)) fail("short buffer got other ids", v, flags, size);
        free(few);
    }

    char *text = NULL;
    size_t tlen = 0, tcap = 0;
    for (int i = 0; i < n; i++) piece(m, ids[i], &text, &tlen, &tcap, v, flags, size);
    free(ids);

    /* Both vocabularies cover every byte (byte tokens / byte-level BPE), so plain text
     * comes back exactly; SentencePiece adds its dummy-prefix space, and reads a
     * literal U+2581 in the text as a space. */
    if (flags == 0) {
        size_t off = v == SPM && size ? 1 : 0;
        int spm_marker = v == SPM && size >= 3 && memmem(data, size, "\xe2\x96\x81", 3);
        int same = tlen == size + off && (!size || ((!off || text[0] == ' ') && !memcmp(text + off, data, size)));
        if (!spm_marker && !same) fail("pieces do not reproduce the text", v, flags, size);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int v = 0; v < NVOCAB; v++) {
        check(v, data, size, 0);
        check(v, data, size, CLLAMA_TOKENIZE_ADD_BOS | CLLAMA_TOKENIZE_SPECIAL);
    }
    return 0;
}
