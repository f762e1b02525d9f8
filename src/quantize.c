/* Model quantization (cllama_quantize_*): a GGUF file into another file type, tensor
 * by tensor. Each tensor's type comes from the recipe (recipe.c); its rows are
 * dequantized to F32 and quantized by the scalar reference quantizers (quant/), rows
 * split over the thread pool. The output's header is known before any data (sizes
 * follow from the types), so a file is written header first, then each tensor at its
 * offset: peak memory is one tensor as F32 plus its output. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cllama.h"
#include "error.h"
#include "gguf.h"
#include "gguf_write.h"
#include "quant/quant.h"
#include "recipe.h"
#include "threads.h"

cllama_quantize_params cllama_quantize_default_params(void) {
    cllama_quantize_params p;
    memset(&p, 0, sizeof p);
    p.type = "Q4_K_M";
    return p;
}

const char *cllama_quantize_types(void) { return cl_ftype_list(); }

void cllama_quantize_free(void *buf, size_t size) { cl_gw_buffer_free(buf, size); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A weight type by name ("Q8_0", "f16"), or -1. */
static int type_by_name(const char *name) {
    for (int t = 0; t < CL_TYPE_COUNT; t++) {
        const char *n = cl_type_info(t) ? cl_type_name(t) : NULL;
        if (n && !strcasecmp(n, name)) return t;
    }
    return -1;
}

static int is_float_type(int t) { return t == CL_TYPE_F32 || t == CL_TYPE_F16 || t == CL_TYPE_BF16; }

/* ---- the plan: every tensor's output type ---- */

typedef struct {
    cl_gguf_writer *w;
    int *order;     /* output tensor k is input tensor order[k] */
    int *out_type;  /* per output tensor */
    int *fallback;
    int n;
} plan;

/* llama.cpp's tensor order (its loader's weight map): by layer number (tensors outside
 * the layers first), then by name. The recipe counts attn_v and ffn_down tensors in
 * this order and the output is written in it, as llama-quantize writes. */
static int tensor_layer(cl_str name) {
    char buf[32];
    int layer = -1;
    snprintf(buf, sizeof buf, "%.*s", (int)(name.len < 31 ? name.len : 31), name.ptr);
    sscanf(buf, "blk.%d.", &layer);
    return layer;
}

static const cl_gguf *sort_g;
static int cmp_tensor(const void *pa, const void *pb) {
    const cl_gguf_tensor *a = cl_gguf_tensor_at(sort_g, *(const int *)pa), *b = cl_gguf_tensor_at(sort_g, *(const int *)pb);
    int la = tensor_layer(a->name), lb = tensor_layer(b->name);
    if (la != lb) return la < lb ? -1 : 1;
    size_t n = a->name.len < b->name.len ? a->name.len : b->name.len;
    int c = memcmp(a->name.ptr, b->name.ptr, n);
    return c ? c : (a->name.len > b->name.len) - (a->name.len < b->name.len);
}

static uint32_t kv_u32(const cl_gguf *g, const char *arch, const char *suffix) {
    char key[128];
    uint32_t v = 0;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    cl_gguf_get_u32(g, key, &v);
    return v;
}

/* Keys not carried over: set anew (file type, quantization version), the input's
 * split, and an alignment other than the 32 the writer uses (llama-quantize keeps the
 * key in place and writes at 32 whatever it says; a key of 32 stays, as there). */
static int skipped_key(const cl_gguf_kv *kv) {
    cl_str k = kv->key;
    if (cl_str_eq(k, "general.alignment"))
        return !(kv->type == CL_GGUF_U32 && kv->size == 4 && kv->data[0] == 32 && !kv->data[1] && !kv->data[2] &&
                 !kv->data[3]);
    return cl_str_eq(k, "general.file_type") || cl_str_eq(k, "general.quantization_version") ||
           (k.len >= 6 && !memcmp(k.ptr, "split.", 6));
}

