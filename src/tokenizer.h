/* Vocabulary and tokenizers from GGUF metadata (tokenizer.ggml.*):
 * "llama" = SentencePiece BPE by scores with byte fallback,
 * "gpt2"  = byte-level BPE by merge rank, split first by the pre-tokenizer regex that
 *           tokenizer.ggml.pre names (PCRE2). */
#ifndef CL_TOKENIZER_H
#define CL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gguf.h"

typedef struct cl_vocab cl_vocab;

/* Builds the vocabulary from g's metadata (works on vocabulary-only files). */
int cl_vocab_load(const cl_gguf *g, cl_vocab **out);
void cl_vocab_free(cl_vocab *v);

int cl_vocab_n_tokens(const cl_vocab *v);
int32_t cl_vocab_bos(const cl_vocab *v);      /* -1 if none */
int32_t cl_vocab_eos(const cl_vocab *v);      /* -1 if none */
int cl_vocab_add_bos(const cl_vocab *v);      /* tokenizer.ggml.add_bos_token (model default if absent) */
int cl_vocab_is_eog(const cl_vocab *v, int32_t id);
/* One line per fact (model kind, pre-tokenizer, size, special ids) for `cllama info`. */
void cl_vocab_print(const cl_vocab *v, FILE *f);

/* The token's text as stored in the vocabulary (not decoded; not NUL-terminated), NULL
 * for a bad id. */
const char *cl_vocab_token_text(const cl_vocab *v, int32_t id, int *len);
/* tokenizer.ggml.token_type of the token (1 normal, 2 unknown, 3 control, 4 user-defined,
 * 5 unused, 6 byte; 0 undefined), -1 for a bad id. */
int cl_vocab_token_type(const cl_vocab *v, int32_t id);
/* Re-selects the pre-tokenizer of a gpt2 vocabulary by tokenizer.ggml.pre name (for
 * tests and experiments). CLLAMA_E_UNSUPPORTED for an unknown name or a llama vocabulary. */
int cl_vocab_set_pre(cl_vocab *v, const char *pre);

/* Contract as cllama_tokenize (include/cllama.h); flags are CLLAMA_TOKENIZE_*. */
int cl_vocab_tokenize(const cl_vocab *v, const char *text, size_t len, int flags, int32_t *ids,
                      int cap);
/* Contract as cllama_token_to_piece. */
int cl_vocab_piece(const cl_vocab *v, int32_t id, char *buf, int cap);

#endif
