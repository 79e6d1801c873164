/* float32 GEMM for AVX-512 machines, and for AVX2 ones (below, from
 * "AVX2 without AVX-512").
 *
 * Debian's BLIS 0.9 runs its skx kernel (32 x 12) well, but packs the
 * operand on the 32-wide side with a scalar, strided loop: it has packing
 * kernels for panels of up to 31. On W1's shapes that loop took a fifth to
 * a quarter of each product. Here both operands are packed with vector
 * code and a 12 x 32 register tile does the multiply-adds:
 *
 *   for each NC block of columns (1024), for each KC block of k:
 *     pack B's block into 32-column panels (kc, 32), k-major
 *     for each MC block of rows: pack A's block into 12-row panels (kc, 12)
 *       for each A panel, for each B panel: C tile (12, 32) += A panel @ B panel
 *
 * An A panel (12 KB at KC = 256) stays in L1 while the B panels stream
 * past it from L2 (the B block is 1 MB at most), as BLIS keeps its
 * broadcast side in L1: the other order, a 32 KB B panel held against the
 * A panels, ran square products 10% slower. Square products of 512 to 2048
 * measured as fast as BLIS or faster on one thread (512: 1.06x; 2048: the
 * same) and 1.15x on two; on more threads, where each thread here packs
 * its own copy of A and BLIS packs one for all, BLIS keeps the products
 * whose sides are both 512 or more.
 *
 * Threads take whole column ranges (or, when there are fewer panels than
 * threads, row ranges) and pack their own blocks; where A is small they
 * take column panels one at a time as they ask (sgemm_panels). Either way
 * one region covers the whole product and each C element is summed by one
 * thread in a fixed order: the result does not depend on the thread count. */
#include "internal.h"
#include "sgemm.h"
#include "transpose16.h"

#include <immintrin.h>
#include <string.h>

#define MR 12
#define NR 32
#define KC 256
#define MC 144
#define NC 1024   /* columns of B packed at a time (1 MB at KC = 256) */
#define BLIS_SIDE 512   /* both of C's sides at least this, on more than 2 threads: BLIS */
/* Software prefetch for the two reads the hardware's prefetchers miss on
 * large products, each worth 1-3% at n = 1024-2048 in alternated rounds:
 * A's rows, 8 KB apart for n = 2048, come from L3 to the transposing pack,
 * which fetches each row PF_A floats ahead; and the C tile, last touched a
 * whole pass over C before, is fetched into L1 PF_C k steps before the
 * tile's end reads it. */
#define PF_A 64
#define PF_C 128
/* The tile also fetches its B panel PF_B k steps (1 KB) ahead into L1: the
 * panel streams from L2 once per A panel, and at its end the fetches run
 * on into the next panel, which follows it in the buffer. In alternated
 * rounds against the same code without them (median ratio of 16 rounds, one
 * thread): n = 2048 1.02-1.04x, 1024 1.03-1.05x, W1's 128 x 784 x 512
 * and 128 x 512 x 256 1.00-1.04x; 8, 12, 16 and 24 steps ran alike. */
#define PF_B 8

#define TGT __attribute__((target("avx512f")))
/* The multiply-add loop reads only this file's packed buffers and writes C
 * through masked stores; the sanitized build (-O1, every access checked)
 * ran it some hundred times slower, so it is exempt and optimized there
 * too. The packing, which reads the caller's tensors, stays checked. */
#define HOT __attribute__((target("avx512f"), optimize("O3"), no_sanitize("address", "undefined")))

/* dst (kc, w) k-major, w = 32 or 12 columns: element (q, j) of a source
 * with strides (qs, js), for j < cols (the rest zero). The source's j runs
 * are contiguous (js == 1): vector copies. Its q runs are (qs == 1): 16 x
 * 16 transposes. Else element by element. */
TGT static void pack(float *dst, int w, const float *src, int64_t qs, int64_t js, int64_t kc, int64_t cols) {
    if (js == 1) {
        __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols - 16 > 0 ? cols - 16 : 0);
        for (int64_t q = 0; q < kc; q++) {
            const float *s = src + q * qs;
            __m512 v0 = _mm512_maskz_loadu_ps(m0, s);
            if (w == NR) {
                _mm512_storeu_ps(dst + q * NR, v0);
                _mm512_storeu_ps(dst + q * NR + 16, _mm512_maskz_loadu_ps(m1, s + 16));
            } else {
                _mm512_mask_storeu_ps(dst + q * MR, 0x0FFF, v0);
            }
        }
        return;
    }
    if (qs == 1) {
        for (int64_t j0 = 0; j0 < w; j0 += 16) {
            int64_t jn = cols - j0 < 16 ? (cols - j0 > 0 ? cols - j0 : 0) : 16;
            int store = w - j0 < 16 ? (int)(w - j0) : 16;
            for (int64_t q0 = 0; q0 < kc; q0 += 16) {
                int64_t qn = kc - q0 < 16 ? kc - q0 : 16;
                __mmask16 qm = first_lanes(qn);
                __m512 r[16];
                for (int j = 0; j < 16; j++) {
                    if (j < jn && q0 + PF_A < kc) _mm_prefetch((const char *)(src + (j0 + j) * js + q0 + PF_A), _MM_HINT_T0);
                    r[j] = j < jn ? _mm512_maskz_loadu_ps(qm, src + (j0 + j) * js + q0) : _mm512_setzero_ps();
                }
                transpose16(r);
                for (int64_t q = 0; q < qn; q++)
                    _mm512_mask_storeu_ps(dst + (q0 + q) * w + j0, first_lanes(store), r[q]);
            }
        }
        return;
    }
    for (int64_t q = 0; q < kc; q++)
        for (int j = 0; j < w; j++) dst[q * w + j] = j < cols ? src[q * qs + j * js] : 0.0f;
}

