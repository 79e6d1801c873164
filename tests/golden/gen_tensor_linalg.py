# gen_tensor_linalg.py: PyTorch golden values for the ops of
# lua/nnlua/tensor_linalg.lua: logsumexp, tril, triu, flip, fliplr, flipud,
# roll, repeat_interleave, outer, lerp, diag, diagonal, diag_embed, trace,
# meshgrid, isclose, allclose, equal, cdist, einsum, addmm, addmv, baddbmm
# and addbmm, in float32, float64 and int64. Writes
# tests/golden/tensor_linalg.lua (checked by tests/spec/tensor_linalg_spec.lua);
# it does not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_tensor_linalg.py
#
# Each case is made as gen_tensor_ops.py makes its own (common.method_case):
# on seeded inputs, outs = op(inputs...), then the gradients of
# sum((out_i * w_i).sum()) over the float outputs, w_i fixed random tensors.
# int64 outputs are compared exactly. args hold the 1-based dims nnlua
# takes; args.transpose = {a, b} (1-based) transposes the first input
# inside the op on both sides, so that the op sees a non-contiguous
# tensor. isclose's bools are written in the input's dtype (nnlua has no
# bool), allclose's and equal's as int64 0 or 1. New cases go at the end:
# the random stream of the earlier ones stays as it was.
import torch
from common import F32, F64, I64, method_case, lua_method_case, write_golden

torch.manual_seed(20250917)
CASES = []
INF, NAN = float('inf'), float('nan')


def randn(*shape, dtype=F32):
    return torch.randn(tuple(shape), dtype=dtype)


def const(t):
    return ('const', t)


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


# ---- (1) logsumexp ------------------------------------------------------------------
case('logsumexp', 'logsumexp', lambda x: x.logsumexp(1), [randn(3, 5)], {'dim': 2})
case('logsumexp_keepdim', 'logsumexp', lambda x: x.logsumexp(0, keepdim=True), [randn(4, 3)],
     {'dim': 1, 'keepdim': True})
case('logsumexp_dims', 'logsumexp', lambda x: x.logsumexp((0, 2)), [randn(2, 3, 4)], {'dim': [1, 3]})
case('logsumexp_dims_keepdim_negative', 'logsumexp', lambda x: x.logsumexp((-1, -2), keepdim=True),
     [randn(2, 3, 4)], {'dim': [-1, -2], 'keepdim': True})
# exp(1000) overflows float32: only the shifted sum gives these
case('logsumexp_large', 'logsumexp', lambda x: x.logsumexp(1), [randn(3, 4) * 3 + 1000], {'dim': 2})
case('logsumexp_neg_inf', 'logsumexp', lambda x: x.logsumexp(1),
     [torch.tensor([[-INF, 1.0, 2.0], [0.5, -INF, -INF], [3.0, -1.0, 0.0]])], {'dim': 2})
case('logsumexp_transposed', 'logsumexp', lambda x: x.logsumexp(1), [randn(4, 3)],
     {'dim': 2, 'transpose': [1, 2]})
case('logsumexp_f64', 'logsumexp', lambda x: x.logsumexp(-1), [randn(3, 4, dtype=F64)], {'dim': -1})
case('logsumexp_int64', 'logsumexp', lambda x: x.logsumexp(1),
     [const(torch.tensor([[1, 2, 3], [-4, 0, 4]]))], {'dim': 2})

# ---- (2) tril, triu -------------------------------------------------------------------
case('tril', 'tril', lambda x: x.tril(), [randn(4, 5)])
case('tril_above', 'tril', lambda x: x.tril(1), [randn(4, 5)], {'diagonal': 1})
case('tril_below_batched', 'tril', lambda x: x.tril(-2), [randn(2, 4, 3)], {'diagonal': -2})
case('triu', 'triu', lambda x: x.triu(), [randn(5, 4)])
case('triu_transposed', 'triu', lambda x: x.triu(1), [randn(2, 4, 3)], {'diagonal': 1, 'transpose': [1, 3]})
case('triu_below_int64', 'triu', lambda x: x.triu(-1), [const(torch.arange(12).view(3, 4))],
     {'diagonal': -1}, int_values=True)

