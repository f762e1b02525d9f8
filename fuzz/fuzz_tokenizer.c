/* libFuzzer target: the input is text. It is tokenized with the Llama 2
 * (SentencePiece) and Llama 3 (byte-level BPE) vocabularies, and SmolLM2's (byte-level
 * BPE whose unknown-token fallback is the control token <|endoftext|>) when the
 * environment names it in CLLAMA_SMOLLM2, with and without special
 * token matching, into exactly sized buffers (ASan catches a write one past), then a
 * too-small buffer; every id is turned back into its piece, also into a buffer one
 * byte short. Besides memory errors it checks the API contract: the count does not
 * depend on the capacity, ids are in the vocabulary, plain text (valid UTF-8 or not)
 * never yields a control token, and valid UTF-8 round-trips. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"

#ifndef CLLAMA_TESTDATA_DEFAULT
#define CLLAMA_TESTDATA_DEFAULT "../shared/testdata"
#endif

enum { SPM, BPE, SMOL, NVOCAB };
static cllama_model *vocab[NVOCAB];
static const char *const vocab_name[NVOCAB] = {"llama2", "llama3", "smollm2"};

static void fail(const char *what, int v, int flags, size_t len) {
    fprintf(stderr, "fuzz_tokenizer: %s (vocab %s, flags %d, %zu bytes)\n", what, vocab_name[v],
            flags, len);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("CLLAMA_TESTDATA");
    if (!dir || !*dir) dir = CLLAMA_TESTDATA_DEFAULT;
    static const char *const files[NVOCAB] = {"vocab/llama2-vocab.gguf", "vocab/llama3-vocab.gguf", NULL};
    cllama_model_params p = cllama_model_default_params();
    p.vocab_only = 1;
    for (int v = 0; v < NVOCAB; v++) {
        char path[4096];
        const char *smol = getenv("CLLAMA_SMOLLM2");
        if (v == SMOL && (!smol || !*smol)) continue;
        if (v == SMOL)
            snprintf(path, sizeof path, "%s", smol);
        else
            snprintf(path, sizeof path, "%s/%s", dir, files[v]);
        if (cllama_model_load(path, &p, &vocab[v]) != CLLAMA_OK) {
            fprintf(stderr, "fuzz_tokenizer: %s (set CLLAMA_TESTDATA)\n", cllama_last_error());
            exit(1);
        }
    }
    return 0;
}

/* Well-formed UTF-8 (RFC 3629: shortest form, no surrogates, at most U+10FFFF). Other
 * input is tokenized as the reference does, with U+FFFD per bad sequence (byte-level BPE)
 * or byte tokens cut by the lead byte's length (SentencePiece), so it need not come back
 * byte for byte. */
static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!len || i + len > n) return 0;
        uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
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
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= n_vocab) fail("id outside the vocabulary", v, flags, size);
        if (!(flags & CLLAMA_TOKENIZE_SPECIAL) && cllama_token_type(m, ids[i]) == CLLAMA_TOKEN_CONTROL &&
            !(i == 0 && (flags & CLLAMA_TOKENIZE_ADD_BOS)))
            fail("plain text gave a control token", v, flags, size);
    }

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

    /* The Llama vocabularies cover every byte (byte tokens / byte-level BPE), so valid
     * UTF-8 comes back exactly; SentencePiece adds its dummy-prefix space, and reads a
     * literal U+2581 in the text as a space. SmolLM2's lacks tokens for some bytes
     * (control bytes, 0xf1 ...), which are dropped as the reference drops them: the text
     * comes back without them, so its bytes are a subsequence of the input's. */
    if (flags == 0 && valid_utf8(data, size) && v != SMOL) {
        size_t off = v == SPM && size ? 1 : 0;
        int spm_marker = v == SPM && size >= 3 && memmem(data, size, "\xe2\x96\x81", 3);
        int same = tlen == size + off && (!size || ((!off || text[0] == ' ') && !memcmp(text + off, data, size)));
        if (!spm_marker && !same) fail("pieces do not reproduce the text", v, flags, size);
    } else if (flags == 0 && valid_utf8(data, size)) {
        size_t j = 0;
        for (size_t i = 0; i < tlen; i++, j++)
            while (j < size && data[j] != (uint8_t)text[i]) j++;
        if (j > size) fail("pieces are not the text less some bytes", v, flags, size);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int v = 0; v < NVOCAB; v++) {
        if (!vocab[v]) continue;
        check(v, data, size, 0);
        check(v, data, size, CLLAMA_TOKENIZE_ADD_BOS | CLLAMA_TOKENIZE_SPECIAL);
    }
    return 0;
}
