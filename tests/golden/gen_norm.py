# gen_norm.py: PyTorch golden values for nnlua's normalization and
# embedding-bag layers and the vector functions beside them (GroupNorm, ...),
# in float32 and float64. Writes tests/golden/norm.lua (checked by
# tests/spec/norm_spec.lua); it does not test anything itself. Regenerate,
# from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_norm.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case: a module (or a function) with fixed parameters and buffers
# (PyTorch's names and layout), its inputs, out = m(*inputs), then the loss
# (out * w).sum() with a fixed random w of out's shape, and the gradients of
# every float input and parameter; a train-mode case with buffers also
# records them after the step. An input may be stored contiguous and used
# through a permutation (perm, 1-based as the spec applies it), so that the
# layer sees a non-contiguous view; its gradient is that of the stored
# tensor. Ids and offsets are written 1-based, as nnlua takes them.
# Each case draws from its own seed (a CRC of its name), so adding a case
# leaves the others' values as they were.
from functools import partial
import torch
import torch.nn as nn
import torch.nn.functional as F
import common
from common import F32, F64, lua_tensor, lua_named, seed, write_golden

lua_value = partial(common.lua_value, dtype=F64)   # the numbers of options as float64s
randn = common.randn_cast   # (shape, dtype): float64 draws cast to dtype
CASES = []


def set_state(m, dtype):
    """Fixed random values for every parameter and float buffer of m (a
    weight near 1, so that normalized outputs keep their scale)."""
    m.to(dtype)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith('weight') and p.dim() == 1:
                p.copy_(torch.rand(p.shape, dtype=F64) + 0.5)
            else:
                p.copy_(randn(p.shape, F64) * 0.5)
        for name, b in m.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(randn(b.shape, F64) * 0.3)
            elif name.endswith('running_var'):
                b.copy_(torch.rand(b.shape, dtype=F64) * 1.5 + 0.5)
    return m


class In:
    """An input: t as the layer sees it is stored.permute(perm) (perm
    0-based here); int64 ones are written with lua_offset added."""
    def __init__(self, stored, perm=None, lua_offset=0):
        self.stored, self.perm, self.lua_offset = stored, perm, lua_offset


def case(name, kind, args, m, inputs, mode='train', opts=None, dtype=F32):
    """m: a torch module whose state is already set, or a function; inputs:
    a list of In (or tensors, taken as they are); None stands for an
    argument left out (nil in Lua)."""
    inputs = [x if isinstance(x, In) or x is None else In(x) for x in inputs]
    is_module = isinstance(m, nn.Module)
    if is_module:
        m.train(mode == 'train')
    state = {k: v.detach().clone() for k, v in m.state_dict().items()} if is_module else {}
    names = [k for k, _ in m.named_parameters()] if is_module else []
    buffers = [k for k, _ in m.named_buffers()] if is_module else []
    leaves, args_in = [], []
    for x in inputs:
        if x is None:
            leaves.append(None)
            args_in.append(None)
            continue
        leaf = x.stored.clone()
        if leaf.is_floating_point():
            leaf.requires_grad_(True)
        leaves.append(leaf)
        args_in.append(leaf.permute(*x.perm) if x.perm else leaf)
    out = m(*args_in)
    assert out.dtype == dtype, name
    w = randn(out.shape, dtype)
    (out * w).sum().backward()
    c = {
        'name': name, 'kind': kind, 'args': args, 'opts': opts or {}, 'mode': mode,
        'dtype': 'float64' if dtype == F64 else 'float32',
        'state': [(k, state[k]) for k in names + buffers],
        'params': names,
        'inputs': [None if x is None else {
            't': x.stored + x.lua_offset if x.lua_offset else x.stored,
            'perm': [p + 1 for p in x.perm] if x.perm else None,
            'grad': leaf.grad if leaf.is_floating_point() else None,
        } for x, leaf in zip(inputs, leaves)],
        'w': w, 'out': out.detach(),
        'grads': [(k, p.grad) for k, p in m.named_parameters()] if is_module else [],
    }
    for k, p in (m.named_parameters() if is_module else []):
        assert p.grad is not None and p.grad.shape == p.shape, name
    if mode == 'train' and buffers:
        c['after'] = [(k, v.detach().clone()) for k, v in m.named_buffers()]
    CASES.append(c)