# ---- (3) flip, fliplr, flipud, roll ---------------------------------------------------------
case('flip', 'flip', lambda x: x.flip((0, 1)), [randn(3, 4)], {'dims': [1, 2]})
case('flip_one_dim_transposed', 'flip', lambda x: x.flip(-1), [randn(2, 3, 4)],
     {'dims': [-1], 'transpose': [1, 3]})
case('flip_int64', 'flip', lambda x: x.flip(1), [const(torch.arange(8).view(2, 4))], {'dims': [2]}, int_values=True)
case('fliplr', 'fliplr', lambda x: x.fliplr(), [randn(3, 4, 2)])
case('flipud_transposed', 'flipud', lambda x: x.flipud(), [randn(3, 4)], {'transpose': [1, 2]})
case('roll_flat', 'roll', lambda x: x.roll(2), [randn(3, 4)], {'shifts': 2})
case('roll_dims', 'roll', lambda x: x.roll((1, -5), (0, 2)), [randn(3, 2, 4)], {'shifts': [1, -5], 'dims': [1, 3]})
case('roll_transposed', 'roll', lambda x: x.roll(7, 0), [randn(3, 5)], {'shifts': 7, 'dims': 1, 'transpose': [1, 2]})
case('roll_int64', 'roll', lambda x: x.roll(-1, 1), [const(torch.arange(6).view(2, 3))],
     {'shifts': -1, 'dims': 2}, int_values=True)

# ---- (4) repeat_interleave ------------------------------------------------------------------
case('repeat_interleave_flat', 'repeat_interleave', lambda x: x.repeat_interleave(2), [randn(2, 3)], {'repeats': 2})
case('repeat_interleave_dim', 'repeat_interleave', lambda x: x.repeat_interleave(3, 1), [randn(2, 3)],
     {'repeats': 3, 'dim': 2})
case('repeat_interleave_counts', 'repeat_interleave',
     lambda x: x.repeat_interleave(torch.tensor([2, 0, 3, 1]), 0), [randn(4, 2)],
     {'repeats': [2, 0, 3, 1], 'dim': 1})
case('repeat_interleave_counts_zero_last_transposed', 'repeat_interleave_tensor',
     lambda x: x.repeat_interleave(torch.tensor([1, 3, 0]), 1), [randn(3, 2)],
     {'repeats': [1, 3, 0], 'dim': 2, 'transpose': [1, 2]})
case('repeat_interleave_one_count', 'repeat_interleave_tensor',
     lambda x: x.repeat_interleave(torch.tensor([2]), 0), [randn(2, 2, dtype=F64)], {'repeats': [2], 'dim': 1})
case('repeat_interleave_int64', 'repeat_interleave', lambda x: x.repeat_interleave(torch.tensor([1, 2, 0])),
     [const(torch.tensor([7, -8, 9]))], {'repeats': [1, 2, 0]}, int_values=True)

# ---- (5) outer, lerp ----------------------------------------------------------------------------
case('outer', 'outer', lambda a, b: torch.outer(a, b), [randn(3), randn(4)])
case('outer_f64', 'outer', lambda a, b: a.outer(b), [randn(2, dtype=F64), randn(3, dtype=F64)])
case('outer_int64', 'outer', lambda a, b: a.outer(b), [const(torch.tensor([1, -2])), const(torch.tensor([3, 4, 5]))],
     int_values=True)
case('lerp_small_weight', 'lerp', lambda a, b: a.lerp(b, 0.3), [randn(3, 4), randn(3, 4)], {'weight': 0.3})
case('lerp_large_weight_broadcast', 'lerp', lambda a, b: torch.lerp(a, b, 0.75), [randn(3, 1), randn(4)],
     {'weight': 0.75})
case('lerp_weight_one', 'lerp', lambda a, b: a.lerp(b, 1.0), [randn(5), randn(5)], {'weight': 1})
# weights on both sides of 0.5 (and negative, and past 1): both formulas
case('lerp_tensor_weight', 'lerp_w', lambda a, b, w: a.lerp(b, w),
     [randn(2, 4), randn(2, 4), torch.tensor([-0.2, 0.1, 0.49, 0.5, 0.8, 1.0, 1.3, -0.6]).view(2, 4)])
