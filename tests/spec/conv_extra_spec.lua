-- The CNN pieces added after conv_spec's (STYLE 12): nn.functional.pad and
-- the padding modules, Conv1d/Conv2d's padding_mode. Against PyTorch golden
-- values (tests/golden/conv_extra.lua, made by gen_conv_extra.py) in
-- float32 and float64, some through non-contiguous views: forward and the
-- gradients of (out * w):sum(); float64 gradchecks (h = 1e-6, tolerance
-- 1e-5); closed forms; errors that name the op and the shapes.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn
local F = nn.functional

local golden = dofile(S.root .. '/tests/golden/conv_extra.lua')
local from_golden, flat = S.from_golden, S.flat

-- float32 sums in another order than PyTorch's; float64 to its rounding
local TOL = { float32 = { 1e-5, 1e-5 }, float64 = { 1e-12, 1e-12 } }

local function expect_close(got, want, what, dtype)
  local t = TOL[dtype or 'float32']
  S.expect_close(got, want, what, t[1], t[2])
end

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, 'expected an error, got none')
  return tostring(err)
end

local function has(msg, plain)
  assert.is_truthy(msg:find(plain, 1, true), ('message %q should mention %q'):format(msg, plain))
end

-- this spec's own seeded values: a tensor of shape, U(-1, 1)
local U = S.rng(6161)
local function rand(shape, dtype)
  local v = {}
  for i = 1, S.numel(shape) do v[i] = U(-1, 1) end
  return nl.tensor(v, dtype or 'float32'):view(shape)
end

-- ---- against PyTorch --------------------------------------------------------------------

local build = {
  Conv2d = function(a, o) return nn.Conv2d(a[1], a[2], a[3], o) end,
  Conv1d = function(a, o) return nn.Conv1d(a[1], a[2], a[3], o) end,
  ZeroPad2d = function(a) return nn.ZeroPad2d(a[1]) end,
  ConstantPad1d = function(a) return nn.ConstantPad1d(a[1], a[2]) end,
  ConstantPad2d = function(a) return nn.ConstantPad2d(a[1], a[2]) end,
  ReflectionPad1d = function(a) return nn.ReflectionPad1d(a[1]) end,
  ReflectionPad2d = function(a) return nn.ReflectionPad2d(a[1]) end,
  ReplicationPad1d = function(a) return nn.ReplicationPad1d(a[1]) end,
  ReplicationPad2d = function(a) return nn.ReplicationPad2d(a[1]) end,
}

local fns = {
  pad = function(c, x) return F.pad(x, c.pads, c.mode, c.value) end,
}

-- the module of case c in its dtype, its parameters set from the golden state
local function make(c)
  local m = build[c.module](c.args, c.opts)
  if c.dtype == 'float64' then m:double() end
  for _, s in ipairs(c.state) do
    assert.is_true(nl.is_tensor(m[s.name]), c.name .. ': module has no field ' .. s.name)
    nl.no_grad(function() m[s.name]:copy_(from_golden(s.t)) end)
  end
  return m
end

