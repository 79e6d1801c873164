/* tensor.c — storages, tensor lifetime, creation, views (sharing storage),
 * copies with dtype conversion, cat/stack/index_select, gather/scatter,
 * sort, nonzero and masked_select, and the strided iterator the kernels
 * use. Math kernels live in the ops_*.c files. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- shape strings for error messages ---- */

const char *nl_sizes_str(int ndim, const int64_t *sizes) {
    static __thread char bufs[4][160];
    static __thread int next;
    char *b = bufs[next++ & 3];
    if (!sizes && ndim > 0) return "(no sizes)";
    int n = snprintf(b, 160, "[");
    for (int i = 0; i < ndim && n < 140; i++)
        n += snprintf(b + n, 160 - n, i ? ",%lld" : "%lld", (long long)sizes[i]);
    snprintf(b + n, 160 - n, "]");
    return b;
}

const char *nl_shape_str(const nl_tensor *t) {
    return t ? nl_sizes_str(t->ndim, t->sizes) : "nil";
}

/* ---- storage and lifetime ---- */

/* s (zeroed) gets a buffer of nbytes: its own small one, or the allocator's */
static bool storage_init(nl_storage *s, int64_t nbytes) {
    if (nbytes <= NL_SMALL_BYTES) {
        s->ptr = s->small;
        s->nbytes = NL_SMALL_BYTES;
    } else {
        int64_t cap = nbytes;
        s->ptr = nl_alloc(&cap);
        if (!s->ptr) return false;
        s->nbytes = cap;
    }
    s->size = nbytes;
    s->refcount = 1;
    return true;
}

static nl_tensor_block *block_of(nl_storage *s) {
    return (nl_tensor_block *)((char *)s - offsetof(nl_tensor_block, s));
}

static void storage_release(nl_storage *s) {
    if (!s || !nl_unref(&s->refcount)) return;
    if (s->release) s->release(s->ctx, s->ptr);
    else if (s->ptr != s->small) nl_free(s->ptr, s->nbytes);
    if (s->embedded) nl_obj_free(NL_OBJ_BLOCK, block_of(s));
    else nl_obj_free(NL_OBJ_STORAGE, s);
}

void nl_retain(nl_tensor *t) {
    if (t) nl_ref_add(&t->refcount);
}

/* Releasing a tensor can release its node, the node's inputs, their nodes
 * and so on down a graph of any depth: tensors whose count reaches zero go
 * on a per-thread list that the outermost call drains, so the C stack
 * stays flat. */
static __thread struct { nl_tensor **v; int64_t n, cap; int draining; } dead;

static void destroy(nl_tensor *t) {
    nl_storage *s = t->storage;
    if (t->flags & NL_FLAG_HOOKED) nl_hooked_died(t);
    nl_release(t->grad);
    if (t->node && t->node->out == t) t->node->out = NULL;
    nl_node_release(t->node);
    bool in_block = s->embedded && &block_of(s)->t == t;
    storage_release(s);            /* a block's storage frees its tensor too, now or after the last view */
    if (!in_block) nl_obj_free(NL_OBJ_TENSOR, t);
}

void nl_release(nl_tensor *t) {
    if (!t || !nl_unref(&t->refcount)) return;
    if (dead.n == dead.cap) {
        int64_t cap = dead.cap ? dead.cap * 2 : 256;
        nl_tensor **v = realloc(dead.v, sizeof(nl_tensor *) * cap);
        if (!v) { destroy(t); return; }   /* no memory for the list: recurse */
        dead.v = v;
        dead.cap = cap;
    }
    dead.v[dead.n++] = t;
    if (dead.draining) return;
    dead.draining = 1;
    while (dead.n) destroy(dead.v[--dead.n]);
    dead.draining = 0;
}

/* at the thread's exit (alloc.c's release of its caches): the list goes
 * with it (2 kB a thread leaked) */
void nl_release_list_free(void) {
    if (dead.draining) return;
    free(dead.v);
    dead.v = NULL;
    dead.n = dead.cap = 0;
}

void nl_release_many(nl_tensor *const *ts, int64_t n) {
    if (!ts) return;
    for (int64_t i = 0; i < n; i++) {
        /* the tensors a GC hands over were made long ago: their cache lines
         * are fetched ahead, the tensor's own 8 releases ahead, then its
         * storage and node 4 ahead */
        if (i + 8 < n && ts[i + 8]) __builtin_prefetch(&ts[i + 8]->refcount, 1);
        if (i + 4 < n) {
            const nl_tensor *t = ts[i + 4];
            if (t) {                 /* NULLs are skipped, as nl_release does */
                __builtin_prefetch(t->storage, 1);
                if (t->node) __builtin_prefetch(t->node, 1);
            }
        }
        nl_release(ts[i]);
    }
}

void nl_ref_release(nl_ref *r) {
    if (r && r->ptr) {
        nl_tensor *t = r->ptr;
        r->ptr = NULL;
        nl_release(t);
    }
}

/* A plain increment, not an atomic one (whose lock waits for every
 * pending store): writers racing on one tensor race anyway, and the
 * version changes either way. */
void nl_bump_version(nl_tensor *t) {
    uint32_t *v = &t->storage->version;
    __atomic_store_n(v, __atomic_load_n(v, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

void nl_contiguous_strides(int ndim, const int64_t *sizes, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= sizes[i];
    }
}

/* The product of the sizes, a zero counted as one, is at most 2^log2max:
 * the element count, every contiguous stride and every offset then fit in
 * int64 (a zero size must not hide the others from the check). Storage
 * and views of it: 2^46; expand, whose new dims have stride 0: 2^56. */
static bool sizes_fit(int ndim, const int64_t *sizes, int log2max) {
    int64_t m = 1;
    for (int i = 0; i < ndim; i++)      /* multiplies, not divides: this runs on every op */
        if (__builtin_mul_overflow(m, sizes[i] > 1 ? sizes[i] : 1, &m) || m > (INT64_C(1) << log2max))
            return false;
    return true;
}

/* (inlined: nl_tensor_alloc runs it on every op) */
static inline __attribute__((always_inline)) bool check_sizes(const char *op, int ndim, const int64_t *sizes,
                                                              int64_t *numel) {
    if (ndim < 0 || ndim > NL_MAX_DIMS) {
        nl_set_error("%s: %d dims requested; tensors have 0 to %d dims", op, ndim, NL_MAX_DIMS);
        return false;
    }
    if (!sizes && ndim > 0) {
        nl_set_error("%s: %d dims requested and no sizes given", op, ndim);
        return false;
    }
    for (int i = 0; i < ndim; i++) {
        if (sizes[i] < 0) {
            nl_set_error("%s: negative size in %s", op, nl_sizes_str(ndim, sizes));
            return false;
        }
    }
    if (!sizes_fit(ndim, sizes, 46)) {
        nl_set_error("%s: shape %s is too large", op, nl_sizes_str(ndim, sizes));
        return false;
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= sizes[i];   /* at most 2^46: sizes_fit held */
    *numel = n;
    return true;
}

/* a few sizes, copied by plain moves: the `rep movs` a memcpy of unknown
 * length becomes costs more than the copy on every op */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
static inline void copy_sizes(int64_t *dst, const int64_t *src, int ndim) {
    for (int i = 0; i < ndim; i++) dst[i] = src[i];
}

static __thread const char *last_op = "";

const char *nl_last_op(void) { return last_op; }

nl_tensor *nl_tensor_alloc(const char *op, int ndim, const int64_t *sizes, int dtype) {
    int64_t numel;
    last_op = op;
    if (!nl_valid_dtype(dtype)) {
        nl_set_error("%s: invalid dtype %d", op, dtype);
        return NULL;
    }
    if (!check_sizes(op, ndim, sizes, &numel)) return NULL;
    nl_tensor_block *b = nl_obj_alloc(NL_OBJ_BLOCK);
    if (!b) { nl_set_error("%s: out of memory", op); return NULL; }
    if (!storage_init(&b->s, numel * nl_dtype_size(dtype))) {
        nl_obj_free(NL_OBJ_BLOCK, b);
        nl_set_error("%s: out of memory allocating %s %s", op,
                     nl_sizes_str(ndim, sizes), nl_dtype_name(dtype));
        return NULL;
    }
    b->s.embedded = 1;
    nl_tensor *t = &b->t;
    t->storage = &b->s;
    t->ndim = ndim;
    t->dtype = dtype;
    t->numel = numel;
    t->refcount = 1;
    copy_sizes(t->sizes, sizes, ndim);
    nl_contiguous_strides(ndim, sizes, t->strides);
    t->data = t->storage->ptr;
    return t;
}

nl_tensor *nl_empty(int ndim, const int64_t *sizes, int dtype) {
    return nl_tensor_alloc("empty", ndim, sizes, dtype);
}

nl_tensor *nl_empty_strided(int ndim, const int64_t *sizes, const int64_t *strides, int dtype) {
    NL_CHECK(ndim >= 0 && ndim <= NL_MAX_DIMS && (ndim == 0 || (sizes && strides)),
             "empty_strided: expected 0 to %d sizes and as many strides, got %d", NL_MAX_DIMS, ndim);
    int64_t extent = 1;                          /* the elements the strides reach: 1 + sum (size - 1) stride */
    for (int i = 0; i < ndim; i++) {
        NL_CHECK(sizes[i] >= 0, "empty_strided: negative size %lld in %s", (long long)sizes[i],
                 nl_sizes_str(ndim, sizes));
        NL_CHECK(strides[i] >= 0, "empty_strided: negative stride %lld in %s (for sizes %s)", (long long)strides[i],
                 nl_sizes_str(ndim, strides), nl_sizes_str(ndim, sizes));
    }
    for (int i = 0; i < ndim; i++) {
        int64_t reach;
        if (sizes[i] == 0) { extent = 0; break; }
        NL_CHECK(!__builtin_mul_overflow(sizes[i] - 1, strides[i], &reach) &&
                 !__builtin_add_overflow(extent, reach, &extent),
                 "empty_strided: sizes %s with strides %s reach past 2^63 elements", nl_sizes_str(ndim, sizes),
                 nl_sizes_str(ndim, strides));
    }
    nl_tensor *base = nl_tensor_alloc("empty_strided", 1, &extent, dtype);
    if (!base) return NULL;
    nl_tensor *t = nl_tensor_new_view(base, ndim, sizes, strides, 0);
    nl_release(base);
    if (t) t->flags &= ~NL_FLAG_VIEW;            /* its memory is its own, no other tensor's */
    return t;
}

nl_tensor *nl_tensor_new_view(nl_tensor *base, int ndim, const int64_t *sizes,
                              const int64_t *strides, int64_t offset) {
    nl_tensor *t = nl_obj_alloc(NL_OBJ_TENSOR);
    if (!t) { nl_set_error("view: out of memory"); return NULL; }
    t->ndim = ndim;
    t->dtype = base->dtype;
    t->refcount = 1;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->sizes[i] = sizes[i];
        t->strides[i] = strides[i];
        t->numel *= sizes[i];
    }
    t->offset = offset;
    t->flags = NL_FLAG_VIEW;
    t->storage = base->storage;
    nl_ref_add(&t->storage->refcount);
    t->data = (char *)t->storage->ptr + offset * nl_dtype_size(t->dtype);
    return t;
}

/* ---- creation ---- */

/* true where sizes describe no elements (or are unusable, which
 * nl_tensor_alloc then reports): no data is needed for them */
static bool check_sizes_zero(int ndim, const int64_t *sizes) {
    if (ndim < 0 || ndim > NL_MAX_DIMS || (!sizes && ndim > 0)) return true;
    for (int i = 0; i < ndim; i++)
        if (sizes[i] <= 0) return true;
    return false;
}

nl_tensor *nl_full(int ndim, const int64_t *sizes, double value, int dtype) {
    NL_CHECK(dtype != NL_INT64 || nl_fits_int64(value), "full: %g is not an int64 value", value);
    nl_tensor *t = nl_tensor_alloc("full", ndim, sizes, dtype);
    if (t && nl_fill_(t, value) != 0) { nl_release(t); return NULL; }
    return t;
}

nl_tensor *nl_from_data(int ndim, const int64_t *sizes, int dtype, const void *data) {
    NL_CHECK(data || check_sizes_zero(ndim, sizes), "from_data: no data for shape %s", nl_sizes_str(ndim, sizes));
    nl_tensor *t = nl_tensor_alloc("from_data", ndim, sizes, dtype);
    if (t && t->numel) memcpy(t->data, data, t->numel * nl_dtype_size(dtype));
    return t;
}

nl_tensor *nl_from_doubles(int ndim, const int64_t *sizes, int dtype, const double *values) {
    NL_CHECK(values || check_sizes_zero(ndim, sizes), "tensor: no values for shape %s", nl_sizes_str(ndim, sizes));
    nl_tensor *t = nl_tensor_alloc("tensor", ndim, sizes, dtype);
    if (!t) return NULL;
    int64_t es = nl_dtype_size(dtype);
    for (int64_t i = 0; i < t->numel; i++) {
        if (dtype == NL_INT64 && !nl_fits_int64(values[i])) {
            nl_set_error("tensor: element %lld (counting from 1), %g, is not an int64 value", (long long)i + 1,
                         values[i]);
            nl_release(t);
            return NULL;
        }
        nl_store((char *)t->data + i * es, dtype, values[i]);
    }
    return t;
}

nl_tensor *nl_arange(double start, double end, double step, int dtype) {
    NL_CHECK(step != 0 && isfinite(start) && isfinite(end) && isfinite(step),
             "arange: invalid range start=%g end=%g step=%g", start, end, step);
    int64_t s0 = 0, st = 0;
    if (dtype == NL_INT64) {
        /* as PyTorch: start, end and step taken as int64 (toward zero) before
         * anything is counted (arange(0, 2.5, 1) is [0, 1]), the values in
         * int64 arithmetic (in doubles, values past 2^53 repeated); a range
         * past int64 is refused (it wrapped or clamped) */
        NL_CHECK(start >= -0x1p63 && start < 0x1p63 && end >= -0x1p63 && end < 0x1p63 && fabs(step) < 0x1p63,
                 "arange: start=%g end=%g step=%g do not fit int64", start, end, step);
        s0 = (int64_t)start;
        st = (int64_t)step;
        NL_CHECK(st != 0, "arange: step %g is 0 as an int64", step);
        start = (double)s0;
        end = (double)(int64_t)end;
        step = (double)st;
    }
    NL_CHECK((end - start) / step >= 0,
             "arange: step %g does not go from %g towards %g", step, start, end);
    double count = ceil((end - start) / step);
    NL_CHECK(count <= (double)(INT64_C(1) << 46), "arange: %g elements (start=%g end=%g step=%g) are too many", count,
             start, end, step);   /* past int64, the cast wrapped to a negative size */
    int64_t n = (int64_t)count;
    if (dtype == NL_INT64) {
        int64_t last;
        NL_CHECK(n == 0 || (!__builtin_mul_overflow(n - 1, st, &last) && !__builtin_add_overflow(s0, last, &last)),
                 "arange: the range start=%g end=%g step=%g passes int64's limits", start, end, step);
    }
    nl_tensor *t = nl_tensor_alloc("arange", 1, &n, dtype);
    if (!t) return NULL;
    int64_t es = nl_dtype_size(dtype);
    if (dtype == NL_INT64) {
        int64_t *o = t->data;
        for (int64_t i = 0; i < n; i++) o[i] = s0 + i * st;
        return t;
    }
    for (int64_t i = 0; i < n; i++) nl_store((char *)t->data + i * es, dtype, start + i * step);
    return t;
}

nl_tensor *nl_eye(int64_t n, int64_t m, int dtype) {
    int64_t sz[2] = { n, m };
    nl_tensor *t = nl_tensor_alloc("eye", 2, sz, dtype);
    if (t && nl_fill_(t, 0) != 0) { nl_release(t); t = NULL; }
    if (!t) return NULL;
    int64_t es = nl_dtype_size(dtype);
    for (int64_t i = 0; i < n && i < m; i++) nl_store((char *)t->data + (i * m + i) * es, dtype, 1);
    return t;
}

/* ---- broadcasting and the strided iterator ---- */

bool nl_same_shape(const nl_tensor *a, const nl_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->sizes[i] != b->sizes[i]) return false;
    return true;
}

int nl_broadcast_shape(int na, const int64_t *sa, int nb, const int64_t *sb, int64_t *out) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t x = ia >= 0 ? sa[ia] : 1, y = ib >= 0 ? sb[ib] : 1;
        if (x != y && x != 1 && y != 1) return -1;
        out[i] = x == 1 ? y : x;
    }
    return n;
}

