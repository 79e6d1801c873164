# gen_optim_groups.py: PyTorch 1.13 trajectories of every optimizer across
# add_param_group. Writes tests/golden/optim_groups.lua (checked by
# tests/spec/optim_spec.lua). Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_optim_groups.py
#
# The problem (float64): y = x @ W^T + b (4 -> 3), loss = mean((y - t)^2).
# Each case makes the optimizer over [W] with its options and takes
# BEFORE steps (b detached, so it gets no gradient), then adds the group
# {'params': [b], **group} and takes AFTER steps, recording W and b after
# each step. Options the group lacks come from the constructor's.
# PyTorch 1.13's Adagrad makes its state in __init__ only (its step fails
# on a later group's parameters with a KeyError): the state of b is made
# here as __init__ makes it, from the group's initial_accumulator_value,
# which is what nnlua's first step makes.
# A scheduler case: StepLR made after a group was added, the lrs and each
# group's initial_lr.
import torch
from common import F64, num, write_golden

torch.manual_seed(20261128)
N, IN, OUT, BEFORE, AFTER = 8, 4, 3, 3, 3
X = torch.randn(N, IN, dtype=F64)
T = torch.randn(N, OUT, dtype=F64)
W0 = torch.randn(OUT, IN, dtype=F64) * 0.5
B0 = torch.randn(OUT, dtype=F64) * 0.5

# name, optimizer, constructor options, the added group's options
CASES = [
    ('sgd', 'SGD', {'lr': 0.1, 'momentum': 0.9}, {'lr': 0.05}),
    ('sgd_inherit', 'SGD', {'lr': 0.1, 'momentum': 0.5, 'nesterov': True}, {}),
    ('adam', 'Adam', {'lr': 0.01, 'amsgrad': True}, {'lr': 0.03, 'betas': (0.8, 0.9)}),
    ('adamw', 'AdamW', {'lr': 0.01, 'weight_decay': 0.1}, {'weight_decay': 0.0}),
    ('rmsprop', 'RMSprop', {'lr': 0.01, 'momentum': 0.5, 'centered': True}, {'lr': 0.02}),
    ('adagrad', 'Adagrad', {'lr': 0.1, 'initial_accumulator_value': 0.1}, {'initial_accumulator_value': 0.5}),
    ('adamax', 'Adamax', {'lr': 0.02}, {'lr': 0.01}),
    ('nadam', 'NAdam', {'lr': 0.01}, {'momentum_decay': 0.002}),
    ('radam', 'RAdam', {'lr': 0.01}, {'lr': 0.05}),
    ('adadelta', 'Adadelta', {'lr': 1.0, 'rho': 0.8}, {'lr': 0.5}),
    ('rprop', 'Rprop', {'lr': 0.01}, {'etas': (0.4, 1.3)}),
    ('asgd', 'ASGD', {'lr': 0.05, 't0': 2}, {'lr': 0.02}),
]


def run(opt_name, opts, group):
    W = W0.clone().requires_grad_()
    b = B0.clone().requires_grad_()
    opt = getattr(torch.optim, opt_name)([W], foreach=False, **opts)
    steps = []
    for s in range(BEFORE + AFTER):
        if s == BEFORE:
            opt.add_param_group(dict(group, params=[b]))
            if opt_name == 'Adagrad':
                g = opt.param_groups[-1]
                opt.state[b] = {'step': torch.tensor(0.0),
                                'sum': torch.full_like(b, g['initial_accumulator_value'])}
        opt.zero_grad()
        y = X @ W.t() + (b if s >= BEFORE else b.detach())
        ((y - T) * (y - T)).mean().backward()
        opt.step()
        steps.append((W.detach().clone(), b.detach().clone()))
    return steps


def lua(v):
    if isinstance(v, (list, tuple)):
        return '{ ' + ', '.join(lua(x) for x in v) + ' }'
    if isinstance(v, bool):
        return 'true' if v else 'false'
    return num(float(v), F64)


def table(d):
    return '{ ' + ', '.join('%s = %s' % (k, lua(d[k])) for k in sorted(d)) + ' }'


lines = ['  problem = { x = %s, t = %s, W = %s, b = %s },' % (lua(X.tolist()), lua(T.tolist()),
                                                            lua(W0.tolist()), lua(B0.tolist())),
         '  before = %d,' % BEFORE, '  cases = {']
for name, opt_name, opts, group in CASES:
    steps = run(opt_name, opts, group)
    lines.append("    { name = '%s', optim = '%s', opts = %s, group = %s, steps = {" % (
        name, opt_name, table(opts), table(group)))
    for W, b in steps:
        lines.append('      { W = %s, b = %s },' % (lua(W.reshape(-1).tolist()), lua(b.tolist())))
    lines.append('    } },')
lines.append('  },')

# StepLR made after the group was added
ps = [torch.zeros(1, requires_grad=True) for _ in range(2)]
opt = torch.optim.SGD([ps[0]], lr=0.1)
opt.add_param_group({'params': [ps[1]], 'lr': 0.4})
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
lrs = [list(sched.get_last_lr())]
for _ in range(6):
    opt.step()
    sched.step()
    lrs.append(list(sched.get_last_lr()))
lines.append('  steplr = { initial_lr = %s, lrs = %s },' % (lua([g['initial_lr'] for g in opt.param_groups]),
                                                           lua(lrs)))

write_golden('optim_groups.lua', ['PyTorch 1.13 optimizers across add_param_group (gen_optim_groups.py)'], lines)
