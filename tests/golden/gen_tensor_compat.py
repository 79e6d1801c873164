# gen_tensor_compat.py: PyTorch golden values for the ops of
# lua/nnlua/tensor_compat.lua: the shape-strict matrix products (mm, bmm,
# mv, dot, vdot, inner, ger), the in-place comparisons and cumulative
# ops, copysign, msort, logit, float_power, ldexp, Tensor.unfold, index_put,
# fill_diagonal_, diagflat, addr, the window functions, trapezoid and
# cumulative_trapezoid, put, sum_to_size, mvlgamma, narrow_copy and
# split_with_sizes. Writes
# tests/golden/tensor_compat.lua (checked by tests/spec/tensor_compat_spec.lua);
# it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_tensor_compat.py
#
# Each case is common.method_case's (args.transpose: input 1 transposed first): outs = op(inputs...), then the
# gradients of sum((out_i * w_i).sum()) over the float outputs. New cases
# go at the end: the random stream of the earlier ones stays as it was.
import torch
from common import F32, F64, method_case, lua_method_case, write_golden

torch.manual_seed(20261129)
CASES = []


def randn(*shape, dtype=F32):
    return torch.randn(tuple(shape), dtype=dtype)


def const(t):
    return ('const', t)


def case(name, op, fn, inputs, args=None, **kw):
    CASES.append(method_case(name, op, fn, inputs, dict(args or {}), **kw))


# ---- (1) matrix products --------------------------------------------------------------------
case('mm', 'mm', torch.mm, [randn(3, 4), randn(4, 2)])
case('mm_f64_transposed', 'mm', lambda a, b: torch.mm(a.t(), b), [randn(4, 3, dtype=F64), randn(4, 5, dtype=F64)],
     {'transpose': [1, 2]})
case('mm_int64', 'mm', torch.mm, [const(torch.tensor([[1, 2], [3, 4]])), const(torch.tensor([[5, -1], [0, 2]]))],
     int_values=True)
case('bmm', 'bmm', torch.bmm, [randn(2, 3, 4), randn(2, 4, 2)])
case('bmm_f64', 'bmm', torch.bmm, [randn(3, 2, 2, dtype=F64), randn(3, 2, 3, dtype=F64)])
case('mv', 'mv', torch.mv, [randn(3, 4), randn(4)])
case('mv_f64', 'mv', torch.mv, [randn(2, 5, dtype=F64), randn(5, dtype=F64)])
case('dot', 'dot', torch.dot, [randn(5), randn(5)])
case('dot_f64', 'dot', torch.dot, [randn(7, dtype=F64), randn(7, dtype=F64)])
case('vdot_f64', 'vdot', torch.vdot, [randn(4, dtype=F64), randn(4, dtype=F64)])
case('inner_vectors', 'inner', torch.inner, [randn(4), randn(4)])
case('inner', 'inner', torch.inner, [randn(2, 3), randn(4, 5, 3)])
case('inner_f64', 'inner', torch.inner, [randn(2, 2, 3, dtype=F64), randn(3, dtype=F64)])
case('inner_scalar', 'inner', torch.inner, [randn(2, 3), torch.randn([])])
case('ger', 'ger', torch.ger, [randn(3), randn(4)])

# ---- (2) in-place comparisons (the result in the tensor's dtype) and cumulative ops ------------
a = torch.tensor([[1.0, -2.0, 3.0], [0.5, 2.0, -1.0]])
b = torch.tensor([1.0, 2.0, -1.0])
for name in ['eq', 'ne', 'lt', 'le', 'gt', 'ge']:
    case(name + '_', name + '_', lambda x, y, n=name: getattr(x.clone(), n + '_')(y), [const(a), const(b)])
    case(name + '_number_f64', name + '_number', lambda x, n=name: getattr(x.clone(), n + '_')(0.5),
         [const(a.to(F64))], {'other': 0.5})
    case(name + '_int64', name + '_', lambda x, y, n=name: getattr(x.clone(), n + '_')(y),
         [const(torch.tensor([[3, 1], [2, 2]])), const(torch.tensor([2, 2]))], int_values=True)
