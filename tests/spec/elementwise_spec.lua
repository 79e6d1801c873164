-- Elementwise ops against Lua's math on random data, with broadcasting,
-- non-contiguous views and every dtype combination that matters.
local nl = require 'nnlua'
local S = require 'support'

local rnd = S.rng(2024)

-- a float32 tensor of shape with values in [lo, hi), and its values as Lua numbers
local function data(shape, lo, hi, dtype)
  local t = nl.tensor(S.nested(shape, function() return rnd(lo, hi) end), dtype)
  return t, t:totable()
end

local binary = {
  add = function(x, y) return x + y end,
  sub = function(x, y) return x - y end,
  mul = function(x, y) return x * y end,
  div = function(x, y) return x / y end,
  pow = function(x, y) return x ^ y end,
  maximum = math.max,
  minimum = math.min,
  eq = function(x, y) return x == y and 1 or 0 end,
  ne = function(x, y) return x ~= y and 1 or 0 end,
  lt = function(x, y) return x < y and 1 or 0 end,
  le = function(x, y) return x <= y and 1 or 0 end,
  gt = function(x, y) return x > y and 1 or 0 end,
  ge = function(x, y) return x >= y and 1 or 0 end,
}

local shape_pairs = {
  { { 3, 4 }, { 3, 4 } },
  { { 3, 4 }, { 4 } },
  { { 2, 1, 5 }, { 3, 1 } },
  { { 1 }, { 2, 3 } },
  { { 4, 1 }, { 1, 6 } },
  { { 2, 3, 4 }, { 2, 1, 4 } },
}

-- compare got (tensor) with f applied at every broadcast index
local function expect_binary(got, ta, sa, tb, sb, f, rtol)
  local shape = S.broadcast(sa, sb)
  assert.are.same(shape, got:shape())
  local g = got:totable()
  for _, idx in ipairs(S.indices(shape)) do
    local want = f(S.bget(ta, sa, idx), S.bget(tb, sb, idx))
    local v = S.get(g, idx)
    if not S.close(v, want, rtol, 1e-6) then
      error(string.format('at {%s}: got %.9g, want %.9g', table.concat(idx, ','), v, want), 2)
    end
  end
end

