-- The creation functions of tensor_creation.lua: linspace and logspace
-- against PyTorch 1.13's values (tests/golden/creation.lua, made by
-- tests/golden/gen_creation.py); the draws (randint, normal, bernoulli,
-- uniform_, normal_, bernoulli_, exponential_) against their
-- distributions' closed forms (ranges, means, variances, tail
-- probabilities), with bounds of several standard errors on a fixed seed;
-- the *_like, new_* and *_as forms by their shapes, dtypes and values; and
-- the errors for bad arguments.
local nl = require 'nnlua'
local S = require 'support'

local errmsg, contains = S.errmsg, S.contains
local cases = dofile(S.root .. '/tests/golden/creation.lua')

local function moments(t)
  local x = t:double()
  local m = x:mean():item()
  return m, ((x - m) ^ 2):mean():item()
end

describe('linspace and logspace', function()
  it("give PyTorch's points, both ends included", function()
    assert.is_true(#cases >= 30)
    for i, c in ipairs(cases) do
      local got = nl[c.op](c.args[1], c.args[2], c.args[3], c.args[4] or c.dtype, c.args[4] and c.dtype or nil)
      assert.are.equal(c.dtype, got:dtype())
      -- float32: PyTorch computes in float32, nnlua in double then rounds
      local tol = c.dtype == 'float64' and 1e-14 or 1e-6
      S.expect_close(got, c.want, ('case %d: %s(%s)'):format(i, c.op, table.concat(c.args, ', ')), tol, tol)
      -- the last point is the end itself, rounded to the dtype
      if c.op == 'linspace' and c.args[3] >= 1 then
        assert.are.equal(nl.tensor({ c.want.data[c.args[3]] }, c.dtype)[1], got[-1])
      end
    end
  end)

  it('refuses bad steps and ends, naming the op', function()
    contains(errmsg(nl.linspace, 0, 1, -1), 'linspace: expected a whole number of steps')
    contains(errmsg(nl.linspace, 0, 1, 2.5), 'linspace: expected a whole number of steps')
    contains(errmsg(nl.linspace, 'a', 1, 2), 'linspace: expected a number start')
    contains(errmsg(nl.logspace, 0, 1, 3, 'x'), "logspace: unknown dtype 'x'")
    contains(errmsg(nl.logspace, 0, 1, 3, true), 'logspace: expected a number base')
  end)
end)

describe('randint', function()
  it('draws whole numbers in [low, high), each about equally often', function()
    nl.manual_seed(11)
    local n, low, high = 20000, -2, 3
    local r = nl.randint(low, high, { n })
    assert.are.equal('int64', r:dtype())
    assert.are.same({ n }, r:shape())
    local counts = {}
    for _, v in ipairs(r:totable()) do
      assert.is_true(v >= low and v < high and v == math.floor(v))
      counts[v] = (counts[v] or 0) + 1
    end
    -- each of the 5 values: n/5 expected, binomial sd sqrt(n p (1 - p)) = 56.6
    for v = low, high - 1 do assert.is_true(math.abs(counts[v] - n / 5) < 5 * 56.6, 'value ' .. v) end
  end)

  it('takes (high, size), a size as a number, a dtype, and repeats under one seed', function()
    nl.manual_seed(3)
    local a = nl.randint(4, { 2, 3 })
    nl.manual_seed(3)
    local b = nl.randint(0, 4, { 2, 3 })
    assert.are.same(a:totable(), b:totable())
    assert.are.same({ 2, 3 }, a:shape())
    local f = nl.randint(10, 20, 50, 'float64')
    assert.are.equal('float64', f:dtype())
    assert.is_true(f:min():item() >= 10 and f:max():item() <= 19)
    -- values from 2^40 on stay whole and in range
    local big = nl.randint(2 ^ 40, 2 ^ 40 + 3, { 100 })
    for _, v in ipairs(big:totable()) do assert.is_true(v >= 2 ^ 40 and v <= 2 ^ 40 + 2) end
    local x = nl.zeros(2, 5, 'float64')
    local l = nl.randint_like(x, 7)
    assert.are.equal('float64', l:dtype())
    assert.are.same({ 2, 5 }, l:shape())
    assert.is_true(l:min():item() >= 0 and l:max():item() <= 6)
    local l2 = nl.randint_like(x, 5, 6, 'int64')
    assert.are.same({ { 5, 5, 5, 5, 5 }, { 5, 5, 5, 5, 5 } }, l2:totable())
  end)

  it('refuses empty ranges, fractional bounds and bad sizes', function()
    contains(errmsg(nl.randint, 3, 3, { 2 }), 'randint: expected low < high, got low 3 and high 3')
    contains(errmsg(nl.randint, 0.5, 3, { 2 }), 'randint: expected an integer low')
    contains(errmsg(nl.randint, 0, 3, 'x'), 'randint: expected a size')
    contains(errmsg(nl.randint, 0, 2 ^ 25, { 2 }, 'float32'), 'not all whole numbers in float32')
    contains(errmsg(nl.randint_like, 5, 3), 'randint_like: expected a tensor')
  end)
end)

describe('normal, bernoulli and the in-place draws', function()
  it('normal: numbers with a size, or tensors broadcast, with the mean and sd asked', function()
    nl.manual_seed(5)
    local m, v = moments(nl.normal(3, 2, { 40000 }))
    -- se of the mean 2 / 200 = 0.01; of the variance about 4 sqrt(2 / n) = 0.028
    assert.is_true(math.abs(m - 3) < 0.05, m)
    assert.is_true(math.abs(v - 4) < 0.15, v)
    local t = nl.normal(nl.tensor({ -100, 0, 100 }, 'float64'), 0.5)
    assert.are.equal('float64', t:dtype())
    for i, c in ipairs({ -100, 0, 100 }) do assert.is_true(math.abs(t[i] - c) < 3) end
    assert.are.same({ 4, 3 }, nl.normal(nl.zeros(4, 1), nl.ones(1, 3)):shape())
    -- std 0 gives the mean itself
    assert.are.same({ 1, 2 }, nl.normal(nl.tensor({ 1, 2 }), nl.zeros(2)):totable())
    contains(errmsg(nl.normal, 0, -1, { 2 }), 'normal: expected std >= 0')
    contains(errmsg(nl.normal, nl.zeros(2), nl.tensor({ 1, -1 })), 'normal: std has negative entries')
    -- a number std beside a tensor mean, and NaN in a std tensor, are refused as PyTorch 1.13 refuses them
    -- ('normal expects std >= 0.0'); they drew from N(m, |std|) or NaN
    contains(errmsg(nl.normal, nl.zeros(2), -1), 'normal: expected std >= 0, got -1')
    contains(errmsg(nl.normal, nl.zeros(2):requires_grad(), -1), 'normal: expected std >= 0, got -1')
    contains(errmsg(nl.normal, nl.zeros(2), 0 / 0), 'normal: expected std >= 0, got')
    contains(errmsg(nl.normal, nl.zeros(2), nl.tensor({ 1, 0 / 0 })), 'normal: std has NaN entries')
    assert.are.same({ 1, 2 }, nl.normal(nl.tensor({ 1, 2 }), 0):totable())
    contains(errmsg(nl.normal, nl.zeros(2), 1, { 3 }), 'normal: a size is taken only with number mean and std')
  end)

  -- PyTorch 1.13: torch.normal(m, s) of m, s that require grad requires
  -- grad (NormalBackward1/2/3) and gives both zero gradients, broadcast
  -- forms included; the draw was detached, and a loss of it refused backward
  it('normal of a mean or std that requires grad requires grad, with zero gradients, as PyTorch', function()
    nl.manual_seed(7)
    local m = nl.tensor({ 1, 2, 3 }, 'float64'):requires_grad()
    local sd = nl.tensor({ 0.5, 1, 2 }, 'float64'):requires_grad()
    local x = nl.normal(m, sd)
    assert.is_true(x.is_requires_grad)
    assert.are.equal('float64', x:dtype())
    ;(x * nl.tensor({ 1, 2, 3 }, 'float64')):sum():backward()
    assert.are.same({ 0, 0, 0 }, m.grad:totable())
    assert.are.same({ 0, 0, 0 }, sd.grad:totable())
    -- the values are a draw of mean and std: std 0 gives the mean
    assert.are.same({ 1, 2, 3 }, nl.normal(m, nl.zeros(3, 'float64')):totable())
    local m2 = nl.tensor({ { 1 }, { 2 } }):requires_grad()
    local y = nl.normal(m2, nl.ones(3))
    assert.are.same({ 2, 3 }, y:shape())
    y:sum():backward()
    assert.are.same({ { 0 }, { 0 } }, m2.grad:totable())
    local s2 = nl.tensor({ 1, 2 }):requires_grad()
    local z = nl.normal(0, s2)
    assert.is_true(z.is_requires_grad)
    z:sum():backward()
    assert.are.same({ 0, 0 }, s2.grad:totable())
    -- under no_grad, or of inputs that do not require grad, none
    assert.is_false(nl.no_grad(function() return nl.normal(m, sd) end).is_requires_grad)
    assert.is_false(nl.normal(nl.zeros(2), nl.ones(2)).is_requires_grad)
  end)

  it('bernoulli draws 1 with probability p, in p\'s dtype', function()
    nl.manual_seed(6)
    local p = nl.full({ 20000 }, 0.3, 'float64')
    local b = nl.bernoulli(p)
    assert.are.equal('float64', b:dtype())
    local m = b:mean():item()
    -- sd of the mean sqrt(0.21 / n) = 0.0032
    assert.is_true(math.abs(m - 0.3) < 0.02, m)
    assert.is_true((b:eq(0) + b:eq(1)):min():item() == 1)
    assert.are.same({ 0, 1, 0, 1 }, nl.tensor({ 0, 1, 0, 1 }):bernoulli():totable())
    -- a number p: t's shape and dtype, probability p (torch.bernoulli(t, p))
    local q = nl.zeros(20000, 'float64'):bernoulli(0.8)
    assert.are.equal('float64', q:dtype())
    assert.is_true(math.abs(q:mean():item() - 0.8) < 0.02)
    assert.are.same({ 0, 0 }, nl.ones(2):bernoulli(0):totable())
    contains(errmsg(nl.bernoulli, nl.zeros(2), 1.5), 'bernoulli: expected a probability p in [0, 1]')
    contains(errmsg(nl.bernoulli, nl.tensor({ 0.5, 1.5 })), 'bernoulli: probabilities must lie in [0, 1], got 1 outside')
    contains(errmsg(nl.bernoulli, nl.tensor({ 0 / 0 })), 'bernoulli: probabilities must lie in [0, 1]')
    contains(errmsg(nl.bernoulli, nl.tensor({ 1 }, 'int64')), 'bernoulli: expected float probabilities')
  end)

  it('uniform_, normal_, bernoulli_ and exponential_ fill in place with their distributions', function()
    nl.manual_seed(7)
    local t = nl.zeros(200, 100)
    assert.is_true(rawequal(t, t:uniform_(-3, -1)))
    local m, v = moments(t)
    -- U(a, b): mean (a + b) / 2, variance (b - a)^2 / 12
    assert.is_true(t:min():item() >= -3 and t:max():item() < -1)
    assert.is_true(math.abs(m + 2) < 0.02 and math.abs(v - 1 / 3) < 0.02)
    t:normal_(1, 0.1)
    m, v = moments(t)
    assert.is_true(math.abs(m - 1) < 0.005 and math.abs(v - 0.01) < 0.001)
    t:bernoulli_(0.25)
    assert.is_true(math.abs(t:mean():item() - 0.25) < 0.02)
    local r = nl.zeros(3, 4, 'float64'):bernoulli_(nl.tensor({ 0, 1, 0, 1 }))
    assert.are.same({ 0, 1, 0, 1 }, r[2]:totable())
    local e = nl.zeros(40000, 'float64'):exponential_(2)
    -- Exp(2): mean 1/2, P(x > 1) = e^-2
    assert.is_true(e:min():item() >= 0)
    assert.is_true(math.abs(e:mean():item() - 0.5) < 0.02)
    assert.is_true(math.abs(e:gt(1):double():mean():item() - math.exp(-2)) < 0.01)
    -- on a view: only its elements change
    local base = nl.zeros(4, 4)
    base:select(2, 3):uniform_(5, 6)
    assert.are.equal(0, base:narrow(2, 1, 2):abs():sum():item())
    assert.is_true(base:select(2, 3):min():item() >= 5)
  end)

  it('refuses a tensor that requires grad and bad parameters, naming the op', function()
    local w = nl.zeros(3):requires_grad()
    contains(errmsg(w.uniform_, w), 'uniform_: in-place change of a tensor of shape [3] that requires grad')
    contains(errmsg(w.bernoulli_, w, 0.5), 'bernoulli_: in-place change of a tensor of shape [3] that requires grad')
    contains(errmsg(w.exponential_, w), 'exponential_: in-place change of a tensor of shape [3] that requires grad')
    contains(errmsg(nl.zeros(2).uniform_, nl.zeros(2), 'a'), 'uniform_: expected number bounds')
    contains(errmsg(nl.zeros(2).bernoulli_, nl.zeros(2), 2), 'bernoulli_: expected 0 <= p <= 1, got 2')
    contains(errmsg(nl.zeros(2).exponential_, nl.zeros(2), 0), 'exponential_: expected a rate lambd > 0, got 0')
    -- a bad number is named by its value (these said 'got number')
    contains(errmsg(nl.zeros(2).exponential_, nl.zeros(2), -1), 'exponential_: expected a rate lambd > 0, got -1')
    contains(errmsg(nl.bernoulli, nl.zeros(2), 1.5), 'bernoulli: expected a probability p in [0, 1], got 1.5')
    contains(errmsg(nl.randint, -2 ^ 60, 0, { 2 }), 'randint: expected an integer low of at most 2^53 in magnitude, got -1.1529215046068e+18')
    contains(errmsg(nl.randint, 0, 2.5, { 2 }), 'randint: expected an integer high of at most 2^53 in magnitude, got 2.5')
    contains(errmsg(nl.linspace, 0, 1, -1), 'linspace: expected a whole number of steps (0 or more, below 2^31), got -1')
    contains(errmsg(nl.logspace, 0, 1, 2.5), 'logspace: expected a whole number of steps (0 or more, below 2^31), got 2.5')
    contains(errmsg(nl.full_like, nl.zeros(2), 'x'), 'full_like: expected a number as fill value, got string')
    contains(errmsg(nl.full_like, nl.zeros(2)), 'full_like: expected a number as fill value, got nil')
    contains(errmsg(nl.randint, 'a', 2, { 2 }), 'randint: expected an integer low of at most 2^53 in magnitude, got \'a\'')
    contains(errmsg(nl.zeros(2, 'int64').exponential_, nl.zeros(2, 'int64')), 'exponential_: expected a float tensor')
  end)
end)

describe('the *_like, new_* and *_as forms', function()
  it("make tensors of another's shape, in its dtype or the one named", function()
    local x = nl.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }, 'float64')
    assert.are.same({ { 0, 0, 0 }, { 0, 0, 0 } }, nl.zeros_like(x):totable())
    assert.are.equal('float64', nl.zeros_like(x):dtype())
    assert.are.equal('int64', nl.ones_like(x, 'int64'):dtype())
    assert.are.equal('float32', nl.ones_like(x, { dtype = 'float32' }):dtype())
    assert.are.same({ { 7, 7, 7 }, { 7, 7, 7 } }, nl.full_like(x, 7):totable())
    assert.are.same({ 2, 3 }, nl.empty_like(x):shape())
    local r = nl.rand_like(x)
    assert.are.equal('float64', r:dtype())
    assert.is_true(r:min():item() >= 0 and r:max():item() < 1)
    assert.are.same({ 2, 3 }, nl.randn_like(x, 'float32'):shape())
    contains(errmsg(nl.rand_like, nl.zeros(2, 'int64')), 'rand_like: draws floats, got an int64 tensor of shape [2]')
    contains(errmsg(nl.zeros_like, 3), 'zeros_like: expected a tensor, got number')
    contains(errmsg(nl.ones_like, x, 'half'), "ones_like: unknown dtype 'half'")
    contains(errmsg(nl.ones_like, x, { dtpe = 'float32' }), 'dtpe')
    -- the result is a fresh leaf: no graph, no shared storage
    local g = x:clone():requires_grad()
    local z = nl.zeros_like(g)
    assert.is_false(z.is_requires_grad)
    z:fill_(1)
    assert.are.equal(21, x:sum():item())
  end)

  it("t:new_* takes t's dtype; type_as, view_as, reshape_as and expand_as take the other's", function()
    local x = nl.zeros(2, 'float64')
    assert.are.same({ 0, 0, 0 }, x:new_zeros({ 3 }):totable())
    assert.are.equal('float64', x:new_zeros(3):dtype())
    assert.are.equal('float32', x:new_ones({ 1, 2 }, 'float32'):dtype())
    assert.are.same({ { 3, 3 } }, x:new_full({ 1, 2 }, 3):totable())
    assert.are.equal('float64', x:new_empty({ 2 }):dtype())
    -- sizes one by one, as PyTorch's t.new_zeros(2, 3) (it was refused)
    assert.are.same({ 2, 3 }, x:new_zeros(2, 3):shape())
    assert.are.equal('float64', x:new_ones(2, 3):dtype())
    assert.are.equal('int64', x:new_ones(2, 3, 'int64'):dtype())
    assert.are.same({ 4, 1, 2 }, x:new_empty(4, 1, 2):shape())
    contains(errmsg(x.new_zeros, x, 2, 'int64', 5), 'new_zeros')
    local n = x:new_tensor({ 1.5, 2 })
    assert.are.equal('float64', n:dtype())
    assert.are.same({ 1.5, 2 }, n:totable())
    assert.are.equal('int64', nl.tensor({ 1.7 }):type_as(nl.zeros(1, 'int64')):dtype())
    local m = nl.zeros(2, 2)
    local a = nl.arange(4)
    assert.are.same({ { 0, 1 }, { 2, 3 } }, a:view_as(m):totable())
    assert.are.same({ { 0, 1 }, { 2, 3 } }, a:reshape_as(m):totable())
    assert.are.same({ { 1, 2 }, { 1, 2 } }, nl.tensor({ 1, 2 }):expand_as(m):totable())
    -- gradients flow through the shape helpers
    local v = nl.tensor({ 1, 2, 3, 4 }):requires_grad()
    v:view_as(m):sum():backward()
    assert.are.same({ 1, 1, 1, 1 }, v.grad:totable())
    contains(errmsg(x.new_zeros, x, 'a'), 'new_zeros: expected a size')
    contains(errmsg(a.view_as, a, 3), 'view_as: expected a tensor')
    contains(errmsg(a.view_as, a, nl.zeros(3)), 'view')
  end)
end)
