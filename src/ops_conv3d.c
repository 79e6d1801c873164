/* ops_conv3d.c — 3-D convolution (vol2col + GEMM: nl_sgemm for float32
 * where it takes the call, else BLIS), its transpose (the convolution's
 * input gradient as an op) and 3-D max, average, adaptive
 * average and adaptive max pooling over volumes (N, C, D, H, W), float32
 * and float64, forward and backward side by side. The unbatched (C, D, H,
 * W) form, the options, 'same' and the padding modes are the Lua layer's
 * (nn/conv3d.lua); the 2-D kernels are ops_conv.c's, whose output-size
 * rule, checks and max-pool ending are repeated here for volumes. */
#include "internal.h"
#include "sgemm.h"

#include <blis.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* Multiply-adds per thread before another thread joins a convolution. */
#define CONV3_GRAIN (1 << 20)
/* Elements per thread before another thread joins a pooling kernel. */
#define POOL3_GRAIN (1 << 15)
/* A convolution's col matrix covers as many output depth planes as fit
 * here (one at least): a whole volume's (C*kd*kh*kw, Do*Ho*Wo) ran to
 * hundreds of MB for a 32^3 volume of 64 channels. */
#define COL_BYTES (8 << 20)
/* The weight gradient is summed in at most this many runs of images, each
 * into its own accumulator, added in order at the end; the runs depend on
 * N alone, so the result does not depend on the thread count. */
#define WG_SLOTS 8
#define WG_SLOT_BYTES (16 << 20)
/* kernel, stride, padding and dilation past this are refused, and so is
 * a window that spans more (d*(k-1), extent_ok): d*(k-1) and in + 2p stay
 * far inside int64 */
#define ARG_MAX ((int64_t)1 << 40)

#define DT(t) nl_dtype_name((t)->dtype)

/* PyTorch's output size of a dim (as ops_conv.c's out_size): ceil_mode
 * rounds up, but no window may start inside the right padding */
static int64_t out_size3(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
    int64_t span = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    if (span < 0) return 0;
    int64_t o = span / s + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--;
    return o;
}

/* each dim's window d*(k-1) within ARG_MAX (k, d >= 1). Capping k and d
 * alone let it reach 2^80: a kernel of 2^24+1 with dilation 2^40
 * overflowed int64, and max_pool3d returned its input, conv3d a sum of
 * taps past the volume, where PyTorch refuses the kernel as larger than
 * the input. */
static bool extent_ok(const int64_t *k, const int64_t *d) {
    for (int i = 0; i < 3; i++)
        if (k[i] - 1 > ARG_MAX / d[i]) return false;
    return true;
}

/* "[a,b,c]" of three sizes into b (72 bytes): a message shows up to five
 * of them, past nl_sizes_str's four rotating buffers */
static const char *fmt3(char *b, const int64_t *v) {
    snprintf(b, 72, "[%lld,%lld,%lld]", (long long)v[0], (long long)v[1], (long long)v[2]);
    return b;
}

/* threads for work (a product of sizes, in double: a kernel of 2^40 in
 * each dim passes the checks, its windows mostly padding) */
static int threads3(double work, int64_t grain) {
    return nl_threads_for(work > 0x1p62 ? (int64_t)0x1p62 : (int64_t)work, grain);
}

/* ---- convolution geometry ---- */

typedef struct c3_geom {
    int64_t n, c, d, h, w;        /* input (N, C, D, H, W) */
    int64_t o, k[3];              /* weight (O, C/groups, kd, kh, kw) */
    int64_t groups, cg, og;       /* groups, C/groups, O/groups */
    int64_t s[3], p[3], dl[3];    /* stride, padding, dilation (d, h, w) */
    int64_t od, oh, ow;           /* output (N, O, Do, Ho, Wo) */
    int64_t plane;                /* oh * ow: columns of one output depth plane */
    int64_t l;                    /* od * oh * ow */
    int64_t kvol, kg;             /* kd*kh*kw, and cg * kvol: rows of one group's col matrix */
} c3_geom;

/* G of a convolution of x sizes xs (N, C, D, H, W) by weight sizes ws (O,
 * C/groups, kd, kh, kw); a: stride (3), padding (3), dilation (3), groups */
static void geom3(c3_geom *G, const int64_t *xs, const int64_t *ws, const int64_t *a) {
    G->n = xs[0], G->c = xs[1], G->d = xs[2], G->h = xs[3], G->w = xs[4];
    G->o = ws[0];
    int64_t in[3] = { G->d, G->h, G->w }, out[3];
    for (int i = 0; i < 3; i++) {
        G->k[i] = ws[2 + i], G->s[i] = a[i], G->p[i] = a[3 + i], G->dl[i] = a[6 + i];
        out[i] = out_size3(in[i], G->k[i], G->s[i], G->p[i], G->dl[i], false);
    }
    G->groups = a[9];
    G->cg = G->c / G->groups, G->og = G->o / G->groups;
    G->od = out[0], G->oh = out[1], G->ow = out[2];
    G->plane = G->oh * G->ow;
    G->l = G->od * G->plane;
    G->kvol = G->k[0] * G->k[1] * G->k[2];
    G->kg = G->cg * G->kvol;
}

/* the checks conv3d and conv_transpose3d share, conv_args_ok's
 * (ops_conv.c) for volumes: both tensors given, a 5-D float input, a 5-D
 * weight of its dtype (layout: its dims, as the message names them), the
 * arguments a (stride, padding, dilation, each (d, h, w), groups) in range */
static bool conv3_args_ok(const char *op, nl_tensor *x, nl_tensor *w, const char *layout, const int64_t *a) {
    char tb[3][72];
    if (!x || !w) {
        nl_set_error("%s: expected tensors for the input and the weight, got nil", op);
        return false;
    }
    if (x->ndim != 5 || x->dtype == NL_INT64) {
        nl_set_error("%s: input must be a 5-D float tensor (N, C, D, H, W), got %s %s", op, DT(x), nl_shape_str(x));
        return false;
    }
    if (w->ndim != 5 || w->dtype != x->dtype) {
        nl_set_error("%s: weight must be a 5-D %s tensor (%s), got %s %s", op, DT(x), layout, DT(w), nl_shape_str(w));
        return false;
    }
    bool ok = a[9] >= 1 && a[9] <= ARG_MAX;
    for (int i = 0; i < 3; i++)
        ok = ok && a[i] >= 1 && a[i] <= ARG_MAX && a[3 + i] >= 0 && a[3 + i] <= ARG_MAX && a[6 + i] >= 1 &&
             a[6 + i] <= ARG_MAX;
    if (!ok) {
        nl_set_error("%s: stride %s and dilation %s must be positive, padding %s not negative, groups %lld positive "
                     "(each at most 2^40)", op, fmt3(tb[0], a), fmt3(tb[1], a + 6), fmt3(tb[2], a + 3),
                     (long long)a[9]);
        return false;
    }
    return true;
}

/* conv3d's checks, conv_check's (ops_conv.c) for volumes: conv3_args_ok's,
 * the groups and channels, the bias, an output of at least one element a
 * dim. Fills G. */
