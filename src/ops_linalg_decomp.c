/* ops_linalg_decomp.c — orthogonal decompositions of the matrices in a
 * tensor's last two dims, batched over the others: Householder QR (as
 * LAPACK's geqrf/orgqr), the symmetric eigendecomposition (Householder
 * tridiagonalization, EISPACK's tred2, in one pass per reflector where
 * Q is not formed and by panels from n = 1024 on as LAPACK's dsytrd; the
 * eigenvalues by implicit QL, tql2, and the eigenvectors from n = 64 on
 * by divide and conquer as LAPACK's dstedc, below it by QL) and the SVD
 * (one-sided Jacobi, preconditioned by the eigenvectors of A^T A; the
 * values alone by bidiagonalization and bidiagonal QR), plus the
 * inverse of upper-triangular matrices. Float32 and float64, both computed
 * in float64. No gradients here: linalg_decomp.lua composes them from
 * these values; inv, solve, det and LU are not in this file. */
#include "internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* matrix elements (n^3 work counted as n^2 * n) per thread before another pays */
#define DECOMP_GRAIN (1 << 16)
/* implicit QL steps per eigenvalue on average (a budget for all of them,
 * as LAPACK's dsteqr: graded matrices took over 60 for some eigenvalues
 * at n = 300), Jacobi sweeps per SVD, before "did not converge" */
#define QL_MAX_ITER 30
#define JACOBI_MAX_SWEEPS 60
/* eigh scales a matrix whose largest entry is below it or above its
 * inverse (LAPACK's syev: about sqrt(DBL_MIN / DBL_EPSILON)) */
#define EIGH_SCALE_MIN 0x1p-480
/* squared column norms at or below it are zero to Jacobi (DBL_MIN / DBL_EPSILON) */
#define JACOBI_FLOOR (DBL_MIN / DBL_EPSILON)
/* The kernels' loops (rotations, reflections, dot products) compiled
 * twice, for AVX2 with FMA (twice the speed) and for any x86-64, one
 * picked at load time (GCC's function multiversioning). By feature level:
 * "arch=haswell" asks for an Intel Haswell, so AMD CPUs with AVX2 and FMA
 * got the default clone. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DECOMP_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define DECOMP_KERNEL
#endif

/* ---- batches: a's matrices in and out as float64 ---- */

typedef struct {
    int64_t batch, m, n;          /* a: (batch..., m, n) */
    int bdims;                    /* the number of batch dims */
} mat_shape;

/* checks a (float, at least 2-D; square when square) and reads its shape */
static bool decomp_shape(const char *op, nl_tensor *a, bool square, mat_shape *s) {
    if (!a) { nl_set_error("%s: expected a tensor, got nil", op); return false; }
    if (a->dtype != NL_FLOAT32 && a->dtype != NL_FLOAT64) {
        nl_set_error("%s: expected a float32 or float64 tensor, got %s of shape %s", op, nl_dtype_name(a->dtype),
                     nl_shape_str(a));
        return false;
    }
    if (a->ndim < 2) {
        nl_set_error("%s: expected a tensor of at least 2 dims (a batch of matrices), got shape %s", op,
                     nl_shape_str(a));
        return false;
    }
    s->bdims = a->ndim - 2;
    s->m = a->sizes[a->ndim - 2];
    s->n = a->sizes[a->ndim - 1];
    s->batch = 1;
    for (int i = 0; i < s->bdims; i++) s->batch *= a->sizes[i];
    if (square && s->m != s->n) {
        nl_set_error("%s: expected square matrices in the last two dims, got shape %s", op, nl_shape_str(a));
        return false;
    }
    return true;
}

/* a tensor of a's batch dims followed by the sizes d0 (and d1 when two) */
static nl_tensor *batch_alloc(const char *op, const nl_tensor *a, int k, int64_t d0, int64_t d1) {
    int64_t sizes[NL_MAX_DIMS];
    int nd = a->ndim - 2;
    for (int i = 0; i < nd; i++) sizes[i] = a->sizes[i];
    sizes[nd++] = d0;
    if (k == 2) sizes[nd++] = d1;
    return nl_tensor_alloc(op, nd, sizes, a->dtype);
}

/* matrix b of the contiguous c (m*n elements each) as float64 */
static void load_mat(double *dst, const nl_tensor *c, int64_t b, int64_t len) {
    if (c->dtype == NL_FLOAT64) memcpy(dst, (const double *)c->data + b * len, (size_t)len * sizeof(double));
    else {
        const float *x = (const float *)c->data + b * len;
        for (int64_t i = 0; i < len; i++) dst[i] = x[i];
    }
}

static void store_mat(nl_tensor *t, int64_t b, const double *src, int64_t len) {
    if (t->dtype == NL_FLOAT64) memcpy((double *)t->data + b * len, src, (size_t)len * sizeof(double));
    else {
        float *y = (float *)t->data + b * len;
        for (int64_t i = 0; i < len; i++) y[i] = (float)src[i];
    }
}

static bool all_finite(const double *x, int64_t len) {
    for (int64_t i = 0; i < len; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

static double *scratch(int64_t count, int64_t *cap) {
    *cap = (count + 8) * (int64_t)sizeof(double);
    return nl_alloc_scratch(cap);
}

static int threads_for(const mat_shape *s, int64_t work_per_matrix) {
    return s->batch > 1 ? nl_threads_for(s->batch * work_per_matrix, DECOMP_GRAIN) : 1;
}

/* sum x[i] y[i] in 8 partial sums (two AVX2 vectors' worth; GCC left the
 * kernels' "omp simd reduction" loops scalar in the target clones) */
static inline double dot8(const double *x, const double *y, int64_t n) {
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) p[j] += x[i + j] * y[i + j];
    double acc = ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
    for (; i < n; i++) acc += x[i] * y[i];
    return acc;
}

/* one row j of the product of a symmetric matrix (lower triangle by rows)
 * with u: pv[0..j) += row[0..j) u_j, and the return sum row[0..j) u[0..j)
 * (in 8 partial sums), row read once (a dot8 and a separate axpy, which
 * GCC left unvectorized for fear of pv aliasing row, read it twice) */
static inline double symv_row(const double *restrict row, const double *restrict u, double *restrict pv, double uj,
                              int64_t j) {
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= j; k += 8)
        for (int t = 0; t < 8; t++) {
            double r = row[k + t];
            p[t] += r * u[k + t];
            pv[k + t] += r * uj;
        }
    double acc = ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
    for (; k < j; k++) {
        acc += row[k] * u[k];
        pv[k] += row[k] * uj;
    }
    return acc;
}

/* ---- Householder QR ----
 * As LAPACK's dlarfg: column k's reflector H = I - tau v v^T, v[k] = 1,
 * maps a[k:, k] to beta e_k with beta = -sign(a_kk) |a[k:, k]| (no
 * reflection, tau = 0, when the entries below a_kk are all 0), so that R's
 * diagonal has LAPACK's (PyTorch's) signs. a (m, n) row-major is
 * overwritten by R above the diagonal and the v's below it. */
DECOMP_KERNEL static void householder_qr(double *a /* (m, n) */, double *tau /* (min(m, n)) */, double *w /* (n) */, int64_t m,
                           int64_t n) {
    int64_t k = m < n ? m : n;
    for (int64_t c = 0; c < k; c++) {
        double alpha = a[c * n + c], xn = 0;
        /* the norm below the diagonal: libm's hypot term by term only where
         * the sum of squares under- or overflows (a fifth of a tall QR) */
        for (int64_t i = c + 1; i < m; i++) xn += a[i * n + c] * a[i * n + c];
        if (xn > 0x1p-900 && xn < 0x1p900) xn = sqrt(xn);
        else {
            xn = 0;
            for (int64_t i = c + 1; i < m; i++) xn = hypot(xn, a[i * n + c]);
        }
        if (xn == 0) { tau[c] = 0; continue; }
        double beta = alpha >= 0 ? -hypot(alpha, xn) : hypot(alpha, xn);
        tau[c] = (beta - alpha) / beta;
        double sc = 1 / (alpha - beta);
        for (int64_t i = c + 1; i < m; i++) a[i * n + c] *= sc;
        a[c * n + c] = beta;
        /* columns c+1..n-1: w = v^T A, A -= tau v w */
        int64_t nr = n - c - 1;
        if (nr == 0) continue;
        for (int64_t j = 0; j < nr; j++) w[j] = a[c * n + c + 1 + j];
        for (int64_t i = c + 1; i < m; i++) {
            double v = a[i * n + c];
            const double *row = a + i * n + c + 1;
            for (int64_t j = 0; j < nr; j++) w[j] += v * row[j];
        }
        double t = tau[c];
        for (int64_t j = 0; j < nr; j++) a[c * n + c + 1 + j] -= t * w[j];
        for (int64_t i = c + 1; i < m; i++) {
            double tv = t * a[i * n + c];
            double *row = a + i * n + c + 1;
            for (int64_t j = 0; j < nr; j++) row[j] -= tv * w[j];
        }
    }
}

/* ---- blocked Householder QR ----
 * QR_NB reflectors at a time in LAPACK's compact WY form (dgeqrf, dorgqr):
 * H_c0 ... H_c0+bw-1 = I - V T V^T, V (mv, bw) the unit lower-triangular
 * reflectors, T (bw, bw) upper triangular (dlarft), so that the rest of
 * the matrix takes two products (BLIS) per block instead of one pass per
 * reflector, which made QR memory-bound from n = 256 on. */
#define QR_NB 32

/* V (mv = m - c0, bw) and T of the reflectors c0..c0+bw-1 of
 * householder_qr's a; g: bw^2 scratch for V^T V (one BLIS product: the
 * column pairs' dot products, strided, took 40% of a 4000 x 200 QR) */
static void qr_block_vt(const double *a, const double *tau, double *v, double *t, double *g, int64_t m, int64_t n,
                        int64_t c0, int64_t bw) {
    int64_t mv = m - c0;
    for (int64_t r = 0; r < mv; r++)
        for (int64_t j = 0; j < bw; j++) v[r * bw + j] = r == j ? 1 : r > j ? a[(c0 + r) * n + c0 + j] : 0;
    /* V's zeros above its unit diagonal make g[p][j] = V[j:, p]^T V[j:, j] */
    nl_conv_gemm(NL_FLOAT64, bw, bw, mv, v, 1, bw, v, bw, 1, 0, g, bw, 1, 1);
    /* T[j][j] = tau_j; T[0:j, j] = -tau_j T[0:j, 0:j] (V[:, 0:j]^T v_j) */
    for (int64_t j = 0; j < bw; j++) {
        double tj = tau[c0 + j];
        for (int64_t i = 0; i < bw; i++) t[i * bw + j] = 0;
        t[j * bw + j] = tj;
        if (tj == 0) continue;
        double *y = t + j;   /* column j above the diagonal, rows 0..j-1, as scratch first */
        for (int64_t p = 0; p < j; p++) y[p * bw] = g[p * bw + j];
        for (int64_t i = 0; i < j; i++) {
            double acc = 0;
            for (int64_t p = i; p < j; p++) acc += t[i * bw + p] * y[p * bw];
            y[i * bw] = -tj * acc;   /* rows below i still hold V^T v_j: p >= i read before */
        }
    }
}

/* c (mv, nc; rows ldc apart) = (I - V op(T) V^T) c, op(T) = T^T (trans) or T;
 * wb: bw * nc scratch; wt (NULL or bw * (nc + bw) more): -T^T W as one
 * product (BLIS, -T^T into wt first) rather than row by row */
static void qr_block_apply(double *c, int64_t ldc, const double *v, const double *t, double *wb, double *wt,
                           int64_t mv, int64_t nc, int64_t bw, bool trans) {
    if (mv == 0 || nc == 0) return;
    nl_conv_gemm(NL_FLOAT64, bw, nc, mv, v, 1, bw, c, ldc, 1, 0, wb, nc, 1, 1);   /* W = V^T c */
    if (trans && wt) {
        double *tn = wt + bw * nc;
        for (int64_t i = 0; i < bw; i++)
            for (int64_t p = 0; p < bw; p++) tn[i * bw + p] = -t[p * bw + i];
        nl_conv_gemm(NL_FLOAT64, bw, nc, bw, tn, bw, 1, wb, nc, 1, 0, wt, nc, 1, 1);
        nl_conv_gemm(NL_FLOAT64, mv, nc, bw, v, bw, 1, wt, nc, 1, 1, c, ldc, 1, 1);   /* c += V W */
        return;
    }
    if (trans) {   /* W = -T^T W, from the last row (row i reads rows p <= i) */
        for (int64_t i = bw - 1; i >= 0; i--) {
            double *wi = wb + i * nc, tii = t[i * bw + i];
            for (int64_t x = 0; x < nc; x++) wi[x] *= -tii;
            for (int64_t p = 0; p < i; p++) {
                double tp = -t[p * bw + i];
                const double *wp = wb + p * nc;
                for (int64_t x = 0; x < nc; x++) wi[x] += tp * wp[x];
            }
        }
    } else {       /* W = -T W, from the first row (row i reads rows p >= i) */
        for (int64_t i = 0; i < bw; i++) {
            double *wi = wb + i * nc, tii = t[i * bw + i];
            for (int64_t x = 0; x < nc; x++) wi[x] *= -tii;
            for (int64_t p = i + 1; p < bw; p++) {
                double tp = -t[i * bw + p];
                const double *wp = wb + p * nc;
                for (int64_t x = 0; x < nc; x++) wi[x] += tp * wp[x];
            }
        }
    }
    nl_conv_gemm(NL_FLOAT64, mv, nc, bw, v, bw, 1, wb, nc, 1, 1, c, ldc, 1, 1);   /* c += V W */
}