/* A linear layer's end, applied to the last k block's tile before it is
 * stored: + bias (the tile's first column's entry), then ReLU (NaN passes,
 * as nl_relu). The sums are those of a plain product, so the results are
 * those of nl_matmul, nl_add and nl_relu in turn, bit for bit. */
typedef struct {
    const float *bias;   /* or NULL */
    bool relu;
} tile_end;

/* C tile (rows <= R, columns in m0/m1) = beta C + A panel @ B panel, or
 * C + the product when acc, then end's bias and ReLU when end is given.
 * beta 0 never reads C (it may hold NaN). R rows
 * (12, 8 or 4) and NV vectors of 16 columns (2, or 1 when m1 is empty) are
 * computed, so a short edge tile does not pay for a whole one. With SEG,
 * B's rows lie in runs of seg rows (NR floats apart) whose next run starts
 * skip floats after the row that would follow, the first run left rows
 * long (nl_sgemm_bsegs); otherwise the panel is one run. */
HOT static ALWAYS_INLINE void tile_rp(const int R, const int NV, const int SEG, int64_t kc, const float *ap,
                                      const float *bp, float *c, int64_t ldc, int rows, __mmask16 m0, __mmask16 m1,
                                      bool acc, float beta, const tile_end *end, int64_t seg, int64_t left,
                                      int64_t skip, float *const *rp, int64_t cofs) {
    /* C's row r: c + r * ldc, or with rp (nl_sgemm_crows) rp[r] + cofs */
#define CROW(r) (rp ? rp[r] + cofs : c + (r) * ldc)
    __m512 c0[MR], c1[MR];
    for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm512_setzero_ps();
#define KSTEP                                                                             \
    do {                                                                                  \
        __m512 b0 = _mm512_loadu_ps(bp), b1 = NV == 2 ? _mm512_loadu_ps(bp + 16) : b0;   \
        _mm_prefetch((const char *)(bp + PF_B * NR), _MM_HINT_T0);                        \
        if (NV == 2) _mm_prefetch((const char *)(bp + PF_B * NR + 16), _MM_HINT_T0);      \
        _Pragma("GCC unroll 12") for (int r = 0; r < R; r++) {                            \
            __m512 av = _mm512_set1_ps(ap[r]);                                            \
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);                                       \
            if (NV == 2) c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);                          \
        }                                                                                 \
        ap += MR, bp += NR;                                                               \
        if (SEG && --left == 0) bp += skip, left = seg;                                   \
    } while (0)
    /* the k steps in three runs; the middle one fetches the tile's rows of
     * C, one line a step, when the end will read them */
    int64_t pf = (acc || beta != 0) && kc >= PF_C + 2 * R ? kc - PF_C : kc, q = 0;
    for (; q < pf; q++) KSTEP;
    for (int i = 0; q < kc && i < 2 * R; q++, i++) {
        _mm_prefetch((const char *)(CROW(i >> 1) + (i & 1) * 16), _MM_HINT_T0);
        KSTEP;
    }
    for (; q < kc; q++) KSTEP;
#undef KSTEP
    if (acc || beta != 0) {
        __m512 bv = _mm512_set1_ps(acc ? 1.0f : beta);
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            if (r >= rows) break;
            c0[r] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m0, CROW(r)), c0[r]);
            if (NV == 2) c1[r] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m1, CROW(r) + 16), c1[r]);
        }
    }
    if (end) {
        __m512 z = _mm512_setzero_ps();
        __m512 e0 = end->bias ? _mm512_maskz_loadu_ps(m0, end->bias) : z;
        __m512 e1 = end->bias && NV == 2 ? _mm512_maskz_loadu_ps(m1, end->bias + 16) : z;
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            if (end->bias) {
                c0[r] = _mm512_add_ps(c0[r], e0);
                if (NV == 2) c1[r] = _mm512_add_ps(c1[r], e1);
            }
            if (end->relu) {   /* keeps x > 0 and NaN (unordered): x > 0 ? x : (x != x ? x : 0) */
                c0[r] = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(c0[r], z, _CMP_NLE_UQ), c0[r]);
                if (NV == 2) c1[r] = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(c1[r], z, _CMP_NLE_UQ), c1[r]);
            }
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        if (r >= rows) break;
        _mm512_mask_storeu_ps(CROW(r), m0, c0[r]);
        if (NV == 2) _mm512_mask_storeu_ps(CROW(r) + 16, m1, c1[r]);
    }
}

#undef CROW

