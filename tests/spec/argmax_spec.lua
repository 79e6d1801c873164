-- argmax, argmin and max / min with indices along a dim, whose kernels
-- take a row at a time (the dim last), lanes of neighbouring outputs (a
-- dim before the last), a plain scan for rows of up to 256 and blocks
-- past that: PyTorch 1.13's values (tests/golden/argmax.lua, made by
-- tests/golden/gen_argmax.py) on ties and NaNs in each dtype, strided
-- inputs, keepdim, negative dims and 0-d tensors; a larger case split
-- over threads against a loop here; and the accuracy metric's hits,
-- counted in one pass, against PyTorch's.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local cases = dofile(S.root .. '/tests/golden/argmax.lua')

-- got equal to the golden want: its shape, dtype and each value, a NaN
-- where want has one
local function same(got, want, what)
  assert.are.same(want.shape, got:shape(), what .. ': shape')
  assert.are.equal(want.dtype or 'float32', got:dtype(), what .. ': dtype')
  local g = S.flat(got)
  for i, w in ipairs(want.data) do
    local ok = g[i] == w or (w ~= w and g[i] ~= g[i])
    assert(ok, ('%s: element %d is %s, PyTorch %s'):format(what, i, tostring(g[i]), tostring(w)))
  end
end

-- first index (1-based) of the best of list v, a NaN winning
local function best_of(v, is_max)
  local b, at = v[1], 1
  for j = 2, #v do
    if b ~= b then break end
    if v[j] ~= v[j] or (is_max and v[j] > b or not is_max and v[j] < b) then b, at = v[j], j end
  end
  return at, b
end

describe('argmax, argmin, max and min along a dim', function()
  for _, c in ipairs(cases) do
    it(c.name .. ' as PyTorch 1.13', function()
      local x = S.from_golden(c.input)
      if c.transposed then x = x:t() end
      local o = c.outs
      if c.dim == nil then
        same(x:argmax(), o[1], 'argmax')
        same(x:argmin(), o[2], 'argmin')
        return
      end
      same(x:argmax(c.dim, c.keepdim), o[1], 'argmax')
      same(x:argmin(c.dim, c.keepdim), o[2], 'argmin')
      local mv, mi = x:max(c.dim, c.keepdim)
      same(mv, o[3], 'max values')
      same(mi, o[4], 'max indices')
      local nv, ni = x:min(c.dim, c.keepdim)
      same(nv, o[5], 'min values')
      same(ni, o[6], 'min indices')
    end)
  end

  it('rows split over two threads give the first best of each row, as a loop here', function()
    -- 48 x 1000 (past the size where the rows go parallel), few values and
    -- some NaNs, along the last dim and the first, in float32 and int64
    local rnd = S.rng(7)
    local rows = {}
    for i = 1, 48 do
      local r = {}
      for j = 1, 1000 do r[j] = math.floor(rnd(-4, 4)) end
      if i % 7 == 0 then r[math.floor(rnd(1, 1000))] = 0 / 0 end
      rows[i] = r
    end
    local prev = nl.get_num_threads()
    nl.set_num_threads(2)
    for _, dt in ipairs({ 'float32', 'int64' }) do
      local src = {}
      for i, r in ipairs(rows) do
        src[i] = {}
        for j, v in ipairs(r) do src[i][j] = (dt == 'int64' and v ~= v) and 9 or v end
      end
      local x = nl.tensor(src, dt)
      local am, mv = x:argmax(2):totable(), x:max(2):totable()
      local cols = x:argmin(1):totable()
      for i, r in ipairs(src) do
        local at, b = best_of(r, true)
        assert.are.equal(at, am[i], dt .. ' row ' .. i)
        assert(mv[i] == b or (b ~= b and mv[i] ~= mv[i]), dt .. ' max of row ' .. i)
      end
      for j = 1, 1000 do
        local col = {}
        for i = 1, 48 do col[i] = src[i][j] end
        assert.are.equal((best_of(col, false)), cols[j], dt .. ' column ' .. j)
      end
    end
    nl.set_num_threads(prev)
  end)

  it('an empty dim is refused, naming the op, the dim and the shape', function()
    local e = nl.zeros(3, 0)
    S.contains(S.errmsg(function() return e:argmax(2) end), 'argmax: cannot reduce dim 2 of size 0 in shape [3,0]')
    S.contains(S.errmsg(function() return e:max(-1) end), 'max: cannot reduce dim -1 of size 0 in shape [3,0]')
    assert.are.same({ 0 }, e:argmin(1):shape())
  end)
end)

describe("fit's accuracy hits", function()
  -- the scores as they come, or a transposed copy seen through a
  -- transpose (strided scores)
  local Scores = nn.Module:extend('ArgmaxSpecScores')
  -- (times a parameter of ones: scores that require grad, as a model's)
  function Scores:init(transposed)
    self.transposed = transposed
    self.one = nn.Parameter(nl.ones(1))
  end
  function Scores:forward(x)
    x = x * self.one:to(x:dtype())
    return self.transposed and x:t():contiguous():t() or x
  end
  for _, c in ipairs(cases.hits) do
    it(c.name .. ': the accuracy of evaluate is the hits PyTorch counts', function()
      local scores, labels = S.from_golden(c.scores), S.from_golden(c.labels)
      local model = Scores(c.transposed)
      model:compile { optimizer = 'sgd', lr = 0, loss = 'cross_entropy', metrics = { 'accuracy' } }
      local n = labels:numel()
      local _, m = model:evaluate(scores, labels, { batch_size = scores:size(1) })
      assert.are.equal(c.hits / n, m.accuracy)
      -- and in batches, the hits added up (train_on_batch's tally too)
      local _, mb = model:evaluate(scores, labels, { batch_size = 3 })
      assert.is_true(S.close(mb.accuracy, c.hits / n, 1e-12, 1e-12))
      -- a training step's tally (the metrics read the outputs as the step
      -- made them, lr 0 leaving the scores as they are)
      local r = model:train_on_batch(scores, labels)
      assert.is_true(S.close(r[2], c.hits / n, 1e-12, 1e-12))
    end)
  end
end)
