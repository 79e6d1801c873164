-- nn.MaxUnpool1d/2d/3d and F.max_unpool1d/2d/3d against PyTorch 1.13
-- (tests/golden/gen_unpool.py: values pooled with return_indices by
-- PyTorch, unpooled with those indices 1-based): outputs and gradients of
-- the pooled values, output_size with and without N and C, unbatched
-- inputs, overlapping windows; the modules; nnlua's own pools' indices;
-- float64 gradchecks; misuse.
local nl = require 'nnlua'
local nn = nl.nn
local F = nn.functional
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/unpool.lua')
-- (the float32 values are written in 9 digits)
local TOL = { float32 = { 1e-7, 0 }, float64 = { 0, 0 } }

local function opts_of(a) return { stride = a.stride, padding = a.padding, output_size = a.output_size } end

describe('max_unpool', function()
  local ops = {}
  for n = 1, 3 do
    ops['max_unpool' .. n .. 'd'] = function(x, a) return F['max_unpool' .. n .. 'd'](x[1], x[2], a.kernel_size, opts_of(a)) end
  end
  S.golden_its(it, golden, ops, function(c, op) S.check_golden_case(c, op, TOL) end)

  it('the modules give the functional forms\' values, also positionally, and print as PyTorch', function()
    for _, c in ipairs(golden) do
      local a = c.args
      local m = nn['MaxUnpool' .. a.n .. 'd'](a.kernel_size, a.stride, a.padding)
      local x, i = S.from_golden(c.inputs[1]), S.from_golden(c.inputs[2])
      S.expect_golden(m(x, i, a.output_size), c.outs[1], c.name, TOL[x:dtype()])
      local f = F['max_unpool' .. a.n .. 'd'](x, i, a.kernel_size, a.stride, a.padding, a.output_size)
      S.expect_golden(f, c.outs[1], c.name .. ' positional', TOL[x:dtype()])
    end
    assert.are.equal('MaxUnpool1d(kernel_size=(2,), stride=(2,), padding=(0,))', tostring(nn.MaxUnpool1d(2)):match('^[^\n]*'))
    assert.are.equal('MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))',
                     tostring(nn.MaxUnpool2d(2)):match('^[^\n]*'))
    assert.are.equal('MaxUnpool3d(kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=(1, 1, 1))',
                     tostring(nn.MaxUnpool3d(3, { stride = 1, padding = 1 })):match('^[^\n]*'))
  end)

  it('inverts nnlua\'s max pools: each maximum back in its place, zeros elsewhere', function()
    nl.manual_seed(4)
    for n, pool in ipairs({ F.max_pool1d, F.max_pool2d, F.max_pool3d }) do
      local shape = ({ { 2, 3, 9 }, { 2, 3, 6, 7 }, { 1, 2, 4, 6, 5 } })[n]
      local x = nl.rand(shape) + 0.5       -- positive: the zeros lose to each maximum
      local y, i = pool(x, 2, { return_indices = true })
      local size = {}
      for d = 3, #shape do size[d - 2] = shape[d] end
      local u = F['max_unpool' .. n .. 'd'](y, i, 2, { output_size = size })
      assert.are.same(shape, u:shape())
      -- where u is nonzero it is x; pooling u again gives y
      S.same_bits(nl.where(u:ne(0), x, 0), u, n .. '-D kept values')
      S.same_bits(pool(u, 2), y, n .. '-D pooled again')
      assert.are.equal(y:numel(), u:ne(0):sum():item())
    end
  end)

  it('passes float64 gradchecks', function()
    nl.manual_seed(6)
    local x = S.randn64(2, 2, 5, 4)
    local _, i = F.max_pool2d(x, 2, { return_indices = true })
    local y = F.max_pool2d(x, 2)
    S.gradcheck(function(v) return F.max_unpool2d(v, i, 2, { output_size = { 5, 4 } }) end, y)
    local x1 = S.randn64(3, 8)
    local y1, i1 = F.max_pool1d(x1, 3, { stride = 3, padding = 1, return_indices = true })
    S.gradcheck(function(v) return nn.MaxUnpool1d(3, 3, 1)(v, i1, { 8 }) end, y1)
  end)

  it('refuses bad indices, shapes and output sizes, naming the op and shapes', function()
    local y, i = F.max_pool2d(nl.randn(1, 2, 4, 4), 2, { return_indices = true })
    S.contains(S.errmsg(F.max_unpool2d, y, i:float(), 2), 'max_unpool2d: indices must be int64')
    S.contains(S.errmsg(F.max_unpool2d, y, i:narrow(4, 1, 1), 2),
               'max_unpool2d: indices shape [1,2,2,1] differs from input shape [1,2,2,2]')
    S.contains(S.errmsg(F.max_unpool2d, y, i * 0, 2), "max_unpool2d: index 0 is outside the output's 16 positions")
    S.contains(S.errmsg(F.max_unpool2d, y, i + 16, 2), 'max_unpool2d: index')
    S.contains(S.errmsg(F.max_unpool2d, y, i, 2, { output_size = { 6, 4 } }),
               'max_unpool2d: invalid output_size {6, 4} for input shape [1,2,2,2] (dim 1 must be between 2 and 6, exclusive)')
    S.contains(S.errmsg(F.max_unpool2d, y, i, 2, { output_size = { 4 } }),
               'max_unpool2d: output_size must be a list of 2 or 4 sizes, got 1')
    -- (a kernel of 1 gives a 2 x 2 output, too small for the indices)
    S.contains(S.errmsg(F.max_unpool2d, y:view(2, 2, 2), i:view(2, 2, 2), 1),
               "is outside the output's 4 positions (output size [2,2] for input shape [2,2,2])")
    S.contains(S.errmsg(F.max_unpool2d, y:view(-1), i:view(-1), 2),
               'max_unpool2d: expected input (N, C, H, W) or (C, H, W), got shape [8]')
    S.contains(S.errmsg(F.max_unpool1d, y, i, 2), 'max_unpool1d: expected input (N, C, L) or (C, L)')
    S.contains(S.errmsg(F.max_unpool2d, y, i, 0), 'max_unpool2d: kernel_size must be an integer >= 1')
    -- an output no allocation can hold is refused by the op, not by the
    -- zeros or full inside it
    S.contains(S.errmsg(F.max_unpool1d, nl.randn(1, 2, 3), nl.ones({ 1, 2, 3 }, 'int64'), 2 ^ 50),
               'max_unpool1d: output size [3377699720527872] of input [1,2,3] is too large')
    S.contains(S.errmsg(F.max_unpool2d, nl.randn(1, 2, 3, 3), nl.ones({ 1, 2, 3, 3 }, 'int64'), 2 ^ 31),
               'max_unpool2d: output size [6442450944,6442450944] of input [1,2,3,3] is too large')
    S.contains(S.errmsg(F.max_unpool2d, y, i, 2, { dilation = 1 }), "max_unpool2d: unknown option 'dilation'")
    S.contains(S.errmsg(nn.MaxUnpool3d, { 2, 2 }),
               'MaxUnpool3d: kernel_size must be an integer >= 1 or a list {d, h, w} of them, got {2, 2}')
    S.contains(S.errmsg(nn.MaxUnpool2d, 2, 2, { 1, -1 }),
               'MaxUnpool2d: padding must be an integer >= 0 or a list {h, w} of them, got {1, -1}')
    S.contains(S.errmsg(function() nn.MaxUnpool2d(2)(y, i, { 4, 4 }, 1) end), 'MaxUnpool2d: takes (input, indices, output_size)')
  end)
end)