/* tile_rp over C's rows c + r * ldc */
HOT static ALWAYS_INLINE void tile(const int R, const int NV, const int SEG, int64_t kc, const float *ap,
                                   const float *bp, float *c, int64_t ldc, int rows, __mmask16 m0, __mmask16 m1,
                                   bool acc, float beta, const tile_end *end, int64_t seg, int64_t left,
                                   int64_t skip) {
    tile_rp(R, NV, SEG, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end, seg, left, skip, NULL, 0);
}

/* tile() with its shape picked for rows and the columns in m1 */
HOT static void edge_tile(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int rows,
                          __mmask16 m0, __mmask16 m1, bool acc, float beta, const tile_end *end) {
    if (m1) {
        if (rows > 8) tile(12, 2, 0, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end, 0, 0, 0);
        else if (rows > 4) tile(8, 2, 0, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end, 0, 0, 0);
        else tile(4, 2, 0, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end, 0, 0, 0);
    } else {
        if (rows > 8) tile(12, 1, 0, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end, 0, 0, 0);
        else if (rows > 4) tile(8, 1, 0, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end, 0, 0, 0);
        else tile(4, 1, 0, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end, 0, 0, 0);
    }
}

/* a whole-width tile (32 columns) of rows rows, its shape picked for rows:
 * over B in runs (SEG), or adding into rows rp[r] + cofs */
HOT static ALWAYS_INLINE void whole_tile(const int SEG, int64_t kc, const float *ap, const float *bp, float *c,
                                         int64_t ldc, int rows, bool acc, float beta, int64_t seg, int64_t left,
                                         int64_t skip, float *const *rp, int64_t cofs) {
    if (rows == MR)
        tile_rp(MR, 2, SEG, kc, ap, bp, c, ldc, MR, 0xFFFF, 0xFFFF, acc, beta, NULL, seg, left, skip, rp, cofs);
    else if (rows > 8)
        tile_rp(12, 2, SEG, kc, ap, bp, c, ldc, rows, 0xFFFF, 0xFFFF, acc, beta, NULL, seg, left, skip, rp, cofs);
    else if (rows > 4)
        tile_rp(8, 2, SEG, kc, ap, bp, c, ldc, rows, 0xFFFF, 0xFFFF, acc, beta, NULL, seg, left, skip, rp, cofs);
    else
        tile_rp(4, 2, SEG, kc, ap, bp, c, ldc, rows, 0xFFFF, 0xFFFF, acc, beta, NULL, seg, left, skip, rp, cofs);
}

/* for nl_sgemm_bsegs */
HOT static void seg_tile(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int rows, bool acc,
                         float beta, int64_t seg, int64_t left, int64_t skip) {
    whole_tile(1, kc, ap, bp, c, ldc, rows, acc, beta, seg, left, skip, NULL, 0);
}

/* for nl_sgemm_crows */
HOT static void crow_tile(int64_t kc, const float *ap, const float *bp, int rows, float *const *rp, int64_t cofs) {
    whole_tile(0, kc, ap, bp, NULL, 0, rows, true, 1.0f, 0, 0, 0, rp, cofs);
}

typedef struct sgemm_args sgemm_args;

/* An instruction set's packing and tiles, and its block sizes: the
 * driver below runs either (ks512 here, ks256 after it). */
typedef struct {
    int64_t mr, nr, mc;   /* a tile's rows and columns; A's rows packed at a time */
    void (*pack)(float *dst, int w, const float *src, int64_t qs, int64_t js, int64_t kc, int64_t cols);
    void (*tiles)(const sgemm_args *g, const float *ap, int64_t ic, int64_t mc, int64_t j0, int64_t j1,
                  const float *bbuf, int64_t pc, int64_t kc);
} kernel_set;

struct sgemm_args {
    int64_t m, n, k, rsa, csa, rsb, csb, ldc;
    const float *a, *b;
    float *c, beta;
    const float *bias;   /* linear's end (nl_sgemm_linear): NULL and false otherwise */
    bool relu;
    const float *apack;  /* A packed whole (nl_sgemm_pack_a), or NULL: each thread packs its own */
    const kernel_set *ks;
};

/* rows [ic, ic + mc) x B's packed panels for columns [j0, j1) of C, k
 * block pc (kc deep): A's panels for these rows at ap (row ir's at ap +
 * ir * kc) */
HOT static void tiles512(const sgemm_args *g, const float *ap, int64_t ic, int64_t mc, int64_t j0, int64_t j1,
                      const float *bbuf, int64_t pc, int64_t kc) {
    int64_t np = (j1 - j0 + NR - 1) / NR;
    bool acc = pc > 0, last = pc + kc == g->k && (g->bias || g->relu);
    for (int64_t ir = 0; ir < mc; ir += MR) {
        int rows = mc - ir < MR ? (int)(mc - ir) : MR;
        for (int64_t p = 0; p < np; p++) {
            int64_t j = j0 + p * NR, cols = j1 - j < NR ? j1 - j : NR;
            __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols > 16 ? cols - 16 : 0);
            float *ct = g->c + (ic + ir) * g->ldc + j;
            tile_end end = { g->bias ? g->bias + j : NULL, g->relu };
            const tile_end *e = last ? &end : NULL;
            if (rows == MR && cols == NR)
                tile(MR, 2, 0, kc, ap + ir * kc, bbuf + p * kc * NR, ct, g->ldc, MR, m0, m1, acc, g->beta, e, 0, 0, 0);
            else
                edge_tile(kc, ap + ir * kc, bbuf + p * kc * NR, ct, g->ldc, rows, m0, m1, acc, g->beta, e);
        }
    }
}

