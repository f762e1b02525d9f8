#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cllama.h"
#include "commands.h"

static const char *HELP =
    "usage: cllama info [-h] MODEL.gguf\n"
    "Prints architecture, hyperparameters, vocabulary, parameter count, file size\n"
    "and a table of tensors (name, type, shape, bytes).\n";

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(HELP, stdout);
            return 0;
        } else if (!strcmp(argv[i], "-m")) {
            if (!(path = arg_value("info", argc, argv, &i))) return EXIT_USAGE;
        } else if (argv[i][0] == '-') {
            return usage_error("info", "unknown option '%s'", argv[i]);
        } else if (path) {
            return usage_error("info", "more than one model given");
        } else {
            path = argv[i];
        }
    }
    if (!path) return usage_error("info", "no model given");
    cllama_model *m;
    cllama_model_params mp = cli_model_params();
    if (cllama_model_load(path, &mp, &m)) {
        /* A file without all weights (e.g. a vocabulary) can still be described. */
        cllama_model_params p = cli_model_params();
        p.vocab_only = 1;
        char why[512];
        snprintf(why, sizeof why, "%s", cllama_last_error());
        if (cllama_model_load(path, &p, &m)) return runtime_error("info", "%s", why);
        fprintf(stderr, "cllama info: weights not usable: %s\n", why);
    }
    cllama_model_print_info(m, stdout);
    cllama_model_free(m);
    return 0;
}
