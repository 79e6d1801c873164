/* special_kernels.c — torch.special's Airy function, Bessel functions of the
 * second kind, modified and spherical Bessel functions, and orthogonal
 * polynomials, in double, for ops_math.c's nl_math and nl_math2. Written
 * from the functions' definitions and expansions (DLMF chapters 9, 10, 18)
 * and 1.13's observed edge values; no gradients here (1.13 has none). */
#include "special_kernels.h"

#include <math.h>
#include <stdint.h>

#define EULER_GAMMA 0.57721566490153286061
#define AI0 0.35502805388781723926    /* Ai(0) = 3^(-2/3) / Gamma(2/3) */
#define AIP0 -0.25881940379280679840  /* Ai'(0) = -3^(-1/3) / Gamma(1/3) */

/* ---- modified Bessel functions ------------------------------------------ */

/* I_n(x), n 0 or 1, from ops_math.c's e^-|x| I_n(|x|); exp split in two
 * beyond 700, where I_n is finite but e^x is not */
static double bessel_i(int n, double x) {
    if (isnan(x) || isinf(x)) return NAN;   /* (1.13's, at +-inf) */
    if (x == 0) return n ? 0 : 1;
    double ax = fabs(x), ie = nl_bessel_ie(n, ax), r;
    if (ax <= 700) {
        r = ie * exp(ax);
    } else {
        double e = exp(ax / 2);
        r = ie * e * e;
    }
    return n && x < 0 ? -r : r;
}

/* K_n(x) e^x, n 0 or 1, 0 < x <= 1: DLMF 10.31.2 and 10.31.1 with
 * psi(k + 1) = H_k - gamma, q = x^2 / 4:
 *   K_0 = -(ln(x/2) + gamma) I_0 + sum H_k q^k / k!^2
 *   K_1 = 1/x + (ln(x/2) + gamma) I_1 - x/4 sum (2 H_k + 1/(k+1)) q^k / (k! (k+1)!)
 * (the terms fall below 1e-18 by k = 12) */
static double k_series(int n, double x) {
    double q = x * x / 4, lg = log(x / 2) + EULER_GAMMA;
    double i = 0, s = 0, term = 1, h = 0;   /* term: q^k / (k! (k+n)!) */
    for (int k = 0; k < 40; k++) {
        if (k > 0) {
            term *= q / ((double)k * (k + n));
            h += 1.0 / k;
        }
        i += term;
        s += (n ? 2 * h + 1.0 / (k + 1) : h) * term;
        if (term < 1e-18 * i) break;
    }
    double r = n ? 1 / x + lg * (x / 2) * i - x / 4 * s : -lg * i + s;
    return r * exp(x);
}

/* K_nu(x) e^x, x > 0: e^x K_nu(x) = int_0^inf e^(-2x sinh^2(t/2)) cosh(nu t) dt
 * (DLMF 10.32.9) by the trapezoidal rule. The integrand is analytic and
 * decays double-exponentially; its size at Im t = d grows by
 * e^(x (1 - cos d)) relative to the real line, so the rule's error falls
 * as e^(-2 pi d/h + x (1 - cos d)): with h = 1/5 and d = pi/2 below
 * e^-43 up to x = 6, with h = 1/(2 sqrt x) and d = 4 pi/sqrt(x) beyond
 * as e^(-8 pi^2). Some 20 to 100 points. */
static double k_scaled_quad(double nu, double x) {
    double h = fmin(0.2, 0.5 / sqrt(x)), sum = 0.5;
    for (int k = 1; k < 4000; k++) {
        double t = k * h, s = sinh(t / 2);
        double f = exp(-2 * x * s * s) * cosh(nu * t);
        sum += f;
        if (f < 1e-18 * sum) break;
    }
    return h * sum;
}

