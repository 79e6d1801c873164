# gen_conv.py: PyTorch golden values for nnlua's convolution, pooling and
# vision layers. Writes tests/golden/conv.lua (checked by
# tests/spec/conv_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_conv.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case: a module with fixed float32 parameters and buffers (PyTorch's
# layout and state-dict names), a fixed input x, out = m(x), then the loss
# (out * w).sum() with a fixed random w of out's shape, and the gradients of
# the input and of every parameter. BatchNorm2d in train mode also records
# its running statistics after the step. `args` and `opts` are the nnlua
# constructor's arguments (sizes as n or {h, w}); MaxPool2d's indices are
# written 1-based, as nnlua returns them.
import os
import torch
from common import F32, randn, uniform, num, lua_tensor, lua_value, lua_named
import torch.nn as nn

torch.manual_seed(20240815)
torch.set_num_threads(1)

LAYERS = []


def distinct(*shape):
    """A random permutation of well-separated values: no ties in a max pool."""
    n = 1
    for s in shape:
        n *= s
    v = (torch.randperm(n).to(F32) - n / 2) * (4.0 / n) + uniform((n,), 0, 0.5 / n)
    return v.reshape(shape)


def set_state(m, scale=0.5):
    with torch.no_grad():
        for _, p in m.named_parameters():
            p.copy_(randn(*p.shape) * scale)
        for name, b in m.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(randn(*b.shape) * 0.3)
            elif name.endswith('running_var'):
                b.copy_(uniform(b.shape, 0.5, 2.0))
    return m


def layer(name, kind, args, m, x, mode='train', opts=None, indices=False):
    m.train(mode == 'train')
    state = {k: v.detach().clone() for k, v in m.state_dict().items()}
    names = [k for k, _ in m.named_parameters()]
    buffers = [k for k, _ in m.named_buffers()]
    xin = x.clone().requires_grad_(True)
    res = m(xin)
    out, idx = (res if indices else (res, None))
    w = randn(*out.shape)
    (out * w).sum().backward()
    c = {
        'name': name, 'kind': kind, 'args': args, 'opts': opts or {}, 'mode': mode,
        'state': [(k, state[k]) for k in names + buffers],
        'params': names, 'input': x.detach(), 'w': w, 'out': out.detach(),
        'grad_input': xin.grad,
        'grads': [(k, p.grad) for k, p in m.named_parameters()],
    }
    if idx is not None:
        c['indices'] = idx + 1
    if mode == 'train' and buffers:
        c['after'] = [(k, v.detach().clone()) for k, v in m.named_buffers()]
    LAYERS.append(c)


# ---- Conv2d ------------------------------------------------------------------------------
def conv2d(i, o, k, **kw):
    return set_state(nn.Conv2d(i, o, k, **kw))


layer('conv2d_basic', 'Conv2d', [3, 4, 3], conv2d(3, 4, 3), randn(2, 3, 7, 6))
layer('conv2d_stride2_pad1', 'Conv2d', [3, 4, 3], conv2d(3, 4, 3, stride=2, padding=1), randn(2, 3, 7, 6),
      opts={'stride': 2, 'padding': 1})
layer('conv2d_dilation2', 'Conv2d', [2, 3, 3], conv2d(2, 3, 3, dilation=2, padding=2), randn(2, 2, 8, 7),
      opts={'dilation': 2, 'padding': 2})
layer('conv2d_groups2', 'Conv2d', [4, 6, 3], conv2d(4, 6, 3, groups=2, padding=1), randn(2, 4, 5, 5),
      opts={'groups': 2, 'padding': 1})
layer('conv2d_depthwise_stride2', 'Conv2d', [3, 6, 3], conv2d(3, 6, 3, groups=3, stride=2, padding=1),
      randn(2, 3, 7, 7), opts={'groups': 3, 'stride': 2, 'padding': 1})
