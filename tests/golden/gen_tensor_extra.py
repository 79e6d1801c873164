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
import torch
from common import F32, F64, I64, method_case, lua_method_case, write_golden

torch.manual_seed(20250801)
CASES = []


def randn(*shape, dtype=F32):
    return torch.randn(tuple(shape), dtype=dtype)


def with_zeros(x, places):
    """x with zeros at the given flat places"""
    x = x.clone().reshape(-1)
    x[list(places)] = 0
    return x


def case(*args, **kw):
    CASES.append(method_case(*args, **kw))


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


def main():
    write_golden('tensor_extra.lua', [
        'tensor_extra.lua: PyTorch %s golden values for nnlua tensor methods; generated by' % torch.__version__,
        'tests/golden/gen_tensor_extra.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_tensor_extra.py`). Checked by tests/spec/tensor_extra_spec.lua.',
        'Each case: inputs, args (1-based dims), w (one per float output, false for',
        'int64 ones), outs (index ones 1-based), and the grads of',
        'sum((out_i * w_i):sum()) for each input (false where it has none).',
    ], [lua_method_case(c, F64) for c in CASES])


if __name__ == '__main__':
    main()
