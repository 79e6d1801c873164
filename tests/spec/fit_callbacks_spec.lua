-- fit's lr_scheduler and early_stopping. The lrs are checked against each
-- scheduler's closed form, and the losses against the closed form of SGD
-- on loss = w^2 (w <- w (1 - 2 lr) each step); early stopping against
-- hand-worked sequences and a transcription of Keras 3's
-- EarlyStopping.on_epoch_end run on the values fit recorded; both
-- survive a checkpoint and resume bit for bit, from an epoch's end and
-- from the middle of an epoch; bad options are errors naming fit and the
-- option, raised before training.
local nl = require 'nnlua'
local S = require 'support'
local nn, optim = nl.nn, nl.optim

local errmsg, contains = S.errmsg, S.contains
local dir = S.tmpdir()

-- w trained on w^2 (S.square_model), n rows of (1, 0)
local square_model, ones_zeros = S.square_model, S.ones_zeros

local function close(want, got, rel, what)
  assert(math.abs(want - got) <= rel * math.abs(want), ('%s: want %.17g, got %.17g'):format(what, want, got))
end

describe('fit with an lr_scheduler', function()
  it('compile exposes its optimizer as model.optimizer, and leaves a field of the model its own', function()
    local m = square_model(1, 0.1)
    assert.are.equal(rawget(m, '_compiled').optimizer, m.optimizer)
    local opt = optim.Adam(m:parameters(), { lr = 0.01 })
    m:compile { optimizer = opt, loss = 'mse' }                  -- a recompile replaces it
    assert.are.equal(opt, m.optimizer)
    local own = nn.Linear(1, 1)
    own.optimizer = 'mine'
    own:compile { loss = 'mse' }
    assert.are.equal('mine', own.optimizer)
  end)

  -- StepLR(step_size = 2, gamma = 0.5) from lr 0.1: the lr of epoch e is
  -- 0.1 * 0.5^floor((e - 1) / 2), halvings exact in binary; with one step
  -- an epoch, epoch e's loss is w_e^2, w_{e+1} = w_e (1 - 2 lr_e)
  it('steps StepLR at each epoch end: history.lr and the losses follow the closed forms', function()
    local m = square_model(1, 0.1)
    local X, y = ones_zeros(1)
    local sched = optim.StepLR(m.optimizer, { step_size = 2, gamma = 0.5 })
    local h = m:fit(X, y, { epochs = 7, batch_size = 1, verbose = 0, lr_scheduler = sched })
    local w = 1
    assert.are.equal(7, #h.lr)
    for e = 1, 7 do
      local lr = 0.1 * 0.5 ^ math.floor((e - 1) / 2)
      assert.are.equal(lr, h.lr[e])
      close(w * w, h.loss[e], 1e-14, 'loss of epoch ' .. e)
      w = w * (1 - 2 * lr)
    end
    close(w, m.weight:item(), 1e-14, 'final w')
    assert.are.equal(0.1 * 0.5 ^ 3, m.optimizer.lr)       -- stepped after the 7th epoch too
  end)

  -- two steps an epoch: the epoch's loss is the mean of w^2 and
  -- (w (1 - 2 lr))^2; CosineAnnealingLR's lr of epoch e is
  -- eta + (base - eta) (1 + cos(pi (e - 1) / T)) / 2, which its recursive
  -- form meets to rounding
  it('steps CosineAnnealingLR once an epoch, not once a step', function()
    local m = square_model(1.5, 0.2)
    local X, y = ones_zeros(2)
    local sched = optim.CosineAnnealingLR(m.optimizer, { T_max = 4, eta_min = 0.01 })
    local h = m:fit(X, y, { epochs = 9, batch_size = 1, verbose = 0, lr_scheduler = sched })
    local w = 1.5
    for e = 1, 9 do
      local lr = 0.01 + (0.2 - 0.01) * (1 + math.cos(math.pi * (e - 1) / 4)) / 2
      close(lr, h.lr[e], 1e-14, 'lr of epoch ' .. e)
      local w2 = w * (1 - 2 * h.lr[e])
      close((w * w + w2 * w2) / 2, h.loss[e], 1e-13, 'loss of epoch ' .. e)
      w = w2 * (1 - 2 * h.lr[e])
    end
  end)

  -- a scheduler whose step takes the monitored value (ReduceLROnPlateau's
  -- kind): here one that sets the next lr to a tenth of it, so history.lr
  -- shows both the value it got and that it came between the epochs
  local function metric_scheduler(opt)
    local s = { takes_metric = true, optimizer = opt, got = {} }
    function s:step(v)
      self.got[#self.got + 1] = v
      self.optimizer.param_groups[1].lr = v / 10
    end
    function s:state_dict() return { got = self.got } end
    function s:load_state_dict(sd)
      self.got = {}
      for i, v in ipairs(sd.got) do self.got[i] = v end
    end
    return s
  end

  it('gives a scheduler that takes_metric the val_loss, or the loss without validation', function()
    for _, with_val in ipairs({ true, false }) do
      local m = square_model(1, 0.05)
      local X, y = ones_zeros(1)
      local s = metric_scheduler(m.optimizer)
      local h = m:fit(X, y, { epochs = 5, batch_size = 1, verbose = 0, lr_scheduler = s,
                              validation_data = with_val and { X, y } or nil })
      local seen = with_val and h.val_loss or h.loss
      assert.are.same(seen, s.got)
      assert.are.equal(0.05, h.lr[1])
      for e = 2, 5 do assert.are.equal(seen[e - 1] / 10, h.lr[e]) end
      -- the val_loss of an epoch is w^2 after its step: w_{e+1}^2
      local w = 1
      for e = 1, 5 do
        w = w * (1 - 2 * h.lr[e])
        if with_val then close(w * w, h.val_loss[e], 1e-14, 'val_loss of epoch ' .. e) end
      end
    end
  end)

  -- at lr 1 a step takes w to -w: val_loss stays 1, so ReduceLROnPlateau
  -- (patience 1) halves the lr after the third epoch; at lr 0.5 a step
  -- takes w to 0 (worked by hand from PyTorch's rule: reduce once the
  -- epochs without improvement exceed patience)
  it('steps ReduceLROnPlateau with val_loss', function()
    local m = square_model(1, 1)
    local X, y = ones_zeros(1)
    local s = optim.ReduceLROnPlateau(m.optimizer, { patience = 1, factor = 0.5 })
    local h = m:fit(X, y, { epochs = 5, batch_size = 1, verbose = 0, lr_scheduler = s, validation_data = { X, y } })
    assert.are.same({ 1, 1, 1, 0.5, 0.5 }, h.lr)
    assert.are.same({ 1, 1, 1, 0, 0 }, h.val_loss)
  end)

  it('has no history.lr without a scheduler, and prints the lr on the epoch line with one', function()
    local m = square_model(1, 0.1)
    local X, y = ones_zeros(1)
    assert.is_nil(m:fit(X, y, { epochs = 1, verbose = 0 }).lr)
    local tmp = os.tmpname()
    S.write(tmp, S.path_prelude .. [[
local nl = require 'nnlua'
local m = nl.nn.Linear(1, 1)
m:compile { optimizer = 'sgd', lr = 0.1, loss = 'mse' }
local s = nl.optim.StepLR(m.optimizer, { step_size = 1, gamma = 0.5 })
m:fit(nl.ones(4, 1), nl.zeros(4, 1), { epochs = 2, verbose = 2, lr_scheduler = s })
]])
    local p = io.popen('luajit ' .. S.q(tmp) .. ' 2>&1')
    local out = p:read('*a')
    p:close()
    os.remove(tmp)
    assert.is_truthy(out:find('epoch 1/2 %- loss [%d.]+ %- lr 0%.1 %-'), out)
    assert.is_truthy(out:find('epoch 2/2 %- loss [%d.]+ %- lr 0%.05 %-'), out)
  end)
end)

-- Keras 3's EarlyStopping.on_epoch_end (keras/src/callbacks/early_stopping.py),
-- line for line with its 0-based epochs, on a finished sequence of values:
-- the epochs fit runs and the epoch whose weights it keeps (1-based; nil
-- without restore_best_weights)
local function keras_early_stopping(values, o)
  local mode = o.mode or 'min'
  local op = mode == 'max' and function(a, b) return a > b end or function(a, b) return a < b end
  local min_delta = math.abs(o.min_delta or 0)
  if mode ~= 'max' then min_delta = -min_delta end
  local best = mode == 'max' and -math.huge or math.huge
  local patience, start = o.patience or 0, o.start_from_epoch or 0
  local wait, best_weights
  local function is_improvement(v, ref) return op(v - min_delta, ref) end
  wait = 0
  for epoch = 0, #values - 1 do
    local current = values[epoch + 1]
    if epoch >= start then
      if o.restore_best_weights and best_weights == nil then best_weights = epoch end
      wait = wait + 1
      if is_improvement(current, best) then
        best = current
        if o.restore_best_weights then best_weights = epoch end
        if o.baseline == nil or is_improvement(current, o.baseline) then wait = 0 end
      elseif wait >= patience and epoch > 0 then
        return epoch + 1, best_weights and best_weights + 1
      end
    end
  end
  return #values, best_weights and best_weights + 1
end

describe('fit with early_stopping', function()
  -- w is set to ws[e] after epoch e's one step (SGD's own step is undone):
  -- epoch e's val_loss is ws[e]^2 and epoch e + 1's loss ws[e]^2
  local function run(ws, es, epochs)
    local m = square_model(ws[1], 0.1)
    local X, y = ones_zeros(1)
    local h = m:fit(X, y, { epochs = epochs or #ws, batch_size = 1, verbose = 0, validation_data = { X, y },
                            early_stopping = es,
                            on_step = function(e) nl.no_grad(function() m.weight:fill_(ws[e]) end) end })
    return h, m.weight:item()
  end

  it('stops after patience epochs without an improvement of more than min_delta (worked by hand)', function()
    -- val_loss 4, 2.25, 2.25, 2.25, 1: best at 2, no better at 3 and 4
    local ws = { 2, 1.5, 1.5, 1.5, 1, 0.5 }
    local h, w = run(ws, { patience = 2 })
    assert.are.same({ 4, 2.25, 2.25, 2.25 }, h.val_loss)
    assert.are.same({ 1, 2, 3, 4 }, h.epoch)
    assert.are.equal(4, #h.loss)
    assert.are.equal(1.5, w)                              -- no restore: the last epoch's weights
    assert.are.equal(6, #run(ws, { patience = 3 }).loss)   -- 1 at epoch 5 is an improvement
    assert.are.equal(3, #run(ws, { patience = 1 }).loss)
    -- patience 0: the first epoch without an improvement, never the first epoch
    assert.are.equal(3, #run(ws, {}).loss)
    -- val_loss 4, 3.0625, 2.25, 1.5625, 1: each 0.5 to 0.8125 better than the last
    ws = { 2, 1.75, 1.5, 1.25, 1 }
    assert.are.equal(5, #run(ws, { patience = 1, min_delta = 0.5 }).loss)
    assert.are.equal(2, #run(ws, { patience = 1, min_delta = 0.9375 }).loss)   -- 3.0625 is 0.9375 better: not more
    assert.are.equal(4, #run(ws, { patience = 1, min_delta = 0.8 }).loss)      -- 2.25 -> 1.5625 is 0.6875
    -- mode = 'max' on a falling val_loss: the first epoch is the best
    assert.are.equal(3, #run(ws, { patience = 2, mode = 'max' }).loss)
    -- monitor 'loss': epoch e's loss is ws[e - 1]^2 (epoch 1's ws[1]^2)
    ws = { 2, 2, 1.5, 1.5, 1.5, 1 }
    assert.are.same({ 4, 4, 4 }, run(ws, { monitor = 'loss', patience = 2 }).loss)
    assert.are.same({ 4, 4, 4, 2.25, 2.25, 2.25 }, run(ws, { monitor = 'loss', patience = 3 }).loss)
  end)

  it('restore_best_weights puts back the best epoch\'s weights at the end, stopped early or not', function()
    -- val_loss 2.25, 1, 1.5625, 4: best at 2, stops at 4
    local ws = { 1.5, 1, 1.25, 2, 0.5 }
    local h, w = run(ws, { patience = 2, restore_best_weights = true })
    assert.are.equal(4, #h.loss)
    assert.are.equal(1, w)
    -- not stopped (patience 9): the best of the 5 epochs is the last's 0.25
    h, w = run(ws, { patience = 9, restore_best_weights = true })
    assert.are.equal(5, #h.loss)
    assert.are.equal(0.5, w)
    -- best at 2 of 3 and no stop: epoch 2's weights all the same
    h, w = run({ 1.5, 1, 1.25 }, { patience = 9, restore_best_weights = true })
    assert.are.equal(3, #h.loss)
    assert.are.equal(1, w)
    -- NaN never improves: the first epoch looked at is kept
    h, w = run({ 0 / 0, 0 / 0, 0 / 0, 0 / 0 }, { patience = 1, restore_best_weights = true })
    assert.are.equal(2, #h.loss)
    assert.is_true(w ~= w)
    h, w = run({ 3, 0 / 0, 0 / 0, 0 / 0 }, { patience = 1, restore_best_weights = true })
    assert.are.equal(2, #h.loss)
    assert.are.equal(3, w)
  end)

  it('start_from_epoch leaves the first epochs out; baseline resets the wait only when beaten', function()
    local ws = { 1, 2, 2, 2, 2 }                          -- val_loss 1, 4, 4, 4, 4
    assert.are.equal(2, #run(ws, { patience = 1 }).loss)
    assert.are.equal(4, #run(ws, { patience = 1, start_from_epoch = 2 }).loss)
    local _, w = run(ws, { patience = 1, start_from_epoch = 1, restore_best_weights = true })
    assert.are.equal(2, w)                                -- epoch 1's 1 was never looked at
    -- val_loss 4, 2.25, 1.5625, 1.5625: improvements until epoch 3, none
    -- below the baseline 1.5, so the wait reaches 4 and fit stops at the
    -- first epoch without an improvement
    ws = { 2, 1.5, 1.25, 1.25, 1.25, 1.25 }
    assert.are.equal(4, #run(ws, { patience = 2, baseline = 1.5 }).loss)
    assert.are.equal(5, #run(ws, { patience = 2 }).loss)
    -- val_loss 1.5625, 1.5625, 1, ...: epoch 1 is no better than the
    -- baseline 1.5, so epoch 2 is the second without a reset; 1.6 it beats
    ws = { 1.25, 1.25, 1, 1, 1, 1 }
    assert.are.equal(2, #run(ws, { patience = 2, baseline = 1.5 }).loss)
    assert.are.equal(5, #run(ws, { patience = 2, baseline = 1.6 }).loss)
    assert.are.equal(5, #run(ws, { patience = 2 }).loss)
  end)

  -- random walks of w, random options: fit and the transcription agree
  it('agrees with Keras 3\'s algorithm on random sequences and options', function()
    local r = S.rng(5)
    local function pick(t) return t[math.floor(r(0, 1) * #t) + 1] end
    for case = 1, 60 do
      local ws, w = {}, r(1, 2)
      for e = 1, 12 do
        w = w * pick({ 0.8, 0.95, 1, 1, 1.05, 1.2 })
        ws[e] = w
      end
      local o = { patience = pick({ 0, 1, 2, 3 }), min_delta = pick({ 0, 0, 0.01, 0.1 }),
                  mode = pick({ 'min', 'min', 'max' }), restore_best_weights = pick({ true, false }),
                  start_from_epoch = pick({ 0, 0, 2 }), baseline = pick({ nil, nil, 1.5 }) }
      local h, got_w = run(ws, o)
      local vals = {}
      for e = 1, 12 do vals[e] = ws[e] * ws[e] end
      local n, best = keras_early_stopping(vals, o)
      local what = ('case %d: %s'):format(case, require('nnlua.json').encode(o))
      assert.are.equal(n, #h.loss, what)
      assert.are.equal(best and ws[best] or ws[n], got_w, what)
    end
  end)

  -- accuracy improves upwards: a logit pair (w1, w2) for class 1 is right
  -- when w1 > w2
  it("mode = 'auto' maximizes the accuracies and minimizes loss and mae", function()
    local function run_acc(right, es)
      local m = nn.Linear(1, 2, { bias = false }):double()
      m:compile { optimizer = 'sgd', lr = 0, loss = 'cross_entropy', metrics = { 'accuracy' } }
      local X, y = nl.ones(1, 1, 'float64'), nl.tensor({ 1 }, 'int64')
      local function set(ok) nl.no_grad(function() m.weight:copy_(nl.tensor(ok and { { 1 }, { 0 } } or { { 0 }, { 1 } }, 'float64')) end) end
      set(right[1])
      return m:fit(X, y, { epochs = #right, batch_size = 1, verbose = 0, validation_data = { X, y },
                           early_stopping = es, on_step = function(e) set(right[e]) end })
    end
    local right = { false, true, true, false, false }    -- val_accuracy 0, 1, 1, 0, 0
    local h = run_acc(right, { monitor = 'val_accuracy', patience = 1 })
    assert.are.same({ 0, 1, 1 }, h.val_accuracy)
    assert.are.equal(3, #run_acc(right, { monitor = 'val_accuracy', patience = 1, mode = 'max' }).loss)
    assert.are.equal(2, #run_acc(right, { monitor = 'val_accuracy', patience = 1, mode = 'min' }).loss)
    -- val_loss falls while the accuracy rises: minimized under auto
    assert.are.equal(3, #run_acc(right, { patience = 1 }).loss)
    -- Keras's other accuracies are maximized too (only 'accuracy' was, and
    -- binary_accuracy's rise from 0 to 1 stopped at epoch 2)
    local function run_bin(es)
      local m = nn.Sequential(nn.Linear(1, 1, { bias = false }), nn.Sigmoid()):double()
      m:compile { optimizer = 'sgd', lr = 0, loss = 'bce', metrics = { 'binary_accuracy' } }
      local X, y = nl.ones(1, 1, 'float64'), nl.ones(1, 1, 'float64')
      local function set(ok) nl.no_grad(function() m[1].weight:fill_(ok and 2 or -2) end) end
      set(right[1])
      return m:fit(X, y, { epochs = #right, batch_size = 1, verbose = 0, validation_data = { X, y },
                           early_stopping = es, on_step = function(e) set(right[e]) end })
    end
    h = run_bin({ monitor = 'val_binary_accuracy', patience = 1 })
    assert.are.same({ 0, 1, 1 }, h.val_binary_accuracy)
    assert.are.equal(2, #run_bin({ monitor = 'val_binary_accuracy', patience = 1, mode = 'min' }).loss)
  end)

  -- a BatchNorm's running statistics and batch count are weights Keras's
  -- get_weights includes: they come back with the best epoch's
  it('restores buffers (BatchNorm running statistics) with the weights', function()
    local r = S.rng(3)
    local Xt, yt = {}, {}
    for i = 1, 96 do
      Xt[i] = { r(), r(), r(), r() }
      yt[i] = (Xt[i][1] + Xt[i][2] > 0) and 1 or 2
    end
    local X, y = nl.tensor(Xt), nl.tensor(yt, 'int64')
    nl.manual_seed(4)
    local m = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    m:compile { optimizer = 'sgd', lr = 0.2, loss = 'cross_entropy' }
    local states = {}
    -- the state at each epoch's end (its last step; validation changes nothing)
    local h = m:fit(X, y, { epochs = 10, batch_size = 32, verbose = 0, validation_split = 0.25,
                            early_stopping = { mode = 'max', patience = 2, restore_best_weights = true },
                            on_step = function(e, s)
                              if s == 3 then
                                local st = {}
                                for k, t in pairs(m:state_dict()) do st[k] = t:clone() end
                                states[e] = st
                              end
                            end })
    local n, best = keras_early_stopping(h.val_loss, { mode = 'max', patience = 2, restore_best_weights = true })
    assert.are.equal(n, #h.loss)
    assert.is_true(best < n, 'the best epoch is the last: nothing to restore')
    local now = m:state_dict()
    assert.is_truthy(now['1.running_mean'])
    for k, t in pairs(states[best]) do
      assert.are.same(t:totable(), now[k]:totable(), k)
    end
    assert.are.same(states[best]['1.num_batches_tracked']:totable(), now['1.num_batches_tracked']:totable())
    assert.are_not.same(states[n]['1.running_mean']:totable(), now['1.running_mean']:totable())
  end)
end)

describe('fit with a scheduler and early stopping, resumed', function()
  nl.manual_seed(21)
  local X, y = nl.randn(48, 3), nl.randn(48, 1)
  local Xv, yv = nl.randn(16, 3), nl.randn(16, 1)

  local stop = {}     -- raised from on_step: the run is killed there
  -- a run whose history and weights a resume must give again: SGD with
  -- momentum, dropout and a BatchNorm (generators and buffers), a
  -- scheduler, and early stopping on a rising val_loss (mode 'max')
  local function run(kind, path, resume, kill_at)
    nl.manual_seed(1)
    local m = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1))
    m:compile { optimizer = optim.SGD(m:parameters(), { lr = 0.05, momentum = 0.9 }), loss = 'mse' }
    local sched
    if kind == 'step' then sched = optim.StepLR(m.optimizer, { step_size = 2, gamma = 0.6 })
    elseif kind == 'cosine' then sched = optim.CosineAnnealingLR(m.optimizer, { T_max = 3, eta_min = 0.001 })
    else
      sched = { takes_metric = true, optimizer = m.optimizer, n = 0 }
      function sched:step(v)
        self.n = self.n + 1
        self.optimizer.param_groups[1].lr = 0.01 + v / (100 * self.n)
      end
      function sched:state_dict() return { n = self.n } end
      function sched:load_state_dict(sd) self.n = sd.n end
    end
    local steps = {}
    local ok, h = pcall(m.fit, m, X, y, {
      epochs = 12, batch_size = 8, verbose = 0, validation_data = { Xv, yv }, lr_scheduler = sched,
      early_stopping = { mode = 'max', patience = 3, min_delta = 1e-4, restore_best_weights = true },
      checkpoint = path and { path = path, every = 4 }, resume = resume,
      on_step = function(e, s, l)
        steps[#steps + 1] = { e, s, l }
        if kill_at and e == kill_at[1] and s == kill_at[2] then error(stop) end
      end })
    if not ok then
      assert(h == stop, tostring(h))
      return nil, m, steps
    end
    return h, m, steps
  end

  local function same_state(a, b)
    local sa, sb = a:state_dict(), b:state_dict()
    for k, t in pairs(sa) do assert.are.same(t:totable(), sb[k]:totable(), k) end
  end

  for _, kind in ipairs({ 'step', 'cosine', 'metric' }) do
    -- 6 steps an epoch, a checkpoint every 4: killed at epoch 3's step 5,
    -- it resumes from step 4's checkpoint; at epoch 2's step 2, from the
    -- one of epoch 1's end
    for _, kill in ipairs({ { 3, 5 }, { 2, 2 } }) do
      it(('%s scheduler: killed at epoch %d step %d, the resumed run equals the uninterrupted one'):format(
        kind, kill[1], kill[2]), function()
        local threads = nl.get_num_threads()
        nl.set_num_threads(1)
        finally(function() nl.set_num_threads(threads) end)
        local path = ('%s/resume_%s_%d_%d.st'):format(dir, kind, kill[1], kill[2])
        local ha, ma, sa = run(kind)
        assert.is_true(#ha.loss < 12, 'the run did not stop early')
        assert.is_true(#ha.loss > kill[1], 'the run stopped before the kill')
        assert.is_nil((run(kind, path, true, kill)))
        local hb, mb, sb = run(kind, path, true)
        assert.are.same(ha, hb)
        same_state(ma, mb)
        assert.are.equal(ma.optimizer.lr, mb.optimizer.lr)
        -- the resumed run's steps are the uninterrupted run's last ones
        local off = #sa - #sb
        assert.is_true(off > 0 and sb[1][1] == kill[1] and sb[1][2] <= kill[2])
        for i, st in ipairs(sb) do assert.are.same(sa[off + i], st) end
        -- a resume of the finished run trains nothing and gives the same
        local hc, mc, sc = run(kind, path, true)
        assert.are.same(ha, hc)
        same_state(ma, mc)
        assert.are.equal(0, #sc)
      end)
    end
  end

  it('refuses to resume with another scheduler or other early_stopping, naming both', function()
    local path = dir .. '/resume_mismatch.st'
    local m = square_model(1, 0.1)
    local Xs, ys = ones_zeros(2)
    local es = { monitor = 'loss', patience = 5 }
    m:fit(Xs, ys, { epochs = 1, verbose = 0, checkpoint = { path = path }, early_stopping = es,
                    lr_scheduler = optim.StepLR(m.optimizer, { step_size = 1 }) })
    local function resume(o)
      local m2 = square_model(1, 0.1)
      local opts = { epochs = 2, verbose = 0, checkpoint = { path = path }, resume = true }
      for k, v in pairs(o) do opts[k] = v end
      if opts.lr_scheduler == true then opts.lr_scheduler = optim.StepLR(m2.optimizer, { step_size = 1 }) end
      if opts.lr_scheduler == 'cosine' then opts.lr_scheduler = optim.CosineAnnealingLR(m2.optimizer, { T_max = 2 }) end
      return errmsg(m2.fit, m2, Xs, ys, opts)
    end
    contains(resume({ early_stopping = es }), 'history {epoch, loss, lr}, and this fit keeps {epoch, loss}')
    contains(resume({ early_stopping = es, lr_scheduler = 'cosine' }),
             'written with the lr_scheduler StepLR, and this fit gives the lr_scheduler CosineAnnealingLR')
    contains(resume({ lr_scheduler = true }), "written with early_stopping {monitor = 'loss', mode = 'min', "
             .. 'patience = 5, min_delta = 0, baseline = nil, restore_best_weights = false, start_from_epoch = 0}, '
             .. 'and this fit gives none')
    contains(resume({ lr_scheduler = true, early_stopping = { monitor = 'loss', patience = 6 } }),
             "and this fit gives early_stopping {monitor = 'loss', mode = 'min', patience = 6, ")
  end)
end)

describe('fit option errors', function()
  local X, y = ones_zeros(4)
  it('names fit and the option, before training', function()
    local m = square_model(1, 0.1)
    local other = optim.SGD(nn.Linear(1, 1):parameters(), { lr = 0.1 })
    local cases = {
      { { early_stopping = { patients = 2 } }, "fit (early_stopping): unknown option 'patients'" },
      { { early_stopping = 3 }, 'fit: expected early_stopping as a table of options' },
      { { early_stopping = {} }, "early_stopping.monitor must name a value this fit records (loss), got 'val_loss' "
                                 .. '(validation values need validation_data or validation_split)' },
      { { early_stopping = { monitor = 'acc' }, validation_data = { X, y } },
        "early_stopping.monitor must name a value this fit records (loss, val_loss), got 'acc'" },
      { { early_stopping = { monitor = 'epoch' } }, "early_stopping.monitor must name a value this fit records" },
      { { early_stopping = { monitor = 'loss', mode = 'up' } }, "fit: expected early_stopping.mode as 'min', 'max' or 'auto', got 'up'" },
      { { early_stopping = { monitor = 'loss', patience = -1 } }, 'fit: expected early_stopping.patience as a whole number >= 0, got -1' },
      { { early_stopping = { monitor = 'loss', patience = 1.5 } }, 'early_stopping.patience as a whole number >= 0, got 1.5' },
      { { early_stopping = { monitor = 'loss', start_from_epoch = 'x' } }, 'early_stopping.start_from_epoch as a whole number' },
      { { early_stopping = { monitor = 'loss', min_delta = -0.1 } }, 'early_stopping.min_delta as a finite number >= 0, got -0.1' },
      { { early_stopping = { monitor = 'loss', min_delta = 0 / 0 } }, 'early_stopping.min_delta as a finite number >= 0' },
      { { early_stopping = { monitor = 'loss', baseline = '1' } }, "early_stopping.baseline as a number, got '1'" },
      { { early_stopping = { monitor = 'loss', restore_best_weights = 1 } },
        'fit (early_stopping): restore_best_weights must be a boolean' },
      { { lr_scheduler = 0.5 }, 'fit: expected lr_scheduler as a scheduler object' },
      { { lr_scheduler = {} }, 'fit: expected lr_scheduler as a scheduler object' },
      { { lr_scheduler = optim.StepLR(other, { step_size = 1 }) },
        "fit: lr_scheduler is built on an optimizer other than the model's; build it on model.optimizer" },
      { { lr_scheduler = { step = function() end, takes_metric = 'yes' } }, 'fit: expected lr_scheduler.takes_metric as a boolean' },
      { { lr_scheduler = { step = function() end }, checkpoint = { path = dir .. '/never.st' } },
        'fit: lr_scheduler needs state_dict and load_state_dict methods to be saved in checkpoints' },
      { { lr_sheduler = {} }, "fit: unknown option 'lr_sheduler'" },
    }
    for _, c in ipairs(cases) do
      local opts = { epochs = 2, verbose = 0 }
      for k, v in pairs(c[1]) do opts[k] = v end
      contains(errmsg(m.fit, m, X, y, opts), c[2])
    end
    assert.are.equal(1, m.weight:item())
    assert.are.equal(0.1, m.optimizer.lr)
  end)
end)
