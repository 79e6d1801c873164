/* ops_interp.c — interpolation over the last 1, 2 or 3 dims of (N, C, ...):
 * F.interpolate's nearest, nearest-exact, linear (linear, bilinear,
 * trilinear) and cubic (bicubic) modes, and bilinear and bicubic with
 * antialias, forward and backward side by side.
 * Area mode (adaptive average pooling), pixel shuffle, fold and unfold are
 * composed in the Lua layer (nn/upsampling.lua) and need nothing here. */
#include "internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Elements (input plus output taps) per thread before another joins. */
#define INTERP_GRAIN (1 << 15)

#define DT(t) nl_dtype_name((t)->dtype)

/* ---- taps ----
 * Every mode is separable: output o of a dim reads k input positions of
 * that dim (1 nearest, 2 linear, 4 cubic) with weights, and an output
 * element is the weighted sum over the taps of each dim, innermost dim
 * first, as PyTorch's CPU kernel nests it. The positions and weights are
 * computed as PyTorch 1.13 computes them (UpSample.h, UpSampleKernel.cpp):
 * in the input's own precision (float for float32: the nearest pixel of
 * 14 -> 46 at 24 is 7 in float32 and 8 in float64, as there; but the
 * nearest modes of 2-D and 3-D inputs place float64 as float32), and with
 * C's promotions where PyTorch's expressions mix float and double. A
 * weight is stored as double, which holds the float exactly. */
typedef struct {
    int64_t in, out, k;
    int64_t *idx;     /* (out, k) 0-based positions along the dim */
    double *w;        /* (out, k) weights */
} interp_taps;

static const int interp_taps_of[] = { 1, 1, 2, 4 };   /* by nl_interp_mode */

/* cubic convolution with A = -0.75 (PyTorch's, and OpenCV's) */
#define CUBIC1(T, x, A) ((((A) + 2) * (x) - ((A) + 3)) * (x) * (x) + 1)
#define CUBIC2(T, x, A) (((((A) * (x)) - 5 * (A)) * (x) + 8 * (A)) * (x) - 4 * (A))

/* fills tp (in, out, k and the arrays set) for one dim. scale_factor > 0:
 * the user's, whose inverse places the samples (PyTorch passes it on
 * unless recompute_scale_factor); else in / out. */
