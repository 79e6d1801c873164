/* ops_math.c — PyTorch 1.13's elementwise special functions that the other
 * kernels lack: tan, the inverse and hyperbolic trigonometric functions,
 * log1p, expm1, log2, log10, exp2, erf, erfc, erfinv, lgamma, digamma and
 * polygamma, torch.special's entr, erfcx, i0e, i1, i1e, ndtri, log_ndtr,
 * bessel_j0 and bessel_j1, and the Airy and other Bessel functions of
 * special_kernels.c (nl_math), and atan2, hypot, fmod, remainder,
 * and torch.special's zeta, gammainc, gammaincc and the orthogonal
 * polynomials of special_kernels.c (nl_math2),
 * each with its backward, written in terms of C ops as ops_elementwise.c's
 * are. Not here: what composes from existing ops (sign, logaddexp, xlogy,
 * ndtr, xlog1py, ...), which is Lua's (tensor_more.lua, special.lua). */
#include "internal.h"
#include "special_kernels.h"

#include <math.h>
#include <string.h>

static bool is_special(int op) {
    return (op >= NL_OP_ENTR && op <= NL_OP_BESSEL_J1) || (op >= NL_OP_AIRY_AI && op <= NL_OP_SPHERICAL_BESSEL_J0);
}
static bool is_poly(int op) { return op >= NL_OP_CHEBYSHEV_POLYNOMIAL_T && op <= NL_OP_LEGENDRE_POLYNOMIAL_P; }
static bool is_special2(int op) { return (op >= NL_OP_ZETA && op <= NL_OP_GAMMAINCC) || is_poly(op); }
static bool is_math(int op) { return (op >= NL_OP_TAN && op <= NL_OP_POLYGAMMA) || is_special(op); }
static bool is_math2(int op) { return (op >= NL_OP_ATAN2 && op <= NL_OP_REMAINDER) || is_special2(op); }

/* ---- erfinv, digamma, trigamma, Hurwitz zeta and polygamma ----
 * Each computed in double, the float variants rounding the result (but
 * for polygamma's n!, and trigamma's poles, in T as PyTorch's):
 * - erfinv: Giles' (2010) single-precision approximation as the first
 *   guess, then Halley steps on erf(x) - y, written as (1 - y) - erfc(x)
 *   above 1/2 (1 - y is exact there, erfc keeps its relative accuracy);
 * - digamma and trigamma: the recurrences psi(x) = psi(x + 1) - 1/x and
 *   psi1(x) = psi1(x + 1) + 1/x^2 up to x >= 10 (six steps for psi1),
 *   then their asymptotic series in the Bernoulli numbers B_2 .. B_24
 *   (B_6 for psi1, as PyTorch's, see trigamma_half); digamma within 0.1
 *   of its positive root the Taylor series there; the reflections
 *   psi(x) = psi(1 - x) - pi cot(pi x) and psi1(x) = pi^2 / sin^2(pi x)
 *   - psi1(1 - x) below 0 (below 1/2 for psi1), with cot and sin of x's
 *   distance to the nearest integer;
 * - zeta(s, q) = sum_k (q + k)^-s: the terms directly until q + k >=
 *   s + 10 (or the rest is negligible), then the Euler-Maclaurin
 *   tail in B_2 .. B_24; for q < 0 (s whole) the negative terms first
 *   (more than 1024 of them as a difference of two zetas of positive q);
 * - polygamma(n, x) = (-1)^(n+1) n! zeta(n + 1, x), digamma and trigamma
 *   for n 0 and 1.
 * The values at poles, at the infinities and outside the domains are
 * PyTorch 1.13's (observed). */

/* B_2k, k = 1 .. 12 (the Bernoulli numbers) */
static const double BERNOULLI[12] = { 1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6,
                                      -3617.0 / 510, 43867.0 / 798, -174611.0 / 330, 854513.0 / 138,
                                      -236364091.0 / 2730 };

/* NaN outside [-1, 1], +-inf at +-1 */
static double erfinv_d(double y) {
    double ay = fabs(y);
    if (!(ay <= 1)) return NAN;
    if (ay == 1) return copysign(INFINITY, y);
    if (ay == 0) return y;
    /* Giles, "Approximating the erfinv function" (GPU Computing Gems,
     * 2010), its single-precision one: relative error ~1e-7 up to 1 -
     * 1e-7, a few percent at 1 - 1e-16, where the Halley steps take
     * longer */
    double w = ay < 0.5 ? -log1p(-ay * ay) : -log((1 - ay) * (1 + ay)), p;
    if (w < 5) {
        static const double c[9] = { 2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                                     -0.00125372503, -0.00417768164, 0.246640727, 1.50140941 };
        w -= 2.5;
        p = c[0];
        for (int i = 1; i < 9; i++) p = p * w + c[i];
    } else {
        static const double c[9] = { -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                                     -0.0076224613, 0.00943887047, 1.00167406, 2.83297682 };
        w = sqrt(w) - 3;
        p = c[0];
        for (int i = 1; i < 9; i++) p = p * w + c[i];
    }
    double x = p * ay;
    /* Halley on f = erf(x) - y: f' = 2/sqrt(pi) e^-x^2, f''/f' = -2x, so
     * the step is u / (1 + x u), u = f / f' */
    for (int i = 0; i < 12; i++) {
        double f = ay <= 0.5 ? erf(x) - ay : (1 - ay) - erfc(x);
        double u = f / (M_2_SQRTPI * exp(-x * x)), step = u / (1 + x * u);
        x -= step;
        if (fabs(step) <= 1e-17 * x) break;
    }
    return copysign(x, y);
}
static float erfinv_float(float y) { return (float)erfinv_d(y); }
static double erfinv_double(double y) { return erfinv_d(y); }

