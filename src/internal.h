/* internal.h — what the runtime's C files share and users do not see:
 * storage layout, error reporting and its check macros, dtype dispatch,
 * thread settings. The public API is include/nnlua.h. */
#ifndef NL_INTERNAL_H
#define NL_INTERNAL_H

#include "nnlua.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <omp.h>

#define NL_SMALL_BYTES 64

struct nl_storage {
    void *ptr;            /* 64-byte aligned: small, from nl_alloc, or a host's buffer */
    int64_t nbytes;       /* the buffer's capacity (a cache bucket's, or NL_SMALL_BYTES) */
    int64_t size;         /* the bytes its tensors were made for: what as_strided may reach */
    int32_t refcount;
    uint32_t version;     /* bumped by every in-place write (autograd checks it) */
    void (*release)(void *ctx, void *ptr); /* optional: host-owned memory */
    void *ctx;
    int32_t embedded;     /* part of an nl_tensor_block: freed with it */
    _Alignas(64) unsigned char small[NL_SMALL_BYTES];  /* the data of tiny tensors */
};

/* A fresh tensor and its storage in one allocation (one cache-friendly
 * object instead of two). The block is freed when the storage's last
 * reference goes: with the tensor, or after it when views outlive it. */
typedef struct {
    nl_tensor t;
    nl_storage s;
} nl_tensor_block;

/* Drop one reference from *count; true when it was the last. A count of
 * one is ours alone (nobody else can reach the object to take another),
 * so it ends without an atomic read-modify-write, which waits for every
 * pending store: most objects die with one holder. */
static inline bool nl_unref(int32_t *count) {
    return __atomic_load_n(count, __ATOMIC_ACQUIRE) == 1 || __atomic_sub_fetch(count, 1, __ATOMIC_ACQ_REL) == 0;
}

/* Add one reference to *count, held by the caller: at one, the caller's is
 * the only one, so no other thread can touch the count meanwhile. */
static inline void nl_ref_add(int32_t *count) {
    if (__atomic_load_n(count, __ATOMIC_RELAXED) == 1) __atomic_store_n(count, 2, __ATOMIC_RELAXED);
    else __atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
}

/* ---- autograd (autograd.c) ----
 * A node belongs to the one tensor an op made; it keeps what backward
 * needs. Backward kernels (nl_<family>_backward, beside their forwards)
 * read the node and the output gradient g and write one gradient per input
 * into gin (NULL where an input gets none). */
#define NL_NODE_INLINE 3

struct nl_node {
    int32_t refcount;
    int32_t op;               /* an nl_op */
    int32_t n_in;
    int32_t freed;            /* saved tensors released after backward */
    nl_tensor **in;           /* (n_in) inputs, retained */
    uint32_t *in_version;     /* (n_in) storage versions when recorded */
    uint32_t needs_in;        /* bit i: backward reads in[i]'s values (none past 32) */
    uint32_t wants;           /* bit i < 32: in[i] required grad when recorded (the
                               * bits of later inputs follow in_version's n_in
                               * entries); in the padding, so a node stays 3 lines */
    nl_tensor *saved;         /* optional: output alias, indices, ... */
    uint32_t saved_version;
    int32_t mark;             /* traversal state during backward */
    double s[2];              /* scalars: operand, clamp bounds */
    int64_t a[8];             /* ints: dims, flags, permutation */
    nl_tensor *grad;          /* gradient of the output, during backward */
    nl_tensor *out;           /* the output (not owned), NULL once it is gone */
    nl_tensor *in_inline[NL_NODE_INLINE];    /* in and in_version for most ops */
    uint32_t version_inline[NL_NODE_INLINE];
    uint32_t seq;             /* the thread's count of nodes made when it was made:
                               * a backward with tensor hooks runs the latest
                               * first, as PyTorch's engine; in the padding too */
};

/* A node for out when grad mode is on and some input requires grad, else
 * NULL (which is also returned, with an error set, when out of memory:
 * check nl_error via the returned status of nl_record_failed). */
