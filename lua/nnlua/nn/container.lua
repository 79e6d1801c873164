-- container.lua: nn.Sequential and nn.ModuleList. Children are indexed
-- from 1 in Lua; their names in state dicts count from 0, as PyTorch's do,
-- so weights move between the two by name.
return function(nl, nn)
  local Module = nn.Module

  -- the number of items, 1..n: the container's own numbered children
  -- (#self._order counted every field ever set, so a plain s.name = 'x'
  -- made forward call a nil and add leave a hole); a hole is an error
  local function count(self, op)
    local n = 0
    for _, k in ipairs(self._order) do
      if type(k) == 'number' and k > n and rawget(self, k) ~= nil then n = k end
    end
    for i = 1, n do
      if not nn.is_module(rawget(self, i)) then
        nl._raise(('%s: item %d is %s; the items must be modules numbered 1 to %d'):format(op, i,
          rawget(self, i) == nil and 'nil' or 'not a module', n))
      end
    end
    return n
  end

  -- n: the list's length counting nils (ipairs stopped at the first, and
  -- the modules after a nil were dropped without a word)
  -- the count add_children left, where it still holds (items set by hand
  -- since are counted again): building by add was quadratic, a count each
  local function count_at_end(self, op)
    local n, keys = rawget(self, '_n'), rawget(self, '_n_keys')
    -- no key set since (an item set by hand past the end grows _order: a
    -- later add filled the gap before it)
    if n and keys == #self._order and rawget(self, n + 1) == nil and (n == 0 or rawget(self, n) ~= nil) then
      return n
    end
    return count(self, op)
  end

  local function add_children(self, list, op, n)
    local at = count_at_end(self, op)
    for i = 1, n or table.maxn(list) do
      local m = list[i]
      if not nn.is_module(m) then
        nl._raise(('%s: argument %d is not a module (%s)'):format(op, i, type(m)))
      end
      at = at + 1
      self[at] = m
    end
    rawset(self, '_n', at)
    rawset(self, '_n_keys', #self._order)
  end

  local Sequential = Module:extend('Sequential')
  nn.Sequential = Sequential

  function Sequential:init(...)
    add_children(self, { ... }, 'Sequential', select('#', ...))
  end
  function Sequential:_child_name(k) return type(k) == 'number' and tostring(k - 1) or tostring(k) end
  function Sequential:add(m)
    add_children(self, { m }, 'Sequential:add', 1)
    return self
  end
  -- ReLU then MaxPool2d runs as MaxPool2d then ReLU: the same values and
  -- gradients (ReLU keeps order, so the largest of the ReLUs is the ReLU
  -- of the largest, and the gradient reaches the same element), but ReLU
  -- forward and backward then pass over the pooled tensor, a quarter of a
  -- conv layer's output for 2x2 pools, not the whole of it.
  local function pool_first(a, b)
    return b ~= nil and getmetatable(a) == nn.ReLU._mt and getmetatable(b) == nn.MaxPool2d._mt
      and not b.return_indices and rawget(a, 'forward') == nil and rawget(b, 'forward') == nil
      and rawget(a, '_fwd_hooks') == nil and rawget(b, '_fwd_hooks') == nil
  end

  -- Conv2d, then MaxPool2d(2) with a ReLU before it, after it or none, runs
  -- as one op (nl_conv2d_pool, the same values and gradients): the pooling
  -- and ReLU work on each block of the convolution's output while it is in
  -- cache. Returns how many modules from i it takes (0: none) and whether
  -- the ReLU is one of them.
  -- (a module with forward hooks runs as itself, so that they see its own
  -- input and output)
  local function plain(m, cls)
    return m ~= nil and getmetatable(m) == cls._mt and rawget(m, 'forward') == nil and rawget(m, '_fwd_hooks') == nil
  end
  local function pool2(m)
    return plain(m, nn.MaxPool2d) and not m.return_indices and not m.ceil_mode and m.kernel_size[1] == 2
      and m.kernel_size[2] == 2 and m.stride[1] == 2 and m.stride[2] == 2 and m.padding[1] == 0
      and m.padding[2] == 0 and m.dilation[1] == 1 and m.dilation[2] == 1
  end
  local function conv_pool(self, i, x)
    local m = rawget(self, i)
    if not plain(m, nn.Conv2d) or m._extend or m.padding_mode ~= 'zeros' or not nl.is_tensor(x) or x:dim() ~= 4 then return 0 end
    local a, b = rawget(self, i + 1), rawget(self, i + 2)
    if plain(a, nn.ReLU) and pool2(b) then return 3, true end
    if pool2(a) then
      if plain(b, nn.ReLU) then return 3, true end
      return 2, false
    end
    return 0
  end

  -- Linear then ReLU on 2-D input: one op (nl_linear), the ReLU applied to
  -- the product's tiles as they are stored
  local function linear_relu(m, nxt, x)
    return plain(m, nn.Linear) and plain(nxt, nn.ReLU) and nl.is_tensor(x) and x:dim() == 2
  end

  function Sequential:forward(x, ...)
    -- (the items after the first take what the one before gave: a second
    -- argument has nowhere to go; it was dropped)
    if select('#', ...) > 0 then nl._no_extra_args('Sequential: forward', '(input)', nil, ...) end
    local i, n = 1, count(self, 'Sequential')
    -- a module under a name runs in PyTorch's Sequential, here never: said
    for _, k in ipairs(self._order) do
      if type(k) ~= 'number' and nn.is_module(rawget(self, k)) then
        nl._raise(("Sequential: the module under the name '%s' would not run; a Sequential runs its items "
                   .. '1 to %d: add it with s:add(m)'):format(tostring(k), n))
      end
    end
    while i <= n do
      local m, nxt = rawget(self, i), rawget(self, i + 1)
      local fused, relu = conv_pool(self, i, x)
      if fused > 0 then
        x = m:_forward_pool(x, relu)
        i = i + fused
      elseif linear_relu(m, nxt, x) then
        x = m:_forward_relu(x)
        i = i + 2
      elseif pool_first(m, nxt) then
        x = m(nxt(x))
        i = i + 2
      else
        x = m(x)
        i = i + 1
      end
    end
    return x
  end
  function Sequential:__len() return count(self, 'Sequential') end
  function Sequential:size() return count(self, 'Sequential') end
  -- recorded as the constructor call Sequential(child1, child2, ...) would
  -- be: Module.structure over those arguments
  function Sequential:structure(seen)
    local args = { n = count(self, 'Sequential') }
    for i = 1, args.n do args[i] = rawget(self, i) end
    return Module.structure({ __name = 'Sequential', _args = args }, seen)
  end
  Sequential._mt.__len = function(self) return count(self, 'Sequential') end

  local ModuleList = Module:extend('ModuleList')
  nn.ModuleList = ModuleList

  function ModuleList:init(list)
    if list ~= nil and (type(list) ~= 'table' or getmetatable(list) ~= nil) then
      nl._argerror('ModuleList', 'a list of modules', list)
    end
    -- a module under a name was dropped without a word
    for k in pairs(list or {}) do
      if type(k) ~= 'number' then
        nl._raise(("ModuleList: expected a list of modules, got one under the key %s (ModuleDict holds named "
                   .. 'modules)'):format(nl._describe_arg(k)))
      end
    end
    add_children(self, list or {}, 'ModuleList')
  end
  ModuleList._child_name = Sequential._child_name
  function ModuleList:append(m)
    add_children(self, { m }, 'ModuleList:append', 1)
    return self
  end
  function ModuleList:forward()
    nl._raise('ModuleList: a list has no forward; iterate over it in your own forward')
  end
  -- recorded as ModuleList({child1, child2, ...}) would be
  function ModuleList:structure(seen)
    local kids = {}
    for i = 1, count(self, 'ModuleList') do kids[i] = rawget(self, i) end
    return Module.structure({ __name = 'ModuleList', _args = { n = 1, kids } }, seen)
  end
  ModuleList._mt.__len = function(self) return count(self, 'ModuleList') end
  function ModuleList:size() return count(self, 'ModuleList') end

  -- items by number, as PyTorch's: a negative index counts from the end
  -- (s[-1] is the last item, read or replaced); 0 and fractions are an
  -- error naming the 1-based count (a ported s[0] = m made a child named
  -- '-1' that never ran and s[-1] = m one named '-2', both in the state
  -- dict; s[0] read nil). Past the end, a read is nil and a write appends
  -- (or leaves a hole, which forward names), as before. count_of is the
  -- list's own count (ParameterList's, container_dict.lua, takes it too).
  local function item(self, k, op, count_of)
    if k ~= math.floor(k) or k == 0 then
      nl._raise(("%s: index %s is not an item: items count from 1 (PyTorch's [0] is [1] here), negative ones "
                 .. 'from the end'):format(op, tostring(k)))
    end
    if k > 0 then return k end
    local n = (count_of or count)(self, op)
    if k < -n then nl._raise(('%s: index %d out of range for %d items'):format(op, k, n)) end
    return n + 1 + k
  end
  for _, cls in ipairs({ Sequential, ModuleList }) do
    local mt, op, set = cls._mt, cls.__name, cls._mt.__newindex
    mt.__index = function(self, k)
      if type(k) == 'number' and (k <= 0 or k ~= math.floor(k)) then return rawget(self, item(self, k, op)) end
      return cls[k]
    end
    mt.__newindex = function(self, k, v)
      if type(k) == 'number' then k = item(self, k, op) end
      return set(self, k, v)
    end
  end
  nn._list_item = item

  -- removes item i (the last by default, Keras's Sequential.pop();
  -- negative counts from the end, as PyTorch's pop(-1)) and returns it;
  -- the items after it move down one, their state dict names with them,
  -- as PyTorch renumbers them
  local function pop(self, i, op)
    local n = count(self, op)
    if n == 0 then nl._raise(op .. ': the container is empty') end
    if i == nil then i = n end
    if type(i) ~= 'number' then nl._argerror(op, 'an item index', i) end
    i = item(self, i, op)
    if i > n then nl._raise(('%s: index %d out of range for %d items'):format(op, i, n)) end
    local m = rawget(self, i)
    for j = i, n - 1 do rawset(self, j, rawget(self, j + 1)) end
    rawset(self, n, nil)
    rawget(self, '_seen')[n] = nil
    local order = rawget(self, '_order')
    for k = #order, 1, -1 do
      if order[k] == n then table.remove(order, k) end
    end
    rawset(self, '_n', n - 1)
    rawset(self, '_n_keys', #order)
    return m
  end
  function Sequential:pop(i, ...)
    nl._no_extra_args('Sequential:pop', '([index])', nil, ...)
    return pop(self, i, 'Sequential:pop')
  end
  function ModuleList:pop(i, ...)
    nl._no_extra_args('ModuleList:pop', '([index])', nil, ...)
    return pop(self, i, 'ModuleList:pop')
  end
end
