/* ops_conv.c — 2-D convolution (im2col + BLIS GEMM over blocks of images,
 * float32 and float64), the transposed convolution (its input gradient as
 * an op) and max, average, adaptive average and adaptive max pooling,
 * forward and backward side by side, with the plain loops the optimized
 * kernels are tested against. Conv1d, the 1-D pools, padding,
 * BatchNorm2d and Dropout2d are composed in the Lua layer and need
 * nothing here; Upsample's kernels are in ops_interp.c. */
#include "internal.h"
#include "sgemm.h"
#include "transpose16.h"

#include <blis.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* The float32 kernels that dominate a small CNN (im2col, col2im, the
 * small-K products of a first layer, 2x2 max pooling) have AVX-512 forms,
 * chosen at run time, and the 2x2 max pooling (alone and fused with the
 * convolution) AVX2 ones as well; the plain C loops beside them are what
 * float64 and other CPUs run, and what the tests compare them with
 * (nl_conv2d_reference; float32 pooling against float64 on the same
 * data). */
#define TGT_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))
#define TGT_AVX2 __attribute__((target("avx2,fma")))

/* Multiply-adds per thread before another thread joins a convolution. */
#define CONV_GRAIN (1 << 20)
/* Elements per thread before another thread joins a pooling kernel. */
#define POOL_GRAIN (1 << 15)

/* PyTorch's output size of a pooled or convolved dim; ceil_mode rounds up
 * but no window may start inside the right padding. A kernel longer than
 * the input still gives one window in ceil_mode (2 over 1 gave 0): only
 * the rounded-up span must not be negative. */
static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
    int64_t span = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    if (span < 0) return 0;
    int64_t o = span / s + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--;
    return o;
}

/* Whether each dim's window d*(k-1) (k, d >= 1) spans at most 2^40, so
 * that it and the output sizes stay inside int64. Unchecked, a kernel of
 * 2049 with dilation 2^53 spanned 2^64, which wrapped to 0: conv2d,
 * conv_transpose2d and max_pool2d ran as if the kernel were one tap long
 * (and read taps past the input), where PyTorch refuses the kernel as
 * larger than the input. */
static bool extent_ok(int64_t kh, int64_t kw, int64_t dh, int64_t dw) {
    const int64_t max = (int64_t)1 << 40;
    return kh - 1 <= max / dh && kw - 1 <= max / dw;
}

/* "float32 [8,3,28,28]" names a tensor in messages */
#define DT(t) nl_dtype_name((t)->dtype)

/* ---- convolution geometry ---- */

typedef struct conv_geom {
    int64_t n, c, h, w;        /* input (N, C, H, W) */
    int64_t o, kh, kw;         /* weight (O, C/groups, kh, kw) */
    int64_t groups, cg, og;    /* groups, C/groups, O/groups */
    int64_t sh, sw, ph, pw, dh, dw;
    int64_t ho, wo;            /* output (N, O, Ho, Wo) */
    int64_t hpad, wpad;        /* the input padded: h + 2 ph, w + 2 pw */
    int64_t l;                 /* ho * wo: columns of an image's col matrix */
    int64_t kg;                /* cg * kh * kw: rows of one group's col matrix */
} conv_geom;

/* G of a convolution of an input of sizes xs (N, C, H, W) by a weight of
 * sizes ws (O, C/groups, kh, kw); a: stride, padding, dilation, groups */
static void geom_sizes(conv_geom *G, const int64_t *xs, const int64_t *ws, const int64_t *a) {
    G->n = xs[0], G->c = xs[1], G->h = xs[2], G->w = xs[3];
    G->o = ws[0], G->kh = ws[2], G->kw = ws[3];
    G->sh = a[0], G->sw = a[1], G->ph = a[2], G->pw = a[3], G->dh = a[4], G->dw = a[5];
    G->groups = a[6];
    G->cg = G->c / G->groups;
    G->og = G->o / G->groups;
    G->ho = out_size(G->h, G->kh, G->sh, G->ph, G->dh, false);
    G->wo = out_size(G->w, G->kw, G->sw, G->pw, G->dw, false);
    G->l = G->ho * G->wo;
    G->hpad = G->h + 2 * G->ph;
    G->wpad = G->w + 2 * G->pw;
    G->kg = G->cg * G->kh * G->kw;
}

static void geom_init(conv_geom *G, const nl_tensor *x, const nl_tensor *w, const int64_t *a) {
    geom_sizes(G, x->sizes, w->sizes, a);
}

/* Checks conv2d's arguments (a: stride, padding, dilation, groups) and
 * fills G. False, with the error set, when they do not fit together. */
/* The checks conv2d and conv_transpose2d share: both tensors given, a 4-D
 * float input, a 4-D weight of its dtype (layout: the weight's dims as the
 * op names them), and the arguments a in range. */
static bool conv_args_ok(const char *op, nl_tensor *x, nl_tensor *w, const int64_t *a, const char *layout) {
    if (!x || !w) {
        nl_set_error("%s: expected tensors for the input and the weight, got nil", op);
        return false;
    }
    if (x->ndim != 4 || x->dtype == NL_INT64) {
        nl_set_error("%s: input must be a 4-D float tensor (N, C, H, W), got %s %s", op, DT(x), nl_shape_str(x));
        return false;
    }
    if (w->ndim != 4 || w->dtype != x->dtype) {
        nl_set_error("%s: weight must be a 4-D %s tensor (%s), got %s %s", op, DT(x), layout, DT(w),
                     nl_shape_str(w));
        return false;
    }
    if (a[0] < 1 || a[1] < 1 || a[4] < 1 || a[5] < 1 || a[2] < 0 || a[3] < 0 || a[6] < 1) {
        nl_set_error("%s: stride [%lld,%lld] and dilation [%lld,%lld] must be positive, padding [%lld,%lld] "
                     "not negative, groups %lld positive", op, (long long)a[0], (long long)a[1], (long long)a[4],
                     (long long)a[5], (long long)a[2], (long long)a[3], (long long)a[6]);
        return false;
    }
    if (!extent_ok(w->sizes[2], w->sizes[3], a[4], a[5])) {
        nl_set_error("%s: kernel [%lld,%lld] with dilation [%lld,%lld] spans more than 2^40 (weight %s)", op,
                     (long long)w->sizes[2], (long long)w->sizes[3], (long long)a[4], (long long)a[5],
                     nl_shape_str(w));
        return false;
    }
    return true;
}

static bool conv_check(const char *op, nl_tensor *x, nl_tensor *w, nl_tensor *b, const int64_t *a,
                       conv_geom *G) {
    if (!conv_args_ok(op, x, w, a, "out_channels, in_channels/groups, kh, kw")) return false;
    int64_t groups = a[6];
    if (x->sizes[1] % groups || w->sizes[0] % groups) {
        nl_set_error("%s: groups %lld must divide the input's %lld channels and the weight's %lld output "
                     "channels (input %s, weight %s)", op, (long long)groups, (long long)x->sizes[1],
                     (long long)w->sizes[0], nl_shape_str(x), nl_shape_str(w));
        return false;
    }
    if (w->sizes[1] * groups != x->sizes[1]) {
        if (groups == 1)
            nl_set_error("%s: input has %lld channels, weight expects %lld (input %s, weight %s)", op,
                         (long long)x->sizes[1], (long long)w->sizes[1], nl_shape_str(x), nl_shape_str(w));
        else
            nl_set_error("%s: input has %lld channels, weight expects %lld (%lld per group, groups %lld; "
                         "input %s, weight %s)", op, (long long)x->sizes[1], (long long)(w->sizes[1] * groups),
                         (long long)w->sizes[1], (long long)groups, nl_shape_str(x), nl_shape_str(w));
        return false;
    }
    if (w->sizes[0] < 1 || w->sizes[2] < 1 || w->sizes[3] < 1) {
        nl_set_error("%s: weight %s has an empty dim", op, nl_shape_str(w));
        return false;
    }
    if (b && (b->ndim != 1 || b->sizes[0] != w->sizes[0] || b->dtype != x->dtype)) {
        nl_set_error("%s: bias must be a 1-D %s tensor of the %lld output channels, got %s %s", op, DT(x),
                     (long long)w->sizes[0], DT(b), nl_shape_str(b));
        return false;
    }
    geom_init(G, x, w, a);
    if (G->ho < 1 || G->wo < 1) {
        nl_set_error("%s: output size [%lld,%lld] is too small: input %s, padding [%lld,%lld], kernel [%lld,%lld] "
                     "with dilation [%lld,%lld], stride [%lld,%lld]", op, (long long)G->ho, (long long)G->wo,
                     nl_shape_str(x), (long long)G->ph, (long long)G->pw, (long long)G->kh, (long long)G->kw,
                     (long long)G->dh, (long long)G->dw, (long long)G->sh, (long long)G->sw);
        return false;
    }
    return true;
}

/* ---- GEMM: nnlua's float32 kernel (sgemm.c) with AVX-512, else BLIS ----
 * (nl_conv_gemm, in internal.h: ops_conv3d.c's products go through it too)
 * c (m, n) = a (m, k) @ b (k, n) + beta c, every operand with its own row
 * and column strides (a transposed operand is a swap of its strides).
 * Without AVX-512, sgemm.c's AVX2 tiles ran W2's convolution products as
 * fast as BLIS on one thread and 2.6% slower on two (each thread's own
 * products, timed in W2's steps in alternated rounds), so BLIS keeps them. */
void nl_conv_gemm(int dtype, int64_t m, int64_t n, int64_t k, const void *a, int64_t rsa, int64_t csa,
                  const void *b, int64_t rsb, int64_t csb, double beta, void *c, int64_t rsc, int64_t csc, int nt) {
    if (dtype == NL_FLOAT32 && nl_cpu_avx512f() &&
        nl_sgemm(m, n, k, a, rsa, csa, b, rsb, csb, (float)beta, c, rsc, csc, nt))
        return;
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(nl_team(nt), &rntm);   /* the same team for every region */
    if (dtype == NL_FLOAT32) {
        float one = 1, fb = (float)beta;
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &one, (float *)a, rsa, csa, (float *)b, rsb,
                     csb, &fb, c, rsc, csc, NULL, &rntm);
    } else {
        double one = 1;
        bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &one, (double *)a, rsa, csa, (double *)b,
                     rsb, csb, &beta, c, rsc, csc, NULL, &rntm);
    }
}

/* ---- im2col and col2im ----
 * col (C*kh*kw, Ho*Wo), rows ld apart (images of a block sit side by side):
 * row (c, i, j) holds, for every output position, the input pixel that
 * kernel tap (i, j) of channel c meets there (0 in the padding). col2im
 * sums such a matrix back into the image. The valid output columns of a
 * tap form one range [ox0, ox1) for every row. */

static void tap_range(const conv_geom *G, int64_t j, int64_t *xoff, int64_t *ox0, int64_t *ox1) {
    int64_t off = j * G->dw - G->pw;   /* ix = ox * sw + off */
    int64_t lo = off >= 0 ? 0 : (-off + G->sw - 1) / G->sw;
    int64_t hi = off > G->w - 1 ? 0 : (G->w - 1 - off) / G->sw + 1;
    if (lo > G->wo) lo = G->wo;       /* a tap that misses the input: its zeros ran past the row */
    if (hi > G->wo) hi = G->wo;
    if (hi < lo) hi = lo;
    *xoff = off, *ox0 = lo, *ox1 = hi;
}

#define DEFINE_IM2COL(T, SFX)                                                                   \
    static void im2col_##SFX(T *restrict col /* (C*kh*kw, L), rows ld apart */,                 \
                             const T *restrict x /* (C, H, W) */, const conv_geom *G, int64_t ld) { \
        int64_t H = G->h, W = G->w, Wo = G->wo, sw = G->sw;                                     \
        for (int64_t c = 0; c < G->c; c++)                                                      \
            for (int64_t i = 0; i < G->kh; i++)                                                 \
                for (int64_t j = 0; j < G->kw; j++) {                                           \
                    T *d = col + ((c * G->kh + i) * G->kw + j) * ld;                            \
                    int64_t off, ox0, ox1;                                                      \
                    tap_range(G, j, &off, &ox0, &ox1);                                          \
                    for (int64_t oy = 0; oy < G->ho; oy++, d += Wo) {                           \
                        int64_t iy = oy * G->sh - G->ph + i * G->dh;                            \
                        if (iy < 0 || iy >= H) {                                                \
                            for (int64_t ox = 0; ox < Wo; ox++) d[ox] = 0;                      \
                            continue;                                                           \
                        }                                                                       \
                        const T *s = x + (c * H + iy) * W + off;                                \
                        for (int64_t ox = 0; ox < ox0; ox++) d[ox] = 0;                         \
                        if (sw == 1)                                                            \
                            for (int64_t ox = ox0; ox < ox1; ox++) d[ox] = s[ox];               \
                        else                                                                    \
                            for (int64_t ox = ox0; ox < ox1; ox++) d[ox] = s[ox * sw];          \
                        for (int64_t ox = ox1; ox < Wo; ox++) d[ox] = 0;                        \
                    }                                                                           \
                }                                                                               \
    }                                                                                           \
    /* x (C, H, W) = the sum of the taps of col, each added where it was read */               \
    static void col2im_##SFX(T *restrict x /* (C, H, W) */,                                     \
                             const T *restrict col /* (C*kh*kw, L), rows ld apart */,           \
                             const conv_geom *G, int64_t ld) {                                  \
        int64_t H = G->h, W = G->w, Wo = G->wo, sw = G->sw;                                     \
        memset(x, 0, G->c * H * W * sizeof(T));                                                 \
        for (int64_t c = 0; c < G->c; c++)                                                      \
            for (int64_t i = 0; i < G->kh; i++)                                                 \
                for (int64_t j = 0; j < G->kw; j++) {                                           \
                    const T *d = col + ((c * G->kh + i) * G->kw + j) * ld;                      \
                    int64_t off, ox0, ox1;                                                      \
                    tap_range(G, j, &off, &ox0, &ox1);                                          \
                    for (int64_t oy = 0; oy < G->ho; oy++, d += Wo) {                           \
                        int64_t iy = oy * G->sh - G->ph + i * G->dh;                            \
                        if (iy < 0 || iy >= H) continue;                                        \
                        T *s = x + (c * H + iy) * W + off;                                      \
                        if (sw == 1)                                                            \
                            for (int64_t ox = ox0; ox < ox1; ox++) s[ox] += d[ox];              \
                        else                                                                    \
                            for (int64_t ox = ox0; ox < ox1; ox++) s[ox * sw] += d[ox];         \
                    }                                                                           \
                }                                                                               \
    }

DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)

/* lanes [lo, hi) of 16 set, clipped to [0, 16) */
static inline __mmask16 lane_range(int64_t lo, int64_t hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* im2col_f32 for stride-1 columns: a tap's output row is one or a few
 * 16-lane masked copies, zeros outside [ox0, ox1); the masks depend on the
 * tap's column only, and its rows split into zero, copied, zero runs. */
#define MAX_CHUNKS 64           /* Wo (and W) up to 1024 */
#define MAX_TAPS 16             /* kernel widths the AVX-512 col2im takes */

TGT_AVX512 static void im2col_f32_avx512(float *restrict col, const float *restrict x, const conv_geom *G,
                                         int64_t ld) {
    int64_t H = G->h, W = G->w, Wo = G->wo, nch = (Wo + 15) / 16;
    const __m512 zero = _mm512_setzero_ps();
    __mmask16 all[MAX_CHUNKS], valid[MAX_CHUNKS];
    for (int64_t j = 0; j < G->kw; j++) {
        int64_t off, ox0, ox1;
        tap_range(G, j, &off, &ox0, &ox1);
        for (int64_t ch = 0; ch < nch; ch++) {
            all[ch] = lane_range(0, Wo - 16 * ch);
            valid[ch] = lane_range(ox0 - 16 * ch, ox1 - 16 * ch);
        }
        for (int64_t c = 0; c < G->c; c++)
            for (int64_t i = 0; i < G->kh; i++) {
                float *d = col + ((c * G->kh + i) * G->kw + j) * ld;
                int64_t iy0 = i * G->dh - G->ph, oy = 0;     /* iy = oy * sh + iy0 */
                for (; oy < G->ho && oy * G->sh + iy0 < 0; oy++, d += Wo)
                    for (int64_t ch = 0; ch < nch; ch++) _mm512_mask_storeu_ps(d + 16 * ch, all[ch], zero);
                const float *s = x + (c * H + oy * G->sh + iy0) * W + off;
                for (; oy < G->ho && oy * G->sh + iy0 < H; oy++, d += Wo, s += G->sh * W)
                    for (int64_t ch = 0; ch < nch; ch++)
                        _mm512_mask_storeu_ps(d + 16 * ch, all[ch], _mm512_maskz_loadu_ps(valid[ch], s + 16 * ch));
                for (; oy < G->ho; oy++, d += Wo)
                    for (int64_t ch = 0; ch < nch; ch++) _mm512_mask_storeu_ps(d + 16 * ch, all[ch], zero);
            }
    }
}

/* x (C, H, W) = col2im(col) with stride-1 columns, gathered: each run of
 * 16 pixels of an input row sums every tap that reads it in registers and
 * is written once (a scattered read-modify-write per tap would stall on
 * store forwarding, the taps' rows overlapping) */
TGT_AVX512 static void col2im_f32_avx512(float *restrict x, const float *restrict col, const conv_geom *G,
                                         int64_t ld) {
    int64_t H = G->h, W = G->w, Wo = G->wo, Ho = G->ho, nch = (W + 15) / 16;
    int64_t kh = G->kh, kw = G->kw;
    if (kw > MAX_TAPS) kw = MAX_TAPS;          /* fast_cols ensures it is not */
    __mmask16 valid[MAX_TAPS][MAX_CHUNKS];
    int64_t shift[MAX_TAPS];                   /* col column of input column ix: ix + shift */
    for (int64_t j = 0; j < kw; j++) {
        shift[j] = G->pw - j * G->dw;
        for (int64_t ch = 0; ch < nch; ch++)
            valid[j][ch] = lane_range(-shift[j] - 16 * ch, Wo - shift[j] - 16 * ch) & lane_range(0, W - 16 * ch);
    }
    for (int64_t c = 0; c < G->c; c++)
        for (int64_t iy = 0; iy < H; iy++) {
            float *xr = x + (c * H + iy) * W;
            for (int64_t ch = 0; ch < nch; ch++) {
                __mmask16 mine = lane_range(0, W - 16 * ch);
                __m512 acc = _mm512_setzero_ps();
                for (int64_t i = 0; i < kh; i++) {
                    int64_t t = iy + G->ph - i * G->dh;      /* oy * sh */
                    if (t < 0 || t % G->sh) continue;
                    int64_t oy = t / G->sh;
                    if (oy >= Ho) continue;
                    const float *d = col + ((c * kh + i) * G->kw) * ld + oy * Wo + 16 * ch;
                    for (int64_t j = 0; j < kw; j++, d += ld)
                        if (valid[j][ch])
                            acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(valid[j][ch], d + shift[j]));
                }
                _mm512_mask_storeu_ps(xr + 16 * ch, mine, acc);
            }
        }
}