static bool conv3_check(const char *op, nl_tensor *x, nl_tensor *w, nl_tensor *b, const int64_t *a, c3_geom *G) {
    char tb[5][72];
    if (!conv3_args_ok(op, x, w, "out_channels, in_channels/groups, kd, kh, kw", a)) return false;
    int64_t groups = a[9];
    if (x->sizes[1] % groups || w->sizes[0] % groups) {
        nl_set_error("%s: groups %lld must divide the input's %lld channels and the weight's %lld output "
                     "channels (input %s, weight %s)", op, (long long)groups, (long long)x->sizes[1],
                     (long long)w->sizes[0], nl_shape_str(x), nl_shape_str(w));
        return false;
    }
    if (w->sizes[1] * groups != x->sizes[1]) {
        nl_set_error("%s: input has %lld channels, weight expects %lld (%lld per group, groups %lld; input %s, "
                     "weight %s)", op, (long long)x->sizes[1], (long long)(w->sizes[1] * groups),
                     (long long)w->sizes[1], (long long)groups, nl_shape_str(x), nl_shape_str(w));
        return false;
    }
    if (w->sizes[0] < 1 || w->sizes[1] < 1 || w->sizes[2] < 1 || w->sizes[3] < 1 || w->sizes[4] < 1) {
        nl_set_error("%s: weight %s has an empty dim", op, nl_shape_str(w));
        return false;
    }
    if (b && (b->ndim != 1 || b->sizes[0] != w->sizes[0] || b->dtype != x->dtype)) {
        nl_set_error("%s: bias must be a 1-D %s tensor of the %lld output channels, got %s %s", op, DT(x),
                     (long long)w->sizes[0], DT(b), nl_shape_str(b));
        return false;
    }
    if (!extent_ok(w->sizes + 2, a + 6)) {
        nl_set_error("%s: kernel %s with dilation %s spans more than 2^40 (weight %s)", op, fmt3(tb[0], w->sizes + 2),
                     fmt3(tb[1], a + 6), nl_shape_str(w));
        return false;
    }
    geom3(G, x->sizes, w->sizes, a);
    if (G->od < 1 || G->oh < 1 || G->ow < 1) {
        int64_t o3[3] = { G->od, G->oh, G->ow };
        nl_set_error("%s: output size %s is too small: input %s, padding %s, kernel %s with dilation %s, stride %s",
                     op, fmt3(tb[0], o3), nl_shape_str(x), fmt3(tb[1], G->p), fmt3(tb[2], G->k), fmt3(tb[3], G->dl),
                     fmt3(tb[4], G->s));
        return false;
    }
    return true;
}

/* ---- GEMM ----
 * nl_conv_gemm (ops_conv.c): nnlua's float32 kernel on AVX-512, as the 2-D
 * convolutions choose it, else BLIS. Neither splits k among threads: the
 * result does not depend on nt. */

/* ---- vol2col and col2vol ----
 * col (C*kd*kh*kw, nz*Ho*Wo), rows ld apart: row (c, i, j, k) holds, for
 * each output position of depth planes [z0, z0 + nz), the input voxel
 * that tap (i, j, k) of channel c meets there (0 in the padding). col2vol
 * adds such a matrix back into the volume. */

/* outputs [lo, hi) of n whose tap at offset off (input o*s + off) is
 * inside an input dim of size in */
static void tap_span(int64_t off, int64_t s, int64_t in, int64_t n, int64_t *lo, int64_t *hi) {
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = off > in - 1 ? 0 : (in - 1 - off) / s + 1;
    if (a > n) a = n;
    if (b > n) b = n;
    if (b < a) b = a;
    *lo = a, *hi = b;
}

#define DEFINE_VOL2COL(T, SFX)                                                                  \
    static void vol2col_##SFX(T *restrict col, const T *restrict x /* (C, D, H, W) */,          \
                              const c3_geom *G, int64_t z0, int64_t nz, int64_t ld) {           \
        int64_t D = G->d, H = G->h, W = G->w, Ho = G->oh, Wo = G->ow;                           \
        for (int64_t c = 0; c < G->c; c++)                                                      \
            for (int64_t i = 0; i < G->k[0]; i++)                                               \
                for (int64_t j = 0; j < G->k[1]; j++)                                           \
                    for (int64_t k = 0; k < G->k[2]; k++) {                                     \
                        T *dst = col + (((c * G->k[0] + i) * G->k[1] + j) * G->k[2] + k) * ld;  \
                        int64_t xoff = k * G->dl[2] - G->p[2], x0, x1;                          \
                        tap_span(xoff, G->s[2], W, Wo, &x0, &x1);                               \
                        for (int64_t oz = z0; oz < z0 + nz; oz++) {                             \
                            int64_t iz = oz * G->s[0] - G->p[0] + i * G->dl[0];                 \
                            for (int64_t oy = 0; oy < Ho; oy++, dst += Wo) {                    \
                                int64_t iy = oy * G->s[1] - G->p[1] + j * G->dl[1];             \
                                if (iz < 0 || iz >= D || iy < 0 || iy >= H) {                   \
                                    memset(dst, 0, Wo * sizeof(T));                             \
                                    continue;                                                   \
                                }                                                               \
                                const T *src = x + ((c * D + iz) * H + iy) * W + xoff;          \
                                for (int64_t ox = 0; ox < x0; ox++) dst[ox] = 0;                \
                                for (int64_t ox = x0; ox < x1; ox++) dst[ox] = src[ox * G->s[2]]; \
                                for (int64_t ox = x1; ox < Wo; ox++) dst[ox] = 0;               \
                            }                                                                   \
                        }                                                                       \
                    }                                                                           \
    }                                                                                           \
    /* x (C, D, H, W) += the taps of col, each where it was read */                            \
    static void col2vol_##SFX(T *restrict x, const T *restrict col, const c3_geom *G,           \
                              int64_t z0, int64_t nz, int64_t ld) {                             \
        int64_t D = G->d, H = G->h, W = G->w, Ho = G->oh, Wo = G->ow;                           \
        for (int64_t c = 0; c < G->c; c++)                                                      \
            for (int64_t i = 0; i < G->k[0]; i++)                                               \
                for (int64_t j = 0; j < G->k[1]; j++)                                           \
                    for (int64_t k = 0; k < G->k[2]; k++) {                                     \
                        const T *src = col + (((c * G->k[0] + i) * G->k[1] + j) * G->k[2] + k) * ld; \
                        int64_t xoff = k * G->dl[2] - G->p[2], x0, x1;                          \
                        tap_span(xoff, G->s[2], W, Wo, &x0, &x1);                               \
                        for (int64_t oz = z0; oz < z0 + nz; oz++) {                             \
                            int64_t iz = oz * G->s[0] - G->p[0] + i * G->dl[0];                 \
                            for (int64_t oy = 0; oy < Ho; oy++, src += Wo) {                    \
                                int64_t iy = oy * G->s[1] - G->p[1] + j * G->dl[1];             \
                                if (iz < 0 || iz >= D || iy < 0 || iy >= H) continue;           \
                                T *dst = x + ((c * D + iz) * H + iy) * W + xoff;                \
                                for (int64_t ox = x0; ox < x1; ox++) dst[ox * G->s[2]] += src[ox]; \
                            }                                                                   \
                        }                                                                       \
                    }                                                                           \
    }

DEFINE_VOL2COL(float, f32)
DEFINE_VOL2COL(double, f64)

static void vol2col(int dtype, void *col, const void *x, const c3_geom *G, int64_t z0, int64_t nz, int64_t ld) {
    if (dtype == NL_FLOAT32) vol2col_f32(col, x, G, z0, nz, ld);
    else vol2col_f64(col, x, G, z0, nz, ld);
}

static void col2vol(int dtype, void *x, const void *col, const c3_geom *G, int64_t z0, int64_t nz, int64_t ld) {
    if (dtype == NL_FLOAT32) col2vol_f32(x, col, G, z0, nz, ld);
    else col2vol_f64(x, col, G, z0, nz, ld);
}

/* a 1x1x1 kernel with stride 1 and no padding: the col matrix is the
 * volume itself */
static bool pointwise(const c3_geom *G) {
    return G->kvol == 1 && G->s[0] == 1 && G->s[1] == 1 && G->s[2] == 1 && G->p[0] == 0 && G->p[1] == 0 &&
           G->p[2] == 0;
}

