# gen_tensor_more.py: PyTorch golden values for the ops of
# lua/nnlua/tensor_more.lua and src/ops_math.c: the special functions
# (tan ... digamma, polygamma, atan2, hypot, fmod, remainder), the composed
# elementwise ones (sign, frac, reciprocal, rsqrt, square, sinc, deg2rad,
# rad2deg, floor_divide, logaddexp, logaddexp2, xlogy, heaviside), the
# predicates and logical ops, fmax and fmin, nan_to_num, the reductions
# (any, all, prod, amax, amin, aminmax, norm, dist, renorm, std_mean,
# var_mean), the dim moves and copies (t, mT, swapaxes, tile, repeat,
# take, take_along_dim, index_fill, index_copy, masked_scatter, squeeze of
# dims), clamp_min, clamp_max, addcmul and addcdiv. Writes
# tests/golden/tensor_more.lua (checked by tests/spec/tensor_more_spec.lua);
# it does not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_tensor_more.py
#
# Each case is made as gen_tensor_ops.py makes its own (common.method_case):
# outs = op(inputs...), then the gradients of sum((out_i * w_i).sum()) over
# the float outputs. Bool outputs are written in the input's (promoted)
# dtype: nnlua has no bool, and its predicates give 1/0 masks. args hold the
# 1-based dims nnlua takes; args.transpose = {a, b} transposes input 1
# inside the op on both sides (a non-contiguous input). Edge values (0, -0,
# the infinities, NaN, large and tiny numbers, poles) go in as constants,
# values only. New cases go at the end: the random stream of the earlier
# ones stays as it was.
import math
import torch
from common import F32, F64, I64, method_case, lua_method_case, write_golden, away_from

torch.manual_seed(20251128)
CASES = []
INF, NAN = float('inf'), float('nan')
EDGE = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1e-30, -1e-30, 1e30, -1e30, 100.0, -100.0, INF, -INF, NAN]


def randn(*shape, dtype=F32):
    return torch.randn(tuple(shape), dtype=dtype)


def uniform(shape, lo, hi, dtype=F32):
    return torch.rand(tuple(shape), dtype=dtype) * (hi - lo) + lo


def const(t):
    return ('const', t)


def index(t):
    return ('index', t)


def edge(dtype=F32):
    return torch.tensor(EDGE, dtype=dtype)


def case(name, op, fn, inputs, args=None, **kw):
    """fn(*inputs) after the transpose args.transpose names (on input 1)"""
    args = dict(args or {})
    tr = args.get('transpose')

    def run(*xs):
        xs = list(xs)
        if tr:
            xs[0] = xs[0].transpose(tr[0] - 1, tr[1] - 1)
        return fn(*xs)
    CASES.append(method_case(name, op, run, inputs, args, **kw))


def as_dtype(fn, dtype):
    """fn's bool results in dtype (nnlua's masks)"""
    def run(*xs):
        r = fn(*xs)
        if isinstance(r, (tuple, list)):
            return [x.to(dtype) if x.dtype == torch.bool else x for x in r]
        return r.to(dtype) if r.dtype == torch.bool else r
    return run


# ---- (1) special functions with a kernel --------------------------------------------------
DOMAIN = {
    'asin': (-0.95, 0.95), 'acos': (-0.95, 0.95), 'atanh': (-0.95, 0.95), 'erfinv': (-0.95, 0.95),
    'acosh': (1.1, 4.0), 'log1p': (-0.9, 4.0), 'log2': (0.1, 5.0), 'log10': (0.1, 5.0),
    'lgamma': (0.1, 6.0), 'digamma': (0.1, 6.0), 'tan': (-1.4, 1.4),
}
UNARY = ['tan', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'acosh', 'atanh', 'log1p', 'expm1', 'log2', 'log10',
         'exp2', 'erf', 'erfc', 'erfinv', 'lgamma', 'digamma']
for name in UNARY:
    lo, hi = DOMAIN.get(name, (-3.0, 3.0))
    f = (lambda n: lambda x: getattr(x, n)())(name)
    case(name, name, f, [uniform((3, 4), lo, hi)], {'transpose': [1, 2]})
    case(name + '_f64', name, f, [uniform((2, 3), lo, hi, F64)])
    case(name + '_edge', name, f, [const(edge())])
    case(name + '_edge_f64', name, f, [const(edge(F64))])
    case(name + '_int64', name, f, [const(torch.tensor([-3, -1, 0, 1, 2, 7]))])