/* The same two with AVX2's 8 lanes, for hosts without AVX-512: the plain
 * loops copy a 14-float row with a call to memmove (those calls, im2col and
 * col2im took 18% of W2's step on one thread of an AMD Zen 3), and col2im
 * adds each tap into the image in turn. Against the plain loops in W2's
 * steps, alternated rounds: 1.03x and 1.05x on one thread, 1.08x on two.
 * With a masked store for every run, as the AVX-512 form has, im2col ran
 * at 0.91x there. */
#define MAX_CHUNKS8 (2 * MAX_CHUNKS)

/* lanes [lo, hi) of 8 set, clipped to [0, 8) */
TGT_AVX2 static inline __m256i lane_range8(int64_t lo, int64_t hi) {
    if (lo < 0) lo = 0;
    if (hi > 8) hi = 8;
    if (hi < lo) hi = lo;
    return _mm256_andnot_si256(first_lanes8(lo), first_lanes8(hi));
}

/* One output row of a tap, nch runs of 8 from s under the valid masks
 * (s NULL: zeros). The runs are stored whole, the last one spilling into
 * the next row, which is written after it: AVX2's masked store is slow on
 * some cores (microcoded on AMD's), so only a tap's last row, whose spill
 * would reach another matrix's columns, masks its last run. */
TGT_AVX2 static ALWAYS_INLINE void col_row8(float *d, const float *s, const __m256i *valid, int64_t nch,
                                             __m256i tail, bool last) {
    for (int64_t ch = 0; ch < nch; ch++) {
        __m256 v = s ? _mm256_maskload_ps(s + 8 * ch, valid[ch]) : _mm256_setzero_ps();
        if (last && ch == nch - 1) _mm256_maskstore_ps(d + 8 * ch, tail, v);
        else _mm256_storeu_ps(d + 8 * ch, v);
    }
}

TGT_AVX2 static void im2col_f32_avx2(float *restrict col, const float *restrict x, const conv_geom *G,
                                     int64_t ld) {
    int64_t H = G->h, W = G->w, Wo = G->wo, Ho = G->ho, nch = (Wo + 7) / 8;
    __m256i valid[MAX_CHUNKS8], tail = lane_range8(0, Wo - 8 * (nch - 1));
    for (int64_t j = 0; j < G->kw; j++) {
        int64_t off, ox0, ox1;
        tap_range(G, j, &off, &ox0, &ox1);
        for (int64_t ch = 0; ch < nch; ch++) valid[ch] = lane_range8(ox0 - 8 * ch, ox1 - 8 * ch);
        for (int64_t c = 0; c < G->c; c++)
            for (int64_t i = 0; i < G->kh; i++) {
                float *d = col + ((c * G->kh + i) * G->kw + j) * ld;
                int64_t iy0 = i * G->dh - G->ph;              /* iy = oy * sh + iy0 */
                for (int64_t oy = 0; oy < Ho; oy++, d += Wo) {
                    int64_t iy = oy * G->sh + iy0;
                    const float *s = iy >= 0 && iy < H ? x + (c * H + iy) * W + off : NULL;
                    col_row8(d, s, valid, nch, tail, (oy + 1) * Wo + 8 * nch - Wo > Ho * Wo);
                }
            }
    }
}

TGT_AVX2 static void col2im_f32_avx2(float *restrict x, const float *restrict col, const conv_geom *G,
                                     int64_t ld) {
    int64_t H = G->h, W = G->w, Wo = G->wo, Ho = G->ho, nch = (W + 7) / 8;
    int64_t kh = G->kh, kw = G->kw;
    if (kw > MAX_TAPS) kw = MAX_TAPS;          /* fast_cols8 ensures it is not */
    __m256i valid[MAX_TAPS][MAX_CHUNKS8];
    bool any[MAX_TAPS][MAX_CHUNKS8];
    int64_t shift[MAX_TAPS];                   /* col column of input column ix: ix + shift */
    for (int64_t j = 0; j < kw; j++) {
        shift[j] = G->pw - j * G->dw;
        for (int64_t ch = 0; ch < nch; ch++) {
            int64_t lo = -shift[j] - 8 * ch, hi = Wo - shift[j] - 8 * ch, top = W - 8 * ch;
            if (lo < 0) lo = 0;
            if (hi > top) hi = top;
            valid[j][ch] = lane_range8(lo, hi);
            any[j][ch] = hi > lo && lo < 8 && hi > 0;
        }
    }
    for (int64_t c = 0; c < G->c; c++)
        for (int64_t iy = 0; iy < H; iy++) {
            float *xr = x + (c * H + iy) * W;
            for (int64_t ch = 0; ch < nch; ch++) {
                __m256 acc = _mm256_setzero_ps();
                for (int64_t i = 0; i < kh; i++) {
                    int64_t t = iy + G->ph - i * G->dh;      /* oy * sh */
                    if (t < 0 || t % G->sh) continue;
                    int64_t oy = t / G->sh;
                    if (oy >= Ho) continue;
                    const float *d = col + ((c * kh + i) * G->kw) * ld + oy * Wo + 8 * ch;
                    for (int64_t j = 0; j < kw; j++, d += ld)
                        if (any[j][ch]) acc = _mm256_add_ps(acc, _mm256_maskload_ps(d + shift[j], valid[j][ch]));
                }
                _mm256_maskstore_ps(xr + 8 * ch, lane_range8(0, W - 8 * ch), acc);
            }
        }
}

/* the AVX-512 im2col and col2im take stride-1 columns, rows up to
 * MAX_CHUNKS runs of 16 and kernels up to MAX_TAPS wide; the AVX2 ones
 * the same widths in runs of 8 */
static bool fast_cols(const conv_geom *G, int dtype) {
    return dtype == NL_FLOAT32 && G->sw == 1 && G->wo <= 16 * MAX_CHUNKS && G->w <= 16 * MAX_CHUNKS &&
           G->kw <= MAX_TAPS && nl_cpu_avx512();
}

static bool fast_cols8(const conv_geom *G, int dtype) {
    return dtype == NL_FLOAT32 && G->sw == 1 && G->wo <= 8 * MAX_CHUNKS8 && G->w <= 8 * MAX_CHUNKS8 &&
           G->kw <= MAX_TAPS && nl_cpu_avx2();
}

static void im2col(int dtype, void *col, const void *x, const conv_geom *G, int64_t ld) {
    if (fast_cols(G, dtype)) im2col_f32_avx512(col, x, G, ld);
    else if (fast_cols8(G, dtype)) im2col_f32_avx2(col, x, G, ld);
    else if (dtype == NL_FLOAT32) im2col_f32(col, x, G, ld);
    else im2col_f64(col, x, G, ld);
}

static void col2im(int dtype, void *x, const void *col, const conv_geom *G, int64_t ld) {
    if (fast_cols(G, dtype)) col2im_f32_avx512(x, col, G, ld);
    else if (fast_cols8(G, dtype)) col2im_f32_avx2(x, col, G, ld);
    else if (dtype == NL_FLOAT32) col2im_f32(x, col, G, ld);
    else col2im_f64(x, col, G, ld);
}

/* ---- small-K products (AVX-512) ----
 * BLIS packs both operands, which pays for itself over a long inner dim;
 * with the K = C/G*kh*kw of a first layer or a depthwise convolution (9
 * for a 3x3 kernel on one channel) the packing is most of the work. These
 * loops multiply straight from the col matrix instead. */
#define SMALL_K 32

static bool small_k(const conv_geom *G, int dtype) {
    return dtype == NL_FLOAT32 && G->kg <= SMALL_K && nl_cpu_avx512();
}

/* c (m, n) = bias + a (m, k) @ b (k, n), row-major with leading dims lda,
 * ldb, ldc, bias (m) optional (else 0): 8 rows of c by 16 columns at a
 * time, a's entries broadcast */
TGT_AVX512 static void gemm_small_k_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                                        const float *b, int64_t ldb, const float *bias, float *c, int64_t ldc) {
#define BIAS(r) _mm512_set1_ps(bias ? bias[i + (r)] : 0.0f)
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 mk = lane_range(0, n - j);
        int64_t i = 0;
        for (; i + 8 <= m; i += 8) {
            float *cp = c + i * ldc + j;
            __m512 c0 = BIAS(0), c1 = BIAS(1), c2 = BIAS(2), c3 = BIAS(3);
            __m512 c4 = BIAS(4), c5 = BIAS(5), c6 = BIAS(6), c7 = BIAS(7);
            const float *ap = a + i * lda;
            for (int64_t t = 0; t < k; t++, ap++) {
                __m512 bv = _mm512_maskz_loadu_ps(mk, b + t * ldb + j);
                c0 = _mm512_fmadd_ps(bv, _mm512_set1_ps(ap[0]), c0);
                c1 = _mm512_fmadd_ps(bv, _mm512_set1_ps(ap[lda]), c1);
                c2 = _mm512_fmadd_ps(bv, _mm512_set1_ps(ap[2 * lda]), c2);
                c3 = _mm512_fmadd_ps(bv, _mm512_set1_ps(ap[3 * lda]), c3);
                c4 = _mm512_fmadd_ps(bv, _mm512_set1_ps(ap[4 * lda]), c4);
                c5 = _mm512_fmadd_ps(bv, _mm512_set1_ps(ap[5 * lda]), c5);
                c6 = _mm512_fmadd_ps(bv, _mm512_set1_ps(ap[6 * lda]), c6);
                c7 = _mm512_fmadd_ps(bv, _mm512_set1_ps(ap[7 * lda]), c7);
            }
            _mm512_mask_storeu_ps(cp, mk, c0);
            _mm512_mask_storeu_ps(cp + ldc, mk, c1);
            _mm512_mask_storeu_ps(cp + 2 * ldc, mk, c2);
            _mm512_mask_storeu_ps(cp + 3 * ldc, mk, c3);
            _mm512_mask_storeu_ps(cp + 4 * ldc, mk, c4);
            _mm512_mask_storeu_ps(cp + 5 * ldc, mk, c5);
            _mm512_mask_storeu_ps(cp + 6 * ldc, mk, c6);
            _mm512_mask_storeu_ps(cp + 7 * ldc, mk, c7);
        }
        for (; i < m; i++) {
            __m512 c0 = BIAS(0);
            for (int64_t t = 0; t < k; t++)
                c0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, b + t * ldb + j), _mm512_set1_ps(a[i * lda + t]), c0);
            _mm512_mask_storeu_ps(c + i * ldc + j, mk, c0);
        }
    }
#undef BIAS
}

/* acc (m, kstride, 16) += the 16 lane-wise partial sums of a (m, n) @ b^T,
 * b (TB, n): dot products along n, two rows of a by TB rows of b at a time
 * in registers; the caller sums the lanes once at the end */
#define DEFINE_NT16(TB)                                                                          \
    TGT_AVX512 static void nt16_##TB(int64_t m, int64_t n, const float *a, int64_t lda,          \
                                     const float *b, int64_t ldb, float *acc, int64_t kstride) { \
        for (int64_t i = 0; i < m; i += 2) {                                                     \
            bool two = i + 1 < m;                                                                \
            const float *a0 = a + i * lda, *a1 = two ? a0 + lda : a0;                            \
            __m512 s0[TB], s1[TB];                                                               \
            for (int t = 0; t < TB; t++) s0[t] = s1[t] = _mm512_setzero_ps();                   \
            for (int64_t j = 0; j < n; j += 16) {                                                \
                __mmask16 mk = lane_range(0, n - j);                                             \
                __m512 x0 = _mm512_maskz_loadu_ps(mk, a0 + j), x1 = _mm512_maskz_loadu_ps(mk, a1 + j); \
                for (int t = 0; t < TB; t++) {                                                   \
                    __m512 bv = _mm512_maskz_loadu_ps(mk, b + t * ldb + j);                      \
                    s0[t] = _mm512_fmadd_ps(x0, bv, s0[t]);                                      \
                    s1[t] = _mm512_fmadd_ps(x1, bv, s1[t]);                                      \
                }                                                                                \
            }                                                                                    \
            float *c0 = acc + i * kstride * 16, *c1 = c0 + kstride * 16;                         \
            for (int t = 0; t < TB; t++) {                                                       \
                _mm512_storeu_ps(c0 + 16 * t, _mm512_add_ps(_mm512_loadu_ps(c0 + 16 * t), s0[t])); \
                if (two) _mm512_storeu_ps(c1 + 16 * t, _mm512_add_ps(_mm512_loadu_ps(c1 + 16 * t), s1[t])); \
            }                                                                                    \
        }                                                                                        \
    }

DEFINE_NT16(1) DEFINE_NT16(2) DEFINE_NT16(3) DEFINE_NT16(4) DEFINE_NT16(5) DEFINE_NT16(6)
DEFINE_NT16(7) DEFINE_NT16(8) DEFINE_NT16(9) DEFINE_NT16(10) DEFINE_NT16(11) DEFINE_NT16(12)

typedef void (*nt16_fn)(int64_t, int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t);
static const nt16_fn nt16[13] = { NULL, nt16_1, nt16_2, nt16_3, nt16_4, nt16_5, nt16_6,
                                  nt16_7, nt16_8, nt16_9, nt16_10, nt16_11, nt16_12 };

/* acc (m, k, 16) += lane-wise partial sums of a (m, n) @ b (k, n)^T */
static void gemm_nt_small_k_f32(int64_t m, int64_t k, int64_t n, const float *a, int64_t lda, const float *b,
                                int64_t ldb, float *acc) {
    for (int64_t t0 = 0; t0 < k; t0 += 12) {
        int64_t tb = k - t0 < 12 ? k - t0 : 12;
        nt16[tb](m, n, a, lda, b + t0 * ldb, ldb, acc + t0 * 16, k);
    }
}

/* Each group's weights packed once for all blocks' products (float32 with
 * AVX-512, not the small-K loops): the forward's A is w_q (O/G, kg), the
 * backward's gcol product takes w_q^T (transposed). NULL where not, or
 * without memory: the blocks then pack their own. *asz: floats a group. */
static float *weights_packed(const conv_geom *G, const void *w, int dtype, bool sk, bool transposed, int64_t *asz,
                             int64_t *bytes) {
    if (dtype != NL_FLOAT32 || sk || !nl_cpu_avx512f()) return NULL;
    int64_t m = transposed ? G->kg : G->og, k = transposed ? G->og : G->kg;
    *asz = nl_sgemm_packed_a_floats(m, k);
    *bytes = G->groups * *asz * (int64_t)sizeof(float);
    float *p = nl_alloc_scratch(bytes);
    if (!p) return NULL;
    for (int64_t q = 0; q < G->groups; q++) {
        const float *wq = (const float *)w + q * G->og * G->kg;
        if (transposed) nl_sgemm_pack_a(p + q * *asz, m, k, wq, 1, G->kg);
        else nl_sgemm_pack_a(p + q * *asz, m, k, wq, G->kg, 1);
    }
    return p;
}

/* ---- the batch in blocks ----
 * The images are processed in blocks of S, their col matrices side by
 * side in one (C*kh*kw, S*L) matrix, so that each GEMM has S*L columns
 * (BLIS runs the wider products faster; a block's matrices still fit in
 * a core's L2 cache). The blocks are shared among the threads, each GEMM
 * on one; with fewer images than threads they run in turn, each GEMM on
 * all the threads. */
#define BLOCK_BYTES (1 << 20)

typedef struct conv_plan {
    int nt_batch, nt_gemm;    /* threads over the blocks, threads in each GEMM */
    int64_t s;                /* images per block */
    int64_t nblk;             /* blocks */
    bool rows;                /* the backward's weight gradient over the input in rows of channels (rows_ok) */
    bool rowsx;               /* its input gradient into rows of channels (rows_layout_ok) */
    bool fwdrows;             /* the forward from the input in rows of channels (fwdrows_ok) */
} conv_plan;

/* per_image: bytes of one image's share of a block's buffers. The small-K
 * loops gain nothing from wide products: one image at a time. */
static void plan_init(conv_plan *P, const conv_geom *G, int64_t per_image, int dtype) {
    int nt = nl_threads_for(G->n * G->o * G->l * G->kg, CONV_GRAIN);
    P->nt_batch = G->n >= nt ? nt : 1;
    P->nt_gemm = G->n >= nt ? 1 : nt;
    int64_t s = small_k(G, dtype) ? 1 : BLOCK_BYTES / per_image;
    int64_t share = (G->n + P->nt_batch - 1) / P->nt_batch;    /* images per thread */
    if (s > share) s = share;
    if (s < 1) s = 1;
    P->s = s;
    P->nblk = (G->n + s - 1) / s;
    P->rows = P->rowsx = P->fwdrows = false;
}

/* bytes per image of the forward's block: the col matrix and the output */
static int64_t fwd_image_bytes(const conv_geom *G, int64_t es) {
    return (G->c * G->kh * G->kw + G->o) * G->l * es;
}

/* and of the backward's: col and gcol as needed, and the output gradient */
static int64_t bwd_image_bytes(const conv_geom *G, int64_t es, bool gw, bool gx) {
    return ((gw ? G->c * G->kh * G->kw : 0) + (gx ? G->c * G->kh * G->kw : 0) + G->o) * G->l * es;
}

/* elements of one batch thread's scratch in the forward: col (C*kh*kw,
 * S*L), and ob (O, S*L) unless a block is one image written in place; on
 * the fwdrows path at least one image's xt and ob (the col path's room is
 * kept for its fallback) */
static int64_t fwdrows_floats(const conv_geom *G, const conv_plan *P);
static int64_t fwd_scratch(const conv_geom *G, const conv_plan *P, bool pooled) {
    int64_t n = (G->c * G->kh * G->kw + (P->s > 1 || pooled ? G->o : 0)) * P->s * G->l;
    return P->fwdrows && fwdrows_floats(G, P) > n ? fwdrows_floats(G, P) : n;
}

