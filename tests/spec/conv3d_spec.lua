-- The 3-D layers (STYLE 12): Conv3d, MaxPool3d, AvgPool3d,
-- AdaptiveAvgPool3d, AdaptiveMaxPool3d and their nn.functional forms.
-- Against PyTorch golden values (tests/golden/conv3d.lua, made by
-- gen_conv3d.py) in float32 and float64, some through non-contiguous views
-- or unbatched: forward and the gradients of (out * w):sum() for the input,
-- weight and bias; float64 gradchecks (h = 1e-6, tolerance 1e-5); one
-- thread against two, bit for bit; checkpoints; errors that name the op
-- and the shapes.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn
local F = nn.functional

local golden = dofile(S.root .. '/tests/golden/conv3d.lua')
local from_golden, flat = S.from_golden, S.flat

-- float32 sums in another order than PyTorch's; float64 to its rounding
local TOL = { float32 = { 1e-5, 1e-5 }, float64 = { 1e-12, 1e-12 } }
local expect_close = S.expect_close_by(TOL)

local error_of, has = S.errmsg, S.contains

-- this spec's own seeded values: rand(shape, dtype), a tensor of U(-1, 1)
local rand = S.rand_by(3303)

-- ---- against PyTorch --------------------------------------------------------------------

local build = {
  Conv3d = function(a, o) return nn.Conv3d(a[1], a[2], a[3], o) end,
  MaxPool3d = function(a, o) return nn.MaxPool3d(a[1], o) end,
  AvgPool3d = function(a, o) return nn.AvgPool3d(a[1], o) end,
  AdaptiveAvgPool3d = function(a) return nn.AdaptiveAvgPool3d(a[1]) end,
  AdaptiveMaxPool3d = function(a) return nn.AdaptiveMaxPool3d(a[1], a[2]) end,
}

-- the functional cases: (inputs, opts) -> out[, indices]
local fns = {
  conv3d = function(i, o) return F.conv3d(i[1], i[2], i[3], o) end,
  max_pool3d = function(i, o)
    local k = o.kernel_size
    return F.max_pool3d(i[1], k, { stride = o.stride, padding = o.padding, return_indices = o.return_indices })
  end,
  avg_pool3d = function(i, o)
    return F.avg_pool3d(i[1], o.kernel_size, { stride = o.stride, padding = o.padding, ceil_mode = o.ceil_mode,
                                               count_include_pad = o.count_include_pad })
  end,
}

describe('3-D convolution and pooling against PyTorch golden values', function()
  it('has a builder for every golden module and op, and a case for each', function()
    local seen = {}
    for _, c in ipairs(golden) do
      local f = c.kind == 'layer' and build[c.module] or fns[c.op]
      assert.is_function(f, 'no nnlua form for ' .. (c.module or c.op))
      seen[c.module or c.op] = true
    end
    for k in pairs(build) do assert.is_true(seen[k], 'no golden case for ' .. k) end
    for k in pairs(fns) do assert.is_true(seen[k], 'no golden case for ' .. k) end
  end)

  for _, c in ipairs(golden) do
    it(('%s (%s%s): forward and backward'):format(c.name, c.dtype, c.transposed and ', a transposed view' or ''),
      function()
        local out, idx, leaves, m
        if c.kind == 'layer' then
          local leaf = from_golden(c.input):requires_grad()
          leaves = { leaf }
          m = S.golden_state(build[c.module](c.args, c.opts), c)
          out, idx = m(c.transposed and leaf:transpose(-1, -2) or leaf)
        else
          leaves = {}
          for i, t in ipairs(c.inputs) do leaves[i] = t and from_golden(t):requires_grad() or nil end
          out, idx = fns[c.op]({ leaves[1], leaves[2], leaves[3] }, c.opts)
        end
        assert.are.equal(c.dtype, out:dtype())
        expect_close(out, c.out, c.name .. ' out', c.dtype)
        if c.indices then
          assert.are.equal('int64', idx:dtype())
          assert.are.same(c.indices.shape, idx:shape())
          assert.are.same(c.indices.data, flat(idx))
        else
          assert.is_nil(idx)
        end
        ;(out * from_golden(c.w)):sum():backward()
        if m then
          expect_close(leaves[1].grad, c.grad_input, c.name .. ' grad of the input', c.dtype)
          for _, g in ipairs(c.grads) do
            assert.is_not_nil(m[g.name].grad, c.name .. ': ' .. g.name .. ' has no grad')
            expect_close(m[g.name].grad, g.t, c.name .. ' grad of ' .. g.name, c.dtype)
          end
          assert.are.same(c.params, S.names_of(m:named_parameters()))
        else
          for i, g in ipairs(c.grads) do
            if g then expect_close(leaves[i].grad, g, ('%s grad of input %d'):format(c.name, i), c.dtype) end
          end
        end
      end)
  end
end)

