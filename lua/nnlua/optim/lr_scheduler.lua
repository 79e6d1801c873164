-- lr_scheduler.lua: learning-rate schedules that rewrite the lr of each of
-- an optimizer's param groups once per epoch: StepLR and CosineAnnealingLR,
-- with PyTorch 1.13's recursive formulas (torch/optim/lr_scheduler.py), so
-- the values match its to the last bits.
return function(nl, optim)
  local raise = nl._raise

  local Scheduler = {}
  Scheduler.__index = Scheduler
  optim.LRScheduler = Scheduler

  local function new(cls, name, opt, opts, defaults)
    if type(opt) ~= 'table' or type(opt.param_groups) ~= 'table' then
      raise(('%s: expected an optimizer, got %s'):format(name, type(opt)))
    end
    opts = nl._opts(name, opts)
    nl._check_opts(name, opts, defaults)
    local self = setmetatable({ optimizer = opt, last_epoch = -1, name = name }, cls)
    for k, d in pairs(defaults) do
      local v = opts[k]
      if v == nil then v = d end
      if type(v) ~= 'number' then raise(('%s: %s must be a number, got %s'):format(name, k, type(v))) end
      self[k] = v
    end
    -- like PyTorch, a group keeps the initial_lr an earlier scheduler gave it
    self.base_lrs = {}
    for i, g in ipairs(opt.param_groups) do
      if g.initial_lr == nil then g.initial_lr = g.lr end
      self.base_lrs[i] = g.initial_lr
    end
    self:step()
    return self
  end

  -- next epoch: every group's lr becomes the schedule's value. step(e)
  -- jumps to epoch e with the closed form, as PyTorch's (deprecated) step
  -- with an epoch does; the epoch was dropped, and the step taken as a next.
  function Scheduler:step(epoch)
    local lrs
    if epoch ~= nil then
      if type(epoch) ~= 'number' or epoch < 0 or epoch ~= math.floor(epoch) then
        raise(('%s: step: epoch must be a whole number >= 0, got %s'):format(self.name, tostring(epoch)))
      end
      self.last_epoch = epoch
      lrs = {}
      for i, base in ipairs(self.base_lrs) do lrs[i] = self:_closed_form(base, epoch) end
    else
      self.last_epoch = self.last_epoch + 1
      lrs = self:_get_lr()
    end
    for i, g in ipairs(self.optimizer.param_groups) do g.lr = lrs[i] end
    self._last_lr = lrs
  end

  -- the lr of each group set by the last step (a new array)
  function Scheduler:get_last_lr()
    local c = {}
    for i, v in ipairs(self._last_lr) do c[i] = v end
    return c
  end

  -- epoch count, base lrs and options; the optimizer's own state_dict
  -- carries the groups' current lrs
  function Scheduler:state_dict()
    local sd = { last_epoch = self.last_epoch, base_lrs = {}, last_lr = self:get_last_lr() }
    for i, v in ipairs(self.base_lrs) do sd.base_lrs[i] = v end
    for k in pairs(self._defaults) do sd[k] = self[k] end
    return sd
  end

  local function number_list(v, n)
    if nl._list_len(v) ~= n then return false end
    for i = 1, n do if type(v[i]) ~= 'number' or v[i] ~= v[i] then return false end end
    return true
  end

  -- checked whole before anything changes: a dict of another number of
  -- groups left a group's lr nil (the optimizer failed at its next step),
  -- and options of the wrong type or range failed in the arithmetic, or
  -- stopped the schedule (step_size = 0)
  function Scheduler:load_state_dict(sd)
    local op = self.name .. ': load_state_dict'
    if type(sd) ~= 'table' or type(sd.last_epoch) ~= 'number' or type(sd.base_lrs) ~= 'table' then
      raise(op .. ': expected a table from state_dict')
    end
    local e = sd.last_epoch
    if e ~= math.floor(e) or e < -1 or e == math.huge then
      raise(('%s: last_epoch must be a whole number >= -1, got %s'):format(op, tostring(e)))
    end
    local n = #self.optimizer.param_groups
    if not number_list(sd.base_lrs, n) or (sd.last_lr ~= nil and not number_list(sd.last_lr, n)) then
      raise(('%s: base_lrs and last_lr must be lists of %d numbers, one per param group of the optimizer'):format(op, n))
    end
    local vals = {}
    for k in pairs(self._defaults) do
      local v = sd[k]
      if v == nil then v = self[k] end
      if type(v) ~= 'number' then raise(('%s: %s must be a number, got %s'):format(op, k, type(v))) end
      vals[k] = v
    end
    self._check(op, vals)
    self.last_epoch = sd.last_epoch
    self.base_lrs = {}
    for i, v in ipairs(sd.base_lrs) do self.base_lrs[i] = v end
    self._last_lr = {}
    for i, v in ipairs(sd.last_lr or self.base_lrs) do self._last_lr[i] = v end
    for k, v in pairs(vals) do self[k] = v end
  end

  -- a schedule's one required option, a positive whole number: its check
  -- (cls._check, also run on a loaded state dict) and the constructor
  -- optim[name] that requires it
  local function required_count(cls, name, key)
    cls._check = function(op, o)
      local v = o[key]
      if type(v) ~= 'number' or v < 1 or v ~= math.floor(v) or v == math.huge then
        raise(('%s: %s must be a positive integer, got %s'):format(op, key, tostring(v)))
      end
    end
    optim[name] = function(opt, opts, ...)
      nl._no_extra_args(name, '(optimizer, {options})', 'give ' .. key .. ' and the rest in the options table', ...)
      if type(opts) ~= 'table' or opts[key] == nil then raise(('%s: %s is required'):format(name, key)) end
      cls._check(name, opts)
      return new(cls, name, opt, opts, cls._defaults)
    end
  end

  -- StepLR: lr *= gamma every step_size epochs
  local StepLR = setmetatable({}, { __index = Scheduler })
  StepLR.__index = StepLR
  StepLR._defaults = { step_size = 0, gamma = 0.1 }
  function StepLR:_get_lr()
    local e, lrs = self.last_epoch, {}
    for i, g in ipairs(self.optimizer.param_groups) do
      if e == 0 or e % self.step_size ~= 0 then lrs[i] = g.lr else lrs[i] = g.lr * self.gamma end
    end
    return lrs
  end
  function StepLR:_closed_form(base, e) return base * self.gamma ^ math.floor(e / self.step_size) end
  required_count(StepLR, 'StepLR', 'step_size')

  -- CosineAnnealingLR: lr follows half a cosine from the base lr down to
  -- eta_min over T_max epochs, then back up (SGDR without restarts)
  local Cosine = setmetatable({}, { __index = Scheduler })
  Cosine.__index = Cosine
  Cosine._defaults = { T_max = 0, eta_min = 0 }
  function Cosine:_get_lr()
    local e, T, eta, lrs = self.last_epoch, self.T_max, self.eta_min, {}
    local pi, cos = math.pi, math.cos
    for i, g in ipairs(self.optimizer.param_groups) do
      if e == 0 then
        lrs[i] = g.lr
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
  required_count(Cosine, 'CosineAnnealingLR', 'T_max')

  -- sched.step() (a dot for a colon) failed inside on a nil self
  nl._guard_methods(Scheduler, function(self)
    return type(self) == 'table' and type(rawget(self, 'optimizer')) == 'table'
  end, 'a scheduler', 'sched')
end