case('lerp_tensor_weight_broadcast_f64', 'lerp_w', lambda a, b, w: a.lerp(b, w),
     [randn(3, 1, dtype=F64), randn(1, 2, dtype=F64), torch.rand(3, 2, dtype=F64) * 1.6 - 0.3])

# ---- (6) diag, diagonal, diag_embed, trace --------------------------------------------------------
case('diag_vector', 'diag', lambda x: x.diag(), [randn(3)])
case('diag_vector_above', 'diag', lambda x: x.diag(2), [randn(3)], {'diagonal': 2})
case('diag_vector_below_int64', 'diag', lambda x: x.diag(-1), [const(torch.tensor([4, -5]))], {'diagonal': -1},
     int_values=True)
case('diag_matrix', 'diag', lambda x: x.diag(), [randn(3, 5)])
case('diag_matrix_above', 'diag', lambda x: x.diag(1), [randn(3, 5)], {'diagonal': 1})
case('diag_matrix_below_transposed', 'diag', lambda x: torch.diag(x, -2), [randn(3, 5)],
     {'diagonal': -2, 'transpose': [1, 2]})
case('diagonal_past_the_end', 'diagonal', lambda x: x.diagonal(7), [randn(3, 5)], {'offset': 7})
case('diagonal', 'diagonal', lambda x: x.diagonal(), [randn(3, 4)])
case('diagonal_dims_offset', 'diagonal', lambda x: x.diagonal(1, 1, 2), [randn(2, 3, 4)],
     {'offset': 1, 'dim1': 2, 'dim2': 3})
case('diagonal_reversed_dims_permuted', 'diagonal', lambda x: x.diagonal(-1, 2, 0), [randn(4, 2, 3)],
     {'offset': -1, 'dim1': 3, 'dim2': 1, 'transpose': [1, 2]})
case('diagonal_f64', 'diagonal', lambda x: torch.diagonal(x, 0, -2, -1), [randn(2, 3, 3, dtype=F64)],
     {'dim1': -2, 'dim2': -1})
case('diag_embed', 'diag_embed', lambda x: x.diag_embed(), [randn(2, 3)])
case('diag_embed_offset_dims', 'diag_embed', lambda x: x.diag_embed(-1, 0, 2), [randn(2, 3)],
     {'offset': -1, 'dim1': 1, 'dim2': 3})
case('diag_embed_above_reversed', 'diag_embed', lambda x: torch.diag_embed(x, 2, -1, 1), [randn(3, 2, 2)],
     {'offset': 2, 'dim1': -1, 'dim2': 2, 'transpose': [2, 3]})
case('trace', 'trace', lambda x: x.trace(), [randn(4, 3)])
# PyTorch 1.13's trace backward is wrong for a matrix of more rows than
# columns: it fills every (cols + 1)-th element of the flat gradient up to
# numel, so a (5, 3) matrix's gets a 1 at [5, 1] too (torch.zeros(5, 3,
# requires_grad=True).trace().backward()). This case, whose transposed
# input is (5, 3), takes its value and gradient from diagonal().sum(),
# the same function, whose backward is right (a float64 gradcheck in the
# spec agrees).
case('trace_transposed_tall_f64', 'trace', lambda x: x.diagonal().sum(), [randn(3, 5, dtype=F64)],
     {'transpose': [1, 2]})
case('trace_int64', 'trace', lambda x: torch.trace(x), [const(torch.arange(9).view(3, 3))], int_values=True)

# ---- (7) meshgrid ---------------------------------------------------------------------------------
case('meshgrid_ij', 'meshgrid', lambda a, b: torch.meshgrid(a, b, indexing='ij'), [randn(3), randn(4)],
     {'indexing': 'ij'})
case('meshgrid_xy_three', 'meshgrid', lambda a, b, c: torch.meshgrid(a, b, c, indexing='xy'),
     [randn(2), randn(3), randn(4)], {'indexing': 'xy'})
