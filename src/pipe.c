/* Pipeline stages: one model's layers across processes (see cllama.h). Stage 0's
 * context sends requests down the chain 0 -> 1 -> ... -> n-1; every stage acts on a
 * request and passes it on; the last stage answers stage 0 directly. Requests:
 *
 *   CTX    create context `id` (n_ctx, n_seq_max, n_batch, threads) answered: STATUS
 *   FREE   free context `id`                                       not answered
 *   KV     rm / cp / clear on context `id`                         not answered
 *   UB     one micro-batch: header, then pos[B], seq[B], out[B]    answered after the
 *          (int32) and hidden states [B][E] (float32), unless      call's last one:
 *          the header carries a failure                            STATUS, logits
 *                                                                  rows, tokens
 *   END    serve returns                                           not answered
 *
 * out[i] says what comes back for entry i: nothing, its logits, or a token sampled on
 * the last stage (CL_PIPE_OUT_*), so that generation returns 4 bytes per sequence
 * instead of n_vocab floats. For those, the header of the call's last UB carries the
 * size of the packed sampler states, which stage 0 sends straight to the last stage
 * after that UB: records of (seq, bytes, cl_sampler_save state). The answer is then
 * the tokens [n_tok] (int32, in entry order) and, per record, (seq, pad, rng[4]): the
 * random state the sampling left, which stage 0's sampler takes over.
 *
 * A stage that fails keeps the chain in step: it passes the request on with its
 * status and message in the header and without the payload, and later stages only
 * pass it on. The last stage buffers the logits of a call's micro-batches and sends
 * them with the STATUS after the last one, so stage 0 never has to receive while it
 * still sends (which would deadlock on large messages). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "error.h"
#include "sampler.h"

enum { OP_CTX = 1, OP_FREE, OP_KV, OP_UB, OP_END, OP_STATUS };
enum { F_LAST = 1 };
#define MAX_SMP_BYTES (64u << 20) /* packed sampler states of one call: 64 samplers of 1M history */

typedef struct {
    int32_t seq;
    uint32_t bytes;
} smp_rec; /* then `bytes` of saved state */

typedef struct {
    int32_t seq, pad;
    uint64_t rng[4];
} rng_rec;

#define MAX_CTX_IDS 16

typedef struct {
    int32_t op, id, n, flags;
    int32_t status;  /* 0, or the CLLAMA_E_* code of the first stage that failed */
    int32_t a[5];    /* CTX: n_ctx, n_seq_max, n_batch, n_threads; KV: op, a, b, p0, p1; STATUS: rows */
    char msg[216];   /* with a failure: "stage S: message" */
} msg_t;             /* 256 bytes */
_Static_assert(sizeof(msg_t) == 256, "pipe header size");

static int send_to(const cllama_pipe *p, int to, const void *buf, size_t n) {
    return p->send(p->data, to, buf, n) ? cl_err(CLLAMA_E_IO, "pipeline: sending to stage %d failed", to) : 0;
}

static int recv_from(const cllama_pipe *p, int from, void *buf, size_t n) {
    return p->recv(p->data, from, buf, n) ? cl_err(CLLAMA_E_IO, "pipeline: receiving from stage %d failed", from) : 0;
}

/* Marks m failed by this stage with the library's last message (if not failed yet). */
static void fail(msg_t *m, const cllama_pipe *p, int rc) {
    if (m->status) return;
    m->status = rc ? rc : CLLAMA_E_INVALID;
    snprintf(m->msg, sizeof m->msg, "stage %d: %s", p->stage, cllama_last_error());
}

/* ---- stage 0 ---- */

static int next_id;

int cl_pipe_open(cllama_context *c) {
    msg_t m = {.op = OP_CTX, .id = ++next_id, .a = {c->n_ctx, c->n_seq_max, c->n_batch, c->pipe_threads}};
    c->pipe_id = m.id;
    const cllama_pipe *p = &c->pipe;
    int rc = send_to(p, 1, &m, sizeof m);
    if (!rc) rc = recv_from(p, p->n_stages - 1, &m, sizeof m);
    if (!rc && m.status) rc = cl_err(m.status, "%s", m.msg);
    return rc;
}

