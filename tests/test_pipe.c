/* The pipeline API (cllama_pipe) in one process: a golden model cut into three layer
 * ranges (two for a model of two layers), each loaded by its own model (as three machines would), stages 1 and 2 served
 * on threads, stage-to-stage messages over pipes. MPI is only another transport.
 *
 * usage: test_pipe MODEL.gguf GOLDEN.json
 *
 *  1. every position's logits of the golden prompt, in micro-batches of 3 tokens (so
 *     the stages overlap), are bit for bit the single-process logits;
 *  2. greedy generation of 16 tokens: the same tokens and bits;
 *  3. KV operations reach every stage: the tail dropped and evaluated again, a prefix
 *     copied to a second sequence and both continued: each matches its solo run;
 *  4. an evaluation aborted on stage 0 after two micro-batches went down the pipe:
 *     the cache of every stage is as before (the next evaluation is exact);
 *  5. two contexts at once on the same stages; cllama_pipe_end ends the servers. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cllama.h"
#include "logit_util.h"
#include "need_data.h"
#include "check.h"


#define N_STAGES 3 /* at most */
static int n_stages;

static int fds[N_STAGES][N_STAGES][2]; /* fds[from][to]: a pipe */

static int pipe_send(void *data, int to, const void *buf, size_t n) {
    int from = *(int *)data;
    for (const char *p = buf; n;) {
        ssize_t w = write(fds[from][to][1], p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int pipe_recv(void *data, int from, void *buf, size_t n) {
    int to = *(int *)data;
    for (char *p = buf; n;) {
        ssize_t r = read(fds[from][to][0], p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int stage_ids[N_STAGES] = {0, 1, 2};
static cllama_pipe pipes[N_STAGES];
static cllama_model *models[N_STAGES], *whole;
static int V;

typedef struct {
    int stage, rc;
} server;

static void *serve_main(void *arg) {
    server *s = arg;
    s->rc = cllama_pipe_serve(models[s->stage], &pipes[s->stage], 1);
    return NULL;
}

static cllama_context *new_ctx(cllama_model *m, const cllama_pipe *p, int n_seq, int n_batch) {
    cllama_context_params cp = cllama_context_default_params();
    cp.n_ctx = 256;
    cp.n_seq_max = n_seq;
    cp.n_batch = n_batch;
    cp.n_threads = 1;
    cp.pipe = p;
    cllama_context *c;
    if (cllama_context_init(m, &cp, &c)) {
        fprintf(stderr, "context: %s\n", cllama_last_error());
        exit(1);
    }
    return c;
}

/* Logits of every entry of seq `s` tokens at the sequence's next positions (n x V). */
static int eval(cllama_context *c, const int32_t *ids, int n, int s, float *out) {
    int32_t *seq = malloc((size_t)n * sizeof *seq);
    int8_t *keep = malloc((size_t)n);
    for (int i = 0; i < n; i++) seq[i] = s, keep[i] = 1;
    cllama_batch b = {.n_tokens = n, .token = ids, .seq_id = seq, .output = keep};
    int rc = cllama_decode(c, &b);
    for (int i = 0; !rc && i < n; i++) memcpy(out + (size_t)i * V, cllama_get_logits(c, i), (size_t)V * sizeof *out);
    free(seq);
    free(keep);
    return rc;
}

/* Greedy continuation of ids: n_gen tokens and the logits of each step. */
static int greedy(cllama_context *c, const int32_t *ids, int n, int n_gen, int32_t *toks, float *rows) {
    float *all = malloc((size_t)n * V * sizeof *all);
    int rc = eval(c, ids, n, 0, all);
    int32_t t = rc ? 0 : argmax(all + (size_t)(n - 1) * V, V);
    for (int i = 0; i < n_gen && !rc; i++) {
        toks[i] = t;
        rc = eval(c, &t, 1, 0, rows + (size_t)i * V);
        t = argmax(rows + (size_t)i * V, V);
    }
    free(all);
    return rc;
}

static int calls, stop_at;
static int abort_after(void *data) {
    (void)data;
    return ++calls >= stop_at;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf GOLDEN.json\n", argv[0]);
        return 2;
    }
    if (data_missing(argv[1]) || data_missing(argv[2])) return TEST_SKIPPED;
    size_t jlen;
    char *js = slurp(argv[2], &jlen);
    cJSON *g = js ? cJSON_Parse(js) : NULL;
    const cJSON *jt = cJSON_GetObjectItem(g, "tokens");
    if (!cJSON_IsArray(jt) || cJSON_GetArraySize(jt) < 12) {
        fprintf(stderr, "cannot read a prompt of 12 tokens or more from %s\n", argv[2]);
        return 1;
    }
    int n = cJSON_GetArraySize(jt);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = cJSON_GetArrayItem(jt, i)->valueint;

    cllama_model_params mp = test_model_params();
    if (cllama_model_load(argv[1], &mp, &whole)) {
        fprintf(stderr, "load: %s\n", cllama_last_error());
        return 1;
    }
    V = cllama_model_n_vocab(whole);
    int L = cllama_model_n_layer(whole);
    n_stages = L < N_STAGES ? L : N_STAGES;
    if (n_stages < 2) {
        printf("skipped: %s has %d layer: nothing to cut\n", argv[1], L);
        return TEST_SKIPPED;
    }
    int cut[N_STAGES + 1];
    for (int s = 0; s <= n_stages; s++) cut[s] = s * L / n_stages;
    for (int s = 0; s < n_stages; s++) {
        cllama_model_params sp = test_model_params();
        sp.layer_begin = cut[s];
        sp.layer_end = cut[s + 1];
        if (cllama_model_load(argv[1], &sp, &models[s])) {
            fprintf(stderr, "load layers [%d, %d): %s\n", cut[s], cut[s + 1], cllama_last_error());
            return 1;
        }
        pipes[s] = (cllama_pipe){s, n_stages, pipe_send, pipe_recv, &stage_ids[s]};
        for (int t = 0; t < N_STAGES; t++)
            if (pipe(fds[s][t])) return 1;
    }
    printf("%s: %d layers in %d stages, cut at", argv[1], L, n_stages);
    for (int s = 1; s < n_stages; s++) printf(" %d", cut[s]);
    printf("\n");
    server sv[N_STAGES];
    pthread_t th[N_STAGES];
    for (int s = 1; s < n_stages; s++) {
        sv[s] = (server){s, -1};
        pthread_create(&th[s], NULL, serve_main, &sv[s]);
    }

    /* 1. the prompt, in micro-batches of 3 */
    cllama_context *solo = new_ctx(whole, NULL, 2, 3), *pc = new_ctx(models[0], &pipes[0], 2, 3);
    float *a = malloc((size_t)n * V * sizeof *a), *b = malloc((size_t)n * V * sizeof *b);
    int rc = eval(solo, ids, n, 0, a) || eval(pc, ids, n, 0, b);
    CHECK(!rc && !memcmp(a, b, (size_t)n * V * sizeof *a), "%d positions in micro-batches of 3 through %d stages: the "
          "single-process logits, bit for bit (%s)", n, n_stages, rc ? cllama_last_error() : "");

    /* 2. greedy generation */
    enum { G = 16 };
    int32_t ta[G], tb[G];
    float *ga = malloc((size_t)G * V * sizeof *ga), *gb = malloc((size_t)G * V * sizeof *gb);
    cllama_kv_clear(solo);
    cllama_kv_clear(pc);
    rc = greedy(solo, ids, n, G, ta, ga) || greedy(pc, ids, n, G, tb, gb);
    CHECK(!rc && !memcmp(ta, tb, sizeof ta) && !memcmp(ga, gb, (size_t)G * V * sizeof *ga),
          "greedy generation of %d tokens: the same tokens and logits", G);

    /* 3. KV operations: drop the tail, evaluate it again; copy a prefix, continue both */
    int k = 4, half = n / 2;
    cllama_kv_clear(solo);
    cllama_kv_clear(pc);
    eval(solo, ids, n, 0, a);
    rc = eval(pc, ids, n, 0, b) || cllama_kv_seq_rm(pc, 0, n - k, -1) || eval(pc, ids + n - k, k, 0, b);
    CHECK(!rc && !memcmp(a + (size_t)(n - k) * V, b, (size_t)k * V * sizeof *a),
          "the last %d positions dropped on every stage and evaluated again: the same logits", k);
    cllama_kv_clear(pc);
    rc = eval(pc, ids, half, 0, b) || cllama_kv_seq_cp(pc, 0, 1, -1, -1) || eval(pc, ids + half, n - half, 1, b);
    CHECK(!rc && !memcmp(a + (size_t)half * V, b, (size_t)(n - half) * V * sizeof *a),
          "a prefix of %d copied to sequence 1 on every stage, continued there: the same logits", half);
    rc = eval(pc, ids + half, n - half, 0, b);
    CHECK(!rc && !memcmp(a + (size_t)half * V, b, (size_t)(n - half) * V * sizeof *a),
          "and sequence 0 continued after it: the same logits");

    /* 4. abort on stage 0 after two micro-batches went down */
    cllama_kv_clear(pc);
    rc = eval(pc, ids, half, 0, b);
    int L0 = cut[1];
    calls = 0;
    stop_at = 2 * (L0 + 1) + 1; /* checked before each layer and after the last: inside the third micro-batch */
    cllama_context_set_abort_callback(pc, abort_after, NULL);
    int rc_abort = eval(pc, ids + half, n - half, 0, b);
    cllama_context_set_abort_callback(pc, NULL, NULL);
    rc = rc || eval(pc, ids + half, n - half, 0, b);
    CHECK(rc_abort == CLLAMA_E_ABORTED && !rc && !memcmp(a + (size_t)half * V, b, (size_t)(n - half) * V * sizeof *a),
          "an evaluation aborted after 2 micro-batches went down the pipe (%d): every stage's cache is as before, "
          "the next evaluation exact", rc_abort);

    /* 5. a second context on the same stages, then the end */
    cllama_context *pc2 = new_ctx(models[0], &pipes[0], 1, 64);
    rc = eval(pc2, ids, n, 0, b);
    CHECK(!rc && !memcmp(a, b, (size_t)n * V * sizeof *a), "a second context on the same stages, one micro-batch: "
          "the same logits");
    cllama_context_free(pc2);
    cllama_context_free(pc);
    cllama_context_free(solo);
    CHECK(!cllama_pipe_end(&pipes[0]), "cllama_pipe_end sent");
    for (int s = 1; s < n_stages; s++) {
        pthread_join(th[s], NULL);
        CHECK(sv[s].rc == 0, "stage %d's server returned 0 (%d)", s, sv[s].rc);
    }
    for (int s = 0; s < n_stages; s++) cllama_model_free(models[s]);
    cllama_model_free(whole);
    free(a);
    free(b);
    free(ga);
    free(gb);
    free(ids);
    cJSON_Delete(g);
    free(js);
    printf("%s\n", fails ? "FAIL" : "all passed");
    return fails ? 1 : 0;
}
