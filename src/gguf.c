/* GGUF reader. Layout (little-endian):
 *   u32 magic "GGUF", u32 version (2 or 3), u64 n_tensors, u64 n_kv,
 *   n_kv x { string key, u32 type, value },
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset },
 *   padding to general.alignment (default 32), tensor data.
 * string = u64 len + bytes; array = u32 elem type + u64 count + elements.
 * Every length is checked against the bytes left before it is used. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "quant/quant.h"

/* Caps against absurd counts: no real model comes near them, and they bound the
 * allocations a hostile header can cause before data is read. */
#define MAX_STRING_LEN (1ull << 30)
#define MAX_ARRAY_N (1ull << 30)
#define MAX_ARRAY_DEPTH 8
#define MAX_KEY_LEN 65535
#define DEFAULT_ALIGNMENT 32

struct cl_gguf {
    const uint8_t *base;
    uint64_t size;
    int mapped; /* 1: base is our mmap */
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    uint64_t n_kv;
    cl_gguf_kv *kv;
    uint64_t n_tensors;
    cl_gguf_tensor *tensors;
};

typedef struct {
    const uint8_t *p;
    uint64_t left;
} reader;

static int rd_bytes(reader *r, void *dst, uint64_t n) {
    if (n > r->left) return -1;
    memcpy(dst, r->p, n);
    r->p += n;
    r->left -= n;
    return 0;
}

static int rd_u32(reader *r, uint32_t *v) { return rd_bytes(r, v, 4); }
static int rd_u64(reader *r, uint64_t *v) { return rd_bytes(r, v, 8); }

static int rd_str(reader *r, cl_str *s, uint64_t cap) {
    uint64_t n;
    if (rd_u64(r, &n)) return -1;
    if (n > cap || n > r->left) return -1;
    s->ptr = (const char *)r->p;
    s->len = n;
    r->p += n;
    r->left -= n;
    return 0;
}

size_t cl_gguf_vtype_size(int type) {
    switch (type) {
    case CL_GGUF_U8: case CL_GGUF_I8: case CL_GGUF_BOOL: return 1;
    case CL_GGUF_U16: case CL_GGUF_I16: return 2;
    case CL_GGUF_U32: case CL_GGUF_I32: case CL_GGUF_F32: return 4;
    case CL_GGUF_U64: case CL_GGUF_I64: case CL_GGUF_F64: return 8;
    default: return 0;
    }
}

const char *cl_gguf_vtype_name(int type) {
    static const char *names[CL_GGUF_NTYPES] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                 "bool", "string", "array", "u64", "i64", "f64"};
    return type >= 0 && type < CL_GGUF_NTYPES ? names[type] : "unknown";
}

int cl_str_eq(cl_str a, const char *s) {
    size_t n = strlen(s);
    return a.len == n && memcmp(a.ptr, s, n) == 0;
}

/* Skips one value of `type` (arrays recursively, up to MAX_ARRAY_DEPTH); fills the
 * array fields of kv for the outermost call when kv != NULL. */
static int skip_value(reader *r, int type, int depth, cl_gguf_kv *kv) {
    if (type < 0 || type >= CL_GGUF_NTYPES) return -1;
    if (type == CL_GGUF_STRING) {
        cl_str s;
        return rd_str(r, &s, MAX_STRING_LEN);
    }
    if (type != CL_GGUF_ARRAY) {
        size_t sz = cl_gguf_vtype_size(type);
        if (sz > r->left) return -1;
        r->p += sz;
        r->left -= sz;
        return 0;
    }
    if (depth >= MAX_ARRAY_DEPTH) return -1;
    uint32_t et;
    uint64_t n;
    if (rd_u32(r, &et) || rd_u64(r, &n)) return -1;
    if ((int)et < 0 || et >= CL_GGUF_NTYPES || n > MAX_ARRAY_N) return -1;
    if (kv) {
        kv->arr_type = (int)et;
        kv->arr_n = n;
        kv->data = r->p;
    }
    size_t esz = cl_gguf_vtype_size((int)et);
    if (esz) {
        if (n > r->left / esz) return -1;
        r->p += n * esz;
        r->left -= n * esz;
        return 0;
    }
    for (uint64_t i = 0; i < n; i++)
        if (skip_value(r, (int)et, depth + 1, NULL)) return -1;
    return 0;
}

