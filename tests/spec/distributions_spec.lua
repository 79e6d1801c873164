-- nl.distributions: PyTorch 1.13's values and gradients (golden data from
-- tests/golden/gen_distributions.py) of log_prob, cdf, icdf, entropy,
-- mean, variance, stddev, mode and kl_divergence; sampling checked by the
-- moments of large seeded samples; rsample's gradients by float64 finite
-- differences and closed forms; shapes, expand, register_kl's dispatch and
-- the errors.
local S = require 'support'
local nl = require 'nnlua'
local D = nl.distributions
local G = dofile(S.root .. '/tests/golden/distributions.lua')

local TOL = { float32 = { 2e-4, 2e-5 }, float64 = { 1e-9, 1e-11 } }

local function sym(A) return nl.matmul(A, A:transpose(-1, -2)) + 0.5 * nl.eye(A:size(-1), A:dtype()) end
-- the generator's builders: the leaves of a case -> the distribution
local BUILD = {
  Normal = function(loc, scale) return D.Normal(loc, scale) end,
  Bernoulli_probs = function(p) return D.Bernoulli(p) end,
  Bernoulli_logits = function(l) return D.Bernoulli { logits = l } end,
  Categorical_probs = function(p) return D.Categorical(p) end,
  Categorical_logits = function(l) return D.Categorical(nil, l) end,
  OneHotCategorical_probs = function(p) return D.OneHotCategorical { probs = p } end,
  OneHotCategorical_logits = function(l) return D.OneHotCategorical { logits = l } end,
  Uniform = function(lo, hi) return D.Uniform(lo, hi) end,
  Exponential = function(rate) return D.Exponential(rate) end,
  Laplace = function(loc, scale) return D.Laplace(loc, scale) end,
  MVN_cov = function(loc, A) return D.MultivariateNormal(loc, sym(A)) end,
  MVN_prec = function(loc, A) return D.MultivariateNormal(loc, { precision_matrix = sym(A) }) end,
  MVN_tril = function(loc, A) return D.MultivariateNormal(loc, { scale_tril = A:tril() }) end,
  Independent_Normal = function(loc, scale) return D.Independent(D.Normal(loc, scale), 1) end,
  Gamma = function(c, r) return D.Gamma(c, r) end,
  Beta = function(c1, c0) return D.Beta(c1, c0) end,
  Dirichlet = function(c) return D.Dirichlet(c) end,
  Poisson = function(rate) return D.Poisson(rate) end,
  Binomial_probs = function(p) return D.Binomial(8, p) end,
  Binomial_logits = function(l) return D.Binomial { total_count = nl.tensor({ { 3 }, { 8 } }, l:dtype()), logits = l } end,
  LogNormal = function(loc, scale) return D.LogNormal(loc, scale) end,
  TD_exp = function(loc, scale) return D.TransformedDistribution(D.Normal(loc, scale), { D.ExpTransform() }) end,
  TD_affine = function(loc, scale, a, b)
    return D.TransformedDistribution(D.Normal(loc, scale), { D.AffineTransform(a, b, { event_dim = 1 }) })
  end,
  TD_sigmoid_affine = function(loc, scale, b)
    return D.TransformedDistribution(D.Normal(loc, scale), { D.SigmoidTransform(), D.AffineTransform(0.5, b) })
  end,
  TD_tanh = function(loc, scale) return D.TransformedDistribution(D.Normal(loc, scale), D.TanhTransform()) end,
  TD_power = function(rate, e) return D.TransformedDistribution(D.Exponential(rate), { D.PowerTransform(e) }) end,
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

describe('distributions: PyTorch golden values and gradients', function()
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

-- mean and variance of n draws within k standard errors of the true ones
-- (the variance's standard error from the fourth central moment)
local function check_moments(x, mean, var, what, k)
  k = k or 5
  local n = x:size(1)
  local m = x:mean(1)
  local c = x - m
  local v = c:pow(2):mean(1)
  local m4 = c:pow(4):mean(1)
  local fm, fv, fmean, fvar, f4 = S.flat(m), S.flat(v), S.flat(mean), S.flat(var), S.flat(m4)
  for i = 1, #fm do
    local se = math.sqrt(fvar[i] / n)
    assert.is_true(math.abs(fm[i] - fmean[i]) <= k * se + 1e-12,
      ('%s: sample mean %g vs %g (se %g) at %d'):format(what, fm[i], fmean[i], se, i))
    local sev = math.sqrt(math.max(f4[i] - fvar[i] ^ 2, 0) / n)
    assert.is_true(math.abs(fv[i] - fvar[i]) <= k * sev + 1e-12,
      ('%s: sample variance %g vs %g (se %g) at %d'):format(what, fv[i], fvar[i], sev, i))
  end
end

describe('distributions: sampling', function()
  local N = 20000
  local t64 = function(v) return nl.tensor(v, 'float64') end
  it('draws Normal, Laplace, Exponential and Uniform with their mean and variance', function()
    nl.manual_seed(7)
    for _, d in ipairs({
      D.Normal(t64({ -1, 2 }), t64({ 0.5, 3 })),
      D.Laplace(t64({ 0.5, -2 }), t64({ 1, 0.25 })),
      D.Exponential(t64({ 0.5, 4 })),
      D.Uniform(t64({ -1, 2 }), t64({ 3, 2.5 })),
    }) do
      for _, f in ipairs({ 'sample', 'rsample' }) do
        local x = d[f](d, { N })
        assert.are.same({ N, 2 }, x:shape())
        check_moments(x, d.mean, d.variance, d.__name .. ' ' .. f)
      end
    end
  end)

  it('draws Bernoulli, Categorical and OneHotCategorical with their frequencies', function()
    nl.manual_seed(8)
    local b = D.Bernoulli(t64({ 0.1, 0.5, 0.97 }))
    local x = b:sample({ N })
    assert.are.same({ N, 3 }, x:shape())
    check_moments(x, b.mean, b.variance, 'Bernoulli')
    local p = t64({ { 0.2, 0.3, 0.5 }, { 0.7, 0.1, 0.2 } })
    local c = D.Categorical(p)
    local s = c:sample({ N })
    assert.are.same({ N, 2 }, s:shape())
    assert.are.equal('int64', s:dtype())
    local onehot = nl.nn.functional.one_hot(s, 3):double()      -- (N, 2, 3): the class frequencies
    check_moments(onehot, p, p * (1 - p), 'Categorical')
    local o = D.OneHotCategorical(p)
    local y = o:sample({ N })
    assert.are.same({ N, 2, 3 }, y:shape())
    assert.are.equal(N * 2, y:sum():item())
    check_moments(y, o.mean, o.variance, 'OneHotCategorical')
  end)

  it('draws MultivariateNormal with its mean and covariance', function()
    nl.manual_seed(9)
    local cov = t64({ { 2, 0.8, 0 }, { 0.8, 1, -0.3 }, { 0, -0.3, 0.5 } })
    local loc = t64({ 1, -1, 0.5 })
    local m = D.MultivariateNormal(loc, cov)
    local x = m:rsample({ N })
    assert.are.same({ N, 3 }, x:shape())
    check_moments(x, m.mean, m.variance, 'MultivariateNormal')
    -- the sample covariance's off-diagonal entries
    local c = x - x:mean(1)
    local sc = S.flat(nl.matmul(c:t(), c) / N)
    local want = S.flat(cov)
    for i = 1, 9 do assert.is_true(math.abs(sc[i] - want[i]) < 0.06, 'covariance ' .. i .. ': ' .. sc[i]) end
    -- the sample shape: sample_shape + batch_shape + event_shape
    local mb = D.MultivariateNormal(nl.zeros(2, 3), nl.eye(3))
    assert.are.same({ 4, 5, 2, 3 }, mb:sample({ 4, 5 }):shape())
    assert.are.same({ 2, 3 }, mb:sample():shape())
  end)

  it('draws Gamma, Beta, Dirichlet and LogNormal with their mean and variance', function()
    nl.manual_seed(10)
    for _, d in ipairs({
      D.Gamma(t64({ 0.3, 1, 2.5, 12 }), t64({ 2, 1, 0.5, 3 })),
      D.Beta(t64({ 0.4, 2, 5 }), t64({ 0.6, 2, 1.5 })),
      D.Dirichlet(t64({ { 0.5, 1, 3 }, { 4, 4, 0.2 } })),
      D.LogNormal(t64({ 0, 1 }), t64({ 0.3, 0.5 })),
    }) do
      local x = d:sample({ N })
      assert.are.same(d:_extended_shape({ N }), x:shape())
      check_moments(x, d.mean, d.variance, d.__name)
    end
    local x = D.LogNormal(t64({ 0, 1 }), t64({ 0.3, 0.5 })):rsample({ N })
    check_moments(x, D.LogNormal(t64({ 0, 1 }), t64({ 0.3, 0.5 })).mean, D.LogNormal(t64({ 0, 1 }), t64({ 0.3, 0.5 })).variance,
                  'LogNormal rsample')
    -- a Dirichlet draw lies on the simplex
    local s = D.Dirichlet(t64({ 0.1, 0.2, 0.3 })):sample({ 100 }):sum(-1)
    S.expect_close(s, nl.ones(100, 'float64'), 'simplex', 1e-12, 1e-12)
  end)

  it('draws Beta and Dirichlet of small concentrations with their mean and variance', function()
    -- (their gamma draws underflow below the dtype's smallest number: an
    -- element where all did was drawn as the simplex's centre)
    nl.manual_seed(15)
    for _, d in ipairs({
      D.Beta(nl.tensor({ 0.01, 0.03 }), nl.tensor({ 0.01, 0.02 })),
      D.Beta(t64({ 1e-3 }), t64({ 2e-3 })),
      D.Dirichlet(nl.tensor({ 0.01, 0.02, 0.05 })),
    }) do
      local x = d:sample({ N })
      check_moments(x:double(), d.mean:double(), d.variance:double(), d.__name .. ' ' .. x:dtype())
    end
  end)

  it('draws float32 Gamma and Beta of large concentrations with their mean and variance', function()
    -- (the acceptance test subtracts terms of the size of the
    -- concentration, which float32 holds only to some units at 1e8)
    nl.manual_seed(16)
    for _, d in ipairs({
      D.Gamma(nl.tensor({ 1e8, 3e8 }), nl.tensor({ 1, 2 })),
      D.Beta(nl.tensor({ 1e8 }), nl.tensor({ 3e8 })),
    }) do
      local x = d:sample({ N })
      assert.are.equal('float32', x:dtype())
      check_moments(x:double(), d.mean:double(), d.variance:double(), d.__name .. ' float32')
    end
  end)

  it('draws Poisson and Binomial with their mean and variance, as whole numbers', function()
    nl.manual_seed(12)
    for _, d in ipairs({
      D.Poisson(t64({ 0, 0.5, 4, 9.9, 10, 30, 300 })),
      D.Binomial(t64({ 1, 10, 100, 7, 7 }), t64({ 0.3, 0.5, 0.9, 0, 1 })),
      D.Binomial { total_count = nl.tensor({ 20, 3 }, 'int64'), logits = t64({ -1, 2 }) },
    }) do
      local x = d:sample({ N })
      assert.are.same(d:_extended_shape({ N }), x:shape())
      S.same_bits(x, x:floor(), d.__name .. ' whole')
      check_moments(x, d.mean, d.variance, d.__name)
    end
  end)

  -- Binomial(n, p)'s pmf at 0..n, by the ratio of neighbours from (1 - p)^n in logs
  local function binomial_pmf(n, p)
    local f = {}
    if n == 0 or p == 0 or p == 1 then
      f[p == 1 and n or 0] = 1
      return f
    end
    local l, lr = n * math.log(1 - p), math.log(p / (1 - p))
    for k = 0, n do
      f[k] = math.exp(l)
      l = l + math.log((n - k) / (k + 1)) + lr
    end
    return f
  end
  -- Pearson's chi-square of the draws xs against the pmf f (f[0..n]),
  -- over bins of consecutive values each expecting at least 20 draws,
  -- below its 1 - 1e-4 quantile (Wilson and Hilferty's approximation)
  local function check_chi2(xs, f, n, what)
    local N, counts = #xs, {}
    for _, v in ipairs(xs) do counts[v] = (counts[v] or 0) + 1 end
    local stat, bins, e, o = 0, 0, 0, 0
    for k = 0, n do
      e, o = e + N * (f[k] or 0), o + (counts[k] or 0)
      if e >= 20 then
        stat, bins, e, o = stat + (o - e) ^ 2 / e, bins + 1, 0, 0
      end
    end
    if e > 0 then stat, bins = stat + (o - e) ^ 2 / e, bins + 1 end
    local seen = 0
    for k = 0, n do seen = seen + (counts[k] or 0) end
    assert.are.equal(N, seen, what .. ': draws outside 0..' .. n)
    local df = bins - 1
    if df == 0 then return end
    local crit = df * (1 - 2 / (9 * df) + 3.719 * math.sqrt(2 / (9 * df))) ^ 3
    assert.is_true(stat < crit, ('%s: chi-square %.1f over %d degrees of freedom (limit %.1f)'):format(what, stat, df, crit))
  end
  local function check_binomial_chi2(xs, n, p, what) check_chi2(xs, binomial_pmf(n, p), n, what) end

  it('draws Binomial by inversion and BTRS with the exact pmf', function()
    -- n q < 10 (q = min(p, 1 - p)) by inversion, n q >= 10 by BTRS, p > 1/2
    -- as n less a draw of 1 - p; the edges (n = 0, p = 0, p = 1) exactly
    nl.manual_seed(21)
    local ns = { 0, 5, 5, 10, 20, 40, 49, 50, 100, 1000, 200, 1e4, 1e6, 1e6 }
    local ps = { 0.3, 0, 1, 0.95, 0.3, 0.75, 0.2, 0.2, 0.5, 0.97, 0.04, 0.999, 0.3, 1e-6 }
    local d = D.Binomial(t64(ns), t64(ps))
    local x = d:sample({ 50000 })
    assert.are.same({ 50000, #ns }, x:shape())
    check_moments(x, d.mean, d.variance, 'Binomial')
    for j = 1, #ns do
      check_binomial_chi2(x:select(2, j):totable(), ns[j], ps[j], ('Binomial(%g, %g)'):format(ns[j], ps[j]))
    end
    -- all small
    local small = D.Binomial(t64({ 3, 16, 16 }), t64({ 0.5, 0.1, 0.9 }))
    x = small:sample({ 50000 })
    check_moments(x, small.mean, small.variance, 'Binomial small')
    for j, n in ipairs({ 3, 16, 16 }) do check_binomial_chi2(x:select(2, j):totable(), n, ({ 0.5, 0.1, 0.9 })[j], 'small') end
    -- huge n: its bound's logs of near-equal terms had to be logs of their ratios
    local huge = D.Binomial(t64({ 1e12, 1e15 }), t64({ 0.3, 0.6 }))
    check_moments(huge:sample({ 50000 }), huge.mean, huge.variance, 'Binomial huge n')
    -- float32, of logits, and NaN probs (unvalidated) drawing NaN, as PyTorch's
    local f = D.Binomial { total_count = nl.tensor({ 1e6, 30 }), logits = nl.tensor({ -1, 3 }) }
    x = f:sample({ 20000 })
    assert.are.equal('float32', x:dtype())
    check_moments(x:double(), f.mean:double(), f.variance:double(), 'float32 Binomial')
    local nan = D.Binomial { total_count = t64({ 10, 10, 300 }), probs = t64({ 0 / 0, 0.5, 0 / 0 }), validate_args = false }
    nan = nan:sample({ 3 })
    for _, row in ipairs(nan:totable()) do
      assert.is_true(row[1] ~= row[1] and row[3] ~= row[3] and row[2] == row[2], 'NaN probs')
    end
  end)

  it('draws Binomial the same for the same seed, whatever the thread count', function()
    local d = D.Binomial(t64({ 5, 30, 1e5, 1e6 }), t64({ 0.5, 0.1, 0.5, 2e-6 }))
    local threads = nl.get_num_threads()
    nl.manual_seed(22)
    local a = d:sample({ 3000 })
    nl.set_num_threads(1)
    nl.manual_seed(22)
    local b = d:sample({ 3000 })
    nl.set_num_threads(threads)
    S.same_bits(a, b, 'same seed')
    assert.is_true((a - d:sample({ 3000 })):abs():max():item() > 0, 'a later draw differs')
  end)

  it('draws Poisson by PTRS with the exact pmf, and at huge rates', function()
    nl.manual_seed(23)
    local rates = { 10, 12.5, 30, 300 }
    local x = D.Poisson(t64(rates)):sample({ 50000 })
    for j, lam in ipairs(rates) do
      local f, l = {}, -lam                       -- the pmf by the ratio of neighbours, in logs
      for k = 0, 1000 do
        f[k] = math.exp(l)
        l = l + math.log(lam / (k + 1))
      end
      check_chi2(x:select(2, j):totable(), f, 1000, ('Poisson(%g)'):format(lam))
    end
    -- at a rate of 1e15 (a normal one, to 1e-7): its acceptance test's
    -- log-probability, as -rate + k log(rate) - lgamma(k + 1), lost the
    -- digits that count there (a tenth of the draws below -2 sd missing)
    local N = 200000
    local z = ((D.Poisson(t64({ 1e15 })):sample({ N }) - 1e15) / math.sqrt(1e15)):reshape(-1)
    local cuts = { -2, -1, -0.5, 0, 0.5, 1, 2 }
    local phi = { 0.0227501319481792, 0.158655253931457, 0.308537538725987, 0.5 }
    for i = 5, 7 do phi[i] = 1 - phi[8 - i] end
    local stat, below = 0, 0
    for i = 1, 8 do
      local upto = i <= 7 and z:lt(cuts[i]):sum():item() or N
      local e = N * ((phi[i] or 1) - (phi[i - 1] or 0))
      stat, below = stat + (upto - below - e) ^ 2 / e, upto
    end
    assert.is_true(stat < 29.9, ('Poisson(1e15): chi-square %.1f over 7 degrees of freedom (limit 29.9)'):format(stat))
  end)

  it('draws float32 Poisson at large rates with its mean and variance', function()
    -- (PTRS's acceptance test compares log-probabilities of size rate log
    -- rate, which float32 cannot hold to the units it needs)
    nl.manual_seed(14)
    local d = D.Poisson(nl.tensor({ 1e6, 3e6 }))
    local x = d:sample({ 40000 })
    assert.are.equal('float32', x:dtype())
    S.same_bits(x, x:floor(), 'Poisson whole')
    check_moments(x:double(), d.mean:double(), d.variance:double(), 'float32 Poisson')
  end)

  it('draws a TransformedDistribution through its transforms', function()
    nl.manual_seed(13)
    local td = D.TransformedDistribution(D.Normal(t64({ 0, 1 }), t64({ 0.3, 0.5 })),
                                         { D.AffineTransform(0.5, 2), D.ExpTransform() })
    local ln = D.LogNormal(t64({ 0.5, 2.5 }), t64({ 0.6, 1 }))           -- exp(0.5 + 2 N(loc, scale))
    for _, f in ipairs({ 'sample', 'rsample' }) do
      local x = td[f](td, { N })
      assert.are.same({ N, 2 }, x:shape())
      check_moments(x, ln.mean, ln.variance, 'TransformedDistribution ' .. f)
    end
  end)

  it('gives the same draws for the same seed', function()
    local d = D.Normal(nl.zeros(3), 1)
    nl.manual_seed(11)
    local a = d:sample({ 2 })
    nl.manual_seed(11)
    S.same_bits(a, d:sample({ 2 }), 'sample')
  end)
end)

describe('distributions: rsample gradients', function()
  -- the gradient of a sum of rsample's draws w.r.t. the parameters, with
  -- the draws' noise held fixed by the seed, against central differences
  local function fd_check(make, params, shape)
    local function draws(ps)
      nl.manual_seed(123)
      return make(unpack(ps)):rsample(shape)
    end
    local leaves = {}
    for i, p in ipairs(params) do leaves[i] = p:clone():requires_grad() end
    local y = draws(leaves)
    local w = nl.randn(y:shape(), 'float64')
    ;(y * w):sum():backward()
    local h = 1e-6
    for i, p in ipairs(params) do
      local g, flat = S.flat(leaves[i].grad), S.flat(p)
      for j = 1, #flat do
        local plus, minus = {}, {}
        for k, q in ipairs(params) do plus[k], minus[k] = q:clone(), q:clone() end
        local fp, fm = S.flat(plus[i]), S.flat(minus[i])
        fp[j], fm[j] = fp[j] + h, fm[j] - h
        plus[i] = nl.tensor(fp, 'float64'):view(p:shape())
        minus[i] = nl.tensor(fm, 'float64'):view(p:shape())
        local num = ((draws(plus) - draws(minus)) * w):sum():item() / (2 * h)
        assert.is_true(math.abs(num - g[j]) <= 1e-5 * (1 + math.abs(num)),
          ('param %d element %d: autograd %.10g, finite differences %.10g'):format(i, j, g[j], num))
      end
    end
  end
  local t64 = function(v) return nl.tensor(v, 'float64') end
  it('Normal, Laplace, Exponential and Uniform', function()
    fd_check(D.Normal, { t64({ 0.5, -1 }), t64({ 1.5, 0.3 }) }, { 3 })
    fd_check(D.Laplace, { t64({ 0.5, -1 }), t64({ 1.5, 0.3 }) }, { 3 })
    fd_check(D.Exponential, { t64({ 0.5, 2 }) }, { 3 })
    fd_check(D.Uniform, { t64({ 0.5, -1 }), t64({ 1.5, 0.3 }) }, { 3 })
  end)
  it('LogNormal', function()
    fd_check(D.LogNormal, { t64({ 0.5, -1 }), t64({ 0.5, 0.3 }) }, { 3 })
  end)
  it('TransformedDistribution, through the base and the transforms\' parameters', function()
    fd_check(function(loc, scale, b)
      return D.TransformedDistribution(D.Normal(loc, scale), { D.TanhTransform(), D.AffineTransform(0.5, b) })
    end, { t64({ 0.5, -1 }), t64({ 0.5, 0.3 }), t64({ 2, -0.5 }) }, { 3 })
  end)
  it('MultivariateNormal through its scale_tril and covariance', function()
    fd_check(function(loc, L) return D.MultivariateNormal(loc, { scale_tril = L:tril() }) end,
             { t64({ 0.5, -1 }), t64({ { 1.5, 0 }, { 0.3, 0.8 } }) }, { 3 })
    fd_check(function(loc, A) return D.MultivariateNormal(loc, sym(A)) end,
             { t64({ 0.5, -1 }), t64({ { 1.5, 0.2 }, { 0.3, 0.8 } }) }, { 2 })
  end)
  it('is x = loc + scale * eps for Normal: d/dloc = 1, d/dscale = eps', function()
    local loc, scale = t64({ 2 }):requires_grad(), t64({ 3 }):requires_grad()
    local x = D.Normal(loc, scale):rsample({ 5 })
    x:sum():backward()
    assert.are.equal(5, loc.grad:item())
    S.expect_close(scale.grad, ((x:detach() - 2) / 3):sum():reshape(1), 'd/dscale', 1e-12, 1e-12)
  end)
  it('refuses rsample where PyTorch has none, and sample gives no gradient', function()
    for _, d in ipairs({ D.Bernoulli(0.3), D.Categorical(nl.ones(3)), D.OneHotCategorical(nl.ones(3)), D.Poisson(2),
                         D.Binomial(3, 0.5) }) do
      assert.is_false(d.has_rsample)
      S.contains(S.errmsg(d.rsample, d), d.__name .. ': rsample is not available')
    end
    -- PyTorch reparameterizes these by an implicit gradient nnlua does not have
    for _, d in ipairs({ D.Gamma(2, 1), D.Beta(2, 1), D.Dirichlet(nl.ones(3)) }) do
      assert.is_false(d.has_rsample)
      S.contains(S.errmsg(d.rsample, d), d.__name .. ': rsample is not available: nnlua cannot reparameterize')
    end
    local loc = nl.zeros(2):requires_grad()
    assert.is_false(D.Normal(loc, 1):sample().is_requires_grad)
    assert.is_true(D.Independent(D.Normal(loc, 1), 1).has_rsample)
    assert.is_false(D.Independent(D.Bernoulli(nl.ones(2) * 0.5), 1).has_rsample)
  end)
end)

-- float64 gradchecks of the closed forms (nl.gradcheck: central differences)
describe('distributions: gradcheck', function()
  local t64 = function(v) return nl.tensor(v, 'float64') end
  local x2 = t64({ { 0.3, 1.2 }, { 2.5, 0.7 } })
  it('log_prob, cdf and entropy of the families', function()
    for _, c in ipairs({
      { D.Normal, { t64({ 0.5, -1 }), t64({ 1.5, 0.4 }) }, x2, true },
      { D.Laplace, { t64({ 0.5, -1 }), t64({ 1.5, 0.4 }) }, x2, true },
      { D.Exponential, { t64({ 0.5, 2 }) }, x2, true },
      { D.Gamma, { t64({ 0.7, 3 }), t64({ 1.5, 0.4 }) }, x2, false },
      { D.Beta, { t64({ 0.7, 3 }), t64({ 1.5, 0.4 }) }, x2 / 3, false },
      { D.LogNormal, { t64({ 0.5, -1 }), t64({ 1.5, 0.4 }) }, x2, true },
      { D.Poisson, { t64({ 0.5, 2 }) }, t64({ { 0, 3 }, { 1, 2 } }), false },
    }) do
      local make, params, x, cdf = c[1], c[2], c[3], c[4]
      S.gradcheck(function(...) return make(...):log_prob(x) end, unpack(params))
      if cdf then S.gradcheck(function(...) return make(...):cdf(x) end, unpack(params)) end
      if make ~= D.Poisson then S.gradcheck(function(...) return make(...):entropy() end, unpack(params)) end
    end
    S.gradcheck(function(c) return D.Dirichlet(c):log_prob(t64({ 0.2, 0.3, 0.5 })) end, t64({ 0.7, 2, 1.3 }))
    S.gradcheck(function(c) return D.Dirichlet(c):entropy() end, t64({ 0.7, 2, 1.3 }))
    S.gradcheck(function(l) return D.Categorical(nil, l):entropy() end, t64({ { 0.7, 2, -1.3 }, { 0, 1, 2 } }))
    S.gradcheck(function(l) return D.Binomial(5, nil, l):log_prob(t64({ 0, 3, 5 })) end, t64({ 0.7, -2, 1.3 }))
    S.gradcheck(function(p) return D.Binomial(4, p):entropy() end, t64({ 0.2, 0.6 }))
    S.gradcheck(function(loc, L)
      return D.MultivariateNormal(loc, { scale_tril = L:tril() }):log_prob(t64({ { 0.3, -0.2 }, { 1, 2 } }))
    end, t64({ 0.5, -1 }), t64({ { 1.5, 0 }, { 0.3, 0.8 } }))
    S.gradcheck(function(loc, A)
      return D.MultivariateNormal(loc, { precision_matrix = nl.matmul(A, A:t()) + nl.eye(2, 'float64') }):log_prob(x2)
    end, t64({ 0.5, -1 }), t64({ { 1.5, 0.2 }, { 0.3, 0.8 } }))
  end)
  it('kl_divergence', function()
    S.gradcheck(function(a, b, c, d) return D.kl_divergence(D.Normal(a, b), D.Laplace(c, d)) end,
                t64({ 0.5, -1 }), t64({ 1.5, 0.4 }), t64({ 0.1, 0.2 }), t64({ 0.8, 1.1 }))
    S.gradcheck(function(a, b, c, d) return D.kl_divergence(D.Beta(a, b), D.Gamma(c, d)) end,
                t64({ 0.5, 1 }), t64({ 1.5, 0.4 }), t64({ 0.7, 2 }), t64({ 0.8, 1.1 }))
    S.gradcheck(function(A, B)
      return D.kl_divergence(D.MultivariateNormal(nl.zeros(2, 'float64'), nl.matmul(A, A:t()) + nl.eye(2, 'float64')),
                             D.MultivariateNormal(t64({ 1, 0 }), { scale_tril = B:tril() }))
    end, t64({ { 1.5, 0.2 }, { 0.3, 0.8 } }), t64({ { 1.2, 0 }, { -0.3, 0.9 } }))
  end)
end)

describe('distributions: shapes, expand, enumerate_support and kl dispatch', function()
  it('broadcasts numbers and tensors as PyTorch does', function()
    local d = D.Normal(0, 1)
    assert.are.same({}, d.batch_shape)
    assert.are.equal('float32', d.loc:dtype())
    local e = D.Normal(nl.zeros(3, 1, 'float64'), nl.ones(4))
    assert.are.same({ 3, 4 }, e.batch_shape)
    assert.are.equal('float64', e.scale:dtype())
    assert.are.same({ 2, 3, 4 }, e:log_prob(nl.zeros(2, 1, 4)):shape())
    assert.are.same({ 3, 4 }, e:log_prob(0):shape())
  end)
  it('expands the batch shape', function()
    local d = D.Normal(nl.tensor({ 1, 2 }), 3):expand({ 4, 2 })
    assert.are.same({ 4, 2 }, d.batch_shape)
    assert.are.same({ 4, 2 }, d:sample():shape())
    S.expect_close(d.mean, nl.tensor({ { 1, 2 }, { 1, 2 }, { 1, 2 }, { 1, 2 } }), 'mean', 0, 0)
    local c = D.Categorical(nl.tensor({ 0.2, 0.8 })):expand({ 3 })
    assert.are.same({ 3 }, c.batch_shape)
    S.expect_close(c:log_prob(nl.tensor({ 1, 2, 2 }, 'int64')), nl.tensor({ 0.2, 0.8, 0.8 }):log(), 'cat', 1e-6, 0)
    local m = D.MultivariateNormal(nl.zeros(2), nl.eye(2)):expand({ 3 })
    assert.are.same({ 3 }, m.batch_shape)
    assert.are.same({ 3, 2, 2 }, m.covariance_matrix:shape())
    local i = D.Independent(D.Normal(nl.zeros(2), 1), 1):expand({ 5 })
    assert.are.same({ 5 }, i.batch_shape)
    assert.are.same({ 2 }, i.event_shape)
    S.contains(S.errmsg(function() return d:expand({ 3 }) end), 'Normal.expand: cannot expand batch_shape [4,2] to [3]')
  end)
  it('gives param_shape as PyTorch: the parameters\' shape, of Bernoulli too', function()
    assert.are.same({ 4, 2 }, D.Bernoulli(nl.full({ 2 }, 0.3)):expand({ 4, 2 }).param_shape)
    assert.are.same({ 3 }, D.Bernoulli { logits = nl.zeros(3) }.param_shape)
    assert.are.same({ 2, 5 }, D.Categorical(nl.ones(2, 5)).param_shape)
    assert.are.same({ 2 }, D.Binomial(3, nl.full({ 2 }, 0.5)).param_shape)
  end)

  it('gives Categorical\'s mode as an int64 class and refuses a TransformedDistribution\'s', function()
    local m = D.Categorical(nl.tensor({ { 0.1, 0.6, 0.3 }, { 0.5, 0.2, 0.3 } })):expand({ 4, 2 }).mode
    assert.are.equal('int64', m:dtype())
    assert.are.same({ { 2, 1 }, { 2, 1 }, { 2, 1 }, { 2, 1 } }, m:totable())
    S.contains(S.errmsg(function() return D.TransformedDistribution(D.Normal(0, 1), D.ExpTransform()).mode end),
               'TransformedDistribution: mode is not implemented')
    assert.are.same({ 3, 2 }, D.Dirichlet(nl.ones(3, 2) * 0.5).mode:shape())
  end)

  it('makes a MultivariateNormal of an empty batch from each of its matrices', function()
    -- (validating the parameters reduced an empty tensor: 'min: cannot reduce an empty tensor')
    for _, m in ipairs({ nl.eye(2), { precision_matrix = nl.eye(2) }, { scale_tril = nl.eye(2) } }) do
      local d = D.MultivariateNormal(nl.zeros(0, 2), m)
      assert.are.same({ 0 }, d.batch_shape)
      assert.are.same({ 3, 0, 2 }, d:sample({ 3 }):shape())
      assert.are.same({ 0 }, d:log_prob(nl.zeros(0, 2)):shape())
      assert.are.same({ 0 }, d:entropy():shape())
    end
    assert.are.same({ 0 }, D.MultivariateNormal(nl.zeros(2), nl.eye(2):expand(0, 2, 2)).batch_shape)
  end)

  it('enumerates the support of the discrete ones', function()
    assert.are.same({ { 0, 0 }, { 1, 1 } }, D.Bernoulli(nl.tensor({ 0.2, 0.6 })):enumerate_support():totable())
    assert.are.same({ { 1, 1 }, { 2, 2 }, { 3, 3 } }, D.Categorical(nl.ones(2, 3)):enumerate_support():totable())
    assert.are.same({ 3, 3 }, D.OneHotCategorical(nl.ones(3)):enumerate_support():shape())
  end)
  it('shapes a TransformedDistribution as PyTorch does', function()
    -- an AffineTransform of event_dim 1 makes the base's last batch dim an event dim
    local td = D.TransformedDistribution(D.Normal(nl.zeros(4, 3), 1), D.AffineTransform(nl.ones(3), 2, { event_dim = 1 }))
    assert.are.same({ 4 }, td.batch_shape)
    assert.are.same({ 3 }, td.event_shape)
    assert.are.equal('Independent', td.base_dist.__name)
    assert.are.same({ 5, 4, 3 }, td:sample({ 5 }):shape())
    -- parameters of a larger shape expand the base
    local tb = D.TransformedDistribution(D.Normal(0, 1), D.AffineTransform(nl.zeros(2, 3), 1))
    assert.are.same({ 2, 3 }, tb.batch_shape)
    assert.are.same({ 2, 3 }, tb.base_dist.batch_shape)
    assert.are.same({ 5, 2, 3 }, tb:expand({ 5, 2, 3 }):sample():shape())
    -- LogNormal is one, for kl_divergence's dispatch
    local ln, te = D.LogNormal(0, 1), D.TransformedDistribution(D.Normal(1, 1), D.ExpTransform())
    S.expect_close(D.kl_divergence(ln, te), nl.tensor(0.5), 'LogNormal vs exp of a Normal', 1e-6, 0)
    S.contains(S.errmsg(D.kl_divergence, te, D.TransformedDistribution(D.Normal(1, 1), D.SigmoidTransform())),
               'KL between TransformedDistributions is implemented only for equal transforms')
  end)
  it('dispatches kl_divergence to the most specific registered pair', function()
    local MyNormal = D.Normal:extend('MyNormal')
    local p, q = MyNormal(0, 1), D.Normal(1, 1)
    assert.are.equal(MyNormal, getmetatable(p))
    assert.are.equal('MyNormal(loc: 0, scale: 1)', tostring(p))
    -- Normal's KL, by inheritance: (0 - 1)^2 / 2
    S.expect_close(D.kl_divergence(p, q), nl.tensor(0.5), 'inherited', 1e-6, 0)
    D.register_kl(MyNormal, D.Normal)(function() return nl.tensor(42) end)
    assert.are.equal(42, D.kl_divergence(p, q):item())
    assert.are.equal(0.5, D.kl_divergence(q, MyNormal(0, 1)):item())
    S.contains(S.errmsg(D.kl_divergence, q, D.Bernoulli(0.5)),
               'kl_divergence: no KL(p || q) is implemented for p of type Normal and q of type Bernoulli')
  end)
end)

describe('distributions: a value of another dtype', function()
  -- float32 parameters, float64 values: PyTorch 1.13.1 promotes (the result
  -- is float64) except where it casts the value to the parameters' dtype
  -- (Categorical, OneHotCategorical, Uniform.log_prob, MultivariateNormal,
  -- Gamma). The values are PyTorch's (torch.distributions, same arguments).
  local f = function(x) return nl.tensor(x, 'float32') end
  local CASES = {
    { 'Normal', D.Normal(f(0.5), f(1.5)), 0.3, { log_prob = -1.333292518, cdf = 0.4469648818, icdf = -0.2866007691 } },
    { 'Bernoulli', D.Bernoulli(f(0.3)), 1, { log_prob = -1.203972816 } },
    { 'Bernoulli logits', D.Bernoulli(nil, f(0.3)), 1, { log_prob = -0.5543552637 } },
    { 'Categorical', D.Categorical(f({ 0.2, 0.3, 0.5 })), 2, { log_prob = -1.203972816 }, 'float32' },
    { 'OneHotCategorical', D.OneHotCategorical(f({ 0.2, 0.3, 0.5 })), { 0, 1, 0 }, { log_prob = -1.203972816 }, 'float32' },
    { 'Uniform', D.Uniform(f(0), f(2)), 0.5, { cdf = 0.25, icdf = 1 } },
    { 'Uniform log_prob', D.Uniform(f(0), f(2)), 0.5, { log_prob = -0.6931471825 }, 'float32' },
    { 'Exponential', D.Exponential(f(1.5)), 0.5, { log_prob = -0.3445349038, cdf = 0.5276334473, icdf = 0.4620981204 } },
    { 'Laplace', D.Laplace(f(0.5), f(1.5)), 0.3, { log_prob = -1.231945642, cdf = 0.4375866595, icdf = -0.2662384356 } },
    { 'MultivariateNormal', D.MultivariateNormal(f({ 0, 1 }), f({ { 2, 0.5 }, { 0.5, 1 } })), { 0.3, 0.2 },
      { log_prob = -2.577684879 }, 'float32' },
    { 'Independent', D.Independent(D.Normal(f({ 0.5, 0.1 }), f({ 1.5, 1 })), 1), { 0.3, 0.2 }, { log_prob = -2.257231051 } },
    { 'Gamma', D.Gamma(f(2), f(1.5)), 0.5, { log_prob = -0.63221699 }, 'float32' },
    { 'Dirichlet', D.Dirichlet(f({ 1, 2, 3 })), { 0.2, 0.3, 0.5 }, { log_prob = 1.50407745 } },
    { 'Beta', D.Beta(f(2), f(3)), 0.3, { log_prob = 0.5675839812 } },
    { 'Poisson', D.Poisson(f(2)), 3, { log_prob = -1.712317928 } },
    { 'Binomial', D.Binomial(5, f(0.3)), 2, { log_prob = -1.175385332 } },
    { 'LogNormal', D.LogNormal(f(0.5), f(1.5)), 0.3, { log_prob = -0.7656582291, cdf = 0.1279820691, icdf = 0.7508114162 } },
    { 'TransformedDistribution', D.TransformedDistribution(D.Normal(f(0.5), f(1.5)), { D.ExpTransform() }), 0.3,
      { log_prob = -0.7656582291, cdf = 0.1279820691, icdf = 0.7508114162 } },
  }
  it('promotes a float64 value of a float32 distribution as PyTorch does', function()
    for _, c in ipairs(CASES) do
      local d, v = c[2], nl.tensor(c[3], c[1] == 'Categorical' and 'int64' or 'float64')
      for _, m in ipairs({ 'log_prob', 'cdf', 'icdf' }) do
        local want = c[4][m]
        if want then
          local r = d[m](d, v)
          local what = c[1] .. '.' .. m
          assert.are.equal(c[5] or 'float64', r:dtype(), what)
          local got = r:sum():item()
          assert.is_true(math.abs(got - want) <= 1e-6 * math.abs(want) + 1e-8, ('%s: %.10g, PyTorch %.10g'):format(what, got, want))
        end
      end
    end
  end)

  it('kl_divergence of two MultivariateNormals of different dtypes promotes, as PyTorch', function()
    local p = D.MultivariateNormal(nl.zeros(2), nl.eye(2) * 2)
    local q = D.MultivariateNormal(nl.ones(2):double(), nl.tensor({ { 2, 0.5 }, { 0.5, 1 } }, 'float64'))
    -- PyTorch 1.13.1 (float64 both ways): 0.872374998144542 and 0.663339109682954; the
    -- float64 pair's 0.872374999122052 and 0.663339286592234
    for _, c in ipairs({ { p, q, 0.872374999122052 }, { q, p, 0.663339286592234 } }) do
      local kl = D.kl_divergence(c[1], c[2])
      assert.are.equal('float64', kl:dtype())
      assert.is_true(math.abs(kl:item() - c[3]) < 1e-6, tostring(kl:item()))
    end
  end)

  it('computes Normal(0, 1):log_prob of a float64 value in float64', function()
    local r = D.Normal(0, 1):log_prob(nl.tensor({ 0.1, 3 }, 'float64'))
    assert.are.equal('float64', r:dtype())
    S.expect_close(r, nl.tensor({ -0.005 - 0.5 * math.log(2 * math.pi), -4.5 - 0.5 * math.log(2 * math.pi) }, 'float64'),
      'log_prob', 1e-14, 1e-15)
  end)
end)

describe('distributions: errors', function()
  local function err(f, part) S.contains(S.errmsg(f), part) end
  it('checks the parameters against their constraints when validating', function()
    err(function() return D.Normal(nl.zeros(2), nl.tensor({ 1, -1 })) end,
        'Normal: expected parameter scale (shape [2]) to satisfy the constraint positive')
    err(function() return D.Normal(0 / 0, 1) end, 'expected parameter loc (shape []) to satisfy the constraint real')
    err(function() return D.Bernoulli(nl.tensor({ 0.5, 1.5 })) end, 'constraint unit_interval')
    err(function() return D.Categorical(nl.tensor({ 0.5, -0.5, 1 })) end, 'constraint simplex')
    err(function() return D.Exponential(0) end, 'Exponential: expected parameter rate')
    err(function() return D.Laplace(0, -2) end, 'Laplace: expected parameter scale')
    err(function() return D.Uniform(1, nl.tensor({ 2, 0.5 })) end, 'Uniform: expected low < high')
    err(function() return D.MultivariateNormal(nl.zeros(2), nl.tensor({ { 1, 2 }, { 2, 1 } })) end,
        'covariance_matrix (shape [2,2]) to satisfy the constraint positive_definite')
    err(function() return D.MultivariateNormal(nl.zeros(2), { scale_tril = nl.tensor({ { 1, 1 }, { 0, 1 } }) }) end,
        'constraint lower_cholesky')
    -- without validation they are taken as they are
    assert.is_true(D.Normal(0, -1, { validate_args = false }):log_prob(0):item() ~= D.Normal(0, 1):log_prob(0):item())
    D.Distribution.set_default_validate_args(false)
    local ok = pcall(D.Normal, 0, -1)
    D.Distribution.set_default_validate_args(true)
    assert.is_true(ok)
  end)
  it('takes the options as the last positional argument of Bernoulli, Categorical, OneHotCategorical and Binomial', function()
    -- (where the logits would go: a plain table there is the options)
    local NV = { validate_args = false }
    local bad = nl.tensor({ 0.5, 1.5 })
    for _, make in ipairs({
      function(o) return D.Bernoulli(bad, o) end,
      function(o) return D.Categorical(nl.tensor({ 0.5, -0.5, 1 }), o) end,
      function(o) return D.OneHotCategorical(nl.tensor({ 0.5, -0.5, 1 }), o) end,
      function(o) return D.Binomial(3, bad, o) end,
      function(o) return D.Binomial(2.5, 0.5, o) end,
    }) do
      make(NV)
      err(function() return make({ validate_args = true }) end, 'to satisfy the constraint')
      err(function() return make({ validate_arg = false }) end, 'unknown option validate_arg')
    end
    -- unvalidated, a value off the support is scored: Bernoulli's log_prob
    -- of 0.5 is 0.5 log(p) + 0.5 log(1 - p)
    S.expect_close(D.Bernoulli(nl.tensor(0.3, 'float64'), NV):log_prob(0.5),
                   nl.tensor(0.5 * math.log(0.3) + 0.5 * math.log(0.7), 'float64'), 'Bernoulli', 1e-12, 1e-12)
    -- and still the positional logits, and the options after them
    S.expect_close(D.Bernoulli(nil, nl.tensor(0, 'float64'), NV).probs, nl.tensor(0.5, 'float64'), 'logits', 0, 0)
    S.expect_close(D.Binomial(4, nil, nl.tensor(0, 'float64'), NV).mean, nl.tensor(2, 'float64'), 'logits', 0, 0)
  end)
  it('names a missing parameter, as PyTorch\'s missing argument', function()
    -- (they were made without it, to fail at their first use, or failed inside broadcast_all)
    err(function() return D.Normal(0) end, 'Normal: expected scale as a tensor or a number, got nil')
    err(function() return D.Normal(nil, 1) end, 'Normal: expected loc as a tensor or a number, got nil')
    err(function() return D.Gamma(nl.ones(2)) end, 'Gamma: expected rate as a tensor or a number, got nil')
    err(function() return D.Uniform(0) end, 'Uniform: expected high as a tensor or a number, got nil')
    err(function() return D.Laplace(0) end, 'Laplace: expected scale as a tensor or a number, got nil')
    err(function() return D.LogNormal(0) end, 'Normal: expected scale as a tensor or a number, got nil')
    err(function() return D.Beta(1) end, 'Beta: expected concentration0 as a tensor or a number, got nil')
    err(function() return D.Exponential() end, 'Exponential: expected rate as a tensor or a number, got nil')
    err(function() return D.Poisson() end, 'Poisson: expected rate as a tensor or a number, got nil')
  end)
  it('names a value that is not a tensor in the cdf and icdf of TransformedDistribution and LogNormal', function()
    local td = D.TransformedDistribution(D.Normal(0, 1), { D.ExpTransform() })
    err(function() return td:cdf() end, 'TransformedDistribution.cdf: expected the value as a tensor, got nil')
    err(function() return td:cdf('a') end, 'TransformedDistribution.cdf: expected the value as a tensor, got string')
    err(function() return td:icdf({}) end, 'TransformedDistribution.icdf: expected the value as a tensor, got table')
    err(function() return D.LogNormal(0, 1):cdf() end, 'LogNormal.cdf: expected the value as a tensor, got nil')
    err(function() return D.LogNormal(0, 1):icdf('a') end, 'LogNormal.icdf: expected the value as a tensor, got string')
    S.expect_close(D.LogNormal(0, 1):cdf(1), nl.tensor(0.5), 'LogNormal.cdf(1)', 1e-6, 1e-7)
  end)
  it('names a transform given something other than a tensor', function()
    err(function() return D.ExpTransform()(nil) end, 'ExpTransform.forward: expected a tensor, got nil')
    err(function() return D.PowerTransform(2)(3) end, 'PowerTransform.forward: expected a tensor, got number')
    err(function() return D.AffineTransform(0, 1):inv('a') end, 'AffineTransform.inv: expected a tensor, got string')
    err(function() return D.SigmoidTransform():log_abs_det_jacobian() end,
        'SigmoidTransform.log_abs_det_jacobian: expected a tensor, got nil')
    err(function() return D.TanhTransform():inv({}) end, 'TanhTransform.inv: expected a tensor, got table')
    S.expect_close(D.AffineTransform(1, 2)(nl.tensor({ 1, 2 })), nl.tensor({ 3, 5 }), 'affine', 0, 0)
  end)
  it('checks values against the support, event_shape and batch_shape', function()
    err(function() return D.Exponential(1):log_prob(-1) end,
        'Exponential.log_prob: expected the value (shape []) to be within the support (nonnegative)')
    err(function() return D.Bernoulli(0.5):log_prob(nl.tensor({ 0.5 })) end, 'support (boolean)')
    err(function() return D.Categorical(nl.ones(3)):log_prob(nl.tensor({ 0, 1 }, 'int64')) end,
        'support (integer_interval(1, 3))')
    err(function() return D.Categorical(nl.ones(3)):log_prob(nl.tensor({ 4 }, 'int64')) end, 'integer_interval(1, 3)')
    err(function() return D.Uniform(0, 1):cdf(2) end, 'Uniform.cdf: expected the value')
    err(function() return D.OneHotCategorical(nl.ones(3)):log_prob(nl.tensor({ 1, 1, 0 })) end, 'support (one_hot)')
    err(function() return D.MultivariateNormal(nl.zeros(3), nl.eye(3)):log_prob(nl.zeros(2)) end,
        'MultivariateNormal.log_prob: the right-most sizes of the value [2] must match event_shape [3]')
    err(function() return D.Normal(nl.zeros(3), 1):log_prob(nl.zeros(2)) end,
        'Normal.log_prob: the value [2] does not broadcast with batch_shape + event_shape [3]')
    err(function() return D.Normal(0, 1):log_prob('x') end, 'Normal.log_prob: expected the value as a tensor, got string')
    -- without validation, Uniform's log_prob is -inf outside
    assert.are.equal(-math.huge, D.Uniform(0, 1, { validate_args = false }):log_prob(2):item())
  end)
  it('refuses to draw from parameters out of their constraints when not validating', function()
    -- (PyTorch 1.13's samplers refuse a NaN or negative Poisson rate and
    -- Bernoulli probs outside [0, 1]; these drew 0s, and the gamma family
    -- failed after 200 rounds naming Gamma)
    local off = { validate_args = false }
    err(function() return D.Poisson(nl.tensor({ 2, -1 }), off):sample() end,
        'Poisson.sample: expected rate >= 0, but found invalid values in rate (shape [2])')
    err(function() return D.Poisson(nl.tensor(0 / 0), off):sample({ 3 }) end, 'Poisson.sample: expected rate >= 0')
    err(function() return D.Bernoulli(nl.tensor({ 0.5, 0 / 0 }), off):sample() end,
        'Bernoulli.sample: expected probs in [0, 1], but found invalid values in probs (shape [2])')
    err(function() return D.Bernoulli(1.5, off):sample() end, 'Bernoulli.sample: expected probs in [0, 1]')
    err(function() return D.Gamma(nl.tensor({ 1, -1 }), 1, off):sample() end,
        'Gamma.sample: expected concentration > 0 and finite, but found invalid values in concentration (shape [2])')
    err(function() return D.Gamma(1, -2, off):sample() end, 'Gamma.sample: expected rate > 0')
    err(function() return D.Dirichlet(nl.tensor({ 1, 0 / 0 }), off):sample() end,
        'Dirichlet.sample: expected concentration > 0 and finite')
    err(function() return D.Beta(2, -1, off):sample({ 2 }) end,
        'Beta.sample: expected concentration0 > 0 and finite, but found invalid values in concentration0 (shape [])')
    -- a parameter changed in place after a validated construction
    local rate = nl.tensor({ 1, 2 })
    local d = D.Poisson(rate)
    rate[2] = -3
    err(function() return d:sample() end, 'Poisson.sample: expected rate >= 0')
    -- the edges of the constraints still draw
    assert.are.same({ 0, 1 }, D.Bernoulli(nl.tensor({ 0, 1 }), off):sample():tolist())
    assert.are.same({ 0 }, D.Poisson(nl.tensor({ 0 }), off):sample():tolist())
  end)

  it('refuses bad arguments with the distribution and shapes named', function()
    err(function() return D.Normal(nl.zeros(2), nl.ones(3)) end,
        'Normal: the shapes of loc [2], scale [3] do not broadcast')
    err(function() return D.Normal(nl.zeros(2, 'int64'), 1) end, 'Normal: expected loc as a float tensor or a number, got int64 [2]')
    err(function() return D.Normal('a', 1) end, 'Normal: expected loc as a tensor or a number, got string')
    err(function() return D.Bernoulli() end, 'Bernoulli: either probs or logits must be specified, but not both')
    err(function() return D.Bernoulli(0.5, 0) end, 'either probs or logits')
    err(function() return D.Categorical(nl.tensor(1)) end, 'Categorical: probs must be at least one-dimensional, got shape []')
    err(function() return D.Normal(0, 1, { validate = true }) end, 'Normal: unknown option validate')
    err(function() return D.MultivariateNormal(nl.zeros(2)) end,
        'MultivariateNormal: exactly one of covariance_matrix or precision_matrix or scale_tril may be specified')
    err(function() return D.MultivariateNormal(nl.zeros(2), nl.eye(3)) end,
        'MultivariateNormal: covariance_matrix [3,3] must be square of the size of loc [2]')
    err(function() return D.MultivariateNormal(nl.zeros(2, 2), nl.eye(2):expand({ 3, 2, 2 })) end,
        'the batch shapes of loc [2,2] and covariance_matrix [3,2,2] do not broadcast')
    err(function() return D.MultivariateNormal(nl.tensor(0), nl.eye(1)) end, 'loc must be at least one-dimensional')
    err(function() return D.Independent(D.Normal(nl.zeros(2), 1), 2) end,
        'Independent: expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), actual 2 vs 1')
    err(function() return D.Gamma(nl.tensor({ 1, -1 }), 1) end, 'Gamma: expected parameter concentration (shape [2])')
    err(function() return D.Beta(1, 0) end, 'Beta: expected parameter concentration0 (shape []) to satisfy the constraint positive')
    err(function() return D.Dirichlet(nl.tensor({ 1, 0 })) end, 'Dirichlet: expected parameter concentration')
    err(function() return D.Dirichlet(nl.tensor(1)) end, 'Dirichlet: concentration must be at least one-dimensional')
    err(function() return D.Poisson(-1) end, 'Poisson: expected parameter rate (shape []) to satisfy the constraint nonnegative')
    err(function() return D.Binomial(2.5, 0.5) end, 'Binomial: expected parameter total_count (shape []) to satisfy the constraint nonnegative_integer')
    err(function() return D.Binomial(3) end, 'Binomial: either probs or logits must be specified')
    err(function() return D.Poisson(2):log_prob(1.5) end, 'support (nonnegative_integer)')
    err(function() return D.Binomial(3, 0.5):log_prob(4) end, 'support (integer_interval(0, total_count))')
    err(function() return D.Beta(1, 1):log_prob(1.5) end, 'Beta.log_prob: expected the value (shape []) to be within the support (unit_interval)')
    err(function() return D.Dirichlet(nl.ones(3)):log_prob(nl.tensor({ 0.5, 0.2, 0.2 })) end, 'support (simplex)')
    err(function() return D.LogNormal(0, 1):log_prob(-1) end, 'LogNormal.log_prob: expected the value (shape []) to be within the support (positive)')
    err(function() return D.Binomial(nl.tensor({ 2, 3 }), 0.5):entropy() end,
        'Binomial: entropy needs one total_count for the whole batch (inhomogeneous total count)')
    err(function() return D.kl_divergence(D.Binomial(2, 0.5), D.Binomial(3, 0.5)) end,
        'KL between Binomials where q.total_count > p.total_count is not implemented')
    err(function() return D.TransformedDistribution(D.Normal(0, 1), { D.ExpTransform(), 3 }) end,
        'TransformedDistribution: transforms must be a Transform or a list of Transforms (element 2 is not)')
    err(function() return D.TransformedDistribution(D.Normal(0, 1), D.AffineTransform(0, 1, { event_dim = 1 })) end,
        'TransformedDistribution: base_distribution needs a shape of at least 1 dims, got []')
    err(function() return D.TransformedDistribution(D.Normal(0, 1), D.ExpTransform()):log_prob(-1) end,
        'TransformedDistribution.log_prob: expected the value (shape []) to be within the support (positive)')
    err(function() return D.TransformedDistribution(D.Normal(nl.zeros(2), 1), D.AffineTransform(nl.zeros(3), 1)) end,
        'AffineTransform: the shape [2] does not broadcast with the parameters [3]')
    err(function() return D.AffineTransform('a', 1) end, 'AffineTransform: expected loc as a number or a tensor, got string')
    err(function() return D.Bernoulli(0.5):cdf(1) end, 'Bernoulli: cdf is not implemented')
    err(function() return D.MultivariateNormal(nl.zeros(2), nl.eye(2)):icdf(0.5) end, 'MultivariateNormal: icdf is not implemented')
    err(function() return D.Normal(0, 1):sample({ 2.5 }) end, 'Normal.sample: expected whole sizes >= 0, got 2.5 at 1')
    err(function() return D.kl_divergence(D.Independent(D.Normal(nl.zeros(2, 2), 1), 1), D.Independent(D.Normal(nl.zeros(2, 2), 1), 2)) end,
        'KL between Independents of reinterpreted_batch_ndims 1 and 2 is not implemented')
    err(function() return D.kl_divergence(D.MultivariateNormal(nl.zeros(2), nl.eye(2)), D.MultivariateNormal(nl.zeros(3), nl.eye(3))) end,
        'different event shapes [2] and [3]')
  end)
end)
