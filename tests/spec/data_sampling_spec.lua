-- data_sampling.lua and DataLoader's sampler, batch_sampler and collate_fn:
-- random_split's sizes, BatchSampler's batches and default_collate's
-- batches against PyTorch 1.13's (tests/golden/data.lua, made by
-- tests/golden/gen_data.py); the rest by closed forms: Subset and
-- ConcatDataset rows against the rows they stand for, every sampler's
-- coverage, counts and repeats, frequencies of replacement and weighted
-- draws within 5 standard errors of their binomial means on fixed seeds
-- (WeightedRandomSampler's second draw without replacement too), seeds
-- that repeat, and the errors.
local nl = require 'nnlua'
local S = require 'support'
local data = nl.data

local errmsg, contains = S.errmsg, S.contains
local cases = dofile(S.root .. '/tests/golden/data.lua')

-- rows 1..n whose values say which row they are: X[i] = {i, -i}, y[i] = i
local function numbered(n)
  local X = nl.arange(1, n + 1):float():view(n, 1)
  return data.TensorDataset(nl.cat({ X, -X }, 2), nl.arange(1, n + 1))
end

-- the values of an int64 tensor or a list, as a list
local function list(t) return nl.is_tensor(t) and t:totable() or t end

-- true when v holds each of 1..n exactly once
local function is_permutation(v, n)
  if #v ~= n then return false end
  local seen = {}
  for _, i in ipairs(v) do
    if type(i) ~= 'number' or i < 1 or i > n or seen[i] then return false end
    seen[i] = true
  end
  return true
end

-- the labels of one pass of a loader over numbered rows, batch by batch
local function labels(loader, skip)
  local out = {}
  for xb, yb in loader:iter(skip) do
    assert.are.same(xb:select(2, 1):totable(), yb:float():totable())   -- rows stay paired
    out[#out + 1] = yb:totable()
  end
  return out
end

local function flatten(batches)
  local out = {}
  for _, b in ipairs(batches) do for _, v in ipairs(b) do out[#out + 1] = v end end
  return out
end

-- |count - m p| within 5 standard errors of a binomial(m, p)
local function binomial_ok(count, m, p, what)
  local sd = math.sqrt(m * p * (1 - p))
  assert(math.abs(count - m * p) <= 5 * sd + 1e-9,
         ('%s: %d draws, expected %.1f +- %.1f'):format(what, count, m * p, 5 * sd))
end

local function counts(v)
  local c = setmetatable({}, { __index = function() return 0 end })
  for _, i in ipairs(v) do c[i] = c[i] + 1 end
  return c
end

describe('data.Subset', function()
  local ds = numbered(10)

  it('has the rows of its indices, in their order, by index, get and batch', function()
    local s = data.Subset(ds, { 7, 2, 2, 10 })
    assert.are.equal(4, #s)
    assert.are.same({ 7, 2, 2, 10 }, s.indices:totable())
    for i, j in ipairs({ 7, 2, 2, 10 }) do
      assert.are.same({ j, -j }, s[i][1]:totable())
      assert.are.equal(j, s[i][2])
      local x, y = s:get(i)
      assert.are.same({ j, -j }, x:totable())
      assert.are.equal(j, y)
    end
    local xb, yb = s:batch(nl.tensor({ 4, 1 }, 'int64'))
    assert.are.same({ { 10, -10 }, { 7, -7 } }, xb:totable())
    assert.are.same({ 10, 7 }, yb:totable())
    -- and a DataLoader batches it through batch, in one call a batch
    assert.are.same({ { 7, 2, 2 }, { 10 } }, labels(data.DataLoader(s, { batch_size = 3 })))
  end)

  it('keeps a float field of its TensorDataset as the TensorDataset does', function()
    local t = data.TensorDataset(nl.ones(4, 2), nl.tensor({ 1, 2, 3, 4 }))     -- float32 whole labels
    for _, yb in data.DataLoader(data.Subset(t, { 2, 3 }), { batch_size = 2 }):iter() do
      assert.are.equal('float32', yb:dtype())
    end
  end)

  it('takes a plain list of samples, without batch, and an int64 tensor of indices', function()
    local samples = {}
    for i = 1, 5 do samples[i] = { nl.full({ 2 }, i), i } end
    local s = data.Subset(samples, nl.tensor({ 5, 1 }, 'int64'))
    assert.is_nil(s.batch)
    assert.are.equal(5, s[1][2])
    assert.are.same(samples[1], s:get(2))
    local out = {}
    for xb, yb in data.DataLoader(s, { batch_size = 2 }):iter() do
      out[#out + 1] = { xb:totable(), yb:totable() }
    end
    assert.are.same({ { { { 5, 5 }, { 1, 1 } }, { 5, 1 } } }, out)
    assert.are.equal(0, #data.Subset(samples, {}))
  end)

  it('refuses indices outside the dataset and rows outside the subset', function()
    contains(errmsg(data.Subset, ds, { 1, 11 }), "Subset: indices hold 11, outside the dataset's rows 1..10")
    contains(errmsg(data.Subset, ds, { 1, 0 }), 'Subset: indices must be whole numbers from 1, got 0 at 2')
    contains(errmsg(data.Subset, ds, { 1.5 }), 'Subset: indices must be whole numbers from 1, got 1.5 at 1')
    contains(errmsg(data.Subset, ds, nl.tensor({ 1, 2 })), 'Subset: indices must be a 1-D int64 tensor')
    -- an int64 tensor of 0 or -1 as the list (it was taken: row 0 read
    -- out of bounds, -1 from the end)
    local I = function(t) return nl.tensor(t, 'int64') end
    contains(errmsg(data.Subset, ds, I({ 1, 0 })), 'Subset: indices must be whole numbers from 1, got 0 at 2')
    contains(errmsg(data.Subset, ds, I({ -1 })), 'Subset: indices must be whole numbers from 1, got -1 at 1')
    contains(errmsg(data.SubsetRandomSampler, I({ 2, 3, -2 })),
             'SubsetRandomSampler: indices must be whole numbers from 1, got -2 at 3')
    contains(errmsg(data.BatchSampler, I({ 0 }), 1, false), 'BatchSampler: sampler must be whole numbers from 1, got 0 at 1')
    assert.are.same({ 3, 1 }, data.Subset(ds, I({ 3, 1 })).indices:totable())
    assert.are.equal(0, #data.Subset(ds, I({})))
    contains(errmsg(data.Subset, ds, 3), 'Subset: expected indices as a list of row indices')
    contains(errmsg(data.Subset, 'abc', { 1 }), 'Subset: expected a dataset with #ds and ds[i], got string')
    local s = data.Subset(ds, { 1, 2 })
    contains(errmsg(function() return s[3] end), 'Subset: index 3 out of range 1..2')
    contains(errmsg(s.get, s, 0), 'Subset: index 0 out of range 1..2')
  end)
end)

describe('data.ConcatDataset', function()
  local a, b = numbered(3), numbered(4)          -- rows 1..3, then 1..4 again
  local want = { 1, 2, 3, 1, 2, 3, 4 }

  it("has each dataset's rows in turn, by index, get and batch", function()
    local c = data.ConcatDataset({ a, data.TensorDataset(nl.zeros(0, 2), nl.zeros({ 0 }, 'int64')), b })
    assert.are.equal(7, #c)
    assert.are.same({ 3, 3, 7 }, c.cumulative_sizes)
    for i, j in ipairs(want) do
      assert.are.equal(j, c[i][2])
      assert.are.equal(j, select(2, c:get(i)))
    end
    -- rows from both datasets in one batch, in the order asked
    local idx = { 7, 1, 4, 3, 5, 5 }
    local xb, yb = c:batch(nl.tensor(idx, 'int64'))
    local expect = {}
    for r, i in ipairs(idx) do expect[r] = want[i] end
    assert.are.same(expect, yb:totable())
    assert.are.same(expect, xb:select(2, 1):long():totable())
    assert.are.same({ 1, 2, 3 }, ({ c:batch(nl.tensor({ 1, 2, 3 }, 'int64')) })[2]:totable())
  end)

  it('feeds a shuffled DataLoader every row once; without batch, row by row', function()
    local c = data.ConcatDataset({ a, b })
    local got = flatten(labels(data.DataLoader(c, { batch_size = 3, shuffle = true, seed = 5 })))
    table.sort(got)
    assert.are.same({ 1, 1, 2, 2, 3, 3, 4 }, got)
    local samples = { { nl.ones(2), 8 }, { nl.ones(2), 9 } }
    local mixed = data.ConcatDataset({ a, samples })
    assert.is_nil(mixed.batch)
    assert.are.same({ { 1, 2, 3, 8, 9 } }, (function()
      local out = {}
      for _, yb in data.DataLoader(mixed, { batch_size = 5 }):iter() do out[#out + 1] = yb:totable() end
      return out
    end)())
  end)

  it('refuses an empty list, what is not a dataset and rows past its end', function()
    contains(errmsg(data.ConcatDataset, {}), 'ConcatDataset: expected a non-empty list of datasets')
    contains(errmsg(data.ConcatDataset, a, b), 'ConcatDataset: takes ({datasets}), got 2 arguments')
    contains(errmsg(data.ConcatDataset, { a, 'x' }), 'ConcatDataset: element 2 of the list: expected a dataset')
    local c = data.ConcatDataset({ a, b })
    contains(errmsg(function() return c[8] end), 'ConcatDataset: index 8 out of range 1..7')
    contains(errmsg(c.batch, c, nl.tensor({ 0 }, 'int64')), 'ConcatDataset:batch: index 0 out of range 1..7')
  end)
end)

describe('data.random_split', function()
  local n_cases = 0
  it("gives PyTorch 1.13's sizes for lengths and fractions, and refuses what it refuses", function()
    for i, c in ipairs(cases) do
      if c.op == 'random_split' then
        n_cases = n_cases + 1
        local what = ('case %d: random_split(%d rows, {%s})'):format(i, c.n, table.concat(c.lengths, ', '))
        local ds = nl.zeros(c.n, 1)
        if c.sizes then
          local parts = { data.random_split(data.TensorDataset(ds), c.lengths, { seed = i }) }
          local sizes, all = {}, {}
          for k, p in ipairs(parts) do
            sizes[k] = #p
            for _, v in ipairs(p.indices:totable()) do all[#all + 1] = v end
          end
          assert.are.same(c.sizes, sizes, what)
          assert.is_true(is_permutation(all, c.n), what .. ': the parts are one permutation of the rows')
        elseif c.rule then
          -- 1.13 refuses these fractions (their float sum is past 1 by an
          -- ulp); nnlua splits them by the documented rule (README)
          local sizes = {}
          for k, p in ipairs({ data.random_split(data.TensorDataset(ds), c.lengths) }) do sizes[k] = #p end
          assert.are.same(c.rule, sizes, what)
        else
          contains(errmsg(data.random_split, data.TensorDataset(ds), c.lengths), 'random_split: ')
        end
      end
    end
    assert.is_true(n_cases >= 25)
  end)

  it('draws the same split from the same seed, or after the same nl.manual_seed', function()
    local ds = numbered(50)
    local function split(...)
      local a, b = data.random_split(ds, { 0.6, 0.4 }, ...)
      return { a.indices:totable(), b.indices:totable() }
    end
    assert.are.same(split(3), split({ seed = 3 }))
    assert.are_not.same(split(3), split(4))
    nl.manual_seed(11)
    local one = split()
    nl.manual_seed(11)
    assert.are.same(one, split())
    -- the parts are Subsets: their rows are the dataset's
    local a = data.random_split(ds, { 5, 45 }, 1)
    for i = 1, 5 do assert.are.equal(a.indices[i], a[i][2]) end
  end)

  it('names what is wrong with the lengths', function()
    local ds = numbered(10)
    contains(errmsg(data.random_split, ds, { 3, 6 }), 'random_split: the lengths sum to 9, but the dataset has 10 rows')
    contains(errmsg(data.random_split, ds, { 1.5, -0.5 }), 'random_split: fraction 1 (1.5) is not between 0 and 1')
    contains(errmsg(data.random_split, ds, { 0.5, 0.6 }), 'random_split: length 1 is 0.5; lengths are whole numbers')
    contains(errmsg(data.random_split, ds, { 4, -1, 7 }), 'random_split: length 2 is -1')
    contains(errmsg(data.random_split, ds, { 5, 'x' }), "random_split: length 2 is 'x'; expected a number")
    contains(errmsg(data.random_split, ds, {}), 'random_split: expected a non-empty list of lengths')
    contains(errmsg(data.random_split, ds, { 5, 5 }, { sed = 1 }), "random_split: unknown option 'sed'")
    contains(errmsg(data.random_split, ds, { 5, 5 }, -1), 'random_split: seed must be a non-negative integer')
    -- fractions past 1 by less than 1e-9, over enough rows to take one too many
    local huge = newproxy(true)
    getmetatable(huge).__len = function() return 4e9 end
    contains(errmsg(data.random_split, huge, { 0.5, 0.5 + 5e-10 }), 'which takes 4000000002 rows')
  end)
end)

describe('data.SequentialSampler and data.RandomSampler', function()
  it('give the rows in order, and a new permutation each epoch', function()
    local s = data.SequentialSampler(numbered(6))
    assert.are.equal(6, #s)
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, s:order():totable())
    local it = {}
    for i in s:iter() do it[#it + 1] = i end
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, it)
    assert.are.equal(0, #data.SequentialSampler(0):order())
    local r = data.RandomSampler(numbered(40), { seed = 2 })
    assert.are.equal(40, #r)
    local a, b = r:order():totable(), r:order():totable()
    assert.is_true(is_permutation(a, 40))
    assert.is_true(is_permutation(b, 40))
    assert.are_not.same(a, b)
  end)

  it('without replacement, deal whole permutations and then part of one, as 1.13', function()
    for _, m in ipairs({ 3, 7, 14, 23 }) do
      local v = data.RandomSampler(7, { num_samples = m, seed = m }):order():totable()
      assert.are.equal(m, #v)
      for start = 1, m, 7 do
        local block = { unpack(v, start, math.min(start + 6, m)) }
        if #block == 7 then assert.is_true(is_permutation(block, 7))
        else
          local c = counts(block)
          for i = 1, 7 do assert.is_true(c[i] <= 1, 'no repeats in the last part') end
        end
      end
    end
  end)

  it('with replacement, draw each row equally often (within 5 standard errors)', function()
    local m, n = 20000, 5
    local v = data.RandomSampler(n, { replacement = true, num_samples = m, seed = 9 }):order():totable()
    assert.are.equal(m, #v)
    local c = counts(v)
    for i = 1, n do binomial_ok(c[i], m, 1 / n, 'row ' .. i) end
    local total = 0
    for _, k in pairs(c) do total = total + k end
    assert.are.equal(m, total)           -- nothing outside 1..n
    -- repeats are certain here: 8 draws of 2 rows
    local small = counts(data.RandomSampler(2, { replacement = true, num_samples = 8, seed = 1 }):order():totable())
    assert.are.equal(8, small[1] + small[2])
  end)

  it('repeat under a seed, or after the same nl.manual_seed', function()
    local function draws(opts)
      local r = data.RandomSampler(30, opts)
      return { r:order():totable(), r:order():totable() }
    end
    assert.are.same(draws({ seed = 4 }), draws({ seed = 4 }))
    -- iter() gives an epoch's order one by one
    local it = {}
    for i in data.RandomSampler(30, { seed = 4 }):iter() do it[#it + 1] = i end
    assert.are.same(draws({ seed = 4 })[1], it)
    assert.are_not.same(draws({ seed = 4 }), draws({ seed = 5 }))
    nl.manual_seed(3)
    local a = draws({ replacement = true })
    nl.manual_seed(3)
    assert.are.same(a, draws({ replacement = true }))
  end)

  it('name what is wrong', function()
    contains(errmsg(data.RandomSampler, 0), 'RandomSampler: num_samples must be a positive integer, got 0 (the dataset has no rows)')
    contains(errmsg(data.RandomSampler, 0, { num_samples = 3 }), 'RandomSampler: the dataset has no rows to draw from')
    for _, m in ipairs({ 0, 1.5, -2, 0 / 0 }) do
      contains(errmsg(data.RandomSampler, 5, { num_samples = m }), 'RandomSampler: num_samples must be a positive integer')
    end
    contains(errmsg(data.RandomSampler, 5, { replacement = 1 }), 'RandomSampler: replacement must be a boolean')
    -- a draw too large for memory, named by the sampler
    local huge = data.RandomSampler(3, { num_samples = 2 ^ 40 })
    contains(errmsg(huge.order, huge), 'RandomSampler: rand: out of memory')
    contains(errmsg(data.RandomSampler, 5, { generator = 1 }), "RandomSampler: unknown option 'generator'")
    contains(errmsg(data.RandomSampler, 5, true), 'RandomSampler: expected an options table')
    contains(errmsg(data.RandomSampler, 5, {}, 3), 'RandomSampler: takes (dataset, {options}), got 3 arguments')
    contains(errmsg(data.RandomSampler, 2.5), 'RandomSampler: the number of rows must be a non-negative integer')
    contains(errmsg(data.SequentialSampler, nl.nn.Linear(2, 2)), 'SequentialSampler: expected a dataset with #ds and ds[i], got a module')
  end)
end)

describe('data.SubsetRandomSampler', function()
  it('gives its indices in a new order each epoch, each once', function()
    local idx = { 4, 9, 16, 25, 36, 49, 64, 81 }
    local s = data.SubsetRandomSampler(idx, { seed = 1 })
    assert.are.equal(8, #s)
    local a, b = s:order():totable(), s:order():totable()
    for _, v in ipairs({ a, b }) do
      local sorted = { unpack(v) }
      table.sort(sorted)
      assert.are.same(idx, sorted)
    end
    assert.are_not.same(a, b)
    assert.are.same(a, data.SubsetRandomSampler(nl.tensor(idx, 'int64'), { seed = 1 }):order():totable())
    assert.are.equal(0, data.SubsetRandomSampler({}):order():numel())
    contains(errmsg(data.SubsetRandomSampler, { 1, -2 }), 'SubsetRandomSampler: indices must be whole numbers from 1, got -2 at 2')
    contains(errmsg(data.SubsetRandomSampler, { 1 }, { seed = 0.5 }), 'SubsetRandomSampler: seed must be a non-negative integer')
  end)
end)

describe('data.WeightedRandomSampler', function()
  it('draws each row in proportion to its weight, never one of weight 0', function()
    local w = { 1, 2, 3, 0, 4 }
    local m = 20000
    local s = data.WeightedRandomSampler(w, m, { seed = 7 })
    assert.are.equal(m, #s)
    assert.is_true(s.replacement)
    local c = counts(s:order():totable())
    for i, wi in ipairs(w) do binomial_ok(c[i], m, wi / 10, 'row ' .. i) end
    assert.are.equal(0, c[4])
    -- a tensor of weights, any float dtype, draws the same
    assert.are.same(data.WeightedRandomSampler(nl.tensor(w), 50, { seed = 3 }):order():totable(),
                    data.WeightedRandomSampler(w, 50, { seed = 3 }):order():totable())
  end)

  it('without replacement, draws no row twice, the first and second in closed form', function()
    local w = { 1, 3, 0, 4 }
    local W = 8
    local s = data.WeightedRandomSampler(w, 3, false)
    assert.is_false(s.replacement)
    nl.manual_seed(21)
    local first, second, reps = counts({}), counts({}), 4000
    for _ = 1, reps do
      local v = s:order():totable()
      assert.are.equal(3, #v)
      assert.is_true(v[1] ~= v[2] and v[2] ~= v[3] and v[1] ~= v[3] and v[1] ~= 3 and v[2] ~= 3 and v[3] ~= 3)
      first[v[1]] = first[v[1]] + 1
      second[v[2]] = second[v[2]] + 1
    end
    for j, wj in ipairs(w) do
      binomial_ok(first[j], reps, wj / W, 'first draw ' .. j)
      -- P(second = j) = sum over i ~= j of P(first = i) w_j / (W - w_i)
      local p = 0
      for i, wi in ipairs(w) do if i ~= j then p = p + wi / W * wj / (W - wi) end end
      binomial_ok(second[j], reps, p, 'second draw ' .. j)
    end
    -- the same with the boolean in an options table
    assert.is_false(data.WeightedRandomSampler(w, 2, { replacement = false }).replacement)
  end)

  it('names what is wrong with the weights and the number of samples', function()
    local op = 'WeightedRandomSampler: '
    contains(errmsg(data.WeightedRandomSampler, { 1, -1 }, 2), op .. 'weights must be non-negative, got -1')
    contains(errmsg(data.WeightedRandomSampler, { 1, 0 / 0 }, 2), op .. 'weights must be finite')
    contains(errmsg(data.WeightedRandomSampler, { 1, math.huge }, 2), op .. 'weights must be finite')
    contains(errmsg(data.WeightedRandomSampler, { 0, 0 }, 2), op .. 'weights must not all be 0')
    contains(errmsg(data.WeightedRandomSampler, nl.ones(2, 2), 2), op .. 'weights must be a non-empty 1-D sequence, got shape [2,2]')
    contains(errmsg(data.WeightedRandomSampler, {}, 2), op .. 'expected weights as a list of numbers')
    contains(errmsg(data.WeightedRandomSampler, { 1, 'a' }, 2), op .. "weight 2 is 'a'")
    for _, m in ipairs({ 0, 1.5, -1, 'x' }) do
      contains(errmsg(data.WeightedRandomSampler, { 1, 2 }, m), op .. 'num_samples must be a positive integer')
    end
    contains(errmsg(data.WeightedRandomSampler, { 1, 0, 2 }, 3, false),
             op .. 'without replacement, num_samples (3) may not pass the 2 rows of positive weight')
    contains(errmsg(data.WeightedRandomSampler, { 1 }, 1, 'yes'), op .. 'expected an options table')
  end)
end)

describe('data.BatchSampler', function()
  it("makes PyTorch 1.13's batches of a sequential sampler", function()
    local k = 0
    for i, c in ipairs(cases) do
      if c.op == 'BatchSampler' then
        k = k + 1
        local what = ('case %d: BatchSampler(%d rows, %d, %s)'):format(i, c.n, c.batch_size, tostring(c.drop_last))
        for _, src in ipairs({ data.SequentialSampler(c.n), (function()
            local l = {}
            for j = 1, c.n do l[j] = j end
            return l
          end)() }) do
          local b = data.BatchSampler(src, c.batch_size, c.drop_last)
          assert.are.equal(c.len, #b, what)
          local got = {}
          for ix in b:iter() do got[#got + 1] = ix:totable() end
          assert.are.same(c.batches, got, what)
          -- a DataLoader over it gives those batches' rows
          assert.are.same(c.batches, labels(data.DataLoader(numbered(math.max(c.n, 1)), { batch_sampler = b })), what)
        end
      end
    end
    assert.is_true(k >= 9)
  end)

  it("batches a random sampler's order: every row once an epoch", function()
    local b = data.BatchSampler(data.RandomSampler(23, { seed = 8 }), 5, false)
    assert.are.equal(5, #b)
    local batches = {}
    for ix in b:iter() do batches[#batches + 1] = ix:totable() end
    assert.are.same({ 5, 5, 5, 5, 3 }, { #batches[1], #batches[2], #batches[3], #batches[4], #batches[5] })
    assert.is_true(is_permutation(flatten(batches), 23))
  end)

  it('names what is wrong', function()
    local s = data.SequentialSampler(4)
    for _, bs in ipairs({ 0, 2.5, -1, 'x', true }) do
      contains(errmsg(data.BatchSampler, s, bs, false), 'BatchSampler: batch_size must be a positive integer')
    end
    contains(errmsg(data.BatchSampler, s, 2, 'no'), "BatchSampler: drop_last must be a boolean (true or false), got 'no'")
    contains(errmsg(data.BatchSampler, 5, 2, false), 'BatchSampler: expected a sampler')
    contains(errmsg(data.BatchSampler, { 1, 0 }, 2, false), 'BatchSampler: sampler must be whole numbers from 1, got 0 at 2')
    contains(errmsg(data.BatchSampler, s, 2, false, 1), 'BatchSampler: takes (sampler, batch_size, drop_last), got 4 arguments')
    -- a sampler made as a table, whose #s LuaJIT reads as 0: #b was 0
    -- while iter yielded every batch
    local order = function() return nl.arange(1, 11, 1, 'int64') end
    local tab = setmetatable({ order = order }, { __len = function() return 10 end })
    contains(errmsg(data.BatchSampler, tab, 4, false),
             'BatchSampler: sampler is a table, whose # LuaJIT takes as its list length (0), not its __len (10)')
    -- as a userdata its __len is read
    local u = newproxy(true)
    getmetatable(u).__index = { order = order }
    getmetatable(u).__len = function() return 10 end
    local b, count = data.BatchSampler(u, 4, false), 0
    for _ in b:iter() do count = count + 1 end
    assert.are.same({ 3, 3 }, { #b, count })
  end)
end)

describe("DataLoader's sampler, batch_sampler and collate_fn", function()
  local ds = numbered(10)

  it("follows a sampler's order, drawn anew each epoch; a list of rows is a sampler too", function()
    local loader = data.DataLoader(ds, { batch_size = 4, sampler = data.RandomSampler(ds, { seed = 6 }) })
    assert.are.equal(3, #loader)
    local twin = data.RandomSampler(ds, { seed = 6 })
    for _ = 1, 2 do assert.are.same(twin:order():totable(), flatten(labels(loader))) end
    assert.are.same({ { 3, 1 }, { 2 } }, labels(data.DataLoader(ds, { batch_size = 2, sampler = { 3, 1, 2 } })))
    local w = data.DataLoader(ds, { batch_size = 4, sampler = data.WeightedRandomSampler({ 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 }, 9) })
    assert.are.equal(3, #w)
    assert.are.same({ { 2, 2, 2, 2 }, { 2, 2, 2, 2 }, { 2 } }, labels(w))
    assert.are.same({ { 1, 2, 3, 4 }, { 5, 6, 7, 8 } },
                    labels(data.DataLoader(ds, { batch_size = 4, drop_last = true, sampler = data.SequentialSampler(ds) })))
  end)

  it('takes batch_sampler as an object, a list of lists or of tensors, and skips batches as drawn', function()
    local bs = data.BatchSampler(data.RandomSampler(ds, { seed = 2 }), 3, true)
    local loader = data.DataLoader(ds, { batch_sampler = bs })
    assert.are.equal(3, #loader)
    assert.is_nil(loader.batch_size)
    local twin = data.BatchSampler(data.RandomSampler(ds, { seed = 2 }), 3, true)
    local want = {}
    for ix in twin:iter() do want[#want + 1] = ix:totable() end
    assert.are.same(want, labels(loader))
    -- iter(skip) draws the epoch's batches and leaves out the first ones
    local again = {}
    for ix in twin:iter() do again[#again + 1] = ix:totable() end
    assert.are.same({ again[3] }, labels(loader, 2))
    local lists = data.DataLoader(ds, { batch_sampler = { { 2, 9 }, nl.tensor({ 4 }, 'int64'), { 10, 1, 1 } } })
    assert.are.equal(3, #lists)
    assert.are.same({ { 2, 9 }, { 4 }, { 10, 1, 1 } }, labels(lists))
    -- an object of one's own: #bs and bs:iter() yielding lists
    local own = newproxy(true)
    getmetatable(own).__len = function() return 2 end
    getmetatable(own).__index = { iter = function()
      local k = 0
      return function()
        k = k + 1
        if k <= 2 then return { k, k + 5 } end
      end
    end }
    assert.are.same({ { 1, 6 }, { 2, 7 } }, labels(data.DataLoader(ds, { batch_sampler = own, batch_size = 1 })))
  end)

  it('hands collate_fn the samples ds[i] gives and yields what it returns', function()
    local calls = 0
    local loader = data.DataLoader(ds, { batch_size = 4, collate_fn = function(samples)
      calls = calls + 1
      local ys = {}
      for r, s in ipairs(samples) do
        assert.are.same({ s[2], -s[2] }, s[1]:totable())        -- a TensorDataset row: {x, y}
        ys[r] = s[2]
      end
      return #samples, ys
    end })
    local got = {}
    for k, ys in loader:iter() do got[#got + 1] = { k, ys } end
    assert.are.same({ { 4, { 1, 2, 3, 4 } }, { 4, { 5, 6, 7, 8 } }, { 2, { 9, 10 } } }, got)
    assert.are.equal(3, calls)
    -- with a batch sampler too, and data.default_collate as a collate_fn is the default
    local a = labels(data.DataLoader(ds, { batch_sampler = { { 3, 4 } }, collate_fn = data.default_collate }))
    assert.are.same({ { 3, 4 } }, a)
    contains(errmsg(function() for _ in data.DataLoader(ds, { collate_fn = function() end }):iter() do end end),
             'DataLoader: collate_fn returned nil; it must return the batch')
  end)

  it('collates tables of names into a table of batches, recursing as default_collate', function()
    local samples = {}
    for i = 1, 5 do samples[i] = { image = nl.full({ 2, 2 }, i), label = i, extra = { i / 2, 'id' .. i } } end
    local out = {}
    for b in data.DataLoader(samples, { batch_size = 3 }):iter() do out[#out + 1] = b end
    assert.are.equal(2, #out)
    assert.are.same({ 3, 2, 2 }, out[1].image:shape())
    assert.are.same({ 4, 5 }, out[2].label:totable())
    assert.are.equal('int64', out[2].label:dtype())
    assert.are.same({ 0.5, 1, 1.5 }, out[1].extra[1]:totable())
    -- (a field's dtype is the loader's: this one's rows hold halves, so 2, 2.5 too is float32)
    assert.are.equal('float32', out[2].extra[1]:dtype())
    assert.are.same({ 'id4', 'id5' }, out[2].extra[2])
  end)

  it("gives default_collate's batches as PyTorch 1.13's (Python floats as float32, bools as int64)", function()
    -- the golden values' nested tables, tensors made
    local function build(v)
      if type(v) ~= 'table' then return v end
      if v.tensor then return S.from_golden(v.tensor.dtype == 'bool' and { shape = v.tensor.shape, data = v.tensor.data, dtype = 'int64' } or v.tensor) end
      local t = {}
      for k, x in pairs(v) do t[k] = build(x) end
      return t
    end
    local function compare(got, want, what)
      if type(want) == 'table' and want.tensor then
        assert.is_true(nl.is_tensor(got), what)
        local dt = ({ float64 = 'float32', bool = 'int64' })[want.tensor.dtype] or want.tensor.dtype or 'float32'
        assert.are.equal(dt, got:dtype(), what)
        assert.are.same(want.tensor.shape, got:shape(), what)
        S.expect_close(got, { shape = want.tensor.shape, data = want.tensor.data }, what, 1e-6, 1e-6)
      elseif type(want) == 'table' then
        assert.are.equal('table', type(got), what)
        local nk = 0
        for k, w in pairs(want) do
          nk = nk + 1
          compare(got[k], w, what .. '.' .. tostring(k))
        end
        for _ in pairs(got) do nk = nk - 1 end
        assert.are.equal(0, nk, what .. ': the same keys')
      else
        assert.are.equal(want, got, what)
      end
    end
    local k = 0
    for _, c in ipairs(cases) do
      if c.op == 'default_collate' then
        k = k + 1
        local samples = build(c.samples)
        local got
        -- a list sample's fields come as values (PyTorch's tuple, unpacked)
        if type(c.samples[1]) == 'table' and c.samples[1][1] ~= nil then got = { data.default_collate(samples) }
        else got = data.default_collate(samples) end
        compare(got, c.batch, c.name)
        -- the DataLoader's default makes the same batch
        local loader_got = { data.DataLoader(samples, { batch_size = #samples }):iter()() }
        if type(c.samples[1]) == 'table' and c.samples[1][1] ~= nil then compare(loader_got, c.batch, c.name .. ' (loader)')
        else compare(loader_got[1], c.batch, c.name .. ' (loader)') end
      end
    end
    assert.is_true(k >= 6)
  end)

  it('names a sample that does not match the batch', function()
    local function run(samples, bs)
      return errmsg(function() for _ in data.DataLoader(samples, { batch_size = bs or #samples }):iter() do end end)
    end
    contains(run({ { a = 1, b = 2 }, { a = 1 } }), "DataLoader: row 2 has no key 'b', which row 1 has")
    contains(run({ { a = 1 }, { a = 1, c = 2 } }), "DataLoader: row 2 has a key 'c', which row 1 has not")
    contains(run({ { nl.ones(2), { 1, 2 } }, { nl.ones(2), { 1 } } }), 'DataLoader: field 2 is a list of 2 entries in row 1 and of 1 in row 2')
    contains(run({ { nl.ones(2) }, { nl.ones(3) } }), 'DataLoader: field 1 holds tensors of shapes [2] (row 1) and [3] (row 2)')
    contains(run({ { nl.ones(2), 1 }, { nl.ones(2), 'a' } }), 'DataLoader: field 2 is a number in row 1 and a string in row 2')
    contains(run({ { x = { 1, nil, 3 } } }), 'DataLoader: field x.2 of row 1 is nil')
    contains(run({ { f = print } }), 'DataLoader: the dataset returned a function in field f (row 1)')
    contains(run({ {} }), 'DataLoader: the dataset returned an empty table for row 1')
    contains(run({ nl.ones(2), { nl.ones(2) } }), 'DataLoader: row 1 is a tensor and row 2 a list')
    contains(errmsg(data.default_collate, {}), 'default_collate: expected a non-empty list of samples')
    contains(errmsg(data.default_collate, { { a = 1 }, { b = 1 } }), "default_collate: sample 2 has no key 'a', which sample 1 has")
  end)

  it("refuses options that clash as PyTorch's, and what is no sampler", function()
    local bsm = data.BatchSampler(data.SequentialSampler(ds), 2, false)
    local clash = 'DataLoader: batch_sampler is mutually exclusive with batch_size, shuffle, sampler and drop_last'
    for _, kv in ipairs({ { 'batch_size', 2 }, { 'shuffle', true }, { 'sampler', data.SequentialSampler(ds) },
                          { 'drop_last', true } }) do
      local o = { batch_sampler = bsm, [kv[1]] = kv[2] }
      contains(errmsg(data.DataLoader, ds, o), clash .. ' (the batch sampler makes the batches); got ' .. kv[1])
    end
    contains(errmsg(data.DataLoader, ds, { batch_sampler = bsm, batch_size = 4, drop_last = true }), 'got batch_size, drop_last')
    -- PyTorch's defaults pass: batch_size 1, shuffle and drop_last false
    assert.are.equal(5, #data.DataLoader(ds, { batch_sampler = bsm, batch_size = 1, shuffle = false, drop_last = false }))
    contains(errmsg(data.DataLoader, ds, { sampler = data.SequentialSampler(ds), shuffle = true }),
             'DataLoader: give shuffle or a sampler, not both')
    contains(errmsg(data.DataLoader, ds, { sampler = bsm }), '(a batch sampler goes in batch_sampler)')
    contains(errmsg(data.DataLoader, ds, { sampler = { 1, 0.5 } }), 'DataLoader: sampler must be whole numbers from 1, got 0.5 at 2')
    contains(errmsg(data.DataLoader, ds, { batch_sampler = 3 }), 'DataLoader: batch_sampler must have bs:iter() and #bs')
    -- a sampler made as a table, whose #s LuaJIT reads as 0: a loader of no batches
    local tab = setmetatable({ order = function() return nl.arange(1, 11, 1, 'int64') end },
                             { __len = function() return 10 end })
    contains(errmsg(data.DataLoader, ds, { sampler = tab }),
             'DataLoader: sampler is a table, whose # LuaJIT takes as its list length (0), not its __len (10)')
    contains(errmsg(data.DataLoader, ds, { batch_sampler = { iter = function() end } }),
             'DataLoader: batch_sampler is a table, whose # LuaJIT takes as its list length (0); make it a userdata')
    contains(errmsg(data.DataLoader, ds, { collate_fn = 'stack' }), "DataLoader: collate_fn must be a function of the list of samples, got 'stack'")
    local function run(b)
      return errmsg(function() for _ in data.DataLoader(ds, { batch_sampler = b }):iter() do end end)
    end
    contains(run({ { 1, 11 } }), 'DataLoader: batch 1 of batch_sampler holds a row index outside 1..10')
    contains(run({ { 1 }, {} }), 'DataLoader: batch 2 of batch_sampler is empty')
    contains(run({ { 1 }, 'ab' }), 'DataLoader: batch 2 of batch_sampler is a string')
    contains(run({ { 1.5 } }), 'DataLoader: batch 1 of batch_sampler must be whole numbers from 1, got 1.5 at 1')
    contains(errmsg(function() for _ in data.DataLoader(ds, { sampler = { 1, 12 } }):iter() do end end),
             'DataLoader: sampler:order() returned a row index outside 1..10')
  end)
end)