/* output depth planes a col matrix covers: COL_BYTES' worth, one at least */
static int64_t planes_per_col(const c3_geom *G, int64_t es) {
    int64_t per = G->c * G->kvol * G->plane * es;
    int64_t nz = per > 0 ? COL_BYTES / per : G->od;
    if (nz < 1) nz = 1;
    return nz < G->od ? nz : G->od;
}

/* threads for the work of G's products; over the images (each product on
 * one thread) when there are as many runs as threads, else each product
 * on all of them */
static void split_threads(const c3_geom *G, int64_t runs, int *nt_batch, int *nt_gemm) {
    int nt = threads3((double)G->n * (double)G->o * (double)G->l * (double)G->kg, CONV3_GRAIN);
    *nt_batch = runs >= nt ? nt : 1;
    *nt_gemm = runs >= nt ? 1 : nt;
}

/* ---- convolution: forward ---- */

/* out (N, O, Do, Ho, Wo) = conv(x (N, C, D, H, W), w (O, C/G, kd, kh, kw))
 * + b (O). Per image, per run of nz output depth planes and group q:
 *   out_q (O/G, nz*Ho*Wo) = w_q (O/G, kg) @ col_q (kg, nz*Ho*Wo)
 * then the bias added. scratch: per batch thread, col (C*kvol, nz*Ho*Wo). */
static void conv3d_forward(void *out, const void *x, const void *w, const void *b, void *scratch, const c3_geom *G,
                           int64_t nz, int nt_batch, int nt_gemm, int dtype) {
    int64_t es = nl_dtype_size(dtype), xsz = G->c * G->d * G->h * G->w, per = G->c * G->kvol * nz * G->plane;
    bool direct = pointwise(G);
    NL_PARALLEL_FOR_DYNAMIC(nt_batch, n, G->n,
        const char *xn = (const char *)x + n * xsz * es;
        char *on = (char *)out + n * G->o * G->l * es;
        char *col = (char *)scratch + omp_get_thread_num() * per * es;
        for (int64_t z0 = 0; z0 < G->od; z0 += nz) {
            int64_t zn = G->od - z0 < nz ? G->od - z0 : nz, cols = zn * G->plane, ld = cols;
            const char *cm = col;
            if (direct) cm = xn + z0 * G->plane * es, ld = G->l;
            else vol2col(dtype, col, xn, G, z0, zn, ld);
            for (int64_t q = 0; q < G->groups; q++)
                nl_conv_gemm(dtype, G->og, cols, G->kg, (const char *)w + q * G->og * G->kg * es, G->kg, 1,
                      cm + q * G->kg * ld * es, ld, 1, 0.0, on + (q * G->og * G->l + z0 * G->plane) * es, G->l, 1,
                      nt_gemm);
        }
        for (int64_t o = 0; o < G->o && b; o++) {
            if (dtype == NL_FLOAT32) {
                float v = ((const float *)b)[o], *d = (float *)on + o * G->l;
                for (int64_t i = 0; i < G->l; i++) d[i] += v;
            } else {
                double v = ((const double *)b)[o], *d = (double *)on + o * G->l;
                for (int64_t i = 0; i < G->l; i++) d[i] += v;
            }
        }
    );
}

/* The node's arguments past what n->a holds: an int64 tensor of na saved
 * on the node (no one else holds it, so its version stays). Takes out;
 * out, or NULL (out released) without memory. */
static nl_tensor *record_args(int op, nl_tensor *out, int n_in, nl_tensor *const *in, uint32_t needs_in,
                              const int64_t *a, int64_t na) {
    if (!out) return NULL;
    nl_node *nd = nl_record(op, out, n_in, in);
    if (!nd) return out;
    nd->needs_in = needs_in;
    nl_tensor *t = nl_tensor_alloc(nl_op_name(op), 1, &na, NL_INT64);
    if (!t) {
        nl_release(out);
        return NULL;
    }
    memcpy(t->data, a, na * sizeof(int64_t));
    nl_node_save(nd, t);
    nl_release(t);
    return out;
}

nl_tensor *nl_conv3d(nl_tensor *x, nl_tensor *weight, nl_tensor *bias, int64_t stride_d, int64_t stride_h,
                     int64_t stride_w, int64_t pad_d, int64_t pad_h, int64_t pad_w, int64_t dilation_d,
                     int64_t dilation_h, int64_t dilation_w, int64_t groups) {
    const char *op = "conv3d";
    int64_t a[10] = { stride_d, stride_h, stride_w, pad_d, pad_h, pad_w, dilation_d, dilation_h, dilation_w, groups };
    c3_geom G;
    if (!conv3_check(op, x, weight, bias, a, &G)) return NULL;
    int64_t osz[5] = { G.n, G.o, G.od, G.oh, G.ow };
    nl_tensor *out = nl_tensor_alloc(op, 5, osz, x->dtype);      /* first: it checks the sizes' product */
    if (!out) return NULL;
    if (out->numel) {
        int64_t nz = planes_per_col(&G, nl_dtype_size(x->dtype));
        int nt_batch, nt_gemm;
        split_threads(&G, G.n, &nt_batch, &nt_gemm);
        int64_t scratch_n = pointwise(&G) ? 1 : nt_batch * G.c * G.kvol * nz * G.plane;
        nl_tensor *xc = nl_contiguous(x), *wc = xc ? nl_contiguous(weight) : NULL;
        nl_tensor *bc = wc && bias ? nl_contiguous(bias) : NULL;
        nl_tensor *scratch = wc && (bc || !bias) ? nl_tensor_alloc(op, 1, &scratch_n, x->dtype) : NULL;
        if (scratch)
            conv3d_forward(out->data, xc->data, wc->data, bc ? bc->data : NULL, scratch->data, &G, nz, nt_batch,
                           nt_gemm, x->dtype);
        nl_release(xc);
        nl_release(wc);
        nl_release(bc);
        if (!scratch) {
            nl_release(out);
            return NULL;
        }
        nl_release(scratch);
    }
    /* backward reads the input and the weight */
    return record_args(NL_OP_CONV3D, out, bias ? 3 : 2, (nl_tensor *[]){ x, weight, bias }, 3, a, 10);
}

/* ---- convolution: backward ---- */

/* For g (N, O, Do, Ho, Wo), per image and run of depth planes:
 *   gw_q (O/G, kg) += g_q (O/G, cols) @ col_q^T (cols, kg)
 *   gcol_q (kg, cols) = w_q^T (kg, O/G) @ g_q (O/G, cols), added into gx
 * The images go in `slots` runs of consecutive images, each run summing
 * its own accumulator acc + s * O*kg, added in order by the caller.
 * scratch: per batch thread col and gcol (C*kvol, nz*Ho*Wo) each. */