-- ---- float64 gradient checks ----------------------------------------------------------------

local GC = { eps = 1e-6, atol = 1e-5, rtol = 1e-5 }
local gradcheck = S.gradcheck_by(GC)

describe('3-D layers: float64 finite differences', function()
  it('conv3d: input, weight and bias, with strides, padding, dilation and groups', function()
    local x = rand({ 2, 4, 4, 5, 4 }, 'float64'):requires_grad()
    local w = rand({ 4, 2, 2, 3, 2 }, 'float64'):requires_grad()
    local b = rand({ 4 }, 'float64'):requires_grad()
    gradcheck(function(a, k, c)
      return F.conv3d(a, k, c, { stride = { 2, 1, 2 }, padding = { 1, 1, 0 }, dilation = { 1, 2, 1 }, groups = 2 })
    end, { x, w, b })
  end)

  it('conv3d: a 1x1x1 kernel (the volume as its own col matrix) and padding=same', function()
    local x = rand({ 2, 2, 3, 2, 3 }, 'float64'):requires_grad()
    gradcheck(function(a, k) return F.conv3d(a, k, nil) end, { x, rand({ 3, 2, 1, 1, 1 }, 'float64'):requires_grad() })
    gradcheck(function(a, k) return F.conv3d(a, k, nil, { padding = 'same' }) end,
              { x, rand({ 2, 2, 2, 3, 2 }, 'float64'):requires_grad() })
  end)

  it('Conv3d with padding_mode reflect and replicate (unbatched), circular', function()
    for _, mode in ipairs({ 'reflect', 'replicate', 'circular' }) do
      local m = nn.Conv3d(2, 2, 3, { padding = { 1, 2, 1 }, padding_mode = mode }):double()
      local x = rand({ 2, 3, 4, 3 }, 'float64'):requires_grad()
      gradcheck(function(a, w) m.weight = w return m(a) end, { x, m.weight })
    end
  end)

  it('max_pool3d with dilation and ceil_mode, avg_pool3d with ceil_mode, padding and divisors', function()
    local x = rand({ 1, 2, 5, 6, 5 }, 'float64'):requires_grad()
    gradcheck(function(a)
      return F.max_pool3d(a, { 2, 3, 2 }, { stride = { 2, 2, 1 }, dilation = { 2, 1, 2 }, ceil_mode = true, padding = 1 })
    end, { x })
    for _, o in ipairs({ { count_include_pad = true }, { count_include_pad = false }, { divisor_override = 7 } }) do
      o.stride, o.padding, o.ceil_mode = { 2, 1, 2 }, 1, true
      gradcheck(function(a) return F.avg_pool3d(a, 3, o) end, { x })
    end
  end)

  it('adaptive_avg_pool3d and adaptive_max_pool3d, smaller and larger than the input', function()
    local x = rand({ 2, 1, 4, 5, 3 }, 'float64'):requires_grad()
    for _, size in ipairs({ { 3, 2, 2 }, { 5, 7, 4 } }) do
      gradcheck(function(a) return F.adaptive_avg_pool3d(a, size) end, { x })
      gradcheck(function(a) return F.adaptive_max_pool3d(a, size) end, { x })
    end
  end)
end)

-- ---- threads ----------------------------------------------------------------------------------

