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
 *  5. two contexts at once on the same stages;
 *  6. sampling on the last stage (cllama_set_sampler): two sequences in one batch,
 *     temperature, top-k and a repetition penalty, each with its own seed: the tokens
 *     the application samples from the single process's logits, step after step,
 *     with no logits sent back; a sequence without a sampler in the same batch gets
 *     its logits, bit for bit; three outputs of one sequence in one call are sampled in
 *     entry order with one advancing random state;
 *  7. batches in flight (cllama_decode_submit / _collect): two sequences' prompts
 *     submitted before either is collected, then 8 steps of generation with one
 *     sequence's step always in flight while the other is collected: every output the
 *     single process's, bit for bit; a batch sharing a sequence with one in flight and
 *     cllama_decode meanwhile are refused; a batch aborted on stage 0 while another is
 *     in flight leaves no trace (the other's outputs exact, its own evaluated again
 *     exact). cllama_pipe_end ends the servers. */
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
        pipes[s] = (cllama_pipe){s, n_stages, pipe_send, pipe_recv, &stage_ids[s], NULL};
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

    /* 6. sampling where the logits are */
    enum { S = 12 };
    cllama_sampler *ra[2], *rb[2];
    cllama_sampler_params spp = cllama_sampler_default_params();
    spp.temperature = 0.9f, spp.top_k = 40, spp.repeat_penalty = 1.1f;
    for (int q = 0; q < 2; q++) {
        spp.seed = 1234 + (uint64_t)q;
        if (cllama_sampler_init(&spp, V, &ra[q]) || cllama_sampler_init(&spp, V, &rb[q])) return 1;
    }
    cllama_context *pc3 = new_ctx(models[0], &pipes[0], 2, 3);
    cllama_kv_clear(solo);
    CHECK(cllama_set_sampler(pc3, 2, rb[0]) == CLLAMA_E_INVALID, "a sampler for a sequence the context has not: refused");
    cllama_set_sampler(pc3, 0, rb[0]);
    cllama_set_sampler(pc3, 1, rb[1]);
    int nb = half + n, steps_same = 0, no_logits = 1, mixed_same = 1;
    int32_t *bt = malloc((size_t)nb * sizeof *bt), *bs = malloc((size_t)nb * sizeof *bs);
    int8_t *bo = malloc((size_t)nb);
    float *row = malloc((size_t)V * sizeof *row);
    for (int i = 0; i < nb; i++) { /* sequence 0: the first half of the prompt; 1: all of it */
        bt[i] = i < half ? ids[i] : ids[i - half];
        bs[i] = i >= half;
        bo[i] = i == half - 1 || i == nb - 1;
        cllama_sampler_accept(bs[i] ? ra[1] : ra[0], bt[i]);
        cllama_sampler_accept(bs[i] ? rb[1] : rb[0], bt[i]);
    }
    int ent[2] = {half - 1, nb - 1};
    for (int step = 0; step < S; step++) {
        cllama_batch bb = {.n_tokens = nb, .token = bt, .seq_id = bs, .output = bo};
        if (cllama_decode(solo, &bb) || cllama_decode(pc3, &bb)) {
            printf("decode: %s\n", cllama_last_error());
            break;
        }
        if (step == S - 4) cllama_set_sampler(pc3, 1, NULL); /* sequence 1 from its logits from now on */
        int same = 1;
        for (int q = 0; q < 2; q++) {
            memcpy(row, cllama_get_logits(solo, ent[q]), (size_t)V * sizeof *row);
            int32_t want = cllama_sampler_sample(ra[q], row), got = cllama_get_token(pc3, ent[q]);
            const float *l = cllama_get_logits(pc3, ent[q]);
            if (got >= 0) {
                no_logits &= l == NULL;
            } else if (l) { /* no sampler on stage 0's context for it: the logits came */
                mixed_same &= !memcmp(l, cllama_get_logits(solo, ent[q]), (size_t)V * sizeof *l);
                memcpy(row, l, (size_t)V * sizeof *row);
                got = cllama_sampler_sample(rb[q], row);
            }
            same &= got == want;
            cllama_sampler_accept(ra[q], want);
            cllama_sampler_accept(rb[q], got);
            bt[q] = want, bs[q] = q, bo[q] = 1;
        }
        steps_same += same;
        nb = 2, ent[0] = 0, ent[1] = 1;
    }
    CHECK(steps_same == S && no_logits, "two sequences sampled on the last stage (temperature 0.9, top-k 40, "
          "repetition penalty 1.1, seeds 1234/1235): %d of %d steps pick the single process's tokens, no logits sent back",
          steps_same, S);
    CHECK(mixed_same, "a sequence without a sampler in the same batches: its logits, bit for bit");
    int8_t all3[3] = {1, 1, 1};
    int32_t s3[3] = {0, 0, 0}, t3[3] = {bt[0], ids[1], ids[2]};
    cllama_batch b3 = {.n_tokens = 3, .token = t3, .seq_id = s3, .output = all3};
    int same3 = !cllama_decode(solo, &b3) && !cllama_decode(pc3, &b3);
    for (int i = 0; same3 && i < 3; i++) {
        memcpy(row, cllama_get_logits(solo, i), (size_t)V * sizeof *row);
        same3 = cllama_sampler_sample(ra[0], row) == cllama_get_token(pc3, i);
    }
    CHECK(same3, "three outputs of one sequence in one call: sampled in entry order, as the application does");
    memcpy(row, a, (size_t)V * sizeof *row);
    int32_t na = cllama_sampler_sample(ra[0], row);
    memcpy(row, a, (size_t)V * sizeof *row);
    CHECK(na == cllama_sampler_sample(rb[0], row), "stage 0's sampler took the random state the last stage left");
    cllama_context_free(pc3);
    for (int q = 0; q < 2; q++) cllama_sampler_free(ra[q]), cllama_sampler_free(rb[q]);

    /* 7. batches in flight */
    cllama_context *pc4 = new_ctx(models[0], &pipes[0], 2, 3);
    cllama_kv_clear(solo);
    CHECK(cllama_context_max_inflight(solo) == 1 && cllama_context_max_inflight(pc4) > 1,
          "in flight at most: 1 on a plain context, %d on a pipeline's stage 0", cllama_context_max_inflight(pc4));
    int32_t s0[64], s1[64];
    int8_t o1[64];
    for (int i = 0; i < n && i < 64; i++) s0[i] = 0, s1[i] = 1, o1[i] = 1;
    cllama_batch pa = {.n_tokens = half, .token = ids, .seq_id = s0, .output = o1};
    cllama_batch pb = {.n_tokens = n, .token = ids, .seq_id = s1, .output = o1};
    float *fa = malloc((size_t)n * V * sizeof *fa), *fb = malloc((size_t)n * V * sizeof *fb);
    int inflight_ok = !cllama_decode(solo, &pa);
    memcpy(fa, cllama_get_logits(solo, 0), (size_t)half * V * sizeof *fa);
    inflight_ok &= !cllama_decode(solo, &pb);
    memcpy(fb, cllama_get_logits(solo, 0), (size_t)n * V * sizeof *fb);
    inflight_ok &= !cllama_decode_submit(pc4, &pa);
    CHECK(cllama_decode_submit(pc4, &pa) == CLLAMA_E_INVALID && cllama_decode(pc4, &pa) == CLLAMA_E_INVALID,
          "a batch sharing a sequence with one in flight, and cllama_decode meanwhile: refused");
    inflight_ok &= !cllama_decode_submit(pc4, &pb);
    inflight_ok &= !cllama_decode_collect(pc4) && !memcmp(cllama_get_logits(pc4, 0), fa, (size_t)half * V * sizeof *fa);
    inflight_ok &= !cllama_decode_collect(pc4) && !memcmp(cllama_get_logits(pc4, 0), fb, (size_t)n * V * sizeof *fb);
    CHECK(inflight_ok, "two prompts submitted before either is collected: each one's logits, bit for bit");
    int32_t tk[2] = {argmax(fa + (size_t)(half - 1) * V, V), argmax(fb + (size_t)(n - 1) * V, V)}, steps_ok = 0;
    cllama_batch g0 = {.n_tokens = 1, .token = &tk[0], .seq_id = s0}, g1 = {.n_tokens = 1, .token = &tk[1], .seq_id = s1};
    int sub_ok = !cllama_decode_submit(pc4, &g0);
    for (int step = 0; step < 8 && sub_ok; step++) { /* 1 is submitted while 0 is in flight, and so on */
        int32_t t0 = tk[0], t1 = tk[1];
        sub_ok = !cllama_decode_submit(pc4, &g1) && !cllama_decode_collect(pc4);
        cllama_batch h0 = {.n_tokens = 1, .token = &t0, .seq_id = s0}, h1 = {.n_tokens = 1, .token = &t1, .seq_id = s1};
        int same = sub_ok && !cllama_decode(solo, &h0) && !memcmp(cllama_get_logits(pc4, -1), cllama_get_logits(solo, -1),
                                                                   (size_t)V * sizeof(float));
        tk[0] = argmax(cllama_get_logits(pc4, -1), V);
        sub_ok = sub_ok && !cllama_decode_submit(pc4, &g0) && !cllama_decode_collect(pc4);
        same = same && sub_ok && !cllama_decode(solo, &h1) &&
               !memcmp(cllama_get_logits(pc4, -1), cllama_get_logits(solo, -1), (size_t)V * sizeof(float));
        tk[1] = argmax(cllama_get_logits(pc4, -1), V);
        steps_ok += same;
    }
    sub_ok = sub_ok && !cllama_decode_collect(pc4);
    CHECK(steps_ok == 8 && sub_ok, "8 generation steps of two sequences, one always in flight: %d of 8 give the single "
          "process's logits for both", steps_ok);
    /* a batch aborted on stage 0 while another is in flight */
    cllama_kv_clear(pc4);
    cllama_kv_clear(solo);
    inflight_ok = !cllama_decode(solo, &pa);
    memcpy(fa, cllama_get_logits(solo, 0), (size_t)half * V * sizeof *fa);
    inflight_ok &= !cllama_decode(solo, &pb);
    memcpy(fb, cllama_get_logits(solo, 0), (size_t)n * V * sizeof *fb);
    inflight_ok &= !cllama_decode_submit(pc4, &pa);
    calls = 0;
    stop_at = 2 * (L0 + 1) + 1;
    cllama_context_set_abort_callback(pc4, abort_after, NULL);
    int rc_ab = cllama_decode_submit(pc4, &pb);
    cllama_context_set_abort_callback(pc4, NULL, NULL);
    inflight_ok &= !cllama_decode_collect(pc4) && !memcmp(cllama_get_logits(pc4, 0), fa, (size_t)half * V * sizeof *fa);
    inflight_ok &= !cllama_decode(pc4, &pb) && !memcmp(cllama_get_logits(pc4, 0), fb, (size_t)n * V * sizeof *fb);
    CHECK(rc_ab == CLLAMA_E_ABORTED && inflight_ok, "a batch aborted after 2 micro-batches went down while another was "
          "in flight (%d): the other's logits exact, and the aborted one's evaluated again exact", rc_ab);
    free(fa), free(fb);
    cllama_context_free(pc4);
    free(bt), free(bs), free(bo), free(row);
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
