/* Perplexity and KL divergence by llama-perplexity's method: see ppl.h for the method,
 * the statistics and the base file format. */
#include "ppl.h"
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const double ppl_pct_levels[PPL_N_PCT] = {99.9, 99, 95, 90, 75, 50, 25, 10, 5, 1, 0.1};

#define MAGIC "CLPPLKLD"
#define LLAMA_MAGIC "_logits_"
#define VERSION 1
#define HEADER_BYTES 48
#define BOS_UNKNOWN (-2) /* llama-perplexity's file does not say */
/* log-probabilities more than this below the top are not stored (q = 0) and not
 * counted in the KLD: llama-perplexity's cut, kept so the figures compare. */
#define LOGP_RANGE 16.0f

struct ppl_base {
    int n_vocab, n_ctx, n_chunks;
    int bos;          /* BOS id at chunk starts, -1 none, BOS_UNKNOWN */
    double ppl;       /* NaN if not recorded */
    size_t n_pos;     /* n_chunks * scored positions per chunk */
    int32_t *tokens;  /* [n_chunks * n_ctx] */
    float *scale;     /* [n_pos] log p = min + scale * q */
    float *min;       /* [n_pos] */
    uint16_t *q;      /* [n_pos][n_vocab] */
};

/* ---- errors ---- */

static _Thread_local char err_msg[512];

const char *ppl_last_error(void) { return err_msg; }

/* Records a one-line message and returns `code` (a negative CLLAMA_E_*). */
static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    return code;
}

/* Passes on a library failure: its code and cllama_last_error(). */
static int fail_lib(int code) { return fail(code, "%s", cllama_last_error()); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

ppl_params ppl_default_params(void) { return (ppl_params){.n_ctx = 512, .n_batch = 2048}; }

/* Scored positions per chunk: logits at first .. n_ctx-2 (first = n_ctx/2). */
static int scored_per_chunk(int n_ctx) { return n_ctx - 1 - n_ctx / 2; }

int ppl_model_adds_bos(const cllama_model *m) {
    int32_t ids[4];
    int n = cllama_tokenize(m, "", 0, CLLAMA_TOKENIZE_ADD_BOS, ids, 4);
    return n >= 1 && ids[0] == cllama_token_bos(m);
}

/* ---- base: allocation and accessors ---- */

/* A base for n_chunks chunks, arrays allocated (contents undefined); NULL on overflow
 * or out of memory (message set). */
static ppl_base *base_new(int n_vocab, int n_ctx, int n_chunks) {
    ppl_base *b = calloc(1, sizeof *b);
    if (!b) {
        fail(CLLAMA_E_NOMEM, "out of memory");
        return NULL;
    }
    b->n_vocab = n_vocab;
    b->n_ctx = n_ctx;
    b->n_chunks = n_chunks;
    b->bos = -1;
    b->ppl = NAN;
    b->n_pos = (size_t)n_chunks * (size_t)scored_per_chunk(n_ctx);
    size_t n_tok = (size_t)n_chunks * (size_t)n_ctx;
    if (b->n_pos && (size_t)n_vocab > SIZE_MAX / sizeof *b->q / b->n_pos) {
        fail(CLLAMA_E_NOMEM, "a base of %zu positions x %d tokens does not fit in memory", b->n_pos, n_vocab);
        ppl_base_free(b);
        return NULL;
    }
    b->tokens = malloc(n_tok * sizeof *b->tokens + 1);
    b->scale = malloc(b->n_pos * sizeof *b->scale + 1);
    b->min = malloc(b->n_pos * sizeof *b->min + 1);
    b->q = malloc(b->n_pos * (size_t)n_vocab * sizeof *b->q + 1);
    if (!b->tokens || !b->scale || !b->min || !b->q) {
        fail(CLLAMA_E_NOMEM, "out of memory for the log-probabilities of %zu positions (%.0f MB)", b->n_pos,
             b->n_pos * (double)n_vocab * 2 / 1e6);
        ppl_base_free(b);
        return NULL;
    }
    return b;
}

void ppl_base_free(ppl_base *b) {
    if (!b) return;
    free(b->tokens);
    free(b->scale);
    free(b->min);
    free(b->q);
    free(b);
}

void ppl_base_info(const ppl_base *b, int *n_vocab, int *n_ctx, int *n_chunks) {
    if (n_vocab) *n_vocab = b->n_vocab;
    if (n_ctx) *n_ctx = b->n_ctx;
    if (n_chunks) *n_chunks = b->n_chunks;
}

const int32_t *ppl_base_tokens(const ppl_base *b) { return b->tokens; }
double ppl_base_ppl(const ppl_base *b) { return b->ppl; }

/* ---- per-position math ---- */

/* Max, its first index, and log(sum exp(l - max)) of n logits. */
static void softmax_stats(const float *l, int n, float *max, int *imax, double *lse) {
    float mx = l[0];
    int im = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > mx) mx = l[i], im = i;
    double s = 0;
    for (int i = 0; i < n; i++) s += expf(l[i] - mx);
    *max = mx;
    *imax = im;
    *lse = log(s);
}

