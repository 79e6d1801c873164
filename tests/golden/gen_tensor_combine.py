# gen_tensor_combine.py: PyTorch golden values for the ops of
# lua/nnlua/tensor_combine.lua: cross, tensordot, kron, block_diag,
# cartesian_prod, combinations, tril_indices, triu_indices, diff, gradient,
# rot90, vander, atleast_1d/2d/3d, broadcast_tensors, hstack, vstack,
# dstack, column_stack, tensor_split, hsplit, vsplit, dsplit, isin and
# unravel_index (torch 1.13 has none: numpy's, which torch 2.2's follows).
# Writes tests/golden/tensor_combine.lua (checked by
# tests/spec/tensor_combine_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_tensor_combine.py
#
# Each case is made as gen_tensor_ops.py makes its own (common.method_case):
# outs = op(inputs...), then the gradients of sum((out_i * w_i).sum()) over
# the float outputs. args hold what nnlua takes: 1-based dims, and
# tensor_split's indices + 1 (nnlua's pieces start at 1-based indices).
# int64 outputs are values (int_values) except the index outputs of
# tril_indices, triu_indices and unravel_index, written + 1. Bool outputs
# (isin) are written in the promoted input dtype, as nnlua's masks. New
# cases go at the end: the random stream of the earlier ones stays as it was.
import numpy as np
import torch
from common import F32, F64, I64, method_case, lua_method_case, write_golden

torch.manual_seed(20261129)
CASES = []


def randn(*shape, dtype=F32):
    return torch.randn(tuple(shape), dtype=dtype)


def ints(lo, hi, *shape):
    return torch.randint(lo, hi, tuple(shape))


def case(*args, **kw):
    CASES.append(method_case(*args, **kw))


def const(t):
    return ('const', t)


# ---- cross, tensordot, kron -----------------------------------------------------------------
case('cross_dim', 'cross', lambda a, b: torch.cross(a, b, dim=1), [randn(4, 3), randn(4, 3)], {'dim': 2})
case('cross_default_dim', 'cross', lambda a, b: torch.cross(a, b), [randn(3, 5), randn(3, 5)])
case('cross_broadcast', 'cross', lambda a, b: torch.cross(a, b, dim=-1), [randn(2, 1, 3), randn(1, 4, 3)], {'dim': -1})
case('cross_f64_middle', 'cross', lambda a, b: torch.cross(a, b, dim=1),
     [randn(2, 3, 2, dtype=F64), randn(2, 3, 2, dtype=F64)], {'dim': 2})
case('cross_int64', 'cross', lambda a, b: torch.cross(a, b, dim=1), [const(ints(-5, 5, 2, 3)), const(ints(-5, 5, 2, 3))],
     {'dim': 2}, int_values=True)
case('tensordot_n', 'tensordot', lambda a, b: torch.tensordot(a, b, 2), [randn(2, 3, 4), randn(3, 4, 5)], {'dims': 2})
case('tensordot_lists', 'tensordot', lambda a, b: torch.tensordot(a, b, ([0, 2], [1, 0])),
     [randn(3, 4, 5), randn(5, 3, 2)], {'dims': [[1, 3], [2, 1]]})
case('tensordot_outer', 'tensordot', lambda a, b: torch.tensordot(a, b, 0), [randn(2, 3), randn(4)], {'dims': 0})
case('tensordot_default_f64', 'tensordot', lambda a, b: torch.tensordot(a, b), [randn(3, 2, 4, dtype=F64),
     randn(2, 4, dtype=F64)])
case('tensordot_negative_dims', 'tensordot', lambda a, b: torch.tensordot(a, b, ([-1], [-2])),
     [randn(2, 3), randn(4, 3, 2)], {'dims': [[-1], [-2]]})
case('kron', 'kron', lambda a, b: torch.kron(a, b), [randn(2, 3), randn(3, 2)])
case('kron_pad', 'kron', lambda a, b: torch.kron(a, b), [randn(2), randn(2, 3, 2)])
case('kron_int64', 'kron', lambda a, b: torch.kron(a, b), [const(ints(-3, 4, 2, 2)), const(ints(-3, 4, 3))],
     int_values=True)

