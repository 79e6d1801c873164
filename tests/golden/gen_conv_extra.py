# gen_conv_extra.py: PyTorch golden values for the layers nnlua's CNN
# families gained after gen_conv.py's: nn.functional.pad and the padding
# modules, Conv1d/Conv2d's padding_mode, ConvTranspose1d/2d, the 1-D pools
# and the adaptive max pools. Writes
# tests/golden/conv_extra.lua (checked by tests/spec/conv_extra_spec.lua);
# it does not test anything itself. A file of its own: regenerating
# gen_conv.py's cases moves them in the last digit (BLAS), and these are
# checked to their own tolerances. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_conv_extra.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Two kinds of case, each in float32 or float64 (then written in full):
#   fn: F.pad(x, pads, mode, value) on a fixed x; out, and the input's
#       gradient of (out * w).sum() for a fixed random w of out's shape.
#   layer: a module with fixed parameters (PyTorch's layout and names),
#       built in nnlua from `args` and `opts`; out = m(x) (m(x, output_size)
#       where given), the gradients of the input and of every parameter
#       for (out * w).sum().
# With transposed = true the input reaches the op as x.transpose(-1, -2) of
# the stored `input` (a non-contiguous view); grad_input is the gradient of
# the stored tensor.
import torch
import torch.nn as nn
import torch.nn.functional as F
import common
from common import F32, F64, randn, write_golden

torch.manual_seed(20250301)
torch.set_num_threads(1)
# float64s as their shortest round-trip digits, the numbers of options as float64s
num, lua_tensor, lua_value, lua_named = common.shortest_writers()

CASES = []


# out = f(x'), x' the input as the op sees it; the stored input's grad
run = common.run_with_grad


def fn(name, x, pads, mode='constant', value=None, dtype=F32, transposed=False):
    x = x.to(dtype)
    kw = {} if value is None else {'value': value}
    out, _, w, gx = run(lambda t: F.pad(t, pads, mode, **kw), x, transposed)
    CASES.append({'kind': 'fn', 'name': name, 'op': 'pad', 'pads': list(pads), 'mode': mode, 'value': value,
                  'dtype': dtype, 'input': x, 'transposed': transposed, 'w': w, 'out': out.detach(),
                  'grad_input': gx})


def layer(name, kind, args, m, x, opts=None, dtype=F32, transposed=False, indices=False, output_size=None):
    m = m.to(dtype)
    x = x.to(dtype)
    state = [(k, v.detach().clone()) for k, v in m.named_parameters()]
    out, idx, w, gx = run(m if output_size is None else (lambda t: m(t, output_size=output_size)), x, transposed)
    CASES.append({'kind': 'layer', 'name': name, 'module': kind, 'args': args, 'opts': opts or {},
                  'dtype': dtype, 'state': state, 'params': [k for k, _ in state], 'input': x,
                  'transposed': transposed, 'w': w, 'out': out.detach(), 'grad_input': gx,
                  'grads': [(k, p.grad) for k, p in m.named_parameters()],
                  'indices': None if idx is None else idx + 1, 'output_size': output_size})


def set_state(m, scale=0.5):
    with torch.no_grad():
        for _, p in m.named_parameters():
            p.copy_(randn(*p.shape) * scale)
    return m


# ---- nn.functional.pad ----------------------------------------------------------------------
for dt in (F32, F64):
    sfx = '' if dt == F32 else '_f64'
    fn('pad_constant_1d' + sfx, randn(2, 3, 5), (2, 1), dtype=dt)
    fn('pad_constant_value_2d' + sfx, randn(2, 2, 4, 5), (1, 2, 3, 0), 'constant', -1.5, dtype=dt)
    fn('pad_constant_crop' + sfx, randn(2, 3, 4, 6), (-1, 2, 1, -2), dtype=dt)
    fn('pad_reflect_1d' + sfx, randn(2, 3, 6), (3, 2), 'reflect', dtype=dt)
    fn('pad_reflect_2d' + sfx, randn(2, 2, 5, 4), (3, 1, 2, 4), 'reflect', dtype=dt)
    fn('pad_replicate_1d' + sfx, randn(2, 3, 4), (5, 2), 'replicate', dtype=dt)
    fn('pad_replicate_2d' + sfx, randn(1, 3, 3, 4), (2, 6, 4, 1), 'replicate', dtype=dt)
    fn('pad_circular_1d' + sfx, randn(2, 2, 5), (3, 5), 'circular', dtype=dt)
    fn('pad_circular_2d' + sfx, randn(2, 2, 4, 5), (2, 3, 4, 1), 'circular', dtype=dt)