void nl_broadcast_strides(const nl_tensor *t, int ndim, const int64_t *sizes, int64_t *strides) {
    for (int i = 0; i < ndim; i++) {
        int it = t->ndim - ndim + i;
        strides[i] = (it >= 0 && t->sizes[it] == sizes[i] && sizes[i] != 1) ? t->strides[it] : 0;
    }
}

void nl_iter_init(nl_iter *it, int ndim, const int64_t *sizes, int nops,
                  nl_tensor *const *ops, int64_t (*strides)[8]) {
    it->nops = nops;
    for (int k = 0; k < nops; k++) {
        it->base[k] = ops[k]->data;
        it->esize[k] = nl_dtype_size(ops[k]->dtype);
    }
    /* drop size-1 dims, then merge neighbours that are contiguous for all */
    int n = 0;
    for (int d = 0; d < ndim; d++) {
        if (sizes[d] == 1) continue;
        if (n > 0) {
            bool merge = true;
            for (int k = 0; k < nops; k++)
                if (it->strides[k][n - 1] != strides[k][d] * sizes[d]) merge = false;
            if (merge) {
                it->sizes[n - 1] *= sizes[d];
                for (int k = 0; k < nops; k++) it->strides[k][n - 1] = strides[k][d];
                continue;
            }
        }
        it->sizes[n] = sizes[d];
        for (int k = 0; k < nops; k++) it->strides[k][n] = strides[k][d];
        n++;
    }
    if (n == 0) {
        it->sizes[0] = 1;
        for (int k = 0; k < nops; k++) it->strides[k][0] = 0;
        n = 1;
    }
    it->ndim = n;
    it->inner = it->sizes[n - 1];
    it->rows = 1;
    for (int d = 0; d < n - 1; d++) it->rows *= it->sizes[d];
    for (int d = 0; d < ndim; d++)
        if (sizes[d] == 0) it->rows = 0;
}

void nl_iter_row(const nl_iter *it, int64_t r, char **ptrs) {
    for (int k = 0; k < it->nops; k++) ptrs[k] = it->base[k];
    for (int d = it->ndim - 2; d >= 0; d--) {
        int64_t i = r % it->sizes[d];
        r /= it->sizes[d];
        for (int k = 0; k < it->nops; k++) ptrs[k] += i * it->strides[k][d] * it->esize[k];
    }
}

/* ---- the row driver ----
 * Runs fn over every row of the iterator; a single long row is cut into
 * chunks so that contiguous tensors still use every thread. */
void nl_for_each_row(const nl_iter *it, int64_t grain, nl_row_fn fn, const void *ctx) {
    int64_t s[4];
    for (int k = 0; k < it->nops; k++) s[k] = it->strides[k][it->ndim - 1];
    int nt = nl_threads_for(it->rows * it->inner, grain);
    if (it->rows == 1) {
        int64_t chunk = (it->inner + nt - 1) / nt;
        NL_PARALLEL_FOR(nt, c, nt,
            int64_t start = c * chunk, len = it->inner - start < chunk ? it->inner - start : chunk;
            if (len <= 0) continue;
            char *p[4];
            nl_iter_row(it, 0, p);
            for (int k = 0; k < it->nops; k++) p[k] += start * s[k] * it->esize[k];
            fn(ctx, p, s, len);
        );
    } else {
        NL_PARALLEL_FOR(nt, r, it->rows,
            char *p[4];
            nl_iter_row(it, r, p);
            fn(ctx, p, s, it->inner);
        );
    }
}

/* address of the i-th element of t in row-major order */
static const char *flat_addr(const nl_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->sizes[d]) * t->strides[d];
        i /= t->sizes[d];
    }
    return (const char *)t->data + off * nl_dtype_size(t->dtype);
}

double nl_get_flat(const nl_tensor *t, int64_t i) { return nl_load(flat_addr(t, i), t->dtype); }

int64_t nl_get_index(const nl_tensor *t, int64_t i, int64_t base) {
    const char *p = flat_addr(t, i);
    int64_t v = t->dtype == NL_INT64 ? *(const int64_t *)p : nl_sat_i64(nl_load(p, t->dtype));
    return v == INT64_MIN ? v : v - base;
}

/* ---- copy with conversion, fill ---- */

/* A copy whose destination is this big or bigger goes around the caches:
 * it would not stay in them, and storing through them first reads each
 * destination line in (a third of the traffic). glibc's memcpy does so
 * past a share of the L3 it reads from cpuid (a quarter of it, 8 MB on a
 * Zen 3, in glibc 2.38), but a VM may report a cache that never ends (256
 * MB here, so memcpy never did). Below it, a plain copy, whose output the
 * next op finds in the cache, is faster. */
#define STREAM_BYTES (8LL << 20)

/* bytes from src to dst by non-temporal stores (a plain memcpy on targets
 * without SSE2); the caller fences (stream_fence) before the copy may be
 * read by another thread */
static void copy_stream(void *restrict dst, const void *restrict src, size_t bytes) {
#if defined(__SSE2__)
    char *d = dst;
    const char *s = src;
    size_t head = (size_t)(-(uintptr_t)d & 15);
    if (head > bytes) head = bytes;
    memcpy(d, s, head);
    d += head;
    s += head;
    bytes -= head;
    size_t body = bytes & ~(size_t)63;
    for (size_t i = 0; i < body; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(s + i)), b = _mm_loadu_si128((const __m128i *)(s + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32)), e = _mm_loadu_si128((const __m128i *)(s + i + 48));
        _mm_stream_si128((__m128i *)(d + i), a);
        _mm_stream_si128((__m128i *)(d + i + 16), b);
        _mm_stream_si128((__m128i *)(d + i + 32), c);
        _mm_stream_si128((__m128i *)(d + i + 48), e);
    }
    memcpy(d + body, s + body, bytes - body);
#else
    memcpy(dst, src, bytes);
#endif
}

/* the non-temporal stores of this thread ordered before what follows */
static inline void stream_fence(void) {
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

#define CONVERT_ROW(TD, TS)                                                   \
    do {                                                                       \
        TD *o = (TD *)p[0];                                                    \
        const TS *s = (const TS *)p[1];                                        \
        if (so == 1 && ss == 1) for (int64_t i = 0; i < n; i++) o[i] = (TD)s[i]; \
        else if (so == 1 && ss == 0) { /* a broadcast value: a fill */       \
            TD v = (TD)s[0];                                                   \
            for (int64_t i = 0; i < n; i++) o[i] = v;                          \
        } else for (int64_t i = 0; i < n; i++) o[i * so] = (TD)s[i * ss];      \
    } while (0)
/* float -> int64: saturating (NaN -> 0) instead of undefined */
#define CONVERT_ROW_SAT(TS)                                                   \
    do {                                                                       \
        int64_t *o = (int64_t *)p[0];                                          \
        const TS *s = (const TS *)p[1];                                        \
        for (int64_t i = 0; i < n; i++) o[i * so] = nl_sat_i64(s[i * ss]);     \
    } while (0)

typedef struct { int dd, ds; bool stream; } copy_ctx;

static void copy_row(const void *vctx, char **p, const int64_t *s, int64_t n) {
    const copy_ctx *ctx = vctx;
    int64_t so = s[0], ss = s[1];
    if (ctx->stream && so == 1 && ss == 1) {     /* (same dtypes) */
        copy_stream(p[0], p[1], (size_t)(n * nl_dtype_size(ctx->dd)));
        stream_fence();
        return;
    }
    switch (ctx->dd * 3 + ctx->ds) {
    case NL_FLOAT32 * 3 + NL_FLOAT32: CONVERT_ROW(float, float); break;
    case NL_FLOAT32 * 3 + NL_FLOAT64: CONVERT_ROW(float, double); break;
    case NL_FLOAT32 * 3 + NL_INT64: CONVERT_ROW(float, int64_t); break;
    case NL_FLOAT64 * 3 + NL_FLOAT32: CONVERT_ROW(double, float); break;
    case NL_FLOAT64 * 3 + NL_FLOAT64: CONVERT_ROW(double, double); break;
    case NL_FLOAT64 * 3 + NL_INT64: CONVERT_ROW(double, int64_t); break;
    case NL_INT64 * 3 + NL_FLOAT32: CONVERT_ROW_SAT(float); break;
    case NL_INT64 * 3 + NL_FLOAT64: CONVERT_ROW_SAT(double); break;
    default: CONVERT_ROW(int64_t, int64_t); break;
    }
}

/* dst[...] = src[...] broadcast to dst's shape, no checks */
static void copy_into(nl_tensor *dst, nl_tensor *src) {
    if (dst->numel == 0) return;
    int64_t strides[4][8];
    memcpy(strides[0], dst->strides, sizeof(int64_t) * dst->ndim);
    nl_broadcast_strides(src, dst->ndim, dst->sizes, strides[1]);
    nl_tensor *ops[2] = { dst, src };
    nl_iter it;
    nl_iter_init(&it, dst->ndim, dst->sizes, 2, ops, strides);
    copy_ctx ctx = { dst->dtype, src->dtype, dst->dtype == src->dtype &&
                     dst->numel * nl_dtype_size(dst->dtype) >= STREAM_BYTES };
    nl_for_each_row(&it, 1 << 16, copy_row, &ctx);
}

int nl_copy_(nl_tensor *dst, nl_tensor *src) {
    NL_CHECK_TENSOR_INT("copy_", dst);
    NL_CHECK_TENSOR_INT("copy_", src);
    NL_CHECK_WRITE_INT("copy_", dst, src);
    int64_t bs[8];
    int n = nl_broadcast_shape(dst->ndim, dst->sizes, src->ndim, src->sizes, bs);
    NL_CHECK_INT(n == dst->ndim && memcmp(bs, dst->sizes, sizeof(int64_t) * n) == 0,
                 "copy_: source of shape %s does not broadcast to destination %s",
                 nl_shape_str(src), nl_shape_str(dst));
    copy_into(dst, src);
    nl_bump_version(dst);
    return 0;
}

#define FILL_ROW(T)                                                          \
    do {                                                                     \
        T *o = (T *)p[0], x = (T)ctx->value;                                 \
        if (so == 1) for (int64_t i = 0; i < n; i++) o[i] = x;               \
        else for (int64_t i = 0; i < n; i++) o[i * so] = x;                  \
    } while (0)

typedef struct { double value; int dtype; } fill_ctx;

static void fill_row(const void *vctx, char **p, const int64_t *s, int64_t n) {
    const fill_ctx *ctx = vctx;
    int64_t so = s[0];
    if (ctx->dtype == NL_FLOAT32) FILL_ROW(float);
    else if (ctx->dtype == NL_FLOAT64) FILL_ROW(double);
    else {
        int64_t *o = (int64_t *)p[0], x = nl_sat_i64(ctx->value);
        for (int64_t i = 0; i < n; i++) o[i * so] = x;
    }
}

int nl_fill_(nl_tensor *dst, double value) {
    NL_CHECK_TENSOR_INT("fill_", dst);
    NL_CHECK_INPLACE_INT("fill_", dst);
    NL_CHECK_INT(dst->dtype != NL_INT64 || nl_fits_int64(value), "fill_: %g is not an int64 value", value);
    fill_ctx ctx = { value, dst->dtype };
    if (dst->numel <= 4096 && nl_is_contiguous(dst)) {
        /* small and dense: one row, no iterator */
        char *p[1] = { dst->data };
        int64_t s[1] = { 1 };
        fill_row(&ctx, p, s, dst->numel);
    } else {
        int64_t strides[4][8];
        memcpy(strides[0], dst->strides, sizeof(int64_t) * dst->ndim);
        nl_iter it;
        nl_iter_init(&it, dst->ndim, dst->sizes, 1, &dst, strides);
        nl_for_each_row(&it, 1 << 17, fill_row, &ctx);
    }
    nl_bump_version(dst);
    return 0;
}

/* ---- views ----
 * Each view op records a node so gradients flow back through it; a shape
 * op's ints go into the node (a[0], a[1]: dims, starts, indices). */

static nl_tensor *copy_as(nl_tensor *t, int dtype, const char *op);

static nl_tensor *recorded(int op, nl_tensor *out, nl_tensor *in, int64_t a0, int64_t a1) {
    nl_node *n = nl_record(op, out, 1, &in);
    if (n) {
        n->a[0] = a0;
        n->a[1] = a1;
    }
    return out;
}

/* recorded, for a view of in (nl_flag_view) */
static nl_tensor *recorded_view(int op, nl_tensor *out, nl_tensor *in, int64_t a0, int64_t a1) {
    nl_flag_view(out, in);
    return recorded(op, out, in, a0, a1);
}

int nl_holds_shared(const nl_tensor *t) {
    /* (not the storage's count: autograd's alias of a saved output adds to it) */
    return t && (t->refcount > 1 || (t->flags & NL_FLAG_VIEW));
}

int nl_is_contiguous(const nl_tensor *t) {
    if (!t) return 0;
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->sizes[i] != 1 && t->strides[i] != s) return 0;
        s *= t->sizes[i];
    }
    return 1;
}