# ---- block_diag, cartesian_prod, combinations, tril/triu_indices ---------------------------
case('block_diag', 'block_diag', lambda a, b, c: torch.block_diag(a, b, c), [randn(), randn(3), randn(2, 2)])
case('block_diag_promote_empty', 'block_diag', lambda a, b, c: torch.block_diag(a, b, c),
     [randn(2, 3), randn(0, 2, dtype=F64), randn(1, 2, dtype=F64)])
case('block_diag_int64', 'block_diag', lambda a, b: torch.block_diag(a, b), [const(ints(0, 9, 2, 1)), const(ints(0, 9, 3))],
     int_values=True)
case('cartesian_prod', 'cartesian_prod', lambda a, b, c: torch.cartesian_prod(a, b, c), [randn(2), randn(3), randn(2)])
case('cartesian_prod_one', 'cartesian_prod', lambda a: torch.cartesian_prod(a), [randn(3)])
case('combinations', 'combinations', lambda a: torch.combinations(a), [randn(4)])
case('combinations_r3', 'combinations', lambda a: torch.combinations(a, 3), [randn(5)], {'r': 3})
case('combinations_replacement', 'combinations', lambda a: torch.combinations(a, 2, with_replacement=True),
     [randn(3, dtype=F64)], {'r': 2, 'with_replacement': True})
case('combinations_r1_int64', 'combinations', lambda a: torch.combinations(a, 1), [const(ints(0, 9, 4))], {'r': 1},
     int_values=True)
case('combinations_r_too_large', 'combinations', lambda a: torch.combinations(a, 4), [randn(3)], {'r': 4})
for name, f, args in [('tril_indices', torch.tril_indices, (3, 4, 1)), ('tril_indices', torch.tril_indices, (4, 3, -1)),
                      ('tril_indices', torch.tril_indices, (3, 3, 0)), ('triu_indices', torch.triu_indices, (3, 4, 1)),
                      ('triu_indices', torch.triu_indices, (4, 3, -2)), ('triu_indices', torch.triu_indices, (2, 5, 7))]:
    case('%s_%d_%d_%d' % ((name,) + args), name, lambda f=f, args=args: f(*args),
         [], {'rows': args[0], 'cols': args[1], 'offset': args[2]})

# ---- diff, gradient, rot90, vander -----------------------------------------------------------
case('diff', 'diff', lambda a: torch.diff(a), [randn(3, 5)])
case('diff_n2_dim1_prepend_append', 'diff', lambda a, p, q: torch.diff(a, 2, 0, p, q), [randn(3, 4), randn(1, 4),
     randn(2, 4)], {'n': 2, 'dim': 1})
case('diff_n_past_length', 'diff', lambda a: torch.diff(a, 4, -1), [randn(2, 3)], {'n': 4, 'dim': -1})
case('diff_int64_f64', 'diff', lambda a: torch.diff(a, 1, 0), [const(ints(-9, 9, 4, 2))], {'dim': 1}, int_values=True)
case('diff_f64_n3', 'diff', lambda a: torch.diff(a, 3), [randn(2, 6, dtype=F64)], {'n': 3})
case('gradient', 'gradient', lambda a: torch.gradient(a), [randn(4, 5)])
case('gradient_spacing_edge2', 'gradient', lambda a: torch.gradient(a, spacing=2.0, edge_order=2), [randn(3, 4)],
     {'spacing': 2.0, 'edge_order': 2})
case('gradient_spacing_list_dim', 'gradient', lambda a: torch.gradient(a, spacing=[0.5], dim=1), [randn(3, 4, 2)],
     {'spacing': [0.5], 'dim': 2})
case('gradient_dims_list', 'gradient', lambda a: torch.gradient(a, spacing=[1.5, 3.0], dim=[2, 0]), [randn(3, 2, 4)],
     {'spacing': [1.5, 3.0], 'dim': [3, 1]})
case('gradient_coordinates', 'gradient_coords', lambda a, x, y: torch.gradient(a, spacing=[x, y]),
     [randn(4, 5), torch.tensor([0.0, 0.5, 1.5, 1.75]), torch.tensor([-1.0, 0.0, 2.0, 2.5, 4.0])])
