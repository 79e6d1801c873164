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

  function Scheduler:load_state_dict(sd)
    if type(sd) ~= 'table' or type(sd.last_epoch) ~= 'number' or type(sd.base_lrs) ~= 'table' then
      raise(self.name .. ': load_state_dict: expected a table from state_dict')
    end
    self.last_epoch = sd.last_epoch
    self.base_lrs = {}
    for i, v in ipairs(sd.base_lrs) do self.base_lrs[i] = v end
    self._last_lr = {}
    for i, v in ipairs(sd.last_lr or self.base_lrs) do self._last_lr[i] = v end
    for k in pairs(self._defaults) do
      if sd[k] ~= nil then self[k] = sd[k] end
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
  function optim.StepLR(opt, opts)
    if type(opts) ~= 'table' or opts.step_size == nil then raise('StepLR: step_size is required') end
    local s = opts.step_size
    if type(s) ~= 'number' or s < 1 or s ~= math.floor(s) then
      raise(('StepLR: step_size must be a positive integer, got %s'):format(tostring(s)))
    end
    return new(StepLR, 'StepLR', opt, opts, StepLR._defaults)
  end

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
  function optim.CosineAnnealingLR(opt, opts)
    if type(opts) ~= 'table' or opts.T_max == nil then raise('CosineAnnealingLR: T_max is required') end
    local T = opts.T_max
    if type(T) ~= 'number' or T < 1 or T ~= math.floor(T) then
      raise(('CosineAnnealingLR: T_max must be a positive integer, got %s'):format(tostring(T)))
    end
    return new(Cosine, 'CosineAnnealingLR', opt, opts, Cosine._defaults)
  end
end
