# gen_nn_extra.py: PyTorch golden values for the layers, losses and
# functional forms of nnlua's nn/rectifier.lua, bilinear.lua,
# local_response_norm.lua, loss_extra.lua and dropout_extra.lua, and for
# the functional norms and embeddings (layer_norm, group_norm,
# instance_norm, batch_norm, embedding, embedding_bag), in float32 and
# float64. Writes tests/golden/nn_extra.lua (checked by
# tests/spec/nn_extra_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_nn_extra.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case: a module with fixed parameters (copied into nnlua's module
# under PyTorch's names) or a function, its inputs, out = m(*inputs), then
# the loss (out * w).sum() with a fixed random w of out's shape, and the
# gradients of every float input and parameter. An input may be stored
# contiguous and used through a permutation (perm, 1-based as the spec
# applies it). A 'buffer' input (running statistics) gets no gradient and
# is recorded after the call, which updates it in place. Ids and labels
# are written 1-based (MultiLabelMarginLoss's -1 padding as 0).
# Each case draws from its own seed (a CRC of its name).
from functools import partial
import torch
import torch.nn as nn
import torch.nn.functional as F
import common
from common import F32, F64, lua_tensor, lua_named, seed, write_golden

lua_value = partial(common.lua_value, dtype=F64)   # the numbers of options as float64s
randn = common.randn_cast   # (shape, dtype): float64 draws cast to dtype
CASES = []


class In:
    """An input: the layer sees stored.permute(perm) (perm 0-based here);
    int64 ones are written with lua_offset added; a buffer gets no
    gradient and is written again after the call."""
    def __init__(self, stored, perm=None, lua_offset=0, buffer=False):
        self.stored, self.perm, self.lua_offset, self.buffer = stored, perm, lua_offset, buffer


def case(name, kind, m, inputs, args=None, opts=None, mode='train', dtype=F32):
    """m: a torch module whose state is already set, or a function; inputs:
    a list of In (or tensors), None for an argument left out."""
    inputs = [x if isinstance(x, In) or x is None else In(x) for x in inputs]
    is_module = isinstance(m, nn.Module)
    if is_module:
        m.train(mode == 'train')
    names = [k for k, _ in m.named_parameters()] if is_module else []
    state = [(k, v.detach().clone()) for k, v in m.named_parameters()] if is_module else []
    leaves, args_in = [], []
    for x in inputs:
        if x is None:
            leaves.append(None)
            args_in.append(None)
            continue
        leaf = x.stored.clone()
        if leaf.is_floating_point() and not x.buffer:
            leaf.requires_grad_(True)
        leaves.append(leaf)
        args_in.append(leaf.permute(*x.perm) if x.perm else leaf)
    out = m(*args_in)
    assert out.dtype == dtype, name
    w = randn(out.shape, dtype)
    (out * w).sum().backward()
    for k, p in (m.named_parameters() if is_module else []):
        assert p.grad is not None and p.grad.shape == p.shape, name
    CASES.append({
        'name': name, 'kind': kind, 'args': args or [], 'opts': opts or {}, 'mode': mode,
        'dtype': 'float64' if dtype == F64 else 'float32',
        'state': state, 'params': names,
        'inputs': [None if x is None else {
            't': x.stored + x.lua_offset if x.lua_offset else x.stored,
            'perm': [p + 1 for p in x.perm] if x.perm else None,
            'grad': leaf.grad if leaf.is_floating_point() and not x.buffer else None,
            'after': leaf.detach().clone() if x.buffer else None,
        } for x, leaf in zip(inputs, leaves)],
        'w': w, 'out': out.detach(),
        'grads': [(k, p.grad) for k, p in m.named_parameters()] if is_module else [],
    })


def with_zeros(x, every=3):
    """x with every `every`-th element exactly 0 (the kinks' own gradient)"""
    x = x.clone().reshape(-1)
    x[::every] = 0
    return x


DTYPES = ((F32, ''), (F64, '_f64'))

