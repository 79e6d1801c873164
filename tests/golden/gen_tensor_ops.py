# gen_tensor_ops.py: PyTorch golden values for nnlua's tensor methods that
# take index tensors, give several outputs or take options (add's alpha,
# div's rounding_mode, chunk, split, gather, sort, ...). Writes
# tests/golden/tensor_ops.lua (checked by tests/spec/tensor_ops_spec.lua);
# it does not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_tensor_ops.py
#
# For each case, on seeded inputs: outs = op(inputs...) (one tensor or a
# list), then the loss sum((out_i * w_i).sum()) over the float outputs,
# with fixed random w_i of their shapes, and the gradient of every input
# that requires one. int64 outputs (indices) are compared exactly, and
# written 1-based; so are index inputs, which the Lua side passes as they
# are while this side gets them 0-based. Non-contiguous cases transpose
# an input inside the op, on both sides. New cases go at the end: the
# random stream of the earlier ones stays as it was.
import torch
from common import I64, randn, method_case, lua_method_case, write_golden

torch.manual_seed(20250720)
CASES = []


def idx(data):
    """an index input: data 1-based as Lua gives it; the op gets it 0-based"""
    return ('index', torch.tensor(data, dtype=I64))


def case(*args, **kw):
    CASES.append(method_case(*args, **kw))


# ---- (1) add and sub with alpha, div with rounding_mode --------------------------
case('add_alpha', 'add_alpha', lambda a, b: torch.add(a, b, alpha=2.5), [randn(3, 4), randn(3, 4)], {'alpha': 2.5})
case('add_alpha_broadcast', 'add_alpha', lambda a, b: torch.add(a, b, alpha=-3), [randn(3, 4), randn(4)], {'alpha': -3})
case('sub_alpha', 'sub_alpha', lambda a, b: torch.sub(a, b, alpha=0.5), [randn(2, 3), randn(2, 3)], {'alpha': 0.5})
case('sub_alpha_noncontig', 'sub_alpha_t', lambda a, b: torch.sub(a.t(), b, alpha=2), [randn(4, 3), randn(3, 4)],
     {'alpha': 2})
case('add_alpha_int64', 'add_alpha', lambda a, b: torch.add(a, b, alpha=3),
     [('const', torch.tensor([[1, -2], [3, 4]])), ('const', torch.tensor([[5, 6], [-7, 8]]))], {'alpha': 3},
     int_values=True)
num = randn(3, 4) * 4
den = randn(3, 4)
den = torch.where(den.abs() < 0.2, den.sign() * 0.5 + 0.1, den)
case('div_trunc', 'div_mode', lambda a, b: torch.div(a, b, rounding_mode='trunc'), [num, den], {'mode': 'trunc'})
case('div_floor', 'div_mode', lambda a, b: torch.div(a, b, rounding_mode='floor'), [num, den], {'mode': 'floor'})
case('div_floor_scalar', 'div_mode_scalar', lambda a: torch.div(a, -1.5, rounding_mode='floor'), [num],
     {'mode': 'floor', 'scalar': -1.5})
ia = torch.tensor([7, -7, 7, -7, 0, 9, -9, 100])
ib = torch.tensor([2, 2, -2, -2, 3, 3, 4, -7])
case('div_trunc_int64', 'div_mode', lambda a, b: torch.div(a, b, rounding_mode='trunc'),
     [('const', ia), ('const', ib)], {'mode': 'trunc'}, int_values=True)
case('div_floor_int64', 'div_mode', lambda a, b: torch.div(a, b, rounding_mode='floor'),
     [('const', ia), ('const', ib)], {'mode': 'floor'}, int_values=True)


