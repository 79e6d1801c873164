# gen_functional.py: PyTorch golden values for nn.functional's activations,
# F.threshold and F.one_hot (lua/nnlua/nn/functional.lua) and for
# nn.Embedding.from_pretrained with max_norm. Writes
# tests/golden/functional.lua (checked by tests/spec/functional_spec.lua);
# it does not test anything itself. Regenerate, from the repository root,
# with
#
#     /usr/bin/python3 tests/golden/gen_functional.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each activation case: the nnlua call (F.<fn>(x, args...), and the same
# arguments as a table of PyTorch's keywords, opts), an input of 3 x 8
# values (the kinks 0, +-1, +-3, +-6, 20 and random values), out = f(x) and
# the gradient of x for an upstream gradient w. dims and class labels are
# nnlua's (1-based): the torch call uses dim - 1 and labels - 1.
import torch
import torch.nn.functional as F
from common import F32, F64, I64, lua_tensor, lua_value, write_golden

torch.manual_seed(20260301)

KINKS = [0.0, 1.0, -1.0, 3.0, -3.0, 6.0, -6.0, 20.0]


def x_of(dtype):
    x = torch.randn(3, 8, dtype=F32) * 3
    x[0] = torch.tensor(KINKS)
    return x.to(dtype)


# name, nnlua fn, positional args after x, the same as a keyword table (or
# None), the torch function of x
CASES = [
    ('relu', 'relu', [], None, lambda x: F.relu(x)),
    ('relu_flag', 'relu', [False], {'inplace': False}, lambda x: F.relu(x)),
    ('relu6', 'relu6', [], None, lambda x: F.relu6(x)),
    ('sigmoid', 'sigmoid', [], None, lambda x: torch.sigmoid(x)),
    ('tanh', 'tanh', [], None, lambda x: torch.tanh(x)),
    ('silu', 'silu', [], None, lambda x: F.silu(x)),
    ('mish', 'mish', [], None, lambda x: F.mish(x)),
    ('selu', 'selu', [], None, lambda x: F.selu(x)),
    ('hardswish', 'hardswish', [], None, lambda x: F.hardswish(x)),
    ('hardsigmoid', 'hardsigmoid', [], None, lambda x: F.hardsigmoid(x)),
    ('logsigmoid', 'logsigmoid', [], None, lambda x: F.logsigmoid(x)),
    ('softsign', 'softsign', [], None, lambda x: F.softsign(x)),
    ('tanhshrink', 'tanhshrink', [], None, lambda x: F.tanhshrink(x)),
    ('elu', 'elu', [], None, lambda x: F.elu(x)),
    ('elu_alpha', 'elu', [0.5], {'alpha': 0.5}, lambda x: F.elu(x, 0.5)),
    ('celu_alpha', 'celu', [2.5], {'alpha': 2.5}, lambda x: F.celu(x, 2.5)),
    ('leaky_relu', 'leaky_relu', [], None, lambda x: F.leaky_relu(x)),
    ('leaky_relu_slope', 'leaky_relu', [0.2, False], {'negative_slope': 0.2, 'inplace': False},
     lambda x: F.leaky_relu(x, 0.2)),
    ('softplus', 'softplus', [], None, lambda x: F.softplus(x)),
    ('softplus_beta', 'softplus', [2.0, 5.0], {'beta': 2.0, 'threshold': 5.0}, lambda x: F.softplus(x, 2.0, 5.0)),
    ('softshrink', 'softshrink', [1.5], {'lambd': 1.5}, lambda x: F.softshrink(x, 1.5)),
    ('hardshrink', 'hardshrink', [2.0], {'lambd': 2.0}, lambda x: F.hardshrink(x, 2.0)),
    ('hardtanh', 'hardtanh', [], None, lambda x: F.hardtanh(x)),
    ('hardtanh_bounds', 'hardtanh', [-0.5, 2.0], {'min_val': -0.5, 'max_val': 2.0}, lambda x: F.hardtanh(x, -0.5, 2.0)),
    ('gelu', 'gelu', [], None, lambda x: F.gelu(x)),
    ('gelu_tanh', 'gelu', ['tanh'], {'approximate': 'tanh'}, lambda x: F.gelu(x, approximate='tanh')),
    ('softmax_last', 'softmax', [], None, lambda x: F.softmax(x, -1)),
    ('softmax_dim2', 'softmax', [2], {'dim': 2}, lambda x: F.softmax(x, 1)),
    ('softmax_dim1', 'softmax', [1], {'dim': 1}, lambda x: F.softmax(x, 0)),
    ('log_softmax_dim2', 'log_softmax', [2], {'dim': 2}, lambda x: F.log_softmax(x, 1)),
    ('log_softmax_dim1', 'log_softmax', [-2], {'dim': -2}, lambda x: F.log_softmax(x, 0)),
    ('softmin_dim2', 'softmin', [2], {'dim': 2}, lambda x: F.softmin(x, 1)),
    ('softmin_dim1', 'softmin', [1], {'dim': 1}, lambda x: F.softmin(x, 0)),
    ('threshold', 'threshold', [0.5, 20.0], {'threshold': 0.5, 'value': 20.0}, lambda x: F.threshold(x, 0.5, 20.0)),
    ('threshold_at_kink', 'threshold', [1.0, -7.0, False], {'threshold': 1.0, 'value': -7.0, 'inplace': False},
     lambda x: F.threshold(x, 1.0, -7.0)),
]