void cl_pipe_close(cllama_context *c) {
    msg_t m = {.op = OP_FREE, .id = c->pipe_id};
    send_to(&c->pipe, 1, &m, sizeof m);
}

int cl_pipe_kv(cllama_context *c, int op, int a, int b, int p0, int p1) {
    msg_t m = {.op = OP_KV, .id = c->pipe_id, .a = {op, a, b, p0, p1}};
    return send_to(&c->pipe, 1, &m, sizeof m);
}

/* After a call's last UB: its sampler states, straight to the last stage. */
static int send_smp(cllama_context *c) {
    size_t len = c->pipe_smp_len;
    c->pipe_smp_len = 0;
    return len ? send_to(&c->pipe, c->pipe.n_stages - 1, c->pipe_smp, len) : 0;
}

int cl_pipe_send_ub(cllama_context *c, int B, const int32_t *pos, const int32_t *seq, const int32_t *out,
                    const float *x, int last) {
    msg_t m = {.op = OP_UB, .id = c->pipe_id, .n = B, .flags = last ? F_LAST : 0};
    m.a[0] = last ? (int32_t)c->pipe_smp_len : 0;
    const cllama_pipe *p = &c->pipe;
    if (!B) fail(&m, p, CLLAMA_E_ABORTED);
    size_t E = (size_t)c->m->hp.n_embd, need = (size_t)B * (12 + E * sizeof *x);
    int rc = send_to(p, 1, &m, sizeof m);
    if (!rc && !B && last) rc = send_smp(c);
    if (rc || !B) return rc;
    /* one message, as the later stages receive and pass it on */
    if (need > c->pipe_cap) {
        void *nb = realloc(c->pipe_buf, need);
        if (!nb) return cl_err(CLLAMA_E_IO, "pipeline: out of memory for a micro-batch of %d tokens", B);
        c->pipe_buf = nb;
        c->pipe_cap = need;
    }
    char *q = c->pipe_buf;
    memcpy(q, pos, (size_t)B * 4);
    memcpy(q + (size_t)B * 4, seq, (size_t)B * 4);
    memcpy(q + (size_t)B * 8, out, (size_t)B * 4);
    memcpy(q + (size_t)B * 12, x, (size_t)B * E * sizeof *x);
    rc = send_to(p, 1, q, need);
    return !rc && last ? send_smp(c) : rc;
}

int cl_pipe_pack_samplers(cllama_context *c, const int32_t *seq, const int32_t *out, int n) {
    uint64_t packed = 0; /* bit s: sequence s already has its record */
    size_t len = 0;
    c->pipe_smp_len = 0;
    for (int pass = 0; pass < 2; pass++) { /* sizes, then the records */
        packed = 0;
        for (int i = 0; i < n; i++) {
            if (out[i] != CL_PIPE_OUT_TOKEN || (packed >> seq[i] & 1)) continue;
            packed |= 1ull << seq[i];
            const cllama_sampler *smp = c->samplers[seq[i]];
            smp_rec r = {seq[i], (uint32_t)cl_sampler_state_bytes(smp)};
            if (pass) {
                memcpy((char *)c->pipe_smp + c->pipe_smp_len, &r, sizeof r);
                cl_sampler_save(smp, (char *)c->pipe_smp + c->pipe_smp_len + sizeof r);
                c->pipe_smp_len += sizeof r + r.bytes;
            } else {
                len += sizeof r + r.bytes;
            }
        }
        if (pass) break;
        if (len > MAX_SMP_BYTES) return cl_err(CLLAMA_E_RANGE, "pipeline: %zu bytes of sampler state in one call", len);
        if (len > c->pipe_smp_cap) {
            void *nb = realloc(c->pipe_smp, len);
            if (!nb) return cl_err(CLLAMA_E_NOMEM, "out of memory");
            c->pipe_smp = nb;
            c->pipe_smp_cap = len;
        }
    }
    return 0;
}