/* householder_qr's result, by blocks: each panel (copied to p, mv x bw,
 * whose rows are not 2^k apart) by householder_qr, the rest of the matrix
 * by qr_block_apply. Scratch: p and v (m * QR_NB each), t (QR_NB^2), wb
 * (QR_NB * n), w (n). */
static void householder_qr_blocked(double *a, double *tau, double *w, double *p, double *v, double *t, double *wb,
                                   int64_t m, int64_t n) {
    int64_t k = m < n ? m : n;
    for (int64_t c0 = 0; c0 < k; c0 += QR_NB) {
        int64_t bw = k - c0 < QR_NB ? k - c0 : QR_NB, mv = m - c0;
        for (int64_t r = 0; r < mv; r++)
            for (int64_t j = 0; j < bw; j++) p[r * bw + j] = a[(c0 + r) * n + c0 + j];
        householder_qr(p, tau + c0, w, mv, bw);
        for (int64_t r = 0; r < mv; r++)
            for (int64_t j = 0; j < bw; j++) a[(c0 + r) * n + c0 + j] = p[r * bw + j];
        if (c0 + bw == n) continue;
        qr_block_vt(a, tau, v, t, wb, m, n, c0, bw);   /* wb: free until the apply */
        qr_block_apply(a + c0 * n + c0 + bw, n, v, t, wb, NULL, mv, n - c0 - bw, bw, true);
    }
}

/* q (m, qc) = H_0 H_1 ... H_{k-1} I[:, :qc] (LAPACK's dorgqr), the
 * reflectors from householder_qr's a (m, n), by blocks from the last
 * (each block acts on q's rows and columns from its first on: the columns
 * before are still I's there); scratch as above, wb QR_NB * qc */
static void householder_q_blocked(double *q, const double *a, const double *tau, double *v, double *t, double *wb,
                                  int64_t m, int64_t n, int64_t qc) {
    int64_t k = m < n ? m : n;
    memset(q, 0, (size_t)(m * qc) * sizeof(double));
    for (int64_t i = 0; i < m && i < qc; i++) q[i * qc + i] = 1;
    for (int64_t c0 = (k - 1) / QR_NB * QR_NB; k > 0 && c0 >= 0; c0 -= QR_NB) {
        int64_t bw = k - c0 < QR_NB ? k - c0 : QR_NB;
        qr_block_vt(a, tau, v, t, wb, m, n, c0, bw);   /* wb: free until the apply */
        qr_block_apply(q + c0 * qc + c0, qc, v, t, wb, NULL, m - c0, qc - c0, bw, false);
    }
}

nl_tensor *nl_linalg_qr(nl_tensor *a, int complete, nl_tensor **q) {
    const char *op = "qr";
    mat_shape s;
    if (!decomp_shape(op, a, false, &s)) return NULL;
    int64_t m = s.m, n = s.n, k = m < n ? m : n, rr = complete ? m : k;
    nl_tensor *r = batch_alloc(op, a, 2, rr, n);
    if (!r) return NULL;
    nl_tensor *qt = NULL;
    if (q) {
        qt = batch_alloc(op, a, 2, m, rr);
        if (!qt) { nl_release(r); return NULL; }
    }
    nl_tensor *c = nl_contiguous_raw(a);
    if (!c) { nl_release(r); if (qt) nl_release(qt); return NULL; }
    bool oom = false;
    int nt = threads_for(&s, m * n * (k + 1));
    NL_PARALLEL_FOR_DYNAMIC(nt, b, s.batch,
        int64_t cap;
        double *buf = scratch(m * n + m * rr + rr * n + k + n + rr + 2 * m * QR_NB + QR_NB * (QR_NB + n + rr), &cap);
        if (!buf) { oom = true; continue; }
        double *w = buf, *tau = w + n + rr, *am = tau + k, *qm = am + m * n, *rm = qm + m * rr;
        double *pb = rm + rr * n, *vb = pb + m * QR_NB, *tb = vb + m * QR_NB, *wb = tb + QR_NB * QR_NB;
        load_mat(am, c, b, m * n);
        householder_qr_blocked(am, tau, w, pb, vb, tb, wb, m, n);
        for (int64_t i = 0; i < rr; i++)
            for (int64_t j = 0; j < n; j++) rm[i * n + j] = i < m && j >= i ? am[i * n + j] : 0;
        store_mat(r, b, rm, rr * n);
        if (qt) {
            householder_q_blocked(qm, am, tau, vb, tb, wb, m, n, rr);
            store_mat(qt, b, qm, m * rr);
        }
        nl_free(buf, cap);
    );
    nl_release(c);
    if (oom) {
        nl_release(r);
        if (qt) nl_release(qt);
        NL_CHECK(0, "%s: out of memory for matrices of shape %s", op, nl_shape_str(a));
    }
    if (q) *q = qt;
    return r;
}

/* ---- the symmetric eigendecomposition ----
 * tred2: Householder reduction of the symmetric z (n, n) (its lower
 * triangle is read) to tridiagonal d (diagonal), e (e[i]: below d[i],
 * e[0] = 0), with z overwritten by the accumulated transformation (with
 * vectors; else only d and e are made, z keeping the reflectors (row i:
 * u_i in columns 0..i-1) and hs (when not NULL) getting their h's).
 * EISPACK's tred2 as Numerical Recipes writes it, 0-based. */
/* the reflector of row i of the reduction, u = its columns 0..l = i - 1:
 * u scaled and its last entry moved so that P = I - u u^T / h takes the
 * row onto e[i] at column l; returns h, or 0 (and e[i] = u[l]) where l is
 * 0 or u is zero (no reflector). The three reductions below share it. */
static inline double tr_reflector(double *u, int64_t l, double *ei) {
    double h = 0, scale = 0;
    if (l > 0)
        for (int64_t k = 0; k <= l; k++) scale += fabs(u[k]);
    if (scale == 0) {
        *ei = u[l];
        return 0;
    }
    for (int64_t k = 0; k <= l; k++) {
        u[k] /= scale;
        h += u[k] * u[k];
    }
    double f = u[l];
    double g = f >= 0 ? -sqrt(h) : sqrt(h);
    *ei = scale * g;
    h -= f * g;
    u[l] = f - g;
    return h;
}

/* p = A u / h in place (p[0..l] held A u); returns u^T p / 2h, the K of
 * q = p - K u */
static inline double tr_half(double *p, const double *u, int64_t l, double h) {
    double f = 0;
    for (int64_t j = 0; j <= l; j++) {
        p[j] /= h;
        f += p[j] * u[j];
    }
    return f / (h + h);
}

static void tred2_q_blocked(double *z, double *d, double *scr, int64_t n);

DECOMP_KERNEL static void tred2(double *z /* (n, n) */, double *d, double *e, double *w /* (n) */, double *scr,
                                double *hs, int64_t n, bool vectors) {
#define Z(i, j) z[(i) * n + (j)]
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t l = i - 1;
        double h = tr_reflector(z + i * n, l, &e[i]);
        if (h != 0) {
            /* e = (A u) / h, u = z[i, 0..l], A's lower triangle read by rows */
            const double *u = z + i * n;
            for (int64_t j = 0; j <= l; j++) e[j] = 0;
            for (int64_t j = 0; j <= l; j++) {
                Z(j, i) = u[j] / h;
                const double *row = z + j * n;
                e[j] += symv_row(row, u, e, u[j], j) + row[j] * u[j];
            }
            double hh = tr_half(e, u, l, h);
            for (int64_t j = 0; j <= l; j++) {
                double f = u[j], g = e[j] = e[j] - hh * f;
                double *row = z + j * n;
                for (int64_t k = 0; k <= j; k++) row[k] -= f * e[k] + g * u[k];
            }
        }
        d[i] = h;
    }
    d[0] = 0;
    e[0] = 0;
    if (!vectors) {
        if (hs) memcpy(hs, d, (size_t)n * sizeof(double));
        for (int64_t i = 0; i < n; i++) d[i] = Z(i, i);
        return;
    }
    if (scr) {
        tred2_q_blocked(z, d, scr, n);
        return;
    }
    /* the transformation, one reflector at a time (the reference for
     * tred2_q_blocked, and below TRED_BLOCKED_MIN) */
    for (int64_t i = 0; i < n; i++) {
        int64_t l = i - 1;
        if (d[i] != 0) {
            /* columns 0..l of the accumulated transformation: z[0:i, j] -= g z[0:i, i] */
            for (int64_t j = 0; j <= l; j++) w[j] = 0;
            for (int64_t k = 0; k <= l; k++) {
                double zik = Z(i, k);
                const double *row = z + k * n;
                for (int64_t j = 0; j <= l; j++) w[j] += zik * row[j];
            }
            for (int64_t k = 0; k <= l; k++) {
                double zki = Z(k, i);
                double *row = z + k * n;
                for (int64_t j = 0; j <= l; j++) row[j] -= w[j] * zki;
            }
        }
        d[i] = Z(i, i);
        Z(i, i) = 1;
        for (int64_t j = 0; j <= l; j++) Z(j, i) = Z(i, j) = 0;
    }
#undef Z
}

/* tred2 without vectors (d, e, z's reflectors and their h's in hs) by
 * panels of TRD_NB rows, as LAPACK's dsytrd with dlatrd: each row is
 * brought up to date with the panel's reflectors when its turn comes, its
 * product with the matrix taken as the matrix at the panel's start times
 * u plus the panel's terms, and the leading block left after the panel
 * takes all of the panel's rank-2 updates at once, A += P N^T (P = [U Q],
 * N = -[Q U]: one product (BLIS) per row block of its lower triangle),
 * where tred2 swept the whole block once per row. false without memory
 * for the panels. */
#define TRD_NB 32
#define TRD_RB 64
/* tred2_blocked from this n on: below it tred2_fused was as fast or
 * faster (AMD EPYC, 512 KB L2, 32 MB L3; at n = 1024 they were even) */
#define TRD_MIN 1024
/* sum x[i] y[i] over i < n, a multiple of 8, in 8 partial sums */
static inline double dot_panel(const double *x, const double *y, int64_t n) {
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = 0; i < n; i += 8)
        for (int j = 0; j < 8; j++) p[j] += x[i + j] * y[i + j];
    return ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
}

DECOMP_KERNEL static bool tred2_blocked(double *z /* (n, n) */, double *d, double *e, double *hs, int64_t n) {
    const int64_t w2 = 2 * TRD_NB;
    int64_t cap;
    double *buf = scratch(2 * n * w2 + n + w2, &cap);
    if (!buf) return false;
    double *pm = buf, *nm = pm + n * w2, *pv = nm + n * w2, *y = pv + n;
    int64_t i = n - 1;
    while (i >= 1) {
        int64_t ilo = i - TRD_NB + 1 > 1 ? i - TRD_NB + 1 : 1;
        memset(pm, 0, (size_t)((i + 1) * w2) * sizeof(double));
        memset(nm, 0, (size_t)((i + 1) * w2) * sizeof(double));
        for (int64_t c = 0; i >= ilo; i--, c++) {
            int64_t l = i - 1;
            double *u = z + i * n;
            int64_t c8 = (2 * c + 7) / 8 * 8;   /* the panel's columns in use, to a multiple of 8 (0 beyond 2 c) */
            if (c > 0)   /* row i as the panel's reflectors so far left it */
                for (int64_t j = 0; j <= i; j++) u[j] += dot_panel(pm + i * w2, nm + j * w2, c8);
            double h = tr_reflector(u, l, &e[i]);
            if (h != 0) {
                /* pv = A u / h: the panel start's lower triangle by rows, then its terms */
                for (int64_t j = 0; j <= l; j++) pv[j] = 0;
                for (int64_t j = 0; j <= l; j++) {
                    const double *row = z + j * n;
                    pv[j] += symv_row(row, u, pv, u[j], j) + row[j] * u[j];
                }
                if (c > 0) {
                    for (int64_t q = 0; q < c8; q++) y[q] = 0;
                    for (int64_t j = 0; j <= l; j++) {
                        const double *pj = pm + j * w2;
                        double uj = u[j];
                        for (int64_t q = 0; q < c8; q += 8)
                            for (int t = 0; t < 8; t++) y[q + t] += pj[q + t] * uj;
                    }
                    for (int64_t j = 0; j <= l; j++) pv[j] += dot_panel(nm + j * w2, y, c8);
                }
                double hh = tr_half(pv, u, l, h);
                for (int64_t j = 0; j <= l; j++) {
                    double qj = pv[j] - hh * u[j];
                    pm[j * w2 + 2 * c] = u[j];
                    pm[j * w2 + 2 * c + 1] = qj;
                    nm[j * w2 + 2 * c] = -qj;
                    nm[j * w2 + 2 * c + 1] = -u[j];
                }
            }
            hs[i] = h;
        }
        /* the leading block (rows and columns 0..i) += P N^T, its lower triangle by row blocks */
        for (int64_t r0 = 0, m = i + 1; r0 < m; r0 += TRD_RB) {
            int64_t r1 = r0 + TRD_RB < m ? r0 + TRD_RB : m;
            nl_conv_gemm(NL_FLOAT64, r1 - r0, r1, w2, pm + r0 * w2, w2, 1, nm, 1, w2, 1, z + r0 * n, n, 1, 1);
        }
    }
    for (int64_t k = 0; k < n; k++) d[k] = z[k * n + k];
    e[0] = 0;
    hs[0] = 0;
    nl_free(buf, cap);
    return true;
}

