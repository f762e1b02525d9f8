#include "gen.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int decode_tokens(cllama_context *ctx, const int32_t *ids, int n) {
    cllama_batch b = {.n_tokens = n, .token = ids};
    return n > 0 ? cllama_decode(ctx, &b) : 0;
}

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static int sbuf_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

size_t stop_find(const char *s, size_t n, const char *const *stops, int n_stops) {
    size_t best = n;
    for (int k = 0; k < n_stops; k++) {
        size_t l = strlen(stops[k]);
        for (size_t i = 0; l && i + l <= n && i < best; i++)
            if (!memcmp(s + i, stops[k], l)) best = i;
    }
    return best;
}

size_t stop_holdback(const char *s, size_t n, const char *const *stops, int n_stops) {
    size_t keep = 0;
    for (int k = 0; k < n_stops; k++) {
        size_t l = strlen(stops[k]);
        for (size_t m = l > n ? n : l - 1; m > keep; m--)
            if (!memcmp(s + n - m, stops[k], m)) {
                keep = m;
                break;
            }
    }
    return keep;
}

/* The next token: the one cllama_decode sampled (the sampler set on the context, as
 * the pipeline needs: there it is sampled on the last stage), else sampled here from
 * the logits; -1 if the last call kept neither. */
static int32_t next_token(cllama_context *ctx, cllama_sampler *smp, float *buf, int n_vocab) {
    int32_t id = cllama_get_token(ctx, -1);
    if (id >= 0) return id;
    const float *l = cllama_get_logits(ctx, -1);
    if (!l) return -1;
    memcpy(buf, l, (size_t)n_vocab * sizeof *buf);
    return cllama_sampler_sample(smp, buf);
}

int gen_reply(cllama_context *ctx, const cllama_model *m, cllama_sampler *smp, const gen_opts *o, gen_result *r) {
    memset(r, 0, sizeof *r);
    int n_vocab = cllama_model_n_vocab(m), cap_ids = 64, rc = 0;
    r->ids = malloc((size_t)cap_ids * sizeof *r->ids);
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    sbuf all = {0}; /* the whole reply so far; all.n - printed bytes are held back */
    size_t printed = 0;
    cllama_detok d;
    cllama_detok_init(&d, m, 0);
    r->stop = "length";
    double t0 = now_s();
    int32_t id = r->ids && logits ? next_token(ctx, smp, logits, n_vocab) : -1;
    if (id < 0 || sbuf_put(&all, "", 0)) {
        rc = -1;
        goto done;
    }
    char piece[1024];
    for (;;) {
        if (o->interrupt && *o->interrupt) {
            r->stop = "interrupted";
            break;
        }
        if (o->n_predict >= 0 && r->n_gen >= o->n_predict) break;
        if (!o->ignore_eos && cllama_token_is_eog(m, id)) {
            r->stop = "end of generation token";
            break;
        }
        cllama_sampler_accept(smp, id);
        r->n_gen++;
        int k = cllama_detok_push(&d, id, piece, (int)sizeof piece);
        if (k > 0 && sbuf_put(&all, piece, (size_t)k)) {
            rc = -1;
            goto done;
        }
        size_t stop_at = stop_find(all.p, all.n, o->stops, o->n_stops);
        if (stop_at < all.n) {
            all.n = stop_at;
            all.p[all.n] = 0;
            r->stop = "stop string";
            break;
        }
        size_t safe = all.n - stop_holdback(all.p, all.n, o->stops, o->n_stops);
        if (safe > printed) {
            fwrite(all.p + printed, 1, safe - printed, o->out);
            fflush(o->out);
            printed = safe;
        }
        if (o->n_predict >= 0 && r->n_gen >= o->n_predict) break;
        if (cllama_kv_n_used(ctx) >= cllama_context_n_ctx(ctx)) {
            r->stop = "context full";
            break;
        }
        if (decode_tokens(ctx, &id, 1)) {
            if (o->interrupt && *o->interrupt) {
                r->stop = "interrupted";
                break;
            }
            rc = -1;
            goto done;
        }
        if (r->n_ids == cap_ids) {
            int32_t *ni = realloc(r->ids, (size_t)(cap_ids *= 2) * sizeof *ni);
            if (!ni) {
                rc = -1;
                goto done;
            }
            r->ids = ni;
        }
        r->ids[r->n_ids++] = id;
        if ((id = next_token(ctx, smp, logits, n_vocab)) < 0) {
            rc = -1;
            goto done;
        }
    }
    /* the held-back tail (it did not become a stop string), then a cut character */
    int k = cllama_detok_flush(&d, piece, (int)sizeof piece);
    if (strcmp(r->stop, "stop string") && k > 0) sbuf_put(&all, piece, (size_t)k);
    if (all.n > printed) fwrite(all.p + printed, 1, all.n - printed, o->out);
    fflush(o->out);
done:
    r->seconds = now_s() - t0;
    r->text = all.p;
    free(logits);
    return rc;
}

void gen_result_free(gen_result *r) {
    free(r->text);
    free(r->ids);
    memset(r, 0, sizeof *r);
}