for name in ['cumsum', 'cumprod']:
    case(name + '_', name + '_', lambda x, n=name: getattr(x.clone(), n + '_')(1), [const(randn(3, 4))], {'dim': 2})
    case(name + '_int64', name + '_', lambda x, n=name: getattr(x.clone(), n + '_')(0),
         [const(torch.tensor([[1, 2], [3, -4], [5, 6]]))], {'dim': 1}, int_values=True)

# ---- (3) copysign, msort, logit, float_power, ldexp ----------------------------------------------
INF, NAN = float('inf'), float('nan')
case('copysign', 'copysign', torch.copysign, [randn(3, 4), randn(4)])
case('copysign_f64', 'copysign', torch.copysign, [randn(2, 3, dtype=F64), randn(2, 3, dtype=F64)])
case('copysign_number', 'copysign_number', lambda a: torch.copysign(a, -1.5), [randn(5)], {'other': -1.5})
case('copysign_zeros', 'copysign', torch.copysign,
     [torch.tensor([0.0, 0.0, 1.5, -2.0, 3.0], dtype=F64), torch.tensor([-1.0, 2.0, -0.0, 0.0, -INF], dtype=F64)])
case('copysign_edge', 'copysign', torch.copysign,
     [const(torch.tensor([INF, -INF, NAN, NAN, 1.0, -0.0])), const(torch.tensor([-1.0, 1.0, -1.0, 1.0, NAN, 1.0]))])
case('copysign_int64', 'copysign', torch.copysign,
     [const(torch.tensor([3, -2, 0, 5])), const(torch.tensor([-1, -1, -1, 2]))])
case('msort', 'msort', torch.msort, [randn(4, 3)])
case('msort_f64_1d', 'msort', torch.msort, [randn(6, dtype=F64)])
case('msort_int64', 'msort', torch.msort, [const(torch.tensor([[3, -1], [1, 5], [2, 0]]))], int_values=True)
case('logit', 'logit', torch.logit, [torch.rand(3, 4) * 0.9 + 0.05])
case('logit_f64', 'logit', torch.logit, [torch.rand(5, dtype=F64) * 0.9 + 0.05])
case('logit_eps', 'logit_eps', lambda x: torch.logit(x, 0.2),
     [torch.tensor([0.05, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95], dtype=F64)], {'eps': 0.2})
case('logit_edge', 'logit', torch.logit, [const(torch.tensor([0.0, 1.0, -0.5, 1.5, NAN, 0.5]))])
case('logit_int64', 'logit', torch.logit, [const(torch.tensor([0, 1]))])
case('float_power', 'float_power', torch.float_power, [torch.rand(3, 4) + 0.5, randn(4)])
case('float_power_number', 'float_power_number', lambda a: torch.float_power(a, 2.5), [torch.rand(5) + 0.1],
     {'exponent': 2.5})
case('float_power_int64', 'float_power', torch.float_power,
     [const(torch.tensor([2, 3, -2])), const(torch.tensor([3, 2, 3]))])
case('ldexp', 'ldexp', torch.ldexp, [randn(3, 4), const(torch.tensor([0, 1, -2, 5]))])
case('ldexp_f64_float_exp', 'ldexp', torch.ldexp, [randn(2, 3, dtype=F64), torch.tensor([0.5, -1.0, 2.0], dtype=F64)])
case('ldexp_int64', 'ldexp', torch.ldexp, [const(torch.tensor([1, -3, 5])), const(torch.tensor([2, -1, 0]))])

# ---- (4) Tensor.unfold (args: 1-based dim, size, step) ------------------------------------------
case('unfold_overlap', 'unfold', lambda x: x.unfold(0, 3, 1), [randn(6)], {'dim': 1, 'size': 3, 'step': 1})
case('unfold_dim2_step2', 'unfold', lambda x: x.unfold(1, 2, 2), [randn(3, 5)], {'dim': 2, 'size': 2, 'step': 2})
case('unfold_f64_dim1', 'unfold', lambda x: x.unfold(0, 2, 3), [randn(7, 2, 3, dtype=F64)], {'dim': 1, 'size': 2, 'step': 3})
case('unfold_negative_dim', 'unfold', lambda x: x.unfold(-2, 2, 1), [randn(2, 3, 2)], {'dim': -2, 'size': 2, 'step': 1})
case('unfold_whole', 'unfold', lambda x: x.unfold(1, 4, 5), [randn(2, 4)], {'dim': 2, 'size': 4, 'step': 5})
case('unfold_int64', 'unfold', lambda x: x.unfold(0, 2, 2), [const(torch.arange(10).reshape(5, 2))],
     {'dim': 1, 'size': 2, 'step': 2}, int_values=True)