static int str_cmp(const void *a, const void *b) {
    const cl_str *x = *(const cl_str *const *)a, *y = *(const cl_str *const *)b;
    uint64_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Sets *dup to one of two equal names among n records (the cl_str at `off` in each
 * record of `stride` bytes), or NULL if all differ; -1 if out of memory. Sorting keeps
 * this O(n log n) however many entries a hostile header claims. */
static int find_duplicate(const void *items, uint64_t n, size_t stride, size_t off,
                          const cl_str **dup) {
    *dup = NULL;
    if (n < 2) return 0;
    const cl_str **v = malloc(n * sizeof *v);
    if (!v) return -1;
    for (uint64_t i = 0; i < n; i++) v[i] = (const cl_str *)((const char *)items + i * stride + off);
    qsort(v, n, sizeof *v, str_cmp);
    for (uint64_t i = 1; i < n && !*dup; i++)
        if (str_cmp(&v[i - 1], &v[i]) == 0) *dup = v[i];
    free(v);
    return 0;
}

static int parse(cl_gguf *g) {
    reader r = {g->base, g->size};
    uint32_t magic;
    if (rd_u32(&r, &magic) || memcmp(&magic, "GGUF", 4) != 0)
        return cl_err(CLLAMA_E_FORMAT, "not a GGUF file (bad magic)");
    if (rd_u32(&r, &g->version)) return cl_err(CLLAMA_E_FORMAT, "truncated GGUF header");
    if (g->version != 2 && g->version != 3)
        return cl_err(CLLAMA_E_UNSUPPORTED, "GGUF version %u not supported (2 and 3 are)",
                      g->version);
    if (rd_u64(&r, &g->n_tensors) || rd_u64(&r, &g->n_kv))
        return cl_err(CLLAMA_E_FORMAT, "truncated GGUF header");
    /* Each kv needs at least 12 bytes (key length + type) and each tensor info at
     * least 24, so counts beyond that cannot be honest. */
    if (g->n_kv > r.left / 12)
        return cl_err(CLLAMA_E_FORMAT, "metadata count %llu runs past the end of the file",
                      (unsigned long long)g->n_kv);
    if (g->n_tensors > r.left / 24)
        return cl_err(CLLAMA_E_FORMAT, "tensor count %llu runs past the end of the file",
                      (unsigned long long)g->n_tensors);

    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return cl_err(CLLAMA_E_NOMEM, "out of memory reading GGUF header");

    for (uint64_t i = 0; i < g->n_kv; i++) {
        cl_gguf_kv *kv = &g->kv[i];
        uint32_t type;
        if (rd_str(&r, &kv->key, MAX_KEY_LEN))
            return cl_err(CLLAMA_E_FORMAT, "metadata entry %llu: key runs past the end of the file",
                          (unsigned long long)i);
        if (rd_u32(&r, &type))
            return cl_err(CLLAMA_E_FORMAT, "metadata %.*s: runs past the end of the file", (int)kv->key.len, kv->key.ptr);
        if (type >= CL_GGUF_NTYPES)
            return cl_err(CLLAMA_E_FORMAT, "metadata %.*s: unknown value type %u", (int)kv->key.len,
                          kv->key.ptr, type);
        kv->type = (int)type;
        kv->data = r.p;
        const uint8_t *start = r.p;
        if (skip_value(&r, kv->type, 0, kv))
            return cl_err(CLLAMA_E_FORMAT,
                          "metadata %.*s: value (%s) runs past the end of the file or exceeds limits",
                          (int)kv->key.len, kv->key.ptr, cl_gguf_vtype_name(kv->type));
        if (kv->type == CL_GGUF_ARRAY)
            kv->size = (uint64_t)(r.p - kv->data);
        else
            kv->size = (uint64_t)(r.p - start);
    }
    const cl_str *dup;
    if (find_duplicate(g->kv, g->n_kv, sizeof *g->kv, offsetof(cl_gguf_kv, key), &dup))
        return cl_err(CLLAMA_E_NOMEM, "out of memory");
    if (dup) return cl_err(CLLAMA_E_FORMAT, "metadata key %.*s appears twice", (int)dup->len, dup->ptr);

    g->alignment = DEFAULT_ALIGNMENT;
    const cl_gguf_kv *al = cl_gguf_find(g, "general.alignment");
    if (al) {
        uint32_t a;
        if (al->type != CL_GGUF_U32)
            return cl_err(CLLAMA_E_FORMAT, "general.alignment has type %s, expected u32",
                          cl_gguf_vtype_name(al->type));
        memcpy(&a, al->data, 4);
        if (a == 0 || (a & (a - 1)))
            return cl_err(CLLAMA_E_FORMAT, "general.alignment %u is not a power of two", a);
        g->alignment = a;
    }

    for (uint64_t i = 0; i < g->n_tensors; i++) {
        cl_gguf_tensor *t = &g->tensors[i];
        uint32_t nd, type;
        if (rd_str(&r, &t->name, MAX_KEY_LEN))
            return cl_err(CLLAMA_E_FORMAT, "tensor info %llu: name runs past the end of the file",
                          (unsigned long long)i);
        int nl = (int)t->name.len;
        const char *nm = t->name.ptr;
        if (rd_u32(&r, &nd)) return cl_err(CLLAMA_E_FORMAT, "tensor %.*s: info runs past the end of the file", nl, nm);
        if (nd == 0 || nd > CL_GGUF_MAX_DIMS)
            return cl_err(CLLAMA_E_FORMAT, "tensor %.*s: %u dimensions (1 to %d allowed)", nl, nm, nd,
                          CL_GGUF_MAX_DIMS);
        t->n_dims = (int)nd;
        uint64_t nel = 1;
        for (int d = 0; d < CL_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne;
            if (rd_u64(&r, &ne)) return cl_err(CLLAMA_E_FORMAT, "tensor %.*s: info runs past the end of the file", nl, nm);
            if (ne == 0 || ne > INT64_MAX || nel > (uint64_t)INT64_MAX / ne)
                return cl_err(CLLAMA_E_FORMAT, "tensor %.*s: dimension %u = %llu is invalid or overflows",
                              nl, nm, d, (unsigned long long)ne);
            t->ne[d] = (int64_t)ne;
            nel *= ne;
        }
        if (rd_u32(&r, &type) || rd_u64(&r, &t->offset))
            return cl_err(CLLAMA_E_FORMAT, "tensor %.*s: info runs past the end of the file", nl, nm);
        t->type = (int)type;
        const cl_type_traits *tt = cl_type_info((int)type);
        if (!tt || type >= CL_TYPE_COUNT)
            return cl_err(CLLAMA_E_UNSUPPORTED, "tensor %.*s: unsupported tensor type %s", nl, nm,
                          cl_type_name((int)type));
        if (t->ne[0] % tt->block_size)
            return cl_err(CLLAMA_E_FORMAT, "tensor %.*s: row length %lld is not a multiple of the %s block size %d",
                          nl, nm, (long long)t->ne[0], tt->name, tt->block_size);
        uint64_t nblocks = nel / (uint64_t)tt->block_size;
        if (nblocks > UINT64_MAX / tt->type_size)
            return cl_err(CLLAMA_E_FORMAT, "tensor %.*s: byte size overflows", nl, nm);
        t->nbytes = nblocks * tt->type_size;
        if (t->offset % g->alignment)
            return cl_err(CLLAMA_E_FORMAT, "tensor %.*s: data offset %llu is not aligned to %llu", nl, nm,
                          (unsigned long long)t->offset, (unsigned long long)g->alignment);
    }
    if (find_duplicate(g->tensors, g->n_tensors, sizeof *g->tensors, offsetof(cl_gguf_tensor, name),
                       &dup))
        return cl_err(CLLAMA_E_NOMEM, "out of memory");
    if (dup) return cl_err(CLLAMA_E_FORMAT, "tensor %.*s appears twice", (int)dup->len, dup->ptr);

    uint64_t pos = g->size - r.left;
    uint64_t data = (pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors && data > g->size)
        return cl_err(CLLAMA_E_FORMAT, "tensor data starts past the end of the file (truncated?)");
    g->data_offset = data;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        cl_gguf_tensor *t = &g->tensors[i];
        uint64_t avail = g->size - data;
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return cl_err(CLLAMA_E_FORMAT,
                          "tensor %.*s: data [%llu, +%llu) runs past the end of the file (truncated?)",
                          (int)t->name.len, t->name.ptr, (unsigned long long)t->offset,
                          (unsigned long long)t->nbytes);
        t->data = g->base + data + t->offset;
    }
    return CLLAMA_OK;
}