# the reflection of lgamma and digamma below 0, away from the poles
neg = away_from(uniform((6,), -4.0, -0.1), [-4.0, -3.0, -2.0, -1.0, 0.0], 0.1)
case('lgamma_negative', 'lgamma', lambda x: x.lgamma(), [neg.clone()])
case('digamma_negative_f64', 'digamma', lambda x: x.digamma(), [neg.to(F64)])
case('digamma_large', 'digamma', lambda x: x.digamma(), [const(torch.tensor([9.5, 10.0, 10.5, 1e5, 1e17, 1e20]))])
for n in (0, 1, 2, 3):
    case('polygamma_%d' % n, 'polygamma', lambda x, n=n: x.polygamma(n), [uniform((2, 3), 0.2, 5.0)], {'n': n})
    case('polygamma_%d_f64' % n, 'polygamma', lambda x, n=n: torch.polygamma(n, x), [uniform((5,), 0.2, 5.0, F64)],
         {'n': n})
    case('polygamma_%d_edge' % n, 'polygamma', lambda x, n=n: x.polygamma(n),
         [const(torch.tensor([0.0, -1.0, -1.5, 1e-3, 30.0, 1e10, INF, NAN], dtype=F64))], {'n': n})
case('polygamma_2_negative', 'polygamma', lambda x: x.polygamma(2), [neg.clone()], {'n': 2})

# binary ones: broadcast, a number, int64, edges
for name in ['atan2', 'hypot', 'fmod', 'remainder']:
    f = (lambda n: lambda a, b: getattr(torch, n)(a, b))(name)
    b = randn(4) + torch.tensor([3.0, -3.0, 2.0, -2.0]) if name in ('fmod', 'remainder') else randn(4)
    case(name, name, f, [randn(3, 4) * 3, b])
    case(name + '_f64_transposed', name, f, [randn(4, 3, dtype=F64) * 3, b.to(F64) + 0.5], {'transpose': [1, 2]})
    case(name + '_number', name + '_number', lambda a, n=name: getattr(torch, n)(a, torch.tensor(1.5)), [randn(2, 3) * 3],
         {'other': 1.5})
    ea = torch.tensor([0.0, -0.0, 1.0, -1.0, INF, -INF, INF, NAN, 5.0, -5.0, 1e30, 1e-30])
    eb = torch.tensor([0.0, 0.0, -0.0, 0.0, INF, 2.0, -INF, 1.0, INF, -INF, 1e30, 1e30])
    case(name + '_edge', name, f, [const(ea), const(eb)])
case('fmod_int64', 'fmod', lambda a, b: torch.fmod(a, b),
     [const(torch.tensor([-7, 7, -7, 7, 0, 9])), const(torch.tensor([2, 2, -2, -2, 3, -4]))], int_values=True)
case('remainder_int64', 'remainder', lambda a, b: torch.remainder(a, b),
     [const(torch.tensor([-7, 7, -7, 7, 0, 9])), const(torch.tensor([2, 2, -2, -2, 3, -4]))], int_values=True)
case('remainder_int64_fraction', 'remainder_number', lambda a: torch.remainder(a, 2.5),
     [const(torch.tensor([-7, 7, 0]))], {'other': 2.5})
case('atan2_int64', 'atan2', lambda a, b: torch.atan2(a, b),
     [const(torch.tensor([-1, 0, 1, 2])), const(torch.tensor([1, -1, 0, 2]))])

# ---- (2) composed elementwise -------------------------------------------------------------------
COMPOSED = ['sign', 'sgn', 'frac', 'reciprocal', 'rsqrt', 'square', 'sinc', 'deg2rad', 'rad2deg']
for name in COMPOSED:
    f = (lambda n: lambda x: getattr(x, n)())(name)
    x = uniform((3, 4), 0.2, 4.0) if name == 'rsqrt' else randn(3, 4) * 2
    case(name, name, f, [x], {'transpose': [1, 2]})
    case(name + '_f64', name, f, [randn(2, 3, dtype=F64) ** 2 + 0.1 if name == 'rsqrt' else randn(2, 3, dtype=F64)])
    case(name + '_edge', name, f, [const(edge())])
    if name != 'frac':
        case(name + '_int64', name, f, [const(torch.tensor([-3, -1, 0, 1, 2, 7]))], int_values=True)
