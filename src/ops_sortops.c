/* ops_sortops.c — order statistics, scans that give indices, and counting:
 * the indices of cummax / cummin and of mode, logcumsumexp with its
 * backward, searchsorted, bincount, histc and the groups of unique.
 * Sorting itself (nl_argsort) is tensor.c's. The ops that give indices
 * have no gradient: the Lua layer gathers their values, so that the
 * gradient is gather's (PyTorch's value_selecting_reduction_backward). */
#include "internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* elements per thread before another thread pays */
#define SORTOPS_GRAIN (1 << 14)

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

/* dim of t from 0 (negative: from the end), -1 when out of range; a 0-dim
 * tensor takes 0 or -1, as PyTorch's */
static int lane_dim(const nl_tensor *t, int dim) {
    if (t->ndim == 0) return dim == 0 || dim == -1 ? 0 : -1;
    return nl_wrap_dim(dim, t->ndim);
}

/* ---- orders of elements and of rows ----
 * One total order for sorting (the order of nl_argsort: NaN after every
 * number, NaNs equal to one another) and an equality that no NaN passes,
 * as PyTorch's runs of equal values (mode, unique) compare with ==. */

static inline double elem_f(const void *x, int dtype, int64_t i) {
    return dtype == NL_FLOAT32 ? (double)((const float *)x)[i] : ((const double *)x)[i];
}

/* -1, 0 or 1: x[i] against x[j] */
static int order_cmp(const void *x, int dtype, int64_t i, int64_t j) {
    if (dtype == NL_INT64) {
        int64_t a = ((const int64_t *)x)[i], b = ((const int64_t *)x)[j];
        return (a > b) - (a < b);
    }
    double a = elem_f(x, dtype, i), b = elem_f(x, dtype, j);
    int na = a != a, nb = b != b;
    if (na || nb) return na - nb;
    return (a > b) - (a < b);
}

static bool same_value(const void *x, int dtype, int64_t i, int64_t j) {
    if (dtype == NL_INT64) return ((const int64_t *)x)[i] == ((const int64_t *)x)[j];
    return elem_f(x, dtype, i) == elem_f(x, dtype, j);
}

/* items a = 0, 1, ...: item a is x[a * stride + j] for j < m (a row of m,
 * or one element of a lane with m = 1) */
typedef struct {
    const void *x;
    int64_t stride, m;
    int dtype;
} items;

/* items compared lexicographically in order_cmp's order */
static int items_cmp(const items *c, int64_t a, int64_t b) {
    for (int64_t j = 0; j < c->m; j++) {
        int r = order_cmp(c->x, c->dtype, a * c->stride + j, b * c->stride + j);
        if (r) return r;
    }
    return 0;
}

