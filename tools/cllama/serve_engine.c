/* The server's engine: one thread, one context, --parallel slots. Every step it
 * admits waiting requests into free slots (each slot keeps the tokens its sequence
 * holds, and a request goes to the free slot sharing the longest prefix with its
 * prompt, so a chat's next turn evaluates only its new tokens), drops the requests
 * whose clients left, then decodes one batch: one token of every generating slot plus
 * prompt tokens of the admitted ones, up to the context's batch size (continuous
 * batching: a request joins at the next step and leaves when it ends). Under MPI the
 * slots form groups (as many as the pipeline has stages) whose batches are in flight
 * at once, each step collecting one group's and submitting its next. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"
#include "serve.h"
#include "args.h"

#define STEP_TOKENS 512 /* tokens per decode at most: generation tokens first, then prompt chunks */
/* Under MPI the slots' groups go in flight at once only with this many tokens of work
 * per group: each group's batch rereads every rank's weights, which costs nothing only
 * where a rank's step is compute-bound, not while it streams the weights for a few
 * tokens (generation). Measured on a 2-core Xeon, Llama 2 7B Q4_0: 4.6 tokens/s for
 * one token a pass, 28 for 64, so passes turn compute-bound near 6 tokens. */
#define PIPELINE_TOKENS 16

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- requests ---- */

srv_req *srv_req_new(void) {
    srv_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->refs = 1;
    return r;
}

void srv_events_free(srv_event *e) {
    while (e) {
        srv_event *n = e->next;
        free(e->text);
        free(e->logprobs_json);
        free(e);
        e = n;
    }
}

