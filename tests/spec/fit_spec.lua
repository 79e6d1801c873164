-- Keras-style training: model:compile / fit / evaluate / predict and
-- nl.plot. The history has one entry per epoch and matches the lines fit
-- prints when stdout is not a terminal; evaluate and predict agree with the
-- same computation done by hand in eval mode over the whole set; predict
-- and evaluate leave the model's modes as they were; misuse raises errors
-- that name the problem; the SVG from nl.plot is well-formed and draws the
-- history it was given.
local nl = require 'nnlua'
local S = require 'support'
local nn, optim = nl.nn, nl.optim
local F = nn.functional

local q, read, errmsg, contains = S.q, S.read, S.errmsg, S.contains
local dir = S.tmpdir()

-- n samples of 3 Gaussian-ish clouds in 4 dims, from our own LCG: X (n, 4)
-- float32 and y (n) int64 labels 1..3 (a learnable toy problem)
local function blobs(n, seed)
  local r = S.rng(seed)
  local centers = { { 2, 0, 0, 1 }, { -2, 1, 0, -1 }, { 0, -2, 2, 0 } }
  local X, y = {}, {}
  for i = 1, n do
    local c = (i - 1) % 3 + 1
    local row = {}
    for j = 1, 4 do row[j] = centers[c][j] + r(-1.2, 1.2) end
    X[i], y[i] = row, c
  end
  return nl.tensor(X), nl.tensor(y, 'int64')
end

local function classifier()
  return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
end

local function maxdiff(a, b) return (a - b):abs():max():item() end

-- the training flag of every module, in order
local function modes(m)
  local out = {}
  for i, sub in ipairs(m:modules()) do out[i] = sub.training end
  return out
end

