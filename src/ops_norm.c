/* ops_norm.c — layer normalization as one fused op (nl_layer_norm): each
 * row of the trailing dims normalized by its own mean and biased variance
 * (or, with NL_NORM_RMS, by its root mean square), then times weight and
 * plus bias, with its backward. Not here: batch, group and instance norms
 * (composed of tensor ops in normalization.lua). */
#include "internal.h"

#include <math.h>
#include <string.h>

/* Row sums in double over 8 lanes (j mod 8) added in a fixed order, the
 * order being the same on any thread count. The lanes are two vectors of
 * 4 doubles (GCC/Clang vector extensions), so the sums vectorize on any
 * target without -ffast-math: a float32 row's 4 values at a time widened
 * to double, a float64 row's loaded as they are. */
#define LN_LANES 8

typedef double ln_v4d __attribute__((vector_size(32)));
typedef float ln_v4f __attribute__((vector_size(16)));
/* the same, at any address (unaligned loads and stores) */
typedef double ln_v4d_u __attribute__((vector_size(32), aligned(8), may_alias));
typedef float ln_v4f_u __attribute__((vector_size(16), aligned(4), may_alias));

/* (macros, not functions: a vector argument or result of a function
 * built for the default target is passed differently from AVX's; the
 * widening is spelled out lane by lane, which GCC 12 turns into one
 * vcvtps2pd, where __builtin_convertvector gives two and a shuffle) */
#define ln_ld_f32(p) ({ ln_v4f v_ = *(const ln_v4f_u *)(p); (ln_v4d){ v_[0], v_[1], v_[2], v_[3] }; })
#define ln_ld_f64(p) ((ln_v4d) * (const ln_v4d_u *)(p))
#define ln_st_f64(p, v) (*(ln_v4d_u *)(p) = (v))
/* lanes 0..7 of (lo, hi) added in order */
#define ln_hsum(lo, hi)                                                       \
    ({ ln_v4d l_ = (lo), h_ = (hi); (((((((0.0 + l_[0]) + l_[1]) + l_[2]) + l_[3]) + h_[0]) + h_[1]) + h_[2]) + h_[3]; })

/* Row kernels, compiled for AVX2 and FMA too (chosen at load) */
#define LN_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))

/* each thread's share of n: [k n / nt, (k + 1) n / nt) */
static inline int64_t share(int64_t n, int nt, int64_t k) { return n / nt * k + (n % nt) * k / nt; }

/* The moments of one row xr (N), in double: *mean (0 for RMS) and the
 * biased variance (the mean square for RMS). float32 rows take one pass,
 * of d = x - x[0] (a shift by one of the row's values: (mean - x[0])^2 <=
 * N var, so S2 - S1^2 / N cancels at most log2 N bits; d is exact for any
 * two floats within 2^29 of each other); float64 rows take two passes, the
 * mean and then the squared deviations, the row held in L1 between them. */
static inline __attribute__((always_inline)) double ln_moments_f32(const float *restrict xr, int64_t N, bool rms,
                                                                   double *mean) {
    double k = rms ? 0 : (double)xr[0];
    ln_v4d k4 = { k, k, k, k }, s1a = { 0 }, s1b = { 0 }, s2a = { 0 }, s2b = { 0 };
    int64_t j = 0;
    for (; j + LN_LANES <= N; j += LN_LANES) {
        ln_v4d da = ln_ld_f32(xr + j) - k4, db = ln_ld_f32(xr + j + 4) - k4;
        s1a += da;
        s1b += db;
        s2a += da * da;
        s2b += db * db;
    }
    double s1 = ln_hsum(s1a, s1b), s2 = ln_hsum(s2a, s2b);
    for (; j < N; j++) {
        double d = (double)xr[j] - k;
        s1 += d;
        s2 += d * d;
    }
    if (rms) {
        *mean = 0;
        return s2 / (double)N;
    }
    *mean = k + s1 / (double)N;
    double var = (s2 - s1 * (s1 / (double)N)) / (double)N;
    return var > 0 ? var : 0;
}

