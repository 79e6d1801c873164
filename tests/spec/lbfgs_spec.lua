-- optim.LBFGS against PyTorch 1.13's torch.optim.LBFGS.
-- Golden: tests/golden/lbfgs.lua (tests/golden/gen_lbfgs.py): the Rosenbrock
-- function in 2 and 4 dims, a least-squares linear regression and a
-- logistic regression (a weight and a bias), with a fixed step and with
-- the strong Wolfe line search, several opt:step(closure) calls each: the
-- loss each step returns, every parameter after it, and the state's
-- func_evals and n_iter, exactly (they count every branch taken); and the
-- same run resumed from state_dict part way (also through a checkpoint
-- file), against the uninterrupted one.
-- Tolerance, on parameters and losses: float64 relative 1e-9 (PyTorch's
-- arithmetic but for the order of its sums, over up to 40 iterations of a
-- recursion); float32 relative 1e-4 (PyTorch also rounds the scalars to
-- float32).
local nl = require 'nnlua'
local S = require 'support'
local nn, optim, F = nl.nn, nl.optim, nl.nn.functional

local G = dofile(S.root .. '/tests/golden/lbfgs.lua')
local TOL = { float64 = { 1e-9, 1e-12 }, float32 = { 1e-4, 1e-5 } }
local errmsg, contains = S.errmsg, S.contains

local function rosenbrock(x)
  local n = x:numel()
  local a, b = x:narrow(1, 1, n - 1), x:narrow(1, 2, n - 1)
  return (100 * (b - a ^ 2) ^ 2 + (1 - a) ^ 2):sum()
end

-- case c's parameters (fresh, from start, or from the tensors given) and
-- the loss of them; the regressions through an nn.Linear, whose weight
-- and bias are the parameters
local function problem(c, from)
  from = from or {}
  local params, model = {}, nil
  for i, s in ipairs(c.start) do params[i] = (from[i] or S.from_golden(s)):detach():clone():requires_grad() end
  if c.problem == 'rosenbrock' then return params, function() return rosenbrock(params[1]) end end
  model = nn.Linear(c.X.shape[2], 1)
  if c.dtype == 'float64' then model:double() end
  model.weight, model.bias = params[1], params[2]
  local X, y = S.from_golden(c.X), S.from_golden(c.y)
  local loss_fn = c.problem == 'linreg' and F.mse_loss or F.binary_cross_entropy_with_logits
  return params, function() return loss_fn(model(X), y) end, model
end

local function closure_of(opt, f)
  return function()
    opt:zero_grad()
    local l = f()
    l:backward()
    return l
  end
end

local function check_step(c, opt, params, loss, k, what)
  local want = c.steps[k]
  local rtol, atol = TOL[c.dtype][1], TOL[c.dtype][2]
  what = ('%s, step %d%s'):format(c.name, k, what or '')
  assert.is_true(nl.is_tensor(loss), what .. ': step returns the closure\'s loss')
  assert.is_true(S.close(loss:item(), want.loss, rtol, atol),
                 ('%s: loss %.17g, want %.17g'):format(what, loss:item(), want.loss))
  for i, p in ipairs(params) do S.expect_close(p, want.params[i], ('%s, parameter %d'):format(what, i), rtol, atol) end
  local st = opt.state[1]
  assert.are.equal(want.func_evals, st.func_evals, what .. ': func_evals')
  assert.are.equal(want.n_iter, st.n_iter, what .. ': n_iter')
end

