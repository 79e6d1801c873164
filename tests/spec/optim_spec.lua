-- Optimizers, LR schedulers, clip_grad_norm and l1_penalty (nl.optim).
-- Golden: tests/golden/optim.lua (tests/golden/gen_optim.py, PyTorch 1.13):
-- a linear model 4 -> 3 trained 10 steps by each optimizer configuration,
-- in float32 and float64, with the loss computed by nnlua ops and autograd.
-- Tolerance on every parameter after every step:
--   |got - want| <= RTOL * |want| + ATOL,
--   float32: RTOL 1e-5, ATOL 1e-6; float64: RTOL 1e-10, ATOL 1e-12.
-- Scheduler lrs: relative 1e-12 (the same recursive formulas as PyTorch).
local nl = require 'nnlua'
local S = require 'support'
local ffi = require 'ffi'

-- nl.optim is filled by require 'nnlua' once init.lua loads nnlua.optim
local optim = nl.optim.SGD and nl.optim or require('nnlua.optim')(nl)
local G = dofile(S.root .. '/tests/golden/optim.lua')

local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-10, 1e-12 } }

local flat = S.flat

-- true, or false and the first element out of tolerance
local function all_close(got, want, rtol, atol)
  if #got ~= #want then return false, ('%d elements, want %d'):format(#got, #want) end
  for i = 1, #want do
    if not S.close(got[i], want[i], rtol, atol) then
      return false, ('element %d: got %.10g, want %.10g'):format(i, got[i], want[i])
    end
  end
  return true
end

local function assert_close(got, want, rtol, atol, what)
  local ok, msg = all_close(got, want, rtol, atol)
  assert.is_true(ok, (what or '') .. ': ' .. tostring(msg))
end

local function assert_equal_tensors(a, b, what)
  local ok, msg = all_close(flat(a), flat(b), 0, 0)
  assert.is_true(ok, (what or '') .. ': ' .. tostring(msg))
end

-- the golden problem (W, b leaves that require grad; x, t data), its loss
-- and the case's optimizer over it
local function problem(dtype, W, b) return S.optim_problem(G.problem, dtype, W, b) end
local loss_of = S.optim_loss
local function make_opt(c, m, opts) return S.optim_make(optim, c, m, opts) end
local train_step = S.optim_step
local function find_case(name, dtype) return S.optim_find(G.optimizers, name, dtype) end

describe('optimizers against PyTorch', function()
  for _, c in ipairs(G.optimizers) do
    it(('%s (%s): parameters after each of %d steps'):format(c.name, c.dtype, #c.steps), function()
      local m = problem(c.dtype)
      local opt = make_opt(c, m)
      local rtol, atol = TOL[c.dtype][1], TOL[c.dtype][2]
      for step, want in ipairs(c.steps) do
        train_step(opt, m)
        assert_close(flat(m.W), want.W, rtol, atol, ('step %d W'):format(step))
        assert_close(flat(m.b), want.b, rtol, atol, ('step %d b'):format(step))
      end
    end)
  end
end)

describe('LR schedulers against PyTorch', function()
  for _, c in ipairs(G.schedulers) do
    it(('%s: lrs over %d steps'):format(c.name, #c.values - 1), function()
      local groups = {}
      for i, lr in ipairs(c.lrs) do groups[i] = { params = { nl.zeros(1):requires_grad() }, lr = lr } end
      local opt = optim.SGD(groups, { lr = c.lrs[1] })
      local sched = optim[c.scheduler](opt, c.opts)
      for e, want in ipairs(c.values) do
        if e > 1 then
          opt:step()
          sched:step()
        end
        local got = sched:get_last_lr()
        assert_close(got, want, 1e-12, 0, ('epoch %d'):format(e - 1))
        for i, g in ipairs(opt.param_groups) do assert.are.equal(got[i], g.lr) end
      end
      assert.are.equal(c.values[#c.values][1], opt.lr)
    end)
  end

  it('scheduler state_dict resumes the schedule', function()
    local opt = optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 0.1 })
    local sched = optim.CosineAnnealingLR(opt, { T_max = 5, eta_min = 0.01 })
    for _ = 1, 3 do sched:step() end
    local osd, ssd = opt:state_dict(), sched:state_dict()
    local want = {}
    for e = 1, 8 do sched:step(); want[e] = sched:get_last_lr()[1] end
    local opt2 = optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 0.5 })
    local sched2 = optim.CosineAnnealingLR(opt2, { T_max = 5, eta_min = 0.01 })
    opt2:load_state_dict(osd)
    sched2:load_state_dict(ssd)
    for e = 1, 8 do
      sched2:step()
      assert.are.equal(want[e], sched2:get_last_lr()[1])
    end
  end)

  -- step(epoch) took the step as a next one and dropped the epoch; PyTorch
  -- jumps to it with the closed form (its values: StepLR 1e-05 after
  -- step(10), cosine 0.309517628819297 after step(3))
  it('step(epoch) jumps to the epoch with the closed form', function()
    local opt = optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 1 })
    local s = optim.StepLR(opt, { step_size = 2, gamma = 0.1 })
    s:step(10)
    assert.are.equal(10, s.last_epoch)
    assert.is_true(S.close(opt.lr, 1e-5, 1e-12))
    s:step()
    assert.are.equal(11, s.last_epoch)
    assert.is_true(S.close(opt.lr, 1e-5, 1e-12))
    local o2 = optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 0.5 })
    local c = optim.CosineAnnealingLR(o2, { T_max = 7, eta_min = 0.01 })
    c:step(3)
    assert.is_true(S.close(o2.lr, 0.01 + 0.49 * (1 + math.cos(math.pi * 3 / 7)) / 2, 1e-14))
    assert.is_true(S.close(o2.lr, 0.309517628819297, 1e-14))
    local ok, err = pcall(c.step, c, 2.5)
    assert.is_false(ok)
    assert.is_truthy(err:find('CosineAnnealingLR: step: epoch must be a whole number >= 0, got 2.5', 1, true), err)
  end)
end)