fn('pad_constant_3_dims', randn(2, 3, 4, 2), (1, 0, 0, 2, 1, 1), 'constant', 0.25)
fn('pad_constant_all_dims_crop', randn(3, 4), (1, -2, -1, 2))
fn('pad_constant_to_empty', randn(2, 4), (-2, -2))
fn('pad_reflect_unbatched_2d', randn(3, 4, 5), (1, 2, 3, 0), 'reflect')
fn('pad_reflect_1d_on_2d', randn(3, 5), (4, 1), 'reflect')
fn('pad_reflect_negative', randn(1, 2, 3, 6), (-1, 3, 2, -1), 'reflect')
fn('pad_replicate_unbatched_2d', randn(2, 3, 3), (1, 1, 2, 3), 'replicate')
fn('pad_replicate_negative', randn(2, 2, 6), (-4, 3), 'replicate')
fn('pad_circular_negative', randn(1, 2, 4, 6), (-1, 2, 1, -2), 'circular')
fn('pad_circular_whole', randn(2, 1, 3), (3, 3), 'circular')
fn('pad_reflect_transposed', randn(2, 2, 6, 5), (2, 3, 1, 4), 'reflect', transposed=True)
fn('pad_circular_transposed', randn(2, 5, 3), (1, 4), 'circular', transposed=True)
fn('pad_constant_transposed', randn(2, 3, 4, 5), (1, -1, 2, 0), 'constant', 3.0, transposed=True)

# ---- padding modules ---------------------------------------------------------------------------
layer('zeropad2d', 'ZeroPad2d', [[1, 2, 0, 3]], nn.ZeroPad2d((1, 2, 0, 3)), randn(2, 2, 3, 4))
layer('zeropad2d_int', 'ZeroPad2d', [2], nn.ZeroPad2d(2), randn(2, 3, 3))
layer('constantpad1d', 'ConstantPad1d', [[3, 1], 0.5], nn.ConstantPad1d((3, 1), 0.5), randn(2, 3, 4))
layer('constantpad2d_crop', 'ConstantPad2d', [[-1, 2, 1, -1], -2.0], nn.ConstantPad2d((-1, 2, 1, -1), -2.0),
      randn(1, 2, 4, 4))
layer('reflectionpad1d', 'ReflectionPad1d', [[2, 3]], nn.ReflectionPad1d((2, 3)), randn(2, 2, 5))
layer('reflectionpad2d', 'ReflectionPad2d', [2], nn.ReflectionPad2d(2), randn(1, 3, 4, 5))
layer('replicationpad1d', 'ReplicationPad1d', [[4, 0]], nn.ReplicationPad1d((4, 0)), randn(3, 2, 3))
layer('replicationpad2d', 'ReplicationPad2d', [[1, 0, 2, 5]], nn.ReplicationPad2d((1, 0, 2, 5)), randn(2, 3, 4))


# ---- Conv2d / Conv1d padding_mode ------------------------------------------------------------------
def conv2d(i, o, k, **kw):
    return set_state(nn.Conv2d(i, o, k, **kw))


def conv1d(i, o, k, **kw):
    return set_state(nn.Conv1d(i, o, k, **kw))