/* K_n(x) e^x (scaled) or K_n(x), n 0 or 1 */
static double bessel_k(int n, double x, int scaled) {
    if (isnan(x) || x < 0) return NAN;
    if (x == 0) return INFINITY;
    if (isinf(x)) return 0;
    double ks = x <= 1 ? k_series(n, x) : k_scaled_quad(n, x);
    if (scaled) return ks;
    if (x <= 700) return ks * exp(-x);
    double e = exp(-x / 2);
    return ks * e * e;   /* (one rounding into the subnormals) */
}

/* ---- Bessel functions of the second kind, spherical j0 -------------------- */

/* glibc's y0 and y1 (libm); 1.13 gives NaN at +inf and below 0, -inf at 0 */
static double bessel_y(int n, double x) {
    if (isnan(x) || isinf(x) || x < 0) return NAN;
    if (x == 0) return -INFINITY;
    return n ? y1(x) : y0(x);
}

static double spherical_j0(double x) {
    if (isinf(x)) return 0;
    if (x == 0) return 1;
    return sin(x) / x;
}

/* ---- Airy Ai -------------------------------------------------------------- */

/* zeta = 2/3 x^(3/2), x > 0, as hi + lo (double-double), so that e^-zeta
 * and cos(zeta) keep their relative accuracy out to zeta ~ 1e4 */
static void airy_zeta(double x, double *hi, double *lo) {
    double s = sqrt(x), s_lo = fma(-s, s, x) / (2 * s);
    double p = x * s, p_lo = fma(x, s, -p) + x * s_lo;   /* x^(3/2) */
    double z = 2 * p / 3, rem = fma(-z, 3, 2 * p);       /* 2p - 3z, exact */
    *hi = z;
    *lo = (rem + 2 * p_lo) / 3;
}

/* Ai(x), -9.5 <= x <= 1: Taylor steps of Ai'' = x Ai from Ai(0) and Ai'(0),
 * b_k = a_k h^k of the series about x0 obeying
 * (k+2)(k+1) b_(k+2) = x0 h^2 b_k + h^3 b_(k-1); steps of at most 1/2
 * (for |x| <= 1/2 this is the Maclaurin series). Both solutions are
 * bounded for x < 0, so the steps add no growth; for 0 < x <= 1 Bi grows
 * by at most e^(4/3). */
static double airy_taylor(double x) {
    int steps = (int)ceil(fabs(x) / 0.5);
    if (steps < 1) steps = 1;
    double h = x / steps, x0 = 0, y = AI0, dy = AIP0;
    for (int s = 0; s < steps; s++) {
        /* bm1, b0, b1: b_(k-1), b_k, b_(k+1); ny = Ai(x0 + h), ndy = h Ai'(x0 + h) */
        double bm1 = 0, b0 = y, b1 = h * dy, ny = b0 + b1, ndy = b1;
        for (int k = 0; k < 80; k++) {
            double b2 = (x0 * h * h * b0 + h * h * h * bm1) / ((k + 2.0) * (k + 1));
            ny += b2;
            ndy += (k + 2) * b2;
            bm1 = b0;
            b0 = b1;
            b1 = b2;
            double mag = fabs(bm1) + fabs(b0) + fabs(b1);
            if (k > 2 && mag < 1e-18 * (fabs(ny) + fabs(ndy))) break;
        }
        x0 += h;
        y = ny;
        dy = ndy / h;
    }
    return y;
}

/* Ai(-z), z >= 9.5 (zeta >= 19.5): DLMF 9.7.9,
 *   Ai(-z) ~ z^(-1/4)/sqrt(pi) (cos(zeta - pi/4) sum (-1)^k u_2k zeta^-2k
 *                               + sin(zeta - pi/4) sum (-1)^k u_2k+1 zeta^-2k-1),
 * u_k = u_(k-1) (6k-5)(6k-3)(6k-1) / ((2k-1) 216 k) (DLMF 9.7.2), summed to
 * the smallest term (~e^-2zeta); cos and sin of zeta - pi/4 from zeta's
 * double-double, ((cos zeta + sin zeta), (sin zeta - cos zeta)) / sqrt 2 */