static bool items_same(const items *c, int64_t a, int64_t b) {
    for (int64_t j = 0; j < c->m; j++)
        if (!same_value(c->x, c->dtype, a * c->stride + j, b * c->stride + j)) return false;
    return true;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* idx[0..n) sorted stably by items_cmp (a bottom-up merge sort; tmp: n
 * scratch): equal items keep their order, as nl_argsort's */
static void sort_items(int64_t *idx /* (n) in, out */, int64_t *tmp /* (n) */, int64_t n, const items *c) {
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = min64(lo + w, n), hi = min64(lo + 2 * w, n), a = lo, b = mid, k = lo;
            while (a < mid && b < hi) tmp[k++] = items_cmp(c, idx[b], idx[a]) < 0 ? idx[b++] : idx[a++];
            while (a < mid) tmp[k++] = idx[a++];
            while (b < hi) tmp[k++] = idx[b++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

/* ---- cummax and cummin ----
 * PyTorch 1.13's cummax_cummin_helper: the running extreme's index, a
 * later equal value taking over (>= for max, <= for min), and a NaN taking
 * over from everything, every later NaN again (its index is the last NaN's). */

#define DEFINE_CUMEXT(SUF, T)                                                \
    static void cumext_lane_##SUF(int64_t *out /* (n, s) */, const T *x /* (n, s) */, int64_t n, int64_t s, \
                                  bool take_min, int64_t base) {             \
        T best = x[0];                                                       \
        int64_t at = 0;                                                      \
        for (int64_t k = 0; k < n; k++) {                                    \
            T v = x[k * s];                                                  \
            if (v != v || (best == best && (take_min ? v <= best : v >= best))) { \
                best = v;                                                    \
                at = k;                                                      \
            }                                                                \
            out[k * s] = at + base;                                          \
        }                                                                    \
    }
DEFINE_CUMEXT(f32, float)
DEFINE_CUMEXT(f64, double)
DEFINE_CUMEXT(i64, int64_t)

nl_tensor *nl_cummax_indices(nl_tensor *t, int dim, int take_min, int64_t base) {
    const char *name = take_min ? "cummin" : "cummax";
    NL_CHECK_TENSOR(name, t);
    int d = lane_dim(t, dim);
    NL_CHECK(d >= 0, "%s: dim %d out of range for shape %s", name, dim, nl_shape_str(t));
    nl_tensor *out = nl_tensor_alloc(name, t->ndim, t->sizes, NL_INT64);
    if (!out || out->numel == 0) return out;
    nl_tensor *c = nl_contiguous_raw(t);
    if (!c) { nl_release(out); return NULL; }
    int64_t outer, n, inner, es = nl_dtype_size(t->dtype);
    split_at(t, d, &outer, &n, &inner);
    int nt = nl_threads_for(t->numel, SORTOPS_GRAIN);
    NL_PARALLEL_FOR(nt, lane, outer * inner,
        int64_t off = (lane / inner) * n * inner + lane % inner;
        int64_t *o = (int64_t *)out->data + off;
        const char *x = (const char *)c->data + off * es;
        if (t->dtype == NL_FLOAT32) cumext_lane_f32(o, (const float *)x, n, inner, take_min, base);
        else if (t->dtype == NL_FLOAT64) cumext_lane_f64(o, (const double *)x, n, inner, take_min, base);
        else cumext_lane_i64(o, (const int64_t *)x, n, inner, take_min, base);
        );
    nl_release(c);
    return out;
}

/* ---- logcumsumexp ----
 * PyTorch 1.13's kernel: acc = log_add_exp(x, acc) from acc = -inf, in
 * double (its acc_type on the CPU), each step stored rounded. */

/* PyTorch's _log_add_exp_helper(x, y), with std::min and std::max's
 * choices where one side is NaN: the NaN propagates; two equal
 * infinities give x (exp(inf - inf) would be NaN) */
static double log_add_exp(double x, double y) {
    double lo = y != y ? y : (y < x ? y : x);
    double hi = y != y ? y : (x < y ? y : x);
    if (lo != hi || isfinite(lo)) return log1p(exp(lo - hi)) + hi;
    return x;
}

#define DEFINE_LCSE(SUF, T)                                                  \
    static void lcse_lane_##SUF(T *out /* (n, s) */, const T *x /* (n, s) */, int64_t n, int64_t s) { \
        double acc = -INFINITY;                                              \
        for (int64_t k = 0; k < n; k++) {                                    \
            acc = log_add_exp((double)x[k * s], acc);                        \
            out[k * s] = (T)acc;                                             \
        }                                                                    \
    }                                                                        \
    /* PyTorch 1.13's logcumsumexp_backward along one lane: with y the     \
     * output, gx[k] = sum_{j >= k} g[j] exp(x[k] - y[j]) taken apart by    \
     * the sign of g in log space, exp(x[k] + A+[k]) - exp(x[k] + A-[k]),   \
     * A+-[k] = log sum_{j >= k} exp(log|g[j]| - y[j]) over the g[j] of that \
     * sign (the others count as the dtype's lowest value, as there): no    \
     * exp(-y) overflows. */                                                 \
    static void lcse_grad_lane_##SUF(T *gx /* (n, s) */, const T *x /* (n, s) */, const T *y /* (n, s) */, \
                                     const T *g /* (n, s) */, int64_t n, int64_t s, double lowest) { \
        double ap = -INFINITY, an = -INFINITY;                               \
        for (int64_t k = n - 1; k >= 0; k--) {                               \
            double gk = g[k * s], yk = y[k * s], xk = x[k * s];              \
            double lg = log(fabs(gk));                                       \
            ap = log_add_exp((gk > 0 ? lg : lowest) - yk, ap);               \
            an = log_add_exp((gk < 0 ? lg : lowest) - yk, an);               \
            gx[k * s] = (T)(exp(ap + xk) - exp(an + xk));                    \
        }                                                                    \
    }
DEFINE_LCSE(f32, float)
DEFINE_LCSE(f64, double)