static const kernel_set ks512 = { MR, NR, MC, pack, tiles512 };

/* ---- AVX2 without AVX-512: 6 x 16 tiles ----
 * The same driver with the shape of BLIS's Haswell kernel: 6 rows of two
 * 8-float vectors, 12 accumulators of the 16 registers, and its loop
 * order: a 16-column B panel (16 KB at KC = 256) stays in L1 while the A
 * panels stream past it from L2. Columns past C's edge are masked
 * (vmaskmov).
 *
 * On a 2-core Zen 3 with BLIS 0.9's zen3 kernels, W1's products ran at
 * BLIS's speed on one thread, one at a time, and W1 itself 1.00-1.03x
 * BLIS's speed on one thread and 1.04-1.15x on two (medians of 12-16
 * alternated rounds, in runs over an hour): one region a product, the
 * panels handed out as threads ask, where BLIS spent 11% of W1's
 * two-thread samples in its barrier. BLIS keeps the products with a side
 * under 16 (kernels_for), those of two or more threads whose A is too
 * large for each thread to pack whole (sgemm_run), and without AVX-512 the
 * convolutions' (ops_conv.c). The inner loop unrolled by 4 ran 5-8%
 * slower, and a prefetch of A ahead slower still; both were left out. */
#define MR2 6
#define NR2 16
#define MC2 144
#define PF_A2 64
#define TGT2 __attribute__((target("avx2,fma")))
#define HOT2 __attribute__((target("avx2,fma"), optimize("O3"), no_sanitize("address", "undefined")))

/* r[i] becomes column i of the 8 x 8 block whose rows were r[0..7] */
TGT2 static ALWAYS_INLINE void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);       /* a0 b0 a1 b1 | a4 b4 a5 b5 */
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);   /* a2 b2 a3 b3 | a6 b6 a7 b7 */
    }
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 2; i++) {
            __m256 x = t[4 * h + i], y = t[4 * h + i + 2];
            u[4 * h + 2 * i] = _mm256_shuffle_ps(x, y, 0x44);       /* a0 b0 c0 d0 | a4 b4 c4 d4 */
            u[4 * h + 2 * i + 1] = _mm256_shuffle_ps(x, y, 0xEE);   /* a1 b1 c1 d1 | a5 b5 c5 d5 */
        }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
        r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
    }
}

/* 8 k steps of up to 8 rows (JN of them, or jn when JN is 0; the rest
 * repeat the last), rows js apart from s, transposed into dst's rows of w;
 * last: these are the panel's last k steps and w is 6 (the final row is
 * stored as 6 floats) */
TGT2 static ALWAYS_INLINE void trans8(const int JN, float *dst, int w, const float *s, int64_t js, int jn,
                                      int64_t ahead, bool last) {
    __m256 r[8];
    int n = JN ? JN : jn;
    for (int j = 0; j < 8; j++) {
        if (JN && j >= JN) r[j] = r[JN - 1];
        else {
            const float *p = s + (j < n ? j : n - 1) * js;
            if (ahead > PF_A2) _mm_prefetch((const char *)(p + PF_A2), _MM_HINT_T0);
            r[j] = _mm256_loadu_ps(p);
        }
    }
    transpose8(r);
    for (int q = 0; q < 7; q++) _mm256_storeu_ps(dst + q * w, r[q]);
    if (last) _mm256_maskstore_ps(dst + 7 * w, first_lanes8(6), r[7]);
    else _mm256_storeu_ps(dst + 7 * w, r[7]);
}

/* pack() for AVX2: dst (kc, w) k-major, w = 16 or 6. A 6-wide row is
 * stored as 8 floats, the last two overwritten by the next row, except
 * the panel's last row. In the transposed blocks the lanes past cols are
 * not zeroed but repeat the last column, which no tile stores (tile2
 * stores only the rows and columns it is given), and there a 16-wide
 * panel's second half is not written at all where cols <= 8 (its tiles
 * read one vector a k step). */
