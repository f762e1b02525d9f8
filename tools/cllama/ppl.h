/* Perplexity and KL divergence of a model over a tokenized text, by llama-perplexity's
 * method (llama.cpp tools/perplexity), on the public API only.
 *
 * Method. The tokens are cut into chunks of n_ctx; chunk c is tokens
 * [c*n_ctx, (c+1)*n_ctx). Each chunk is evaluated from an empty KV cache, its first
 * token replaced by BOS when the vocabulary adds one. Only the second half is scored:
 * with first = n_ctx/2, the logits at positions first .. n_ctx-2 predict the tokens at
 * first+1 .. n_ctx-1, so a chunk scores n_ctx - 1 - first positions and the model
 * always has at least first tokens of context.
 *
 *   nll_i = -log softmax(logits_i)[next token]       (natural log)
 *   PPL   = exp(mean nll),  err = PPL * sqrt((mean nll^2 - mean^2) / (N - 1))
 *
 * KL divergence against a base (the same text run through a reference model earlier):
 * the base keeps, per scored position, its log-probabilities in 16 bits (see
 * ppl_base_write for the file), and a later run on another model gives
 *   KLD_i = sum_j p_base_j (log p_base_j - log q_j)   over j with log p_base_j > -16,
 *   dp_i  = q_i(next token) - p_base_i(next token),
 * same top = argmax q_i == argmax p_base_i, and the statistics llama-perplexity prints
 * in --kl-divergence mode (mean +/- err, percentiles, RMS dp, ln(PPL(Q)/PPL(base))).
 *
 * Errors: every function that can fail returns 0 or a negative CLLAMA_E_* code and
 * leaves a one-line message in ppl_last_error() (the library's cllama_last_error()
 * copied when the library failed); nothing here exits or prints unless asked to. */
#ifndef CLLAMA_PPL_H
#define CLLAMA_PPL_H

#include <stdint.h>
#include <stdio.h>

#include "cllama.h"

/* Smallest chunk length accepted: below it half a chunk is too little context for
 * the figure to mean anything. */
#define PPL_MIN_CTX 16

typedef struct {
    int n_ctx;     /* tokens per chunk (>= PPL_MIN_CTX); 0: 512 */
    int n_batch;   /* tokens per forward pass (0: 2048); capped at n_ctx */
    int n_chunks;  /* chunks to score (<= 0: all that fit, or all the base holds) */
    int n_threads; /* threads of the evaluation (0: cllama_default_threads()) */
    cllama_threadpool *threadpool; /* a shared pool instead (not owned; may be NULL) */
} ppl_params;

/* The defaults above: n_ctx 512, n_batch 2048, all chunks, default threads. */
ppl_params ppl_default_params(void);

/* Stored log-probabilities of a base model at the scored positions of a text, with
 * the tokens, n_ctx and n_vocab they belong to. Opaque; ~2 x n_vocab bytes per scored
 * position (SmolLM2, 49152 tokens: 98 KB; GPL-3 at n_ctx 512: 3570 positions, 351 MB). */
typedef struct ppl_base ppl_base;

/* Percentile levels of the KLD and dp distributions in ppl_result, in percent, from
 * high to low (50 is the median, as llama-perplexity computes it: the mean of the two
 * middle values for an even count). */
#define PPL_N_PCT 11
extern const double ppl_pct_levels[PPL_N_PCT]; /* 99.9 99 95 90 75 50 25 10 5 1 0.1 */
enum { PPL_PCT_99 = 1, PPL_PCT_50 = 5 }; /* their indices in ppl_pct_levels */

typedef struct {
    int n_ctx, n_chunks;
    int n_scored;          /* positions scored: n_chunks * (n_ctx - 1 - n_ctx/2) */
    double ppl, ppl_err;   /* of the model run, from its float logits */
    double nll, nll_err;   /* mean negative log-likelihood (nats) and its standard error */
    double seconds;        /* wall time of the evaluation and scoring (no model load) */
    double tokens_per_s;   /* tokens evaluated (n_chunks * n_ctx) per second of that */

    /* The rest only with a base (has_base = 1); all fractions, not percent. */
    int has_base;
    double ppl_base, ppl_base_err;   /* PPL of the base, from its stored 16-bit log-probs */
    double cor;                      /* correlation of nll and nll_base over positions */
    double ln_ratio, ln_ratio_err;   /* ln(PPL/PPL(base)) */
    double ppl_ratio, ppl_ratio_err; /* PPL/PPL(base) */
    double ppl_diff, ppl_diff_err;   /* PPL - PPL(base) */
    double kld, kld_err;             /* mean KL divergence (nats) +/- its standard error */
    double kld_max, kld_min, kld_p[PPL_N_PCT]; /* kld_p[k]: percentile ppl_pct_levels[k] */
    double dp, dp_err;               /* mean dp +/- error */
    double dp_max, dp_min, dp_p[PPL_N_PCT];
    double rms_dp, rms_dp_err;       /* sqrt(mean dp^2) +/- error */
    double same_top, same_top_err;   /* fraction of positions where both argmaxes agree */
} ppl_result;

