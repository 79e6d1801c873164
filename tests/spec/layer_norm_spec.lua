-- layer_norm_spec.lua: the fused layer normalization (nl_layer_norm, behind
-- F.layer_norm and nn.LayerNorm, and F.rms_norm and nn.RMSNorm) against
-- its composite definition in float64, by gradcheck, under create_graph,
-- and on 1 and 2 threads bit for bit. PyTorch's values are
-- nn_extra_spec's, nn_golden_spec's and rms_norm_spec's.
local nl = require 'nnlua'
local S = require 'support'
local F = nl.nn.functional
local grad = nl.autograd.grad

-- the definition: (x - mean) / sqrt(var + eps) * w + b over the last k dims
local function composite(x, k, w, b, eps)
  local d = x:dim()
  local mean = x
  for i = d - k + 1, d do mean = mean:mean(i, true) end
  local c = x - mean
  local var = c * c
  for i = d - k + 1, d do var = var:mean(i, true) end
  local y = c / (var + eps):sqrt()
  if w then y = y * w end
  if b then y = y + b end
  return y
end

local function cube(t) return t * t * t end

-- x of shape, a normalized shape of its last k sizes, a weight and bias
-- (nil without affine), all float64 leaves
local function inputs(shape, k, affine, seed)
  nl.manual_seed(seed)
  local x = (nl.randn(shape, 'float64') * 3 + 1):requires_grad()
  local ns = {}
  for i = #shape - k + 1, #shape do ns[#ns + 1] = shape[i] end
  local w, b
  if affine then
    w = (nl.rand(ns, 'float64') + 0.5):requires_grad()
    b = nl.randn(ns, 'float64'):requires_grad()
  end
  return x, ns, w, b
end

local CASES = {
  { 'rows of 33 (8 lanes and a tail)', { 5, 7, 33 }, 1, true },
  { 'the last two dims', { 4, 3, 5 }, 2, true },
  { 'no weight or bias', { 6, 19 }, 1, false },
  { 'one row', { 1, 64 }, 1, true },
}

