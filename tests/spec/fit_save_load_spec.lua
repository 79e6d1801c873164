-- model:save and nn.load keep the compile state, as Keras's model.save and
-- load_model: the loss, the metrics and the optimizer (class, settings and
-- state), so fit goes on where it stopped, in this process or a fresh one;
-- include_optimizer and compile options; a Lua function loss loads
-- uncompiled with the reason; files of models never compiled load as
-- before. And fit's validation_batch_size (batch_size by default, as
-- tf.keras 2's), which validation_steps counts.
local S = require 'support'
local nl = require 'nnlua'
local nn, F = nl.nn, nl.nn.functional

local dir = S.tmpdir()
local function file(name) return dir .. '/' .. name end

local bytes = S.bytes
local function same_weights(a, b)
  local sa, sb = a:state_dict(), b:state_dict()
  for k, v in pairs(sa) do assert.is_true(bytes(v) == bytes(sb[k]), k .. ' differs') end
end
-- one more epoch of a and b on X, y, each from nl.manual_seed(seed):
-- the same weights after
local function same_epoch(a, b, X, y, seed, batch_size)
  for _, m in ipairs({ a, b }) do
    nl.manual_seed(seed)
    m:fit(X, y, { epochs = 1, batch_size = batch_size, verbose = 0 })
  end
  same_weights(a, b)
end

-- a small regression problem in float64 and a model built from seed
local function problem()
  nl.manual_seed(11)
  local X = nl.randn({ 40, 3 }, 'float64')
  local y = X:matmul(nl.tensor({ { 1 }, { -2 }, { 0.5 } }, 'float64')) + 0.1
  return X, y
end
local function model(seed)
  nl.manual_seed(seed)
  return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)):double()
end

