/* special_kernels.h — the double kernels of special_kernels.c, for
 * ops_math.c, and ops_math.c's nl_bessel_ie (e^-x I0 / I1), which
 * modified_bessel_i0 and _i1 read. */
#ifndef NL_SPECIAL_KERNELS_H
#define NL_SPECIAL_KERNELS_H

#include "nnlua.h"

/* op: NL_OP_AIRY_AI .. NL_OP_SPHERICAL_BESSEL_J0, of x */
double nl_special_bessel(int op, double x);
/* op: NL_OP_CHEBYSHEV_POLYNOMIAL_T .. NL_OP_LEGENDRE_POLYNOMIAL_P, of
 * degree n (truncated toward 0, as 1.13's) at x */
double nl_special_poly(int op, double x, double n);
/* e^-x I_n(x), n 0 or 1, x >= 0 (ops_math.c) */
double nl_bessel_ie(int n, double ax);

#endif