case('sinc_zero_grad', 'sinc', lambda x: x.sinc(), [torch.tensor([0.0, 1.0, -0.5, 1e-3], dtype=F64)])
case('floor_divide', 'floor_divide', lambda a, b: torch.floor_divide(a, b), [const(randn(3, 4) * 5), const(randn(4))])
case('floor_divide_int64', 'floor_divide', lambda a, b: a.floor_divide(b),
     [const(torch.tensor([-7, 7, -7, 7, 0])), const(torch.tensor([2, 2, -2, -2, 3]))], int_values=True)
for name in ['logaddexp', 'logaddexp2']:
    f = (lambda n: lambda a, b: getattr(torch, n)(a, b))(name)
    case(name, name, f, [randn(3, 4) * 3, randn(4) * 3])
    case(name + '_ties_f64', name, f, [torch.tensor([1.0, -2.0, 800.0], dtype=F64),
                                      torch.tensor([1.0, 3.0, 800.0], dtype=F64)])
    case(name + '_edge', name, f, [const(torch.tensor([INF, -INF, INF, -INF, NAN, 1e30, 0.0, 100.0])),
                                   const(torch.tensor([INF, -INF, -INF, 2.0, 1.0, -1e30, -0.0, 100.0]))])
case('xlogy', 'xlogy', lambda a, b: torch.xlogy(a, b), [randn(3, 4), uniform((4,), 0.2, 3.0)])
case('xlogy_zeros_f64', 'xlogy', lambda a, b: a.xlogy(b),
     [torch.tensor([0.0, 0.0, 2.0, -1.0], dtype=F64), torch.tensor([0.5, 3.0, 1.0, 0.25], dtype=F64)])
case('xlogy_edge', 'xlogy', lambda a, b: torch.xlogy(a, b),
     [const(torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0, NAN, 0.0])),
      const(torch.tensor([0.0, NAN, INF, 0.0, -1.0, 1.0, -2.0]))])
case('xlogy_int64', 'xlogy', lambda a, b: torch.xlogy(a, b),
     [const(torch.tensor([0, 1, 2, 3])), const(torch.tensor([0, 5, 1, 2]))])
case('xlogy_number', 'xlogy_number', lambda b: torch.xlogy(3.0, b), [uniform((3,), 0.5, 2.0)], {'x': 3})
case('heaviside', 'heaviside', lambda a, b: torch.heaviside(a, b),
     [const(torch.tensor([[-1.0, 0.0, 2.0, NAN], [0.0, -0.0, INF, -INF]])), const(torch.tensor([0.5, 0.25, 7.0, 1.0]))])
case('heaviside_int64', 'heaviside', lambda a, b: torch.heaviside(a, b),
     [const(torch.tensor([-3, 0, 4])), const(torch.tensor([9]))], int_values=True)

# ---- (3) predicates, logical ops, fmax, fmin, nan_to_num -------------------------------------------
for name in ['isnan', 'isinf', 'isfinite', 'isposinf', 'isneginf', 'signbit', 'logical_not']:
    f = (lambda n: lambda x: getattr(x, n)())(name)
    case(name + '_edge', name, as_dtype(f, F32), [const(edge())])
    case(name + '_edge_f64', name, as_dtype(f, F64), [const(edge(F64).view(1, -1).t())], {'transpose': [1, 2]})
    case(name + '_int64', name, as_dtype(f, I64), [const(torch.tensor([-3, 0, 5]))], int_values=True)
for name in ['logical_and', 'logical_or', 'logical_xor']:
    f = (lambda n: lambda a, b: getattr(torch, n)(a, b))(name)
    a = torch.tensor([[0.0, 1.0, -2.0, NAN], [0.0, 0.0, INF, 3.0]])
    b = torch.tensor([0.0, 5.0, 0.0, NAN])
    case(name, name, as_dtype(f, F32), [const(a), const(b)])
    case(name + '_mixed', name, as_dtype(f, F64), [const(torch.tensor([0, 1, 2])), const(torch.tensor([0.0, 0.0, 1.5],
                                                                                                   dtype=F64))])
    case(name + '_int64', name, as_dtype(f, I64), [const(torch.tensor([0, 1, 2, 0])), const(torch.tensor([0, 0, 3, 4]))],
         int_values=True)
