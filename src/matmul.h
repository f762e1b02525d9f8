/* Y = X W^T for a weight matrix in the mapping, split across the thread pool. */
#ifndef CL_MATMUL_H
#define CL_MATMUL_H

#include <stddef.h>

#include "model.h"
#include "threads.h"

/* Bytes of activation scratch that cl_matmul needs for n_tok rows of n_in values. */
size_t cl_matmul_scratch(int64_t n_in, int n_tok);

/* With kernel set k: x: [n_tok][w->ne[0]] floats; y: [n_tok][w->ne[1]] floats (row stride w->ne[1]).
 * scratch: at least cl_matmul_scratch(w->ne[0], n_tok) bytes, 64-byte aligned. */
void cl_matmul(const cl_kernels *k, cl_pool *pool, const cl_tensor *w, const float *x, int n_tok, float *y,
               void *scratch);

/* y[i] = x w[i]^T for nw products of the same input (all w[i]->ne[0] equal): x is
 * quantized once for all of them and they run as one task, which saves a quantization
 * and two pool synchronisations per extra product (Q/K/V, gate/up). Same scratch. */
void cl_matmul_n(const cl_kernels *k, cl_pool *pool, int nw, const cl_tensor *const *w, const float *x, int n_tok,
                 float *const *y, void *scratch);

#endif
