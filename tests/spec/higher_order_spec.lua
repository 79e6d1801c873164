-- Higher-order gradients: backward and nl.autograd.grad with create_graph
-- (lua/nnlua/autograd_higher.lua). Values against PyTorch 1.13 golden data
-- (tests/golden/higher_order.lua, made by tests/golden/gen_higher_order.py):
-- first gradients, Hessian-vector products, a WGAN-GP gradient penalty and
-- d2u/dx2 of a tanh MLP; Hessian-vector products also against float64
-- central differences of the first gradient; closed forms; and the
-- semantics (the graph kept, .grad accumulated with a graph, ops without a
-- rule refused by name, flat memory in a loop).
local nl = require 'nnlua'
local ffi = require 'ffi'
local S = require 'support'
local F = nl.nn.functional

local golden = dofile(S.root .. '/tests/golden/higher_order.lua')
local grad = nl.autograd.grad
local T = S.from_golden

local function expect_close(got, want, what, tol)
  tol = tol or 1e-9
  assert.are.same(want:shape(), got:shape(), what .. ': shape')
  local g, w = S.flat(got), S.flat(want)
  for i = 1, #w do
    assert.is_true(S.close(g[i], w[i], tol, tol), ('%s element %d: got %.17g, want %.17g'):format(what, i, g[i], w[i]))
  end
end

local TARGET = nl.tensor({ 3, 1, 2, 3 }, 'int64')
local function cube(t) return t * t * t end

