-- nn.utils.parametrize (register_parametrization, remove_parametrizations,
-- is_parametrized, cached, type_before_parametrizations) and
-- nn.utils.parametrizations (orthogonal, spectral_norm). Golden:
-- tests/golden/parametrize.lua (tests/golden/gen_parametrize.py, PyTorch
-- 1.13): the weight right after registration, then, from PyTorch's state
-- dict (its names), the weight, the output and the gradients w.r.t. the
-- originals and the bias, and spectral_norm's _u and _v after a training
-- call; custom parametrizations chained, one whose right_inverse gives two
-- tensors, and assignment through right_inverse. Closed forms: W^T W = I,
-- float64 finite differences; save/load, clone, removal, cached; errors.
local nl = require 'nnlua'
local S = require 'support'

local nn = nl.nn
local G = dofile(S.root .. '/tests/golden/parametrize.lua')
local P = nn.utils.parametrize
local PZ = nn.utils.parametrizations

local Symmetric = nn.Module:extend('SpecSymmetric')
function Symmetric:forward(X) return X:triu() + X:triu(1):t() end
function Symmetric:right_inverse(A) return A:triu() end
local Scale = nn.Module:extend('SpecScale')
function Scale:forward(X) return X * 2 end
function Scale:right_inverse(X) return X / 2 end
local SumOfTwo = nn.Module:extend('SpecSumOfTwo')
function SumOfTwo:forward(A, B) return A + B end
function SumOfTwo:right_inverse(X) return { X, nl.zeros_like(X) } end

local function same_names(m, list, what)
  local want = {}
  for i, e in ipairs(list) do want[i] = e.name end
  local got = m:state_names()
  table.sort(want)
  table.sort(got)
  assert.are.same(want, got, what .. ': state dict names')
end

-- out = m(x), the gradients of sum(out * w), against the golden ones
local function check_run(m, c, tol, what)
  local out = m(S.from_golden(c.x))
  S.expect_golden(out, c.out, what .. ' out', tol)
  local loss = (out * S.from_golden(c.w)):sum()
  loss:backward()
  local params = {}
  for _, kv in ipairs(m:named_parameters()) do params[kv[1]] = kv[2] end
  for _, g in ipairs(c.grads) do
    assert.is_true(params[g.name] ~= nil, what .. ': no parameter ' .. g.name)
    S.expect_golden(params[g.name].grad, g.t, what .. ' grad ' .. g.name, tol)
  end
end

local function check_state(m, list, tol, what)
  local sd = m:state_dict()
  for _, e in ipairs(list) do S.expect_golden(sd[e.name], e.t, what .. ' ' .. e.name, tol) end
end

local function set(t, v) nl.no_grad(function() t:copy_(v) end) end

