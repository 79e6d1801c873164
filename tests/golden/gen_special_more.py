# gen_special_more.py: PyTorch 1.13's torch.special Airy and Bessel
# functions (airy_ai, bessel_y0/y1, modified_bessel_i0/i1/k0/k1,
# scaled_modified_bessel_k0/k1, spherical_bessel_j0) and orthogonal
# polynomials, for nnlua's nl.special: values at edge points and random
# ones in float32 and float64, int64 input, and mpmath's values (40
# digits) of the float64 points, where 1.13 is off (airy_ai below -2.09,
# bessel_y0 and bessel_y1, by up to 2e-5 relative); the polynomials over
# a grid of x (|x| = 1, the shifted forms' 0 and 1, |x| > 1, the
# infinities, NaN) and n (negative, fractional, the sizes where 1.13 turns
# to its trigonometric forms, NaN, inf), broadcast, with a number for
# either operand. Writes
# tests/golden/special_more.lua (checked by
# tests/spec/special_more_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_special_more.py
import math
import mpmath
import torch
from common import F32, F64, I64, lua_tensor, seed, write_golden

S = torch.special
INF, NAN = float('inf'), float('nan')
mpmath.mp.dps = 40

REAL = [0.0, -0.0, 1e-5, 0.3, -0.3, 0.5, 1.0, -1.0, 2.0, 2.09, -2.09, 2.1, -2.5, 4.99, 5.0, 5.01, -5.0, 7.5, 8.0,
        8.01, 8.3, 8.4, 12.3, -12.3, 25.0, 40.0, -60.0, 100.0, 103.0, 104.0, 700.0, -700.0, INF, -INF, NAN]


def sph(v):
    return mpmath.sin(v) / v if v != 0 else mpmath.mpf(1)


# op: (the torch function, mpmath's, random draws (lo, hi))
UNARY = {
    'airy_ai': (S.airy_ai, mpmath.airyai, (-30, 12)),
    'bessel_y0': (S.bessel_y0, lambda v: mpmath.bessely(0, v), (0.01, 40)),
    'bessel_y1': (S.bessel_y1, lambda v: mpmath.bessely(1, v), (0.01, 40)),
    'modified_bessel_i0': (S.modified_bessel_i0, lambda v: mpmath.besseli(0, v), (-40, 40)),
    'modified_bessel_i1': (S.modified_bessel_i1, lambda v: mpmath.besseli(1, v), (-40, 40)),
    'modified_bessel_k0': (S.modified_bessel_k0, lambda v: mpmath.besselk(0, v), (0.01, 40)),
    'modified_bessel_k1': (S.modified_bessel_k1, lambda v: mpmath.besselk(1, v), (0.01, 40)),
    'scaled_modified_bessel_k0': (S.scaled_modified_bessel_k0, lambda v: mpmath.besselk(0, v) * mpmath.exp(v),
                                  (0.01, 40)),
    'scaled_modified_bessel_k1': (S.scaled_modified_bessel_k1, lambda v: mpmath.besselk(1, v) * mpmath.exp(v),
                                  (0.01, 40)),
    'spherical_bessel_j0': (S.spherical_bessel_j0, sph, (-40, 40)),
}


def reference(f, x, want):
    """mpmath's values at x's finite points where the function is finite and
    real (the others PyTorch's)"""
    out = want.clone()
    flat = out.view(-1)
    for i, v in enumerate(x.tolist()):
        if not math.isfinite(v):
            continue
        try:
            r = f(mpmath.mpf(v))
        except (ValueError, ZeroDivisionError):
            continue
        if isinstance(r, mpmath.mpc) or not mpmath.isfinite(r):
            continue
        flat[i] = float(r)
    return out


lines = []
for op, (fn, ref, (lo, hi)) in UNARY.items():
    seed(op)
    r = torch.rand(16, dtype=F64) * (hi - lo) + lo
    for dt in (F32, F64):
        x = torch.cat([torch.tensor(REAL, dtype=dt), r.to(dt)])
        extra = ''
        if dt == F64:
            extra = ', ref = ' + lua_tensor(reference(ref, x, fn(x)))
        lines.append("  { op = '%s', x = %s, want = %s%s }," % (op, lua_tensor(x), lua_tensor(fn(x)), extra))
    xi = torch.tensor([0, 1, 2, -3, 7], dtype=I64)
    lines.append("  { op = '%s', x = %s, want = %s }," % (op, lua_tensor(xi), lua_tensor(fn(xi))))

# the orthogonal polynomials p_n(x): x (15, 1) with n (19)
POLY = ['chebyshev_polynomial_t', 'chebyshev_polynomial_u', 'chebyshev_polynomial_v', 'chebyshev_polynomial_w',
        'shifted_chebyshev_polynomial_t', 'shifted_chebyshev_polynomial_u', 'shifted_chebyshev_polynomial_v',
        'shifted_chebyshev_polynomial_w', 'hermite_polynomial_h', 'hermite_polynomial_he', 'laguerre_polynomial_l',
        'legendre_polynomial_p']
PX = [-2.5, -1.0, -0.999, -0.5, -0.0, 0.0, 0.3, 0.5, 0.999, 1.0, 1.5, 3.0, INF, -INF, NAN]
PN = [-3.0, -1.0, -0.5, 0.0, 0.7, 1.0, 1.9, 2.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 30.0, NAN, INF]
for op in POLY:
    fn = getattr(S, op)
    seed(op)
    rx = torch.rand(6, dtype=F64) * 2.4 - 1.2
    for dt in (F32, F64):
        x = torch.cat([torch.tensor(PX, dtype=dt), rx.to(dt)]).reshape(-1, 1)
        n = torch.tensor(PN, dtype=dt)
        lines.append("  { op = '%s', a = %s, b = %s, want = %s }," % (op, lua_tensor(x), lua_tensor(n),
                                                                      lua_tensor(fn(x, n))))
    x = torch.tensor([0.25, -0.75, 2.0], dtype=F64)
    lines.append("  { op = '%s', a = %s, b = 4.5, want = %s }," % (op, lua_tensor(x), lua_tensor(fn(x, 4.5))))
    n = torch.tensor([0, 1, 3, 12, -2], dtype=I64)
    lines.append("  { op = '%s', a = 0.5, b = %s, want = %s }," % (op, lua_tensor(n), lua_tensor(fn(0.5, n))))
    xi = torch.tensor([0, 1, 2, -3], dtype=I64)
    lines.append("  { op = '%s', a = %s, b = %s, want = %s }," % (op, lua_tensor(xi), lua_tensor(n[:4]),
                                                                  lua_tensor(fn(xi, n[:4]))))

write_golden('special_more.lua', ['PyTorch 1.13 torch.special, Airy and Bessel (tests/golden/gen_special_more.py)'],
             lines)