# ---- PReLU / prelu, RReLU (eval) / rrelu ---------------------------------------------
for dt, sfx in DTYPES:
    name = 'prelu_one' + sfx
    seed(name)
    m = nn.PReLU().to(dt)
    with torch.no_grad():
        m.weight.fill_(0.3)
    case(name, 'PReLU', m, [with_zeros(randn((3, 4), dt)).reshape(3, 4)], dtype=dt)
    name = 'prelu_channels_noncontig' + sfx
    seed(name)
    m = nn.PReLU(3, init=0.1).to(dt)
    with torch.no_grad():
        m.weight.copy_(randn((3,), dt))
    # (N, C, L) = (2, 3, 5) seen through a permutation of (5, 2, 3)
    case(name, 'PReLU', m, [In(with_zeros(randn((5, 2, 3), dt), 4).reshape(5, 2, 3), perm=(1, 2, 0))],
         args=[3, 0.1], dtype=dt)
    name = 'prelu_fn_4d' + sfx
    seed(name)
    case(name, 'prelu', F.prelu, [randn((2, 3, 2, 2), dt), randn((3,), dt)], dtype=dt)
    name = 'rrelu_eval' + sfx
    seed(name)
    case(name, 'RReLU', nn.RReLU(0.1, 0.4), [with_zeros(randn((4, 5), dt)).reshape(4, 5)], args=[0.1, 0.4],
         mode='eval', dtype=dt)
seed('prelu_fn_0dim')
case('prelu_fn_0dim', 'prelu', F.prelu, [torch.tensor(-1.5), torch.tensor([0.2])])
seed('rrelu_fn_default')
# the functional form's training defaults to false: the mean slope
case('rrelu_fn_default', 'rrelu', F.rrelu, [randn((3, 4), F32)])

# ---- Bilinear / bilinear ---------------------------------------------------------------
for dt, sfx in DTYPES:
    name = 'bilinear' + sfx
    seed(name)
    m = nn.Bilinear(4, 5, 6).to(dt)
    case(name, 'Bilinear', m, [randn((3, 4), dt), randn((3, 5), dt)], args=[4, 5, 6], dtype=dt)
    name = 'bilinear_3d_nobias_noncontig' + sfx
    seed(name)
    m = nn.Bilinear(3, 2, 4, bias=False).to(dt)
    case(name, 'Bilinear', m, [In(randn((3, 2, 5), dt), perm=(1, 2, 0)), randn((2, 5, 2), dt)],
         args=[3, 2, 4], opts={'bias': False}, dtype=dt)
    name = 'bilinear_fn_1d' + sfx
    seed(name)
    case(name, 'bilinear', F.bilinear, [randn((3,), dt), randn((4,), dt), randn((2, 3, 4), dt), randn((2,), dt)],
         dtype=dt)

# ---- LocalResponseNorm / local_response_norm --------------------------------------------
for dt, sfx in DTYPES:
    name = 'lrn_3d' + sfx
    seed(name)
    case(name, 'LocalResponseNorm', nn.LocalResponseNorm(3), [randn((2, 5, 4), dt) * 3], args=[3], dtype=dt)
    name = 'lrn_4d_even_noncontig' + sfx
    seed(name)
    # (N, C, H, W) = (2, 6, 3, 2) seen through a permutation of (3, 6, 2, 2)
    case(name, 'LocalResponseNorm', nn.LocalResponseNorm(2, alpha=0.1, beta=0.5, k=2.0),
         [In(randn((3, 6, 2, 2), dt) * 2, perm=(2, 1, 0, 3))], args=[2, 0.1, 0.5, 2.0], dtype=dt)
    name = 'lrn_fn_5d_wide' + sfx
    seed(name)
    # a window wider than the channels
    case(name, 'local_response_norm', lambda x: F.local_response_norm(x, 7, alpha=0.05, beta=1.2, k=0.5),
         [randn((2, 4, 2, 2, 3), dt)], opts={'size': 7, 'alpha': 0.05, 'beta': 1.2, 'k': 0.5}, dtype=dt)

# ---- MultiLabelSoftMarginLoss, MultiLabelMarginLoss, TripletMarginWithDistanceLoss -------
def labels01(shape, dt):
    return (torch.rand(tuple(shape), dtype=F64) > 0.5).to(dt)


for dt, sfx in DTYPES:
    for red in ('mean', 'sum', 'none'):
        name = 'mlsm_%s%s' % (red, sfx)
        seed(name)
        case(name, 'MultiLabelSoftMarginLoss', nn.MultiLabelSoftMarginLoss(reduction=red),
             [randn((4, 5), dt) * 2, labels01((4, 5), dt)], opts={'reduction': red}, dtype=dt)
    name = 'mlsm_weight' + sfx
    seed(name)
    wt = torch.rand(5, dtype=F64).to(dt) + 0.5
    case(name, 'MultiLabelSoftMarginLoss', nn.MultiLabelSoftMarginLoss(weight=wt),
         [randn((3, 5), dt), labels01((3, 5), dt)], opts={'weight': wt}, dtype=dt)
seed('mlsm_1d_fn')
case('mlsm_1d_fn', 'multilabel_soft_margin_loss', F.multilabel_soft_margin_loss,
     [randn((6,), F32), labels01((6,), F32)])