static void conv3d_backward_runs(void *gx, void *acc, int64_t slots, const void *g, const void *x, const void *w,
                                 void *scratch, const c3_geom *G, int64_t nz, int nt_batch, int nt_gemm, int dtype) {
    int64_t es = nl_dtype_size(dtype), xsz = G->c * G->d * G->h * G->w, per = G->c * G->kvol * nz * G->plane;
    int64_t wsz = G->o * G->kg;
    bool direct = pointwise(G);
    NL_PARALLEL_FOR_DYNAMIC(nt_batch, s, slots,
        char *col = (char *)scratch + omp_get_thread_num() * 2 * per * es, *gcol = col + per * es;
        char *as = acc ? (char *)acc + s * wsz * es : NULL;
        if (as) memset(as, 0, wsz * es);
        for (int64_t n = G->n * s / slots; n < G->n * (s + 1) / slots; n++) {
            const char *xn = as ? (const char *)x + n * xsz * es : NULL, *gn = (const char *)g + n * G->o * G->l * es;
            char *gxn = gx ? (char *)gx + n * xsz * es : NULL;      /* zeros, as allocated */
            for (int64_t z0 = 0; z0 < G->od; z0 += nz) {
                int64_t zn = G->od - z0 < nz ? G->od - z0 : nz, cols = zn * G->plane;
                const char *gz = gn + z0 * G->plane * es;       /* g's columns of these planes, rows l apart */
                if (as) {
                    const char *cm = col;
                    int64_t ld = cols;
                    if (direct) cm = xn + z0 * G->plane * es, ld = G->l;
                    else vol2col(dtype, col, xn, G, z0, zn, ld);
                    for (int64_t q = 0; q < G->groups; q++)
                        nl_conv_gemm(dtype, G->og, G->kg, cols, gz + q * G->og * G->l * es, G->l, 1,
                              cm + q * G->kg * ld * es, 1, ld, 1.0, as + q * G->og * G->kg * es, G->kg, 1, nt_gemm);
                }
                if (gxn) {
                    char *gm = direct ? gxn + z0 * G->plane * es : gcol;
                    int64_t ld = direct ? G->l : cols;
                    for (int64_t q = 0; q < G->groups; q++)
                        nl_conv_gemm(dtype, G->kg, cols, G->og, (const char *)w + q * G->og * G->kg * es, 1, G->kg,
                              gz + q * G->og * G->l * es, G->l, 1, 0.0, gm + q * G->kg * ld * es, ld, 1, nt_gemm);
                    if (!direct) col2vol(dtype, gxn, gcol, G, z0, zn, cols);
                }
            }
        }
    );
}

/* gx (N, C, D, H, W; zeros on entry) and gw (O, C/G, kd, kh, kw; added
 * into), each optional: the input and weight gradients of G's convolution
 * of x (N, C, D, H, W) by w (O, C/G, kd, kh, kw) at output gradient g (N,
 * O, Do, Ho, Wo); x is read only for gw, w only for gx. false, with the
 * error set, when out of memory. */
static bool conv3_grads(void *gx, void *gw, const void *g, const void *x, const void *w, const c3_geom *G,
                        int dtype, const char *op) {
    if ((!gx && !gw) || G->n == 0 || G->l == 0) return true;
    int64_t es = nl_dtype_size(dtype), wsz = G->o * G->kg, slots = 1;
    if (gw) {
        slots = G->n < WG_SLOTS ? G->n : WG_SLOTS;
        int64_t fit = WG_SLOT_BYTES / (wsz * es);
        if (slots > fit) slots = fit > 1 ? fit : 1;
    } else slots = G->n;       /* the images' input gradients are independent */
    int64_t nz = planes_per_col(G, es);
    int nt_batch, nt_gemm;
    split_threads(G, slots, &nt_batch, &nt_gemm);
    int64_t scratch_n = pointwise(G) ? 1 : nt_batch * 2 * G->c * G->kvol * nz * G->plane;
    int64_t acc_n = gw ? slots * wsz : 1;
    nl_tensor *scratch = nl_tensor_alloc(op, 1, &scratch_n, dtype);
    nl_tensor *acc = scratch ? nl_tensor_alloc(op, 1, &acc_n, dtype) : NULL;
    if (!acc) {
        nl_release(scratch);
        return false;
    }
    conv3d_backward_runs(gx, gw ? acc->data : NULL, slots, g, x, w, scratch->data, G, nz, nt_batch, nt_gemm, dtype);
    for (int64_t s = 0; gw && s < slots; s++) {       /* the runs in order */
        if (dtype == NL_FLOAT32) {
            float *d = gw;
            const float *src = (const float *)acc->data + s * wsz;
            for (int64_t i = 0; i < wsz; i++) d[i] += src[i];
        } else {
            double *d = gw;
            const double *src = (const double *)acc->data + s * wsz;
            for (int64_t i = 0; i < wsz; i++) d[i] += src[i];
        }
    }
    nl_release(scratch);
    nl_release(acc);
    return true;
}

/* gb (C) = g (N, C, l) summed over N and l, each channel in double */
static void channel_sums(void *gb, const void *g, int64_t n, int64_t c, int64_t l, int dtype) {
    int64_t es = nl_dtype_size(dtype);
    int nt = nl_threads_for(n * c * l, POOL3_GRAIN);
    NL_PARALLEL_FOR(nt, o, c,
        double sum = 0;
        for (int64_t i = 0; i < n; i++) {
            const char *src = (const char *)g + (i * c + o) * l * es;
            if (dtype == NL_FLOAT32) for (int64_t j = 0; j < l; j++) sum += ((const float *)src)[j];
            else for (int64_t j = 0; j < l; j++) sum += ((const double *)src)[j];
        }
        nl_store((char *)gb + o * es, dtype, sum);
    );
}

static int conv3d_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    const char *op = "conv3d";
    NL_TEMPS(tmps);
    nl_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    c3_geom G;
    geom3(&G, x->sizes, w->sizes, (const int64_t *)nd->saved->data);
    bool need_gx = nl_node_wants(nd, 0), need_gw = nl_node_wants(nd, 1), need_gb = nl_node_wants(nd, 2);
    int dtype = x->dtype;
    nl_tensor *gc = TMP(nl_contiguous(g));
    nl_tensor *gx = need_gx ? TMP(nl_full(5, x->sizes, 0.0, dtype)) : NULL;
    nl_tensor *gw = need_gw ? TMP(nl_full(5, w->sizes, 0.0, dtype)) : NULL;
    nl_tensor *gb = need_gb ? TMP(nl_tensor_alloc(op, 1, b->sizes, dtype)) : NULL;
    if (gx || gw) {
        nl_tensor *xc = gw ? TMP(nl_contiguous(x)) : NULL, *wc = gx ? TMP(nl_contiguous(w)) : NULL;
        if (!conv3_grads(gx ? gx->data : NULL, gw ? gw->data : NULL, gc->data, xc ? xc->data : NULL,
                         wc ? wc->data : NULL, &G, dtype, op))
            goto fail;
    }
    if (gb) channel_sums(gb->data, gc->data, G.n, G.o, G.l, dtype);
    if (gx) gin[0] = nl_keep_ref(gx);
    if (gw) gin[1] = nl_keep_ref(gw);
    if (gb) gin[2] = nl_keep_ref(gb);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_CONV3D, conv3d_backward)

/* ---- transposed convolution ----
 * conv_transpose3d(x (N, Ci, D, H, W), w (Ci, Co/G, kd, kh, kw)) is the
 * input gradient of the convolution by w (same stride, padding, dilation
 * and groups) of an (N, Co, D', H', W') volume, taken at output gradient
 * x, as conv_transpose2d is conv2d's (ops_conv.c). Its forward is
 * conv3d's input-gradient path, its input's gradient that convolution's
 * forward of g, its weight's gradient the convolution's weight gradient
 * with input g and output gradient x. G below is that convolution's
 * geometry: G.n, c, d, h, w the transposed output, G.o, od, oh, ow its
 * input. */

/* Checks conv_transpose3d's arguments (a: stride, padding, dilation, each
 * (d, h, w), groups) against the output size out (3) and fills G. */
