/* llama.cpp's own tokenizer suite (test-tokenizer-0): for each vocabulary family,
 * models/ggml-vocab-NAME.gguf with NAME.gguf.inp (texts separated by
 * "\n__ggml_vocab_test__\n") and NAME.gguf.out (one line of ids per text), as
 * llama-cpp-python's source package carries them (scripts/setup.sh extracts them to
 * build/vocab-suite). Each text is tokenized as that test does (no BOS, control tokens
 * not matched in the text) and must give exactly the reference's ids.
 *
 * usage: test_vocab_suite DIR NAME...   (exit 77 when DIR lacks the files) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"
#include "logit_util.h"

/* The family's cases: 0 if every one matches; prints the first mismatch. */
static int family(const char *dir, const char *name, int *n_cases) {
    char path[1024], inp_path[1100], out_path[1100];
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, name);
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);
    size_t ni, no;
    char *inp = slurp(inp_path, &ni), *out = slurp(out_path, &no);
    cllama_model_params mp = cllama_model_default_params();
    mp.vocab_only = 1;
    cllama_model *m = NULL;
    int bad = 0, cases = 0;
    if (!inp || !out || cllama_model_load(path, &mp, &m)) {
        printf("FAIL %s: %s\n", name, inp && out ? cllama_last_error() : "files missing");
        free(inp), free(out);
        return 1;
    }
    static const char sep[] = "\n__ggml_vocab_test__\n";
    int32_t ids[8192];
    char *text = inp, *line = out;
    while (text < inp + ni) { /* as test-tokenizer-0 cuts them: no case after the last separator */
        char *end = strstr(text, sep);
        size_t len = end ? (size_t)(end - text) : (size_t)(inp + ni - text);
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        int n = cllama_tokenize(m, text, len, 0, ids, 8192), k = 0, same = n >= 0;
        for (char *p = line, *q; same; p = q) {
            long v = strtol(p, &q, 10);
            if (q == p) break;
            same = k < n && ids[k++] == v;
        }
        same = same && k == n;
        if (!same && !bad)
            printf("FAIL %s case %d (%zu bytes): ids differ from the reference's (%s)\n", name, cases, len, line);
        bad += !same;
        cases++;
        line = nl ? nl + 1 : line + strlen(line);
        if (!end) break;
        text = end + sizeof sep - 1;
    }
    printf("%-15s %d/%d cases exact%s\n", name, cases - bad, cases, bad ? "  FAIL" : "");
    *n_cases = cases;
    cllama_model_free(m);
    free(inp), free(out);
    return bad != 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR NAME...\n", argv[0]);
        return 2;
    }
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/ggml-vocab-%s.gguf.inp", argv[1], argv[2]);
    FILE *f = fopen(probe, "rb");
    if (!f) {
        printf("skipped: llama.cpp's vocabulary suite is not in %s (scripts/setup.sh extracts it from "
               "llama-cpp-python's source package on PyPI)\n", argv[1]);
        return 77;
    }
    fclose(f);
    int failed = 0, total = 0;
    for (int i = 2; i < argc; i++) {
        int n = 0;
        failed += family(argv[1], argv[i], &n);
        total += n;
    }
    printf("%d families, %d cases: %s\n", argc - 2, total, failed ? "FAILED" : "all exact");
    return failed ? 1 : 0;
}
