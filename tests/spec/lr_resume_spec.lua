-- LR schedulers made with last_epoch (resuming a schedule) and verbose,
-- PyTorch 1.13's constructor arguments. Golden: tests/golden/lr_resume.lua
-- (tests/golden/gen_lr_resume.py): a schedule stepped `first` times, then a
-- fresh optimizer loading its state_dict and a scheduler made with
-- last_epoch = first; each group's lr and momentum after that and after
-- each further step, to 1e-12 relative.
local nl = require 'nnlua'
local S = require 'support'

local optim = nl.optim
local cases = dofile(S.root .. '/tests/golden/lr_resume.lua')
local LAMBDAS = { pow95 = function(e) return 0.95 ^ e end, const95 = function() return 0.95 end }

local function groups()
  local ps = { nl.zeros({ 1 }, 'float64'):requires_grad(), nl.zeros({ 1 }, 'float64'):requires_grad() }
  return optim.SGD({ { params = { ps[1] }, lr = 0.1 }, { params = { ps[2] }, lr = 0.02 } }, { lr = 0.1, momentum = 0.9 })
end
local function make(c, opt, extra)
  local o = {}
  for k, v in pairs(c.opts) do o[k] = v end
  if o.lr_lambda then o.lr_lambda = LAMBDAS[o.lr_lambda] end
  for k, v in pairs(extra or {}) do o[k] = v end
  return optim[c.name](opt, o)
end
local function check(opt, want, what)
  for i, g in ipairs(opt.param_groups) do
    for j, k in ipairs({ 'lr', 'momentum' }) do
      if not S.close(g[k], want[i][j], 1e-12, 1e-15) then
        error(('%s: group %d %s: got %.17g, want %.17g'):format(what, i, k, g[k], want[i][j]), 2)
      end
    end
  end
end

describe('schedulers made with last_epoch, against PyTorch', function()
  for _, c in ipairs(cases) do
    it(c.name, function()
      local opt = groups()
      local s = make(c, opt)
      for _ = 1, c.first do opt:step() s:step() end
      local opt2 = groups()
      opt2:load_state_dict(opt:state_dict())
      local s2 = make(c, opt2, { last_epoch = c.first })
      assert.are.equal(c.first + 1, s2.last_epoch)
      check(opt2, c.lrs[1], 'after construction')
      for step = 2, #c.lrs do
        opt2:step()
        s2:step()
        check(opt2, c.lrs[step], 'step ' .. (step - 1))
      end
    end)
  end
end)

