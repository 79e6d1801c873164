# gen_tensor_extra.py: PyTorch golden values for more of nnlua's tensor
# methods: sum, mean, var and std over a list of dims, cumsum and cumprod
# (zeros in the input for cumprod's gradient), nonzero, argwhere and
# masked_select, in float32, float64 and int64. Writes
# tests/golden/tensor_extra.lua (checked by tests/spec/tensor_extra_spec.lua);
# it does not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_tensor_extra.py
#
# Each case is made as gen_tensor_ops.py makes its own: on seeded inputs,
# outs = op(inputs...), then the gradients of sum((out_i * w_i).sum()) over
# the float outputs, w_i fixed random tensors of their shapes and dtypes.
# int64 outputs are compared exactly; index outputs are written 1-based.
# Non-contiguous cases transpose or permute an input inside the op, on
# both sides. New cases go at the end: the random stream of the earlier
# ones stays as it was.
import os
import torch

torch.manual_seed(20250801)
F32, F64, I64 = torch.float32, torch.float64, torch.int64
CASES = []


def randn(*shape, dtype=F32):
    return torch.randn(tuple(shape), dtype=dtype)


def with_zeros(x, places):
    """x with zeros at the given flat places"""
    x = x.clone().reshape(-1)
    x[list(places)] = 0
    return x


def case(name, op, fn, inputs, args=None, int_values=False):
    """inputs: float tensors (requiring grad), or ('const', t) for ones that
    take none; fn(*inputs) -> a tensor, or a tuple or list of them; its
    int64 outputs are indices (written 1-based) unless int_values."""
    leaves = []
    for x in inputs:
        if isinstance(x, tuple):
            leaves.append(x[1])
        else:
            leaves.append(x.clone().requires_grad_(x.is_floating_point()))
    res = fn(*leaves)
    if isinstance(res, torch.Tensor):
        res = [res]
    res = list(res)
    ws, loss = [], None
    for r in res:
        if r.is_floating_point():
            w = torch.randn(r.shape, dtype=r.dtype)
            ws.append(w)
            term = (r * w).sum()
            loss = term if loss is None else loss + term
        else:
            ws.append(None)
    if loss is not None and loss.requires_grad:
        loss.backward()
    CASES.append({
        'name': name, 'op': op,
        'inputs': [x.detach() for x in leaves],
        'args': args or {},
        'w': ws,
        'outs': [r.detach() if r.is_floating_point() or int_values else r + 1 for r in res],
        'grads': [x.grad if isinstance(x, torch.Tensor) and x.requires_grad else None for x in leaves],
    })


# ---- (1) sum, mean, var and std over several dims ---------------------------------
case('sum_dims', 'sum_dims', lambda x: x.sum((1, 2)), [randn(2, 3, 4)], {'dims': [2, 3]})
case('sum_dims_keepdim', 'sum_dims', lambda x: x.sum((2, 0), keepdim=True), [randn(2, 3, 4)],
     {'dims': [3, 1], 'keepdim': True})
case('sum_dims_negative_permuted', 'sum_dims_p', lambda x: x.permute(2, 0, 1).sum((-1, 0)), [randn(2, 3, 4)],
     {'dims': [-1, 1]})
case('sum_dims_all_keepdim', 'sum_dims', lambda x: x.sum((0, 1, 2), keepdim=True), [randn(2, 3, 2)],
     {'dims': [1, 2, 3], 'keepdim': True})
case('sum_dims_int64', 'sum_dims', lambda x: x.sum((0, 2)),
     [('const', torch.arange(-12, 12).view(2, 3, 4))], {'dims': [1, 3]}, int_values=True)
case('mean_dims', 'mean_dims', lambda x: x.mean((0, 2)), [randn(3, 2, 5)], {'dims': [1, 3]})
case('mean_dims_keepdim_permuted', 'mean_dims_p', lambda x: x.permute(2, 0, 1).mean((1, 2), keepdim=True),
     [randn(2, 3, 4)], {'dims': [2, 3], 'keepdim': True})
