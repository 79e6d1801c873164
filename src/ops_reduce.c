/* ops_reduce.c — reductions (sum, mean, max, min, argmax, argmin) over a
 * whole tensor or along one dim, softmax / log_softmax and the running
 * cumsum / cumprod along a dim, with their backward kernels. Elementwise
 * ops live in ops_elementwise.c, matmul in ops_blas.c. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Work per thread before another thread is worth it, in elements. */
#define REDUCE_GRAIN (1 << 15)
/* Neighbouring outputs reduced together when the reduced dim is not last:
 * at most LANES, fewer when that leaves threads idle. Each output is still
 * reduced in one order, so the width changes no result. */
#define LANES 1024
/* max/min of a contiguous run look for a new winner a block at a time */
#define BEST_BLOCK 256

static bool is_reduction(int op) { return op >= NL_OP_SUM && op <= NL_OP_ARGMIN; }
static bool is_sum_like(int op) { return op == NL_OP_SUM || op == NL_OP_MEAN; }
static bool is_arg(int op) { return op == NL_OP_ARGMAX || op == NL_OP_ARGMIN; }
static bool wants_max(int op) { return op == NL_OP_MAX || op == NL_OP_ARGMAX; }

static int result_dtype(int op, int dtype) {
    if (is_arg(op)) return NL_INT64;
    if (op == NL_OP_MEAN && dtype == NL_INT64) return nl_int_float_dtype(-1);
    return dtype;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- sums ----
 * float32 and float64 accumulate in double, int64 in uint64 (wraps like int64
 * arithmetic without the undefined behaviour); the mean of int64 (a float32)
 * in double: a sum that wraps gave it the wrong sign. */

/* sum of x[0..n), contiguous, in four interleaved accumulators */
#define DEFINE_SUM_RUN(NAME, T, ACC)                                         \
    static ACC NAME(const T *x, int64_t n) {                                 \
        ACC s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                  \
        int64_t i = 0;                                                       \
        for (; i + 4 <= n; i += 4) {                                         \
            s0 += (ACC)x[i];     s1 += (ACC)x[i + 1];                        \
            s2 += (ACC)x[i + 2]; s3 += (ACC)x[i + 3];                        \
        }                                                                    \
        for (; i < n; i++) s0 += (ACC)x[i];                                  \
        return (s0 + s1) + (s2 + s3);                                        \
    }
DEFINE_SUM_RUN(sum_run_f32, float, double)
DEFINE_SUM_RUN(sum_run_f64, double, double)
DEFINE_SUM_RUN(sum_run_i64, int64_t, uint64_t)
DEFINE_SUM_RUN(sum_run_i64d, int64_t, double)

/* acc[l] = sum over j < n of x[j*s + l], for l < w */
#define DEFINE_SUM_LANES(NAME, T, ACC)                                       \
    static void NAME(ACC *acc /* (w) */, const T *x /* (n, s) */, int64_t n, \
                     int64_t s, int w) {                                     \
        for (int l = 0; l < w; l++) acc[l] = 0;                              \
        for (int64_t j = 0; j < n; j++) {                                    \
            const T *row = x + j * s;                                        \
            for (int l = 0; l < w; l++) acc[l] += (ACC)row[l];               \
        }                                                                    \
    }
DEFINE_SUM_LANES(sum_lanes_f32, float, double)
DEFINE_SUM_LANES(sum_lanes_f64, double, double)
DEFINE_SUM_LANES(sum_lanes_i64, int64_t, uint64_t)
DEFINE_SUM_LANES(sum_lanes_i64d, int64_t, double)

/* ---- max and min ----
 * They work with indices; the value is read back from the input. The first
 * of equal values wins, and NaN beats everything (it propagates, as in
 * PyTorch), the first NaN winning. */

#define IS_NAN_F(v) ((v) != (v))
#define IS_NAN_I(v) 0

#define DEFINE_BEST(SUF, T, ISNAN)                                           \
    /* true when v must replace the best so far b */                         \
    static inline bool beats_##SUF(T v, T b, bool is_max) {                  \
        return !ISNAN(b) && (ISNAN(v) || (is_max ? v > b : v < b));          \
    }                                                                        \
    /* The plain scan: index of the best of x[0..n), n >= 1, one compare an \
     * element. !(v <= b) holds for v > b and for a NaN v; b is never NaN   \
     * (the scan stops at the first NaN). Runs of up to a block (argmax     \
     * over classes) take it whole: the block pass below cost 33            \
     * instructions an element on rows of ten. */                           \
    static inline int64_t best_scan_##SUF(const T *x, int64_t n, bool is_max) { \
        int64_t at = 0;                                                      \
        T b = x[0];                                                          \
        if (ISNAN(b)) return 0;                                              \
        if (is_max) {                                                        \
            for (int64_t i = 1; i < n; i++)                                  \
                if (!(x[i] <= b)) { b = x[i]; at = i; if (ISNAN(b)) break; } \
        } else {                                                             \
            for (int64_t i = 1; i < n; i++)                                  \
                if (!(x[i] >= b)) { b = x[i]; at = i; if (ISNAN(b)) break; } \
        }                                                                    \
        return at;                                                           \
    }                                                                        \
    /* index of the best of x[0..n), n >= 1. A vectorizable pass finds each  \
     * block's extreme; a block whose extreme beats the best so far is      \
     * searched for its first element equal to it, and one that holds a    \
     * NaN for its first NaN, which ends the run. (A scan of every block    \
     * with a new winner cost 11 instructions an element on random rows of  \
     * 1000.) */                                                            \
    static int64_t best_run_##SUF(const T *x, int64_t n, bool is_max) {      \
        if (n <= BEST_BLOCK) return best_scan_##SUF(x, n, is_max);           \
        int64_t at = 0;                                                      \
        T b = x[0];                                                          \
        if (ISNAN(b)) return 0;                                              \
        for (int64_t lo = 0; lo < n; lo += BEST_BLOCK) {                     \
            int64_t hi = min64(n, lo + BEST_BLOCK);                          \
            T e = x[lo];                                                     \
            int nan = 0;                                                     \
            if (is_max) {                                                    \
                _Pragma("omp simd reduction(max:e) reduction(|:nan)")        \
                for (int64_t i = lo; i < hi; i++) { e = x[i] > e ? x[i] : e; nan |= ISNAN(x[i]); } \
            } else {                                                         \
                _Pragma("omp simd reduction(min:e) reduction(|:nan)")        \
                for (int64_t i = lo; i < hi; i++) { e = x[i] < e ? x[i] : e; nan |= ISNAN(x[i]); } \
            }                                                                \
            if (nan) {                                                       \
                for (int64_t i = lo; i < hi; i++)                            \
                    if (ISNAN(x[i])) return i;                               \
            }                                                                \
            if (!(is_max ? e > b : e < b)) continue;                         \
            int64_t i = lo;                                                  \
            while (x[i] != e) i++;     /* e is one of x[lo..hi) */           \
            b = e;                                                           \
            at = i;                                                          \
        }                                                                    \
        return at;                                                           \
    }                                                                        \
    /* at[l] = index j of the best x[j*s + l] for l < w; n >= 1 */           \
    static void best_lanes_##SUF(int64_t *at /* (w) */, const T *x /* (n, s) */, \
                                 int64_t n, int64_t s, int w, bool is_max) { \
        T b[LANES];                                                          \
        for (int l = 0; l < w; l++) { b[l] = x[l]; at[l] = 0; }              \
        /* branch-free selects, as best_scan's test with b's NaN kept */     \
        for (int64_t j = 1; j < n; j++) {                                    \
            const T *row = x + j * s;                                        \
            if (is_max) {                                                    \
                for (int l = 0; l < w; l++) {                                \
                    T v = row[l], c = b[l];                                  \
                    bool take = !(v <= c) & !ISNAN(c);                       \
                    b[l] = take ? v : c;                                     \
                    at[l] = take ? j : at[l];                                \
                }                                                            \
            } else {                                                         \
                for (int l = 0; l < w; l++) {                                \
                    T v = row[l], c = b[l];                                  \
                    bool take = !(v >= c) & !ISNAN(c);                       \
                    b[l] = take ? v : c;                                     \
                    at[l] = take ? j : at[l];                                \
                }                                                            \
            }                                                                \
        }                                                                    \
    }
