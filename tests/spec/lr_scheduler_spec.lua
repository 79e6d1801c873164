-- LR schedulers beyond StepLR and CosineAnnealingLR (those two are in
-- optim_spec.lua): MultiStepLR, ExponentialLR, LinearLR, ConstantLR,
-- LambdaLR, MultiplicativeLR, CosineAnnealingWarmRestarts, OneCycleLR,
-- ReduceLROnPlateau, PolynomialLR, CyclicLR, SequentialLR and
-- ChainedScheduler (the last four's own behaviour: lr_scheduler_extra_spec).
-- Golden: tests/golden/lr_scheduler.lua (tests/golden/gen_lr_scheduler.py,
-- PyTorch 1.13): two param groups of different lrs, ~40 steps (step(),
-- step(epoch) jumps, fractional epochs, metrics), every group's lr (and
-- OneCycleLR's momentum or beta1) after each; and a run resumed from both
-- state_dicts part way, against PyTorch's resumed run.
-- Tolerance: relative 1e-12 (the same recursive formulas as PyTorch, in its
-- order of operations).
local nl = require 'nnlua'
local S = require 'support'

local optim = nl.optim
local G = dofile(S.root .. '/tests/golden/lr_scheduler.lua')

local RTOL = 1e-12

-- the lr_lambda functions of gen_lr_scheduler.py, by name
local LAMBDAS = {
  pow95 = function(e) return 0.95 ^ e end,
  inv = function(e) return 1 / (1 + 0.1 * e) end,
  halve10 = function(e) return 0.5 ^ math.floor(e / 10) end,
  const97 = function() return 0.97 end,
  lin = function(e) return 1 - 0.005 * e end,
}

-- CyclicLR's scale_fn functions of gen_lr_scheduler.py, by name
local SCALE_FNS = {
  inv_cycle = function(c) return 1 / c end,
  decay_iter = function(i) return 0.99 ^ i end,
}

local function assert_close(got, want, what)
  assert.are.equal(#want, #got, what .. ': number of groups')
  for i = 1, #want do
    assert.is_true(S.close(got[i], want[i], RTOL, 0),
                   ('%s, group %d: got %.17g, want %.17g'):format(what, i, got[i], want[i]))
  end
end

-- the scheduler name(opt, opts) of a golden case: the members of a
-- SequentialLR or ChainedScheduler made first, in order, as
-- gen_lr_scheduler.py makes them; named functions looked up
local function make(opt, name, o)
  local opts = {}
  for k, v in pairs(o) do opts[k] = v end
  if type(opts.lr_lambda) == 'string' then opts.lr_lambda = LAMBDAS[opts.lr_lambda] end
  if type(opts.scale_fn) == 'string' then opts.scale_fn = SCALE_FNS[opts.scale_fn] end
  if opts.schedulers then
    local list = {}
    for i, m in ipairs(opts.schedulers) do list[i] = make(opt, m[1], m[2]) end
    opts.schedulers = list
  end
  if name == 'ChainedScheduler' then return optim.ChainedScheduler(opts.schedulers) end
  return optim[name](opt, opts)
end

-- the optimizer and scheduler of golden case c, fresh
local function build(c)
  local groups = {}
  for i, lr in ipairs(G.lrs) do groups[i] = { params = { nl.zeros(1):requires_grad() }, lr = lr } end
  local opt = optim[c.optim](groups, c.optim_opts)
  local opts = {}
  for k, v in pairs(c.opts) do opts[k] = v end
  if type(c.lambdas) == 'string' then
    opts.lr_lambda = LAMBDAS[c.lambdas]
  elseif c.lambdas then
    opts.lr_lambda = {}
    for i, n in ipairs(c.lambdas) do opts.lr_lambda[i] = LAMBDAS[n] end
  end
  return opt, make(opt, c.scheduler, opts)
end

local function act(opt, sched, a)
  opt:step()
  if a == 'n' then sched:step() else sched:step(a) end
end

local function momenta_of(opt)
  local v = {}
  for i, g in ipairs(opt.param_groups) do v[i] = g.betas and g.betas[1] or g.momentum end
  return v
end

local function check_step(opt, sched, values, momenta, k, what)
  assert_close(S.lrs_of(opt), values[k], what .. ' lr')
  assert.are.same(S.lrs_of(opt), sched:get_last_lr())
  if momenta then assert_close(momenta_of(opt), momenta[k], what .. ' momentum') end
end

describe('LR schedulers against PyTorch', function()
  for _, c in ipairs(G.cases) do
    it(('%s: lrs over %d steps'):format(c.name, #c.actions), function()
      local opt, sched = build(c)
      check_step(opt, sched, c.values, c.momenta, 1, 'after construction')
      for k, a in ipairs(c.actions) do
        act(opt, sched, a)
        check_step(opt, sched, c.values, c.momenta, k + 1, ('step %d (%s)'):format(k, tostring(a)))
      end
    end)

    it(('%s: resumed from state_dicts after %d steps'):format(c.name, c.resume_at), function()
      local opt, sched = build(c)
      for k = 1, c.resume_at do act(opt, sched, c.actions[k]) end
      local osd, ssd = opt:state_dict(), sched:state_dict()
      assert.is_nil(ssd.lr_lambda)      -- functions are left out, as PyTorch leaves them
      local opt2, sched2 = build(c)
      opt2:load_state_dict(osd)
      sched2:load_state_dict(ssd)
      for k = c.resume_at + 1, #c.actions do
        act(opt2, sched2, c.actions[k])
        check_step(opt2, sched2, c.resumed, c.resumed_momenta, k - c.resume_at, ('resumed step %d'):format(k))
      end
    end)
  end

  -- a scheduler that left the lrs alone would pass a case whose lrs never
  -- move
  it('the golden cases move the lrs', function()
    for _, c in ipairs(G.cases) do
      local changes = 0
      for k = 2, #c.values do
        if c.values[k][1] ~= c.values[k - 1][1] then changes = changes + 1 end
      end
      assert.is_true(changes >= 1, c.name)
    end
  end)
end)

describe('LR scheduler behaviour', function()
  local function sgd(lrs, opts)
    local groups = {}
    for i, lr in ipairs(lrs or { 0.1 }) do groups[i] = { params = { nl.zeros(1):requires_grad() }, lr = lr } end
    return optim.SGD(groups, opts or { lr = 0.1 })
  end

  -- closed forms, by hand: MultiStepLR counts a repeated milestone twice
  it('step(epoch) jumps by the closed forms', function()
    local o = sgd({ 1 })
    local s = optim.MultiStepLR(o, { milestones = { 4, 2, 4 }, gamma = 0.5 })
    s:step(5)
    assert.are.equal(0.125, o.lr)
    s:step(3)
    assert.are.equal(0.5, o.lr)
    local o2 = sgd({ 0.4 })
    local l = optim.LinearLR(o2, { start_factor = 0.5, end_factor = 1, total_iters = 4 })
    l:step(2)
    assert.is_true(S.close(o2.lr, 0.4 * 0.75, 1e-15))
    l:step(9)
    assert.are.equal(0.4, o2.lr)
    local o3 = sgd({ 2 })
    local x = optim.ExponentialLR(o3, { gamma = 0.5 })
    x:step(3)
    assert.are.equal(0.25, o3.lr)
  end)

  -- SGDR with T_0 = 10 and T_mult = 2 restarts at 10, 30, 70: epoch 35.5
  -- is 5.5 into a cycle of 40
  it('CosineAnnealingWarmRestarts takes fractional epochs', function()
    local o = sgd({ 1 })
    local s = optim.CosineAnnealingWarmRestarts(o, { T_0 = 10, T_mult = 2 })
    s:step(35.5)
    assert.are.equal(35, s.last_epoch)
    assert.are.equal(40, s.T_i)
    assert.is_true(S.close(s.T_cur, 5.5, 1e-14))
    assert.is_true(S.close(o.lr, (1 + math.cos(math.pi * 5.5 / 40)) / 2, 1e-14))
    s:step()                                -- counts on from T_cur, as PyTorch
    assert.is_true(S.close(s.T_cur, 6.5, 1e-14))
    assert.are.equal(36, s.last_epoch)
  end)

  it('OneCycleLR cycles SGD momentum and Adam beta1, and leaves beta2', function()
    local o = sgd({ 0.1 }, { lr = 0.1, momentum = 0.9 })
    local s = optim.OneCycleLR(o, { max_lr = 1, total_steps = 10 })
    assert.is_true(S.close(o.lr, 0.04, 1e-15))
    assert.is_true(S.close(o.param_groups[1].momentum, 0.95, 1e-15))
    for _ = 1, 2 do s:step() end                       -- the peak: step 2 = 0.3 * 10 - 1
    assert.are.equal(1, o.lr)
    assert.is_true(S.close(o.param_groups[1].momentum, 0.85, 1e-15))
    local a = optim.Adam({ nl.zeros(1):requires_grad() }, { betas = { 0.9, 0.98 } })
    optim.OneCycleLR(a, { max_lr = 0.01, total_steps = 5, max_momentum = 0.93 })
    assert.is_true(S.close(a.param_groups[1].betas[1], 0.93, 1e-15))
    assert.are.equal(0.98, a.param_groups[1].betas[2])
    local g = optim.Adagrad({ nl.zeros(1):requires_grad() })
    optim.OneCycleLR(g, { max_lr = 0.01, total_steps = 5, cycle_momentum = false })
    assert.is_true(S.close(g.lr, 0.0004, 1e-14))
  end)

  it('OneCycleLR refuses a step past the end and stays where it was', function()
    local o = sgd()
    local s = optim.OneCycleLR(o, { max_lr = 0.5, epochs = 2, steps_per_epoch = 2 })
    for _ = 1, 4 do s:step() end          -- PyTorch allows total_steps steps after the first
    local lr = o.lr
    local ok, err = pcall(s.step, s)
    assert.is_false(ok)
    assert.matches('OneCycleLR: step: epoch 5 is past the end of the schedule %(total_steps = 4%)', err)
    assert.are.equal(4, s.last_epoch)
    assert.are.equal(lr, o.lr)
  end)

  -- PyTorch 1.13 raises ZeroDivisionError in a phase of no steps; the lr
  -- was NaN here, and so every weight after the next step
  it('OneCycleLR refuses to step into a phase of no steps', function()
    local ok, err = pcall(optim.OneCycleLR, sgd(), { max_lr = 1, total_steps = 10, pct_start = 0.1 })
    assert.is_false(ok)
    assert.matches('OneCycleLR: step 0 falls in phase 1 of the schedule, which has no steps', err)
    local o = sgd()
    local s = optim.OneCycleLR(o, { max_lr = 1, total_steps = 10, pct_start = 1 })
    for _ = 1, 9 do s:step() end
    assert.are.equal(1, s:get_last_lr()[1])
    ok, err = pcall(s.step, s)
    assert.is_false(ok)
    assert.matches('step 10 falls in phase 2 of the schedule, which has no steps', err)
    assert.are.equal(1, o.lr)
  end)

  it('ReduceLROnPlateau takes a one-element tensor and honours min_lr and eps', function()
    local o = sgd({ 0.1, 0.01 })
    local s = optim.ReduceLROnPlateau(o, { patience = 0, factor = 0.1, min_lr = { 0.05, 0 }, eps = 0.01 })
    assert.are.same({ 0.1, 0.01 }, s:get_last_lr())
    s:step(nl.tensor({ 2, 1 }):sum())
    assert.are.equal(3, s.best)
    s:step(nl.tensor({ 4 }))
    -- worse, past a patience of 0: the first group stops at its min_lr; the
    -- second's change, 0.009, is within eps and is not made
    assert.are.same({ 0.05, 0.01 }, s:get_last_lr())
    assert.are.same({ 0.05, 0.01 }, { o.param_groups[1].lr, o.param_groups[2].lr })
    assert.are.equal(2, s.last_epoch)
    s:step(1, 10)                         -- PyTorch's deprecated epoch argument
    assert.are.equal(10, s.last_epoch)
    assert.are.equal(1, s.best)
  end)

  it('LambdaLR refuses a lambda that returns no number, changing nothing', function()
    local o = sgd({ 0.1, 0.2 })
    local s = optim.LambdaLR(o, { lr_lambda = { function() return 1 end, function(e) if e < 2 then return 0.5 end end } })
    s:step()
    local before = s:state_dict()
    local ok, err = pcall(s.step, s)
    assert.is_false(ok)
    assert.matches('LambdaLR: lr_lambda of param group 2 returned nil at epoch 2; it must return a number', err)
    assert.are.same(before, s:state_dict())
    assert.are.same({ 0.1, 0.1 }, { o.param_groups[1].lr, o.param_groups[2].lr })
  end)
end)

describe('LR scheduler errors', function()
  local function sgd(n)
    local groups = {}
    for i = 1, n or 1 do groups[i] = { params = { nl.zeros(1):requires_grad() }, lr = 0.1 } end
    return optim.SGD(groups, { lr = 0.1 })
  end
  local f = function() return 1 end
  local cases = {
    { 'MultiStepLR: milestones is required', function() optim.MultiStepLR(sgd(), { gamma = 0.5 }) end },
    { 'MultiStepLR: milestones%[2%] must be a whole number >= 0, got 2.5',
      function() optim.MultiStepLR(sgd(), { milestones = { 1, 2.5 } }) end },
    { 'MultiStepLR: milestones must be a list of epochs, got 30', function() optim.MultiStepLR(sgd(), { milestones = 30 }) end },
    { "MultiStepLR: unknown option 'milestone'", function() optim.MultiStepLR(sgd(), { milestones = { 1 }, milestone = 2 }) end },
    { 'MultiStepLR: takes %(optimizer, {options}%), got 3 arguments; give milestones',
      function() optim.MultiStepLR(sgd(), { milestones = { 1 } }, 0.1) end },
    { 'ExponentialLR: gamma is required', function() optim.ExponentialLR(sgd(), {}) end },
    { 'ExponentialLR: gamma must be finite, got nan', function() optim.ExponentialLR(sgd(), { gamma = 0 / 0 }) end },
    { 'ExponentialLR: expected a table of options, got number', function() optim.ExponentialLR(sgd(), 0.9) end },
    { 'ExponentialLR: expected an optimizer, got nil', function() optim.ExponentialLR(nil, { gamma = 0.9 }) end },
    { 'LinearLR: start_factor must be in %(0, 1%], got 0$', function() optim.LinearLR(sgd(), { start_factor = 0 }) end },
    { 'LinearLR: end_factor must be in %[0, 1%], got 1.5', function() optim.LinearLR(sgd(), { end_factor = 1.5 }) end },
    { 'LinearLR: total_iters must be a positive integer, got 0', function() optim.LinearLR(sgd(), { total_iters = 0 }) end },
    { 'ConstantLR: factor must be in %(0, 1%], got 0$', function() optim.ConstantLR(sgd(), { factor = 0 }) end },
    { 'ConstantLR: total_iters must be a number, got string', function() optim.ConstantLR(sgd(), { total_iters = '5' }) end },
    { 'LambdaLR: lr_lambda is required', function() optim.LambdaLR(sgd(), {}) end },
    { 'LambdaLR: lr_lambda must be a function or a list of 2 functions, one per param group, got a list of 3 values',
      function() optim.LambdaLR(sgd(2), { lr_lambda = { f, f, f } }) end },
    { 'MultiplicativeLR: lr_lambda must be a function or a list of 1 functions, one per param group, got 0.95',
      function() optim.MultiplicativeLR(sgd(), { lr_lambda = 0.95 }) end },
    { 'CosineAnnealingWarmRestarts: T_0 must be a positive integer, got 2.5',
      function() optim.CosineAnnealingWarmRestarts(sgd(), { T_0 = 2.5 }) end },
    { 'CosineAnnealingWarmRestarts: T_mult must be a positive integer, got 0',
      function() optim.CosineAnnealingWarmRestarts(sgd(), { T_0 = 2, T_mult = 0 }) end },
    { 'CosineAnnealingWarmRestarts: step: epoch must be a number >= 0, got %-1',
      function() optim.CosineAnnealingWarmRestarts(sgd(), { T_0 = 2 }):step(-1) end },
    { 'OneCycleLR: max_lr is required', function() optim.OneCycleLR(sgd(), { total_steps = 10 }) end },
    { 'OneCycleLR: give total_steps, or epochs and steps_per_epoch',
      function() optim.OneCycleLR(sgd(), { max_lr = 0.1, epochs = 3 }) end },
    { 'OneCycleLR: total_steps must be a positive integer, got 0',
      function() optim.OneCycleLR(sgd(), { max_lr = 0.1, total_steps = 0 }) end },
    { 'OneCycleLR: max_lr must be a number or a list of 2 numbers, one per param group, got a list of 3',
      function() optim.OneCycleLR(sgd(2), { max_lr = { 1, 2, 3 }, total_steps = 10 }) end },
    { 'OneCycleLR: max_lr%[2%] must be >= 0, got %-1',
      function() optim.OneCycleLR(sgd(2), { max_lr = { 1, -1 }, total_steps = 10 }) end },
    { "OneCycleLR: anneal_strategy must be 'cos' or 'linear', got 'cosine'",
      function() optim.OneCycleLR(sgd(), { max_lr = 0.1, total_steps = 10, anneal_strategy = 'cosine' }) end },
    { 'OneCycleLR: pct_start must be in %[0, 1%], got 30',
      function() optim.OneCycleLR(sgd(), { max_lr = 0.1, total_steps = 10, pct_start = 30 }) end },
    { 'OneCycleLR: three_phase must be a boolean %(true or false%), got 1',
      function() optim.OneCycleLR(sgd(), { max_lr = 0.1, total_steps = 10, three_phase = 1 }) end },
    { 'OneCycleLR: div_factor must be in %(0, inf%), got 0',
      function() optim.OneCycleLR(sgd(), { max_lr = 0.1, total_steps = 10, div_factor = 0 }) end },
    { 'OneCycleLR: cycle_momentum needs an optimizer with momentum or betas',
      function() optim.OneCycleLR(optim.Adagrad({ nl.zeros(1):requires_grad() }), { max_lr = 0.1, total_steps = 10 }) end },
    { 'OneCycleLR: max_momentum must be below 1 %(it is beta1%), got 1',
      function() optim.OneCycleLR(optim.Adam({ nl.zeros(1):requires_grad() }), { max_lr = 0.1, total_steps = 10, max_momentum = 1 }) end },
    { "ReduceLROnPlateau: mode must be 'min' or 'max', got 'minimum'",
      function() optim.ReduceLROnPlateau(sgd(), { mode = 'minimum' }) end },
    { 'ReduceLROnPlateau: factor must be in %[0, 1%), got 1$', function() optim.ReduceLROnPlateau(sgd(), { factor = 1 }) end },
    { 'ReduceLROnPlateau: patience must be a whole number >= 0, got %-1',
      function() optim.ReduceLROnPlateau(sgd(), { patience = -1 }) end },
    { "ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got boolean",
      function() optim.ReduceLROnPlateau(sgd(), { threshold_mode = false }) end },
    { 'ReduceLROnPlateau: min_lr must be a number or a list of 2 numbers, one per param group, got a list of 1',
      function() optim.ReduceLROnPlateau(sgd(2), { min_lr = { 0.1 } }) end },
    { "ReduceLROnPlateau: unknown option 'last_epoch'", function() optim.ReduceLROnPlateau(sgd(), { last_epoch = 1 }) end },
    -- the other schedulers step without a metric; this one needs it
    { 'ReduceLROnPlateau: step: expected the metric to watch, a number or a one%-element tensor %(sched:step%(val_loss%)%), got nil',
      function() optim.ReduceLROnPlateau(sgd()):step() end },
    { 'ReduceLROnPlateau: step: expected the metric to watch, .*got a tensor %(float32 %[2%]%)',
      function() optim.ReduceLROnPlateau(sgd()):step(nl.zeros(2)) end },
    { 'step: expected a scheduler; call it as sched:step%(...%)',
      function() optim.ReduceLROnPlateau(sgd()).step(1) end },
    { 'step: expected a scheduler; call it as sched:step%(...%)',
      function() optim.CosineAnnealingWarmRestarts(sgd(), { T_0 = 2 }).step() end },
  }
  for _, c in ipairs(cases) do
    it(c[1]:gsub('%%', ''), function()
      local ok, err = pcall(c[2])
      assert.is_false(ok)
      assert.matches(c[1], err)
      assert.matches('lr_scheduler_spec%.lua:%d+: ', err)      -- at the caller's line
    end)
  end

  -- every scheduler's load_state_dict checks the dict whole and changes
  -- nothing when it does not fit
  local function with(sd, k, v)
    local c = {}
    for key, val in pairs(sd) do c[key] = val end
    c[k] = v
    return c
  end
  local BAD = {
    { 'MultiStepLR', { milestones = { 2, 4 } }, 'milestones', { 'x' }, 'milestones%[1%] must be a whole number' },
    { 'MultiStepLR', { milestones = { 2, 4 } }, 'gamma', 'x', 'gamma must be a number, got string' },
    { 'ExponentialLR', { gamma = 0.9 }, 'gamma', 0 / 0, 'gamma must be finite, got nan' },
    { 'LinearLR', {}, 'start_factor', 0, 'start_factor must be in %(0, 1%]' },
    { 'ConstantLR', {}, 'total_iters', 1.5, 'total_iters must be a positive integer, got 1.5' },
    { 'CosineAnnealingWarmRestarts', { T_0 = 3 }, 'T_i', 0, 'T_i must be a positive integer, got 0' },
    { 'CosineAnnealingWarmRestarts', { T_0 = 3 }, 'T_cur', -1, 'T_cur must be a number >= 0, got %-1' },
    { 'CosineAnnealingWarmRestarts', { T_0 = 3 }, 'base_lrs', { 1, 2 }, 'base_lrs and last_lr must be lists of 1 numbers' },
    { 'OneCycleLR', { max_lr = 1, total_steps = 9 }, 'anneal_strategy', 'cosine', "anneal_strategy must be 'cos' or 'linear'" },
    { 'OneCycleLR', { max_lr = 1, total_steps = 9 }, 'total_steps', -3, 'total_steps must be a positive integer' },
    { 'ReduceLROnPlateau', {}, 'num_bad_epochs', 0.5, 'num_bad_epochs must be a whole number >= 0, got 0.5' },
    { 'ReduceLROnPlateau', {}, 'best', 0 / 0, 'best must be a number, got nan' },
    { 'ReduceLROnPlateau', {}, 'mode', 'up', "mode must be 'min' or 'max', got 'up'" },
    { 'ReduceLROnPlateau', {}, 'last_lr', { 1, 2 }, 'last_lr must be a list of 1 numbers' },
    { 'ReduceLROnPlateau', {}, 'best', nil, 'expected a table from state_dict' },
  }
  for _, b in ipairs(BAD) do
    it(('%s load_state_dict refuses %s'):format(b[1], b[3]), function()
      local s = optim[b[1]](sgd(), b[2])
      if b[1] == 'ReduceLROnPlateau' then s:step(1) else s:step() end
      local before = s:state_dict()
      local ok, err = pcall(s.load_state_dict, s, with(before, b[3], b[4]))
      assert.is_false(ok)
      assert.matches(b[1] .. ': load_state_dict: ' .. b[5], err)
      assert.are.same(before, s:state_dict())
    end)
  end
end)