case('mean_dims_f64', 'mean_dims', lambda x: x.mean((-2, -1)), [randn(2, 3, 4, dtype=F64)], {'dims': [-2, -1]})
case('var_dims', 'var_dims', lambda x: x.var((1, 2)), [randn(2, 3, 4)], {'dims': [2, 3]})
case('var_dims_biased_keepdim', 'var_dims', lambda x: x.var((0, 2), unbiased=False, keepdim=True),
     [randn(3, 2, 4)], {'dims': [1, 3], 'unbiased': False, 'keepdim': True})
case('std_dims_permuted', 'std_dims_p', lambda x: x.permute(2, 0, 1).std((0, 1)), [randn(2, 3, 4)],
     {'dims': [1, 2]})
case('std_dims_f64_keepdim', 'std_dims', lambda x: x.std((0, 1), True, True), [randn(3, 4, 2, dtype=F64)],
     {'dims': [1, 2], 'unbiased': True, 'keepdim': True})


# ---- (2) cumsum and cumprod ----------------------------------------------------------
case('cumsum', 'cumsum', lambda x: x.cumsum(1), [randn(3, 5)], {'dim': 2})
case('cumsum_middle_dim', 'cumsum', lambda x: x.cumsum(1), [randn(2, 4, 3)], {'dim': 2})
case('cumsum_first_dim_transposed', 'cumsum_t', lambda x: x.t().cumsum(0), [randn(3, 4)], {'dim': 1})
case('cumsum_f64', 'cumsum', lambda x: x.cumsum(-1), [randn(2, 6, dtype=F64)], {'dim': -1})
case('cumsum_int64', 'cumsum', lambda x: x.cumsum(0), [('const', torch.tensor([[3, -1], [4, 1], [-5, 9]]))],
     {'dim': 1}, int_values=True)
# values away from 0 so that no product underflows; signs mixed
mag = lambda *s: (torch.rand(s) + 0.5) * torch.where(torch.rand(s) < 0.3, -1.0, 1.0)
case('cumprod', 'cumprod', lambda x: x.cumprod(1), [mag(3, 5)], {'dim': 2})
case('cumprod_middle_dim', 'cumprod', lambda x: x.cumprod(1), [mag(2, 4, 3)], {'dim': 2})
# row 0: one zero inside; row 1: two zeros; row 2: a zero first; row 3:
# a zero last; row 4: zeros side by side
zs = with_zeros(mag(5, 6), [2, 7, 10, 12, 23, 26, 27]).view(5, 6)
case('cumprod_zeros', 'cumprod', lambda x: x.cumprod(1), [zs], {'dim': 2})
case('cumprod_zeros_transposed', 'cumprod_t', lambda x: x.t().cumprod(0), [zs], {'dim': 1})
zm = with_zeros(mag(2, 4, 3), [3, 4, 10, 13, 17, 20]).view(2, 4, 3)
case('cumprod_zeros_middle_dim', 'cumprod', lambda x: x.cumprod(1), [zm], {'dim': 2})
case('cumprod_zeros_f64', 'cumprod', lambda x: x.cumprod(-1),
     [with_zeros(mag(3, 5).double(), [1, 3, 5, 14]).view(3, 5)], {'dim': -1})
case('cumprod_int64', 'cumprod', lambda x: x.cumprod(1),
     [('const', torch.tensor([[2, -3, 0, 4], [1, 5, -2, 7]]))], {'dim': 2}, int_values=True)


# ---- (3) nonzero, argwhere, masked_select ------------------------------------------------
nz = torch.tensor([[0.0, 1.5, 0.0, -2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, -0.5, 1.0]])
case('nonzero', 'nonzero', lambda x: x.nonzero(), [('const', nz)])
case('nonzero_transposed', 'nonzero_t', lambda x: x.t().nonzero(), [('const', nz)])
case('nonzero_3d_int64', 'nonzero', lambda x: x.nonzero(),
     [('const', torch.tensor([[[0, 2], [1, 0]], [[0, 0], [-3, 4]]]))])
case('nonzero_none', 'nonzero', lambda x: x.nonzero(), [('const', torch.zeros(2, 3))])
case('argwhere_permuted', 'argwhere_p', lambda x: torch.argwhere(x.permute(2, 0, 1)),
     [('const', torch.tensor([[[0, 2], [1, 0]], [[0, 0], [-3, 4]]]))])