/* vals[o] and at[o] (from base), either NULL when not wanted = the best
 * of row o of x, for o < outer: the reduced dim last (argmax over classes),
 * a row to a thread; a short row's scan inlined here */
#define DEFINE_BEST_ROWS(SUF, T)                                             \
    static void best_rows_##SUF(T *vals /* (outer) */, int64_t *at /* (outer) */, \
                                const T *x /* (outer, n) */, int64_t outer,  \
                                int64_t n, bool is_max, int64_t base, int nt) { \
        NL_PARALLEL_FOR(nt, o, outer,                                        \
            const T *row = x + o * n;                                        \
            int64_t j = n <= BEST_BLOCK ? best_scan_##SUF(row, n, is_max)    \
                                        : best_run_##SUF(row, n, is_max);    \
            if (vals) vals[o] = row[j];                                      \
            if (at) at[o] = j + base;                                        \
            );                                                               \
    }
DEFINE_BEST(f32, float, IS_NAN_F)
DEFINE_BEST(f64, double, IS_NAN_F)
DEFINE_BEST(i64, int64_t, IS_NAN_I)
DEFINE_BEST_ROWS(f32, float)
DEFINE_BEST_ROWS(f64, double)
DEFINE_BEST_ROWS(i64, int64_t)

static bool beats(const void *x, int dtype, int64_t i, int64_t j, bool is_max) {
    switch (dtype) {
    case NL_FLOAT32: return beats_f32(((const float *)x)[i], ((const float *)x)[j], is_max);
    case NL_FLOAT64: return beats_f64(((const double *)x)[i], ((const double *)x)[j], is_max);
    default: return beats_i64(((const int64_t *)x)[i], ((const int64_t *)x)[j], is_max);
    }
}

/* ---- one contiguous run, and a whole buffer in chunks ---- */

typedef struct reduce_acc {
    double sum;      /* SUM, MEAN of float32 / float64, MEAN of int64 */
    uint64_t isum;   /* SUM of int64 */
    int64_t at;      /* MAX .. ARGMIN: index of the winner */
} reduce_acc;

/* op over x[0..n), serially */
static void reduce_run(reduce_acc *r, const void *x, int64_t n, int dtype, int op) {
    r->sum = 0;
    r->isum = 0;
    r->at = 0;
    if (is_sum_like(op)) {
        if (dtype == NL_FLOAT32) r->sum = sum_run_f32(x, n);
        else if (dtype == NL_FLOAT64) r->sum = sum_run_f64(x, n);
        else if (op == NL_OP_MEAN) r->sum = sum_run_i64d(x, n);
        else r->isum = sum_run_i64(x, n);
    } else if (n > 0) {
        bool mx = wants_max(op);
        if (dtype == NL_FLOAT32) r->at = best_run_f32(x, n, mx);
        else if (dtype == NL_FLOAT64) r->at = best_run_f64(x, n, mx);
        else r->at = best_run_i64(x, n, mx);
    }
}

/* op over x[0..n): chunks in parallel, their results combined in chunk
 * order. -1 when out of memory. */