# targets with PyTorch's -1 ending (written as 0 by lua_offset 1); a
# label twice, a row of no labels, a row of every label, and a tie
# (z = 0 exactly, from values 1 apart)
def mlm_target():
    return torch.tensor([[2, 0, -1, 4, 1], [3, 3, 1, -1, -1], [-1, 2, 2, 2, 2], [4, 1, 0, 2, 3]])


def mlm_input(dt):
    x = randn((4, 5), dt)
    x[0, 2], x[0, 3] = 0.25, -0.75        # label 2 (0-based) at 0.25, non-label 3 at -0.75: z = 0
    return x


for dt, sfx in DTYPES:
    for red in ('mean', 'sum', 'none'):
        name = 'mlm_%s%s' % (red, sfx)
        seed(name)
        case(name, 'MultiLabelMarginLoss', nn.MultiLabelMarginLoss(reduction=red),
             [mlm_input(dt), In(mlm_target(), lua_offset=1)], opts={'reduction': red}, dtype=dt)
seed('mlm_1d_fn')
case('mlm_1d_fn', 'multilabel_margin_loss', F.multilabel_margin_loss,
     [randn((5,), F32), In(torch.tensor([4, 0, -1, 2, 0]), lua_offset=1)])
seed('mlm_2d_transposed')
case('mlm_2d_transposed', 'MultiLabelMarginLoss', nn.MultiLabelMarginLoss(),
     [In(randn((5, 3), F32), perm=(1, 0)), In(torch.tensor([[1, 2, -1, 0, 0], [0, -1, 0, 0, 0], [4, 3, 2, 1, 0]]),
                                               lua_offset=1)])


# the distance functions nnlua's spec builds by these names
def cosine_distance(a, b):
    return 1 - F.cosine_similarity(a, b)


DISTANCES = {'cosine': cosine_distance, 'pairwise_p1': nn.PairwiseDistance(p=1), 'default': None}
for dt, sfx in DTYPES:
    for dist, swap, margin, red in (('default', False, 1.0, 'mean'), ('default', True, 0.5, 'none'),
                                    ('cosine', False, 0.3, 'sum'), ('pairwise_p1', True, 2.0, 'mean')):
        name = 'twd_%s_%s_%s%s' % (dist, 'swap' if swap else 'noswap', red, sfx)
        seed(name)
        m = nn.TripletMarginWithDistanceLoss(distance_function=DISTANCES[dist], margin=margin, swap=swap,
                                             reduction=red)
        case(name, 'TripletMarginWithDistanceLoss', m, [randn((5, 4), dt), randn((5, 4), dt), randn((5, 4), dt)],
             opts={'distance': dist, 'margin': margin, 'swap': swap, 'reduction': red}, dtype=dt)
seed('twd_fn_1d')
case('twd_fn_1d', 'triplet_margin_with_distance_loss', F.triplet_margin_with_distance_loss,
     [randn((6,), F32), randn((6,), F32), randn((6,), F32)])