static inline __attribute__((always_inline)) double ln_moments_f64(const double *restrict xr, int64_t N, bool rms,
                                                                   double *mean) {
    double m = 0;
    if (!rms) {
        ln_v4d sa = { 0 }, sb = { 0 };
        int64_t j = 0;
        for (; j + LN_LANES <= N; j += LN_LANES) {
            sa += ln_ld_f64(xr + j);
            sb += ln_ld_f64(xr + j + 4);
        }
        m = ln_hsum(sa, sb);
        for (; j < N; j++) m += xr[j];
        m /= (double)N;
    }
    ln_v4d m4 = { m, m, m, m }, sa = { 0 }, sb = { 0 };
    int64_t j = 0;
    for (; j + LN_LANES <= N; j += LN_LANES) {
        ln_v4d da = ln_ld_f64(xr + j) - m4, db = ln_ld_f64(xr + j + 4) - m4;
        sa += da * da;
        sb += db * db;
    }
    double ss = ln_hsum(sa, sb);
    for (; j < N; j++) ss += (xr[j] - m) * (xr[j] - m);
    *mean = m;
    return ss / (double)N;
}

/* forward of rows [lo, hi) of x (R, N) -> y (R, N); st (R, 2): each row's
 * mean (0 for RMS) and rstd = 1 / sqrt(var + eps); w, b (N) optional */
