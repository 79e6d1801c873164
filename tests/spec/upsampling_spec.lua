-- Resampling and sliding-window ops (STYLE 12): F.interpolate in every mode
-- (nl_interpolate in ops_interp.c, and area through the adaptive pools),
-- nn.Upsample, nn.UpsamplingNearest2d / UpsamplingBilinear2d, pixel
-- (un)shuffle, channel shuffle, unfold / fold, the LP pools, and F.pad's
-- 3-D reflect / replicate / circular with the 3-D padding modules.
-- Against PyTorch 1.13 golden values (tests/golden/upsampling.lua, made by
-- gen_upsampling.py) in float32 and float64, some through non-contiguous
-- views: forward and the gradients of (out * w):sum(), and the pixel
-- nearest and nearest-exact read over many sizes, exactly; float64
-- gradchecks (h = 1e-6, tolerance 1e-5); closed forms; one thread against
-- several; errors that name the op and the shapes.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn
local F = nn.functional

local golden = dofile(S.root .. '/tests/golden/upsampling.lua')
local from_golden, flat = S.from_golden, S.flat
local error_of, has = S.errmsg, S.contains

-- float32 sums in another order than PyTorch's; float64 to its rounding
local TOL = { float32 = { 1e-5, 1e-5 }, float64 = { 1e-12, 1e-12 } }
local expect_close = S.expect_close_by(TOL)
local rand = S.rand_by(7979)
local gradcheck = S.gradcheck_by({ eps = 1e-6, atol = 1e-5, rtol = 1e-5 })

-- ---- against PyTorch ------------------------------------------------------------------------

local OPS = { 'interpolate', 'pixel_shuffle', 'pixel_unshuffle', 'channel_shuffle', 'unfold', 'fold', 'lp_pool1d',
              'lp_pool2d', 'pad' }
local MODULES = { 'Upsample', 'UpsamplingNearest2d', 'UpsamplingBilinear2d', 'PixelShuffle', 'PixelUnshuffle',
                  'ChannelShuffle', 'Unfold', 'Fold', 'LPPool1d', 'LPPool2d', 'ReflectionPad3d', 'ReplicationPad3d',
                  'ConstantPad3d' }