for name in ['fmax', 'fmin']:
    f = (lambda n: lambda a, b: getattr(torch, n)(a, b))(name)
    case(name, name, f, [randn(3, 4), randn(4)])
    # NaN on one side or both, and ties (the gradient to the input)
    case(name + '_nan_ties_f64', name, f, [torch.tensor([NAN, 1.0, NAN, 2.0, -1.0], dtype=F64),
                                          torch.tensor([1.0, NAN, NAN, 2.0, -1.0], dtype=F64)])
    case(name + '_int64', name, f, [const(torch.tensor([1, 5, -2])), const(torch.tensor([3, 4, -2]))], int_values=True)
case('nan_to_num', 'nan_to_num', lambda x: x.nan_to_num(), [torch.tensor([NAN, INF, -INF, 1.5, -0.0])])
case('nan_to_num_values_f64', 'nan_to_num', lambda x: torch.nan_to_num(x, nan=2.0, posinf=1e300, neginf=-7.0),
     [torch.tensor([[NAN, INF], [-INF, 3.0]], dtype=F64)], {'nan': 2, 'posinf': 1e300, 'neginf': -7})
case('nan_to_num_f64_default', 'nan_to_num', lambda x: x.nan_to_num(), [const(torch.tensor([INF, -INF], dtype=F64))])
case('nan_to_num_int64', 'nan_to_num', lambda x: x.nan_to_num(), [const(torch.tensor([1, -2]))], int_values=True)

# ---- (4) reductions ----------------------------------------------------------------------------------
for name in ['any', 'all']:
    f = (lambda n: lambda x: getattr(x, n)())(name)
    x = torch.tensor([[0.0, 1.0, NAN], [0.0, 0.0, 0.0], [2.0, -1.0, INF]])
    case(name, name, as_dtype(f, F32), [const(x)])
    case(name + '_dim', name, as_dtype(lambda x, n=name: getattr(x, n)(1), F32), [const(x)], {'dim': 2})
    case(name + '_dim_keepdim_transposed', name, as_dtype(lambda x, n=name: getattr(x, n)(0, keepdim=True), F32),
         [const(x)], {'dim': 1, 'keepdim': True, 'transpose': [1, 2]})
    case(name + '_int64', name, as_dtype(lambda x, n=name: getattr(x, n)(0), I64),
         [const(torch.tensor([[0, 1], [0, 3]]))], {'dim': 1}, int_values=True)
    case(name + '_empty', name, as_dtype(f, F32), [const(torch.zeros(0, 3))])
case('prod', 'prod', lambda x: x.prod(), [uniform((2, 3), 0.5, 2.0)])
case('prod_dim', 'prod', lambda x: x.prod(1), [randn(3, 4)], {'dim': 2})
case('prod_dim_keepdim_transposed', 'prod', lambda x: x.prod(0, keepdim=True), [randn(3, 4)],
     {'dim': 1, 'keepdim': True, 'transpose': [1, 2]})
# one zero in a lane, two zeros, none: PyTorch's prod_backward cases
case('prod_zeros_f64', 'prod', lambda x: x.prod(1),
     [torch.tensor([[2.0, 0.0, 3.0, 4.0], [0.0, 5.0, 0.0, 1.0], [1.5, -2.0, 0.5, 3.0]], dtype=F64)], {'dim': 2})
