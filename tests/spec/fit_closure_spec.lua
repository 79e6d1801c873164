-- fit_closure_spec.lua: model:fit driving an optimizer whose step takes a
-- closure (optim.LBFGS, needs_closure): fit's closure re-evaluates the
-- batch's loss, zeroes the gradients and backpropagates, as a PyTorch
-- user's hand-written loop does. Checked against closed forms (the normal
-- equations of least squares, plain and weighted, solved here in Lua
-- doubles), against that hand-written loop (the same parameters bit for
-- bit), and for what fit reports: the loss of each step's first
-- evaluation, history, metrics, validation and callbacks; then misuse.
local nl = require 'nnlua'
local S = require 'support'
local nn, optim, F = nl.nn, nl.optim, nl.nn.functional

local U = S.rng(20261128)

-- a float64 (n, k) tensor of U(-1, 1) values not drawn by nnlua's RNG
local function rand64(n, k)
  return nl.tensor(S.nested({ n, k }, function() return U(-1, 1) end), 'float64')
end

-- the weighted least-squares fit of y (n, 1) by X (n, k) and a bias:
-- solves (A^T W A) beta = A^T W y, A = [X, 1], by Gaussian elimination
-- with partial pivoting in Lua doubles; returns the k weights and the bias
local function normal_equations(X, y, w)
  local x, yt = X:totable(), y:totable()
  local n, k = #x, #x[1]
  local m = k + 1
  local M = {}
  for i = 1, m do
    M[i] = {}
    for j = 1, m + 1 do M[i][j] = 0 end
  end
  for r = 1, n do
    local a = {}
    for j = 1, k do a[j] = x[r][j] end
    a[m] = 1
    local wr = w and w[r] or 1
    for i = 1, m do
      for j = 1, m do M[i][j] = M[i][j] + wr * a[i] * a[j] end
      M[i][m + 1] = M[i][m + 1] + wr * a[i] * yt[r][1]
    end
  end
  for col = 1, m do
    local piv = col
    for r = col + 1, m do if math.abs(M[r][col]) > math.abs(M[piv][col]) then piv = r end end
    M[col], M[piv] = M[piv], M[col]
    for r = col + 1, m do
      local f = M[r][col] / M[col][col]
      for j = col, m + 1 do M[r][j] = M[r][j] - f * M[col][j] end
    end
  end
  local beta = {}
  for i = m, 1, -1 do
    local s = M[i][m + 1]
    for j = i + 1, m do s = s - M[i][j] * beta[j] end
    beta[i] = s / M[i][i]
  end
  local bias = table.remove(beta)
  return beta, bias
end

