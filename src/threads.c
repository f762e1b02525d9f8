#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* Spins before sleeping, in nanoseconds: longer than the gap between two ops of a layer
 * (a few microseconds), much shorter than a scheduler's time slice, so a thread that
 * waits on a busy machine soon gives its core to whoever needs it. Counted in time:
 * a pause instruction takes 10 cycles on some cores and 140 on others. */
#define SPIN_NS 50000

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One thread's share in cl_pool_run_ranges: items [front, back) still to run, front in
 * the low 32 bits and back in the high ones, so owner and thieves claim by one CAS. On
 * its own cache line: the owner updates it once per item. */
typedef struct {
    _Alignas(64) atomic_ullong fb;
} range_slot;

struct cllama_threadpool {
    int n;
    pthread_mutex_t run_mu; /* held by the thread whose task the pool runs */
    range_slot *slots; /* [n] */
    pthread_t *threads;
    atomic_uint generation; /* bumped once per task */
    /* Shares 1..n-1 of the current task not finished yet. Share i is its worker's, but
     * whoever claims it first runs it (claimed[i]): a worker the OS has not scheduled
     * yet (a busy machine) has its share taken by a thread that has finished its own,
     * instead of everyone waiting for it. */
    atomic_int pending;
    atomic_int *claimed; /* [n] */
    atomic_int stop;
    cl_task_fn fn;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* workers sleep here between tasks */
    pthread_cond_t done_cv; /* the caller sleeps here until the last share is done */
};

typedef struct {
    cl_pool *pool;
    int ith;
} worker_arg;

/* Runs share i of the current task if nobody has claimed it; 1 if it ran it. */
static int run_share(cl_pool *p, int i) {
    int free_ = 0;
    if (!atomic_compare_exchange_strong(&p->claimed[i], &free_, 1)) return 0;
    p->fn(p->arg, i, p->n);
    if (atomic_fetch_sub(&p->pending, 1) == 1) { /* the last one wakes the caller if it sleeps */
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
    return 1;
}

/* After one's own share: the shares of workers that have not started. */
static void run_late_shares(cl_pool *p, int self) {
    for (int k = 1; k < p->n; k++)
        if (k != self && !atomic_load_explicit(&p->claimed[k], memory_order_relaxed)) run_share(p, k);
}

static void *worker(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    cl_pool *pool = wa.pool;
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int64_t t0 = now_ns();
        for (int spins = 0; (gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
                            !atomic_load_explicit(&pool->stop, memory_order_relaxed);
             spins++) {
            if ((spins & 63) == 63 && now_ns() - t0 > SPIN_NS) break;
            cpu_relax();
        }
        if (gen == seen && !atomic_load(&pool->stop)) {
            pthread_mutex_lock(&pool->mu);
            while ((gen = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->cv, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load(&pool->stop)) break;
        seen = gen;
        run_share(pool, wa.ith);
        run_late_shares(pool, wa.ith);
    }
    return NULL;
}

int cl_pool_init(int n_threads, cl_pool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return cl_err(CLLAMA_E_INVALID, "thread count %d out of range (1 to 1024)", n_threads);
    cl_pool *p = calloc(1, sizeof *p);
    if (!p) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    p->n = n_threads;
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return cl_err(CLLAMA_E_NOMEM, "out of memory");
    }
    p->slots = aligned_alloc(64, sizeof *p->slots * (size_t)n_threads);
    p->claimed = calloc((size_t)n_threads, sizeof *p->claimed);
    if (!p->slots || !p->claimed) {
        free(p->slots);
        free(p->claimed);
        free(p->threads);
        free(p);
        return cl_err(CLLAMA_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < n_threads; i++) atomic_init(&p->claimed[i], 1); /* no task yet */
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->run_mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) *wa = (worker_arg){p, i};
        if (!wa || pthread_create(&p->threads[i], NULL, worker, wa)) {
            free(wa);
            p->n = i; /* only the threads started so far are joined */
            cl_pool_free(p);
            return cl_err(CLLAMA_E_NOMEM, "cannot start worker thread %d", i);
        }
    }
    *out = p;
    return CLLAMA_OK;
}

void cl_pool_free(cl_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->run_mu);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->done_cv);
    free(p->threads);
    free(p->slots);
    free(p->claimed);
    free(p);
}

int cl_pool_size(const cl_pool *p) { return p->n; }

/* Runs fn on every thread; the caller holds run_mu. */
static void run_locked(cl_pool *p, cl_task_fn fn, void *arg) {
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    for (int i = 1; i < p->n; i++) atomic_store(&p->claimed[i], 0); /* after fn, arg: a claim reads them */
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    run_late_shares(p, 0);
    int64_t t0 = now_ns();
    for (int spins = 0; atomic_load(&p->pending) > 0; spins++) {
        if ((spins & 63) == 63 && now_ns() - t0 > SPIN_NS) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done_cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
            break;
        }
        cpu_relax();
    }
}

