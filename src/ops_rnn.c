/* ops_rnn.c — recurrent layers: the Elman (tanh/relu), LSTM and GRU cells as
 * single-step ops, and whole layers run over a sequence in one op with
 * backward through time in C (one GEMM per step into fused gate kernels).
 * Not here: stacking layers, batch_first views, parameters (nn/rnn.lua).
 *
 * Layer layout. Inside a layer the batch is the fast axis: states and gates
 * are kept transposed, one contiguous (units, Np) block per step with Np =
 * N rounded up to 16, so that a step is C (G*H, Np) = W (G*H, K) @
 * [x_t; h_{t-1}] (K, Np) and the next step's operand is the block this
 * step wrote. The optimized GEMM (float32, AVX-512 or AVX2 and FMA) keeps
 * tiles of C in registers over all of k (12 x 32 with AVX-512, 6 x 16 with
 * AVX2), reading weights packed once per call into 12-row panels;
 * elsewhere (float64, older CPUs) BLIS; the plain reference loops
 * (reference = 1) stay beside both for the tests. The elementwise part of
 * a step is one kernel per cell kind, compiled for float32 (AVX-512, AVX2
 * or neither) and float64. With the optimized GEMM a step's products and
 * cell kernels run in chunks of 12 units, each chunk's products followed
 * by its kernel, in one parallel region for the whole sequence
 * (seq_forward_packed, seq_backward_packed). */
#include "internal.h"
#include "transpose16.h"

#include <blis.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TGT_AVX512 __attribute__((target("avx512f")))
#define TGT_AVX2 __attribute__((target("avx2,fma")))

/* multiply-adds per thread before a GEMM takes another; elements of an
 * elementwise step per thread */
#define GEMM_GRAIN (1 << 20)
#define STEP_GRAIN (1 << 16)

/* element i of a float32 or float64 buffer, as double; constant-folded
 * where dt is a constant of an always-inline kernel */
#define LD(dt, p, i) ((dt) == NL_FLOAT32 ? (double)((const float *)(p))[i] : ((const double *)(p))[i])
#define ST(dt, p, i, v)                                                     \
    do {                                                                    \
        if ((dt) == NL_FLOAT32) ((float *)(p))[i] = (float)(v);             \
        else ((double *)(p))[i] = (v);                                      \
    } while (0)

/* ---- activations ----------------------------------------------------------
 * In place over n contiguous elements. Reference: libm in double. Fast
 * float32: Cephes' expf and tanhf polynomials in AVX-512 (about 2 ulp), and
 * the same in AVX2 for CPUs without AVX-512. */

enum { ACT_SIGMOID, ACT_TANH, ACT_RELU };

static double sigmoid_d(double x) { return 1 / (1 + exp(-x)); }

static double act_d(int kind, double x) {
    switch (kind) {
    case ACT_SIGMOID: return sigmoid_d(x);
    case ACT_TANH: return tanh(x);
    default: return x > 0 || x != x ? x : 0;     /* NaN passes, as PyTorch's relu */
    }
}

/* Cephes' expf: x = n ln 2 + r, ln 2 in two parts; exp(r) = 1 + r + r^2
 * P(r), P's coefficients highest power first */
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
static const float EXP_POLY[6] = { 1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                   4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f };
/* Cephes' tanhf below |x| = TANH_SMALL: x + x^3 P(x^2) */
#define TANH_SMALL 0.625f
static const float TANH_POLY[5] = { -5.70498872745e-3f, 2.06390887954e-2f, -5.37397155531e-2f, 1.33314422036e-1f,
                                    -3.33332819422e-1f };

TGT_AVX512 static ALWAYS_INLINE __m512 exp_ps(__m512 x) {
    /* NaN passes: max/min return their second operand when either is NaN */
    x = _mm512_min_ps(_mm512_set1_ps(88.3762626647949f), _mm512_max_ps(_mm512_set1_ps(-88.3762626647949f), x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    __m512 p = _mm512_set1_ps(EXP_POLY[0]);
    for (int i = 1; i < 6; i++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_POLY[i]));
    __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

/* 1 / d: rcp14 and one Newton step (relative error about 2^-28), where a
 * division would cost several times more */
TGT_AVX512 static ALWAYS_INLINE __m512 recip_ps(__m512 d) {
    __m512 r = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
}

TGT_AVX512 static ALWAYS_INLINE __m512 sigmoid_ps(__m512 x) {
    return recip_ps(_mm512_add_ps(_mm512_set1_ps(1.0f), exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

/* |x| < 0.625: x + x^3 P(x^2); else sign(x) (1 - 2 / (exp(2|x|) + 1)) */
TGT_AVX512 static ALWAYS_INLINE __m512 tanh_ps(__m512 x) {
    __m512i sign_bit = _mm512_set1_epi32((int)0x80000000u);
    __m512i xi = _mm512_castps_si512(x);
    __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign_bit, xi));
    __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = exp_ps(_mm512_add_ps(ax, ax));
    __m512 big = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), recip_ps(_mm512_add_ps(e, one)), one);
    big = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(big), _mm512_and_si512(sign_bit, xi)));
    __m512 z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(TANH_POLY[0]);
    for (int i = 1; i < 5; i++) p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(TANH_POLY[i]));
    __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(x, z), p, x);
    __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(TANH_SMALL), _CMP_LT_OQ);
    return _mm512_mask_blend_ps(is_small, big, small);
}

/* max(x, 0) but NaN, which passes (max returns its second operand then) */
TGT_AVX512 static ALWAYS_INLINE __m512 relu_ps(__m512 x) {
    return _mm512_mask_mov_ps(_mm512_max_ps(x, _mm512_setzero_ps()), _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

TGT_AVX512 static void act_f32_avx512(int kind, float *p, int64_t n) {
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 m = first_lanes(n - j);
        __m512 v = _mm512_maskz_loadu_ps(m, p + j);
        v = kind == ACT_SIGMOID ? sigmoid_ps(v) : kind == ACT_TANH ? tanh_ps(v) : relu_ps(v);
        _mm512_mask_storeu_ps(p + j, m, v);
    }
}

/* the same polynomials on 8 lanes (AVX2 and FMA): 2^n built in the
 * exponent's bits, which need n within [-126, 127], as the clamp's bounds
 * give */
TGT_AVX2 static ALWAYS_INLINE __m256 exp_ps8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), _mm256_max_ps(_mm256_set1_ps(-87.3365478515625f), x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    __m256 p = _mm256_set1_ps(EXP_POLY[0]);
    for (int i = 1; i < 6; i++) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_POLY[i]));
    __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

TGT_AVX2 static ALWAYS_INLINE __m256 sigmoid_ps8(__m256 x) {
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp_ps8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

TGT_AVX2 static ALWAYS_INLINE __m256 tanh_ps8(__m256 x) {
    __m256 sign_bit = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 ax = _mm256_andnot_ps(sign_bit, x);
    __m256 e = exp_ps8(_mm256_add_ps(ax, ax));
    __m256 big = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), _mm256_div_ps(one, _mm256_add_ps(e, one)), one);
    big = _mm256_or_ps(big, _mm256_and_ps(sign_bit, x));
    __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(TANH_POLY[0]);
    for (int i = 1; i < 5; i++) p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(TANH_POLY[i]));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(x, z), p, x);
    return _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(TANH_SMALL), _CMP_LT_OQ));
}

TGT_AVX2 static ALWAYS_INLINE __m256 relu_ps8(__m256 x) {
    return _mm256_blendv_ps(_mm256_max_ps(x, _mm256_setzero_ps()), x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

TGT_AVX2 static void act_f32_avx2(int kind, float *p, int64_t n) {
    for (int64_t j = 0; j < n; j += 8) {
        int left = n - j < 8 ? (int)(n - j) : 8;
        __m256i m = first_lanes8(left);
        __m256 v = left == 8 ? _mm256_loadu_ps(p + j) : _mm256_maskload_ps(p + j, m);
        v = kind == ACT_SIGMOID ? sigmoid_ps8(v) : kind == ACT_TANH ? tanh_ps8(v) : relu_ps8(v);
        if (left == 8) _mm256_storeu_ps(p + j, v);    /* AMD's masked stores are slow */
        else _mm256_maskstore_ps(p + j, m, v);
    }
}

static void act_f32_ref(int kind, float *p, int64_t n) {
    for (int64_t j = 0; j < n; j++) p[j] = (float)act_d(kind, p[j]);
}

static void act_f64_ref(int kind, double *p, int64_t n) {
    for (int64_t j = 0; j < n; j++) p[j] = act_d(kind, p[j]);
}

/* ---- GEMM ---------------------------------------------------------------
 * C (m, n) = init + sum over segments of A_s (m, k_s) @ B_s (k_s, n), all
 * row-major with the given row strides; init is C itself (accumulate), a
 * per-row bias (m), or zero. */

typedef struct gemm_seg {
    const void *a;      /* (m, k) row stride lda, or packed (below) */
    int64_t lda;
    const void *b;      /* (k, n) row stride ldb */
    int64_t ldb;
    int64_t k;
    bool packed;        /* a is packed: the optimized float32 path only */
} gemm_seg;

/* Packed A: tiles of 12 rows (the last one padded with zero rows), tile i
 * at a + 12 k i holding (k, 12): row r's element kk at [12 kk + r]. A step
 * then reads one contiguous run of A instead of 12 rows. */
#define MR_MAX 12

static gemm_seg seg_of(const void *a, int64_t lda, const void *b, int64_t ldb, int64_t k, bool packed) {
    return (gemm_seg){ .a = a, .lda = lda, .b = b, .ldb = ldb, .k = k, .packed = packed };
}

static int64_t packed_size(int64_t m, int64_t k) { return (m + MR_MAX - 1) / MR_MAX * MR_MAX * k; }

#define PACK_GRAIN (1 << 15)   /* elements of weights per thread of a packing */

/* one tile of pack_rows: w's `rows` (at most 12) rows of k columns, the
 * rows past `rows` zero; 16 columns at a time through transpose16_block
 * with AVX-512, else a plain loop. A function of its own with the target:
 * clang makes the body of an OpenMP loop a function that does not get the
 * enclosing function's target */
TGT_AVX512 static void pack_rows_tile_avx512(float *tile, const float *w, int64_t k, int rows, int64_t ldw) {
    for (int64_t kk = 0; kk < k; kk += 16) {
        int cols = k - kk < 16 ? (int)(k - kk) : 16;
        if (rows < MR_MAX)
            for (int c = 0; c < cols; c++)
                memset(tile + (kk + c) * MR_MAX + rows, 0, (MR_MAX - rows) * sizeof(float));
        transpose16_block(tile + kk * MR_MAX, MR_MAX, w + kk, ldw, rows, cols);
    }
}

static void pack_rows_tile(float *tile, const float *w, int64_t k, int rows, int64_t ldw) {
    for (int64_t kk = 0; kk < k; kk++)
        for (int r = 0; r < MR_MAX; r++) tile[kk * MR_MAX + r] = r < rows ? w[r * ldw + kk] : 0;
}

/* dst (packed, m rows, ktot columns): columns koff.. from w (m, k)
 * row-major; the rows past m of the last tile are zero */
static void pack_rows(float *dst, int64_t ktot, int64_t koff, const float *w, int64_t m, int64_t k, int64_t ldw) {
    int64_t ntiles = (m + MR_MAX - 1) / MR_MAX;
    bool wide = nl_cpu_avx512f();
    NL_PARALLEL_FOR(nl_threads_for(m * k, PACK_GRAIN), it, ntiles,
        int64_t i0 = it * MR_MAX;
        int rows = m - i0 < MR_MAX ? (int)(m - i0) : MR_MAX;
        float *tile = dst + i0 * ktot + koff * MR_MAX;
        if (wide) pack_rows_tile_avx512(tile, w + i0 * ldw, k, rows, ldw);
        else pack_rows_tile(tile, w + i0 * ldw, k, rows, ldw);
    );
}

/* one tile of pack_cols: the first `rows` (at most 12) columns of w, 12
 * lanes stored, those past `rows` zero; with AVX-512 a masked vector a row */
TGT_AVX512 static void pack_cols_tile_avx512(float *tile, const float *w, int64_t k, int64_t rows, int64_t ldw) {
    __mmask16 in = first_lanes(rows);
    for (int64_t kk = 0; kk < k; kk++)
        _mm512_mask_storeu_ps(tile + kk * MR_MAX, (__mmask16)0x0FFF, _mm512_maskz_loadu_ps(in, w + kk * ldw));
}

static void pack_cols_tile(float *tile, const float *w, int64_t k, int64_t rows, int64_t ldw) {
    for (int64_t kk = 0; kk < k; kk++)
        for (int r = 0; r < MR_MAX; r++) tile[kk * MR_MAX + r] = r < rows ? w[kk * ldw + r] : 0;
}

/* dst (packed): the transpose of w (k, m) row-major, i.e. rows = w's columns */
static void pack_cols(float *dst, const float *w, int64_t k, int64_t m, int64_t ldw) {
    int64_t ntiles = (m + MR_MAX - 1) / MR_MAX;
    bool wide = nl_cpu_avx512f();
    NL_PARALLEL_FOR(nl_threads_for(m * k, PACK_GRAIN), it, ntiles,
        int64_t i0 = it * MR_MAX;
        int64_t rows = m - i0 < MR_MAX ? m - i0 : MR_MAX;
        if (wide) pack_cols_tile_avx512(dst + i0 * k, w + i0, k, rows, ldw);
        else pack_cols_tile(dst + i0 * k, w + i0, k, rows, ldw);
    );
}

/* reference: the plain loop, sums in double */
static void gemm_reference(int dt, int64_t m, int64_t n, int nseg, const gemm_seg *seg, void *c, int64_t ldc,
                           const void *bias, bool acc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = acc ? LD(dt, c, i * ldc + j) : bias ? LD(dt, bias, i) : 0;
            for (int q = 0; q < nseg; q++)
                for (int64_t k = 0; k < seg[q].k; k++)
                    s += LD(dt, seg[q].a, i * seg[q].lda + k) * LD(dt, seg[q].b, k * seg[q].ldb + j);
            ST(dt, c, i * ldc + j, s);
        }
}

/* BLIS: C prepared (bias rows or zero), then one gemm per segment */
static void gemm_blis(int dt, int64_t m, int64_t n, int nseg, const gemm_seg *seg, void *c, int64_t ldc,
                      const void *bias, bool acc, int nt) {
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(nl_team(nt), &rntm);   /* the same team for every region */
    if (!acc && bias)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) ST(dt, c, i * ldc + j, LD(dt, bias, i));
    for (int q = 0; q < nseg; q++) {
        bool zero_c = q == 0 && !acc && !bias;
        if (dt == NL_FLOAT32) {
            float one = 1, beta = zero_c ? 0 : 1;
            bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, seg[q].k, &one, (float *)seg[q].a, seg[q].lda, 1,
                         (float *)seg[q].b, seg[q].ldb, 1, &beta, c, ldc, 1, NULL, &rntm);
        } else {
            double one = 1, beta = zero_c ? 0 : 1;
            bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, seg[q].k, &one, (double *)seg[q].a, seg[q].lda, 1,
                         (double *)seg[q].b, seg[q].ldb, 1, &beta, c, ldc, 1, NULL, &rntm);
        }
    }
}

