-- The random fills of lua/nnlua/tensor_random.lua (random_, cauchy_,
-- geometric_, log_normal_, nl.poisson, nl.binomial): large seeded
-- samples against closed forms. Means within 6 standard errors of the
-- exact mean; the Kolmogorov-Smirnov distance to the exact CDF (at the
-- whole numbers, for the discrete ones) below sqrt(ln(2 / 1e-6) / (2 n)),
-- the bound a correct sampler exceeds with probability under 1e-6; the
-- support; reproducibility by nl.manual_seed whatever the thread count;
-- and the errors of bad parameters, each naming the op.
local nl = require 'nnlua'
local S = require 'support'

local N = 200000
local KS = math.sqrt(math.log(2 / 1e-6) / (2 * N))

-- the KS distance of sample x (any shape) to a continuous cdf (a function
-- of a float64 tensor giving a tensor)
local function ks_continuous(x, cdf)
  local v = x:reshape(-1):double():sort()
  local n = v:numel()
  local F = cdf(v)
  local hi = nl.arange(1, n + 1, 'float64') / n
  return math.max((hi - F):max():item(), (F - (hi - 1 / n)):max():item())
end
-- the KS distance at the whole numbers 0 .. kmax (the cdf by the pmf
-- pmf(k), a Lua function): max_k |#{x <= k} / n - F(k)|
local function ks_discrete(x, pmf, kmin, kmax)
  local v = x:reshape(-1):double()
  local n = v:numel()
  local counts = v:histc(kmax - kmin + 1, kmin - 0.5, kmax + 0.5):totable()
  local F, seen, worst = 0, v:lt(kmin - 0.5):sum():item(), 0
  for k = kmin, kmax do
    F = F + pmf(k)
    seen = seen + counts[k - kmin + 1]
    worst = math.max(worst, math.abs(seen / n - F))
  end
  return worst
end
-- mean within 6 standard errors of the exact mean mu (variance var)
local function mean_ok(x, mu, var)
  local m = x:double():mean():item()
  local tol = 6 * math.sqrt(var / x:numel())
  assert(math.abs(m - mu) <= tol, ('mean %.8g, expected %.8g within %.3g'):format(m, mu, tol))
end
local function whole(x) return x:double():ne(x:double():floor()):sum():item() == 0 end
local function errmsg(f) return S.errmsg(f) end

describe('random_', function()
  before_each(function() nl.manual_seed(20261129) end)

  it('draws whole numbers in [0, to) uniformly: frequencies and KS', function()
    local x = nl.zeros(N, 'int64'):random_(7)
    assert.are.equal(0, x:min():item())
    assert.are.equal(6, x:max():item())
    mean_ok(x, 3, (49 - 1) / 12)
    assert.is_true(ks_discrete(x, function() return 1 / 7 end, 0, 6) < KS)
  end)
  it('draws [from, to) on float tensors, negative bounds too', function()
    local x = nl.zeros(N, 'float64'):random_(-3, 3)
    assert.is_true(whole(x))
    assert.are.same({ -3, 2 }, { x:min():item(), x:max():item() })
    assert.is_true(ks_discrete(x, function() return 1 / 6 end, -3, 2) < KS)
  end)
  it('defaults to [0, 2^24] for float32, [0, 2^53] for float64, [0, 2^63 - 1] for int64', function()
    local f = nl.zeros(N):random_()
    assert.is_true(whole(f) and f:min():item() >= 0 and f:max():item() <= 2 ^ 24)
    mean_ok(f, 2 ^ 23, ((2 ^ 24 + 1) ^ 2 - 1) / 12)
    local d = nl.zeros(N, 'float64'):random_()
    assert.is_true(whole(d) and d:min():item() >= 0 and d:max():item() <= 2 ^ 53)
    mean_ok(d / 2 ^ 53, 0.5, 1 / 12)
    local i = nl.zeros(N, 'int64'):random_()
    assert.are.equal(0, i:lt(0):sum():item())
    -- the top bit of the 63: about half are >= 2^62
    local half = i:double():ge(2 ^ 62):double():mean():item()
    assert.is_true(math.abs(half - 0.5) < 6 * math.sqrt(0.25 / N))
    -- from alone with an explicit nil: [from, the bound]
    local g = nl.zeros(N):random_(2 ^ 24 - 3, nil)
    assert.are.same({ 2 ^ 24 - 3, 2 ^ 24 }, { g:min():item(), g:max():item() })
  end)
  it('fills non-contiguous views whole', function()
    local base = nl.full({ 40, 50 }, -1)
    base:t():narrow(1, 2, 10):random_(1, 3)
    assert.are.equal(400, base:ge(1):sum():item())
    assert.are.equal(40 * 50 - 400, base:eq(-1):sum():item())
  end)
  it('refuses empty ranges, ranges a float dtype cannot hold, fractions and grad leaves', function()
    assert.truthy(errmsg(function() nl.zeros(3):random_(5, 3) end):find('random_: expected from < to, got from=5 to=3'))
    assert.truthy(errmsg(function() nl.zeros(3):random_(0) end):find('random_: expected from < to'))
    assert.truthy(errmsg(function() nl.zeros(3):random_(0, 2 ^ 25) end):find('random_: .*float32 holds every'))
    assert.truthy(errmsg(function() nl.zeros(3):random_(1.5) end):find('random_: expected a whole number as to'))
    assert.truthy(errmsg(function() nl.zeros(3):requires_grad():random_() end):find('random_'))
  end)
end)