static int reduce_flat(reduce_acc *r, const void *x, int64_t n, int dtype, int op) {
    int64_t nchunks = (n + NL_REDUCE_CHUNK - 1) / NL_REDUCE_CHUNK;
    if (nchunks <= 1) {
        reduce_run(r, x, n, dtype, op);
        return 0;
    }
    reduce_acc *part = malloc(sizeof *part * nchunks);   /* (nchunks) */
    if (!part) return -1;
    int64_t es = nl_dtype_size(dtype);
    int nt = nl_threads_for(n, REDUCE_GRAIN);
    NL_PARALLEL_FOR(nt, k, nchunks,
        int64_t lo = k * NL_REDUCE_CHUNK;
        reduce_run(&part[k], (const char *)x + lo * es, min64(NL_REDUCE_CHUNK, n - lo), dtype, op);
        part[k].at += lo;
        );
    *r = part[0];
    for (int64_t k = 1; k < nchunks; k++) {
        r->sum += part[k].sum;
        r->isum += part[k].isum;
        if (!is_sum_like(op) && beats(x, dtype, part[k].at, r->at, wants_max(op))) r->at = part[k].at;
    }
    free(part);
    return 0;
}

/* Writes r's result of op over n elements of x (dtype) into element i of
 * vals (the op's result dtype) and of at (int64), either of which may be
 * NULL. (Inlined: a whole-tensor sum, every loss, runs it; the call out to
 * nl_int_float_dtype made the compiler split it.) */
static inline __attribute__((always_inline)) void store_result(void *vals, int64_t *at, int64_t i, const reduce_acc *r,
                                                               const void *x, int64_t n, int dtype, int op,
                                                               int64_t base) {
    if (is_sum_like(op)) {
        int64_t es = nl_dtype_size(result_dtype(op, dtype));
        char *o = (char *)vals + i * es;
        if (dtype == NL_INT64 && op == NL_OP_SUM) *(int64_t *)o = (int64_t)r->isum;
        else {
            nl_store(o, result_dtype(op, dtype), op == NL_OP_MEAN ? r->sum / (double)n : r->sum);
        }
        return;
    }
    if (vals) {
        int64_t es = nl_dtype_size(dtype);
        memcpy((char *)vals + i * es, (const char *)x + r->at * es, es);
    }
    if (at) at[i] = r->at + base;
}

/* Lanes per task for (outer, inner) outputs: LANES, halved while that
 * leaves some of nt threads without a task. */
static int64_t lane_width(int64_t outer, int64_t inner, int nt) {
    int64_t w = LANES;
    while (w > 16 && outer * ((inner + w - 1) / w) < nt) w /= 2;
    return w;
}

/* ---- over one dim ----
 * in (outer, n, inner) contiguous; vals (outer, inner) in the op's result
 * dtype, NULL for the arg ops; at (outer, inner) int64 indices from base,
 * or NULL. Each output is reduced by one thread in a fixed order, so the
 * result does not depend on the thread count. */
static void nl_reduce_forward(void *vals, int64_t *at, const void *in, int64_t outer,
                              int64_t n, int64_t inner, int dtype, int op, int64_t base) {
    int64_t es = nl_dtype_size(dtype);
    int nt = nl_threads_for(outer * n * inner, REDUCE_GRAIN);
    if (inner == 1 && !is_sum_like(op)) {
        /* a row at a time, each in one thread */
        bool mx = wants_max(op);
        if (nt > outer) nt = (int)outer;
        if (dtype == NL_FLOAT32) best_rows_f32(vals, at, in, outer, n, mx, base, nt);
        else if (dtype == NL_FLOAT64) best_rows_f64(vals, at, in, outer, n, mx, base, nt);
        else best_rows_i64(vals, at, in, outer, n, mx, base, nt);
        return;
    }
    int64_t width = lane_width(outer, inner, nt);
    int64_t blocks = (inner + width - 1) / width;    /* lane blocks per outer index */
    int64_t ntask = outer * blocks;
    if (nt > ntask) nt = (int)ntask;
    if (nt < 1) nt = 1;
    NL_PARALLEL_FOR(nt, task, ntask,
        int64_t o = task / blocks, l0 = (task % blocks) * width;
        int w = (int)min64(width, inner - l0);
        const char *x = (const char *)in + (o * n * inner + l0) * es;  /* (n, inner) */
        int64_t p = o * inner + l0;                                     /* first output */
        reduce_acc r = { 0, 0, 0 };
        if (inner == 1) {
            reduce_run(&r, x, n, dtype, op);
            store_result(vals, at, p, &r, x, n, dtype, op, base);
        } else if (is_sum_like(op)) {
            double acc[LANES];
            uint64_t iacc[LANES];
            if (dtype == NL_FLOAT32) sum_lanes_f32(acc, (const float *)x, n, inner, w);
            else if (dtype == NL_FLOAT64) sum_lanes_f64(acc, (const double *)x, n, inner, w);
            else if (op == NL_OP_MEAN) sum_lanes_i64d(acc, (const int64_t *)x, n, inner, w);
            else sum_lanes_i64(iacc, (const int64_t *)x, n, inner, w);
            for (int l = 0; l < w; l++) {
                if (dtype == NL_INT64 && op == NL_OP_SUM) r.isum = iacc[l];
                else r.sum = acc[l];
                store_result(vals, at, p + l, &r, x, n, dtype, op, base);
            }
        } else {
            int64_t best[LANES];
            bool mx = wants_max(op);
            if (dtype == NL_FLOAT32) best_lanes_f32(best, (const float *)x, n, inner, w, mx);
            else if (dtype == NL_FLOAT64) best_lanes_f64(best, (const double *)x, n, inner, w, mx);
            else best_lanes_i64(best, (const int64_t *)x, n, inner, w, mx);
            for (int l = 0; l < w; l++) {
                /* store_result reads x[r.at]: point x at lane l's column */
                r.at = best[l] * inner;
                store_result(vals, NULL, p + l, &r, x + l * es, n, dtype, op, base);
                if (at) at[p + l] = best[l] + base;
            }
        }
        );
}