static double airy_neg(double z) {
    double zh, zl;
    airy_zeta(z, &zh, &zl);
    double a = 1, b = 0, u = 1, r = 1 / zh, last = INFINITY;
    for (int k = 1; k < 200; k++) {
        double next = u * (6.0 * k - 5) * (6.0 * k - 3) * (6.0 * k - 1) / ((2.0 * k - 1) * 216 * k) * r;
        if (fabs(next) >= last) break;
        last = fabs(next);
        u = next;   /* u_k zeta^-k */
        switch (k % 4) {
        case 1: b += u; break;
        case 2: a -= u; break;
        case 3: b -= u; break;
        default: a += u; break;
        }
        if (last < 1e-18) break;
    }
    double ch = cos(zh), sh = sin(zh);
    double c = ch - sh * zl, s = sh + ch * zl;
    return (c * (a - b) + s * (a + b)) / (sqrt(2 * M_PI) * sqrt(sqrt(z)));
}

/* Ai(x), x > 1: Ai(x) = sqrt(x/3)/pi K_1/3(zeta) (DLMF 9.6.1), zeta's
 * e^-zeta from its double-double */
static double airy_pos(double x) {
    double zh, zl;
    airy_zeta(x, &zh, &zl);
    double r = sqrt(x / 3) / M_PI * k_scaled_quad(1.0 / 3, zh) * (1 - zl);
    if (zh <= 700) return r * exp(-zh);
    double e = exp(-zh / 2);
    return r * e * e;
}

static double airy_ai(double x) {
    if (isnan(x) || isinf(x)) return NAN;   /* (1.13's, at +-inf) */
    if (x > 1) return airy_pos(x);
    if (x >= -9.5) return airy_taylor(x);
    return airy_neg(-x);
}

double nl_special_bessel(int op, double x) {
    switch (op) {
    case NL_OP_AIRY_AI: return airy_ai(x);
    case NL_OP_BESSEL_Y0: return bessel_y(0, x);
    case NL_OP_BESSEL_Y1: return bessel_y(1, x);
    case NL_OP_MODIFIED_BESSEL_I0: return bessel_i(0, x);
    case NL_OP_MODIFIED_BESSEL_I1: return bessel_i(1, x);
    case NL_OP_MODIFIED_BESSEL_K0: return bessel_k(0, x, 0);
    case NL_OP_MODIFIED_BESSEL_K1: return bessel_k(1, x, 0);
    case NL_OP_SCALED_MODIFIED_BESSEL_K0: return bessel_k(0, x, 1);
    case NL_OP_SCALED_MODIFIED_BESSEL_K1: return bessel_k(1, x, 1);
    default: return spherical_j0(x);
    }
}

/* ---- orthogonal polynomials ----------------------------------------------- */

/* n truncated toward 0; NaN, +-inf and n beyond int64 give -1 (0 below),
 * as 1.13's (x86's conversion gives INT64_MIN there) */
static int64_t degree(double n) {
    if (!(n > -9.2233720368547758e18 && n < 9.2233720368547758e18)) return -1;
    return (int64_t)n;
}

/* Chebyshev's four kinds (DLMF 18.3, 18.9.1): p_0 = 1, p_1 = 2x - c
 * (T: x; U: 2x; V: 2x - 1; W: 2x + 1), p_(k+1) = 2x p_k - p_(k-1); for
 * |x| < 1 and n > 6 their trigonometric forms at x = cos t (DLMF 18.5.1,
 * 18.5.2 and, for V and W, (cos, sin)((n + 1/2) t) / (cos, sin)(t/2));
 * at x = +-1 their closed values. kind: 0 T, 1 U, 2 V, 3 W */
