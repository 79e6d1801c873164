-- Second derivatives (create_graph) through the piecewise-linear
-- activations and their kin: relu, relu6, leaky_relu, hardtanh, the
-- shrinks, threshold, rrelu in eval, elu, celu, selu, hardsigmoid,
-- hardswish, abs, F.prelu and nn.PReLU (lua/nnlua/autograd_higher.lua and
-- autograd_higher_ops.lua; PReLU and threshold are C ops of
-- src/ops_rectifier.c). Values against PyTorch 1.13 golden data
-- (tests/golden/higher_order_rect.lua, made by
-- tests/golden/gen_higher_order_rect.py) at points on both sides of each
-- kink and on it: the second derivative in x alone is zeros, not unused,
-- as PyTorch's; the mixed ones of x and PReLU's weight, and those in the
-- incoming gradient. Also against float64 central differences of the
-- first-derivative function away from the kinks, and the new C kernels
-- against their definition and on two threads.
local nl = require 'nnlua'
local S = require 'support'
local F = nl.nn.functional

local golden = dofile(S.root .. '/tests/golden/higher_order_rect.lua')
local grad = nl.autograd.grad
local T = S.from_golden

-- the generator's functions, in nnlua, with the kinks of each
local FNS = {
  relu = { F.relu, { 0 } },
  relu6 = { F.relu6, { 0, 6 } },
  leaky_relu = { function(x) return F.leaky_relu(x, 0.1) end, { 0 } },
  hardtanh = { function(x) return F.hardtanh(x, -0.5, 0.7) end, { -0.5, 0.7 } },
  hardshrink = { function(x) return F.hardshrink(x, 0.5) end, { -0.5, 0.5 } },
  softshrink = { function(x) return F.softshrink(x, 0.5) end, { -0.5, 0.5 } },
  threshold = { function(x) return F.threshold(x, 0.5, -3) end, { 0.5 } },
  rrelu_eval = { function(x) return F.rrelu(x, 0.1, 0.3, false) end, { 0 } },
  elu = { function(x) return F.elu(x, 0.7) end, { 0 } },
  celu = { function(x) return F.celu(x, 0.8) end, { 0 } },
  selu = { F.selu, { 0 } },
  hardsigmoid = { F.hardsigmoid, { -3, 3 } },
  hardswish = { F.hardswish, { -3, 3 } },
  abs = { function(x) return x:abs() end, { 0 } },
  prelu_one = { F.prelu, { 0 } },
  prelu_0dim = { F.prelu, { 0 } },
  prelu_channels = { F.prelu, { 0 } },
}

-- PyTorch's celu passes its input scale 1/alpha through a float (its first
-- gradient at 0 is 1.0000000170 for alpha 0.8 where 1 is exact): within
-- 1e-7, the rest 1e-12
local function tol_of(name) return name == 'celu' and 1e-7 or 1e-12 end

local function leaves_of(c)
  local xs = {}
  for i, t in ipairs(c.inputs) do xs[i] = T(t):requires_grad() end
  return xs
end

-- g = dy/d(inputs) for grad_outputs u (with create_graph), s = sum <g_i, v_i>
local function first(c, xs, u, create_graph)
  local y = FNS[c.name][1](unpack(xs))
  local g = grad(y, xs, { grad_outputs = u, create_graph = create_graph })
  local s
  for i, gi in ipairs(g) do
    local term = (gi * T(c.v[i])):sum()
    s = s and s + term or term
  end
  return y, g, s
end

