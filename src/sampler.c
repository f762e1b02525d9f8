/* Token sampling: repetition penalty, temperature, then the top-k / top-p / min-p
 * filters on the softmax, then a draw from a seeded PRNG (xoshiro256**), so a given
 * seed reproduces a given run. Temperature <= 0 is greedy (argmax after penalty). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"
#include "error.h"
#include "sampler.h"

struct cllama_sampler {
    cllama_sampler_params p;
    int n_vocab;
    uint64_t rng[4];
    int32_t *history; /* ring of the last repeat_last_n tokens (capacity repeat_last_n + 1) */
    int hist_n, hist_pos;
    int32_t *idx;     /* [n_vocab] candidate ids */
    float *prob;      /* [n_vocab] */
};

cllama_sampler_params cllama_sampler_default_params(void) {
    cllama_sampler_params p = {0.8f, 40, 0.95f, 0.05f, 1.0f, 64, 0, 0.0f, 0.0f};
    return p;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static int params_ok(const cllama_sampler_params *p) {
    return isfinite(p->temperature) && isfinite(p->top_p) && isfinite(p->min_p) && p->repeat_penalty > 0 &&
           isfinite(p->repeat_penalty) && isfinite(p->presence_penalty) && isfinite(p->frequency_penalty) &&
           p->repeat_last_n >= 0 && p->repeat_last_n <= (1 << 20);
}

int cllama_sampler_init(const cllama_sampler_params *params, int n_vocab, cllama_sampler **out) {
    *out = NULL;
    if (!params || n_vocab <= 0) return cl_err(CLLAMA_E_INVALID, "sampler: invalid arguments");
    const cllama_sampler_params *p = params;
    if (!params_ok(p)) return cl_err(CLLAMA_E_INVALID, "sampler: parameter out of range");
    cllama_sampler *s = calloc(1, sizeof *s);
    if (!s) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    uint64_t seed = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&seed);
    s->history = malloc(((size_t)p->repeat_last_n + 1) * sizeof *s->history);
    s->idx = malloc((size_t)n_vocab * sizeof *s->idx);
    s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
    if (!s->history || !s->idx || !s->prob) {
        cllama_sampler_free(s);
        return cl_err(CLLAMA_E_NOMEM, "out of memory");
    }
    *out = s;
    return CLLAMA_OK;
}

void cllama_sampler_free(cllama_sampler *s) {
    if (!s) return;
    free(s->history);
    free(s->idx);
    free(s->prob);
    free(s);
}

void cllama_sampler_accept(cllama_sampler *s, int32_t id) {
    if (s->p.repeat_last_n == 0) return;
    s->history[s->hist_pos] = id;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->hist_n < s->p.repeat_last_n) s->hist_n++;
}

static int by_logit_desc(const void *a, const void *b, void *logits) {
    const float *l = logits;
    float x = l[*(const int32_t *)a], y = l[*(const int32_t *)b];
    return (x < y) - (x > y);
}

/* Small top-k without sorting the whole vocabulary (a qsort of 128k ids is ~10 ms). */
#define INSERTION_TOP_K 128