/* -+inf at +-0, NaN at the negative integers and -inf */
static double digamma_d(double x) {
    if (x == 0) return copysign(INFINITY, -x);
    if (x < 0) {
        if (x == floor(x)) return NAN;
        double r = x - nearbyint(x);
        return digamma_d(1 - x) - M_PI / tan(M_PI * r);
    }
    /* within 0.1 of its positive root x0, the Taylor series there (the
     * recurrence's sum would lose the digits to cancellation): c_k =
     * psi^(k)(x0) / k! (mpmath's values), and x0 = X0_HI + X0_LO */
    static const double X0_HI = 1.4616321449683622, X0_LO = 9.549995429965697e-17;
    static const double c[15] = { 0.9676722454476212, -0.44276316898359208, 0.25849976095565103,
                                  -0.16394270544240652, 0.10782405069126237, -0.072199561256454714,
                                  0.04880428816414311, -0.033161126474847362, 0.022597648232218104,
                                  -0.01542476590494896, 0.010538791616612175, -0.0072045343863568687,
                                  0.0049267813957298533, -0.0033698016554393282, 0.002305126326734928 };
    double d = (x - X0_HI) - X0_LO;
    if (fabs(d) < 0.1) {
        double s = 0;
        for (int k = 14; k >= 0; k--) s = s * d + c[k];
        return s * d;
    }
    double acc = 0;
    for (; x < 10; x += 1) acc -= 1 / x;
    /* log x - 1/(2x) - sum_k B_2k / (2k x^2k) */
    double z = 1 / (x * x), s = 0;
    for (int k = 12; k >= 1; k--) s = s * z + BERNOULLI[k - 1] / (2 * k);
    return acc + log(x) - 0.5 / x - s * z;
}
static float digamma_float(float x) { return (float)digamma_d(x); }
static double digamma_double(double x) { return digamma_d(x); }

/* psi1(x) for x >= 1/2 (0 at +inf) with PyTorch 1.13's accuracy, which
 * the float64 goldens (trigamma, and digamma's derivative in many
 * gradients) pin to 1e-10: six recurrence steps, then the asymptotic
 * series 1/x + 1/(2x^2) + sum_k B_2k / x^(2k+1) through B_6. Its error,
 * about the next term B_8 / (x + 6)^9, is PyTorch's: up to 5e-10
 * relative (8e-10 at x = 1, against mpmath) */
static double trigamma_half(double x) {
    double acc = 0;
    for (int i = 0; i < 6; i++, x += 1) acc += 1 / (x * x);
    double z = 1 / (x * x), s = 0;
    for (int k = 3; k >= 1; k--) s = s * z + BERNOULLI[k - 1];
    return acc + 1 / x + 0.5 * z + s * z / x;
}

/* at the poles (0, the negative integers) PyTorch's value, pi^2 /
 * sin^2(pi x) with pi x rounded in T: +inf at 0, large but finite below
 * (6.6e32 at -1 in double), NaN at -inf; below 1/2 the reflection */
#define TRIGAMMA(T, SIN)                                                      \
    static T trigamma_##T(T x) {                                              \
        if (x <= 0 && x == floor(x)) {                                        \
            T sn = SIN((T)M_PI * x);                                          \
            return (T)M_PI * (T)M_PI / (sn * sn);                             \
        }                                                                     \
        if (!(x < (T)0.5)) return (T)trigamma_half(x);                        \
        double sn = sin(M_PI * ((double)x - nearbyint(x)));                   \
        return (T)(M_PI * M_PI / (sn * sn) - trigamma_half(1 - (double)x));  \
    }
TRIGAMMA(float, sinf)
TRIGAMMA(double, sin)

/* sum0 + zeta(s, q) for s > 1 and q > 0, finite: the first terms (all,
 * where the rest falls below eps of the sum), then from a = q + N on
 * a^(1-s)/(s-1) + a^-s/2 + sum_j B_2j/(2j)! s (s+1) .. (s+2j-2) a^(-s-2j+1)
 * (sum0 first, so that terms of the other sign cancel before the rest) */
static double hurwitz_pos(double s, double q, double sum0) {
    const double eps = 0x1p-54, bound = s + 10;
    double sum = sum0, a = q, t;
    for (;; a += 1) {
        t = pow(a, -s);
        if (a >= bound) break;
        /* the rest, from a on, is at most t (1 + a / (s - 1)) */
        if (t * (1 + a / (s - 1)) <= eps * fabs(sum)) return sum;
        sum += t;
    }
    if (t == 0) return sum;
    sum += t * a / (s - 1) + 0.5 * t;
    /* c: s (s+1) .. (s+2j-2) / (2j)!, r: a^(-s-2j+1) */
    double c = s / 2, r = t / a;
    for (int j = 1; j <= 12; j++) {
        double term = BERNOULLI[j - 1] * c * r;
        sum += term;
        if (fabs(term) <= eps * fabs(sum)) break;
        c *= (s + 2 * j - 1) * (s + 2 * j) / ((2.0 * j + 1) * (2 * j + 2));
        r /= a * a;
    }
    return sum;
}

/* Hurwitz zeta(s, q), with PyTorch's (Cephes') values: +inf at s = 1 and
 * at q a whole number <= 0 (-inf included), NaN for s < 1 and for q < 0
 * with s not whole; at s = +inf 1 for q = 1, +inf below, NaN above */