#define DEFINE_TAPS(T, SUF)                                                                    \
    static void interp_taps_##SUF(interp_taps *tp, int mode, int align_corners, double scale_factor) { \
        int64_t in = tp->in, out = tp->out, k = tp->k;                                         \
        T scale;                                                                               \
        if (mode >= NL_INTERP_LINEAR && align_corners)                                         \
            scale = out > 1 ? (T)(in - 1) / (T)(out - 1) : (T)0;                               \
        else                                                                                   \
            scale = scale_factor > 0 ? (T)(1.0 / scale_factor) : (T)in / (T)out;              \
        for (int64_t o = 0; o < out; o++) {                                                    \
            int64_t *ix = tp->idx + o * k;                                                     \
            double *w = tp->w + o * k;                                                         \
            /* area_pixel_compute_source_index: the half-pixel form is */                     \
            /* scale (T) * (o + 0.5) (double), rounded to T */                                 \
            T half = (T)(scale * (o + 0.5) - 0.5);                                             \
            if (mode == NL_INTERP_NEAREST) {                                                   \
                int64_t i = (int64_t)floorf((float)(scale * (T)o));                            \
                ix[0] = i < in - 1 ? i : in - 1;                                               \
                w[0] = 1;                                                                      \
            } else if (mode == NL_INTERP_NEAREST_EXACT) {                                      \
                T real = half < 0 ? (T)0 : half;                                               \
                int64_t i = (int64_t)floorf((float)(real + 0.5));                              \
                ix[0] = i < in - 1 ? i : in - 1;                                               \
                w[0] = 1;                                                                      \
            } else if (mode == NL_INTERP_LINEAR) {                                             \
                if (in == out) {                /* PyTorch copies: no weights at all */        \
                    ix[0] = ix[1] = o;                                                         \
                    w[0] = 1;                                                                  \
                    w[1] = 0;                                                                  \
                    continue;                                                                  \
                }                                                                              \
                /* the source index in double, as PyTorch's acc_type: */                       \
                /* rounded to T it moved the weights by up to 1e-4 */                            \
                double hd = (double)scale * (o + 0.5) - 0.5;                                   \
                double real = align_corners ? (double)scale * o : (hd < 0 ? 0.0 : hd);          \
                int64_t i0 = (int64_t)real;                                                    \
                if (i0 > in - 1) i0 = in - 1;                                                  \
                T l1 = (T)(real - (double)i0);                                                 \
                l1 = l1 < 0 ? (T)0 : l1 > 1 ? (T)1 : l1;                                       \
                ix[0] = i0;                                                                    \
                ix[1] = i0 + (i0 < in - 1 ? 1 : 0);                                            \
                w[0] = (T)1 - l1;                                                              \
                w[1] = l1;                                                                     \
            } else {                            /* cubic: no clamp below 0 */                  \
                double real = align_corners ? (double)scale * o : (double)scale * (o + 0.5) - 0.5; \
                int64_t i0 = (int64_t)floor(real);                                             \
                T t = (T)(real - (double)i0), A = (T)-0.75;                                    \
                T x1 = t, x2 = (T)(1.0 - t);                                                   \
                T c[4] = { CUBIC2(T, (T)(x1 + 1.0), A), CUBIC1(T, x1, A), CUBIC1(T, x2, A),   \
                           CUBIC2(T, (T)(x2 + 1.0), A) };                                      \
                for (int j = 0; j < 4; j++) {                                                  \
                    int64_t i = i0 - 1 + j;     /* the border pixel repeats */                 \
                    ix[j] = i < 0 ? 0 : i > in - 1 ? in - 1 : i;                               \
                    w[j] = c[j];                                                               \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }
DEFINE_TAPS(float, f32)
DEFINE_TAPS(double, f64)

/* whether PyTorch 1.13 runs its channels-last kernel on x: 4-D or 5-D x
 * contiguous as channels-last (is_contiguous(ChannelsLast(3d)): the dims
 * C, W, H[, D], N dense in that order, size-1 dims skipped), which every
 * contiguous one-channel input is */
static int interp_channels_last(const nl_tensor *x) {
    static const int order4[] = { 1, 3, 2, 0 }, order5[] = { 1, 4, 3, 2, 0 };
    if (x->ndim != 4 && x->ndim != 5) return 0;
    const int *order = x->ndim == 4 ? order4 : order5;
    int64_t expected = 1;
    for (int i = 0; i < x->ndim; i++) {
        int d = order[i];
        if (x->sizes[d] == 1) continue;
        if (x->strides[d] != expected) return 0;
        expected *= x->sizes[d];
    }
    return 1;
}

/* the taps of the three dims (D, H, W), allocated together; a dim the
 * input lacks is in = out = 1 with one tap of weight 1. 0, or -1 with an
 * error set. */
static int interp_taps_make(interp_taps t[3], int dtype, int mode, int align_corners, const int64_t in[3],
                            const int64_t out[3], const double scales[3], int nsp, int channels_last) {
    int64_t total = 0;
    for (int d = 0; d < 3; d++) {
        t[d].in = in[d];
        t[d].out = out[d];
        t[d].k = d < 3 - nsp ? 1 : interp_taps_of[mode];
        total += t[d].out * t[d].k;
    }
    int64_t *idx = malloc((size_t)total * sizeof *idx);
    double *w = malloc((size_t)total * sizeof *w);
    if (!idx || !w) {
        free(idx);
        free(w);
        nl_set_error("interpolate: out of memory for the interpolation weights");
        return -1;
    }
    for (int d = 0; d < 3; d++) {
        t[d].idx = idx;
        t[d].w = w;
        idx += t[d].out * t[d].k;
        w += t[d].out * t[d].k;
        if (d < 3 - nsp) {
            t[d].idx[0] = 0;
            t[d].w[0] = 1;
        } else if (dtype != NL_FLOAT64 || (mode <= NL_INTERP_NEAREST_EXACT && nsp >= 2)) {
            /* int64 (nearest only) places as float32 does, and so does
             * float64 in PyTorch 1.13's 2-D and 3-D nearest kernels (its
             * 1-D ones place in the input's precision): 14 -> 46 in 2-D
             * reads pixel 6 at 23 in both dtypes, in 1-D 6 and 7 */
            interp_taps_f32(&t[d], mode, align_corners, scales[d]);
        } else {
            interp_taps_f64(&t[d], mode, align_corners, scales[d]);
        }
        if (d >= 3 - nsp && mode == NL_INTERP_NEAREST && channels_last &&
            (t[d].out == t[d].in || t[d].out == 2 * t[d].in)) {
            /* PyTorch 1.13's channels-last 2-D and 3-D nearest kernel
             * (interp_channels_last) places by nearest_idx, which copies a
             * dim whose size is kept and halves the index of one doubled,
             * whatever scale_factor gave that size (3 * 1.25 -> 3 reads 0,
             * 1, 2, not floor(o / 1.25) = 0, 0, 1); its other kernels do not */
            for (int64_t o = 0; o < t[d].out; o++) t[d].idx[o] = t[d].out == t[d].in ? o : o >> 1;
        }
    }
    return 0;
}

static void interp_taps_free(interp_taps t[3]) {
    free(t[0].idx);
    free(t[0].w);
}

/* ---- antialiased taps (bilinear and bicubic with antialias) ----
 * PyTorch 1.13's _upsample_bilinear2d_aa and _upsample_bicubic2d_aa
 * (UpSampleKernel.cpp, _compute_weights_aa, as PIL resamples): output o
 * of a dim reads the inputs within support of its centre scale * (o + 0.5),
 * weighted by the triangle (linear) or Keys' cubic with A = -0.5 at
 * (position - centre) / max(scale, 1), the weights divided by their sum.
 * Downsampling widens the filter by the scale; upsampling keeps it.
 * Computed in the input's precision with PyTorch's promotions, as above;
 * the tap count varies with o, so each output has its first position and
 * its count. */
typedef struct {
    int64_t in, out, k;   /* k: the most taps of any output */
    int64_t *lo;          /* (out) first input position read */
    int64_t *n;           /* (out) taps read, from lo on */
    double *w;            /* (out, k) weights, 0 past n */
} aa_taps;

#define DEFINE_AA_TAPS(T, SUF, FMA)                                                            \
    static T aa_filter_##SUF(T x, int cubic) {                                                 \
        if (!cubic) {                                                                          \
            if (x < 0) x = -x;                                                                 \
            return x < 1 ? (T)(1.0 - x) : (T)0;                                                \
        }                                                                                      \
        T A = (T)-0.5;                                                                         \
        x = (T)fabs(x);                                                                        \
        if (x < 1) return FMA(FMA(A + 2, x, -(A + 3)) * x, x, (T)1);                          \
        if (x < 2) return FMA(FMA(FMA(A, x, -5 * A), x, 8 * A), x, -4 * A);                   \
        return 0;                                                                              \
    }                                                                                          \
    static int aa_taps_##SUF(aa_taps *tp, int cubic, int align_corners, double scale_factor) { \
        int64_t in = tp->in, out = tp->out;                                                    \
        T scale;                                                                               \
        if (align_corners)                                                                     \
            scale = out > 1 ? (T)(in - 1) / (T)(out - 1) : (T)0;                               \
        else                                                                                   \
            scale = scale_factor > 0 ? (T)(1.0 / scale_factor) : (T)in / (T)out;              \
        double half = cubic ? 2.0 : 1.0;            /* interp_size * 0.5 */                    \
        T support = scale >= 1.0 ? (T)(half * scale) : (T)half;                                \
        T invscale = scale >= 1.0 ? (T)(1.0 / scale) : (T)1;                                   \
        /* (no output reads more than the input: hi - lo <= in) */                            \
        int64_t k = (int64_t)ceilf((float)support) * 2 + 1;                                    \
        if (k > in) k = in;                                                                    \
        tp->k = k;                                                                             \
        tp->lo = malloc((size_t)(2 * out) * sizeof *tp->lo);                                   \
        tp->w = malloc((size_t)(out * k) * sizeof *tp->w);                                     \
        if (!tp->lo || !tp->w) {                                                               \
            free(tp->lo);                                                                      \
            free(tp->w);                                                                       \
            tp->lo = NULL;                                                                     \
            tp->w = NULL;                                                                      \
            nl_set_error("interpolate: out of memory for the interpolation weights");         \
            return -1;                                                                         \
        }                                                                                      \
        tp->n = tp->lo + out;                                                                  \
        for (int64_t o = 0; o < out; o++) {                                                    \
            double *w = tp->w + o * k;                                                         \
            T center = (T)(scale * (o + 0.5));                                                 \
            int64_t lo = (int64_t)(center - support + 0.5);                                    \
            int64_t hi = (int64_t)(center + support + 0.5);                                    \
            if (lo < 0) lo = 0;                                                                \
            if (hi > in) hi = in;                                                              \
            int64_t n = hi - lo < 0 ? 0 : hi - lo > k ? k : hi - lo;                           \
            T total = 0;                                                                       \
            for (int64_t j = 0; j < n; j++) {                                                  \
                /* (j + lo) - centre in T, + 0.5 and * invscale in double */                   \
                T f = aa_filter_##SUF((T)(((T)(j + lo) - center + 0.5) * invscale), cubic);    \
                w[j] = f;                                                                      \
                total += f;                                                                    \
            }                                                                                  \
            for (int64_t j = 0; j < k; j++)                                                    \
                w[j] = j >= n ? 0.0 : total != 0 ? (double)((T)w[j] / total) : w[j];           \
            tp->lo[o] = lo;                                                                    \
            tp->n[o] = n;                                                                      \
        }                                                                                      \
        return 0;                                                                              \
    }
