-- t:scatter_reduce and t:index_reduce (lua/nnlua/tensor_scatter.lua, the
-- C kernel nl_scatter_reduce in src/tensor.c) against PyTorch golden
-- values (tests/golden/tensor_scatter.lua, made by
-- tests/golden/gen_tensor_scatter.py): every reduce with and without
-- include_self, values, int64 outputs exactly and the gradients of
-- sum((out_i * w_i):sum()) (ties among maxima shared, zeros for prod).
-- Then float64 gradchecks, results that do not depend on the thread
-- count, the in-place forms, and the errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/tensor_scatter.lua')

local function opts(a) return { include_self = a.include_self } end
local ops = {
  scatter_reduce = function(x, a) return x[1]:scatter_reduce(a.dim, x[2], x[3], a.reduce, opts(a)) end,
  index_reduce = function(x, a) return x[1]:index_reduce(a.dim, x[2], x[3], a.reduce, opts(a)) end,
}
local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-12, 1e-13 } }

describe('scatter_reduce and index_reduce against PyTorch golden values', function()
  -- (NaN as NaN: amax and amin propagate it)
  S.golden_its(it, cases, ops, function(c, op) S.check_golden_case(c, op, TOL) end)
end)

describe('scatter_reduce: gradchecks and properties', function()
  before_each(function() nl.manual_seed(3) end)
  local idx = nl.tensor({ { 1, 2 }, { 3, 1 }, { 1, 3 }, { 2, 2 } }, 'int64')
  it('float64 gradchecks of every reduce, with and without include_self', function()
    for _, r in ipairs({ 'sum', 'prod', 'mean', 'amax', 'amin' }) do
      for _, inc in ipairs({ true, false }) do
        S.gradcheck(function(t, s) return t:scatter_reduce(1, idx, s, r, { include_self = inc }) end,
                    S.randn64(3, 2), S.randn64(4, 2))
      end
    end
    S.gradcheck(function(t, s) return t:index_reduce(2, { 2, 2, 1 }, s, 'prod') end, S.randn64(2, 3), S.randn64(2, 3))
  end)
  it('an index smaller than the source: the gradient past it is 0', function()
    local t, s = nl.randn(3, 4):requires_grad(), nl.randn(4, 5):requires_grad()
    local i = nl.tensor({ { 1, 3, 3 }, { 2, 1, 4 } }, 'int64')
    t:scatter_reduce(2, i, s, 'amax'):sum():backward()
    assert.are.same({ 4, 5 }, s.grad:shape())
    assert.are.equal(0, s.grad:narrow(1, 3, 2):abs():sum():item())
    assert.are.equal(0, s.grad:narrow(2, 4, 2):abs():sum():item())
    assert.is_true(s.grad:abs():sum():item() > 0)
  end)
  it('gives the same values on 1 thread and on 4, on a large input', function()
    local t, s = nl.randn(64, 300), nl.randn(64, 900)
    local i = (nl.rand(64, 900) * 300):floor():long() + 1
    local before = nl.get_num_threads()
    local got = {}
    for k, n in ipairs({ 1, 4 }) do
      nl.set_num_threads(n)
      got[k] = t:scatter_reduce(2, i, s, 'sum', { include_self = false })
    end
    nl.set_num_threads(before)
    S.same_bits(got[1], got[2], 'threads')
    S.same_bits(got[1], t:scatter(2, i, 0):scatter_add(2, i, s), 'against scatter_add')
  end)
  it('names an out-of-range entry of a large index on 1 thread and on 2, for every reduce', function()
    -- (the kernel checks each entry as it reads it: first, last and
    -- middle entries, include_self both ways, a transposed index)
    local t, s = nl.randn(64, 300), nl.randn(64, 900)
    local base = (nl.rand(64, 900) * 300):floor():long() + 1
    local before = nl.get_num_threads()
    for _, n in ipairs({ 1, 2 }) do
      nl.set_num_threads(n)
      for _, at in ipairs({ { 1, 1 }, { 64, 900 }, { 40, 17 } }) do
        for _, v in ipairs({ 0, 301, -2 ^ 63, 2 ^ 62 }) do
          local i = base:clone()
          i:narrow(1, at[1], 1):narrow(2, at[2], 1):fill_(v)
          local it_ = i:t():contiguous():t()
          for _, red in ipairs({ 'sum', 'prod', 'mean', 'amax', 'amin' }) do
            for _, inc in ipairs({ true, false }) do
              local msg = ('scatter_reduce: index %s out of range for dim 2 of shape [64,300]'):format(
                ('%d'):format(v))
              S.contains(S.errmsg(t.scatter_reduce, t, 2, i, s, red, { include_self = inc }), msg)
              S.contains(S.errmsg(t.scatter_reduce, t, 2, it_, s, red, { include_self = inc }), msg)
            end
          end
        end
      end
    end
    nl.set_num_threads(before)
  end)
  it('in place: scatter_reduce_ and index_reduce_ change t and return it', function()
    local t = nl.tensor({ 1, 2, 3 })
    local want = t:scatter_reduce(1, { 1, 1 }, nl.tensor({ 5, 7 }), 'amax')
    assert.are.equal(t, t:scatter_reduce_(1, { 1, 1 }, nl.tensor({ 5, 7 }), 'amax'))
    S.same_bits(t, want, 'scatter_reduce_')
    local u = nl.ones(2, 2)
    u:index_reduce_(1, { 2 }, nl.tensor({ { 3, 4 } }), 'prod')
    assert.are.same({ { 1, 1 }, { 3, 4 } }, u:totable())
    -- 0-dim (PyTorch 1.13: torch.tensor(2.).index_reduce_(0, torch.tensor(0), torch.tensor(3.), 'prod') is 6)
    local z = nl.tensor(2)
    assert.are.equal(z, z:index_reduce_(-1, nl.tensor(1, 'int64'), nl.tensor(3), 'prod'))
    assert.are.same({}, z:shape())
    assert.are.equal(6, z:item())
    z:scatter_reduce_(1, nl.tensor(1, 'int64'), nl.tensor(-1), 'amin')
    assert.are.equal(-1, z:item())
  end)
  it('create_graph: sum and mean are differentiable twice, prod, amax and amin refused by name', function()
    local t, s = nl.randn(3, 'float64'):requires_grad(), nl.randn(4, 'float64'):requires_grad()
    local i = nl.tensor({ 1, 2, 1, 3 }, 'int64')
    -- d/ds of mean(s^2) at each place is 2 s / count; its own gradient 2 / count
    local g = nl.autograd.grad(t:scatter_reduce(1, i, s * s, 'mean'):sum(), { s }, { create_graph = true })[1]
    local gg = nl.autograd.grad(g:sum(), { s })[1]
    S.expect_close(gg, nl.tensor({ 2 / 3, 1, 2 / 3, 1 }, 'float64'), 'second derivative', 1e-12, 1e-12)
    local ok, msg = pcall(function()
      return nl.autograd.grad(t:scatter_reduce(1, i, s, 'amax'):sum(), { s }, { create_graph = true })
    end)
    assert.is_false(ok)
    assert.is_truthy(tostring(msg):find("with create_graph: scatter_reduce's reduce 'amax' has no differentiable", 1, true))
  end)
  it('int64 mean rounds down, as PyTorch', function()
    local t = nl.tensor({ 0, 0 }, 'int64')
    local r = t:scatter_reduce(1, { 1, 1, 2, 2 }, nl.tensor({ -3, 0, 3, 4 }, 'int64'), 'mean', { include_self = false })
    assert.are.same({ -2, 3 }, r:totable())
  end)
end)

