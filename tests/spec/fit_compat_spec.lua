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