/* ---- public entry points ---- */

nl_tensor *nl_reduce_all(int op, nl_tensor *t, int64_t base) {
    NL_CHECK(is_reduction(op), "reduce: op %s is not a reduction", nl_op_name(op));
    const char *name = nl_op_name(op);
    NL_CHECK_TENSOR(name, t);
    NL_CHECK(t->numel > 0 || is_sum_like(op), "%s: cannot reduce an empty tensor of shape %s",
             name, nl_shape_str(t));
    nl_tensor *c = nl_contiguous(t);
    if (!c) return NULL;
    int64_t no_sizes[1] = { 0 };
    nl_tensor *out = nl_empty(0, no_sizes, result_dtype(op, t->dtype));
    reduce_acc r;
    if (out && reduce_flat(&r, c->data, c->numel, c->dtype, op) != 0) {
        nl_set_error("%s: out of memory for shape %s", name, nl_shape_str(t));
        nl_release(out);
        out = NULL;
    }
    if (out) {
        if (is_arg(op)) store_result(NULL, out->data, 0, &r, c->data, c->numel, c->dtype, op, base);
        else store_result(out->data, NULL, 0, &r, c->data, c->numel, c->dtype, op, base);
    }
    nl_release(c);
    if (out && !is_arg(op)) {
        nl_node *n = nl_record(op, out, 1, &t);
        if (n) {
            n->a[0] = -1;                /* over every element */
            n->needs_in = is_sum_like(op) ? 0 : 1;
        }
    }
    return out;
}

nl_tensor *nl_reduce(int op, nl_tensor *t, int dim, int keepdim, int64_t base,
                     nl_tensor **indices) {
    if (indices) *indices = NULL;
    NL_CHECK(is_reduction(op), "reduce: op %s is not a reduction", nl_op_name(op));
    const char *name = nl_op_name(op);
    NL_CHECK_TENSOR(name, t);
    int d = nl_wrap_dim(dim, t->ndim);
    NL_CHECK(d >= 0, "%s: dim %d out of range for shape %s", name, dim, nl_shape_str(t));
    int64_t n = t->ndim ? t->sizes[d] : 1, outer = 1, inner = 1;
    NL_CHECK(n > 0 || is_sum_like(op), "%s: cannot reduce dim %d of size 0 in shape %s",
             name, d, nl_shape_str(t));
    int64_t osz[8];
    int ond = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (i < d) outer *= t->sizes[i];
        if (i > d) inner *= t->sizes[i];
        if (i != d) osz[ond++] = t->sizes[i];
        else if (keepdim) osz[ond++] = 1;
    }
    bool records = !is_arg(op) && nl_is_grad_enabled() && nl_requires_grad(t);
    bool want_at = is_arg(op) || ((indices || records) && (op == NL_OP_MAX || op == NL_OP_MIN));
    nl_tensor *c = nl_contiguous(t);
    if (!c) return NULL;
    nl_tensor *vals = is_arg(op) ? NULL : nl_tensor_alloc(nl_op_name(op), ond, osz, result_dtype(op, t->dtype));
    nl_tensor *at = want_at ? nl_tensor_alloc(nl_op_name(op), ond, osz, NL_INT64) : NULL;
    if ((!is_arg(op) && !vals) || (want_at && !at)) {
        nl_release(vals);
        nl_release(at);
        nl_release(c);
        return NULL;
    }
    int64_t *at_data = at ? at->data : NULL;
    void *vals_data = vals ? vals->data : NULL;
    if (outer == 1 && inner == 1) {
        /* a single output: split the reduced dim over the threads */
        reduce_acc r;
        if (reduce_flat(&r, c->data, n, c->dtype, op) != 0) {
            nl_set_error("%s: out of memory for shape %s", name, nl_shape_str(t));
            nl_release(vals);
            nl_release(at);
            nl_release(c);
            return NULL;
        }
        store_result(vals_data, at_data, 0, &r, c->data, n, c->dtype, op, base);
    } else {
        nl_reduce_forward(vals_data, at_data, c->data, outer, n, inner, c->dtype, op, base);
    }
    nl_release(c);
    if (is_arg(op)) return at;
    nl_node *nd = nl_record(op, vals, 1, &t);
    if (nd) {
        nd->a[0] = d;
        nd->a[1] = keepdim;
        nd->a[2] = base;
        if (at) nl_node_save(nd, at);    /* max/min: where the gradient goes */
    }
    if (indices) *indices = at;
    else nl_release(at);
    return vals;
}

/* ---- accuracy's hits ----
 * The count of (o, i) with argmax over j of scores[o, j, i], from base,
 * equal to labels[o, i]: argmax(2):eq(labels):sum() of the accuracy
 * metric in one pass, without its three tensors. */

#define DEFINE_HITS(SUF, T)                                                  \
    static int64_t hits_##SUF(const T *x /* (outer, n, inner) */,           \
                              const int64_t *y /* (outer, inner) */,         \
                              int64_t outer, int64_t n, int64_t inner, int64_t base) { \
        int64_t hits = 0;                                                    \
        int64_t at[LANES];                                                   \
        for (int64_t o = 0; o < outer; o++) {                                \
            const T *xo = x + o * n * inner;                                 \
            const int64_t *yo = y + o * inner;                               \
            if (inner == 1) {                                                \
                hits += best_run_##SUF(xo, n, true) + base == yo[0];         \
                continue;                                                    \
            }                                                                \
            for (int64_t l0 = 0; l0 < inner; l0 += LANES) {                  \
                int w = (int)min64(LANES, inner - l0);                       \
                best_lanes_##SUF(at, xo + l0, n, inner, w, true);            \
                for (int l = 0; l < w; l++) hits += at[l] + base == yo[l0 + l]; \
            }                                                                \
        }                                                                    \
        return hits;                                                         \
    }
