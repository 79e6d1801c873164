/* ops_grid_sample.c — F.grid_sample: a float (N, C, H, W) input read at the
 * points of an (N, Ho, Wo, 2) grid, or (N, C, D, H, W) at (N, Do, Ho, Wo, 3),
 * bilinear (trilinear), nearest or bicubic (4-D only), with zeros, border or
 * reflection padding, as PyTorch 1.13 computes it (GridSampler.h), forward
 * and backward (input and grid gradients) side by side. F.affine_grid is a
 * matmul in the Lua layer (nn/grid_sample.lua) and needs nothing here. */
#include "internal.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* output points (times their taps and channels) per thread before another joins */
#define GS_GRAIN (1 << 14)

#define DT(t) nl_dtype_name((t)->dtype)

/* ---- taps ----
 * A grid point (x, y[, z]) in [-1, 1] becomes a source position per
 * spatial dim (x along W, y along H, z along D): unnormalized, then padded
 * (border clips, reflection reflects then clips), with the derivative of
 * that map (PyTorch's *_set_grad). The point reads k input pixels with
 * weights: 1 nearest (rounded half to even in 2-D, half away from 0 in 3-D,
 * as PyTorch's CPU kernels), 2^dims bilinear (the floor and
 * the next pixel per dim; x fastest, as PyTorch's nw, ne, sw, se), 16
 * bicubic (4 x 4, A = -0.75; padding applied to each tap's position, not
 * to the source position, whose only derivative is the unnormalization's).
 * A tap off the input (zeros padding) is left out of the k taps: it adds
 * exactly 0, as PyTorch's masked reads, also beside an inf or NaN pixel.
 * dw[a][j]: the derivative of tap j's weight along dim a (x, y, z), which
 * the grid's gradient sums with the pixels' values. */
typedef struct {
    int nsp;                  /* spatial dims: 2 or 3 */
    int mode, pad, ac;        /* nl_grid_mode, nl_grid_padding, align_corners */
    int64_t size[3];          /* (W, H, D) input sizes along x, y, z */
    int64_t step[3];          /* (1, W, H*W) input strides along x, y, z */
} gs_geom;

enum { GS_MAXK = 16 };

