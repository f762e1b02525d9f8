/* Helper of test_detok.py: streams token ids through the public detokenizer.
 * usage: detok_dump MODEL.gguf < lines of space-separated token ids
 * Prints, per input line, the hex of the bytes handed out (all pushes, then the
 * flush), and "invalid" if any of them was not complete, valid UTF-8 on its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"

/* 1 if s[0..n) is well-formed UTF-8 and ends on a character boundary. */
static int valid_utf8(const unsigned char *s, int n) {
    for (int i = 0; i < n;) {
        unsigned char c = s[i];
        int need = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!need || i + need > n) return 0;
        unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80, hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        for (int k = 1; k < need; k++)
            if (s[i + k] < (k == 1 ? lo : 0x80) || s[i + k] > (k == 1 ? hi : 0xBF)) return 0;
        i += need;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    cllama_model_params mp = cllama_model_default_params();
    mp.vocab_only = 1;
    cllama_model *m;
    if (cllama_model_load(argv[1], &mp, &m)) {
        fprintf(stderr, "%s\n", cllama_last_error());
        return 1;
    }
    static char line[1 << 16];
    while (fgets(line, sizeof line, stdin)) {
        cllama_detok d;
        cllama_detok_init(&d, m, 0);
        char out[1024];
        int ok = 1;
        for (char *p = line, *end; ; p = end) {
            long id = strtol(p, &end, 10);
            if (end == p) break;
            int k = cllama_detok_push(&d, (int32_t)id, out, (int)sizeof out);
            if (k < 0) return 1;
            ok &= valid_utf8((unsigned char *)out, k);
            for (int i = 0; i < k; i++) printf("%02x", (unsigned char)out[i]);
        }
        int k = cllama_detok_flush(&d, out, (int)sizeof out);
        ok &= valid_utf8((unsigned char *)out, k);
        for (int i = 0; i < k; i++) printf("%02x", (unsigned char)out[i]);
        printf("%s\n", ok ? "" : " invalid");
    }
    cllama_model_free(m);
    return 0;
}
