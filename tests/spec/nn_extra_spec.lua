-- PReLU, RReLU, Bilinear, LocalResponseNorm, the dropouts of
-- dropout_extra.lua, MultiLabelSoftMarginLoss, MultiLabelMarginLoss,
-- TripletMarginWithDistanceLoss, the functional norms and embeddings, and
-- nn.utils' clip_grad_value_, parameters_to_vector and
-- vector_to_parameters, three ways (STYLE 12): against PyTorch 1.13 golden
-- values and gradients in float32 and float64 (tests/golden/nn_extra.lua,
-- made by tests/golden/gen_nn_extra.py, with PyTorch's weights copied in;
-- inputs also as non-contiguous views), float64 finite-difference
-- gradchecks, and closed forms (the random layers in training, whose
-- draws are nnlua's own); then save, load and clone, fit's loss names,
-- and the errors a misuse gets, each naming the op.
-- Tolerance against PyTorch: |got - want| <= RTOL * |want| + ATOL
-- elementwise, float32 RTOL 1e-5, ATOL 1e-5; float64 RTOL 1e-10, ATOL 1e-12.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn
local F = nn.functional

local TOL = { float32 = { 1e-5, 1e-5 }, float64 = { 1e-10, 1e-12 } }
local golden = dofile(S.root .. '/tests/golden/nn_extra.lua')
local from_golden, has, errmsg = S.from_golden, S.contains, S.errmsg

-- the distance functions gen_nn_extra.py names
local DISTANCES = {
  default = nil,
  cosine = function(a, b) return 1 - F.cosine_similarity(a, b) end,
  pairwise_p1 = nn.PairwiseDistance({ p = 1 }),
}

-- golden kind -> a module (a = args, o = opts, c = the case) or a
-- function of the case's inputs
local build = {
  PReLU = function(a) return nn.PReLU(a[1], a[2]) end,
  prelu = function() return F.prelu end,
  RReLU = function(a) return nn.RReLU(a[1], a[2]) end,
  rrelu = function() return F.rrelu end,
  Bilinear = function(a, o) return nn.Bilinear(a[1], a[2], a[3], o) end,
  bilinear = function() return F.bilinear end,
  LocalResponseNorm = function(a) return nn.LocalResponseNorm(a[1], a[2], a[3], a[4]) end,
  local_response_norm = function(_, o) return function(x) return F.local_response_norm(x, o) end end,
  MultiLabelSoftMarginLoss = function(_, o, c)
    local opts = { reduction = o.reduction }
    for _, t in ipairs(c.opt_tensors or {}) do opts[t.name] = from_golden(t.t) end
    return nn.MultiLabelSoftMarginLoss(opts)
  end,
  multilabel_soft_margin_loss = function() return F.multilabel_soft_margin_loss end,
  MultiLabelMarginLoss = function(_, o) return nn.MultiLabelMarginLoss(o) end,
  multilabel_margin_loss = function() return F.multilabel_margin_loss end,
  TripletMarginWithDistanceLoss = function(_, o)
    return nn.TripletMarginWithDistanceLoss({ distance_function = DISTANCES[o.distance], margin = o.margin,
                                              swap = o.swap, reduction = o.reduction })
  end,
  triplet_margin_with_distance_loss = function() return F.triplet_margin_with_distance_loss end,
  layer_norm = function(a, o) return function(x, w, b) return F.layer_norm(x, a[1], w, b, o.eps) end end,
  group_norm = function(a, o) return function(x, w, b) return F.group_norm(x, a[1], w, b, o) end end,
  instance_norm = function(_, o)
    return function(x, rm, rv, w, b) return F.instance_norm(x, rm, rv, w, b, o.use_input_stats, o.momentum, o.eps) end
  end,
  batch_norm = function(_, o) return function(x, rm, rv, w, b) return F.batch_norm(x, rm, rv, w, b, o) end end,
  embedding = function(_, o) return function(ids, w) return F.embedding(ids, w, o.padding_idx) end end,
  embedding_bag = function(_, o)
    return function(ids, w, off, psw)
      return F.embedding_bag(ids, w, off, { mode = o.mode, padding_idx = o.padding_idx, per_sample_weights = psw })
    end
  end,
}

local function make(c)
  local m = build[c.kind](c.args, c.opts, c)
  if nn.is_module(m) then return S.golden_state(m, c) end
  return m
end

-- the leaves (stored tensors; float ones that are not buffers require
-- grad) and the arguments the layer gets (their permuted views)
local inputs_of = S.golden_inputs

describe('nn extras against PyTorch 1.13 golden values', function()
  it('has a builder for every golden kind and a golden case for every builder', function()
    S.check_kinds_cover(golden, build)
  end)

  for _, c in ipairs(golden) do
    local close = S.case_close(c, TOL)

    it(c.name .. ': forward and backward (' .. c.mode .. ' mode, ' .. c.dtype .. ')', function()
      local m = make(c)
      if nn.is_module(m) then assert.are.same(c.params, S.names_of(m:named_parameters())) end
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
        if g and g.after then close(leaves[i], g.after, 'input ' .. i .. ' after the call') end
      end
      for _, g in ipairs(c.grads) do
        local p = m[g.name]
        assert.is_not_nil(p.grad, c.name .. ': ' .. g.name .. ' has no grad')
        close(p.grad, g.t, 'grad of ' .. g.name)
      end
    end)
  end
end)

-- float64 finite differences (h 1e-6, nnlua's gradcheck tolerances)
local function gradcheck(f, inputs)
  local ok, msg = nl.gradcheck(f, inputs)
  assert.is_true(ok, msg)
end

local function rand64(shape, seed, lo, hi)
  local r = S.rng(seed)
  return nl.tensor(S.nested(shape, function() return r(lo or -2, hi or 2) end), 'float64')
end

-- values kept 0.1 away from 0 (the kinks of the rectifiers and margins)
local function away(shape, seed)
  local r = S.rng(seed)
  return nl.tensor(S.nested(shape, function()
    local v = r(-2, 2)
    return v < 0 and v - 0.1 or v + 0.1
  end), 'float64')
end

describe('float64 gradchecks', function()
  -- the product not taken sent the slope 0 * x, NaN for an x of inf: one
  -- overflowed activation made a shared slope's gradient NaN
  it('PReLU gives the slope the sum of the inputs at or below 0, an infinite input elsewhere or not', function()
    local x = nl.tensor({ math.huge, -1, 2, -3, 0 }, 'float64'):requires_grad()
    local w = nl.tensor({ 0.25 }, 'float64'):requires_grad()
    F.prelu(x, w):sum():backward()
    assert.are.same({ -4 }, w.grad:totable())
    assert.are.same({ 1, 0.25, 1, 0.25, 0.25 }, x.grad:totable())
    local m = nn.PReLU()
    local y = nl.tensor({ { math.huge, -2 } }):requires_grad()
    m(y):sum():backward()
    assert.are.same({ -2 }, m.weight.grad:totable())
  end)

  it('PReLU and prelu: input and slopes, one or per channel', function()
    local x = away({ 2, 3, 4 }, 1):requires_grad()
    local w = rand64({ 3 }, 2):requires_grad()
    gradcheck(function(a, b) return F.prelu(a, b) end, { x, w })
    local w1 = rand64({ 1 }, 3):requires_grad()
    gradcheck(function(a, b) return F.prelu(a, b) end, { x, w1 })
    local m = nn.PReLU(3):double()
    gradcheck(function(a) return m(a:transpose(1, 2)) end, { away({ 3, 2, 4 }, 4):requires_grad() })
  end)

  it('RReLU in training (the same draws in each call) and eval', function()
    local x = away({ 4, 5 }, 5):requires_grad()
    local m = nn.RReLU(0.1, 0.3):double()
    gradcheck(function(a) nl.manual_seed(7) return m(a) end, { x })
    m:eval()
    gradcheck(function(a) return m(a) end, { x })
  end)

  it('Bilinear and bilinear: both inputs, weight and bias', function()
    local x1, x2 = rand64({ 3, 4 }, 6):requires_grad(), rand64({ 3, 2 }, 7):requires_grad()
    local w, b = rand64({ 5, 4, 2 }, 8):requires_grad(), rand64({ 5 }, 9):requires_grad()
    gradcheck(function(a, c, d, e) return F.bilinear(a, c, d, e) end, { x1, x2, w, b })
    gradcheck(function(a, c, d) return F.bilinear(a:view(3, 1, 4), c:view(3, 1, 2), d) end, { x1, x2, w })
  end)

  it('LocalResponseNorm over 3, 4 and 5 dims, a window wider than the channels', function()
    for i, shape in ipairs({ { 2, 4, 3 }, { 2, 5, 2, 2 }, { 1, 3, 2, 1, 2 } }) do
      local x = rand64(shape, 10 + i):requires_grad()
      gradcheck(function(a) return F.local_response_norm(a, { size = 2 + i, alpha = 0.3, beta = 0.75, k = 1.5 }) end,
                { x })
    end
  end)

  it('the multi-label losses and the distance triplet loss', function()
    local x = rand64({ 3, 5 }, 14):requires_grad()
    local y = nl.tensor({ { 1, 0, 0, 1, 1 }, { 0, 0, 0, 0, 0 }, { 1, 1, 0, 1, 0 } }, 'float64')
    local w = rand64({ 5 }, 15, 0.5, 1.5):requires_grad()
    gradcheck(function(a, b) return F.multilabel_soft_margin_loss(a, y, { weight = b }) end, { x, w })
    -- input values 0.2 apart at least and labels apart from every tie
    local xm = nl.tensor({ { 0.1, 0.9, -0.7, 1.5, 0.4 }, { -1.1, 0.3, 2.2, 0.7, -0.2 } }, 'float64'):requires_grad()
    local t = nl.tensor({ { 2, 4, 0, 1, 1 }, { 3, 3, 1, 0, 0 } }, 'int64')
    gradcheck(function(a) return F.multilabel_margin_loss(a, t, { reduction = 'none' }) end, { xm })
    local an, po, ne = rand64({ 4, 3 }, 16):requires_grad(), rand64({ 4, 3 }, 17):requires_grad(),
                       rand64({ 4, 3 }, 18):requires_grad()
    gradcheck(function(a, b, c) return F.triplet_margin_with_distance_loss(a, b, c, { swap = true, margin = 3 }) end,
              { an, po, ne })
    gradcheck(function(a, b, c)
      return F.triplet_margin_with_distance_loss(a, b, c, { distance_function = DISTANCES.cosine, reduction = 'none',
                                                            margin = 1.5 })
    end, { an, po, ne })
  end)

  it('the functional norms: input, weight and bias', function()
    local x = rand64({ 3, 4, 2 }, 19):requires_grad()
    local w, b = rand64({ 4 }, 20):requires_grad(), rand64({ 4 }, 21):requires_grad()
    gradcheck(function(a, c, d) return F.group_norm(a, 2, c, d) end, { x, w, b })
    gradcheck(function(a, c, d) return F.instance_norm(a, nil, nil, c, d) end, { x, w, b })
    gradcheck(function(a, c, d) return F.batch_norm(a, nil, nil, c, d, true) end, { x, w, b })
    local rm, rv = rand64({ 4 }, 22), rand64({ 4 }, 23, 0.5, 1.5)
    gradcheck(function(a, c, d) return F.batch_norm(a, rm, rv, c, d) end, { x, w, b })
    local lw, lb = rand64({ 4, 2 }, 24):requires_grad(), rand64({ 4, 2 }, 25):requires_grad()
    gradcheck(function(a, c, d) return F.layer_norm(a, { 4, 2 }, c, d) end, { x, lw, lb })
  end)

  it('the functional embeddings: weight and per-sample weights', function()
    local w = rand64({ 5, 3 }, 26):requires_grad()
    local ids = nl.tensor({ { 1, 3, 3 }, { 5, 2, 3 } }, 'int64')
    -- (no padding_idx: its row is used but gets no gradient, as PyTorch's)
    gradcheck(function(a) return F.embedding(ids, a) end, { w })
    local flat, off = nl.tensor({ 2, 2, 4, 1, 5 }, 'int64'), nl.tensor({ 1, 3, 3 }, 'int64')
    local psw = rand64({ 5 }, 27):requires_grad()
    gradcheck(function(a, p) return F.embedding_bag(flat, a, off, { mode = 'sum', per_sample_weights = p }) end, { w, psw })
    gradcheck(function(a) return F.embedding_bag(flat, a, off, { mode = 'mean' }) end, { w })
  end)

  it('the alpha dropouts in training (the same mask in each call)', function()
    local x = rand64({ 4, 3, 2 }, 28):requires_grad()
    gradcheck(function(a) nl.manual_seed(3) return F.alpha_dropout(a, 0.4, true) end, { x })
    gradcheck(function(a) nl.manual_seed(3) return F.feature_alpha_dropout(a, 0.4, true) end, { x })
    gradcheck(function(a) nl.manual_seed(3) return F.dropout1d(a, 0.4) end, { x })
  end)
end)

-- ---- the random layers: training and eval ----------------------------------------

describe('RReLU in training and eval', function()
  it('draws a slope per element within [lower, upper], whose gradient it is; eval uses their mean', function()
    nl.manual_seed(11)
    local x = (nl.rand(4000):double() + 0.1):neg():requires_grad()    -- every element < 0
    local m = nn.RReLU(0.2, 0.5):double()
    local y = m(x)
    local slope = y / x:detach()
    assert.is_true(slope:min():item() >= 0.2 and slope:max():item() <= 0.5)
    -- uniform: mean 0.35 within 5 standard errors (sd 0.3 / sqrt(12) / sqrt(4000))
    assert.is_true(math.abs(slope:mean():item() - 0.35) < 5 * 0.3 / math.sqrt(12 * 4000))
    y:sum():backward()
    S.expect_close(x.grad, slope, 'gradient = slope', 1e-12, 0)
    -- positive inputs pass unchanged
    local p = nl.tensor({ 0.5, 2, 3 }, 'float64')
    S.same_bits(m(p), p, 'positive')
    m:eval()
    S.expect_close(m(x), x * 0.35, 'eval', 1e-15, 0)
    -- the functional form's training flag defaults to false, as PyTorch's
    S.expect_close(F.rrelu(x, 0.2, 0.5), x * 0.35, 'F.rrelu eval', 1e-15, 0)
    assert.is_true(F.rrelu(x, { lower = 0.2, upper = 0.5, training = true }):ne(x * 0.35):sum():item() > 3900)
  end)

  it('draws from nl.manual_seed: the same seed, the same slopes', function()
    local x = nl.randn(50):abs():neg()
    nl.manual_seed(5)
    local a = nn.RReLU()(x)
    nl.manual_seed(5)
    S.same_bits(nn.RReLU()(x), a, 'same seed')
  end)

  -- create_graph in training: the drawn slopes are constants, so the
  -- gradient differentiated again is PyTorch's (0 in x alone; the product
  -- rule's terms otherwise), checked against float64 central differences
  -- of the first derivative, each evaluation drawing the same slopes
  -- (nl.manual_seed before each); "does not require grad" before
  it('in training: the second derivative under create_graph, against finite differences of the first', function()
    local rng = S.rng(41)
    local xs = {}
    for i = 1, 24 do local v = rng(-2, 2) xs[i] = math.abs(v) < 0.05 and v + 0.2 or v end   -- (away from the kink)
    local h = 1e-6
    for _, form in ipairs({ 'module', 'F' }) do
      local f = form == 'F' and function(x) return F.rrelu(x, 0.1, 0.4, true) end
        or nn.RReLU(0.1, 0.4):double():train()
      -- the first derivative of sum(w rrelu(x)) and of sum(rrelu(x)^2) at x, the seed's slopes
      local function first(x, sq)
        nl.manual_seed(9)
        local y = f(x)
        local loss = sq and (y * y):sum() or (y * nl.tensor(xs, 'float64')):sum()
        return nl.autograd.grad(loss, { x }, { create_graph = true })[1]
      end
      for _, sq in ipairs({ false, true }) do
        local what = form .. (sq and ' sum(y^2)' or ' sum(w y)')
        local x = nl.tensor(xs, 'float64'):requires_grad()
        local g = first(x, sq)
        local gg = nl.autograd.grad(g:sum(), { x })[1]   -- the Hessian's row sums: it is diagonal
        local fd = {}
        for i = 1, #xs do
          local xp, xm = { unpack(xs) }, { unpack(xs) }
          xp[i], xm[i] = xs[i] + h, xs[i] - h
          local gp = first(nl.tensor(xp, 'float64'):requires_grad(), sq)[i]
          local gm = first(nl.tensor(xm, 'float64'):requires_grad(), sq)[i]
          fd[i] = (gp - gm) / (2 * h)
        end
        S.expect_close(gg, nl.tensor(fd, 'float64'), what, 1e-5, 1e-7)
        if not sq then assert.are.equal(0, gg:abs():max():item(), what .. ': 0 in x alone') end
      end
    end
  end)
end)

describe('the dropouts in training and eval', function()
  local function ones(shape) return nl.ones(shape, 'float64') end

  it('are the identity in eval mode and with p = 0, and zeros with p = 1', function()
    for _, name in ipairs({ 'Dropout1d', 'Dropout3d', 'AlphaDropout', 'FeatureAlphaDropout' }) do
      local shape = name == 'Dropout3d' and { 2, 3, 2, 2, 2 } or { 2, 3, 4 }
      local x = nl.randn(shape)
      S.same_bits(nn[name](0.5):eval()(x), x, name .. ' eval')
      S.same_bits(nn[name](0)(x), x, name .. ' p = 0')
      S.same_bits(nn[name](1)(x), x * 0, name .. ' p = 1')
    end
  end)

  it('Dropout1d and Dropout3d zero whole channels and scale the rest by 1 / (1 - p)', function()
    nl.manual_seed(21)
    local cases = { { 'Dropout1d', { 40, 30, 5 } }, { 'Dropout1d', { 60, 5 } }, { 'Dropout3d', { 20, 30, 2, 3, 2 } },
                    { 'Dropout3d', { 60, 2, 3, 2 } } }
    for _, c in ipairs(cases) do
      local name, shape = c[1], c[2]
      local y = nn[name](0.25)(ones(shape))
      -- each channel's values all 0 or all 4/3 (unbatched: dim 1 is the channel)
      local chan = #shape == (name == 'Dropout1d' and 2 or 4) and 1 or 2
      local rows = y:reshape(chan == 1 and shape[1] or shape[1] * shape[2], -1)
      local lo, hi = rows:min(2), rows:max(2)
      S.same_bits(lo, hi, name .. ' channels whole')
      local kept = lo:gt(0):double()
      S.expect_close(hi * kept, kept * (4 / 3), name .. ' scale', 1e-15, 0)
      -- about 3/4 kept (5 standard errors)
      local n = kept:numel()
      assert.is_true(math.abs(kept:mean():item() - 0.75) < 5 * math.sqrt(0.1875 / n), name .. ' keep rate')
    end
  end)

  it("AlphaDropout and FeatureAlphaDropout map units as PyTorch 1.13 does", function()
    for _, g in ipairs(golden.alpha_dropout) do
      if g.p < 1 then
        nl.manual_seed(31)
        local x = nl.randn(3000):double()
        local y = F.alpha_dropout(x, g.p, true)
        local dropped = y:eq(g.dropped)
        local want = nl.where(dropped, g.dropped, x * g.a + g.b)
        S.expect_close(y, want, 'alpha_dropout p = ' .. g.p, 1e-15, 1e-15)
        local n = dropped:sum():item()
        assert.is_true(math.abs(n / 3000 - g.p) < 5 * math.sqrt(g.p * (1 - g.p) / 3000), 'drop rate')
        -- feature: the whole (sample, channel) slab dropped or kept
        local z = F.feature_alpha_dropout(nl.zeros(30, 40, 3):double(), g.p, true):reshape(1200, 3)
        S.same_bits(z:min(2), z:max(2), 'feature slabs whole')
        assert.is_true(z:eq(g.dropped):add(z:eq(g.b)):min():item() == 1, 'feature values')
      end
    end
  end)

  -- PyTorch's functional alpha dropouts default to training = False (the
  -- dropout1d/3d ones to True); nnlua defaulted all to true, so ported
  -- code calling them in eval dropped units
  it('the functional alpha dropouts are the identity unless training is asked, as PyTorch\'s', function()
    local x = nl.randn(5, 10):double()
    for _, f in ipairs({ F.alpha_dropout, F.feature_alpha_dropout }) do
      assert.is_true(rawequal(x, f(x, 0.5)))
      assert.is_true(rawequal(x, f(x, { p = 0.5 })))
      assert.is_false(rawequal(x, f(x, 0.5, true)))
    end
    assert.is_false(rawequal(x, F.dropout1d(x, 0.5)))
  end)

  it('AlphaDropout keeps a standard normal input at mean 0 and variance 1', function()
    nl.manual_seed(41)
    local x = nl.randn(200000):double()
    for _, p in ipairs({ 0.2, 0.5 }) do
      local y = nn.AlphaDropout(p)(x)
      assert.is_true(math.abs(y:mean():item()) < 0.02, 'mean')
      assert.is_true(math.abs(y:var():item() - 1) < 0.03, 'variance')
    end
  end)

  it('give a gradient of the kept units\' scale and 0 where dropped', function()
    nl.manual_seed(51)
    local x = nl.randn(20, 6, 3):double():requires_grad()
    local y = nn.FeatureAlphaDropout(0.3)(x)
    y:sum():backward()
    local a = 1 / math.sqrt((1.7580993408473766 ^ 2 * 0.3 + 1) * 0.7)
    local kept = (y + 1.7580993408473766 * a * 0.7):abs():gt(1e-9):double()
    S.expect_close(x.grad, kept * a, 'gradient', 1e-15, 0)
  end)
end)

-- ---- modules: state, save, load, clone, printing ------------------------------------

describe('the new modules with state_dict, save, load and clone', function()
  local function model()
    nl.manual_seed(61)
    return nn.Sequential(nn.Linear(4, 6), nn.PReLU(2, 0.2), nn.Dropout1d(0.1), nn.RReLU(0.1, 0.2),
                         nn.AlphaDropout(0.3), nn.FeatureAlphaDropout(0.2), nn.LocalResponseNorm(3, 1e-3, 0.5, 2))
  end

  it('keep their parameters under PyTorch\'s names, and rebuild from a file and by clone', function()
    local m = model()
    assert.are.same({ '0.weight', '0.bias', '1.weight' }, S.names_of(m:named_parameters()))
    nl.no_grad(function() m[2].weight:copy_(nl.tensor({ 0.1, 0.6 })) end)
    m:eval()
    local dir = S.tmpdir()
    m:save(dir .. '/m.safetensors')
    local loaded = nn.load(dir .. '/m.safetensors')
    local c = m:clone()
    for _, other in ipairs({ loaded, c }) do
      assert.are.equal(tostring(m), tostring(other))
      S.same_bits(other[2].weight, m[2].weight, 'PReLU weight')
      assert.is_false(other.training)
      local xx = nl.randn(3, 2, 4)
      S.same_bits(other(xx), m(xx), 'output')
    end
    assert.is_false(rawequal(c[2].weight, m[2].weight))
    local b = nn.Bilinear(3, 2, 4)
    local bl = nn.load((function() b:save(dir .. '/b.safetensors') return dir .. '/b.safetensors' end)())
    S.same_bits(bl.weight, b.weight, 'Bilinear weight')
    S.same_bits(bl.bias, b.bias, 'Bilinear bias')
    assert.are.same({ 'weight', 'bias' }, S.names_of(b:clone():named_parameters()))
    -- a loss's weight is a buffer in its state dict, rebuilt by clone and
    -- nn.load as the other losses' class weights
    local l = nn.MultiLabelSoftMarginLoss({ weight = nl.tensor({ 1, 2, 3 }), reduction = 'sum' })
    assert.are.same({ weight = l.weight }, l:state_dict({ keep_vars = true }))
    local sd = l:state_dict()
    assert.are.same({ 'weight' }, (function() local k = {} for n in pairs(sd) do k[#k + 1] = n end return k end)())
    S.same_bits(sd.weight, l.weight, 'state_dict weight')
    l:save(dir .. '/l.safetensors')
    local y, t = nl.randn(2, 3), nl.tensor({ { 1, 0, 1 }, { 0, 0, 1 } })
    for _, l2 in ipairs({ l:clone(), (nn.load(dir .. '/l.safetensors')) }) do
      S.same_bits(l2.weight, l.weight, 'loss weight buffer')
      assert.is_false(rawequal(l2.weight, l.weight))
      assert.are.equal('sum', l2.opts.reduction)
      S.same_bits(l2(y, t), l(y, t), 'loss with the rebuilt weight')
    end
    assert.are.equal('sum', nn.MultiLabelMarginLoss({ reduction = 'sum' }):clone().opts.reduction)
  end)

  it('print as PyTorch prints them', function()
    has(tostring(nn.PReLU()), 'PReLU(num_parameters=1)')
    has(tostring(nn.PReLU({ num_parameters = 3, init = 0.1 })), 'PReLU(num_parameters=3)')
    has(tostring(nn.RReLU()), 'RReLU(lower=0.125, upper=0.3333333333333333)')
    has(tostring(nn.Bilinear(2, 3, 4, { bias = false })), 'Bilinear(in1_features=2, in2_features=3, out_features=4, bias=false)')
    has(tostring(nn.LocalResponseNorm(3)), 'LocalResponseNorm(3, alpha=0.0001, beta=0.75, k=1.0)')
    has(tostring(nn.AlphaDropout(0.2)), 'AlphaDropout(p=0.2, inplace=False)')
    has(tostring(nn.Dropout3d()), 'Dropout3d(p=0.5, inplace=False)')
  end)

  it('initialize as PyTorch does: PReLU at init, Bilinear uniform in +-1/sqrt(in1)', function()
    S.same_bits(nn.PReLU(4, 0.3).weight, nl.full({ 4 }, 0.3), 'PReLU init')
    nl.manual_seed(71)
    local b = nn.Bilinear(16, 5, 40)
    assert.is_true(b.weight:abs():max():item() <= 0.25 and b.bias:abs():max():item() <= 0.25)
    assert.is_true(b.weight:abs():max():item() > 0.24)       -- spread over the range (3200 draws)
    assert.are.same({ 40, 16, 5 }, b.weight:shape())
  end)

  it('train through an optimizer: PReLU slopes and Bilinear weights move', function()
    nl.manual_seed(81)
    local m = nn.Bilinear(3, 3, 2)
    local p = nn.PReLU(2)
    local opt = nl.optim.SGD({ m.weight, m.bias, p.weight }, { lr = 0.1 })
    local w0, s0 = m.weight:clone(), p.weight:clone()
    local x = nl.randn(8, 3)
    local loss = p(m(x, x)):pow(2):mean()
    loss:backward()
    opt:step()
    assert.is_true(m.weight:ne(w0):sum():item() > 0)
    assert.is_true(p.weight:ne(s0):sum():item() > 0)
  end)
end)

-- ---- the functional forms against the modules ---------------------------------------

describe('the functional norms and embeddings run the modules\' code', function()
  it('give the modules\' values and running statistics', function()
    nl.manual_seed(91)
    local x = nl.randn(4, 3, 5):double()
    local bn = nn.BatchNorm1d(3, { momentum = 0.3 }):double()
    nl.no_grad(function() bn.weight:copy_(nl.randn(3)); bn.bias:copy_(nl.randn(3)) end)
    local rm, rv = bn.running_mean:clone(), bn.running_var:clone()
    local y = F.batch_norm(x, rm, rv, bn.weight, bn.bias, true, 0.3)
    S.same_bits(y, bn(x), 'batch_norm training')
    S.same_bits(rm, bn.running_mean, 'running_mean')
    S.same_bits(rv, bn.running_var, 'running_var')
    bn:eval()
    S.same_bits(F.batch_norm(x, rm, rv, bn.weight, bn.bias), bn(x), 'batch_norm eval')
    local inorm = nn.InstanceNorm1d(3, { affine = true, track_running_stats = true }):double()
    local irm, irv = inorm.running_mean:clone(), inorm.running_var:clone()
    S.same_bits(F.instance_norm(x, irm, irv, inorm.weight, inorm.bias), inorm(x), 'instance_norm')
    S.same_bits(irm, inorm.running_mean, 'instance running_mean')
    local gn = nn.GroupNorm(3, 3):double()
    S.same_bits(F.group_norm(x, 3, gn.weight, gn.bias), gn(x), 'group_norm')
    local ln = nn.LayerNorm({ 3, 5 }, { eps = 1e-3 }):double()
    S.same_bits(F.layer_norm(x, { 3, 5 }, ln.weight, ln.bias, { eps = 1e-3 }), ln(x), 'layer_norm')
    local e = nn.Embedding(6, 2, { padding_idx = 2 })
    local ids = nl.tensor({ { 1, 2 }, { 6, 2 } }, 'int64')
    S.same_bits(F.embedding(ids, e.weight, { padding_idx = 2 }), e(ids), 'embedding')
    local bag = nn.EmbeddingBag(6, 2, { mode = 'max' })
    S.same_bits(F.embedding_bag(ids, bag.weight, nil, { mode = 'max' }), bag(ids), 'embedding_bag')
  end)
end)

describe("PyTorch's options taken only as false", function()
  -- a port passes them at their defaults: sparse = False, add_bias_kv =
  -- False (they were refused as unknown options, where from_pretrained took
  -- them); true is refused by name (MultiheadAttention's add_bias_kv and
  -- add_zero_attn are taken now: attention_spec)
  it('Embedding, EmbeddingBag and MultiheadAttention take false, and give the defaults\' values', function()
    local ids = nl.tensor({ { 1, 3 }, { 5, 3 } }, 'int64')
    local function same_module(build, opts, call)
      nl.manual_seed(7)
      local a = build({})
      nl.manual_seed(7)
      local b = build(opts)
      S.same_bits(call(b), call(a), 'with false')
    end
    same_module(function(o) o.padding_idx = 3; return nn.Embedding(6, 2, o) end,
                { sparse = false, scale_grad_by_freq = false }, function(m) return m(ids) end)
    same_module(function(o) o.mode = 'sum'; return nn.EmbeddingBag(6, 2, o) end,
                { sparse = false, scale_grad_by_freq = false }, function(m) return m(ids) end)
    local x = nl.randn(3, 2, 4)
    same_module(function(o) return nn.MultiheadAttention(4, 2, o) end, { add_bias_kv = false, add_zero_attn = false },
                function(m) return (m(x)) end)
    local w = nl.randn(6, 2)
    S.same_bits(F.embedding(ids, w, 3, nil, 2, false, false), F.embedding(ids, w, 3), 'F.embedding positional')
    S.same_bits(F.embedding(ids, w, { padding_idx = 3, sparse = false, scale_grad_by_freq = false }),
                F.embedding(ids, w, 3), 'F.embedding options')
    S.same_bits(F.embedding_bag(ids, w, nil, { mode = 'sum', sparse = false, scale_grad_by_freq = false }),
                F.embedding_bag(ids, w, nil, { mode = 'sum' }), 'F.embedding_bag')
  end)

  it('refuse true by name', function()
    local w = nl.randn(6, 2)
    local one = nl.tensor({ 1 }, 'int64')
    assert.has_error(function() nn.Embedding(6, 2, { sparse = true }) end, 'Embedding: sparse is not supported (only false)')
    assert.has_error(function() nn.Embedding(6, 2, { scale_grad_by_freq = 1 }) end,
                     'Embedding: scale_grad_by_freq must be a boolean (true or false), got 1')
    assert.has_error(function() nn.EmbeddingBag(6, 2, { scale_grad_by_freq = true }) end,
                     'EmbeddingBag: scale_grad_by_freq is not supported (only false)')
    assert.has_error(function() nn.EmbeddingBag(6, 2, { sparse = true }) end,
                     'EmbeddingBag: sparse is not supported (only false)')
    assert.has_error(function() F.embedding(one, w, nil, nil, 2, false, true) end,
                     'embedding: sparse is not supported (only false)')
    assert.has_error(function() F.embedding(one, w, nil, nil, 2, false, false, 1) end,
                     'embedding: takes (input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse), '
                     .. 'got 8 arguments')
    assert.has_error(function() F.embedding_bag(one, w, one, { scale_grad_by_freq = true }) end,
                     'embedding_bag: scale_grad_by_freq is not supported (only false)')
    assert.has_error(function() nn.MultiheadAttention(4, 2, { add_bias_kv = 1 }) end,
                     'MultiheadAttention: add_bias_kv must be a boolean (true or false), got 1')
  end)

  -- scale_grad_by_freq, taken by Embedding, F.embedding and from_pretrained
  -- (it was refused): each row's gradient divided by the count of its id
  -- in the call's ids, the padding row's still 0
  it("Embedding's scale_grad_by_freq = true gives PyTorch 1.13's gradients", function()
    local ids = nl.tensor({ { 1, 2, 2 }, { 2, 5, 4 } }, 'int64')
    local g = nl.arange(1, 13):double():view(2, 3, 2)
    -- PyTorch 1.13, padding_idx 3 (0-based; nnlua's 4)
    local want = { { 1, 2 }, { 5, 6 }, { 0, 0 }, { 0, 0 }, { 9, 10 } }
    local w = nl.zeros({ 5, 2 }, 'float64'):requires_grad()
    local y = F.embedding(ids, w, 4, nil, 2, true)
    ;(y * g):sum():backward()
    assert.are.same(want, w.grad:totable())
    w.grad = nil
    ;(F.embedding(ids, w, { padding_idx = 4, scale_grad_by_freq = true }) * g):sum():backward()
    assert.are.same(want, w.grad:totable())
    local m = nn.Embedding(5, 2, { padding_idx = 4, scale_grad_by_freq = true }):double()
    ;(m(ids) * g):sum():backward()
    assert.are.same(want, m.weight.grad:totable())
    has(tostring(m), 'Embedding(5, 2, padding_idx=4, scale_grad_by_freq=true)')
    -- from_pretrained without padding_idx: 1.13 gives row 4 [11, 12]
    local p = nn.Embedding.from_pretrained(nl.zeros({ 5, 2 }, 'float64'), false, nil, nil, 2, true)
    ;(p(ids) * g):sum():backward()
    assert.are.same({ { 1, 2 }, { 5, 6 }, { 0, 0 }, { 11, 12 }, { 9, 10 } }, p.weight.grad:totable())
    -- the values are the rows as they are
    S.same_bits(m(ids), nn.Embedding.from_pretrained(m.weight)(ids), 'values')
  end)
end)

-- ---- nn.utils ----------------------------------------------------------------------

describe('nn.utils clip_grad_value_, parameters_to_vector and vector_to_parameters', function()
  it('clip_grad_value_ clamps each gradient in place into [-v, v], skipping missing ones', function()
    local a, b, c = nl.zeros(2, 2):requires_grad(), nl.zeros(3):requires_grad(), nl.zeros(1):requires_grad()
    a.grad = nl.tensor({ { -3, 0.25 }, { 2, 0 / 0 } })
    b.grad = nl.tensor({ 0.5, -0.5, 1e9 })
    local ga = a.grad
    assert.is_nil(nn.utils.clip_grad_value_({ a, b, c }, 0.5))
    assert.is_true(rawequal(ga, a.grad) or ga.ptr == a.grad.ptr)   -- in place
    local got = S.flat(a.grad)
    assert.are.same({ -0.5, 0.25, 0.5 }, { got[1], got[2], got[3] })
    assert.is_true(got[4] ~= got[4])                               -- NaN stays NaN, as clamp_
    assert.are.same({ 0.5, -0.5, 0.5 }, S.flat(b.grad))
    assert.is_nil(c.grad)
    nl.optim.clip_grad_value(b, 0)                                 -- one tensor; 0 zeroes
    assert.are.same({ 0, 0, 0 }, S.flat(b.grad))
  end)

  it('parameters_to_vector concatenates the flattened parameters in the graph; vector_to_parameters copies back', function()
    local m = nn.Sequential(nn.Linear(3, 2), nn.PReLU(2))
    local ps = m:parameters()
    local v = nn.utils.parameters_to_vector(ps)
    assert.are.same({ 6 + 2 + 2 }, v:shape())
    local want = {}
    for _, p in ipairs(ps) do for _, e in ipairs(S.flat(p)) do want[#want + 1] = e end end
    assert.are.same(want, S.flat(v))
    -- its gradient reaches each parameter
    ;(v * nl.arange(1, 11):float()):sum():backward()
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, ps[1].grad:totable())
    assert.are.same({ 9, 10 }, ps[3].grad:totable())
    local opt = nl.optim.SGD(ps, { lr = 0.1 })
    nn.utils.vector_to_parameters(nl.arange(0, 10):float() * 0.5, ps)
    assert.are.same({ { 0, 0.5, 1 }, { 1.5, 2, 2.5 } }, ps[1]:totable())
    assert.are.same({ 4, 4.5 }, ps[3]:totable())
    -- the same tensors, so the optimizer still updates them
    assert.is_true(rawequal(ps[1], m[1].weight))
    opt:step()
    S.expect_close(ps[1], nl.tensor({ { -0.1, 0.3, 0.7 }, { 1.1, 1.5, 1.9 } }), 'stepped', 1e-6, 1e-6)
    S.same_bits(nn.utils.parameters_to_vector(m:parameters()), nl.optim.parameters_to_vector(ps), 'alias')
  end)

  it('name themselves when misused', function()
    local p = nl.zeros(3):requires_grad()
    has(errmsg(nn.utils.clip_grad_value_, { p }, -1), 'clip_grad_value: expected a number >= 0 as clip_value, got -1')
    has(errmsg(nn.utils.clip_grad_value_, { p }, 0 / 0), 'clip_grad_value')
    has(errmsg(nn.utils.clip_grad_value_, { p, 3 }, 1), 'clip_grad_value: element 2 of the list is not a tensor')
    has(errmsg(nn.utils.parameters_to_vector, {}), 'parameters_to_vector: got an empty parameter list')
    has(errmsg(nn.utils.parameters_to_vector, { p, nl.zeros(2):double() }),
        'parameters_to_vector: parameter 2 is float64 where the first is float32')
    has(errmsg(nn.utils.vector_to_parameters, nl.zeros(4), { p }), 'vector_to_parameters: the vector holds 4 elements and the parameters 3')
    has(errmsg(nn.utils.vector_to_parameters, nl.zeros(3, 1), { p }), 'vector_to_parameters: expected a 1-D vector, got shape [3,1]')
    has(errmsg(nn.utils.vector_to_parameters, nl.zeros(3):double(), { p }), 'vector_to_parameters: parameter 1 is float32 and the vector float64')
    has(errmsg(nn.utils.vector_to_parameters, 'x', { p }), 'vector_to_parameters: expected a tensor, got string')
  end)
end)

-- ---- fit's loss names ----------------------------------------------------------------

describe('fit with the new losses', function()
  local X = nl.tensor({ { 1, 0 }, { 0, 1 }, { 1, 1 }, { -1, 0 }, { 0, -1 }, { 2, 1 }, { -1, -2 } })
  local Y = nl.tensor({ { 1, 0, 1 }, { 0, 1, 1 }, { 1, 1, 0 }, { 0, 0, 1 }, { 1, 0, 0 }, { 1, 1, 1 }, { 0, 0, 0 } })

  it('evaluates multilabel_soft_margin over the whole set at any batch size, with logit accuracy', function()
    nl.manual_seed(101)
    local m = nn.Linear(2, 3)
    for _, loss in ipairs({ 'multilabel_soft_margin', nn.MultiLabelSoftMarginLoss(),
                            nn.MultiLabelSoftMarginLoss({ reduction = 'sum' }) }) do
      m:compile({ optimizer = 'sgd', loss = loss, metrics = { 'accuracy' } })
      local out = m(X)
      local summed = type(loss) ~= 'string' and loss.opts.reduction == 'sum'
      local want = F.multilabel_soft_margin_loss(out, Y, { reduction = summed and 'sum' or 'mean' }):item()
      local acc = out:gt(0):eq(Y):float():mean():item()
      for _, bs in ipairs({ 1, 3, 7 }) do
        local l, mt = m:evaluate(X, Y, { batch_size = bs })
        assert.is_true(S.close(l, want, 1e-6, 1e-7), ('%s at %d: %g vs %g'):format(tostring(loss), bs, l, want))
        -- (each batch's hits are a float32 mean, times its rows)
        assert.is_true(S.close(mt.accuracy, acc, 1e-6, 1e-7), ('accuracy %g vs %g'):format(mt.accuracy, acc))
      end
    end
    local h = m:fit(X, Y, { epochs = 2, batch_size = 3, verbose = 0 })
    assert.are.equal(2, #h.loss)
  end)

  it('evaluates multilabel_margin, and refuses its metrics and the distance triplet loss', function()
    local m = nn.Linear(2, 3)
    local T = nl.tensor({ { 1, 3, 0 }, { 2, 3, 0 }, { 1, 2, 0 }, { 3, 0, 0 }, { 1, 0, 0 }, { 1, 2, 3 }, { 0, 0, 0 } }, 'int64')
    m:compile({ optimizer = 'sgd', loss = 'multilabel_margin' })
    local want = F.multilabel_margin_loss(m(X), T):item()
    assert.is_true(S.close(m:evaluate(X, T, { batch_size = 2 }), want, 1e-6, 1e-7))
    has(errmsg(m.compile, m, { loss = nn.MultiLabelMarginLoss(), metrics = { 'accuracy' } }),
        "compile: metric 'accuracy' with nn.MultiLabelMarginLoss: its targets are lists of labels ended by 0")
    has(errmsg(m.compile, m, { loss = nn.TripletMarginWithDistanceLoss() }),
        'compile: nn.TripletMarginWithDistanceLoss takes three tensors (anchor, positive, negative)')
    has(errmsg(m.compile, m, { loss = F.triplet_margin_with_distance_loss }),
        'compile: nn.functional.triplet_margin_with_distance_loss takes three tensors')
  end)
end)

-- ---- errors ---------------------------------------------------------------------------

describe('misuse of the new pieces', function()
  it('PReLU and prelu', function()
    has(errmsg(nn.PReLU, 0), 'PReLU: num_parameters must be a positive whole number, got 0')
    has(errmsg(nn.PReLU, 2, 0 / 0), 'PReLU: init must be a finite number')
    has(errmsg(nn.PReLU, { num_parameter = 2 }), "PReLU: unknown option 'num_parameter'")
    has(errmsg(nn.PReLU(3), nl.zeros(2, 4)), 'prelu: weight holds 3 slopes for an input of 4 channels (dim 2 of shape [2,4]')
    has(errmsg(nn.PReLU(), nl.zeros(2):double()), 'PReLU: input of dtype float64 for a layer of float32 weights')
    has(errmsg(F.prelu, nl.zeros(2, 2), nl.zeros(2, 1)), "prelu: weight must be a 0-dim or 1-D tensor of the input's dtype")
    has(errmsg(F.prelu, nl.zeros({ 2 }, 'int64'), nl.zeros({ 1 }, 'int64')), 'prelu')
    has(errmsg(F.prelu, nl.zeros(2), 0.25), 'prelu: expected a tensor, got number')
    has(errmsg(F.prelu, nl.zeros(2), nl.zeros(1), 3), 'prelu: takes (input, weight), got 3 arguments')
  end)

  it('RReLU and rrelu', function()
    has(errmsg(nn.RReLU, 0.5, 0.2), 'RReLU: lower (0.5) must not be above upper (0.2)')
    has(errmsg(nn.RReLU, 0.1, 0 / 0), 'RReLU: lower and upper must be numbers (not NaN)')
    has(errmsg(nn.RReLU, 0.1, 0.2, 1), 'RReLU: expected no argument, or an inplace flag, got number')
    has(errmsg(nn.RReLU(), nl.zeros({ 2 }, 'int64')), 'RReLU')
    has(errmsg(F.rrelu, nl.zeros(2), { lower = 0.1, training = 1 }), 'rrelu: training must be a boolean')
    has(errmsg(F.rrelu, nl.zeros(2), 0.1, 0.2, 'yes'), 'rrelu: expected a boolean training flag')
    has(errmsg(F.rrelu, nl.zeros(2), { lower = 0.1 }, 0.3), 'rrelu: takes its options as a table or as arguments')
  end)

  it('the dropouts', function()
    has(errmsg(nn.Dropout1d, 1.5), 'Dropout1d: p must be a number in [0, 1], got 1.5')
    has(errmsg(nn.AlphaDropout, 0 / 0), 'AlphaDropout: p must be a number in [0, 1]')
    has(errmsg(nn.Dropout3d, 0.5, true, 3), 'Dropout3d: expected p and an inplace flag, got 3 arguments')
    has(errmsg(nn.Dropout1d(), nl.zeros(4)), 'Dropout1d: expected input (N, C, L) or (C, L), got shape [4]')
    has(errmsg(nn.Dropout3d(), nl.zeros(2, 3, 4)), 'Dropout3d: expected input (N, C, D, H, W) or (C, D, H, W), got shape [2,3,4]')
    has(errmsg(nn.FeatureAlphaDropout(), nl.zeros(4)), 'FeatureAlphaDropout: expected input (N, C, *) of at least 2 dims')
    has(errmsg(nn.AlphaDropout(), nl.ones({ 4 }, 'int64')), 'AlphaDropout')
    has(errmsg(F.alpha_dropout, nl.zeros(2), 2), 'alpha_dropout: p must be a number in [0, 1], got 2')
    has(errmsg(F.dropout1d, nl.zeros(2, 2), { p = 0.5, train = true }), "dropout1d: unknown option 'train'")
    has(errmsg(F.feature_alpha_dropout, nl.zeros(2, 2), 0.5, 'no'), 'feature_alpha_dropout: expected a boolean training flag')
  end)

  it('Bilinear and bilinear', function()
    has(errmsg(nn.Bilinear, 2, 0, 3), 'Bilinear: expected positive whole sizes in1_features, in2_features and out_features')
    has(errmsg(nn.Bilinear, 2, 3, 4, { biass = false }), "Bilinear: unknown option 'biass'")
    has(errmsg(nn.Bilinear(2, 3, 4), nl.zeros(5, 2), nl.zeros(5, 2)),
        'Bilinear: expected input1 (..., 2) and input2 (..., 3), got [5,2] and [5,2]')
    has(errmsg(nn.Bilinear(2, 3, 4), nl.zeros(5, 2), nl.zeros(4, 3)),
        'bilinear: input1 [5,2] and input2 [4,3] must have the same leading (batch) dims')
    has(errmsg(nn.Bilinear(2, 3, 4), nl.zeros(5, 2):double(), nl.zeros(5, 3)), 'Bilinear: input of dtype float64')
    has(errmsg(F.bilinear, nl.zeros(2), nl.zeros(3), nl.zeros(4, 2, 3), nl.zeros(5)),
        'bilinear: expected input1 (..., in1), input2 (..., in2), weight (out, in1, in2) and bias (out) of one float dtype')
    has(errmsg(F.bilinear, nl.zeros(2), nl.zeros(3), nl.zeros(4, 3, 3)), 'weight float32 [4,3,3]')
  end)

  it('LocalResponseNorm and local_response_norm', function()
    has(errmsg(nn.LocalResponseNorm, 0), 'LocalResponseNorm: size must be a positive whole number of channels, got 0')
    has(errmsg(nn.LocalResponseNorm, 3, 1 / 0), 'LocalResponseNorm: alpha must be a finite number')
    has(errmsg(nn.LocalResponseNorm, { size = 2, kk = 1 }), "LocalResponseNorm: unknown option 'kk'")
    has(errmsg(nn.LocalResponseNorm(2), nl.zeros(3, 4)),
        'LocalResponseNorm: expected input (N, C, *) of 3 or more dims, got shape [3,4]')
    has(errmsg(F.local_response_norm, nl.zeros(1, 2, 2), 2.5), 'local_response_norm: size must be a positive whole number')
    has(errmsg(F.local_response_norm, nl.zeros({ 1, 2, 2 }, 'int64'), 2), 'local_response_norm')
    -- an empty input comes back as it is, as PyTorch's
    assert.are.same({ 0, 3, 2 }, F.local_response_norm(nl.zeros(0, 3, 2), 2):shape())
    -- size, then a table of the rest (nnlua's (required, {options})), the
    -- same layer as the positional form
    local x = rand64({ 2, 4, 3 }, 31)
    assert.are.same(S.flat(nn.LocalResponseNorm(3, 1e-3, 0.5, 2)(x)),
                    S.flat(nn.LocalResponseNorm(3, { alpha = 1e-3, beta = 0.5, k = 2 })(x)))
    assert.are.same(S.flat(F.local_response_norm(x, 2, 1e-4, 0.75, 1)), S.flat(F.local_response_norm(x, 2, {})))
    has(errmsg(nn.LocalResponseNorm, 3, { size = 2 }), "LocalResponseNorm: unknown option 'size'")
    has(errmsg(nn.LocalResponseNorm, 3, { k = 1 }, 0.5), 'LocalResponseNorm: takes its options as a table or as arguments')
  end)

  it('the new losses', function()
    has(errmsg(nn.MultiLabelSoftMarginLoss, { reduction = 'avg' }),
        "multilabel_soft_margin_loss: reduction must be 'mean', 'sum' or 'none', got 'avg'")
    has(errmsg(nn.MultiLabelSoftMarginLoss, { weight = 2 }), 'multilabel_soft_margin_loss: weight must be a tensor')
    has(errmsg(nn.MultiLabelSoftMarginLoss(), nl.zeros(2, 3), nl.zeros(2, 2)),
        'multilabel_soft_margin_loss: expected a float input (..., C) and a target of its shape')
    has(errmsg(nn.MultiLabelSoftMarginLoss({ weight = nl.ones(2) }), nl.zeros(2, 3), nl.zeros(2, 3)),
        'multilabel_soft_margin_loss: weight must be a float32 tensor of the 3 classes (C), got float32 [2]')
    has(errmsg(nn.MultiLabelSoftMarginLoss(), nl.zeros(2, 3), nl.zeros(2, 3), {}),
        'MultiLabelSoftMarginLoss: takes (input, target), got 3 arguments; give options to the constructor')
    local x = nl.zeros(2, 3)
    has(errmsg(nn.MultiLabelMarginLoss(), x, nl.tensor({ { 1, 4, 0 }, { 0, 0, 0 } }, 'int64')),
        'multilabel_margin_loss: target label 4 out of range for 3 classes (labels count from 1; 0 ends a row\'s labels)')
    -- entries after the ending 0 are checked too, as PyTorch checks them
    has(errmsg(nn.MultiLabelMarginLoss(), x, nl.tensor({ { 1, 0, -1 }, { 0, 0, 0 } }, 'int64')),
        'multilabel_margin_loss: target label -1 out of range')
    has(errmsg(nn.MultiLabelMarginLoss(), x, nl.zeros(2, 3)), 'multilabel_margin_loss: target must be an int64 tensor')
    has(errmsg(nn.MultiLabelMarginLoss(), nl.zeros(2, 3, 1), nl.zeros({ 2, 3, 1 }, 'int64')),
        'multilabel_margin_loss: expected a float input (C) or (N, C) of at least one class, got float32 [2,3,1]')
    has(errmsg(nn.TripletMarginWithDistanceLoss, { distance_function = 3 }),
        'triplet_margin_with_distance_loss: distance_function must be a function or a module of two tensors, got 3')
    has(errmsg(nn.TripletMarginWithDistanceLoss, { margin = 0 / 0 }), 'triplet_margin_with_distance_loss: margin must be a finite number')
    has(errmsg(nn.TripletMarginWithDistanceLoss, { p = 2 }), "triplet_margin_with_distance_loss: unknown option 'p'")
    local t = nl.zeros(2, 3)
    has(errmsg(nn.TripletMarginWithDistanceLoss({ distance_function = function() return 1 end }), t, t, t),
        'triplet_margin_with_distance_loss: distance_function gave 1 for the anchor-positive pair, expected a tensor')
    has(errmsg(nn.TripletMarginWithDistanceLoss(), t, t, nl.zeros(4, 3)), 'pairwise_distance')
    has(errmsg(nn.TripletMarginWithDistanceLoss(), t, t), 'triplet_margin_with_distance_loss: expected a tensor, got nil')
    has(errmsg(nn.TripletMarginWithDistanceLoss(), t, t, t, t),
        'TripletMarginWithDistanceLoss: takes (anchor, positive, negative), got 4 arguments')
  end)

  it('the functional norms and embeddings', function()
    local x = nl.zeros(2, 4, 3)
    has(errmsg(F.layer_norm, x, { 4 }), 'layer_norm: input shape [2,4,3] does not end with [4]')
    has(errmsg(F.layer_norm, x, 3, nl.ones(4)), 'layer_norm: weight must be a float32 tensor of shape [3] for input [2,4,3], got float32 [4]')
    has(errmsg(F.layer_norm, x, {}), 'layer_norm: normalized_shape must be a positive integer or a non-empty list')
    has(errmsg(F.layer_norm, x, 3, nil, nil, 'x'), 'layer_norm: expected a number eps')
    has(errmsg(F.layer_norm, x, 3, nil, nil, 1e-5, 2), 'layer_norm: takes at most 1 options after the tensors (eps), got 2')
    has(errmsg(F.group_norm, x, 3), "group_norm: the input's 4 channels (shape [2,4,3]) are not divisible by num_groups 3")
    has(errmsg(F.group_norm, nl.zeros(4), 2), 'group_norm: expected input (N, C, *), got shape [4]')
    has(errmsg(F.group_norm, x, 2, nil, nl.ones(4):double()), 'group_norm: bias must be a float32 tensor of shape [4]')
    -- one value per group is refused, as PyTorch 1.13's (eval mode too; an empty batch is not)
    has(errmsg(F.group_norm, nl.zeros(1, 3), 3), 'group_norm: needs more than one value per group, got input shape [1,3] with 3 groups')
    has(errmsg(F.group_norm, nl.zeros(1, 4, 1, 1), 4), 'group_norm: needs more than one value per group')
    has(errmsg(nn.GroupNorm(2, 2):eval(), nl.zeros(1, 2, 1)), 'GroupNorm: needs more than one value per group')
    assert.same({ 0, 3 }, F.group_norm(nl.zeros(0, 3), 3):shape())
    assert.same({ 2, 3 }, F.group_norm(nl.zeros(2, 3), 3):shape())
    has(errmsg(F.instance_norm, nl.zeros(2, 4, 1)), 'instance_norm: expected more than 1 spatial element when training')
    has(errmsg(F.instance_norm, x, nil, nil, nil, nil, false), 'instance_norm: use_input_stats = false needs running_mean and running_var')
    has(errmsg(F.instance_norm, x, nl.zeros(4)), 'instance_norm: give both running_mean and running_var, or neither')
    has(errmsg(F.batch_norm, x), 'batch_norm: eval (training = false) needs running_mean and running_var')
    has(errmsg(F.batch_norm, x, nl.zeros(3), nl.ones(3)), 'batch_norm: running_mean must be a float32 tensor of shape [4]')
    has(errmsg(F.batch_norm, nl.zeros(1, 4), nil, nil, nil, nil, { training = true }),
        'batch_norm: training needs more than one value per channel')
    has(errmsg(F.batch_norm, x, nil, nil, nil, nil, { train = true }), "batch_norm: unknown option 'train'")
    has(errmsg(F.batch_norm, nl.zeros({ 2, 4 }, 'int64'), nil, nil, nil, nil, true), 'batch_norm')
    local w = nl.randn(4, 2)
    has(errmsg(F.embedding, nl.tensor({ 5 }, 'int64'), w), 'embedding: id 5 out of range 1..4 (ids are 1-based')
    has(errmsg(F.embedding, nl.tensor({ 1 }), w), 'embedding: expected an int64 tensor of ids (1-based), got float32')
    has(errmsg(F.embedding, nl.tensor({ 1 }, 'int64'), nl.zeros(4)), 'embedding: weight must be a float (num_embeddings, embedding_dim) tensor')
    has(errmsg(F.embedding, nl.tensor({ 1 }, 'int64'), w, 0), 'embedding: padding_idx must be an id in 1..4 or -4..-1, got 0')
    has(errmsg(F.embedding, nl.tensor({ 1 }, 'int64'), w, { sparse = true }), 'embedding: sparse is not supported (only false)')
    has(errmsg(F.embedding, nl.tensor({ 1 }, 'int64'), w, nil, -1), 'embedding: max_norm must be a positive number, got -1')
    has(errmsg(F.embedding_bag, nl.tensor({ 1, 2 }, 'int64'), w), 'embedding_bag: 1-D input needs offsets')
    has(errmsg(F.embedding_bag, nl.tensor({ 1, 2 }, 'int64'), w, nl.tensor({ 2 }, 'int64')), 'embedding_bag: offsets[1] must be 1')
    has(errmsg(F.embedding_bag, nl.tensor({ { 1, 2 } }, 'int64'), w, nil, { mode = 'prod' }),
        "embedding_bag: mode must be 'sum', 'mean' or 'max', got 'prod'")
    has(errmsg(F.embedding_bag, nl.tensor({ { 1, 2 } }, 'int64'), w, nil, { per_sample_weights = nl.ones(1, 2) }),
        "embedding_bag: per_sample_weights are only supported for mode 'sum', got mode 'mean'")
  end)
end)
