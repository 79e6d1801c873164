# gen_autograd_functional.py: PyTorch 1.13 golden values for
# torch.autograd.functional (nl.autograd.functional,
# lua/nnlua/autograd_functional.lua). Writes
# tests/golden/autograd_functional.lua (checked by
# tests/spec/autograd_functional_spec.lua); it does not test anything
# itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_autograd_functional.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case names a function that the spec writes again in nnlua (dims
# 1-based there). Inputs are given as a tensor or a tuple (a Lua list), as
# the case says, and the results are written in the structure PyTorch
# returns them: a tensor, a list, or a list of lists.
# vector cases: jacobian, vjp along random v (nil for a one-element
# output) and jvp along random v; scalar cases: hessian, vhp and hvp
# along random v (nil for a one-element input); graph cases: the
# gradients of sum(w * result) with respect to the inputs and v after a
# call with create_graph = True (the third derivative for a hessian).
import torch
from common import F32, F64, lua_tensor, write_golden

torch.manual_seed(20261128)
AF = torch.autograd.functional


def rnd(dtype, *shape):
    return torch.randn(shape, dtype=F64).to(dtype)


A3 = torch.tensor([[2.0, -1.0, 0.5], [0.3, 1.5, -2.0], [1.0, 0.25, 3.0]], dtype=F64)

# name, inputs (a tensor or a tuple), f
VECTOR = [
    ('exp_reducer', rnd(F32, 4, 3), lambda x: x.exp().sum(1)),
    ('elementwise', rnd(F64, 2, 3), lambda x: torch.tanh(x) * x ** 2),
    ('matmul', (rnd(F32, 3, 4), rnd(F32, 4, 2)), lambda a, b: a @ b),
    ('multi', (rnd(F64, 3), rnd(F64, 2, 3)), lambda x, y: (x * y, (y ** 2).sum(1), x.sin())),
    ('tuple_out', rnd(F32, 2, 2), lambda x: (x.exp(), x.mean())),
    ('unused_input', (rnd(F64, 3), rnd(F64, 2)), lambda x, y: x.exp() * 2),
    ('softmax', rnd(F64, 2, 3), lambda x: torch.softmax(x, 1)),
    ('one_element_out', rnd(F64, 3), lambda x: (x * x).sum()),
    ('one_element_in', rnd(F64, 1), lambda x: torch.cat([x.exp(), x ** 3])),
]

SCALAR = [
    ('cubic', rnd(F64, 2, 2), lambda x: x.pow(3).sum()),
    ('quadratic', rnd(F64, 3), lambda x: (x * (A3 @ x)).sum()),
    ('two_inputs', (rnd(F64, 3), rnd(F64, 3)), lambda x, y: (x.sin() * y).sum() + (x * x * y * y).sum()),
    ('mlp', (rnd(F32, 3, 2), rnd(F32, 3), rnd(F32, 2)), lambda w, b, x: torch.tanh(w @ x + b).sum()),
    ('logsumexp', rnd(F64, 2, 3), lambda x: x.exp().sum().log()),
    ('one_element', rnd(F64, 1), lambda x: (x.exp() * x).sum()),
    ('linear', (rnd(F64, 2), rnd(F64, 3)), lambda x, y: (2 * x).sum() + (y * y).sum()),
]


def as_list(x):
    return list(x) if isinstance(x, tuple) else [x]


def like(x):
    """random tensors of x's structure"""
    if isinstance(x, tuple):
        return tuple(rnd(t.dtype, *t.shape) for t in x)
    return rnd(x.dtype, *x.shape)


def lua(x):
    """a tensor, or a (nested) list of them"""
    if isinstance(x, (tuple, list)):
        return '{ %s }' % ', '.join(lua(e) for e in x)
    return lua_tensor(x)


def field(k, v):
    return '    %s = %s,' % (k, lua(v))


