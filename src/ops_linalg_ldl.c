/* ops_linalg_ldl.c — the symmetric indefinite factorization A = P L D L^T
 * P^T by Bunch and Kaufman's diagonal pivoting, as LAPACK's sytf2/sytrs
 * (uplo 'L', the pivots in LAPACK's 1-based form), and its solve; batched
 * over the leading dims, float32 and float64 both computed in float64.
 * No gradients (PyTorch 1.13 has none); the Lua side (linalg_extra.lua)
 * broadcasts and checks the arguments' shapes again. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 1-based column-major access would be LAPACK's; here x is row-major
 * (n, n) and X(i, j) the 0-based element of row i and column j */
#define X(i, j) x[(i) * n + (j)]

/* the first index of the largest |v[k * stride]|, k < len (BLAS's idamax, 0-based) */
static int64_t ldl_iamax(const double *v, int64_t len, int64_t stride) {
    int64_t best = 0;
    double m = -1;
    for (int64_t k = 0; k < len; k++) {
        double a = fabs(v[k * stride]);
        if (a > m) { m = a; best = k; }
    }
    return best;
}

static void ldl_swap(double *a, double *b) { double t = *a; *a = *b; *b = t; }

/* LAPACK's dsytf2 (uplo 'L') on x (n, n), its lower triangle read and
 * overwritten by L (below the diagonal) and D; piv (n) the pivots in
 * LAPACK's form; returns info (0, or the first k, 1-based, of a zero
 * pivot block) */
static int64_t ldl_factor_one(double *x, int64_t *piv, int64_t n) {
    const double alpha = (1 + sqrt(17.0)) / 8;
    int64_t info = 0;
    int64_t k = 0;
    while (k < n) {
        int64_t kstep = 1, kp = k;
        double absakk = fabs(X(k, k)), colmax = 0;
        int64_t imax = k;
        if (k < n - 1) {
            imax = k + 1 + ldl_iamax(&X(k + 1, k), n - k - 1, n);
            colmax = fabs(X(imax, k));
        }
        if ((absakk > colmax ? absakk : colmax) == 0 || isnan(absakk)) {
            if (info == 0) info = k + 1;
            kp = k;
        } else {
            if (absakk >= alpha * colmax) {
                kp = k;
            } else {
                /* the largest off-diagonal of row (and column) imax */
                int64_t jmax = k + ldl_iamax(&X(imax, k), imax - k, 1);
                double rowmax = fabs(X(imax, jmax));
                if (imax < n - 1) {
                    jmax = imax + 1 + ldl_iamax(&X(imax + 1, imax), n - imax - 1, n);
                    double r = fabs(X(jmax, imax));
                    if (r > rowmax) rowmax = r;
                }
                if (absakk >= alpha * colmax * (colmax / rowmax)) kp = k;
                else if (fabs(X(imax, imax)) >= alpha * rowmax) kp = imax;
                else { kp = imax; kstep = 2; }
            }
            int64_t kk = k + kstep - 1;
            if (kp != kk) {
                /* rows and columns kk and kp swapped in the trailing A(k:n, k:n) */
                for (int64_t i = kp + 1; i < n; i++) ldl_swap(&X(i, kk), &X(i, kp));
                for (int64_t j = kk + 1; j < kp; j++) ldl_swap(&X(j, kk), &X(kp, j));
                ldl_swap(&X(kk, kk), &X(kp, kp));
                if (kstep == 2) ldl_swap(&X(k + 1, k), &X(kp, k));
            }
            if (kstep == 1) {
                if (k < n - 1) {
                    double d11 = 1 / X(k, k);
                    for (int64_t j = k + 1; j < n; j++) {
                        double t = X(j, k) * d11;
                        if (X(j, k) != 0)
                            for (int64_t i = j; i < n; i++) X(i, j) -= X(i, k) * t;
                    }
                    for (int64_t i = k + 1; i < n; i++) X(i, k) *= d11;
                }
            } else if (k < n - 2) {
                double d21 = X(k + 1, k);
                double d11 = X(k + 1, k + 1) / d21;
                double d22 = X(k, k) / d21;
                double t = 1 / (d11 * d22 - 1);
                d21 = t / d21;
                for (int64_t j = k + 2; j < n; j++) {
                    double wk = d21 * (d11 * X(j, k) - X(j, k + 1));
                    double wkp1 = d21 * (d22 * X(j, k + 1) - X(j, k));
                    for (int64_t i = j; i < n; i++) X(i, j) -= X(i, k) * wk + X(i, k + 1) * wkp1;
                    X(j, k) = wk;
                    X(j, k + 1) = wkp1;
                }
            }
        }
        if (kstep == 1) piv[k] = kp + 1;
        else piv[k] = piv[k + 1] = -(kp + 1);
        k += kstep;
    }
    return info;
}

