/* cllama: Llama-family LLM inference in C.
 *
 * Conventions: opaque types, cllama_<noun>_<verb> names, init/free pairs.
 * Every function that can fail returns an int status (CLLAMA_OK or a negative
 * CLLAMA_E_* code); cllama_last_error() then gives a one-line message for the
 * calling thread. */
#ifndef CLLAMA_H
#define CLLAMA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cllama_status {
    CLLAMA_OK = 0,
    CLLAMA_E_IO = -1,          /* open/read/mmap failed */
    CLLAMA_E_FORMAT = -2,      /* malformed or inconsistent file */
    CLLAMA_E_UNSUPPORTED = -3, /* valid file, feature not supported (tensor type, architecture) */
    CLLAMA_E_NOMEM = -4,
    CLLAMA_E_INVALID = -5,     /* bad argument from the caller */
    CLLAMA_E_RANGE = -6,       /* token id out of range, context full, buffer too small */
};

/* The message of the last failure on this thread ("" if none). */
const char *cllama_last_error(void);

typedef struct cllama_model cllama_model;
typedef struct cllama_context cllama_context;
typedef struct cllama_sampler cllama_sampler;

/* ---- model ---- */

typedef struct {
    int vocab_only; /* load metadata and vocabulary only; tensors are not required */
} cllama_model_params;

cllama_model_params cllama_model_default_params(void);

/* Maps the GGUF file at `path` and checks it; weights stay in the mapping. */
int cllama_model_load(const char *path, const cllama_model_params *params, cllama_model **out);
void cllama_model_free(cllama_model *model);

int cllama_model_n_vocab(const cllama_model *model);
int cllama_model_n_ctx_train(const cllama_model *model);
int cllama_model_n_embd(const cllama_model *model);
/* Describes the model (architecture, hyperparameters, tensors) on `f` (a FILE*). */
void cllama_model_print_info(const cllama_model *model, void *f);

/* ---- tokens ---- */

enum cllama_tokenize_flags {
    CLLAMA_TOKENIZE_ADD_BOS = 1, /* prepend BOS if the vocabulary asks for it */
    CLLAMA_TOKENIZE_SPECIAL = 2, /* match control tokens such as <|eot_id|> in the text */
};

/* Tokenizes `len` bytes of `text` into `ids` (capacity `cap`). Returns the number of
 * tokens; if it exceeds `cap`, only `cap` were written and the caller retries with a
 * larger buffer. Negative on error. */
int cllama_tokenize(const cllama_model *model, const char *text, size_t len, int flags,
                    int32_t *ids, int cap);

/* The bytes of token `id` as they appear in text (leading-space marker and byte
 * tokens decoded), written to `buf` (capacity `cap`, not NUL-terminated). Returns the
 * byte count, CLLAMA_E_RANGE for a bad id or a too-small buffer. */
int cllama_token_to_piece(const cllama_model *model, int32_t id, char *buf, int cap);

int32_t cllama_token_bos(const cllama_model *model);
int32_t cllama_token_eos(const cllama_model *model);
/* 1 if generation ends at `id` (EOS, <|eot_id|>, <|eom_id|>, ...). */
int cllama_token_is_eog(const cllama_model *model, int32_t id);

/* ---- context: KV cache and scratch for one sequence ---- */

typedef struct {
    int n_ctx;     /* tokens of context (0: the model's training context, capped at 4096) */
    int n_threads; /* 0: physical cores (online CPUs if unknown) */
} cllama_context_params;

cllama_context_params cllama_context_default_params(void);

int cllama_context_init(cllama_model *model, const cllama_context_params *params,
                        cllama_context **out);
void cllama_context_free(cllama_context *ctx);

int cllama_context_n_ctx(const cllama_context *ctx);
/* Threads the context computes on (the chosen default when params said 0). */
int cllama_context_n_threads(const cllama_context *ctx);
/* Tokens currently in the KV cache. */
int cllama_context_n_past(const cllama_context *ctx);
/* Forgets the KV cache (next eval starts at position 0). */
void cllama_context_reset(cllama_context *ctx);

/* Evaluates `n` tokens in one batch at positions n_past .. n_past+n-1 and appends them
 * to the KV cache. If `logits` is non-NULL it receives n_vocab floats per position
 * (all_logits != 0: n rows, else only the last position's row). */
int cllama_context_eval(cllama_context *ctx, const int32_t *tokens, int n, float *logits,
                        int all_logits);

/* ---- sampling ---- */

typedef struct {
    float temperature;    /* <= 0: greedy */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int repeat_last_n;    /* tokens of history the penalty looks at */
    uint64_t seed;
} cllama_sampler_params;

cllama_sampler_params cllama_sampler_default_params(void);

int cllama_sampler_init(const cllama_sampler_params *params, int n_vocab, cllama_sampler **out);
void cllama_sampler_free(cllama_sampler *s);
/* Records a token as part of the history (prompt or generated) for the repetition penalty. */
void cllama_sampler_accept(cllama_sampler *s, int32_t id);
/* Picks the next token from `logits` (n_vocab floats; may be modified). */
int32_t cllama_sampler_sample(cllama_sampler *s, float *logits);

#ifdef __cplusplus
}
#endif
#endif
