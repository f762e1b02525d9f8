/* Aggregate generation speed of several sequences decoded together (a server's
 * parallel slots): each step is one batch holding one token of every sequence, so
 * the weights are read once per step whatever the number of sequences. On a
 * bandwidth-bound machine the aggregate rate grows almost with the count until the
 * arithmetic catches up.
 *
 * usage: batched_bench (--shape NAME[:QUANT] | -m FILE) [-t THREADS] [-np 1,2,4,8]
 *                      [-p PROMPT] [-n GEN] [-r REPS]
 *
 * Per sequence count: every sequence gets its own random PROMPT-token prompt (all in
 * one batch, not timed into tg), then GEN steps; the best of REPS runs is reported as
 * aggregate tokens/s and as a multiple of the single-sequence rate. Public API and the
 * toolkit's synthetic models only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cllama.h"
#include "cllama_toolkit.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static int32_t random_token(int n_vocab) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)((rng >> 33) % (uint64_t)n_vocab);
}

/* One run: prompts, then gen steps; returns the generation wall time (s), < 0 on error. */
static double run(cllama_context *ctx, int n_vocab, int np, int n_prompt, int n_gen, double *t_prompt) {
    cllama_kv_clear(ctx);
    int n = np * n_prompt;
    int32_t *tok = malloc((size_t)(n > np ? n : np) * sizeof *tok), *seq = malloc((size_t)(n > np ? n : np) * sizeof *seq);
    int8_t *out = calloc((size_t)(n > np ? n : np), 1);
    double t0 = now_s(), dt = -1;
    for (int s = 0; s < np; s++)
        for (int i = 0; i < n_prompt; i++) {
            tok[s * n_prompt + i] = random_token(n_vocab);
            seq[s * n_prompt + i] = s;
            out[s * n_prompt + i] = i == n_prompt - 1;
        }
    cllama_batch b = {.n_tokens = n, .token = tok, .seq_id = seq, .output = out};
    if (n && cllama_decode(ctx, &b)) goto done;
    *t_prompt = now_s() - t0;
    t0 = now_s();
    for (int step = 0; step < n_gen; step++) {
        for (int s = 0; s < np; s++) {
            tok[s] = random_token(n_vocab);
            seq[s] = s;
            out[s] = 1;
        }
        cllama_batch g = {.n_tokens = np, .token = tok, .seq_id = seq, .output = out};
        if (cllama_decode(ctx, &g)) goto done;
    }
    dt = now_s() - t0;
done:
    free(tok);
    free(seq);
    free(out);
    return dt;
}

int main(int argc, char **argv) {
    const char *shape_spec = NULL, *file = NULL, *np_list = "1,2,4,8";
    int threads = cllama_default_threads(), n_prompt = 16, n_gen = 16, reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--shape")) shape_spec = v;
        else if (!strcmp(a, "-m")) file = v;
        else if (!strcmp(a, "-t")) threads = atoi(v);
        else if (!strcmp(a, "-np")) np_list = v;
        else if (!strcmp(a, "-p")) n_prompt = atoi(v);
        else if (!strcmp(a, "-n")) n_gen = atoi(v);
        else if (!strcmp(a, "-r")) reps = atoi(v);
        else {
            fprintf(stderr, "batched_bench: unknown option %s\n", a);
            return 2;
        }
    }
    if (!shape_spec == !file || threads < 1 || n_prompt < 1 || n_gen < 1 || reps < 1) {
        fprintf(stderr, "usage: %s (--shape NAME[:QUANT] | -m FILE) [-t N] [-np 1,2,4,8] [-p N] [-n N] [-r N]\n", argv[0]);
        return 2;
    }
    cllama_model *model = NULL;
    uint8_t *img = NULL;
    size_t img_size = 0;
    char label[96];
    if (shape_spec) {
        char name[64], quant[16] = "Q4_0", *colon;
        snprintf(name, sizeof name, "%s", shape_spec);
        if ((colon = strchr(name, ':'))) {
            *colon = 0;
            snprintf(quant, sizeof quant, "%s", colon + 1);
        }
        cllama_shape s;
        if (cllama_shape_find(name, &s) || cllama_synth_build(&s, quant, threads, 42, &img, &img_size) ||
            cllama_model_load_buffer(img, img_size, NULL, &model)) {
            fprintf(stderr, "batched_bench: %s\n", cllama_last_error());
            return 1;
        }
        snprintf(label, sizeof label, "%s %s (synthetic)", name, quant);
    } else {
        if (cllama_model_load(file, NULL, &model)) {
            fprintf(stderr, "batched_bench: %s\n", cllama_last_error());
            return 1;
        }
        snprintf(label, sizeof label, "%s", file);
    }
    cllama_threadpool *pool;
    if (cllama_threadpool_init(threads, &pool)) {
        fprintf(stderr, "batched_bench: %s\n", cllama_last_error());
        return 1;
    }
    int n_vocab = cllama_model_n_vocab(model);
    cllama_model_desc d;
    cllama_model_describe(model, &d);
    printf("%s, kernels %s, %d threads, prompt %d and %d generated tokens per sequence, best of %d\n\n", label,
           d.kernels, threads, n_prompt, n_gen, reps);
    printf("| sequences | pp t/s (all prompts, one batch) | tg t/s aggregate | tg t/s per sequence | x single |\n");
    printf("|---:|---:|---:|---:|---:|\n");
    double single = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", np_list);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int np = atoi(t);
        if (np < 1 || np > 64) continue;
        cllama_context_params cp = cllama_context_default_params();
        cp.n_ctx = np * (n_prompt + n_gen + 1);
        cp.n_seq_max = np;
        cp.threadpool = pool;
        cllama_context *ctx;
        if (cllama_context_init(model, &cp, &ctx)) {
            fprintf(stderr, "batched_bench: %s\n", cllama_last_error());
            return 1;
        }
        run(ctx, n_vocab, np, n_prompt, 2, &(double){0}); /* warm-up */
        double best = 0, best_pp = 0;
        for (int r = 0; r < reps; r++) {
            double tp = 0, tg = run(ctx, n_vocab, np, n_prompt, n_gen, &tp);
            if (tg <= 0) {
                fprintf(stderr, "batched_bench: %s\n", cllama_last_error());
                return 1;
            }
            if (np * n_gen / tg > best) best = np * n_gen / tg;
            if (np * n_prompt / tp > best_pp) best_pp = np * n_prompt / tp;
        }
        if (np == 1) single = best;
        printf("| %d | %.2f | %.2f | %.2f | %s%.2f |\n", np, best_pp, best, best / np, single ? "" : "~",
               single ? best / single : 0.0);
        fflush(stdout);
        cllama_context_free(ctx);
    }
    cllama_model_free(model);
    cllama_threadpool_free(pool);
    if (img) cllama_synth_free(img, img_size);
    return 0;
}