/* Encodes one position's log-softmax in 16 bits (llama-perplexity's scheme): logits
 * at or below max - 16 map to 0, the max to 65535, linearly between; `scale` and
 * `min` turn q back into log p = min + scale * q. */
static void encode_row(const float *l, int n, float max, double lse, float *scale, float *min, uint16_t *q) {
    float lo = l[0];
    for (int i = 1; i < n; i++)
        if (l[i] < lo) lo = l[i];
    if (lo < max - LOGP_RANGE) lo = max - LOGP_RANGE;
    *scale = (max - lo) / 65535.f;
    *min = (float)(lo - max - lse);
    if (*scale == 0) {
        memset(q, 0, (size_t)n * sizeof *q);
        return;
    }
    float inv = 1 / *scale;
    for (int i = 0; i < n; i++) {
        long v = l[i] > lo ? lrintf(inv * (l[i] - lo)) : 0;
        q[i] = (uint16_t)(v > 65535 ? 65535 : v);
    }
}

/* Running sums over scored positions (llama-perplexity's kl_divergence_result). */
typedef struct {
    double nll, nll2, nll_b, nll_b2, nll_nll_b, kld, kld2, dp, dp2, dp4;
    long same_top, count;
} sums;

/* mean and standard error of the mean from a sum and a sum of squares (0 error with
 * 10 values or fewer, as llama-perplexity). */
static void mean_err(double s, double s2, long n, double *mean, double *err) {
    *mean = n ? s / n : 0;
    double var = n ? s2 / n - *mean * *mean : 0;
    *err = var > 0 && n > 10 ? sqrt(var / (n - 1)) : 0;
}

/* Covariance of the means of a and b (0 under 10 values). */
static double cov_means(double sa, double sb, double sab, long n) {
    return n < 10 ? 0 : (sab / n - (sa / n) * (sb / n)) / (n - 1);
}

