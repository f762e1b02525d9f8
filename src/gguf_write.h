/* GGUF v3 writer: metadata and tensor infos are collected first, then the whole file
 * is laid out in one buffer whose tensor data the caller fills in place (so a 7B
 * model is generated straight into its final layout, in parallel, with no copy), or
 * the header is made alone and the caller writes each tensor at its offset in a file
 * (a quantized model is written a tensor at a time). */
#ifndef CL_GGUF_WRITE_H
#define CL_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cl_gguf_writer cl_gguf_writer;

cl_gguf_writer *cl_gw_new(void);
/* Frees the writer; the buffer from cl_gw_layout stays valid (free with cl_gw_buffer_free). */
void cl_gw_free(cl_gguf_writer *w);

/* Metadata. Strings are copied. Return 0, or -1 if out of memory. */
int cl_gw_str(cl_gguf_writer *w, const char *key, const char *val);
int cl_gw_u32(cl_gguf_writer *w, const char *key, uint32_t val);
int cl_gw_f32(cl_gguf_writer *w, const char *key, float val);
int cl_gw_bool(cl_gguf_writer *w, const char *key, int val);
int cl_gw_arr_str(cl_gguf_writer *w, const char *key, const char *const *vals, uint64_t n);
int cl_gw_arr_f32(cl_gguf_writer *w, const char *key, const float *vals, uint64_t n);
int cl_gw_arr_i32(cl_gguf_writer *w, const char *key, const int32_t *vals, uint64_t n);

/* Declares a tensor of `type` with ne[0..n_dims) (ne[0] = row length). Returns its
 * index, or -1 (unknown type, bad shape, out of memory). */
int cl_gw_tensor(cl_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne);

/* Builds the file image: *buf (page-aligned, zero-filled lazily) of *size bytes with
 * header, metadata and tensor infos written and tensor data left for the caller.
 * Returns 0 or -1 (out of memory). */
int cl_gw_layout(cl_gguf_writer *w, uint8_t **buf, size_t *size);
/* For writing to a file tensor by tensor: *head (malloc'd, *head_len bytes) is the
 * file up to the data section; the file is *total bytes. Returns 0 or -1. */
int cl_gw_header(cl_gguf_writer *w, uint8_t **head, size_t *head_len, size_t *total);
/* After cl_gw_layout or cl_gw_header: tensor i's offset in the file, and its size. */
uint64_t cl_gw_tensor_offset(const cl_gguf_writer *w, int i, size_t *nbytes);
/* A metadata value copied as read (cl_gguf_kv: type, arr_type, arr_n, and the value
 * bytes data/size as the reader gives them). Returns 0, or -1 if out of memory. */
int cl_gw_raw(cl_gguf_writer *w, const char *key, int type, int arr_type, uint64_t arr_n, const void *data,
              uint64_t size);

/* Where tensor i's data goes in the buffer from cl_gw_layout, and its byte size. */
uint8_t *cl_gw_tensor_data(const cl_gguf_writer *w, uint8_t *buf, int i, size_t *nbytes);
int cl_gw_n_tensors(const cl_gguf_writer *w);
int cl_gw_tensor_type(const cl_gguf_writer *w, int i);

void cl_gw_buffer_free(uint8_t *buf, size_t size);

#endif
