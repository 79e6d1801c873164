/* ops_norm.c — layer normalization as one fused op (nl_layer_norm): each
 * row of the trailing dims normalized by its own mean and biased variance
 * (or, with NL_NORM_RMS, by its root mean square), then times weight and
 * plus bias, with its backward. Not here: batch, group and instance norms
 * (composed of tensor ops in normalization.lua). */
#include "internal.h"

#include <math.h>
#include <string.h>

/* Row sums in double over 8 lanes added in a fixed order: the lanes let
 * the compiler vectorize (a single double accumulator is one add chain),
 * and the order is the same on any thread count. */
#define LN_LANES 8

#define LN_SUM(T, n, EXPR, out)                                               \
    do {                                                                      \
        double acc_[LN_LANES] = { 0 };                                        \
        int64_t j_ = 0;                                                       \
        for (; j_ + LN_LANES <= (n); j_ += LN_LANES)                          \
            for (int l_ = 0; l_ < LN_LANES; l_++) { int64_t j = j_ + l_; acc_[l_] += (EXPR); } \
        double s_ = 0;                                                        \
        for (int l_ = 0; l_ < LN_LANES; l_++) s_ += acc_[l_];                 \
        for (int64_t j = j_; j < (n); j++) s_ += (EXPR);                      \
        (out) = s_;                                                           \
    } while (0)

/* Row kernels, compiled for AVX2 and FMA too (chosen at load) */
#define LN_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))

/* each thread's share of n: [k n / nt, (k + 1) n / nt) */
static inline int64_t share(int64_t n, int nt, int64_t k) { return n / nt * k + (n % nt) * k / nt; }

/* forward of rows [lo, hi) of x (R, N) -> y (R, N); st (R, 2): each row's
 * mean (0 for RMS) and rstd = 1 / sqrt(var + eps), from two passes in
 * double; w, b (N) optional */
#define LN_FWD_KERNEL(T, SFX)                                                 \
    static LN_KERNEL void ln_forward_##SFX(T *yp, double *st, const T *xp, const T *wp, const T *bp, \
                                           int64_t lo, int64_t hi, int64_t N, double eps, bool rms) { \
        for (int64_t r = lo; r < hi; r++) {                                   \
            const T *xr = xp + r * N;                                         \
            T *yr = yp + r * N;                                               \
            double mean = 0, ss;                                              \
            if (!rms) { LN_SUM(T, N, (double)xr[j], mean); mean /= (double)N; } \
            LN_SUM(T, N, ((double)xr[j] - mean) * ((double)xr[j] - mean), ss); \
            double rstd = 1.0 / sqrt(ss / (double)N + eps);                   \
            st[2 * r] = mean;                                                 \
            st[2 * r + 1] = rstd;                                             \
            T m = (T)mean, s = (T)rstd;                                       \
            if (wp && bp) for (int64_t j = 0; j < N; j++) yr[j] = (xr[j] - m) * s * wp[j] + bp[j]; \
            else if (wp) for (int64_t j = 0; j < N; j++) yr[j] = (xr[j] - m) * s * wp[j]; \
            else if (bp) for (int64_t j = 0; j < N; j++) yr[j] = (xr[j] - m) * s + bp[j]; \
            else for (int64_t j = 0; j < N; j++) yr[j] = (xr[j] - m) * s;    \
        }                                                                     \
    }
LN_FWD_KERNEL(float, f32)
LN_FWD_KERNEL(double, f64)

#define LN_FWD(T, SFX)                                                        \
    do {                                                                      \
        const T *xp = (const T *)xc->data, *wp = wc ? (const T *)wc->data : NULL; \
        const T *bp = bc ? (const T *)bc->data : NULL;                        \
        T *yp = (T *)out->data;                                               \
        double *st = (double *)stats->data;                                   \
        NL_PARALLEL_FOR(nt, t, nt, ln_forward_##SFX(yp, st, xp, wp, bp, share(R, nt, t), share(R, nt, t + 1), \
                                                    N, eps, rms););           \
    } while (0)

