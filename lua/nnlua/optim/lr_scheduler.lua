-- lr_scheduler.lua: learning-rate schedules that rewrite the lr of each of
-- an optimizer's param groups once per step: StepLR, MultiStepLR,
-- ExponentialLR, LinearLR, ConstantLR, LambdaLR, MultiplicativeLR,
-- CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR (which also
-- cycles momentum) and ReduceLROnPlateau (stepped with a metric), with
-- PyTorch 1.13's recursive formulas (torch/optim/lr_scheduler.py), written
-- in its order of operations, so the values match its to the last bits.
-- CyclicLR, PolynomialLR, SequentialLR and ChainedScheduler are in
-- lr_scheduler_extra.lua, on the machinery this file exports (optim._sched).
return function(nl, optim)
  local raise = nl._raise
  local huge, floor = math.huge, math.floor

  local Scheduler = {}
  Scheduler.__index = Scheduler
  optim.LRScheduler = Scheduler

  -- defaults a user must give, and options absent unless given
  -- (OneCycleLR's total_steps)
  local REQUIRED, NONE = {}, {}

  -- options are numbers, strings, booleans, functions and lists of those
  local function copy(v)
    if type(v) ~= 'table' then return v end
    local c = {}
    for i = 1, #v do c[i] = v[i] end
    return c
  end

  -- ---- option checks: each raises '<op>: <key> must be ...' --------------

  local function is_finite(v) return type(v) == 'number' and v == v and v ~= huge and v ~= -huge end

  local function number(op, o, k)
    local v = o[k]
    if type(v) ~= 'number' then raise(('%s: %s must be a number, got %s'):format(op, k, type(v))) end
    -- (a NaN gamma or eta_min made every later lr NaN)
    if not is_finite(v) then raise(('%s: %s must be finite, got %s'):format(op, k, tostring(v))) end
    return v
  end

  -- a whole number >= least (a count of epochs or steps)
  local function whole(op, o, k, least)
    local v = o[k]
    if type(v) ~= 'number' then raise(('%s: %s must be a number, got %s'):format(op, k, type(v))) end
    if v < least or v ~= floor(v) or v == huge then
      raise(('%s: %s must be %s, got %s'):format(op, k, least == 1 and 'a positive integer'
                                                   or 'a whole number >= ' .. least, tostring(v)))
    end
    return v
  end

  -- a number in [lo, hi], either end open where asked
  local function within(op, o, k, lo, hi, lo_open, hi_open)
    local v = number(op, o, k)
    if v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi) then
      raise(('%s: %s must be in %s%s, %s%s, got %s'):format(op, k, lo_open and '(' or '[', tostring(lo),
                                                             tostring(hi), hi_open and ')' or ']', tostring(v)))
    end
    return v
  end

  local function choice(op, o, k, a, b)
    local v = o[k]
    if v ~= a and v ~= b then
      raise(("%s: %s must be '%s' or '%s', got %s"):format(op, k, a, b, nl._describe_arg(v)))
    end
  end

  local function flag(op, o, k)
    if type(o[k]) ~= 'boolean' then
      raise(('%s: %s must be a boolean (true or false), got %s'):format(op, k, nl._describe_arg(o[k])))
    end
  end

  -- o[k], a number or a list of one per param group (n), as a list of n;
  -- each is finite and >= least where least is given
  local function per_group(op, o, k, n, least)
    local v = o[k]
    local vs = {}
    if type(v) == 'number' then
      for i = 1, n do vs[i] = v end
    elseif nl._list_len(v) == n then
      for i = 1, n do vs[i] = v[i] end
    else
      raise(('%s: %s must be a number or a list of %d numbers, one per param group, got %s'):format(op, k, n,
        nl._list_len(v) and ('a list of %d'):format(nl._list_len(v)) or type(v)))
    end
    for i = 1, n do
      local x, name = vs[i], type(v) == 'table' and ('%s[%d]'):format(k, i) or k
      if type(x) ~= 'number' then raise(('%s: %s must be a number, got %s'):format(op, name, type(x))) end
      if not is_finite(x) then raise(('%s: %s must be finite, got %s'):format(op, name, tostring(x))) end
      if least and x < least then raise(('%s: %s must be >= %s, got %s'):format(op, name, tostring(least), tostring(x))) end
    end
    return vs
  end

  local function number_list(v, n)
    if nl._list_len(v) ~= n then return false end
    for i = 1, n do if type(v[i]) ~= 'number' or v[i] ~= v[i] then return false end end
    return true
  end

  local function check_optimizer(name, opt)
    if type(opt) ~= 'table' or type(opt.param_groups) ~= 'table' then
      raise(('%s: expected an optimizer, got %s'):format(name, type(opt)))
    end
  end

  -- the options of a new scheduler: opts against cls._defaults, each
  -- default filled in, then checked by cls._check(op, values, optimizer)
  -- PyTorch's last_epoch and verbose, beside each class's options
  local function known_of(cls)
    if not cls._known then
      cls._known = { verbose = 'flag', last_epoch = (not cls._no_resume) and 1 or nil }
      for k in pairs(cls._defaults) do cls._known[k] = 1 end
    end
    return cls._known
  end

  local function options(cls, name, opt, opts)
    check_optimizer(name, opt)
    opts = nl._opts(name, opts)
    nl._check_opts(name, opts, known_of(cls))
    local vals = {}
    for k, d in pairs(cls._defaults) do
      local v = opts[k]
      if v == nil then
        if d == REQUIRED then raise(('%s: %s is required'):format(name, k)) end
        if d ~= NONE then v = d end
      end
      vals[k] = v
    end
    cls._check(name, vals, opt)
    local last = opts.last_epoch
    if last == nil then last = -1 end
    if type(last) ~= 'number' or last ~= floor(last) or last < -1 or last == huge then
      raise(('%s: last_epoch must be a whole number >= -1, got %s'):format(name, nl._describe_arg(last)))
    end
    return vals, last, opts.verbose == true
  end

  -- A group added since the scheduler was made (add_param_group) has no
  -- base lr in it: its lr became nil, and the optimizer failed at its next
  -- step (or the step failed inside). n: the groups the scheduler knows.
  local function same_groups(self, n)
    local m = #self.optimizer.param_groups
    if m ~= n then
      raise(('%s: step: the optimizer has %d param groups, the scheduler was made for %d (make the scheduler after add_param_group)'):format(
        self.name, m, n))
    end
  end
  optim._same_groups = same_groups

  -- last_epoch (-1: a new schedule) resumes one at that epoch, as
  -- PyTorch's: the groups must hold the initial_lr the first scheduler
  -- gave them (the optimizer's state_dict carries it), the class's
  -- construction-time changes to the groups (_init) are not made again
  -- (_resume(last) instead, where the class has one), and the first step
  -- computes epoch last_epoch + 1 from the groups' lrs. verbose prints
  -- each group's new lr at every step.
  local function new(cls, name, opt, opts)
    local vals, last, verbose = options(cls, name, opt, opts)
    local self = setmetatable({ optimizer = opt, last_epoch = -1, name = name, verbose = verbose }, cls)
    for k in pairs(self._defaults) do self[k] = copy(vals[k]) end
    if self._derive then self:_derive() end
    if last == -1 then
      if self._init then self:_init() end
    else
      for i, g in ipairs(opt.param_groups) do
        if type(g.initial_lr) ~= 'number' then
          raise(('%s: last_epoch = %d resumes a schedule, but param group %d has no initial_lr (the first scheduler '
                 .. 'sets it; load the optimizer\'s state_dict first)'):format(name, last, i))
        end
      end
      if self._resume then self:_resume(last) end
      self.last_epoch = last
    end
    -- like PyTorch, a group keeps the initial_lr an earlier scheduler gave it
    self.base_lrs = {}
    for i, g in ipairs(opt.param_groups) do
      if g.initial_lr == nil then g.initial_lr = g.lr end
      self.base_lrs[i] = g.initial_lr
    end
    -- (the construction's step: PyTorch's _step_count == 1, which
    -- CosineAnnealingLR's resume reads)
    self._initial_step = true
    self:step()
    self._initial_step = nil
    return self
  end

  -- verbose's line for each group (numbered from 1), PyTorch's text
  local function print_lrs(self, lrs, epoch)
    if not self.verbose then return end
    for i, lr in ipairs(lrs) do
      if epoch == nil then
        print(('Adjusting learning rate of group %d to %.4e.'):format(i, lr))
      else
        local e = epoch == floor(epoch) and ('%.5d'):format(epoch) or ('%.2f'):format(epoch)
        print(('Epoch %s: adjusting learning rate of group %d to %.4e.'):format(e, i, lr))
      end
    end
  end

  -- optim[name], the constructor of class cls; key: the option the
  -- message names when arguments follow the table (PyTorch's positional
  -- StepLR(opt, 30, 0.5) written as StepLR(opt, {step_size = 30}, 0.5))
  local function register(cls, name, key)
    optim[name] = function(opt, opts, ...)
      nl._no_extra_args(name, '(optimizer, {options})', 'give ' .. key .. ' and the rest in the options table', ...)
      return new(cls, name, opt, opts)
    end
  end

  -- next epoch: every group's lr becomes the schedule's value. step(e)
  -- jumps to epoch e with the closed form, as PyTorch's (deprecated) step
  -- with an epoch does; the epoch was dropped, and the step taken as a next.
  -- A schedule without a closed form (LambdaLR, OneCycleLR) computes its
  -- usual value at e, as PyTorch's. _get_lr(e) computes every lr before
  -- anything changes: a failure (a lambda that returns no number) leaves
  -- the schedule where it was.
  function Scheduler:step(epoch, ...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': step', '([epoch])', nil, ...) end
    local lrs, given = nil, epoch
    same_groups(self, #self.base_lrs)
    if epoch ~= nil then
      if type(epoch) ~= 'number' or epoch < 0 or epoch ~= floor(epoch) or epoch == huge then
        raise(('%s: step: epoch must be a whole number >= 0, got %s'):format(self.name, tostring(epoch)))
      end
      if self._closed_form then
        lrs = {}
        for i, base in ipairs(self.base_lrs) do lrs[i] = self:_closed_form(base, epoch) end
      else
        lrs = self:_get_lr(epoch)
      end
    else
      epoch = self.last_epoch + 1
      lrs = self:_get_lr(epoch)
    end
    self.last_epoch = epoch
    for i, g in ipairs(self.optimizer.param_groups) do g.lr = lrs[i] end
    self._last_lr = lrs
    print_lrs(self, lrs, given)
  end

  -- the lr of each group set by the last step (a new array)
  function Scheduler:get_last_lr(...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': get_last_lr', '()', nil, ...) end
    local c = {}
    for i, v in ipairs(self._last_lr) do c[i] = v end
    return c
  end

  -- epoch count, base lrs, options and the schedule's own state
  -- (cls._state); the optimizer's own state_dict carries the groups'
  -- current lrs (and OneCycleLR's fields in them). Functions (LambdaLR's
  -- lr_lambda) are left out, as PyTorch leaves them out.
  function Scheduler:state_dict(...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': state_dict', '()', nil, ...) end
    local sd = { last_epoch = self.last_epoch, base_lrs = copy(self.base_lrs), last_lr = self:get_last_lr() }
    for k in pairs(self._defaults) do
      if type(self[k]) ~= 'function' and not (self._unsaved and self._unsaved[k]) then sd[k] = copy(self[k]) end
    end
    for k in pairs(self._state or {}) do sd[k] = self[k] end
    return sd
  end

  -- the options saved in sd (or kept where sd has none: a function, an
  -- option absent), checked as the constructor checks them. An option
  -- whose default is none and that sd lacks was none when saved: it is
  -- none now too (CyclicLR's step_size_down given to the receiver, absent
  -- from the saved scheduler, was kept, and the resumed cycle's length was
  -- the receiver's); a function cannot be saved, so it is kept
  local function loaded_options(self, op, sd)
    local vals = {}
    for k, d in pairs(self._defaults) do
      local v = sd[k]
      if (v == nil and (d ~= NONE or type(self[k]) == 'function')) or (self._unsaved and self._unsaved[k]) then
        v = self[k]
      end
      vals[k] = v
    end
    self._check(op, vals, self.optimizer)
    return vals
  end

  -- checked whole before anything changes: a dict of another number of
  -- groups left a group's lr nil (the optimizer failed at its next step),
  -- and options of the wrong type or range failed in the arithmetic, or
  -- stopped the schedule (step_size = 0)
  function Scheduler:load_state_dict(sd, ...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': load_state_dict', '(state_dict)', nil, ...) end
    local op = self.name .. ': load_state_dict'
    if type(sd) ~= 'table' or type(sd.last_epoch) ~= 'number' or type(sd.base_lrs) ~= 'table' then
      raise(op .. ': expected a table from state_dict')
    end
    local e = sd.last_epoch
    if e ~= floor(e) or e < -1 or e == huge then
      raise(('%s: last_epoch must be a whole number >= -1, got %s'):format(op, tostring(e)))
    end
    local n = #self.optimizer.param_groups
    if not number_list(sd.base_lrs, n) or (sd.last_lr ~= nil and not number_list(sd.last_lr, n)) then
      raise(('%s: base_lrs and last_lr must be lists of %d numbers, one per param group of the optimizer'):format(op, n))
    end
    local vals = loaded_options(self, op, sd)
    for k, check in pairs(self._state or {}) do check(op, sd, k) end
    self.last_epoch = sd.last_epoch
    self.base_lrs = copy(sd.base_lrs)
    self._last_lr = copy(sd.last_lr or self.base_lrs)
    for k in pairs(self._defaults) do self[k] = copy(vals[k]) end
    for k in pairs(self._state or {}) do self[k] = sd[k] end
    if self._derive then self:_derive() end
  end

  -- a schedule class over Scheduler
  local function class()
    local cls = setmetatable({}, { __index = Scheduler })
    cls.__index = cls
    return cls
  end

  -- ---- StepLR: lr *= gamma every step_size epochs ------------------------
  local StepLR = class()
  StepLR._defaults = { step_size = REQUIRED, gamma = 0.1 }
  function StepLR._check(op, o)
    whole(op, o, 'step_size', 1)
    number(op, o, 'gamma')
  end
  function StepLR:_get_lr(e)
    local lrs = {}
    for i, g in ipairs(self.optimizer.param_groups) do
      if e == 0 or e % self.step_size ~= 0 then lrs[i] = g.lr else lrs[i] = g.lr * self.gamma end
    end
    return lrs
  end
  function StepLR:_closed_form(base, e) return base * self.gamma ^ floor(e / self.step_size) end
  register(StepLR, 'StepLR', 'step_size')

  -- ---- MultiStepLR: lr *= gamma at each milestone (an epoch); a
  -- milestone listed twice decays twice, as PyTorch's Counter counts it ----
  local MultiStep = class()
  MultiStep._defaults = { milestones = REQUIRED, gamma = 0.1 }
  function MultiStep._check(op, o)
    local m = o.milestones
    if not nl._list_len(m) then
      raise(('%s: milestones must be a list of epochs, got %s'):format(op, nl._describe_arg(m)))
    end
    for i = 1, #m do
      if type(m[i]) ~= 'number' or m[i] < 0 or m[i] ~= floor(m[i]) or m[i] == huge then
        raise(('%s: milestones[%d] must be a whole number >= 0, got %s'):format(op, i, nl._describe_arg(m[i])))
      end
    end
    number(op, o, 'gamma')
  end
  function MultiStep:_derive()
    self._count = {}
    for _, m in ipairs(self.milestones) do self._count[m] = (self._count[m] or 0) + 1 end
  end
  function MultiStep:_get_lr(e)
    local c, lrs = self._count[e], {}
    for i, g in ipairs(self.optimizer.param_groups) do
      if c == nil then lrs[i] = g.lr else lrs[i] = g.lr * self.gamma ^ c end
    end
    return lrs
  end
  -- (PyTorch: bisect_right over the sorted milestones, repeats included)
  function MultiStep:_closed_form(base, e)
    local k = 0
    for _, m in ipairs(self.milestones) do if m <= e then k = k + 1 end end
    return base * self.gamma ^ k
  end
  register(MultiStep, 'MultiStepLR', 'milestones')

  -- ---- ExponentialLR: lr *= gamma every epoch ----------------------------
  local Exponential = class()
  Exponential._defaults = { gamma = REQUIRED }
  function Exponential._check(op, o) number(op, o, 'gamma') end
  function Exponential:_get_lr(e)
    local lrs = {}
    for i, g in ipairs(self.optimizer.param_groups) do
      if e == 0 then lrs[i] = g.lr else lrs[i] = g.lr * self.gamma end
    end
    return lrs
  end
  function Exponential:_closed_form(base, e) return base * self.gamma ^ e end
  register(Exponential, 'ExponentialLR', 'gamma')

  -- ---- LinearLR: the factor on the base lr goes from start_factor to
  -- end_factor in total_iters epochs, then stays. A start_factor of 0
  -- (PyTorch 1.13 takes it) made the first step's lr 0 * inf = NaN, and a
  -- total_iters of 0 divides by it in the closed form: both refused. ------
  local Linear = class()
  Linear._defaults = { start_factor = 1 / 3, end_factor = 1, total_iters = 5 }
  function Linear._check(op, o)
    within(op, o, 'start_factor', 0, 1, true)
    within(op, o, 'end_factor', 0, 1)
    whole(op, o, 'total_iters', 1)
  end
  function Linear:_get_lr(e)
    local s, f, T, lrs = self.start_factor, self.end_factor, self.total_iters, {}
    for i, g in ipairs(self.optimizer.param_groups) do
      if e == 0 then
        lrs[i] = g.lr * s
      elseif e > T then
        lrs[i] = g.lr
      else
        lrs[i] = g.lr * (1 + (f - s) / (T * s + (e - 1) * (f - s)))
      end
    end
    return lrs
  end
  function Linear:_closed_form(base, e)
    local s, f, T = self.start_factor, self.end_factor, self.total_iters
    return base * (s + (f - s) * math.min(T, e) / T)
  end
  register(Linear, 'LinearLR', 'start_factor')

  -- ---- ConstantLR: lr * factor for the first total_iters epochs. A factor
  -- of 0 (PyTorch 1.13 takes it) gave 0 * (1 / 0) = NaN at total_iters; a
  -- total_iters of 0 kept the factor for ever in steps and dropped it in
  -- step(epoch): both refused. ---------------------------------------------
  local Constant = class()
  Constant._defaults = { factor = 1 / 3, total_iters = 5 }
  function Constant._check(op, o)
    within(op, o, 'factor', 0, 1, true)
    whole(op, o, 'total_iters', 1)
  end
  function Constant:_get_lr(e)
    local lrs = {}
    for i, g in ipairs(self.optimizer.param_groups) do
      if e == 0 then lrs[i] = g.lr * self.factor
      elseif e == self.total_iters then lrs[i] = g.lr * (1 / self.factor)
      else lrs[i] = g.lr end
    end
    return lrs
  end
  function Constant:_closed_form(base, e)
    return base * (self.factor + (e >= self.total_iters and 1 - self.factor or 0))
  end
  register(Constant, 'ConstantLR', 'factor')

  -- ---- LambdaLR (lr = base lr * lr_lambda(epoch)) and MultiplicativeLR
  -- (lr *= lr_lambda(epoch) from epoch 1): lr_lambda is one function for
  -- every group or a list of one per group. Neither has a closed form:
  -- step(e) calls the lambda at e. -----------------------------------------
  local function lambda_class(name)
    local cls = class()
    cls._defaults = { lr_lambda = REQUIRED }
    cls._unsaved = { lr_lambda = true }
    function cls._check(op, o, opt)
      local f, n = o.lr_lambda, #opt.param_groups
      local ok = type(f) == 'function'
      if not ok and nl._list_len(f) == n then
        ok = true
        for i = 1, n do ok = ok and type(f[i]) == 'function' end
      end
      if not ok then
        raise(('%s: lr_lambda must be a function or a list of %d functions, one per param group, got %s'):format(op, n,
          nl._list_len(f) and ('a list of %d values'):format(nl._list_len(f)) or nl._describe_arg(f)))
      end
    end
    -- the factor of group i at epoch e
    function cls:_factor(i, e)
      local f = self.lr_lambda
      if type(f) == 'table' then f = f[i] end
      local v = f(e)
      if type(v) ~= 'number' then
        raise(('%s: lr_lambda of param group %d returned %s at epoch %d; it must return a number'):format(
          self.name, i, nl._describe_arg(v), e))
      end
      return v
    end
    register(cls, name, 'lr_lambda')
    return cls
  end

  local Lambda = lambda_class('LambdaLR')
  function Lambda:_get_lr(e)
    local lrs = {}
    for i, base in ipairs(self.base_lrs) do lrs[i] = base * self:_factor(i, e) end
    return lrs
  end

  local Multiplicative = lambda_class('MultiplicativeLR')
  function Multiplicative:_get_lr(e)
    local lrs = {}
    for i, g in ipairs(self.optimizer.param_groups) do
      if e > 0 then lrs[i] = g.lr * self:_factor(i, e) else lrs[i] = g.lr end
    end
    return lrs
  end

  -- ---- CosineAnnealingLR: lr follows half a cosine from the base lr down
  -- to eta_min over T_max epochs, then back up (SGDR without restarts) ----
  local Cosine = class()
  Cosine._defaults = { T_max = REQUIRED, eta_min = 0 }
  function Cosine._check(op, o)
    whole(op, o, 'T_max', 1)
    number(op, o, 'eta_min')
  end
  function Cosine:_get_lr(e)
    local T, eta, lrs = self.T_max, self.eta_min, {}
    local pi, cos = math.pi, math.cos
    for i, g in ipairs(self.optimizer.param_groups) do
      if e == 0 then
        lrs[i] = g.lr
      elseif self._initial_step then
        -- a resume's first step takes the closed form from the base lr,
        -- as PyTorch 1.13's (the groups' lrs may be another schedule's)
        lrs[i] = self:_closed_form(self.base_lrs[i], e)
      elseif (e - 1 - T) % (2 * T) == 0 then
        lrs[i] = g.lr + (self.base_lrs[i] - eta) * (1 - cos(pi / T)) / 2
      else
        lrs[i] = (1 + cos(pi * e / T)) / (1 + cos(pi * (e - 1) / T)) * (g.lr - eta) + eta
      end
    end
    return lrs
  end
  function Cosine:_closed_form(base, e)
    return self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * e / self.T_max)) / 2
  end
  register(Cosine, 'CosineAnnealingLR', 'T_max')

  -- ---- CosineAnnealingWarmRestarts: SGDR. The cosine from the base lr to
  -- eta_min over T_i epochs, then a restart at the base lr, with T_i
  -- multiplied by T_mult; T_cur counts the epochs since the restart.
  -- step(e) takes a fractional epoch (e + batch / batches, as PyTorch
  -- allows), and a step after it counts on from T_cur. --------------------
  local Restarts = class()
  Restarts._defaults = { T_0 = REQUIRED, T_mult = 1, eta_min = 0 }
  function Restarts._check(op, o)
    whole(op, o, 'T_0', 1)
    whole(op, o, 'T_mult', 1)
    number(op, o, 'eta_min')
  end
  Restarts._state = {
    T_i = function(op, sd, k) whole(op, sd, k, 1) end,
    T_cur = function(op, sd, k)
      if not (is_finite(sd[k]) and sd[k] >= 0) then
        raise(('%s: T_cur must be a number >= 0, got %s'):format(op, tostring(sd[k])))
      end
    end,
  }
  function Restarts:_init() self.T_i, self.T_cur = self.T_0, -1 end
  -- (PyTorch's T_cur starts at last_epoch: the first step counts on from it)
  function Restarts:_resume(last) self.T_i, self.T_cur = self.T_0, last end
  function Restarts:step(epoch, ...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': step', '([epoch])', nil, ...) end
    same_groups(self, #self.base_lrs)
    local T0, mult, T_i, T_cur = self.T_0, self.T_mult, self.T_i, self.T_cur
    if epoch == nil and self.last_epoch < 0 then epoch = 0 end
    if epoch == nil then
      epoch = self.last_epoch + 1
      T_cur = T_cur + 1
      if T_cur >= T_i then
        T_cur = T_cur - T_i
        T_i = T_i * mult
      end
    else
      if not (is_finite(epoch) and epoch >= 0) then
        raise(('%s: step: epoch must be a number >= 0, got %s'):format(self.name, tostring(epoch)))
      end
      if epoch >= T0 then
        if mult == 1 then
          T_cur = math.fmod(epoch, T0)         -- (Python's % of positive numbers, exact)
        else
          local n = floor(math.log(epoch / T0 * (mult - 1) + 1) / math.log(mult))
          T_cur = epoch - T0 * (mult ^ n - 1) / (mult - 1)
          T_i = T0 * mult ^ n
        end
      else
        T_i = T0
        T_cur = epoch
      end
    end
    local lrs, eta = {}, self.eta_min
    for i, base in ipairs(self.base_lrs) do
      lrs[i] = eta + (base - eta) * (1 + math.cos(math.pi * T_cur / T_i)) / 2
    end
    self.T_i, self.T_cur, self.last_epoch = T_i, T_cur, floor(epoch)
    for i, g in ipairs(self.optimizer.param_groups) do g.lr = lrs[i] end
    self._last_lr = lrs
    -- (with the epoch, also a step's own, as PyTorch's, whose step names it
    -- whether given or counted: 'Epoch 00001: adjusting ...')
    print_lrs(self, lrs, epoch)
  end
  register(Restarts, 'CosineAnnealingWarmRestarts', 'T_0')

  -- ---- OneCycleLR: the 1cycle policy, stepped once per batch. The lr
  -- goes from max_lr / div_factor up to max_lr over pct_start of
  -- total_steps, then down to that / final_div_factor (three_phase: back
  -- to the start over as many steps, then down), by a half cosine or a
  -- line; momentum (SGD's and RMSprop's momentum, Adam's and AdamW's beta1)
  -- goes the other way between max_momentum and base_momentum. Each group
  -- holds its initial_lr, max_lr, min_lr, max_momentum and base_momentum,
  -- as in PyTorch (the optimizer's state_dict carries them). ---------------
  local OneCycle = class()
  OneCycle._defaults = {
    max_lr = REQUIRED, total_steps = NONE, epochs = NONE, steps_per_epoch = NONE, pct_start = 0.3,
    anneal_strategy = 'cos', cycle_momentum = true, base_momentum = 0.85, max_momentum = 0.95,
    div_factor = 25, final_div_factor = 1e4, three_phase = false,
  }

  -- 'betas' or 'momentum', the option momentum cycles, or nil
  local function momentum_key(opt)
    local d = opt.defaults
    if type(d) ~= 'table' then d = opt.param_groups[1] or {} end
    if d.betas ~= nil then return 'betas' end
    if d.momentum ~= nil then return 'momentum' end
  end

  function OneCycle._check(op, o, opt)
    local n = #opt.param_groups
    per_group(op, o, 'max_lr', n, 0)
    if o.total_steps ~= nil then
      whole(op, o, 'total_steps', 1)
    elseif o.epochs == nil or o.steps_per_epoch == nil then
      raise(('%s: give total_steps, or epochs and steps_per_epoch'):format(op))
    else
      whole(op, o, 'epochs', 1)
      whole(op, o, 'steps_per_epoch', 1)
    end
    within(op, o, 'pct_start', 0, 1)
    choice(op, o, 'anneal_strategy', 'cos', 'linear')
    flag(op, o, 'cycle_momentum')
    flag(op, o, 'three_phase')
    -- (the lrs divide by them)
    within(op, o, 'div_factor', 0, huge, true, true)
    within(op, o, 'final_div_factor', 0, huge, true, true)
    if o.cycle_momentum then
      local key = momentum_key(opt)
      if not key then
        raise(('%s: cycle_momentum needs an optimizer with momentum or betas (SGD, RMSprop, Adam, AdamW, '
               .. 'Adamax, NAdam, RAdam); pass cycle_momentum = false'):format(op))
      end
      per_group(op, o, 'base_momentum', n, 0)
      per_group(op, o, 'max_momentum', n, 0)
      -- a beta1 of 1 divides by 0 in Adam's bias correction
      if key == 'betas' then
        for _, k in ipairs({ 'base_momentum', 'max_momentum' }) do
          for i, m in ipairs(per_group(op, o, k, n)) do
            if m >= 1 then raise(('%s: %s must be below 1 (it is beta1), got %s%s'):format(op, k, tostring(m),
              n > 1 and (' (param group %d)'):format(i) or '')) end
          end
        end
      end
    end
  end

  function OneCycle:_derive()
    local T = self.total_steps or self.epochs * self.steps_per_epoch
    local p = self.pct_start
    self._total = T
    if self.three_phase then
      self._phases = {
        { p * T - 1, 'initial_lr', 'max_lr', 'max_momentum', 'base_momentum' },
        { 2 * p * T - 2, 'max_lr', 'initial_lr', 'base_momentum', 'max_momentum' },
        { T - 1, 'initial_lr', 'min_lr', 'max_momentum', 'max_momentum' },
      }
    else
      self._phases = {
        { p * T - 1, 'initial_lr', 'max_lr', 'max_momentum', 'base_momentum' },
        { T - 1, 'max_lr', 'min_lr', 'base_momentum', 'max_momentum' },
      }
    end
    self._momentum_key = self.cycle_momentum and momentum_key(self.optimizer) or nil
  end

  -- the groups' fields (construction only: a loaded optimizer brings its own)
  function OneCycle:_init()
    local n = #self.optimizer.param_groups
    local max_lrs = per_group(self.name, self, 'max_lr', n)
    local maxm = self.cycle_momentum and per_group(self.name, self, 'max_momentum', n)
    local basem = self.cycle_momentum and per_group(self.name, self, 'base_momentum', n)
    for i, g in ipairs(self.optimizer.param_groups) do
      g.initial_lr = max_lrs[i] / self.div_factor
      g.max_lr = max_lrs[i]
      g.min_lr = g.initial_lr / self.final_div_factor
      if maxm then
        if self._momentum_key == 'betas' then g.betas = { maxm[i], g.betas[2] } else g.momentum = maxm[i] end
        g.max_momentum, g.base_momentum = maxm[i], basem[i]
      end
    end
  end

  local function anneal_cos(a, b, pct)
    local c = math.cos(math.pi * pct) + 1
    return b + (a - b) / 2 * c
  end
  local function anneal_linear(a, b, pct) return (b - a) * pct + a end

  function OneCycle:_get_lr(e)
    if e > self._total then
      raise(('%s: step: epoch %d is past the end of the schedule (total_steps = %d)'):format(self.name, e, self._total))
    end
    local groups, key = self.optimizer.param_groups, self._momentum_key
    local need = { 'initial_lr', 'max_lr', 'min_lr' }
    if key then need[4], need[5] = 'max_momentum', 'base_momentum' end
    for i, g in ipairs(groups) do
      for _, k in ipairs(need) do
        if type(g[k]) ~= 'number' then
          raise(('%s: param group %d has no number %s (the scheduler sets it; a loaded optimizer state '
                 .. 'must come from a run with this scheduler)'):format(self.name, i, k))
        end
      end
      if key == 'betas' and not number_list(g.betas, 2) then
        raise(('%s: param group %d: betas must be a list of 2 numbers'):format(self.name, i))
      end
    end
    local anneal = self.anneal_strategy == 'cos' and anneal_cos or anneal_linear
    local phases, lrs, moms = self._phases, {}, {}
    for i, g in ipairs(groups) do
      local start = 0
      for j, ph in ipairs(phases) do
        local stop = ph[1]
        if e <= stop or j == #phases then
          -- a phase of no steps (pct_start * total_steps of 1, or
          -- pct_start = 1 past the last step): PyTorch divides by zero
          -- and raises; the lr was NaN here, and so every weight after it
          if stop == start then
            raise(('%s: step %d falls in phase %d of the schedule, which has no steps (pct_start %s of %d total '
                   .. 'steps); choose pct_start so that each phase has at least one step'):format(
                   self.name, e, j, tostring(self.pct_start), self._total))
          end
          local pct = (e - start) / (stop - start)
          lrs[i] = anneal(g[ph[2]], g[ph[3]], pct)
          if key then moms[i] = anneal(g[ph[4]], g[ph[5]], pct) end
          break
        end
        start = stop
      end
    end
    if key then
      for i, g in ipairs(groups) do
        if key == 'betas' then g.betas = { moms[i], g.betas[2] } else g.momentum = moms[i] end
      end
    end
    return lrs
  end
  register(OneCycle, 'OneCycleLR', 'max_lr')

  -- ---- ReduceLROnPlateau: lr *= factor (not below min_lr) once the metric
  -- given to step(metric) has not improved on its best (by threshold) for
  -- more than patience steps; then cooldown steps pass before counting
  -- again. A change of eps or less is not made. ---------------------------
  local Plateau = class()
  Plateau._defaults = {
    mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4, threshold_mode = 'rel',
    cooldown = 0, min_lr = 0, eps = 1e-8,
  }
  -- fit's lr_scheduler steps it with the monitored value (val_loss)
  Plateau.takes_metric = true
  Plateau._no_resume = true         -- (PyTorch's takes no last_epoch)
  function Plateau._check(op, o, opt)
    choice(op, o, 'mode', 'min', 'max')
    within(op, o, 'factor', 0, 1, false, true)
    whole(op, o, 'patience', 0)
    within(op, o, 'threshold', 0, huge, false, true)
    choice(op, o, 'threshold_mode', 'rel', 'abs')
    whole(op, o, 'cooldown', 0)
    per_group(op, o, 'min_lr', #opt.param_groups, 0)
    within(op, o, 'eps', 0, huge, false, true)
  end
  function Plateau:_derive()
    self._min_lrs = per_group(self.name, self, 'min_lr', #self.optimizer.param_groups)
  end

  optim.ReduceLROnPlateau = function(opt, opts, ...)
    local name = 'ReduceLROnPlateau'
    nl._no_extra_args(name, '(optimizer, {options})', 'give mode and the rest in the options table', ...)
    local vals, _, verbose = options(Plateau, name, opt, opts)
    local self = setmetatable({ optimizer = opt, name = name, last_epoch = 0, num_bad_epochs = 0, verbose = verbose,
                                cooldown_counter = 0, best = vals.mode == 'min' and huge or -huge }, Plateau)
    for k in pairs(self._defaults) do self[k] = copy(vals[k]) end
    self:_derive()
    self._last_lr = {}
    for i, g in ipairs(opt.param_groups) do self._last_lr[i] = g.lr end
    return self
  end

  function Plateau:_is_better(a)
    local best, th = self.best, self.threshold
    if self.mode == 'min' then
      if self.threshold_mode == 'rel' then return a < best * (1 - th) end
      return a < best - th
    end
    if self.threshold_mode == 'rel' then return a > best * (th + 1) end
    return a > best + th
  end

  -- one epoch's metric (a number, or a tensor of one element: a loss);
  -- epoch, optional, sets the epoch count (PyTorch's deprecated argument)
  function Plateau:step(metric, epoch, ...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': step', '(metrics, [epoch])', nil, ...) end
    local op = self.name .. ': step'
    local current
    if type(metric) == 'number' then
      current = metric
    elseif nl.is_tensor(metric) and metric.ptr ~= nil and metric:numel() == 1 then
      current = metric:item()
    else
      raise(('%s: expected the metric to watch, a number or a one-element tensor (sched:step(val_loss)), got %s')
        :format(op, nl._describe_arg(metric)))
    end
    if epoch ~= nil and (type(epoch) ~= 'number' or epoch < 0 or epoch ~= floor(epoch) or epoch == huge) then
      raise(('%s: epoch must be a whole number >= 0, got %s'):format(op, tostring(epoch)))
    end
    same_groups(self, #self._min_lrs)
    local groups = self.optimizer.param_groups
    for i, g in ipairs(groups) do
      if type(g.lr) ~= 'number' then raise(('%s: param group %d: lr must be a number, got %s'):format(op, i, type(g.lr))) end
    end
    self.last_epoch = epoch or self.last_epoch + 1
    if self:_is_better(current) then
      self.best = current
      self.num_bad_epochs = 0
    else
      self.num_bad_epochs = self.num_bad_epochs + 1
    end
    if self.cooldown_counter > 0 then
      self.cooldown_counter = self.cooldown_counter - 1
      self.num_bad_epochs = 0                 -- bad epochs in cooldown do not count
    end
    if self.num_bad_epochs > self.patience then
      for i, g in ipairs(groups) do
        local old = g.lr
        local new_lr = old * self.factor
        if self._min_lrs[i] > new_lr then new_lr = self._min_lrs[i] end    -- (Python's max, first if equal)
        if old - new_lr > self.eps then
          g.lr = new_lr
          if self.verbose then
            print(('Epoch %.5d: reducing learning rate of group %d to %.4e.'):format(self.last_epoch, i, new_lr))
          end
        end
      end
      self.cooldown_counter = self.cooldown
      self.num_bad_epochs = 0
    end
    self._last_lr = {}
    for i, g in ipairs(groups) do self._last_lr[i] = g.lr end
  end

  -- options, the best metric, the counters, the epoch and the last lrs
  function Plateau:state_dict()
    local sd = { last_epoch = self.last_epoch, best = self.best, num_bad_epochs = self.num_bad_epochs,
                 cooldown_counter = self.cooldown_counter, last_lr = self:get_last_lr() }
    for k in pairs(self._defaults) do sd[k] = copy(self[k]) end
    return sd
  end

  -- checked whole before anything changes, as Scheduler:load_state_dict
  function Plateau:load_state_dict(sd)
    local op = self.name .. ': load_state_dict'
    if type(sd) ~= 'table' or type(sd.last_epoch) ~= 'number' or type(sd.best) ~= 'number' then
      raise(op .. ': expected a table from state_dict')
    end
    local vals = loaded_options(self, op, sd)
    whole(op, sd, 'last_epoch', 0)
    whole(op, sd, 'num_bad_epochs', 0)
    whole(op, sd, 'cooldown_counter', 0)
    if sd.best ~= sd.best then raise(op .. ': best must be a number, got nan') end
    local n = #self.optimizer.param_groups
    if sd.last_lr ~= nil and not number_list(sd.last_lr, n) then
      raise(('%s: last_lr must be a list of %d numbers, one per param group of the optimizer'):format(op, n))
    end
    for k in pairs(self._defaults) do self[k] = copy(vals[k]) end
    self.last_epoch, self.best = sd.last_epoch, sd.best
    self.num_bad_epochs, self.cooldown_counter = sd.num_bad_epochs, sd.cooldown_counter
    if sd.last_lr then self._last_lr = copy(sd.last_lr) end
    self:_derive()
  end

  -- sched.step() (a dot for a colon) failed inside on a nil self
  local function is_scheduler(self)
    return type(self) == 'table' and type(rawget(self, 'optimizer')) == 'table'
  end
  for _, cls in ipairs({ Scheduler, Restarts, Plateau }) do
    nl._guard_methods(cls, is_scheduler, 'a scheduler', 'sched')
  end

  -- for lr_scheduler_extra.lua: the option checks and the class machinery
  optim._sched = {
    REQUIRED = REQUIRED, NONE = NONE, copy = copy, is_finite = is_finite, number = number, whole = whole,
    within = within, choice = choice, flag = flag, per_group = per_group, number_list = number_list,
    class = class, new = new, register = register, momentum_key = momentum_key, is_scheduler = is_scheduler,
  }
end