case('gradient_coordinates_edge2_f64', 'gradient_coords',
     lambda a, x: torch.gradient(a, spacing=[x], dim=1, edge_order=2),
     [randn(2, 5, dtype=F64), torch.tensor([0.0, 0.3, 1.1, 1.5, 3.0], dtype=F64)], {'dim': 2, 'edge_order': 2})
case('gradient_int64', 'gradient', lambda a: torch.gradient(a), [const(torch.tensor([1, 4, 9, 16, 25]))])
case('gradient_size2', 'gradient', lambda a: torch.gradient(a, dim=0), [randn(2, 3)], {'dim': 1})
case('rot90', 'rot90', lambda a: torch.rot90(a), [randn(2, 3, 4)])
case('rot90_k3', 'rot90', lambda a: torch.rot90(a, 3, [1, 2]), [randn(2, 3, 4)], {'k': 3, 'dims': [2, 3]})
case('rot90_neg_k_dims', 'rot90', lambda a: torch.rot90(a, -1, [2, 0]), [randn(2, 3, 4)], {'k': -1, 'dims': [-1, 1]})
case('rot90_k2', 'rot90', lambda a: torch.rot90(a, 2), [randn(3, 2)], {'k': 2})
case('rot90_k4_int64', 'rot90', lambda a: torch.rot90(a, 4), [const(ints(0, 9, 2, 3))], {'k': 4}, int_values=True)


def vander(x, N=None, increasing=False):
    """torch.vander's values (asserted equal), by its own definition (a
    cumprod of [1, x, x, ...]) without 1.13's in-place step, whose backward
    fails ('modified by an inplace operation')"""
    N = x.numel() if N is None else N
    if N == 0:
        return x.new_zeros((x.numel(), 0))
    r = torch.cat([torch.ones_like(x).unsqueeze(1), x.unsqueeze(1).expand(-1, N - 1)], 1).cumprod(1)
    r = r if increasing else r.flip(1)
    assert torch.equal(r.detach(), torch.vander(x.detach(), N, increasing))
    return r


case('vander', 'vander', lambda a: vander(a), [randn(4)])
case('vander_N_increasing_zero', 'vander', lambda a: vander(a, 5, True),
     [torch.tensor([0.0, 1.5, -2.0])], {'N': 5, 'increasing': True})
case('vander_int64', 'vander', lambda a: vander(a, 3), [const(torch.tensor([2, -3, 0, 5]))], {'N': 3},
     int_values=True)
case('vander_N0_f64', 'vander', lambda a: vander(a, 0), [randn(3, dtype=F64)], {'N': 0})

# ---- dims, broadcasting and stacking ----------------------------------------------------------
case('atleast_1d_0d', 'atleast_1d', lambda a: torch.atleast_1d(a), [randn()])
case('atleast_2d_1d', 'atleast_2d', lambda a: torch.atleast_2d(a), [randn(3)])
case('atleast_3d_several', 'atleast_3d_list', lambda a, b, c, d: torch.atleast_3d(a, b, c, d),
     [randn(), randn(2), randn(2, 3), randn(1, 2, 3, 1)])
case('atleast_2d_several', 'atleast_2d_list', lambda a, b: torch.atleast_2d(a, b), [randn(), randn(2, 2, 2)])
case('broadcast_tensors', 'broadcast_tensors', lambda a, b, c: torch.broadcast_tensors(a, b, c),
     [randn(3, 1), randn(4), randn(2, 1, 1)])
case('hstack_1d', 'hstack', lambda a, b: torch.hstack([a, b]), [randn(2), randn(3)])
case('hstack_2d_promote', 'hstack', lambda a, b: torch.hstack([a, b]), [randn(2, 1), randn(2, 3, dtype=F64)])
case('vstack', 'vstack', lambda a, b, c: torch.vstack([a, b, c]), [randn(3), randn(2, 3), randn(3)])
case('row_stack', 'row_stack', lambda a, b: torch.row_stack([a, b]), [randn(2), randn(2)])
case('dstack', 'dstack', lambda a, b, c: torch.dstack([a, b, c]), [randn(2), randn(1, 2), randn(1, 2, 3)])
case('column_stack', 'column_stack', lambda a, b, c: torch.column_stack([a, b, c]), [randn(3), randn(3, 2), randn(3)])
case('column_stack_0d', 'column_stack', lambda a, b: torch.column_stack([a, b]), [randn(), randn(1, 2)])
case('column_stack_int64', 'column_stack', lambda a, b: torch.column_stack([a, b]),
     [const(ints(0, 9, 2)), const(ints(0, 9, 2, 2))], int_values=True)