DEFINE_AA_TAPS(float, f32, fmaf)
DEFINE_AA_TAPS(double, f64, fma)

/* The plane kernels. PyTorch's are built for AVX2 with FMA, and GCC fuses
 * the backward's g += w * w' * dy, and the cubic filter above, into fused
 * multiply-adds: so do these, by fma() (inlined where the CPU has FMA,
 * glibc's otherwise), which gives PyTorch's float64 gradients bit for bit.
 * Its forward's sums are not fused, nor are these (within an ulp or two of
 * PyTorch's there: its 2-D forward rounds in an order not found here). */
#define DEFINE_AA_FORWARD(T, SUF)                                                              \
    /* one plane: x (ih, iw) -> y (oh, ow) through tmp (ih, ow), the width */                 \
    /* first and then the height, each output's taps summed in order from */                  \
    /* x[lo] * w[0], as PyTorch's separable kernel; a width kept is not */                    \
    /* resampled, a height always is */                                                        \
    static void aa_plane_forward_##SUF(const T *x, T *tmp, T *y, const aa_taps *th, const aa_taps *tw) { \
        int64_t ih = th->in, iw = tw->in, ow = tw->out;                                        \
        const T *src = x;                                                                      \
        if (iw != ow) {                                                                        \
            for (int64_t h = 0; h < ih; h++)                                                   \
                for (int64_t o = 0; o < ow; o++) {                                             \
                    const T *xr = x + h * iw + tw->lo[o];                                      \
                    const double *w = tw->w + o * tw->k;                                       \
                    T acc = tw->n[o] > 0 ? xr[0] * (T)w[0] : (T)0;                             \
                    for (int64_t j = 1; j < tw->n[o]; j++) acc += xr[j] * (T)w[j];             \
                    tmp[h * ow + o] = acc;                                                     \
                }                                                                              \
            src = tmp;                                                                         \
        }                                                                                      \
        for (int64_t o = 0; o < th->out; o++) {                                                \
            T *yr = y + o * ow;                                                                \
            const T *s = src + th->lo[o] * ow;                                                 \
            const double *w = th->w + o * th->k;                                               \
            if (th->n[o] == 0) {                                                               \
                memset(yr, 0, (size_t)ow * sizeof(T));                                         \
                continue;                                                                      \
            }                                                                                  \
            T w0 = (T)w[0];                                                                    \
            for (int64_t c = 0; c < ow; c++) yr[c] = s[c] * w0;                                \
            for (int64_t j = 1; j < th->n[o]; j++) {                                           \
                T wj = (T)w[j];                                                                \
                const T *sj = s + j * ow;                                                      \
                for (int64_t c = 0; c < ow; c++) yr[c] += sj[c] * wj;                          \
            }                                                                                  \
        }                                                                                      \
    }
