#include "gguf_write.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gguf.h"
#include "quant/quant.h"

#define ALIGN 32

typedef struct {
    char *name;
    int type;
    int n_dims;
    int64_t ne[CL_GGUF_MAX_DIMS];
    uint64_t offset; /* in the data section */
    uint64_t nbytes;
} wtensor;

struct cl_gguf_writer {
    uint8_t *meta; /* serialized key/value pairs */
    size_t meta_len, meta_cap;
    uint64_t n_kv;
    wtensor *t;
    int n_t, cap_t;
    uint64_t data_len;
    size_t data_start; /* set by cl_gw_layout */
};

cl_gguf_writer *cl_gw_new(void) { return calloc(1, sizeof(cl_gguf_writer)); }

void cl_gw_free(cl_gguf_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w->meta);
    free(w);
}

static int put(cl_gguf_writer *w, const void *p, size_t n) {
    if (w->meta_len + n > w->meta_cap) {
        size_t cap = w->meta_cap ? w->meta_cap : 4096;
        while (cap < w->meta_len + n) cap *= 2;
        uint8_t *m = realloc(w->meta, cap);
        if (!m) return -1;
        w->meta = m;
        w->meta_cap = cap;
    }
    memcpy(w->meta + w->meta_len, p, n);
    w->meta_len += n;
    return 0;
}

static int put_u32(cl_gguf_writer *w, uint32_t v) { return put(w, &v, 4); }
static int put_u64(cl_gguf_writer *w, uint64_t v) { return put(w, &v, 8); }
static int put_str(cl_gguf_writer *w, const char *s) {
    uint64_t n = strlen(s);
    return put_u64(w, n) || put(w, s, n);
}
static int put_key(cl_gguf_writer *w, const char *key, uint32_t type) {
    w->n_kv++;
    return put_str(w, key) || put_u32(w, type);
}

int cl_gw_str(cl_gguf_writer *w, const char *key, const char *val) {
    return put_key(w, key, CL_GGUF_STRING) || put_str(w, val) ? -1 : 0;
}
int cl_gw_u32(cl_gguf_writer *w, const char *key, uint32_t val) {
    return put_key(w, key, CL_GGUF_U32) || put_u32(w, val) ? -1 : 0;
}
int cl_gw_f32(cl_gguf_writer *w, const char *key, float val) {
    return put_key(w, key, CL_GGUF_F32) || put(w, &val, 4) ? -1 : 0;
}
int cl_gw_bool(cl_gguf_writer *w, const char *key, int val) {
    uint8_t b = val != 0;
    return put_key(w, key, CL_GGUF_BOOL) || put(w, &b, 1) ? -1 : 0;
}
int cl_gw_arr_str(cl_gguf_writer *w, const char *key, const char *const *vals, uint64_t n) {
    if (put_key(w, key, CL_GGUF_ARRAY) || put_u32(w, CL_GGUF_STRING) || put_u64(w, n)) return -1;
    for (uint64_t i = 0; i < n; i++)
        if (put_str(w, vals[i])) return -1;
    return 0;
}
int cl_gw_arr_f32(cl_gguf_writer *w, const char *key, const float *vals, uint64_t n) {
    return put_key(w, key, CL_GGUF_ARRAY) || put_u32(w, CL_GGUF_F32) || put_u64(w, n) || put(w, vals, n * 4) ? -1 : 0;
}
int cl_gw_arr_i32(cl_gguf_writer *w, const char *key, const int32_t *vals, uint64_t n) {
    return put_key(w, key, CL_GGUF_ARRAY) || put_u32(w, CL_GGUF_I32) || put_u64(w, n) || put(w, vals, n * 4) ? -1 : 0;
}

