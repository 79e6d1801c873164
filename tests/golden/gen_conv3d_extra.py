# gen_conv3d_extra.py: PyTorch golden values for nnlua's ConvTranspose3d and
# F.conv_transpose3d (stride, padding, output_padding, groups, dilation, no
# bias, output_size, unbatched input, a transposed view) and for the
# adaptive pools with None entries in their output size (nnlua's false:
# that dim keeps the input's size), 2-D and 3-D, modules and F forms.
# Writes tests/golden/conv3d_extra.lua (checked by
# tests/spec/conv3d_extra_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_conv3d_extra.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Cases, each in float32 or float64 (then written in full):
#   layer: a module with fixed parameters (PyTorch's layout and names),
#       built in nnlua from `args` and `opts`; out = m(x) (m(x,
#       output_size) where given), the gradients of the input and of every
#       parameter for (out * w).sum(), a fixed random w of out's shape;
#       indices (1-based) where the layer returns them.
#   fn: an nn.functional op on `inputs` with `opts`; out and the gradients
#       of each float input.
#   hvp: f of `inputs` (float64), its gradients g (taken with
#       create_graph) and hv, the gradients of sum(g_i * v_i).
# With transposed = true the input reaches the op as x.transpose(-1, -2) of
# the stored `input`; grad_input is the gradient of the stored tensor.
# None in an output size is written false, as nnlua takes it.
import torch
import torch.nn as nn
import torch.nn.functional as F
import common
from common import F32, F64, randn, write_golden

torch.manual_seed(20261129)
torch.set_num_threads(1)
num, lua_tensor, lua_value, lua_named = common.shortest_writers()

CASES = []


def nones(v):
    """an option as nnlua takes it: tuples as lists, None as False"""
    if isinstance(v, (list, tuple)):
        return [False if x is None else x for x in v]
    return v


def layer(name, kind, args, m, x, opts=None, dtype=F32, transposed=False, output_size=None):
    m = m.to(dtype)
    x = x.to(dtype)
    with torch.no_grad():
        for _, p in m.named_parameters():
            p.copy_(randn(*p.shape).to(dtype) * 0.5)
    state = [(k, v.detach().clone()) for k, v in m.named_parameters()]
    f = m if output_size is None else (lambda t: m(t, output_size=output_size))
    out, idx, w, gx = common.run_with_grad(f, x, transposed)
    CASES.append({'kind': 'layer', 'name': name, 'module': kind, 'args': [nones(a) for a in args],
                  'opts': {k: nones(v) for k, v in (opts or {}).items()}, 'dtype': dtype, 'state': state,
                  'params': [k for k, _ in state], 'input': x, 'transposed': transposed, 'w': w,
                  'output_size': output_size, 'out': out.detach(), 'grad_input': gx,
                  'grads': [(k, p.grad) for k, p in m.named_parameters()],
                  'indices': None if idx is None else idx + 1})


def fn(name, op, inputs, opts, dtype=F32, positional=None):
    """F.<op>(*inputs, **opts) (or *positional after the inputs); the
    inputs' gradients of (out * w).sum()"""
    leaves = [None if t is None else t.to(dtype).clone().requires_grad_(True) for t in inputs]
    res = getattr(F, op)(*leaves, *(positional or []), **opts)
    out, idx = res if isinstance(res, tuple) else (res, None)
    w = torch.randn(out.shape, dtype=out.dtype)
    (out * w).sum().backward()
    CASES.append({'kind': 'fn', 'name': name, 'op': op, 'dtype': dtype,
                  'opts': {k: nones(v) for k, v in opts.items()}, 'positional': positional,
                  'inputs': [t.detach() if t is not None else None for t in leaves], 'w': w, 'out': out.detach(),
                  'grads': [t.grad if t is not None else None for t in leaves],
                  'indices': None if idx is None else idx + 1})


def tconv(name, i, o, k, shape, dtype=F32, transposed=False, output_size=None, **kw):
    layer(name, 'ConvTranspose3d', [i, o, list(k) if isinstance(k, tuple) else k], nn.ConvTranspose3d(i, o, k, **kw),
          randn(*shape), opts={k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}, dtype=dtype,
          transposed=transposed, output_size=output_size)


# ---- ConvTranspose3d --------------------------------------------------------------------------
for dt in (F32, F64):
    sfx = '' if dt == F32 else '_f64'
    tconv('tconv3d_basic' + sfx, 3, 4, 3, (2, 3, 3, 4, 2), dtype=dt)
    tconv('tconv3d_stride2_pad1_opad1' + sfx, 2, 3, 3, (2, 2, 3, 2, 4), dtype=dt, stride=2, padding=1,
          output_padding=1)
    tconv('tconv3d_all' + sfx, 4, 6, (3, 2, 2), (2, 4, 3, 4, 3), dtype=dt, stride=(2, 1, 3), padding=(1, 0, 2),
          output_padding=(1, 0, 2), dilation=(2, 1, 1), groups=2)