DEFINE_HITS(f32, float)
DEFINE_HITS(f64, double)
DEFINE_HITS(i64, int64_t)

int64_t nl_argmax_hits(nl_tensor *scores, nl_tensor *labels, int64_t base) {
    const char *op = "argmax_hits";
    NL_CHECK_TENSOR_INT(op, scores);
    NL_CHECK_TENSOR_INT(op, labels);
    bool fits = scores->ndim >= 2 && labels->ndim == scores->ndim - 1 && labels->dtype == NL_INT64 &&
                labels->sizes[0] == scores->sizes[0];
    for (int i = 1; fits && i < labels->ndim; i++) fits = labels->sizes[i] == scores->sizes[i + 1];
    NL_CHECK_INT(fits, "%s: takes scores (N, C, d1, ...) and int64 labels (N, d1, ...), got %s %s and %s %s", op,
                 nl_dtype_name(scores->dtype), nl_shape_str(scores), nl_dtype_name(labels->dtype),
                 nl_shape_str(labels));
    int64_t n = scores->sizes[1], outer = scores->sizes[0], inner = 1;
    NL_CHECK_INT(n > 0 || scores->numel == 0, "%s: cannot take the argmax over dim 1 of size 0 in shape %s", op,
                 nl_shape_str(scores));
    if (scores->numel == 0) return 0;
    for (int i = 2; i < scores->ndim; i++) inner *= scores->sizes[i];
    nl_tensor *x = nl_contiguous_raw(scores);          /* read only: nothing recorded */
    nl_tensor *y = x ? nl_contiguous_raw(labels) : NULL;
    int64_t hits = -1;
    if (y) {
        if (x->dtype == NL_FLOAT32) hits = hits_f32(x->data, y->data, outer, n, inner, base);
        else if (x->dtype == NL_FLOAT64) hits = hits_f64(x->data, y->data, outer, n, inner, base);
        else hits = hits_i64(x->data, y->data, outer, n, inner, base);
    }
    nl_release(x);
    nl_release(y);
    return hits;
}

/* ---- softmax and log_softmax ----
 * out[o, :, i] = softmax over j of in[o, j, i], or its log; in and out
 * (outer, n, inner) contiguous. Stable: exp(x - max) with the sum in double.
 * The log is (x - max) - log(sum), as PyTorch's: x - (max + log(sum)) lost
 * log(sum) beside a max of 1e16 or more (log_softmax of [1e30, 1e30] was
 * [0, 0]). A NaN in a slice makes that slice NaN. */

#define DEFINE_SOFTMAX(SUF, T, EXP)                                          \
    static void softmax_lanes_##SUF(T *out /* (n, s) */, const T *x /* (n, s) */, \
                                    int64_t n, int64_t s, int w, bool take_log) { \
        double mx[LANES], sum[LANES];                                        \
        for (int l = 0; l < w; l++) { mx[l] = -INFINITY; sum[l] = 0; }       \
        for (int64_t j = 0; j < n; j++)                                      \
            for (int l = 0; l < w; l++)                                      \
                if (x[j * s + l] > mx[l]) mx[l] = x[j * s + l];              \
        for (int64_t j = 0; j < n; j++)                                      \
            for (int l = 0; l < w; l++) {                                    \
                T e = EXP((T)(x[j * s + l] - (T)mx[l]));                     \
                sum[l] += e;                                                 \
                if (!take_log) out[j * s + l] = e;                           \
            }                                                                \
        for (int l = 0; l < w; l++)                                          \
            sum[l] = take_log ? log(sum[l]) : 1.0 / sum[l];                  \
        for (int64_t j = 0; j < n; j++)                                      \
            for (int l = 0; l < w; l++) {                                    \
                if (take_log) out[j * s + l] = (T)(((double)x[j * s + l] - mx[l]) - sum[l]); \
                else out[j * s + l] = (T)(out[j * s + l] * sum[l]);          \
            }                                                                \
    }
DEFINE_SOFTMAX(f32, float, expf)
DEFINE_SOFTMAX(f64, double, exp)

