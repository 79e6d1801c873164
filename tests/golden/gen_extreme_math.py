# gen_extreme_math.py: elementwise math at extreme inputs (tiny, huge,
# outside the domain), values and gradients against PyTorch 1.13 or, where
# 1.13's gradient loses its digits to cancellation, against a closed form in
# float64. Writes tests/golden/extreme_math.lua (checked by
# tests/spec/extreme_math_spec.lua). Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_extreme_math.py
#
# Each case: fn (the spec's table of calls), dtype, x (and y for a binary
# fn), out = f(x[, y]), gx (and gy), the gradients of out.sum().
import math
import torch
from common import F32, F64, lua_tensor, write_golden

inf, nan = float('inf'), float('nan')
LINES = []


def sinc_grad(x):
    """d/dx sin(pi x) / (pi x) in float64: the Taylor series' for |pi x| <
    0.1 (to z^7, relative error < 1e-16), the quotient's beyond"""
    z = math.pi * x
    if abs(z) < 0.1:
        z2 = z * z
        return math.pi * z * (-1 / 3 + z2 * (1 / 30 - z2 * (1 / 840 - z2 / 45360)))
    return (math.cos(z) * z - math.sin(z)) / (z * x)


def case(name, fn, dtype, xs, torch_fn, ys=None, gx=None):
    x = torch.tensor(xs, dtype=dtype, requires_grad=True)
    args = [x]
    if ys is not None:
        args.append(torch.tensor(ys, dtype=dtype, requires_grad=True))
    out = torch_fn(*args)
    grads = torch.autograd.grad(out.sum(), args)
    if gx is not None:     # the closed form's, not 1.13's
        grads = (torch.tensor(gx, dtype=F64).to(dtype),) + grads[1:]
    fields = ['name = %r' % name, 'fn = %r' % fn, 'x = ' + lua_tensor(x)]
    if ys is not None:
        fields.append('y = ' + lua_tensor(args[1]))
    fields += ['out = ' + lua_tensor(out), 'gx = ' + lua_tensor(grads[0])]
    if ys is not None:
        fields.append('gy = ' + lua_tensor(grads[1]))
    LINES.append('  { %s },' % ', '.join(fields))


for dt in (F32, F64):
    sfx = '' if dt == F32 else '_f64'
    # a / b: b's gradient -g (a / b) / b, finite where g / b overflows (a = 0)
    tiny = 1e-310 if dt == F64 else 1e-40
    case('div tiny divisor' + sfx, 'div', dt, [0.0, -0.0, 1e-30, 0.0, 3.0, 0.0],
         lambda a, b: a / b, ys=[tiny, tiny, 1e-30, -tiny, 2.0, 1e-30])
    # logit without eps: NaN's gradient outside [0, 1] (the value NaN);
    # with eps 0 outside [eps, 1 - eps] (at NaN 1.13's vectorized loop gives
    # 0, its scalar tail NaN: left out)
    lx = [-1.0, 2.0, -1e-30, 1e30, -inf, inf, 0.0, 1.0, 0.25, nan]
    case('logit outside [0, 1]' + sfx, 'logit', dt, lx, torch.logit)
    case('special.logit outside [0, 1]' + sfx, 'special_logit', dt, lx, torch.special.logit)
    case('logit eps 0.25' + sfx, 'logit_eps', dt, lx[:-1], lambda t: torch.logit(t, 0.25))
    # sinc: 1.13's values; its gradient (cos(z) z - sin(z)) / (z x), z = pi x,
    # loses its digits to cancellation near 0 (0 or NaN at 1e-45, 36% off at
    # 1e-8 float64), so the gradients are the closed form's in float64
    sx = [0.0, 1e-45, -1e-45, 1e-38, 1e-8, -1e-8, 1e-5, 0.01, -0.03, 0.2, 0.5, -1.5, 2.25]
    if dt == F64:
        sx += [1e-310, 0.05]
    case('sinc near 0' + sfx, 'sinc', dt, sx, torch.sinc,
         gx=[sinc_grad(v) for v in torch.tensor(sx, dtype=dt).tolist()])
    # i0 near 0: its gradient I1(x) ~ x / 2 to the last digits
    case('i0 near 0' + sfx, 'i0', dt, [0.0, 1e-30, -1e-8, 1e-5, 0.001, -0.3, 0.75, 0.999, -1.0, 1.5, 4.0],
         torch.i0)

write_golden('extreme_math.lua', [
    'elementwise math at extreme inputs against PyTorch 1.13 (gradients of',
    'sinc against its Taylor series); made by gen_extreme_math.py'], LINES)