#define DEFINE_GS_TAPS(T, SUF)                                                                 \
    typedef struct {                                                                           \
        int k;                                                                                 \
        int64_t off[GS_MAXK];                                                                  \
        T w[GS_MAXK];                                                                          \
        T dw[3][GS_MAXK];                                                                      \
        T mult[3];            /* d(source position) / d(grid coordinate), per dim */           \
    } gs_taps_##SUF;                                                                           \
                                                                                               \
    /* floor of |c| < 2^31 (the source positions), without libm's call */                    \
    static inline T gs_floor_##SUF(T c) {                                                      \
        T f = (T)(int64_t)c;                                                                   \
        return f > c ? f - 1 : f;                                                              \
    }                                                                                          \
    static inline T gs_clip_##SUF(T in, int64_t size, T *g) {                                 \
        if (in <= (T)0) { *g = 0; return 0; }                                                  \
        T max = (T)(size - 1);                                                                 \
        if (in >= max) { *g = 0; return max; }                                                 \
        *g = 1;                                                                                \
        return in;                                                                             \
    }                                                                                          \
    /* reflected into [twice_low / 2, twice_high / 2] */                                       \
    static inline T gs_reflect_##SUF(T in, int64_t twice_low, int64_t twice_high, T *g) {     \
        if (twice_low == twice_high) { *g = 0; return 0; }                                     \
        T min = (T)twice_low / 2, span = (T)(twice_high - twice_low) / 2, sgn = 1;              \
        in = in - min;                                                                         \
        if (in < (T)0) { sgn = -1; in = -in; }                                                 \
        T extra = (T)fmod(in, span);                                                           \
        T flips = (T)floor(in / span);                                                         \
        if (fmod(flips, 2) == 0) { *g = sgn; return extra + min; }                             \
        *g = -sgn;                                                                             \
        return span - extra + min;                                                             \
    }                                                                                          \
    /* the padding of a position: where to read, and its derivative; */                      \
    /* non-finite or past int's range: -100, off the input (PyTorch's */                      \
    /* safe_downgrade_to_int_range) */                                                         \
    static inline T gs_pad_##SUF(T c, int64_t size, int pad, int ac, T *g) {                 \
        T gc = 1, gr = 1;                                                                      \
        if (pad == NL_GRID_BORDER) {                                                           \
            c = gs_clip_##SUF(c, size, &gc);                                                   \
        } else if (pad == NL_GRID_REFLECTION) {                                                \
            c = ac ? gs_reflect_##SUF(c, 0, 2 * (size - 1), &gr)                               \
                   : gs_reflect_##SUF(c, -1, 2 * size - 1, &gr);                               \
            c = gs_clip_##SUF(c, size, &gc);                                                   \
        }                                                                                      \
        *g = gr * gc;                                                                          \
        if (!(c > (T)-2147483648.0 && c < (T)2147483646.0)) c = (T)-100;                       \
        return c;                                                                              \
    }                                                                                          \
                                                                                               \
    /* mode and nsp are constants where it is inlined: the taps' loops */                     \
    /* unroll; grad: also dw and mult */                                                       \
    static ALWAYS_INLINE void gs_point_##SUF(const gs_geom *G, const T *pt, gs_taps_##SUF *t,  \
                                             const int mode, const int nsp, const int grad) {  \
        T src[3];                                                                              \
        for (int a = 0; a < nsp; a++) {                                                        \
            int64_t size = G->size[a];                                                         \
            T c = pt[a], gu;                                                                   \
            if (G->ac) {                                                                       \
                c = ((c + 1) / 2) * (T)(size - 1);                                             \
                gu = (T)(size - 1) / 2;                                                        \
            } else {                                                                           \
                c = ((c + 1) * (T)size - 1) / 2;                                               \
                gu = (T)size / 2;                                                              \
            }                                                                                  \
            if (mode != NL_GRID_BICUBIC) {                                                  \
                T gp;                                                                          \
                c = gs_pad_##SUF(c, size, G->pad, G->ac, &gp);                                 \
                gu *= gp;                                                                      \
            } else if (!(c > (T)-1073741824.0 && c < (T)1073741824.0)) {                       \
                c = c != c ? (T)-100 : c > 0 ? (T)1073741824.0 : (T)-1073741824.0;             \
            }                                                                                  \
            src[a] = c;                                                                        \
            t->mult[a] = gu;                                                                   \
        }                                                                                      \
        if (mode == NL_GRID_NEAREST) {                                                      \
            int64_t off = 0;                                                                   \
            int in = 1;                                                                        \
            for (int a = 0; a < nsp; a++) {                                                    \
                /* PyTorch 1.13's CPU kernels: 2-D halves to even, 3-D away from 0 */          \
                int64_t i = (int64_t)(nsp == 2 ? nearbyint(src[a]) : round(src[a]));           \
                in &= i >= 0 && i < G->size[a];                                                \
                off += i * G->step[a];                                                         \
            }                                                                                  \
            t->k = in;                                                                         \
            t->off[0] = off;                                                                   \
            t->w[0] = 1;                                                                       \
            for (int a = 0; a < nsp; a++) t->dw[a][0] = 0;                                     \
        } else if (mode == NL_GRID_BILINEAR) {                                              \
            int64_t i0[3];                                                                     \
            T wt[3][2];                                                                        \
            for (int a = 0; a < nsp; a++) {                                                    \
                T f = gs_floor_##SUF(src[a]);                                                  \
                i0[a] = (int64_t)f;                                                            \
                wt[a][0] = (f + 1) - src[a];    /* PyTorch's (ix_se - ix) */                  \
                wt[a][1] = src[a] - f;          /* (ix - ix_nw) */                            \
            }                                                                                  \
            int k = 1 << nsp, q = 0;                                                           \
            for (int j = 0; j < k; j++) {                                                      \
                int64_t off = 0;                                                               \
                int in = 1;                                                                    \
                T w = 1, d[3];                                                                 \
                for (int a = 0; a < nsp; a++) {                                                \
                    int b = j >> a & 1;                                                        \
                    int64_t i = i0[a] + b;                                                     \
                    in &= i >= 0 && i < G->size[a];                                            \
                    off += i * G->step[a];                                                     \
                    w *= wt[a][b];                                                             \
                }                                                                              \
                for (int a = 0; a < nsp && grad; a++) {                                        \
                    T v = (j >> a & 1) ? (T)1 : (T)-1;                                         \
                    for (int e = 0; e < nsp; e++)                                              \
                        if (e != a) v *= wt[e][j >> e & 1];                                    \
                    d[a] = v;                                                                  \
                }                                                                              \
                if (!in) continue;                                                             \
                t->off[q] = off;                                                               \
                t->w[q] = w;                                                                   \
                for (int a = 0; a < nsp && grad; a++) t->dw[a][q] = d[a];                      \
                q++;                                                                           \
            }                                                                                  \
            t->k = q;                                                                          \
        } else {                        /* bicubic, 2-D */                                     \
            T cf[2][4], dc[2][4];                                                              \
            int64_t i0[2];                                                                     \
            const T A = (T)-0.75;                                                              \
            for (int a = 0; a < 2; a++) {                                                      \
                T f = gs_floor_##SUF(src[a]), x = src[a] - f;                                  \
                i0[a] = (int64_t)f;                                                            \
                T x1 = x + 1, x2 = 1 - x, x3 = x2 + 1;                                          \
                cf[a][0] = ((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A;                       \
                cf[a][1] = ((A + 2) * x - (A + 3)) * x * x + 1;                                \
                cf[a][2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;                             \
                cf[a][3] = ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A;                       \
                /* the coefficients' derivatives along x */                                   \
                dc[a][0] = (3 * A * x1 - 10 * A) * x1 + 8 * A;                                 \
                dc[a][1] = (3 * (A + 2) * x - 2 * (A + 3)) * x;                                \
                dc[a][2] = -((3 * (A + 2) * x2 - 2 * (A + 3)) * x2);                           \
                dc[a][3] = -((3 * A * x3 - 10 * A) * x3 + 8 * A);                              \
            }                                                                                  \
            int64_t ix[2][4];                                                                  \
            for (int a = 0; a < 2; a++)                                                        \
                for (int i = 0; i < 4; i++) {                                                  \
                    T g;                                                                       \
                    T c = gs_pad_##SUF((T)(i0[a] - 1 + i), G->size[a], G->pad, G->ac, &g);     \
                    int64_t p = (int64_t)c;                                                    \
                    ix[a][i] = p >= 0 && p < G->size[a] ? p : -1;                              \
                }                                                                              \
            int q = 0;                                                                         \
            for (int i = 0; i < 4; i++)          /* y */                                       \
                for (int j = 0; j < 4; j++) {    /* x */                                       \
                    if (ix[0][j] < 0 || ix[1][i] < 0) continue;                                \
                    t->off[q] = ix[0][j] + ix[1][i] * G->step[1];                              \
                    t->w[q] = cf[0][j] * cf[1][i];                                             \
                    t->dw[0][q] = dc[0][j] * cf[1][i];                                         \
                    t->dw[1][q] = cf[0][j] * dc[1][i];                                         \
                    q++;                                                                       \
                }                                                                              \
            t->k = q;                                                                          \
        }                                                                                      \
    }
DEFINE_GS_TAPS(float, f32)
DEFINE_GS_TAPS(double, f64)

/* taps per point of a mode (a constant where mode and nsp are) */
#define GS_K(mode, nsp) ((mode) == NL_GRID_NEAREST ? 1 : (mode) == NL_GRID_BICUBIC ? 16 : 1 << (nsp))
/* fn(args..., mode, nsp) with mode and nsp as constants */
#define GS_DISPATCH(mode, nsp, fn, ...)                                                         \
    do {                                                                                       \
        if ((mode) == NL_GRID_BILINEAR) {                                                      \
            if ((nsp) == 2) fn(__VA_ARGS__, NL_GRID_BILINEAR, 2);                              \
            else fn(__VA_ARGS__, NL_GRID_BILINEAR, 3);                                         \
        } else if ((mode) == NL_GRID_NEAREST) {                                                \
            if ((nsp) == 2) fn(__VA_ARGS__, NL_GRID_NEAREST, 2);                               \
            else fn(__VA_ARGS__, NL_GRID_NEAREST, 3);                                          \
        } else {                                                                               \
            fn(__VA_ARGS__, NL_GRID_BICUBIC, 2);                                               \
        }                                                                                      \
    } while (0)

/* ---- forward ----
 * One task per output row (n, [od,] oh): each point's taps once, then
 * every channel. */

typedef struct {
    gs_geom G;
    int64_t N, C;
    int64_t isz;      /* D*H*W: one input plane */
    int64_t rows, ow; /* output rows per sample (Do*Ho), points per row (Wo) */
    int64_t osz;      /* rows * ow: one output plane */
} gs_shape;

#define DEFINE_GS_FORWARD(T, SUF)                                                              \
    /* out (N, C, rows, ow) from x (N, C, isz) at grid (N, rows, ow, nsp) */                   \
    static ALWAYS_INLINE void gs_forward_body_##SUF(const gs_shape *s, T *out, const T *x,     \
                                                    const T *grid, int64_t task,               \
                                                    const int mode, const int nsp) {           \
        int64_t n = task / s->rows, r = task % s->rows, C = s->C;                              \
        const T *xn = x + n * C * s->isz;                                                      \
        const T *gp = grid + (task * s->ow) * nsp;                                             \
        T *on = out + n * C * s->osz + r * s->ow;                                              \
        gs_taps_##SUF t;                                                                       \
        for (int64_t o = 0; o < s->ow; o++, gp += nsp) {                                       \
            gs_point_##SUF(&s->G, gp, &t, mode, nsp, 0);                                       \
            const int k = t.k;                                                                 \
            for (int64_t c = 0; c < C; c++) {                                                  \
                const T *xc = xn + c * s->isz;                                                 \
                T acc = 0;                                                                     \
                for (int j = 0; j < k; j++) acc += xc[t.off[j]] * t.w[j];                      \
                on[c * s->osz + o] = acc;                                                      \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    static void gs_forward_row_##SUF(const gs_shape *s, T *out, const T *x, const T *grid,     \
                                     int64_t task) {                                           \
        GS_DISPATCH(s->G.mode, s->G.nsp, gs_forward_body_##SUF, s, out, x, grid, task);        \
    }
DEFINE_GS_FORWARD(float, f32)
DEFINE_GS_FORWARD(double, f64)

/* the shape of a call: x (N, C, [D,] H, W), grid (N, [Do,] Ho, Wo, nsp) */
static void gs_shape_of(gs_shape *s, const nl_tensor *x, const nl_tensor *grid, int mode, int pad, int ac) {
    int nsp = x->ndim - 2;
    s->G.nsp = nsp;
    s->G.mode = mode;
    s->G.pad = pad;
    s->G.ac = ac != 0;
    int64_t step = 1;
    for (int a = 0; a < 3; a++) {
        s->G.size[a] = a < nsp ? x->sizes[x->ndim - 1 - a] : 1;
        s->G.step[a] = step;
        step *= s->G.size[a];
    }
    s->N = x->sizes[0];
    s->C = x->sizes[1];
    s->isz = step;
    s->ow = grid->sizes[grid->ndim - 2];
    s->rows = 1;
    for (int d = 1; d < grid->ndim - 2; d++) s->rows *= grid->sizes[d];
    s->osz = s->rows * s->ow;
}

nl_tensor *nl_grid_sample(nl_tensor *x, nl_tensor *grid, int mode, int padding_mode, int align_corners) {
    const char *op = "grid_sample";
    NL_CHECK_TENSOR(op, x);
    NL_CHECK_TENSOR(op, grid);
    NL_CHECK(mode >= NL_GRID_BILINEAR && mode <= NL_GRID_BICUBIC, "%s: unknown mode %d", op, mode);
    NL_CHECK(padding_mode >= NL_GRID_ZEROS && padding_mode <= NL_GRID_REFLECTION, "%s: unknown padding mode %d", op,
             padding_mode);
    NL_CHECK(x->ndim == 4 || x->ndim == 5, "%s: input must be 4-D (N, C, H, W) or 5-D (N, C, D, H, W), got %s %s", op,
             DT(x), nl_shape_str(x));
    NL_CHECK(x->dtype != NL_INT64, "%s: input must be float32 or float64, got int64 %s", op, nl_shape_str(x));
    NL_CHECK(grid->dtype == x->dtype, "%s: input and grid must have the same dtype, got input %s %s and grid %s %s",
             op, DT(x), nl_shape_str(x), DT(grid), nl_shape_str(grid));
    int nsp = x->ndim - 2;
    NL_CHECK(grid->ndim == x->ndim && grid->sizes[grid->ndim - 1] == nsp,
             "%s: grid must be (N, %s, %d) for input %s, got grid %s", op, nsp == 2 ? "Ho, Wo" : "Do, Ho, Wo", nsp,
             nl_shape_str(x), nl_shape_str(grid));
    NL_CHECK(grid->sizes[0] == x->sizes[0], "%s: grid and input must have the same batch size, got input %s and grid %s",
             op, nl_shape_str(x), nl_shape_str(grid));
    NL_CHECK(mode != NL_GRID_BICUBIC || nsp == 2, "%s: mode 'bicubic' needs a 4-D input (N, C, H, W), got input %s", op,
             nl_shape_str(x));
    for (int d = 2; d < x->ndim; d++)
        NL_CHECK(x->sizes[d] > 0, "%s: input must have non-empty spatial dims, got input %s", op, nl_shape_str(x));
    gs_shape s;
    gs_shape_of(&s, x, grid, mode, padding_mode, align_corners);
    int64_t osizes[5] = { x->sizes[0], x->sizes[1] };
    for (int d = 1; d < grid->ndim - 1; d++) osizes[1 + d] = grid->sizes[d];
    nl_tensor *out = nl_tensor_alloc(op, x->ndim, osizes, x->dtype);
    if (!out) return NULL;
    nl_tensor *xc = nl_contiguous(x), *gc = xc ? nl_contiguous(grid) : NULL;
    if (!gc) {
        nl_release(xc);
        nl_release(out);
        return NULL;
    }
    int64_t tasks = s.N * s.rows;
    int nt = nl_threads_for(s.N * s.osz * (s.C * GS_K(mode, nsp) + 8), GS_GRAIN);
    if (x->dtype == NL_FLOAT32) {
        NL_PARALLEL_FOR(nt, task, tasks,
            gs_forward_row_f32(&s, (float *)out->data, (const float *)xc->data, (const float *)gc->data, task);
        );
    } else {
        NL_PARALLEL_FOR(nt, task, tasks,
            gs_forward_row_f64(&s, (double *)out->data, (const double *)xc->data, (const double *)gc->data, task);
        );
    }
    nl_release(xc);
    nl_release(gc);
    nl_tensor *ins[2] = { x, grid };
    nl_node *n = nl_record(NL_OP_GRID_SAMPLE, out, 2, ins);
    if (n) {
        /* backward reads the grid, and the input's values for the grid's gradient */
        n->needs_in = nl_requires_grad(grid) ? 3 : 2;
        n->a[0] = mode;
        n->a[1] = padding_mode;
        n->a[2] = align_corners != 0;
    }
    return out;
}

/* ---- backward ----
 * gx (N, C, isz) += each output's gradient times its taps' weights;
 * ggrid (N, rows, ow, nsp) = mult * sum over channels and taps of
 * g * x * dw. Samples never share input pixels, points of one sample do:
 * with a batch of at least the threads, a task is a sample (both
 * gradients at once); else the grid's gradient goes by rows and the
 * input's by (sample, channel) planes, each recomputing the taps. */
#define DEFINE_GS_BACKWARD(T, SUF)                                                             \
    /* rows [r0, r1) of sample n; channels [c0, c1) to gx (optional); */                       \
    /* all channels to ggrid (optional) */                                                     \
    static ALWAYS_INLINE void gs_backward_body_##SUF(const gs_shape *s, T *gx, T *ggrid,       \
                                       const T *x, const T *grid, const T *g, int64_t n,       \
                                       int64_t r0, int64_t r1, int64_t c0, int64_t c1,         \
                                       const int mode, const int nsp) {                        \
        int64_t C = s->C;                                                                      \
        const T *xn = x + n * C * s->isz;                                                      \
        const T *gn = g + n * C * s->osz;                                                      \
        T *gxn = gx ? gx + n * C * s->isz : NULL;                                              \
        gs_taps_##SUF t;                                                                       \
        for (int64_t r = r0; r < r1; r++) {                                                    \
            int64_t p0 = (n * s->rows + r) * s->ow;                                            \
            for (int64_t o = 0; o < s->ow; o++) {                                              \
                int64_t p = p0 + o, po = r * s->ow + o;                                        \
                gs_point_##SUF(&s->G, grid + p * nsp, &t, mode, nsp, ggrid != NULL);           \
                const int k = t.k;                                                             \
                T acc[3] = { 0, 0, 0 };                                                        \
                int gd = ggrid && mode != NL_GRID_NEAREST;                                     \
                if (gxn && gd) {                /* both in one pass over the channels */       \
                    for (int64_t c = c0; c < c1; c++) {                                        \
                        T go = gn[c * s->osz + po];                                            \
                        const T *xc = xn + c * s->isz;                                         \
                        T *gxc = gxn + c * s->isz;                                             \
                        T d[3] = { 0, 0, 0 };                                                  \
                        for (int j = 0; j < k; j++) {                                          \
                            T v = xc[t.off[j]];                                                \
                            gxc[t.off[j]] += t.w[j] * go;                                      \
                            for (int a = 0; a < nsp; a++) d[a] += v * t.dw[a][j];              \
                        }                                                                      \
                        for (int a = 0; a < nsp; a++) acc[a] += d[a] * go;                     \
                    }                                                                          \
                } else if (gxn) {                                                              \
                    for (int64_t c = c0; c < c1; c++) {                                        \
                        T go = gn[c * s->osz + po];                                            \
                        T *gxc = gxn + c * s->isz;                                             \
                        for (int j = 0; j < k; j++) gxc[t.off[j]] += t.w[j] * go;              \
                    }                                                                          \
                } else if (gd) {                                                               \
                    for (int64_t c = c0; c < c1; c++) {                                        \
                        T go = gn[c * s->osz + po];                                            \
                        const T *xc = xn + c * s->isz;                                         \
                        T d[3] = { 0, 0, 0 };                                                  \
                        for (int j = 0; j < k; j++)                                            \
                            for (int a = 0; a < nsp; a++) d[a] += xc[t.off[j]] * t.dw[a][j];   \
                        for (int a = 0; a < nsp; a++) acc[a] += d[a] * go;                     \
                    }                                                                          \
                }                                                                              \
                if (ggrid)                                                                     \
                    for (int a = 0; a < nsp; a++) ggrid[p * nsp + a] = t.mult[a] * acc[a];     \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    static void gs_backward_part_##SUF(const gs_shape *s, T *gx, T *ggrid, const T *x,         \
                                       const T *grid, const T *g, int64_t n, int64_t r0,       \
                                       int64_t r1, int64_t c0, int64_t c1) {                   \
        GS_DISPATCH(s->G.mode, s->G.nsp, gs_backward_body_##SUF, s, gx, ggrid, x, grid, g, n,  \
                    r0, r1, c0, c1);                                                           \
    }
DEFINE_GS_BACKWARD(float, f32)
DEFINE_GS_BACKWARD(double, f64)

typedef void (*gs_part_fn)(const gs_shape *, void *, void *, const void *, const void *, const void *, int64_t,
                           int64_t, int64_t, int64_t, int64_t);

static int grid_sample_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *x = nd->in[0], *grid = nd->in[1];
    int want_x = nl_node_wants(nd, 0), want_grid = nl_node_wants(nd, 1);
    if (!want_x && !want_grid) return 0;
    NL_TEMPS(tmps);
    gs_shape s;
    gs_shape_of(&s, x, grid, (int)nd->a[0], (int)nd->a[1], (int)nd->a[2]);
    nl_tensor *xc = TMP(nl_contiguous(x));
    nl_tensor *gc = TMP(nl_contiguous(grid));
    nl_tensor *goc = TMP(nl_contiguous(g));
    nl_tensor *gx = NULL, *ggrid = NULL;
    if (want_x) {
        gx = TMP(nl_tensor_alloc("grid_sample", x->ndim, x->sizes, x->dtype));
        memset(gx->data, 0, (size_t)(gx->numel * nl_dtype_size(gx->dtype)));
    }
    if (want_grid) ggrid = TMP(nl_tensor_alloc("grid_sample", grid->ndim, grid->sizes, grid->dtype));
    gs_part_fn part = x->dtype == NL_FLOAT32 ? (gs_part_fn)gs_backward_part_f32 : (gs_part_fn)gs_backward_part_f64;
    void *gxd = gx ? gx->data : NULL, *ggd = ggrid ? ggrid->data : NULL;
    int64_t N = s.N, C = s.C, rows = s.rows;
    int nt = nl_threads_for(N * s.osz * (C * GS_K(s.G.mode, s.G.nsp) * (want_grid ? 2 : 1) + 8), GS_GRAIN);
    if (nt <= 1 || N >= nt) {
        NL_PARALLEL_FOR(nt, n, N, part(&s, gxd, ggd, xc->data, gc->data, goc->data, n, 0, rows, 0, C););
    } else {
        if (ggrid) {
            NL_PARALLEL_FOR(nt, task, N * rows,
                part(&s, NULL, ggd, xc->data, gc->data, goc->data, task / rows, task % rows, task % rows + 1, 0, C);
            );
        }
        if (gx) {
            NL_PARALLEL_FOR(nt, task, N * C,
                part(&s, gxd, NULL, xc->data, gc->data, goc->data, task / C, 0, rows, task % C, task % C + 1);
            );
        }
    }
    gin[0] = gx ? nl_keep_ref(gx) : NULL;
    gin[1] = ggrid ? nl_keep_ref(ggrid) : NULL;
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_GRID_SAMPLE, grid_sample_backward)