static bool convt3_check(const char *op, nl_tensor *x, nl_tensor *w, nl_tensor *b, const int64_t *a,
                         const int64_t *out, c3_geom *G) {
    char tb[6][72];
    if (!conv3_args_ok(op, x, w, "in_channels, out_channels/groups, kd, kh, kw", a)) return false;
    if (x->sizes[1] != w->sizes[0] || w->sizes[0] % a[9]) {
        nl_set_error("%s: input has %lld channels, weight expects %lld, which groups %lld must divide "
                     "(input %s, weight %s)", op, (long long)x->sizes[1], (long long)w->sizes[0], (long long)a[9],
                     nl_shape_str(x), nl_shape_str(w));
        return false;
    }
    bool empty = x->sizes[2] < 1 || x->sizes[3] < 1 || x->sizes[4] < 1;
    for (int i = 0; i < 5; i++) empty = empty || w->sizes[i] < 1;
    if (empty) {
        nl_set_error("%s: input %s or weight %s has an empty dim", op, nl_shape_str(x), nl_shape_str(w));
        return false;
    }
    int64_t co = w->sizes[1] * a[9];
    if (b && (b->ndim != 1 || b->sizes[0] != co || b->dtype != x->dtype)) {
        nl_set_error("%s: bias must be a 1-D %s tensor of the %lld output channels, got %s %s", op, DT(x),
                     (long long)co, DT(b), nl_shape_str(b));
        return false;
    }
    if (!extent_ok(w->sizes + 2, a + 6)) {
        nl_set_error("%s: kernel %s with dilation %s spans more than 2^40 (weight %s)", op, fmt3(tb[0], w->sizes + 2),
                     fmt3(tb[1], a + 6), nl_shape_str(w));
        return false;
    }
    if (out[0] < 1 || out[1] < 1 || out[2] < 1 || out[0] > ARG_MAX || out[1] > ARG_MAX || out[2] > ARG_MAX) {
        nl_set_error("%s: output size %s must be positive and at most 2^40 (input %s, weight %s)", op,
                     fmt3(tb[0], out), nl_shape_str(x), nl_shape_str(w));
        return false;
    }
    int64_t xs[5] = { x->sizes[0], co, out[0], out[1], out[2] };
    geom3(G, xs, w->sizes, a);
    if (G->od != x->sizes[2] || G->oh != x->sizes[3] || G->ow != x->sizes[4]) {
        int64_t o3[3] = { G->od, G->oh, G->ow };
        nl_set_error("%s: output size %s does not fit input %s: its convolution (kernel %s, stride %s, padding %s, "
                     "dilation %s) has size %s", op, fmt3(tb[0], out), nl_shape_str(x), fmt3(tb[1], G->k),
                     fmt3(tb[2], G->s), fmt3(tb[3], G->p), fmt3(tb[4], G->dl), fmt3(tb[5], o3));
        return false;
    }
    return true;
}

nl_tensor *nl_conv_transpose3d(nl_tensor *x, nl_tensor *weight, nl_tensor *bias, int64_t stride_d, int64_t stride_h,
                               int64_t stride_w, int64_t pad_d, int64_t pad_h, int64_t pad_w, int64_t dilation_d,
                               int64_t dilation_h, int64_t dilation_w, int64_t groups, int64_t out_d, int64_t out_h,
                               int64_t out_w) {
    const char *op = "conv_transpose3d";
    NL_TEMPS(tmps);
    int64_t a[10] = { stride_d, stride_h, stride_w, pad_d, pad_h, pad_w, dilation_d, dilation_h, dilation_w, groups };
    int64_t o3[3] = { out_d, out_h, out_w };
    c3_geom G;
    if (!convt3_check(op, x, weight, bias, a, o3, &G)) return NULL;
    int64_t osz[5] = { G.n, G.c, G.d, G.h, G.w };
    nl_tensor *out = TMP(nl_tensor_alloc(op, 5, osz, x->dtype));
    if (out->numel) {
        memset(out->data, 0, out->numel * nl_dtype_size(x->dtype));      /* col2vol adds into it */
        nl_tensor *xc = TMP(nl_contiguous(x)), *wc = TMP(nl_contiguous(weight));
        if (!conv3_grads(out->data, NULL, xc->data, NULL, wc->data, &G, x->dtype, op)) goto fail;
        if (bias)
            nl_add_channel_bias(out->data, TMP(nl_contiguous(bias))->data, G.n, G.c, G.d * G.h * G.w, x->dtype);
    }
    out = nl_keep_ref(out);
    nl_temps_free(&tmps);
    /* backward reads the input and the weight */
    return record_args(NL_OP_CONV_TRANSPOSE3D, out, bias ? 3 : 2, (nl_tensor *[]){ x, weight, bias }, 3, a, 10);
fail:
    nl_temps_free(&tmps);
    return NULL;
}

/* g (N, Co, D, H, W): gx = conv3d(g, w), gw = the convolution's weight
 * gradient of g at output gradient x, gb = g summed over N, D, H, W */
static int conv_transpose3d_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    const char *op = "conv_transpose3d";
    NL_TEMPS(tmps);
    nl_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    c3_geom G;
    geom3(&G, g->sizes, w->sizes, (const int64_t *)nd->saved->data);
    bool need_gx = nl_node_wants(nd, 0), need_gw = nl_node_wants(nd, 1), need_gb = nl_node_wants(nd, 2);
    int dtype = x->dtype;
    nl_tensor *gc = TMP(nl_contiguous(g));
    nl_tensor *gx = need_gx ? TMP(nl_tensor_alloc(op, 5, x->sizes, dtype)) : NULL;
    nl_tensor *gw = need_gw ? TMP(nl_full(5, w->sizes, 0.0, dtype)) : NULL;
    nl_tensor *gb = need_gb ? TMP(nl_tensor_alloc(op, 1, b->sizes, dtype)) : NULL;
    if (gx && gx->numel) {
        int64_t nz = planes_per_col(&G, nl_dtype_size(dtype));
        int nt_batch, nt_gemm;
        split_threads(&G, G.n, &nt_batch, &nt_gemm);
        int64_t scratch_n = pointwise(&G) ? 1 : nt_batch * G.c * G.kvol * nz * G.plane;
        nl_tensor *scratch = TMP(nl_tensor_alloc(op, 1, &scratch_n, dtype)), *wc = TMP(nl_contiguous(w));
        conv3d_forward(gx->data, gc->data, wc->data, NULL, scratch->data, &G, nz, nt_batch, nt_gemm, dtype);
    }
    if (gw && !conv3_grads(NULL, gw->data, TMP(nl_contiguous(x))->data, gc->data, NULL, &G, dtype, op)) goto fail;
    if (gb) channel_sums(gb->data, gc->data, G.n, G.c, G.d * G.h * G.w, dtype);
    if (gx) gin[0] = nl_keep_ref(gx);
    if (gw) gin[1] = nl_keep_ref(gw);
    if (gb) gin[2] = nl_keep_ref(gb);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_CONV_TRANSPOSE3D, conv_transpose3d_backward)

/* ---- pooling: shared checks ---- */

typedef struct p3_geom {
    int64_t planes, d, h, w;            /* input (N*C planes, D, H, W) */
    int64_t k[3], s[3], p[3], dl[3];    /* kernel, stride, padding, dilation (d, h, w) */
    int64_t od, oh, ow;
} p3_geom;

/* Checks a 3-D pool's input (5-D float) and window (a: kernel, stride,
 * padding, dilation, each [d, h, w]) and fills P, as pool_check does for
 * the 2-D pools. */