describe('fit', function()
  local X, y = blobs(240, 1)
  local Xv, yv = blobs(90, 2)

  it('returns one history entry per epoch and the loss decreases', function()
    nl.manual_seed(1)
    local model = classifier()
    model:compile { optimizer = 'adam', lr = 0.01, loss = 'cross_entropy', metrics = { 'accuracy' } }
    local h = model:fit(X, y, { epochs = 6, batch_size = 32, validation_data = { Xv, yv }, verbose = 0 })
    for _, k in ipairs({ 'loss', 'val_loss', 'accuracy', 'val_accuracy' }) do
      assert.are.equal(6, #h[k], k)
      for e = 1, 6 do
        local v = h[k][e]
        assert(type(v) == 'number' and v == v and v >= 0, ('%s[%d] = %s'):format(k, e, tostring(v)))
        if k:find('accuracy') then assert(v <= 1, k .. ' over 1') end
      end
    end
    assert(h.loss[6] < 0.5 * h.loss[1], ('loss went from %g to %g'):format(h.loss[1], h.loss[6]))
    assert(h.val_loss[6] < h.val_loss[1])
    assert(h.val_accuracy[6] >= 0.9, 'val accuracy ' .. h.val_accuracy[6])
    -- the last validation entry is the model as fit left it, in eval mode
    local vl, vm = model:evaluate(Xv, yv)
    assert(S.close(h.val_loss[6], vl, 1e-6, 1e-7), ('val_loss %g, evaluate %g'):format(h.val_loss[6], vl))
    assert.are.equal(h.val_accuracy[6], vm.accuracy)
  end)

  it('has no validation entries without validation_data, and one list per metric', function()
    nl.manual_seed(2)
    local model = nn.Linear(4, 3)
    model:compile { optimizer = 'sgd', lr = 0.1, loss = 'cross_entropy', metrics = { 'acc' } }
    local h = model:fit(X, y, { epochs = 2, batch_size = 64, verbose = 0 })
    assert.are.equal(2, #h.loss)
    assert.are.equal(2, #h.acc)
    assert.is_nil(h.val_loss)
    assert.is_nil(h.val_acc)
  end)

  it('prints one line per epoch when stdout is a pipe, with the values in the history', function()
    local script = os.tmpname() .. '.lua'
    local f = assert(io.open(script, 'w'))
    f:write(S.path_prelude, ([[
local nl = require 'nnlua'
local nn = nl.nn
nl.manual_seed(3)
local function labels(n)
  local t = {}
  for i = 1, n do t[i] = (i - 1) %% 3 + 1 end
  return nl.tensor(t, 'int64')
end
local X, y = nl.randn(100, 4), labels(100)
local Xv, yv = nl.randn(40, 4), labels(40)
local model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
model:compile { optimizer = 'adam', lr = 0.01, loss = 'cross_entropy', metrics = { 'accuracy' } }
local h = model:fit(X, y, { epochs = 4, batch_size = 16, validation_data = { Xv, yv }, verbose = %d })
print('HISTORY')
for e = 1, 4 do
  print(('%%.17g %%.17g %%.17g %%.17g'):format(h.loss[e], h.accuracy[e], h.val_loss[e], h.val_accuracy[e]))
end
]]):format(1))
    f:close()
    local p = assert(io.popen('luajit ' .. q(script) .. ' 2>&1'))
    local out = p:read('*a')
    p:close()
    os.remove(script)
    assert.is_nil(out:find('[\r\27]'), 'terminal control characters in piped output: ' .. out)
    local before, after = out:match('^(.-)HISTORY\n(.*)$')
    assert(before, 'no HISTORY marker in: ' .. out)
    local lines = {}
    for l in before:gmatch('([^\n]*)\n') do lines[#lines + 1] = l end
    assert.are.equal(4, #lines, 'expected 4 epoch lines, got:\n' .. before)
    local hist = {}
    for l in after:gmatch('([^\n]+)') do
      local row = {}
      for v in l:gmatch('%S+') do row[#row + 1] = tonumber(v) end
      hist[#hist + 1] = row
    end
    assert.are.equal(4, #hist)
    for e, l in ipairs(lines) do
      contains(l, ('epoch %d/4'):format(e))
      local vals = {}
      for field in (l .. ' - '):gmatch('(.-) %- ') do
        local name, v = field:match('^(%a[%w_]*) (%-?[%d.]+)$')
        if name then vals[name] = tonumber(v) end
      end
      for i, name in ipairs({ 'loss', 'accuracy', 'val_loss', 'val_accuracy' }) do
        assert(vals[name], ('no %s in %q'):format(name, l))
        assert(math.abs(vals[name] - hist[e][i]) <= 5.1e-5,
               ('epoch %d: printed %s %s, history %.6f'):format(e, name, vals[name], hist[e][i]))
      end
    end
  end)

  it('prints nothing with verbose = 0', function()
    local saved = _G.print
    local printed = 0
    _G.print = function() printed = printed + 1 end
    local ok, err = pcall(function()
      local model = nn.Linear(4, 3)
      model:compile { loss = 'cross_entropy' }
      model:fit(X, y, { epochs = 2, verbose = 0 })
    end)
    _G.print = saved
    assert(ok, err)
    assert.are.equal(0, printed)
  end)

  it('uses an optimizer object given to compile', function()
    nl.manual_seed(4)
    local model = nn.Linear(4, 3)
    local opt = optim.Adam(model:parameters(), { lr = 0.02 })
    model:compile { optimizer = opt, loss = 'cross_entropy' }
    model:fit(X, y, { epochs = 2, batch_size = 48, verbose = 0 })   -- 5 batches an epoch
    assert.are.equal(10, opt.state[1].step)
    -- lr 0: the weights do not move, so no default optimizer stepped
    local frozen = nn.Linear(4, 3)
    local w0 = frozen.weight:clone()
    frozen:compile { optimizer = optim.SGD(frozen:parameters(), { lr = 0 }), loss = 'cross_entropy' }
    frozen:fit(X, y, { epochs = 1, verbose = 0 })
    assert.are.equal(0, maxdiff(w0, frozen.weight))
  end)

  it('takes a loss module or a loss function', function()
    local Xr = nl.tensor(S.nested({ 50, 3 }, S.rng(5)))
    local yr = nl.tensor(S.nested({ 50, 2 }, S.rng(6)))
    local model = nn.Linear(3, 2)
    local want = F.l1_loss(model(Xr), yr):item()
    model:compile { loss = nn.L1Loss() }
    assert(S.close(model:evaluate(Xr, yr), want, 1e-6))
    model:compile { loss = function(p, t) return F.l1_loss(p, t) * 2 end }
    assert(S.close(model:evaluate(Xr, yr), 2 * want, 1e-6))
  end)

  -- a loss module's accuracy was taken as thresholds at 0.5 (0.25 for
  -- logits of 0.25 against 3 ones in 4, which predict 1 everywhere)
  it('a classification loss module gives accuracy as its name would; a loss function with accuracy is refused', function()
    local m = nn.Linear(1, 1)
    nl.no_grad(function() m.weight:fill_(0); m.bias:fill_(0.25) end)
    local X, y = nl.tensor({ { 1 }, { 2 }, { 3 }, { 4 } }), nl.tensor({ { 1 }, { 1 }, { 1 }, { 0 } })
    m:compile { optimizer = 'sgd', lr = 0, loss = nn.BCEWithLogitsLoss(), metrics = { 'accuracy' } }
    assert.are.equal(0.75, select(2, m:evaluate(X, y)).accuracy)
    local c = nn.Linear(2, 3)
    c:compile { optimizer = 'sgd', lr = 0, loss = nn.CrossEntropyLoss({ label_smoothing = 0.1 }), metrics = { 'accuracy' } }
    local Xc, yc = nl.tensor(S.nested({ 10, 2 }, S.rng(9))), nl.tensor({ 1, 2, 3, 1, 2, 3, 1, 2, 3, 1 }, 'int64')
    local want = c(Xc):argmax(2):eq(yc):sum():item() / 10
    assert.are.equal(want, select(2, c:evaluate(Xc, yc)).accuracy)
    -- class probabilities (a float target of the output's shape), as
    -- cross_entropy takes them: their argmaxes, in a batch of as many rows
    -- as classes too (the probabilities broadcast against the argmaxes)
    for _, n in ipairs({ 10, 3 }) do
      local Xp = Xc:narrow(1, 1, n)
      local yp = nl.tensor(S.nested({ n, 3 }, S.rng(11))):softmax(2)
      local acc = c(Xp):argmax(2):eq(yp:argmax(2)):sum():item() / n
      for _, loss in ipairs({ 'cross_entropy', nn.CrossEntropyLoss() }) do
        c:compile { optimizer = 'sgd', lr = 0, loss = loss, metrics = { 'accuracy' } }
        local l, mt = c:evaluate(Xp, yp)
        assert.are.equal(acc, mt.accuracy)
        assert(S.close(l, F.cross_entropy(c(Xp), yp):item(), 1e-6), tostring(l))
      end
    end
    local ok, err = pcall(m.compile, m, { loss = function(p, t) return F.l1_loss(p, t) end, metrics = { 'accuracy' } })
    assert.is_false(ok)
    assert.is_truthy(err:find("metric 'accuracy' with a loss function", 1, true), err)
  end)
end)

describe('evaluate', function()
  local X, y = blobs(300, 7)    -- not a multiple of the batch size
  local model
  setup(function()
    nl.manual_seed(7)
    model = classifier()
    model:compile { optimizer = 'adam', lr = 0.01, loss = 'cross_entropy', metrics = { 'accuracy' } }
    model:fit(X, y, { epochs = 2, batch_size = 32, verbose = 0 })
  end)

  -- the loss and accuracy over the whole set, by hand, in eval mode
  local function by_hand()
    model:eval()
    local loss, correct
    nl.no_grad(function()
      local out = model(X)
      loss = F.cross_entropy(out, y):item()
      correct = 0
      local o, labels = out:totable(), y:totable()
      for i = 1, #o do
        local best = 1
        for j = 2, 3 do if o[i][j] > o[i][best] then best = j end end
        if best == labels[i] then correct = correct + 1 end
      end
    end)
    model:train()
    return loss, correct / #y:totable()
  end

  it('returns the loss and metrics of the whole set in eval mode', function()
    local want_loss, want_acc = by_hand()
    for _, bs in ipairs({ 256, 7, 1000 }) do
      local loss, m = model:evaluate(X, y, { batch_size = bs })
      assert(S.close(loss, want_loss, 1e-5), ('batch %d: loss %.8g, by hand %.8g'):format(bs, loss, want_loss))
      assert(S.close(m.accuracy, want_acc, 1e-12), ('batch %d: accuracy %g, by hand %g'):format(bs, m.accuracy, want_acc))
    end
    -- dropout is off: the same result twice
    assert.are.equal(model:evaluate(X, y), model:evaluate(X, y))
  end)

  it('computes mae as the mean absolute error over every output', function()
    local Xr = nl.tensor(S.nested({ 70, 3 }, S.rng(8)))
    local yr = nl.tensor(S.nested({ 70, 2 }, S.rng(9)))
    local reg = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    reg:compile { loss = 'mse', metrics = { 'mae' } }
    local loss, m = reg:evaluate(Xr, yr, { batch_size = 32 })
    reg:eval()
    local out = reg(Xr)
    reg:train()
    assert(S.close(loss, F.mse_loss(out, yr):item(), 1e-5))
    assert(S.close(m.mae, (out - yr):abs():mean():item(), 1e-5))
  end)

  it('leaves the training mode as it was', function()
    model:train()
    model:evaluate(X, y)
    assert.is_true(model.training)
    assert.is_true(model[4].training)
    model:eval()
    model:evaluate(X, y)
    assert.is_false(model.training)
    assert.is_false(model[4].training)
    model:train()
  end)

  it('leaves mixed modes as they were (a frozen BatchNorm stays in eval)', function()
    model:train()
    model[2]:eval()
    local want = modes(model)
    model:evaluate(X, y)
    assert.are.same(want, modes(model))
    model:train()
  end)
end)

describe('predict', function()
  local X = blobs(300, 11)    -- two batches of the default 256
  local model
  setup(function()
    nl.manual_seed(11)
    model = classifier()
    -- a few train-mode forwards give BatchNorm running statistics
    nl.no_grad(function() for _ = 1, 3 do model(X) end end)
  end)

  it('returns (N, out) in eval mode: equal calls, equal to eval forward', function()
    model:train()
    local a, b = model:predict(X), model:predict(X)
    assert.are.same({ 300, 3 }, a:shape())
    assert.are.equal(0, maxdiff(a, b))
    model:eval()
    local want = model(X)
    model:train()
    assert(maxdiff(a, want) <= 1e-5, 'predict differs from the eval-mode forward by ' .. maxdiff(a, want))
    assert.is_false(a.is_requires_grad, 'predict output is on the tape')
    -- in training mode the same model gives other outputs (dropout, batch stats)
    assert(maxdiff(model(X), want) > 1e-3)
  end)

  it('needs no compile and works with a custom batch size', function()
    local a = model:predict(X, { batch_size = 7 })
    assert.are.same({ 300, 3 }, a:shape())
    assert(maxdiff(a, model:predict(X)) <= 1e-5)
  end)

  it('leaves the training mode as it was', function()
    model:train()
    model:predict(X)
    assert.is_true(model.training)
    assert.is_true(model[4].training)
    model:eval()
    model:predict(X)
    assert.is_false(model.training)
    assert.is_false(model[4].training)
    model:train()
  end)

  it('leaves mixed modes as they were (a frozen BatchNorm stays in eval)', function()
    model:train()
    model[2]:eval()
    local want = modes(model)
    model:predict(X)
    assert.are.same(want, modes(model))
    model:train()
  end)

  -- a model of several outputs (a table of them), as Keras's: fit called
  -- detach on the table (a Lua error inside fit.lua), and predict over
  -- more than one batch failed in cat
  it('trains, evaluates and predicts a model of two outputs with a loss function of both', function()
    local Two = nn.Module:extend('FitTwoOutputs')
    function Two:init() self.lin = nn.Linear(4, 2) end
    function Two:forward(x)
      local h = self.lin(x)
      return { h, a = h:sum(2) }
    end
    local function loss(p, t) return F.mse_loss(p[1], t) + F.mse_loss(p.a, t:sum(2)) end
    nl.manual_seed(3)
    local m, Xt, yt = Two(), nl.randn(300, 4), nl.randn(300, 2)
    -- by hand: SGD over the batches in order, 128 a batch
    local ref = Two()
    ref:load_state_dict(m:state_dict())
    local want = 0
    for start = 1, 300, 128 do
      local n = math.min(128, 301 - start)
      local l = loss(ref(Xt:narrow(1, start, n)), yt:narrow(1, start, n))
      want = want + l:item() * n / 300
      ref:zero_grad()
      l:backward()
      nl.no_grad(function() for _, q in ipairs(ref:parameters()) do q:sub_(q.grad * 0.1) end end)
    end
    m:compile { optimizer = 'sgd', lr = 0.1, loss = loss }
    local h = m:fit(Xt, yt, { batch_size = 128, shuffle = false, verbose = 0 })
    assert(S.close(h.loss[1], want, 1e-6), ('%.9g, by hand %.9g'):format(h.loss[1], want))
    assert(maxdiff(m.lin.weight, ref.lin.weight) <= 1e-6)
    assert(S.close(m:evaluate(Xt, yt, { batch_size = 7 }), loss(ref(Xt), yt):item(), 1e-5))
    -- two batches of the default 256, each output joined
    local p, whole = m:predict(Xt), m(Xt)
    assert.are.same({ 300, 2 }, p[1]:shape())
    assert.are.same({ 300 }, p.a:shape())
    assert(maxdiff(p[1], whole[1]) <= 1e-6 and maxdiff(p.a, whole.a) <= 1e-6)
    -- a metric reads one tensor: an error naming it
    m:compile { optimizer = 'sgd', loss = loss, metrics = { 'mae' } }
    contains(errmsg(m.fit, m, Xt, yt, { verbose = 0 }), "fit: metric 'mae' reads the model's output as one tensor")
    contains(errmsg(m.evaluate, m, Xt, yt), "evaluate: metric 'mae' reads the model's output as one tensor")
  end)
end)

describe('compile and fit errors', function()
  local X, y = blobs(10, 3)

  it('fit and evaluate before compile', function()
    local model = nn.Linear(4, 3)
    local msg = errmsg(function() model:fit(X, y) end)   -- not a tail call: this line is the caller
    contains(msg, 'fit')
    contains(msg, 'compile')
    contains(msg, 'fit_spec.lua')       -- located at the caller's line
    contains(errmsg(model.evaluate, model, X, y), 'compile')
  end)

  it('X and y with different numbers of samples, naming both shapes', function()
    local model = nn.Linear(4, 3)
    model:compile { loss = 'cross_entropy' }
    local y7 = y:narrow(1, 1, 7)
    local msg = errmsg(model.fit, model, X, y7)
    contains(msg, '[10,4]')
    contains(msg, '[7]')
    msg = errmsg(model.evaluate, model, X, y7)
    contains(msg, '[10,4]')
    contains(msg, '[7]')
    msg = errmsg(model.fit, model, X, y, { validation_data = { X, y7 }, verbose = 0 })
    contains(msg, 'validation')
    contains(msg, '[7]')
  end)

  it('unknown optimizer, loss and metric names', function()
    local model = nn.Linear(4, 3)
    local msg = errmsg(model.compile, model, { optimizer = 'lbfgs' })     -- PyTorch's; nnlua has it not
    contains(msg, 'lbfgs')
    contains(msg, 'optimizer')
    msg = errmsg(model.compile, model, { loss = 'hinge' })
    contains(msg, 'hinge')
    contains(msg, 'loss')
    msg = errmsg(model.compile, model, { metrics = { 'f1' } })
    contains(msg, 'f1')
    contains(msg, 'metric')
    contains(errmsg(model.compile, model, { optimizer = 3 }), 'optimizer')
  end)

  -- an option these calls do not read was once dropped without a word (a
  -- misspelt epochs trained one epoch; weight_decay trained without it)
  it('options compile, fit, evaluate and predict do not read are errors that name them', function()
    local model = nn.Linear(4, 3)
    contains(errmsg(model.compile, model, { loss = 'cross_entropy', weight_decay = 0.5 }),
             "compile: unknown option 'weight_decay'")
    model:compile { loss = 'cross_entropy' }
    contains(errmsg(model.fit, model, X, y, { epoch = 5, verbose = 0 }), "fit: unknown option 'epoch'")
    contains(errmsg(model.fit, model, X, y, { verbose = 0, checkpoint = { path = dir .. '/c.st', evry = 2 } }),
             "fit (checkpoint): unknown option 'evry'")
    -- every = 0, 2.5 or NaN wrote no mid-epoch checkpoint, -1 acted as 1,
    -- 'x' failed after the first step on arithmetic
    for _, every in ipairs({ 0, 2.5, 0 / 0, -1, 'x', math.huge }) do
      contains(errmsg(model.fit, model, X, y, { verbose = 0, checkpoint = { path = dir .. '/c.st', every = every } }),
               'fit: checkpoint.every must be a positive whole number of steps, got ' .. tostring(every))
    end
    contains(errmsg(model.evaluate, model, X, y, { batchsize = 4 }), "evaluate: unknown option 'batchsize'")
    contains(errmsg(model.predict, model, X, { verbos = 0 }), "predict: unknown option 'verbos'")
    -- lr and momentum go to an optimizer made by name, and only where it has momentum
    contains(errmsg(model.compile, model, { optimizer = 'adam', momentum = 0.9 }), 'momentum')
    contains(errmsg(model.compile, model, { optimizer = optim.SGD(model:parameters(), { lr = 0.1 }), lr = 0.5 }),
             'lr and momentum apply to an optimizer given by name')
    model:compile { optimizer = 'rmsprop', momentum = 0.9, lr = 0.002, loss = 'mse' }
    local g = rawget(model, '_compiled').optimizer.param_groups[1]
    assert.are.same({ 0.9, 0.002 }, { g.momentum, g.lr })
  end)
end)

-- an optimizer over tensors that are not the model's stepped those: fit
-- trained nothing, its loss flat (compile, then :double(); or an
-- optimizer built on another model)
describe("the compiled optimizer and the model's parameters", function()
  local X, y = blobs(60, 5)
  X = X:double()

  it('one compile built by name is rebound to the tensors :double() made, and trains as if compiled after', function()
    nl.manual_seed(7)
    local a = nn.Linear(4, 3)
    local b = nn.Linear(4, 3)
    b:load_state_dict(a:state_dict())
    a:compile { optimizer = 'sgd', lr = 0.1, loss = 'cross_entropy' }
    a:double()
    -- a scheduler built on model.optimizer now is the one fit steps
    local sched = optim.StepLR(a.optimizer, { step_size = 1, gamma = 0.5 })
    b:double()
    b:compile { optimizer = 'sgd', lr = 0.1, loss = 'cross_entropy' }
    local sb = optim.StepLR(b.optimizer, { step_size = 1, gamma = 0.5 })
    local ha = a:fit(X, y, { epochs = 3, batch_size = 20, shuffle = false, verbose = 0, lr_scheduler = sched })
    local hb = b:fit(X, y, { epochs = 3, batch_size = 20, shuffle = false, verbose = 0, lr_scheduler = sb })
    assert(ha.loss[3] < ha.loss[1] - 0.05, ('loss %s -> %s'):format(ha.loss[1], ha.loss[3]))
    assert.are.same(hb.loss, ha.loss)
    assert.are.equal('float64', a.weight:dtype())
    assert.are.equal(0, maxdiff(a.weight, b.weight))
    assert.are.equal(0, maxdiff(a.bias, b.bias))
  end)

  it('refuses an optimizer of other tensors at compile and at fit, and one that stepped the old ones', function()
    local want = "optimizer's parameters are not this model's (build it on model:parameters(), after "
                 .. ':double()/:float())'
    local m = nn.Linear(4, 3)
    contains(errmsg(m.compile, m, { optimizer = optim.SGD(nn.Linear(4, 3):parameters(), { lr = 0.1 }) }),
             'compile: the ' .. want)
    -- one of the model's tensors and one of another's
    contains(errmsg(m.compile, m, { optimizer = optim.SGD({ m.weight, nl.zeros(3):requires_grad() }, { lr = 0.1 }) }),
             'compile: the ' .. want)
    -- some of the model's parameters (the rest frozen) are its own
    m:compile { optimizer = optim.SGD({ m.weight }, { lr = 0.1 }), loss = 'cross_entropy' }
    m:compile { optimizer = optim.SGD(m:parameters(), { lr = 0.1 }), loss = 'cross_entropy' }
    m:double()
    contains(errmsg(m.fit, m, X, y, { verbose = 0 }), 'fit: the compiled ' .. want)
    -- by name, after a fit has stepped it: its state is the old tensors'
    local n = nn.Linear(4, 3):double()
    n:compile { optimizer = 'adam', loss = 'cross_entropy' }
    n:fit(X, y, { epochs = 1, verbose = 0 })
    n:float()
    contains(errmsg(n.fit, n, X:float(), y, { verbose = 0 }),
             "fit: the model's parameters are not those the compiled optimizer has stepped")
  end)
end)

describe('fit, evaluate and predict edge cases', function()
  local function linear_data(n)
    local r = S.rng(7)
    local X, y = {}, {}
    for i = 1, n do
      X[i] = { r(-1, 1), r(-1, 1), r(-1, 1) }
      y[i] = { r(-1, 1), r(-1, 1) }
    end
    return nl.tensor(X), nl.tensor(y)
  end

  it('predict on no rows returns the empty output, as the model itself does', function()
    local model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    local out = model:predict(nl.zeros(0, 3))
    assert.are.same({ 0, 2 }, out:shape())
    assert.are.same(model(nl.zeros(0, 3)):shape(), out:shape())
  end)

  -- Keras: split_at = floor(n * (1 - f)); the rows from split_at + 1 on, as
  -- given (before shuffling), are the validation data. With lr 0 the model
  -- stays as it is, so both losses are plain MSEs over their rows.
  it('validation_split holds out the last rows as validation data', function()
    local X, y = linear_data(10)
    nl.manual_seed(4)
    local model = nn.Linear(3, 2)
    model:compile { optimizer = 'sgd', lr = 0, loss = 'mse' }
    local h = model:fit(X, y, { epochs = 1, batch_size = 3, validation_split = 0.25, verbose = 0 })
    local at = 7                                            -- floor(10 * 0.75)
    local function mse(a, b) return ((model(a) - b) ^ 2):mean():item() end
    local want_val = mse(X:narrow(1, at + 1, 3), y:narrow(1, at + 1, 3))
    local want_train = mse(X:narrow(1, 1, at), y:narrow(1, 1, at))
    assert.is_true(math.abs(h.val_loss[1] - want_val) < 1e-6, ('val_loss %g, want %g'):format(h.val_loss[1], want_val))
    assert.is_true(math.abs(h.loss[1] - want_train) < 1e-6, ('loss %g, want %g'):format(h.loss[1], want_train))
    contains(errmsg(model.fit, model, X, y, { validation_split = 0.2, validation_data = { X, y }, verbose = 0 }),
             'validation_data or validation_split')
    contains(errmsg(model.fit, model, X, y, { validation_split = 1, verbose = 0 }), 'validation_split')
    contains(errmsg(model.fit, model, X:narrow(1, 1, 1), y:narrow(1, 1, 1), { validation_split = 0.5, verbose = 0 }),
             'cannot be split')
    h = model:fit(X, y, { validation_split = 0, verbose = 0 })     -- 0: no validation
    assert.is_nil(h.val_loss)
  end)

  -- an error inside predict or evaluate once left every module in eval
  -- mode, so a later hand-written training loop ran without dropout
  it('predict and evaluate put the modes back when they raise', function()
    local model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    model:compile { optimizer = 'sgd', loss = 'mse' }
    assert.is_true(model.training)
    contains(errmsg(model.predict, model, nl.zeros(5, 7)), 'Linear')
    contains(errmsg(model.evaluate, model, nl.zeros(5, 3), nl.zeros(5, 3)), 'mse_loss')
    for _, m in ipairs(model:modules()) do assert.is_true(m.training) end
    model:eval()
    errmsg(model.predict, model, nl.zeros(5, 7))
    for _, m in ipairs(model:modules()) do assert.is_false(m.training) end
  end)

  -- 10 rows in batches of 4 are 10 samples, not 3 x 4 = 12: a clock that
  -- reads 0 at the epoch's start and 1 after makes the rate 10 samples/s
  it("fit's epoch line counts the samples of a short last batch as they are", function()
    local X, y = linear_data(10)
    local model = nn.Linear(3, 2)
    model:compile { optimizer = 'sgd', loss = 'mse' }
    local real_time, real_print = nl.time, _G.print
    local calls, lines = 0, {}
    finally(function() nl.time, _G.print = real_time, real_print end)
    nl.time = function()
      calls = calls + 1
      return calls == 1 and 0 or 1
    end
    _G.print = function(...) lines[#lines + 1] = table.concat({ ... }, '\t') end
    model:fit(X, y, { epochs = 1, batch_size = 4, shuffle = false, verbose = 1 })
    nl.time, _G.print = real_time, real_print
    assert.are.equal(1, #lines)
    contains(lines[1], ' - 10 samples/s - ')
  end)

  it("fit's progress bar on a terminal counts them too", function()
    local tmp = os.tmpname()
    S.write(tmp, S.path_prelude .. [[
local nl = require 'nnlua'
local X, y = nl.randn(10, 3), nl.randn(10, 2)
local m = nl.nn.Linear(3, 2)
m:compile { optimizer = 'sgd', loss = 'mse' }
local calls = 0
nl.time = function() calls = calls + 1; return calls == 1 and 0 or 1 end
m:fit(X, y, { epochs = 1, batch_size = 4, shuffle = false })
]])
    local p = io.popen(('script -q -e -c "luajit %s" /dev/null 2>&1'):format(tmp))
    local out = p:read('*a')
    p:close()
    os.remove(tmp)
    assert.is_truthy(out:find('3/3 [', 1, true), out)
    local rate = out:match('3/3 %[[=>%.]+%] loss [%d.]+ %- (%d+) samples/s')
    assert.are.equal('10', rate, out)
  end)
end)

describe("fit's whole-set sums and its checks", function()
  -- 5 rows of 2 features, 3 classes, on fixed weights: every loss below is
  -- compared with the same loss over the whole set at once
  local W = nl.tensor({ { 1, 2 }, { 3, -1 }, { 0.5, 0.5 } })
  local X = nl.tensor({ { 1, 0 }, { 0, 1 }, { 1, 1 }, { 2, 0 }, { 0, 2 }, { -1, 1 }, { 1, -2 } })
  local function fixed()
    local m = nn.Linear(2, 3)
    nl.no_grad(function()
      m.weight:copy_(W)
      m.bias:copy_(nl.tensor({ 0.1, 0.2, 0.3 }))
    end)
    return m
  end

  -- the loss of a weighted mean was each batch's mean times its rows: it
  -- changed with the batch size, and a batch of ignored rows made it NaN
  it('gives a class loss with weights or an ignored class its whole-set value at any batch size', function()
    local y = nl.tensor({ 1, 2, 3, 1, -100, -100, 2 }, 'int64')
    for _, o in ipairs({ { ignore_index = -100 }, { weight = nl.tensor({ 1, 2, 3 }), ignore_index = -100 },
                         { weight = nl.tensor({ 1, 2, 3 }), ignore_index = -100, label_smoothing = 0.2 } }) do
      local m = fixed()
      m:compile { optimizer = optim.SGD(m:parameters(), { lr = 0 }), loss = nn.CrossEntropyLoss(o),
                  metrics = { 'accuracy' } }
      local want = F.cross_entropy(m(X), y, o):item()
      -- accuracy over the rows not ignored: rows 1, 2, 3, 4 and 7
      local pred, hits = m(X):argmax(2):totable(), 0
      for i, c in ipairs({ 1, 2, 3, 1, 0, 0, 2 }) do if pred[i] == c then hits = hits + 1 end end
      for _, bs in ipairs({ 1, 2, 3, 5, 7 }) do
        local loss, met = m:evaluate(X, y, { batch_size = bs })
        assert(S.close(loss, want, 1e-6), ('batch %d: %.8g, whole set %.8g'):format(bs, loss, want))
        assert.are.equal(hits / 5, met.accuracy)
        local h = m:fit(X, y, { batch_size = bs, shuffle = false, verbose = 0 })
        assert(S.close(h.loss[1], want, 1e-6), ('fit, batch %d: %.8g, whole set %.8g'):format(bs, h.loss[1], want))
        assert.are.equal(hits / 5, h.accuracy[1])
      end
    end
  end)

  it("gives a loss module of reduction = 'sum' the whole set's sum", function()
    local m, yr = fixed(), nl.tensor(S.nested({ 7, 3 }, S.rng(3)))
    m:compile { loss = nn.MSELoss({ reduction = 'sum' }) }
    local want = F.mse_loss(m(X), yr, { reduction = 'sum' }):item()
    for _, bs in ipairs({ 1, 3, 7 }) do assert(S.close(m:evaluate(X, yr, { batch_size = bs }), want, 1e-6)) end
    contains(errmsg(m.compile, m, { loss = nn.MSELoss({ reduction = 'none' }) }), "reduction = 'none'")
  end)

  -- Keras's names take probabilities (a model ending in softmax), clipped
  -- to [1e-7, 1 - 1e-7]; they were cross_entropy on logits, so softmax ran twice
  it("takes probabilities under Keras's categorical cross-entropy names", function()
    local m = nn.Sequential(fixed(), nn.Softmax(2))
    local y = nl.tensor({ 1, 2, 3, 1, 2, 3, 3 }, 'int64')
    local P = m(X):totable()
    local want, onehot = 0, {}
    for i, c in ipairs(y:totable()) do
      want = want - math.log(P[i][c]) / 7
      onehot[i] = { 0, 0, 0 }
      onehot[i][c] = 1
    end
    m:compile { loss = 'sparse_categorical_crossentropy', metrics = { 'accuracy' } }
    local loss, met = m:evaluate(X, y, { batch_size = 3 })
    assert(S.close(loss, want, 1e-5), ('%.8g, by hand %.8g'):format(loss, want))
    local _, acc = nl.no_grad(function() return F.cross_entropy(m(X), y), m(X):argmax(2):eq(y):sum():item() / 7 end)
    assert.are.equal(acc, met.accuracy)
    m:compile { loss = 'categorical_crossentropy', metrics = { 'accuracy' } }
    loss, met = m:evaluate(X, nl.tensor(onehot), { batch_size = 3 })
    assert(S.close(loss, want, 1e-5), ('one-hot: %.8g, by hand %.8g'):format(loss, want))
    assert.are.equal(acc, met.accuracy)
    -- a probability of 0 is clipped: a finite loss of -log(1e-7)
    local zero = nn.Sequential(nn.Linear(2, 2))
    nl.no_grad(function()
      zero[1].weight:zero_()
      zero[1].bias:copy_(nl.tensor({ 1, 0 }))
    end)
    zero:compile { loss = 'sparse_categorical_crossentropy' }
    assert(S.close(zero:evaluate(X, nl.tensor({ 2, 2, 2, 2, 2, 2, 2 }, 'int64')), -math.log(1e-7), 1e-4))
    -- the one-hot form refuses class indices
    contains(errmsg(m.evaluate, m, X, y), 'categorical_crossentropy: target must be one-hot rows')
  end)

  -- Keras's accuracy for outputs of several columns against targets of
  -- that shape compares argmaxes; it thresholded each entry at 0.5
  it('measures accuracy of one-hot targets under mse by the argmax of each row', function()
    local m = fixed()
    local Y = nl.zeros(7, 3)
    local want, pred = 0, m(X):argmax(2):totable()
    for i, c in ipairs({ 1, 3, 3, 2, 1, 1, 2 }) do
      Y[i][c] = 1
      if pred[i] == c then want = want + 1 / 7 end
    end
    m:compile { loss = 'mse', metrics = { 'accuracy' } }
    local _, met = m:evaluate(X, Y, { batch_size = 2 })
    assert(S.close(met.accuracy, want, 1e-12), ('%g, by hand %g'):format(met.accuracy, want))
  end)

  it('refuses metrics listed twice, metrics under keys, and mae against class labels', function()
    local m = nn.Linear(2, 3)
    contains(errmsg(m.compile, m, { loss = 'cross_entropy', metrics = { 'acc', 'accuracy' } }),
             "compile: metric 'accuracy' is listed twice")
    contains(errmsg(m.compile, m, { loss = 'mse', metrics = { 'mae', 'mae' } }), "'mae' is listed twice")
    contains(errmsg(m.compile, m, { loss = 'cross_entropy', metrics = { accuracy = true } }), 'list of names')
    contains(errmsg(m.compile, m, { loss = 'cross_entropy', metrics = { [2] = 'accuracy' } }), 'list of names')
    contains(errmsg(m.compile, m, { loss = 'cross_entropy', metrics = { 'mae' } }), "metric 'mae'")
    -- regression loss modules keep it (a first version refused them too)
    for _, loss in ipairs({ nn.MSELoss(), nn.L1Loss(), nn.HuberLoss() }) do
      local r = nn.Linear(2, 1)
      r:compile { loss = loss, metrics = { 'mae' } }
      local Xr, yr = nl.tensor({ { 1, 2 }, { 3, 4 }, { 0, 1 } }), nl.tensor({ { 1 }, { 0 }, { 2 } })
      local _, met = r:evaluate(Xr, yr, { batch_size = 2 })
      assert(S.close(met.mae, (r(Xr) - yr):abs():mean():item(), 1e-6))
    end
  end)

  -- each was taken and misread: shuffle = 'no' shuffled, a third entry of
  -- validation_data (Keras's sample weights) was dropped, on_step = 5
  -- failed after the first step had changed the weights, verbose = 7 drew
  it('checks shuffle, on_step, validation_data and verbose before training', function()
    local m, y = fixed(), nl.tensor({ 1, 2, 3, 1, 2, 3, 3 }, 'int64')
    m:compile { optimizer = 'sgd', lr = 0.5, loss = 'cross_entropy' }
    local before = m.weight:clone()
    contains(errmsg(m.fit, m, X, y, { shuffle = 'no', verbose = 0 }), 'fit: expected shuffle as a boolean')
    contains(errmsg(m.fit, m, X, y, { on_step = 5, verbose = 0 }), 'fit: expected on_step as a function')
    contains(errmsg(m.fit, m, X, y, { validation_data = { X, y, nl.ones(7) }, verbose = 0 }),
             'validation_data must be {X, y}, got a table of 3 entries')
    for _, v in ipairs({ 3, -1, 0.5 }) do
      contains(errmsg(m.fit, m, X, y, { verbose = v }), "fit: expected verbose as 0, 1, 2, 'auto' or a boolean")
    end
    assert.are.same(before:totable(), m.weight:totable())
  end)

  it('verbose = 2 prints the epoch lines without a progress bar on a terminal', function()
    local tmp = os.tmpname()
    S.write(tmp, S.path_prelude .. [[
local nl = require 'nnlua'
local m = nl.nn.Linear(3, 2)
m:compile { optimizer = 'sgd', loss = 'mse' }
m:fit(nl.randn(10, 3), nl.randn(10, 2), { epochs = 2, batch_size = 4, verbose = 2 })
]])
    local p = io.popen(('script -q -e -c "luajit %s" /dev/null 2>&1'):format(tmp))
    local out = p:read('*a')
    p:close()
    os.remove(tmp)
    assert.is_truthy(out:find('epoch 1/2 - loss', 1, true), out)
    assert.is_truthy(out:find('epoch 2/2 - loss', 1, true), out)
    assert.is_falsy(out:find('[', 1, true), out)
    assert.is_falsy(out:find('\27', 1, true), out)
  end)

  -- the checkpoint's history had no list for the new metric: the resumed
  -- run trained an epoch, then failed indexing nil
  it('refuses to resume with other metrics or validation, naming both', function()
    local m, y = fixed(), nl.tensor({ 1, 2, 3, 1, 2, 3, 3 }, 'int64')
    local path = dir .. '/resume_metrics.st'
    m:compile { loss = 'cross_entropy' }
    m:fit(X, y, { epochs = 1, verbose = 0, checkpoint = { path = path } })
    m:compile { loss = 'cross_entropy', metrics = { 'accuracy' } }
    local msg = errmsg(m.fit, m, X, y, { epochs = 2, verbose = 0, checkpoint = { path = path }, resume = true })
    contains(msg, 'history {epoch, loss}')
    contains(msg, '{accuracy, epoch, loss}')
    m:compile { loss = 'cross_entropy' }
    msg = errmsg(m.fit, m, X, y, { epochs = 2, verbose = 0, checkpoint = { path = path }, resume = true,
                                   validation_data = { X, y } })
    contains(msg, '{epoch, loss, val_loss}')
    local h = m:fit(X, y, { epochs = 2, verbose = 0, checkpoint = { path = path }, resume = true })
    assert.are.equal(2, #h.loss)
  end)

  -- nn.load put the checkpoint's weights in the model before fit checked
  -- the history, the lr_scheduler or the optimizer: a refused resume left
  -- the model trained on by the run it refused to resume
  it('a refused resume leaves the model, the optimizer and the lr_scheduler as they were', function()
    local y = nl.tensor({ 1, 2, 3, 1, 2, 3, 3 }, 'int64')
    local path = dir .. '/resume_refused.st'
    -- a fresh model of fixed weights, compiled with opts, and an lr_scheduler
    -- of kind (StepLR by default) on its optimizer
    local function make(opts, kind)
      local m = fixed()
      m:compile(opts)
      local sched = (kind or optim.StepLR)(m.optimizer, kind and { gamma = 0.5 } or { step_size = 1, gamma = 0.5 })
      return m, sched, m.weight:clone(), m.bias:clone()
    end
    local function fit(m, sched, resume)
      return m:fit(X, y, { epochs = 3, verbose = 0, checkpoint = { path = path }, resume = resume,
                           lr_scheduler = sched })
    end
    local function untouched(m, sched, w0, b0, what)
      assert.are.same(w0:totable(), m.weight:totable(), what .. ': weight')
      assert.are.same(b0:totable(), m.bias:totable(), what .. ': bias')
      assert.is_nil(next(m.optimizer.state), what .. ': optimizer state')
      assert.are.equal(0.1, m.optimizer.param_groups[1].lr, what .. ': lr')
      assert.are.equal(0, sched.last_epoch, what .. ': lr_scheduler')
    end
    local ADAM = { optimizer = 'adam', lr = 0.1, loss = 'cross_entropy' }
    nl.manual_seed(7)
    local m0, s0 = make(ADAM)
    m0:fit(X, y, { epochs = 2, verbose = 0, checkpoint = { path = path }, lr_scheduler = s0 })
    -- other metrics: the history's keys
    local a, sa, wa, ba = make { optimizer = 'adam', lr = 0.1, loss = 'cross_entropy', metrics = { 'accuracy' } }
    contains(errmsg(fit, a, sa, true), 'resume with the same metrics')
    untouched(a, sa, wa, ba, 'other metrics')
    -- an lr_scheduler of another kind
    local b, sb, wb, bb = make(ADAM, optim.ExponentialLR)
    contains(errmsg(fit, b, sb, true), 'the lr_scheduler StepLR, and this fit gives the lr_scheduler ExponentialLR')
    untouched(b, sb, wb, bb, 'another lr_scheduler')
    -- another optimizer: its own load_state_dict refuses, the last check,
    -- after the lr_scheduler's state loaded (and put back)
    local c, sc, wc, bc = make { optimizer = 'sgd', lr = 0.1, loss = 'cross_entropy' }
    contains(errmsg(fit, c, sc, true), 'the state_dict is from Adam')
    untouched(c, sc, wc, bc, 'another optimizer')
    -- and the same run resumes: the checkpoint's weights and states, then a third epoch
    local d, sd = make(ADAM)
    local h = fit(d, sd, true)
    assert.are.equal(3, #h.loss)
    assert.are.equal(3, sd.last_epoch)
    -- as the run of three epochs uninterrupted
    nl.manual_seed(7)
    local e, se = make(ADAM)
    e:fit(X, y, { epochs = 3, verbose = 0, lr_scheduler = se })
    S.same_bits(d.weight, e.weight, 'the resumed weight')
  end)

  -- the checkpoint written at an epoch's end: the resume restored the
  -- generator of before the next epoch's permutation after drawing it, so
  -- that epoch's dropout reused the permutation's numbers and the epoch
  -- after repeated its order
  it('resumed from the end of an epoch, goes on as the uninterrupted run (shuffle and dropout)', function()
    nl.manual_seed(42)
    local Xr, yr = nl.randn(40, 3), nl.randn(40, 1)
    local path = dir .. '/resume_epoch_end.st'
    local function run(epochs, checkpoint, resume)
      nl.manual_seed(1)
      local m = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.3), nn.Linear(8, 1))
      m:compile { optimizer = 'sgd', lr = 0.1, loss = 'mse' }
      local h = m:fit(Xr, yr, { epochs = epochs, batch_size = 8, verbose = 0, resume = resume,
                                checkpoint = checkpoint and { path = path } or nil })
      return h, m
    end
    local ha, ma = run(4)
    run(2, true, false)
    local hb, mb = run(4, true, true)
    assert.are.same(ha.loss, hb.loss)
    assert.are.same(ma:state_dict()['2.weight']:totable(), mb:state_dict()['2.weight']:totable())
  end)
end)

-- ---- nl.plot -----------------------------------------------------------------

-- a small XML check: tags balance, one <svg> root, no stray text outside
-- <text>; returns the elements as { name, attrs = {k = v}, text }
local function parse_svg(s)
  local elems, stack, pos = {}, {}, 1
  s = s:gsub('^%s*<%?xml.-%?>', '')
  while true do
    local a, b, close, name, attrs, selfclose = s:find('<(/?)([%a][%w:-]*)(.-)(/?)>', pos)
    local between = s:sub(pos, (a or #s + 1) - 1)
    if between:find('%S') then
      local top = stack[#stack]
      assert(top and top.name == 'text', 'stray text outside <text>: ' .. between)
      top.text = (top.text or '') .. between
    end
    if not a then break end
    if close == '/' then
      local top = table.remove(stack)
      assert(top and top.name == name, 'unbalanced </' .. name .. '>')
    else
      local e = { name = name, attrs = {} }
      local rest = attrs:gsub('([%a][%w:-]*)="([^"]*)"', function(k, v)
        assert(e.attrs[k] == nil, 'attribute ' .. k .. ' twice in <' .. name .. '>')
        e.attrs[k] = v
        return ''
      end)
      assert(not rest:find('%S'), 'malformed attributes in <' .. name .. '>: ' .. rest)
      if #stack == 0 then assert(#elems == 0 and name == 'svg', 'the root is not a single <svg>') end
      elems[#elems + 1] = e
      if selfclose ~= '/' then stack[#stack + 1] = e end
    end
    pos = b + 1
  end
  assert(#stack == 0, 'unclosed <' .. (stack[1] and stack[1].name or '?') .. '>')
  assert(elems[1] and elems[1].name == 'svg', 'no <svg> root')
  return elems
end

-- every coordinate-like attribute must be a finite number
local function assert_numeric_coords(elems)
  for _, e in ipairs(elems) do
    for _, k in ipairs({ 'x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'width', 'height' }) do
      local v = e.attrs[k]
      if v then
        local n = tonumber(v)
        assert(n and n == n and n ~= math.huge and n ~= -math.huge, ('<%s %s="%s">'):format(e.name, k, v))
      end
    end
    if e.attrs.points then
      for pt in e.attrs.points:gmatch('%S+') do
        local x, y = pt:match('^([^,]+),([^,]+)$')
        local nx, ny = tonumber(x), tonumber(y)
        assert(nx and ny and nx == nx and ny == ny and math.abs(nx) < math.huge and math.abs(ny) < math.huge,
               'bad point ' .. pt)
      end
    end
  end
end

-- polylines keyed by their legend label: { xs, ys }
local function series(elems)
  local by_color, out = {}, {}
  for _, e in ipairs(elems) do
    if e.name == 'polyline' then
      local xs, ys = {}, {}
      for x, y in e.attrs.points:gmatch('([^,%s]+),([^,%s]+)') do
        xs[#xs + 1], ys[#ys + 1] = tonumber(x), tonumber(y)
      end
      by_color[#by_color + 1] = { color = e.attrs.stroke, xs = xs, ys = ys, used = false }
    end
  end
  -- each legend <text fill=color> follows its polyline
  local n = 0
  for _, e in ipairs(elems) do
    if e.name == 'polyline' then n = n + 1 end
    if e.name == 'text' and e.attrs.fill and n > 0 then
      local p = by_color[n]
      assert.are.equal(p.color, e.attrs.fill)
      out[e.text] = p
    end
  end
  return out, #by_color
end

-- a larger value is drawn higher (a smaller y), within one chart
local function assert_drawn(values_by_label, drawn)
  local vals, ys = {}, {}
  for label, values in pairs(values_by_label) do
    local p = assert(drawn[label], 'no polyline for ' .. label)
    assert.are.equal(#values, #p.ys, label .. ': points vs epochs')
    for i, v in ipairs(values) do vals[#vals + 1], ys[#ys + 1] = v, p.ys[i] end
    for i = 2, #p.xs do assert(p.xs[i] > p.xs[i - 1], label .. ': x not increasing') end
  end
  for i = 1, #vals do
    for j = 1, #vals do
      if vals[i] > vals[j] + 1e-9 then assert(ys[i] < ys[j], 'a larger value is not drawn higher') end
    end
  end
end

describe("fit's newer losses, per-element class targets and Keras's metrics", function()
  -- 7 rows of 2 features on fixed weights, as above: each loss is compared
  -- with the same loss over the whole set at once, at every batch size
  local W = nl.tensor({ { 1, 2 }, { 3, -1 }, { 0.5, 0.5 } })
  local X = nl.tensor({ { 1, 0 }, { 0, 1 }, { 1, 1 }, { 2, 0 }, { 0, 2 }, { -1, 1 }, { 1, -2 } })
  local function fixed()
    local m = nn.Linear(2, 3)
    nl.no_grad(function()
      m.weight:copy_(W)
      m.bias:copy_(nl.tensor({ 0.1, 0.2, 0.3 }))
    end)
    return m
  end
  -- a model that returns its input, for Keras's documented examples (an
  -- optimizer that does nothing: evaluate never steps it)
  local function identity(loss, metrics)
    local m = nn.Identity()
    m:compile { optimizer = { step = function() end }, loss = loss, metrics = metrics }
    return m
  end
  -- the loss and metrics of evaluate and of fit's first epoch (lr 0) at
  -- batch sizes 1, 2, 3 and 7 each equal want (and the metrics want_m)
  local function whole_set(m, Xs, y, want, want_m, tol)
    for _, bs in ipairs({ 1, 2, 3, 7 }) do
      local loss, met = m:evaluate(Xs, y, { batch_size = bs })
      local h = m:fit(Xs, y, { batch_size = bs, shuffle = false, verbose = 0 })
      for _, got in ipairs({ loss, h.loss[1] }) do
        assert(S.close(got, want, tol or 1e-6), ('batch %d: %.9g, whole set %.9g'):format(bs, got, want))
      end
      for k, v in pairs(want_m or {}) do
        assert(S.close(met[k], v, 1e-6), ('batch %d: %s %.9g, by hand %.9g'):format(bs, k, met[k], v))
        assert(S.close(h[k][1], v, 1e-6), ('fit, batch %d: %s %.9g, by hand %.9g'):format(bs, k, h[k][1], v))
      end
    end
  end
  local function sgd0(m) return optim.SGD(m:parameters(), { lr = 0 }) end

  -- each mean is over elements or rows, the same number in every row, so
  -- the rows weigh each batch; 'sum' adds the batches; 'none' is refused
  it('takes the two-tensor loss modules, each reduction the whole set\'s', function()
    local r = S.rng(21)
    local Yf = nl.tensor(S.nested({ 7, 3 }, function() return r(-2, 2) end))
    local Ypm = nl.where(nl.tensor(S.nested({ 7, 3 }, r)):gt(0), 1, -1):float()
    local Yp = nl.tensor(S.nested({ 7, 3 }, r)):softmax(2)
    local Yc = nl.tensor(S.nested({ 7, 3 }, function() return math.floor(r(0, 4)) end))
    local cls = nl.tensor({ 1, 3, 2, 2, 1, 3, 3 }, 'int64')
    local cases = {
      { nn.SmoothL1Loss, { beta = 0.5 }, Yf, F.smooth_l1_loss },
      { nn.KLDivLoss, {}, Yp, F.kl_div, true },
      { nn.KLDivLoss, { reduction = 'batchmean' }, Yp, F.kl_div, true },
      { nn.KLDivLoss, { log_target = true }, Yp:log(), F.kl_div, true },
      { nn.HingeEmbeddingLoss, { margin = 2 }, Ypm, F.hinge_embedding_loss },
      { nn.SoftMarginLoss, {}, Ypm, F.soft_margin_loss },
      { nn.PoissonNLLLoss, {}, Yc, F.poisson_nll_loss },
      { nn.PoissonNLLLoss, { log_input = false, full = true }, Yc, F.poisson_nll_loss, false, true },
      { nn.MultiMarginLoss, { weight = nl.tensor({ 1, 2, 0.5 }), p = 2 }, cls, F.multi_margin_loss },
    }
    for _, case in ipairs(cases) do
      local cls_, o, y, f, logp, positive = case[1], case[2], case[3], case[4], case[5], case[6]
      for _, red in ipairs({ o.reduction or 'mean', 'sum' }) do
        local oo = {}
        for k, v in pairs(o) do oo[k] = v end
        oo.reduction = red
        local m = fixed()
        if logp then m = nn.Sequential(m, nn.LogSoftmax(2)) end
        if positive then m = nn.Sequential(m, nn.Softplus()) end
        m:compile { optimizer = sgd0(m), loss = cls_(oo) }
        local want = f(m(X), y, oo):item()
        whole_set(m, X, y, want, nil, 1e-5)
      end
      local m = fixed()
      contains(errmsg(m.compile, m, { loss = cls_({ reduction = 'none' }) }),
               "compile: a loss module with reduction = 'none'")
    end
  end)

  it("measures MultiMarginLoss's accuracy by argmaxes and SoftMarginLoss's by signs", function()
    local m, y = fixed(), nl.tensor({ 1, 3, 2, 2, 1, 3, 3 }, 'int64')
    local pred, hits = m(X):argmax(2):totable(), 0
    for i, c in ipairs(y:totable()) do if pred[i] == c then hits = hits + 1 end end
    m:compile { optimizer = sgd0(m), loss = nn.MultiMarginLoss(), metrics = { 'accuracy', 'sparse_top_k_categorical_accuracy' } }
    -- three classes: each is among the top 5
    whole_set(m, X, y, F.multi_margin_loss(m(X), y):item(), { accuracy = hits / 7, sparse_top_k_categorical_accuracy = 1 })
    local Y = nl.tensor({ { 1, -1, 1 }, { -1, -1, 1 }, { 1, 1, 1 }, { -1, 1, -1 }, { 1, 1, -1 }, { -1, -1, -1 }, { 1, -1, 1 } })
    local out, agree = m(X):totable(), 0
    for i, row in ipairs(Y:totable()) do
      for j, t in ipairs(row) do if (out[i][j] > 0) == (t > 0) then agree = agree + 1 end end
    end
    m:compile { optimizer = sgd0(m), loss = nn.SoftMarginLoss(), metrics = { 'accuracy' } }
    whole_set(m, X, Y, F.soft_margin_loss(m(X), Y):item(), { accuracy = agree / 21 })
  end)

  it('refuses the three-tensor losses in compile, naming them and what fit passes', function()
    local m = fixed()
    for name, args in pairs({ MarginRankingLoss = '(input1, input2, target)', CosineEmbeddingLoss = '(input1, input2, target)',
                              GaussianNLLLoss = '(input, target, var)', TripletMarginLoss = '(anchor, positive, negative)' }) do
      local e = errmsg(m.compile, m, { loss = nn[name]() })
      contains(e, ('compile: nn.%s takes three tensors %s'):format(name, args))
      contains(e, '(output, target)')
    end
    for fname, args in pairs({ margin_ranking_loss = '(input1, input2, target)', gaussian_nll_loss = '(input, target, var)',
                               cosine_embedding_loss = '(input1, input2, target)',
                               triplet_margin_loss = '(anchor, positive, negative)' }) do
      contains(errmsg(m.compile, m, { loss = F[fname] }), ('compile: nn.functional.%s takes three tensors %s'):format(fname, args))
    end
    -- a function of two that splits the output is the way: GaussianNLLLoss
    -- on (mean, variance) columns
    local two = nn.Linear(2, 2)
    two:compile { optimizer = sgd0(two), loss = function(out, y)
      return F.gaussian_nll_loss(out:narrow(2, 1, 1), y, out:narrow(2, 2, 1):exp())
    end }
    local y = nl.tensor({ { 1 }, { 0 }, { 2 }, { 1 }, { -1 }, { 0 }, { 3 } })
    local out = two(X)
    assert(S.close(two:evaluate(X, y, { batch_size = 3 }),
                   F.gaussian_nll_loss(out:narrow(2, 1, 1), y, out:narrow(2, 2, 1):exp()):item(), 1e-6))
  end)

  -- Keras's functions, computed here as Keras's source writes them, on
  -- the values of Keras's own documentation
  it("takes Keras's kl_divergence (kld) and poisson on probabilities and rates, as Keras's", function()
    local function kld_by_hand(P, Y)
      local s = 0
      for i, row in ipairs(Y) do
        for j, t in ipairs(row) do
          local yt, yp = math.min(math.max(t, 1e-7), 1), math.min(math.max(P[i][j], 1e-7), 1)
          s = s + yt * math.log(yt / yp)
        end
      end
      return s / #Y
    end
    local function poisson_by_hand(P, Y)
      local s, n = 0, 0
      for i, row in ipairs(Y) do
        for j, t in ipairs(row) do s, n = s + P[i][j] - t * math.log(P[i][j] + 1e-7), n + 1 end
      end
      return s / n
    end
    -- keras.losses.KLD([.4, .9, .2], [.5, .8, .12]) = 0.11891246, and
    -- KLDivergence()([[0, 1], [0, 0]], [[.6, .4], [.4, .6]]) = 0.458
    for _, name in ipairs({ 'kl_divergence', 'kld', 'KLD', 'kullback_leibler_divergence' }) do
      local m = identity(name)
      assert(S.close(m:evaluate(nl.tensor({ { .5, .8, .12 } }, 'float64'), nl.tensor({ { .4, .9, .2 } }, 'float64')),
                     0.11891243631825937, 1e-12))
      assert(S.close(m:evaluate(nl.tensor({ { .6, .4 }, { .4, .6 } }, 'float64'), nl.tensor({ { 0, 1 }, { 0, 0 } }, 'float64'),
                                { batch_size = 1 }), 0.45814304511982884, 1e-12))
    end
    -- keras.losses.poisson([1.4, 9.3, 2.2], [4.3, 8.2, 12.2]) = -0.8045559,
    -- and Poisson()([[0, 1], [0, 0]], [[1, 1], [0, 0]]) = 0.5 (a rate of 0 is log(1e-7))
    local m = identity('poisson')
    assert(S.close(m:evaluate(nl.tensor({ { 4.3, 8.2, 12.2 } }, 'float64'), nl.tensor({ { 1.4, 9.3, 2.2 } }, 'float64')),
                   -0.8045559747746932, 1e-12))
    assert(S.close(m:evaluate(nl.tensor({ { 1, 1 }, { 0, 0 } }, 'float64'), nl.tensor({ { 0, 1 }, { 0, 0 } }, 'float64')),
                   0.5 - 0.25 * math.log(1 + 1e-7), 1e-12))
    -- through fit: a softmax model for kld, a softplus one for poisson
    local r = S.rng(31)
    local Yp = nl.tensor(S.nested({ 7, 3 }, r)):softmax(2)
    Yp[2][1] = 0                                     -- a target of 0: clipped to 1e-7, as Keras's
    local Yc = nl.tensor(S.nested({ 7, 3 }, function() return math.floor(r(0, 4)) end))
    for _, case in ipairs({ { 'kld', nn.Softmax(2), Yp, kld_by_hand }, { 'poisson', nn.Softplus(), Yc, poisson_by_hand } }) do
      local m2 = nn.Sequential(fixed(), case[2])
      m2:compile { optimizer = sgd0(m2), loss = case[1] }
      whole_set(m2, X, case[3], case[4](m2(X):totable(), case[3]:totable()), nil, 1e-5)
    end
    local k = identity('kld')
    contains(errmsg(k.evaluate, k, nl.ones(2, 3), nl.ones(2, 2)), 'kl_divergence: input and target must be')
  end)

  -- Keras 3's binary_crossentropy: p clipped to [1e-7, 1 - 1e-7], then
  -- -(y log p + (1 - y) log(1 - p)), the mean; it was PyTorch's BCE, whose
  -- logs are clamped at -100 (p = 1 for y = 0 gave 100). 'bce' and
  -- nn.BCELoss stay PyTorch's.
  it("takes Keras's binary_crossentropy with Keras's clip, where bce is PyTorch's", function()
    local function keras_by_hand(P, Y)
      local s, n = 0, 0
      for i, row in ipairs(Y) do
        for j, t in ipairs(row) do
          local p = math.min(math.max(P[i][j], 1e-7), 1 - 1e-7)
          s, n = s - (t * math.log(p) + (1 - t) * math.log(1 - p)), n + 1
        end
      end
      return s / n
    end
    local m = identity('binary_crossentropy')
    -- keras.losses.binary_crossentropy([[0, 1], [0, 0]], [[.6, .4], [.4, .6]]) = [0.916, 0.714]
    assert(S.close(m:evaluate(nl.tensor({ { .6, .4 }, { .4, .6 } }, 'float64'), nl.tensor({ { 0, 1 }, { 0, 0 } }, 'float64')),
                   (-math.log(.4) - (math.log(.4) + math.log(.6)) / 2) / 2, 1e-12))
    -- confident and wrong: p = 1 for y = 0 and p = 0 for y = 1, clipped
    local P = { { 1, 0 }, { 0.25, 1 } }
    local Y = { { 0, 1 }, { 0, 1 } }
    local want = keras_by_hand(P, Y)
    assert(S.close(want, (-math.log(1 - (1 - 1e-7)) - math.log(1e-7) - math.log(0.75) - math.log(1 - 1e-7)) / 4, 1e-15))
    assert(S.close(m:evaluate(nl.tensor(P, 'float64'), nl.tensor(Y, 'float64')), want, 1e-12))
    -- (16.118095651, where PyTorch's clamp gives 100)
    assert(S.close(identity('binary_crossentropy'):evaluate(nl.tensor({ { 1 } }, 'float64'), nl.tensor({ { 0 } }, 'float64')),
                   -math.log(1 - (1 - 1e-7)), 1e-12))
    -- float32: the clip's bounds in float32, as Keras's float32 clip_by_value
    local p32 = nl.tensor({ { 1 } }):clamp(1e-7, 1 - 1e-7):item()
    assert(S.close(m:evaluate(nl.tensor({ { 1 } }), nl.tensor({ { 0 } })), -math.log(1 - p32), 1e-6))
    -- PyTorch's names: the log clamped at -100
    for _, loss in ipairs({ 'bce', nn.BCELoss() }) do
      assert.are.equal(100, identity(loss):evaluate(nl.tensor({ { 1 } }, 'float64'), nl.tensor({ { 0 } }, 'float64')))
    end
    -- through fit: a sigmoid model, the loss at each batch size
    local r = S.rng(37)
    local Yb = nl.tensor(S.nested({ 7, 3 }, function() return r() > 0 and 1 or 0 end))
    local m2 = nn.Sequential(fixed(), nn.Sigmoid())
    m2:compile { optimizer = sgd0(m2), loss = 'binary_crossentropy' }
    whole_set(m2, X, Yb, keras_by_hand(m2(X):totable(), Yb:totable()), nil, 1e-5)
    -- class_weight weighs each element's loss: class 1 twice, sum(w l) / n
    local P2, Y2, wsum = m2(X):totable(), Yb:totable(), 0
    for i, row in ipairs(Y2) do
      for j, t in ipairs(row) do
        wsum = wsum + (t == 1 and 2 or 1) * keras_by_hand({ { P2[i][j] } }, { { t } })
      end
    end
    local h = m2:fit(X, Yb, { batch_size = 7, shuffle = false, verbose = 0, class_weight = { [0] = 1, [1] = 2 } })
    assert(S.close(h.loss[1], wsum / 21, 1e-5), ('class_weight: %.8g, by hand %.8g'):format(h.loss[1], wsum / 21))
    contains(errmsg(m.evaluate, m, nl.ones(2, 1, 'int64'), nl.ones(2, 1)), 'binary_crossentropy: expected a float input')
  end)

  -- segmentation: outputs (N, C, L) or (N, C, H, W), targets (N, L) or
  -- (N, H, W); the loss and accuracy are over every element, and a
  -- weighted or ignoring mean's divisor sums the elements' weights (the
  -- weights were looked up with a 2-D index, an error; accuracy was the
  -- hits over the elements divided by the rows)
  it('trains on class targets of shape (N, d1, ...), the loss and accuracy over every element', function()
    local conv1 = nn.Conv1d(2, 3, 1)
    local conv2 = nn.Conv2d(2, 3, 1)
    for _, m in ipairs({ conv1, conv2 }) do
      nl.no_grad(function()
        m.weight:copy_(nl.tensor({ { 1, 2 }, { 3, -1 }, { 0.5, 0.5 } }):view(m.weight:shape()))
        m.bias:copy_(nl.tensor({ 0.1, 0.2, 0.3 }))
      end)
    end
    local r = S.rng(41)
    local X1 = nl.tensor(S.nested({ 5, 2, 4 }, r))
    local y1 = nl.tensor({ { 1, 2, 3, -100 }, { 2, 2, 1, 3 }, { -100, -100, -100, -100 }, { 3, 1, 2, 2 }, { 1, 1, -100, 3 } }, 'int64')
    local X2 = nl.tensor(S.nested({ 5, 2, 2, 3 }, r))
    local y2 = nl.tensor(S.nested({ 5, 2, 3 }, function() return math.floor(r(1, 4)) end), 'int64')
    y2[2][1][3] = -100
    -- the hits over the elements kept, by hand over the class dim
    local function acc_by_hand(out, y)
      local o, t, hits, n = out:totable(), y:totable(), 0, 0
      local function walk(oi, ti)
        if type(ti) == 'number' then
          if ti ~= -100 then
            local best = 1
            for c = 2, #oi do if oi[c] > oi[best] then best = c end end
            n = n + 1
            if best == ti then hits = hits + 1 end
          end
          return
        end
        for k = 1, #ti do
          local sub = {}
          for c = 1, #oi do sub[c] = oi[c][k] end
          walk(sub, ti[k])
        end
      end
      for i = 1, #t do walk(o[i], t[i]) end
      return hits / n
    end
    for _, case in ipairs({ { conv1, X1, y1 }, { conv2, X2, y2 } }) do
      local m, Xs, y = case[1], case[2], case[3]
      local out = m(Xs)
      local acc = acc_by_hand(out, y)
      for _, o in ipairs({ { ignore_index = -100 }, { weight = nl.tensor({ 1, 2, 0.5 }), ignore_index = -100 },
                           { weight = nl.tensor({ 1, 2, 0.5 }), ignore_index = -100, label_smoothing = 0.2 } }) do
        m:compile { optimizer = sgd0(m), loss = nn.CrossEntropyLoss(o), metrics = { 'accuracy' } }
        whole_set(m, Xs, y, F.cross_entropy(out, y, o):item(), { accuracy = acc })
        local no = { weight = o.weight, ignore_index = o.ignore_index }
        local lp = nn.Sequential(m, nn.LogSoftmax(2))
        lp:compile { optimizer = sgd0(m), loss = nn.NLLLoss(no), metrics = { 'accuracy' } }
        whole_set(lp, Xs, y, F.nll_loss(out:log_softmax(2), y, no):item(), { accuracy = acc })
      end
      -- by name, without ignored elements (the mean over all elements)
      local yk = nl.where(y:eq(-100), 2, y)
      m:compile { optimizer = sgd0(m), loss = 'cross_entropy', metrics = { 'accuracy' } }
      whole_set(m, Xs, yk, F.cross_entropy(out, yk):item(), { accuracy = acc_by_hand(out, yk) })
      -- class probabilities of the output's shape, weighted: the mean over
      -- the elements (the weight was looked up at the probabilities, an error)
      local P = nl.tensor(S.nested(out:shape(), r)):softmax(2)
      local w = { weight = nl.tensor({ 1, 2, 0.5 }) }
      m:compile { optimizer = sgd0(m), loss = nn.CrossEntropyLoss(w), metrics = { 'accuracy' } }
      whole_set(m, Xs, P, F.cross_entropy(out, P, w):item(), { accuracy = acc_by_hand(out, P:argmax(2)) })
    end
  end)

  it("computes mse and binary_accuracy over every output, as Keras's", function()
    local m, r = fixed(), S.rng(51)
    local Yf = nl.tensor(S.nested({ 7, 3 }, r))
    local out, se, n = m(X):totable(), 0, 0
    for i, row in ipairs(Yf:totable()) do
      for j, t in ipairs(row) do se, n = se + (out[i][j] - t) ^ 2, n + 1 end
    end
    m:compile { optimizer = sgd0(m), loss = 'mae', metrics = { 'mse', 'mae' } }
    whole_set(m, X, Yf, F.l1_loss(m(X), Yf):item(), { mse = se / n, mae = F.l1_loss(m(X), Yf):item() })
    -- keras.metrics.binary_accuracy([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]) = 0.75;
    -- 0.5 itself is not above the threshold
    local b = identity('bce', { 'binary_accuracy' })
    local _, met = b:evaluate(nl.tensor({ { 0.98 }, { 1 }, { 0 }, { 0.6 } }), nl.tensor({ { 1 }, { 1 }, { 0 }, { 0 } }), { batch_size = 3 })
    assert.are.equal(0.75, met.binary_accuracy)
    _, met = b:evaluate(nl.tensor({ { 0.5, 0.51 }, { 0.2, 0.9 } }), nl.tensor({ { 1, 1 }, { 0, 0 } }), { batch_size = 1 })
    assert.are.equal(0.5, met.binary_accuracy)
    -- several columns through a sigmoid model: each entry on its own (accuracy takes argmaxes here)
    local s = nn.Sequential(fixed(), nn.Sigmoid())
    local Y01 = nl.tensor({ { 1, 0, 1 }, { 0, 0, 1 }, { 1, 1, 1 }, { 0, 1, 0 }, { 1, 1, 0 }, { 0, 0, 0 }, { 1, 0, 1 } })
    local p, agree = s(X):totable(), 0
    for i, row in ipairs(Y01:totable()) do
      for j, t in ipairs(row) do if (p[i][j] > 0.5 and 1 or 0) == t then agree = agree + 1 end end
    end
    s:compile { optimizer = sgd0(s), loss = nn.BCELoss(), metrics = { 'binary_accuracy' } }
    whole_set(s, X, Y01, F.binary_cross_entropy(s(X), Y01):item(), { binary_accuracy = agree / 21 })
  end)

  -- Keras counts the hits of one-column accuracy: 2 of 4 is 0.5 exactly,
  -- however the batches split them (a float32 mean of each batch times
  -- its rows gave 0.50000000745 at batches of 3 and 1)
  it('gives one-column accuracy as the exact share of hits at any batch size', function()
    for _, dt in ipairs({ 'float32', 'float64' }) do
      for _, case in ipairs({ { 'bce', { 0.9, 0.3, 0.6, 0.2 } }, { 'mse', { 0.9, 0.3, 0.6, 0.2 } },
                              { 'bce_with_logits', { 2, -1, 0.5, -3 } } }) do
        local p = nl.tensor(case[2], dt):reshape(4, 1)
        local y = nl.tensor({ 1, 1, 0, 0 }, dt):reshape(4, 1)
        -- x 1 + 0: the inputs exactly, on a parameter that SGD at lr 0 keeps
        local m = nn.Linear(1, 1):to(dt)
        nl.no_grad(function()
          m.weight:fill_(1)
          m.bias:zero_()
        end)
        m:compile { optimizer = 'sgd', lr = 0, loss = case[1], metrics = { 'accuracy' } }
        for _, bs in ipairs({ 1, 3, 4 }) do
          local _, met = m:evaluate(p, y, { batch_size = bs })
          assert(met.accuracy == 0.5, ('%s %s, batches of %d: accuracy %.17g, by hand 0.5'):format(case[1], dt, bs,
            met.accuracy))
        end
        local h = m:fit(p, y, { epochs = 2, batch_size = 3, verbose = 0 })
        assert(h.accuracy[1] == 0.5 and h.accuracy[2] == 0.5, ('%s %s: fit accuracy %.17g, %.17g'):format(case[1],
          dt, h.accuracy[1], h.accuracy[2]))
      end
    end
  end)

  -- a loss function that squeezes its input takes outputs (N, 1) against
  -- targets (N); mae and mse broadcast the two to (N, N) and gave a value
  -- N times the right order (12.3 for 1.15): they are refused
  it('refuses mae and mse of outputs and targets of other shapes', function()
    local f = function(p, t) return F.mse_loss(p:reshape(-1), t:reshape(-1)) end
    local yv = nl.tensor({ 1, 0, 2, -1, 0.5, 3, 1 })
    for _, metric in ipairs({ 'mae', 'mse' }) do
      local m = nn.Linear(2, 1)
      m:compile { optimizer = sgd0(m), loss = f, metrics = { metric } }
      contains(errmsg(m.evaluate, m, X, yv), ("evaluate: metric '%s' compares outputs with targets of their shape, "
               .. 'got outputs [7,1] and targets float32 [7]'):format(metric))
      contains(errmsg(m.fit, m, X, yv, { verbose = 0 }), ("fit: metric '%s' compares outputs"):format(metric))
      -- of one shape, the whole set's
      local Y = yv:reshape(7, 1)
      local d = m(X) - Y
      whole_set(m, X, Y, F.mse_loss(m(X), Y):item(), { [metric] = (metric == 'mae' and d:abs() or d * d):mean():item() })
    end
  end)

  -- in the top 5: fewer than 5 scores above the class's own, ties in, as
  -- Keras's in_top_k; a NaN score of the class is below every other
  it('computes top_k_categorical_accuracy and its sparse form with k = 5, as Keras\'s', function()
    local nan = 0 / 0
    local P = nl.tensor({
      { 7, 6, 5, 4, 3, 2, 1 },          -- class 5: 4 above, in
      { 7, 6, 5, 4, 3, 2, 1 },          -- class 6: 5 above, out
      { 1, 1, 1, 1, 1, 1, 1 },          -- class 7: all tied, in
      { 9, 8, 7, 6, 5, 5, 5 },          -- class 7: tied with the 5th best, in
      { 9, 8, 7, 6, 5, 4, nan },        -- class 7 of NaN: out
      { nan, 8, 7, 6, 5, 3, 4 },        -- class 7: a NaN is not above it, 4 are, in
    }, 'float64')
    local cls = nl.tensor({ 5, 6, 7, 7, 7, 7 }, 'int64')
    local onehot = nl.zeros(6, 7, 'float64')
    for i, c in ipairs(cls:totable()) do onehot[i][c] = 1 end
    local _, met = identity('mse', { 'top_k_categorical_accuracy' }):evaluate(P, onehot, { batch_size = 4 })
    assert.are.equal(4 / 6, met.top_k_categorical_accuracy)
    local ce = identity('cross_entropy', { 'sparse_top_k_categorical_accuracy' })
    _, met = ce:evaluate(P, cls, { batch_size = 4 })
    assert.are.equal(4 / 6, met.sparse_top_k_categorical_accuracy)
    -- per element, ignored ones left out: (N, C, L) scores of the rows above
    local seg = P:view(2, 3, 7):permute({ 1, 3, 2 }):contiguous()          -- (2, 7, 3)
    local ys = nl.tensor({ { 5, 6, 7 }, { 7, -100, 7 } }, 'int64')       -- the NaN class's row ignored
    local ig = identity(nn.CrossEntropyLoss({ ignore_index = -100 }), { 'sparse_top_k_categorical_accuracy', 'accuracy' })
    _, met = ig:evaluate(seg, ys, { batch_size = 1 })
    assert.are.equal(4 / 5, met.sparse_top_k_categorical_accuracy)
    assert.are.equal(0, met.accuracy)      -- no kept row's class is its first
    -- a wrong form of target names the metric and the call
    contains(errmsg(ce.evaluate, ce, P, onehot),
             "evaluate: metric 'sparse_top_k_categorical_accuracy' takes int64 class indices")
    local tk = identity('cross_entropy', { 'top_k_categorical_accuracy' })
    contains(errmsg(tk.evaluate, tk, P, cls), "evaluate: metric 'top_k_categorical_accuracy' ranks class scores")
  end)

  it('refuses a metric its loss cannot give, naming compile, the metric and the loss', function()
    local m = fixed()
    local function refused(loss, metric, part)
      contains(errmsg(m.compile, m, { loss = loss, metrics = { metric } }), part)
    end
    refused('cross_entropy', 'mse', "compile: metric 'mse' compares outputs with targets of their shape")
    refused(nn.MultiMarginLoss(), 'mae', "compile: metric 'mae'")
    refused(nn.HingeEmbeddingLoss(), 'accuracy', "compile: metric 'accuracy' with nn.HingeEmbeddingLoss: its input is a distance")
    refused('bce_with_logits', 'binary_accuracy', "compile: metric 'binary_accuracy' thresholds probabilities at 0.5")
    refused('cross_entropy', 'binary_accuracy', "'cross_entropy' takes class scores and indices: use 'accuracy'")
    refused(nn.SoftMarginLoss(), 'binary_accuracy', "nn.SoftMarginLoss takes scores against +-1 targets")
    refused('bce', 'top_k_categorical_accuracy', "compile: metric 'top_k_categorical_accuracy' ranks class scores")
    refused('mse', 'sparse_top_k_categorical_accuracy', "compile: metric 'sparse_top_k_categorical_accuracy' takes class "
            .. "indices")
    refused(function(p, t) return F.cross_entropy(p, t) end, 'sparse_top_k_categorical_accuracy', 'got a loss function')
    refused('mse', 'top_5', "compile: unknown metric 'top_5' (accuracy (acc), mae (mean_absolute_error), mse")
    -- no 'hinge': Keras's max(0, 1 - y p) is no loss of nnlua's
    contains(errmsg(m.compile, m, { loss = 'hinge' }), "compile: unknown loss 'hinge'")
    -- fit names itself when a metric meets targets it cannot read
    -- (before the first step changes the weights)
    m:compile { optimizer = 'sgd', lr = 0.5, loss = 'cross_entropy', metrics = { 'top_k_categorical_accuracy' } }
    local before = m.weight:clone()
    contains(errmsg(m.fit, m, X, nl.tensor({ 1, 2, 3, 1, 2, 3, 1 }, 'int64'), { verbose = 0 }),
             "fit: metric 'top_k_categorical_accuracy' ranks class scores")
    assert.are.same(before:totable(), m.weight:totable())
  end)
end)

describe('nl.plot', function()
  local history
  setup(function()
    local X, y = blobs(120, 21)
    local Xv, yv = blobs(60, 22)
    nl.manual_seed(21)
    local model = classifier()
    model:compile { optimizer = 'adam', lr = 0.01, loss = 'cross_entropy', metrics = { 'accuracy' } }
    history = model:fit(X, y, { epochs = 5, batch_size = 16, validation_data = { Xv, yv }, verbose = 0 })
  end)

  it('writes a well-formed SVG of the loss and accuracy curves', function()
    local path = dir .. '/curves.svg'
    assert.are.equal(path, nl.plot(history, path))
    local svg = read(path)
    assert(svg:find('^%s*<svg'), 'does not start with <svg')
    local elems = parse_svg(svg)
    assert_numeric_coords(elems)
    local drawn, count = series(elems)
    assert.are.equal(4, count)
    assert_drawn({ ['train loss'] = history.loss, ['validation loss'] = history.val_loss }, drawn)
    assert_drawn({ ['train accuracy'] = history.accuracy, ['validation accuracy'] = history.val_accuracy }, drawn)
    -- the accuracy chart sits to the right of the loss chart
    assert(drawn['train accuracy'].xs[1] > drawn['train loss'].xs[#history.loss])
  end)

  it('draws only the loss when the history has nothing else', function()
    local path = dir .. '/loss_only.svg'
    nl.plot({ loss = { 3, 2, 2.5, 1 } }, path)
    local elems = parse_svg(read(path))
    local drawn, count = series(elems)
    assert.are.equal(1, count)
    assert_drawn({ ['train loss'] = { 3, 2, 2.5, 1 } }, drawn)
  end)

  it('keeps the SVG well-formed when a run diverged (NaN and inf losses)', function()
    local path = dir .. '/diverged.svg'
    nl.plot({ loss = { 1, 0.5, 0 / 0, math.huge } }, path)
    assert_numeric_coords(parse_svg(read(path)))
  end)

  it('rejects a bad history with a plot error, and writes nothing', function()
    local path = dir .. '/bad.svg'
    for _, h in ipairs({ 'nope', {}, { loss = 5 }, { loss = { 1, 'x' } }, { loss = { 1, 2 }, accuracy = 3 } }) do
      contains(errmsg(nl.plot, h, path), 'plot: ')
    end
    contains(errmsg(nl.plot, nil, path), 'plot: ')
    contains(errmsg(nl.plot, { loss = { 1 } }, 42), 'plot: ')
    assert.is_nil(io.open(path))
  end)

  -- the temporary file's name (path .. '.tmp.<pid>') went past the 255
  -- bytes a file name may have, and a failed write left it behind
  it('writes to a 250-byte file name, and a failed write leaves no temporary file', function()
    local sub = dir .. '/svg'
    assert(os.execute('mkdir -p ' .. q(sub)) == 0)
    local name = ('s'):rep(246) .. '.svg'
    nl.plot({ loss = { 1, 0.5 } }, sub .. '/' .. name)
    contains(errmsg(nl.plot, { loss = { 1 } }, sub), 'plot: cannot write')
    local p = io.popen('ls -A ' .. q(sub))
    local listing = p:read('*a')
    p:close()
    assert.are.equal(name .. '\n', listing)
  end)

  teardown(function() os.execute('rm -rf ' .. q(dir)) end)
end)
