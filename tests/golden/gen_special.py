# gen_special.py: PyTorch 1.13's torch.special functions, for nnlua's
# nl.special: values at edge points (0, -0, negatives, large, the
# infinities, NaN) and random ones in float32 and float64, int64 input,
# the float64 gradient of sum(out * w), and the second derivative (the
# gradient of sum(d out / dx)) where PyTorch has one. Writes
# tests/golden/special.lua (checked by tests/spec/special_spec.lua); it
# does not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_special.py
import math
import mpmath
import torch
from common import F32, F64, I64, lua_tensor, lua_value, seed, write_golden

S = torch.special
INF, NAN = float('inf'), float('nan')

REAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 7.5, 10.0, 12.0, 26.0, 30.0, 31.0, 50.0, 100.0, -3.5, -12.0, -26.0,
        -30.0, 700.0, -700.0, 1e-5, 1e10, -1e10, INF, -INF, NAN]
PROB = [0.0, 1.0, 0.5, 1e-300, 1e-30, 1e-10, 0.01, 0.3, 0.7, 0.99, 1 - 1e-10, -0.1, 1.5, INF, NAN]
BESSEL = [0.0, -0.0, 0.5, -1.0, 2.4048255576957728, 3.8317059702075123, 5.0, -8.0, 12.3, 24.9, 25.0, 25.1,
          40.0, -60.0, 100.0, 1000.0, INF, -INF, NAN]
POS = [0.0, 1e-30, 1e-5, 0.5, 1.0, 2.0, 10.0, 1e10, INF, -1.0, -INF, NAN]

# op: (the torch function, edge values, random draws (lo, hi), gradient points (lo, hi) or None)
UNARY = {
    'entr': (S.entr, POS, (0.01, 5), (0.1, 4)),
    'erfcx': (S.erfcx, REAL, (-5, 40), (-3, 20)),
    'i0e': (S.i0e, REAL, (-40, 40), (-30, 30)),
    'i1': (S.i1, REAL, (-40, 40), (-20, 20)),
    'i1e': (S.i1e, REAL, (-40, 40), (-30, 30)),
    'ndtri': (S.ndtri, PROB, (0.001, 0.999), (0.05, 0.95)),
    'log_ndtr': (S.log_ndtr, REAL, (-40, 10), (-20, 5)),
    'bessel_j0': (S.bessel_j0, BESSEL, (-50, 50), None),
    'bessel_j1': (S.bessel_j1, BESSEL, (-50, 50), None),
    'ndtr': (S.ndtr, REAL, (-10, 10), (-5, 5)),
    'expit': (S.expit, REAL, (-10, 10), (-5, 5)),
    'logit': (S.logit, PROB, (0.01, 0.99), (0.05, 0.95)),
    'gammaln': (S.gammaln, REAL, (0.1, 20), (0.5, 10)),
    'psi': (S.psi, REAL, (0.1, 20), (0.5, 10)),
}


def rand(lo, hi, n, dtype):
    return (torch.rand(n, dtype=F64) * (hi - lo) + lo).to(dtype)


def second(fn, x):
    """d/dx of sum(d fn / dx), through PyTorch's double backward"""
    x = x.clone().requires_grad_(True)
    g, = torch.autograd.grad(fn(x).sum(), x, create_graph=True)
    return torch.autograd.grad(g.sum(), x)[0]


def first(fn, x, w):
    x = x.clone().requires_grad_(True)
    (fn(x) * w).sum().backward()
    return x.grad


# an independent reference, mpmath's at 40 digits, where PyTorch 1.13's
# own values are off (bessel_j0 and bessel_j1 by ~1e-8 on [5, 25],
# gammainc at large a by ~1e-10); the edge values stay PyTorch's
mpmath.mp.dps = 40


def reference(op, want, *args):
    out = want.clone()
    flat = out.view(-1)
    cols = [a.reshape(-1).tolist() for a in torch.broadcast_tensors(*args)]
    for i, v in enumerate(zip(*cols)):
        if not all(math.isfinite(x) for x in v) or (op.startswith('gammainc') and min(v) <= 0):
            continue
        if op.startswith('bessel_j'):
            r = mpmath.besselj(int(op[-1]), v[0])
        else:
            r = mpmath.gammainc(v[0], 0, v[1], regularized=True)
            r = 1 - r if op == 'gammaincc' else r
        flat[i] = float(r)
    return out


lines = []
for op, (fn, edge, (lo, hi), gpts) in UNARY.items():
    seed(op)
    for dt in (F32, F64):
        x = torch.cat([torch.tensor(edge, dtype=dt), rand(lo, hi, 12, dt)])
        ref = ''
        if op.startswith('bessel_j') and dt == F64:
            ref = ', ref = ' + lua_tensor(reference(op, fn(x), x))
        lines.append("  { op = '%s', x = %s, want = %s%s }," % (op, lua_tensor(x), lua_tensor(fn(x)), ref))
    xi = torch.tensor([0, 1, 2, -3], dtype=I64)
    if op in ('ndtri', 'logit'):
        xi = torch.tensor([0, 1, 2], dtype=I64)
    lines.append("  { op = '%s', x = %s, want = %s }," % (op, lua_tensor(xi), lua_tensor(fn(xi))))
    if gpts:
        x = rand(gpts[0], gpts[1], 10, F64)
        w = torch.randn(10, dtype=F64)
        lines.append("  { op = '%s', grad = true, x = %s, w = %s, want = %s, want2 = %s }," % (
            op, lua_tensor(x), lua_tensor(w), lua_tensor(first(fn, x, w)), lua_tensor(second(fn, x))))

