/* Interleaving weight matrices at load for the 8-row kernels (kernels.h, gemm8x).
 *
 * A matrix whose type has an x8 layout (quant/interleave.h) and an 8-row kernel in the
 * chosen set is rewritten as groups of 8 rows, each one sequential stream of x8 blocks
 * whose bytes sit in the order the kernel multiplies them. Eight strided rows read at
 * once from memory run at about half the speed of one stream on the machines measured;
 * interleaved, the 8-row kernel reads as fast as memory allows and needs about half
 * the instructions per block of the one-row kernels. */
#ifndef CL_REPACK_H
#define CL_REPACK_H

#include "model.h"
#include "threads.h"

/* Interleaves every loaded tensor the architecture marks CL_T_REPACK (not token_embd,
 * which is also read by row for embedding lookups) whose type m's kernel set has a
 * gemm8x for and whose row count is a multiple of 8, into one buffer owned by the model
 * (m->packed), on `pool` (NULL: a temporary pool); the file pages they came from are
 * dropped from the resident set, so memory stays about the file size. Returns 0 or
 * CLLAMA_E_NOMEM (the model is then unchanged). */
int cl_repack_model(cllama_model *m, cl_pool *pool);

/* Writes t's rows (ne[1] a multiple of 8, type with an x8 layout) interleaved into dst
 * (row_bytes * ne[1] bytes), split across the pool; t itself is unchanged. */
void cl_repack_tensor(cl_pool *pool, const cl_tensor *t, void *dst);

/* Releases m->packed. */
void cl_repack_free(cllama_model *m);

#endif
