/* ops_linalg.c — dense linear algebra of square matrices batched over the
 * leading dims (..., n, n), float32 and float64: LU with partial pivoting,
 * triangular solves and Cholesky, and on them the inverse, solve, det and
 * slogdet, each with its gradient (PyTorch 1.13's formulas). No LAPACK:
 * recursive (LU, triangular solves) and blocked (Cholesky) kernels whose
 * updates are BLIS GEMMs, beside the plain loops they end in for small
 * blocks. lu's P, L and U, matrix_power, cholesky_solve and the broadcasting
 * of batch dims are composed in the Lua layer (lua/nnlua/linalg.lua); QR,
 * eigh and SVD are not here. Pivots given to users are 1-based (LAPACK's
 * and PyTorch's); inside this file they are 0-based. */
#include "internal.h"

#include <blis.h>
#include <math.h>
#include <string.h>

#define DT(t) nl_dtype_name((t)->dtype)
/* the block of the blocked Cholesky (rows of a panel) */
#define LA_NB 64
/* rows (columns) the recursive kernels solve (factor) directly */
#define LA_LEAF 16
/* m * n * k below which a product runs as plain loops */
#define LA_SMALL_GEMM (1 << 15)
/* flops of a batch before another thread joins */
#define LA_GRAIN (1 << 18)

/* ---- kernels on one matrix, row-major ----
 * gemm: c (m, n) = alpha a (m, k) @ b (k, n) + beta c, each with row and
 * column strides (beta 0: c is not read). */
#define DEFINE_GEMM(T, S, BLIS_GEMM)                                                              \
    static void gemm_##S(int64_t m, int64_t n, int64_t k, T alpha, const T *a, int64_t rsa, int64_t csa, \
                         const T *b, int64_t rsb, int64_t csb, T beta, T *c, int64_t rsc, int64_t csc, int nt) { \
        if (m <= 0 || n <= 0) return;                                                             \
        if (m * n * k < LA_SMALL_GEMM) {                                                          \
            for (int64_t i = 0; i < m; i++) {                                                     \
                T *ci = c + i * rsc;                                                              \
                for (int64_t j = 0; j < n; j++) ci[j * csc] = beta == 0 ? (T)0 : beta * ci[j * csc]; \
                for (int64_t p = 0; p < k; p++) {                                                 \
                    T v = alpha * a[i * rsa + p * csa];                                           \
                    const T *bp = b + p * rsb;                                                    \
                    for (int64_t j = 0; j < n; j++) ci[j * csc] += v * bp[j * csb];               \
                }                                                                                 \
            }                                                                                     \
            return;                                                                               \
        }                                                                                         \
        rntm_t rntm = BLIS_RNTM_INITIALIZER;                                                      \
        bli_rntm_set_num_threads(nl_team(nt), &rntm);                                             \
        BLIS_GEMM(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &alpha, (T *)a, rsa, csa, (T *)b, rsb, csb, \
                  &beta, c, rsc, csc, NULL, &rntm);                                               \
    }

/* trsm: b (n, k) = t^-1 b in place (rows ldb apart), t (n, n) read as
 * t[i * rs + j * cs] (a transposed matrix by its strides), lower or upper,
 * its diagonal read or taken as ones (unit). Recursive: the first half of
 * the rows solved (upper: the second), the other half updated by one GEMM
 * and solved, down to LA_LEAF rows solved by substitution; nearly all the
 * work is in GEMMs of inner size n / 2, n / 4, ... No check: a zero on the
 * diagonal gives inf or NaN, as LAPACK's trsm. */
#define DEFINE_TRSM(T, S)                                                                         \
    static void trsm_##S(const T *t, int64_t rs, int64_t cs, int lower, int unit, T *b, int64_t n,  \
                         int64_t k, int64_t ldb, int nt) {                                        \
        if (n > LA_LEAF) {                                                                        \
            int64_t n1 = n / 2, n2 = n - n1;                                                      \
            const T *t22 = t + n1 * rs + n1 * cs;                                                 \
            T *b2 = b + n1 * ldb;                                                                 \
            if (lower) {                                                                          \
                trsm_##S(t, rs, cs, lower, unit, b, n1, k, ldb, nt);                              \
                gemm_##S(n2, k, n1, (T)-1, t + n1 * rs, rs, cs, b, ldb, 1, (T)1, b2, ldb, 1, nt);  \
                trsm_##S(t22, rs, cs, lower, unit, b2, n2, k, ldb, nt);                           \
            } else {                                                                              \
                trsm_##S(t22, rs, cs, lower, unit, b2, n2, k, ldb, nt);                           \
                gemm_##S(n1, k, n2, (T)-1, t + n1 * cs, rs, cs, b2, ldb, 1, (T)1, b, ldb, 1, nt);  \
                trsm_##S(t, rs, cs, lower, unit, b, n1, k, ldb, nt);                              \
            }                                                                                     \
            return;                                                                               \
        }                                                                                         \
        for (int64_t s = 0; s < n; s++) {                                                         \
            int64_t i = lower ? s : n - 1 - s;                                                    \
            T *bi = b + i * ldb;                                                                  \
            for (int64_t j = lower ? 0 : i + 1; j < (lower ? i : n); j++) {                       \
                T l = t[i * rs + j * cs];                                                         \
                const T *bj = b + j * ldb;                                                        \
                for (int64_t c = 0; c < k; c++) bi[c] -= l * bj[c];                               \
            }                                                                                     \
            if (!unit) {                                                                          \
                T d = t[i * rs + i * cs];                                                         \
                for (int64_t c = 0; c < k; c++) bi[c] /= d;                                       \
            }                                                                                     \
        }                                                                                         \
    }

/* lu: a (m, n) = P L U in place (L (m, k) unit lower below the diagonal,
 * U (k, n) on and above it, k = min(m, n)), partial pivoting (the largest
 * magnitude, as LAPACK's getrf), piv (k): row i was swapped with row
 * piv[i] (0-based) at step i; a swap moves whole rows. Columns j0 to j1
 * (rows j0 to m) are factored recursively: the left half, then the right
 * half's top solved with the left's L, its rest updated by one GEMM, and
 * factored; LA_LEAF columns or fewer by columns. A wide matrix's columns
 * past k are solved with L at the end (U's right part). info (in, out): 0,
 * or the 1-based place of the first zero on U's diagonal (LAPACK's); the
 * factorization goes on past it. */