describe('binary elementwise ops', function()
  for name, f in pairs(binary) do
    it(name .. ' matches Lua math with broadcasting', function()
      for _, sp in ipairs(shape_pairs) do
        local lo = (name == 'pow') and 0.1 or -2
        local a, ta = data(sp[1], lo, 2)
        local b, tb = data(sp[2], -2, 2)
        if #name == 2 or name:match('imum') then
          -- comparisons and max/min: values from {-1, 0, 1}, so many ties
          local tri = function() return math.floor(rnd(-1, 2)) end
          a = nl.tensor(S.nested(sp[1], tri)); ta = a:totable()
          b = nl.tensor(S.nested(sp[2], tri)); tb = b:totable()
        end
        expect_binary(nl[name](a, b), ta, sp[1], tb, sp[2], f, 1e-6)
      end
    end)
  end

  it('operators map to the ops', function()
    local a, ta = data({ 2, 3 }, 0.5, 2)
    local b, tb = data({ 3 }, 0.5, 2)
    expect_binary(a + b, ta, { 2, 3 }, tb, { 3 }, binary.add, 1e-6)
    expect_binary(a - b, ta, { 2, 3 }, tb, { 3 }, binary.sub, 1e-6)
    expect_binary(a * b, ta, { 2, 3 }, tb, { 3 }, binary.mul, 1e-6)
    expect_binary(a / b, ta, { 2, 3 }, tb, { 3 }, binary.div, 1e-6)
    expect_binary(a ^ b, ta, { 2, 3 }, tb, { 3 }, binary.pow, 1e-6)
    expect_binary(-a, ta, { 2, 3 }, { 0 }, { 1 }, function(x) return -x end, 0)
  end)

  it('scalars on either side keep the tensor dtype', function()
    local a, ta = data({ 4, 5 }, 0.5, 3)
    local s = 1.75
    expect_binary(a + s, ta, { 4, 5 }, { s }, { 1 }, binary.add, 1e-6)
    expect_binary(s - a, { s }, { 1 }, ta, { 4, 5 }, binary.sub, 1e-6)
    expect_binary(s / a, { s }, { 1 }, ta, { 4, 5 }, binary.div, 1e-6)
    expect_binary(a ^ 2, ta, { 4, 5 }, { 2 }, { 1 }, binary.pow, 1e-6)
    expect_binary(2 ^ a, { 2 }, { 1 }, ta, { 4, 5 }, binary.pow, 1e-6)
    assert.are.equal('float32', (a * 3):dtype())
    assert.are.equal('float64', (a:double() * 3):dtype())
  end)

  it('works on non-contiguous views (transposed, narrowed, expanded)', function()
    local a = data({ 5, 4 }, -2, 2)
    local b = data({ 4, 5 }, -2, 2)
    local at = a:t()                       -- (4,5), strides (1,4)
    assert.is_false(at:is_contiguous())
    local ta, tb = at:totable(), b:totable()
    expect_binary(at * b, ta, { 4, 5 }, tb, { 4, 5 }, binary.mul, 1e-6)
    local n = b:narrow(2, 2, 3)            -- (4,3) with row stride 5
    expect_binary(n + n, n:totable(), { 4, 3 }, n:totable(), { 4, 3 }, binary.add, 1e-6)
    local e = nl.tensor({ 1, 2, 3 }):view(3, 1):expand(3, 4)
    expect_binary(e * 2, e:totable(), { 3, 4 }, { 2 }, { 1 }, binary.mul, 0)
  end)

  it('promotes dtypes like PyTorch', function()
    local i = nl.tensor({ 1, 2, 3 }, 'int64')
    local f = nl.tensor({ 0.5, 0.5, 0.5 })
    local d = nl.tensor({ 0.25, 0.25, 0.25 }, 'float64')
    assert.are.equal('float32', (i + f):dtype())
    assert.are.equal('float64', (f + d):dtype())
    assert.are.equal('int64', (i + i):dtype())
    assert.are.same({ 3, 5, 7 }, (i * 2 + 1):totable())
    assert.are.equal('float32', (i / 2):dtype())
    assert.are.same({ 0.5, 1, 1.5 }, (i / 2):totable())
    assert.are.same({ 1, 4, 9 }, (i ^ 2):totable())
  end)

  -- PyTorch 1.13's values: int64 ^ int64 stays int64 (it was float32, and
  -- 3^39 lost its last digits); a negative exponent gives 0 but for 1 and -1
  it('int64 ^ int64 tensors stay int64, exactly', function()
    local a = nl.tensor({ 2, 1, -1, 0, 3, -2 }, 'int64'):pow(nl.tensor({ -1, -1, -1, 0, 39, 3 }, 'int64'))
    assert.are.equal('int64', a:dtype())
    assert.are.same({ 0, 1, -1, 1, -8 }, { a[1], a[2], a[3], a[4], a[6] })
    -- 3^39 = 4052555153018976267 needs int64 exactly: checked as 3 * 3^38
    local p39, p38 = a[5], nl.tensor({ 3 }, 'int64'):pow(nl.tensor({ 38 }, 'int64'))
    assert.are.same({ 0 }, (nl.tensor({ 3 }, 'int64') * p38 - a:narrow(1, 5, 1)):totable())
    assert.is_true(p39 > 4.0525551e18 and p39 < 4.0525552e18)
  end)

  -- an infinite or huge number with an int64 tensor was refused (naming
  -- 'full'); PyTorch gives float32
  it('int64 with an infinite or huge number gives float32; in place it is refused', function()
    local i = nl.tensor({ 1, 2 }, 'int64')
    assert.are.same({ math.huge, math.huge }, (i + math.huge):totable())
    assert.are.equal('float32', (i * 1e20):dtype())
    assert.are.same({ 1, 1 }, i:lt(math.huge):totable())
    local ok, err = pcall(function() i:add_(1e30) end)
    assert.is_false(ok)
    assert.is_truthy(err:find('add_: result of a float scalar cannot be stored in an int64 destination', 1, true), err)
    ok, err = pcall(function() i:clamp_(1.5, 3) end)
    assert.is_truthy(err:find('clamp_: result of a float bound cannot be stored in an int64 destination', 1, true), err)
    assert.are.same({ 1, 2 }, i:totable())
  end)

  -- these gradients multiplied g by a 0/1 mask, so an infinite g where the
  -- op blocks it (a dead unit under sqrt) gave inf * 0 = NaN; PyTorch
  -- selects and gives 0. maximum/minimum at a NaN give g to both sides, and
  -- max()/min() of several NaNs share it (PyTorch 1.13's values)
  -- relu's gradient runs in a loop of its own (relu_grad_f32/f64, in
  -- chunks of 8192 on the threads): g where x > 0 or x is NaN, else 0 (an
  -- infinite g too, and at -0), each element against that rule, over
  -- three chunks and a tail, in float32 and float64 on one and two threads
  it("relu's gradient over many elements passes g where x > 0 or NaN, on one and two threads", function()
    local prev = nl.get_num_threads()
    finally(function() nl.set_num_threads(prev) end)
    local n, inf, nan = 3 * 8192 + 7, math.huge, 0 / 0
    local xv, gv = {}, {}
    for i = 1, n do
      xv[i] = (i * 37) % 11 - 5
      gv[i] = i % 5 == 0 and (i % 2 == 0 and inf or -inf) or i
    end
    xv[3], xv[8193], xv[n] = nan, -0.0, inf
    xv[8194], xv[n - 1] = -inf, 1e-30
    for _, threads in ipairs({ 1, 2 }) do
      nl.set_num_threads(threads)
      for _, dtype in ipairs({ 'float32', 'float64' }) do
        local x = nl.tensor(xv, dtype):requires_grad()
        x:relu():backward(nl.tensor(gv, dtype))
        local got = x.grad:totable()
        for i = 1, n do
          local want = (xv[i] > 0 or xv[i] ~= xv[i]) and gv[i] or 0
          if got[i] ~= want then
            error(('%s on %d threads: element %d (x %g, g %g): got %g, want %g'):format(dtype, threads, i, xv[i],
              gv[i], got[i], want))
          end
        end
      end
    end
  end)

  it('relu, clamp, maximum/minimum and max()/min() select the gradient, as PyTorch', function()
    local function grad(f, v)
      local x = nl.tensor(v):requires_grad()
      f(x):backward()
      return x.grad:totable()
    end
    local nan = 0 / 0
    assert.are.same({ 0, 0.25 }, grad(function(x) return x:relu():sqrt():sum() end, { -1, 4 }))
    assert.are.same({ 0, 0.25 }, grad(function(x) return x:clamp(0):sqrt():sum() end, { -1, 4 }))
    assert.are.same({ 0, 0, 0 }, grad(function(x) return x:clamp(0, 3):sum() end, { -1, 4, nan }))
    -- a NaN bound, as PyTorch 1.13: alone, the input's values; beside the
    -- other bound, NaN everywhere; a zero gradient either way (it was read
    -- as no bound, with a gradient of one)
    assert.are.same({ 0, 0, 0, 0 }, grad(function(x) return x:clamp(nan, 1):sum() end, { -1, 0.5, 2, nan }))
    assert.are.same({ 0, 0, 0, 0 }, grad(function(x) return x:clamp(nan):sum() end, { -1, 0.5, 2, nan }))
    assert.are.same({ 0, 0, 0, 0 }, grad(function(x) return x:clamp(nil, nan):sum() end, { -1, 0.5, 2, nan }))
    for _, v in ipairs(nl.tensor({ -1, 0.5, 2 }):clamp(0, nan):totable()) do assert.is_true(v ~= v) end
    assert.are.same({ -1, 0.5, 2 }, nl.tensor({ -1, 0.5, 2 }):clamp(nan):totable())
    -- a whole bound past int64 meeting int64 makes float32, as a fraction
    -- does (it was clamped to INT64_MAX)
    local i3 = nl.tensor({ 1, 2, -3 }, 'int64')
    assert.are.equal('float32', i3:clamp(1e30):dtype())
    assert.is_true(math.abs(i3:clamp(1e30):totable()[1] - 1e30) < 1e24)
    assert.are.equal('float32', nl.where(i3:gt(1), i3, 1e30):dtype())
    local z = nl.tensor({ -1, 0.5, 2 })
    z:clamp_(nan, 1)
    for _, v in ipairs(z:totable()) do assert.is_true(v ~= v) end
    assert.are.same({ 0, 0.25 }, grad(function(x) return nl.maximum(x, nl.zeros(2)):sqrt():sum() end, { -1, 4 }))
    assert.are.same({ 0, math.huge, 0 }, grad(function(x) return (x:min() - 1):sqrt() end, { 3, 1, 2 }))
    assert.are.same({ 0.5, 0, 0.5 }, grad(function(x) return x:max() end, { nan, 1, nan }))
    assert.are.same({ 0, 1, 1, 0.5 }, grad(function(x) return nl.maximum(x, nl.tensor(2)):sum() end, { -1, 4, nan, 2 }))
    local a, b = nl.tensor({ nan, 3, 2, 1 }):requires_grad(), nl.tensor({ 2, 2, 2, nan }):requires_grad()
    nl.minimum(a, b):sum():backward()
    assert.are.same({ 1, 0, 0.5, 1 }, a.grad:totable())
    assert.are.same({ 1, 1, 0.5, 1 }, b.grad:totable())
    -- and the fused Linear and ReLU, a unit held dead by its bias
    local m = nl.nn.Sequential(nl.nn.Linear(3, 2), nl.nn.ReLU())
    -- (weights set: drawn, unit 2 was now and then dead too, by the
    -- generator's state that earlier specs left)
    nl.no_grad(function()
      m[1].weight:copy_(nl.tensor({ { 1, 1, 1 }, { 0.5, 0.25, 0.5 } }))
      m[1].bias:copy_(nl.tensor({ -50, 0.1 }))
    end)
    m(nl.tensor({ { 1, 2, 3 }, { 0.5, -1, 2 } })):sqrt():sum():backward()
    assert.are.same({ 0, 0, 0 }, m[1].weight.grad[1]:totable())
    assert.are.equal(0, m[1].bias.grad[1])
    assert.is_true(m[1].bias.grad[2] > 0 and m[1].bias.grad[2] < math.huge)
  end)

  -- a condition that requires grad made where's output require grad (an
  -- int64 one too), and a backward through it passed without a word
  it('where records only its values, not its condition', function()
    local x = nl.tensor({ 1.5, 0 }):requires_grad()
    local y = nl.where(x, nl.tensor({ 1, 2 }, 'int64'), nl.tensor({ 3, 4 }, 'int64'))
    assert.is_false(y.is_requires_grad)
    assert.is_false((pcall(function() y:sum():backward() end)))
    nl.where(x, x * 2, nl.zeros(2)):sum():backward()
    assert.are.same({ 2, 0 }, x.grad:totable())
  end)

  -- a 0-dim tensor does not widen a dimensioned one of its kind: float32
  -- [n] times a float64 0-dim tensor was float64 (PyTorch: float32), and
  -- the 0-dim's gradient comes in its own dtype
  it('a 0-dim tensor does not widen a dimensioned one of its kind, as in PyTorch', function()
    local x = nl.tensor({ 1.5, 2 }):requires_grad()
    local s = nl.tensor(2.5, 'float64'):requires_grad()
    local y = x * s
    assert.are.equal('float32', y:dtype())
    y:sum():backward()
    assert.are.equal('float64', s.grad:dtype())
    assert.are.equal(3.5, s.grad:item())
    assert.are.same({ 2.5, 2.5 }, x.grad:totable())
    assert.are.equal('float64', (nl.tensor({ 1, 2 }, 'int64') * nl.tensor(2.5, 'float64')):dtype())
    assert.are.equal('float64', (nl.tensor(1.5, 'float64') + nl.tensor(2.5)):dtype())
    assert.are.equal('float64', (nl.tensor({ 1.5 }, 'float64') + nl.tensor(2.5)):dtype())
    assert.are.equal('float32', nl.where(nl.tensor({ 1, 0 }), nl.tensor({ 1, 2 }), nl.tensor(0, 'float64')):dtype())
  end)
