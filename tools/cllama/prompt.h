/* The prompt options shared by run, logits and tokenize:
 * -m MODEL, -p TEXT | -f FILE ("-": stdin) | --ids 1,2,3, --no-bos, --special, -e. */
#ifndef CLLAMA_PROMPT_H
#define CLLAMA_PROMPT_H

#include <stdint.h>

#include "cllama.h"

typedef struct {
    const char *model;
    const char *text;
    const char *file;
    const char *ids;
    int no_bos;
    int special;
    int escapes; /* -e: process \n, \t, ... in -p text */
} prompt_opts;

/* If argv[*i] is one of the options above, consumes it (and its value): returns 0.
 * Returns 1 if it is not a prompt option, EXIT_USAGE on a missing value. */
int prompt_opt(const char *cmd, int argc, char **argv, int *i, prompt_opts *po);
/* Exactly one of -p, -f, --ids: 0, else prints a usage error and returns EXIT_USAGE. */
int prompt_check(const char *cmd, const prompt_opts *po);
/* The prompt's token ids (malloc'd): text tokenized with BOS unless --no-bos, or the
 * --ids list checked against the vocabulary. 0, EXIT_USAGE or EXIT_RUNTIME. */
int prompt_tokens(const char *cmd, const cllama_model *m, const prompt_opts *po, int32_t **ids, int *n);

/* All the tokens of len bytes of text (malloc'd *ids; *n of them): tokenizes into a
 * buffer sized from the text, and once more into one of the size the tokenizer asked
 * for when that was too small (byte fallback can give more tokens than bytes).
 * 0, or a negative CLLAMA_E_* with cllama_last_error() set. */
int tokenize_all(const cllama_model *m, const char *text, size_t len, int flags, int32_t **ids, int *n);

#endif
