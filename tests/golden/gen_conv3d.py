# gen_conv3d.py: PyTorch golden values for nnlua's 3-D layers: Conv3d (with
# stride, padding numbers, 'same' and 'valid', dilation, groups, no bias and
# the padding modes), MaxPool3d, AvgPool3d, AdaptiveAvgPool3d,
# AdaptiveMaxPool3d and nn.functional.conv3d / max_pool3d. Writes
# tests/golden/conv3d.lua (checked by tests/spec/conv3d_spec.lua); it does
# not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_conv3d.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Two kinds of case, each in float32 or float64 (then written in full):
#   layer: a module with fixed parameters (PyTorch's layout and names),
#       built in nnlua from `args` and `opts`; out = m(x), the gradients of
#       the input and of every parameter for (out * w).sum(), a fixed random
#       w of out's shape; indices (1-based) where the layer returns them.
#   fn: an nn.functional op on (input, weight, bias) or (input); out and
#       the gradients of each float input.
# With transposed = true the input reaches the op as x.transpose(-1, -2) of
# the stored `input` (a non-contiguous view); grad_input is the gradient of
# the stored tensor.
import torch
import torch.nn as nn
import torch.nn.functional as F
import common
from common import F32, F64, randn, write_golden

torch.manual_seed(20250807)
torch.set_num_threads(1)
num, lua_tensor, lua_value, lua_named = common.shortest_writers()

CASES = []


# out = f(x'), x' the input as the op sees it; the stored input's grad
run = common.run_with_grad


def layer(name, kind, args, m, x, opts=None, dtype=F32, transposed=False):
    m = m.to(dtype)
    x = x.to(dtype)
    state = [(k, v.detach().clone()) for k, v in m.named_parameters()]
    out, idx, w, gx = run(m, x, transposed)
    CASES.append({'kind': 'layer', 'name': name, 'module': kind, 'args': args, 'opts': opts or {},
                  'dtype': dtype, 'state': state, 'params': [k for k, _ in state], 'input': x,
                  'transposed': transposed, 'w': w, 'out': out.detach(), 'grad_input': gx,
                  'grads': [(k, p.grad) for k, p in m.named_parameters()],
                  'indices': None if idx is None else idx + 1})


def fn(name, op, inputs, opts, dtype=F32):
    """F.<op>(*inputs, **opts); the inputs' gradients of (out * w).sum()"""
    leaves = [None if t is None else t.to(dtype).clone().requires_grad_(True) for t in inputs]
    res = getattr(F, op)(*leaves, **opts)
    out, idx = res if isinstance(res, tuple) else (res, None)
    w = torch.randn(out.shape, dtype=out.dtype)
    (out * w).sum().backward()
    CASES.append({'kind': 'fn', 'name': name, 'op': op, 'dtype': dtype, 'opts': opts,
                  'inputs': [t.detach() if t is not None else None for t in leaves], 'w': w, 'out': out.detach(),
                  'grads': [t.grad if t is not None else None for t in leaves],
                  'indices': None if idx is None else idx + 1})


def conv3d(i, o, k, **kw):
    m = nn.Conv3d(i, o, k, **kw)
    with torch.no_grad():
        for _, p in m.named_parameters():
            p.copy_(randn(*p.shape) * 0.5)
    return m


def lists(kw):
    """the options as nnlua takes them: tuples as lists"""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}


def conv(name, i, o, k, shape, dtype=F32, transposed=False, **kw):
    layer(name, 'Conv3d', [i, o, list(k) if isinstance(k, tuple) else k], conv3d(i, o, k, **kw), randn(*shape),
          opts=lists(kw), dtype=dtype, transposed=transposed)


def pool(name, kind, args, m, shape, dtype=F32, transposed=False, **kw):
    layer(name, kind, args, m, randn(*shape), opts=lists(kw), dtype=dtype, transposed=transposed)


# ---- Conv3d ---------------------------------------------------------------------------------------
for dt in (F32, F64):
    sfx = '' if dt == F32 else '_f64'
    conv('conv3d_basic' + sfx, 3, 4, 3, (2, 3, 5, 6, 4), dtype=dt)
    conv('conv3d_stride2_pad1' + sfx, 2, 3, 3, (2, 2, 6, 5, 7), dtype=dt, stride=2, padding=1)
    conv('conv3d_all' + sfx, 4, 6, (3, 2, 2), (2, 4, 7, 5, 6), dtype=dt, stride=(2, 1, 3), padding=(1, 0, 2),
         dilation=(2, 1, 1), groups=2)
    conv('conv3d_same_even' + sfx, 2, 3, (2, 3, 4), (2, 2, 4, 5, 6), dtype=dt, padding='same', dilation=(1, 2, 1))