# ---- (5) index_put, fill_diagonal_, diagflat, addr (index tensors written 1-based) -----------------
def put(accumulate):
    def f(x, i, j, v):
        return x.index_put((i - 1, j - 1), v, accumulate=accumulate)
    return f


case('index_put', 'index_put', put(False),
     [randn(3, 4), const(torch.tensor([1, 3, 2])), const(torch.tensor([2, 4, 1])), randn(3)])
case('index_put_accumulate', 'index_put', put(True),
     [randn(3, 4), const(torch.tensor([1, 1, 3])), const(torch.tensor([2, 2, 4])), randn(3)], {'accumulate': True})
case('index_put_broadcast_f64', 'index_put_broadcast', lambda x, i, j, v: x.index_put((i - 1, j - 1), v),
     [randn(3, 4, 2, dtype=F64), const(torch.tensor([[1], [3]])), const(torch.tensor([1, 4])), randn(2, dtype=F64)])
case('index_put_one_dim', 'index_put_one', lambda x, i, v: x.index_put((i - 1,), v),
     [randn(4, 3), const(torch.tensor([4, 2])), randn(2, 3)])
case('index_put_int64', 'index_put', put(True),
     [const(torch.zeros(2, 3, dtype=torch.int64)), const(torch.tensor([1, 2, 2])), const(torch.tensor([3, 1, 1])),
      const(torch.tensor([5, 6, 7]))], {'accumulate': True}, int_values=True)
for shape, wrap, val in (((4, 3), False, 2.5), ((7, 3), True, -1.0), ((3, 5), False, 1.0), ((3, 3, 3), False, 4.0)):
    name = 'fill_diagonal_%s%s' % ('x'.join(map(str, shape)), '_wrap' if wrap else '')
    case(name, 'fill_diagonal_', lambda x, v=val, w=wrap: x.clone().fill_diagonal_(v, wrap=w),
         [const(randn(*shape))], {'value': val, 'wrap': wrap})
case('diagflat', 'diagflat', torch.diagflat, [randn(2, 2)])
case('diagflat_offset_f64', 'diagflat', lambda x: torch.diagflat(x, -1), [randn(3, dtype=F64)], {'offset': -1})
case('addr', 'addr', lambda c, a, b: torch.addr(c, a, b, beta=0.5, alpha=2.0), [randn(3, 4), randn(3), randn(4)],
     {'beta': 0.5, 'alpha': 2.0})
case('addr_broadcast_f64', 'addr', torch.addr, [randn(4, dtype=F64), randn(2, dtype=F64), randn(4, dtype=F64)])

# ---- (6) window functions (no inputs: args n, periodic, alpha/beta, dtype) and trapezoid -------------
def window_case(name, fn, n, periodic, dtype=F32, **kw):
    args = dict(kw, n=n, periodic=periodic, dtype='float64' if dtype == F64 else 'float32')
    CASES.append(method_case(name, name.split('_w')[0] + '_window',
                             lambda: fn(n, periodic=periodic, dtype=dtype, **kw), [], args))


for n, periodic, dt in ((1, True, F32), (2, False, F32), (8, True, F32), (9, False, F64), (0, True, F32)):
    sfx = '_%d_%s%s' % (n, 'periodic' if periodic else 'symmetric', '_f64' if dt == F64 else '')
    window_case('hann_window' + sfx, torch.hann_window, n, periodic, dt)
    window_case('hamming_window' + sfx, torch.hamming_window, n, periodic, dt)
    window_case('blackman_window' + sfx, torch.blackman_window, n, periodic, dt)
    window_case('bartlett_window' + sfx, torch.bartlett_window, n, periodic, dt)
    window_case('kaiser_window' + sfx, torch.kaiser_window, n, periodic, dt)