/* tred2 without vectors (its d, e, reflectors in z's rows and h's in hs)
 * in one pass over the leading block per reflector: each row gets the
 * last reflector's rank-2 update and, while in registers, its share of
 * the next product A u (tred2 swept the block twice per reflector, once
 * for A u and once for the update). uo, qo, pv: 3 n scratch. */
DECOMP_KERNEL static void tred2_fused(double *z /* (n, n) */, double *d, double *e, double *hs, double *scr,
                                      int64_t n) {
    double *restrict uo = scr, *restrict qo = scr + n, *restrict pv = qo + n;
    bool pending = false;   /* uo, qo: the last reflector's update, not yet applied to rows 0..i */
    memset(scr, 0, (size_t)(2 * n) * sizeof(double));   /* read times 0 while nothing is pending */
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t l = i - 1;
        double *u = z + i * n;
        if (pending)
            for (int64_t k = 0; k <= i; k++) u[k] -= uo[i] * qo[k] + qo[i] * uo[k];
        double h = tr_reflector(u, l, &e[i]);
        if (h != 0) {
            for (int64_t j = 0; j <= l; j++) pv[j] = 0;
            for (int64_t j = 0; j <= l; j++) {
                double *restrict row = z + j * n, uj = u[j], a = pending ? uo[j] : 0, b = pending ? qo[j] : 0;
                double p[4] = {0, 0, 0, 0};
                int64_t k = 0;
                if (pending)
                    for (; k + 4 <= j; k += 4)
                        for (int t = 0; t < 4; t++) {
                            double r = row[k + t] - (a * qo[k + t] + b * uo[k + t]);
                            row[k + t] = r;
                            p[t] += r * u[k + t];
                            pv[k + t] += r * uj;
                        }
                else
                    for (; k + 4 <= j; k += 4)
                        for (int t = 0; t < 4; t++) {
                            double r = row[k + t];
                            p[t] += r * u[k + t];
                            pv[k + t] += r * uj;
                        }
                double acc = (p[0] + p[2]) + (p[1] + p[3]);
                for (; k <= j; k++) {
                    double r = row[k] - (a * qo[k] + b * uo[k]);
                    row[k] = r;
                    if (k < j) {
                        acc += r * u[k];
                        pv[k] += r * uj;
                    } else pv[j] += acc + r * uj;
                }
            }
            double hh = tr_half(pv, u, l, h);
            for (int64_t j = 0; j <= l; j++) {
                uo[j] = u[j];
                qo[j] = pv[j] - hh * u[j];
            }
            pending = true;
        } else {
            if (pending)   /* rows 0..l still owe the last update */
                for (int64_t j = 0; j <= l; j++) {
                    double *row = z + j * n;
                    for (int64_t k = 0; k <= j; k++) row[k] -= uo[j] * qo[k] + qo[j] * uo[k];
                }
            pending = false;
        }
        hs[i] = h;
    }
    for (int64_t k = 0; k < n; k++) d[k] = z[k * n + k];
    e[0] = 0;
    if (n > 0) hs[0] = 0;
}

/* tred2's transformation by blocks of TRED_NB reflectors (as LAPACK's
 * dorgtr): reflector i (row i of z: u, zero from column i on; h in d[i],
 * 0 for none) is P_i = I - u u^T / h on the leading i x i block, and
 * Q = P_{n-1} ... P_1. A block's product P_{N-1} ... P_{i0} is I - V T^T
 * V^T (compact WY, T upper triangular as dlarft's), applied to the
 * leading N x N block (Q so far, identity from i0 on) by two products
 * (BLIS), where one reflector at a time read and wrote that block twice
 * per reflector. z becomes Q, d the diagonal. scr: V (N, nb), T (nb,
 * nb) and W (nb, N), 2 N nb + nb^2 doubles (n^2 holds them from n =
 * TRED_BLOCKED_MIN on). */
#define TRED_NB 32
/* blocks from n = TRED_BLOCKED_MIN on (scr holds the block's work there) */
#define TRED_BLOCKED_MIN 128
/* V (big, nb) and T (nb, nb) of tred2's reflectors i0..i0+nb-1 (in z's
 * rows, their h's in h; big = i0 + nb); wb: nb^2 scratch for V^T V (one
 * BLIS product) */
static void tred2_block_vt(const double *z, const double *h, double *v, double *t, double *wb, int64_t n,
                           int64_t i0, int64_t nb) {
    int64_t big = i0 + nb;
    for (int64_t r = 0; r < big; r++)
        for (int64_t c = 0; c < nb; c++) v[r * nb + c] = r < i0 + c ? z[(i0 + c) * n + r] : 0;
    nl_conv_gemm(NL_FLOAT64, nb, nb, big, v, 1, nb, v, nb, 1, 0, wb, nb, 1, 1);
    /* T: T[c][c] = tau_c = 1 / h; T[0:c, c] = -tau_c T[0:c, 0:c] V[:, 0:c]^T v_c */
    for (int64_t c = 0; c < nb; c++) {
        double hc = h[i0 + c], tc = hc != 0 ? 1 / hc : 0;
        for (int64_t p = 0; p < nb; p++) t[p * nb + c] = 0;
        t[c * nb + c] = tc;
        if (tc == 0) continue;
        for (int64_t p = 0; p < c; p++) {
            double acc = 0;
            for (int64_t q = p; q < c; q++) acc += t[p * nb + q] * wb[q * nb + c];
            t[p * nb + c] = -tc * acc;
        }
    }
}

static void tred2_q_blocked(double *z /* (n, n) */, double *d, double *scr, int64_t n) {
#define Z(i, j) z[(i) * n + (j)]
    for (int64_t i0 = 0; i0 < n; i0 += TRED_NB) {
        int64_t nb = n - i0 < TRED_NB ? n - i0 : TRED_NB, big = i0 + nb;
        double *v = scr, *t = v + big * nb, *wb = t + nb * nb;
        tred2_block_vt(z, d, v, t, wb, n, i0, nb);
        /* the diagonal out, rows and columns i0.. of the leading block to I */
        for (int64_t i = i0; i < big; i++) d[i] = Z(i, i);
        for (int64_t i = i0; i < big; i++)
            for (int64_t j = 0; j < big; j++) Z(i, j) = Z(j, i) = i == j;
        /* Q = (I - V T^T V^T) Q */
        qr_block_apply(z, n, v, t, wb, NULL, big, big, nb, true);
    }
#undef Z
}

/* wm (n, n) = Q wm, Q tred2's transformation from its reflectors (z's
 * rows, their h's in h) by the blocks of tred2_q_blocked, each on the
 * rows it touches and all columns (LAPACK's dormtr rather than Q formed
 * and multiplied). scr: 3 n TRED_NB + 2 TRED_NB^2 doubles. */
static void tred2_apply_q(const double *z, const double *h, double *wm, double *scr, int64_t n) {
    for (int64_t i0 = 0; i0 < n; i0 += TRED_NB) {
        int64_t nb = n - i0 < TRED_NB ? n - i0 : TRED_NB, big = i0 + nb;
        double *v = scr, *t = v + big * nb, *wb = t + nb * nb, *wt = wb + nb * n;
        tred2_block_vt(z, h, v, t, wb, n, i0, nb);
        qr_block_apply(wm, n, v, t, wb, wt, big, n, nb, true);
    }
}

/* the cnt rotations of rows ri[r] and ri[r] + 1 of vt by rc[r] and rs[r],
 * in order, applied ROT_COLS columns of vt at a time: each strip stays in
 * cache through all of them, where one rotation at a time streamed the
 * whole of vt (memory-bound from n = 256 on). A strip is copied to strip
 * (n * ROT_COLS, when not NULL) first: vt's rows, 2^k apart, fell into
 * the same cache sets. Each element sees the same operations in the same
 * order as when the rotations went one by one. */
#define ROT_COLS 32
DECOMP_KERNEL static void apply_rotations(double *vt /* (n, n) */, double *strip, int64_t n, const int64_t *ri,
                                          const double *rc, const double *rs, int64_t cnt) {
    for (int64_t k0 = 0; k0 < n; k0 += ROT_COLS) {
        int64_t kn = n - k0 < ROT_COLS ? n - k0 : ROT_COLS, ld = strip ? kn : n;
        double *base = strip ? strip : vt + k0;
        if (strip)
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < kn; k++) strip[i * kn + k] = vt[i * n + k0 + k];
        if (kn == ROT_COLS) {
            /* a run of rotations i, i - 1, ... shares rows: row i, rotated
             * by the first, is the second's y, kept in yv in between */
            double yv[ROT_COLS];
            for (int64_t r = 0; r < cnt; r++) {
                double *x = base + ri[r] * ld, *y = x + ld, s = rs[r], c = rc[r];
                if (r == 0 || ri[r - 1] != ri[r] + 1)
                    for (int64_t k = 0; k < ROT_COLS; k++) yv[k] = y[k];
                for (int64_t k = 0; k < ROT_COLS; k++) {
                    double f2 = yv[k], xk = x[k];
                    y[k] = s * xk + c * f2;
                    yv[k] = c * xk - s * f2;
                }
                if (r + 1 == cnt || ri[r + 1] != ri[r] - 1)
                    for (int64_t k = 0; k < ROT_COLS; k++) x[k] = yv[k];
            }
        } else
            for (int64_t r = 0; r < cnt; r++) {
                double *x = base + ri[r] * ld, *y = x + ld, s = rs[r], c = rc[r];
                for (int64_t k = 0; k < kn; k++) {
                    double f2 = y[k];
                    y[k] = s * x[k] + c * f2;
                    x[k] = c * x[k] - s * f2;
                }
            }
        if (strip)
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < kn; k++) vt[i * n + k0 + k] = strip[i * kn + k];
    }
}

/* sqrt(a^2 + b^2) without libm's hypot (a tenth of eigh's time at n =
 * 512) where the squares cannot under- or overflow */
static inline double hypot_fast(double a, double b) {
    double x = fabs(a), y = fabs(b), hi = x > y ? x : y, lo = x > y ? y : x;
    if (hi < 0x1p500 && lo > 0x1p-500) return sqrt(x * x + y * y);
    return hypot(a, b);
}

/* tql2: the eigenvalues (into d) and the eigenvectors (rows of vt (n, n),
 * given as the transposed transformation of tred2) of the tridiagonal d, e
 * by implicit QL with shifts (Numerical Recipes' tqli). The rotations wait
 * in rb (3 * rcap doubles, rcap >= 1) and go to vt in batches
 * (apply_rotations, through strip). false when the eigenvalues take more than
 * QL_MAX_ITER n steps. */
