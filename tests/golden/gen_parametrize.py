# gen_parametrize.py: PyTorch 1.13 golden values for nnlua's
# nn.utils.parametrize and nn.utils.parametrizations (orthogonal,
# spectral_norm). Writes tests/golden/parametrize.lua (checked by
# tests/spec/parametrize_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_parametrize.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case: a layer given weights w0 (recorded), a parametrization
# registered on it; its weight right after (init, where deterministic);
# then its whole state dict (PyTorch's names) set from random values
# (recorded, with orthogonal's base and spectral_norm's _u and _v) and
#   out = layer(x), loss = sum(out * w), its gradients w.r.t. every
#   original and the bias, the weight as computed, and for spectral_norm
#   the buffers after the call (one power iteration in training mode) and
#   an eval-mode output after that.
# custom: Symmetric (triu + its transpose, right_inverse triu), Scale (2x,
#   right_inverse /2) chained on one weight, and SumOfTwo (right_inverse
#   giving two tensors: original0 and original1); also the originals after
#   `layer.weight = value` (through the right_inverses).
import torch
from torch import nn
from torch.nn.utils import parametrize, parametrizations as PZ
from common import lua_tensor, lua_named, lua_value, seed, write_golden, F64


class Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)

    def right_inverse(self, A):
        return A.triu()


class Scale(nn.Module):
    def forward(self, X):
        return X * 2

    def right_inverse(self, X):
        return X / 2


class SumOfTwo(nn.Module):
    def forward(self, A, B):
        return A + B

    def right_inverse(self, X):
        return X, torch.zeros_like(X)


def layer(kind, a, b):
    if kind == 'Linear':
        return nn.Linear(a, b)
    if kind == 'Conv2d':
        return nn.Conv2d(a, b, 3)
    return nn.ConvTranspose2d(a, b, 3)


def x_for(kind, a):
    return torch.randn(5, a) if kind == 'Linear' else torch.randn(2, a, 5, 5)


def named(m):
    return [(k, v.detach().clone()) for k, v in m.state_dict().items()]


def run(m, x):
    out = m(x)
    w = torch.randn(out.shape)
    (out * w).sum().backward()
    grads = [(k, p.grad.clone()) for k, p in m.named_parameters()]
    return out.detach(), w, grads


ORTH = [
    ('square_default', 4, 4, None),
    ('square_cayley', 4, 4, 'cayley'),
    ('square_householder', 4, 4, 'householder'),
    ('tall_default', 3, 5, None),
    ('tall_cayley', 3, 5, 'cayley'),
    ('tall_matrix_exp', 3, 5, 'matrix_exp'),
    ('wide_default', 5, 3, None),
    ('wide_cayley', 5, 3, 'cayley'),
]

SPECTRAL = [
    ('linear', 'Linear', 4, 3, {}),
    ('linear_3iter', 'Linear', 4, 3, {'n_power_iterations': 3}),
    ('conv', 'Conv2d', 2, 3, {}),
    ('conv_transpose', 'ConvTranspose2d', 2, 3, {}),
    ('bias_vector', 'Linear', 4, 3, {'name': 'bias'}),
]


def lines_of(c, indent='    '):
    out = [indent + '{']
    for k, v in c.items():
        if isinstance(v, torch.Tensor):
            out.append('%s  %s = %s,' % (indent, k, lua_tensor(v)))
        elif isinstance(v, list) and v and isinstance(v[0], tuple):
            out.append('%s  %s = %s,' % (indent, k, lua_named(v, indent + '  ')))
        else:
            out.append('%s  %s = %s,' % (indent, k, lua_value(v, F64, shortest=True)))
    out.append(indent + '},')
    return out


def orth_case(name, a, b, omap):
    seed('orth_' + name)
    m = nn.Linear(a, b)
    w0 = m.weight.detach().clone()
    PZ.orthogonal(m, orthogonal_map=omap)
    init = m.weight.detach().clone()
    sd = m.state_dict()
    sd['parametrizations.weight.original'] = torch.randn(sd['parametrizations.weight.original'].shape) * 0.5
    m.load_state_dict(sd)
    state = named(m)
    x = torch.randn(5, a)
    weight = m.weight.detach().clone()
    out, w, grads = run(m, x)
    return lines_of({'name': name, 'in_features': a, 'out_features': b, 'map': omap, 'w0': w0,
                     'init': init, 'state': state, 'x': x, 'weight': weight, 'out': out, 'w': w, 'grads': grads})


def spectral_case(name, kind, a, b, opts):
    seed('spectral_' + name)
    m = layer(kind, a, b)
    PZ.spectral_norm(m, **opts)
    state = named(m)
    x = x_for(kind, a)
    m.train()
    out, w, grads = run(m, x)
    after = named(m)
    m.eval()
    with torch.no_grad():
        out_eval = m(x)
    tname = opts.get('name', 'weight')
    return lines_of({'name': name, 'kind': kind, 'a': a, 'b': b, 'opts': opts, 'state': state, 'x': x, 'out': out,
                     'w': w, 'grads': grads, 'after': after, 'out_eval': out_eval,
                     'weight_eval': getattr(m, tname).detach().clone()})


def custom_cases():
    out = []
    # Symmetric then Scale on a square weight
    seed('custom_chain')
    m = nn.Linear(4, 4)
    w0 = m.weight.detach().clone()
    parametrize.register_parametrization(m, 'weight', Symmetric())
    parametrize.register_parametrization(m, 'weight', Scale())
    init = m.weight.detach().clone()
    state = named(m)
    x = torch.randn(3, 4)
    o, w, grads = run(m, x)
    value = torch.randn(4, 4)
    m.weight = value
    c = {'name': 'chain', 'w0': w0, 'init': init, 'state': state, 'x': x, 'out': o, 'w': w, 'grads': grads,
         'value': value, 'assigned': named(m), 'weight_assigned': m.weight.detach().clone()}
    out += lines_of(c)
    # SumOfTwo: original0 and original1
    seed('custom_two')
    m = nn.Linear(3, 2)
    w0 = m.weight.detach().clone()
    parametrize.register_parametrization(m, 'weight', SumOfTwo())
    sd = m.state_dict()
    sd['parametrizations.weight.original1'] = torch.randn(2, 3)
    m.load_state_dict(sd)
    state = named(m)
    x = torch.randn(4, 3)
    o, w, grads = run(m, x)
    value = torch.randn(2, 3)
    m.weight = value
    c = {'name': 'two', 'w0': w0, 'state': state, 'x': x, 'out': o, 'w': w, 'grads': grads, 'value': value,
         'assigned': named(m)}
    out += lines_of(c)
    return out


def main():
    out = ['  orthogonal = {']
    for c in ORTH:
        out += orth_case(*c)
    out += ['  },', '  spectral = {']
    for c in SPECTRAL:
        out += spectral_case(*c)
    out += ['  },', '  custom = {']
    out += custom_cases()
    out.append('  },')
    write_golden('parametrize.lua',
                 ['generated by tests/golden/gen_parametrize.py with PyTorch %s; do not edit' % torch.__version__], out)


if __name__ == '__main__':
    main()
