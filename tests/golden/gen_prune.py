# gen_prune.py: PyTorch 1.13 golden values for nnlua's nn.utils.prune
# (the deterministic methods: l1_unstructured, ln_structured,
# global_unstructured, custom_from_mask, and remove). Writes
# tests/golden/prune.lua (checked by tests/spec/prune_spec.lua); it does
# not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_prune.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case: a Sequential of layers given random weights (recorded), then
# pruning steps in turn (their arguments; dims written 1-based, as nnlua
# takes them), each followed by every mask of the model; then
#   out = model(x), loss = sum(out * w), the gradients of every parameter
#   (weight_orig among them), the state dict (names in PyTorch's order),
# and after prune.remove of each pruned tensor, the state dict again.
# The scores are random normal draws, so no two tie (PyTorch's topk picks
# among ties in an unspecified order).
import math
import torch
from torch import nn
from torch.nn.utils import prune
from common import lua_tensor, lua_named, lua_value, seed, write_golden


def layer(spec):
    kind = spec[0]
    if kind == 'Linear':
        return nn.Linear(spec[1], spec[2])
    if kind == 'Conv1d':
        return nn.Conv1d(spec[1], spec[2], spec[3])
    return nn.Conv2d(spec[1], spec[2], spec[3])


def lua_n(n):
    if n == 'fro':
        return "'fro'"
    if n in (math.inf, -math.inf):
        return 'math.huge' if n > 0 else '-math.huge'
    return repr(n)


def lua_dim(d):
    return d + 1 if d >= 0 else d


def run_step(model, st):
    fn = st['fn']
    if fn == 'global':
        params = [(model[i], name) for i, name in st['params']]
        kw = {}
        if st.get('scores'):
            kw['importance_scores'] = {(model[i], name): s for (i, name), s in st['scores']}
        prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=st['amount'], **kw)
        return
    m = model[st['layer']]
    if fn == 'l1':
        prune.l1_unstructured(m, st['name'], st['amount'], importance_scores=st.get('scores'))
    elif fn == 'ln':
        prune.ln_structured(m, st['name'], st['amount'], st['n'], st['dim'], importance_scores=st.get('scores'))
    elif fn == 'custom':
        prune.custom_from_mask(m, st['name'], st['mask'])


def lua_step(st):
    parts = ["fn = '%s'" % st['fn']]
    if 'layer' in st:
        parts.append('layer = %d' % (st['layer'] + 1))
        parts.append("name = '%s'" % st['name'])
    if 'amount' in st:
        parts.append('amount = %s' % repr(st['amount']))
    if 'n' in st:
        parts.append('n = %s' % lua_n(st['n']))
    if 'dim' in st:
        parts.append('dim = %d' % lua_dim(st['dim']))
    if 'mask' in st:
        parts.append('mask = %s' % lua_tensor(st['mask']))
    if st['fn'] == 'global':
        parts.append('params = { %s }' % ', '.join("{ %d, '%s' }" % (i + 1, n) for i, n in st['params']))
        if st.get('scores'):
            parts.append('scores = { %s }' % ', '.join("{ %d, '%s', %s }" % (i + 1, n, lua_tensor(s))
                                                       for (i, n), s in st['scores']))
    elif st.get('scores') is not None:
        parts.append('scores = %s' % lua_tensor(st['scores']))
    return '{ %s }' % ', '.join(parts)


def masks_of(model):
    return [(k, v) for k, v in model.state_dict().items() if k.endswith('_mask')]


def case(name, layers, x_shape, steps):
    seed(name)
    model = nn.Sequential(*[layer(s) for s in layers])
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape))
    state0 = list(model.state_dict().items())
    state0 = [(k, v.clone()) for k, v in state0]
    for st in steps:
        if st['fn'] == 'custom':
            st['mask'] = (torch.rand(model[st['layer']].get_parameter(st['name']).shape) > 0.4).float()
        if st.get('with_scores'):
            st['scores'] = torch.randn(getattr(model[st['layer']], st['name']).shape)
        if st['fn'] == 'global' and st.get('score_on'):
            st['scores'] = [((i, n), torch.randn(getattr(model[i], n).shape)) for i, n in st['score_on']]
    step_masks = []
    for st in steps:
        run_step(model, st)
        step_masks.append([(k, v.clone()) for k, v in masks_of(model)])
    x = torch.randn(x_shape)
    out = model(x)
    w = torch.randn(out.shape)
    (out * w).sum().backward()
    grads = [(k, p.grad.clone()) for k, p in model.named_parameters()]
    weights = []
    for i, m in enumerate(model):
        for pn in ('weight', 'bias'):
            if hasattr(m, pn + '_mask'):
                weights.append(('%d.%s' % (i, pn), getattr(m, pn).detach().clone()))
    sd = [(k, v.clone()) for k, v in model.state_dict().items()]
    for i, m in enumerate(model):
        for pn in ('weight', 'bias'):
            if hasattr(m, pn + '_mask'):
                prune.remove(m, pn)
    sd_removed = [(k, v.clone()) for k, v in model.state_dict().items()]
    lines = ['  {', "    name = '%s'," % name]
    lines.append('    layers = { %s },' % ', '.join(lua_value(list(s)) for s in layers))
    lines.append('    state0 = %s,' % lua_named(state0, '    '))
    lines.append('    steps = {')
    lines += ['      %s,' % lua_step(st) for st in steps]
    lines.append('    },')
    lines.append('    masks = {')
    for ms in step_masks:
        lines.append('      %s,' % lua_named(ms, '      '))
    lines.append('    },')
    lines.append('    x = %s,' % lua_tensor(x))
    lines.append('    w = %s,' % lua_tensor(w))
    lines.append('    out = %s,' % lua_tensor(out.detach()))
    lines.append('    pruned = %s,' % lua_named(weights, '    '))
    lines.append('    grads = %s,' % lua_named(grads, '    '))
    lines.append('    state = %s,' % lua_named(sd, '    '))
    lines.append('    removed = %s,' % lua_named(sd_removed, '    '))
    lines.append('  },')
    return lines


