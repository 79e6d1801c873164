# gen_distributions_more.py: PyTorch 1.13 golden values for the later
# families of nl.distributions (lua/nnlua/distributions.lua): Cauchy,
# HalfNormal, HalfCauchy, Gumbel, Chi2, Geometric, Weibull, Pareto,
# StudentT, Multinomial and MixtureSameFamily: log_prob, cdf, icdf,
# entropy, mean, variance, stddev and mode, and kl_divergence of the pairs
# PyTorch registers among nnlua's families, with the gradients w.r.t. the
# parameters (float64 and float32). Writes tests/golden/distributions_more.lua,
# checked by tests/spec/distributions_more_spec.lua (same case format as
# gen_distributions.py). Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_distributions_more.py
#
# Each output's gradients are those of (out * w).sum(), w a fixed random
# tensor. New cases go at the end.
import torch
import torch.distributions as D
from common import F32, F64, write_golden
from dist_golden import CaseWriter, rn, ru

torch.manual_seed(20261129)

BUILD = {
    'Cauchy': lambda loc, scale: D.Cauchy(loc, scale),
    'HalfNormal': lambda scale: D.HalfNormal(scale),
    'HalfCauchy': lambda scale: D.HalfCauchy(scale),
    'Gumbel': lambda loc, scale: D.Gumbel(loc, scale),
    'Chi2': lambda df: D.Chi2(df),
    'Geometric_probs': lambda p: D.Geometric(probs=p),
    'Geometric_logits': lambda l: D.Geometric(logits=l),
    'Normal': lambda loc, scale: D.Normal(loc, scale),
    'Uniform': lambda lo, hi: D.Uniform(lo, hi),
    'Exponential': lambda rate: D.Exponential(rate),
    'Gamma': lambda c, r: D.Gamma(c, r),
    'Beta': lambda c1, c0: D.Beta(c1, c0),
    'Laplace': lambda loc, scale: D.Laplace(loc, scale),
    'Weibull': lambda scale, k: D.Weibull(scale, k),
    'Pareto': lambda scale, alpha: D.Pareto(scale, alpha),
    'StudentT': lambda df, loc, scale: D.StudentT(df, loc, scale),
    'StudentT_df': lambda df: D.StudentT(df),
    'Multinomial_probs': lambda p: D.Multinomial(5, probs=p),
    'Multinomial_logits': lambda l: D.Multinomial(3, logits=l),
    'MSF_Normal': lambda logits, loc, scale: D.MixtureSameFamily(D.Categorical(logits=logits), D.Normal(loc, scale)),
    'MSF_Independent': lambda probs, loc, scale: D.MixtureSameFamily(
        D.Categorical(probs=probs), D.Independent(D.Normal(loc, scale), 1)),
}
STATS = ('mean', 'variance', 'stddev', 'mode')
W = CaseWriter(BUILD, STATS)
LINES, case, kl_case = W.lines, W.case, W.kl_case