mk = (torch.rand(3, 4) > 0.5).to(I64)
case('masked_select', 'masked_select', lambda x, m: x.masked_select(m.bool()), [randn(3, 4), ('const', mk)])
# PyTorch 1.13's masked_select backward is wrong on a non-contiguous input:
# it scatters the gradient with masked_scatter_ into zeros of the input's
# strides, which fills them in memory order, not in the elements' order
# (torch.zeros(4, 3).t().masked_scatter_(mask, g) puts g's first values
# down a column). The values do not depend on the strides, so the case is
# made on a contiguous copy, whose gradient is the derivative (a float64
# gradcheck in the spec agrees).
case('masked_select_row_mask_transposed', 'masked_select_t',
     lambda x, m: x.t().contiguous().masked_select(m.bool()),
     [randn(4, 3), ('const', torch.tensor([1, 0, 1, 1]))])
# a mask larger than the tensor: each element is selected once per row,
# and its gradient is the sum over them
case('masked_select_broadcast_tensor', 'masked_select', lambda x, m: x.masked_select(m.bool()),
     [randn(4), ('const', torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 0]]))])
case('masked_select_f64', 'masked_select', lambda x, m: x.masked_select(m.bool()),
     [randn(2, 3, dtype=F64), ('const', torch.tensor([[0, 1, 1], [1, 0, 0]]))])
case('masked_select_int64', 'masked_select', lambda x, m: x.masked_select(m.bool()),
     [('const', torch.tensor([[5, -6, 7], [8, 9, -10]])), ('const', torch.tensor([[1, 1, 0], [0, 1, 1]]))],
     int_values=True)


# ---- writing ------------------------------------------------------------------------------

def num(v, dtype):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    # 9 significant digits round-trip a float32, 17 a float64
    return ('%.17g' if dtype == F64 else '%.9g') % v


def lua_tensor(t):
    if t is None:
        return 'false'
    shape = ', '.join(str(s) for s in t.shape)
    flat = t.detach().reshape(-1).tolist()
    dt = {F32: '', F64: ", dtype = 'float64'", I64: ", dtype = 'int64'"}[t.dtype]
    return '{ shape = { %s }, data = { %s }%s }' % (shape, ', '.join(num(v, t.dtype) for v in flat), dt)


def lua_value(v):
    if isinstance(v, (list, tuple)):
        return '{ %s }' % ', '.join(lua_value(x) for x in v)
    return num(v, F64)


def lua_list(ts):
    return '{ %s }' % ', '.join(lua_tensor(t) for t in ts)


def lua_case(c):
    lines = ['  {']
    lines.append("    name = '%s', op = '%s'," % (c['name'], c['op']))
    lines.append('    inputs = {')
    lines += ['      %s,' % lua_tensor(x) for x in c['inputs']]
    lines.append('    },')
    args = ', '.join('%s = %s' % (k, lua_value(v)) for k, v in c['args'].items())
    lines.append('    args = { %s },' % args)
    lines.append('    w = %s,' % lua_list(c['w']))
    lines.append('    outs = %s,' % lua_list(c['outs']))
    lines.append('    grads = {')
    lines += ['      %s,' % lua_tensor(g) for g in c['grads']]
    lines.append('    },')
    lines.append('  },')
    return '\n'.join(lines)


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'tensor_extra.lua')
    with open(path, 'w') as f:
        f.write('-- tensor_extra.lua: PyTorch %s golden values for nnlua tensor methods; generated by\n'
                % torch.__version__)
        f.write('-- tests/golden/gen_tensor_extra.py (do not edit by hand; regenerate with\n')
        f.write('-- `/usr/bin/python3 tests/golden/gen_tensor_extra.py`). Checked by tests/spec/tensor_extra_spec.lua.\n')
        f.write('-- Each case: inputs, args (1-based dims), w (one per float output, false for\n')
        f.write('-- int64 ones), outs (index ones 1-based), and the grads of\n')
        f.write('-- sum((out_i * w_i):sum()) for each input (false where it has none).\n')
        f.write('return {\n')
        for c in CASES:
            f.write(lua_case(c) + '\n')
        f.write('}\n')
    print('%d cases -> %s (%d bytes)' % (len(CASES), path, os.path.getsize(path)))


if __name__ == '__main__':
    main()