static double zeta(double s, double q) {
    if (s == 1) return INFINITY;
    if (s < 1) return NAN;
    if (q <= 0) {
        if (q == floor(q)) return INFINITY;
        if (s != floor(s)) return NAN;
    }
    if (isnan(s) || isnan(q) || q == INFINITY) return NAN;
    if (s == INFINITY) return q < 1 ? INFINITY : q == 1 ? 1 : NAN;
    if (q > 0) return hurwitz_pos(s, q, 0);
    /* q < 0, s whole: the m terms below 0, then zeta(s, q + m); more than
     * 1024 of them are -(u + j), j < m, u = -(q + m - 1) in (0, 1), which
     * sum to (-1)^s (zeta(s, u) - zeta(s, u + m)) */
    double m = ceil(-q), neg = 0;
    if (m <= 1024) {
        for (double k = 0; k < m; k++) neg += pow(q + k, -s);
    } else {
        double u = -(q + (m - 1));
        neg = (fmod(s, 2) == 0 ? 1 : -1) * (hurwitz_pos(s, u, 0) - hurwitz_pos(s, u + m, 0));
    }
    return hurwitz_pos(s, q + m, neg);
}

/* n! in double, zeta rounded to T first, as PyTorch's (float: 0 where
 * zeta underflows, inf past float's range, NaN from n = 171 where zeta
 * underflows) */
#define POLYGAMMA(T)                                                          \
    static T polygamma_##T(T x, int64_t n) {                                  \
        if (n == 0) return digamma_##T(x);                                    \
        if (n == 1) return trigamma_##T(x);                                   \
        double sg = n % 2 ? 1 : -1;                                           \
        return (T)(sg * tgamma((double)n + 1) * (double)(T)zeta((double)n + 1, (double)x)); \
    }
POLYGAMMA(float)
POLYGAMMA(double)

static inline float lgamma_float(float x) { int sg; return lgammaf_r(x, &sg); }
static inline double lgamma_double(double x) { int sg; return lgamma_r(x, &sg); }

/* ---- torch.special's functions, in double (float32 rounds the result) ---- */

static const double SQRT_PI = 1.77245385090551602729, SQRT_2PI = 2.50662827463100050242;

/* -x log x; 0 at 0, -inf below 0 */
static double entr_d(double x) {
    if (isnan(x)) return x;
    if (x > 0) return -x * log(x);
    return x == 0 ? 0 : -INFINITY;
}

/* exp(x^2), x^2 split as hi^2 (exact: hi has 24 bits) + the rest, so
 * that the rounding of x^2 does not scale the result */
static double exp_sq(double x) {
    double hi = (double)(float)x, lo = x - hi;
    return exp(hi * hi) * exp(lo * (2 * hi + lo));
}

/* exp(x^2) erfc(x): the product where erfc is far from underflow, the
 * Laplace continued fraction above; reflected below 0 */
static double erfcx_d(double x) {
    if (isnan(x)) return x;
    if (x < 0) return x < -26.7 ? INFINITY : 2 * exp_sq(x) - erfcx_d(-x);
    if (x < 12) return exp_sq(x) * erfc(x);
    double t = x;
    for (int k = 120; k >= 1; k--) t = x + 0.5 * k / t;
    return 1 / (SQRT_PI * t);
}

/* e^-|x| I_n(|x|), n 0 or 1: the power series (all terms positive) up to
 * 30, the asymptotic series beyond (its smallest term there ~e^-60) */
double nl_bessel_ie(int n, double ax) {
    const double eps = 1e-17;
    if (isinf(ax)) return 0;
    if (ax <= 30) {
        double h = ax / 2, q = h * h, term = n ? h : 1, sum = term;
        for (int k = 1; k < 500; k++) {
            term *= q / ((double)k * (k + n));
            sum += term;
            if (term < eps * sum) break;
        }
        return sum * exp(-ax);
    }
    double mu = 4.0 * n * n, term = 1, sum = 1;
    for (int k = 1; k < 200; k++) {
        double next = -term * (mu - (2.0 * k - 1) * (2.0 * k - 1)) / (8.0 * k * ax);
        if (fabs(next) >= fabs(term)) break;
        term = next;
        sum += term;
        if (fabs(term) < eps * fabs(sum)) break;
    }
    return sum / sqrt(2 * M_PI * ax);
}
static double i0e_d(double x) { return isnan(x) ? x : nl_bessel_ie(0, fabs(x)); }
static double i1e_d(double x) { return isnan(x) ? x : copysign(nl_bessel_ie(1, fabs(x)), x); }
/* (+-inf gives NaN, as PyTorch's i1e(x) e^|x|) */
static double i1_d(double x) {
    if (isnan(x) || isinf(x)) return NAN;
    return copysign(nl_bessel_ie(1, fabs(x)) * exp(fabs(x)), x);
}

/* Phi(x), accurate in the lower tail */
static double ndtr_d(double x) { return 0.5 * erfc(-x * M_SQRT1_2); }

/* Phi^-1(p): Abramowitz and Stegun 26.2.23 for the tail at or below 1/2
 * (error < 4.5e-4), then Halley steps on Phi (f''/f' = -x) */
static double ndtri_d(double p) {
    if (isnan(p) || p < 0 || p > 1) return NAN;
    if (p == 0) return -INFINITY;
    if (p == 1) return INFINITY;
    if (p == 0.5) return 0;
    double q = p > 0.5 ? 1 - p : p, t = sqrt(-2 * log(q));
    double x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) / (1 + t * (1.432788 + t * (0.189269 + t * 0.001308))));
    for (int i = 0; i < 4; i++) {
        double phi = exp(-0.5 * x * x) / SQRT_2PI;
        if (phi == 0) break;
        double u = (ndtr_d(x) - q) / phi;
        x -= u / (1 + 0.5 * x * u);
    }
    return p > 0.5 ? -x : x;
}

