/* dist.h over MPI (Open MPI): the start-up protocol and the pipeline's transport.
 *
 * Start-up, every rank in the same order (collectives on MPI_COMM_WORLD):
 *   1. Gather   each rank's available memory, to rank 0;
 *   2. Bcast    rank 0's request: the model path and each rank's layer range (or quit:
 *               rank 0's command ended before loading a model);
 *   3. Gather   each rank's outcome: 0 or its error message, its host, its file's size
 *               and the checksum of its first MiB;
 *   4. Bcast    rank 0's verdict: serve, or every rank exits 1 (rank 0 printed why).
 * Then ranks 1..n-1 serve their layers (cllama_pipe_serve) until rank 0's
 * cllama_pipe_end. Pipeline messages are point-to-point on tag TAG_PIPE. */
#include <fcntl.h>
#include <sched.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cllama_toolkit.h"
#include "dist.h"

#define TAG_PIPE 7
#define MAX_RANKS 64
#define ID_BYTES (1u << 20) /* the file's checksum covers its first MiB: the header */

enum { ST_NONE, ST_SERVING, ST_FAILED };

static int g_mpi, g_rank, g_size = 1, g_state, g_local = 1;
static int g_split[MAX_RANKS], g_n_split;
static cllama_pipe g_pipe;

typedef struct {
    int32_t quit;
    int32_t begin[MAX_RANKS], end[MAX_RANKS];
    int32_t no_repack;
    char kernels[32];
    char path[4096];
} load_req;

typedef struct {
    int32_t rc;
    int32_t layer_begin, layer_end;
    uint64_t size, sum;
    char host[64];
    char msg[256];
} load_ack;

/* ---- transport ---- */

/* Completes req without holding a core: a stage waits most of the time (for the
 * stages before it, in generation), and ranks that share a machine need its cores for
 * the stage at work; MPI_Send and MPI_Recv poll (spin, or yield and spin) and a
 * spinning rank there takes a core from the other's threads for a scheduler's time
 * slice (milliseconds). This polls for 20 us, then sleeps between polls, 10 us at
 * first, doubling up to 200 us: at most that much latency a hop, against milliseconds
 * of compute a stage. */
static int reap_sends(int wait);
static int g_n_sends;

static int wait_for(MPI_Request *req) {
    int done = 0;
    double t0 = MPI_Wtime();
    long nap = 10000;
    while (!done) {
        if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return -1;
        /* a background send still moving needs this rank's polls (a large one goes in
         * fragments, each answered here): no long naps until it is through */
        if (!done && g_n_sends && !reap_sends(0) && g_n_sends) nap = 10000;
        if (!done && MPI_Wtime() - t0 > 20e-6) {
            struct timespec ts = {0, nap};
            nanosleep(&ts, NULL);
            if (nap < 200000) nap *= 2;
        }
    }
    return 0;
}

/* One message of n bytes to or from `peer`, in pieces of at most 1 GiB (MPI counts are
 * ints); the other side cuts it the same way. */