case('prod_all_one_zero_f64', 'prod', lambda x: x.prod(), [torch.tensor([[2.0, 0.0], [3.0, -1.5]], dtype=F64)])
case('prod_all_two_zeros', 'prod', lambda x: x.prod(), [torch.tensor([0.0, 2.0, 0.0])])
case('prod_int64', 'prod', lambda x: x.prod(0), [const(torch.tensor([[2, -3], [4, 5]]))], {'dim': 1}, int_values=True)
case('prod_dtype', 'prod', lambda x: x.prod(dtype=F64), [const(torch.tensor([2, 3, 7]))], {'dtype': 'float64'})
case('prod_empty_dim', 'prod', lambda x: x.prod(1), [const(torch.zeros(2, 0))], {'dim': 2})
for name in ['amax', 'amin']:
    case(name, name, lambda x, n=name: getattr(x, n)(1), [randn(3, 4)], {'dim': 2})
    case(name + '_all', name, lambda x, n=name: getattr(x, n)(), [randn(3, 4)])
    case(name + '_dims_keepdim_transposed', name, lambda x, n=name: getattr(x, n)((0, 2), keepdim=True),
         [randn(3, 2, 4)], {'dim': [1, 3], 'keepdim': True, 'transpose': [1, 2]})
    # ties share the gradient evenly; NaN and the infinities
    case(name + '_ties_f64', name, lambda x, n=name: getattr(x, n)(1),
         [torch.tensor([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 2.0, 2.0], [-1.0, -5.0, -5.0, 0.0]], dtype=F64)], {'dim': 2})
    case(name + '_edge', name, lambda x, n=name: getattr(x, n)(1),
         [const(torch.tensor([[1.0, NAN, 2.0], [INF, 1.0, -INF], [-0.0, 0.0, 0.0]]))], {'dim': 2})
    case(name + '_int64', name, lambda x, n=name: getattr(x, n)(0), [const(torch.tensor([[1, 7], [4, -2]]))],
         {'dim': 1}, int_values=True)
case('aminmax', 'aminmax', lambda x: tuple(torch.aminmax(x.detach())), [const(randn(3, 4))])
case('aminmax_dim_keepdim', 'aminmax', lambda x: tuple(torch.aminmax(x, dim=1, keepdim=True)), [const(randn(3, 4))],
     {'dim': 2, 'keepdim': True})
case('aminmax_int64', 'aminmax', lambda x: tuple(torch.aminmax(x, dim=0)), [const(torch.tensor([[3, -1], [2, 5]]))],
     {'dim': 1}, int_values=True)
NORMS = [2, 1, 3, 0.5, INF, -INF, 0]
for p in NORMS:
    tag = {INF: 'inf', -INF: 'neg_inf'}.get(p, str(p).replace('.', '_'))
    case('norm_p%s' % tag, 'norm', lambda x, p=p: x.norm(p), [randn(3, 4)], {'p': p})
    case('norm_p%s_dim_f64' % tag, 'norm', lambda x, p=p: x.norm(p, 1), [randn(3, 4, dtype=F64)], {'p': p, 'dim': 2})
case('norm_default_dims_keepdim_transposed', 'norm', lambda x: x.norm(dim=(0, 2), keepdim=True), [randn(3, 2, 4)],
     {'dim': [1, 3], 'keepdim': True, 'transpose': [1, 2]})
case('norm_fro', 'norm', lambda x: x.norm('fro'), [randn(2, 3)], {'p': 'fro'})
# a zero row: the gradient 0 there, not NaN
case('norm_zero_row_f64', 'norm', lambda x: x.norm(2, 1), [torch.tensor([[0.0, 0.0], [3.0, -4.0]], dtype=F64)],
     {'p': 2, 'dim': 2})
case('norm_inf_ties_f64', 'norm', lambda x: x.norm(INF), [torch.tensor([3.0, -3.0, 1.0], dtype=F64)], {'p': INF})
case('norm_large', 'norm', lambda x: x.norm(), [torch.tensor([1e19, 1e19])])
case('dist', 'dist', lambda a, b: a.dist(b), [randn(3, 4), randn(4)])
case('dist_p_f64', 'dist', lambda a, b: torch.dist(a, b, 3), [randn(3, 2, dtype=F64), randn(3, 2, dtype=F64)],
     {'p': 3})
case('dist_inf', 'dist', lambda a, b: a.dist(b, INF), [randn(5), randn(5)], {'p': INF})
case('renorm', 'renorm', lambda x: x.renorm(2, 0, 1.5), [randn(3, 4)], {'p': 2, 'dim': 1, 'maxnorm': 1.5})
case('renorm_p1_dim2_f64', 'renorm', lambda x: x.renorm(1, 1, 2.0), [randn(3, 4, 2, dtype=F64)],
     {'p': 1, 'dim': 2, 'maxnorm': 2})
