# gen_lr_scheduler.py: PyTorch golden lr sequences for nnlua's LR
# schedulers beyond StepLR and CosineAnnealingLR (those two are in
# gen_optim.py). Writes tests/golden/lr_scheduler.lua (checked by
# tests/spec/lr_scheduler_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_lr_scheduler.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case: an optimizer over two param groups of different lrs, a
# scheduler, and a list of actions, one per step: 'n' is step(), a number
# is step(epoch) (a jump, by the closed form where the scheduler has one),
# or for ReduceLROnPlateau the metric of step(metric). Recorded: every
# group's lr (and, for OneCycleLR, its momentum or beta1) after
# construction and after each action; and the same from a second run that
# stops after resume_at actions, builds a fresh optimizer and scheduler,
# loads both state_dicts and goes on.
#
# SequentialLR and ChainedScheduler take their schedulers as a list of
# [name, options] in the options (schedulers = [...]), built in order on
# the one optimizer; a member's lr_lambda and CyclicLR's scale_fn are named
# (LAMBDAS, SCALE_FNS). CyclicLR's and OneCycleLR's momenta (or beta1) are
# recorded, also where a composite holds them.
import math
import warnings
import torch
from common import F64, lua_value, write_golden

warnings.simplefilter('ignore')   # step(epoch) is deprecated; the closed forms are what is recorded

LRS = [0.1, 0.02]
SGD = ('SGD', {'lr': 0.1, 'momentum': 0.9})