end)

local unary = {
  neg = { function(x) return -x end, -3, 3 },
  exp = { math.exp, -5, 5 },
  log = { math.log, 0.01, 10 },
  sqrt = { math.sqrt, 0, 10 },
  abs = { math.abs, -3, 3 },
  relu = { function(x) return x > 0 and x or 0 end, -3, 3 },
  sigmoid = { function(x) return 1 / (1 + math.exp(-x)) end, -8, 8 },
  tanh = { function(x) return (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1) end, -4, 4 },
}

describe('unary elementwise ops', function()
  for name, spec in pairs(unary) do
    it(name .. ' matches Lua math, contiguous and transposed', function()
      for _, dtype in ipairs({ 'float32', 'float64' }) do
        local a, ta = data({ 6, 7 }, spec[2], spec[3], dtype)
        local rtol = dtype == 'float32' and 2e-6 or 1e-12
        for _, x in ipairs({ a, a:t() }) do
          local tx = x:totable()
          local got = x[name](x)
          assert.are.equal(dtype, got:dtype())
          local g = got:totable()
          for _, idx in ipairs(S.indices(x:shape())) do
            local want = spec[1](S.get(tx, idx))
            assert.is_true(S.close(S.get(g, idx), want, rtol, 1e-7),
              string.format('%s at %s: %.9g vs %.9g', name, table.concat(idx, ','), S.get(g, idx), want))
          end
        end
      end
    end)
  end

  it('clamp bounds values, either bound optional', function()
    local a = nl.tensor({ -3, -1, 0, 2, 5 })
    assert.are.same({ -1, -1, 0, 2, 2 }, a:clamp(-1, 2):totable())
    assert.are.same({ 0, 0, 0, 2, 5 }, a:clamp(0):totable())
    assert.are.same({ -3, -1, 0, 1, 1 }, a:clamp(nil, 1):totable())
  end)

  it('int64 stays int64 where the math allows, else becomes float32', function()
    local i = nl.tensor({ -2, 0, 3 }, 'int64')
    assert.are.equal('int64', i:abs():dtype())
    assert.are.same({ 2, 0, 3 }, i:abs():totable())
    assert.are.equal('float32', i:exp():dtype())
    -- bounds an int64 cannot hold promote, as PyTorch's clamp does (they were truncated to -1 and 2)
    local c = i:clamp(-1.5, 2.5)
    assert.are.equal('float32', c:dtype())
    assert.are.same({ -1.5, 0, 2.5 }, c:totable())
    assert.are.equal('int64', i:clamp(-1, 2):dtype())
  end)

  it('floor, ceil, round (halves to even) and trunc give integer values; their gradient is zero', function()
    -- halves, values either side of them, and a large float that is already whole
    local vals = { -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -1.7, 1.7, -0.2, 0.2, 4, 2 ^ 40 + 0.5, -(2 ^ 30) - 0.25 }
    local function round_even(v)
      local f = math.floor(v)
      local d = v - f
      if d > 0.5 or (d == 0.5 and f % 2 == 1) then return f + 1 end
      return f
    end
    local function trunc(v) return v < 0 and math.ceil(v) or math.floor(v) end
    local want = { floor = math.floor, ceil = math.ceil, round = round_even, trunc = trunc }
    for name, f in pairs(want) do
      for _, dtype in ipairs({ 'float64', 'float32' }) do
        local x = nl.tensor(vals, dtype)
        local xs = x:totable()                  -- the values as stored (float32 rounds 2^40 + 0.5)
        local got = x[name](x)
        assert.are.equal(dtype, got:dtype())
        for i, v in ipairs(got:totable()) do
          assert.are.equal(f(xs[i]), v, ('%s(%.17g) in %s'):format(name, xs[i], dtype))
        end
        local y = x:clone()
        assert.are.same(got:totable(), y[name .. '_'](y):totable())
      end
      local special = nl.tensor({ 1 / 0, -1 / 0, 0 / 0 })[name](nl.tensor({ 1 / 0, -1 / 0, 0 / 0 })):totable()
      assert.are.same({ 1 / 0, -1 / 0 }, { special[1], special[2] })
      assert.is_true(special[3] ~= special[3], name .. '(NaN) is NaN')
      local i = nl.tensor({ -7, 0, 9 }, 'int64')
      assert.are.equal('int64', i[name](i):dtype())
      assert.are.same({ -7, 0, 9 }, i[name](i):totable())
      local p = nl.tensor({ 0.3, -1.6, 2.5 }, 'float64'):requires_grad()
      local loss = (p[name](p) * 3):sum()
      loss:backward()
      assert.are.same({ 0, 0, 0 }, p.grad:totable())
    end
    -- round keeps the sign of a zero result, as C's nearbyint and PyTorch do
    assert.are.equal(-math.huge, 1 / nl.tensor({ -0.5 }, 'float64'):round()[1])
  end)

  it('keeps extreme inputs finite where the math is finite', function()
    local x = nl.tensor({ -1000, -80, 0, 80, 1000 })
    local s = x:sigmoid():totable()
    assert.are.same({ 0, 0.5, 1, 1 }, { s[1], s[3], s[4], s[5] })
    assert.is_true(S.close(s[2], 1 / (1 + math.exp(80)), 1e-6))
    assert.are.same({ -1, -1, 0, 1, 1 }, x:tanh():totable())
  end)
end)