describe('save and nn.load keep the compile state', function()
  it('fit 1 epoch, save, load, fit 1 more: the run of 2 epochs bit for bit (Adam moments and steps kept)', function()
    local X, y = problem()
    local ref = model(5):compile { optimizer = 'adam', lr = 0.01, loss = 'mse', metrics = { 'mae' } }
    nl.manual_seed(99)
    local h2 = ref:fit(X, y, { epochs = 2, batch_size = 8, verbose = 0 })

    local m = model(5):compile { optimizer = 'adam', lr = 0.01, loss = 'mse', metrics = { 'mae' } }
    nl.manual_seed(99)
    local h1 = m:fit(X, y, { epochs = 1, batch_size = 8, verbose = 0 })
    m:save(file('adam.st'))
    local before = m.optimizer:state_dict()
    -- (nn.load leaves nl's generator as it was: the next epoch's order is
    -- the one the run of 2 epochs drew)
    local m2 = nn.load(file('adam.st'))
    -- the optimizer round trips: class, settings, steps and moments
    local o = m2.optimizer
    assert.are.equal('Adam', o.name)
    assert.are.equal(0.01, o.lr)
    local after = o:state_dict()
    assert.are.same(before.param_groups, after.param_groups)
    for i, st in pairs(before.state) do
      assert.are.equal(5, st.step)
      assert.are.equal(st.step, after.state[i].step)
      assert.is_true(bytes(st.exp_avg) == bytes(after.state[i].exp_avg))
      assert.is_true(bytes(st.exp_avg_sq) == bytes(after.state[i].exp_avg_sq))
    end
    local h = m2:fit(X, y, { epochs = 1, batch_size = 8, verbose = 0 })
    assert.are.equal(h2.loss[1], h1.loss[1])
    assert.are.equal(h2.loss[2], h.loss[1])
    assert.are.equal(h2.mae[2], h.mae[1])
    same_weights(ref, m2)
  end)

  it('goes on in a fresh process as the run that did not stop (shuffle = false: no generator to carry)', function()
    local path = file('fresh.st')
    local common = [[
      local nn = nl.nn
      nl.manual_seed(11)
      local X = nl.randn({ 40, 3 }, 'float64')
      local y = X:matmul(nl.tensor({ { 1 }, { -2 }, { 0.5 } }, 'float64')) + 0.1
    ]]
    local out = S.run_luajit(common .. ([[
      nl.manual_seed(5)
      local m = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)):double()
      m:compile { optimizer = 'rmsprop', lr = 0.005, momentum = 0.5, loss = 'huber' }
      m:fit(X, y, { epochs = 1, batch_size = 16, shuffle = false, verbose = 0 })
      m:save(%q)
      print('saved')
    ]]):format(path))
    assert.are.equal('saved\n', out)
    out = S.run_luajit(common .. ([[
      local m = nn.load(%q)
      local h = m:fit(X, y, { epochs = 1, batch_size = 16, shuffle = false, verbose = 0 })
      io.write(('%%.17g\n'):format(h.loss[1]))
      for _, v in ipairs(m:parameters()) do
        for _, x in ipairs(v:reshape(-1):totable()) do io.write(('%%.17g\n'):format(x)) end
      end
    ]]):format(path))
    local X, y = problem()
    local ref = model(5):compile { optimizer = 'rmsprop', lr = 0.005, momentum = 0.5, loss = 'huber' }
    local h = ref:fit(X, y, { epochs = 2, batch_size = 16, shuffle = false, verbose = 0 })
    local want = { ('%.17g'):format(h.loss[2]) }
    for _, v in ipairs(ref:parameters()) do
      for _, x in ipairs(v:reshape(-1):totable()) do want[#want + 1] = ('%.17g'):format(x) end
    end
    assert.are.equal(table.concat(want, '\n') .. '\n', out)
  end)

  it('keeps a loss module with its class weights, and the metrics', function()
    nl.manual_seed(3)
    local X = nl.randn(30, 4)
    local y = nl.randint(1, 4, { 30 })
    local w = nl.tensor({ 1, 2, 0.5 })
    local m = nn.Sequential(nn.Linear(4, 3))
    m:compile { optimizer = nl.optim.SGD(m:parameters(), { lr = 0.1, momentum = 0.9, nesterov = true }),
                loss = nn.CrossEntropyLoss { weight = w }, metrics = { 'acc' } }
    m:fit(X, y, { epochs = 1, batch_size = 10, verbose = 0 })
    m:save(file('ce.st'))
    local m2 = nn.load(file('ce.st'))
    local l1, mt1 = m:evaluate(X, y)
    local l2, mt2 = m2:evaluate(X, y)
    assert.are.equal(l1, l2)
    assert.are.equal(mt1.acc, mt2.acc)
    -- the loss is the weighted cross entropy, not a plain one
    assert(S.close(l2, F.cross_entropy(m2(X), y, { weight = w }):item(), 1e-6))
    assert.is_true(math.abs(l2 - F.cross_entropy(m2(X), y):item()) > 1e-4)
    assert.are.equal(true, m2.optimizer.param_groups[1].nesterov)
    assert.are.equal(0.9, m2.optimizer.param_groups[1].momentum)
    -- another epoch on each, the same
    same_epoch(m, m2, X, y, 4, 10)
  end)

  it('include_optimizer = false keeps the class and settings, not the state; compile = false loads uncompiled', function()
    local X, y = problem()
    local m = model(2):compile { optimizer = 'adamw', lr = 0.003, loss = 'mae' }
    m:fit(X, y, { epochs = 1, batch_size = 8, verbose = 0 })
    m:save(file('noopt.st'), { include_optimizer = false })
    local m2 = nn.load(file('noopt.st'))
    assert.are.equal('AdamW', m2.optimizer.name)
    assert.are.equal(0.003, m2.optimizer.lr)
    assert.is_nil(next(m2.optimizer.state))
    -- the file is smaller than the one with the state by the moments
    m:save(file('opt.st'))
    local t1 = nl.load_safetensors(file('noopt.st'))
    local t2 = nl.load_safetensors(file('opt.st'))
    local n1, n2 = 0, 0
    for _ in pairs(t1) do n1 = n1 + 1 end
    for _ in pairs(t2) do n2 = n2 + 1 end
    assert.are.equal(n1 + 2 * 4, n2)
    local m3 = nn.load(file('opt.st'), { compile = false })
    assert.is_nil(rawget(m3, 'optimizer'))
    S.contains(S.errmsg(m3.fit, m3, X, y, { verbose = 0 }), 'call model:compile')
    -- a model passed in keeps its own compile state unless compile = true
    local m4 = nn.load(file('opt.st'), model(2))
    assert.is_nil(rawget(m4, 'optimizer'))
    local m5 = nn.load(file('opt.st'), model(2), { compile = true })
    assert.are.equal('AdamW', m5.optimizer.name)
    assert.are.equal(1, next(m5.optimizer.state) and 1)
    S.contains(S.errmsg(nn.load, file('opt.st'), { compile = 1 }), 'compile as a boolean')
    S.contains(S.errmsg(m.save, m, file('x.st'), { include_optimizer = 'yes' }), 'include_optimizer as a boolean')
  end)

  it('a model compiled with a Lua function loss loads uncompiled, saying why, with its optimizer state', function()
    local X, y = problem()
    local function loss(p, t) return ((p - t) ^ 2):mean() end
    local m = model(6):compile { optimizer = 'adam', loss = loss }
    m:fit(X, y, { epochs = 1, batch_size = 8, verbose = 0 })
    m:save(file('fn.st'))
    local m2, extras = nn.load(file('fn.st'))
    assert.is_nil(rawget(m2, '_compiled'))
    S.contains(extras.uncompiled, 'Lua function')
    -- the user compiles again with the function, and the run goes on
    m2:compile { optimizer = 'adam', loss = loss }
    m2.optimizer:load_state_dict(extras.optimizer)
    same_epoch(m, m2, X, y, 8, 8)
  end)

  it('a model never compiled saves no compile record and loads as before', function()
    local m = model(1)
    m:save(file('plain.st'))
    local _, meta = nl.load_safetensors(file('plain.st'))
    assert.is_nil(meta.compile)
    local m2, extras = nn.load(file('plain.st'))
    same_weights(m, m2)
    assert.is_nil(rawget(m2, '_compiled'))
    assert.is_nil(extras.uncompiled)
    S.contains(S.errmsg(m2.fit, m2, nl.zeros(2, 3, 'float64'), nl.zeros(2, 1, 'float64'), { verbose = 0 }),
               'call model:compile')
  end)
  it('a crafted compile record raises naming nn.load and the file, and leaves a model passed in as it was', function()
    local json = require 'nnlua.json'
    local X, y = problem()
    local m = model(3)
    m:compile { optimizer = nl.optim.SGD(m:parameters(), { lr = 0.1, momentum = 0.9 }), loss = 'mse' }
    m:fit(X, y, { epochs = 1, batch_size = 8, verbose = 0 })
    m:save(file('good.st'))
    local tensors, meta = nl.load_safetensors(file('good.st'))
    local path = file('crafted.st')
    -- the file with its record changed by edit
    local function crafted(edit)
      local rec = json.decode(meta.compile)
      edit(rec)
      local meta2 = {}
      for k, v in pairs(meta) do meta2[k] = v end
      meta2.compile = json.encode(rec)
      nl.save_safetensors(path, tensors, meta2)
      return path
    end
    local cases = {
      -- functions of nl.optim that are no optimizer's class
      { function(r) r.optimizer.class = 'clip_grad_norm' end, 'optimizer class clip_grad_norm' },
      { function(r) r.optimizer.class = 'ReduceLROnPlateau' end, 'optimizer class ReduceLROnPlateau' },
      -- settings and names the optimizer or compile refuse
      { function(r) r.optimizer.class = 'Adam' end, "Adam: unknown options" },
      { function(r) r.optimizer.defaults.lr = 'x' end, 'SGD: lr must be a number' },
      { function(r) r.optimizer.param_groups[1].lr = 'x' end, 'SGD: lr must be a number' },
      { function(r) r.optimizer.params[1][2] = r.optimizer.params[1][1] end, 'appears more than once' },
      { function(r) r.optimizer.state = 5 end, 'expected a table with state' },
      { function(r) r.loss = 'nonesuch' end, "unknown loss 'nonesuch'" },
      { function(r) r.metrics = { 'nonesuch' } end, "unknown metric 'nonesuch'" },
      { function(r) r.metrics = 'mae' end, '(metrics)' },
      { function(r) r.uncompiled = {} end, '(uncompiled)' },
    }
    for _, case in ipairs(cases) do
      local p = crafted(case[1])
      local msg = S.errmsg(nn.load, p)
      S.contains(msg, 'load: ' .. p .. ': malformed compile record')
      S.contains(msg, case[2])
      -- into a model: its weights and compile state untouched
      local into = model(8):compile { optimizer = 'adam', loss = 'mae' }
      local w, o = into[1].weight:clone(), into.optimizer
      S.errmsg(nn.load, p, into, { compile = true })
      assert.is_true(bytes(w) == bytes(into[1].weight), 'weights changed by a failed load')
      assert.are.equal(o, into.optimizer)
    end
    -- a model whose weights do not fit the file keeps its compile state
    local other = nn.Sequential(nn.Linear(3, 2)):double():compile { optimizer = 'adam', loss = 'mae' }
    local o, c = other.optimizer, rawget(other, '_compiled')
    S.errmsg(nn.load, file('good.st'), other, { compile = true })
    assert.are.equal(o, other.optimizer)
    assert.are.equal(c, rawget(other, '_compiled'))
  end)
