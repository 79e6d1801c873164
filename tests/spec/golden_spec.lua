-- Every differentiable op against PyTorch golden values (STYLE 12):
-- tests/golden/ops.lua, made by tests/golden/gen_ops.py. For each case the
-- forward output, then the gradients of (out * w):sum() for each input.
-- Tolerance: |got - want| <= RTOL * |want| + ATOL, elementwise, float32;
-- shapes must match exactly and max/min indices must be equal.
local nl = require 'nnlua'
local S = require 'support'

local RTOL, ATOL = 1e-5, 1e-6

local cases = dofile(S.root .. '/tests/golden/ops.lua')

-- op name in ops.lua -> the nnlua call; x is the list of input tensors,
-- a the case's args (1-based dims). One line per op (tinygrad helper_test_op).
local ops = {
  add         = function(x) return x[1] + x[2] end,
  sub         = function(x) return x[1] - x[2] end,
  mul         = function(x) return x[1] * x[2] end,
  div         = function(x) return x[1] / x[2] end,
  pow         = function(x) return x[1] ^ x[2] end,
  maximum     = function(x) return nl.maximum(x[1], x[2]) end,
  minimum     = function(x) return nl.minimum(x[1], x[2]) end,
  add_scalar  = function(x, a) return x[1] + a.scalar end,
  rsub_scalar = function(x, a) return a.scalar - x[1] end,
  mul_scalar  = function(x, a) return x[1] * a.scalar end,
  div_scalar  = function(x, a) return x[1] / a.scalar end,
  rdiv_scalar = function(x, a) return a.scalar / x[1] end,
  pow_scalar  = function(x, a) return x[1] ^ a.scalar end,
  rpow_scalar = function(x, a) return a.scalar ^ x[1] end,
  neg         = function(x) return -x[1] end,
  exp         = function(x) return x[1]:exp() end,
  log         = function(x) return x[1]:log() end,
  sqrt        = function(x) return x[1]:sqrt() end,
  abs         = function(x) return x[1]:abs() end,
  relu        = function(x) return x[1]:relu() end,
  sigmoid     = function(x) return x[1]:sigmoid() end,
  tanh        = function(x) return x[1]:tanh() end,
  clamp       = function(x, a) return x[1]:clamp(a.lo, a.hi) end,
  sum         = function(x, a) return x[1]:sum(a.dim, a.keepdim) end,
  mean        = function(x, a) return x[1]:mean(a.dim, a.keepdim) end,
  max         = function(x, a) return x[1]:max(a.dim, a.keepdim) end,
  min         = function(x, a) return x[1]:min(a.dim, a.keepdim) end,
  softmax     = function(x, a) return x[1]:softmax(a.dim) end,
  log_softmax = function(x, a) return x[1]:log_softmax(a.dim) end,
  matmul      = function(x) return nl.matmul(x[1], x[2]) end,
  view        = function(x, a) return x[1]:view(a.shape) end,
  reshape     = function(x, a) return x[1]:reshape(a.shape) end,
  transpose   = function(x, a) return x[1]:transpose(a.dim1, a.dim2) end,
  permute     = function(x, a) return x[1]:permute(a.dims) end,
  narrow      = function(x, a) return x[1]:narrow(a.dim, a.start, a.length) end,
  select      = function(x, a) return x[1]:select(a.dim, a.index) end,
  expand      = function(x, a) return x[1]:expand(a.sizes) end,
  index_select = function(x, a) return x[1]:index_select(a.dim, nl.tensor(a.index, 'int64')) end,
  cat         = function(x, a) return nl.cat(x, a.dim) end,
  stack       = function(x, a) return nl.stack(x, a.dim) end,
  where       = function(x) return nl.where(x[1], x[2], x[3]) end,
  mul_add_sum = function(x) return (x[1] * x[2] + x[1]):sum() end,
  linear_softmax = function(x, a) return (nl.matmul(x[1], x[2]) + x[3]):softmax(a.dim) end,
}

-- a float32 tensor from a golden {shape, data}
local from_golden = S.from_golden
local flat = S.flat

-- got equals golden want within rtol, atol
local expect_close = S.expect_close

local function build_inputs(c, with_grad)
  local x = {}
  for i, g in ipairs(c.inputs) do
    x[i] = from_golden(g)
    if with_grad and c.grads[i] then x[i] = x[i]:requires_grad() end
  end
  return x
end

local function has_autograd()
  return nl.Tensor.requires_grad ~= nil
end

describe('ops against PyTorch golden values', function()
  it('has a golden case for every op in the table and an op for every case', function()
    S.check_cases_cover(cases, ops)
  end)

  for _, c in ipairs(cases) do
    local f = ops[c.op]

    it(c.name .. ': forward', function()
      local out, idx = f(build_inputs(c, false), c.args)
      expect_close(out, c.out, c.name .. ' out', RTOL, ATOL)
      if c.indices then
        assert.is_true(nl.is_tensor(idx), c.name .. ': indices not returned')
        assert.are.same(c.indices.shape, idx:shape(), c.name .. ' indices: shape')
        assert.are.same(c.indices.data, flat(idx), c.name .. ' indices')
      end
    end)

    it(c.name .. ': backward', function()
      if not has_autograd() then pending('autograd (t:requires_grad) not available') return end
      local x = build_inputs(c, true)
      local out = f(x, c.args)
      expect_close(out, c.out, c.name .. ' out (with grad)', RTOL, ATOL)
      local loss = (out * from_golden(c.w)):sum()
      loss:backward()
      for i, g in ipairs(c.grads) do
        if g then
          assert.is_not_nil(x[i].grad, string.format('%s: input %d has no grad', c.name, i))
          expect_close(x[i].grad, g, string.format('%s grad of input %d', c.name, i), RTOL, ATOL)
        else
          assert.is_nil(x[i].grad, string.format('%s: input %d should have no grad', c.name, i))
        end
      end
    end)
  end
end)
