# gen_ops.py: PyTorch golden values for every differentiable op of nnlua.
# Writes tests/golden/ops.lua (checked by tests/spec/golden_spec.lua); it does
# not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_ops.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# For each case, in float32 on seeded inputs: out = op(inputs...), then the
# loss (out * w).sum() with a fixed random w of out's shape, and the gradient
# of every input that requires one. Non-tensor args are written in nnlua's
# convention: dims and indices 1-based.
import os
import torch
from common import F32, randn, uniform, away_from, num, lua_tensor, lua_value

torch.manual_seed(20240611)


CASES = []


def case(name, op, fn, inputs, args=None, grad=None, extra=None):
    """inputs: list of float32 tensors; grad: list of bools (default all
    True); fn(*inputs) -> output tensor, or (values, indices) for max/min."""
    grad = grad if grad is not None else [True] * len(inputs)
    leaves = [x.clone().requires_grad_(g) for x, g in zip(inputs, grad)]
    res = fn(*leaves)
    indices = None
    if isinstance(res, tuple):
        res, indices = res
    assert res.dtype == F32, name
    if op in ('maximum', 'minimum'):    # no ties: the gradient goes one way
        assert (leaves[0] - leaves[1]).abs().min() > 1e-3, name
    w = randn(*res.shape)
    (res * w).sum().backward()
    c = {
        'name': name,
        'op': op,
        'inputs': [x.detach() for x in leaves],
        'args': args or {},
        'w': w,
        'out': res.detach(),
        'grads': [x.grad if g else None for x, g in zip(leaves, grad)],
    }
    for x, g in zip(leaves, grad):
        if g:
            assert x.grad is not None and x.grad.shape == x.shape, name
    if indices is not None:
        c['indices'] = indices + 1     # 1-based, as nnlua returns them
    CASES.append(c)


# ---- elementwise binary (same shape and broadcast) --------------------------
case('add', 'add', torch.add, [randn(3, 4), randn(3, 4)])
case('add_broadcast', 'add', torch.add, [randn(3, 4), randn(4)])
case('sub', 'sub', torch.sub, [randn(3, 4), randn(3, 4)])
case('sub_broadcast', 'sub', torch.sub, [randn(3, 1), randn(1, 4)])
case('mul', 'mul', torch.mul, [randn(3, 4), randn(3, 4)])
case('mul_broadcast', 'mul', torch.mul, [randn(2, 1, 4), randn(3, 1)])
case('mul_nograd_b', 'mul', torch.mul, [randn(3, 4), randn(3, 4)], grad=[True, False])
case('div', 'div', torch.div, [randn(3, 4), away_from(randn(3, 4), [0.0], 0.3)])
case('div_broadcast', 'div', torch.div, [randn(2, 3, 4), uniform((3, 1), 0.5, 2.0)])
case('pow', 'pow', torch.pow, [uniform((3, 4), 0.5, 2.0), uniform((3, 4), -1.5, 2.5)])
case('pow_broadcast', 'pow', torch.pow, [uniform((2, 3), 0.5, 2.0), uniform((3,), -1.5, 2.5)])
case('maximum', 'maximum', torch.maximum, [randn(3, 4), randn(3, 4)])
case('maximum_broadcast', 'maximum', torch.maximum, [randn(3, 4), randn(4)])
case('minimum', 'minimum', torch.minimum, [randn(3, 4), randn(3, 4)])
case('minimum_broadcast', 'minimum', torch.minimum, [randn(2, 1, 3), randn(4, 1)])

# ---- scalar versions ----------------------------------------------------------
case('add_scalar', 'add_scalar', lambda x: x + 2.5, [randn(3, 4)], {'scalar': 2.5})
case('rsub_scalar', 'rsub_scalar', lambda x: 3 - x, [randn(3, 4)], {'scalar': 3})
case('mul_scalar', 'mul_scalar', lambda x: x * -1.5, [randn(3, 4)], {'scalar': -1.5})
case('div_scalar', 'div_scalar', lambda x: x / 4, [randn(3, 4)], {'scalar': 4})
case('rdiv_scalar', 'rdiv_scalar', lambda x: 2 / x, [away_from(randn(3, 4), [0.0], 0.3)], {'scalar': 2})
case('pow_scalar', 'pow_scalar', lambda x: x ** 3, [randn(3, 4)], {'scalar': 3})
case('rpow_scalar', 'rpow_scalar', lambda x: 2 ** x, [randn(3, 4)], {'scalar': 2})