# ---- GroupNorm ----------------------------------------------------------------------
for dt, sfx in ((F32, ''), (F64, '_f64')):
    seed('groupnorm_2g' + sfx)
    case('groupnorm_2g' + sfx, 'GroupNorm', [2, 6], set_state(nn.GroupNorm(2, 6), dt),
         [randn((3, 6, 5), dt) * 2 + 0.5], dtype=dt)
    seed('groupnorm_4d_noncontig' + sfx)
    # (N, C, H, W) = (2, 4, 3, 5) seen through a permutation of a (3, 2, 5, 4) tensor
    case('groupnorm_4d_noncontig' + sfx, 'GroupNorm', [2, 4], set_state(nn.GroupNorm(2, 4), dt),
         [In(randn((3, 2, 5, 4), dt) * 1.5 - 0.3, perm=(1, 3, 0, 2))], dtype=dt)
    seed('groupnorm_eval_eps' + sfx)
    case('groupnorm_eval_eps' + sfx, 'GroupNorm', [3, 6], set_state(nn.GroupNorm(3, 6, eps=1e-3), dt),
         [randn((2, 6, 2, 2), dt) * 0.1], mode='eval', opts={'eps': 1e-3}, dtype=dt)
seed('groupnorm_1group_noaffine')
case('groupnorm_1group_noaffine', 'GroupNorm', [1, 3], set_state(nn.GroupNorm(1, 3, affine=False), F32),
     [randn((4, 3, 2), F32)], opts={'affine': False})
seed('groupnorm_instance_2d')
# (N, C) input, a transposed view; a group per channel: one value per group
# at N = 3, C = 6, G = 3: two values each
case('groupnorm_2d_transposed', 'GroupNorm', [3, 6], set_state(nn.GroupNorm(3, 6), F32),
     [In(randn((6, 3), F32), perm=(1, 0))])


# ---- InstanceNorm1d / InstanceNorm2d (InstanceNorm3d below) ----------------------------------------------------
# PyTorch's defaults (no affine, no running statistics), with both (the
# buffers after a train step; eval normalizing with them), eval without
# running statistics (the instance's own), and unbatched input.
for dt, sfx in ((F32, ''), (F64, '_f64')):
    seed('instancenorm1d_noncontig' + sfx)
    # (N, C, L) = (3, 4, 6) seen through a transpose of a (3, 6, 4) tensor
    case('instancenorm1d_noncontig' + sfx, 'InstanceNorm1d', [4], set_state(nn.InstanceNorm1d(4), dt),
         [In(randn((3, 6, 4), dt) * 2 + 1, perm=(0, 2, 1))], dtype=dt)
    for mode in ('train', 'eval'):
        name = 'instancenorm1d_affine_stats_%s%s' % (mode, sfx)
        seed(name)
        case(name, 'InstanceNorm1d', [3],
             set_state(nn.InstanceNorm1d(3, affine=True, track_running_stats=True, momentum=0.3), dt),
             [randn((2, 3, 5), dt) * 1.5 - 0.5], mode=mode,
             opts={'affine': True, 'track_running_stats': True, 'momentum': 0.3}, dtype=dt)
        name = 'instancenorm2d_affine_stats_%s%s' % (mode, sfx)
        seed(name)
        # (N, C, H, W) = (2, 3, 4, 5) seen through a permutation of (5, 3, 2, 4)
        case(name, 'InstanceNorm2d', [3], set_state(nn.InstanceNorm2d(3, affine=True, track_running_stats=True), dt),
             [In(randn((5, 3, 2, 4), dt) + 0.5, perm=(2, 1, 3, 0))], mode=mode,
             opts={'affine': True, 'track_running_stats': True}, dtype=dt)
    seed('instancenorm2d_eval_no_stats' + sfx)
    case('instancenorm2d_eval_no_stats' + sfx, 'InstanceNorm2d', [2],
         set_state(nn.InstanceNorm2d(2, affine=True, eps=1e-3), dt), [randn((2, 2, 3, 3), dt) * 0.2],
         mode='eval', opts={'affine': True, 'eps': 1e-3}, dtype=dt)
seed('instancenorm1d_unbatched_stats')
case('instancenorm1d_unbatched_stats', 'InstanceNorm1d', [3],
     set_state(nn.InstanceNorm1d(3, track_running_stats=True), F32), [randn((3, 7), F32)],
     opts={'track_running_stats': True})
seed('instancenorm2d_unbatched_affine')
case('instancenorm2d_unbatched_affine', 'InstanceNorm2d', [2],
     set_state(nn.InstanceNorm2d(2, affine=True), F32), [randn((2, 3, 4), F32)], opts={'affine': True})