conv('conv3d_valid_nobias', 3, 2, (1, 2, 3), (1, 3, 3, 4, 5), padding='valid', bias=False)
conv('conv3d_unbatched', 2, 3, 2, (2, 4, 3, 5), padding=(0, 1, 1))
conv('conv3d_pointwise_groups', 4, 6, 1, (3, 4, 2, 3, 5), groups=2)
conv('conv3d_depthwise', 3, 6, 3, (2, 3, 4, 4, 4), groups=3, padding=1, stride=(1, 2, 1))
conv('conv3d_dilation_stride', 2, 2, (2, 2, 3), (2, 2, 7, 6, 9), dilation=(3, 2, 2), stride=(2, 2, 1))
conv('conv3d_transposed', 2, 3, 3, (2, 2, 5, 6, 4), transposed=True, padding=1)
for mode in ('reflect', 'replicate', 'circular'):
    conv('conv3d_%s' % mode, 2, 3, 3, (2, 2, 4, 5, 4), padding=(1, 2, 1), padding_mode=mode)
conv('conv3d_circular_same', 2, 2, (2, 3, 2), (2, 2, 3, 4, 5), padding='same', padding_mode='circular')
conv('conv3d_reflect_f64', 2, 2, 3, (1, 2, 4, 4, 5), dtype=F64, padding=1, stride=2, padding_mode='reflect')

# ---- pools ----------------------------------------------------------------------------------------
for dt in (F32, F64):
    sfx = '' if dt == F32 else '_f64'
    pool('maxpool3d_k2' + sfx, 'MaxPool3d', [2], nn.MaxPool3d(2, return_indices=True), (2, 3, 4, 6, 5), dtype=dt,
         return_indices=True)
    pool('avgpool3d_k3_s2_p1' + sfx, 'AvgPool3d', [3], nn.AvgPool3d(3, stride=2, padding=1), (2, 2, 5, 6, 7),
         dtype=dt, stride=2, padding=1)
    pool('adaptiveavg3d' + sfx, 'AdaptiveAvgPool3d', [[2, 3, 2]], nn.AdaptiveAvgPool3d((2, 3, 2)), (2, 2, 5, 7, 4),
         dtype=dt)
    pool('adaptivemax3d' + sfx, 'AdaptiveMaxPool3d', [[3, 2, 2], True], nn.AdaptiveMaxPool3d((3, 2, 2), True),
         (2, 2, 5, 7, 3), dtype=dt)
pool('maxpool3d_k3_s2_p1', 'MaxPool3d', [3], nn.MaxPool3d(3, stride=2, padding=1), (2, 2, 5, 6, 7), stride=2,
     padding=1)
pool('maxpool3d_dilation_ceil', 'MaxPool3d', [[2, 3, 2]],
     nn.MaxPool3d((2, 3, 2), stride=(1, 2, 2), dilation=(2, 1, 1), ceil_mode=True, return_indices=True),
     (2, 2, 6, 7, 6), stride=[1, 2, 2], dilation=[2, 1, 1], ceil_mode=True, return_indices=True)
pool('maxpool3d_ceil_pad', 'MaxPool3d', [3], nn.MaxPool3d(3, stride=2, padding=1, ceil_mode=True,
                                                           return_indices=True),
     (1, 2, 6, 4, 5), stride=2, padding=1, ceil_mode=True, return_indices=True)
pool('maxpool3d_unbatched', 'MaxPool3d', [2], nn.MaxPool3d(2, stride=1, return_indices=True), (2, 3, 4, 3),
     stride=1, return_indices=True)
pool('maxpool3d_transposed', 'MaxPool3d', [[2, 2, 3]], nn.MaxPool3d((2, 2, 3), stride=(2, 1, 2)),
     (2, 2, 4, 7, 5), transposed=True, stride=[2, 1, 2])
pool('avgpool3d_k2', 'AvgPool3d', [2], nn.AvgPool3d(2), (2, 3, 4, 5, 6))
pool('avgpool3d_exclude_pad', 'AvgPool3d', [3], nn.AvgPool3d(3, stride=2, padding=1, count_include_pad=False),
     (2, 2, 5, 6, 7), stride=2, padding=1, count_include_pad=False)
pool('avgpool3d_ceil_include', 'AvgPool3d', [[3, 2, 3]],
     nn.AvgPool3d((3, 2, 3), stride=2, padding=(1, 1, 0), ceil_mode=True), (2, 2, 6, 5, 6), stride=2,
     padding=[1, 1, 0], ceil_mode=True)