# ---- functional norms ------------------------------------------------------------------
for dt, sfx in DTYPES:
    name = 'layer_norm_fn' + sfx
    seed(name)
    case(name, 'layer_norm', lambda x, w, b: F.layer_norm(x, (3, 4), w, b, 1e-3),
         [randn((2, 3, 4), dt) * 2, randn((3, 4), dt), randn((3, 4), dt)], args=[[3, 4]], opts={'eps': 1e-3}, dtype=dt)
    name = 'layer_norm_fn_weight_only_noncontig' + sfx
    seed(name)
    case(name, 'layer_norm', lambda x, w: F.layer_norm(x, (5,), w),
         [In(randn((5, 3), dt), perm=(1, 0)), randn((5,), dt)], args=[5], dtype=dt)
    # (rows of 37: the fused op's 8-lane sums and their tail; no weight or
    # bias; an empty batch)
    name = 'layer_norm_fn_wide' + sfx
    seed(name)
    case(name, 'layer_norm', lambda x, w, b: F.layer_norm(x, (37,), w, b),
         [randn((3, 4, 37), dt) * 3 + 2, randn((37,), dt), randn((37,), dt)], args=[37], dtype=dt)
    name = 'layer_norm_fn_no_affine' + sfx
    seed(name)
    case(name, 'layer_norm', lambda x: F.layer_norm(x, (2, 9)), [randn((4, 2, 9), dt) - 1], args=[[2, 9]], dtype=dt)
    name = 'layer_norm_fn_empty_batch' + sfx
    seed(name)
    case(name, 'layer_norm', lambda x, w, b: F.layer_norm(x, (6,), w, b),
         [randn((0, 3, 6), dt), randn((6,), dt), randn((6,), dt)], args=[6], dtype=dt)
    name = 'group_norm_fn' + sfx
    seed(name)
    case(name, 'group_norm', lambda x, w, b: F.group_norm(x, 2, w, b),
         [randn((3, 4, 5), dt) + 1, randn((4,), dt), randn((4,), dt)], args=[2], dtype=dt)
    name = 'group_norm_fn_bias_only_4d' + sfx
    seed(name)
    # (PyTorch 1.13's backward of a bias without a weight fails, 'tensor
    # does not have a device': a weight of ones, which changes no bit,
    # stands in for nnlua's nil)
    case(name, 'group_norm', lambda x, w, b: F.group_norm(x, 3, torch.ones(6, dtype=x.dtype), b, eps=1e-2),
         [randn((2, 6, 2, 3), dt), None, randn((6,), dt)], args=[3], opts={'eps': 1e-2}, dtype=dt)
    name = 'instance_norm_fn_stats' + sfx
    seed(name)
    case(name, 'instance_norm',
         lambda x, rm, rv, w, b: F.instance_norm(x, rm, rv, w, b, use_input_stats=True, momentum=0.3),
         [randn((2, 3, 5), dt) * 2, In(randn((3,), dt), buffer=True), In(torch.rand(3, dtype=F64).to(dt) + 0.5, buffer=True),
          randn((3,), dt), randn((3,), dt)], opts={'use_input_stats': True, 'momentum': 0.3}, dtype=dt)
    name = 'instance_norm_fn_running' + sfx
    seed(name)
    case(name, 'instance_norm',
         lambda x, rm, rv: F.instance_norm(x, rm, rv, use_input_stats=False, eps=1e-3),
         [randn((2, 3, 2, 2), dt), In(randn((3,), dt), buffer=True), In(torch.rand(3, dtype=F64).to(dt) + 0.5, buffer=True)],
         opts={'use_input_stats': False, 'eps': 1e-3}, dtype=dt)
    name = 'instance_norm_fn_plain' + sfx
    seed(name)
    case(name, 'instance_norm', lambda x: F.instance_norm(x), [randn((3, 2, 4), dt)], dtype=dt)
    name = 'batch_norm_fn_train' + sfx
    seed(name)
    case(name, 'batch_norm',
         lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2),
         [randn((4, 3, 2), dt) + 0.5, In(randn((3,), dt), buffer=True), In(torch.rand(3, dtype=F64).to(dt) + 0.5, buffer=True),
          randn((3,), dt), randn((3,), dt)], opts={'training': True, 'momentum': 0.2}, dtype=dt)
    name = 'batch_norm_fn_eval_weight_only' + sfx
    seed(name)
    case(name, 'batch_norm', lambda x, rm, rv, w: F.batch_norm(x, rm, rv, w, eps=1e-3),
         [randn((3, 4), dt), In(randn((4,), dt), buffer=True), In(torch.rand(4, dtype=F64).to(dt) + 0.5, buffer=True),
          randn((4,), dt)], opts={'eps': 1e-3}, dtype=dt)
    name = 'batch_norm_fn_no_stats_4d' + sfx
    seed(name)
    case(name, 'batch_norm', lambda x: F.batch_norm(x, None, None, training=True),
         [randn((2, 3, 2, 2), dt)], opts={'training': True}, dtype=dt)

# ---- functional embeddings (ids 1-based in the file) ----------------------------------
for dt, sfx in DTYPES:
    name = 'embedding_fn_padding' + sfx
    seed(name)
    case(name, 'embedding', lambda ids, w: F.embedding(ids, w, padding_idx=2),
         [In(torch.tensor([[0, 2, 4], [2, 2, 1]]), lua_offset=1), randn((5, 3), dt)], opts={'padding_idx': 3},
         dtype=dt)
    name = 'embedding_bag_fn_sum_psw' + sfx
    seed(name)
    case(name, 'embedding_bag',
         lambda ids, w, off, psw: F.embedding_bag(ids, w, off, mode='sum', per_sample_weights=psw),
         [In(torch.tensor([0, 3, 3, 1, 4, 2]), lua_offset=1), randn((5, 2), dt),
          In(torch.tensor([0, 2, 2, 5]), lua_offset=1), randn((6,), dt)], opts={'mode': 'sum'}, dtype=dt)
    name = 'embedding_bag_fn_max_2d_padding' + sfx
    seed(name)
    case(name, 'embedding_bag', lambda ids, w: F.embedding_bag(ids, w, mode='max', padding_idx=1),
         [In(torch.tensor([[0, 1, 3], [1, 1, 1], [4, 2, 2]]), lua_offset=1), randn((5, 4), dt)],
         opts={'mode': 'max', 'padding_idx': 2}, dtype=dt)
