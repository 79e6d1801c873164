-- The CNN pieces added after conv_spec's (STYLE 12): nn.functional.pad and
-- the padding modules, Conv1d/Conv2d's padding_mode, ConvTranspose1d/2d
-- (its kernels also against nl_conv2d_reference's plain loops, of which it
-- is the input gradient, on one and two threads), the 1-D pools and the
-- adaptive max pools. Against PyTorch golden
-- values (tests/golden/conv_extra.lua, made by gen_conv_extra.py) in
-- float32 and float64, some through non-contiguous views: forward and the
-- gradients of (out * w):sum(); float64 gradchecks (h = 1e-6, tolerance
-- 1e-5); closed forms; errors that name the op and the shapes.
local ffi = require 'ffi'
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn
local F = nn.functional

local golden = dofile(S.root .. '/tests/golden/conv_extra.lua')
local from_golden, flat = S.from_golden, S.flat

-- float32 sums in another order than PyTorch's; float64 to its rounding
local TOL = { float32 = { 1e-5, 1e-5 }, float64 = { 1e-12, 1e-12 } }

local expect_close = S.expect_close_by(TOL)

local error_of, has = S.errmsg, S.contains

-- this spec's own seeded values: rand(shape, dtype), a tensor of U(-1, 1)
local rand, U = S.rand_by(6161)

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
  ConvTranspose2d = function(a, o) return nn.ConvTranspose2d(a[1], a[2], a[3], o) end,
  ConvTranspose1d = function(a, o) return nn.ConvTranspose1d(a[1], a[2], a[3], o) end,
  MaxPool1d = function(a, o) return nn.MaxPool1d(a[1], o) end,
  AvgPool1d = function(a, o) return nn.AvgPool1d(a[1], o) end,
  AdaptiveAvgPool1d = function(a) return nn.AdaptiveAvgPool1d(a[1]) end,
  AdaptiveMaxPool2d = function(a) return nn.AdaptiveMaxPool2d(a[1], a[2]) end,
  AdaptiveMaxPool1d = function(a) return nn.AdaptiveMaxPool1d(a[1], a[2]) end,
}

local fns = {
  pad = function(c, x) return F.pad(x, c.pads, c.mode, c.value) end,
}

-- the module of case c in its dtype, its parameters set from the golden state
local function make(c) return S.golden_state(build[c.module](c.args, c.opts), c) end

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
        if m then out, idx = m(x, c.output_size) else out, idx = fns[c.op](c, x) end
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
local gradcheck = S.gradcheck_by(GC)

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
    has(error_of(F.pad, x, { 1, 1, 1, 1, 1, 1, 1, 1 }, 'reflect'), "pad: mode 'reflect' pads the last 1, 2 or 3 dims")
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

-- ---- transposed convolution ------------------------------------------------------------------

local lib = nl._lib
local ref_out, ref_gx, ref_gw, ref_gb = ffi.new('nl_tensor *[1]'), ffi.new('nl_tensor *[1]'),
                                        ffi.new('nl_tensor *[1]'), ffi.new('nl_tensor *[1]')

-- nl_conv2d_reference of x (N, C, H, W) by w for output gradient g: out,
-- gx, gw, gb (sums in double, plain loops)
local function conv_reference(x, w, g, o)
  nl._check(lib.nl_conv2d_reference(x.ptr, w.ptr, nil, g.ptr, o.stride[1], o.stride[2], o.padding[1], o.padding[2],
    o.dilation[1], o.dilation[2], o.groups, ref_out, ref_gx, ref_gw, ref_gb))
  return nl._wrap(ref_out[0]), nl._wrap(ref_gx[0]), nl._wrap(ref_gw[0]), nl._wrap(ref_gb[0])
end