#define DEFINE_LU(T, S)                                                                           \
    static void lu_cols_##S(T *a, int64_t m, int64_t n, int64_t j0, int64_t j1, int64_t *piv, int64_t *info, \
                            int nt) {                                                             \
        if (j1 - j0 > LA_LEAF) {                                                                  \
            int64_t jm = j0 + (j1 - j0) / 2;                                                      \
            lu_cols_##S(a, m, n, j0, jm, piv, info, nt);                                          \
            trsm_##S(a + j0 * n + j0, n, 1, 1, 1, a + j0 * n + jm, jm - j0, j1 - jm, n, nt);      \
            gemm_##S(m - jm, j1 - jm, jm - j0, (T)-1, a + jm * n + j0, n, 1, a + j0 * n + jm, n, 1, (T)1, \
                     a + jm * n + jm, n, 1, nt);                                                  \
            lu_cols_##S(a, m, n, jm, j1, piv, info, nt);                                          \
            return;                                                                               \
        }                                                                                         \
        for (int64_t j = j0; j < j1; j++) {                                                       \
            int64_t p = j;                                                                        \
            T best = fabs(a[j * n + j]);                                                          \
            for (int64_t i = j + 1; i < m; i++) {                                                 \
                T v = fabs(a[i * n + j]);                                                         \
                if (v > best) {                                                                   \
                    best = v;                                                                     \
                    p = i;                                                                        \
                }                                                                                 \
            }                                                                                     \
            piv[j] = p;                                                                           \
            swap_rows_##S(a, n, j, p);                                                            \
            T d = a[j * n + j];                                                                   \
            if (d == 0) {                                                                         \
                if (!*info) *info = j + 1;                                                        \
                continue;                                                                         \
            }                                                                                     \
            T r = (T)1 / d;                                                                       \
            for (int64_t i = j + 1; i < m; i++) {                                                 \
                T *ai = a + i * n;                                                                \
                T l = ai[j] *= r;                                                                 \
                for (int64_t c = j + 1; c < j1; c++) ai[c] -= l * a[j * n + c];                   \
            }                                                                                     \
        }                                                                                         \
    }                                                                                             \
    static int64_t lu_##S(T *a, int64_t m, int64_t n, int64_t *piv, int nt) {                     \
        int64_t info = 0, k = m < n ? m : n;                                                      \
        lu_cols_##S(a, m, n, 0, k, piv, &info, nt);                                               \
        if (n > k) trsm_##S(a, n, 1, 1, 1, a + k, k, n - k, n, nt);                               \
        return info;                                                                              \
    }

/* lu_solve: b (n, k) = A^-1 b (adjoint: A^-T b) in place, A = P L U as lu
 * gives it */
#define DEFINE_LU_SOLVE(T, S)                                                                     \
    static void lu_solve_##S(const T *lu, const int64_t *piv, T *b, int64_t n, int64_t k, int adjoint, int nt) { \
        if (!adjoint) {                                                                           \
            for (int64_t i = 0; i < n; i++) swap_rows_##S(b, k, i, piv[i]);                       \
            trsm_##S(lu, n, 1, 1, 1, b, n, k, k, nt);                                             \
            trsm_##S(lu, n, 1, 0, 0, b, n, k, k, nt);                                             \
        } else {                                                                                  \
            trsm_##S(lu, 1, n, 1, 0, b, n, k, k, nt);   /* U^T, lower */                          \
            trsm_##S(lu, 1, n, 0, 1, b, n, k, k, nt);   /* L^T, upper */                          \
            for (int64_t i = n - 1; i >= 0; i--) swap_rows_##S(b, k, i, piv[i]);                  \
        }                                                                                         \
    }                                                                                             \

/* lu_backward: ga (m, n), the gradient of A = P L U for g (m, n), the
 * gradient of its packed lu (m, n), piv (k) 1-based, k = min(m, n): PyTorch
 * 1.13's linalg_lu_backward (gL: g's strictly lower part of the first k
 * columns, gU: its upper part of the first k rows; L1, U1 the square tops):
 *   square  gA = P L^-T [tril(L^T gL, -1) + triu(gU U^T)] U^-T
 *   wide    gA = P L^-T [tril(L^T gL - gU U^T, -1) U1^-T + gU]
 *   tall    gA = P [L1^-T triu(gU U^T - L^T gL) + gL] U^-T
 * (a term past L's or U's square part padded with zeros). w: workspace
 * of 2 max(m, n) k + 2 k k + 2 m n elements. */
#define DEFINE_LU_BACKWARD(T, S)                                                                  \
    static void lu_backward_##S(const T *lu, const int64_t *piv, const T *g, T *ga, T *w, int64_t m, int64_t n) { \
        int64_t k = m < n ? m : n;                                                                \
        T *l = w, *u = l + m * k, *t1 = u + k * n, *t2 = t1 + k * k, *gp = t2 + k * k, *x = gp + m * n; \
        for (int64_t i = 0; i < m; i++)          /* L (m, k), U (k, n) */                         \
            for (int64_t j = 0; j < k; j++) l[i * k + j] = i > j ? lu[i * n + j] : (T)(i == j);   \
        for (int64_t i = 0; i < k; i++)                                                           \
            for (int64_t j = 0; j < n; j++) u[i * n + j] = j >= i ? lu[i * n + j] : 0;            \
        /* x (k, k): the bracket's middle term, transposed; then solved by U */                   \
        if (m == n) {                                                                             \
            gemm_##S(k, k, m, 1, l, 1, k, g, n, 1, 0, t1, k, 1, 1);      /* L^T gL */              \
            gemm_##S(k, k, n, 1, g, n, 1, u, 1, n, 0, t2, k, 1, 1);      /* gU U^T */              \
            for (int64_t i = 0; i < k; i++)                                                       \
                for (int64_t j = 0; j < k; j++) x[j * k + i] = j < i ? t1[i * k + j] : t2[i * k + j]; \
            trsm_##S(u, n, 1, 0, 0, x, k, k, k, 1);                      /* U^-1 M^T */            \
            for (int64_t i = 0; i < k; i++)                                                       \
                for (int64_t j = 0; j < k; j++) gp[i * n + j] = x[j * k + i];                     \
            trsm_##S(l, 1, k, 0, 1, gp, k, n, n, 1);                     /* L^-T M U^-T */         \
        } else if (m < n) {                                                                       \
            for (int64_t i = 0; i < k; i++)          /* gp = gU (k, n) */                         \
                for (int64_t j = 0; j < n; j++) gp[i * n + j] = j >= i ? g[i * n + j] : 0;        \
            gemm_##S(k, k, m, 1, l, 1, k, g, n, 1, 0, t1, k, 1, 1);      /* L^T gL */              \
            gemm_##S(k, k, n, 1, gp, n, 1, u, 1, n, 0, t2, k, 1, 1);     /* gU U^T */              \
            for (int64_t i = 0; i < k; i++)                                                       \
                for (int64_t j = 0; j < k; j++) x[j * k + i] = j < i ? t1[i * k + j] - t2[i * k + j] : 0; \
            trsm_##S(u, n, 1, 0, 0, x, k, k, k, 1);                      /* U1^-1 B^T */           \
            for (int64_t i = 0; i < k; i++)                                                       \
                for (int64_t j = 0; j < k; j++) gp[i * n + j] += x[j * k + i];                    \
            trsm_##S(l, 1, k, 0, 1, gp, k, n, n, 1);                                              \
        } else {                                                                                  \
            for (int64_t i = 0; i < m; i++)          /* x = gL (m, k) */                          \
                for (int64_t j = 0; j < k; j++) x[i * k + j] = j < i ? g[i * n + j] : 0;          \
            gemm_##S(k, k, n, 1, g, n, 1, u, 1, n, 0, t2, k, 1, 1);      /* gU U^T */              \
            gemm_##S(k, k, m, 1, l, 1, k, x, k, 1, 0, t1, k, 1, 1);      /* L^T gL */              \
            for (int64_t i = 0; i < k; i++)                                                       \
                for (int64_t j = 0; j < k; j++) t1[i * k + j] = j >= i ? t2[i * k + j] - t1[i * k + j] : 0; \
            trsm_##S(l, 1, k, 0, 1, t1, k, k, k, 1);                     /* L1^-T B */             \
            for (int64_t i = 0; i < k; i++)                                                       \
                for (int64_t j = 0; j < k; j++) x[i * k + j] += t1[i * k + j];                    \
            for (int64_t i = 0; i < m; i++)          /* C^T (k, m) */                             \
                for (int64_t j = 0; j < k; j++) gp[j * m + i] = x[i * k + j];                     \
            trsm_##S(u, n, 1, 0, 0, gp, k, m, m, 1);                     /* U^-1 C^T */            \
            for (int64_t i = 0; i < m; i++)                                                       \
                for (int64_t j = 0; j < k; j++) x[i * k + j] = gp[j * m + i];                     \
            memcpy(gp, x, (size_t)(m * n) * sizeof(T));                                           \
        }                                                                                         \
        for (int64_t i = k - 1; i >= 0; i--) swap_rows_##S(gp, n, i, piv[i] - 1);   /* P */      \
        memcpy(ga, gp, (size_t)(m * n) * sizeof(T));                                              \
    }