#define DEFINE_AA_BACKWARD(T, SUF, FMA, ATTR)                                                  \
    /* one plane's gradient, gx (ih, iw) zeroed, from g (oh, ow): output by */                \
    /* output, gx[lo_h + a][lo_w + b] += w_w[b] * w_h[a] * g, PyTorch's order */               \
    ATTR static void aa_plane_backward_##SUF(T *gx, const T *g, const aa_taps *th, const aa_taps *tw) { \
        int64_t iw = tw->in;                                                                   \
        for (int64_t oh = 0; oh < th->out; oh++)                                               \
            for (int64_t o = 0; o < tw->out; o++) {                                            \
                T v = *g++;                                                                    \
                const double *ww = tw->w + o * tw->k;                                          \
                for (int64_t a = 0; a < th->n[oh]; a++) {                                      \
                    T wh = (T)th->w[oh * th->k + a];                                           \
                    T *row = gx + (th->lo[oh] + a) * iw + tw->lo[o];                           \
                    for (int64_t b = 0; b < tw->n[o]; b++) row[b] = FMA((T)ww[b] * wh, v, row[b]); \
                }                                                                              \
            }                                                                                  \
    }
DEFINE_AA_FORWARD(float, f32)
DEFINE_AA_FORWARD(double, f64)
#define AA_FMA_TARGET __attribute__((target("avx2,fma")))
DEFINE_AA_BACKWARD(float, f32, fmaf, )
DEFINE_AA_BACKWARD(double, f64, fma, )
DEFINE_AA_BACKWARD(float, f32_fma, fmaf, AA_FMA_TARGET)
DEFINE_AA_BACKWARD(double, f64_fma, fma, AA_FMA_TARGET)