# ---- (2) splits and dim moves ----------------------------------------------------
case('chunk', 'chunk', lambda x: x.chunk(3, 1), [randn(2, 7)], {'n': 3, 'dim': 2})
case('chunk_fewer', 'chunk', lambda x: x.chunk(4, 0), [randn(6, 2)], {'n': 4, 'dim': 1})
case('chunk_noncontig', 'chunk_t', lambda x: x.t().chunk(2, -1), [randn(5, 3)], {'n': 2, 'dim': -1})
case('split_size', 'split', lambda x: x.split(2, 1), [randn(3, 5)], {'size': 2, 'dim': 2})
case('split_list', 'split', lambda x: x.split([1, 3, 0, 1], 0), [randn(5, 2)], {'size': [1, 3, 0, 1], 'dim': 1})
case('split_noncontig', 'split_t', lambda x: x.t().split([2, 2], 1), [randn(4, 3)], {'size': [2, 2], 'dim': 2})
case('unbind', 'unbind', lambda x: x.unbind(1), [randn(2, 3, 2)], {'dim': 2})
case('unbind_noncontig', 'unbind_t', lambda x: x.t().unbind(0), [randn(3, 2)], {'dim': 1})
case('flatten', 'flatten', lambda x: x.flatten(1, 2), [randn(2, 3, 4, 2)], {'start': 2, 'stop': 3})
case('flatten_all', 'flatten', lambda x: x.flatten(), [randn(2, 3)], {})
case('flatten_noncontig', 'flatten_t', lambda x: x.transpose(0, 2).flatten(1), [randn(2, 3, 4)], {'start': 2})
case('unflatten', 'unflatten', lambda x: x.unflatten(1, (2, -1)), [randn(3, 6)], {'dim': 2, 'sizes': [2, -1]})
case('movedim', 'movedim', lambda x: x.movedim(0, 2), [randn(2, 3, 4)], {'src': 1, 'dst': 3})
case('movedim_list', 'movedim', lambda x: x.movedim([0, 1], [-1, 0]), [randn(2, 3, 4, 2)],
     {'src': [1, 2], 'dst': [-1, 1]})


# ---- (3) masked_fill ----------------------------------------------------------------
mk = (torch.rand(3, 4) > 0.5).to(I64)
case('masked_fill', 'masked_fill', lambda x, m: x.masked_fill(m.bool(), -2.5), [randn(3, 4), ('const', mk)],
     {'value': -2.5})
mrow = torch.tensor([1, 0, 0, 1])
case('masked_fill_broadcast_t', 'masked_fill_t', lambda x, m: x.t().masked_fill(m.bool(), 0.75),
     [randn(4, 3), ('const', mrow)], {'value': 0.75})
case('masked_fill_tensor_value', 'masked_fill_tensor', lambda x, m, v: x.masked_fill(m.bool(), v),
     [randn(3, 4), ('const', mk), randn()])


# ---- (4) gather, scatter, scatter_add, index_add -----------------------------------
gi = [[1, 3], [2, 2], [4, 1]]            # repeated index in a row: gather's gradient adds up
case('gather', 'gather', lambda x, i: x.gather(1, i), [randn(3, 4), idx(gi)], {'dim': 2})
case('gather_dim1', 'gather', lambda x, i: x.gather(0, i), [randn(3, 2), idx([[3, 1], [3, 3]])], {'dim': 1})
case('gather_noncontig', 'gather_t', lambda x, i: x.t().gather(-1, i), [randn(4, 3), idx(gi)], {'dim': -1})
case('gather_int64', 'gather', lambda x, i: x.gather(1, i), [('const', torch.arange(12).view(3, 4)), idx(gi)],
     {'dim': 2}, int_values=True)
si = [[4, 1], [2, 3], [1, 2]]            # distinct along dim 2: scatter's result is defined
case('scatter', 'scatter', lambda x, i, s: x.scatter(1, i, s), [randn(3, 4), idx(si), randn(3, 2)], {'dim': 2})
case('scatter_noncontig', 'scatter_t', lambda x, i, s: x.t().scatter(1, i, s.t()),
     [randn(4, 3), idx(si), randn(2, 3)], {'dim': 2})