/* lu_solve_lu_backward: gl (n, n), the gradient of the packed lu (n, n)
 * of A = P L U for the gradient g (n, c) of X = A^-1 B (adjoint: A^-T B),
 * piv (n) 0-based; PyTorch 1.13's linalg_lu_solve_LU (left = true):
 *   adjoint = false: H = -U^-T g X^T,          gl = triu(H) + tril(L^-T H U^T, -1)
 *   adjoint = true:  R = -P^T X g^T P L^-T,    gl = tril(R, -1) + triu(L^T R U^-T)
 * w: workspace of 4 n n elements. */
#define DEFINE_LU_SOLVE_LU_BACKWARD(T, S)                                                         \
    static void lu_solve_lu_backward_##S(const T *lu, const int64_t *piv, const T *x, const T *g, T *gl, T *w, \
                                         int64_t n, int64_t c, int adjoint) {                     \
        T *h = w, *q = h + n * n, *t = q + n * n, *f = t + n * n;                                  \
        if (!adjoint) {                                                                           \
            for (int64_t i = 0; i < n; i++)          /* f = U (n, n) */                           \
                for (int64_t j = 0; j < n; j++) f[i * n + j] = j >= i ? lu[i * n + j] : 0;        \
            gemm_##S(n, n, c, -1, g, c, 1, x, 1, c, 0, h, n, 1, 1);       /* -g X^T */             \
            trsm_##S(lu, 1, n, 1, 0, h, n, n, n, 1);                      /* H = U^-T (-g X^T) */  \
            gemm_##S(n, n, n, 1, h, n, 1, f, 1, n, 0, q, n, 1, 1);        /* H U^T */              \
            trsm_##S(lu, 1, n, 0, 1, q, n, n, n, 1);                      /* L^-T H U^T */         \
            for (int64_t i = 0; i < n; i++)                                                       \
                for (int64_t j = 0; j < n; j++) gl[i * n + j] = j >= i ? h[i * n + j] : q[i * n + j]; \
            return;                                                                               \
        }                                                                                         \
        gemm_##S(n, n, c, -1, x, c, 1, g, 1, c, 0, h, n, 1, 1);           /* -X g^T */             \
        for (int64_t i = 0; i < n; i++) swap_rows_##S(h, n, i, piv[i]);   /* P^T . */              \
        for (int64_t i = 0; i < n; i++)                                   /* (. P)^T */            \
            for (int64_t j = 0; j < n; j++) t[j * n + i] = h[i * n + j];                          \
        for (int64_t i = 0; i < n; i++) swap_rows_##S(t, n, i, piv[i]);                           \
        trsm_##S(lu, n, 1, 1, 1, t, n, n, n, 1);                          /* R^T = L^-1 (.)^T */   \
        for (int64_t i = 0; i < n; i++)                                                           \
            for (int64_t j = 0; j < n; j++) {                                                     \
                h[i * n + j] = t[j * n + i];                              /* R */                  \
                f[i * n + j] = i > j ? lu[i * n + j] : (T)(i == j);       /* L */                  \
            }                                                                                     \
        gemm_##S(n, n, n, 1, f, 1, n, h, n, 1, 0, q, n, 1, 1);            /* L^T R */              \
        for (int64_t i = 0; i < n; i++)                                                           \
            for (int64_t j = 0; j < n; j++) t[j * n + i] = q[i * n + j];                          \
        trsm_##S(lu, n, 1, 0, 0, t, n, n, n, 1);                          /* U^-1 (L^T R)^T */     \
        for (int64_t i = 0; i < n; i++)                                                           \
            for (int64_t j = 0; j < n; j++) gl[i * n + j] = j >= i ? t[j * n + i] : h[i * n + j]; \
    }

#define DEFINE_SWAP(T, S)                                                                         \
    static inline void swap_rows_##S(T *b, int64_t k, int64_t i, int64_t p) {                     \
        if (p == i) return;                                                                       \
        for (int64_t c = 0; c < k; c++) {                                                         \
            T s = b[i * k + c];                                                                   \
            b[i * k + c] = b[p * k + c];                                                          \
            b[p * k + c] = s;                                                                     \
        }                                                                                         \
    }

/* cholesky: a (n, n) = L L^T, L in the lower triangle (the upper one
 * zeroed), reading a's lower triangle only; by panels as lu. Returns 0, or
 * the order of the first leading minor that is not positive-definite (a
 * pivot <= 0 or NaN: LAPACK's potrf info); there it stops with that pivot
 * on the diagonal (as potrf), the upper triangle zeroed all the same
 * (cholesky_ex's L is lower triangular, as PyTorch's). */
#define DEFINE_CHOL(T, S)                                                                         \
    static int64_t chol_##S(T *a, int64_t n, int nt) {                                            \
        int64_t info = 0;                                                                         \
        for (int64_t k0 = 0; k0 < n && !info; k0 += LA_NB) {                                      \
            int64_t k1 = k0 + LA_NB < n ? k0 + LA_NB : n;                                         \
            for (int64_t j = k0; j < k1; j++) {                                                   \
                T *aj = a + j * n;                                                                \
                T d = aj[j];                                                                      \
                for (int64_t p = k0; p < j; p++) d -= aj[p] * aj[p];                              \
                if (!(d > 0)) {                                                                   \
                    aj[j] = d;                                                                    \
                    info = j + 1;                                                                 \
                    break;                                                                        \
                }                                                                                 \
                d = (T)sqrt((double)d);                                                           \
                aj[j] = d;                                                                        \
                for (int64_t i = j + 1; i < n; i++) {                                             \
                    T *ai = a + i * n;                                                            \
                    T s = ai[j];                                                                  \
                    for (int64_t p = k0; p < j; p++) s -= ai[p] * aj[p];                          \
                    ai[j] = s / d;                                                                \
                }                                                                                 \
            }                                                                                     \
            /* the trailing lower triangle -= L21 L21^T, by row blocks */                         \
            for (int64_t r0 = k1; r0 < n && !info; r0 += LA_NB) {                                 \
                int64_t r1 = r0 + LA_NB < n ? r0 + LA_NB : n;                                     \
                gemm_##S(r1 - r0, r1 - k1, k1 - k0, (T)-1, a + r0 * n + k0, n, 1, a + k1 * n + k0, 1, n, (T)1, \
                         a + r0 * n + k1, n, 1, nt);                                              \
            }                                                                                     \
        }                                                                                         \
        for (int64_t i = 0; i < n; i++) memset(a + i * n + i + 1, 0, (size_t)(n - i - 1) * sizeof(T)); \
        return info;                                                                              \
    }