nl_node *nl_record(int op, nl_tensor *out, int n_in, nl_tensor *const *in);
/* tensor.c's destroy tells autograd.c that a tensor marked NL_FLAG_HOOKED died */
void nl_hooked_died(const nl_tensor *t);
void nl_hooked_list_free(void);          /* at the thread's exit (alloc.c) */
/* saved tensor of a node (retained) with its current version */
void nl_node_save(nl_node *n, nl_tensor *t);
void nl_node_save_output(nl_node *n, nl_tensor *out);
void nl_node_release(nl_node *n);
/* an NL_OP_CUSTOM node lets its saved state go (autograd_function.c) */
void nl_custom_node_free(nl_node *n);
/* around a backward pass: its number for custom nodes (autograd_function.c) */
uint64_t nl_custom_pass_enter(void);
void nl_custom_pass_leave(uint64_t prev);
static inline bool nl_requires_grad(const nl_tensor *t) { return t && (t->flags & NL_FLAG_REQUIRES_GRAD); }
/* t has elements at one address (an expanded view): a write to it would
 * land several times ([3, 0]'s first stride is 0, and repeats nothing) */
static inline bool nl_repeats_elements(const nl_tensor *t) {
    if (t->numel <= 1) return false;
    for (int i = 0; i < t->ndim; i++)
        if (t->strides[i] == 0 && t->sizes[i] > 1) return true;
    return false;
}
/* Whether backward gives in[i] a gradient: it required grad when the node
 * was recorded and still does, as PyTorch's graph (an input that came to
 * require grad later has no edge; one that stopped gets no gradient). */
static inline bool nl_node_wants(const nl_node *n, int i) {
    if (i >= n->n_in || !nl_requires_grad(n->in[i])) return false;
    uint32_t w = i < 32 ? n->wants : n->in_version[n->n_in + ((i - 32) >> 5)];
    return w >> (i & 31) & 1;
}
/* An int64 destination takes a number whose integer part int64 holds (a
 * fraction truncates toward zero, as in PyTorch); NaN, the infinities and
 * numbers past the range are refused, or make the result float, where
 * they saturated. */
static inline bool nl_fits_int64(double v) { return v >= -0x1p63 && v < 0x1p63; }
/* in-place ops call this first: an error when t requires grad in grad mode */
bool nl_inplace_ok(const char *op, nl_tensor *t);
#define NL_CHECK_INPLACE_INT(op, t) do { if (!nl_inplace_ok(op, t)) return -1; } while (0)
void nl_flag_view(nl_tensor *out, const nl_tensor *in);
/* ... and for an op whose loop writes dst element by element (reading src,
 * if given): dst must not repeat memory, nor src overlap dst in part */
bool nl_inplace_write_ok(const char *op, nl_tensor *dst, nl_tensor *src);
#define NL_CHECK_WRITE_INT(op, dst, src) do { if (!nl_inplace_write_ok(op, dst, src)) return -1; } while (0)
/* Backward kernels, dispatched by autograd.c on the node's op. */
int nl_binary_backward(nl_node *n, nl_tensor *g, nl_tensor **gin);
int nl_unary_backward(nl_node *n, nl_tensor *g, nl_tensor **gin);
int nl_where_backward(nl_node *n, nl_tensor *g, nl_tensor **gin);
int nl_reduce_backward(nl_node *n, nl_tensor *g, nl_tensor **gin);
int nl_softmax_backward(nl_node *n, nl_tensor *g, nl_tensor **gin);
int nl_matmul_backward(nl_node *n, nl_tensor *g, nl_tensor **gin);
int nl_shape_backward(nl_node *n, nl_tensor *g, nl_tensor **gin);
int nl_loss_backward(nl_node *n, nl_tensor *g, nl_tensor **gin);
/* gx (x's shape, g's dtype, allocated) = g times the derivative of op
 * (NL_OP_GELU, NL_OP_SILU, or NL_OP_LEAKY_RELU with its slope; ReLU is slope
 * 0) at x, in one pass; 0 or -1 */