/* Scores `model` on the text.
 *   tokens, n_tokens  the whole text tokenized once, BOS first if the vocabulary adds one
 *                     (n_tokens >= 2 * n_ctx, as llama-perplexity asks). With compare_to,
 *                     tokens may be NULL: the base's own tokens are used.
 *   p                 NULL: ppl_default_params(). With compare_to, n_ctx 0 takes the base's
 *                     and any other n_ctx is refused; n_chunks may not exceed the base's.
 *   compare_to        NULL, or a base from the same text, n_ctx and vocabulary (checked:
 *                     a mismatch fails with CLLAMA_E_INVALID naming what differs): fills
 *                     the KLD part of *out.
 *   store             NULL, or receives a new base of this model's log-probabilities
 *                     (free with ppl_base_free) for a later compare_to.
 *   progress          NULL: quiet. Else one line per chunk: "[1]20.1234,[2]..." without a
 *                     base (as llama-perplexity prints them, newline at the end), or with one
 *                     llama-perplexity's table row (chunk, PPL, ln ratio, KLD, RMS dp, same top).
 * Creates its own context of n_ctx cells and frees it. Returns 0 or CLLAMA_E_*. */
int ppl_run(cllama_model *model, const int32_t *tokens, int n_tokens, const ppl_params *p,
            const ppl_base *compare_to, ppl_base **store, ppl_result *out, FILE *progress);

/* Writes `b` to `path` in the cllama base format (version 1, little-endian):
 *   bytes  0..7   magic "CLPPLKLD"
 *          8..11  u32 version (1)
 *         12..15  u32 n_vocab
 *         16..19  u32 n_ctx
 *         20..23  u32 n_chunks
 *         24..27  i32 BOS id put at each chunk start, -1 if none
 *         28..31  u32 0 (reserved)
 *         32..39  f64 the base's PPL from its float logits (informational)
 *         40..47  u64 checksum of everything after the header (64-bit FNV-1a over
 *                 little-endian u64 words, the tail zero-padded to 8 bytes)
 *         48..    i32 tokens[n_chunks * n_ctx] (as in the text: no BOS substitution)
 *                 then per scored position, chunk by chunk (n_ctx - 1 - n_ctx/2 each):
 *                 f32 scale, f32 min, u16 q[n_vocab], where
 *                 log p_j = min + scale * q_j; the largest logit has q = 65535 and
 *                 anything more than 16 below it q = 0 (llama-perplexity's encoding).
 * Returns 0, or CLLAMA_E_IO (the partial file is removed). */
int ppl_base_write(const ppl_base *b, const char *path);

/* Reads a base written by ppl_base_write, or llama-perplexity's --kl-divergence-base
 * file ("_logits_" header; it records no BOS choice and no checksum). Checks the
 * header, that the size is exactly what the header implies, the checksum, the tokens'
 * range and each position's scale and min: CLLAMA_E_FORMAT with a one-line message
 * naming the file and the fault otherwise, CLLAMA_E_IO if it cannot be read. */
int ppl_base_read(const char *path, ppl_base **out);

void ppl_base_free(ppl_base *b);

/* 0 if `b` was made over `m`'s vocabulary, else CLLAMA_E_INVALID with a message (ppl_run
 * checks it too, with the rest; this lets a caller refuse before printing anything). */
int ppl_base_check_vocab(const ppl_base *b, const cllama_model *m);

/* What a base holds: n_vocab, n_ctx, n_chunks (each may be NULL), its tokens
 * (n_chunks * n_ctx) and its PPL (NaN when the file did not record it). */
void ppl_base_info(const ppl_base *b, int *n_vocab, int *n_ctx, int *n_chunks);
const int32_t *ppl_base_tokens(const ppl_base *b);
double ppl_base_ppl(const ppl_base *b);

/* The message of the last failure of a ppl_* function on this thread ("" if none). */
const char *ppl_last_error(void);

/* 1 if `model`'s vocabulary puts BOS before a text (chunk starts then get BOS). */
int ppl_model_adds_bos(const cllama_model *model);

#endif