# ---- elementwise unary --------------------------------------------------------
case('neg', 'neg', torch.neg, [randn(3, 4)])
case('exp', 'exp', torch.exp, [randn(3, 4)])
case('log', 'log', torch.log, [uniform((3, 4), 0.1, 3.0)])
case('sqrt', 'sqrt', torch.sqrt, [uniform((3, 4), 0.1, 3.0)])
case('abs', 'abs', torch.abs, [away_from(randn(3, 4), [0.0])])
case('relu', 'relu', torch.relu, [away_from(randn(2, 3, 4), [0.0])])
case('sigmoid', 'sigmoid', torch.sigmoid, [randn(3, 4) * 2])
case('tanh', 'tanh', torch.tanh, [randn(3, 4)])
case('clamp', 'clamp', lambda x: torch.clamp(x, -0.5, 0.5),
     [away_from(randn(3, 4), [-0.5, 0.5])], {'lo': -0.5, 'hi': 0.5})

# ---- reductions -----------------------------------------------------------------
case('sum_all', 'sum', lambda x: x.sum(), [randn(3, 4)])
case('sum_dim', 'sum', lambda x: x.sum(1), [randn(2, 3, 4)], {'dim': 2, 'keepdim': False})
case('sum_dim_keepdim', 'sum', lambda x: x.sum(1, keepdim=True), [randn(2, 3, 4)], {'dim': 2, 'keepdim': True})
case('sum_dim_neg', 'sum', lambda x: x.sum(-1), [randn(3, 4)], {'dim': -1, 'keepdim': False})
case('mean_all', 'mean', lambda x: x.mean(), [randn(3, 4)])
case('mean_dim', 'mean', lambda x: x.mean(0), [randn(3, 4)], {'dim': 1, 'keepdim': False})
case('mean_dim_keepdim', 'mean', lambda x: x.mean(2, keepdim=True), [randn(2, 3, 4)], {'dim': 3, 'keepdim': True})
case('max_dim', 'max', lambda x: x.max(1), [randn(3, 4)], {'dim': 2, 'keepdim': False})
case('max_dim_keepdim', 'max', lambda x: x.max(0, keepdim=True), [randn(2, 3, 4)], {'dim': 1, 'keepdim': True})
case('min_dim', 'min', lambda x: x.min(1), [randn(3, 4)], {'dim': 2, 'keepdim': False})
case('min_dim3', 'min', lambda x: x.min(2), [randn(2, 3, 4)], {'dim': 3, 'keepdim': False})
case('softmax', 'softmax', lambda x: torch.softmax(x, 1), [randn(3, 4)], {'dim': 2})
case('softmax_dim1', 'softmax', lambda x: torch.softmax(x, 0), [randn(2, 3, 4)], {'dim': 1})
case('log_softmax', 'log_softmax', lambda x: torch.log_softmax(x, -1), [randn(3, 4)], {'dim': -1})
case('log_softmax_dim2', 'log_softmax', lambda x: torch.log_softmax(x, 1), [randn(2, 3, 4)], {'dim': 2})

# ---- matmul ---------------------------------------------------------------------
case('matmul_2d', 'matmul', torch.matmul, [randn(3, 4), randn(4, 5)])
case('matmul_batched', 'matmul', torch.matmul, [randn(2, 3, 4), randn(2, 4, 5)])
case('matmul_3d_2d', 'matmul', torch.matmul, [randn(2, 3, 4), randn(4, 5)])
case('matmul_1d_2d', 'matmul', torch.matmul, [randn(4), randn(4, 5)])
case('matmul_2d_1d', 'matmul', torch.matmul, [randn(3, 4), randn(4)])