for mode in ('reflect', 'replicate', 'circular'):
    layer('conv2d_%s' % mode, 'Conv2d', [3, 4, 3], conv2d(3, 4, 3, padding=1, padding_mode=mode),
          randn(2, 3, 6, 5), opts={'padding': 1, 'padding_mode': mode})
    layer('conv2d_%s_stride_dil_groups' % mode, 'Conv2d', [4, 6, [3, 2]],
          conv2d(4, 6, (3, 2), stride=(2, 1), padding=(2, 1), dilation=(1, 2), groups=2, padding_mode=mode),
          randn(2, 4, 7, 6),
          opts={'stride': [2, 1], 'padding': [2, 1], 'dilation': [1, 2], 'groups': 2, 'padding_mode': mode})
    layer('conv2d_%s_same_even' % mode, 'Conv2d', [2, 3, [4, 3]],
          conv2d(2, 3, (4, 3), padding='same', dilation=(1, 2), padding_mode=mode), randn(2, 2, 6, 7),
          opts={'padding': 'same', 'dilation': [1, 2], 'padding_mode': mode})
    layer('conv1d_%s' % mode, 'Conv1d', [4, 6, 3],
          conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, padding_mode=mode), randn(2, 4, 9),
          opts={'stride': 2, 'padding': 2, 'dilation': 2, 'groups': 2, 'padding_mode': mode})
    layer('conv1d_%s_same_even' % mode, 'Conv1d', [2, 3, 4], conv1d(2, 3, 4, padding='same', padding_mode=mode),
          randn(2, 2, 7), opts={'padding': 'same', 'padding_mode': mode})
layer('conv2d_reflect_unbatched', 'Conv2d', [2, 3, 3], conv2d(2, 3, 3, padding=2, padding_mode='reflect'),
      randn(2, 5, 5), opts={'padding': 2, 'padding_mode': 'reflect'})
layer('conv2d_circular_transposed', 'Conv2d', [3, 2, 3], conv2d(3, 2, 3, padding=1, padding_mode='circular'),
      randn(2, 3, 5, 6), opts={'padding': 1, 'padding_mode': 'circular'}, transposed=True)
layer('conv1d_replicate_unbatched_nobias', 'Conv1d', [2, 2, 3],
      conv1d(2, 2, 3, padding=1, bias=False, padding_mode='replicate'), randn(2, 6),
      opts={'padding': 1, 'bias': False, 'padding_mode': 'replicate'})
layer('conv2d_reflect_f64', 'Conv2d', [2, 3, 3], conv2d(2, 3, 3, padding=1, stride=2, padding_mode='reflect'),
      randn(2, 2, 5, 6), opts={'padding': 1, 'stride': 2, 'padding_mode': 'reflect'}, dtype=F64)
layer('conv1d_circular_f64', 'Conv1d', [2, 2, 3], conv1d(2, 2, 3, padding=2, padding_mode='circular'),
      randn(2, 2, 5), opts={'padding': 2, 'padding_mode': 'circular'}, dtype=F64)


# ---- ConvTranspose2d / ConvTranspose1d -------------------------------------------------------------
def convt2d(i, o, k, **kw):
    return set_state(nn.ConvTranspose2d(i, o, k, **kw))


def convt1d(i, o, k, **kw):
    return set_state(nn.ConvTranspose1d(i, o, k, **kw))


for dt in (F32, F64):
    sfx = '' if dt == F32 else '_f64'
    layer('convt2d_basic' + sfx, 'ConvTranspose2d', [3, 4, 3], convt2d(3, 4, 3), randn(2, 3, 4, 5), dtype=dt)
    layer('convt2d_stride2_pad1_outpad1' + sfx, 'ConvTranspose2d', [3, 2, 3],
          convt2d(3, 2, 3, stride=2, padding=1, output_padding=1), randn(2, 3, 4, 4),
          opts={'stride': 2, 'padding': 1, 'output_padding': 1}, dtype=dt)
    layer('convt2d_all' + sfx, 'ConvTranspose2d', [4, 6, [3, 2]],
          convt2d(4, 6, (3, 2), stride=(2, 3), padding=(1, 2), output_padding=(1, 0), dilation=(2, 1), groups=2),
          randn(2, 4, 5, 4),
          opts={'stride': [2, 3], 'padding': [1, 2], 'output_padding': [1, 0], 'dilation': [2, 1], 'groups': 2},
          dtype=dt)
    layer('convt1d_all' + sfx, 'ConvTranspose1d', [4, 6, 3],
          convt1d(4, 6, 3, stride=3, padding=2, output_padding=1, dilation=2, groups=2), randn(2, 4, 7),
          opts={'stride': 3, 'padding': 2, 'output_padding': 1, 'dilation': 2, 'groups': 2}, dtype=dt)