static int transfer(int sending, int peer, char *p, size_t n) {
    while (n) {
        int k = n > (1u << 30) ? 1 << 30 : (int)n;
        MPI_Request req;
        int rc = sending ? MPI_Isend(p, k, MPI_BYTE, peer, TAG_PIPE, MPI_COMM_WORLD, &req)
                         : MPI_Irecv(p, k, MPI_BYTE, peer, TAG_PIPE, MPI_COMM_WORLD, &req);
        if (rc != MPI_SUCCESS || wait_for(&req)) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Sends in the background: a stage hands its hidden states on and goes back to work
 * while MPI moves them (a large message waits for the receiver, which may still be
 * busy with the batch before). Each keeps its own copy of the data; they complete in
 * the progress calls the library makes between layers, in later sends and receives,
 * and before MPI_Finalize. Messages between two ranks still arrive in the order sent. */
#define SEND_BYTES_MAX ((size_t)512 << 20) /* copies held at once; beyond, a send waits */
typedef struct {
    MPI_Request req;
    void *copy;
    size_t n;
} bg_send;
static bg_send *g_sends;
static int g_cap_sends, g_send_failed;
static size_t g_send_bytes;

/* Frees the sends that completed (all of them, waiting, with `wait`); -1 if one failed. */
static int reap_sends(int wait) {
    for (int i = 0; i < g_n_sends;) {
        int done = 0;
        if (wait) {
            if (wait_for(&g_sends[i].req)) g_send_failed = 1;
            done = 1;
        } else if (MPI_Test(&g_sends[i].req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            g_send_failed = 1;
            done = 1;
        }
        if (!done) {
            i++;
            continue;
        }
        free(g_sends[i].copy);
        g_send_bytes -= g_sends[i].n;
        g_sends[i] = g_sends[--g_n_sends];
    }
    return g_send_failed ? -1 : 0;
}

static void mpi_progress(void *data) {
    (void)data;
    if (g_n_sends) reap_sends(0);
}

static int mpi_send(void *data, int to, const void *buf, size_t n) {
    (void)data;
    if (reap_sends(g_send_bytes + n > SEND_BYTES_MAX)) return -1;
    if (n > SEND_BYTES_MAX || n > (1u << 30)) return transfer(1, to, (char *)buf, n); /* too big to copy */
    if (g_n_sends == g_cap_sends) {
        int cap = g_cap_sends ? 2 * g_cap_sends : 16;
        bg_send *ns = realloc(g_sends, (size_t)cap * sizeof *ns);
        if (!ns) return transfer(1, to, (char *)buf, n);
        g_sends = ns, g_cap_sends = cap;
    }
    bg_send *s = &g_sends[g_n_sends];
    if (!(s->copy = malloc(n ? n : 1))) return transfer(1, to, (char *)buf, n);
    memcpy(s->copy, buf, n);
    s->n = n;
    if (MPI_Isend(s->copy, (int)n, MPI_BYTE, to, TAG_PIPE, MPI_COMM_WORLD, &s->req) != MPI_SUCCESS) {
        free(s->copy);
        return -1;
    }
    g_n_sends++;
    g_send_bytes += n;
    return 0;
}

static int mpi_recv(void *data, int from, void *buf, size_t n) {
    (void)data;
    return reap_sends(0) ? -1 : transfer(0, from, buf, n);
}

/* ---- start-up ---- */

/* mpirun stops the job when a rank dies: it sends SIGTERM to the others. Rank 0 says
 * so on its way out (only async-signal-safe calls here). */
static void on_term(int sig) {
    (void)sig;
    static const char m[] = "cllama: stopped by mpirun: another rank of the job ended (its message or mpirun's "
                            "says which) or the job was interrupted\n";
    ssize_t w = write(2, m, sizeof m - 1);
    (void)w;
    _exit(1);
}

int dist_init(int *argc, char ***argv) {
    int under_mpirun = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
    const char *split = NULL;
    for (int i = 1; i < *argc; i++)
        if (!strcmp((*argv)[i], "--layer-split")) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "cllama: --layer-split needs a value (layers per rank, e.g. 10,22)\n");
                return EXIT_USAGE;
            }
            split = (*argv)[i + 1];
            for (int j = i; j + 2 <= *argc; j++) (*argv)[j] = (*argv)[j + 2];
            *argc -= 2;
            i--;
        }
    if (!under_mpirun) {
        if (split) fprintf(stderr, "cllama: --layer-split only means something under mpirun -np N\n");
        return split ? EXIT_USAGE : 0;
    }
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    g_mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm here; /* the ranks sharing this machine */
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &here) == MPI_SUCCESS) {
        MPI_Comm_size(here, &g_local);
        MPI_Comm_free(&here);
    }
    if (g_size > MAX_RANKS) {
        if (!g_rank) fprintf(stderr, "cllama: %d ranks; at most %d\n", g_size, MAX_RANKS);
        MPI_Finalize();
        exit(EXIT_USAGE);
    }
    if (split) {
        char *end;
        const char *s = split;
        for (g_n_split = 0; *s && g_n_split < MAX_RANKS; g_n_split++) {
            long v = strtol(s, &end, 10);
            if (end == s || v < 1 || v > 100000 || (*end && *end != ',')) break;
            g_split[g_n_split] = (int)v;
            s = *end ? end + 1 : end;
        }
        if (*s || g_n_split != g_size) {
            if (!g_rank)
                fprintf(stderr, "cllama: --layer-split '%s': expected %d positive layer counts, one per rank, "
                        "comma-separated\n", split, g_size);
            MPI_Finalize();
            exit(EXIT_USAGE);
        }
    }
    if (!g_rank && g_size > 1) signal(SIGTERM, on_term);
    /* mpirun binds each rank to one core by default (for 2 ranks or fewer); a rank runs
     * a pool of threads, which then share that core: Llama 2 7B Q8_0 over 2 ranks of 2
     * threads on the 2-core host gave tg 0.91 t/s bound, 2.46 unbound (2.62 in one
     * process). The rank takes every online CPU back; mpirun --bind-to none does the same. */
    cpu_set_t set;
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (!sched_getaffinity(0, sizeof set, &set) && CPU_COUNT(&set) < n_cpu && n_cpu <= CPU_SETSIZE) {
        CPU_ZERO(&set);
        for (long c = 0; c < n_cpu; c++) CPU_SET(c, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    return 0;
}

int dist_size(void) { return g_size; }
int dist_local_ranks(void) { return g_local; }
int dist_rank(void) { return g_rank; }
const cllama_pipe *dist_pipe(void) { return g_state == ST_SERVING && g_size > 1 ? &g_pipe : NULL; }

/* Size and 64-bit FNV-1a of the first ID_BYTES of the file (0, 0 if unreadable). */
static void file_id(const char *path, uint64_t *size, uint64_t *sum) {
    *size = *sum = 0;
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        if (fd >= 0) close(fd);
        return;
    }
    *size = (uint64_t)st.st_size;
    unsigned char *buf = malloc(ID_BYTES);
    ssize_t n = buf ? pread(fd, buf, ID_BYTES, 0) : -1;
    uint64_t h = 0xcbf29ce484222325ull;
    for (ssize_t i = 0; i < n; i++) h = (h ^ buf[i]) * 0x100000001b3ull;
    *sum = h;
    free(buf);
    close(fd);
}