layer('conv2d_rect_kernel', 'Conv2d', [3, 2, [2, 3]], conv2d(3, 2, (2, 3), stride=(2, 1), padding=(1, 0)),
      randn(2, 3, 6, 7), opts={'stride': [2, 1], 'padding': [1, 0]})
layer('conv2d_all_nobias', 'Conv2d', [4, 4, [3, 2]],
      conv2d(4, 4, (3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2, bias=False),
      randn(2, 4, 6, 7), opts={'stride': [1, 2], 'padding': [2, 1], 'dilation': [2, 1], 'groups': 2, 'bias': False})
layer('conv2d_stride3_dil2_pad3', 'Conv2d', [2, 3, 3],
      conv2d(2, 3, 3, stride=3, dilation=2, padding=3), randn(3, 2, 9, 10),
      opts={'stride': 3, 'dilation': 2, 'padding': 3})
layer('conv2d_1x1', 'Conv2d', [5, 3, 1], conv2d(5, 3, 1), randn(2, 5, 4, 3))
layer('conv2d_1x1_groups', 'Conv2d', [4, 6, 1], conv2d(4, 6, 1, groups=2), randn(2, 4, 3, 3), opts={'groups': 2})
layer('conv2d_1x1_stride2', 'Conv2d', [4, 3, 1], conv2d(4, 3, 1, stride=2), randn(2, 4, 5, 5), opts={'stride': 2})
layer('conv2d_same', 'Conv2d', [2, 3, 3], conv2d(2, 3, 3, padding='same', dilation=2), randn(2, 2, 6, 5),
      opts={'padding': 'same', 'dilation': 2})
layer('conv2d_valid', 'Conv2d', [2, 3, 3], conv2d(2, 3, 3, padding='valid'), randn(1, 2, 5, 5),
      opts={'padding': 'valid'})
layer('conv2d_unbatched', 'Conv2d', [3, 2, 3], conv2d(3, 2, 3, padding=1), randn(3, 5, 4), opts={'padding': 1})
layer('conv2d_pad1_batch3', 'Conv2d', [4, 6, 3], conv2d(4, 6, 3, padding=1), randn(3, 4, 6, 6), opts={'padding': 1})

# ---- Conv1d ------------------------------------------------------------------------------
def conv1d(i, o, k, **kw):
    return set_state(nn.Conv1d(i, o, k, **kw))


layer('conv1d_basic', 'Conv1d', [3, 4, 3], conv1d(3, 4, 3), randn(2, 3, 10))
layer('conv1d_all', 'Conv1d', [4, 6, 3], conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
      randn(2, 4, 11), opts={'stride': 2, 'padding': 2, 'dilation': 2, 'groups': 2})
layer('conv1d_nobias_k5', 'Conv1d', [3, 2, 5], conv1d(3, 2, 5, padding=2, bias=False), randn(2, 3, 8),
      opts={'padding': 2, 'bias': False})
layer('conv1d_same', 'Conv1d', [2, 2, 3], conv1d(2, 2, 3, padding='same'), randn(2, 2, 7), opts={'padding': 'same'})
layer('conv1d_unbatched', 'Conv1d', [2, 3, 2], conv1d(2, 3, 2, stride=2), randn(2, 9), opts={'stride': 2})

# ---- MaxPool2d ---------------------------------------------------------------------------
layer('maxpool_2', 'MaxPool2d', [2], nn.MaxPool2d(2), distinct(2, 3, 6, 6))
layer('maxpool_2_odd', 'MaxPool2d', [2], nn.MaxPool2d(2), distinct(1, 2, 7, 7))
layer('maxpool_3_s2_p1', 'MaxPool2d', [3], nn.MaxPool2d(3, stride=2, padding=1), distinct(2, 2, 7, 7),
      opts={'stride': 2, 'padding': 1})
layer('maxpool_rect', 'MaxPool2d', [[2, 3]], nn.MaxPool2d((2, 3), stride=(1, 2)), distinct(1, 2, 5, 7),
      opts={'stride': [1, 2]})
layer('maxpool_dilation2', 'MaxPool2d', [2], nn.MaxPool2d(2, stride=1, dilation=2), distinct(1, 2, 6, 6),
      opts={'stride': 1, 'dilation': 2})
layer('maxpool_ceil', 'MaxPool2d', [3], nn.MaxPool2d(3, stride=2, ceil_mode=True), distinct(1, 2, 6, 6),
      opts={'stride': 2, 'ceil_mode': True})
layer('maxpool_overlap_indices', 'MaxPool2d', [3], nn.MaxPool2d(3, stride=1, padding=1, return_indices=True),
      distinct(1, 2, 4, 5), opts={'stride': 1, 'padding': 1, 'return_indices': True}, indices=True)
layer('maxpool_unbatched', 'MaxPool2d', [2], nn.MaxPool2d(2), distinct(3, 4, 4))

# ---- AvgPool2d ---------------------------------------------------------------------------
layer('avgpool_2', 'AvgPool2d', [2], nn.AvgPool2d(2), randn(2, 3, 6, 6))
layer('avgpool_3_s2_p1', 'AvgPool2d', [3], nn.AvgPool2d(3, stride=2, padding=1), randn(2, 2, 7, 7),
      opts={'stride': 2, 'padding': 1})
layer('avgpool_3_s2_p1_exclude_pad', 'AvgPool2d', [3],
      nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), randn(2, 2, 7, 7),
      opts={'stride': 2, 'padding': 1, 'count_include_pad': False})