/* in the backward: a weight-gradient accumulator (bwd_slots of them), and
 * per batch thread gb (O, S*L) unless a block is one image read in place,
 * col and gcol (C*kh*kw, S*L) as needed */
static int64_t bwd_acc(const conv_geom *G, int dtype, bool gw) {
    return gw ? G->o * G->kg * (small_k(G, dtype) ? 16 : 1) : 0;
}
static int64_t rows_floats(const conv_geom *G, const conv_plan *P);
static int64_t rowsx_floats(const conv_geom *G, const conv_plan *P);
/* ... of which col's room holds xt and the product's buffer on the rows
 * path, and gcol's (at least) the input gradient's rows on the rowsx path */
static int64_t bwd_scratch(const conv_geom *G, const conv_plan *P, bool gw, bool gx, bool pooled) {
    int64_t krows = G->c * G->kh * G->kw, wpart = !gw ? 0 : P->rows ? rows_floats(G, P) : krows * P->s * G->l;
    int64_t xpart = !gx ? 0 : krows * P->s * G->l;    /* the rowsx path falls back to gcol without its taps */
    if (gx && P->rowsx && rowsx_floats(G, P) > xpart) xpart = rowsx_floats(G, P);
    return (P->s > 1 || pooled ? G->o : 0) * P->s * G->l + wpart + xpart;
}

/* The backward's blocks go out in runs (slots) as threads ask, each run
 * summing into its own accumulators, which are added in order at the end:
 * the result does not depend on which thread took which run. One run on
 * one thread; with more, SLOTS_PER_THREAD runs a thread while the
 * accumulators stay within SLOT_BYTES, else fewer (at least one a thread). */
#define SLOTS_PER_THREAD 4
#define SLOT_BYTES (8 << 20)
static int64_t bwd_slots(const conv_plan *P, int64_t accsz, int64_t es) {
    if (P->nt_batch <= 1) return 1;
    int64_t k = SLOTS_PER_THREAD * P->nt_batch;
    if (accsz && k * accsz * es > SLOT_BYTES) k = SLOT_BYTES / (accsz * es);
    if (k < P->nt_batch) k = P->nt_batch;
    return k < P->nblk ? k : P->nblk;
}

/* ---- the weight gradient over the input in rows of channels ----
 * gw (O, kh*kw*C) = g (O, L) @ colT (L, kh*kw*C), where row l of colT holds
 * the inputs that output l's taps meet, tap by tap, each tap's C channels
 * side by side. With the input laid out channels last in rows of 32
 * channels and padded, xt (C/32, Hp, Wp, 32), a tap's 32 channels at
 * output (oy, ox) are the row at ((oy + i*dh) * Wp + ox + j*dw) of block
 * cb: colT's 32-column panels are xt itself, shifted by the tap, its rows
 * in runs of Wo (nl_sgemm_bsegs). No col matrix is written, and no panel
 * packed: the nine 3x3 taps' panels read one 32 KB plane of a 14 x 14
 * image. Its columns come out tap-major; the last pass puts them in
 * weight order. Stride 1, one group, C a multiple of 32. */
#define ROWS_PANELS_MAX 1024

/* what the three rows paths share: float32 on AVX-512, stride 1, one
 * group, whole blocks of 32 input channels, a GEMM-sized K, one thread per
 * product; the input gradient's path needs no more */
static bool rows_layout_ok(const conv_geom *G, const conv_plan *P, int dtype) {
    return dtype == NL_FLOAT32 && nl_cpu_avx512() && G->groups == 1 && G->sh == 1 && G->sw == 1 &&
           G->c % 32 == 0 && !small_k(G, dtype) && P->nt_gemm == 1;
}

static bool rows_ok(const conv_geom *G, const conv_plan *P, int dtype) {
    return rows_layout_ok(G, P, dtype) && G->kh * G->kw * (G->c / 32) <= ROWS_PANELS_MAX;
}

/* the rows paths' buffers, in the scratch's col and gcol room, at a cache line */
static float *align64(char *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

/* floats of a block's xt, aligned, and the product's A buffer */
static int64_t rows_floats(const conv_geom *G, const conv_plan *P) {
    return P->s * G->c * G->hpad * G->wpad + nl_sgemm_bsegs_floats() + 16;
}

/* xt (C/32, Hp, Wp, 32) of one image x (C, H, W): 16 x 16 transposes of
 * channels and positions, the padding 0 */
TGT_AVX512 static void rows32_f32(float *xt, const float *x, const conv_geom *G) {
    int64_t H = G->h, W = G->w, Hp = G->hpad, Wp = G->wpad, HW = H * W;
    const __m512 z = _mm512_setzero_ps();
    for (int64_t cb = 0; cb < G->c / 32; cb++) {
        float *d = xt + cb * Hp * Wp * 32;
        for (int64_t y = 0; y < Hp; y++)
            for (int64_t xx = 0; xx < Wp; xx++)
                if (y < G->ph || y >= G->ph + H || xx < G->pw || xx >= G->pw + W) {
                    _mm512_storeu_ps(d + (y * Wp + xx) * 32, z);
                    _mm512_storeu_ps(d + (y * Wp + xx) * 32 + 16, z);
                }
        for (int64_t half = 0; half < 2; half++)
            for (int64_t p0 = 0; p0 < HW; p0 += 16) {
                int64_t n = HW - p0 < 16 ? HW - p0 : 16;
                __m512 r[16];
                for (int u = 0; u < 16; u++)
                    r[u] = _mm512_maskz_loadu_ps(first_lanes(n), x + (cb * 32 + half * 16 + u) * HW + p0);
                transpose16(r);
                for (int64_t v = 0; v < n; v++) {
                    int64_t y = (p0 + v) / W, xx = (p0 + v) % W;
                    _mm512_storeu_ps(d + ((y + G->ph) * Wp + xx + G->pw) * 32 + half * 16, r[v]);
                }
            }
    }
}

/* ---- the forward from the input in rows of channels ----
 * With the input in rows of 32 channels (xt, rows32_f32), output (oy, ox)
 * for output channel o sums, over k = (channel block cb, tap row i, tap
 * column j, channel c'), xt_cb's row ((oy + i*dh) Wp + ox + j), element
 * c', times W[o][32 cb + c'][i][j]. A tile of R outputs of one output row
 * (R consecutive xt rows, 32 floats apart: each broadcast at a fixed
 * displacement) by 32 output channels (W packed (K, 32) in that k order)
 * runs its k stream through xt in runs of kw * 32 floats, a tap row's taps
 * for a block of channels, then on to the next tap row and block; its
 * sums stay in registers to the end, are transposed there, and stored as
 * R outputs of each of 32 output planes. No col matrix is written and no
 * panel of it packed. Stride 1, column dilation 1, one group, C and O
 * multiples of 32. */
#define FWD_ROWS 14     /* outputs a tile: 28 accumulators, 2 of W, of 32 registers */
#define HOT_CONV __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"), optimize("O3"), \
                                no_sanitize("address", "undefined")))

static bool fwdrows_ok(const conv_geom *G, const conv_plan *P, int dtype) {
    return rows_layout_ok(G, P, dtype) && G->dw == 1 && G->o % 32 == 0;
}

/* floats of one image's xt, with room for the last tile's rows past it */
static int64_t fwdrows_floats(const conv_geom *G, const conv_plan *P) {
    int64_t xt = G->c * G->hpad * G->wpad + (FWD_ROWS + G->kw) * 32 + 16;
    return xt + G->o * P->s * G->l;
}

/* a tile's sums (R positions of 16 + 16 channels, c0 and c1, of 16
 * vectors each, R of them set) transposed into rows outputs of each of 32
 * planes, ldp apart. Out of line, and checked by the sanitizers: the
 * 16 x 16 transposes' arrays got AddressSanitizer's scope poisoning inside
 * the unchecked tile too, without the frame's unpoisoning at its end. */
TGT_AVX512 __attribute__((noinline)) static void fwd_tile_store(float *ob, int64_t ldp, __m512 *c0, __m512 *c1,
                                                                int R, int rows) {
    for (int r = R; r < 16; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    transpose16(c0);
    transpose16(c1);
    __mmask16 m = first_lanes(rows);
    for (int v = 0; v < 16; v++) {
        _mm512_mask_storeu_ps(ob + v * ldp, m, c0[v]);
        _mm512_mask_storeu_ps(ob + (16 + v) * ldp, m, c1[v]);
    }
}

/* outputs [ox0, ox0 + rows) of output row oy, output channels [o0, o0 +
 * 32): xr is xt at row oy * Wp + ox0 of block 0, wp W's panel (K, 32), ob
 * output plane o0 at the first output, planes ldp apart */
HOT_CONV static ALWAYS_INLINE void fwd_tile(const int R, int rows, const float *xr, const float *wp, float *ob,
                                            int64_t ldp, const conv_geom *G, int64_t plane, int64_t Wp) {
    __m512 c0[16], c1[16];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int64_t cb = 0; cb < G->c / 32; cb++)
        for (int64_t i = 0; i < G->kh; i++) {
            const float *ap = xr + cb * plane + i * G->dh * Wp * 32;
            for (int64_t q = 0; q < G->kw * 32; q++, ap++, wp += 32) {
                __m512 b0 = _mm512_loadu_ps(wp), b1 = _mm512_loadu_ps(wp + 16);
#pragma GCC unroll 16
                for (int r = 0; r < R; r++) {
                    __m512 av = _mm512_set1_ps(ap[r * 32]);
                    c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
                    c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
                }
            }
        }
    fwd_tile_store(ob, ldp, c0, c1, R, rows);
}

/* ob's planes (O, rows of Ho x Wo, planes ldp apart) for one image from
 * its xt; wpk holds W's panels (O / 32 of (K, 32)) */
HOT_CONV static void fwd_rows_image(float *ob, int64_t ldp, const float *xt, const float *wpk, const conv_geom *G) {
    int64_t Hp = G->hpad, Wp = G->wpad, plane = Hp * Wp * 32, K = G->c * G->kh * G->kw;
    for (int64_t p = 0; p < G->o / 32; p++)
        for (int64_t oy = 0; oy < G->ho; oy++)
            for (int64_t ox0 = 0; ox0 < G->wo; ox0 += FWD_ROWS) {
                int64_t n = G->wo - ox0 < FWD_ROWS ? G->wo - ox0 : FWD_ROWS;
                const float *xr = xt + (oy * Wp + ox0) * 32;
                float *o = ob + p * 32 * ldp + oy * G->wo + ox0;
                if (n > 8) fwd_tile(FWD_ROWS, (int)n, xr, wpk + p * K * 32, o, ldp, G, plane, Wp);
                else if (n > 4) fwd_tile(8, (int)n, xr, wpk + p * K * 32, o, ldp, G, plane, Wp);
                else fwd_tile(4, (int)n, xr, wpk + p * K * 32, o, ldp, G, plane, Wp);
            }
}

/* W (O, C, kh, kw) into panels of 32 output channels, (K, 32) each, k =
 * (cb, i, j, c') */
static void fwd_rows_weights(float *wpk, const float *w, const conv_geom *G) {
    int64_t K = G->c * G->kh * G->kw;
    for (int64_t o = 0; o < G->o; o++)
        for (int64_t cb = 0, k = 0; cb < G->c / 32; cb++)
            for (int64_t i = 0; i < G->kh; i++)
                for (int64_t j = 0; j < G->kw; j++)
                    for (int64_t c = 0; c < 32; c++, k++)
                        wpk[(o / 32 * K + k) * 32 + o % 32] = w[((o * G->c + cb * 32 + c) * G->kh + i) * G->kw + j];
}

/* ---- the input gradient into rows of channels ----
 * gx = col2im(W^T g): each tap (i, j) adds g^T (L, O) @ W_ij (O, C) into
 * the rows of gt (Hp, Wp, C), the padded input's gradient channels last,
 * that its outputs meet: output (oy, ox)'s row (oy + i*dh) Wp + ox + j*dw
 * (nl_sgemm_crows, g^T packed once for the nine taps). The gcol matrix
 * (C*kh*kw, L) is neither written nor read back by col2im; gt, 32 KB for
 * 32 channels of a 14 x 14 image, stays in L1. Then gt's interior is
 * transposed into gx. Taken where rows_layout_ok. */

/* floats of a block's gt, g^T packed, and its row pointers, aligned */
static int64_t rowsx_floats(const conv_geom *G, const conv_plan *P) {
    return P->s * G->hpad * G->wpad * G->c + nl_sgemm_packed_a_floats(P->s * G->l, G->o) +
           2 * P->s * G->l + 32;
}

/* gx (C, H, W) of one image = the interior of gt (Hp, Wp, C) */
TGT_AVX512 static void unrows_f32(float *gx, const float *gt, const conv_geom *G) {
    int64_t H = G->h, W = G->w, Wp = G->wpad, C = G->c;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x0 = 0; x0 < W; x0 += 16) {
            int64_t n = W - x0 < 16 ? W - x0 : 16;
            const float *src = gt + ((y + G->ph) * Wp + x0 + G->pw) * C;
            for (int64_t c0 = 0; c0 < C; c0 += 16) {
                __m512 r[16];
                for (int u = 0; u < 16; u++) r[u] = u < n ? _mm512_loadu_ps(src + u * C + c0) : _mm512_setzero_ps();
                transpose16(r);
                for (int v = 0; v < 16; v++) _mm512_mask_storeu_ps(gx + ((c0 + v) * H + y) * W + x0, first_lanes(n), r[v]);
            }
        }
}

/* ---- a Conv2d, MaxPool2d(2) (and ReLU) stack as one op ----
 * The 2x2 pooling (stride 2) runs on each block's product while it is in
 * cache, so the convolution's output, four times the pooled one, never goes
 * to memory, and the backward rebuilds each block's output gradient from
 * the pooled one the same way. The values and gradients are those of
 * nl_conv2d, nl_max_pool2d(2) and nl_relu in turn, bit for bit: the same
 * products, sums and order, only kept in cache. */
typedef struct pool_fuse {
    float *pooled;     /* forward: the output (N, O, Hp, Wp); backward: its gradient */
    uint8_t *code;     /* (N, O, Hp, Wp): the maximum's place in its window, row * 2 + column,
                        * plus 4 where the ReLU zeroed it */
    int64_t hp, wp;    /* Ho / 2, Wo / 2 */
    bool relu;
} pool_fuse;

/* 2x2 windows with stride 2, 16 outputs at a time, on AVX-512: the even
 * and odd columns of two input rows are split apart by permutes. */

/* The maximum of each window of two input rows: row 0's values in a0
 * (columns 0-15) and a1 (16-31), row 1's in b0 and b1; output lane l is
 * the window of columns 2l and 2l + 1. PyTorch's order: row 0 left,
 * right, row 1 left, right, each later value taken where it is greater or
 * NaN (ties go to the first). That is the maximum under a total order (NaN
 * above numbers, a later NaN above an earlier one, equal numbers by their
 * order), so the winners of the two rows' pairs, then the winner of those
 * two, give what taking the four in turn gives, in a shorter chain of
 * dependent compares. *where gets the place in the window, row * 2 +
 * column. */
TGT_AVX512 static ALWAYS_INLINE __m512 window_max4(__m512 a0, __m512 a1, __m512 b0, __m512 b1, __m512i *where) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    __m512 c0 = _mm512_permutex2var_ps(a0, even, a1), c1 = _mm512_permutex2var_ps(a0, odd, a1);
    __m512 c2 = _mm512_permutex2var_ps(b0, even, b1), c3 = _mm512_permutex2var_ps(b0, odd, b1);
    __mmask16 k01 = _mm512_cmp_ps_mask(c1, c0, _CMP_GT_OQ) | _mm512_cmp_ps_mask(c1, c1, _CMP_UNORD_Q);
    __mmask16 k23 = _mm512_cmp_ps_mask(c3, c2, _CMP_GT_OQ) | _mm512_cmp_ps_mask(c3, c3, _CMP_UNORD_Q);
    __m512 m01 = _mm512_mask_mov_ps(c0, k01, c1), m23 = _mm512_mask_mov_ps(c2, k23, c3);
    __mmask16 k = _mm512_cmp_ps_mask(m23, m01, _CMP_GT_OQ) | _mm512_cmp_ps_mask(m23, m23, _CMP_UNORD_Q);
    __m512i w01 = _mm512_maskz_mov_epi32(k01, _mm512_set1_epi32(1));
    __m512i w23 = _mm512_mask_mov_epi32(_mm512_set1_epi32(2), k23, _mm512_set1_epi32(3));
    *where = _mm512_mask_mov_epi32(w01, k, w23);
    return _mm512_mask_mov_ps(m01, k, m23);
}

/* window_max4 of the rows at a0p, a1p (row 0's two runs of 16 columns)
 * and b0p, b1p (row 1's), the lanes of masks k0 (a0p, b0p) and k1 (a1p,
 * b1p) loaded, the rest 0; each value plus av when add */
TGT_AVX512 static ALWAYS_INLINE __m512 window_max(const float *a0p, const float *a1p, const float *b0p,
                                                  const float *b1p, __mmask16 k0, __mmask16 k1, bool add, __m512 av,
                                                  __m512i *where) {
    __m512 a0 = _mm512_maskz_loadu_ps(k0, a0p), a1 = _mm512_maskz_loadu_ps(k1, a1p);
    __m512 b0 = _mm512_maskz_loadu_ps(k0, b0p), b1 = _mm512_maskz_loadu_ps(k1, b1p);
    if (add) {
        a0 = _mm512_add_ps(a0, av), a1 = _mm512_add_ps(a1, av);
        b0 = _mm512_add_ps(b0, av), b1 = _mm512_add_ps(b1, av);
    }
    return window_max4(a0, a1, b0, b1, where);
}

/* the windows of outputs [ox, ox + n) (n <= 16) of input rows r0 and r1 */
TGT_AVX512 static ALWAYS_INLINE __m512 window_max_run(const float *r0, const float *r1, int64_t ox, int64_t n,
                                                      bool add, __m512 av, __m512i *where) {
    return window_max(r0 + 2 * ox, r0 + 2 * ox + 16, r1 + 2 * ox, r1 + 2 * ox + 16, lane_range(0, 2 * n),
                      lane_range(0, 2 * n - 16), add, av, where);
}

/* rows r0 and r1 of the windows of outputs [ox, ox + n), written whole:
 * v at each window's place (row * 2 + column, in where), 0 elsewhere */