static double chebyshev(int kind, double x, int64_t n) {
    if (n < 0) return 0;
    double odd = n % 2 ? -1 : 1;
    if (x == 1) return kind == 0 || kind == 2 ? 1 : kind == 1 ? n + 1.0 : 2.0 * n + 1;
    if (x == -1) return odd * (kind == 0 || kind == 3 ? 1 : kind == 1 ? n + 1.0 : 2.0 * n + 1);
    if (n > 6 && fabs(x) < 1) {
        double t = acos(x), m = (double)n;
        switch (kind) {
        case 0: return cos(m * t);
        case 1: return sin((m + 1) * t) / sin(t);
        case 2: return cos((m + 0.5) * t) / cos(t / 2);
        default: return sin((m + 0.5) * t) / sin(t / 2);
        }
    }
    if (n == 0) return 1;
    double p = 1, q = kind == 0 ? x : kind == 1 ? 2 * x : kind == 2 ? 2 * x - 1 : 2 * x + 1;
    for (int64_t k = 1; k < n && !isnan(q); k++) {
        double r = 2 * x * q - p;
        p = q;
        q = r;
    }
    return q;
}

/* H_n (physicists'): H_(k+1) = 2x H_k - 2k H_(k-1); He_n (probabilists'):
 * He_(k+1) = x He_k - k He_(k-1) (DLMF 18.9.1) */
static double hermite(int prob, double x, int64_t n) {
    if (n < 0) return 0;
    if (n == 0) return 1;
    double c = prob ? 1 : 2, p = 1, q = c * x;
    for (int64_t k = 1; k < n && !isnan(q); k++) {
        double r = c * (x * q - k * p);
        p = q;
        q = r;
    }
    return q;
}

/* L_n: (k+1) L_(k+1) = (2k + 1 - x) L_k - k L_(k-1); L_n(0) = 1 */
static double laguerre(double x, int64_t n) {
    if (n < 0) return 0;
    if (n == 0 || x == 0) return 1;
    double p = 1, q = 1 - x;
    for (int64_t k = 1; k < n && !isnan(q); k++) {
        double r = ((2.0 * k + 1 - x) * q - k * p) / (k + 1.0);
        p = q;
        q = r;
    }
    return q;
}

/* P_n: (k+1) P_(k+1) = (2k+1) x P_k - k P_(k-1); P_n(+-1) = (+-1)^n */
static double legendre(double x, int64_t n) {
    if (n < 0) return 0;
    if (fabs(x) == 1) return x > 0 || n % 2 == 0 ? 1 : -1;
    if (n == 0) return 1;
    double p = 1, q = x;
    for (int64_t k = 1; k < n && !isnan(q); k++) {
        double r = ((2.0 * k + 1) * x * q - k * p) / (k + 1.0);
        p = q;
        q = r;
    }
    return q;
}

double nl_special_poly(int op, double x, double n) {
    int64_t k = degree(n);
    switch (op) {
    case NL_OP_CHEBYSHEV_POLYNOMIAL_T: return chebyshev(0, x, k);
    case NL_OP_CHEBYSHEV_POLYNOMIAL_U: return chebyshev(1, x, k);
    case NL_OP_CHEBYSHEV_POLYNOMIAL_V: return chebyshev(2, x, k);
    case NL_OP_CHEBYSHEV_POLYNOMIAL_W: return chebyshev(3, x, k);
    /* the shifted forms p*_n(x) = p_n(2x - 1) (DLMF 18.7.5 for T) */
    case NL_OP_SHIFTED_CHEBYSHEV_POLYNOMIAL_T: return chebyshev(0, 2 * x - 1, k);
    case NL_OP_SHIFTED_CHEBYSHEV_POLYNOMIAL_U: return chebyshev(1, 2 * x - 1, k);
    case NL_OP_SHIFTED_CHEBYSHEV_POLYNOMIAL_V: return chebyshev(2, 2 * x - 1, k);
    case NL_OP_SHIFTED_CHEBYSHEV_POLYNOMIAL_W: return chebyshev(3, 2 * x - 1, k);
    case NL_OP_HERMITE_POLYNOMIAL_H: return hermite(0, x, k);
    case NL_OP_HERMITE_POLYNOMIAL_HE: return hermite(1, x, k);
    case NL_OP_LAGUERRE_POLYNOMIAL_L: return laguerre(x, k);
    default: return legendre(x, k);
    }
}