/* Scores one position against the base row r: updates the sums, returns KLD and dp. */
static void score_vs_base(const ppl_base *b, size_t r, const float *l, int tok, sums *s, float *kld_out,
                          float *dp_out) {
    int V = b->n_vocab, imax, imax_b = 0;
    float max;
    double lse;
    softmax_stats(l, V, &max, &imax, &lse);
    const float scale = b->scale[r], min = b->min[r];
    const uint16_t *q = b->q + r * (size_t)V;
    double nll = max + lse - l[tok];
    double nll_b = -(scale * q[tok] + min);
    double top = max + lse, kld = 0; /* log q_j = l_j - top */
    uint16_t qmax = q[0];
    for (int j = 0; j < V; j++) {
        if (q[j] > qmax) qmax = q[j], imax_b = j;
        float lpb = scale * q[j] + min;
        if (lpb > -LOGP_RANGE) kld += expf(lpb) * (lpb - (l[j] - top));
    }
    double dp = exp(-nll) - exp(-nll_b);
    s->nll += nll, s->nll2 += nll * nll;
    s->nll_b += nll_b, s->nll_b2 += nll_b * nll_b, s->nll_nll_b += nll * nll_b;
    s->kld += kld, s->kld2 += kld * kld;
    s->dp += dp, s->dp2 += dp * dp, s->dp4 += dp * dp * dp * dp;
    s->same_top += imax == imax_b;
    s->count++;
    *kld_out = (float)kld;
    *dp_out = (float)dp;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Percentile `level` (percent) of n sorted values, linear between neighbours. */
static double percentile(const float *v, size_t n, double level) {
    double p = level / 100 * (double)(n - 1);
    size_t i = (size_t)p;
    if (i >= n - 1) return v[n - 1];
    p -= (double)i;
    return (1 - p) * v[i] + p * v[i + 1];
}

/* Fills the base-comparison part of *o from the sums and the kld / dp values. */
static void finish_kld(const sums *s, float *kld_v, float *dp_v, ppl_result *o) {
    long n = s->count;
    double lq, lq_e, lb, lb_e;
    mean_err(s->nll, s->nll2, n, &lq, &lq_e);
    mean_err(s->nll_b, s->nll_b2, n, &lb, &lb_e);
    double cov = cov_means(s->nll, s->nll_b, s->nll_nll_b, n);
    o->has_base = 1;
    o->ppl_base = exp(lb);
    o->ppl_base_err = o->ppl_base * lb_e;
    o->cor = lq_e > 0 && lb_e > 0 ? cov / (lq_e * lb_e) : 0;
    o->ln_ratio = lq - lb;
    double v = lq_e * lq_e + lb_e * lb_e - 2 * cov;
    o->ln_ratio_err = v > 0 ? sqrt(v) : 0;
    o->ppl_ratio = exp(o->ln_ratio);
    o->ppl_ratio_err = o->ppl_ratio * o->ln_ratio_err;
    o->ppl_diff = o->ppl - o->ppl_base;
    v = o->ppl_err * o->ppl_err + o->ppl_base_err * o->ppl_base_err - 2 * o->ppl * o->ppl_base * cov;
    o->ppl_diff_err = v > 0 ? sqrt(v) : 0;
    mean_err(s->kld, s->kld2, n, &o->kld, &o->kld_err);
    mean_err(s->dp, s->dp2, n, &o->dp, &o->dp_err);
    double mse, mse_e;
    mean_err(s->dp2, s->dp4, n, &mse, &mse_e);
    o->rms_dp = sqrt(mse);
    o->rms_dp_err = o->rms_dp > 0 ? 0.5 / o->rms_dp * mse_e : 0;
    o->same_top = n ? (double)s->same_top / n : 0;
    o->same_top_err = n > 1 ? sqrt(o->same_top * (1 - o->same_top) / (n - 1)) : 0;
    if (!n) return;
    qsort(kld_v, (size_t)n, sizeof *kld_v, cmp_float);
    qsort(dp_v, (size_t)n, sizeof *dp_v, cmp_float);
    o->kld_min = kld_v[0], o->kld_max = kld_v[n - 1];
    o->dp_min = dp_v[0], o->dp_max = dp_v[n - 1];
    for (int k = 0; k < PPL_N_PCT; k++) {
        o->kld_p[k] = percentile(kld_v, (size_t)n, ppl_pct_levels[k]);
        o->dp_p[k] = percentile(dp_v, (size_t)n, ppl_pct_levels[k]);
    }
}

/* ---- the run ---- */

int ppl_base_check_vocab(const ppl_base *b, const cllama_model *m) {
    int V = cllama_model_n_vocab(m);
    if (b->n_vocab != V)
        return fail(CLLAMA_E_INVALID,
                    "the base holds log-probabilities over %d tokens but this model's vocabulary has %d: "
                    "it was made with another vocabulary",
                    b->n_vocab, V);
    return 0;
}

/* Checks that `b` belongs to this model, n_ctx, chunk count and text. */
static int check_base(const ppl_base *b, const cllama_model *m, int n_ctx, int n_chunks, int bos,
                      const int32_t *tokens, int n_tokens) {
    int rc = ppl_base_check_vocab(b, m);
    if (rc) return rc;
    if (b->n_ctx != n_ctx)
        return fail(CLLAMA_E_INVALID, "the base was made with chunks of %d tokens (-c %d), not %d", b->n_ctx,
                    b->n_ctx, n_ctx);
    if (n_chunks > b->n_chunks)
        return fail(CLLAMA_E_INVALID, "the base holds %d chunks, fewer than the %d asked for", b->n_chunks, n_chunks);
    if (b->bos != BOS_UNKNOWN && b->bos != bos)
        return fail(CLLAMA_E_INVALID, "the base put %s at chunk starts, this vocabulary %s: another tokenizer",
                    b->bos < 0 ? "no BOS" : "a BOS token", bos < 0 ? "puts none" : "puts BOS there");
    if (!tokens) return 0;
    size_t need = (size_t)n_chunks * (size_t)n_ctx;
    if ((size_t)n_tokens < need)
        return fail(CLLAMA_E_INVALID, "the text has %d tokens but the base covers %zu: it was made from another text",
                    n_tokens, need);
    for (size_t i = 0; i < need; i++)
        if (tokens[i] != b->tokens[i])
            return fail(CLLAMA_E_INVALID,
                        "the text differs from the base's at token %zu (chunk %zu): id %d here, %d in the base; "
                        "it was made from another text or tokenizer",
                        i, i / (size_t)n_ctx + 1, tokens[i], b->tokens[i]);
    return 0;
}

/* The progress line of one chunk with a base (llama-perplexity's table row). */
static void print_kld_row(FILE *f, int chunk, const sums *s) {
    double lq, lq_e, lb, lb_e, k, k_e, mse, mse_e;
    mean_err(s->nll, s->nll2, s->count, &lq, &lq_e);
    mean_err(s->nll_b, s->nll_b2, s->count, &lb, &lb_e);
    double cov = cov_means(s->nll, s->nll_b, s->nll_nll_b, s->count);
    double v = lq_e * lq_e + lb_e * lb_e - 2 * cov;
    mean_err(s->kld, s->kld2, s->count, &k, &k_e);
    mean_err(s->dp2, s->dp4, s->count, &mse, &mse_e);
    double rms = sqrt(mse), top = (double)s->same_top / s->count;
    fprintf(f, "%4d    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f    %6.3f ± %6.3f %%    %6.3f ± %6.3f %%\n",
            chunk, exp(lq), exp(lq) * lq_e, lq - lb, v > 0 ? sqrt(v) : 0, k, k_e, 100 * rms,
            rms > 0 ? 100 * 0.5 / rms * mse_e : 0, 100 * top,
            s->count > 1 ? 100 * sqrt(top * (1 - top) / (s->count - 1)) : 0);
    fflush(f);
}

int ppl_run(cllama_model *m, const int32_t *tokens, int n_tokens, const ppl_params *pp, const ppl_base *cmp,
            ppl_base **store, ppl_result *out, FILE *progress) {
    if (store) *store = NULL;
    if (!m || !out || (!tokens && !cmp) || n_tokens < 0) return fail(CLLAMA_E_INVALID, "ppl_run: invalid arguments");
    memset(out, 0, sizeof *out);
    ppl_params p = pp ? *pp : ppl_default_params();
    if (p.n_ctx == 0) p.n_ctx = cmp ? cmp->n_ctx : 512;
    if (p.n_batch <= 0) p.n_batch = 2048;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_ctx < PPL_MIN_CTX)
        return fail(CLLAMA_E_INVALID, "a context of %d tokens is too small: the perplexity needs at least %d", p.n_ctx,
                    PPL_MIN_CTX);
    const int n_ctx = p.n_ctx, first = n_ctx / 2, S = scored_per_chunk(n_ctx), V = cllama_model_n_vocab(m);
    int bos = ppl_model_adds_bos(m) ? cllama_token_bos(m) : -1;
    int rc;
    /* Vocabulary, n_ctx and BOS first: they explain any difference in the tokens. */
    if (cmp && (rc = check_base(cmp, m, n_ctx, 0, bos, NULL, 0))) return rc;
    if (!tokens) {
        tokens = cmp->tokens;
        n_tokens = cmp->n_chunks * cmp->n_ctx;
    } else if (n_tokens < 2 * n_ctx) {
        return fail(CLLAMA_E_INVALID,
                    "you need at least %d tokens to evaluate perplexity with a context of %d; the text has only %d",
                    2 * n_ctx, n_ctx, n_tokens);
    }
    int n_chunks = n_tokens / n_ctx;
    if (cmp && n_chunks > cmp->n_chunks) n_chunks = cmp->n_chunks;
    if (p.n_chunks > 0 && p.n_chunks < n_chunks) n_chunks = p.n_chunks;
    if (cmp && p.n_chunks > cmp->n_chunks) n_chunks = p.n_chunks; /* refused just below */
    if (cmp && (rc = check_base(cmp, m, n_ctx, n_chunks, bos, tokens == cmp->tokens ? NULL : tokens, n_tokens)))
        return rc;

    size_t n_pos = (size_t)n_chunks * (size_t)S;
    cllama_context *ctx = NULL;
    ppl_base *nb = NULL;
    int32_t *chunk = malloc((size_t)n_ctx * sizeof *chunk);
    int8_t *want = calloc((size_t)n_ctx, 1);
    float *kld_v = cmp ? malloc(n_pos * sizeof *kld_v) : NULL, *dp_v = cmp ? malloc(n_pos * sizeof *dp_v) : NULL;
    if (!chunk || !want || (cmp && (!kld_v || !dp_v))) {
        rc = fail(CLLAMA_E_NOMEM, "out of memory");
        goto done;
    }
    if (store) {
        if (!(nb = base_new(V, n_ctx, n_chunks))) {
            rc = CLLAMA_E_NOMEM;
            goto done;
        }
        nb->bos = bos;
        memcpy(nb->tokens, tokens, (size_t)n_chunks * n_ctx * sizeof *tokens);
    }
    cllama_context_params cp = cli_context_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = p.n_batch;
    cp.n_threads = cli_threads(p.n_threads);
    cp.threadpool = p.threadpool;
    if ((rc = cllama_context_init(m, &cp, &ctx))) {
        fail_lib(rc);
        goto done;
    }
    /* Outputs only where they are scored: positions first .. n_ctx-2. */
    for (int i = first; i < n_ctx - 1; i++) want[i] = 1;
    if (progress && cmp)
        fprintf(progress, "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence"
                          "              Δp RMS            Same top p\n");

    double t0 = now_s(), nll = 0, nll2 = 0; /* nll from the float logits, in double */
    sums s = {0};
    for (int c = 0; c < n_chunks; c++) {
        memcpy(chunk, tokens + (size_t)c * n_ctx, (size_t)n_ctx * sizeof *chunk);
        if (bos >= 0) chunk[0] = bos;
        cllama_kv_clear(ctx);
        cllama_batch batch = {.n_tokens = n_ctx, .token = chunk, .output = want};
        if ((rc = cllama_decode(ctx, &batch))) {
            fail_lib(rc);
            goto done;
        }
        for (int k = 0; k < S; k++) {
            const float *l = cllama_get_logits(ctx, first + k);
            int tok = tokens[(size_t)c * n_ctx + first + k + 1];
            size_t r = (size_t)c * S + (size_t)k;
            float max;
            int imax;
            double lse;
            softmax_stats(l, V, &max, &imax, &lse);
            double v = max + lse - l[tok];
            nll += v, nll2 += v * v;
            if (nb) encode_row(l, V, max, lse, &nb->scale[r], &nb->min[r], nb->q + r * (size_t)V);
            if (cmp) score_vs_base(cmp, r, l, tok, &s, &kld_v[r], &dp_v[r]);
        }
        if (progress && cmp) {
            print_kld_row(progress, c + 1, &s);
        } else if (progress) {
            fprintf(progress, "[%d]%.4f,", c + 1, exp(nll / ((double)(c + 1) * S)));
            fflush(progress);
        }
    }
    if (progress && !cmp) fprintf(progress, "\n");
    double secs = now_s() - t0;

    long n = (long)n_pos;
    out->n_ctx = n_ctx;
    out->n_chunks = n_chunks;
    out->n_scored = (int)n;
    out->seconds = secs;
    out->tokens_per_s = secs > 0 ? (double)n_chunks * n_ctx / secs : 0;
    double var;
    out->nll = nll / n;
    var = nll2 / n - out->nll * out->nll;
    out->nll_err = var > 0 && n > 1 ? sqrt(var / (n - 1)) : 0;
    out->ppl = exp(out->nll);
    out->ppl_err = out->ppl * out->nll_err;
    if (cmp) finish_kld(&s, kld_v, dp_v, out);
    if (nb) {
        nb->ppl = out->ppl;
        *store = nb;
        nb = NULL;
    }
    rc = 0;
done:
    cllama_context_free(ctx);
    ppl_base_free(nb);
    free(chunk);
    free(want);
    free(kld_v);
    free(dp_v);
    return rc;
}