nl_tensor *nl_logcumsumexp(nl_tensor *t, int dim) {
    NL_CHECK_TENSOR("logcumsumexp", t);
    NL_CHECK(t->dtype != NL_INT64, "logcumsumexp: expected a float input, got int64 %s", nl_shape_str(t));
    int d = lane_dim(t, dim);
    NL_CHECK(d >= 0, "logcumsumexp: dim %d out of range for shape %s", dim, nl_shape_str(t));
    int64_t outer, n, inner;
    split_at(t, d, &outer, &n, &inner);
    nl_tensor *c = nl_contiguous_raw(t);
    if (!c) return NULL;
    nl_tensor *out = nl_tensor_alloc("logcumsumexp", t->ndim, t->sizes, t->dtype);
    if (out && out->numel > 0) {
        int64_t es = nl_dtype_size(t->dtype);
        int nt = nl_threads_for(t->numel, SORTOPS_GRAIN);
        NL_PARALLEL_FOR(nt, lane, outer * inner,
            int64_t off = ((lane / inner) * n * inner + lane % inner) * es;
            if (t->dtype == NL_FLOAT32)
                lcse_lane_f32((float *)((char *)out->data + off), (const float *)((char *)c->data + off), n, inner);
            else
                lcse_lane_f64((double *)((char *)out->data + off), (const double *)((char *)c->data + off), n,
                              inner);
            );
    }
    nl_release(c);
    nl_node *nd = out ? nl_record(NL_OP_LOGCUMSUMEXP, out, 1, &t) : NULL;
    if (nd) {
        nd->a[0] = d;
        nd->needs_in = 1;
        nl_node_save_output(nd, out);
    }
    return out;
}

static int nl_logcumsumexp_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *x = nd->in[0];
    if (x->ndim == 0) {
        /* the identity: g as it is, as PyTorch's (exp(log g) is not g) */
        gin[0] = nl_keep_ref(g);
        return 0;
    }
    int d = (int)nd->a[0];
    int64_t outer, n, inner;
    split_at(x, d, &outer, &n, &inner);
    nl_tensor *gc = TMP(nl_contiguous_raw(g));
    nl_tensor *xc = TMP(nl_contiguous_raw(x)), *yc = TMP(nl_contiguous_raw(nd->saved));
    nl_tensor *gx = TMP(nl_tensor_alloc("logcumsumexp", x->ndim, x->sizes, g->dtype));
    int64_t es = nl_dtype_size(g->dtype);
    int nt = nl_threads_for(gx->numel, SORTOPS_GRAIN);
    NL_PARALLEL_FOR(nt, lane, gx->numel ? outer * inner : 0,
        int64_t off = ((lane / inner) * n * inner + lane % inner) * es;
        if (g->dtype == NL_FLOAT32)
            lcse_grad_lane_f32((float *)((char *)gx->data + off), (const float *)((char *)xc->data + off),
                               (const float *)((char *)yc->data + off), (const float *)((char *)gc->data + off),
                               n, inner, -FLT_MAX);
        else
            lcse_grad_lane_f64((double *)((char *)gx->data + off), (const double *)((char *)xc->data + off),
                               (const double *)((char *)yc->data + off),
                               (const double *)((char *)gc->data + off), n, inner, -DBL_MAX);
        );
    gin[0] = nl_keep_ref(gx);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_LOGCUMSUMEXP, nl_logcumsumexp_backward)

/* ---- mode ----
 * PyTorch 1.13's mode_kernel: each lane sorted, the longest run of equal
 * values wins, the first (smallest) of equally long runs; its index is
 * that of the run's last element in sorted order, here a stable order:
 * the last place of the value (PyTorch's unstable std::sort gives that
 * on short lanes and any of them on long ones). A NaN equals nothing, so
 * each is a run of its own, sorted after the numbers. */
