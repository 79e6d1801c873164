-- F.interpolate with antialias = true (STYLE 12): bilinear and bicubic on
-- (N, C, H, W), PyTorch 1.13's _upsample_bilinear2d_aa and
-- _upsample_bicubic2d_aa (nl_interpolate's LINEAR_AA and CUBIC_AA modes in
-- ops_interp.c). Against PyTorch golden values (tests/golden/interp_aa.lua,
-- made by gen_interp_aa.py) in float32 and float64: forward, and the input
-- gradients of (out * w):sum(), float64's bit for bit; float64 gradchecks
-- (h = 1e-6, tolerance 1e-5); closed forms (the 2x triangle's 1 3 3 1 / 8,
-- a constant image kept); one thread against two; the errors.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn
local F = nn.functional

local golden = dofile(S.root .. '/tests/golden/interp_aa.lua')
local error_of, has = S.errmsg, S.contains

-- float32 sums in another order than PyTorch's forward (which fuses some
-- of its multiply-adds and not others); float64 to its rounding
local TOL = { float32 = { 1e-5, 1e-5 }, float64 = { 1e-12, 1e-12 } }

local rand = S.rand_by(1128)

describe('F.interpolate with antialias against PyTorch golden values', function()
  it('has cases for both modes, both dtypes, sizes, scale factors and align_corners', function()
    local seen = {}
    for _, c in ipairs(golden) do
      local o = c.args[1]
      assert.is_true(o.antialias, c.name)
      seen[o.mode .. ' ' .. c.dtype] = true
      seen[o.mode .. (o.size and ' size' or ' scale_factor')] = true
      seen[o.mode .. ' align ' .. tostring(o.align_corners == true)] = true
    end
    for _, m in ipairs({ 'bilinear', 'bicubic' }) do
      for _, k in ipairs({ ' float32', ' float64', ' size', ' scale_factor', ' align true', ' align false' }) do
        assert.is_true(seen[m .. k], 'no golden case for ' .. m .. k)
      end
    end
  end)

  for _, c in ipairs(golden) do
    it(('%s (%s%s): forward and backward'):format(c.name, c.dtype, c.transposed and ', a transposed view' or ''),
      function()
        local leaf = S.from_golden(c.input):requires_grad()
        local x = c.transposed and leaf:transpose(-1, -2) or leaf
        local out = F.interpolate(x, c.args[1])
        assert.are.equal(c.dtype, out:dtype())
        local t = TOL[c.dtype]
        S.expect_close(out, c.out, c.name .. ' out', t[1], t[2])
        ;(out * S.from_golden(c.w)):sum():backward()
        S.expect_close(leaf.grad, c.grad_input, c.name .. ' grad of the input', t[1], t[2])
        -- the backward fuses its multiply-adds as PyTorch's AVX2 build does:
        -- float64 gradients come out bit for bit
        if c.dtype == 'float64' then S.expect_golden(leaf.grad, c.grad_input, c.name .. ' grad, exactly') end
      end)
  end
end)

