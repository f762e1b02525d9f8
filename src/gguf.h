/* GGUF reader (versions 2 and 3): maps the file read-only and checks every count,
 * length and offset against the file size before anything points into it.
 * Strings and tensor data are used in place from the mapping. */
#ifndef CL_GGUF_H
#define CL_GGUF_H

#include <stddef.h>
#include <stdint.h>

enum cl_gguf_vtype {
    CL_GGUF_U8 = 0, CL_GGUF_I8 = 1, CL_GGUF_U16 = 2, CL_GGUF_I16 = 3,
    CL_GGUF_U32 = 4, CL_GGUF_I32 = 5, CL_GGUF_F32 = 6, CL_GGUF_BOOL = 7,
    CL_GGUF_STRING = 8, CL_GGUF_ARRAY = 9, CL_GGUF_U64 = 10, CL_GGUF_I64 = 11,
    CL_GGUF_F64 = 12, CL_GGUF_NTYPES
};

#define CL_GGUF_MAX_DIMS 4

/* A string inside the mapping: not NUL-terminated. */
typedef struct {
    const char *ptr;
    uint64_t len;
} cl_str;

typedef struct {
    cl_str key;
    int type;             /* enum cl_gguf_vtype */
    int arr_type;         /* element type if type == ARRAY */
    uint64_t arr_n;       /* element count if type == ARRAY */
    const uint8_t *data;  /* value bytes (for arrays: the first element) */
    uint64_t size;        /* bytes of the value (for arrays: all elements) */
} cl_gguf_kv;

typedef struct {
    cl_str name;
    int n_dims;
    int64_t ne[CL_GGUF_MAX_DIMS]; /* ne[0] is the contiguous (row) dimension; unused = 1 */
    int type;                     /* ggml type id, see quant/quant.h */
    uint64_t offset;              /* from the start of the data section */
    uint64_t nbytes;
    const void *data;             /* in the mapping */
} cl_gguf_tensor;

typedef struct cl_gguf cl_gguf;

/* Opens and validates `path`. Tensor types must be known to quant/quant.h so their
 * byte sizes can be checked. Returns CLLAMA_OK or an error code (message set). */
int cl_gguf_open(const char *path, cl_gguf **out);
/* The whole pages inside [p, p+n) of a file mapping will not be read again: they leave
 * the process's resident set (the file stays in the page cache). No-op for images in
 * memory. */
void cl_gguf_drop(const cl_gguf *g, const void *p, size_t n);
/* Same for a file already in memory (not copied; must outlive the handle). */
int cl_gguf_open_memory(const void *buf, size_t size, cl_gguf **out);
void cl_gguf_close(cl_gguf *g);

uint32_t cl_gguf_version(const cl_gguf *g);
uint64_t cl_gguf_file_size(const cl_gguf *g);
uint64_t cl_gguf_alignment(const cl_gguf *g);
uint64_t cl_gguf_data_offset(const cl_gguf *g);

uint64_t cl_gguf_n_kv(const cl_gguf *g);
const cl_gguf_kv *cl_gguf_kv_at(const cl_gguf *g, uint64_t i);
/* NULL if absent. */
const cl_gguf_kv *cl_gguf_find(const cl_gguf *g, const char *key);

/* Typed getters. Return 1 if found and converted, 0 if absent (*out untouched),
 * or a negative error code if present with the wrong type or out of range. Integer
 * getters accept any integer type whose value fits. */
int cl_gguf_get_u32(const cl_gguf *g, const char *key, uint32_t *out);
int cl_gguf_get_i64(const cl_gguf *g, const char *key, int64_t *out);
int cl_gguf_get_f32(const cl_gguf *g, const char *key, float *out);
int cl_gguf_get_bool(const cl_gguf *g, const char *key, int *out);
int cl_gguf_get_str(const cl_gguf *g, const char *key, cl_str *out);
/* Array of a fixed-size element type: returns elements in place (unaligned: read
 * with memcpy). */
int cl_gguf_get_arr(const cl_gguf *g, const char *key, int *elem_type, uint64_t *n,
                    const uint8_t **data);
/* Array of strings: *out is a malloc'd table of n entries pointing into the mapping
 * (caller frees). */
int cl_gguf_get_str_arr(const cl_gguf *g, const char *key, cl_str **out, uint64_t *n);

/* Byte size of one element of a fixed-size type, 0 for STRING/ARRAY/unknown. */
size_t cl_gguf_vtype_size(int type);
const char *cl_gguf_vtype_name(int type);

uint64_t cl_gguf_n_tensors(const cl_gguf *g);
const cl_gguf_tensor *cl_gguf_tensor_at(const cl_gguf *g, uint64_t i);
const cl_gguf_tensor *cl_gguf_find_tensor(const cl_gguf *g, const char *name);

/* 1 if the string equals the NUL-terminated `s`. */
int cl_str_eq(cl_str a, const char *s);

#endif