int cl_pipe_finish(cllama_context *c, float *logits, const int32_t *seq, const int32_t *out, int n) {
    const cllama_pipe *p = &c->pipe;
    int last = p->n_stages - 1, rc = 0;
    msg_t m;
    if ((rc = recv_from(p, last, &m, sizeof m))) return rc;
    if (m.status) return cl_err(m.status, "%s", m.msg);
    int n_logits = 0, n_tok = 0, n_rec = 0;
    uint64_t seqs = 0; /* one rng_rec per sequence with a sampled entry */
    for (int i = 0; i < n; i++) {
        n_logits += out[i] == CL_PIPE_OUT_LOGITS, n_tok += out[i] == CL_PIPE_OUT_TOKEN;
        if (out[i] == CL_PIPE_OUT_TOKEN && !(seqs >> seq[i] & 1)) seqs |= 1ull << seq[i], n_rec++;
    }
    if (m.a[0] != n_logits || m.a[1] != n_tok)
        return cl_err(CLLAMA_E_FORMAT, "pipeline: the last stage returned %d rows of logits and %d tokens, not %d and %d",
                      m.a[0], m.a[1], n_logits, n_tok);
    size_t V = (size_t)c->m->hp.n_vocab;
    if (n_logits && (rc = recv_from(p, last, logits, (size_t)n_logits * V * sizeof *logits))) return rc;
    /* rows arrived in entry order; each goes to its entry's row (never an earlier one) */
    for (int i = n - 1, j = n_logits - 1; i >= 0 && j >= 0; i--)
        if (out[i] == CL_PIPE_OUT_LOGITS) {
            if (c->out_row[i] != j) memmove(logits + (size_t)c->out_row[i] * V, logits + (size_t)j * V, V * sizeof *logits);
            j--;
        }
    if (!n_tok) return 0;
    size_t bytes = (size_t)n_tok * sizeof(int32_t) + (size_t)n_rec * sizeof(rng_rec);
    char *res = malloc(bytes);
    if (!res) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    if (!(rc = recv_from(p, last, res, bytes))) {
        for (int i = 0, k = 0; i < n; i++)
            if (out[i] == CL_PIPE_OUT_TOKEN) memcpy(&c->token[i], res + sizeof(int32_t) * (size_t)k++, sizeof(int32_t));
        for (int k = 0; k < n_rec; k++) {
            rng_rec r;
            memcpy(&r, res + (size_t)n_tok * sizeof(int32_t) + (size_t)k * sizeof r, sizeof r);
            if (r.seq >= 0 && r.seq < c->n_seq_max && c->samplers[r.seq]) cl_sampler_set_rng(c->samplers[r.seq], r.rng);
        }
    }
    free(res);
    for (int i = 0; !rc && i < n; i++)
        if (out[i] == CL_PIPE_OUT_TOKEN && (c->token[i] < 0 || (size_t)c->token[i] >= V))
            rc = cl_err(CLLAMA_E_FORMAT, "pipeline: the last stage sampled token %d of %zu", c->token[i], V);
    return rc;
}

int cllama_pipe_end(const cllama_pipe *p) {
    if (!p || p->stage != 0 || p->n_stages < 2) return cl_err(CLLAMA_E_INVALID, "cllama_pipe_end: not stage 0 of a pipeline");
    msg_t m = {.op = OP_END};
    return send_to(p, 1, &m, sizeof m);
}

/* ---- stages 1 .. n-1 ---- */

typedef struct {
    int id;
    cllama_context *ctx;
    /* the last stage: the current call's output rows, what each is for (CL_PIPE_OUT_*)
     * and its sequence, and its first failure (status 0: none) */
    float *logits;
    int32_t *kind, *seq;
    size_t rows, cap;
    msg_t failed;
    cllama_sampler *smp[CL_MAX_SEQ]; /* stage 0's samplers as last sent, reused */
} served;

static served *find(served *t, int id) {
    for (int i = 0; i < MAX_CTX_IDS; i++)
        if (t[i].ctx && t[i].id == id) return &t[i];
    return NULL;
}

static void drop(served *s) {
    cllama_context_free(s->ctx);
    free(s->logits);
    free(s->kind);
    free(s->seq);
    for (int i = 0; i < CL_MAX_SEQ; i++) cllama_sampler_free(s->smp[i]);
    memset(s, 0, sizeof *s);
}

