-- The examples in examples/, run in this process with short settings (arg[1]
-- the epochs, arg[2] an output dir) as `nnlua examples/X.lua` would run
-- them, and checked for the outcome each one promises: XOR solved, the
-- line y = 3x + 2 recovered, the classifiers' accuracy, the regression's
-- error against the target's variance, and Fashion-MNIST's checkpoint and
-- SVG, the checkpoint loading back into the same predictions.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local q, read = S.q, S.read

-- Runs examples/<name>.lua with the given arguments. Returns a table of its
-- results and the lines it printed.
local function run_example(name, ...)
  local path = S.root .. '/examples/' .. name .. '.lua'
  local saved_arg, saved_print = _G.arg, _G.print
  local lines = {}
  _G.arg = { [0] = path, ... }
  _G.print = function(...)
    local parts = {}
    for i = 1, select('#', ...) do parts[i] = tostring((select(i, ...))) end
    lines[#lines + 1] = table.concat(parts, '\t')
  end
  local res = { pcall(dofile, path) }
  _G.arg, _G.print = saved_arg, saved_print
  assert(res[1], tostring(res[2]))
  table.remove(res, 1)
  return res, lines
end

local function find_line(lines, pattern)
  for _, l in ipairs(lines) do
    local a, b, c = l:match(pattern)
    if a then return a, b, c end
  end
  error('no printed line matches ' .. pattern .. ':\n' .. table.concat(lines, '\n'))
end

describe('examples', function()
  it('xor.lua solves XOR (all 4 correct)', function()
    local res, lines = run_example('xor', '2000')
    assert.is_true(res[1], table.concat(lines, '\n'))
    assert(res[2] < 0.05, 'final loss ' .. tostring(res[2]))
    assert.are.equal('4', find_line(lines, '^solved: yes %((%d)/4 correct'))
  end)

  it('linear_regression.lua recovers w = 3, b = 2', function()
    local res = run_example('linear_regression', '200')
    local w, b = res[1], res[2]
    assert(math.abs(w - 3) < 0.05, 'w = ' .. tostring(w))
    assert(math.abs(b - 2) < 0.05, 'b = ' .. tostring(b))
  end)

  it('linear_regression_manual.lua recovers w = 3, b = 2 with tensor ops alone', function()
    local _, lines = run_example('linear_regression_manual', '500')
    local w, b = find_line(lines, '^learned y = (%-?[%d.]+)x %+ (%-?[%d.]+)')
    w, b = tonumber(w), tonumber(b)
    assert(math.abs(w - 3) < 0.05, 'w = ' .. tostring(w))
    assert(math.abs(b - 2) < 0.05, 'b = ' .. tostring(b))
    -- the step count is honoured: one line every 100 steps, and the first
    local steps = 0
    for _, l in ipairs(lines) do if l:find('^step') then steps = steps + 1 end end
    assert.are.equal(6, steps)
  end)

  it('logistic_regression.lua reaches test accuracy >= 0.95', function()
    local res = run_example('logistic_regression', '300')
    assert(res[1] >= 0.95 and res[1] <= 1, 'accuracy ' .. tostring(res[1]))
  end)

  it('regression_mlp.lua gets validation MSE under a tenth of the target variance', function()
    local res, lines = run_example('regression_mlp', '40')
    local val_mse, history = res[1], res[2]
    local printed, variance = find_line(lines, '^validation MSE ([%d.]+) %(target variance ([%d.]+)%)')
    variance = tonumber(variance)
    assert(variance > 0.3, 'variance ' .. variance)       -- the target is not trivial
    assert(S.close(tonumber(printed), val_mse, 0, 6e-6))
    assert(val_mse < 0.1 * variance, ('validation MSE %g, variance %g'):format(val_mse, variance))
    assert.are.equal(40, #history.loss)
    assert.are.equal(40, #history.val_mae)
    assert(S.close(history.val_loss[40], val_mse, 1e-6))
  end)

  describe('fashion_mnist_mlp.lua, one epoch', function()
    local out_dir, res, lines, saved_model
    setup(function()
      out_dir = os.tmpname()
      os.remove(out_dir)
      -- capture the model the example saves, to compare with what loads back
      local save = nn.Module.save
      nn.Module.save = function(self, ...)
        saved_model = self
        return save(self, ...)
      end
      local ok, err = pcall(function() res, lines = run_example('fashion_mnist_mlp', '1', out_dir) end)
      nn.Module.save = save
      assert(ok, err)
    end)
    teardown(function() os.execute('rm -rf ' .. q(out_dir)) end)

    it('reaches test accuracy >= 0.80', function()
      local acc, history = res[1], res[2]
      assert(acc >= 0.80 and acc <= 1, 'test accuracy ' .. tostring(acc))
      assert.are.equal(1, #history.loss)
      assert.are.equal(history.val_accuracy[1], acc)
      local pct = find_line(lines, '^test accuracy ([%d.]+)%%')
      assert(math.abs(tonumber(pct) - acc * 100) < 0.006)
    end)

    it('writes a checkpoint that loads back into the same predictions', function()
      local ckpt = out_dir .. '/fashion_mnist_mlp.safetensors'
      assert(saved_model, 'the example saved no model')
      local _, test = nl.data.fashion_mnist()
      local m1 = nn.load(ckpt)
      local m2 = nn.load(ckpt)
      assert.are.equal(saved_model:num_parameters(), m1:num_parameters())
      local few = test.X:narrow(1, 1, 16)
      local want = saved_model:predict(few)
      assert.are.same({ 16, 10 }, want:shape())
      assert.are.equal(0, (m1:predict(few) - want):abs():max():item())
      assert.are.equal(0, (m2:predict(few) - want):abs():max():item())
      -- the loaded model scores the test set as the example reported
      local pred = m1:predict(test.X):argmax(2)
      local acc = pred:eq(test.y):float():mean():item()
      assert(math.abs(acc - res[1]) < 1e-6, ('loaded model accuracy %g, example %g'):format(acc, res[1]))
    end)

    it('writes an SVG of the training curves', function()
      local svg = read(out_dir .. '/fashion_mnist_mlp_curves.svg')
      assert(svg:find('^%s*<svg'), 'not an SVG')
      assert(svg:find('</svg>%s*$'), 'the SVG is not closed')
      local n = 0
      for points in svg:gmatch('<polyline[^>]-points="([^"]*)"') do
        n = n + 1
        local k = 0
        for _ in points:gmatch('[^%s,]+,[^%s,]+') do k = k + 1 end
        assert.are.equal(1, k, 'one epoch, one point per curve')
      end
      assert.are.equal(4, n)     -- train and validation loss and accuracy
    end)
  end)
  it('every example refuses a count argument that is not a positive integer', function()
    -- {example, the argument list with the bad count, the count's name}
    local cases = {
      { 'xor', { 'abc' }, 'epochs' },
      { 'linear_regression', { '0' }, 'epochs' },
      { 'linear_regression_manual', { '2.5' }, 'steps' },
      { 'logistic_regression', { '-3' }, 'epochs' },
      { 'regression_mlp', { '1e' }, 'epochs' },
      { 'fashion_mnist_mlp', { 'x' }, 'epochs' },
      { 'fashion_mnist_cnn', { '1', 'build', 'many' }, 'train_images' },
      { 'fashion_mnist_ddp', { '1', 'build', '0.5' }, 'train_samples' },
      { 'char_rnn', { 'abc' }, 'steps' },
      { 'tiny_gpt', { '' }, 'steps' },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(run_example, c[1], unpack(c[2]))
      assert(not ok, c[1] .. ' ran with ' .. table.concat(c[2], ' '))
      err = tostring(err)
      assert(err:find('usage: [^\n]*examples/' .. c[1] .. '%.lua[^\n]*; ' .. c[3] .. ' must be a positive integer'),
        c[1] .. ': ' .. err)
    end
  end)
end)
