/* Golden-logit test against the reference engine's output (../shared/testdata/golden).
 *
 * usage: test_golden MODEL.gguf GOLDEN.json GOLDEN.last.f32 TOL THREADS
 *
 * TOL is the allowed deviation in units of the standard deviation of the logit vector
 * (testdata README: 0.18 for quantized weights, 0.02 for F16). Checks:
 *  1. every prompt position, all evaluated in one batch: the reference's top-10 logits
 *     agree within TOL; our argmax equals the reference's unless its top-1/top-2 gap
 *     is within TOL (a tie);
 *  2. the last position agrees over the whole vocabulary within TOL;
 *  3. greedy decoding, one token at a time through the KV cache: at each step our
 *     argmax is the reference's token except at ties, and its top-10 logits agree;
 *     the reference's token is fed back so every step stays comparable. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"
#include "logit_util.h"

static double worst = 0; /* largest deviation seen, in std units */
static int ties = 0;

/* Compares our logits row with a reference top-10 list [[id, logit], ...]. */
static int check_top(const char *what, int pos, const float *row, int V, const cJSON *top, double tol) {
    double sd = stddev(row, V);
    int n = cJSON_GetArraySize(top);
    if (n < 2) {
        fprintf(stderr, "FAIL %s %d: reference top list too short\n", what, pos);
        return 1;
    }
    int fails = 0;
    for (int k = 0; k < n; k++) {
        const cJSON *e = cJSON_GetArrayItem(top, k);
        int id = cJSON_GetArrayItem(e, 0)->valueint;
        double ref = cJSON_GetArrayItem(e, 1)->valuedouble;
        if (id < 0 || id >= V) {
            fprintf(stderr, "FAIL %s %d: reference id %d outside vocab\n", what, pos, id);
            return 1;
        }
        double dev = fabs(row[id] - ref) / sd;
        if (dev > worst) worst = dev;
        if (dev > tol) {
            fprintf(stderr, "FAIL %s %d: token %d logit %.4f, reference %.4f (%.3f std > %.3f)\n", what, pos,
                    id, row[id], ref, dev, tol);
            fails++;
        }
    }
    int ref_top = cJSON_GetArrayItem(cJSON_GetArrayItem(top, 0), 0)->valueint;
    double gap = (cJSON_GetArrayItem(cJSON_GetArrayItem(top, 0), 1)->valuedouble -
                  cJSON_GetArrayItem(cJSON_GetArrayItem(top, 1), 1)->valuedouble) / sd;
    int ours = argmax(row, V);
    if (ours != ref_top) {
        if (gap <= tol) {
            ties++;
        } else {
            fprintf(stderr, "FAIL %s %d: argmax %d, reference %d (gap %.3f std, not a tie)\n", what, pos, ours,
                    ref_top, gap);
            fails++;
        }
    }
    return fails;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL GOLDEN.json GOLDEN.last.f32 TOL THREADS\n", argv[0]);
        return 2;
    }
    FILE *probe = fopen(argv[1], "rb");
    if (!probe) {
        printf("skipped: %s is not there (reference test data missing, or the generator was skipped)\n", argv[1]);
        return 77;
    }
    fclose(probe);
    double tol = atof(argv[4]);
    int threads = atoi(argv[5]);
    size_t jlen, llen;
    char *js = slurp(argv[2], &jlen);
    char *last = slurp(argv[3], &llen);
    if (!js || !last) {
        fprintf(stderr, "cannot read %s or %s\n", argv[2], argv[3]);
        return 1;
    }
    cJSON *g = cJSON_Parse(js);
    const cJSON *jt = cJSON_GetObjectItem(g, "tokens"), *jp = cJSON_GetObjectItem(g, "prompt_top"),
                *jg = cJSON_GetObjectItem(g, "greedy");
    if (!g || !cJSON_IsArray(jt) || !cJSON_IsArray(jp) || !cJSON_IsArray(jg)) {
        fprintf(stderr, "malformed %s\n", argv[2]);
        return 1;
    }
    cllama_model_params mp = test_model_params();
    cllama_model *m;
    if (cllama_model_load(argv[1], &mp, &m)) {
        fprintf(stderr, "load: %s\n", cllama_last_error());
        return 1;
    }
    int V = cllama_model_n_vocab(m), n = cJSON_GetArraySize(jt), n_greedy = cJSON_GetArraySize(jg);
    if (llen != (size_t)V * sizeof(float) || cJSON_GetArraySize(jp) != n) {
        fprintf(stderr, "golden files do not match the model (vocab %d)\n", V);
        return 1;
    }
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = cJSON_GetArrayItem(jt, i)->valueint;

    cllama_context_params cp = cllama_context_default_params();
    cp.n_ctx = n + n_greedy + 1;
    cp.n_threads = threads;
    cllama_context *ctx;
    if (cllama_context_init(m, &cp, &ctx)) {
        fprintf(stderr, "context: %s\n", cllama_last_error());
        return 1;
    }
    float *logits = malloc((size_t)n * V * sizeof *logits);
    if (cllama_context_eval(ctx, ids, n, logits, 1)) {
        fprintf(stderr, "eval: %s\n", cllama_last_error());
        return 1;
    }
    int fails = 0;
    for (int i = 0; i < n; i++)
        fails += check_top("prompt position", i, logits + (size_t)i * V, V, cJSON_GetArrayItem(jp, i), tol);
    double prompt_worst = worst;

    /* Whole last row. */
    const float *ref = (const float *)last, *row = logits + (size_t)(n - 1) * V;
    double sd = stddev(ref, V), maxdev = 0, rms = 0;
    for (int i = 0; i < V; i++) {
        double d = fabs(row[i] - ref[i]);
        rms += d * d;
        if (d > maxdev) maxdev = d;
    }
    rms = sqrt(rms / V) / sd;
    maxdev /= sd;
    if (maxdev > tol) {
        fprintf(stderr, "FAIL last position: max deviation %.4f std > %.3f\n", maxdev, tol);
        fails++;
    }

    /* Greedy steps with the reference's tokens fed back. */
    worst = 0;
    float *step = malloc((size_t)V * sizeof *step);
    memcpy(step, row, (size_t)V * sizeof *step);
    for (int s = 0; s < n_greedy; s++) {
        const cJSON *e = cJSON_GetArrayItem(jg, s);
        int32_t tok = cJSON_GetObjectItem(e, "token")->valueint;
        fails += check_top("greedy step", s, step, V, cJSON_GetObjectItem(e, "top"), tol);
        if (s + 1 < n_greedy && cllama_context_eval(ctx, &tok, 1, step, 0)) {
            fprintf(stderr, "eval: %s\n", cllama_last_error());
            return 1;
        }
    }
    cllama_model_desc desc;
    cllama_model_describe(m, &desc);
    printf("%s (kernels %s): %d prompt positions (worst top-10 deviation %.4f std), last row max %.4f / rms %.4f std, "
           "%d greedy steps (worst %.4f std), %d ties, tolerance %.3f std, %d threads: %s\n",
           argv[1], desc.kernels, n, prompt_worst, maxdev, rms, n_greedy, worst, ties, tol, threads, fails ? "FAIL" : "ok");
    free(step);
    free(logits);
    free(ids);
    free(js);
    free(last);
    cJSON_Delete(g);
    cllama_context_free(ctx);
    cllama_model_free(m);
    return fails ? 1 : 0;
}