nl_tensor *nl_mode_indices(nl_tensor *t, int dim, int64_t base) {
    NL_CHECK_TENSOR("mode", t);
    int d = lane_dim(t, dim);
    NL_CHECK(d >= 0, "mode: dim %d out of range for shape %s", dim, nl_shape_str(t));
    int64_t outer, n, inner;
    split_at(t, d, &outer, &n, &inner);
    NL_CHECK(n > 0, "mode: cannot reduce dim %d of size 0 in shape %s", d, nl_shape_str(t));
    int64_t sizes[8];
    memcpy(sizes, t->sizes, sizeof sizes);
    if (t->ndim) sizes[d] = 1;
    nl_tensor *out = nl_tensor_alloc("mode", t->ndim, sizes, NL_INT64);
    if (!out || out->numel == 0) return out;
    nl_tensor *c = nl_contiguous_raw(t);
    if (!c) { nl_release(out); return NULL; }
    int64_t nbytes = 2 * n * (int64_t)sizeof(int64_t);
    int64_t *idx = nl_alloc_scratch(&nbytes);
    if (!idx) {
        nl_release(c);
        nl_release(out);
        NL_CHECK(0, "mode: out of memory for lanes of %lld", (long long)n);
    }
    int64_t es = nl_dtype_size(t->dtype);
    for (int64_t lane = 0; lane < outer * inner; lane++) {
        int64_t o = lane / inner, i = lane % inner;
        items lc = { (const char *)c->data + (o * n * inner + i) * es, inner, 1, t->dtype };
        for (int64_t k = 0; k < n; k++) idx[k] = k;
        sort_items(idx, idx + n, n, &lc);
        int64_t best = 0, at = 0, run = 0;
        for (int64_t k = 0; k < n; k++) {
            run++;
            if (k == n - 1 || !items_same(&lc, idx[k], idx[k + 1])) {
                if (run > best) { best = run; at = idx[k]; }
                run = 0;
            }
        }
        ((int64_t *)out->data)[lane] = at + base;
    }
    nl_free(idx, nbytes);
    nl_release(c);
    return out;
}

/* ---- searchsorted ----
 * PyTorch 1.13's cus_lower_bound / cus_upper_bound: the first place whose
 * boundary is >= v (> v when right); a test that NaN fails moves right,
 * so a NaN value goes past every boundary, and NaN boundaries (sorted
 * last) count as larger than every number. */

#define DEFINE_BOUND(SUF, T)                                                 \
    static int64_t bound_##SUF(const T *bd /* (n) */, int64_t n, T v, bool right) { \
        int64_t lo = 0, hi = n;                                              \
        while (lo < hi) {                                                    \
            int64_t mid = lo + ((hi - lo) >> 1);                             \
            if (right ? !(bd[mid] > v) : !(bd[mid] >= v)) lo = mid + 1;      \
            else hi = mid;                                                   \
        }                                                                    \
        return lo;                                                           \
    }
DEFINE_BOUND(f32, float)
DEFINE_BOUND(f64, double)
DEFINE_BOUND(i64, int64_t)

nl_tensor *nl_searchsorted(nl_tensor *sorted, nl_tensor *values, int right, int64_t base) {
    NL_CHECK_TENSOR("searchsorted", sorted);
    NL_CHECK_TENSOR("searchsorted", values);
    NL_CHECK(sorted->ndim >= 1, "searchsorted: boundaries must have at least one dim, got a 0-dim tensor");
    NL_CHECK(sorted->dtype == values->dtype, "searchsorted: boundaries (%s) and values (%s) must have one dtype",
             nl_dtype_name(sorted->dtype), nl_dtype_name(values->dtype));
    bool lanes = sorted->ndim > 1;
    if (lanes) {
        bool match = values->ndim == sorted->ndim;
        for (int i = 0; match && i < sorted->ndim - 1; i++) match = values->sizes[i] == sorted->sizes[i];
        NL_CHECK(match, "searchsorted: boundaries of shape %s need values with the same first %d dims, got shape %s "
                 "(or 1-D boundaries)", nl_shape_str(sorted), sorted->ndim - 1, nl_shape_str(values));
    }
    nl_tensor *out = nl_tensor_alloc("searchsorted", values->ndim, values->sizes, NL_INT64);
    if (!out || out->numel == 0) return out;
    nl_tensor *bc = nl_contiguous_raw(sorted), *vc = bc ? nl_contiguous_raw(values) : NULL;
    if (!vc) {
        nl_release(bc);
        nl_release(out);
        return NULL;
    }
    int64_t n = sorted->sizes[sorted->ndim - 1], m = lanes ? values->sizes[values->ndim - 1] : 1;
    int64_t *o = out->data;
    int nt = nl_threads_for(out->numel, SORTOPS_GRAIN);
    NL_PARALLEL_FOR(nt, e, out->numel,
        int64_t at = lanes ? e / m * n : 0;
        int64_t k;
        if (values->dtype == NL_FLOAT32) k = bound_f32((const float *)bc->data + at, n, ((const float *)vc->data)[e], right);
        else if (values->dtype == NL_FLOAT64) k = bound_f64((const double *)bc->data + at, n, ((const double *)vc->data)[e], right);
        else k = bound_i64((const int64_t *)bc->data + at, n, ((const int64_t *)vc->data)[e], right);
        o[e] = k + base;
        );
    nl_release(vc);
    nl_release(bc);
    return out;
}