describe('nn.utils.parametrizations.orthogonal', function()
  for _, c in ipairs(G.orthogonal) do
    it("matches PyTorch 1.13's: " .. c.name, function()
      local m = nn.Linear(c.in_features, c.out_features)
      set(m.weight, S.from_golden(c.w0))
      PZ.orthogonal(m, { orthogonal_map = c.map })
      -- the weight is w0 orthogonalized (its QR's Q, R's diagonal >= 0)
      S.expect_golden(m.weight, c.init, c.name .. ' init', { 1e-4, 2e-6 })
      -- orthonormal columns (rows when wide)
      local function check_orthonormal(what)
        local W = m.weight:detach():double()
        local WtW = W:size(1) >= W:size(2) and nl.matmul(W:t(), W) or nl.matmul(W, W:t())
        S.expect_close(WtW, nl.eye(WtW:size(1), WtW:size(1), 'float64'), c.name .. ' WtW ' .. what, 0, 2e-6)
      end
      check_orthonormal('init')
      same_names(m, c.state, c.name)
      m:load_state_dict(S.golden_sd(c.state))
      S.expect_golden(m.weight, c.weight, c.name .. ' weight', { 1e-4, 2e-6 })
      check_run(m, c, { 1e-4, 1e-5 }, c.name)
      -- (householder's weight is orthogonal only while the original's
      -- diagonal truncates to +-1, as PyTorch's)
      if m.parametrizations.weight[1].orthogonal_map ~= 'householder' then check_orthonormal('loaded') end
    end)
  end

  it('stays orthogonal while an optimizer trains the original, in float64 too', function()
    nl.manual_seed(3)
    local m = PZ.orthogonal(nn.Linear(4, 4):double(), { orthogonal_map = 'cayley' })
    assert.are.equal('float64', m.parametrizations.weight.original:dtype())
    local opt = nl.optim.SGD(m:parameters(), { lr = 0.1 })
    local x, y = nl.randn({ 8, 4 }, 'float64'), nl.randn({ 8, 4 }, 'float64')
    local first
    for i = 1, 20 do
      opt:zero_grad()
      local loss = nn.functional.mse_loss(m(x), y)
      loss:backward()
      opt:step()
      first = first or loss:item()
      if i == 20 then assert.is_true(loss:item() < first) end
    end
    local W = m.weight:detach()
    S.expect_close(nl.matmul(W:t(), W), nl.eye(4, 4, 'float64'), 'WtW', 0, 1e-12)
    -- a conversion after registration converts the original and the base
    local f = PZ.orthogonal(nn.Linear(3, 3)):double()
    assert.are.equal('float64', f.weight:dtype())
  end)

  it('has the gradients of float64 finite differences, each map', function()
    for _, map in ipairs({ 'matrix_exp', 'cayley', 'householder' }) do
      for _, shape in ipairs({ { 3, 3 }, { 4, 2 }, { 2, 4 } }) do
        nl.manual_seed(7)
        local m = nn.Linear(shape[2], shape[1]):double()
        PZ.orthogonal(m, { orthogonal_map = map })
        local pl = m.parametrizations.weight
        local x0 = nl.randn(shape, 'float64') * 0.4
        S.gradcheck(function(x) return pl[1](x) end, x0)
      end
    end
  end)

  it('refuses what it does not support, clearly', function()
    S.contains(S.errmsg(PZ.orthogonal, nn.Linear(3, 3), { orthogonal_map = 'qr' }),
      "orthogonal_map must be 'matrix_exp', 'cayley' or 'householder', got 'qr'")
    S.contains(S.errmsg(PZ.orthogonal, nn.Linear(3, 3), { use_trivialization = false }),
      'use_trivialization = false is not supported')
    S.contains(S.errmsg(PZ.orthogonal, nn.Linear(3, 3), 'bias'), 'expected a matrix, got a tensor of 1 dims')
    S.contains(S.errmsg(PZ.orthogonal, nn.Conv2d(2, 2, 3)), 'batches of matrices (more than 2 dims) are not supported')
    S.contains(S.errmsg(PZ.orthogonal, nn.Linear(3, 3), 'kernel'), "Linear has no parameter or buffer named 'kernel'")
    S.contains(S.errmsg(PZ.orthogonal, 'm'), 'orthogonal: expected a module')
    local m = PZ.orthogonal(nn.Linear(3, 3))
    S.contains(S.errmsg(function() m.weight = nl.zeros(2, 3) end), 'expected a matrix of shape [3,3], got [2,3]')
  end)
end)

describe('nn.utils.parametrizations.spectral_norm', function()
  local build = {
    Linear = nn.Linear,
    Conv2d = function(a, b) return nn.Conv2d(a, b, 3) end,
    ConvTranspose2d = function(a, b) return nn.ConvTranspose2d(a, b, 3) end,
  }
  for _, c in ipairs(G.spectral) do
    it("matches PyTorch 1.13's: " .. c.name, function()
      local m = build[c.kind](c.a, c.b)
      PZ.spectral_norm(m, c.opts)
      same_names(m, c.state, c.name)
      m:load_state_dict(S.golden_sd(c.state))
      m:train()
      check_run(m, c, { 1e-5, 1e-6 }, c.name)
      -- the power iteration's vectors after one training call
      check_state(m, c.after, { 1e-5, 1e-6 }, c.name .. ' after')
      m:eval()
      local out = nl.no_grad(function() return m(S.from_golden(c.x)) end)
      S.expect_golden(out, c.out_eval, c.name .. ' eval out', { 1e-5, 1e-6 })
      S.expect_golden(m[c.opts.name or 'weight'], c.weight_eval, c.name .. ' eval weight', { 1e-5, 1e-6 })
    end)
  end

  it('makes the largest singular value 1 (closed form)', function()
    nl.manual_seed(5)
    local m = PZ.spectral_norm(nn.Linear(6, 4):double(), { n_power_iterations = 50 })
    local top = nl.linalg.svdvals(m.weight:detach()):max():item()
    assert.is_true(math.abs(top - 1) < 1e-8, tostring(top))
  end)

  it("takes dim 2 for a subclass of ConvTranspose too, as PyTorch's isinstance", function()
    local MyCT = nn.ConvTranspose2d:extend('PzSpecMyCT')
    nl.manual_seed(6)
    local m = PZ.spectral_norm(MyCT(2, 3, 3):double(), { n_power_iterations = 50 })
    assert.are.same({ 3 }, m.parametrizations.weight[1]._u:shape())
    -- the weight as a matrix over its output channels (dim 2) has the largest singular value 1
    local w = m.weight:detach():transpose(1, 2):reshape(3, -1)
    local top = nl.linalg.svdvals(w):max():item()
    assert.is_true(math.abs(top - 1) < 1e-8, tostring(top))
  end)

  it('refuses bad options', function()
    S.contains(S.errmsg(PZ.spectral_norm, nn.Linear(3, 3), { n_power_iterations = 0 }),
      'n_power_iterations must be a whole number in 1..10000, got 0')
    S.contains(S.errmsg(PZ.spectral_norm, nn.Linear(3, 3), { eps = 0 }), 'eps must be a number > 0')
    S.contains(S.errmsg(PZ.spectral_norm, nn.Linear(3, 3), { dim = 3 }), 'dim must be a dim of the weight [3,3]')
    S.contains(S.errmsg(PZ.spectral_norm, nn.Linear(3, 3), { power = 3 }), "unknown option 'power'")
  end)

  it('_SpectralNorm without a dtype makes float32 unit vectors', function()
    -- (randn({h}, nil) read the nil as a size: 'randn: expected integer sizes, got table')
    local sn = nn._SpectralNorm({ 4, 3, 2 }, 1, 2, 1e-12)
    assert.are.same({ 3 }, sn._u:shape())
    assert.are.same({ 8 }, sn._v:shape())
    assert.are.equal('float32', sn._u:dtype())
    assert.is_true(math.abs(sn._u:norm():item() - 1) < 1e-6 and math.abs(sn._v:norm():item() - 1) < 1e-6)
  end)
end)

describe('nn.utils.parametrize', function()
  it('chains parametrizations on one tensor as PyTorch 1.13', function()
    local c = G.custom[1]
    local m = nn.Linear(4, 4)
    set(m.weight, S.from_golden(c.w0))
    local w = m.weight
    P.register_parametrization(m, 'weight', Symmetric())
    P.register_parametrization(m, 'weight', Scale())
    assert.are.equal(2, #m.parametrizations.weight)
    -- the original is the weight tensor itself (an optimizer holding it stays right)
    assert.are.equal(w, m.parametrizations.weight.original)
    S.expect_golden(m.weight, c.init, 'init', { 1e-6, 1e-7 })
    same_names(m, c.state, 'chain')
    local sd = S.golden_sd(c.state)
    S.same_bits(m.parametrizations.weight.original, sd['parametrizations.weight.original'], 'original')
    m:load_state_dict(sd)
    check_run(m, c, { 1e-5, 1e-6 }, 'chain')
    -- assignment goes through Scale's, then Symmetric's right_inverse
    m.weight = S.from_golden(c.value)
    check_state(m, c.assigned, { 1e-6, 1e-7 }, 'assigned')
    S.expect_golden(m.weight, c.weight_assigned, 'weight assigned', { 1e-6, 1e-7 })
  end)

  it('keeps original0, original1 where right_inverse gives two tensors', function()
    local c = G.custom[2]
    local m = nn.Linear(3, 2)
    set(m.weight, S.from_golden(c.w0))
    P.register_parametrization(m, 'weight', SumOfTwo())
    S.same_bits(m.weight, S.from_golden(c.w0), 'init')
    same_names(m, c.state, 'two')
    m:load_state_dict(S.golden_sd(c.state))
    check_run(m, c, { 1e-5, 1e-6 }, 'two')
    m.weight = S.from_golden(c.value)
    check_state(m, c.assigned, { 1e-6, 1e-7 }, 'assigned')
    S.contains(S.errmsg(P.remove_parametrizations, m, 'weight', false), 'cannot leave weight unparametrized')
    local v = m.weight:detach():clone()
    P.remove_parametrizations(m, 'weight')
    S.same_bits(m.weight, v, 'removed')
    assert.is_true(m.weight.is_requires_grad)
  end)

  it('removes a parametrization, leaving the value or the original', function()
    local m = PZ.orthogonal(nn.Linear(3, 4))
    local v = m.weight:detach():clone()
    local orig = m.parametrizations.weight.original
    assert.are.equal(nn.Linear, P.type_before_parametrizations(m))
    P.remove_parametrizations(m, 'weight')
    assert.is_false(P.is_parametrized(m))
    S.same_bits(m.weight, v, 'left parametrized')
    assert.are.equal(orig, m.weight)
    assert.are.same({ 'bias', 'weight' }, S.names_of(m:named_parameters()))
    assert.is_nil(rawget(m, 'parametrizations'))
    assert.are.equal(nn.Linear._mt, getmetatable(m))
    local m2 = PZ.orthogonal(nn.Linear(3, 3))
    local o2 = m2.parametrizations.weight.original:detach():clone()
    P.remove_parametrizations(m2, 'weight', { leave_parametrized = false })
    S.same_bits(m2.weight, o2, 'original kept')
  end)

  it('parametrizes a buffer too, and several tensors of one module', function()
    local bn = nn.BatchNorm1d(3)
    P.register_parametrization(bn, 'running_var', Scale())
    assert.is_true(P.is_parametrized(bn, 'running_var'))
    assert.is_false(P.is_parametrized(bn, 'weight'))
    P.register_parametrization(bn, 'weight', Scale())
    -- the originals are the tensors through right_inverse: 2 * (1 / 2)
    S.same_bits(bn.weight, nl.ones(3), 'weight')
    S.same_bits(bn.parametrizations.weight.original, nl.full({ 3 }, 0.5), 'weight original')
    S.same_bits(bn.parametrizations.running_var.original, nl.full({ 3 }, 0.5), 'running_var original')
    local names = bn:state_names()
    table.sort(names)
    assert.are.same({ 'bias', 'num_batches_tracked', 'parametrizations.running_var.original',
                      'parametrizations.weight.original', 'running_mean' }, names)
    P.remove_parametrizations(bn, 'running_var')
    assert.is_true(P.is_parametrized(bn))
    assert.is_true(bn._buffers.running_var ~= nil)
  end)

  it('computes once inside cached', function()
    local Count = nn.Module:extend('SpecCount')
    local calls = 0
    function Count:forward(X)
      calls = calls + 1
      return X * 1
    end
    local m = P.register_parametrization(nn.Linear(2, 2), 'weight', Count(), true)
    calls = 0
    local _ = m.weight, m.weight
    assert.are.equal(2, calls)
    calls = 0
    local a, b = P.cached(function() return m.weight, m.weight end)
    assert.are.equal(1, calls)
    assert.are.equal(a, b)
    local _ = m.weight
    assert.are.equal(2, calls)
  end)

  it('loads on first use of nn.utils.parametrize in a fresh process', function()
    local out = S.run_luajit([[
      io.write(tostring(package.loaded['nnlua.nn.parametrize'] ~= nil), ' ')
      io.write(type(nl.nn.utils.parametrize.register_parametrization), ' ', type(nl.nn.utils.parametrizations.orthogonal))
    ]])
    S.contains(out, 'false function function')
  end)

  it('moves through save, nn.load and clone', function()
    nl.manual_seed(11)
    local m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4))
    PZ.orthogonal(m[1])
    PZ.spectral_norm(m[3])
    P.register_parametrization(m[3], 'weight', Scale())
    local x = nl.randn(2, 3)
    m:eval()
    local want = m(x)
    local path = S.tmpdir() .. '/p.safetensors'
    m:save(path)
    local back = nn.load(path)
    back:eval()
    S.same_bits(back(x), want, 'nn.load')
    assert.is_true(P.is_parametrized(back[1], 'weight'))
    assert.are.equal(2, #back[3].parametrizations.weight)
    local c = m:clone()
    c:eval()
    S.same_bits(c(x), want, 'clone')
  end)

  it('refuses bad registrations', function()
    local m = nn.Linear(3, 3)
    S.contains(S.errmsg(P.register_parametrization, m, 'kernel', Scale()),
      "Linear has no parameter, buffer or parametrized tensor named 'kernel'")
    S.contains(S.errmsg(P.register_parametrization, m, 'weight', function(x) return x end),
      'the parametrization must be a module')
    local Shrink = nn.Module:extend('SpecShrink')
    function Shrink:forward(X) return X:narrow(1, 1, 2) end
    S.contains(S.errmsg(P.register_parametrization, m, 'weight', Shrink()),
      'changed the shape from [3,3] to [2,3] (only with unsafe = true)')
    local Dbl = nn.Module:extend('SpecDbl')
    function Dbl:forward(X) return X:double() end
    S.contains(S.errmsg(P.register_parametrization, m, 'weight', Dbl()), 'changed the dtype from float32 to float64')
    P.register_parametrization(m, 'weight', Shrink(), { unsafe = true })
    assert.are.same({ 2, 3 }, m.weight:shape())
    S.contains(S.errmsg(function() m.weight = nl.zeros(2, 3) end), 'parametrization 1 (SpecShrink) does not implement right_inverse')
    S.contains(S.errmsg(P.register_parametrization, m, 'weight', Scale(), 'x'), 'expected a boolean unsafe')
    S.contains(S.errmsg(P.remove_parametrizations, nn.Linear(2, 2), 'weight'), "Linear has no parametrization on 'weight'")
    S.contains(S.errmsg(P.cached, 5), 'cached: expected a function')
  end)
end)
