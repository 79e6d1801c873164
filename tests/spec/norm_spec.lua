-- Normalization and embedding-bag layers and the vector functions beside
-- them, three ways (STYLE 12): against PyTorch golden values in float32 and
-- float64 (tests/golden/norm.lua, made by tests/golden/gen_norm.py; inputs
-- also as non-contiguous views), float64 finite-difference gradchecks, and
-- closed forms; then the errors a misuse gets, each naming the layer and
-- the shapes.
-- Tolerance against PyTorch: |got - want| <= RTOL * |want| + ATOL
-- elementwise, float32 RTOL 1e-5, ATOL 1e-5 (an input gradient of a
-- normalization is a difference of terms of size ~1, whose float32
-- rounding is ~1e-6); float64 RTOL 1e-10, ATOL 1e-12.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local TOL = { float32 = { 1e-5, 1e-5 }, float64 = { 1e-10, 1e-12 } }

local golden = dofile(S.root .. '/tests/golden/norm.lua')
local from_golden = S.from_golden

local has = S.contains

-- golden kind -> the nnlua module or function (a = args, o = opts)
local build = {
  GroupNorm = function(a, o) return nn.GroupNorm(a[1], a[2], o) end,
  InstanceNorm1d = function(a, o) return nn.InstanceNorm1d(a[1], o) end,
  InstanceNorm2d = function(a, o) return nn.InstanceNorm2d(a[1], o) end,
  InstanceNorm3d = function(a, o) return nn.InstanceNorm3d(a[1], o) end,
  BatchNorm3d = function(a, o) return nn.BatchNorm3d(a[1], o) end,
  EmbeddingBag = function(a, o) return nn.EmbeddingBag(a[1], a[2], o) end,
  Unflatten = function(a) return nn.Unflatten(a[1], a[2]) end,
  normalize = function(_, o) return function(x) return nn.functional.normalize(x, o) end end,
  CosineSimilarity = function(_, o) return nn.CosineSimilarity(o) end,
  cosine_similarity = function(_, o) return function(a, b) return nn.functional.cosine_similarity(a, b, o) end end,
  PairwiseDistance = function(_, o) return nn.PairwiseDistance(o) end,
}
-- the lazy instance norms, made real by a first call on an input of the
-- golden shape (a[1]); the golden state is set after
for _, d in ipairs({ '1d', '2d', '3d' }) do
  build['LazyInstanceNorm' .. d] = function(a, o)
    local m = nn['LazyInstanceNorm' .. d](o)
    nl.no_grad(function() m(nl.zeros(a[1])) end)
    return m
  end
end

local names_of = S.names_of

-- case c's module with PyTorch's state in c's dtype and mode (a function
-- for the functional kinds)
local function make(c)
  local m = build[c.kind](c.args, c.opts)
  if type(m) == 'function' then return m end
  return S.golden_state(m, c)
end

-- the leaves (stored tensors, float ones requiring grad: no input of
-- these cases has an `after`) and the arguments the layer gets (their
-- permuted views)
local inputs_of = S.golden_inputs

describe('normalization and embedding-bag layers against PyTorch golden values', function()
  it('has a builder for every golden kind and a golden case for every builder', function()
    S.check_kinds_cover(golden, build)
  end)

  for _, c in ipairs(golden) do
    local close = S.case_close(c, TOL)

    it(c.name .. ': forward, backward and buffers (' .. c.mode .. ' mode, ' .. c.dtype .. ')', function()
      local m = make(c)
      if type(m) ~= 'function' then
        assert.are.same(c.params, names_of(m:named_parameters()))
      end
      local leaves, args = inputs_of(c)
      local out = m(unpack(args, 1, c.n_inputs))
      assert.are.equal(c.dtype, out:dtype())
      close(out, c.out, 'out')
      ;(out * from_golden(c.w)):sum():backward()
      for i = 1, c.n_inputs do
        local g = c.inputs[i]
        if g and g.grad then
          assert.is_not_nil(leaves[i].grad, c.name .. ': input ' .. i .. ' has no grad')
          close(leaves[i].grad, g.grad, 'grad of input ' .. i)
        end
      end
      for _, g in ipairs(c.grads) do
        local p = m[g.name]
        assert.is_not_nil(p.grad, c.name .. ': ' .. g.name .. ' has no grad')
        close(p.grad, g.t, 'grad of ' .. g.name)
      end
      for _, s in ipairs(c.after or {}) do close(m[s.name], s.t, s.name .. ' after the step') end
      if c.mode == 'eval' then
        for _, s in ipairs(c.state) do close(m[s.name], s.t, s.name .. ' (unchanged in eval)') end
      end
    end)
  end
end)