TGT2 static void pack2(float *dst, int w, const float *src, int64_t qs, int64_t js, int64_t kc, int64_t cols) {
    __m256i six = first_lanes8(6);
    if (js == 1) {
        __m256i m0 = first_lanes8(cols), m1 = first_lanes8(cols - 8);
        if (w == NR2 && cols == NR2) {
            for (int64_t q = 0; q < kc; q++) {
                _mm256_storeu_ps(dst + q * NR2, _mm256_loadu_ps(src + q * qs));
                _mm256_storeu_ps(dst + q * NR2 + 8, _mm256_loadu_ps(src + q * qs + 8));
            }
            return;
        }
        for (int64_t q = 0; q < kc; q++) {
            const float *s = src + q * qs;
            __m256 v0 = _mm256_maskload_ps(s, m0);
            if (w == NR2) {
                _mm256_storeu_ps(dst + q * NR2, v0);
                _mm256_storeu_ps(dst + q * NR2 + 8, _mm256_maskload_ps(s + 8, m1));
            } else if (q + 1 < kc) {
                _mm256_storeu_ps(dst + q * MR2, v0);
            } else {
                _mm256_maskstore_ps(dst + q * MR2, six, v0);
            }
        }
        return;
    }
    if (qs == 1) {
        for (int64_t j0 = 0; j0 < w && j0 < cols; j0 += 8) {
            int jn = cols - j0 < 8 ? (int)(cols - j0) : 8;
            const float *s0 = src + j0 * js;
            float *d0 = dst + j0;
            int64_t q0 = 0;
            for (; q0 + 8 <= kc; q0 += 8) {
                bool last = w == MR2 && q0 + 8 == kc;
                if (jn == 8) trans8(8, d0 + q0 * w, w, s0 + q0, js, 8, kc - q0, last);
                else if (jn == 6) trans8(6, d0 + q0 * w, w, s0 + q0, js, 6, kc - q0, last);
                else trans8(0, d0 + q0 * w, w, s0 + q0, js, jn, kc - q0, last);
            }
            if (q0 < kc) {   /* the last k steps, fewer than 8 */
                __m256i qm = first_lanes8(kc - q0);
                __m256 r[8];
                for (int j = 0; j < 8; j++) r[j] = _mm256_maskload_ps(s0 + (j < jn ? j : jn - 1) * js + q0, qm);
                transpose8(r);
                for (int64_t q = 0; q0 + q < kc; q++) {
                    float *d = d0 + (q0 + q) * w;
                    if (w == NR2 || q0 + q + 1 < kc) _mm256_storeu_ps(d, r[q]);
                    else _mm256_maskstore_ps(d, six, r[q]);
                }
            }
        }
        return;
    }
    for (int64_t q = 0; q < kc; q++)
        for (int j = 0; j < w; j++) dst[q * w + j] = j < cols ? src[q * qs + j * js] : 0.0f;
}

/* C tile (rows <= R, the columns in m0 and m1 when MASK, else all 16) =
 * beta C + A panel @ B panel, or C + the product when acc, then end's
 * bias and ReLU when given: tile() at 8 lanes. NV is 1 when m1 is empty.
 * C's rows are fetched first, for the stores at the end (1-3% on products
 * of W2's convolution shapes, one run of alternated rounds). */
HOT2 static ALWAYS_INLINE void tile2(const int R, const int NV, const bool MASK, int64_t kc, const float *ap,
                                     const float *bp, float *c, int64_t ldc, int rows, __m256i m0, __m256i m1,
                                     bool acc, float beta, const tile_end *end) {
    __m256 c0[MR2], c1[MR2];
    for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm256_setzero_ps();
    for (int r = 0; r < R && r < rows; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + NR2 - 1), _MM_HINT_T0);
    }
    for (int64_t q = 0; q < kc; q++) {
        __m256 b0 = _mm256_loadu_ps(bp), b1 = NV == 2 ? _mm256_loadu_ps(bp + 8) : b0;
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            __m256 av = _mm256_broadcast_ss(ap + r);
            c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
            if (NV == 2) c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
        }
        ap += MR2, bp += NR2;
    }
#define LD(p, m) (MASK ? _mm256_maskload_ps(p, m) : _mm256_loadu_ps(p))
    if (acc || beta != 0) {
        __m256 bv = _mm256_set1_ps(acc ? 1.0f : beta);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            if (r >= rows) break;
            c0[r] = _mm256_fmadd_ps(bv, LD(c + r * ldc, m0), c0[r]);
            if (NV == 2) c1[r] = _mm256_fmadd_ps(bv, LD(c + r * ldc + 8, m1), c1[r]);
        }
    }
    if (end) {
        __m256 z = _mm256_setzero_ps();
        __m256 e0 = end->bias ? LD(end->bias, m0) : z, e1 = end->bias && NV == 2 ? LD(end->bias + 8, m1) : z;
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            if (end->bias) {
                c0[r] = _mm256_add_ps(c0[r], e0);
                if (NV == 2) c1[r] = _mm256_add_ps(c1[r], e1);
            }
            if (end->relu) {   /* keeps x > 0 and NaN, as tile_rp */
                c0[r] = _mm256_and_ps(_mm256_cmp_ps(c0[r], z, _CMP_NLE_UQ), c0[r]);
                if (NV == 2) c1[r] = _mm256_and_ps(_mm256_cmp_ps(c1[r], z, _CMP_NLE_UQ), c1[r]);
            }
        }
    }
#undef LD
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        if (r >= rows) break;
        if (MASK) _mm256_maskstore_ps(c + r * ldc, m0, c0[r]);
        else _mm256_storeu_ps(c + r * ldc, c0[r]);
        if (NV == 2) {
            if (MASK) _mm256_maskstore_ps(c + r * ldc + 8, m1, c1[r]);
            else _mm256_storeu_ps(c + r * ldc + 8, c1[r]);
        }
    }
}

