-- parametrize.lua: nn.utils.parametrize, PyTorch 1.13's
-- torch.nn.utils.parametrize: a parameter or buffer replaced by the
-- result of modules applied to the tensor(s) it is computed from, kept as
-- module.parametrizations.<name>.original (original0, original1, ... when
-- the first parametrization's right_inverse gives several), so that state
-- dicts move 1:1 with PyTorch's. Reading module.<name> computes it
-- (cached inside parametrize.cached); assigning to it goes through the
-- parametrizations' right_inverse. And nn.utils.parametrizations:
-- orthogonal and spectral_norm on top of it. Loaded on first use (nn/init.lua).
--
-- A parametrized module gets a metatable of its own (PyTorch's injected
-- subclass); its class, type_before_parametrizations, is unchanged, and
-- what was registered is recorded so that nn.load and clone register it
-- again on the rebuilt module (the state dict then fills the originals).
return function(nl, nn)
  local utils = nn.utils
  local raise = nl._raise
  local Module = nn.Module
  local unpack = unpack
  local function pack(...) return { n = select('#', ...), ... } end
  local P = {}
  utils.parametrize = P

  local function shape_of(t) return nl._shape_str(t) end

  -- a name off the module entirely (param_norm.lua's)
  local delattr = nn._delattr

  -- ---- ParametrizationList: the originals, then the parametrizations as
  -- children 0, 1, ... (1, 2, ... in Lua) ----------------------------------

  local PList = Module:extend('ParametrizationList')
  PList._child_name = nn.ModuleList._child_name
  local function count(pl)
    local n = 0
    while rawget(pl, n + 1) ~= nil do n = n + 1 end
    return n
  end
  PList._mt.__len = count

  function PList:forward()
    local x
    if rawget(self, '_is_tensor') then
      x = self[1](self.original)
    else
      local args, n = {}, rawget(self, '_ntensors')
      for i = 1, n do args[i] = rawget(self, 'original' .. (i - 1)) end
      x = self[1](unpack(args, 1, n))
    end
    for i = 2, count(self) do x = self[i](x) end
    return x
  end

  function PList:extra_repr() return '' end

  -- ---- the value, read and assigned ----

  local cache_depth, cache = 0, setmetatable({}, { __mode = 'k' })
  local get_value_cached

  local function get_value(m, name, pl)
    -- (inside the module's own call: once, as PyTorch's layers read their
    -- weight once where nnlua's may read it twice, and each read of
    -- spectral_norm's would iterate again)
    local own = rawget(m, '_pcall_cache')
    if own then
      local t = own[name]
      if t == nil then
        t = cache_depth == 0 and pl() or get_value_cached(m, name, pl)
        own[name] = t
      end
      return t
    end
    if cache_depth == 0 then return pl() end
    return get_value_cached(m, name, pl)
  end
  function get_value_cached(m, name, pl)
    local per = cache[m]
    if not per then
      per = {}
      cache[m] = per
    end
    local t = per[name]
    if t == nil then
      t = pl()
      per[name] = t
    end
    return t
  end

  -- a function's results as one value: a list when several
  local function results(...)
    if select('#', ...) > 1 then return { ... } end
    return (...)
  end

  local function is_list(v) return type(v) == 'table' and getmetatable(v) == nil end

  -- copies value into the originals of pl (op names the caller)
  local function set_originals(op, pl, value)
    if rawget(pl, '_is_tensor') then
      local orig = pl.original
      if not nl.is_tensor(value) then raise(('%s: right_inverse must return a tensor, got %s'):format(op, nl._describe_arg(value))) end
      if value:dtype() ~= orig:dtype() then
        raise(('%s: right_inverse gave dtype %s, the original is %s'):format(op, value:dtype(), orig:dtype()))
      end
      -- (PyTorch's set_ may change the original's shape; here the original
      -- keeps its own, so that an optimizer holding it stays right)
      if shape_of(value) ~= shape_of(orig) then
        raise(('%s: right_inverse gave shape %s, the original has %s'):format(op, shape_of(value), shape_of(orig)))
      end
      orig:copy_(value)
    else
      local n = rawget(pl, '_ntensors')
      if not is_list(value) or #value ~= n then
        raise(('%s: right_inverse must return a list of %d tensors, got %s'):format(op, n, nl._describe_arg(value)))
      end
      for i = 1, n do
        local orig, v = rawget(pl, 'original' .. (i - 1)), value[i]
        if not nl.is_tensor(v) or v:dtype() ~= orig:dtype() or shape_of(v) ~= shape_of(orig) then
          raise(('%s: right_inverse result %d must be a %s tensor of shape %s, got %s'):format(op, i, orig:dtype(),
            shape_of(orig), nl.is_tensor(v) and (v:dtype() .. ' ' .. shape_of(v)) or nl._describe_arg(v)))
        end
        orig:copy_(v)
      end
    end
  end

  -- module.name = value: value through each parametrization's
  -- right_inverse, last first, into the originals
  local function set_value(m, name, pl, value)
    local op = ('%s.%s = value'):format(m.__name, name)
    nl.no_grad(function()
      for i = count(pl), 1, -1 do
        local p = pl[i]
        if type(p.right_inverse) ~= 'function' then
          raise(('%s: parametrization %d (%s) does not implement right_inverse'):format(op, i, p.__name))
        end
        value = results(p:right_inverse(value))
      end
      set_originals(op, pl, value)
    end)
  end

  -- ---- the module's own metatable ----

  local function inject(m)
    local info = rawget(m, '_parametrized')
    if info then return info end
    local old = getmetatable(m)
    local mt = {}
    for k, v in pairs(old) do mt[k] = v end
    local base_index, base_newindex = old.__index, old.__newindex
    mt.__index = function(self, k)
      local pd = rawget(self, 'parametrizations')
      if pd ~= nil and type(k) == 'string' then
        local pl = rawget(pd, k)
        if pl ~= nil then return get_value(self, k, pl) end
      end
      if type(base_index) == 'function' then return base_index(self, k) end
      return base_index[k]
    end
    mt.__newindex = function(self, k, v)
      local pd = rawget(self, 'parametrizations')
      if pd ~= nil and type(k) == 'string' then
        local pl = rawget(pd, k)
        if pl ~= nil then return set_value(self, k, pl, v) end
      end
      return base_newindex(self, k, v)
    end
    local base_call = old.__call
    mt.__call = function(self, ...)
      local saved = rawget(self, '_pcall_cache')
      rawset(self, '_pcall_cache', {})
      local res = pack(pcall(base_call, self, ...))
      rawset(self, '_pcall_cache', saved)
      if not res[1] then error(res[2], 0) end
      return unpack(res, 2, res.n)
    end
    info = { cls = base_index, mt = old }
    rawset(m, '_parametrized', info)
    setmetatable(m, mt)
    return info
  end

  -- ---- is_parametrized, type_before_parametrizations ----

  -- is_parametrized(module, [name]): whether module has a parametrization
  -- (on name)
  function P.is_parametrized(module, name)
    if not nn.is_module(module) then nl._argerror('is_parametrized', 'a module', module) end
    local pd = rawget(module, 'parametrizations')
    if not rawget(module, '_parametrized') or pd == nil then return false end
    if name == nil then return next(pd:keys()) ~= nil end
    if type(name) ~= 'string' then nl._argerror('is_parametrized', 'a tensor name (a string)', name) end
    return rawget(pd, name) ~= nil
  end

  -- the module's class (PyTorch's type before the injected subclass)
  function P.type_before_parametrizations(module)
    if not nn.is_module(module) then nl._argerror('type_before_parametrizations', 'a module', module) end
    local info = rawget(module, '_parametrized')
    if info then return info.cls end
    return getmetatable(module).__index
  end

  -- ---- register_parametrization ----

  local function check_result(op, what, x, y_dtype, y_shape)
    if not nl.is_tensor(x) then
      raise(('%s: %s must return a tensor, got %s'):format(op, what, nl._describe_arg(x)))
    end
    if x:dtype() ~= y_dtype then
      raise(('%s: %s changed the dtype from %s to %s (only with unsafe = true)'):format(op, what, y_dtype, x:dtype()))
    end
    if shape_of(x) ~= y_shape then
      raise(('%s: %s changed the shape from %s to %s (only with unsafe = true)'):format(op, what, y_shape, shape_of(x)))
    end
  end

  local function record(m, name, p, unsafe)
    local list = rawget(m, '_parametrize_log')
    if not list then
      list = {}
      rawset(m, '_parametrize_log', list)
    end
    list[#list + 1] = { name = name, p = p, unsafe = unsafe }
  end

  local function register(module, name, p, unsafe)
    local op = 'register_parametrization'
    if not nn.is_module(module) then nl._argerror(op, 'a module', module) end
    if type(name) ~= 'string' then nl._argerror(op, 'a tensor name (a string)', name) end
    if not nn.is_module(p) then
      raise(('%s: the parametrization must be a module (nn.Module:extend with forward), got %s'):format(op,
        nl._describe_arg(p)))
    end
    if unsafe ~= nil and type(unsafe) ~= 'boolean' then nl._argerror(op, 'a boolean unsafe', unsafe) end
    unsafe = unsafe == true
    p:train(module.training)
    if P.is_parametrized(module, name) then
      local pl = rawget(module.parametrizations, name)
      if not unsafe then
        local y = module[name]
        local y_dtype, y_shape = y:dtype(), shape_of(y)
        local x = p(y)
        check_result(op, 'the parametrization', x, y_dtype, y_shape)
        if type(p.right_inverse) == 'function' then
          local z = nl.no_grad(function() return p:right_inverse(x) end)
          check_result(op, 'right_inverse', z, y_dtype, y_shape)
        end
      end
      pl[count(pl) + 1] = p
      rawset(pl, 'unsafe', rawget(pl, 'unsafe') or unsafe)
      record(module, name, p, unsafe)
      return module
    end
    local original = rawget(module, name)
    local is_param, is_buffer = module._params[name], module._buffers[name]
    if not nl.is_tensor(original) or not (is_param or is_buffer) then
      raise(("%s: %s has no parameter, buffer or parametrized tensor named '%s'"):format(op, module.__name, name))
    end
    local o_dtype, o_shape = original:dtype(), shape_of(original)
    -- the originals: the tensor through right_inverse (where p has one)
    local new = original
    if type(p.right_inverse) == 'function' then
      new = nl.no_grad(function() return results(p:right_inverse(original)) end)
    end
    local pl = PList()
    rawset(pl, 'unsafe', unsafe)
    local requires = original.is_requires_grad
    local function keep(t, k)
      if is_param then
        local c = t:detach()
        if requires then c:requires_grad() else nn._frozen_params[c] = true end
        pl[k] = c
      else
        pl:register_buffer(k, t:detach())
      end
    end
    if nl.is_tensor(new) then
      if new:dtype() ~= o_dtype then
        raise(('%s: right_inverse changed the dtype from %s to %s'):format(op, o_dtype, new:dtype()))
      end
      rawset(pl, '_is_tensor', true)
      rawset(pl, '_ntensors', 1)
      -- the original tensor itself, holding right_inverse's values (an
      -- optimizer made before holds it still), as PyTorch's set_
      if new ~= original then
        if shape_of(new) == o_shape then
          nl.no_grad(function() original:copy_(new:clone()) end)
        else
          original = new:clone()
        end
      end
      if is_param and original:is_leaf() then
        if not requires then nn._frozen_params[original] = true end
        pl.original = original
      else
        keep(original, 'original')
      end
    elseif is_list(new) and #new > 0 then
      rawset(pl, '_is_tensor', false)
      rawset(pl, '_ntensors', #new)
      for i, t in ipairs(new) do
        if not nl.is_tensor(t) then
          raise(('%s: right_inverse result %d must be a tensor, got %s'):format(op, i, nl._describe_arg(t)))
        end
        keep(t:clone(), 'original' .. (i - 1))
      end
    else
      raise(('%s: right_inverse must return a tensor or a list of tensors, got %s'):format(op, nl._describe_arg(new)))
    end
    pl[1] = p
    if not unsafe then
      local z = pl()
      check_result(op, 'the parametrization', z, o_dtype, o_shape)
    end
    -- the module's tensor replaced by the computed one
    delattr(module, name)
    inject(module)
    local pd = rawget(module, 'parametrizations')
    if pd == nil then
      pd = nn.ModuleDict()
      getmetatable(module).__newindex(module, 'parametrizations', pd)
    end
    pd[name] = pl
    record(module, name, p, unsafe)
    return module
  end

  -- register_parametrization(module, tensor_name, parametrization,
  -- [unsafe]) or (..., {unsafe}): module, whose tensor_name is now
  -- parametrization(original); registered again, parametrizations chain
  function P.register_parametrization(module, name, p, unsafe, ...)
    nl._no_extra_args('register_parametrization', '(module, tensor_name, parametrization, {unsafe})', nil, ...)
    if type(unsafe) == 'table' then
      nl._check_opts('register_parametrization', unsafe, { unsafe = 'flag' })
      unsafe = unsafe.unsafe
    end
    return register(module, name, p, unsafe)
  end

  -- remove_parametrizations(module, tensor_name, [leave_parametrized =
  -- true]) or (..., {leave_parametrized}): tensor_name a plain parameter
  -- (or buffer) again, holding its parametrized value (or the original)
  function P.remove_parametrizations(module, name, leave, ...)
    local op = 'remove_parametrizations'
    nl._no_extra_args(op, '(module, tensor_name, {leave_parametrized})', nil, ...)
    if type(leave) == 'table' then
      nl._check_opts(op, leave, { leave_parametrized = 'flag' })
      leave = leave.leave_parametrized
    end
    if leave ~= nil and type(leave) ~= 'boolean' then nl._argerror(op, 'a boolean leave_parametrized', leave) end
    if leave == nil then leave = true end
    if not nn.is_module(module) then nl._argerror(op, 'a module', module) end
    if not P.is_parametrized(module, tostring(name)) or type(name) ~= 'string' then
      raise(("%s: %s has no parametrization on '%s'"):format(op, module.__name, tostring(name)))
    end
    local pd = rawget(module, 'parametrizations')
    local pl = rawget(pd, name)
    local original
    if rawget(pl, '_is_tensor') then
      original = pl.original
      if leave then
        local t = nl.no_grad(function() return get_value(module, name, pl) end)
        if shape_of(t) ~= shape_of(original) or t:dtype() ~= original:dtype() then
          -- (an unsafe parametrization's result: a tensor of its own)
          local param = pl._params.original
          original = t:detach():clone()
          if param then original:requires_grad(pl.original.is_requires_grad) end
        else
          nl.no_grad(function() original:copy_(t) end)
        end
      end
    else
      if not leave then
        raise(('%s: cannot leave %s unparametrized (leave_parametrized = false): it is parametrized by %d tensors'):format(
          op, name, rawget(pl, '_ntensors')))
      end
      local t = nl.no_grad(function() return get_value(module, name, pl) end)
      original = t:detach():clone()
      if rawget(pl, 'original0').is_requires_grad then original:requires_grad() end
    end
    local was_param = pl._params.original or pl._params.original0
    pd[name] = nil
    if cache[module] then cache[module][name] = nil end
    local log = rawget(module, '_parametrize_log')
    for i = #log, 1, -1 do if log[i].name == name then table.remove(log, i) end end
    if next(pd:keys()) == nil then
      delattr(module, 'parametrizations')
      setmetatable(module, rawget(module, '_parametrized').mt)
      rawset(module, '_parametrized', nil)
      rawset(module, '_parametrize_log', nil)
    end
    if was_param then
      if not original.is_requires_grad then nn._frozen_params[original] = true end
      module[name] = original
      module._params[name] = true
    else
      module:register_buffer(name, original)
    end
    return module
  end

  -- cached(fn, ...): fn(...) with each parametrized tensor computed once,
  -- on first read, and kept until the outermost cached returns (PyTorch's
  -- `with parametrize.cached():`); returns fn's results
  function P.cached(fn, ...)
    if type(fn) ~= 'function' then nl._argerror('cached', 'a function', fn) end
    cache_depth = cache_depth + 1
    local res = pack(pcall(fn, ...))
    cache_depth = cache_depth - 1
    if cache_depth == 0 then cache = setmetatable({}, { __mode = 'k' }) end
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, res.n)
  end

  -- ---- nn.load and clone ----

  function nn._parametrize_record(m, record_module)
    local log = rawget(m, '_parametrize_log')
    if not log or #log == 0 then return nil end
    local out = {}
    for i, e in ipairs(log) do out[i] = { name = e.name, unsafe = e.unsafe, p = record_module(e.p) } end
    return out
  end
  function nn._parametrize_apply(m, rec, rebuild_arg)
    if type(rec) ~= 'table' then raise('load: malformed model structure (parametrizations)') end
    for _, e in ipairs(rec) do
      if type(e) ~= 'table' or type(e.name) ~= 'string' then raise('load: malformed model structure (parametrizations)') end
      local p = rebuild_arg(e.p)
      if not nn.is_module(p) then raise('load: malformed model structure (a parametrization)') end
      register(m, e.name, p, e.unsafe == true)
    end
  end

  require('nnlua.nn.parametrizations')(nl, nn)
end