DEFINE_GEMM(float, f32, bli_sgemm_ex)
DEFINE_GEMM(double, f64, bli_dgemm_ex)
DEFINE_SWAP(float, f32)
DEFINE_SWAP(double, f64)
DEFINE_TRSM(float, f32)
DEFINE_TRSM(double, f64)
DEFINE_LU(float, f32)
DEFINE_LU(double, f64)
DEFINE_LU_SOLVE(float, f32)
DEFINE_LU_SOLVE(double, f64)
DEFINE_LU_BACKWARD(float, f32)
DEFINE_LU_BACKWARD(double, f64)
DEFINE_LU_SOLVE_LU_BACKWARD(float, f32)
DEFINE_LU_SOLVE_LU_BACKWARD(double, f64)
DEFINE_CHOL(float, f32)
DEFINE_CHOL(double, f64)

/* ---- batches ----
 * A batch of small matrices runs one matrix to a thread; a single large
 * one runs on one thread with the team in its GEMMs. */
typedef struct {
    int64_t batch, m, n;  /* matrices (m, n); m = n but for lu_factor's */
    int outer, inner;     /* threads over the batch, and in each GEMM */
} la_plan;

static la_plan la_plan_of(const nl_tensor *a, int64_t k) {
    la_plan p;
    p.m = a->sizes[a->ndim - 2];
    p.n = a->sizes[a->ndim - 1];
    p.batch = p.m * p.n > 0 ? a->numel / (p.m * p.n) : 1;
    for (int i = 0; p.m * p.n == 0 && i < a->ndim - 2; i++) p.batch *= a->sizes[i];
    int64_t work = p.m * p.n * (p.n + k);
    p.outer = p.batch > 1 ? nl_threads_for(p.batch * work, LA_GRAIN) : 1;
    p.inner = p.outer > 1 ? 1 : nl_team_for(work, LA_GRAIN);
    return p;
}

#define AT(t, bi, per) ((char *)(t)->data + (bi) * (per) * nl_dtype_size((t)->dtype))

/* a (..., n, n) a float tensor of square matrices, else an error naming op */
static bool la_square(const char *op, const nl_tensor *a, const char *what) {
    if (!a) {
        nl_set_error("%s: expected a tensor as %s, got nil", op, what);
        return false;
    }
    if (a->dtype == NL_INT64) {
        nl_set_error("%s: expected a float32 or float64 tensor as %s, got int64 %s", op, what, nl_shape_str(a));
        return false;
    }
    if (a->ndim < 2 || a->sizes[a->ndim - 1] != a->sizes[a->ndim - 2]) {
        nl_set_error("%s: %s must be batches of square matrices (..., n, n), got %s %s", op, what, DT(a),
                     nl_shape_str(a));
        return false;
    }
    return true;
}

/* a (..., m, n) a float tensor of matrices, else an error naming op */
static bool la_matrices(const char *op, const nl_tensor *a, const char *what) {
    if (!a) {
        nl_set_error("%s: expected a tensor as %s, got nil", op, what);
        return false;
    }
    if (a->dtype == NL_INT64 || a->ndim < 2) {
        nl_set_error("%s: expected a float32 or float64 tensor of matrices (..., m, n) as %s, got %s %s", op, what,
                     DT(a), nl_shape_str(a));
        return false;
    }
    return true;
}

/* b (..., n, k) with a's batch dims and dtype, for a (..., n, n), else an
 * error naming op */
static bool la_rhs(const char *op, const nl_tensor *a, const nl_tensor *b) {
    bool ok = b && b->ndim == a->ndim && b->dtype == a->dtype && b->sizes[b->ndim - 2] == a->sizes[a->ndim - 1];
    for (int i = 0; ok && i < a->ndim - 2; i++) ok = a->sizes[i] == b->sizes[i];
    if (!ok) {
        if (!b) nl_set_error("%s: expected a tensor as B, got nil", op);
        else
            nl_set_error("%s: A %s %s and B %s %s do not fit AX = B (B must be (..., n, k) of A's batch dims and dtype)",
                         op, DT(a), nl_shape_str(a), DT(b), nl_shape_str(b));
        return false;
    }
    return true;
}

/* a contiguous copy of t, its own storage */
static nl_tensor *la_copy(const char *op, nl_tensor *t) {
    nl_tensor *c = nl_tensor_alloc(op, t->ndim, t->sizes, t->dtype);
    if (c) nl_copy_raw(c, t);
    return c;
}

/* the batch dims of a (..., n, n) with tail appended */
static int la_batch_shape(const nl_tensor *a, int64_t *sizes, int ntail, const int64_t *tail) {
    int nd = a->ndim - 2;
    for (int i = 0; i < nd; i++) sizes[i] = a->sizes[i];
    for (int i = 0; i < ntail; i++) sizes[nd + i] = tail[i];
    return nd + ntail;
}

/* LU of every matrix: lu (batch, m, n) in place, piv (batch, k) 0-based
 * (k = min(m, n)), info (batch) each matrix's */
static void lu_batch(nl_tensor *lu, int64_t *piv, int64_t *info) {
    la_plan p = la_plan_of(lu, 0);
    int64_t m = p.m, n = p.n, k = m < n ? m : n;
    int f32 = lu->dtype == NL_FLOAT32;
    NL_PARALLEL_FOR_DYNAMIC(p.outer, bi, p.batch,
        void *a = AT(lu, bi, m * n);
        info[bi] = f32 ? lu_f32(a, m, n, piv + bi * k, p.inner) : lu_f64(a, m, n, piv + bi * k, p.inner);
    );
}

/* x (batch, n, k) = A^-1 x (adjoint: A^-T) for the LU of every A */
static void lu_solve_batch(const nl_tensor *lu, const int64_t *piv, nl_tensor *x, int adjoint) {
    int64_t k = x->sizes[x->ndim - 1];
    la_plan p = la_plan_of(lu, k);
    int64_t n = p.n;
    int f32 = lu->dtype == NL_FLOAT32;
    NL_PARALLEL_FOR_DYNAMIC(p.outer, bi, p.batch,
        const void *m = AT(lu, bi, n * n);
        void *xb = AT(x, bi, n * k);
        if (f32) lu_solve_f32(m, piv + bi * n, xb, n, k, adjoint, p.inner);
        else lu_solve_f64(m, piv + bi * n, xb, n, k, adjoint, p.inner);
    );
}

/* x (batch, n, k) = op(t)^-1 x for triangular t (batch, n, n), contiguous;
 * trans: op(t) = t^T */