int nl_activation_grad(int op, double slope, nl_tensor *gx, nl_tensor *g, nl_tensor *x);
/* c (m, n) = a (m, k) @ b (k, n) + beta c, each operand with its row and
 * column strides: the convolutions' products (ops_conv.c) */
void nl_conv_gemm(int dtype, int64_t m, int64_t n, int64_t k, const void *a, int64_t rsa, int64_t csa,
                  const void *b, int64_t rsb, int64_t csb, double beta, void *c, int64_t rsc, int64_t csc, int nt);
/* out (n, c, l) += bias (c) along l: the transposed convolutions' bias
 * (ops_conv.c) */
void nl_add_channel_bias(void *out, const void *bias, int64_t n, int64_t c, int64_t l, int dtype);
/* the first of o windows along a dim of length in whose k taps (d apart,
 * from i s - p) all miss the input, or -1: the pools' checks (ops_conv.c) */
int64_t nl_empty_window(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, int64_t o);
/* The end of a max pool's forward (ops_conv.c, which says what it takes;
 * the 3-D pools' too) */
nl_tensor *nl_max_pool_record(int op, nl_tensor *x, nl_tensor *out, nl_tensor *idx, nl_tensor **indices,
                              int64_t base, const int64_t *a, int na);
/* A max pool's backward (ops_conv.c; the 3-D pools' too): gx (planes, hw)
 * = g (planes, l) added at each plane's places ix (planes, l), where
 * windows may share a maximum. */
void nl_max_pool_scatter(void *gx, const void *g, const int64_t *ix, int64_t planes, int64_t hw,
                         int64_t l, int dtype);
/* Temporaries of a backward kernel, released together. TMP(x) keeps x or
 * jumps to `fail` when x is NULL (its error message stands). Past 32 they
 * go on the heap (the 33rd and later were dropped, never released: a cat
 * of 40 inputs leaked its output gradient at every backward). */
typedef struct { nl_tensor *v[32]; int n, cap; nl_tensor **more; } nl_temps;
/* declares an empty nl_temps: only n and more are set (an initializer
 * would zero all of v, a `rep stos` on every backward call) */
#define NL_TEMPS(name) nl_temps name; name.n = 0; name.more = NULL
/* keeps the 33rd and later (tensor.c); false, x released and an error
 * set, when there is no memory for it */
bool nl_temps_grow(nl_temps *t, nl_tensor *x);
static inline bool nl_temps_keep(nl_temps *t, nl_tensor *x) {
    if (t->n < 32) {
        t->v[t->n++] = x;
        return true;
    }
    return nl_temps_grow(t, x);
}
static inline void nl_temps_free(nl_temps *t) {
    for (int i = 0; i < t->n && i < 32; i++) nl_release(t->v[i]);
    if (t->more) {
        for (int i = 32; i < t->n; i++) nl_release(t->more[i - 32]);
        free(t->more);
        t->more = NULL;
    }
    t->n = 0;
}
#define TMP(x) ({ nl_tensor *tmp_ = (x); if (!tmp_ || !nl_temps_keep(&tmps, tmp_)) goto fail; tmp_; })
/* a result that outlives the temporaries */
static inline nl_tensor *nl_keep_ref(nl_tensor *t) { nl_retain(t); return t; }

/* Backward kernels of op families added later register themselves:
 *     NL_REGISTER_BACKWARD(NL_OP_CONV2D, nl_conv2d_backward)
 * at file scope; autograd.c calls the registered kernel for that op. */
typedef int (*nl_backward_fn)(nl_node *n, nl_tensor *g, nl_tensor **gin);
void nl_register_backward(int op, nl_backward_fn fn);
#define NL_REGISTER_BACKWARD(op, fn)                                          \
    __attribute__((constructor)) static void nl_register_##fn(void) {         \
        nl_register_backward(op, fn);                                         \
    }