# lr_lambda functions by name; tests/spec/lr_scheduler_spec.lua has the same
# ones in Lua (the same operations, so the same bits)
LAMBDAS = {
    'pow95': lambda e: 0.95 ** e,
    'inv': lambda e: 1 / (1 + 0.1 * e),
    'halve10': lambda e: 0.5 ** (e // 10),
    'const97': lambda e: 0.97,
    'lin': lambda e: 1 - 0.005 * e,
}


# CyclicLR's scale_fn functions by name (the same in Lua): of the cycle
# number, from 1, or of the step
SCALE_FNS = {
    'inv_cycle': lambda c: 1 / c,
    'decay_iter': lambda i: 0.99 ** i,
}


def plain(n=40):
    return ['n'] * n


def metrics_min():
    # falls, then stalls with small wiggles, then a late drop
    out = []
    for t in range(40):
        if t < 8:
            out.append(1.0 / (1 + 0.3 * t))
        elif t < 30:
            out.append(0.3 + 0.004 * math.sin(1.7 * t))
        else:
            out.append(0.2 + 0.001 * math.cos(t))
    return out


def metrics_max():
    # an accuracy: rises, plateaus, rises by less than the threshold
    out = []
    for t in range(40):
        if t < 10:
            out.append(0.5 + 0.03 * t)
        else:
            out.append(0.8 + 0.002 * (t - 10) + 0.01 * math.sin(t))
    return out


# name, scheduler, options, lambdas (names: one, or a list per group),
# optimizer (name, options), actions, resume_at
CASES = [
    ('multistep', 'MultiStepLR', {'milestones': [30, 5, 12, 12, 20], 'gamma': 0.5}, None, SGD, plain(), 17),
    ('multistep_jumps', 'MultiStepLR', {'milestones': [3, 8], 'gamma': 0.3}, None, SGD,
     ['n'] * 5 + [10, 'n', 'n', 2, 'n', 8, 'n', 0] + ['n'] * 10, 9),
    ('exponential', 'ExponentialLR', {'gamma': 0.93}, None, SGD, plain(), 17),
    ('exponential_jumps', 'ExponentialLR', {'gamma': 0.9}, None, SGD,
     ['n'] * 4 + [20, 'n', 'n', 1, 'n', 0, 'n'] + ['n'] * 6, 8),
    ('linear_warmup', 'LinearLR', {'start_factor': 0.25, 'total_iters': 10}, None, SGD, plain(), 6),
    ('linear_decay', 'LinearLR', {'start_factor': 1.0, 'end_factor': 0.05, 'total_iters': 25}, None, SGD,
     plain(), 17),
    ('linear_jumps', 'LinearLR', {'start_factor': 0.5, 'end_factor': 0.9, 'total_iters': 8}, None, SGD,
     ['n'] * 3 + [6, 'n', 12, 'n', 1, 'n', 'n', 0] + ['n'] * 10, 5),
    ('linear_default', 'LinearLR', {}, None, SGD, plain(12), 3),
    ('constant', 'ConstantLR', {'factor': 0.4, 'total_iters': 7}, None, SGD, plain(), 5),
    ('constant_default_jumps', 'ConstantLR', {}, None, SGD,
     ['n'] * 2 + [9, 'n', 3, 'n', 'n', 'n', 0] + ['n'] * 8, 4),
    ('lambda_one', 'LambdaLR', {}, 'pow95', SGD, plain(), 17),
    ('lambda_groups', 'LambdaLR', {}, ['inv', 'halve10'], SGD, ['n'] * 14 + [25, 'n', 3, 'n'] + ['n'] * 20, 15),
    ('multiplicative_one', 'MultiplicativeLR', {}, 'const97', SGD, plain(), 17),
    ('multiplicative_groups', 'MultiplicativeLR', {}, ['const97', 'lin'], SGD,
     ['n'] * 10 + [30, 'n', 0, 'n'] + ['n'] * 10, 11),
    ('warm_restarts', 'CosineAnnealingWarmRestarts', {'T_0': 5, 'T_mult': 2, 'eta_min': 0.001}, None, SGD,
     plain(), 17),
    ('warm_restarts_mult1', 'CosineAnnealingWarmRestarts', {'T_0': 7}, None, SGD,
     ['n'] * 25 + [17.5, 'n', 'n', 30.25, 'n', 3, 'n', 44, 'n', 'n', 'n', 'n', 'n', 'n', 'n'], 17),
    ('warm_restarts_fractional', 'CosineAnnealingWarmRestarts', {'T_0': 3, 'T_mult': 2, 'eta_min': 1e-4}, None, SGD,
     [e + i / 4 for e in range(8) for i in range(4)] + ['n', 'n', 26.5, 'n', 2.25, 'n', 'n', 45.75, 'n'], 14),
    ('warm_restarts_mult3_jumps', 'CosineAnnealingWarmRestarts', {'T_0': 2, 'T_mult': 3}, None, SGD,
     ['n'] * 6 + [20, 'n', 7.5, 'n', 80, 'n', 1, 'n'] + ['n'] * 10, 9),
    ('onecycle_sgd_cos', 'OneCycleLR', {'max_lr': [0.5, 0.1], 'total_steps': 40}, None, SGD, plain(), 17),
    ('onecycle_adam_linear_three_phase', 'OneCycleLR',
     {'max_lr': 0.01, 'epochs': 4, 'steps_per_epoch': 10, 'anneal_strategy': 'linear', 'three_phase': True,
      'base_momentum': [0.8, 0.85], 'max_momentum': [0.9, 0.95], 'div_factor': 10.0, 'final_div_factor': 100.0,
      'pct_start': 0.25}, None, ('Adam', {'lr': 0.001}), plain(), 17),
    ('onecycle_adamw_no_momentum_jumps', 'OneCycleLR',
     {'max_lr': [0.02, 0.04], 'total_steps': 30, 'pct_start': 0.4, 'cycle_momentum': False}, None,
     ('AdamW', {'lr': 0.001}), ['n'] * 8 + [20, 'n', 3, 'n'] + ['n'] * 10, 10),
    ('onecycle_three_phase_cos', 'OneCycleLR',
     {'max_lr': [0.3, 0.06], 'total_steps': 37, 'three_phase': True, 'pct_start': 0.35}, None, SGD, plain(37), 20),
    ('plateau_min_rel', 'ReduceLROnPlateau',
     {'patience': 2, 'factor': 0.5, 'cooldown': 1, 'min_lr': [0.001, 0.005], 'threshold': 0.01}, None, SGD,
     metrics_min(), 17),
    ('plateau_max_abs', 'ReduceLROnPlateau',
     {'mode': 'max', 'threshold_mode': 'abs', 'threshold': 0.05, 'patience': 3, 'factor': 0.3, 'eps': 1e-4},
     None, SGD, metrics_max(), 20),
    ('plateau_defaults', 'ReduceLROnPlateau', {}, None, SGD, [1.0] * 40, 15),
    ('plateau_max_rel', 'ReduceLROnPlateau', {'mode': 'max', 'patience': 0, 'factor': 0.7, 'min_lr': 0.01},
     None, SGD, metrics_max(), 12),
    ('polynomial', 'PolynomialLR', {'total_iters': 12, 'power': 2.0}, None, SGD, plain(20), 7),
    ('polynomial_default_jumps', 'PolynomialLR', {}, None, SGD, ['n'] * 3 + [7, 'n', 2, 'n', 0] + ['n'] * 6, 5),
    ('polynomial_half_power', 'PolynomialLR', {'total_iters': 30, 'power': 0.5}, None, SGD, plain(35), 12),
    ('cyclic_triangular', 'CyclicLR', {'base_lr': [0.01, 0.002], 'max_lr': [0.1, 0.02], 'step_size_up': 4}, None,
     SGD, plain(), 17),
    ('cyclic_triangular2_uneven', 'CyclicLR',
     {'base_lr': 0.01, 'max_lr': 0.1, 'step_size_up': 3, 'step_size_down': 5, 'mode': 'triangular2',
      'base_momentum': [0.7, 0.75], 'max_momentum': [0.95, 0.9]}, None, SGD, plain(), 13),
    ('cyclic_exp_range_jumps', 'CyclicLR',
     {'base_lr': 0.001, 'max_lr': 0.006, 'step_size_up': 5, 'mode': 'exp_range', 'gamma': 0.97}, None, SGD,
     ['n'] * 6 + [20, 'n', 3, 'n'] + ['n'] * 10, 9),
    # scale_fn of the cycle, a fall of no steps (a sawtooth), RMSprop's momentum
    ('cyclic_scale_fn_cycle_rmsprop', 'CyclicLR',
     {'base_lr': 0.02, 'max_lr': 0.05, 'step_size_up': 4, 'step_size_down': 0, 'scale_fn': 'inv_cycle'}, None,
     ('RMSprop', {'lr': 0.01, 'momentum': 0.5}), plain(), 11),
    # scale_fn of the step; Adam without cycle_momentum (PyTorch 1.13 refuses
    # Adam with it)
    ('cyclic_scale_fn_iterations_adam', 'CyclicLR',
     {'base_lr': [0.001, 0.0005], 'max_lr': 0.004, 'step_size_up': 6, 'scale_fn': 'decay_iter',
      'scale_mode': 'iterations', 'cycle_momentum': False}, None, ('Adam', {'lr': 0.001}), plain(), 15),
    ('sequential_warmup_cosine', 'SequentialLR',
     {'schedulers': [['LinearLR', {'start_factor': 0.1, 'total_iters': 5}],
                     ['CosineAnnealingLR', {'T_max': 20, 'eta_min': 0.001}]], 'milestones': [5]}, None, SGD,
     plain(), 8),
    ('sequential_three', 'SequentialLR',
     {'schedulers': [['ConstantLR', {'factor': 0.5, 'total_iters': 3}], ['ExponentialLR', {'gamma': 0.9}],
                     ['StepLR', {'step_size': 4, 'gamma': 0.5}]], 'milestones': [4, 15]}, None, SGD, plain(), 14),
    # members without a closed form, stepped from epoch 0 at their milestone
    ('sequential_lambda_restarts_multistep', 'SequentialLR',
     {'schedulers': [['LambdaLR', {'lr_lambda': 'inv'}], ['CosineAnnealingWarmRestarts', {'T_0': 4, 'T_mult': 2}],
                     ['MultiStepLR', {'milestones': [3, 6], 'gamma': 0.5}]], 'milestones': [6, 20]}, None, SGD,
     plain(), 19),
    ('sequential_cyclic_polynomial', 'SequentialLR',
     {'schedulers': [['CyclicLR', {'base_lr': 0.01, 'max_lr': 0.05, 'step_size_up': 3}],
                     ['PolynomialLR', {'total_iters': 10, 'power': 1.5}]], 'milestones': [12]}, None, SGD, plain(30), 9),
    ('chained_constant_exponential', 'ChainedScheduler',
     {'schedulers': [['ConstantLR', {'factor': 0.1, 'total_iters': 2}], ['ExponentialLR', {'gamma': 0.9}]]}, None,
     SGD, plain(), 17),
    ('chained_three', 'ChainedScheduler',
     {'schedulers': [['LinearLR', {'start_factor': 0.2, 'total_iters': 6}],
                     ['MultiStepLR', {'milestones': [10, 20], 'gamma': 0.3}],
                     ['MultiplicativeLR', {'lr_lambda': 'const97'}]]}, None, SGD, plain(), 12),
    ('chained_sequential_exponential', 'ChainedScheduler',
     {'schedulers': [['SequentialLR', {'schedulers': [['ConstantLR', {'factor': 0.5, 'total_iters': 4}],
                                                      ['StepLR', {'step_size': 5, 'gamma': 0.5}]],
                                       'milestones': [6]}],
                     ['ExponentialLR', {'gamma': 0.98}]]}, None, SGD, plain(), 10),
]


def make(opt, sched_name, opts):
    """the scheduler sched_name(opt, **opts), its members made first, in order;
    named lr_lambda and scale_fn resolved"""
    kw = dict(opts)
    if isinstance(kw.get('lr_lambda'), str):
        kw['lr_lambda'] = LAMBDAS[kw['lr_lambda']]
    if isinstance(kw.get('scale_fn'), str):
        kw['scale_fn'] = SCALE_FNS[kw['scale_fn']]
    if 'schedulers' in kw:
        kw['schedulers'] = [make(opt, n, o) for n, o in kw['schedulers']]
    cls = getattr(torch.optim.lr_scheduler, sched_name)
    if sched_name == 'ChainedScheduler':
        return cls(**kw)
    return cls(opt, **kw)


def cycles_momentum(sched_name, opts):
    if sched_name in ('OneCycleLR', 'CyclicLR'):
        return opts.get('cycle_momentum', True)
    return any(cycles_momentum(n, o) for n, o in opts.get('schedulers', []))


def build(sched_name, opts, lambdas, optim):
    ps = [torch.zeros(1, requires_grad=True) for _ in LRS]
    opt_name, opt_opts = optim
    opt = getattr(torch.optim, opt_name)([{'params': [p], 'lr': lr} for p, lr in zip(ps, LRS)], **opt_opts)
    kw = dict(opts)
    if lambdas is not None:
        kw['lr_lambda'] = [LAMBDAS[n] for n in lambdas] if isinstance(lambdas, list) else LAMBDAS[lambdas]
    sched = make(opt, sched_name, kw)
    return opt, sched


def without_weakrefs(sd):
    """sd without CyclicLR's _scale_fn_ref, a weak reference to a method of
    the scheduler that saved it (PyTorch 1.13 saves it, and a load after
    that scheduler is gone calls None; later versions leave it out)"""
    sd = {k: v for k, v in sd.items() if k != '_scale_fn_ref'}
    if '_schedulers' in sd:
        sd['_schedulers'] = [without_weakrefs(s) for s in sd['_schedulers']]
    return sd


def record(opt, one_cycle):
    lrs = [g['lr'] for g in opt.param_groups]
    if not one_cycle:
        return lrs, None
    return lrs, [g['betas'][0] if 'betas' in g else g['momentum'] for g in opt.param_groups]


def act(opt, sched, a, plateau):
    opt.step()
    if plateau:
        sched.step(a)
    elif a == 'n':
        sched.step()
    else:
        sched.step(a)


def run(case):
    name, sched_name, opts, lambdas, optim, actions, resume_at = case
    plateau = sched_name == 'ReduceLROnPlateau'
    one_cycle = cycles_momentum(sched_name, opts)
    opt, sched = build(sched_name, opts, lambdas, optim)
    values, momenta = [], []
    v, m = record(opt, one_cycle)
    values.append(v)
    momenta.append(m)
    for a in actions:
        act(opt, sched, a, plateau)
        v, m = record(opt, one_cycle)
        values.append(v)
        momenta.append(m)
    # the resumed run
    opt, sched = build(sched_name, opts, lambdas, optim)
    for a in actions[:resume_at]:
        act(opt, sched, a, plateau)
    osd, ssd = opt.state_dict(), without_weakrefs(sched.state_dict())
    opt, sched = build(sched_name, opts, lambdas, optim)
    opt.load_state_dict(osd)
    sched.load_state_dict(ssd)
    resumed, resumed_m = [], []
    for a in actions[resume_at:]:
        act(opt, sched, a, plateau)
        v, m = record(opt, one_cycle)
        resumed.append(v)
        resumed_m.append(m)
    return values, momenta if one_cycle else None, resumed, resumed_m if one_cycle else None


# ---- Lua output ----

def lua(v):
    """options with their keys sorted, floats as their shortest round-trip digits"""
    if isinstance(v, dict):
        v = dict(sorted(v.items()))
    return lua_value(v, F64, shortest=True)


def main():
    out = ['  lrs = %s,' % lua(LRS), '  cases = {']
    for case in CASES:
        name, sched_name, opts, lambdas, (opt_name, opt_opts), actions, resume_at = case
        values, momenta, resumed, resumed_m = run(case)
        out.append('    { name = %s, scheduler = %s, opts = %s, lambdas = %s, optim = %s, optim_opts = %s,'
                   % (lua(name), lua(sched_name), lua(opts), lua(lambdas) if lambdas else 'nil',
                      lua(opt_name), lua(opt_opts)))
        out.append('      actions = %s, resume_at = %d,' % (lua(actions), resume_at))
        for key, seq in (('values', values), ('momenta', momenta), ('resumed', resumed),
                         ('resumed_momenta', resumed_m)):
            if seq is None:
                continue
            out.append('      %s = {' % key)
            for v in seq:
                out.append('        %s,' % lua(v))
            out.append('      },')
        out.append('    },')
    out.append('  },')
    write_golden('lr_scheduler.lua',
                 ['generated by tests/golden/gen_lr_scheduler.py with PyTorch %s; do not edit' % torch.__version__], out)


if __name__ == '__main__':
    main()