case('meshgrid_xy_scalar_f64', 'meshgrid', lambda a, b: torch.meshgrid(a, b, indexing='xy'),
     [torch.tensor(1.5, dtype=F64), randn(3, dtype=F64)], {'indexing': 'xy'})

# ---- (8) isclose, allclose, equal -------------------------------------------------------------------
ca = torch.tensor([1.0, 1.0, 1.0, NAN, NAN, INF, INF, -INF, 0.0, 1e-9, 100.0, 100.0])
cb = torch.tensor([1.0, 1.000001, 1.0001, NAN, 1.0, INF, -INF, -INF, 1e-9, 0.0, 100.001, 100.01])
case('isclose', 'isclose', lambda a, b: a.isclose(b).to(a.dtype), [const(ca), const(cb)])
case('isclose_equal_nan_tolerances', 'isclose',
     lambda a, b: torch.isclose(a, b, rtol=1e-3, atol=1e-6, equal_nan=True).to(a.dtype), [const(ca), const(cb)],
     {'rtol': 1e-3, 'atol': 1e-6, 'equal_nan': True})
case('isclose_zero_tolerances_broadcast', 'isclose',
     lambda a, b: torch.isclose(a, b, rtol=0, atol=0).to(a.dtype),
     [const(torch.tensor([[1.0], [2.0]], dtype=F64)), const(torch.tensor([1.0, 2.0, 2.0 + 1e-15], dtype=F64))],
     {'rtol': 0, 'atol': 0})
case('isclose_int64', 'isclose', lambda a, b: torch.isclose(a, b, rtol=0.1, atol=1).to(a.dtype),
     [const(torch.tensor([10, 10, 10, 100, -5])), const(torch.tensor([10, 11, 13, 111, -7]))],
     {'rtol': 0.1, 'atol': 1}, int_values=True)


def boolean(v):
    return torch.tensor(1 if v else 0)


for name, a, b, kw in [
        ('allclose_true', ca[:3], torch.tensor([1.0, 1.000001, 1.000005]), {}),
        ('allclose_false', ca[:3], cb[:3], {}),
        ('allclose_nan', ca[3:5], cb[3:5], {}),
        ('allclose_equal_nan', ca[3:4], cb[3:4], {'equal_nan': True}),
        ('allclose_atol_broadcast', torch.tensor([[0.0], [1.0]]), torch.tensor([0.05, -0.05]), {'atol': 0.1})]:
    case(name, 'allclose', lambda a, b, kw=kw: boolean(torch.allclose(a, b, **kw)), [const(a), const(b)], kw,
         int_values=True)
for name, a, b in [
        ('equal_true_promoted', torch.tensor([1.0, 2.0]), torch.tensor([1, 2])),
        ('equal_values_differ', torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5])),
        ('equal_shapes_differ', torch.tensor([1.0, 1.0]), torch.tensor([[1.0, 1.0]])),
        ('equal_nan', torch.tensor([NAN]), torch.tensor([NAN]))]:
    case(name, 'equal', lambda a, b: boolean(torch.equal(a, b)), [const(a), const(b)], int_values=True)

# ---- (9) cdist ----------------------------------------------------------------------------------------
case('cdist', 'cdist', lambda a, b: torch.cdist(a, b), [randn(3, 4), randn(5, 4)])
case('cdist_p1', 'cdist', lambda a, b: torch.cdist(a, b, p=1), [randn(3, 4), randn(2, 4)], {'p': 1})
case('cdist_p_half', 'cdist', lambda a, b: torch.cdist(a, b, p=0.5), [randn(3, 4), randn(2, 4)], {'p': 0.5})
case('cdist_p3_batched_broadcast', 'cdist', lambda a, b: torch.cdist(a, b, p=3),
     [randn(2, 1, 3, 4), randn(3, 2, 4)], {'p': 3})
# whole numbers: ties for the largest difference, each given the gradient
case('cdist_inf_ties', 'cdist', lambda a, b: torch.cdist(a, b, p=INF),
     [torch.tensor([[0.0, 0.0, 1.0], [2.0, -1.0, 3.0]]), torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 3.0]])],
     {'p': INF})
