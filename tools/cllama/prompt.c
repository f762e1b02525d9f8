#include "prompt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

int prompt_opt(const char *cmd, int argc, char **argv, int *i, prompt_opts *po) {
    const char *a = argv[*i];
    const char **slot = NULL;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) slot = &po->model;
    else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) slot = &po->text;
    else if (!strcmp(a, "-f") || !strcmp(a, "--file")) slot = &po->file;
    else if (!strcmp(a, "--ids")) slot = &po->ids;
    else if (!strcmp(a, "--no-bos")) { po->no_bos = 1; return 0; }
    else if (!strcmp(a, "--special")) { po->special = 1; return 0; }
    else if (!strcmp(a, "-e") || !strcmp(a, "--escape")) { po->escapes = 1; return 0; }
    else return 1;
    if (!(*slot = arg_value(cmd, argc, argv, i))) return EXIT_USAGE;
    return 0;
}

int prompt_check(const char *cmd, const prompt_opts *po) {
    int given = !!po->text + !!po->file + !!po->ids;
    if (given == 0) return usage_error(cmd, "no prompt given (-p TEXT, -f FILE or --ids LIST)");
    if (given > 1) return usage_error(cmd, "give only one of -p, -f and --ids");
    return 0;
}

int prompt_tokens(const char *cmd, const cllama_model *m, const prompt_opts *po, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    if (po->ids) {
        int rc = arg_int_list(cmd, "--ids", po->ids, ids, n);
        if (rc) return rc;
        int V = cllama_model_n_vocab(m);
        for (int i = 0; i < *n; i++)
            if ((*ids)[i] < 0 || (*ids)[i] >= V) {
                int bad = (*ids)[i];
                free(*ids);
                *ids = NULL;
                return usage_error(cmd, "token id %d is outside the vocabulary (0..%d)", bad, V - 1);
            }
        return 0;
    }
    size_t len;
    char *owned = NULL;
    const char *text = po->text;
    if (po->file) {
        if (!(owned = read_file(po->file, &len))) return runtime_error(cmd, "%s: %s", po->file, strerror(errno));
        text = owned;
    } else if (po->escapes) {
        if (!(owned = strdup(text))) return runtime_error(cmd, "out of memory");
        len = unescape_inplace(owned);
        text = owned;
    } else {
        len = strlen(text);
    }
    int flags = (po->no_bos ? 0 : CLLAMA_TOKENIZE_ADD_BOS) | (po->special ? CLLAMA_TOKENIZE_SPECIAL : 0);
    int rc = tokenize_all(m, text, len, flags, ids, n);
    free(owned);
    return rc ? runtime_error(cmd, "%s", cllama_last_error()) : 0;
}

int tokenize_all(const cllama_model *m, const char *text, size_t len, int flags, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    if (len > (size_t)INT32_MAX / 4) return -1;
    int cap = (int)len + 16;
    for (int attempt = 0; attempt < 2; attempt++) {
        int32_t *v = malloc((size_t)cap * sizeof *v);
        if (!v) return -1;
        int k = cllama_tokenize(m, text, len, flags, v, cap);
        if (k < 0) {
            free(v);
            return k;
        }
        if (k <= cap) {
            *ids = v;
            *n = k;
            return 0;
        }
        free(v);
        cap = k;
    }
    return -1;
}
