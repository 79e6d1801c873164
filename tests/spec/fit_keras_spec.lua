-- fit's callbacks (nl.callbacks), class_weight, sample_weight and
-- initial_epoch. The callbacks are checked by the exact order and count of
-- their calls, against the history fit returns, and against closed forms
-- of SGD on loss = w^2 (w <- w (1 - 2 lr) each step: the lrs, losses,
-- checkpointed weights and CSV lines are exact numbers); a run killed and
-- resumed against the uninterrupted one, bit for bit. The weighted losses
-- against the same sums worked in plain Lua. Bad options are errors naming
-- fit or the callback, raised before training.
local nl = require 'nnlua'
local S = require 'support'
local nn, optim, cbs = nl.nn, nl.optim, nl.callbacks

local errmsg, contains = S.errmsg, S.contains
local dir = S.tmpdir()

-- w trained on w^2 (S.square_model), n rows of (1, 0)
local square_model, ones_zeros = S.square_model, S.ones_zeros
local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end
local function close(want, got, rel, what)
  assert(math.abs(want - got) <= rel * math.abs(want), ('%s: want %.17g, got %.17g'):format(what, want, got))
end

describe('fit callbacks', function()
  -- 5 rows at batch_size 2: batches of 2, 2 and 1 an epoch
  local X = nl.tensor({ { 1, 2 }, { -1, 0.5 }, { 0.3, -2 }, { 2, 1 }, { -0.5, -1 } }, 'float64')
  local y = nl.tensor({ { 1 }, { 0 }, { -1 }, { 2 }, { 0.5 } }, 'float64')
  local function model()
    local m = nn.Linear(2, 1):double()
    nl.no_grad(function()
      m.weight:copy_(nl.tensor({ { 0.3, -0.2 } }, 'float64'))
      m.bias:fill_(0.1)
    end)
    m:compile { optimizer = 'sgd', lr = 0.05, loss = 'mse', metrics = { 'mae' } }
    return m
  end

  it('calls each hook in order, once per train, epoch and batch, with the logs the history records', function()
    local m = model()
    local calls, epoch_logs, batch_logs, step_loss = {}, {}, {}, {}
    local rec = {
      on_train_begin = function(self, logs) calls[#calls + 1] = 'train_begin' assert.are.same({}, logs) end,
      on_epoch_begin = function(self, e, logs) calls[#calls + 1] = 'epoch_begin ' .. e end,
      on_train_batch_begin = function(self, b) calls[#calls + 1] = 'batch_begin ' .. b end,
      on_train_batch_end = function(self, b, logs)
        calls[#calls + 1] = 'batch_end ' .. b
        batch_logs[#batch_logs + 1] = logs
      end,
      on_epoch_end = function(self, e, logs)
        calls[#calls + 1] = 'epoch_end ' .. e
        epoch_logs[e] = logs
      end,
      on_train_end = function(self, logs) calls[#calls + 1] = 'train_end' self.last = logs end,
    }
    local h = m:fit(X, y, { epochs = 2, batch_size = 2, shuffle = false, verbose = 0, validation_data = { X, y },
                            callbacks = { rec }, on_step = function(e, s, l)
                              calls[#calls + 1] = 'step ' .. s
                              step_loss[#step_loss + 1] = l
                            end })
    local want = { 'train_begin' }
    for e = 1, 2 do
      want[#want + 1] = 'epoch_begin ' .. e
      for b = 1, 3 do
        for _, w in ipairs({ 'batch_begin ', 'step ', 'batch_end ' }) do want[#want + 1] = w .. b end
      end
      want[#want + 1] = 'epoch_end ' .. e
    end
    want[#want + 1] = 'train_end'
    assert.are.same(want, calls)
    -- the epoch's logs are the history's values; the last batch's, the
    -- epoch's loss and metrics; the first batch's loss, its own (2 rows)
    for e = 1, 2 do
      assert.are.same({ loss = h.loss[e], mae = h.mae[e], val_loss = h.val_loss[e], val_mae = h.val_mae[e] },
                      epoch_logs[e])
      assert.are.same({ loss = h.loss[e], mae = h.mae[e] }, batch_logs[3 * e])
      assert.are.equal(step_loss[3 * e - 2], batch_logs[3 * e - 2].loss)
    end
    assert.are.equal(epoch_logs[2], rec.last)
  end)

  it('a Callback subclass gets the model and params; on_batch_end stands for on_train_batch_end', function()
    local m = model()
    local Counter = cbs.Callback:extend('Counter')
    function Counter:init(tag) self.tag, self.batches, self.epochs = tag, 0, 0 end
    function Counter:on_batch_end() self.batches = self.batches + 1 end
    function Counter:on_epoch_end() self.epochs = self.epochs + 1 end
    local c = Counter('x')
    assert.are.equal('Counter', c.__name)
    local plain = { n = 0, on_batch_begin = function(self) self.n = self.n + 1 end }
    m:fit(X, y, { epochs = 3, batch_size = 2, verbose = 0, callbacks = { c, plain } })
    assert.are.equal(9, c.batches)
    assert.are.equal(3, c.epochs)
    assert.are.equal(9, plain.n)
    assert.are.equal(m, c.model)
    assert.are.same({ epochs = 3, steps = 3, verbose = 0, initial_epoch = 0, metrics = { 'loss', 'mae' } }, c.params)
    assert.are.equal('x', c.tag)
  end)

  it('model.stop_training set in a batch ends fit after that batch; the next fit trains again', function()
    local m = model()
    local epoch, steps = 0, 0
    local stopper = {
      on_epoch_begin = function(_, e) epoch = e end,
      on_train_batch_end = function(self, b) if epoch == 2 and b == 2 then self.model.stop_training = true end end,
      set_model = function(self, mm) self.model = mm end,
    }
    local ends = 0
    local h = m:fit(X, y, { epochs = 5, batch_size = 2, shuffle = false, verbose = 0,
                            callbacks = { stopper, cbs.LambdaCallback { on_train_end = function() ends = ends + 1 end } },
                            on_step = function() steps = steps + 1 end })
    assert.are.equal(5, steps)
    assert.are.equal(2, #h.loss)
    assert.are.equal(1, ends)
    steps = 0
    h = m:fit(X, y, { epochs = 2, batch_size = 2, verbose = 0, on_step = function() steps = steps + 1 end })
    assert.are.equal(6, steps)
    assert.are.equal(2, #h.loss)
  end)

  it('TerminateOnNaN stops after the first batch whose loss is NaN', function()
    local m = model()
    local Xn = X:clone()
    Xn[3][1] = 0 / 0
    local steps = 0
    local h = m:fit(Xn, y, { epochs = 3, batch_size = 2, shuffle = false, verbose = 0, callbacks = { cbs.TerminateOnNaN() },
                             on_step = function() steps = steps + 1 end })
    assert.are.equal(2, steps)
    assert.are.equal(1, #h.loss)
    assert.is_true(h.loss[1] ~= h.loss[1])
  end)

  it('LambdaCallback calls its functions without self; History holds the table fit returns', function()
    local m = model()
    local seen, hist = {}, cbs.History()
    local lc = cbs.LambdaCallback {
      on_epoch_end = function(e, logs) seen[#seen + 1] = { e, logs.loss } end,
      on_batch_end = function(b, logs) seen[#seen + 1] = { 'b', b } end,
    }
    local h = m:fit(X, y, { epochs = 4, initial_epoch = 2, batch_size = 5, verbose = 0, callbacks = { lc, hist } })
    assert.are.same({ { 'b', 1 }, { 3, h.loss[1] }, { 'b', 1 }, { 4, h.loss[2] } }, seen)
    assert.are.equal(h, hist.history)
    assert.are.equal(h.epoch, hist.epoch)
    assert.are.same({ 3, 4 }, h.epoch)
  end)
end)

describe('fit with initial_epoch and the lr callbacks', function()
  -- epochs 3 to 5 run: the losses w^2 from w0 as from the first epoch
  -- (only the numbering changes), the schedule called with epochs 3, 4, 5
  it('initial_epoch = k runs epochs k + 1 to epochs; LearningRateScheduler sets each epoch\'s lr', function()
    local m = square_model(1, 0.1)
    local X, y = ones_zeros(1)
    local asked = {}
    local sched = cbs.LearningRateScheduler(function(e, lr)
      asked[#asked + 1] = { e, lr }
      return 0.5 / (e + 1)
    end)
    local h = m:fit(X, y, { epochs = 5, initial_epoch = 2, batch_size = 1, verbose = 0, callbacks = { sched } })
    assert.are.same({ 3, 4, 5 }, h.epoch)
    assert.are.same({ { 3, 0.1 }, { 4, 0.5 / 4 }, { 5, 0.5 / 5 } }, asked)
    local w = 1
    for i, e in ipairs(h.epoch) do
      local lr = 0.5 / (e + 1)
      assert.are.equal(lr, h.lr[i])
      close(w * w, h.loss[i], 1e-15, 'loss of epoch ' .. e)
      w = w * (1 - 2 * lr)
    end
    close(w, m.weight:item(), 1e-15, 'final w')
    -- initial_epoch >= epochs: nothing runs
    local before = m.weight:item()
    h = m:fit(X, y, { epochs = 3, initial_epoch = 3, verbose = 0 })
    assert.are.same({}, h.loss)
    assert.are.equal(before, m.weight:item())
  end)

  -- lr 1.5: w <- -2 w. Keras's ReduceLROnPlateau (monitor loss,
  -- patience 0, factor 0.5, min_delta 0), the losses w^2 before each
  -- epoch's step: epoch 1's 1 improves on inf; epoch 2's 4 does not (0.75
  -- from epoch 3), nor epoch 3's 16 (w <- -0.5 w: 0.375 from epoch 4), nor
  -- epoch 4's 4 (w <- 0.25 w: 0.1875 from epoch 5); epoch 5's 0.25 does
  it("ReduceLROnPlateau (Keras's) halves the lr as worked by hand", function()
    local m = square_model(1, 1.5)
    local X, y = ones_zeros(1)
    local h = m:fit(X, y, { epochs = 5, batch_size = 1, verbose = 0,
                            callbacks = { cbs.ReduceLROnPlateau { monitor = 'loss', patience = 0, factor = 0.5,
                                                                  min_delta = 0 } } })
    assert.are.same({ 1.5, 1.5, 0.75, 0.375, 0.1875 }, h.lr)
    assert.are.same({ 1, 4, 16, 4, 0.25 }, h.loss)
    local w = 1
    for e = 1, 5 do
      assert.are.equal(w * w, h.loss[e])
      w = w * (1 - 2 * h.lr[e])
    end
  end)

  -- its own sequence, called directly: factor 0.5, patience 2, cooldown
  -- 1, min_delta 0.1, min_lr 0.02, from lr 0.1
  it('ReduceLROnPlateau waits patience epochs, cools down, and stops at min_lr', function()
    local opt = optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 0.1 })
    local fake = { _compiled = { optimizer = opt } }
    local r = cbs.ReduceLROnPlateau { factor = 0.5, patience = 2, cooldown = 1, min_delta = 0.1, min_lr = 0.02 }
    r:set_model(fake)
    r:set_params({ metrics = { 'loss', 'val_loss' } })
    local vals = { 1.0, 0.95, 0.99, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5 }
    -- 0.95 and 0.99 are not 0.1 below 1.0: reduced at the third epoch;
    -- 0.5 improves during the cooldown; then two waits, a reduction, a
    -- cooldown epoch that does not count, ...; 0.0125 is below min_lr
    local want = { 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02 }
    for e, v in ipairs(vals) do
      r:on_epoch_end(e, { val_loss = v })
      assert.are.equal(want[e], opt.lr, 'epoch ' .. e)
    end
  end)

  it('EarlyStopping as a callback stops and restores as the early_stopping option does', function()
    nl.manual_seed(5)
    local X, y = nl.randn(24, 3, 'float64'), nl.randn(24, 1, 'float64')
    local function run(as_callback)
      nl.manual_seed(9)
      local m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)):double()
      m:compile { optimizer = 'sgd', lr = 0.05, loss = 'mse' }
      local es = { monitor = 'loss', mode = 'max', patience = 2, restore_best_weights = true }
      local h = m:fit(X, y, { epochs = 10, batch_size = 8, verbose = 0, early_stopping = not as_callback and es or nil,
                              callbacks = as_callback and { cbs.EarlyStopping(es) } or nil })
      return h, m
    end
    local ha, ma = run(false)
    local hb, mb = run(true)
    -- the loss falls: epoch 1 stays the best, and fit stops at epoch 3
    assert.are.equal(3, #ha.loss)
    assert.are.same(ha, hb)
    for k, t in pairs(ma:state_dict()) do assert.are.same(t:totable(), mb:state_dict()[k]:totable(), k) end
  end)
end)

describe('ModelCheckpoint', function()
  -- lr 1.5: the weight after epoch e is (-2)^e, epoch e's loss 4^(e - 1)
  it('saves at each epoch end under the formatted name, loadable with the weights and the optimizer', function()
    local m = square_model(1, 1.5)
    local X, y = ones_zeros(1)
    local d = dir .. '/mc'
    os.execute('mkdir -p ' .. S.q(d))
    m:fit(X, y, { epochs = 3, batch_size = 1, verbose = 0, callbacks = {
      cbs.ModelCheckpoint(d .. '/all_{epoch:02d}_{loss:.3f}{{x}}.st'),
      cbs.ModelCheckpoint(d .. '/best_min.st', { monitor = 'loss', save_best_only = true }),
      cbs.ModelCheckpoint { filepath = d .. '/best_max_{epoch}.st', monitor = 'loss', mode = 'max',
                            save_best_only = true, save_weights_only = true },
      cbs.ModelCheckpoint(d .. '/never.st', { monitor = 'loss', save_best_only = true, initial_value_threshold = 0.5 }),
    } })
    for e = 1, 3 do
      local path = ('%s/all_%02d_%.3f{x}.st'):format(d, e, 4 ^ (e - 1))
      local lm, extras = nn.load(path)
      assert.are.equal((-2) ^ e, lm.weight:item())
      assert.are.equal('SGD', extras.optimizer.optimizer)
    end
    -- the loss only grew: the best of 'min' is epoch 1's
    assert.are.equal(-2, nn.load(d .. '/best_min.st').weight:item())
    -- weights only: no structure; loaded into a model
    for e = 1, 3 do
      local path = ('%s/best_max_%d.st'):format(d, e)
      contains(errmsg(nn.load, path), 'holds no nnlua model structure')
      local into = nn.Linear(1, 1, { bias = false }):double()
      nn.load(path, into)
      assert.are.equal((-2) ^ e, into.weight:item())
      local names = {}
      for k in pairs(nl.load_safetensors(path)) do names[#names + 1] = k end
      assert.are.same({ 'weight' }, names)
    end
    assert.is_false(exists(d .. '/never.st'))
  end)

  -- Keras's logs hold floats, formatted by Python's str.format: a loss of
  -- 4 under {loss:.3} is '4.0' (it was '004'), {loss} '4.0' (was '4'), and
  -- ties round to even, as C's printf ({loss:.2f} of 0.625 was '0.63')
  it("names its files as Python's str.format does the floats of Keras's logs", function()
    local m = square_model(1, 0)
    local X, y = ones_zeros(1)
    local d = dir .. '/mc_names'
    os.execute('mkdir -p ' .. S.q(d))
    local losses = { 4.0, 0.625, 2.5, 100.0, 0.1 + 0.2, 1.25e-05 }
    local set = { on_epoch_end = function(_, e, logs) logs.loss = losses[e] end }
    m:fit(X, y, { epochs = #losses, batch_size = 1, verbose = 0, callbacks = { set,
      cbs.ModelCheckpoint(d .. '/{epoch}_{loss:.3}_{loss}_{loss:.2f}_{loss:06}_{loss:.0e}.st',
                          { save_weights_only = true }) } })
    -- '{epoch}_{loss:.3}_{loss}_{loss:.2f}_{loss:06}_{loss:.0e}.st'.format(epoch=e, loss=v) in Python 3
    for _, name in ipairs({ '1_4.0_4.0_4.00_0004.0_4e+00.st', '2_0.625_0.625_0.62_00.625_6e-01.st',
                            '3_2.5_2.5_2.50_0002.5_2e+00.st', '4_1e+02_100.0_100.00_0100.0_1e+02.st',
                            '5_0.3_0.30000000000000004_0.30_0.30000000000000004_3e-01.st',
                            '6_1.25e-05_1.25e-05_0.00_1.25e-05_1e-05.st' }) do
      assert(exists(d .. '/' .. name), 'no file ' .. name)
    end
  end)

  -- Keras's best is the callback's, not one fit's: fit called again (as
  -- in a loop of fit{epochs = 1}) wrote its first epoch over the best file
  -- however worse, the best model lost
  it('keeps its best from one fit to the next', function()
    local m = square_model(1, 1.5)
    local X, y = ones_zeros(1)
    local path = dir .. '/mc_best_across.st'
    local cb = cbs.ModelCheckpoint(path, { monitor = 'loss', save_best_only = true })
    m:fit(X, y, { epochs = 1, batch_size = 1, verbose = 0, callbacks = { cb } })      -- loss 1, weight -2
    assert.are.equal(-2, nn.load(path).weight:item())
    m:fit(X, y, { epochs = 2, batch_size = 1, verbose = 0, callbacks = { cb } })      -- losses 4 and 16
    assert.are.equal(-2, nn.load(path).weight:item())
    assert.are.equal(1, cb.best)
    -- mode max, from its threshold 2: the first fit's loss 1 is below it, the
    -- second fit's 4 and 16 above
    local m2 = square_model(1, 1.5)
    local max = cbs.ModelCheckpoint(dir .. '/mc_max_{epoch}.st', { monitor = 'loss', mode = 'max', save_best_only = true,
                                                                    initial_value_threshold = 2 })
    m2:fit(X, y, { epochs = 1, batch_size = 1, verbose = 0, callbacks = { max } })
    assert.is_false(exists(dir .. '/mc_max_1.st'))
    m2:fit(X, y, { epochs = 2, batch_size = 1, verbose = 0, callbacks = { max } })
    assert.are.equal(4, nn.load(dir .. '/mc_max_1.st').weight:item())
    assert.are.equal(-8, nn.load(dir .. '/mc_max_2.st').weight:item())
    assert.are.equal(16, max.best)
  end)

  it('refuses bad options when built, and fields fit does not record before training', function()
    local bad = {
      { function() return cbs.ModelCheckpoint() end, 'ModelCheckpoint: expected a filepath string, got nil' },
      { function() return cbs.ModelCheckpoint('a_{epoch:q}.st') end, "the filepath's field {epoch:q} must be a name" },
      { function() return cbs.ModelCheckpoint('a_{epoch.st') end, 'has a brace without its pair' },
      { function() return cbs.ModelCheckpoint('a.st', { mode = 'up' }) end,
        "ModelCheckpoint: expected mode as 'min', 'max' or 'auto', got 'up'" },
      { function() return cbs.ModelCheckpoint('a.st', { save_best_only = 1 }) end,
        'ModelCheckpoint: save_best_only must be a boolean' },
      { function() return cbs.ModelCheckpoint('a.st', { moniter = 'loss' }) end, "ModelCheckpoint: unknown option 'moniter'" },
      { function() return cbs.ModelCheckpoint('a.st', { filepath = 'b.st' }) end, 'give filepath once' },
      -- Python 3: format(0.5, 'd'), format(0.5, 's'), format(3, 'i'), format(3, '.2') raise ValueError
      { function() return cbs.ModelCheckpoint('a_{loss:d}.st') end,
        "ModelCheckpoint: the filepath's field {loss:d} has format code 'd', which Python's format refuses for {loss}, a float" },
      { function() return cbs.ModelCheckpoint('a_{val_loss:-8s}.st') end, "field {val_loss:-8s} has format code 's'" },
      { function() return cbs.ModelCheckpoint('a_{loss:5s}.st') end, "field {loss:5s} has format code 's'" },
      { function() return cbs.ModelCheckpoint('a_{epoch:03i}.st') end,
        "field {epoch:03i} has format code 'i', which Python's format refuses for {epoch}, an int" },
      { function() return cbs.ModelCheckpoint('a_{loss:i}.st') end, "field {loss:i} has format code 'i'" },
      { function() return cbs.ModelCheckpoint('a_{epoch:.2}.st') end, "field {epoch:.2} has a precision" },
      { function() return cbs.ModelCheckpoint('a_{epoch:.2d}.st') end, "field {epoch:.2d} has a precision" },
    }
    for _, c in ipairs(bad) do contains(errmsg(c[1]), c[2]) end
    -- what Python formats stays: format(3, '02d'), format(3, '.2f'), format(0.5, '.3e')
    for _, fp in ipairs({ 'a_{epoch:02d}.st', 'a_{epoch:.2f}.st', 'a_{loss:.3e}_{loss:08.3f}.st' }) do
      assert.are.equal(fp, cbs.ModelCheckpoint(fp).filepath)
    end
    local m = square_model(1, 0.1)
    local X, y = ones_zeros(2)
    local csv = dir .. '/never.csv'
    contains(errmsg(m.fit, m, X, y, { verbose = 0, callbacks = { cbs.CSVLogger(csv),
      cbs.ModelCheckpoint(dir .. '/x_{val_loss:.2f}.st') } }),
      "ModelCheckpoint: the filepath's field {val_loss} names no value this fit records (epoch, loss)")
    contains(errmsg(m.fit, m, X, y, { verbose = 0, callbacks = { cbs.ModelCheckpoint(dir .. '/x.st', { save_best_only = true }) } }),
      "ModelCheckpoint: monitor must name a value this fit records (loss), got 'val_loss' (validation values need")
    assert.are.equal(1, m.weight:item())
    assert.is_false(exists(csv))
  end)
end)

describe('CSVLogger', function()
  -- lr 0.25: w halves each epoch; the loss of epoch e is w_{e-1}^2, its
  -- val_loss (on the same rows, after the epoch) w_e^2: exact decimals
  it('writes a header and one exact line an epoch; append adds lines, a new run overwrites', function()
    local m = square_model(1, 0.25)
    local X, y = ones_zeros(1)
    local path = dir .. '/log.csv'
    m:fit(X, y, { epochs = 3, batch_size = 1, verbose = 0, validation_data = { X, y },
                  callbacks = { cbs.CSVLogger(path, { separator = ';' }) } })
    local want = 'epoch;loss;val_loss\n1;1;0.25\n2;0.25;0.0625\n3;0.0625;0.015625\n'
    assert.are.equal(want, S.read(path))
    m:fit(X, y, { epochs = 1, batch_size = 1, verbose = 0, validation_data = { X, y },
                  callbacks = { cbs.CSVLogger { filename = path, separator = ';', append = true } } })
    assert.are.equal(want .. '1;0.015625;0.00390625\n', S.read(path))
    m:fit(X, y, { epochs = 1, batch_size = 1, verbose = 0, callbacks = { cbs.CSVLogger(path) } })
    assert.are.equal('epoch,loss\n1,0.00390625\n', S.read(path))
    local new = dir .. '/new.csv'
    m:fit(X, y, { epochs = 1, batch_size = 1, verbose = 0, callbacks = { cbs.CSVLogger(new, { append = true }) } })
    assert.are.equal('epoch,loss\n1,0.0009765625\n', S.read(new))
  end)

  -- resuming cut the log back by opening it with 'wb' and writing: a
  -- failed write (here a file size limit of 1 KiB, as a full disk) left
  -- it cut short without a word; it is now written whole or not at all
  it('resuming rewrites the log whole or not at all', function()
    local path, tmp = dir .. '/big.csv', os.tmpname()
    local text = ('1,0.5\n'):rep(500)               -- 3000 bytes
    S.write(path, text)
    S.write(tmp, S.path_prelude .. ([[
local cb = require('nnlua').callbacks.CSVLogger(%q)
cb:set_params({})
cb:load_state_dict({ bytes = 2500, keys = { 'loss' }, header = false })
print(pcall(cb.on_train_begin, cb))
]]):format(path))
    local p = io.popen("bash -c \"trap '' XFSZ; ulimit -f 1; luajit " .. S.q(tmp) .. "\" 2>&1")
    local out = p:read('*a')
    p:close()
    os.remove(tmp)
    contains(out, 'false')
    contains(out, 'CSVLogger: cannot write ' .. path)
    assert.are.equal(text, S.read(path))
    -- with no limit it cuts the lines after the checkpoint's bytes
    local cb = cbs.CSVLogger(path)
    cb:set_params({})
    cb:load_state_dict({ bytes = 2500, keys = { 'loss' }, header = false })
    cb:on_train_begin()
    assert.are.equal(text:sub(1, 2500), S.read(path))
  end)

  -- an epoch's line is buffered and its write fails at the flush (here a
  -- file size limit of 1 KiB, as a full disk): the line was lost, fit went
  -- on without a word, and the state's bytes became nil; then the part of
  -- the line that fitted stayed, a torn last line
  it("says so when an epoch's line cannot be written, and leaves no part of it", function()
    local path, tmp = dir .. '/full.csv', os.tmpname()
    S.write(path, ('1,0.5\n'):rep(170))              -- 1020 bytes
    S.write(tmp, S.path_prelude .. ([[
local nl = require('nnlua')
local m = nl.nn.Linear(1, 1)
m:compile { optimizer = 'sgd', loss = 'mse' }
local cb = nl.callbacks.CSVLogger(%q, { append = true })
print(pcall(m.fit, m, nl.ones(2, 1), nl.zeros(2, 1), { epochs = 2, verbose = 0, callbacks = { cb } }))
print('bytes', cb:state_dict().bytes)
]]):format(path))
    local p = io.popen("bash -c \"trap '' XFSZ; ulimit -f 1; luajit " .. S.q(tmp) .. "\" 2>&1")
    local out = p:read('*a')
    p:close()
    os.remove(tmp)
    contains(out, 'false')
    contains(out, 'CSVLogger: cannot write ' .. path .. ': ')
    contains(out, 'File too large')
    contains(out, 'bytes\t1020')
    assert.are.equal(('1,0.5\n'):rep(170), S.read(path))
  end)

  it('refuses bad options', function()
    contains(errmsg(cbs.CSVLogger, 3), 'CSVLogger: expected a filename string')
    contains(errmsg(cbs.CSVLogger, 'a.csv', { separator = '' }), 'CSVLogger: expected separator as a string')
    contains(errmsg(cbs.CSVLogger, 'a.csv', { append = 'yes' }), 'CSVLogger: append must be a boolean')
    local m = square_model(1, 0.1)
    local X, y = ones_zeros(1)
    contains(errmsg(m.fit, m, X, y, { verbose = 0, callbacks = { cbs.CSVLogger(dir .. '/no/such/dir/a.csv') } }),
             'CSVLogger: cannot open ' .. dir .. '/no/such/dir/a.csv')
  end)
end)

describe('callbacks resumed from a checkpoint', function()
  nl.manual_seed(21)
  local X, y = nl.randn(48, 3), nl.randn(48, 1)
  local Xv, yv = nl.randn(16, 3), nl.randn(16, 1)
  local stop = {}

  -- dropout, BatchNorm and SGD with momentum; a CSV log, the best
  -- val_loss's checkpoint, Keras's ReduceLROnPlateau and EarlyStopping
  -- on a rising val_loss (mode max): their state must come back
  local function run(tag, path, kill)
    nl.manual_seed(1)
    local m = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1))
    m:compile { optimizer = optim.SGD(m:parameters(), { lr = 0.05, momentum = 0.9 }), loss = 'mse' }
    local killer = cbs.LambdaCallback { on_epoch_end = function(e)
      if kill and kill.epoch_end == e then error(stop) end
    end }
    local list = { cbs.CSVLogger(('%s/%s.csv'):format(dir, tag)),
                   cbs.ModelCheckpoint(('%s/%s_best.st'):format(dir, tag), { save_best_only = true }),
                   cbs.ReduceLROnPlateau { patience = 2, factor = 0.5 }, killer,
                   cbs.EarlyStopping { mode = 'max', patience = 3, restore_best_weights = true } }
    local steps = {}
    local ok, h = pcall(m.fit, m, X, y, {
      epochs = 12, batch_size = 8, verbose = 0, validation_data = { Xv, yv }, callbacks = list,
      checkpoint = path and { path = path, every = 4 }, resume = path ~= nil,
      on_step = function(e, s, l)
        steps[#steps + 1] = { e, s, l }
        if kill and kill.step and e == kill.step[1] and s == kill.step[2] then error(stop) end
      end })
    if not ok then
      assert(h == stop, tostring(h))
      return nil, m
    end
    return h, m, steps
  end

  local function same_state(a, b)
    local sa, sb = a:state_dict(), b:state_dict()
    for k, t in pairs(sa) do assert.are.same(t:totable(), sb[k]:totable(), k) end
  end

  -- killed at epoch 4 step 5 (resumed from step 4's checkpoint), or in
  -- epoch 4's on_epoch_end after the CSV line was written (resumed from
  -- the same checkpoint: the line is written again, once). The states
  -- then held: ReduceLROnPlateau's wait of 1 (it reduces after epoch 4),
  -- EarlyStopping's best of epoch 3, ModelCheckpoint's of epoch 2 (each
  -- lost, the resumed run differs)
  for _, kill in ipairs({ { step = { 4, 5 } }, { epoch_end = 4 } }) do
    it(('the resumed run equals the uninterrupted one (killed %s)'):format(kill.step and 'in a step' or 'at an epoch end'),
       function()
      local threads = nl.get_num_threads()
      nl.set_num_threads(1)
      finally(function() nl.set_num_threads(threads) end)
      local tag = kill.step and 'k1' or 'k2'
      local path = ('%s/resume_%s.st'):format(dir, tag)
      local ha, ma = run('a_' .. tag)
      assert.is_true(#ha.loss < 12 and #ha.loss > 4, 'the run did not stop early, after the kill')
      assert.is_true(ha.lr[#ha.lr] < 0.05, 'ReduceLROnPlateau never reduced the lr')
      assert.is_nil((run('b_' .. tag, path, kill)))
      local partial = S.read(('%s/b_%s.csv'):format(dir, tag))
      assert.are.equal(kill.step and 4 or 5, select(2, partial:gsub('\n', '')))
      local hb, mb = run('b_' .. tag, path)
      assert.are.same(ha, hb)
      same_state(ma, mb)
      assert.are.equal(ma.optimizer.lr, mb.optimizer.lr)
      assert.are.equal(S.read(('%s/a_%s.csv'):format(dir, tag)), S.read(('%s/b_%s.csv'):format(dir, tag)))
      same_state(nn.load(('%s/a_%s_best.st'):format(dir, tag)), nn.load(('%s/b_%s_best.st'):format(dir, tag)))
      -- a resume of the finished run trains nothing and gives the same
      local hc, mc, sc = run('b_' .. tag, path)
      assert.are.same(ha, hc)
      same_state(ma, mc)
      assert.are.equal(0, #sc)
    end)
  end

  it('refuses to resume with other callbacks or other options, naming both', function()
    local path = dir .. '/resume_other.st'
    local m = square_model(1, 0.1)
    local X1, y1 = ones_zeros(2)
    m:fit(X1, y1, { epochs = 1, verbose = 0, checkpoint = { path = path },
                    callbacks = { cbs.TerminateOnNaN(), cbs.EarlyStopping { monitor = 'loss', patience = 2 } } })
    local m2 = square_model(1, 0.1)
    local function resume(list, o)
      local opts = { epochs = 2, verbose = 0, checkpoint = { path = path }, resume = true, callbacks = list }
      for k, v in pairs(o or {}) do opts[k] = v end
      return errmsg(m2.fit, m2, X1, y1, opts)
    end
    contains(resume({ cbs.EarlyStopping { monitor = 'loss', patience = 2 } }),
             'was written with the callbacks that keep state {2:EarlyStopping}, and this fit gives {1:EarlyStopping}')
    contains(resume({ cbs.TerminateOnNaN(), cbs.EarlyStopping { monitor = 'loss', patience = 3 } }),
             "EarlyStopping: the checkpoint holds the state of EarlyStopping {monitor = 'loss', mode = 'min', patience = 2")
    contains(resume({ cbs.TerminateOnNaN(), cbs.EarlyStopping { monitor = 'loss', patience = 2 } }, { initial_epoch = 1 }),
             'was written by a fit of initial_epoch = 0, and this fit gives 1')
  end)
end)

describe('fit with class_weight and sample_weight', function()
  -- 6 rows, 2 features, classes 1..3; a float64 Linear(2, 3) of set weights
  local X = nl.tensor({ { 1, 2 }, { -1, 0.5 }, { 0.3, -2 }, { 2, 1 }, { -0.5, -1 }, { 0.7, 0.1 } }, 'float64')
  local cls = { 1, 2, 3, 1, 3, 2 }
  local Wt, bt = { { 0.2, -0.1 }, { 0.5, 0.3 }, { -0.4, 0.6 } }, { 0.1, -0.2, 0.05 }
  local function linear(out)
    local m = nn.Linear(2, out):double()
    nl.no_grad(function()
      m.weight:copy_(nl.tensor(out == 3 and Wt or { Wt[1] }, 'float64'))
      m.bias:copy_(nl.tensor(out == 3 and bt or { bt[1] }, 'float64'))
    end)
    return m
  end
  local function logits(i)
    local x, out = X[i]:totable(), {}
    for c = 1, 3 do out[c] = Wt[c][1] * x[1] + Wt[c][2] * x[2] + bt[c] end
    return out
  end
  local function ce(i, c)
    local z = logits(i)
    local mx = math.max(z[1], z[2], z[3])
    return mx + math.log(math.exp(z[1] - mx) + math.exp(z[2] - mx) + math.exp(z[3] - mx)) - z[c]
  end
  -- the epoch's loss of one batch of all rows (before the step)
  local function loss_of(m, loss, yv, o)
    m:compile { optimizer = 'sgd', lr = 0.1, loss = loss }
    local opts = { epochs = 1, batch_size = 6, verbose = 0 }
    for k, v in pairs(o) do opts[k] = v end
    return m:fit(X, yv, opts).loss[1]
  end

  it("weighs each sample's cross-entropy by its class's weight over the sample count (Keras's)", function()
    local y = nl.tensor(cls, 'int64')
    for _, cw in ipairs({ { 2, 0.5, 3 }, { [2] = 5 }, { 1, 1, 1 } }) do
      local want = 0
      for i = 1, 6 do want = want + (cw[cls[i]] or 1) * ce(i, cls[i]) end
      want = want / 6
      close(want, loss_of(linear(3), 'cross_entropy', y, { class_weight = cw }), 1e-13, 'cross_entropy')
      close(want, loss_of(linear(3), nn.CrossEntropyLoss(), y, { class_weight = cw }), 1e-13, 'CrossEntropyLoss')
      -- one-hot targets of probabilities: the class of the row's argmax
      local onehot, p = nl.zeros(6, 3, 'float64'), nn.Sequential(linear(3), nn.Softmax(2))
      for i = 1, 6 do onehot[i][cls[i]] = 1 end
      close(want, loss_of(p, 'categorical_crossentropy', onehot, { class_weight = cw }), 1e-12, 'categorical')
    end
  end)

  it('weighs binary targets by the classes 0 and 1', function()
    local yb = nl.tensor({ { 1 }, { 0 }, { 0 }, { 1 }, { 1 }, { 0 } }, 'float64')
    local cw = { [0] = 0.3, [1] = 2 }
    local want = 0
    for i = 1, 6 do
      local z = logits(i)[1]
      local p = 1 / (1 + math.exp(-z))
      local t = yb[i][1]
      want = want + cw[t] * -(t * math.log(p) + (1 - t) * math.log(1 - p))
    end
    want = want / 6
    close(want, loss_of(nn.Sequential(linear(1), nn.Sigmoid()), 'bce', yb, { class_weight = cw }), 1e-13, 'bce')
    close(want, loss_of(linear(1), 'bce_with_logits', yb, { class_weight = cw }), 1e-13, 'bce_with_logits')
  end)

  it("weighs mse by sample_weight: the sum of w times each sample's mean, over the samples", function()
    local y = nl.tensor({ { 1, 0 }, { 0, 1 }, { -1, 2 }, { 2, 0 }, { 0.5, 0.5 }, { 1, 1 } }, 'float64')
    local sw = { 0.5, 2, 0, 1, 3, 1.5 }
    local want, want_sum = 0, 0
    for i = 1, 6 do
      local z, t = logits(i), y[i]:totable()
      local d = (z[1] - t[1]) ^ 2 + (z[2] - t[2]) ^ 2
      want, want_sum = want + sw[i] * d / 2, want_sum + sw[i] * d
    end
    local function two() return nn.Linear(2, 2):double() end
    local function set(m)
      nl.no_grad(function()
        m.weight:copy_(nl.tensor({ Wt[1], Wt[2] }, 'float64'))
        m.bias:copy_(nl.tensor({ bt[1], bt[2] }, 'float64'))
      end)
      return m
    end
    local w = nl.tensor(sw, 'float64')
    close(want / 6, loss_of(set(two()), 'mse', y, { sample_weight = w }), 1e-13, 'mse')
    close(want_sum, loss_of(set(two()), nn.MSELoss { reduction = 'sum' }, y, { sample_weight = w }), 1e-13, 'sum')
    -- float32 weights for a float64 model, and validation_split's rows
    -- cut from them: the first 4 rows train
    local h = set(two()):compile { optimizer = 'sgd', lr = 0.1, loss = 'mse' }:fit(X, y, {
      batch_size = 6, verbose = 0, sample_weight = w:float(), validation_split = 1 / 3 })
    local four = 0
    for i = 1, 4 do
      local z, t = logits(i), y[i]:totable()
      four = four + sw[i] * ((z[1] - t[1]) ^ 2 + (z[2] - t[2]) ^ 2) / 2
    end
    close(four / 4, h.loss[1], 1e-13, 'validation_split')
  end)

  it('trains as the weights say: zero weights skip samples; weights of 2 double the step', function()
    local y = nl.tensor({ { 1 }, { 0 }, { -1 }, { 2 }, { 0.5 }, { 1 } }, 'float64')
    local a = linear(1):compile { optimizer = 'sgd', lr = 0.1, loss = 'mse' }
    a:fit(X, y, { batch_size = 1, shuffle = false, verbose = 0, epochs = 2,
                  sample_weight = nl.tensor({ 1, 0, 1, 1, 0, 1 }) })
    local keep = nl.tensor({ 1, 3, 4, 6 }, 'int64')
    local b = linear(1):compile { optimizer = 'sgd', lr = 0.1, loss = 'mse' }
    b:fit(X:index_select(1, keep), y:index_select(1, keep), { batch_size = 1, shuffle = false, verbose = 0, epochs = 2 })
    for k, t in pairs(a:state_dict()) do S.expect_close(t, b:state_dict()[k], k, 0, 1e-15) end
    local yc = nl.tensor(cls, 'int64')
    local c = linear(3):compile { optimizer = 'sgd', lr = 0.05, loss = 'cross_entropy' }
    c:fit(X, yc, { batch_size = 6, verbose = 0, class_weight = { 2, 2, 2 } })
    local d = linear(3):compile { optimizer = 'sgd', lr = 0.1, loss = 'cross_entropy' }
    d:fit(X, yc, { batch_size = 6, verbose = 0 })
    for k, t in pairs(c:state_dict()) do S.expect_close(t, d:state_dict()[k], k, 0, 1e-15) end
  end)
end)

describe('fit option errors of callbacks, weights and initial_epoch', function()
  local X, y = ones_zeros(4)
  it('name fit and the option, before training', function()
    local m = square_model(1, 0.1)
    local f = function() end
    local cases = {
      { { callbacks = 3 }, 'fit: expected callbacks as a list of callback objects' },
      { { callbacks = { a = f } }, 'fit: expected callbacks as a list of callback objects' },
      { { callbacks = { 3 } }, 'fit: callback 1 must be a table with any of the methods on_train_begin' },
      { { callbacks = { {}, { on_epoch_end = 5 } } }, 'fit: callback 2: on_epoch_end must be a function (self, epoch, logs), got 5' },
      { { callbacks = { { on_epoch_ends = f, on_test_end = f } } },
        'fit: callback 1 has on_epoch_ends, on_test_end, which fit never calls (it calls on_train_begin' },
      { { callbacks = { { state_dict = f } } }, 'fit: callback 1 needs both state_dict and load_state_dict' },
      { { callbacks = { cbs.EarlyStopping { monitor = 'acc' } } },
        "EarlyStopping: monitor must name a value this fit records (loss), got 'acc'" },
      { { callbacks = { cbs.ReduceLROnPlateau() } },
        "ReduceLROnPlateau: monitor must name a value this fit records (loss), got 'val_loss' (validation values" },
      { { class_weight = 3 }, 'fit: expected class_weight as a table of class -> weight' },
      { { class_weight = { 1, 2 } }, "fit: class_weight weighs the classes of a classification loss (cross_entropy" },
      { { sample_weight = 'x' }, 'fit: expected sample_weight as a tensor of one weight per sample' },
      { { sample_weight = nl.ones(3) }, 'fit: sample_weight must hold one weight per sample, shape [4], got [3]' },
      { { sample_weight = nl.ones(4, 1) }, 'fit: sample_weight must hold one weight per sample, shape [4], got [4,1]' },
      { { sample_weight = nl.ones(4), class_weight = {} }, 'fit: give class_weight or sample_weight, not both' },
      { { initial_epoch = -1 }, 'fit: initial_epoch must be a non-negative integer, got -1' },
      { { initial_epoch = 1.5 }, 'fit: initial_epoch must be a non-negative integer, got 1.5' },
      { { initial_epoch = 'x' }, 'fit: initial_epoch must be a non-negative integer, got x' },
    }
    for _, c in ipairs(cases) do
      local opts = { epochs = 2, verbose = 0 }
      for k, v in pairs(c[1]) do opts[k] = v end
      contains(errmsg(m.fit, m, X, y, opts), c[2])
    end
    assert.are.equal(1, m.weight:item())
    -- class_weight: keys, values, losses
    local yc = nl.tensor({ 1, 2, 1, 2 }, 'int64')
    local mc = nn.Linear(1, 2):double()
    local function cw_error(loss, o)
      mc:compile { optimizer = 'sgd', loss = loss }
      local opts = { verbose = 0 }
      for k, v in pairs(o) do opts[k] = v end
      return errmsg(mc.fit, mc, X, yc, opts)
    end
    contains(cw_error('cross_entropy', { class_weight = { [-1] = 1 } }), 'fit: class_weight keys must be classes as the targets hold them (whole numbers >= 0), got -1')
    contains(cw_error('cross_entropy', { class_weight = { [1.5] = 1 } }), 'class_weight keys must be classes as the targets hold them (whole numbers >= 0), got 1.5')
    contains(cw_error('cross_entropy', { class_weight = { a = 1 } }), "class_weight keys must be classes as the targets hold them (whole numbers >= 0), got 'a'")
    contains(cw_error('cross_entropy', { class_weight = { 0 / 0 } }), 'fit: class_weight[1] must be a finite number')
    contains(cw_error(nn.CrossEntropyLoss { weight = nl.ones(2, 'float64') }, { class_weight = { 1, 2 } }),
             'fit: class_weight with nn.CrossEntropyLoss, which has its own class weight or ignore_index')
    contains(cw_error(nn.NLLLoss { ignore_index = 2 }, { sample_weight = nl.ones(4) }),
             'fit: sample_weight with nn.NLLLoss, which has its own class weight or ignore_index')
    contains(cw_error(function(p, t) return (p - p):sum() end, { sample_weight = nl.ones(4) }),
             'fit: sample_weight needs a loss given by name or a built-in loss module, whose loss of each sample fit '
             .. 'weighs; a loss function gives one value a batch')
    mc:compile { optimizer = 'sgd', loss = 'multilabel_soft_margin' }
    contains(errmsg(mc.fit, mc, X, nl.ones(4, 2), { verbose = 0, class_weight = { 1, 2 } }),
             "fit: class_weight weighs the classes of a classification loss")
  end)

  it('the callbacks refuse bad options when built, naming themselves', function()
    local f = function() end
    local cases = {
      { function() return cbs.EarlyStopping { patience = -1 } end, 'EarlyStopping: expected patience as a whole number >= 0, got -1' },
      { function() return cbs.EarlyStopping { patients = 1 } end, "EarlyStopping: unknown option 'patients'" },
      { function() return cbs.EarlyStopping(3) end, 'EarlyStopping: expected a table of options' },
      { function() return cbs.EarlyStopping { verbose = 'x' } end, 'EarlyStopping: expected verbose as 0, 1 or a boolean' },
      { function() return cbs.ReduceLROnPlateau { factor = 1 } end, 'ReduceLROnPlateau: expected factor in [0, 1), got 1' },
      { function() return cbs.ReduceLROnPlateau { cooldown = -1 } end, 'ReduceLROnPlateau: expected cooldown as a whole number' },
      { function() return cbs.ReduceLROnPlateau { min_lr = -1 } end, 'ReduceLROnPlateau: expected min_lr as a finite number >= 0' },
      { function() return cbs.LearningRateScheduler(3) end, 'LearningRateScheduler: expected a schedule function (epoch, lr)' },
      { function() return cbs.LambdaCallback { on_epoch_end = 3 } end, 'LambdaCallback: on_epoch_end must be a function, got 3' },
      { function() return cbs.LambdaCallback { on_epoc_end = f } end, "LambdaCallback: unknown option 'on_epoc_end'" },
      { function() return cbs.LambdaCallback { on_batch_end = f, on_train_batch_end = f } end,
        'LambdaCallback: give on_train_batch_end or on_batch_end (its other name), not both' },
      { function() return cbs.Callback:extend(3) end, 'Callback:extend: expected a class name' },
    }
    for _, c in ipairs(cases) do contains(errmsg(c[1]), c[2]) end
    local m = square_model(1, 0.1)
    contains(errmsg(m.fit, m, X, y, { verbose = 0, callbacks = { cbs.LearningRateScheduler(function() return 'x' end) } }),
             "LearningRateScheduler: the schedule gave 'x' for epoch 1; it must return a learning rate >= 0")
  end)
end)
