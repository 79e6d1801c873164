-- swa_utils.lua: optim.swa_utils, PyTorch 1.13's torch.optim.swa_utils for
-- stochastic weight averaging: AveragedModel (a copy of a model whose
-- parameters, and with use_buffers its buffers, are a running average of
-- the model's, or any avg_fn's, e.g. an EMA), SWALR (an LR scheduler that
-- anneals every group's lr to a fixed swa_lr) and update_bn (BatchNorm's
-- running statistics recomputed over a loader). Loaded on first use of
-- optim.swa_utils (optim/init.lua). Not here: PyTorch's device argument.
return function(nl, optim)
  local nn = nl.nn
  local raise = nl._raise
  local swa = {}

  local function callable(f)
    if type(f) == 'function' then return true end
    local mt = (type(f) == 'table' or type(f) == 'userdata') and getmetatable(f)
    return type(mt) == 'table' and mt.__call ~= nil
  end

  local function flag(op, v, k)
    if type(v) ~= 'boolean' then raise(('%s: %s must be a boolean, got %s'):format(op, k, nl._describe_arg(v))) end
  end

  -- ---- AveragedModel --------------------------------------------------------

  local AveragedModel = nn.Module:extend('AveragedModel')
  swa.AveragedModel = AveragedModel
  nn._builtin[AveragedModel] = true

  -- PyTorch's default: the equally weighted average of the n models so far
  -- and this one
  local function equal_avg(avg, p, n) return avg + (p - avg) / (n + 1) end

  -- AveragedModel(model, {avg_fn, use_buffers = false}): self.module, a
  -- deep copy of model (model:clone(), or the layers rebuilt as
  -- TransformerEncoder copies them), and the int64 buffer n_averaged, so the
  -- state dict holds 'n_averaged' and 'module.<name>' as PyTorch's.
  -- avg_fn(averaged, current, n) -> the new average (tensors, n a number:
  -- the models averaged so far), as PyTorch's (whose n is a 0-dim tensor)
  function AveragedModel:init(model, opts)
    local op = 'AveragedModel'
    if not nn.is_module(model) then nl._argerror(op, 'a module', model) end
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { avg_fn = 1, use_buffers = 'flag' })
    if opts.avg_fn ~= nil and not callable(opts.avg_fn) then
      raise(('%s: avg_fn must be a function (averaged, current, n) -> tensor, got %s'):format(op,
        nl._describe_arg(opts.avg_fn)))
    end
    if opts.use_buffers ~= nil then flag(op, opts.use_buffers, 'use_buffers') end
    self:register_buffer('n_averaged', nl.zeros({}, 'int64'))
    nn._load_all()     -- (nn._layer_copy is attention.lua's, which loads on first use)
    self.module = nn._layer_copy(model)
    rawset(self, 'avg_fn', opts.avg_fn or equal_avg)
    rawset(self, 'use_buffers', opts.use_buffers == true)
  end

  function AveragedModel:forward(...) return self.module(...) end

  -- the tensors update_parameters averages: the parameters, then with
  -- use_buffers the buffers, each once (PyTorch's parameters() and buffers())
  local function averaged_tensors(m, with_buffers)
    local out = m:parameters()
    if with_buffers then
      for _, kv in ipairs(m:named_buffers()) do out[#out + 1] = kv[2] end
    end
    return out
  end

  -- the first call copies model's tensors, each later one sets every
  -- averaged tensor to avg_fn(averaged, model's, n_averaged); n_averaged
  -- then counts one more. int64 buffers (num_batches_tracked) take
  -- avg_fn's result truncated (copy_), as PyTorch's.
  function AveragedModel:update_parameters(model, ...)
    if select('#', ...) > 0 then nl._no_extra_args('AveragedModel:update_parameters', '(model)', nil, ...) end
    local op = 'AveragedModel:update_parameters'
    if not nn.is_module(model) then nl._argerror(op, 'a module', model) end
    local mine = averaged_tensors(self.module, self.use_buffers)
    local theirs = averaged_tensors(model, self.use_buffers)
    -- (PyTorch's zip stops at the shorter list: a model of another shape was
    -- averaged in part, without a word)
    if #mine ~= #theirs then
      raise(('%s: the model has %d %s, the averaged model %d'):format(op, #theirs,
        self.use_buffers and 'parameters and buffers' or 'parameters', #mine))
    end
    for i, p in ipairs(mine) do
      if nl._shape_str(p) ~= nl._shape_str(theirs[i]) then
        raise(('%s: tensor %d has shape %s in the model and %s in the averaged model'):format(op, i,
          nl._shape_str(theirs[i]), nl._shape_str(p)))
      end
    end
    local n = self.n_averaged:item()
    local avg_fn = self.avg_fn
    nl.no_grad(function()
      for i, p in ipairs(mine) do
        local src = theirs[i]:detach()
        if n == 0 then
          p:copy_(src)
        else
          local v = avg_fn(p:detach(), src, n)
          if not nl.is_tensor(v) then
            raise(('%s: avg_fn must return a tensor, got %s'):format(op, nl._describe_arg(v)))
          end
          p:copy_(v)
        end
      end
      self.n_averaged:add_(1)
    end)
  end

  nl._guard_methods(AveragedModel, nn.is_module, 'an AveragedModel', 'swa_model',
    { init = true, forward = true, new = true, extend = true })

  -- ---- update_bn ------------------------------------------------------------

  -- update_bn(loader, model): every BatchNorm layer's running_mean and
  -- running_var reset (zeros and ones) and recomputed as the plain average
  -- over the loader's batches (momentum false, PyTorch's None, with
  -- num_batches_tracked from 0), in training mode; the momenta and the
  -- model's mode are restored. loader: a DataLoader (its batches' first
  -- value goes to the model), or a list of batches, each a tensor or a
  -- list whose first item is. Layers without running statistics are left
  -- alone. Returns nothing, as PyTorch's.
  function swa.update_bn(loader, model, ...)
    if select('#', ...) > 0 then nl._no_extra_args('update_bn', '(loader, model)', nil, ...) end
    local op = 'update_bn'
    if not nn.is_module(model) then nl._argerror(op, 'a module as the second argument', model) end
    local iter
    if (type(loader) == 'userdata' or (type(loader) == 'table' and getmetatable(loader) ~= nil))
       and callable(loader.iter) then
      iter = function() return loader:iter() end
    elseif nl._list_len(loader) then
      iter = function()
        local i = 0
        return function()
          i = i + 1
          return loader[i]
        end
      end
    else
      nl._argerror(op, 'a DataLoader or a list of batches', loader)
    end
    -- (BatchNorm layers and their subclasses, as PyTorch's isinstance(m, _BatchNorm))
    local bns, classes = {}, { [nn.BatchNorm1d] = true, [nn.BatchNorm2d] = true, [nn.BatchNorm3d] = true }
    for _, m in ipairs(model:modules()) do
      if nn._is_instance(m, classes) and nl.is_tensor(rawget(m, 'running_mean')) then bns[#bns + 1] = m end
    end
    if #bns == 0 then return end
    local momenta = {}
    local was_training = model.training
    nl.no_grad(function()
      for i, m in ipairs(bns) do
        m.running_mean = nl.zeros_like(m.running_mean)
        m.running_var = nl.ones_like(m.running_var)
        momenta[i] = m.momentum
      end
      model:train()
      for _, m in ipairs(bns) do
        rawset(m, 'momentum', false)
        m.num_batches_tracked:zero_()
      end
      local ok, err = pcall(function()
        local k = 0
        for b in iter() do
          k = k + 1
          local x = b
          if not nl.is_tensor(x) and type(x) == 'table' and getmetatable(x) == nil then x = x[1] end
          if not nl.is_tensor(x) then
            raise(('%s: batch %d must be a tensor or a list whose first item is one, got %s'):format(op, k,
              nl._describe_arg(b)))
          end
          model(x)
        end
      end)
      for i, m in ipairs(bns) do rawset(m, 'momentum', momenta[i]) end
      model:train(was_training)
      if not ok then error(err, 0) end
    end)
  end

  -- ---- SWALR ------------------------------------------------------------------

  local U = optim._sched
  local REQUIRED = U.REQUIRED
  local SWALR = U.class()
  swa.SWALR = SWALR
  SWALR._defaults = { swa_lr = REQUIRED, anneal_epochs = 10, anneal_strategy = 'cos', last_epoch = -1 }
  SWALR._state = {
    _step_count = function(op, sd, k) U.whole(op, sd, k, 1) end,
  }
  function SWALR._check(op, o, opt)
    U.per_group(op, o, 'swa_lr', #opt.param_groups)
    U.whole(op, o, 'anneal_epochs', 0)
    U.choice(op, o, 'anneal_strategy', 'cos', 'linear')
    U.whole(op, o, 'last_epoch', -1)
    -- (as PyTorch's: a resumed schedule starts from the initial_lr an
    -- earlier one left in each group)
    if o.last_epoch ~= -1 then
      for i, g in ipairs(opt.param_groups) do
        if g.initial_lr == nil then
          raise(('%s: last_epoch %d resumes a schedule, but param group %d has no initial_lr'):format(op,
            o.last_epoch, i))
        end
      end
    end
  end
  function SWALR:_derive()
    self._swa_lrs = U.per_group(self.name, self, 'swa_lr', #self.optimizer.param_groups)
  end
  function SWALR:_init()
    self._step_count = 0
    for i, g in ipairs(self.optimizer.param_groups) do g.swa_lr = self._swa_lrs[i] end
  end
  -- (made with last_epoch too, as PyTorch's, which sets them either way)
  SWALR._resume = SWALR._init

  local function anneal(strategy, t)
    if strategy == 'linear' then return t end
    return (1 - math.cos(math.pi * t)) / 2
  end
  local function initial_lr(lr, swa_lr, alpha)
    if alpha == 1 then return swa_lr end
    return (lr - alpha * swa_lr) / (1 - alpha)
  end

  -- PyTorch's get_lr: each group's lr moved from the lr the schedule
  -- started at (recovered from the current one) towards swa_lr by the
  -- anneal factor of the step count, reaching it after anneal_epochs steps
  function SWALR:_get_lr()
    local step = self._step_count - 1
    local E = self.anneal_epochs
    if E == 0 then step = math.max(1, step) end
    local prev_t = math.max(0, math.min(1, (step - 1) / math.max(1, E)))
    local prev_alpha = anneal(self.anneal_strategy, prev_t)
    local t = math.max(0, math.min(1, step / math.max(1, E)))
    local alpha = anneal(self.anneal_strategy, t)
    local lrs = {}
    for i, g in ipairs(self.optimizer.param_groups) do
      local swa_lr = self._swa_lrs[i]
      lrs[i] = swa_lr * alpha + initial_lr(g.lr, swa_lr, prev_alpha) * (1 - alpha)
    end
    return lrs
  end
  -- every step counts, step(epoch) too (it sets last_epoch only), as PyTorch's
  function SWALR:step(epoch, ...)
    if select('#', ...) > 0 then nl._no_extra_args('SWALR: step', '([epoch])', nil, ...) end
    self._step_count = self._step_count + 1
    return optim.LRScheduler.step(self, epoch)
  end
  function SWALR:load_state_dict(sd, ...)
    if select('#', ...) > 0 then nl._no_extra_args('SWALR: load_state_dict', '(state_dict)', nil, ...) end
    optim.LRScheduler.load_state_dict(self, sd)
    for i, g in ipairs(self.optimizer.param_groups) do g.swa_lr = self._swa_lrs[i] end
  end
  nl._guard_methods(SWALR, U.is_scheduler, 'a scheduler', 'sched')

  -- SWALR(optimizer, {swa_lr, anneal_epochs = 10, anneal_strategy = 'cos',
  -- last_epoch = -1}): swa_lr a number or a list of one per param group
  local cls = SWALR
  swa.SWALR = function(opt, opts, ...)
    nl._no_extra_args('SWALR', '(optimizer, {options})', 'give swa_lr and the rest in the options table', ...)
    return U.new(cls, 'SWALR', opt, opts)
  end
  return swa
end
