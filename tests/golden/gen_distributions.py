# gen_distributions.py: PyTorch 1.13 golden values for nl.distributions
# (lua/nnlua/distributions.lua): log_prob, cdf, icdf, entropy, mean,
# variance, stddev and mode of Normal, Bernoulli, Categorical,
# OneHotCategorical, Uniform, Exponential, Laplace, MultivariateNormal,
# Independent, Gamma, Beta, Dirichlet, Poisson, Binomial, LogNormal and
# TransformedDistribution (of Exp, Affine, Sigmoid, Tanh and Power
# transforms), and kl_divergence of the pairs PyTorch registers among
# them, with the gradients w.r.t. the parameters. Writes
# tests/golden/distributions.lua (checked by
# tests/spec/distributions_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_distributions.py
#
# A case's kind names how its leaves make the distribution (BUILD below;
# the spec has the same builders): MultivariateNormal's matrices are made
# from a free leaf A (A A^T + I/2, or the lower triangle of A), so the
# gradients are w.r.t. A. Each output's gradients are those of
# (out * w).sum(), w a fixed random tensor. Categorical values are written
# 1-based, as nnlua's labels. New cases go at the end: the random stream of
# the earlier ones stays as it was.
import torch
import torch.distributions as D
from common import F32, F64, I64, lua_tensor, write_golden
from dist_golden import CaseWriter, lua_list_of, out_and_grads, rn, ru

torch.manual_seed(20261128)


def sym(A):
    return A @ A.transpose(-1, -2) + 0.5 * torch.eye(A.shape[-1], dtype=A.dtype)


BUILD = {
    'Normal': lambda loc, scale: D.Normal(loc, scale),
    'Bernoulli_probs': lambda p: D.Bernoulli(probs=p),
    'Bernoulli_logits': lambda l: D.Bernoulli(logits=l),
    'Categorical_probs': lambda p: D.Categorical(probs=p),
    'Categorical_logits': lambda l: D.Categorical(logits=l),
    'OneHotCategorical_probs': lambda p: D.OneHotCategorical(probs=p),
    'OneHotCategorical_logits': lambda l: D.OneHotCategorical(logits=l),
    'Uniform': lambda lo, hi: D.Uniform(lo, hi),
    'Exponential': lambda rate: D.Exponential(rate),
    'Laplace': lambda loc, scale: D.Laplace(loc, scale),
    'MVN_cov': lambda loc, A: D.MultivariateNormal(loc, covariance_matrix=sym(A)),
    'MVN_prec': lambda loc, A: D.MultivariateNormal(loc, precision_matrix=sym(A)),
    'MVN_tril': lambda loc, A: D.MultivariateNormal(loc, scale_tril=A.tril()),
    'Independent_Normal': lambda loc, scale: D.Independent(D.Normal(loc, scale), 1),
    'Gamma': lambda c, r: D.Gamma(c, r),
    'Beta': lambda c1, c0: D.Beta(c1, c0),
    'Dirichlet': lambda c: D.Dirichlet(c),
    'Poisson': lambda rate: D.Poisson(rate),
    'Binomial_probs': lambda p: D.Binomial(8, probs=p),
    'Binomial_logits': lambda l: D.Binomial(torch.tensor([[3.0], [8.0]], dtype=l.dtype), logits=l),
    'LogNormal': lambda loc, scale: D.LogNormal(loc, scale),
    'TD_exp': lambda loc, scale: D.TransformedDistribution(D.Normal(loc, scale), [D.ExpTransform()]),
    'TD_affine': lambda loc, scale, a, b: D.TransformedDistribution(
        D.Normal(loc, scale), [D.AffineTransform(a, b, event_dim=1)]),
    'TD_sigmoid_affine': lambda loc, scale, b: D.TransformedDistribution(
        D.Normal(loc, scale), [D.SigmoidTransform(), D.AffineTransform(0.5, b)]),
    'TD_tanh': lambda loc, scale: D.TransformedDistribution(D.Normal(loc, scale), D.TanhTransform()),
    'TD_power': lambda rate, e: D.TransformedDistribution(D.Exponential(rate), [D.PowerTransform(e)]),
}
STATS = ('mean', 'variance', 'stddev')


W = CaseWriter(BUILD, STATS, keep_zero_grads=True, one_based=('Categorical',))
LINES, case, kl_case = W.lines, W.case, W.kl_case


def lower(n, *batch, dtype=F64):
    """a lower-triangular matrix with a positive diagonal (and junk above,
    which scale_tril's tril drops)"""
    A = rn(*batch, n, n)
    idx = torch.arange(n)
    A[..., idx, idx] = ru(0.5, 1.5, *batch, n)
    return A.to(dtype)