/* the same over one contiguous run x[0..n) */
#define DEFINE_SOFTMAX_RUN(SUF, T, EXP)                                      \
    static void softmax_run_##SUF(T *out /* (n) */, const T *x /* (n) */, int64_t n, \
                                  bool take_log) {                           \
        T mx = -INFINITY;                                                    \
        _Pragma("omp simd reduction(max:mx)")                                \
        for (int64_t j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;          \
        double sum = 0;                                                      \
        for (int64_t j = 0; j < n; j++) {                                    \
            T e = EXP(x[j] - mx);                                            \
            sum += e;                                                        \
            if (!take_log) out[j] = e;                                       \
        }                                                                    \
        if (take_log) {                                                      \
            double ls = log(sum);                                            \
            for (int64_t j = 0; j < n; j++) out[j] = (T)(((double)x[j] - mx) - ls); \
        } else {                                                             \
            double inv = 1.0 / sum;                                          \
            for (int64_t j = 0; j < n; j++) out[j] = (T)(out[j] * inv);      \
        }                                                                    \
    }
DEFINE_SOFTMAX_RUN(f32, float, expf)
DEFINE_SOFTMAX_RUN(f64, double, exp)

static void nl_softmax_forward(void *out, const void *in, int64_t outer, int64_t n,
                               int64_t inner, int dtype, bool take_log) {
    int64_t es = nl_dtype_size(dtype);
    int nt = nl_threads_for(outer * n * inner, REDUCE_GRAIN / 4);
    int64_t width = lane_width(outer, inner, nt);
    int64_t blocks = (inner + width - 1) / width;
    int64_t ntask = outer * blocks;
    if (nt > ntask) nt = (int)ntask;
    if (nt < 1) nt = 1;
    NL_PARALLEL_FOR(nt, task, ntask,
        int64_t o = task / blocks, l0 = (task % blocks) * width;
        int w = (int)min64(width, inner - l0);
        int64_t off = (o * n * inner + l0) * es;
        if (inner == 1 && dtype == NL_FLOAT32)
            softmax_run_f32((float *)((char *)out + off), (const float *)((const char *)in + off),
                            n, take_log);
        else if (inner == 1)
            softmax_run_f64((double *)((char *)out + off), (const double *)((const char *)in + off),
                            n, take_log);
        else if (dtype == NL_FLOAT32)
            softmax_lanes_f32((float *)((char *)out + off), (const float *)((const char *)in + off),
                              n, inner, w, take_log);
        else
            softmax_lanes_f64((double *)((char *)out + off), (const double *)((const char *)in + off),
                              n, inner, w, take_log);
        );
}

static nl_tensor *softmax_common(const char *name, nl_tensor *t, int dim, bool take_log) {
    NL_CHECK_TENSOR(name, t);
    NL_CHECK(t->dtype == NL_FLOAT32 || t->dtype == NL_FLOAT64,
             "%s: expected a float32 or float64 tensor, got %s of shape %s", name,
             nl_dtype_name(t->dtype), nl_shape_str(t));
    int d = nl_wrap_dim(dim, t->ndim);
    NL_CHECK(d >= 0, "%s: dim %d out of range for shape %s", name, dim, nl_shape_str(t));
    int64_t n = t->ndim ? t->sizes[d] : 1, outer = 1, inner = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (i < d) outer *= t->sizes[i];
        if (i > d) inner *= t->sizes[i];
    }
    nl_tensor *c = nl_contiguous(t);
    if (!c) return NULL;
    nl_tensor *out = nl_tensor_alloc(name, t->ndim, t->sizes, t->dtype);
    if (out && out->numel > 0)
        nl_softmax_forward(out->data, c->data, outer, n, inner, t->dtype, take_log);
    nl_release(c);
    return out;
}

static nl_tensor *softmax_recorded(int op, nl_tensor *t, int dim) {
    nl_tensor *out = softmax_common(nl_op_name(op), t, dim, op == NL_OP_LOG_SOFTMAX);
    nl_node *n = nl_record(op, out, 1, &t);
    if (n) {
        n->a[0] = nl_wrap_dim(dim, t->ndim);
        nl_node_save_output(n, out);
    }
    return out;
}

nl_tensor *nl_softmax(nl_tensor *t, int dim) {
    return softmax_recorded(NL_OP_SOFTMAX, t, dim);
}

nl_tensor *nl_log_softmax(nl_tensor *t, int dim) {
    return softmax_recorded(NL_OP_LOG_SOFTMAX, t, dim);
}

/* ---- backward ---- */

nl_tensor *nl_sum_to(nl_tensor *g, int ndim, const int64_t *sizes) {
    NL_CHECK_TENSOR("sum_to", g);
    bool same = g->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = g->sizes[i] == sizes[i];
    if (same) { nl_retain(g); return g; }
    NL_CHECK(g->ndim >= ndim, "sum_to: shape %s cannot be summed to %s", nl_shape_str(g),
             nl_sizes_str(ndim, sizes));
    nl_tensor *acc = g;
    nl_retain(acc);
    int lead = g->ndim - ndim;
    for (int d = 0; d < g->ndim; d++) {
        bool reduce = d < lead || (sizes[d - lead] == 1 && g->sizes[d] != 1);
        if (!reduce) continue;
        nl_tensor *r = nl_reduce(NL_OP_SUM, acc, d, 1, 0, NULL);
        nl_release(acc);
        if (!r) return NULL;
        acc = r;
    }
    nl_tensor *out = nl_reshape(acc, ndim, sizes);
    nl_release(acc);
    return out;
}

/* gx[o, idx[o, i] - base, i] = g[o, i]; gx zero elsewhere; all contiguous */
static void scatter_along(nl_tensor *gx, const nl_tensor *g, const int64_t *idx, int64_t base,
                          int64_t outer, int64_t n, int64_t inner) {
    int64_t es = nl_dtype_size(gx->dtype);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t k = idx[o * inner + i] - base;
            memcpy((char *)gx->data + ((o * n + k) * inner + i) * es,
                   (const char *)g->data + (o * inner + i) * es, es);
        }
}

