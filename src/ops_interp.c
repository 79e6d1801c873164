/* ops_interp.c — interpolation over the last 1, 2 or 3 dims of (N, C, ...):
 * F.interpolate's nearest, nearest-exact, linear (linear, bilinear,
 * trilinear) and cubic (bicubic) modes, forward and backward side by side.
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
 * 14 -> 46 at 24 is 7 in float32 and 8 in float64, as there), and with
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

/* the taps of the three dims (D, H, W), allocated together; a dim the
 * input lacks is in = out = 1 with one tap of weight 1. 0, or -1 with an
 * error set. */
static int interp_taps_make(interp_taps t[3], int dtype, int mode, int align_corners, const int64_t in[3],
                            const int64_t out[3], const double scales[3], int nsp) {
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
        } else if (dtype != NL_FLOAT64) {     /* int64 (nearest only) places as float32 does */
            interp_taps_f32(&t[d], mode, align_corners, scales[d]);
        } else {
            interp_taps_f64(&t[d], mode, align_corners, scales[d]);
        }
    }
    return 0;
}

static void interp_taps_free(interp_taps t[3]) {
    free(t[0].idx);
    free(t[0].w);
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

nl_tensor *nl_interpolate(nl_tensor *x, int mode, int64_t out_d, int64_t out_h, int64_t out_w, double scale_d,
                          double scale_h, double scale_w, int align_corners) {
    const char *op = "interpolate";
    NL_CHECK_TENSOR(op, x);
    NL_CHECK(x->ndim >= 3 && x->ndim <= 5, "%s: input must be 3-D, 4-D or 5-D (N, C, ...), got %s %s", op, DT(x),
             nl_shape_str(x));
    NL_CHECK(mode >= NL_INTERP_NEAREST && mode <= NL_INTERP_CUBIC, "%s: unknown mode %d", op, mode);
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
    for (int d = 0; d < 3 - nsp; d++) outs[d] = 1;
    int64_t osizes[5] = { x->sizes[0], x->sizes[1] };
    for (int d = 0; d < nsp; d++) osizes[2 + d] = outs[3 - nsp + d];
    nl_tensor *out = nl_tensor_alloc(op, x->ndim, osizes, x->dtype);
    if (!out) return NULL;
    interp_taps tp[3];
    nl_tensor *xc = nl_contiguous(x);
    if (!xc || interp_taps_make(tp, x->dtype, mode, align_corners, in, outs, scales, nsp) < 0) {
        nl_release(xc);
        nl_release(out);
        return NULL;
    }
    int64_t planes = x->sizes[0] * x->sizes[1], ih = in[1], iw = in[2];
    int64_t isz = in[0] * ih * iw, osz = outs[0] * outs[1] * outs[2];
    int64_t ktot = tp[0].k * tp[1].k * tp[2].k;
    int nt = nl_threads_for(planes * (isz + osz * ktot), INTERP_GRAIN);
    if (x->dtype == NL_FLOAT32) INTERP_FORWARD(float);
    else if (x->dtype == NL_FLOAT64) INTERP_FORWARD(double);
    else INTERP_FORWARD(int64_t);
    interp_taps_free(tp);
    nl_release(xc);
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

static int interpolate_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *x = nd->in[0];
    if (!nl_node_wants(nd, 0)) return 0;
    int mode = (int)nd->a[0], align_corners = (int)nd->a[1];
    double scales[3];
    memcpy(scales, &nd->a[2], sizeof scales);
    int64_t in[3], outs[3] = { 1, 1, 1 };
    int nsp = interp_spatial(x, in);
    for (int d = 0; d < nsp; d++) outs[3 - nsp + d] = g->sizes[2 + d];
    interp_taps tp[3];
    if (interp_taps_make(tp, x->dtype, mode, align_corners, in, outs, scales, nsp) < 0) return -1;
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
