-- data_iterable.lua: data.IterableDataset subclasses and the DataLoader
-- that batches their streams (in stream order, the last batch short unless
-- drop_last, iter(skip), #loader from ds:len(); shuffle and samplers
-- refused as PyTorch refuses them; workers each making the batches of a
-- pass of their own, in PyTorch's order), ChainDataset (streams one
-- after another, ds1 + ds2), StackDataset (datasets side by side, as a
-- list or by name), and the map-style functions that refuse a stream.
-- Closed forms: every sample says which one it is.
local nl = require 'nnlua'
local S = require 'support'
local data = nl.data

local errmsg, contains = S.errmsg, S.contains

-- Count(a, b): the samples i = a..b as ({i, -i} float32, i), and len()
local Count = data.IterableDataset:extend('Count')
function Count:init(a, b) self.a, self.b = a, b end
function Count:iter()
  local i = self.a - 1
  return function()
    i = i + 1
    if i <= self.b then return nl.tensor({ i, -i }), i end
  end
end
function Count:len() return self.b - self.a + 1 end

-- Words: a stream of tables of names through ipairs (f, s, c), no len()
local Words = data.IterableDataset:extend('Words')
function Words:init(words) self.words = words end
function Words:iter() return ipairs(self.words) end

-- the label batches of a loader's epoch, as lists
local function labels(loader, skip)
  local out = {}
  for _, yb in loader:iter(skip) do out[#out + 1] = yb:totable() end
  return out
end

describe('IterableDataset', function()
  it('streams its samples, several values of a step as the list of them', function()
    local ds = Count(3, 6)
    local got = {}
    for x, i in ds:iter() do got[#got + 1] = { x:totable(), i } end
    assert.are.same({ { { 3, -3 }, 3 }, { { 4, -4 }, 4 }, { { 5, -5 }, 5 }, { { 6, -6 }, 6 } }, got)
    assert.are.equal('Count(4 samples)', tostring(ds))
    assert.are.equal('Words()', tostring(Words({ 'a' })))
  end)

  it('DataLoader batches it in stream order, the last batch short unless drop_last', function()
    local loader = data.DataLoader(Count(1, 7), { batch_size = 3 })
    assert.are.equal(3, #loader)
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 }, { 7 } }, labels(loader))
    -- the x of a batch are the stacked samples
    local xb = loader:iter()()
    assert.are.same({ { 1, -1 }, { 2, -2 }, { 3, -3 } }, xb:totable())
    assert.are.equal('float32', xb:dtype())
    local dropped = data.DataLoader(Count(1, 7), { batch_size = 3, drop_last = true })
    assert.are.equal(2, #dropped)
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, labels(dropped))
    -- every epoch reads the stream again; skip drops the first batches
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 }, { 7 } }, labels(loader))
    assert.are.same({ { 7 } }, labels(loader, 2))
    assert.are.same({}, labels(loader, 5))
    -- batch_size 1 (the default), and the loader as a generic for's iterator
    local n = 0
    for _, yb in data.DataLoader(Count(1, 4)) do
      n = n + 1
      assert.are.same({ n }, yb:totable())
    end
    assert.are.equal(4, n)
    assert.are.equal('DataLoader(Count(7 samples), batch_size=3, drop_last=false: 3 batches)', tostring(loader))
  end)

  it('collates tables of names, and takes a collate_fn', function()
    local words = Words({ { w = 'a', n = 1 }, { w = 'b', n = 2 }, { w = 'c', n = 3 } })
    -- (ipairs gives i, v: each sample is the list {i, v})
    local loader = data.DataLoader(words, { batch_size = 2 })
    local i, v = loader:iter()()
    assert.are.same({ 1, 2 }, i:totable())
    assert.are.same({ 'a', 'b' }, v.w)
    assert.are.same({ 1, 2 }, v.n:totable())
    local sizes = {}
    for b in data.DataLoader(words, { batch_size = 2, collate_fn = function(s) return #s end }):iter() do
      sizes[#sizes + 1] = b
    end
    assert.are.same({ 2, 1 }, sizes)
    contains(errmsg(function() return #loader end), 'DataLoader: #loader of an IterableDataset needs its number of '
             .. 'samples: define len() on Words')
    assert.are.equal('DataLoader(Words(), batch_size=2, drop_last=false: a stream)', tostring(loader))
  end)

  it('fit trains on its DataLoader, #loader steps an epoch', function()
    local m = nl.nn.Linear(2, 1)
    m:compile { optimizer = 'sgd', loss = 'mse', lr = 0.01 }
    local Pairs = data.IterableDataset:extend('Pairs')
    function Pairs:iter()
      local i = 0
      return function()
        i = i + 1
        if i <= 6 then return nl.tensor({ i, 1 }), nl.tensor({ 2 * i }) end
      end
    end
    function Pairs:len() return 6 end
    local steps = 0
    local h = m:fit(data.DataLoader(Pairs(), { batch_size = 4 }), {
      epochs = 3, verbose = 0,
      callbacks = { nl.callbacks.LambdaCallback { on_train_batch_end = function() steps = steps + 1 end } } })
    assert.are.equal(3, #h.loss)
    assert.are.equal(6, steps)
    assert.is_true(h.loss[3] < h.loss[1])
  end)

  it('DataLoader refuses shuffle, a sampler and a batch sampler for it', function()
    local ds = Count(1, 4)
    contains(errmsg(data.DataLoader, ds, { shuffle = true }),
             'DataLoader: an IterableDataset (Count) cannot be shuffled by the loader')
    contains(errmsg(data.DataLoader, ds, { sampler = data.SequentialSampler(4) }),
             'DataLoader: an IterableDataset (Count) takes no sampler')
    contains(errmsg(data.DataLoader, ds, { batch_sampler = { { 1, 2 } } }),
             'DataLoader: an IterableDataset (Count) takes no batch_sampler')
    contains(errmsg(data.DataLoader, ds, { prefetch_factor = 2 }), 'DataLoader: prefetch_factor needs num_workers > 0')
    contains(errmsg(data.DataLoader, ds, { num_workers = -1 }), 'DataLoader: num_workers must be an integer in 0..1024')
    contains(errmsg(data.DataLoader, ds, { batch_size = 0 }), 'DataLoader: batch_size must be a positive integer')
    -- shuffle = false is no shuffle, as PyTorch's
    assert.are.equal(4, #data.DataLoader(ds, { shuffle = false }))
  end)

  it('a subclass without iter(), or whose iter() gives no iterator, is named', function()
    local Bare = data.IterableDataset:extend('Bare')
    contains(errmsg(function() return data.DataLoader(Bare()):iter() end),
             'Bare: an IterableDataset must define iter()')
    local Odd = data.IterableDataset:extend('Odd')
    function Odd:iter() return 5 end
    contains(errmsg(function() return data.DataLoader(Odd()):iter() end),
             'DataLoader: Odd:iter() must return an iterator function, got 5')
  end)

  it('the map-style functions refuse it: it has no rows (#ds was 0, an empty dataset)', function()
    local ds = Count(1, 4)
    contains(errmsg(data.Subset, ds, { 1 }), 'Subset: expected a dataset with #ds and ds[i], got an IterableDataset '
             .. '(Count), which only streams its samples')
    contains(errmsg(data.ConcatDataset, { ds }), 'ConcatDataset: element 1 of the list: expected a dataset')
    contains(errmsg(data.random_split, ds, { 2, 2 }), 'random_split: expected a dataset with #ds and ds[i], got an '
             .. 'IterableDataset')
    contains(errmsg(data.StackDataset, ds), 'StackDataset: dataset 1: expected a dataset with #ds and ds[i]')
    -- fit took it for a loader (it has iter(), and # of a table) and ran no step
    local m = nl.nn.Linear(2, 1)
    m:compile { optimizer = 'sgd', loss = 'mse' }
    contains(errmsg(function() return m:fit(ds, { epochs = 1, verbose = 0 }) end),
             'fit: expected a dataset with #ds and ds[i], got an IterableDataset (Count), which only streams its '
             .. 'samples (a DataLoader batches it)')
  end)
end)

describe('ChainDataset', function()
  it('streams each dataset in turn; len() sums theirs; ds1 + ds2 is one', function()
    local chain = data.ChainDataset({ Count(1, 3), Count(10, 11), Count(5, 4), Count(20, 20) })
    local got = {}
    for _, i in chain:iter() do got[#got + 1] = i end
    assert.are.same({ 1, 2, 3, 10, 11, 20 }, got)
    assert.are.equal(6, chain:len())
    assert.are.same({ { 1, 2, 3, 10 }, { 11, 20 } }, labels(data.DataLoader(chain, { batch_size = 4 })))
    local sum = Count(1, 2) + Count(7, 8) + Count(3, 3)
    got = {}
    for _, i in sum:iter() do got[#got + 1] = i end
    assert.are.same({ 1, 2, 7, 8, 3 }, got)
    assert.are.equal(5, sum:len())
    assert.are.equal('ChainDataset(6 samples)', tostring(chain))
    -- two loops over one chain do not share their place
    local a, b = chain:iter(), chain:iter()
    local _, a1 = a()
    local _, b1 = b()
    local _, a2 = a()
    assert.are.same({ 1, 1, 2 }, { a1, b1, a2 })
  end)

  it('chains only IterableDatasets, and its len() needs every len()', function()
    contains(errmsg(data.ChainDataset, { Count(1, 2), { 1, 2 } }),
             'ChainDataset: element 2 of the list is table')
    contains(errmsg(data.ChainDataset, Count(1, 2)), 'ChainDataset: expected a list of IterableDatasets')
    local chain = data.ChainDataset({ Count(1, 2), Words({ 'a' }) })
    contains(errmsg(function() return chain:len() end),
             'ChainDataset: len() needs the len() of every dataset, and dataset 2 (Words) has none')
    -- (each step's values as its own dataset gives them)
    local seconds = {}
    for _, v in chain:iter() do seconds[#seconds + 1] = v end
    assert.are.same({ 1, 2, 'a' }, seconds)
  end)
end)

-- Split(a, b): the samples a..b, each worker taking its share as in
-- PyTorch's IterableDataset documentation (ceil((b - a + 1) / workers) a
-- worker, by data.get_worker_info()); the whole range outside workers
local Split = data.IterableDataset:extend('Split')
function Split:init(a, b, whole) self.a, self.b, self.whole = a, b, whole end
function Split:iter()
  local info = data.get_worker_info()
  local a, b = self.a, self.b
  if info and not self.whole then
    local per = math.ceil((self.b - self.a + 1) / info.num_workers)
    a = self.a + info.id * per
    b = math.min(a + per - 1, self.b)
  end
  if info and self.fail_in == info.id then error('no samples in worker ' .. info.id) end
  local i = a - 1
  return function() i = i + 1 if i <= b then return i end end
end
function Split:len() return self.b - self.a + 1 end

local function lists(loader, skip)
  local out = {}
  for xb in loader:iter(skip) do out[#out + 1] = xb:totable() end
  return out
end

describe('DataLoader of an IterableDataset with workers', function()
  -- the batches of PyTorch 1.13's DataLoader(Split(1, 11), batch_size,
  -- num_workers, drop_last) for the same split (torch.utils.data's
  -- get_worker_info): each worker's batches of its share, taken from the
  -- workers in turn, a worker left out once its pass has ended
  it('each worker makes the batches of its own pass, in PyTorch\'s order', function()
    local cases = {
      { 3, 2, false, { { 1, 2 }, { 5, 6 }, { 9, 10 }, { 3, 4 }, { 7, 8 }, { 11 } } },
      { 3, 2, true, { { 1, 2 }, { 5, 6 }, { 9, 10 }, { 3, 4 }, { 7, 8 } } },
      { 2, 3, false, { { 1, 2, 3 }, { 7, 8, 9 }, { 4, 5, 6 }, { 10, 11 } } },
      { 4, 2, false, { { 1, 2 }, { 4, 5 }, { 7, 8 }, { 10, 11 }, { 3 }, { 6 }, { 9 } } },
    }
    for _, c in ipairs(cases) do
      local loader = data.DataLoader(Split(1, 11), { batch_size = c[2], num_workers = c[1], drop_last = c[3] })
      assert.are.same(c[4], lists(loader))
    end
    -- a dataset that does not split gives its samples once per worker, as
    -- PyTorch's: [[1, 2], [1, 2], [3], [3]]
    assert.are.same({ { 1, 2 }, { 1, 2 }, { 3 }, { 3 } },
                    lists(data.DataLoader(Split(1, 3, true), { batch_size = 2, num_workers = 2 })))
    -- outside the workers, no worker info: the whole range
    assert.are.same({ { 1, 2, 3, 4, 5 } }, lists(data.DataLoader(Split(1, 5), { batch_size = 5 })))
  end)

  it('persistent workers give each epoch afresh; iter(skip) drops batches; workers\' errors name them', function()
    local loader = data.DataLoader(Split(1, 11), { batch_size = 2, num_workers = 3, persistent_workers = true,
                                                   prefetch_factor = 1 })
    local want = { { 1, 2 }, { 5, 6 }, { 9, 10 }, { 3, 4 }, { 7, 8 }, { 11 } }
    assert.are.same(want, lists(loader))
    assert.are.same(want, lists(loader))
    assert.are.same({ { 3, 4 }, { 7, 8 }, { 11 } }, lists(loader, 3))
    loader:shutdown()
    local bad = Split(1, 11)
    bad.fail_in = 1
    contains(errmsg(lists, data.DataLoader(bad, { batch_size = 2, num_workers = 2 })),
             'DataLoader: worker 1 (pid')
    contains(errmsg(lists, data.DataLoader(bad, { batch_size = 2, num_workers = 2 })), 'no samples in worker 1')
  end)
end)

describe('StackDataset', function()
  local X = nl.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } })
  local y = nl.tensor({ 10, 20, 30 }, 'int64')

  it('row i is the list of the datasets\' rows i; a batch gives their batches as values', function()
    local st = data.StackDataset(data.TensorDataset(X, y), { 7, 8, 9 })
    assert.are.equal(3, #st)
    local r = st[2]
    assert.are.same({ 3, 4 }, r[1][1]:totable())
    assert.are.equal(20, r[1][2])
    assert.are.equal(8, r[2])
    local a, b = st:get(3)
    assert.are.equal(30, a[2])
    assert.are.equal(9, b)
    local batches = {}
    for xy, z in data.DataLoader(st, { batch_size = 2 }):iter() do batches[#batches + 1] = { xy, z } end
    assert.are.equal(2, #batches)
    assert.are.same({ { 1, 2 }, { 3, 4 } }, batches[1][1][1]:totable())
    assert.are.same({ 10, 20 }, batches[1][1][2]:totable())
    assert.are.same({ 7, 8 }, batches[1][2]:totable())
    assert.are.same({ 9 }, batches[2][2]:totable())
    assert.are.equal('StackDataset(3 rows: 2 datasets)', tostring(st))
    -- a Subset of it, through get
    local sub = data.Subset(st, { 3, 1 })
    assert.are.equal(7, select(2, sub:get(2)))
  end)

  it('by name, row i is the table of the rows i; a batch one table of batches', function()
    local st = data.StackDataset({ image = data.TensorDataset(X), label = { 10, 20, 30 } })
    assert.are.equal(3, #st)
    assert.are.same({ 5, 6 }, st[3].image[1]:totable())
    assert.are.equal(30, st[3].label)
    assert.are.equal(20, st:get(2).label)
    local batch = data.DataLoader(st, { batch_size = 3 }):iter()()
    assert.are.same({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, batch.image[1]:totable())
    assert.are.same({ 10, 20, 30 }, batch.label:totable())
    assert.are.equal('StackDataset(3 rows: image, label)', tostring(st))
  end)

  -- the loader's batches of st made by st:batch (one call per dataset)
  -- against those of the same rows collated row by row (st behind a
  -- wrapper without batch), value by value, tensors bit for bit with their
  -- dtype
  local function same_batch(a, b, what)
    if nl.is_tensor(a) then
      assert.is_true(nl.is_tensor(b), what .. ': a tensor')
      assert.are.equal(b:dtype(), a:dtype(), what .. ': dtype')
      S.same_bits(a, b, what)
    elseif type(a) == 'table' then
      assert.are.equal('table', type(b), what .. ': a table')
      for key, v in pairs(b) do same_batch(a[key], v, what .. '.' .. tostring(key)) end
      for key in pairs(a) do assert.is_true(b[key] ~= nil, what .. ': extra field ' .. tostring(key)) end
    else
      assert.are.equal(b, a, what)
    end
  end
  local function row_by_row(st)
    local p = newproxy(true)
    local mt = getmetatable(p)
    mt.__len = function() return #st end
    mt.__index = function(_, i) if type(i) == 'number' then return st[i] end end
    return p
  end

  it('batches with batch() (each dataset has one) equal to the rows collated one by one', function()
    local rng = S.rng(3)
    local N = 50
    local A = nl.tensor(S.nested({ N, 3 }, rng))
    local B = nl.tensor(S.nested({ N, 2, 2 }, rng), 'float64')
    local lab = nl.tensor(S.nested({ N }, function() return math.floor(rng(0, 9)) end), 'int64')
    local perm = {}
    for i = 1, N do perm[i] = (i * 7) % N + 1 end
    local lists = data.StackDataset(data.TensorDataset(A, lab), data.Subset(data.TensorDataset(B), perm))
    local names = data.StackDataset({ a = data.TensorDataset(A), b = data.TensorDataset(B, lab) })
    assert.are.equal('function', type(lists.batch))
    assert.are.equal('function', type(names.batch))
    assert.is_nil(data.StackDataset(data.TensorDataset(A), lab:totable()).batch)   -- a plain table has none
    for _, st in ipairs({ lists, names }) do
      for _, o in ipairs({ { batch_size = 7 }, { batch_size = 8, shuffle = true, seed = 4, drop_last = true } }) do
        local got, want = {}, {}
        for _, dl in ipairs({ { st, got }, { row_by_row(st), want } }) do
          for a, b in data.DataLoader(dl[1], o):iter() do dl[2][#dl[2] + 1] = { a, b } end
        end
        assert.are.equal(#want, #got)
        for i = 1, #want do same_batch(got[i], want[i], 'batch ' .. i) end
      end
    end
  end)

  it('refuses datasets of different lengths, no datasets, bad names and rows, naming them', function()
    contains(errmsg(data.StackDataset, data.TensorDataset(X), { 1, 2 }),
             'StackDataset: the datasets differ in length: dataset 1 has 3 rows and dataset 2 2')
    contains(errmsg(data.StackDataset, { a = { 1, 2 }, b = { 1 } }),
             "StackDataset: the datasets differ in length: dataset 'a' has 2 rows and dataset 'b' 1")
    contains(errmsg(data.StackDataset), 'StackDataset: expected datasets')
    contains(errmsg(data.StackDataset, { a = { 1 }, [2] = { 1 } }), 'StackDataset: a table of datasets by name '
             .. 'takes string keys, got the key 2')
    contains(errmsg(data.StackDataset, { 1 }, 'x'), 'StackDataset: dataset 2: expected a dataset with #ds and ds[i], '
             .. 'got string')
    local st = data.StackDataset({ 1, 2 }, { 3, 4 })
    contains(errmsg(function() return st[3] end), 'StackDataset: index 3 out of range 1..2')
    -- a table by name beside other datasets was one of 0 rows, and a lone
    -- list of datasets one whose rows were the datasets, in silence
    local ds = data.TensorDataset(X)
    contains(errmsg(data.StackDataset, { a = ds }, { b = ds }),
             'StackDataset: argument 1 is a table of datasets by name, which must be the only argument')
    contains(errmsg(data.StackDataset, ds, { b = ds }),
             'StackDataset: argument 2 is a table of datasets by name, which must be the only argument')
    contains(errmsg(data.StackDataset, { ds, ds }),
             'StackDataset: expected datasets as arguments, StackDataset(ds1, ds2, ...), got one list of 2 datasets')
    assert.equals(3, #data.StackDataset({ { 1 }, { 2 }, { 3 } }, ds))
  end)
end)