CASES = [
    ('l1_fraction', [('Linear', 5, 4)], (3, 5), [dict(fn='l1', layer=0, name='weight', amount=0.3)]),
    ('l1_count_and_bias', [('Linear', 5, 4)], (3, 5),
     [dict(fn='l1', layer=0, name='weight', amount=7), dict(fn='l1', layer=0, name='bias', amount=0.5)]),
    ('l1_scores', [('Linear', 5, 4)], (3, 5), [dict(fn='l1', layer=0, name='weight', amount=0.4, with_scores=True)]),
    ('ln_n2_dim1', [('Conv2d', 3, 4, 3)], (2, 3, 5, 5), [dict(fn='ln', layer=0, name='weight', amount=0.5, n=2, dim=0)]),
    ('ln_n1_dim2_count', [('Conv2d', 3, 4, 3)], (2, 3, 5, 5),
     [dict(fn='ln', layer=0, name='weight', amount=1, n=1, dim=1)]),
    # 0.375 * 4 = 1.5 rounds to 2, 0.625 * 4 = 2.5 to 2 (half to even)
    ('ln_inf_last_half_up', [('Conv2d', 3, 4, (3, 4))], (2, 3, 5, 6),
     [dict(fn='ln', layer=0, name='weight', amount=0.375, n=math.inf, dim=-1)]),
    ('ln_neginf_half_even', [('Conv2d', 3, 4, (3, 4))], (2, 3, 5, 6),
     [dict(fn='ln', layer=0, name='weight', amount=0.625, n=-math.inf, dim=3)]),
    ('ln_fro_conv1d', [('Conv1d', 3, 4, 5)], (2, 3, 7), [dict(fn='ln', layer=0, name='weight', amount=0.5, n='fro', dim=0)]),
    ('ln_n3_dim2_scores', [('Linear', 6, 5)], (3, 6),
     [dict(fn='ln', layer=0, name='weight', amount=2, n=3, dim=1, with_scores=True)]),
    ('iterative_l1_ln_l1', [('Linear', 8, 6)], (3, 8),
     [dict(fn='l1', layer=0, name='weight', amount=0.3), dict(fn='ln', layer=0, name='weight', amount=0.5, n=2, dim=0),
      dict(fn='l1', layer=0, name='weight', amount=5)]),
    ('iterative_conv_ln_ln_l1', [('Conv2d', 3, 4, 3)], (2, 3, 5, 5),
     [dict(fn='ln', layer=0, name='weight', amount=1, n=1, dim=0), dict(fn='ln', layer=0, name='weight', amount=0.5, n=2, dim=1),
      dict(fn='l1', layer=0, name='weight', amount=0.25)]),
    ('custom_then_l1', [('Linear', 5, 4)], (3, 5),
     [dict(fn='custom', layer=0, name='weight'), dict(fn='l1', layer=0, name='weight', amount=0.5)]),
    ('global_twice', [('Linear', 6, 5), ('Linear', 5, 4)], (3, 6),
     [dict(fn='global', params=[(0, 'weight'), (1, 'weight'), (1, 'bias')], amount=0.4),
      dict(fn='global', params=[(0, 'weight'), (1, 'weight'), (1, 'bias')], amount=10)]),
    ('global_scores_after_l1', [('Linear', 6, 5), ('Linear', 5, 4)], (3, 6),
     [dict(fn='l1', layer=1, name='weight', amount=0.5),
      dict(fn='global', params=[(0, 'weight'), (1, 'weight')], amount=0.3, score_on=[(0, 'weight')])]),
]

lines = []
for c in CASES:
    lines += case(*c)
write_golden('prune.lua', [
    'PyTorch 1.13 golden values for nn.utils.prune; generated by tests/golden/gen_prune.py',
    '(see there for what each case holds)'], lines)
