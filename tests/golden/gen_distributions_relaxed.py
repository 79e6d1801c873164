# gen_distributions_relaxed.py: PyTorch 1.13 golden values for
# nl.distributions NegativeBinomial, FisherSnedecor, LogitRelaxedBernoulli,
# RelaxedBernoulli, ExpRelaxedCategorical, RelaxedOneHotCategorical and
# LowRankMultivariateNormal, Kumaraswamy, ContinuousBernoulli and VonMises
# (lua/nnlua/distributions.lua):
# log_prob, cdf, icdf, entropy, mean, variance, stddev, mode and the covariance matrices where
# PyTorch defines them, kl_divergence of LowRankMultivariateNormal with
# itself and MultivariateNormal and of ContinuousBernoulli with itself, with the gradients w.r.t. the parameters
# (temperature included), float64 and float32. Writes
# tests/golden/distributions_relaxed.lua, checked by
# tests/spec/distributions_relaxed_spec.lua (the case format of
# gen_distributions_more.py). Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_distributions_relaxed.py
#
# Each output's gradients are those of (out * w).sum(), w a fixed random
# tensor. New cases go at the end.
import torch
import torch.distributions as D
from common import F32, F64, write_golden
from dist_golden import CaseWriter, rn, ru

torch.manual_seed(20261130)

BUILD = {
    'NegativeBinomial_probs': lambda n, p: D.NegativeBinomial(n, probs=p),
    'NegativeBinomial_logits': lambda n, l: D.NegativeBinomial(n, logits=l),
    'FisherSnedecor': lambda df1, df2: D.FisherSnedecor(df1, df2),
    'LogitRelaxedBernoulli': lambda t, p: torch.distributions.relaxed_bernoulli.LogitRelaxedBernoulli(t, probs=p),
    'RelaxedBernoulli_probs': lambda t, p: D.RelaxedBernoulli(t, probs=p),
    'RelaxedBernoulli_logits': lambda t, l: D.RelaxedBernoulli(t, logits=l),
    'ExpRelaxedCategorical': lambda t, l: torch.distributions.relaxed_categorical.ExpRelaxedCategorical(t, logits=l),
    'RelaxedOneHotCategorical_probs': lambda t, p: D.RelaxedOneHotCategorical(t, probs=p),
    'RelaxedOneHotCategorical_logits': lambda t, l: D.RelaxedOneHotCategorical(t, logits=l),
    'LowRankMultivariateNormal': lambda loc, W, d: D.LowRankMultivariateNormal(loc, W, d),
    'MultivariateNormal': lambda loc, cov: D.MultivariateNormal(loc, cov),
    'Kumaraswamy': lambda a, b: D.Kumaraswamy(a, b),
    'ContinuousBernoulli_probs': lambda p: D.ContinuousBernoulli(probs=p),
    'ContinuousBernoulli_logits': lambda l: D.ContinuousBernoulli(logits=l),
    'VonMises': lambda loc, k: D.VonMises(loc, k),
}
STATS = ('mean', 'variance', 'stddev', 'mode', 'covariance_matrix', 'precision_matrix', 'scale_tril')
W = CaseWriter(BUILD, STATS)
LINES, case, kl_case = W.lines, W.case, W.kl_case


def simplex(*s, dtype=F64):
    x = torch.rand(s, dtype=F64) + 0.05
    return (x / x.sum(-1, keepdim=True)).to(dtype)