DECOMP_KERNEL static bool tql2(double *d, double *e, double *vt /* (n, n), rows */, double *strip, double *rb,
                               int64_t rcap, int64_t n, bool vectors) {
    int64_t *ri = (int64_t *)rb, cnt = 0;
    double *rc = rb + rcap, *rs = rc + rcap;
    for (int64_t i = 1; i < n; i++) e[i - 1] = e[i];
    if (n > 0) e[n - 1] = 0;
    int64_t iter = 0;
    for (int64_t l = 0; l < n; l++) {
        int64_t m;
        do {
            for (m = l; m < n - 1; m++) {
                double dd = fabs(d[m]) + fabs(d[m + 1]);
                if (fabs(e[m]) <= DBL_EPSILON * dd) break;
            }
            if (m != l) {
                if (iter++ == QL_MAX_ITER * n) {
                    if (vectors) apply_rotations(vt, strip, n, ri, rc, rs, cnt);
                    return false;
                }
                double g = (d[l + 1] - d[l]) / (2 * e[l]);
                double r = hypot_fast(g, 1.0);
                g = d[m] - d[l] + e[l] / (g + (g >= 0 ? fabs(r) : -fabs(r)));
                double s = 1, c = 1, p = 0;
                int64_t i;
                for (i = m - 1; i >= l; i--) {
                    double f = s * e[i], b = c * e[i];
                    e[i + 1] = r = hypot_fast(f, g);
                    if (r == 0) {
                        d[i + 1] -= p;
                        e[m] = 0;
                        break;
                    }
                    s = f / r;
                    c = g / r;
                    g = d[i + 1] - p;
                    r = (d[i] - g) * s + 2 * c * b;
                    d[i + 1] = g + (p = s * r);
                    g = c * r - b;
                    if (vectors) {
                        if (cnt == rcap) {
                            apply_rotations(vt, strip, n, ri, rc, rs, cnt);
                            cnt = 0;
                        }
                        ri[cnt] = i;
                        rc[cnt] = c;
                        rs[cnt++] = s;
                    }
                }
                if (r == 0 && i >= l) continue;
                d[l] -= p;
                e[l] = g;
                e[m] = 0;
            }
        } while (m != l);
    }
    if (vectors) apply_rotations(vt, strip, n, ri, rc, rs, cnt);
    return true;
}

static void transpose_sq(double *dst, const double *src, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) dst[j * n + i] = src[i * n + j];
}

/* ---- divide and conquer for the eigenvectors of the tridiagonal ----
 * As LAPACK's dstedc (Cuppen's method with Gu and Eisenstat's vectors):
 * T is torn at its middle into two halves plus a rank-one term, the
 * halves solved (by the same, below DC_BASE by tql2), and the two
 * solutions merged (dc_merge): the eigenvalues of D + rho z z^T are
 * the roots of the secular equation 1 + rho sum z_i^2 / (D_i - x) = 0
 * (each found from its nearer pole, so that the D_i - x are accurate),
 * bar the deflated ones (rho z_i tiny, or two D_i close: dlaed2's
 * tests), and the eigenvectors are those of the halves times the
 * vectors zhat_i / (D_i - x_j), zhat recomputed from the roots (which
 * keeps them orthogonal), one product (BLIS) per half. */
#define DC_BASE 32
/* sym_eig's vectors by divide and conquer from this n on */
#define DC_MIN 64
/* steps per root of the secular equation before "did not converge" */
#define SEC_MAX_ITER 200

typedef struct {
    double *qg, *g, *v;                    /* (n, n) each */
    double *ds, *zs, *dl, *zl, *tau, *vals; /* (n) each */
    int64_t *idx, *tmp, *defl, *nd, *ord, *org, *typ;   /* (n) each */
    double *rb;                            /* tql2's rotations: 3 * DC_ROTS */
} dc_work;
#define DC_ROTS (64 * DC_BASE)
/* doubles in a dc_work for order n (its int64 arrays as doubles) */
#define DC_WORK(n) (3 * (n) * (n) + 13 * (n) + 3 * DC_ROTS)

static void dc_work_init(dc_work *w, double *buf, int64_t n) {
    w->qg = buf;
    w->g = w->qg + n * n;
    w->v = w->g + n * n;
    double *p = w->v + n * n;
    double **dv[] = { &w->ds, &w->zs, &w->dl, &w->zl, &w->tau, &w->vals };
    for (int i = 0; i < 6; i++, p += n) *dv[i] = p;
    int64_t **iv[] = { &w->idx, &w->tmp, &w->defl, &w->nd, &w->ord, &w->org, &w->typ };
    for (int i = 0; i < 7; i++, p += n) *iv[i] = (int64_t *)p;
    w->rb = p;
}

/* idx[0..n) sorted by key[idx[i]], stably (bottom-up merges through tmp) */
static void sort_idx(const double *key, int64_t *idx, int64_t *tmp, int64_t n) {
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, a = lo, b = mid, o = lo;
            while (a < mid && b < hi) tmp[o++] = key[idx[b]] < key[idx[a]] ? idx[b++] : idx[a++];
            while (a < mid) tmp[o++] = idx[a++];
            while (b < hi) tmp[o++] = idx[b++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

/* root j of 1 + rho sum_i z_i^2 / (dl_i - x) = 0 (dl (k >= 2) strictly
 * ascending, z_i != 0, rho > 0; zz = sum z_i^2), as x = dl[*org] + *tau
 * from the nearer pole org: steps of the two-pole rational model (the
 * poles of its interval as they are, the rest of the sum fitted by value
 * and slope: the "middle way" of LAPACK's dlaed4), bisection where a step
 * leaves the bracket. false without convergence. */
static bool secular_root(const double *dl, const double *z, double rho, double zz, int64_t k, int64_t j,
                         int64_t *org, double *tau) {
    int64_t p, q, o;
    double lo, hi;
    if (j == k - 1) {
        p = k - 2, q = o = k - 1;
        lo = 0, hi = rho * zz;
    } else {
        p = j, q = j + 1;
        double mid = (dl[q] - dl[p]) / 2, f = 1;
        for (int64_t i = 0; i < k; i++) f += rho * z[i] * z[i] / ((dl[i] - dl[p]) - mid);
        if (f >= 0) o = p, lo = 0, hi = mid;
        else o = q, lo = -mid, hi = 0;
    }
    double d0 = dl[o], t = (lo + hi) / 2;
    for (int it = 0; it < SEC_MAX_ITER; it++) {
        double psi = 0, dpsi = 0, phi = 0, dphi = 0;
        for (int64_t i = 0; i <= p; i++) {
            double u = z[i] / ((dl[i] - d0) - t);
            psi += z[i] * u;
            dpsi += u * u;
        }
        for (int64_t i = q; i < k; i++) {
            double u = z[i] / ((dl[i] - d0) - t);
            phi += z[i] * u;
            dphi += u * u;
        }
        psi *= rho, dpsi *= rho, phi *= rho, dphi *= rho;
        double f = 1 + psi + phi;
        if (!isfinite(f)) return false;
        if (f > 0) hi = t;
        else lo = t;
        double tol = DBL_EPSILON * (8 * (fabs(psi) + fabs(phi)) + 1 + fabs(t) * (dpsi + dphi));
        if (fabs(f) <= tol || hi - lo <= 2 * DBL_EPSILON * fmax(fabs(lo), fabs(hi))) {
            *org = o, *tau = t;
            return true;
        }
        /* the model c + b / (dp - eta) + B / (dq - eta) (eta: the step) */
        double dp = (dl[p] - d0) - t, dq = (dl[q] - d0) - t;
        double b = dpsi * dp * dp, a = psi - dpsi * dp, bb = dphi * dq * dq, aa = phi - dphi * dq, c = 1 + a + aa;
        double a2 = c, b2 = c * (dp + dq) + b + bb, c2 = dp * dq * f;   /* a2 eta^2 - b2 eta + c2 = 0 */
        double disc = b2 * b2 - 4 * a2 * c2, sq = sqrt(disc > 0 ? disc : 0), sm = b2 >= 0 ? b2 + sq : b2 - sq;
        double r[2] = { a2 != 0 ? sm / (2 * a2) : NAN, sm != 0 ? 2 * c2 / sm : NAN }, nt = NAN;
        for (int i = 0; i < 2; i++) {
            double cand = t + r[i];
            if (cand > lo && cand < hi && (isnan(nt) || fabs(r[i]) < fabs(nt - t))) nt = cand;
        }
        if (isnan(nt)) nt = lo + (hi - lo) / 2;
        if (nt == t) {
            *org = o, *tau = t;
            return true;
        }
        t = nt;
    }
    return false;
}

/* x (nr rows, ld ldx) columns a and b: (a, b) = (c a + s b, c b - s a) */
static void rot_cols(double *x, int64_t nr, int64_t ldx, int64_t a, int64_t b, double c, double s) {
    for (int64_t r = 0; r < nr; r++) {
        double *row = x + r * ldx, xa = row[a], xb = row[b];
        row[a] = c * xa + s * xb;
        row[b] = c * xb - s * xa;
    }
}

/* the eigendecomposition of the block (nn, nn; rows ldw apart) of w whose
 * leading m x m block holds the eigenvectors (columns) of the upper half
 * with their values ascending in d[0..m), the trailing block those of the
 * lower half (values in d[m..nn)), the rest 0, coupled by rho: w gets the
 * eigenvectors of the whole, d its values ascending. */
static bool dc_merge(double *w, int64_t ldw, double *d, double rho, int64_t nn, int64_t m, dc_work *wk) {
    double *qg = wk->qg, *g = wk->g, *v = wk->v, *ds = wk->ds, *zs = wk->zs, *dl = wk->dl, *zl = wk->zl;
    int64_t *idx = wk->idx, *defl = wk->defl, *nd = wk->nd, *ord = wk->ord, *typ = wk->typ;
    double sg = rho >= 0 ? M_SQRT1_2 : -M_SQRT1_2;
    rho = 2 * fabs(rho);
    /* z = Q^T (e_{m-1} + sign(rho) e_m) / sqrt(2), sorted with d */
    for (int64_t c = 0; c < nn; c++) {
        idx[c] = c;
        zs[c] = c < m ? w[(m - 1) * ldw + c] * M_SQRT1_2 : w[m * ldw + c] * sg;
    }
    sort_idx(d, idx, wk->tmp, nn);
    double zmax = 0, dmax = 0;
    for (int64_t c = 0; c < nn; c++) {
        ds[c] = d[idx[c]];
        zl[c] = zs[idx[c]];
        typ[c] = idx[c] < m ? 1 : 3;
        dmax = fmax(dmax, fabs(ds[c]));
        zmax = fmax(zmax, fabs(zl[c]));
    }
    memcpy(zs, zl, (size_t)nn * sizeof(double));
    for (int64_t r = 0; r < nn; r++)
        for (int64_t c = 0; c < nn; c++) qg[r * nn + c] = w[r * ldw + idx[c]];
    /* deflation (dlaed2): a z_i too small, or a pair of values so close
     * that a rotation of their columns zeroes one's z */
    double tol = 8 * DBL_EPSILON * fmax(dmax, zmax);
    int64_t k = 0, nf = 0, pj = -1;
    for (int64_t c = 0; c < nn; c++) {
        if (rho * fabs(zs[c]) <= tol) { defl[nf++] = c; continue; }
        if (pj < 0) { pj = c; continue; }
        double s = zs[pj], cc = zs[c], tw = hypot(cc, s), t = ds[c] - ds[pj];
        cc /= tw;
        s = -s / tw;
        if (fabs(t * cc * s) <= tol) {
            zs[c] = tw;
            zs[pj] = 0;
            if (typ[pj] != typ[c]) typ[c] = 2;
            rot_cols(qg, nn, nn, pj, c, cc, s);
            double t2 = ds[pj] * cc * cc + ds[c] * s * s;
            ds[c] = ds[pj] * s * s + ds[c] * cc * cc;
            ds[pj] = t2;
            defl[nf++] = pj;
        } else nd[k++] = pj;
        pj = c;
    }
    if (pj >= 0) nd[k++] = pj;
    double *vals = wk->vals;
    for (int64_t i = 0; i < k; i++) dl[i] = ds[nd[i]], zl[i] = zs[nd[i]];
    /* g: the k kept columns (those nonzero in the top rows only first,
     * then those in both, then the bottom ones), then the deflated ones */
    int64_t n1 = 0, n2 = 0;
    for (int tp = 1, c = 0; tp <= 3; tp++)
        for (int64_t i = 0; i < k; i++)
            if (typ[nd[i]] == tp) {
                ord[c++] = i;
                n1 += tp == 1;
                n2 += tp == 2;
            }
    for (int64_t r = 0; r < nn; r++) {
        double *gr = g + r * nn;
        const double *qr = qg + r * nn;
        for (int64_t c = 0; c < k; c++) gr[c] = qr[nd[ord[c]]];
        for (int64_t c = 0; c < nf; c++) gr[k + c] = qr[defl[c]];
    }
    for (int64_t c = 0; c < nf; c++) vals[k + c] = ds[defl[c]];
    if (k == 1) {
        vals[0] = dl[0] + rho * zl[0] * zl[0];
        for (int64_t r = 0; r < nn; r++) qg[r * nn] = g[r * nn];
    } else if (k > 1) {
        double zz = 0;
        for (int64_t i = 0; i < k; i++) zz += zl[i] * zl[i];
        for (int64_t j = 0; j < k; j++)
            if (!secular_root(dl, zl, rho, zz, k, j, wk->org + j, wk->tau + j)) return false;
        /* v[i][j] = dl_i - x_j; zhat (in zs) by Loewner's formula; then
         * v[i][j] = zhat_i / (dl_i - x_j), columns normalized */
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < k; j++) v[i * k + j] = (dl[i] - dl[wk->org[j]]) - wk->tau[j];
        for (int64_t i = 0; i < k; i++) {
            double p = v[i * k + i];
            for (int64_t j = 0; j < k; j++)
                if (j != i) p *= v[i * k + j] / (dl[i] - dl[j]);
            zs[i] = copysign(sqrt(p < 0 ? -p : 0), zl[i]);
        }
        double *nrm = zl;   /* zl is spent */
        for (int64_t j = 0; j < k; j++) nrm[j] = 0;
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < k; j++) {
                double x = zs[i] / v[i * k + j];
                v[i * k + j] = x;
                nrm[j] += x * x;
            }
        for (int64_t j = 0; j < k; j++) nrm[j] = 1 / sqrt(nrm[j]);
        /* vg (in w's block: free until the end) = v's rows in g's order */
        for (int64_t c = 0; c < k; c++) {
            const double *vr = v + ord[c] * k;
            double *o = w + c * ldw;
            for (int64_t j = 0; j < k; j++) o[j] = vr[j] * nrm[j];
        }
        for (int64_t j = 0; j < k; j++) vals[j] = dl[wk->org[j]] + wk->tau[j];
        /* qg's first k columns = g's kept columns times vg, by halves */
        int64_t top = n1 + n2, bot = k - n1;
        if (top > 0) nl_conv_gemm(NL_FLOAT64, m, k, top, g, nn, 1, w, ldw, 1, 0, qg, nn, 1, 1);
        else
            for (int64_t r = 0; r < m; r++) memset(qg + r * nn, 0, (size_t)k * sizeof(double));
        if (bot > 0)
            nl_conv_gemm(NL_FLOAT64, nn - m, k, bot, g + m * nn + n1, nn, 1, w + n1 * ldw, ldw, 1, 0, qg + m * nn, nn,
                         1, 1);
        else
            for (int64_t r = m; r < nn; r++) memset(qg + r * nn, 0, (size_t)k * sizeof(double));
    }
    /* all nn ascending into d and w: kept ones from qg, deflated from g */
    for (int64_t c = 0; c < nn; c++) idx[c] = c;
    sort_idx(vals, idx, wk->tmp, nn);
    for (int64_t c = 0; c < nn; c++) d[c] = vals[idx[c]];
    for (int64_t r = 0; r < nn; r++) {
        double *o = w + r * ldw;
        const double *qr = qg + r * nn, *gr = g + r * nn;
        for (int64_t c = 0; c < nn; c++) o[c] = idx[c] < k ? qr[idx[c]] : gr[idx[c]];
    }
    return true;
}