tconv('tconv3d_nobias', 3, 2, (1, 2, 3), (1, 3, 3, 4, 2), bias=False)
tconv('tconv3d_groups3', 3, 6, 2, (2, 3, 2, 3, 3), groups=3, stride=(1, 2, 1))
tconv('tconv3d_dilation', 2, 2, (2, 2, 3), (2, 2, 3, 3, 4), dilation=(3, 2, 2), stride=(2, 2, 1), padding=1)
# output_padding past the stride, which a larger dilation allows
tconv('tconv3d_opad_past_stride', 2, 3, 2, (1, 2, 3, 2, 3), stride=(1, 2, 1), dilation=(3, 3, 2),
      output_padding=(2, 1, 1))
tconv('tconv3d_pointwise', 4, 2, 1, (2, 4, 2, 3, 2))
tconv('tconv3d_unbatched', 2, 3, 2, (2, 3, 2, 4), padding=(0, 1, 1), stride=2)
tconv('tconv3d_transposed', 2, 3, 3, (2, 2, 3, 4, 3), transposed=True, padding=1, stride=(1, 2, 2))
tconv('tconv3d_output_size', 2, 2, 3, (2, 2, 3, 2, 3), stride=(2, 3, 2), padding=1, output_size=[6, 5, 6])
tconv('tconv3d_output_size_nc', 2, 4, 3, (1, 2, 2, 3, 2), stride=2, groups=2, output_size=[1, 4, 6, 8, 5])
tconv('tconv3d_output_size_unbatched_f64', 3, 2, 2, (3, 2, 3, 2), dtype=F64, stride=3, dilation=2,
      output_size=[7, 11, 6])

# ---- nn.functional.conv_transpose3d ---------------------------------------------------------
fn('f_tconv3d', 'conv_transpose3d', [randn(2, 4, 3, 2, 3), randn(4, 3, 2, 3, 2) * 0.5, randn(6)],
   {'stride': [2, 1, 2], 'padding': [1, 1, 0], 'output_padding': [1, 0, 1], 'dilation': [1, 2, 1], 'groups': 2})
fn('f_tconv3d_nobias_f64', 'conv_transpose3d', [randn(1, 2, 3, 3, 2), randn(2, 3, 2, 2, 3), None], {}, dtype=F64)
fn('f_tconv3d_unbatched', 'conv_transpose3d', [randn(3, 2, 3, 2), randn(3, 2, 2, 2, 2), randn(2)],
   {'stride': 2, 'output_padding': 1})
# PyTorch's positional order: stride, padding, output_padding, groups, dilation
fn('f_tconv3d_positional', 'conv_transpose3d', [randn(2, 2, 2, 3, 2), randn(2, 2, 3, 2, 2), randn(4)], {},
   positional=[2, 1, 1, 2, 2])

# ---- adaptive pools with None -----------------------------------------------------------------
for dt in (F32, F64):
    sfx = '' if dt == F32 else '_f64'
    layer('adaptiveavg2d_none_h' + sfx, 'AdaptiveAvgPool2d', [(None, 3)], nn.AdaptiveAvgPool2d((None, 3)),
          randn(2, 3, 5, 7), dtype=dt)
    layer('adaptivemax3d_none_d' + sfx, 'AdaptiveMaxPool3d', [(None, 2, 3), True],
          nn.AdaptiveMaxPool3d((None, 2, 3), True), randn(2, 2, 3, 5, 7), dtype=dt)
layer('adaptiveavg2d_none_w', 'AdaptiveAvgPool2d', [(2, None)], nn.AdaptiveAvgPool2d((2, None)), randn(2, 2, 5, 4))
layer('adaptiveavg2d_none_both', 'AdaptiveAvgPool2d', [(None, None)], nn.AdaptiveAvgPool2d((None, None)),
      randn(1, 2, 3, 4))
layer('adaptiveavg2d_none_unbatched', 'AdaptiveAvgPool2d', [(None, 2)], nn.AdaptiveAvgPool2d((None, 2)),
      randn(3, 4, 5))
layer('adaptivemax2d_none_h', 'AdaptiveMaxPool2d', [(None, 2), True], nn.AdaptiveMaxPool2d((None, 2), True),
      randn(2, 2, 4, 7))
layer('adaptivemax2d_none_w_unbatched', 'AdaptiveMaxPool2d', [(3, None)], nn.AdaptiveMaxPool2d((3, None)),
      randn(2, 7, 3))
layer('adaptivemax2d_none_transposed', 'AdaptiveMaxPool2d', [(None, 3)], nn.AdaptiveMaxPool2d((None, 3)),
      randn(2, 2, 6, 4), transposed=True)
layer('adaptiveavg3d_none_hw', 'AdaptiveAvgPool3d', [(2, None, None)], nn.AdaptiveAvgPool3d((2, None, None)),
      randn(2, 2, 5, 3, 4))