/* Resolve one -1 and check the element count. */
static bool infer_sizes(const char *op, const nl_tensor *t, int ndim, const int64_t *in, int64_t *out) {
    if (ndim < 0 || ndim > NL_MAX_DIMS) {
        nl_set_error("%s: %d dims requested; tensors have 0 to %d dims", op, ndim, NL_MAX_DIMS);
        return false;
    }
    if (!in && ndim > 0) {
        nl_set_error("%s: %d dims requested and no sizes given", op, ndim);
        return false;
    }
    if (!sizes_fit(ndim, in, 46)) {
        nl_set_error("%s: shape %s is too large", op, nl_sizes_str(ndim, in));
        return false;
    }
    int infer = -1;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        out[i] = in[i];
        if (in[i] == -1 && infer < 0) infer = i;
        else if (in[i] < 0) {
            nl_set_error("%s: invalid size in %s for tensor of shape %s", op,
                         nl_sizes_str(ndim, in), nl_shape_str(t));
            return false;
        } else n *= in[i];
    }
    if (infer >= 0) {
        if (n == 0 || t->numel % n != 0) {
            nl_set_error("%s: shape %s is invalid for a tensor of shape %s (%lld elements)", op,
                         nl_sizes_str(ndim, in), nl_shape_str(t), (long long)t->numel);
            return false;
        }
        out[infer] = t->numel / n;
        n = t->numel;
    }
    if (n != t->numel) {
        nl_set_error("%s: shape %s is invalid for a tensor of shape %s (%lld elements)", op,
                     nl_sizes_str(ndim, in), nl_shape_str(t), (long long)t->numel);
        return false;
    }
    return true;
}

/* Strides for viewing t as sizes without a copy, or false. Old dims are cut
 * into chunks that are each contiguous in themselves; every chunk must map
 * onto a run of new dims with the same element count. */
static bool view_strides(const nl_tensor *t, int ndim, const int64_t *sizes, int64_t *strides) {
    if (t->numel == 0 || t->ndim == 0 || nl_is_contiguous(t)) {
        nl_contiguous_strides(ndim, sizes, strides);
        return true;
    }
    int nd = ndim - 1;
    int64_t base = t->strides[t->ndim - 1], old_n = 1, new_n = 1;
    for (int od = t->ndim - 1; od >= 0; od--) {
        old_n *= t->sizes[od];
        bool chunk_ends = od == 0 ||
            (t->sizes[od - 1] != 1 && t->strides[od - 1] != old_n * base);
        if (!chunk_ends) continue;
        while (nd >= 0 && (new_n < old_n || sizes[nd] == 1)) {
            strides[nd] = new_n * base;
            new_n *= sizes[nd--];
        }
        if (new_n != old_n) return false;
        if (od > 0) {
            base = t->strides[od - 1];
            old_n = new_n = 1;
        }
    }
    return nd == -1;
}

nl_tensor *nl_view(nl_tensor *t, int ndim, const int64_t *sizes) {
    NL_CHECK_TENSOR("view", t);
    int64_t sz[8], st[8];
    if (!infer_sizes("view", t, ndim, sizes, sz)) return NULL;
    NL_CHECK(view_strides(t, ndim, sz, st),
             "view: a tensor of shape %s with these strides cannot be viewed as %s; use reshape",
             nl_shape_str(t), nl_sizes_str(ndim, sz));
    return recorded_view(NL_OP_VIEW, nl_tensor_new_view(t, ndim, sz, st, t->offset), t, 0, 0);
}

nl_tensor *nl_reshape(nl_tensor *t, int ndim, const int64_t *sizes) {
    NL_CHECK_TENSOR("reshape", t);
    int64_t sz[8], st[8];
    if (!infer_sizes("reshape", t, ndim, sizes, sz)) return NULL;
    if (view_strides(t, ndim, sz, st))
        return recorded_view(NL_OP_VIEW, nl_tensor_new_view(t, ndim, sz, st, t->offset), t, 0, 0);
    nl_tensor *c = copy_as(t, t->dtype, "reshape");
    if (!c) return NULL;
    nl_contiguous_strides(ndim, sz, st);
    nl_tensor *r = nl_tensor_new_view(c, ndim, sz, st, c->offset);
    nl_release(c);
    return recorded(NL_OP_VIEW, r, t, 0, 0);
}

nl_tensor *nl_transpose(nl_tensor *t, int d0, int d1) {
    NL_CHECK_TENSOR("transpose", t);
    int a = nl_wrap_dim(d0, t->ndim), b = nl_wrap_dim(d1, t->ndim);
    NL_CHECK(a >= 0 && b >= 0, "transpose: dims %d and %d out of range for shape %s",
             d0, d1, nl_shape_str(t));
    int64_t sz[8], st[8];
    memcpy(sz, t->sizes, sizeof sz);
    memcpy(st, t->strides, sizeof st);
    if (t->ndim > 0) {
        sz[a] = t->sizes[b]; sz[b] = t->sizes[a];
        st[a] = t->strides[b]; st[b] = t->strides[a];
    }
    return recorded_view(NL_OP_TRANSPOSE, nl_tensor_new_view(t, t->ndim, sz, st, t->offset), t, a, b);
}

nl_tensor *nl_permute(nl_tensor *t, int ndim, const int *dims) {
    NL_CHECK_TENSOR("permute", t);
    NL_CHECK(ndim == t->ndim, "permute: %d dims given for a tensor of shape %s", ndim, nl_shape_str(t));
    NL_CHECK(dims || ndim == 0, "permute: no dims given for a tensor of shape %s", nl_shape_str(t));
    int64_t sz[8] = { 0 }, st[8] = { 0 };
    int seen = 0;
    for (int i = 0; i < ndim; i++) {
        int d = nl_wrap_dim(dims[i], ndim);
        NL_CHECK(d >= 0 && !(seen & (1 << d)),
                 "permute: dims must be a permutation of the %d dims of shape %s", ndim, nl_shape_str(t));
        seen |= 1 << d;
        sz[i] = t->sizes[d];
        st[i] = t->strides[d];
    }
    nl_tensor *out = nl_tensor_new_view(t, ndim, sz, st, t->offset);
    nl_flag_view(out, t);
    nl_node *n = nl_record(NL_OP_PERMUTE, out, 1, &t);
    for (int i = 0; n && i < ndim; i++) n->a[i] = nl_wrap_dim(dims[i], ndim);
    return out;
}

nl_tensor *nl_narrow(nl_tensor *t, int dim, int64_t start, int64_t length) {
    NL_CHECK_TENSOR("narrow", t);
    int d = nl_wrap_dim(dim, t->ndim);
    NL_CHECK(d >= 0 && t->ndim > 0, "narrow: dim %d out of range for shape %s", dim, nl_shape_str(t));
    NL_CHECK(start >= 0 && length >= 0 && start <= t->sizes[d] && length <= t->sizes[d] - start,
             "narrow: start %lld length %lld out of range for dim %d of shape %s",
             (long long)start, (long long)length, d, nl_shape_str(t));
    int64_t sz[8];
    memcpy(sz, t->sizes, sizeof sz);
    sz[d] = length;
    return recorded_view(NL_OP_NARROW, nl_tensor_new_view(t, t->ndim, sz, t->strides, t->offset + start * t->strides[d]),
                    t, d, start);
}

nl_tensor *nl_select(nl_tensor *t, int dim, int64_t index) {
    NL_CHECK_TENSOR("select", t);
    int d = nl_wrap_dim(dim, t->ndim);
    NL_CHECK(d >= 0 && t->ndim > 0, "select: dim %d out of range for shape %s", dim, nl_shape_str(t));
    NL_CHECK(index >= 0 && index < t->sizes[d], "select: index %lld out of range for dim %d of shape %s",
             (long long)index, d, nl_shape_str(t));
    int64_t sz[8], st[8];
    int n = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (i == d) continue;
        sz[n] = t->sizes[i];
        st[n++] = t->strides[i];
    }
    return recorded_view(NL_OP_SELECT, nl_tensor_new_view(t, n, sz, st, t->offset + index * t->strides[d]), t, d, index);
}

nl_tensor *nl_expand(nl_tensor *t, int ndim, const int64_t *sizes) {
    NL_CHECK_TENSOR("expand", t);
    NL_CHECK(sizes || ndim == 0, "expand: no sizes given for a tensor of shape %s", nl_shape_str(t));
    NL_CHECK(ndim >= t->ndim && ndim <= NL_MAX_DIMS, "expand: cannot expand shape %s to %s",
             nl_shape_str(t), nl_sizes_str(ndim, sizes));
    int64_t sz[8], st[8];
    for (int i = 0; i < ndim; i++) {
        int it = i - (ndim - t->ndim);
        int64_t have = it >= 0 ? t->sizes[it] : 1;
        int64_t want = sizes[i] == -1 && it >= 0 ? have : sizes[i];
        NL_CHECK(want >= 0 && (have == want || have == 1), "expand: cannot expand shape %s to %s",
                 nl_shape_str(t), nl_sizes_str(ndim, sizes));
        sz[i] = want;
        st[i] = (it >= 0 && have == want) ? t->strides[it] : 0;
    }
    NL_CHECK(sizes_fit(ndim, sz, 56), "expand: shape %s is too large", nl_sizes_str(ndim, sz));
    return recorded_view(NL_OP_EXPAND, nl_tensor_new_view(t, ndim, sz, st, t->offset), t, 0, 0);
}

nl_tensor *nl_squeeze(nl_tensor *t, int dim) {
    NL_CHECK_TENSOR("squeeze", t);
    int d = nl_wrap_dim(dim, t->ndim);
    NL_CHECK(d >= 0, "squeeze: dim %d out of range for shape %s", dim, nl_shape_str(t));
    /* nothing to squeeze: a new view all the same, as PyTorch's (the tensor
     * itself came back, and its requires_grad and .grad were the input's) */
    if (t->ndim == 0 || t->sizes[d] != 1)
        return recorded_view(NL_OP_VIEW, nl_tensor_new_view(t, t->ndim, t->sizes, t->strides, t->offset), t, 0, 0);
    return nl_select(t, d, 0);
}

nl_tensor *nl_unsqueeze(nl_tensor *t, int dim) {
    NL_CHECK_TENSOR("unsqueeze", t);
    NL_CHECK(t->ndim < NL_MAX_DIMS, "unsqueeze: shape %s already has %d dims", nl_shape_str(t), NL_MAX_DIMS);
    int d = dim < 0 ? dim + t->ndim + 1 : dim;
    NL_CHECK(d >= 0 && d <= t->ndim, "unsqueeze: dim %d out of range for shape %s", dim, nl_shape_str(t));
    int64_t sz[8], st[8];
    for (int i = 0, j = 0; i <= t->ndim; i++) {
        if (i == d) {
            sz[i] = 1;
            st[i] = j < t->ndim ? t->strides[j] * t->sizes[j] : 1;
        } else {
            sz[i] = t->sizes[j];
            st[i] = t->strides[j++];
        }
    }
    return recorded_view(NL_OP_VIEW, nl_tensor_new_view(t, t->ndim + 1, sz, st, t->offset), t, 0, 0);
}

static nl_tensor *copy_as(nl_tensor *t, int dtype, const char *op) {
    nl_tensor *r = nl_tensor_alloc(op, t->ndim, t->sizes, dtype);
    if (r) copy_into(r, t);
    return r;
}

nl_tensor *nl_contiguous(nl_tensor *t) {
    NL_CHECK_TENSOR("contiguous", t);
    if (nl_is_contiguous(t)) { nl_retain(t); return t; }
    return recorded(NL_OP_CONTIGUOUS, copy_as(t, t->dtype, "contiguous"), t, 0, 0);
}

bool nl_temps_grow(nl_temps *t, nl_tensor *x) {
    int k = t->n - 32;
    if (!t->more || k >= t->cap) {
        int cap = t->more ? 2 * t->cap : 32;
        nl_tensor **m = realloc(t->more, sizeof *m * (size_t)cap);
        if (!m) {
            nl_release(x);
            nl_set_error("backward: out of memory");
            return false;
        }
        t->more = m;
        t->cap = cap;
    }
    t->more[k] = x;
    t->n++;
    return true;
}

/* internal: t's values in a contiguous tensor (t itself, retained, when it
 * is one), and dst's values written from src of its shape; neither is
 * recorded on the tape (an optimizer's update of a strided parameter) */
nl_tensor *nl_contiguous_raw(nl_tensor *t) {
    if (nl_is_contiguous(t)) { nl_retain(t); return t; }
    return copy_as(t, t->dtype, "contiguous");
}

void nl_copy_raw(nl_tensor *dst, nl_tensor *src) { copy_into(dst, src); }

nl_tensor *nl_clone(nl_tensor *t) {
    NL_CHECK_TENSOR("clone", t);
    return recorded(NL_OP_CONTIGUOUS, copy_as(t, t->dtype, "clone"), t, 0, 0);
}

nl_tensor *nl_to_dtype(nl_tensor *t, int dtype) {
    NL_CHECK_TENSOR("to_dtype", t);
    NL_CHECK(nl_valid_dtype(dtype), "to_dtype: invalid dtype %d", dtype);
    nl_tensor *out = copy_as(t, dtype, "to_dtype");
    /* an int64 result cannot carry a gradient */
    return dtype == NL_INT64 ? out : recorded(NL_OP_TO_DTYPE, out, t, 0, 0);
}

/* ---- cat, stack, index_select ---- */

