-- fit, evaluate and predict on a data.DataLoader or a dataset, as Keras's
-- fit(dataset). Against the same calls on tensors batched in the same
-- order, bit for bit (weights, history, outputs; dropout and a shuffle of
-- nl's generator included); against a closed form of SGD on a line; the
-- steps an epoch against #loader; a run killed mid-epoch and at an epoch's
-- start against the uninterrupted one, bit for bit, for loaders whose
-- order comes from generators of their own (a seed, seeded samplers) and
-- from nl's; and every refusal by its message.
local nl = require 'nnlua'
local S = require 'support'
local nn, data, optim = nl.nn, nl.data, nl.optim

local errmsg, contains = S.errmsg, S.contains

nl.manual_seed(41)
local X, y = nl.randn(44, 4), nl.randint(1, 4, { 44 })
local Xv, yv = nl.randn(20, 4), nl.randint(1, 4, { 20 })

-- a classifier with dropout (it draws from nl's generator), the same
-- weights each call
local function net(opts)
  nl.manual_seed(3)
  local m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.25), nn.Linear(8, 3))
  m:compile(opts or { optimizer = 'adam', lr = 1e-2, loss = 'cross_entropy', metrics = { 'accuracy' } })
  return m
end

local function same_weights(a, b)
  local sa, sb = a:state_dict(), b:state_dict()
  for k, t in pairs(sa) do assert.are.same(t:totable(), sb[k]:totable(), k) end
end

local function loader(ds, o) return data.DataLoader(ds, o) end