describe('cauchy_, geometric_, log_normal_', function()
  before_each(function() nl.manual_seed(77) end)

  it('cauchy_ matches the Cauchy CDF', function()
    local m, s = 1.5, 0.5
    local x = nl.zeros(N, 'float64'):cauchy_(m, s)
    assert.is_true(ks_continuous(x, function(v) return ((v - m) / s):atan() / math.pi + 0.5 end) < KS)
    -- float32 too, with the defaults (median 0, sigma 1)
    local y = nl.zeros(N):cauchy_()
    assert.is_true(ks_continuous(y, function(v) return v:atan() / math.pi + 0.5 end) < KS)
  end)
  it('geometric_ counts trials up to the first success', function()
    local p = 0.3
    local x = nl.zeros(N):geometric_(p)
    assert.is_true(whole(x) and x:min():item() == 1)
    mean_ok(x, 1 / p, (1 - p) / p ^ 2)
    assert.is_true(ks_discrete(x, function(k) return k >= 1 and (1 - p) ^ (k - 1) * p or 0 end, 0, 40) < KS)
    local i = nl.zeros(1000, 'int64'):geometric_(1)
    assert.are.same({ 1, 1 }, { i:min():item(), i:max():item() })
  end)
  it('log_normal_ is exp of a normal: KS of the log and the mean', function()
    local mu, sd = 0.5, 0.75
    local x = nl.zeros(N, 'float64'):log_normal_(mu, sd)
    assert.is_true(x:min():item() > 0)
    assert.is_true(ks_continuous(x:log(), function(v) return 0.5 * (1 + ((v - mu) / (sd * math.sqrt(2))):erf()) end)
                   < KS)
    mean_ok(x, math.exp(mu + sd ^ 2 / 2), (math.exp(sd ^ 2) - 1) * math.exp(2 * mu + sd ^ 2))
    -- PyTorch's defaults: mean 1, std 2
    local d = nl.zeros(N, 'float64'):log_normal_()
    assert.is_true(ks_continuous(d:log(), function(v) return 0.5 * (1 + ((v - 1) / (2 * math.sqrt(2))):erf()) end) < KS)
  end)
  it('refuse bad parameters, naming the op', function()
    assert.truthy(errmsg(function() nl.zeros(3):cauchy_(0, 0) end)
                    :find('cauchy_: expected a finite median and sigma > 0, got median=0 sigma=0'))
    assert.truthy(errmsg(function() nl.zeros(3):cauchy_(0, -1) end):find('cauchy_: .*sigma > 0'))
    assert.truthy(errmsg(function() nl.zeros(3, 'int64'):cauchy_() end):find('cauchy_: expected a float tensor'))
    assert.truthy(errmsg(function() nl.zeros(3):geometric_(0) end):find('geometric_: expected p in %(0, 1%], got p=0'))
    assert.truthy(errmsg(function() nl.zeros(3):geometric_(1.5) end):find('geometric_: expected p in %(0, 1%]'))
    assert.truthy(errmsg(function() nl.zeros(3):geometric_(0 / 0) end):find('geometric_: expected p in'))
    assert.truthy(errmsg(function() nl.zeros(3):geometric_() end):find('geometric_: expected a probability'))
    assert.truthy(errmsg(function() nl.zeros(3):log_normal_(0, 0) end):find('log_normal_: .*std > 0'))
    assert.truthy(errmsg(function() nl.zeros(3):log_normal_(0, -2) end):find('log_normal_: .*std > 0'))
  end)
end)

