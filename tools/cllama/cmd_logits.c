/* Logits of every prompt position in one batch, for comparison with other engines. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cllama.h"
#include "commands.h"
#include "prompt.h"

static const char *HELP =
    "usage: cllama logits -m MODEL (-p TEXT | -f FILE | --ids 1,2,3) -o OUT.f32 [--last]\n"
    "                     [-t THREADS] [--no-bos] [--special]\n"
    "Evaluates the tokens in one batch and writes the logits of every position (or\n"
    "only the last with --last) as little-endian float32, row-major, n_vocab per row.\n"
    "Prints the token ids to stdout.\n";

int cmd_logits(int argc, char **argv) {
    const char *cmd = "logits", *out_path = NULL;
    prompt_opts po = {0};
    int last_only = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int rc = prompt_opt(cmd, argc, argv, &i, &po);
        if (rc == 0) continue;
        if (rc > 1) return rc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        } else if (!strcmp(a, "-o")) {
            if (!(out_path = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--last")) {
            last_only = 1;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, 1024, &threads)) return EXIT_USAGE;
        } else {
            return usage_error(cmd, "unknown option '%s'", a);
        }
    }
    if (!po.model) return usage_error(cmd, "no model given (-m)");
    if (!out_path) return usage_error(cmd, "no output file given (-o)");
    if (prompt_check(cmd, &po)) return EXIT_USAGE;

    int created;
    if (cli_check_writable(out_path, &created)) return runtime_error(cmd, "cannot write %s: %s", out_path, strerror(errno));

    cllama_model *m = NULL;
    cllama_context *ctx = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    int n = 0, rc = EXIT_RUNTIME;
    FILE *f = NULL;
    cllama_model_params mp = cli_model_params();
    if (cli_model_load(cmd, po.model, &mp, &m)) goto done;
    if ((rc = prompt_tokens(cmd, m, &po, &ids, &n))) goto done;
    rc = EXIT_RUNTIME;
    cllama_context_params cp = cli_context_params();
    cp.n_ctx = n;
    cp.n_threads = cli_threads(threads);
    if (cllama_context_init(m, &cp, &ctx)) {
        runtime_error(cmd, "%s", cllama_last_error());
        goto done;
    }
    size_t V = (size_t)cllama_model_n_vocab(m), rows = last_only ? 1 : (size_t)n;
    logits = malloc(rows * V * sizeof *logits);
    if (!logits) {
        runtime_error(cmd, "out of memory for %zu logits", rows * V);
        goto done;
    }
    if (cllama_context_eval(ctx, ids, n, logits, !last_only)) {
        runtime_error(cmd, "%s", cllama_last_error());
        goto done;
    }
    if (!(f = fopen(out_path, "wb"))) {
        runtime_error(cmd, "cannot write %s: %s", out_path, strerror(errno));
        goto done;
    }
    int wrote = fwrite(logits, sizeof *logits, rows * V, f) == rows * V, err = errno;
    if (fclose(f) && wrote) {
        wrote = 0;
        err = errno;
    }
    f = NULL;
    if (!wrote) {
        remove(out_path);
        created = 0;
        runtime_error(cmd, "cannot write %s: %s", out_path, strerror(err));
        goto done;
    }
    for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    printf("\n");
    rc = 0;
done:
    if (rc && created) remove(out_path); /* made empty by the check above */
    free(ids);
    free(logits);
    cllama_context_free(ctx);
    cllama_model_free(m);
    return rc;
}