describe('conv_transpose2d: the kernels against the plain reference loops', function()
  local saved
  before_each(function() saved = nl.get_num_threads() end)
  after_each(function() nl.set_num_threads(saved) end)

  -- {N, Ci, H, W, Co, kh, kw, stride, padding, dilation, groups, output_padding}
  local CONFIGS = {
    { 2, 3, 4, 5, 4, 3, 3, { 1, 1 }, { 0, 0 }, { 1, 1 }, 1, { 0, 0 } },
    { 3, 4, 5, 4, 6, 3, 2, { 2, 3 }, { 1, 1 }, { 2, 1 }, 2, { 1, 2 } },
    { 2, 6, 3, 3, 3, 1, 1, { 2, 2 }, { 0, 0 }, { 1, 1 }, 3, { 1, 0 } },       -- pointwise, depthwise-like
    { 1, 1, 14, 14, 8, 3, 3, { 1, 1 }, { 1, 1 }, { 1, 1 }, 1, { 0, 0 } },     -- one channel in (small K as a conv)
    { 9, 8, 7, 7, 16, 3, 3, { 2, 2 }, { 1, 1 }, { 1, 1 }, 1, { 1, 1 } },      -- blocks shared among threads
    -- 32 channels and more each way: the channels-last (rows) kernels of conv2d's backward and forward
    { 3, 64, 12, 12, 32, 3, 3, { 1, 1 }, { 1, 1 }, { 1, 1 }, 1, { 0, 0 } },
    { 2, 32, 9, 11, 64, 3, 3, { 1, 1 }, { 1, 1 }, { 2, 1 }, 1, { 0, 0 } },
    { 2, 32, 6, 6, 32, 4, 4, { 2, 2 }, { 1, 1 }, { 1, 1 }, 1, { 0, 0 } },     -- a GAN's upsampling layer
  }
  for _, threads in ipairs({ 1, 2 }) do
    for _, dtype in ipairs({ 'float32', 'float64' }) do
      for ci, cf in ipairs(CONFIGS) do
        it(('config %d (%s, %d thread%s): output and gradients'):format(ci, dtype, threads, threads > 1 and 's' or ''),
          function()
            nl.set_num_threads(threads)
            local N, Ci, H, W, Co, kh, kw = unpack(cf, 1, 7)
            local o = { stride = cf[8], padding = cf[9], dilation = cf[10], groups = cf[11], output_padding = cf[12] }
            local x = rand({ N, Ci, H, W }, dtype):requires_grad()
            local w = rand({ Ci, Co / o.groups, kh, kw }, dtype):requires_grad()
            local b = rand({ Co }, dtype):requires_grad()
            local y = F.conv_transpose2d(x, w, b, o)
            local g = rand(y:shape(), dtype)
            ;(y * g):sum():backward()
            -- y is the input gradient of the convolution of a y-shaped
            -- image for output gradient x; x's gradient that convolution of
            -- g, w's the convolution's weight gradient (input g, output
            -- gradient x); b's g summed over all but the channels
            local _, want_y = conv_reference(nl.zeros(y:shape(), dtype), w:detach(), x:detach(), o)
            local want_gx, _, want_gw = conv_reference(g, w:detach(), x:detach(), o)
            local tol = dtype == 'float32' and 2e-5 or 1e-12
            local by = b:detach():view(1, Co, 1, 1)
            S.expect_close(y, want_y + by, 'out', tol, tol)
            S.expect_close(x.grad, want_gx, 'grad of x', tol, tol)
            S.expect_close(w.grad, want_gw, 'grad of w', tol, tol * 10)
            S.expect_close(b.grad, g:sum(4):sum(3):sum(1), 'grad of b', tol, tol * 10)
          end)
      end
    end
  end

  it('takes non-contiguous inputs and weights, and an empty batch', function()
    local x = rand({ 2, 5, 6, 3 }):permute(1, 4, 2, 3)       -- (2, 3, 5, 6), strided
    local w = rand({ 3, 4, 3, 3 }):transpose(3, 4)
    local b = rand({ 4 })
    local o = { stride = 2, padding = 1, output_padding = 1 }
    S.same_bits(F.conv_transpose2d(x, w, b, o), F.conv_transpose2d(x:contiguous(), w:contiguous(), b, o), 'strided')
    local e = nl.zeros(0, 3, 5, 6):requires_grad()
    local wr = w:contiguous():requires_grad()
    local y = F.conv_transpose2d(e, wr, nil, o)
    assert.are.same({ 0, 4, 10, 12 }, y:shape())
    y:sum():backward()
    assert.are.same({ 0, 3, 5, 6 }, e.grad:shape())
    assert.are.equal(0, wr.grad:abs():sum():item())
  end)
end)