static void trsm_batch(const nl_tensor *t, nl_tensor *x, int upper, int unit, int trans) {
    int64_t k = x->sizes[x->ndim - 1];
    la_plan p = la_plan_of(t, k);
    int64_t n = p.n, rs = trans ? 1 : n, cs = trans ? n : 1;
    int lower = upper == trans, f32 = t->dtype == NL_FLOAT32;
    NL_PARALLEL_FOR_DYNAMIC(p.outer, bi, p.batch,
        const void *m = AT(t, bi, n * n);
        void *xb = AT(x, bi, n * k);
        if (f32) trsm_f32(m, rs, cs, lower, unit, xb, n, k, k, p.inner);
        else trsm_f64(m, rs, cs, lower, unit, xb, n, k, k, p.inner);
    );
}

/* the first matrix whose info is nonzero, or -1 */
static int64_t la_first_failed(const int64_t *info, int64_t batch) {
    for (int64_t i = 0; i < batch; i++)
        if (info[i]) return i;
    return -1;
}

/* "(Batch element 3): " for a batched a (1-based, as nnlua counts), else "" */
static const char *la_batch_prefix(char *buf, size_t len, const nl_tensor *a, int64_t bi) {
    if (a->ndim <= 2) return "";
    snprintf(buf, len, "(Batch element %lld): ", (long long)bi + 1);
    return buf;
}

/* a (..., m, n), factored: *lu (own storage, contiguous), *piv (int64
 * (..., min(m, n)), 0-based) and *info (int64 (...)), or -1 with an error set */
static int la_factor(const char *op, nl_tensor *a, nl_tensor **lu, nl_tensor **piv, nl_tensor **info) {
    int64_t sizes[NL_MAX_DIMS];
    int64_t m = a->sizes[a->ndim - 2], n = a->sizes[a->ndim - 1];
    if (m < n) n = m;
    *lu = la_copy(op, a);
    *piv = *lu ? nl_tensor_alloc(op, la_batch_shape(a, sizes, 1, &n), sizes, NL_INT64) : NULL;
    *info = *piv ? nl_tensor_alloc(op, la_batch_shape(a, sizes, 0, NULL), sizes, NL_INT64) : NULL;
    if (!*info) {
        nl_release(*lu);
        nl_release(*piv);
        *lu = *piv = NULL;
        return -1;
    }
    lu_batch(*lu, (*piv)->data, (*info)->data);
    return 0;
}

/* the identity of a's shape and dtype, times scale[bi] in matrix bi (or 1) */
static nl_tensor *la_eye(const char *op, const nl_tensor *a, const nl_tensor *scale) {
    nl_tensor *e = nl_tensor_alloc(op, a->ndim, a->sizes, a->dtype);
    if (!e) return NULL;
    int64_t n = a->sizes[a->ndim - 1], batch = n ? e->numel / (n * n) : 0;
    memset(e->data, 0, (size_t)(e->numel * nl_dtype_size(e->dtype)));
    for (int64_t bi = 0; bi < batch; bi++) {
        double s = scale ? nl_get_flat(scale, bi) : 1;
        for (int64_t i = 0; i < n; i++) nl_store(AT(e, bi, n * n) + (i * n + i) * nl_dtype_size(e->dtype), e->dtype, s);
    }
    return e;
}

/* ---- lu_factor ---- */

nl_tensor *nl_linalg_lu_factor(nl_tensor *a, int check, nl_tensor **pivots, nl_tensor **info) {
    const char *op = "linalg.lu_factor";
    if (pivots) *pivots = NULL;
    if (info) *info = NULL;
    NL_CHECK(pivots, "%s: pivots is required", op);
    if (!la_matrices(op, a, "A")) return NULL;
    nl_tensor *lu, *piv, *inf;
    if (la_factor(op, a, &lu, &piv, &inf) < 0) return NULL;
    int64_t *pv = piv->data, *iv = inf->data;
    for (int64_t i = 0; i < piv->numel; i++) pv[i] += 1;
    int64_t bad = check ? la_first_failed(iv, inf->numel) : -1;
    if (bad >= 0) {
        char buf[48];
        nl_set_error("%s: %sU[%lld,%lld] is zero and using it on lu_solve would result in a division by zero. "
                     "If you still want to perform the factorization, consider calling linalg.lu(A) or "
                     "linalg.lu_factor_ex(A)", op, la_batch_prefix(buf, sizeof buf, a, bad), (long long)iv[bad],
                     (long long)iv[bad]);
        nl_release(lu);
        nl_release(piv);
        nl_release(inf);
        return NULL;
    }
    nl_tensor *ins[2] = { a, piv };
    nl_node *nd = nl_record(NL_OP_LINALG_LU_FACTOR, lu, 2, ins);
    if (nd) {
        nd->needs_in = 2;                  /* the pivots */
        nl_node_save_output(nd, lu);
    }
    *pivots = piv;
    if (info) *info = inf;
    else nl_release(inf);
    return lu;
}

/* PyTorch 1.13's lu_factor_ex_backward (linalg_lu_backward) for A (m, n) =
 * P L U, k = min(m, n), its LU packed: of g (m, n), the strictly lower part
 * of the first k columns is L's gradient gL, the upper part of the first k
 * rows U's, gU (matrix bi of a batch). */
static int lu_factor_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    if (!nl_node_wants(nd, 0)) return 0;
    const char *op = "linalg.lu_factor";
    nl_tensor *a = nd->in[0], *piv = nd->in[1];
    NL_TEMPS(tmps);
    nl_tensor *lu = TMP(nl_contiguous_raw(nd->saved));
    nl_tensor *gc = TMP(nl_contiguous_raw(g));
    nl_tensor *ga = nl_tensor_alloc(op, a->ndim, a->sizes, a->dtype);
    if (!ga) goto fail;
    int64_t m = a->sizes[a->ndim - 2], n = a->sizes[a->ndim - 1], k = m < n ? m : n;
    int64_t batch = m > 0 && n > 0 ? a->numel / (m * n) : 0;
    int64_t mx = m > n ? m : n;
    void *w = malloc((size_t)(2 * mx * k + 2 * k * k + 2 * m * n + 1) * (size_t)nl_dtype_size(a->dtype));
    if (!w) {
        nl_release(ga);
        nl_set_error("%s: out of memory", op);
        goto fail;
    }
    const int64_t *pv = piv->data;
    for (int64_t bi = 0; bi < batch; bi++) {
        if (a->dtype == NL_FLOAT32)
            lu_backward_f32((const float *)AT(lu, bi, m * n), pv + bi * k, (const float *)AT(gc, bi, m * n),
                            (float *)AT(ga, bi, m * n), w, m, n);
        else
            lu_backward_f64((const double *)AT(lu, bi, m * n), pv + bi * k, (const double *)AT(gc, bi, m * n),
                            (double *)AT(ga, bi, m * n), w, m, n);
    }
    free(w);
    gin[0] = ga;
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_LINALG_LU_FACTOR, lu_factor_backward)

/* P (..., m, m) of A (..., m, n) = P L U from lu_factor's 1-based pivots
 * (..., k), k <= m */
