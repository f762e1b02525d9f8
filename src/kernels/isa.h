/* Included once by each ISA file after it defines CL_SET_ID (its id in sets.def):
 * declares its fill function, CL_FILL (cl_fill_<id>), and fails the build when the
 * file's compiler flags enable other features than its line in sets.def needs. */
#ifndef CL_ISA_H
#define CL_ISA_H

#include "kernels/features.h"
#include "kernels/kernels.h"

#define CL_SET(id, name, arch, file, flags, needs) enum { cl_needs_##id = (needs) };
#include "kernels/sets.def"
#undef CL_SET

#define CL_CAT_(a, b) a##b
#define CL_CAT(a, b) CL_CAT_(a, b)
#define CL_FILL CL_CAT(cl_fill_, CL_SET_ID)

_Static_assert(CL_CPU_COMPILED == CL_CAT(cl_needs_, CL_SET_ID),
               "this file's compiler flags (CMake, from sets.def) and its set's CPU features in sets.def disagree");

/* Overrides the entries of k (a copy of the scalar set) that this set speeds up.
 * dispatch.c calls it only on a CPU with the set's features. */
void CL_FILL(cl_kernels *k);

#endif