describe('resampling against PyTorch golden values', function()

  -- area mode on a volume is the 3-D adaptive average pool (it was refused
  -- while nnlua had none): 2x2x2 blocks of a 4^3 volume averaged by hand
  it("gives mode 'area' of a 5-D input as the mean of each block", function()
    local x = rand({ 1, 2, 4, 4, 4 }, 'float64')
    local y = F.interpolate(x, { size = 2, mode = 'area' })
    assert.are.same({ 1, 2, 2, 2, 2 }, y:shape())
    local want = x:view(1, 2, 2, 2, 2, 2, 2, 2):mean(8):mean(6):mean(4)
    assert.is_true((y - want):abs():max():item() < 1e-14)
  end)
  -- PyTorch 1.13 gives an empty tensor for an output size of 0 in area mode
  -- and the adaptive pools (golden cases *_size0 above); the other modes
  -- and a negative size are refused, and the gradient of an empty output is
  -- zero (PyTorch's 3-D pools; its 2-D backward refuses an empty grad_output)
  it('gives an empty output and a zero gradient for an area or adaptive output size of 0', function()
    local x = rand({ 2, 3, 4, 5 }, 'float64'):requires_grad()
    local y, idx = F.adaptive_max_pool2d(x, { 0, 3 }, true)
    assert.are.same({ 2, 3, 0, 3 }, y:shape())
    assert.are.same({ 2, 3, 0, 3 }, idx:shape())
    assert.are.equal('int64', idx:dtype())
    ;(y:sum() + F.interpolate(x, { scale_factor = 0.2, mode = 'area' }):sum()):backward()
    assert.are.same({ 2, 3, 4, 5 }, x.grad:shape())
    assert.are.equal(0, x.grad:abs():sum():item())
    local _, i3 = nn.AdaptiveMaxPool3d({ 2, 0, 1 }, true)(rand({ 1, 2, 3, 4, 5 }))
    assert.are.same({ 1, 2, 2, 0, 1 }, i3:shape())
    has(error_of(F.interpolate, rand({ 1, 2, 4, 5 }), { size = { 0, 2 }, mode = 'bilinear' }),
        'interpolate: size must hold integers >= 1, got 0 at position 1')
    has(error_of(F.interpolate, rand({ 1, 2, 4, 5 }), { size = { -1, 2 }, mode = 'area' }),
        'interpolate: size must hold integers >= 0, got -1 at position 1')
    has(error_of(F.interpolate, rand({ 1, 2, 0, 5 }), { size = { 0, 2 }, mode = 'area' }),
        'interpolate: input and output sizes must be positive, got input [1,2,0,5]')
    has(error_of(F.adaptive_max_pool3d, rand({ 1, 2, 3, 4, 5 }), { 1, -2, 1 }), 'adaptive_max_pool3d: output_size must be an integer >= 0')
    -- the C entry points take 0 and refuse a negative size
    local ffi, lib = require 'ffi', nl._lib
    local x4 = rand({ 1, 2, 4, 5 })
    assert.are.same({ 1, 2, 3, 0 }, nl._wrap(lib.nl_adaptive_avg_pool2d(x4.ptr, 3, 0)):shape())
    assert.is_true(lib.nl_adaptive_avg_pool2d(x4.ptr, -1, 2) == nil)
    has(ffi.string(lib.nl_error()), 'adaptive_avg_pool2d: output size [-1,2] must not be negative (input [1,2,4,5])')
    local x5 = rand({ 1, 2, 3, 4, 5 })
    assert.are.same({ 1, 2, 0, 0, 0 }, nl._wrap(lib.nl_adaptive_avg_pool3d(x5.ptr, 0, 0, 0)):shape())
    assert.is_true(lib.nl_adaptive_avg_pool3d(x5.ptr, 1, 1, -3) == nil)
    has(ffi.string(lib.nl_error()), 'adaptive_avg_pool3d: output size [1,1,-3] must be in [0,')
  end)
  it('has a case for every op, module and interpolation mode', function()
    local seen = {}
    for _, c in ipairs(golden) do
      seen[c.op or c.module or 'index'] = true
      if c.op == 'interpolate' then seen['mode ' .. (c.args[1].mode or 'nearest')] = true end
      if c.op == 'pad' then seen['pad ' .. c.args[2]] = true end
    end
    for _, k in ipairs(OPS) do assert.is_true(seen[k], 'no golden case for F.' .. k) end
    for _, k in ipairs(MODULES) do assert.is_true(seen[k], 'no golden case for nn.' .. k) end
    for _, m in ipairs({ 'nearest', 'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear', 'area' }) do
      assert.is_true(seen['mode ' .. m], 'no golden case for mode ' .. m)
    end
    for _, m in ipairs({ 'reflect', 'replicate', 'circular' }) do assert.is_true(seen['pad ' .. m], m) end
  end)

  for _, c in ipairs(golden) do
    if c.kind ~= 'index' then
      it(('%s (%s%s): forward and backward'):format(c.name, c.dtype, c.transposed and ', a transposed view' or ''),
        function()
          local leaf = from_golden(c.input):requires_grad()
          local x = c.transposed and leaf:transpose(-1, -2) or leaf
          local out
          if c.kind == 'fn' then out = F[c.op](x, unpack(c.args))
          else out = nn[c.module](unpack(c.args))(x) end
          assert.are.equal(c.dtype, out:dtype())
          expect_close(out, c.out, c.name .. ' out', c.dtype)
          ;(out * from_golden(c.w)):sum():backward()
          assert.is_not_nil(leaf.grad, c.name .. ': the input has no grad')
          expect_close(leaf.grad, c.grad_input, c.name .. ' grad of the input', c.dtype)
        end)
    end
  end

  -- PyTorch places the samples in the input's precision: 14 -> 46 reads
  -- pixel 7 at 24 in float32 and 8 in float64
  it('nearest and nearest-exact read the pixels PyTorch reads, at every size and scale factor', function()
    local n = 0
    for _, c in ipairs(golden) do
      if c.kind == 'index' then
        local x = nl.arange(0, c.n, 1, c.dtype):view(1, 1, c.n)
        local y = F.interpolate(x, { size = c.size, scale_factor = c.scale_factor, mode = c.mode })
        assert.are.same(c.idx, flat(y), ('%s %s n=%d size=%s scale=%s'):format(c.mode, c.dtype, c.n,
          tostring(c.size), tostring(c.scale_factor)))
        n = n + 1
      end
    end
    assert.is_true(n > 100, 'index cases: ' .. n)
  end)

  -- PyTorch 1.13's 2-D and 3-D nearest kernels place float64 samples as
  -- float32 (its 1-D ones in the input's precision, as above): float64
  -- read pixel 7 at 24 and 15 at 56 below, where PyTorch reads 6 and 14
  it('nearest and nearest-exact of 2-D and 3-D float64 read the pixels PyTorch reads', function()
    -- F.interpolate(torch.arange(14.).double().view(1,1,14,1), size=(46,1)).view(-1)
    local want = { 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9,
                   10, 10, 10, 10, 11, 11, 11, 12, 12, 12, 13, 13, 13 }
    for _, dt in ipairs({ 'float64', 'float32' }) do
      local x = nl.arange(0, 14, 1, dt)
      assert.are.same(want, flat(F.interpolate(x:view(1, 1, 14, 1), { size = { 46, 1 } })), dt .. ' 2-D')
      assert.are.same(want, flat(F.interpolate(x:view(1, 1, 1, 1, 14), { size = { 1, 1, 46 } })), dt .. ' 3-D')
      -- F.interpolate(torch.arange(17.).double().view(1,1,1,1,17), scale_factor=(1,1,3.7), mode='nearest-exact')
      local y = flat(F.interpolate(nl.arange(0, 17, 1, dt):view(1, 1, 17, 1), { scale_factor = { 3.7, 1 }, mode = 'nearest-exact' }))
      assert.are.same({ 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8,
                        9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15,
                        16, 16, 16 }, y, dt .. ' nearest-exact 2-D')
    end
    -- 1-D float64 keeps its own placing: F.interpolate(torch.arange(14.).double().view(1,1,14), size=46)[23] is 7
    assert.are.equal(7, flat(F.interpolate(nl.arange(0, 14, 1, 'float64'):view(1, 1, 14), { size = 46 }))[24])
  end)
end)

-- ---- float64 gradient checks ------------------------------------------------------------------

describe('float64 gradchecks', function()
  local interp_cases = {
    { 'nearest 1-D', { 2, 2, 4 }, { size = 7 } },
    { 'nearest-exact 2-D, fractional scale', { 1, 2, 3, 4 }, { scale_factor = { 1.5, 0.8 }, mode = 'nearest-exact' } },
    { 'linear', { 2, 2, 5 }, { size = 8, mode = 'linear' } },
    { 'bilinear', { 1, 2, 3, 4 }, { size = { 5, 3 }, mode = 'bilinear' } },
    { 'bilinear align_corners', { 1, 2, 3, 4 }, { scale_factor = 1.7, mode = 'bilinear', align_corners = true } },
    { 'bicubic', { 1, 2, 4, 3 }, { size = { 6, 5 }, mode = 'bicubic' } },
    { 'bicubic align_corners, downsampling', { 1, 1, 6, 5 }, { size = { 3, 4 }, mode = 'bicubic', align_corners = true } },
    { 'trilinear', { 1, 1, 2, 3, 3 }, { size = { 3, 4, 2 }, mode = 'trilinear' } },
    { 'area', { 2, 1, 5, 6 }, { size = { 2, 4 }, mode = 'area' } },
  }
  for _, c in ipairs(interp_cases) do
    it('interpolate ' .. c[1], function()
      gradcheck(function(x) return F.interpolate(x, c[3]) end, { rand(c[2], 'float64'):requires_grad() })
    end)
  end

  it('interpolate of a permuted (non-contiguous) input', function()
    local x = rand({ 1, 3, 4, 2 }, 'float64'):requires_grad()
    gradcheck(function(xx) return F.interpolate(xx:permute(1, 4, 2, 3), { size = { 3, 5 }, mode = 'bicubic' }) end, { x })
  end)

  it('unfold and fold with dilation, padding and stride', function()
    local o = { dilation = { 1, 2 }, padding = { 1, 0 }, stride = { 2, 1 } }
    gradcheck(function(x) return F.unfold(x, { 2, 2 }, o) end, { rand({ 2, 2, 5, 6 }, 'float64'):requires_grad() })
    gradcheck(function(x) return F.fold(x, { 5, 6 }, { 2, 2 }, o) end, { rand({ 1, 8, 12 }, 'float64'):requires_grad() })
  end)

  it('pixel shuffle, pixel unshuffle and channel shuffle', function()
    gradcheck(function(x) return F.pixel_shuffle(x, 2) end, { rand({ 1, 8, 2, 3 }, 'float64'):requires_grad() })
    gradcheck(function(x) return F.pixel_unshuffle(x, 2) end, { rand({ 2, 1, 4, 2 }, 'float64'):requires_grad() })
    gradcheck(function(x) return F.channel_shuffle(x, 2) end, { rand({ 2, 4, 3 }, 'float64'):requires_grad() })
  end)

  it('lp_pool1d and lp_pool2d', function()
    local pos = (rand({ 2, 2, 5, 4 }, 'float64'):abs() + 0.3):requires_grad()
    gradcheck(function(x) return F.lp_pool2d(x, 1.5, { 2, 3 }, { stride = 1 }) end, { pos })
    gradcheck(function(x) return F.lp_pool1d(x, 2, 3, { stride = 2, ceil_mode = true }) end,
              { rand({ 2, 3, 8 }, 'float64'):requires_grad() })
  end)

  for _, mode in ipairs({ 'reflect', 'replicate', 'circular' }) do
    it('pad 3-D ' .. mode, function()
      gradcheck(function(x) return F.pad(x, { 1, 2, 2, 0, 1, 1 }, mode) end,
                { rand({ 1, 2, 3, 3, 3 }, 'float64'):requires_grad() })
    end)
  end
end)

-- ---- behaviour ----------------------------------------------------------------------------------

describe('interpolate', function()
  it('keeps a linear ramp exact with align_corners, and each mode copies at scale 1', function()
    -- f(i, j) = i + 2j sampled at the corners-aligned grid is f at (i * 3/4, j * 4/6)
    local x = (nl.arange(0, 4, 1, 'float64'):view(4, 1) + nl.arange(0, 5, 1, 'float64'):view(1, 5) * 2):view(1, 1, 4, 5)
    local y = F.interpolate(x, { size = { 5, 7 }, mode = 'bilinear', align_corners = true })
    local want = nl.arange(0, 5, 1, 'float64'):view(5, 1) * 0.75 + nl.arange(0, 7, 1, 'float64'):view(1, 7) * (8 / 6)
    expect_close(y:view(5, 7), want, 'bilinear of a ramp', 'float64')
    -- cubic convolution reproduces quadratics inside the border too (A = -0.75 is not
    -- exact for them), but a linear ramp away from the border exactly
    local yc = F.interpolate(x, { size = { 7, 9 }, mode = 'bicubic', align_corners = true })
    local wc = nl.arange(0, 7, 1, 'float64'):view(7, 1) * 0.5 + nl.arange(0, 9, 1, 'float64'):view(1, 9)
    expect_close(yc:view(7, 9):narrow(1, 3, 3):narrow(2, 3, 5), wc:narrow(1, 3, 3):narrow(2, 3, 5), 'bicubic ramp', 'float64')
    for _, mode in ipairs({ 'nearest', 'nearest-exact', 'bilinear', 'bicubic', 'area' }) do
      S.same_bits(F.interpolate(x, { size = { 4, 5 }, mode = mode }), x, mode .. ' at scale 1')
    end
  end)

  it('takes a non-contiguous input and gives what its contiguous copy gives', function()
    local x = rand({ 2, 5, 4, 3 }):permute(1, 4, 2, 3)
    for _, mode in ipairs({ 'nearest', 'nearest-exact', 'bilinear', 'bicubic' }) do
      S.same_bits(F.interpolate(x, { size = { 7, 3 }, mode = mode }),
                  F.interpolate(x:contiguous(), { size = { 7, 3 }, mode = mode }), mode)
    end
    local x5 = rand({ 1, 3, 2, 4, 5 }):transpose(3, 5)
    S.same_bits(F.interpolate(x5, { scale_factor = 1.5, mode = 'trilinear' }),
                F.interpolate(x5:contiguous(), { scale_factor = 1.5, mode = 'trilinear' }), 'trilinear')
  end)

  describe('on several threads', function()
    local saved = nl.get_num_threads()
    after_each(function() nl.set_num_threads(saved) end)
    it('gives one thread\'s values and gradients bit for bit', function()
      local x = rand({ 4, 16, 24, 20 })
      local res = {}
      for _, threads in ipairs({ 1, 4 }) do
        nl.set_num_threads(threads)
        local leaf = x:clone():requires_grad()
        local y = F.interpolate(leaf, { size = { 37, 29 }, mode = 'bicubic' })
        ;(y * y):sum():backward()
        res[threads] = { y, leaf.grad }
      end
      S.same_bits(res[1][1], res[4][1], 'bicubic forward')
      S.same_bits(res[1][2], res[4][2], 'bicubic backward')
    end)
  end)

  it('takes PyTorch\'s positional order and an empty batch', function()
    local x = rand({ 2, 3, 4, 5 })
    S.same_bits(F.interpolate(x, nil, 2, 'bilinear', true), F.interpolate(x, { scale_factor = 2, mode = 'bilinear',
      align_corners = true }), 'positional')
    S.same_bits(F.interpolate(x, { 3, 4 }), F.interpolate(x, { size = { 3, 4 } }), 'a list is a size')
    assert.are.same({ 0, 3, 8, 10 }, F.interpolate(rand({ 0, 3, 4, 5 }), { scale_factor = 2, mode = 'bicubic' }):shape())
  end)

  it('recompute_scale_factor places the samples by the output size, as PyTorch', function()
    -- linear interpolation of 0..4 gives each sample's source coordinate: with
    -- the factor, (i + 0.5) / 1.5 - 0.5; recomputed, (i + 0.5) * 5 / 7 - 0.5
    -- (5 * 1.5 cut to 7 outputs); both clamped to [0, 4]
    local x = nl.arange(0, 5, 1, 'float64'):view(1, 1, 5)
    local a = flat(F.interpolate(x, { scale_factor = 1.5, mode = 'linear' }))
    local b = flat(F.interpolate(x, { scale_factor = 1.5, mode = 'linear', recompute_scale_factor = true }))
    assert.are.equal(7, #a)
    for i = 0, 6 do
      local ca = math.min(math.max((i + 0.5) / 1.5 - 0.5, 0), 4)
      local cb = math.min(math.max((i + 0.5) * 5 / 7 - 0.5, 0), 4)
      assert.is_true(math.abs(a[i + 1] - ca) < 1e-12, ('with the factor, sample %d: %s vs %s'):format(i, a[i + 1], ca))
      assert.is_true(math.abs(b[i + 1] - cb) < 1e-12, ('recomputed, sample %d: %s vs %s'):format(i, b[i + 1], cb))
    end
  end)

  it('int64 in the nearest modes, as nn.Upsample took before it had others', function()
    local x = nl.arange(1, 7):view(1, 1, 2, 3)
    assert.are.same({ { { { 1, 1, 2, 2, 3, 3 }, { 1, 1, 2, 2, 3, 3 }, { 4, 4, 5, 5, 6, 6 }, { 4, 4, 5, 5, 6, 6 } } } },
      nn.Upsample(2)(x):totable())
    assert.are.equal('int64', F.interpolate(x, { size = 3, mode = 'nearest-exact' }):dtype())
    has(error_of(F.interpolate, x, { size = 3, mode = 'bilinear' }), "interpolate: mode 'bilinear' takes a float input, got int64 [1,1,2,3]")
  end)

  it('refuses bad arguments, naming the op and the shapes', function()
    local x = rand({ 1, 2, 3, 4 })
    has(error_of(F.interpolate, x, { size = 3, mode = 'cubic' }), "interpolate: mode must be 'nearest', 'linear'")
    has(error_of(F.interpolate, x, { size = 3, scale_factor = 2 }), 'interpolate: give exactly one of size and scale_factor')
    has(error_of(F.interpolate, x, {}), 'interpolate: give exactly one of size and scale_factor')
    has(error_of(F.interpolate, x, { size = 0 }), 'interpolate: size must be an integer >= 1 or a list of them, got 0')
    has(error_of(F.interpolate, x, { size = { 2, 2.5 } }), 'interpolate: size must hold integers >= 1, got 2.5 at position 2')
    has(error_of(F.interpolate, x, { scale_factor = -1 }), 'interpolate: scale_factor must be a finite number > 0')
    has(error_of(F.interpolate, x, { scale_factor = 0 / 0 }), 'scale_factor must be a finite number > 0')
    has(error_of(F.interpolate, x, { size = { 2, 3, 4 } }), 'interpolate: size has 3 entries for the 2 spatial dims of input [1,2,3,4]')
    has(error_of(F.interpolate, x, { scale_factor = 0.1 }),
        'interpolate: input and output sizes must be positive, got input [1,2,3,4] and output size [0,0]')
    has(error_of(F.interpolate, x, { size = 3, align_corners = true }),
        "interpolate: align_corners applies only to the modes 'linear', 'bilinear', 'bicubic' and 'trilinear' (mode 'nearest')")
    has(error_of(F.interpolate, x, { size = 3, mode = 'bilinear', align_corners = 1 }), 'align_corners must be a boolean')
    has(error_of(F.interpolate, x, { size = 3, antialias = true }), 'interpolate: Anti-alias option is only supported for bilinear')
    has(error_of(F.interpolate, x, { size = 3, recompute_scale_factor = true }),
        'interpolate: recompute_scale_factor is meaningful only with a scale_factor')
    has(error_of(F.interpolate, x, { size = 3, mode = 'linear' }), "interpolate: mode 'linear' needs a 3-D input (N, C, L), got shape [1,2,3,4]")
    has(error_of(F.interpolate, rand({ 1, 2, 3 }), { size = 3, mode = 'bicubic' }), "mode 'bicubic' needs a 4-D input (N, C, H, W)")
    has(error_of(F.interpolate, x, { size = 3, mode = 'trilinear' }), "mode 'trilinear' needs a 5-D input (N, C, D, H, W)")
    has(error_of(F.interpolate, rand({ 2, 3 }), { size = 3 }), 'interpolate: input must be (N, C, L), (N, C, H, W) or (N, C, D, H, W), got shape [2,3]')
    has(error_of(F.interpolate, rand({ 1, 1, 0, 2 }), { size = 3 }), 'input and output sizes must be positive, got input [1,1,0,2]')
    has(error_of(F.interpolate, x, { size = 2 ^ 30 }), 'interpolate: output size [1073741824,1073741824] of input [1,2,3,4] is too large')
    has(error_of(F.interpolate, x, { sizes = 3 }), "interpolate: unknown option 'sizes'")
    has(error_of(F.interpolate, x, { size = 3 }, 2), 'interpolate: options come in one table')
    has(error_of(F.interpolate, 'x', { size = 3 }), 'interpolate')
    -- the C entry point refuses what the Lua layer would not pass, without crashing
    local ffi, lib = require 'ffi', nl._lib
    assert.is_true(lib.nl_interpolate(nil, 0, 1, 1, 1, 0, 0, 0, 0) == nil)
    has(ffi.string(lib.nl_error()), 'interpolate: expected a tensor, got nil')
    assert.is_true(lib.nl_interpolate(x.ptr, 7, 1, 2, 2, 0, 0, 0, 0) == nil)
    has(ffi.string(lib.nl_error()), 'interpolate: unknown mode 7')
    assert.is_true(lib.nl_interpolate(x.ptr, lib.NL_INTERP_LINEAR, 1, 0, 2, 0, 0, 0, 0) == nil)
    has(ffi.string(lib.nl_error()), 'interpolate: input and output sizes must be positive, got input [1,2,3,4] and output size [0,2]')
    assert.is_true(lib.nl_interpolate(nl.zeros({ 1, 1, 2, 2 }, 'int64').ptr, lib.NL_INTERP_CUBIC, 1, 3, 3, 0, 0, 0, 0) == nil)
    has(ffi.string(lib.nl_error()), 'interpolate: the interpolating modes take a float input, got int64 [1,1,2,2]')
  end)
end)

describe('Upsample and its fixed forms', function()
  it('print as PyTorch prints them', function()
    assert.are.equal('Upsample(scale_factor=2.0, mode=nearest)', nn.Upsample(2):repr())
    assert.are.equal('Upsample(size=(3, 4), mode=bilinear)', nn.Upsample({ size = { 3, 4 }, mode = 'bilinear' }):repr())
    assert.are.equal('Upsample(scale_factor=(2.0, 1.5), mode=bicubic)',
      nn.Upsample({ scale_factor = { 2, 1.5 }, mode = 'bicubic', align_corners = true }):repr())
    assert.are.equal('UpsamplingNearest2d(size=3, mode=nearest)', nn.UpsamplingNearest2d({ size = 3 }):repr())
    assert.are.equal('UpsamplingBilinear2d(scale_factor=2.0, mode=bilinear)', nn.UpsamplingBilinear2d(2):repr())
  end)

  it('UpsamplingBilinear2d is bilinear with align_corners, UpsamplingNearest2d nearest', function()
    local x = rand({ 1, 2, 3, 4 })
    S.same_bits(nn.UpsamplingBilinear2d({ size = { 5, 6 } })(x),
                F.interpolate(x, { size = { 5, 6 }, mode = 'bilinear', align_corners = true }), 'bilinear')
    S.same_bits(nn.UpsamplingNearest2d(3)(x), F.interpolate(x, { scale_factor = 3 }), 'nearest')
  end)

  it('save and load back with their options', function()
    local net = nn.Sequential(nn.Upsample({ scale_factor = 1.5, mode = 'bicubic', align_corners = true }),
                              nn.UpsamplingBilinear2d({ size = { 4, 4 } }), nn.PixelUnshuffle(2), nn.ChannelShuffle(4),
                              nn.LPPool2d(2, 2), nn.Unfold(1), nn.Fold({ 1, 1 }, 1))
    local path = os.tmpname()
    net:save(path)
    local back = nn.load(path)
    os.remove(path)
    assert.are.equal(net:repr(), back:repr())
    local x = rand({ 2, 1, 3, 3 })
    S.same_bits(net(x), back(x), 'loaded')
  end)

  it('refuse bad options when built, naming the module', function()
    has(error_of(nn.Upsample, { scale_factor = 2, mode = 'linea' }), "Upsample: mode must be 'nearest'")
    has(error_of(nn.Upsample, { size = 2, scale_factor = 2 }), 'Upsample: give exactly one of size and scale_factor')
    has(error_of(nn.Upsample, { scale_factor = 0 }), 'Upsample: scale_factor must be a finite number > 0')
    has(error_of(nn.Upsample, { scale_factor = 2, align_corners = true }), 'Upsample: align_corners applies only')
    has(error_of(nn.UpsamplingBilinear2d, { scale_factor = 2, mode = 'nearest' }), "UpsamplingBilinear2d: unknown option 'mode'")
    has(error_of(nn.UpsamplingNearest2d, { scale_factor = 2, align_corners = true }),
        "UpsamplingNearest2d: unknown option 'align_corners'")
    has(error_of(function() return nn.Upsample({ size = { 2, 3 } })(rand({ 1, 1, 4 })) end),
        'Upsample: size has 2 entries for the 1 spatial dims of input [1,1,4]')
    has(error_of(function() return nn.UpsamplingBilinear2d(2)(rand({ 1, 1, 4 })) end),
        "UpsamplingBilinear2d: mode 'bilinear' needs a 4-D input (N, C, H, W), got shape [1,1,4]")
  end)
end)

describe('pixel shuffle and channel shuffle', function()
  it('follow their closed forms and undo each other', function()
    -- channel (c, i, j) of PixelShuffle(2) lands at row 2h + i, column 2w + j
    local x = nl.arange(0, 8, 1, 'float64'):view(1, 8, 1, 1)
    assert.are.same({ 0, 1, 2, 3, 4, 5, 6, 7 }, flat(F.pixel_shuffle(x, 2)))
    assert.are.same({ 1, 2, 2, 2 }, F.pixel_shuffle(x, 2):shape())
    local y = rand({ 2, 3, 8, 2, 3 })
    S.same_bits(F.pixel_unshuffle(F.pixel_shuffle(y, 2), 2), y, 'unshuffle of shuffle')
    -- channel_shuffle(g) then channel_shuffle(C / g) is the identity
    local z = nl.arange(0, 6, 1, 'float64'):view(1, 6, 1)
    assert.are.same({ 0, 2, 4, 1, 3, 5 }, flat(F.channel_shuffle(z, 3)))
    S.same_bits(F.channel_shuffle(F.channel_shuffle(y:reshape(2, 24, 2, 3), 4), 6), y:reshape(2, 24, 2, 3), 'inverse')
    assert.are.same({ 0, 1, 2, 2 }, F.pixel_shuffle(rand({ 0, 4, 1, 1 }), 2):shape())
  end)

  it('refuse bad shapes and factors', function()
    has(error_of(F.pixel_shuffle, rand({ 1, 3, 2, 2 }), 2),
        'pixel_shuffle: the 3 channels of input [1,3,2,2] are not divisible by upscale_factor^2 = 4')
    has(error_of(F.pixel_shuffle, rand({ 1, 8, 2, 2 }), 2 ^ 40),
        'pixel_shuffle: the 8 channels of input [1,8,2,2] are not divisible by upscale_factor^2 = 1.2089258196146e+24')
    has(error_of(F.pixel_shuffle, rand({ 4, 2 }), 2), 'pixel_shuffle: input must be (*, C*r^2, H, W), got shape [4,2]')
    has(error_of(F.pixel_shuffle, rand({ 4, 2, 2 }), 0), 'pixel_shuffle: upscale_factor must be an integer >= 1, got 0')
    has(error_of(F.pixel_unshuffle, rand({ 1, 1, 3, 4 }), 2),
        'pixel_unshuffle: the height 3 and width 4 of input [1,1,3,4] must be divisible by downscale_factor 2')
    has(error_of(F.channel_shuffle, rand({ 1, 4, 2 }), 3), 'channel_shuffle: the 4 channels of input [1,4,2] are not divisible by groups 3')
    has(error_of(F.channel_shuffle, rand({ 4, 2 }), 2), 'channel_shuffle: input must be (N, C, *) with at least 3 dims, got shape [4,2]')
    has(error_of(nn.PixelShuffle, 1.5), 'PixelShuffle: upscale_factor must be an integer >= 1, got 1.5')
    has(error_of(nn.ChannelShuffle, 2, 3), 'ChannelShuffle: expected groups, got 2 arguments')
    assert.are.equal('PixelUnshuffle(downscale_factor=3)', nn.PixelUnshuffle(3):repr())
    assert.are.equal('ChannelShuffle(groups=2)', nn.ChannelShuffle(2):repr())
  end)
end)

describe('unfold and fold', function()
  it('fold of unfold is the input times how many blocks cover each pixel', function()
    local x = rand({ 2, 3, 5, 6 }, 'float64')
    local o = { padding = 1, stride = { 1, 2 } }
    local back = F.fold(F.unfold(x, 3, o), { 5, 6 }, 3, o)
    local count = F.fold(F.unfold(nl.ones({ 1, 1, 5, 6 }, 'float64'), 3, o), { 5, 6 }, 3, o)
    expect_close(back, x * count, 'fold(unfold(x))', 'float64')
    -- blocks that tile the image give the image back exactly
    S.same_bits(F.fold(F.unfold(x:narrow(4, 1, 4), 2, { stride = 2 }), { 5, 4 }, 2, { stride = 2 }):narrow(3, 1, 4),
                x:narrow(4, 1, 4):narrow(3, 1, 4), 'tiles')
    -- row c*4 + i*2 + j of unfold(x, 2) (0-based) holds kernel offset (i, j) of
    -- channel c; column r*5 + s the block at (r, s): x[n][c][r + i][s + j]
    local u = F.unfold(x, 2)
    assert.are.equal(x[2][3][2][4], u[2][2 * 4 + 1 * 2 + 1 + 1][0 * 5 + 2 + 1])     -- c 2, (i, j) (1, 1), block (0, 2)
    assert.are.equal(x[1][1][5][1], u[1][0 * 4 + 1 * 2 + 0 + 1][3 * 5 + 0 + 1])     -- c 0, (1, 0), block (3, 0)
  end)

  it('refuse bad shapes and options, naming the op and the geometry', function()
    local x = rand({ 1, 2, 4, 4 })
    has(error_of(F.unfold, x, 5), 'unfold: input [1,2,4,4] with kernel_size (5, 5), dilation (1, 1), padding (0, 0), '
      .. 'stride (1, 1) has 0 x 0 sliding blocks; each count must be at least 1')
    has(error_of(F.unfold, x, 2, { stride = 0 }), 'unfold: stride must be an integer >= 1')
    has(error_of(F.unfold, x, 2, { padding = -1 }), 'unfold: padding must be an integer >= 0')
    has(error_of(F.unfold, x, 2, { dilations = 2 }), "unfold: unknown option 'dilations'")
    has(error_of(F.unfold, rand({ 4, 4 }), 2), 'unfold: input must be (N, C, H, W) or (C, H, W) with C, H and W nonzero, got shape [4,4]')
    has(error_of(F.unfold, rand({ 1, 0, 4, 4 }), 2), 'got shape [1,0,4,4]')
    has(error_of(F.fold, rand({ 1, 7, 9 }), { 4, 4 }, 2), 'fold: dim 2 of input [1,7,9] (7) is not divisible by the kernel size 2 x 2')
    has(error_of(F.fold, rand({ 1, 8, 8 }), { 4, 4 }, 2),
        'fold: output_size (4, 4) with kernel_size (2, 2), dilation (1, 1), padding (0, 0), stride (1, 1) has 3 x 3 '
        .. 'sliding blocks, but input [1,8,8] has 8')
    has(error_of(F.fold, rand({ 8, 9, 1, 1 }), { 4, 4 }, 2), 'fold: input must be (N, C*kh*kw, L) or (C*kh*kw, L)')
    has(error_of(F.fold, rand({ 1, 8, 9 }), 0, 2), 'fold: output_size must be an integer >= 1')
    has(error_of(nn.Fold, { 4, 4 }, 2, { stride = 'x' }), 'Fold: stride must be an integer >= 1')
    has(error_of(F.unfold, x, 1, { padding = 2 ^ 30 }), 'unfold: the padded input of input [1,2,4,4] would hold')
    has(error_of(F.fold, rand({ 1, 4, 1 }), 2 ^ 30, 1, { stride = 2 ^ 30 }), 'fold: the padded output of input [1,4,1] would hold')
    assert.are.equal('Unfold(kernel_size=2, dilation=1, padding=0, stride=1)', nn.Unfold(2):repr())
    assert.are.equal('Fold(output_size=(4, 5), kernel_size=2, dilation=1, padding=0, stride=(2, 1))',
                     nn.Fold({ 4, 5 }, 2, { stride = { 2, 1 } }):repr())
  end)
end)

describe('LP pools', function()
  it('are the p-norm of each window, with a zero gradient where a window is all zeros', function()
    local x = nl.tensor({ { { 3, 4, 0, 0, 1, 2 } } }, 'float64'):requires_grad()
    local y = F.lp_pool1d(x, 2, 2)
    expect_close(y, nl.tensor({ { { 5, 0, math.sqrt(5) } } }, 'float64'), 'lp_pool1d', 'float64')
    y:sum():backward()
    expect_close(x.grad, nl.tensor({ { { 0.6, 0.8, 0, 0, 1 / math.sqrt(5), 2 / math.sqrt(5) } } }, 'float64'),
                 'its gradient (0, not NaN, at the zero window)', 'float64')
    -- p = 1 of positive values: the window sums; (C, H, W) in, (C, H', W') out
    local z = rand({ 2, 4, 4 }):abs()
    expect_close(nn.LPPool2d(1, 2)(z), F.avg_pool2d(z:unsqueeze(1), 2):squeeze(1) * 4, 'p = 1')
  end)

  it("take PyTorch's positional stride and ceil_mode, and nothing after them", function()
    -- x = torch.tensor([[[3., 4, 0, 0, 1, 2, 2]]], dtype=torch.float64)
    -- F.lp_pool1d(x, 2, 2, 2, True), F.lp_pool1d(x, 2, 2, None, True), nn.LPPool1d(2, 2, 2, True)(x):
    -- [[[5.0, 0.0, 2.23606797749979, 2.8284271247461903]]]
    local x = nl.tensor({ { { 3, 4, 0, 0, 1, 2, 2 } } }, 'float64')
    local want = nl.tensor({ { { 5, 0, 2.23606797749979, 2.8284271247461903 } } }, 'float64')
    expect_close(F.lp_pool1d(x, 2, 2, 2, true), want, 'lp_pool1d positional ceil_mode', 'float64')
    expect_close(F.lp_pool1d(x, 2, 2, nil, true), want, 'lp_pool1d ceil_mode after a nil stride', 'float64')
    expect_close(nn.LPPool1d(2, 2, 2, true)(x), want, 'LPPool1d positional ceil_mode', 'float64')
    assert.are.same({ 1, 1, 3 }, F.lp_pool1d(x, 2, 2, 2, false):shape())
    local x4 = rand({ 1, 1, 7, 8 })
    assert.are.same({ 1, 1, 3, 4 }, F.lp_pool2d(x4, 2, 3, 2, true):shape())
    assert.are.same({ 1, 1, 3, 4 }, nn.LPPool2d(2, 3, 2, true)(x4):shape())
    assert.are.same({ 1, 1, 3, 3 }, F.lp_pool2d(x4, 2, 3, 2):shape())
    has(error_of(F.lp_pool2d, x4, 2, 3, 2, true, 1), 'lp_pool2d: takes (input, norm_type, kernel_size, [stride], [ceil_mode]), got 6 arguments')
    has(error_of(F.lp_pool2d, x4, 2, 3, 2, 1), 'lp_pool2d: ceil_mode must be a boolean (true or false), got 1')
    has(error_of(F.lp_pool2d, x4, 2, 3, { stride = 2 }, true), 'lp_pool2d: give ceil_mode in the options table')
    -- a positional stride pair, as PyTorch's (2, 1): F.lp_pool2d(x, 2, 3, (2, 1), True) is (1, 1, 3, 6)
    assert.are.same({ 1, 1, 3, 6 }, F.lp_pool2d(x4, 2, 3, { 2, 1 }, true):shape())
    assert.are.same({ 1, 1, 3, 6 }, F.lp_pool2d(x4, 2, 3, { 2, 1 }):shape())
    assert.are.same({ 1, 1, 3, 6 }, nn.LPPool2d(2, 3, { 2, 1 }, true)(x4):shape())
    has(error_of(nn.LPPool1d, 2, 2, 2, true, 1), 'LPPool1d: takes (norm_type, kernel_size, [stride], [ceil_mode]), got 5 arguments')
  end)

  it('unfold, fold and the shuffles refuse arguments past theirs (PyTorch positional options were dropped)', function()
    local x = rand({ 1, 2, 6, 6 })
    -- F.unfold(x, 2, 1, 0, 2) is PyTorch's dilation 1, padding 0, stride 2
    has(error_of(F.unfold, x, 2, 1, 0, 2), 'unfold: takes (input, kernel_size, {options}), got 5 arguments; options go in one table')
    has(error_of(F.unfold, x, 2, { stride = 2 }, 'x'), 'unfold: takes (input, kernel_size, {options}), got 4 arguments')
    has(error_of(F.fold, rand({ 1, 8, 4 }), { 3, 3 }, 2, {}, 1), 'fold: takes (input, output_size, kernel_size, {options}), got 5 arguments')
    has(error_of(F.pixel_shuffle, rand({ 1, 4, 2, 2 }), 2, 3), 'pixel_shuffle: takes (input, upscale_factor), got 3 arguments')
    has(error_of(F.pixel_unshuffle, rand({ 1, 1, 4, 4 }), 2, 9), 'pixel_unshuffle: takes (input, downscale_factor), got 3 arguments')
    has(error_of(F.channel_shuffle, rand({ 1, 4, 2, 2 }), 2, 3), 'channel_shuffle: takes (input, groups), got 3 arguments')
    assert.are.same({ 1, 8, 9 }, F.unfold(x, 2, { stride = 2 }):shape())
  end)

  it('refuse bad arguments naming the op', function()
    has(error_of(F.lp_pool2d, rand({ 1, 1, 4, 4 }), 0, 2), 'lp_pool2d: norm_type must be a finite number > 0, got 0')
    has(error_of(F.lp_pool2d, rand({ 4, 4 }), 2, 2), 'lp_pool2d: input must be (N, C, H, W) or (C, H, W), got shape [4,4]')
    has(error_of(F.lp_pool2d, rand({ 1, 1, 4, 4 }), 2, 2, { padding = 1 }), "lp_pool2d: unknown option 'padding'")
    has(error_of(F.lp_pool2d, rand({ 1, 1, 1, 4 }), 2, 2), 'lp_pool2d: output size')
    has(error_of(F.lp_pool1d, rand({ 1, 1, 1 }), 2, 2), 'lp_pool1d: output size')
    has(error_of(F.lp_pool1d, nl.zeros({ 1, 4 }, 'int64'), 2, 2), 'lp_pool1d: expected a float input, got int64')
    has(error_of(nn.LPPool1d, 2, 0), 'LPPool1d: kernel_size must be an integer >= 1')
    assert.are.equal('LPPool2d(norm_type=2, kernel_size=3, stride=None, ceil_mode=false)', nn.LPPool2d(2, 3):repr())
    assert.are.equal('LPPool1d(norm_type=1.5, kernel_size=3, stride=2, ceil_mode=false)', nn.LPPool1d(1.5, 3, 2):repr())
  end)
end)

describe('3-D padding', function()
  it('follows the closed forms along the depth', function()
    local x = nl.arange(0, 3, 1, 'float64'):view(1, 1, 3, 1, 1)
    assert.are.same({ 2, 1, 0, 1, 2, 1 }, flat(F.pad(x, { 0, 0, 0, 0, 2, 1 }, 'reflect')))
    assert.are.same({ 0, 0, 0, 1, 2, 2 }, flat(F.pad(x, { 0, 0, 0, 0, 2, 1 }, 'replicate')))
    assert.are.same({ 1, 2, 0, 1, 2, 0 }, flat(F.pad(x, { 0, 0, 0, 0, 2, 1 }, 'circular')))
    assert.are.same({ 1, 1, 4, 4, 5 }, nn.ReflectionPad3d(1)(nl.zeros(1, 1, 2, 2, 3)):shape())
    local y = rand({ 2, 3, 4, 5, 3 }):permute(1, 2, 5, 3, 4)
    for _, mode in ipairs({ 'reflect', 'replicate', 'circular' }) do
      S.same_bits(F.pad(y, { 1, 2, 1, 0, 2, 1 }, mode), F.pad(y:contiguous(), { 1, 2, 1, 0, 2, 1 }, mode), mode)
    end
  end)

  it('refuses what PyTorch refuses', function()
    local x = rand({ 2, 3, 3, 3 })
    has(error_of(F.pad, x, { 1, 1, 1, 1, 1, 1 }, 'circular'),
        "pad: mode 'circular' with 3 padding pairs needs a 5-D input (N, C, D, H, W), got [2,3,3,3]")
    has(error_of(F.pad, rand({ 3, 3, 3 }), { 1, 1, 1, 1, 1, 1 }, 'reflect'),
        "pad: mode 'reflect' with 3 padding pairs needs a 4-D or 5-D input, got [3,3,3]")
    has(error_of(F.pad, x, { 1, 1, 1, 1, 3, 0 }, 'reflect'), "mode 'reflect' needs each padding less than the dim's size: padding (3, 0) for dim 2")
    has(error_of(nn.ReplicationPad3d, { 1, 2, 3, 4 }), 'ReplicationPad3d: padding must be an integer or a list of 6 integers {left, right, top, bottom, front, back}')
    has(error_of(nn.ConstantPad3d, 1), 'ConstantPad3d: value must be a number, got nil')
    assert.are.equal('ReplicationPad3d((1, 2, 3, 4, 5, 6))', tostring(nn.ReplicationPad3d({ 1, 2, 3, 4, 5, 6 })):match('^[^\n]*'))
  end)
end)