/* The last stage at the end of a call: samples the CL_PIPE_OUT_TOKEN rows (*n_tok)
 * with the states of blob[0, len) into res (tokens, then one rng_rec per record;
 * *res_len bytes), and moves the CL_PIPE_OUT_LOGITS rows to the front. Returns the
 * number of logits rows, or -1 with the error set. */
static int sample_rows(served *s, int V, const char *blob, size_t len, char **res, size_t *res_len, int *n_tok_out) {
    uint64_t have = 0;
    int n_rec = 0, n_tok = 0, n_logits = 0;
    int32_t order[CL_MAX_SEQ];
    for (size_t o = 0; o < len;) {
        smp_rec r;
        if (len - o < sizeof r) return cl_err(CLLAMA_E_FORMAT, "pipeline: a cut sampler record"), -1;
        memcpy(&r, blob + o, sizeof r);
        o += sizeof r;
        if (r.seq < 0 || r.seq >= CL_MAX_SEQ || (have >> r.seq & 1) || r.bytes > len - o)
            return cl_err(CLLAMA_E_FORMAT, "pipeline: a bad sampler record (sequence %d)", r.seq), -1;
        if (cl_sampler_load(&s->smp[r.seq], blob + o, r.bytes, V)) return -1;
        have |= 1ull << r.seq;
        order[n_rec++] = r.seq;
        o += r.bytes;
    }
    for (size_t i = 0; i < s->rows; i++) n_tok += s->kind[i] == CL_PIPE_OUT_TOKEN;
    *n_tok_out = n_tok;
    *res_len = (size_t)n_tok * sizeof(int32_t) + (size_t)n_rec * sizeof(rng_rec);
    if (!(*res = malloc(*res_len ? *res_len : 1))) return cl_err(CLLAMA_E_NOMEM, "out of memory"), -1;
    for (size_t i = 0, k = 0; i < s->rows; i++) {
        float *row = s->logits + i * (size_t)V;
        if (s->kind[i] == CL_PIPE_OUT_LOGITS) {
            if (i != (size_t)n_logits) memmove(s->logits + (size_t)n_logits * V, row, (size_t)V * sizeof *row);
            n_logits++;
            continue;
        }
        if (!(have >> s->seq[i] & 1)) {
            free(*res);
            return cl_err(CLLAMA_E_FORMAT, "pipeline: no sampler for sequence %d", s->seq[i]), -1;
        }
        int32_t tok = cllama_sampler_sample(s->smp[s->seq[i]], row);
        memcpy(*res + sizeof(int32_t) * k++, &tok, sizeof tok);
    }
    for (int k = 0; k < n_rec; k++) {
        rng_rec r = {.seq = order[k]};
        cl_sampler_get_rng(s->smp[order[k]], r.rng);
        memcpy(*res + (size_t)n_tok * sizeof(int32_t) + (size_t)k * sizeof r, &r, sizeof r);
    }
    return n_logits;
}

/* One micro-batch: m's payload is read (unless m failed upstream), evaluated on s, and
 * passed on; on the last stage its logits are kept and, after the call's last
 * micro-batch, sent to stage 0 with the status. */
