/* One model across the ranks of an MPI job (mpirun -np N cllama run|chat|logits|
 * perplexity|serve|bench ...): rank r loads a contiguous range of layers and serves it
 * as stage r of a cllama_pipe; rank 0 runs the command. dist_mpi.c when the build
 * found MPI, dist_none.c (a single process, always) otherwise.
 *
 * Rank 0 splits the layers by each rank's available memory (or --layer-split
 * A,B,...), every rank loads its part and checks that its file is rank 0's (size and
 * a checksum of its first MiB); a rank that fails makes every rank exit, rank 0
 * printing that rank's message. A rank that dies mid-run ends the job (mpirun stops
 * every rank; rank 0 says so). */
#ifndef CLLAMA_DIST_H
#define CLLAMA_DIST_H

#include "cllama.h"

/* Called first in main: joins the MPI job when started by mpirun, and takes the
 * options every rank shares out of argv (--layer-split A,B,...). Returns 0, or exits
 * with a usage error. */
int dist_init(int *argc, char ***argv);
/* Ranks in the job (1 without MPI or mpirun) and this one's (0 .. n-1). */
int dist_size(void);
int dist_rank(void);
/* Ranks of the job on this machine, this one included (1 without MPI). */
int dist_local_ranks(void);
/* A rank other than 0: loads its layers when rank 0 asks and serves them until rank 0
 * ends; argv may name this rank's own copy of the model (-m FILE). Returns the exit
 * code. */
int dist_worker_main(int argc, char **argv);
/* Rank 0 of a job of several: loads the first layers of `path` while the other ranks
 * load theirs (mp: kernels and repacking, for every rank). 0, or a one-line error
 * already printed (naming the rank that failed) and EXIT_RUNTIME. */
int dist_model_load(const char *cmd, const char *path, const cllama_model_params *mp, cllama_model **out);
/* The pipeline for rank 0's contexts; NULL in a single process or before the load. */
const cllama_pipe *dist_pipe(void);
/* Ends the job: the other ranks return (or are told nothing is to be loaded) and MPI
 * is finalized. Returns rc. */
int dist_finalize(int rc);

#endif