seed('embedding_bag_fn_mean')
case('embedding_bag_fn_mean', 'embedding_bag', lambda ids, w, off: F.embedding_bag(ids, w, off),
     [In(torch.tensor([1, 0, 2, 2, 4]), lua_offset=1), randn((5, 3), F32), In(torch.tensor([0, 1, 4]), lua_offset=1)])


# ---- alpha dropout's constants ----------------------------------------------------------
# The masks are PyTorch's own draws, which nnlua does not reproduce; what
# is checked is the affine map: for each p, the value of a dropped unit
# and a kept unit's a * x + b, read off alpha_dropout of zeros and ones
# in training (p = 1: every unit 0).
ALPHA = []
for p in (0.1, 0.2, 0.5, 0.9, 1.0):
    seed('alpha_%g' % p)
    n = 4000
    zeros = F.alpha_dropout(torch.zeros(n, dtype=F64), p, True)
    ones = F.alpha_dropout(torch.ones(n, dtype=F64), p, True)
    vz, vo = sorted(set(zeros.tolist())), sorted(set(ones.tolist()))
    if p == 1.0:
        assert vz == [0.0] and vo == [0.0]
        ALPHA.append({'p': p, 'dropped': 0.0, 'a': 0.0, 'b': 0.0})
        continue
    # the dropped value is the one zeros and ones share
    dropped = [v for v in vz if v in vo]
    assert len(vz) == 2 and len(vo) == 2 and len(dropped) == 1, (p, vz, vo)
    b = [v for v in vz if v != dropped[0]][0]
    a = [v for v in vo if v != dropped[0]][0] - b
    # feature alpha dropout drops whole channels to the same value
    torch.manual_seed(1)
    fz = F.feature_alpha_dropout(torch.zeros((50, 40, 3), dtype=F64), p, True)
    assert set(fz.unique().tolist()) <= {dropped[0], b}
    ALPHA.append({'p': p, 'dropped': dropped[0], 'a': a, 'b': b})


# ---- writing ------------------------------------------------------------------------

def lua_case(c):
    L = ['  {']
    L.append("    name = '%s', kind = '%s', mode = '%s', dtype = '%s'," % (c['name'], c['kind'], c['mode'], c['dtype']))
    opts = {k: v for k, v in c['opts'].items() if not isinstance(v, torch.Tensor)}
    L.append('    args = %s, opts = %s,' % (lua_value(c['args']), lua_value(opts)))
    tensors = [(k, v) for k, v in c['opts'].items() if isinstance(v, torch.Tensor)]
    if tensors:
        L.append('    opt_tensors = %s,' % lua_named(tensors, '    '))
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
        if x['after'] is not None:
            L.append('        after = %s,' % lua_tensor(x['after']))
        L.append('        grad = %s },' % lua_tensor(x['grad']))
    L.append('    },')
    L.append('    n_inputs = %d,' % len(c['inputs']))
    L.append('    w = %s,' % lua_tensor(c['w']))
    L.append('    out = %s,' % lua_tensor(c['out']))
    L.append('    grads = %s,' % lua_named(c['grads'], '    '))
    L.append('  },')
    return '\n'.join(L)


def main():
    lines = [lua_case(c) for c in CASES]
    lines.append('  alpha_dropout = {')
    lines += ['    %s,' % lua_value(a) for a in ALPHA]
    lines.append('  },')
    write_golden('nn_extra.lua', [
        'nn_extra.lua: PyTorch %s golden values for nnlua\'s PReLU, RReLU, Bilinear,' % torch.__version__,
        'LocalResponseNorm, the multi-label and distance triplet losses, the functional',
        'norms and embeddings, and alpha dropout\'s constants, float32 and float64;',
        'generated by tests/golden/gen_nn_extra.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_nn_extra.py`). Checked by tests/spec/nn_extra_spec.lua.',
        'state: parameters; inputs: each stored contiguous, used as t:permute(perm)',
        'where perm is given, ids and labels 1-based, false for an argument left out,',
        'after: a buffer input after the call; out = m(inputs...); for (out * w):sum()',
        'the grads of each float input (of its stored tensor) and of each parameter.',
        'alpha_dropout: per p, the value of a dropped unit and a kept unit\'s a * x + b.',
    ], lines)


if __name__ == '__main__':
    main()