TGT_AVX512 static ALWAYS_INLINE void window_scatter(float *r0, float *r1, int64_t ox, int64_t n, __m512 v,
                                                    __m512i where) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    __mmask16 mlo = lane_range(0, 2 * n), mhi = lane_range(0, 2 * n - 16);
    __m512 e0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(where, _mm512_set1_epi32(0)), v);
    __m512 o0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(where, _mm512_set1_epi32(1)), v);
    __m512 e1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(where, _mm512_set1_epi32(2)), v);
    __m512 o1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(where, _mm512_set1_epi32(3)), v);
    _mm512_mask_storeu_ps(r0 + 2 * ox, mlo, _mm512_permutex2var_ps(e0, lo, o0));
    _mm512_mask_storeu_ps(r0 + 2 * ox + 16, mhi, _mm512_permutex2var_ps(e0, hi, o0));
    _mm512_mask_storeu_ps(r1 + 2 * ox, mlo, _mm512_permutex2var_ps(e1, lo, o1));
    _mm512_mask_storeu_ps(r1 + 2 * ox + 16, mhi, _mm512_permutex2var_ps(e1, hi, o1));
}

/* nl_relu on window maxima: x > 0 ? x : NaN stays, else 0; its gradient
 * passes where x > 0 or NaN (as nl_relu's), so where gets 4 elsewhere */
TGT_AVX512 static ALWAYS_INLINE void window_relu(__m512 *m, __m512i *where) {
    __mmask16 keep = _mm512_cmp_ps_mask(*m, _mm512_setzero_ps(), _CMP_NLE_UQ);   /* not x <= 0 */
    *m = _mm512_maskz_mov_ps(keep, *m);
    *where = _mm512_mask_or_epi32(*where, (__mmask16)~keep, *where, _mm512_set1_epi32(4));
}

/* The same windows on AVX2, 8 outputs a vector: the even and odd columns
 * of 16 inputs split apart by a shuffle within 128-bit lanes and a
 * permute across them, then window_max4's tree of compares (the same
 * values and places). */
TGT_AVX2 static ALWAYS_INLINE __m256 evens8(__m256 lo, __m256 hi) {
    __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
}

TGT_AVX2 static ALWAYS_INLINE __m256 odds8(__m256 lo, __m256 hi) {
    __m256 o = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8));
}

/* b where it is greater than a or NaN, as a lane mask */
TGT_AVX2 static ALWAYS_INLINE __m256 takes8(__m256 b, __m256 a) {
    return _mm256_or_ps(_mm256_cmp_ps(b, a, _CMP_GT_OQ), _mm256_cmp_ps(b, b, _CMP_UNORD_Q));
}

/* window_max_run on 8 lanes: outputs [ox, ox + n) (n <= 8) of input rows
 * r0 and r1, a short run's missing columns loaded as 0 */
TGT_AVX2 static ALWAYS_INLINE __m256 window_max8_run(const float *r0, const float *r1, int64_t ox, int64_t n,
                                                     bool add, __m256 av, __m256i *where) {
    __m256 a0, a1, b0, b1;
    if (n == 8) {
        a0 = _mm256_loadu_ps(r0 + 2 * ox), a1 = _mm256_loadu_ps(r0 + 2 * ox + 8);
        b0 = _mm256_loadu_ps(r1 + 2 * ox), b1 = _mm256_loadu_ps(r1 + 2 * ox + 8);
    } else {
        __m256i k0 = first_lanes8(2 * n), k1 = first_lanes8(2 * n - 8);
        a0 = _mm256_maskload_ps(r0 + 2 * ox, k0), a1 = _mm256_maskload_ps(r0 + 2 * ox + 8, k1);
        b0 = _mm256_maskload_ps(r1 + 2 * ox, k0), b1 = _mm256_maskload_ps(r1 + 2 * ox + 8, k1);
    }
    if (add) {
        a0 = _mm256_add_ps(a0, av), a1 = _mm256_add_ps(a1, av);
        b0 = _mm256_add_ps(b0, av), b1 = _mm256_add_ps(b1, av);
    }
    __m256 c0 = evens8(a0, a1), c1 = odds8(a0, a1), c2 = evens8(b0, b1), c3 = odds8(b0, b1);
    __m256 k01 = takes8(c1, c0), k23 = takes8(c3, c2);
    __m256 m01 = _mm256_blendv_ps(c0, c1, k01), m23 = _mm256_blendv_ps(c2, c3, k23);
    __m256 k = takes8(m23, m01);
    __m256i w01 = _mm256_and_si256(_mm256_castps_si256(k01), _mm256_set1_epi32(1));
    __m256i w23 = _mm256_sub_epi32(_mm256_set1_epi32(2), _mm256_castps_si256(k23));   /* 2, or 3 where k23 */
    *where = _mm256_blendv_epi8(w01, w23, _mm256_castps_si256(k));
    return _mm256_blendv_ps(m01, m23, k);
}

/* pool2x2_plane_f32 (the AVX-512 form, below) on AVX2, 8 outputs a
 * vector. A short run's 8 lanes are stored whole where the spill lands on
 * the plane's later output rows (written after), else through a buffer
 * (AMD's masked stores are slow). */
TGT_AVX2 static void pool2x2_plane_f32_avx2(float *out, uint8_t *code, const float *x, int64_t H, int64_t W,
                                            const float *add, bool relu) {
    int64_t Ho = H / 2, Wo = W / 2, tot = Ho * Wo;
    const __m256 av = _mm256_set1_ps(add ? *add : 0.0f), zero = _mm256_setzero_ps();
    const __m256i four = _mm256_set1_epi32(4);
    for (int64_t oy = 0; oy < Ho; oy++) {
        const float *r0 = x + 2 * oy * W, *r1 = r0 + W;
        for (int64_t ox = 0; ox < Wo; ox += 8) {
            int64_t n = Wo - ox < 8 ? Wo - ox : 8, at = oy * Wo + ox;
            __m256i where;
            __m256 m = window_max8_run(r0, r1, ox, n, add != NULL, av, &where);
            if (relu) {   /* window_relu: x > 0 ? x : NaN stays, else 0; code 4 where x <= 0 */
                __m256 keep = _mm256_cmp_ps(m, zero, _CMP_NLE_UQ);
                m = _mm256_and_ps(m, keep);
                where = _mm256_or_si256(where, _mm256_andnot_si256(_mm256_castps_si256(keep), four));
            }
            __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(where), _mm256_extracti128_si256(where, 1));
            __m128i w8 = _mm_packus_epi16(w16, w16);
            if (at + 8 <= tot) {
                _mm256_storeu_ps(out + at, m);
                _mm_storel_epi64((__m128i *)(code + at), w8);
            } else {
                float mb[8];
                uint8_t cb[16];
                _mm256_storeu_ps(mb, m);
                _mm_storeu_si128((__m128i *)cb, w8);
                memcpy(out + at, mb, n * sizeof(float));
                memcpy(code + at, cb, n);
            }
        }
    }
}

/* the first nf (<= 16) floats of v[0], v[1] to p: both vectors whole
 * where whole (what they spill onto is written after), else through a
 * buffer */
TGT_AVX2 static ALWAYS_INLINE void store_run16(float *p, const __m256 v[2], int64_t nf, bool whole) {
    if (whole) {
        _mm256_storeu_ps(p, v[0]);
        _mm256_storeu_ps(p + 8, v[1]);
    } else {
        float b[16];
        _mm256_storeu_ps(b, v[0]);
        _mm256_storeu_ps(b + 8, v[1]);
        memcpy(p, b, nf * sizeof(float));
    }
}

/* unpool2x2_plane_f32 on AVX2: each 8 outputs' values go to their places
 * in two runs of 16 columns (the even and odd lanes interleaved back). A
 * short run's 16 columns are stored whole where what they spill onto is
 * written after: row 1's later rows, or the last odd row and column that
 * are zeroed at the end; row 0's spill is row 1's start only when one run
 * covers the row. Else through a buffer. */
TGT_AVX2 static void unpool2x2_plane_f32_avx2(float *gx, const float *g, const uint8_t *code, int64_t H,
                                              int64_t W) {
    int64_t Ho = H / 2, Wo = W / 2, tot = Ho * Wo, plane = H * W;
    const __m256i three = _mm256_set1_epi32(3), four = _mm256_set1_epi32(4);
    for (int64_t oy = 0; oy < Ho; oy++) {
        float *r0 = gx + 2 * oy * W, *r1 = r0 + W;
        for (int64_t ox = 0; ox < Wo; ox += 8) {
            int64_t n = Wo - ox < 8 ? Wo - ox : 8, at = oy * Wo + ox;
            __m256 v = n == 8 ? _mm256_loadu_ps(g + at) : _mm256_maskload_ps(g + at, first_lanes8(n));
            __m128i c8;
            if (at + 8 <= tot) c8 = _mm_loadl_epi64((const __m128i *)(code + at));
            else {
                uint8_t cb[16] = { 0 };
                memcpy(cb, code + at, n);
                c8 = _mm_loadu_si128((const __m128i *)cb);
            }
            __m256i c = _mm256_cvtepu8_epi32(c8);
            /* 0 where the ReLU zeroed it, as the ReLU's backward selects */
            __m256 zeroed = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(c, four), four));
            v = _mm256_andnot_ps(zeroed, v);
            __m256i w = _mm256_and_si256(c, three);
            __m256 e0 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(w, _mm256_setzero_si256())));
            __m256 o0 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(w, _mm256_set1_epi32(1))));
            __m256 e1 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(w, _mm256_set1_epi32(2))));
            __m256 o1 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(w, three)));
            __m256 lo0 = _mm256_unpacklo_ps(e0, o0), hi0 = _mm256_unpackhi_ps(e0, o0);
            __m256 lo1 = _mm256_unpacklo_ps(e1, o1), hi1 = _mm256_unpackhi_ps(e1, o1);
            __m256 row0[2] = { _mm256_permute2f128_ps(lo0, hi0, 0x20), _mm256_permute2f128_ps(lo0, hi0, 0x31) };
            __m256 row1[2] = { _mm256_permute2f128_ps(lo1, hi1, 0x20), _mm256_permute2f128_ps(lo1, hi1, 0x31) };
            int64_t base0 = 2 * oy * W + 2 * ox, base1 = base0 + W;
            store_run16(r0 + 2 * ox, row0, 2 * n, n == 8 || (Wo <= 8 && base0 + 16 <= plane));
            store_run16(r1 + 2 * ox, row1, 2 * n, n == 8 || base1 + 16 <= plane);
        }
        if (W & 1) r0[W - 1] = r1[W - 1] = 0;
    }
    if (H & 1) memset(gx + (H - 1) * W, 0, W * sizeof(float));
}

/* A plane whose output rows are at most 8 wide is pooled two output rows
 * a vector (lanes 0-7 and 8-15; the four input rows as a0, b0, a1, b1),
 * the two rows packed together by a compress: a 14 x 14 plane 1.68x as
 * fast as a row a vector, in alternated rounds (its window_max4 alone,
 * against taking the four values in turn: a 28 x 28 plane 1.10x). The
 * backward's scatter taken the same way (expand, then four rows' stores)
 * ran alike, 0.99-1.02x. */
#define PAIR_ROWS_MAX 8

/* out (H/2, W/2) = the window maxima of one plane x (H, W), each value plus
 * *add when given (the bias, as nl_conv2d adds it), then the ReLU when
 * relu; code as in pool_fuse */
TGT_AVX512 static void pool2x2_plane_f32(float *out, uint8_t *code, const float *x, int64_t H, int64_t W,
                                         const float *add, bool relu) {
    int64_t Ho = H / 2, Wo = W / 2, oy = 0;
    const __m512 av = _mm512_set1_ps(add ? *add : 0.0f);
    if (Wo <= PAIR_ROWS_MAX) {
        __mmask16 in = lane_range(0, 2 * Wo), both = lane_range(0, Wo) | lane_range(8, 8 + Wo);
        for (; oy + 2 <= Ho; oy += 2) {
            const float *r = x + 2 * oy * W;
            __m512i where;
            __m512 m = window_max(r, r + 2 * W, r + W, r + 3 * W, in, in, add != NULL, av, &where);
            if (relu) window_relu(&m, &where);
            _mm512_mask_storeu_ps(out + oy * Wo, in, _mm512_maskz_compress_ps(both, m));
            _mm512_mask_cvtepi32_storeu_epi8(code + oy * Wo, in, _mm512_maskz_compress_epi32(both, where));
        }
    }
    for (; oy < Ho; oy++) {
        const float *r0 = x + 2 * oy * W, *r1 = r0 + W;
        for (int64_t ox = 0; ox < Wo; ox += 16) {
            int64_t n = Wo - ox < 16 ? Wo - ox : 16;
            __mmask16 mo = lane_range(0, n);
            __m512i where;
            __m512 m = window_max_run(r0, r1, ox, n, add != NULL, av, &where);
            if (relu) window_relu(&m, &where);
            _mm512_mask_storeu_ps(out + oy * Wo + ox, mo, m);
            _mm512_mask_cvtepi32_storeu_epi8(code + oy * Wo + ox, mo, where);
        }
    }
}

/* gx (H, W), one plane, written whole, from the pooled gradient g (H/2,
 * W/2): each window gets g at its maximum (times 0 where the ReLU zeroed
 * it, as the ReLU's backward multiplies) and 0 elsewhere; an odd last row
 * or column gets 0 */
TGT_AVX512 static void unpool2x2_plane_f32(float *gx, const float *g, const uint8_t *code, int64_t H, int64_t W) {
    int64_t Ho = H / 2, Wo = W / 2;
    const __m512i three = _mm512_set1_epi32(3), four = _mm512_set1_epi32(4);
    for (int64_t oy = 0; oy < Ho; oy++) {
        float *r0 = gx + 2 * oy * W, *r1 = r0 + W;
        for (int64_t ox = 0; ox < Wo; ox += 16) {
            int64_t n = Wo - ox < 16 ? Wo - ox : 16;
            __mmask16 mo = lane_range(0, n);
            __m512 v = _mm512_maskz_loadu_ps(mo, g + oy * Wo + ox);
            __m512i c = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mo, code + oy * Wo + ox));
            v = _mm512_mask_mov_ps(v, _mm512_test_epi32_mask(c, four), _mm512_setzero_ps());
            window_scatter(r0, r1, ox, n, v, _mm512_and_si512(c, three));
        }
        if (W & 1) r0[W - 1] = r1[W - 1] = 0;
    }
    if (H & 1) memset(gx + (H - 1) * W, 0, W * sizeof(float));
}

/* ---- convolution: forward ---- */

/* out (N, O, Ho, Wo) = conv(x (N, C, H, W), w (O, C/G, kh, kw)) + b (O).
 * Per block of S images and group q:
 *   ob_q (O/G, S*L) = w_q (O/G, kg) @ col_q (kg, S*L)
 * then each image's columns of ob, plus the bias, go to out; a block of
 * one image is written straight into out, on top of the bias. With pf,
 * each plane of ob is pooled into pf->pooled instead (out is unused), and a
 * block of one image goes on top of the bias in ob.
 * scratch: per batch thread, col (C*kh*kw, S*L) and ob (O, S*L). */
static void conv2d_forward(void *out, const void *x, const void *w, const void *b, void *scratch,
                           const conv_geom *G, const conv_plan *P, const pool_fuse *pf, int dtype) {
    int64_t es = nl_dtype_size(dtype), krows = G->c * G->kh * G->kw, xsz = G->c * G->h * G->w;
    int64_t per_thread = fwd_scratch(G, P, pf != NULL);
    bool sk = small_k(G, dtype);
    int64_t asz = 0, abytes = 0;
    int64_t wbytes = G->o * krows * (int64_t)sizeof(float);
    float *wpk = P->fwdrows ? nl_alloc_scratch(&wbytes) : NULL;     /* W's panels for fwd_rows_image */
    if (wpk) fwd_rows_weights(wpk, w, G);
    float *apack = wpk ? NULL : weights_packed(G, w, dtype, sk, false, &asz, &abytes);
    NL_PARALLEL_FOR_DYNAMIC(P->nt_batch, blk, P->nblk,
        int64_t n0 = blk * P->s, sn = G->n - n0 < P->s ? G->n - n0 : P->s, ld = sn * G->l;
        char *col = (char *)scratch + omp_get_thread_num() * per_thread * es;
        bool one = sn == 1 && !wpk;       /* the product goes on top of the bias (the col path) */
        bool direct = one && !pf;         /* ... in out */
        char *ob;
        if (wpk) {                        /* ob after xt, in col's room */
            float *xt = align64(col);
            int64_t xtn = fwdrows_floats(G, P) - G->o * P->s * G->l;
            int64_t xtc = G->c * G->hpad * G->wpad;
            ob = (char *)(xt + xtn - 16);
            memset(xt + xtc, 0, (xtn - 16 - xtc) * sizeof(float));    /* the last tiles' rows past the image */
            for (int64_t i = 0; i < sn; i++) {
                rows32_f32(xt, (const float *)x + (n0 + i) * xsz, G);
                fwd_rows_image((float *)ob + i * G->l, ld, xt, wpk, G);
            }
        } else {
            ob = direct ? (char *)out + n0 * G->o * G->l * es : col + krows * P->s * G->l * es;
            for (int64_t i = 0; i < sn; i++)
                im2col(dtype, col + i * G->l * es, (const char *)x + (n0 + i) * xsz * es, G, ld);
            if (one && b && !sk)          /* the GEMM adds the product to the bias (beta 1) */
                for (int64_t o = 0; o < G->o; o++) {
                    if (dtype == NL_FLOAT32)
                        for (int64_t l = 0; l < G->l; l++) ((float *)ob)[o * G->l + l] = ((const float *)b)[o];
                    else
                        for (int64_t l = 0; l < G->l; l++) ((double *)ob)[o * G->l + l] = ((const double *)b)[o];
                }
            for (int64_t q = 0; q < G->groups; q++) {
                const char *wq = (const char *)w + q * G->og * G->kg * es, *cq = col + q * G->kg * ld * es;
                char *oq = ob + q * G->og * ld * es;
                if (sk)
                    gemm_small_k_f32(G->og, ld, G->kg, (const float *)wq, G->kg, (const float *)cq, ld,
                                     one && b ? (const float *)b + q * G->og : NULL, (float *)oq, ld);
                else if (!apack || !nl_sgemm_packed(G->og, ld, G->kg, apack + q * asz, (const float *)cq, ld, 1,
                                                    one && b ? 1.0f : 0.0f, (float *)oq, ld, P->nt_gemm))
                    nl_conv_gemm(dtype, G->og, ld, G->kg, wq, G->kg, 1, cq, ld, 1, one && b ? 1.0 : 0.0, oq, ld, 1,
                         P->nt_gemm);
            }
        }
        for (int64_t i = 0; i < sn && pf; i++)
            for (int64_t o = 0; o < G->o; o++) {
                float v = b ? ((const float *)b)[o] : 0;
                int64_t at = ((n0 + i) * G->o + o) * pf->hp * pf->wp;
                const float *plane = (const float *)ob + o * ld + i * G->l;
                if (nl_cpu_avx512())
                    pool2x2_plane_f32(pf->pooled + at, pf->code + at, plane, G->ho, G->wo, one ? NULL : &v, pf->relu);
                else
                    pool2x2_plane_f32_avx2(pf->pooled + at, pf->code + at, plane, G->ho, G->wo, one ? NULL : &v,
                                           pf->relu);
            }
        for (int64_t i = 0; i < sn && !one && !pf; i++)
            for (int64_t o = 0; o < G->o; o++) {
                const char *src = ob + (o * ld + i * G->l) * es;
                char *dst = (char *)out + ((n0 + i) * G->o + o) * G->l * es;
                if (dtype == NL_FLOAT32) {
                    float v = b ? ((const float *)b)[o] : 0;
                    for (int64_t l = 0; l < G->l; l++) ((float *)dst)[l] = ((const float *)src)[l] + v;
                } else {
                    double v = b ? ((const double *)b)[o] : 0;
                    for (int64_t l = 0; l < G->l; l++) ((double *)dst)[l] = ((const double *)src)[l] + v;
                }
            }
    );
    if (apack) nl_free(apack, abytes);
    if (wpk) nl_free(wpk, wbytes);
}