nl_tensor *nl_layer_norm(nl_tensor *x, int k, nl_tensor *w, nl_tensor *b, double eps, int flags) {
    NL_CHECK_TENSOR("layer_norm", x);
    NL_CHECK(x->dtype == NL_FLOAT32 || x->dtype == NL_FLOAT64, "layer_norm: expected a float input, got %s %s",
             nl_dtype_name(x->dtype), nl_shape_str(x));
    NL_CHECK(k >= 1 && k <= x->ndim, "layer_norm: cannot normalize the last %d dims of an input of shape %s", k,
             nl_shape_str(x));
    int64_t N = 1;
    for (int d = x->ndim - k; d < x->ndim; d++) N *= x->sizes[d];
    NL_CHECK(N >= 1, "layer_norm: normalized dims of an input of shape %s hold no elements", nl_shape_str(x));
    nl_tensor *wb[2] = { w, b };
    for (int i = 0; i < 2; i++) {
        nl_tensor *t = wb[i];
        if (!t) continue;
        bool ok = t->dtype == x->dtype && t->ndim == k;
        for (int d = 0; ok && d < k; d++) ok = t->sizes[d] == x->sizes[x->ndim - k + d];
        NL_CHECK(ok, "layer_norm: %s must be a %s tensor of the normalized shape of input %s, got %s %s",
                 i ? "bias" : "weight", nl_dtype_name(x->dtype), nl_shape_str(x), nl_dtype_name(t->dtype),
                 nl_shape_str(t));
    }
    bool rms = flags & NL_NORM_RMS;
    int64_t R = x->numel / N;
    nl_tensor *out = nl_tensor_alloc("layer_norm", x->ndim, x->sizes, x->dtype);
    nl_tensor *stats = out ? nl_tensor_alloc("layer_norm", 2, (int64_t[]){ R, 2 }, NL_FLOAT64) : NULL;   /* (R, 2): mean, rstd */
    nl_tensor *xc = stats ? nl_contiguous_raw(x) : NULL;
    nl_tensor *wc = xc && w ? nl_contiguous_raw(w) : NULL, *bc = xc && b ? nl_contiguous_raw(b) : NULL;
    bool ok = xc && (!w || wc) && (!b || bc);
    if (ok && R > 0) {
        int nt = nl_threads_for(x->numel, 1 << 15);
        if (x->dtype == NL_FLOAT32) LN_FWD(float, f32);
        else LN_FWD(double, f64);
    }
    nl_release(xc);
    nl_release(wc);
    nl_release(bc);
    if (!ok) {
        nl_release(stats);
        nl_release(out);
        return NULL;
    }
    int n_in = 1;
    nl_tensor *ins[3] = { x };
    if (w) ins[n_in++] = w;
    if (b) ins[n_in++] = b;
    nl_node *node = nl_record(NL_OP_LAYER_NORM, out, n_in, ins);
    if (node) {
        node->needs_in = w ? 3 : 1;
        node->a[0] = k;
        node->a[1] = (w ? NL_NORM_WEIGHT : 0) | (b ? NL_NORM_BIAS : 0) | (rms ? NL_NORM_RMS : 0);
        node->s[0] = eps;
        nl_node_save(node, stats);
    }
    nl_release(stats);
    return out;
}

/* The rows split in C fixed chunks (C from R alone), each chunk's rows run
 * in order by one thread: gx per row, and the chunk's sums of g xhat (for
 * the weight) and g (for the bias) over its rows in part (C, 2, N), added
 * up chunk by chunk after; the result does not depend on the threads.
 * Per row, with xhat = (x - mean) rstd and h = g w (g without a weight):
 *     gx = rstd (h - mean(h) - xhat mean(h xhat))   (no mean(h) for RMS) */
#define LN_CHUNKS 32

/* the rows [lo, hi) of x and g (R, N): gx (R, N) (optional), and the
 * sums over those rows of g xhat into pw (N) and of g into pb (N) (both
 * optional) */
#define LN_BWD_KERNEL(T, SFX)                                                 \
    static LN_KERNEL void ln_backward_##SFX(T *gxp, double *pw, double *pb, const T *xp, const T *gp, \
                                            const T *wp, const double *st, int64_t lo, int64_t hi, \
                                            int64_t N, bool rms) {            \
        for (int64_t r = lo; r < hi; r++) {                                   \
            const T *xr = xp + r * N, *gr = gp + r * N;                       \
            double mean = st[2 * r], rstd = st[2 * r + 1];                    \
            if (pw)                                                           \
                for (int64_t j = 0; j < N; j++) {                             \
                    pw[j] += (double)gr[j] * (((double)xr[j] - mean) * rstd); \
                    pb[j] += (double)gr[j];                                   \
                }                                                             \
            if (!gxp) continue;                                               \
            double sh, shx;                                                   \
            if (wp) {                                                         \
                LN_SUM(T, N, (double)gr[j] * wp[j], sh);                      \
                LN_SUM(T, N, (double)gr[j] * wp[j] * ((double)xr[j] - mean), shx); \
            } else {                                                          \
                LN_SUM(T, N, (double)gr[j], sh);                              \
                LN_SUM(T, N, (double)gr[j] * ((double)xr[j] - mean), shx);    \
            }                                                                 \
            /* gx = rstd h - rstd mean(h) - (x - mean) rstd^3 mean(h (x - mean)) */ \
            T s = (T)rstd, m = (T)mean;                                       \
            T a = rms ? 0 : (T)(rstd * sh / (double)N);                       \
            T q = (T)(rstd * rstd * rstd * shx / (double)N);                  \
            T *gxr = gxp + r * N;                                             \
            if (wp) for (int64_t j = 0; j < N; j++) gxr[j] = s * (gr[j] * wp[j]) - a - (xr[j] - m) * q; \
            else for (int64_t j = 0; j < N; j++) gxr[j] = s * gr[j] - a - (xr[j] - m) * q; \
        }                                                                     \
    }
