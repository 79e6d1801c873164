-- nl.distributions' later families, Cauchy, HalfNormal, HalfCauchy,
-- Gumbel, Chi2 and Geometric: PyTorch 1.13's values and gradients (golden
-- data from tests/golden/gen_distributions_more.py) of log_prob, cdf,
-- icdf, entropy, the moments, mode and kl_divergence; sampling checked by
-- seeded draws against closed-form quantiles and moments; rsample's
-- gradients; expand, support checks and the errors.
local S = require 'support'
local nl = require 'nnlua'
local D = nl.distributions
local G = dofile(S.root .. '/tests/golden/distributions_more.lua')

-- S.contains (which asserts), true when the message has part
local function has(msg, part) S.contains(msg, part) return true end

local TOL = { float32 = { 2e-4, 2e-5 }, float64 = { 1e-9, 1e-11 } }
local BUILD = {
  Cauchy = function(loc, scale) return D.Cauchy(loc, scale) end,
  HalfNormal = function(scale) return D.HalfNormal(scale) end,
  HalfCauchy = function(scale) return D.HalfCauchy(scale) end,
  Gumbel = function(loc, scale) return D.Gumbel(loc, scale) end,
  Chi2 = function(df) return D.Chi2(df) end,
  Geometric_probs = function(p) return D.Geometric(p) end,
  Geometric_logits = function(l) return D.Geometric { logits = l } end,
  Normal = function(loc, scale) return D.Normal(loc, scale) end,
  Uniform = function(lo, hi) return D.Uniform(lo, hi) end,
  Exponential = function(rate) return D.Exponential(rate) end,
  Gamma = function(c, r) return D.Gamma(c, r) end,
  Beta = function(c1, c0) return D.Beta(c1, c0) end,
  Laplace = function(loc, scale) return D.Laplace(loc, scale) end,
  Weibull = function(scale, k) return D.Weibull(scale, k) end,
  Pareto = function(scale, alpha) return D.Pareto(scale, alpha) end,
  StudentT = function(df, loc, scale) return D.StudentT(df, loc, scale) end,
  StudentT_df = function(df) return D.StudentT(df) end,
  Multinomial_probs = function(p) return D.Multinomial(5, p) end,
  Multinomial_logits = function(l) return D.Multinomial { total_count = 3, logits = l } end,
  MSF_Normal = function(logits, loc, scale)
    return D.MixtureSameFamily(D.Categorical { logits = logits }, D.Normal(loc, scale))
  end,
  MSF_Independent = function(probs, loc, scale)
    return D.MixtureSameFamily(D.Categorical(probs), D.Independent(D.Normal(loc, scale), 1))
  end,
}

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