static bool pool3_check(const char *op, nl_tensor *x, const int64_t *a, bool ceil_mode, p3_geom *P) {
    char tb[5][72];
    if (!x) {
        nl_set_error("%s: expected a tensor, got nil", op);
        return false;
    }
    if (x->ndim != 5 || x->dtype == NL_INT64) {
        nl_set_error("%s: input must be a 5-D float tensor (N, C, D, H, W), got %s %s", op, DT(x), nl_shape_str(x));
        return false;
    }
    bool pos = true, pad = true;
    for (int i = 0; i < 3; i++) {
        pos = pos && a[i] >= 1 && a[i] <= ARG_MAX && a[3 + i] >= 1 && a[3 + i] <= ARG_MAX && a[9 + i] >= 1 &&
              a[9 + i] <= ARG_MAX;
        pad = pad && a[6 + i] >= 0 && a[6 + i] <= a[i] / 2;
    }
    if (!pos) {
        nl_set_error("%s: kernel %s, stride %s and dilation %s must be positive (each at most 2^40)", op,
                     fmt3(tb[0], a), fmt3(tb[1], a + 3), fmt3(tb[2], a + 9));
        return false;
    }
    if (!pad) {
        nl_set_error("%s: padding %s must be between 0 and half the kernel %s", op, fmt3(tb[0], a + 6),
                     fmt3(tb[1], a));
        return false;
    }
    if (!extent_ok(a, a + 9)) {
        nl_set_error("%s: kernel %s with dilation %s spans more than 2^40", op, fmt3(tb[0], a), fmt3(tb[1], a + 9));
        return false;
    }
    P->planes = x->sizes[0] * x->sizes[1], P->d = x->sizes[2], P->h = x->sizes[3], P->w = x->sizes[4];
    int64_t in[3] = { P->d, P->h, P->w }, out[3];
    for (int i = 0; i < 3; i++) {
        P->k[i] = a[i], P->s[i] = a[3 + i], P->p[i] = a[6 + i], P->dl[i] = a[9 + i];
        out[i] = out_size3(in[i], P->k[i], P->s[i], P->p[i], P->dl[i], ceil_mode);
    }
    P->od = out[0], P->oh = out[1], P->ow = out[2];
    if (P->od < 1 || P->oh < 1 || P->ow < 1) {
        nl_set_error("%s: output size %s is too small: input %s, padding %s, kernel %s with dilation %s, stride %s",
                     op, fmt3(tb[0], out), nl_shape_str(x), fmt3(tb[1], P->p), fmt3(tb[2], P->k),
                     fmt3(tb[3], P->dl), fmt3(tb[4], P->s));
        return false;
    }
    /* with dilation a window's taps may all fall in the padding: its max
     * would be -inf at a place past the volume */
    static const char *dims[3] = { "depth", "row", "column" };
    for (int i = 0; i < 3; i++) {
        int64_t e = nl_empty_window(in[i], P->k[i], P->s[i], P->p[i], P->dl[i], out[i]);
        if (e >= 0) {
            nl_set_error("%s: the window at output %s %lld has no tap inside input %s (kernel %s, dilation %s, "
                         "padding %s, stride %s)", op, dims[i], (long long)e + 1, nl_shape_str(x), fmt3(tb[0], P->k),
                         fmt3(tb[1], P->dl), fmt3(tb[2], P->p), fmt3(tb[3], P->s));
            return false;
        }
    }
    return true;
}

/* the first tap inside [0, in) of a window from start, taps d apart, and
 * the end past its last tap inside */
static inline void window3(int64_t start, int64_t k, int64_t d, int64_t in, int64_t *lo, int64_t *hi) {
    int64_t e = start + (k - 1) * d + 1;
    if (e > in) e = in;
    if (start < 0) start += ((-start + d - 1) / d) * d;
    *lo = start, *hi = e;
}

/* a max pool's backward: g sent back to the places its forward saved */
static int max3_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *x = nd->in[0], *idx = nd->saved;
    if (!nl_node_wants(nd, 0)) return 0;
    nl_tensor *gx = nl_tensor_alloc(nl_op_name(nd->op), 5, x->sizes, x->dtype);
    nl_tensor *gc = gx ? nl_contiguous(g) : NULL;
    if (!gc) {
        nl_release(gx);
        return -1;
    }
    nl_max_pool_scatter(gx->data, gc->data, idx->data, x->sizes[0] * x->sizes[1],
                        x->sizes[2] * x->sizes[3] * x->sizes[4], g->sizes[2] * g->sizes[3] * g->sizes[4],
                        x->dtype);
    nl_release(gc);
    gin[0] = gx;
    return 0;
}

/* ---- max pooling ---- */

/* out, idx (planes, Do, Ho, Wo) = the max of x (planes, D, H, W) over each
 * window and its place (z*H + y)*W + x in the plane: a value wins when
 * greater or NaN (the first of equal maxima, the last NaN), as PyTorch's
 * loop; a window of -inf alone keeps its first tap inside. */