nl_tensor *nl_conv2d(nl_tensor *x, nl_tensor *weight, nl_tensor *bias, int64_t stride_h, int64_t stride_w,
                     int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w, int64_t groups) {
    const char *op = "conv2d";
    int64_t a[7] = { stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups };
    conv_geom G;
    if (!conv_check(op, x, weight, bias, a, &G)) return NULL;
    int64_t es = nl_dtype_size(x->dtype);
    conv_plan P;
    plan_init(&P, &G, fwd_image_bytes(&G, es), x->dtype);
    P.fwdrows = fwdrows_ok(&G, &P, x->dtype);
    int64_t osz[4] = { G.n, G.o, G.ho, G.wo };
    int64_t scratch_n = P.nt_batch * fwd_scratch(&G, &P, false);
    nl_tensor *xc = nl_contiguous(x), *wc = xc ? nl_contiguous(weight) : NULL;
    nl_tensor *bc = wc && bias ? nl_contiguous(bias) : NULL;
    nl_tensor *scratch = wc && (bc || !bias) ? nl_tensor_alloc(op, 1, &scratch_n, x->dtype) : NULL;
    nl_tensor *out = scratch ? nl_tensor_alloc(op, 4, osz, x->dtype) : NULL;
    if (out && out->numel)
        conv2d_forward(out->data, xc->data, wc->data, bc ? bc->data : NULL, scratch->data, &G, &P, NULL, x->dtype);
    nl_release(xc);
    nl_release(wc);
    nl_release(bc);
    nl_release(scratch);
    nl_node *n = nl_record(NL_OP_CONV2D, out, bias ? 3 : 2, (nl_tensor *[]){ x, weight, bias });
    if (n) {
        n->needs_in = 3;                 /* backward reads the input and the weight */
        memcpy(n->a, a, sizeof(a));
    }
    return out;
}

/* ---- conv2d, 2x2 max pool and ReLU: one op ---- */

nl_tensor *nl_conv2d_pool(nl_tensor *x, nl_tensor *weight, nl_tensor *bias, int64_t stride_h, int64_t stride_w,
                          int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w, int64_t groups,
                          int relu) {
    const char *op = "conv2d";
    int64_t a[8] = { stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups, relu != 0 };
    conv_geom G;
    if (!conv_check(op, x, weight, bias, a, &G)) return NULL;
    if (x->dtype != NL_FLOAT32 || !nl_cpu_avx2() || G.ho < 2 || G.wo < 2) {
        /* the three ops in turn (their errors, if any, are theirs) */
        nl_tensor *y = nl_conv2d(x, weight, bias, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups);
        nl_tensor *p = y ? nl_max_pool2d(y, 2, 2, 2, 2, 0, 0, 1, 1, 0, NULL, 0) : NULL;
        nl_release(y);
        if (!p || !relu) return p;
        nl_tensor *r = nl_unary(NL_OP_RELU, p);
        nl_release(p);
        return r;
    }
    conv_plan P;
    plan_init(&P, &G, fwd_image_bytes(&G, 4), x->dtype);
    P.fwdrows = fwdrows_ok(&G, &P, x->dtype);
    int64_t osz[4] = { G.n, G.o, G.ho / 2, G.wo / 2 };
    int64_t scratch_n = P.nt_batch * fwd_scratch(&G, &P, true), code_n = (G.n * G.o * osz[2] * osz[3] + 3) / 4;
    NL_TEMPS(tmps);
    nl_tensor *xc = TMP(nl_contiguous(x)), *wc = TMP(nl_contiguous(weight));
    nl_tensor *bc = bias ? TMP(nl_contiguous(bias)) : NULL;
    nl_tensor *scratch = TMP(nl_tensor_alloc(op, 1, &scratch_n, x->dtype));
    /* the codes, a byte per output, in a float32 tensor's storage: the node
     * keeps them for the backward, and nothing else reads them */
    nl_tensor *code = TMP(nl_tensor_alloc(op, 1, &code_n, NL_FLOAT32));
    nl_tensor *out = TMP(nl_tensor_alloc(op, 4, osz, x->dtype));
    pool_fuse pf = { out->data, code->data, osz[2], osz[3], relu != 0 };
    if (out->numel)
        conv2d_forward(NULL, xc->data, wc->data, bc ? bc->data : NULL, scratch->data, &G, &P, &pf, x->dtype);
    nl_node *n = nl_record(NL_OP_CONV2D_POOL, out, bias ? 3 : 2, (nl_tensor *[]){ x, weight, bias });
    if (n) {
        n->needs_in = 3;                 /* backward reads the input and the weight */
        memcpy(n->a, a, sizeof(a));
        nl_node_save(n, code);
    }
    out = nl_keep_ref(out);
    nl_temps_free(&tmps);
    return out;
fail:
    nl_temps_free(&tmps);
    return NULL;
}

/* ---- convolution: backward ---- */

