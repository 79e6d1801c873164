-- checkpoint_compile.lua: the compile state a checkpoint keeps (Keras's
-- model.save with the training config and optimizer), loaded by
-- checkpoint.lua only when a compiled model is saved or a file that holds
-- one is loaded. Not the weights, the structure or the extras: those are
-- checkpoint.lua's.
-- The record, JSON in the metadata entry 'compile':
--   { loss = name, or loss_module = { structure, state } (a built-in or
--     user class nn.load can rebuild), or uncompiled = why;
--     metrics = { names as given, and nl.metrics objects as { class =
--       'AUC', options... } }, named = compiled by name,
--     optimizer = { class = 'Adam', defaults = {...}, params = { { names },
--       ... } (per group: the model's parameter names, { loss = name } for
--       the loss module's), param_groups = state_dict's (options and ids),
--       state = the state_dict's state (tensors under '__optim__.#compile')
--       or shared = true (the save's own optimizer = ..., the same object) } }
-- '#compile' cannot come from a key (key_name writes '#' before numbers
-- only), and files read by nnlua of before leave '__optim__.' tensors out
-- of the weights, so they still load there (uncompiled).
return function(nl, nn, ck)
  local optim = nl.optim
  local ffi = require 'ffi'
  local M = {}
  local PREFIX = '__optim__.#compile'

  local function tensor_key(t) return tostring(ffi.cast('void *', t.ptr)) end

  -- the compiled optimizer's record, or nil and why it cannot be rebuilt
  local function optimizer_record(model, c)
    local o = c.optimizer
    local groups = rawget(o, 'param_groups')
    local cls = type(o.name) == 'string' and optim[o.name]
    if type(groups) ~= 'table' or type(cls) ~= 'function' or type(o.state_dict) ~= 'function' then
      return nil, "the optimizer is not one of nl.optim's"
    end
    local names = {}
    for _, kv in ipairs(model:named_parameters()) do names[tensor_key(kv[2])] = kv[1] end
    if c.loss_module then
      for _, kv in ipairs(c.loss_module:named_parameters()) do
        local k = tensor_key(kv[2])
        if not names[k] then names[k] = { loss = kv[1] } end
      end
    end
    local params = {}
    for gi, g in ipairs(groups) do
      params[gi] = {}
      for j, p in ipairs(g.params) do
        local name = nl.is_tensor(p) and names[tensor_key(p)]
        if not name then return nil, "the optimizer holds a tensor that is not one of the model's parameters" end
        params[gi][j] = name
      end
    end
    local defaults = {}
    for k, v in pairs(rawget(o, 'defaults') or {}) do defaults[k] = v end
    return { class = o.name, defaults = defaults, params = params }
  end

  -- save: meta.compile for a compiled model (its tensors go into tensors);
  -- include_optimizer = false keeps the optimizer's class and settings,
  -- not its state (Keras's)
  function M.record(model, c, opts, tensors)
    local rec = { metrics = {}, named = c.named or nil }
    -- an nl.metrics object by its class and options; a function's cannot be
    local why
    for i, m in ipairs(c.metrics) do
      local obj = c.metric_obj and c.metric_obj[m]
      local r, no = m, nil
      if obj then r, no = obj:_record() end
      rec.metrics[i], why = r or m, why or no
    end
    if type(c.loss_spec) == 'string' then
      rec.loss = c.loss_spec
    elseif c.loss_module then
      local ok, st = pcall(nn._record_module, c.loss_module)
      if ok then
        rec.loss_module = { structure = st, state = ck.flatten(c.loss_module:state_dict(), PREFIX .. '.loss', tensors) }
      elseif type(st) == 'table' and st.unrecordable then
        rec.uncompiled = ('its loss, an nn.%s, cannot be rebuilt (%s)'):format(c.loss_module.__name, st.unrecordable)
      else
        error(st, 0)
      end
    else
      rec.uncompiled = 'its loss is a Lua function, which a checkpoint cannot record'
    end
    rec.uncompiled = rec.uncompiled or why
    local orec, why = optimizer_record(model, c)
    if orec then
      local sd = c.optimizer:state_dict()
      orec.param_groups = sd.param_groups
      if opts.include_optimizer ~= false then
        if opts.optimizer == c.optimizer then orec.shared = true
        else orec.state = ck.flatten(sd.state, PREFIX .. '.state', tensors) end
      end
      rec.optimizer = orec
    else
      rec.uncompiled = rec.uncompiled or why
    end
    return rec
  end

  local function malformed(path, what) nl._raise(('load: %s: malformed compile record (%s)'):format(path, what)) end

  -- load: compile model as rec says, the optimizer's state restored; or,
  -- where the record says it cannot be, the model left as it is and why
  -- returned (extras.uncompiled) with the optimizer's state put in
  -- extras.optimizer, if not there already, for the user's own compile
  -- the optimizer classes a record may name (nl.optim also holds
  -- functions that are none: clip_grad_norm, the schedulers)
  local CLASSES = { [optim.LBFGS] = true }
  for _, make in pairs(optim.by_name) do CLASSES[make] = true end

  local function apply(path, model, rec, tensors, escaped, extras)
    if type(rec) ~= 'table' then malformed(path, 'not a table') end
    local orec = rec.optimizer
    if orec ~= nil and type(orec) ~= 'table' then malformed(path, 'optimizer') end
    local state
    if orec and orec.shared then state = extras.optimizer and extras.optimizer.state
    elseif orec and orec.state ~= nil then state = ck.unflatten(orec.state, tensors, escaped) end
    local sd = orec and state and { optimizer = orec.class, state = state, param_groups = orec.param_groups }
    if rec.uncompiled ~= nil then
      if type(rec.uncompiled) ~= 'string' then malformed(path, 'uncompiled') end
      extras.uncompiled = rec.uncompiled
      if sd and extras.optimizer == nil then extras.optimizer = sd end
      return
    end
    if not orec then malformed(path, 'no optimizer') end
    local loss = rec.loss
    if loss == nil then
      local lm = rec.loss_module
      if type(lm) ~= 'table' then malformed(path, 'no loss') end
      loss = ck.rebuild(lm.structure, {})
      local lsd = ck.unflatten(lm.state or {}, tensors, escaped)
      nn._convert(loss, function(name) return nl.is_tensor(lsd[name]) and lsd[name]:dtype() or nil end)
      loss:load_state_dict(lsd)
    elseif type(loss) ~= 'string' then
      malformed(path, 'loss')
    end
    local make = type(orec.class) == 'string' and optim[orec.class]
    if not CLASSES[make] then malformed(path, 'optimizer class ' .. tostring(orec.class)) end
    if type(orec.params) ~= 'table' or type(orec.param_groups) ~= 'table' then malformed(path, 'optimizer groups') end
    local mine = {}
    for _, kv in ipairs(model:named_parameters()) do mine[kv[1]] = kv[2] end
    local theirs = {}
    if nn.is_module(loss) then
      for _, kv in ipairs(loss:named_parameters()) do theirs[kv[1]] = kv[2] end
    end
    local groups = {}
    for gi, names in ipairs(orec.params) do
      if type(names) ~= 'table' then malformed(path, 'optimizer groups') end
      local ps = {}
      for j, n in ipairs(names) do
        local p = type(n) == 'string' and mine[n] or type(n) == 'table' and theirs[n.loss]
        if not p then malformed(path, 'optimizer parameter ' .. tostring(type(n) == 'table' and n.loss or n)) end
        ps[j] = p
      end
      groups[gi] = { params = ps }
    end
    local o = make(groups, type(orec.defaults) == 'table' and orec.defaults or {})
    -- the saved groups' settings (lr, betas, a scheduler's initial_lr),
    -- and the state where the file has it
    o:load_state_dict({ optimizer = orec.class, state = state or {}, param_groups = orec.param_groups })
    -- (metrics that are not a list were dropped: the model loaded without them)
    if rec.metrics ~= nil and type(rec.metrics) ~= 'table' then malformed(path, 'metrics') end
    local metrics = rec.metrics
    for i, m in ipairs(metrics or {}) do
      if type(m) == 'table' then metrics[i] = nl.metrics._rebuild(m) end
    end
    model:compile { optimizer = o, loss = loss, metrics = metrics }
    -- (one compiled by name is rebound to new tensors after :double(), as before)
    if rec.named then rawget(model, '_compiled').named = true end
  end

  -- apply's, with what the record's values made the optimizer, the loss
  -- or compile raise ('SGD: lr must be a number', 'compile: unknown
  -- loss') said to come from the file
  function M.apply(path, ...)
    local ok, err = pcall(apply, path, ...)
    if ok then return end
    local msg = tostring(err):gsub('^[^:\n]*:%d+: ', '')
    if msg:sub(1, 5) == 'load:' then error(err, 0) end
    malformed(path, msg)
  end

  return M
end
