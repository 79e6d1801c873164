# gen_lbfgs.py: PyTorch golden trajectories of torch.optim.LBFGS for
# nnlua's optim.LBFGS. Writes tests/golden/lbfgs.lua (checked by
# tests/spec/lbfgs_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_lbfgs.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case: a small deterministic problem (the Rosenbrock function in 2
# and 4 dims, a least-squares linear regression and a logistic regression,
# the last two over a weight and a bias, so over two parameters), the
# starting parameters, the optimizer's options and a number of
# opt.step(closure) calls. Recorded after each step: the loss step
# returned, every parameter, and the state's func_evals and n_iter (which
# follow every branch of the iteration and the line search).
import torch
import torch.nn.functional as F
from common import F32, F64, lua_tensor, lua_value, write_golden


def rosenbrock(x):
    a, b = x[:-1], x[1:]
    return (100 * (b - a ** 2) ** 2 + (1 - a) ** 2).sum()


def linreg(W, b, X, y):
    return F.mse_loss(F.linear(X, W, b), y)


def logreg(W, b, X, y):
    return F.binary_cross_entropy_with_logits(F.linear(X, W, b), y)


def regression_data(dtype):
    g = torch.Generator().manual_seed(3)
    X = torch.randn(16, 3, generator=g, dtype=F64)
    y = X @ torch.tensor([[0.5], [-1.0], [2.0]], dtype=F64) + 0.3 + 0.1 * torch.randn(16, 1, generator=g, dtype=F64)
    return X.to(dtype), y.to(dtype)


def classification_data(dtype):
    # labels from a noisy linear rule: not separable, so the minimum is finite
    g = torch.Generator().manual_seed(5)
    X = torch.randn(30, 2, generator=g, dtype=F64)
    logit = X @ torch.tensor([[1.5], [-0.8]], dtype=F64) + 0.2 + 0.8 * torch.randn(30, 1, generator=g, dtype=F64)
    return X.to(dtype), (logit > 0).to(dtype)


# name, problem, dtype, starting parameters, options, steps, resume_at
CASES = [
    ('rosenbrock_fixed_small_lr', 'rosenbrock', F64, [[-1.2, 1.0]], {'lr': 0.1, 'max_iter': 5, 'history_size': 3},
     6, 3),
    ('rosenbrock_fixed', 'rosenbrock', F64, [[-1.2, 1.0]], {'lr': 1, 'max_iter': 5, 'history_size': 3}, 6, 2),
    # max_eval (7 by default) ends each step before max_iter
    ('rosenbrock_wolfe', 'rosenbrock', F64, [[-1.5, 2.0]], {'max_iter': 6, 'line_search_fn': 'strong_wolfe'}, 5, 2),
    ('rosenbrock_wolfe_defaults', 'rosenbrock', F64, [[-1.5, 2.0]], {'line_search_fn': 'strong_wolfe'}, 4, 1),
    # to a stationary point: the steps end on small changes, then at once
    ('rosenbrock4_wolfe_history2', 'rosenbrock', F64, [[-1.0, 1.2, 0.8, -0.5]],
     {'max_iter': 6, 'history_size': 2, 'line_search_fn': 'strong_wolfe'}, 6, 3),
    ('linreg_fixed', 'linreg', F64, [[[0.1, 0.2, -0.3]], [0.0]], {'lr': 1, 'max_iter': 4}, 4, 2),
    # converges within the first step (tolerance_grad 1e-4 met after a line
    # search); each later step returns at its first gradient
    ('linreg_wolfe', 'linreg', F64, [[[0.1, 0.2, -0.3]], [0.0]],
     {'max_iter': 8, 'tolerance_grad': 1e-4, 'line_search_fn': 'strong_wolfe'}, 4, 1),
    ('logreg_fixed_max_eval', 'logreg', F64, [[[0.0, 0.0]], [0.0]],
     {'lr': 0.5, 'max_iter': 10, 'max_eval': 6, 'tolerance_change': 1e-4}, 5, 2),
    ('logreg_wolfe_float32', 'logreg', F32, [[[0.3, -0.2]], [0.1]],
     {'max_iter': 5, 'history_size': 4, 'line_search_fn': 'strong_wolfe'}, 4, 2),
    # (2 steps: a third ends on a change of the loss below 1e-9, which
    # float32's rounding decides)
    ('logreg_fixed_float32', 'logreg', F32, [[[0.3, -0.2]], [0.1]], {'lr': 0.8, 'max_iter': 6}, 2, 1),
]


def run(problem, dtype, start, opts, steps):
    params = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in start]
    if problem == 'rosenbrock':
        f = lambda: rosenbrock(params[0])
        data = None
    else:
        X, y = regression_data(dtype) if problem == 'linreg' else classification_data(dtype)
        fn = linreg if problem == 'linreg' else logreg
        f = lambda: fn(params[0], params[1], X, y)
        data = (X, y)
    opt = torch.optim.LBFGS(params, **opts)

    def closure():
        opt.zero_grad()
        loss = f()
        loss.backward()
        return loss

    out = []
    for _ in range(steps):
        loss = opt.step(closure)
        st = opt.state[params[0]]
        out.append({'loss': float(loss), 'params': [p.detach().clone() for p in params],
                    'func_evals': st['func_evals'], 'n_iter': st['n_iter']})
    return data, out


def main():
    out = ['  cases = {']
    for name, problem, dtype, start, opts, steps, resume_at in CASES:
        data, rec = run(problem, dtype, start, opts, steps)
        shortest = dtype == F64
        out.append("    { name = '%s', problem = '%s', dtype = '%s', opts = %s, resume_at = %d,"
                   % (name, problem, 'float64' if dtype == F64 else 'float32',
                      lua_value(dict(sorted(opts.items())), F64, shortest=True), resume_at))
        out.append('      start = { %s },' % ', '.join(lua_tensor(torch.tensor(v, dtype=dtype), shortest) for v in start))
        if data is not None:
            out.append('      X = %s,' % lua_tensor(data[0], shortest))
            out.append('      y = %s,' % lua_tensor(data[1], shortest))
        out.append('      steps = {')
        for r in rec:
            out.append('        { loss = %s, func_evals = %d, n_iter = %d, params = { %s } },'
                       % (lua_value(r['loss'], F64, shortest=True), r['func_evals'], r['n_iter'],
                          ', '.join(lua_tensor(p, shortest) for p in r['params'])))
        out.append('      },')
        out.append('    },')
    out.append('  },')
    write_golden('lbfgs.lua', ['generated by tests/golden/gen_lbfgs.py with PyTorch %s; do not edit' % torch.__version__],
                 out)


if __name__ == '__main__':
    main()