/* the eigenvalues (ascending into d) and eigenvectors (the columns of
 * the block (nn, nn; rows ldw apart) of w, zero on entry) of the
 * tridiagonal d, e (e[i] couples i - 1 and i; e[0] not read) */
static bool dc_solve(double *d, const double *e, double *w, int64_t ldw, int64_t nn, dc_work *wk) {
    if (nn <= DC_BASE) {
        double *dw = wk->dl, *ew = wk->zl, *vt = wk->v;
        memcpy(dw, d, (size_t)nn * sizeof(double));
        ew[0] = 0;
        for (int64_t i = 1; i < nn; i++) ew[i] = e[i];
        for (int64_t i = 0; i < nn * nn; i++) vt[i] = 0;
        for (int64_t i = 0; i < nn; i++) vt[i * nn + i] = 1;
        if (!tql2(dw, ew, vt, NULL, wk->rb, DC_ROTS, nn, true)) return false;
        int64_t *idx = wk->idx;
        for (int64_t c = 0; c < nn; c++) idx[c] = c;
        sort_idx(dw, idx, wk->tmp, nn);
        for (int64_t c = 0; c < nn; c++) d[c] = dw[idx[c]];
        for (int64_t r = 0; r < nn; r++)
            for (int64_t c = 0; c < nn; c++) w[r * ldw + c] = vt[idx[c] * nn + r];
        return true;
    }
    int64_t m = nn / 2;
    double rho = e[m];
    d[m - 1] -= fabs(rho);
    d[m] -= fabs(rho);
    return dc_solve(d, e, w, ldw, m, wk) && dc_solve(d + m, e + m, w + m * ldw + m, ldw, nn - m, wk) &&
           dc_merge(w, ldw, d, rho, nn, m, wk);
}

/* sym_eig's tridiagonalization and eigenvectors by divide and conquer
 * (vectors, n >= DC_MIN): 1 with d the eigenvalues and vt's rows the
 * eigenvectors, 0 for tred2 and tql2 instead (smaller n, or no memory
 * for the work), 2 where D&C did not converge (a root of the secular
 * equation, or QL on a piece): then z holds tred2's transformation, vt
 * its transpose and d, e the tridiagonal again, for tql2. z as
 * sym_eig's, rb (n * n) scratch. */
static int sym_eig_dc(double *z, double *d, double *e, double *vt, double *rb, int64_t n, bool vectors) {
    if (!vectors || n < DC_MIN) return 0;
    int64_t cap;
    double *buf = scratch(DC_WORK(n) + 5 * n, &cap);
    if (!buf) return 0;
    double *h = buf + DC_WORK(n), *es = h + n;
    dc_work wk;
    dc_work_init(&wk, buf, n);
    if (n < TRD_MIN || !tred2_blocked(z, d, e, h, n)) tred2_fused(z, d, e, h, es + n, n);
    memset(rb, 0, (size_t)(n * n) * sizeof(double));
    /* T scaled by a power of 2 to a largest entry in [0.5, 1) (as dstedc
     * scales it to norm 1): deflation's tolerance mixes D's scale with
     * z's, which is 1, and deflated all of a T of entries near 1e-20 */
    double big = 0;
    int shift = 0;
    for (int64_t i = 0; i < n; i++) big = fmax(big, fmax(fabs(d[i]), fabs(e[i])));
    if (big > 0) frexp(big, &shift);
    for (int64_t i = 0; i < n; i++) {
        d[i] = ldexp(d[i], -shift);
        es[i] = ldexp(e[i], -shift);
    }
    int r = 1;
    if (dc_solve(d, es, rb, n, n, &wk)) {
        for (int64_t i = 0; i < n; i++) d[i] = ldexp(d[i], shift);
        tred2_apply_q(z, h, rb, wk.qg, n);   /* qg and g: 2 n^2 >= 3 n TRED_NB + 2 TRED_NB^2 from DC_MIN on */
        transpose_sq(vt, rb, n);
    } else {
        memcpy(d, h, (size_t)n * sizeof(double));
        tred2_q_blocked(z, d, wk.qg, n);
        transpose_sq(vt, z, n);
        r = 2;
    }
    nl_free(buf, cap);
    return r;
}

/* the eigenvalues of the symmetric z (n, n; lower triangle read), ascending
 * into d, and (vectors) the unit eigenvectors as the rows of vt, each with
 * its largest-magnitude entry (the first of equal ones) positive. z, e
 * and w (n each) are scratch, and rb (n * n) with vectors. */
static bool sym_eig(double *z, double *d, double *e, double *w, double *vt, double *rb, int64_t n, bool vectors) {
    int dc = sym_eig_dc(z, d, e, vt, rb, n, vectors);
    if (dc == 0) {
        /* vt (n * n), free until the transpose: tred2_q_blocked's scratch */
        if (vectors || n < 4)
            tred2(z, d, e, w, vectors && n >= TRED_BLOCKED_MIN ? vt : NULL, NULL, n, vectors);
        else if (n < TRD_MIN || !tred2_blocked(z, d, e, w, n))
            tred2_fused(z, d, e, w, vt, n);   /* vt: free scratch without vectors, n^2 >= 3 n */
        if (vectors) transpose_sq(vt, z, n);
    }
    /* rotations batched, 64 n of them (or what rb holds); below n = 64, vt
     * is in cache, without a strip */
    double *strip = n >= 64 ? rb : NULL, *rots = strip ? rb + ROT_COLS * n : rb;
    int64_t room = (n * n - (strip ? ROT_COLS * n : 0)) / 3, rcap = room < 64 * n ? room : 64 * n;
    if (dc != 1 && !tql2(d, e, vt, strip, rots, rcap > 0 ? rcap : 1, n, vectors)) return false;
    /* ascending: selection sort (n swaps of rows at most) */
    for (int64_t i = 0; i < n; i++) {
        int64_t k = i;
        for (int64_t j = i + 1; j < n; j++)
            if (d[j] < d[k]) k = j;
        if (k != i) {
            double t = d[i];
            d[i] = d[k];
            d[k] = t;
            if (vectors)
                for (int64_t j = 0; j < n; j++) {
                    t = vt[i * n + j];
                    vt[i * n + j] = vt[k * n + j];
                    vt[k * n + j] = t;
                }
        }
    }
    if (vectors)
        for (int64_t i = 0; i < n; i++) {
            double *v = vt + i * n, big = 0;
            int64_t at = 0;
            for (int64_t j = 0; j < n; j++)
                if (fabs(v[j]) > big) { big = fabs(v[j]); at = j; }
            if (v[at] < 0)
                for (int64_t j = 0; j < n; j++) v[j] = -v[j];
        }
    return true;
}

nl_tensor *nl_linalg_eigh(nl_tensor *a, int upper, nl_tensor **vectors) {
    const char *op = "eigh";
    mat_shape s;
    if (!decomp_shape(op, a, true, &s)) return NULL;
    int64_t n = s.n;
    nl_tensor *vals = batch_alloc(op, a, 1, n, 0);
    if (!vals) return NULL;
    nl_tensor *vecs = NULL;
    if (vectors) {
        vecs = batch_alloc(op, a, 2, n, n);
        if (!vecs) { nl_release(vals); return NULL; }
    }
    nl_tensor *c = nl_contiguous_raw(a);
    if (!c) { nl_release(vals); if (vecs) nl_release(vecs); return NULL; }
    int failed = 0;   /* 1: out of memory, 2: not finite, 3: did not converge */
    int nt = threads_for(&s, n * n * (n + 1));
    NL_PARALLEL_FOR_DYNAMIC(nt, b, s.batch,
        int64_t cap;
        double *buf = scratch(3 * n * n + 3 * n, &cap);
        if (!buf) { failed = 1; continue; }
        double *x = buf, *z = x + n * n, *vt = z + n * n, *d = vt + n * n, *e = d + n, *w = e + n;
        load_mat(x, c, b, n * n);
        /* the triangle named, as the lower one */
        bool finite = true;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j <= i; j++) {
                double v = upper ? x[j * n + i] : x[i * n + j];
                z[i * n + j] = z[j * n + i] = v;
                if (!isfinite(v)) finite = false;
            }
        /* a matrix far from 1 in scale (entries near 1e-300 or 1e300, whose
         * squares under- or overflow in tred2 and QL) is scaled by a power
         * of 2 to a largest entry in [0.5, 1), its eigenvalues back: QL did
         * not converge on ones(11, 11) * 1e-300, and V was not orthonormal */
        int shift = 0;
        if (finite) {
            double big = 0;
            for (int64_t i = 0; i < n * n; i++) big = fmax(big, fabs(z[i]));
            if (big > 0 && (big < EIGH_SCALE_MIN || big > 1 / EIGH_SCALE_MIN)) {
                frexp(big, &shift);
                for (int64_t i = 0; i < n * n; i++) z[i] = ldexp(z[i], -shift);
            }
        }
        if (!finite) failed = 2;
        else if (!sym_eig(z, d, e, w, vt, x, n, vectors != NULL)) failed = 3;   /* x: free now */
        else {
            for (int64_t i = 0; shift && i < n; i++) d[i] = ldexp(d[i], shift);
            store_mat(vals, b, d, n);
            if (vecs) {
                transpose_sq(z, vt, n);
                store_mat(vecs, b, z, n * n);
            }
        }
        nl_free(buf, cap);
    );
    nl_release(c);
    if (failed) {
        nl_release(vals);
        if (vecs) nl_release(vecs);
        NL_CHECK(failed != 1, "%s: out of memory for matrices of shape %s", op, nl_shape_str(a));
        NL_CHECK(failed != 2, "%s: the algorithm did not converge: the input of shape %s holds NaN or inf", op,
                 nl_shape_str(a));
        NL_CHECK(0, "%s: the algorithm did not converge (more than %d QL steps per eigenvalue) for shape %s", op,
                 QL_MAX_ITER, nl_shape_str(a));
    }
    if (vectors) *vectors = vecs;
    return vals;
}

/* ---- the SVD ----
 * Of a tall a (m, n), m >= n: the eigenvectors V0 of a^T a (scaled to a
 * largest entry of 1) turn a's columns nearly orthogonal, B = a V0, and
 * one-sided Jacobi (Hestenes) rotations finish the job on B's columns
 * (kept as the rows of bt) and V's (the rows of vt) in a few sweeps: the
 * singular values are the norms of B's columns, as accurate as Jacobi's
 * (the preconditioning only saves sweeps). A column whose squared norm is
 * at JACOBI_FLOOR (the round-off left of a rank-deficient matrix, scaled
 * to a largest entry of 1) is not rotated: its products underflow and
 * the sweeps never met the test; its U column comes from the completion. */
