-- nn.FractionalMaxPool2d and F.fractional_max_pool2d against PyTorch 1.13
-- (tests/golden/gen_fractional_pool.py) for given _random_samples:
-- outputs, 1-based indices and input gradients, output_size and
-- output_ratio, unbatched, float32 and float64; the module; draws from
-- nnlua's generator; float64 gradchecks; misuse.
local nl = require 'nnlua'
local nn = nl.nn
local F = nn.functional
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/fractional_pool.lua')
-- (float32 values are written in 9 digits; the indices are compared exactly)
local TOL = { float32 = { 1e-7, 0 }, float64 = { 0, 0 } }

local function call(x, a)
  return F.fractional_max_pool2d(x[1], a.kernel_size, { output_size = a.output_size, output_ratio = a.output_ratio,
                                                        return_indices = true, _random_samples = x[2] })
end

describe('fractional_max_pool2d', function()
  S.golden_its(it, golden, { fractional_max_pool2d = function(x, a) return { call(x, a) } end },
               function(c, op) S.check_golden_case(c, op, TOL) end)

  it('the module gives the same values, positional forms too, and keeps its samples', function()
    for _, c in ipairs(golden) do
      local a = c.args
      local x, s = S.from_golden(c.inputs[1]), S.from_golden(c.inputs[2])
      local m = nn.FractionalMaxPool2d(a.kernel_size, { output_size = a.output_size, output_ratio = a.output_ratio,
                                                        return_indices = true, _random_samples = s })
      local y, i = m(x)
      S.expect_golden(y, c.outs[1], c.name .. ' module output', TOL[x:dtype()])
      S.expect_golden(i, c.outs[2], c.name .. ' module indices')
      local y2 = F.fractional_max_pool2d(x, a.kernel_size, a.output_size, a.output_ratio, false, s)
      S.expect_golden(y2, c.outs[1], c.name .. ' positional', TOL[x:dtype()])
      assert.are.same({ '_random_samples' }, S.names_of(m:named_buffers()))
    end
  end)

  it('draws its samples from nnlua\'s generator, one pair per plane', function()
    local x = nl.randn(2, 3, 9, 9)
    nl.manual_seed(17)
    local y1, i1 = F.fractional_max_pool2d(x, 2, { output_ratio = 0.6, return_indices = true })
    nl.manual_seed(17)
    local s = nl.rand({ 2, 3, 2 })
    local y2, i2 = F.fractional_max_pool2d(x, 2, { output_ratio = 0.6, return_indices = true, _random_samples = s })
    S.same_bits(y1, y2, 'values')
    S.same_bits(i1, i2, 'indices')
    assert.are.same({ 2, 3, 5, 5 }, y1:shape())
    -- each output is the maximum of x over its window: the indices point at it
    S.same_bits(x:reshape(2, 3, 81):gather(3, i1:reshape(2, 3, 25)):reshape(2, 3, 5, 5), y1, 'values at indices')
    -- the pooled windows change with the draws
    local y3 = F.fractional_max_pool2d(x, 2, { output_ratio = 0.6 })
    assert.is_true((y3 - y1):abs():max():item() > 0)
  end)

  it('passes float64 gradchecks', function()
    nl.manual_seed(19)
    local s = nl.rand({ 2, 2, 2 }, 'float64')
    S.gradcheck(function(x) return F.fractional_max_pool2d(x, { 2, 3 }, { output_size = { 3, 3 }, _random_samples = s }) end,
                S.randn64(2, 2, 6, 7))
    local s1 = nl.rand({ 1, 2, 2 }, 'float64')
    S.gradcheck(function(x) return nn.FractionalMaxPool2d(3, { output_size = 4, _random_samples = s1 })(x) end,
                S.randn64(2, 6, 6))
  end)

  it('gives an empty output for an empty batch and refuses no channels, as PyTorch 1.13', function()
    -- PyTorch: (0, 1, 5, 5) -> (0, 1, 2, 2); unbatched (0, 5, 5) -> (0, 2, 2);
    -- (1, 0, 5, 5) refused (non-zero size for non-batch dimensions)
    local x = nl.randn(0, 1, 5, 5):requires_grad_()
    local y, i = F.fractional_max_pool2d(x, 2, { output_size = 2, return_indices = true })
    assert.are.same({ 0, 1, 2, 2 }, y:shape())
    assert.are.same({ 0, 1, 2, 2 }, i:shape())
    assert.equals('int64', i:dtype())
    y:sum():backward()
    assert.are.same({ 0, 1, 5, 5 }, x.grad:shape())
    assert.are.same({ 0, 2, 2 }, nn.FractionalMaxPool2d(3, { output_ratio = 0.5 })(nl.randn(0, 5, 5)):shape())
    S.contains(S.errmsg(F.fractional_max_pool2d, nl.randn(1, 0, 5, 5), 2, { output_size = 2 }),
               'fractional_max_pool2d: expected an input of at least one channel, got shape [1,0,5,5]')
  end)

  it('gives an empty output for an output size of 0, given or of a ratio, in 3-D too, as PyTorch 1.13', function()
    -- PyTorch: (1, 1, 8, 7, 4) with kernel (3, 2, 3) and ratio (0.361,
    -- 0.651, 0.211) -> (1, 1, 2, 4, 0), the input's gradient zero (nnlua
    -- refused it: 'pool width 3 too large relative to input width 4 for
    -- output width 0'; the 2-D cases are golden_its')
    local x = nl.randn(1, 1, 8, 7, 4):requires_grad_()
    local y, i = F.fractional_max_pool3d(x, { 3, 2, 3 }, { output_ratio = { 0.361, 0.651, 0.211 },
                                                          return_indices = true })
    assert.are.same({ 1, 1, 2, 4, 0 }, y:shape())
    assert.are.same({ 1, 1, 2, 4, 0 }, i:shape())
    y:sum():backward()
    assert.are.same(0, x.grad:abs():sum():item())
    assert.are.same({ 2, 0, 3, 3 }, nn.FractionalMaxPool3d(2, { output_size = { 0, 3, 3 } })(nl.randn(2, 5, 5, 5)):shape())
  end)

  it('refuses bad sizes, ratios, samples and inputs, naming the op and shapes', function()
    local x = nl.randn(1, 2, 5, 5)
    local op = 'fractional_max_pool2d'
    S.contains(S.errmsg(F.fractional_max_pool2d, x, 3, { output_size = 4 }),
               op .. ': pool height 3 too large relative to input height 5 for output height 4 (input shape [1,2,5,5])')
    S.contains(S.errmsg(F.fractional_max_pool2d, x, 2, {}), op .. ': requires specifying either an output size, or a pooling ratio')
    S.contains(S.errmsg(F.fractional_max_pool2d, x, 2, { output_size = 3, output_ratio = 0.5 }),
               op .. ': only one of output_size and output_ratio may be specified')
    S.contains(S.errmsg(F.fractional_max_pool2d, x, 2, { output_ratio = 1 }), op .. ': output_ratio must be between 0 and 1')
    S.contains(S.errmsg(F.fractional_max_pool2d, x, 2, { output_size = 3, _random_samples = nl.rand(1, 3, 2) }),
               op .. ': _random_samples must be a float32 tensor of shape [1,2,2] for input [1,2,5,5], got float32 [1,3,2]')
    S.contains(S.errmsg(F.fractional_max_pool2d, x, 2, { output_size = 3, _random_samples = nl.ones(1, 2, 2) }),
               op .. ': _random_samples must lie in [0, 1)')
    S.contains(S.errmsg(F.fractional_max_pool2d, nl.randn(5, 5), 2, { output_size = 3 }),
               op .. ': expected input (N, C, H, W) or (C, H, W), got shape [5,5]')
    S.contains(S.errmsg(F.fractional_max_pool2d, x, 0, { output_size = 3 }),
               op .. ': kernel_size must be an integer >= 1 or a list {h, w} of them, got 0')
    S.contains(S.errmsg(F.fractional_max_pool2d, x, 2, { output_ratio = { 0.5, 'x' } }),
               op .. ": output_ratio must be a number or a list {h, w} of them, got {0.5, x}")
    S.contains(S.errmsg(nn.FractionalMaxPool3d, 2, { output_size = { 2, 2 } }),
               'FractionalMaxPool3d: output_size must be an integer >= 0 or a list {t, h, w} of them, got {2, 2}')
    S.contains(S.errmsg(F.fractional_max_pool2d, x, 2, { stride = 1 }), op .. ": unknown option 'stride'")
    S.contains(S.errmsg(nn.FractionalMaxPool2d, 2), 'FractionalMaxPool2d: requires specifying either')
  end)
end)