case('renorm_transposed', 'renorm', lambda x: torch.renorm(x, 3, 1, 1.0), [randn(4, 3)],
     {'p': 3, 'dim': 2, 'maxnorm': 1, 'transpose': [1, 2]})
for name in ['std_mean', 'var_mean']:
    f = getattr(torch, name)
    case(name, name, lambda x, f=f: f(x), [randn(3, 4)])
    case(name + '_dim_biased_keepdim', name, lambda x, f=f: f(x, 1, unbiased=False, keepdim=True), [randn(3, 4)],
         {'dim': 2, 'unbiased': False, 'keepdim': True})
    case(name + '_dims_f64', name, lambda x, f=f: f(x, (0, 2)), [randn(2, 3, 2, dtype=F64)], {'dim': [1, 3]})
    case(name + '_correction', name, lambda x, f=f: f(x, 0, correction=0), [randn(4, 2)], {'dim': 1, 'correction': 0})

# ---- (5) dims and copies --------------------------------------------------------------------------------
case('t_1d', 't', lambda x: x.t(), [randn(3)])
case('t_2d', 't', lambda x: x.t(), [randn(2, 3)])
case('mT', 'mT', lambda x: x.mT, [randn(2, 3, 4)])
case('swapaxes', 'swapaxes', lambda x: x.swapaxes(0, 2), [randn(2, 3, 4)], {'dims': [1, 3]})
case('swapdims_int64', 'swapaxes', lambda x: torch.swapdims(x, 1, 0), [const(torch.arange(6).view(2, 3))],
     {'dims': [2, 1]}, int_values=True)
case('tile', 'tile', lambda x: x.tile((2, 3)), [randn(2, 3)], {'dims': [2, 3]})
case('tile_fewer', 'tile', lambda x: x.tile((2,)), [randn(2, 3)], {'dims': [2]})
case('tile_more_transposed', 'tile', lambda x: x.tile((2, 1, 3)), [randn(3, 2)],
     {'dims': [2, 1, 3], 'transpose': [1, 2]})
case('repeat', 'repeat', lambda x: x.repeat(3, 1, 2), [randn(2, 3)], {'counts': [3, 1, 2]})
case('repeat_zero_f64', 'repeat', lambda x: x.repeat(2, 0), [randn(2, 3, dtype=F64)], {'counts': [2, 0]})
case('repeat_int64', 'repeat', lambda x: x.repeat(2, 2), [const(torch.tensor([[1, 2]]))], {'counts': [2, 2]},
     int_values=True)
case('take', 'take', lambda x, i: x.take(i), [randn(3, 4), index(torch.tensor([[1, 12], [5, 1]]))])
case('take_transposed', 'take', lambda x, i: torch.take(x, i), [randn(3, 4), index(torch.tensor([2, 3, 7]))],
     {'transpose': [1, 2]})
case('take_int64', 'take', lambda x, i: x.take(i), [const(torch.arange(6).view(2, 3)), index(torch.tensor([6, 1]))],
     int_values=True)
case('take_along_dim', 'take_along_dim', lambda x, i: x.take_along_dim(i, 1),
     [randn(3, 4), index(torch.tensor([[1, 4], [2, 2], [3, 1]]))], {'dim': 2})
case('take_along_dim_broadcast', 'take_along_dim', lambda x, i: torch.take_along_dim(x, i, 0),
     [randn(3, 4), index(torch.tensor([[3], [1]]))], {'dim': 1})
case('take_along_dim_argsort', 'take_along_dim', lambda x, i: x.take_along_dim(i, -1),
     [randn(2, 5), index(torch.tensor([[5, 4, 3, 2, 1], [1, 1, 2, 2, 3]]))], {'dim': -1})
case('take_along_dim_flat', 'take_along_dim', lambda x, i: x.take_along_dim(i),
     [randn(2, 3), index(torch.tensor([6, 2, 2]))])
case('index_fill', 'index_fill', lambda x, i: x.index_fill(1, i, -2.5), [randn(3, 4), index(torch.tensor([1, 4]))],
     {'dim': 2, 'value': -2.5})
