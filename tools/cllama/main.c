/* cllama: one CLI, one subcommand per task. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cllama.h"
#include "commands.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "talk with a chat model through its own template"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server with parallel requests and a chat page"},
    {"info", cmd_info, "describe a GGUF model: hyperparameters, vocabulary, tensors"},
    {"logits", cmd_logits, "evaluate tokens in one batch and write their logits (float32)"},
    {"tokenize", cmd_tokenize, "print the tokens of a text"},
    {"bench", cmd_bench, "prompt-processing and generation tokens/s (files or synthetic models)"},
    {"synth", cmd_synth, "write a synthetic model of a real shape as GGUF"},
    {"limits", cmd_limits, "predict speed and memory fit on a device, and the limit that binds"},
    {"perplexity", cmd_perplexity, "perplexity of a text, and KL divergence against a stored base model"},
    {"quantize", cmd_quantize, "write a model in another file type (Q8_0, Q4_0, Q4_K_M, ...)"},
    {"quality", cmd_quality, "what each quantization costs: size, perplexity, KL divergence and speed, one table"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: cllama COMMAND [options]   (cllama COMMAND -h for its options; cllama --version)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
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
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "cllama: unknown command '%s' (see 'cllama -h')\n", argv[1]);
    return EXIT_USAGE;
}