int nl_reduce_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *x = n->in[0], *gx = NULL;
    int op = n->op;
    int d = (int)n->a[0];
    if (is_sum_like(op) && d < 0 && g->numel == 1) {
        /* of everything: g everywhere, for the mean g / numel divided in g's dtype as nl_div does */
        double v = nl_load(g->data, g->dtype);
        if (op == NL_OP_MEAN) v = nl_div_as(v, (double)x->numel, g->dtype);
        gin[0] = nl_full(x->ndim, x->sizes, v, g->dtype);
        return gin[0] ? 0 : -1;
    } else if (is_sum_like(op)) {
        /* a 0-dim input's dim (0 or -1) keeps its one element: g as it is */
        nl_tensor *gk = (d < 0 || n->a[1] || x->ndim == 0) ? g : TMP(nl_unsqueeze(g, d));
        gx = TMP(nl_contiguous(TMP(nl_expand(gk, x->ndim, x->sizes))));
        if (op == NL_OP_MEAN) {
            int64_t count = d < 0 ? x->numel : x->ndim == 0 ? 1 : x->sizes[d];
            gx = TMP(nl_binary_scalar(NL_OP_DIV, gx, (double)count, 0));
        }
    } else if (d < 0) {
        /* max/min of everything: g shared evenly among the elements equal to
         * the extreme, as PyTorch's, and among the NaNs when it is NaN (the
         * first took it whole); selected, not multiplied by the 0/1 mask (an
         * infinite g gave inf * 0 = NaN elsewhere) */
        nl_tensor *m = TMP(nl_reduce_all(op, x, 0));
        double mv = nl_load(m->data, m->dtype);
        nl_tensor *hit = mv != mv ? TMP(nl_binary(NL_OP_NE, x, x)) : TMP(nl_binary(NL_OP_EQ, x, m));
        nl_tensor *count = TMP(nl_reduce_all(NL_OP_SUM, TMP(nl_to_dtype(hit, g->dtype)), 0));
        nl_tensor *zero = TMP(nl_full(0, NULL, 0.0, g->dtype));
        gx = TMP(nl_where(hit, TMP(nl_binary(NL_OP_DIV, g, count)), zero));
    } else {                             /* max/min over a dim: to the saved indices */
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < x->ndim; i++) {
            if (i < d) outer *= x->sizes[i];
            if (i > d) inner *= x->sizes[i];
        }
        nl_tensor *gc = TMP(nl_contiguous(g)), *ic = TMP(nl_contiguous(n->saved));
        gx = TMP(nl_full(x->ndim, x->sizes, 0.0, g->dtype));
        scatter_along(gx, gc, ic->data, n->a[2], outer, x->ndim ? x->sizes[d] : 1, inner);
    }
    gin[0] = nl_keep_ref(gx);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}

int nl_softmax_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *y = n->saved, *gx;
    int d = (int)n->a[0];
    if (n->op == NL_OP_SOFTMAX) {        /* y * (g - sum(g*y)) */
        nl_tensor *s = TMP(nl_reduce(NL_OP_SUM, TMP(nl_binary(NL_OP_MUL, g, y)), d, 1, 0, NULL));
        gx = TMP(nl_binary(NL_OP_MUL, y, TMP(nl_binary(NL_OP_SUB, g, s))));
    } else {                             /* g - exp(y) * sum(g) */
        nl_tensor *s = TMP(nl_reduce(NL_OP_SUM, g, d, 1, 0, NULL));
        gx = TMP(nl_binary(NL_OP_SUB, g, TMP(nl_binary(NL_OP_MUL, TMP(nl_unary(NL_OP_EXP, y)), s))));
    }
    gin[0] = nl_keep_ref(gx);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}

/* ---- cumsum and cumprod ----
 * Running sums and products along a dim of (outer, n, inner) contiguous
 * data. Each lane (o, i) is scanned in order by one thread, so the result
 * does not depend on the thread count; the threads share the other dims,
 * neighbouring lanes of one o going together (the inner loop runs along
 * contiguous memory). float32 and float64 accumulate in double, as
 * PyTorch's CPU kernel (its acc_type), storing each step rounded; int64 in
 * uint64, which wraps as int64 arithmetic does. */

#define DEFINE_SCAN(SUF, T, ACC)                                             \
    static void scan_lanes_##SUF(T *out /* (n, s) */, const T *x /* (n, s) */, \
                                 int64_t n, int64_t s, int w, bool prod, bool reverse) { \
        ACC acc[LANES];                                                      \
        for (int l = 0; l < w; l++) acc[l] = prod ? 1 : 0;                   \
        for (int64_t k = 0; k < n; k++) {                                    \
            int64_t j = reverse ? n - 1 - k : k;                             \
            const T *xr = x + j * s;                                         \
            T *orow = out + j * s;                                           \
            if (prod)                                                        \
                for (int l = 0; l < w; l++) { acc[l] *= (ACC)xr[l]; orow[l] = (T)acc[l]; } \
            else                                                             \
                for (int l = 0; l < w; l++) { acc[l] += (ACC)xr[l]; orow[l] = (T)acc[l]; } \
        }                                                                    \
    }
DEFINE_SCAN(f32, float, double)
DEFINE_SCAN(f64, double, double)
DEFINE_SCAN(i64, int64_t, uint64_t)

/* out = the running sum (or product) of in along n, from the end when
 * reverse (cumsum's gradient) */
static void nl_scan_forward(void *out, const void *in, int64_t outer, int64_t n, int64_t inner,
                            int dtype, bool prod, bool reverse) {
    int64_t es = nl_dtype_size(dtype);
    int nt = nl_threads_for(outer * n * inner, REDUCE_GRAIN);
    int64_t width = lane_width(outer, inner, nt);
    int64_t blocks = (inner + width - 1) / width;
    int64_t ntask = outer * blocks;
    if (nt > ntask) nt = (int)ntask;
    if (nt < 1) nt = 1;
    NL_PARALLEL_FOR(nt, task, ntask,
        int64_t o = task / blocks, l0 = (task % blocks) * width;
        int w = (int)min64(width, inner - l0);
        int64_t off = (o * n * inner + l0) * es;
        char *po = (char *)out + off;
        const char *pi = (const char *)in + off;
        if (dtype == NL_FLOAT32) scan_lanes_f32((float *)po, (const float *)pi, n, inner, w, prod, reverse);
        else if (dtype == NL_FLOAT64) scan_lanes_f64((double *)po, (const double *)pi, n, inner, w, prod, reverse);
        else scan_lanes_i64((int64_t *)po, (const int64_t *)pi, n, inner, w, prod, reverse);
        );
}