describe('padding and convolution extras against PyTorch golden values', function()
  it('has a builder for every golden module and op, and a case for each', function()
    local seen = {}
    for _, c in ipairs(golden) do
      if c.kind == 'layer' then
        assert.is_function(build[c.module], 'no nnlua module for ' .. c.module)
        seen[c.module] = true
      else
        assert.is_function(fns[c.op], 'no nnlua function for ' .. c.op)
        seen[c.op] = true
      end
    end
    for k in pairs(build) do assert.is_true(seen[k], 'no golden case for ' .. k) end
    for k in pairs(fns) do assert.is_true(seen[k], 'no golden case for ' .. k) end
  end)

  for _, c in ipairs(golden) do
    it(('%s (%s%s): forward and backward'):format(c.name, c.dtype, c.transposed and ', a transposed view' or ''),
      function()
        local leaf = from_golden(c.input):requires_grad()
        local x = c.transposed and leaf:transpose(-1, -2) or leaf
        local m = c.kind == 'layer' and make(c) or nil
        local out, idx
        if m then out, idx = m(x) else out, idx = fns[c.op](c, x) end
        assert.are.equal(c.dtype, out:dtype())
        expect_close(out, c.out, c.name .. ' out', c.dtype)
        if c.indices then
          assert.are.equal('int64', idx:dtype())
          assert.are.same(c.indices.shape, idx:shape())
          assert.are.same(c.indices.data, flat(idx))
        end
        ;(out * from_golden(c.w)):sum():backward()
        assert.is_not_nil(leaf.grad, c.name .. ': the input has no grad')
        expect_close(leaf.grad, c.grad_input, c.name .. ' grad of the input', c.dtype)
        for _, g in ipairs(c.grads or {}) do
          local p = m[g.name]
          assert.is_not_nil(p.grad, c.name .. ': ' .. g.name .. ' has no grad')
          expect_close(p.grad, g.t, c.name .. ' grad of ' .. g.name, c.dtype)
        end
        if m then
          local names = {}
          for i, kv in ipairs(m:named_parameters()) do names[i] = kv[1] end
          assert.are.same(c.params, names)
        end
      end)
  end
end)

-- ---- float64 gradient checks ----------------------------------------------------------------

local GC = { eps = 1e-6, atol = 1e-5, rtol = 1e-5 }
local function gradcheck(f, inputs)
  local ok, msg = nl.gradcheck(f, inputs, GC)
  assert.is_true(ok, msg)
end

describe('float64 gradchecks', function()
  local pad_cases = {
    { 'constant with a value and crops', { 2, 3, 4, 5 }, { 2, -1, -1, 3 }, 'constant', 0.5 },
    { 'reflect 1-D', { 2, 2, 5 }, { 4, 3 }, 'reflect' },
    { 'reflect 2-D, one side cropped', { 1, 2, 4, 5 }, { 2, -2, 3, 1 }, 'reflect' },
    { 'replicate past the size', { 2, 2, 3 }, { 5, 7 }, 'replicate' },
    { 'replicate 2-D unbatched', { 2, 3, 4 }, { 1, 2, 3, 0 }, 'replicate' },
    { 'circular 2-D, wrapping whole', { 1, 2, 3, 4 }, { 4, 2, 3, 3 }, 'circular' },
    { 'circular after a crop', { 2, 1, 6 }, { -2, 3 }, 'circular' },
  }
  for _, c in ipairs(pad_cases) do
    it('pad ' .. c[1], function()
      gradcheck(function(x) return F.pad(x, c[3], c[4], c[5]) end, { rand(c[2], 'float64'):requires_grad() })
    end)
  end

  for _, mode in ipairs({ 'reflect', 'replicate', 'circular' }) do
    it('Conv2d padding_mode ' .. mode .. ' with stride, dilation and groups: input, weight, bias', function()
      local m = nn.Conv2d(4, 2, { 3, 2 }, { stride = { 1, 2 }, padding = { 2, 1 }, dilation = { 2, 1 }, groups = 2,
                                            padding_mode = mode }):double()
      local x = rand({ 2, 4, 5, 6 }, 'float64'):requires_grad()
      gradcheck(function(xx, w, b)
        return F.conv2d(F.pad(xx, { 1, 1, 2, 2 }, mode), w, b, { stride = { 1, 2 }, dilation = { 2, 1 }, groups = 2 })
      end, { x, m.weight, m.bias })
      -- the module is that composition
      local want = F.conv2d(F.pad(x, { 1, 1, 2, 2 }, mode), m.weight, m.bias,
                            { stride = { 1, 2 }, dilation = { 2, 1 }, groups = 2 })
      expect_close(m(x), want, 'Conv2d ' .. mode, 'float64')
      gradcheck(function(xx) return m(xx) end, { x })
    end)
    it('Conv1d padding_mode ' .. mode .. " with padding 'same' (an even kernel)", function()
      local m = nn.Conv1d(2, 3, 4, { padding = 'same', padding_mode = mode }):double()
      gradcheck(function(xx) return m(xx) end, { rand({ 2, 2, 7 }, 'float64'):requires_grad() })
    end)
  end
end)