/* ---- the file ---- */

/* 64-bit FNV-1a over little-endian u64 words of a byte stream, the tail zero-padded. */
typedef struct {
    uint64_t h;
    unsigned char pend[8];
    int n_pend;
} hasher;

static void hash_word(hasher *h, const unsigned char *p) {
    uint64_t w = 0;
    for (int i = 7; i >= 0; i--) w = w << 8 | p[i];
    h->h = (h->h ^ w) * 0x100000001b3ull;
}

static void hash_feed(hasher *h, const void *data, size_t n) {
    const unsigned char *p = data;
    while (n && h->n_pend) {
        h->pend[h->n_pend++] = *p++, n--;
        if (h->n_pend == 8) hash_word(h, h->pend), h->n_pend = 0;
    }
    for (; n >= 8; p += 8, n -= 8) hash_word(h, p);
    while (n) h->pend[h->n_pend++] = *p++, n--;
}

static uint64_t hash_end(hasher *h) {
    if (h->n_pend) {
        memset(h->pend + h->n_pend, 0, (size_t)(8 - h->n_pend));
        hash_word(h, h->pend);
        h->n_pend = 0;
    }
    return h->h;
}

static int little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i);
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i);
}
static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const unsigned char *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* Hands the payload to fn(data, n bytes, user) in file order: the tokens, then each
 * position as f32 scale, f32 min, u16 q[n_vocab] (host order, little-endian), built in
 * `row` (8 + 2 n_vocab bytes). 0, or -1 as soon as fn fails. */
