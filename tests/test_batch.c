/* Sequences, batches and the KV cache operations of the public API, on a reference
 * engine's golden model (testdata/golden): whatever the engine does with the cache,
 * the logits a sequence gets must be the ones it gets evaluated alone, and those are
 * checked against the reference's.
 *
 * usage: test_batch MODEL.gguf GOLDEN.json TOL
 *
 *  1. two sequences interleaved in one batch: each one's rows equal its rows when
 *     evaluated alone, and sequence 0's agree with the reference's top-10 (TOL std);
 *     then both generate greedily in shared steps and match their solo runs;
 *  2. dropping the last k positions and evaluating them again reproduces the logits;
 *  3. a prefix copied to a second sequence, both continued: each matches a fresh
 *     evaluation of its whole text, and the prefix's cells are shared, not copied;
 *     a sequence continued in cells freed by another, below its own first cells,
 *     still attends by position;
 *  4. the abort callback stops an evaluation mid-way; the cache is as before and the
 *     next evaluation is right;
 *  5. two contexts on one thread pool, driven from two threads at once, reproduce
 *     their single-threaded results exactly, many times over;
 *  6. the model cut in two layer ranges (two contexts, then two models each loading
 *     its own layers), hidden states handed from one to the other, gives the whole
 *     model's logits. */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"
#include "logit_util.h"
#include "need_data.h"
#include "check.h"


static const char *model_path;
static cllama_model *model;
static int V;
static double tol;

/* Largest |a - b| over rows of V, in units of each row's std. */
static double dev_rows(const float *a, const float *b, int rows) {
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        const float *x = a + (size_t)r * V, *y = b + (size_t)r * V;
        double sd = stddev(y, V), m = 0;
        for (int i = 0; i < V; i++) m = fmax(m, fabs(x[i] - y[i]));
        worst = fmax(worst, m / sd);
    }
    return worst;
}

static cllama_context *new_ctx(int n_seq, int n_threads, cllama_threadpool *pool) {
    cllama_context_params cp = cllama_context_default_params();
    cp.n_ctx = 256;
    cp.n_seq_max = n_seq;
    cp.n_threads = n_threads;
    cp.threadpool = pool;
    cllama_context *c;
    if (cllama_context_init(model, &cp, &c)) {
        fprintf(stderr, "context: %s\n", cllama_last_error());
        exit(1);
    }
    return c;
}

/* Logits of every position of `ids` evaluated alone from an empty cache (n x V). */
static float *solo(const int32_t *ids, int n) {
    cllama_context *c = new_ctx(1, 2, NULL);
    float *l = malloc((size_t)n * V * sizeof *l);
    if (cllama_context_eval(c, ids, n, l, 1)) {
        fprintf(stderr, "eval: %s\n", cllama_last_error());
        exit(1);
    }
    cllama_context_free(c);
    return l;
}

/* Decodes a batch and copies the kept rows, in batch order, into out (if non-NULL). */
static int decode(cllama_context *c, int n, const int32_t *tok, const int32_t *seq, const int8_t *keep, float *out) {
    cllama_batch b = {.n_tokens = n, .token = tok, .seq_id = seq, .output = keep};
    int rc = cllama_decode(c, &b);
    if (rc || !out) return rc;
    for (int i = 0, r = 0; i < n; i++) {
        const float *row = cllama_get_logits(c, i);
        if ((keep ? keep[i] : i == n - 1) != !!row) return -100;
        if (row) memcpy(out + (size_t)r++ * V, row, (size_t)V * sizeof *row);
    }
    return 0;
}

/* The reference's top-10 of each prompt position against rows of ours. */
static double dev_golden(const float *rows, const cJSON *prompt_top, int n) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const float *row = rows + (size_t)i * V;
        double sd = stddev(row, V);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetArrayItem(prompt_top, i)) {
            int id = cJSON_GetArrayItem(e, 0)->valueint;
            worst = fmax(worst, fabs(row[id] - cJSON_GetArrayItem(e, 1)->valuedouble) / sd);
        }
    }
    return worst;
}