int32_t cllama_sampler_sample(cllama_sampler *s, float *logits) {
    const cllama_sampler_params *p = &s->p;
    int V = s->n_vocab;
    /* Penalties as llama.cpp applies them, once per distinct token in the window:
     * repetition divides positive logits and multiplies negative ones, then the
     * frequency and presence penalties are subtracted. */
    if (p->repeat_penalty != 1.0f || p->presence_penalty != 0 || p->frequency_penalty != 0) {
        for (int i = 0; i < s->hist_n; i++) {
            int32_t id = s->history[i];
            int dup = 0, count = 1;
            for (int j = 0; j < i && !dup; j++) dup = s->history[j] == id;
            if (dup || id < 0 || id >= V) continue;
            for (int j = i + 1; j < s->hist_n; j++) count += s->history[j] == id;
            if (p->repeat_penalty != 1.0f)
                logits[id] = logits[id] > 0 ? logits[id] / p->repeat_penalty : logits[id] * p->repeat_penalty;
            logits[id] -= (float)count * p->frequency_penalty + p->presence_penalty;
        }
    }
    if (p->temperature <= 0) {
        int32_t best = 0;
        for (int i = 1; i < V; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    /* Candidates: top_k of them if set (partial selection), else all, sorted. */
    int n = V;
    for (int i = 0; i < V; i++) s->idx[i] = i;
    int k = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    if (k <= INSERTION_TOP_K) {
        int m = 0;
        for (int i = 0; i < V; i++) {
            float x = logits[i];
            if (m == k && x <= logits[s->idx[m - 1]]) continue;
            int pos = m < k ? m++ : k - 1;
            while (pos > 0 && logits[s->idx[pos - 1]] < x) {
                s->idx[pos] = s->idx[pos - 1];
                pos--;
            }
            s->idx[pos] = i;
        }
    } else {
        qsort_r(s->idx, (size_t)V, sizeof *s->idx, by_logit_desc, logits);
    }
    n = k;
    float mx = logits[s->idx[0]];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = expf((logits[s->idx[i]] - mx) / p->temperature);
        sum += s->prob[i];
    }
    for (int i = 0; i < n; i++) s->prob[i] = (float)(s->prob[i] / sum);
    /* min-p: keep tokens with prob >= min_p * max prob. */
    if (p->min_p > 0) {
        float thr = p->min_p * s->prob[0];
        int keep = 1;
        while (keep < n && s->prob[keep] >= thr) keep++;
        n = keep;
    }
    /* top-p: smallest prefix whose mass reaches top_p. */
    if (p->top_p < 1.0f) {
        double cum = 0;
        int keep = 0;
        while (keep < n) {
            cum += s->prob[keep++];
            if (cum >= p->top_p) break;
        }
        n = keep;
    }
    double mass = 0;
    for (int i = 0; i < n; i++) mass += s->prob[i];
    double r = (double)(next_u64(s->rng) >> 11) * (1.0 / 9007199254740992.0) * mass;
    double cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->prob[i];
        if (r < cum) return s->idx[i];
    }
    return s->idx[n - 1];
}

/* ---- the state as bytes ---- */

typedef struct {
    cllama_sampler_params p;
    int32_t n_vocab, hist_n, hist_pos, pad;
    uint64_t rng[4];
} saved_head; /* then hist_n int32 of history */

size_t cl_sampler_state_bytes(const cllama_sampler *s) { return sizeof(saved_head) + (size_t)s->hist_n * sizeof(int32_t); }

void cl_sampler_save(const cllama_sampler *s, void *buf) {
    saved_head h = {.p = s->p, .n_vocab = s->n_vocab, .hist_n = s->hist_n, .hist_pos = s->hist_pos};
    memcpy(h.rng, s->rng, sizeof h.rng);
    memcpy(buf, &h, sizeof h);
    memcpy((char *)buf + sizeof h, s->history, (size_t)s->hist_n * sizeof(int32_t));
}

int cl_sampler_load(cllama_sampler **sp, const void *buf, size_t n, int n_vocab) {
    saved_head h;
    if (n < sizeof h) return cl_err(CLLAMA_E_FORMAT, "sampler state: %zu bytes", n);
    memcpy(&h, buf, sizeof h);
    if (!params_ok(&h.p) || h.n_vocab != n_vocab || h.hist_n < 0 || h.hist_n > h.p.repeat_last_n || h.hist_pos < 0 ||
        h.hist_pos >= (h.p.repeat_last_n > 0 ? h.p.repeat_last_n : 1) || n != sizeof h + (size_t)h.hist_n * sizeof(int32_t))
        return cl_err(CLLAMA_E_FORMAT, "sampler state: not a saved state for %d tokens", n_vocab);
    cllama_sampler *s = *sp;
    if (s && s->p.repeat_last_n < h.p.repeat_last_n) { /* the history ring must grow */
        cllama_sampler_free(s);
        s = *sp = NULL;
    }
    if (!s) {
        int rc = cllama_sampler_init(&h.p, n_vocab, sp);
        if (rc) return rc;
        s = *sp;
    }
    s->p = h.p;
    s->hist_n = h.hist_n;
    s->hist_pos = h.hist_pos;
    memcpy(s->rng, h.rng, sizeof h.rng);
    memcpy(s->history, (const char *)buf + sizeof h, (size_t)h.hist_n * sizeof(int32_t));
    return CLLAMA_OK;
}

int cl_sampler_n_vocab(const cllama_sampler *s) { return s->n_vocab; }

void cl_sampler_get_rng(const cllama_sampler *s, uint64_t rng[4]) { memcpy(rng, s->rng, sizeof s->rng); }

void cl_sampler_set_rng(cllama_sampler *s, const uint64_t rng[4]) { memcpy(s->rng, rng, sizeof s->rng); }