ALL = ('log_prob', 'mean', 'variance', 'stddev', 'mode')
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    T = lambda v: torch.tensor(v, dtype=dt)
    # total_count 0 with value 0 (log 1), fractional total_count, a probs of 0
    case('NegativeBinomial probs ' + tag, 'NegativeBinomial_probs',
         [T([[0.0, 1.0, 2.5], [4.0, 7.5, 3.0]]), T([0.2, 0.5, 0.85])], ALL,
         {'log_prob': T([[[0, 0, 3], [2, 11, 0]], [[0, 4, 1], [0, 1, 25]]])})
    case('NegativeBinomial probs0 ' + tag, 'NegativeBinomial_probs', [T([2.0, 3.0]), T([0.0, 0.4])],
         ('log_prob', 'mean', 'variance'), {'log_prob': T([0, 2])})
    case('NegativeBinomial logits ' + tag, 'NegativeBinomial_logits', [ru(0.5, 6, 3, dtype=dt), rn(2, 3, dtype=dt)], ALL,
         {'log_prob': torch.randint(0, 12, (2, 3)).to(dt)})
    # df1 and df2 on both sides of 2 and 4 (NaN moments)
    case('FisherSnedecor ' + tag, 'FisherSnedecor',
         [T([[0.8, 2.5, 5.0], [1.5, 3.0, 12.0]]), T([1.5, 3.5, 9.0])], ALL,
         {'log_prob': ru(0.05, 5, 4, 2, 3, dtype=dt)})
    case('LogitRelaxedBernoulli ' + tag, 'LogitRelaxedBernoulli', [T(0.6), ru(0.05, 0.95, 2, 3, dtype=dt)],
         ('log_prob',), {'log_prob': rn(4, 2, 3, dtype=dt) * 3})
    case('RelaxedBernoulli probs ' + tag, 'RelaxedBernoulli_probs', [T(0.4), ru(0.05, 0.95, 3, dtype=dt)],
         ('log_prob',), {'log_prob': ru(0.01, 0.99, 2, 3, dtype=dt)})
    case('RelaxedBernoulli logits ' + tag, 'RelaxedBernoulli_logits', [ru(0.3, 2, 2, 1, dtype=dt), rn(2, 3, dtype=dt)],
         ('log_prob',), {'log_prob': ru(0.01, 0.99, 2, 3, dtype=dt)})
    case('ExpRelaxedCategorical ' + tag, 'ExpRelaxedCategorical', [T(0.8), rn(2, 4, dtype=dt)],
         ('log_prob',), {'log_prob': simplex(3, 2, 4, dtype=dt).log()})
    case('RelaxedOneHotCategorical probs ' + tag, 'RelaxedOneHotCategorical_probs', [T(0.5), simplex(2, 3, dtype=dt)],
         ('log_prob',), {'log_prob': simplex(4, 2, 3, dtype=dt)})
    case('RelaxedOneHotCategorical logits ' + tag, 'RelaxedOneHotCategorical_logits', [T(1.7), rn(4, dtype=dt)],
         ('log_prob',), {'log_prob': simplex(3, 4, dtype=dt)})

# LowRankMultivariateNormal (batch dims broadcast between loc, cov_factor and cov_diag), and its KL pairs
LINES.append('  -- LowRankMultivariateNormal')
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    case('LowRankMultivariateNormal ' + tag, 'LowRankMultivariateNormal',
         [rn(2, 3, dtype=dt), rn(3, 2, dtype=dt), ru(0.5, 2, 2, 1, 3, dtype=dt)],
         ('log_prob', 'entropy', 'mean', 'variance', 'stddev', 'mode', 'covariance_matrix', 'precision_matrix', 'scale_tril'),
         {'log_prob': rn(4, 2, 2, 3, dtype=dt)})


def spd(*s):
    a = torch.randn(s + (s[-1],), dtype=F64)
    return a @ a.transpose(-1, -2) + torch.eye(s[-1], dtype=F64)