/* the height's and width's antialiased taps of a (N, C, H, W) call; 0, or
 * -1 with an error set */
static int aa_taps_make(aa_taps t[2], int dtype, int mode, int align_corners, const int64_t in[3],
                        const int64_t out[3], const double scales[3]) {
    int cubic = mode == NL_INTERP_CUBIC_AA;
    memset(t, 0, 2 * sizeof *t);
    for (int d = 0; d < 2; d++) {
        t[d].in = in[1 + d];
        t[d].out = out[1 + d];
        int r = dtype == NL_FLOAT64 ? aa_taps_f64(&t[d], cubic, align_corners, scales[1 + d])
                                    : aa_taps_f32(&t[d], cubic, align_corners, scales[1 + d]);
        if (r < 0) {
            if (d) {
                free(t[0].lo);
                free(t[0].w);
            }
            return -1;
        }
    }
    return 0;
}

static void aa_taps_free(aa_taps t[2]) {
    for (int d = 0; d < 2; d++) {
        free(t[d].lo);
        free(t[d].w);
    }
}

/* out (planes, oh, ow) from xc (planes, ih, iw), contiguous; 0 or -1 */
static int aa_forward(nl_tensor *out, const nl_tensor *xc, int mode, int align_corners, const int64_t in[3],
                      const int64_t outs[3], const double scales[3]) {
    int64_t planes = xc->sizes[0] * xc->sizes[1], ih = in[1], iw = in[2], oh = outs[1], ow = outs[2];
    size_t esz = xc->dtype == NL_FLOAT64 ? sizeof(double) : sizeof(float);
    if (ih == oh && iw == ow) {                /* PyTorch copies */
        memcpy(out->data, xc->data, (size_t)(planes * ih * iw) * esz);
        return 0;
    }
    aa_taps tp[2];
    if (aa_taps_make(tp, xc->dtype, mode, align_corners, in, outs, scales) < 0) return -1;
    void *tmp = iw != ow ? malloc((size_t)(planes * ih * ow + 1) * esz) : NULL;   /* + 1: no batch */
    if (iw != ow && !tmp) {
        aa_taps_free(tp);
        nl_set_error("interpolate: out of memory for the antialiased rows of %lld planes",
                     (long long)planes);
        return -1;
    }
    int nt = nl_threads_for(planes * (ih * ow * tp[1].k + oh * ow * tp[0].k), INTERP_GRAIN);
    if (xc->dtype == NL_FLOAT32) {
        NL_PARALLEL_FOR(nt, p, planes,
            aa_plane_forward_f32((const float *)xc->data + p * ih * iw, (float *)tmp + (tmp ? p * ih * ow : 0),
                  (float *)out->data + p * oh * ow, &tp[0], &tp[1]);
        );
    } else {
        NL_PARALLEL_FOR(nt, p, planes,
            aa_plane_forward_f64((const double *)xc->data + p * ih * iw, (double *)tmp + (tmp ? p * ih * ow : 0),
                  (double *)out->data + p * oh * ow, &tp[0], &tp[1]);
        );
    }
    free(tmp);
    aa_taps_free(tp);
    return 0;
}

