# gen_activations.py: PyTorch golden values for the activations of
# nl_activation (ELU, SELU, CELU, Softplus, Mish, Hardtanh, ReLU6,
# Hardsigmoid, Hardswish, LogSigmoid, Softsign, Tanhshrink, Softshrink,
# Hardshrink) and Softmin. Writes tests/golden/activations.lua (checked by
# tests/spec/activation_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_activations.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case, in float32 and in float64: an input of 32 values (the kinks of
# the function, the floats either side of each, signed zeros, small and
# large magnitudes, +-inf and NaN, then random values), out = f(x), the
# gradient of x for an upstream gradient w (random), and for one of +-inf
# (grad_inf: where PyTorch selects the gradient and where it multiplies).
# 32 values: PyTorch's vectorized CPU kernels then compute every element (a
# tail of under 16 goes through its scalar loop, which differs at NaN and
# for hardswish's gradient at 3; nnlua follows the vectorized kernels).
# float64 values are written with 17 digits, inf as math.huge, NaN as 0/0.
import math
import torch
import torch.nn.functional as F
from common import num, write_golden

torch.manual_seed(20250214)

N = 32
GENERIC = [0.0, -0.0, 1e-8, -1e-8, 1e-3, -1e-3, 1.0, -1.0, 20.0, -20.0, 50.0, -50.0, 1e4, -1e4,
           1e30, -1e30, math.inf, -math.inf, math.nan]

# name, nnlua function, its parameters (PyTorch's order), the torch call,
# the kinks, the nn module and its constructor arguments
CASES = [
    ('elu', 'elu', [], lambda x: F.elu(x), [0.0], 'ELU', []),
    ('elu_alpha', 'elu', [0.5], lambda x: F.elu(x, 0.5), [0.0], 'ELU', [0.5]),
    ('elu_negative_alpha', 'elu', [-0.7], lambda x: F.elu(x, -0.7), [0.0], 'ELU', [-0.7]),
    ('selu', 'selu', [], lambda x: F.selu(x), [0.0], 'SELU', []),
    ('celu', 'celu', [], lambda x: F.celu(x), [0.0], 'CELU', []),
    ('celu_alpha', 'celu', [2.5], lambda x: F.celu(x, 2.5), [0.0], 'CELU', [2.5]),
    ('softplus', 'softplus', [], lambda x: F.softplus(x), [20.0], 'Softplus', []),
    ('softplus_beta', 'softplus', [2.0, 5.0], lambda x: F.softplus(x, 2.0, 5.0), [2.5], 'Softplus', [2.0, 5.0]),
    ('softplus_small_beta', 'softplus', [0.5, 3.0], lambda x: F.softplus(x, 0.5, 3.0), [6.0], 'Softplus', [0.5, 3.0]),
    ('mish', 'mish', [], lambda x: F.mish(x), [], 'Mish', []),
    ('hardtanh', 'hardtanh', [], lambda x: F.hardtanh(x), [-1.0, 1.0], 'Hardtanh', []),
    ('hardtanh_bounds', 'hardtanh', [-0.5, 2.0], lambda x: F.hardtanh(x, -0.5, 2.0), [-0.5, 2.0], 'Hardtanh', [-0.5, 2.0]),
    ('relu6', 'relu6', [], lambda x: F.relu6(x), [0.0, 6.0], 'ReLU6', []),
    ('hardsigmoid', 'hardsigmoid', [], lambda x: F.hardsigmoid(x), [-3.0, 3.0], 'Hardsigmoid', []),
    ('hardswish', 'hardswish', [], lambda x: F.hardswish(x), [-3.0, 3.0], 'Hardswish', []),
    ('logsigmoid', 'logsigmoid', [], lambda x: F.logsigmoid(x), [], 'LogSigmoid', []),
    ('softsign', 'softsign', [], lambda x: F.softsign(x), [], 'Softsign', []),
    ('tanhshrink', 'tanhshrink', [], lambda x: F.tanhshrink(x), [], 'Tanhshrink', []),
    ('softshrink', 'softshrink', [], lambda x: F.softshrink(x), [-0.5, 0.5], 'Softshrink', []),
    ('softshrink_lambd', 'softshrink', [1.5], lambda x: F.softshrink(x, 1.5), [-1.5, 1.5], 'Softshrink', [1.5]),
    ('softshrink_zero', 'softshrink', [0.0], lambda x: F.softshrink(x, 0.0), [], 'Softshrink', [0.0]),
    ('hardshrink', 'hardshrink', [], lambda x: F.hardshrink(x), [-0.5, 0.5], 'Hardshrink', []),
    ('hardshrink_lambd', 'hardshrink', [2.0], lambda x: F.hardshrink(x, 2.0), [-2.0, 2.0], 'Hardshrink', [2.0]),
]