case('cdist_p0', 'cdist', lambda a, b: torch.cdist(a, b, p=0),
     [torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]), torch.tensor([[0.0, 1.0, 3.0]])], {'p': 0})
# a shared row: the distance 0 gets the gradient 0
case('cdist_zero_distance', 'cdist', lambda a, b: torch.cdist(a, b),
     [torch.tensor([[1.0, 2.0], [0.5, -1.0]]), torch.tensor([[1.0, 2.0], [3.0, 0.0]])])
case('cdist_transposed_f64', 'cdist', lambda a, b: torch.cdist(a, b), [randn(4, 3, dtype=F64), randn(2, 4, dtype=F64)],
     {'transpose': [1, 2]})
# more than 25 rows: PyTorch's matmul form
case('cdist_mm', 'cdist', lambda a, b: torch.cdist(a, b), [randn(30, 3), randn(4, 3)])
case('cdist_mm_forced_batched_f64', 'cdist',
     lambda a, b: torch.cdist(a, b, compute_mode='use_mm_for_euclid_dist'),
     [randn(2, 3, 4, dtype=F64), randn(2, 5, 4, dtype=F64)], {'compute_mode': 'use_mm_for_euclid_dist'})
case('cdist_mm_off', 'cdist', lambda a, b: torch.cdist(a, b, compute_mode='donot_use_mm_for_euclid_dist'),
     [randn(27, 2), randn(3, 2)], {'compute_mode': 'donot_use_mm_for_euclid_dist'})

# ---- (10) einsum --------------------------------------------------------------------------------------
for name, eq, shapes in [
        ('einsum_mm', 'ij,jk->ik', [(3, 4), (4, 2)]),
        ('einsum_bmm', 'bij,bjk->bik', [(2, 3, 4), (2, 4, 5)]),
        ('einsum_diagonal', 'ii->i', [(3, 3)]),
        ('einsum_transpose', 'ij->ji', [(2, 3)]),
        ('einsum_dot', 'i,i->', [(5,), (5,)]),
        ('einsum_outer', 'i,j->ij', [(3,), (4,)]),
        ('einsum_ellipsis_broadcast', '...ij,...jk->...ik', [(2, 1, 3, 4), (3, 4, 2)]),
        ('einsum_implicit', 'ij,jk', [(3, 4), (4, 2)]),
        ('einsum_implicit_case_order', 'bA,c', [(2, 3), (4,)]),
        ('einsum_trace', 'ii', [(4, 4)]),
        ('einsum_sum_all', 'ij->', [(3, 4)]),
        ('einsum_bilinear', 'bn,anm,bm->ba', [(2, 3), (4, 3, 5), (2, 5)]),
        ('einsum_diagonal_of_batch', 'iij->ji', [(3, 3, 2)]),
        ('einsum_batch_and_sum', 'bij,bkj->bik', [(2, 3, 4), (2, 5, 4)]),
        ('einsum_attention', 'bhqd,bhkd->bhqk', [(2, 2, 3, 4), (2, 2, 5, 4)]),
        ('einsum_ellipsis_summed', '...ij->ij', [(2, 3, 4)]),
        ('einsum_size_one_broadcast', 'ij,jk->ik', [(2, 1), (3, 4)]),
        ('einsum_spaces', ' i j , j k -> k i ', [(2, 3), (3, 4)])]:
    case(name, 'einsum', lambda *xs, eq=eq: torch.einsum(eq, *xs), [randn(*s) for s in shapes], {'eq': eq})
case('einsum_transposed_operand', 'einsum', lambda a, b: torch.einsum('ij,jk->ik', a, b), [randn(4, 3), randn(4, 2)],
     {'eq': 'ij,jk->ik', 'transpose': [1, 2]})
case('einsum_f64', 'einsum', lambda a, b: torch.einsum('bij,bjk->bki', a, b),
     [randn(2, 3, 4, dtype=F64), randn(2, 4, 2, dtype=F64)], {'eq': 'bij,bjk->bki'})
case('einsum_int64', 'einsum', lambda a, b: torch.einsum('ij,jk->ik', a, b),
     [const(torch.arange(6).view(2, 3)), const(torch.arange(-3, 3).view(3, 2))], {'eq': 'ij,jk->ik'}, int_values=True)