describe('3-D layers on one thread and on two', function()
  local saved
  before_each(function() saved = nl.get_num_threads() end)
  after_each(function() nl.set_num_threads(saved) end)

  -- f's outputs and the gradients of (out * w):sum() for its inputs
  local function results(threads, f, inputs)
    nl.set_num_threads(threads)
    local leaves = {}
    for i, t in ipairs(inputs) do leaves[i] = t:clone():requires_grad() end
    local out = f(unpack(leaves))
    local wv = {}
    for i = 1, out:numel() do wv[i] = (i * 0.37) % 1.3 - 0.6 end
    local w = nl.tensor(wv, out:dtype()):view(out:shape())
    ;(out * w):sum():backward()
    local r = { out }
    for i = 1, #leaves do r[#r + 1] = leaves[i].grad end
    return r
  end

  local function same_on_1_and_2(what, f, inputs)
    local one, two = results(1, f, inputs), results(2, f, inputs)
    for i = 1, #one do S.same_bits(two[i], one[i], ('%s: result %d'):format(what, i)) end
  end

  for _, dt in ipairs({ 'float32', 'float64' }) do
    it(('conv3d (%s): the batch over threads, and one image whose products share them'):format(dt), function()
      -- (past 2^21 multiply-adds, where a second thread joins: 4.4M and 3.5M)
      local w, b = rand({ 16, 4, 3, 3, 3 }, dt), rand({ 16 }, dt)
      local conv = function(x, k, c) return F.conv3d(x, k, c, { padding = 1, stride = { 1, 1, 2 } }) end
      same_on_1_and_2('a batch of 5', conv, { rand({ 5, 4, 8, 8, 16 }, dt), w, b })
      same_on_1_and_2('one image', conv, { rand({ 1, 4, 16, 16, 16 }, dt), w, b })
    end)
  end

  it('the pools over their planes', function()
    -- (each past 2^16 elements or taps, where a second thread joins)
    local x = rand({ 4, 8, 14, 14, 14 })
    same_on_1_and_2('max_pool3d', function(a) return F.max_pool3d(a, 3, { stride = 1, padding = 1 }) end, { x })
    same_on_1_and_2('avg_pool3d', function(a) return F.avg_pool3d(a, 3, { stride = 1, padding = 1 }) end, { x })
    same_on_1_and_2('adaptive_avg_pool3d', function(a) return F.adaptive_avg_pool3d(a, { 5, 6, 7 }) end, { x })
    same_on_1_and_2('adaptive_max_pool3d', function(a) return F.adaptive_max_pool3d(a, { 5, 6, 7 }) end, { x })
  end)
end)

-- ---- modules ----------------------------------------------------------------------------------

