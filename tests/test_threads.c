/* The thread pool (src/threads.c) on an oversubscribed machine: pools of 2, 5 and 32
 * threads (more than this machine's CPUs, so workers get descheduled mid-task and
 * shares get taken over by the threads that finished theirs), thousands of tasks each:
 *  1. cl_pool_run: every share 0..n-1 of every task runs exactly once, whoever runs it;
 *  2. cl_pool_run_items and cl_pool_run_ranges: every item exactly once;
 *  3. two threads submitting to one pool at once: their tasks interleave, each exact;
 *  4. a pool that idles (workers asleep) runs its next task exactly as well.
 * It checks semantics, not speed (bench/contention.sh measures that). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "threads.h"

#define MAX_N 32
#define ITEMS 777

typedef struct {
    atomic_int runs[MAX_N];
    atomic_int items[ITEMS];
    volatile double sink[MAX_N];
} job;

static void share_task(void *arg, int ith, int nth) {
    job *j = arg;
    atomic_fetch_add(&j->runs[ith], 1);
    double x = 0; /* a little work, more for some shares */
    for (int k = 0; k < 200 * (1 + ith % 3) * (nth > 8 ? 1 : 4); k++) x += k * 1e-9;
    j->sink[ith] = x;
}

static void item_task(void *arg, int64_t item, int ith) {
    job *j = arg;
    (void)ith;
    atomic_fetch_add(&j->items[item], 1);
}

/* n_tasks tasks of each kind on p; the number that went wrong. */
static int hammer(cl_pool *p, int n_tasks) {
    int n = cl_pool_size(p), bad = 0;
    job *j = calloc(1, sizeof *j);
    for (int t = 0; t < n_tasks; t++) {
        for (int i = 0; i < n; i++) atomic_store(&j->runs[i], 0);
        cl_pool_run(p, share_task, j);
        for (int i = 0; i < n; i++) bad += atomic_load(&j->runs[i]) != 1;
        int64_t n_items = 1 + t % ITEMS;
        for (int64_t i = 0; i < n_items; i++) atomic_store(&j->items[i], 0);
        if (t & 1) cl_pool_run_items(p, n_items, item_task, j);
        else cl_pool_run_ranges(p, n_items, item_task, j);
        for (int64_t i = 0; i < n_items; i++) bad += atomic_load(&j->items[i]) != 1;
    }
    free(j);
    return bad;
}

typedef struct {
    cl_pool *p;
    int bad;
} submitter;

static void *submit_main(void *arg) {
    submitter *s = arg;
    s->bad = hammer(s->p, 300);
    return NULL;
}

int main(void) {
    const int sizes[] = {2, 5, MAX_N};
    for (int k = 0; k < 3; k++) {
        cl_pool *p;
        if (cl_pool_init(sizes[k], &p)) return 1;
        int bad = hammer(p, 1500);
        CHECK(bad == 0, "%d threads (this machine runs %d at once), 1500 tasks of each kind: every share and item "
              "exactly once (%d wrong)", sizes[k], cl_usable_cpus(), bad);
        submitter a = {p, 0}, b = {p, 0};
        pthread_t ta, tb;
        pthread_create(&ta, NULL, submit_main, &a);
        pthread_create(&tb, NULL, submit_main, &b);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        CHECK(a.bad == 0 && b.bad == 0, "%d threads, two submitters at once: each task exact", sizes[k]);
        struct timespec nap = {0, 20 * 1000 * 1000};
        nanosleep(&nap, NULL); /* the workers fall asleep */
        CHECK(hammer(p, 3) == 0, "%d threads after idling 20 ms: exact", sizes[k]);
        cl_pool_free(p);
    }
    CHECK(cl_default_threads() >= 1 && cl_default_threads() <= cl_usable_cpus(),
          "default threads %d: physical cores among the %d CPUs this process may use", cl_default_threads(),
          cl_usable_cpus());
    printf("%s\n", fails ? "FAIL" : "all passed");
    return fails ? 1 : 0;
}