describe('optimizer state_dict', function()
  -- a corrupt entry (a string step, a number for a buffer) was taken and
  -- failed at the next step inside the update ("attempt to perform
  -- arithmetic on a string value", "attempt to index field 'exp_avg'")
  it('load_state_dict refuses state entries that are not a step count or a tensor', function()
    local w = nl.ones(2):requires_grad()
    local o = optim.Adam({ w }, { lr = 0.1 })
    w.grad = nl.ones(2)
    o:step()
    local sd = o:state_dict()
    sd.state[1].step = 'x'
    assert.has_error(function() o:load_state_dict(sd) end,
      'Adam: load_state_dict: state step of parameter 1 must be a whole number of steps, got string')
    sd = o:state_dict()
    sd.state[1].exp_avg = 5
    assert.has_error(function() o:load_state_dict(sd) end,
      'Adam: load_state_dict: state exp_avg of parameter 1 must be a tensor, got 5')
    local s = optim.SGD({ w }, { lr = 0.1, momentum = 0.9 })
    s:step()
    local sd2 = s:state_dict()
    sd2.state[1].momentum_buffer = 'x'
    assert.has_error(function() s:load_state_dict(sd2) end,
      'SGD: load_state_dict: state momentum_buffer of parameter 1 must be a tensor, got string')
    o:load_state_dict(o:state_dict())                 -- a good one still loads and steps
    o:step()
    assert.are.equal(2, o.state[1].step)
  end)

  local names = { 'sgd_momentum_wd', 'sgd_groups', 'adam_amsgrad_wd', 'adamw', 'rmsprop_centered_momentum', 'adagrad' }
  for _, name in ipairs(names) do
    it(name .. ': a run resumed from state_dict continues identically', function()
      local c = find_case(name, 'float32')
      local m = problem('float32')
      local opt = make_opt(c, m)
      for _ = 1, 4 do train_step(opt, m) end
      opt:set_lr(opt.lr * 0.5)                  -- a changed hyperparameter travels too
      local sd = opt:state_dict()
      local W4, b4 = m.W:detach():clone(), m.b:detach():clone()
      local traj = {}
      for s = 1, 6 do
        train_step(opt, m)
        traj[s] = { m.W:detach():clone(), m.b:detach():clone() }
      end
      -- a fresh optimizer with other options, over parameters at step 4
      local m2 = problem('float32', W4:totable(), b4:totable())
      local opts2 = {}
      for k, v in pairs(c.opts) do opts2[k] = v end
      opts2.lr = 123
      local opt2 = make_opt(c, m2, opts2)
      opt2:load_state_dict(sd)
      assert.are.equal(opt.lr, opt2.lr)
      for s = 1, 6 do
        train_step(opt2, m2)
        assert_equal_tensors(m2.W, traj[s][1], ('step %d W'):format(s))
        assert_equal_tensors(m2.b, traj[s][2], ('step %d b'):format(s))
      end
    end)
  end

  it('holds step counts, buffers per parameter index and hyperparameters', function()
    local m = problem('float32')
    local opt = optim.Adam({ m.W, m.b }, { lr = 0.01, amsgrad = true })
    for _ = 1, 3 do train_step(opt, m) end
    local sd = opt:state_dict()
    assert.are.equal(3, sd.state[1].step)
    assert.are.equal(3, sd.state[2].step)
    assert.are.same({ 3, 4 }, sd.state[1].exp_avg:shape())
    assert.are.same({ 3 }, sd.state[2].max_exp_avg_sq:shape())
    assert.are.same({ 1, 2 }, sd.param_groups[1].params)
    assert.are.equal(0.01, sd.param_groups[1].lr)
    assert.are.same({ 0.9, 0.999 }, sd.param_groups[1].betas)
    assert.is_true(sd.param_groups[1].amsgrad)
    -- copies: a later step leaves the saved buffers alone
    local before = flat(sd.state[1].exp_avg)
    train_step(opt, m)
    assert.are.same(before, flat(sd.state[1].exp_avg))
  end)

  -- the state went in under the saved id, not the parameter's place, so
  -- ids other than 1..n in order gave each parameter another's state
  -- (PyTorch maps them: c gets -7's buffer, d 100's)
  it('maps saved parameter ids to the parameters as the groups list them', function()
    local c, d = nl.zeros(2):requires_grad(), nl.zeros(2):requires_grad()
    local opt = optim.SGD({ { params = { c } }, { params = { d } } }, { lr = 1, momentum = 0.9 })
    local function group(id)
      return { params = { id }, lr = 1, momentum = 0.9, dampening = 0, nesterov = false, weight_decay = 0 }
    end
    opt:load_state_dict({ state = { [1] = { momentum_buffer = nl.tensor({ 100, 100 }) },
                                    [2] = { momentum_buffer = nl.tensor({ -7, -7 }) } },
                          param_groups = { group(2), group(1) } })
    c.grad, d.grad = nl.zeros(2), nl.zeros(2)
    opt:step()
    -- buf = 0.9 buf + grad; p -= lr * buf
    assert.is_true(S.close(c[1], 6.3, 1e-6))
    assert.is_true(S.close(d[1], -90, 1e-6))
    local ok, err = pcall(opt.load_state_dict, opt, { state = {}, param_groups = { group(1), group(1) } })
    assert.is_false(ok)
    assert.is_truthy(err:find('param group 2 names parameter id 1 twice or not at all', 1, true), err)
  end)

  it('opt.state[p] is the state of parameter p, as PyTorch keys it', function()
    local a, b, c = nl.zeros(2):requires_grad(), nl.zeros(3):requires_grad(), nl.zeros(1):requires_grad()
    local opt = optim.SGD({ { params = { a } }, { params = { b, c } } }, { lr = 1, momentum = 0.9 })
    assert.is_nil(opt.state[b])                   -- no step yet
    a.grad, b.grad = nl.tensor({ 1, 2 }), nl.tensor({ 3, 4, 5 })
    opt:step()
    -- the first step's buffer is the gradient (PyTorch: buf = grad.clone())
    assert.same({ 1, 2 }, flat(opt.state[a].momentum_buffer))
    assert.same({ 3, 4, 5 }, flat(opt.state[b].momentum_buffer))
    assert.is_nil(opt.state[c])                   -- no gradient, no state
    assert.is_nil(opt.state[nl.zeros(2)])         -- not a parameter of opt
    -- after a load, by the loaded order
    opt:load_state_dict(opt:state_dict())
    assert.same({ 3, 4, 5 }, flat(opt.state[b].momentum_buffer))
    -- Adam's step count and first moment, (1 - beta1) g after one step
    local w = nl.tensor({ 1, 1 }):requires_grad()
    local adam = optim.Adam({ w }, { lr = 0.1 })
    w.grad = nl.tensor({ 2, -4 })
    adam:step()
    assert.equals(1, adam.state[w].step)
    assert.is_true(S.close(adam.state[w].exp_avg[2], -0.4, 1e-6))
    -- LBFGS keeps one state, under its first parameter, as PyTorch's
    local x = nl.tensor({ 3 }):requires_grad()
    local lb = optim.LBFGS({ x }, { lr = 1, max_iter = 2 })
    lb:step(function() lb:zero_grad(); local l = (x * x):sum(); l:backward(); return l end)
    assert.is_true(lb.state[x].func_evals >= 2)
  end)

  it('refuses a state_dict that does not fit, and changes nothing', function()
    local m = problem('float32')
    local opt = optim.Adam({ m.W, m.b }, { lr = 0.01 })
    train_step(opt, m)
    local sd = opt:state_dict()
    local other = optim.Adam({ nl.zeros(4, 3):requires_grad(), nl.zeros(3):requires_grad() }, { lr = 0.5 })
    local ok, err = pcall(other.load_state_dict, other, sd)
    assert.is_false(ok)
    assert.matches('Adam: load_state_dict: exp_avg[_%w]* of shape %[3,4%] for parameter 1 of shape %[4,3%]', err)
    assert.are.equal(0.5, other.lr)
    local two = optim.Adam({ { params = { m.W } }, { params = { m.b } } })
    ok, err = pcall(two.load_state_dict, two, sd)
    assert.is_false(ok)
    assert.matches('1 parameter groups saved, the optimizer has 2', err, 1, true)
  end)

  -- another family's dict mixed its options and state in without a word
  -- (an SGD checkpoint made Adam step at SGD's lr 5); an Adam state with
  -- exp_avg but no exp_avg_sq failed inside the update
  it("refuses another optimizer's dict, unknown group options and a partial state", function()
    local m = problem('float32')
    local sgd = optim.SGD({ m.W, m.b }, { lr = 5, momentum = 0.9 })
    train_step(sgd, m)
    local adam = optim.Adam({ m.W, m.b }, { lr = 0.01 })
    train_step(adam, m)
    local function plain(v)     -- tensors as nested lists, to compare values
      if nl.is_tensor(v) then return v:totable() end
      if type(v) ~= 'table' then return v end
      local c = {}
      for k, x in pairs(v) do c[k] = plain(x) end
      return c
    end
    local before = adam:state_dict()
    local function refused(sd, msg)
      local ok, err = pcall(adam.load_state_dict, adam, sd)
      assert.is_false(ok)
      assert.matches('Adam: load_state_dict' .. msg, err)
      assert.are.same(plain(before), plain(adam:state_dict()))
    end
    refused(sgd:state_dict(), ': the state_dict is from SGD$')
    local sd = sgd:state_dict()
    sd.optimizer = nil                  -- a dict made by hand, or an older file
    refused(sd, ': unknown state momentum_buffer for parameter 1 %(Adam keeps exp_avg, exp_avg_sq, max_exp_avg_sq and step%)')
    sd = adam:state_dict()
    sd.param_groups[1].beta = { 0.5, 0.5 }
    refused(sd, ": unknown option 'beta' %(param group 1%) %(did you mean 'betas'%?%)")
    sd = adam:state_dict()
    sd.state[2].momentum_buffer = sd.state[2].exp_avg
    refused(sd, ': unknown state momentum_buffer for parameter 2 %(Adam keeps exp_avg, exp_avg_sq, max_exp_avg_sq and step%)')
    sd = adam:state_dict()
    sd.state[1].exp_avg_sq = nil
    refused(sd, ': state of parameter 1 lacks exp_avg_sq$')
    sd = adam:state_dict()
    sd.state[1] = {}                    -- no state at all is a fresh start
    adam:load_state_dict(sd)
    assert.is_nil(next(adam.state[1]))
    local aw = optim.AdamW({ m.W, m.b })
    local ok, err = pcall(aw.load_state_dict, aw, before)
    assert.is_false(ok)
    assert.matches('AdamW: load_state_dict: the state_dict is from Adam$', err)
  end)
end)

describe('optimizer step and zero_grad', function()
  it('step skips parameters without a gradient', function()
    local m = problem('float32')
    local opt = optim.Adam({ m.W, m.b }, { lr = 0.1 })
    local b0 = flat(m.b)
    m.W:sum():backward()
    opt:step()
    assert.are.same(b0, flat(m.b))
    assert.is_nil(opt.state[2])
    assert.are.equal(1, opt.state[1].step)
  end)

  -- the closure ran in the caller's grad mode: under nl.no_grad its
  -- backward failed ('does not require grad'), where PyTorch's step runs
  -- it under enable_grad
  it('runs the closure with grad mode on, and leaves the mode as it was', function()
    local w = nl.tensor({ 1, -2 }):requires_grad()
    local opt = optim.SGD({ w }, { lr = 0.25 })
    local inside, after
    local loss = nl.no_grad(function()
      local l = opt:step(function()
        inside = nl.is_grad_enabled()
        opt:zero_grad()
        local l = (w * w):sum()
        l:backward()
        return l
      end)
      after = nl.is_grad_enabled()
      return l
    end)
    assert.is_true(inside)
    assert.is_false(after)
    assert.are.equal(5, loss:item())
    assert.are.same({ 0.5, -1 }, w:totable())      -- w - 0.25 * 2w
  end)

  -- a group key that is no near miss of an option is the user's, kept as
  -- PyTorch keeps it (a name to tell groups apart), also through a
  -- state_dict
  it('keeps a param group key of the user\'s own, such as a name', function()
    local p, q = nl.zeros(2):requires_grad(), nl.zeros(2):requires_grad()
    local opt = optim.SGD({ { params = { p }, name = 'backbone' }, { params = { q }, name = 'head', lr = 0.5 } }, { lr = 0.1 })
    assert.are.equal('backbone', opt.param_groups[1].name)
    local sd = opt:state_dict()
    assert.are.equal('head', sd.param_groups[2].name)
    local opt2 = optim.SGD({ { params = { p } }, { params = { q } } }, { lr = 0.2 })
    opt2:load_state_dict(sd)
    assert.are.equal('head', opt2.param_groups[2].name)
    assert.are.equal(0.5, opt2.param_groups[2].lr)
    local ok, err = pcall(optim.SGD, { { params = { p }, LR = 0.5 } }, { lr = 0.1 })
    assert.is_false(ok)
    assert.matches("SGD: unknown option 'LR' %(did you mean 'lr'%?%)", err)
    -- near a short option's name is still the user's (183cbd3 refused l1
    -- as lr, eta as betas, no_decay as lr_decay)
    assert.are.equal(1e-4, optim.SGD({ { params = { p }, l1 = 1e-4, lr0 = 0.1 } }, { lr = 0.1 }).param_groups[1].l1)
    assert.is_true(optim.Adam({ { params = { p }, eta = 0.5 } }).param_groups[1].eta == 0.5)
    assert.is_true(optim.Adagrad({ { params = { p }, no_decay = true } }).param_groups[1].no_decay)
    -- nor two edits from a long one, nor any initial_xy beside the
    -- schedulers' initial_lr (038365d refused damping and initial_wd)
    assert.are.equal(1e-3, optim.SGD({ { params = { p }, damping = 1e-3, initial_wd = 0.05 } }, { lr = 0.1 })
                             .param_groups[1].damping)
    -- PyTorch's flags that an optimizer has not are refused in a group as
    -- in the options (a group's maximize = true was kept and ignored)
    ok, err = pcall(optim.NAdam, { { params = { p }, maximize = true } }, { lr = 0.1 })
    assert.matches("NAdam: unknown option 'maximize'", err)
    ok, err = pcall(optim.SGD, { { params = { p }, wieght_decay = 0.1 } }, { lr = 0.1 })
    assert.matches("SGD: unknown option 'wieght_decay' %(did you mean 'weight_decay'%?%)", err)
    ok, err = pcall(optim.SGD, { { params = { p }, [1] = 0.5 } }, { lr = 0.1 })
    assert.is_false(ok)
    assert.matches('SGD: a param group key must be a string, got 1', err)
  end)

  -- the per-step check of options set since construction looks at types
  -- only: chained schedulers (CosineAnnealingLR with eta_min above the
  -- base lr, then StepLR) can drive lr below 0, and PyTorch steps with it
  it('steps with a negative lr set after construction, as PyTorch does', function()
    local p = nl.zeros(2):requires_grad()
    local opt = optim.SGD({ p }, { lr = 1 })
    opt.param_groups[1].lr = -0.5
    p.grad = nl.tensor({ 1, 2 })
    opt:step()
    assert.are.same({ 0.5, 1 }, p:totable())
  end)

  -- a leaf made from a transposed view was refused at step ('not
  -- contiguous'), where PyTorch updates it: the same steps as a contiguous
  -- parameter of its values (whose steps match PyTorch's, above)
  it('updates a non-contiguous parameter as a contiguous one of its values', function()
    local makers = {
      function(p) return optim.SGD({ p }, { lr = 0.1, momentum = 0.9, nesterov = true }) end,
      function(p) return optim.Adam({ p }, { lr = 0.1, amsgrad = true }) end,
      function(p) return optim.RMSprop({ p }, { lr = 0.1, centered = true, momentum = 0.5 }) end,
      function(p) return optim.Adagrad({ p }, { lr = 0.1, weight_decay = 0.1 }) end,
    }
    for _, make in ipairs(makers) do
      local function run(transposed)
        local v = nl.tensor({ { 1, -2, 3 }, { 4, 5, -6 } })
        local W = (transposed and v:t() or v:t():contiguous()):requires_grad()
        assert.are.equal(not transposed, W:is_contiguous())
        local opt = make(W)
        for i = 1, 3 do
          W.grad = nl.tensor({ { 0.5, -1 }, { 2, 0.25 }, { -3, i } })
          opt:step()
        end
        assert.are.equal(not transposed, W:is_contiguous())
        return flat(W)
      end
      local want = run(false)
      assert.are.same(want, run(true))
      assert.are_not.same({ 1, 4, -2, 5, 3, -6 }, want)
    end
    local E = nl.zeros(3):expand(2, 3):requires_grad()
    local opt = optim.SGD({ E }, { lr = 1 })
    E.grad = nl.ones(2, 3)
    local ok, err = pcall(opt.step, opt)
    assert.is_false(ok)
    assert.matches('sgd: parameter of shape %[2,3%] repeats elements in memory', err)
  end)

  it('zero_grad drops the gradients; zero_grad(false) zeros them', function()
    local m = problem('float32')
    local opt = optim.SGD({ m.W, m.b }, { lr = 0.1 })
    loss_of(m):backward()
    opt:zero_grad(false)
    assert.are.same({ 0, 0, 0 }, m.b.grad:totable())
    opt:zero_grad()
    assert.is_nil(m.W.grad)
    assert.is_nil(m.b.grad)
  end)

  -- a module's zero_grad took no argument: zero_grad(false) dropped them
  it("a module's zero_grad(false) zeros the gradients, zero_grad() drops them", function()
    local l = nl.nn.Linear(2, 1)
    l(nl.ones(1, 2)):sum():backward()
    l:zero_grad(false)
    assert.are.same({ { 0, 0 } }, l.weight.grad:totable())
    assert.are.same({ 0 }, l.bias.grad:totable())
    l:zero_grad()
    assert.is_nil(l.weight.grad)
    assert.has_error(function() l:zero_grad(0) end, 'zero_grad: expected a boolean set_to_none, got number')
  end)

  -- a gradient with a graph (backward with create_graph) was refused by
  -- zero_grad(false) ('in-place change of a tensor that requires grad'),
  -- and a module's zero_grad(false) kept its graph; PyTorch's detaches it
  -- (in place: a handle on it sees the zeros), then zeros it
  it('zero_grad(false) detaches a gradient that has a graph, then zeros it', function()
    local w = nl.tensor({ 1, 2 }):requires_grad()
    local opt = optim.SGD({ w }, { lr = 0.1 })
    local l = (w * w * w):sum()
    l:backward({ create_graph = true })
    local held = w.grad
    assert.is_true(held.is_requires_grad)
    assert.are.same({ 3, 12 }, held:totable())
    opt:zero_grad(false)
    assert.is_false(w.grad.is_requires_grad)
    assert.are.same({ 0, 0 }, w.grad:totable())
    assert.are.same({ 0, 0 }, held:totable())
    l = (w * w):sum()
    l:backward()
    assert.are.same({ 2, 4 }, w.grad:totable())
    assert.is_false(w.grad.is_requires_grad)

    local lin = nl.nn.Linear(2, 1)
    local y = lin(nl.tensor({ { 1, 2 } }))
    l = (y * y):sum()
    l:backward({ create_graph = true })
    assert.is_true(lin.weight.grad.is_requires_grad)
    lin:zero_grad(false)
    assert.is_false(lin.weight.grad.is_requires_grad)
    assert.is_false(lin.bias.grad.is_requires_grad)
    assert.are.same({ { 0, 0 } }, lin.weight.grad:totable())
    assert.are.same({ 0 }, lin.bias.grad:totable())
  end)

  it('opt.lr reads the first group; set_lr sets every group', function()
    local m = problem('float32')
    local opt = optim.SGD({ { params = { m.W }, lr = 0.3 }, { params = { m.b } } }, { lr = 0.1 })
    assert.are.equal(0.3, opt.lr)
    assert.are.equal(0.1, opt.param_groups[2].lr)
    opt:set_lr(0.01)
    assert.are.equal(0.01, opt.lr)
    assert.are.equal(0.01, opt.param_groups[2].lr)
    opt.param_groups[1].lr = 0.2
    assert.are.equal(0.2, opt.lr)
    -- opt.lr = x made a field that hid the groups' lr: steps kept 0.2
    opt.lr = 0.05
    assert.are.equal(0.05, opt.param_groups[1].lr)
    assert.are.equal(0.05, opt.param_groups[2].lr)
    assert.is_nil(rawget(opt, 'lr'))
    opt:set_lr(0.5)
    assert.are.equal(0.5, opt.lr)
  end)

  it('a graph that saved a parameter refuses backward after a step', function()
    local m = problem('float32')
    local opt = optim.SGD({ m.W, m.b }, { lr = 0.1 })
    local loss = loss_of(m)
    loss:backward({ retain_graph = true })
    opt:step()
    local ok, err = pcall(loss.backward, loss)
    assert.is_false(ok)
    assert.matches('version', err)
  end)

  it('a non-contiguous gradient gives the same step as a contiguous one', function()
    local function run(transposed)
      local W = nl.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }):requires_grad()
      local g = nl.tensor({ { 0.5, -1 }, { 2, 0.25 }, { -3, 1 } })
      W.grad = transposed and g:t() or g:t():contiguous()
      local opt = optim.Adam({ W }, { lr = 0.1, amsgrad = true })
      opt:step()
      return flat(W)
    end
    assert.are.same(run(false), run(true))
  end)
end)

-- Plain Lua versions of the updates, element by element in double (STYLE 8),
-- against the C kernels on float64 parameters long enough to cross their
-- 256-element blocks and vector loops.
describe('update kernels against plain loops', function()
  local N = 1037
  local rnd = S.rng(4242)
  local p0, grads = {}, {}
  for i = 1, N do p0[i] = rnd() end
  for s = 1, 3 do
    grads[s] = {}
    for i = 1, N do grads[s][i] = rnd() * (s == 2 and 1e-3 or 1) end
  end

  local ref = {}
  function ref.SGD(o, p, g, st)
    st.buf = st.buf or {}
    for i = 1, N do
      local d = g[i] + o.weight_decay * p[i]
      local b = st.buf[i] and st.buf[i] * o.momentum + (1 - o.dampening) * d or d
      st.buf[i] = b
      d = o.nesterov and d + o.momentum * b or b
      p[i] = p[i] - o.lr * d
    end
  end
  local function adam(decoupled)
    return function(o, p, g, st)
      st.t = (st.t or 0) + 1
      st.m, st.v, st.vmax = st.m or {}, st.v or {}, st.vmax or {}
      local b1, b2 = o.betas[1], o.betas[2]
      local bc1, bc2 = 1 - b1 ^ st.t, math.sqrt(1 - b2 ^ st.t)
      for i = 1, N do
        local gi = g[i]
        if decoupled then p[i] = p[i] * (1 - o.lr * o.weight_decay) else gi = gi + o.weight_decay * p[i] end
        local m = (st.m[i] or 0) * b1 + (1 - b1) * gi
        local v = (st.v[i] or 0) * b2 + (1 - b2) * gi * gi
        st.m[i], st.v[i] = m, v
        if o.amsgrad then
          v = math.max(st.vmax[i] or 0, v)
          st.vmax[i] = v
        end
        p[i] = p[i] - o.lr / bc1 * (m / (math.sqrt(v) / bc2 + o.eps))
      end
    end
  end
  ref.Adam, ref.AdamW = adam(false), adam(true)
  function ref.RMSprop(o, p, g, st)
    st.sq, st.ga, st.buf = st.sq or {}, st.ga or {}, st.buf or {}
    for i = 1, N do
      local gi = g[i] + o.weight_decay * p[i]
      local sq = (st.sq[i] or 0) * o.alpha + (1 - o.alpha) * gi * gi
      st.sq[i] = sq
      local avg = sq
      if o.centered then
        local ga = (st.ga[i] or 0) * o.alpha + (1 - o.alpha) * gi
        st.ga[i] = ga
        avg = sq - ga * ga
      end
      avg = math.sqrt(avg) + o.eps
      if o.momentum > 0 then
        local b = (st.buf[i] or 0) * o.momentum + gi / avg
        st.buf[i] = b
        p[i] = p[i] - o.lr * b
      else
        p[i] = p[i] - o.lr * (gi / avg)
      end
    end
  end
  function ref.Adagrad(o, p, g, st)
    st.t = (st.t or 0) + 1
    st.sum = st.sum or {}
    local clr = o.lr / (1 + (st.t - 1) * o.lr_decay)
    for i = 1, N do
      local gi = g[i] + o.weight_decay * p[i]
      local s = (st.sum[i] or o.initial_accumulator_value) + gi * gi
      st.sum[i] = s
      p[i] = p[i] - clr * (gi / (math.sqrt(s) + o.eps))
    end
  end

  local configs = {
    { 'SGD', { lr = 0.1, momentum = 0.9, dampening = 0, nesterov = true, weight_decay = 0.01 } },
    { 'SGD', { lr = 0.1, momentum = 0.8, dampening = 0.3, nesterov = false, weight_decay = 0 } },
    { 'Adam', { lr = 0.01, betas = { 0.8, 0.9 }, eps = 1e-8, weight_decay = 0.1, amsgrad = true } },
    { 'AdamW', { lr = 0.01, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0.1, amsgrad = false } },
    { 'RMSprop', { lr = 0.01, alpha = 0.9, eps = 1e-8, weight_decay = 0.01, momentum = 0.5, centered = true } },
    { 'RMSprop', { lr = 0.01, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false } },
    { 'Adagrad', { lr = 0.1, lr_decay = 0.1, weight_decay = 0.01, initial_accumulator_value = 0.5, eps = 1e-10 } },
  }
  for _, cfg in ipairs(configs) do
    local name, o = cfg[1], cfg[2]
    it(name .. ' ' .. (o.centered and 'centered ' or '') .. (o.nesterov and 'nesterov ' or '') .. (o.amsgrad and 'amsgrad ' or '')
       .. 'float64: 3 steps over 1037 elements', function()
      local p = {}
      for i = 1, N do p[i] = p0[i] end
      local W = nl.tensor(p0, 'float64'):requires_grad()
      local opt = optim[name]({ W }, o)
      local st = {}
      for s = 1, 3 do
        W.grad = nl.tensor(grads[s], 'float64')
        opt:step()
        ref[name](o, p, grads[s], st)
        assert_close(flat(W), p, 1e-13, 1e-15, ('step %d'):format(s))
      end
    end)
  end

  it('results do not depend on the thread count (a 300000-element parameter)', function()
    local prev = nl.get_num_threads()
    finally(function() nl.set_num_threads(prev) end)
    local function run(threads)
      nl.set_num_threads(threads)
      nl.manual_seed(7)
      local W = nl.randn(300, 1000):requires_grad()
      local opt = optim.Adam({ W }, { lr = 0.01, amsgrad = true, weight_decay = 0.01 })
      for _ = 1, 2 do
        W.grad = nl.randn(300, 1000)
        opt:step()
      end
      W.grad = nl.randn(300, 1000)
      local norm = optim.clip_grad_norm({ W }, 1.0)
      return W, norm, W.grad
    end
    local W1, n1, g1 = run(1)
    local W2, n2, g2 = run(2)
    assert.is_true((W1 - W2):abs():max():item() == 0)
    assert.are.equal(n1, n2)
    assert.is_true((g1 - g2):abs():max():item() == 0)
  end)
end)

describe('clip_grad_norm', function()
  local function params(dtype)
    local a = nl.zeros(2, dtype):requires_grad()
    local b = nl.zeros(1, dtype):requires_grad()
    local c = nl.zeros(3, dtype):requires_grad()       -- no gradient: skipped
    a.grad = nl.tensor({ 3, -4 }, dtype)
    b.grad = nl.tensor({ 12 }, dtype)
    return { a, b, c }
  end

  it('scales by max_norm / (total + 1e-6) and returns the 2-norm', function()
    local ps = params('float64')
    local total = optim.clip_grad_norm(ps, 10)
    assert.are.equal(13, total)
    local k = 10 / (13 + 1e-6)
    assert_close(ps[1].grad:totable(), { 3 * k, -4 * k }, 1e-15, 0, 'a')
    assert_close(ps[2].grad:totable(), { 12 * k }, 1e-15, 0, 'b')
    assert.is_nil(ps[3].grad)
  end)

  it('leaves gradients under max_norm alone', function()
    local ps = params('float32')
    assert.are.equal(13, optim.clip_grad_norm(ps, 13.00001))
    assert.are.same({ 3, -4 }, ps[1].grad:totable())
    assert.are.equal(13, optim.clip_grad_norm(ps, 100))
    assert.are.same({ 12 }, ps[2].grad:totable())
  end)

  it('takes other norms: inf, 1 and 3', function()
    assert.are.equal(12, optim.clip_grad_norm(params('float32'), 100, math.huge))
    assert.are.equal(12, optim.clip_grad_norm(params('float32'), 100, 'inf'))
    assert.are.equal(19, optim.clip_grad_norm(params('float32'), 100, 1))
    assert.is_true(S.close(optim.clip_grad_norm(params('float64'), 100, 3), (27 + 64 + 1728) ^ (1 / 3), 1e-14))
    local ps = params('float32')
    optim.clip_grad_norm(ps, 6, math.huge)
    assert_close(ps[2].grad:totable(), { 12 * 6 / (12 + 1e-6) }, 1e-6, 0, 'b')
  end)

  it('matches the norm computed with tensor ops on a large gradient', function()
    nl.manual_seed(3)
    local W = nl.zeros(500, 300, 'float64'):requires_grad()
    W.grad = nl.randn(500, 300, 'float64')
    local want = math.sqrt((W.grad * W.grad):sum():item())
    assert.is_true(S.close(optim.clip_grad_norm({ W }, math.huge), want, 1e-12))
  end)

  -- the max-norm kept NaN only when it came last: a later element took
  -- its place, and a "skip the step if the norm is not finite" check
  -- passed a NaN gradient (PyTorch: the norm and every gradient NaN)
  it('gives a NaN inf-norm for a NaN anywhere in a gradient', function()
    for _, dtype in ipairs({ 'float32', 'float64' }) do
      local p = nl.zeros(3, dtype):requires_grad()
      p.grad = nl.tensor({ 1, 0 / 0, 2 }, dtype)
      local norm = optim.clip_grad_norm({ p }, 1.0, 'inf')
      assert.is_true(norm ~= norm, dtype .. ': norm ' .. tostring(norm))
      assert.are.equal(3, p.grad:ne(p.grad):sum():item())
    end
  end)

  -- error_if_nonfinite was dropped: a NaN or infinite norm went on to
  -- scale (or leave) the gradients and the step ran on them
  it('with error_if_nonfinite refuses a NaN or infinite total norm and leaves the gradients', function()
    for _, case in ipairs({ { 0 / 0, 2, 'nan' }, { math.huge, 2, 'inf' }, { 0 / 0, 'inf', 'nan' },
                            { 1e300, 2, 'inf' } }) do   -- (1e300 squared overflows: inf, as in 1.13)
      local p = nl.zeros(3, 'float64'):requires_grad()
      p.grad = nl.tensor({ 1, case[1], 2 }, 'float64')
      local before = p.grad:clone()
      local err = S.errmsg(optim.clip_grad_norm, { p }, 1.0, case[2], true)
      S.contains(err, ('clip_grad_norm: the total norm of order %s for gradients from parameters is '
                       .. 'non-finite'):format(case[2] == 'inf' and 'inf' or '2'))
      S.contains(err, 'set error_if_nonfinite = false')
      for i = 1, 3 do
        local a, b = p.grad[i], before[i]
        assert(a == b or (a ~= a and b ~= b), ('gradient %d changed: %s to %s'):format(i, b, a))
      end
      -- false, as nil, returns the norm
      local n = optim.clip_grad_norm({ p }, 1.0, case[2], false)
      assert.is_true(n ~= n or n == math.huge, tostring(n))
    end
    -- a finite norm clips as without it
    local ps = params('float64')
    assert.are.equal(13, optim.clip_grad_norm(ps, 10, 2, true))
    assert_close(ps[2].grad:totable(), { 12 * 10 / (13 + 1e-6) }, 1e-15, 0, 'b')
    S.contains(S.errmsg(optim.clip_grad_norm, params('float32'), 1, 2, 1),
               'clip_grad_norm: expected a boolean error_if_nonfinite, got number')
    assert.are.equal(nl.nn.utils.clip_grad_norm_, optim.clip_grad_norm)
  end)

  it('rejects a non-positive norm_type', function()
    local ok, err = pcall(optim.clip_grad_norm, params('float32'), 1, 0)
    assert.is_false(ok)
    assert.matches('clip_grad_norm: norm_type must be > 0', err)
  end)
end)

-- square_avg - grad_avg^2 was inf - inf = NaN once a float32 gradient
-- passed about 2e19; PyTorch's fused addcmul keeps inf, and the step is 0
describe('centered RMSprop with a huge gradient', function()
  it('leaves the parameter as PyTorch does', function()
    for _, g in ipairs({ 1e22, -1e22, 3e38 }) do
      local w = nl.tensor({ 1 }):requires_grad()
      local o = optim.RMSprop({ w }, { lr = 0.1, centered = true })
      w.grad = nl.tensor({ g })
      o:step()
      assert.are.equal(1, w[1], 'gradient ' .. g)
    end
  end)
end)

describe('l1_penalty', function()
  it('is the sum of |w| and has gradient lambda * sign(w)', function()
    local W = nl.tensor({ { 1, -2 }, { 0.5, -0.25 } }):requires_grad()
    local b = nl.tensor({ 3, -1 }):requires_grad()
    local pen = optim.l1_penalty({ W, b })
    assert.are.equal(7.75, pen:item())
    local loss = (W * 0):sum() + 0.1 * pen
    loss:backward()
    assert_close(flat(W.grad), { 0.1, -0.1, 0.1, -0.1 }, 1e-6, 0, 'W.grad')
    assert_close(flat(b.grad), { 0.1, -0.1 }, 1e-6, 0, 'b.grad')
  end)
end)

describe('add_param_group', function()
  local GG = dofile(S.root .. '/tests/golden/optim_groups.lua')
  local P = GG.problem

  -- W and b (float64) of the groups problem, b in the loss only once it
  -- is optimized
  local function gproblem()
    return { W = nl.tensor(P.W, 'float64'):requires_grad(), b = nl.tensor(P.b, 'float64'):requires_grad(),
             x = nl.tensor(P.x, 'float64'), t = nl.tensor(P.t, 'float64') }
  end
  local function gstep(opt, m, with_b)
    opt:zero_grad()
    local d = nl.matmul(m.x, m.W:t()) + (with_b and m.b or m.b:detach()) - m.t
    ;(d * d):mean():backward()
    opt:step()
  end
  local function group_of(c, b)
    local g = { params = { b } }
    for k, v in pairs(c.group) do g[k] = v end
    return g
  end

  for _, c in ipairs(GG.cases) do
    it(('%s: a group added after %d steps trains as PyTorch 1.13'):format(c.optim, GG.before), function()
      local m = gproblem()
      local opt = optim[c.optim]({ m.W }, c.opts)
      for s, want in ipairs(c.steps) do
        if s == GG.before + 1 then opt:add_param_group(group_of(c, m.b)) end
        gstep(opt, m, s > GG.before)
        assert_close(flat(m.W), want.W, 1e-10, 1e-12, ('step %d W'):format(s))
        assert_close(flat(m.b), want.b, 1e-10, 1e-12, ('step %d b'):format(s))
      end
      -- the options the group lacks are the constructor's
      local g2 = opt.param_groups[2]
      for k, v in pairs(c.opts) do
        if c.group[k] == nil then assert.are.same(v, g2[k], k) end
      end
    end)
  end

  it('state_dict / load_state_dict round-trip an added group', function()
    for _, c in ipairs(GG.cases) do
      local m = gproblem()
      local opt = optim[c.optim]({ m.W }, c.opts)
      for s = 1, GG.before + 1 do
        if s == GG.before + 1 then opt:add_param_group(group_of(c, m.b)) end
        gstep(opt, m, s > GG.before)
      end
      local sd = opt:state_dict()
      assert.are.equal(2, #sd.param_groups)
      assert.are.same({ 2 }, sd.param_groups[2].params)
      -- a fresh optimizer of the same groups, loaded, continues the run
      local m2 = gproblem()
      m2.W, m2.b = m.W:detach():clone():requires_grad(), m.b:detach():clone():requires_grad()
      local opt2 = optim[c.optim]({ m2.W }, c.opts)
      opt2:add_param_group({ params = { m2.b } })
      opt2:load_state_dict(sd)
      for k, v in pairs(c.group) do assert.are.same(v, opt2.param_groups[2][k], c.name .. ' ' .. k) end
      for s = GG.before + 2, #c.steps do
        gstep(opt2, m2, true)
        assert_close(flat(m2.W), c.steps[s].W, 1e-10, 1e-12, ('%s step %d W'):format(c.name, s))
        assert_close(flat(m2.b), c.steps[s].b, 1e-10, 1e-12, ('%s step %d b'):format(c.name, s))
      end
      -- the dict of one group does not fit the optimizer of two
      local one = optim[c.optim]({ gproblem().W }, c.opts)
      assert.has_error(function() one:load_state_dict(sd) end,
        c.optim .. ': load_state_dict: 2 parameter groups saved, the optimizer has 1')
    end
  end)

  it('a scheduler made after the group was added schedules it, with its initial_lr', function()
    local opt = optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 0.1 })
    opt:add_param_group({ params = { nl.zeros(1):requires_grad() }, lr = 0.4 })
    local sched = optim.StepLR(opt, { step_size = 2, gamma = 0.5 })
    assert_close({ opt.param_groups[1].initial_lr, opt.param_groups[2].initial_lr }, GG.steplr.initial_lr, 1e-15, 0)
    for i, want in ipairs(GG.steplr.lrs) do
      if i > 1 then
        opt:step()
        sched:step()
      end
      assert_close(sched:get_last_lr(), want, 1e-12, 0, ('epoch %d'):format(i - 1))
      assert_close({ opt.param_groups[1].lr, opt.param_groups[2].lr }, want, 1e-12, 0, ('epoch %d'):format(i - 1))
    end
  end)

  -- (its lr became nil, and the optimizer's next step failed on it)
  it('a scheduler made before a group was added refuses to step', function()
    local opt = optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 0.1 })
    local sched = optim.StepLR(opt, { step_size = 1 })
    opt:add_param_group({ params = { nl.zeros(1):requires_grad() } })
    assert.has_error(function() sched:step() end, 'StepLR: step: the optimizer has 2 param groups, the scheduler '
      .. 'was made for 1 (make the scheduler after add_param_group)')
    assert.are.equal(0.1, opt.param_groups[2].lr)
    -- and those with their own step (CosineAnnealingWarmRestarts' lr became nil,
    -- ReduceLROnPlateau's step failed comparing with nil)
    for name, make in pairs({
      ReduceLROnPlateau = function(o) return optim.ReduceLROnPlateau(o, { patience = 0 }), 1 end,
      CosineAnnealingWarmRestarts = function(o) return optim.CosineAnnealingWarmRestarts(o, { T_0 = 2 }) end,
      OneCycleLR = function(o) return optim.OneCycleLR(o, { max_lr = 1, total_steps = 10 }) end,
      CyclicLR = function(o) return optim.CyclicLR(o, { base_lr = 0.01, max_lr = 0.1 }) end,
    }) do
      local o = optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 0.1, momentum = 0.9 })
      local s, arg = make(o)
      o:add_param_group({ params = { nl.zeros(1):requires_grad() } })
      assert.has_error(function() s:step(arg) end, name .. ': step: the optimizer has 2 param groups, the scheduler '
        .. 'was made for 1 (make the scheduler after add_param_group)')
      assert.are.equal(0.1, o.param_groups[2].lr, name)
    end
  end)

  -- PyTorch 1.13 keeps a group with an empty params list (nnlua refused it):
  -- SGD(lr 0.1, momentum 0.9) steps p = ones(2) with grad ones to 0.9; the
  -- empty group saves as params {} and StepLR(step_size 1, gamma 0.5)
  -- halves both groups' lr
  it('keeps an empty param group, as PyTorch does', function()
    local p = nl.ones(2):requires_grad()
    local opt = optim.SGD({ p }, { lr = 0.1, momentum = 0.9 })
    opt:add_param_group({ params = {} })
    assert.are.equal(2, #opt.param_groups)
    assert.are.equal(0, #opt.param_groups[2].params)
    assert.are.equal(0.1, opt.param_groups[2].lr)
    p.grad = nl.ones(2)
    opt:step()
    assert_close(p, { 0.9, 0.9 }, 1e-6, 0)
    local sd = opt:state_dict()
    assert.are.same({}, sd.param_groups[2].params)
    assert.are.same({ 1 }, sd.param_groups[1].params)
    local q = nl.ones(2):requires_grad()
    local opt2 = optim.SGD({ q }, { lr = 0.1, momentum = 0.9 })
    opt2:add_param_group({ params = {} })
    opt2:load_state_dict(sd)
    q.grad = nl.ones(2)
    opt2:step()                                         -- buf 0.9 + 1 = 1.9: 1 - 0.19
    assert_close(q, { 0.81, 0.81 }, 1e-6, 0)
    local sched = optim.StepLR(opt, { step_size = 1, gamma = 0.5 })
    opt:step()
    sched:step()
    assert_close({ opt.param_groups[1].lr, opt.param_groups[2].lr }, { 0.05, 0.05 }, 1e-12, 0)
    -- in the constructor too; a wholly empty list is still refused
    assert.are.equal(2, #optim.SGD({ { params = {} }, { params = { q } } }, { lr = 0.1 }).param_groups)
    assert.has_error(function() optim.SGD({}, { lr = 0.1 }) end, 'SGD: got an empty parameter list')
  end)

  it("refuses PyTorch's cases, naming the optimizer", function()
    local W, b = nl.zeros(2, 2):requires_grad(), nl.zeros(2):requires_grad()
    local function fails(msg, f)
      local ok, err = pcall(f)
      assert.is_false(ok, msg)
      assert.matches(msg, tostring(err))
    end
    local opt = optim.Adam({ W })
    fails('Adam: add_param_group: some parameters appear in more than one parameter group %(parameter 2 %(param group 2%)%)',
      function() opt:add_param_group({ params = { b, W } }) end)
    assert.are.equal(1, #opt.param_groups)              -- nothing added
    fails('SGD: add_param_group: lr is required %(param group 2%)', function()
      optim.SGD({ { params = { W }, lr = 0.1 } }, {}):add_param_group({ params = { b } })
    end)
    fails('Adam: add_param_group: param group 2 must be a table with a params list',
      function() opt:add_param_group({ b }) end)
    fails('Adam: add_param_group: expected a param group', function() opt:add_param_group(b) end)
    fails("Adam: add_param_group: unknown option 'amsgrd' %(param group 2%) %(did you mean 'amsgrad'%?%)",
      function() opt:add_param_group({ params = { b }, amsgrd = true }) end)
    fails('Adam: add_param_group: invalid learning rate %-1', function() opt:add_param_group({ params = { b }, lr = -1 }) end)
    fails('Adam: add_param_group: cannot optimize a non%-leaf tensor',
      function() opt:add_param_group({ params = { b * 2 } }) end)
    fails('Adam: add_param_group: takes %(param_group%), got 2 arguments',
      function() opt:add_param_group({ params = { b } }, { lr = 1 }) end)
    fails("LBFGS: add_param_group: LBFGS takes one param group",
      function() optim.LBFGS({ W }):add_param_group({ params = { b } }) end)
    assert.are.equal(1, #opt.param_groups)
    -- a single tensor is a list of one; the new group's state starts at its first step
    opt:add_param_group({ params = b, lr = 0.5 })
    assert.are.equal(b, opt.param_groups[2].params[1])
    assert.are.equal(0.5, opt.param_groups[2].lr)
    assert.are.equal(1e-3, opt.param_groups[1].lr)
  end)
end)

describe('optimizer errors', function()
  local W = nl.zeros(2, 2):requires_grad()
  local cases = {
    { 'SGD: invalid learning rate %-1', function() optim.SGD({ W }, { lr = -1 }) end },
    { 'SGD: lr is required', function() optim.SGD({ W }) end },
    { 'SGD: Nesterov momentum requires a momentum and zero dampening',
      function() optim.SGD({ W }, { lr = 0.1, momentum = 0.9, dampening = 0.1, nesterov = true }) end },
    { 'SGD: Nesterov momentum requires', function() optim.SGD({ W }, { lr = 0.1, nesterov = true }) end },
    { 'SGD: invalid momentum %-0.5', function() optim.SGD({ W }, { lr = 0.1, momentum = -0.5 }) end },
    { 'Adam: invalid beta at index 1: 1 ', function() optim.Adam({ W }, { betas = { 1.0, 0.999 } }) end },
    { 'Adam: invalid beta at index 2: %-0.1', function() optim.Adam({ W }, { betas = { 0.9, -0.1 } }) end },
    { 'Adam: betas must be a list of 2 numbers', function() optim.Adam({ W }, { betas = 0.9 }) end },
    { "Adam: unknown option 'beta1'", function() optim.Adam({ W }, { beta1 = 0.9 }) end },
    -- every unknown key, sorted: a table's keys come in a different order in each process
    { "Adam: unknown options 'beta1', 'beta2'$", function() optim.Adam({ W }, { beta2 = 0.9, beta1 = 0.9 }) end },
    { 'Adam: amsgrad must be a boolean, got number', function() optim.Adam({ W }, { amsgrad = 1 }) end },
    { 'AdamW: invalid eps %-1', function() optim.AdamW({ W }, { eps = -1 }) end },
    { 'AdamW: invalid learning rate %-0.001 %(must be >= 0%) %(param group 2%)',
      function() optim.AdamW({ { params = { W } }, { params = { nl.zeros(1):requires_grad() }, lr = -0.001 } }) end },
    { 'RMSprop: invalid alpha %-1', function() optim.RMSprop({ W }, { alpha = -1 }) end },
    { 'Adagrad: invalid lr_decay %-1', function() optim.Adagrad({ W }, { lr_decay = -1 }) end },
    -- a group's own misspelt option was kept as an extra key, unread
    { "SGD: unknown option 'momentun' %(param group 2%) %(did you mean 'momentum'%?%)$",
      function() optim.SGD({ { params = { W } }, { params = { nl.zeros(1):requires_grad() }, momentun = 0.9 } }, { lr = 1 }) end },
    -- an option set by hand is checked at the step (a nil lr failed inside the C call)
    { 'SGD: lr must be a number, got nil$', function()
      local o = optim.SGD({ W }, { lr = 1 })
      o.param_groups[1].lr = nil
      o:step()
    end },
    { 'Adam: betas must be a list of 2 numbers %(param group 2%)$', function()
      local o = optim.Adam({ { params = { W } }, { params = { nl.zeros(1):requires_grad() } } })
      o.param_groups[2].betas = { 0.9, 'x' }
      o:step()
    end },
    { 'Adam: got an empty parameter list', function() optim.Adam({}) end },
    { 'Adam: parameter 2 is not a tensor %(string%)', function() optim.Adam({ W, 'x' }) end },
    { 'Adam: a parameter appears more than once', function() optim.Adam({ W, W }) end },
    { 'Adam: cannot optimize a non%-leaf tensor', function() optim.Adam({ W * 2 }) end },
    { 'Adam: parameter 1 is int64', function() optim.Adam({ nl.zeros(2, 'int64') }) end },
    { 'SGD: invalid learning rate', function() optim.SGD({ W }, { lr = 0.1 }):set_lr(-1) end },
    { 'StepLR: step_size is required', function() optim.StepLR(optim.SGD({ W }, { lr = 0.1 }), {}) end },
    { "StepLR: unknown option 'gama'$",
      function() optim.StepLR(optim.SGD({ W }, { lr = 0.1 }), { step_size = 2, gama = 0.5 }) end },
    { 'CosineAnnealingLR: T_max must be a positive integer, got 0',
      function() optim.CosineAnnealingLR(optim.SGD({ W }, { lr = 0.1 }), { T_max = 0 }) end },
    -- a dot for a colon failed inside on a nil self
    { 'step: expected a scheduler; call it as sched:step%(...%)',
      function() optim.StepLR(optim.SGD({ W }, { lr = 0.1 }), { step_size = 2 }).step() end },
    { 'get_last_lr: expected a scheduler',
      function() optim.CosineAnnealingLR(optim.SGD({ W }, { lr = 0.1 }), { T_max = 2 }).get_last_lr() end },
  }

  -- a dict of another number of param groups left a group's lr nil (the
  -- optimizer failed at its next step); a step_size of 0 stopped the decay,
  -- a string failed in arithmetic, a fractional last_epoch was taken
  it('a scheduler refuses a state dict that does not fit, changing nothing', function()
    local function sched(groups)
      local gs = {}
      for i = 1, groups do gs[i] = { params = { nl.zeros(1):requires_grad() } } end
      return optim.StepLR(optim.SGD(gs, { lr = 0.1 }), { step_size = 2, gamma = 0.5 })
    end
    local sd = sched(1):state_dict()
    local function with(k, v)
      local c = {}
      for key, val in pairs(sd) do c[key] = val end
      c[k] = v
      return c
    end
    local bad = {
      { sd, 'base_lrs and last_lr must be lists of 2 numbers, one per param group', 2 },
      { with('step_size', 0), 'step_size must be a positive integer, got 0' },
      { with('step_size', 'x'), 'step_size must be a number, got string' },
      { with('gamma', 'x'), 'gamma must be a number, got string' },
      { with('last_epoch', 1.5), 'last_epoch must be a whole number >= %-1, got 1.5' },
      { with('base_lrs', { 'a' }), 'base_lrs and last_lr must be lists of 1 numbers' },
      { with('last_lr', { 0.1, 0.2 }), 'base_lrs and last_lr must be lists of 1 numbers' },
    }
    for _, c in ipairs(bad) do
      local s2 = sched(c[3] or 1)
      local before = s2:state_dict()
      local ok, err = pcall(s2.load_state_dict, s2, c[1])
      assert.is_false(ok)
      assert.matches('StepLR: load_state_dict: ' .. c[2], err)
      assert.are.same(before, s2:state_dict())
    end
    local s3 = sched(1)
    s3:load_state_dict(with('last_epoch', 3))
    assert.are.equal(3, s3.last_epoch)
  end)
  for _, c in ipairs(cases) do
    it(c[1]:gsub('%%', ''), function()
      local ok, err = pcall(c[2])
      assert.is_false(ok)
      assert.matches(c[1], err)
    end)
  end

  it('an error points at the caller\'s line', function()
    local ok, err = pcall(function() optim.SGD({ W }, { lr = -1 }) end)
    assert.is_false(ok)
    assert.matches('optim_spec%.lua:%d+: SGD', err)
  end)

  it('the C update names the optimizer and the shapes', function()
    local lib = nl._lib
    local p, g = nl.zeros(4), nl.zeros(3)
    local m, v = nl.zeros(4), nl.zeros(4)
    assert.are.equal(-1, lib.nl_adam_step(p.ptr, m.ptr, v.ptr, nil, g.ptr, 0.1, 0.9, 0.999, 1e-8, 0, 0, 1))
    assert.are.equal('adam: grad of shape [3] for a parameter of shape [4]', ffi.string(lib.nl_error()))
    assert.are.equal(-1, lib.nl_adam_step(p.ptr, nl.zeros(2, 2).ptr, v.ptr, nil, nl.zeros(4).ptr,
                                          0.1, 0.9, 0.999, 1e-8, 0, 1, 1))
    assert.are.equal('adamw: exp_avg of shape [2,2] for a parameter of shape [4]', ffi.string(lib.nl_error()))
    assert.are.equal(-1, lib.nl_sgd_step(p.ptr, nil, nl.zeros(4).ptr, 0.1, 0.9, 0, 0, 0, 1))
    assert.are.equal('sgd: momentum_buffer is required here, got nil', ffi.string(lib.nl_error()))
    assert.are.equal(-1, lib.nl_rmsprop_step(p.ptr, nl.zeros(4, 'float64').ptr, nil, nil, nl.zeros(4).ptr,
                                             0.1, 0.99, 1e-8, 0, 0))
    assert.are.equal('rmsprop: square_avg of dtype float64 for a float32 parameter', ffi.string(lib.nl_error()))
    assert.are.equal(-1, lib.nl_adagrad_step(nl.zeros(4, 'int64').ptr, nl.zeros(4, 'int64').ptr,
                                             nl.zeros(4, 'int64').ptr, 0.1, 0, 0, 1e-10, 1))
    assert.matches('adagrad: parameter of dtype int64', ffi.string(lib.nl_error()))
  end)
end)
