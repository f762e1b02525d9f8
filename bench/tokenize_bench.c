/* Tokenizer throughput: ~1 MB of mixed text (English prose, C and Python code,
 * numbers, Cyrillic/CJK/Khmer/emoji, whitespace runs), tokenized with each vocabulary.
 * Prints load time, MB/s and tokens/s (best of several runs).
 * Usage: tokenize_bench [-n BYTES] [-r RUNS] [VOCAB.gguf ...]
 * (default: the Llama 2 and Llama 3 vocabularies under CLLAMA_TESTDATA/vocab). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cllama.h"
#include "gguf.h"
#include "tokenizer.h"

#ifndef CLLAMA_TESTDATA
#define CLLAMA_TESTDATA "../shared/testdata"
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const PROSE[] = {
    "The quick brown fox jumps over the lazy dog. ",
    "It was the best of times, it was the worst of times; it was the age of wisdom. ",
    "I've been told he's there, but we'll see if they're right -- won't we? ",
    "Researchers reported that the model's accuracy improved by 3.7% after fine-tuning. ",
    "\"Hello,\" she said, \"how are you doing today?\" ",
    "In 1969, Apollo 11 landed on the Moon; 600 million people watched it live.\n",
};
static const char *const CODE[] = {
    "static int add(int a, int b) {\n    return a + b; /* sum */\n}\n",
    "for (size_t i = 0; i < n; i++) {\n\tif (buf[i] == '\\n') lines++;\n}\n",
    "def tokenize(text: str) -> list[int]:\n        return [ord(c) for c in text if c != ' ']\n",
    "    x = {\"key\": [1, 2, 3], 'other': None}  # comment\n",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }\n",
};
static const char *const UNI[] = {
    "Привет, как дела? Всё хорошо. ",
    "我想在apple工作1314151天～ 你好，世界！",
    "日本語のテキストも少し入れておきます。 ",
    "ស្រុកខ្មែរ \xf0\x9f\x9a\x80 (normal) \xf0\x9f\x98\xb6\xe2\x80\x8d\xf0\x9f\x8c\xab\xef\xb8\x8f ✅ ",
    "Ελληνικά και Français: déjà vu, naïve café. ",
    "\xf0\x9f\xa6\x99\xf0\x9f\xa6\x99 emoji \xf0\x9f\x98\x81 ",
};

static size_t put(char *b, size_t at, size_t cap, const char *s) {
    size_t n = strlen(s);
    if (at + n > cap) n = cap - at;
    memcpy(b + at, s, n);
    return at + n;
}

static char *make_text(size_t cap, size_t *len) {
    char *b = malloc(cap);
    size_t n = 0;
    while (n < cap) {
        uint32_t k = rnd(100);
        char num[64];
        if (k < 45) n = put(b, n, cap, PROSE[rnd(sizeof PROSE / sizeof *PROSE)]);
        else if (k < 70) n = put(b, n, cap, CODE[rnd(sizeof CODE / sizeof *CODE)]);
        else if (k < 85) n = put(b, n, cap, UNI[rnd(sizeof UNI / sizeof *UNI)]);
        else if (k < 93) {
            snprintf(num, sizeof num, "%u.%02u %u, 0x%08X ", rnd(100000), rnd(100), rnd(1000000000), rnd(0xFFFFFFFFu));
            n = put(b, n, cap, num);
        } else {
            static const char ws[] = "      \t\t  \n\n\n   \r\n        ";
            size_t w = 1 + rnd(sizeof ws - 1);
            n = put(b, n, cap, ws + (sizeof ws - 1 - w));
        }
    }
    /* the cut at `cap` may split a character; back up to a boundary */
    while (n > 0 && ((unsigned char)b[n - 1] & 0xC0) == 0x80) n--;
    if (n > 0 && (unsigned char)b[n - 1] >= 0xC0) n--;
    *len = n;
    return b;
}

int main(int argc, char **argv) {
    size_t bytes = 1 << 20;
    int runs = 5;
    const char *files[16];
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) bytes = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-h")) {
            printf("usage: %s [-n BYTES] [-r RUNS] [VOCAB.gguf ...]\n", argv[0]);
            return 0;
        } else if (nf < 16) files[nf++] = argv[i];
    }
    if (runs < 1) runs = 1;
    static char def[2][1024];
    if (!nf) {
        snprintf(def[0], sizeof def[0], "%s/vocab/llama2-vocab.gguf", CLLAMA_TESTDATA);
        snprintf(def[1], sizeof def[1], "%s/vocab/llama3-vocab.gguf", CLLAMA_TESTDATA);
        files[nf++] = def[0];
        files[nf++] = def[1];
    }
    size_t len;
    char *text = make_text(bytes, &len);
    printf("text: %zu bytes of mixed prose, code, numbers, unicode and whitespace; best of %d runs\n", len, runs);
    printf("%-24s %9s %9s %9s %12s\n", "vocabulary", "load ms", "tokens", "MB/s", "tokens/s");
    int32_t *ids = malloc((len + 8) * sizeof *ids);
    int rc = 0;
    for (int f = 0; f < nf; f++) {
        cl_gguf *g;
        cl_vocab *v;
        double t0 = now_s();
        if (cl_gguf_open(files[f], &g) || cl_vocab_load(g, &v)) {
            fprintf(stderr, "%s: %s\n", files[f], cllama_last_error());
            rc = 1;
            continue;
        }
        double load = now_s() - t0, best = 1e30;
        int n = 0;
        for (int r = 0; r < runs; r++) {
            double t = now_s();
            n = cl_vocab_tokenize(v, text, len, 0, ids, (int)len + 8);
            t = now_s() - t;
            if (t < best) best = t;
        }
        const char *name = strrchr(files[f], '/') ? strrchr(files[f], '/') + 1 : files[f];
        if (n < 0) {
            fprintf(stderr, "%s: %s\n", name, cllama_last_error());
            rc = 1;
        } else {
            printf("%-24s %9.1f %9d %9.2f %12.0f\n", name, load * 1e3, n, len / best / 1e6, n / best);
        }
        cl_vocab_free(v);
        cl_gguf_close(g);
    }
    free(ids);
    free(text);
    return rc;
}
