# gen_tensor_strided.py: PyTorch 1.13 golden values for nnlua's
# tensor_strided.lua and the deterministic ops of tensor_random.lua:
# as_strided (and as_strided_copy), the *_scatter ops, the *_copy forms of
# the view ops, put, resize_, Tensor.histogram, segment_reduce and
# apply_/map_/map2_ of fixed functions. Writes
# tests/golden/tensor_strided.lua (checked by
# tests/spec/tensor_strided_spec.lua). Regenerate, from the repository
# root, with
#
#     /usr/bin/python3 tests/golden/gen_tensor_strided.py
#
# Each case (common.method_case): the inputs, the op's arguments as nnlua
# takes them (dims and indices from 1, slice ends inclusive), the outputs
# and the float inputs' gradients of sum(out_i * w_i).
import torch
import common
from common import F64, I64, randn, method_case, lua_method_case, write_golden

torch.manual_seed(20261129)
torch.set_num_threads(1)

CASES = []


def case(name, op, fn, inputs, args=None, int_values=False):
    common.seed(name)
    CASES.append(method_case(name, op, fn, inputs, args, int_values))


# as_strided: views of the input's storage, overlapping too
for dt, sfx in ((torch.float32, ''), (F64, '_f64')):
    case('as_strided_overlap' + sfx, 'as_strided', lambda x: x.as_strided((3, 3), (1, 1)),
         [randn(3, 4).to(dt)], {'size': [3, 3], 'stride': [1, 1]})
case('as_strided_offset', 'as_strided', lambda x: x.as_strided((2, 3), (1, 4), 2),
     [randn(3, 4)], {'size': [2, 3], 'stride': [1, 4], 'offset': 2})
case('as_strided_zero_stride', 'as_strided', lambda x: x.as_strided((2, 2, 2), (0, 3, 1), 1),
     [randn(6)], {'size': [2, 2, 2], 'stride': [0, 3, 1], 'offset': 1})
case('as_strided_copy', 'as_strided_copy', lambda x: torch.as_strided_copy(x, (2, 2), (2, 1), 3),
     [randn(8)], {'size': [2, 2], 'stride': [2, 1], 'offset': 3})

# the scatters, gradients of both inputs (torch 1.13's slice_scatter takes a
# wrong step unless step is given: it is given always)
case('slice_scatter_dim1_step2', 'slice_scatter', lambda x, s: torch.slice_scatter(x, s, dim=0, start=1, end=4, step=2),
     [randn(5, 3), randn(2, 3)], {'dim': 1, 'start': 2, 'stop': 4, 'step': 2})
case('slice_scatter_dim2', 'slice_scatter', lambda x, s: torch.slice_scatter(x, s, dim=1, start=2, step=1),
     [randn(2, 5), randn(2, 3)], {'dim': 2, 'start': 3})
case('slice_scatter_default_f64', 'slice_scatter', lambda x, s: torch.slice_scatter(x, s, step=1),
     [randn(3, 2).double(), randn(3, 2).double()], {})
case('slice_scatter_negative_end', 'slice_scatter', lambda x, s: torch.slice_scatter(x, s, dim=-1, start=0, end=-1, step=3),
     [randn(2, 7), randn(2, 2)], {'dim': -1, 'start': 1, 'stop': -2, 'step': 3})
# a start at or past the end selects nothing (nnlua's start from 1: size + 1
# and beyond); src, empty, as a constant (nnlua gives an empty leaf no grad)
case('slice_scatter_start_at_end', 'slice_scatter', lambda x, s: torch.slice_scatter(x, s, dim=0, start=3, step=1),
     [randn(3, 2), ('const', randn(0, 2))], {'dim': 1, 'start': 4})
case('slice_scatter_start_past_end', 'slice_scatter', lambda x, s: torch.slice_scatter(x, s, dim=-1, start=6, end=9, step=2),
     [randn(2, 4), ('const', randn(2, 0))], {'dim': -1, 'start': 7, 'stop': 9, 'step': 2})
case('select_scatter', 'select_scatter', lambda x, s: torch.select_scatter(x, s, 0, 1),
     [randn(3, 4), randn(4)], {'dim': 1, 'index': 2})
case('select_scatter_last_dim', 'select_scatter', lambda x, s: torch.select_scatter(x, s, -1, 2),
     [randn(2, 3, 4), randn(2, 3)], {'dim': -1, 'index': 3})
case('diagonal_scatter', 'diagonal_scatter', lambda x, s: torch.diagonal_scatter(x, s),
     [randn(3, 3), randn(3)], {})