def grad_of(fn, x, up):
    xx = x.clone().requires_grad_(True)
    y = fn(xx)
    y.backward(up)
    return y.detach(), xx.grad


out = ['  cases = {']
for name, fn, args, opts, f in CASES:
    for dtype, dname in ((F32, 'float32'), (F64, 'float64')):
        x = x_of(dtype)
        w = torch.randn(3, 8, dtype=F32).to(dtype)
        y, g = grad_of(f, x, w)
        out.append('    { name = %r, fn = %r, dtype = %r, args = %s, opts = %s,'
                   % (name + '_' + dname, fn, dname, lua_value(args, F64, True),
                      'false' if opts is None else lua_value(opts, F64, True)))
        for key, t in (('x', x), ('w', w), ('out', y), ('grad', g)):
            out.append('      %s = %s,' % (key, lua_tensor(t, True)))
        out.append('    },')

# softmax and log_softmax of float32 input with dtype float64 (converted first)
for fn, f in (('softmax', F.softmax), ('log_softmax', F.log_softmax)):
    x = x_of(F32)
    w = torch.randn(3, 8, dtype=F64)
    y, g = grad_of(lambda t: f(t, 1, dtype=torch.float64), x, w)
    assert y.dtype == F64 and g.dtype == F32
    out.append("    { name = %r, fn = %r, dtype = 'float32', args = { 2, 'float64' }, opts = { dim = 2, dtype = "
               "'float64' }," % (fn + '_dtype', fn))
    for key, t in (('x', x), ('w', w), ('out', y), ('grad', g)):
        out.append('      %s = %s,' % (key, lua_tensor(t, True)))
    out.append('    },')
out.append('  },')

# int64 inputs: relu, relu6 and hardtanh keep int64 (bounds cut toward 0),
# as does threshold (its threshold and value cut toward 0)
out.append('  int64 = {')
xi = torch.tensor([[-9, -3, -2, -1, 0, 1, 2, 3], [4, 5, 6, 7, 8, -6, -7, 100]], dtype=I64)
for name, fn, args, opts, f in (
        ('relu', 'relu', [], None, lambda x: F.relu(x)),
        ('relu6', 'relu6', [], None, lambda x: F.relu6(x)),
        ('hardtanh', 'hardtanh', [-1.5, 2.5], {'min_val': -1.5, 'max_val': 2.5}, lambda x: F.hardtanh(x, -1.5, 2.5)),
        ('threshold', 'threshold', [0.5, 5.5], {'threshold': 0.5, 'value': 5.5}, lambda x: F.threshold(x, 0.5, 5.5)),
        ('threshold_negative', 'threshold', [-2.5, -40.7], {'threshold': -2.5, 'value': -40.7},
         lambda x: F.threshold(x, -2.5, -40.7))):
    y = f(xi)
    assert y.dtype == I64
    out.append('    { name = %r, fn = %r, args = %s, opts = %s, x = %s, out = %s },'
               % (name, fn, lua_value(args, F64, True), 'false' if opts is None else lua_value(opts, F64, True),
                  lua_tensor(xi), lua_tensor(y)))
out.append('  },')

# F.one_hot: labels 1-based in nnlua (torch's + 1)
out.append('  one_hot = {')
t = torch.tensor([[0, 3, 1], [2, 2, 0]], dtype=I64)
for num_classes in (-1, 4, 6):
    y = F.one_hot(t, num_classes)
    out.append('    { num_classes = %d, t = %s, out = %s },' % (num_classes, lua_tensor(t + 1), lua_tensor(y)))
t0 = torch.tensor(2, dtype=I64)
out.append('    { num_classes = 5, t = %s, out = %s },' % (lua_tensor(t0 + 1), lua_tensor(F.one_hot(t0, 5))))
out.append('  },')

# nn.Embedding.from_pretrained with max_norm: the rows an input names are
# renormed in place before the lookup; the weight after the call, the
# output and the weight's gradient (freeze = False), ids 1-based in nnlua
out.append('  from_pretrained = {')
for dtype, dname in ((F32, 'float32'), (F64, 'float64')):
    for max_norm, norm_type, padding_idx in ((1.5, 2.0, None), (2.0, 1.0, 1), (0.7, 3.0, None)):
        emb = (torch.randn(5, 4, dtype=F32) * 2).to(dtype)
        emb[3] *= 0.1                              # a row under max_norm, kept as it is
        ids = torch.tensor([[0, 3, 1], [1, 4, 0]], dtype=I64)
        w = torch.randn(2, 3, 4, dtype=F32).to(dtype)
        m = torch.nn.Embedding.from_pretrained(emb.clone(), freeze=False, padding_idx=padding_idx, max_norm=max_norm,
                                               norm_type=norm_type)
        y = m(ids)
        y.backward(w)
        out.append('    { dtype = %r, max_norm = %s, norm_type = %s, padding_idx = %s,'
                   % (dname, lua_value(max_norm, F64), lua_value(norm_type, F64),
                      'nil' if padding_idx is None else padding_idx + 1))
        for key, t in (('embeddings', emb), ('ids', ids + 1), ('w', w), ('out', y), ('weight', m.weight),
                       ('grad', m.weight.grad)):
            out.append('      %s = %s,' % (key, lua_tensor(t, True)))
        out.append('    },')
out.append('  },')

write_golden('functional.lua',
             ['PyTorch 1.13 golden values for nn.functional\'s activations, threshold, one_hot and',
              'Embedding.from_pretrained: written by tests/golden/gen_functional.py'], out)
