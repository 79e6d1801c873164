# gen_pool_unbatched.py: PyTorch 1.13 golden values for the 2-D pools of
# nn.functional on an unbatched (C, H, W) input, which PyTorch takes as a
# batch of one (nnlua's F forms refused it): max_pool2d (with indices,
# ceil_mode, padding, dilation), avg_pool2d (ceil_mode, count_include_pad,
# divisor_override), adaptive_avg_pool2d and adaptive_max_pool2d (smaller
# and larger than the input), float32 and float64; each out and the input's
# gradient of (out * w).sum(). Writes tests/golden/pool_unbatched.lua
# (checked by tests/spec/conv_extra_spec.lua); it does not test anything
# itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_pool_unbatched.py
import torch
import torch.nn.functional as F
from common import F32, F64, lua_method_case, method_case, write_golden

torch.manual_seed(20261128)


def distinct(*shape, dtype=F32):
    """A random permutation of well-separated values: no ties in a max pool."""
    n = 1
    for v in shape:
        n *= v
    return ((torch.randperm(n).to(F64) - n / 2) * (4.0 / n)).reshape(shape).to(dtype)


CASES = []
for dt, tag in ((F32, 'f32'), (F64, 'f64')):
    CASES.append(method_case('max_pool2d k2 ' + tag, 'max_pool2d', lambda x: F.max_pool2d(x, 2, return_indices=True),
                             [distinct(3, 5, 6, dtype=dt)], {'kernel_size': 2, 'return_indices': True}))
    CASES.append(method_case('max_pool2d k3 s2 p1 d1 ceil ' + tag, 'max_pool2d',
                             lambda x: F.max_pool2d(x, 3, 2, 1, 1, True, True),
                             [distinct(2, 7, 6, dtype=dt)],
                             {'kernel_size': 3, 'stride': 2, 'padding': 1, 'ceil_mode': True, 'return_indices': True}))
    CASES.append(method_case('max_pool2d dilation 2 ' + tag, 'max_pool2d',
                             lambda x: F.max_pool2d(x, (2, 3), 1, 0, 2),
                             [distinct(2, 6, 7, dtype=dt)], {'kernel_size': [2, 3], 'stride': 1, 'dilation': 2}))
    CASES.append(method_case('avg_pool2d k2 ' + tag, 'avg_pool2d', lambda x: F.avg_pool2d(x, 2),
                             [torch.randn(3, 5, 6, dtype=dt)], {'kernel_size': 2}))
    CASES.append(method_case('avg_pool2d k3 s2 p1 ceil no pad count ' + tag, 'avg_pool2d',
                             lambda x: F.avg_pool2d(x, 3, 2, 1, True, False),
                             [torch.randn(2, 6, 7, dtype=dt)],
                             {'kernel_size': 3, 'stride': 2, 'padding': 1, 'ceil_mode': True,
                              'count_include_pad': False}))
    CASES.append(method_case('avg_pool2d divisor_override ' + tag, 'avg_pool2d',
                             lambda x: F.avg_pool2d(x, (2, 3), divisor_override=4),
                             [torch.randn(2, 4, 6, dtype=dt)], {'kernel_size': [2, 3], 'divisor_override': 4}))
    CASES.append(method_case('adaptive_avg_pool2d 3x2 ' + tag, 'adaptive_avg_pool2d',
                             lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
                             [torch.randn(3, 7, 5, dtype=dt)], {'output_size': [3, 2]}))
    CASES.append(method_case('adaptive_avg_pool2d up 4 ' + tag, 'adaptive_avg_pool2d',
                             lambda x: F.adaptive_avg_pool2d(x, 4),
                             [torch.randn(2, 3, 3, dtype=dt)], {'output_size': 4}))
    CASES.append(method_case('adaptive_max_pool2d 3x2 ' + tag, 'adaptive_max_pool2d',
                             lambda x: F.adaptive_max_pool2d(x, (3, 2), True),
                             [distinct(3, 7, 5, dtype=dt)], {'output_size': [3, 2], 'return_indices': True}))
    CASES.append(method_case('adaptive_max_pool2d up 4 ' + tag, 'adaptive_max_pool2d',
                             lambda x: F.adaptive_max_pool2d(x, 4),
                             [distinct(2, 3, 3, dtype=dt)], {'output_size': 4}))
write_golden('pool_unbatched.lua', ['PyTorch %s golden values of the 2-D pools on (C, H, W) input, written by '
                                    'tests/golden/gen_pool_unbatched.py' % torch.__version__.split('+')[0]],
             [lua_method_case(c) for c in CASES])