/* LAPACK's dsytrs (uplo 'L'): b (n, m) overwritten by A^-1 b from x (n,
 * n) and piv (n) of ldl_factor_one */
static void ldl_solve_one(const double *x, const int64_t *piv, double *b, int64_t n, int64_t m) {
#define B(i, j) b[(i) * m + (j)]
    int64_t k = 0;
    while (k < n) {                      /* L D y = P^T b */
        if (piv[k] > 0) {
            int64_t kp = piv[k] - 1;
            if (kp != k)
                for (int64_t j = 0; j < m; j++) ldl_swap(&B(k, j), &B(kp, j));
            for (int64_t i = k + 1; i < n; i++)
                for (int64_t j = 0; j < m; j++) B(i, j) -= X(i, k) * B(k, j);
            double inv = 1 / X(k, k);
            for (int64_t j = 0; j < m; j++) B(k, j) *= inv;
            k += 1;
        } else {
            int64_t kp = -piv[k] - 1;
            if (kp != k + 1)
                for (int64_t j = 0; j < m; j++) ldl_swap(&B(k + 1, j), &B(kp, j));
            for (int64_t i = k + 2; i < n; i++)
                for (int64_t j = 0; j < m; j++) B(i, j) -= X(i, k) * B(k, j) + X(i, k + 1) * B(k + 1, j);
            double akm1k = X(k + 1, k);
            double akm1 = X(k, k) / akm1k, ak = X(k + 1, k + 1) / akm1k;
            double denom = akm1 * ak - 1;
            for (int64_t j = 0; j < m; j++) {
                double bkm1 = B(k, j) / akm1k, bk = B(k + 1, j) / akm1k;
                B(k, j) = (ak * bkm1 - bk) / denom;
                B(k + 1, j) = (akm1 * bk - bkm1) / denom;
            }
            k += 2;
        }
    }
    k = n - 1;
    while (k >= 0) {                     /* L^T P^T x = y */
        if (piv[k] > 0) {
            for (int64_t i = k + 1; i < n; i++)
                for (int64_t j = 0; j < m; j++) B(k, j) -= X(i, k) * B(i, j);
            int64_t kp = piv[k] - 1;
            if (kp != k)
                for (int64_t j = 0; j < m; j++) ldl_swap(&B(k, j), &B(kp, j));
            k -= 1;
        } else {
            for (int64_t i = k + 1; i < n; i++)
                for (int64_t j = 0; j < m; j++) {
                    B(k, j) -= X(i, k) * B(i, j);
                    B(k - 1, j) -= X(i, k - 1) * B(i, j);
                }
            int64_t kp = -piv[k] - 1;
            if (kp != k)
                for (int64_t j = 0; j < m; j++) ldl_swap(&B(k, j), &B(kp, j));
            k -= 2;
        }
    }
#undef B
}