LN_BWD_KERNEL(float, f32)
LN_BWD_KERNEL(double, f64)

#define LN_BWD(T, SFX)                                                        \
    do {                                                                      \
        const T *xp = (const T *)xc->data, *gp = (const T *)gc->data;         \
        const T *wp = wc ? (const T *)wc->data : NULL;                        \
        const double *st = (const double *)stats->data;                       \
        T *gxp = gx ? (T *)gx->data : NULL;                                   \
        NL_PARALLEL_FOR(nt, c, C, {                                           \
            double *pw = part ? part + c * 2 * N : NULL;                      \
            ln_backward_##SFX(gxp, pw, pw ? pw + N : NULL, xp, gp, wp, st, c * R / C, (c + 1) * R / C, N, rms); \
        });                                                                   \
        T *gwp = gw ? (T *)gw->data : NULL, *gbp = gb ? (T *)gb->data : NULL; \
        for (int64_t j = 0; part && j < N; j++) {                             \
            double sw = 0, sb = 0;                                            \
            for (int64_t c = 0; c < C; c++) {                                 \
                sw += part[c * 2 * N + j];                                    \
                sb += part[c * 2 * N + N + j];                                \
            }                                                                 \
            if (gwp) gwp[j] = (T)sw;                                          \
            if (gbp) gbp[j] = (T)sb;                                          \
        }                                                                     \
    } while (0)

static int layer_norm_backward(nl_node *node, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *x = node->in[0], *stats = node->saved;
    int k = (int)node->a[0], flags = (int)node->a[1];
    bool rms = flags & NL_NORM_RMS;
    int iw = flags & NL_NORM_WEIGHT ? 1 : -1, ib = flags & NL_NORM_BIAS ? (iw > 0 ? 2 : 1) : -1;
    nl_tensor *w = iw > 0 ? node->in[iw] : NULL;
    bool want_x = nl_node_wants(node, 0), want_w = iw > 0 && nl_node_wants(node, iw);
    bool want_b = ib > 0 && nl_node_wants(node, ib);
    int64_t N = 1;
    for (int d = x->ndim - k; d < x->ndim; d++) N *= x->sizes[d];
    int64_t R = x->numel / N, C = R < LN_CHUNKS ? R : LN_CHUNKS;
    int nt = nl_threads_for(x->numel, 1 << 15);
    nl_tensor *gc = TMP(g->dtype == x->dtype ? nl_contiguous_raw(g) : nl_to_dtype(g, x->dtype));
    nl_tensor *xc = TMP(nl_contiguous_raw(x)), *wc = w ? TMP(nl_contiguous_raw(w)) : NULL;
    nl_tensor *gx = want_x ? TMP(nl_tensor_alloc("layer_norm", x->ndim, x->sizes, x->dtype)) : NULL;
    nl_tensor *gw = want_w ? TMP(nl_tensor_alloc("layer_norm", k, x->sizes + x->ndim - k, x->dtype)) : NULL;
    nl_tensor *gb = want_b ? TMP(nl_tensor_alloc("layer_norm", k, x->sizes + x->ndim - k, x->dtype)) : NULL;
    double *part = NULL;
    int64_t bytes = (int64_t)sizeof(double) * 2 * N * (C > 0 ? C : 1);
    if (gw || gb) {
        part = nl_alloc_scratch(&bytes);
        if (!part) { nl_set_error("layer_norm: out of memory"); goto fail; }
        memset(part, 0, sizeof(double) * 2 * N * (C > 0 ? C : 1));
    }
    if (x->dtype == NL_FLOAT32) LN_BWD(float, f32);
    else LN_BWD(double, f64);
    if (part) nl_free(part, bytes);
    if (gx) gin[0] = nl_keep_ref(gx);
    if (gw) gin[iw] = nl_keep_ref(gw);
    if (gb) gin[ib] = nl_keep_ref(gb);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_LAYER_NORM, layer_norm_backward)
