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
} block;

static struct {
    pthread_mutex_t lock;
    block slots[NBUCKETS][BUCKET_SLOTS];
    int count[NBUCKETS];
    nl_mem_stats stats;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int bucket_of(int64_t n) { return 63 - __builtin_clzll((unsigned long long)n); }

const nl_mem_stats *nl_mem(void) { return &cache.stats; }

/* *nbytes: in, the size wanted; out, the capacity of the block returned. */
void *nl_alloc(int64_t *nbytes) {
    int64_t want = (*nbytes + 63) & ~(int64_t)63;
    if (want == 0) want = 64;
    int k = bucket_of(want);
    void *p = NULL;
    int64_t cap = want;
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
    cache.stats.allocated += cap;
    if (cache.stats.live_bytes > cache.stats.peak_bytes)
        cache.stats.peak_bytes = cache.stats.live_bytes;
    pthread_mutex_unlock(&cache.lock);
    *nbytes = cap;
    return p;
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
            cache.slots[k][cache.count[k]++] = (block){ ptr, cap };
            cache.stats.cached_bytes += cap;
            ptr = NULL;
        }
    }
    pthread_mutex_unlock(&cache.lock);
    free(ptr);
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
 * Tensor, storage and node structs come and go with every op; a short
 * per-thread free list per kind keeps them off malloc's slow paths. Their
 * bytes count in `allocated` too, so loops of tiny tensors still drive
 * the binding's GC. */
#define OBJ_CACHE (1 << 20)        /* per kind and thread; a GC can free this many at once */

static const size_t obj_sizes[NL_OBJ_KINDS] = {
    sizeof(nl_tensor), sizeof(nl_storage), sizeof(nl_node), sizeof(nl_tensor_block),
};

/* freed objects chained through their first bytes */
static __thread struct { void *head; int64_t n; } obj_cache[NL_OBJ_KINDS];

/* object bytes not yet added to `allocated`: one atomic add per 64 kB */
static __thread int64_t obj_bytes_pending;

void *nl_obj_alloc(int kind) {
    obj_bytes_pending += (int64_t)obj_sizes[kind];
    if (obj_bytes_pending >= 65536) {
        __atomic_add_fetch(&cache.stats.allocated, obj_bytes_pending, __ATOMIC_RELAXED);
        obj_bytes_pending = 0;
    }
    void *p = obj_cache[kind].head;
    if (p) {
        void *next = *(void **)p;
        obj_cache[kind].head = next;
        if (next)                                  /* the next one is likely cold */
            for (size_t off = 0; off < obj_sizes[kind]; off += 64) __builtin_prefetch((char *)next + off, 1);
        obj_cache[kind].n--;
        memset(p, 0, obj_sizes[kind]);
        return p;
    }
    size_t size = (obj_sizes[kind] + 63) & ~(size_t)63;
    p = aligned_alloc(64, size);
    if (p) memset(p, 0, size);
    return p;
}

void nl_obj_free(int kind, void *p) {
    if (!p) return;
    if (obj_cache[kind].n < OBJ_CACHE) {
        *(void **)p = obj_cache[kind].head;
        obj_cache[kind].head = p;
        obj_cache[kind].n++;
    } else {
        free(p);
    }
}
