-- Keras's options of fit, evaluate and predict that nnlua took later:
-- verbose = 'auto', evaluate's sample_weight, steps_per_epoch,
-- validation_steps and evaluate's steps, Keras's metric names, labels
-- (N, 1) for the class losses. Each against closed forms: a 1 x 1 linear
-- model without bias whose outputs and losses are worked by hand.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local errmsg, contains = S.errmsg, S.contains

-- y = w x, w fixed, float64
local function line_model(w, opts)
  local m = nn.Linear(1, 1, { bias = false }):double()
  nl.no_grad(function() m.weight:fill_(w) end)
  m:compile(opts or { optimizer = 'sgd', lr = 0.1, loss = 'mse', metrics = { 'mae' } })
  return m
end
local function col(t) return nl.tensor(t, 'float64'):reshape(-1, 1) end

describe('verbose and evaluate sample_weight', function()
  -- outputs 2, 4, 6 against 0: squared errors 4, 16, 36, absolute 2, 4, 6
  local X, y = col({ 1, 2, 3 }), col({ 0, 0, 0 })

  it("evaluate weighs each sample's loss by sample_weight, as fit; the metrics are not weighted", function()
    local m = line_model(2)
    local W = nl.tensor({ 1, 0.5, 2 }, 'float64')
    for _, bs in ipairs({ 1, 2, 3 }) do
      local loss, mt = m:evaluate(X, y, { batch_size = bs, sample_weight = W })
      -- (4 * 1 + 16 * 0.5 + 36 * 2) / 3
      assert(S.close(loss, 28, 1e-14), ('batch_size %d: loss %.17g'):format(bs, loss))
      assert(S.close(mt.mae, 4, 1e-14))
    end
    assert(S.close(m:evaluate(X, y), 56 / 3, 1e-14))
    contains(errmsg(m.evaluate, m, X, y, { sample_weight = nl.ones(2, 'float64') }),
             'evaluate: sample_weight must hold one weight per sample, shape [3], got [2]')
    local ds = nl.data.TensorDataset(X, y)
    contains(errmsg(m.evaluate, m, ds, { sample_weight = W }), 'evaluate: sample_weight is not taken with a dataset')
  end)

  it("verbose = 'auto' is 1 in fit, evaluate and predict; evaluate and predict print a line", function()
    local out = S.run_luajit([[
local m = nl.nn.Linear(1, 1, { bias = false }):double()
nl.no_grad(function() m.weight:fill_(2) end)
m:compile { optimizer = 'sgd', lr = 0, loss = 'mse', metrics = { 'mae' } }
local X, y = nl.tensor({ { 1 }, { 2 }, { 3 } }, 'float64'), nl.zeros(3, 1, 'float64')
m:fit(X, y, { epochs = 1, batch_size = 3, verbose = 'auto' })
m:evaluate(X, y, { batch_size = 2, verbose = 'auto' })
m:evaluate(X, y, { batch_size = 2, verbose = 2, sample_weight = nl.tensor({ 1, 0.5, 2 }, 'float64') })
m:evaluate(X, y)
m:predict(X, { batch_size = 1, verbose = 'auto' })
m:predict(X, { verbose = 0 })
print('done')
]])
    contains(out, 'epoch 1/1 - loss 18.6667 - mae 4.0000')
    contains(out, 'evaluate 2/2 - loss 18.6667 - mae 4.0000')
    contains(out, 'evaluate 2/2 - loss 28.0000 - mae 4.0000')
    contains(out, 'predict 3/3')
    -- evaluate and predict are silent by default
    local _, n = out:gsub('evaluate ', '')
    assert.are.equal(2, n, out)
    local _, p = out:gsub('predict ', '')
    assert.are.equal(1, p, out)
    for _, f in ipairs({ 'evaluate', 'predict' }) do
      local m = line_model(2)
      local args = f == 'evaluate' and { X, y } or { X }
      args[#args + 1] = { verbose = 'loud' }
      contains(errmsg(m[f], m, unpack(args)), f .. ": expected verbose as 0, 1, 2, 'auto' or a boolean")
    end
  end)
end)

describe('steps_per_epoch, validation_steps and steps', function()
  -- w trained by SGD on (w x)^2 against 0: a step on row x makes w
  -- (1 - 2 lr x^2); rows 1, 2, 3 in order, batch_size 1
  local X, y = col({ 1, 2, 3 }), col({ 0, 0, 0 })
  local lr = 0.01
  -- the history of epochs of spe batches over the rows in order, the
  -- rows going on across the epochs (passes over the data repeating)
  local function by_hand(w, rows, spe, epochs)
    local loss, k = {}, 0
    for e = 1, epochs do
      local sum = 0
      for _ = 1, spe do
        local x = rows[k % #rows + 1]
        k = k + 1
        sum = sum + (w * x) ^ 2
        w = w * (1 - 2 * lr * x * x)
      end
      loss[e] = sum / spe
    end
    return loss, w
  end

  it('an epoch is steps_per_epoch batches, the data going on across epochs (tensors, dataset, loader)', function()
    local want, w = by_hand(1, { 1, 2, 3 }, 2, 3)
    local ds = nl.data.TensorDataset(X, y)
    local inputs = {
      { X, y, { batch_size = 1, shuffle = false } },
      { ds, { batch_size = 1, shuffle = false } },
      { nl.data.DataLoader(ds, { batch_size = 1 }) },
    }
    for i, args in ipairs(inputs) do
      local m = line_model(1, { optimizer = 'sgd', lr = lr, loss = 'mse' })
      local steps, seen = 0, nil
      local cb = { set_params = function(_, p) seen = p.steps end }
      local o = args[#args]
      if #args == 1 then o = {}; args[2] = o end
      o.steps_per_epoch, o.epochs, o.verbose, o.callbacks = 2, 3, 0, { cb }
      o.on_step = function() steps = steps + 1 end
      local h = m:fit(unpack(args))
      assert.are.equal(3, #h.loss)
      assert.are.equal(6, steps)
      assert.are.equal(2, seen)
      for e = 1, 3 do assert(S.close(h.loss[e], want[e], 1e-13), ('input %d epoch %d: %.17g, want %.17g'):format(
        i, e, h.loss[e], want[e])) end
      assert(S.close(m.weight:item(), w, 1e-13))
    end
  end)

  it('validation_steps validates on the first batches; evaluate and predict take steps', function()
    local m = line_model(2, { optimizer = 'sgd', lr = 0, loss = 'mse', metrics = { 'mae' } })
    local vl = nl.data.DataLoader(nl.data.TensorDataset(X, y), { batch_size = 1 })
    local h = m:fit(X, y, { epochs = 1, verbose = 0, validation_data = vl, validation_steps = 2 })
    -- rows 1 and 2: outputs 2 and 4
    assert(S.close(h.val_loss[1], 10, 1e-14))
    assert(S.close(h.val_mae[1], 3, 1e-14))
    local loss, mt = m:evaluate(X, y, { batch_size = 1, steps = 2 })
    assert(S.close(loss, 10, 1e-14))
    assert(S.close(mt.mae, 3, 1e-14))
    assert(S.close(m:evaluate(vl, { steps = 1 }), 4, 1e-14))
    assert.are.same({ { 2 }, { 4 } }, m:predict(X, { batch_size = 1, steps = 2 }):totable())
    assert.are.same({ { 2 } }, m:predict(vl, { steps = 1 }):totable())
    -- more steps than batches: every batch, as Keras's end of the data
    assert(S.close(m:evaluate(X, y, { batch_size = 1, steps = 9 }), 56 / 3, 1e-14))
  end)

  it("takes a DataLoader over an IterableDataset without len(): an epoch its pass, or steps_per_epoch", function()
    -- rows 1, 2, 3 streamed; #loader raises (no len()), as PyTorch's
    local Rows = nl.data.IterableDataset:extend('Rows')
    function Rows:iter()
      local i = 0
      return function()
        i = i + 1
        if i <= 3 then return X[i], y[i] end
      end
    end
    local L = nl.data.DataLoader(Rows(), { batch_size = 1 })
    assert.is_false(pcall(function() return #L end))
    -- each epoch the whole stream, params.steps nil (Keras's unknown)
    local m = line_model(1, { optimizer = 'sgd', lr = lr, loss = 'mse' })
    local seen, ends = 0, 0
    local cb = { set_params = function(_, p) seen = p.steps end, on_train_batch_end = function() ends = ends + 1 end }
    local want, w = by_hand(1, { 1, 2, 3 }, 3, 2)
    local h = m:fit(L, { epochs = 2, verbose = 0, callbacks = { cb } })
    assert.is_nil(seen)
    assert.are.equal(6, ends)
    for e = 1, 2 do assert(S.close(h.loss[e], want[e], 1e-13)) end
    assert(S.close(m.weight:item(), w, 1e-13))
    -- steps_per_epoch 2 over the stream's passes
    m = line_model(1, { optimizer = 'sgd', lr = lr, loss = 'mse' })
    want, w = by_hand(1, { 1, 2, 3 }, 2, 3)
    h = m:fit(L, { epochs = 3, verbose = 0, steps_per_epoch = 2 })
    for e = 1, 3 do assert(S.close(h.loss[e], want[e], 1e-13)) end
    assert(S.close(m.weight:item(), w, 1e-13))
    -- validation, evaluate and predict read it too: outputs 2, 4, 6
    m = line_model(2, { optimizer = 'sgd', lr = 0, loss = 'mse', metrics = { 'mae' } })
    h = m:fit(X, y, { epochs = 1, verbose = 0, validation_data = L, validation_steps = 2 })
    assert(S.close(h.val_loss[1], 10, 1e-14))
    assert(S.close(m:evaluate(L), 56 / 3, 1e-14))
    assert(S.close(m:evaluate(L, { steps = 1 }), 4, 1e-14))
    assert.are.same({ { 2 }, { 4 }, { 6 } }, m:predict(L):totable())
    -- (a len() that fails is an error, not a stream of unknown length)
    local Bad = Rows:extend('Bad')
    function Bad:len() return -1 end
    contains(errmsg(m.fit, m, nl.data.DataLoader(Bad(), { batch_size = 1 }), { verbose = 0 }),
             'Bad:len() must return a non-negative integer')
    -- a checkpoint every step, and a resume, go on through the stream
    local path = S.tmpdir() .. '/stream.st'
    m = line_model(1, { optimizer = 'sgd', lr = lr, loss = 'mse' })
    want, w = by_hand(1, { 1, 2, 3 }, 3, 2)
    h = m:fit(L, { epochs = 2, verbose = 0, checkpoint = { path = path, every = 1 } })
    assert(S.close(m.weight:item(), w, 1e-13))
    h = m:fit(L, { epochs = 2, verbose = 0, checkpoint = { path = path }, resume = true })
    assert.are.equal(2, #h.loss)
    assert(S.close(h.loss[2], want[2], 1e-13))
  end)

  it('refuses bad steps, validation_steps without validation data, and checkpoints', function()
    local m = line_model(2)
    local before = m.weight:item()
    for _, v in ipairs({ 0, 1.5, -1, 'x' }) do
      contains(errmsg(m.fit, m, X, y, { steps_per_epoch = v, verbose = 0 }),
               'fit: steps_per_epoch must be a positive whole number of batches')
      contains(errmsg(m.fit, m, X, y, { validation_steps = v, validation_split = 0.5, verbose = 0 }),
               'fit: validation_steps must be a positive whole number of batches')
      contains(errmsg(m.evaluate, m, X, y, { steps = v }), 'evaluate: steps must be a positive whole number')
      contains(errmsg(m.predict, m, X, { steps = v }), 'predict: steps must be a positive whole number')
    end
    contains(errmsg(m.fit, m, X, y, { validation_steps = 1, verbose = 0 }),
             'fit: validation_steps needs validation_data or validation_split')
    contains(errmsg(m.fit, m, X, y, { steps_per_epoch = 1, checkpoint = { path = S.tmpdir() .. '/c.st' } }),
             'fit: checkpoint is not taken with steps_per_epoch')
    assert.are.equal(before, m.weight:item())
  end)
end)

describe('stop_training', function()
  -- Keras 2 looks at model.stop_training after each batch and each
  -- epoch only: set in on_train_begin, the first batch and its epoch run
  it('set in on_train_begin ends fit after the first batch and its epoch, as Keras 2', function()
    local m = S.square_model(1, 0.1)
    local X, y = S.ones_zeros(3)
    local calls = {}
    local cb = {
      set_model = function(self, mm) self.model = mm end,
      on_train_begin = function(self) self.model.stop_training = true; calls[#calls + 1] = 'train_begin' end,
      on_epoch_begin = function(_, e) calls[#calls + 1] = 'epoch_begin ' .. e end,
      on_train_batch_end = function(_, b) calls[#calls + 1] = 'batch_end ' .. b end,
      on_epoch_end = function(_, e) calls[#calls + 1] = 'epoch_end ' .. e end,
      on_train_end = function() calls[#calls + 1] = 'train_end' end,
    }
    local h = m:fit(X, y, { epochs = 3, batch_size = 1, verbose = 0, callbacks = { cb } })
    assert.are.same({ 'train_begin', 'epoch_begin 1', 'batch_end 1', 'epoch_end 1', 'train_end' }, calls)
    -- the one batch's loss w^2 = 1, and one SGD step w (1 - 2 lr)
    assert.are.same({ 1 }, h.loss)
    assert.are.equal(0.8, m.weight:item())
  end)
end)

describe("Keras's metric names", function()
  it('computes mae, mse, mape and msle under their long names too, recorded as given', function()
    -- outputs 2, 4, 6 against 1, 1, 4
    local X, y = col({ 1, 2, 3 }), col({ 1, 1, 4 })
    local function msle_of(p, t) return (math.log(p + 1) - math.log(t + 1)) ^ 2 end
    local want = { mae = 2, mse = 14 / 3, mape = 100 * (1 + 3 + 0.5) / 3,
                   msle = (msle_of(2, 1) + msle_of(4, 1) + msle_of(6, 4)) / 3 }
    local names = { mean_absolute_error = 'mae', mean_squared_error = 'mse', mean_absolute_percentage_error = 'mape',
                    mean_squared_logarithmic_error = 'msle', mae = 'mae', mse = 'mse', mape = 'mape', msle = 'msle' }
    for given, what in pairs(names) do
      local m = line_model(2, { optimizer = 'sgd', lr = 0, loss = 'mse', metrics = { given } })
      local h = m:fit(X, y, { epochs = 1, batch_size = 2, verbose = 0, validation_data = { X, y } })
      assert(S.close(h[given][1], want[what], 1e-14), ('%s: %.17g, want %.17g'):format(given, h[given][1], want[what]))
      assert(S.close(h['val_' .. given][1], want[what], 1e-14))
      local _, mt = m:evaluate(X, y, { batch_size = 1 })
      assert(S.close(mt[given], want[what], 1e-14))
      if given ~= what then assert.is_nil(h[what]) end
    end
  end)

  it("takes acc, categorical_accuracy and sparse_categorical_accuracy; 'acc' is maximized", function()
    -- scores of 4 rows over 3 classes, the argmaxes 1, 2, 3, 1
    local P = nl.tensor({ { 3, 1, 0 }, { 0, 2, 1 }, { 1, 0, 5 }, { 2, 1, 1 } }, 'float64')
    local lin = nn.Linear(3, 3, { bias = false }):double()
    nl.no_grad(function() lin.weight:copy_(nl.eye(3, 'float64')) end)
    local cls = nl.tensor({ 1, 2, 1, 3 }, 'int64')          -- 2 of 4 right
    lin:compile { optimizer = 'sgd', lr = 0, loss = 'cross_entropy', metrics = { 'acc', 'sparse_categorical_accuracy' } }
    local h = lin:fit(P, cls, { epochs = 1, batch_size = 3, verbose = 0, validation_data = { P, cls } })
    assert.are.same({ 0.5 }, h.acc)
    assert.are.same({ 0.5 }, h.val_acc)
    assert.are.same({ 0.5 }, h.sparse_categorical_accuracy)
    assert.is_nil(h.accuracy)
    local onehot = nl.tensor({ { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 }, { 0, 0, 1 } }, 'float64')   -- 3 of 4
    lin:compile { optimizer = 'sgd', lr = 0, loss = 'mse', metrics = { 'categorical_accuracy' } }
    local _, mt = lin:evaluate(P, onehot, { batch_size = 3 })
    assert.are.equal(0.75, mt.categorical_accuracy)
    assert.are.equal('max', nl.callbacks.EarlyStopping { monitor = 'val_acc' }.options.mode)
    contains(errmsg(lin.compile, lin, { loss = 'mse', metrics = { 'sparse_categorical_accuracy' } }),
             "compile: metric 'sparse_categorical_accuracy' takes class indices")
    contains(errmsg(lin.compile, lin, { loss = 'cross_entropy', metrics = { 'mean_absolute_error' } }),
             "compile: metric 'mean_absolute_error' compares outputs with targets of their shape")
    contains(errmsg(lin.compile, lin, { loss = 'mse', metrics = { 'mae', 'mean_absolute_error' } }),
             "compile: metric 'mae' is listed twice (as 'mae' and 'mean_absolute_error')")
    lin:compile { optimizer = 'sgd', lr = 0, loss = 'cross_entropy', metrics = { 'categorical_accuracy' } }
    contains(errmsg(lin.evaluate, lin, P, cls), "evaluate: metric 'categorical_accuracy' compares the argmaxes")
  end)
end)

describe('class labels (N, 1)', function()
  -- an identity layer: the outputs are the inputs, probabilities whose
  -- argmaxes are 1, 2, 3, 1 against the labels 1, 2, 1, 3 (2 of 4 right)
  local P = nl.tensor({ { 0.7, 0.2, 0.1 }, { 0.1, 0.8, 0.1 }, { 0.3, 0.3, 0.4 }, { 0.5, 0.25, 0.25 } }, 'float64')
  local labels = { 1, 2, 1, 3 }
  local y1 = nl.tensor(labels, 'int64'):reshape(4, 1)
  local function ident(loss, metrics)
    local m = nn.Linear(3, 3, { bias = false }):double()
    nl.no_grad(function() m.weight:copy_(nl.eye(3, 'float64')) end)
    m:compile { optimizer = 'sgd', lr = 0, loss = loss, metrics = metrics or { 'accuracy' } }
    return m
  end
  -- each row's loss worked by hand: -log p[y], or logsumexp(x) - x[y]
  local function rows(ce)
    local out = {}
    for i, c in ipairs(labels) do
      local r = P:totable()[i]
      if ce then out[i] = math.log(math.exp(r[1]) + math.exp(r[2]) + math.exp(r[3])) - r[c]
      else out[i] = -math.log(r[c]) end
    end
    return out
  end
  local function mean(t, w)
    local s = 0
    for i, v in ipairs(t) do s = s + v * (w and w[labels[i]] or 1) end
    return s / #t
  end

  it('sparse_categorical_crossentropy, cross_entropy and nll take them, squeezed, as Keras', function()
    for _, case in ipairs({ { 'sparse_categorical_crossentropy', false }, { 'cross_entropy', true } }) do
      local m = ident(case[1], { 'accuracy', 'sparse_top_k_categorical_accuracy' })
      local want = mean(rows(case[2]))
      local h = m:fit(P, y1, { epochs = 1, batch_size = 3, verbose = 0, validation_data = { P, y1 } })
      assert(S.close(h.loss[1], want, 1e-14), ('%s: %.17g, want %.17g'):format(case[1], h.loss[1], want))
      assert.are.same({ 0.5 }, h.accuracy)
      assert.are.same({ 0.5 }, h.val_accuracy)
      assert.are.same({ 1 }, h.sparse_top_k_categorical_accuracy)
      local loss, mt = m:evaluate(P, y1, { batch_size = 3 })
      assert(S.close(loss, want, 1e-14))
      assert.are.equal(0.5, mt.accuracy)
      -- class_weight looks the weights up at the squeezed labels
      local cw = { [1] = 2, [2] = 1, [3] = 0.5 }
      h = m:fit(P, y1, { epochs = 1, batch_size = 4, verbose = 0, class_weight = cw })
      assert(S.close(h.loss[1], mean(rows(case[2]), cw), 1e-14))
    end
    local m = ident('nll')
    local loss = m:evaluate(P:log(), y1)
    assert(S.close(loss, mean(rows(false)), 1e-14))
  end)

  it('other shapes are errors naming the loss chosen, before any broadcast', function()
    local m = ident('sparse_categorical_crossentropy')
    local y2 = nl.tensor({ { 1, 2 }, { 2, 1 }, { 1, 1 }, { 3, 3 } }, 'int64')
    contains(errmsg(m.evaluate, m, P, y2), 'sparse_categorical_crossentropy: target must be int64 class indices (N) '
             .. 'or (N, 1) for probabilities [4,3], got int64 [4,2]')
    contains(errmsg(m.fit, m, P, y2, { verbose = 0 }), 'sparse_categorical_crossentropy: target must be')
    contains(errmsg(m.evaluate, m, P, nl.tensor(labels, 'float64')), 'got float64 [4]')
  end)
end)
