-- PolynomialLR, CyclicLR, SequentialLR and ChainedScheduler beyond the
-- golden sequences of lr_scheduler_spec.lua: the examples of PyTorch 1.13's
-- docs and triangles worked by hand (exact in binary), CyclicLR's beta1 of
-- Adam against the momenta PyTorch gives SGD under the same schedule (the
-- same formula; 1.13 refuses Adam there, 2.1 cycles beta1 so), fit's
-- lr_scheduler with each and its checkpoint and resume against PyTorch's
-- lrs, and the errors, each naming the scheduler.
local nl = require 'nnlua'
local S = require 'support'
local nn, optim = nl.nn, nl.optim

local G = dofile(S.root .. '/tests/golden/lr_scheduler.lua')
local errmsg, contains = S.errmsg, S.contains

local function case(name)
  for _, c in ipairs(G.cases) do if c.name == name then return c end end
  error('no golden case ' .. name)
end

local function sgd(lrs, opts)
  local groups = {}
  for i, lr in ipairs(lrs or { 1 }) do groups[i] = { params = { nl.zeros(1):requires_grad() }, lr = lr } end
  return optim.SGD(groups, opts or { lr = 1, momentum = 0.9 })
end

-- the lr of the first group after construction and each of n steps
local function lrs(opt, s, n)
  local out = { opt.param_groups[1].lr }
  for _ = 1, n do
    s:step()
    out[#out + 1] = opt.param_groups[1].lr
  end
  return out
end

local function assert_near(want, got, what)
  assert.are.equal(#want, #got, what .. ': length')
  for i = 1, #want do
    assert.is_true(S.close(got[i], want[i], 1e-14, 1e-17), ('%s[%d]: got %.17g, want %.17g'):format(what, i, got[i], want[i]))
  end
end

describe('PolynomialLR', function()
  -- PyTorch 1.13's docstring: lr 0.001, total_iters 4, power 1
  it("follows PyTorch's documented example", function()
    local o = sgd({ 0.001 })
    assert_near({ 0.001, 0.00075, 0.0005, 0.00025, 0, 0, 0 }, lrs(o, optim.PolynomialLR(o, { total_iters = 4 }), 6), 'lr')
  end)

  it('jumps to (1 - e / T)^p of the base lr with step(epoch)', function()
    local o = sgd({ 2 })
    local s = optim.PolynomialLR(o, { total_iters = 4, power = 2 })
    s:step(2)
    assert.are.equal(0.5, o.lr)
    s:step(9)
    assert.are.equal(0, o.lr)
    s:step(1)
    assert.are.equal(1.125, o.lr)
  end)

  it('refuses a total_iters below 1 and a negative power', function()
    contains(errmsg(optim.PolynomialLR, sgd(), { total_iters = 0 }), 'PolynomialLR: total_iters must be a positive integer, got 0')
    contains(errmsg(optim.PolynomialLR, sgd(), { power = -1 }), 'PolynomialLR: power must be in [0, inf), got -1')
    contains(errmsg(optim.PolynomialLR, sgd(), { powr = 1 }), "PolynomialLR: unknown option 'powr'")
  end)
end)

describe('CyclicLR', function()
  -- base 1, max 3, two steps up and two down: 1 2 3 2 1 ...; triangular2
  -- halves the height in the second cycle; exp_range scales by gamma^step
  -- an option none when saved (step_size_down) was kept from the
  -- receiver, so the resumed cycle had the receiver's length; PyTorch
  -- 1.13 gives 0.55 1 0.55 0.1 ... for this resume
  it('loads an option that was none when saved as none', function()
    local p = nl.zeros({ 2 }):requires_grad()
    local o1 = optim.SGD({ p }, { lr = 0.1, momentum = 0.9 })
    local a = optim.CyclicLR(o1, { base_lr = 0.1, max_lr = 1, step_size_up = 2 })
    local sd, osd = a:state_dict(), o1:state_dict()
    local o2 = optim.SGD({ p }, { lr = 0.1, momentum = 0.9 })
    local b = optim.CyclicLR(o2, { base_lr = 0.1, max_lr = 1, step_size_up = 2, step_size_down = 5 })
    o2:load_state_dict(osd)
    b:load_state_dict(sd)
    assert.is_nil(b.step_size_down)
    local want = { 0.55, 1, 0.55, 0.1, 0.55, 1, 0.55, 0.1 }
    for i = 1, 8 do
      b:step()
      assert.is_true(math.abs(o2.lr - want[i]) < 1e-12, ('step %d: lr %.17g, want %g'):format(i, o2.lr, want[i]))
    end
  end)

  it('draws the triangles of its three modes', function()
    local o = sgd({ 5 })
    local s = optim.CyclicLR(o, { base_lr = 1, max_lr = 3, step_size_up = 2 })
    assert.are.same({ 1, 2, 3, 2, 1, 2, 3, 2, 1 }, lrs(o, s, 8))
    o = sgd({ 5 })
    s = optim.CyclicLR(o, { base_lr = 1, max_lr = 3, step_size_up = 2, mode = 'triangular2' })
    assert.are.same({ 1, 2, 3, 2, 1, 1.5, 2, 1.5, 1, 1.25 }, lrs(o, s, 9))
    o = sgd({ 5 })
    s = optim.CyclicLR(o, { base_lr = 1, max_lr = 3, step_size_up = 2, mode = 'exp_range', gamma = 0.5 })
    assert_near({ 1, 1 + 0.5, 1 + 2 * 0.25, 1 + 0.125, 1 }, lrs(o, s, 4), 'exp_range')
  end)

  it('starts each group at base_lr with momentum at max_momentum, and moves momentum against the lr', function()
    local o = sgd({ 5 }, { lr = 5, momentum = 0.5 })
    local s = optim.CyclicLR(o, { base_lr = 1, max_lr = 3, step_size_up = 2, base_momentum = 0.8, max_momentum = 0.9 })
    assert.are.equal(1, o.lr)
    assert.are.equal(0.9, o.param_groups[1].momentum)
    assert.are.equal(1, o.param_groups[1].initial_lr)
    s:step()
    s:step()
    assert.are.equal(3, o.lr)
    assert.are.equal(0.8, o.param_groups[1].momentum)
    assert.are.same({ 1 }, s.base_lrs)
  end)

  -- PyTorch 2.1's CyclicLR cycles Adam's beta1 by the momentum formula:
  -- the momenta PyTorch 1.13 gives SGD under this schedule
  it("cycles Adam's beta1 as SGD's momentum, and leaves beta2", function()
    local c = case('cyclic_triangular')
    local groups = {}
    for i, lr in ipairs(G.lrs) do groups[i] = { params = { nl.zeros(1):requires_grad() }, lr = lr } end
    local a = optim.Adam(groups, { betas = { 0.9, 0.98 } })
    local s = optim.CyclicLR(a, c.opts)
    for k = 1, #c.actions + 1 do
      if k > 1 then s:step() end
      for i, g in ipairs(a.param_groups) do
        assert.is_true(S.close(g.lr, c.values[k][i], 1e-12), 'lr at ' .. k)
        assert.is_true(S.close(g.betas[1], c.momenta[k][i], 1e-12), 'beta1 at ' .. k)
        assert.are.equal(0.98, g.betas[2])
      end
    end
  end)

  -- with a base_momentum of 0 the momentum is 0 at each peak: SGD with
  -- nesterov refused that step ('sgd: Nesterov momentum requires a
  -- momentum and zero dampening'), mid-run; PyTorch steps plain SGD there
  -- and keeps the buffer for the next step. The reference: PyTorch's SGD
  -- formulas with each step's lr and momentum as the groups hold them.
  it("steps SGD with nesterov through a momentum of 0, as a plain step", function()
    local p = nl.tensor({ 1, -2 }, 'float64'):requires_grad()
    local o = optim.SGD({ p }, { lr = 0.1, momentum = 0.9, nesterov = true })
    local s = optim.CyclicLR(o, { base_lr = 0.25, max_lr = 0.5, step_size_up = 2, base_momentum = 0, max_momentum = 0.5 })
    local want, buf, zero_steps = { 1, -2 }, nil, 0
    for k = 1, 8 do
      local g = { 0.5 * k, 3 - k }
      p.grad = nl.tensor(g, 'float64')
      local lr, mom = o.param_groups[1].lr, o.param_groups[1].momentum
      o:step()
      if mom == 0 then zero_steps = zero_steps + 1 end
      for i = 1, 2 do
        local d = g[i]
        if mom ~= 0 then
          buf = buf or {}
          buf[i] = buf[i] and mom * buf[i] + d or d
          d = d + mom * buf[i]
        end
        want[i] = want[i] - lr * d
      end
      assert.are.same(want, p:totable(), 'step ' .. k)
      s:step()
    end
    assert.are.equal(2, zero_steps)
  end)

  it('refuses what it cannot cycle or compute, naming CyclicLR', function()
    local function err(opts, opt) return errmsg(optim.CyclicLR, opt or sgd(), opts) end
    local base = { base_lr = 0.1, max_lr = 1 }
    local function with(t)
      local o = {}
      for k, v in pairs(base) do o[k] = v end
      for k, v in pairs(t) do o[k] = v end
      return o
    end
    contains(err({ max_lr = 1 }), 'CyclicLR: base_lr is required')
    contains(err(with({ base_lr = { 0.1, 0.2 } })), 'CyclicLR: base_lr must be a number or a list of 1 numbers')
    contains(err(with({ step_size_up = 0 })), 'CyclicLR: step_size_up must be in (0, inf), got 0')
    contains(err(with({ step_size_down = -1 })), 'CyclicLR: step_size_down must be in [0, inf), got -1')
    contains(err(with({ mode = 'sine' })), "CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range' (or give a scale_fn), got 'sine'")
    contains(err(with({ scale_fn = 2 })), 'CyclicLR: scale_fn must be a function, got 2')
    contains(err(with({ scale_fn = function() return 1 end, scale_mode = 'epochs' })),
             "CyclicLR: scale_mode must be 'cycle' or 'iterations', got 'epochs'")
    contains(err(base, optim.Adagrad({ nl.zeros(1):requires_grad() })),
             'CyclicLR: cycle_momentum needs an optimizer with momentum or betas')
    contains(err(with({ max_momentum = 1 }), optim.Adam({ nl.zeros(1):requires_grad() })),
             'CyclicLR: max_momentum must be below 1 (it is beta1), got 1')
    contains(errmsg(optim.CyclicLR, sgd(), base, 3), 'CyclicLR: takes (optimizer, {options})')
    -- a scale_fn that returns no number leaves the schedule where it was
    local o = sgd()
    local n = 0
    local s = optim.CyclicLR(o, with({ step_size_up = 2, scale_fn = function()
      n = n + 1
      if n > 2 then return 'x' end
      return 1
    end }))
    s:step()
    local lr, m = o.lr, o.param_groups[1].momentum
    contains(errmsg(s.step, s), "CyclicLR: scale_fn returned 'x' at 1; it must return a number")
    assert.are.equal(lr, o.lr)
    assert.are.equal(m, o.param_groups[1].momentum)
    assert.are.equal(1, s.last_epoch)
  end)
end)

describe('SequentialLR and ChainedScheduler', function()
  -- ConstantLR(factor 0.1, total_iters 2) and ExponentialLR(gamma 0.9)
  -- from lr 1, PyTorch 1.13's values (its docstrings' differ from what it
  -- computes). SequentialLR: 0.1 twice, then ExponentialLR from its epoch
  -- 0, its base lr 1, and down by 0.9. ChainedScheduler: both built, 0.1;
  -- then 0.1 * 0.9; then ConstantLR's end multiplies by 10, and 0.9 again.
  it("give PyTorch 1.13's lrs for the example of its docstrings", function()
    local o = sgd()
    local s = optim.SequentialLR(o, { schedulers = { optim.ConstantLR(o, { factor = 0.1, total_iters = 2 }),
                                                     optim.ExponentialLR(o, { gamma = 0.9 }) }, milestones = { 2 } })
    assert_near({ 0.1, 0.1, 1, 0.9, 0.81 }, lrs(o, s, 4), 'SequentialLR')
    assert.are.same(s:get_last_lr(), { o.lr })
    o = sgd()
    s = optim.ChainedScheduler({ optim.ConstantLR(o, { factor = 0.1, total_iters = 2 }), optim.ExponentialLR(o, { gamma = 0.9 }) })
    assert_near({ 0.1, 0.09, 0.81, 0.729, 0.6561 }, lrs(o, s, 4), 'ChainedScheduler')
    assert.are.same(s:get_last_lr(), { o.lr })
  end)

  it('refuse members they cannot drive, and bad milestones, naming themselves', function()
    local o, other = sgd(), sgd()
    local a, b = optim.StepLR(o, { step_size = 2 }), optim.ExponentialLR(o, { gamma = 0.9 })
    local function seq(list, m) return errmsg(optim.SequentialLR, o, { schedulers = list, milestones = m }) end
    contains(seq({}, {}), 'SequentialLR: schedulers must be a non-empty list of schedulers, got')
    contains(seq({ a, 'x' }, { 2 }), "SequentialLR: schedulers[2] must be a scheduler (such as optim.StepLR(opt, {...})), got 'x'")
    contains(seq({ a, optim.ReduceLROnPlateau(o) }, { 2 }),
             'SequentialLR: schedulers[2] is a ReduceLROnPlateau, whose step takes a metric')
    contains(seq({ a, optim.StepLR(other, { step_size = 1 }) }, { 2 }),
             'SequentialLR: schedulers[2] is built on another optimizer than the one given')
    contains(seq({ a, a }, { 2 }), 'SequentialLR: schedulers[2] is schedulers[1] again')
    contains(seq({ a, optim.ChainedScheduler({ b }) }, { 2 }),
             'SequentialLR: schedulers[2] is a ChainedScheduler; SequentialLR needs schedulers that count epochs')
    contains(seq({ a, b }, { 2, 3 }), 'SequentialLR: milestones must be a list of 1 epochs, one fewer than the schedulers, got a list of 2')
    contains(seq({ a, b, optim.StepLR(o, { step_size = 1 }) }, { 3, 3 }),
             'SequentialLR: milestones[2] must be a whole number >= 1 above the one before, got 3')
    contains(seq({ a, b }, { 0 }), 'milestones[1] must be a whole number >= 1 above the one before, got 0')
    contains(errmsg(optim.SequentialLR, o, { schedulers = { a, b }, milestone = { 2 } }), "SequentialLR: unknown option 'milestone'")
    contains(errmsg(optim.SequentialLR, { a, b }), 'SequentialLR: expected an optimizer')
    contains(errmsg(optim.ChainedScheduler, o, { a, b }), 'ChainedScheduler: takes (schedulers), got 2 arguments; it takes the list of schedulers alone')
    contains(errmsg(optim.ChainedScheduler, o), 'ChainedScheduler: expected a list of schedulers, ChainedScheduler({s1, s2}), got an optimizer')
    contains(errmsg(optim.ChainedScheduler, { a, optim.StepLR(other, { step_size = 1 }) }),
             'ChainedScheduler: schedulers[2] is built on another optimizer than schedulers[1]')
    contains(errmsg(optim.ChainedScheduler, { a, optim.ReduceLROnPlateau(o) }), 'schedulers[2] is a ReduceLROnPlateau')
    local s = optim.ChainedScheduler({ a, b })
    contains(errmsg(s.step, s, 3), 'ChainedScheduler: step takes no epoch (it steps its schedulers by one), got 3')
    contains(errmsg(s.step), 'step: expected a scheduler; call it as sched:step(...)')
  end)

  -- a member's dict that fails to load puts back the members loaded before
  it('load all their members or none', function()
    for _, kind in ipairs({ 'SequentialLR', 'ChainedScheduler' }) do
      local o = sgd()
      local a, b = optim.StepLR(o, { step_size = 2, gamma = 0.5 }), optim.ExponentialLR(o, { gamma = 0.9 })
      local s = kind == 'SequentialLR' and optim.SequentialLR(o, { schedulers = { a, b }, milestones = { 3 } })
                or optim.ChainedScheduler({ a, b })
      for _ = 1, 4 do s:step() end
      local sd = s:state_dict()
      s:step()
      local now = s:state_dict()
      local bad = s:state_dict()
      bad.schedulers[1].last_epoch = sd.schedulers[1].last_epoch
      bad.schedulers[2].gamma = 'x'
      contains(errmsg(s.load_state_dict, s, bad), kind .. ': load_state_dict: schedulers[2]: ExponentialLR: load_state_dict: gamma must be a number')
      assert.are.same(now, s:state_dict())
      contains(errmsg(s.load_state_dict, s, { schedulers = { sd.schedulers[1] }, last_epoch = 1, milestones = { 3 } }),
               kind .. ': load_state_dict: schedulers must be a list of 2 state dicts')
      s:load_state_dict(sd)
      assert.are.same(sd, s:state_dict())
    end
  end)
end)

describe('fit with the new schedulers', function()
  local dir = S.tmpdir()

  -- loss = w^2 trained by SGD with momentum, one step an epoch; fit steps
  -- the scheduler at each epoch's end, so epoch e trains at PyTorch's lr
  -- after e - 1 steps (the golden case's first group, of lr 0.1)
  local function model()
    local m = nn.Linear(1, 1, { bias = false }):double()
    nl.no_grad(function() m.weight:fill_(1) end)
    m:compile { optimizer = optim.SGD(m:parameters(), { lr = 0.1, momentum = 0.9 }), loss = 'mse' }
    return m
  end

  local function make(opt, name, o)
    local opts = {}
    for k, v in pairs(o) do opts[k] = v end
    if opts.schedulers then
      local list = {}
      for i, m in ipairs(opts.schedulers) do list[i] = make(opt, m[1], m[2]) end
      opts.schedulers = list
    end
    if name == 'ChainedScheduler' then return optim.ChainedScheduler(opts.schedulers) end
    return optim[name](opt, opts)
  end

  local X, y = nl.ones(1, 1, 'float64'), nl.zeros(1, 1, 'float64')
  local stop = {}
  local function run(c, epochs, path, kill_at)
    local m = model()
    local s = make(m.optimizer, c.scheduler, c.opts)
    local first
    local ok, h = pcall(m.fit, m, X, y, { epochs = epochs, batch_size = 1, verbose = 0, lr_scheduler = s,
      checkpoint = path and { path = path }, resume = path ~= nil,
      on_step = function(e)
        first = first or e
        if e == kill_at then error(stop) end
      end })
    if not ok then assert(h == stop, tostring(h)) return nil end
    return h, m, first
  end

  for _, name in ipairs({ 'sequential_warmup_cosine', 'sequential_cyclic_polynomial', 'chained_constant_exponential',
                          'chained_sequential_exponential' }) do
    it(name .. ": history.lr is PyTorch's, and a run killed and resumed from its checkpoint equals the whole", function()
      local c = case(name)
      local h, m = run(c, 16)
      for e = 1, 16 do
        assert.is_true(S.close(h.lr[e], c.values[e][1], 1e-12), ('epoch %d: %.17g, want %.17g'):format(e, h.lr[e], c.values[e][1]))
      end
      local path = ('%s/%s.st'):format(dir, name)
      assert.is_nil(run(c, 16, path, 9))
      local h2, m2, first = run(c, 16, path)
      assert.are.equal(9, first)                -- (from the checkpoint of epoch 8's end)
      assert.are.same(h, h2)
      assert.are.same(m.weight:totable(), m2.weight:totable())
      assert.are.equal(m.optimizer.lr, m2.optimizer.lr)
      assert.are.equal(m.optimizer.param_groups[1].momentum, m2.optimizer.param_groups[1].momentum)
    end)
  end
end)