describe('3-D modules', function()
  it('print as PyTorch 1.13 prints them (bias=false as nnlua writes it)', function()
    assert.are.equal('Conv3d(2, 4, kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=(1, 1, 1))',
                     nn.Conv3d(2, 4, 3, { padding = 1 }):extra_repr():gsub('^', 'Conv3d(') .. ')')
    assert.are.equal("4, 6, kernel_size=(3, 2, 1), stride=(1, 1, 1), padding='same', dilation=(1, 2, 1), groups=2, "
      .. 'bias=false, padding_mode=circular',
      nn.Conv3d(4, 6, { 3, 2, 1 }, { padding = 'same', dilation = { 1, 2, 1 }, groups = 2,
                                    bias = false, padding_mode = 'circular' }):extra_repr())
    assert.are.equal('kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=false', nn.MaxPool3d(2):extra_repr())
    assert.are.equal('kernel_size=(3, 2, 3), stride=2, padding=1, ceil_mode=true, count_include_pad=false',
      nn.AvgPool3d({ 3, 2, 3 }, { stride = 2, padding = 1, ceil_mode = true, count_include_pad = false }):extra_repr())
    assert.are.equal('output_size=(1, 2, 3)', nn.AdaptiveMaxPool3d({ 1, 2, 3 }):extra_repr())
  end)

  it("Conv3d's parameters have PyTorch's names, shapes and default bounds", function()
    local m = nn.Conv3d(4, 6, { 3, 2, 1 }, { groups = 2 })
    assert.are.same({ 'weight', 'bias' }, S.names_of(m:named_parameters()))
    assert.are.same({ 6, 2, 3, 2, 1 }, m.weight:shape())
    -- kaiming_uniform(a = sqrt 5) over fan_in 12: bound 1/sqrt(12); bias the same
    local bound = 1 / math.sqrt(12)
    assert.is_true(m.weight:abs():max():item() <= bound and m.bias:abs():max():item() <= bound)
    assert.is_nil(nn.Conv3d(2, 2, 1, { bias = false }).bias)
  end)

  it('a network of them saves and loads back through nn.load with the same outputs', function()
    local net = nn.Sequential(nn.Conv3d(2, 4, 3, { padding = 'same', padding_mode = 'replicate' }), nn.ReLU(),
                              nn.MaxPool3d(2, { ceil_mode = true }), nn.AvgPool3d({ 1, 2, 1 }),
                              nn.AdaptiveAvgPool3d(2), nn.Conv3d(4, 3, 1, { groups = 1 }), nn.AdaptiveMaxPool3d(1),
                              nn.Flatten())
    local x = rand({ 2, 2, 5, 6, 5 })
    local path = S.tmpdir() .. '/c3.safetensors'
    net:save(path)
    local back = nn.load(path)
    assert.are.equal(tostring(net), tostring(back))
    S.same_bits(back(x), net(x), 'the loaded network')
    local sd = net:state_dict()
    S.same_bits(sd['0.weight'], net[1].weight, 'state_dict 0.weight')
    assert.is_not_nil(sd['5.bias'])
  end)

  it('an unbatched input gives the batched result without its batch dim, circular padding too', function()
    local m = nn.Conv3d(2, 3, { 2, 3, 2 }, { padding = 'same', padding_mode = 'circular' })
    local x = rand({ 2, 3, 4, 5 })
    S.same_bits(m(x), m(x:unsqueeze(1)):squeeze(1), 'Conv3d')
    local y, i = nn.MaxPool3d(2, { return_indices = true })(x)
    local yb, ib = nn.MaxPool3d(2, { return_indices = true })(x:unsqueeze(1))
    S.same_bits(y, yb:squeeze(1), 'MaxPool3d')
    S.same_bits(i, ib:squeeze(1), 'MaxPool3d indices')
  end)

  it('max pooling takes NaN as the maximum and the first of equal maxima, as PyTorch', function()
    -- torch.nn.functional.max_pool3d(x, 2, return_indices=True) on these
    -- values gives [[[[nan]]]], index 2 (0-based) and 2.0 at index 0 for the ones
    local x = nl.tensor({ 1, 0, 0 / 0, 1, 0, 1, -1, 1 }):view(1, 1, 2, 2, 2)
    local y, i = F.max_pool3d(x, 2, { return_indices = true })
    assert.is_true(y:item() ~= y:item())
    assert.are.equal(3, i:item())
    y, i = F.adaptive_max_pool3d(nl.full({ 1, 1, 2, 2, 2 }, 2), 1, true)
    assert.are.same({ 2, 1 }, { y:item(), i:item() })
  end)
end)

-- ---- errors -----------------------------------------------------------------------------------