/* AVX-512 float32: one (MR, 16*NV) tile of C kept in registers over all of k;
 * A is read in place (one broadcast per row and k), B a row of NV vectors
 * per k. MASKED: NV is 1 and only the columns in mask exist.
 *
 * Each k step fetches B's row PF_K steps ahead into L1: here (dW's
 * products) z's rows, 16 steps further into this step's segment or the
 * next step's, which follows it. In tile_packed_f32 below both operands
 * stream past the tile (the weight panel, and B's rows: the forward's x_t
 * and h_t, the backward's gate gradients from L2 or the other core), so
 * both are fetched. The last steps' fetches run past a segment, harmlessly.
 * W5 in alternated rounds against the same code without them:
 * - the packed tile's: 1.022x and 1.030x on two threads (13 and 12 of 16
 *   rounds), 1.027x on one (12 and 15 of 16); the forward alone 1.049x on
 *   two (12 of 12) and 1.017x on one. Fetching only A or only B gained
 *   less, and 8 or 32 steps ahead no more;
 * - then dW's: 1.027x and 1.022x on two threads (14 and 11 of 16), 1.000x
 *   on one (10 of 16); 32 steps ahead ran alike. */
#define PF_K 16

TGT_AVX512 static ALWAYS_INLINE void tile_f32(const int MR, const int NV, const bool MASKED, __mmask16 mask,
                                              int nseg, const gemm_seg *seg, int64_t i0, int64_t j0,
                                              float *c, int64_t ldc, const float *bias, bool acc) {
    __m512 c0[MR_MAX], c1[MR_MAX];
    float *cr = c + i0 * ldc + j0;
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        if (acc) {
            c0[r] = MASKED ? _mm512_maskz_loadu_ps(mask, cr + r * ldc) : _mm512_loadu_ps(cr + r * ldc);
            c1[r] = NV == 2 ? _mm512_loadu_ps(cr + r * ldc + 16) : _mm512_setzero_ps();
        } else {
            c0[r] = c1[r] = bias ? _mm512_set1_ps(bias[i0 + r]) : _mm512_setzero_ps();
        }
    }
    for (int q = 0; q < nseg; q++) {
        const float *a = (const float *)seg[q].a + i0 * seg[q].lda;
        const float *b = (const float *)seg[q].b + j0;
        int64_t lda = seg[q].lda, ldb = seg[q].ldb, kk = seg[q].k;
        if (q + 1 < nseg && seg[q + 1].k <= 32) {
            /* many short segments (dW's steps): fetch the next one's rows of A,
             * which the hardware prefetcher finds too late */
            const float *an = (const float *)seg[q + 1].a + i0 * seg[q + 1].lda;
#pragma GCC unroll 12
            for (int r = 0; r < MR; r++) {
                _mm_prefetch((const char *)(an + r * seg[q + 1].lda), _MM_HINT_T0);
                _mm_prefetch((const char *)(an + r * seg[q + 1].lda) + 64, _MM_HINT_T0);
            }
        }
        for (int64_t k = 0; k < kk; k++, b += ldb) {
            __m512 b0 = MASKED ? _mm512_maskz_loadu_ps(mask, b) : _mm512_loadu_ps(b);
            __m512 b1 = NV == 2 ? _mm512_loadu_ps(b + 16) : b0;
            _mm_prefetch((const char *)(b + PF_K * ldb), _MM_HINT_T0);
            if (NV == 2) _mm_prefetch((const char *)(b + PF_K * ldb + 16), _MM_HINT_T0);
#pragma GCC unroll 12
            for (int r = 0; r < MR; r++) {
                __m512 av = _mm512_set1_ps(a[r * lda + k]);
                c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
                if (NV == 2) c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
            }
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        if (MASKED) _mm512_mask_storeu_ps(cr + r * ldc, mask, c0[r]);
        else _mm512_storeu_ps(cr + r * ldc, c0[r]);
        if (NV == 2) _mm512_storeu_ps(cr + r * ldc + 16, c1[r]);
    }
}

/* the same from packed A: the first MR rows of a 12-row panel (4 where
 * the panel has no more, the last of an m = 4 mod 12), of which the first
 * `rows` are stored */
TGT_AVX512 static ALWAYS_INLINE void tile_packed_f32(const int MR, const int NV, const bool MASKED, __mmask16 mask,
                                                     int64_t rows, int nseg, const gemm_seg *seg, int64_t i0,
                                                     int64_t j0, float *c, int64_t ldc, const float *bias, bool acc) {
    __m512 c0[MR_MAX], c1[MR_MAX];
    float *cr = c + i0 * ldc + j0;
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        if (acc && r < rows) {
            c0[r] = MASKED ? _mm512_maskz_loadu_ps(mask, cr + r * ldc) : _mm512_loadu_ps(cr + r * ldc);
            c1[r] = NV == 2 ? _mm512_loadu_ps(cr + r * ldc + 16) : _mm512_setzero_ps();
        } else {
            c0[r] = c1[r] = bias && r < rows ? _mm512_set1_ps(bias[i0 + r]) : _mm512_setzero_ps();
        }
    }
    for (int q = 0; q < nseg; q++) {
        const float *a = (const float *)seg[q].a + i0 * seg[q].k;
        const float *b = (const float *)seg[q].b + j0;
        int64_t ldb = seg[q].ldb, kk = seg[q].k;
        for (int64_t k = 0; k < kk; k++, b += ldb, a += MR_MAX) {
            __m512 b0 = MASKED ? _mm512_maskz_loadu_ps(mask, b) : _mm512_loadu_ps(b);
            __m512 b1 = NV == 2 ? _mm512_loadu_ps(b + 16) : b0;
            _mm_prefetch((const char *)(a + PF_K * MR_MAX), _MM_HINT_T0);
            _mm_prefetch((const char *)(b + PF_K * ldb), _MM_HINT_T0);
            if (NV == 2) _mm_prefetch((const char *)(b + PF_K * ldb + 16), _MM_HINT_T0);
#pragma GCC unroll 12
            for (int r = 0; r < MR; r++) {
                __m512 av = _mm512_set1_ps(a[r]);
                c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
                if (NV == 2) c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
            }
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        if (r >= rows) break;
        if (MASKED) _mm512_mask_storeu_ps(cr + r * ldc, mask, c0[r]);
        else _mm512_storeu_ps(cr + r * ldc, c0[r]);
        if (NV == 2) _mm512_storeu_ps(cr + r * ldc + 16, c1[r]);
    }
}

#define TILE_ROWS(NV, MASKED)                                                                          \
    switch (mr) {                                                                                      \
    case 12: tile_f32(12, NV, MASKED, mask, nseg, seg, i0 + i, j0 + j, c, ldc, bias, acc); break;     \
    case 8: tile_f32(8, NV, MASKED, mask, nseg, seg, i0 + i, j0 + j, c, ldc, bias, acc); break;       \
    case 4: tile_f32(4, NV, MASKED, mask, nseg, seg, i0 + i, j0 + j, c, ldc, bias, acc); break;       \
    case 2: tile_f32(2, NV, MASKED, mask, nseg, seg, i0 + i, j0 + j, c, ldc, bias, acc); break;       \
    default: tile_f32(1, NV, MASKED, mask, nseg, seg, i0 + i, j0 + j, c, ldc, bias, acc); break;      \
    }

/* the block of C at (i0, j0) of rows x cols, rows <= 12, cols <= 32 */
TGT_AVX512 static void gemm_block_f32_avx512(int64_t i0, int64_t rows, int64_t j0, int64_t cols, int nseg,
                                             const gemm_seg *seg, float *c, int64_t ldc, const float *bias, bool acc) {
    if (seg[0].packed) {
        for (int64_t j = 0; j < cols;) {
            int64_t w = cols - j;
            if (w >= 32) {
                if (rows <= 4) tile_packed_f32(4, 2, false, 0xFFFF, rows, nseg, seg, i0, j0 + j, c, ldc, bias, acc);
                else tile_packed_f32(12, 2, false, 0xFFFF, rows, nseg, seg, i0, j0 + j, c, ldc, bias, acc);
                j += 32;
            } else if (w >= 16) {
                tile_packed_f32(12, 1, false, 0xFFFF, rows, nseg, seg, i0, j0 + j, c, ldc, bias, acc);
                j += 16;
            } else {
                tile_packed_f32(12, 1, true, first_lanes(w), rows, nseg, seg, i0, j0 + j, c, ldc, bias, acc);
                j += w;
            }
        }
        return;
    }
    for (int64_t i = 0; i < rows;) {
        int64_t left = rows - i;
        int mr = left >= 12 ? 12 : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        for (int64_t j = 0; j < cols;) {
            int64_t w = cols - j;
            __mmask16 mask = 0xFFFF;
            if (w >= 32) {
                TILE_ROWS(2, false);
                j += 32;
            } else if (w >= 16) {
                TILE_ROWS(1, false);
                j += 16;
            } else {
                mask = first_lanes(w);
                TILE_ROWS(1, true);
                j += w;
            }
        }
        i += mr;
    }
}

/* AVX2 float32, for CPUs without AVX-512: the same tiles on 8 lanes, at
 * most 6 rows by 16 columns, whose 12 accumulators, two vectors of B and a
 * broadcast fit the 16 registers (BLIS's haswell and zen kernels' shape).
 * PACKED: rows r0.. of the 12-row panel at i0 (a panel is two such tiles),
 * of which the first `rows` are stored; else rows i0.. of A in place.
 * MASKED: NV is 1 and only the columns in mask exist. */
#define MR8 6

TGT_AVX2 static ALWAYS_INLINE void tile8_f32(const int MR, const int NV, const bool MASKED, __m256i mask,
                                             const bool PACKED, int64_t rows, int nseg, const gemm_seg *seg,
                                             int64_t i0, int64_t r0, int64_t j0, float *c, int64_t ldc,
                                             const float *bias, bool acc) {
    __m256 c0[MR8], c1[MR8];
    float *cr = c + (i0 + r0) * ldc + j0;
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        if (acc && r < rows) {
            c0[r] = MASKED ? _mm256_maskload_ps(cr + r * ldc, mask) : _mm256_loadu_ps(cr + r * ldc);
            c1[r] = NV == 2 ? _mm256_loadu_ps(cr + r * ldc + 8) : _mm256_setzero_ps();
        } else {
            c0[r] = c1[r] = bias && r < rows ? _mm256_set1_ps(bias[i0 + r0 + r]) : _mm256_setzero_ps();
        }
    }
    for (int q = 0; q < nseg; q++) {
        /* row r's element k at a[r * ar + k * ak] */
        const float *a = (const float *)seg[q].a + (PACKED ? i0 * seg[q].k + r0 : (i0 + r0) * seg[q].lda);
        const int64_t ar = PACKED ? 1 : seg[q].lda, ak = PACKED ? MR_MAX : 1;
        const float *b = (const float *)seg[q].b + j0;
        int64_t ldb = seg[q].ldb, kk = seg[q].k;
        if (!PACKED && q + 1 < nseg && seg[q + 1].k <= 32) {
            const float *an = (const float *)seg[q + 1].a + (i0 + r0) * seg[q + 1].lda;
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) _mm_prefetch((const char *)(an + r * seg[q + 1].lda), _MM_HINT_T0);
        }
        for (int64_t k = 0; k < kk; k++, b += ldb, a += ak) {
            __m256 b0 = MASKED ? _mm256_maskload_ps(b, mask) : _mm256_loadu_ps(b);
            __m256 b1 = NV == 2 ? _mm256_loadu_ps(b + 8) : b0;
            if (PACKED) _mm_prefetch((const char *)(a + PF_K * MR_MAX), _MM_HINT_T0);
            _mm_prefetch((const char *)(b + PF_K * ldb), _MM_HINT_T0);
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                __m256 av = _mm256_broadcast_ss(a + r * ar);
                c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
                if (NV == 2) c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
            }
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        if (r >= rows) break;
        if (MASKED) _mm256_maskstore_ps(cr + r * ldc, mask, c0[r]);
        else _mm256_storeu_ps(cr + r * ldc, c0[r]);
        if (NV == 2) _mm256_storeu_ps(cr + r * ldc + 8, c1[r]);
    }
}