/* sum of n floats in 16 independent lanes (vectorizable), in double at the end */
static double sum_f32(const float *p, int64_t n) {
    float acc[16] = { 0 };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += p[i + k];
    double s = 0;
    for (; i < n; i++) s += p[i];
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

/* For each block of S images and group q, with gb (O, S*L) the blocks'
 * output gradients side by side:
 *   gw_q (O/G, kg) += gb_q (O/G, S*L) @ col_q^T (S*L, kg)
 *   gcol_q (kg, S*L) = w_q^T (kg, O/G) @ gb_q (O/G, S*L), then each image's
 *                      columns go back through col2im into gx
 *   bias grad (O)   += gb summed over S*L
 * The weight gradient accumulates transposed, acc (G, kg, O/G) per slot
 * (BLIS runs this product faster into a column-major C), or with small K
 * as 16 lane-wise partial sums, acc (G, O/G, kg, 16); the slots'
 * accumulators are summed into gw (O, C/G, kh, kw) at the end, as the bias
 * gradient's partial sums gb_part are. With pf, gb is rebuilt from the
 * pooled gradient pf->pooled (g is unused).
 * scratch: nslot accumulators, then per batch thread the block's gb, col
 * and gcol. */
static bool conv2d_backward(void *gx, void *gw, void *gbias, const void *g, const void *x, const void *w,
                            void *scratch, double *gb_part /* (nslot, O) */, int64_t nslot, const conv_geom *G,
                            const conv_plan *P, const pool_fuse *pf, int dtype) {
    int64_t es = nl_dtype_size(dtype), krows = G->c * G->kh * G->kw;
    int64_t xsz = G->c * G->h * G->w, gsz = G->o * G->l, bl = P->s * G->l;
    bool sk = small_k(G, dtype);
    int64_t accsz = bwd_acc(G, dtype, gw != NULL), per_thread = bwd_scratch(G, P, gw != NULL, gx != NULL, pf != NULL);
    int64_t asz = 0, abytes = 0;
    int64_t tsz = nl_sgemm_packed_b_floats(G->o, G->c), tbytes = G->kh * G->kw * tsz * (int64_t)sizeof(float);
    float *taps = gx && P->rowsx ? nl_alloc_scratch(&tbytes) : NULL;   /* W_ij (O, C), packed, tap by tap */
    float *apack = gx && !taps ? weights_packed(G, w, dtype, false, true, &asz, &abytes) : NULL;
    int64_t Hp = G->hpad, Wp = G->wpad, poff[ROWS_PANELS_MAX];
    if (taps)
        for (int64_t t = 0; t < G->kh * G->kw; t++)
            nl_sgemm_pack_b(taps + t * tsz, G->o, G->c, (const float *)w + t, G->c * G->kh * G->kw, G->kh * G->kw);
    if (gw && P->rows)           /* panel (i, j, cb): block cb's plane, shifted by the tap */
        for (int64_t i = 0, p = 0; i < G->kh; i++)
            for (int64_t j = 0; j < G->kw; j++)
                for (int64_t cb = 0; cb < G->c / 32; cb++, p++)
                    poff[p] = cb * Hp * Wp * 32 + (i * G->dh * Wp + j * G->dw) * 32;
    bool declined = false;     /* a rows kernel refused its product (rows_ok's conditions not its own) */
    if (sk) memset(scratch, 0, nslot * accsz * es);    /* the products start each slot at beta 0 */
    if (gbias) memset(gb_part, 0, nslot * G->o * sizeof(double));
    NL_PARALLEL_FOR_DYNAMIC(P->nt_batch, slot, nslot,
      int64_t first = P->nblk * slot / nslot;    /* the run's first block starts its accumulator */
      for (int64_t blk = first; blk < P->nblk * (slot + 1) / nslot; blk++) {
        int tid = omp_get_thread_num();
        int64_t n0 = blk * P->s, sn = G->n - n0 < P->s ? G->n - n0 : P->s, ld = sn * G->l;
        char *acc = (char *)scratch + slot * accsz * es;
        char *gbuf = (char *)scratch + (nslot * accsz + tid * per_thread) * es;
        char *col = gbuf + (P->s > 1 || pf ? G->o * bl * es : 0);
        char *gcol = col + (!gw ? 0 : P->rows ? rows_floats(G, P) * es : krows * bl * es);
        bool direct = sn == 1 && !pf;     /* one image: its gradient is read in place */
        const char *gb = direct ? (const char *)g + n0 * gsz * es : gbuf;
        for (int64_t i = 0; i < sn; i++)          /* gb: the block's gradients side by side */
            for (int64_t o = 0; o < G->o; o++) {
                char *dst = gbuf + (o * ld + i * G->l) * es;
                const char *src = pf ? dst : (const char *)g + ((n0 + i) * gsz + o * G->l) * es;
                if (pf) {
                    int64_t at = ((n0 + i) * G->o + o) * pf->hp * pf->wp;
                    if (nl_cpu_avx512())
                        unpool2x2_plane_f32((float *)dst, pf->pooled + at, pf->code + at, G->ho, G->wo);
                    else
                        unpool2x2_plane_f32_avx2((float *)dst, pf->pooled + at, pf->code + at, G->ho, G->wo);
                } else if (!direct) memcpy(dst, src, G->l * es);
                if (gbias) {
                    double *part = gb_part + slot * G->o + o;
                    if (dtype == NL_FLOAT32) *part += sum_f32((const float *)src, G->l);
                    else for (int64_t l = 0; l < G->l; l++) *part += ((const double *)src)[l];
                }
            }
        if (gw && P->rows) {
            float *xt = align64(col);
            int64_t timg = G->c * Hp * Wp;
            for (int64_t i = 0; i < sn; i++) rows32_f32(xt + i * timg, (const float *)x + (n0 + i) * xsz, G);
            nl_bsegs bs = { sn, G->l, G->wo, (Wp - G->wo) * 32, xt, timg, poff };
            if (!nl_sgemm_bsegs(G->o, G->kg, (const float *)gb, ld, 1, &bs, blk == first ? 0.0f : 1.0f,
                                (float *)acc, G->kg, xt + P->s * timg))
                __atomic_store_n(&declined, true, __ATOMIC_RELAXED);
        } else if (gw) {
            for (int64_t i = 0; i < sn; i++)
                im2col(dtype, col + i * G->l * es, (const char *)x + (n0 + i) * xsz * es, G, ld);
            for (int64_t q = 0; q < G->groups; q++) {
                const char *gq = gb + q * G->og * ld * es, *cq = col + q * G->kg * ld * es;
                if (sk)
                    gemm_nt_small_k_f32(G->og, G->kg, ld, (const float *)gq, ld, (const float *)cq, ld,
                                        (float *)acc + q * G->og * G->kg * 16);
                else
                    nl_conv_gemm(dtype, G->og, G->kg, ld, gq, ld, 1, cq, 1, ld, blk == first ? 0.0 : 1.0,
                         acc + q * G->kg * G->og * es, 1, G->og, P->nt_gemm);
            }
        }
        if (gx && taps) {
            float *gt = align64(gcol);
            int64_t gimg = Hp * Wp * G->c;
            float *gtp = gt + P->s * gimg;                         /* g^T (positions, O), packed */
            float **rowp = (float **)(gtp + nl_sgemm_packed_a_floats(P->s * G->l, G->o));
            memset(gt, 0, sn * gimg * sizeof(float));
            nl_sgemm_pack_a(gtp, ld, G->o, (const float *)gb, 1, ld);
            for (int64_t i = 0, r = 0; i < sn; i++)
                for (int64_t oy = 0; oy < G->ho; oy++)
                    for (int64_t ox = 0; ox < G->wo; ox++, r++) rowp[r] = gt + i * gimg + (oy * Wp + ox) * G->c;
            for (int64_t i = 0; i < G->kh; i++)
                for (int64_t j = 0; j < G->kw; j++)
                    if (!nl_sgemm_crows(ld, G->c, G->o, gtp, taps + (i * G->kw + j) * tsz, rowp,
                                        (i * G->dh * Wp + j * G->dw) * G->c))
                        __atomic_store_n(&declined, true, __ATOMIC_RELAXED);
            for (int64_t i = 0; i < sn; i++) unrows_f32((float *)gx + (n0 + i) * xsz, gt + i * gimg, G);
        } else if (gx) {
            for (int64_t q = 0; q < G->groups; q++)
                if (!apack || !nl_sgemm_packed(G->kg, ld, G->og, apack + q * asz,
                                               (const float *)(gb + q * G->og * ld * es), ld, 1, 0.0f,
                                               (float *)(gcol + q * G->kg * ld * es), ld, P->nt_gemm))
                    nl_conv_gemm(dtype, G->kg, ld, G->og, (const char *)w + q * G->og * G->kg * es, 1, G->kg,
                         gb + q * G->og * ld * es, ld, 1, 0.0, gcol + q * G->kg * ld * es, ld, 1, P->nt_gemm);
            for (int64_t i = 0; i < sn; i++)
                col2im(dtype, (char *)gx + (n0 + i) * xsz * es, gcol + i * G->l * es, G, ld);
        }
      }
    );
    if (gw) {
        /* slot 0 += the other slots, in order; then gw[q*og + o][k] = slot 0 */
        int nt = nl_threads_for(nslot * accsz, POOL_GRAIN);
        NL_PARALLEL_FOR(nslot > 1 ? nt : 1, ch, nslot > 1 ? (accsz + 4095) / 4096 : 0,
            int64_t e0 = ch * 4096, e1 = accsz - e0 < 4096 ? accsz : e0 + 4096;
            for (int64_t t = 1; t < nslot; t++) {
                if (dtype == NL_FLOAT32) {
                    float *d = scratch;
                    const float *p = d + t * accsz;
                    for (int64_t e = e0; e < e1; e++) d[e] += p[e];
                } else {
                    double *d = scratch;
                    const double *p = d + t * accsz;
                    for (int64_t e = e0; e < e1; e++) d[e] += p[e];
                }
            });
        nt = nl_threads_for(accsz, POOL_GRAIN);
        NL_PARALLEL_FOR(nt, qo, G->o,
            int64_t q = qo / G->og, o = qo % G->og;
            for (int64_t k = 0; k < G->kg; k++) {
                double s = 0;
                if (sk) {                /* acc (G, og, kg, 16) */
                    const float *p = (const float *)scratch + (qo * G->kg + k) * 16;
                    for (int lane = 0; lane < 16; lane++) s += p[lane];
                } else if (P->rows) {    /* acc (O, kh*kw*C), tap-major */
                    s = ((const float *)scratch)[qo * G->kg + k % (G->kh * G->kw) * G->c + k / (G->kh * G->kw)];
                } else {                 /* acc (G, kg, og) */
                    int64_t src = (q * G->kg + k) * G->og + o;
                    s = nl_load((const char *)scratch + src * es, dtype);
                }
                nl_store((char *)gw + (qo * G->kg + k) * es, dtype, s);
            }
        );
    }
    if (gbias)
        for (int64_t o = 0; o < G->o; o++) {
            double s = 0;
            for (int64_t t = 0; t < nslot; t++) s += gb_part[t * G->o + o];
            nl_store((char *)gbias + o * es, dtype, s);
        }
    if (apack) nl_free(apack, abytes);
    if (taps) nl_free(taps, tbytes);
    return !declined;
}

/* the backward of both ops: g is the gradient of nl_conv2d's output, or of
 * nl_conv2d_pool's pooled one (pooled) */
static int conv_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin, const char *op, bool pooled) {
    NL_TEMPS(tmps);
    nl_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    conv_geom G;
    geom_init(&G, x, w, nd->a);
    bool need_gx = nl_node_wants(nd, 0), need_gw = nl_node_wants(nd, 1), need_gb = nl_node_wants(nd, 2);
    if (G.n == 0) {
        /* an empty batch: zero gradients (no block ran to start the
         * accumulators, and the weight's gradient was the scratch's old
         * contents) */
        if (need_gx && !(gin[0] = nl_full(4, x->sizes, 0.0, x->dtype))) goto fail;
        if (need_gw && !(gin[1] = nl_full(4, w->sizes, 0.0, w->dtype))) goto fail;
        if (need_gb && !(gin[2] = nl_full(1, b->sizes, 0.0, b->dtype))) goto fail;
        return 0;
    }
    int64_t es = nl_dtype_size(x->dtype);
    conv_plan P;
    plan_init(&P, &G, bwd_image_bytes(&G, es, need_gw, need_gx), x->dtype);
    P.rows = need_gw && rows_ok(&G, &P, x->dtype);
    P.rowsx = need_gx && rows_layout_ok(&G, &P, x->dtype);
    int64_t accsz = bwd_acc(&G, x->dtype, need_gw), nslot = bwd_slots(&P, accsz, es);
    int64_t scratch_n = nslot * accsz + P.nt_batch * bwd_scratch(&G, &P, need_gw, need_gx, pooled);
    nl_tensor *gc = TMP(nl_contiguous(g));
    nl_tensor *xc = need_gw ? TMP(nl_contiguous(x)) : NULL;
    nl_tensor *wc = need_gx ? TMP(nl_contiguous(w)) : NULL;
    nl_tensor *scratch = TMP(nl_tensor_alloc(op, 1, &scratch_n, x->dtype));
    nl_tensor *gx = need_gx ? TMP(nl_tensor_alloc(op, 4, x->sizes, x->dtype)) : NULL;
    nl_tensor *gw = need_gw ? TMP(nl_tensor_alloc(op, 4, w->sizes, w->dtype)) : NULL;
    nl_tensor *gb = need_gb ? TMP(nl_tensor_alloc(op, 1, b->sizes, b->dtype)) : NULL;
    int64_t part_n = need_gb ? nslot * G.o : 0;
    nl_tensor *gb_part = TMP(nl_tensor_alloc(op, 1, &part_n, NL_FLOAT64));
    pool_fuse pf = { gc->data, pooled ? nd->saved->data : NULL, G.ho / 2, G.wo / 2, pooled && nd->a[7] != 0 };
    if (!conv2d_backward(gx ? gx->data : NULL, gw ? gw->data : NULL, gb ? gb->data : NULL, gc->data,
                         xc ? xc->data : NULL, wc ? wc->data : NULL, scratch->data, gb_part->data, nslot, &G, &P,
                         pooled ? &pf : NULL, x->dtype)) {
        nl_set_error("%s backward: internal error: the channels-last kernels declined input %s, weight %s", op,
                     nl_shape_str(x), nl_shape_str(w));
        goto fail;
    }
    if (gx) gin[0] = nl_keep_ref(gx);
    if (gw) gin[1] = nl_keep_ref(gw);
    if (gb) gin[2] = nl_keep_ref(gb);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
static int conv2d_backward_node(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    return conv_backward(nd, g, gin, "conv2d", false);
}
NL_REGISTER_BACKWARD(NL_OP_CONV2D, conv2d_backward_node)

static int conv2d_pool_backward_node(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    return conv_backward(nd, g, gin, "conv2d_pool", true);
}
NL_REGISTER_BACKWARD(NL_OP_CONV2D_POOL, conv2d_pool_backward_node)

/* ---- transposed convolution ----
 * conv_transpose2d(x (N, Ci, H, W), w (Ci, Co/G, kh, kw)) is the input
 * gradient of the convolution by w (same stride, padding, dilation and
 * groups) of an (N, Co, Ho, Wo) image, taken at output gradient x. So its
 * forward is conv2d_backward's input-gradient path, its input's gradient
 * that convolution's forward of g, and its weight's gradient the
 * convolution's weight gradient with input g and output gradient x: the
 * kernels nl_conv2d runs, fast paths and all. G below is that convolution's
 * geometry: G->n, c, h, w the transposed output, G->o, ho, wo its input. */

/* Checks conv_transpose2d's arguments (a: stride, padding, dilation,
 * groups) against the output size (out_h, out_w) and fills G. */
static bool convt_check(const char *op, nl_tensor *x, nl_tensor *w, nl_tensor *b, const int64_t *a,
                        int64_t out_h, int64_t out_w, conv_geom *G) {
    if (!conv_args_ok(op, x, w, a, "in_channels, out_channels/groups, kh, kw")) return false;
    if (x->sizes[1] != w->sizes[0] || w->sizes[0] % a[6]) {
        nl_set_error("%s: input has %lld channels, weight expects %lld, which groups %lld must divide "
                     "(input %s, weight %s)", op, (long long)x->sizes[1], (long long)w->sizes[0], (long long)a[6],
                     nl_shape_str(x), nl_shape_str(w));
        return false;
    }
    if (w->sizes[0] < 1 || w->sizes[1] < 1 || w->sizes[2] < 1 || w->sizes[3] < 1 || x->sizes[2] < 1 ||
        x->sizes[3] < 1) {
        nl_set_error("%s: input %s or weight %s has an empty dim", op, nl_shape_str(x), nl_shape_str(w));
        return false;
    }
    int64_t co = w->sizes[1] * a[6];
    if (b && (b->ndim != 1 || b->sizes[0] != co || b->dtype != x->dtype)) {
        nl_set_error("%s: bias must be a 1-D %s tensor of the %lld output channels, got %s %s", op, DT(x),
                     (long long)co, DT(b), nl_shape_str(b));
        return false;
    }
    /* past 2^40 a size is a mistake, and the products below could overflow */
    if (out_h < 1 || out_w < 1 || out_h > ((int64_t)1 << 40) || out_w > ((int64_t)1 << 40)) {
        nl_set_error("%s: output size [%lld,%lld] must be positive and below 2^40 (input %s, weight %s)", op,
                     (long long)out_h, (long long)out_w, nl_shape_str(x), nl_shape_str(w));
        return false;
    }
    int64_t xs[4] = { x->sizes[0], co, out_h, out_w };
    geom_sizes(G, xs, w->sizes, a);
    if (G->ho != x->sizes[2] || G->wo != x->sizes[3]) {
        nl_set_error("%s: output size [%lld,%lld] does not fit input %s: its convolution (kernel [%lld,%lld], "
                     "stride [%lld,%lld], padding [%lld,%lld], dilation [%lld,%lld]) has size [%lld,%lld]", op,
                     (long long)out_h, (long long)out_w, nl_shape_str(x), (long long)G->kh, (long long)G->kw,
                     (long long)G->sh, (long long)G->sw, (long long)G->ph, (long long)G->pw, (long long)G->dh,
                     (long long)G->dw, (long long)G->ho, (long long)G->wo);
        return false;
    }
    return true;
}

/* gx (N, C, H, W) = the input gradient of G's convolution by w (O, C/G,
 * kh, kw) for output gradient g (N, O, Ho, Wo); false, with the error set,
 * when out of memory or a kernel declined */
static bool conv_input_grad(void *gx, const void *g, const void *w, const conv_geom *G, int dtype, const char *op) {
    int64_t es = nl_dtype_size(dtype);
    conv_plan P;
    plan_init(&P, G, bwd_image_bytes(G, es, false, true), dtype);
    P.rowsx = rows_layout_ok(G, &P, dtype);
    int64_t nslot = bwd_slots(&P, 0, es), scratch_n = P.nt_batch * bwd_scratch(G, &P, false, true, false);
    nl_tensor *scratch = nl_tensor_alloc(op, 1, &scratch_n, dtype);
    if (!scratch) return false;
    bool ok = conv2d_backward(gx, NULL, NULL, g, NULL, w, scratch->data, NULL, nslot, G, &P, NULL, dtype);
    nl_release(scratch);
    if (!ok) nl_set_error("%s: internal error: the channels-last kernels declined", op);
    return ok;
}

/* gw (O, C/G, kh, kw) = the weight gradient of G's convolution of x (N, C,
 * H, W) for output gradient g (N, O, Ho, Wo) */
static bool conv_weight_grad(void *gw, const void *g, const void *x, const conv_geom *G, int dtype, const char *op) {
    int64_t es = nl_dtype_size(dtype);
    conv_plan P;
    plan_init(&P, G, bwd_image_bytes(G, es, true, false), dtype);
    P.rows = rows_ok(G, &P, dtype);
    int64_t accsz = bwd_acc(G, dtype, true), nslot = bwd_slots(&P, accsz, es);
    int64_t scratch_n = nslot * accsz + P.nt_batch * bwd_scratch(G, &P, true, false, false);
    nl_tensor *scratch = nl_tensor_alloc(op, 1, &scratch_n, dtype);
    if (!scratch) return false;
    bool ok = conv2d_backward(NULL, gw, NULL, g, x, NULL, scratch->data, NULL, nslot, G, &P, NULL, dtype);
    nl_release(scratch);
    if (!ok) nl_set_error("%s: internal error: the channels-last kernels declined", op);
    return ok;
}

/* out (N, C, H, W) = G's convolution of x (N, C', H', W') by w, no bias */
static bool conv_forward_plain(void *out, const void *x, const void *w, const conv_geom *G, int dtype,
                               const char *op) {
    int64_t es = nl_dtype_size(dtype);
    conv_plan P;
    plan_init(&P, G, fwd_image_bytes(G, es), dtype);
    P.fwdrows = fwdrows_ok(G, &P, dtype);
    int64_t scratch_n = P.nt_batch * fwd_scratch(G, &P, false);
    nl_tensor *scratch = nl_tensor_alloc(op, 1, &scratch_n, dtype);
    if (!scratch) return false;
    conv2d_forward(out, x, w, NULL, scratch->data, G, &P, NULL, dtype);
    nl_release(scratch);
    return true;
}

/* out (n, c, l) += bias (c), each channel's value added along l: the
 * transposed convolutions' bias (ops_conv3d.c's too) */
void nl_add_channel_bias(void *out, const void *bias, int64_t n, int64_t c, int64_t l, int dtype) {
    int64_t es = nl_dtype_size(dtype);
    int nt = nl_threads_for(n * c * l, POOL_GRAIN);
    NL_PARALLEL_FOR(nt, p, n * c,
        double v = nl_load((const char *)bias + (p % c) * es, dtype);
        if (dtype == NL_FLOAT32) {
            float *d = (float *)out + p * l;
            for (int64_t i = 0; i < l; i++) d[i] += (float)v;
        } else {
            double *d = (double *)out + p * l;
            for (int64_t i = 0; i < l; i++) d[i] += v;
        });
}

nl_tensor *nl_conv_transpose2d(nl_tensor *x, nl_tensor *weight, nl_tensor *bias, int64_t stride_h,
                               int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                               int64_t dilation_w, int64_t groups, int64_t out_h, int64_t out_w) {
    const char *op = "conv_transpose2d";
    NL_TEMPS(tmps);
    int64_t a[7] = { stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups };
    conv_geom G;
    if (!convt_check(op, x, weight, bias, a, out_h, out_w, &G)) return NULL;
    int64_t osz[4] = { G.n, G.c, G.h, G.w };
    nl_tensor *out = TMP(nl_tensor_alloc(op, 4, osz, x->dtype));
    if (out->numel) {
        nl_tensor *xc = TMP(nl_contiguous(x)), *wc = TMP(nl_contiguous(weight));
        if (!conv_input_grad(out->data, xc->data, wc->data, &G, x->dtype, op)) goto fail;
    }
    if (bias && out->numel)
        nl_add_channel_bias(out->data, TMP(nl_contiguous(bias))->data, G.n, G.c, G.h * G.w, x->dtype);
    nl_node *n = nl_record(NL_OP_CONV_TRANSPOSE2D, out, bias ? 3 : 2, (nl_tensor *[]){ x, weight, bias });
    if (n) {
        n->needs_in = 3;                 /* backward reads the input and the weight */
        memcpy(n->a, a, sizeof(a));
    }
    out = nl_keep_ref(out);
    nl_temps_free(&tmps);
    return out;
fail:
    nl_temps_free(&tmps);
    return NULL;
}

/* g (N, Co, Ho, Wo): gx = conv2d(g, w), gw = the convolution's weight
 * gradient of g for output gradient x, gb = g summed over N, Ho, Wo */
static int conv_transpose2d_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    const char *op = "conv_transpose2d";
    NL_TEMPS(tmps);
    nl_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    conv_geom G;
    geom_sizes(&G, g->sizes, w->sizes, nd->a);
    bool need_gx = nl_node_wants(nd, 0), need_gw = nl_node_wants(nd, 1), need_gb = nl_node_wants(nd, 2);
    int64_t es = nl_dtype_size(x->dtype), plane = G.h * G.w;
    nl_tensor *gc = TMP(nl_contiguous(g));
    nl_tensor *gx = need_gx ? TMP(nl_full(4, x->sizes, 0.0, x->dtype)) : NULL;
    nl_tensor *gw = need_gw ? TMP(nl_full(4, w->sizes, 0.0, w->dtype)) : NULL;
    nl_tensor *gb = need_gb ? TMP(nl_tensor_alloc(op, 1, b->sizes, b->dtype)) : NULL;
    if (G.n > 0) {                       /* an empty batch: zero gradients, as filled */
        if (gx && !conv_forward_plain(gx->data, gc->data, TMP(nl_contiguous(w))->data, &G, x->dtype, op)) goto fail;
        if (gw && !conv_weight_grad(gw->data, TMP(nl_contiguous(x))->data, gc->data, &G, x->dtype, op)) goto fail;
    }
    if (gb) {
        int nt = nl_threads_for(gc->numel, POOL_GRAIN);
        NL_PARALLEL_FOR(nt, c, G.c,
            double s = 0;
            for (int64_t n = 0; n < G.n; n++) {
                const char *src = (const char *)gc->data + (n * G.c + c) * plane * es;
                if (x->dtype == NL_FLOAT32) s += sum_f32((const float *)src, plane);
                else for (int64_t i = 0; i < plane; i++) s += ((const double *)src)[i];
            }
            nl_store((char *)gb->data + c * es, b->dtype, s);
        );
    }
    if (gx) gin[0] = nl_keep_ref(gx);
    if (gw) gin[1] = nl_keep_ref(gw);
    if (gb) gin[2] = nl_keep_ref(gb);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_CONV_TRANSPOSE2D, conv_transpose2d_backward)

/* ---- convolution: the plain reference ---- */

/* Direct loops over every output, group, channel and tap, sums in double:
 * out = conv(x, w) + b, and with g (N, O, Ho, Wo) the gradients of
 * sum(out * g): gx, gw, gb (each optional). */
static void conv2d_reference_loops(double *out, double *gx, double *gw, double *gb, const nl_tensor *x,
                                   const nl_tensor *w, const nl_tensor *b, const nl_tensor *g,
                                   const conv_geom *G) {
    for (int64_t n = 0; n < G->n; n++)
        for (int64_t o = 0; o < G->o; o++) {
            int64_t grp = o / G->og;
            for (int64_t oy = 0; oy < G->ho; oy++)
                for (int64_t ox = 0; ox < G->wo; ox++) {
                    int64_t oi = ((n * G->o + o) * G->ho + oy) * G->wo + ox;
                    double acc = b ? nl_get_flat(b, o) : 0, gv = g ? nl_get_flat(g, oi) : 0;
                    if (gb) gb[o] += gv;
                    for (int64_t c = 0; c < G->cg; c++)
                        for (int64_t i = 0; i < G->kh; i++)
                            for (int64_t j = 0; j < G->kw; j++) {
                                int64_t iy = oy * G->sh - G->ph + i * G->dh, ix = ox * G->sw - G->pw + j * G->dw;
                                if (iy < 0 || iy >= G->h || ix < 0 || ix >= G->w) continue;
                                int64_t xi = ((n * G->c + grp * G->cg + c) * G->h + iy) * G->w + ix;
                                int64_t wi = ((o * G->cg + c) * G->kh + i) * G->kw + j;
                                double xv = nl_get_flat(x, xi), wv = nl_get_flat(w, wi);
                                acc += xv * wv;
                                if (gx) gx[xi] += gv * wv;
                                if (gw) gw[wi] += gv * xv;
                            }
                    out[oi] = acc;
                }
        }
}

int nl_conv2d_reference(nl_tensor *x, nl_tensor *weight, nl_tensor *bias, nl_tensor *gout, int64_t stride_h,
                        int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                        int64_t groups, nl_tensor **out, nl_tensor **gx, nl_tensor **gw, nl_tensor **gb) {
    const char *op = "conv2d_reference";
    int64_t a[7] = { stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups };
    conv_geom G;
    if (!conv_check(op, x, weight, bias, a, &G)) return -1;
    NL_CHECK_INT(out != NULL, "%s: no place for the output", op);
    int64_t osz[4] = { G.n, G.o, G.ho, G.wo };
    if (gout) {
        NL_CHECK_INT(gout->ndim == 4 && gout->sizes[0] == G.n && gout->sizes[1] == G.o && gout->sizes[2] == G.ho &&
                     gout->sizes[3] == G.wo, "%s: gout has shape %s, the output %s", op, nl_shape_str(gout),
                     nl_sizes_str(4, osz));
    }
    int64_t on = G.n * G.o * G.l, wn = weight->numel;
    int64_t nbuf = on + x->numel + wn + G.o;
    int64_t bytes = nbuf * (int64_t)sizeof(double);
    double *buf = nl_alloc(&bytes);
    NL_CHECK_INT(buf != NULL, "%s: out of memory", op);
    memset(buf, 0, nbuf * sizeof(double));
    double *bo = buf, *bx = bo + on, *bw = bx + x->numel, *bb = bw + wn;
    conv2d_reference_loops(bo, gout ? bx : NULL, gout ? bw : NULL, gout ? bb : NULL, x, weight, bias, gout, &G);
    int rc = 0;
    *out = nl_from_doubles(4, osz, x->dtype, bo);
    if (!*out) rc = -1;
    if (gx) *gx = NULL;
    if (gw) *gw = NULL;
    if (gb) *gb = NULL;
    if (!rc && gout) {
        if (gx && !(*gx = nl_from_doubles(4, x->sizes, x->dtype, bx))) rc = -1;
        if (gw && !(*gw = nl_from_doubles(4, weight->sizes, x->dtype, bw))) rc = -1;
        if (gb && !(*gb = nl_from_doubles(1, &G.o, x->dtype, bb))) rc = -1;
    }
    nl_free(buf, bytes);
    return rc;
}

/* ---- pooling: shared checks ---- */

typedef struct pool_geom {
    int64_t planes, h, w;      /* input (N*C planes, H, W) */
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t ho, wo;
} pool_geom;

/* The first of o windows along a dim of length in whose k taps (d apart,
 * from i s - p) all miss the input, or -1 (the 3-D pools' check too) */
