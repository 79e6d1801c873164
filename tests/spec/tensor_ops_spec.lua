-- Tensor methods beyond the elementwise core against PyTorch golden values
-- (tests/golden/tensor_ops.lua, made by tests/golden/gen_tensor_ops.py):
-- add's and sub's alpha, div's rounding_mode, splits (chunk, split,
-- unbind), dim moves (flatten, unflatten, movedim), masked_fill, gather,
-- scatter, scatter_add, index_add, sort and topk (ties in stable order);
-- values, int64 outputs
-- (exactly) and the gradients of sum((out_i * w_i):sum()); then float64
-- gradchecks and the errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local TOL = { float32 = { 1e-5, 1e-6 } }
local cases = dofile(S.root .. '/tests/golden/tensor_ops.lua')

-- op name in tensor_ops.lua -> the nnlua call, returning a tensor or a
-- list of them; x: the inputs, a: the case's args (1-based)
local ops = {
  add_alpha       = function(x, a) return x[1]:add(x[2], a.alpha) end,
  sub_alpha       = function(x, a) return x[1]:sub(x[2], a.alpha) end,
  sub_alpha_t     = function(x, a) return x[1]:t():sub(x[2], a.alpha) end,
  div_mode        = function(x, a) return x[1]:div(x[2], a.mode) end,
  div_mode_scalar = function(x, a) return x[1]:div(a.scalar, a.mode) end,
  chunk           = function(x, a) return x[1]:chunk(a.n, a.dim) end,
  chunk_t         = function(x, a) return x[1]:t():chunk(a.n, a.dim) end,
  split           = function(x, a) return x[1]:split(a.size, a.dim) end,
  split_t         = function(x, a) return x[1]:t():split(a.size, a.dim) end,
  unbind          = function(x, a) return x[1]:unbind(a.dim) end,
  unbind_t        = function(x, a) return x[1]:t():unbind(a.dim) end,
  flatten         = function(x, a) return x[1]:flatten(a.start, a.stop) end,
  flatten_t       = function(x, a) return x[1]:transpose(1, 3):flatten(a.start) end,
  unflatten       = function(x, a) return x[1]:unflatten(a.dim, a.sizes) end,
  movedim         = function(x, a) return x[1]:movedim(a.src, a.dst) end,
  masked_fill     = function(x, a) return x[1]:masked_fill(x[2], a.value) end,
  masked_fill_t   = function(x, a) return x[1]:t():masked_fill(x[2], a.value) end,
  masked_fill_tensor = function(x) return x[1]:masked_fill(x[2], x[3]) end,
  gather          = function(x, a) return x[1]:gather(a.dim, x[2]) end,
  gather_t        = function(x, a) return x[1]:t():gather(a.dim, x[2]) end,
  scatter         = function(x, a) return x[1]:scatter(a.dim, x[2], x[3]) end,
  scatter_t       = function(x, a) return x[1]:t():scatter(a.dim, x[2], x[3]:t()) end,
  scatter_value   = function(x, a) return x[1]:scatter(a.dim, x[2], a.value) end,
  scatter_add     = function(x, a) return x[1]:scatter_add(a.dim, x[2], x[3]) end,
  scatter_add_t   = function(x, a) return x[1]:scatter_add(a.dim, x[2], x[3]:t()) end,
  index_add       = function(x, a) return x[1]:index_add(a.dim, x[2], x[3], a.alpha) end,
  index_add_t     = function(x, a) return x[1]:t():index_add(a.dim, x[2], x[3]) end,
  sort            = function(x, a) return { x[1]:sort(a.dim, a.descending) } end,
  sort_t          = function(x, a) return { x[1]:t():sort(a.dim, a.descending) } end,
  topk            = function(x, a) return { x[1]:topk(a.k, a.dim, a.largest) } end,
  topk_t          = function(x, a) return { x[1]:t():topk(a.k, a.dim, a.largest) } end,
}

describe('tensor methods against PyTorch golden values', function()
  it('has a golden case for every op in the table and an op for every case', function()
    S.check_cases_cover(cases, ops)
  end)

  for _, c in ipairs(cases) do
    it(c.name, function()
      S.check_method_case(c, ops[c.op], TOL)
    end)
  end
end)

-- f on fresh float64 leaves of the given shapes passes nl.gradcheck
local function gradcheck(f, shapes)
  local x = {}
  for i, s in ipairs(shapes) do x[i] = nl.randn(s, 'float64'):requires_grad() end
  local ok, msg = nl.gradcheck(f, x)
  assert(ok, msg)
end