nl_tensor *nl_cat(int n, nl_tensor *const *ts, int dim) {
    NL_CHECK(n >= 1 && ts, "cat: expected a non-empty list of tensors");
    for (int i = 0; i < n; i++) NL_CHECK(ts[i] != NULL, "cat: element %d is not a tensor", i);
    const nl_tensor *t0 = ts[0];
    NL_CHECK(t0->ndim > 0, "cat: zero-dim tensors cannot be concatenated");
    int d = nl_wrap_dim(dim, t0->ndim);
    NL_CHECK(d >= 0, "cat: dim %d out of range for shape %s", dim, nl_shape_str(t0));
    int64_t sz[8];
    memcpy(sz, t0->sizes, sizeof sz);
    sz[d] = 0;
    for (int i = 0; i < n; i++) {
        const nl_tensor *t = ts[i];
        NL_CHECK(t->dtype == t0->dtype, "cat: the tensors' dtypes differ: %s and %s", nl_dtype_name(t0->dtype),
                 nl_dtype_name(t->dtype));
        bool ok = t->ndim == t0->ndim;
        for (int k = 0; ok && k < t->ndim; k++)
            if (k != d && t->sizes[k] != t0->sizes[k]) ok = false;
        NL_CHECK(ok, "cat: shapes %s and %s differ outside the dim joined", nl_shape_str(t0), nl_shape_str(t));
        sz[d] += t->sizes[d];
    }
    nl_tensor *r = nl_tensor_alloc("cat", t0->ndim, sz, t0->dtype);
    if (!r) return NULL;
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        nl_tensor *dst = nl_narrow(r, d, at, ts[i]->sizes[d]);
        if (!dst) { nl_release(r); return NULL; }
        copy_into(dst, ts[i]);
        nl_release(dst);
        at += ts[i]->sizes[d];
    }
    nl_node *node = nl_record(NL_OP_CAT, r, n, ts);
    if (node) node->a[0] = d;
    return r;
}

nl_tensor *nl_stack(int n, nl_tensor *const *ts, int dim) {
    NL_CHECK(n >= 1 && n <= 1 << 20 && ts, "stack: expected a non-empty list of tensors");
    for (int i = 0; i < n; i++) {
        NL_CHECK(ts[i] != NULL, "stack: element %d is not a tensor", i);
        NL_CHECK(nl_same_shape(ts[i], ts[0]), "stack: shapes %s and %s differ", nl_shape_str(ts[0]),
                 nl_shape_str(ts[i]));
    }
    int d = dim < 0 ? dim + ts[0]->ndim + 1 : dim;
    NL_CHECK(d >= 0 && d <= ts[0]->ndim, "stack: dim %d out of range for shape %s", dim, nl_shape_str(ts[0]));
    nl_tensor **us = malloc(sizeof(nl_tensor *) * n);
    NL_CHECK(us, "stack: out of memory");
    int ok = 0;
    for (; ok < n; ok++)
        if (!(us[ok] = nl_unsqueeze(ts[ok], d))) break;
    nl_tensor *r = ok == n ? nl_cat(n, us, d) : NULL;
    if (r == NULL && ok == n) {
        /* cat's message names cat; say stack */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", nl_error());
        nl_set_error("stack: %s", msg);
    }
    for (int i = 0; i < ok; i++) nl_release(us[i]);
    free(us);
    return r;
}

/* out[j] = row[k[j] - base], j < m: one row of a gather along the last
 * dim, whose n >= 1 entries it reads; an entry out of range reads entry 0
 * and makes the result nonzero */
static uint64_t gather_row_u32(uint32_t *restrict out, const uint32_t *restrict row, const int64_t *restrict k,
                               int64_t base, int64_t m, int64_t n) {
    uint64_t bad = 0;
    for (int64_t j = 0; j < m; j++) {
        uint64_t u = (uint64_t)k[j] - (uint64_t)base;   /* below base wraps past n */
        bad |= u >= (uint64_t)n;
        out[j] = row[u < (uint64_t)n ? u : 0];
    }
    return bad;
}
static uint64_t gather_row_u64(uint64_t *restrict out, const uint64_t *restrict row, const int64_t *restrict k,
                               int64_t base, int64_t m, int64_t n) {
    uint64_t bad = 0;
    for (int64_t j = 0; j < m; j++) {
        uint64_t u = (uint64_t)k[j] - (uint64_t)base;
        bad |= u >= (uint64_t)n;
        out[j] = row[u < (uint64_t)n ? u : 0];
    }
    return bad;
}

/* ---- the slices of one dim by a 1-D index (index_select, index_add,
 * index_copy_, index_fill_) ----
 * The index is read once into 0-based places; each kernel then walks the
 * lanes (every place of the other dims) of out and src, each lane on one
 * thread, the index's entries in order within it, so that repeated
 * places end as a serial loop leaves them on any number of threads. */

/* index's n entries (1-D or 0-D int64, any strides) as 0-based places in
 * [0, size): counted from base, and with neg also -1 .. -size from the end
 * (index_copy's and index_fill's); the first entry out of range refused
 * naming op and t's shape along d (neg: the largest entry above size, else
 * the smallest below -size, else 0, as they were named). NULL on error. */
static int64_t *index_places(const char *op, const nl_tensor *index, const nl_tensor *t, int d, int64_t base,
                             bool neg) {
    int64_t n = index->numel, size = t->ndim ? t->sizes[d] : 1;
    int64_t *ks = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (!ks) {
        nl_set_error("%s: out of memory for an index of %lld entries", op, (long long)n);
        return NULL;
    }
    const int64_t *iv = index->data;
    bool dense = nl_is_contiguous(index);
    int64_t bad_hi = 0, bad_lo = 0;
    bool hi = false, lo = false, zero = false;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = dense ? iv[i] : nl_get_index(index, i, 0);
        /* v - base in [0, size), unsigned: below base wraps past size */
        uint64_t u = (uint64_t)v - (uint64_t)base;
        if (u < (uint64_t)size) { ks[i] = (int64_t)u; continue; }
        if (neg && v < 0 && v >= -size) { ks[i] = v + size; continue; }
        if (!neg) {
            free(ks);
            nl_set_error("%s: index %lld out of range for dim %d of shape %s", op, (long long)v, (int)(d + base),
                         nl_shape_str(t));
            return NULL;
        }
        if (v >= base + size) { bad_hi = hi && bad_hi > v ? bad_hi : v; hi = true; }
        else if (v < -size) { bad_lo = lo && bad_lo < v ? bad_lo : v; lo = true; }
        else zero = true;
    }
    if (hi || lo || zero) {
        free(ks);
        nl_set_error("%s: index %lld out of range for dim %d of size %lld (1 to %lld, or -1 to -%lld) in shape %s",
                     op, (long long)(hi ? bad_hi : lo ? bad_lo : 0), (int)(d + base), (long long)size,
                     (long long)size, (long long)size, nl_shape_str(t));
        return NULL;
    }
    return ks;
}

/* one lane of the slice kernels: element j (stride s[0] in out, s[1] in
 * src) of entry i sits at out[ko(i) * ost + j s0] and src[ks(i) * sst + j s1],
 * ko and ks the index's places or i itself where NULL */
typedef struct {
    const int64_t *ko, *ks;
    int64_t n, ost, sst;
    int dtype;
    bool add;
    double alpha;
} slices_ctx;