nl_tensor *nl_linalg_lu_permutation(nl_tensor *pivots, int64_t m, int dtype) {
    const char *op = "linalg.lu";
    NL_CHECK_TENSOR(op, pivots);
    NL_CHECK(pivots->dtype == NL_INT64 && pivots->ndim >= 1 && pivots->ndim < NL_MAX_DIMS,
             "%s: pivots must be int64 (..., k) of up to 7 dims, got %s %s", op,
             DT(pivots), nl_shape_str(pivots));
    NL_CHECK(dtype == NL_FLOAT32 || dtype == NL_FLOAT64, "%s: P must be float32 or float64", op);
    int64_t k = pivots->sizes[pivots->ndim - 1], n = m, sizes[NL_MAX_DIMS];
    NL_CHECK(k <= m, "%s: pivots (..., %lld) do not fit %lld rows", op, (long long)k, (long long)m);
    for (int i = 0; i < pivots->ndim - 1; i++) sizes[i] = pivots->sizes[i];
    sizes[pivots->ndim - 1] = m;
    sizes[pivots->ndim] = m;
    nl_tensor *pc = nl_contiguous_raw(pivots);
    nl_tensor *out = pc ? nl_tensor_alloc(op, pivots->ndim + 1, sizes, dtype) : NULL;
    int64_t *perm = out ? malloc((size_t)(n ? n : 1) * sizeof *perm) : NULL;
    if (!perm) {
        if (out) nl_set_error("%s: out of memory", op);
        nl_release(pc);
        nl_release(out);
        return NULL;
    }
    int64_t batch = n ? out->numel / (n * n) : 0, es = nl_dtype_size(dtype);
    const int64_t *pv = pc->data;
    memset(out->data, 0, (size_t)(out->numel * es));
    for (int64_t bi = 0; bi < batch; bi++) {
        for (int64_t i = 0; i < n; i++) perm[i] = i;
        for (int64_t i = 0; i < k; i++) {
            int64_t p = pv[bi * k + i] - 1;
            if (p < i || p >= n) {
                nl_set_error("%s: pivots must hold, at place i, a row from i to n = %lld (1-based), got %lld at %lld",
                             op, (long long)n, (long long)(p + 1), (long long)(i + 1));
                free(perm);
                nl_release(pc);
                nl_release(out);
                return NULL;
            }
            int64_t s = perm[i];
            perm[i] = perm[p];
            perm[p] = s;
        }
        /* (P^T A)[i] = A[perm[i]]: P[perm[i], i] = 1 */
        for (int64_t i = 0; i < n; i++) nl_store(AT(out, bi, n * n) + (perm[i] * n + i) * es, dtype, 1);
    }
    free(perm);
    nl_release(pc);
    return out;
}

/* ---- lu_solve ---- */

/* 0-based pivots of a 1-based pivots tensor (..., n) that fits lu, checked */
static nl_tensor *la_pivots0(const char *op, const nl_tensor *lu, nl_tensor *pivots) {
    int64_t n = lu->sizes[lu->ndim - 1];
    bool ok = pivots && pivots->dtype == NL_INT64 && pivots->ndim == lu->ndim - 1;
    for (int i = 0; ok && i < lu->ndim - 1; i++) ok = pivots->sizes[i] == lu->sizes[i];
    if (!ok) {
        if (!pivots) nl_set_error("%s: expected a tensor as pivots, got nil", op);
        else
            nl_set_error("%s: pivots must be int64 (..., n) of LU's batch dims, got %s %s for LU %s", op,
                         DT(pivots), nl_shape_str(pivots), nl_shape_str(lu));
        return NULL;
    }
    nl_tensor *p0 = la_copy(op, pivots);
    if (!p0) return NULL;
    int64_t *pv = p0->data;
    for (int64_t i = 0; i < p0->numel; i++) {
        int64_t at = n ? i % n : 0;
        if (pv[i] < at + 1 || pv[i] > n) {
            nl_set_error("%s: pivots must hold, at place i, a row from i to n = %lld (1-based), got %lld at %lld",
                         op, (long long)n, (long long)pv[i], (long long)(at + 1));
            nl_release(p0);
            return NULL;
        }
        pv[i] -= 1;
    }
    return p0;
}

nl_tensor *nl_linalg_lu_solve(nl_tensor *lu, nl_tensor *pivots, nl_tensor *b, int adjoint) {
    const char *op = "linalg.lu_solve";
    if (!la_square(op, lu, "LU") || !la_rhs(op, lu, b)) return NULL;
    nl_tensor *p0 = la_pivots0(op, lu, pivots);
    nl_tensor *luc = p0 ? nl_contiguous_raw(lu) : NULL;
    nl_tensor *x = luc ? la_copy(op, b) : NULL;
    if (x) lu_solve_batch(luc, p0->data, x, adjoint);
    nl_release(luc);
    if (!x) {
        nl_release(p0);
        return NULL;
    }
    nl_tensor *ins[3] = { lu, b, p0 };
    nl_node *nd = nl_record(NL_OP_LINALG_LU_SOLVE, x, 3, ins);
    if (nd) {
        nd->needs_in = 1;                  /* LU */
        nd->a[0] = adjoint != 0;
        if (nl_node_wants(nd, 0)) nl_node_save_output(nd, x);   /* LU's gradient reads X */
    }
    nl_release(p0);
    return x;
}

/* gB = A^-T g (adjoint: A^-1 g); gLU as lu_solve_lu_backward gives it */
static int lu_solve_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    const char *op = "linalg.lu_solve";
    bool want_lu = nl_node_wants(nd, 0), want_b = nl_node_wants(nd, 1);
    if (!want_lu && !want_b) return 0;
    NL_TEMPS(tmps);
    nl_tensor *glu = NULL;
    nl_tensor *luc = TMP(nl_contiguous_raw(nd->in[0]));
    nl_tensor *gc = TMP(nl_contiguous_raw(g));
    if (want_lu) {
        nl_tensor *x = TMP(nl_contiguous_raw(nd->saved));
        nl_tensor *gl = glu = nl_tensor_alloc(op, luc->ndim, luc->sizes, luc->dtype);
        if (!gl) goto fail;
        int64_t n = luc->sizes[luc->ndim - 1], c = x->sizes[x->ndim - 1];
        int64_t batch = n > 0 ? luc->numel / (n * n) : 0;
        void *w = malloc((size_t)(4 * n * n + 1) * (size_t)nl_dtype_size(luc->dtype));
        if (!w) {
            nl_set_error("%s: out of memory", op);
            goto fail;
        }
        const int64_t *pv = nd->in[2]->data;
        for (int64_t bi = 0; bi < batch; bi++) {
            if (luc->dtype == NL_FLOAT32)
                lu_solve_lu_backward_f32((const float *)AT(luc, bi, n * n), pv + bi * n, (const float *)AT(x, bi, n * c),
                                         (const float *)AT(gc, bi, n * c), (float *)AT(gl, bi, n * n), w, n, c,
                                         nd->a[0]);
            else
                lu_solve_lu_backward_f64((const double *)AT(luc, bi, n * n), pv + bi * n,
                                         (const double *)AT(x, bi, n * c), (const double *)AT(gc, bi, n * c),
                                         (double *)AT(gl, bi, n * n), w, n, c, nd->a[0]);
        }
        free(w);
    }
    if (want_b) {
        nl_tensor *gb = la_copy(op, gc);
        if (!gb) goto fail;
        lu_solve_batch(luc, nd->in[2]->data, gb, !nd->a[0]);
        gin[1] = gb;
    }
    gin[0] = glu;
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_release(glu);
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_LINALG_LU_SOLVE, lu_solve_backward)