/* log Phi(x), PyTorch's split: through erfcx below -1 */
static double log_ndtr_d(double x) {
    if (x < -1) return log(erfcx_d(-x * M_SQRT1_2) / 2) - 0.5 * x * x;
    return log1p(-0.5 * erfc(x * M_SQRT1_2));
}

/* sin(2 pi j / 64), j = 0 .. 16: the nodes of bessel_j's trapezoid rule
 * in its first quarter period */
static const double bessel_nodes[17] = {
    0, 0.098017140329560604, 0.19509032201612825, 0.29028467725446233, 0.38268343236508978,
    0.47139673682599764, 0.55557023301960218, 0.63439328416364549, 0.70710678118654746, 0.77301045336273699,
    0.83146961230254524, 0.88192126434835494, 0.92387953251128674, 0.95694033573220894, 0.98078528040323043,
    0.99518472667219682, 1
};

/* J_n(x), n 0 or 1 (+-inf gives NaN, as PyTorch's): the trapezoid rule
 * with 64 nodes on Bessel's integral, periodic (its error ~J_64(25) <
 * 1e-18), up to 25, folded onto the quarter period by its symmetries:
 * J0 = mean of cos(x sin t), J1 = mean of sin t sin(x sin t); Hankel's
 * asymptotic series beyond (its smallest term ~e^-50 there) */
static double bessel_j(int n, double x) {
    if (isnan(x)) return x;
    double ax = fabs(x), sg = n && x < 0 ? -1 : 1;
    if (isinf(ax)) return NAN;   /* (PyTorch's, cos and sin of inf) */
    if (ax == 0) return n ? x : 1;
    if (ax <= 25) {
        double s = n ? 2 * sin(ax) : 2 + 2 * cos(ax);
        for (int j = 1; j < 16; j++) {
            double sj = bessel_nodes[j];
            s += 4 * (n ? sj * sin(ax * sj) : cos(ax * sj));
        }
        return sg * s / 64;
    }
    double mu = 4.0 * n * n, a = 1, P = 1, Q = 0;
    for (int k = 1; k < 200; k++) {
        double next = a * (mu - (2.0 * k - 1) * (2.0 * k - 1)) / (8.0 * k * ax);
        if (k > 2 && fabs(next) >= fabs(a)) break;
        a = next;
        /* a_k / x^k with the sign (-1)^(k/2), into P (even k) or Q (odd k) */
        double v = (k / 2) % 2 ? -a : a;
        if (k % 2) Q += v; else P += v;
        if (fabs(a) < 1e-17) break;
    }
    double chi = ax - (0.5 * n + 0.25) * M_PI;
    return sg * sqrt(2 / (M_PI * ax)) * (P * cos(chi) - Q * sin(chi));
}

/* the regularized incomplete gamma functions P(a, x) (upper = 0) and
 * Q(a, x) (upper = 1), with Cephes' (PyTorch's) edge values: the power
 * series of P below x = a + 1, the continued fraction of Q (modified
 * Lentz) above; the other as 1 minus it */
static double gammainc_d(double a, double x, int upper) {
    if (isnan(a) || isnan(x) || a < 0 || x < 0) return NAN;
    if (a == 0) return x > 0 ? (double)!upper : NAN;
    if (x == 0) return (double)upper;
    if (isinf(a)) return isinf(x) ? NAN : (double)upper;
    if (isinf(x)) return (double)!upper;
    const double eps = 1e-17, tiny = 1e-300;
    int sg;
    double pre = exp(a * log(x) - x - lgamma_r(a, &sg));
    if (x < a + 1) {
        double ap = a, term = 1 / a, sum = term;
        for (int k = 0; k < 100000; k++) {
            ap += 1;
            term *= x / ap;
            sum += term;
            if (fabs(term) < eps * fabs(sum)) break;
        }
        double p = pre * sum;
        return upper ? 1 - p : p;
    }
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps) break;
    }
    double q = pre * h;
    return upper ? q : 1 - q;
}

static double special_d(int op, double x) {
    switch (op) {
    case NL_OP_ENTR: return entr_d(x);
    case NL_OP_ERFCX: return erfcx_d(x);
    case NL_OP_I0E: return i0e_d(x);
    case NL_OP_I1: return i1_d(x);
    case NL_OP_I1E: return i1e_d(x);
    case NL_OP_NDTRI: return ndtri_d(x);
    case NL_OP_LOG_NDTR: return log_ndtr_d(x);
    case NL_OP_BESSEL_J0: return bessel_j(0, x);
    case NL_OP_BESSEL_J1: return bessel_j(1, x);
    default: return nl_special_bessel(op, x);
    }
}
static double special2_d(int op, double x, double y) {
    switch (op) {
    case NL_OP_ZETA: return zeta(x, y);
    case NL_OP_GAMMAINC: return gammainc_d(x, y, 0);
    case NL_OP_GAMMAINCC: return gammainc_d(x, y, 1);
    default: return nl_special_poly(op, x, y);
    }
}

/* ---- forward ---- */

#define M_LOOP(T, EXPR)                                                       \
    do {                                                                      \
        T *o = (T *)p[0];                                                     \
        const T *a = (const T *)p[1];                                         \
        for (int64_t i = 0; i < n; i++) { T x = a[i * s[1]]; o[i * s[0]] = (EXPR); } \
    } while (0)

