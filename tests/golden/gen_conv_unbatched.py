# gen_conv_unbatched.py: PyTorch 1.13 golden values for nn.functional's
# conv1d, conv2d, conv_transpose1d and conv_transpose2d on an unbatched
# input, (C, L) or (C, H, W), which PyTorch takes as a batch of one
# (nnlua's F forms refused it: 'input must be a 4-D float tensor'): stride,
# padding (numbers and 'same' with an even kernel), dilation, groups,
# output_padding, with and without bias, float32 and float64; each out and
# the gradients of input, weight and bias of (out * w).sum(). Writes
# tests/golden/conv_unbatched.lua (checked by tests/spec/conv_extra_spec.lua);
# it does not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_conv_unbatched.py
import torch
import torch.nn.functional as F
from common import F32, F64, lua_method_case, method_case, write_golden

torch.manual_seed(20261129)


def rand(*shape, dtype=F32):
    return torch.randn(shape, dtype=F64).to(dtype)


CASES = []
for dt, tag in ((F32, 'f32'), (F64, 'f64')):
    CASES.append(method_case('conv1d s2 p1 d2 g2 ' + tag, 'conv1d',
                             lambda x, w, b: F.conv1d(x, w, b, 2, 1, 2, 2),
                             [rand(4, 11, dtype=dt), rand(6, 2, 3, dtype=dt), rand(6, dtype=dt)],
                             {'stride': 2, 'padding': 1, 'dilation': 2, 'groups': 2}))
    CASES.append(method_case("conv1d same k4 no bias " + tag, 'conv1d',
                             lambda x, w: F.conv1d(x, w, None, padding='same'),
                             [rand(3, 7, dtype=dt), rand(2, 3, 4, dtype=dt)], {'padding': 'same'}))
    CASES.append(method_case('conv2d s(2,1) p(1,2) d(1,2) g3 ' + tag, 'conv2d',
                             lambda x, w, b: F.conv2d(x, w, b, (2, 1), (1, 2), (1, 2), 3),
                             [rand(3, 6, 5, dtype=dt), rand(6, 1, 3, 2, dtype=dt), rand(6, dtype=dt)],
                             {'stride': [2, 1], 'padding': [1, 2], 'dilation': [1, 2], 'groups': 3}))
    CASES.append(method_case("conv2d same k(2,3) d2 no bias " + tag, 'conv2d',
                             lambda x, w: F.conv2d(x, w, None, padding='same', dilation=2),
                             [rand(2, 5, 6, dtype=dt), rand(3, 2, 2, 3, dtype=dt)],
                             {'padding': 'same', 'dilation': 2}))
    CASES.append(method_case('conv_transpose1d s3 p1 op2 g2 d2 ' + tag, 'conv_transpose1d',
                             lambda x, w, b: F.conv_transpose1d(x, w, b, 3, 1, 2, 2, 2),
                             [rand(4, 5, dtype=dt), rand(4, 3, 3, dtype=dt), rand(6, dtype=dt)],
                             {'stride': 3, 'padding': 1, 'output_padding': 2, 'groups': 2, 'dilation': 2}))
    CASES.append(method_case('conv_transpose2d s(2,3) p(1,0) op(1,2) no bias ' + tag, 'conv_transpose2d',
                             lambda x, w: F.conv_transpose2d(x, w, None, (2, 3), (1, 0), (1, 2)),
                             [rand(2, 4, 3, dtype=dt), rand(2, 3, 3, 2, dtype=dt)],
                             {'stride': [2, 3], 'padding': [1, 0], 'output_padding': [1, 2]}))
write_golden('conv_unbatched.lua', ['PyTorch %s golden values of F.conv1d/2d and F.conv_transpose1d/2d on '
                                    'unbatched input, written by tests/golden/gen_conv_unbatched.py'
                                    % torch.__version__.split('+')[0]],
             [lua_method_case(c) for c in CASES])
