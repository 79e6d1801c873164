-- Keras's batch-by-batch methods (train_on_batch, test_on_batch,
-- predict_on_batch, reset_metrics), get_weights / set_weights, and
-- Sequential's pop. train_on_batch is checked against fit over the same
-- batches (bit for bit: one step serves both) and against SGD steps worked
-- in plain Lua; test_on_batch against evaluate on that batch; the weights
-- against the model's own tensors; bad input as errors naming the method.
local nl = require 'nnlua'
local S = require 'support'
local nn, optim = nl.nn, nl.optim

local errmsg, contains = S.errmsg, S.contains

-- 5 rows of 2 features, float64
local X = nl.tensor({ { 1, 2 }, { -1, 0.5 }, { 0.3, -2 }, { 2, 1 }, { -0.5, -1 } }, 'float64')
local y = nl.tensor({ { 1 }, { 0 }, { -1 }, { 2 }, { 0.5 } }, 'float64')
local W0, B0 = { 0.3, -0.2 }, 0.1

-- Linear(2, 1) at W0, B0, compiled with opts
local function linear(opts)
  local m = nn.Linear(2, 1):double()
  nl.no_grad(function()
    m.weight:copy_(nl.tensor({ W0 }, 'float64'))
    m.bias:fill_(B0)
  end)
  if opts then m:compile(opts) end
  return m
end

-- a small classifier with dropout and batch norm, its initial weights
-- drawn from seed
local function classifier(seed)
  nl.manual_seed(seed)
  return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
end
local function class_data()
  local r = S.rng(7)
  local xs, ys = {}, {}
  for i = 1, 12 do
    xs[i] = { r(), r(), r(), r() }
    ys[i] = (i % 3) + 1
  end
  return nl.tensor(xs), nl.tensor(ys, 'int64')
end