# ---- BatchNorm3d ----------------------------------------------------------------------
for dt, sfx in ((F32, ''), (F64, '_f64')):
    for mode in ('train', 'eval'):
        name = 'batchnorm3d_%s%s' % (mode, sfx)
        seed(name)
        # (N, C, D, H, W) = (2, 3, 2, 3, 2) seen through a permutation of (3, 2, 2, 2, 3)
        case(name, 'BatchNorm3d', [3], set_state(nn.BatchNorm3d(3, momentum=0.2), dt),
             [In(randn((3, 2, 2, 2, 3), dt) * 1.5 + 0.5, perm=(1, 0, 3, 4, 2))], mode=mode,
             opts={'momentum': 0.2}, dtype=dt)
seed('batchnorm3d_no_stats')
case('batchnorm3d_no_stats', 'BatchNorm3d', [2], set_state(nn.BatchNorm3d(2, affine=False, track_running_stats=False), F32),
     [randn((3, 2, 2, 1, 2), F32)], mode='eval', opts={'affine': False, 'track_running_stats': False})


# ---- EmbeddingBag (ids and offsets written 1-based, padding_idx too) ----------------------
def ids(n, shape):
    return torch.randint(0, n, tuple(shape))


def bag(n, d, dt, **kw):
    return set_state(nn.EmbeddingBag(n, d, **kw), dt)


def lua_opts(kw):
    o = dict(kw)
    if 'padding_idx' in o:
        o['padding_idx'] += 1
    return o


def bag_case(name, n, d, kw, inputs, dt=F32):
    seed(name)
    m = bag(n, d, dt, **kw)
    case(name, 'EmbeddingBag', [n, d], m, inputs(dt), opts=lua_opts(kw), dtype=dt)


for dt, sfx in ((F32, ''), (F64, '_f64')):
    for mode in ('sum', 'mean', 'max'):
        # (B, N) bags; max's repeated ids within a bag give the row once
        bag_case('embeddingbag_2d_%s%s' % (mode, sfx), 7, 3, {'mode': mode},
                 lambda dt: [In(ids(7, (4, 5)), lua_offset=1)], dt)
        # 1-D ids cut at offsets (0, 3, 3, 4): the second bag is empty
        bag_case('embeddingbag_offsets_%s%s' % (mode, sfx), 6, 4, {'mode': mode},
                 lambda dt: [In(ids(6, (7,)), lua_offset=1), In(torch.tensor([0, 3, 3, 4]), lua_offset=1)], dt)
    # per-sample weights: (B, N) seen through a transpose, ids and weights alike
    bag_case('embeddingbag_psw_2d' + sfx, 6, 3, {'mode': 'sum'},
             lambda dt: [In(ids(6, (5, 3)), perm=(1, 0), lua_offset=1), None, In(randn((5, 3), dt), perm=(1, 0))], dt)
    bag_case('embeddingbag_psw_offsets' + sfx, 5, 2, {'mode': 'sum'},
             lambda dt: [In(ids(5, (6,)), lua_offset=1), In(torch.tensor([0, 2, 2, 5]), lua_offset=1),
                         randn((6,), dt)], dt)
for mode in ('sum', 'mean', 'max'):
    # padding id 2 (1 here) left out of the bags; the third bag is all padding
    bag_case('embeddingbag_padding_%s' % mode, 5, 3, {'mode': mode, 'padding_idx': 1},
             lambda dt: [In(torch.tensor([[0, 1, 3, 1], [1, 4, 4, 2], [1, 1, 1, 1]]), lua_offset=1)])
bag_case('embeddingbag_padding_psw', 5, 3, {'mode': 'sum', 'padding_idx': 4},
         lambda dt: [In(torch.tensor([0, 4, 3, 4, 2, 1]), lua_offset=1), In(torch.tensor([0, 2]), lua_offset=1),
                     randn((6,), dt)])
# the last offset is the end of the last bag. (Ids after it are left out of
# the sum and the max, but PyTorch 1.13's mean divides the last bag's sum by
# its count up to the input's end; norm_spec checks nnlua's mean of them
# by hand.)
for mode in ('mean', 'max'):
    bag_case('embeddingbag_include_last_offset_' + mode, 6, 2, {'mode': mode, 'include_last_offset': True},
             lambda dt: [In(ids(6, (8,)), lua_offset=1), In(torch.tensor([0, 2, 5, 8]), lua_offset=1)])
# max_norm: the rows the input names renormed in place before the bags
# (weights near 0.5 * sqrt(d) in norm, so some pass 0.6 and some do not)
bag_case('embeddingbag_max_norm_sum', 6, 3, {'mode': 'sum', 'max_norm': 0.6},
         lambda dt: [In(torch.tensor([[0, 2, 2, 5], [1, 3, 0, 0]]), lua_offset=1)])