describe('F.interpolate with antialias', function()
  -- 2x down, bilinear: support 2 around centre 2o + 1, the triangle at
  -- -0.75, -0.25, 0.25, 0.75 over 2: weights 1 3 3 1 over 8 inside, and
  -- 3 3 1 over 7 at the first output (its left tap is off the image)
  it('downsamples 2x bilinear with the widened triangle, 1 3 3 1 / 8', function()
    local x = rand({ 1, 1, 1, 12 }, 'float64')
    local y = F.interpolate(x, { size = { 1, 6 }, mode = 'bilinear', antialias = true })
    local v, got = S.flat(x), S.flat(y)
    assert.is_true(math.abs(got[1] - (3 * v[1] + 3 * v[2] + v[3]) / 7) < 1e-15)
    for o = 2, 5 do
      local want = (v[2 * o - 2] + 3 * v[2 * o - 1] + 3 * v[2 * o] + v[2 * o + 1]) / 8
      assert.is_true(math.abs(got[o] - want) < 1e-15, 'output ' .. o)
    end
  end)

  it('keeps a constant image constant (the weights sum to 1) and averages a checkerboard away', function()
    for _, mode in ipairs({ 'bilinear', 'bicubic' }) do
      for _, dt in ipairs({ 'float32', 'float64' }) do
        local y = F.interpolate(nl.full({ 2, 3, 23, 17 }, 2.5):to(dt), { size = { 6, 5 }, mode = mode, antialias = true })
        assert.is_true((y - 2.5):abs():max():item() < (dt == 'float32' and 1e-5 or 1e-13), mode .. ' ' .. dt)
      end
      -- a +-1 checkerboard averages away with antialias (nearest keeps +-1)
      local cb = (nl.arange(0, 32):view(32, 1) + nl.arange(0, 32):view(1, 32)):remainder(2) * 2 - 1
      cb = cb:view(1, 1, 32, 32):double()
      local aa = F.interpolate(cb, { size = { 8, 8 }, mode = mode, antialias = true })
      assert.is_true(aa:abs():max():item() < 0.1, mode .. ' antialiased')
      assert.is_true(F.interpolate(cb, { size = { 8, 8 } }):abs():min():item() == 1, 'nearest')
    end
  end)

  it('upsampling bilinear equals the plain mode; bicubic does not (A = -0.5 and renormalized borders)', function()
    local x = rand({ 1, 2, 4, 5 }, 'float64')
    local o = { size = { 9, 11 }, mode = 'bilinear' }
    local plain = F.interpolate(x, o)
    o.antialias = true
    assert.is_true((F.interpolate(x, o) - plain):abs():max():item() < 1e-15)
    local c = { size = { 9, 11 }, mode = 'bicubic' }
    local cplain = F.interpolate(x, c)
    c.antialias = true
    assert.is_true((F.interpolate(x, c) - cplain):abs():max():item() > 1e-3)
  end)

  local GC = { eps = 1e-6, atol = 1e-5, rtol = 1e-5 }
  local cases = {
    { 'bilinear 2x down', { 1, 2, 8, 10 }, { size = { 4, 5 }, mode = 'bilinear' } },
    { 'bilinear 3.5x down, scale_factor', { 1, 1, 14, 21 }, { scale_factor = 1 / 3.5, mode = 'bilinear' } },
    { 'bilinear align_corners, one dim up', { 2, 1, 9, 4 }, { size = { 4, 7 }, mode = 'bilinear', align_corners = true } },
    { 'bicubic 2x down', { 1, 2, 8, 10 }, { size = { 4, 5 }, mode = 'bicubic' } },
    { 'bicubic non-integer, align_corners', { 1, 1, 13, 11 }, { size = { 5, 4 }, mode = 'bicubic', align_corners = true } },
    { 'bicubic up', { 1, 1, 3, 4 }, { scale_factor = 1.6, mode = 'bicubic' } },
  }
  for _, c in ipairs(cases) do
    it('passes a float64 gradcheck: ' .. c[1], function()
      local o = { antialias = true }
      for k, v in pairs(c[3]) do o[k] = v end
      local ok, msg = nl.gradcheck(function(x) return F.interpolate(x, o) end, { rand(c[2], 'float64'):requires_grad() }, GC)
      assert.is_true(ok, msg)
    end)
  end

  describe('on several threads', function()
    local saved = nl.get_num_threads()
    after_each(function() nl.set_num_threads(saved) end)
    it('gives one thread\'s values and gradients bit for bit', function()
      for _, mode in ipairs({ 'bilinear', 'bicubic' }) do
        for _, dt in ipairs({ 'float32', 'float64' }) do
          local x = rand({ 3, 8, 40, 36 }, dt)
          local res = {}
          for _, threads in ipairs({ 1, 2 }) do
            nl.set_num_threads(threads)
            local leaf = x:clone():requires_grad()
            local y = F.interpolate(leaf, { size = { 13, 11 }, mode = mode, antialias = true })
            ;(y * y):sum():backward()
            res[threads] = { y, leaf.grad }
          end
          S.same_bits(res[1][1], res[2][1], mode .. ' ' .. dt .. ' forward')
          S.same_bits(res[1][2], res[2][2], mode .. ' ' .. dt .. ' backward')
        end
      end
    end)
  end)

  -- without AVX2 and FMA the backward's fma() is glibc's, not inlined: the
  -- same roundings, so the same float64 gradients as PyTorch's
  it('gives PyTorch\'s float64 gradients bit for bit without the FMA kernels too', function()
    local dir = S.tmpdir()
    local script = dir .. '/aa_default.lua'
    S.write(script, [[
      local golden = dofile(arg[1] .. '/tests/golden/interp_aa.lua')
      local exact, n = 0, 0
      for _, c in ipairs(golden) do
        if c.dtype == 'float64' then
          local leaf = nl.tensor(c.input.data, 'float64'):view(c.input.shape):requires_grad()
          local x = c.transposed and leaf:transpose(-1, -2) or leaf
          local y = nn.functional.interpolate(x, c.args[1])
          ;(y * nl.tensor(c.w.data, 'float64'):view(c.w.shape)):sum():backward()
          local g, same = leaf.grad:reshape(-1):totable(), true
          for i, v in ipairs(c.grad_input.data) do same = same and g[i] == v end
          n = n + 1
          if same then exact = exact + 1 end
        end
      end
      io.write(exact, '/', n)
    ]])
    local bin = os.getenv('NNLUA_BIN') or S.root .. '/bin/nnlua'
    local p = assert(io.popen('NNLUA_CPU_CAPABILITY=default ' .. S.q(bin) .. ' ' .. S.q(script) .. ' ' .. S.q(S.root)))
    local out = p:read('*a')
    p:close()
    os.remove(script)
    os.remove(dir)
    local exact, n = out:match('^(%d+)/(%d+)$')
    assert.is_true(exact ~= nil and tonumber(n) >= 10 and exact == n, 'exact gradients: ' .. out)
  end)

  it('refuses antialias outside bilinear and bicubic, as PyTorch', function()
    local msg = 'interpolate: Anti-alias option is only supported for bilinear and bicubic modes'
    has(error_of(F.interpolate, rand({ 1, 2, 6 }), { size = 3, mode = 'linear', antialias = true }), msg .. " (mode 'linear')")
    has(error_of(F.interpolate, rand({ 1, 2, 6, 6 }), { size = 3, antialias = true }), msg .. " (mode 'nearest')")
    has(error_of(F.interpolate, rand({ 1, 2, 6, 6 }), { size = 3, mode = 'nearest-exact', antialias = true }), msg)
    has(error_of(F.interpolate, rand({ 1, 2, 6, 6, 6 }), { size = 3, mode = 'trilinear', antialias = true }),
        msg .. " (mode 'trilinear')")
    has(error_of(F.interpolate, rand({ 1, 2, 6, 6 }), { size = 3, mode = 'area', antialias = true }), msg)
    has(error_of(F.interpolate, rand({ 1, 2, 6, 6 }), { size = 3, mode = 'bilinear', antialias = 1 }),
        'interpolate: antialias must be a boolean')
    has(error_of(F.interpolate, rand({ 1, 2, 6 }), { size = 3, mode = 'bilinear', antialias = true }),
        "interpolate: mode 'bilinear' needs a 4-D input (N, C, H, W), got shape [1,2,6]")
    -- positional, as PyTorch's seventh argument
    has(error_of(F.interpolate, rand({ 1, 2, 6, 6 }), 3, nil, 'nearest', nil, nil, true), msg)
    -- nn.Upsample has no antialias in PyTorch
    has(error_of(nn.Upsample, { size = 3, mode = 'bilinear', antialias = true }), "Upsample: unknown option 'antialias'")
    -- the C entry point refuses an antialiased mode on another rank, without crashing
    local ffi, lib = require 'ffi', nl._lib
    local x3 = rand({ 1, 2, 6 })
    assert.is_true(lib.nl_interpolate(x3.ptr, lib.NL_INTERP_LINEAR_AA, 1, 1, 3, 0, 0, 0, 0) == nil)
    has(ffi.string(lib.nl_error()), 'interpolate: antialias is only supported for bilinear and bicubic on a 4-D input, got float32 [1,2,6]')
    -- a scale factor spacing the samples past int64 (undefined casts: UBSan
    -- stopped), or not finite, or negative, is refused; a tiny one that
    -- fits asks no more taps than the input has (it ran out of memory)
    local x4 = rand({ 1, 2, 8, 8 })
    for _, mode in ipairs({ lib.NL_INTERP_NEAREST, lib.NL_INTERP_LINEAR, lib.NL_INTERP_CUBIC, lib.NL_INTERP_LINEAR_AA,
                            lib.NL_INTERP_CUBIC_AA }) do
      for _, sc in ipairs({ 1e-300, -1, 0 / 0, math.huge }) do
        assert.is_true(lib.nl_interpolate(x4.ptr, mode, 1, 4, 4, 0, sc, sc, 0) == nil)
        has(ffi.string(lib.nl_error()), 'interpolate: scale factor')
        has(ffi.string(lib.nl_error()), 'is out of range: 0 (in / out), or finite, > 0 and at least output size / 2^52 '
            .. '(output size 4, input [1,2,8,8])')
      end
    end
    for _, mode in ipairs({ lib.NL_INTERP_LINEAR_AA, lib.NL_INTERP_CUBIC_AA }) do
      local y = nl._wrap(lib.nl_interpolate(x4.ptr, mode, 1, 4, 4, 0, 1e-10, 1e-10, 0))
      assert.are.same({ 1, 2, 4, 4 }, y:shape())
      assert.are.equal(1, y:isfinite():all():item())
    end
  end)

  it('takes the positional antialias and an empty batch', function()
    local x = rand({ 2, 3, 9, 8 })
    S.same_bits(F.interpolate(x, { 4, 3 }, nil, 'bicubic', false, nil, true),
                F.interpolate(x, { size = { 4, 3 }, mode = 'bicubic', antialias = true }), 'positional')
    assert.are.same({ 0, 3, 4, 3 }, F.interpolate(rand({ 0, 3, 9, 8 }), { size = { 4, 3 }, mode = 'bilinear',
      antialias = true }):shape())
  end)
end)