/* ---- 1. two sequences in one batch ---- */
static void test_two_in_one(const int32_t *a, int na, const int32_t *b, int nb, const cJSON *golden) {
    float *la = solo(a, na), *lb = solo(b, nb);
    if (na <= 0 || nb <= 0 || na > 4096 || nb > 4096) return;
    int n = na + nb;
    int32_t *tok = malloc((size_t)n * sizeof *tok), *seq = malloc((size_t)n * sizeof *seq);
    int8_t *keep = malloc((size_t)n);
    int ia = 0, ib = 0;
    for (int i = 0; i < n; i++) { /* a0 b0 a1 b1 ..., then the rest of the longer one */
        int take_a = ia < na && (ib >= nb || i % 2 == 0);
        tok[i] = take_a ? a[ia++] : b[ib++];
        seq[i] = take_a ? 0 : 1;
        keep[i] = 1;
    }
    float *both = malloc((size_t)n * V * sizeof *both), *ra = malloc((size_t)na * V * sizeof *ra),
          *rb = malloc((size_t)nb * V * sizeof *rb);
    cllama_context *c = new_ctx(2, 2, NULL);
    int rc = decode(c, n, tok, seq, keep, both);
    CHECK(rc == 0, "one batch of %d tokens from two sequences decodes (%s)", n, rc ? cllama_last_error() : "");
    for (int i = 0, ka = 0, kb = 0; i < n; i++)
        memcpy(seq[i] ? rb + (size_t)kb++ * V : ra + (size_t)ka++ * V, both + (size_t)i * V, (size_t)V * sizeof *both);
    double da = dev_rows(ra, la, na), db = dev_rows(rb, lb, nb), dg = dev_golden(ra, golden, na);
    CHECK(da <= tol && db <= tol, "batched rows equal the solo rows: max %.2g / %.2g std (tolerance %.2g)", da, db, tol);
    CHECK(dg <= tol, "sequence 0 in the batch matches the reference's top-10: %.4f std", dg);
    CHECK(cllama_kv_seq_pos_max(c, 0) == na - 1 && cllama_kv_seq_pos_max(c, 1) == nb - 1 &&
              cllama_kv_n_used(c) == n,
          "the cache holds positions 0..%d and 0..%d in %d cells", na - 1, nb - 1, n);

    /* greedy in shared steps against each sequence generating alone */
    cllama_context *sa = new_ctx(1, 2, NULL), *sb = new_ctx(1, 2, NULL);
    float *pa = malloc((size_t)V * sizeof *pa), *pb = malloc((size_t)V * sizeof *pb), *two = malloc(2 * (size_t)V * 4);
    cllama_context_eval(sa, a, na, pa, 0);
    cllama_context_eval(sb, b, nb, pb, 0);
    int32_t next[2] = {argmax(ra + (size_t)(na - 1) * V, V), argmax(rb + (size_t)(nb - 1) * V, V)}, seq2[2] = {0, 1};
    int8_t keep2[2] = {1, 1};
    double worst = 0;
    int same = 1;
    for (int s = 0; s < 12; s++) {
        same &= next[0] == argmax(pa, V) && next[1] == argmax(pb, V);
        if (decode(c, 2, next, seq2, keep2, two) || cllama_context_eval(sa, &next[0], 1, pa, 0) ||
            cllama_context_eval(sb, &next[1], 1, pb, 0)) {
            same = 0;
            break;
        }
        worst = fmax(worst, fmax(dev_rows(two, pa, 1), dev_rows(two + V, pb, 1)));
        next[0] = argmax(two, V);
        next[1] = argmax(two + V, V);
    }
    CHECK(same && worst <= tol, "12 greedy steps of both sequences per batch: same tokens as alone, logits within %.2g std",
          worst);
    cllama_context_free(sa);
    cllama_context_free(sb);
    cllama_context_free(c);
    free(pa), free(pb), free(two), free(la), free(lb), free(both), free(ra), free(rb), free(tok), free(seq), free(keep);
}

