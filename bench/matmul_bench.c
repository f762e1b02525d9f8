/* Matrix-multiply throughput per weight type, through the engine's own cl_matmul and
 * thread pool: the numbers that decide generation speed (one activation row, weights
 * streamed from memory) and prompt speed (a batch of rows).
 *
 * usage: matmul_bench [-t THREADS] [-r REPS] [CASE ...]
 *   CASE = TYPE:N_IN:N_OUT:N_TOK[:LAYOUT]; LAYOUT is one of
 *     mem    copies of the matrix filling 1 GiB of anonymous huge pages, cycled so every
 *            call reads its weights from memory (default);
 *     file   the same copies in a file mapping (4 KiB page-cache pages, as a GGUF that
 *            is not repacked is read);
 *     cache  one matrix, read again on every call (L2-resident if small enough).
 *   TYPE may end in "+p" for rows interleaved as repack.c stores them.
 *   Without cases: the 4096 x 14336 feed-forward matrix for Q4_0, Q8_0, Q4_K and Q6_K,
 *   one token and 64 tokens.
 * Prints one line per case: weight GB/s (bytes of the matrix / time per call) and, for
 * batches, integer multiply-accumulates per second. Best of REPS timed passes. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kernels/dispatch.h"
#include "matmul.h"
#include "quant/quant.h"
#include "repack.h"
#include "threads.h"

/* CLLAMA_ISA=NAME forces a kernel set, as for the CLI. */
static const cl_kernels *kernels_from_env(void) {
    const cl_kernels *k = cl_kernels_find(getenv("CLLAMA_ISA"), NULL, 0);
    return k ? k : cl_kernels_get();
}

#define MEM_BYTES (1ull << 30)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

static int type_by_name(const char *s) {
    for (int t = 0; t < CL_TYPE_COUNT; t++)
        if (cl_type_info(t) && !strcmp(cl_type_name(t), s)) return t;
    return -1;
}