/* Layer counts per rank proportional to each one's available memory (at least one). */
static void split_by_memory(int n_layer, const uint64_t *mem, int *count) {
    double total = 0;
    for (int r = 0; r < g_size; r++) total += (double)mem[r];
    int given = 0;
    for (int r = 0; r < g_size; r++) {
        count[r] = total > 0 ? (int)((double)n_layer * (double)mem[r] / total) : n_layer / g_size;
        if (count[r] < 1) count[r] = 1;
        given += count[r];
    }
    for (int r = 0; given < n_layer; r = (r + 1) % g_size) count[r]++, given++; /* remainders */
    for (int r = g_size - 1; given > n_layer; r = (r + g_size - 1) % g_size)
        if (count[r] > 1) count[r]--, given--;
}

/* Steps 3 and 4 for this rank: its outcome to rank 0, the verdict back. 1: serve. */
static int settle(const char *cmd, load_ack *mine, const load_req *req) {
    load_ack *all = g_rank ? NULL : calloc((size_t)g_size, sizeof *all);
    MPI_Gather(mine, sizeof *mine, MPI_BYTE, all, sizeof *mine, MPI_BYTE, 0, MPI_COMM_WORLD);
    int ok = 1;
    if (!g_rank) {
        for (int r = 0; r < g_size; r++)
            if (all[r].rc) {
                runtime_error(cmd, "rank %d (%s): %s", r, all[r].host, all[r].msg);
                ok = 0;
            }
        for (int r = 1; ok && r < g_size; r++)
            if (all[r].size != all[0].size || all[r].sum != all[0].sum) {
                runtime_error(cmd, "rank %d (%s) has another model file than rank 0: %llu bytes, first MiB checksum "
                              "%016llx; rank 0's %s: %llu bytes, %016llx", r, all[r].host,
                              (unsigned long long)all[r].size, (unsigned long long)all[r].sum, req->path,
                              (unsigned long long)all[0].size, (unsigned long long)all[0].sum);
                ok = 0;
            }
        if (ok)
            for (int r = 0; r < g_size; r++)
                fprintf(stderr, "%s: rank %d (%s): layers [%d, %d)\n", cmd, r, all[r].host, all[r].layer_begin,
                        all[r].layer_end);
        free(all);
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    g_state = ok ? ST_SERVING : ST_FAILED;
    return ok;
}

/* Loads this rank's part of req (its own path when it has one) into *out. */
static void load_part(const load_req *req, const char *own_path, cllama_model **out, load_ack *ack) {
    const char *path = own_path ? own_path : req->path;
    memset(ack, 0, sizeof *ack);
    gethostname(ack->host, sizeof ack->host - 1);
    ack->layer_begin = req->begin[g_rank];
    ack->layer_end = req->end[g_rank];
    cllama_model_params mp = cllama_model_default_params();
    mp.layer_begin = req->begin[g_rank];
    mp.layer_end = req->end[g_rank];
    mp.no_repack = req->no_repack;
    mp.kernels = req->kernels[0] ? req->kernels : NULL;
    if ((ack->rc = cllama_model_load(path, &mp, out))) {
        snprintf(ack->msg, sizeof ack->msg, "%s", cllama_last_error());
        return;
    }
    file_id(path, &ack->size, &ack->sum);
}

int dist_model_load(const char *cmd, const char *path, const cllama_model_params *mp, cllama_model **out) {
    *out = NULL;
    if (g_size < 2 || g_rank) return cllama_model_load(path, mp, out) ? runtime_error(cmd, "%s", cllama_last_error()) : 0;
    if (g_state != ST_NONE) return runtime_error(cmd, "under mpirun a run loads one model");
    cllama_host host;
    cllama_host_info(&host);
    uint64_t mem[MAX_RANKS];
    MPI_Gather(&host.mem_avail, 1, MPI_UINT64_T, mem, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    load_req *req = calloc(1, sizeof *req);
    load_ack ack;
    memset(&ack, 0, sizeof ack);
    /* the layer count, from the metadata only */
    cllama_model_params vp = cllama_model_default_params();
    vp.vocab_only = 1;
    cllama_model *meta = NULL;
    int n_layer = 0;
    if (cllama_model_load(path, &vp, &meta)) {
        ack.rc = -1;
        snprintf(ack.msg, sizeof ack.msg, "%s", cllama_last_error());
    } else { /* a metadata-only load has no hyperparameters: the block count from the file */
        char arch[64] = "", key[96], val[32] = "";
        cllama_model_meta(meta, "general.architecture", arch, sizeof arch);
        snprintf(key, sizeof key, "%s.block_count", arch);
        cllama_model_meta(meta, key, val, sizeof val);
        n_layer = atoi(val);
        cllama_model_free(meta);
    }
    int count[MAX_RANKS];
    if (!ack.rc && g_n_split) {
        int sum = 0;
        for (int r = 0; r < g_size; r++) sum += count[r] = g_split[r];
        if (sum != n_layer) {
            ack.rc = -1;
            snprintf(ack.msg, sizeof ack.msg, "--layer-split gives %d layers; %s has %d", sum, path, n_layer);
        }
    } else if (!ack.rc && n_layer < g_size) {
        ack.rc = -1;
        snprintf(ack.msg, sizeof ack.msg, "%s has %d layers: fewer than the %d ranks", path, n_layer, g_size);
    } else if (!ack.rc) {
        split_by_memory(n_layer, mem, count);
    }
    if (ack.rc) { /* nothing to load: the others are told to quit, rank 0 says why */
        req->quit = 1;
        MPI_Bcast(req, sizeof *req, MPI_BYTE, 0, MPI_COMM_WORLD);
        g_state = ST_FAILED;
        free(req);
        return runtime_error(cmd, "%s", ack.msg);
    }
    for (int r = 0, b = 0; r < g_size; b += count[r++]) {
        req->begin[r] = b;
        req->end[r] = b + count[r];
    }
    snprintf(req->path, sizeof req->path, "%s", path);
    snprintf(req->kernels, sizeof req->kernels, "%s", mp->kernels ? mp->kernels : "");
    req->no_repack = mp->no_repack;
    MPI_Bcast(req, sizeof *req, MPI_BYTE, 0, MPI_COMM_WORLD);
    load_part(req, NULL, out, &ack);
    int ok = settle(cmd, &ack, req);
    free(req);
    if (!ok) {
        cllama_model_free(*out);
        *out = NULL;
        return EXIT_RUNTIME;
    }
    g_pipe = (cllama_pipe){0, g_size, mpi_send, mpi_recv, NULL, mpi_progress};
    return 0;
}

int dist_worker_main(int argc, char **argv) {
    const char *own = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) own = argv[i + 1];
    cllama_host host;
    cllama_host_info(&host);
    MPI_Gather(&host.mem_avail, 1, MPI_UINT64_T, NULL, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    load_req *req = calloc(1, sizeof *req);
    MPI_Bcast(req, sizeof *req, MPI_BYTE, 0, MPI_COMM_WORLD);
    int rc = 0;
    if (!req->quit) {
        cllama_model *m = NULL;
        load_ack ack;
        load_part(req, own, &m, &ack);
        if (settle("", &ack, req)) {
            cllama_pipe p = {g_rank, g_size, mpi_send, mpi_recv, NULL, mpi_progress};
            if ((rc = cllama_pipe_serve(m, &p, 0)))
                fprintf(stderr, "cllama: rank %d: %s\n", g_rank, cllama_last_error());
            reap_sends(1);
        } else {
            rc = 1;
        }
        cllama_model_free(m);
    }
    free(req);
    MPI_Finalize();
    return rc ? EXIT_RUNTIME : 0;
}

int dist_finalize(int rc) {
    if (!g_mpi) return rc;
    if (g_size > 1 && g_state == ST_NONE) { /* the workers wait for a request: there is none */
        uint64_t mem[MAX_RANKS], mine = 0;
        MPI_Gather(&mine, 1, MPI_UINT64_T, mem, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
        load_req *req = calloc(1, sizeof *req);
        req->quit = 1;
        MPI_Bcast(req, sizeof *req, MPI_BYTE, 0, MPI_COMM_WORLD);
        free(req);
    } else if (g_state == ST_SERVING && g_size > 1) {
        cllama_pipe_end(&g_pipe);
    }
    reap_sends(1);
    MPI_Finalize();
    return rc;
}