/* ---- 2. drop the last k positions, evaluate them again ---- */
static void test_rm_tail(const int32_t *ids, int n) {
    float *full = solo(ids, n);
    cllama_context *c = new_ctx(1, 2, NULL);
    float *l = malloc((size_t)n * V * sizeof *l);
    cllama_context_eval(c, ids, n, l, 1);
    int ok = 1;
    double worst = 0;
    for (int k = 1; k <= 5 && k < n; k += 2) {
        if (cllama_kv_seq_rm(c, 0, n - k, -1) || cllama_context_n_past(c) != n - k || cllama_kv_n_used(c) != n - k) {
            ok = 0;
            break;
        }
        float *again = malloc((size_t)k * V * sizeof *again);
        ok &= cllama_context_eval(c, ids + n - k, k, again, 1) == 0;
        worst = fmax(worst, dev_rows(again, full + (size_t)(n - k) * V, k));
        free(again);
    }
    CHECK(ok && worst <= tol, "dropping the last 1, 3, 5 positions and evaluating them again: within %.2g std", worst);
    /* a middle range dropped: the sequence's later positions stay, refilling is refused */
    cllama_kv_seq_rm(c, 0, 2, 4);
    cllama_batch b = {.n_tokens = 1, .token = ids, .pos = (int32_t[]){3}};
    CHECK(cllama_kv_n_used(c) == n - 2 && cllama_kv_seq_pos_max(c, 0) == n - 1 && cllama_decode(c, &b) == CLLAMA_E_INVALID,
          "dropping positions [2, 4) leaves %d cells; a position below the sequence's last is refused: %s", n - 2,
          cllama_last_error());
    cllama_context_free(c);
    free(l);
    free(full);
}

/* ---- 3. a prefix shared by two sequences ---- */
static void test_prefix_copy(const int32_t *ids, int n) {
    int np = n / 2, nx = n - np;
    int32_t *t0 = malloc((size_t)n * sizeof *t0), *t1 = malloc((size_t)n * sizeof *t1);
    memcpy(t0, ids, (size_t)n * sizeof *t0);
    memcpy(t1, ids, (size_t)np * sizeof *t1);
    for (int i = 0; i < nx; i++) t1[np + i] = ids[n - 1 - i]; /* another continuation */
    float *f0 = solo(t0, n), *f1 = solo(t1, n);
    cllama_context *c = new_ctx(2, 2, NULL);
    cllama_context_eval(c, ids, np, NULL, 0);
    int rc = cllama_kv_seq_cp(c, 0, 1, 0, -1);
    CHECK(rc == 0 && cllama_kv_seq_pos_max(c, 1) == np - 1 && cllama_kv_n_used(c) == np,
          "sequence 1 holds sequence 0's %d-token prefix in the same %d cells", np, cllama_kv_n_used(c));
    /* continue sequence 1 first, alone, then sequence 0 */
    int32_t *s1 = malloc((size_t)nx * sizeof *s1), *s0 = calloc((size_t)nx, sizeof *s0);
    int8_t *keep = malloc((size_t)nx);
    for (int i = 0; i < nx; i++) s1[i] = 1, keep[i] = 1;
    float *c1 = calloc((size_t)nx * V, sizeof *c1), *c0 = calloc((size_t)nx * V, sizeof *c0);
    rc = decode(c, nx, t1 + np, s1, keep, c1) || decode(c, nx, t0 + np, s0, keep, c0);
    double d0 = dev_rows(c0, f0 + (size_t)np * V, nx), d1 = dev_rows(c1, f1 + (size_t)np * V, nx);
    CHECK(!rc && d0 <= tol && d1 <= tol,
          "both continuations match their texts evaluated from scratch: %.2g / %.2g std", d0, d1);
    CHECK(cllama_kv_n_used(c) == np + 2 * nx, "cells in use: %d", cllama_kv_n_used(c));
    /* dropping one sequence keeps the other's view of the shared prefix */
    cllama_kv_seq_rm(c, 0, -1, -1);
    CHECK(cllama_kv_n_used(c) == np + nx && cllama_kv_seq_pos_max(c, 0) == -1 && cllama_kv_seq_pos_max(c, 1) == n - 1,
          "sequence 0 removed: sequence 1 keeps its %d cells", np + nx);
    cllama_context_free(c);
    free(t0), free(t1), free(f0), free(f1), free(s0), free(s1), free(keep), free(c0), free(c1);
}