describe('3-D layers refuse bad arguments, naming the op', function()
  local x = rand({ 2, 4, 5, 5, 5 })
  local cases = {
    { function() F.conv3d(x, rand({ 4, 4, 3, 3 })) end, 'conv3d: weight must be a 5-D float32 tensor' },
    { function() F.conv3d(rand({ 4, 5, 5 }), rand({ 4, 4, 3, 3, 3 })) end,
      'conv3d: input must be (N, C, D, H, W) or (C, D, H, W), got shape [4,5,5]' },
    { function() F.conv3d(x, rand({ 4, 3, 3, 3, 3 })) end, 'conv3d: input has 4 channels, weight expects 3' },
    { function() F.conv3d(x, rand({ 3, 2, 3, 3, 3 }), nil, { groups = 2 }) end,
      "conv3d: groups 2 must divide the input's 4 channels and the weight's 3 output channels" },
    { function() F.conv3d(x, rand({ 2, 4, 3, 3, 3 }), rand({ 3 })) end,
      'conv3d: bias must be a 1-D float32 tensor of the 2 output channels, got float32 [3]' },
    { function() F.conv3d(x, rand({ 2, 4, 3, 3, 3 }, 'float64')) end, 'conv3d: weight must be a 5-D float32 tensor' },
    { function() F.conv3d(x:long(), rand({ 2, 4, 3, 3, 3 })) end, 'conv3d: input must be a 5-D float tensor' },
    { function() F.conv3d(x, rand({ 2, 4, 3, 3, 7 })) end,
      'conv3d: output size [3,3,0] is too small: input [2,4,5,5,5], padding [0,0,0], kernel [3,3,7]' },
    { function() F.conv3d(x[1], rand({ 2, 4, 3, 3, 7 })) end, 'conv3d: output size [3,3,0] is too small: input [4,5,5,5]' },
    { function() F.conv3d(x, rand({ 2, 4, 3, 3, 3 }), nil, { stride = 0 }) end,
      'conv3d: stride must be an integer >= 1 or a list {d, h, w} of them, got 0' },
    { function() F.conv3d(x, rand({ 2, 4, 3, 3, 3 }), nil, { padding = { 1, 1 } }) end,
      "conv3d: padding must be 'valid', 'same', an integer >= 0 or a list {d, h, w} of them, got {1, 1}" },
    { function() F.conv3d(x, rand({ 2, 4, 3, 3, 3 }), nil, { padding = 'same', stride = 2 }) end,
      "conv3d: padding='same' needs stride 1" },
    { function() F.conv3d(x, rand({ 2, 4, 3, 3, 3 }), nil, { pad = 1 }) end, "conv3d: unknown option 'pad'" },
    { function() nn.Conv3d(4, 2, 3, { padding_mode = 'mirror' }) end, "Conv3d: padding_mode must be 'zeros'" },
    { function() nn.Conv3d(4, 3, 3, { groups = 2 }) end, 'Conv3d: groups 2 must divide in_channels 4 and out_channels 3' },
    { function() nn.Conv3d(3, 2, 3)(x) end, 'Conv3d: input has 4 channels, weight expects 3' },
    { function() nn.Conv3d(4, 2, 3)(x:double()) end, 'Conv3d: input of dtype float64 for a layer of float32 weights' },
    { function() nn.Conv3d(4, 2, 3, { padding = 5, padding_mode = 'reflect' })(x) end,
      "Conv3d: padding_mode 'reflect' needs each padding less than the dim's size: padding (5, 5) for dim 5 of input [2,4,5,5,5]" },
    { function() nn.Conv3d(4, 2, 7)(x[1]) end, 'Conv3d: output size [-1,-1,-1] is too small: input [4,5,5,5]' },
    { function() F.max_pool3d(x, 2, { padding = 2 }) end, 'max_pool3d: padding [2,2,2] must be between 0 and half the kernel [2,2,2]' },
    { function() F.max_pool3d(x, { 2, 2, 0 }) end, 'max_pool3d: kernel_size must be an integer >= 1' },
    { function() F.max_pool3d(rand({ 1, 1, 4, 4, 2 }), { 1, 1, 2 }, { dilation = { 1, 1, 3 }, padding = { 0, 0, 1 } }) end,
      'max_pool3d: the window at output column 1 has no tap inside input [1,1,4,4,2]' },
    { function() nn.MaxPool3d(6)(x[1]) end, 'max_pool3d: output size [0,0,0] is too small: input [4,5,5,5]' },
    { function() nn.MaxPool3d(2)(rand({ 4, 5, 5 })) end, 'MaxPool3d: input must be (N, C, D, H, W) or (C, D, H, W)' },
    { function() F.avg_pool3d(x, 2, { divisor_override = 0 }) end, 'avg_pool3d: divisor_override must be a positive integer, got 0' },
    { function() nn.AvgPool3d(2, { count_include_pad = 1 }) end, 'AvgPool3d: count_include_pad must be a boolean' },
    { function() F.avg_pool3d(x, 3, { padding = { 0, 2, 0 } }) end, 'avg_pool3d: padding [0,2,0] must be between 0 and half the kernel [3,3,3]' },
    { function() F.adaptive_avg_pool3d(x, { 2, -1, 2 }) end, 'adaptive_avg_pool3d: output_size must be an integer >= 0' },
    { function() F.adaptive_max_pool3d(rand({ 2, 3, 0, 4, 4 }), 2) end, 'adaptive_max_pool3d: input [2,3,0,4,4] has an empty volume' },
    { function() nn.AdaptiveMaxPool3d(2, { indices = true }) end, "AdaptiveMaxPool3d: unknown option 'indices'" },
    -- an unbatched input's shape is put back where the message names the
    -- input, and only there: a weight or bias of its batched shape
    -- [1,4,5,5,5] was shown as [4,5,5,5]
    { function() F.conv3d(rand({ 4, 5, 5, 5 }), rand({ 1, 4, 5, 5, 5 }, 'float64')) end,
      'conv3d: weight must be a 5-D float32 tensor (out_channels, in_channels/groups, kd, kh, kw), got float64 [1,4,5,5,5]' },
    { function() F.conv3d(rand({ 4, 5, 5, 5 }), rand({ 1, 4, 5, 5, 5 }), rand({ 1, 4, 5, 5, 5 })) end,
      'conv3d: bias must be a 1-D float32 tensor of the 1 output channels, got float32 [1,4,5,5,5]' },
    { function() F.conv3d(rand({ 4, 5, 5, 5 }), rand({ 1, 4, 5, 5, 5 }), nil, { groups = 2 }) end,
      "conv3d: groups 2 must divide the input's 4 channels and the weight's 1 output channels (input [4,5,5,5], weight [1,4,5,5,5])" },
    { function() F.conv3d(rand({ 4, 5, 5, 5 }):long(), rand({ 1, 4, 5, 5, 5 })) end,
      'conv3d: input must be a 5-D float tensor (N, C, D, H, W), got int64 [4,5,5,5]' },
    -- a window longer than 2^40: 2^24 * 2^40 overflowed int64, and these
    -- returned the input and 33 (PyTorch: the kernel is larger than the input)
    { function()
        F.max_pool3d(nl.arange(1, 5):float():view(1, 1, 1, 1, 4), { 1, 1, 2 ^ 24 + 1 },
                     { stride = 1, dilation = { 1, 1, 2 ^ 40 }, return_indices = true })
      end, 'max_pool3d: kernel [1,1,16777217] with dilation [1,1,1099511627776] spans more than 2^40' },
    { function() F.conv3d(nl.tensor({ 3 }):view(1, 1, 1, 1, 1), nl.ones(1, 1, 1, 1, 2 ^ 24 + 1), nil, { dilation = { 1, 1, 2 ^ 40 } }) end,
      'conv3d: kernel [1,1,16777217] with dilation [1,1,1099511627776] spans more than 2^40 (weight [1,1,1,1,16777217])' },
    -- an argument after the options table, or past PyTorch's positional
    -- ones, is refused, not dropped
    { function() F.max_pool3d(x, 2, nil, 0, 1, true, false, 3) end,
      'max_pool3d: takes (input, kernel_size, stride, padding, dilation, ceil_mode, return_indices), got 8 arguments' },
    { function() F.avg_pool3d(x, 2, {}, 1) end, 'avg_pool3d: takes (input, kernel_size, {options}), got 4 arguments' },
    { function() F.avg_pool3d(x, 2, 1, 0, false, true, nil, 1) end,
      'avg_pool3d: takes (input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override), got 8 arguments' },
    { function() F.conv3d(x, rand({ 2, 4, 3, 3, 3 }), nil, {}, 1) end,
      'conv3d: takes (input, weight, bias, {options}), got 5 arguments' },
    { function() F.conv3d(x, rand({ 2, 4, 3, 3, 3 }), nil, 1, 0, 1, 1, 5) end,
      'conv3d: takes (input, weight, bias, stride, padding, dilation, groups), got 8 arguments' },
    { function() F.conv3d(x, rand({ 2, 4, 3, 3, 3 }), nil, 0) end, 'conv3d: stride must be an integer >= 1' },
    { function() F.max_pool3d(x, 2, nil, 0, 1, 1) end, 'max_pool3d: ceil_mode must be a boolean' },
    { function() F.adaptive_avg_pool3d(x, 2, true) end, 'adaptive_avg_pool3d: takes (input, output_size), got 3 arguments' },
    { function() F.adaptive_max_pool3d(x, 2, true, 1) end,
      'adaptive_max_pool3d: takes (input, output_size, return_indices), got 4 arguments' },
  }
  for i, c in ipairs(cases) do
    it(('case %d: %s'):format(i, c[2]), function()
      has(error_of(c[1]), c[2])
    end)
  end

  -- PyTorch's F.conv3d(x, w, b, 1, 0, 1, 1) was refused ("takes (input,
  -- weight, bias, {options})"), and F.max_pool3d(x, 2, None, 0, 1, True)
  -- too: the positional order is PyTorch's, each read as the table form reads it
  it("F.conv3d, max_pool3d and avg_pool3d take PyTorch's positional options, as the table form", function()
    local x5, w5, b6 = rand({ 2, 4, 5, 6, 7 }), rand({ 6, 2, 3, 3, 3 }), rand({ 6 })
    local same = function(a, b, what) assert.are.same(flat(b), flat(a), what) end
    same(F.conv3d(x5, w5, b6, 2, 1, 1, 2), F.conv3d(x5, w5, b6, { stride = 2, padding = 1, groups = 2 }), 'conv3d')
    same(F.conv3d(x5, w5, nil, { 1, 2, 1 }, { 1, 0, 2 }, { 1, 1, 2 }, 2),
         F.conv3d(x5, w5, nil, { stride = { 1, 2, 1 }, padding = { 1, 0, 2 }, dilation = { 1, 1, 2 }, groups = 2 }),
         'conv3d triples')
    same(F.conv3d(x5, w5, b6, 1, 'same', 2, 2), F.conv3d(x5, w5, b6, { padding = 'same', dilation = 2, groups = 2 }),
         'same')
    same(F.conv3d(x5[1], w5, b6, nil, 1, nil, 2), F.conv3d(x5[1], w5, b6, { padding = 1, groups = 2 }), 'unbatched, nil')
    -- PyTorch 1.13: F.max_pool3d(x (2, 4, 5, 6, 7), 2, None, 0, 1, True) is (2, 4, 3, 3, 4)
    local y, i = F.max_pool3d(x5, 2, nil, 0, 1, true, true)
    assert.are.same({ 2, 4, 3, 3, 4 }, y:shape())
    local y2, i2 = F.max_pool3d(x5, 2, { ceil_mode = true, return_indices = true })
    same(y, y2, 'max_pool3d')
    same(i, i2, 'max_pool3d indices')
    same(F.max_pool3d(x5, 3, { 1, 2, 2 }, 1, 2), F.max_pool3d(x5, 3, { stride = { 1, 2, 2 }, padding = 1, dilation = 2 }),
         'max_pool3d dilation')
    -- PyTorch 1.13: F.avg_pool3d(x, 3, 2, 1, True, False, 5) is (2, 4, 3, 4, 4)
    local a = F.avg_pool3d(x5, 3, 2, 1, true, false, 5)
    assert.are.same({ 2, 4, 3, 4, 4 }, a:shape())
    same(a, F.avg_pool3d(x5, 3, { stride = 2, padding = 1, ceil_mode = true, count_include_pad = false,
                                  divisor_override = 5 }), 'avg_pool3d')
  end)

  it('takes a window of exactly 2^40: taps at -2^40 (padding) and 0, then 0 and 2^40', function()
    local y = F.conv3d(nl.tensor({ 3 }):view(1, 1, 1, 1, 1), nl.tensor({ 5, 7 }):view(1, 1, 1, 1, 2), nil,
                       { stride = { 1, 1, 2 ^ 40 }, padding = { 0, 0, 2 ^ 40 }, dilation = { 1, 1, 2 ^ 40 } })
    assert.are.same({ 21, 15 }, y:view(-1):totable())      -- PyTorch 1.13's
  end)
end)
