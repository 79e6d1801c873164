-- nn.CircularPad1d/2d/3d (PyTorch 2.1's modules; nn/padding_circular.lua):
-- against PyTorch golden values (tests/golden/circular_pad.lua, made by
-- gen_circular_pad.py from 1.13's F.pad circular mode) in float32 and
-- float64, batched and unbatched, with crops and through a transposed
-- view: forward and the input's gradient of (out * w):sum(); float64
-- gradchecks (h = 1e-6, tolerance 1e-5); a closed form; errors that name
-- the module and the shapes; save and nn.load.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local golden = dofile(S.root .. '/tests/golden/circular_pad.lua')
local from_golden = S.from_golden

-- a copy: float64 to the bit; float32 to its 9 written digits
local TOL = { float32 = { 1e-7, 0 }, float64 = { 0, 0 } }
local expect_close = S.expect_close_by(TOL)
local error_of, has = S.errmsg, S.contains
local rand = S.rand_by(2911)

describe('CircularPad1d/2d/3d against PyTorch golden values', function()
  it('has a case for each of the three modules', function()
    local seen = {}
    for _, c in ipairs(golden) do seen[c.module] = true end
    assert.are.same({ CircularPad1d = true, CircularPad2d = true, CircularPad3d = true }, seen)
  end)

  for _, c in ipairs(golden) do
    it(('%s (%s%s): forward and backward'):format(c.name, c.dtype, c.transposed and ', a transposed view' or ''),
      function()
        local leaf = from_golden(c.input):requires_grad()
        local x = c.transposed and leaf:transpose(-1, -2) or leaf
        local out = nn[c.module](c.padding)(x)
        assert.are.equal(c.dtype, out:dtype())
        expect_close(out, c.out, c.name .. ' out', c.dtype)
        ;(out * from_golden(c.w)):sum():backward()
        expect_close(leaf.grad, c.grad_input, c.name .. ' grad of the input', c.dtype)
      end)
  end
end)

describe('CircularPad1d/2d/3d', function()
  local gradcheck = S.gradcheck_by({ eps = 1e-6, atol = 1e-5, rtol = 1e-5 })

  local cases = {
    { 'CircularPad1d', { 2, 2, 5 }, { 4, 5 } },
    { 'CircularPad1d', { 3, 6 }, { -2, 3 } },
    { 'CircularPad2d', { 2, 1, 3, 4 }, { 1, 4, 3, 2 } },
    { 'CircularPad2d', { 2, 4, 3 }, { -1, 2, 2, -1 } },
    { 'CircularPad3d', { 1, 2, 2, 3, 3 }, { 1, 1, 0, 3, 2, 1 } },
    { 'CircularPad3d', { 2, 3, 2, 4 }, { 2, -1, 1, 1, -1, 1 } },
  }
  for _, c in ipairs(cases) do
    it(('%s{%s} on [%s]: float64 gradcheck'):format(c[1], table.concat(c[3], ','), table.concat(c[2], ',')),
      function()
        local m = nn[c[1]](c[3])
        gradcheck(function(x) return m(x) end, { rand(c[2], 'float64'):requires_grad() })
      end)
  end

  it('wraps each side around: a closed form', function()
    local x = nl.tensor({ { 1, 2, 3, 4 }, { 5, 6, 7, 8 } })
    assert.are.same({ { 3, 4, 1, 2, 3, 4, 1 }, { 7, 8, 5, 6, 7, 8, 5 } }, nn.CircularPad1d({ 2, 1 })(x):totable())
    -- cropped first (two on the left), then what is left wrapped
    assert.are.same({ { 3, 4, 3 } }, nn.CircularPad1d({ -2, 1 })(nl.tensor({ { 1, 2, 3, 4 } })):totable())
    local y = nl.arange(1, 5):view(1, 2, 2)
    assert.are.same({ { { 4, 3, 4, 3 }, { 2, 1, 2, 1 }, { 4, 3, 4, 3 } } }, nn.CircularPad2d({ 1, 1, 1, 0 })(y):totable())
    -- an unbatched input is the batched result without its batch dim
    local z = rand({ 2, 3, 2, 4 })
    S.same_bits(nn.CircularPad3d(1)(z), nn.CircularPad3d(1)(z:unsqueeze(1)):squeeze(1), 'unbatched 3-D')
  end)

  it('prints its padding, and saves and loads back through nn.load', function()
    assert.are.equal('CircularPad1d((2, 2))', tostring(nn.CircularPad1d(2)):match('^[^\n]*'))
    assert.are.equal('CircularPad3d((1, 2, 3, 4, 5, 6))',
                     tostring(nn.CircularPad3d({ 1, 2, 3, 4, 5, 6 })):match('^[^\n]*'))
    local net = nn.Sequential(nn.CircularPad2d({ 1, 0, 2, 1 }), nn.Conv2d(2, 3, 3))
    local path = S.tmpdir() .. '/cp.safetensors'
    net:save(path)
    local back = nn.load(path)
    assert.are.equal(tostring(net), tostring(back))
    local x = rand({ 2, 2, 4, 5 })
    S.same_bits(back(x), net(x), 'the loaded network')
  end)

  it('refuses bad padding and inputs, naming the module and the shapes', function()
    has(error_of(nn.CircularPad1d(1), nl.ones(4)),
        'CircularPad1d: expected a 2-D (C, L) or 3-D (N, C, L) input, got [4]')
    has(error_of(nn.CircularPad2d(1), nl.ones(1, 2, 3, 4, 5)),
        'CircularPad2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got [1,2,3,4,5]')
    has(error_of(nn.CircularPad3d(1), nl.ones(2, 3)),
        'CircularPad3d: expected a 4-D (C, D, H, W) or 5-D (N, C, D, H, W) input, got [2,3]')
    has(error_of(nn.CircularPad1d(4), nl.ones(2, 3)),
        "CircularPad1d: mode 'circular' wraps a dim at most once: padding (4, 4) for dim 2 of input [2,3]")
    has(error_of(nn.CircularPad2d({ 0, 0, -2, 3 }), nl.ones(1, 1, 4, 2)),
        '(2 elements after cropping)')
    has(error_of(nn.CircularPad1d({ -3, -2 }), nl.ones(1, 1, 4)),
        'CircularPad1d: padding (-3, -2) leaves dim 3 of input [1,1,4] with -1 elements')
    has(error_of(nn.CircularPad2d, { 1, 2, 3 }),
        'CircularPad2d: padding must be an integer or a list of 4 integers')
    has(error_of(nn.CircularPad1d, 1.5), 'CircularPad1d: padding must be an integer or a list of 2 integers')
    has(error_of(nn.CircularPad1d, 1, 0), 'CircularPad1d: expected padding, got 2 arguments')
    has(error_of(nn.CircularPad1d(1), 'x'), 'CircularPad1d')
  end)
end)