/* ---- 3b. cells reused out of position order ---- */
static void test_reuse(const int32_t *a, int na, const int32_t *b, int nb) {
    /* sequence 0 takes cells 0..na-1, sequence 1 the next nb; sequence 0 then drops its
     * second half, and sequence 1's continuation lands in those lower cells, below its
     * own first positions: the mask must follow positions, not cell order, and so
     * must the order of the sums (else a last-bit difference, which the 8-bit rounding
     * of activations can turn into a step of one quantum, 0.05 std on the Llama 3
     * model, would make a server's answers depend on its other requests): bit-identical. */
    int keep0 = na / 2, more = na - keep0 < nb ? na - keep0 : nb;
    int32_t *text1 = malloc((size_t)(nb + more) * sizeof *text1);
    memcpy(text1, b, (size_t)nb * sizeof *text1);
    for (int i = 0; i < more; i++) text1[nb + i] = a[i];
    float *ref = solo(text1, nb + more);
    cllama_context *c = new_ctx(2, 2, NULL);
    int32_t *s1 = malloc((size_t)(nb + more) * sizeof *s1);
    int8_t *keep = malloc((size_t)(nb + more));
    for (int i = 0; i < nb + more; i++) s1[i] = 1, keep[i] = 1;
    float *out = calloc((size_t)more * V, sizeof *out);
    int rc = cllama_context_eval(c, a, na, NULL, 0) || decode(c, nb, b, s1, keep, NULL) ||
             cllama_kv_seq_rm(c, 0, keep0, -1) || decode(c, more, text1 + nb, s1, keep, out);
    double d = dev_rows(out, ref + (size_t)nb * V, more);
    CHECK(!rc && d == 0, "a continuation stored in cells below its sequence's first ones: %.2g std from the text "
                         "evaluated alone (bit-identical)", d);
    cllama_context_free(c);
    free(text1), free(ref), free(s1), free(keep), free(out);
}

/* ---- 4. abort ---- */
static int calls, stop_at;
static int abort_after(void *data) {
    (void)data;
    return ++calls > stop_at;
}

static void test_abort(const int32_t *ids, int n) {
    float *full = solo(ids, n);
    cllama_context *c = new_ctx(1, 2, NULL);
    int np = n / 2;
    float *l = malloc((size_t)n * V * sizeof *l);
    cllama_context_eval(c, ids, np, l, 1);
    calls = 0;
    stop_at = 1; /* stops before the second layer */
    cllama_context_set_abort_callback(c, abort_after, NULL);
    int rc = cllama_context_eval(c, ids + np, n - np, l, 1);
    CHECK(rc == CLLAMA_E_ABORTED && calls == 2 && cllama_context_n_past(c) == np && cllama_kv_n_used(c) == np,
          "the abort callback stops the evaluation (%d calls); the cache still holds %d positions", calls, np);
    cllama_context_set_abort_callback(c, NULL, NULL);
    rc = cllama_context_eval(c, ids + np, n - np, l, 1);
    double d = dev_rows(l, full + (size_t)np * V, n - np);
    CHECK(rc == 0 && d <= tol, "after the abort the context evaluates the same tokens right: %.2g std", d);
    cllama_context_free(c);
    free(l);
    free(full);
}

/* ---- 5. two contexts, one pool, two threads ---- */
typedef struct {
    cllama_context *c;
    const int32_t *ids;
    int n, rounds;
    float *expect; /* [n + 8] rows: the prompt's, then 8 greedy steps */
    int mismatches;
} runner;