describe('ConvTranspose1d and ConvTranspose2d', function()
  it('are the functional forms with the modules\' weights; PyTorch\'s layout and default init', function()
    nl.manual_seed(7)
    local m = nn.ConvTranspose2d(4, 6, { 3, 2 }, { stride = 2, groups = 2 })
    assert.are.same({ 4, 3, 3, 2 }, m.weight:shape())
    assert.are.same({ 6 }, m.bias:shape())
    -- kaiming_uniform(a = sqrt 5) over fan_in = out/groups * kh * kw = 18:
    -- U(-1/sqrt 18, 1/sqrt 18), the bias too
    local bound = 1 / math.sqrt(18)
    local wmax, bmax = m.weight:abs():max():item(), m.bias:abs():max():item()
    assert.is_true(wmax <= bound and wmax > 0.8 * bound, 'weight bound ' .. wmax)
    assert.is_true(bmax <= bound, 'bias bound ' .. bmax)
    local x = rand({ 2, 4, 3, 3 })
    S.same_bits(m(x), F.conv_transpose2d(x, m.weight, m.bias, { stride = 2, groups = 2 }), 'module vs functional')
    local m1 = nn.ConvTranspose1d(2, 3, 4, { stride = 3, padding = 1, bias = false })
    assert.are.same({ 2, 3, 4 }, m1.weight:shape())
    assert.is_nil(m1.bias)
    local x1 = rand({ 2, 2, 5 })
    S.same_bits(m1(x1), F.conv_transpose1d(x1, m1.weight, nil, { stride = 3, padding = 1 }), '1-D')
    assert.are.equal('ConvTranspose2d(4, 6, kernel_size=(3, 2), stride=(2, 2), groups=2)', tostring(m):match('^[^\n]*'))
    assert.are.equal('ConvTranspose1d(2, 3, kernel_size=(4,), stride=(3,), padding=(1,), bias=false)',
      tostring(m1):match('^[^\n]*'))
  end)

  it('a stride-s transposed convolution of a 1x1 kernel spreads the input s apart (closed form)', function()
    local x = nl.tensor({ 1, 2, 3, 4 }, 'float64'):view(1, 1, 2, 2)
    local y = F.conv_transpose2d(x, nl.full({ 1, 1, 1, 1 }, 2, 'float64'), nil, { stride = 3, output_padding = 1 })
    assert.are.same({ 2, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 8, 0, 0, 0, 0, 0, 0 }, flat(y))
  end)

  it('is the adjoint of Conv2d: <conv(a), b> = <a, conv_transpose(b)>', function()
    local o = { stride = { 2, 1 }, padding = { 1, 2 }, dilation = { 1, 2 }, groups = 2 }
    local w = rand({ 4, 3, 3, 2 }, 'float64')
    local a = rand({ 2, 6, 8, 6 }, 'float64')     -- H: 8 -> 4 -> 7 + output_padding 1
    local ca = F.conv2d(a, w, nil, o)
    local b = rand(ca:shape(), 'float64')
    local o2 = { stride = o.stride, padding = o.padding, dilation = o.dilation, groups = 2, output_padding = { 1, 0 } }
    local tb = F.conv_transpose2d(b, w, nil, o2)
    assert.are.same(a:shape(), tb:shape())
    local lhs, rhs = (ca * b):sum():item(), (a * tb):sum():item()
    assert.is_true(math.abs(lhs - rhs) <= 1e-12 * math.abs(lhs), lhs .. ' vs ' .. rhs)
  end)

  it('refuses bad options and shapes, naming the op and the shapes', function()
    has(error_of(nn.ConvTranspose2d, 2, 3, 3, { stride = 2, output_padding = 2 }),
        'ConvTranspose2d: output_padding [2,2] must be smaller than the stride [2,2] or the dilation [1,1]')
    has(error_of(nn.ConvTranspose1d, 2, 3, 3, { output_padding = 1 }),
        'ConvTranspose1d: output_padding [1] must be smaller than the stride [1] or the dilation [1]')
    has(error_of(nn.ConvTranspose2d, 2, 3, 3, { padding_mode = 'reflect' }),
        "ConvTranspose2d: only padding_mode 'zeros' is supported (as in PyTorch), got 'reflect'")
    has(error_of(nn.ConvTranspose2d, 2, 3, 3, { padding = 'same' }), 'ConvTranspose2d: padding must be an integer >= 0')
    has(error_of(nn.ConvTranspose2d, 4, 3, 3, { groups = 2 }), 'ConvTranspose2d: groups 2 must divide in_channels 4 and out_channels 3')
    has(error_of(nn.ConvTranspose2d, 2, 3, 3, { output_padding = 1, stride = 2, foo = 1 }), "ConvTranspose2d: unknown option 'foo'")
    local m = nn.ConvTranspose2d(2, 4, 3, { stride = 2, padding = 1 })
    has(error_of(m, rand({ 1, 3, 4, 4 })), 'ConvTranspose2d: input has 3 channels, weight expects 2 (input [1,3,4,4], weight [2,4,3,3])')
    has(error_of(m, rand({ 2, 4 })), 'ConvTranspose2d: input must be (N, C, H, W) or (C, H, W), got shape [2,4]')
    has(error_of(m, rand({ 1, 2, 4, 4 }, 'float64')), 'ConvTranspose2d: expected a float input, a weight of its dtype')
    has(error_of(m, rand({ 1, 2, 4, 4 }), { 9, 8 }),
        'ConvTranspose2d: requested an output size of [9,8], but valid sizes range from [7,7] to [8,8] (for an input of [4,4])')
    has(error_of(m, rand({ 1, 2, 4, 4 }), { 1, 8, 8 }), 'ConvTranspose2d: output_size must be a list of 2 sizes (or 4')
    has(error_of(nn.ConvTranspose2d(2, 3, 3, { padding = 5 }), rand({ 2, 4, 4 })),
        'ConvTranspose2d: output size [-4,-4] is too small: input [2,4,4], padding [5,5], kernel [3,3]')
    has(error_of(nn.ConvTranspose1d(2, 3, 3, { padding = 5 }), rand({ 2, 4 })),
        'ConvTranspose1d: output size [-4] is too small: input [2,4], padding [5], kernel [3]')
    has(error_of(F.conv_transpose2d, rand({ 1, 2, 3, 3 }), rand({ 2, 3, 3 })), 'conv_transpose2d: expected input (N, C, H, W)')
    has(error_of(F.conv_transpose1d, rand({ 1, 3, 3 }), rand({ 2, 3, 3 }), rand({ 3 })),
        'conv_transpose1d: input has 3 channels, weight expects 2 (input [1,3,3], weight [2,3,3])')
    has(error_of(F.conv_transpose2d, rand({ 1, 2, 3, 3 }), rand({ 2, 3, 3, 3 }), rand({ 4 })),
        'conv_transpose2d: expected a float input, a weight of its dtype and a bias of the 3 output channels')
    has(error_of(F.conv_transpose2d, rand({ 1, 2, 3, 3 }), rand({ 2, 3, 3, 3 }), nil, { stride = 2 ^ 30 }),
        'conv_transpose2d: output size')
    -- the C op checks the output size it is given against the input
    has(error_of(function()
      return nl._wrap(lib.nl_conv_transpose2d(rand({ 1, 2, 3, 3 }).ptr, rand({ 2, 3, 3, 3 }).ptr, nil, 1, 1, 0, 0, 1,
                                              1, 1, 6, 5))
    end), 'conv_transpose2d: output size [6,5] does not fit input [1,2,3,3]')
  end)
end)

