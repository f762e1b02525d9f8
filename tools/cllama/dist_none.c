/* dist.h without MPI: always a single process. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "dist.h"

int dist_init(int *argc, char ***argv) {
    for (int i = 1; i < *argc; i++)
        if (!strcmp((*argv)[i], "--layer-split")) {
            fprintf(stderr, "cllama: --layer-split needs a build with MPI (libopenmpi-dev) run under mpirun\n");
            return EXIT_USAGE;
        }
    return 0;
}
int dist_size(void) { return 1; }
int dist_local_ranks(void) { return 1; }
int dist_rank(void) { return 0; }
int dist_worker_main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return 0;
}
int dist_model_load(const char *cmd, const char *path, const cllama_model_params *mp, cllama_model **out) {
    return cllama_model_load(path, mp, out) ? runtime_error(cmd, "%s", cllama_last_error()) : 0;
}
const cllama_pipe *dist_pipe(void) { return NULL; }
int dist_finalize(int rc) { return rc; }
