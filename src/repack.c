#include "repack.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "error.h"
#include "kernels/kernels.h"
#include "quant/interleave.h"
#include "threads.h"

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    int type;
    int64_t n;        /* values per row */
    int64_t groups;   /* row groups of 8 */
    size_t row_bytes;
} pack_job;

static void pack_task(void *arg, int ith, int nth) {
    const pack_job *j = arg;
    int64_t lo, hi;
    cl_split(j->groups, ith, nth, 1, &lo, &hi);
    for (int64_t g = lo; g < hi; g++) {
        size_t off = (size_t)g * 8 * j->row_bytes;
        cl_interleave8(j->type, j->src + off, j->row_bytes, j->dst + off, j->n);
    }
}

void cl_repack_tensor(cl_pool *pool, const cl_tensor *t, void *dst) {
    pack_job j = {t->data, dst, t->type, t->ne[0], t->ne[1] / 8, t->row_bytes};
    cl_pool_run(pool, pack_task, &j);
}

/* token_embd stays as stored (embedding lookups read its rows), and so does the output
 * when it is tied to it. */
static int packable(const cllama_model *m, const cl_kernels *k, const cl_tensor *t) {
    return t->data != m->g[CL_TOK_EMBD].data && k->gemm8x[t->type] && cl_interleave_supported(t->type) &&
           t->ne[1] % 8 == 0 && !t->keep_rows;
}

/* Every loaded tensor the architecture's table marks as repackable, in table order
 * (model-wide, then layer by layer). Returns the count; list holds at most
 * CL_N_TENSOR_IDS * (n_layer + 1) entries. */
static int collect(cllama_model *m, cl_tensor **list) {
    const cl_arch *a = m->arch;
    int n = 0;
    for (int i = 0; i < a->n_tensors; i++) {
        const cl_tensor_desc *t = &a->tensors[i];
        if (!(t->flags & CL_T_REPACK)) continue;
        if (!cl_tensor_per_layer(t)) {
            if (m->g[t->id].data) list[n++] = &m->g[t->id];
            continue;
        }
        for (int l = m->layer_begin; l < m->layer_end; l++)
            if (m->layers[l].w[t->id].data) list[n++] = &m->layers[l].w[t->id];
    }
    return n;
}

int cl_repack_model(cllama_model *m, cl_pool *shared) {
    const cl_kernels *k = m->kern;
    cl_tensor **list = malloc(sizeof *list * (size_t)CL_N_TENSOR_IDS * (size_t)(m->hp.n_layer + 1));
    if (!list) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    int n = collect(m, list);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (packable(m, k, list[i])) total += list[i]->row_bytes * (size_t)list[i]->ne[1];
    int rc = 0;
    if (!total) goto done;
    /* Anonymous memory asked for in huge pages: a 7B model is a million 4 KiB faults
     * otherwise, which would dominate the load time. */
    void *buf = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        rc = cl_err(CLLAMA_E_NOMEM, "out of memory interleaving %zu bytes of weights", total);
        goto done;
    }
    madvise(buf, total, MADV_HUGEPAGE);
    cl_pool *pool = shared;
    if (!pool && (rc = cl_pool_init(cl_default_threads(), &pool))) {
        munmap(buf, total);
        goto done;
    }
    uint8_t *dst = buf;
    for (int i = 0; i < n; i++) {
        cl_tensor *t = list[i];
        if (!packable(m, k, t)) continue;
        size_t bytes = t->row_bytes * (size_t)t->ne[1];
        cl_repack_tensor(pool, t, dst);
        cl_gguf_drop(m->gguf, t->data, bytes);
        t->data = dst;
        t->packed = 1;
        dst += bytes;
    }
    if (pool != shared) cl_pool_free(pool);
    m->packed = buf;
    m->packed_bytes = total;
done:
    free(list);
    return rc;
}

void cl_repack_free(cllama_model *m) {
    if (m->packed) munmap(m->packed, m->packed_bytes);
    m->packed = NULL;
}
