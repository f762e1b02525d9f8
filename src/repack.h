/* Interleaving weight rows at load for the 8-row kernels (kernels.h, gemm8).
 *
 * A matrix whose type has a gemm8 kernel is rewritten so that each group of 8 rows is
 * stored block by block: block i of rows 8g..8g+7 sits at
 *     data + 8 g row_bytes + (8 i + r) block_bytes,
 * one sequential stream per group instead of eight. Reading eight strided rows at once
 * from memory runs at about half the speed of one stream on the machines measured,
 * which costs generation more than the kernels gain; interleaved, the 8-row kernel
 * reads as fast as memory allows and needs about half the instructions per block. */
#ifndef CL_REPACK_H
#define CL_REPACK_H

#include "model.h"

/* Interleaves every matmul weight of m (not token_embd, which is also read by row for
 * embedding lookups) whose type the kernel set marks `pack` and whose row count is a
 * multiple of 8, into one buffer owned by the model (m->packed); the file pages they came from are
 * dropped from the resident set, so memory stays about the file size. Returns 0 or
 * CLLAMA_E_NOMEM (the model is then unchanged). CLLAMA_REPACK=0 in the environment
 * turns it off. */
int cl_repack_model(cllama_model *m);

/* Releases m->packed. */
void cl_repack_free(cllama_model *m);

#endif