/* tile2() with its shape picked for rows and cols (1 to 16) */
HOT2 static void edge_tile2(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int rows,
                            int64_t cols, bool acc, float beta, const tile_end *end) {
    __m256i m0 = first_lanes8(cols), m1 = first_lanes8(cols - 8);
    if (cols > 8) {
        if (rows > 4) tile2(6, 2, true, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end);
        else if (rows > 2) tile2(4, 2, true, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end);
        else tile2(2, 2, true, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end);
    } else {
        if (rows > 4) tile2(6, 1, true, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end);
        else if (rows > 2) tile2(4, 1, true, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end);
        else tile2(2, 1, true, kc, ap, bp, c, ldc, rows, m0, m1, acc, beta, end);
    }
}

/* tiles512() at 8 lanes, B's panels in the outer loop */
HOT2 static void tiles256(const sgemm_args *g, const float *ap, int64_t ic, int64_t mc, int64_t j0, int64_t j1,
                          const float *bbuf, int64_t pc, int64_t kc) {
    int64_t np = (j1 - j0 + NR2 - 1) / NR2;
    bool acc = pc > 0, last = pc + kc == g->k && (g->bias || g->relu);
    __m256i ones = first_lanes8(8);
    for (int64_t p = 0; p < np; p++) {
        int64_t j = j0 + p * NR2, cols = j1 - j < NR2 ? j1 - j : NR2;
        const float *bp = bbuf + p * kc * NR2;
        tile_end end = { g->bias ? g->bias + j : NULL, g->relu };
        const tile_end *e = last ? &end : NULL;
        for (int64_t ir = 0; ir < mc; ir += MR2) {
            int rows = mc - ir < MR2 ? (int)(mc - ir) : MR2;
            float *ct = g->c + (ic + ir) * g->ldc + j;
            if (rows == MR2 && cols == NR2)
                tile2(MR2, 2, false, kc, ap + ir * kc, bp, ct, g->ldc, MR2, ones, ones, acc, g->beta, e);
            else
                edge_tile2(kc, ap + ir * kc, bp, ct, g->ldc, rows, cols, acc, g->beta, e);
        }
    }
}

static const kernel_set ks256 = { MR2, NR2, MC2, pack2, tiles256 };

/* B's k block pc (kc deep), columns [j0, j1), into panels of the set's width */
static void pack_b(const sgemm_args *g, float *bbuf, int64_t pc, int64_t kc, int64_t j0, int64_t j1) {
    int64_t nr = g->ks->nr;
    for (int64_t j = j0, p = 0; j < j1; j += nr, p++)
        g->ks->pack(bbuf + p * kc * nr, (int)nr, g->b + pc * g->rsb + j * g->csb, g->rsb, g->csb, kc,
                    j1 - j < nr ? j1 - j : nr);
}

/* A's rows [ic, ic + mc) of k block pc into panels of the set's height */
static void pack_a(const sgemm_args *g, float *abuf, int64_t ic, int64_t mc, int64_t pc, int64_t kc) {
    int64_t mr = g->ks->mr;
    for (int64_t ir = 0; ir < mc; ir += mr)
        g->ks->pack(abuf + ir * kc, (int)mr, g->a + (ic + ir) * g->rsa + pc * g->csa, g->csa, g->rsa, kc,
                    mc - ir < mr ? mc - ir : mr);
}

/* m rounded up to whole panels of mr rows */
static int64_t panel_rows(int64_t m, int64_t mr) { return (m + mr - 1) / mr * mr; }

/* all of A, k block by k block: block pc's panels at dst + pc *
 * panel_rows(m), so that rows [ic, ..) of it start ic * kc further on */
static void pack_a_whole(const sgemm_args *g, float *dst) {
    for (int64_t pc = 0; pc < g->k; pc += KC)
        pack_a(g, dst + pc * panel_rows(g->m, g->ks->mr), 0, g->m, pc, g->k - pc < KC ? g->k - pc : KC);
}

/* rows [i0, i1) x columns [j0, j1) of C, j1 - j0 <= NC; bbuf holds KC x
 * (j1 - j0 rounded up to whole panels), abuf mc x KC */
static void sgemm_block(const sgemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, float *bbuf,
                        float *abuf) {
    /* with g->apack (pack_a_whole's layout), row block ic of k block pc is
     * at apack + pc * panel_rows(m) + ic * kc */
    int64_t mcb = g->ks->mc;
    for (int64_t pc = 0; pc < g->k; pc += KC) {
        int64_t kc = g->k - pc < KC ? g->k - pc : KC;
        pack_b(g, bbuf, pc, kc, j0, j1);
        for (int64_t ic = i0; ic < i1; ic += mcb) {
            int64_t mc = i1 - ic < mcb ? i1 - ic : mcb;
            const float *ap = abuf;
            if (g->apack) ap = g->apack + pc * panel_rows(g->m, g->ks->mr) + ic * kc;
            else pack_a(g, abuf, ic, mc, pc, kc);
            g->ks->tiles(g, ap, ic, mc, j0, j1, bbuf, pc, kc);
        }
    }
}

/* the same for any width: NC columns at a time */
static void sgemm_part(const sgemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, float *bbuf,
                       float *abuf) {
    for (int64_t jc = j0; jc < j1; jc += NC) sgemm_block(g, i0, i1, jc, j1 - jc < NC ? j1 : jc + NC, bbuf, abuf);
}

/* the kernel set for an m x n x k product on nt threads, or NULL where
 * BLIS takes it */