static int make_plan(const cl_gguf *g, const cllama_quantize_params *p, const cl_ftype *ft, plan *pl) {
    int n = (int)cl_gguf_n_tensors(g);
    pl->n = n;
    pl->w = cl_gw_new();
    pl->order = calloc((size_t)(n ? n : 1), sizeof *pl->order);
    pl->out_type = calloc((size_t)(n ? n : 1), sizeof *pl->out_type);
    pl->fallback = calloc((size_t)(n ? n : 1), sizeof *pl->fallback);
    if (!pl->w || !pl->order || !pl->out_type || !pl->fallback) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) pl->order[i] = i;
    sort_g = g; /* qsort has no context argument; plans are made one at a time */
    qsort(pl->order, (size_t)n, sizeof *pl->order, cmp_tensor);

    /* metadata: every key in order, then the quantization version and the file type
     * (moved to the end when present, as llama-quantize's gguf_set_val does) */
    for (uint64_t i = 0; i < cl_gguf_n_kv(g); i++) {
        const cl_gguf_kv *kv = cl_gguf_kv_at(g, i);
        char key[512];
        if (kv->key.len >= sizeof key) return cl_err(CLLAMA_E_FORMAT, "metadata key too long");
        memcpy(key, kv->key.ptr, kv->key.len);
        key[kv->key.len] = 0;
        if (!skipped_key(kv) && cl_gw_raw(pl->w, key, kv->type, kv->arr_type, kv->arr_n, kv->data, kv->size))
            return cl_err(CLLAMA_E_NOMEM, "out of memory");
    }
    if (cl_gw_u32(pl->w, "general.quantization_version", 2) || cl_gw_u32(pl->w, "general.file_type", ft->ftype))
        return cl_err(CLLAMA_E_NOMEM, "out of memory");

    /* the recipe's view of the model */
    cl_str arch_s;
    char arch[64] = "llama";
    if (cl_gguf_get_str(g, "general.architecture", &arch_s) == 1 && arch_s.len < sizeof arch) {
        memcpy(arch, arch_s.ptr, arch_s.len);
        arch[arch_s.len] = 0;
    }
    cl_recipe r = {ft, (int)kv_u32(g, arch, "block_count"), (int)kv_u32(g, arch, "attention.head_count"),
                   (int)kv_u32(g, arch, "attention.head_count_kv"), 0, 0, !cl_gguf_find_tensor(g, "output.weight"),
                   p->pure, -1, -1};
    if (!r.n_head_kv) r.n_head_kv = r.n_head;
    r.is_70b = !strcmp(arch, "llama") && r.n_layer == 80 && r.n_head != r.n_head_kv;
    if (p->output_tensor_type && (r.output_type = type_by_name(p->output_tensor_type)) < 0)
        return cl_err(CLLAMA_E_INVALID, "unknown weight type '%s' for the output tensor", p->output_tensor_type);
    if (p->token_embedding_type && (r.embd_type = type_by_name(p->token_embedding_type)) < 0)
        return cl_err(CLLAMA_E_INVALID, "unknown weight type '%s' for the token embedding", p->token_embedding_type);
    char name[512];
    for (int i = 0; i < n; i++) {
        const cl_gguf_tensor *t = cl_gguf_tensor_at(g, i);
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight")) r.n_attn_v++;
    }
    cl_recipe_state st = {0, 0};
    for (int i = 0; i < n; i++) {
        const cl_gguf_tensor *t = cl_gguf_tensor_at(g, pl->order[i]);
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        int type = cl_recipe_type(&r, &st, name, t->n_dims, t->ne[0], &pl->fallback[i]);
        if (type < 0) type = t->type; /* never quantized: kept as it is */
        if (type != t->type && !is_float_type(t->type) && !p->allow_requantize)
            return cl_err(CLLAMA_E_INVALID, "%s is %s already: requantizing loses quality twice (allow it with "
                          "--allow-requantize)", name, cl_type_name(t->type));
        const cl_type_traits *tt = cl_type_info(type);
        if (!tt || t->ne[0] % tt->block_size)
            return cl_err(CLLAMA_E_INVALID, "%s: rows of %lld values cannot be %s (blocks of %d)", name,
                          (long long)t->ne[0], cl_type_name(type), tt ? tt->block_size : 0);
        pl->out_type[i] = type;
        if (cl_gw_tensor(pl->w, name, type, t->n_dims, t->ne) < 0)
            return cl_err(CLLAMA_E_NOMEM, "out of memory declaring %s", name);
    }
    return 0;
}

static void plan_free(plan *pl) {
    cl_gw_free(pl->w);
    free(pl->order);
    free(pl->out_type);
    free(pl->fallback);
}

/* ---- one tensor ---- */

typedef struct {
    const cl_gguf_tensor *t;
    int type_in, type_out;
    int64_t ne0, nrows;
    uint8_t *out;
    int64_t *bad; /* per thread: its first row holding a NaN or infinity, -1 none, -2 out of memory */
} tensor_job;