static void *map_bytes(size_t n, int file) {
    if (!file) {
        void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return NULL;
        madvise(p, n, MADV_HUGEPAGE);
        return p;
    }
    char path[] = "/tmp/matmul_bench.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    unlink(path);
    void *p = ftruncate(fd, (off_t)n) ? MAP_FAILED : mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

static int run_case(cl_pool *pool, const char *spec, int reps) {
    char tname[16] = "", layout[16] = "mem";
    long n_in, n_out;
    int n_tok;
    if (sscanf(spec, "%15[^:]:%ld:%ld:%d:%15s", tname, &n_in, &n_out, &n_tok, layout) < 4) {
        fprintf(stderr, "matmul_bench: bad case '%s' (TYPE:N_IN:N_OUT:N_TOK[:mem|file|cache])\n", spec);
        return 1;
    }
    size_t tl = strlen(tname);
    int packed = tl > 2 && !strcmp(tname + tl - 2, "+p");
    if (packed) tname[tl - 2] = 0;
    int type = type_by_name(tname), file = !strcmp(layout, "file"), cache = !strcmp(layout, "cache");
    const cl_type_traits *tt = type >= 0 ? cl_type_info(type) : NULL;
    if (!tt || !tt->weight || n_in <= 0 || n_out <= 0 || n_in % tt->block_size || n_tok < 1 ||
        (packed && n_out % 8) || (!cache && !file && strcmp(layout, "mem"))) {
        fprintf(stderr, "matmul_bench: cannot run case '%s'\n", spec);
        return 1;
    }
    const cl_kernels *k = kernels_from_env();
    if (packed && !k->gemm8x[type]) {
        fprintf(stderr, "matmul_bench: %s has no 8-row kernel in the %s set\n", tname, k->isa);
        return 1;
    }
    size_t row = cl_row_size(type, n_in), mat = row * (size_t)n_out;
    size_t copies = cache ? 1 : (MEM_BYTES + mat - 1) / mat;
    uint8_t *w = map_bytes(mat * copies, file);
    float *x = malloc(sizeof(float) * (size_t)n_in * n_tok), *y = malloc(sizeof(float) * (size_t)n_out * n_tok);
    float *src = malloc(sizeof(float) * (size_t)n_in);
    void *scratch = aligned_alloc(64, (cl_matmul_scratch(n_in, n_tok) + 63) / 64 * 64);
    uint8_t *tmp = packed ? malloc(mat) : NULL;
    if (!w || !x || !y || !src || !scratch || (packed && !tmp)) {
        fprintf(stderr, "matmul_bench: out of memory for case '%s'\n", spec);
        return 1;
    }
    /* Distinct random rows for the first 64, repeated after: the kernels' speed does
     * not depend on the values, and quantizing a gigabyte would dominate the run. */
    uint8_t *first = packed ? tmp : w;
    for (long r = 0; r < n_out; r++) {
        if (r < 64) {
            for (long i = 0; i < n_in; i++) src[i] = frand();
            cl_quantize_row(type, src, first + (size_t)r * row, n_in);
        } else {
            memcpy(first + (size_t)r * row, first + (size_t)(r % 64) * row, row);
        }
    }
    cl_tensor t = {first, type, {n_in, n_out}, row, 0, 0};
    if (packed) {
        cl_repack_tensor(pool, &t, w);
        t.packed = 1;
    }
    for (size_t c = 1; c < copies; c++) memcpy(w + c * mat, w, mat);
    for (long i = 0; i < n_in * n_tok; i++) x[i] = frand();

    /* Enough calls per pass to take about 0.3 s at 30 GB/s, at least 4. */
    long calls = (long)(9e9 / (double)mat);
    if (calls < 4) calls = 4;
    double best = 1e30;
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now();
        for (long c = 0; c < calls; c++) {
            t.data = w + (size_t)(c % (long)copies) * mat;
            cl_matmul(k, pool, &t, x, n_tok, y, scratch);
        }
        double dt = (now() - t0) / (double)calls;
        if (dt < best) best = dt;
    }
    double macs = (double)n_in * (double)n_out * n_tok;
    printf("%-6s %-6s %-5s %6ld x %-6ld tok %3d  %8.1f us  %6.2f GB/s", tname, packed ? "inter" : "stored", layout, n_in,
           n_out, n_tok, best * 1e6, (double)mat / best / 1e9);
    if (n_tok > 1) printf("  %6.1f G MAC/s", macs / best / 1e9);
    printf("\n");
    fflush(stdout);
    munmap(w, mat * copies);
    free(x), free(y), free(src), free(scratch), free(tmp);
    return 0;
}

int main(int argc, char **argv) {
    int threads = cl_default_threads(), reps = 5, opt;
    while ((opt = getopt(argc, argv, "t:r:")) != -1) {
        if (opt == 't') threads = atoi(optarg);
        else if (opt == 'r') reps = atoi(optarg);
        else {
            fprintf(stderr, "usage: matmul_bench [-t THREADS] [-r REPS] [TYPE[+p]:N_IN:N_OUT:N_TOK[:mem|file|cache] ...]\n");
            return 2;
        }
    }
    if (reps < 1) {
        fprintf(stderr, "matmul_bench: -r must be at least 1\n");
        return 2;
    }
    cl_pool *pool;
    if (cl_pool_init(threads, &pool)) {
        fprintf(stderr, "matmul_bench: cannot start %d threads\n", threads);
        return 1;
    }
    printf("kernel set %s, %d threads, best of %d\n", kernels_from_env()->isa, threads, reps);
    static const char *defaults[] = {"Q4_0+p:4096:14336:1", "Q8_0+p:4096:14336:1", "Q4_K+p:4096:14336:1",
                                     "Q6_K:4096:14336:1",   "Q4_0+p:4096:14336:64", "Q8_0+p:4096:14336:64",
                                     "Q4_K+p:4096:14336:64", "Q6_K:4096:14336:64"};
    int rc = 0;
    if (optind < argc)
        for (int i = optind; i < argc; i++) rc |= run_case(pool, argv[i], reps);
    else
        for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) rc |= run_case(pool, defaults[i], reps);
    cl_pool_free(pool);
    return rc;
}
