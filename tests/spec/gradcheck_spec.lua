-- Finite-difference gradient checks in float64 for every differentiable op
-- (STYLE 12: torch/nn Jacobian, h = 1e-6, tolerance 1e-5), through
-- nl.gradcheck: backward's Jacobian against central differences, entry by entry.
-- Shapes and values come from this spec's own seeded LCG (not nl.rand), and
-- cover broadcasting, size-1 dims and non-contiguous operands (transposed,
-- narrowed and expanded views of the leaves, made inside f so that the
-- perturbed leaf storage stays one element per logical entry).
local nl = require 'nnlua'
local S = require 'support'

local TOL = { eps = 1e-6, atol = 1e-5, rtol = 1e-5 }

-- ---- the spec's own randomness -----------------------------------------------
local U = S.rng(7919)                                 -- uniform in [lo, hi)
local function randint(lo, hi) return math.min(hi, lo + math.floor(U(0, 1) * (hi - lo + 1))) end
local function pick(list) return list[randint(1, #list)] end

-- value generators: each returns a function () -> number
local function uniform(lo, hi) return function() return U(lo, hi) end end
-- |v| in [lo, hi], random sign: keeps abs/relu/division away from 0
local function away(lo, hi) return function() return (U(0, 1) < 0.5 and -1 or 1) * U(lo, hi) end end
-- multiples of `step` offset by `off` (plus a tiny jitter): two generators with
-- different offsets never tie, so maximum/minimum have a clear winner
local function grid(off, step)
  return function() return (randint(-20, 20) * 2 + off) * step + U(0, step * 0.1) end
end
-- clamp inputs: away from the bounds -0.5 and 0.5 by at least 0.05
local function off_bounds()
  local v
  repeat v = U(-1.5, 1.5) until math.abs(v - 0.5) > 0.05 and math.abs(v + 0.5) > 0.05
  return v
end
-- all-distinct values (for max/min reductions): a shuffled ramp, gaps 0.1
local function distinct_values(n)
  local v = {}
  for i = 1, n do v[i] = (i - n / 2) * 0.1 + U(0, 0.01) end
  for i = n, 2, -1 do local j = randint(1, i); v[i], v[j] = v[j], v[i] end
  local k = 0
  return function() k = k + 1; return v[k] end
end

-- a random shape of rank in [rmin, rmax], sizes in 1..5 (about one in six is
-- 1), with at least one dim above 1
local function rshape(rmin, rmax)
  local s = {}
  for i = 1, randint(rmin, rmax) do s[i] = U(0, 1) < 0.17 and 1 or randint(2, 5) end
  s[randint(1, #s)] = randint(2, 5)
  return s
end
-- a random dim of s whose size is above 1
local function big_dim(s)
  local dims = {}
  for i = 1, #s do if s[i] > 1 then dims[#dims + 1] = i end end
  return pick(dims)
end
-- two shapes that broadcast to a common shape of rank 2..4, with at least one
-- dim actually broadcast (size 1 against > 1, or a missing leading dim)
local function bshapes()
  local out = {}
  for i = 1, randint(2, 4) do out[i] = randint(2, 4) end
  local a, b = {}, {}
  for i = 1, #out do a[i] = U(0, 1) < 0.3 and 1 or out[i] end
  local drop = randint(0, #out - 1)
  for i = drop + 1, #out do b[#b + 1] = U(0, 1) < 0.3 and 1 or out[i] end
  a[randint(1, #a)] = 1                        -- at least one size-1 dim in a
  return a, b
end

-- ---- inputs: a leaf of `base` shape and a view applied inside f ---------------
-- I(shape, gen, view): the op sees a tensor of `shape`; view is nil (the leaf
-- itself), 't' (a transposed leaf), 'narrow' (a slice of a wider leaf) or
-- 'expand' (a leaf with a size-1 dim, expanded)
local function I(shape, gen, view)
  local base, apply = {}, nil
  for i = 1, #shape do base[i] = shape[i] end
  if view == 't' and #shape < 2 then view = 'narrow' end
  if view == 't' then
    base[#base], base[#base - 1] = shape[#shape - 1], shape[#shape]
    apply = function(x) return x:transpose(-1, -2) end
  elseif view == 'narrow' then
    local d = randint(1, #shape)
    base[d] = shape[d] + 2
    apply = function(x) return x:narrow(d, 2, shape[d]) end
  elseif view == 'expand' then
    local dims = {}
    for i = 1, #shape do if shape[i] > 1 then dims[#dims + 1] = i end end
    if #dims > 0 then
      local d = pick(dims)
      base[d] = 1
      apply = function(x) return x:expand(shape) end
    else
      view = nil
    end
  end
  return { shape = shape, base = base, gen = gen or uniform(-1, 1), view = view, apply = apply }
end

local function shape_str(s) return '[' .. table.concat(s, ',') .. ']' end
local function describe_inputs(ins)
  local parts = {}
  for i, x in ipairs(ins) do
    parts[i] = shape_str(x.shape) .. (x.view and (' (' .. x.view .. ')') or '')
  end
  return table.concat(parts, ', ')
end

local function finite_all(t)
  local v = t:view(-1):totable()
  for i = 1, #v do if v[i] ~= v[i] or math.abs(v[i]) == math.huge then return false end end
  return true
end

-- gradcheck f on fresh float64 leaves built from the specs in `ins`; also
-- requires every gradient to have its leaf's shape and to be finite (a NaN
-- gradient compares false with everything, so it must be caught apart).
local function gradcheck(f, ins, tol)
  local leaves = {}
  for i, x in ipairs(ins) do
    local vals = #x.base == 0 and x.gen() or S.nested(x.base, x.gen)
    leaves[i] = nl.tensor(vals, 'float64'):requires_grad()
  end
  local function g(...)
    local args = { ... }
    for i, x in ipairs(ins) do if x.apply then args[i] = x.apply(args[i]) end end
    return f(unpack(args, 1, #ins))
  end
  local ok, msg = nl.gradcheck(g, leaves, tol or TOL)
  assert.is_true(ok, msg)
  -- (gradcheck leaves .grad as it was: one backward of its own)
  g(unpack(leaves)):sum():backward()
  for i, l in ipairs(leaves) do
    local gr = l.grad
    assert.is_truthy(gr, 'input ' .. i .. ' got no gradient')
    assert.are.same(l:shape(), gr:shape())
    assert.are.equal('float64', gr:dtype())
    assert.is_true(finite_all(gr), 'input ' .. i .. ' has a non-finite gradient: ' .. tostring(gr))
  end
end

-- one line per op (tinygrad helper_test_op): a test named after the op and shapes
local function op(name, ins, f, tol)
  it(name .. ' ' .. describe_inputs(ins), function() gradcheck(f, ins, tol) end)
end

local VIEWS = { false, 't', 'narrow', 'expand' }
local function rview() return pick(VIEWS) or nil end

describe('gradcheck (float64, central differences, h=1e-6, tol 1e-5)', function()
  describe('binary ops with broadcasting', function()
    local add = function(a, b) return a + b end
    local sub = function(a, b) return a - b end
    local mul = function(a, b) return a * b end
    local div = function(a, b) return a / b end
    local pow = function(a, b) return a ^ b end
    local maximum = function(a, b) return nl.maximum(a, b) end
    local minimum = function(a, b) return nl.minimum(a, b) end
    for round = 1, 3 do
      local a, b = bshapes()
      local c, d = bshapes()
      op('add', { I(a, nil, rview()), I(b, nil, rview()) }, add)
      op('add', { I(d), I(c) }, add)
      op('sub', { I(a, nil, rview()), I(b, nil, rview()) }, sub)
      op('sub', { I(d, nil, 'narrow'), I(c, nil, 't') }, sub)
      op('mul', { I(a, nil, rview()), I(b, nil, rview()) }, mul)
      op('mul', { I(d), I(c, nil, 'expand') }, mul)
      op('div', { I(a, nil, rview()), I(b, away(0.5, 2), rview()) }, div)
      op('div', { I(d, away(0.5, 2), 't'), I(c, away(0.5, 2)) }, div)
      op('pow', { I(a, uniform(0.5, 2), rview()), I(b, uniform(-2, 2), rview()) }, pow)
      op('pow', { I(d, uniform(0.5, 2)), I(c, uniform(-2, 2), 'narrow') }, pow)
      op('maximum', { I(a, grid(0, 0.05), rview()), I(b, grid(1, 0.05), rview()) }, maximum)
      op('maximum', { I(d, grid(1, 0.05)), I(c, grid(0, 0.05)) }, maximum)
      op('minimum', { I(a, grid(0, 0.05), rview()), I(b, grid(1, 0.05), rview()) }, minimum)
      op('minimum', { I(d, grid(1, 0.05), 't'), I(c, grid(0, 0.05)) }, minimum)
    end
    op('add same shape', { I({ 3, 4 }), I({ 3, 4 }) }, add)
    op('mul of one input with itself', { I({ 2, 3 }) }, function(a) return a * a end)
    op('mul 0-dim by matrix', { I({}), I({ 2, 3 }) }, mul)
  end)

  describe('scalar forms', function()
    for round = 1, 3 do
      local s = rshape(1, 3)
      op('x + s', { I(s, nil, rview()) }, function(x) return x + 1.5 end)
      op('s + x', { I(s, nil, rview()) }, function(x) return 1.5 + x end)
      op('x - s', { I(s, nil, rview()) }, function(x) return x - 0.7 end)
      op('s - x', { I(s, nil, rview()) }, function(x) return 0.7 - x end)
      op('x * s', { I(s, nil, rview()) }, function(x) return x * -2.5 end)
      op('s * x', { I(s, nil, rview()) }, function(x) return 3 * x end)
      op('x / s', { I(s, nil, rview()) }, function(x) return x / 0.3 end)
      op('s / x', { I(s, away(0.5, 2), rview()) }, function(x) return 2 / x end)
      op('x ^ 2.5', { I(s, uniform(0.3, 2), rview()) }, function(x) return x ^ 2.5 end)
      op('x ^ -1.5', { I(s, uniform(0.3, 2), rview()) }, function(x) return x ^ -1.5 end)
      op('x ^ 3 (negative base)', { I(s, uniform(-2, 2), rview()) }, function(x) return x ^ 3 end)
      op('x:pow(2)', { I(s, nil, rview()) }, function(x) return x:pow(2) end)
      op('1.7 ^ x', { I(s, uniform(-2, 2), rview()) }, function(x) return 1.7 ^ x end)
      op('maximum(x, 0.25)', { I(s, grid(1, 0.05), rview()) }, function(x) return nl.maximum(x, 0.25) end)
      op('maximum(0.25, x)', { I(s, grid(1, 0.05), rview()) }, function(x) return nl.maximum(0.25, x) end)
      op('minimum(x, -0.25)', { I(s, grid(1, 0.05), rview()) }, function(x) return nl.minimum(x, -0.25) end)
      op('minimum(-0.25, x)', { I(s, grid(1, 0.05), rview()) }, function(x) return nl.minimum(-0.25, x) end)
    end
  end)

  describe('unary ops', function()
    for round = 1, 3 do
      local s = rshape(1, 3)
      op('neg', { I(s, nil, rview()) }, function(x) return -x end)
      op('exp', { I(s, uniform(-2, 2), rview()) }, function(x) return x:exp() end)
      op('log', { I(s, uniform(0.2, 3), rview()) }, function(x) return x:log() end)
      op('sqrt', { I(s, uniform(0.2, 3), rview()) }, function(x) return x:sqrt() end)
      op('abs', { I(s, away(0.1, 2), rview()) }, function(x) return x:abs() end)
      op('relu', { I(s, away(0.1, 2), rview()) }, function(x) return x:relu() end)
      op('sigmoid', { I(s, uniform(-3, 3), rview()) }, function(x) return x:sigmoid() end)
      op('tanh', { I(s, uniform(-3, 3), rview()) }, function(x) return x:tanh() end)
      op('clamp(-0.5, 0.5)', { I(s, off_bounds, rview()) }, function(x) return x:clamp(-0.5, 0.5) end)
      op('clamp(-0.5, nil)', { I(s, off_bounds, rview()) }, function(x) return x:clamp(-0.5, nil) end)
      op('clamp(nil, 0.5)', { I(s, off_bounds, rview()) }, function(x) return x:clamp(nil, 0.5) end)
      op('nl.exp', { I(s, uniform(-1, 1), rview()) }, function(x) return nl.exp(x) end)
    end
    op('tanh of a 0-dim tensor', { I({}) }, function(x) return x:tanh() end)
  end)

  describe('reductions', function()
    for round = 1, 3 do
      local s = rshape(2, 4)
      local r = #s
      op('sum', { I(s, nil, rview()) }, function(x) return x:sum() end)
      op('mean', { I(s, nil, rview()) }, function(x) return x:mean() end)
      for d = 1, r do
        op('sum dim ' .. d, { I(s, nil, rview()) }, function(x) return x:sum(d) end)
        op('sum keepdim dim ' .. d, { I(s, nil, rview()) }, function(x) return x:sum(d, true) end)
        op('mean dim ' .. d, { I(s, nil, rview()) }, function(x) return x:mean(d) end)
        op('mean keepdim dim ' .. d, { I(s, nil, rview()) }, function(x) return x:mean(d, true) end)
      end
      op('sum dim -1', { I(s, nil, rview()) }, function(x) return x:sum(-1) end)
      op('mean dim -2 keepdim', { I(s, nil, rview()) }, function(x) return x:mean(-2, true) end)
      -- max/min need distinct values: no expanded views, and a shuffled ramp
      local function D() return I(s, distinct_values(3 * S.numel(s) + 8), pick({ false, 't', 'narrow' }) or nil) end
      op('max', { D() }, function(x) return x:max() end)
      op('min', { D() }, function(x) return x:min() end)
      for d = 1, r do
        op('max dim ' .. d, { D() }, function(x) return (x:max(d)) end)
        op('min dim ' .. d, { D() }, function(x) return (x:min(d)) end)
        op('max keepdim dim ' .. d, { D() }, function(x) return (x:max(d, true)) end)
      end
      op('min dim -1 keepdim', { D() }, function(x) return (x:min(-1, true)) end)
    end
    op('sum of a 1-element tensor', { I({ 1 }) }, function(x) return x:sum() end)
    op('mean over a size-1 dim', { I({ 3, 1, 2 }) }, function(x) return x:mean(2) end)
  end)

  describe('softmax and log_softmax', function()
    for round = 1, 3 do
      local s = rshape(1, 3)
      for d = 1, #s do
        op('softmax dim ' .. d, { I(s, uniform(-2, 2), rview()) }, function(x) return x:softmax(d) end)
        op('log_softmax dim ' .. d, { I(s, uniform(-2, 2), rview()) }, function(x) return x:log_softmax(d) end)
      end
      op('softmax dim -1', { I(s, uniform(-2, 2), rview()) }, function(x) return x:softmax(-1) end)
      op('log_softmax (default dim)', { I(s, uniform(-2, 2), rview()) }, function(x) return x:log_softmax() end)
    end
    op('softmax over a size-1 dim', { I({ 3, 1 }) }, function(x) return x:softmax(2) end)
    op('log_softmax of large logits', { I({ 2, 5 }, uniform(40, 60)) }, function(x) return x:log_softmax(2) end)
  end)

  describe('matmul', function()
    local mm = function(a, b) return nl.matmul(a, b) end
    local function n() return randint(1, 4) end
    local m, k, p, b = n(), randint(2, 4), n(), randint(2, 3)
    op('matmul 2-D', { I({ m, k }), I({ k, p }) }, mm)
    op('matmul 2-D, a transposed', { I({ m, k }, nil, 't'), I({ k, p }) }, mm)
    op('matmul 2-D, b transposed', { I({ m, k }), I({ k, p }, nil, 't') }, mm)
    op('matmul 2-D, both transposed', { I({ m, k }, nil, 't'), I({ k, p }, nil, 't') }, mm)
    op('matmul 2-D, narrowed', { I({ m, k }, nil, 'narrow'), I({ k, p }, nil, 'narrow') }, mm)
    op('matmul 2-D, expanded', { I({ 3, k }, nil, 'expand'), I({ k, p }) }, mm)
    op('matmul batched 3-D', { I({ b, m, k }), I({ b, k, p }) }, mm)
    op('matmul batched 3-D, transposed', { I({ b, m, k }, nil, 't'), I({ b, k, p }, nil, 't') }, mm)
    op('matmul broadcast batch (b,m,k)@(k,p)', { I({ b, m, k }), I({ k, p }) }, mm)
    op('matmul broadcast batch (m,k)@(b,k,p)', { I({ m, k }), I({ b, k, p }, nil, 'narrow') }, mm)
    op('matmul broadcast batch (1,m,k)@(b,k,p)', { I({ 1, m, k }), I({ b, k, p }) }, mm)
    op('matmul broadcast batch (2,1,m,k)@(b,k,p)', { I({ 2, 1, m, k }), I({ b, k, p }) }, mm)
    op('matmul 1-D @ 1-D', { I({ k }), I({ k }) }, mm)
    op('matmul 1-D @ 2-D', { I({ k }), I({ k, p }) }, mm)
    op('matmul 2-D @ 1-D', { I({ m, k }, nil, 't'), I({ k }) }, mm)
    op('matmul 3-D @ 1-D', { I({ b, m, k }), I({ k }, nil, 'narrow') }, mm)
    op('matmul 1-D @ 3-D', { I({ k }), I({ b, k, p }) }, mm)
    op('matmul shared operand a @ a', { I({ k, k }) }, function(a) return nl.matmul(a, a) end)
  end)

  describe('views and copies', function()
    for round = 1, 3 do
      local s = rshape(2, 4)
      local r = #s
      local n = S.numel(s)
      op('view (-1)', { I(s) }, function(x) return x:view(-1) end)
      op('view (n, 1)', { I(s) }, function(x) return x:view(n, 1) end)
      op('reshape (1, n)', { I(s, nil, rview()) }, function(x) return x:reshape(1, n) end)
      op('reshape (-1) of a transposed input', { I(s, nil, 't') }, function(x) return x:reshape(-1) end)
      op('transpose (1, last)', { I(s, nil, rview()) }, function(x) return x:transpose(1, r) end)
      local perm = {}
      for i = 1, r do perm[i] = i end
      for i = r, 2, -1 do local j = randint(1, i); perm[i], perm[j] = perm[j], perm[i] end
      op('permute (' .. table.concat(perm, ',') .. ')', { I(s, nil, rview()) }, function(x) return x:permute(perm) end)
      local d = big_dim(s)
      op('narrow dim ' .. d, { I(s, nil, rview()) }, function(x) return x:narrow(d, s[d], 1) end)
      op('narrow dim ' .. d .. ' full', { I(s, nil, rview()) }, function(x) return x:narrow(d, 1, s[d]) end)
      op('select dim ' .. d, { I(s, nil, rview()) }, function(x) return x:select(d, s[d]) end)
      op('select dim ' .. d .. ' index -1', { I(s, nil, rview()) }, function(x) return x:select(d, -1) end)
      op('unsqueeze 1', { I(s, nil, rview()) }, function(x) return x:unsqueeze(1) end)
      op('unsqueeze -1', { I(s, nil, rview()) }, function(x) return x:unsqueeze(-1) end)
      op('contiguous', { I(s, nil, rview()) }, function(x) return x:contiguous() end)
      op('clone', { I(s, nil, rview()) }, function(x) return x:clone() end)
      local idx = {}
      for i = 1, randint(3, 6) do idx[i] = randint(1, s[d]) end
      idx[#idx + 1] = idx[1]                       -- at least one repeat
      op('index_select dim ' .. d .. ' {' .. table.concat(idx, ',') .. '}', { I(s, nil, rview()) },
        function(x) return x:index_select(d, nl.tensor(idx, 'int64')) end)
    end
    op('squeeze (all)', { I({ 3, 1, 2, 1 }, nil, 'narrow') }, function(x) return x:squeeze() end)
    op('squeeze dim 2', { I({ 3, 1, 2 }, nil, 't') }, function(x) return x:squeeze(2) end)
    op('squeeze dim -1', { I({ 2, 3, 1 }) }, function(x) return x:squeeze(-1) end)
    op('unsqueeze then squeeze', { I({ 2, 3 }) }, function(x) return x:unsqueeze(2):squeeze(2) * x end)
    op('expand size-1 dims', { I({ 3, 1 }) }, function(x) return x:expand(3, 4) end)
    op('expand new leading dims', { I({ 1, 2 }) }, function(x) return x:expand(2, 3, 2) end)
    op('expand with -1', { I({ 2, 1, 3 }) }, function(x) return x:expand(-1, 4, -1) end)
    op('expand a transposed input', { I({ 1, 3 }, nil, 't') }, function(x) return x:expand(2, 4, 3) end)
    op('t', { I({ 2, 3 }) }, function(x) return x:t() end)
    op('index_select of a narrowed input', { I({ 4, 3 }, nil, 'narrow') },
      function(x) return x:index_select(1, { 4, 1, 1, 3 }) end)
    op('reshape of a select', { I({ 2, 3, 2 }) }, function(x) return x:select(2, 2):reshape(4) end)
  end)

  describe('cat, stack, where', function()
    for round = 1, 2 do
      local s = rshape(1, 3)
      local r = #s
      local d = randint(1, r)
      local s2 = {}
      for i = 1, r do s2[i] = s[i] end
      s2[d] = randint(1, 3)
      op('cat dim ' .. d, { I(s, nil, rview()), I(s2, nil, rview()), I(s, nil, rview()) },
        function(a, b, c) return nl.cat({ a, b, c }, d) end)
      op('cat dim -1', { I({ 2, s[r] }), I({ 2, 1 }) }, function(a, b) return nl.cat({ a, b }, -1) end)
      for sd = 1, r + 1 do
        op('stack dim ' .. sd, { I(s, nil, rview()), I(s, nil, rview()) },
          function(a, b) return nl.stack({ a, b }, sd) end)
      end
      local a, b = bshapes()
      local cond = nl.tensor(S.nested(a, function() return U(-1, 1) end), 'float64'):gt(0)
      op('where (cond ' .. shape_str(a) .. ')', { I(a, nil, rview()), I(b, nil, rview()) },
        function(x, y) return nl.where(cond, x, y) end)
      op('where with a scalar other', { I(a, nil, rview()) }, function(x) return nl.where(cond, x, 0.5) end)
      op('where with a scalar first', { I(b, nil, rview()) }, function(y) return nl.where(cond, -2, y) end)
    end
    op('cat of one input with itself', { I({ 2, 3 }) }, function(a) return nl.cat({ a, a * 2 }, 1) end)
    op('stack of one input with itself', { I({ 3 }) }, function(a) return nl.stack({ a, a }, 2) end)
  end)

  describe('dtype conversion', function()
    op('to float64 is the identity', { I({ 3, 2 }) }, function(x) return x:to('float64') * 2 end)
    -- a float32 round trip loses digits: a linear function with h = 1e-2
    -- still checks the gradient's flow (exact 3s) to within float32 rounding
    op('to float32 and back (linear, h=1e-2, tol 1e-4)', { I({ 3, 2 }) },
      function(x) return (x:to('float32') * 3):to('float64') end, { eps = 1e-2, atol = 1e-4, rtol = 1e-4 })
  end)

  describe('composite', function()
    -- a 2-layer MLP: log_softmax(tanh(x W1 + b1) W2 + b2), mean NLL of labels
    local N, D, H, C = 4, 3, 5, 3
    local labels = nl.tensor({ 1, 3, 2, 3 }, 'int64')
    local onehot = nl.tensor({ { 1, 0, 0 }, { 0, 0, 1 }, { 0, 1, 0 }, { 0, 0, 1 } }, 'float64')
    op('2-layer MLP logits', { I({ N, D }), I({ D, H }), I({ H }), I({ H, C }, nil, 't'), I({ C }) },
      function(x, w1, b1, w2, b2)
        return (nl.matmul(x, w1) + b1):tanh():matmul(w2) + b2
      end)
    op('2-layer MLP loss', { I({ N, D }), I({ D, H }), I({ H }), I({ H, C }), I({ C }) },
      function(x, w1, b1, w2, b2)
        local logp = (nl.matmul(x, w1) + b1):tanh():matmul(w2):add(b2):log_softmax(2)
        return -(logp * onehot):sum(2):mean()
      end)
    op('gather by index_select of the diagonal', { I({ N, C }) }, function(z)
      local logp = z:log_softmax(2)
      return logp:index_select(2, labels):select(2, 1)
    end)
    -- the fused binary cross-entropy's gradients for the probabilities,
    -- the targets and the weights, unreduced and averaged
    local F = nl.nn.functional
    local bce_ins = function() return { I({ 3, 4 }, uniform(0.1, 0.9)), I({ 3, 4 }, uniform(0, 1)), I({ 3, 4 }, uniform(0.5, 2)) } end
    for _, r in ipairs({ 'none', 'mean' }) do
      op('binary_cross_entropy, weighted, reduction ' .. r, bce_ins(),
        function(p, y, w) return F.binary_cross_entropy(p, y, { weight = w, reduction = r }) end)
    end
    -- with logits, where some are exactly 0 (the loss is smooth there; its
    -- gradient once lost the log term's share at 0)
    local zeros = function() return 0 end
    op('binary_cross_entropy_with_logits at logits of 0', { I({ 2, 3 }, zeros), I({ 2, 3 }, uniform(0, 1)) },
      function(x, y) return F.binary_cross_entropy_with_logits(x, y, { reduction = 'none' }) end)
    op('binary_cross_entropy_with_logits, pos_weight and weight',
      { I({ 3, 4 }, uniform(-4, 4)), I({ 3, 4 }, uniform(0, 1)), I({ 4 }, uniform(0.5, 3)), I({ 3, 4 }, uniform(0.5, 2)) },
      function(x, y, pw, w) return F.binary_cross_entropy_with_logits(x, y, { pos_weight = pw, weight = w }) end)
    op('cross_entropy with class weights and an ignored class', { I({ N, C }), I({ C }, uniform(0.5, 2)) },
      function(z, w) return F.cross_entropy(z, labels, { weight = w, ignore_index = 2, label_smoothing = 0.1 }) end)
  end)

  describe('gradcheck itself', function()
    local function leaf(t) return nl.tensor(t, 'float64'):requires_grad() end

    it('fails when backward misses a term (x * x:detach(): backward x, numeric 2x)', function()
      local x = leaf({ 0.5, -1.25, 2 })
      local ok, msg = nl.gradcheck(function(a) return a * a:detach() end, { x })
      assert.is_false(ok)
      assert.matches('backward', msg)
    end)

    it('at tol 1e-5, fails when backward is off by a relative 5e-5', function()
      -- the detached term's share of the gradient is missing: 2x + 1e-4 x instead of 2x + 2e-4 x
      local x = leaf({ 0.5, -1.25, 2 })
      local f = function(a) return a * a + (a * 1e-4):detach() * a end
      assert.is_false((nl.gradcheck(f, { x }, TOL)))
    end)

    it('passes on a correct gradient (x * x)', function()
      local x = leaf({ 0.5, -1.25, 2 })
      assert.is_true((nl.gradcheck(function(a) return a * a end, { x })))
    end)

    -- torch 1.13: x.grad is None after torch.autograd.gradcheck(f, (x,)),
    -- and a .grad set before is the same tensor with the same values after,
    -- also when the check fails or raises (it uses autograd.grad, never
    -- .grad); nnlua's last backward left .grad = J^T w
    it('leaves the inputs .grad as they were: nil, or the same tensor, on every way out', function()
      local x, y = leaf({ 0.5, -1.25, 2 }), leaf({ 1, 2, 3 })
      local gy = nl.tensor({ 7, 8, 9 }, 'float64')
      y.grad = gy
      local prod = function(a, b) return a * b end
      assert.is_true((nl.gradcheck(prod, { x, y })))
      assert.is_nil(x.grad)
      assert.are.equal(gy.ptr, y.grad.ptr)
      assert.are.same({ 7, 8, 9 }, y.grad:totable())
      -- a wrong gradient: false, and raise_exception
      local wrong = function(a, b) return a * b:detach() * b end
      assert.is_false((nl.gradcheck(wrong, { x, y })))
      assert.is_nil(x.grad)
      assert.are.equal(gy.ptr, y.grad.ptr)
      local ok, err = pcall(nl.gradcheck, wrong, { x, y }, { raise_exception = true })
      assert.is_false(ok)
      assert.matches('gradcheck: input 2', err)
      assert.is_nil(x.grad)
      assert.are.equal(gy.ptr, y.grad.ptr)
      assert.are.same({ 7, 8, 9 }, y.grad:totable())
      -- f raising at a perturbed call (after the backward passes)
      local calls = 0
      ok, err = pcall(nl.gradcheck, function(a, b)
        calls = calls + 1
        if calls > 1 then error('f broke') end
        return a * b
      end, { x, y })
      assert.is_false(ok)
      assert.matches('f broke', err)
      assert.is_nil(x.grad)
      assert.are.equal(gy.ptr, y.grad.ptr)
      assert.are.same({ 7, 8, 9 }, y.grad:totable())
    end)

    -- torch 1.13: after gradcheck and gradgradcheck of x -> tanh(lin(x)),
    -- lin.weight.grad is None and a bias .grad set before is the same
    -- tensor with its values (both differentiate w.r.t. the inputs only);
    -- nnlua's backward passes added every row of the Jacobian to them
    it("leaves the .grad of the leaves f closes over (a Linear's parameters) alone", function()
      local lin = nl.nn.Linear(3, 2):double()
      local f = function(a) return lin(a):tanh() end
      local x = leaf({ { 0.5, -1.25, 2 }, { 0.1, 0.3, -0.7 } })
      local gb = nl.tensor({ 5, 6 }, 'float64')
      lin.bias.grad = gb
      assert.is_true((nl.gradcheck(f, { x })))
      assert.is_true((nl.autograd.gradgradcheck(f, { x })))
      assert.is_nil(lin.weight.grad)
      assert.is_nil(x.grad)
      assert.are.equal(gb.ptr, lin.bias.grad.ptr)
      assert.are.same({ 5, 6 }, lin.bias.grad:totable())
      -- a wrong gradient: false and raise_exception, the .grad untouched
      local wrong = function(a) return lin(a) * a:sum(2, true):detach() end
      assert.is_false((nl.gradcheck(wrong, { x })))
      assert.is_false(pcall(nl.gradcheck, wrong, { x }, { raise_exception = true }))
      assert.is_nil(lin.weight.grad)
      assert.are.same({ 5, 6 }, lin.bias.grad:totable())
    end)

    it('fails when backward gives NaN and the function is smooth', function()
      -- sqrt(x * 0) is 0 for every x; its backward is (1 / (2 sqrt 0)) * 0 = NaN
      local x = leaf({ 0.5, -1.25, 2 })
      local ok = nl.gradcheck(function(a) return (a * 0):sqrt() end, { x })
      assert.is_false(ok, 'gradcheck accepted a NaN gradient: ' .. tostring(x.grad))
    end)

    it('perturbs a non-contiguous leaf through its strides', function()
      local base = nl.tensor(S.nested({ 3, 4 }, uniform(-1, 1)), 'float64')
      local x = base:t():requires_grad()           -- a leaf view, strides (1, 4)
      assert.is_false(x:is_contiguous())
      local w = nl.tensor({ { 1, 2, 3 }, { -1, 0.5, 2 }, { 0, 1, -2 }, { 3, 1, 1 } }, 'float64')
      assert.is_true((nl.gradcheck(function(a) return (a * a * w):sum(1) end, { x }, TOL)))
      -- and catches a wrong gradient there too (w detached-scaled term)
      assert.is_false((nl.gradcheck(function(a) return a * a:detach() * w end, { x }, TOL)))
    end)

    -- one projection sum(f * w) hid a 2% error in one entry among 1001
    -- outputs (PyTorch's gradcheck catches it)
    it('catches an error in one Jacobian entry among many outputs', function()
      local W = nl.tensor(S.nested({ 4, 1000 }, uniform(-1, 1)), 'float64')
      local x = leaf({ { 0.3, -0.7, 1.1, 0.4 } })
      local ok, msg = nl.gradcheck(function(a)
        local a1 = a:narrow(2, 1, 1)
        return nl.cat({ nl.matmul(a, W), a1 * 0.98 + a1:detach() * 0.02 }, 2)
      end, { x })
      assert.is_false(ok)
      assert.is_truthy(msg:find('input 1 element 1, output element 1001: backward 0.98', 1, true), msg)
      assert.is_true((nl.gradcheck(function(a) return nl.cat({ nl.matmul(a, W), a:narrow(2, 1, 1) * 1 }, 2) end, { x })))
    end)

    -- only f's first result was checked: a wrong gradient in the second
    -- passed (PyTorch's gradcheck checks every output of a tuple)
    it('checks every float result of f, as one output of their elements in order', function()
      local x = leaf({ 0.5, -1.25, 2 })
      local ok, msg = nl.gradcheck(function(a) return a * 2, a * 0.98 + a:detach() * 0.02, a:argmax() end, { x })
      assert.is_false(ok)
      assert.is_truthy(msg:find('input 1 element 1, output element 4: backward 0.98, numeric 1', 1, true), msg)
      assert.is_true((nl.gradcheck(function(a) return a * 2, a:sin(), a:argmax(), 'x' end, { x })))
      assert.is_true((nl.gradcheck(function(a) return 3, a:exp() end, { x })))
    end)

    it('refuses a non-leaf input, an expanded one and unknown options', function()
      local x = leaf({ 0.5, -1.25, 2 })
      local ok, err = pcall(nl.gradcheck, function(a) return a:exp() end, { x * 1 })
      assert.is_truthy(err:find('gradcheck: input 1 is not a leaf', 1, true), err)
      local e = nl.tensor({ 0.5 }, 'float64'):expand(3):requires_grad()
      ok, err = pcall(nl.gradcheck, function(a) return a * a end, { e })
      assert.is_truthy(err:find('gradcheck: input 1 of shape [3] repeats memory', 1, true), err)
      ok, err = pcall(nl.gradcheck, function(a) return a:exp() end, { x }, { tol = 1e-2 })
      assert.is_truthy(err:find("gradcheck: unknown option 'tol'", 1, true), err)
    end)

    -- PyTorch 1.13 raises 'gradcheck expects at least one input tensor to
    -- require gradient'; here backward of f's result failed, naming
    -- backward, and a result made from a parameter alone passed
    it('refuses inputs none of which requires grad, naming gradcheck', function()
      local x = nl.tensor({ 0.5, -1.25, 2 }, 'float64')
      local ok, err = pcall(nl.gradcheck, function(a) return a * 2 end, { x })
      assert.is_false(ok)
      assert.is_truthy(err:find('gradcheck: expects at least one input tensor to require gradient, but none of the 1 '
                                .. '(shapes [3]) does', 1, true), err)
      ok, err = pcall(nl.gradcheck, function(a) return a * 2 end, x)
      assert.is_truthy(err:find('gradcheck: expects at least one input tensor', 1, true), err)
      local w = leaf({ 1, 2, 3 })
      ok, err = pcall(nl.gradcheck, function(a, b) return a * b * w end, { x, nl.ones(2, 'float64') })
      assert.is_truthy(err:find('none of the 2 (shapes [3], [2]) does', 1, true), err)
      assert.is_true((nl.gradcheck(function(a, b) return a * b end, { x, leaf({ 1, 2, 3 }) })))
    end)

    -- PyTorch 1.13 checks the results that require grad (those that do
    -- not, beside them, passed over), or, where none does, that every
    -- numeric derivative is 0; here backward raised, naming backward, and
    -- a detached result beside one that requires grad failed
    it('checks a result that requires no grad by its numeric derivatives, as PyTorch 1.13', function()
      local x = leaf({ 0.5, -1.25, 2 })
      local ok, msg = nl.gradcheck(function(a) return a:detach() * 2 end, { x })
      assert.is_false(ok)
      S.contains(msg, 'gradcheck: input 1 element 1, output element 1: backward 0, numeric 2 (no result of f '
                      .. 'requires grad, so the numeric derivatives must be 0)')
      ok, msg = nl.gradcheck(function(a) return nl.no_grad(function() return a:sin() end) end, { x })
      S.contains(msg, 'numeric ' .. ('%.10g'):format(math.cos(0.5)))
      assert.is_true((nl.gradcheck(function() return nl.ones(3, 'float64') end, { x })))
      assert.is_true((nl.gradcheck(function(a) return a:argmax() end, { x })))
      assert.is_true((nl.gradcheck(function(a) return a * 2, a:detach() * 3 end, { x })))
      -- the results that require grad are still checked beside it
      ok, msg = nl.gradcheck(function(a) return a * 2, a:detach() * 3, a * a:detach() end, { x })
      S.contains(msg, 'input 1 element 1, output element 4: backward 0.5, numeric 1')
    end)

    -- PyTorch 1.13 passes an input that does not require grad to f as it
    -- is; here all had to be float64 tensors (an index was refused)
    it('passes inputs that require no grad to f as they are: int64 indices, numbers, float32 tensors', function()
      local x = leaf({ 0.5, -1.25, 2 })
      local idx, c = nl.tensor({ 3, 1 }, 'int64'), nl.tensor({ 2, 4 })
      local f = function(a, i, s, k) return a:index_select(1, i):sin() * s * k:double() end
      assert.is_true((nl.gradcheck(f, { x, idx, 0.5, c })))
      local ok, msg = nl.gradcheck(function(a, i) return a:index_select(1, i) * a:index_select(1, i):detach() end,
                                   { x, idx })
      assert.is_false(ok)
      S.contains(msg, 'input 1 element 1, output element 2: backward 0.5, numeric 1')
      S.contains(S.errmsg(nl.gradcheck, f, { idx, 0.5 }), 'none of the 2 (shapes [2], 0.5) does')
    end)

    it('rejects float32 inputs', function()
      local x = nl.tensor({ 1, 2 }):requires_grad()
      assert.has_error(function() nl.gradcheck(function(a) return a * 2 end, { x }) end)
    end)
  end)
end)