describe('float64 gradchecks of the transposed convolutions', function()
  local cases = {
    { 'plain', { 2, 3, 3, 4 }, { 3, 2, 3, 3 }, {} },
    { 'stride 2, padding 1, output_padding 1', { 1, 2, 3, 3 }, { 2, 3, 3, 3 }, { stride = 2, padding = 1, output_padding = 1 } },
    { 'dilation 2, groups 2, rect kernel', { 2, 4, 3, 3 }, { 4, 1, 2, 3 }, { dilation = 2, groups = 2, stride = { 1, 2 } } },
    { 'output_padding past the stride (dilation 3)', { 1, 2, 3, 2 }, { 2, 2, 2, 2 }, { dilation = 3, output_padding = 2 } },
  }
  for _, c in ipairs(cases) do
    it('conv_transpose2d ' .. c[1] .. ': input, weight and bias', function()
      local x = rand(c[2], 'float64'):requires_grad()
      local w = rand(c[3], 'float64'):requires_grad()
      local b = rand({ c[3][2] * (c[4].groups or 1) }, 'float64'):requires_grad()
      gradcheck(function(xx, ww, bb) return F.conv_transpose2d(xx, ww, bb, c[4]) end, { x, w, b })
    end)
  end
  it('conv_transpose1d with everything, on a strided input view', function()
    local x = rand({ 2, 6, 4 }, 'float64'):requires_grad()
    local w = rand({ 4, 2, 3 }, 'float64'):requires_grad()
    local b = rand({ 4 }, 'float64'):requires_grad()
    gradcheck(function(xx, ww, bb)
      return F.conv_transpose1d(xx:transpose(2, 3), ww, bb, { stride = 2, padding = 1, output_padding = 1, dilation = 2, groups = 2 })
    end, { x, w, b })
  end)
end)

-- ---- 1-D pools and adaptive max pooling ------------------------------------------------------

-- all-distinct values (max pooling without ties), shuffled
local function distinct(shape, dtype)
  local n = S.numel(shape)
  local v = {}
  for i = 1, n do v[i] = (i - n / 2) / n * 4 end
  for i = n, 2, -1 do
    local j = math.min(i, 1 + math.floor(U(0, 1) * i))
    v[i], v[j] = v[j], v[i]
  end
  return nl.tensor(v, dtype or 'float32'):view(shape)
end