static const kernel_set *kernels_for(int64_t m, int64_t n, int64_t k, int nt) {
    if (m <= 0 || n <= 0 || k <= 0) return NULL;
    /* on many threads BLIS's one shared copy of A pays once both sides are long */
    if (m >= BLIS_SIDE && n >= BLIS_SIDE && nt > 2) return NULL;
    if (nl_cpu_avx512f()) return &ks512;
    /* With AVX2 alone, a side under one tile leaves most of the tile's
     * lanes or rows idle, or the packing longer than the multiply-adds:
     * W1's 128 x 10 x 256 product ran at 0.4x BLIS's speed, its
     * 10 x 256 x 128 at 0.85x, W2's 32 x 6272 x 9 at 0.5x. */
    if (nl_cpu_avx2() && m >= NR2 && n >= NR2 && k >= NR2) return &ks256;
    return NULL;
}

/* For products whose whole packed A is small (W1's, an LSTM's), the
 * column panels are handed to the threads one at a time as they ask: each
 * thread packs all of A once, as the static split's threads do, then takes
 * panels, packing each one's B block by block. A core that another tenant
 * slows, or whose cache lacks the operands, takes fewer panels instead of
 * holding the other at the region's end: W1 on two threads 1.03-1.15x
 * against the static split in alternated rounds (14-15 of 16); panels of
 * 64 and 128 columns ran 1-5% slower than single ones. */
#define A_WHOLE_MAX (1 << 20)   /* bytes of a thread's whole packed A */

static bool sgemm_panels(const sgemm_args *g, int nt) {
    int64_t m = g->m, n = g->n, k = g->k, nr = g->ks->nr, prows = panel_rows(m, g->ks->mr);
    int64_t per = (KC * nr + (g->apack ? 0 : prows * k) + 15) / 16 * 16;   /* a B panel, then A */
    int64_t bytes = nt * per * (int64_t)sizeof(float);
    float *buf = nl_alloc_scratch(&bytes);
    if (!buf) return false;
    int64_t next = 0;
    NL_PARALLEL_FOR(nt, t, nt,
        float *bbuf = buf + t * per, *apack = bbuf + KC * nr;
        if (g->apack) apack = (float *)g->apack;
        else pack_a_whole(g, apack);
        for (;;) {
            int64_t j0 = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) * nr;
            if (j0 >= n) break;
            int64_t j1 = j0 + nr < n ? j0 + nr : n;
            for (int64_t pc = 0; pc < k; pc += KC) {
                int64_t kc = k - pc < KC ? k - pc : KC;
                pack_b(g, bbuf, pc, kc, j0, j1);
                g->ks->tiles(g, apack + pc * prows, 0, m, j0, j1, bbuf, pc, kc);
            }
        });
    nl_free(buf, bytes);
    return true;
}

/* the product g describes, on at most nt threads; false when out of memory */
static bool sgemm_run(const sgemm_args *g, int nt) {
    int64_t m = g->m, n = g->n, mr = g->ks->mr, nr = g->ks->nr;
    int64_t panels = (n + nr - 1) / nr, rowblocks = (m + mr - 1) / mr;
    if (nt < 1) nt = 1;
    bool by_cols = panels >= nt || panels >= rowblocks;   /* split the longer way */
    int64_t units = by_cols ? panels : rowblocks;
    if (nt > units) nt = (int)units;
    if (nt > 1 && by_cols && rowblocks * mr * g->k * (int64_t)sizeof(float) <= A_WHOLE_MAX)
        return sgemm_panels(g, nt);
    /* The static split below has each thread pack all of A (or of B) for
     * itself, where BLIS packs one copy for all: with AVX2 tiles that ran
     * products of 768 to 1024 a side on two threads at 0.86-0.94x BLIS's
     * speed, so BLIS takes them. */
    if (nt > 1 && g->ks == &ks256) return false;
    /* a thread's buffers: its B block and one A block */
    int64_t per_cols = by_cols ? (panels + nt - 1) / nt : panels;
    if (per_cols > NC / nr) per_cols = NC / nr;
    int64_t per = KC * per_cols * nr + g->ks->mc * KC + 16;
    int64_t bytes = nt * per * (int64_t)sizeof(float);
    float *buf = nl_alloc_scratch(&bytes);
    if (!buf) return false;
    NL_PARALLEL_FOR(nt, t, nt,
        int64_t u0 = units * t / nt, u1 = units * (t + 1) / nt;
        float *bbuf = buf + t * per, *abuf = bbuf + KC * per_cols * nr;
        if (u1 > u0) {
            if (by_cols)
                sgemm_part(g, 0, m, u0 * nr, u1 * nr < n ? u1 * nr : n, bbuf, abuf);
            else
                sgemm_part(g, u0 * mr, u1 * mr < m ? u1 * mr : m, 0, n, bbuf, abuf);
        });
    nl_free(buf, bytes);
    return true;
}

