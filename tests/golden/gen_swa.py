# gen_swa.py: PyTorch 1.13 golden values for nnlua's optim.swa_utils
# (AveragedModel, SWALR, update_bn). Writes tests/golden/swa.lua (checked by
# tests/spec/swa_spec.lua); it does not test anything itself. Regenerate,
# from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_swa.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# averaged: a model (Linear, BatchNorm1d, ReLU, Linear) and an
#   AveragedModel of it (default average, an EMA avg_fn, with and without
#   use_buffers); before each update_parameters the model is given new
#   weights and buffers (recorded, with num_batches_tracked), and the
#   AveragedModel's whole state dict (PyTorch's names and order) and its
#   output for a fixed input are recorded after each.
# swalr: SGD over two param groups (lrs 0.1 and 0.02); SWALR with each
#   anneal strategy and several anneal_epochs (0 included), swa_lr a number
#   or one per group; the lrs after construction and after each step().
# update_bn: models with BatchNorm1d / BatchNorm2d layers (one of momentum
#   0.3), in eval mode, their running statistics made up; update_bn over a
#   list of batches of different sizes (tensors, or [x, y] pairs); the
#   buffers after it.
import math
import warnings
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, SWALR, update_bn
from common import F32, F64, lua_value, lua_tensor, lua_named, seed, write_golden

warnings.simplefilter('ignore')


def mlp():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def perturbed_state(model, k):
    """the model's state dict with new random floats and a counter of k"""
    sd = {}
    for name, t in model.state_dict().items():
        if t.dtype == torch.int64:
            sd[name] = torch.tensor(3 * k + 2, dtype=torch.int64)
        elif name.endswith('running_var'):
            sd[name] = torch.rand(t.shape) + 0.5
        else:
            sd[name] = torch.randn(t.shape)
    return sd


def cloned(m):
    return [(k, v.clone()) for k, v in m.state_dict().items()]


EMA_DECAY = 0.9


def ema(avg, p, n):
    return EMA_DECAY * avg + (1 - EMA_DECAY) * p


AVERAGED = [
    ('default', None, False),
    ('default_buffers', None, True),
    ('ema_buffers', 'ema', True),
    ('ema', 'ema', False),
]


def averaged_case(name, avg_fn, use_buffers):
    seed('averaged_' + name)
    model = mlp()
    model.train()
    swa = AveragedModel(model, avg_fn=ema if avg_fn == 'ema' else None, use_buffers=use_buffers)
    swa.eval()
    x = torch.randn(5, 3)
    init = cloned(model)
    steps = []
    for k in range(4):
        sd = perturbed_state(model, k)
        model.load_state_dict(sd)
        swa.update_parameters(model)
        with torch.no_grad():
            out = swa(x)
        steps.append((cloned(model), cloned(swa), out))
    lines = ['    {', "      name = '%s', avg_fn = %s, use_buffers = %s," % (
        name, "'ema'" if avg_fn else 'nil', 'true' if use_buffers else 'false')]
    lines.append('      init = %s,' % lua_named(init, '      '))
    lines.append('      x = %s,' % lua_tensor(x))
    lines.append('      steps = {')
    for model_sd, swa_sd, out in steps:
        lines.append('        {')
        lines.append('          model = %s,' % lua_named(model_sd, '          '))
        lines.append('          averaged = %s,' % lua_named(swa_sd, '          '))
        lines.append('          out = %s,' % lua_tensor(out))
        lines.append('        },')
    lines.append('      },')
    lines.append('    },')
    return lines


LRS = [0.1, 0.02]
SWALR_CASES = [
    ('cos10', {'swa_lr': 0.05}),
    ('linear10', {'swa_lr': 0.05, 'anneal_strategy': 'linear'}),
    ('cos3_groups', {'swa_lr': [0.05, 0.001], 'anneal_epochs': 3}),
    ('linear3_groups', {'swa_lr': [0.05, 0.001], 'anneal_epochs': 3, 'anneal_strategy': 'linear'}),
    ('cos1', {'swa_lr': 0.3, 'anneal_epochs': 1}),
    ('linear0', {'swa_lr': 0.3, 'anneal_epochs': 0, 'anneal_strategy': 'linear'}),
    ('cos0', {'swa_lr': 0.03, 'anneal_epochs': 0}),
    ('linear7', {'swa_lr': 0.2, 'anneal_epochs': 7, 'anneal_strategy': 'linear'}),
]


def swalr_case(name, opts):
    p1, p2 = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([{'params': [p1], 'lr': LRS[0]}, {'params': [p2], 'lr': LRS[1]}], lr=LRS[0], momentum=0.9)
    sched = SWALR(opt, **opts)
    seq = [[g['lr'] for g in opt.param_groups]]
    for _ in range(15):
        opt.step()
        sched.step()
        seq.append([g['lr'] for g in opt.param_groups])
    return ['    { name = %s, opts = %s, lrs = {' % (lua_value(name), lua_value(opts, F64, shortest=True))] + \
        ['      %s,' % lua_value(v, F64, shortest=True) for v in seq] + ['    } },']


class Convy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3, momentum=0.3)
        self.fc = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


UPDATE_BN = [
    ('mlp_tensors', 'mlp', [(7, 3), (4, 3), (9, 3)], False),
    ('mlp_pairs', 'mlp2', [(6, 3), (5, 3)], True),
    ('conv_pairs', 'convy', [(3, 2, 4, 4), (2, 2, 4, 4), (4, 2, 4, 4)], True),
]


def update_bn_case(name, kind, shapes, pairs):
    seed('update_bn_' + name)
    if kind == 'mlp':
        model = mlp()
    elif kind == 'mlp2':
        model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.3), nn.Tanh(), nn.Linear(4, 5),
                              nn.BatchNorm1d(5))
    else:
        model = Convy()
    with torch.no_grad():
        for mname, m in model.named_modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(17)
    model.eval()
    init = cloned(model)
    batches = [torch.randn(s) for s in shapes]
    loader = [(x, torch.zeros(x.shape[0])) for x in batches] if pairs else batches
    update_bn(loader, model)
    assert not model.training
    return ['    {', "      name = '%s', kind = '%s', pairs = %s," % (name, kind, 'true' if pairs else 'false'),
            '      init = %s,' % lua_named(init, '      '),
            '      batches = {'] + ['        %s,' % lua_tensor(x) for x in batches] + [
            '      },',
            '      after = %s,' % lua_named(list(model.state_dict().items()), '      '),
            '    },']


def main():
    out = ['  ema_decay = %s,' % lua_value(EMA_DECAY, F64, shortest=True), '  averaged = {']
    for c in AVERAGED:
        out += averaged_case(*c)
    out += ['  },', '  lrs = %s,' % lua_value(LRS, F64, shortest=True), '  swalr = {']
    for c in SWALR_CASES:
        out += swalr_case(*c)
    out += ['  },', '  update_bn = {']
    for c in UPDATE_BN:
        out += update_bn_case(*c)
    out.append('  },')
    write_golden('swa.lua', ['generated by tests/golden/gen_swa.py with PyTorch %s; do not edit' % torch.__version__],
                 out)


if __name__ == '__main__':
    main()