describe('1-D pools and adaptive max pooling', function()
  it('max_pool1d and avg_pool1d of kernel 2, stride 2 are the max and mean of each pair (closed forms)', function()
    local x = rand({ 2, 3, 8 }, 'float64')
    local y, idx = F.max_pool1d(x, 2, { return_indices = true })
    S.same_bits(y, x:view(2, 3, 4, 2):max(4), 'max')
    S.same_bits(idx, x:view(2, 3, 4, 2):argmax(4) + nl.arange(0, 8, 2):long():view(1, 1, 4), 'indices')
    S.expect_close(F.avg_pool1d(x, 2), x:view(2, 3, 4, 2):mean(4), 'mean', 1e-15, 1e-15)
  end)

  it('adaptive pools to the input length are the identity, to 1 the max and the mean', function()
    local x = distinct({ 2, 3, 7 }, 'float64')
    S.same_bits(F.adaptive_avg_pool1d(x, 7), x, 'identity')
    S.same_bits(F.adaptive_max_pool1d(x, 7), x, 'identity')
    S.same_bits(F.adaptive_max_pool1d(x, 1), x:max(3, true), 'max')
    S.expect_close(F.adaptive_avg_pool1d(x, 1), x:mean(3, true), 'mean', 1e-15, 1e-15)
    local x2 = distinct({ 2, 2, 4, 5 })
    local y, idx = F.adaptive_max_pool2d(x2, 1, true)
    S.same_bits(y, x2:view(2, 2, 20):max(3, true):view(2, 2, 1, 1), '2-D max')
    S.same_bits(idx, x2:view(2, 2, 20):argmax(3, true):view(2, 2, 1, 1), '2-D index')
  end)

  it('adaptive_max_pool2d: NaN wins (the last NaN), ties go to the first, a window of -inf to its first place', function()
    local nan, inf = 0 / 0, math.huge
    -- a 2x8 plane in 1x4 windows of 2x2; PyTorch 1.13 gives nan, 5, -inf, nan
    -- at 9, 3, 5, 15 (1-based), in float32 and float64
    local x = nl.tensor({ { 1, nan, 5, 5, -inf, -inf, 2, nan },
                          { nan, 0, 5, 3, -inf, -inf, nan, 9 } }):view(1, 1, 2, 8)
    for _, dt in ipairs({ 'float', 'double' }) do
      local xd = x[dt](x):detach():requires_grad()
      local y, idx = F.adaptive_max_pool2d(xd, { 1, 4 }, true)
      local v = flat(y)
      assert.is_true(v[1] ~= v[1], dt .. ': NaN wins')
      assert.are.same({ 5, -inf }, { v[2], v[3] }, dt)
      assert.is_true(v[4] ~= v[4], dt .. ': NaN wins over 9')
      assert.are.same({ 9, 3, 5, 15 }, flat(idx), dt)
      y:sum():backward()
      local g = flat(xd.grad)
      for i, at in ipairs({ 9, 3, 5, 15 }) do assert.are.equal(1, g[at], dt .. ' gradient at window ' .. i) end
    end
  end)

  it('float32 and float64 agree on maxima, indices and gradients where windows overlap', function()
    local x32 = distinct({ 2, 3, 5, 3 })
    local x64 = x32:double():requires_grad()
    x32:requires_grad()
    local y32, i32 = F.adaptive_max_pool2d(x32, { 7, 4 }, true)
    local y64, i64 = F.adaptive_max_pool2d(x64, { 7, 4 }, true)
    assert.are.same(flat(y64), flat(y32))
    assert.are.same(flat(i64), flat(i32))
    local g = rand(y32:shape())
    ;(y32 * g):sum():backward()
    ;(y64 * g:double()):sum():backward()
    S.expect_close(x32.grad, x64.grad, 'grads', 1e-6, 1e-6)
  end)

  it('modules are their functional forms and print as PyTorch prints them', function()
    local x = distinct({ 2, 3, 9 })
    S.same_bits(nn.MaxPool1d(3, { stride = 2, padding = 1 })(x), F.max_pool1d(x, 3, { stride = 2, padding = 1 }), 'max')
    S.same_bits(nn.AvgPool1d(3, 1)(x), F.avg_pool1d(x, 3, { stride = 1 }), 'avg, stride as a number')
    local _, i1 = nn.AdaptiveMaxPool1d(4, { return_indices = true })(x)
    local _, i2 = F.adaptive_max_pool1d(x, 4, true)
    S.same_bits(i1, i2, 'indices')
    assert.are.equal('MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=false)',
      tostring(nn.MaxPool1d(3)):match('^[^\n]*'))
    assert.are.equal('AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))', tostring(nn.AvgPool1d(3)):match('^[^\n]*'))
    assert.are.equal('AdaptiveAvgPool1d(output_size=3)', tostring(nn.AdaptiveAvgPool1d(3)):match('^[^\n]*'))
    assert.are.equal('AdaptiveMaxPool2d(output_size=(2, 3))', tostring(nn.AdaptiveMaxPool2d({ 2, 3 })):match('^[^\n]*'))
  end)

  it('errors name the 1-D op, its sizes and the caller\'s shape', function()
    local x = rand({ 2, 5 })
    has(error_of(F.max_pool1d, rand({ 1, 2, 5 }), 2, { padding = 2 }),
        'max_pool1d: padding [2] must be between 0 and half the kernel [2]')
    has(error_of(nn.MaxPool1d(7), x), 'MaxPool1d: output size [0] is too small: input [2,5], padding [0], kernel [7] with dilation [1], stride [7]')
    has(error_of(nn.AvgPool1d(6), rand({ 1, 2, 5 })), 'AvgPool1d: output size [0] is too small: input [1,2,5]')
    has(error_of(nn.AvgPool1d(2), rand({ 1, 2, 3, 4 })), 'AvgPool1d: input must be (N, C, L) or (C, L), got shape [1,2,3,4]')
    has(error_of(nn.AvgPool1d, 2, { divisor_override = 2 }), "AvgPool1d: unknown option 'divisor_override'")
    has(error_of(nn.MaxPool1d, { 2, 2 }), 'MaxPool1d: kernel_size must be an integer >= 1')
    has(error_of(nn.AdaptiveAvgPool1d(2), rand({ 1, 2, 0 })), 'AdaptiveAvgPool1d: input [1,2,0] has an empty plane')
    has(error_of(nn.AdaptiveMaxPool1d, -1), 'AdaptiveMaxPool1d: output_size must be an integer >= 0, got -1')
    -- (the 2-D modules name their C op, as AdaptiveAvgPool2d does, with the caller's shape)
    has(error_of(nn.AdaptiveMaxPool2d(2), rand({ 2, 0, 3 })), 'adaptive_max_pool2d: input [2,0,3] has an empty plane')
    has(error_of(nn.AdaptiveMaxPool2d(2), rand({ 3 })), 'AdaptiveMaxPool2d: input must be (N, C, H, W) or (C, H, W), got shape [3]')
    has(error_of(F.adaptive_max_pool2d, rand({ 3, 3 }), 2), 'adaptive_max_pool2d: input must be (N, C, H, W) or (C, H, W), got shape [3,3]')
    has(error_of(F.adaptive_max_pool2d, rand({ 2, 0, 3 }), 2), 'adaptive_max_pool2d: input [2,0,3] has an empty plane')
    has(error_of(F.max_pool2d, rand({ 2, 3, 3 }), 2, { padding = 2 }), 'max_pool2d: padding [2,2] must be between 0 and half the kernel [2,2]')
    has(error_of(F.avg_pool2d, rand({ 2, 3, 3 }):long(), 2), 'avg_pool2d: input must be a 4-D float tensor (N, C, H, W), got int64 [2,3,3]')
    has(error_of(nn.AdaptiveMaxPool2d, 2, { indices = true }), "AdaptiveMaxPool2d: unknown option 'indices'")
  end)
end)

-- PyTorch's positional forms: F.max_pool2d(x, k, stride, padding, dilation,
-- ceil_mode, return_indices), F.avg_pool2d(x, k, stride, padding, ceil_mode,
-- count_include_pad, divisor_override), and the 1-D ones alike (a nil
-- stride, then more, dropped them: F.max_pool2d(x, 2, nil, 0, 1, true)
-- pooled without ceil_mode; a number stride was refused as options). The
-- values are PyTorch 1.13's of x = (37 i mod 101), i from 0, indices + 1.
describe('the F pools take PyTorch\'s positional arguments', function()
  local function x4() return nl.arange(2 * 7 * 8, 'float32'):mul(37):remainder(101):view(1, 2, 7, 8) end
  local function x3() return nl.arange(2 * 9, 'float32'):mul(37):remainder(101):view(1, 2, 9) end

  it('max_pool2d and avg_pool2d', function()
    local y, i = F.max_pool2d(x4(), 3, 2, 1, 1, true, true)
    assert.are.same({ 1, 2, 4, 5 }, y:shape())
    assert.are.equal(3233, y:sum():item())
    assert.are.equal(971 + 40, i:sum():item())
    y = F.avg_pool2d(x4(), 3, 2, 1, true, false, 2)
    assert.are.same({ 1, 2, 4, 5 }, y:shape())
    assert.are.equal(5820.5, y:sum():item())
    y = F.avg_pool2d(x4(), 3, 2, 1, true, false)
    assert.is_true(math.abs(y:sum():item() - 1915.1666259765625) < 1e-3)
    assert.are.same({ 1, 2, 3, 7 }, F.max_pool2d(x4(), 2, { 2, 1 }):shape())   -- a list stride
    assert.are.same({ 1, 2, 4, 4 }, F.max_pool2d(x4(), 2, nil, 0, 1, true):shape())
    -- the same as the options table
    S.same_bits(F.max_pool2d(x4(), 3, 2, 1, 2), F.max_pool2d(x4(), 3, { stride = 2, padding = 1, dilation = 2 }), 'max')
  end)

  it('max_pool1d and avg_pool1d', function()
    local y, i = F.max_pool1d(x3(), 2, 2, 1, 1, true, true)
    assert.are.same({ { { 0, 74, 47, 84, 94 }, { 30, 67, 77, 50, 87 } } }, y:totable())
    assert.are.same({ { { 1, 3, 5, 6, 9 }, { 1, 2, 5, 7, 8 } } }, i:totable())
    y = F.avg_pool1d(x3(), 3, 2, 1, true, false)
    S.expect_close_by({ float32 = { 1e-6, 1e-5 } })(y, nl.tensor({ { { 18.5, 40.33333206176758, 47.0, 53.66666793823242, 75.5 },
      { 48.5, 36.66666793823242, 43.33333206176758, 50.0, 55.0 } } }), 'avg_pool1d')
    y = F.avg_pool1d(x3(), 3, 2, 1, true)
    S.expect_close_by({ float32 = { 1e-6, 1e-5 } })(y, nl.tensor({ { { 12.333333015441895, 40.33333206176758, 47.0,
      53.66666793823242, 50.33333206176758 }, { 32.33333206176758, 36.66666793823242, 43.33333206176758, 50.0,
      36.66666793823242 } } }), 'avg_pool1d count_include_pad')
  end)

  it('refuse arguments past theirs, and after an options table, naming the op', function()
    local x = x4()
    has(error_of(F.max_pool2d, x, 2, 2, 0, 1, false, false, 1),
        'max_pool2d: takes (input, kernel_size, stride, padding, dilation, ceil_mode, return_indices), got 8 arguments')
    has(error_of(F.max_pool2d, x, 2, { stride = 1 }, 1),
        "max_pool2d: takes (input, kernel_size, {options}), got 4 arguments; options go in one table")
    has(error_of(F.avg_pool2d, x, 2, {}, 1), 'avg_pool2d: takes (input, kernel_size, {options}), got 4 arguments')
    has(error_of(F.avg_pool2d, x, 2, 2, 0, false, true, 1, 0),
        'avg_pool2d: takes (input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override), got 8 arguments')
    has(error_of(F.max_pool1d, x3(), 2, 2, 0, 1, 1), 'max_pool1d: ceil_mode must be a boolean (true or false), got 1')
    has(error_of(F.avg_pool1d, x3(), 2, 2, 0, false, true, 1),
        'avg_pool1d: takes (input, kernel_size, stride, padding, ceil_mode, count_include_pad), got 7 arguments')
    has(error_of(F.avg_pool1d, x3(), 2, { stride = 1 }, true), 'avg_pool1d: takes (input, kernel_size, {options}), got 4 arguments')
    has(error_of(F.adaptive_avg_pool2d, x, 2, true), 'adaptive_avg_pool2d: takes (input, output_size), got 3 arguments')
    has(error_of(F.adaptive_max_pool2d, x, 2, true, 1), 'adaptive_max_pool2d: takes (input, output_size, return_indices), got 4 arguments')
    has(error_of(F.adaptive_avg_pool1d, x3(), 2, true), 'adaptive_avg_pool1d: takes (input, output_size), got 3 arguments')
    has(error_of(F.adaptive_max_pool1d, x3(), 2, true, 1), 'adaptive_max_pool1d: takes (input, output_size, return_indices), got 4 arguments')
  end)
end)