#define JACOBI_NB 16
DECOMP_KERNEL static bool jacobi_sweeps(double *bt /* (n, m) */, double *vt /* (n, n) */, double *nrm /* (n) */, int64_t m,
                          int64_t n) {
    double tol = DBL_EPSILON * (double)(m > 4 ? m : 4);
    for (int sweep = 0; sweep < JACOBI_MAX_SWEEPS; sweep++) {
        bool rotated = false;
        /* the squared column norms, exact at each sweep's start and
         * updated by each rotation (a' = a - t g, b' = b + t g) */
        for (int64_t p = 0; p < n; p++) {
            const double *x = bt + p * m;
            nrm[p] = dot8(x, x, m);
        }
        /* the pairs by blocks of JACOBI_NB rows (all of a pair of blocks
         * while they are in cache; row by row, each sweep streamed bt and
         * vt n times) */
        for (int64_t p0 = 0; p0 < n; p0 += JACOBI_NB)
        for (int64_t q0 = p0; q0 < n; q0 += JACOBI_NB)
        for (int64_t p = p0; p < p0 + JACOBI_NB && p < n; p++) {
            for (int64_t q = q0 > p + 1 ? q0 : p + 1; q < q0 + JACOBI_NB && q < n; q++) {
                double *x = bt + p * m, *y = bt + q * m;
                double al = nrm[p], be = nrm[q], ga = dot8(x, y, m);
                /* a column at the floor (its entries' products underflow:
                 * the scaled matrix's largest entry is 1) counts as zero */
                if (al <= JACOBI_FLOOR || be <= JACOBI_FLOOR || fabs(ga) <= tol * sqrt(al * be)) continue;
                double zeta = (be - al) / (2 * ga);
                double t = (zeta >= 0 ? 1 : -1) / (fabs(zeta) + hypot(1, zeta));
                if (t == 0) continue;              /* the pair is as orthogonal as it gets */
                rotated = true;
                double cs = 1 / sqrt(1 + t * t), sn = cs * t;
                nrm[p] = al - t * ga;
                nrm[q] = be + t * ga;
                for (int64_t i = 0; i < m; i++) {
                    double u = x[i], v = y[i];
                    x[i] = cs * u - sn * v;
                    y[i] = sn * u + cs * v;
                }
                double *vx = vt + p * n, *vy = vt + q * n;
                for (int64_t i = 0; i < n; i++) {
                    double u = vx[i], v = vy[i];
                    vx[i] = cs * u - sn * v;
                    vy[i] = sn * u + cs * v;
                }
            }
        }
        if (!rotated) return true;
    }
    return false;
}

/* ut (cnt.., m): rows cnt..want-1 filled with unit vectors orthogonal to
 * the rows before them (each from the basis vector farthest from their
 * span, orthogonalized twice) */
DECOMP_KERNEL static void complete_rows(double *ut /* (want, m) */, int64_t cnt, int64_t want, int64_t m) {
    for (; cnt < want; cnt++) {
        int64_t best = 0;
        double far = -1;
        for (int64_t j = 0; j < m; j++) {
            double in = 0;
            for (int64_t c = 0; c < cnt; c++) in += ut[c * m + j] * ut[c * m + j];
            if (1 - in > far) { far = 1 - in; best = j; }
        }
        double *r = ut + cnt * m;
        memset(r, 0, (size_t)m * sizeof(double));
        r[best] = 1;
        for (int pass = 0; pass < 2; pass++)
            for (int64_t c = 0; c < cnt; c++) {
                const double *u = ut + c * m;
                double dot = 0;
                for (int64_t i = 0; i < m; i++) dot += u[i] * r[i];
                for (int64_t i = 0; i < m; i++) r[i] -= dot * u[i];
            }
        double nr = 0;
        for (int64_t i = 0; i < m; i++) nr += r[i] * r[i];
        nr = sqrt(nr);
        for (int64_t i = 0; i < m; i++) r[i] /= nr;
    }
}

/* the SVD of the tall a (m, n), m >= n, a overwritten: sv (n) descending;
 * with vectors, the rows of ut (uc, m) are U's columns (uc = n, or m for
 * the full U) and the rows of vt (n, n) V's columns. w: scratch of
 * n * n + n * m + 3 * n. false when Jacobi did not converge. */
static bool svd_tall(double *a /* (m, n) */, double *sv, double *ut, double *vt, double *w, int64_t m, int64_t n,
                     int64_t uc, bool vectors) {
    double scale = 0;
    for (int64_t i = 0; i < m * n; i++) scale = fmax(scale, fabs(a[i]));
    if (scale == 0) scale = 1;
    for (int64_t i = 0; i < m * n; i++) a[i] /= scale;
    double *g = w, *bt = g + n * n, *d = bt + n * m, *e = d + n, *wk = e + n;
    /* g = a^T a, its eigenvectors as vt's rows, largest first (BLIS on
     * this thread: the batch is the parallel loop) */
    nl_conv_gemm(NL_FLOAT64, n, n, m, a, 1, n, a, n, 1, 0, g, n, 1, 1);
    if (!sym_eig(g, d, e, wk, vt, bt, n, true)) return false;   /* bt (n * m >= n * n): free until the product */
    for (int64_t i = 0; i < n / 2; i++)
        for (int64_t j = 0; j < n; j++) {
            double t = vt[i * n + j];
            vt[i * n + j] = vt[(n - 1 - i) * n + j];
            vt[(n - 1 - i) * n + j] = t;
        }
    /* bt = (a V0)^T = V0^T a^T */
    nl_conv_gemm(NL_FLOAT64, n, m, n, vt, n, 1, a, 1, n, 0, bt, m, 1, 1);
    if (!jacobi_sweeps(bt, vt, wk, m, n)) return false;
    for (int64_t i = 0; i < n; i++) {
        double nr = 0;
        for (int64_t r = 0; r < m; r++) nr += bt[i * m + r] * bt[i * m + r];
        d[i] = sqrt(nr);
    }
    /* descending (selection sort, swapping the rows of bt and vt alike) */
    for (int64_t i = 0; i < n; i++) {
        int64_t k = i;
        for (int64_t j = i + 1; j < n; j++)
            if (d[j] > d[k]) k = j;
        double dk = d[k];
        d[k] = d[i];
        d[i] = dk;
        sv[i] = dk * scale;
        if (k == i) continue;
        for (int64_t j = 0; j < m; j++) {
            double t = bt[i * m + j];
            bt[i * m + j] = bt[k * m + j];
            bt[k * m + j] = t;
        }
        for (int64_t j = 0; j < n; j++) {
            double t = vt[i * n + j];
            vt[i * n + j] = vt[k * n + j];
            vt[k * n + j] = t;
        }
    }
    if (!vectors) return true;
    /* U's columns: B's, normalized; those of zero singular values, and the
     * full U's last m - n, completed to an orthonormal basis */
    int64_t nz = 0;
    for (int64_t i = 0; i < n; i++) {
        if (d[i] * d[i] <= JACOBI_FLOOR) break;   /* Jacobi left it alone: no direction */
        double inv = 1 / d[i];
        for (int64_t r = 0; r < m; r++) ut[i * m + r] = bt[i * m + r] * inv;
        nz++;
    }
    complete_rows(ut, nz, uc, m);
    return true;
}

/* ---- the singular values alone ----
 * As LAPACK's gesdd with jobz 'N': a tall matrix (m >= 1.6 n) is first
 * reduced to its R (blocked QR above), then Householder
 * bidiagonalization (dgebd2) makes the upper bidiagonal d, e, whose
 * singular values bidiag_values_dqds finds (dlasq1's dqds), or where it
 * gives up bidiag_values, by dbdsqr's implicit QR (zero shifts where a
 * shift would spoil the small values: Demmel and Kahan's high relative
 * accuracy); both keep the small values' relative accuracy, dqds at a
 * third of the cost. No Jacobi and no a^T a: Householder's
 * reduction costs 8/3 n^3 for a square matrix, where svd_tall's
 * eigenvectors of a^T a cost about 3 times that. */
#define BD_MAXITR 6
/* m >= SV_QR_RATIO n / 8: R first */
#define SV_QR_RATIO 13
#define SV_SCRATCH(m, n) ((n) * (n) + 2 * (m) + 4 * (n) + (2 * (m) + (n)) * QR_NB + QR_NB * QR_NB)

/* the 2-norm of x (n), scaled when its squares under- or overflow */
static double norm_safe(const double *x, int64_t n) {
    double ss = dot8(x, x, n);
    if (ss > 0x1p-900 && ss < 0x1p900) return sqrt(ss);
    double big = 0;
    for (int64_t i = 0; i < n; i++) big = fmax(big, fabs(x[i]));
    if (big == 0) return 0;
    double acc = 0;
    for (int64_t i = 0; i < n; i++) {
        double t = x[i] / big;
        acc += t * t;
    }
    return big * sqrt(acc);
}

/* x (n) = (alpha, rest): a reflector H = I - tau v v^T with v = (1,
 * x[1:] overwritten) and H x = beta e_1 (as dlarfg; tau = 0 and beta =
 * alpha when rest is 0); returns tau, beta in *beta */
static double make_reflector(double *x, int64_t n, double *beta) {
    double alpha = x[0], xn = n > 1 ? norm_safe(x + 1, n - 1) : 0;
    x[0] = 1;
    if (xn == 0) { *beta = alpha; return 0; }
    double b = alpha >= 0 ? -hypot(alpha, xn) : hypot(alpha, xn), den = alpha - b;
    for (int64_t i = 1; i < n; i++) x[i] /= den;   /* |x[i]| <= xn <= |den|: no overflow */
    *beta = b;
    return (b - alpha) / b;
}

/* r (n) -= a w; returns the new r . u */
static inline double axpy_dot(double *r, const double *w, double a, const double *u, int64_t n) {
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int q = 0; q < 8; q++) {
            double t = r[j + q] - a * w[j + q];
            r[j + q] = t;
            p[q] += t * u[j + q];
        }
    double acc = ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
    for (; j < n; j++) {
        r[j] -= a * w[j];
        acc += r[j] * u[j];
    }
    return acc;
}

/* Householder bidiagonalization of a (m, n; row-major), m >= n, to the
 * upper bidiagonal d (n), e (n - 1); a overwritten (its reflectors are
 * not kept). Each step's two reflections take two passes over the
 * trailing rows, not dgebd2's four: the first applies the left reflector
 * (v^T A, in w, from the pass before) and forms A u for the right one; the
 * second applies the right one and forms the next v^T A. v, x (m) and u,
 * w (n): scratch. */
DECOMP_KERNEL static void bidiagonalize(double *a /* (m, n) */, double *d, double *e, double *v, double *x,
                                        double *u, double *w, int64_t m, int64_t n) {
    if (n == 0) return;
    for (int64_t i = 0; i < m; i++) v[i] = a[i * n];
    double taul = make_reflector(v, m, &d[0]);
    for (int64_t j = 1; j < n; j++) w[j] = 0;
    for (int64_t i = 0; i < m; i++) {
        const double *r = a + i * n;
        double vi = v[i];
        for (int64_t j = 1; j < n; j++) w[j] += vi * r[j];
    }
    for (int64_t k = 0; k + 1 < n; k++) {
        int64_t nr = n - k - 1, c1 = k + 1;
        double *rk = a + k * n + c1;
        for (int64_t j = 0; j < nr; j++) u[j] = rk[j] - taul * w[c1 + j];
        double taur = make_reflector(u, nr, &e[k]);
        /* pass 1: rows below k, the left reflector in, x = A u */
        for (int64_t i = c1; i < m; i++) x[i] = axpy_dot(a + i * n + c1, w + c1, taul * v[i], u, nr);
        /* column k + 1 after the right reflector: the next left reflector */
        for (int64_t i = c1; i < m; i++) v[i] = a[i * n + c1] - taur * x[i];
        taul = make_reflector(v + c1, m - c1, &d[c1]);
        /* pass 2: the right reflector in, w = v^T A for columns k + 2.. */
        for (int64_t j = c1 + 1; j < n; j++) w[j] = 0;
        const double *uu = u + 1;
        double *ww = w + c1 + 1;
        int64_t i = c1;
        for (; i + 2 <= m; i += 2) {   /* two rows a time: u and w loaded and w stored once for them */
            double *r0 = a + i * n + c1 + 1, *r1 = r0 + n, tx0 = taur * x[i], tx1 = taur * x[i + 1];
            double v0 = v[i], v1 = v[i + 1];
            for (int64_t j = 0; j + 1 < nr; j++) {
                double t0 = r0[j] - tx0 * uu[j], t1 = r1[j] - tx1 * uu[j];
                r0[j] = t0;
                r1[j] = t1;
                ww[j] += v0 * t0 + v1 * t1;
            }
        }
        for (; i < m; i++) {
            double *r = a + i * n + c1 + 1, tx = taur * x[i], vi = v[i];
            for (int64_t j = 0; j + 1 < nr; j++) {
                double t = r[j] - tx * uu[j];
                r[j] = t;
                ww[j] += vi * t;
            }
        }
    }
}