-- ---- behaviour ------------------------------------------------------------------------------

describe('pad', function()
  it('follows the closed forms of each mode on 0..4', function()
    local x = nl.arange(0, 5):double():view(1, 1, 5)
    assert.are.same({ 2, 1, 0, 1, 2, 3, 4, 3, 2 }, flat(F.pad(x, { 2, 2 }, 'reflect')))
    assert.are.same({ 0, 0, 0, 1, 2, 3, 4, 4, 4 }, flat(F.pad(x, { 2, 2 }, 'replicate')))
    assert.are.same({ 3, 4, 0, 1, 2, 3, 4, 0, 1 }, flat(F.pad(x, { 2, 2 }, 'circular')))
    assert.are.same({ 9, 9, 0, 1, 2, 3, 4, 9, 9 }, flat(F.pad(x, { 2, 2 }, 'constant', 9)))
    assert.are.same({ 1, 2, 3 }, flat(F.pad(x, { -1, -1 })))
    -- the default mode is constant with 0, and int64 tensors pad too
    assert.are.same({ 0, 1, 2, 0 }, flat(F.pad(nl.tensor({ 1, 2 }, 'int64'), { 1, 1 })))
  end)

  it('takes non-contiguous inputs and gives what the contiguous copy gives', function()
    local x = rand({ 2, 5, 4, 3 }):permute(1, 4, 2, 3)
    for _, mode in ipairs({ 'constant', 'reflect', 'replicate', 'circular' }) do
      S.same_bits(F.pad(x, { 1, 2, 3, 1 }, mode), F.pad(x:contiguous(), { 1, 2, 3, 1 }, mode), mode)
    end
  end)

  it('refuses bad padding, naming the op, the padding and the input shape', function()
    local x = rand({ 2, 3, 4 })
    has(error_of(F.pad, x, { 1, 2, 3 }), 'pad: padding must be a list of an even number')
    has(error_of(F.pad, x, { 1.5, 1 }), 'pad: padding must hold integers, got 1.5 at position 1')
    has(error_of(F.pad, x, { 1, 1 }, 'wrap'), "pad: mode must be 'constant', 'reflect', 'replicate' or 'circular'")
    has(error_of(F.pad, x, { 1, 1, 1, 1, 1, 1, 1, 1 }), 'pad: 4 padding pairs for the 3 dims of input [2,3,4]')
    has(error_of(F.pad, x, { -3, -2 }), 'pad: padding (-3, -2) leaves dim 3 of input [2,3,4] with -1 elements')
    has(error_of(F.pad, x, { 4, 0 }, 'reflect'),
        "pad: mode 'reflect' needs each padding less than the dim's size: padding (4, 0) for dim 3 of input [2,3,4]")
    has(error_of(F.pad, x, { -2, -2 }, 'replicate'), 'padding (-2, -2) leaves dim 3 of input [2,3,4] with 0 elements')
    has(error_of(F.pad, x, { 5, 0 }, 'circular'), "pad: mode 'circular' wraps a dim at most once")
    has(error_of(F.pad, x, { -2, 3 }, 'circular'), '(2 elements after cropping)')
    has(error_of(F.pad, rand({ 3, 4 }), { 1, 1 }, 'circular'),
        "pad: mode 'circular' with 1 padding pair needs a 3-D input (N, C, L), got [3,4]")
    has(error_of(F.pad, rand({ 4 }), { 1, 1 }, 'reflect'), "pad: mode 'reflect' with 1 padding pair needs a 2-D or 3-D input, got [4]")
    has(error_of(F.pad, x, { 1, 1, 1, 1, 1, 1 }, 'reflect'), "pad: mode 'reflect' pads the last 1 or 2 dims")
    has(error_of(F.pad, x, { 1, 1 }, 'reflect', 2), "pad: mode 'reflect' takes no value (got 2)")
    has(error_of(F.pad, x, { 2 ^ 40, 0 }, 'replicate'), 'pad: output [2,3,')
    has(error_of(F.pad, x, { 2 ^ 40, 0 }, 'replicate'), 'is too large')
    has(error_of(nn.ReflectionPad2d(3), x), "ReflectionPad2d: mode 'reflect' needs each padding less than")
    has(error_of(nn.ReflectionPad1d, { 1, 2, 3 }), 'ReflectionPad1d: padding must be an integer or a list of 2 integers')
    has(error_of(nn.ConstantPad2d, 1), 'ConstantPad2d: value must be a number, got nil')
    has(error_of(nn.ZeroPad2d, 1, 2), 'ZeroPad2d: expected padding, got 2 arguments')
  end)

  it('modules print as PyTorch prints them and save their arguments', function()
    assert.are.equal('ReflectionPad2d((2, 2, 2, 2))', tostring(nn.ReflectionPad2d(2)):match('^[^\n]*'))
    assert.are.equal('ZeroPad2d((1, 2, 3, 4))', tostring(nn.ZeroPad2d({ 1, 2, 3, 4 })):match('^[^\n]*'))
    assert.are.equal('ConstantPad1d(padding=(2, 2), value=3.5)', tostring(nn.ConstantPad1d(2, 3.5)):match('^[^\n]*'))
    local dir = S.tmpdir()
    local m = nn.Sequential(nn.ReplicationPad2d({ 1, 0, 2, 1 }), nn.Conv2d(2, 2, 3, { padding_mode = 'circular', padding = 1 }))
    m:save(dir .. '/m.safetensors')
    local back = nn.load(dir .. '/m.safetensors')
    local x = rand({ 1, 2, 4, 4 })
    S.same_bits(back(x), m(x), 'reloaded')
  end)
end)