pool('avgpool3d_ceil_exclude', 'AvgPool3d', [[3, 2, 3]],
     nn.AvgPool3d((3, 2, 3), stride=2, padding=(1, 1, 0), ceil_mode=True, count_include_pad=False),
     (2, 2, 6, 5, 6), stride=2, padding=[1, 1, 0], ceil_mode=True, count_include_pad=False)
pool('avgpool3d_divisor', 'AvgPool3d', [2], nn.AvgPool3d(2, stride=1, padding=1, divisor_override=5),
     (1, 2, 3, 4, 3), stride=1, padding=1, divisor_override=5)
pool('avgpool3d_unbatched', 'AvgPool3d', [[2, 1, 3]], nn.AvgPool3d((2, 1, 3), stride=(1, 1, 2)), (3, 4, 3, 7),
     stride=[1, 1, 2])
pool('adaptiveavg3d_larger', 'AdaptiveAvgPool3d', [[4, 3, 5]], nn.AdaptiveAvgPool3d((4, 3, 5)), (2, 2, 3, 2, 4))
pool('adaptiveavg3d_unbatched', 'AdaptiveAvgPool3d', [2], nn.AdaptiveAvgPool3d(2), (3, 5, 4, 3))
pool('adaptivemax3d_larger', 'AdaptiveMaxPool3d', [[4, 3, 5], True], nn.AdaptiveMaxPool3d((4, 3, 5), True),
     (2, 2, 3, 2, 4))
pool('adaptivemax3d_unbatched', 'AdaptiveMaxPool3d', [[1, 2, 3]], nn.AdaptiveMaxPool3d((1, 2, 3)), (2, 3, 5, 7))

# ---- nn.functional --------------------------------------------------------------------------------
fn('f_conv3d', 'conv3d', [randn(2, 4, 4, 5, 3), randn(6, 2, 2, 3, 2) * 0.5, randn(6)],
   {'stride': [1, 2, 1], 'padding': [1, 1, 0], 'dilation': [1, 1, 2], 'groups': 2})
fn('f_conv3d_same_f64', 'conv3d', [randn(1, 2, 4, 4, 5), randn(3, 2, 3, 2, 2), None], {'padding': 'same'},
   dtype=F64)
fn('f_max_pool3d', 'max_pool3d', [randn(2, 2, 5, 4, 6)], {'kernel_size': [3, 2, 2], 'stride': 2, 'padding': 1,
                                                          'return_indices': True})
fn('f_avg_pool3d', 'avg_pool3d', [randn(2, 2, 5, 4, 6)], {'kernel_size': 3, 'stride': [2, 1, 2], 'padding': 1,
                                                          'ceil_mode': True, 'count_include_pad': False})


# ---- writing ------------------------------------------------------------------------------------

def lua_case(c):
    L = ['  {']
    L.append("    name = '%s', kind = '%s', dtype = '%s'," % (
        c['name'], c['kind'], 'float32' if c['dtype'] == F32 else 'float64'))
    if c['kind'] == 'fn':
        L.append("    op = '%s', opts = %s," % (c['op'], lua_value(c['opts'])))
        L.append('    inputs = { %s },' % ', '.join(lua_tensor(t) for t in c['inputs']))
        L.append('    grads = { %s },' % ', '.join(lua_tensor(t) for t in c['grads']))
    else:
        L.append("    module = '%s', args = %s, opts = %s, transposed = %s," % (
            c['module'], lua_value(c['args']), lua_value(c['opts']), num(c['transposed'])))
        L.append('    state = %s,' % lua_named(c['state'], '    '))
        L.append('    params = %s,' % lua_value(c['params']))
        L.append('    grads = %s,' % lua_named(c['grads'], '    '))
        L.append('    input = %s,' % lua_tensor(c['input']))
        L.append('    grad_input = %s,' % lua_tensor(c['grad_input']))
    if c['indices'] is not None:
        L.append('    indices = %s,' % lua_tensor(c['indices']))
    L.append('    w = %s,' % lua_tensor(c['w']))
    L.append('    out = %s,' % lua_tensor(c['out']))
    L.append('  },')
    return '\n'.join(L)


def main():
    write_golden('conv3d.lua', [
        'conv3d.lua: PyTorch %s golden values for nnlua\'s 3-D layers (Conv3d, MaxPool3d,' % torch.__version__,
        'AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d, F.conv3d, F.max_pool3d, F.avg_pool3d);',
        'generated by tests/golden/gen_conv3d.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_conv3d.py`). Checked by tests/spec/conv3d_spec.lua.',
        'Each case: out, and for (out * w):sum() the gradients of the input (and of each',
        'parameter, PyTorch names and layout, or of each input of a functional case);',
        'transposed: the op saw input:transpose(-1, -2); indices: 1-based.',
    ], [lua_case(c) for c in CASES])


if __name__ == '__main__':
    main()
