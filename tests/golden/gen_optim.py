# gen_optim.py: PyTorch golden trajectories for nnlua's optimizers and LR
# schedulers. Writes tests/golden/optim.lua (checked by
# tests/spec/optim_spec.lua); it does not test anything itself. Regenerate,
# from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_optim.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# The problem: a linear model y = x @ W^T + b (4 -> 3) with fixed float32
# weights, a fixed batch of 8, and loss = mean((y - t)^2). For each optimizer
# configuration, in float32 and float64 (the same starting values), 10 steps
# of zero_grad / loss / backward / step, recording W and b after each step.
# For the schedulers, the lr of each group after construction and after
# each of 30 steps.
import os
import torch

torch.manual_seed(20240612)

N, IN, OUT, STEPS = 8, 4, 3, 10
X = torch.randn(N, IN)
T = torch.randn(N, OUT)
W0 = torch.randn(OUT, IN) * 0.5
B0 = torch.randn(OUT) * 0.5

# name, optimizer, options (defaults are PyTorch's, which nnlua shares),
# param groups ({'params': [names], overrides...}) or None for [W, b]
CONFIGS = [
    ('sgd_plain', 'SGD', {'lr': 0.1}, None),
    ('sgd_momentum_wd', 'SGD', {'lr': 0.05, 'momentum': 0.9, 'dampening': 0.1, 'weight_decay': 0.01}, None),
    ('sgd_nesterov', 'SGD', {'lr': 0.05, 'momentum': 0.9, 'nesterov': True, 'weight_decay': 1e-3}, None),
    ('sgd_groups', 'SGD', {'lr': 0.1, 'momentum': 0.5},
     [{'params': ['W']}, {'params': ['b'], 'lr': 0.02, 'momentum': 0.0}]),
    ('adam', 'Adam', {'lr': 0.01}, None),
    ('adam_amsgrad_wd', 'Adam', {'lr': 0.02, 'betas': (0.8, 0.95), 'eps': 1e-6, 'weight_decay': 0.1,
                                 'amsgrad': True}, None),
    ('adamw', 'AdamW', {'lr': 0.01, 'weight_decay': 0.1}, None),
    ('adamw_amsgrad', 'AdamW', {'lr': 0.02, 'betas': (0.85, 0.9), 'amsgrad': True}, None),
    ('rmsprop', 'RMSprop', {'lr': 0.01}, None),
    ('rmsprop_centered_momentum', 'RMSprop', {'lr': 0.01, 'alpha': 0.9, 'eps': 1e-6, 'weight_decay': 0.01,
                                              'momentum': 0.5, 'centered': True}, None),
    ('adagrad', 'Adagrad', {'lr': 0.1, 'lr_decay': 0.01, 'weight_decay': 0.05,
                            'initial_accumulator_value': 0.1, 'eps': 1e-10}, None),
]

SCHEDULERS = [
    ('steplr', 'StepLR', {'step_size': 7, 'gamma': 0.5}, [0.1]),
    ('steplr_groups', 'StepLR', {'step_size': 3, 'gamma': 0.9}, [0.05, 0.3]),
    ('cosine', 'CosineAnnealingLR', {'T_max': 10, 'eta_min': 0.001}, [0.1]),
    ('cosine_groups', 'CosineAnnealingLR', {'T_max': 7}, [0.1, 0.01]),
]
SCHED_STEPS = 30


def run_optimizer(opt_name, opts, groups, dtype, snapshot=None):
    """STEPS steps of torch.optim.<opt_name> on the problem; each step's
    W and b, or what snapshot(params, opt) makes of them (gen_optim_extra.py
    records state tensors too)"""
    params = {'W': W0.to(dtype).clone().requires_grad_(),
              'b': B0.to(dtype).clone().requires_grad_()}
    x, t = X.to(dtype), T.to(dtype)
    if groups is None:
        arg = [params['W'], params['b']]
    else:
        arg = [dict(g, params=[params[n] for n in g['params']]) for g in groups]
    kwargs = dict(opts, foreach=False)      # the single-tensor code path
    opt = getattr(torch.optim, opt_name)(arg, **kwargs)
    steps = []
    for _ in range(STEPS):
        opt.zero_grad()
        y = x @ params['W'].t() + params['b']
        loss = ((y - t) * (y - t)).mean()
        loss.backward()
        opt.step()
        if snapshot:
            steps.append(snapshot(params, opt))
        else:
            steps.append({'W': params['W'].detach().clone(), 'b': params['b'].detach().clone()})
    return steps


def run_scheduler(name, opts, lrs):
    ps = [torch.zeros(1, requires_grad=True) for _ in lrs]
    opt = torch.optim.SGD([{'params': [p], 'lr': lr} for p, lr in zip(ps, lrs)], lr=lrs[0])
    sched = getattr(torch.optim.lr_scheduler, name)(opt, **opts)
    seq = [list(sched.get_last_lr())]
    for _ in range(SCHED_STEPS):
        opt.step()
        sched.step()
        seq.append(list(sched.get_last_lr()))
    return seq


# ---- Lua output ----

def num(v, dtype=torch.float64):
    v = float(v)
    if v != v:
        return '0/0'
    if v in (float('inf'), float('-inf')):
        return 'math.huge' if v > 0 else '-math.huge'
    return ('%.9g' % v) if dtype == torch.float32 else repr(v)


def lua(v, dtype=torch.float64):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return num(v, dtype)
    if isinstance(v, str):
        return "'%s'" % v
    if isinstance(v, torch.Tensor):
        return lua(v.tolist(), v.dtype)
    if isinstance(v, (list, tuple)):
        return '{ ' + ', '.join(lua(x, dtype) for x in v) + ' }'
    if isinstance(v, dict):
        return '{ ' + ', '.join('%s = %s' % (k, lua(v[k], dtype)) for k in sorted(v)) + ' }'
    raise TypeError(type(v))


def main():
    out = ['-- generated by tests/golden/gen_optim.py with PyTorch %s; do not edit' % torch.__version__,
           'return {']
    # the float32 data in full (repr): the float64 runs start from the same values
    out.append('  problem = %s,' % lua({k: v.double() for k, v in (('x', X), ('t', T), ('W', W0), ('b', B0))}))
    out.append('  steps = %d,' % STEPS)
    out.append('  optimizers = {')
    for name, opt_name, opts, groups in CONFIGS:
        for dtype, dname in ((torch.float32, 'float32'), (torch.float64, 'float64')):
            steps = run_optimizer(opt_name, opts, groups, dtype)
            out.append('    { name = %s, dtype = %s, optim = %s, opts = %s, groups = %s,'
                       % (lua(name), lua(dname), lua(opt_name), lua(opts),
                          lua(groups) if groups else 'nil'))
            out.append('      steps = {')
            for s in steps:
                out.append('        { W = %s, b = %s },' % (lua(s['W'].flatten()), lua(s['b'])))
            out.append('      } },')
    out.append('  },')
    out.append('  schedulers = {')
    for name, sched, opts, lrs in SCHEDULERS:
        seq = run_scheduler(sched, opts, lrs)
        out.append('    { name = %s, scheduler = %s, opts = %s, lrs = %s,'
                   % (lua(name), lua(sched), lua(opts), lua(lrs)))
        out.append('      values = {')
        for v in seq:
            out.append('        %s,' % lua(v))
        out.append('      } },')
    out.append('  },')
    out.append('}')
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'optim.lua')
    with open(path, 'w') as f:
        f.write('\n'.join(out) + '\n')
    print('wrote', path)


if __name__ == '__main__':
    main()