void srv_req_release(srv_req *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    int last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (!last) return;
    srv_events_free(r->head);
    for (int i = 0; i < r->n_stops; i++) free(r->stops[i]);
    free(r->stops);
    free(r->prompt);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

srv_event *srv_req_take(srv_req *r) {
    srv_event *e = r->head;
    r->head = r->tail = NULL;
    return e;
}

/* Queues an event (text may be empty; takes logprobs_json) and wakes the connection. */
static void push_event(srv_req *r, const char *text, size_t n, char *logprobs_json) {
    srv_event *e = calloc(1, sizeof *e);
    char *t = malloc(n + 1);
    if (!e || !t) {
        free(e), free(t), free(logprobs_json);
        return;
    }
    memcpy(t, text, n);
    t[n] = 0;
    e->text = t;
    e->logprobs_json = logprobs_json;
    pthread_mutex_lock(&r->mu);
    if (r->tail) r->tail->next = e;
    else r->head = e;
    r->tail = e;
    if (!r->t_first) r->t_first = now_s();
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* ---- slots ---- */

enum { SLOT_IDLE, SLOT_PROMPT, SLOT_GEN };

typedef struct {
    int state;
    srv_req *req;
    int32_t *cache; /* tokens the slot's sequence holds, positions 0.. */
    int n_cache;
    int prompt_next;  /* next prompt token to evaluate */
    int32_t pending;  /* SLOT_GEN: the sampled token to decode next */
    cllama_sampler *smp;
    cllama_detok detok;
    char *text;       /* the completion so far (stop strings are searched in it) */
    size_t n_text, cap_text, sent;
    int n_gen;
} slot;

struct srv_engine {
    cllama_model *m;
    cllama_context *ctx;
    int n_vocab, n_slots, slot_ctx, queue_max;
    slot *slots;
    srv_req **queue;
    int qn;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    pthread_t th;
    srv_stats stats;
    /* Slot i belongs to group i % n_groups; each group's batch is decoded as one, and
     * under MPI (a pipeline) the groups' batches are in flight at once, so that every
     * rank has a group to work on. One group when the context runs all layers. */
    int n_groups, next_group, pipelined;
    struct group {
        int32_t *tok, *seq, *slot; /* [2 STEP_TOKENS] the batch */
        int8_t *out;
        int n, n_prompt, in_flight;
        double t0;
    } *groups, all; /* all: one batch of every slot */
    double t_collected; /* when the last batch's outputs came (time in flight overlaps) */
    float *lbuf;
};

int srv_engine_slot_ctx(const srv_engine *e) { return e->slot_ctx; }

int srv_engine_submit(srv_engine *e, srv_req *r) {
    pthread_mutex_lock(&e->mu);
    if (e->qn >= e->queue_max) {
        pthread_mutex_unlock(&e->mu);
        return -1;
    }
    pthread_mutex_lock(&r->mu);
    r->refs++;
    pthread_mutex_unlock(&r->mu);
    e->queue[e->qn++] = r;
    e->stats.queue = e->qn;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

void srv_engine_stats(srv_engine *e, srv_stats *s) {
    pthread_mutex_lock(&e->mu);
    *s = e->stats;
    pthread_mutex_unlock(&e->mu);
}

static int text_put(slot *s, const char *p, size_t n) {
    if (s->n_text + n + 1 > s->cap_text) {
        size_t cap = s->cap_text ? 2 * s->cap_text : 256;
        while (cap < s->n_text + n + 1) cap *= 2;
        char *t = realloc(s->text, cap);
        if (!t) return -1;
        s->text = t;
        s->cap_text = cap;
    }
    memcpy(s->text + s->n_text, p, n);
    s->n_text += n;
    s->text[s->n_text] = 0;
    return 0;
}

/* Ends the slot's request: what is still held back goes out unless a stop string
 * ended it; finish NULL means an error (message in err). */
static void finish(srv_engine *e, slot *s, const char *why, const char *err) {
    srv_req *r = s->req;
    if (why && strcmp(why, "stop string")) {
        char tail[16];
        int k = cllama_detok_flush(&s->detok, tail, (int)sizeof tail);
        if (k > 0) text_put(s, tail, (size_t)k);
        if (s->n_text > s->sent) push_event(r, s->text + s->sent, s->n_text - s->sent, NULL);
    }
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    r->finish = !why ? NULL : !strcmp(why, "length") ? "length" : "stop";
    if (err) snprintf(r->error, sizeof r->error, "%s", err);
    r->n_gen = s->n_gen;
    r->t_done = now_s();
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    srv_req_release(r);
    cllama_set_sampler(e->ctx, (int)(s - e->slots), NULL);
    cllama_sampler_free(s->smp);
    s->smp = NULL;
    s->req = NULL;
    s->state = SLOT_IDLE;
    s->n_text = s->sent = 0;
    s->n_gen = 0;
}

/* Gives r the free slot of first, first + stride, ... sharing the longest prefix with
 * its prompt (there is one). */
static void admit(srv_engine *e, srv_req *r, int first, int stride) {
    int best = -1, best_common = -1;
    for (int i = first; i < e->n_slots; i += stride) {
        slot *s = &e->slots[i];
        if (s->state != SLOT_IDLE) continue;
        int c = 0;
        while (c < s->n_cache && c < r->n_prompt && s->cache[c] == r->prompt[c]) c++;
        if (c > best_common) best = i, best_common = c;
    }
    slot *s = &e->slots[best];
    int common = best_common < r->n_prompt ? best_common : r->n_prompt - 1;
    cllama_kv_seq_rm(e->ctx, best, common, -1);
    s->n_cache = common;
    s->prompt_next = common;
    s->req = r;
    s->state = SLOT_PROMPT;
    s->n_gen = 0;
    s->n_text = s->sent = 0;
    cllama_detok_init(&s->detok, e->m, 0);
    if (cllama_sampler_init(&r->sp, e->n_vocab, &s->smp)) {
        finish(e, s, NULL, cllama_last_error());
        return;
    }
    for (int i = 0; i < r->n_prompt; i++) cllama_sampler_accept(s->smp, r->prompt[i]);
    /* Tokens are picked inside the evaluation, where the logits are (the last MPI
     * rank); log-probabilities need the logits themselves here. */
    if (!r->logprobs) cllama_set_sampler(e->ctx, best, s->smp);
    pthread_mutex_lock(&r->mu);
    r->n_cached = common;
    pthread_mutex_unlock(&r->mu);
    e->stats.prompt_tokens_cached += (uint64_t)common;
}

/* The slot's output, batch entry `entry`: its token (sampled in the evaluation, or
 * here from the logits), then stop or go on. */
static void take_token(srv_engine *e, slot *s, int entry) {
    srv_req *r = s->req;
    const float *logits = cllama_get_logits(e->ctx, entry);
    int32_t id = cllama_get_token(e->ctx, entry);
    if (id < 0) {
        memcpy(e->lbuf, logits, (size_t)e->n_vocab * sizeof *e->lbuf);
        id = cllama_sampler_sample(s->smp, e->lbuf);
    }
    char *lp = r->logprobs && logits ? srv_logprob_entry(e->m, logits, e->n_vocab, id, r->top_logprobs) : NULL;
    if (!r->ignore_eos && cllama_token_is_eog(e->m, id)) {
        if (lp) push_event(r, "", 0, lp);
        finish(e, s, "eog", NULL);
        return;
    }
    cllama_sampler_accept(s->smp, id);
    s->n_gen++;
    char piece[1024];
    int k = cllama_detok_push(&s->detok, id, piece, (int)sizeof piece);
    if (k > 0) text_put(s, piece, (size_t)k);
    const char *const *stops = (const char *const *)r->stops;
    size_t at = stop_find(s->text ? s->text : "", s->n_text, stops, r->n_stops);
    if (at < s->n_text) {
        if (at > s->sent) push_event(r, s->text + s->sent, at - s->sent, lp);
        else if (lp) push_event(r, "", 0, lp);
        s->n_text = s->sent = at;
        finish(e, s, "stop string", NULL);
        return;
    }
    size_t safe = s->n_text - stop_holdback(s->text ? s->text : "", s->n_text, stops, r->n_stops);
    if (safe > s->sent || lp) {
        push_event(r, s->text + s->sent, safe > s->sent ? safe - s->sent : 0, lp);
        if (safe > s->sent) s->sent = safe;
    }
    if (s->n_gen >= r->max_tokens || s->n_cache + 1 >= e->slot_ctx) {
        finish(e, s, "length", NULL);
        return;
    }
    s->pending = id;
    s->state = SLOT_GEN;
}

static int cancelled(srv_req *r) {
    pthread_mutex_lock(&r->mu);
    int c = r->cancelled;
    pthread_mutex_unlock(&r->mu);
    return c;
}

/* Group g's batch came back (or failed): the tokens it stored, the slots' outputs. */
static void collected(srv_engine *e, struct group *gr, int rc) {
    double now = now_s(), dt = now - (gr->t0 > e->t_collected ? gr->t0 : e->t_collected);
    e->t_collected = now;
    gr->in_flight = 0;
    if (rc) { /* every slot of the batch fails (nothing was stored: the cache is as before) */
        char msg[300];
        snprintf(msg, sizeof msg, "evaluation failed: %s", cllama_last_error());
        for (int k = 0; k < gr->n; k++)
            if (e->slots[gr->slot[k]].state != SLOT_IDLE) finish(e, &e->slots[gr->slot[k]], NULL, msg);
        return;
    }
    int n = gr->n, n_prompt = gr->n_prompt, n_gen_tokens = n - n_prompt;
    for (int k = 0; k < n; k++) { /* what the decode stored, in order */
        slot *s = &e->slots[gr->slot[k]];
        s->cache[s->n_cache++] = gr->tok[k];
        if (s->state == SLOT_PROMPT) s->prompt_next++;
    }
    for (int k = 0; k < n; k++) {
        if (!gr->out[k]) continue;
        slot *s = &e->slots[gr->slot[k]];
        if (s->state == SLOT_IDLE) continue;
        take_token(e, s, k);
    }
    pthread_mutex_lock(&e->mu);
    e->stats.steps++;
    e->stats.prompt_tokens += (uint64_t)n_prompt;
    e->stats.gen_tokens += (uint64_t)n_gen_tokens;
    if (n_prompt) e->stats.prompt_seconds += dt * n_prompt / n;
    if (n_gen_tokens) e->stats.gen_seconds += dt * n_gen_tokens / n;
    e->stats.kv_used = cllama_kv_n_used(e->ctx);
    pthread_mutex_unlock(&e->mu);
}

/* The slots first, first + stride, ...: waiting requests take the free ones, and the
 * requests whose clients left end. */
static void admit_waiting(srv_engine *e, int first, int stride) {
    pthread_mutex_lock(&e->mu);
    for (int i = first; i < e->n_slots && e->qn > 0; i += stride) {
        if (e->slots[i].state != SLOT_IDLE) continue;
        srv_req *r = e->queue[0];
        memmove(e->queue, e->queue + 1, (size_t)(--e->qn) * sizeof *e->queue);
        if (cancelled(r)) {
            srv_req_release(r);
            i -= stride;
            continue;
        }
        admit(e, r, first, stride);
    }
    e->stats.queue = e->qn;
    pthread_mutex_unlock(&e->mu);
    for (int i = first; i < e->n_slots; i += stride)
        /* a slot of a group in flight ends only once that batch is collected */
        if (e->slots[i].state != SLOT_IDLE && !e->groups[i % e->n_groups].in_flight && cancelled(e->slots[i].req))
            finish(e, &e->slots[i], NULL, "the client went away");
    int busy = 0;
    for (int i = 0; i < e->n_slots; i++) busy += e->slots[i].state != SLOT_IDLE;
    pthread_mutex_lock(&e->mu);
    e->stats.busy = busy;
    pthread_mutex_unlock(&e->mu);
}

/* Tokens the next batch of every slot would hold: one per generating slot and the
 * rest of each prompt. */
static int pending_tokens(const srv_engine *e) {
    int t = 0;
    for (int i = 0; i < e->n_slots; i++) {
        const slot *s = &e->slots[i];
        t += s->state == SLOT_GEN ? 1 : s->state == SLOT_PROMPT ? s->req->n_prompt - s->prompt_next : 0;
    }
    return t;
}

/* gr's batch from the slots first, first + stride, ...: one token of every generating
 * slot, then prompt chunks, up to STEP_TOKENS. Returns its size. */
static int build(srv_engine *e, struct group *gr, int first, int stride) {
    int n = 0, n_prompt = 0;
    for (int i = first; i < e->n_slots; i += stride) {
        slot *s = &e->slots[i];
        if (s->state != SLOT_GEN) continue;
        gr->tok[n] = s->pending, gr->seq[n] = i, gr->out[n] = 1, gr->slot[n] = i;
        n++;
    }
    for (int i = first; i < e->n_slots && n < STEP_TOKENS; i += stride) {
        slot *s = &e->slots[i];
        if (s->state != SLOT_PROMPT) continue;
        int take = s->req->n_prompt - s->prompt_next;
        if (take > STEP_TOKENS - n) take = STEP_TOKENS - n;
        for (int k = 0; k < take; k++) {
            gr->tok[n] = s->req->prompt[s->prompt_next + k];
            gr->seq[n] = i, gr->slot[n] = i;
            gr->out[n] = s->prompt_next + k == s->req->n_prompt - 1;
            n++;
        }
        n_prompt += take;
    }
    gr->n = n, gr->n_prompt = n_prompt;
    return n;
}

static int groups_in_flight(const srv_engine *e) {
    int n = 0;
    for (int g = 0; g < e->n_groups; g++) n += e->groups[g].in_flight;
    return n;
}

/* Sends gr's batch down (collecting it at once unless the groups are in flight). */
static void submit(srv_engine *e, struct group *gr, int in_flight) {
    gr->t0 = now_s();
    cllama_batch b = {.n_tokens = gr->n, .token = gr->tok, .seq_id = gr->seq, .output = gr->out};
    int rc = cllama_decode_submit(e->ctx, &b);
    if (rc || !in_flight) {
        collected(e, gr, rc ? rc : cllama_decode_collect(e->ctx));
        return;
    }
    int others = groups_in_flight(e);
    gr->in_flight = 1;
    if (others) {
        pthread_mutex_lock(&e->mu);
        e->stats.overlapped++;
        pthread_mutex_unlock(&e->mu);
    }
}

/* One step. With nothing in flight: one batch of every slot, evaluated at once, unless
 * there is enough work to keep the pipeline's stages busy with one group each. Then,
 * in turn, a group's batch in flight is collected and its next submitted, until the
 * work shrinks and the groups drain. Returns 0 when there was nothing to do. */
static int step(srv_engine *e) {
    int G = e->n_groups, did = 0;
    if (!groups_in_flight(e)) {
        admit_waiting(e, 0, 1);
        e->pipelined = G > 1 && pending_tokens(e) >= PIPELINE_TOKENS * G;
        if (!e->pipelined) {
            if (!build(e, &e->all, 0, 1)) return 0;
            submit(e, &e->all, 0);
            return 1;
        }
        e->next_group = 0;
    }
    int g = e->next_group;
    e->next_group = (g + 1) % G;
    struct group *gr = &e->groups[g];
    if (gr->in_flight) {
        collected(e, gr, cllama_decode_collect(e->ctx));
        did = 1;
    }
    if (!e->pipelined) return did; /* draining */
    admit_waiting(e, g, G);
    if (pending_tokens(e) < PIPELINE_TOKENS * G) {
        e->pipelined = 0;
        return did;
    }
    if (!build(e, gr, g, G)) return did;
    submit(e, gr, 1);
    return 1;
}

static void *engine_main(void *arg) {
    srv_engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        int idle = 1;
        for (int i = 0; i < e->n_slots; i++) idle &= e->slots[i].state == SLOT_IDLE;
        idle &= !groups_in_flight(e);
        while (!e->stop && idle && e->qn == 0) pthread_cond_wait(&e->cv, &e->mu);
        int stop = e->stop;
        pthread_mutex_unlock(&e->mu);
        if (stop) break;
        step(e);
    }
    return NULL;
}

int srv_engine_start(cllama_model *m, const srv_engine_params *p, srv_engine **out) {
    *out = NULL;
    srv_engine *e = calloc(1, sizeof *e);
    if (!e) return -1;
    e->m = m;
    e->n_vocab = cllama_model_n_vocab(m);
    e->n_slots = p->parallel;
    e->queue_max = p->queue_max;
    cllama_context_params cp = cli_context_params();
    cp.n_ctx = p->n_ctx;
    cp.n_seq_max = p->parallel;
    cp.n_threads = p->n_threads;
    if (cllama_context_init(m, &cp, &e->ctx)) {
        free(e);
        return -1;
    }
    e->slot_ctx = cllama_context_n_ctx(e->ctx) / p->parallel;
    e->slots = calloc((size_t)p->parallel, sizeof *e->slots);
    e->queue = calloc((size_t)p->queue_max + 1, sizeof *e->queue);
    /* as many groups as batches in flight keep every stage busy (1 without MPI) */
    e->n_groups = cllama_context_max_inflight(e->ctx) < p->parallel ? cllama_context_max_inflight(e->ctx) : p->parallel;
    e->groups = calloc((size_t)e->n_groups, sizeof *e->groups);
    e->lbuf = malloc((size_t)e->n_vocab * sizeof *e->lbuf);
    int ok = e->slots && e->queue && e->groups && e->lbuf;
    for (int g = -1; ok && g < e->n_groups; g++) {
        struct group *gr = g < 0 ? &e->all : &e->groups[g];
        gr->tok = malloc(STEP_TOKENS * 2 * sizeof *gr->tok);
        gr->seq = malloc(STEP_TOKENS * 2 * sizeof *gr->seq);
        gr->slot = malloc(STEP_TOKENS * 2 * sizeof *gr->slot);
        gr->out = malloc(STEP_TOKENS * 2);
        ok = gr->tok && gr->seq && gr->slot && gr->out;
    }
    for (int i = 0; ok && i < p->parallel; i++) ok = (e->slots[i].cache = malloc((size_t)e->slot_ctx * sizeof(int32_t))) != NULL;
    e->stats.slots = p->parallel;
    e->stats.kv_total = cllama_context_n_ctx(e->ctx);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    if (!ok || pthread_create(&e->th, NULL, engine_main, e)) {
        e->th = 0;
        srv_engine_stop(e);
        return -1;
    }
    *out = e;
    return 0;
}

void srv_engine_stop(srv_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (e->th) pthread_join(e->th, NULL);
    for (int k = 0; e->groups && k < e->n_groups; k++) { /* the batches in flight, oldest first */
        struct group *gr = &e->groups[(e->next_group + k) % e->n_groups];
        if (gr->in_flight) cllama_decode_collect(e->ctx);
        gr->in_flight = 0;
    }
    for (int i = 0; e->slots && i < e->n_slots; i++) {
        if (e->slots[i].req) finish(e, &e->slots[i], NULL, "the server is shutting down");
        free(e->slots[i].cache);
        free(e->slots[i].text);
    }
    for (int i = 0; i < e->qn; i++) {
        srv_req *r = e->queue[i];
        pthread_mutex_lock(&r->mu);
        r->done = 1;
        snprintf(r->error, sizeof r->error, "the server is shutting down");
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        srv_req_release(r);
    }
    cllama_context_free(e->ctx);
    for (int g = 0; e->groups && g < e->n_groups; g++)
        free(e->groups[g].tok), free(e->groups[g].seq), free(e->groups[g].slot), free(e->groups[g].out);
    free(e->all.tok), free(e->all.seq), free(e->all.slot), free(e->all.out);
    free(e->slots), free(e->queue), free(e->groups), free(e->lbuf);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}
