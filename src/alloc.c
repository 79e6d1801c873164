/* alloc.c — the tensor allocator: 64-byte aligned buffers, byte accounting
 * (which drives the Lua GC) and a size-bucketed cache of freed buffers so a
 * training loop reuses its buffers instead of going back to the OS.
 * It does not know about tensors or storages. */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 48           /* bucket k holds capacities in [2^k, 2^(k+1)) */
#define BUCKET_SLOTS 128
#define CACHE_MAX_BLOCK (256LL << 20)
#define CACHE_MAX_TOTAL (1LL << 30)

typedef struct {
    void *ptr;
    int64_t cap;
    int64_t stamp;   /* cache.handed when it was cached */
} block;

static struct {
    pthread_mutex_t lock;
    block slots[NBUCKETS][BUCKET_SLOTS];
    int count[NBUCKETS];
    int64_t handed;  /* bytes handed out so far, cache hits included */
    nl_mem_stats stats;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int bucket_of(int64_t n) { return 63 - __builtin_clzll((unsigned long long)n); }

const nl_mem_stats *nl_mem(void) { return &cache.stats; }

/* what this thread may still allocate (0: no limit); its own, so that
 * one thread's limit fails no other's allocations */
static __thread int64_t budget;

int64_t nl_mem_set_limit(int64_t bytes) {
    int64_t prev = budget;
    budget = bytes > 0 ? bytes : 0;
    return prev;
}

/* *nbytes: in, the size wanted; out, the capacity of the block returned.
 * counted: whether the block adds to `allocated` (a kernel's scratch,
 * freed before it returns, does not). The Lua GC is paced by live_bytes,
 * whose growth between two ops is what Lua's dead handles may hold. */
static void *alloc_block(int64_t *nbytes, bool counted) {
    int64_t want = (*nbytes + 63) & ~(int64_t)63;
    if (want == 0) want = 64;
    int k = bucket_of(want);
    void *p = NULL;
    int64_t cap = want;
    if (budget) {
        if (want >= budget) return NULL;
        budget -= want;
    }
    pthread_mutex_lock(&cache.lock);
    /* best fit within the bucket: capacities there are < 2x the request
     * (requests of 2^48 bytes and more have no bucket; they fail below) */
    int best = -1;
    for (int i = 0; k < NBUCKETS && i < cache.count[k]; i++) {
        int64_t c = cache.slots[k][i].cap;
        if (c >= want && (best < 0 || c < cache.slots[k][best].cap)) best = i;
    }
    if (best >= 0) {
        p = cache.slots[k][best].ptr;
        cap = cache.slots[k][best].cap;
        cache.slots[k][best] = cache.slots[k][--cache.count[k]];
        cache.stats.cached_bytes -= cap;
    }
    pthread_mutex_unlock(&cache.lock);
    if (!p) {
        p = aligned_alloc(64, (size_t)want);
        if (!p) {
            nl_mem_trim();
            p = aligned_alloc(64, (size_t)want);
            if (!p) return NULL;
        }
    }
    pthread_mutex_lock(&cache.lock);
    cache.stats.live_bytes += cap;
    cache.handed += cap;
    if (counted) cache.stats.allocated += cap;
    if (cache.stats.live_bytes > cache.stats.peak_bytes)
        cache.stats.peak_bytes = cache.stats.live_bytes;
    pthread_mutex_unlock(&cache.lock);
    *nbytes = cap;
    return p;
}

void *nl_alloc(int64_t *nbytes) { return alloc_block(nbytes, true); }
void *nl_alloc_scratch(int64_t *nbytes) { return alloc_block(nbytes, false); }

void nl_mem_count(int64_t bytes) {
    pthread_mutex_lock(&cache.lock);
    cache.stats.live_bytes += bytes;
    if (bytes > 0) cache.stats.allocated += bytes;
    if (cache.stats.live_bytes > cache.stats.peak_bytes) cache.stats.peak_bytes = cache.stats.live_bytes;
    pthread_mutex_unlock(&cache.lock);
}

void nl_free(void *ptr, int64_t cap) {
    if (!ptr) return;
    int k = bucket_of(cap);
    pthread_mutex_lock(&cache.lock);
    cache.stats.live_bytes -= cap;
    if (cap <= CACHE_MAX_BLOCK && cache.stats.cached_bytes + cap <= CACHE_MAX_TOTAL) {
        if (cache.count[k] == BUCKET_SLOTS) {
            /* evict the oldest-placed slot to keep the newest buffers warm */
            block old = cache.slots[k][0];
            cache.slots[k][0] = cache.slots[k][--cache.count[k]];
            cache.stats.cached_bytes -= old.cap;
            pthread_mutex_unlock(&cache.lock);
            free(old.ptr);
            pthread_mutex_lock(&cache.lock);
        }
        if (cache.count[k] < BUCKET_SLOTS) {
            cache.slots[k][cache.count[k]++] = (block){ ptr, cap, cache.handed };
            cache.stats.cached_bytes += cap;
            ptr = NULL;
        }
    }
    pthread_mutex_unlock(&cache.lock);
    free(ptr);
}

/* A cached block that stayed unused while the allocator handed out four
 * times the peak of live memory (at least 64 MB) will not be used: the
 * sizes it fits are gone (a length that grew past them). Back to the OS
 * with it. A training loop hands out about its peak or twice it a step and
 * reuses its blocks every step. (Counting collections instead freed a big
 * model's activations between two steps: several collections run in one
 * step once its garbage passes the collector's budget, and every step
 * page-faulted its buffers in again.) */
void nl_mem_tick(void) {
    pthread_mutex_lock(&cache.lock);
    int64_t window = 4 * cache.stats.peak_bytes;
    if (window < (64LL << 20)) window = 64LL << 20;
    for (int k = 0; k < NBUCKETS; k++) {
        for (int i = 0; i < cache.count[k];) {
            block b = cache.slots[k][i];
            if (cache.handed - b.stamp > window) {
                free(b.ptr);
                cache.stats.cached_bytes -= b.cap;
                cache.slots[k][i] = cache.slots[k][--cache.count[k]];
            } else {
                i++;
            }
        }
    }
    pthread_mutex_unlock(&cache.lock);
}

void nl_mem_trim(void) {
    pthread_mutex_lock(&cache.lock);
    for (int k = 0; k < NBUCKETS; k++) {
        for (int i = 0; i < cache.count[k]; i++) free(cache.slots[k][i].ptr);
        cache.count[k] = 0;
    }
    cache.stats.cached_bytes = 0;
    pthread_mutex_unlock(&cache.lock);
}

/* ---- small objects ----
 * Tensor, storage and node structs come and go with every op; a
 * per-thread stack of freed ones per kind keeps them off malloc's slow
 * paths. Their
 * bytes count in `allocated` and `object_bytes`, so loops of tiny tensors
 * still drive the binding's GC. */
/* per kind and thread: what a GC frees past this goes back to malloc. A
 * thread that frees objects another made (a consumer of a producer's
 * tensors) grew its stacks to 2^20 each, some 450 MB. */
#define OBJ_CACHE (1 << 16)

static const size_t obj_sizes[NL_OBJ_KINDS] = {
    sizeof(nl_tensor), sizeof(nl_storage), sizeof(nl_node), sizeof(nl_tensor_block),
};

/* Per thread: a stack of freed objects per kind, and the object bytes not
 * yet added to `allocated` (one atomic add per 64 kB). One struct, so an
 * op finds it with one TLS lookup. A stack, not a list chained through
 * the objects, so the objects a few pops ahead can be prefetched: those a
 * GC freed long ago are out of cache, and reading one only when it is
 * handed out stalls the op. */
typedef struct { void **v; int64_t n, cap; } obj_stack;

static __thread struct {
    obj_stack free[NL_OBJ_KINDS];
    int64_t bytes_pending;
} objs;

#define OBJ_PREFETCH_AHEAD 4

/* zero and prefetch whole objects with sizes the compiler knows, so the
 * stores and prefetches are inline rather than a memset call and a loop */
#define OBJ_CASES(X) X(NL_OBJ_TENSOR, nl_tensor) X(NL_OBJ_STORAGE, nl_storage) \
                     X(NL_OBJ_NODE, nl_node) X(NL_OBJ_BLOCK, nl_tensor_block)

/* plain 16-byte stores: for a few hundred bytes, the `rep stos` a memset
 * becomes costs more than the stores themselves */
typedef long long obj_v2 __attribute__((vector_size(16)));

__attribute__((optimize("no-tree-loop-distribute-patterns")))
static inline void zero16(void *p, size_t bytes) {
    obj_v2 *v = p;
    for (size_t i = 0; i < bytes / 16; i++) v[i] = (obj_v2){ 0, 0 };
}

static inline void obj_zero(int kind, void *p) {
    switch (kind) {
#define ZERO(K, T) case K: zero16(p, (sizeof(T) + 15) & ~(size_t)15); break;
    OBJ_CASES(ZERO)
#undef ZERO
    }
}

static inline void obj_prefetch(int kind, const char *p) {
    switch (kind) {
#define PREFETCH(K, T) case K: for (size_t off = 0; off < sizeof(T); off += 64) __builtin_prefetch(p + off, 1); break;
    OBJ_CASES(PREFETCH)
#undef PREFETCH
    }
}

/* an empty stack: a fresh object from malloc (out of line, as above) */
__attribute__((noinline)) static void *obj_alloc_slow(int kind) {
    size_t size = (obj_sizes[kind] + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, size);
    if (p) memset(p, 0, size);
    return p;
}

void *nl_obj_alloc(int kind) {
    objs.bytes_pending += (int64_t)obj_sizes[kind];
    if (objs.bytes_pending >= 65536) {
        __atomic_add_fetch(&cache.stats.allocated, objs.bytes_pending, __ATOMIC_RELAXED);
        __atomic_add_fetch(&cache.stats.object_bytes, objs.bytes_pending, __ATOMIC_RELAXED);
        objs.bytes_pending = 0;
    }
    obj_stack *st = &objs.free[kind];
    if (st->n > 0) {
        void *p = st->v[--st->n];
        if (st->n >= OBJ_PREFETCH_AHEAD) obj_prefetch(kind, st->v[st->n - OBJ_PREFETCH_AHEAD]);
        obj_zero(kind, p);
        return p;
    }
    return obj_alloc_slow(kind);
}

/* A thread's stacks go with it: its cached objects were never freed when it
 * ended (a host that runs each job on a new thread lost ~1 MB a thread). */
static pthread_key_t objs_key;
static pthread_once_t objs_key_once = PTHREAD_ONCE_INIT;

static void objs_release(void *arg) {
    obj_stack *stacks = arg;
    nl_release_list_free();
    nl_backward_spares_free();
    nl_hooked_list_free();
    /* (objs.bytes_pending, counted in nl_obj_alloc, is this thread's and
     * gone with it: a few kB at most, never added to `allocated`) */
    for (int kind = 0; kind < NL_OBJ_KINDS; kind++) {
        obj_stack *st = &stacks[kind];
        for (int64_t i = 0; i < st->n; i++) free(st->v[i]);
        free(st->v);
        *st = (obj_stack){ 0 };
    }
}

static void objs_key_init(void) { (void)pthread_key_create(&objs_key, objs_release); }

/* a full stack: grown, or p goes back to malloc (kept out of line, so the
 * common push saves no registers) */
__attribute__((noinline)) static void obj_free_slow(obj_stack *st, void *p) {
    if (!st->cap) {   /* this thread's first: its stacks are released at its exit */
        pthread_once(&objs_key_once, objs_key_init);
        (void)pthread_setspecific(objs_key, objs.free);
    }
    int64_t cap = st->cap ? st->cap * 2 : 1024;
    void **v = cap <= OBJ_CACHE ? realloc(st->v, sizeof(void *) * cap) : NULL;
    if (!v) { free(p); return; }
    st->v = v;
    st->cap = cap;
    st->v[st->n++] = p;
}

void nl_obj_free(int kind, void *p) {
    if (!p) return;
    obj_stack *st = &objs.free[kind];
    if (st->n == st->cap) obj_free_slow(st, p);
    else st->v[st->n++] = p;
}