/* Rows [r0, r1) of the job: dequantize, check, quantize. Returns the first bad row or -1. */
static int64_t convert_rows(tensor_job *j, int64_t r0, int64_t r1, float *scratch) {
    size_t in_row = cl_row_size(j->type_in, j->ne0), out_row = cl_row_size(j->type_out, j->ne0);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *src = (const uint8_t *)j->t->data + (size_t)r * in_row;
        cl_dequantize_row(j->type_in, src, scratch, j->ne0);
        for (int64_t k = 0; k < j->ne0; k++)
            if (!isfinite(scratch[k])) return r;
        cl_quantize_row(j->type_out, scratch, j->out + (size_t)r * out_row, j->ne0);
    }
    return -1;
}

/* Thread ith of nth converts its contiguous share of the rows. */
static void convert_task(void *arg, int ith, int nth) {
    tensor_job *j = arg;
    int64_t per = (j->nrows + nth - 1) / nth, r0 = per * ith, r1 = r0 + per < j->nrows ? r0 + per : j->nrows;
    j->bad[ith] = -1;
    if (r0 >= r1) return;
    float *scratch = malloc((size_t)j->ne0 * sizeof *scratch);
    if (!scratch) {
        j->bad[ith] = -2;
        return;
    }
    j->bad[ith] = convert_rows(j, r0, r1, scratch);
    free(scratch);
}

/* Writes tensor i's output bytes into out (its size from the plan). */
static int convert_tensor(cl_pool *pool, const cl_gguf_tensor *t, int type_out, uint8_t *out, size_t out_bytes) {
    if (t->type == type_out) { /* already the type: as it is */
        memcpy(out, t->data, out_bytes);
        return 0;
    }
    char name[512];
    snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
    int64_t nrows = 1;
    for (int d = 1; d < t->n_dims; d++) nrows *= t->ne[d];
    int nth = cl_pool_size(pool);
    int64_t bad[nth];
    tensor_job j = {t, t->type, type_out, t->ne[0], nrows, out, bad};
    cl_pool_run(pool, convert_task, &j);
    int64_t first = -1;
    for (int i = 0; i < nth; i++) {
        if (bad[i] == -2) return cl_err(CLLAMA_E_NOMEM, "out of memory converting %s", name);
        if (bad[i] >= 0 && first < 0) first = bad[i]; /* shares are in row order */
    }
    if (first >= 0)
        return cl_err(CLLAMA_E_FORMAT, "%s: row %lld holds a NaN or an infinite value: not a model to quantize",
                      name, (long long)first);
    return 0;
}

static void report(const cllama_quantize_params *p, const cl_gguf_tensor *t, int i, int n, int type_out,
                   size_t bytes_out, int fallback) {
    if (!p->progress) return;
    char name[512];
    snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
    cllama_quantize_progress pr = {name, i, n, t->n_dims, {t->ne[0], t->ne[1], t->ne[2], t->ne[3]},
                                   cl_type_name(t->type), cl_type_name(type_out), t->nbytes, bytes_out, fallback,
                                   t->type == type_out};
    p->progress(&pr, p->progress_data);
}

/* ---- the drivers ---- */

typedef struct {
    cl_gguf *g;
    const cl_ftype *ft;
    plan pl;
    cl_pool *pool;
    double t0;
} run;

static int run_begin(run *r, const char *in_path, const void *in_buf, size_t in_size, const cllama_quantize_params *p) {
    memset(r, 0, sizeof *r);
    r->t0 = now_s();
    if (!p || !p->type) return cl_err(CLLAMA_E_INVALID, "no file type given");
    r->ft = cl_ftype_find(p->type);
    if (!r->ft || r->ft->base < 0)
        return cl_err(CLLAMA_E_INVALID, "cannot make file type '%s' (cllama makes: %s)", p->type, cl_ftype_list());
    int rc = in_path ? cl_gguf_open(in_path, &r->g) : cl_gguf_open_memory(in_buf, in_size, &r->g);
    if (rc) return rc;
    if ((rc = make_plan(r->g, p, r->ft, &r->pl))) return rc;
    return cl_pool_init(p->n_threads > 0 ? p->n_threads : cl_default_threads(), &r->pool);
}

static void run_end(run *r, int rc, cllama_quantize_stats *stats) {
    if (stats && !rc) {
        memset(stats, 0, sizeof *stats);
        stats->n_tensors = r->pl.n;
        for (int i = 0; i < r->pl.n; i++) {
            const cl_gguf_tensor *t = cl_gguf_tensor_at(r->g, r->pl.order[i]);
            size_t nb;
            cl_gw_tensor_offset(r->pl.w, i, &nb);
            uint64_t ne = 1;
            for (int d = 0; d < t->n_dims; d++) ne *= (uint64_t)t->ne[d];
            stats->n_params += ne;
            stats->bytes_in += t->nbytes;
            stats->bytes_out += nb;
            stats->n_quantized += t->type != r->pl.out_type[i];
            stats->n_fallback += r->pl.fallback[i];
        }
        stats->seconds = now_s() - r->t0;
    }
    cl_pool_free(r->pool);
    plan_free(&r->pl);
    cl_gguf_close(r->g);
}