case('diagonal_scatter_offset', 'diagonal_scatter', lambda x, s: torch.diagonal_scatter(x, s, 1),
     [randn(3, 4), randn(3)], {'offset': 1})
case('diagonal_scatter_batched', 'diagonal_scatter', lambda x, s: torch.diagonal_scatter(x, s, -1, 1, 2),
     [randn(2, 4, 3), randn(2, 3)], {'offset': -1, 'dim1': 2, 'dim2': 3})
# (torch 1.13's gradient of as_strided_scatter's input zeroes the places
# not written instead of those written: the spec's float64 gradcheck
# covers it; the input is a constant here)
case('as_strided_scatter', 'as_strided_scatter', lambda x, s: torch.as_strided_scatter(x, s, (2, 2), (1, 3), 1),
     [('const', randn(3, 3)), randn(2, 2)], {'size': [2, 2], 'stride': [1, 3], 'offset': 1})

# the *_copy forms
case('view_copy', 'view_copy', lambda x: torch.view_copy(x, (2, 6)), [randn(3, 4)], {'size': [2, 6]})
case('permute_copy', 'permute_copy', lambda x: torch.permute_copy(x, (2, 0, 1)), [randn(2, 3, 4)],
     {'dims': [3, 1, 2]})
case('transpose_copy', 'transpose_copy', lambda x: torch.transpose_copy(x, 0, 2), [randn(2, 3, 4)],
     {'dim0': 1, 'dim1': 3})
case('t_copy', 't_copy', lambda x: torch.t_copy(x), [randn(3, 4)])
case('diagonal_copy', 'diagonal_copy', lambda x: torch.diagonal_copy(x, 1, 1, 2), [randn(2, 4, 4)],
     {'offset': 1, 'dim1': 2, 'dim2': 3})
case('expand_copy', 'expand_copy', lambda x: torch.expand_copy(x, (2, 3, 4)), [randn(3, 1)],
     {'size': [2, 3, 4]})
case('select_copy', 'select_copy', lambda x: torch.select_copy(x, 1, 2), [randn(3, 4)], {'dim': 2, 'index': 3})
case('slice_copy', 'slice_copy', lambda x: torch.slice_copy(x, dim=1, start=1, end=6, step=2), [randn(2, 7)],
     {'dim': 2, 'start': 2, 'stop': 6, 'step': 2})
case('slice_copy_start_past_end', 'slice_copy', lambda x: torch.slice_copy(x, dim=0, start=3, step=1), [randn(3, 2)],
     {'dim': 1, 'start': 4})
case('squeeze_copy', 'squeeze_copy', lambda x: torch.squeeze_copy(x, 1), [randn(3, 1, 4)], {'dim': 2})
case('unsqueeze_copy', 'unsqueeze_copy', lambda x: torch.unsqueeze_copy(x, 1), [randn(3, 4)], {'dim': 2})
case('unbind_copy', 'unbind_copy', lambda x: torch.unbind_copy(x, 1), [randn(2, 3)], {'dim': 2})
case('split_copy', 'split_copy', lambda x: torch.split_copy(x, 2, 0), [randn(5, 2)], {'size': 2, 'dim': 1})
case('split_with_sizes_copy', 'split_with_sizes_copy', lambda x: torch.split_with_sizes_copy(x, [1, 3], 1),
     [randn(2, 4)], {'sizes': [1, 3], 'dim': 2})
case('detach_copy', 'detach_copy', lambda x: torch.detach_copy(x), [('const', randn(2, 3))])
case('alias_copy', 'alias_copy', lambda x: torch.alias_copy(x), [randn(2, 3)])
case('unfold_copy', 'unfold_copy', lambda x: torch.unfold_copy(x, 1, 3, 2), [randn(2, 7)],
     {'dim': 2, 'size': 3, 'step': 2})

# put, resize_, histogram, apply_ / map_ / map2_
case('put', 'put', lambda x, i, s: torch.put(x, i, s), [randn(3, 4), ('index', torch.tensor([1, 12, 5])),
                                                         randn(3)])
case('put_accumulate', 'put', lambda x, i, s: torch.put(x, i, s, accumulate=True),
     [randn(2, 3), ('index', torch.tensor([[2, 2], [6, 1]])), randn(2, 2)], {'accumulate': True})
