-- lr_scheduler_extra.lua: the schedulers of PyTorch 1.13 that
-- lr_scheduler.lua lacks, on its machinery (optim._sched): PolynomialLR,
-- CyclicLR (which also cycles momentum), and the two that drive other
-- schedulers, SequentialLR (one after another, switched at milestones) and
-- ChainedScheduler (all of them at each step, their factors multiplied).
-- The formulas are torch/optim/lr_scheduler.py's, in its order of operations.
return function(nl, optim)
  local raise = nl._raise
  local U = optim._sched
  local REQUIRED, NONE, copy = U.REQUIRED, U.NONE, U.copy
  local number, whole, within, choice, flag, per_group = U.number, U.whole, U.within, U.choice, U.flag, U.per_group
  local huge, floor = math.huge, math.floor

  -- ---- PolynomialLR: the base lr times (1 - e / total_iters)^power, 0
  -- from total_iters on. A total_iters of 0 divides by it (PyTorch's
  -- closed form raises ZeroDivisionError) and a negative power makes the
  -- last lr 0^-p, infinite (PyTorch raises at that step): both refused. ----
  local Poly = U.class()
  Poly._defaults = { total_iters = 5, power = 1 }
  function Poly._check(op, o)
    whole(op, o, 'total_iters', 1)
    within(op, o, 'power', 0, huge, false, true)
  end
  function Poly:_get_lr(e)
    local T, lrs = self.total_iters, {}
    for i, g in ipairs(self.optimizer.param_groups) do
      if e == 0 or e > T then
        lrs[i] = g.lr
      else
        lrs[i] = g.lr * ((1 - e / T) / (1 - (e - 1) / T)) ^ self.power
      end
    end
    return lrs
  end
  function Poly:_closed_form(base, e)
    return base * (1 - math.min(self.total_iters, e) / self.total_iters) ^ self.power
  end
  U.register(Poly, 'PolynomialLR', 'total_iters')

  -- the momentum options of a scheduler that cycles momentum (SGD's and
  -- RMSprop's momentum, Adam's and AdamW's beta1), one per group; a beta1
  -- of 1 divides by 0 in Adam's bias correction
  local function check_momenta(op, o, opt)
    local key = U.momentum_key(opt)
    if not key then
      raise(('%s: cycle_momentum needs an optimizer with momentum or betas (SGD, RMSprop, Adam, AdamW); '
             .. 'pass cycle_momentum = false'):format(op))
    end
    local n = #opt.param_groups
    for _, k in ipairs({ 'base_momentum', 'max_momentum' }) do
      for i, m in ipairs(per_group(op, o, k, n, 0)) do
        if key == 'betas' and m >= 1 then
          raise(('%s: %s must be below 1 (it is beta1), got %s%s'):format(op, k, tostring(m),
            n > 1 and (' (param group %d)'):format(i) or ''))
        end
      end
    end
  end

  -- ---- CyclicLR: the lr goes from base_lr up to max_lr in step_size_up
  -- steps and back down in step_size_down (by default as many), cycle
  -- after cycle, the height scaled by mode: 'triangular' (1),
  -- 'triangular2' (halved each cycle), 'exp_range' (gamma^step), or by
  -- scale_fn of the cycle (scale_mode 'cycle', from 1) or of the step
  -- ('iterations'). Momentum goes the other way, from max_momentum down to
  -- base_momentum at the peak. Stepped once per batch. Construction sets
  -- every group's lr to base_lr (and its momentum to base_momentum), as
  -- PyTorch's does. PyTorch 1.13 refuses cycle_momentum for an optimizer
  -- without a momentum option (Adam); this cycles Adam's beta1, as
  -- PyTorch 2.1 and later do. ----------------------------------------------
  local Cyclic = U.class()
  Cyclic._defaults = {
    base_lr = REQUIRED, max_lr = REQUIRED, step_size_up = 2000, step_size_down = NONE, mode = 'triangular',
    gamma = 1, scale_fn = NONE, scale_mode = 'cycle', cycle_momentum = true, base_momentum = 0.8,
    max_momentum = 0.9,
  }
  Cyclic._unsaved = { scale_fn = true }

  function Cyclic._check(op, o, opt)
    local n = #opt.param_groups
    per_group(op, o, 'base_lr', n, 0)
    per_group(op, o, 'max_lr', n, 0)
    -- (step_size_up is the divisor of the rise; a fall of 0 steps is a
    -- sawtooth, which PyTorch computes)
    within(op, o, 'step_size_up', 0, huge, true, true)
    if o.step_size_down ~= nil then within(op, o, 'step_size_down', 0, huge, false, true) end
    if o.scale_fn == nil then
      local m = o.mode
      if m ~= 'triangular' and m ~= 'triangular2' and m ~= 'exp_range' then
        raise(("%s: mode must be 'triangular', 'triangular2' or 'exp_range' (or give a scale_fn), got %s"):format(
          op, nl._describe_arg(m)))
      end
    elseif type(o.scale_fn) ~= 'function' then
      raise(('%s: scale_fn must be a function, got %s'):format(op, nl._describe_arg(o.scale_fn)))
    end
    choice(op, o, 'scale_mode', 'cycle', 'iterations')
    number(op, o, 'gamma')
    flag(op, o, 'cycle_momentum')
    if o.cycle_momentum then check_momenta(op, o, opt) end
  end

  -- the per-group bounds, the cycle's size and the scale function with
  -- what it reads (a mode's own scale_mode, as PyTorch's, over the option)
  function Cyclic:_derive()
    local n, name = #self.optimizer.param_groups, self.name
    self._base = per_group(name, self, 'base_lr', n)
    self._max = per_group(name, self, 'max_lr', n)
    local up = self.step_size_up
    self._total = up + (self.step_size_down or up)
    self._ratio = up / self._total
    local gamma = self.gamma
    if self.scale_fn then
      self._scale, self._scale_by = self.scale_fn, self.scale_mode
    elseif self.mode == 'triangular' then
      self._scale, self._scale_by = function() return 1 end, 'cycle'
    elseif self.mode == 'triangular2' then
      self._scale, self._scale_by = function(x) return 1 / (2 ^ (x - 1)) end, 'cycle'
    else
      self._scale, self._scale_by = function(x) return gamma ^ x end, 'iterations'
    end
    self._momentum_key = self.cycle_momentum and U.momentum_key(self.optimizer) or nil
    if self._momentum_key then
      self._base_m = per_group(name, self, 'base_momentum', n)
      self._max_m = per_group(name, self, 'max_momentum', n)
    end
  end

  local function set_momenta(groups, key, ms)
    for i, g in ipairs(groups) do
      if key == 'betas' then g.betas = { ms[i], g.betas[2] } else g.momentum = ms[i] end
    end
  end

  -- construction only (a loaded optimizer brings its own)
  function Cyclic:_init()
    for i, g in ipairs(self.optimizer.param_groups) do g.lr = self._base[i] end
    if self._momentum_key then set_momenta(self.optimizer.param_groups, self._momentum_key, self._base_m) end
  end
  -- made with last_epoch: the groups keep their lrs and momenta, and the
  -- low momentum is each group's momentum now, as PyTorch 1.13 takes it
  -- (its base_momentums are read from the groups after construction)
  function Cyclic:_resume()
    if not self._momentum_key then return end
    for i, g in ipairs(self.optimizer.param_groups) do
      self._base_m[i] = self._momentum_key == 'betas' and g.betas[1] or g.momentum
    end
  end

  -- the lrs at step e; the momenta are set here, as PyTorch's get_lr
  -- sets them, once everything is computed
  function Cyclic:_get_lr(e)
    local cycle = floor(1 + e / self._total)
    local x = 1 + e / self._total - cycle
    local factor
    if x <= self._ratio then factor = x / self._ratio else factor = (x - 1) / (self._ratio - 1) end
    local at = self._scale_by == 'cycle' and cycle or e
    local scale = self._scale(at)
    if type(scale) ~= 'number' then
      raise(('%s: scale_fn returned %s at %d; it must return a number'):format(self.name, nl._describe_arg(scale), at))
    end
    local lrs = {}
    -- (the construction's step reads the groups' initial_lr as base_lr, as
    -- PyTorch 1.13's, which sets its base_lrs only after that step: on a
    -- resume, or where an earlier scheduler left initial_lr)
    for i, base in ipairs(self._initial_step and self.base_lrs or self._base) do
      local height = (self._max[i] - base) * factor
      lrs[i] = base + height * scale
    end
    local key = self._momentum_key
    if key then
      local groups, ms = self.optimizer.param_groups, {}
      if key == 'betas' then
        for i, g in ipairs(groups) do
          if not U.number_list(g.betas, 2) then
            raise(('%s: param group %d: betas must be a list of 2 numbers'):format(self.name, i))
          end
        end
      end
      for i, mx in ipairs(self._max_m) do
        local height = (mx - self._base_m[i]) * factor
        ms[i] = mx - height * scale
      end
      set_momenta(groups, key, ms)
    end
    return lrs
  end

  optim.CyclicLR = function(opt, opts, ...)
    nl._no_extra_args('CyclicLR', '(optimizer, {options})', 'give base_lr and the rest in the options table', ...)
    local s = U.new(Cyclic, 'CyclicLR', opt, opts)
    -- PyTorch's base_lrs are the option's, not the groups' initial_lr
    s.base_lrs = copy(s._base)
    return s
  end

  -- ---- SequentialLR and ChainedScheduler ----------------------------------

  -- the lrs of the optimizer's groups (what a member's step left)
  local function lrs_of(opt)
    local v = {}
    for i, g in ipairs(opt.param_groups) do v[i] = g.lr end
    return v
  end

  -- list: the schedulers a composite drives, each once, on one optimizer
  -- (opt, or the first's); counted: each must count epochs (SequentialLR
  -- undoes their first step and steps each from epoch 0 at its milestone)
  local function check_members(op, list, opt, counted)
    if not nl._list_len(list) or #list == 0 then
      raise(('%s: schedulers must be a non-empty list of schedulers, got %s'):format(op, nl._describe_arg(list)))
    end
    opt = opt or (U.is_scheduler(list[1]) and list[1].optimizer)
    local seen = {}
    for i = 1, #list do
      local s = list[i]
      if not U.is_scheduler(s) or type(s.step) ~= 'function' or type(s.state_dict) ~= 'function'
         or type(s.load_state_dict) ~= 'function' then
        raise(('%s: schedulers[%d] must be a scheduler (such as optim.StepLR(opt, {...})), got %s'):format(op, i,
          nl._describe_arg(s)))
      end
      local what = type(s.name) == 'string' and s.name or 'scheduler'
      -- (PyTorch 1.13 steps it without the metric: a TypeError)
      if s.takes_metric then
        raise(('%s: schedulers[%d] is a %s, whose step takes a metric; %s steps its schedulers without one')
              :format(op, i, what, op))
      end
      if counted and (s._composite or type(s.last_epoch) ~= 'number') then
        raise(('%s: schedulers[%d] is a %s; SequentialLR needs schedulers that count epochs (it steps each from '
               .. 'epoch 0 at its milestone)'):format(op, i, what))
      end
      if s.optimizer ~= opt then
        raise(('%s: schedulers[%d] is built on another optimizer than %s; build them all on one optimizer'):format(
          op, i, counted and 'the one given' or 'schedulers[1]'))
      end
      if seen[s] then raise(('%s: schedulers[%d] is schedulers[%d] again; give each scheduler once'):format(op, i, seen[s])) end
      seen[s] = i
    end
    return opt
  end

  -- each member's state_dict, in a list
  local function member_states(self)
    local out = {}
    for i, s in ipairs(self._schedulers) do out[i] = s:state_dict() end
    return out
  end

  -- the members' dicts loaded, all or none: one that fails puts back the
  -- states of those loaded before it
  local function load_members(self, op, sds)
    local list = self._schedulers
    if not nl._list_len(sds) or #sds ~= #list then
      raise(('%s: schedulers must be a list of %d state dicts, one per scheduler'):format(op, #list))
    end
    local before = member_states(self)
    for i, s in ipairs(list) do
      local ok, err = pcall(s.load_state_dict, s, sds[i])
      if not ok then
        for j = 1, i - 1 do list[j]:load_state_dict(before[j]) end
        raise(('%s: schedulers[%d]: %s'):format(op, i, (tostring(err):gsub('^[^\n]-:%d+: ', ''))))
      end
    end
  end

  local function check_last_lr(op, sd, n)
    if sd.last_lr ~= nil and not U.number_list(sd.last_lr, n) then
      raise(('%s: last_lr must be a list of %d numbers, one per param group of the optimizer'):format(op, n))
    end
  end

  local function get_last_lr(self)
    local c = {}
    for i, v in ipairs(self._last_lr) do c[i] = v end
    return c
  end

  -- (a table: an epoch was given, which neither takes)
  local function no_epoch(self, epoch)
    if epoch ~= nil then
      raise(('%s: step takes no epoch (it steps its schedulers by one), got %s'):format(self.name,
        nl._describe_arg(epoch)))
    end
  end

  -- milestones: n - 1 epochs, rising, from 1 (PyTorch looks them up by
  -- bisection, so an unsorted list picked schedulers out of turn)
  local function check_milestones(op, m, n)
    if not nl._list_len(m) or #m ~= n - 1 then
      raise(('%s: milestones must be a list of %d epochs, one fewer than the schedulers, got %s'):format(op, n - 1,
        nl._list_len(m) and ('a list of %d'):format(#m) or nl._describe_arg(m)))
    end
    for i = 1, #m do
      local v = m[i]
      if type(v) ~= 'number' or v < 1 or v ~= floor(v) or v == huge or (i > 1 and v <= m[i - 1]) then
        raise(('%s: milestones[%d] must be a whole number >= 1 above the one before, got %s'):format(op, i,
          nl._describe_arg(v)))
      end
    end
  end

  -- ---- SequentialLR: schedulers[1] until milestones[1], then
  -- schedulers[2] from its epoch 0, and so on. Built as PyTorch's: the
  -- groups' lrs go back to their initial_lr, every member's construction
  -- step is undone (its epoch count put back by one), and schedulers[1]
  -- takes the first step. -------------------------------------------------
  local Sequential = { _composite = true }
  Sequential.__index = Sequential

  optim.SequentialLR = function(opt, opts, ...)
    local name = 'SequentialLR'
    nl._no_extra_args(name, '(optimizer, {schedulers = {...}, milestones = {...}})', nil, ...)
    if type(opt) ~= 'table' or type(opt.param_groups) ~= 'table' then
      raise(('%s: expected an optimizer, got %s'):format(name, nl._describe_arg(opt)))
    end
    opts = nl._opts(name, opts)
    nl._check_opts(name, opts, { schedulers = 1, milestones = 1 })
    local list = opts.schedulers
    check_members(name, list, opt, true)
    check_milestones(name, opts.milestones, #list)
    for i, g in ipairs(opt.param_groups) do
      if type(g.initial_lr) ~= 'number' then
        raise(('%s: param group %d has no number initial_lr (a scheduler built on the optimizer sets it)'):format(name, i))
      end
    end
    local self = setmetatable({ optimizer = opt, name = name, last_epoch = 0, _schedulers = copy(list),
                                milestones = copy(opts.milestones) }, Sequential)
    for _, g in ipairs(opt.param_groups) do g.lr = g.initial_lr end
    for _, s in ipairs(list) do s.last_epoch = s.last_epoch - 1 end
    list[1]:step()
    self._last_lr = lrs_of(opt)
    return self
  end

  -- the member whose interval holds the next epoch, from epoch 0 when the
  -- epoch is its milestone (PyTorch's step(0): the closed form, where the
  -- member has one)
  function Sequential:step(epoch, ...)
    no_epoch(self, epoch)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': step', '()', nil, ...) end
    local e, m = self.last_epoch + 1, self.milestones
    local k = 0                                         -- (bisect_right)
    while k < #m and m[k + 1] <= e do k = k + 1 end
    local s = self._schedulers[k + 1]
    if k > 0 and m[k] == e then s:step(0) else s:step() end
    self.last_epoch = e
    self._last_lr = lrs_of(self.optimizer)
  end

  Sequential.get_last_lr = get_last_lr

  -- the epoch count, milestones, last lrs and each member's state dict
  function Sequential:state_dict(...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': state_dict', '()', nil, ...) end
    return { last_epoch = self.last_epoch, milestones = copy(self.milestones), last_lr = self:get_last_lr(),
             schedulers = member_states(self) }
  end

  -- checked whole (the members' dicts by their own load) before anything
  -- of this one changes
  function Sequential:load_state_dict(sd, ...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': load_state_dict', '(state_dict)', nil, ...) end
    local op = self.name .. ': load_state_dict'
    if type(sd) ~= 'table' or type(sd.last_epoch) ~= 'number' or type(sd.schedulers) ~= 'table' then
      raise(op .. ': expected a table from state_dict')
    end
    whole(op, sd, 'last_epoch', 0)
    check_milestones(op, sd.milestones, #self._schedulers)
    check_last_lr(op, sd, #self.optimizer.param_groups)
    load_members(self, op, sd.schedulers)
    self.last_epoch, self.milestones = sd.last_epoch, copy(sd.milestones)
    self._last_lr = copy(sd.last_lr or lrs_of(self.optimizer))
  end

  -- ---- ChainedScheduler: each step steps every scheduler in the list, in
  -- order, so that their factors multiply (chainable forms only: a closed
  -- form's or LambdaLR's lr overwrites what the ones before it did, as in
  -- PyTorch). It takes the list alone, as PyTorch 1.13's ChainedScheduler(
  -- schedulers): the optimizer is theirs. --------------------------------
  local Chained = { _composite = true }
  Chained.__index = Chained

  optim.ChainedScheduler = function(list, ...)
    local name = 'ChainedScheduler'
    nl._no_extra_args(name, '(schedulers)', 'it takes the list of schedulers alone', ...)
    if type(list) == 'table' and type(rawget(list, 'param_groups')) == 'table' then
      raise(('%s: expected a list of schedulers, ChainedScheduler({s1, s2}), got an optimizer (the schedulers '
             .. 'give it)'):format(name))
    end
    local opt = check_members(name, list, nil, false)
    return setmetatable({ optimizer = opt, name = name, _schedulers = copy(list), _last_lr = lrs_of(opt) }, Chained)
  end

  function Chained:step(epoch, ...)
    no_epoch(self, epoch)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': step', '()', nil, ...) end
    for _, s in ipairs(self._schedulers) do s:step() end
    self._last_lr = lrs_of(self.optimizer)
  end

  Chained.get_last_lr = get_last_lr

  function Chained:state_dict(...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': state_dict', '()', nil, ...) end
    return { last_lr = self:get_last_lr(), schedulers = member_states(self) }
  end

  function Chained:load_state_dict(sd, ...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': load_state_dict', '(state_dict)', nil, ...) end
    local op = self.name .. ': load_state_dict'
    if type(sd) ~= 'table' or type(sd.schedulers) ~= 'table' then raise(op .. ': expected a table from state_dict') end
    check_last_lr(op, sd, #self.optimizer.param_groups)
    load_members(self, op, sd.schedulers)
    self._last_lr = copy(sd.last_lr or lrs_of(self.optimizer))
  end

  for _, cls in ipairs({ Sequential, Chained }) do
    nl._guard_methods(cls, U.is_scheduler, 'a scheduler', 'sched')
  end
end