layer('avgpool_ceil', 'AvgPool2d', [3], nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), randn(1, 2, 6, 6),
      opts={'stride': 2, 'padding': 1, 'ceil_mode': True})
layer('avgpool_ceil_exclude_pad', 'AvgPool2d', [3],
      nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), randn(1, 2, 6, 6),
      opts={'stride': 2, 'padding': 1, 'ceil_mode': True, 'count_include_pad': False})
layer('avgpool_divisor', 'AvgPool2d', [2], nn.AvgPool2d(2, divisor_override=3), randn(1, 2, 4, 4),
      opts={'divisor_override': 3})
layer('avgpool_rect', 'AvgPool2d', [[2, 3]], nn.AvgPool2d((2, 3), stride=(2, 1), padding=(1, 1)),
      randn(2, 2, 5, 6), opts={'stride': [2, 1], 'padding': [1, 1]})

# ---- AdaptiveAvgPool2d -------------------------------------------------------------------
layer('adaptive_3x3', 'AdaptiveAvgPool2d', [3], nn.AdaptiveAvgPool2d(3), randn(2, 2, 7, 5))
layer('adaptive_1', 'AdaptiveAvgPool2d', [1], nn.AdaptiveAvgPool2d(1), randn(2, 3, 5, 6))
layer('adaptive_2x4', 'AdaptiveAvgPool2d', [[2, 4]], nn.AdaptiveAvgPool2d((2, 4)), randn(1, 2, 5, 7))
layer('adaptive_up_4x5', 'AdaptiveAvgPool2d', [[4, 5]], nn.AdaptiveAvgPool2d((4, 5)), randn(1, 2, 3, 3))

# ---- BatchNorm2d -------------------------------------------------------------------------
def bn2d(c, **kw):
    m = set_state(nn.BatchNorm2d(c, **kw))
    if m.affine:
        with torch.no_grad():
            m.weight.copy_(uniform((c,), 0.5, 1.5))
    return m


layer('batchnorm2d_train', 'BatchNorm2d', [3], bn2d(3), randn(4, 3, 3, 5) * 2 + 0.5)
layer('batchnorm2d_train_momentum', 'BatchNorm2d', [2], bn2d(2, momentum=0.3), randn(2, 2, 4, 4) * 1.5 - 0.3,
      opts={'momentum': 0.3})
layer('batchnorm2d_train_noaffine', 'BatchNorm2d', [3], bn2d(3, affine=False), randn(3, 3, 2, 3),
      opts={'affine': False})