int cllama_quantize_buffer(const char *in_path, const void *in_buf, size_t in_size, const cllama_quantize_params *p,
                           void **out, size_t *out_size, cllama_quantize_stats *stats) {
    *out = NULL;
    *out_size = 0;
    run r;
    uint8_t *buf = NULL;
    size_t size = 0;
    int rc = run_begin(&r, in_path, in_buf, in_size, p);
    if (!rc && cl_gw_layout(r.pl.w, &buf, &size)) rc = cl_err(CLLAMA_E_NOMEM, "out of memory for the output image");
    for (int i = 0; !rc && i < r.pl.n; i++) {
        const cl_gguf_tensor *t = cl_gguf_tensor_at(r.g, r.pl.order[i]);
        size_t nb;
        uint64_t off = cl_gw_tensor_offset(r.pl.w, i, &nb);
        rc = convert_tensor(r.pool, t, r.pl.out_type[i], buf + off, nb);
        cl_gguf_drop(r.g, t->data, t->nbytes);
        if (!rc) report(p, t, i, r.pl.n, r.pl.out_type[i], nb, r.pl.fallback[i]);
    }
    run_end(&r, rc, stats);
    if (rc) {
        cl_gw_buffer_free(buf, size);
        return rc;
    }
    *out = buf;
    *out_size = size;
    return 0;
}

/* Writes all n bytes at off. */
static int write_at(int fd, const void *p, size_t n, uint64_t off) {
    const uint8_t *b = p;
    while (n) {
        ssize_t k = pwrite(fd, b, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

int cllama_quantize_file(const char *in_path, const char *out_path, const cllama_quantize_params *p,
                         cllama_quantize_stats *stats) {
    if (!in_path || !out_path) return cl_err(CLLAMA_E_INVALID, "no input or output path");
    run r;
    int rc = run_begin(&r, in_path, NULL, 0, p), fd = -1;
    uint8_t *head = NULL, *tbuf = NULL;
    size_t head_len, total, tcap = 0;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.part", out_path);
    struct stat si, so;
    /* the same file under another name (./m.gguf, a link): the rename would replace it */
    if (!rc && !stat(in_path, &si) && !stat(out_path, &so) && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        rc = cl_err(CLLAMA_E_INVALID, "%s is the input file: the output would overwrite it", out_path);
    if (!rc && cl_gw_header(r.pl.w, &head, &head_len, &total)) rc = cl_err(CLLAMA_E_NOMEM, "out of memory");
    if (!rc && (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
        rc = cl_err(CLLAMA_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (!rc && write_at(fd, head, head_len, 0)) rc = cl_err(CLLAMA_E_IO, "writing %s: %s", tmp, strerror(errno));
    for (int i = 0; !rc && i < r.pl.n; i++) {
        const cl_gguf_tensor *t = cl_gguf_tensor_at(r.g, r.pl.order[i]);
        size_t nb;
        uint64_t off = cl_gw_tensor_offset(r.pl.w, i, &nb);
        if (nb > tcap) {
            free(tbuf);
            tcap = nb;
            if (!(tbuf = malloc(tcap))) {
                rc = cl_err(CLLAMA_E_NOMEM, "out of memory (%zu bytes for one tensor)", nb);
                break;
            }
        }
        rc = convert_tensor(r.pool, t, r.pl.out_type[i], tbuf, nb);
        if (!rc && write_at(fd, tbuf, nb, off)) rc = cl_err(CLLAMA_E_IO, "writing %s: %s", tmp, strerror(errno));
        cl_gguf_drop(r.g, t->data, t->nbytes);
        if (!rc) report(p, t, i, r.pl.n, r.pl.out_type[i], nb, r.pl.fallback[i]);
    }
    /* the padding after the last tensor: the file ends where the layout says */
    if (!rc && ftruncate(fd, (off_t)total)) rc = cl_err(CLLAMA_E_IO, "writing %s: %s", tmp, strerror(errno));
    if (fd >= 0 && close(fd) && !rc) rc = cl_err(CLLAMA_E_IO, "writing %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, out_path)) rc = cl_err(CLLAMA_E_IO, "cannot write %s: %s", out_path, strerror(errno));
    if (rc && fd >= 0) unlink(tmp);
    free(head);
    free(tbuf);
    run_end(&r, rc, stats);
    return rc;
}