/* ---- forward ---- */

/* (D, H, W) plane sizes of x, and (out_d, out_h, out_w) of the call: a
 * dim the input lacks is 1 */
static int interp_spatial(const nl_tensor *x, int64_t in[3]) {
    int nsp = x->ndim - 2;
    for (int d = 0; d < 3; d++) in[d] = d < 3 - nsp ? 1 : x->sizes[2 + d - (3 - nsp)];
    return nsp;
}

#define INTERP_FORWARD(T)                                                                       \
    NL_PARALLEL_FOR(nt, p, planes,                                                             \
        const T *xp = (const T *)xc->data + p * isz;                                           \
        T *yp = (T *)out->data + p * osz;                                                      \
        for (int64_t od = 0; od < tp[0].out; od++)                                             \
            for (int64_t oh = 0; oh < tp[1].out; oh++)                                         \
                for (int64_t ow = 0; ow < tp[2].out; ow++) {                                   \
                    T acc_d = 0;                                                               \
                    for (int64_t jd = 0; jd < tp[0].k; jd++) {                                 \
                        const T *xd = xp + tp[0].idx[od * tp[0].k + jd] * ih * iw;             \
                        T acc_h = 0;                                                           \
                        for (int64_t jh = 0; jh < tp[1].k; jh++) {                             \
                            const T *xh = xd + tp[1].idx[oh * tp[1].k + jh] * iw;              \
                            T acc_w = 0;                                                       \
                            for (int64_t jw = 0; jw < tp[2].k; jw++)                           \
                                acc_w += xh[tp[2].idx[ow * tp[2].k + jw]] * (T)tp[2].w[ow * tp[2].k + jw]; \
                            acc_h += acc_w * (T)tp[1].w[oh * tp[1].k + jh];                    \
                        }                                                                      \
                        acc_d += acc_h * (T)tp[0].w[od * tp[0].k + jd];                        \
                    }                                                                          \
                    *yp++ = acc_d;                                                             \
                }                                                                              \
    )

/* out from xc, contiguous, with the fixed taps of the modes above; 0 or -1 */
static int interp_forward(nl_tensor *out, const nl_tensor *xc, int mode, int align_corners, const int64_t in[3],
                          const int64_t outs[3], const double scales[3], int nsp, int channels_last) {
    interp_taps tp[3];
    if (interp_taps_make(tp, xc->dtype, mode, align_corners, in, outs, scales, nsp, channels_last) < 0) return -1;
    int64_t planes = xc->sizes[0] * xc->sizes[1], ih = in[1], iw = in[2];
    int64_t isz = in[0] * ih * iw, osz = outs[0] * outs[1] * outs[2];
    int64_t ktot = tp[0].k * tp[1].k * tp[2].k;
    int nt = nl_threads_for(planes * (isz + osz * ktot), INTERP_GRAIN);
    if (xc->dtype == NL_FLOAT32) INTERP_FORWARD(float);
    else if (xc->dtype == NL_FLOAT64) INTERP_FORWARD(double);
    else INTERP_FORWARD(int64_t);
    interp_taps_free(tp);
    return 0;
}