static int serve_ub(cllama_model *model, const cllama_pipe *p, served *s, msg_t *m, void **buf, size_t *cap) {
    int last_stage = p->stage == p->n_stages - 1, B = m->n, rc;
    if (B < 0 || B > (1 << 20)) return cl_err(CLLAMA_E_FORMAT, "pipeline: a micro-batch of %d tokens", B);
    size_t E = (size_t)model->hp.n_embd, need = (size_t)B * (12 + E * sizeof(float));
    if (need > *cap) {
        void *nb = realloc(*buf, need);
        if (!nb) return cl_err(CLLAMA_E_NOMEM, "pipeline: out of memory for a micro-batch of %d tokens", B);
        *buf = nb;
        *cap = need;
    }
    int32_t *pos = *buf, *seq = pos + B, *out = seq + B;
    float *x = (float *)(out + B);
    if (!m->status && (rc = recv_from(p, p->stage - 1, *buf, need))) return rc;
    if (!m->status && !s) {
        cl_err(CLLAMA_E_INVALID, "pipeline: no context %d on this stage", m->id);
        fail(m, p, CLLAMA_E_INVALID);
    }
    for (int i = 0; !m->status && i < B; i++)
        if (out[i] < CL_PIPE_OUT_NONE || out[i] > CL_PIPE_OUT_TOKEN) {
            cl_err(CLLAMA_E_FORMAT, "pipeline: entry %d asks for output %d", i, out[i]);
            fail(m, p, CLLAMA_E_FORMAT);
        }
    if (!m->status) {
        /* every row's hidden state goes on, only the output rows' logits come back */
        int8_t *keep = malloc((size_t)B);
        if (!keep) {
            cl_err(CLLAMA_E_NOMEM, "out of memory");
            fail(m, p, CLLAMA_E_NOMEM);
        } else {
            for (int i = 0; i < B; i++) keep[i] = last_stage ? out[i] != 0 : 1;
            cllama_batch b = {.n_tokens = B, .embd = x, .pos = pos, .seq_id = seq, .output = keep};
            if ((rc = cllama_decode(s->ctx, &b))) fail(m, p, rc);
            free(keep);
        }
    }
    if (!m->status && last_stage) {
        int n_out = 0;
        for (int i = 0; i < B; i++) n_out += out[i] != CL_PIPE_OUT_NONE;
        size_t V = (size_t)model->hp.n_vocab;
        if (s->rows + n_out > s->cap) {
            size_t nc = (s->rows + n_out) * 2;
            float *nl = realloc(s->logits, nc * V * sizeof *nl);
            int32_t *nk = nl ? realloc(s->kind, nc * sizeof *nk) : NULL, *ns = nk ? realloc(s->seq, nc * sizeof *ns) : NULL;
            if (nl) s->logits = nl;
            if (nk) s->kind = nk;
            if (!ns) {
                cl_err(CLLAMA_E_NOMEM, "pipeline: out of memory for %zu rows of logits", s->rows + n_out);
                fail(m, p, CLLAMA_E_NOMEM);
            } else {
                s->seq = ns;
                s->cap = nc;
            }
        }
        for (int i = 0, r = 0; !m->status && i < B; i++) {
            if (out[i] == CL_PIPE_OUT_NONE) continue;
            memcpy(s->logits + (s->rows + r) * V, cllama_get_logits(s->ctx, i), V * sizeof(float));
            s->kind[s->rows + r] = out[i];
            s->seq[s->rows + r++] = seq[i];
        }
        if (!m->status) s->rows += n_out;
    }
    if (!last_stage) {
        if (!m->status)
            for (int i = 0; i < B; i++) memcpy(x + (size_t)i * E, cllama_get_embeddings(s->ctx, i), E * sizeof(float));
        if ((rc = send_to(p, p->stage + 1, m, sizeof *m))) return rc;
        return m->status ? 0 : send_to(p, p->stage + 1, *buf, need);
    }
    if (s && m->status && !s->failed.status) s->failed = *m;
    if (!(m->flags & F_LAST)) return 0;
    /* the end of the call: stage 0's sampler states (sent whatever happened upstream),
     * then the status, the logits rows and the sampled tokens to stage 0 */
    size_t blen = m->a[0] > 0 ? (size_t)m->a[0] : 0;
    if (blen > MAX_SMP_BYTES) return cl_err(CLLAMA_E_FORMAT, "pipeline: %zu bytes of sampler state announced", blen);
    char *blob = blen ? malloc(blen) : NULL, *res = NULL;
    if (blen && !blob) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    if (blen && (rc = recv_from(p, 0, blob, blen))) {
        free(blob);
        return rc;
    }
    msg_t r = {.op = OP_STATUS, .id = m->id, .status = m->status};
    memcpy(r.msg, m->msg, sizeof r.msg);
    if (s && s->failed.status) {
        r.status = s->failed.status;
        memcpy(r.msg, s->failed.msg, sizeof r.msg);
    }
    size_t res_len = 0;
    int n_logits = 0, n_tok = 0;
    if (s && !r.status) {
        if ((n_logits = sample_rows(s, model->hp.n_vocab, blob, blen, &res, &res_len, &n_tok)) < 0) {
            fail(&r, p, CLLAMA_E_FORMAT);
            n_logits = n_tok = 0;
        }
    }
    free(blob);
    r.a[0] = n_logits;
    r.a[1] = n_tok;
    if (s) {
        s->rows = 0;
        s->failed.status = 0;
    }
    if (!(rc = send_to(p, 0, &r, sizeof r)) && !r.status) {
        if (n_logits) rc = send_to(p, 0, s->logits, (size_t)n_logits * model->hp.n_vocab * sizeof(float));
        if (!rc && n_tok) rc = send_to(p, 0, res, res_len);
    }
    free(res);
    return rc;
}