describe('float64 gradchecks of the 1-D and adaptive max pools', function()
  local cases = {
    { 'max_pool1d 3, stride 2, padding 1, dilation 2', function(x) return F.max_pool1d(x, 3, { stride = 2, padding = 1, dilation = 2 }) end, { 2, 2, 9 } },
    { 'max_pool1d ceil_mode, unbatched', function(x) return F.max_pool1d(x, 2, { ceil_mode = true }) end, { 2, 7 } },
    { 'avg_pool1d excluding padding, ceil_mode', function(x)
        return F.avg_pool1d(x, 3, { stride = 2, padding = 1, count_include_pad = false, ceil_mode = true })
      end, { 2, 2, 6 } },
    { 'adaptive_avg_pool1d 3 of 7', function(x) return F.adaptive_avg_pool1d(x, 3) end, { 2, 2, 7 } },
    { 'adaptive_max_pool1d 5 of 3 (overlapping)', function(x) return F.adaptive_max_pool1d(x, 5) end, { 2, 2, 3 } },
    { 'adaptive_max_pool2d 3x2 of 7x5', function(x) return F.adaptive_max_pool2d(x, { 3, 2 }) end, { 2, 2, 7, 5 } },
    { 'adaptive_max_pool2d up to 4x5 (overlapping)', function(x) return F.adaptive_max_pool2d(x, { 4, 5 }) end, { 1, 2, 3, 3 } },
  }
  for _, c in ipairs(cases) do
    it(c[1], function() gradcheck(c[2], { distinct(c[3], 'float64'):requires_grad() }) end)
  end
end)

