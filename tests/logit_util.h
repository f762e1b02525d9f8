/* Helpers shared by the tests that compare logits (test_golden, test_batch). */
#ifndef CL_TEST_LOGIT_UTIL_H
#define CL_TEST_LOGIT_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"

/* Model params with the CLI's documented overrides (CLLAMA_ISA, CLLAMA_REPACK=0), so
 * scripts/test-arm.sh can run the tests once per kernel set. */
static inline cllama_model_params test_model_params(void) {
    cllama_model_params mp = cllama_model_default_params();
    mp.kernels = getenv("CLLAMA_ISA");
    mp.no_repack = getenv("CLLAMA_REPACK") && !strcmp(getenv("CLLAMA_REPACK"), "0");
    return mp;
}

/* A whole file, NUL-terminated (malloc'd), its length in *len; NULL if unreadable. */
static inline char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0;
    *len = b ? (size_t)n : 0;
    return b;
}

/* Standard deviation of a logit vector: the unit deviations are measured in. */
static inline double stddev(const float *x, int n) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += x[i];
    double mean = s / n;
    for (int i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    return sqrt(ss / n);
}

static inline int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

#endif
