-- fit's validation_freq, Keras's: validation every n-th epoch, or in the
-- epochs listed (1-based, as fit counts them, absolute with
-- initial_epoch). The val_ lists hold the validated epochs alone and
-- history.val_epoch their numbers, as Keras's history records val_ keys
-- only in those epochs; the logs of the others have no val_ values, and
-- what looks at one (early_stopping, EarlyStopping, ReduceLROnPlateau of
-- Keras and of optim, ModelCheckpoint's save_best_only) passes over them,
-- as Keras's callbacks do; CSVLogger writes NA there (Keras 3). Values
-- against the closed form of SGD on loss = w^2 (S.square_model: w <- w (1 -
-- 2 lr) each step; lr 1 flips w, so the loss stays 1).
local nl = require 'nnlua'
local S = require 'support'
local optim, callbacks = nl.optim, nil

local errmsg, contains = S.errmsg, S.contains
local square_model, ones_zeros = S.square_model, S.ones_zeros
local dir = S.tmpdir()

local function close(want, got, what)
  assert(math.abs(want - got) <= 1e-14 * math.abs(want), ('%s: want %.17g, got %.17g'):format(what, want, got))
end

local function fit(m, opts)
  local X, y = ones_zeros(1)
  opts.batch_size, opts.verbose = 1, 0
  if opts.validation_data == nil then opts.validation_data = { X, y } end
  return m:fit(X, y, opts)
end

describe('fit with validation_freq', function()
  setup(function() callbacks = nl.callbacks end)

  -- lr 0.1: w_{e+1} = 0.8 w_e, epoch e's val_loss w_{e+1}^2 = 0.64^e
  it('validates every n-th epoch: the val_ lists hold those epochs, val_epoch their numbers', function()
    local m = square_model(1, 0.1)
    local seen = {}
    local cb = callbacks.LambdaCallback { on_epoch_end = function(epoch, logs)
      local keys = {}
      for k in pairs(logs) do keys[#keys + 1] = k end
      table.sort(keys)
      seen[epoch] = table.concat(keys, ',')
    end }
    local h = fit(m, { epochs = 5, validation_freq = 2, callbacks = { cb } })
    assert.are.same({ 2, 4 }, h.val_epoch)
    assert.are.same({ 1, 2, 3, 4, 5 }, h.epoch)
    assert.are.equal(5, #h.loss)
    assert.are.equal(2, #h.val_loss)
    for e = 1, 5 do close(0.64 ^ (e - 1), h.loss[e], 'loss ' .. e) end
    close(0.64 ^ 2, h.val_loss[1], 'val_loss of epoch 2')
    close(0.64 ^ 4, h.val_loss[2], 'val_loss of epoch 4')
    -- the logs: val_loss in the validated epochs alone, never val_epoch
    assert.are.same({ 'loss', 'loss,val_loss', 'loss', 'loss,val_loss', 'loss' }, seen)
    -- a list of epochs; with a metric; with 1, every epoch
    m = square_model(1, 0.1)
    m:compile { optimizer = 'sgd', lr = 0.1, loss = 'mse', metrics = { 'mae' } }
    h = fit(m, { epochs = 5, validation_freq = { 5, 1, 3 } })
    assert.are.same({ 1, 3, 5 }, h.val_epoch)
    for j, e in ipairs({ 1, 3, 5 }) do
      close(0.64 ^ e, h.val_loss[j], 'val_loss of epoch ' .. e)
      close(0.8 ^ e, h.val_mae[j], 'val_mae of epoch ' .. e)
    end
    h = fit(square_model(1, 0.1), { epochs = 3, validation_freq = 1 })
    assert.are.same({ 1, 2, 3 }, h.val_epoch)
    -- an empty list: no validation
    h = fit(square_model(1, 0.1), { epochs = 2, validation_freq = {} })
    assert.are.same({}, h.val_loss)
    -- without the option, the history is as it was (no val_epoch)
    h = fit(square_model(1, 0.1), { epochs = 2 })
    assert.is_nil(h.val_epoch)
    assert.are.equal(2, #h.val_loss)
  end)

  it('nl.plot places the validation points at their epochs', function()
    local h = fit(square_model(1, 0.1), { epochs = 5, validation_freq = 2 })
    local svg = S.read(nl.plot(h, dir .. '/curves.svg'))
    local cx = {}
    for x in svg:gmatch('<circle cx="([%d.]+)"') do cx[#cx + 1] = x end
    -- the 5 training points, then the validation points of epochs 2 and 4
    assert.are.equal(7, #cx)
    assert.are.same({ cx[2], cx[4] }, { cx[6], cx[7] })
    -- a history without epoch numbers (epochs 1, 2, ...): the points at
    -- epochs 2 and 4 still (they were drawn at 1 and 2)
    local h2 = { loss = h.loss, val_loss = h.val_loss, val_epoch = h.val_epoch }
    svg = S.read(nl.plot(h2, dir .. '/curves2.svg'))
    local cx2 = {}
    for x in svg:gmatch('<circle cx="([%d.]+)"') do cx2[#cx2 + 1] = x end
    assert.are.same(cx, cx2)
    -- a val_epoch that does not fit the history is an error (the points
    -- went to other epochs without a word)
    contains(errmsg(nl.plot, { loss = h.loss, epoch = h.epoch, val_loss = h.val_loss, val_epoch = { 2, 7 } }, dir .. '/x.svg'),
             'plot: history.val_epoch[2] = 7 is not an epoch of the history')
    contains(errmsg(nl.plot, { loss = h.loss, val_loss = { 1, 2, 3 }, val_epoch = { 2, 4 } }, dir .. '/x.svg'),
             'plot: history.val_loss has 3 values, and history.val_epoch 2 epochs')
    contains(errmsg(nl.plot, { loss = h.loss, val_loss = h.val_loss, val_epoch = 2 }, dir .. '/x.svg'),
             'plot: history.val_epoch must be an array of epoch numbers')
  end)

  it('counts epochs as initial_epoch numbers them (Keras: the absolute epoch)', function()
    local h = fit(square_model(1, 0.1), { epochs = 5, initial_epoch = 2, validation_freq = 2 })
    assert.are.same({ 3, 4, 5 }, h.epoch)
    assert.are.same({ 4 }, h.val_epoch)
    close(0.64 ^ 2, h.val_loss[1], 'val_loss of epoch 4 (the second run)')
    h = fit(square_model(1, 0.1), { epochs = 5, initial_epoch = 2, validation_freq = { 1, 3 } })
    assert.are.same({ 3 }, h.val_epoch)
  end)

  -- lr 1: the loss and val_loss stay 1, never improving after their first
  it("early_stopping and EarlyStopping on val_loss pass over the epochs not validated", function()
    local h = fit(square_model(1, 1), { epochs = 8, validation_freq = 2,
                                        early_stopping = { monitor = 'val_loss', patience = 1 } })
    -- epoch 2 sets the best, epoch 4 waits 1 = patience: stop (every epoch: at 2)
    assert.are.equal(4, #h.loss)
    assert.are.same({ 2, 4 }, h.val_epoch)
    local es = callbacks.EarlyStopping { monitor = 'val_loss', patience = 2, restore_best_weights = true }
    h = fit(square_model(1, 1), { epochs = 12, validation_freq = { 1, 2, 6, 9, 10 }, callbacks = { es } })
    -- best at 1, waits at 2 and 6: stop at 6
    assert.are.equal(6, #h.loss)
    assert.are.same({ 1, 2, 6 }, h.val_epoch)
    -- a monitor the epochs without validation lack, on fit's option with
    -- restore_best_weights: the best epoch's weights (w = -1 after epoch 1)
    local m = square_model(1, 1)
    h = fit(m, { epochs = 8, validation_freq = { 3, 4 },
                 early_stopping = { monitor = 'val_loss', patience = 1, restore_best_weights = true } })
    assert.are.equal(4, #h.loss)
    assert.are.equal(-1, m.weight:item())      -- after epoch 3 (w flips: 1, -1, 1, -1)
  end)

  it("ReduceLROnPlateau, Keras's callback and optim's lr_scheduler, steps on the validated epochs alone", function()
    -- val at 2: best 1; at 4: no better, wait 1 = patience: lr 0.5, so w = 0
    -- in epoch 5 and the val_loss of epoch 6 is 0
    local rlr = callbacks.ReduceLROnPlateau { monitor = 'val_loss', patience = 1, factor = 0.5 }
    local h = fit(square_model(1, 1), { epochs = 6, validation_freq = 2, callbacks = { rlr } })
    assert.are.same({ 1, 1, 1, 1, 0.5, 0.5 }, h.lr)
    assert.are.same({ 1, 1, 0 }, h.val_loss)
    -- optim's, patience 0: reduced after the first validation that does not improve (epoch 4)
    local m = square_model(1, 1)
    local sched = optim.ReduceLROnPlateau(m.optimizer, { patience = 0, factor = 0.5 })
    h = fit(m, { epochs = 6, validation_freq = 2, lr_scheduler = sched })
    assert.are.same({ 1, 1, 1, 1, 0.5, 0.5 }, h.lr)
  end)

  it("ModelCheckpoint saves the best of validated epochs; a filepath field without a value is an error", function()
    local path = dir .. '/best_{epoch}.safetensors'
    local mc = callbacks.ModelCheckpoint(path, { monitor = 'val_loss', save_best_only = true, save_weights_only = true })
    fit(square_model(1, 0.1), { epochs = 4, validation_freq = 2, callbacks = { mc } })
    for e = 1, 4 do
      local f = io.open(dir .. ('/best_%d.safetensors'):format(e), 'rb')
      if f then f:close() end
      assert.are.equal(e % 2 == 0, f ~= nil, 'file of epoch ' .. e)
    end
    mc = callbacks.ModelCheckpoint(dir .. '/m_{val_loss:.3f}.safetensors', { save_weights_only = true })
    contains(errmsg(fit, square_model(1, 0.1), { epochs = 2, validation_freq = 2, callbacks = { mc } }),
             "ModelCheckpoint: the filepath's field {val_loss} has no value in epoch 1")
  end)

  it('CSVLogger has the val_ columns from the first line, NA in the epochs not validated', function()
    local file = dir .. '/log.csv'
    fit(square_model(1, 0.1), { epochs = 2, validation_freq = 2, callbacks = { callbacks.CSVLogger(file) } })
    local lines = {}
    for l in S.read(file):gmatch('[^\n]+') do lines[#lines + 1] = l end
    assert.are.equal('epoch,loss,val_loss', lines[1])
    assert.are.equal('1,1,NA', lines[2])
    local e, loss, vl = lines[3]:match('^(%d+),([^,]+),([^,]+)$')
    assert.are.equal('2', e)
    close(0.64, tonumber(loss), 'loss of epoch 2')
    close(0.64 ^ 2, tonumber(vl), 'val_loss of epoch 2')
  end)

  it('resumes from a checkpoint with the val_ lists and val_epoch as one run has them', function()
    local whole = fit(square_model(1, 0.1), { epochs = 5, validation_freq = 2 })
    local ck = { path = dir .. '/resume.safetensors' }
    local m = square_model(1, 0.1)
    fit(m, { epochs = 3, validation_freq = 2, checkpoint = ck })
    local h = fit(m, { epochs = 5, validation_freq = 2, checkpoint = ck, resume = true })
    assert.are.same(whole.val_epoch, h.val_epoch)
    assert.are.same(whole.val_loss, h.val_loss)
    assert.are.same(whole.loss, h.loss)
  end)

  it('refuses a validation_freq that is not an epoch count or a list of epochs, naming fit', function()
    local m = square_model(1, 0.1)
    for _, bad in ipairs({ 0, 1.5, -2, 'x', true, math.huge }) do
      contains(errmsg(fit, m, { epochs = 1, validation_freq = bad }),
               'fit: validation_freq must be a whole number of epochs >= 1 or a list of epoch numbers (from 1), got')
    end
    contains(errmsg(fit, m, { epochs = 1, validation_freq = { 1, 0 } }),
             'fit: validation_freq entry 2 must be an epoch number (a whole number >= 1')
    contains(errmsg(fit, m, { epochs = 1, validation_freq = { a = 1 } }), 'fit: validation_freq must be')
    local X, y = ones_zeros(1)
    contains(errmsg(m.fit, m, X, y, { epochs = 1, verbose = 0, validation_freq = 2 }),
             'fit: validation_freq needs validation_data or validation_split')
    -- a val_epoch is no monitor
    contains(errmsg(fit, m, { epochs = 1, validation_freq = 1, early_stopping = { monitor = 'val_epoch' } }),
             'fit: early_stopping.monitor must name a value this fit records (loss, val_loss)')
    -- nothing trained
    assert.are.equal(1, m.weight:item())
  end)
end)