int64_t nl_empty_window(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, int64_t o) {
    for (int64_t i = 0; i < o; i++) {
        int64_t start = i * s - p, t = start < 0 ? (-start + d - 1) / d : 0;
        if (t >= k || start + t * d >= in) return i;
    }
    return -1;
}

/* Checks a pooling op's input (4-D float) and window (a: kernel, stride,
 * padding, dilation, each [h, w]) and fills P. */
static bool pool_check(const char *op, nl_tensor *x, const int64_t *a, bool ceil_mode, pool_geom *P) {
    if (!x) {
        nl_set_error("%s: expected a tensor, got nil", op);
        return false;
    }
    if (x->ndim != 4 || x->dtype == NL_INT64) {
        nl_set_error("%s: input must be a 4-D float tensor (N, C, H, W), got %s %s", op, DT(x), nl_shape_str(x));
        return false;
    }
    if (a[0] < 1 || a[1] < 1 || a[2] < 1 || a[3] < 1 || a[6] < 1 || a[7] < 1) {
        nl_set_error("%s: kernel [%lld,%lld], stride [%lld,%lld] and dilation [%lld,%lld] must be positive", op,
                     (long long)a[0], (long long)a[1], (long long)a[2], (long long)a[3], (long long)a[6],
                     (long long)a[7]);
        return false;
    }
    if (a[4] < 0 || a[5] < 0 || a[4] > a[0] / 2 || a[5] > a[1] / 2) {
        nl_set_error("%s: padding [%lld,%lld] must be between 0 and half the kernel [%lld,%lld]", op,
                     (long long)a[4], (long long)a[5], (long long)a[0], (long long)a[1]);
        return false;
    }
    if (!extent_ok(a[0], a[1], a[6], a[7])) {
        nl_set_error("%s: kernel [%lld,%lld] with dilation [%lld,%lld] spans more than 2^40", op, (long long)a[0],
                     (long long)a[1], (long long)a[6], (long long)a[7]);
        return false;
    }
    P->planes = x->sizes[0] * x->sizes[1], P->h = x->sizes[2], P->w = x->sizes[3];
    P->kh = a[0], P->kw = a[1], P->sh = a[2], P->sw = a[3], P->ph = a[4], P->pw = a[5], P->dh = a[6], P->dw = a[7];
    P->ho = out_size(P->h, P->kh, P->sh, P->ph, P->dh, ceil_mode);
    P->wo = out_size(P->w, P->kw, P->sw, P->pw, P->dw, ceil_mode);
    if (P->ho < 1 || P->wo < 1) {
        nl_set_error("%s: output size [%lld,%lld] is too small: input %s, padding [%lld,%lld], kernel [%lld,%lld] "
                     "with dilation [%lld,%lld], stride [%lld,%lld]", op, (long long)P->ho, (long long)P->wo,
                     nl_shape_str(x), (long long)P->ph, (long long)P->pw, (long long)P->kh, (long long)P->kw,
                     (long long)P->dh, (long long)P->dw, (long long)P->sh, (long long)P->sw);
        return false;
    }
    /* With dilation, a window's taps may all fall in the padding: its max
     * was -inf at a place past the plane, which backward wrote to. */
    int64_t row = nl_empty_window(P->h, P->kh, P->sh, P->ph, P->dh, P->ho);
    int64_t col = nl_empty_window(P->w, P->kw, P->sw, P->pw, P->dw, P->wo);
    if (row >= 0 || col >= 0) {
        nl_set_error("%s: the window at output %s %lld has no tap inside input %s (kernel [%lld,%lld], dilation "
                     "[%lld,%lld], padding [%lld,%lld], stride [%lld,%lld])", op, row >= 0 ? "row" : "column",
                     (long long)(row >= 0 ? row : col) + 1, nl_shape_str(x), (long long)P->kh, (long long)P->kw,
                     (long long)P->dh, (long long)P->dw, (long long)P->ph, (long long)P->pw, (long long)P->sh,
                     (long long)P->sw);
        return false;
    }
    return true;
}

/* ---- max pooling ---- */

/* out, idx (planes, Ho, Wo) = max of x (planes, H, W) over each window and
 * its position h*W + w in the plane; NaN wins, as in PyTorch. */
#define MAX_POOL_FORWARD(T)                                                                     \
    NL_PARALLEL_FOR(nt, p, P->planes,                                                          \
        const T *xp = (const T *)x + p * P->h * P->w;                                          \
        T *op = (T *)out + p * P->ho * P->wo;                                                  \
        int64_t *ip = idx + p * P->ho * P->wo;                                                 \
        for (int64_t oy = 0; oy < P->ho; oy++) {                                               \
            int64_t hs = oy * P->sh - P->ph, he = hs + (P->kh - 1) * P->dh + 1;                 \
            if (he > P->h) he = P->h;                                                          \
            while (hs < 0) hs += P->dh;                                                        \
            for (int64_t ox = 0; ox < P->wo; ox++) {                                           \
                int64_t ws = ox * P->sw - P->pw, we = ws + (P->kw - 1) * P->dw + 1;             \
                if (we > P->w) we = P->w;                                                      \
                while (ws < 0) ws += P->dw;                                                    \
                int64_t best = hs * P->w + ws;                                                 \
                T m = -INFINITY;                                                               \
                for (int64_t iy = hs; iy < he; iy += P->dh)                                    \
                    for (int64_t ix = ws; ix < we; ix += P->dw) {                              \
                        T v = xp[iy * P->w + ix];                                              \
                        if (v > m || v != v) { m = v; best = iy * P->w + ix; }                 \
                    }                                                                          \
                op[oy * P->wo + ox] = m;                                                       \
                ip[oy * P->wo + ox] = best;                                                    \
            }                                                                                  \
        }                                                                                      \
    )

/* the 2x2 windows with stride 2 of a CNN, which window_max takes: each
 * whole inside the plane (ceil_mode's last window over an odd H or W has
 * one row or column; these kernels read a second, past the plane) */
static inline bool pool_is_2x2(const pool_geom *P) {
    return P->kh == 2 && P->kw == 2 && P->sh == 2 && P->sw == 2 && P->ph == 0 && P->pw == 0 && P->dh == 1 &&
           P->dw == 1 && P->ho == P->h / 2 && P->wo == P->w / 2;
}

/* m, at = v, place where v is greater than m or NaN: selects through
 * masks of the bits, which the compiler cannot turn back into branches */
#define POOL_TAKE(m, at, v, place)                                                              \
    do {                                                                                       \
        float v_ = (v);                                                                        \
        uint32_t k_ = -(uint32_t)((v_ > m) | (v_ != v_)), mb_, vb_;                            \
        memcpy(&mb_, &m, 4);                                                                   \
        memcpy(&vb_, &v_, 4);                                                                  \
        mb_ = (vb_ & k_) | (mb_ & ~k_);                                                        \
        memcpy(&m, &mb_, 4);                                                                   \
        at ^= (at ^ (int64_t)(place)) & (int64_t)(int32_t)k_;                                  \
    } while (0)

/* MAX_POOL_FORWARD for those windows in float32 without AVX2, in plain
 * C whose selects need no branch (POOL_TAKE): the general loop's compare
 * and branch goes wrong about every other value on real data. The same
 * order and NaN rule (a window's first value, then each later one that is
 * greater or NaN); float64 keeps the general loop, the specs' reference. */
#define MAX_POOL_2X2_FORWARD()                                                                  \
    NL_PARALLEL_FOR(nt, p, P->planes,                                                          \
        const int64_t W = P->w, Wo = P->wo;                                                    \
        const float *xp = (const float *)x + p * P->h * W;                                     \
        float *op = (float *)out + p * P->ho * Wo;                                             \
        int64_t *ip = idx + p * P->ho * Wo;                                                    \
        for (int64_t oy = 0; oy < P->ho; oy++) {                                               \
            const float *r0 = xp + 2 * oy * W, *r1 = r0 + W;                                   \
            for (int64_t ox = 0; ox < Wo; ox++) {                                              \
                float m = r0[2 * ox];                                                          \
                int64_t at = 0;                                                                \
                POOL_TAKE(m, at, r0[2 * ox + 1], 1);                                           \
                POOL_TAKE(m, at, r1[2 * ox], W);                                               \
                POOL_TAKE(m, at, r1[2 * ox + 1], W + 1);                                       \
                op[oy * Wo + ox] = m;                                                          \
                ip[oy * Wo + ox] = 2 * oy * W + 2 * ox + at;                                   \
            }                                                                                  \
        }                                                                                      \
    )

/* the 2x2 pooling (stride 2) of planes [p0, p1), on AVX-512 (window_max) */
TGT_AVX512 static void max_pool2x2_f32_avx512(float *out, int64_t *idx, const float *x, const pool_geom *P,
                                              int64_t p0, int64_t p1) {
    int64_t H = P->h, W = P->w, Ho = P->ho, Wo = P->wo;
    const __m512i lane2 = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
    const __m512i one = _mm512_set1_epi32(1), wv = _mm512_set1_epi32((int)W);
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = x + p * H * W;
        float *op = out + p * Ho * Wo;
        int64_t *ip = idx + p * Ho * Wo;
        for (int64_t oy = 0; oy < Ho; oy++) {
            const float *r0 = xp + 2 * oy * W, *r1 = r0 + W;
            for (int64_t ox = 0; ox < Wo; ox += 16) {
                int64_t n = Wo - ox < 16 ? Wo - ox : 16;
                __mmask16 mo = lane_range(0, n);
                __m512i where;
                __m512 m = window_max_run(r0, r1, ox, n, false, _mm512_setzero_ps(), &where);
                /* h*W + w: the window's corner, plus the column, plus W for row 1 */
                __m512i off = _mm512_add_epi32(_mm512_and_si512(where, one),
                                               _mm512_mullo_epi32(_mm512_srli_epi32(where, 1), wv));
                __m512i pos = _mm512_add_epi32(_mm512_set1_epi32((int)(2 * oy * W + 2 * ox)), _mm512_add_epi32(lane2, off));
                _mm512_mask_storeu_ps(op + oy * Wo + ox, mo, m);
                _mm512_mask_storeu_epi64(ip + oy * Wo + ox, (__mmask8)mo,
                                         _mm512_cvtepi32_epi64(_mm512_castsi512_si256(pos)));
                _mm512_mask_storeu_epi64(ip + oy * Wo + ox + 8, (__mmask8)(mo >> 8),
                                         _mm512_cvtepi32_epi64(_mm512_extracti32x8_epi32(pos, 1)));
            }
        }
    }
}

/* gx (planes, H, W) of the 2x2 pooling above, written whole: each window
 * gets g at its maximum and 0 elsewhere (a last odd row or column, 0) */
TGT_AVX512 static void max_pool2x2_backward_f32_avx512(float *gx, const float *g, const int64_t *idx,
                                                       const pool_geom *P, int64_t p0, int64_t p1) {
    int64_t H = P->h, W = P->w, Ho = P->ho, Wo = P->wo;
    const __m512i lane2 = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
    const __m512i wv = _mm512_set1_epi32((int)W), two = _mm512_set1_epi32(2);
    for (int64_t p = p0; p < p1; p++) {
        float *gp = gx + p * H * W;
        const float *src = g + p * Ho * Wo;
        const int64_t *ip = idx + p * Ho * Wo;
        for (int64_t oy = 0; oy < Ho; oy++) {
            float *r0 = gp + 2 * oy * W, *r1 = r0 + W;
            for (int64_t ox = 0; ox < Wo; ox += 16) {
                int64_t n = Wo - ox < 16 ? Wo - ox : 16;
                __mmask16 mo = lane_range(0, n);
                __m512 v = _mm512_maskz_loadu_ps(mo, src + oy * Wo + ox);
                __m256i i0 = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64((__mmask8)mo, ip + oy * Wo + ox));
                __m256i i1 = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64((__mmask8)(mo >> 8), ip + oy * Wo + ox + 8));
                __m512i pos = _mm512_inserti32x8(_mm512_castsi256_si512(i0), i1, 1);
                /* offset in the window: 0, 1, W, W + 1 (W >= 2) -> row * 2 + column */
                __m512i off = _mm512_sub_epi32(pos, _mm512_add_epi32(_mm512_set1_epi32((int)(2 * oy * W + 2 * ox)), lane2));
                __mmask16 row1 = _mm512_cmpge_epi32_mask(off, wv);
                __m512i where = _mm512_mask_add_epi32(off, row1, _mm512_sub_epi32(off, wv), two);
                window_scatter(r0, r1, ox, n, v, where);
            }
            if (W & 1) r0[W - 1] = r1[W - 1] = 0;
        }
        if (H & 1) memset(gp + (H - 1) * W, 0, W * sizeof(float));
    }
}

/* the 2x2 pooling (stride 2) of planes [p0, p1) on AVX2 (window_max8_run).
 * A run of fewer than 8 outputs stores its 8 lanes whole where the spill
 * lands on the plane's later output rows (overwritten after), else
 * through a buffer (AMD's masked stores are slow). */
TGT_AVX2 static void max_pool2x2_f32_avx2(float *out, int64_t *idx, const float *x, const pool_geom *P,
                                          int64_t p0, int64_t p1) {
    int64_t H = P->h, W = P->w, Ho = P->ho, Wo = P->wo;
    const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), one = _mm256_set1_epi32(1);
    const __m256i wv = _mm256_set1_epi32((int)W);
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = x + p * H * W;
        float *op = out + p * Ho * Wo;
        int64_t *ip = idx + p * Ho * Wo;
        for (int64_t oy = 0; oy < Ho; oy++) {
            const float *r0 = xp + 2 * oy * W, *r1 = r0 + W;
            for (int64_t ox = 0; ox < Wo; ox += 8) {
                int64_t n = Wo - ox < 8 ? Wo - ox : 8;
                __m256i where;
                __m256 m = window_max8_run(r0, r1, ox, n, false, _mm256_setzero_ps(), &where);
                /* h*W + w: the window's corner, plus the column, plus W for row 1 */
                __m256i off = _mm256_add_epi32(_mm256_and_si256(where, one),
                                               _mm256_and_si256(_mm256_cmpgt_epi32(where, one), wv));
                __m256i pos = _mm256_add_epi32(_mm256_set1_epi32((int)(2 * oy * W + 2 * ox)),
                                               _mm256_add_epi32(lane2, off));
                __m256i plo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(pos));
                __m256i phi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(pos, 1));
                if (n == 8 || (Ho - 1 - oy) * Wo >= 8 - n) {   /* the spill lands on rows written later */
                    _mm256_storeu_ps(op + oy * Wo + ox, m);
                    _mm256_storeu_si256((__m256i *)(ip + oy * Wo + ox), plo);
                    _mm256_storeu_si256((__m256i *)(ip + oy * Wo + ox + 4), phi);
                } else {
                    float mb[8];
                    int64_t pb[8];
                    _mm256_storeu_ps(mb, m);
                    _mm256_storeu_si256((__m256i *)pb, plo);
                    _mm256_storeu_si256((__m256i *)(pb + 4), phi);
                    memcpy(op + oy * Wo + ox, mb, n * sizeof(float));
                    memcpy(ip + oy * Wo + ox, pb, n * sizeof(int64_t));
                }
            }
        }
    }
}

/* the planes [p0, p1) of each thread's share of n planes */
#define PLANE_SHARE(nt, t, n, p0, p1)                                                            \
    int64_t p0 = (n) * (t) / (nt), p1 = (n) * ((t) + 1) / (nt)

static void max_pool2d_forward(void *out, int64_t *idx, const void *x, const pool_geom *P, int dtype) {
    int nt = nl_threads_for(P->planes * P->ho * P->wo * P->kh * P->kw, POOL_GRAIN);
    if (dtype == NL_FLOAT32 && pool_is_2x2(P) && nl_cpu_avx512()) {
        NL_PARALLEL_FOR(nt, t, nt,
            PLANE_SHARE(nt, t, P->planes, p0, p1);
            max_pool2x2_f32_avx512(out, idx, x, P, p0, p1);
        );
    } else if (dtype == NL_FLOAT32 && pool_is_2x2(P) && nl_cpu_avx2()) {
        NL_PARALLEL_FOR(nt, t, nt,
            PLANE_SHARE(nt, t, P->planes, p0, p1);
            max_pool2x2_f32_avx2(out, idx, x, P, p0, p1);
        );
    } else if (dtype == NL_FLOAT32 && pool_is_2x2(P)) {
        MAX_POOL_2X2_FORWARD();
    } else if (dtype == NL_FLOAT32) MAX_POOL_FORWARD(float);
    else MAX_POOL_FORWARD(double);
}

/* The end of a max pool's forward (max_pool2d, adaptive_max_pool2d, and
 * ops_conv3d.c's 3-D forms): out, whose node op over x saves idx, the
 * maxima's places (0-based in the plane), for its backward, which needs
 * them and not the input's values, with the op's arguments a (na of
 * them); *indices, where asked for, gets the places base-based. Takes idx;
 * NULL (out released) when idx is NULL or the indices fail. */
nl_tensor *nl_max_pool_record(int op, nl_tensor *x, nl_tensor *out, nl_tensor *idx, nl_tensor **indices,
                              int64_t base, const int64_t *a, int na) {
    if (!idx) {
        nl_release(out);
        return NULL;
    }
    if (indices) {
        if (base == 0) {
            nl_retain(idx);
            *indices = idx;
        } else if (!(*indices = nl_binary_scalar(NL_OP_ADD, idx, (double)base, 0))) {
            nl_release(idx);
            nl_release(out);
            return NULL;
        }
    }
    nl_node *n = nl_record(op, out, 1, &x);
    if (n) {
        n->needs_in = 0;
        if (na) memcpy(n->a, a, na * sizeof(*a));
        nl_node_save(n, idx);
    }
    nl_release(idx);
    return out;
}

/* gx (planes, hw) = g (planes, l) added at each plane's places ix (planes,
 * l): a max pool's backward, where windows may share a maximum */
void nl_max_pool_scatter(void *gx, const void *g, const int64_t *ix, int64_t planes, int64_t hw, int64_t l,
                         int dtype) {
    int64_t es = nl_dtype_size(dtype);
    int nt = nl_threads_for(planes * (hw + l), POOL_GRAIN);
    NL_PARALLEL_FOR(nt, p, planes,
        char *gp = (char *)gx + p * hw * es;
        const char *src = (const char *)g + p * l * es;
        const int64_t *ip = ix + p * l;
        memset(gp, 0, hw * es);
        if (dtype == NL_FLOAT32)
            for (int64_t q = 0; q < l; q++) ((float *)gp)[ip[q]] += ((const float *)src)[q];
        else
            for (int64_t q = 0; q < l; q++) ((double *)gp)[ip[q]] += ((const double *)src)[q];
    );
}