void cl_pool_run(cl_pool *p, cl_task_fn fn, void *arg) {
    pthread_mutex_lock(&p->run_mu);
    run_locked(p, fn, arg);
    pthread_mutex_unlock(&p->run_mu);
}

typedef struct {
    cl_item_fn fn;
    void *arg;
    int64_t n;
    atomic_llong next;
} items_job;

static void items_task(void *arg, int ith, int nth) {
    (void)nth;
    items_job *j = arg;
    for (int64_t i; (i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n;) j->fn(j->arg, i, ith);
}

void cl_pool_run_items(cl_pool *p, int64_t n_items, cl_item_fn fn, void *arg) {
    items_job j = {.fn = fn, .arg = arg, .n = n_items};
    atomic_init(&j.next, 0);
    cl_pool_run(p, items_task, &j);
}

/* Claims the front (or back) item of slot s into *item; 0 once the slot is empty. */
static int range_take(range_slot *s, int from_back, int64_t *item) {
    unsigned long long v = atomic_load_explicit(&s->fb, memory_order_relaxed);
    for (;;) {
        unsigned long long f = v & 0xFFFFFFFFu, b = v >> 32;
        if (f >= b) return 0;
        unsigned long long nv = from_back ? (b - 1) << 32 | f : b << 32 | (f + 1);
        if (atomic_compare_exchange_weak_explicit(&s->fb, &v, nv, memory_order_relaxed, memory_order_relaxed)) {
            *item = (int64_t)(from_back ? b - 1 : f);
            return 1;
        }
    }
}

typedef struct {
    cl_pool *pool;
    cl_item_fn fn;
    void *arg;
} ranges_job;

static void ranges_task(void *arg, int ith, int nth) {
    ranges_job *j = arg;
    int64_t it;
    while (range_take(&j->pool->slots[ith], 0, &it)) j->fn(j->arg, it, ith);
    for (int k = 1; k < nth; k++)
        while (range_take(&j->pool->slots[(ith + k) % nth], 1, &it)) j->fn(j->arg, it, ith);
}

void cl_pool_run_ranges(cl_pool *p, int64_t n_items, cl_item_fn fn, void *arg) {
    if (n_items >= (int64_t)1 << 32) {
        cl_pool_run_items(p, n_items, fn, arg);
        return;
    }
    pthread_mutex_lock(&p->run_mu);
    for (int i = 0; i < p->n; i++) {
        int64_t lo, hi;
        cl_split(n_items, i, p->n, 1, &lo, &hi);
        atomic_store_explicit(&p->slots[i].fb, (unsigned long long)hi << 32 | (unsigned long long)lo, memory_order_relaxed);
    }
    ranges_job j = {p, fn, arg};
    run_locked(p, ranges_task, &j);
    pthread_mutex_unlock(&p->run_mu);
}

void cl_split(int64_t n, int ith, int nth, int64_t align, int64_t *lo, int64_t *hi) {
    int64_t units = (n + align - 1) / align;
    int64_t per = units / nth, extra = units % nth;
    int64_t u0 = ith * per + (ith < extra ? ith : extra);
    int64_t u1 = u0 + per + (ith < extra ? 1 : 0);
    *lo = u0 * align < n ? u0 * align : n;
    *hi = u1 * align < n ? u1 * align : n;
}

int cl_usable_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

int cl_default_threads(void) {
    /* Count distinct (physical id, core id) pairs of the CPUs this process may run on
     * (taskset, cgroups' cpusets, mpirun's binding): SMT siblings share a core, and
     * matrix kernels gain nothing from a second thread on the same core. */
    cpu_set_t set;
    int have_set = sched_getaffinity(0, sizeof set, &set) == 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    int cores = 0;
    if (f) {
        char line[256];
        int phys = 0, cpu = -1;
        int seen[1024][2];
        while (fgets(line, sizeof line, f)) {
            int v;
            if (sscanf(line, "processor : %d", &v) == 1) cpu = v;
            else if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
            else if (sscanf(line, "core id : %d", &v) == 1) {
                if (have_set && cpu >= 0 && cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set)) continue;
                int dup = 0;
                for (int i = 0; i < cores; i++)
                    if (seen[i][0] == phys && seen[i][1] == v) dup = 1;
                if (!dup && cores < 1024) {
                    seen[cores][0] = phys;
                    seen[cores][1] = v;
                    cores++;
                }
            }
        }
        fclose(f);
    }
    int usable = cl_usable_cpus();
    if (cores <= 0 || cores > usable) cores = usable;
    return cores;
}

int cllama_default_threads(void) { return cl_default_threads(); }

int cllama_threadpool_init(int n_threads, cllama_threadpool **out) {
    if (!out) return cl_err(CLLAMA_E_INVALID, "cllama_threadpool_init: no output pointer");
    return cl_pool_init(n_threads > 0 ? n_threads : cl_default_threads(), out);
}

void cllama_threadpool_free(cllama_threadpool *pool) { cl_pool_free(pool); }
int cllama_threadpool_n_threads(const cllama_threadpool *pool) { return pool->n; }