#define MAX_POOL3_FORWARD(T)                                                                    \
    NL_PARALLEL_FOR(nt, pl, P.planes,                                                          \
        const T *xp = (const T *)xc->data + pl * P.d * P.h * P.w;                              \
        T *op_ = (T *)out->data + pl * l;                                                      \
        int64_t *ip = (int64_t *)idx->data + pl * l;                                           \
        for (int64_t oz = 0; oz < P.od; oz++) {                                                \
            int64_t zs, ze;                                                                    \
            window3(oz * P.s[0] - P.p[0], P.k[0], P.dl[0], P.d, &zs, &ze);                     \
            for (int64_t oy = 0; oy < P.oh; oy++) {                                            \
                int64_t ys, ye;                                                                \
                window3(oy * P.s[1] - P.p[1], P.k[1], P.dl[1], P.h, &ys, &ye);                 \
                for (int64_t ox = 0; ox < P.ow; ox++) {                                        \
                    int64_t xs, xe;                                                            \
                    window3(ox * P.s[2] - P.p[2], P.k[2], P.dl[2], P.w, &xs, &xe);             \
                    int64_t best = (zs * P.h + ys) * P.w + xs;                                 \
                    T m = -(T)INFINITY;                                                        \
                    for (int64_t iz = zs; iz < ze; iz += P.dl[0])                              \
                        for (int64_t iy = ys; iy < ye; iy += P.dl[1])                          \
                            for (int64_t ix = xs; ix < xe; ix += P.dl[2]) {                    \
                                int64_t at = (iz * P.h + iy) * P.w + ix;                       \
                                T v = xp[at];                                                  \
                                if (v > m || isnan(v)) m = v, best = at;                       \
                            }                                                                  \
                    int64_t o_ = (oz * P.oh + oy) * P.ow + ox;                                 \
                    op_[o_] = m;                                                               \
                    ip[o_] = best;                                                             \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    )

nl_tensor *nl_max_pool3d(nl_tensor *x, int64_t kernel_d, int64_t kernel_h, int64_t kernel_w, int64_t stride_d,
                         int64_t stride_h, int64_t stride_w, int64_t pad_d, int64_t pad_h, int64_t pad_w,
                         int64_t dilation_d, int64_t dilation_h, int64_t dilation_w, int ceil_mode,
                         nl_tensor **indices, int64_t base) {
    const char *op = "max_pool3d";
    int64_t a[12] = { kernel_d, kernel_h, kernel_w, stride_d, stride_h, stride_w,
                      pad_d, pad_h, pad_w, dilation_d, dilation_h, dilation_w };
    p3_geom P;
    if (indices) *indices = NULL;
    if (!pool3_check(op, x, a, ceil_mode != 0, &P)) return NULL;
    int64_t osz[5] = { x->sizes[0], x->sizes[1], P.od, P.oh, P.ow }, l = P.od * P.oh * P.ow;
    nl_tensor *xc = nl_contiguous(x);
    nl_tensor *out = xc ? nl_tensor_alloc(op, 5, osz, x->dtype) : NULL;
    nl_tensor *idx = out ? nl_tensor_alloc(op, 5, osz, NL_INT64) : NULL;
    if (idx) {
        int nt = threads3((double)P.planes * l * P.k[0] * P.k[1] * P.k[2], POOL3_GRAIN);
        if (x->dtype == NL_FLOAT32) MAX_POOL3_FORWARD(float);
        else MAX_POOL3_FORWARD(double);
    }
    nl_release(xc);
    return nl_max_pool_record(NL_OP_MAX_POOL3D, x, out, idx, indices, base, NULL, 0);
}
static int max_pool3d_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) { return max3_backward(nd, g, gin); }
NL_REGISTER_BACKWARD(NL_OP_MAX_POOL3D, max_pool3d_backward)

/* ---- average pooling ---- */

/* the window of output o along a dim clipped to the input, [lo, hi), and
 * its length counting the padding inside the window (never past it) */
static inline void avg_span3(int64_t o, int64_t k, int64_t s, int64_t p, int64_t in, int64_t *lo, int64_t *hi,
                             int64_t *padded) {
    int64_t a = o * s - p, b = a + k;
    if (b > in + p) b = in + p;
    *padded = b - a;
    if (a < 0) a = 0;
    if (b > in) b = in;
    *lo = a, *hi = b;
}

/* mean over each window: PyTorch counts the padding inside the window
 * (count_include_pad) but never beyond it, else only the input voxels;
 * divisor_override wins. BODY runs on each window with v the window's
 * output slot, div its divisor. */
#define AVG3_WINDOWS(...)                                                                        \
    for (int64_t oz = 0; oz < P.od; oz++) {                                                    \
        int64_t zs, ze, pz;                                                                    \
        avg_span3(oz, P.k[0], P.s[0], P.p[0], P.d, &zs, &ze, &pz);                             \
        for (int64_t oy = 0; oy < P.oh; oy++) {                                                \
            int64_t ys, ye, py;                                                                \
            avg_span3(oy, P.k[1], P.s[1], P.p[1], P.h, &ys, &ye, &py);                         \
            for (int64_t ox = 0; ox < P.ow; ox++) {                                            \
                int64_t xs, xe, px;                                                            \
                avg_span3(ox, P.k[2], P.s[2], P.p[2], P.w, &xs, &xe, &px);                     \
                double div = div_override ? (double)div_override                               \
                             : include_pad ? (double)(pz * py * px)                            \
                             : (double)((ze - zs) * (ye - ys) * (xe - xs));                    \
                int64_t o_ = (oz * P.oh + oy) * P.ow + ox;                                     \
                __VA_ARGS__                                                                    \
            }                                                                                  \
        }                                                                                      \
    }

#define AVG_POOL3_FORWARD(T)                                                                    \
    NL_PARALLEL_FOR(nt, pl, P.planes,                                                          \
        const T *xp = (const T *)xc->data + pl * P.d * P.h * P.w;                              \
        T *op_ = (T *)out->data + pl * l;                                                      \
        AVG3_WINDOWS(                                                                          \
            T s = 0;                                                                           \
            for (int64_t iz = zs; iz < ze; iz++)                                               \
                for (int64_t iy = ys; iy < ye; iy++)                                           \
                    for (int64_t ix = xs; ix < xe; ix++) s += xp[(iz * P.h + iy) * P.w + ix];  \
            op_[o_] = (T)(s / div);                                                            \
        )                                                                                      \
    )

#define AVG_POOL3_BACKWARD(T)                                                                   \
    NL_PARALLEL_FOR(nt, pl, P.planes,                                                          \
        T *gp = (T *)gx->data + pl * P.d * P.h * P.w;                                          \
        const T *src = (const T *)gc->data + pl * l;                                           \
        memset(gp, 0, P.d * P.h * P.w * sizeof(T));                                            \
        AVG3_WINDOWS(                                                                          \
            T v = (T)(src[o_] / div);                                                          \
            for (int64_t iz = zs; iz < ze; iz++)                                               \
                for (int64_t iy = ys; iy < ye; iy++)                                           \
                    for (int64_t ix = xs; ix < xe; ix++) gp[(iz * P.h + iy) * P.w + ix] += v;  \
        )                                                                                      \
    )

nl_tensor *nl_avg_pool3d(nl_tensor *x, int64_t kernel_d, int64_t kernel_h, int64_t kernel_w, int64_t stride_d,
                         int64_t stride_h, int64_t stride_w, int64_t pad_d, int64_t pad_h, int64_t pad_w,
                         int ceil_mode, int count_include_pad, int64_t divisor_override) {
    const char *op = "avg_pool3d";
    int64_t a[14] = { kernel_d, kernel_h, kernel_w, stride_d, stride_h, stride_w, pad_d, pad_h, pad_w, 1, 1, 1,
                      count_include_pad != 0, divisor_override };
    p3_geom P;
    if (!pool3_check(op, x, a, ceil_mode != 0, &P)) return NULL;
    NL_CHECK(divisor_override >= 0, "%s: divisor_override must be positive (0 for none), got %lld", op,
             (long long)divisor_override);
    bool include_pad = count_include_pad != 0;
    int64_t div_override = divisor_override;
    int64_t osz[5] = { x->sizes[0], x->sizes[1], P.od, P.oh, P.ow }, l = P.od * P.oh * P.ow;
    nl_tensor *xc = nl_contiguous(x);
    nl_tensor *out = xc ? nl_tensor_alloc(op, 5, osz, x->dtype) : NULL;
    if (out) {
        int nt = threads3((double)P.planes * l * P.k[0] * P.k[1] * P.k[2], POOL3_GRAIN);
        if (x->dtype == NL_FLOAT32) AVG_POOL3_FORWARD(float);
        else AVG_POOL3_FORWARD(double);
    }
    nl_release(xc);
    return record_args(NL_OP_AVG_POOL3D, out, 1, &x, 0, a, 14);
}

/* gx (planes, D, H, W): each g (planes, Do, Ho, Wo) spread evenly over its window */
static int avg_pool3d_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *x = nd->in[0];
    if (!nl_node_wants(nd, 0)) return 0;
    const int64_t *a = nd->saved->data;
    p3_geom P = { .planes = x->sizes[0] * x->sizes[1], .d = x->sizes[2], .h = x->sizes[3], .w = x->sizes[4],
                  .od = g->sizes[2], .oh = g->sizes[3], .ow = g->sizes[4] };
    for (int i = 0; i < 3; i++) P.k[i] = a[i], P.s[i] = a[3 + i], P.p[i] = a[6 + i], P.dl[i] = 1;
    bool include_pad = a[12] != 0;
    int64_t div_override = a[13], l = P.od * P.oh * P.ow;
    nl_tensor *gx = nl_tensor_alloc("avg_pool3d", 5, x->sizes, x->dtype);
    nl_tensor *gc = gx ? nl_contiguous(g) : NULL;
    if (!gc) {
        nl_release(gx);
        return -1;
    }
    int nt = threads3((double)P.planes * l * P.k[0] * P.k[1] * P.k[2], POOL3_GRAIN);
    if (x->dtype == NL_FLOAT32) AVG_POOL3_BACKWARD(float);
    else AVG_POOL3_BACKWARD(double);
    nl_release(gc);
    gin[0] = gx;
    return 0;
}
NL_REGISTER_BACKWARD(NL_OP_AVG_POOL3D, avg_pool3d_backward)

/* ---- adaptive pooling ---- */

/* PyTorch's windows: output i of n over an input of size s covers
 * [floor(i*s/n), ceil((i+1)*s/n)). */
static inline int64_t ad_start(int64_t i, int64_t n, int64_t s) { return (i * s) / n; }
static inline int64_t ad_end(int64_t i, int64_t n, int64_t s) { return ((i + 1) * s + n - 1) / n; }

/* 0 when x (N, C, D, H, W) can be pooled to out (3 sizes) by op, else -1;
 * a size of 0 gives an empty output and a zero gradient, as PyTorch */
static int adaptive3_check(const char *op, nl_tensor *x, const int64_t *out) {
    char tb[1][72];
    NL_CHECK_TENSOR_INT(op, x);
    NL_CHECK_INT(x->ndim == 5 && x->dtype != NL_INT64,
                 "%s: input must be a 5-D float tensor (N, C, D, H, W), got %s %s", op, DT(x), nl_shape_str(x));
    NL_CHECK_INT(out[0] >= 0 && out[1] >= 0 && out[2] >= 0 && out[0] <= ARG_MAX && out[1] <= ARG_MAX &&
                 out[2] <= ARG_MAX, "%s: output size %s must be in [0, %lld] (input %s)", op, fmt3(tb[0], out),
                 (long long)ARG_MAX, nl_shape_str(x));
    NL_CHECK_INT(x->sizes[2] >= 1 && x->sizes[3] >= 1 && x->sizes[4] >= 1, "%s: input %s has an empty volume", op,
                 nl_shape_str(x));
    return 0;
}

/* BODY over each output's window [zs, ze) x [ys, ye) x [xs, xe), o_ its slot */
#define ADAPTIVE3_WINDOWS(...)                                                                   \
    for (int64_t oz = 0; oz < od; oz++) {                                                      \
        int64_t zs = ad_start(oz, od, d), ze = ad_end(oz, od, d);                              \
        for (int64_t oy = 0; oy < oh; oy++) {                                                  \
            int64_t ys = ad_start(oy, oh, h), ye = ad_end(oy, oh, h);                          \
            for (int64_t ox = 0; ox < ow; ox++) {                                              \
                int64_t xs = ad_start(ox, ow, w), xe = ad_end(ox, ow, w);                      \
                int64_t o_ = (oz * oh + oy) * ow + ox;                                         \
                __VA_ARGS__                                                                    \
            }                                                                                  \
        }                                                                                      \
    }

#define ADAPTIVE_AVG3_FORWARD(T)                                                                \
    NL_PARALLEL_FOR(nt, pl, planes,                                                            \
        const T *xp = (const T *)xc->data + pl * d * h * w;                                    \
        T *op_ = (T *)out->data + pl * l;                                                      \
        ADAPTIVE3_WINDOWS(                                                                     \
            T s = 0;                                                                           \
            for (int64_t iz = zs; iz < ze; iz++)                                               \
                for (int64_t iy = ys; iy < ye; iy++)                                           \
                    for (int64_t ix = xs; ix < xe; ix++) s += xp[(iz * h + iy) * w + ix];      \
            op_[o_] = s / (T)((ze - zs) * (ye - ys) * (xe - xs));                              \
        )                                                                                      \
    )

#define ADAPTIVE_AVG3_BACKWARD(T)                                                               \
    NL_PARALLEL_FOR(nt, pl, planes,                                                            \
        T *gp = (T *)gx->data + pl * d * h * w;                                                \
        const T *src = (const T *)gc->data + pl * l;                                           \
        memset(gp, 0, d * h * w * sizeof(T));                                                  \
        ADAPTIVE3_WINDOWS(                                                                     \
            T v = src[o_] / (T)((ze - zs) * (ye - ys) * (xe - xs));                            \
            for (int64_t iz = zs; iz < ze; iz++)                                               \
                for (int64_t iy = ys; iy < ye; iy++)                                           \
                    for (int64_t ix = xs; ix < xe; ix++) gp[(iz * h + iy) * w + ix] += v;      \
        )                                                                                      \
    )

nl_tensor *nl_adaptive_avg_pool3d(nl_tensor *x, int64_t out_d, int64_t out_h, int64_t out_w) {
    const char *op = "adaptive_avg_pool3d";
    int64_t o3[3] = { out_d, out_h, out_w };
    if (adaptive3_check(op, x, o3) < 0) return NULL;
    int64_t osz[5] = { x->sizes[0], x->sizes[1], out_d, out_h, out_w };
    nl_tensor *xc = nl_contiguous(x);
    nl_tensor *out = xc ? nl_tensor_alloc(op, 5, osz, x->dtype) : NULL;
    if (out) {
        int64_t planes = x->sizes[0] * x->sizes[1], d = x->sizes[2], h = x->sizes[3], w = x->sizes[4];
        int64_t od = out_d, oh = out_h, ow = out_w, l = od * oh * ow;
        int nt = nl_threads_for(planes * (d * h * w + l), POOL3_GRAIN);
        if (x->dtype == NL_FLOAT32) ADAPTIVE_AVG3_FORWARD(float);
        else ADAPTIVE_AVG3_FORWARD(double);
    }
    nl_release(xc);
    nl_node *n = nl_record(NL_OP_ADAPTIVE_AVG_POOL3D, out, 1, &x);
    if (n) n->needs_in = 0;
    return out;
}

static int adaptive_avg_pool3d_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *x = nd->in[0];
    if (!nl_node_wants(nd, 0)) return 0;
    int64_t planes = x->sizes[0] * x->sizes[1], d = x->sizes[2], h = x->sizes[3], w = x->sizes[4];
    int64_t od = g->sizes[2], oh = g->sizes[3], ow = g->sizes[4], l = od * oh * ow;
    nl_tensor *gx = nl_tensor_alloc("adaptive_avg_pool3d", 5, x->sizes, x->dtype);
    nl_tensor *gc = gx ? nl_contiguous(g) : NULL;
    if (!gc) {
        nl_release(gx);
        return -1;
    }
    int nt = nl_threads_for(planes * (d * h * w + l), POOL3_GRAIN);
    if (x->dtype == NL_FLOAT32) ADAPTIVE_AVG3_BACKWARD(float);
    else ADAPTIVE_AVG3_BACKWARD(double);
    nl_release(gc);
    gin[0] = gx;
    return 0;
}
NL_REGISTER_BACKWARD(NL_OP_ADAPTIVE_AVG_POOL3D, adaptive_avg_pool3d_backward)