lines = ['  vector = {']
for name, inputs, f in VECTOR:
    out = f(*as_list(inputs))
    one_out = isinstance(out, torch.Tensor) and out.numel() == 1
    one_in = isinstance(inputs, torch.Tensor) and inputs.numel() == 1
    v_out = None if one_out else like(out)
    v_in = None if one_in else like(inputs)
    lines += ["   { name = '%s'," % name, field('inputs', inputs), field('outputs', out),
              field('jacobian', AF.jacobian(f, inputs))]
    _, vjp = AF.vjp(f, inputs, v_out)
    _, jvp = AF.jvp(f, inputs, v_in)
    if v_out is not None:
        lines.append(field('v_out', v_out))
    lines.append(field('vjp', vjp))
    if v_in is not None:
        lines.append(field('v_in', v_in))
    lines += [field('jvp', jvp), '   },']
lines.append('  },')

lines.append('  scalar = {')
for name, inputs, f in SCALAR:
    one_in = isinstance(inputs, torch.Tensor) and inputs.numel() == 1
    v = None if one_in else like(inputs)
    lines += ["   { name = '%s'," % name, field('inputs', inputs), field('output', f(*as_list(inputs))),
              field('hessian', AF.hessian(f, inputs))]
    if v is not None:
        lines.append(field('v', v))
    lines += [field('vhp', AF.vhp(f, inputs, v)[1]), field('hvp', AF.hvp(f, inputs, v)[1]), '   },']
lines.append('  },')


# create_graph: d sum(w * result) / d (inputs, v)
def graph_case(name, fn, inputs, f, v=None):
    xs = [t.clone().requires_grad_() for t in as_list(inputs)]
    xin = tuple(xs) if isinstance(inputs, tuple) else xs[0]
    vs = [t.clone().requires_grad_() for t in as_list(v)] if v is not None else []
    vin = (tuple(vs) if isinstance(v, tuple) else vs[0]) if v is not None else None
    if fn == 'jacobian':
        res = AF.jacobian(f, xin, create_graph=True)
    elif fn == 'hessian':
        res = AF.hessian(f, xin, create_graph=True)
    else:
        res = getattr(AF, fn)(f, xin, vin, create_graph=True)[1]
    flat = []

    def walk(r):
        if isinstance(r, (tuple, list)):
            for e in r:
                walk(e)
        else:
            flat.append(r)
    walk(res)
    ws = [rnd(r.dtype, *r.shape) for r in flat]
    total = sum((r * w).sum() for r, w in zip(flat, ws))
    grads = torch.autograd.grad(total, xs + vs, allow_unused=True)
    grads = [g if g is not None else torch.zeros_like(t) for g, t in zip(grads, xs + vs)]
    lines.extend(["   { name = '%s', fn = '%s'," % (name, fn), field('inputs', inputs)])
    if v is not None:
        lines.append(field('v', v))
    lines.extend([field('w', ws), field('grads', grads), '   },'])


lines.append('  graph = {')
X3 = rnd(F64, 3)
graph_case('hessian_sin', 'hessian', X3, lambda x: (x.sin() * x ** 2).sum())
graph_case('hessian_two', 'hessian', (rnd(F64, 2), rnd(F64, 3)),
           lambda x, y: (x.exp().sum() * y.tanh()).sum() + (x * x).sum() * (y ** 3).sum())
graph_case('jacobian_multi', 'jacobian', (rnd(F64, 3), rnd(F64, 2, 3)),
           lambda x, y: (x * y, (y ** 2).sum(1), x.sin()))
graph_case('vjp_tanh', 'vjp', rnd(F64, 2, 3), lambda x: torch.tanh(x) * x ** 2, rnd(F64, 2, 3))
graph_case('jvp_softmax', 'jvp', rnd(F64, 2, 3), lambda x: torch.softmax(x, 1), rnd(F64, 2, 3))
graph_case('vhp_logsumexp', 'vhp', rnd(F64, 2, 3), lambda x: x.exp().sum().log(), rnd(F64, 2, 3))
graph_case('hvp_two', 'hvp', (rnd(F64, 3), rnd(F64, 3)),
           lambda x, y: (x.sin() * y).sum() + (x * x * y * y).sum(), (rnd(F64, 3), rnd(F64, 3)))
lines.append('  },')

write_golden('autograd_functional.lua',
             ["PyTorch 1.13 golden values for torch.autograd.functional: written by",
              "tests/golden/gen_autograd_functional.py"], lines)