-- float64 finite differences (h 1e-6, nnlua's gradcheck tolerances)
local function gradcheck(f, inputs)
  local ok, msg = nl.gradcheck(f, inputs)
  assert.is_true(ok, msg)
end

local function rand64(shape, seed)
  local r = S.rng(seed)
  return nl.tensor(S.nested(shape, function() return r(-2, 2) end), 'float64')
end

-- ---- GroupNorm ------------------------------------------------------------------

describe('nn.GroupNorm', function()
  it('gives each (sample, group) mean 0 and variance 1 before the affine step, in training and eval', function()
    local m = nn.GroupNorm(3, 6, { affine = false }):double()
    local x = rand64({ 2, 6, 4 }, 1) * 3 + 1
    for _, mode in ipairs({ 'train', 'eval' }) do
      m[mode](m)
      local y = m(x):reshape(2, 3, 8)
      S.expect_close(y:mean(3), nl.zeros(2, 3):double(), mode .. ' group means', 0, 1e-12)
      -- biased variance var / (var + eps) of the groups' own variances
      local v = x:reshape(2, 3, 8):var(3, { unbiased = false })
      S.expect_close(y:var(3, { unbiased = false }), v / (v + 1e-5), mode .. ' group variances', 1e-12, 0)
    end
  end)

  it('passes float64 gradchecks for input, weight and bias, also on a transposed input', function()
    local m = nn.GroupNorm(2, 4):double()
    nl.no_grad(function()
      m.weight:copy_(rand64({ 4 }, 2))
      m.bias:copy_(rand64({ 4 }, 3))
    end)
    local x = rand64({ 3, 4, 5 }, 4):requires_grad()
    gradcheck(function(xx) return m(xx) end, { x })
    local w, b = m.weight:detach():requires_grad(), m.bias:detach():requires_grad()
    m.weight, m.bias = w, b
    gradcheck(function(ww, bb) m.weight, m.bias = ww, bb return m(x:detach()) end, { w, b })
    local xt = rand64({ 5, 4, 2 }, 5):requires_grad()
    gradcheck(function(xx) return m(xx:transpose(1, 3)) end, { xt })
  end)

  it('takes an empty batch', function()
    local y = nn.GroupNorm(2, 4)(nl.zeros(0, 4, 3))
    assert.are.same({ 0, 4, 3 }, y:shape())
  end)

  it('names itself and the shapes when misused', function()
    local e = S.errmsg(nn.GroupNorm, 4, 6)
    has(e, 'GroupNorm'); has(e, 'num_channels (6) must be divisible by num_groups (4)')
    e = S.errmsg(nn.GroupNorm(2, 6), nl.zeros(2, 4, 3))
    has(e, 'GroupNorm'); has(e, '(N, 6, *)'); has(e, '[2,4,3]')
    e = S.errmsg(nn.GroupNorm(2, 6), nl.zeros(6))
    has(e, 'GroupNorm'); has(e, '[6]')
    has(S.errmsg(nn.GroupNorm, 0, 6), 'GroupNorm')
    has(S.errmsg(nn.GroupNorm, 2, 6, { momentum = 0.1 }), "GroupNorm: unknown option 'momentum'")
    has(S.errmsg(nn.GroupNorm, 2, 6, { eps = 'x' }), 'GroupNorm: expected a number eps')
    has(S.errmsg(nn.GroupNorm(2, 6), nl.zeros(2, 6):double()), 'GroupNorm: input of dtype float64')
    has(S.errmsg(nn.GroupNorm(2, 6), nl.zeros({ 2, 6 }, 'int64')), 'GroupNorm')
  end)

  it('prints, saves and clones as PyTorch names it', function()
    local m = nn.GroupNorm(2, 6, { eps = 1e-3, affine = false })
    has(tostring(m), 'GroupNorm(2, 6, eps=0.001, affine=false)')
    assert.are.same({}, m:parameters())
    local c = nn.GroupNorm(3, 6):clone()
    assert.are.same({ 'weight', 'bias' }, names_of(c:named_parameters()))
  end)
end)

-- ---- InstanceNorm1d / InstanceNorm2d ------------------------------------------

describe('nn.InstanceNorm1d and nn.InstanceNorm2d', function()
  it("take PyTorch's defaults: no affine, no running statistics", function()
    for _, name in ipairs({ 'InstanceNorm1d', 'InstanceNorm2d' }) do
      local m = nn[name](3)
      assert.are.same({}, m:parameters())
      assert.are.same({}, m:state_dict())
      has(tostring(m), name .. '(3, eps=1e-05, momentum=0.1, affine=false, track_running_stats=false)')
      local t = nn[name](3, { affine = true, track_running_stats = true })
      assert.are.same({ 'weight', 'bias' }, names_of(t:named_parameters()))
      local keys = {}
      for k in pairs(t:state_dict()) do keys[#keys + 1] = k end
      table.sort(keys)
      assert.are.same({ 'bias', 'num_batches_tracked', 'running_mean', 'running_var', 'weight' }, keys)
    end
  end)

  it('are GroupNorm with a group per channel, batched or not', function()
    local x = rand64({ 2, 3, 4, 5 }, 6)
    local g = nn.GroupNorm(3, 3, { affine = false }):double()
    S.expect_close(nn.InstanceNorm2d(3):double()(x), g(x), 'InstanceNorm2d', 1e-14, 1e-14)
    S.expect_close(nn.InstanceNorm1d(3):double()(x:reshape(2, 3, 20)), g(x):reshape(2, 3, 20), 'InstanceNorm1d', 1e-14, 1e-14)
    -- unbatched (C, H, W) is the one sample of (1, C, H, W)
    S.expect_close(nn.InstanceNorm2d(3):double()(x:select(1, 2)), g(x):select(1, 2), 'unbatched', 1e-14, 1e-14)
  end)

  it('keep num_batches_tracked at 0, as PyTorch does, and leave running statistics alone in eval', function()
    local m = nn.InstanceNorm1d(2, { track_running_stats = true })
    m(nl.randn(3, 2, 4))
    assert.are.equal(0, m.num_batches_tracked:item())
    local rm = S.flat(m.running_mean)
    assert.are_not.same({ 0, 0 }, rm)
    m:eval()
    m(nl.randn(3, 2, 4))
    assert.are.same(rm, S.flat(m.running_mean))
  end)

  it('pass float64 gradchecks in training and in eval with running statistics', function()
    local m = nn.InstanceNorm2d(2, { affine = true, track_running_stats = true }):double()
    nl.no_grad(function()
      m.weight:copy_(rand64({ 2 }, 7))
      m.bias:copy_(rand64({ 2 }, 8))
      m.running_var:copy_(rand64({ 2 }, 9):abs() + 0.5)
    end)
    local x = rand64({ 2, 3, 3, 2 }, 10):requires_grad()
    gradcheck(function(xx) return m(xx:permute(1, 4, 2, 3)) end, { x })
    m:eval()
    gradcheck(function(xx) return m(xx:permute(1, 4, 2, 3)) end, { x })
    local u = rand64({ 2, 5 }, 11):requires_grad()
    gradcheck(function(xx) return nn.InstanceNorm1d(2):double()(xx) end, { u })
  end)

  -- eps = 0 on an instance whose values are all equal: PyTorch 1.13 gives
  -- the bias there and gradients of 0 (its batch norm's 1/std is 0 where
  -- the variance is 0), as nnlua's BatchNorm; 0/0 gave NaN, in the
  -- weight's gradient too
  it('give a constant instance the bias with eps = 0, as PyTorch', function()
    local m = nn.InstanceNorm1d(2, { eps = 0, affine = true, track_running_stats = true }):double()
    nl.no_grad(function()
      m.weight:copy_(nl.tensor({ 2, 3 }, 'float64'))
      m.bias:copy_(nl.tensor({ 0.5, -1 }, 'float64'))
    end)
    local x = nl.tensor({ { { 5, 5, 5 }, { 1, 2, 3 } } }, 'float64'):requires_grad()
    local y = m(x)
    ;(y * nl.tensor({ { { 1, 2, 3 }, { 4, 5, 6 } } }, 'float64')):sum():backward()
    -- PyTorch 1.13 (float32): y [[0.5, 0.5, 0.5], [-4.674234, -1, 2.674234]],
    -- x.grad 0 in the constant instance, weight.grad [0, sqrt(6)],
    -- bias.grad [6, 15], running_mean [0.5, 0.2], running_var [0.9, 1]
    local r = math.sqrt(1.5) * 3
    S.expect_close(y, nl.tensor({ { { 0.5, 0.5, 0.5 }, { -1 - r, -1, -1 + r } } }, 'float64'), 'y', 1e-12, 1e-12)
    assert.are.same({ 0, 0, 0 }, S.flat(x.grad[1][1]))
    S.expect_close(m.weight.grad, nl.tensor({ 0, math.sqrt(6) }, 'float64'), 'weight.grad', 1e-12, 1e-12)
    S.expect_close(m.bias.grad, nl.tensor({ 6, 15 }, 'float64'), 'bias.grad', 1e-12, 1e-12)
    S.expect_close(m.running_mean, nl.tensor({ 0.5, 0.2 }, 'float64'), 'running_mean', 1e-12, 1e-12)
    S.expect_close(m.running_var, nl.tensor({ 0.9, 1 }, 'float64'), 'running_var', 1e-12, 1e-12)
    local f = nn.functional.instance_norm(nl.full({ 2, 1, 4 }, 7), nil, nil, nil, nil, true, 0.1, 0)
    assert.are.same({ 0, 0, 0, 0, 0, 0, 0, 0 }, S.flat(f))
  end)

  it('name themselves and the shapes when misused', function()
    local e = S.errmsg(nn.InstanceNorm1d(3), nl.zeros(2, 4, 5))
    has(e, 'InstanceNorm1d: expected input (N, 3, L) or (3, L), got shape [2,4,5]')
    e = S.errmsg(nn.InstanceNorm2d(3), nl.zeros(2, 3, 5))
    has(e, 'InstanceNorm2d: expected input (N, 3, H, W) or (3, H, W), got shape [2,3,5]')
    e = S.errmsg(nn.InstanceNorm1d(3), nl.zeros(2, 3, 1))
    has(e, 'InstanceNorm1d: expected more than 1 spatial element when training, got input shape [2,3,1]')
    has(S.errmsg(nn.InstanceNorm2d, 0), 'InstanceNorm2d')
    has(S.errmsg(nn.InstanceNorm2d, 3, { affine = 1 }), 'InstanceNorm2d: affine must be a boolean')
    has(S.errmsg(nn.InstanceNorm1d, 3, { groups = 1 }), "InstanceNorm1d: unknown option 'groups'")
    has(S.errmsg(nn.InstanceNorm1d(3, { affine = true }), nl.zeros(2, 3, 4):double()), 'InstanceNorm1d: input of dtype float64')
    has(S.errmsg(nn.InstanceNorm1d(3), nl.zeros({ 2, 3, 4 }, 'int64')), 'InstanceNorm1d')
    has(S.errmsg(nn.InstanceNorm3d(3), nl.zeros(2, 3, 4, 5)),
        'InstanceNorm3d: expected input (N, 3, D, H, W) or (3, D, H, W), got shape [2,3,4,5]')
  end)

  it('the lazy ones take num_features from the channel dim, of unbatched input too', function()
    local m = nn.LazyInstanceNorm1d({ affine = true })
    assert.matches('^LazyInstanceNorm1d%(0, eps=1e%-05, momentum=0.1, affine=true, track_running_stats=false%)',
                   tostring(m))
    m(nl.randn(4, 6))                 -- (C, L) = (4, 6): 4 channels (PyTorch 1.13 takes 6)
    assert.are.equal(4, m.num_features)
    assert.are.equal('InstanceNorm1d', m.__name)
    has(S.errmsg(nn.LazyInstanceNorm2d(), nl.zeros(2, 3)),
        'LazyInstanceNorm2d: expected input (N, C, H, W) or (C, H, W), got shape [2,3]')
    has(S.errmsg(function() return nn.LazyInstanceNorm3d():parameters() end), 'LazyInstanceNorm3d')
    has(S.errmsg(nn.LazyInstanceNorm3d, { affine = true, foo = 1 }), 'foo')
  end)
end)

-- ---- reset_running_stats and reset_parameters -----------------------------------
describe('the batch and instance norms\' reset_running_stats and reset_parameters', function()
  it('restart the statistics and parameters in place, as PyTorch 1.13\'s', function()
    for _, make_bn in ipairs({ function() return nn.BatchNorm1d(2, { momentum = false }) end,
                               function() return nn.SyncBatchNorm(2, { momentum = false }) end }) do
      local m = make_bn()
      local rm, w = m.running_mean, m.weight
      m(nl.randn(4, 2) * 3 + 1)
      m(nl.randn(4, 2))
      nl.no_grad(function() m.weight:fill_(3); m.bias:fill_(2) end)
      assert.are.equal(m, m:reset_running_stats())
      assert.are.same({ 0, 0 }, S.flat(m.running_mean))
      assert.are.same({ 1, 1 }, S.flat(m.running_var))
      assert.are.equal(0, m.num_batches_tracked:item())
      assert.are.same({ 3, 3 }, S.flat(m.weight))
      -- the plain average restarts: PyTorch 1.13 gives the batch's own,
      -- mean [2, 4] and unbiased variance [2, 8], and a count of 1
      m(nl.tensor({ { 1, 2 }, { 3, 6 } }))
      assert.are.same({ 2, 4 }, S.flat(m.running_mean))
      assert.are.same({ 2, 8 }, S.flat(m.running_var))
      assert.are.equal(1, m.num_batches_tracked:item())
      m:reset_parameters()
      assert.are.same({ 1, 1 }, S.flat(m.weight))
      assert.are.same({ 0, 0 }, S.flat(m.bias))
      assert.are.same({ 0, 0 }, S.flat(m.running_mean))
      assert.are.equal(rm, m.running_mean)           -- the same tensors, which an optimizer holds
      assert.are.equal(w, m.weight)
    end
    local b2 = nn.BatchNorm2d(1)
    b2(nl.randn(2, 1, 2, 2) + 5)
    b2:reset_running_stats()
    assert.are.same({ 0 }, S.flat(b2.running_mean))
    local b3 = nn.BatchNorm3d(1, { affine = false, track_running_stats = false })
    b3:reset_parameters()                         -- nothing to reset, as PyTorch's
    local i = nn.InstanceNorm2d(2, { affine = true, track_running_stats = true })
    i(nl.randn(2, 2, 3, 3) + 4)
    nl.no_grad(function() i.weight:fill_(5) end)
    i:reset_parameters()
    assert.are.same({ 0, 0 }, S.flat(i.running_mean))
    assert.are.same({ 1, 1 }, S.flat(i.running_var))
    assert.are.same({ 1, 1 }, S.flat(i.weight))
    nn.InstanceNorm1d(2):reset_running_stats()
  end)
end)

-- ---- BatchNorm3d ----------------------------------------------------------------

describe('nn.BatchNorm3d', function()
  it('is BatchNorm2d over (N, C, D * H, W), its running statistics too', function()
    local x = rand64({ 2, 3, 2, 3, 4 }, 12)
    local b3, b2 = nn.BatchNorm3d(3):double(), nn.BatchNorm2d(3):double()
    S.expect_close(b3(x), b2(x:reshape(2, 3, 6, 4)):reshape(2, 3, 2, 3, 4), 'out', 1e-14, 1e-14)
    S.expect_close(b3.running_var, b2.running_var, 'running_var', 1e-14, 0)
    assert.are.equal(1, b3.num_batches_tracked:item())
  end)

  it('passes a float64 gradcheck', function()
    local m = nn.BatchNorm3d(2):double()
    nl.no_grad(function() m.weight:copy_(rand64({ 2 }, 13)) end)
    gradcheck(function(xx) return m(xx) end, { rand64({ 2, 2, 2, 1, 3 }, 14):requires_grad() })
  end)

  it('names itself and the shape when misused', function()
    has(S.errmsg(nn.BatchNorm3d(3), nl.zeros(2, 3, 4, 4)), 'BatchNorm3d: expected input (N, 3, D, H, W), got shape [2,3,4,4]')
    has(S.errmsg(nn.BatchNorm3d(3), nl.zeros(2, 2, 1, 1, 1)), 'BatchNorm3d: expected input (N, 3, D, H, W), got shape [2,2,1,1,1]')
    has(S.errmsg(nn.BatchNorm3d(3), nl.zeros(1, 3, 1, 1, 1)), 'BatchNorm3d: training needs more than one value per channel')
    has(S.errmsg(nn.BatchNorm3d, 3, { groups = 2 }), "BatchNorm3d: unknown option 'groups'")
  end)
end)

-- ---- EmbeddingBag ---------------------------------------------------------------

describe('nn.EmbeddingBag', function()
  local function long(t) return nl.tensor(t, 'int64') end

  -- a bag of 3 rows of 2 with known values: row i is (i, -i^2)
  local function known(mode, opts)
    opts = opts or {}
    opts.mode = mode
    local m = nn.EmbeddingBag(5, 2, opts):double()
    nl.no_grad(function()
      m.weight:copy_(nl.tensor({ { 1, -1 }, { 2, -4 }, { 3, -9 }, { 4, -16 }, { 5, -25 } }, 'float64'))
    end)
    return m
  end

  it('sums, averages or takes the max of each bag, by hand', function()
    local ids = long({ { 1, 3, 3 }, { 5, 2, 4 } })
    S.expect_close(known('sum')(ids), nl.tensor({ { 7, -19 }, { 11, -45 } }, 'float64'), 'sum', 0, 0)
    S.expect_close(known('mean')(ids), nl.tensor({ { 7 / 3, -19 / 3 }, { 11 / 3, -15 } }, 'float64'), 'mean', 1e-15, 0)
    S.expect_close(known('max')(ids), nl.tensor({ { 3, -1 }, { 5, -4 } }, 'float64'), 'max', 0, 0)
    -- the same bags as 1-D ids and 1-based offsets, and with the last offset given
    local flat, offsets = long({ 1, 3, 3, 5, 2, 4 }), long({ 1, 4 })
    S.expect_close(known('sum')(flat, offsets), known('sum')(ids), 'offsets', 0, 0)
    local m = known('mean', { include_last_offset = true })
    S.expect_close(m(flat, long({ 1, 4, 7 })), known('mean')(ids), 'include_last_offset', 0, 0)
    -- ids past the last offset are in no bag (PyTorch 1.13's mean divides
    -- the last bag's sum by the count up to the input's end: (2 + 4) / 4)
    S.expect_close(m(flat, long({ 1, 4, 5 })), nl.tensor({ { 7 / 3, -19 / 3 }, { 5, -25 } }, 'float64'), 'trailing ids',
                   1e-15, 0)
  end)

  it('leaves padding_idx out of every bag, gives an empty bag zeros, and the padding row no gradient', function()
    for _, mode in ipairs({ 'sum', 'mean', 'max' }) do
      local m = known(mode, { padding_idx = 2 })
      nl.no_grad(function() m.weight:select(1, 2):fill_(100) end)      -- never read
      local out = m(long({ 2, 1, 2, 4, 2, 2 }), long({ 1, 3, 5, 5 }))
      -- each mode's bags of one row, of padding alone and of nothing
      S.expect_close(out, nl.tensor({ { 1, -1 }, { 4, -16 }, { 0, 0 }, { 0, 0 } }, 'float64'), mode, 0, 0)
      out:sum():backward()
      S.expect_close(m.weight.grad, nl.tensor({ { 1, 1 }, { 0, 0 }, { 0, 0 }, { 1, 1 }, { 0, 0 } }, 'float64'),
                     mode .. ' weight grad', 0, 0)
    end
  end)

  it('gives empty bags zeros under detect_anomaly, in max mode too', function()
    nl.detect_anomaly(true)
    local ok, err = pcall(function()
      local m = known('max')
      local out = m(long({ 3, 1 }), long({ 1, 1, 3 }))
      out:sum():backward()
      return out
    end)
    nl.detect_anomaly(false)
    assert.is_true(ok, tostring(err))
    S.expect_close(err, nl.tensor({ { 0, 0 }, { 3, -1 }, { 0, 0 } }, 'float64'), 'max of empty bags', 0, 0)
  end)

  it('passes float64 gradchecks for the weight and per-sample weights', function()
    local ids, offsets = long({ 2, 5, 2, 1, 4, 3, 3 }), long({ 1, 3, 3, 6 })
    for _, mode in ipairs({ 'sum', 'mean', 'max' }) do
      local m = nn.EmbeddingBag(5, 3, { mode = mode, padding_idx = 4 }):double()
      local w = rand64({ 5, 3 }, 15):requires_grad()
      gradcheck(function(ww) m.weight = ww return m(ids, offsets) end, { w })
    end
    local m = nn.EmbeddingBag(5, 3, { mode = 'sum' }):double()
    local w, psw = rand64({ 5, 3 }, 16):requires_grad(), rand64({ 3, 2 }, 17):requires_grad()
    gradcheck(function(ww, pp) m.weight = ww return m(long({ { 1, 5, 5 }, { 2, 3, 2 } }), nil, pp:t()) end, { w, psw })
  end)

  it('names itself, the ids and the shapes when misused', function()
    local m = nn.EmbeddingBag(5, 2)
    has(S.errmsg(m, long({ 1, 2 })), 'EmbeddingBag: 1-D input needs offsets')
    has(S.errmsg(m, long({ { 1, 2 } }), long({ 1 })), 'EmbeddingBag: offsets must be nil for 2-D input')
    has(S.errmsg(m, long({ 1, 2, 3 }), long({ 2 })), 'EmbeddingBag: offsets[1] must be 1 (offsets are 1-based')
    has(S.errmsg(m, long({ 1, 2, 3 }), long({ 1, 3, 2 })), 'EmbeddingBag: offsets must not decrease, got {1, 3, 2}')
    has(S.errmsg(m, long({ 1, 2, 3 }), long({ 1, 5 })), 'EmbeddingBag: offsets run past the input: an offset of 5 for 3 ids')
    has(S.errmsg(m, long({ 1, 2, 3 }), long({})), 'EmbeddingBag: offsets must hold at least one offset')
    has(S.errmsg(m, long({ { 1, 6 } })), 'EmbeddingBag: id 6 out of range 1..5 (ids are 1-based; input shape [1,2])')
    has(S.errmsg(m, long({ { 0, 1 } })), 'EmbeddingBag: id 0 out of range 1..5')
    has(S.errmsg(m, nl.tensor({ { 1, 2 } })), 'EmbeddingBag: expected input ids as an int64 tensor (1-based), got float32 [1,2]')
    has(S.errmsg(m, long({ 1, 2 }), nl.tensor({ 1 })), 'EmbeddingBag: expected offsets as an int64 tensor')
    has(S.errmsg(m, long({ { { 1 } } })), 'EmbeddingBag: expected input (B, N), or 1-D input with offsets, got shape [1,1,1]')
    has(S.errmsg(m, long({ { 1, 2 } }), nil, nl.ones(1, 2)),
        "EmbeddingBag: per_sample_weights are only supported for mode 'sum', got mode 'mean'")
    local s = nn.EmbeddingBag(5, 2, { mode = 'sum' })
    has(S.errmsg(s, long({ { 1, 2 } }), nil, nl.ones(2, 1)),
        "EmbeddingBag: per_sample_weights must be a float32 tensor of the input's shape [1,2], got a tensor (float32 [2,1])")
    has(S.errmsg(nn.EmbeddingBag, 5, 2, { mode = 'prod' }), "EmbeddingBag: mode must be 'sum', 'mean' or 'max', got 'prod'")
    has(S.errmsg(nn.EmbeddingBag, 5, 2, { padding_idx = 6 }), 'EmbeddingBag: padding_idx must be an id in 1..5')
    has(S.errmsg(nn.EmbeddingBag, 5, 2, { max_norm = -1 }), 'EmbeddingBag: max_norm must be a positive number, got -1')
    has(S.errmsg(nn.EmbeddingBag, 5, 2, { max_norm = 1, norm_type = 'fro' }), 'EmbeddingBag: norm_type')
    has(S.errmsg(nn.EmbeddingBag(5, 2, { max_norm = 1 }), nl.tensor({ { 1, 6 } }, 'int64')),
        'EmbeddingBag: id 6 out of range 1..5')
    has(S.errmsg(nn.functional.embedding_bag, nl.tensor({ 1 }, 'int64'), nl.randn(3, 2), nl.tensor({ 1 }, 'int64'), { max_norm = 0 }),
        'embedding_bag: max_norm must be a positive number, got 0')
    has(S.errmsg(nn.EmbeddingBag, 0, 2), 'EmbeddingBag: expected positive whole sizes')
  end)

  it('prints as PyTorch names it and keeps one parameter, weight', function()
    local m = nn.EmbeddingBag(5, 2, { mode = 'max', padding_idx = -1 })
    has(tostring(m), "EmbeddingBag(5, 2, mode='max', padding_idx=5)")
    assert.are.same({ 'weight' }, names_of(m:named_parameters()))
    assert.are.same({ 0, 0 }, S.flat(m.weight:select(1, 5)))
  end)
end)

-- ---- Unflatten, normalize, CosineSimilarity, PairwiseDistance ---------------------

describe('nn.Unflatten', function()
  it('splits a dim into the given sizes, one of them -1, as a view where it can', function()
    local x = nl.arange(0, 24):view(2, 12)
    local y = nn.Unflatten(2, { 3, -1 })(x)
    assert.are.same({ 2, 3, 4 }, y:shape())
    assert.are.same(S.flat(x), S.flat(y))
    x:fill_(7)                                           -- the view shares x's memory
    assert.are.equal(7, y[2][3][4])
    assert.are.same({ 4, 3, 2, 2 }, nn.Unflatten(-1, { 2, 2 })(nl.zeros(4, 3, 4)):shape())
    assert.are.same({ 1, 1, 5 }, nn.Unflatten(1, { 1, -1, 5 })(nl.zeros(5)):shape())
  end)

  it('passes a float64 gradcheck on a transposed input, and clones', function()
    gradcheck(function(x) return nn.Unflatten(1, { 2, 2 })(x:t()) * rand64({ 2, 2, 3 }, 18) end,
              { rand64({ 3, 4 }, 19):requires_grad() })
    has(tostring(nn.Unflatten(2, { 3, -1 }):clone()), 'Unflatten(dim=2, unflattened_size={3, -1})')
  end)

  it('names itself, the sizes and the shape when misused', function()
    has(S.errmsg(nn.Unflatten(2, { 4, -1 }), nl.zeros(3, 6)),
        'Unflatten: sizes {4, -1} do not fill dim 2 of size 6 (input shape [3,6])')
    has(S.errmsg(nn.Unflatten(2, { 2, 2 }), nl.zeros(3, 6)), 'Unflatten: sizes {2, 2} do not fill dim 2 of size 6')
    has(S.errmsg(nn.Unflatten(3, { 2, 3 }), nl.zeros(3, 6)),
        'Unflatten: dim 3 out of range for input shape [3,6] (dims are 1..2 or -2..-1)')
    has(S.errmsg(nn.Unflatten, 0, { 2 }), 'Unflatten: dim must be a nonzero integer')
    has(S.errmsg(nn.Unflatten, 1, { -1, -1 }), 'Unflatten: only one size may be -1')
    has(S.errmsg(nn.Unflatten, 1, { 2, 0 }), 'Unflatten: sizes must be positive integers or one -1, got 0')
    has(S.errmsg(nn.Unflatten, 1, {}), 'Unflatten: sizes must be a non-empty list')
    has(S.errmsg(nn.Unflatten, 1, 4), 'Unflatten: sizes must be a non-empty list')
  end)
end)

describe('nn.functional.normalize', function()
  local F = nn.functional

  it('gives rows of p-norm 1, and a zero row zeros with finite gradients', function()
    local x = rand64({ 3, 4 }, 20)
    for _, p in ipairs({ 1, 1.5, 2, 3, math.huge }) do
      local y = F.normalize(x, { p = p })
      local n = p == math.huge and y:abs():max(2) or (y:abs() ^ p):sum(2) ^ (1 / p)
      S.expect_close(n, nl.ones(3):double(), 'p = ' .. p, 1e-14, 0)
      local z = nl.zeros(2, 3):double():requires_grad()
      local out = F.normalize(z, { p = p })
      ;(out * rand64({ 2, 3 }, 21)):sum():backward()
      assert.are.same({ 0, 0, 0, 0, 0, 0 }, S.flat(out))
      for _, g in ipairs(S.flat(z.grad)) do assert.is_true(g == g and math.abs(g) < math.huge, 'p = ' .. p) end
    end
  end)

  it('passes float64 gradchecks for p = 1.5, 2, 3 and infinity, with rows clamped by eps', function()
    local x = rand64({ 3, 4 }, 22):requires_grad()
    for _, p in ipairs({ 1.5, 2, 3, math.huge }) do
      gradcheck(function(xx) return F.normalize(xx, { p = p, dim = 1 }) end, { x })
      gradcheck(function(xx) return F.normalize(xx, { p = p, eps = 3 }) end, { x })
    end
  end)

  it('names itself and the dim when misused', function()
    has(S.errmsg(F.normalize, nl.zeros(3)), 'normalize: dim 2 out of range for input shape [3]')
    has(S.errmsg(F.normalize, nl.zeros(3), { p = 0, dim = 1 }), 'normalize: p must be above 0, got 0')
    has(S.errmsg(F.normalize, nl.zeros(3), { p = -1, dim = 1 }), 'normalize: p must be a number >= 0, got -1')
    has(S.errmsg(F.normalize, nl.zeros(3), { eps = 'x', dim = 1 }), "normalize: eps must be a number >= 0, got 'x'")
    has(S.errmsg(F.normalize, nl.zeros(3), { axis = 1 }), "normalize: unknown option 'axis'")
    has(S.errmsg(F.normalize, nl.zeros({ 3 }, 'int64'), { dim = 1 }), 'normalize: expected a float input, got int64')
  end)
end)

describe('nn.CosineSimilarity and nn.PairwiseDistance', function()
  local F = nn.functional

  it('give 1 and -1 for parallel and opposite vectors, and 5 for the 3-4-5 triangle', function()
    local x = rand64({ 3, 4 }, 23)
    S.expect_close(nn.CosineSimilarity()(x, x * 2.5), nl.ones(3):double(), 'parallel', 1e-15, 0)
    S.expect_close(F.cosine_similarity(x, -x, { dim = -1 }), -nl.ones(3):double(), 'opposite', 1e-15, 0)
    local a, b = nl.tensor({ { 0, 0 }, { 1, 1 } }, 'float64'), nl.tensor({ { 3, 4 }, { 4, 5 } }, 'float64')
    S.expect_close(nn.PairwiseDistance({ eps = 0 })(a, b), nl.tensor({ 5, 5 }, 'float64'), '3-4-5', 1e-15, 0)
    S.expect_close(F.pairwise_distance(a, b, { p = 1, eps = 0, keepdim = true }), nl.tensor({ { 7 }, { 7 } }, 'float64'),
                   'p = 1', 0, 0)
  end)

  -- max gave the whole gradient to the first of the tied entries
  it('share the infinity norm\'s gradient among entries tied for the largest, as PyTorch', function()
    -- |x| = (1, 1, 0.5) ties at 1: d||x||/dx = sign(x) / 2 there, 0 elsewhere (PyTorch: 0.5, -0.5, 0)
    local x = nl.tensor({ { 1, -1, 0.5 } }, 'float64'):requires_grad()
    F.pairwise_distance(x, nl.zeros({ 1, 3 }, 'float64'), { p = math.huge, eps = 0 }):sum():backward()
    S.expect_close(x.grad, nl.tensor({ { 0.5, -0.5, 0 } }, 'float64'), 'pairwise_distance', 0, 0)
    -- d sum(x / ||x||)/dx = 1 / n - sum(x) / n^2 d||x||/dx, n = 1 (PyTorch: 0.75, 1.25, 1)
    local z = nl.tensor({ { 1, -1, 0.5 } }, 'float64'):requires_grad()
    F.normalize(z, { p = math.huge }):sum():backward()
    S.expect_close(z.grad, nl.tensor({ { 0.75, 1.25, 1 } }, 'float64'), 'normalize', 0, 0)
  end)

  it('pass float64 gradchecks, broadcast and strided', function()
    local x1, x2 = rand64({ 3, 4 }, 24):requires_grad(), rand64({ 4 }, 25):requires_grad()
    gradcheck(function(a, b) return F.cosine_similarity(a, b) end, { x1, x2 })
    gradcheck(function(a, b) return F.cosine_similarity(a:t(), b:view(4, 1), { dim = 1 }) end, { x1, x2 })
    -- (below eps, PyTorch 1.13's gradient is not the derivative of the
    -- value: the golden cases cosine_small_norms check it)
    for _, p in ipairs({ 1, 2, 3, math.huge }) do
      gradcheck(function(a, b) return F.pairwise_distance(a, b, { p = p }) end, { x1, x2 })
    end
  end)

  it('name themselves and the shapes when misused', function()
    has(S.errmsg(F.cosine_similarity, nl.zeros(3, 4), nl.zeros(2, 4)),
        'cosine_similarity: shapes [3,4] and [2,4] do not broadcast')
    has(S.errmsg(nn.CosineSimilarity(), nl.zeros(4), nl.zeros(4)), 'cosine_similarity: dim 2 out of range for input shape [4]')
    has(S.errmsg(nn.PairwiseDistance(), nl.zeros(3, 4), nl.zeros(3, 5)),
        'pairwise_distance: shapes [3,4] and [3,5] do not broadcast')
    has(S.errmsg(nn.PairwiseDistance(), nl.tensor(1), nl.tensor(2)), 'pairwise_distance: expected vectors, got 0-dim inputs')
    has(S.errmsg(nn.PairwiseDistance, { p = 0 }), 'PairwiseDistance: p must be above 0')
    has(S.errmsg(nn.CosineSimilarity, { dim = 0 }), 'CosineSimilarity: dim must be a nonzero integer')
    has(S.errmsg(nn.CosineSimilarity, { eps = -1 }), 'CosineSimilarity: eps must be a number >= 0, got -1')
    has(S.errmsg(nn.CosineSimilarity, 2), 'CosineSimilarity: expected a table of options')
    has(S.errmsg(F.pairwise_distance, nl.zeros(2), nl.zeros({ 2 }, 'int64')), 'pairwise_distance: expected a float input')
  end)

  it('print as PyTorch names them', function()
    has(tostring(nn.CosineSimilarity({ dim = 1, eps = 1e-6 })), 'CosineSimilarity(dim=1, eps=1e-06)')
    has(tostring(nn.PairwiseDistance({ p = 1, keepdim = true })), 'PairwiseDistance(p=1, eps=1e-06, keepdim=true)')
  end)
end)

describe('the new layers in a saved model', function()
  it('come back from nn.load with their options and state, giving the same outputs', function()
    local m = nn.Sequential(nn.Unflatten(2, { 4, -1 }), nn.GroupNorm(2, 4, { eps = 1e-3 }),
                            nn.InstanceNorm1d(4, { affine = true, track_running_stats = true, momentum = 0.5 }))
    local x = nl.randn(3, 12)
    m(x)                                                  -- a train step moves the running statistics
    m:eval()
    local dir = S.tmpdir()
    m:save(dir .. '/m.safetensors')
    local back = nn.load(dir .. '/m.safetensors')
    back:eval()
    S.same_bits(back(x), m(x), 'Sequential out')
    local bag = nn.EmbeddingBag(6, 3, { mode = 'max', padding_idx = 2, include_last_offset = true })
    bag:save(dir .. '/bag.safetensors')
    local bag2 = nn.load(dir .. '/bag.safetensors')
    local ids, offsets = nl.tensor({ 1, 2, 5, 6, 2 }, 'int64'), nl.tensor({ 1, 3, 5 }, 'int64')
    S.same_bits(bag2(ids, offsets), bag(ids, offsets), 'EmbeddingBag out')
    has(tostring(nn.load(dir .. '/m.safetensors')), 'Unflatten(dim=2, unflattened_size={4, -1})')
    os.execute('rm -rf ' .. S.q(dir))
  end)
end)