ALL = ('log_prob', 'cdf', 'icdf', 'entropy', 'mean', 'variance', 'stddev', 'mode')
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    P = lambda *s: ru(0.05, 0.95, *s, dtype=dt)
    case('Cauchy ' + tag, 'Cauchy', [rn(3, dtype=dt), ru(0.5, 2, 2, 1, dtype=dt)], ALL,
         {'log_prob': rn(2, 3, dtype=dt) * 3, 'cdf': rn(4, 2, 3, dtype=dt) * 3, 'icdf': P(2, 3)})
    case('HalfNormal ' + tag, 'HalfNormal', [ru(0.5, 2, 2, 3, dtype=dt)], ALL,
         {'log_prob': ru(0, 3, 2, 3, dtype=dt), 'cdf': ru(0, 3, 4, 2, 3, dtype=dt), 'icdf': P(2, 3)})
    case('HalfCauchy ' + tag, 'HalfCauchy', [ru(0.5, 2, 3, dtype=dt)], ALL,
         {'log_prob': ru(0, 5, 2, 3, dtype=dt), 'cdf': ru(0, 5, 3, dtype=dt), 'icdf': P(2, 3)})
    case('Gumbel ' + tag, 'Gumbel', [rn(2, 3, dtype=dt), ru(0.5, 2, 3, dtype=dt)], ALL,
         {'log_prob': rn(2, 3, dtype=dt) * 2, 'cdf': rn(4, 2, 3, dtype=dt) * 2, 'icdf': P(2, 3)})
    case('Chi2 ' + tag, 'Chi2', [ru(0.5, 6, 2, 3, dtype=dt)], ('log_prob', 'entropy', 'mean', 'variance', 'stddev', 'mode'),
         {'log_prob': ru(0.1, 6, 4, 2, 3, dtype=dt)})
    case('Geometric probs ' + tag, 'Geometric_probs', [torch.tensor([0.1, 0.5, 0.9, 1.0], dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance', 'stddev', 'mode'),
         {'log_prob': torch.tensor([[0, 3, 1, 0], [7, 0, 2, 0]], dtype=dt)})
    case('Geometric logits ' + tag, 'Geometric_logits', [rn(3, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance'), {'log_prob': torch.randint(0, 10, (2, 3)).to(dt)})


def pos(*s):
    return ru(0.5, 2, *s)


KL = [
    ('Cauchy', [rn(2, 3), pos(2, 3)], 'Cauchy', [rn(3), pos(3)]),
    ('HalfNormal', [pos(2, 3)], 'HalfNormal', [pos(3)]),
    ('HalfCauchy', [pos(3)], 'HalfCauchy', [pos(3)]),
    ('Gumbel', [rn(2, 3), pos(2, 3)], 'Gumbel', [rn(3), pos(3)]),
    ('Exponential', [pos(3)], 'Gumbel', [rn(3), pos(3)]),
    ('Gamma', [pos(3), pos(3)], 'Gumbel', [rn(3), pos(3)]),
    ('Normal', [rn(3), pos(3)], 'Gumbel', [rn(3), pos(3)]),
    ('Uniform', [torch.tensor([-1.0, 0.5, 2.0], dtype=F64), torch.tensor([0.5, 1.0, 4.0], dtype=F64)],
     'Gumbel', [rn(3), pos(3)]),
    ('Gumbel', [rn(3), pos(3)], 'Normal', [rn(3), pos(3)]),
    ('Gumbel', [rn(3), pos(3)], 'Beta', [pos(3), pos(3)]),
    ('Gumbel', [rn(3), pos(3)], 'Exponential', [pos(3)]),
    ('Gumbel', [rn(3), pos(3)], 'Gamma', [pos(3), pos(3)]),
    ('Gumbel', [rn(3), pos(3)], 'Uniform', [torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64)]),
    ('Geometric_probs', [ru(0.1, 0.9, 2, 3)], 'Geometric_logits', [rn(3)]),
    ('Chi2', [pos(3) * 2], 'Chi2', [pos(3) * 2]),
    ('Chi2', [pos(3) * 2], 'Gamma', [pos(3), pos(3)]),
    ('Chi2', [pos(3) * 2], 'Gumbel', [rn(3), pos(3)]),
]
for pk, pp, qk, qp in KL:
    kl_case('kl %s %s' % (pk, qk), pk, pp, qk, qp)


# the second group: Weibull, Pareto, StudentT (values in the support)
LINES.append('  -- Weibull, Pareto, StudentT')
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    P = lambda *s: ru(0.05, 0.95, *s, dtype=dt)
    case('Weibull ' + tag, 'Weibull', [ru(0.5, 2, 3, dtype=dt), torch.tensor([[0.7, 1.0, 2.5], [1.5, 3.0, 0.5]], dtype=dt)],
         ALL, {'log_prob': ru(0.1, 4, 2, 3, dtype=dt), 'cdf': ru(0.1, 4, 4, 2, 3, dtype=dt), 'icdf': P(2, 3)})
    scale = ru(0.5, 2, 3, dtype=dt)
    case('Pareto ' + tag, 'Pareto', [scale, torch.tensor([[0.5, 1.0, 1.5], [2.5, 3.0, 4.0]], dtype=dt)], ALL,
         {'log_prob': (scale + ru(0, 3, 2, 3, dtype=dt)).to(dt), 'cdf': (scale + ru(0, 3, 4, 2, 3, dtype=dt)).to(dt),
          'icdf': P(2, 3)})
    case('StudentT ' + tag, 'StudentT', [torch.tensor([[0.5, 1.0, 1.5], [2.0, 2.5, 30.0]], dtype=dt),
                                         rn(3, dtype=dt), ru(0.5, 2, 2, 1, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance', 'stddev', 'mode'), {'log_prob': rn(4, 2, 3, dtype=dt) * 2})
    case('StudentT df ' + tag, 'StudentT_df', [ru(0.5, 8, 4, dtype=dt)], ('log_prob', 'entropy', 'mean', 'mode'),
         {'log_prob': rn(4, dtype=dt)})

T = lambda v: torch.tensor(v, dtype=F64)
KL2 = [
    ('Pareto', [pos(2, 3), pos(3)], 'Pareto', [pos(3) * 0.5, pos(2, 3)]),
    ('Pareto', [T([1.0, 2.0, 0.5]), T([0.8, 2.0, 5.0])], 'Pareto', [T([1.5, 1.0, 0.5]), T([1.0, 3.0, 2.0])]),
    ('Pareto', [pos(3), T([0.5, 1.2, 3.0])], 'Exponential', [pos(3)]),
    ('Pareto', [pos(3), T([0.9, 1.5, 4.0])], 'Gamma', [pos(3), pos(3)]),
    ('Pareto', [pos(3), T([1.5, 2.2, 4.0])], 'Normal', [rn(3), pos(3)]),
    ('Pareto', [pos(3), pos(3)], 'Beta', [pos(3), pos(3)]),
    ('Pareto', [pos(3), pos(3)], 'Uniform', [T([0.0, 0.0, 0.0]), T([5.0, 5.0, 5.0])]),
    ('Uniform', [T([1.0, 0.2, 2.0]), T([2.0, 3.0, 2.5])], 'Pareto', [T([0.5, 0.5, 1.0]), pos(3)]),
    ('Beta', [pos(3), pos(3)], 'Pareto', [pos(3), pos(3)]),
    ('Exponential', [pos(3)], 'Pareto', [pos(3), pos(3)]),
    ('Gamma', [pos(3), pos(3)], 'Pareto', [pos(3), pos(3)]),
    ('Gumbel', [rn(3), pos(3)], 'Pareto', [pos(3), pos(3)]),
    ('Laplace', [rn(3), pos(3)], 'Pareto', [pos(3), pos(3)]),
    ('Normal', [rn(3), pos(3)], 'Pareto', [pos(3), pos(3)]),
]
for pk, pp, qk, qp in KL2:
    kl_case('kl %s %s' % (pk, qk), pk, pp, qk, qp)


# Multinomial, MixtureSameFamily
LINES.append('  -- Multinomial, MixtureSameFamily')
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    case('Multinomial probs ' + tag, 'Multinomial_probs', [ru(0.1, 1, 2, 4, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance'),
         {'log_prob': torch.tensor([[[2, 0, 1, 2], [0, 5, 0, 0]], [[1, 1, 1, 2], [3, 0, 2, 0]]], dtype=dt)})
    case('Multinomial logits ' + tag, 'Multinomial_logits', [rn(3, dtype=dt)], ('log_prob', 'entropy', 'mean', 'variance'),
         {'log_prob': torch.tensor([[1, 1, 1], [0, 3, 0], [2, 0, 1]], dtype=dt)})
    case('MSF Normal ' + tag, 'MSF_Normal', [rn(2, 3, dtype=dt), rn(2, 3, dtype=dt), ru(0.5, 2, 3, dtype=dt)],
         ('log_prob', 'cdf', 'mean', 'variance', 'stddev'), {'log_prob': rn(4, 2, dtype=dt) * 2, 'cdf': rn(2, dtype=dt)})
    case('MSF Independent ' + tag, 'MSF_Independent', [ru(0.1, 1, 3, dtype=dt), rn(3, 2, dtype=dt), ru(0.5, 2, 3, 2, dtype=dt)],
         ('log_prob', 'mean', 'variance'), {'log_prob': rn(5, 2, dtype=dt)})

write_golden('distributions_more.lua', [
    'PyTorch %s golden values for nl.distributions Cauchy, HalfNormal, HalfCauchy, Gumbel, Chi2,' % torch.__version__,
    'Geometric, Weibull, Pareto, StudentT, Multinomial and MixtureSameFamily, their kl_divergence pairs, and the gradients. Made by tests/golden/gen_distributions_more.py;',
    'checked by tests/spec/distributions_more_spec.lua. Do not edit.'], LINES)