layer('convt2d_depthwise_nobias', 'ConvTranspose2d', [3, 3, 3],
      convt2d(3, 3, 3, stride=2, groups=3, bias=False), randn(2, 3, 3, 4),
      opts={'stride': 2, 'groups': 3, 'bias': False})
layer('convt2d_outpad_past_stride', 'ConvTranspose2d', [2, 3, 3],
      convt2d(2, 3, 3, stride=(1, 2), dilation=(3, 3), output_padding=(2, 2)), randn(1, 2, 4, 3),
      opts={'stride': [1, 2], 'dilation': 3, 'output_padding': [2, 2]})
layer('convt2d_output_size', 'ConvTranspose2d', [2, 3, 3], convt2d(2, 3, 3, stride=3, padding=1),
      randn(2, 2, 3, 4), opts={'stride': 3, 'padding': 1}, output_size=[8, 11])
layer('convt2d_output_size_nc', 'ConvTranspose2d', [2, 2, [2, 3]], convt2d(2, 2, (2, 3), stride=2),
      randn(1, 2, 3, 3), opts={'stride': 2}, output_size=[1, 2, 7, 8])
layer('convt2d_unbatched', 'ConvTranspose2d', [2, 3, 3], convt2d(2, 3, 3, stride=2, padding=1),
      randn(2, 4, 3), opts={'stride': 2, 'padding': 1})
layer('convt2d_transposed_input', 'ConvTranspose2d', [3, 2, 3], convt2d(3, 2, 3, stride=2, padding=1),
      randn(2, 3, 5, 4), opts={'stride': 2, 'padding': 1}, transposed=True)
layer('convt2d_1x1_stride2', 'ConvTranspose2d', [4, 3, 1], convt2d(4, 3, 1, stride=2), randn(2, 4, 3, 3),
      opts={'stride': 2})
layer('convt1d_unbatched_output_size', 'ConvTranspose1d', [2, 3, 4], convt1d(2, 3, 4, stride=2, padding=1),
      randn(2, 5), opts={'stride': 2, 'padding': 1}, output_size=[11])
layer('convt1d_nobias', 'ConvTranspose1d', [3, 2, 5], convt1d(3, 2, 5, bias=False), randn(2, 3, 4),
      opts={'bias': False})


# ---- 1-D pools, AdaptiveMaxPool2d --------------------------------------------------------------------
def distinct(*shape):
    """A random permutation of well-separated values: no ties in a max pool."""
    n = 1
    for v in shape:
        n *= v
    v = (torch.randperm(n).to(F32) - n / 2) * (4.0 / n) + torch.rand(n, dtype=F32) * (0.5 / n)
    return v.reshape(shape)


layer('maxpool1d_2', 'MaxPool1d', [2], nn.MaxPool1d(2), distinct(2, 3, 7))
layer('maxpool1d_3_s2_p1_indices', 'MaxPool1d', [3], nn.MaxPool1d(3, stride=2, padding=1, return_indices=True),
      distinct(2, 2, 9), opts={'stride': 2, 'padding': 1, 'return_indices': True}, indices=True)
layer('maxpool1d_dilation_ceil', 'MaxPool1d', [2], nn.MaxPool1d(2, stride=2, dilation=2, ceil_mode=True),
      distinct(1, 3, 8), opts={'stride': 2, 'dilation': 2, 'ceil_mode': True})
layer('maxpool1d_overlap_unbatched', 'MaxPool1d', [3], nn.MaxPool1d(3, stride=1, return_indices=True),
      distinct(3, 6), opts={'stride': 1, 'return_indices': True}, indices=True)
layer('maxpool1d_transposed', 'MaxPool1d', [2], nn.MaxPool1d(2, stride=1), distinct(2, 6, 3), opts={'stride': 1},
      transposed=True)
layer('avgpool1d_3_s2_p1', 'AvgPool1d', [3], nn.AvgPool1d(3, stride=2, padding=1), randn(2, 3, 8),
      opts={'stride': 2, 'padding': 1})
layer('avgpool1d_exclude_pad_ceil', 'AvgPool1d', [3],
      nn.AvgPool1d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), randn(2, 2, 6),
      opts={'stride': 2, 'padding': 1, 'ceil_mode': True, 'count_include_pad': False})