/* The prompt's rows and 8 greedy steps after it, into out. */
static int run_once(cllama_context *c, const int32_t *ids, int n, float *out) {
    cllama_context_reset(c);
    if (cllama_context_eval(c, ids, n, out, 1)) return -1;
    for (int s = 0; s < 8; s++) {
        int32_t t = argmax(out + (size_t)(n - 1 + s) * V, V);
        if (cllama_context_eval(c, &t, 1, out + (size_t)(n + s) * V, 0)) return -1;
    }
    return 0;
}

static void *runner_main(void *arg) {
    runner *r = arg;
    float *out = malloc((size_t)(r->n + 8) * V * sizeof *out);
    for (int i = 0; i < r->rounds; i++)
        if (run_once(r->c, r->ids, r->n, out) || memcmp(out, r->expect, (size_t)(r->n + 8) * V * sizeof *out))
            r->mismatches++;
    free(out);
    return NULL;
}

static void test_shared_pool(const int32_t *a, int na, const int32_t *b, int nb) {
    cllama_threadpool *pool;
    if (cllama_threadpool_init(2, &pool)) {
        CHECK(0, "thread pool: %s", cllama_last_error());
        return;
    }
    runner r[2] = {{new_ctx(1, 0, pool), a, na, 20, NULL, 0}, {new_ctx(1, 0, pool), b, nb, 20, NULL, 0}};
    for (int k = 0; k < 2; k++) {
        r[k].expect = malloc((size_t)(r[k].n + 8) * V * sizeof(float));
        run_once(r[k].c, r[k].ids, r[k].n, r[k].expect);
    }
    pthread_t th[2];
    for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, runner_main, &r[k]);
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    CHECK(r[0].mismatches == 0 && r[1].mismatches == 0 && cllama_context_n_threads(r[0].c) == 2,
          "two contexts on one 2-thread pool, from two threads at once, 20 rounds each: bit-identical to their solo "
          "runs (%d, %d mismatches)",
          r[0].mismatches, r[1].mismatches);
    for (int k = 0; k < 2; k++) {
        cllama_context_free(r[k].c);
        free(r[k].expect);
    }
    cllama_threadpool_free(pool);
}

/* ---- 6. layer ranges and hidden states ---- */
static int split_run(cllama_model *m0, cllama_model *m1, int cut, int n_layer, const int32_t *ids, int n, float *out) {
    cllama_context_params p0 = cllama_context_default_params(), p1 = p0;
    p0.n_ctx = p1.n_ctx = 256;
    p0.n_threads = p1.n_threads = 2;
    p0.layer_begin = 0, p0.layer_end = cut;
    p1.layer_begin = cut, p1.layer_end = n_layer;
    cllama_context *c0, *c1;
    if (cllama_context_init(m0, &p0, &c0)) return -1;
    if (cllama_context_init(m1, &p1, &c1)) {
        cllama_context_free(c0);
        return -1;
    }
    int E = cllama_model_n_embd(m0), rc = -1;
    int8_t *keep = malloc((size_t)n);
    float *h = malloc((size_t)n * E * sizeof *h);
    memset(keep, 1, (size_t)n);
    cllama_batch b0 = {.n_tokens = n, .token = ids, .output = keep};
    if (!cllama_decode(c0, &b0) && !cllama_get_logits(c0, 0)) {
        for (int i = 0; i < n; i++) memcpy(h + (size_t)i * E, cllama_get_embeddings(c0, i), (size_t)E * sizeof *h);
        cllama_batch b1 = {.n_tokens = n, .embd = h, .output = keep};
        cllama_batch bad = {.n_tokens = n, .token = ids};
        if (cllama_decode(c1, &bad) == CLLAMA_E_INVALID && !cllama_decode(c1, &b1)) {
            for (int i = 0; i < n; i++) memcpy(out + (size_t)i * V, cllama_get_logits(c1, i), (size_t)V * sizeof *out);
            rc = 0;
        }
    }
    free(keep);
    free(h);
    cllama_context_free(c0);
    cllama_context_free(c1);
    return rc;
}