#define SLICES_LOOP(T, OP)                                                                          \
    do {                                                                                            \
        T *o = (T *)p[0];                                                                           \
        const T *a = (const T *)p[1];                                                               \
        int64_t s0 = s[0], s1 = s[1], ost = c->ost, sst = c->sst, n = c->n;                         \
        const int64_t *ko = c->ko, *ks = c->ks;                                                     \
        if (m == 1 || (ost < 0 ? -ost : ost) < (s0 < 0 ? -s0 : s0)) {                               \
            for (int64_t j = 0; j < m; j++)                                                         \
                for (int64_t i = 0; i < n; i++) {                                                   \
                    T *y = o + (ko ? ko[i] : i) * ost + j * s0;                                     \
                    T x = a[(ks ? ks[i] : i) * sst + j * s1];                                       \
                    OP;                                                                             \
                }                                                                                   \
        } else {                                                                                    \
            for (int64_t i = 0; i < n; i++) {                                                       \
                T *yr = o + (ko ? ko[i] : i) * ost;                                                 \
                const T *ar = a + (ks ? ks[i] : i) * sst;                                           \
                for (int64_t j = 0; j < m; j++) {                                                   \
                    T *y = yr + j * s0;                                                             \
                    T x = ar[j * s1];                                                               \
                    OP;                                                                             \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    } while (0)

static void slices_row(const void *vctx, char **p, const int64_t *s, int64_t m) {
    const slices_ctx *c = vctx;
    if (!c->add) {
        /* by the element's bits: float32, float64 and int64 alike */
        if (nl_dtype_size(c->dtype) == 4) SLICES_LOOP(uint32_t, *y = x);
        else SLICES_LOOP(uint64_t, *y = x);
    } else if (c->dtype == NL_FLOAT32) {
        float al = (float)c->alpha;     /* as add_'s (nl_add_scaled_) */
        SLICES_LOOP(float, *y += al * x);
    } else if (c->dtype == NL_FLOAT64) {
        double al = c->alpha;
        SLICES_LOOP(double, *y += al * x);
    } else {
        int64_t al = nl_sat_i64(c->alpha);
        SLICES_LOOP(int64_t, *y = nl_wrap_add(*y, nl_wrap_mul(al, x)));
    }
}

/* out's slices along d from src's: out[.., ko(i), ..] = src[.., ks(i), ..]
 * (add: += alpha * src's), i < n, ko or ks NULL for i itself; src of
 * out's dims, its strides sst (0 along a dim broadcast, as a fill's) */
static void index_slices(nl_tensor *out, int d, const int64_t *ko, const nl_tensor *src, const int64_t *sst,
                         const int64_t *ks, int64_t n, bool add, double alpha) {
    if (n == 0 || out->numel == 0) return;
    int64_t sz[8], st[4][8];
    int nd = 0;
    for (int q = 0; q < out->ndim; q++) {
        if (q == d) continue;
        sz[nd] = out->sizes[q];
        st[0][nd] = out->strides[q];
        st[1][nd++] = sst[q];
    }
    nl_iter it;
    nl_iter_init(&it, nd, sz, 2, (nl_tensor *const[]){ out, (nl_tensor *)src }, st);
    slices_ctx c = { ko, ks, n, out->ndim ? out->strides[d] : 0, out->ndim ? sst[d] : 0, out->dtype, add, alpha };
    nl_for_each_row(&it, (1 << 16) / n + 1, slices_row, &c);
}

/* A source of this many bytes or more is taken to be out of the L2: the
 * gathers below ask for what they read a few entries ahead, as the
 * hardware cannot guess random places (a row of 100000 float32 by 50000
 * random places took 3.7 ns an element, the rows of a (100000, 64)
 * table as many us as a clone of it) */
#define FAR_BYTES (256LL << 10)

/* out[i] = row[ks[i]], i < n: one row of a gather along the last dim, by
 * the element's bits (4 or 8 bytes: float32, float64 and int64 alike);
 * far: the row is out of the L2 */
#define INDEX_ROW(name, T)                                                                                             \
    static void name(T *restrict out, const T *restrict row, const int64_t *restrict ks, int64_t n, bool far) {        \
        int64_t i = 0;                                                                                                 \
        if (far)                                                                                                       \
            for (; i + 32 < n; i++) {                                                                                  \
                __builtin_prefetch(row + ks[i + 32]);                                                                  \
                out[i] = row[ks[i]];                                                                                   \
            }                                                                                                          \
        for (; i < n; i++) out[i] = row[ks[i]];                                                                        \
    }
INDEX_ROW(index_row_u32, uint32_t)
INDEX_ROW(index_row_u64, uint64_t)
#undef INDEX_ROW
/* out[i] = row[k0 - i], i < n: a reversed index (flip's), which vectorizes */
static void reverse_row_u32(uint32_t *restrict out, const uint32_t *restrict row, int64_t k0, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = row[k0 - i];
}
static void reverse_row_u64(uint64_t *restrict out, const uint64_t *restrict row, int64_t k0, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = row[k0 - i];
}

nl_tensor *nl_index_select(nl_tensor *t, int dim, nl_tensor *index, int64_t base) {
    NL_CHECK_TENSOR("index_select", t);
    NL_CHECK_TENSOR("index_select", index);
    NL_CHECK(index->dtype == NL_INT64 && index->ndim <= 1,
             "index_select: index must be a 1-D int64 tensor, got %s %s", nl_dtype_name(index->dtype),
             nl_shape_str(index));
    int d = nl_wrap_dim(dim, t->ndim);
    NL_CHECK(d >= 0 && t->ndim > 0, "index_select: dim %d out of range for shape %s", dim, nl_shape_str(t));
    int64_t n = index->numel;
    /* the output first: an index of 2^40 entries (a stride-0 view, as
     * repeat_interleave's expand makes) was checked entry by entry for
     * hours before its output's allocation failed */
    int64_t sz[8];
    memcpy(sz, t->sizes, sizeof sz);
    sz[d] = n;
    nl_tensor *r = nl_tensor_alloc("index_select", t->ndim, sz, t->dtype);
    if (!r) return NULL;
    int64_t es = nl_dtype_size(t->dtype), outer = 1, inner = es, tn = t->sizes[d];
    for (int q = 0; q < d; q++) outer *= t->sizes[q];
    for (int q = d + 1; q < t->ndim; q++) inner *= t->sizes[q];
    /* a reversed index (flip's) along the last dim */
    bool rev = nl_is_contiguous(index) && n > 0;
    for (int64_t i = 1; i < n && rev; i++) rev = ((const int64_t *)index->data)[i] == ((const int64_t *)index->data)[0] - i;
    /* many rows (8 or more) by one index: its entries checked and made
     * 0-based once, then each row gathered by plain places (checking each
     * entry in every row took 10 instructions an element, 4 after) */
    if (nl_is_contiguous(t) && inner == es && outer * n > 0 && nl_is_contiguous(index) && (rev || outer < 8)) {
        /* the last dim of a contiguous tensor: a gather within each row (an
         * image batch flipped along W), element by element, the index
         * checked as it is read (as gather's: a first pass to check it,
         * and the index copied, took twice gather's time); a memcpy of one
         * element per output, with a division and the index's flat lookup
         * each, took 13 ns an element */
        const int64_t *iv = index->data;
        int64_t k0 = iv[0] - base;
        uint64_t bad = rev && !(k0 < tn && k0 - (n - 1) >= 0);
        int nt = nl_threads_for(outer * n, 1 << 16);
        if (rev && !bad) {
            if (es == 4)
                NL_PARALLEL_FOR(nt, o, outer,
                    reverse_row_u32((uint32_t *)r->data + o * n, (const uint32_t *)t->data + o * tn, k0, n););
            else
                NL_PARALLEL_FOR(nt, o, outer,
                    reverse_row_u64((uint64_t *)r->data + o * n, (const uint64_t *)t->data + o * tn, k0, n););
        } else if (!bad) {
            /* (each row checks the whole index; a bad entry fails them all) */
            if (es == 4)
                bad = gather_row_u32(r->data, t->data, iv, base, n, tn);
            else
                bad = gather_row_u64(r->data, t->data, iv, base, n, tn);
            if (!bad) {
                if (es == 4)
                    NL_PARALLEL_FOR(nt, o, outer - 1,
                        gather_row_u32((uint32_t *)r->data + (o + 1) * n, (const uint32_t *)t->data + (o + 1) * tn,
                                       iv, base, n, tn););
                else
                    NL_PARALLEL_FOR(nt, o, outer - 1,
                        gather_row_u64((uint64_t *)r->data + (o + 1) * n, (const uint64_t *)t->data + (o + 1) * tn,
                                       iv, base, n, tn););
            }
        }
        if (bad) {
            free(index_places("index_select", index, t, d, base, false));   /* names the entry */
            nl_release(r);
            return NULL;
        }
    } else {
        int64_t *ks = index_places("index_select", index, t, d, base, false);
        if (!ks) {
            nl_release(r);
            return NULL;
        }
        if (nl_is_contiguous(t) && inner == es && outer * n > 0) {
            /* (a strided index, or many rows: its places gathered row by row) */
            int nt = nl_threads_for(outer * n, 1 << 16);
            bool far = tn * es >= FAR_BYTES;
            if (es == 4)
                NL_PARALLEL_FOR(nt, o, outer,
                    index_row_u32((uint32_t *)r->data + o * n, (const uint32_t *)t->data + o * tn, ks, n, far););
            else
                NL_PARALLEL_FOR(nt, o, outer,
                    index_row_u64((uint64_t *)r->data + o * n, (const uint64_t *)t->data + o * tn, ks, n, far););
        } else if (nl_is_contiguous(t)) {
            /* r[o, i, :] = t[o, index[i], :] as block copies (a data loader's
             * batch of rows), on the threads when there is enough to copy;
             * from a far source, the block 8 entries on asked for first
             * (its first 512 bytes) */
            const char *src = t->data;
            char *dst = r->data;
            int64_t far = outer * tn * inner >= FAR_BYTES ? 8 : n;
            int nt = nl_threads_for(outer * n * inner, 1 << 17);
            NL_PARALLEL_FOR(nt, j, outer * n,
                int64_t o = j / n, i = j % n;
                if (i + far < n)
                    for (int64_t q = 0; q < inner && q < 512; q += 64)
                        __builtin_prefetch(src + (o * tn + ks[i + far]) * inner + q);
                memcpy(dst + j * inner, src + (o * tn + ks[i]) * inner, (size_t)inner);
            );
        } else {
            /* any strides: lane by lane (a select and a copy per entry took
             * 1 us each) */
            index_slices(r, d, NULL, t, t->strides, ks, n, false, 0);
        }
        free(ks);
    }
    nl_node *node = nl_record(NL_OP_INDEX_SELECT, r, 1, &t);
    if (node) {
        node->a[0] = d;
        node->a[1] = base;
        nl_node_save(node, index);
    }
    return r;
}

/* m runs of flip's copy: out[i, j] = in[i * rstep + j * step], i < m,
 * j < n, rstep and step in elements of es bytes; a run forwards is a
 * memcpy, one backwards a reversed copy that vectorizes */
static void flip_runs(char *restrict out, const char *restrict in, int64_t m, int64_t rstep, int64_t n, int64_t step,
                      int64_t es) {
    size_t len = (size_t)(n * es);
    for (int64_t i = 0; i < m; i++, out += len) {
        const char *row = in + i * rstep * es;
        if (step == 1) memcpy(out, row, len);
        else if (step == -1 && es == 4) reverse_row_u32((uint32_t *)out, (const uint32_t *)row, 0, n);
        else if (step == -1) reverse_row_u64((uint64_t *)out, (const uint64_t *)row, 0, n);
        else if (es == 4) for (int64_t j = 0; j < n; j++) ((uint32_t *)out)[j] = ((const uint32_t *)row)[j * step];
        else for (int64_t j = 0; j < n; j++) ((uint64_t *)out)[j] = ((const uint64_t *)row)[j * step];
    }
}

/* flip as a strided copy: t read as a view whose flipped dims step back
 * from their last element, its dims merged where one runs on into the
 * next (a flip along H of N x 1 x H x W: N x H runs of W elements, the H
 * ones walked backwards), each run copied whole, the rows of runs on the
 * threads above 2^16 elements. index_select by a reversed index along
 * each dim is the reference (tensor_linalg_spec). */
nl_tensor *nl_flip(nl_tensor *t, int mask) {
    NL_CHECK_TENSOR("flip", t);
    NL_CHECK(mask >= 0 && mask < (1 << t->ndim), "flip: dims mask %d out of range for shape %s", mask,
             nl_shape_str(t));
    nl_tensor *r = nl_tensor_alloc("flip", t->ndim, t->sizes, t->dtype);
    if (!r) return NULL;
    if (r->numel > 0) {
        /* the view read, a dim of 1 before t's: (nd) sizes, signed steps */
        int64_t sz[10] = { 1 }, st[10] = { 0 }, start = 0, es = nl_dtype_size(t->dtype);
        int nd = 1;
        for (int k = 0; k < t->ndim; k++) {
            int64_t s = t->sizes[k], step = t->strides[k];
            if (s == 1) continue;
            if (mask >> k & 1) {
                start += (s - 1) * step;
                step = -step;
            }
            if (st[nd - 1] == s * step) {
                sz[nd - 1] *= s;
                st[nd - 1] = step;
            } else {
                sz[nd] = s;
                st[nd] = step;
                nd++;
            }
        }
        if (nd == 1) {                 /* one element */
            sz[1] = 1;
            st[1] = 1;
            nd = 2;
        }
        /* runs of n elements (the last dim), rows of them along dim nd - 2,
         * the dims before walked by an odometer */
        int64_t n = sz[nd - 1], step = st[nd - 1], rows = r->numel / n, m2 = sz[nd - 2], st2 = st[nd - 2];
        const char *src = (const char *)t->data + start * es;
        char *dst = r->data;
        int nt = nl_threads_for(r->numel, 1 << 16);
        /* a share of the rows each thread, its first row's place found by
         * division (a division a row was 30 instructions a row) */
        NL_PARALLEL_FOR(nt, c, nt,
            int64_t lo = rows * c / nt, hi = rows * (c + 1) / nt, at[10] = { 0 }, off = 0, q = lo;
            for (int k = nd - 2; k >= 0; k--) {
                at[k] = q % sz[k];
                off += at[k] * st[k];
                q /= sz[k];
            }
            for (int64_t j = lo; j < hi;) {
                int64_t m = m2 - at[nd - 2] < hi - j ? m2 - at[nd - 2] : hi - j;
                flip_runs(dst + j * n * es, src + off * es, m, st2, n, step, es);
                j += m;
                off += m * st2;
                at[nd - 2] += m;
                for (int k = nd - 2; k >= 1 && at[k] == sz[k]; k--) {   /* carry */
                    off += st[k - 1] - at[k] * st[k];
                    at[k] = 0;
                    at[k - 1]++;
                }
            }
        );
    }
    nl_node *node = nl_record(NL_OP_FLIP, r, 1, &t);
    if (node) node->a[0] = mask;
    return r;
}

/* ---- backward of the shape ops ---- */

int nl_shape_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *x = n->in[0], *gx = NULL;
    int d = (int)n->a[0];
    switch (n->op) {
    case NL_OP_VIEW: gx = TMP(nl_reshape(g, x->ndim, x->sizes)); break;
    case NL_OP_TRANSPOSE: gx = TMP(nl_transpose(g, (int)n->a[0], (int)n->a[1])); break;
    case NL_OP_PERMUTE: {
        int inv[8];
        for (int i = 0; i < x->ndim; i++) inv[n->a[i]] = i;
        gx = TMP(nl_permute(g, x->ndim, inv));
        break;
    }
    case NL_OP_NARROW:
    case NL_OP_SELECT: {                 /* g written into the slice, zeros on either side of it */
        int64_t at = n->a[1], len = n->op == NL_OP_NARROW ? g->sizes[d] : 1, size = x->sizes[d];
        gx = TMP(nl_tensor_alloc(nl_op_name(n->op), x->ndim, x->sizes, g->dtype));
        nl_tensor *slice = TMP(n->op == NL_OP_NARROW ? nl_narrow(gx, d, at, len) : nl_select(gx, d, at));
        if (nl_copy_(slice, g) != 0) goto fail;
        if (at > 0 && nl_fill_(TMP(nl_narrow(gx, d, 0, at)), 0.0) != 0) goto fail;
        if (at + len < size && nl_fill_(TMP(nl_narrow(gx, d, at + len, size - at - len)), 0.0) != 0) goto fail;
        break;
    }
    case NL_OP_EXPAND: gx = TMP(nl_sum_to(g, x->ndim, x->sizes)); break;
    case NL_OP_CONTIGUOUS: gx = g; break;
    case NL_OP_FLIP: gx = TMP(nl_flip(g, (int)n->a[0])); break;   /* flipped back */
    case NL_OP_TO_DTYPE: gx = TMP(nl_to_dtype(g, x->dtype)); break;
    case NL_OP_CAT: {
        int64_t at = 0;
        for (int i = 0; i < n->n_in; i++) {
            int64_t len = n->in[i]->sizes[d];
            if (nl_node_wants(n, i) &&
                !(gin[i] = nl_contiguous(TMP(nl_narrow(g, d, at, len))))) goto fail;
            at += len;
        }
        nl_temps_free(&tmps);
        return 0;
    }
    case NL_OP_INDEX_SELECT: {           /* rows of g added back at their indices */
        gx = TMP(nl_full(x->ndim, x->sizes, 0.0, g->dtype));
        const nl_tensor *idx = n->saved;
        if (d == 0 && g->dtype != NL_INT64) {   /* rows: one pass, as an embedding's backward */
            nl_tensor *gc = TMP(nl_contiguous(g));
            /* no rows, no indices: nothing to add (the division by 0 rows trapped) */
            int64_t row = x->ndim == 0 ? 1 : x->sizes[0] ? x->numel / x->sizes[0] : 0;
            for (int64_t i = 0; i < idx->numel; i++) {
                int64_t k = nl_get_index(idx, i, n->a[1]);
                if (g->dtype == NL_FLOAT32) {
                    float *o = (float *)gx->data + k * row;
                    const float *src = (const float *)gc->data + i * row;
                    for (int64_t j = 0; j < row; j++) o[j] += src[j];
                } else {
                    double *o = (double *)gx->data + k * row;
                    const double *src = (const double *)gc->data + i * row;
                    for (int64_t j = 0; j < row; j++) o[j] += src[j];
                }
            }
            break;
        }
        for (int64_t i = 0; i < idx->numel; i++) {
            int64_t k = nl_get_index(idx, i, n->a[1]);
            nl_tensor *dst = nl_select(gx, d, k), *src = nl_select(g, d, i);
            int rc = (dst && src) ? nl_add_scaled_(dst, src, 1.0) : -1;
            nl_release(dst);
            nl_release(src);
            if (rc != 0) goto fail;
        }
        break;
    }
    default:
        nl_set_error("no backward for %s", nl_op_name(n->op));
        goto fail;
    }
    gin[0] = nl_keep_ref(gx);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}

/* ---- gather, scatter, scatter_add, index_add ----
 * One walk over the places of the index, whatever the strides of the
 * index, the source and the tensor; the index's values are checked in a
 * first pass, so that an error leaves no half-made result. */

/* the walk: pos runs over idx's shape, last dim fastest, and each of n
 * stride sets st[k] (in elements) gives an offset off[k] */
typedef struct {
    int ndim, n;
    int64_t sizes[8], pos[8], st[3][8], off[3];
} idx_walk;

static void walk_init(idx_walk *w, const nl_tensor *idx, int n) {
    w->ndim = idx->ndim;
    w->n = n;
    memcpy(w->sizes, idx->sizes, sizeof w->sizes);
    memset(w->pos, 0, sizeof w->pos);
    memset(w->off, 0, sizeof w->off);
}

static void walk_next(idx_walk *w) {
    for (int d = w->ndim - 1; d >= 0; d--) {
        for (int k = 0; k < w->n; k++) w->off[k] += w->st[k][d];
        if (++w->pos[d] < w->sizes[d]) return;
        for (int k = 0; k < w->n; k++) w->off[k] -= w->st[k][d] * w->sizes[d];
        w->pos[d] = 0;
    }
}

/* checks of shapes and index values shared by gather and scatter: idx
 * int64 of t's dims, no larger than t (but along d) nor than src; every
 * value in t's range along d */
static bool index_ok(const char *op, const nl_tensor *t, int d, const nl_tensor *idx, const nl_tensor *src,
                     int64_t base, bool scan) {
    if (idx->dtype != NL_INT64) {
        nl_set_error("%s: index must be an int64 tensor, got %s %s", op, nl_dtype_name(idx->dtype),
                     nl_shape_str(idx));
        return false;
    }
    if (idx->ndim != t->ndim) {
        nl_set_error("%s: index of shape %s must have as many dims as the tensor of shape %s", op,
                     nl_shape_str(idx), nl_shape_str(t));
        return false;
    }
    for (int q = 0; q < t->ndim; q++) {
        if ((q != d && idx->sizes[q] > t->sizes[q]) || (src && idx->sizes[q] > src->sizes[q])) {
            nl_set_error("%s: index of shape %s is larger than the %s of shape %s in dim %d", op, nl_shape_str(idx),
                         src && idx->sizes[q] > src->sizes[q] ? "source" : "tensor",
                         nl_shape_str(src && idx->sizes[q] > src->sizes[q] ? src : t), (int)(q + base));
            return false;
        }
    }
    if (!scan) return true;             /* (the caller checks the entries as it reads them) */
    const int64_t *iv = idx->data;
    if (nl_is_contiguous(idx)) {
        /* the usual index: a plain pass, the walk only to name a bad entry
         * (the walk's step per entry took twice gather's own copy) */
        uint64_t lim = (uint64_t)t->sizes[d], ub = (uint64_t)base, out = 0;
        /* v - base in [0, lim), unsigned: below base wraps past lim */
        for (int64_t i = 0; i < idx->numel; i++) out |= (uint64_t)iv[i] - ub >= lim;
        if (!out) return true;
    }
    idx_walk w;
    walk_init(&w, idx, 1);
    memcpy(w.st[0], idx->strides, sizeof w.st[0]);
    for (int64_t i = 0; i < idx->numel; i++, walk_next(&w)) {
        /* compared before subtracting base (INT64_MIN - 1 overflowed) */
        int64_t v = iv[w.off[0]];
        if (v < base || v - base >= t->sizes[d]) {
            nl_set_error("%s: index %lld out of range for dim %d of shape %s", op, (long long)v,
                         (int)(d + base), nl_shape_str(t));
            return false;
        }
    }
    return true;
}

/* Gather and scatter go by rows of the index's last dim: each row's
 * first places in idx, t (or out) and src from its multi-index over the
 * leading dims (dim d's place in t given by the entry), then a plain loop
 * along the row, by the element's bits (the walk's step and a memcpy per
 * element took 50 instructions an element, 13 ns). */

/* the offsets (in elements) of idx's row rw (over its leading dims) in
 * idx (o[0]) and in up to two tensors a, b (o[1], o[2]) of idx's dims,
 * dim d left at 0 in a (its place comes from the index) */
static void row_offsets(int64_t *o, int64_t rw, const nl_tensor *idx, int d, const nl_tensor *a,
                        const nl_tensor *b) {
    o[0] = o[1] = o[2] = 0;
    for (int q = idx->ndim - 2; q >= 0; q--) {
        int64_t p = rw % idx->sizes[q];
        rw /= idx->sizes[q];
        o[0] += p * idx->strides[q];
        if (q != d) o[1] += p * a->strides[q];
        if (b) o[2] += p * b->strides[q];
    }
}

/* out[j] = t[j ts + (k[j ks] - base) td], j < m, the entries checked as
 * they are read (n: t's size along d; a bad one reads place 0): nonzero
 * when one was out of range */
#define GATHER_ROW(T, SFX)                                                                          \
    static uint64_t gather_strided_##SFX(T *restrict out, const T *restrict t, const int64_t *restrict k, \
                                         int64_t ks, int64_t ts, int64_t td, int64_t base, int64_t m, int64_t n) { \
        uint64_t bad = 0;                                                                           \
        for (int64_t j = 0; j < m; j++) {                                                           \
            uint64_t u = (uint64_t)k[j * ks] - (uint64_t)base;   /* below base wraps past n */     \
            bad |= u >= (uint64_t)n;                                                                \
            out[j] = t[j * ts + (int64_t)(u < (uint64_t)n ? u : 0) * td];                           \
        }                                                                                           \
        return bad;                                                                                 \
    }
GATHER_ROW(uint32_t, u32)
GATHER_ROW(uint64_t, u64)

/* out (idx's shape, contiguous) = t gathered along d, row by row on the
 * threads; the entries are checked as they are read: false when one is
 * out of range (out is then garbage) */
static bool gather_raw(nl_tensor *out, const nl_tensor *t, int d, const nl_tensor *idx, int64_t base) {
    if (idx->numel == 0) return true;
    int64_t n = t->sizes[d];
    if (n == 0) return false;           /* (every entry is out of range) */
    int L = idx->ndim - 1;
    int64_t es = nl_dtype_size(t->dtype), m = idx->sizes[L], rows = idx->numel / m;
    int64_t ks = idx->strides[L], ts = L == d ? 0 : t->strides[L], td = t->strides[d];
    int nt = nl_threads_for(idx->numel, 1 << 16);
    int bad = 0;
    NL_PARALLEL_FOR(nt, rw, rows,
        int64_t o[3];
        row_offsets(o, rw, idx, d, t, NULL);
        const int64_t *k = (const int64_t *)idx->data + o[0];
        uint64_t b = ks == 1 && ts == 0 && td == 1   /* along t's unit-stride last dim: simple indexing */
            ? (es == 4 ? gather_row_u32((uint32_t *)out->data + rw * m, (const uint32_t *)t->data + o[1], k, base, m, n)
                       : gather_row_u64((uint64_t *)out->data + rw * m, (const uint64_t *)t->data + o[1], k, base, m, n))
            : es == 4
            ? gather_strided_u32((uint32_t *)out->data + rw * m, (const uint32_t *)t->data + o[1], k, ks, ts, td,
                                 base, m, n)
            : gather_strided_u64((uint64_t *)out->data + rw * m, (const uint64_t *)t->data + o[1], k, ks, ts, td,
                                 base, m, n);
        if (b) __atomic_store_n(&bad, 1, __ATOMIC_RELAXED);
    );
    return !bad;
}

/* out[j os + (k[j ks] - base) od] = src[j ss] (op: =, +=, or 0 written
 * when src is NULL), j < m, the entries in order; no checks */
#define SCATTER_ROW(T, SFX, NAME, OP)                                                               \
    static void scatter_##NAME##_##SFX(T *out, const T *src, const int64_t *restrict k, int64_t ks, int64_t os, \
                                       int64_t od, int64_t ss, int64_t base, int64_t m) {           \
        for (int64_t j = 0; j < m; j++) {                                                           \
            T *y = out + j * os + (k[j * ks] - base) * od;                                          \
            OP;                                                                                     \
        }                                                                                           \
    }