-- the exponent's gradient at a base of 0 was zeroed after the multiply by
-- the upstream gradient: an infinite one (sqrt of 0 above) gave 0 where
-- PyTorch 1.13 multiplies g by a factor of 0 and gives NaN
describe('pow at a base of 0', function()
  local function isnan(v) return v ~= v end
  it('multiplies the upstream gradient by the exponent factor last, as PyTorch', function()
    local x = nl.tensor({ 1, 2 }):requires_grad()
    ;(0 ^ x):sqrt():sum():backward()
    assert.is_true(isnan(x.grad[1]) and isnan(x.grad[2]))
    local a = nl.tensor({ 0, 0 }):requires_grad()
    local b = nl.tensor({ 1, 2 }):requires_grad()
    ;(a ^ b):sqrt():sum():backward()
    assert.is_true(isnan(b.grad[1]) and isnan(b.grad[2]))
    assert.are.equal(math.huge, a.grad[1])              -- PyTorch: inf, nan
    assert.is_true(isnan(a.grad[2]))
    -- a finite upstream gradient still gets the 0 there: PyTorch's [0, 4 log 2]
    local c = nl.tensor({ 0, 2 }):requires_grad()
    local d = nl.tensor({ 1, 2 }):requires_grad()
    ;(c ^ d):sum():backward()
    assert.are.same({ 1, 4 }, c.grad:totable())
    assert.are.equal(0, d.grad[1])
    assert.is_true(S.close(d.grad[2], 4 * math.log(2), 1e-6))
  end)
end)