-- PyTorch 1.13's F.max_pool2d, avg_pool2d, adaptive_avg_pool2d and
-- adaptive_max_pool2d take an unbatched (C, H, W) input as a batch of one
-- (nnlua's F forms refused it: 'input must be a 4-D float tensor'); the
-- values, indices and input gradients of tests/golden/pool_unbatched.lua
-- (gen_pool_unbatched.py)
describe('the F 2-D pools on (C, H, W) input against PyTorch 1.13', function()
  local function opts_of(a, names)
    local o = {}
    for _, k in ipairs(names) do o[k] = a[k] end
    return o
  end
  local ops = {
    max_pool2d = function(x, a)
      return { F.max_pool2d(x[1], a.kernel_size, opts_of(a, { 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices' })) }
    end,
    avg_pool2d = function(x, a)
      return F.avg_pool2d(x[1], a.kernel_size, opts_of(a, { 'stride', 'padding', 'ceil_mode', 'count_include_pad',
                                                            'divisor_override' }))
    end,
    adaptive_avg_pool2d = function(x, a) return F.adaptive_avg_pool2d(x[1], a.output_size) end,
    adaptive_max_pool2d = function(x, a) return { F.adaptive_max_pool2d(x[1], a.output_size, a.return_indices) } end,
  }
  local cases = dofile(S.root .. '/tests/golden/pool_unbatched.lua')
  S.golden_its(it, cases, ops, function(c, op) S.check_method_case(c, op, TOL) end)
  it('the modules give what the F forms give', function()
    local x = distinct({ 3, 6, 5 })
    assert.are.same(flat(F.max_pool2d(x, 2)), flat(nn.MaxPool2d(2)(x)))
    assert.are.same(flat(F.adaptive_avg_pool2d(x, { 2, 3 })), flat(nn.AdaptiveAvgPool2d({ 2, 3 })(x)))
  end)
end)

-- PyTorch 1.13's F.conv1d, conv2d, conv_transpose1d and conv_transpose2d
-- take an unbatched (C, L) or (C, H, W) input as a batch of one (nnlua's
-- refused it: 'input must be a 4-D float tensor'); the values and the
-- gradients of input, weight and bias of tests/golden/conv_unbatched.lua
-- (gen_conv_unbatched.py)
describe('the F convolutions on unbatched input against PyTorch 1.13', function()
  local CONV = { 'stride', 'padding', 'dilation', 'groups' }
  local TCONV = { 'stride', 'padding', 'output_padding', 'groups', 'dilation' }
  local function opts_of(a, names)
    local o = {}
    for _, k in ipairs(names) do o[k] = a[k] end
    return o
  end
  local ops = {
    conv1d = function(x, a) return F.conv1d(x[1], x[2], x[3], opts_of(a, CONV)) end,
    conv2d = function(x, a) return F.conv2d(x[1], x[2], x[3], opts_of(a, CONV)) end,
    conv_transpose1d = function(x, a) return F.conv_transpose1d(x[1], x[2], x[3], opts_of(a, TCONV)) end,
    conv_transpose2d = function(x, a) return F.conv_transpose2d(x[1], x[2], x[3], opts_of(a, TCONV)) end,
  }
  local cases = dofile(S.root .. '/tests/golden/conv_unbatched.lua')
  S.golden_its(it, cases, ops, function(c, op) S.check_method_case(c, op, TOL) end)
  it('names the op and the unbatched shapes when it refuses one', function()
    has(error_of(F.conv2d, nl.randn(3, 5, 5), nl.randn(2, 4, 3, 3)),
        'conv2d: input has 3 channels, weight expects 4 (input [3,5,5], weight [2,4,3,3])')
    has(error_of(F.conv1d, nl.randn(3, 2), nl.randn(2, 3, 3)),
        'conv1d: output length 0 is too small: input [3,2]')
    has(error_of(F.conv_transpose2d, nl.randn(3, 5, 5), nl.randn(4, 2, 3, 3)),
        'conv_transpose2d: input has 3 channels, weight expects 4 (input [3,5,5], weight [4,2,3,3])')
    has(error_of(F.conv_transpose1d, nl.randn(3, 5), nl.randn(3, 2, 3), nil, { padding = 9 }),
        'conv_transpose1d: output size [-11] is too small: input [3,5]')
    has(error_of(F.conv1d, nl.randn(5), nl.randn(2, 3, 3)), 'conv1d: input must be (N, C, L) or (C, L), got shape [5]')
  end)
end)
