/* Pipeline stages: one model's layers across processes (see cllama.h). Stage 0's
 * context sends requests down the chain 0 -> 1 -> ... -> n-1; every stage acts on a
 * request and passes it on; the last stage answers stage 0 directly. Requests:
 *
 *   CTX    create context `id` (n_ctx, n_seq_max, n_batch, threads) answered: STATUS
 *   FREE   free context `id`                                       not answered
 *   KV     rm / cp / clear on context `id`                         not answered
 *   UB     one micro-batch: header, then pos[B], seq[B], out[B]    answered after the
 *          (int32) and hidden states [B][E] (float32), unless      call's last one:
 *          the header carries a failure                            STATUS + logits
 *   END    serve returns                                           not answered
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

enum { OP_CTX = 1, OP_FREE, OP_KV, OP_UB, OP_END, OP_STATUS };
enum { F_LAST = 1 };

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

int cl_pipe_send_ub(cllama_context *c, int B, const int32_t *pos, const int32_t *seq, const int32_t *out,
                    const float *x, int last) {
    msg_t m = {.op = OP_UB, .id = c->pipe_id, .n = B, .flags = last ? F_LAST : 0};
    const cllama_pipe *p = &c->pipe;
    if (!B) fail(&m, p, CLLAMA_E_ABORTED);
    size_t E = (size_t)c->m->hp.n_embd, need = (size_t)B * (12 + E * sizeof *x);
    int rc = send_to(p, 1, &m, sizeof m);
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
    return send_to(p, 1, q, need);
}

int cl_pipe_finish(cllama_context *c, float *logits, int n_out) {
    const cllama_pipe *p = &c->pipe;
    msg_t m;
    int rc = recv_from(p, p->n_stages - 1, &m, sizeof m);
    if (rc) return rc;
    if (m.status) return cl_err(m.status, "%s", m.msg);
    if (m.a[0] != n_out)
        return cl_err(CLLAMA_E_FORMAT, "pipeline: the last stage returned %d rows of logits, not %d", m.a[0], n_out);
    return n_out ? recv_from(p, p->n_stages - 1, logits, (size_t)n_out * c->m->hp.n_vocab * sizeof *logits) : 0;
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
    float *logits;      /* the last stage: rows of the current call */
    size_t rows, cap;
    msg_t failed;       /* the last stage: the current call's first failure (status 0: none) */
} served;

static served *find(served *t, int id) {
    for (int i = 0; i < MAX_CTX_IDS; i++)
        if (t[i].ctx && t[i].id == id) return &t[i];
    return NULL;
}

static void drop(served *s) {
    cllama_context_free(s->ctx);
    free(s->logits);
    memset(s, 0, sizeof *s);
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
        for (int i = 0; i < B; i++) n_out += out[i] != 0;
        size_t V = (size_t)model->hp.n_vocab;
        if (s->rows + n_out > s->cap) {
            size_t nc = (s->rows + n_out) * 2;
            float *nl = realloc(s->logits, nc * V * sizeof *nl);
            if (!nl) {
                cl_err(CLLAMA_E_NOMEM, "pipeline: out of memory for %zu rows of logits", s->rows + n_out);
                fail(m, p, CLLAMA_E_NOMEM);
            } else {
                s->logits = nl;
                s->cap = nc;
            }
        }
        for (int i = 0, r = 0; !m->status && i < B; i++)
            if (out[i]) memcpy(s->logits + (s->rows + r++) * V, cllama_get_logits(s->ctx, i), V * sizeof(float));
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
    /* the end of the call: status and every output row to stage 0 */
    msg_t r = {.op = OP_STATUS, .id = m->id, .status = m->status};
    memcpy(r.msg, m->msg, sizeof r.msg);
    if (s && s->failed.status) {
        r.status = s->failed.status;
        memcpy(r.msg, s->failed.msg, sizeof r.msg);
    }
    size_t rows = s && !r.status ? s->rows : 0;
    r.a[0] = (int32_t)rows;
    if (s) {
        s->rows = 0;
        s->failed.status = 0;
    }
    if ((rc = send_to(p, 0, &r, sizeof r))) return rc;
    return r.status || !rows ? 0 : send_to(p, 0, s->logits, rows * model->hp.n_vocab * sizeof(float));
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