describe('LBFGS against PyTorch', function()
  for _, c in ipairs(G.cases) do
    it(('%s: %d steps'):format(c.name, #c.steps), function()
      local params, f = problem(c)
      local opt = optim.LBFGS(params, c.opts)
      local closure = closure_of(opt, f)
      for k = 1, #c.steps do check_step(c, opt, params, opt:step(closure), k) end
    end)

    it(('%s: resumed from state_dict after %d steps'):format(c.name, c.resume_at), function()
      local params, f = problem(c)
      local opt = optim.LBFGS(params, c.opts)
      for _ = 1, c.resume_at do opt:step(closure_of(opt, f)) end
      local sd = opt:state_dict()
      local at = {}
      for i, p in ipairs(params) do at[i] = p:detach():clone() end
      opt:step(closure_of(opt, f))              -- (the saved dict is a copy: later steps leave it)
      local params2, f2 = problem(c, at)
      local opt2 = optim.LBFGS(params2, c.opts)
      opt2:load_state_dict(sd)
      local closure = closure_of(opt2, f2)
      for k = c.resume_at + 1, #c.steps do check_step(c, opt2, params2, opt2:step(closure), k, ' (resumed)') end
    end)
  end

  -- a trajectory that did not move would pass a case of a loose tolerance
  it('the golden cases move the parameters and use both kinds of step', function()
    local wolfe = 0
    for _, c in ipairs(G.cases) do
      assert.are_not.same(c.start[1].data, c.steps[1].params[1].data, c.name)
      if c.opts.line_search_fn then wolfe = wolfe + 1 end
    end
    assert.is_true(wolfe >= 3 and wolfe <= #G.cases - 3)
  end)
end)

describe('LBFGS', function()
  local function quad()
    local x = nl.tensor({ 3, -2 }, 'float64'):requires_grad()
    local opt = optim.LBFGS({ x }, { line_search_fn = 'strong_wolfe' })
    return x, opt, closure_of(opt, function() return (x * x * nl.tensor({ 1, 4 }, 'float64')):sum() end)
  end

  it('saves and loads through a checkpoint file, its pairs and vectors as tensors', function()
    local c
    for _, x in ipairs(G.cases) do if x.name == 'linreg_fixed' then c = x end end
    local params, f, model = problem(c)
    local opt = optim.LBFGS(params, c.opts)
    for _ = 1, c.resume_at do opt:step(closure_of(opt, f)) end
    local path = S.tmpdir() .. '/lbfgs.safetensors'
    model:save(path, { optimizer = opt })
    local model2, extras = nn.load(path)
    local params2 = { model2.weight, model2.bias }
    local opt2 = optim.LBFGS(params2, c.opts)
    opt2:load_state_dict(extras.optimizer)
    assert.are.equal(#opt.state[1].old_dirs, #opt2.state[1].old_dirs)
    assert.is_true(#opt2.state[1].old_dirs > 0)
    local X, y = S.from_golden(c.X), S.from_golden(c.y)
    local closure = closure_of(opt2, function() return F.mse_loss(model2(X), y) end)
    for k = c.resume_at + 1, #c.steps do check_step(c, opt2, params2, opt2:step(closure), k, ' (from the file)') end
  end)

  -- f = x1^2 + 4 x2^2 from (3, -2): the first direction is -g = (-6, 16),
  -- the first step t = min(1, 1 / |g|_1) * lr = 1 / 22; with lr 1 and no
  -- line search, x after one iteration is (3 - 6/22, -2 + 16/22)
  -- a group saved without a line search has no line_search_fn key (a Lua
  -- table holds no nil): the receiver kept its 'strong_wolfe'
  it('loads the saved line search, none included, over the receiver\'s', function()
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local plain = optim.LBFGS({ x }, { max_iter = 3 })
    local wolfe = optim.LBFGS({ x }, { max_iter = 3, line_search_fn = 'strong_wolfe' })
    local sd_plain, sd_wolfe = plain:state_dict(), wolfe:state_dict()
    wolfe:load_state_dict(sd_plain)
    assert.is_nil(wolfe.param_groups[1].line_search_fn)
    plain:load_state_dict(sd_wolfe)
    assert.are.equal('strong_wolfe', plain.param_groups[1].line_search_fn)
    -- and the resumed run steps as the saved one: a fixed first step of
    -- min(1, 1 / |g|_1) * lr along -g for f = sum(x^2), g = 2x = (2, 4)
    local x2 = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local o = optim.LBFGS({ x2 }, { max_iter = 1, line_search_fn = 'strong_wolfe' })
    o:load_state_dict(optim.LBFGS({ x2 }, { max_iter = 1 }):state_dict())
    o:step(closure_of(o, function() return (x2 * x2):sum() end))
    assert.is_true(math.abs(x2[1] - (1 - 2 / 6)) < 1e-15 and math.abs(x2[2] - (2 - 4 / 6)) < 1e-15)
  end)

  it('takes a first step of min(1, 1 / |g|_1) * lr along -g', function()
    local x = nl.tensor({ 3, -2 }, 'float64'):requires_grad()
    local opt = optim.LBFGS({ x }, { max_iter = 1 })
    local l = opt:step(closure_of(opt, function() return (x * x * nl.tensor({ 1, 4 }, 'float64')):sum() end))
    assert.are.equal(25, l:item())
    local v = x:totable()
    assert.is_true(S.close(v[1], 3 - 6 / 22, 1e-15) and S.close(v[2], -2 + 16 / 22, 1e-15))
    assert.are.equal(1, opt.state[1].func_evals)      -- (no evaluation after the last iteration)
  end)

  -- at the minimum's neighbourhood the gradient is below tolerance_grad:
  -- a step then evaluates once and returns, no iteration taken
  it('minimizes a quadratic, and then stops at its first gradient', function()
    local x, opt, closure = quad()
    opt.param_groups[1].tolerance_grad = 1e-4
    opt:step(closure)
    local v = x:totable()
    assert.is_true(math.abs(v[1]) < 1e-4 and math.abs(v[2]) < 1e-4)
    local evals, iters = opt.state[1].func_evals, opt.state[1].n_iter
    opt:step(closure)
    assert.are.equal(evals + 1, opt.state[1].func_evals)
    assert.are.equal(iters, opt.state[1].n_iter)
    assert.are.same(v, x:totable())
  end)

  it('reads a number as the loss, and runs the closure with grad mode on inside no_grad', function()
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local opt = optim.LBFGS({ x }, { max_iter = 3 })
    local modes = {}
    local function closure()
      modes[#modes + 1] = nl.is_grad_enabled()
      opt:zero_grad()
      local l = (x * x):sum()
      l:backward()
      return l:item()
    end
    assert.are.equal(5, nl.no_grad(function() return opt:step(closure) end))
    assert.are.same({ true, true, true }, modes)
    assert.is_true(x.is_requires_grad)
  end)

  it('leaves a parameter without a gradient where it is', function()
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local unused = nl.tensor({ 5, 6, 7 }, 'float64'):requires_grad()
    local opt = optim.LBFGS({ x, unused }, { line_search_fn = 'strong_wolfe' })
    opt:step(closure_of(opt, function() return ((x - 1) ^ 2):sum() end))
    assert.are.same({ 5, 6, 7 }, unused:totable())
    local v = x:totable()
    assert.is_true(math.abs(v[1] - 1) < 1e-6 and math.abs(v[2] - 1) < 1e-6)
  end)

  it('passes a closure\'s error on, with grad mode restored', function()
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local opt = optim.LBFGS({ x }, { max_iter = 4 })
    local n = 0
    local err = errmsg(opt.step, opt, function()
      n = n + 1
      if n == 2 then error('my closure failed', 0) end
      opt:zero_grad()
      local l = (x * x):sum()
      l:backward()
      return l
    end)
    assert.are.equal('my closure failed', err)
    assert.is_true(nl.is_grad_enabled())
  end)

  it('works under an lr scheduler', function()
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local opt = optim.LBFGS({ x }, { lr = 0.5 })
    local s = optim.StepLR(opt, { step_size = 1, gamma = 0.5 })
    opt:step(closure_of(opt, function() return (x * x):sum() end))
    s:step()
    assert.are.equal(0.25, opt.lr)
  end)

  it('refuses bad options, groups, dtypes and closures, naming LBFGS', function()
    local x = nl.zeros(2):requires_grad()
    local cases = {
      { { { x }, { max_iter = 0 } }, 'LBFGS: max_iter must be a positive integer, got 0' },
      { { { x }, { history_size = 2.5 } }, 'LBFGS: history_size must be a positive integer, got 2.5' },
      { { { x }, { max_eval = 0 } }, 'LBFGS: max_eval must be a positive integer, got 0' },
      { { { x }, { line_search_fn = 'wolfe' } }, "LBFGS: line_search_fn must be nil or 'strong_wolfe', got 'wolfe'" },
      { { { x }, { tolerance_grad = 0 / 0 } }, 'LBFGS: tolerance_grad must be a number, got nan' },
      { { { x }, { lr = -1 } }, 'LBFGS: invalid learning rate -1' },
      { { { x }, { line_search = 'strong_wolfe' } }, "LBFGS: unknown option 'line_search'" },
      { { { { params = { x } }, { params = { nl.zeros(1):requires_grad() } } } }, 'LBFGS: takes one param group' },
      { { { x, nl.zeros(1, 'float64'):requires_grad() } },
        'LBFGS: the parameters must share one dtype (parameter 1 is float32, parameter 2 float64)' },
    }
    for _, cs in ipairs(cases) do contains(errmsg(optim.LBFGS, unpack(cs[1])), cs[2]) end
    local opt = optim.LBFGS({ x })
    contains(errmsg(opt.step, opt), 'LBFGS: step needs a closure that re-evaluates the model and returns the loss')
    contains(errmsg(opt.step, opt, function() return 'x' end),
             "LBFGS: step: the closure must return the loss, a number or a one-element tensor, got 'x'")
    contains(errmsg(opt.step, opt, function() return nl.zeros(2) end), 'got a tensor (float32 [2])')
    opt.param_groups[1].max_iter = -1
    contains(errmsg(opt.step, opt, function() return 0 end), 'LBFGS: step: max_iter must be a positive integer, got -1')
    contains(errmsg(optim.LBFGS({ x }).step, nil, function() return 0 end), 'step: expected an optimizer')
  end)

  it('refuses a state_dict that does not fit, and keeps its own', function()
    local x, opt, closure = quad()
    opt.param_groups[1].max_iter = 3
    opt:step(closure)
    local before = opt:state_dict()
    local function broken(change)
      local sd = opt:state_dict()
      change(sd)
      return errmsg(opt.load_state_dict, opt, sd)
    end
    contains(broken(function(sd) sd.state[1].d = nl.zeros(3, 'float64') end),
             'LBFGS: load_state_dict: state d must be a 1-D tensor of 2 elements')
    contains(broken(function(sd) sd.state[1].old_dirs[1] = 'x' end), 'state old_dirs must be a list of at most')
    contains(broken(function(sd) sd.state[1].ro = { 1, 2, 3 } end), 'old_stps and ro must be lists of one length')
    contains(broken(function(sd) sd.state[1].H_diag = nil end), 'state lacks H_diag (saved after 3 iterations)')
    contains(broken(function(sd) sd.state[1].momentum_buffer = 1 end), 'unknown state momentum_buffer')
    contains(broken(function(sd) sd.state[2] = sd.state[1] end), 'state for parameter 2')
    contains(broken(function(sd) sd.param_groups[1].line_search_fn = 'x' end), 'line_search_fn must be nil or')
    contains(broken(function(sd) sd.optimizer = 'SGD' end), 'the state_dict is from SGD')
    contains(errmsg(opt.load_state_dict, opt, { state = {}, param_groups = { {}, {} } }), 'expected one param group')
    local now = opt:state_dict()
    assert.are.equal(before.state[1].n_iter, now.state[1].n_iter)
    assert.are.equal(#before.state[1].old_dirs, #now.state[1].old_dirs)
    assert.are.same(before.state[1].d:totable(), now.state[1].d:totable())
    assert.are.equal(3, opt.param_groups[1].max_iter)
    assert.is_true(x:numel() == 2)
  end)
end)