typedef int (*chunk_fn)(const void *data, size_t n, void *user);
static int for_each_payload(const ppl_base *b, unsigned char *row, chunk_fn fn, void *user) {
    if (fn(b->tokens, (size_t)b->n_chunks * b->n_ctx * sizeof *b->tokens, user)) return -1;
    size_t V = (size_t)b->n_vocab;
    for (size_t r = 0; r < b->n_pos; r++) {
        memcpy(row, &b->scale[r], 4);
        memcpy(row + 4, &b->min[r], 4);
        memcpy(row + 8, b->q + r * V, V * 2);
        if (fn(row, 8 + V * 2, user)) return -1;
    }
    return 0;
}

static int hash_cb(const void *data, size_t n, void *user) {
    hash_feed(user, data, n);
    return 0;
}
static int write_cb(const void *data, size_t n, void *user) { return fwrite(data, 1, n, user) == n ? 0 : -1; }

int ppl_base_write(const ppl_base *b, const char *path) {
    if (!b || !path) return fail(CLLAMA_E_INVALID, "ppl_base_write: invalid arguments");
    if (!little_endian()) return fail(CLLAMA_E_UNSUPPORTED, "base files are little-endian: not on this host");
    unsigned char *row = malloc(8 + (size_t)b->n_vocab * 2), hdr[HEADER_BYTES] = {0};
    if (!row) return fail(CLLAMA_E_NOMEM, "out of memory");
    hasher h = {0xcbf29ce484222325ull, {0}, 0};
    for_each_payload(b, row, hash_cb, &h);
    memcpy(hdr, MAGIC, 8);
    put_u32(hdr + 8, VERSION);
    put_u32(hdr + 12, (uint32_t)b->n_vocab);
    put_u32(hdr + 16, (uint32_t)b->n_ctx);
    put_u32(hdr + 20, (uint32_t)b->n_chunks);
    put_u32(hdr + 24, (uint32_t)(b->bos == BOS_UNKNOWN ? -1 : b->bos));
    double ppl = b->ppl;
    uint64_t bits;
    memcpy(&bits, &ppl, 8);
    put_u64(hdr + 32, bits);
    put_u64(hdr + 40, hash_end(&h));
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(row);
        return fail(CLLAMA_E_IO, "cannot write %s: %s", path, strerror(errno));
    }
    int bad = fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr || for_each_payload(b, row, write_cb, f);
    int err = errno;
    if (fclose(f) && !bad) bad = 1, err = errno;
    free(row);
    if (bad) {
        remove(path);
        return fail(CLLAMA_E_IO, "cannot write %s: %s", path, strerror(err));
    }
    return 0;
}

