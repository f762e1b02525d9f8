/* A sampler's state as bytes, so a pipeline's last stage can sample for stage 0
 * (src/pipe.c): the parameters, the random state and the penalty history. Stages run
 * the same build, so the layout is this struct's. */
#ifndef CL_SAMPLER_H
#define CL_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "cllama.h"

/* Bytes cl_sampler_save writes for s. */
size_t cl_sampler_state_bytes(const cllama_sampler *s);
void cl_sampler_save(const cllama_sampler *s, void *buf);
/* Makes *s (NULL, or one this function made before, reused) the sampler saved in
 * buf[0, n) for n_vocab tokens. 0, or CLLAMA_E_FORMAT when the bytes are not a whole
 * saved state, CLLAMA_E_NOMEM. */
int cl_sampler_load(cllama_sampler **s, const void *buf, size_t n, int n_vocab);
/* The vocabulary size s was made for. */
int cl_sampler_n_vocab(const cllama_sampler *s);
/* The random state (4 words): read into rng, or set from it. */
void cl_sampler_get_rng(const cllama_sampler *s, uint64_t rng[4]);
void cl_sampler_set_rng(cllama_sampler *s, const uint64_t rng[4]);

#endif