case('index_fill_tensor_value_transposed', 'index_fill_t', lambda x, i, v: x.index_fill(0, i, v),
     [randn(3, 4), index(torch.tensor([2])), torch.tensor(0.75)], {'dim': 1, 'transpose': [1, 2]})
case('index_fill_int64', 'index_fill', lambda x, i: x.index_fill(0, i, 9),
     [const(torch.arange(6).view(3, 2)), index(torch.tensor([3, 1]))], {'dim': 1, 'value': 9}, int_values=True)
case('index_copy', 'index_copy', lambda x, i, s: x.index_copy(0, i, s),
     [randn(4, 3), index(torch.tensor([4, 1])), randn(2, 3)], {'dim': 1})
case('index_copy_dim2_f64', 'index_copy', lambda x, i, s: torch.index_copy(x, 1, i, s),
     [randn(2, 3, dtype=F64), index(torch.tensor([3, 2, 1])), randn(2, 3, dtype=F64)], {'dim': 2})
case('masked_scatter', 'masked_scatter', lambda x, m, s: x.masked_scatter(m.bool(), s),
     [randn(3, 4), const(torch.tensor([1, 0, 1, 1], dtype=F32)), randn(10)])
case('masked_scatter_2d_mask_f64', 'masked_scatter', lambda x, m, s: x.masked_scatter(m.bool(), s),
     [randn(2, 3, dtype=F64), const(torch.tensor([[1, 0, 0], [0, 1, 1]], dtype=F64)), randn(2, 2, dtype=F64)])
case('squeeze_dims', 'squeeze', lambda x: x.squeeze(2).squeeze(0), [randn(1, 3, 1, 2)], {'dims': [1, 3]})
case('squeeze_dims_keep', 'squeeze', lambda x: x.squeeze(3), [randn(1, 3, 2, 1)], {'dims': [2, -1]})

# ---- (6) clamp_min, clamp_max, addcmul, addcdiv ------------------------------------------------------
case('clamp_min', 'clamp_min', lambda x: x.clamp_min(0.25), [randn(3, 4)], {'v': 0.25})
case('clamp_max_tensor', 'clamp_max_t', lambda x, m: torch.clamp_max(x, m), [randn(3, 4), randn(4)])
case('clamp_min_int64', 'clamp_min', lambda x: x.clamp_min(1), [const(torch.tensor([-2, 1, 5]))], {'v': 1},
     int_values=True)
case('addcmul', 'addcmul', lambda x, a, b: x.addcmul(a, b), [randn(3, 4), randn(3, 4), randn(4)])
case('addcmul_value_f64', 'addcmul', lambda x, a, b: torch.addcmul(x, a, b, value=-0.5),
     [randn(2, 3, dtype=F64), randn(3, dtype=F64), randn(2, 1, dtype=F64)], {'value': -0.5})
case('addcdiv', 'addcdiv', lambda x, a, b: x.addcdiv(a, b, value=2), [randn(3, 4), randn(3, 4), randn(4) + 3],
     {'value': 2})
case('addcmul_int64', 'addcmul', lambda x, a, b: x.addcmul(a, b, value=3),
     [const(torch.tensor([1, 2])), const(torch.tensor([3, 4])), const(torch.tensor([-1, 2]))], {'value': 3},
     int_values=True)


def main():
    # (a zero gradient may come as an expanded tensor with no storage)
    for c in CASES:
        c['grads'] = [None if g is None else g.detach().clone(memory_format=torch.contiguous_format)
                      for g in c['grads']]
    write_golden('tensor_more.lua', [
        'tensor_more.lua: PyTorch %s golden values for the ops of lua/nnlua/tensor_more.lua and' % torch.__version__,
        'src/ops_math.c; generated by tests/golden/gen_tensor_more.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_tensor_more.py`). Checked by tests/spec/tensor_more_spec.lua.',
        'Each case: inputs, args (1-based dims; transpose = {a, b} transposes input 1 first),',
        'w (one per float output, false for int64 ones), outs (bools as 1/0 of the input dtype),',
        'and the grads of sum((out_i * w_i):sum()) for each input (false where it has none).',
    ], [lua_method_case(c, F64) for c in CASES])


if __name__ == '__main__':
    main()