/* ---- inv and solve ---- */

static void la_singular_error(const char *op, const char *what, const nl_tensor *a, const nl_tensor *info,
                              int64_t bad) {
    char buf[48];
    nl_set_error("%s: %sThe diagonal element %lld is zero, the %s could not be completed because the input "
                 "matrix is singular.", op, la_batch_prefix(buf, sizeof buf, a, bad),
                 (long long)((const int64_t *)info->data)[bad], what);
}

/* out, the result of op on A alone (inv, cholesky), with its node, whose
 * backward reads only the output; info handed back where asked for (the
 * caller's reference), released otherwise */
static nl_tensor *la_finish(int op, nl_tensor *out, nl_tensor *a, nl_tensor *inf, nl_tensor **info) {
    nl_node *nd = nl_record(op, out, 1, &a);
    if (nd) {
        nd->needs_in = 0;
        nl_node_save_output(nd, out);
    }
    if (info) *info = inf;
    else nl_release(inf);
    return out;
}

nl_tensor *nl_linalg_inv(nl_tensor *a, int check, nl_tensor **info) {
    const char *op = "linalg.inv";
    if (info) *info = NULL;
    if (!la_square(op, a, "A")) return NULL;
    nl_tensor *lu, *piv, *inf;
    if (la_factor(op, a, &lu, &piv, &inf) < 0) return NULL;
    int64_t bad = check ? la_first_failed(inf->data, inf->numel) : -1;
    nl_tensor *x = bad < 0 ? la_eye(op, a, NULL) : NULL;
    if (bad >= 0) la_singular_error(op, "inversion", a, inf, bad);
    if (x) lu_solve_batch(lu, piv->data, x, 0);
    nl_release(lu);
    nl_release(piv);
    if (!x) {
        nl_release(inf);
        return NULL;
    }
    return la_finish(NL_OP_LINALG_INV, x, a, inf, info);
}

/* gA = -X^T g X^T */
static int inv_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    if (!nl_node_wants(nd, 0)) return 0;
    NL_TEMPS(tmps);
    nl_tensor *xt = TMP(nl_transpose(nd->saved, -1, -2));
    nl_tensor *m = TMP(nl_matmul(TMP(nl_matmul(xt, g)), xt));
    if (!(gin[0] = nl_binary_scalar(NL_OP_MUL, m, -1, 0))) goto fail;
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_LINALG_INV, inv_backward)

nl_tensor *nl_linalg_solve(nl_tensor *a, nl_tensor *b) {
    const char *op = "linalg.solve";
    if (!la_square(op, a, "A") || !la_rhs(op, a, b)) return NULL;
    nl_tensor *lu, *piv, *inf;
    if (la_factor(op, a, &lu, &piv, &inf) < 0) return NULL;
    int64_t bad = la_first_failed(inf->data, inf->numel);
    nl_tensor *x = bad < 0 ? la_copy(op, b) : NULL;
    if (bad >= 0) la_singular_error(op, "solve", a, inf, bad);
    if (x) lu_solve_batch(lu, piv->data, x, 0);
    nl_release(inf);
    if (x) {
        nl_tensor *ins[4] = { a, b, lu, piv };
        nl_node *nd = nl_record(NL_OP_LINALG_SOLVE, x, 4, ins);
        if (nd) {
            nd->needs_in = 0;              /* LU and the pivots are the node's own */
            nl_node_save_output(nd, x);
        }
    }
    nl_release(lu);
    nl_release(piv);
    return x;
}

/* gB = A^-T g, gA = -gB X^T */
static int solve_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    if (!nl_node_wants(nd, 0) && !nl_node_wants(nd, 1)) return 0;
    NL_TEMPS(tmps);
    nl_tensor *gb = TMP(la_copy("linalg.solve", g));
    lu_solve_batch(nd->in[2], nd->in[3]->data, gb, 1);
    if (nl_node_wants(nd, 0)) {
        nl_tensor *m = TMP(nl_matmul(gb, TMP(nl_transpose(nd->saved, -1, -2))));
        if (!(gin[0] = nl_binary_scalar(NL_OP_MUL, m, -1, 0))) goto fail;
    }
    if (nl_node_wants(nd, 1)) gin[1] = nl_keep_ref(gb);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_LINALG_SOLVE, solve_backward)

/* ---- det and slogdet ----
 * From the LU: det = (-1)^(swaps) prod(U's diagonal). */

/* det (take_log 0) or log|det| and sign (take_log 1) of each matrix */
static nl_tensor *det_forward(const char *op, nl_tensor *a, int take_log, nl_tensor **sign) {
    if (sign) *sign = NULL;
    if (!la_square(op, a, "A")) return NULL;
    nl_tensor *lu, *piv, *inf;
    if (la_factor(op, a, &lu, &piv, &inf) < 0) return NULL;
    nl_release(inf);
    int64_t sizes[NL_MAX_DIMS];
    int nd0 = la_batch_shape(a, sizes, 0, NULL);
    nl_tensor *out = nl_tensor_alloc(op, nd0, sizes, a->dtype);
    nl_tensor *sg = out && take_log ? nl_tensor_alloc(op, nd0, sizes, a->dtype) : NULL;
    if (!out || (take_log && !sg)) {
        nl_release(out);
        nl_release(lu);
        nl_release(piv);
        return NULL;
    }
    int64_t n = a->sizes[a->ndim - 1], es = nl_dtype_size(a->dtype);
    const int64_t *pv = piv->data;
    for (int64_t bi = 0; bi < out->numel; bi++) {
        const char *m = AT(lu, bi, n * n);
        double d = 1, s = 1, la = 0;
        for (int64_t i = 0; i < n; i++) {
            double u = nl_load(m + (i * n + i) * es, a->dtype);
            if (pv[bi * n + i] != i) s = -s;
            if (take_log) {
                if (u < 0) s = -s;
                la += log(fabs(u));
            } else {
                d *= u;
            }
        }
        if (take_log) {
            if (la == -INFINITY) s = 0;
            nl_store(AT(out, bi, 1), a->dtype, la);
            nl_store(AT(sg, bi, 1), a->dtype, s);
        } else {
            nl_store(AT(out, bi, 1), a->dtype, s * d);
        }
    }
    nl_tensor *ins[3] = { a, lu, piv };
    nl_node *nd = nl_record(take_log ? NL_OP_LINALG_SLOGDET : NL_OP_LINALG_DET, out, 3, ins);
    if (nd) {
        nd->needs_in = 0;
        nl_node_save_output(nd, out);
    }
    nl_release(lu);
    nl_release(piv);
    if (sign) *sign = sg;
    return out;
}

nl_tensor *nl_linalg_det(nl_tensor *a) { return det_forward("linalg.det", a, 0, NULL); }
nl_tensor *nl_linalg_slogdet(nl_tensor *a, nl_tensor **sign) {
    NL_CHECK(sign, "linalg.slogdet: sign is required");
    return det_forward("linalg.slogdet", a, 1, sign);
}

/* det: gA = (g det) A^-T, solved on the LU with its zeros on the diagonal
 * made eps (PyTorch 1.13's: a singular matrix gets 0); slogdet: gA = g A^-T */