/* g summed over broadcast dims down to (ndim, sizes) */
nl_tensor *nl_sum_to(nl_tensor *g, int ndim, const int64_t *sizes);

/* ---- errors ----
 * Functions record a message and return NULL or -1; the Lua side raises it. */
void nl_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "[4,3]" for t; rotates through a few thread-local buffers so that one
 * message can show several shapes. */
const char *nl_shape_str(const nl_tensor *t);
const char *nl_sizes_str(int ndim, const int64_t *sizes);

#define NL_CHECK(cond, ...) \
    do { if (!(cond)) { nl_set_error(__VA_ARGS__); return NULL; } } while (0)
#define NL_CHECK_INT(cond, ...) \
    do { if (!(cond)) { nl_set_error(__VA_ARGS__); return -1; } } while (0)
/* A tensor argument that must be a live tensor. */
#define NL_CHECK_TENSOR(op, t) NL_CHECK((t) != NULL, "%s: expected a tensor, got nil", op)
#define NL_CHECK_TENSOR_INT(op, t) NL_CHECK_INT((t) != NULL, "%s: expected a tensor, got nil", op)

/* Normalize a possibly negative dim against ndim; -1 when out of range. */
int nl_wrap_dim(int dim, int ndim);

/* ---- memory (alloc.c) ---- */
/* 64-byte aligned; *nbytes: in, the size wanted, out, the capacity given
 * (pass it back to nl_free). NULL when out of memory. */
void *nl_alloc(int64_t *nbytes);
/* the same for a kernel's scratch, freed before the kernel returns: not
 * counted in nl_mem()->allocated, which paces the Lua GC */
void *nl_alloc_scratch(int64_t *nbytes);
/* bytes held outside the buffers (a data set's IDX bytes) counted as live
 * all the same, so that they pace the Lua GC; negative when freed */
void nl_mem_count(int64_t bytes);
/* frees this thread's list of tensors being released (at its exit) */
void nl_release_list_free(void);
/* frees this thread's spare node lists of backward (at its exit) */
void nl_backward_spares_free(void);
void nl_free(void *ptr, int64_t capacity);
/* the structs of tensors, storages and nodes, zeroed, from per-thread caches */
enum { NL_OBJ_TENSOR, NL_OBJ_STORAGE, NL_OBJ_NODE, NL_OBJ_BLOCK, NL_OBJ_KINDS };
void *nl_obj_alloc(int kind);
void nl_obj_free(int kind, void *p);

/* ---- tensor helpers (tensor.c) ---- */
/* a new contiguous tensor; errors name op */
nl_tensor *nl_tensor_alloc(const char *op, int ndim, const int64_t *sizes, int dtype);
nl_tensor *nl_tensor_new_view(nl_tensor *base, int ndim, const int64_t *sizes,
                              const int64_t *strides, int64_t offset);
static inline bool nl_valid_dtype(int dtype) { return dtype >= 0 && dtype < NL_DTYPE_COUNT; }
/* nl_dtype_size inline on the library's own paths (runtime.c defines the
 * exported function, its name in parentheses) */
static inline int64_t nl_dtype_size_inline(int dtype) { return nl_valid_dtype(dtype) ? (dtype == NL_FLOAT32 ? 4 : 8) : 0; }
#define nl_dtype_size(dtype) nl_dtype_size_inline(dtype)
bool nl_same_shape(const nl_tensor *a, const nl_tensor *b);
/* t's values, contiguous (t itself, retained, when it is); dst = src of its
 * shape. Neither checks nor records on the tape. */