layer('avgpool1d_unbatched', 'AvgPool1d', [2], nn.AvgPool1d(2), randn(3, 7))
layer('adaptive_avg1d_3', 'AdaptiveAvgPool1d', [3], nn.AdaptiveAvgPool1d(3), randn(2, 3, 7))
layer('adaptive_avg1d_up', 'AdaptiveAvgPool1d', [5], nn.AdaptiveAvgPool1d(5), randn(3, 3))
layer('adaptive_max2d_2x3_indices', 'AdaptiveMaxPool2d', [[2, 3], True], nn.AdaptiveMaxPool2d((2, 3), True),
      distinct(2, 3, 5, 7), indices=True)
layer('adaptive_max2d_1', 'AdaptiveMaxPool2d', [1], nn.AdaptiveMaxPool2d(1), distinct(2, 3, 4, 5))
layer('adaptive_max2d_up_overlap', 'AdaptiveMaxPool2d', [[5, 4], True], nn.AdaptiveMaxPool2d((5, 4), True),
      distinct(1, 2, 3, 3), indices=True)
layer('adaptive_max2d_unbatched_transposed', 'AdaptiveMaxPool2d', [[3, 2]], nn.AdaptiveMaxPool2d((3, 2)),
      distinct(2, 5, 7), transposed=True)
layer('adaptive_max2d_f64', 'AdaptiveMaxPool2d', [[3, 3], True], nn.AdaptiveMaxPool2d(3, True),
      distinct(2, 2, 7, 8), indices=True, dtype=F64)
layer('adaptive_max1d_indices', 'AdaptiveMaxPool1d', [4, True], nn.AdaptiveMaxPool1d(4, True), distinct(2, 3, 9),
      indices=True)
layer('maxpool1d_f64', 'MaxPool1d', [3], nn.MaxPool1d(3, stride=2, padding=1), distinct(2, 2, 8), dtype=F64,
      opts={'stride': 2, 'padding': 1})
layer('avgpool1d_f64', 'AvgPool1d', [3], nn.AvgPool1d(3, stride=1, padding=1, count_include_pad=False),
      randn(2, 2, 5), dtype=F64, opts={'stride': 1, 'padding': 1, 'count_include_pad': False})


# ---- writing ------------------------------------------------------------------------------------

def lua_case(c):
    L = ['  {']
    L.append("    name = '%s', kind = '%s', dtype = '%s', transposed = %s," % (
        c['name'], c['kind'], common.dtype_name(c['dtype']), num(c['transposed'], F32)))
    if c['kind'] == 'fn':
        L.append("    op = '%s', pads = %s, mode = '%s', value = %s," % (c['op'], lua_value(c['pads']), c['mode'],
                                                                      lua_value(c['value'])))
    else:
        L.append("    module = '%s', args = %s, opts = %s," % (c['module'], lua_value(c['args']),
                                                              lua_value(c['opts'])))
        L.append('    state = %s,' % lua_named(c['state'], '    '))
        L.append('    params = %s,' % lua_value(c['params']))
        L.append('    grads = %s,' % lua_named(c['grads'], '    '))
        if c['output_size'] is not None:
            L.append('    output_size = %s,' % lua_value(c['output_size']))
        if c['indices'] is not None:
            L.append('    indices = %s,' % lua_tensor(c['indices']))
    L += common.lua_io_lines(c, shortest=True)
    L.append('  },')
    return '\n'.join(L)


def main():
    write_golden('conv_extra.lua', [
        'conv_extra.lua: PyTorch %s golden values for nnlua padding (F.pad, the' % torch.__version__,
        'padding modules, Conv1d/Conv2d padding_mode, ConvTranspose1d/2d, 1-D and',
        'adaptive max pools); generated by',
        'tests/golden/gen_conv_extra.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_conv_extra.py`). Checked by',
        'tests/spec/conv_extra_spec.lua. Each case: input, out, and for (out * w):sum()',
        'the gradient of the input (and of each parameter, PyTorch names and layout);',
        'transposed: the op saw input:transpose(-1, -2); indices: 1-based.',
    ], [lua_case(c) for c in CASES])


if __name__ == '__main__':
    main()
