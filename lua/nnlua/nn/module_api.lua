-- module_api.lua: the parts of PyTorch 1.13's nn.Module API that module.lua
-- does not hold: requires_grad_, get_submodule / get_parameter / get_buffer
-- by dotted name, register_parameter, add_module (register_module), and
-- to(dtype) / type(dtype) beside double() and float(). Names are the state
-- dict's: a Sequential's or a ModuleList's items '0', '1', ... (Lua's 1, 2).
return function(nl, nn)
  local Module, is_module = nn.Module, nn.is_module
  local raise, argerror = nl._raise, nl._argerror

  -- every parameter's requires_grad set to flag (true by default), as
  -- PyTorch's: freezing a model or a part of it (a frozen parameter stays
  -- a parameter: it is in parameters() and the state dict). Returns m.
  function Module:requires_grad_(flag, ...)
    nl._no_extra_args('requires_grad_', '([requires_grad])', nil, ...)
    if flag == nil then flag = true end
    if type(flag) ~= 'boolean' then argerror('requires_grad_', 'a boolean requires_grad', flag) end
    for _, p in ipairs(self:parameters()) do
      p:requires_grad(flag)
      -- (a frozen parameter stays one when another module registers it, as
      -- nn.Parameter(t, false)'s do: it became a new trainable leaf)
      if not flag then nn._frozen_params[p] = true end
    end
    return self
  end

  -- the field of m whose state-dict name is atom (a Sequential's '0' is
  -- its field 1), or nil
  local function field_of(m, atom)
    for _, k in ipairs(m._order) do
      if rawget(m, k) ~= nil and m:_child_name(k) == atom then return k end
    end
    return nil
  end

  -- m's children's names, for a message
  local function child_names(m)
    local names = {}
    for _, kv in ipairs(m:named_children()) do names[#names + 1] = kv[1] end
    return #names == 0 and 'none' or table.concat(names, ', ')
  end

  -- what a field holds, for a message
  local function kind_of(m, k)
    local v = rawget(m, k)
    if is_module(v) then return 'a module' end
    if m._params[k] then return 'a parameter' end
    if m._buffers[k] then return 'a buffer' end
    return nl._describe_arg(v)
  end

  -- why atom of m (at path at; its field k, or nil) is not what was
  -- looked for: "Linear '0' has no child 'x'", "'weight' of Linear '0'
  -- is a parameter, not a module"
  local function what_is(m, at, atom, k, word, want)
    local name = m.__name .. (at == '' and '' or (" '" .. at .. "'"))
    if k == nil then return ("%s has no %s '%s'"):format(name, word, atom) end
    return ("'%s' of %s is %s, not %s"):format(atom, name, kind_of(m, k), want)
  end

  -- the module at the dotted path (of target, for the message), or an
  -- error naming op and the first name that is not a submodule
  local function submodule(op, self, path, target)
    if type(target) ~= 'string' then argerror(op, 'a dotted name (a string)', target) end
    local m, at = self, ''
    if path == '' then return m end
    for atom in (path .. '.'):gmatch('([^.]*)%.') do
      local k = field_of(m, atom)
      if k == nil or not is_module(rawget(m, k)) then
        raise(("%s: no submodule '%s': %s"):format(op, target, what_is(m, at, atom, k, 'child', 'a module')
          .. ' (its children: ' .. child_names(m) .. ')'))
      end
      m = rawget(m, k)
      at = at == '' and atom or (at .. '.' .. atom)
    end
    return m, at
  end

  -- m:get_submodule('a.b.0'): the submodule of that name, as
  -- named_modules() names it ('' is m)
  function Module:get_submodule(target, ...)
    nl._no_extra_args('get_submodule', '(target)', nil, ...)
    return (submodule('get_submodule', self, target, target))
  end

  -- the module of target's last dot and the name after it
  local function split(op, self, target)
    if type(target) ~= 'string' then argerror(op, 'a dotted name (a string)', target) end
    local path, name = target:match('^(.*)%.([^.]*)$')
    if not path then path, name = '', target end
    local m, at = submodule(op, self, path, target)
    return m, name, at or ''
  end

  -- m:get_parameter('0.weight'): the parameter of that name, as
  -- named_parameters() names it (a frozen one too)
  function Module:get_parameter(target, ...)
    local op = 'get_parameter'
    nl._no_extra_args(op, '(target)', nil, ...)
    local m, name, at = split(op, self, target)
    local k = field_of(m, name)
    if k == nil or not m._params[k] then
      raise(("%s: no parameter '%s': %s"):format(op, target, what_is(m, at, name, k, 'parameter', 'a parameter')))
    end
    return rawget(m, k)
  end

  -- m:get_buffer('1.running_mean'): the buffer of that name (one
  -- registered with persistent = false too; nil for one registered as nil)
  function Module:get_buffer(target, ...)
    local op = 'get_buffer'
    nl._no_extra_args(op, '(target)', nil, ...)
    local m, name, at = split(op, self, target)
    local k = field_of(m, name)
    if k == nil and m._buffers[name] then k = name end      -- a buffer registered as nil
    if k == nil or not m._buffers[k] then
      raise(("%s: no buffer '%s': %s"):format(op, target, what_is(m, at, name, k, 'buffer', 'a buffer')))
    end
    return rawget(m, k)
  end

  -- a name PyTorch's register_parameter and add_module take: a non-empty
  -- string without dots
  local function check_name(op, what, name)
    if type(name) ~= 'string' then
      raise(('%s: the %s name must be a string, got %s'):format(op, what, nl._describe_arg(name)))
    end
    if name == '' or name:find('.', 1, true) then
      raise(("%s: the %s name must be a non-empty string without dots, got '%s'"):format(op, what, name))
    end
  end

  -- m:register_parameter(name, t): t as PyTorch's Parameter(t) under name,
  -- as ParameterList takes it: a leaf that requires grad is kept (so a
  -- weight shared with another layer stays one tensor), any other float
  -- tensor becomes a new leaf over the same memory that requires grad
  -- (the caller's tensor keeps its flag). nil takes the parameter out, as
  -- PyTorch's None leaves it out of the state dict. A name held by a
  -- field, method, buffer or module is refused, as PyTorch's 'attribute
  -- already exists'; a parameter's is replaced.
  function Module:register_parameter(name, t, ...)
    local op = 'register_parameter'
    nl._no_extra_args(op, '(name, param)', nil, ...)
    check_name(op, 'parameter', name)
    local held = rawget(self, name)
    if (held ~= nil and not self._params[name]) or self._buffers[name] or (held == nil and self[name] ~= nil) then
      raise(("%s: attribute '%s' already exists (%s)"):format(op, name,
        held ~= nil and kind_of(self, name) or self._buffers[name] and 'a buffer' or 'a method or field of the class'))
    end
    if t == nil then
      rawset(self, name, nil)
      self._params[name] = nil
      return
    end
    if not nl.is_tensor(t) then
      raise(('%s: %s must be a tensor or nil, got %s'):format(op, name, nl._describe_arg(t)))
    end
    nl._T(t, op)
    if t:dtype() == 'int64' then
      raise(('%s: %s is an int64 tensor; only float tensors can require gradients'):format(op, name))
    end
    -- (a frozen parameter is kept as it is, as PyTorch keeps a Parameter
    -- whose requires_grad is False: it became a new leaf that trained)
    if not ((t.is_requires_grad and t:is_leaf()) or nn._frozen_params[t]) then t = t:detach():requires_grad() end
    self[name] = t
  end

  -- the highest numbered item of a Sequential or ModuleList (0: none)
  local function items(m)
    local n = 0
    for _, k in ipairs(m._order) do
      if type(k) == 'number' and k > n and rawget(m, k) ~= nil then n = k end
    end
    return n
  end

  -- m:add_module(name, module), as PyTorch's: module (or nil, which takes
  -- the child out) as the child name. In a Sequential or ModuleList, whose
  -- items are named '0', '1', ..., a numbered name replaces that item or,
  -- one past the last, appends one (so that forward runs it); a name held
  -- by a field, method, parameter or buffer is refused.
  local function add_module(op, self, name, m)
    check_name(op, 'module', name)
    if m ~= nil and not is_module(m) then
      raise(('%s: %s must be a module or nil, got %s'):format(op, name, nl._describe_arg(m)))
    end
    local key = name
    local numbered = self._child_name ~= Module._child_name and name:match('^%d+$')
                     and (name == '0' or name:sub(1, 1) ~= '0')
    if numbered then
      local n = items(self)
      key = tonumber(name) + 1
      if key > n + 1 or m == nil then
        raise(("%s: the %s's items are named '0' to '%d'; a numbered name replaces one of them or, '%d', appends "
               .. 'one (a module, not nil)'):format(op, self.__name, n - 1, n))
      end
    end
    local held = rawget(self, key)
    if (held ~= nil and not is_module(held)) or (held == nil and self._buffers[key])
       or (held == nil and type(key) == 'string' and self[key] ~= nil) then
      raise(("%s: attribute '%s' already exists (%s)"):format(op, name,
        held ~= nil and kind_of(self, key) or self._buffers[key] and 'a buffer' or 'a method or field of the class'))
    end
    self[key] = m
  end
  function Module:add_module(name, m, ...)
    nl._no_extra_args('add_module', '(name, module)', nil, ...)
    add_module('add_module', self, name, m)
  end
  function Module:register_module(name, m, ...)
    nl._no_extra_args('register_module', '(name, module)', nil, ...)
    add_module('register_module', self, name, m)
  end

  local FLOAT = { float32 = 'float32', float = 'float32', float64 = 'float64', double = 'float64' }
  -- the float dtype of to's or type's argument: a dtype's name, a tensor
  -- (its dtype) or {dtype = }
  local function float_dtype(op, arg)
    local d = arg
    if nl.is_tensor(arg) then d = arg:dtype()
    elseif type(arg) == 'table' and getmetatable(arg) == nil and op == 'to' then
      nl._check_opts(op, arg, { dtype = 1 })
      d = arg.dtype
    end
    if d == 'int64' or d == 'long' then
      raise(("%s: a module converts to a float dtype ('float32' or 'float64'), got 'int64' (as PyTorch's, which "
             .. 'takes floating point dtypes only)'):format(op))
    end
    if FLOAT[d] == nil then
      raise(("%s: expected a dtype ('float32' or 'float64')%s, got %s"):format(op,
        op == 'to' and ', a tensor or {dtype = }' or '', nl._describe_arg(d)))
    end
    return FLOAT[d]
  end

  -- m:to(dtype), m:to(tensor), m:to{dtype = }: the floating parameters
  -- and buffers converted as m:double() and m:float() convert them (new
  -- leaves where the dtype changes: build the optimizer after; tied
  -- weights stay tied, frozen ones frozen; int64 buffers as they are).
  -- Returns m.
  function Module:to(arg, ...)
    nl._no_extra_args('to', '(dtype)', nil, ...)
    local d = float_dtype('to', arg)
    return nn._convert(self, function() return d end)
  end
  -- m:type(dtype): as to(dtype). PyTorch's also converts the integer
  -- buffers (BatchNorm's num_batches_tracked) to dtype; here they keep
  -- int64, as double() and float() keep them.
  function Module:type(dtype, ...)
    nl._no_extra_args('type', '(dst_type)', nil, ...)
    local d = float_dtype('type', dtype)
    return nn._convert(self, function() return d end)
  end
end
