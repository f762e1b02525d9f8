/* The time of one pipeline hop between two MPI ranks: one-way time of a message of
 * the sizes cllama's pipeline sends, by ping-pong (half the round trip, median of
 * many). Run: mpirun -np 2 [--host a,b] build/bench/mpi_hop [N_EMBD [N_VOCAB]]
 * (defaults: Llama 2 7B, 4096 and 32000). Sizes: a header (256 B), one token's hidden
 * state (N_EMBD x 4 B), a 512-token micro-batch's (512 x N_EMBD x 4 B + 12 B a token),
 * one row of logits (N_VOCAB x 4 B). Feed the result to cllama limits --link GBPS,US. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2) {
        if (!rank) fprintf(stderr, "mpi_hop: run with mpirun -np 2\n");
        MPI_Finalize();
        return 2;
    }
    long E = argc > 1 ? atol(argv[1]) : 4096, V = argc > 2 ? atol(argv[2]) : 32000;
    const struct {
        const char *what;
        long bytes;
    } sizes[] = {{"header", 256}, {"hidden state, 1 token", E * 4}, {"micro-batch, 512 tokens", 512 * (E * 4 + 12)},
                 {"logits, 1 row", V * 4}};
    long max = 0;
    for (int i = 0; i < 4; i++) max = sizes[i].bytes > max ? sizes[i].bytes : max;
    char *buf = calloc((size_t)max, 1);
    enum { REPS = 200 };
    double t[REPS], first_one_way = 0;
    if (!rank) printf("| message | bytes | one way (us, median of %d) | GB/s |\n|---|--:|--:|--:|\n", REPS);
    for (int i = 0; i < 4; i++) {
        int n = (int)sizes[i].bytes;
        for (int r = -10; r < REPS; r++) { /* 10 warm-up round trips */
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            if (!rank) {
                MPI_Send(buf, n, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
                MPI_Recv(buf, n, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else {
                MPI_Recv(buf, n, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(buf, n, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
            }
            if (r >= 0) t[r] = (MPI_Wtime() - t0) / 2;
        }
        qsort(t, REPS, sizeof *t, cmp);
        if (!i) first_one_way = t[REPS / 2];
        if (!rank)
            printf("| %s | %d | %.1f | %.2f |\n", sizes[i].what, n, t[REPS / 2] * 1e6,
                   i ? n / (t[REPS / 2] - first_one_way) / 1e9 : 0.0);
    }
    if (!rank) printf("(GB/s: the size over the time above a header's, the latency)\n");
    free(buf);
    MPI_Finalize();
    return 0;
}