nl_tensor *nl_contiguous_raw(nl_tensor *t);
void nl_copy_raw(nl_tensor *dst, nl_tensor *src);
void nl_contiguous_strides(int ndim, const int64_t *sizes, int64_t *strides);
/* numpy broadcast of two shapes into out (ndim returned), -1 if incompatible */
int nl_broadcast_shape(int na, const int64_t *sa, int nb, const int64_t *sb, int64_t *out);
/* strides of t seen through the broadcast shape (0 where broadcast) */
void nl_broadcast_strides(const nl_tensor *t, int ndim, const int64_t *sizes, int64_t *strides);
void nl_bump_version(nl_tensor *t);
double nl_get_flat(const nl_tensor *t, int64_t i);   /* i-th element in row-major order */
/* i-th element of an index tensor (row-major) less base, exact for int64 */
int64_t nl_get_index(const nl_tensor *t, int64_t i, int64_t base);

/* Strided walk over an n-d shape for up to 4 operands, innermost dim last.
 * Dims are coalesced where all operands allow; rows are the outer indices. */
typedef struct nl_iter {
    int ndim;                 /* after coalescing; >= 1 */
    int nops;
    int64_t sizes[8];
    int64_t strides[4][8];    /* (nops, ndim) in elements */
    char *base[4];            /* first element of each operand */
    int64_t esize[4];         /* element size of each operand */
    int64_t inner;            /* sizes[ndim-1] */
    int64_t rows;             /* product of the outer sizes */
} nl_iter;
void nl_iter_init(nl_iter *it, int ndim, const int64_t *sizes, int nops,
                  nl_tensor *const *ops, int64_t (*strides)[8]);
/* pointers to the first element of row r for each operand */
void nl_iter_row(const nl_iter *it, int64_t r, char **ptrs);
/* Runs fn over every row (p: the operands' first elements, s: their
 * innermost strides, n: the row length), OpenMP-parallel above grain
 * elements; a single long row is cut into chunks. */
typedef void (*nl_row_fn)(const void *ctx, char **p, const int64_t *s, int64_t n);
void nl_for_each_row(const nl_iter *it, int64_t grain, nl_row_fn fn, const void *ctx);

/* Sums over a whole buffer run in chunks of this many elements whose
 * partial sums are added in chunk order, so that the result does not
 * depend on the thread count (nl_reduce_all; nl_mse_loss keeps its order). */
#define NL_REDUCE_CHUNK (1 << 14)

/* ---- CPU features (runtime.c) ----
 * avx512f: AVX-512 Foundation, all the float32 GEMM kernels use; avx512:
 * also VL, BW and DQ, which BLIS's skx kernels and the convolution and
 * pooling kernels need. */
bool nl_cpu_avx512f(void);
bool nl_cpu_avx512(void);
bool nl_cpu_avx2(void);      /* AVX2 and FMA */
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* ---- threads ----
 * Every OpenMP region has the same team size, nl_team(): libgomp ends the
 * pool's surplus threads whenever a region asks for fewer threads than the
 * last one, and starts new ones when a later region asks for more. Ops of
 * different sizes alternating (a 16-thread GEMM, a 2-thread ReLU) then
 * created threads at every step: W1 on 16 threads ran at half its 2-thread
 * speed. An op that pays for nt threads runs on the first nt of the team;
 * the others pass straight to the closing barrier. */
int nl_team(int nt);   /* 1 for nt <= 1, else the thread setting */
/* For work that uses the whole team or one thread (a BLIS call): the team
 * when at least half of it would get grain work each, else 1. */
int nl_team_for(int64_t work, int64_t grain);

/* for (int64_t i = 0; i < n; i++) { body } on nt threads, split in nt
 * static, contiguous shares (share t on thread t). With one thread no
 * OpenMP region is entered: an empty one costs about 0.4 us, more than a
 * small op's whole kernel. Inside another region (a nested region has one
 * thread) the whole loop runs on the calling thread. */