bag_case('embeddingbag_max_norm_p1_mean_f64', 6, 4, {'mode': 'mean', 'max_norm': 1.2, 'norm_type': 1.0},
         lambda dt: [In(ids(6, (7,)), lua_offset=1), In(torch.tensor([0, 3, 3, 4]), lua_offset=1)], F64)
bag_case('embeddingbag_max_norm_max_padding', 5, 3, {'mode': 'max', 'max_norm': 0.5, 'padding_idx': 1},
         lambda dt: [In(torch.tensor([[0, 1, 3, 1], [1, 4, 4, 2]]), lua_offset=1)])


# ---- Unflatten, normalize, CosineSimilarity, PairwiseDistance ---------------------------
# dims in args and opts are written 1-based (PyTorch's dim=1 is nnlua's 2).
INF = float('inf')


def fcase(name, kind, args, fn, inputs, opts=None, dt=F32, mode='train'):
    seed(name)
    case(name, kind, args, fn, inputs(dt), opts=opts, dtype=dt, mode=mode)


for dt, sfx in ((F32, ''), (F64, '_f64')):
    fcase('unflatten_noncontig' + sfx, 'Unflatten', [2, [3, -1]], nn.Unflatten(1, (3, -1)),
          lambda dt: [In(randn((12, 2, 3), dt), perm=(1, 0, 2))], dt=dt)
    # a zero row: its gradient is w / eps
    fcase('normalize_p2' + sfx, 'normalize', [], lambda x: F.normalize(x),
          lambda dt: [torch.cat([randn((3, 5), dt), torch.zeros((1, 5), dtype=dt)])], dt=dt)
    fcase('normalize_p1_dim1_noncontig' + sfx, 'normalize', [], lambda x: F.normalize(x, p=1, dim=0),
          lambda dt: [In(randn((5, 4), dt), perm=(1, 0))], opts={'p': 1, 'dim': 1}, dt=dt)
    fcase('normalize_p3_last' + sfx, 'normalize', [], lambda x: F.normalize(x, p=3, dim=-1),
          lambda dt: [randn((2, 3, 4), dt)], opts={'p': 3, 'dim': -1}, dt=dt)
    fcase('normalize_inf' + sfx, 'normalize', [], lambda x: F.normalize(x, p=INF),
          lambda dt: [randn((3, 4), dt)], opts={'p': INF}, dt=dt)
    # eps 1 clamps the rows of norm below 1
    fcase('normalize_p1_5_eps' + sfx, 'normalize', [], lambda x: F.normalize(x, p=1.5, eps=1.0),
          lambda dt: [randn((4, 3), dt) * torch.tensor([[0.1], [1.0], [0.2], [2.0]], dtype=dt)],
          opts={'p': 1.5, 'eps': 1.0}, dt=dt)
    fcase('cosine' + sfx, 'CosineSimilarity', [], nn.CosineSimilarity(),
          lambda dt: [randn((4, 6), dt), randn((4, 6), dt)], dt=dt)
    # dim 1 of transposed inputs; x2 (6) broadcast against x1's (3, 6) to dim 2
    fcase('cosine_dim1_noncontig' + sfx, 'CosineSimilarity', [], nn.CosineSimilarity(dim=0),
          lambda dt: [In(randn((5, 3), dt), perm=(1, 0)), In(randn((5, 3), dt), perm=(1, 0))], opts={'dim': 1}, dt=dt)
    fcase('cosine_broadcast' + sfx, 'cosine_similarity', [], lambda a, b: F.cosine_similarity(a, b),
          lambda dt: [randn((3, 6), dt), randn((6,), dt)], dt=dt)
    # rows of norm below eps: PyTorch 1.13's in-place clamp gives their gradient
    fcase('cosine_small_norms' + sfx, 'CosineSimilarity', [], nn.CosineSimilarity(eps=1e-3),
          lambda dt: [randn((3, 4), dt) * torch.tensor([[1e-4], [1.0], [3e-4]], dtype=dt),
                      randn((3, 4), dt) * torch.tensor([[1.0], [2e-4], [1.0]], dtype=dt)], opts={'eps': 1e-3}, dt=dt)
    fcase('pairwise_p2' + sfx, 'PairwiseDistance', [], nn.PairwiseDistance(),
          lambda dt: [randn((4, 5), dt), randn((4, 5), dt)], dt=dt)
    fcase('pairwise_p1_broadcast' + sfx, 'PairwiseDistance', [], nn.PairwiseDistance(p=1),
          lambda dt: [randn((3, 5), dt), randn((5,), dt)], opts={'p': 1}, dt=dt)
    fcase('pairwise_p3_keepdim_noncontig' + sfx, 'PairwiseDistance', [], nn.PairwiseDistance(p=3, keepdim=True),
          lambda dt: [In(randn((4, 2, 3), dt), perm=(1, 2, 0)), randn((2, 3, 4), dt)],
          opts={'p': 3, 'keepdim': True}, dt=dt)
    fcase('pairwise_inf_1d' + sfx, 'PairwiseDistance', [], nn.PairwiseDistance(p=INF, eps=1e-3),
          lambda dt: [randn((6,), dt), randn((6,), dt)], opts={'p': INF, 'eps': 1e-3}, dt=dt)