#define LN_FWD_KERNEL(T, SFX)                                                 \
    static LN_KERNEL void ln_forward_##SFX(T *restrict yp, double *restrict st, const T *restrict xp, \
                                           const T *restrict wp, const T *restrict bp, int64_t lo, \
                                           int64_t hi, int64_t N, double eps, bool rms) { \
        for (int64_t r = lo; r < hi; r++) {                                   \
            const T *restrict xr = xp + r * N;                                \
            T *restrict yr = yp + r * N;                                      \
            double mean, var = ln_moments_##SFX(xr, N, rms, &mean);           \
            double rstd = 1.0 / sqrt(var + eps);                              \
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

/* One pass over a row's x and g (N), in double, d = x - mean: the sums
 * sh of h = g w (g when w is NULL) and shx of h d, and (when pw) pw += g d
 * rstd and pb += g (N each). With the flags constant at each call, the
 * loop carries no branch. */
#define LN_BWD_ROW(T, SFX)                                                    \
    static inline __attribute__((always_inline)) void ln_bwd_row_##SFX(       \
        double *restrict sh, double *restrict shx, double *restrict pw, double *restrict pb, \
        const T *restrict xr, const T *restrict gr, const T *restrict wp, double mean, double rstd, \
        int64_t N, bool has_w, bool has_p) {                                  \
        ln_v4d m4 = { mean, mean, mean, mean }, s4 = { rstd, rstd, rstd, rstd }; \
        ln_v4d ha = { 0 }, hb = { 0 }, hxa = { 0 }, hxb = { 0 };              \
        int64_t j = 0;                                                        \
        for (; j + LN_LANES <= N; j += LN_LANES) {                            \
            ln_v4d ga = ln_ld_##SFX(gr + j), gb = ln_ld_##SFX(gr + j + 4);    \
            ln_v4d da = ln_ld_##SFX(xr + j) - m4, db = ln_ld_##SFX(xr + j + 4) - m4; \
            if (has_p) {                                                      \
                ln_st_f64(pw + j, ln_ld_f64(pw + j) + ga * (da * s4));        \
                ln_st_f64(pw + j + 4, ln_ld_f64(pw + j + 4) + gb * (db * s4)); \
                ln_st_f64(pb + j, ln_ld_f64(pb + j) + ga);                    \
                ln_st_f64(pb + j + 4, ln_ld_f64(pb + j + 4) + gb);            \
            }                                                                 \
            if (has_w) {                                                      \
                ga *= ln_ld_##SFX(wp + j);                                    \
                gb *= ln_ld_##SFX(wp + j + 4);                                \
            }                                                                 \
            ha += ga;                                                         \
            hb += gb;                                                         \
            hxa += ga * da;                                                   \
            hxb += gb * db;                                                   \
        }                                                                     \
        double s_h = ln_hsum(ha, hb), s_hx = ln_hsum(hxa, hxb);               \
        for (; j < N; j++) {                                                  \
            double g = (double)gr[j], d = (double)xr[j] - mean;              \
            if (has_p) {                                                      \
                pw[j] += g * (d * rstd);                                      \
                pb[j] += g;                                                   \
            }                                                                 \
            if (has_w) g *= (double)wp[j];                                    \
            s_h += g;                                                         \
            s_hx += g * d;                                                    \
        }                                                                     \
        *sh = s_h;                                                            \
        *shx = s_hx;                                                          \
    }
LN_BWD_ROW(float, f32)
LN_BWD_ROW(double, f64)

/* columns c..c+3 of rows 0 and 1 in ln_bwd_row2 */
#define LN_BWD_HALF2(SFX, c, h0, hx0, h1, hx1)                                \
    do {                                                                      \
        ln_v4d g_ = ln_ld_##SFX(g0 + (c)), d_ = ln_ld_##SFX(x0 + (c)) - m0;   \
        ln_v4d k_ = ln_ld_##SFX(g1 + (c)), e_ = ln_ld_##SFX(x1 + (c)) - m1;   \
        ln_st_f64(pw + (c), (ln_ld_f64(pw + (c)) + g_ * (d_ * s0)) + k_ * (e_ * s1)); \
        ln_st_f64(pb + (c), (ln_ld_f64(pb + (c)) + g_) + k_);                 \
        if (has_w) {                                                          \
            ln_v4d w_ = ln_ld_##SFX(wp + (c));                                \
            g_ *= w_;                                                         \
            k_ *= w_;                                                         \
        }                                                                     \
        h0 += g_;                                                             \
        hx0 += g_ * d_;                                                       \
        h1 += k_;                                                             \
        hx1 += k_ * e_;                                                       \
    } while (0)
/* The same for two rows, 0 and 1, with the partial sums (pw and pb): each
 * load and store of pw and pb serves both rows, the row 0 term added
 * before the row 1 term, so the sums are those of two calls of
 * ln_bwd_row in order, to the bit. */
#define LN_BWD_ROW2(T, SFX)                                                   \
    static inline __attribute__((always_inline)) void ln_bwd_row2_##SFX(      \
        double *restrict sh, double *restrict shx, double *restrict pw, double *restrict pb, \
        const T *restrict x0, const T *restrict g0, const T *restrict wp, const double *restrict st0, \
        int64_t N, bool has_w) {                                              \
        const T *restrict x1 = x0 + N, *restrict g1 = g0 + N;                 \
        double mn0 = st0[0], rs0 = st0[1], mn1 = st0[2], rs1 = st0[3];        \
        ln_v4d m0 = { mn0, mn0, mn0, mn0 }, s0 = { rs0, rs0, rs0, rs0 };       \
        ln_v4d m1 = { mn1, mn1, mn1, mn1 }, s1 = { rs1, rs1, rs1, rs1 };       \
        ln_v4d h0a = { 0 }, h0b = { 0 }, hx0a = { 0 }, hx0b = { 0 };          \
        ln_v4d h1a = { 0 }, h1b = { 0 }, hx1a = { 0 }, hx1b = { 0 };          \
        int64_t j = 0;                                                        \
        for (; j + LN_LANES <= N; j += LN_LANES) {                            \
            /* one half of the 8 columns, then the other (fewer registers) */ \
            LN_BWD_HALF2(SFX, j, h0a, hx0a, h1a, hx1a);                       \
            LN_BWD_HALF2(SFX, j + 4, h0b, hx0b, h1b, hx1b);                   \
        }                                                                     \
        double sh0 = ln_hsum(h0a, h0b), shx0 = ln_hsum(hx0a, hx0b);           \
        double sh1 = ln_hsum(h1a, h1b), shx1 = ln_hsum(hx1a, hx1b);           \
        /* the tail row by row, as ln_bwd_row's (with one loop over both \
         * rows, GCC 12 fused other products in float64: other bits) */   \
        for (int64_t i = j; i < N; i++) {                                     \
            double g = (double)g0[i], d = (double)x0[i] - mn0;               \
            pw[i] += g * (d * rs0);                                           \
            pb[i] += g;                                                       \
            if (has_w) g *= (double)wp[i];                                    \
            sh0 += g;                                                         \
            shx0 += g * d;                                                    \
        }                                                                     \
        for (int64_t i = j; i < N; i++) {                                     \
            double k = (double)g1[i], e = (double)x1[i] - mn1;               \
            pw[i] += k * (e * rs1);                                           \
            pb[i] += k;                                                       \
            if (has_w) k *= (double)wp[i];                                    \
            sh1 += k;                                                         \
            shx1 += k * e;                                                    \
        }                                                                     \
        sh[0] = sh0;                                                          \
        shx[0] = shx0;                                                        \
        sh[1] = sh1;                                                          \
        shx[1] = shx1;                                                        \
    }