#define NL_PARALLEL_FOR(nt, i, n, ...)                                         \
    do {                                                                       \
        int nl_par_nt_ = (nt);                                                 \
        int64_t nl_par_n_ = (n);                                               \
        if (nl_par_nt_ > 1 && nl_par_n_ > 1) {                                 \
            int nl_par_team_ = nl_team(nl_par_nt_);                            \
            _Pragma("omp parallel num_threads(nl_par_team_)")                  \
            {                                                                  \
                int64_t nl_par_k_ = omp_get_num_threads(), nl_par_t_ = omp_get_thread_num(); \
                if (nl_par_k_ > nl_par_nt_) nl_par_k_ = nl_par_nt_;            \
                if (nl_par_t_ < nl_par_k_) {                                   \
                    int64_t nl_par_q_ = nl_par_n_ / nl_par_k_, nl_par_r_ = nl_par_n_ % nl_par_k_; \
                    int64_t nl_par_lo_ = nl_par_t_ * nl_par_q_ + (nl_par_t_ < nl_par_r_ ? nl_par_t_ : nl_par_r_); \
                    int64_t nl_par_hi_ = nl_par_lo_ + nl_par_q_ + (nl_par_t_ < nl_par_r_); \
                    for (int64_t i = nl_par_lo_; i < nl_par_hi_; i++) { __VA_ARGS__ } \
                }                                                              \
            }                                                                  \
        } else {                                                               \
            for (int64_t i = 0; i < nl_par_n_; i++) { __VA_ARGS__ }           \
        }                                                                      \
    } while (0)

/* NL_PARALLEL_FOR with the iterations handed out one at a time as threads
 * ask, for loops of large, independent iterations: a thread that is
 * slower, or whose data sits in another core's cache, takes fewer of them
 * instead of holding the others at the closing barrier. The iterations
 * must not depend on which thread runs them. */
#define NL_PARALLEL_FOR_DYNAMIC(nt, i, n, ...)                                 \
    do {                                                                       \
        int nl_par_nt_ = (nt);                                                 \
        int64_t nl_par_n_ = (n), nl_par_next_ = 0;                             \
        if (nl_par_nt_ > 1 && nl_par_n_ > 1) {                                 \
            int nl_par_team_ = nl_team(nl_par_nt_);                            \
            _Pragma("omp parallel num_threads(nl_par_team_)")                  \
            if (omp_get_thread_num() < nl_par_nt_)                             \
                for (;;) {                                                     \
                    int64_t i = __atomic_fetch_add(&nl_par_next_, 1, __ATOMIC_RELAXED); \
                    if (i >= nl_par_n_) break;                                 \
                    { __VA_ARGS__ }                                            \
                }                                                              \
        } else {                                                               \
            for (int64_t i = 0; i < nl_par_n_; i++) { __VA_ARGS__ }           \
        }                                                                      \
    } while (0)

int nl_threads_for(int64_t work, int64_t grain);   /* 1 below grain, else up to the setting */

/* double -> int64 without undefined behaviour: saturates, NaN -> 0 */
static inline int64_t nl_sat_i64(double v) {
    if (!(v == v)) return 0;
    if (v >= 9223372036854775808.0) return INT64_MAX;
    if (v < -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}
/* int64 arithmetic that wraps (two's complement), as PyTorch's does */
static inline int64_t nl_wrap_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t nl_wrap_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t nl_wrap_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

/* dtype-dispatched element read/write as double */
static inline double nl_load(const void *p, int dtype) {
    switch (dtype) {
    case NL_FLOAT32: return *(const float *)p;
    case NL_FLOAT64: return *(const double *)p;
    default: return (double)*(const int64_t *)p;
    }
}
/* v / d as a division in dtype gives it: float32 rounds both to float and
 * divides in float, as nl_div does */
static inline double nl_div_as(double v, double d, int dtype) {
    return dtype == NL_FLOAT32 ? (double)((float)v / (float)d) : v / d;
}
static inline void nl_store(void *p, int dtype, double v) {
    switch (dtype) {
    case NL_FLOAT32: *(float *)p = (float)v; break;
    case NL_FLOAT64: *(double *)p = v; break;
    default: *(int64_t *)p = nl_sat_i64(v); break;
    }
}

#endif
