# gen_tensor_scatter.py: PyTorch golden values for t:scatter_reduce and
# t:index_reduce (lua/nnlua/tensor_scatter.lua, the kernel
# nl_scatter_reduce in src/tensor.c): every reduce with and without
# include_self, along each dim and negative ones, ties among the maxima
# (their gradient shared), zeros for prod (one and several at a place),
# an index smaller than the source (values only, and t's gradient for sum:
# 1.13's backward fails for the others, and for src's; the spec checks
# nnlua's zeros past the index), float32, float64 and int64, an empty
# index. Writes tests/golden/tensor_scatter.lua (checked by
# tests/spec/tensor_scatter_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_tensor_scatter.py
#
# Each case is made as gen_tensor_ops.py makes its own (common.method_case):
# outs = op(inputs...), then the gradients of sum((out_i * w_i).sum()) over
# the float outputs; indices are given 1-based to nnlua. args: the 1-based
# dim, reduce and include_self. New cases go at the end: the random stream
# of the earlier ones stays as it was.
import warnings
import torch
from common import F32, F64, I64, method_case, lua_method_case, write_golden

warnings.filterwarnings('ignore', message='.*is in beta.*')
torch.manual_seed(20261130)
CASES = []
REDUCES = ['sum', 'prod', 'mean', 'amax', 'amin']


def randn(*shape, dtype=F32):
    return torch.randn(tuple(shape), dtype=dtype)


def ints(lo, hi, *shape, dtype=F32):
    """whole numbers in [lo, hi) as dtype: ties"""
    return torch.randint(lo, hi, tuple(shape)).to(dtype)


def index(hi, *shape):
    """a 1-based index in 1..hi"""
    return ('index', torch.randint(1, hi + 1, tuple(shape)))


def case(*args, **kw):
    CASES.append(method_case(*args, **kw))


def sr(dim, reduce, include_self):
    return lambda t, i, s: t.scatter_reduce(dim, i, s, reduce, include_self=include_self)


def ir(dim, reduce, include_self):
    return lambda t, i, s: t.index_reduce(dim, i, s, reduce, include_self=include_self)


def args(dim, reduce, include_self):
    return {'dim': dim, 'reduce': reduce, 'include_self': include_self}


# ---- scatter_reduce -----------------------------------------------------------------------------
for r in REDUCES:
    for inc in (True, False):
        tag = '%s_%s' % (r, 'self' if inc else 'noself')
        case('scatter_reduce_%s' % tag, 'scatter_reduce', sr(0, r, inc), [randn(3, 4), index(3, 5, 4), randn(5, 4)],
             args(1, r, inc))
        # small whole numbers: ties among maxima and minima, zeros for prod
        case('scatter_reduce_ties_dim2_%s' % tag, 'scatter_reduce', sr(1, r, inc),
             [ints(-2, 3, 2, 3), index(3, 2, 6), ints(-2, 3, 2, 6)], args(2, r, inc))
        case('scatter_reduce_int64_%s' % tag, 'scatter_reduce', sr(-1, r, inc),
             [('const', torch.randint(-9, 10, (2, 4))), index(4, 2, 5), ('const', torch.randint(-9, 10, (2, 5)))],
             args(-1, r, inc), int_values=True)
    case('scatter_reduce_f64_small_index_%s' % r, 'scatter_reduce', sr(1, r, True),
         [randn(3, 4, dtype=F64) if r == 'sum' else ('const', randn(3, 4, dtype=F64)), index(4, 2, 3),
          ('const', randn(4, 5, dtype=F64))], args(2, r, True))
    case('scatter_reduce_3d_negdim_%s' % r, 'scatter_reduce', sr(-2, r, False),
         [randn(2, 3, 2), index(3, 2, 4, 2), randn(2, 4, 2)], args(-2, r, False))
# prod: several zeros at one place, one zero at another, a zero in self
case('scatter_reduce_prod_zeros', 'scatter_reduce', sr(0, 'prod', True),
     [torch.tensor([0.0, 2.0, 3.0, -1.5]), ('index', torch.tensor([1, 1, 2, 3, 3, 4])),
      torch.tensor([0.0, 0.0, 4.0, 0.0, 2.0, 0.5])], args(1, 'prod', True))
case('scatter_reduce_prod_zeros_noself', 'scatter_reduce', sr(0, 'prod', False),
     [torch.tensor([0.0, 2.0, 3.0, -1.5]), ('index', torch.tensor([1, 1, 2, 3, 3, 4])),
      torch.tensor([0.0, 0.0, 4.0, 0.0, 2.0, 0.5])], args(1, 'prod', False))