LN_BWD_ROW2(float, f32)
LN_BWD_ROW2(double, f64)

/* the rows [lo, hi) of x and g (R, N): gx (R, N) (optional), and the
 * sums over those rows of g xhat into pw (N) and of g into pb (N) (both
 * optional), the rows taken two at a time when pw is given */
#define LN_BWD_KERNEL(T, SFX)                                                 \
    static LN_KERNEL void ln_backward_##SFX(T *restrict gxp, double *restrict pw, double *restrict pb, \
                                            const T *restrict xp, const T *restrict gp, \
                                            const T *restrict wp, const double *restrict st, int64_t lo, \
                                            int64_t hi, int64_t N, bool rms) { \
        for (int64_t r = lo; r < hi;) {                                       \
            const T *restrict xr = xp + r * N, *restrict gr = gp + r * N;     \
            double sh[2], shx[2];                                             \
            int nr = pw && r + 1 < hi ? 2 : 1;                                \
            if (nr == 2 && wp) ln_bwd_row2_##SFX(sh, shx, pw, pb, xr, gr, wp, st + 2 * r, N, true); \
            else if (nr == 2) ln_bwd_row2_##SFX(sh, shx, pw, pb, xr, gr, wp, st + 2 * r, N, false); \
            else if (pw && wp) ln_bwd_row_##SFX(sh, shx, pw, pb, xr, gr, wp, st[2 * r], st[2 * r + 1], N, true, true); \
            else if (pw) ln_bwd_row_##SFX(sh, shx, pw, pb, xr, gr, wp, st[2 * r], st[2 * r + 1], N, false, true); \
            else if (!gxp) break;                                             \
            else if (wp) ln_bwd_row_##SFX(sh, shx, pw, pb, xr, gr, wp, st[2 * r], st[2 * r + 1], N, true, false); \
            else ln_bwd_row_##SFX(sh, shx, pw, pb, xr, gr, wp, st[2 * r], st[2 * r + 1], N, false, false); \
            for (int i = 0; gxp && i < nr; i++, r++) {                        \
                /* gx = rstd h - rstd mean(h) - (x - mean) rstd^3 mean(h (x - mean)) */ \
                double mean = st[2 * r], rstd = st[2 * r + 1];                \
                T s = (T)rstd, m = (T)mean;                                   \
                T a = rms ? 0 : (T)(rstd * sh[i] / (double)N);                \
                T q = (T)(rstd * rstd * rstd * shx[i] / (double)N);           \
                const T *restrict xi = xp + r * N, *restrict gi = gp + r * N; \
                T *restrict gxr = gxp + r * N;                                \
                if (wp) for (int64_t j = 0; j < N; j++) gxr[j] = s * (gi[j] * wp[j]) - a - (xi[j] - m) * q; \
                else for (int64_t j = 0; j < N; j++) gxr[j] = s * gi[j] - a - (xi[j] - m) * q; \
            }                                                                 \
            if (!gxp) r += nr;                                                \
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