/* outer, n, inner of t around dim d (a 0-dim tensor: one lane of one) */
static void split_at(const nl_tensor *t, int d, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    *n = t->ndim ? t->sizes[d] : 1;
    for (int i = 0; i < t->ndim; i++) {
        if (i < d) *outer *= t->sizes[i];
        if (i > d) *inner *= t->sizes[i];
    }
}

static nl_tensor *cumulative(int op, nl_tensor *t, int dim) {
    const char *name = nl_op_name(op);
    NL_CHECK_TENSOR(name, t);
    int d = t->ndim == 0 ? (dim == 0 || dim == -1 ? 0 : -1) : nl_wrap_dim(dim, t->ndim);
    NL_CHECK(d >= 0, "%s: dim %d out of range for shape %s", name, dim, nl_shape_str(t));
    int64_t outer, n, inner;
    split_at(t, d, &outer, &n, &inner);
    nl_tensor *c = nl_contiguous_raw(t);   /* any strides: the scan reads a contiguous copy */
    if (!c) return NULL;
    nl_tensor *out = nl_tensor_alloc(name, t->ndim, t->sizes, t->dtype);
    if (out && out->numel > 0)
        nl_scan_forward(out->data, c->data, outer, n, inner, t->dtype, op == NL_OP_CUMPROD, false);
    nl_release(c);
    nl_node *nd = nl_record(op, out, 1, &t);
    if (nd) {
        nd->a[0] = d;
        if (op == NL_OP_CUMPROD) {
            nd->needs_in = 1;
            nl_node_save_output(nd, out);
        }
    }
    return out;
}

nl_tensor *nl_cumsum(nl_tensor *t, int dim) { return cumulative(NL_OP_CUMSUM, t, dim); }
nl_tensor *nl_cumprod(nl_tensor *t, int dim) { return cumulative(NL_OP_CUMPROD, t, dim); }

/* cumprod's gradient along one lane of n (stride s), in double: with z the
 * first zero of x (n when none), y = cumprod(x) and g the output gradient,
 *     gx[k] = sum_{k <= j < z} y[j] g[j] / x[k]                   for k < z
 *     gx[z] = y[z-1] sum_{z <= j < z2} g[j] prod_{z < i <= j} x[i]
 *     gx[k] = 0                                                   for k > z
 * (z2 the second zero, or n): the derivative itself, PyTorch 1.13's
 * formula. The plain sum(y g) / x divides 0 by 0 at a zero. */
#define DEFINE_CUMPROD_GRAD(SUF, T)                                          \
    static void cumprod_grad_##SUF(T *gx, const T *x, const T *y, const T *g, int64_t n, int64_t s) { \
        int64_t z = 0;                                                       \
        while (z < n && x[z * s] != 0) z++;                                  \
        double acc = 0;                                                      \
        for (int64_t j = z - 1; j >= 0; j--) {                               \
            acc += (double)y[j * s] * (double)g[j * s];                      \
            gx[j * s] = (T)(acc / (double)x[j * s]);                         \
        }                                                                    \
        if (z == n) return;                                                  \
        double run = 1, sum = g[z * s];                                      \
        for (int64_t j = z + 1; j < n && x[j * s] != 0; j++) {               \
            run *= (double)x[j * s];                                         \
            sum += (double)g[j * s] * run;                                   \
        }                                                                    \
        gx[z * s] = (T)((z ? (double)y[(z - 1) * s] : 1.0) * sum);           \
        for (int64_t j = z + 1; j < n; j++) gx[j * s] = 0;                   \
    }
DEFINE_CUMPROD_GRAD(f32, float)
DEFINE_CUMPROD_GRAD(f64, double)

static int nl_cumulative_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *x = nd->in[0];
    int d = (int)nd->a[0];
    int64_t outer, n, inner;
    split_at(x, d, &outer, &n, &inner);
    nl_tensor *gc = TMP(nl_contiguous_raw(g));
    nl_tensor *gx = TMP(nl_tensor_alloc(nl_op_name(nd->op), x->ndim, x->sizes, g->dtype));
    if (gx->numel == 0) {
        /* nothing to scan */
    } else if (nd->op == NL_OP_CUMSUM) {
        nl_scan_forward(gx->data, gc->data, outer, n, inner, g->dtype, false, true);
    } else {
        nl_tensor *xc = TMP(nl_contiguous_raw(x)), *yc = TMP(nl_contiguous_raw(nd->saved));
        int64_t es = nl_dtype_size(g->dtype), lanes = outer * inner;
        int nt = nl_threads_for(lanes * n, REDUCE_GRAIN);
        NL_PARALLEL_FOR(nt, lane, lanes,
            int64_t o = lane / inner, i = lane % inner;
            int64_t off = (o * n * inner + i) * es;
            if (g->dtype == NL_FLOAT32)
                cumprod_grad_f32((float *)((char *)gx->data + off), (const float *)((char *)xc->data + off),
                                 (const float *)((char *)yc->data + off), (const float *)((char *)gc->data + off),
                                 n, inner);
            else
                cumprod_grad_f64((double *)((char *)gx->data + off), (const double *)((char *)xc->data + off),
                                 (const double *)((char *)yc->data + off),
                                 (const double *)((char *)gc->data + off), n, inner);
            );
    }
    gin[0] = nl_keep_ref(gx);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
/* (one kernel for two ops: NL_REGISTER_BACKWARD names its constructor after the kernel) */
__attribute__((constructor)) static void register_cumulative(void) {
    nl_register_backward(NL_OP_CUMSUM, nl_cumulative_backward);
    nl_register_backward(NL_OP_CUMPROD, nl_cumulative_backward);
}