describe('nl.poisson and nl.binomial', function()
  before_each(function() nl.manual_seed(5) end)

  -- (in logs: exp(-1000) underflows)
  local function poisson_pmf(lam)
    local cache, last, lp = {}, -1, 0
    return function(k)
      while last < k do
        last = last + 1
        lp = last == 0 and -lam or lp + math.log(lam) - math.log(last)
        cache[last] = math.exp(lp)
      end
      return cache[k]
    end
  end
  local function binomial_pmf(n, q)
    local cache, last, p = {}, -1, 0
    return function(k)
      if k > n then return 0 end
      while last < k do
        last = last + 1
        p = last == 0 and (1 - q) ^ n or p * (n - last + 1) / last * q / (1 - q)
        cache[last] = p
      end
      return cache[k]
    end
  end

  it('poisson matches the Poisson pmf below and above rate 10', function()
    for _, lam in ipairs({ 0.7, 3.5, 40, 1000 }) do
      local x = nl.poisson(nl.full({ N }, lam, 'float64'))
      assert.are.equal('float64', x:dtype())
      assert.is_true(whole(x) and x:min():item() >= 0)
      mean_ok(x, lam, lam)
      local hi = math.ceil(lam + 8 * math.sqrt(lam) + 5)
      assert.is_true(ks_discrete(x, poisson_pmf(lam), 0, hi) < KS, 'rate ' .. lam)
    end
    -- rate 0 gives 0; a tensor of rates keeps its shape and dtype
    local r = nl.poisson(nl.tensor({ { 0, 2 }, { 5, 0 } }))
    assert.are.same({ 2, 2 }, r:shape())
    assert.are.equal('float32', r:dtype())
    assert.are.equal(0, r[1][1])
  end)
  it('binomial matches the binomial pmf by inversion and by BTRS, broadcasting', function()
    for _, c in ipairs({ { 20, 0.3 }, { 200, 0.6 }, { 1000, 0.02 } }) do
      local n, q = c[1], c[2]
      local x = nl.binomial(nl.full({ N }, n), nl.tensor({ q }))
      assert.are.same({ N }, x:shape())
      assert.is_true(whole(x) and x:min():item() >= 0 and x:max():item() <= n)
      mean_ok(x, n * q, n * q * (1 - q))
      assert.is_true(ks_discrete(x, binomial_pmf(n, q), 0, n) < KS, ('n %d p %g'):format(n, q))
    end
    local b = nl.binomial(nl.tensor({ { 0 }, { 5 }, { 9 } }), nl.tensor({ 0, 1, 0.5, 1 }, 'float64'))
    assert.are.same({ 3, 4 }, b:shape())
    assert.are.equal('float64', b:dtype())
    assert.are.same({ 0, 5, 9, 0, 9 }, { b[1][3], b[2][2], b[3][4], b[3][1], b[3][4] })
  end)
  it('refuse bad parameters, naming the op', function()
    assert.truthy(errmsg(function() nl.poisson(nl.tensor({ 1, -1 })) end)
                    :find('poisson: rates must be finite and >= 0, got %-1 at element 2 of shape %[2%]'))
    assert.truthy(errmsg(function() nl.poisson(nl.tensor({ 0 / 0 })) end):find('poisson: rates must be finite'))
    assert.truthy(errmsg(function() nl.poisson(nl.tensor({ math.huge })) end):find('poisson: rates must be finite'))
    assert.truthy(errmsg(function() nl.poisson(nl.tensor({ 1 }, 'int64')) end):find('poisson: expected float rates'))
    assert.truthy(errmsg(function() nl.binomial(nl.tensor({ -1 }), nl.tensor({ 0.5 })) end)
                    :find('binomial: counts must be whole numbers >= 0'))
    assert.truthy(errmsg(function() nl.binomial(nl.tensor({ 2.5 }), nl.tensor({ 0.5 })) end)
                    :find('binomial: counts must be whole'))
    -- (an infinite count drew NaN)
    assert.truthy(errmsg(function() nl.binomial(nl.tensor({ math.huge }), nl.tensor({ 0.5 })) end)
                    :find('binomial: counts must be whole'))
    assert.truthy(errmsg(function() nl.binomial(nl.tensor({ 5 }), nl.tensor({ 1.5 })) end)
                    :find('binomial: probabilities must lie in %[0, 1%]'))
    assert.truthy(errmsg(function() nl.binomial(nl.ones(2), nl.ones(3)) end)
                    :find('binomial: count of shape %[2%] and prob of shape %[3%] do not broadcast'))
  end)
end)

describe('seeding', function()
  after_each(function() nl.set_num_threads(2) end)
  it('gives the same draws for the same seed, whatever the thread count', function()
    local n = 300001
    local function draws()
      return { nl.zeros(n):random_(100), nl.zeros(n):cauchy_(), nl.zeros(n, 'int64'):geometric_(0.2),
               nl.zeros(n):log_normal_(), nl.poisson(nl.full({ n }, 12.5)) }
    end
    nl.set_num_threads(1)
    nl.manual_seed(3)
    local a = draws()
    nl.set_num_threads(2)
    nl.manual_seed(3)
    local b = draws()
    for i = 1, #a do assert.is_true(a[i]:equal(b[i]), 'draw ' .. i) end
    assert.is_false(a[1]:equal(nl.zeros(n):random_(100)))
  end)
end)