# ---- (11) addmm, addmv, baddbmm, addbmm ----------------------------------------------------------------
case('addmm', 'addmm', lambda c, a, b: torch.addmm(c, a, b), [randn(3, 2), randn(3, 4), randn(4, 2)])
case('addmm_beta_alpha_broadcast', 'addmm', lambda c, a, b: c.addmm(a, b, beta=0.5, alpha=-2),
     [randn(2), randn(3, 4), randn(4, 2)], {'beta': 0.5, 'alpha': -2})
# beta 0: NaN in the input is ignored, and its gradient is 0
case('addmm_beta_zero', 'addmm', lambda c, a, b: torch.addmm(c, a, b, beta=0),
     [torch.tensor([[NAN, 1.0], [2.0, INF]]), randn(2, 3), randn(3, 2)], {'beta': 0})
case('addmm_transposed_f64', 'addmm', lambda c, a, b: torch.addmm(c, a, b, alpha=3),
     [randn(2, 3, dtype=F64), randn(3, 4, dtype=F64), randn(4, 2, dtype=F64)], {'alpha': 3, 'transpose': [1, 2]})
case('addmm_int64', 'addmm', lambda c, a, b: torch.addmm(c, a, b, beta=2, alpha=-1),
     [const(torch.tensor([[1], [2]])), const(torch.arange(6).view(2, 3)), const(torch.arange(6).view(3, 2))],
     {'beta': 2, 'alpha': -1}, int_values=True)
case('addmv', 'addmv', lambda c, a, v: torch.addmv(c, a, v), [randn(3), randn(3, 4), randn(4)])
case('addmv_beta_alpha_scalar_input', 'addmv', lambda c, a, v: c.addmv(a, v, beta=-1, alpha=0.25),
     [randn(1), randn(2, 5), randn(5)], {'beta': -1, 'alpha': 0.25})
case('baddbmm', 'baddbmm', lambda c, a, b: torch.baddbmm(c, a, b), [randn(2, 3, 2), randn(2, 3, 4), randn(2, 4, 2)])
case('baddbmm_broadcast_beta_alpha', 'baddbmm', lambda c, a, b: c.baddbmm(a, b, beta=2, alpha=0.5),
     [randn(3, 1), randn(2, 3, 4), randn(2, 4, 5)], {'beta': 2, 'alpha': 0.5})
case('addbmm', 'addbmm', lambda c, a, b: torch.addbmm(c, a, b), [randn(3, 2), randn(4, 3, 5), randn(4, 5, 2)])
case('addbmm_beta_alpha_f64', 'addbmm', lambda c, a, b: c.addbmm(a, b, beta=0.5, alpha=2),
     [randn(2, dtype=F64), randn(3, 2, 4, dtype=F64), randn(3, 4, 2, dtype=F64)], {'beta': 0.5, 'alpha': 2})

# ---- (12) later cases ---------------------------------------------------------------------------------
# equal coordinates below p = 1: |d|^p has an infinite slope at 0, and
# PyTorch gives those coordinates the gradient 0
case('cdist_p_half_shared_coordinates', 'cdist', lambda a, b: torch.cdist(a, b, p=0.5),
     [torch.tensor([[0.0, 0.0, 2.0], [1.0, -1.0, 0.5]]), torch.tensor([[0.0, 1.0, 2.0], [1.0, 3.0, -2.0]])],
     {'p': 0.5})


def main():
    write_golden('tensor_linalg.lua', [
        'tensor_linalg.lua: PyTorch %s golden values for the ops of lua/nnlua/tensor_linalg.lua;' % torch.__version__,
        'generated by tests/golden/gen_tensor_linalg.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_tensor_linalg.py`). Checked by tests/spec/tensor_linalg_spec.lua.',
        'Each case: inputs, args (1-based dims; transpose = {a, b} transposes input 1 first),',
        'w (one per float output, false for int64 ones), outs, and the grads of',
        'sum((out_i * w_i):sum()) for each input (false where it has none).',
    ], [lua_method_case(c, F64) for c in CASES])


if __name__ == '__main__':
    main()