describe('tensor methods: float64 gradchecks', function()
  before_each(function() nl.manual_seed(7) end)
  it('add and sub with alpha', function()
    gradcheck(function(a, b) return a:add(b, -2.5) end, { { 3, 4 }, { 4 } })
    gradcheck(function(a, b) return a:t():sub(b, 1.5) end, { { 4, 3 }, { 3, 4 } })
  end)
end)

describe('tensor methods: float64 gradchecks of splits and dim moves', function()
  before_each(function() nl.manual_seed(11) end)
  it('through chunk, split, unbind, flatten, unflatten, movedim', function()
    -- pieces weighted differently, so a gradient sent to the wrong piece shows
    local function weigh(list)
      local s = list[1]:sum()
      for i = 2, #list do s = s + list[i]:sum() * (i + 0.5) + (list[i] * list[i]):sum() end
      return s
    end
    gradcheck(function(x) return weigh(x:t():chunk(3, 2)) end, { { 5, 3 } })
    gradcheck(function(x) return weigh(x:split({ 2, 1, 2 }, 1)) end, { { 5, 2 } })
    gradcheck(function(x) return weigh(x:unbind(-1)) end, { { 2, 3 } })
    gradcheck(function(x) return x:transpose(1, 2):flatten(1, 2):unflatten(1, { 3, 2 }):movedim(3, 1) end,
      { { 2, 3, 2 } })
  end)
  it('views of the input: a write through a piece shows in it', function()
    local x = nl.zeros(4, 3)
    x:chunk(2, 1)[2]:fill_(1)
    assert.are.same({ 0, 0, 1, 1 }, x:sum(2):div(3):totable())
    assert.is_true(x:movedim(1, 2):is_contiguous() == false)
  end)
end)

describe('tensor methods: masked_fill', function()
  it('float64 gradcheck of the tensor and of a 0-dim value', function()
    nl.manual_seed(3)
    local m = nl.tensor({ { 1, 0, 0 }, { 0, 1, 1 } }, 'int64')
    gradcheck(function(x, v) return x:masked_fill(m, v) * x end, { { 2, 3 }, {} })
  end)
  it('int64 keeps its dtype (a fraction truncates, as PyTorch); in place; float32 overflow refused', function()
    local t = nl.tensor({ 1, 2, 3 }, 'int64')
    local r = t:masked_fill(nl.tensor({ 0, 1, 1 }, 'int64'), -2.7)
    assert.are.equal('int64', r:dtype())
    assert.are.same({ 1, -2, -2 }, r:totable())
    local f = nl.zeros(2, 2)
    assert.are.equal(f, f:masked_fill_(nl.tensor({ 1, 0 }), 4))
    assert.are.same({ { 4, 0 }, { 4, 0 } }, f:totable())
    S.contains(S.errmsg(function() return f:masked_fill(nl.ones(2), 1e300) end), 'masked_fill: 1e+300 cannot be stored in float32')
    S.contains(S.errmsg(function() return f:masked_fill(nl.ones(3), 1) end),
      'masked_fill: mask of shape [3] does not broadcast with the shape [2,2] of the tensor')
    S.contains(S.errmsg(function() return f:masked_fill(nl.ones(2), nl.ones(1)) end),
      'masked_fill: value must be a number or a 0-dim tensor, got a tensor of shape [1]')
  end)
end)