ALL = ('log_prob', 'cdf', 'icdf', 'entropy', 'mean', 'variance', 'stddev')
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    # Normal: loc (3,) and scale (2, 1) broadcast to batch (2, 3)
    case('Normal ' + tag, 'Normal', [rn(3, dtype=dt), ru(0.5, 2, 2, 1, dtype=dt)], ALL,
         {'log_prob': rn(2, 3, dtype=dt), 'cdf': rn(2, 3, dtype=dt), 'icdf': ru(0.05, 0.95, 2, 3, dtype=dt)})
    case('Laplace ' + tag, 'Laplace', [rn(2, 3, dtype=dt), ru(0.5, 2, 3, dtype=dt)], ALL,
         {'log_prob': rn(2, 3, dtype=dt), 'cdf': rn(2, 3, dtype=dt), 'icdf': ru(0.05, 0.95, 2, 3, dtype=dt)})
    case('Exponential ' + tag, 'Exponential', [ru(0.5, 2, 2, 3, dtype=dt)], ALL,
         {'log_prob': ru(0, 3, 2, 3, dtype=dt), 'cdf': ru(0, 3, 4, 2, 3, dtype=dt),
          'icdf': ru(0.05, 0.95, 2, 3, dtype=dt)})
    lo = rn(4, dtype=dt)
    case('Uniform ' + tag, 'Uniform', [lo, lo + ru(0.5, 2, 4, dtype=dt)], ALL,
         {'log_prob': (lo + 0.3).to(dt), 'cdf': (lo + ru(0, 0.5, 3, 4)).to(dt), 'icdf': ru(0, 1, 4, dtype=dt)})
    case('Bernoulli probs ' + tag, 'Bernoulli_probs', [ru(0.05, 0.95, 2, 3, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance', 'stddev'),
         {'log_prob': torch.randint(0, 2, (2, 3)).to(dt)})
    case('Bernoulli logits ' + tag, 'Bernoulli_logits', [rn(4, dtype=dt) * 2],
         ('log_prob', 'entropy', 'mean', 'variance'), {'log_prob': torch.randint(0, 2, (3, 4)).to(dt)})
    case('Categorical probs ' + tag, 'Categorical_probs', [ru(0.1, 1, 2, 4, dtype=dt)], ('log_prob', 'entropy'),
         {'log_prob': torch.randint(0, 4, (3, 2))})
    case('Categorical logits ' + tag, 'Categorical_logits', [rn(5, dtype=dt)], ('log_prob', 'entropy'),
         {'log_prob': torch.randint(0, 5, (6,))})
    case('OneHotCategorical probs ' + tag, 'OneHotCategorical_probs', [ru(0.1, 1, 2, 3, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance'),
         {'log_prob': torch.nn.functional.one_hot(torch.randint(0, 3, (2,)), 3).to(dt)})
    case('OneHotCategorical logits ' + tag, 'OneHotCategorical_logits', [rn(4, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance'),
         {'log_prob': torch.nn.functional.one_hot(torch.randint(0, 4, (3,)), 4).to(dt)})
    # MultivariateNormal: loc (3,) with a batch (2,) of matrices; values (4, 2, 3)
    case('MVN covariance ' + tag, 'MVN_cov', [rn(3, dtype=dt), rn(2, 3, 3, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance', 'stddev'), {'log_prob': rn(4, 2, 3, dtype=dt)})
    case('MVN precision ' + tag, 'MVN_prec', [rn(2, 3, dtype=dt), rn(3, 3, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance'), {'log_prob': rn(2, 3, dtype=dt)})
    case('MVN scale_tril ' + tag, 'MVN_tril', [rn(4, dtype=dt), lower(4, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance'), {'log_prob': rn(5, 4, dtype=dt)})
    case('Independent Normal ' + tag, 'Independent_Normal', [rn(2, 3, dtype=dt), ru(0.5, 2, 2, 3, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance'), {'log_prob': rn(4, 2, 3, dtype=dt)})


def pos(*s):
    return ru(0.5, 2, *s)


lo_p, lo_q = rn(3), rn(3)
lo_q[1] = lo_p[1] + 0.1                     # q.low > p.low there: infinite
KL = [
    ('Normal', [rn(2, 3), pos(2, 3)], 'Normal', [rn(3), pos(3)]),
    ('Bernoulli_probs', [torch.tensor([0.0, 0.3, 0.7, 1.0, 0.5], dtype=F64)],
     'Bernoulli_probs', [torch.tensor([0.2, 0.4, 0.6, 0.8, 1.0], dtype=F64)]),
    ('Bernoulli_logits', [rn(4)], 'Bernoulli_probs', [ru(0.1, 0.9, 4)]),
    ('Categorical_probs', [ru(0.1, 1, 2, 4)], 'Categorical_logits', [rn(4)]),
    ('OneHotCategorical_logits', [rn(3, 5)], 'OneHotCategorical_probs', [ru(0.1, 1, 3, 5)]),
    ('Uniform', [lo_p, lo_p + 1.5], 'Uniform', [lo_q - 0.2 * (torch.arange(3) != 1), lo_q + 2.5]),
    ('Exponential', [pos(4)], 'Exponential', [pos(4)]),
    ('Laplace', [rn(4), pos(4)], 'Laplace', [rn(4), pos(4)]),
    ('MVN_cov', [rn(3), rn(2, 3, 3)], 'MVN_tril', [rn(2, 3), lower(3)]),
    ('MVN_prec', [rn(3), rn(3, 3)], 'MVN_cov', [rn(3), rn(3, 3)]),
    ('Independent_Normal', [rn(2, 3), pos(2, 3)], 'Independent_Normal', [rn(2, 3), pos(2, 3)]),
    ('Exponential', [pos(3)], 'Normal', [rn(3), pos(3)]),
    ('Laplace', [rn(3), pos(3)], 'Normal', [rn(3), pos(3)]),
    ('Normal', [rn(3), pos(3)], 'Laplace', [rn(3), pos(3)]),
    ('Uniform', [torch.tensor([0.5, -0.5, 1.0], dtype=F64), torch.tensor([1.5, 2.0, 3.0], dtype=F64)],
     'Exponential', [pos(3)]),
    ('Uniform', [lo_p, lo_p + 1.0], 'Normal', [rn(3), pos(3)]),
    ('Normal', [rn(3), pos(3)], 'Uniform', [lo_p, lo_p + 1.0]),
    ('Normal', [rn(3), pos(3)], 'Exponential', [pos(3)]),
    ('Exponential', [pos(3)], 'Uniform', [lo_p, lo_p + 1.0]),
    ('Laplace', [rn(3), pos(3)], 'Exponential', [pos(3)]),
    ('Laplace', [rn(3), pos(3)], 'Uniform', [lo_p, lo_p + 1.0]),
]
for pk, pp, qk, qp in KL:
    kl_case('kl %s %s' % (pk, qk), pk, pp, qk, qp)


# the second group: Gamma, Beta, Dirichlet, Poisson, Binomial, LogNormal
LINES.append('  -- the second group')
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    case('Gamma ' + tag, 'Gamma', [ru(0.3, 3, 2, 3, dtype=dt), ru(0.5, 2, 3, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance', 'stddev'), {'log_prob': ru(0.1, 3, 4, 2, 3, dtype=dt)})
    case('Beta ' + tag, 'Beta', [ru(0.3, 3, 4, dtype=dt), ru(0.3, 3, 2, 1, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance', 'stddev'), {'log_prob': ru(0.05, 0.95, 2, 4, dtype=dt)})
    case('Dirichlet ' + tag, 'Dirichlet', [ru(0.3, 3, 2, 4, dtype=dt)], ('log_prob', 'entropy', 'mean', 'variance'),
         {'log_prob': torch.distributions.Dirichlet(torch.ones(3, 2, 4, dtype=F64)).sample().to(dt)})
    case('Poisson ' + tag, 'Poisson', [ru(0.5, 20, 5, dtype=dt)], ('log_prob', 'mean', 'variance', 'stddev'),
         {'log_prob': torch.randint(0, 25, (3, 5)).to(dt)})
    case('Binomial probs ' + tag, 'Binomial_probs', [ru(0.05, 0.95, 3, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance'), {'log_prob': torch.randint(0, 9, (2, 3)).to(dt)})
    case('Binomial logits ' + tag, 'Binomial_logits', [rn(3, dtype=dt)], ('log_prob', 'mean', 'variance'),
         {'log_prob': torch.tensor([[0, 3, 1], [8, 5, 0]]).to(dt)})
    case('LogNormal ' + tag, 'LogNormal', [rn(3, dtype=dt), ru(0.3, 1.5, 2, 1, dtype=dt)], ALL,
         {'log_prob': ru(0.1, 4, 2, 3, dtype=dt), 'cdf': ru(0.1, 4, 2, 3, dtype=dt), 'icdf': ru(0.05, 0.95, 2, 3, dtype=dt)})

U = lambda lo, hi: [torch.tensor(lo, dtype=F64), torch.tensor(hi, dtype=F64)]
KL2 = [
    ('Gamma', [pos(2, 3), pos(3)], 'Gamma', [pos(3), pos(2, 3)]),
    ('Beta', [pos(3), pos(3)], 'Beta', [pos(3), pos(3)]),
    ('Dirichlet', [pos(2, 4)], 'Dirichlet', [pos(4)]),
    ('Poisson', [pos(4)], 'Poisson', [pos(4)]),
    ('Binomial_probs', [ru(0.1, 0.9, 3)], 'Binomial_probs', [ru(0.1, 0.9, 3)]),
    ('Binomial_probs', [ru(0.1, 0.9, 3)], 'Binomial_logits', [rn(3)]),
    ('LogNormal', [rn(3), pos(3)], 'LogNormal', [rn(3), pos(3)]),
    ('Bernoulli_probs', [ru(0.1, 0.9, 3)], 'Poisson', [pos(3)]),
    ('Beta', [pos(3), pos(3)], 'Exponential', [pos(3)]),
    ('Beta', [pos(3), pos(3)], 'Gamma', [pos(3), pos(3)]),
    ('Beta', [pos(3), pos(3)], 'Normal', [rn(3), pos(3)]),
    ('Beta', [pos(3), pos(3)], 'Uniform', U([-0.1, 0.1, -0.5], [1.2, 1.5, 0.9])),
    ('Exponential', [pos(3)], 'Beta', [pos(3), pos(3)]),
    ('Exponential', [pos(3)], 'Gamma', [pos(3), pos(3)]),
    ('Gamma', [pos(3), pos(3)], 'Beta', [pos(3), pos(3)]),
    ('Gamma', [pos(3), pos(3)], 'Uniform', U([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])),
    ('Gamma', [pos(3), pos(3)], 'Exponential', [pos(3)]),
    ('Gamma', [pos(3), pos(3)], 'Normal', [rn(3), pos(3)]),
    ('Laplace', [rn(3), pos(3)], 'Beta', [pos(3), pos(3)]),
    ('Laplace', [rn(3), pos(3)], 'Gamma', [pos(3), pos(3)]),
    ('Normal', [rn(3), pos(3)], 'Beta', [pos(3), pos(3)]),
    ('Normal', [rn(3), pos(3)], 'Gamma', [pos(3), pos(3)]),
    ('Poisson', [pos(3)], 'Bernoulli_probs', [ru(0.1, 0.9, 3)]),
    ('Poisson', [pos(3)], 'Binomial_probs', [ru(0.1, 0.9, 3)]),
    ('Uniform', U([0.1, -0.1, 0.2], [0.8, 0.5, 1.1]), 'Beta', [pos(3), pos(3)]),
    ('Uniform', U([0.1, -0.1, 0.2], [0.8, 0.5, 1.1]), 'Gamma', [pos(3), pos(3)]),
]
for pk, pp, qk, qp in KL2:
    kl_case('kl %s %s' % (pk, qk), pk, pp, qk, qp)


# TransformedDistribution: values drawn from the distribution itself (in its support)
LINES.append('  -- TransformedDistribution')
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    for kind, params, methods in (
        ('TD_exp', [rn(3, dtype=dt), ru(0.3, 1.5, 3, dtype=dt)], ('log_prob', 'cdf', 'icdf')),
        ('TD_affine', [rn(2, 3, dtype=dt), ru(0.5, 1.5, 2, 3, dtype=dt), rn(3, dtype=dt),
                       torch.tensor([1.5, -0.7, 2.0], dtype=dt)], ('log_prob',)),
        ('TD_sigmoid_affine', [rn(3, dtype=dt), ru(0.5, 1.5, 3, dtype=dt), torch.tensor([2.0, -1.5, 0.5], dtype=dt)],
         ('log_prob', 'cdf', 'icdf')),
        ('TD_tanh', [rn(3, dtype=dt) * 0.5, ru(0.3, 1, 3, dtype=dt)], ('log_prob', 'cdf', 'icdf')),
        ('TD_power', [ru(0.5, 2, 3, dtype=dt), ru(0.5, 2, 3, dtype=dt)], ('log_prob', 'cdf', 'icdf')),
    ):
        d = BUILD[kind](*params)
        values = {'log_prob': d.sample((2,)), 'cdf': d.sample((2,)), 'icdf': ru(0.05, 0.95, 2, 3, dtype=dt)}
        case('%s %s' % (kind, tag), kind, params, methods, values)
kl_case('kl TD_exp TD_exp', 'TD_exp', [rn(3), pos(3)], 'TD_exp', [rn(3), pos(3)])
kl_case('kl LogNormal TD_exp', 'LogNormal', [rn(3), pos(3)], 'TD_exp', [rn(3), pos(3)])
kl_case('kl TD_affine TD_affine', 'TD_affine', [rn(2, 3), pos(2, 3), torch.tensor([1.0, 2.0, 3.0], dtype=F64),
                                                torch.tensor([1.5, -0.7, 2.0], dtype=F64)],
        'TD_affine', [rn(2, 3), pos(2, 3), torch.tensor([1.0, 2.0, 3.0], dtype=F64),
                      torch.tensor([1.5, -0.7, 2.0], dtype=F64)])


# mode: PyTorch's at edge values too (Bernoulli at 1/2, Dirichlet and Beta
# with every concentration below 1 or all 1, Gamma below 1, Binomial at p
# = 0 and 1). A gradient that is zero throughout (floor, a comparison) is
# written as none; Categorical's mode (int64) is written 1-based, with no w
LINES.append('  -- mode')


def mode_case(name, kind, params):
    leaves = [p.clone().requires_grad_(True) for p in params]
    d = BUILD[kind](*leaves)
    out = d.mode
    if out.dtype == I64:
        w, out, grads = torch.ones(out.shape, dtype=F64), out + 1, [None] * len(leaves)
    else:
        w, out, grads = out_and_grads(leaves, out)
    W.head(name, kind, params, d)
    LINES.append("    methods = { { m = 'mode', w = %s, out = %s, grads = %s } }," % (
        lua_tensor(w, True), lua_tensor(out, True), lua_list_of(grads)))
    LINES.append('  },')


for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    T = lambda v: torch.tensor(v, dtype=dt)
    lo = rn(4, dtype=dt)
    for kind, params in (
        ('Normal', [rn(3, dtype=dt), ru(0.5, 2, 2, 1, dtype=dt)]),
        ('Laplace', [rn(2, 3, dtype=dt), ru(0.5, 2, 3, dtype=dt)]),
        ('Exponential', [ru(0.5, 2, 2, 3, dtype=dt)]),
        ('Uniform', [lo, lo + ru(0.5, 2, 4, dtype=dt)]),
        ('Bernoulli_probs', [T([0.2, 0.5, 0.7, 0.0, 1.0])]),
        ('Bernoulli_logits', [T([-1.0, 0.0, 2.0])]),
        ('Categorical_probs', [T([[0.1, 0.5, 0.2, 0.2], [0.3, 0.3, 0.1, 0.3]])]),
        ('Categorical_logits', [rn(3, 5, dtype=dt)]),
        ('OneHotCategorical_probs', [T([[0.1, 0.5, 0.4], [0.4, 0.2, 0.4]])]),
        ('OneHotCategorical_logits', [rn(4, dtype=dt)]),
        ('MVN_cov', [rn(3, dtype=dt), rn(2, 3, 3, dtype=dt)]),
        ('MVN_tril', [rn(4, dtype=dt), lower(4, dtype=dt)]),
        ('Independent_Normal', [rn(2, 3, dtype=dt), ru(0.5, 2, 2, 3, dtype=dt)]),
        ('Gamma', [T([0.5, 1.0, 3.0]), ru(0.5, 2, 2, 3, dtype=dt)]),
        ('Beta', [T([0.5, 2.0, 3.0, 0.5, 1.0, 1.0]), T([0.5, 3.0, 0.5, 2.0, 1.0, 4.0])]),
        ('Dirichlet', [T([[0.5, 0.3, 0.8], [2.0, 3.0, 0.5], [1.0, 1.0, 1.0], [1.0, 0.5, 2.5]])]),
        ('Poisson', [T([0.3, 1.0, 4.5, 17.2])]),
        ('Binomial_probs', [T([0.3, 0.5, 1.0, 0.0, 0.95])]),
        ('Binomial_logits', [rn(3, dtype=dt)]),
        ('LogNormal', [rn(3, dtype=dt), ru(0.3, 1.5, 2, 1, dtype=dt)]),
    ):
        mode_case('%s mode %s' % (kind, tag), kind, params)

write_golden('distributions.lua', [
    'PyTorch %s golden values for nl.distributions: log_prob, cdf, icdf, entropy, mean, variance, stddev, mode,' % torch.__version__,
    'kl_divergence and their gradients. Made by tests/golden/gen_distributions.py; checked by',
    'tests/spec/distributions_spec.lua. Do not edit.'], LINES)