# logit with eps: the values clamped, the gradient 0 outside [eps, 1 - eps]
x = torch.tensor([0.0, 0.1, 0.3, 0.5, 0.85, 0.95, 1.0], dtype=F64)
w = torch.randn(7, dtype=F64)
lines.append("  { op = 'logit', eps = 0.2, grad = true, x = %s, w = %s, want = %s, value = %s }," % (
    lua_tensor(x), lua_tensor(w), lua_tensor(first(lambda t: S.logit(t, 0.2), x, w)), lua_tensor(S.logit(x, 0.2))))

# binary: zeta(x, q), gammainc(a, x), gammaincc(a, x), xlog1py(x, y)
BIN = {
    'zeta': (S.zeta, [1.0, 0.5, 2.0, 2.0, 3.0, 4.5, 2.0, 3.0, 2.0, 2.0, 10.0, 1.5, NAN, 2.0, INF],
             [1.0, 1.0, 0.0, -1.0, -1.5, -1.5, 1e-3, 50.0, 1e6, INF, 0.5, 2.0, 1.0, NAN, 2.0]),
    'gammainc': (S.gammainc, [0.5, 1.0, 3.0, 10.0, 0.0, 0.0, 2.0, -1.0, 2.0, INF, INF, 2.0, 100.0, 100.0, 0.1, NAN],
                 [1.0, 2.0, 3.0, 12.0, 1.0, 0.0, 0.0, 1.0, -1.0, 1.0, INF, INF, 90.0, 110.0, 1e-5, 1.0]),
    'xlog1py': (S.xlog1py, [0.0, 0.0, 0.0, 1.0, 2.0, -3.0, 0.0, 1.0, 2.5, INF, NAN],
                [-1.0, NAN, 0.5, -1.0, INF, 0.5, -2.0, -2.0, 1e-10, 1.0, 1.0]),
}
BIN['gammaincc'] = (S.gammaincc, BIN['gammainc'][1], BIN['gammainc'][2])
for op, (fn, a, b) in BIN.items():
    seed(op)
    for dt in (F32, F64):
        ta, tb = torch.tensor(a, dtype=dt), torch.tensor(b, dtype=dt)
        ref = ''
        if op.startswith('gammainc') and dt == F64:
            ref = ', ref = ' + lua_tensor(reference(op, fn(ta, tb), ta, tb))
        lines.append("  { op = '%s', a = %s, b = %s, want = %s%s }," % (op, lua_tensor(ta), lua_tensor(tb),
                                                                      lua_tensor(fn(ta, tb)), ref))
    # broadcast (3, 1) with (4), float64, and the gradients of sum(out * w)
    if op == 'zeta':
        ta, tb = rand(1.5, 5, 3, F64).reshape(3, 1), rand(0.2, 4, 4, F64)
    elif op == 'xlog1py':
        ta, tb = rand(-2, 2, 3, F64).reshape(3, 1), rand(-0.5, 4, 4, F64)
    else:
        ta, tb = rand(0.5, 6, 3, F64).reshape(3, 1), rand(0.2, 8, 4, F64)
    w = torch.randn(3, 4, dtype=F64)
    la, lb = ta.clone().requires_grad_(op == 'xlog1py'), tb.clone().requires_grad_(True)
    out = fn(la, lb)
    (out * w).sum().backward()
    ga = lua_tensor(la.grad) if op == 'xlog1py' else 'false'
    # the second derivative in b: d/db of sum(d out / db)
    gb, = torch.autograd.grad(fn(ta, lb).sum(), lb, create_graph=True)
    gb2, = torch.autograd.grad(gb.sum(), lb)
    lines.append("  { op = '%s', grad = true, a = %s, b = %s, w = %s, want = %s, ga = %s, gb = %s, gb2 = %s }," % (
        op, lua_tensor(ta), lua_tensor(tb), lua_tensor(w), lua_tensor(out.detach()), ga, lua_tensor(lb.grad),
        lua_tensor(gb2)))
# a number for either operand
for op, fn in (('zeta', S.zeta), ('xlog1py', S.xlog1py)):
    t = torch.tensor([0.5, 2.0, 3.5], dtype=F64)
    lines.append("  { op = '%s', a = 2, b = %s, want = %s }," % (op, lua_tensor(t), lua_tensor(fn(2.0, t))))
    lines.append("  { op = '%s', a = %s, b = 3, want = %s }," % (op, lua_tensor(t), lua_tensor(fn(t, 3.0))))
lines.append("  { op = 'xlog1py', a = %s, b = %s, want = %s }," % (
    lua_tensor(torch.tensor([0, 2, 3], dtype=I64)), lua_tensor(torch.tensor([1, 0, 4], dtype=I64)),
    lua_tensor(S.xlog1py(torch.tensor([0, 2, 3]), torch.tensor([1, 0, 4])))))

# multigammaln(a, p), and its gradient
seed('multigammaln')
for p in (1, 2, 3, 5):
    for dt in (F32, F64):
        a = torch.tensor([p / 2 + 0.01, p, 3.5, 10.0, 100.0, INF, NAN], dtype=dt)
        lines.append("  { op = 'multigammaln', p = %d, x = %s, want = %s }," % (p, lua_tensor(a),
                                                                               lua_tensor(S.multigammaln(a, p))))
a = rand(3, 8, 5, F64)
w = torch.randn(5, dtype=F64)
lines.append("  { op = 'multigammaln', p = 3, grad = true, x = %s, w = %s, want = %s }," % (
    lua_tensor(a), lua_tensor(w), lua_tensor(first(lambda t: S.multigammaln(t, 3), a, w))))

write_golden('special.lua', ['PyTorch 1.13 torch.special (tests/golden/gen_special.py)'], lines)