bool nl_sgemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t rsb,
              int64_t csb, float beta, float *c, int64_t rsc, int64_t csc, int nt) {
    const kernel_set *ks = kernels_for(m, n, k, nt);
    if (!ks) return false;
    if (csc != 1) {
        if (rsc != 1) return false;
        /* C column-major: C^T (n, m) row-major = B^T @ A^T */
        return nl_sgemm(n, m, k, b, csb, rsb, a, csa, rsa, beta, c, csc, 1, nt);
    }
    sgemm_args g = { m, n, k, rsa, csa, rsb, csb, rsc, a, b, c, beta, NULL, false, NULL, ks };
    return sgemm_run(&g, nt);
}

bool nl_sgemm_linear(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                     int64_t rsb, int64_t csb, const float *bias, bool relu, float *c, int64_t ldc, int nt) {
    const kernel_set *ks = kernels_for(m, n, k, nt);
    if (!ks) return false;
    sgemm_args g = { m, n, k, rsa, csa, rsb, csb, ldc, a, b, c, 0.0f, bias, relu, NULL, ks };
    return sgemm_run(&g, nt);
}

/* The packed A below, the B segments and the rows of C are AVX-512's
 * layout (12-row panels, 32-column tiles) and run only there. */
int64_t nl_sgemm_packed_a_floats(int64_t m, int64_t k) { return panel_rows(m, MR) * k; }

void nl_sgemm_pack_a(float *dst, int64_t m, int64_t k, const float *a, int64_t rsa, int64_t csa) {
    sgemm_args g = { m, 0, k, rsa, csa, 0, 0, 0, a, NULL, NULL, 0.0f, NULL, false, NULL, &ks512 };
    pack_a_whole(&g, dst);
}

bool nl_sgemm_packed(int64_t m, int64_t n, int64_t k, const float *apack, const float *b, int64_t rsb, int64_t csb,
                     float beta, float *c, int64_t ldc, int nt) {
    if (kernels_for(m, n, k, nt) != &ks512) return false;
    sgemm_args g = { m, n, k, 0, 0, rsb, csb, ldc, NULL, b, c, beta, NULL, false, apack, &ks512 };
    return sgemm_run(&g, nt);
}

int64_t nl_sgemm_bsegs_floats(void) { return (int64_t)MC * KC; }

bool nl_sgemm_bsegs(int64_t m, int64_t n, const float *a, int64_t rsa, int64_t csa, const nl_bsegs *b, float beta,
                    float *c, int64_t ldc, float *abuf) {
    if (!nl_cpu_avx512f() || m <= 0 || n <= 0 || n % NR || b->kimg <= 0 || b->seg <= 0) return false;
    int64_t np = n / NR, run = b->seg * NR + b->skip;   /* run: floats from a run's first row to the next's */
    sgemm_args g = { m, n, b->nimg * b->kimg, rsa, csa, 0, 0, ldc, a, NULL, c, beta, NULL, false, NULL, &ks512 };
    for (int64_t s = 0; s < b->nimg; s++)
        for (int64_t q0 = 0; q0 < b->kimg; q0 += KC) {    /* k blocks within an image */
            int64_t kc = b->kimg - q0 < KC ? b->kimg - q0 : KC, pc = s * b->kimg + q0;
            const float *row0 = b->img + s * b->img_stride + q0 / b->seg * run + q0 % b->seg * NR;
            int64_t left = b->seg - q0 % b->seg;
            for (int64_t ic = 0; ic < m; ic += MC) {
                int64_t mc = m - ic < MC ? m - ic : MC;
                pack_a(&g, abuf, ic, mc, pc, kc);
                for (int64_t ir = 0; ir < mc; ir += MR)
                    for (int64_t p = 0; p < np; p++)
                        seg_tile(kc, abuf + ir * kc, row0 + b->poff[p], c + (ic + ir) * ldc + p * NR, ldc,
                                 mc - ir < MR ? (int)(mc - ir) : MR, pc > 0, beta, b->seg, left, b->skip);
            }
        }
    return true;
}

int64_t nl_sgemm_packed_b_floats(int64_t k, int64_t n) { return k * n; }

void nl_sgemm_pack_b(float *dst, int64_t k, int64_t n, const float *b, int64_t rsb, int64_t csb) {
    for (int64_t pc = 0; pc < k; pc += KC) {
        int64_t kc = k - pc < KC ? k - pc : KC;
        for (int64_t j = 0; j < n; j += NR)
            pack(dst + pc * n + j * kc, NR, b + pc * rsb + j * csb, rsb, csb, kc, n - j < NR ? n - j : NR);
    }
}

bool nl_sgemm_crows(int64_t m, int64_t n, int64_t k, const float *apack, const float *bpack, float *const *crow,
                    int64_t cofs) {
    if (!nl_cpu_avx512f() || m <= 0 || n <= 0 || k <= 0 || n % NR) return false;
    float *rp[MR];
    for (int64_t pc = 0; pc < k; pc += KC) {
        int64_t kc = k - pc < KC ? k - pc : KC;
        for (int64_t ir = 0; ir < m; ir += MR) {
            int rows = m - ir < MR ? (int)(m - ir) : MR;
            for (int r = 0; r < MR; r++) rp[r] = crow[ir + (r < rows ? r : 0)];
            for (int64_t j = 0; j < n; j += NR)
                crow_tile(kc, apack + pc * panel_rows(m, MR) + ir * kc, bpack + pc * n + j * kc, rows, rp, cofs + j);
        }
    }
    return true;
}