# ---- views and copies -------------------------------------------------------------
case('view', 'view', lambda x: x.view(6, 4), [randn(2, 3, 4)], {'shape': [6, 4]})
case('reshape', 'reshape', lambda x: x.reshape(2, 6), [randn(3, 4)], {'shape': [2, 6]})
case('transpose', 'transpose', lambda x: x.transpose(0, 2), [randn(2, 3, 4)], {'dim1': 1, 'dim2': 3})
case('permute', 'permute', lambda x: x.permute(2, 0, 1), [randn(2, 3, 4)], {'dims': [3, 1, 2]})
case('narrow', 'narrow', lambda x: x.narrow(1, 1, 3), [randn(3, 5)], {'dim': 2, 'start': 2, 'length': 3})
case('select', 'select', lambda x: x.select(1, 2), [randn(2, 3, 4)], {'dim': 2, 'index': 3})
case('expand', 'expand', lambda x: x.expand(3, 4), [randn(3, 1)], {'sizes': [3, 4]})
case('expand_new_dims', 'expand', lambda x: x.expand(2, 3, 4), [randn(4)], {'sizes': [2, 3, 4]})
idx = [2, 0, 2, 3]     # repeated index: the gradient accumulates
case('index_select', 'index_select', lambda x: x.index_select(0, torch.tensor(idx)),
     [randn(4, 3)], {'dim': 1, 'index': [i + 1 for i in idx]})
idx2 = [1, 1, 0]
case('index_select_dim2', 'index_select', lambda x: x.index_select(1, torch.tensor(idx2)),
     [randn(2, 3)], {'dim': 2, 'index': [i + 1 for i in idx2]})
case('cat_dim1', 'cat', lambda a, b: torch.cat([a, b], 0), [randn(2, 3), randn(4, 3)], {'dim': 1})
case('cat_dim2', 'cat', lambda a, b, c: torch.cat([a, b, c], 1), [randn(2, 3), randn(2, 2), randn(2, 1)], {'dim': 2})
case('stack_dim1', 'stack', lambda a, b: torch.stack([a, b], 0), [randn(3, 4), randn(3, 4)], {'dim': 1})
case('stack_dim3', 'stack', lambda a, b, c: torch.stack([a, b, c], 2), [randn(2, 3), randn(2, 3), randn(2, 3)], {'dim': 3})
mask = (torch.rand(3, 4) > 0.5).to(F32)
case('where', 'where', lambda c, a, b: torch.where(c > 0, a, b), [mask, randn(3, 4), randn(3, 4)],
     grad=[False, True, True])
case('where_broadcast', 'where', lambda c, a, b: torch.where(c > 0, a, b), [mask, randn(3, 4), randn(4)],
     grad=[False, True, True])

# ---- composites ---------------------------------------------------------------------
case('mul_add_sum', 'mul_add_sum', lambda a, b: (a * b + a).sum(), [randn(3, 4), randn(3, 4)])
case('linear_softmax', 'linear_softmax', lambda x, W, b: torch.softmax(x @ W + b, -1),
     [randn(3, 4), randn(4, 5), randn(5)], {'dim': -1})


# ---- writing ----------------------------------------------------------------------

def lua_case(c):
    lines = ['  {']
    lines.append("    name = '%s', op = '%s'," % (c['name'], c['op']))
    lines.append('    inputs = {')
    lines += ['      %s,' % lua_tensor(x) for x in c['inputs']]
    lines.append('    },')
    args = ', '.join('%s = %s' % (k, lua_value(v)) for k, v in c['args'].items())
    lines.append('    args = { %s },' % args)
    lines.append('    w = %s,' % lua_tensor(c['w']))
    lines.append('    out = %s,' % lua_tensor(c['out']))
    if 'indices' in c:
        lines.append('    indices = %s,' % lua_tensor(c['indices']))
    lines.append('    grads = {')
    lines += ['      %s,' % lua_tensor(g) for g in c['grads']]
    lines.append('    },')
    lines.append('  },')
    return '\n'.join(lines)


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ops.lua')
    with open(path, 'w') as f:
        f.write('-- ops.lua: PyTorch %s golden values for nnlua ops, float32; generated by\n' % torch.__version__)
        f.write('-- tests/golden/gen_ops.py (do not edit by hand; regenerate with\n')
        f.write('-- `/usr/bin/python3 tests/golden/gen_ops.py`). Checked by tests/spec/golden_spec.lua.\n')
        f.write('-- Each case: inputs, args (1-based dims), w, out = op(inputs), and grads of\n')
        f.write('-- (out * w):sum() for each input (false where it has none).\n')
        f.write('return {\n')
        for c in CASES:
            f.write(lua_case(c) + '\n')
        f.write('}\n')
    print('%d cases -> %s (%d bytes)' % (len(CASES), path, os.path.getsize(path)))


if __name__ == '__main__':
    main()
