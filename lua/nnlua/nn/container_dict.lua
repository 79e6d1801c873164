-- container_dict.lua: nn.ModuleDict, nn.ParameterList and nn.ParameterDict,
-- as PyTorch 1.13's. Their items are the module's own named fields, so the
-- state dict names are PyTorch's: a dict's keys ('enc.weight'), a list's
-- positions counted from 0 ('0', '1'), while Lua indexes the list from 1.
-- Not here: items that are neither modules nor tensors (PyTorch 1.13's
-- ParameterList and ParameterDict also hold plain objects). Assigning to a
-- key the table already holds (pd.w = t, pl[1] = t) is Lua's plain
-- assignment, which calls no hook: the tensor is kept as given (update,
-- append and extend make it a parameter).
return function(nl, nn)
  local Module = nn.Module
  local is_module = nn.is_module
  -- Module's assignment (order, parameters, the dot check), which each
  -- class below wraps to turn tensors into parameters and check keys
  local assign = Module._mt.__newindex

  -- a tensor as PyTorch's Parameter(t): a leaf that requires grad is one
  -- already (kept, so that a weight shared with a layer stays one
  -- tensor); any other becomes a new leaf over the same memory, which
  -- requires grad (the caller's tensor keeps its own flag, as PyTorch's)
  local function as_parameter(op, what, t)
    if not nl.is_tensor(t) then nl._raise(('%s: %s must be a tensor, got %s'):format(op, what, nl._describe_arg(t))) end
    nl._T(t, op)
    if t:dtype() == 'int64' then
      nl._raise(('%s: %s is an int64 tensor; only float tensors can require gradients'):format(op, what))
    end
    -- (a frozen parameter too: nn.Parameter(t, false)'s, or one that
    -- requires_grad_(false) froze, became a new leaf that trained)
    if (t.is_requires_grad and t:is_leaf()) or nn._frozen_params[t] then return t end
    return t:detach():requires_grad()
  end

  -- nn.Parameter(t, requires_grad = true), or (t, {requires_grad}), as
  -- PyTorch's: a tensor that a module registers as a parameter when it is
  -- assigned to a field (m.w = nn.Parameter(t)). It is t itself where t is
  -- a leaf that requires grad, else a new leaf over t's memory that does
  -- (t keeps its own flag); int64 is refused, as it cannot require grad.
  -- requires_grad = false gives a new tensor over t's memory that does not
  -- require grad and is still a parameter (in parameters() and the state
  -- dict; an optimizer skips it until it is given requires_grad()).
  function nn.Parameter(t, requires_grad, ...)
    local op = 'Parameter'
    nl._no_extra_args(op, '(data, requires_grad)', nil, ...)
    if type(requires_grad) == 'table' then
      nl._check_opts(op, requires_grad, { requires_grad = 'flag' })
      requires_grad = requires_grad.requires_grad
    end
    if requires_grad ~= nil and type(requires_grad) ~= 'boolean' then
      nl._argerror(op, 'a boolean requires_grad flag', requires_grad)
    end
    if requires_grad ~= false then return as_parameter(op, 'data', t) end
    if not nl.is_tensor(t) then nl._raise(('%s: data must be a tensor, got %s'):format(op, nl._describe_arg(t))) end
    nl._T(t, op)
    local p = t:detach()
    nn._frozen_params[p] = true
    return p
  end

  -- the keys of a dict in their order: those of _order still holding an item
  local function dict_keys(self, holds)
    local out = {}
    for _, k in ipairs(self._order) do
      if type(k) == 'string' and holds(self, k) then out[#out + 1] = k end
    end
    return out
  end

  -- a key PyTorch's add_module / register_parameter takes: a non-empty
  -- string without dots that does not name a method or field of the
  -- class, nor one of the module's own fields (md.keys = m hid the
  -- method keys; PyTorch's add_module refuses such a name too); holds
  -- tells an item of the dict, which a key may name again
  local function check_key(op, self, cls, k, holds)
    if type(k) ~= 'string' then
      nl._raise(('%s: keys must be strings, got %s'):format(op, nl._describe_arg(k)))
    end
    if k == '' or k:find('.', 1, true) then
      nl._raise(("%s: a key must be a non-empty string without dots, got '%s'"):format(op, k))
    end
    if cls[k] ~= nil or (rawget(self, k) ~= nil and not holds(self, k)) then
      nl._raise(("%s: the key '%s' names an attribute of the %s (a method or field)"):format(op, k, op))
    end
  end

  -- removes a key from the dict and from the order, so that setting it
  -- again appends it at the end, as an OrderedDict's pop and set do
  local function remove_key(self, k)
    rawset(self, k, nil)
    self._params[k] = nil
    self._seen[k] = nil
    local order = self._order
    for i = #order, 1, -1 do
      if order[i] == k then table.remove(order, i) end
    end
  end

  -- pairs {key, value} of what update and the constructors take: a list
  -- of {key, value} pairs (in its order), a dict of the same class (in
  -- its order), or a table of key = value (sorted by key: a Lua table has
  -- no order of its own, where a Python dict keeps its insertion order)
  local function pairs_of(op, arg, same_class, kind)
    if arg == nil then return {} end
    if getmetatable(arg) == same_class._mt then return arg:items() end
    if type(arg) ~= 'table' or getmetatable(arg) ~= nil then
      nl._argerror(op, ('a table of %s by name, or a list of {name, %s} pairs'):format(kind, kind), arg)
    end
    local n = nl._list_len(arg)
    local out = {}
    if n and n > 0 then
      for i = 1, n do
        local kv = arg[i]
        if type(kv) ~= 'table' or getmetatable(kv) ~= nil or nl._list_len(kv) ~= 2 then
          nl._raise(('%s: item %d of the list must be a {name, %s} pair, got %s'):format(op, i, kind,
            nl._describe_arg(kv)))
        end
        out[i] = { kv[1], kv[2] }
      end
      return out
    end
    local keys = {}
    for k in pairs(arg) do
      if type(k) ~= 'string' then
        nl._raise(('%s: keys must be strings (or give a list of {name, %s} pairs), got %s'):format(op, kind,
          nl._describe_arg(k)))
      end
      keys[#keys + 1] = k
    end
    table.sort(keys)
    for i, k in ipairs(keys) do out[i] = { k, arg[k] } end
    return out
  end

  -- ---- ModuleDict ----
  local ModuleDict = Module:extend('ModuleDict')
  nn.ModuleDict = ModuleDict
  local function holds_module(self, k) return is_module(rawget(self, k)) end

  function ModuleDict:init(modules) self:update(modules) end
  -- md[key] = m, md.key = m: a key checked, then Module's assignment
  -- (md.key = nil takes the item out, as PyTorch's del md[key])
  ModuleDict._mt.__newindex = function(self, k, v)
    if v == nil and type(k) == 'string' and holds_module(self, k) then return remove_key(self, k) end
    if is_module(v) then check_key('ModuleDict', self, ModuleDict, k, holds_module) end
    assign(self, k, v)
  end
  function ModuleDict:update(modules)
    local items = pairs_of('ModuleDict', modules, ModuleDict, 'module')
    -- all checked before any is set: a bad item left half an update
    for _, kv in ipairs(items) do
      check_key('ModuleDict', self, ModuleDict, kv[1], holds_module)
      if not is_module(kv[2]) then
        nl._raise(("ModuleDict: the value of '%s' must be a module, got %s"):format(kv[1], nl._describe_arg(kv[2])))
      end
    end
    for _, kv in ipairs(items) do ModuleDict._mt.__newindex(self, kv[1], kv[2]) end
    return self
  end
  function ModuleDict:keys() return dict_keys(self, holds_module) end
  function ModuleDict:values()
    local out = {}
    for i, k in ipairs(self:keys()) do out[i] = rawget(self, k) end
    return out
  end
  function ModuleDict:items()
    local out = {}
    for i, k in ipairs(self:keys()) do out[i] = { k, rawget(self, k) } end
    return out
  end
  function ModuleDict:contains(k) return type(k) == 'string' and holds_module(self, k) end
  function ModuleDict:pop(k)
    if not self:contains(k) then nl._raise(('ModuleDict:pop: no module under the key %s'):format(nl._describe_arg(k))) end
    local m = rawget(self, k)
    remove_key(self, k)
    return m
  end
  function ModuleDict:clear()
    for _, k in ipairs(self:keys()) do remove_key(self, k) end
    return self
  end
  -- (md:size(): # of a table does not call __len in LuaJIT)
  function ModuleDict:size() return #self:keys() end
  function ModuleDict:forward()
    nl._raise('ModuleDict: a dict has no forward; call its modules in your own forward')
  end
  -- recorded as ModuleDict({{key, module}, ...}) would be, in its order
  function ModuleDict:structure(seen)
    return Module.structure({ __name = 'ModuleDict', _args = { n = 1, self:items() } }, seen)
  end

  -- the record of a parameter as an argument: its shape and dtype, which
  -- nn.load and clone rebuild as zeros for the state dict to fill (see
  -- Module:structure's tensor_like)
  local function like(t) return { tensor_like = { shape = t:shape(), dtype = t:dtype() } } end
  local function param_line(t)
    return ('Parameter containing: [%s of size %s]'):format(t:dtype(), table.concat(t:shape(), 'x'))
  end

  -- ---- ParameterList ----
  local ParameterList = Module:extend('ParameterList')
  nn.ParameterList = ParameterList

  -- the number of items, 1..n (a hole is an error, as ModuleList's)
  local function count(self, op)
    local n = 0
    for _, k in ipairs(self._order) do
      if type(k) == 'number' and k > n and rawget(self, k) ~= nil then n = k end
    end
    for i = 1, n do
      if not nl.is_tensor(rawget(self, i)) then
        nl._raise(('%s: item %d is %s; the items must be tensors numbered 1 to %d'):format(op, i,
          nl._describe_arg(rawget(self, i)), n))
      end
    end
    return n
  end

  function ParameterList:init(values)
    if values ~= nil and (type(values) ~= 'table' or getmetatable(values) ~= nil or not nl._list_len(values)) then
      nl._argerror('ParameterList', 'a list of tensors', values)
    end
    self:extend(values or {})
  end
  -- pl[i] = t for i in 1..#pl + 1: the tensor made a parameter (PyTorch's
  -- __setitem__ and append); other keys are plain fields. A negative index
  -- counts from the end, read or replaced (pl[-1] is the last), and 0 and
  -- fractions are an error, as Sequential's (container.lua's item): a
  -- ported pl[-1] read nil and pl[-1] = t was refused as out of range.
  local item = nn._list_item
  ParameterList._mt.__index = function(self, k)
    if type(k) == 'number' and (k <= 0 or k % 1 ~= 0) then
      return rawget(self, item(self, k, 'ParameterList', count))
    end
    return ParameterList[k]
  end
  ParameterList._mt.__newindex = function(self, k, v)
    if type(k) == 'number' then
      k = item(self, k, 'ParameterList', count)
      local n = count(self, 'ParameterList')
      if k % 1 ~= 0 or k < 1 or k > n + 1 then
        nl._raise(('ParameterList: index %s out of range for a list of %d (1 to %d, or %d to append)'):format(
          tostring(k), n, n, n + 1))
      end
      v = as_parameter('ParameterList', 'item ' .. k, v)
    end
    assign(self, k, v)
  end
  function ParameterList:append(t)
    ParameterList._mt.__newindex(self, count(self, 'ParameterList:append') + 1, t)
    return self
  end
  function ParameterList:extend(values)
    if type(values) ~= 'table' or getmetatable(values) ~= nil or not nl._list_len(values) then
      nl._argerror('ParameterList:extend', 'a list of tensors', values)
    end
    -- all checked before any is added
    local ps = {}
    for i, t in ipairs(values) do ps[i] = as_parameter('ParameterList', 'item ' .. i, t) end
    local n = count(self, 'ParameterList:extend')
    for i, p in ipairs(ps) do ParameterList._mt.__newindex(self, n + i, p) end
    return self
  end
  function ParameterList:_child_name(k) return type(k) == 'number' and tostring(k - 1) or tostring(k) end
  function ParameterList:size() return count(self, 'ParameterList') end
  ParameterList._mt.__len = function(self) return count(self, 'ParameterList') end
  function ParameterList:forward()
    nl._raise('ParameterList: a list has no forward; use its parameters in your own forward')
  end
  function ParameterList:structure()
    local items = {}
    for i = 1, count(self, 'ParameterList') do items[i] = like(rawget(self, i)) end
    return { type = 'ParameterList', args = { items }, n = 1 }
  end
  function ParameterList:repr(indent)
    indent = indent or ''
    local n = count(self, 'ParameterList')
    if n == 0 then return 'ParameterList()' end
    local lines = { 'ParameterList(' }
    for i = 1, n do lines[#lines + 1] = ('%s    (%d): %s'):format(indent, i - 1, param_line(rawget(self, i))) end
    lines[#lines + 1] = indent .. ')'
    return table.concat(lines, '\n')
  end

  -- ---- ParameterDict ----
  local ParameterDict = Module:extend('ParameterDict')
  nn.ParameterDict = ParameterDict
  local function holds_param(self, k) return self._params[k] ~= nil and nl.is_tensor(rawget(self, k)) end

  function ParameterDict:init(parameters) self:update(parameters) end
  ParameterDict._mt.__newindex = function(self, k, v)
    if v == nil and type(k) == 'string' and holds_param(self, k) then return remove_key(self, k) end
    if nl.is_tensor(v) then
      check_key('ParameterDict', self, ParameterDict, k, holds_param)
      v = as_parameter('ParameterDict', ("the value of '%s'"):format(k), v)
    end
    assign(self, k, v)
  end
  function ParameterDict:update(parameters)
    local items = pairs_of('ParameterDict', parameters, ParameterDict, 'tensor')
    for i, kv in ipairs(items) do
      check_key('ParameterDict', self, ParameterDict, kv[1], holds_param)
      items[i][2] = as_parameter('ParameterDict', ("the value of '%s'"):format(kv[1]), kv[2])
    end
    for _, kv in ipairs(items) do ParameterDict._mt.__newindex(self, kv[1], kv[2]) end
    return self
  end
  function ParameterDict:keys() return dict_keys(self, holds_param) end
  function ParameterDict:values()
    local out = {}
    for i, k in ipairs(self:keys()) do out[i] = rawget(self, k) end
    return out
  end
  function ParameterDict:items()
    local out = {}
    for i, k in ipairs(self:keys()) do out[i] = { k, rawget(self, k) } end
    return out
  end
  function ParameterDict:contains(k) return type(k) == 'string' and holds_param(self, k) end
  function ParameterDict:pop(k)
    if not self:contains(k) then
      nl._raise(('ParameterDict:pop: no parameter under the key %s'):format(nl._describe_arg(k)))
    end
    local p = rawget(self, k)
    remove_key(self, k)
    return p
  end
  function ParameterDict:clear()
    for _, k in ipairs(self:keys()) do remove_key(self, k) end
    return self
  end
  function ParameterDict:size() return #self:keys() end
  function ParameterDict:forward()
    nl._raise('ParameterDict: a dict has no forward; use its parameters in your own forward')
  end
  function ParameterDict:structure()
    local items = {}
    for i, kv in ipairs(self:items()) do items[i] = { kv[1], like(kv[2]) } end
    return { type = 'ParameterDict', args = { items }, n = 1 }
  end
  function ParameterDict:repr(indent)
    indent = indent or ''
    local items = self:items()
    if #items == 0 then return 'ParameterDict()' end
    local lines = { 'ParameterDict(' }
    for _, kv in ipairs(items) do lines[#lines + 1] = ('%s    (%s): %s'):format(indent, kv[1], param_line(kv[2])) end
    lines[#lines + 1] = indent .. ')'
    return table.concat(lines, '\n')
  end

  -- their own methods refuse arguments past their parameters, as the
  -- Module methods do (md:keys(1), pl:append(t, 2), pd:pop('a', 3)
  -- dropped them; PyTorch raises TypeError)
  local OWN = { init = true, forward = true, structure = true, repr = true }
  for _, cls in ipairs({ ModuleDict, ParameterList, ParameterDict }) do
    nl._guard_methods(cls, is_module, 'a module', 'm', OWN)
  end
end