describe('second derivatives of the piecewise-linear activations against PyTorch 1.13', function()
  it('has a function for every golden case and a case for every function', function()
    local seen = {}
    for _, c in ipairs(golden.cases) do
      assert.is_not_nil(FNS[c.name], 'no function for case ' .. c.name)
      seen[c.name] = true
    end
    for name in pairs(FNS) do assert.is_true(seen[name] == true, 'no golden case for ' .. name) end
  end)

  for _, c in ipairs(golden.cases) do
    it(c.name .. ': y, its gradients, and their gradients in the inputs and the incoming gradient', function()
      local tol = tol_of(c.name)
      local xs = leaves_of(c)
      local u = T(c.u):requires_grad()
      local y, g, s = first(c, xs, u, true)
      S.expect_close(y, c.y, c.name .. ' y', 1e-15, 1e-15)
      for i = 1, #g do S.expect_close(g[i], c.g[i], c.name .. ' g' .. i, tol, tol) end
      local wrt = {}
      for i, x in ipairs(xs) do wrt[i] = x end
      wrt[#wrt + 1] = u
      -- (no allow_unused: every one is reached, zeros where PyTorch's are)
      local hv = grad(s, wrt)
      for i = 1, #wrt do
        assert.is_false(c.none[i])
        S.expect_close(hv[i], c.hv[i], c.name .. ' hv' .. i, tol, tol)
      end
    end)
  end

  -- d<g(x), v>/dx_j by central differences of the plain first gradient
  -- (h 1e-6, tolerance 1e-5), at every element 1e-3 or more from a kink;
  -- PReLU's weight and the incoming gradient u everywhere (g is linear in
  -- both)
  for _, c in ipairs(golden.cases) do
    it(c.name .. ': float64 finite differences of the first gradient', function()
      local kinks = FNS[c.name][2]
      local xs = leaves_of(c)
      local u = T(c.u):requires_grad()
      local _, _, s = first(c, xs, u, true)
      local wrt = {}
      for i, x in ipairs(xs) do wrt[i] = x end
      wrt[#wrt + 1] = u
      local hv = grad(s, wrt)
      local h, checked = 1e-6, 0
      local function s_at(k, j, dx)
        local base = {}
        for i, x in ipairs(wrt) do base[i] = x:detach():clone():reshape(-1) end
        base[k][j] = base[k][j] + dx
        local ins = {}
        for i = 1, #xs do ins[i] = base[i]:view(xs[i]:shape()):requires_grad() end
        local _, _, sv = first(c, ins, base[#wrt]:view(u:shape()), false)
        return sv:item()
      end
      for k = 1, #wrt do
        local vals, want = S.flat(wrt[k]), S.flat(hv[k])
        for j = 1, #vals do
          local near = false
          if k == 1 then for _, p in ipairs(kinks) do near = near or math.abs(vals[j] - p) < 1e-3 end end
          if not near then
            local d = (s_at(k, j, h) - s_at(k, j, -h)) / (2 * h)
            assert.is_true(S.close(d, want[j], 1e-5, 1e-5),
              ('%s: d/d(input %d)[%d]: central difference %.10g, create_graph %.10g'):format(c.name, k, j, d, want[j]))
            checked = checked + 1
          end
        end
      end
      assert.is_true(checked > 0)
    end)
  end

  it('nn.PReLU gives the per-channel golden case, its weight a parameter', function()
    local c
    for _, cc in ipairs(golden.cases) do if cc.name == 'prelu_channels' then c = cc end end
    local m = nl.nn.PReLU(3):double()
    nl.no_grad(function() m.weight:copy_(T(c.inputs[2])) end)
    local x = T(c.inputs[1]):requires_grad()
    local u = T(c.u):requires_grad()
    local gx, gw = unpack(grad(m(x), { x, m.weight }, { grad_outputs = u, create_graph = true }))
    S.expect_close(gx, c.g[1], 'gx', 1e-12, 1e-12)
    S.expect_close(gw, c.g[2], 'gw', 1e-12, 1e-12)
    local s = (gx * T(c.v[1])):sum() + (gw * T(c.v[2])):sum()
    local hv = grad(s, { x, m.weight, u })
    for i = 1, 3 do S.expect_close(hv[i], c.hv[i], 'hv' .. i, 1e-12, 1e-12) end
  end)

  it("the second derivative of relu in x alone is zeros, not unused (PyTorch's threshold_backward takes x)", function()
    local x = nl.tensor({ -2, -0.5, 0, 0.5, 2 }, 'float64'):requires_grad()
    local g = grad(F.relu(x):sum(), x, { create_graph = true })[1]
    local gg = grad((g * g):sum(), x)[1]
    assert.are.same({ 0, 0, 0, 0, 0 }, gg:totable())
    -- and of PReLU with a weight that needs no gradient, twice over
    local w = nl.tensor({ 0.25 }, 'float64')
    local g1 = grad(F.prelu(x, w):sum(), x, { create_graph = true })[1]
    local g2 = grad((g1 * g1):sum(), x, { create_graph = true })[1]
    assert.are.same({ 0, 0, 0, 0, 0 }, grad((g2 * x):sum(), x)[1]:totable())
  end)

  -- nn.Sequential's fused Linear + ReLU and Conv2d + MaxPool2d(2) + ReLU:
  -- x reaches their input gradient only through the ReLU's mask and the
  -- pool's places, so its own gradient is zeros (PyTorch's, whose relu
  -- backward takes the output), and the weights' mixed ones still flow
  it('the fused Sequential ReLUs give zeros in x alone, not unused', function()
    nl.manual_seed(3)
    local lin = nl.nn.Sequential(nl.nn.Linear(3, 5), nl.nn.ReLU()):double()
    local conv = nl.nn.Sequential(nl.nn.Conv2d(1, 2, 3, { padding = 1 }), nl.nn.MaxPool2d(2), nl.nn.ReLU()):double()
    for _, case in ipairs({ { lin, nl.randn({ 4, 3 }, 'float64') }, { conv, nl.randn({ 2, 1, 4, 4 }, 'float64') } }) do
      local m, x = case[1], case[2]:requires_grad()
      local g = grad(m(x):sum(), x, { create_graph = true })[1]
      local gg = grad((g * g):sum(), { x, m[1].weight })
      assert.are.same(x:shape(), gg[1]:shape())
      assert.are.equal(0, gg[1]:abs():sum():item())
      assert.is_true(gg[2]:abs():sum():item() > 0)
    end
  end)
end)

describe('hessian-vector products (nl.autograd.functional) against PyTorch 1.13', function()
  local AF = nl.autograd.functional
  local fns = {
    relu = F.relu,
    leaky_relu = function(x) return F.leaky_relu(x, 0.2) end,
    hardswish = F.hardswish,
    prelu = F.prelu,
    prelu_fixed_weight = function(x) return F.prelu(x, nl.tensor({ 0.25, -0.5, 2 }, 'float64')) end,
  }
  for _, c in ipairs(golden.functional) do
    for _, key in ipairs({ 'hvp_lax', 'hvp_strict', 'vhp_lax', 'vhp_strict' }) do
      it(c.name .. ' ' .. key, function()
        local ins, vs = {}, {}
        for i, t in ipairs(c.inputs) do ins[i], vs[i] = T(t), T(c.v[i]) end
        local cc = T(c.c)
        local function f(...) return (cc * fns[c.name](...)):sum() end
        local which, strict = key:match('^(%a+)_'), key:match('strict') ~= nil
        local ok, _, r = pcall(AF[which], f, ins, vs, { strict = strict })
        if c[key] == false then
          -- PyTorch's refusal: the double-backward trick's second derivative does not reach its gradient
          assert.is_false(ok)
          S.contains(tostring(_), 'is independent of entry 1')
        else
          assert.is_true(ok, tostring(_))
          for i = 1, #ins do S.expect_close(r[i], c[key][i], key .. ' ' .. i, 1e-12, 1e-12) end
        end
      end)
    end
  end
end)

describe('the PReLU and threshold kernels', function()
  -- the definitions, as where over tensor ops (PyTorch's formulas)
  local function prelu_def(x, w)
    local wb = w
    if w:numel() > 1 then
      local v = { 1, w:numel() }
      for i = 3, x:dim() do v[i] = 1 end
      wb = w:view(v)
    end
    return nl.where(x:gt(0), x, wb * x)
  end

  it('PReLU equals its definition, forward and backward, one slope or one per channel, any strides, 1 and 2 threads', function()
    local prev = nl.get_num_threads()
    for _, dt in ipairs({ 'float32', 'float64' }) do
      for _, threads in ipairs({ 1, 2 }) do
        nl.set_num_threads(threads)
        for _, shape in ipairs({ { 7 }, { 5, 3 }, { 64, 16, 48 }, { 4, 5, 3, 7 } }) do
          for _, per_channel in ipairs({ false, true }) do
            local C = #shape >= 2 and shape[2] or 1
            local x0 = nl.randn(shape, dt)
            x0 = nl.where(x0:abs():lt(0.05), 0, x0)         -- zeros too
            local w = (nl.rand({ per_channel and C or 1 }, dt) - 0.5):requires_grad()
            local x = x0:clone():requires_grad()
            local y = F.prelu(x, w)
            local gy = nl.randn(shape, dt)
            local gx, gw = unpack(grad(y, { x, w }, { grad_outputs = gy }))
            local xr, wr = x0:clone():requires_grad(), w:detach():clone():requires_grad()
            local yr = prelu_def(xr, wr)
            local gxr, gwr = unpack(grad(yr, { xr, wr }, { grad_outputs = gy }))
            local what = ('%s %s threads %d %s'):format(dt, table.concat(shape, 'x'), threads, per_channel and 'per channel' or 'one')
            S.same_bits(y, yr, what .. ' y')
            S.same_bits(gx, gxr, what .. ' gx')
            local tol = dt == 'float32' and 1e-4 or 1e-12
            S.expect_close(gw, gwr, what .. ' gw', tol, tol)
            if #shape >= 3 then                   -- a transposed (strided) input
              local xt = x0:transpose(1, 3)
              local xtr = xt:contiguous()
              local wt = w
              if per_channel then wt = (nl.rand({ xt:size(2) }, dt) - 0.5):requires_grad() end
              S.same_bits(F.prelu(xt, wt), F.prelu(xtr, wt), what .. ' strided')
            end
          end
        end
      end
    end
    nl.set_num_threads(prev)
  end)

  it('PReLU: NaN stays NaN and sends the slope NaN; inf sends it nothing; empty input', function()
    local x = nl.tensor({ 0 / 0, math.huge, -math.huge, -2 }, 'float64'):requires_grad()
    local w = nl.tensor({ 0.5 }, 'float64'):requires_grad()
    local y = F.prelu(x, w)
    local t = y:totable()
    assert.is_true(t[1] ~= t[1])
    assert.are.same({ math.huge, -math.huge, -1 }, { t[2], t[3], t[4] })
    y:sum():backward()
    assert.are.same({ 1, 0.5, 0.5 }, { x.grad:totable()[2], x.grad:totable()[3], x.grad:totable()[4] })
    local gw = w.grad:totable()[1]
    assert.is_true(gw ~= gw)
    local e = nl.zeros({ 0, 3 }):requires_grad()
    local we = nl.full({ 3 }, 0.25):requires_grad()
    F.prelu(e, we):sum():backward()
    assert.are.same({ 0, 0, 0 }, we.grad:totable())
  end)

  it('threshold equals its definition on 1 and 2 threads, int64 kept, strided input', function()
    local prev = nl.get_num_threads()
    for _, threads in ipairs({ 1, 2 }) do
      nl.set_num_threads(threads)
      for _, dt in ipairs({ 'float32', 'float64' }) do
        local x0 = nl.randn({ 40, 30, 50 }, dt)
        local x = x0:transpose(1, 3):requires_grad()
        local y = F.threshold(x, 0.3, -7)
        local gy = nl.randn(y:shape(), dt)
        local gx = grad(y, x, { grad_outputs = gy })[1]
        local xr = x0:transpose(1, 3):contiguous()
        S.same_bits(y, nl.where(xr:le(0.3), -7, xr), dt .. ' y')
        S.same_bits(gx, nl.where(xr:le(0.3), 0, gy), dt .. ' gx')
      end
    end
    nl.set_num_threads(prev)
    local xi = nl.tensor({ -3, 0, 1, 5 }, 'int64')
    local yi = F.threshold(xi, 1.7, -2.9)
    assert.are.equal('int64', yi:dtype())
    assert.are.same({ -2, -2, -2, 5 }, yi:totable())
  end)
end)

describe('the rectifiers\' gradients', function()
  -- an inf or NaN in the incoming gradient where the rule passes nothing:
  -- PyTorch's backward functions are wheres (threshold_backward, ...), so
  -- that place gets 0 under create_graph as without it (g times a 0/1 mask
  -- gave inf * 0 = NaN). sqrt after relu sends inf at each 0. The values
  -- are PyTorch 1.13's (equal with create_graph and without).
  it('take no inf or NaN of the incoming gradient where they pass none, with create_graph as without', function()
    local inf, nan = math.huge, 0 / 0
    local x0 = nl.tensor({ -4, -1, 0, 1, 4 }, 'float64')
    local u = nl.tensor({ inf, -inf, nan, inf, inf }, 'float64')
    local function same(got, want, what)
      local g = got:reshape(-1):totable()
      for i = 1, #want do
        local ok = (want[i] ~= want[i] and g[i] ~= g[i]) or g[i] == want[i]
        assert(ok, ('%s: entry %d is %s, want %s (%s)'):format(what, i, tostring(g[i]), tostring(want[i]),
          table.concat(S.flat(got), ' ')))
      end
    end
    local cases = {
      { 'relu', F.relu, { 0, 0, 0, inf, inf } },
      { 'relu6', F.relu6, { 0, 0, 0, inf, inf } },
      { 'hardtanh', function(x) return F.hardtanh(x, -0.5, 0.7) end, { 0, 0, nan, 0, 0 } },
      { 'threshold', function(x) return F.threshold(x, 0.5, 0) end, { 0, 0, 0, inf, inf } },
      { 'hardshrink', function(x) return F.hardshrink(x, 0.5) end, { inf, -inf, 0, inf, inf } },
      { 'softshrink', function(x) return F.softshrink(x, 0.5) end, { inf, -inf, 0, inf, inf } },
      { 'hardsigmoid', F.hardsigmoid, { 0, -inf, nan, inf, 0 } },
      { 'hardswish', F.hardswish, { 0, -inf, nan, inf, inf } },
      { 'clamp', function(x) return x:clamp(-2, 2) end, { 0, -inf, nan, inf, 0 } },
      { 'clamp min', function(x) return x:clamp(0.5) end, { 0, 0, 0, inf, inf } },
    }
    for _, c in ipairs(cases) do
      for _, cg in ipairs({ false, true }) do
        local x = x0:clone():requires_grad()
        same(grad(c[2](x), x, { grad_outputs = u, create_graph = cg })[1], c[3], c[1] .. (cg and ' create_graph' or ''))
      end
    end
    local x = x0:clone():requires_grad()
    same(grad(F.relu(x):sqrt():sum(), x, { create_graph = true })[1], { 0, 0, 0, 0.5, 0.25 }, 'relu then sqrt')
    -- PReLU's weight takes x g only where x <= 0 (PyTorch's prelu_backward):
    -- -4 * 1 - 1 * 2 + 0 * 3 = -6, whatever g is where x > 0
    for _, cg in ipairs({ false, true }) do
      local xp = x0:clone():requires_grad()
      local w = nl.tensor({ 0.25 }, 'float64'):requires_grad()
      local gx, gw = unpack(grad(F.prelu(xp, w), { xp, w }, { grad_outputs = nl.tensor({ 1, 2, 3, inf, nan }, 'float64'),
        create_graph = cg }))
      same(gx, { 0.25, 0.5, 0.75, inf, nan }, 'prelu x' .. (cg and ' create_graph' or ''))
      same(gw, { -6 }, 'prelu weight' .. (cg and ' create_graph' or ''))
    end
    -- the fused Sequentials: Linear + ReLU, Conv2d + MaxPool2d + ReLU
    local lin = nl.nn.Sequential(nl.nn.Linear(1, 1), nl.nn.ReLU()):double()
    nl.no_grad(function() lin[1].weight:fill_(1); lin[1].bias:fill_(0) end)
    local xl = x0:view(5, 1):clone():requires_grad()
    assert.are.equal('linear', tostring(lin(xl)):match('grad_fn=<(.-)>'))
    same(grad(lin(xl), xl, { grad_outputs = u:view(5, 1), create_graph = true })[1], { 0, 0, 0, inf, inf }, 'Linear+ReLU')
    -- (the convolution's fusion is float32's)
    local conv = nl.nn.Sequential(nl.nn.Conv2d(1, 1, 1), nl.nn.MaxPool2d(2), nl.nn.ReLU())
    nl.no_grad(function() conv[1].weight:fill_(1); conv[1].bias:fill_(0) end)
    local xc = nl.tensor({ { { { -1, -2, 3, 0 }, { -3, -4, 1, 2 } } } }):requires_grad()
    local yc = conv(xc)
    assert.are.equal('conv2d_pool', yc.grad_fn and tostring(yc):match('grad_fn=<(.-)>'))
    local gc = grad(yc, xc, { grad_outputs = nl.full({ 1, 1, 1, 2 }, inf), create_graph = true })[1]
    same(gc, { 0, 0, inf, 0, 0, 0, 0, 0 }, 'Conv2d+MaxPool2d+ReLU')
  end)
end)