layer('batchnorm2d_eval', 'BatchNorm2d', [3], bn2d(3), randn(4, 3, 3, 5) * 2 + 0.5, mode='eval')
layer('batchnorm2d_eval_eps', 'BatchNorm2d', [2], bn2d(2, eps=1e-3), randn(2, 2, 3, 3), mode='eval',
      opts={'eps': 1e-3})

# ---- Dropout2d, Upsample -------------------------------------------------------------------
layer('dropout2d_eval', 'Dropout2d', [0.5], nn.Dropout2d(0.5), randn(2, 3, 4, 4), mode='eval')
layer('dropout2d_p0_train', 'Dropout2d', [0.0], nn.Dropout2d(0.0), randn(2, 3, 4, 4))
layer('upsample_2', 'Upsample', [{'scale_factor': 2}], nn.Upsample(scale_factor=2), randn(2, 2, 3, 4))
layer('upsample_2x3', 'Upsample', [{'scale_factor': [2, 3]}], nn.Upsample(scale_factor=(2, 3)), randn(1, 2, 3, 2))
layer('upsample_size', 'Upsample', [{'size': [5, 7]}], nn.Upsample(size=(5, 7)), randn(1, 2, 3, 4))


# ---- a small CNN (loaded through load_state_dict with PyTorch's names) ----------------------
def cnn():
    m = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
        nn.Flatten(), nn.Linear(24, 3))
    set_state(m)
    with torch.no_grad():
        m[1].weight.add_(1.0)
    return m


layer('cnn_train', 'CNN', [], cnn(), randn(3, 2, 8, 8))
layer('cnn_eval', 'CNN', [], cnn(), randn(3, 2, 8, 8), mode='eval')


# ---- writing ------------------------------------------------------------------------------

def lua_layer(c):
    L = ['  {']
    L.append("    name = '%s', kind = '%s', mode = '%s'," % (c['name'], c['kind'], c['mode']))
    L.append('    args = %s, opts = %s,' % (lua_value(c['args']), lua_value(c['opts'])))
    L.append('    state = %s,' % lua_named(c['state'], '    '))
    L.append('    params = %s,' % lua_value(c['params']))
    L.append('    input = %s,' % lua_tensor(c['input']))
    L.append('    w = %s,' % lua_tensor(c['w']))
    L.append('    out = %s,' % lua_tensor(c['out']))
    L.append('    grad_input = %s,' % lua_tensor(c['grad_input']))
    L.append('    grads = %s,' % lua_named(c['grads'], '    '))
    if 'indices' in c:
        L.append('    indices = %s,' % lua_tensor(c['indices']))
    if 'after' in c:
        L.append('    after = %s,' % lua_named(c['after'], '    '))
    L.append('  },')
    return '\n'.join(L)


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'conv.lua')
    with open(path, 'w') as f:
        f.write('-- conv.lua: PyTorch %s golden values for nnlua convolution, pooling and vision\n' % torch.__version__)
        f.write('-- layers, float32; generated by tests/golden/gen_conv.py (do not edit by hand;\n')
        f.write('-- regenerate with `/usr/bin/python3 tests/golden/gen_conv.py`). Checked by\n')
        f.write('-- tests/spec/conv_spec.lua. Each layer: state (parameters then buffers, PyTorch\n')
        f.write('-- names and layout, before the step), input, out = m(input), and for\n')
        f.write('-- (out * w):sum() the grads of the input and of each parameter; after: buffers\n')
        f.write('-- after a train step; indices: MaxPool2d return_indices, 1-based.\n')
        f.write('return {\n')
        f.write('layers = {\n')
        for c in LAYERS:
            f.write(lua_layer(c) + '\n')
        f.write('},\n')
        f.write('}\n')
    print('%d layer cases -> %s (%d bytes)' % (len(LAYERS), path, os.path.getsize(path)))


if __name__ == '__main__':
    main()