/* ---- bincount ----
 * PyTorch 1.13's _bincount_cpu, with bins counted from base: value v
 * lands in bin v - base. int64 counts; with weights, their sums in
 * float32 for float32 weights, else in float64, added in input order. */
nl_tensor *nl_bincount(nl_tensor *input, nl_tensor *weights, int64_t minlength, int64_t base) {
    NL_CHECK_TENSOR("bincount", input);
    NL_CHECK(input->ndim == 1 && input->dtype == NL_INT64,
             "bincount: expected a 1-D int64 tensor of bin indices, got %s %s", nl_dtype_name(input->dtype),
             nl_shape_str(input));
    NL_CHECK(minlength >= 0, "bincount: minlength must be >= 0, got %lld", (long long)minlength);
    if (weights)
        NL_CHECK(weights->ndim == 1 && weights->sizes[0] == input->sizes[0],
                 "bincount: weights must be 1-D, of the input's length %lld; got shape %s",
                 (long long)input->sizes[0], nl_shape_str(weights));
    int64_t n = input->numel, len = minlength;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = nl_get_index(input, i, 0);
        NL_CHECK(v >= base, "bincount: bin index %lld at position %lld is below %lld (bins count from %lld)",
                 (long long)v, (long long)(i + base), (long long)base, (long long)base);
        /* (checked before the sum: v - base + 1 overflows at INT64_MAX) */
        NL_CHECK(v - base < ((int64_t)1 << 40), "bincount: bin index %lld at position %lld is too large",
                 (long long)v, (long long)(i + base));
        if (v - base + 1 > len) len = v - base + 1;
    }
    int dtype = !weights ? NL_INT64 : weights->dtype == NL_FLOAT32 ? NL_FLOAT32 : NL_FLOAT64;
    nl_tensor *out = nl_tensor_alloc("bincount", 1, &len, dtype);
    if (!out) return NULL;
    memset(out->data, 0, (size_t)(len * nl_dtype_size(dtype)));
    for (int64_t i = 0; i < n; i++) {
        int64_t k = nl_get_index(input, i, base);
        if (dtype == NL_INT64) ((int64_t *)out->data)[k]++;
        else if (dtype == NL_FLOAT32) ((float *)out->data)[k] += (float)nl_get_flat(weights, i);
        else ((double *)out->data)[k] += nl_get_flat(weights, i);
    }
    return out;
}

/* ---- histc ----
 * PyTorch 1.13's histogram_histc_cpu_out: edges min and max (the data's
 * when equal; widened by 1 each way when still equal), bins of equal
 * width found by (x - min) / (max - min) * bins in the input's dtype, the last bin holding its
 * right edge; elements outside [min, max] and NaN are left out. */

#define DEFINE_HISTC(SUF, T)                                                 \
    static void histc_##SUF(T *hist /* (bins) */, const T *x /* (n) */, int64_t n, int64_t bins, T lo, T hi) { \
        for (int64_t i = 0; i < n; i++) {                                    \
            T v = x[i];                                                      \
            if (!(v >= lo && v <= hi)) continue;                             \
            /* divided first: PyTorch 1.13's bins at the edges (multiplied  \
             * first, 1.8 of [0, 3] in 5 bins went to bin 3, where 1.13     \
             * gives 2; checked on 22,000 values at and beside edges) */     \
            T q = (v - lo) / (hi - lo) * (T)bins;                            \
            /* q is in [0, bins]: bins goes to the last bin (and any NaN    \
             * or overflow of an edge case to a bin, not past one) */        \
            int64_t k = q >= (T)bins ? bins - 1 : q > 0 ? (int64_t)q : 0;    \
            hist[k] += 1;                                                    \
        }                                                                    \
    }
DEFINE_HISTC(f32, float)
DEFINE_HISTC(f64, double)

