# gen_higher_order_rect.py: PyTorch golden values for the second
# derivatives of the piecewise-linear activations and their kin (relu,
# relu6, leaky_relu, hardtanh, hardshrink, softshrink, threshold, rrelu in
# eval, elu, celu, selu, hardsigmoid, hardswish, abs, prelu and nn.PReLU),
# at points on both sides of each kink and on it. Writes
# tests/golden/higher_order_rect.lua (checked by
# tests/spec/higher_order_rect_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_higher_order_rect.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case: y = f(x[, w]) of float64 leaves, g = the gradients of y to x
# (and w) for grad_outputs u (a leaf too), with create_graph, and hv = the
# gradients of sum_i <g_i, v_i> to x, (w,) u: the second derivatives in x
# alone (zeros for the piecewise-linear ones: PyTorch's backward functions
# take x and give it zeros, so they are zeros, not unused), the mixed ones
# of x and PReLU's weight, and those in u (f'(x) v). none: which of hv
# PyTorch leaves unused (None). PyTorch 1.13 has no double backward of
# hardsigmoid (its hardsigmoid_backward refuses): its hv is the closed form,
# zeros in x and hardsigmoid_backward(v, x) in u.
import torch
import torch.nn.functional as F
from common import F64, lua_tensor, lua_value, write_golden

torch.manual_seed(20261129)


def pts(*kinks, n=6, spread=3.0):
    """the kinks themselves, 0.25 either side of each, and n random points"""
    v = []
    for k in kinks:
        v += [k - 0.25, k, k + 0.25]
    v += (torch.rand(n, dtype=F64) * 2 * spread - spread).tolist()
    return torch.tensor(v, dtype=F64)


PRELU_W = torch.tensor([0.25, -0.5, 2.0], dtype=F64)   # a weight that needs no gradient

# name, f, x, weight (or None)
CASES = [
    ('relu', F.relu, pts(0), None),
    ('relu6', F.relu6, pts(0, 6, spread=8), None),
    ('leaky_relu', lambda x: F.leaky_relu(x, 0.1), pts(0), None),
    ('hardtanh', lambda x: F.hardtanh(x, -0.5, 0.7), pts(-0.5, 0.7), None),
    ('hardshrink', lambda x: F.hardshrink(x, 0.5), pts(-0.5, 0.5), None),
    ('softshrink', lambda x: F.softshrink(x, 0.5), pts(-0.5, 0.5), None),
    ('threshold', lambda x: F.threshold(x, 0.5, -3.0), pts(0.5), None),
    ('rrelu_eval', lambda x: F.rrelu(x, 0.1, 0.3, training=False), pts(0), None),
    ('elu', lambda x: F.elu(x, 0.7), pts(0), None),
    ('celu', lambda x: F.celu(x, 0.8), pts(0), None),
    ('selu', F.selu, pts(0), None),
    ('hardsigmoid', F.hardsigmoid, pts(-3, 3, spread=5), None),
    ('hardswish', F.hardswish, pts(-3, 3, spread=5), None),
    ('abs', torch.abs, pts(0), None),
    ('prelu_one', F.prelu, pts(0).reshape(3, 3), torch.tensor([0.25], dtype=F64)),
    ('prelu_0dim', F.prelu, pts(0).reshape(9), torch.tensor(0.3, dtype=F64)),
    ('prelu_channels', F.prelu, torch.cat([pts(0), pts(0, n=12)]).reshape(2, 3, 4),
     torch.tensor([0.25, -0.4, 1.3], dtype=F64)),
]

out = ['  cases = {']
for name, f, x0, w0 in CASES:
    leaves = [x0.clone().requires_grad_()]
    if w0 is not None:
        leaves.append(w0.clone().requires_grad_())
    y = f(*leaves)
    u = torch.randn(y.shape, dtype=F64).requires_grad_()
    vs = [torch.randn(t.shape, dtype=F64) for t in leaves]
    if name == 'hardsigmoid':
        (g,) = torch.autograd.grad(y, leaves, u)
        gs = [g]
        hv = [torch.zeros_like(x0), torch.ops.aten.hardsigmoid_backward(vs[0], x0)]
    else:
        gs = torch.autograd.grad(y, leaves, u, create_graph=True)
        s = sum((g * v).sum() for g, v in zip(gs, vs))
        hv = list(torch.autograd.grad(s, leaves + [u], allow_unused=True))
    none = [h is None for h in hv]
    # (abs's is a ZeroTensor, PyTorch's zeros that hold no memory)
    hv = [torch.zeros_like(t) if h is None or h._is_zerotensor() else h for h, t in zip(hv, leaves + [u])]
    out.append('    { name = %r,' % name)
    out.append('      inputs = { %s },' % ', '.join(lua_tensor(t.detach(), True) for t in leaves))
    out.append('      u = %s,' % lua_tensor(u.detach(), True))
    out.append('      y = %s,' % lua_tensor(y.detach(), True))
    out.append('      g = { %s },' % ', '.join(lua_tensor(g.detach(), True) for g in gs))
    out.append('      v = { %s },' % ', '.join(lua_tensor(v, True) for v in vs))
    out.append('      hv = { %s },' % ', '.join(lua_tensor(h.detach(), True) for h in hv))
    out.append('      none = %s,' % lua_value(none))
    out.append('    },')
out.append('  },')

# torch.autograd.functional's hessian-vector products of sum(c * f(x[, w])):
# hvp and vhp, strict or not (hvp's double-backward trick refuses, strict, a
# function whose second derivative does not reach the first's gradient:
# relu's, and PReLU's in x alone)
FN_CASES = [
    ('relu', lambda x: F.relu(x), [pts(0)]),
    ('leaky_relu', lambda x: F.leaky_relu(x, 0.2), [pts(0)]),
    ('hardswish', F.hardswish, [pts(-3, 3, spread=5)]),
    ('prelu', F.prelu, [pts(0).reshape(3, 3), torch.tensor([0.25], dtype=F64)]),
    ('prelu_fixed_weight', lambda x: F.prelu(x, PRELU_W), [pts(0).reshape(3, 3)]),
]
out.append('  functional = {')
for name, f, inputs in FN_CASES:
    c = torch.randn(inputs[0].shape, dtype=F64)
    vs = [torch.randn(t.shape, dtype=F64) for t in inputs]

    def fn(*xs):
        return (c * f(*xs)).sum()
    res = {}
    for which in ('hvp', 'vhp'):
        for strict in (False, True):
            key = '%s_%s' % (which, 'strict' if strict else 'lax')
            try:
                _, r = getattr(torch.autograd.functional, which)(fn, tuple(inputs), tuple(vs), strict=strict)
                res[key] = '{ %s }' % ', '.join(lua_tensor(t, True) for t in r)
            except RuntimeError:
                res[key] = 'false'
    out.append('    { name = %r,' % name)
    out.append('      inputs = { %s },' % ', '.join(lua_tensor(t, True) for t in inputs))
    out.append('      c = %s,' % lua_tensor(c, True))
    out.append('      v = { %s },' % ', '.join(lua_tensor(v, True) for v in vs))
    for k, v in res.items():
        out.append('      %s = %s,' % (k, v))
    out.append('    },')
out.append('  },')

write_golden('higher_order_rect.lua',
             ['PyTorch 1.13 golden values for second derivatives of the piecewise-linear',
              'activations: written by tests/golden/gen_higher_order_rect.py'], out)