# ---- InstanceNorm3d, and the lazy instance norms (whose modules become these) ---------------
for dt, sfx in ((F32, ''), (F64, '_f64')):
    for mode in ('train', 'eval'):
        name = 'instancenorm3d_affine_stats_%s%s' % (mode, sfx)
        seed(name)
        # (N, C, D, H, W) = (2, 3, 2, 3, 2) seen through a permutation of (3, 2, 2, 2, 3)
        case(name, 'InstanceNorm3d', [3],
             set_state(nn.InstanceNorm3d(3, affine=True, track_running_stats=True, momentum=0.2), dt),
             [In(randn((3, 2, 2, 2, 3), dt) * 1.5 + 0.5, perm=(1, 0, 3, 4, 2))], mode=mode,
             opts={'affine': True, 'track_running_stats': True, 'momentum': 0.2}, dtype=dt)
seed('instancenorm3d_default')
case('instancenorm3d_default', 'InstanceNorm3d', [2], set_state(nn.InstanceNorm3d(2), F32),
     [randn((2, 2, 3, 2, 2), F32) * 2])
seed('instancenorm3d_unbatched_affine')
case('instancenorm3d_unbatched_affine', 'InstanceNorm3d', [2],
     set_state(nn.InstanceNorm3d(2, affine=True), F32), [randn((2, 2, 3, 2), F32)], opts={'affine': True})
for kind, shape in (('LazyInstanceNorm1d', (2, 3, 5)), ('LazyInstanceNorm2d', (2, 3, 2, 3)),
                    ('LazyInstanceNorm3d', (2, 3, 2, 2, 2))):
    name = kind.lower() + '_affine_stats'
    seed(name)
    m = getattr(nn, kind)(affine=True, track_running_stats=True, momentum=0.3)
    x = randn(shape, F32) + 0.5
    m(x)                                          # (becomes the plain module)
    m = set_state(m, F32)
    case(name, kind, [list(shape)], m, [x], opts={'affine': True, 'track_running_stats': True, 'momentum': 0.3})


# ---- writing ------------------------------------------------------------------------

def lua_case(c):
    L = ['  {']
    L.append("    name = '%s', kind = '%s', mode = '%s', dtype = '%s'," % (c['name'], c['kind'], c['mode'], c['dtype']))
    L.append('    args = %s, opts = %s,' % (lua_value(c['args']), lua_value(c['opts'])))
    L.append('    state = %s,' % lua_named(c['state'], '    '))
    L.append('    params = %s,' % lua_value(c['params']))
    L.append('    inputs = {')
    for i, x in enumerate(c['inputs']):
        if x is None:
            L.append('      [%d] = false,' % (i + 1))
            continue
        L.append('      [%d] = { t = %s,' % (i + 1, lua_tensor(x['t'])))
        if x['perm']:
            L.append('        perm = %s,' % lua_value(x['perm']))
        L.append('        grad = %s },' % lua_tensor(x['grad']))
    L.append('    },')
    L.append('    n_inputs = %d,' % len(c['inputs']))
    L.append('    w = %s,' % lua_tensor(c['w']))
    L.append('    out = %s,' % lua_tensor(c['out']))
    L.append('    grads = %s,' % lua_named(c['grads'], '    '))
    if 'after' in c:
        L.append('    after = %s,' % lua_named(c['after'], '    '))
    L.append('  },')
    return '\n'.join(L)


def main():
    write_golden('norm.lua', [
        'norm.lua: PyTorch %s golden values for nnlua normalization and embedding-bag' % torch.__version__,
        'layers and vector functions, float32 and float64; generated by',
        'tests/golden/gen_norm.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_norm.py`). Checked by tests/spec/norm_spec.lua.',
        'state: parameters then buffers before the step; inputs: each stored',
        'contiguous, used as t:permute(perm) where perm is given, ids 1-based, false',
        'for an argument left out; out = m(inputs...); for (out * w):sum() the',
        'grads of each float input (of its stored tensor) and of each parameter;',
        'after: buffers after a train step.',
    ], [lua_case(c) for c in CASES])


if __name__ == '__main__':
    main()