case('resize_shrink', 'resize_', lambda x: x.clone().resize_(2, 2), [('const', randn(3, 4))], {'size': [2, 2]})
case('resize_regrow', 'resize_', lambda x: x.clone().resize_(2, 1).resize_(3, 3),
     [('const', randn(3, 4))], {'size': [3, 3], 'first': [2, 1]})
case('resize_as_', 'resize_as_', lambda x, o: x.clone().resize_as_(o),
     [('const', randn(2, 5)), ('const', randn(3, 2))])
case('resize_int64', 'resize_', lambda x: x.clone().resize_(4), [('const', torch.arange(10))], {'size': [4]},
     int_values=True)
case('histogram_range_weight', 'histogram',
     lambda x, w: torch.histogram(x, 5, range=(-1.0, 2.0), weight=w, density=True),
     [('const', randn(40).double()), ('const', torch.rand(40, dtype=F64))],
     {'bins': 5, 'range': [-1.0, 2.0], 'density': True, 'weighted': True})
case('histogram_bins', 'histogram', lambda x: torch.histogram(x, 7), [('const', randn(30))], {'bins': 7})
case('apply_', 'apply_', lambda x: x.clone().apply_(lambda v: v * v - 1 if v > 0 else 0.5 * v),
     [('const', randn(3, 4))], {'fn': 'piecewise'})
case('map_broadcast', 'map_', lambda x, y: x.clone().map_(y, lambda a, b: a * b + 1),
     [('const', randn(2, 3)), ('const', randn(3))], {'fn': 'mul_add'})
case('map2_', 'map2_', lambda x, y, z: x.clone().map2_(y, z, lambda a, b, c: a + b * c),
     [('const', randn(2, 3).double()), ('const', randn(2, 1).double()), ('const', randn(3).double())],
     {'fn': 'fma'})
case('apply_int64', 'apply_', lambda x: x.clone().apply_(lambda v: v * 1.5 - 2), [('const', torch.arange(-3, 5))],
     {'fn': 'affine'}, int_values=True)

# segment_reduce over 1-D lengths (or offsets), empty segments, initial, ties
LENS = torch.tensor([2, 0, 3, 1])
for r in ('sum', 'mean', 'max', 'min', 'prod'):
    case('segment_reduce_' + r, 'segment_reduce', lambda x, l, r=r: torch.segment_reduce(x, r, lengths=l),
         [randn(6), ('const', LENS)], {'reduce': r})
    case('segment_reduce_%s_initial' % r, 'segment_reduce',
         lambda x, l, r=r: torch.segment_reduce(x, r, lengths=l, initial=0.25),
         [randn(6, 2), ('const', LENS)], {'reduce': r, 'initial': 0.25})
case('segment_reduce_offsets_f64', 'segment_reduce',
     lambda x, o: torch.segment_reduce(x, 'mean', offsets=o),
     [randn(5, 3).double(), ('const', torch.tensor([0, 3, 3, 5]))], {'reduce': 'mean', 'offsets': True})
case('segment_reduce_max_ties', 'segment_reduce', lambda x, l: torch.segment_reduce(x, 'max', lengths=l),
     [torch.tensor([1.0, 3.0, 3.0, 2.0, -1.0]), ('const', torch.tensor([4, 1]))], {'reduce': 'max'})
case('segment_reduce_prod_zero', 'segment_reduce', lambda x, l: torch.segment_reduce(x, 'prod', lengths=l),
     [torch.tensor([1.5, 3.0, 0.0, 2.0, 0.0, 0.0]), ('const', torch.tensor([4, 2]))], {'reduce': 'prod'})

# as_strided of a view (x[:, 1:3], nnlua's x:narrow(2, 2, 2)) that reads
# storage outside it: those elements' values, and no gradient for them
# (1.13's gradient reaches the view's elements only)
case('as_strided_view_out', 'as_strided_view', lambda x: x[:, 1:3].as_strided((3, 3), (4, 1), 0),
     [randn(3, 4)], {'size': [3, 3], 'stride': [4, 1], 'offset': 0})
case('as_strided_view_overlap', 'as_strided_view', lambda x: x[:, 1:3].as_strided((2, 3), (1, 1), 1),
     [randn(3, 4).to(F64)], {'size': [2, 3], 'stride': [1, 1], 'offset': 1})

write_golden('tensor_strided.lua', [
    'tensor_strided.lua: PyTorch 1.13 values for nnlua\'s strided views, *_scatter and *_copy ops, put,',
    'resize_, histogram, apply_/map_/map2_ and segment_reduce (gen_tensor_strided.py writes this file; do not edit).',
], [lua_method_case(c) for c in CASES])
