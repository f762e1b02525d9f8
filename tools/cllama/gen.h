/* Streaming generation shared by run and chat: sample after the last decode of
 * sequence 0, stop at an end-of-generation token, a stop string, the token limit, a
 * full context or an interrupt, and print the text through the detokenizer while
 * holding back what could still be the beginning of a stop string (a stop string
 * never reaches the output). */
#ifndef CLLAMA_GEN_H
#define CLLAMA_GEN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "cllama.h"

typedef struct {
    int n_predict;                   /* tokens at most; -1: until a stop or a full context */
    const char *const *stops;        /* stop strings */
    int n_stops;
    int ignore_eos;                  /* keep going past end-of-generation tokens */
    volatile sig_atomic_t *interrupt; /* non-NULL and set: stop now (Ctrl-C) */
    FILE *out;                       /* where the text goes (flushed per token) */
} gen_opts;

typedef struct {
    int n_gen;         /* tokens sampled and kept */
    double seconds;
    const char *stop;  /* "end of generation token", "stop string", "length", "context full", "interrupted" */
    char *text;        /* the reply as printed, NUL-terminated (malloc'd) */
    int32_t *ids;      /* tokens decoded into the cache after the prompt, in order (malloc'd) */
    int n_ids;
} gen_result;

/* Generates from the logits of the context's last decode. 0, or -1 with
 * cllama_last_error() set (a decode failed). Frees nothing of the caller's. */
int gen_reply(cllama_context *ctx, const cllama_model *m, cllama_sampler *smp, const gen_opts *o, gen_result *r);
void gen_result_free(gen_result *r);

/* Where the first of the stop strings starts in s[0..n), or n. */
size_t stop_find(const char *s, size_t n, const char *const *stops, int n_stops);
/* Bytes at the end of s[0..n) that could still begin a stop string: held back. */
size_t stop_holdback(const char *s, size_t n, const char *const *stops, int n_stops);

/* Decodes tokens [0, n) of sequence 0 at its next positions in batches of the
 * context's size, keeping the last one's logits. 0 or a CLLAMA_E_* code. */
int decode_tokens(cllama_context *ctx, const int32_t *ids, int n);

#endif