describe('tensor methods: gather, scatter, scatter_add, index_add', function()
  before_each(function() nl.manual_seed(5) end)
  local i = nl.tensor({ { 2, 1 }, { 3, 3 }, { 1, 2 } }, 'int64')
  it('float64 gradchecks, a repeated index and a source larger than the index among them', function()
    gradcheck(function(x) return x:gather(2, i) * x:gather(2, i) end, { { 3, 4 } })
    gradcheck(function(x) return x:t():gather(1, nl.tensor({ { 1, 3, 2 } }, 'int64')) end, { { 3, 3 } })
    gradcheck(function(x, s) return x:scatter(2, nl.tensor({ { 2, 1 }, { 3, 4 }, { 1, 2 } }, 'int64'), s) end,
      { { 3, 4 }, { 3, 3 } })
    gradcheck(function(x, s) return x:scatter_add(2, i, s) * x end, { { 3, 4 }, { 4, 2 } })
    gradcheck(function(x, s) return x:index_add(2, nl.tensor({ 3, 1, 3 }, 'int64'), s, -0.5) end, { { 2, 4 }, { 2, 3 } })
  end)
  it('in place, int64, tables as indices', function()
    local x = nl.zeros(2, 3)
    assert.are.equal(x, x:scatter_(2, { { 3 }, { 1 } }, 7))
    assert.are.same({ { 0, 0, 7 }, { 7, 0, 0 } }, x:totable())
    x:scatter_add_(1, { { 2, 2, 1 } }, nl.ones(1, 3))
    assert.are.same({ { 0, 0, 8 }, { 8, 1, 0 } }, x:totable())
    x:index_add_(2, nl.tensor({ 1 }, 'int64'), nl.ones(2, 1), 3)
    assert.are.same({ { 3, 0, 8 }, { 11, 1, 0 } }, x:totable())
    local n = nl.tensor({ { 2 ^ 53, 5 } }, 'int64') + nl.tensor({ { 1, 0 } }, 'int64')
    -- int64 values move exactly (2^53 + 1 has no double)
    local g = n:gather(2, { { 2, 1 } })
    assert.is_true(g:sub(nl.tensor({ { 5, 2 ^ 53 } }, 'int64')):eq(nl.tensor({ { 0, 1 } }, 'int64')):sum():item() == 2)
    assert.are.same({ { 9, 5 } }, n:scatter_add(2, { { 1 } }, nl.tensor({ { -(2 ^ 53) + 8 } }, 'int64')):totable())
  end)
  it('bad indices and shapes are errors naming the op and the shapes', function()
    local x = nl.zeros(3, 4)
    S.contains(S.errmsg(function() return x:gather(2, { { 5 } }) end), 'gather: index 5 out of range for dim 2 of shape [3,4]')
    S.contains(S.errmsg(function() return x:gather(2, { { 0 } }) end), 'gather: index 0 out of range for dim 2 of shape [3,4]')
    S.contains(S.errmsg(function() return x:gather(2, { 1 }) end),
      'gather: index of shape [1] must have as many dims as the tensor of shape [3,4]')
    S.contains(S.errmsg(function() return x:gather(2, nl.ones(1, 1)) end), 'gather: index must be an int64 tensor, got float32 [1,1]')
    S.contains(S.errmsg(function() return x:gather(1, nl.ones(1, 5, 'int64')) end),
      'gather: index of shape [1,5] is larger than the tensor of shape [3,4] in dim 2')
    S.contains(S.errmsg(function() return x:scatter(1, nl.ones(2, 2, 'int64'), nl.ones(1, 2)) end),
      'scatter: index of shape [2,2] is larger than the source of shape [1,2] in dim 1')
    S.contains(S.errmsg(function() return x:scatter_add(1, nl.ones(1, 1, 'int64'), nl.ones(1, 1, 'float64')) end),
      "scatter_add: the source's dtype float64 differs from the tensor's float32")
    S.contains(S.errmsg(function() return x:scatter_add(1, nl.ones(1, 1, 'int64'), 2) end), 'scatter_add: expected a tensor as source')
    S.contains(S.errmsg(function() return x:index_add(1, nl.tensor({ 4 }, 'int64'), nl.ones(1, 4)) end),
      'index_add: index 4 out of range for dim 1 of shape [3,4]')
    S.contains(S.errmsg(function() return x:index_add(1, nl.tensor({ 1 }, 'int64'), nl.ones(2, 4)) end),
      "index_add: source of shape [2,4] must be the tensor's shape [3,4] but 1 (the index's length) in dim 1")
    S.contains(S.errmsg(function() return x:gather(3, { { 1 } }) end), 'gather: dim 3 out of range')
    S.contains(S.errmsg(function() return x:gather(1, { { 1 } }, 1) end), 'gather: takes (dim, index), got 3 arguments')
  end)
end)

describe('tensor methods: sort and topk', function()
  it('float64 gradchecks: the gradient goes to the places the values came from', function()
    nl.manual_seed(9)
    gradcheck(function(x) local v = x:sort(1, true) return v * nl.arange(1, 4):double():view(3, 1) end, { { 3, 4 } })
    gradcheck(function(x) local v = x:t():topk(2, 2, false) return v * v end, { { 5, 3 } })
  end)
  it('NaN sorts after every number (first descending), options table, int64, argsort', function()
    local x = nl.tensor({ 2, 0 / 0, -1, 2 })
    local v, i = x:sort()
    assert.are.same({ 3, 1, 4, 2 }, i:totable())
    assert.is_true(v[4] ~= v[4])
    local _, j = x:sort({ descending = true })
    assert.are.same({ 2, 1, 4, 3 }, j:totable())
    assert.are.same({ 2, 1, 4, 3 }, x:argsort(1, true):totable())
    local big = nl.tensor({ 2 ^ 53, 5 }, 'int64') + nl.tensor({ 1, 0 }, 'int64')
    assert.are.same({ 2, 1 }, select(2, big:sort()):totable())
    local tv, ti = nl.tensor(4):topk(1)
    assert.are.same({ 4, 1 }, { tv:item(), ti:item() })
  end)
  it('bad k, dims and flags are errors naming the op', function()
    local x = nl.zeros(2, 3)
    S.contains(S.errmsg(function() return x:topk(4) end), 'topk: k must be a whole number from 0 to 3 (the size of dim -1 of shape [2,3]), got 4')
    S.contains(S.errmsg(function() return x:topk(1.5, 1) end), 'topk: k must be a whole number from 0 to 2')
    S.contains(S.errmsg(function() return x:sort(3) end), 'sort: dim 3 out of range')
    S.contains(S.errmsg(function() return x:sort(1, 1) end), 'sort: expected descending as a boolean')
    S.contains(S.errmsg(function() return x:sort({ dims = 1 }) end), "sort: unknown option 'dims'")
    S.contains(S.errmsg(function() return x:topk(1, 1, true, true, 1) end), 'topk: takes (k, [dim], [largest], [sorted]), got 5 arguments')
  end)
end)