/* the singular values of [f g; 0 h] (LAPACK's dlas2) */
static void las2(double f, double g, double h, double *ssmin, double *ssmax) {
    double fa = fabs(f), ga = fabs(g), ha = fabs(h);
    double fhmn = fmin(fa, ha), fhmx = fmax(fa, ha);
    if (fhmn == 0) {
        *ssmin = 0;
        if (fhmx == 0) *ssmax = ga;
        else {
            double mx = fmax(fhmx, ga), mn = fmin(fhmx, ga);
            *ssmax = mx * sqrt(1 + (mn / mx) * (mn / mx));
        }
    } else if (ga < fhmx) {
        double as = 1 + fhmn / fhmx, at = (fhmx - fhmn) / fhmx, au = (ga / fhmx) * (ga / fhmx);
        double c = 2 / (sqrt(as * as + au) + sqrt(at * at + au));
        *ssmin = fhmn * c;
        *ssmax = fhmx / c;
    } else {
        double au = fhmx / ga;
        if (au == 0) {
            *ssmin = (fhmn * fhmx) / ga;
            *ssmax = ga;
        } else {
            double as = 1 + fhmn / fhmx, at = (fhmx - fhmn) / fhmx;
            double c = 1 / (sqrt(1 + (as * au) * (as * au)) + sqrt(1 + (at * au) * (at * au)));
            *ssmin = 2 * ((fhmn * c) * au);
            *ssmax = ga / (c + c);
        }
    }
}

/* a plane rotation [c s; -s c] (f, g) = (r, 0) (LAPACK 3.10's dlartg) */
static inline void lartg(double f, double g, double *c, double *s, double *r) {
    const double rtmin = 0x1p-511, rtmax = 0x1p511;
    if (g == 0) { *c = 1; *s = 0; *r = f; return; }
    if (f == 0) { *c = 0; *s = g > 0 ? 1 : -1; *r = fabs(g); return; }
    double f1 = fabs(f), g1 = fabs(g);
    if (f1 > rtmin && f1 < rtmax && g1 > rtmin && g1 < rtmax) {
        double dd = sqrt(f * f + g * g), inv = 1 / dd;   /* one division, not two */
        *c = f1 * inv;
        *r = copysign(dd, f);
        *s = copysign(inv, f) * g;
    } else {
        double sc = fmin(DBL_MAX, fmax(DBL_MIN, fmax(f1, g1))), fs = f / sc, gs = g / sc;
        double dd = sqrt(fs * fs + gs * gs);
        *c = fabs(fs) / dd;
        double rr = copysign(dd, f);
        *s = gs / rr;
        *r = rr * sc;
    }
}

/* the singular values of the upper bidiagonal d (n), e (n - 1), into d
 * descending (e destroyed): LAPACK's dbdsqr without vectors, 0-based.
 * Each unreduced block [ll, m] is chased from its larger end; the shift
 * is 0 (Demmel and Kahan's zero-shift QR, which keeps every value's
 * relative accuracy) unless it is large against the smallest value's
 * estimate; e_i is dropped by the relative test |e_i| <= tol mu_i. false
 * when the sweeps pass 6 n^2 steps. */
static bool bidiag_values(double *d, double *e, int64_t n) {
    if (n == 0) return true;
    const double eps = DBL_EPSILON / 2, tol = fmax(10, fmin(100, pow(eps, -0.125))) * eps;
    /* thresh: the absolute floor, tol times an estimate of the smallest value */
    double sminoa = fabs(d[0]), mu = sminoa;
    for (int64_t i = 1; i < n && sminoa != 0; i++) {
        mu = fabs(d[i]) * (mu / (mu + fabs(e[i - 1])));
        sminoa = fmin(sminoa, mu);
    }
    sminoa /= sqrt((double)n);
    double thresh = fmax(tol * sminoa, BD_MAXITR * ((double)n * ((double)n * DBL_MIN)));
    int64_t maxit = BD_MAXITR * n * n, iter = 0, oldll = -1, oldm = -1, m = n - 1;
    int idir = 0;
    while (m > 0) {
        if (iter > maxit) return false;
        /* the unreduced block [ll, m]: e[ll - 1] negligible (or ll = 0) */
        double smax = fabs(d[m]);
        int64_t ll = m - 1;
        for (; ll >= 0; ll--) {
            double abss = fabs(d[ll]), abse = fabs(e[ll]);
            if (abse <= thresh) break;
            smax = fmax(smax, fmax(abss, abse));
        }
        if (ll >= 0) {
            e[ll] = 0;
            if (ll == m - 1) { m--; continue; }
        }
        ll++;
        if (ll == m - 1) {   /* a 2 x 2 block */
            double smn, smx;
            las2(d[m - 1], e[m - 1], d[m], &smn, &smx);
            d[m - 1] = smx;
            e[m - 1] = 0;
            d[m] = smn;
            m -= 2;
            continue;
        }
        /* a new block: chase from its larger end */
        if (ll > oldm || m < oldll) idir = fabs(d[ll]) >= fabs(d[m]) ? 1 : 2;
        /* the convergence tests, and sminl, an estimate of the smallest value */
        double sminl;
        bool split = false;
        if (idir == 1) {
            if (fabs(e[m - 1]) <= tol * fabs(d[m])) { e[m - 1] = 0; continue; }
            double mu2 = fabs(d[ll]);
            sminl = mu2;
            for (int64_t l = ll; l < m; l++) {
                if (fabs(e[l]) <= tol * mu2) { e[l] = 0; split = true; break; }
                mu2 = fabs(d[l + 1]) * (mu2 / (mu2 + fabs(e[l])));
                sminl = fmin(sminl, mu2);
            }
        } else {
            if (fabs(e[ll]) <= tol * fabs(d[ll])) { e[ll] = 0; continue; }
            double mu2 = fabs(d[m]);
            sminl = mu2;
            for (int64_t l = m - 1; l >= ll; l--) {
                if (fabs(e[l]) <= tol * mu2) { e[l] = 0; split = true; break; }
                mu2 = fabs(d[l]) * (mu2 / (mu2 + fabs(e[l])));
                sminl = fmin(sminl, mu2);
            }
        }
        if (split) continue;
        oldll = ll;
        oldm = m;
        /* the shift: 0 when it would be lost against the smallest value */
        double shift = 0, r;
        if (!((double)n * tol * (sminl / smax) <= fmax(eps, 0.01 * tol))) {
            double sll;
            if (idir == 1) { sll = fabs(d[ll]); las2(d[m - 1], e[m - 1], d[m], &shift, &r); }
            else { sll = fabs(d[m]); las2(d[ll], e[ll], d[ll + 1], &shift, &r); }
            if (sll > 0 && (shift / sll) * (shift / sll) < eps) shift = 0;
        }
        iter += m - ll;
        double cs = 1, sn = 0, oldcs = 1, oldsn = 0, f, g, cosr, sinr, cosl, sinl;
        if (shift == 0 && idir == 1) {
            for (int64_t i = ll; i < m; i++) {
                lartg(d[i] * cs, e[i], &cs, &sn, &r);
                if (i > ll) e[i - 1] = oldsn * r;
                lartg(oldcs * r, d[i + 1] * sn, &oldcs, &oldsn, &d[i]);
            }
            double h = d[m] * cs;
            d[m] = h * oldcs;
            e[m - 1] = h * oldsn;
            if (fabs(e[m - 1]) <= thresh) e[m - 1] = 0;
        } else if (shift == 0) {
            for (int64_t i = m; i > ll; i--) {
                lartg(d[i] * cs, e[i - 1], &cs, &sn, &r);
                if (i < m) e[i] = oldsn * r;
                lartg(oldcs * r, d[i - 1] * sn, &oldcs, &oldsn, &d[i]);
            }
            double h = d[ll] * cs;
            d[ll] = h * oldcs;
            e[ll] = h * oldsn;
            if (fabs(e[ll]) <= thresh) e[ll] = 0;
        } else if (idir == 1) {
            f = (fabs(d[ll]) - shift) * (copysign(1, d[ll]) + shift / d[ll]);
            g = e[ll];
            for (int64_t i = ll; i < m; i++) {
                lartg(f, g, &cosr, &sinr, &r);
                if (i > ll) e[i - 1] = r;
                f = cosr * d[i] + sinr * e[i];
                e[i] = cosr * e[i] - sinr * d[i];
                g = sinr * d[i + 1];
                d[i + 1] = cosr * d[i + 1];
                lartg(f, g, &cosl, &sinl, &r);
                d[i] = r;
                f = cosl * e[i] + sinl * d[i + 1];
                d[i + 1] = cosl * d[i + 1] - sinl * e[i];
                if (i < m - 1) {
                    g = sinl * e[i + 1];
                    e[i + 1] = cosl * e[i + 1];
                }
            }
            e[m - 1] = f;
            if (fabs(e[m - 1]) <= thresh) e[m - 1] = 0;
        } else {
            f = (fabs(d[m]) - shift) * (copysign(1, d[m]) + shift / d[m]);
            g = e[m - 1];
            for (int64_t i = m; i > ll; i--) {
                lartg(f, g, &cosr, &sinr, &r);
                if (i < m) e[i] = r;
                f = cosr * d[i] + sinr * e[i - 1];
                e[i - 1] = cosr * e[i - 1] - sinr * d[i];
                g = sinr * d[i - 1];
                d[i - 1] = cosr * d[i - 1];
                lartg(f, g, &cosl, &sinl, &r);
                d[i] = r;
                f = cosl * e[i - 1] + sinl * d[i - 1];
                d[i - 1] = cosl * d[i - 1] - sinl * e[i - 1];
                if (i > ll + 1) {
                    g = sinl * e[i - 2];
                    e[i - 2] = cosl * e[i - 2];
                }
            }
            e[ll] = f;
            if (fabs(e[ll]) <= thresh) e[ll] = 0;
        }
    }
    /* positive, descending (insertion sort: nearly sorted already) */
    for (int64_t i = 0; i < n; i++) d[i] = fabs(d[i]);
    for (int64_t i = 1; i < n; i++) {
        double t = d[i];
        int64_t j = i;
        for (; j > 0 && d[j - 1] < t; j--) d[j] = d[j - 1];
        d[j] = t;
    }
    return true;
}

/* ---- the bidiagonal's values by dqds ----
 * The squares of the singular values as the eigenvalues of the qd array
 * q_i = d_i^2, e_i = e_i^2 (Fernando and Parlett's dqds, the algorithm of
 * LAPACK's dlasq1, simplified): each transform with a shift tau below the
 * smallest eigenvalue keeps every d positive, and so every eigenvalue's
 * relative accuracy, at one division a step where the bidiagonal QR takes
 * two square roots and two divisions. The shift is the trailing 2 x 2's
 * smaller eigenvalue, capped by the last transform's smallest d (a bound
 * above the smallest eigenvalue); a transform that meets a negative d is
 * redone with half the shift, then none. Blocks split at zeros of e; the
 * bottom value deflates when its e is below tol^2 of it (dlasq3's test).
 * false (the bidiagonal QR then takes over) past DQDS_MAXIT transforms a
 * value, or for a bidiagonal whose entries span more than 2^700, whose
 * squares would leave the float64 range. */
#define DQDS_MAXIT 30

/* the eigenvalues of the positive qd array q (n), e (n - 1) into q
 * (unsorted); qn, en, sg (n each): scratch */