describe('last_epoch and verbose', function()
  local function opt_of() return optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 0.1 }) end

  it("CosineAnnealingLR's resume takes the closed form from initial_lr at construction, as PyTorch 1.13", function()
    -- (PyTorch's get_lr when _step_count == 1 and last_epoch > 0: lr 0.1,
    -- initial_lr 0.2, T_max 5, eta_min 0.01, last_epoch 3 gives
    -- 0.0281433855344 and then 0.01, where the recursive form from lr 0.1
    -- gave 0.0348753882025)
    local opt = opt_of()
    opt.param_groups[1].initial_lr = 0.2
    local s = optim.CosineAnnealingLR(opt, { T_max = 5, eta_min = 0.01, last_epoch = 3 })
    local want = 0.01 + 0.19 * (1 + math.cos(math.pi * 4 / 5)) / 2
    assert.is_true(S.close(opt.param_groups[1].lr, want, 1e-14, 0))
    assert.is_true(S.close(want, 0.0281433855344, 1e-11, 0))
    opt:step()
    s:step()
    assert.is_true(S.close(opt.param_groups[1].lr, 0.01, 1e-14, 0))
  end)

  it("CyclicLR's construction step takes the groups' initial_lr as base_lr, as PyTorch 1.13", function()
    -- (PyTorch sets CyclicLR's base_lrs after its constructor's step, which
    -- reads initial_lr: base_lr 0.05, max_lr 0.3, step_size_up 2, no
    -- momentum cycle; made with last_epoch 3 over initial_lr 0.2 its lrs
    -- are 0.2, 0.175, 0.3; made after a StepLR over lr 0.1, 0.1, 0.175, 0.3)
    local o = { base_lr = 0.05, max_lr = 0.3, step_size_up = 2, cycle_momentum = false }
    local function run(opt, s, want)
      for k, w in ipairs(want) do
        if k > 1 then opt:step() s:step() end
        assert.is_true(S.close(opt.param_groups[1].lr, w, 1e-14, 0), ('step %d: got %.17g, want %g'):format(k - 1,
          opt.param_groups[1].lr, w))
      end
    end
    local opt = opt_of()
    opt.param_groups[1].initial_lr = 0.2
    run(opt, optim.CyclicLR(opt, { base_lr = 0.05, max_lr = 0.3, step_size_up = 2, cycle_momentum = false,
                                   last_epoch = 3 }), { 0.2, 0.175, 0.3 })
    opt = opt_of()
    optim.StepLR(opt, { step_size = 2 })
    run(opt, optim.CyclicLR(opt, o), { 0.1, 0.175, 0.3 })
  end)

  it('refuse a resume without initial_lr, and bad values', function()
    S.contains(S.errmsg(optim.StepLR, opt_of(), { step_size = 2, last_epoch = 3 }),
               "StepLR: last_epoch = 3 resumes a schedule, but param group 1 has no initial_lr")
    S.contains(S.errmsg(optim.StepLR, opt_of(), { step_size = 2, last_epoch = -2 }),
               'StepLR: last_epoch must be a whole number >= -1, got -2')
    S.contains(S.errmsg(optim.StepLR, opt_of(), { step_size = 2, last_epoch = 1.5 }), 'last_epoch must be a whole number')
    S.contains(S.errmsg(optim.StepLR, opt_of(), { step_size = 2, verbose = 1 }), 'StepLR: verbose must be a boolean')
    S.contains(S.errmsg(optim.ReduceLROnPlateau, opt_of(), { last_epoch = 2 }),
               "ReduceLROnPlateau: unknown option 'last_epoch'")
  end)

  it('last_epoch = -1 is a new schedule', function()
    local a, b = opt_of(), opt_of()
    optim.ExponentialLR(a, { gamma = 0.5 })
    local s = optim.ExponentialLR(b, { gamma = 0.5, last_epoch = -1, verbose = false })
    assert.are.equal(0, s.last_epoch)
    assert.are.equal(a.param_groups[1].initial_lr, b.param_groups[1].initial_lr)
  end)

  it("verbose prints each group's new lr, as PyTorch (groups numbered from 1)", function()
    local code = S.path_prelude .. [[
      local nl = require 'nnlua'
      local o = nl.optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 0.1 })
      local s = nl.optim.StepLR(o, { step_size = 1, gamma = 0.5, verbose = true })
      s:step()
      s:step(4)
      local o2 = nl.optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 0.1 })
      local p = nl.optim.ReduceLROnPlateau(o2, { patience = 0, verbose = true })
      p:step(1)
      p:step(2)
      local o3 = nl.optim.SGD({ nl.zeros(1):requires_grad() }, { lr = 0.1 })
      local w = nl.optim.CosineAnnealingWarmRestarts(o3, { T_0 = 3, verbose = true })
      w:step()
      w:step(2.5)
    ]]
    local out = S.run_luajit(code)
    -- (CosineAnnealingWarmRestarts names the epoch of every step, as
    -- PyTorch 1.13's, which prints these four lines and lrs)
    assert.are.equal(table.concat({
      'Adjusting learning rate of group 1 to 1.0000e-01.',
      'Adjusting learning rate of group 1 to 5.0000e-02.',
      'Epoch 00004: adjusting learning rate of group 1 to 6.2500e-03.',
      'Epoch 00002: reducing learning rate of group 1 to 1.0000e-02.',
      'Epoch 00000: adjusting learning rate of group 1 to 1.0000e-01.',
      'Epoch 00001: adjusting learning rate of group 1 to 7.5000e-02.',
      'Epoch 2.50: adjusting learning rate of group 1 to 6.6987e-03.', '' }, '\n'), out)
  end)
end)