/* A whole 12-row panel against NC <= 3 columns of B (a batch of 1 to 3):
 * the rows go across the lanes (8 in one vector, 4 in a half), each
 * column of B is a broadcast, so a step of k is two loads of the panel and
 * NC broadcasts, where the tiles above spend 6 broadcasts on one useful
 * lane. Each element gets the same fused multiply-adds in the same order
 * as in tile8_f32, so the results are the same bits. */
TGT_AVX2 static ALWAYS_INLINE void panel_cols_f32(const int NC, int64_t rows, int nseg, const gemm_seg *seg,
                                                  int64_t i0, int64_t j0, float *c, int64_t ldc, const float *bias,
                                                  bool acc) {
    __m256 lo[3];
    __m128 hi[3];
    float *cr = c + i0 * ldc + j0;
    for (int j = 0; j < NC; j++) {
        float t[MR_MAX];
        for (int r = 0; r < MR_MAX; r++)
            t[r] = r >= rows ? 0 : acc ? cr[r * ldc + j] : bias ? bias[i0 + r] : 0;
        lo[j] = _mm256_loadu_ps(t);
        hi[j] = _mm_loadu_ps(t + 8);
    }
    for (int q = 0; q < nseg; q++) {
        const float *a = (const float *)seg[q].a + i0 * seg[q].k, *b = (const float *)seg[q].b + j0;
        int64_t ldb = seg[q].ldb, kk = seg[q].k;
        for (int64_t k = 0; k < kk; k++, a += MR_MAX, b += ldb) {
            __m256 a0 = _mm256_loadu_ps(a);
            __m128 a1 = _mm_loadu_ps(a + 8);
            _mm_prefetch((const char *)(a + PF_K * MR_MAX), _MM_HINT_T0);
            for (int j = 0; j < NC; j++) {
                __m256 bj = _mm256_broadcast_ss(b + j);
                lo[j] = _mm256_fmadd_ps(a0, bj, lo[j]);
                hi[j] = _mm_fmadd_ps(a1, _mm256_castps256_ps128(bj), hi[j]);
            }
        }
    }
    for (int j = 0; j < NC; j++) {
        float t[MR_MAX];
        _mm256_storeu_ps(t, lo[j]);
        _mm_storeu_ps(t + 8, hi[j]);
        for (int r = 0; r < rows; r++) cr[r * ldc + j] = t[r];
    }
}

/* a row of tiles (16 columns, 8, then the masked rest) from column 0 to cols */
#define TILE8_COLS(MR, PACKED, rows, r0)                                                                   \
    for (int64_t j = 0; j < cols;) {                                                                       \
        int64_t w = cols - j;                                                                              \
        if (w >= 16) {                                                                                     \
            tile8_f32(MR, 2, false, ones, PACKED, rows, nseg, seg, i0, r0, j0 + j, c, ldc, bias, acc);     \
            j += 16;                                                                                       \
        } else if (w >= 8) {                                                                               \
            tile8_f32(MR, 1, false, ones, PACKED, rows, nseg, seg, i0, r0, j0 + j, c, ldc, bias, acc);     \
            j += 8;                                                                                        \
        } else {                                                                                           \
            tile8_f32(MR, 1, true, first_lanes8(w), PACKED, rows, nseg, seg, i0, r0, j0 + j, c, ldc, bias, \
                      acc);                                                                                \
            j += w;                                                                                        \
        }                                                                                                  \
    }

/* gemm_block_f32_avx512's block on 8 lanes */
TGT_AVX2 static void gemm_block_f32_avx2(int64_t i0, int64_t rows, int64_t j0, int64_t cols, int nseg,
                                         const gemm_seg *seg, float *c, int64_t ldc, const float *bias, bool acc) {
    const __m256i ones = _mm256_set1_epi32(-1);
    if (seg[0].packed) {
        switch (cols) {      /* a batch of 1 to 3 (at 4 the tiles were as fast) */
        case 1: panel_cols_f32(1, rows, nseg, seg, i0, j0, c, ldc, bias, acc); return;
        case 2: panel_cols_f32(2, rows, nseg, seg, i0, j0, c, ldc, bias, acc); return;
        case 3: panel_cols_f32(3, rows, nseg, seg, i0, j0, c, ldc, bias, acc); return;
        default: break;
        }
        /* the panel's two halves; the rows past `rows` are the panel's zeros */
        TILE8_COLS(6, true, rows, 0);
        if (rows > MR8) TILE8_COLS(6, true, rows - MR8, MR8);
        return;
    }
    for (int64_t i = 0; i < rows;) {
        int64_t left = rows - i;
        int mr = left >= 6 ? 6 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        switch (mr) {
        case 6: TILE8_COLS(6, false, 6, i); break;
        case 4: TILE8_COLS(4, false, 4, i); break;
        case 2: TILE8_COLS(2, false, 2, i); break;
        default: TILE8_COLS(1, false, 1, i); break;
        }
        i += mr;
    }
}

/* the block of C at (i0, j0) of rows x cols, rows <= 12, cols <= 32: from
 * A packed (seg[0].packed) or in place */
static void gemm_block_f32(int64_t i0, int64_t rows, int64_t j0, int64_t cols, int nseg, const gemm_seg *seg,
                           float *c, int64_t ldc, const float *bias, bool acc) {
    if (nl_cpu_avx512f()) gemm_block_f32_avx512(i0, rows, j0, cols, nseg, seg, c, ldc, bias, acc);
    else gemm_block_f32_avx2(i0, rows, j0, cols, nseg, seg, c, ldc, bias, acc);
}

/* Work split between threads that keep their parts: a round's items (a
 * step's row chunks, a k block's row tiles) go out as one contiguous range
 * a thread; a thread takes its own from the front and, once they are
 * done, the others' from the back. The ranges are the same every round,
 * so an item's data stays in one core's cache while the threads run at
 * one speed, and only the items a slower thread leaves move. */
typedef struct steal_range {
    _Alignas(64) uint64_t lohi;     /* the items [lo, hi): lo in the low 32 bits */
} steal_range;

static void range_set(steal_range *r, int64_t lo, int64_t hi) {
    __atomic_store_n(&r->lohi, (uint64_t)lo | (uint64_t)hi << 32, __ATOMIC_RELEASE);
}