nl_tensor *nl_histc(nl_tensor *t, int64_t bins, double min, double max) {
    NL_CHECK_TENSOR("histc", t);
    NL_CHECK(t->dtype != NL_INT64, "histc: expected a float input, got int64 %s", nl_shape_str(t));
    NL_CHECK(bins > 0, "histc: bins must be > 0, got %lld", (long long)bins);
    nl_tensor *c = nl_contiguous_raw(t);
    if (!c) return NULL;
    double lo = min, hi = max;
    if (lo == hi && t->numel > 0) {
        /* the data's extrema, NaN when it holds one (aminmax's) */
        lo = hi = elem_f(c->data, t->dtype, 0);
        for (int64_t i = 0; i < t->numel; i++) {
            double v = elem_f(c->data, t->dtype, i);
            if (v != v) { lo = hi = v; break; }
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    }
    if (lo == hi) {
        lo -= 1;
        hi += 1;
    }
    if (!isfinite(lo) || !isfinite(hi)) {
        nl_release(c);
        /* (a NaN of the data may carry its sign: printf wrote -nan) */
        NL_CHECK(0, "histc: range of [%g, %g] is not finite", lo != lo ? NAN : lo, hi != hi ? NAN : hi);
    }
    if (!(lo < hi)) {
        nl_release(c);
        NL_CHECK(0, "histc: max must be larger than min (got min %g, max %g)", lo, hi);
    }
    nl_tensor *out = nl_tensor_alloc("histc", 1, &bins, t->dtype);
    if (out) memset(out->data, 0, (size_t)(bins * nl_dtype_size(t->dtype)));
    if (out && t->dtype == NL_FLOAT32)
        histc_f32(out->data, c->data, t->numel, bins, (float)lo, (float)hi);
    else if (out)
        histc_f64(out->data, c->data, t->numel, bins, lo, hi);
    nl_release(c);
    return out;
}

/* ---- unique ----
 * The groups of equal rows of a 2-D tensor, in the order of the rows
 * sorted lexicographically (stably), or, when consecutive, of the runs of
 * equal neighbours. Rows with a NaN equal none, as PyTorch's
 * unique_consecutive compares them. */
nl_tensor *nl_unique_groups(nl_tensor *rows, int consecutive, int64_t base, nl_tensor **inverse, nl_tensor **counts) {
    const char *name = consecutive ? "unique_consecutive" : "unique";
    *inverse = *counts = NULL;
    NL_CHECK_TENSOR(name, rows);
    NL_CHECK(rows->ndim == 2, "%s: expected rows (2-D), got shape %s", name, nl_shape_str(rows));
    int64_t n = rows->sizes[0], m = rows->sizes[1];
    nl_tensor *c = nl_contiguous_raw(rows);
    if (!c) return NULL;
    int64_t nbytes = 3 * n * (int64_t)sizeof(int64_t) + 8;
    int64_t *idx = nl_alloc_scratch(&nbytes);
    if (!idx) {
        nl_release(c);
        NL_CHECK(0, "%s: out of memory for %lld rows", name, (long long)n);
    }
    int64_t *tmp = idx + n, *start = idx + 2 * n;   /* start: the sorted place where each group starts */
    items rc = { c->data, m, m, rows->dtype };
    for (int64_t k = 0; k < n; k++) idx[k] = k;
    if (!consecutive) sort_items(idx, tmp, n, &rc);
    int64_t groups = 0;
    for (int64_t k = 0; k < n; k++)
        if (k == 0 || !items_same(&rc, idx[k - 1], idx[k])) start[groups++] = k;
    nl_tensor *first = nl_tensor_alloc(name, 1, &groups, NL_INT64);
    nl_tensor *inv = first ? nl_tensor_alloc(name, 1, &n, NL_INT64) : NULL;
    nl_tensor *cnt = inv ? nl_tensor_alloc(name, 1, &groups, NL_INT64) : NULL;
    if (cnt) {
        for (int64_t g = 0; g < groups; g++) {
            int64_t end = g + 1 < groups ? start[g + 1] : n;
            ((int64_t *)first->data)[g] = idx[start[g]] + base;
            ((int64_t *)cnt->data)[g] = end - start[g];
            for (int64_t k = start[g]; k < end; k++) ((int64_t *)inv->data)[idx[k]] = g + base;
        }
    }
    nl_free(idx, nbytes);
    nl_release(c);
    if (!cnt) {
        nl_release(inv);
        nl_release(first);
        return NULL;
    }
    *inverse = inv;
    *counts = cnt;
    return first;
}