-- Edge cases of the methods above, each against PyTorch 1.13's value (the
-- torch line that gave it in the comment above it) or its refusal
describe('tensor methods: edge cases against PyTorch 1.13', function()
  local inf, nan = math.huge, 0 / 0
  -- got's elements are want's exactly: the sign of a zero and NaN included
  local function same(want, got, what)
    local g = S.flat(got)
    assert.are.equal(#want, #g, what .. ': number of elements')
    for i, w in ipairs(want) do
      local v = g[i]
      local ok = (w ~= w and v ~= v) or (w == v and (w ~= 0 or 1 / w == 1 / v))
      assert(ok, ('%s: element %d is %s, expected %s'):format(what, i, tostring(v), tostring(w)))
    end
  end

  it("div(b, 'floor') of floats is Python's floor division, tensor or number divisor", function()
    local a = { 1, 5, -1, -5, 7, -7, 0, -0.0, 3, 1, -1, 0, inf, -inf, nan, 5, 1e30 }
    local b = { 0.1, 0.1, 0.1, 0.1, -2, 2, 3, 3, 0, 0, 0, -2, 2, 2, 1, inf, 3e-9 }
    -- torch.div(torch.tensor(a, dtype=dt), torch.tensor(b, dtype=dt), rounding_mode='floor').tolist()
    local want = {
      float32 = { 9, 49, -10, -50, -4, -4, 0, -0.0, inf, inf, -inf, -0.0, nan, nan, nan, 0, 3.3333332943699295e+38 },
      float64 = { 9, 49, -10, -50, -4, -4, 0, -0.0, inf, inf, -inf, -0.0, nan, nan, nan, 0, 3.3333333333333333e+38 },
    }
    for dt, w in pairs(want) do
      same(w, nl.tensor(a, dt):div(nl.tensor(b, dt), 'floor'), dt .. ' by a tensor')
      -- torch.div(torch.tensor([1., 5., -1., -5., 7., -7., 3.], dtype=dt), 0.1, rounding_mode='floor')
      same({ 9, 49, -10, -50, 69, -70, 29 }, nl.tensor({ 1, 5, -1, -5, 7, -7, 3 }, dt):div(0.1, 'floor'), dt .. ' by 0.1')
      -- torch.div(torch.tensor([1., 5., 0.], dtype=dt), -0.1, rounding_mode='floor')
      same({ -10, -50, -0.0 }, nl.tensor({ 1, 5, 0 }, dt):div(-0.1, 'floor'), dt .. ' by -0.1')
      -- torch.div(1.0, torch.tensor([0.1, 0.3, -0.1], dtype=dt), rounding_mode='floor')
      same({ 9, 3, -10 }, nl.div(1, nl.tensor({ 0.1, 0.3, -0.1 }, dt), 'floor'), dt .. ' of 1 by a tensor')
    end
    -- torch.div(torch.tensor([1, 5]), 0.1, rounding_mode='floor') (float32)
    local r = nl.tensor({ 1, 5 }, 'int64'):div(0.1, 'floor')
    assert.are.equal('float32', r:dtype())
    same({ 9, 49 }, r, 'int64 by 0.1')
    -- torch.div(torch.tensor([[1.], [5.]]), torch.tensor([0.1, -0.1], dtype=torch.float64), rounding_mode='floor')
    r = nl.tensor({ { 1 }, { 5 } }):div(nl.tensor({ 0.1, -0.1 }, 'float64'), 'floor')
    assert.are.equal('float64', r:dtype())
    same({ 9, -10, 49, -50 }, r, 'broadcast, promoted')
  end)

  it('div with a rounding_mode: the gradient is exactly 0, also where b is 0', function()
    for _, mode in ipairs({ 'trunc', 'floor' }) do
      -- a = torch.tensor([1., 2., -3.], requires_grad=True); b = torch.tensor([0., 2., 0.], requires_grad=True)
      -- torch.div(a, b, rounding_mode=mode).sum().backward(); a.grad, b.grad: [0., 0., 0.] both
      local a, b = nl.tensor({ 1, 2, -3 }):requires_grad(), nl.tensor({ 0, 2, 0 }):requires_grad()
      local q = a:div(b, mode)
      same({ inf, 1, -inf }, q, mode .. ' values')
      q:sum():backward()
      same({ 0, 0, 0 }, a.grad, mode .. ': grad of a')
      same({ 0, 0, 0 }, b.grad, mode .. ': grad of b')
      -- torch.div(a, 0, rounding_mode=mode).sum().backward(): a.grad [0., 0., 0.]
      a.grad = nil
      a:div(0, mode):sum():backward()
      same({ 0, 0, 0 }, a.grad, mode .. ' by 0: grad of a')
    end
  end)

  it('add and sub with alpha: the dtype of a and b, alpha * b computed in it', function()
    local i = nl.tensor({ 1, 2 }, 'int64')
    local function dtype_values(dt, want, got, what)
      assert.are.equal(dt, got:dtype(), what .. ': dtype')
      S.expect_close(got, { shape = { #want }, data = want }, what, 1e-14, 0)
    end
    -- torch.tensor([1, 2]).add(0.5, alpha=2), .sub(0.5, alpha=2): float32 [2., 3.], [0., 1.]
    dtype_values('float32', { 2, 3 }, i:add(0.5, 2), 'int64 + 2 * 0.5')
    dtype_values('float32', { 0, 1 }, i:sub(0.5, 2), 'int64 - 2 * 0.5')
    -- torch.tensor(1., dtype=torch.float64).add(torch.tensor([1, 2]), alpha=0.5): float64 [1.5, 2.]
    dtype_values('float64', { 1.5, 2 }, nl.tensor(1, 'float64'):add(i, 0.5), 'float64 0-dim + 0.5 * int64')
    -- torch.tensor(1., dtype=torch.float64).sub(torch.tensor([1, 2]), alpha=0.5): float64 [0.5, 0.]
    dtype_values('float64', { 0.5, 0 }, nl.tensor(1, 'float64'):sub(i, 0.5), 'float64 0-dim - 0.5 * int64')
    -- torch.tensor([1, 2]).add(torch.tensor(0.5, dtype=torch.float64), alpha=3): float64 [2.5, 3.5]
    dtype_values('float64', { 2.5, 3.5 }, i:add(nl.tensor(0.5, 'float64'), 3), 'int64 + 3 * float64 0-dim')
    -- torch.tensor([0.1, 0.7], dtype=torch.float64).add(torch.tensor([0.3, 0.9]), alpha=1/3).tolist()
    dtype_values('float64', { 0.20000000397364298, 0.999999992052714 },
      nl.tensor({ 0.1, 0.7 }, 'float64'):add(nl.tensor({ 0.3, 0.9 }), 1 / 3), 'float64 + 1/3 * float32')
    -- x = torch.tensor([1, 2]); x.add_(0.5, alpha=2), and x.add_(torch.tensor([0.5]), alpha=2):
    -- RuntimeError: result type Float can't be cast to the desired output type Long
    S.contains(S.errmsg(function() return i:clone():add_(0.5, 2) end),
      'add_: result of the float scalar 0.5 cannot be stored in an int64 destination')
    S.contains(S.errmsg(function() return i:clone():sub_(0.5, 2) end),
      'sub_: result of the float scalar 0.5 cannot be stored in an int64 destination')
    S.contains(S.errmsg(function() return i:clone():add_(nl.tensor({ 0.5 }), 2) end),
      'add_: a float result cannot be stored in an int64 tensor')
    assert.are.same({ 5, 6 }, i:clone():add_(2, 2):totable())
  end)

  it('gather, scatter and index_add refuse fractional indices in a table, naming the op', function()
    local x, one = nl.zeros(2, 2), nl.ones(1, 1)
    local want = {
      { function() return x:gather(2, { { 1 }, { 1.5 } }) end, 'gather: expected whole-number indices, got 1.5 at position {2, 1}' },
      { function() return x:scatter(2, { { 1.5 } }, 1) end, 'scatter: expected whole-number indices, got 1.5 at position {1, 1}' },
      { function() return x:clone():scatter_(2, { { 1.5 } }, 1) end, 'scatter_: expected whole-number indices, got 1.5' },
      { function() return x:scatter_add(2, { { 1.5 } }, one) end, 'scatter_add: expected whole-number indices, got 1.5' },
      { function() return x:clone():scatter_add_(2, { { 1.5 } }, one) end, 'scatter_add_: expected whole-number indices' },
      { function() return x:index_add(1, { 1, 1.5 }, nl.ones(2, 2)) end,
        'index_add: expected whole-number indices, got 1.5 at position 2' },
      { function() return x:clone():index_add_(1, { 1.5 }, nl.ones(1, 2)) end, 'index_add_: expected whole-number indices' },
    }
    for _, w in ipairs(want) do S.contains(S.errmsg(w[1]), w[2]) end
  end)

  it('int64: scatter_add and index_add wrap past 2^63; INT64_MIN is an index out of range', function()
    local min = nl.tensor({ -2 ^ 63 }, 'int64')
    local max = min - 1 -- wraps to 2^63 - 1, as PyTorch's
    local row = nl.cat({ max, nl.tensor({ 5 }, 'int64') }):view(1, 2)
    -- torch.tensor([[2**63 - 1, 5]]).scatter_add(1, torch.tensor([[0]]), torch.tensor([[1]])): [[-2**63, 5]]
    assert.are.same({ { -2 ^ 63, 5 } }, row:scatter_add(2, { { 1 } }, nl.ones(1, 1, 'int64')):totable())
    -- torch.tensor([2**63 - 1, 5]).index_add(0, torch.tensor([0]), torch.tensor([2])): [-2**63 + 1, 5]
    local r = row:view(2):index_add(1, { 1 }, nl.tensor({ 2 }, 'int64'))
    assert.are.equal(2, r:eq(nl.cat({ min + 1, nl.tensor({ 5 }, 'int64') })):sum():item())
    local x = nl.zeros(3, 4)
    S.contains(S.errmsg(function() return x:index_add(1, min, nl.ones(1, 4)) end),
      'index_add: index -9223372036854775808 out of range for dim 1 of shape [3,4]')
    S.contains(S.errmsg(function() return x:gather(1, min:view(1, 1)) end),
      'gather: index -9223372036854775808 out of range for dim 1 of shape [3,4]')
    S.contains(S.errmsg(function() return x:scatter_add(1, min:view(1, 1), nl.ones(1, 1)) end),
      'scatter_add: index -9223372036854775808 out of range')
  end)

  it('scatter and index_add messages and int64 values', function()
    local z = nl.zeros(3, 'int64')
    -- torch.zeros(3, dtype=torch.long).scatter(0, torch.tensor([1]), 2.7), and -2.7: [0, 2, 0], [0, -2, 0]
    assert.are.same({ 0, 2, 0 }, z:scatter(1, { 2 }, 2.7):totable())
    assert.are.same({ 0, -2, 0 }, z:scatter(1, { 2 }, -2.7):totable())
    -- ... scatter(0, torch.tensor([1]), v) for v nan, inf, 1e20:
    -- RuntimeError: value cannot be converted to type int64_t without overflow
    S.contains(S.errmsg(function() return z:scatter(1, { 2 }, nan) end), 'scatter: the value nan cannot be stored in an int64 tensor')
    S.contains(S.errmsg(function() return z:scatter(1, { 2 }, inf) end), 'scatter: the value inf cannot be stored in an int64 tensor')
    S.contains(S.errmsg(function() return z:clone():scatter_(1, { 2 }, 1e20) end), 'scatter_: the value 1e+20 cannot be stored')
    local t = nl.tensor({ 1, 2, 3 }, 'int64')
    -- torch.tensor([1, 2, 3]).index_add(0, torch.tensor([1]), torch.tensor([5]), alpha=2.5): [1, 12, 3]
    assert.are.same({ 1, 12, 3 }, t:index_add(1, { 2 }, nl.tensor({ 5 }, 'int64'), 2.5):totable())
    -- ... alpha=-2.5: [1, -8, 3]
    assert.are.same({ 1, -8, 3 }, t:clone():index_add_(1, { 2 }, nl.tensor({ 5 }, 'int64'), -2.5):totable())
    -- ... alpha=float('inf'): RuntimeError: value cannot be converted to type int64_t without overflow
    S.contains(S.errmsg(function() return t:index_add(1, { 2 }, nl.tensor({ 5 }, 'int64'), inf) end),
      'index_add: alpha inf cannot be converted to int64')
    -- in place: a source that requires grad, and C's errors, name the in-place op
    local x, s = nl.zeros(2, 3), nl.ones(1, 2):requires_grad()
    S.contains(S.errmsg(function() return x:scatter_(2, { { 1, 2 } }, s) end),
      'scatter_: the source of shape [1,2] requires grad')
    S.contains(S.errmsg(function() return x:scatter_add_(2, { { 1, 2 } }, s) end),
      'scatter_add_: the source of shape [1,2] requires grad')
    S.contains(S.errmsg(function() return x:index_add_(2, { 1, 2 }, nl.ones(2, 2):requires_grad()) end),
      'index_add_: the source of shape [2,2] requires grad')
    S.contains(S.errmsg(function() return x:scatter_(2, { { 4 } }, 1) end), 'scatter_: index 4 out of range for dim 2 of shape [2,3]')
    S.contains(S.errmsg(function() return x:scatter_add_(2, { { 4 } }, nl.ones(1, 1)) end), 'scatter_add_: index 4 out of range')
    S.contains(S.errmsg(function() return x:index_add_(2, { 4 }, nl.ones(2, 1)) end), 'index_add_: index 4 out of range')
    S.contains(S.errmsg(function() return x:scatter_(2, { { 1 } }, 1, 2) end), 'scatter_: takes (dim, index, src or value), got 4 arguments')
  end)

  it('chunk of an empty dim gives n empty pieces', function()
    -- len(torch.zeros(0, 4).chunk(2, 0)): 2, each of size (0, 4)
    local p = nl.zeros(0, 4):chunk(2, 1)
    assert.are.equal(2, #p)
    for _, x in ipairs(p) do assert.are.same({ 0, 4 }, x:shape()) end
    -- [t.shape for t in torch.zeros(2, 0, 3).chunk(4, 1)]: four of (2, 0, 3)
    p = nl.zeros(2, 0, 3):chunk(4, 2)
    assert.are.equal(4, #p)
    assert.are.same({ 2, 0, 3 }, p[4]:shape())
    -- len(torch.zeros(0).chunk(1, 0)): 1
    assert.are.equal(1, #nl.zeros(0):chunk(1))
  end)

  it('topk of a 0-dim tensor takes k = 0', function()
    for _, largest in ipairs({ true, false }) do
      -- torch.topk(torch.tensor(3.), 0, largest=largest): values tensor(3.), indices tensor(0)
      local v, i = nl.tensor(3):topk(0, -1, largest)
      assert.are.same({ 3, 1 }, { v:item(), i:item() })
      assert.are.same({ {}, {} }, { v:shape(), i:shape() })
    end
    S.contains(S.errmsg(function() return nl.tensor(3):topk(2) end),
      'topk: k must be a whole number from 0 to 1 (the size of dim -1 of shape []), got 2')
  end)

  it('hardtanh_ and relu6_ of int64 in place; relu6_ errors name relu6_', function()
    -- F.relu6(torch.tensor([-3, 0, 5]), inplace=True): [0, 0, 5]
    local x = nl.tensor({ -3, 0, 5 }, 'int64')
    assert.are.equal(x, x:relu6_())
    assert.are.equal('int64', x:dtype())
    assert.are.same({ 0, 0, 5 }, x:totable())
    -- F.hardtanh(torch.tensor([-3, 0, 5]), inplace=True): [-1, 0, 1]
    x = nl.tensor({ -3, 0, 5 }, 'int64')
    assert.are.same({ -1, 0, 1 }, x:hardtanh_():totable())
    -- F.hardtanh(torch.tensor([-3, 0, 5]), -2.5, 2.5, inplace=True): [-2, 0, 2]
    x = nl.tensor({ -3, 0, 5 }, 'int64')
    assert.are.same({ -2, 0, 2 }, nl.hardtanh_(x, { min_val = -2.5, max_val = 2.5 }):totable())
    assert.are.same({ -2, 0, 2 }, x:totable())
    S.contains(S.errmsg(function() return x:hardtanh_(2, 0 / 0) end), 'hardtanh_: max_val nan cannot be converted to int64')
    S.contains(S.errmsg(function() return nl.ones(2):requires_grad():relu6_() end),
      'relu6_: in-place change of a tensor of shape [2] that requires grad')
    S.contains(S.errmsg(function() return nl.ones(2):requires_grad():hardtanh_() end),
      'hardtanh_: in-place change of a tensor of shape [2] that requires grad')
  end)
end)

describe('tensor methods: bad calls', function()
  local a, b = nl.tensor({ 1, 2, 3 }), nl.tensor({ 4, 5, 6 })
  local function err(f) return S.errmsg(f) end
  it('alpha: in place, as a number, a whole one for int64', function()
    assert.are.same({ -7, -8, -9 }, a:clone():sub_(b, 2):totable())
    assert.are.same({ 5, 7, 9 }, a:clone():add_(b, 1):totable())
    assert.are.same({ -5, -4, -3 }, a:clone():sub_(3, 2):totable())
    assert.are.same({ 9, 11, 13 }, nl.add(1, b, 2):totable())
    S.contains(err(function() return a:add(b, 'x') end), "add: expected a number as alpha, got string")
    local i = nl.tensor({ 1 }, 'int64')
    S.contains(err(function() return i:sub(i, 0.5) end), 'sub: alpha 0.5 is not a whole number')
    assert.are.same({ 0 }, i:sub(i, 1):totable())
  end)
  it('div: rounding_mode names a mode; int64 division by zero is an error', function()
    S.contains(err(function() return a:div(b, 'round') end), "div: rounding_mode must be 'trunc', 'floor' or nil, got 'round'")
    local i = nl.tensor({ 7, -7 }, 'int64')
    S.contains(err(function() return i:div(0, 'floor') end), 'div: integer division by zero')
    S.contains(err(function() return i:div(nl.tensor({ 1, 0 }, 'int64'), 'trunc') end), 'div: integer division by zero')
    assert.are.same({ -4, 3 }, nl.div(i, -2, 'floor'):totable())
    assert.are.equal('int64', i:div(2, 'trunc'):dtype())
    assert.are.equal('float32', i:div(2.5, 'trunc'):dtype())
  end)
  it('extra trailing arguments are refused, naming the op', function()
    local want = {
      { function() return a:add(b, 1, 2) end, 'add: takes (a, b, [alpha]), got 4 arguments' },
      { function() return a:add(b, nil, 2) end, 'add: takes (a, b, [alpha]), got 4 arguments' },
      { function() return a:mul(b, 2) end, 'mul: takes (a, b), got 3 arguments' },
      { function() return nl.maximum(a, b, 2) end, 'maximum: takes (a, b), got 3 arguments' },
      { function() return a:div(b, 'floor', 1) end, 'div: takes (a, b, [rounding_mode]), got 4 arguments' },
      { function() return a:clone():sub_(b, 1, 1) end, 'sub_: takes (x, [alpha]), got 3 arguments' },
      { function() return a:clone():mul_(b, 2) end, 'mul_: takes (x), got 2 arguments' },
      { function() return a:transpose(1, 1, 2) end, 'transpose: takes (dim0, dim1), got 3 arguments' },
      { function() return a:clamp(0, 1, 2) end, 'clamp: takes (min, max), got 3 arguments' },
      { function() return a:clone():clamp_(0, 1, 2) end, 'clamp_: takes (min, max), got 3 arguments' },
      { function() return a:narrow(1, 1, 1, 1) end, 'narrow: takes (dim, start, length), got 4 arguments' },
      { function() return a:view(1, 3):squeeze(1, 2) end, 'squeeze: takes ([dim]), got 2 arguments' },
      { function() return nl.cat({ a, b }, 1, 2) end, 'cat: takes (list, [dim]), got 3 arguments' },
      { function() return nl.where(a, a, b, 1) end, 'where: takes (cond, a, b), got 4 arguments' },
      { function() return a:clone():fill_(1, 2) end, 'fill_: takes (value), got 2 arguments' },
      { function() return a:clone():copy_(b, true) end, 'copy_: takes (src), got 2 arguments' },
    }
    for _, w in ipairs(want) do
      S.contains(err(w[1]), w[2])
    end
    S.contains(err(function() return a:split({ 1, 1 }) end), 'split: sizes {1, 1} add up to 2, not to the size 3 of dim 1')
    S.contains(err(function() return a:split(0) end), 'split: expected a split size of 1 or more')
    S.contains(err(function() return a:chunk(0) end), 'chunk: expected a number of chunks of 1 or more, got 0')
    S.contains(err(function() return nl.tensor(1):unbind() end), 'unbind: a 0-dim tensor has no dim')
    S.contains(err(function() return nl.zeros(2, 3):flatten(2, 1) end), 'flatten: start_dim 2 comes after end_dim 1')
    S.contains(err(function() return nl.zeros(2, 6):unflatten(2, { 4, -1 }) end), 'unflatten: sizes {4, -1} cannot make dim 2')
    S.contains(err(function() return nl.zeros(2, 6):unflatten(2, { 4, 2 }) end), 'unflatten: sizes {4, 2} make 8 elements')
    S.contains(err(function() return nl.zeros(2, 6):movedim({ 1, 1 }, { 1, 2 }) end), 'movedim: source dim 1 repeated')
    S.contains(err(function() return nl.zeros(2, 6):movedim(3, 1) end), 'movedim: dim 3 out of range')
    S.contains(err(function() return a:chunk(2, 1, 1) end), 'chunk: takes (chunks, [dim]), got 3 arguments')
    -- operators pass two arguments and are unchanged
    assert.are.same({ 5, 7, 9 }, (a + b):totable())
  end)
end)