/* the front item of r, or its back one; -1 when none is left */
static int64_t range_take(steal_range *r, bool back) {
    uint64_t w = __atomic_load_n(&r->lohi, __ATOMIC_ACQUIRE);
    for (;;) {
        uint32_t lo = (uint32_t)w, hi = (uint32_t)(w >> 32);
        if (lo >= hi) return -1;
        uint64_t nw = back ? w - ((uint64_t)1 << 32) : w + 1;
        if (__atomic_compare_exchange_n(&r->lohi, &w, nw, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return back ? (int64_t)hi - 1 : (int64_t)lo;
    }
}

/* thread u of k: its own items of rs, then of more (numbered from nrs
 * on) where given; then the next threads' in the same order, from the back */
static int64_t next_item_of(steal_range *rs, steal_range *more, int64_t nrs, int u, int k) {
    for (int d = 0; d < k; d++) {
        int v = (u + d) % k;
        int64_t i = range_take(&rs[v], d > 0);
        if (i >= 0) return i;
        if (more && (i = range_take(&more[v], d > 0)) >= 0) return nrs + i;
    }
    return -1;
}

static int64_t next_item(steal_range *rs, int u, int k) { return next_item_of(rs, NULL, 0, u, k); }

/* n ranges, 64-byte aligned, on the heap: a thread's stack may be small,
 * and 1024 threads' ranges take 64 KB a set. NULL where there is no
 * memory; the caller then runs on one thread. */
static steal_range *ranges_alloc(int64_t n) { return aligned_alloc(64, (size_t)n * sizeof(steal_range)); }

/* thread u's own items of n split between k threads */
static void range_own(steal_range *r, int64_t n, int u, int k) { range_set(r, n * u / k, n * (u + 1) / k); }

/* The optimized float32 products that go through gemm(): dW's, one segment
 * a step (the steps' own products are the packed chunks' below), k in
 * blocks of SEG_BLOCK segments. For each block a thread runs its row
 * tiles of C, each against every column tile, so that the tile's rows of A stay in L1 across the columns
 * and the block's rows of B in L2 across the row tiles: A comes from memory
 * once, where a tile that ran over all of k read it once for every column
 * tile (W5's dW_hh: 8 MB of it, 8 times). A thread owns the same units of
 * C in every block, so they stay in its cache, and takes others' once its
 * own are done (steal_range), a barrier between blocks; where the row
 * tiles are fewer than twice the threads, the units are row tiles' column
 * groups. C goes to memory between blocks as float32 and comes back
 * unchanged: each element gets its products in the order of one pass, so
 * the result is the same bit for bit, on any thread count. */
#define SEG_BLOCK 8

static void gemm_kblocked_f32(int64_t m, int64_t n, int nseg, const gemm_seg *seg, float *c, int64_t ldc,
                              const float *bias, bool acc, int nt) {
    int64_t nrt = (m + MR_MAX - 1) / MR_MAX, nct = (n + 31) / 32, k = nt > 1 ? nt : 1;
    /* units: a row tile and a group of column tiles; more than one group
     * only where the row tiles are too few for the threads */
    int64_t ncg = 1;
    while (nrt * ncg < 2 * k && ncg < nct) ncg++;
    int64_t units = nrt * ncg;
    /* block b's ranges: rs + (b & 1) k, each set during block b - 1 */
    steal_range one[2], *rs = k > 1 ? ranges_alloc(2 * k) : NULL;
    if (!rs) {
        k = 1;
        rs = one;
    }
    for (int v = 0; v < k; v++) range_own(&rs[v], units, v, (int)k);
    #pragma omp parallel num_threads(nl_team((int)k)) if (k > 1)
    {
        int t = omp_get_thread_num();
        for (int q0 = 0, b = 0; q0 < nseg; q0 += SEG_BLOCK, b++) {
            if (t < k) {
                int qn = nseg - q0 < SEG_BLOCK ? nseg - q0 : SEG_BLOCK;
                range_own(&rs[((b + 1) & 1) * k + t], units, t, (int)k);
                for (int64_t u; (u = next_item(rs + (b & 1) * k, t, (int)k)) >= 0;) {
                    int64_t rt = u / ncg, cg = u % ncg, i0 = rt * MR_MAX;
                    for (int64_t ct = nct * cg / ncg; ct < nct * (cg + 1) / ncg; ct++) {
                        int64_t j0 = ct * 32;
                        gemm_block_f32(i0, m - i0 < MR_MAX ? m - i0 : MR_MAX, j0, n - j0 < 32 ? n - j0 : 32, qn,
                                       seg + q0, c, ldc, q0 == 0 ? bias : NULL, q0 > 0 || acc);
                    }
                }
            }
            #pragma omp barrier
        }
    }
    if (rs != one) free(rs);
}

static void gemm(int dt, bool reference, int64_t m, int64_t n, int nseg, const gemm_seg *seg, void *c, int64_t ldc,
                 const void *bias, bool acc) {
    if (m <= 0 || n <= 0) return;
    if (reference) {
        gemm_reference(dt, m, n, nseg, seg, c, ldc, bias, acc);
        return;
    }
    int64_t work = 0;
    for (int q = 0; q < nseg; q++) work += seg[q].k;
    int nt = nl_threads_for(work * m * n, GEMM_GRAIN);
    if (dt == NL_FLOAT32 && nl_cpu_avx2()) gemm_kblocked_f32(m, n, nseg, seg, c, ldc, bias, acc, nt);
    else gemm_blis(dt, m, n, nseg, seg, c, ldc, bias, acc, nt);
}

/* ---- cells ------------------------------------------------------------------
 * One step, from gate pre-activations that matmul made. Plain loops in
 * double over contiguous copies; forward saves the activated gates. */

static const char *mode_name(int mode) {
    switch (mode) {
    case NL_RNN_TANH: return "rnn_tanh";
    case NL_RNN_RELU: return "rnn_relu";
    case NL_RNN_LSTM: return "lstm";
    case NL_RNN_GRU: return "gru";
    default: return "rnn";
    }
}

/* t is a float (N, cols) matrix; false with the error set otherwise */
static bool check_matrix(const char *op, const char *what, nl_tensor *t, int64_t n, int64_t cols, int dtype) {
    if (!t) {
        nl_set_error("%s: %s: expected a tensor, got nil", op, what);
        return false;
    }
    if (t->dtype == NL_INT64 || (dtype >= 0 && t->dtype != dtype)) {
        nl_set_error("%s: %s must be %s, got %s", op, what, dtype >= 0 ? nl_dtype_name(dtype) : "float32 or float64",
                     nl_dtype_name(t->dtype));
        return false;
    }
    if (t->ndim != 2 || (n >= 0 && t->sizes[0] != n) || (cols >= 0 && t->sizes[1] != cols)) {
        char rows_s[24] = "batch", cols_s[24] = "size";
        if (n >= 0) snprintf(rows_s, sizeof rows_s, "%lld", (long long)n);
        if (cols >= 0) snprintf(cols_s, sizeof cols_s, "%lld", (long long)cols);
        nl_set_error("%s: %s has shape %s, expected [%s,%s]", op, what, nl_shape_str(t), rows_s, cols_s);
        return false;
    }
    return true;
}

/* gates (N, 4H) = [i f g o] pre-activations, c (N, H) -> out (N, 2H) = [h' | c'];
 * saved (N, 5H) = [i f g o tanh(c')] activated */
nl_tensor *nl_lstm_cell(nl_tensor *gates, nl_tensor *c) {
    const char *op = "lstm_cell";
    if (!check_matrix(op, "c", c, -1, -1, -1)) return NULL;
    int64_t n = c->sizes[0], h = c->sizes[1];
    if (!check_matrix(op, "gates", gates, n, 4 * h, c->dtype)) return NULL;
    int dt = c->dtype;
    nl_tensor *gc = nl_contiguous(gates), *cc = gc ? nl_contiguous(c) : NULL;
    nl_tensor *out = cc ? nl_tensor_alloc(op, 2, (int64_t[]){ n, 2 * h }, dt) : NULL;
    nl_tensor *sv = out ? nl_tensor_alloc(op, 2, (int64_t[]){ n, 5 * h }, dt) : NULL;
    if (sv) {
        const void *gp = gc->data, *cp = cc->data;
        void *op_ = out->data, *sp = sv->data;
        for (int64_t b = 0; b < n; b++)
            for (int64_t j = 0; j < h; j++) {
                int64_t gi = b * 4 * h + j;
                double i = sigmoid_d(LD(dt, gp, gi)), f = sigmoid_d(LD(dt, gp, gi + h));
                double g = tanh(LD(dt, gp, gi + 2 * h)), o = sigmoid_d(LD(dt, gp, gi + 3 * h));
                double cn = f * LD(dt, cp, b * h + j) + i * g, tc = tanh(cn);
                ST(dt, op_, b * 2 * h + j, o * tc);
                ST(dt, op_, b * 2 * h + h + j, cn);
                int64_t si = b * 5 * h + j;
                ST(dt, sp, si, i);
                ST(dt, sp, si + h, f);
                ST(dt, sp, si + 2 * h, g);
                ST(dt, sp, si + 3 * h, o);
                ST(dt, sp, si + 4 * h, tc);
            }
        nl_node *nd = nl_record(NL_OP_LSTM_CELL, out, 2, (nl_tensor *[]){ gates, c });
        if (nd) {
            nd->needs_in = 2;        /* c, for df */
            nl_node_save(nd, sv);
        }
    } else {
        nl_release(out);
        out = NULL;
    }
    nl_release(gc);
    nl_release(cc);
    nl_release(sv);
    return out;
}

/* g (N, 2H) = [dh' | dc']: dc = dc' + dh' o (1 - tanh^2 c'); dgates (N, 4H), dc_prev (N, H) */
static int lstm_cell_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *c = nd->in[1];
    int dt = c->dtype;
    int64_t n = c->sizes[0], h = c->sizes[1];
    nl_tensor *gc = nl_contiguous(g), *cc = gc ? nl_contiguous(c) : NULL;
    nl_tensor *dg = cc ? nl_tensor_alloc("lstm_cell", 2, (int64_t[]){ n, 4 * h }, dt) : NULL;
    nl_tensor *dc = dg ? nl_tensor_alloc("lstm_cell", 2, c->sizes, dt) : NULL;
    if (dc) {
        const void *gp = gc->data, *cp = cc->data, *sp = nd->saved->data;
        for (int64_t b = 0; b < n; b++)
            for (int64_t j = 0; j < h; j++) {
                int64_t si = b * 5 * h + j, gi = b * 4 * h + j;
                double i = LD(dt, sp, si), f = LD(dt, sp, si + h), gg = LD(dt, sp, si + 2 * h);
                double o = LD(dt, sp, si + 3 * h), tc = LD(dt, sp, si + 4 * h);
                double dh = LD(dt, gp, b * 2 * h + j);
                double dcn = LD(dt, gp, b * 2 * h + h + j) + dh * o * (1 - tc * tc);
                ST(dt, dg->data, gi, dcn * gg * i * (1 - i));
                ST(dt, dg->data, gi + h, dcn * LD(dt, cp, b * h + j) * f * (1 - f));
                ST(dt, dg->data, gi + 2 * h, dcn * i * (1 - gg * gg));
                ST(dt, dg->data, gi + 3 * h, dh * tc * o * (1 - o));
                ST(dt, dc->data, b * h + j, dcn * f);
            }
    }
    nl_release(gc);
    nl_release(cc);
    if (!dc) {
        nl_release(dg);
        return -1;
    }
    gin[0] = dg;
    gin[1] = dc;
    return 0;
}

/* gi, gh (N, 3H) = [r z n] parts of x and h, h (N, H) -> h' (N, H):
 * r = s(gi_r + gh_r), z = s(gi_z + gh_z), n = tanh(gi_n + r gh_n),
 * h' = (1 - z) n + z h; saved (N, 3H) = [r z n] */
nl_tensor *nl_gru_cell(nl_tensor *gi, nl_tensor *gh, nl_tensor *h) {
    const char *op = "gru_cell";
    if (!check_matrix(op, "h", h, -1, -1, -1)) return NULL;
    int64_t n = h->sizes[0], H = h->sizes[1];
    if (!check_matrix(op, "gi", gi, n, 3 * H, h->dtype) || !check_matrix(op, "gh", gh, n, 3 * H, h->dtype))
        return NULL;
    int dt = h->dtype;
    nl_tensor *ic = nl_contiguous(gi), *hc = ic ? nl_contiguous(gh) : NULL, *pc = hc ? nl_contiguous(h) : NULL;
    nl_tensor *out = pc ? nl_tensor_alloc(op, 2, h->sizes, dt) : NULL;
    nl_tensor *sv = out ? nl_tensor_alloc(op, 2, (int64_t[]){ n, 3 * H }, dt) : NULL;
    if (sv) {
        for (int64_t b = 0; b < n; b++)
            for (int64_t j = 0; j < H; j++) {
                int64_t k = b * 3 * H + j;
                double r = sigmoid_d(LD(dt, ic->data, k) + LD(dt, hc->data, k));
                double z = sigmoid_d(LD(dt, ic->data, k + H) + LD(dt, hc->data, k + H));
                double nn = tanh(LD(dt, ic->data, k + 2 * H) + r * LD(dt, hc->data, k + 2 * H));
                ST(dt, out->data, b * H + j, (1 - z) * nn + z * LD(dt, pc->data, b * H + j));
                ST(dt, sv->data, k, r);
                ST(dt, sv->data, k + H, z);
                ST(dt, sv->data, k + 2 * H, nn);
            }
        nl_node *nd = nl_record(NL_OP_GRU_CELL, out, 3, (nl_tensor *[]){ gi, gh, h });
        if (nd) {
            nd->needs_in = 6;        /* gh (its n part) and h */
            nl_node_save(nd, sv);
        }
    } else {
        nl_release(out);
        out = NULL;
    }
    nl_release(ic);
    nl_release(hc);
    nl_release(pc);
    nl_release(sv);
    return out;
}

static int gru_cell_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *gh = nd->in[1], *h = nd->in[2];
    int dt = h->dtype;
    int64_t n = h->sizes[0], H = h->sizes[1];
    nl_tensor *gc = nl_contiguous(g), *hc = gc ? nl_contiguous(gh) : NULL, *pc = hc ? nl_contiguous(h) : NULL;
    nl_tensor *dgi = pc ? nl_tensor_alloc("gru_cell", 2, gh->sizes, dt) : NULL;
    nl_tensor *dgh = dgi ? nl_tensor_alloc("gru_cell", 2, gh->sizes, dt) : NULL;
    nl_tensor *dh = dgh ? nl_tensor_alloc("gru_cell", 2, h->sizes, dt) : NULL;
    if (dh) {
        const void *sp = nd->saved->data;
        for (int64_t b = 0; b < n; b++)
            for (int64_t j = 0; j < H; j++) {
                int64_t k = b * 3 * H + j;
                double r = LD(dt, sp, k), z = LD(dt, sp, k + H), nn = LD(dt, sp, k + 2 * H);
                double d = LD(dt, gc->data, b * H + j), hp = LD(dt, pc->data, b * H + j);
                double dnp = d * (1 - z) * (1 - nn * nn);
                double drp = dnp * LD(dt, hc->data, k + 2 * H) * r * (1 - r);
                double dzp = d * (hp - nn) * z * (1 - z);
                ST(dt, dgi->data, k, drp);
                ST(dt, dgi->data, k + H, dzp);
                ST(dt, dgi->data, k + 2 * H, dnp);
                ST(dt, dgh->data, k, drp);
                ST(dt, dgh->data, k + H, dzp);
                ST(dt, dgh->data, k + 2 * H, dnp * r);
                ST(dt, dh->data, b * H + j, d * z);
            }
    }
    nl_release(gc);
    nl_release(hc);
    nl_release(pc);
    if (!dh) {
        nl_release(dgi);
        nl_release(dgh);
        return -1;
    }
    gin[0] = dgi;
    gin[1] = dgh;
    gin[2] = dh;
    return 0;
}

/* h' = act(gi + gh), gi and gh (N, H); gh optional */
nl_tensor *nl_rnn_cell(nl_tensor *gi, nl_tensor *gh, int mode) {
    const char *op = "rnn_cell";
    NL_CHECK(mode == NL_RNN_TANH || mode == NL_RNN_RELU,
             "%s: mode must be NL_RNN_TANH or NL_RNN_RELU, got %d", op, mode);
    if (!check_matrix(op, "gi", gi, -1, -1, -1)) return NULL;
    if (gh && !check_matrix(op, "gh", gh, gi->sizes[0], gi->sizes[1], gi->dtype)) return NULL;
    int dt = gi->dtype, kind = mode == NL_RNN_TANH ? ACT_TANH : ACT_RELU;
    int64_t n = gi->sizes[0], H = gi->sizes[1];
    nl_tensor *ic = nl_contiguous(gi), *hc = ic && gh ? nl_contiguous(gh) : NULL;
    nl_tensor *out = ic && (hc || !gh) ? nl_tensor_alloc(op, 2, gi->sizes, dt) : NULL;
    if (out)
        for (int64_t k = 0; k < n * H; k++)
            ST(dt, out->data, k, act_d(kind, LD(dt, ic->data, k) + (hc ? LD(dt, hc->data, k) : 0)));
    nl_release(ic);
    nl_release(hc);
    nl_node *nd = nl_record(NL_OP_RNN_CELL, out, gh ? 2 : 1, (nl_tensor *[]){ gi, gh });
    if (nd) {
        nd->a[1] = mode;
        nl_node_save_output(nd, out);
    }
    return out;
}

/* d = g act'(h'), from the output: tanh 1 - h'^2, relu h' > 0 */
static int rnn_cell_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *y = nd->saved;
    int dt = y->dtype;
    bool is_tanh = nd->a[1] == NL_RNN_TANH;
    nl_tensor *gc = nl_contiguous(g), *yc = gc ? nl_contiguous(y) : NULL;
    nl_tensor *d = yc ? nl_tensor_alloc("rnn_cell", 2, y->sizes, dt) : NULL;
    if (d)
        for (int64_t k = 0; k < y->numel; k++) {
            double h = LD(dt, yc->data, k), gv = LD(dt, gc->data, k);
            ST(dt, d->data, k, is_tanh ? gv * (1 - h * h) : (h > 0 ? gv : 0));
        }
    nl_release(gc);
    nl_release(yc);
    if (!d) return -1;
    gin[0] = d;
    if (nd->n_in > 1) {
        nl_retain(d);
        gin[1] = d;
    }
    return 0;
}

/* ---- layers -------------------------------------------------------------------
 * A whole sequence for one layer. The forward keeps, in one saved
 * workspace (offsets in elements; every per-step block is contiguous with
 * Np columns, the batch padded with zeros):
 *   zt  (T+1, K, Np)  block t: rows 0..I-1 x_t^T, rows I..K-1 h_{t-1}^T;
 *                     block T holds h_{T-1} (K = I + H)
 *   z   (T Np, K)     rows (t, b) = [x_t[b] | h_{t-1}[b]], for dW
 *   a   (T, GH, Np)   activated gates: LSTM i f g o, GRU r z n, RNN h
 *   c   (T+1, H, Np)  LSTM: c0 in block 0, c_t in block t+1
 *   tc  (T, H, Np)    LSTM: tanh(c_t)
 *   ghn (T, H, Np)    GRU: W_hn h_{t-1} + b_hn
 *   on  (T, Np)       the steps' column masks (1 while sequence b runs)
 * and scratch: gx, gh (3H, Np) GRU's x and h parts of one step; bsum (GH)
 * b_ih + b_hh. */

enum {
    F_BIAS = 1, F_H0 = 2, F_C0 = 4, F_LEN = 8, F_BATCH_FIRST = 16, F_REFERENCE = 32
};

#define CHUNK 16                /* rows of H per task of an elementwise step */