describe('distributions (more families): PyTorch golden values and gradients', function()
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
      local tol = TOL[leaves[1]:dtype()]
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

-- the fraction of n draws at or below each of the points qs, within 6
-- standard errors of the true cdf(qs) (sqrt(F (1 - F) / n))
local function check_quantiles(x, cdf_at, qs, what)
  local n = x:numel()
  local flat = S.flat(x)
  for _, q in ipairs(qs) do
    local count = 0
    for i = 1, n do if flat[i] <= q then count = count + 1 end end
    local F = cdf_at(q)
    local se = math.sqrt(F * (1 - F) / n)
    assert.is_true(math.abs(count / n - F) <= 6 * se + 1e-12,
      ('%s: fraction below %g is %g, expected %g (se %g)'):format(what, q, count / n, F, se))
  end
end

describe('distributions (more families): sampling', function()
  local N = 100000
  it('draws Cauchy, HalfNormal, HalfCauchy and Gumbel with their quantiles (6 standard errors over 100k draws)', function()
    nl.manual_seed(11)
    local erf = function(z) return nl.tensor(z, 'float64'):erf():item() end
    for _, c in ipairs({
      { D.Cauchy(nl.tensor(1.5, 'float64'), 2), function(q) return math.atan((q - 1.5) / 2) / math.pi + 0.5 end,
        { -10, -1, 1.5, 3, 20 } },
      { D.HalfNormal(nl.tensor(2, 'float64')), function(q) return erf(q / (2 * math.sqrt(2))) end, { 0.5, 1.5, 3, 6 } },
      { D.HalfCauchy(nl.tensor(0.5, 'float64')), function(q) return 2 * math.atan(q / 0.5) / math.pi end, { 0.1, 0.5, 3 } },
      { D.Gumbel(nl.tensor(-1, 'float64'), 3), function(q) return math.exp(-math.exp(-(q + 1) / 3)) end,
        { -4, -1, 2, 8 } },
    }) do
      local d = c[1]
      local x = d:sample({ N })
      assert.are.same({ N }, x:shape())
      assert.are.equal('float64', x:dtype())
      check_quantiles(x, c[2], c[3], d.__name)
    end
  end)
  it('draws Gumbel, HalfNormal, Chi2 and Geometric with their mean (6 standard errors over 100k draws)', function()
    nl.manual_seed(12)
    for _, d in ipairs({
      D.Gumbel(nl.tensor({ 0.5, -2 }, 'float64'), nl.tensor({ 1, 0.25 }, 'float64')),
      D.HalfNormal(nl.tensor({ 0.5, 3 }, 'float64')),
      D.Chi2(nl.tensor({ 0.5, 7 }, 'float64')),
      D.Geometric(nl.tensor({ 0.05, 0.5, 1 }, 'float64')),
    }) do
      local x = d:sample({ N })
      local m, want, sd = S.flat(x:mean(1)), S.flat(d.mean), S.flat(d.stddev)
      for i = 1, #m do
        assert.is_true(math.abs(m[i] - want[i]) <= 6 * sd[i] / math.sqrt(N) + 1e-12,
          ('%s: sample mean %g vs %g at %d'):format(d.__name, m[i], want[i], i))
      end
    end
    -- Geometric draws whole numbers, p = 1 always 0
    local x = D.Geometric(nl.tensor({ 0.3, 1 })):sample({ 1000 })
    assert.are.equal(0, (x - x:floor()):abs():max():item())
    assert.are.equal(0, x:select(2, 2):abs():max():item())
  end)
  it('rsample differentiates Cauchy, HalfNormal, HalfCauchy and Gumbel draws through loc and scale', function()
    -- each draw is loc + scale * (a standard draw), so d x / d scale = (x - loc) / scale
    nl.manual_seed(3)
    for _, mk in ipairs({
      function(l, s) return D.Cauchy(l, s) end, function(l, s) return D.Gumbel(l, s) end,
    }) do
      local loc = nl.tensor({ 0.5, -1 }, 'float64'):requires_grad()
      local scale = nl.tensor({ 2, 0.5 }, 'float64'):requires_grad()
      local x = mk(loc, scale):rsample({ 5 })
      x:sum():backward()
      S.expect_close(loc.grad, nl.tensor({ 5, 5 }, 'float64'), 'loc grad', 1e-12, 1e-12)
      S.expect_close(scale.grad, ((x:detach() - loc:detach()) / scale:detach()):sum(1), 'scale grad', 1e-9, 1e-9)
    end
    for _, cls in ipairs({ D.HalfNormal, D.HalfCauchy }) do
      local scale = nl.tensor({ 2, 0.5 }, 'float64'):requires_grad()
      local x = cls(scale):rsample({ 5 })
      assert.is_true(x:min():item() >= 0)
      x:sum():backward()
      S.expect_close(scale.grad, (x:detach() / scale:detach()):sum(1), 'scale grad', 1e-9, 1e-9)
    end
  end)
  it('has rsample where PyTorch 1.13 has has_rsample', function()
    assert.is_true(D.Cauchy(0, 1).has_rsample and D.Gumbel(0, 1).has_rsample and D.HalfNormal(1).has_rsample
                   and D.HalfCauchy(1).has_rsample)
    assert.is_false(D.Geometric(0.5).has_rsample)
    assert.is_true(has(S.errmsg(function() D.Geometric(0.5):rsample() end), 'rsample is not available'))
  end)
end)

describe('distributions (more families): shapes, classes and errors', function()
  it('expands the batch', function()
    for _, d in ipairs({ D.Cauchy(nl.zeros(3), 1), D.HalfNormal(nl.ones(3)), D.HalfCauchy(nl.ones(3)),
                         D.Gumbel(nl.zeros(3), 2), D.Chi2(nl.ones(3)), D.Geometric(nl.full({ 3 }, 0.5)) }) do
      local e = d:expand({ 2, 3 })
      assert.are.same({ 2, 3 }, e.batch_shape)
      assert.are.same({ 4, 2, 3 }, e:sample({ 4 }):shape())
      assert.are.same({ 2, 3 }, e:log_prob(nl.ones(2, 3)):shape())
      assert.are.equal(getmetatable(d), getmetatable(e))
    end
    assert.are.same({ 2, 3 }, D.Chi2(nl.ones(3)):expand({ 2, 3 }).df:shape())
  end)
  it('is a TransformedDistribution where PyTorch 1.13 builds one, and Chi2 a Gamma', function()
    assert.are.equal(D.TransformedDistribution, getmetatable(D.HalfNormal(1))._parent)
    assert.are.equal(D.TransformedDistribution, getmetatable(D.Gumbel(0, 1))._parent)
    assert.are.equal(D.Gamma, getmetatable(D.Chi2(1))._parent)
    -- HalfCauchy's KL: the TransformedDistribution pair, KL of the Cauchys (PyTorch's dispatch)
    local p, q = D.HalfCauchy(nl.tensor(1, 'float64')), D.HalfCauchy(nl.tensor(3, 'float64'))
    assert.is_true(math.abs(D.kl_divergence(p, q):item() - math.log(16 / 12)) < 1e-12)
  end)
  it('refuses parameters and values out of their constraints, naming the distribution', function()
    assert.is_true(has(S.errmsg(function() D.Cauchy(0, nl.tensor({ 1, -1 })) end),
                                'Cauchy: expected parameter scale (shape [2])'))
    assert.is_true(has(S.errmsg(function() D.HalfNormal(nl.tensor({ 0 })) end), 'HalfNormal: expected parameter scale'))
    assert.is_true(has(S.errmsg(function() D.Gumbel(0, -1) end), 'Gumbel: expected parameter scale'))
    assert.is_true(has(S.errmsg(function() D.Chi2(nl.tensor({ 1, -2 })) end), 'Chi2: expected parameter df'))
    assert.is_true(has(S.errmsg(function() D.Geometric(nl.tensor({ 0, 0.5 })) end), 'Geometric: expected parameter probs'))
    assert.is_true(has(S.errmsg(function() D.Geometric(nl.tensor({ 1.5 })) end), 'Geometric: expected parameter probs'))
    assert.is_true(has(S.errmsg(function() D.HalfNormal(1):log_prob(nl.tensor({ -1 })) end),
                                'HalfNormal.log_prob: expected the value (shape [1]) to be within the support (nonnegative)'))
    assert.is_true(has(S.errmsg(function() D.Geometric(0.5):log_prob(nl.tensor({ 1.5 })) end),
                                'within the support (nonnegative_integer)'))
    assert.is_true(has(S.errmsg(function() D.Cauchy(nl.zeros(3), 1):log_prob(nl.zeros(2)) end),
                                'does not broadcast with batch_shape + event_shape [3]'))
    -- without validation, HalfNormal scores negative values -inf (PyTorch's where)
    local lp = D.HalfNormal(1, { validate_args = false }):log_prob(nl.tensor({ -1, 1 }))
    assert.are.equal(-math.huge, lp[1])
    assert.is_true(has(S.errmsg(function() D.Geometric(nl.tensor({ -0.5 }), { validate_args = false }):sample() end),
                                'Geometric.sample: expected probs in (0, 1]'))
  end)
end)

describe('distributions (more families): Weibull, Pareto, StudentT', function()
  local N = 100000
  local t64 = function(v) return nl.tensor(v, 'float64') end
  it('draws with their quantiles (6 standard errors over 100k draws)', function()
    nl.manual_seed(21)
    -- StudentT(1) is a Cauchy; StudentT(3): cdf 1/2 + (atan(t/sqrt3) + sqrt3 t / (3 + t^2)) / pi
    local function t3_cdf(t)
      return 0.5 + (math.atan(t / math.sqrt(3)) + math.sqrt(3) * t / (3 + t * t)) / math.pi
    end
    for _, c in ipairs({
      { D.Weibull(t64(2), 1.5), function(q) return 1 - math.exp(-(q / 2) ^ 1.5) end, { 0.3, 1, 2, 5 } },
      { D.Weibull(t64(0.5), 0.4), function(q) return 1 - math.exp(-(q / 0.5) ^ 0.4) end, { 0.01, 0.5, 10 } },
      { D.Pareto(t64(1.5), 2.5), function(q) return 1 - (1.5 / q) ^ 2.5 end, { 1.6, 2, 4, 10 } },
      { D.StudentT(t64(1), 0.5, 2), function(q) return math.atan((q - 0.5) / 2) / math.pi + 0.5 end, { -10, 0, 3 } },
      { D.StudentT(t64(3)), t3_cdf, { -4, -1, 0.5, 2 } },
    }) do
      local x = c[1]:sample({ N })
      assert.are.same({ N }, x:shape())
      check_quantiles(x, c[2], c[3], c[1].__name)
    end
    -- a float32 StudentT draws float32
    assert.are.equal('float32', D.StudentT(nl.tensor({ 4, 5 })):sample({ 3 }):dtype())
  end)
  it('rsample differentiates Weibull and Pareto draws; StudentT has no rsample in nnlua', function()
    nl.manual_seed(5)
    local scale, k = t64({ 2, 0.5 }):requires_grad(), t64({ 1.5, 3 }):requires_grad()
    local x = D.Weibull(scale, k):rsample({ 4 })
    x:sum():backward()
    -- x = scale E^(1/k): d x / d scale = x / scale, d x / d k = -x log(x / scale) / k
    local xd = x:detach()
    S.expect_close(scale.grad, (xd / scale:detach()):sum(1), 'Weibull scale grad', 1e-9, 1e-12)
    S.expect_close(k.grad, (-xd * (xd / scale:detach()):log() / k:detach()):sum(1), 'Weibull k grad', 1e-9, 1e-12)
    local s, a = t64({ 1, 3 }):requires_grad(), t64({ 2, 0.7 }):requires_grad()
    local y = D.Pareto(s, a):rsample({ 4 })
    assert.is_true((y:detach() - s:detach()):min():item() >= 0)
    y:sum():backward()
    -- y = scale exp(E / alpha): d y / d alpha = -y log(y / scale) / alpha
    local yd = y:detach()
    S.expect_close(a.grad, (-yd * (yd / s:detach()):log() / a:detach()):sum(1), 'Pareto alpha grad', 1e-9, 1e-12)
    assert.is_false(D.StudentT(3).has_rsample)
    assert.is_true(has(S.errmsg(function() D.StudentT(3):rsample() end), 'StudentT: rsample is not available'))
  end)
  it('expands, checks the support and the parameters', function()
    for _, d in ipairs({ D.Weibull(nl.ones(3), 2), D.Pareto(nl.ones(3), 2), D.StudentT(nl.full({ 3 }, 4)) }) do
      local e = d:expand({ 2, 3 })
      assert.are.same({ 2, 3 }, e.batch_shape)
      assert.are.same({ 4, 2, 3 }, e:sample({ 4 }):shape())
      assert.are.same({ 2, 3 }, e:log_prob(nl.full({ 2, 3 }, 1.5)):shape())
    end
    -- an expanded Weibull's transforms follow its parameters (the TransformedDistribution KL of equal ones is 0)
    local w = D.Weibull(t64({ 1, 2 }), 3):expand({ 2, 2 })
    assert.are.equal(0, D.kl_divergence(w, w):abs():max():item())
    assert.is_true(has(S.errmsg(function() D.Pareto(2, 1):log_prob(nl.tensor({ 1.5 })) end),
                       'Pareto.log_prob: expected the value (shape [1]) to be within the support (greater_than_eq(scale))'))
    assert.is_true(has(S.errmsg(function() D.Weibull(1, nl.tensor({ 0 })) end), 'Weibull: expected parameter concentration'))
    assert.is_true(has(S.errmsg(function() D.Pareto(-1, 1) end), 'Pareto: expected parameter scale'))
    assert.is_true(has(S.errmsg(function() D.StudentT(nl.tensor({ -1, 2 })) end), 'StudentT: expected parameter df (shape [2])'))
    assert.is_true(has(S.errmsg(function() D.StudentT(nl.tensor({ -1 }), 0, 1, { validate_args = false }):sample() end),
                       'StudentT.sample: expected df > 0 and finite'))
    assert.is_true(has(S.errmsg(function() D.StudentT(3, 0, 1, {}, 5) end), 'StudentT'))
    -- StudentT's loc and scale default to 0 and 1; options may follow df alone
    local t = D.StudentT(5, { validate_args = false })
    assert.are.equal(0, t.loc:item())
    assert.are.equal(1, t.scale:item())
  end)
end)

describe('distributions (more families): Multinomial, MixtureSameFamily', function()
  local N = 100000
  local t64 = function(v) return nl.tensor(v, 'float64') end
  it('draws Multinomial counts summing to total_count with mean n p (6 standard errors over 100k draws)', function()
    nl.manual_seed(31)
    local p = t64({ { 0.1, 0.2, 0.7 }, { 0.5, 0.25, 0.25 } })
    local x = D.Multinomial(6, p):sample({ N })
    assert.are.same({ N, 2, 3 }, x:shape())
    assert.are.equal(0, (x:sum(-1) - 6):abs():max():item())
    local m, fp = S.flat(x:mean(1)), S.flat(p)
    for i = 1, #m do
      local se = math.sqrt(6 * fp[i] * (1 - fp[i]) / N)
      assert.is_true(math.abs(m[i] - 6 * fp[i]) <= 6 * se, ('mean %g vs %g at %d'):format(m[i], 6 * fp[i], i))
    end
    assert.are.same({ 2, 4, 2, 3 }, D.Multinomial(0, p):sample({ 2, 4 }):shape())
  end)
  it('draws MixtureSameFamily by the mixture weights (6 standard errors over 100k draws)', function()
    nl.manual_seed(32)
    local w, mu, sd = { 0.3, 0.7 }, { -2, 3 }, { 0.5, 1.5 }
    local d = D.MixtureSameFamily(D.Categorical(t64(w)), D.Normal(t64(mu), t64(sd)))
    local x = d:sample({ N })
    assert.are.same({ N }, x:shape())
    local erf = function(z) return nl.tensor(z, 'float64'):erf():item() end
    local function cdf(q)
      local F = 0
      for i = 1, 2 do F = F + w[i] * 0.5 * (1 + erf((q - mu[i]) / (sd[i] * math.sqrt(2)))) end
      return F
    end
    check_quantiles(x, cdf, { -2.5, -1, 0.5, 3, 5 }, 'MixtureSameFamily')
    -- event dims: draws of batch (4) and event (2) from an Independent component
    local di = D.MixtureSameFamily(D.Categorical(nl.ones(4, 3)), D.Independent(D.Normal(nl.zeros(4, 3, 2), 1), 1))
    assert.are.same({ 5, 4, 2 }, di:sample({ 5 }):shape())
    assert.are.same({ 4 }, di.batch_shape)
    assert.are.same({ 2 }, di.event_shape)
    assert.are.same({ 6, 4 }, di:expand({ 6, 4 }).batch_shape)
    assert.are.same({ 6, 4 }, di:expand({ 6, 4 }):log_prob(nl.zeros(6, 4, 2)):shape())
    assert.is_false(di.has_rsample)
    assert.is_true(has(S.errmsg(function() di:rsample() end), 'MixtureSameFamily: rsample is not available'))
  end)
  it('refuses bad arguments and values, naming the distribution and the shapes', function()
    assert.is_true(has(S.errmsg(function() D.Multinomial(nl.tensor({ 2, 3 }), nl.ones(2, 3)) end),
                       'Multinomial: expected total_count as a whole number >= 0'))
    assert.is_true(has(S.errmsg(function() D.Multinomial(2) end), 'Multinomial: either probs or logits'))
    assert.is_true(has(S.errmsg(function() D.Multinomial(2, nl.tensor({ 0.5, -0.5 })) end), 'Multinomial: expected parameter probs'))
    assert.is_true(has(S.errmsg(function() D.Multinomial(2, nl.ones(3)):log_prob(nl.tensor({ 1, 1, 1 })) end),
                       'within the support (multinomial(2))'))
    assert.is_true(has(S.errmsg(function() D.MixtureSameFamily(D.Normal(0, 1), D.Normal(nl.zeros(3), 1)) end),
                       'MixtureSameFamily: expected mixture_distribution as a Categorical'))
    assert.is_true(has(S.errmsg(function() D.MixtureSameFamily(D.Categorical(nl.ones(2)), D.Normal(nl.zeros(3), 1)) end),
                       'mixture_distribution has 2 components but component_distribution batch_shape [3] should end in 2'))
    assert.is_true(has(S.errmsg(function() D.MixtureSameFamily(D.Categorical(nl.ones(4, 3)), D.Normal(nl.zeros(2, 3), 1)) end),
                       'mixture_distribution batch_shape [4] does not match component_distribution batch_shape [2,3]'))
    local d = D.MixtureSameFamily(D.Categorical(nl.ones(3)), D.Exponential(nl.ones(3)))
    assert.is_true(has(S.errmsg(function() d:log_prob(nl.tensor({ -1 })) end), 'Exponential.log_prob: expected the value'))
  end)
end)