describe('layer_norm, the fused op', function()
  for _, c in ipairs(CASES) do
    it(c[1] .. ': output and gradients equal the composite definition in float64', function()
      local x, ns, w, b = inputs(c[2], c[3], c[4], 3)
      local y = F.layer_norm(x, ns, w, b, 1e-3)
      assert.are.equal('layer_norm', y:grad_fn())
      local want = composite(x, c[3], w, b, 1e-3)
      S.expect_close(y, want, 'output', 1e-12, 1e-12)
      nl.manual_seed(4)
      local g = nl.randn(c[2], 'float64')
      local leaves = { x, w, b }
      local got = grad((y * g):sum(), leaves, { allow_unused = true })
      local ref = grad((want * g):sum(), leaves, { allow_unused = true })
      for i = 1, c[4] and 3 or 1 do S.expect_close(got[i], ref[i], 'gradient ' .. i, 1e-10, 1e-10) end
    end)
  end

  it('takes a non-contiguous input', function()
    local x = inputs({ 6, 4, 5 }, 1, false, 5)
    local xt = x:transpose(1, 3)                   -- (5, 4, 6), rows of 6 strided
    local ns = { 6 }
    local w6, b6 = nl.rand(6, 'float64'):requires_grad(), nl.randn(6, 'float64'):requires_grad()
    local y = F.layer_norm(xt, ns, w6, b6)
    assert.are.equal('layer_norm', y:grad_fn())
    S.expect_close(y, composite(xt:detach(), 1, w6:detach(), b6:detach(), 1e-5), 'output', 1e-12, 1e-12)
    local g = grad(cube(y):sum(), { x, w6, b6 })
    local r = grad(cube(composite(x:transpose(1, 3), 1, w6, b6, 1e-5)):sum(), { x, w6, b6 })
    for i = 1, 3 do S.expect_close(g[i], r[i], 'gradient ' .. i, 1e-10, 1e-10) end
  end)

  it('passes float64 gradcheck, with and without a weight and bias', function()
    local x, ns, w, b = inputs({ 3, 2, 7 }, 2, true, 6)
    S.gradcheck(function(a, c, d) return F.layer_norm(a, ns, c, d) end, x, w, b)
    S.gradcheck(function(a) return F.layer_norm(a, { 7 }) end, x)
    S.gradcheck(function(a, c) return F.layer_norm(a, { 7 }, c) end, x, nl.rand(7, 'float64'))
  end)

  it('gives create_graph second derivatives equal to the composite definition\'s', function()
    for _, affine in ipairs({ true, false }) do
      local x, ns, w, b = inputs({ 4, 3, 6 }, 1, affine, 7)
      local leaves = affine and { x, w, b } or { x }
      local v = {}
      for i, t in ipairs(leaves) do v[i] = nl.randn(t:shape(), 'float64') end
      local function hvp(f)
        local gs = grad(cube(f(x, w, b)):sum(), leaves, { create_graph = true })
        local s
        for i, gi in ipairs(gs) do
          local t = (gi * v[i]):sum()
          s = s and s + t or t
        end
        return gs, grad(s, leaves, { allow_unused = true })
      end
      local g1, h1 = hvp(function(a, c, d) return F.layer_norm(a, ns, c, d) end)
      local g2, h2 = hvp(function(a, c, d) return composite(a, 1, c, d, 1e-5) end)
      for i = 1, #leaves do
        S.expect_close(g1[i], g2[i], 'gradient ' .. i, 1e-10, 1e-10)
        S.expect_close(h1[i], h2[i], 'Hessian-vector product ' .. i, 1e-9, 1e-9)
      end
    end
  end)

  it('gives the same bits on 1 and 2 threads, forward and backward', function()
    local saved = nl.get_num_threads()
    local ok, err = pcall(function()
      for _, dt in ipairs({ 'float32', 'float64' }) do
        nl.manual_seed(8)
        local x0, g = nl.randn({ 96, 3, 700 }, dt), nl.randn({ 96, 3, 700 }, dt)
        local w0, b0 = nl.rand(700, dt), nl.randn(700, dt)
        local res = {}
        for t = 1, 2 do
          nl.set_num_threads(t)
          local x, w, b = x0:clone():requires_grad(), w0:clone():requires_grad(), b0:clone():requires_grad()
          local ln = nl.nn.LayerNorm(700)
          if dt == 'float64' then ln = ln:double() end
          ln.weight, ln.bias = w, b
          local y = ln(x)
          local gs = grad((y * g):sum(), { x, w, b })
          res[t] = { y, gs[1], gs[2], gs[3] }
        end
        for i, what in ipairs({ 'output', 'x gradient', 'weight gradient', 'bias gradient' }) do
          S.same_bits(res[1][i], res[2][i], dt .. ' ' .. what)
        end
      end
    end)
    nl.set_num_threads(saved)
    assert(ok, err)
  end)

  -- float32 rows take their moments in one pass (of x - x[0], widened to
  -- double 4 at a time, 8 lanes and a tail): against the same values in
  -- float64, rows shorter than, equal to and longer than the 8 lanes, off
  -- zero by 50 standard deviations
  it('gives float32 outputs and gradients equal to float64\'s on the same values', function()
    for _, n in ipairs({ 1, 5, 8, 37, 512 }) do
      for _, mode in ipairs({ 'affine', 'plain', 'rms' }) do
        nl.manual_seed(10 + n)
        local x = nl.randn({ 9, n }) + 50
        local w, b = nl.rand(n) + 0.5, nl.randn(n)
        local g = nl.randn({ 9, n })
        local function run(dt)
          local xs = x:to(dt):detach():requires_grad()
          local ws, bs = w:to(dt):detach():requires_grad(), b:to(dt):detach():requires_grad()
          local y, leaves
          if mode == 'rms' then
            y, leaves = F.rms_norm(xs, { n }, ws), { xs, ws }
          elseif mode == 'affine' then
            y, leaves = F.layer_norm(xs, { n }, ws, bs), { xs, ws, bs }
          else
            y, leaves = F.layer_norm(xs, { n }), { xs }
          end
          assert.are.equal('layer_norm', y:grad_fn())
          local gs = grad((y * g:to(dt)):sum(), leaves)
          return { y, table.unpack(gs) }
        end
        local got, want = run('float32'), run('float64')
        for i = 1, #want do
          S.expect_close(got[i]:double(), want[i], ('n %d %s result %d'):format(n, mode, i), 2e-4, 2e-4)
        end
      end
    end
  end)

  it('gives an empty output and zero weight and bias gradients for an empty batch', function()
    local x = nl.zeros({ 0, 4 }, 'float64'):requires_grad()
    local w, b = nl.ones(4, 'float64'):requires_grad(), nl.zeros(4, 'float64'):requires_grad()
    local y = F.layer_norm(x, { 4 }, w, b)
    assert.are.same({ 0, 4 }, y:shape())
    local gs = grad(y:sum(), { x, w, b })
    assert.are.same({ 0, 4 }, gs[1]:shape())
    S.same_bits(gs[2], nl.zeros(4, 'float64'), 'weight gradient')
    S.same_bits(gs[3], nl.zeros(4, 'float64'), 'bias gradient')
  end)

  it('normalizes by the root mean square for F.rms_norm: values, gradcheck, create_graph', function()
    local function rms(x, w, eps)
      local ms = x * x
      for i = x:dim() - 1, x:dim() do ms = ms:mean(i, true) end
      local y = x * (ms + eps):rsqrt()
      return w and y * w or y
    end
    local x, ns, w = inputs({ 5, 3, 11 }, 2, true, 9)
    local y = F.rms_norm(x, ns, w, 1e-4)
    assert.are.equal('layer_norm', y:grad_fn())
    local want = rms(x, w, 1e-4)
    S.expect_close(y, want, 'output', 1e-12, 1e-12)
    S.gradcheck(function(a, c) return F.rms_norm(a, ns, c, 1e-4) end, x, w)
    S.gradcheck(function(a) return F.rms_norm(a, ns) end, x)
    local v = { nl.randn(x:shape(), 'float64'), nl.randn(w:shape(), 'float64') }
    local function hvp(f)
      local gs = grad(cube(f(x, w)):sum(), { x, w }, { create_graph = true })
      return gs, grad((gs[1] * v[1]):sum() + (gs[2] * v[2]):sum(), { x, w })
    end
    local g1, h1 = hvp(function(a, c) return F.rms_norm(a, ns, c, 1e-4) end)
    local g2, h2 = hvp(function(a, c) return rms(a, c, 1e-4) end)
    for i = 1, 2 do
      S.expect_close(g1[i], g2[i], 'gradient ' .. i, 1e-10, 1e-10)
      S.expect_close(h1[i], h2[i], 'Hessian-vector product ' .. i, 1e-9, 1e-9)
    end
  end)

  it('keeps the composite for a weight that only broadcasts', function()
    local x = nl.randn({ 2, 3, 4 }, 'float64')
    local y = nl.nn.LayerNorm({ 3, 4 }):double()
    y.weight = nl.rand({ 1, 4 }, 'float64')
    local out = y(x)
    assert.are_not.equal('layer_norm', out:grad_fn())
    S.expect_close(out, composite(x, 2, y.weight, y.bias, 1e-5), 'output', 1e-12, 1e-12)
  end)
end)
