/* test_threads_memory.c — host threads and the allocator's per-thread
 * caches of tensor, storage and node structs: a thread's cache is freed
 * when the thread ends, and a thread that releases what another made keeps
 * a bounded cache. Both are measured as resident memory. */
#include "check.h"

#include <pthread.h>
#include <semaphore.h>

static long rss_kb(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident * 4;
}

#define JOB_TENSORS 2000

static void *job(void *arg) {
    (void)arg;
    int64_t sz[1] = { 4 };
    nl_tensor *t[JOB_TENSORS];
    for (int i = 0; i < JOB_TENSORS; i++) t[i] = nl_full(1, sz, 1.0, NL_FLOAT32);
    for (int i = 0; i < JOB_TENSORS; i++) nl_release(t[i]);
    return NULL;
}

/* each job on a new thread: the thread's cached structs outlived it, about
 * 1 MB a thread (100 threads: 90 MB) */
TEST(a_thread_that_ends_leaves_no_cached_structs) {
    pthread_t th;
    for (int i = 0; i < 5; i++) {   /* warm up malloc's arenas */
        pthread_create(&th, NULL, job, NULL);
        pthread_join(th, NULL);
    }
    long before = rss_kb();
    for (int i = 0; i < 100; i++) {
        pthread_create(&th, NULL, job, NULL);
        pthread_join(th, NULL);
    }
    long grew = rss_kb() - before;
    if (grew >= 20 * 1024) fprintf(stderr, "  100 threads grew RSS by %ld kB\n", grew);
    CHECK(before > 0 && grew < 20 * 1024);
}

/* a backward over a chain of 30k ops: its node lists (kept per thread
 * between backwards) outlived the thread, ~0.7 MB a thread */
static void *backward_job(void *arg) {
    (void)arg;
    int64_t sz[1] = { 1 };
    nl_tensor *x = nl_full(1, sz, 1.0, NL_FLOAT32);
    nl_set_requires_grad(x, 1);
    nl_tensor *y = x;
    nl_retain(y);
    for (int i = 0; i < 30000; i++) {
        nl_tensor *z = nl_binary_scalar(NL_OP_MUL, y, 1.0, 0);
        nl_release(y);
        y = z;
    }
    nl_backward(y, NULL, 0);
    nl_release(y);
    nl_release(x);
    return NULL;
}

TEST(a_thread_that_ran_backward_leaves_no_node_lists) {
    pthread_t th;
    for (int i = 0; i < 3; i++) {
        pthread_create(&th, NULL, backward_job, NULL);
        pthread_join(th, NULL);
    }
    long before = rss_kb();
    for (int i = 0; i < 30; i++) {
        pthread_create(&th, NULL, backward_job, NULL);
        pthread_join(th, NULL);
    }
    long grew = rss_kb() - before;
    if (grew >= 8 * 1024) fprintf(stderr, "  30 threads of backward grew RSS by %ld kB\n", grew);
    CHECK(before > 0 && grew < 8 * 1024);
}

#define BATCH 1000
static nl_tensor *batch[BATCH];
static sem_t filled, emptied;
static int stop;

static void *consumer(void *arg) {
    (void)arg;
    for (;;) {
        sem_wait(&filled);
        if (stop) break;
        for (int i = 0; i < BATCH; i++) nl_release(batch[i]);
        sem_post(&emptied);
    }
    return NULL;
}

/* the main thread makes, a worker releases: the worker's cache took every
 * struct up to 2^20 of each kind (some 450 MB), and the maker kept going
 * to malloc */
TEST(a_thread_that_releases_another_threads_tensors_keeps_a_bounded_cache) {
    sem_init(&filled, 0, 0);
    sem_init(&emptied, 0, 1);
    stop = 0;
    pthread_t th;
    pthread_create(&th, NULL, consumer, NULL);
    int64_t sz[1] = { 4 };
    long before = 0;
    for (int n = 0; n < 400; n++) {
        sem_wait(&emptied);
        if (n == 20) before = rss_kb();
        for (int i = 0; i < BATCH; i++) batch[i] = nl_full(1, sz, 1.0, NL_FLOAT32);
        sem_post(&filled);
    }
    sem_wait(&emptied);
    long grew = rss_kb() - before;
    stop = 1;
    sem_post(&filled);
    pthread_join(th, NULL);
    sem_destroy(&filled);
    sem_destroy(&emptied);
    if (grew >= 64 * 1024) fprintf(stderr, "  380 batches grew RSS by %ld kB\n", grew);
    CHECK(before > 0 && grew < 64 * 1024);
}
