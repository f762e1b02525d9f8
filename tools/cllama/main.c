/* cllama: one CLI, one subcommand per task. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cllama.h"
#include "commands.h"
#include "dist.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
    int across_ranks; /* runs under mpirun -np N with the model's layers split (dist.h) */
} command;

static const command commands[] = {
    {"run", cmd_run, "generate text from a prompt", 1},
    {"chat", cmd_chat, "talk with a chat model through its own template", 1},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server with parallel requests and a chat page", 1},
    {"info", cmd_info, "describe a GGUF model: hyperparameters, vocabulary, tensors", 0},
    {"logits", cmd_logits, "evaluate tokens in one batch and write their logits (float32)", 1},
    {"tokenize", cmd_tokenize, "print the tokens of a text", 0},
    {"bench", cmd_bench, "prompt-processing and generation tokens/s (files or synthetic models)", 1},
    {"synth", cmd_synth, "write a synthetic model of a real shape as GGUF", 0},
    {"limits", cmd_limits, "predict speed and memory fit on a device, and the limit that binds", 0},
    {"perplexity", cmd_perplexity, "perplexity of a text, and KL divergence against a stored base model", 1},
    {"quantize", cmd_quantize, "write a model in another file type (Q8_0, Q4_0, Q4_K_M, ...)", 0},
    {"quality", cmd_quality, "what each quantization costs: size, perplexity, KL divergence and speed, one table", 0},
};

static void usage(FILE *f) {
    fprintf(f, "usage: cllama COMMAND [options]   (cllama COMMAND -h for its options; cllama --version)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nmpirun -np N cllama run|chat|serve|logits|bench|perplexity ... [--layer-split A,B,...]: one model\n"
               "across N ranks, each holding a range of its layers (a build with MPI; see the README).\n");
}

/* The command line of rank 0 (or of the only process); its exit code. */
static int run_command(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "cllama: no command given (commands:");
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) fprintf(stderr, " %s", commands[i].name);
        fprintf(stderr, "; see 'cllama -h')\n");
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("cllama %s (commit %s; kernels: %s)\n", cllama_version(), cllama_build_commit(), cllama_kernel_sets());
        return 0;
    }
    cli_log_init();
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            if (dist_size() > 1 && !commands[i].across_ranks) {
                fprintf(stderr, "cllama %s: runs in one process, not across %d MPI ranks (ranks split run, chat, "
                        "serve, logits, bench and perplexity)\n", argv[1], dist_size());
                return EXIT_USAGE;
            }
            return commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "cllama: unknown command '%s' (see 'cllama -h')\n", argv[1]);
    return EXIT_USAGE;
}

int main(int argc, char **argv) {
    int rc = dist_init(&argc, &argv);
    if (rc) return rc;
    if (dist_rank() > 0) return dist_worker_main(argc, argv); /* serves its layers for rank 0 */
    return dist_finalize(run_command(argc, argv));
}