window_case('hamming_window_alpha_beta', torch.hamming_window, 7, True, F64, alpha=0.6, beta=0.3)
window_case('kaiser_window_beta', torch.kaiser_window, 10, False, F64, beta=3.5)

case('trapezoid', 'trapezoid', lambda y: torch.trapezoid(y), [randn(3, 5)])
case('trapezoid_dx_dim1_f64', 'trapezoid', lambda y: torch.trapezoid(y, dx=0.5, dim=0), [randn(4, 3, dtype=F64)],
     {'dx': 0.5, 'dim': 1})
case('trapezoid_x_1d', 'trapezoid_x', lambda y, x: torch.trapezoid(y, x), [randn(2, 4), torch.sort(randn(4))[0]])
case('trapezoid_x_full_f64', 'trapezoid_x', lambda y, x: torch.trapezoid(y, x, dim=0),
     [randn(3, 2, dtype=F64), randn(3, 2, dtype=F64)], {'dim': 1})
case('trapz_int64', 'trapezoid', lambda y: torch.trapz(y), [const(torch.tensor([[1, 4, 2], [0, -3, 5]]))])
case('cumulative_trapezoid', 'cumulative_trapezoid', lambda y: torch.cumulative_trapezoid(y, dx=2.0),
     [randn(2, 5)], {'dx': 2.0})
case('cumulative_trapezoid_x_f64', 'cumulative_trapezoid_x', lambda y, x: torch.cumulative_trapezoid(y, x, dim=0),
     [randn(4, 2, dtype=F64), randn(4, dtype=F64)], {'dim': 1})

# ---- (7) put, sum_to_size, mvlgamma, narrow_copy, split_with_sizes --------------------------------
case('put', 'put', lambda x, i, v: x.put(i - 1, v), [randn(2, 3), const(torch.tensor([1, 6, 3])), randn(3)])
case('put_accumulate_f64', 'put', lambda x, i, v: x.put(i - 1, v, accumulate=True),
     [randn(2, 2, dtype=F64), const(torch.tensor([[4, 1], [4, 2]])), randn(2, 2, dtype=F64)], {'accumulate': True})
case('sum_to_size', 'sum_to_size', lambda x: x.sum_to_size(3, 1), [randn(2, 3, 4)], {'size': [3, 1]})
case('sum_to_size_f64', 'sum_to_size', lambda x: x.sum_to_size(1, 4), [randn(3, 4, dtype=F64)], {'size': [1, 4]})
case('mvlgamma_1', 'mvlgamma', lambda x: x.mvlgamma(1), [torch.rand(5) * 3 + 0.2], {'p': 1})
case('mvlgamma_3_f64', 'mvlgamma', lambda x: torch.mvlgamma(x, 3), [torch.rand(2, 3, dtype=F64) * 3 + 1.1], {'p': 3})
case('narrow_copy', 'narrow_copy', lambda x: x.narrow_copy(1, 1, 2), [const(randn(3, 4))], {'dim': 2, 'start': 2, 'length': 2})
case('split_with_sizes', 'split_with_sizes', lambda x: x.split_with_sizes([1, 3], 1), [randn(2, 4)],
     {'sizes': [1, 3], 'dim': 2})


def main():
    for c in CASES:
        c['grads'] = [None if g is None else g.detach().clone(memory_format=torch.contiguous_format)
                      for g in c['grads']]
    write_golden('tensor_compat.lua', [
        'tensor_compat.lua: PyTorch %s golden values for the ops of lua/nnlua/tensor_compat.lua;' % torch.__version__,
        'generated by tests/golden/gen_tensor_compat.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_tensor_compat.py`). Checked by tests/spec/tensor_compat_spec.lua.',
        'Each case: inputs, args (1-based dims), w (one per float output, false for int64 ones), outs,',
        'and the grads of sum((out_i * w_i):sum()) for each input (false where it has none).',
    ], [lua_method_case(c, F64) for c in CASES])


if __name__ == '__main__':
    main()