/* Reads exactly n bytes; 0, or -1 at a short read. */
static int read_exact(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n ? 0 : -1; }

int ppl_base_read(const char *path, ppl_base **out) {
    if (!path || !out) return fail(CLLAMA_E_INVALID, "ppl_base_read: invalid arguments");
    *out = NULL;
    if (!little_endian()) return fail(CLLAMA_E_UNSUPPORTED, "base files are little-endian: not on this host");
    FILE *f = fopen(path, "rb");
    if (!f) return fail(CLLAMA_E_IO, "cannot read %s: %s", path, strerror(errno));
    ppl_base *b = NULL;
    unsigned char hdr[HEADER_BYTES], *row = NULL;
    int rc = CLLAMA_E_FORMAT;
    long long size = -1;
    if (!fseek(f, 0, SEEK_END)) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET)) {
        rc = fail(CLLAMA_E_IO, "cannot read %s: not a regular file", path);
        goto done;
    }
    int llama = 0;
    uint32_t n_vocab, n_ctx, n_chunks, version = VERSION;
    int32_t bos = BOS_UNKNOWN;
    uint64_t sum = 0, hdr_bytes;
    double ppl = NAN;
    if (size < 20 || read_exact(f, hdr, 20)) {
        fail(rc, "%s is not a perplexity base: %lld bytes, too short for a header", path, size);
        goto done;
    }
    if (!memcmp(hdr, LLAMA_MAGIC, 8)) { /* llama-perplexity: n_ctx, n_vocab, n_chunk */
        llama = 1;
        n_ctx = get_u32(hdr + 8), n_vocab = get_u32(hdr + 12), n_chunks = get_u32(hdr + 16);
        hdr_bytes = 20;
    } else if (!memcmp(hdr, MAGIC, 8)) {
        if ((version = get_u32(hdr + 8)) != VERSION) {
            fail(rc, "%s is a perplexity base of version %u; this cllama reads version %d", path, version, VERSION);
            goto done;
        }
        if (size < HEADER_BYTES || read_exact(f, hdr + 20, HEADER_BYTES - 20)) {
            fail(rc, "%s is truncated inside its header", path);
            goto done;
        }
        n_vocab = get_u32(hdr + 12), n_ctx = get_u32(hdr + 16), n_chunks = get_u32(hdr + 20);
        bos = (int32_t)get_u32(hdr + 24);
        uint64_t bits = get_u64(hdr + 32);
        memcpy(&ppl, &bits, 8);
        sum = get_u64(hdr + 40);
        hdr_bytes = HEADER_BYTES;
        if (bos < -1 || (bos >= 0 && (uint32_t)bos >= n_vocab)) {
            fail(rc, "%s: BOS id %d is outside its vocabulary of %u", path, bos, n_vocab);
            goto done;
        }
    } else {
        fail(rc, "%s is not a perplexity base (no CLPPLKLD or _logits_ magic)", path);
        goto done;
    }
    if (n_vocab < 2 || n_vocab > (1u << 24) || n_ctx < 4 || n_ctx > (1u << 22) || n_chunks < 1 ||
        n_chunks > (1u << 24)) {
        fail(rc, "%s: implausible header (n_vocab %u, n_ctx %u, n_chunks %u)", path, n_vocab, n_ctx, n_chunks);
        goto done;
    }
    /* Row: 2 floats then n_vocab u16; llama-perplexity pads the u16 count to even. */
    uint64_t row_bytes = 8 + 2 * (uint64_t)(llama ? 2 * ((n_vocab + 1) / 2) : n_vocab);
    uint64_t n_pos = (uint64_t)n_chunks * (uint64_t)scored_per_chunk((int)n_ctx);
    uint64_t want = hdr_bytes + 4 * (uint64_t)n_chunks * n_ctx + n_pos * row_bytes; /* < 2^24 * 2^22 * 2^25 */
    if ((uint64_t)size != want) {
        fail(rc, "%s is %s: %lld bytes where its header (n_vocab %u, n_ctx %u, %u chunks) needs %llu", path,
             (uint64_t)size < want ? "truncated" : "too long", size, n_vocab, n_ctx, n_chunks,
             (unsigned long long)want);
        goto done;
    }
    if (!(b = base_new((int)n_vocab, (int)n_ctx, (int)n_chunks)) || !(row = malloc(row_bytes))) {
        rc = CLLAMA_E_NOMEM;
        if (b) fail(rc, "out of memory");
        goto done;
    }
    b->bos = bos;
    b->ppl = ppl;
    hasher h = {0xcbf29ce484222325ull, {0}, 0};
    size_t tok_bytes = (size_t)n_chunks * n_ctx * sizeof *b->tokens;
    if (read_exact(f, b->tokens, tok_bytes)) goto short_read;
    hash_feed(&h, b->tokens, tok_bytes);
    for (size_t i = 0; i < (size_t)n_chunks * n_ctx; i++)
        if (b->tokens[i] < 0 || (uint32_t)b->tokens[i] >= n_vocab) {
            fail(rc, "%s: token %zu is %d, outside its vocabulary of %u", path, i, b->tokens[i], n_vocab);
            goto done;
        }
    /* Any position's min is lo - max - lse with lo >= max - 16 and lse in [0, log V]. */
    const float min_floor = -(LOGP_RANGE + logf((float)n_vocab) + 1), scale_max = LOGP_RANGE / 65535.f * 1.001f;
    for (size_t r = 0; r < n_pos; r++) {
        if (read_exact(f, row, row_bytes)) goto short_read;
        if (!llama) hash_feed(&h, row, row_bytes);
        memcpy(&b->scale[r], row, 4);
        memcpy(&b->min[r], row + 4, 4);
        memcpy(b->q + r * n_vocab, row + 8, (size_t)n_vocab * 2);
        float sc = b->scale[r], mn = b->min[r];
        if (!(sc >= 0 && sc <= scale_max) || !(mn <= 0 && mn >= min_floor)) {
            fail(rc, "%s: position %zu has scale %g and min %g, not log-probabilities: the file is corrupted", path, r,
                 sc, mn);
            goto done;
        }
    }
    if (!llama && hash_end(&h) != sum) {
        fail(rc, "%s: checksum mismatch: the file is corrupted", path);
        goto done;
    }
    *out = b;
    b = NULL;
    rc = 0;
    goto done;
short_read:
    fail(rc, "%s: short read: %s", path, ferror(f) ? strerror(errno) : "the file changed while being read");
done:
    fclose(f);
    free(row);
    ppl_base_free(b);
    return rc;
}