static int open_common(cl_gguf *g, cl_gguf **out) {
    int rc = parse(g);
    if (rc) {
        cl_gguf_close(g);
        return rc;
    }
    *out = g;
    return CLLAMA_OK;
}

int cl_gguf_open(const char *path, cl_gguf **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cl_err(CLLAMA_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cl_err(CLLAMA_E_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (S_ISDIR(st.st_mode)) return cl_err(CLLAMA_E_IO, "%s: is a directory, not a GGUF file", path);
        return cl_err(CLLAMA_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return cl_err(CLLAMA_E_FORMAT, "%s: too small to be a GGUF file (%lld bytes)", path,
                      (long long)st.st_size);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return cl_err(CLLAMA_E_IO, "%s: mmap: %s", path, strerror(e));
    cl_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        munmap(p, (size_t)st.st_size);
        return cl_err(CLLAMA_E_NOMEM, "out of memory");
    }
    g->base = p;
    g->size = (uint64_t)st.st_size;
    g->mapped = 1;
    int rc = open_common(g, out);
    if (rc) {
        /* Prefix the path so the one-line message says which file. */
        char msg[512];
        strncpy(msg, cllama_last_error(), sizeof msg - 1);
        msg[sizeof msg - 1] = 0;
        cl_err(rc, "%s: %s", path, msg);
    }
    return rc;
}

int cl_gguf_open_memory(const void *buf, size_t size, cl_gguf **out) {
    *out = NULL;
    cl_gguf *g = calloc(1, sizeof *g);
    if (!g) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    g->base = buf;
    g->size = size;
    return open_common(g, out);
}

void cl_gguf_drop(const cl_gguf *g, const void *p, size_t n) {
    if (!g->mapped || !n) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void cl_gguf_close(cl_gguf *g) {
    if (!g) return;
    if (g->mapped) munmap((void *)g->base, g->size);
    free(g->kv);
    free(g->tensors);
    free(g);
}

uint32_t cl_gguf_version(const cl_gguf *g) { return g->version; }
uint64_t cl_gguf_file_size(const cl_gguf *g) { return g->size; }
uint64_t cl_gguf_alignment(const cl_gguf *g) { return g->alignment; }
uint64_t cl_gguf_data_offset(const cl_gguf *g) { return g->data_offset; }
uint64_t cl_gguf_n_kv(const cl_gguf *g) { return g->n_kv; }
const cl_gguf_kv *cl_gguf_kv_at(const cl_gguf *g, uint64_t i) { return i < g->n_kv ? &g->kv[i] : NULL; }
uint64_t cl_gguf_n_tensors(const cl_gguf *g) { return g->n_tensors; }
const cl_gguf_tensor *cl_gguf_tensor_at(const cl_gguf *g, uint64_t i) {
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const cl_gguf_kv *cl_gguf_find(const cl_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (cl_str_eq(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const cl_gguf_tensor *cl_gguf_find_tensor(const cl_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (cl_str_eq(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

/* Reads a scalar integer of any integer type as int64 (u64 above INT64_MAX fails). */
static int kv_int(const cl_gguf_kv *kv, int64_t *v) {
    const uint8_t *d = kv->data;
    switch (kv->type) {
    case CL_GGUF_U8: *v = d[0]; return 0;
    case CL_GGUF_I8: *v = (int8_t)d[0]; return 0;
    case CL_GGUF_U16: { uint16_t x; memcpy(&x, d, 2); *v = x; return 0; }
    case CL_GGUF_I16: { int16_t x; memcpy(&x, d, 2); *v = x; return 0; }
    case CL_GGUF_U32: { uint32_t x; memcpy(&x, d, 4); *v = x; return 0; }
    case CL_GGUF_I32: { int32_t x; memcpy(&x, d, 4); *v = x; return 0; }
    case CL_GGUF_U64: { uint64_t x; memcpy(&x, d, 8); if (x > INT64_MAX) return -1; *v = (int64_t)x; return 0; }
    case CL_GGUF_I64: { int64_t x; memcpy(&x, d, 8); *v = x; return 0; }
    default: return -1;
    }
}

static int wrong_type(const cl_gguf_kv *kv, const char *want) {
    return cl_err(CLLAMA_E_FORMAT, "metadata %.*s has type %s, expected %s", (int)kv->key.len,
                  kv->key.ptr, cl_gguf_vtype_name(kv->type), want);
}

int cl_gguf_get_i64(const cl_gguf *g, const char *key, int64_t *out) {
    const cl_gguf_kv *kv = cl_gguf_find(g, key);
    if (!kv) return 0;
    if (kv_int(kv, out)) return wrong_type(kv, "an integer");
    return 1;
}

int cl_gguf_get_u32(const cl_gguf *g, const char *key, uint32_t *out) {
    int64_t v;
    int rc = cl_gguf_get_i64(g, key, &v);
    if (rc <= 0) return rc;
    if (v < 0 || v > UINT32_MAX)
        return cl_err(CLLAMA_E_FORMAT, "metadata %s = %lld is out of range", key, (long long)v);
    *out = (uint32_t)v;
    return 1;
}

int cl_gguf_get_f32(const cl_gguf *g, const char *key, float *out) {
    const cl_gguf_kv *kv = cl_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type == CL_GGUF_F32) {
        memcpy(out, kv->data, 4);
    } else if (kv->type == CL_GGUF_F64) {
        double d;
        memcpy(&d, kv->data, 8);
        *out = (float)d;
    } else {
        int64_t v;
        if (kv_int(kv, &v)) return wrong_type(kv, "a number");
        *out = (float)v;
    }
    return 1;
}

int cl_gguf_get_bool(const cl_gguf *g, const char *key, int *out) {
    const cl_gguf_kv *kv = cl_gguf_find(g, key);
    if (!kv) return 0;
    int64_t v;
    if (kv->type == CL_GGUF_BOOL) *out = kv->data[0] != 0;
    else if (!kv_int(kv, &v)) *out = v != 0;
    else return wrong_type(kv, "bool");
    return 1;
}

int cl_gguf_get_str(const cl_gguf *g, const char *key, cl_str *out) {
    const cl_gguf_kv *kv = cl_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != CL_GGUF_STRING) return wrong_type(kv, "string");
    uint64_t n;
    memcpy(&n, kv->data, 8);
    out->ptr = (const char *)kv->data + 8;
    out->len = n;
    return 1;
}

int cl_gguf_get_arr(const cl_gguf *g, const char *key, int *elem_type, uint64_t *n,
                    const uint8_t **data) {
    const cl_gguf_kv *kv = cl_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != CL_GGUF_ARRAY || !cl_gguf_vtype_size(kv->arr_type))
        return wrong_type(kv, "array of numbers");
    *elem_type = kv->arr_type;
    *n = kv->arr_n;
    *data = kv->data;
    return 1;
}

int cl_gguf_get_str_arr(const cl_gguf *g, const char *key, cl_str **out, uint64_t *n) {
    const cl_gguf_kv *kv = cl_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != CL_GGUF_ARRAY || kv->arr_type != CL_GGUF_STRING)
        return wrong_type(kv, "array of strings");
    cl_str *s = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *s);
    if (!s) return cl_err(CLLAMA_E_NOMEM, "out of memory reading %s", key);
    /* Lengths were validated at open, so the walk stays inside kv->size. */
    reader r = {kv->data, kv->size};
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        if (rd_str(&r, &s[i], MAX_STRING_LEN)) {
            free(s);
            return cl_err(CLLAMA_E_FORMAT, "metadata %s: string %llu is malformed", key,
                          (unsigned long long)i);
        }
    }
    *out = s;
    *n = kv->arr_n;
    return 1;
}