/* the maximum of each window and its place, by MAX_POOL3_FORWARD's rule */
#define ADAPTIVE_MAX3_FORWARD(T)                                                                \
    NL_PARALLEL_FOR(nt, pl, planes,                                                            \
        const T *xp = (const T *)xc->data + pl * d * h * w;                                    \
        T *yp = (T *)out->data + pl * l;                                                       \
        int64_t *ip = (int64_t *)idx->data + pl * l;                                           \
        ADAPTIVE3_WINDOWS(                                                                     \
            T m = -(T)INFINITY;                                                                \
            int64_t best = (zs * h + ys) * w + xs;                                             \
            for (int64_t iz = zs; iz < ze; iz++)                                               \
                for (int64_t iy = ys; iy < ye; iy++)                                           \
                    for (int64_t ix = xs; ix < xe; ix++) {                                     \
                        int64_t at = (iz * h + iy) * w + ix;                                   \
                        T v = xp[at];                                                          \
                        if (v > m || isnan(v)) m = v, best = at;                               \
                    }                                                                          \
            yp[o_] = m;                                                                        \
            ip[o_] = best;                                                                     \
        )                                                                                      \
    )

nl_tensor *nl_adaptive_max_pool3d(nl_tensor *x, int64_t out_d, int64_t out_h, int64_t out_w, nl_tensor **indices,
                                  int64_t base) {
    const char *op = "adaptive_max_pool3d";
    int64_t o3[3] = { out_d, out_h, out_w };
    if (indices) *indices = NULL;
    if (adaptive3_check(op, x, o3) < 0) return NULL;
    int64_t osz[5] = { x->sizes[0], x->sizes[1], out_d, out_h, out_w };
    nl_tensor *xc = nl_contiguous(x);
    nl_tensor *out = xc ? nl_tensor_alloc(op, 5, osz, x->dtype) : NULL;
    nl_tensor *idx = out ? nl_tensor_alloc(op, 5, osz, NL_INT64) : NULL;
    if (idx) {
        int64_t planes = x->sizes[0] * x->sizes[1], d = x->sizes[2], h = x->sizes[3], w = x->sizes[4];
        int64_t od = out_d, oh = out_h, ow = out_w, l = od * oh * ow;
        int nt = nl_threads_for(planes * (d * h * w + l), POOL3_GRAIN);
        if (x->dtype == NL_FLOAT32) ADAPTIVE_MAX3_FORWARD(float);
        else ADAPTIVE_MAX3_FORWARD(double);
    }
    nl_release(xc);
    return nl_max_pool_record(NL_OP_ADAPTIVE_MAX_POOL3D, x, out, idx, indices, base, NULL, 0);
}
static int adaptive_max_pool3d_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    return max3_backward(nd, g, gin);
}
NL_REGISTER_BACKWARD(NL_OP_ADAPTIVE_MAX_POOL3D, adaptive_max_pool3d_backward)