-- PyTorch computes x ^ 0.5 and x ^ -0.5 (a scalar exponent) as sqrt and
-- 1/sqrt; C's pow gave inf at -inf and +0 at -0, and so other gradients
describe('pow to the scalar 0.5 and -0.5', function()
  -- '%g' tells -0 from 0 and prints nan and inf the same on every libc
  local function strs(t) local out = {} for i = 1, t:numel() do out[i] = ('%g'):format(t[i]) end return out end
  it('is sqrt and 1/sqrt, at -inf and -0 too, values and gradients as PyTorch 1.13', function()
    for _, dt in ipairs({ 'float32', 'float64' }) do
      for _, c in ipairs({
        -- torch: x ** 0.5 and its gradient; x ** -0.5 and its gradient
        { 0.5, { '-nan', '-0', '-nan', '0', '2', 'inf', '1.5' }, { '-nan', '-inf', '-nan', 'inf', '0.25', '0', '0.333333' } },
        { -0.5, { '-nan', '-inf', '-nan', 'inf', '0.5', '0', '0.666667' }, { '-0', '-inf', '-nan', '-inf', '-0.0625', '-0', '-0.148148' } },
      }) do
        local x = nl.tensor({ -math.huge, -0.0, -4, 0, 4, math.huge, 2.25 }, dt):requires_grad()
        local y = x ^ c[1]
        y:sum():backward()
        local function norm(list) for i, v in ipairs(list) do list[i] = v:gsub('^%-nan', 'nan') end return list end
        assert.are.same(norm(c[2]), norm(strs(y)), dt .. ' x ^ ' .. c[1])
        assert.are.same(norm(c[3]), norm(strs(x.grad)), dt .. ' gradient of x ^ ' .. c[1])
      end
    end
  end)
end)