static bool ldl_float_matrices(const char *op, const char *what, nl_tensor *a) {
    if (!a) { nl_set_error("%s: expected a tensor as %s, got nil", op, what); return false; }
    if (a->dtype != NL_FLOAT32 && a->dtype != NL_FLOAT64) {
        nl_set_error("%s: expected a float32 or float64 tensor as %s, got %s %s", op, what, nl_dtype_name(a->dtype),
                     nl_shape_str(a));
        return false;
    }
    if (a->ndim < 2) {
        nl_set_error("%s: %s must have at least 2 dims, got shape %s", op, what, nl_shape_str(a));
        return false;
    }
    return true;
}

static void ldl_load(double *dst, const nl_tensor *c, int64_t b, int64_t len) {
    if (c->dtype == NL_FLOAT64) memcpy(dst, (const double *)c->data + b * len, (size_t)len * sizeof(double));
    else for (int64_t i = 0; i < len; i++) dst[i] = ((const float *)c->data)[b * len + i];
}

static void ldl_store(nl_tensor *t, int64_t b, const double *src, int64_t len) {
    if (t->dtype == NL_FLOAT64) memcpy((double *)t->data + b * len, src, (size_t)len * sizeof(double));
    else for (int64_t i = 0; i < len; i++) ((float *)t->data)[b * len + i] = (float)src[i];
}

nl_tensor *nl_linalg_ldl_factor(nl_tensor *a, int check, nl_tensor **pivots, nl_tensor **info) {
    const char *op = "linalg.ldl_factor";
    if (pivots) *pivots = NULL;
    if (info) *info = NULL;
    NL_CHECK(pivots, "%s: pivots is required", op);
    if (!ldl_float_matrices(op, "A", a)) return NULL;
    int64_t n = a->sizes[a->ndim - 1];
    NL_CHECK(a->sizes[a->ndim - 2] == n, "%s: A must be batches of square matrices (..., n, n), got shape %s", op,
             nl_shape_str(a));
    int64_t batch = 1;
    for (int i = 0; i < a->ndim - 2; i++) batch *= a->sizes[i];
    nl_tensor *c = nl_contiguous_raw(a);
    if (!c) return NULL;
    nl_tensor *ld = nl_tensor_alloc(op, a->ndim, a->sizes, a->dtype);
    nl_tensor *piv = nl_tensor_alloc(op, a->ndim - 1, a->sizes, NL_INT64);
    nl_tensor *inf = nl_tensor_alloc(op, a->ndim - 2, a->sizes, NL_INT64);
    double *x = malloc((size_t)(n * n + 1) * sizeof(double));
    if (!ld || !piv || !inf || !x) {
        free(x);
        nl_release(c);
        nl_release(ld);
        nl_release(piv);
        nl_release(inf);
        if (ld && piv && inf) nl_set_error("%s: out of memory for A of shape %s", op, nl_shape_str(a));
        return NULL;
    }
    int64_t *pv = piv->data, *iv = inf->data, bad = -1;
    for (int64_t b = 0; b < batch; b++) {
        ldl_load(x, c, b, n * n);
        iv[b] = ldl_factor_one(x, pv + b * n, n);
        if (iv[b] > 0 && bad < 0) bad = b;
        for (int64_t i = 0; i < n; i++)          /* the strict upper triangle zero, as PyTorch's */
            for (int64_t j = i + 1; j < n; j++) X(i, j) = 0;
        ldl_store(ld, b, x, n * n);
    }
    free(x);
    nl_release(c);
    if (check && bad >= 0) {
        nl_set_error("%s: A %s is singular: D[%lld,%lld] is zero (batch element %lld); linalg.ldl_factor_ex "
                     "gives the factors with info instead", op, nl_shape_str(a), (long long)iv[bad],
                     (long long)iv[bad], (long long)bad + 1);
        nl_release(ld);
        nl_release(piv);
        nl_release(inf);
        return NULL;
    }
    *pivots = piv;
    if (info) *info = inf;
    else nl_release(inf);
    return ld;
}