SCATTER_ROW(uint32_t, u32, copy, (void)ss; *y = src[j * ss])
SCATTER_ROW(uint64_t, u64, copy, (void)ss; *y = src[j * ss])
SCATTER_ROW(uint32_t, u32, zero, (void)src; (void)ss; *y = 0)
SCATTER_ROW(uint64_t, u64, zero, (void)src; (void)ss; *y = 0)
SCATTER_ROW(float, f32, add, *y += src[j * ss])
SCATTER_ROW(double, f64, add, *y += src[j * ss])
/* wraps past 2^63, as PyTorch's (a plain += overflowed: undefined) */
SCATTER_ROW(int64_t, i64, add, *y = nl_wrap_add(*y, src[j * ss]))

/* out (any strides, not repeating memory) along d at idx = src (add: +=
 * src, or g * 0 = 0 written when src is NULL), the rows in order on one
 * thread (a place given twice: the last write wins); no checks */
static void scatter_raw(nl_tensor *out, int d, const nl_tensor *idx, const nl_tensor *src, int add, int64_t base) {
    if (idx->numel == 0) return;
    int L = idx->ndim - 1;
    int64_t es = nl_dtype_size(out->dtype), m = idx->sizes[L], rows = idx->numel / m;
    int64_t ks = idx->strides[L], os = L == d ? 0 : out->strides[L], od = out->strides[d];
    int64_t ss = src ? src->strides[L] : 0;
    for (int64_t rw = 0; rw < rows; rw++) {
        int64_t o[3];
        row_offsets(o, rw, idx, d, out, src);
        const int64_t *k = (const int64_t *)idx->data + o[0];
        char *y = (char *)out->data + o[1] * es;
        const char *x = src ? (const char *)src->data + o[2] * es : NULL;
        if (!src) {
            if (es == 4) scatter_zero_u32((uint32_t *)y, NULL, k, ks, os, od, 0, base, m);
            else scatter_zero_u64((uint64_t *)y, NULL, k, ks, os, od, 0, base, m);
        } else if (!add) {
            if (es == 4) scatter_copy_u32((uint32_t *)y, (const uint32_t *)x, k, ks, os, od, ss, base, m);
            else scatter_copy_u64((uint64_t *)y, (const uint64_t *)x, k, ks, os, od, ss, base, m);
        } else if (out->dtype == NL_FLOAT32) {
            scatter_add_f32((float *)y, (const float *)x, k, ks, os, od, ss, base, m);
        } else if (out->dtype == NL_FLOAT64) {
            scatter_add_f64((double *)y, (const double *)x, k, ks, os, od, ss, base, m);
        } else {
            scatter_add_i64((int64_t *)y, (const int64_t *)x, k, ks, os, od, ss, base, m);
        }
    }
}

nl_tensor *nl_gather(nl_tensor *t, int dim, nl_tensor *index, int64_t base) {
    NL_CHECK_TENSOR("gather", t);
    NL_CHECK_TENSOR("gather", index);
    int d = nl_wrap_dim(dim, t->ndim);
    NL_CHECK(d >= 0 && t->ndim > 0, "gather: dim %d out of range for shape %s", dim, nl_shape_str(t));
    if (!index_ok("gather", t, d, index, NULL, base, false)) return NULL;
    nl_tensor *r = nl_tensor_alloc("gather", index->ndim, index->sizes, t->dtype);
    if (!r) return NULL;
    if (!gather_raw(r, t, d, index, base)) {
        index_ok("gather", t, d, index, NULL, base, true);   /* names the entry */
        nl_release(r);
        return NULL;
    }
    nl_node *node = nl_record(NL_OP_GATHER, r, 1, &t);
    if (node) {
        node->a[0] = d;
        node->a[1] = base;
        nl_node_save(node, index);
    }
    return r;
}

/* the wrapped dim of scatter's and scatter_reduce's call, or -1 with the
 * error set: t, index and src given, dim in t's range, src of t's dtype
 * and number of dims, index_ok (its walk over the entries only if
 * entries: scatter_reduce's kernel checks them as it reads them) */
static int scatter_dim(const char *op, const nl_tensor *t, int dim, const nl_tensor *index, const nl_tensor *src,
                       int64_t base, bool entries) {
    NL_CHECK_TENSOR_INT(op, t);
    NL_CHECK_TENSOR_INT(op, index);
    NL_CHECK_TENSOR_INT(op, src);
    int d = nl_wrap_dim(dim, t->ndim);
    NL_CHECK_INT(d >= 0 && t->ndim > 0, "%s: dim %d out of range for shape %s", op, dim, nl_shape_str(t));
    NL_CHECK_INT(src->dtype == t->dtype, "%s: the source's dtype %s differs from the tensor's %s", op,
                 nl_dtype_name(src->dtype), nl_dtype_name(t->dtype));
    NL_CHECK_INT(src->ndim == t->ndim, "%s: source of shape %s must have as many dims as the tensor of shape %s",
                 op, nl_shape_str(src), nl_shape_str(t));
    return index_ok(op, t, d, index, src, base, entries) ? d : -1;
}

nl_tensor *nl_scatter(nl_tensor *t, int dim, nl_tensor *index, nl_tensor *src, int add, int64_t base) {
    const char *op = add ? "scatter_add" : "scatter";
    int d = scatter_dim(op, t, dim, index, src, base, true);
    if (d < 0) return NULL;
    nl_tensor *r = copy_as(t, t->dtype, op);
    if (!r) return NULL;
    scatter_raw(r, d, index, src, add, base);
    nl_node *node = nl_record(add ? NL_OP_SCATTER_ADD : NL_OP_SCATTER, r, 2, (nl_tensor *[]){ t, src });
    if (node) {
        node->a[0] = d;
        node->a[1] = base;
        nl_node_save(node, index);
    }
    return r;
}

int nl_scatter_(nl_tensor *t, int dim, nl_tensor *index, nl_tensor *src, int add, int64_t base) {
    const char *op = add ? "scatter_add" : "scatter";
    int d = scatter_dim(op, t, dim, index, src, base, true);
    if (d < 0 || !nl_inplace_write_ok(op, t, NULL)) return -1;
    /* a source or index in t's memory is read whole before t is written */
    bool src_in = src->storage == t->storage, idx_in = index->storage == t->storage;
    nl_tensor *hs = src_in ? nl_clone(src) : NULL, *hi = idx_in ? nl_clone(index) : NULL;
    if ((src_in && !hs) || (idx_in && !hi)) {
        nl_release(hs);
        nl_release(hi);
        return -1;
    }
    scatter_raw(t, d, hi ? hi : index, hs ? hs : src, add, base);
    nl_release(hs);
    nl_release(hi);
    nl_bump_version(t);
    return 0;
}

/* index_add's checks, in index_add's words: the index's places, and its
 * dim in *d; NULL on error */
static int64_t *index_add_places(nl_tensor *t, int dim, nl_tensor *index, nl_tensor *src, int64_t base, int *d) {
    if (!t || !index || !src) {
        nl_set_error("index_add: expected a tensor, got nil");
        return NULL;
    }
    if (index->dtype != NL_INT64 || index->ndim > 1) {
        nl_set_error("index_add: index must be a 1-D int64 tensor, got %s %s", nl_dtype_name(index->dtype),
                     nl_shape_str(index));
        return NULL;
    }
    *d = nl_wrap_dim(dim, t->ndim);
    if (*d < 0 || t->ndim == 0) {
        nl_set_error("index_add: dim %d out of range for shape %s", dim, nl_shape_str(t));
        return NULL;
    }
    if (src->dtype != t->dtype) {
        nl_set_error("index_add: the source's dtype %s differs from the tensor's %s", nl_dtype_name(src->dtype),
                     nl_dtype_name(t->dtype));
        return NULL;
    }
    bool shape_ok = src->ndim == t->ndim;
    for (int q = 0; shape_ok && q < t->ndim; q++)
        shape_ok = src->sizes[q] == (q == *d ? index->numel : t->sizes[q]);
    if (!shape_ok) {
        nl_set_error("index_add: source of shape %s must be the tensor's shape %s but %lld (the index's length) "
                     "in dim %d", nl_shape_str(src), nl_shape_str(t), (long long)index->numel, (int)(*d + base));
        return NULL;
    }
    return index_places("index_add", index, t, *d, base, false);
}

nl_tensor *nl_index_add(nl_tensor *t, int dim, nl_tensor *index, nl_tensor *src, double alpha, int64_t base) {
    int d;
    int64_t *ks = index_add_places(t, dim, index, src, base, &d);
    if (!ks) return NULL;
    nl_tensor *r = copy_as(t, t->dtype, "index_add");
    /* slice by slice in the index's order, each element as add_ adds (a
     * select of each slice and an add_ took 0.3 us an entry) */
    if (r) index_slices(r, d, ks, src, src->strides, NULL, index->numel, true, alpha);
    free(ks);
    if (!r) return NULL;
    nl_node *node = nl_record(NL_OP_INDEX_ADD, r, 2, (nl_tensor *[]){ t, src });
    if (node) {
        node->a[0] = d;
        node->a[1] = base;
        node->s[0] = alpha;
        nl_node_save(node, index);
    }
    return r;
}

int nl_index_add_(nl_tensor *t, int dim, nl_tensor *index, nl_tensor *src, double alpha, int64_t base) {
    int d;
    int64_t *ks = index_add_places(t, dim, index, src, base, &d);
    if (!ks) return -1;
    if (!nl_inplace_write_ok("index_add", t, NULL)) {
        free(ks);
        return -1;
    }
    /* a source in t's memory is read whole before t is written */
    nl_tensor *held = src->storage == t->storage ? nl_clone(src) : NULL;
    if (src->storage == t->storage && !held) {
        free(ks);
        return -1;
    }
    const nl_tensor *from = held ? held : src;
    index_slices(t, d, ks, from, from->strides, NULL, index->numel, true, alpha);
    nl_release(held);
    free(ks);
    nl_bump_version(t);
    return 0;
}