KL = [
    ('LowRankMultivariateNormal', [rn(2, 3), rn(3, 2), ru(0.5, 2, 3)], 'LowRankMultivariateNormal',
     [rn(3), rn(2, 3, 1), ru(0.5, 2, 2, 3)]),
    ('LowRankMultivariateNormal', [rn(2, 3), rn(2, 3, 2), ru(0.5, 2, 3)], 'MultivariateNormal', [rn(3), spd(3)]),
    ('MultivariateNormal', [rn(2, 3), spd(2, 3)], 'LowRankMultivariateNormal', [rn(3), rn(3, 2), ru(0.5, 2, 3)]),
]
for pk, pp, qk, qp in KL:
    kl_case('kl %s %s' % (pk, qk), pk, pp, qk, qp)

# Kumaraswamy (not its mode: 1.13's formula gives NaN for every parameter;
# distributions_relaxed_spec checks nnlua's against the closed form)
LINES.append('  -- Kumaraswamy')
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    case('Kumaraswamy ' + tag, 'Kumaraswamy', [torch.tensor([[0.5, 1.0, 2.0], [3.0, 0.8, 1.5]], dtype=dt), ru(0.5, 4, 3, dtype=dt)],
         ('log_prob', 'cdf', 'icdf', 'entropy', 'mean', 'variance', 'stddev'),
         {'log_prob': ru(0.05, 0.95, 4, 2, 3, dtype=dt), 'cdf': ru(0.05, 0.95, 2, 3, dtype=dt),
          'icdf': ru(0.05, 0.95, 2, 3, dtype=dt)})

# ContinuousBernoulli, probs on both sides of and within its lims (0.499, 0.501] of 1/2
LINES.append('  -- ContinuousBernoulli')
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    case('ContinuousBernoulli probs ' + tag, 'ContinuousBernoulli_probs',
         [torch.tensor([[0.05, 0.3, 0.4995], [0.5, 0.5008, 0.93]], dtype=dt)],
         ('log_prob', 'cdf', 'icdf', 'entropy', 'mean', 'variance', 'stddev'),
         {'log_prob': ru(0, 1, 4, 2, 3, dtype=dt), 'cdf': ru(0.02, 0.98, 2, 3, dtype=dt),
          'icdf': ru(0.02, 0.98, 2, 3, dtype=dt)})
    case('ContinuousBernoulli logits ' + tag, 'ContinuousBernoulli_logits', [rn(3, dtype=dt) * 2],
         ('log_prob', 'cdf', 'icdf', 'entropy', 'mean', 'variance'),
         {'log_prob': ru(0, 1, 2, 3, dtype=dt), 'cdf': ru(0.02, 0.98, 3, dtype=dt), 'icdf': ru(0.02, 0.98, 3, dtype=dt)})
kl_case('kl ContinuousBernoulli ContinuousBernoulli', 'ContinuousBernoulli_probs',
        [torch.tensor([[0.1, 0.4995, 0.8], [0.5, 0.3, 0.6]], dtype=F64)],
        'ContinuousBernoulli_logits', [rn(3)])

# VonMises (1.13's log I0 is a polynomial approximation: the spec compares to 1e-6)
LINES.append('  -- VonMises')
for dt, tag in ((F64, 'f64'), (F32, 'f32')):
    case('VonMises ' + tag, 'VonMises', [rn(2, 3, dtype=dt), torch.tensor([0.05, 1.5, 4.0, 12.0, 60.0, 0.8], dtype=dt).view(2, 3)],
         ('log_prob', 'mean', 'variance', 'stddev', 'mode'), {'log_prob': ru(-3, 3, 4, 2, 3, dtype=dt)})

write_golden('distributions_relaxed.lua', [
    'PyTorch %s golden values for nl.distributions NegativeBinomial, FisherSnedecor, LogitRelaxedBernoulli,' % torch.__version__,
    'RelaxedBernoulli, ExpRelaxedCategorical, RelaxedOneHotCategorical, LowRankMultivariateNormal (with its KL pairs) Kumaraswamy, ContinuousBernoulli and VonMises, and the gradients. Made by',
    'tests/golden/gen_distributions_relaxed.py; checked by tests/spec/distributions_relaxed_spec.lua. Do not edit.'], LINES)