nl_tensor *nl_interpolate(nl_tensor *x, int mode, int64_t out_d, int64_t out_h, int64_t out_w, double scale_d,
                          double scale_h, double scale_w, int align_corners) {
    const char *op = "interpolate";
    NL_CHECK_TENSOR(op, x);
    NL_CHECK(x->ndim >= 3 && x->ndim <= 5, "%s: input must be 3-D, 4-D or 5-D (N, C, ...), got %s %s", op, DT(x),
             nl_shape_str(x));
    NL_CHECK(mode >= NL_INTERP_NEAREST && mode <= NL_INTERP_CUBIC_AA, "%s: unknown mode %d", op, mode);
    NL_CHECK(mode < NL_INTERP_LINEAR_AA || x->ndim == 4,
             "%s: antialias is only supported for bilinear and bicubic on a 4-D input, got %s %s", op, DT(x),
             nl_shape_str(x));
    NL_CHECK(x->dtype != NL_INT64 || mode <= NL_INTERP_NEAREST_EXACT,
             "%s: the interpolating modes take a float input, got int64 %s", op, nl_shape_str(x));
    int64_t in[3], outs[3] = { out_d, out_h, out_w };
    double scales[3] = { scale_d, scale_h, scale_w };
    int nsp = interp_spatial(x, in);
    for (int d = 3 - nsp; d < 3; d++) {
        NL_CHECK(in[d] >= 1 && outs[d] >= 1,
                 "%s: input and output sizes must be positive, got input %s and output size %s", op,
                 nl_shape_str(x), nl_sizes_str(nsp, outs + 3 - nsp));
    }
    /* (a spacing of more than 2^52 input pixels: positions past int64,
     * undefined casts; the Lua layer's scales space them by at most the
     * input's size) */
    for (int d = 3 - nsp; d < 3; d++) {
        NL_CHECK(isfinite(scales[d]) && scales[d] >= 0 && (scales[d] == 0 || (double)outs[d] / scales[d] <= 0x1p52),
                 "%s: scale factor %g is out of range: 0 (in / out), or finite, > 0 and at least output size / "
                 "2^52 (output size %lld, input %s)", op, scales[d], (long long)outs[d], nl_shape_str(x));
    }
    for (int d = 0; d < 3 - nsp; d++) outs[d] = 1;
    int64_t osizes[5] = { x->sizes[0], x->sizes[1] };
    for (int d = 0; d < nsp; d++) osizes[2 + d] = outs[3 - nsp + d];
    nl_tensor *out = nl_tensor_alloc(op, x->ndim, osizes, x->dtype);
    if (!out) return NULL;
    nl_tensor *xc = nl_contiguous(x);
    int r = !xc ? -1
            : mode >= NL_INTERP_LINEAR_AA ? aa_forward(out, xc, mode, align_corners != 0, in, outs, scales)
                                          : interp_forward(out, xc, mode, align_corners, in, outs, scales, nsp,
                                                           interp_channels_last(x));
    nl_release(xc);
    if (r < 0) {
        nl_release(out);
        return NULL;
    }
    nl_node *n = nl_record(NL_OP_INTERPOLATE, out, 1, &x);
    if (n) {
        n->needs_in = 0;          /* the shape only */
        n->a[0] = mode;
        n->a[1] = align_corners != 0;
        memcpy(&n->a[2], scales, sizeof scales);   /* a[2..4]: the scales' bits */
    }
    return out;
}

/* ---- backward ----
 * Each output's gradient goes back to its taps with the forward's
 * weights; a plane's taps stay inside the plane, so the threads share
 * nothing. */

#define INTERP_BACKWARD(T)                                                                      \
    NL_PARALLEL_FOR(nt, p, planes,                                                             \
        T *gp = (T *)gx->data + p * isz;                                                       \
        const T *src = (const T *)gc->data + p * osz;                                          \
        memset(gp, 0, isz * sizeof(T));                                                        \
        for (int64_t od = 0; od < tp[0].out; od++)                                             \
            for (int64_t oh = 0; oh < tp[1].out; oh++)                                         \
                for (int64_t ow = 0; ow < tp[2].out; ow++) {                                   \
                    T v = *src++;                                                              \
                    for (int64_t jd = 0; jd < tp[0].k; jd++) {                                 \
                        T *gd = gp + tp[0].idx[od * tp[0].k + jd] * ih * iw;                   \
                        T vd = v * (T)tp[0].w[od * tp[0].k + jd];                              \
                        for (int64_t jh = 0; jh < tp[1].k; jh++) {                             \
                            T *gh = gd + tp[1].idx[oh * tp[1].k + jh] * iw;                    \
                            T vh = vd * (T)tp[1].w[oh * tp[1].k + jh];                         \
                            for (int64_t jw = 0; jw < tp[2].k; jw++)                           \
                                gh[tp[2].idx[ow * tp[2].k + jw]] += vh * (T)tp[2].w[ow * tp[2].k + jw]; \
                        }                                                                      \
                    }                                                                          \
                }                                                                              \
    )