static int det_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    if (!nl_node_wants(nd, 0)) return 0;
    const char *op = nd->op == NL_OP_LINALG_DET ? "linalg.det" : "linalg.slogdet";
    nl_tensor *a = nd->in[0], *lu = nd->in[1];
    NL_TEMPS(tmps);
    nl_tensor *scale = TMP(nl_contiguous_raw(g));
    if (nd->op == NL_OP_LINALG_DET) {
        scale = TMP(nl_binary(NL_OP_MUL, scale, nd->saved));
        int64_t n = a->sizes[a->ndim - 1], es = nl_dtype_size(a->dtype);
        double eps = a->dtype == NL_FLOAT32 ? 0x1p-23 : 0x1p-52;
        lu = TMP(la_copy(op, lu));
        for (int64_t bi = 0; n && bi < lu->numel / (n * n); bi++)
            for (int64_t i = 0; i < n; i++) {
                char *p = AT(lu, bi, n * n) + (i * n + i) * es;
                if (nl_load(p, a->dtype) == 0) nl_store(p, a->dtype, eps);
            }
    }
    nl_tensor *x = TMP(la_eye(op, a, scale));
    lu_solve_batch(lu, nd->in[2]->data, x, 1);
    gin[0] = nl_keep_ref(x);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
/* (one kernel for two ops: NL_REGISTER_BACKWARD names its constructor after the kernel) */
__attribute__((constructor)) static void register_det(void) {
    nl_register_backward(NL_OP_LINALG_DET, det_backward);
    nl_register_backward(NL_OP_LINALG_SLOGDET, det_backward);
}

/* ---- cholesky ---- */

nl_tensor *nl_linalg_cholesky(nl_tensor *a, int check, nl_tensor **info) {
    const char *op = "linalg.cholesky";
    if (info) *info = NULL;
    if (!la_square(op, a, "A")) return NULL;
    int64_t sizes[NL_MAX_DIMS];
    nl_tensor *l = la_copy(op, a);
    nl_tensor *inf = l ? nl_tensor_alloc(op, la_batch_shape(a, sizes, 0, NULL), sizes, NL_INT64) : NULL;
    if (!inf) {
        nl_release(l);
        return NULL;
    }
    la_plan p = la_plan_of(l, 0);
    int64_t n = p.n, *iv = inf->data;
    int f32 = l->dtype == NL_FLOAT32;
    NL_PARALLEL_FOR_DYNAMIC(p.outer, bi, p.batch,
        void *m = AT(l, bi, n * n);
        iv[bi] = f32 ? chol_f32(m, n, p.inner) : chol_f64(m, n, p.inner);
    );
    int64_t bad = check ? la_first_failed(iv, inf->numel) : -1;
    if (bad >= 0) {
        char buf[48];
        nl_set_error("%s: %sThe factorization could not be completed because the input is not positive-definite "
                     "(the leading minor of order %lld is not positive-definite).", op,
                     la_batch_prefix(buf, sizeof buf, a, bad), (long long)iv[bad]);
        nl_release(l);
        nl_release(inf);
        return NULL;
    }
    return la_finish(NL_OP_LINALG_CHOLESKY, l, a, inf, info);
}

/* PyTorch 1.13's cholesky_backward: phi = L^T gL with its strict upper
 * part zeroed and its diagonal halved; gA = L^-T phi L^-1, symmetrized */
static int cholesky_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    if (!nl_node_wants(nd, 0)) return 0;
    const char *op = "linalg.cholesky";
    NL_TEMPS(tmps);
    nl_tensor *l = TMP(nl_contiguous_raw(nd->saved));
    nl_tensor *phi = TMP(la_copy(op, TMP(nl_matmul(TMP(nl_transpose(l, -1, -2)), g))));
    int64_t n = l->sizes[l->ndim - 1], es = nl_dtype_size(l->dtype), batch = n ? l->numel / (n * n) : 0;
    for (int64_t bi = 0; bi < batch; bi++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i; j < n; j++) {
                char *p = AT(phi, bi, n * n) + (i * n + j) * es;
                nl_store(p, l->dtype, i == j ? 0.5 * nl_load(p, l->dtype) : 0);
            }
    /* y = L^-T phi; gA = y L^-1 = (L^-T y^T)^T */
    trsm_batch(l, phi, 0, 0, 1);
    nl_tensor *yt = TMP(la_copy(op, TMP(nl_transpose(phi, -1, -2))));
    trsm_batch(l, yt, 0, 0, 1);
    nl_tensor *s = TMP(nl_binary(NL_OP_ADD, yt, TMP(nl_transpose(yt, -1, -2))));
    if (!(gin[0] = nl_binary_scalar(NL_OP_MUL, s, 0.5, 0))) goto fail;
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_LINALG_CHOLESKY, cholesky_backward)

/* ---- solve_triangular (left: A X = B) ---- */

nl_tensor *nl_linalg_solve_triangular(nl_tensor *a, nl_tensor *b, int upper, int unitriangular) {
    const char *op = "linalg.solve_triangular";
    if (!la_square(op, a, "A") || !la_rhs(op, a, b)) return NULL;
    nl_tensor *ac = nl_contiguous_raw(a);
    nl_tensor *x = ac ? la_copy(op, b) : NULL;
    if (x) trsm_batch(ac, x, upper != 0, unitriangular != 0, 0);
    nl_release(ac);
    if (!x) return NULL;
    nl_tensor *ins[2] = { a, b };
    nl_node *nd = nl_record(NL_OP_LINALG_SOLVE_TRIANGULAR, x, 2, ins);
    if (nd) {
        nd->needs_in = 1;
        nd->a[0] = upper != 0;
        nd->a[1] = unitriangular != 0;
        nl_node_save_output(nd, x);
    }
    return x;
}

/* gB = A^-T g; gA = -gB X^T on A's triangle (its diagonal too unless
 * unitriangular) */
static int solve_triangular_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    if (!nl_node_wants(nd, 0) && !nl_node_wants(nd, 1)) return 0;
    const char *op = "linalg.solve_triangular";
    int upper = (int)nd->a[0], unit = (int)nd->a[1];
    NL_TEMPS(tmps);
    nl_tensor *ac = TMP(nl_contiguous_raw(nd->in[0]));
    nl_tensor *gb = TMP(la_copy(op, g));
    trsm_batch(ac, gb, upper, unit, 1);
    if (nl_node_wants(nd, 0)) {
        nl_tensor *m = TMP(la_copy(op, TMP(nl_matmul(gb, TMP(nl_transpose(nd->saved, -1, -2))))));
        int64_t n = ac->sizes[ac->ndim - 1], es = nl_dtype_size(ac->dtype), batch = n ? ac->numel / (n * n) : 0;
        for (int64_t bi = 0; bi < batch; bi++)
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++) {
                    char *p = AT(m, bi, n * n) + (i * n + j) * es;
                    bool keep = (upper ? j >= i : j <= i) && !(unit && i == j);
                    nl_store(p, ac->dtype, keep ? -nl_load(p, ac->dtype) : 0);
                }
        gin[0] = nl_keep_ref(m);
    }
    if (nl_node_wants(nd, 1)) gin[1] = nl_keep_ref(gb);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_LINALG_SOLVE_TRIANGULAR, solve_triangular_backward)