/* index_copy_ and index_fill_ (fill: src a 0-dim value) in place, with
 * index_copy's and index_fill's checks in their order and words; t left
 * as it was on an error */
int nl_index_put_(nl_tensor *t, int dim, nl_tensor *index, nl_tensor *src, int fill, int64_t base) {
    const char *op = fill ? "index_fill" : "index_copy";
    NL_CHECK_TENSOR_INT(op, t);
    NL_CHECK_TENSOR_INT(op, index);
    NL_CHECK_TENSOR_INT(op, src);
    NL_CHECK_INT(index->dtype == NL_INT64, "%s: indices must be an int64 tensor, got %s", op,
                 nl_dtype_name(index->dtype));
    int d = t->ndim ? nl_wrap_dim(dim, t->ndim) : (dim == 0 || dim == -1 ? 0 : -1);
    NL_CHECK_INT(d >= 0, "%s: dim %d out of range for shape %s", op, dim, nl_shape_str(t));
    if (!nl_inplace_write_ok(op, t, NULL)) return -1;
    int64_t n = index->numel;
    int64_t *ks = index_places(op, index, t, d, base, true);
    if (!ks) return -1;
    nl_tensor *held = NULL;
    int rc = -1;
    if (index->ndim > 1) {
        nl_set_error("%s: index must be 0-D or 1-D, got shape %s", op, nl_shape_str(index));
        goto done;
    }
    if (!fill) {
        /* a place given twice: which copy wins is unspecified (PyTorch) */
        int64_t size = t->ndim ? t->sizes[d] : 1;
        unsigned char *seen = calloc((size_t)(size > 0 ? size : 1), 1);
        if (!seen) {
            nl_set_error("%s: out of memory", op);
            goto done;
        }
        bool twice = false;
        for (int64_t i = 0; i < n && !twice; i++) {
            twice = seen[ks[i]];
            seen[ks[i]] = 1;
        }
        free(seen);
        if (twice) {
            nl_set_error("%s: an index appears more than once (which copy would win is unspecified)", op);
            goto done;
        }
    }
    if (src->dtype != t->dtype) {
        if (fill) nl_set_error("%s: value of dtype %s for a tensor of %s", op, nl_dtype_name(src->dtype),
                               nl_dtype_name(t->dtype));
        else nl_set_error("%s: source (%s) and the tensor (%s) must have one dtype", op, nl_dtype_name(src->dtype),
                          nl_dtype_name(t->dtype));
        goto done;
    }
    int64_t sst[8] = { 0 };
    if (fill) {
        if (src->ndim != 0) {
            nl_set_error("%s: value must be a number or a 0-dim tensor, got a tensor of shape %s", op,
                         nl_shape_str(src));
            goto done;
        }
    } else if (t->ndim == 0) {
        if (src->numel != 1) {
            nl_set_error("%s: a 0-dim tensor takes a one-element source", op);
            goto done;
        }
    } else {
        bool shape_ok = src->ndim == t->ndim;
        for (int q = 0; shape_ok && q < t->ndim; q++)
            shape_ok = src->sizes[q] == (q == d ? n : t->sizes[q]);
        if (!shape_ok) {
            nl_set_error("%s: source of shape %s must be the tensor's shape %s but %lld (the index's length) in "
                         "dim %d", op, nl_shape_str(src), nl_shape_str(t), (long long)n, (int)(d + base));
            goto done;
        }
        memcpy(sst, src->strides, sizeof(int64_t) * (size_t)t->ndim);
    }
    if (src->storage == t->storage) {
        /* a source in t's memory is read whole before t is written */
        held = nl_clone(src);
        if (!held) goto done;
        if (!fill && t->ndim) memcpy(sst, held->strides, sizeof(int64_t) * (size_t)t->ndim);
    }
    /* (a fill's value: every stride 0) */
    index_slices(t, d, ks, held ? held : src, sst, NULL, n, false, 0);
    nl_bump_version(t);
    rc = 0;
done:
    nl_release(held);
    free(ks);
    return rc;
}

/* scatter_reduce, lane by lane: a lane is one place of index's dims but
 * dim; its entries along dim land in the lane of out (and of count) at
 * the same place, which no other lane touches, so lanes run in parallel.
 * out is contiguous; count (mean; out's shape, or NULL) starts at 1 with
 * include_self, else 0. first: the places written start from ident.
 * Each entry is checked as it is read (a separate pass over the index
 * took a third of the time): at one out of range the lane stops and *bad
 * is set, out then being partly written (it is the caller's own copy).
 * The strides are locals and the count's loop its own, so the compiler
 * keeps them in registers (it reloaded them after each store). */
#define SR_LANES(T, FIRST, STEP)                                                                            \
    do {                                                                                                    \
        T *o = (T *)out->data;                                                                              \
        const T *sv = (const T *)src->data;                                                                 \
        const int64_t is = idx->strides[d], ss = src->strides[d], os = out->strides[d];                    \
        const uint64_t lim = (uint64_t)out->sizes[d], ub = (uint64_t)base;                                  \
        NL_PARALLEL_FOR(nt, l, lanes,                                                                       \
            int64_t io = 0, so = 0, oo = 0, rem = l;                                                        \
            for (int q = nd - 1; q >= 0; q--) {                                                             \
                if (q == d) continue;                                                                       \
                int64_t c = rem % idx->sizes[q];                                                            \
                rem /= idx->sizes[q];                                                                       \
                io += c * idx->strides[q];                                                                  \
                so += c * src->strides[q];                                                                  \
                oo += c * out->strides[q];                                                                  \
            }                                                                                               \
            const int64_t *ip = iv + io;                                                                    \
            const T *sp = sv + so;                                                                          \
            T *op = o + oo;                                                                                 \
            int64_t *cp = count ? count + oo : NULL;                                                        \
            int64_t k = 0;                                                                                  \
            /* (v - base, unsigned: below base wraps past lim) */                                           \
            if (first)                                                                                      \
                for (; k < m; k++) {                                                                        \
                    uint64_t j = (uint64_t)ip[k * is] - ub;                                                 \
                    if (j >= lim) break;                                                                    \
                    op[(int64_t)j * os] = (FIRST);                                                          \
                    if (cp) cp[(int64_t)j * os] = 0;                                                        \
                }                                                                                           \
            if (k == m || !first) {                                                                         \
                k = 0;                                                                                      \
                if (cp)                                                                                     \
                    for (; k < m; k++) {                                                                    \
                        uint64_t j = (uint64_t)ip[k * is] - ub;                                             \
                        if (j >= lim) break;                                                                \
                        int64_t at = (int64_t)j * os;                                                       \
                        T s = sp[k * ss], v = op[at];                                                       \
                        op[at] = (STEP);                                                                    \
                        cp[at]++;                                                                           \
                    }                                                                                       \
                else                                                                                        \
                    for (; k < m; k++) {                                                                    \
                        uint64_t j = (uint64_t)ip[k * is] - ub;                                             \
                        if (j >= lim) break;                                                                \
                        int64_t at = (int64_t)j * os;                                                       \
                        T s = sp[k * ss], v = op[at];                                                       \
                        op[at] = (STEP);                                                                    \
                    }                                                                                       \
            }                                                                                               \
            if (k < m) __atomic_store_n(bad, 1, __ATOMIC_RELAXED);                                          \
        );                                                                                                  \
    } while (0)

/* amax and amin of the value so far v and the next s, as PyTorch's
 * (NaN in either wins, else std::max(v, s): v of equal ones): NaN is
 * rare, so its test is a branch well predicted, and the rest one
 * maxss/minss (the branch of a compare, mispredicted on random data,
 * took 3x sum's time) */
#if defined(__SSE2__)
#define SR_MINMAX(name, T, op, sse)                                          \
    static inline T name(T v, T s) {                                         \
        if (__builtin_expect(s != s || v != v, 0)) return s != s ? s : v;   \
        return sse;                                                          \
    }
SR_MINMAX(sr_maxf, float, >, _mm_cvtss_f32(_mm_max_ss(_mm_set_ss(s), _mm_set_ss(v))))
SR_MINMAX(sr_minf, float, <, _mm_cvtss_f32(_mm_min_ss(_mm_set_ss(s), _mm_set_ss(v))))
SR_MINMAX(sr_maxd, double, >, _mm_cvtsd_f64(_mm_max_sd(_mm_set_sd(s), _mm_set_sd(v))))
SR_MINMAX(sr_mind, double, <, _mm_cvtsd_f64(_mm_min_sd(_mm_set_sd(s), _mm_set_sd(v))))
#else
#define SR_MINMAX(name, T, op, sse)                                          \
    static inline T name(T v, T s) { return s != s ? s : (s op v ? s : v); }
SR_MINMAX(sr_maxf, float, >, 0)
SR_MINMAX(sr_minf, float, <, 0)
SR_MINMAX(sr_maxd, double, >, 0)
SR_MINMAX(sr_mind, double, <, 0)
#endif
#undef SR_MINMAX

/* false where an entry of idx is out of range (out then partly written) */
static bool scatter_reduce_raw(nl_tensor *out, int d, const nl_tensor *idx, const nl_tensor *src, int reduce,
                               int first, int64_t base, int64_t *count /* out's numel, or NULL */) {
    int nd = idx->ndim;
    int64_t m = nd ? idx->sizes[d] : 1;
    if (idx->numel == 0 || m == 0) return true;
    int bad_ = 0, *bad = &bad_;
    int64_t lanes = idx->numel / m;
    int nt = nl_threads_for(idx->numel, 1 << 15);
    const int64_t *iv = idx->data;
    if (out->dtype == NL_FLOAT32) {
        switch (reduce) {
        case 0: case 2: SR_LANES(float, 0.0f, v + s); break;
        case 1: SR_LANES(float, 1.0f, v * s); break;
        case 3: SR_LANES(float, -INFINITY, sr_maxf(v, s)); break;
        default: SR_LANES(float, INFINITY, sr_minf(v, s)); break;
        }
    } else if (out->dtype == NL_FLOAT64) {
        switch (reduce) {
        case 0: case 2: SR_LANES(double, 0.0, v + s); break;
        case 1: SR_LANES(double, 1.0, v * s); break;
        case 3: SR_LANES(double, -INFINITY, sr_maxd(v, s)); break;
        default: SR_LANES(double, INFINITY, sr_mind(v, s)); break;
        }
    } else {
        switch (reduce) {
        case 0: case 2: SR_LANES(int64_t, 0, nl_wrap_add(v, s)); break;
        case 1: SR_LANES(int64_t, 1, nl_wrap_mul(v, s)); break;
        case 3: SR_LANES(int64_t, INT64_MIN, s > v ? s : v); break;
        default: SR_LANES(int64_t, INT64_MAX, s < v ? s : v); break;
        }
    }
    return !bad_;
}
#undef SR_LANES

static const char *const SR_NAMES[] = { "sum", "prod", "mean", "amax", "amin" };

nl_tensor *nl_scatter_reduce(nl_tensor *t, int dim, nl_tensor *index, nl_tensor *src, int reduce, int include_self,
                             int64_t base) {
    const char *op = "scatter_reduce";
    NL_CHECK(reduce >= 0 && reduce <= 4, "scatter_reduce: reduce must be 0 to 4 (%s, %s, %s, %s, %s), got %d",
             SR_NAMES[0], SR_NAMES[1], SR_NAMES[2], SR_NAMES[3], SR_NAMES[4], reduce);
    /* (the entries are checked by the kernel as it reads them; at a bad
     * one, index_ok's walk names it) */
    int d = scatter_dim(op, t, dim, index, src, base, false);
    if (d < 0) return NULL;
    nl_tensor *r = copy_as(t, t->dtype, op);
    if (!r) return NULL;
    if (reduce != 2) {
        if (scatter_reduce_raw(r, d, index, src, reduce, !include_self, base, NULL)) return r;
        index_ok(op, t, d, index, src, base, true);
        nl_release(r);
        return NULL;
    }
    /* mean: the sums and their counts, then out / count (count 0: 1) */
    nl_tensor *cnt = nl_full(r->ndim, r->sizes, include_self ? 1.0 : 0.0, NL_INT64);
    if (!cnt) {
        nl_release(r);
        return NULL;
    }
    int64_t *c = cnt->data;
    if (!scatter_reduce_raw(r, d, index, src, 2, !include_self, base, c)) {
        index_ok(op, t, d, index, src, base, true);
        nl_release(cnt);
        nl_release(r);
        return NULL;
    }
    int64_t n = r->numel;
    if (r->dtype == NL_FLOAT32) {
        float *o = r->data;
        for (int64_t i = 0; i < n; i++) o[i] /= (float)(c[i] ? c[i] : 1);
    } else if (r->dtype == NL_FLOAT64) {
        double *o = r->data;
        for (int64_t i = 0; i < n; i++) o[i] /= (double)(c[i] ? c[i] : 1);
    } else {
        int64_t *o = r->data;
        for (int64_t i = 0; i < n; i++) {
            int64_t k = c[i] ? c[i] : 1, q = o[i] / k;
            o[i] = (o[i] % k != 0 && o[i] < 0) ? q - 1 : q;   /* rounded down, as PyTorch's "floor" */
        }
    }
    nl_release(cnt);
    return r;
}

/* gather: g added back at the index into zeros of t's shape (scatter_add);
 * scatter: g but zero where it wrote, and for src, g gathered at the index
 * (zeros past the index's shape, for a larger source); scatter_add: g, and
 * src's as scatter's; index_add: g, and alpha times g's slices at the index */