static bool dqds(double *q, double *e, double *qn, double *en, double *sg, int64_t n) {
    const double eps = DBL_EPSILON / 2, tol2 = (100 * eps) * (100 * eps);
    int64_t n0 = n - 1, left = DQDS_MAXIT * n + 16, last_i0 = -1;
    double last_dmin = 0;
    for (int64_t i = 0; i < n; i++) sg[i] = 0;
    while (n0 >= 0) {
        int64_t i0 = n0;
        while (i0 > 0 && e[i0 - 1] > 0) i0--;
        double sigma = sg[n0];
        if (i0 == n0) { q[n0] += sigma; n0--; continue; }
        if (e[n0 - 1] <= tol2 * (sigma + q[n0])) {   /* the bottom value is done */
            q[n0] += sigma;
            e[n0 - 1] = 0;
            n0--;
            continue;
        }
        if (n0 - i0 == 1 || e[n0 - 2] <= tol2 * sigma) {
            /* the bottom 2 x 2 alone: trace q1 + e1 + q2, determinant q1 q2 */
            int64_t j = n0 - 1;
            double q1 = q[j], e1 = e[j], q2 = q[n0], t = q1 + e1 - q2;
            double big = 0.5 * ((q1 + e1 + q2) + sqrt(t * t + 4 * e1 * q2));
            q[j] = big + sigma;
            q[n0] = (big > 0 ? q1 / big * q2 : 0) + sigma;
            e[j] = 0;
            if (j > 0) e[j - 1] = 0;
            n0 -= 2;
            continue;
        }
        if (left-- == 0) return false;
        /* the shift: the trailing 2 x 2's smaller eigenvalue, at most the last dmin */
        double tau = 0;
        if (i0 == last_i0) {
            double a = q[n0 - 1] + e[n0 - 1], c = q[n0], t = a - c;
            double big = 0.5 * ((a + c) + sqrt(t * t + 4 * e[n0 - 1] * c));
            tau = fmin(big > 0 ? q[n0 - 1] / big * c : 0, last_dmin) * (1 - 0x1p-20);
        }
        for (int tries = 0;; tries++) {
            double d = q[i0] - tau, dmin = d, dmin1 = d;   /* dmin1: but the last */
            bool bad = !(d >= 0);
            for (int64_t k = i0; k < n0; k++) {
                double s = d + e[k], t = q[k + 1] / s;
                qn[k] = s;
                en[k] = e[k] * t;
                dmin1 = dmin;
                d = d * t - tau;
                dmin = d < dmin ? d : dmin;
                bad |= !(d >= 0);
            }
            qn[n0] = d;
            if (!bad && isfinite(d)) {
                for (int64_t k = i0; k < n0; k++) {
                    q[k] = qn[k];
                    e[k] = en[k];
                    sg[k] = sigma + tau;
                }
                q[n0] = d;
                sg[n0] = sigma + tau;
                last_i0 = i0;
                last_dmin = dmin;
                break;
            }
            if (tau == 0) return false;   /* dqd (no shift) on a positive array: not reached */
            /* only the last d negative: tau + d is the smallest eigenvalue
             * but round-off (dlasq3's "late failure"); else a quarter */
            if (tries >= 2) tau = 0;
            else if (dmin1 > 0 && isfinite(d) && tau + d > 0) tau = (tau + d) * (1 - 2 * DBL_EPSILON);
            else tau *= 0.25;
        }
    }
    return true;
}

/* the singular values of the upper bidiagonal d (n), e (n - 1) by dqds,
 * into d descending; d and e unchanged when false. w: 5 n scratch */
static bool bidiag_values_dqds(double *d, const double *e, double *w, int64_t n) {
    double big = 0, small = DBL_MAX;
    for (int64_t i = 0; i < 2 * n - 1; i++) {
        double v = fabs(i < n ? d[i] : e[i - n]);
        big = v > big ? v : big;
        if (v > 0 && v < small) small = v;
    }
    if (big == 0) {
        for (int64_t i = 0; i < n; i++) d[i] = 0;
        return true;
    }
    if (small < big * 0x1p-700) return false;
    /* the largest to about 2^200: the squares of the squares (the 2 x 2s'
     * discriminants) in range, and the smallest's square above 2^-1000 */
    int ex;
    frexp(big, &ex);
    double f = ldexp(1, 200 - ex), *q = w, *qe = q + n, *qn = qe + n, *en = qn + n, *sg = en + n;
    for (int64_t i = 0; i < n; i++) q[i] = (d[i] * f) * (d[i] * f);
    for (int64_t i = 0; i + 1 < n; i++) qe[i] = (e[i] * f) * (e[i] * f);
    if (!dqds(q, qe, qn, en, sg, n)) return false;
    for (int64_t i = 0; i < n; i++) d[i] = sqrt(q[i]) / f;
    for (int64_t i = 1; i < n; i++) {   /* descending */
        double t = d[i];
        int64_t j = i;
        for (; j > 0 && d[j - 1] < t; j--) d[j] = d[j - 1];
        d[j] = t;
    }
    return true;
}

/* the singular values (descending, into sv) of the tall a (m, n), m >= n,
 * a overwritten. A matrix far from 1 in scale is scaled by a power of 2
 * to a largest entry in [0.5, 1) first, as eigh's. w: scratch of
 * SV_SCRATCH(m, n). false when the bidiagonal QR did not
 * converge. */
static bool svd_values_tall(double *a /* (m, n) */, double *sv, double *w, int64_t m, int64_t n) {
    double big = 0;
    for (int64_t i = 0; i < m * n; i++) big = fabs(a[i]) > big ? fabs(a[i]) : big;
    int shift = 0;
    if (big > 0 && (big < EIGH_SCALE_MIN || big > 1 / EIGH_SCALE_MIN)) {
        frexp(big, &shift);
        double f = ldexp(1, -shift);
        for (int64_t i = 0; i < m * n; i++) a[i] *= f;
    }
    double *r = w, *v = r + n * n, *x = v + m, *u = x + m, *wv = u + n, *e = wv + n, *tau = e + n;
    double *bd = a;
    int64_t bm = m;
    if (8 * m >= SV_QR_RATIO * n && n > 1) {
        /* R first: its bidiagonalization costs n^3, not m n^2 */
        double *p = tau + n, *vb = p + m * QR_NB, *tb = vb + m * QR_NB, *wb = tb + QR_NB * QR_NB;
        householder_qr_blocked(a, tau, x, p, vb, tb, wb, m, n);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) r[i * n + j] = j >= i ? a[i * n + j] : 0;
        bd = r;
        bm = n;
    }
    bidiagonalize(bd, sv, e, v, x, u, wv, bm, n);
    /* dqds (its 5 n of scratch in QR's, free now), or the bidiagonal QR where dqds gives up */
    if (!bidiag_values_dqds(sv, e, tau + n, n) && !bidiag_values(sv, e, n)) return false;
    for (int64_t i = 0; shift && i < n; i++) sv[i] = ldexp(sv[i], shift);
    return true;
}

/* V's column i (row i of vt) with its largest-magnitude entry positive, U's
 * column i (row i of ut) flipped with it */
static void fix_signs(double *ut, double *vt, int64_t k, int64_t um, int64_t vn) {
    for (int64_t i = 0; i < k; i++) {
        double *v = vt + i * vn, big = 0;
        int64_t at = 0;
        for (int64_t j = 0; j < vn; j++)
            if (fabs(v[j]) > big) { big = fabs(v[j]); at = j; }
        if (v[at] >= 0) continue;
        for (int64_t j = 0; j < vn; j++) v[j] = -v[j];
        for (int64_t j = 0; j < um; j++) ut[i * um + j] = -ut[i * um + j];
    }
}

nl_tensor *nl_linalg_svd(nl_tensor *a, int full, nl_tensor **u, nl_tensor **vh) {
    const char *op = "svd";
    mat_shape s;
    if (!decomp_shape(op, a, false, &s)) return NULL;
    NL_CHECK((u == NULL) == (vh == NULL), "%s: ask for both U and Vh or neither", op);
    int64_t m = s.m, n = s.n, k = m < n ? m : n;
    int64_t uc = full ? m : k, vr = full ? n : k;
    nl_tensor *sv = batch_alloc(op, a, 1, k, 0), *ut = NULL, *vht = NULL;
    if (!sv) return NULL;
    if (u) {
        ut = batch_alloc(op, a, 2, m, uc);
        vht = ut ? batch_alloc(op, a, 2, vr, n) : NULL;
        if (!vht) { nl_release(sv); if (ut) nl_release(ut); return NULL; }
    }
    nl_tensor *c = nl_contiguous_raw(a);
    if (!c) { nl_release(sv); if (ut) { nl_release(ut); nl_release(vht); } return NULL; }
    bool wide = m < n;
    /* the tall problem: tm >= tn (a^T when a is wide) */
    int64_t tm = wide ? n : m, tn = wide ? m : n, tuc = full ? tm : tn;
    int failed = 0;   /* 1: out of memory, 2: not finite, 3: did not converge */
    int nt = threads_for(&s, m * n * (k + 1));
    NL_PARALLEL_FOR_DYNAMIC(nt, b, s.batch,
        int64_t cap;
        /* U's and Vh's buffers only when asked for, of their own sizes: the
         * full m x m ones made svdvals of a 100000 x 5 matrix run out of memory */
        int64_t tu = u ? tuc * tm : 0, ou = u ? uc * m : 0, ov = u ? vr * n : 0;
        int64_t need = u ? 2 * m * n + tu + 2 * tn * tn + tn * tm + 4 * tn + 2 * ou + ov
                         : 2 * m * n + tn + SV_SCRATCH(tm, tn);
        double *buf = scratch(need, &cap);
        if (!buf) { failed = 1; continue; }
        double *x = buf, *ta = x + m * n, *tut = ta + m * n, *tvt = tut + tu, *w = tvt + tn * tn;
        double *svb = w + tn * tn + tn * tm + 3 * tn, *outu = svb + tn, *outv = outu + ou, *um = outv + ov;
        load_mat(x, c, b, m * n);
        if (!all_finite(x, m * n)) failed = 2;
        else {
            if (wide) {
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) ta[j * m + i] = x[i * n + j];
            } else memcpy(ta, x, (size_t)(m * n) * sizeof(double));
            if (!u) {
                /* the values alone: bidiagonalization and QR, not Jacobi */
                double *vals = ta + m * n;
                if (!svd_values_tall(ta, vals, vals + tn, tm, tn)) failed = 3;
                else store_mat(sv, b, vals, k);
            } else if (!svd_tall(ta, svb, tut, tvt, w, tm, tn, tuc, u != NULL)) failed = 3;
            else {
                store_mat(sv, b, svb, k);
                if (u) {
                    /* tall: U = tut^T (m, uc), Vh = tvt (n, n); wide: U = tvt^T (m, m), Vh = tut (vr, n) */
                    const double *uu = wide ? tvt : tut, *vv = wide ? tut : tvt;
                    int64_t urows = wide ? tn : tuc, vrows = wide ? tuc : tn;
                    /* rows of uu: U's columns (length m); rows of vv: V's columns (length n) */
                    memcpy(outv, vv, (size_t)(vrows * n) * sizeof(double));
                    memcpy(outu, uu, (size_t)(urows * m) * sizeof(double));
                    fix_signs(outu, outv, k, m, n);
                    for (int64_t i = 0; i < m; i++)
                        for (int64_t j = 0; j < uc; j++) um[i * uc + j] = outu[j * m + i];
                    store_mat(ut, b, um, m * uc);
                    store_mat(vht, b, outv, vr * n);
                }
            }
        }
        nl_free(buf, cap);
    );
    nl_release(c);
    if (failed) {
        nl_release(sv);
        if (ut) { nl_release(ut); nl_release(vht); }
        NL_CHECK(failed != 1, "%s: out of memory for matrices of shape %s", op, nl_shape_str(a));
        NL_CHECK(failed != 2, "%s: the algorithm did not converge: the input of shape %s holds NaN or inf", op,
                 nl_shape_str(a));
        if (u) NL_CHECK(0, "%s: the algorithm did not converge (more than %d Jacobi sweeps) for shape %s", op,
                        JACOBI_MAX_SWEEPS, nl_shape_str(a));
        NL_CHECK(0, "%s: the algorithm did not converge (more than %d n^2 bidiagonal QR steps) for shape %s", op,
                 BD_MAXITR, nl_shape_str(a));
    }
    if (u) { *u = ut; *vh = vht; }
    return sv;
}

/* ---- the inverse of upper-triangular matrices ----
 * Column by column, back substitution; a zero on the diagonal gives inf
 * and NaN, as a triangular solve does. */
nl_tensor *nl_linalg_triu_inverse(nl_tensor *r) {
    const char *op = "triu_inverse";
    mat_shape s;
    if (!decomp_shape(op, r, true, &s)) return NULL;
    int64_t n = s.n;
    nl_tensor *out = batch_alloc(op, r, 2, n, n);
    if (!out) return NULL;
    nl_tensor *c = nl_contiguous_raw(r);
    if (!c) { nl_release(out); return NULL; }
    bool oom = false;
    int nt = threads_for(&s, n * n * (n + 1) / 3);
    NL_PARALLEL_FOR_DYNAMIC(nt, b, s.batch,
        int64_t cap;
        double *buf = scratch(2 * n * n, &cap);
        if (!buf) { oom = true; continue; }
        double *x = buf, *y = x + n * n;
        load_mat(x, c, b, n * n);
        memset(y, 0, (size_t)(n * n) * sizeof(double));
        /* rows from the last: y[i, :] = (e_i - sum_{k>i} x[i,k] y[k, :]) / x[i,i] */
        for (int64_t i = n - 1; i >= 0; i--) {
            double *yi = y + i * n;
            yi[i] = 1;
            for (int64_t kk = i + 1; kk < n; kk++) {
                double v = x[i * n + kk];
                const double *yk = y + kk * n;
                for (int64_t j = kk; j < n; j++) yi[j] -= v * yk[j];
            }
            double inv = 1 / x[i * n + i];
            for (int64_t j = i; j < n; j++) yi[j] *= inv;
        }
        store_mat(out, b, y, n * n);
        nl_free(buf, cap);
    );
    nl_release(c);
    if (oom) {
        nl_release(out);
        NL_CHECK(0, "%s: out of memory for matrices of shape %s", op, nl_shape_str(r));
    }
    return out;
}