# maxima tied between self and src, and among src
case('scatter_reduce_amax_tied_self', 'scatter_reduce', sr(0, 'amax', True),
     [torch.tensor([2.0, 1.0, 5.0]), ('index', torch.tensor([1, 1, 2, 2, 3])), torch.tensor([2.0, 2.0, 0.5, 1.0, 5.0])],
     args(1, 'amax', True))
case('scatter_reduce_amin_tied_noself', 'scatter_reduce', sr(0, 'amin', False),
     [torch.tensor([-1.0, 1.0, 5.0]), ('index', torch.tensor([1, 1, 2, 2, 1])), torch.tensor([-1.0, 3.0, 0.5, 0.5, -1.0])],
     args(1, 'amin', False))
case('scatter_reduce_empty_index', 'scatter_reduce', sr(0, 'amax', False),
     [randn(3, 2), ('index', torch.ones(0, 2, dtype=I64)), randn(0, 2)], args(1, 'amax', False))

# ---- index_reduce -------------------------------------------------------------------------------
for r in ['prod', 'mean', 'amax', 'amin']:
    for inc in (True, False):
        tag = '%s_%s' % (r, 'self' if inc else 'noself')
        case('index_reduce_%s' % tag, 'index_reduce', ir(0, r, inc),
             [ints(-2, 3, 3, 2), ('index', torch.tensor([1, 3, 1, 1])), ints(-2, 3, 4, 2)], args(1, r, inc))
        case('index_reduce_int64_dim2_%s' % tag, 'index_reduce', ir(1, r, inc),
             [('const', torch.randint(-9, 10, (2, 3))), ('index', torch.tensor([2, 2, 3])),
              ('const', torch.randint(-9, 10, (2, 3)))], args(2, r, inc), int_values=True)
    case('index_reduce_f64_negdim_%s' % r, 'index_reduce', ir(-1, r, False),
         [randn(2, 3, 4, dtype=F64), ('index', torch.tensor([4, 1, 4])), randn(2, 3, 3, dtype=F64)], args(-1, r, False))
# NaN in src or self wins, whatever comes after it (values only)
NAN = float('nan')
for r in ['amax', 'amin']:
    for inc in (True, False):
        case('scatter_reduce_nan_%s_%s' % (r, 'self' if inc else 'noself'), 'scatter_reduce', sr(0, r, inc),
             [('const', torch.tensor([NAN, 1.0, 2.0, 0.0])), ('index', torch.tensor([1, 2, 2, 3, 3, 1])),
              ('const', torch.tensor([5.0, NAN, 4.0, -1.0, 7.0, 0.5]))], args(1, r, inc))

# 0-dim self, index and source (PyTorch 1.13 takes them as one-element
# tensors, dim 0 or -1; the result 0-dim); ints: the tie of amax and amin
for r in REDUCES:
    for inc in (True, False):
        tag = '%s_%s' % (r, 'self' if inc else 'noself')
        for d, name in ((0, 'dim1'), (-1, 'negdim')):
            case('scatter_reduce_0dim_%s_%s' % (name, tag), 'scatter_reduce', sr(d, r, inc),
                 [randn(), ('index', torch.tensor(1)), randn()], args(d + 1 if d >= 0 else d, r, inc))
        if r != 'sum':
            case('index_reduce_0dim_%s' % tag, 'index_reduce', ir(-1, r, inc),
                 [randn(), ('index', torch.tensor(1)), randn()], args(-1, r, inc))
    case('scatter_reduce_0dim_tie_%s' % r, 'scatter_reduce', sr(0, r, True),
         [torch.tensor(2.0), ('index', torch.tensor(1)), torch.tensor(2.0)], args(1, r, True))
case('scatter_reduce_0dim_int64', 'scatter_reduce', sr(0, 'prod', True),
     [('const', torch.tensor(-3)), ('index', torch.tensor(1)), ('const', torch.tensor(4))], args(1, 'prod', True),
     int_values=True)


def main():
    write_golden('tensor_scatter.lua', [
        'tensor_scatter.lua: PyTorch %s golden values for scatter_reduce and index_reduce' % torch.__version__,
        '(lua/nnlua/tensor_scatter.lua); generated by tests/golden/gen_tensor_scatter.py (do not edit by hand;',
        'regenerate with `/usr/bin/python3 tests/golden/gen_tensor_scatter.py`). Checked by',
        'tests/spec/tensor_scatter_spec.lua. Each case: inputs (the index 1-based), args (1-based dim,',
        'reduce, include_self), w (one per float output, false for int64 ones), outs, and the grads of',
        'sum((out_i * w_i):sum()) for each input (false where it has none).',
    ], [lua_method_case(c, F64) for c in CASES])


if __name__ == '__main__':
    main()