layer('adaptiveavg3d_none_d_unbatched', 'AdaptiveAvgPool3d', [(None, 3, 2)], nn.AdaptiveAvgPool3d((None, 3, 2)),
      randn(2, 3, 5, 4))
layer('adaptivemax3d_none_w', 'AdaptiveMaxPool3d', [(2, 3, None)], nn.AdaptiveMaxPool3d((2, 3, None)),
      randn(1, 2, 4, 5, 3))
fn('f_adaptive_avg_pool2d_none', 'adaptive_avg_pool2d', [randn(2, 2, 6, 5)], {'output_size': (None, 2)})
fn('f_adaptive_max_pool2d_none', 'adaptive_max_pool2d', [randn(2, 2, 6, 5)],
   {'output_size': (4, None), 'return_indices': True})
fn('f_adaptive_avg_pool3d_none', 'adaptive_avg_pool3d', [randn(2, 2, 3, 6, 5)], {'output_size': (None, 2, 3)})
fn('f_adaptive_max_pool3d_none', 'adaptive_max_pool3d', [randn(2, 3, 6, 5)],
   {'output_size': (2, None, 2), 'return_indices': True})

# ---- create_graph: first gradients and Hessian-vector products (float64) --------------------------
def tconv_tanh(x, w, b):
    return F.conv_transpose3d(x, w, b, stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 0),
                              dilation=(1, 2, 1)).tanh().pow(2).sum()


def tconv_groups(x, w):
    o = {'stride': 2, 'groups': 2, 'padding': (0, 1, 0)}
    return (F.conv_transpose3d(x, w, None, **o).sin() * F.conv_transpose3d(x * x, w, None, **o)).sum()


def hvp(name, f, inputs):
    """f(*inputs), its gradients and the product of its Hessian with a
    random v (one per input), all float64"""
    xs = [t.to(F64).clone().requires_grad_(True) for t in inputs]
    vs = [torch.randn(t.shape, dtype=F64) for t in inputs]
    y = f(*xs)
    gs = torch.autograd.grad(y, xs, create_graph=True)
    hv = torch.autograd.grad(sum((g * v).sum() for g, v in zip(gs, vs)), xs)
    CASES.append({'kind': 'hvp', 'name': name, 'dtype': F64, 'inputs': [x.detach() for x in xs], 'v': vs,
                  'f': y.item(), 'g': [g.detach() for g in gs], 'hv': list(hv), 'indices': None})


hvp('tconv_tanh', tconv_tanh, [randn(1, 2, 3, 2, 3), randn(2, 3, 2, 3, 2) * 0.5, randn(3)])
hvp('tconv_groups', tconv_groups, [randn(2, 4, 2, 2, 2), randn(4, 1, 2, 2, 2) * 0.5])


# ---- writing ------------------------------------------------------------------------------------

def lua_case(c):
    L = ['  {']
    L.append("    name = '%s', kind = '%s', dtype = '%s'," % (c['name'], c['kind'], common.dtype_name(c['dtype'])))
    if c['kind'] == 'hvp':
        L.append('    f = %s,' % num(c['f'], F64))
        for k in ('inputs', 'v', 'g', 'hv'):
            L.append('    %s = { %s },' % (k, ', '.join(lua_tensor(t) for t in c[k])))
        L.append('  },')
        return '\n'.join(L)
    if c['kind'] == 'fn':
        L.append("    op = '%s', opts = %s," % (c['op'], lua_value(c['opts'])))
        if c['positional']:
            L.append('    positional = %s,' % lua_value(c['positional']))
        L.append('    inputs = { %s },' % ', '.join(lua_tensor(t) for t in c['inputs']))
        L.append('    grads = { %s },' % ', '.join(lua_tensor(t) for t in c['grads']))
    else:
        L.append("    module = '%s', args = %s, opts = %s, transposed = %s," % (
            c['module'], lua_value(c['args']), lua_value(c['opts']), num(c['transposed'])))
        if c['output_size'] is not None:
            L.append('    output_size = %s,' % lua_value(c['output_size']))
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
    write_golden('conv3d_extra.lua', [
        'conv3d_extra.lua: PyTorch %s golden values for nnlua\'s ConvTranspose3d and' % torch.__version__,
        'F.conv_transpose3d, and the adaptive pools (2-D and 3-D) with None (nnlua: false) in',
        'their output size; generated by tests/golden/gen_conv3d_extra.py (do not edit by hand;',
        'regenerate with `/usr/bin/python3 tests/golden/gen_conv3d_extra.py`). Checked by',
        'tests/spec/conv3d_extra_spec.lua. Each case: out, and for (out * w):sum() the gradients',
        'of the input (and of each parameter, PyTorch names and layout, or of each input of a',
        'functional case); transposed: the op saw input:transpose(-1, -2); indices: 1-based;',
        'hvp: f, its gradients g and Hessian-vector products hv (create_graph).',
    ], [lua_case(c) for c in CASES])


if __name__ == '__main__':
    main()