typedef struct rnn_seq {
    int mode, dt;
    bool reference, batch_first;
    int64_t T, N, Np, I, H, G, GH, K;
    int64_t es;                 /* element size */
    char *ws;                   /* the workspace */
    int64_t o_zt, o_z, o_a, o_c, o_tc, o_ghn, o_gx, o_gh, o_on, o_bsum, total;
    const int64_t *len;         /* (N) optional */
    int nt;                     /* threads of the elementwise steps */
} rnn_seq;

#define BUF(s, off) ((void *)((s)->ws + (off) * (s)->es))

static void seq_init(rnn_seq *s, int mode, int dt, int64_t T, int64_t N, int64_t I, int64_t H, int flags) {
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->dt = dt;
    s->reference = flags & F_REFERENCE;
    s->batch_first = flags & F_BATCH_FIRST;
    s->T = T; s->N = N; s->I = I; s->H = H;
    s->Np = (N + 15) / 16 * 16;
    s->G = mode == NL_RNN_LSTM ? 4 : mode == NL_RNN_GRU ? 3 : 1;
    s->GH = s->G * H;
    s->K = I + H;
    s->es = nl_dtype_size(dt);
    int64_t o = 0, Np = s->Np;
    s->o_zt = o; o += (T + 1) * s->K * Np;
    s->o_z = o; o += T * Np * s->K;
    s->o_a = o; o += T * s->GH * Np;
    if (mode == NL_RNN_LSTM) {
        s->o_c = o; o += (T + 1) * H * Np;
        s->o_tc = o; o += T * H * Np;
    }
    if (mode == NL_RNN_GRU) {
        s->o_ghn = o; o += T * H * Np;
        s->o_gx = o; o += 3 * H * Np;
        s->o_gh = o; o += 3 * H * Np;
    }
    s->o_on = o; o += T * Np;
    s->o_bsum = o; o += s->GH;
    s->total = o;
    s->nt = nl_threads_for(H * Np * s->G * 8, STEP_GRAIN);
}

/* element offset of output step t of sequence b (its H values follow) */
static inline int64_t y_off(const rnn_seq *s, int64_t t, int64_t b) {
    return (s->batch_first ? b * s->T + t : t * s->N + b) * s->H;
}

/* the step masks (T, Np): on[t][b] = 1 where sequence b still runs at
 * step t, else 0 (and 0 in the padding past N); the forward writes them,
 * the backward reads them back */
static void step_masks(const rnn_seq *s) {
    for (int64_t t = 0; t < s->T; t++)
        for (int64_t b = 0; b < s->Np; b++)
            ST(s->dt, BUF(s, s->o_on), t * s->Np + b, b < s->N && (!s->len || t < s->len[b]) ? 1.0 : 0.0);
}

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (a block of
 * at most 16 x 16; transpose16_block with AVX-512) */
#define XPOSE_LOOPS(NAME, T)                                                                       \
    static void NAME(T *dst, int64_t ldd, const T *src, int64_t lds, int rows, int cols) {         \
        for (int c = 0; c < cols; c++)                                                             \
            for (int r = 0; r < rows; r++) dst[c * ldd + r] = src[r * lds + c];                    \
    }
XPOSE_LOOPS(xpose_f32, float)
XPOSE_LOOPS(xpose_f64, double)
TGT_AVX512 static void xpose_f32_avx512(float *dst, int64_t ldd, const float *src, int64_t lds, int rows, int cols) {
    transpose16_block(dst, ldd, src, lds, rows, cols);
}

/* dst[c * ldd + r] = src[r * lds + c]: a (rows, cols) block transposed,
 * in 16 x 16 tiles */
static void transpose(int dt, void *dst, int64_t ldd, const void *src, int64_t lds, int64_t rows, int64_t cols) {
    bool wide = dt == NL_FLOAT32 && nl_cpu_avx512f();
    for (int64_t r0 = 0; r0 < rows; r0 += 16)
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            int rn = rows - r0 < 16 ? (int)(rows - r0) : 16, cn = cols - c0 < 16 ? (int)(cols - c0) : 16;
            if (dt == NL_FLOAT64)
                xpose_f64((double *)dst + c0 * ldd + r0, ldd, (const double *)src + r0 * lds + c0, lds, rn, cn);
            else if (wide)
                xpose_f32_avx512((float *)dst + c0 * ldd + r0, ldd, (const float *)src + r0 * lds + c0, lds, rn, cn);
            else
                xpose_f32((float *)dst + c0 * ldd + r0, ldd, (const float *)src + r0 * lds + c0, lds, rn, cn);
        }
}

/* n (at most 16) elements of a step's row: a whole chunk's 16 (or 12, the
 * packed forward's) as one fixed-size copy the compiler inlines */
#define COPY16(dst, src, n)                                                                        \
    do {                                                                                           \
        if ((n) == 16) memcpy((dst), (src), 16 * sizeof *(src));                                   \
        else if ((n) == 12) memcpy((dst), (src), 12 * sizeof *(src));                              \
        else memcpy((dst), (src), (size_t)(n) * sizeof *(src));                                    \
    } while (0)

/* ---- one step's elementwise kernels, rows [j0, j1) of H ----
 * Written once for each element type ET and instruction set (ATTR, ACT:
 * its activations), in ET arithmetic over contiguous rows so that the
 * compiler vectorizes them; on[b] selects what a finished sequence keeps.
 *
 * forward: the gates of step t are in a's block t (pre-activations, from
 * the GEMM); leaves the activations there, the states of step t, and h_t
 * transposed into z's next rows and into the output out.
 *
 * backward: dh (H, Np) holds the gradient of h_t from later steps and
 * from h_n, dc (H, Np) that of c_t (LSTM); dy (H, Np) is scratch for the
 * output's gradient gout at step t, transposed. Writes the gate gradients
 * of the x and h parts into dgx, dgh (GH, Np) (one buffer but for GRU),
 * their row sums into db_x, db_h, and, where given, copies them into
 * column block t of dgx_all, dgh_all (GH, ldg). dh leaves holding what
 * passes straight to h_{t-1} (GRU's z dh, and all of it past a sequence's
 * end); the step's GEMM then adds W_hh^T dgh. */