static int nl_gather_scatter_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    int d = (int)n->a[0];
    int64_t base = n->a[1];
    nl_tensor *idx = n->saved, *x = n->in[0];
    if (n->op == NL_OP_GATHER) {
        if (nl_node_wants(n, 0)) {
            nl_tensor *gx = TMP(nl_full(x->ndim, x->sizes, 0.0, g->dtype));
            scatter_raw(gx, d, idx, g, 1, base);
            gin[0] = nl_keep_ref(gx);
        }
        nl_temps_free(&tmps);
        return 0;
    }
    if (nl_node_wants(n, 0)) {
        if (n->op == NL_OP_SCATTER) {
            nl_tensor *gx = TMP(nl_clone(g));
            scatter_raw(gx, d, idx, NULL, 0, base);
            gin[0] = nl_keep_ref(gx);
        } else {
            gin[0] = nl_keep_ref(g);
        }
    }
    if (nl_node_wants(n, 1)) {
        nl_tensor *s = n->in[1], *gs;
        if (n->op == NL_OP_INDEX_ADD) {
            gs = TMP(nl_index_select(g, d, idx, base));
            if (n->s[0] != 1.0) gs = TMP(nl_binary_scalar(NL_OP_MUL, gs, n->s[0], 0));
        } else {
            gs = TMP(nl_full(s->ndim, s->sizes, 0.0, g->dtype));
            nl_tensor *part = gs;
            for (int q = 0; q < s->ndim; q++)
                if (idx->sizes[q] != s->sizes[q]) part = TMP(nl_narrow(part, q, 0, idx->sizes[q]));
            nl_tensor *gath = TMP(nl_tensor_alloc("scatter", idx->ndim, idx->sizes, g->dtype));
            gather_raw(gath, g, d, idx, base);
            nl_copy_raw(part, gath);
        }
        gin[1] = nl_keep_ref(gs);
    }
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
/* (one kernel for four ops: NL_REGISTER_BACKWARD names its constructor after the kernel) */
__attribute__((constructor)) static void register_gather_scatter(void) {
    for (int op = NL_OP_GATHER; op <= NL_OP_INDEX_ADD; op++) nl_register_backward(op, nl_gather_scatter_backward);
}

/* ---- nonzero and masked_select ----
 * One walk over the places of t (of the broadcast shape, for
 * masked_select) in row-major order, whatever the strides; a first pass
 * counts, so that the result is made once at its size. Nonzero is true,
 * NaN included, as in PyTorch's casts to bool. */

static inline bool elem_true(const char *p, int dtype) {
    if (dtype == NL_FLOAT32) return *(const float *)p != 0;
    if (dtype == NL_FLOAT64) return *(const double *)p != 0;
    return *(const int64_t *)p != 0;
}

nl_tensor *nl_nonzero(nl_tensor *t, int64_t base) {
    NL_CHECK_TENSOR("nonzero", t);
    int64_t es = nl_dtype_size(t->dtype), count = 0;
    const char *x = t->data;
    idx_walk w;
    walk_init(&w, t, 1);
    memcpy(w.st[0], t->strides, sizeof w.st[0]);
    for (int64_t i = 0; i < t->numel; i++, walk_next(&w)) count += elem_true(x + w.off[0] * es, t->dtype);
    int64_t sizes[2] = { count, t->ndim };
    nl_tensor *r = nl_tensor_alloc("nonzero", 2, sizes, NL_INT64);
    if (!r || count == 0 || t->ndim == 0) return r;
    int64_t *o = r->data;
    walk_init(&w, t, 1);
    memcpy(w.st[0], t->strides, sizeof w.st[0]);
    for (int64_t i = 0; i < t->numel; i++, walk_next(&w)) {
        if (!elem_true(x + w.off[0] * es, t->dtype)) continue;
        for (int q = 0; q < t->ndim; q++) *o++ = w.pos[q] + base;
    }
    return r;
}

/* the broadcast shape of t and mask in *bs (its ndim returned, -1 with an
 * error set when they do not broadcast), and each one's strides through it */
static int masked_shape(const nl_tensor *t, const nl_tensor *mask, int64_t *bs, int64_t *ts, int64_t *ms) {
    int nd = nl_broadcast_shape(t->ndim, t->sizes, mask->ndim, mask->sizes, bs);
    if (nd < 0) {
        nl_set_error("masked_select: mask of shape %s and tensor of shape %s cannot be broadcast together",
                     nl_shape_str(mask), nl_shape_str(t));
        return -1;
    }
    nl_broadcast_strides(t, nd, bs, ts);
    nl_broadcast_strides(mask, nd, bs, ms);
    return nd;
}

nl_tensor *nl_masked_select(nl_tensor *t, nl_tensor *mask) {
    NL_CHECK_TENSOR("masked_select", t);
    NL_CHECK_TENSOR("masked_select", mask);
    int64_t bs[8], ts[8], ms[8], numel = 1, count = 0;
    int nd = masked_shape(t, mask, bs, ts, ms);
    if (nd < 0) return NULL;
    for (int q = 0; q < nd; q++) numel *= bs[q];
    int64_t es = nl_dtype_size(t->dtype), mes = nl_dtype_size(mask->dtype);
    const char *x = t->data, *m = mask->data;
    idx_walk w;
    w.ndim = nd;
    w.n = 2;
    memcpy(w.sizes, bs, sizeof w.sizes);
    memcpy(w.st[0], ts, sizeof w.st[0]);
    memcpy(w.st[1], ms, sizeof w.st[1]);
    memset(w.pos, 0, sizeof w.pos);
    memset(w.off, 0, sizeof w.off);
    idx_walk start = w;
    for (int64_t i = 0; i < numel; i++, walk_next(&w)) count += elem_true(m + w.off[1] * mes, mask->dtype);
    nl_tensor *r = nl_tensor_alloc("masked_select", 1, &count, t->dtype);
    if (!r) return NULL;
    char *o = r->data;
    w = start;
    for (int64_t i = 0; i < numel && count > 0; i++, walk_next(&w)) {
        if (!elem_true(m + w.off[1] * mes, mask->dtype)) continue;
        memcpy(o, x + w.off[0] * es, (size_t)es);
        o += es;
    }
    nl_node *node = nl_record(NL_OP_MASKED_SELECT, r, 1, &t);
    if (node) nl_node_save(node, mask);
    return r;
}

/* g back at the selected places of zeros of the broadcast shape, summed
 * down to t's shape where the mask broadcast t */
static int nl_masked_select_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *x = n->in[0], *mask = n->saved;
    int64_t bs[8], ts[8], ms[8];
    int nd = masked_shape(x, mask, bs, ts, ms);
    if (nd < 0) return -1;
    nl_tensor *gc = TMP(nl_contiguous_raw(g));
    nl_tensor *gb = TMP(nl_full(nd, bs, 0.0, g->dtype));
    int64_t es = nl_dtype_size(g->dtype), mes = nl_dtype_size(mask->dtype);
    const char *m = mask->data, *src = gc->data;
    char *dst = gb->data;
    idx_walk w;
    w.ndim = nd;
    w.n = 2;
    memcpy(w.sizes, bs, sizeof w.sizes);
    memcpy(w.st[0], gb->strides, sizeof w.st[0]);
    memcpy(w.st[1], ms, sizeof w.st[1]);
    memset(w.pos, 0, sizeof w.pos);
    memset(w.off, 0, sizeof w.off);
    for (int64_t i = 0, k = 0; i < gb->numel && k < gc->numel; i++, walk_next(&w)) {
        if (!elem_true(m + w.off[1] * mes, mask->dtype)) continue;
        memcpy(dst + w.off[0] * es, src + k * es, (size_t)es);
        k++;
    }
    gin[0] = nl_sum_to(gb, x->ndim, x->sizes);
    nl_temps_free(&tmps);
    return gin[0] ? 0 : -1;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_MASKED_SELECT, nl_masked_select_backward)

/* ---- argsort ---- */

typedef struct { double v; int64_t iv, i; } sort_key;

/* a before b: by value (NaN last ascending, first descending, as
 * PyTorch), then by position, which makes qsort's order stable */
#define SORT_CMP(NAME, FIELD, SIGN, NAN_OF)                                          \
    static int NAME(const void *pa, const void *pb) {                                \
        const sort_key *a = pa, *b = pb;                                             \
        int na = NAN_OF(a), nb = NAN_OF(b);                                          \
        int c = na != nb ? (na ? 1 : -1) * (SIGN)                                    \
                         : (a->FIELD < b->FIELD ? -1 : a->FIELD > b->FIELD ? 1 : 0) * (SIGN); \
        return c ? c : (a->i > b->i) - (a->i < b->i);                                \
    }
#define KEY_NAN(k) ((k)->v != (k)->v)
#define KEY_NONAN(k) 0
SORT_CMP(cmp_f_up, v, 1, KEY_NAN)
SORT_CMP(cmp_f_down, v, -1, KEY_NAN)
SORT_CMP(cmp_i_up, iv, 1, KEY_NONAN)
SORT_CMP(cmp_i_down, iv, -1, KEY_NONAN)

nl_tensor *nl_argsort(nl_tensor *t, int dim, int descending, int64_t base) {
    NL_CHECK_TENSOR("sort", t);
    int d = t->ndim == 0 ? (dim == 0 || dim == -1 ? 0 : -1) : nl_wrap_dim(dim, t->ndim);
    NL_CHECK(d >= 0, "sort: dim %d out of range for shape %s", dim, nl_shape_str(t));
    nl_tensor *r = nl_tensor_alloc("sort", t->ndim, t->sizes, NL_INT64);
    if (!r || t->numel == 0) return r;
    int64_t n = t->ndim ? t->sizes[d] : 1, st = t->ndim ? t->strides[d] : 0;
    int64_t rst = t->ndim ? r->strides[d] : 0, slices = t->numel / n;
    int64_t nbytes = (int64_t)sizeof(sort_key) * n;
    sort_key *keys = nl_alloc_scratch(&nbytes);
    if (!keys) { nl_release(r); NL_CHECK(0, "sort: out of memory for %lld keys", (long long)n); }
    int (*cmp)(const void *, const void *) = t->dtype == NL_INT64 ? (descending ? cmp_i_down : cmp_i_up)
                                                                  : (descending ? cmp_f_down : cmp_f_up);
    int64_t es = nl_dtype_size(t->dtype);
    int64_t pos[8] = { 0 };
    for (int64_t s = 0; s < slices; s++) {
        /* the slice's first element in t and in r: pos over the other dims */
        int64_t off = 0, roff = 0;
        for (int q = 0; q < t->ndim; q++) { off += pos[q] * t->strides[q]; roff += pos[q] * r->strides[q]; }
        const char *src = (const char *)t->data + off * es;
        for (int64_t i = 0; i < n; i++) {
            const char *e = src + i * st * es;
            keys[i].i = i;
            if (t->dtype == NL_INT64) keys[i].iv = *(const int64_t *)e;
            else keys[i].v = t->dtype == NL_FLOAT32 ? *(const float *)e : *(const double *)e;
        }
        qsort(keys, (size_t)n, sizeof *keys, cmp);
        int64_t *o = (int64_t *)r->data + roff;
        for (int64_t i = 0; i < n; i++) o[i * rst] = keys[i].i + base;
        for (int q = t->ndim - 1; q >= 0; q--) {         /* the next slice, skipping dim d */
            if (q == d) continue;
            if (++pos[q] < t->sizes[q]) break;
            pos[q] = 0;
        }
    }
    nl_free(keys, nbytes);
    return r;
}

/* ---- arbitrary strides and resizing ---- */

/* the highest element index a view of sizes and strides (>= 0) at offset
 * reads (offset - 1 when it has no elements; INT64_MAX past 2^63: sizes
 * and strides of up to 2^46 each overflow int64 otherwise) */
static int64_t view_end(int ndim, const int64_t *sizes, const int64_t *strides, int64_t offset) {
    for (int i = 0; i < ndim; i++)
        if (sizes[i] == 0) return offset - 1;
    int64_t last = offset, reach;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(sizes[i] - 1, strides[i], &reach) || __builtin_add_overflow(last, reach, &last))
            return INT64_MAX;
    return last;
}

nl_tensor *nl_as_strided(nl_tensor *t, int ndim, const int64_t *sizes, const int64_t *strides, int64_t offset) {
    const char *op = "as_strided";
    NL_CHECK_TENSOR(op, t);
    int64_t numel;
    if (!check_sizes(op, ndim, sizes, &numel)) return NULL;
    for (int i = 0; i < ndim; i++)
        NL_CHECK(strides[i] >= 0 && strides[i] <= (INT64_C(1) << 46), "as_strided: strides %s must lie in [0, "
                 "2^46] (sizes %s)", nl_sizes_str(ndim, strides), nl_sizes_str(ndim, sizes));
    NL_CHECK(offset >= 0, "as_strided: negative storage offset %lld", (long long)offset);
    int64_t cap = t->storage->size / nl_dtype_size(t->dtype);   /* not the buffer's capacity: its padding holds no values */
    int64_t end = view_end(ndim, sizes, strides, offset);
    NL_CHECK(end < cap, "as_strided: sizes %s, strides %s and storage offset %lld reach element %lld, past the "
             "storage's %lld elements (tensor %s)", nl_sizes_str(ndim, sizes), nl_sizes_str(ndim, strides),
             (long long)offset, (long long)end, (long long)cap, nl_shape_str(t));
    nl_tensor *out = nl_tensor_new_view(t, ndim, sizes, strides, offset);
    if (out) nl_flag_view(out, t);
    return out;
}

int nl_resize_(nl_tensor *t, int ndim, const int64_t *sizes) {
    const char *op = "resize_";
    NL_CHECK_TENSOR_INT(op, t);
    NL_CHECK_INT(!nl_requires_grad(t), "resize_: cannot resize a tensor that requires grad (shape %s)",
                 nl_shape_str(t));
    int64_t numel;
    if (!check_sizes(op, ndim, sizes, &numel)) return -1;
    /* t's own shape: nothing changes, its strides neither (PyTorch's) */
    if (ndim == t->ndim && memcmp(sizes, t->sizes, sizeof(int64_t) * (size_t)ndim) == 0) return 0;
    nl_storage *s = t->storage;
    int64_t es = nl_dtype_size(t->dtype), need = (t->offset + numel) * es;
    if (need > s->nbytes) {
        /* a new buffer holding the old bytes: only where no view or host
         * holds the old one (their data pointers would dangle) */
        NL_CHECK_INT(s->refcount == 1 && !s->release, "resize_: cannot grow %s to %s: its memory is shared with "
                     "views or owned by the host", nl_shape_str(t), nl_sizes_str(ndim, sizes));
        int64_t cap = need;
        void *p = nl_alloc(&cap);
        NL_CHECK_INT(p != NULL, "resize_: out of memory growing %s to %s", nl_shape_str(t), nl_sizes_str(ndim, sizes));
        memcpy(p, s->ptr, (size_t)s->nbytes);
        if (s->ptr != s->small) nl_free(s->ptr, s->nbytes);
        s->ptr = p;
        s->nbytes = cap;
    }
    if (need > s->size) s->size = need;
    copy_sizes(t->sizes, sizes, ndim);
    t->ndim = ndim;
    t->numel = numel;
    nl_contiguous_strides(ndim, sizes, t->strides);
    t->data = (char *)s->ptr + t->offset * es;
    nl_bump_version(t);
    return 0;
}