nl_tensor *nl_linalg_ldl_solve(nl_tensor *ld, nl_tensor *pivots, nl_tensor *b) {
    const char *op = "linalg.ldl_solve";
    if (!ldl_float_matrices(op, "LD", ld) || !ldl_float_matrices(op, "B", b)) return NULL;
    NL_CHECK_TENSOR(op, pivots);
    int64_t n = ld->sizes[ld->ndim - 1], m = b->sizes[b->ndim - 1];
    NL_CHECK(ld->sizes[ld->ndim - 2] == n, "%s: LD must be batches of square matrices (..., n, n), got shape %s", op,
             nl_shape_str(ld));
    NL_CHECK(pivots->dtype == NL_INT64, "%s: pivots must be int64, got %s %s", op, nl_dtype_name(pivots->dtype),
             nl_shape_str(pivots));
    NL_CHECK(ld->dtype == b->dtype, "%s: LD (%s %s) and B (%s %s) must have one dtype", op,
             nl_dtype_name(ld->dtype), nl_shape_str(ld), nl_dtype_name(b->dtype), nl_shape_str(b));
    bool fit = b->ndim == ld->ndim && pivots->ndim == ld->ndim - 1 && b->sizes[b->ndim - 2] == n;
    for (int i = 0; fit && i < ld->ndim - 2; i++) fit = b->sizes[i] == ld->sizes[i] && pivots->sizes[i] == ld->sizes[i];
    fit = fit && pivots->sizes[pivots->ndim - 1] == n;
    NL_CHECK(fit, "%s: LD %s, pivots and B %s do not fit (LD (..., n, n), pivots (..., n), B (..., n, k))", op,
             nl_shape_str(ld), nl_shape_str(b));
    int64_t batch = 1;
    for (int i = 0; i < ld->ndim - 2; i++) batch *= ld->sizes[i];
    nl_tensor *lc = nl_contiguous_raw(ld);
    nl_tensor *bc = lc ? nl_contiguous_raw(b) : NULL;
    nl_tensor *pc = bc ? nl_contiguous_raw(pivots) : NULL;
    nl_tensor *out = pc ? nl_tensor_alloc(op, b->ndim, b->sizes, b->dtype) : NULL;
    double *x = malloc((size_t)(n * n + n * m + 1) * sizeof(double));
    if (!out || !x) {
        free(x);
        nl_release(lc);
        nl_release(bc);
        nl_release(pc);
        nl_release(out);
        if (out) nl_set_error("%s: out of memory for B of shape %s", op, nl_shape_str(b));
        return NULL;
    }
    double *y = x + n * n;
    const int64_t *pv = pc->data;
    for (int64_t bi = 0; bi < batch; bi++) {
        const int64_t *p = pv + bi * n;
        bool ok = true;
        for (int64_t k = 0; k < n && ok; k++) {
            /* (no llabs: that of INT64_MIN overflowed and passed, and its
             * row -INT64_MIN - 1 was read and swapped far outside B) */
            ok = p[k] != 0 && p[k] >= -n && p[k] <= n;
            if (ok && p[k] < 0) {       /* a 2 x 2 block: the pair's second entry is the same */
                ok = k + 1 < n && p[k + 1] == p[k];
                k++;
            }
        }
        if (!ok) {
            nl_set_error("%s: pivots of batch element %lld are not ldl_factor's (each from 1 to n, or its negative)",
                         op, (long long)bi + 1);
            free(x);
            nl_release(lc);
            nl_release(bc);
            nl_release(pc);
            nl_release(out);
            return NULL;
        }
        ldl_load(x, lc, bi, n * n);
        ldl_load(y, bc, bi, n * m);
        ldl_solve_one(x, p, y, n, m);
        ldl_store(out, bi, y, n * m);
    }
    free(x);
    nl_release(lc);
    nl_release(bc);
    nl_release(pc);
    return out;
}