def inputs(kinks, dtype):
    vals = []
    for k in kinks:
        t = torch.tensor(k, dtype=dtype)
        vals += [k, torch.nextafter(t, torch.tensor(math.inf, dtype=dtype)).item(),
                 torch.nextafter(t, torch.tensor(-math.inf, dtype=dtype)).item()]
    vals += GENERIC
    assert len(vals) <= N
    x = torch.tensor(vals, dtype=dtype)
    fill = (torch.randn(N - len(vals), dtype=torch.float32) * 3).to(dtype)
    return torch.cat([x, fill])


def lua_list(t, dtype):
    # a negative zero spelled -0.0 in float32 too, as repr spells a float64's
    return '{ %s }' % ', '.join('-0.0' if v == 0 and math.copysign(1, v) < 0 else num(v, dtype, shortest=True)
                                for v in t.reshape(-1).tolist())


def grad_of(fn, x, up):
    xx = x.clone().requires_grad_(True)
    y = fn(xx)
    y.backward(up)
    return y.detach(), xx.grad


out = ['  cases = {']
for name, fn_name, params, fn, kinks, module, margs in CASES:
    for dtype, dname in ((torch.float32, 'float32'), (torch.float64, 'float64')):
        x = inputs(kinks, dtype)
        w = torch.randn(N, dtype=torch.float32).to(dtype)
        w_inf = torch.where(torch.randn(N) > 0, math.inf, -math.inf).to(dtype)
        y, g = grad_of(fn, x, w)
        _, g_inf = grad_of(fn, x, w_inf)
        assert y.dtype == dtype
        out.append('    { name = %r, fn = %r, params = { %s }, module = %r, margs = { %s }, dtype = %r,'
                   % (name, fn_name, ', '.join(repr(p) for p in params), module,
                      ', '.join(repr(p) for p in margs), dname))
        for key, t in (('x', x), ('w', w), ('out', y), ('grad', g), ('w_inf', w_inf), ('grad_inf', g_inf)):
            out.append('      %s = %s,' % (key, lua_list(t, dtype)))
        out.append('    },')
out.append('  },')

# Softmin: softmax of -x along a dim, with its gradient; float32 and float64
out.append('  softmin = {')
for dim in (0, 1):
    for dtype, dname in ((torch.float32, 'float32'), (torch.float64, 'float64')):
        x = (torch.randn(3, 4, dtype=torch.float32) * 2).to(dtype)
        w = torch.randn(3, 4, dtype=torch.float32).to(dtype)
        y, g = grad_of(lambda t: F.softmin(t, dim), x, w)
        out.append('    { dim = %d, dtype = %r, shape = { 3, 4 },' % (dim + 1, dname))
        for key, t in (('x', x), ('w', w), ('out', y), ('grad', g)):
            out.append('      %s = %s,' % (key, lua_list(t, dtype)))
        out.append('    },')
out.append('  },')

# softmax and log_softmax with a dtype: the float32 input converted first
out.append('  softmax_dtype = {')
x = torch.randn(2, 5, dtype=torch.float32) * 4
for op, f in (('softmax', torch.softmax), ('log_softmax', torch.log_softmax)):
    w = torch.randn(2, 5, dtype=torch.float64)
    y, g = grad_of(lambda t: f(t, 1, dtype=torch.float64), x, w)
    assert y.dtype == torch.float64 and g.dtype == torch.float32
    out.append('    { op = %r, dim = 2, shape = { 2, 5 },' % op)
    out.append('      x = %s,' % lua_list(x, torch.float32))
    out.append('      w = %s,' % lua_list(w, torch.float64))
    out.append('      out = %s,' % lua_list(y, torch.float64))
    out.append('      grad = %s,' % lua_list(g, torch.float32))
    out.append('    },')
out.append('  },')
write_golden('activations.lua',
             ['PyTorch 1.13 golden values for the activations: written by tests/golden/gen_activations.py'], out)