#define RNN_STEP_KERNELS(ET, SFX, ATTR, ACT, XPOSE)                                                \
ATTR static void step_forward_##SFX(const rnn_seq *s, int64_t t, int64_t j0, int64_t j1, ET *out) { \
    const int64_t H = s->H, Np = s->Np, I = s->I, K = s->K, rows = j1 - j0, n = rows * Np;         \
    const ET *on = (const ET *)s->ws + s->o_on + t * Np;                                           \
    ET *a = (ET *)s->ws + s->o_a + t * s->GH * Np;                                                 \
    ET *zt = (ET *)s->ws + s->o_zt;                                                                \
    const ET *hp = zt + (t * K + I + j0) * Np;                                                     \
    ET *hn = zt + ((t + 1) * K + I + j0) * Np;                                                     \
    if (s->mode == NL_RNN_LSTM) {                                                                  \
        ET *gi = a + j0 * Np, *gf = a + (H + j0) * Np, *gg = a + (2 * H + j0) * Np;                \
        ET *go = a + (3 * H + j0) * Np;                                                            \
        const ET *cp = (const ET *)s->ws + s->o_c + (t * H + j0) * Np;                             \
        ET *cn = (ET *)s->ws + s->o_c + ((t + 1) * H + j0) * Np;                                   \
        ET *tc = (ET *)s->ws + s->o_tc + (t * H + j0) * Np;                                        \
        ACT(ACT_SIGMOID, gi, n);                                                                   \
        ACT(ACT_SIGMOID, gf, n);                                                                   \
        ACT(ACT_TANH, gg, n);                                                                      \
        ACT(ACT_SIGMOID, go, n);                                                                   \
        for (int64_t r = 0; r < rows; r++)                                                         \
            _Pragma("GCC ivdep")                                                                   \
            for (int64_t b = 0; b < Np; b++) {                                                     \
                int64_t k = r * Np + b;                                                            \
                ET c = on[b] != 0 ? gf[k] * cp[k] + gi[k] * gg[k] : cp[k];                         \
                cn[k] = c;                                                                         \
                tc[k] = c;                                                                         \
            }                                                                                      \
        ACT(ACT_TANH, tc, n);                                                                      \
        for (int64_t r = 0; r < rows; r++)                                                         \
            _Pragma("GCC ivdep")                                                                   \
            for (int64_t b = 0; b < Np; b++) {                                                     \
                int64_t k = r * Np + b;                                                            \
                hn[k] = on[b] != 0 ? go[k] * tc[k] : hp[k];                                        \
            }                                                                                      \
    } else if (s->mode == NL_RNN_GRU) {                                                            \
        const ET *gx = (const ET *)s->ws + s->o_gx, *gh = (const ET *)s->ws + s->o_gh;             \
        const ET *xr = gx + j0 * Np, *xz = gx + (H + j0) * Np, *xn = gx + (2 * H + j0) * Np;       \
        const ET *hr = gh + j0 * Np, *hz = gh + (H + j0) * Np, *hnp = gh + (2 * H + j0) * Np;      \
        ET *ar = a + j0 * Np, *az = a + (H + j0) * Np, *an = a + (2 * H + j0) * Np;                \
        ET *ghn = (ET *)s->ws + s->o_ghn + (t * H + j0) * Np;                                      \
        _Pragma("GCC ivdep")                                                                       \
        for (int64_t k = 0; k < n; k++) {                                                          \
            ar[k] = xr[k] + hr[k];                                                                 \
            az[k] = xz[k] + hz[k];                                                                 \
        }                                                                                          \
        ACT(ACT_SIGMOID, ar, n);                                                                   \
        ACT(ACT_SIGMOID, az, n);                                                                   \
        _Pragma("GCC ivdep")                                                                       \
        for (int64_t k = 0; k < n; k++) {                                                          \
            ghn[k] = hnp[k];                                                                       \
            an[k] = xn[k] + ar[k] * hnp[k];                                                        \
        }                                                                                          \
        ACT(ACT_TANH, an, n);                                                                      \
        for (int64_t r = 0; r < rows; r++)                                                         \
            _Pragma("GCC ivdep")                                                                   \
            for (int64_t b = 0; b < Np; b++) {                                                     \
                int64_t k = r * Np + b;                                                            \
                hn[k] = on[b] != 0 ? (1 - az[k]) * an[k] + az[k] * hp[k] : hp[k];                  \
            }                                                                                      \
    } else {                                                                                       \
        ET *ah = a + j0 * Np;                                                                      \
        ACT(s->mode == NL_RNN_TANH ? ACT_TANH : ACT_RELU, ah, n);                                  \
        for (int64_t r = 0; r < rows; r++)                                                         \
            _Pragma("GCC ivdep")                                                                   \
            for (int64_t b = 0; b < Np; b++) {                                                     \
                int64_t k = r * Np + b;                                                            \
                hn[k] = on[b] != 0 ? ah[k] : hp[k];                                                \
            }                                                                                      \
    }                                                                                              \
    ET *z = (ET *)s->ws + s->o_z;                                                                  \
    for (int64_t b0 = 0; b0 < Np; b0 += 16) {     /* 16 columns of hn, transposed: ht[b][r] */     \
        ET ht[16][16];                                                                             \
        XPOSE(&ht[0][0], 16, hn + b0, Np, (int)rows, 16);                                          \
        for (int64_t i = 0; i < 16; i++) {                                                         \
            int64_t b = b0 + i;                                                                    \
            if (t + 1 < s->T) COPY16(z + ((t + 1) * Np + b) * K + I + j0, ht[i], rows);             \
            if (b >= s->N) continue;                                                               \
            ET *yr = out + y_off(s, t, b) + j0;                                                    \
            if (on[b] != 0) COPY16(yr, ht[i], rows);                                               \
            else memset(yr, 0, rows * sizeof(ET));                                                 \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
ATTR static void step_backward_##SFX(const rnn_seq *s, int64_t t, int64_t j0, int64_t j1,          \
                                     const ET *gout, ET *dh, ET *dc, ET *dy, ET *dgx, ET *dgh,     \
                                     double *db_x, double *db_h) {                                 \
    const int64_t H = s->H, Np = s->Np, I = s->I, K = s->K, rows = j1 - j0;                        \
    const ET *on = (const ET *)s->ws + s->o_on + t * Np;                                           \
    const ET *a = (const ET *)s->ws + s->o_a + t * s->GH * Np;                                     \
    const ET *zt = (const ET *)s->ws + s->o_zt;                                                    \
    for (int64_t b0 = 0; b0 < Np; b0 += 16) {     /* gout's rows of 16 sequences, transposed */ \
        ET gt[16][16];                                                                             \
        for (int64_t i = 0; i < 16; i++) {                                                         \
            int64_t b = b0 + i;                                                                    \
            if (b < s->N && on[b] != 0) COPY16(gt[i], gout + y_off(s, t, b) + j0, rows);           \
            else memset(gt[i], 0, rows * sizeof(ET));                                              \
        }                                                                                          \
        XPOSE(dy + j0 * Np + b0, Np, &gt[0][0], 16, 16, (int)rows);                                \
    }                                                                                              \
    for (int64_t r = 0; r < rows; r++) {                                                           \
        int64_t j = j0 + r;                                                                        \
        ET *dhr = dh + j * Np;                                                                     \
        const ET *dyr = dy + j * Np;                                                               \
        if (s->mode == NL_RNN_LSTM) {                                                              \
            const ET *ai = a + j * Np, *af = a + (H + j) * Np, *ag = a + (2 * H + j) * Np;         \
            const ET *ao = a + (3 * H + j) * Np;                                                   \
            const ET *tc = (const ET *)s->ws + s->o_tc + (t * H + j) * Np;                         \
            const ET *cp = (const ET *)s->ws + s->o_c + (t * H + j) * Np;                          \
            ET *dcr = dc + j * Np;                                                                 \
            ET *di = dgx + j * Np, *df = dgx + (H + j) * Np, *dg = dgx + (2 * H + j) * Np;         \
            ET *dO = dgx + (3 * H + j) * Np;                                                       \
            _Pragma("GCC ivdep")                                                                   \
            for (int64_t b = 0; b < Np; b++) {                                                     \
                ET d = dhr[b] + dyr[b], i = ai[b], f = af[b], g = ag[b], o = ao[b], tv = tc[b];    \
                ET dcv = dcr[b] + d * o * (1 - tv * tv);                                           \
                bool run = on[b] != 0;                                                             \
                di[b] = run ? dcv * g * i * (1 - i) : 0;                                           \
                df[b] = run ? dcv * cp[b] * f * (1 - f) : 0;                                       \
                dg[b] = run ? dcv * i * (1 - g * g) : 0;                                           \
                dO[b] = run ? d * tv * o * (1 - o) : 0;                                            \
                dcr[b] = run ? dcv * f : dcr[b];                                                   \
                dhr[b] = run ? 0 : d;                                                              \
            }                                                                                      \
        } else if (s->mode == NL_RNN_GRU) {                                                        \
            const ET *ar = a + j * Np, *az = a + (H + j) * Np, *an = a + (2 * H + j) * Np;         \
            const ET *ghn = (const ET *)s->ws + s->o_ghn + (t * H + j) * Np;                       \
            const ET *hp = zt + (t * K + I + j) * Np;                                              \
            ET *xr = dgx + j * Np, *xz = dgx + (H + j) * Np, *xn = dgx + (2 * H + j) * Np;         \
            ET *hr = dgh + j * Np, *hz = dgh + (H + j) * Np, *hn = dgh + (2 * H + j) * Np;         \
            _Pragma("GCC ivdep")                                                                   \
            for (int64_t b = 0; b < Np; b++) {                                                     \
                ET d = dhr[b] + dyr[b], r_ = ar[b], zv = az[b], nv = an[b];                        \
                ET dn = d * (1 - zv) * (1 - nv * nv);                                              \
                ET dr = dn * ghn[b] * r_ * (1 - r_);                                               \
                ET dz = d * (hp[b] - nv) * zv * (1 - zv);                                          \
                bool run = on[b] != 0;                                                             \
                xr[b] = hr[b] = run ? dr : 0;                                                      \
                xz[b] = hz[b] = run ? dz : 0;                                                      \
                xn[b] = run ? dn : 0;                                                              \
                hn[b] = run ? dn * r_ : 0;                                                         \
                dhr[b] = run ? d * zv : d;                                                         \
            }                                                                                      \
        } else {                                                                                   \
            const ET *h = zt + ((t + 1) * K + I + j) * Np;                                         \
            ET *dp = dgx + j * Np;                                                                 \
            bool is_tanh = s->mode == NL_RNN_TANH;                                                 \
            _Pragma("GCC ivdep")                                                                   \
            for (int64_t b = 0; b < Np; b++) {                                                     \
                ET d = dhr[b] + dyr[b], hv = h[b];                                                 \
                ET v = is_tanh ? d * (1 - hv * hv) : (hv > 0 ? d : 0);                             \
                bool run = on[b] != 0;                                                             \
                dp[b] = run ? v : 0;                                                               \
                dhr[b] = run ? 0 : d;                                                              \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* the bias gradients: each row's 16 lane sums, then each row's lanes in                       \
     * order in double, the rows side by side (the compiler's vectors run                          \
     * across rows); rows <= 16, a chunk. GRU's h part has its own sums. */                        \
    for (int64_t q = 0; q < s->G; q++)                                                             \
        for (int part = 0; part < (db_h ? 2 : 1); part++) {                                        \
            const ET *src = part ? dgh : dgx;                                                      \
            double *db = part ? db_h : db_x, sum[16] = { 0 };                                      \
            ET pt[16][16];                       /* pt[l][r]: lane l of row r */                   \
            for (int64_t r = 0; r < rows; r++) {                                                   \
                const ET *g_ = src + (q * H + j0 + r) * Np;                                        \
                ET p[16] = { 0 };                /* 16 lanes: Np is a multiple of 16 */            \
                for (int64_t b = 0; b < Np; b += 16)                                               \
                    for (int l = 0; l < 16; l++) p[l] += g_[b + l];                                \
                for (int l = 0; l < 16; l++) pt[l][r] = p[l];                                      \
            }                                                                                      \
            for (int l = 0; l < 16; l++)                                                           \
                for (int64_t r = 0; r < rows; r++) sum[r] += pt[l][r];                             \
            for (int64_t r = 0; r < rows; r++) db[q * H + j0 + r] += sum[r];                       \
        }                                                                                          \
}

RNN_STEP_KERNELS(float, f32_avx512, TGT_AVX512, act_f32_avx512, transpose16_block)
RNN_STEP_KERNELS(float, f32_avx2, TGT_AVX2, act_f32_avx2, xpose_f32)
RNN_STEP_KERNELS(float, f32, , act_f32_ref, xpose_f32)
RNN_STEP_KERNELS(double, f64, , act_f64_ref, xpose_f64)

/* The steps of the unpacked paths (float64, the reference, float32 on
 * CPUs without AVX2): a GEMM, then the cell kernels over chunks of CHUNK
 * rows, each its own parallel region; their kernels are the plain ones,
 * libm in double. */
static void run_step_forward(const rnn_seq *s, int64_t t, void *out) {
    int64_t nch = (s->H + CHUNK - 1) / CHUNK;
    NL_PARALLEL_FOR(s->nt, ci, nch,
        int64_t j0 = ci * CHUNK, j1 = j0 + CHUNK < s->H ? j0 + CHUNK : s->H;
        if (s->dt == NL_FLOAT32) step_forward_f32(s, t, j0, j1, out);
        else step_forward_f64(s, t, j0, j1, out);
    );
}

typedef struct bwd_bufs {
    void *dh, *dc, *dy;                 /* (H, Np) each */
    char *dgx, *dgh;                    /* (T, GH, Np) gate gradients of all steps, or (GH, Np) of one */
    bool all_steps;                     /* dgx and dgh keep every step (for dW) */
    double *db_x, *db_h;                /* (GH) each; db_h optional */
} bwd_bufs;

/* block of the gate gradients that step t writes */
static char *step_block(const rnn_seq *s, const bwd_bufs *w, char *all, int64_t t) {
    return w->all_steps ? all + t * s->GH * s->Np * s->es : all;
}

static void run_step_backward(const rnn_seq *s, int64_t t, const void *gout, const bwd_bufs *w) {
    int64_t nch = (s->H + CHUNK - 1) / CHUNK;
    void *dgx = step_block(s, w, w->dgx, t), *dgh = step_block(s, w, w->dgh, t);
    NL_PARALLEL_FOR(s->nt, ci, nch,
        int64_t j0 = ci * CHUNK, j1 = j0 + CHUNK < s->H ? j0 + CHUNK : s->H;
        if (s->dt == NL_FLOAT32)
            step_backward_f32(s, t, j0, j1, gout, w->dh, w->dc, w->dy, dgx, dgh, w->db_x, w->db_h);
        else step_backward_f64(s, t, j0, j1, gout, w->dh, w->dc, w->dy, dgx, dgh, w->db_x, w->db_h);
    );
}

#define LOAD_GRAIN (1 << 15)    /* elements of x per thread of a load */

/* Copies x (through its strides), h0 and c0 into the workspace. */
static void seq_load(const rnn_seq *s, nl_tensor *x, nl_tensor *h0, nl_tensor *c0) {
    const int dt = s->dt;
    const int64_t Np = s->Np, K = s->K, I = s->I, H = s->H, N = s->N;
    char *zt = BUF(s, s->o_zt), *z = BUF(s, s->o_z);
    int64_t xt = s->batch_first ? x->strides[1] : x->strides[0], xb = s->batch_first ? x->strides[0] : x->strides[1];
    int64_t xi = x->strides[2];
    /* the steps split between threads: the writes go to memory that is
     * seldom in cache (a sequence's workspace) */
    NL_PARALLEL_FOR(nl_threads_for(s->T * Np * I, LOAD_GRAIN), t, s->T,
        for (int64_t b = 0; b < Np; b++) {
            char *zr = z + (t * Np + b) * K * s->es;
            if (b >= N) {
                memset(zr, 0, I * s->es);
                continue;
            }
            if (dt == NL_FLOAT32) {
                const float *src = (const float *)x->data + t * xt + b * xb;
                for (int64_t i = 0; i < I; i++) ((float *)zr)[i] = src[i * xi];
            } else {
                const double *src = (const double *)x->data + t * xt + b * xb;
                for (int64_t i = 0; i < I; i++) ((double *)zr)[i] = src[i * xi];
            }
        }
        transpose(dt, zt + t * K * Np * s->es, Np, z + t * Np * K * s->es, K, Np, I);
    );
    /* h rows of block 0 (and z's first rows): h0; c's block 0: c0 */
    for (int64_t j = 0; j < H; j++)
        for (int64_t b = 0; b < Np; b++) {
            double v = h0 && b < N ? LD(dt, h0->data, b * h0->strides[0] + j * h0->strides[1]) : 0;
            ST(dt, zt, (I + j) * Np + b, v);
            ST(dt, z, b * K + I + j, v);
            if (s->mode == NL_RNN_LSTM)
                ST(dt, BUF(s, s->o_c), j * Np + b,
                   c0 && b < N ? LD(dt, c0->data, b * c0->strides[0] + j * c0->strides[1]) : 0);
        }
}

/* the GEMMs read packed weights (float32 with AVX2 or AVX-512, not the
 * reference), else the tensors */
static bool packs(const rnn_seq *s) { return s->dt == NL_FLOAT32 && !s->reference && nl_cpu_avx2(); }

/* The packed weights: each gate's H rows a block of its own, so that rows
 * [12 c, 12 c + 12) of every gate are one panel of each block: [w_ih |
 * w_hh] (H, K) per gate, or for GRU the G blocks of w_ih (H, I) and then
 * the G of w_hh (H, H). */
static int64_t packed_weights_size(const rnn_seq *s) {
    return s->G * (s->mode == NL_RNN_GRU ? packed_size(s->H, s->I) + packed_size(s->H, s->H) : packed_size(s->H, s->K));
}

static void pack_weights(const rnn_seq *s, float *wp, const float *w_ih, const float *w_hh) {
    const int64_t H = s->H, I = s->I, K = s->K;
    for (int64_t q = 0; q < s->G; q++)
        if (s->mode == NL_RNN_GRU) {
            pack_rows(wp + q * packed_size(H, I), I, 0, w_ih + q * H * I, H, I, I);
            pack_rows(wp + s->G * packed_size(H, I) + q * packed_size(H, H), H, 0, w_hh + q * H * H, H, H, H);
        } else {
            pack_rows(wp + q * packed_size(H, K), K, 0, w_ih + q * H * I, H, I, I);
            pack_rows(wp + q * packed_size(H, K), K, I, w_hh + q * H * H, H, H, H);
        }
}

/* chunk c of step t: rows [12 c, 12 c + 12) of H. Its rows of every
 * gate's products (bias_x: bsum, or GRU's b_ih; bias_h GRU's b_hh), then
 * its cell kernel, which reads only those rows */
static void chunk_forward(const rnn_seq *s, int64_t t, int64_t c, const float *wp, const float *bias_x,
                          const float *bias_h, float *out) {
    const int64_t H = s->H, Np = s->Np, I = s->I, K = s->K, i0 = c * MR_MAX;
    const int64_t rows = H - i0 < MR_MAX ? H - i0 : MR_MAX;
    const float *xt = (const float *)s->ws + s->o_zt + t * K * Np, *ht = xt + I * Np;
    /* the rows the cell kernel writes last, h_t into the output and into
     * z for dW, are seldom in cache: fetched for writing now, they arrive
     * while the products run */
    const float *z = (const float *)s->ws + s->o_z;
    for (int64_t b = 0; b < s->N; b++) {
        const float *yr = out + y_off(s, t, b) + i0;
        __builtin_prefetch(yr, 1, 3);
        __builtin_prefetch(yr + rows - 1, 1, 3);
        if (t + 1 < s->T) {
            const float *zr = z + ((t + 1) * Np + b) * K + I + i0;
            __builtin_prefetch(zr, 1, 3);
            __builtin_prefetch(zr + rows - 1, 1, 3);
        }
    }
    for (int64_t q = 0; q < s->G; q++)
        if (s->mode == NL_RNN_GRU) {
            float *gx = (float *)s->ws + s->o_gx + q * H * Np, *gh = (float *)s->ws + s->o_gh + q * H * Np;
            gemm_seg sx = seg_of(wp + q * packed_size(H, I), 0, xt, Np, I, true);
            gemm_seg sh = seg_of(wp + s->G * packed_size(H, I) + q * packed_size(H, H), 0, ht, Np, H, true);
            gemm_block_f32(i0, rows, 0, s->N, 1, &sx, gx, Np, bias_x ? bias_x + q * H : NULL, false);
            gemm_block_f32(i0, rows, 0, s->N, 1, &sh, gh, Np, bias_h ? bias_h + q * H : NULL, false);
        } else {
            float *a = (float *)s->ws + s->o_a + (t * s->GH + q * H) * Np;
            gemm_seg sg = seg_of(wp + q * packed_size(H, K), 0, xt, Np, K, true);
            gemm_block_f32(i0, rows, 0, s->N, 1, &sg, a, Np, bias_x ? bias_x + q * H : NULL, false);
        }
    if (nl_cpu_avx512f()) step_forward_f32_avx512(s, t, i0, i0 + rows, out);
    else step_forward_f32_avx2(s, t, i0, i0 + rows, out);
}

/* The packed forward: one parallel region for the sequence, each step its
 * chunks and a barrier (the next step's products read all of h_t). Each
 * chunk's products and states stay in the cache of the core that made
 * them; the chunks a thread owns are the same every step. Ranges are
 * double-buffered: a thread sets its range for step t + 1 during step t,
 * after the barrier that ended t - 1, the last step to use that buffer. */
static void seq_forward_packed(const rnn_seq *s, const float *wp, const float *bias_x, const float *bias_h,
                               float *out) {
    int64_t nch = (s->H + MR_MAX - 1) / MR_MAX;
    int nt = nl_threads_for(s->K * s->GH * s->Np, GEMM_GRAIN);
    int k = nt < nch ? nt : (int)nch;
    steal_range *rs = k > 1 ? ranges_alloc(2 * k) : NULL;
    if (!rs) {      /* one thread: the chunks in order, without a range's compare-and-swap each */
        for (int64_t t = 0; t < s->T; t++)
            for (int64_t c = 0; c < nch; c++) chunk_forward(s, t, c, wp, bias_x, bias_h, out);
        return;
    }
    for (int u = 0; u < k; u++) range_own(&rs[u], nch, u, k);
    #pragma omp parallel num_threads(nl_team(k))
    {
        int u = omp_get_thread_num();
        for (int64_t t = 0; t < s->T; t++) {
            if (u < k) {
                steal_range *cur = rs + (t & 1) * k;
                range_own(&rs[((t + 1) & 1) * k + u], nch, u, k);
                for (int64_t c; (c = next_item(cur, u, k)) >= 0;) chunk_forward(s, t, c, wp, bias_x, bias_h, out);
            }
            #pragma omp barrier
        }
    }
    free(rs);
}

/* wp: packed weights (pack_weights) when packs(s) */
static void seq_forward(rnn_seq *s, nl_tensor *x, nl_tensor *w_ih, nl_tensor *w_hh, nl_tensor *b_ih,
                        nl_tensor *b_hh, nl_tensor *h0, nl_tensor *c0, float *wp, void *out) {
    const int dt = s->dt;
    const int64_t Np = s->Np, K = s->K, I = s->I, H = s->H, GH = s->GH, es = s->es;
    seq_load(s, x, h0, c0);
    step_masks(s);
    char *zt = BUF(s, s->o_zt), *a = BUF(s, s->o_a);
    void *bsum = NULL;
    if (b_ih && s->mode != NL_RNN_GRU) {
        bsum = BUF(s, s->o_bsum);
        for (int64_t q = 0; q < GH; q++) ST(dt, bsum, q, LD(dt, b_ih->data, q) + LD(dt, b_hh->data, q));
    }
    if (wp) {
        /* the packed products fill a step's N columns of the gates (GRU:
         * of gx and gh), not the padding to Np: zeros there, so that the
         * cell kernels, which the step masks keep off the padding, run on
         * finite values */
        if (s->N < Np) {
            char *g0 = s->mode == NL_RNN_GRU ? BUF(s, s->o_gx) : a;
            int64_t nrows = s->mode == NL_RNN_GRU ? 6 * H : s->T * GH;   /* GRU: gx, then gh */
            for (int64_t r = 0; r < nrows; r++) memset(g0 + (r * Np + s->N) * es, 0, (Np - s->N) * es);
        }
        seq_forward_packed(s, wp, s->mode == NL_RNN_GRU ? (b_ih ? b_ih->data : NULL) : bsum,
                           s->mode == NL_RNN_GRU && b_hh ? b_hh->data : NULL, out);
    } else
        for (int64_t t = 0; t < s->T; t++) {
            const char *xt = zt + t * K * Np * es, *ht = xt + I * Np * es;
            if (s->mode == NL_RNN_GRU) {
                gemm_seg sx = seg_of(w_ih->data, I, xt, Np, I, false), sh = seg_of(w_hh->data, H, ht, Np, H, false);
                gemm(dt, s->reference, GH, Np, 1, &sx, BUF(s, s->o_gx), Np, b_ih ? b_ih->data : NULL, false);
                gemm(dt, s->reference, GH, Np, 1, &sh, BUF(s, s->o_gh), Np, b_hh ? b_hh->data : NULL, false);
            } else {
                gemm_seg seg[2] = { seg_of(w_ih->data, I, xt, Np, I, false), seg_of(w_hh->data, H, ht, Np, H, false) };
                gemm(dt, s->reference, GH, Np, 2, seg, a + t * GH * Np * es, Np, bsum, false);
            }
            run_step_forward(s, t, out);
        }
    /* final states: h_{T-1} (block T of zt) and c_{T-1}, frozen past each length */
    int64_t base = s->T * s->N * H;
    transpose(dt, (char *)out + base * es, H, zt + (s->T * K + I) * Np * es, Np, H, s->N);
    if (s->mode == NL_RNN_LSTM)
        transpose(dt, (char *)out + (base + s->N * H) * es, H, (char *)BUF(s, s->o_c) + s->T * H * Np * es, Np, H,
                  s->N);
}

/* ---- the layer op ---------------------------------------------------------- */

/* inputs of a layer node: x, w_ih, w_hh, then b_ih, b_hh, h0, c0, lengths
 * where given; their positions from the flags */
typedef struct layer_inputs {
    nl_tensor *x, *w_ih, *w_hh, *b_ih, *b_hh, *h0, *c0, *len;
    int i_b, i_h0, i_c0, i_len;     /* positions, -1 when absent */
} layer_inputs;

static int layer_inputs_pack(layer_inputs *li, nl_tensor **in) {
    int n = 0;
    in[n++] = li->x;
    in[n++] = li->w_ih;
    in[n++] = li->w_hh;
    li->i_b = li->i_h0 = li->i_c0 = li->i_len = -1;
    if (li->b_ih) { li->i_b = n; in[n++] = li->b_ih; in[n++] = li->b_hh; }
    if (li->h0) { li->i_h0 = n; in[n++] = li->h0; }
    if (li->c0) { li->i_c0 = n; in[n++] = li->c0; }
    if (li->len) { li->i_len = n; in[n++] = li->len; }
    return n;
}

static int op_of_mode(int mode) {
    return mode == NL_RNN_LSTM ? NL_OP_LSTM_CELL : mode == NL_RNN_GRU ? NL_OP_GRU_CELL : NL_OP_RNN_CELL;
}

/* a (n) float vector of the layer's dtype; nil allowed when optional */
static bool check_vector(const char *op, const char *what, nl_tensor *t, int64_t n, int dt) {
    if (t->dtype != dt || t->ndim != 1 || t->sizes[0] != n) {
        nl_set_error("%s: %s must be a %s vector of %lld, got %s %s", op, what, nl_dtype_name(dt), (long long)n,
                     nl_dtype_name(t->dtype), nl_shape_str(t));
        return false;
    }
    return true;
}

static bool check_layer(const char *op, int mode, layer_inputs *li, int64_t *T, int64_t *N, int64_t *I, int64_t *H,
                        int batch_first) {
    nl_tensor *x = li->x, *w_ih = li->w_ih, *w_hh = li->w_hh;
    if (!x || !w_ih || !w_hh) {
        nl_set_error("%s: expected tensors x, w_ih and w_hh, got nil", op);
        return false;
    }
    if (x->dtype == NL_INT64 || x->ndim != 3) {
        nl_set_error("%s: input must be a 3-D float tensor (%s, input_size), got %s %s", op,
                     batch_first ? "batch, seq" : "seq, batch", nl_dtype_name(x->dtype), nl_shape_str(x));
        return false;
    }
    int dt = x->dtype;
    int64_t G = mode == NL_RNN_LSTM ? 4 : mode == NL_RNN_GRU ? 3 : 1;
    if (w_hh->dtype != dt || w_hh->ndim != 2 || w_hh->sizes[1] < 1 || w_hh->sizes[0] != G * w_hh->sizes[1]) {
        nl_set_error("%s: w_hh must be %s (%lld*hidden, hidden), got %s %s", op, nl_dtype_name(dt), (long long)G,
                     nl_dtype_name(w_hh->dtype), nl_shape_str(w_hh));
        return false;
    }
    *H = w_hh->sizes[1];
    *T = batch_first ? x->sizes[1] : x->sizes[0];
    *N = batch_first ? x->sizes[0] : x->sizes[1];
    *I = x->sizes[2];
    if (w_ih->dtype != dt || w_ih->ndim != 2 || w_ih->sizes[0] != G * *H) {
        nl_set_error("%s: w_ih must be %s (%lld, input_size), got %s %s", op, nl_dtype_name(dt),
                     (long long)(G * *H), nl_dtype_name(w_ih->dtype), nl_shape_str(w_ih));
        return false;
    }
    if (w_ih->sizes[1] != *I) {
        nl_set_error("%s: input has %lld features, w_ih expects %lld (input %s, w_ih %s)", op, (long long)*I,
                     (long long)w_ih->sizes[1], nl_shape_str(x), nl_shape_str(w_ih));
        return false;
    }
    if (*T < 1 || *N < 1 || *I < 1) {
        nl_set_error("%s: empty input of shape %s", op, nl_shape_str(x));
        return false;
    }
    if ((li->b_ih == NULL) != (li->b_hh == NULL)) {
        nl_set_error("%s: give both biases b_ih and b_hh, or neither", op);
        return false;
    }
    if (li->b_ih && (!check_vector(op, "b_ih", li->b_ih, G * *H, dt) || !check_vector(op, "b_hh", li->b_hh, G * *H, dt)))
        return false;
    if (li->h0 && !check_matrix(op, "h0", li->h0, *N, *H, dt)) return false;
    if (li->c0 && mode != NL_RNN_LSTM) {
        nl_set_error("%s: c0 is for LSTM only", op);
        return false;
    }
    if (li->c0 && !check_matrix(op, "c0", li->c0, *N, *H, dt)) return false;
    if (li->len) {
        nl_tensor *l = li->len;
        if (l->dtype != NL_INT64 || l->ndim != 1 || l->sizes[0] != *N) {
            nl_set_error("%s: lengths must be an int64 vector of the batch size %lld, got %s %s", op, (long long)*N,
                         nl_dtype_name(l->dtype), nl_shape_str(l));
            return false;
        }
        for (int64_t b = 0; b < *N; b++) {
            int64_t v = ((const int64_t *)l->data)[b * l->strides[0]];
            if (v < 1 || v > *T) {
                nl_set_error("%s: length %lld of sequence %lld is outside 1..%lld (the input's steps)", op,
                             (long long)v, (long long)(b + 1), (long long)*T);
                return false;
            }
        }
    }
    return true;
}

nl_tensor *nl_rnn_layer(int mode, nl_tensor *x, nl_tensor *w_ih, nl_tensor *w_hh, nl_tensor *b_ih, nl_tensor *b_hh,
                        nl_tensor *h0, nl_tensor *c0, nl_tensor *lengths, int batch_first, int reference) {
    NL_CHECK(mode >= NL_RNN_TANH && mode <= NL_RNN_GRU, "rnn_layer: unknown mode %d", mode);
    const char *op = mode_name(mode);
    layer_inputs li = { x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, 0, 0, 0, 0 };
    int64_t T, N, I, H;
    if (!check_layer(op, mode, &li, &T, &N, &I, &H, batch_first)) return NULL;
    int flags = (b_ih ? F_BIAS : 0) | (h0 ? F_H0 : 0) | (c0 ? F_C0 : 0) | (lengths ? F_LEN : 0) |
                (batch_first ? F_BATCH_FIRST : 0) | (reference ? F_REFERENCE : 0);
    rnn_seq s;
    seq_init(&s, mode, x->dtype, T, N, I, H, flags);
    int64_t out_n = (T + (mode == NL_RNN_LSTM ? 2 : 1)) * N * H;
    NL_TEMPS(tmps);
    nl_tensor *out = NULL;
    nl_tensor *ws = TMP(nl_tensor_alloc(op, 1, &s.total, s.dt));
    nl_tensor *wi = TMP(nl_contiguous(w_ih)), *wh = TMP(nl_contiguous(w_hh));
    nl_tensor *lc = lengths ? TMP(nl_contiguous(lengths)) : NULL;
    nl_tensor *bi = b_ih ? TMP(nl_contiguous(b_ih)) : NULL, *bh = b_hh ? TMP(nl_contiguous(b_hh)) : NULL;
    float *wp = NULL;
    if (packs(&s)) {
        int64_t n_wp = packed_weights_size(&s);
        wp = TMP(nl_tensor_alloc(op, 1, &n_wp, NL_FLOAT32))->data;
        pack_weights(&s, wp, wi->data, wh->data);
    }
    out = nl_tensor_alloc(op, 1, &out_n, s.dt);
    if (!out) goto fail;
    s.ws = ws->data;
    s.len = lc ? lc->data : NULL;
    seq_forward(&s, x, wi, wh, bi, bh, h0, c0, wp, out->data);
    nl_tensor *in[8];
    int n_in = layer_inputs_pack(&li, in);
    nl_node *nd = nl_record(op_of_mode(mode), out, n_in, in);
    if (nd) {
        nd->a[0] = 1;                          /* a layer, not a cell */
        nd->a[1] = flags;
        nd->a[2] = mode;
        nd->needs_in = 6 | (li.i_len >= 0 ? 1u << li.i_len : 0);   /* the weights, lengths */
        nl_node_save(nd, ws);
    }
    nl_temps_free(&tmps);
    return out;
fail:
    nl_temps_free(&tmps);
    return NULL;
}

/* The packed backward through time: one parallel region for the
 * sequence. Each step, phase A: each chunk's gate gradients (its rows of
 * every gate), a barrier; phase B: each chunk's rows of dh += W_hh^T dG_t
 * and dx_t's row tiles, a barrier. A thread owns the same chunks in both
 * phases and every step, so a chunk's rows of dh and dc stay in its cache.
 * Each phase sets its ranges for the other one while it runs: the other
 * phase's last use ended at the barrier before it. wt, wth: W_ih^T and
 * W_hh^T packed; dx (T, N, I) or batch first, NULL where x needs none. */
static void seq_backward_packed(const rnn_seq *s, const void *gout, const bwd_bufs *w, const float *wt,
                                const float *wth, float *dz, float *dx) {
    const int64_t H = s->H, Np = s->Np, I = s->I, GH = s->GH, T = s->T, N = s->N;
    const int64_t nch = (H + MR_MAX - 1) / MR_MAX, nxt = dx ? (I + MR_MAX - 1) / MR_MAX : 0;
    int nt = nl_threads_for(GH * (H + (dx ? I : 0)) * Np, GEMM_GRAIN);
    int k = nt < nch ? nt : (int)nch;
    bool wide = nl_cpu_avx512f();
    steal_range one[3], *ra = k > 1 ? ranges_alloc(3 * k) : NULL;
    if (!ra) {
        k = 1;
        ra = one;
    }
    steal_range *rb = ra + k, *rx = ra + 2 * k;
    for (int u = 0; u < k; u++) range_own(&ra[u], nch, u, k);
    #pragma omp parallel num_threads(nl_team(k)) if (k > 1)
    {
        int u = omp_get_thread_num();
        for (int64_t t = T - 1; t >= 0; t--) {
            const float *dgx = (const float *)step_block(s, w, w->dgx, t), *dgh = (const float *)step_block(s, w, w->dgh, t);
            if (u < k) {
                range_own(&rb[u], nch, u, k);
                if (dx) range_own(&rx[u], nxt, u, k);
                for (int64_t c; (c = next_item(ra, u, k)) >= 0;) {
                    int64_t j0 = c * MR_MAX, j1 = j0 + MR_MAX < H ? j0 + MR_MAX : H;
                    if (wide)
                        step_backward_f32_avx512(s, t, j0, j1, gout, w->dh, w->dc, w->dy, (float *)dgx,
                                                 (float *)dgh, w->db_x, w->db_h);
                    else
                        step_backward_f32_avx2(s, t, j0, j1, gout, w->dh, w->dc, w->dy, (float *)dgx,
                                               (float *)dgh, w->db_x, w->db_h);
                }
            }
            #pragma omp barrier
            if (u < k) {
                range_own(&ra[u], nch, u, k);
                /* its own dh chunks, its own dx tiles (numbered from nch), then the others' */
                for (int64_t c; (c = next_item_of(rb, dx ? rx : NULL, nch, u, k)) >= 0;) {
                    int64_t i0 = (c < nch ? c : c - nch) * MR_MAX;
                    if (c < nch) {
                        gemm_seg sh = seg_of(wth, GH, dgh, Np, GH, true);
                        gemm_block_f32(i0, H - i0 < MR_MAX ? H - i0 : MR_MAX, 0, N, 1, &sh, w->dh, Np, NULL, true);
                    } else {
                        int64_t rows = I - i0 < MR_MAX ? I - i0 : MR_MAX;
                        gemm_seg sx = seg_of(wt, GH, dgx, Np, GH, true);
                        gemm_block_f32(i0, rows, 0, N, 1, &sx, dz, Np, NULL, false);
                        bool bf = s->batch_first;
                        transpose(NL_FLOAT32, dx + (bf ? t * I : t * N * I) + i0, bf ? T * I : I, dz + i0 * Np, Np,
                                  rows, N);
                    }
                }
            }
            #pragma omp barrier
        }
    }
    if (ra != one) free(ra);
}

static int layer_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    int flags = (int)nd->a[1], mode = (int)nd->a[2];
    const char *op = mode_name(mode);
    layer_inputs li = { 0 };
    li.x = nd->in[0];
    li.w_ih = nd->in[1];
    li.w_hh = nd->in[2];
    int k = 3;
    li.i_b = -1;
    if (flags & F_BIAS) { li.i_b = k; li.b_ih = nd->in[k++]; li.b_hh = nd->in[k++]; }
    li.i_h0 = flags & F_H0 ? k++ : -1;
    li.i_c0 = flags & F_C0 ? k++ : -1;
    li.i_len = flags & F_LEN ? k++ : -1;
    nl_tensor *x = li.x;
    bool bf = flags & F_BATCH_FIRST;
    int64_t T = bf ? x->sizes[1] : x->sizes[0], N = bf ? x->sizes[0] : x->sizes[1], I = x->sizes[2];
    int64_t H = li.w_hh->sizes[1];
    rnn_seq s;
    seq_init(&s, mode, x->dtype, T, N, I, H, flags);
    s.ws = nd->saved->data;
    const int dt = s.dt;
    const int64_t Np = s.Np, GH = s.GH, K = s.K, es = s.es;
    bool need_x = nl_node_wants(nd, 0);
    bool need_w = nl_node_wants(nd, 1) || nl_node_wants(nd, 2);
    bool need_b = li.b_ih && (nl_node_wants(nd, li.i_b) || nl_node_wants(nd, li.i_b + 1));
    bool gru = mode == NL_RNN_GRU;
    NL_TEMPS(tmps);
    nl_tensor *gc = TMP(nl_contiguous(g));
    nl_tensor *lc = li.i_len >= 0 ? TMP(nl_contiguous(nd->in[li.i_len])) : NULL;
    s.len = lc ? lc->data : NULL;
    nl_tensor *wi = TMP(nl_contiguous(li.w_ih)), *wh = TMP(nl_contiguous(li.w_hh));
    /* scratch: dz (K, Np) = [dx_t^T | dh], dc, dy (H, Np), wt (K, GH) =
     * [w_ih | w_hh]^T, the gate gradients dgx and (GRU) dgh, (T, GH, Np)
     * when dW needs every step, else (GH, Np); the bias sums (2 GH, double) */
    int64_t n_g = (need_w ? T : 1) * GH * Np;
    bool pack = packs(&s);
    int64_t n_wt = pack ? packed_size(I, GH) + packed_size(H, GH) : K * GH;
    int64_t n_scr = K * Np + 2 * H * Np + n_wt + n_g * (gru ? 2 : 1), n_db = 2 * GH;
    nl_tensor *scr = TMP(nl_tensor_alloc(op, 1, &n_scr, dt));
    nl_tensor *db_t = TMP(nl_tensor_alloc(op, 1, &n_db, NL_FLOAT64));
    char *p = scr->data;
    char *dz = p;            p += K * Np * es;
    char *dc = p;            p += H * Np * es;
    char *dy = p;            p += H * Np * es;
    char *wt = p;            p += n_wt * es;
    char *dgx = p;           p += n_g * es;
    char *dgh = gru ? p : dgx;
    bwd_bufs w = { dz + I * Np * es, dc, dy, dgx, dgh, need_w, db_t->data, gru ? (double *)db_t->data + GH : NULL };
    memset(db_t->data, 0, n_db * sizeof(double));
    /* W^T (packed, or rows of w_ih^T then w_hh^T), w_ih's part only when x
     * needs its gradient */
    char *wth = wt + (pack ? packed_size(I, GH) : I * GH) * es;
    if (pack) {
        if (need_x) pack_cols((float *)wt, wi->data, GH, I, I);
        pack_cols((float *)wth, wh->data, GH, H, H);
    } else {
        if (need_x) transpose(dt, wt, GH, wi->data, I, GH, I);
        transpose(dt, wth, GH, wh->data, H, GH, H);
    }
    /* dh and dc start from the gradients of h_n and c_n */
    const char *gp = gc->data;
    int64_t base = T * N * H;
    memset(dz, 0, K * Np * es);
    memset(dc, 0, H * Np * es);
    transpose(dt, w.dh, Np, gp + base * es, H, N, H);
    if (mode == NL_RNN_LSTM) transpose(dt, dc, Np, gp + (base + N * H) * es, H, N, H);
    nl_tensor *dx = need_x ? TMP(nl_tensor_alloc(op, 3, x->sizes, dt)) : NULL;
    if (pack)
        seq_backward_packed(&s, gp, &w, (const float *)wt, (const float *)wth, (float *)dz, dx ? dx->data : NULL);
    else
        for (int64_t t = T - 1; t >= 0; t--) {
            run_step_backward(&s, t, gp, &w);
            if (need_x) {
                gemm_seg sx = seg_of(wt, GH, step_block(&s, &w, dgx, t), Np, GH, false);
                gemm(dt, s.reference, I, Np, 1, &sx, dz, Np, NULL, false);
                char *dst = (char *)dx->data + (bf ? t * I : t * N * I) * es;
                transpose(dt, dst, bf ? T * I : I, dz, Np, I, N);
            }
            gemm_seg sh = seg_of(wth, GH, step_block(&s, &w, dgh, t), Np, GH, false);
            gemm(dt, s.reference, H, Np, 1, &sh, w.dh, Np, NULL, true);
        }
    if (need_x) gin[0] = nl_keep_ref(dx);
    if (li.i_h0 >= 0 && nl_node_wants(nd, li.i_h0)) {
        nl_tensor *d = TMP(nl_tensor_alloc(op, 2, (int64_t[]){ N, H }, dt));
        transpose(dt, d->data, H, w.dh, Np, H, N);
        gin[li.i_h0] = nl_keep_ref(d);
    }
    if (li.i_c0 >= 0 && nl_node_wants(nd, li.i_c0)) {
        nl_tensor *d = TMP(nl_tensor_alloc(op, 2, (int64_t[]){ N, H }, dt));
        transpose(dt, d->data, H, dc, Np, H, N);
        gin[li.i_c0] = nl_keep_ref(d);
    }
    if (need_w) {
        /* dW_ih = sum_t dG_x,t (GH, Np) @ z_t[:, :I] (Np, I), dW_hh the same
         * with dG_h and z_t[:, I:]: one GEMM whose k runs over the steps */
        nl_tensor *dwi = TMP(nl_tensor_alloc(op, 2, li.w_ih->sizes, dt));
        nl_tensor *dwh = TMP(nl_tensor_alloc(op, 2, li.w_hh->sizes, dt));
        gemm_seg *si = malloc(sizeof(gemm_seg) * 2 * T), *sh = si ? si + T : NULL;
        if (!si) {
            nl_set_error("%s: out of memory", op);
            goto fail;
        }
        const char *z = BUF(&s, s.o_z);
        for (int64_t t = 0; t < T; t++) {
            si[t] = seg_of(dgx + t * GH * Np * es, Np, z + t * Np * K * es, K, s.N, false);
            sh[t] = seg_of(dgh + t * GH * Np * es, Np, z + (t * Np * K + I) * es, K, s.N, false);
        }
        gemm(dt, s.reference, GH, I, (int)T, si, dwi->data, I, NULL, false);
        gemm(dt, s.reference, GH, H, (int)T, sh, dwh->data, H, NULL, false);
        free(si);
        gin[1] = nl_keep_ref(dwi);
        gin[2] = nl_keep_ref(dwh);
    }
    if (need_b) {
        const double *db = db_t->data;
        nl_tensor *dbi = TMP(nl_tensor_alloc(op, 1, &GH, dt)), *dbh = TMP(nl_tensor_alloc(op, 1, &GH, dt));
        for (int64_t q = 0; q < GH; q++) {
            ST(dt, dbi->data, q, db[q]);
            ST(dt, dbh->data, q, gru ? db[GH + q] : db[q]);
        }
        gin[li.i_b] = nl_keep_ref(dbi);
        gin[li.i_b + 1] = nl_keep_ref(dbh);
    }
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    for (int i = 0; i < nd->n_in; i++) {
        nl_release(gin[i]);
        gin[i] = NULL;
    }
    return -1;
}

/* ---- backward dispatch: one op id per cell kind, layers flagged in a[0] ---- */

static int nl_lstm_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    return n->a[0] ? layer_backward(n, g, gin) : lstm_cell_backward(n, g, gin);
}
static int nl_gru_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    return n->a[0] ? layer_backward(n, g, gin) : gru_cell_backward(n, g, gin);
}
static int nl_rnn_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    return n->a[0] ? layer_backward(n, g, gin) : rnn_cell_backward(n, g, gin);
}

NL_REGISTER_BACKWARD(NL_OP_LSTM_CELL, nl_lstm_backward)
NL_REGISTER_BACKWARD(NL_OP_GRU_CELL, nl_gru_backward)
NL_REGISTER_BACKWARD(NL_OP_RNN_CELL, nl_rnn_backward)