-- the same functions as the generator's, in nnlua (1-based dims and labels)
local FNS = {
  exp = function(x) return (x:exp() * x):sum() end,
  log = function(x) return (x:log() * x):sum() end,
  sqrt = function(x) return (x:sqrt() * x):sum() end,
  sin_cos = function(x) return (x:sin() * (x * 2):cos()):sum() end,
  tanh = function(x) return (x:tanh() * x):sum() end,
  sigmoid = function(x) return (x:sigmoid() * x):sum() end,
  relu = function(x) return (x:relu() * x * x):sum() end,
  abs = function(x) return (x:abs() * x * x):sum() end,
  neg_pow = function(x) return (-x:pow(3) + x:pow(2) * 0.5):sum() end,
  pow_half = function(x) return (x:pow(0.5) + x:pow(-1.5)):sum() end,
  leaky_relu = function(x) return (F.leaky_relu(x, 0.1) * x * x):sum() end,
  elu = function(x) return (F.elu(x, 0.7) * x):sum() end,
  selu = function(x) return (F.selu(x) * x):sum() end,
  gelu = function(x) return (F.gelu(x) * x):sum() end,
  gelu_tanh = function(x) return (F.gelu(x, 'tanh') * x):sum() end,
  silu = function(x) return (F.silu(x) * x):sum() end,
  softplus = function(x) return (F.softplus(x, 2.0) * x):sum() end,
  logsigmoid = function(x) return (F.logsigmoid(x) * x):sum() end,
  softsign = function(x) return (F.softsign(x) * x):sum() end,
  broadcast = function(a, b, c) return ((a * b - c) / b + a * c - (c - b) * a * a):sum() end,
  scalars = function(a) return ((2 - a) * (a / 3) + 1.5 / a + (a + 1) * 2):sum() end,
  matmul = function(a, b) return nl.matmul(a, b):tanh():pow(2):sum() end,
  matmul_batched = function(a, b) return nl.matmul(a, b):sin():sum() end,
  matvec = function(a, b) return nl.matmul(a, b):tanh():sum() + nl.matmul(b, a:t()):sin():sum() end,
  linear = function(x, w, b) return F.linear(x, w, b):tanh():pow(2):sum() end,
  linear_relu = function(x, w, b) return cube(F.linear(x, w, b):relu()):sum() end,
  sum_mean_dims = function(x)
    return x:sum(2):pow(2):sum() + (x:mean(3, true) * x):sum() + cube(x:mean()) + cube(x:sum({ 1, 3 })):sum()
  end,
  views = function(x)
    return (x:reshape(6, 4):t():pow(2) * x:view(4, 6)):sum()
      + (x:permute(3, 1, 2) * x:transpose(1, 3):transpose(2, 3):pow(2)):sum()
      + cube(x:unsqueeze(2):expand(2, 5, 3, 4)):sum()
  end,
  index = function(x)
    return cube(x[2]):sum() + (x:narrow(1, 2, 2):pow(2) * x:narrow(1, 1, 2)):sum()
      + cube(x:index_select(1, nl.tensor({ 4, 1, 4 }, 'int64'))):sum()
  end,
  cat_stack = function(a, b)
    return cube(nl.cat({ a, b, a * b:narrow(1, 1, 2) }, 1)):sum()
      + (nl.stack({ a, b:narrow(1, 2, 2) }, 2):pow(2) * a:unsqueeze(2)):sum()
  end,
  softmax = function(x)
    return (x:softmax(2):pow(2) * x):sum() + (x:softmax(1) * nl.tensor({ 0, 1, 2, 3 }, 'float64')):sum()
  end,
  log_softmax = function(x) return x:log_softmax(2):pow(2):sum() end,
  cross_entropy = function(x) return F.cross_entropy(x:tanh(), TARGET):pow(2) end,
  cross_entropy_sum_ls = function(x)
    return F.cross_entropy(x * x, TARGET, { reduction = 'sum', label_smoothing = 0.1 })
  end,
  cross_entropy_none = function(x) return F.cross_entropy(x, TARGET, { reduction = 'none' }):pow(2):sum() end,
  nll = function(x) return F.nll_loss(x:log_softmax(2), TARGET):pow(2) end,
  mse = function(a, b) return F.mse_loss(a:tanh(), b):pow(2) + F.mse_loss(a * b, b, { reduction = 'sum' }) end,
  where_clamp_max = function(a, b)
    return nl.where(a:gt(0), a * a, cube(b)):sum() + (a:clamp(-0.5, 0.8) * a * a):sum()
      + cube(nl.maximum(a, b)):sum() + (nl.minimum(a, b) * a * b):sum()
  end,
  special = function(x)
    local u = x:clamp(-0.9, 0.9)
    return (u:tan() * u + u:asin() + u:acos() * u + u:atan() * u + u:sinh() * u:cosh() + u:asinh() * u
      + (u + 2):acosh() * u + u:atanh() * u + u:log1p() * u + u:expm1() * u + (u + 2):log2() * u
      + (u + 2):log10() * u + u:exp2() * u + u:erf() * u + u:erfc() * u):sum()
  end,
  gather_scatter = function(x, y, z)
    local idx, uniq = nl.tensor({ { 1, 3 }, { 2, 2 }, { 4, 1 } }, 'int64'), nl.tensor({ { 1, 3 }, { 2, 4 }, { 4, 1 } }, 'int64')
    return cube(x:gather(2, idx)):sum() + (x:scatter(2, uniq, y):pow(2) * x):sum()
      + cube(x:scatter_add(2, idx, y * y)):sum() + cube(x:index_add(1, nl.tensor({ 3, 1 }, 'int64'), z, 1.5)):sum()
  end,
  max_min = function(x)
    return cube(x:max(2)):sum() + (x:min(1, true) * x):sum() + cube(x:max())
  end,
  bce_cumsum = function(x)
    local y = nl.tensor({ { 0.1, 0.5, 0.9, 0.3 }, { 0.7, 0.2, 0.6, 0.4 } }, 'float64')
    local w = nl.tensor({ { 1.0, 0.5, 2.0, 1.5 }, { 0.25, 1.0, 3.0, 0.75 } }, 'float64')
    return F.binary_cross_entropy(x:sigmoid(), y, { weight = w }):pow(2)
      + F.binary_cross_entropy((x * 0.5):sigmoid(), y, { reduction = 'sum' }) + cube(x:cumsum(2)):sum()
  end,
  more_activations = function(x)
    return (F.celu(x, 0.8) * x + F.tanhshrink(x) * x + F.hardtanh(x, -0.5, 0.7) * x * x
      + (x * 3):floor() * x * x):sum()
  end,
  activations_hard = function(x)
    return (F.mish(x) * x + F.hardswish(x) * x + F.softshrink(x, 0.5) * x * x
      + cube(x) * F.hardshrink(x, 0.5)):sum()
  end,
  hardsigmoid = function(x) return (F.hardsigmoid(x) * x * x):sum() end,
  special_gamma = function(x)
    return ((x * 0.4):erfinv() * x + x:lgamma() * x + x:digamma() * x * x + x:polygamma(2) * x):sum()
  end,
  atan2_hypot_mod = function(a, b, c)
    return (nl.atan2(a, b) * a * b + nl.hypot(a, c) * b + nl.fmod(a * 3, b) * a * b
      + nl.remainder(a * 3, c) * b * a):sum()
  end,
  masked_scans = function(x)
    return cube(x:masked_select(nl.tensor({ { 1, 0, 1, 1 } }, 'int64'))):sum() + (x:cumprod(2) * x):sum()
      + x:logcumsumexp(2):pow(2):sum() + ((x * 2):logcumsumexp(1) * x):sum()
  end,
  cumprod_zero = function(x) return (x:cumprod(2):pow(2) * x):sum() + (x:cumprod(1) * x):sum() end,
  conv2d = function(x, w, b)
    return F.conv2d(x, w, b, { stride = { 2, 1 }, padding = { 1, 2 }, dilation = { 1, 2 } }):tanh():pow(2):sum()
      + (F.conv2d(x * x, w) * F.conv2d(x, w)):sum() * 0.1
  end,
  conv2d_groups = function(x, w)
    local y = F.conv2d(x, w, nil, { stride = 2, padding = 1, groups = 2 })
    return (y:sin() * y):sum()
  end,
  conv1d = function(x, w, b)
    return F.conv1d(x, w, b, { stride = 2, padding = 1, dilation = 2 }):tanh():pow(2):sum()
      + cube(F.conv1d(x, w, nil, { padding = 'same' })):sum() * 0.05
  end,
  conv_transpose = function(x, w, b, x1, w1)
    return F.conv_transpose2d(x, w, b, { stride = 2, padding = 1, output_padding = 1, dilation = { 1, 2 } })
      :tanh():pow(2):sum() + (F.conv_transpose1d(x1, w1, nil, { stride = 2, groups = 2 }):sin() * x1:sum()):sum()
  end,
  pools = function(x)
    return cube(F.max_pool2d(x, 3, { stride = 2, padding = 1 })):sum()
      + (F.max_pool2d(x, { 2, 3 }, { stride = { 2, 1 }, dilation = { 2, 1 }, ceil_mode = true }):pow(2) * 0.5):sum()
      + cube(F.avg_pool2d(x, 3, { stride = 2, padding = 1, ceil_mode = true, count_include_pad = false })):sum()
      + (F.avg_pool2d(x * x, 2, { padding = 1 }) * F.avg_pool2d(x, 2, { divisor_override = 3, padding = 1 })):sum()
      + cube(F.adaptive_avg_pool2d(x, { 3, 4 })):sum() + cube(F.adaptive_max_pool2d(x, { 2, 3 })):sum()
  end,
  max_pools3d = function(x)
    return cube(F.max_pool3d(x, 2, { stride = { 1, 2, 1 }, padding = 1 })):sum()
      + (F.adaptive_max_pool3d(x * x, { 2, 3, 2 }) * F.adaptive_max_pool3d(x, { 2, 3, 2 })):sum()
  end,
  conv3d = function(x, w, b, x2, w2)
    local o = { stride = 2, padding = { 1, 2, 0 }, groups = 2 }
    return F.conv3d(x, w, b, { stride = { 1, 2, 1 }, padding = { 1, 0, 1 }, dilation = { 1, 1, 2 } }):tanh():pow(2):sum()
      + (F.conv3d(x2, w2, nil, o):sin() * F.conv3d(x2 * x2, w2, nil, o)):sum()
  end,
  avg_pools3d = function(x)
    return cube(F.avg_pool3d(x, { 2, 3, 2 }, { stride = { 2, 1, 2 }, padding = 1, ceil_mode = true,
                                              count_include_pad = false })):sum()
      + (F.avg_pool3d(x * x, 2, { padding = { 1, 0, 1 }, divisor_override = 5 })
         * F.avg_pool3d(x, 2, { padding = { 1, 0, 1 } })):sum()
      + cube(F.adaptive_avg_pool3d(x, { 3, 2, 4 })):sum()
  end,
  interpolate = function(x, y, z)
    local I = F.interpolate
    return cube(I(x, { size = { 7, 3 }, mode = 'bilinear' })):sum()
      + (I(x, { scale_factor = 1.7, mode = 'bicubic', align_corners = true }):pow(2) * 0.5):sum()
      + (I(x * x, { size = { 3, 8 }, mode = 'bilinear', antialias = true }) * I(x, { size = { 3, 8 }, mode = 'nearest' })):sum()
      + cube(I(y, { scale_factor = 1.7, mode = 'linear' })):sum() + cube(I(y, { size = 4, mode = 'nearest-exact' })):sum()
      + cube(I(z, { size = { 5, 2, 4 }, mode = 'trilinear', align_corners = true })):sum()
  end,
  cnn = function(x, w1, b1, w2, wl)
    local h = F.max_pool2d(F.conv2d(x, w1, b1, { padding = 1 }):relu(), 2)
    h = F.adaptive_avg_pool2d(F.conv2d(h, w2):tanh(), 1):flatten(2)
    return F.cross_entropy(nl.matmul(h, wl), nl.tensor({ 2, 3 }, 'int64'))
  end,
  lstm_cell = function(x, h, c, w_ih, w_hh, b_ih, b_hh)
    local function step(xt, ht, ct) return F.lstm_cell(F.linear(xt, w_ih, b_ih) + F.linear(ht, w_hh, b_hh), ct) end
    local h1, c1 = step(x, h, c)
    local h2, c2 = step(x * 0.5, h1, c1)
    return h2:pow(2):sum() + (c2 * h1):sum()
  end,
  gru_rnn_cells = function(x, h, w_ih, w_hh, b_ih, b_hh, wr_ih, wr_hh)
    local h1 = F.gru_cell(F.linear(x, w_ih, b_ih), F.linear(h, w_hh, b_hh), h)
    local h2 = F.rnn_cell(F.linear(x, wr_ih), F.linear(h1, wr_hh))
    local h3 = F.rnn_cell(F.linear(x * 0.5, wr_ih), F.linear(h2, wr_hh), 'relu')
    return cube(h3):sum() + (h1 * h2):sum()
  end,
  lstm_layer = function(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    local m = nl.nn.LSTM(3, 4):double()
    m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0 = w_ih, w_hh, b_ih, b_hh
    local out, hc = m(x, { h0, c0 })
    return out:tanh():pow(2):sum() + cube(hc[1]):sum() + (hc[2] * hc[1]):sum()
  end,
  gru_layer_lengths = function(x, h0, w_ih, w_hh, b_ih, b_hh)
    local m = nl.nn.GRU(3, 4, { batch_first = true }):double()
    m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0 = w_ih, w_hh, b_ih, b_hh
    local out, hn = m(x, h0, { lengths = { 3, 2 } })
    return cube(out):sum() + hn:pow(2):sum()
  end,
  rnn_relu_layer = function(x, w_ih, w_hh)
    local m = nl.nn.RNN(3, 4, { nonlinearity = 'relu', bias = false }):double()
    m.weight_ih_l0, m.weight_hh_l0 = w_ih, w_hh
    local out, hn = m(x)
    return cube(out):sum() + (hn * hn):sum()
  end,
  linalg = function(a, b, m)
    local L, I = nl.linalg, nl.eye(3, 3, 'float64')
    local A = a + I * 3
    return L.inv(A):pow(2):sum() + cube(L.solve(A, b)):sum() + L.det(A):pow(2)
      + select(2, L.slogdet(A * 0.5)) * 2 + cube(L.cholesky(nl.matmul(m, m:t()) + I)):sum()
      + cube(L.solve_triangular(A, b, { upper = true })):sum()
      + L.solve_triangular(A, b * b, { upper = false, unitriangular = true }):pow(2):sum()
  end,
  linalg_batched = function(a, b)
    local L, I = nl.linalg, nl.eye(3, 3, 'float64')
    local A = a + I * 3
    return cube(L.inv(A)):sum() + cube(L.det(A)):sum() + (L.solve(A, b) * b):sum()
      + (L.cholesky(nl.matmul(a, a:transpose(2, 3)) + I):pow(2) * a):sum()
  end,
  linalg_lu = function(a, b)
    local L = nl.linalg
    local lu, piv = L.lu_factor(nl.tensor({ { 0.1, 2.0, 0.3 }, { 1.5, 0.2, -0.4 }, { 0.3, -0.6, 1.8 } }, 'float64'))
    return cube(L.lu_factor(a)):sum() + cube(L.lu_solve(lu, piv, b * b)):sum()
      + (L.lu_solve(lu, piv, b, { adjoint = true }) * b):sum()
  end,
  maml = function(w, x, y, x2, y2)
    local g = grad(F.mse_loss(nl.matmul(x, w), y), w, { create_graph = true })[1]
    return F.mse_loss(nl.matmul(x2, w - g * 0.1):tanh(), y2)
  end,
}

-- golden tolerances other than 1e-9: PyTorch 1.13's CELU derivative is
-- exp(x / alpha) off by ~1e-8 relative in float64 (its kernel's), where
-- nnlua's, plain backward's and create_graph's alike, is exp(x / alpha)
-- hardsigmoid's: its gradient's 1/6 is a float's, as PyTorch's kernel's,
-- where the golden clamp form's is exact (PyTorch 1.13 has no hardsigmoid
-- double backward)
local TOL = { more_activations = 1e-7, hardsigmoid = 1e-7 }

-- the first gradients (with a graph) and the Hessian-vector product
local function hvp(f, xs, vs)
  local y = f(unpack(xs))
  local gs = grad(y, xs, { create_graph = true })
  local s
  for i, g in ipairs(gs) do
    local t = (g * vs[i]):sum()
    s = s and s + t or t
  end
  return y, gs, grad(s, xs, { allow_unused = true })
end

describe('create_graph against PyTorch golden values', function()
  for _, c in ipairs(golden.cases) do
    it(c.name .. ': first gradients and Hessian-vector products', function()
      local f = assert(FNS[c.name], 'no nnlua function for ' .. c.name)
      local xs, vs = {}, {}
      for i, g in ipairs(c.inputs) do xs[i] = T(g):requires_grad() end
      for i, g in ipairs(c.v) do vs[i] = T(g) end
      local y, gs, hv = hvp(f, xs, vs)
      assert.is_true(S.close(y:item(), c.f, 1e-12, 1e-12), ('f: got %.17g, want %.17g'):format(y:item(), c.f))
      for i = 1, #xs do
        expect_close(gs[i], T(c.g[i]), c.name .. ' gradient ' .. i, TOL[c.name])
        assert.is_true(gs[i].is_requires_grad, c.name .. ': the gradient has a graph')
        if hv[i] then expect_close(hv[i], T(c.hv[i]), c.name .. ' Hessian-vector product ' .. i, TOL[c.name])
        else assert.are.same({}, (function()
          local nz = {}
          for _, v in ipairs(S.flat(T(c.hv[i]))) do if v ~= 0 then nz[#nz + 1] = v end end
          return nz
        end)(), c.name .. ': no second gradient reached input ' .. i) end
      end
    end)
  end

  it('covers every function it has', function()
    local names = {}
    for _, c in ipairs(golden.cases) do names[c.name] = true end
    for k in pairs(FNS) do assert.is_true(names[k], k .. ' has no golden case') end
  end)
end)

-- H v by central differences of the first gradient, (g(x + h v) - g(x - h v)) / 2h
local function numeric_hvp(f, xs, vs, h)
  h = h or 1e-6
  local function g_at(sign)
    local ys = {}
    for i, x in ipairs(xs) do ys[i] = (x:detach() + vs[i] * (sign * h)):requires_grad() end
    return grad(f(unpack(ys)), ys, { allow_unused = true })
  end
  local gp, gm = g_at(1), g_at(-1)
  local out = {}
  for i = 1, #xs do out[i] = gp[i] and (gp[i] - gm[i]) / (2 * h) or nil end
  return out
end

describe('create_graph against float64 central differences', function()
  for _, c in ipairs(golden.cases) do
    it(c.name, function()
      local xs, vs = {}, {}
      for i, g in ipairs(c.inputs) do xs[i] = T(g):requires_grad() end
      for i, g in ipairs(c.v) do vs[i] = T(g) end
      local _, _, hv = hvp(FNS[c.name], xs, vs)
      local num = numeric_hvp(FNS[c.name], xs, vs)
      for i = 1, #xs do
        if hv[i] then expect_close(hv[i], num[i], c.name .. ' input ' .. i .. ' vs differences', 1e-5) end
      end
    end)
  end
end)

describe('create_graph through functions made of covered ops, against central differences', function()
  nl.manual_seed(11)
  local ln = nl.nn.LayerNorm(5):double()
  local bn = nl.nn.BatchNorm1d(5):double()
  local mha = nl.nn.MultiheadAttention(4, 2):double()
  local y01 = nl.rand(3, 5, 'float64')
  local y2 = nl.randn(3, 5, 'float64')
  local COMPOSED = {
    layer_norm = { function(x) return cube(ln(x)):sum() end, { 3, 5 } },
    batch_norm = { function(x) return cube(bn(x)):sum() end, { 3, 5 } },
    var_logsumexp = { function(x) return x:var(2):pow(2):sum() + cube(x:logsumexp(1)):sum() end, { 3, 5 } },
    attention = { function(x) return mha(x, x, x):pow(2):sum() end, { 2, 3, 4 } },
    bce_with_logits = { function(x) return F.binary_cross_entropy_with_logits(x, y01):pow(2) end, { 3, 5 } },
    sort_values = { function(x) return cube(x:sort(2)):sum() end, { 3, 5 } },
    -- (its norms, clamped to eps, were constants to the second derivative)
    cosine_similarity = { function(x) return cube(F.cosine_similarity(x, y2) + F.cosine_similarity(y2, x * x)):sum() end,
                          { 3, 5 } },
    -- non-square LU (PyTorch 1.13's wide and tall rules) and lu_solve's
    -- gradient to LU, each side and adjoint
    lu_factor_wide = { function(x) return cube(nl.linalg.lu_factor(x)):sum() end, { 2, 3, 5 } },
    lu_factor_tall = { function(x) return cube(nl.linalg.lu_factor(x)):sum() end, { 5, 3 } },
    lu_solve_lu = { function(x)
      local L, I = nl.linalg, nl.eye(3, 3, 'float64') * 3
      local b = nl.linspace(-1, 1, 6, 'float64'):view(3, 2) * x:sum()
      local total
      for _, o in ipairs({ {}, { adjoint = true }, { left = false }, { left = false, adjoint = true } }) do
        local lu, piv = L.lu_factor(x + I)
        local t = cube(L.lu_solve(lu, piv, o.left == false and b:t() or b, o)):sum()
        total = total and total + t or t
      end
      return total
    end, { 2, 3, 3 } },
  }
  for name, c in pairs(COMPOSED) do
    it(name, function()
      local x = nl.randn(c[2], 'float64'):requires_grad()
      local v = nl.randn(c[2], 'float64')
      local _, gs, hv = hvp(c[1], { x }, { v })
      assert.is_true(gs[1].is_requires_grad)
      expect_close(hv[1], numeric_hvp(c[1], { x }, { v })[1], name .. ' vs differences', 1e-5)
    end)
  end
end)

describe('create_graph: closed forms', function()
  it('d2/dx2 x^3 = 6x, d3/dx3 = 6, through backward and grad', function()
    local x = nl.tensor({ -2, 0.5, 3 }, 'float64'):requires_grad()
    local g1 = grad(x:pow(3):sum(), x, { create_graph = true })[1]
    assert.are.same({ 12, 0.75, 27 }, g1:totable())
    local g2 = grad(g1:sum(), x, { create_graph = true })[1]
    assert.are.same({ -12, 3, 18 }, g2:totable())
    local g3 = grad(g2:sum(), x)[1]
    assert.are.same({ 6, 6, 6 }, g3:totable())
    -- the same by backward: x.grad = 3x^2 with a graph, then its own backward adds 6x into x.grad
    x.grad = nil
    cube(x):sum():backward({ create_graph = true })
    local g = x.grad
    assert.are.same({ 12, 0.75, 27 }, g:totable())
    assert.are.equal('mul', g:grad_fn() == nil and 'none' or 'mul')
    x.grad = nil
    g:sum():backward()
    assert.are.same({ -12, 3, 18 }, x.grad:totable())
  end)

  it('d2/dx2 sin(x) = -sin(x) and d2/dx2 exp(2x) = 4 exp(2x)', function()
    local x = nl.tensor({ -1, 0.25, 2 }, 'float64'):requires_grad()
    local g1 = grad(x:sin():sum() + (x * 2):exp():sum(), x, { create_graph = true })[1]
    local g2 = grad(g1:sum(), x)[1]
    local want = -x:detach():sin() + (x:detach() * 2):exp() * 4
    expect_close(g2, want, 'second derivative', 1e-12)
  end)
end)

describe('create_graph: whole tasks against PyTorch', function()
  local function mlp(x, W1, b1, W2, b2) return F.linear(F.linear(x, W1, b1):tanh(), W2, b2) end

  it('a WGAN-GP gradient penalty on an MLP, with its parameters\' gradients', function()
    local w = golden.wgan
    local ps = { T(w.W1):requires_grad(), T(w.b1):requires_grad(), T(w.W2):requires_grad(), T(w.b2):requires_grad() }
    local eps = T(w.eps)
    local x_hat = (eps * T(w.x_real) + (1 - eps) * T(w.x_fake)):requires_grad()
    local d = mlp(x_hat, unpack(ps))
    local gx = grad(d, x_hat, { grad_outputs = nl.ones_like(d), create_graph = true })[1]
    expect_close(gx, T(w.grad_x), 'dD/dx')
    local gp = ((gx:pow(2):sum(2):sqrt() - 1):pow(2)):mean() * 10
    expect_close(gp, T(w.gp), 'penalty')
    gp:backward()
    -- (the output bias b2 does not reach dD/dx: no gradient, None in PyTorch)
    assert.is_false(w.grads[4])
    assert.is_nil(ps[4].grad)
    for i = 1, 3 do expect_close(ps[i].grad, T(w.grads[i]), 'parameter ' .. i .. ' grad') end
  end)

  it('d2u/dx2 of a tanh MLP and the parameters\' gradients of mean(d2u^2) (third order)', function()
    local c = golden.pinn
    local ps = { T(c.W1):requires_grad(), T(c.b1):requires_grad(), T(c.W2):requires_grad(), T(c.b2):requires_grad() }
    local x = T(c.x):requires_grad()
    local u = mlp(x, unpack(ps))
    local du = grad(u:sum(), x, { create_graph = true })[1]
    expect_close(du, T(c.du), 'du/dx')
    local d2u = grad(du:sum(), x, { create_graph = true })[1]
    expect_close(d2u, T(c.d2u), 'd2u/dx2')
    local loss = d2u:pow(2):mean()
    expect_close(loss, T(c.loss), 'loss')
    loss:backward()
    assert.is_false(c.grads[4])            -- (b2 does not reach d2u/dx2)
    assert.is_nil(ps[4].grad)
    for i = 1, 3 do expect_close(ps[i].grad, T(c.grads[i]), 'parameter ' .. i .. ' grad') end
  end)

  it('nn.Linear modules and an optimizer step take a gradient penalty', function()
    nl.manual_seed(3)
    local D = nl.nn.Sequential(nl.nn.Linear(3, 8), nl.nn.Tanh(), nl.nn.Linear(8, 1))
    local opt = nl.optim.SGD(D:parameters(), { lr = 0.1 })
    local x = nl.randn(6, 3):requires_grad()
    local before
    for step = 1, 3 do
      opt:zero_grad()
      local d = D(x)
      local g = grad(d:sum(), x, { create_graph = true })[1]
      local gp = (g:pow(2):sum(2):sqrt() - 1):pow(2):mean()
      if step == 1 then before = gp:item() end
      gp:backward()
      opt:step()
    end
    local after = (grad(D(x):sum(), x)[1]:pow(2):sum(2):sqrt() - 1):pow(2):mean():item()
    assert.is_true(after < before, ('the penalty fell: %g -> %g'):format(before, after))
  end)
end)

describe('create_graph: semantics', function()
  it('keeps the graph (create_graph implies retain_graph), as PyTorch', function()
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local y = (x * x):sum()
    local g = grad(y, x, { create_graph = true })[1]
    -- a second pass over the same graph works, plain or not
    assert.are.same({ 2, 4 }, grad(y, x, { retain_graph = true })[1]:totable())
    y:backward({ create_graph = true })
    assert.are.same({ 2, 4 }, x.grad:totable())
    assert.are.same({ 2, 2 }, grad(g:sum(), x)[1]:totable())
  end)

  it('frees the graph when retain_graph is false, as PyTorch 1.13 (its default is create_graph)', function()
    -- PyTorch 1.13, x = [1, 2] float64: with create_graph=True,
    -- retain_graph=False a second pass over the graph, or a pass through a
    -- gradient whose graph uses a freed node (u = x * 2 saved its operand,
    -- exp its output), raises "Trying to backward through the graph a second
    -- time"; a gradient whose graph holds only leaves differentiates
    local function freed(f, op)
      S.contains(S.errmsg(f), 'the graph through ' .. op .. ' was freed by an earlier backward')
    end
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local y = (x * x):sum()
    local g = grad(y, x, { create_graph = true, retain_graph = false })[1]
    assert.are.same({ 2, 4 }, g:totable())
    freed(function() grad(y, x) end, 'sum')
    freed(function() y:backward() end, 'sum')
    g:sum():backward()                       -- d(sum 2x)/dx = 2: g's graph reaches x alone
    assert.are.same({ 2, 2 }, x.grad:totable())
    x.grad = nil
    local u = x * 2
    y = (u * u):sum()
    g = grad(y, x, { create_graph = true, retain_graph = false })[1]
    assert.are.same({ 8, 16 }, g:totable())
    freed(function() g:sum():backward() end, 'mul')
    y = x:exp():sum()
    g = grad(y, x, { create_graph = true, retain_graph = false })[1]
    freed(function() g:sum():backward() end, 'exp')
    -- backward: x.grad = 3x^2 with a graph through the freed x * x
    x.grad = nil
    y = (x * x * x):sum()
    y:backward({ create_graph = true, retain_graph = false })
    assert.are.same({ 3, 12 }, x.grad:totable())
    freed(function() y:backward() end, 'sum')
    freed(function() x.grad:sum():backward() end, 'mul')
    -- retain_graph = true, or left out, keeps it
    x.grad = nil
    y = (x * x * x):sum()
    y:backward({ create_graph = true, retain_graph = true })
    y:backward({ create_graph = true })
    y:backward()
    assert.are.same({ 9, 36 }, x.grad:totable())
  end)

  it('backward adds into .grad with a graph: a second backward sums, out of place', function()
    local x = nl.tensor({ 1, 3 }, 'float64'):requires_grad()
    local y = (x * x * x):sum()
    y:backward({ create_graph = true })
    local first = x.grad
    y:backward({ create_graph = true })
    assert.are.same({ 6, 54 }, x.grad:totable())
    assert.are.same({ 3, 27 }, first:totable(), 'the first .grad was not written')
    assert.is_true(x.grad.is_requires_grad)
    -- its graph leads back to x: d/dx sum(2 * 3x^2) = 12x
    local h = grad(x.grad:sum(), x)[1]
    assert.are.same({ 12, 36 }, h:totable())
    -- an existing plain .grad is added to
    local z = nl.tensor({ 2 }, 'float64'):requires_grad()
    z.grad = nl.tensor({ 10 }, 'float64')
    z:pow(2):sum():backward({ create_graph = true })
    assert.are.same({ 14 }, z.grad:totable())
  end)

  it('gives the gradient of an intermediate tensor, and of a root that is an input', function()
    local x = nl.tensor({ 0.5, 1.5 }, 'float64'):requires_grad()
    local h = x:exp()
    local y = (h * h):sum()
    local gs = grad(y, { h, x }, { create_graph = true })
    expect_close(gs[1], h:detach() * 2, 'dy/dh', 1e-12)
    expect_close(gs[2], (x:detach() * 2):exp() * 2, 'dy/dx', 1e-12)
    local gy = grad(y, y, { create_graph = true })[1]
    assert.are.equal(1, gy:item())
  end)

  it('float32 works too, and the gradient keeps the input\'s dtype', function()
    local x = nl.tensor({ 1, 2 }):requires_grad()
    local g = grad((x:double() * x:double() * x:double()):sum(), x, { create_graph = true })[1]
    assert.are.equal('float32', g:dtype())
    assert.are.same({ 6, 12 }, grad(g:sum(), x)[1]:totable())
  end)

  it('allow_unused and an unreached input', function()
    local x = nl.tensor({ 1 }, 'float64'):requires_grad()
    local z = nl.tensor({ 1 }, 'float64'):requires_grad()
    local y = (x * 2):sum()
    local ok, err = pcall(grad, y, { x, z }, { create_graph = true })
    assert.is_false(ok)
    S.contains(err, 'input 2 (shape [1]) was not used')
    local gs = grad(y, { x, z }, { create_graph = true, allow_unused = true })
    assert.are.same({ 2 }, gs[1]:totable())
    assert.is_nil(gs[2])
  end)

  it('ctc_loss: the plain first gradient, and Hessian-vector products against central differences', function()
    nl.manual_seed(4)
    local x0 = nl.randn(6, 3, 5, 'float64')
    local v = nl.randn(6, 3, 5, 'float64')
    -- padded targets (a repeat: no skip there; an empty one) and the same concatenated
    local padded = nl.tensor({ { 2, 3, 3 }, { 4, 2, 5 }, { 2, 2, 2 } }, 'int64')
    local concat = nl.tensor({ 2, 3, 3, 4, 2 }, 'int64')
    local il, tl = { 6, 5, 4 }, { 3, 2, 0 }
    for _, c in ipairs({ { padded, 'mean' }, { concat, 'sum' }, { padded, 'none' } }) do
      local function f(xx)
        local l = F.ctc_loss((xx * xx * 0.5 + xx):log_softmax(3), c[1], il, tl, { reduction = c[2] })
        return c[2] == 'none' and (l * l):sum() or l * l
      end
      local x = x0:clone():requires_grad()
      local y, gs, hv = hvp(f, { x }, { v })
      expect_close(gs[1], grad(f(x), x)[1], c[2] .. ': first gradient vs the plain one', 1e-10)
      expect_close(hv[1], numeric_hvp(f, { x }, { v })[1], c[2] .. ': vs differences', 1e-5)
      assert.is_true(y:item() > 0)
    end
    -- a sample no alignment fits (target longer than its input), zero_infinity: a zero gradient
    local x = x0:clone():requires_grad()
    local l = F.ctc_loss(x:log_softmax(3), padded, { 2, 5, 4 }, tl, { reduction = 'sum', zero_infinity = true })
    local g = grad(l, x, { create_graph = true })[1]
    expect_close(g, grad(F.ctc_loss(x:log_softmax(3), padded, { 2, 5, 4 }, tl,
      { reduction = 'sum', zero_infinity = true }), x)[1], 'zero_infinity first gradient', 1e-10)
    assert.are.equal(0, g:select(2, 1):abs():sum():item())
  end)

  it('whole recurrent layers: two bidirectional layers with lengths, against central differences', function()
    nl.manual_seed(2)
    for _, cls in ipairs({ 'LSTM', 'GRU', 'RNN' }) do
      local m = nl.nn[cls](3, 4, { num_layers = 2, bidirectional = true, batch_first = true }):double()
      local ps = m:parameters()
      local x = nl.randn(3, 4, 3, 'float64')
      local vs = { nl.randn(3, 4, 3, 'float64') }
      for i, p in ipairs(ps) do vs[i + 1] = nl.randn(p:shape()) end
      local function f(xx, ...)
        local ws = { ... }
        for i, p in ipairs(ps) do
          for k, v in pairs(m) do if v == p then m[k] = ws[i] end end
        end
        local out, h = m(xx, nil, { lengths = { 4, 2, 3 } })
        local hn = cls == 'LSTM' and h[1] * h[2] or h
        for i, p in ipairs(ps) do
          for k, v in pairs(m) do if v == ws[i] then m[k] = p end end
        end
        return out:tanh():pow(2):sum() + cube(hn):sum()
      end
      local xs = { x:requires_grad() }
      for i, p in ipairs(ps) do xs[i + 1] = p:detach():clone():requires_grad() end
      local _, gs, hv = hvp(f, xs, vs)
      assert.is_true(gs[1].is_requires_grad, cls .. ': the gradient has a graph')
      local num = numeric_hvp(f, xs, vs)
      for i = 1, #xs do expect_close(hv[i], num[i], cls .. ' input ' .. i .. ' vs differences', 1e-5) end
    end
  end)

  it('det and slogdet of a singular matrix are refused by name', function()
    local x = nl.tensor({ { 1, 2 }, { 2, 4 } }, 'float64'):requires_grad()
    local ok, err = pcall(grad, nl.linalg.det(x), x, { create_graph = true })
    assert.is_false(ok)
    S.contains(err, "grad with create_graph: op 'linalg_det' of a singular matrix [2,2] has no differentiable backward yet")
    assert.is_truthy(grad(nl.linalg.det(x), x)[1])     -- the plain gradient: det's adjugate
  end)

  -- their surrogates' coefficients are detached: create_graph gave wrong
  -- second derivatives, silently (svdvals(A)^2 summed is |A|_F^2, whose
  -- Hessian-vector product is 2v; it gave a dense matrix)
  it('the orthogonal decompositions refuse create_graph by name, and keep their plain gradients', function()
    local A0 = nl.tensor({ { 4, 1, 2 }, { 1, 3, 0 }, { 2, 0, 5 } }, 'float64')
    local cases = {
      { 'linalg.svd', function(A) return nl.linalg.svdvals(A):pow(2):sum() end, function(A) return A * 2 end },
      { 'linalg.svd', function(A) return A:norm('nuc') end },
      { 'linalg.svd', function(A) return nl.linalg.matrix_norm(A, 2) end },
      { 'linalg.eigvalsh', function(A) return nl.linalg.eigvalsh(A):pow(2):sum() end, function(A) return A * 2 end },
      { 'linalg.eigh', function(A) local _, V = nl.linalg.eigh(A); return V:sum() end },
      { 'linalg.qr', function(A) local _, R = nl.linalg.qr(A); return R:pow(2):sum() end, function(A) return A * 2 end },
      { 'linalg.pinv', function(A) return nl.linalg.pinv(A):sum() end },
      { 'linalg.lstsq', function(A) return nl.linalg.lstsq(A, nl.ones(3, 1, 'float64')):sum() end },
    }
    for _, c in ipairs(cases) do
      local A = A0:clone():requires_grad()
      local ok, err = pcall(grad, c[2](A), A, { create_graph = true })
      assert.is_false(ok, c[1])
      S.contains(err, c[1] .. '.backward: with create_graph: the gradients of the orthogonal decompositions')
      local ok2, err2 = pcall(function() c[2](A):backward({ create_graph = true }) end)
      assert.is_false(ok2, c[1])
      S.contains(err2, 'have no differentiable backward yet')
      local g = grad(c[2](A), A)[1]                  -- the plain gradient is the surrogate's, as before
      if c[3] then expect_close(g, c[3](A0), c[1] .. ' plain gradient', 1e-12) end
    end
  end)

  -- their rules ran a dense matmul by each dim's matrix, whose 0 * inf put
  -- NaN at every input of the plane (PyTorch's and the plain backward's
  -- NaN stays in the window)
  it('average pools, lp pools and interpolate keep a NaN of the gradient in its window, as the plain backward', function()
    local nan = 0 / 0
    local x4 = nl.arange(16):reshape(1, 1, 2, 8):double():mul(0.3):sin()
    local x5 = nl.arange(32):reshape(1, 1, 2, 2, 8):double():mul(0.3):sin()
    local function w(y) return nl.where(nl.arange(y:numel()):reshape(y:shape()):eq(y:numel() - 1), nan, 1):double() end
    local cases = {
      avg_pool2d = { x4, function(x) return F.avg_pool2d(x, 2) end },
      avg_pool2d_pad = { x4, function(x) return F.avg_pool2d(x, 3, { stride = 2, padding = 1, count_include_pad = false }) end },
      adaptive_avg_pool2d = { x4, function(x) return F.adaptive_avg_pool2d(x, { 1, 3 }) end },
      avg_pool3d = { x5, function(x) return F.avg_pool3d(x, 2) end },
      adaptive_avg_pool3d = { x5, function(x) return F.adaptive_avg_pool3d(x, { 1, 1, 3 }) end },
      bilinear = { x4, function(x) return F.interpolate(x, { size = { 1, 3 }, mode = 'bilinear' }) end },
      linear = { x4:reshape(1, 2, 8), function(x) return F.interpolate(x, { size = 3, mode = 'linear' }) end },
      trilinear = { x5, function(x) return F.interpolate(x, { size = { 1, 1, 3 }, mode = 'trilinear' }) end },
      -- the window of x^3 summing below 0 has a NaN root
      lp_pool2d = { nl.tensor({ { { { 1, 2, -3, -1 }, { 0.5, 0.2, -2, 0.1 } } } }, 'float64'),
                    function(x) return F.lp_pool2d(x, 3, 2) end },
    }
    for name, c in pairs(cases) do
      local x = c[1]:clone():requires_grad()
      local y = c[2](x)
      local wy = name == 'lp_pool2d' and nl.ones_like(y) or w(y)
      local plain = grad((y * wy):sum(), x, { retain_graph = true })[1]
      local g = grad((y * wy):sum(), x, { create_graph = true })[1]
      local pf, gf = S.flat(plain), S.flat(g)
      local finite = 0
      for i = 1, #pf do
        if pf[i] ~= pf[i] then assert.is_true(gf[i] ~= gf[i], name .. ': NaN at ' .. i)
        else
          finite = finite + 1
          assert.is_true(S.close(gf[i], pf[i], 1e-12, 1e-12), ('%s element %d: got %.17g, want %.17g'):format(name, i, gf[i], pf[i]))
        end
      end
      assert.is_true(finite > 0 and finite < #pf, name .. ': some NaN, not all')
    end
  end)

  it('a graph freed by an earlier backward, or changed in place, is refused', function()
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local y = (x:exp() * 2):sum()
    y:backward()
    local ok, err = pcall(grad, y, x, { create_graph = true })
    assert.is_false(ok)
    S.contains(err, 'was freed by an earlier backward')
    local a = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local b = a * 1
    local c = (b * b):sum()
    nl.no_grad(function() b:add_(1) end)
    ok, err = pcall(grad, c, a, { create_graph = true })
    assert.is_false(ok)
    S.contains(err, 'modified in place')
  end)

  it('checks its root and gradient as the plain backward does', function()
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local ok, err = pcall(function() (x * 2):backward({ create_graph = true }) end)
    assert.is_false(ok)
    S.contains(err, 'a gradient is needed for a non-scalar tensor of shape [2]')
    ok, err = pcall(function() (x * 2):backward(nl.ones(3, 'float64'), { create_graph = true }) end)
    assert.is_false(ok)
    S.contains(err, 'gradient of shape [3] for a tensor of shape [2]')
    ok, err = pcall(function() nl.ones(2):sum():backward({ create_graph = true }) end)
    assert.is_false(ok)
    S.contains(err, 'does not require grad')
    ok, err = pcall(grad, (x * 2), x, { create_graph = true })
    assert.is_false(ok)
    S.contains(err, 'is not a scalar')
    -- with a gradient given
    local g = grad(x * x, x, { grad_outputs = nl.tensor({ 1, 10 }, 'float64'), create_graph = true })[1]
    assert.are.same({ 2, 40 }, g:totable())
    ;(x * x):backward(nl.tensor({ 1, 10 }, 'float64'), { create_graph = true })
    assert.are.same({ 2, 40 }, x.grad:totable())
  end)

  it('runs tensor hooks and retain_grad, on gradients with a graph, as PyTorch', function()
    -- retain_grad: y.grad = 2y, x.grad = 4x^3, both with a graph
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local y = x * x
    y:retain_grad()
    ;(y * y):sum():backward({ create_graph = true })
    assert.are.same({ 2, 8 }, y.grad:totable())
    assert.are.same({ 4, 32 }, x.grad:totable())
    assert.are.same({ 4, 8 }, grad(y.grad:sum(), x)[1]:totable())
    -- a hook doubling y's gradient runs in both passes through y (torch:
    -- y.register_hook(lambda g: g * 2); grad of (y*y).sum() is 8x^3, and of
    -- its sum again 40x^2)
    local x2 = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local y2 = x2 * x2
    y2:register_hook(function(g) return g * 2 end)
    local g = grad((y2 * y2):sum(), x2, { create_graph = true })[1]
    assert.are.same({ 8, 64 }, g:totable())
    assert.are.same({ 40, 160 }, grad(g:sum(), x2)[1]:totable())
    -- a leaf's hook on the sum a backward sends it, before .grad takes it
    -- (torch: [4, 13] then [8, 26])
    local x3 = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    x3:register_hook(function(g3) return g3 + 1 end)
    x3:pow(3):sum():backward({ create_graph = true })
    assert.are.same({ 4, 13 }, x3.grad:totable())
    x3:pow(3):sum():backward({ create_graph = true })
    assert.are.same({ 8, 26 }, x3.grad:totable())
    -- a hook's bad result is refused by name
    local x4 = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local y4 = x4 * 3
    y4:register_hook(function() return nl.ones(3, 'float64') end)
    local ok, err = pcall(grad, y4:sum(), x4, { create_graph = true })
    assert.is_false(ok)
    S.contains(err, 'backward: hook 1 of a tensor of shape [2] returned a gradient of shape [3]')
  end)

  it('a loop of gradient-penalty steps holds flat memory', function()
    -- (tensors large enough that the allocator counts their bytes: a step
    -- that kept its input x_hat alive grew live memory by 2 KB)
    nl.manual_seed(5)
    local D = nl.nn.Sequential(nl.nn.Linear(32, 64), nl.nn.Tanh(), nl.nn.Linear(64, 1))
    local opt = nl.optim.SGD(D:parameters(), { lr = 1e-3 })
    local x = nl.randn(16, 32)
    local function steps(k)
      for _ = 1, k do
        opt:zero_grad()
        local xh = x:clone():requires_grad()
        local d = D(xh)
        local g = grad(d, xh, { grad_outputs = nl.ones_like(d), create_graph = true })[1]
        local loss = d:mean() + (g:pow(2):sum(2):sqrt() - 1):pow(2):mean() * 10
        loss:backward()
        opt:step()
      end
      opt:zero_grad()
      collectgarbage('collect')
      collectgarbage('collect')
      local _ = nl.zeros(1)              -- the next op releases what the collector handed over
      return nl.memory().live
    end
    local before = steps(20)
    local after = steps(300)
    assert.are.equal(before, after, ('%d bytes more live after 300 steps'):format(after - before))
  end)
end)

describe('create_graph through nn.Sequential\'s fused Conv2d, MaxPool2d(2) and ReLU', function()
  it('gives the Hessian-vector products of the three ops run one by one', function()
    -- (float32: the fused op, conv2d_pool, runs on AVX2 and AVX-512; elsewhere
    -- the three ops run in turn and this compares them with themselves)
    nl.manual_seed(3)
    local fused = false
    for _, relu_first in ipairs({ false, true }) do
      local conv = nl.nn.Conv2d(2, 3, 3, { padding = 1 })
      local mods = relu_first and { conv, nl.nn.ReLU(), nl.nn.MaxPool2d(2) } or { conv, nl.nn.MaxPool2d(2), nl.nn.ReLU() }
      local seq = nl.nn.Sequential(unpack(mods))
      local x0, v = nl.randn(2, 2, 6, 7), nl.randn(2, 2, 6, 7)
      local vw = nl.randn(conv.weight:shape())
      local c = nl.randn(2, 3, 3, 3)        -- (a gradient where the ReLU is shut)
      local function hvp_of(run)
        local x = x0:clone():requires_grad()
        local y = run(x)
        local gs = grad((y * c):sum() + y:pow(3):sum(), { x, conv.weight, conv.bias }, { create_graph = true })
        local s = (gs[1] * v):sum() + (gs[2] * vw):sum() + gs[3]:sum()
        return y, grad(s, { x, conv.weight, conv.bias })
      end
      local ya, ha = hvp_of(function(x) return seq(x) end)
      local yb, hb = hvp_of(function(x)
        return F.max_pool2d(F.conv2d(x, conv.weight, conv.bias, { padding = 1 }), 2):relu()
      end)
      fused = fused or ya:grad_fn() == 'conv2d_pool'
      expect_close(ya, yb, 'output', 1e-6)
      for i = 1, 3 do expect_close(ha[i], hb[i], 'Hessian-vector product ' .. i, 1e-4) end
    end
    local f = io.open('/proc/cpuinfo')
    local info = f and f:read('*a') or ''
    if f then f:close() end
    if os.getenv('NNLUA_CPU_CAPABILITY') ~= 'default' and info:match('%savx2%s') and info:match('%sfma%s') then
      assert.is_true(fused, 'the fused op ran')
    end
  end)
end)