describe('scatter_reduce and index_reduce: errors name the op and the shapes', function()
  local t, s = nl.randn(3, 2), nl.randn(4, 2)
  local idx = nl.tensor({ { 1, 2 }, { 3, 1 }, { 1, 3 }, { 2, 2 } }, 'int64')
  local errs = {
    { function() t:scatter_reduce(1, idx, s, 'max') end,
      "scatter_reduce: reduce must be 'sum', 'prod', 'mean', 'amax' or 'amin', got 'max'" },
    { function() t:scatter_reduce(1, idx + 3, s, 'sum') end, 'scatter_reduce: index 4 out of range for dim 1 of shape [3,2]' },
    { function() t:scatter_reduce(3, idx, s, 'sum') end, 'scatter_reduce: dim 3 out of range for shape [3,2]' },
    { function() t:scatter_reduce(1, idx, s:double(), 'sum') end, "scatter_reduce: the source's dtype float64 differs from the tensor's float32" },
    { function() t:scatter_reduce(1, idx, nl.randn(2, 2), 'amax') end, 'scatter_reduce: index of shape [4,2] is larger than the source of shape [2,2] in dim 1' },
    { function() t:scatter_reduce(1, idx, s, 'sum', { include_self = 1 }) end, 'scatter_reduce: include_self must be a boolean' },
    -- a 0-dim tensor is taken as one element (PyTorch 1.13's range [-1, 0]); its errors give its shape []
    { function() nl.tensor(1):scatter_reduce(1, nl.tensor(2, 'int64'), nl.tensor(3), 'sum') end,
      'scatter_reduce: index 2 out of range for dim 1 of shape []' },
    { function() nl.tensor(1):scatter_reduce(2, nl.tensor(1, 'int64'), nl.tensor(3), 'sum') end,
      'scatter_reduce: dim 2 out of range for shape [] (dims 1 to 1, or -1 to -1)' },
    { function() nl.tensor(1):index_reduce(1, nl.tensor(1, 'int64'), nl.ones(2), 'prod') end,
      "index_reduce: source of shape [2] must be the tensor's shape [] but 1 (the index's length) in dim 1" },
    { function() t:scatter_reduce_(1, idx, s:requires_grad(), 'sum') end, 'scatter_reduce_: the source of shape [4,2] requires grad' },
    { function() t:index_reduce(1, { 1, 2 }, s, 'amax') end, "index_reduce: source of shape [4,2] must be the tensor's shape [3,2] but 2 (the index's length) in dim 1" },
    { function() t:index_reduce(1, idx, s, 'amax') end, 'index_reduce: index must be a 1-D int64 tensor, got int64 [4,2]' },
    { function() t:index_reduce(1, { 1, 2, 3, 4 }, s, 'sum') end, "index_reduce: reduce must be 'prod', 'mean', 'amax' or 'amin', got 'sum'" },
    { function() t:index_reduce(1, { 1, 2, 3, 4 }, s, 'amin') end, 'index_reduce: index 4 out of range for dim 1 of shape [3,2]' },
    -- a released index or source of a 1-D or 0-dim tensor is named (misuse seed 15 under the float64 default)
    { function() local r = nl.ones(1); r.ptr = nil; nl.zeros(3):scatter_reduce_(1, r, nl.ones(1), 'sum') end,
      'scatter_reduce_: the tensor was released' },
    { function() local r = nl.ones(1); r.ptr = nil; nl.tensor(1):scatter_reduce(1, nl.tensor(1, 'int64'), r, 'sum') end,
      'scatter_reduce: the tensor was released' },
    { function() local r = nl.ones(1); r.ptr = nil; nl.zeros(3):index_reduce(1, { 1 }, r, 'prod') end,
      'index_reduce: the tensor was released' },
  }
  for i, e in ipairs(errs) do
    it(e[2], function()
      local ok, msg = pcall(e[1])
      assert.is_false(ok, 'case ' .. i .. ' did not fail')
      assert.is_truthy(tostring(msg):find(e[2], 1, true), tostring(msg))
    end)
  end
end)