#define MATH_OPS(T, TAN, ASIN, ACOS, ATAN, SINH, COSH, ASINH, ACOSH, ATANH, LOG1P, EXPM1, LOG2, LOG10, EXP2, \
                 ERF, ERFC)                                                   \
    switch (ctx->op) {                                                        \
    case NL_OP_TAN: M_LOOP(T, TAN(x)); break;                                 \
    case NL_OP_ASIN: M_LOOP(T, ASIN(x)); break;                               \
    case NL_OP_ACOS: M_LOOP(T, ACOS(x)); break;                               \
    case NL_OP_ATAN: M_LOOP(T, ATAN(x)); break;                               \
    case NL_OP_SINH: M_LOOP(T, SINH(x)); break;                               \
    case NL_OP_COSH: M_LOOP(T, COSH(x)); break;                               \
    case NL_OP_ASINH: M_LOOP(T, ASINH(x)); break;                             \
    case NL_OP_ACOSH: M_LOOP(T, ACOSH(x)); break;                             \
    case NL_OP_ATANH: M_LOOP(T, ATANH(x)); break;                             \
    case NL_OP_LOG1P: M_LOOP(T, LOG1P(x)); break;                             \
    case NL_OP_EXPM1: M_LOOP(T, EXPM1(x)); break;                             \
    case NL_OP_LOG2: M_LOOP(T, LOG2(x)); break;                               \
    case NL_OP_LOG10: M_LOOP(T, LOG10(x)); break;                             \
    case NL_OP_EXP2: M_LOOP(T, EXP2(x)); break;                               \
    case NL_OP_ERF: M_LOOP(T, ERF(x)); break;                                 \
    case NL_OP_ERFC: M_LOOP(T, ERFC(x)); break;                               \
    case NL_OP_ERFINV: M_LOOP(T, erfinv_##T(x)); break;                       \
    case NL_OP_LGAMMA: M_LOOP(T, lgamma_##T(x)); break;                       \
    case NL_OP_DIGAMMA: M_LOOP(T, digamma_##T(x)); break;                     \
    case NL_OP_POLYGAMMA: { int64_t k = ctx->order; M_LOOP(T, polygamma_##T(x, k)); break; } \
    }

typedef struct { int op, dtype; int64_t order; int *zero_div; } math_ctx;

static void math_row(const void *vctx, char **p, const int64_t *s, int64_t n) {
    const math_ctx *ctx = vctx;
    if (is_special(ctx->op)) {
        if (ctx->dtype == NL_FLOAT32) M_LOOP(float, (float)special_d(ctx->op, x));
        else M_LOOP(double, special_d(ctx->op, x));
        return;
    }
    if (ctx->dtype == NL_FLOAT32)
        MATH_OPS(float, tanf, asinf, acosf, atanf, sinhf, coshf, asinhf, acoshf, atanhf, log1pf, expm1f, log2f,
                 log10f, exp2f, erff, erfcf)
    else
        MATH_OPS(double, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, log1p, expm1, log2, log10, exp2,
                 erf, erfc)
}

/* t itself (retained) when of dtype, else converted */
static nl_tensor *of_dtype(nl_tensor *t, int dtype) {
    if (t->dtype == dtype) { nl_retain(t); return t; }
    return nl_to_dtype(t, dtype);
}

nl_tensor *nl_math(int op, nl_tensor *a, int64_t order) {
    NL_CHECK(is_math(op), "math: op %s is not one of nl_math's", nl_op_name(op));
    const char *name = nl_op_name(op);
    NL_CHECK_TENSOR(name, a);
    NL_CHECK(op != NL_OP_POLYGAMMA || order >= 0, "polygamma: n must be >= 0, got %lld", (long long)order);
    math_ctx ctx = { op, a->dtype == NL_INT64 ? nl_int_float_dtype(-1) : a->dtype, order, NULL };
    nl_tensor *out = nl_tensor_alloc(name, a->ndim, a->sizes, ctx.dtype);
    nl_tensor *ca = out ? of_dtype(a, ctx.dtype) : NULL;
    if (!ca) { nl_release(out); return NULL; }
    int64_t st[4][8];
    memcpy(st[0], out->strides, sizeof(int64_t) * out->ndim);
    memcpy(st[1], ca->strides, sizeof(int64_t) * ca->ndim);
    nl_iter it;
    nl_iter_init(&it, out->ndim, out->sizes, 2, (nl_tensor *[]){ out, ca }, st);
    nl_for_each_row(&it, 1 << 12, math_row, &ctx);
    nl_release(ca);
    /* (bessel_j0, bessel_j1 and special_kernels.c's have no gradient in
     * PyTorch 1.13) */
    bool no_grad = op == NL_OP_BESSEL_J0 || op == NL_OP_BESSEL_J1 || op >= NL_OP_AIRY_AI;
    nl_node *nd = no_grad ? NULL : nl_record(op, out, 1, &a);
    if (nd) {
        nd->a[0] = order;
        /* backward reads the output where the math allows, else the input;
         * some both */
        bool out_only = op == NL_OP_TAN || op == NL_OP_EXPM1 || op == NL_OP_EXP2 || op == NL_OP_ERFINV ||
                        op == NL_OP_NDTRI;
        bool both = op == NL_OP_ERFCX || op == NL_OP_I0E || op == NL_OP_I1 || op == NL_OP_I1E || op == NL_OP_LOG_NDTR;
        if (out_only || both) nl_node_save_output(nd, out);
        if (!out_only) nd->needs_in = 1;
    }
    return out;
}

#define M2_LOOP(T, EXPR)                                                      \
    do {                                                                      \
        T *o = (T *)p[0];                                                     \
        const T *a = (const T *)p[1], *b = (const T *)p[2];                   \
        for (int64_t i = 0; i < n; i++) { T x = a[i * s[1]], y = b[i * s[2]]; o[i * s[0]] = (EXPR); } \
    } while (0)

/* PyTorch's remainder: fmod's, moved by the divisor where the signs differ */
static inline float remainder_float(float x, float y) {
    float m = fmodf(x, y);
    return m != 0 && (y < 0) != (m < 0) ? m + y : m;
}
static inline double remainder_double(double x, double y) {
    double m = fmod(x, y);
    return m != 0 && (y < 0) != (m < 0) ? m + y : m;
}
/* int64 x % y; y = -1 gives 0 (INT64_MIN % -1 traps); a zero divisor is
 * reported through ctx (0 stored) */
static inline int64_t imod(int64_t x, int64_t y, int *zero_div) {
    if (y == 0) { __atomic_store_n(zero_div, 1, __ATOMIC_RELAXED); return 0; }
    return y == -1 ? 0 : x % y;
}
static inline int64_t iremainder(int64_t x, int64_t y, int *zero_div) {
    int64_t r = imod(x, y, zero_div);
    return r != 0 && (r < 0) != (y < 0) ? r + y : r;
}

static void math2_row(const void *vctx, char **p, const int64_t *s, int64_t n) {
    const math_ctx *ctx = vctx;
    int *zd = ctx->zero_div;
    if (is_special2(ctx->op)) {
        if (ctx->dtype == NL_FLOAT32) M2_LOOP(float, (float)special2_d(ctx->op, x, y));
        else M2_LOOP(double, special2_d(ctx->op, x, y));
        return;
    }
    if (ctx->dtype == NL_FLOAT32) {
        switch (ctx->op) {
        case NL_OP_ATAN2: M2_LOOP(float, atan2f(x, y)); break;
        case NL_OP_HYPOT: M2_LOOP(float, hypotf(x, y)); break;
        case NL_OP_FMOD: M2_LOOP(float, fmodf(x, y)); break;
        case NL_OP_REMAINDER: M2_LOOP(float, remainder_float(x, y)); break;
        }
    } else if (ctx->dtype == NL_FLOAT64) {
        switch (ctx->op) {
        case NL_OP_ATAN2: M2_LOOP(double, atan2(x, y)); break;
        case NL_OP_HYPOT: M2_LOOP(double, hypot(x, y)); break;
        case NL_OP_FMOD: M2_LOOP(double, fmod(x, y)); break;
        case NL_OP_REMAINDER: M2_LOOP(double, remainder_double(x, y)); break;
        }
    } else {
        if (ctx->op == NL_OP_FMOD) M2_LOOP(int64_t, imod(x, y, zd));
        else M2_LOOP(int64_t, iremainder(x, y, zd));
    }
}

nl_tensor *nl_math2(int op, nl_tensor *a, nl_tensor *b) {
    NL_CHECK(is_math2(op), "math2: op %s is not one of nl_math2's", nl_op_name(op));
    const char *name = nl_op_name(op);
    NL_CHECK_TENSOR(name, a);
    NL_CHECK_TENSOR(name, b);
    NL_CHECK(a->dtype == b->dtype, "%s: operands of one dtype expected, got %s and %s", name, nl_dtype_name(a->dtype),
             nl_dtype_name(b->dtype));
    int64_t bs[8];
    int nd = nl_broadcast_shape(a->ndim, a->sizes, b->ndim, b->sizes, bs);
    NL_CHECK(nd >= 0, "%s: shapes %s and %s cannot be broadcast together", name, nl_shape_str(a), nl_shape_str(b));
    bool int_kept = op == NL_OP_FMOD || op == NL_OP_REMAINDER;
    int zero_div = 0;
    math_ctx ctx = { op, a->dtype == NL_INT64 && !int_kept ? nl_int_float_dtype(-1) : a->dtype, 0, &zero_div };
    nl_tensor *out = nl_tensor_alloc(name, nd, bs, ctx.dtype);
    nl_tensor *ca = out ? of_dtype(a, ctx.dtype) : NULL, *cb = ca ? of_dtype(b, ctx.dtype) : NULL;
    if (cb) {
        int64_t st[4][8];
        memcpy(st[0], out->strides, sizeof(int64_t) * nd);
        nl_broadcast_strides(ca, nd, bs, st[1]);
        nl_broadcast_strides(cb, nd, bs, st[2]);
        nl_iter it;
        nl_iter_init(&it, nd, bs, 3, (nl_tensor *[]){ out, ca, cb }, st);
        nl_for_each_row(&it, 1 << 13, math2_row, &ctx);
    }
    nl_release(ca);
    nl_release(cb);
    if (!cb) { nl_release(out); return NULL; }
    if (zero_div) {
        nl_release(out);
        NL_CHECK(0, "%s: integer division by zero (an int64 divisor holds 0)", name);
    }
    /* (the orthogonal polynomials have no gradient in PyTorch 1.13) */
    nl_node *n = is_poly(op) ? NULL : nl_record(op, out, 2, (nl_tensor *[]){ a, b });
    if (n) {
        /* fmod's and remainder's gradient of a is g alone */
        n->needs_in = int_kept && !nl_requires_grad(b) ? 0 : 3;
        if (op == NL_OP_HYPOT) nl_node_save_output(n, out);
    }
    return out;
}

/* ---- backward ----
 * PyTorch 1.13's formulas (derivatives.yaml) in C ops, run as autograd
 * runs every backward. */

static nl_tensor *B(int op, nl_tensor *a, nl_tensor *b) { return nl_binary(op, a, b); }
static nl_tensor *S(int op, nl_tensor *a, double s) { return nl_binary_scalar(op, a, s, 0); }
/* s op a */
static nl_tensor *SF(int op, double s, nl_tensor *a) { return nl_binary_scalar(op, a, s, 1); }

static int math_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *x = n->in[0], *y = n->saved, *f = NULL;   /* f: the derivative, g * f the gradient */
    const double two_over_sqrt_pi = 2.0 / sqrt(M_PI);
    switch (n->op) {
    case NL_OP_TAN: f = TMP(S(NL_OP_ADD, TMP(B(NL_OP_MUL, y, y)), 1)); break;            /* 1 + y^2 */
    case NL_OP_ASIN: case NL_OP_ACOS:                                                  /* +-(1 - x^2)^-1/2 */
        f = TMP(S(NL_OP_POW, TMP(SF(NL_OP_SUB, 1, TMP(B(NL_OP_MUL, x, x)))), -0.5));
        if (n->op == NL_OP_ACOS) f = TMP(nl_unary(NL_OP_NEG, f));
        break;
    case NL_OP_ATAN: f = TMP(SF(NL_OP_DIV, 1, TMP(S(NL_OP_ADD, TMP(B(NL_OP_MUL, x, x)), 1)))); break;
    case NL_OP_SINH: f = TMP(nl_math(NL_OP_COSH, x, 0)); break;
    case NL_OP_COSH: f = TMP(nl_math(NL_OP_SINH, x, 0)); break;
    case NL_OP_ASINH: f = TMP(S(NL_OP_POW, TMP(S(NL_OP_ADD, TMP(B(NL_OP_MUL, x, x)), 1)), -0.5)); break;
    case NL_OP_ACOSH: f = TMP(S(NL_OP_POW, TMP(S(NL_OP_SUB, TMP(B(NL_OP_MUL, x, x)), 1)), -0.5)); break;
    case NL_OP_ATANH: f = TMP(SF(NL_OP_DIV, 1, TMP(SF(NL_OP_SUB, 1, TMP(B(NL_OP_MUL, x, x)))))); break;
    case NL_OP_LOG1P: f = TMP(SF(NL_OP_DIV, 1, TMP(S(NL_OP_ADD, x, 1)))); break;
    case NL_OP_EXPM1: f = TMP(S(NL_OP_ADD, y, 1)); break;
    case NL_OP_LOG2: f = TMP(SF(NL_OP_DIV, 1, TMP(S(NL_OP_MUL, x, M_LN2)))); break;
    case NL_OP_LOG10: f = TMP(SF(NL_OP_DIV, 1, TMP(S(NL_OP_MUL, x, M_LN10)))); break;
    case NL_OP_EXP2: f = TMP(S(NL_OP_MUL, y, M_LN2)); break;
    case NL_OP_ERF: case NL_OP_ERFC:                                                   /* +-2/sqrt(pi) e^-x^2 */
        f = TMP(S(NL_OP_MUL, TMP(nl_unary(NL_OP_EXP, TMP(nl_unary(NL_OP_NEG, TMP(B(NL_OP_MUL, x, x)))))),
                  n->op == NL_OP_ERF ? two_over_sqrt_pi : -two_over_sqrt_pi));
        break;
    case NL_OP_ERFINV:                                                                 /* sqrt(pi)/2 e^y^2 */
        f = TMP(S(NL_OP_MUL, TMP(nl_unary(NL_OP_EXP, TMP(B(NL_OP_MUL, y, y)))), 0.5 * sqrt(M_PI)));
        break;
    case NL_OP_LGAMMA: f = TMP(nl_math(NL_OP_DIGAMMA, x, 0)); break;
    case NL_OP_DIGAMMA: f = TMP(nl_math(NL_OP_POLYGAMMA, x, 1)); break;
    case NL_OP_POLYGAMMA: f = TMP(nl_math(NL_OP_POLYGAMMA, x, n->a[0] + 1)); break;
    case NL_OP_ENTR: f = TMP(nl_unary(NL_OP_NEG, TMP(S(NL_OP_ADD, TMP(nl_unary(NL_OP_LOG, x)), 1)))); break;
    case NL_OP_ERFCX: f = TMP(S(NL_OP_SUB, TMP(S(NL_OP_MUL, TMP(B(NL_OP_MUL, x, y)), 2)), two_over_sqrt_pi)); break;
    case NL_OP_NDTRI: f = TMP(S(NL_OP_MUL, TMP(nl_unary(NL_OP_EXP, TMP(S(NL_OP_MUL, TMP(B(NL_OP_MUL, y, y)), 0.5)))),
                              sqrt(2 * M_PI)));
        break;
    case NL_OP_LOG_NDTR:                                       /* e^-(y + x^2/2) / sqrt(2 pi) */
        f = TMP(B(NL_OP_ADD, y, TMP(S(NL_OP_MUL, TMP(B(NL_OP_MUL, x, x)), 0.5))));
        f = TMP(S(NL_OP_MUL, TMP(nl_unary(NL_OP_EXP, TMP(nl_unary(NL_OP_NEG, f)))), 1 / sqrt(2 * M_PI)));
        break;
    case NL_OP_I0E: {                                          /* i1e(x) - sgn(x) y */
        nl_tensor *sgn = TMP(B(NL_OP_SUB, TMP(S(NL_OP_GT, x, 0)), TMP(S(NL_OP_LT, x, 0))));
        f = TMP(B(NL_OP_SUB, TMP(nl_math(NL_OP_I1E, x, 0)), TMP(B(NL_OP_MUL, sgn, y))));
        break;
    }
    case NL_OP_I1: case NL_OP_I1E: {
        /* i0(x) - y / x, i0e(x) - y (sgn(x) + 1 / x); 1/2 where |x| <= eps
         * (PyTorch's i1_backward, i1e_backward) */
        double eps = y->dtype == NL_FLOAT32 ? 1.1920928955078125e-07 : 2.220446049250313e-16;
        nl_tensor *ax = TMP(nl_unary(NL_OP_ABS, x)), *big = TMP(S(NL_OP_GT, ax, eps));
        nl_tensor *sx = TMP(nl_where(big, x, TMP(nl_full(0, NULL, eps, y->dtype))));
        nl_tensor *e0 = TMP(nl_math(NL_OP_I0E, sx, 0)), *r = TMP(SF(NL_OP_DIV, 1, sx));
        if (n->op == NL_OP_I1) {
            f = TMP(B(NL_OP_SUB, TMP(B(NL_OP_MUL, e0, TMP(nl_unary(NL_OP_EXP, TMP(nl_unary(NL_OP_ABS, sx)))))),
                      TMP(B(NL_OP_MUL, y, r))));
        } else {
            nl_tensor *sgn = TMP(B(NL_OP_SUB, TMP(S(NL_OP_GT, sx, 0)), TMP(S(NL_OP_LT, sx, 0))));
            f = TMP(B(NL_OP_SUB, e0, TMP(B(NL_OP_MUL, y, TMP(B(NL_OP_ADD, sgn, r))))));
        }
        f = TMP(nl_where(big, f, TMP(nl_full(0, NULL, 0.5, y->dtype))));
        break;
    }
    default: break;
    }
    if (f) {
        nl_tensor *gx = TMP(B(NL_OP_MUL, g, f));
        gin[0] = nl_keep_ref(gx);
    }
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}

static int math2_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *a = n->in[0], *b = n->in[1], *ga = NULL, *gb = NULL;
    bool need_a = nl_node_wants(n, 0), need_b = nl_node_wants(n, 1);
    switch (n->op) {
    case NL_OP_ATAN2: {                  /* (g b, -g a) / (a^2 + b^2) */
        nl_tensor *r = TMP(SF(NL_OP_DIV, 1, TMP(B(NL_OP_ADD, TMP(B(NL_OP_MUL, a, a)), TMP(B(NL_OP_MUL, b, b))))));
        if (need_a) ga = TMP(B(NL_OP_MUL, TMP(B(NL_OP_MUL, g, b)), r));
        if (need_b) gb = TMP(B(NL_OP_MUL, TMP(B(NL_OP_MUL, g, TMP(nl_unary(NL_OP_NEG, a)))), r));
        break;
    }
    case NL_OP_HYPOT:                    /* g a / y, g b / y */
        if (need_a) ga = TMP(B(NL_OP_DIV, TMP(B(NL_OP_MUL, g, a)), n->saved));
        if (need_b) gb = TMP(B(NL_OP_DIV, TMP(B(NL_OP_MUL, g, b)), n->saved));
        break;
    case NL_OP_FMOD: case NL_OP_REMAINDER:   /* g, -g * (a / b rounded toward 0, or down) */
        if (need_a) ga = g;
        if (need_b) {
            nl_tensor *q = n->op == NL_OP_FMOD ? TMP(nl_unary(NL_OP_TRUNC, TMP(B(NL_OP_DIV, a, b))))
                                               : TMP(nl_div_floor(a, b));
            gb = TMP(B(NL_OP_MUL, TMP(nl_unary(NL_OP_NEG, g)), q));
        }
        break;
    case NL_OP_ZETA:                     /* b's only: -g a zeta(a + 1, b) */
        if (need_b) {
            nl_tensor *z = TMP(nl_math2(NL_OP_ZETA, TMP(S(NL_OP_ADD, a, 1)), b));
            gb = TMP(B(NL_OP_MUL, TMP(B(NL_OP_MUL, g, TMP(nl_unary(NL_OP_NEG, a)))), z));
        }
        break;
    case NL_OP_GAMMAINC: case NL_OP_GAMMAINCC:   /* x's only: +-g e^((a - 1) log x - x - lgamma(a)) */
        if (need_b) {
            nl_tensor *e = TMP(B(NL_OP_MUL, TMP(S(NL_OP_SUB, a, 1)), TMP(nl_unary(NL_OP_LOG, b))));
            e = TMP(B(NL_OP_SUB, TMP(B(NL_OP_SUB, e, b)), TMP(nl_math(NL_OP_LGAMMA, a, 0))));
            gb = TMP(B(NL_OP_MUL, g, TMP(nl_unary(NL_OP_EXP, e))));
            if (n->op == NL_OP_GAMMAINCC) gb = TMP(nl_unary(NL_OP_NEG, gb));
        }
        break;
    default: break;
    }
    if (need_a && is_special2(n->op)) {
        nl_set_error("%s: the derivative with respect to its first operand (shape %s) is not implemented, as in "
                     "PyTorch; detach() it", nl_op_name(n->op), nl_shape_str(a));
        goto fail;
    }
    if (ga && !(gin[0] = nl_sum_to(ga, a->ndim, a->sizes))) goto fail;
    if (gb && !(gin[1] = nl_sum_to(gb, b->ndim, b->sizes))) goto fail;
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_release(gin[0]);
    gin[0] = NULL;
    nl_temps_free(&tmps);
    return -1;
}

__attribute__((constructor)) static void nl_register_math_backward(void) {
    for (int op = NL_OP_TAN; op <= NL_OP_POLYGAMMA; op++) nl_register_backward(op, math_backward);
    for (int op = NL_OP_ATAN2; op <= NL_OP_REMAINDER; op++) nl_register_backward(op, math2_backward);
    for (int op = NL_OP_ENTR; op <= NL_OP_LOG_NDTR; op++) nl_register_backward(op, math_backward);
    for (int op = NL_OP_ZETA; op <= NL_OP_GAMMAINCC; op++) nl_register_backward(op, math2_backward);
}