/* the antialiased gradient: planes independent, as in the forward */
static int aa_backward(nl_tensor *x, nl_tensor *g, nl_tensor **gin, int mode, int align_corners,
                       const int64_t in[3], const int64_t outs[3], const double scales[3]) {
    aa_taps tp[2];
    if (aa_taps_make(tp, x->dtype, mode, align_corners, in, outs, scales) < 0) return -1;
    nl_tensor *gx = nl_tensor_alloc("interpolate", x->ndim, x->sizes, x->dtype);
    nl_tensor *gc = gx ? nl_contiguous(g) : NULL;
    if (!gc) {
        nl_release(gx);
        aa_taps_free(tp);
        return -1;
    }
    int64_t planes = x->sizes[0] * x->sizes[1], isz = in[1] * in[2], osz = outs[1] * outs[2];
    int nt = nl_threads_for(planes * (isz + osz * tp[0].k * tp[1].k), INTERP_GRAIN);
    if (x->dtype == NL_FLOAT32) {
        void (*plane)(float *, const float *, const aa_taps *, const aa_taps *) =
            nl_cpu_avx2() ? aa_plane_backward_f32_fma : aa_plane_backward_f32;
        NL_PARALLEL_FOR(nt, p, planes,
            float *gp = (float *)gx->data + p * isz;
            memset(gp, 0, (size_t)isz * sizeof *gp);
            plane(gp, (const float *)gc->data + p * osz, &tp[0], &tp[1]);
        );
    } else {
        void (*plane)(double *, const double *, const aa_taps *, const aa_taps *) =
            nl_cpu_avx2() ? aa_plane_backward_f64_fma : aa_plane_backward_f64;
        NL_PARALLEL_FOR(nt, p, planes,
            double *gp = (double *)gx->data + p * isz;
            memset(gp, 0, (size_t)isz * sizeof *gp);
            plane(gp, (const double *)gc->data + p * osz, &tp[0], &tp[1]);
        );
    }
    aa_taps_free(tp);
    nl_release(gc);
    gin[0] = gx;
    return 0;
}

static int interpolate_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *x = nd->in[0];
    if (!nl_node_wants(nd, 0)) return 0;
    int mode = (int)nd->a[0], align_corners = (int)nd->a[1];
    double scales[3];
    memcpy(scales, &nd->a[2], sizeof scales);
    int64_t in[3], outs[3] = { 1, 1, 1 };
    int nsp = interp_spatial(x, in);
    for (int d = 0; d < nsp; d++) outs[3 - nsp + d] = g->sizes[2 + d];
    if (mode >= NL_INTERP_LINEAR_AA) return aa_backward(x, g, gin, mode, align_corners, in, outs, scales);
    interp_taps tp[3];
    if (interp_taps_make(tp, x->dtype, mode, align_corners, in, outs, scales, nsp, interp_channels_last(x)) < 0)
        return -1;
    nl_tensor *gx = nl_tensor_alloc("interpolate", x->ndim, x->sizes, x->dtype);
    nl_tensor *gc = gx ? nl_contiguous(g) : NULL;
    if (!gc) {
        nl_release(gx);
        interp_taps_free(tp);
        return -1;
    }
    int64_t planes = x->sizes[0] * x->sizes[1], ih = in[1], iw = in[2];
    int64_t isz = in[0] * ih * iw, osz = outs[0] * outs[1] * outs[2];
    int64_t ktot = tp[0].k * tp[1].k * tp[2].k;
    int nt = nl_threads_for(planes * (isz + osz * ktot), INTERP_GRAIN);
    if (x->dtype == NL_FLOAT32) INTERP_BACKWARD(float);
    else INTERP_BACKWARD(double);
    interp_taps_free(tp);
    nl_release(gc);
    gin[0] = gx;
    return 0;
}
NL_REGISTER_BACKWARD(NL_OP_INTERPOLATE, interpolate_backward)
