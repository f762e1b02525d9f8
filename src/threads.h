/* A fixed pool of worker threads that run one task at a time on all threads.
 * Workers spin briefly between tasks (layers dispatch many small tasks per token),
 * then sleep on a condition variable (a futex) so an idle pool costs no CPU; the
 * caller waiting for the last share does the same. A worker that has not started its
 * share when another thread is done with its own loses the share to that thread, so a
 * busy machine's descheduled worker does not hold up every task. The public
 * cllama_threadpool is this pool. Several threads may submit tasks at once (contexts
 * sharing a pool): each run takes the pool for its duration, so their tasks
 * interleave, one at a time. */
#ifndef CL_THREADS_H
#define CL_THREADS_H

#include <stdint.h>

#include "cllama.h"

typedef struct cllama_threadpool cl_pool;

/* fn(arg, ith, nth) runs once on each of nth threads; ith = 0 is the caller. */
typedef void (*cl_task_fn)(void *arg, int ith, int nth);

/* n_threads >= 1 (1: no worker threads). */
int cl_pool_init(int n_threads, cl_pool **out);
void cl_pool_free(cl_pool *p);
int cl_pool_size(const cl_pool *p);
/* Runs fn on every thread and returns when all have finished. */
void cl_pool_run(cl_pool *p, cl_task_fn fn, void *arg);

/* fn(arg, item, ith) once for each item in 0..n_items-1, the threads taking items from
 * a shared counter, so a thread slowed by the rest of the machine (or given the costly
 * items) takes fewer instead of holding the others up at the end. */
typedef void (*cl_item_fn)(void *arg, int64_t item, int ith);
void cl_pool_run_items(cl_pool *p, int64_t n_items, cl_item_fn fn, void *arg);

/* As cl_pool_run_items, but thread i first takes the items of its own contiguous share
 * (cl_split) in order, then the ones the others have not reached, from the back. Each
 * thread so walks long runs of neighbouring items, as streaming from memory wants
 * (the hardware prefetcher keeps a run going), and a slow thread is still helped at
 * the end, one item at a time. */
void cl_pool_run_ranges(cl_pool *p, int64_t n_items, cl_item_fn fn, void *arg);

/* Rows [*lo, *hi) of n for thread ith of nth, in multiples of `align` rows. */
void cl_split(int64_t n, int ith, int nth, int64_t align, int64_t *lo, int64_t *hi);

/* Physical cores among the CPUs this process may run on (its affinity), if known,
 * else those CPUs. */
int cl_default_threads(void);
/* CPUs this process may run on (sched_getaffinity), else the online ones. */
int cl_usable_cpus(void);

#endif