end)

describe("fit's validation_batch_size", function()
  -- a line y = 2x with zero lr: validation outputs 2 x_i against y_i
  local X = nl.tensor({ { 1 }, { 2 }, { 3 }, { 4 }, { 5 }, { 6 }, { 7 }, { 8 }, { 9 }, { 10 } }, 'float64')
  local y = nl.zeros({ 10, 1 }, 'float64')
  local function line()
    local m = nn.Linear(1, 1, { bias = false }):double()
    nl.no_grad(function() m.weight:fill_(2) end)
    return m:compile { optimizer = 'sgd', lr = 0, loss = 'mse' }
  end
  -- the mse of the first k rows, by hand: mean of (2 i)^2
  local function first(k)
    local s = 0
    for i = 1, k do s = s + (2 * i) ^ 2 end
    return s / k
  end

  it('defaults to batch_size, as tf.keras 2: validation_steps counts batches of that many rows', function()
    local h = line():fit(X, y, { epochs = 1, batch_size = 2, verbose = 0, validation_data = { X, y },
                                 validation_steps = 1 })
    assert(S.close(h.val_loss[1], first(2), 1e-14))
    h = line():fit(X, y, { epochs = 1, batch_size = 2, verbose = 0, validation_data = { X, y },
                           validation_steps = 2, validation_batch_size = 3 })
    assert(S.close(h.val_loss[1], first(6), 1e-14))
    -- validation_split's rows too (the last 4: x = 7..10, batches of 3)
    h = line():fit(X, y, { epochs = 1, batch_size = 3, verbose = 0, validation_split = 0.4, validation_steps = 1 })
    assert(S.close(h.val_loss[1], (14 ^ 2 + 16 ^ 2 + 18 ^ 2) / 3, 1e-14))
    -- all of it without validation_steps, whatever the batches
    h = line():fit(X, y, { epochs = 1, batch_size = 2, verbose = 0, validation_data = { X, y },
                           validation_batch_size = 4 })
    assert(S.close(h.val_loss[1], first(10), 1e-14))
  end)

  it('is checked, and refused with a validation DataLoader', function()
    local m = line()
    S.contains(S.errmsg(m.fit, m, X, y, { verbose = 0, validation_data = { X, y }, validation_batch_size = 0 }),
               'fit: validation_batch_size must be a positive integer')
    local L = nl.data.DataLoader(nl.data.TensorDataset(X, y), { batch_size = 2 })
    S.contains(S.errmsg(m.fit, m, X, y, { verbose = 0, validation_data = L, validation_batch_size = 4 }),
               'validation_batch_size is not taken with a validation_data DataLoader')
  end)
end)