int cllama_pipe_serve(cllama_model *model, const cllama_pipe *p, int n_threads) {
    if (!model || !p || p->stage < 1 || p->stage >= p->n_stages)
        return cl_err(CLLAMA_E_INVALID, "cllama_pipe_serve: a model and a stage 1..n-1 of a pipeline are needed");
    served tab[MAX_CTX_IDS];
    memset(tab, 0, sizeof tab);
    void *buf = NULL;
    size_t cap = 0;
    int last_stage = p->stage == p->n_stages - 1, rc = 0;
    for (;;) {
        msg_t m;
        if ((rc = recv_from(p, p->stage - 1, &m, sizeof m))) break;
        served *s = find(tab, m.id);
        if (m.op == OP_END) {
            if (!last_stage) rc = send_to(p, p->stage + 1, &m, sizeof m);
            break;
        } else if (m.op == OP_CTX) {
            if (s) drop(s);
            if (!m.status) {
                served *slot = NULL;
                for (int i = 0; i < MAX_CTX_IDS && !slot; i++)
                    if (!tab[i].ctx) slot = &tab[i];
                cllama_context_params cp = cllama_context_default_params();
                cp.n_ctx = m.a[0];
                cp.n_seq_max = m.a[1];
                cp.n_batch = m.a[2];
                cp.n_threads = n_threads ? n_threads : m.a[3]; /* this stage's own, else stage 0's -t */
                if (!slot) {
                    cl_err(CLLAMA_E_RANGE, "pipeline: more than %d contexts at once", MAX_CTX_IDS);
                    fail(&m, p, CLLAMA_E_RANGE);
                } else if ((rc = cllama_context_init(model, &cp, &slot->ctx))) {
                    fail(&m, p, rc);
                } else {
                    slot->id = m.id;
                    slot->ctx->progress = p->progress, slot->ctx->progress_data = p->data;
                }
                rc = 0;
            }
            if (last_stage) m.op = OP_STATUS;
            if ((rc = send_to(p, last_stage ? 0 : p->stage + 1, &m, sizeof m))) break;
        } else if (m.op == OP_FREE || m.op == OP_KV) {
            if (s && m.op == OP_FREE) drop(s);
            else if (s && m.a[0] == CL_PIPE_KV_RM) cllama_kv_seq_rm(s->ctx, m.a[1], m.a[3], m.a[4]);
            else if (s && m.a[0] == CL_PIPE_KV_CP) cllama_kv_seq_cp(s->ctx, m.a[1], m.a[2], m.a[3], m.a[4]);
            else if (s && m.a[0] == CL_PIPE_KV_CLEAR) cllama_kv_clear(s->ctx);
            if (!last_stage && (rc = send_to(p, p->stage + 1, &m, sizeof m))) break;
        } else if (m.op == OP_UB) {
            if ((rc = serve_ub(model, p, s, &m, &buf, &cap))) break;
        } else {
            rc = cl_err(CLLAMA_E_FORMAT, "pipeline: unknown request %d from stage %d", m.op, p->stage - 1);
            break;
        }
    }
    for (int i = 0; i < MAX_CTX_IDS; i++)
        if (tab[i].ctx) drop(&tab[i]);
    free(buf);
    return rc;
}