# ---- splits -------------------------------------------------------------------------------------
case('tensor_split_sections', 'tensor_split', lambda a: torch.tensor_split(a, 3), [randn(7, 2)], {'sections': 3})
case('tensor_split_indices', 'tensor_split', lambda a: torch.tensor_split(a, [2, 5], dim=1), [randn(2, 7)],
     {'indices': [3, 6], 'dim': 2})
case('tensor_split_unordered_past_end', 'tensor_split', lambda a: torch.tensor_split(a, [3, 1, 9]), [randn(5)],
     {'indices': [4, 2, 10]})
case('tensor_split_negative', 'tensor_split', lambda a: torch.tensor_split(a, [-2], dim=-1), [randn(2, 5)],
     {'indices': [-2], 'dim': -1})
case('tensor_split_more_sections', 'tensor_split', lambda a: torch.tensor_split(a, 4), [randn(3)], {'sections': 4})
case('tensor_split_int64', 'tensor_split', lambda a: torch.tensor_split(a, 2), [const(ints(0, 9, 5))],
     {'sections': 2}, int_values=True)
case('hsplit_2d', 'hsplit', lambda a: torch.hsplit(a, 2), [randn(3, 4)], {'sections': 2})
case('hsplit_1d_indices', 'hsplit', lambda a: torch.hsplit(a, [1, 3]), [randn(5)], {'indices': [2, 4]})
case('vsplit', 'vsplit', lambda a: torch.vsplit(a, [2]), [randn(4, 2)], {'indices': [3]})
case('dsplit', 'dsplit', lambda a: torch.dsplit(a, 3), [randn(2, 1, 6)], {'sections': 3})

# ---- isin, unravel_index --------------------------------------------------------------------------
case('isin', 'isin', lambda a, b: torch.isin(a, b).to(F32), [const(ints(0, 6, 3, 4).float()), const(ints(0, 6, 5).float())])
case('isin_invert', 'isin', lambda a, b: torch.isin(a, b, invert=True).to(F32),
     [const(torch.tensor([1.0, float('nan'), 2.5, -0.0])), const(torch.tensor([0.0, float('nan'), 2.5]))],
     {'invert': True})
case('isin_int64_float_test', 'isin', lambda a, b: torch.isin(a, b).to(F32),
     [const(torch.tensor([[1, 2], [3, 4]])), const(torch.tensor([2.0, 3.5, 4.0]))])
case('isin_int64', 'isin', lambda a, b: torch.isin(a, b).to(I64), [const(ints(0, 20, 10)), const(ints(0, 20, 7))],
     int_values=True)
case('isin_empty_test', 'isin', lambda a, b: torch.isin(a, b).to(F32), [const(randn(3)), const(randn(0))])


def unravel(i, shape):
    return [torch.from_numpy(np.asarray(r, dtype=np.int64)) for r in np.unravel_index(i.numpy(), shape)]


case('unravel_index', 'unravel_index', lambda i: unravel(i, (2, 3, 4)), [('index', ints(1, 25, 5))],
     {'shape': [2, 3, 4]})
case('unravel_index_2d_indices', 'unravel_index', lambda i: unravel(i, (7, 3)), [('index', ints(1, 22, 2, 3))],
     {'shape': [7, 3]})


def main():
    write_golden('tensor_combine.lua', [
        'tensor_combine.lua: PyTorch %s golden values for the ops of lua/nnlua/tensor_combine.lua;' % torch.__version__,
        'generated by tests/golden/gen_tensor_combine.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_tensor_combine.py`). Checked by tests/spec/tensor_combine_spec.lua.',
        'Each case: inputs, args (1-based dims, tensor_split indices + 1), w (one per float output,',
        'false for int64 ones), outs (index outputs 1-based), and the grads of',
        'sum((out_i * w_i):sum()) for each input (false where it has none).',
    ], [lua_method_case(c, F64) for c in CASES])


if __name__ == '__main__':
    main()