-- y = X t + 0.3 + noise, for the true weights t
local function problem(n, t)
  local X = rand64(n, #t)
  local noise = rand64(n, 1) * 0.1
  return X, X:matmul(nl.tensor({ t }, 'float64'):t()) + 0.3 + noise
end

local function lbfgs(m, opts)
  local o = { line_search_fn = 'strong_wolfe', tolerance_grad = 1e-12, tolerance_change = 0, max_iter = 50 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return optim.LBFGS(m:parameters(), o)
end

-- (the parameters to 1e-8: near the minimum a line search sees the loss
-- change by about |error|^2, under float64's rounding of the loss itself
-- past errors of about 1e-9)
local PTOL = 1e-8

local function expect_near(got, want, tol, what)
  assert.is_true(math.abs(got - want) <= tol, ('%s: %.17g, expected %.17g (within %g)'):format(what, got, want, tol))
end

describe('fit with a closure optimizer (LBFGS)', function()
  it('reaches the least-squares solution of the normal equations, with history, metrics and validation', function()
    nl.manual_seed(1)
    local X, y = problem(200, { 1, -2, 0.5, 3 })
    local Xv, yv = problem(50, { 1, -2, 0.5, 3 })
    local m = nn.Linear(4, 1):double()
    -- the loss at the initial parameters: what the first epoch's single
    -- step reports (its first evaluation)
    local initial = nl.no_grad(function() return F.mse_loss(m(X), y):item() end)
    m:compile { optimizer = lbfgs(m), loss = 'mse', metrics = { 'mae' } }
    local h = m:fit(X, y, { epochs = 3, batch_size = 200, verbose = 0, validation_data = { Xv, yv } })
    local beta, bias = normal_equations(X, y)
    local W = m.weight:totable()[1]
    for j = 1, 4 do expect_near(W[j], beta[j], PTOL, 'weight ' .. j) end
    expect_near(m.bias:item(), bias, PTOL, 'bias')
    -- the losses: the first evaluations of steps 1 to 3
    assert.are.equal(3, #h.loss)
    expect_near(h.loss[1], initial, 1e-12 * initial, 'loss of epoch 1 (at the initial parameters)')
    local best = F.mse_loss(X:matmul(nl.tensor({ beta }, 'float64'):t()) + bias, y):item()
    assert.is_true(h.loss[1] > 100 * best, 'the first loss is far above the minimum')
    expect_near(h.loss[2], best, 1e-12, 'loss of epoch 2 (at the minimum)')
    expect_near(h.loss[3], best, 1e-12, 'loss of epoch 3')
    local fitted = nl.no_grad(function() return m(X) end)
    expect_near(h.mae[3], (fitted - y):abs():mean():item(), 1e-12, 'mae of epoch 3')
    local vbest = F.mse_loss(Xv:matmul(nl.tensor({ beta }, 'float64'):t()) + bias, yv):item()
    expect_near(h.val_loss[3], vbest, 1e-9, 'val_loss of epoch 3 (at the parameters, within PTOL of the solution)')
    assert.are.equal(3, #h.val_mae)
    -- LBFGS evaluated the closure more than once a step
    assert.is_true(m.optimizer.state[1].func_evals > 6, 'func_evals ' .. m.optimizer.state[1].func_evals)
  end)

  it('weighs the closure\'s losses by sample_weight: the weighted normal equations', function()
    nl.manual_seed(2)
    local X, y = problem(120, { -1, 0.25, 2 })
    local w = {}
    for i = 1, 120 do w[i] = 0.1 + 2 * (i % 7) / 7 end
    local m = nn.Linear(3, 1):double()
    m:compile { optimizer = lbfgs(m), loss = 'mse' }
    m:fit(X, y, { epochs = 2, batch_size = 120, verbose = 0, sample_weight = nl.tensor(w, 'float64') })
    local beta, bias = normal_equations(X, y, w)
    local plain = normal_equations(X, y)
    assert.is_true(math.abs(plain[1] - beta[1]) > 1e-4, 'the weights change the solution')
    local W = m.weight:totable()[1]
    for j = 1, 3 do expect_near(W[j], beta[j], PTOL, 'weight ' .. j) end
    expect_near(m.bias:item(), bias, PTOL, 'bias')
  end)

  it('steps as the loop a PyTorch user writes by hand: the same parameters, bit for bit', function()
    nl.manual_seed(3)
    local X, y = problem(90, { 0.5, -1 })
    local function model()
      nl.manual_seed(9)
      return nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)):double()
    end
    local opts = { line_search_fn = 'strong_wolfe', max_iter = 5 }
    local a = model()
    a:compile { optimizer = lbfgs(a, opts), loss = 'mse' }
    local steps, losses = 0, {}
    local h = a:fit(X, y, { epochs = 2, batch_size = 40, shuffle = false, verbose = 0,
                            on_step = function(_, _, l) steps = steps + 1; losses[steps] = l end })
    local b = model()
    local opt = lbfgs(b, opts)
    local mine = {}
    for _ = 1, 2 do
      for start = 1, 90, 40 do
        local len = math.min(40, 90 - start + 1)
        local xb, yb = X:narrow(1, start, len), y:narrow(1, start, len)
        local l = opt:step(function()
          opt:zero_grad()
          local loss = F.mse_loss(b(xb), yb)
          loss:backward()
          return loss
        end)
        mine[#mine + 1] = l:item()
      end
    end
    assert.are.equal(6, steps)
    assert.are.same(mine, losses)
    local pa, pb = a:parameters(), b:parameters()
    for i = 1, #pa do S.same_bits(pa[i], pb[i], 'parameter ' .. i) end
    -- history: each epoch's loss is the mean of its steps' first losses, weighted by their rows
    expect_near(h.loss[2], (losses[4] * 40 + losses[5] * 40 + losses[6] * 10) / 90, 1e-12, 'loss of epoch 2')
  end)

  it('runs the callbacks and takes a DataLoader and an lr scheduler', function()
    nl.manual_seed(4)
    local X, y = problem(64, { 1, 1 })
    local m = nn.Linear(2, 1):double()
    m:compile { optimizer = lbfgs(m, { max_iter = 3 }), loss = 'mse' }
    local seen = {}
    local cb = { on_train_batch_end = function(_, step, logs) seen[#seen + 1] = { step, logs.loss } end }
    local loader = nl.data.DataLoader(nl.data.TensorDataset(X, y), { batch_size = 32 })
    local sched = optim.StepLR(m.optimizer, { step_size = 1, gamma = 0.5 })
    local h = m:fit(loader, { epochs = 2, verbose = 0, callbacks = { cb }, lr_scheduler = sched })
    assert.are.equal(4, #seen)
    assert.are.equal(2, seen[4][1])
    assert.are.equal(h.loss[2], seen[4][2])
    assert.are.equal(0.25, m.optimizer.param_groups[1].lr)
    assert.is_true(h.loss[2] < h.loss[1])
  end)

  it('gives any optimizer with needs_closure = true a closure that returns the loss', function()
    nl.manual_seed(5)
    local X, y = problem(10, { 1 })
    local m = nn.Linear(1, 1):double()
    local calls = {}
    local own = { needs_closure = true }
    function own:step(closure)
      calls[#calls + 1] = type(closure)
      local l1 = closure()
      local g = m.weight.grad:item()
      local l2 = closure()      -- again: the same loss, the gradients zeroed first, not summed
      assert.are.equal(l1:item(), l2:item())
      assert.are.equal(g, m.weight.grad:item())
      return l1
    end
    function own:zero_grad() for _, p in ipairs(m:parameters()) do p.grad = nil end end
    m:compile { optimizer = own, loss = 'mse' }
    m:fit(X, y, { epochs = 1, batch_size = 5, verbose = 0 })
    assert.are.same({ 'function', 'function' }, calls)
  end)
end)

describe('fit with a closure optimizer: misuse', function()
  it('refuses DataParallel over several ranks, naming the optimizer and the ranks', function()
    local m = nn.Linear(2, 1)
    m:compile { optimizer = optim.LBFGS(m:parameters()), loss = 'mse' }
    rawset(m, '_data_parallel', true)
    local real = nl._dist_world
    nl._dist_world = function() return { size = function() return 2 end, rank = function() return 0 end } end
    local ok, err = pcall(m.fit, m, nl.randn(4, 2), nl.randn(4, 1), { verbose = 0 })
    nl._dist_world = real
    assert.is_false(ok)
    S.contains(tostring(err), "fit: LBFGS steps with a closure that reads each rank's own loss")
    S.contains(tostring(err), 'the 2 ranks would step apart')
  end)

  it('refuses an LBFGS built on another model\'s parameters, and a step without a closure outside fit', function()
    local m, other = nn.Linear(2, 1), nn.Linear(2, 1)
    local ok, err = pcall(m.compile, m, { optimizer = optim.LBFGS(other:parameters()), loss = 'mse' })
    assert.is_false(ok)
    S.contains(tostring(err), "compile: the optimizer's parameters are not this model's")
    local opt = optim.LBFGS(m:parameters())
    ok, err = pcall(opt.step, opt)
    assert.is_false(ok)
    S.contains(tostring(err), 'LBFGS: step needs a closure')
  end)

  it('a loss that fails in the closure is fit\'s error, naming the shapes', function()
    local m = nn.Linear(2, 3)
    m:compile { optimizer = optim.LBFGS(m:parameters()), loss = 'mse' }
    local ok, err = pcall(m.fit, m, nl.randn(4, 2), nl.randn(4, 2), { verbose = 0 })
    assert.is_false(ok)
    S.contains(tostring(err), 'mse_loss: input shape [4,3] and target shape [4,2] differ')
  end)
end)