describe('where', function()
  it('selects with broadcasting and scalar branches', function()
    local c = nl.tensor({ { 1, 0, 1 } })
    local a = nl.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    assert.are.same({ { 1, -1, 3 }, { 4, -1, 6 } }, nl.where(c, a, -1):totable())
    assert.are.same({ { 0, 2, 0 }, { 0, 5, 0 } }, nl.where(c, 0, a):totable())
    local m = a:gt(3)
    assert.are.same({ { 0, 0, 0 }, { 4, 5, 6 } }, nl.where(m, a, 0):totable())
  end)

  it('a fractional number beside an int64 tensor promotes to float32, as PyTorch does', function()
    local c = nl.tensor({ 1, 0, 1 })
    local i = nl.tensor({ 2, 3, 5 }, 'int64')
    local r = nl.where(c, i, 0.5)
    assert.are.equal('float32', r:dtype())
    assert.are.same({ 2, 0.5, 5 }, r:totable())                    -- the 0.5 was truncated to 0
    assert.are.same({ -0.25, 3, -0.25 }, nl.where(c, -0.25, i):totable())
    assert.are.equal('int64', nl.where(c, i, 7):dtype())
  end)

  -- PyTorch 1.13: torch.where(c) is torch.nonzero(c, as_tuple=True)
  -- ((tensor([0, 1, 1]), tensor([1, 0, 2])) for this c; nnlua's indices are
  -- 1-based); it was refused as a nil a
  it('with the condition alone gives nonzero as a tuple, one int64 index tensor per dim', function()
    local c = nl.tensor({ { 0, 2, 0 }, { 0 / 0, 0, -1 } })
    local r = nl.where(c)
    assert.are.equal(2, #r)
    assert.are.same({ 1, 2, 2 }, r[1]:totable())
    assert.are.same({ 2, 1, 3 }, r[2]:totable())
    assert.are.same({ 'int64', 'int64' }, { r[1]:dtype(), r[2]:dtype() })
    local e = nl.where(nl.zeros(1, 2))
    assert.are.same({ { 0 }, { 0 } }, { e[1]:shape(), e[2]:shape() })
    assert.are.same({ 1 }, nl.where(nl.tensor(3))[1]:totable())            -- a 0-dim condition: one tensor
    assert.are.same({ 0 }, nl.where(nl.tensor(0))[1]:shape())
    local ok, err = pcall(nl.where, 'x')
    assert.is_false(ok)
    assert.matches('where: expected a tensor', err)
  end)

  -- PyTorch 1.13 gives int64 for two ints, the default float32 when one is
  -- a float (where(c, 1, 0) was float32)
  it('of two numbers is int64 when both are whole, else float32, as PyTorch', function()
    local c = nl.tensor({ { 0, 2, 0 }, { 0 / 0, 0, -1 } })
    local r = nl.where(c, 3, -2)
    assert.are.equal('int64', r:dtype())
    assert.are.same({ { -2, 3, -2 }, { 3, -2, 3 } }, r:totable())
    r = nl.where(c, 3, -2.5)
    assert.are.equal('float32', r:dtype())
    assert.are.same({ { -2.5, 3, -2.5 }, { 3, -2.5, 3 } }, r:totable())
    assert.are.equal('float32', nl.where(c, 0 / 0, 1):dtype())
    assert.are.equal('float32', nl.where(c, 1e30, 1):dtype())          -- past int64: not an int
    -- the boundary: Lua has one number type, so a whole number past int64
    -- is read as PyTorch reads a float (torch.where(c, 2.0**63, 0) is
    -- float32, [9.2234e+18, 0]; with an int64 tensor too), not as its int
    -- 2**63 (an overflow error); -2^63 fits int64
    local b = nl.tensor({ 1, 0 }, 'int64')
    r = nl.where(b, 2 ^ 63, 0)
    assert.are.equal('float32', r:dtype())
    assert.are.same({ 2 ^ 63, 0 }, r:totable())
    r = nl.where(b, -2 ^ 63, 0)
    assert.are.equal('int64', r:dtype())
    assert.are.same({ -2 ^ 63, 0 }, r:totable())
    assert.are.equal('float32', nl.where(b, 2 ^ 63, nl.tensor({ 1, 2 }, 'int64')):dtype())
    assert.are.equal('float64', nl.where(b, 2 ^ 63, nl.tensor({ 1, 2 }, 'float64')):dtype())
  end)
end)

describe('in-place ops', function()
  -- F.leaky_relu(x, s, True) writes into x; the flag was dropped
  it('leaky_relu with inplace = true writes into the tensor, under the in-place rules', function()
    local x = nl.tensor({ -2, 3 })
    assert.is_true(rawequal(x, nl.leaky_relu(x, 0.5, true)))
    assert.are.same({ -1, 3 }, x:totable())
    local y = nl.tensor({ -2, 3 })
    assert.are.same({ -1, 3 }, y:leaky_relu_(0.5):totable())
    local ok, err = pcall(nl.leaky_relu, nl.tensor({ -2, 3 }):requires_grad(), 0.5, true)
    assert.is_false(ok)
    assert.is_truthy(err:find('leaky_relu_: in-place change of a tensor of shape [2] that requires grad', 1, true), err)
    ok, err = pcall(nl.leaky_relu, x, 0.5, 1)
    assert.is_false(ok)
    assert.is_truthy(err:find('leaky_relu: expected inplace as a boolean', 1, true), err)
  end)

  -- As PyTorch: a destination that repeats memory (an expanded view), or a
  -- source that shares memory with the destination in part, is refused,
  -- since the loop's order would decide the result (a:expand(3, 4):add_(1)
  -- added 4, a:add_(a:t()) gave [[2,5],[8,8]]); the very same view, and
  -- views that are not dense (interleaved columns), are allowed
  it('refuse a destination that repeats memory and a source overlapping it in part', function()
    local function err(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
    local col = nl.tensor({ { 1 }, { 2 }, { 3 } })
    assert.is_truthy(err(function() col:expand(3, 4):add_(1) end):find('add_: the destination of shape [3,4] repeats', 1, true))
    assert.is_truthy(err(function() col:expand(3, 4):exp_() end):find('exp_:', 1, true))
    assert.are.same({ { 1 }, { 2 }, { 3 } }, col:totable())
    local a = nl.tensor({ { 1, 2 }, { 3, 4 } })
    assert.is_truthy(err(function() a:add_(a:t()) end):find('add_: the source of shape [2,2] and the destination', 1, true))
    assert.is_truthy(err(function() a:copy_(a:t()) end):find('copy_:', 1, true))
    local v = nl.arange(1, 7, 'float32')
    err(function() v:narrow(1, 2, 4):add_(v:narrow(1, 1, 4)) end)
    err(function() a:add_(a[1]) end)                        -- a row of a, broadcast over a
    assert.are.same({ { 1, 2 }, { 3, 4 } }, a:totable())
    a:add_(a)                                               -- the same view
    assert.are.same({ { 2, 4 }, { 6, 8 } }, a:totable())
    local m = nl.arange(12, 'float32'):view(3, 4)
    m:select(2, 1):add_(m:select(2, 2))                     -- interleaved columns: disjoint
    assert.are.same({ 1, 9, 17 }, m:select(2, 1):totable())
    v:narrow(1, 1, 3):copy_(v:narrow(1, 4, 3))              -- disjoint halves
    assert.are.same({ 4, 5, 6, 4, 5, 6 }, v:totable())
    -- an empty tensor repeats nothing, though [3, 0]'s first stride is 0
    -- (it was refused, and with it every backward summing two gradients of such a shape)
    local e = nl.zeros(3, 0)
    e:add_(nl.zeros(3, 0))
    e:copy_(nl.zeros(3, 0))
    local x = nl.zeros(2, 3, 0):requires_grad()
    ;(x + x):sum():backward()
    assert.are.same({ 2, 3, 0 }, x.grad:shape())
  end)

  it('add_, sub_, mul_, div_, fill_, zero_, copy_ write through views', function()
    local a = nl.zeros(3, 4)
    local col = a:select(2, 2)
    col:fill_(5)
    assert.are.same({ 0, 5, 0, 0 }, a[1]:totable())
    a:add_(1)
    a:mul_(nl.tensor({ 1, 2, 3, 4 }))
    assert.are.same({ 1, 12, 3, 4 }, a[3]:totable())
    a:add_(nl.ones(4), 0.5)
    assert.are.same({ 1.5, 12.5, 3.5, 4.5 }, a[2]:totable())
    a:sub_(0.5):div_(2)
    assert.are.same({ 0.5, 6, 1.5, 2 }, a[1]:totable())
    a:t():copy_(nl.tensor({ 1, 2, 3 }))  -- broadcast over the transposed view
    assert.are.same({ { 1, 1, 1, 1 }, { 2, 2, 2, 2 }, { 3, 3, 3, 3 } }, a:totable())
    a:zero_()
    assert.are.equal(0, a:abs():sum():item())
    local e = nl.tensor({ 1, 4, 9 })
    e:sqrt_()
    assert.are.same({ 1, 2, 3 }, e:totable())
  end)

  it('large tensors take the parallel path and agree with the serial one', function()
    local n = 1000003
    local a = nl.arange(n, 'float64') / n
    local b = a:exp() * a + a:sigmoid()
    -- check a sample of positions against Lua math
    for _, i in ipairs({ 1, 2, 77777, 500000, n }) do
      local x = (i - 1) / n
      assert.is_true(S.close(b[i], math.exp(x) * x + 1 / (1 + math.exp(-x)), 1e-12))
    end
  end)
end)
