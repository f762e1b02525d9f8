/* Timed evaluation for bench and quality: random token ids, as llama-bench uses. */
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "cllama.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void random_tokens(int32_t *t, int n, int n_vocab, uint64_t *rng) {
    for (int i = 0; i < n; i++) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        t[i] = (int32_t)((*rng >> 33) % (uint64_t)n_vocab);
    }
}

/* Evaluates n random tokens of sequence 0 in calls of at most n_batch tokens (each
 * call computing the logits of its last position, as llama-bench's calls do). */
static int eval_random(cllama_context *ctx, int n_vocab, int n, int n_batch, float *logits, uint64_t *rng) {
    int32_t *toks = malloc((size_t)(n_batch > 0 ? n_batch : 1) * sizeof *toks);
    if (!toks) return -1;
    int rc = 0;
    for (int done = 0; done < n && !rc; done += n_batch) {
        int k = n - done < n_batch ? n - done : n_batch;
        random_tokens(toks, k, n_vocab, rng);
        rc = cllama_context_eval(ctx, toks, k, logits, 0);
    }
    free(toks);
    return rc;
}

/* See bench.h. */
double bench_run_test(cllama_context *ctx, int n_vocab, int n_depth, int n_prompt, int n_gen, int n_batch,
                       uint64_t *rng) {
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    if (!logits) return -1;
    int rc = cllama_kv_seq_rm(ctx, 0, n_depth, -1);
    double t0 = now_ns();
    if (!rc && n_prompt) rc = eval_random(ctx, n_vocab, n_prompt, n_batch, logits, rng);
    for (int i = 0; i < n_gen && !rc; i++) rc = eval_random(ctx, n_vocab, 1, 1, logits, rng);
    double dt = now_ns() - t0;
    free(logits);
    return rc ? -1 : dt;
}

/* See bench.h. */
int bench_fill_depth(cllama_context *ctx, int n_vocab, int n_depth, int n_batch, uint64_t *rng) {
    cllama_context_reset(ctx);
    if (!n_depth) return 0;
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    int rc = logits ? eval_random(ctx, n_vocab, n_depth, n_batch, logits, rng) : -1;
    free(logits);
    return rc;
}


/* See bench.h. */
int bench_measure(cllama_context *ctx, int n_vocab, int n_batch, int reps, uint64_t *rng, bench_row *r) {
    int rc = 0;
    if (r->n_prompt)
        rc = bench_run_test(ctx, n_vocab, r->n_depth, r->n_prompt < 32 ? r->n_prompt : 32, 0, n_batch, rng) < 0;
    if (!rc && r->n_gen) rc = bench_run_test(ctx, n_vocab, r->n_depth, 0, 1, n_batch, rng) < 0;
    for (int rep = 0; rep < reps && rep < BENCH_MAX_SAMPLES && !rc; rep++) {
        double ns = bench_run_test(ctx, n_vocab, r->n_depth, r->n_prompt, r->n_gen, n_batch, rng);
        if (ns < 0) rc = 1;
        else r->samples_ns[r->n_samples++] = ns;
    }
    if (rc) return -1;
    bench_stats(r);
    return 0;
}