case('scatter_value', 'scatter_value', lambda x, i: x.scatter(0, i, -1.25), [randn(3, 2), idx([[2, 3], [3, 1]])],
     {'dim': 1, 'value': -1.25})
case('scatter_add', 'scatter_add', lambda x, i, s: x.scatter_add(1, i, s), [randn(3, 4), idx(gi), randn(3, 2)],
     {'dim': 2})
case('scatter_add_dim1_t', 'scatter_add_t', lambda x, i, s: x.scatter_add(0, i, s.t()),
     [randn(3, 2), idx([[1, 3], [1, 1], [2, 1]]), randn(2, 3)], {'dim': 1})
case('index_add', 'index_add', lambda x, i, s: x.index_add(0, i, s, alpha=1.5),
     [randn(4, 3), idx([4, 1, 4]), randn(3, 3)], {'dim': 1, 'alpha': 1.5})
case('index_add_dim2_t', 'index_add_t', lambda x, i, s: x.t().index_add(1, i, s),
     [randn(3, 2), idx([2, 2, 1, 3]), randn(2, 4)], {'dim': 2})


# ---- (5) sort and topk (ties: stable order, PyTorch's stable=True) -----------------
def topk_stable(x, k, dim, largest):
    """topk as the first k of a stable sort (torch.topk's order of ties is
    not specified); its values checked against torch.topk's"""
    v, i = torch.sort(x, dim=dim, descending=largest, stable=True)
    v, i = v.narrow(dim, 0, k), i.narrow(dim, 0, k)
    assert torch.equal(v, torch.topk(x, k, dim, largest=largest).values)
    return v, i


tied = torch.tensor([[0.5, -1.0, 0.5, 2.0, -1.0], [3.0, 3.0, 1.0, 3.0, 0.0], [1.0, 2.0, 0.0, 2.0, 2.0]])
case('sort', 'sort', lambda x: torch.sort(x, dim=1, stable=True), [randn(3, 5)], {'dim': 2, 'descending': False})
case('sort_ties', 'sort', lambda x: torch.sort(x, dim=1, stable=True), [tied], {'dim': 2, 'descending': False})
case('sort_ties_desc', 'sort', lambda x: torch.sort(x, dim=-1, descending=True, stable=True), [tied],
     {'dim': -1, 'descending': True})
case('sort_dim1_noncontig', 'sort_t', lambda x: torch.sort(x.t(), dim=0, descending=True, stable=True), [tied],
     {'dim': 1, 'descending': True})
case('sort_int64', 'sort', lambda x: torch.sort(x, dim=0, stable=True), [('const', torch.tensor([3, -1, 3, 0, -1]))],
     {'dim': 1, 'descending': False}, int_values=[True, False])
case('topk', 'topk', lambda x: topk_stable(x, 2, 1, True), [randn(3, 5)], {'k': 2, 'dim': 2, 'largest': True})
case('topk_ties', 'topk', lambda x: topk_stable(x, 3, 1, True), [tied], {'k': 3, 'dim': 2, 'largest': True})
case('topk_smallest_t', 'topk_t', lambda x: topk_stable(x.t(), 2, 0, False), [tied],
     {'k': 2, 'dim': 1, 'largest': False})


def main():
    write_golden('tensor_ops.lua', [
        'tensor_ops.lua: PyTorch %s golden values for nnlua tensor methods; generated by' % torch.__version__,
        'tests/golden/gen_tensor_ops.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_tensor_ops.py`). Checked by tests/spec/tensor_ops_spec.lua.',
        'Each case: inputs (index inputs 1-based), args (1-based dims), w (one per',
        'float output, false for int64 ones), outs (int64 ones 1-based), and the',
        'grads of sum((out_i * w_i):sum()) for each input (false where it has none).',
    ], [lua_method_case(c) for c in CASES])


if __name__ == '__main__':
    main()