describe('Conv1d and Conv2d padding_mode', function()
  it("refuses an unknown mode, naming the layer", function()
    has(error_of(nn.Conv2d, 2, 2, 3, { padding_mode = 'mirror' }),
        "Conv2d: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got 'mirror'")
    has(error_of(nn.Conv1d, 2, 2, 3, { padding_mode = 1 }), 'Conv1d: padding_mode must be')
  end)

  it('names the layer and the unbatched input it was given when the padding does not fit', function()
    has(error_of(nn.Conv2d(2, 2, 3, { padding = 3, padding_mode = 'reflect' }), rand({ 2, 3, 5 })),
        "Conv2d: mode 'reflect' needs each padding less than the dim's size: padding (3, 3) for dim 2 of input [2,3,5]")
    has(error_of(nn.Conv1d(2, 2, 3, { padding = 4, padding_mode = 'circular' }), rand({ 2, 3 })),
        "Conv1d: mode 'circular' wraps a dim at most once: padding (4, 4) for dim 2 of input [2,3]")
  end)

  it("'zeros' is the plain convolution, and prints as PyTorch prints the others", function()
    nl.manual_seed(3)
    local a = nn.Conv2d(2, 3, 3, { padding = 1 })
    local b = nn.Conv2d(2, 3, 3, { padding = 1, padding_mode = 'zeros' })
    nl.no_grad(function() b.weight:copy_(a.weight); b.bias:copy_(a.bias) end)
    local x = rand({ 2, 2, 5, 5 })
    S.same_bits(b(x), a(x), 'zeros')
    assert.are.equal('Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), padding_mode=reflect)',
      tostring(nn.Conv2d(2, 3, 3, { padding = 1, padding_mode = 'reflect' })):match('^[^\n]*'))
  end)

  it('runs unfused in nn.Sequential before MaxPool2d(2) and ReLU (the fused op pads with zeros)', function()
    local conv = nn.Conv2d(2, 4, 3, { padding = 1, padding_mode = 'replicate' })
    local seq = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2))
    local x = rand({ 2, 2, 6, 6 })
    S.same_bits(seq(x), F.max_pool2d(conv(x):relu(), 2), 'Sequential')
  end)
end)