nl_tensor *nl_max_pool2d(nl_tensor *x, int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                         int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w, int ceil_mode,
                         nl_tensor **indices, int64_t base) {
    const char *op = "max_pool2d";
    int64_t a[8] = { kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w };
    pool_geom P;
    if (indices) *indices = NULL;
    if (!pool_check(op, x, a, ceil_mode, &P)) return NULL;
    int64_t osz[4] = { x->sizes[0], x->sizes[1], P.ho, P.wo };
    nl_tensor *xc = nl_contiguous(x);
    nl_tensor *out = xc ? nl_tensor_alloc(op, 4, osz, x->dtype) : NULL;
    nl_tensor *idx = out ? nl_tensor_alloc(op, 4, osz, NL_INT64) : NULL;
    if (idx) max_pool2d_forward(out->data, idx->data, xc->data, &P, x->dtype);
    nl_release(xc);
    return nl_max_pool_record(NL_OP_MAX_POOL2D, x, out, idx, indices, base, a, 8);
}

/* gx (planes, H, W) = g (planes, Ho, Wo) sent back to each window's maximum */
static int max_pool2d_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *x = nd->in[0], *idx = nd->saved;
    if (!nl_node_wants(nd, 0)) return 0;
    nl_tensor *gx = nl_tensor_alloc("max_pool2d", 4, x->sizes, x->dtype);
    nl_tensor *gc = gx ? nl_contiguous(g) : NULL;
    if (!gc) {
        nl_release(gx);
        return -1;
    }
    int64_t planes = x->sizes[0] * x->sizes[1], hw = x->sizes[2] * x->sizes[3];
    int64_t l = g->sizes[2] * g->sizes[3];
    const int64_t *ix = idx->data;
    pool_geom P = { .planes = planes, .h = x->sizes[2], .w = x->sizes[3], .kh = nd->a[0], .kw = nd->a[1],
                    .sh = nd->a[2], .sw = nd->a[3], .ph = nd->a[4], .pw = nd->a[5], .dh = nd->a[6], .dw = nd->a[7],
                    .ho = g->sizes[2], .wo = g->sizes[3] };
    if (x->dtype == NL_FLOAT32 && pool_is_2x2(&P) && nl_cpu_avx512()) {
        int nt = nl_threads_for(planes * (hw + l), POOL_GRAIN);
        NL_PARALLEL_FOR(nt, t, nt,
            PLANE_SHARE(nt, t, planes, p0, p1);
            max_pool2x2_backward_f32_avx512(gx->data, gc->data, ix, &P, p0, p1);
        );
    } else nl_max_pool_scatter(gx->data, gc->data, ix, planes, hw, l, x->dtype);
    nl_release(gc);
    gin[0] = gx;
    return 0;
}
NL_REGISTER_BACKWARD(NL_OP_MAX_POOL2D, max_pool2d_backward)

/* ---- average pooling ---- */

/* The window of output (oy, ox) clipped to the input, and its divisor:
 * PyTorch counts the padding inside the window (count_include_pad) but
 * never beyond it, else only the input pixels; divisor_override wins. */
static void avg_window(const pool_geom *P, int64_t oy, int64_t ox, bool include_pad, int64_t divisor_override,
                       int64_t *hs, int64_t *he, int64_t *ws, int64_t *we, double *div) {
    int64_t h0 = oy * P->sh - P->ph, w0 = ox * P->sw - P->pw;
    int64_t h1 = h0 + P->kh, w1 = w0 + P->kw;
    if (h1 > P->h + P->ph) h1 = P->h + P->ph;
    if (w1 > P->w + P->pw) w1 = P->w + P->pw;
    int64_t pool = (h1 - h0) * (w1 - w0);
    if (h0 < 0) h0 = 0;
    if (w0 < 0) w0 = 0;
    if (h1 > P->h) h1 = P->h;
    if (w1 > P->w) w1 = P->w;
    *hs = h0, *he = h1, *ws = w0, *we = w1;
    *div = divisor_override ? (double)divisor_override : include_pad ? (double)pool : (double)((h1 - h0) * (w1 - w0));
}

#define AVG_POOL_FORWARD(T)                                                                     \
    NL_PARALLEL_FOR(nt, p, P->planes,                                                          \
        const T *xp = (const T *)x + p * P->h * P->w;                                          \
        T *op = (T *)out + p * P->ho * P->wo;                                                  \
        for (int64_t oy = 0; oy < P->ho; oy++)                                                 \
            for (int64_t ox = 0; ox < P->wo; ox++) {                                           \
                int64_t hs, he, ws, we;                                                        \
                double div;                                                                    \
                avg_window(P, oy, ox, include_pad, div_override, &hs, &he, &ws, &we, &div);    \
                T s = 0;                                                                       \
                for (int64_t iy = hs; iy < he; iy++)                                           \
                    for (int64_t ix = ws; ix < we; ix++) s += xp[iy * P->w + ix];              \
                op[oy * P->wo + ox] = (T)(s / div);                                            \
            }                                                                                  \
    )

static void avg_pool2d_forward(void *out, const void *x, const pool_geom *P, bool include_pad,
                               int64_t div_override, int dtype) {
    int nt = nl_threads_for(P->planes * P->ho * P->wo * P->kh * P->kw, POOL_GRAIN);
    if (dtype == NL_FLOAT32) AVG_POOL_FORWARD(float);
    else AVG_POOL_FORWARD(double);
}

nl_tensor *nl_avg_pool2d(nl_tensor *x, int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                         int64_t pad_h, int64_t pad_w, int ceil_mode, int count_include_pad,
                         int64_t divisor_override) {
    const char *op = "avg_pool2d";
    int64_t a[8] = { kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, 1, 1 };
    pool_geom P;
    if (!pool_check(op, x, a, ceil_mode, &P)) return NULL;
    NL_CHECK(divisor_override >= 0, "%s: divisor_override must be positive (0 for none), got %lld", op,
             (long long)divisor_override);
    int64_t osz[4] = { x->sizes[0], x->sizes[1], P.ho, P.wo };
    nl_tensor *xc = nl_contiguous(x);
    nl_tensor *out = xc ? nl_tensor_alloc(op, 4, osz, x->dtype) : NULL;
    if (out) avg_pool2d_forward(out->data, xc->data, &P, count_include_pad != 0, divisor_override, x->dtype);
    nl_release(xc);
    nl_node *n = nl_record(NL_OP_AVG_POOL2D, out, 1, &x);
    if (n) {
        n->needs_in = 0;
        memcpy(n->a, a, 6 * sizeof(int64_t));
        n->a[6] = count_include_pad != 0;
        n->a[7] = divisor_override;
    }
    return out;
}

/* gx (planes, H, W): each g (planes, Ho, Wo) spread evenly over its window */
#define AVG_POOL_BACKWARD(T)                                                                    \
    NL_PARALLEL_FOR(nt, p, P.planes,                                                           \
        T *gp = (T *)gx->data + p * P.h * P.w;                                                 \
        const T *src = (const T *)gc->data + p * P.ho * P.wo;                                  \
        memset(gp, 0, P.h * P.w * sizeof(T));                                                  \
        for (int64_t oy = 0; oy < P.ho; oy++)                                                  \
            for (int64_t ox = 0; ox < P.wo; ox++) {                                            \
                int64_t hs, he, ws, we;                                                        \
                double div;                                                                    \
                avg_window(&P, oy, ox, include_pad, div_override, &hs, &he, &ws, &we, &div);   \
                T v = (T)(src[oy * P.wo + ox] / div);                                          \
                for (int64_t iy = hs; iy < he; iy++)                                           \
                    for (int64_t ix = ws; ix < we; ix++) gp[iy * P.w + ix] += v;               \
            }                                                                                  \
    )

static int avg_pool2d_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *x = nd->in[0];
    if (!nl_node_wants(nd, 0)) return 0;
    pool_geom P = {
        .planes = x->sizes[0] * x->sizes[1], .h = x->sizes[2], .w = x->sizes[3],
        .kh = nd->a[0], .kw = nd->a[1], .sh = nd->a[2], .sw = nd->a[3], .ph = nd->a[4], .pw = nd->a[5],
        .dh = 1, .dw = 1, .ho = g->sizes[2], .wo = g->sizes[3],
    };
    bool include_pad = nd->a[6] != 0;
    int64_t div_override = nd->a[7];
    nl_tensor *gx = nl_tensor_alloc("avg_pool2d", 4, x->sizes, x->dtype);
    nl_tensor *gc = gx ? nl_contiguous(g) : NULL;
    if (!gc) {
        nl_release(gx);
        return -1;
    }
    int nt = nl_threads_for(P.planes * P.ho * P.wo * P.kh * P.kw, POOL_GRAIN);
    if (x->dtype == NL_FLOAT32) AVG_POOL_BACKWARD(float);
    else AVG_POOL_BACKWARD(double);
    nl_release(gc);
    gin[0] = gx;
    return 0;
}
NL_REGISTER_BACKWARD(NL_OP_AVG_POOL2D, avg_pool2d_backward)

/* ---- adaptive average pooling ---- */

/* PyTorch's windows: output i of n over an input of size s covers
 * [floor(i*s/n), ceil((i+1)*s/n)). */
static inline int64_t adaptive_start(int64_t i, int64_t n, int64_t s) { return (i * s) / n; }
static inline int64_t adaptive_end(int64_t i, int64_t n, int64_t s) { return ((i + 1) * s + n - 1) / n; }

/* 0 when x (N, C, H, W) can be pooled to (out_h, out_w) by op, else -1; an
 * output size of 0 gives an empty output and a zero gradient, as PyTorch */
static int adaptive_check(const char *op, nl_tensor *x, int64_t out_h, int64_t out_w) {
    NL_CHECK_TENSOR_INT(op, x);
    NL_CHECK_INT(x->ndim == 4 && x->dtype != NL_INT64,
                 "%s: input must be a 4-D float tensor (N, C, H, W), got %s %s", op, DT(x), nl_shape_str(x));
    /* 0: an empty output, as PyTorch */
    NL_CHECK_INT(out_h >= 0 && out_w >= 0, "%s: output size [%lld,%lld] must not be negative (input %s)", op,
                 (long long)out_h, (long long)out_w, nl_shape_str(x));
    NL_CHECK_INT(x->sizes[2] >= 1 && x->sizes[3] >= 1, "%s: input %s has an empty plane", op, nl_shape_str(x));
    return 0;
}

#define ADAPTIVE_FORWARD(T)                                                                     \
    NL_PARALLEL_FOR(nt, p, planes,                                                             \
        const T *xp = (const T *)xc->data + p * h * w;                                         \
        T *op = (T *)out->data + p * oh * ow;                                                  \
        for (int64_t oy = 0; oy < oh; oy++) {                                                  \
            int64_t hs = adaptive_start(oy, oh, h), he = adaptive_end(oy, oh, h);              \
            for (int64_t ox = 0; ox < ow; ox++) {                                              \
                int64_t ws = adaptive_start(ox, ow, w), we = adaptive_end(ox, ow, w);          \
                T s = 0;                                                                       \
                for (int64_t iy = hs; iy < he; iy++)                                           \
                    for (int64_t ix = ws; ix < we; ix++) s += xp[iy * w + ix];                 \
                op[oy * ow + ox] = s / (T)((he - hs) * (we - ws));                             \
            }                                                                                  \
        }                                                                                      \
    )

nl_tensor *nl_adaptive_avg_pool2d(nl_tensor *x, int64_t out_h, int64_t out_w) {
    const char *op = "adaptive_avg_pool2d";
    if (adaptive_check(op, x, out_h, out_w) < 0) return NULL;
    int64_t planes = x->sizes[0] * x->sizes[1], h = x->sizes[2], w = x->sizes[3], oh = out_h, ow = out_w;
    int64_t osz[4] = { x->sizes[0], x->sizes[1], oh, ow };
    nl_tensor *xc = nl_contiguous(x);
    nl_tensor *out = xc ? nl_tensor_alloc(op, 4, osz, x->dtype) : NULL;
    if (out) {
        int nt = nl_threads_for(planes * (h * w + oh * ow), POOL_GRAIN);
        if (x->dtype == NL_FLOAT32) ADAPTIVE_FORWARD(float);
        else ADAPTIVE_FORWARD(double);
    }
    nl_release(xc);
    nl_node *n = nl_record(NL_OP_ADAPTIVE_AVG_POOL2D, out, 1, &x);
    if (n) n->needs_in = 0;
    return out;
}

#define ADAPTIVE_BACKWARD(T)                                                                    \
    NL_PARALLEL_FOR(nt, p, planes,                                                             \
        T *gp = (T *)gx->data + p * h * w;                                                     \
        const T *src = (const T *)gc->data + p * oh * ow;                                      \
        memset(gp, 0, h * w * sizeof(T));                                                      \
        for (int64_t oy = 0; oy < oh; oy++) {                                                  \
            int64_t hs = adaptive_start(oy, oh, h), he = adaptive_end(oy, oh, h);              \
            for (int64_t ox = 0; ox < ow; ox++) {                                              \
                int64_t ws = adaptive_start(ox, ow, w), we = adaptive_end(ox, ow, w);          \
                T v = src[oy * ow + ox] / (T)((he - hs) * (we - ws));                          \
                for (int64_t iy = hs; iy < he; iy++)                                           \
                    for (int64_t ix = ws; ix < we; ix++) gp[iy * w + ix] += v;                 \
            }                                                                                  \
        }                                                                                      \
    )

static int adaptive_avg_pool2d_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *x = nd->in[0];
    if (!nl_node_wants(nd, 0)) return 0;
    int64_t planes = x->sizes[0] * x->sizes[1], h = x->sizes[2], w = x->sizes[3];
    int64_t oh = g->sizes[2], ow = g->sizes[3];
    nl_tensor *gx = nl_tensor_alloc("adaptive_avg_pool2d", 4, x->sizes, x->dtype);
    nl_tensor *gc = gx ? nl_contiguous(g) : NULL;
    if (!gc) {
        nl_release(gx);
        return -1;
    }
    int nt = nl_threads_for(planes * (h * w + oh * ow), POOL_GRAIN);
    if (x->dtype == NL_FLOAT32) ADAPTIVE_BACKWARD(float);
    else ADAPTIVE_BACKWARD(double);
    nl_release(gc);
    gin[0] = gx;
    return 0;
}
NL_REGISTER_BACKWARD(NL_OP_ADAPTIVE_AVG_POOL2D, adaptive_avg_pool2d_backward)

/* ---- adaptive max pooling ---- */

/* Over adaptive_avg_pool2d's windows, the maximum and its place in the
 * plane, iy*W + ix, as PyTorch's loop finds them: a value wins when
 * greater or NaN (the first of equal maxima, the last NaN); a window of
 * -inf alone keeps its first place. */
#define ADAPTIVE_MAX_FORWARD(T)                                                                 \
    NL_PARALLEL_FOR(nt, p, planes,                                                             \
        const T *xp = (const T *)xc->data + p * h * w;                                         \
        T *yp = (T *)out->data + p * oh * ow;                                                  \
        int64_t *ip = (int64_t *)idx->data + p * oh * ow;                                      \
        for (int64_t oy = 0; oy < oh; oy++) {                                                  \
            int64_t hs = adaptive_start(oy, oh, h), he = adaptive_end(oy, oh, h);              \
            for (int64_t ox = 0; ox < ow; ox++) {                                              \
                int64_t ws = adaptive_start(ox, ow, w), we = adaptive_end(ox, ow, w);          \
                T m = -(T)INFINITY;                                                            \
                int64_t at = hs * w + ws;                                                      \
                for (int64_t iy = hs; iy < he; iy++)                                           \
                    for (int64_t ix = ws; ix < we; ix++) {                                     \
                        T v = xp[iy * w + ix];                                                 \
                        if (v > m || isnan(v)) m = v, at = iy * w + ix;                        \
                    }                                                                          \
                yp[oy * ow + ox] = m;                                                          \
                ip[oy * ow + ox] = at;                                                         \
            }                                                                                  \
        }                                                                                      \
    )

nl_tensor *nl_adaptive_max_pool2d(nl_tensor *x, int64_t out_h, int64_t out_w, nl_tensor **indices, int64_t base) {
    const char *op = "adaptive_max_pool2d";
    if (indices) *indices = NULL;
    if (adaptive_check(op, x, out_h, out_w) < 0) return NULL;
    int64_t planes = x->sizes[0] * x->sizes[1], h = x->sizes[2], w = x->sizes[3], oh = out_h, ow = out_w;
    int64_t osz[4] = { x->sizes[0], x->sizes[1], oh, ow };
    nl_tensor *xc = nl_contiguous(x);
    nl_tensor *out = xc ? nl_tensor_alloc(op, 4, osz, x->dtype) : NULL;
    nl_tensor *idx = out ? nl_tensor_alloc(op, 4, osz, NL_INT64) : NULL;
    if (idx) {
        int nt = nl_threads_for(planes * (h * w + oh * ow), POOL_GRAIN);
        if (x->dtype == NL_FLOAT32) ADAPTIVE_MAX_FORWARD(float);
        else ADAPTIVE_MAX_FORWARD(double);
    }
    nl_release(xc);
    return nl_max_pool_record(NL_OP_ADAPTIVE_MAX_POOL2D, x, out, idx, indices, base, NULL, 0);
}

/* gx (planes, H, W) = g (planes, oh, ow) added at each window's maximum
 * (windows overlap where the output is larger than the input) */
static int adaptive_max_pool2d_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *x = nd->in[0], *idx = nd->saved;
    if (!nl_node_wants(nd, 0)) return 0;
    nl_tensor *gx = nl_tensor_alloc("adaptive_max_pool2d", 4, x->sizes, x->dtype);
    nl_tensor *gc = gx ? nl_contiguous(g) : NULL;
    if (!gc) {
        nl_release(gx);
        return -1;
    }
    nl_max_pool_scatter(gx->data, gc->data, idx->data, x->sizes[0] * x->sizes[1], x->sizes[2] * x->sizes[3],
                        g->sizes[2] * g->sizes[3], x->dtype);
    nl_release(gc);
    gin[0] = gx;
    return 0;
}
NL_REGISTER_BACKWARD(NL_OP_ADAPTIVE_MAX_POOL2D, adaptive_max_pool2d_backward)