static void test_layer_split(const int32_t *ids, int n) {
    int L = cllama_model_n_layer(model), cut = L / 2;
    float *full = solo(ids, n), *split = malloc((size_t)n * V * sizeof *split);
    int rc = split_run(model, model, cut, L, ids, n, split);
    CHECK(rc == 0 && !memcmp(split, full, (size_t)n * V * sizeof *split),
          "layers [0, %d) then [%d, %d) in two contexts, hidden states handed over: bit-identical logits", cut, cut, L);
    cllama_model_params mp = test_model_params();
    cllama_model *m0, *m1;
    mp.layer_begin = 0, mp.layer_end = cut;
    int l0 = cllama_model_load(model_path, &mp, &m0);
    mp.layer_begin = cut, mp.layer_end = L;
    int l1 = cllama_model_load(model_path, &mp, &m1);
    cllama_model_desc d0, d1, dfull;
    if (!l0 && !l1) {
        cllama_model_describe(m0, &d0);
        cllama_model_describe(m1, &d1);
        cllama_model_describe(model, &dfull);
        rc = split_run(m0, m1, cut, L, ids, n, split);
    }
    CHECK(!l0 && !l1 && rc == 0 && !memcmp(split, full, (size_t)n * V * sizeof *split) &&
              d0.weight_bytes < dfull.weight_bytes && d1.weight_bytes < dfull.weight_bytes,
          "two models loading layers [0, %d) and [%d, %d) only (%.0f%% and %.0f%% of the weights): bit-identical logits",
          cut, cut, L, l0 || l1 ? 0 : 100.0 * d0.weight_bytes / dfull.weight_bytes,
          l0 || l1 ? 0 : 100.0 * d1.weight_bytes / dfull.weight_bytes);
    if (!l0) cllama_model_free(m0);
    if (!l1) cllama_model_free(m1);
    free(full);
    free(split);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.gguf GOLDEN.json TOL\n", argv[0]);
        return 2;
    }
    model_path = argv[1];
    if (data_missing(argv[1]) || data_missing(argv[2])) return TEST_SKIPPED;
    tol = atof(argv[3]);
    size_t jlen;
    char *js = slurp(argv[2], &jlen);
    cJSON *g = js ? cJSON_Parse(js) : NULL;
    const cJSON *jt = cJSON_GetObjectItem(g, "tokens"), *jp = cJSON_GetObjectItem(g, "prompt_top");
    if (!cJSON_IsArray(jt) || !cJSON_IsArray(jp)) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    cllama_model_params mp = test_model_params();
    if (cllama_model_load(model_path, &mp, &model)) {
        fprintf(stderr, "load: %s\n", cllama_last_error());
        return 1;
    }
    V = cllama_model_n_vocab(model);
    int n = cJSON_GetArraySize(jt);
    if (n < 8) {
        fprintf(stderr, "%s: the golden prompt is too short\n", argv[2]);
        return 1;
    }
    int32_t *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    for (int i = 0; i < n; i++) a[i] = cJSON_GetArrayItem(jt, i)->valueint;
    int nb = n * 2 / 3;
    for (int i = 0; i < nb; i++) b[i] = a[(i * 7 + 3) % n]; /* another text of other length */

    test_two_in_one(a, n, b, nb, jp);
    test_rm_tail(a, n);
    test_prefix_copy(a, n);
    test_reuse(a, n, b, nb);
    test_abort(a, n);
    test_shared_pool(a, n, b, nb);
    test_layer_split(a, n);

    cllama_model_desc desc;
    cllama_model_describe(model, &desc);
    printf("%s (kernels %s): %s\n", model_path, desc.kernels, fails ? "FAIL" : "all passed");
    cllama_model_free(model);
    free(a);
    free(b);
    cJSON_Delete(g);
    free(js);
    return fails ? 1 : 0;
}