int cl_gw_tensor(cl_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne) {
    const cl_type_traits *tt = cl_type_info(type);
    if (!tt || n_dims < 1 || n_dims > CL_GGUF_MAX_DIMS || ne[0] % tt->block_size) return -1;
    if (w->n_t == w->cap_t) {
        int cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return -1;
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return -1;
    t->type = type;
    t->n_dims = n_dims;
    uint64_t nel = 1;
    for (int d = 0; d < n_dims; d++) {
        t->ne[d] = ne[d];
        nel *= (uint64_t)ne[d];
    }
    t->nbytes = nel / (uint64_t)tt->block_size * tt->type_size;
    t->offset = w->data_len;
    w->data_len += (t->nbytes + ALIGN - 1) / ALIGN * ALIGN;
    return w->n_t++;
}

/* Bytes of header, metadata and tensor infos, before the aligned data section. */
static size_t head_size(const cl_gguf_writer *w) {
    size_t head = 24 + w->meta_len;
    for (int i = 0; i < w->n_t; i++) head += 8 + strlen(w->t[i].name) + 4 + 8 * (size_t)w->t[i].n_dims + 4 + 8;
    return head;
}

/* Writes the header, metadata and tensor infos at q (head_size bytes). */
static void write_head(const cl_gguf_writer *w, uint8_t *q) {
    uint32_t v3 = 3;
    uint64_t nt = (uint64_t)w->n_t;
    memcpy(q, "GGUF", 4);
    memcpy(q + 4, &v3, 4);
    memcpy(q + 8, &nt, 8);
    memcpy(q + 16, &w->n_kv, 8);
    q += 24;
    memcpy(q, w->meta, w->meta_len);
    q += w->meta_len;
    for (int i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t n = strlen(t->name);
        uint32_t nd = (uint32_t)t->n_dims, ty = (uint32_t)t->type;
        memcpy(q, &n, 8);
        memcpy(q + 8, t->name, n);
        q += 8 + n;
        memcpy(q, &nd, 4);
        q += 4;
        for (int d = 0; d < t->n_dims; d++, q += 8) memcpy(q, &t->ne[d], 8);
        memcpy(q, &ty, 4);
        memcpy(q + 4, &t->offset, 8);
        q += 12;
    }
}

int cl_gw_layout(cl_gguf_writer *w, uint8_t **buf, size_t *size) {
    w->data_start = (head_size(w) + ALIGN - 1) / ALIGN * ALIGN;
    size_t total = w->data_start + w->data_len;
    /* Anonymous pages: zero until touched, so the caller's parallel fill is the first
     * write to each page. */
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    write_head(w, p);
    *buf = p;
    *size = total;
    return 0;
}

int cl_gw_header(cl_gguf_writer *w, uint8_t **head, size_t *head_len, size_t *total) {
    w->data_start = (head_size(w) + ALIGN - 1) / ALIGN * ALIGN;
    uint8_t *h = calloc(1, w->data_start);
    if (!h) return -1;
    write_head(w, h);
    *head = h;
    *head_len = w->data_start;
    *total = w->data_start + w->data_len;
    return 0;
}

uint64_t cl_gw_tensor_offset(const cl_gguf_writer *w, int i, size_t *nbytes) {
    *nbytes = w->t[i].nbytes;
    return w->data_start + w->t[i].offset;
}

int cl_gw_raw(cl_gguf_writer *w, const char *key, int type, int arr_type, uint64_t arr_n, const void *data,
              uint64_t size) {
    if (put_key(w, key, (uint32_t)type)) return -1;
    if (type == CL_GGUF_ARRAY && (put_u32(w, (uint32_t)arr_type) || put_u64(w, arr_n))) return -1;
    return put(w, data, size) ? -1 : 0;
}

uint8_t *cl_gw_tensor_data(const cl_gguf_writer *w, uint8_t *buf, int i, size_t *nbytes) {
    *nbytes = w->t[i].nbytes;
    return buf + w->data_start + w->t[i].offset;
}

int cl_gw_n_tensors(const cl_gguf_writer *w) { return w->n_t; }
int cl_gw_tensor_type(const cl_gguf_writer *w, int i) { return w->t[i].type; }

void cl_gw_buffer_free(uint8_t *buf, size_t size) {
    if (buf) munmap(buf, size);
}