-- the batch's residuals p - t of the line at w, b over rows [a, a + n)
local function residuals(w, b, a, n)
  local xs, ts, r = X:totable(), y:totable(), {}
  for i = a, a + n - 1 do r[#r + 1] = xs[i][1] * w[1] + xs[i][2] * w[2] + b - ts[i][1] end
  return r
end
-- the gradient of mean(r^2) in w and b over rows [a, a + n)
local function mse_grad(w, b, a, n)
  local xs, r = X:totable(), residuals(w, b, a, n)
  local g = { 0, 0, 0 }
  for k = 1, n do
    local x = xs[a + k - 1]
    g[1], g[2], g[3] = g[1] + 2 * r[k] * x[1] / n, g[2] + 2 * r[k] * x[2] / n, g[3] + 2 * r[k] / n
  end
  return g
end

local function close(want, got, what)
  assert(math.abs(want - got) <= 1e-12 * math.max(1, math.abs(want)),
         ('%s: want %.17g, got %.17g'):format(what, want, got))
end

describe('train_on_batch', function()
  it('takes one SGD step, returning the batch\'s loss and metrics before it', function()
    local m = linear { optimizer = 'sgd', lr = 0.1, loss = 'mse', metrics = { 'mae' } }
    local out = m:train_on_batch(X:narrow(1, 1, 3), y:narrow(1, 1, 3))
    local r = residuals(W0, B0, 1, 3)
    local mse, mae = 0, 0
    for _, v in ipairs(r) do mse, mae = mse + v * v / 3, mae + math.abs(v) / 3 end
    assert.are.equal(2, #out)
    close(mse, out[1], 'loss')
    close(mae, out[2], 'mae')
    local g = mse_grad(W0, B0, 1, 3)
    local w = m.weight:totable()[1]
    close(W0[1] - 0.1 * g[1], w[1], 'w1')
    close(W0[2] - 0.1 * g[2], w[2], 'w2')
    close(B0 - 0.1 * g[3], m.bias:item(), 'b')
  end)

  it('keeps the optimizer\'s state from call to call (SGD momentum, two steps)', function()
    local m = linear { optimizer = 'sgd', lr = 0.05, momentum = 0.9, loss = 'mse' }
    local loss1 = m:train_on_batch(X:narrow(1, 1, 2), y:narrow(1, 1, 2))
    local loss2 = m:train_on_batch(X:narrow(1, 3, 3), y:narrow(1, 3, 3))
    assert.are.equal('number', type(loss1))      -- no metrics: the loss alone, as Keras's
    -- v1 = g1, p1 = p0 - lr v1; v2 = 0.9 v1 + g2, p2 = p1 - lr v2
    local g1 = mse_grad(W0, B0, 1, 2)
    local p1 = { W0[1] - 0.05 * g1[1], W0[2] - 0.05 * g1[2], B0 - 0.05 * g1[3] }
    local r2 = residuals({ p1[1], p1[2] }, p1[3], 3, 3)
    close((r2[1] ^ 2 + r2[2] ^ 2 + r2[3] ^ 2) / 3, loss2, 'second loss')
    local g2 = mse_grad({ p1[1], p1[2] }, p1[3], 3, 3)
    local w = m.weight:totable()[1]
    close(p1[1] - 0.05 * (0.9 * g1[1] + g2[1]), w[1], 'w1')
    close(p1[2] - 0.05 * (0.9 * g1[2] + g2[2]), w[2], 'w2')
    close(p1[3] - 0.05 * (0.9 * g1[3] + g2[3]), m.bias:item(), 'b')
  end)

  it('gives the weights and losses of fit over the same batches, bit for bit (Adam, dropout, batch norm)', function()
    local Xc, yc = class_data()
    local a, b = classifier(3), classifier(3)
    for _, m in ipairs({ a, b }) do
      m:compile { optimizer = 'adam', lr = 0.01, loss = 'cross_entropy', metrics = { 'accuracy' } }
    end
    local steps = {}
    nl.manual_seed(11)
    local h = a:fit(Xc, yc, { epochs = 1, batch_size = 5, shuffle = false, verbose = 0,
                              on_step = function(_, _, l) steps[#steps + 1] = l end })
    nl.manual_seed(11)
    local last
    for k, start in ipairs({ 1, 6, 11 }) do
      local n = math.min(5, 12 - start + 1)
      last = b:train_on_batch(Xc:narrow(1, start, n), yc:narrow(1, start, n), { reset_metrics = false })
      -- (the first call's running loss is its batch's own)
      if k == 1 then assert.are.equal(steps[1], last[1]) end
    end
    -- reset_metrics = false: the running loss and accuracy, fit's epoch values
    assert.are.equal(h.loss[1], last[1])
    assert.are.equal(h.accuracy[1], last[2])
    local wa, na = a:get_weights()
    local wb, nb = b:get_weights()
    assert.are.same(na, nb)
    for i = 1, #wa do S.same_bits(wa[i], wb[i], na[i]) end
  end)

  it('steps a closure optimizer (LBFGS) as fit does', function()
    local a = linear()
    a:compile { optimizer = optim.LBFGS(a:parameters(), { max_iter = 5 }), loss = 'mse' }
    local b = linear()
    b:compile { optimizer = optim.LBFGS(b:parameters(), { max_iter = 5 }), loss = 'mse' }
    local steps = {}
    a:fit(X, y, { epochs = 1, batch_size = 5, shuffle = false, verbose = 0,
                  on_step = function(_, _, l) steps[#steps + 1] = l end })
    local l = b:train_on_batch(X, y)
    assert.are.equal(steps[1], l)
    S.same_bits(a.weight, b.weight, 'weight')
    S.same_bits(a.bias, b.bias, 'bias')
    -- it moved (the first evaluation's loss is the initial one)
    assert.is_true(b:test_on_batch(X, y) < l)
  end)

  it('weighs the loss by sample_weight and class_weight as fit does', function()
    local Xc, yc = class_data()
    local cases = { { class_weight = { 1, 3, 0.5 } }, { sample_weight = nl.linspace(0.5, 2, 12) } }
    for _, opts in ipairs(cases) do
      local a, b = classifier(5), classifier(5)
      for _, m in ipairs({ a, b }) do m:compile { optimizer = 'sgd', lr = 0.1, loss = 'cross_entropy' } end
      local fo = { epochs = 1, batch_size = 12, shuffle = false, verbose = 0 }
      for k, v in pairs(opts) do fo[k] = v end
      nl.manual_seed(2)
      local h = a:fit(Xc, yc, fo)
      nl.manual_seed(2)
      assert.are.equal(h.loss[1], b:train_on_batch(Xc, yc, opts))
      local wa, wb = a:get_weights(), b:get_weights()
      for i = 1, #wa do S.same_bits(wa[i], wb[i], 'weight ' .. i) end
    end
  end)

  it('gives a table by name with return_dict, and resets the metrics unless told not to', function()
    local m = linear { optimizer = 'sgd', lr = 0, loss = 'mse', metrics = { 'mae', 'mse' } }
    local d = m:train_on_batch(X:narrow(1, 1, 2), y:narrow(1, 1, 2), { return_dict = true })
    local l = m:train_on_batch(X:narrow(1, 1, 2), y:narrow(1, 1, 2))
    assert.are.same({ loss = l[1], mae = l[2], mse = l[3] }, d)
    -- lr 0: the weights stay, so running values are those of the rows so far
    local r = residuals(W0, B0, 1, 5)
    local s2, s5 = (r[1] ^ 2 + r[2] ^ 2), 0
    for _, v in ipairs(r) do s5 = s5 + v * v end
    m:train_on_batch(X:narrow(1, 1, 2), y:narrow(1, 1, 2), { reset_metrics = false })
    local run = m:train_on_batch(X:narrow(1, 3, 3), y:narrow(1, 3, 3), { reset_metrics = false })
    close(s5 / 5, run[1], 'running loss')
    close(s5 / 5, run[3], 'running mse')
    -- test_on_batch adds to the same running values (Keras's one set of metrics)
    local t = m:test_on_batch(X:narrow(1, 1, 2), y:narrow(1, 1, 2), { reset_metrics = false })
    close((s5 + s2) / 7, t[1], 'running loss with a test batch')
    -- a call with reset_metrics (the default) reports its batch, and the next starts afresh
    close(s2 / 2, m:train_on_batch(X:narrow(1, 1, 2), y:narrow(1, 1, 2))[1], 'reset')
    m:train_on_batch(X:narrow(1, 1, 2), y:narrow(1, 1, 2), { reset_metrics = false })
    m:reset_metrics()
    close((s5 - s2) / 3, m:train_on_batch(X:narrow(1, 3, 3), y:narrow(1, 3, 3), { reset_metrics = false })[1],
          'after reset_metrics')
  end)

  it('keeps the running values of the calls before one that failed in a metric', function()
    local m = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()):double()
    m:compile { optimizer = 'sgd', lr = 0, loss = 'mse', metrics = { 'mae', 'auc' } }
    local t = (y:gt(0.5)):double()
    local a = m:test_on_batch(X:narrow(1, 1, 2), t:narrow(1, 1, 2), { reset_metrics = false })
    -- NaN inputs give a NaN loss, which the tally took before AUC refused the outputs
    contains(errmsg(m.train_on_batch, m, X:narrow(1, 1, 2) * (0 / 0), t:narrow(1, 1, 2), { reset_metrics = false }),
             "train_on_batch: metric 'auc' reads probabilities in [0, 1], got NaN among the outputs [2,1]")
    local b = m:test_on_batch(X:narrow(1, 1, 2), t:narrow(1, 1, 2), { reset_metrics = false })
    close(a[1], b[1], 'running loss')
    close(a[2], b[2], 'running mae')
    close(a[3], b[3], 'running auc')
  end)

  it('refuses bad input, naming train_on_batch', function()
    local m = linear()
    contains(errmsg(m.train_on_batch, m, X, y), 'train_on_batch: call model:compile{...} first')
    contains(errmsg(m.test_on_batch, m, X, y), 'test_on_batch: call model:compile{...} first')
    m:compile { optimizer = 'sgd', loss = 'mse' }
    contains(errmsg(m.train_on_batch, m, X, y:narrow(1, 1, 4)),
             'train_on_batch: X and y must have the same number of samples, got shapes [5,2] and [4,1]')
    contains(errmsg(m.train_on_batch, m, X, y, { epochs = 2 }), 'epochs')
    contains(errmsg(m.train_on_batch, m, X, y, { reset_metrics = 1 }), 'reset_metrics as a boolean')
    contains(errmsg(m.train_on_batch, m, X, y, { sample_weight = nl.ones(4) }),
             'train_on_batch: sample_weight must hold one weight per sample, shape [5], got [4]')
    contains(errmsg(m.train_on_batch, m, X, y, { class_weight = { 1, 2 } }),
             'train_on_batch: class_weight weighs the classes of a classification loss')
    contains(errmsg(m.train_on_batch, m, X, y, { class_weight = { 1 }, sample_weight = nl.ones(5) }),
             'train_on_batch: give class_weight or sample_weight, not both')
    contains(errmsg(m.test_on_batch, m, X, y, { class_weight = { 1 } }), 'class_weight')
    contains(errmsg(m.predict_on_batch, m, nl.tensor(1)), 'predict_on_batch: x must have a batch dim')
    contains(errmsg(m.predict_on_batch, m, X, {}), 'predict_on_batch: takes (x)')
    -- a failed call changed nothing
    assert.are.same({ W0 }, m.weight:totable())
  end)
end)

describe('test_on_batch and predict_on_batch', function()
  it('equal evaluate and predict on the batch, in eval mode, without the tape or an update', function()
    local Xc, yc = class_data()
    local m = classifier(9)
    m:compile { optimizer = 'sgd', lr = 0.5, loss = 'cross_entropy', metrics = { 'accuracy' } }
    m:fit(Xc, yc, { epochs = 1, batch_size = 4, verbose = 0 })    -- running statistics of their own
    m:zero_grad()
    local before = m:get_weights()
    local w = nl.linspace(0.1, 1.2, 12, 'float32')
    local loss, metrics = m:evaluate(Xc, yc)
    local out = m:test_on_batch(Xc, yc)
    assert.are.equal(loss, out[1])
    assert.are.equal(metrics.accuracy, out[2])
    assert.are.equal(m:evaluate(Xc, yc, { sample_weight = w }), m:test_on_batch(Xc, yc, { sample_weight = w })[1])
    assert.are.same({ loss = loss, accuracy = metrics.accuracy }, m:test_on_batch(Xc, yc, { return_dict = true }))
    local p = m:predict_on_batch(Xc)
    S.same_bits(m:predict(Xc), p, 'predict_on_batch')
    assert.is_false(p.is_requires_grad, 'predict_on_batch output is on the tape')
    for i, t in ipairs(m:get_weights()) do S.same_bits(before[i], t, 'weight ' .. i) end
    assert.is_nil(m[1].weight.grad)
    -- the modes put back: fit left it training
    assert.is_true(m.training and m[4].training)
  end)
end)

describe('get_weights and set_weights', function()
  it('give copies in state dict order, and copy a list back into the model\'s own tensors', function()
    local a, b = classifier(1), classifier(2)
    local list, names = a:get_weights()
    assert.are.same({ '0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var',
                      '1.num_batches_tracked', '4.weight', '4.bias' }, names)
    assert.are.same(a:state_names(), names)
    assert.are.equal('int64', list[7]:dtype())
    -- copies: changing one leaves the model alone
    nl.no_grad(function() list[1]:fill_(7) end)
    assert.are_not.equal(7, a[1].weight:totable()[1][1])
    list = a:get_weights()
    b:compile { optimizer = 'sgd', lr = 0.1, loss = 'cross_entropy' }
    local held = b[1].weight
    assert.are.equal(b, b:set_weights(list))
    assert.are.equal(held, b[1].weight)
    for i, t in ipairs(b:get_weights()) do S.same_bits(list[i], t, names[i]) end
    -- the compiled optimizer still steps the model's tensors
    local Xc, yc = class_data()
    b:train_on_batch(Xc, yc)
    assert.are_not.equal(list[1]:totable()[1][1], b[1].weight:totable()[1][1])
    assert.are.equal(held, b.optimizer.param_groups[1].params[1])
  end)

  it('lists a tied weight once', function()
    local l1, l2 = nn.Linear(3, 3), nn.Linear(3, 3)
    l2.weight = l1.weight
    local m = nn.Sequential(l1, l2)
    local list, names = m:get_weights()
    assert.are.same({ '0.weight', '0.bias', '1.bias' }, names)
    assert.are.equal(3, #list)
  end)

  it('refuses a list of another count, shape or dtype, naming the weight, and copies nothing then', function()
    local m = classifier(1)
    local list = m:get_weights()
    local first = list[1]:clone()
    nl.no_grad(function() list[1]:fill_(3) end)
    local short = { unpack(list, 1, 8) }
    contains(errmsg(m.set_weights, m, short),
             'set_weights: the model has 9 weights (its parameters and buffers in state dict order), got a list of 8')
    local bad = { unpack(list) }
    bad[8] = nl.zeros(8, 3)
    contains(errmsg(m.set_weights, m, bad),
             'set_weights: weight 8 (4.weight) has shape [3,8] in the model, got shape [8,3]')
    bad[8] = list[8]:double()
    contains(errmsg(m.set_weights, m, bad), 'set_weights: weight 8 (4.weight) is float32 [3,8] in the model, got float64 [3,8]')
    bad[8] = 'w'
    contains(errmsg(m.set_weights, m, bad), 'set_weights: weight 8 (4.weight) must be a tensor')
    contains(errmsg(m.set_weights, m, nil), 'set_weights: expected a list of tensors')
    contains(errmsg(m.set_weights, m, { a = list[1] }), 'set_weights: expected a list of tensors')
    S.same_bits(first, m[1].weight, 'unchanged')
  end)

  it('reads a list of the model\'s own tensors before writing any (two weights swapped)', function()
    local m = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    local w1, b1, w2, b2 = m[1].weight:clone(), m[1].bias:clone(), m[2].weight:clone(), m[2].bias:clone()
    -- (copied in order, 0.weight took 1.weight's values and 1.weight then 0.weight's new ones: w2 twice)
    m:set_weights({ m[2].weight, m[2].bias, m[1].weight, m[1].bias })
    S.same_bits(w2, m[1].weight, '0.weight')
    S.same_bits(b2, m[1].bias, '0.bias')
    S.same_bits(w1, m[2].weight, '1.weight')
    S.same_bits(b1, m[2].bias, '1.bias')
    -- views of them too: the transposes
    m:set_weights({ m[1].weight:t(), m[1].bias, m[2].weight:t(), m[2].bias })
    S.same_bits(w2:t():contiguous(), m[1].weight, '0.weight transposed')
    S.same_bits(w1:t():contiguous(), m[2].weight, '1.weight transposed')
  end)
end)

describe('Sequential:pop', function()
  it('removes the last item (or one by index), renumbering those after it', function()
    local l1, l2, l3 = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    local s = nn.Sequential(l1, l2, l3)
    assert.are.equal(l3, s:pop())
    assert.are.equal(2, #s)
    assert.are.same({ '0.weight', '0.bias' }, s:state_names())
    local x = nl.tensor({ { 1, -2 } })
    S.same_bits(l1(x):relu(), s(x), 'forward after pop')
    s:add(l3)
    assert.are.same({ '0.weight', '0.bias', '2.weight', '2.bias' }, s:state_names())
    assert.are.equal(l1, s:pop(1))
    assert.are.same({ '1.weight', '1.bias' }, s:state_names())
    assert.are.equal(l2, s[1])
    assert.are.equal(l2, s:pop(-2))
    assert.are.equal(l3, s[1])
    assert.are.equal(l3, s:pop())
    contains(errmsg(s.pop, s), 'Sequential:pop: the container is empty')
    local ml = nn.ModuleList({ l1, l2 })
    assert.are.equal(l2, ml:pop())
    assert.are.equal(1, #ml)
    contains(errmsg(ml.pop, ml, 3), 'ModuleList:pop: index 3 out of range for 1 items')
    contains(errmsg(ml.pop, ml, 0), 'ModuleList:pop: index 0 is not an item')
  end)

  it('of a trained model: train_on_batch asks for a new compile, naming pop', function()
    local s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)):double()
    s:compile { optimizer = 'adam', loss = 'mse' }
    s:train_on_batch(X, y)
    s:pop()
    s:add(nn.Linear(3, 1):double())
    contains(errmsg(s.train_on_batch, s, X, y), 'pop or a new layer changes them); compile again')
    s:compile { optimizer = 'adam', loss = 'mse' }
    assert.are.equal('number', type(s:train_on_batch(X, y)))
  end)
end)