describe('fit on a DataLoader or a dataset', function()
  it('gives the weights and history of fit on the tensors in the same order, bit for bit', function()
    local o = { epochs = 3, verbose = 0 }
    local function with(t) for k, v in pairs(o) do t[k] = t[k] == nil and v or t[k] end return t end
    -- in order: a loader without shuffle, validation as a loader, a dataset and a pair
    local a = net()
    local ha = a:fit(X, y, with { batch_size = 8, shuffle = false, validation_data = { Xv, yv } })
    local b = net()
    local hb = b:fit(loader(data.TensorDataset(X, y), { batch_size = 8 }),
                     -- (validation batches of batch_size rows, as the pair's)
                     with { validation_data = loader(data.TensorDataset(Xv, yv), { batch_size = 8 }) })
    local c = net()
    local hc = c:fit(data.TensorDataset(X, y), with { batch_size = 8, shuffle = false,
                                                      validation_data = data.TensorDataset(Xv, yv) })
    assert.are.same(ha, hb)
    assert.are.same(ha, hc)
    same_weights(a, b)
    same_weights(a, c)
    assert.are.equal(3, #ha.val_accuracy)
    -- shuffled: fit's shuffle and an unseeded loader's both draw from nl's generator
    local d = net()
    local hd = d:fit(X, y, with { batch_size = 8 })
    local e = net()
    local he = e:fit(loader(data.TensorDataset(X, y), { batch_size = 8, shuffle = true }), o)
    assert.are.same(hd, he)
    same_weights(d, e)
    local f = net()
    local hf = f:fit(data.TensorDataset(X, y), with { batch_size = 8 })
    assert.are.same(hd, hf)
    -- validation_split of a dataset holds out its last rows, as of tensors
    local g = net()
    local hg = g:fit(X, y, with { batch_size = 8, validation_split = 0.25 })
    local h = net()
    local hh = h:fit(data.TensorDataset(X, y), with { batch_size = 8, validation_split = 0.25 })
    assert.are.same(hg, hh)
    same_weights(g, h)
    -- a table of samples {x, y}, collated
    local rows = {}
    for i = 1, 44 do rows[i] = { X[i], y[i] } end
    local k = net()
    local hk = k:fit(loader(rows, { batch_size = 8 }), o)
    local hbare = { loss = hb.loss, accuracy = hb.accuracy, epoch = hb.epoch }
    assert.are.same(hbare, hk)
    same_weights(a, k)
  end)

  it('takes sample weights as the batches\' third value and class_weight, as the options weigh tensors', function()
    local W = nl.rand(44) * 2
    local o = { optimizer = 'sgd', lr = 0.1, loss = 'cross_entropy' }
    local a = net(o)
    local ha = a:fit(X, y, { epochs = 2, batch_size = 8, shuffle = false, verbose = 0, sample_weight = W })
    local b = net(o)
    local hb = b:fit(loader(data.TensorDataset(X, y, W), { batch_size = 8 }), { epochs = 2, verbose = 0 })
    assert.are.same(ha, hb)
    same_weights(a, b)
    local unweighted = net(o)
    local hu = unweighted:fit(loader(data.TensorDataset(X, y), { batch_size = 8 }), { epochs = 2, verbose = 0 })
    assert.are_not.equal(hu.loss[1], hb.loss[1])
    local cw = { 0.5, 2, 1 }
    local c = net(o)
    local hc = c:fit(X, y, { epochs = 2, batch_size = 8, shuffle = false, verbose = 0, class_weight = cw })
    local d = net(o)
    local hd = d:fit(data.TensorDataset(X, y), { epochs = 2, batch_size = 8, shuffle = false, verbose = 0,
                                                 class_weight = cw })
    assert.are.same(hc, hd)
    same_weights(c, d)
    assert.are_not.equal(hu.loss[1], hd.loss[1])
  end)

  it('trains as the closed form of SGD on a line, its batches in the loader\'s order', function()
    -- w x against y = 2 x, x = 1, 2, 3, 4 in batches {1, 2}, {3, 4} (float64):
    -- a batch's loss mean((w x - y)^2), its step w -= lr * mean(2 (w x - y) x)
    local m = nn.Linear(1, 1, { bias = false }):double()
    nl.no_grad(function() m.weight:fill_(0) end)
    m:compile { optimizer = 'sgd', lr = 0.05, loss = 'mse' }
    local x = nl.tensor({ { 1 }, { 2 }, { 3 }, { 4 } }, 'float64')
    local h = m:fit(loader(data.TensorDataset(x, x * 2), { batch_size = 2 }), { epochs = 3, verbose = 0 })
    local w, losses = 0, {}
    for e = 1, 3 do
      local sum = 0
      for _, batch in ipairs({ { 1, 2 }, { 3, 4 } }) do
        local l, gsum = 0, 0
        for _, xi in ipairs(batch) do
          l = l + (w * xi - 2 * xi) ^ 2 / 2
          gsum = gsum + 2 * (w * xi - 2 * xi) * xi / 2
        end
        sum = sum + l * 2          -- the epoch's loss: each batch's mean weighed by its rows
        w = w - 0.05 * gsum
      end
      losses[e] = sum / 4
    end
    for e = 1, 3 do assert.is_true(math.abs(h.loss[e] - losses[e]) <= 1e-12 * losses[e], 'epoch ' .. e) end
    assert.is_true(math.abs(m.weight[1][1] - w) <= 1e-13)
    -- evaluate and predict on the loader: mean((w x - 2 x)^2) = (w - 2)^2 * 30 / 4, and w x
    local l = m:evaluate(loader(data.TensorDataset(x, x * 2), { batch_size = 3 }))
    assert.is_true(math.abs(l - (w - 2) ^ 2 * 7.5) <= 1e-12 * l)
    local p = m:predict(data.TensorDataset(x))
    for i = 1, 4 do assert.is_true(math.abs(p[i][1] - w * i) <= 1e-13) end
  end)

  it('takes #loader steps an epoch, the callbacks\' params.steps', function()
    local counts, steps = {}, nil
    local cb = { set_params = function(_, p) steps = p.steps end }
    local function run(l)
      counts = {}
      net():fit(l, { epochs = 2, verbose = 0, callbacks = { cb },
                     on_step = function(e) counts[e] = (counts[e] or 0) + 1 end })
      return counts
    end
    local dl = loader(data.TensorDataset(X, y), { batch_size = 5, drop_last = true })
    assert.are.same({ 8, 8 }, run(dl))                       -- 44 rows, 5 a batch, the last 4 dropped
    assert.are.equal(8, steps)
    assert.are.same({ 3, 3 }, run(loader(data.TensorDataset(X, y), { batch_sampler = { { 1, 2 }, { 3 }, { 4, 5, 6 } } })))
    assert.are.equal(3, steps)
    assert.are.same({ 2, 2 }, run(loader(data.TensorDataset(X, y), { batch_size = 4, sampler = { 5, 1, 9, 2, 7 } })))
  end)

  it('sets the epoch of a sampler that takes set_epoch, as PyTorch Lightning does', function()
    local seen = {}
    local ds = newproxy(true)
    local mt = getmetatable(ds)
    mt.__len = function() return 44 end
    mt.__index = { batch = function(_, idx)
      for _, i in ipairs(idx:totable()) do seen[#seen + 1] = i end
      return X:index_select(1, idx), y:index_select(1, idx)
    end }
    local ds_sampler = data.DistributedSampler(44, { num_replicas = 1, rank = 0, seed = 9 })
    net():fit(loader(ds, { batch_size = 11, sampler = ds_sampler }), { epochs = 2, verbose = 0 })
    local twin = data.DistributedSampler(44, { num_replicas = 1, rank = 0, seed = 9 })
    local want = {}
    for e = 1, 2 do
      twin:set_epoch(e)
      for _, i in ipairs(twin:order():totable()) do want[#want + 1] = i end
    end
    assert.are.same(want, seen)
    assert.are_not.same({ unpack(want, 1, 44) }, { unpack(want, 45, 88) })    -- two orders
  end)
end)

describe('evaluate and predict on a DataLoader or a dataset', function()
  it('equal the tensor forms batched alike', function()
    local m = net()
    m:fit(X, y, { epochs = 1, batch_size = 8, verbose = 0 })
    local l1, m1 = m:evaluate(Xv, yv, { batch_size = 6 })
    local l2, m2 = m:evaluate(loader(data.TensorDataset(Xv, yv), { batch_size = 6 }))
    local l3, m3 = m:evaluate(data.TensorDataset(Xv, yv), { batch_size = 6 })
    local l4 = m:evaluate(data.TensorDataset(Xv, yv), nil, { batch_size = 6 })
    assert.are.equal(l1, l2)
    assert.are.equal(l1, l3)
    assert.are.equal(l1, l4)
    assert.are.same(m1, m2)
    assert.are.same(m1, m3)
    local p1 = m:predict(Xv, { batch_size = 6 })
    local p2 = m:predict(loader(data.TensorDataset(Xv, yv), { batch_size = 6 }))
    local p3 = m:predict(data.TensorDataset(Xv), { batch_size = 6 })
    assert.are.same(p1:totable(), p2:totable())
    assert.are.same(p1:totable(), p3:totable())
    -- a shuffled loader's outputs come in its order
    nl.manual_seed(2)
    local sl = loader(data.TensorDataset(Xv, nl.arange(1, 21, 1, 'int64')), { batch_size = 6, shuffle = true })
    local order = {}
    for _, ib in sl:iter() do for _, i in ipairs(ib:totable()) do order[#order + 1] = i end end
    nl.manual_seed(2)
    local p4 = m:predict(sl)
    assert.are.same(m:predict(Xv:index_select(1, nl.tensor(order, 'int64')), { batch_size = 6 }):totable(), p4:totable())
    assert.is_true(m.training)                                      -- the mode put back
  end)
end)

describe('fit on a DataLoader resumed from a checkpoint', function()
  local dir = S.tmpdir()
  local stop = {}
  local function run(make, path, kill)
    nl.manual_seed(3)
    local m = net { optimizer = 'adam', lr = 1e-2, loss = 'cross_entropy' }
    local steps = 0
    local ok, h = pcall(m.fit, m, make(), {
      epochs = 3, verbose = 0, validation_data = make(true), checkpoint = path and { path = path, every = 2 },
      resume = path ~= nil,
      on_step = function(e, s)
        steps = steps + 1
        if kill and e == kill[1] and s == kill[2] then error(stop) end
      end })
    if not ok then
      assert(h == stop, tostring(h))
      return nil
    end
    return h, m, steps
  end
  local ds = data.TensorDataset(X, y)
  local vds = data.TensorDataset(Xv, yv)
  local cases = {
    { 'a seeded shuffle', function(v) return loader(v and vds or ds, { batch_size = 8, shuffle = true, seed = v and 2 or 7 }) end },
    { 'a seeded RandomSampler', function(v)
      return v and vds or loader(ds, { batch_size = 8, sampler = data.RandomSampler(ds, { seed = 5 }) })
    end },
    { 'a BatchSampler of a seeded RandomSampler', function(v)
      return v and vds or loader(ds, { batch_sampler = data.BatchSampler(data.RandomSampler(ds, { seed = 5 }), 8, false) })
    end },
    { "a WeightedRandomSampler on nl's generator", function(v)
      return v and { Xv, yv } or loader(ds, { batch_size = 8, sampler = data.WeightedRandomSampler(nl.arange(1, 45, 1, 'float64'), 44) })
    end },
  }
  for _, c in ipairs(cases) do
    -- killed at epoch 2 step 5 (resumed from step 4's checkpoint) and at
    -- its step 1 (resumed from epoch 1's end)
    for _, kill in ipairs({ { 2, 5 }, { 2, 1 } }) do
      it(('equals the uninterrupted run, bit for bit: %s, killed at epoch 2 step %d'):format(c[1], kill[2]), function()
        local threads = nl.get_num_threads()
        nl.set_num_threads(1)
        finally(function() nl.set_num_threads(threads) end)
        local path = ('%s/%s_%d.st'):format(dir, c[1]:gsub('%W', '_'), kill[2])
        local ha, ma = run(c[2])
        assert.is_nil(run(c[2], path, kill))
        local hb, mb, steps = run(c[2], path)
        assert.are.same(ha, hb)
        same_weights(ma, mb)
        assert.are.equal(kill[2] == 5 and 2 + 6 or 6 + 6, steps)   -- 6 steps an epoch: the resumed ones alone
      end)
    end
  end

  it('refuses a checkpoint of data that drew from other generators of their own', function()
    local path = dir .. '/other.st'
    net():fit(loader(ds, { batch_size = 8, shuffle = true }), { epochs = 1, verbose = 0, checkpoint = { path = path } })
    local m = net()
    contains(errmsg(m.fit, m, loader(ds, { batch_size = 8, shuffle = true, seed = 1 }),
                    { epochs = 2, verbose = 0, checkpoint = { path = path }, resume = true }),
             "fit: " .. path .. " was written by a fit whose data drew from 0 generators of its own (a loader's or a "
             .. "sampler's seed), and this fit's from 1; resume with the same data")
  end)
end)

describe('fit, evaluate and predict on a DataLoader refuse', function()
  local ds = data.TensorDataset(X, y)
  local dl = loader(ds, { batch_size = 8 })
  it("fit's batch_size, shuffle, validation_split and sample_weight beside a loader, naming them", function()
    local m = net()
    contains(errmsg(m.fit, m, dl, { batch_size = 4 }),
             'fit: batch_size is not taken with a DataLoader, which makes the batches: give it to the loader, '
             .. 'data.DataLoader(ds, {batch_size = ...})')
    contains(errmsg(m.fit, m, dl, { shuffle = true }),
             'fit: shuffle is not taken with a DataLoader, which makes the batches: give it to the loader, '
             .. 'data.DataLoader(ds, {shuffle = true})')
    contains(errmsg(m.fit, m, dl, { shuffle = false }), 'fit: shuffle is not taken with a DataLoader')
    contains(errmsg(m.fit, m, dl, { validation_split = 0.2 }),
             'fit: validation_split is not taken with a DataLoader, which makes the batches: give validation_data')
    contains(errmsg(m.fit, m, dl, { sample_weight = nl.ones(44) }),
             'fit: sample_weight is not taken with a DataLoader, which makes the batches: give each batch the weights '
             .. 'as a third value, x, y, w (a TensorDataset(X, y, w))')
    contains(errmsg(m.fit, m, ds, { sample_weight = nl.ones(44) }),
             'fit: sample_weight is not taken with a dataset: give each sample the weight as a third value')
    contains(errmsg(m.evaluate, m, dl, { batch_size = 4 }),
             'evaluate: batch_size is not taken with a DataLoader, which makes the batches')
    contains(errmsg(m.predict, m, dl, { batch_size = 4 }),
             'predict: batch_size is not taken with a DataLoader, which makes the batches')
    contains(errmsg(m.fit, m, dl, { epochs = 1, verbose = 0, bogus = 1 }), "fit: unknown option 'bogus'")
  end)

  it('y beside a loader or a dataset, a sampler as data, and data of no rows or batches', function()
    local m = net()
    contains(errmsg(m.fit, m, dl, y), 'fit: y is given beside a DataLoader, whose batches hold the targets; call '
             .. 'fit(loader, {options})')
    contains(errmsg(m.evaluate, m, ds, y), 'evaluate: y is given beside a dataset, whose batches hold the targets')
    contains(errmsg(m.fit, m, dl, { epochs = 1 }, { verbose = 0 }),
             'fit: a DataLoader takes fit(loader, {options}); got a table beside the options')
    contains(errmsg(m.fit, m, data.RandomSampler(ds), { verbose = 0 }),
             'fit: got a sampler; give it to a DataLoader (data.DataLoader(ds, {sampler = s})) and that to fit')
    contains(errmsg(m.fit, m, 5, y), 'fit: expected X and y tensors, a DataLoader or a dataset, got 5')
    contains(errmsg(m.predict, m, 'x'), "predict: expected X as a tensor, a DataLoader or a dataset, got 'x'")
    contains(errmsg(m.fit, m, {}, { verbose = 0 }), 'fit: the dataset has no rows')
    contains(errmsg(m.fit, m, loader(ds, { batch_size = 64, drop_last = true }), { verbose = 0 }),
             'fit: the DataLoader has no batches')
    contains(errmsg(m.fit, m, dl, { verbose = 0, validation_data = loader(ds, { batch_size = 64, drop_last = true }) }),
             'fit: the validation_data DataLoader has no batches')
    contains(errmsg(m.evaluate, m, loader(ds, { batch_size = 64, drop_last = true })), 'evaluate: the data gave no batches')
    contains(errmsg(m.predict, m, loader(ds, { batch_size = 64, drop_last = true })), 'predict: the data gave no batches')
  end)

  it('batches that are not x, y (or x, y, w) tensors, and weights given twice', function()
    local m = net()
    contains(errmsg(m.fit, m, loader(data.TensorDataset(X), { batch_size = 8 }), { verbose = 0 }),
             'fit: batch 1 of the data is not (x, y) with y a tensor of targets with a batch dim (got a tensor '
             .. "(float32 [8,4]) and nil); a loader's batches must be x, y or x, y, sample_weight")
    local rows = {}
    for i = 1, 4 do rows[i] = { x = X[i], y = y[i] } end
    contains(errmsg(m.fit, m, loader(rows, { batch_size = 2 }), { verbose = 0 }), 'fit: batch 1 of the data is not (x, y)')
    contains(errmsg(m.evaluate, m, loader(data.TensorDataset(X), { batch_size = 8 })), 'evaluate: batch 1 of the data is not')
    contains(errmsg(m.fit, m, loader(data.TensorDataset(X, y, nl.ones(44)), { batch_size = 8 }),
                    { verbose = 0, class_weight = { 1, 2, 3 } }),
             "fit: give class_weight or sample weights (the batches' third value), not both (as Keras)")
    contains(errmsg(m.fit, m, loader(rows, { batch_size = 2, collate_fn = function(s) return X, y, 'w' end }),
                    { verbose = 0 }),
             "fit: the third value of batch 1, its sample weights, must be a tensor, got 'w'")
    local f = nn.Linear(4, 3)
    f:compile { optimizer = 'sgd', loss = function(p, t) return nn.functional.cross_entropy(p, t) end }
    contains(errmsg(f.fit, f, loader(data.TensorDataset(X, y, nl.ones(44)), { batch_size = 8 }), { verbose = 0 }),
             'fit: a third value of the batches (sample weights) needs a loss given by name or a built-in loss module')
    -- a sampler or loader of one's own as validation data is taken by its iter
    local sampler_val = data.SequentialSampler(ds)
    contains(errmsg(m.fit, m, dl, { verbose = 0, validation_data = sampler_val }),
             'fit (validation_data): got a sampler')
  end)
end)
