-- nl.distributions' NegativeBinomial, FisherSnedecor, RelaxedBernoulli,
-- RelaxedOneHotCategorical (with their bases LogitRelaxedBernoulli and
-- ExpRelaxedCategorical), LowRankMultivariateNormal, Kumaraswamy, ContinuousBernoulli and VonMises:
-- PyTorch 1.13's
-- values and gradients (golden data from
-- tests/golden/gen_distributions_relaxed.py) of log_prob, entropy, the
-- moments, mode, the covariance matrices and kl_divergence; sampling checked by seeded draws against closed-form cdfs,
-- class frequencies and means; rsample's gradients; expand, support checks
-- and the errors.
local S = require 'support'
local nl = require 'nnlua'
local D = nl.distributions
local G = dofile(S.root .. '/tests/golden/distributions_relaxed.lua')

local function has(msg, part) S.contains(msg, part) return true end
local t64 = function(v) return nl.tensor(v, 'float64') end

local TOL = { float32 = { 2e-4, 2e-5 }, float64 = { 1e-9, 1e-11 } }
local BUILD = {
  NegativeBinomial_probs = function(n, p) return D.NegativeBinomial(n, p) end,
  NegativeBinomial_logits = function(n, l) return D.NegativeBinomial { total_count = n, logits = l } end,
  FisherSnedecor = function(df1, df2) return D.FisherSnedecor(df1, df2) end,
  LogitRelaxedBernoulli = function(t, p) return D.LogitRelaxedBernoulli(t, p) end,
  RelaxedBernoulli_probs = function(t, p) return D.RelaxedBernoulli(t, p) end,
  RelaxedBernoulli_logits = function(t, l) return D.RelaxedBernoulli(t, nil, l) end,
  ExpRelaxedCategorical = function(t, l) return D.ExpRelaxedCategorical { temperature = t, logits = l } end,
  RelaxedOneHotCategorical_probs = function(t, p) return D.RelaxedOneHotCategorical(t, p) end,
  RelaxedOneHotCategorical_logits = function(t, l) return D.RelaxedOneHotCategorical { temperature = t, logits = l } end,
  LowRankMultivariateNormal = function(loc, W, d) return D.LowRankMultivariateNormal(loc, W, d) end,
  MultivariateNormal = function(loc, cov) return D.MultivariateNormal(loc, cov) end,
  Kumaraswamy = function(a, b) return D.Kumaraswamy(a, b) end,
  ContinuousBernoulli_probs = function(p) return D.ContinuousBernoulli(p) end,
  ContinuousBernoulli_logits = function(l) return D.ContinuousBernoulli { logits = l } end,
  VonMises = function(loc, k) return D.VonMises(loc, k) end,
}
-- VonMises: nnlua's log I0 is exact (log i0e + x), PyTorch 1.13's a polynomial approximation
-- (within 1e-7), whose error the variance 1 - I1 / I0 magnifies at large kappa (5e-5 relative
-- at 60; the spec below checks nnlua's against the asymptotic series there)
local VON_MISES_TOL = { float32 = { 2e-4, 2e-5 }, float64 = { 1e-4, 1e-6 } }

local function leaves_of(params)
  local out = {}
  for i, p in ipairs(params) do out[i] = S.from_golden(p):requires_grad() end
  return out
end
local function check_grads(c, leaves, out, w, grads, tol, what)
  for _, l in ipairs(leaves) do l.grad = nil end
  local loss = (out * S.from_golden(w)):sum()
  if loss.is_requires_grad then loss:backward({ retain_graph = true }) end
  for i, l in ipairs(leaves) do
    local want = grads[i]
    if want then
      assert.is_not_nil(l.grad, ('%s %s: no gradient for parameter %d'):format(c.name, what, i))
      S.expect_golden(l.grad, want, ('%s %s grad %d'):format(c.name, what, i), tol)
    elseif l.grad then
      assert.are.equal(0, l.grad:abs():sum():item(), ('%s %s: gradient for parameter %d'):format(c.name, what, i))
    end
  end
end

describe('distributions (relaxed families): PyTorch golden values and gradients', function()
  it('covers every builder with a case', function()
    local seen = {}
    for _, c in ipairs(G) do
      seen[c.kind] = true
      if c.kind == 'kl' then seen[c.p], seen[c.q] = true, true end
    end
    for k in pairs(BUILD) do assert.is_true(seen[k] == true, 'no golden case for ' .. k) end
  end)
  for _, c in ipairs(G) do
    it(c.name, function()
      if c.kind == 'kl' then
        local pl, ql = leaves_of(c.p_params), leaves_of(c.q_params)
        local tol = TOL[pl[1]:dtype()]
        local out = D.kl_divergence(BUILD[c.p](unpack(pl)), BUILD[c.q](unpack(ql)))
        S.expect_golden(out, c.out, c.name, tol)
        local all = {}
        for _, l in ipairs(pl) do all[#all + 1] = l end
        for _, l in ipairs(ql) do all[#all + 1] = l end
        check_grads(c, all, out, c.w, c.grads, tol, 'kl')
        return
      end
      local leaves = leaves_of(c.params)
      local tol = (c.kind == 'VonMises' and VON_MISES_TOL or TOL)[leaves[1]:dtype()]
      local d = BUILD[c.kind](unpack(leaves))
      assert.are.same(c.batch_shape, d.batch_shape)
      assert.are.same(c.event_shape, d.event_shape)
      for _, m in ipairs(c.methods) do
        local out
        if m.value then
          out = d[m.m](d, S.from_golden(m.value))
        elseif m.m == 'entropy' then
          out = d:entropy()
        else
          out = d[m.m]
        end
        S.expect_golden(out, m.out, c.name .. ' ' .. m.m, tol)
        check_grads(c, leaves, out, m.w, m.grads, tol, m.m)
      end
    end)
  end
end)

-- the fraction of the draws x at or below each of the points qs, within 6
-- standard errors of the true cdf(qs) (sqrt(F (1 - F) / n))
local function check_quantiles(x, cdf_at, qs, what)
  local n = x:numel()
  for _, q in ipairs(qs) do
    local frac = x:le(q):to('float64'):mean():item()
    local F = cdf_at(q)
    local se = math.sqrt(F * (1 - F) / n)
    assert.is_true(math.abs(frac - F) <= 6 * se + 1e-12,
      ('%s: fraction below %g is %g, expected %g (se %g)'):format(what, q, frac, F, se))
  end
end
local function logit(y) return math.log(y / (1 - y)) end
local function sigmoid(z) return 1 / (1 + math.exp(-z)) end

describe('distributions (relaxed families): sampling', function()
  local N = 100000
  it('draws NegativeBinomial and FisherSnedecor with their cdfs (6 standard errors over 100k draws)', function()
    nl.manual_seed(41)
    -- NegativeBinomial(1, p): P(X <= k) = 1 - p^(k + 1); (2, p): P(X = k) = (k + 1) (1 - p)^2 p^k
    local function nb2_cdf(p)
      return function(q)
        local F = 0
        for k = 0, q do F = F + (k + 1) * (1 - p) ^ 2 * p ^ k end
        return F
      end
    end
    -- FisherSnedecor(2, d2): P(X <= x) = 1 - (d2 / (d2 + 2 x))^(d2 / 2)
    local function f2_cdf(d2) return function(x) return 1 - (d2 / (d2 + 2 * x)) ^ (d2 / 2) end end
    for _, c in ipairs({
      { D.NegativeBinomial(t64(1), 0.7), function(q) return 1 - 0.7 ^ (q + 1) end, { 0, 1, 3, 8 } },
      { D.NegativeBinomial(t64(2), 0.3), nb2_cdf(0.3), { 0, 1, 2, 4 } },
      { D.NegativeBinomial(t64(2), 0.95), nb2_cdf(0.95), { 5, 20, 40, 80 } },
      { D.FisherSnedecor(t64(2), 5), f2_cdf(5), { 0.1, 0.5, 1, 3, 10 } },
      { D.FisherSnedecor(t64(2), 0.5), f2_cdf(0.5), { 0.1, 1, 10, 1000 } },
    }) do
      local x = c[1]:sample({ N })
      assert.are.same({ N }, x:shape())
      assert.are.equal('float64', x:dtype())
      check_quantiles(x, c[2], c[3], c[1].__name)
    end
    -- whole draws; total_count 0 draws 0
    local x = D.NegativeBinomial(nl.tensor({ 0, 3.5 }), 0.6):sample({ 1000 })
    assert.are.equal('float32', x:dtype())
    assert.are.equal(0, (x - x:floor()):abs():max():item())
    assert.are.equal(0, x:select(2, 1):abs():max():item())
  end)
  it('draws NegativeBinomial and FisherSnedecor with their mean (6 standard errors over 100k draws)', function()
    nl.manual_seed(42)
    -- NegativeBinomial: mean n p / (1 - p), variance n p / (1 - p)^2; F(d1, d2): d2 / (d2 - 2),
    -- variance 2 d2^2 (d1 + d2 - 2) / (d1 (d2 - 2)^2 (d2 - 4))
    local cases = {
      { D.NegativeBinomial(t64({ 0.5, 3.5, 40 }), t64({ 0.2, 0.6, 0.9 })),
        function(n, p) return n * p / (1 - p), math.sqrt(n * p) / (1 - p) end, { 0.5, 3.5, 40 }, { 0.2, 0.6, 0.9 } },
      { D.FisherSnedecor(t64({ 6, 1, 30 }), t64({ 10, 9, 50 })),
        function(a, b) return b / (b - 2), math.sqrt(2 * b * b * (a + b - 2) / (a * (b - 2) ^ 2 * (b - 4))) end,
        { 6, 1, 30 }, { 10, 9, 50 } },
    }
    for _, c in ipairs(cases) do
      local m = S.flat(c[1]:sample({ N }):mean(1))
      for i = 1, #m do
        local mean, sd = c[2](c[3][i], c[4][i])
        assert.is_true(math.abs(m[i] - mean) <= 6 * sd / math.sqrt(N),
          ('%s: sample mean %g vs %g at %d'):format(c[1].__name, m[i], mean, i))
      end
    end
  end)
  it('draws RelaxedBernoulli on (0, 1) with its cdf sigmoid(t logit(y) - logits) (6 standard errors over 100k draws)', function()
    nl.manual_seed(43)
    for _, c in ipairs({ { 0.5, 0.3 }, { 2, 0.8 }, { 0.1, 0.5 } }) do
      local t, p = c[1], c[2]
      local d = D.RelaxedBernoulli(t64(t), p)
      local x = d:sample({ N })
      assert.is_true(x:min():item() > 0 and x:max():item() < 1)
      check_quantiles(x, function(y) return sigmoid(t * logit(y) - logit(p)) end, { 0.01, 0.2, 0.5, 0.9, 0.999 },
                      'RelaxedBernoulli')
    end
  end)
  it('draws RelaxedOneHotCategorical on the simplex, its largest entry class k with probability probs[k] (6 standard errors over 100k draws)', function()
    nl.manual_seed(44)
    local p = { 0.1, 0.2, 0.3, 0.4 }
    local x = D.RelaxedOneHotCategorical(t64(0.7), t64(p)):sample({ N })
    assert.are.same({ N, 4 }, x:shape())
    assert.is_true((x:sum(-1) - 1):abs():max():item() < 1e-12)
    assert.is_true(x:min():item() >= 0)
    local freq = S.flat(nl.nn.functional.one_hot(x:argmax(-1), 4):to('float64'):mean(1))
    for k = 1, 4 do
      local se = math.sqrt(p[k] * (1 - p[k]) / N)
      assert.is_true(math.abs(freq[k] - p[k]) <= 6 * se, ('class %d: frequency %g, expected %g'):format(k, freq[k], p[k]))
    end
  end)
  it('rsample differentiates RelaxedBernoulli and RelaxedOneHotCategorical draws; NegativeBinomial and FisherSnedecor have none', function()
    nl.manual_seed(45)
    -- y = sigmoid(x), x = (logit(u) + logits) / t: d y / d logits = y (1 - y) / t, d y / d t = -y (1 - y) x / t
    local t, l = t64(1.5):requires_grad(), t64({ 0.3, -1 }):requires_grad()
    local y = D.RelaxedBernoulli(t, nil, l):rsample({ 6 })
    y:sum():backward()
    local yd = y:detach()
    local dy = yd * (1 - yd)
    S.expect_close(l.grad, (dy / 1.5):sum(1), 'logits grad', 1e-9, 1e-12)
    S.expect_close(t.grad, (-dy * (yd / (1 - yd)):log() / 1.5):sum(), 'temperature grad', 1e-9, 1e-12)
    -- a RelaxedOneHotCategorical draw is softmax((logits + g) / t): adding c to all logits changes nothing,
    -- so the gradient of any function of it sums to 0 over the classes; d y_k / d logits_k = y_k (1 - y_k) / t
    local lc = t64({ 0.5, -0.2, 1 }):requires_grad()
    local z = D.RelaxedOneHotCategorical(t64(0.8), nil, lc):rsample()
    z:select(1, 2):backward()
    local zd = S.flat(z:detach())
    local g = S.flat(lc.grad)
    assert.is_true(math.abs(g[1] + g[2] + g[3]) < 1e-12)
    assert.is_true(math.abs(g[2] - zd[2] * (1 - zd[2]) / 0.8) < 1e-12)
    assert.is_true(math.abs(g[1] + zd[1] * zd[2] / 0.8) < 1e-12)
    assert.is_true(D.RelaxedBernoulli(1, 0.5).has_rsample and D.RelaxedOneHotCategorical(1, nl.ones(2)).has_rsample)
    assert.is_false(D.NegativeBinomial(2, 0.5).has_rsample)
    assert.is_false(D.FisherSnedecor(2, 3).has_rsample)
    assert.is_true(has(S.errmsg(function() D.NegativeBinomial(2, 0.5):rsample() end), 'NegativeBinomial: rsample is not available'))
    assert.is_true(has(S.errmsg(function() D.FisherSnedecor(2, 3):rsample() end),
                       'FisherSnedecor: rsample is not available: nnlua cannot reparameterize FisherSnedecor draws'))
  end)
end)

describe('distributions (relaxed families): shapes, classes and errors', function()
  it('expands the batch', function()
    for _, d in ipairs({ D.NegativeBinomial(nl.ones(3), 0.5), D.FisherSnedecor(nl.ones(3), 3),
                         D.RelaxedBernoulli(0.5, nl.full({ 3 }, 0.3)) }) do
      local e = d:expand({ 2, 3 })
      assert.are.same({ 2, 3 }, e.batch_shape)
      assert.are.same({ 4, 2, 3 }, e:sample({ 4 }):shape())
      assert.are.same({ 2, 3 }, e:log_prob(nl.ones(2, 3)):shape())
      assert.are.equal(getmetatable(d), getmetatable(e))
    end
    local c = D.RelaxedOneHotCategorical(0.5, nl.ones(3, 4)):expand({ 2, 3 })
    assert.are.same({ 2, 3 }, c.batch_shape)
    assert.are.same({ 4 }, c.event_shape)
    assert.are.same({ 5, 2, 3, 4 }, c:rsample({ 5 }):shape())
    assert.are.same({ 2, 3 }, c:log_prob(nl.full({ 4 }, 0.25)):shape())
  end)
  it('is a TransformedDistribution where PyTorch 1.13 builds one, with its parameters from the base', function()
    local r = D.RelaxedBernoulli(nl.tensor(0.5), nl.tensor({ 0.2, 0.7 }))
    assert.are.equal(D.TransformedDistribution, getmetatable(r)._parent)
    assert.are.equal(D.LogitRelaxedBernoulli, getmetatable(r.base_dist))
    assert.are.equal(0.5, r.temperature:item())
    assert.is_true(math.abs(r.logits[1] - math.log(0.25)) < 1e-6)
    local c = D.RelaxedOneHotCategorical(2, nl.tensor({ 1, 3 }))
    assert.are.equal(D.ExpRelaxedCategorical, getmetatable(c.base_dist))
    S.expect_close(c.probs, nl.tensor({ 0.25, 0.75 }), 'probs', 1e-7, 1e-7)
    -- NegativeBinomial's logits from probs, probs from logits
    S.expect_close(D.NegativeBinomial(3, nil, nl.tensor({ 0 })).probs, nl.tensor({ 0.5 }), 'probs', 1e-7, 1e-7)
  end)
  it('refuses parameters and values out of their constraints, naming the distribution', function()
    assert.is_true(has(S.errmsg(function() D.NegativeBinomial(nl.tensor({ 1, -1 }), 0.5) end),
                       'NegativeBinomial: expected parameter total_count (shape [2])'))
    assert.is_true(has(S.errmsg(function() D.NegativeBinomial(2, nl.tensor({ 1 })) end),
                       'NegativeBinomial: expected parameter probs (shape [1]) to satisfy the constraint half_open_interval(0, 1)'))
    assert.is_true(has(S.errmsg(function() D.NegativeBinomial(2) end), 'NegativeBinomial: either probs or logits'))
    assert.is_true(has(S.errmsg(function() D.NegativeBinomial(2, 0.5):log_prob(nl.tensor({ 1.5 })) end),
                       'NegativeBinomial.log_prob: expected the value (shape [1]) to be within the support (nonnegative_integer)'))
    assert.is_true(has(S.errmsg(function() D.NegativeBinomial(nl.tensor({ -1 }), 0.5, { validate_args = false }):sample() end),
                       'NegativeBinomial.sample: expected total_count >= 0 and finite'))
    assert.is_true(has(S.errmsg(function() D.FisherSnedecor(nl.tensor({ 1, 0 }), 2) end),
                       'FisherSnedecor: expected parameter df1 (shape [2])'))
    assert.is_true(has(S.errmsg(function() D.FisherSnedecor(1, 2):log_prob(nl.tensor({ -1 })) end),
                       'FisherSnedecor.log_prob: expected the value (shape [1]) to be within the support (positive)'))
    assert.is_true(has(S.errmsg(function() D.FisherSnedecor(nl.tensor({ -1 }), 2, { validate_args = false }):sample() end),
                       'FisherSnedecor.sample: expected df1 > 0 and finite'))
    assert.is_true(has(S.errmsg(function() D.FisherSnedecor(1, 2, {}, 3) end), 'FisherSnedecor'))
    assert.is_true(has(S.errmsg(function() D.RelaxedBernoulli(0.5, nl.tensor({ 1.5 })) end),
                       'LogitRelaxedBernoulli: expected parameter probs (shape [1])'))
    assert.is_true(has(S.errmsg(function() D.RelaxedBernoulli('hot', 0.5) end),
                       'LogitRelaxedBernoulli: expected temperature as a float tensor or a number, got string'))
    assert.is_true(has(S.errmsg(function() D.RelaxedBernoulli(0.5, 0.3):log_prob(nl.tensor({ 1.5 })) end),
                       'RelaxedBernoulli.log_prob: expected the value (shape [1]) to be within the support (unit_interval)'))
    assert.is_true(has(S.errmsg(function() D.RelaxedOneHotCategorical(0.5, nl.tensor({ 0.5, -0.5 })) end),
                       'Categorical: expected parameter probs'))
    assert.is_true(has(S.errmsg(function() D.RelaxedOneHotCategorical(0.5, nl.ones(3)):log_prob(nl.tensor({ 0.5, 0.6, 0.1 })) end),
                       'RelaxedOneHotCategorical.log_prob: expected the value (shape [3]) to be within the support (simplex)'))
    assert.is_true(has(S.errmsg(function() D.RelaxedOneHotCategorical(0.5, nl.ones(3)):log_prob(nl.full({ 2 }, 0.5)) end),
                       'must match event_shape [3]'))
    assert.is_true(has(S.errmsg(function() D.RelaxedOneHotCategorical{ temperature = 0.5, probs = nl.ones(3), logits = nl.ones(3) } end),
                       'either probs or logits'))
  end)
end)

describe('distributions (relaxed families): LowRankMultivariateNormal', function()
  it('draws with the covariance W W^T + diag(d): projections a^T x are Normal(a^T loc, a^T S a) (6 standard errors over 100k draws)', function()
    nl.manual_seed(46)
    local loc = t64({ 0.5, -1, 2 })
    local W = t64({ { 1, 0.5 }, { -0.3, 2 }, { 0.7, 0.1 } })
    local d = t64({ 0.5, 1.5, 2 })
    local cov = nl.matmul(W, W:t()) + nl.diag_embed(d)
    local x = D.LowRankMultivariateNormal(loc, W, d):sample({ 100000 })
    assert.are.same({ 100000, 3 }, x:shape())
    local erf = function(z) return nl.tensor(z, 'float64'):erf():item() end
    for _, a in ipairs({ { 1, 0, 0 }, { 0, 1, 0 }, { 1, 1, 0 }, { 1, -1, 1 } }) do
      local at = t64(a)
      local m = (at * loc):sum():item()
      local sd = math.sqrt(nl.matmul(nl.matmul(at:view(1, 3), cov), at:view(3, 1)):item())
      local proj = nl.matmul(x, at:view(3, 1)):squeeze(-1)
      check_quantiles(proj, function(q) return 0.5 * (1 + erf((q - m) / (sd * math.sqrt(2)))) end,
                      { m - 2 * sd, m - 0.5 * sd, m, m + sd }, 'LowRankMultivariateNormal')
    end
  end)
  it('rsample differentiates through loc, cov_factor and cov_diag', function()
    nl.manual_seed(47)
    local loc = t64({ 0.5, -1 }):requires_grad()
    local W = t64({ { 1 }, { 2 } }):requires_grad()
    local d = t64({ 0.5, 1.5 }):requires_grad()
    local x = D.LowRankMultivariateNormal(loc, W, d):rsample({ 3 })
    x:sum():backward()
    S.expect_close(loc.grad, t64({ 3, 3 }), 'loc grad', 1e-12, 1e-12)
    -- x = loc + W e + sqrt(d) f: the sum's gradient to W is the sum of e, the same for both rows
    local g = S.flat(W.grad)
    assert.is_true(math.abs(g[1] - g[2]) < 1e-12)
    assert.is_not_nil(d.grad)
  end)
  it('expands, checks the shapes and parameters, and refuses KL of different event shapes', function()
    local m = D.LowRankMultivariateNormal(nl.zeros(3), nl.ones(3, 1), nl.ones(3))
    local e = m:expand({ 2, 4 })
    assert.are.same({ 2, 4 }, e.batch_shape)
    assert.are.same({ 5, 2, 4, 3 }, e:rsample({ 5 }):shape())
    assert.are.same({ 2, 4 }, e:log_prob(nl.zeros(3)):shape())
    assert.are.same({ 2, 4 }, e:entropy():shape())
    assert.are.same({ 2 }, D.LowRankMultivariateNormal(nl.zeros(2, 3), nl.ones(3, 1), nl.ones(3)).batch_shape)
    assert.is_true(has(S.errmsg(function() D.LowRankMultivariateNormal(nl.zeros(3), nl.ones(2, 1), nl.ones(3)) end),
                       'LowRankMultivariateNormal: cov_factor [2,1] must be (..., 3, rank) and cov_diag [3] (..., 3), as loc [3]'))
    assert.is_true(has(S.errmsg(function() D.LowRankMultivariateNormal(nl.zeros(3), nl.ones(3), nl.ones(3)) end),
                       'LowRankMultivariateNormal: cov_factor must be at least two-dimensional, got shape [3]'))
    assert.is_true(has(S.errmsg(function() D.LowRankMultivariateNormal(nl.zeros(2, 3), nl.ones(4, 3, 1), nl.ones(3)) end),
                       'the batch shapes of loc [2,3], cov_factor [4,3,1] and cov_diag [3] do not broadcast'))
    assert.is_true(has(S.errmsg(function() D.LowRankMultivariateNormal(nl.zeros(3), nl.ones(3, 1), nl.tensor({ 1, 0, 1 })) end),
                       'LowRankMultivariateNormal: expected parameter cov_diag (shape [3])'))
    assert.is_true(has(S.errmsg(function() m:log_prob(nl.zeros(2)) end), 'must match event_shape [3]'))
    assert.is_true(has(S.errmsg(function()
      D.kl_divergence(m, D.MultivariateNormal(nl.zeros(2), nl.eye(2)))
    end), 'KL between LowRankMultivariateNormal and MultivariateNormal of different event shapes [3] and [2]'))
  end)
end)

describe('distributions (relaxed families): Kumaraswamy', function()
  it('draws with its cdf 1 - (1 - x^a)^b (6 standard errors over 100k draws), and rsample differentiates them', function()
    nl.manual_seed(48)
    for _, c in ipairs({ { 0.5, 1.5 }, { 2, 0.7 }, { 3, 4 } }) do
      local a, b = c[1], c[2]
      local x = D.Kumaraswamy(t64(a), b):sample({ 100000 })
      assert.is_true(x:min():item() >= 0 and x:max():item() <= 1)
      check_quantiles(x, function(q) return 1 - (1 - q ^ a) ^ b end, { 0.05, 0.3, 0.6, 0.9 }, 'Kumaraswamy')
    end
    -- x = (1 - u^(1/b))^(1/a): d x / d a = -x log(x) / a
    local a = t64({ 2, 0.7 }):requires_grad()
    local x = D.Kumaraswamy(a, t64({ 1.5, 3 })):rsample({ 4 })
    x:sum():backward()
    local xd = x:detach()
    S.expect_close(a.grad, (-xd * xd:log() / a:detach()):sum(1), 'concentration1 grad', 1e-9, 1e-12)
  end)
  it('mode: the density\'s maximum, ((a - 1) / (a b - 1))^(1 / a) for a, b >= 1, NaN where it is unbounded', function()
    local a, b = t64({ 2, 3, 1, 2.5, 1, 0.5, 2 }), t64({ 3, 1.5, 2, 1, 1, 2, 0.7 })
    local m = D.Kumaraswamy(a, b).mode
    local want = { (1 / 5) ^ 0.5, (2 / 3.5) ^ (1 / 3), 0, 1 }
    for i = 1, 4 do assert.is_true(S.close(m[i], want[i], 1e-12), ('mode %d: %s'):format(i, tostring(m[i]))) end
    for i = 5, 7 do assert.is_true(m[i] ~= m[i], ('mode %d: %s, expected NaN'):format(i, tostring(m[i]))) end
    -- the log density is highest there: at most its value 1e-3 either side
    -- (of the interior modes)
    local d = D.Kumaraswamy(a:narrow(1, 1, 2), b:narrow(1, 1, 2))
    local at = d:log_prob(m:narrow(1, 1, 2))
    for _, h in ipairs({ -1e-3, 1e-3 }) do
      local near = d:log_prob(m:narrow(1, 1, 2) + h)
      for i = 1, 2 do assert.is_true(at[i] > near[i], ('mode %d is not a maximum'):format(i)) end
    end
  end)
  it('expands, is a TransformedDistribution and checks its parameters and support', function()
    local k = D.Kumaraswamy(nl.ones(3), 2)
    assert.are.equal(D.TransformedDistribution, getmetatable(k)._parent)
    local e = k:expand({ 2, 3 })
    assert.are.same({ 2, 3 }, e.batch_shape)
    assert.are.same({ 2, 3 }, e.mean:shape())
    assert.are.same({ 4, 2, 3 }, e:sample({ 4 }):shape())
    assert.are.same({ 2, 3 }, e:log_prob(nl.full({ 3 }, 0.5)):shape())
    assert.is_true(has(S.errmsg(function() D.Kumaraswamy(nl.tensor({ 1, -1 }), 1) end),
                       'Kumaraswamy: expected parameter concentration1 (shape [2])'))
    assert.is_true(has(S.errmsg(function() D.Kumaraswamy(1, 1):log_prob(nl.tensor({ 1.5 })) end),
                       'Kumaraswamy.log_prob: expected the value (shape [1]) to be within the support (unit_interval)'))
  end)
end)

describe('distributions (relaxed families): ContinuousBernoulli', function()
  it('draws with its cdf (p^x (1 - p)^(1 - x) + p - 1) / (2 p - 1) (6 standard errors over 100k draws)', function()
    nl.manual_seed(49)
    for _, p in ipairs({ 0.1, 0.3, 0.8, 0.5 }) do
      local x = D.ContinuousBernoulli(t64(p)):sample({ 100000 })
      assert.is_true(x:min():item() >= 0 and x:max():item() <= 1)
      local cdf = p == 0.5 and function(q) return q end
                  or function(q) return (p ^ q * (1 - p) ^ (1 - q) + p - 1) / (2 * p - 1) end
      check_quantiles(x, cdf, { 0.05, 0.3, 0.6, 0.9 }, 'ContinuousBernoulli')
    end
    -- rsample is icdf(u): d x / d probs is finite and the draws stay in [0, 1]
    local p = t64({ 0.2, 0.9 }):requires_grad()
    local x = D.ContinuousBernoulli(p):rsample({ 5 })
    x:sum():backward()
    for _, g in ipairs(S.flat(p.grad)) do assert.is_true(g == g and math.abs(g) < math.huge) end
  end)
  it('expands, takes lims, and checks its parameters and support', function()
    local c = D.ContinuousBernoulli(nl.full({ 3 }, 0.3))
    local e = c:expand({ 2, 3 })
    assert.are.same({ 2, 3 }, e.batch_shape)
    assert.are.same({ 2, 3 }, e.mean:shape())
    assert.are.same({ 4, 2, 3 }, e:sample({ 4 }):shape())
    -- wider lims: the Taylor series at 0.45 gives what the closed form gives, to its error
    local near = D.ContinuousBernoulli(t64(0.45), { lims = { 0.4, 0.6 } })
    assert.is_true(math.abs(near.mean:item() - D.ContinuousBernoulli(t64(0.45)).mean:item()) < 1e-5)
    assert.is_true(has(S.errmsg(function() D.ContinuousBernoulli(nl.tensor({ 1.5 })) end),
                       'ContinuousBernoulli: expected parameter probs (shape [1])'))
    assert.is_true(has(S.errmsg(function() D.ContinuousBernoulli(0.3, { lims = { 0.6, 0.7 } }) end),
                       'ContinuousBernoulli: expected lims as two numbers {lo, hi} with lo < 0.5 < hi'))
    assert.is_true(has(S.errmsg(function() D.ContinuousBernoulli(0.3):log_prob(nl.tensor({ 1.5 })) end),
                       'ContinuousBernoulli.log_prob: expected the value (shape [1]) to be within the support (unit_interval)'))
  end)
end)

describe('distributions (relaxed families): VonMises', function()
  it('draws on [-pi, pi] with E cos(x - loc) = I1(k) / I0(k) and E sin(x - loc) = 0 (6 standard errors over 100k draws)', function()
    nl.manual_seed(50)
    local N = 100000
    for _, c in ipairs({ { 1, 2 }, { -2.5, 0.3 }, { 3, 40 }, { 0, 1e-9 } }) do
      local loc, k = c[1], c[2]
      local x = D.VonMises(t64(loc), k):sample({ N })
      assert.is_true(x:min():item() >= -math.pi and x:max():item() <= math.pi)
      local A = (nl.special.i1e(t64(k)) / nl.special.i0e(t64(k))):item()
      local I2 = k > 1e-6 and 1 - 2 * A / k or 0                  -- I2 / I0, by I2 = I0 - 2 I1 / k
      local sd_cos, sd_sin = math.sqrt((1 + I2) / 2 - A * A), math.sqrt((1 - I2) / 2)
      local mc, ms = (x - loc):cos():mean():item(), (x - loc):sin():mean():item()
      assert.is_true(math.abs(mc - A) <= 6 * sd_cos / math.sqrt(N), ('kappa %g: E cos %g, expected %g'):format(k, mc, A))
      assert.is_true(math.abs(ms) <= 6 * sd_sin / math.sqrt(N), ('kappa %g: E sin %g, expected 0'):format(k, ms))
    end
  end)
  it('has the variance 1 - I1(k) / I0(k) = 1/(2k) + 1/(8k^2) + 1/(8k^3) + 25/(128 k^4) + ... at large kappa', function()
    local k = 200
    local want = 1 / (2 * k) + 1 / (8 * k ^ 2) + 1 / (8 * k ^ 3) + 25 / (128 * k ^ 4)
    assert.is_true(math.abs(D.VonMises(0, t64(k)).variance:item() - want) < 1e-11)
  end)
  it('expands, has no rsample and checks its parameters', function()
    local d = D.VonMises(nl.zeros(3), 2)
    local e = d:expand({ 2, 3 })
    assert.are.same({ 2, 3 }, e.batch_shape)
    assert.are.same({ 4, 2, 3 }, e:sample({ 4 }):shape())
    assert.are.equal('float32', e:sample():dtype())
    assert.is_false(d.has_rsample)
    assert.is_true(has(S.errmsg(function() d:rsample() end), 'VonMises: rsample is not available'))
    assert.is_true(has(S.errmsg(function() D.VonMises(0, nl.tensor({ 1, 0 })) end),
                       'VonMises: expected parameter concentration (shape [2])'))
    assert.is_true(has(S.errmsg(function() D.VonMises(0, nl.tensor({ -1 }), { validate_args = false }):sample() end),
                       'VonMises.sample: expected concentration > 0 and finite'))
  end)
end)
