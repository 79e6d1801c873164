-- module.lua: nn.Module, the base of every layer. Parameters and
-- submodules are plain named fields, kept in the order they were assigned;
-- a subclass writes `init` (its constructor) and `forward`, autograd gives
-- backward. Also the class mechanism and the structure record that lets
-- nn.load rebuild a saved model.
return function(nl, nn)
  local ffi = require 'ffi'
  local Module = {}
  Module.__name = 'Module'
  nn.Module = Module
  nn._classes = { Module = Module }

  local function is_module(x) return type(x) == 'table' and getmetatable(x) ~= nil and x._is_module == true end
  nn.is_module = is_module

  -- the tensors nn.Parameter(t, false) made: parameters that do not
  -- require grad (a module registers a tensor assigned to it as a
  -- parameter when it is a leaf that requires grad, or one of these)
  local frozen = setmetatable({}, { __mode = 'k' })
  nn._frozen_params = frozen
  local function is_param(v) return nl.is_tensor(v) and ((v.is_requires_grad and v:is_leaf()) or frozen[v] ~= nil) end

  -- instance fields are recorded in assignment order
  local function newindex(self, k, v)
    -- a module or parameter named 'a.0' gave the state dict a name that
    -- another path also gives (a Sequential a's first layer): one tensor
    -- was lost in save and load. PyTorch's add_module refuses the same.
    if type(k) == 'string' and (k == '' or k:find('.', 1, true)) and (is_module(v) or is_param(v)) then
      nl._raise(("%s: a module or parameter needs a non-empty name without dots, got '%s'"):format(
        rawget(self, '__name') or self.__name, k))
    end
    rawset(self, k, v)
    local seen = rawget(self, '_seen')
    if v ~= nil and not seen[k] then
      seen[k] = true
      local order = rawget(self, '_order')
      order[#order + 1] = k
    end
    if is_param(v) then rawget(self, '_params')[k] = true end
  end

  -- ---- forward hooks, as PyTorch 1.13's ----
  -- m(...) runs the pre-hooks, forward, then the hooks; m:forward(...)
  -- runs none, as PyTorch's. An instance with hooks holds them in the raw
  -- field _fwd_hooks ({pre = list, post = list}; lists are replaced, never
  -- changed, so a hook that removes one while they run changes nothing
  -- until the next call); without them the call is forward alone.
  local unpack = unpack
  local function pack(...) return { n = select('#', ...), ... } end

  local function call_hooked(self, hk, ...)
    local args = pack(...)
    for _, h in ipairs(hk.pre) do
      local r = h.fn(self, args)
      -- a list is the arguments; another value, the one argument (PyTorch
      -- wraps a result that is not a tuple)
      if type(r) == 'table' and getmetatable(r) == nil then
        local n = r.n or table.maxn(r)
        args = { n = n, unpack(r, 1, n) }
      elseif r ~= nil then
        args = { n = 1, r }
      end
    end
    local res = pack(self:forward(unpack(args, 1, args.n)))
    -- the output hooks see: forward's one result, or the list of several
    local out = res
    if res.n <= 1 then out = res[1] end
    for _, h in ipairs(hk.post) do
      local r = h.fn(self, args, out)
      if r ~= nil then out = r end
    end
    if res.n <= 1 or type(out) ~= 'table' or getmetatable(out) ~= nil then return out end
    return unpack(out, 1, out.n or table.maxn(out))
  end

  -- arguments a forward has no parameter for are an error, as PyTorch's
  -- TypeError (nn.Linear(4, 2)(x, h) dropped h without a word); checked
  -- when a call passes more than one (trailing nils are absent ones)
  local forward_takes = setmetatable({}, { __mode = 'k' })   -- forward -> { most, '(names)' }, or false
  local function check_forward_args(self, n, ...)
    while n > 0 and select(n, ...) == nil do n = n - 1 end
    local f = self.forward
    if type(f) ~= 'function' then return end
    local takes = forward_takes[f]
    if takes == nil then
      local info = debug.getinfo(f, 'u')
      takes = false
      -- (a forward of no parameters is a stub that raises its own message:
      -- Module's, ModuleList's)
      if not info.isvararg and info.nparams > 1 then
        local names = {}
        for i = 2, info.nparams do names[#names + 1] = debug.getlocal(f, i) end
        takes = { info.nparams - 1, '(' .. table.concat(names, ', ') .. ')' }
      end
      forward_takes[f] = takes
    end
    if takes and n > takes[1] then
      nl._raise(('%s: forward: takes %s, got %d argument%s'):format(self.__name, takes[2], n, n == 1 and '' or 's'))
    end
  end

  local function make_mt(cls)
    return {
      __index = cls,
      __newindex = newindex,
      __call = function(self, ...)
        local n = select('#', ...)
        if n > 1 then check_forward_args(self, n, ...) end
        local hk = rawget(self, '_fwd_hooks')
        if hk == nil then return self:forward(...) end
        return call_hooked(self, hk, ...)
      end,
      -- (the tree and the parameter count; summary() is Keras's table)
      __tostring = function(self) return self:_describe() end,
    }
  end

  -- nn.Module:extend('Name') -> a new class; calling the class makes an
  -- instance and runs its init(...)
  function Module:extend(name)
    if type(name) ~= 'string' then nl._raise('Module:extend: expected a class name') end
    local cls = setmetatable({}, {
      __index = self,
      __call = function(c, ...) return c:new(...) end,
      __tostring = function(c) return 'nn.' .. c.__name end,
    })
    cls.__name = name
    cls._mt = make_mt(cls)
    nn._classes[name] = cls
    return cls
  end
  nn.class = function(name, parent, x_)
    if x_ ~= nil then nl._extra_arg('nn.class', x_) end
    return (parent or Module):extend(name)
  end

  -- whether module m is an instance of a class in the set classes or of a
  -- subclass (PyTorch's isinstance); a parametrized module, with a
  -- metatable of its own, counts as its class
  function nn._is_instance(m, classes)
    local info = rawget(m, '_parametrized')
    local cls = info and info.cls or getmetatable(m).__index
    while type(cls) == 'table' do
      if classes[cls] then return true end
      local mt = getmetatable(cls)
      cls = mt and mt.__index
    end
    return false
  end

  -- PyTorch's factory options dtype and device in a built-in module's
  -- options table (the last argument): init gets the table without them,
  -- then the module's float parameters and buffers are converted to dtype
  -- (its own recorded arguments keep them, so nn.load rebuilds the same).
  -- device must be 'cpu'; a module with nothing to convert refuses dtype
  -- as an unknown option, as PyTorch's parameterless ones do.
  local FLOAT = { float32 = true, float64 = true }
  local function factory_opts(cls, n, ...)
    local last = n > 0 and select(n, ...) or nil
    if not nn._builtin or not nn._builtin[cls] or type(last) ~= 'table' or getmetatable(last) ~= nil
       or (type(last.dtype) ~= 'string' and type(last.device) ~= 'string') then
      return nil
    end
    local rest = {}
    for k, v in pairs(last) do
      if k ~= 'dtype' and k ~= 'device' then rest[k] = v end
    end
    return rest, last.dtype, last.device
  end
  local function apply_factory(inst, name, dtype, device)
    if device ~= nil and device ~= 'cpu' then
      nl._raise(("%s: device must be 'cpu' (nnlua runs on the CPU), got %s"):format(name, nl._describe_arg(device)))
    end
    if dtype == nil then return end
    if not FLOAT[dtype] then
      nl._raise(("%s: dtype must be 'float32' or 'float64', got %s"):format(name, nl._describe_arg(dtype)))
    end
    -- (a lazy module keeps them for the plain module its first call makes)
    local lazy = rawget(inst, '_lazy')
    if lazy then
      lazy.factory = { dtype = dtype, device = device }
      return
    end
    local any = false
    for _, p in ipairs(inst:parameters()) do any = any or p:dtype() ~= 'int64' end
    for _, kv in ipairs(inst:named_buffers()) do any = any or kv[2]:dtype() ~= 'int64' end
    if not any then nl._raise(("%s: unknown option 'dtype'"):format(name)) end
    if nl._dtype_id(dtype, name) ~= nl._default_dtype_id() then inst:to(dtype) end
  end

  -- an instance of cls, built by its init(...)
  function Module.new(cls, ...)
    local inst = setmetatable({}, cls._mt)
    rawset(inst, '_order', {})
    rawset(inst, '_seen', {})
    rawset(inst, '_params', {})
    rawset(inst, '_buffers', {})
    rawset(inst, '_is_module', true)
    rawset(inst, 'training', true)
    rawset(inst, '_args', { n = select('#', ...), ... })
    local init = cls.init
    if init then
      -- arguments init has no parameter for are an error, as PyTorch's
      -- TypeError (nn.Linear(4, 3, {}, 7) dropped the 7 without a word)
      local n = select('#', ...)
      while n > 0 and select(n, ...) == nil do n = n - 1 end
      if n > 0 then
        local info = debug.getinfo(init, 'u')
        if not info.isvararg and n > info.nparams - 1 then
          nl._raise(('%s: takes at most %d argument%s, got %d'):format(cls.__name, info.nparams - 1,
            info.nparams == 2 and '' or 's', n))
        end
      end
      local rest, dtype, device = factory_opts(cls, n, ...)
      if rest then
        local args = { ... }
        args[n] = rest
        init(inst, unpack(args, 1, n))
        apply_factory(inst, cls.__name, dtype, device)
      else
        init(inst, ...)
      end
    end
    return inst
  end
  Module._mt = make_mt(Module)

  -- the handle register_forward_hook and register_forward_pre_hook give:
  -- remove() takes the hook off (again: nothing)
  local HookHandle = {}
  HookHandle.__index = HookHandle
  function HookHandle:remove()
    local m, kind, h = self._module, self._kind, self._hook
    local hk = rawget(m, '_fwd_hooks')
    if hk == nil then return end
    local list = {}
    for _, x in ipairs(hk[kind]) do if x ~= h then list[#list + 1] = x end end
    hk = { pre = hk.pre, post = hk.post }
    hk[kind] = list
    if #hk.pre == 0 and #hk.post == 0 then hk = nil end   -- the call is forward alone again
    rawset(m, '_fwd_hooks', hk)
  end

  local function add_forward_hook(self, kind, fn, op)
    if type(fn) ~= 'function' then nl._argerror(op, 'a function', fn) end
    local old = rawget(self, '_fwd_hooks') or { pre = {}, post = {} }
    local hk = { pre = old.pre, post = old.post }
    local list = {}
    for i, x in ipairs(old[kind]) do list[i] = x end
    local h = { fn = fn }
    list[#list + 1] = h
    hk[kind] = list
    rawset(self, '_fwd_hooks', hk)
    return setmetatable({ _module = self, _kind = kind, _hook = h }, HookHandle)
  end
  -- fn(module, args) before each m(...): args is the list of the call's
  -- arguments (args.n of them); a list returned is the arguments forward
  -- gets, another value its one argument, nil keeps them. Returns a handle.
  function Module:register_forward_pre_hook(fn)
    return add_forward_hook(self, 'pre', fn, 'register_forward_pre_hook')
  end
  -- fn(module, args, output) after each m(...)'s forward: output is what
  -- forward returned (a list of its results when it returned several); a
  -- value returned replaces it (a list, several results), nil keeps it.
  -- Returns a handle.
  function Module:register_forward_hook(fn)
    return add_forward_hook(self, 'post', fn, 'register_forward_hook')
  end
  -- PyTorch's module backward hooks (register_full_backward_hook) are not
  -- here: they see the gradients of all of a call's inputs at once, which
  -- needs an op over all of them, where this tape has tensor hooks, one
  -- tensor at a time (register a hook on the inputs or the output instead)
  function Module:register_full_backward_hook(...)   -- (any arguments: refused below, whatever they are)
    nl._raise('register_full_backward_hook: module backward hooks are not supported; register tensor hooks on '
              .. 'the inputs or the output (t:register_hook) in a forward hook instead')
  end
  Module.register_backward_hook = Module.register_full_backward_hook

  function Module:init() end
  function Module:forward()
    nl._raise(self.__name .. ': forward is not implemented (a subclass of nn.Module writes forward)')
  end

  -- a buffer: state kept with the model that is not a parameter; saved in
  -- the state dict unless persistent is false (PyTorch's flag, as false or
  -- {persistent = false}: it was ignored, and a buffer PyTorch leaves out of
  -- its state dict made either side's strict load fail)
  function Module:register_buffer(name, t, persistent)
    -- as PyTorch's: a name that is a string without dots and not already a
    -- field, method or parameter; a tensor or nil (5 was taken and left
    -- out of the state dict; 'forward' hid the method)
    if type(name) ~= 'string' or name == '' or name:find('.', 1, true) then
      nl._raise('register_buffer: the name must be a non-empty string without dots, got ' .. tostring(name))
    end
    if t ~= nil and not nl.is_tensor(t) then
      nl._raise(('register_buffer: %s must be a tensor or nil, got %s'):format(name, type(t)))
    end
    if (rawget(self, name) ~= nil and not self._buffers[name]) or (rawget(self, name) == nil and self[name] ~= nil) then
      nl._raise(('register_buffer: %s already names a field, method, parameter or module'):format(name))
    end
    if type(persistent) == 'table' then
      nl._check_opts('register_buffer', persistent, { persistent = 1 })
      persistent = persistent.persistent
    end
    if persistent ~= nil and type(persistent) ~= 'boolean' then
      nl._argerror('register_buffer', 'a boolean persistent flag', persistent)
    end
    self._buffers[name] = persistent == false and 'transient' or true
    newindex(self, name, t)
    self._params[name] = nil
  end

  -- (name, value) pairs of direct children: submodules
  -- each child once, under its first name, as PyTorch's
  function Module:named_children()
    local out, seen = {}, {}
    for _, k in ipairs(self._order) do
      local v = rawget(self, k)
      if is_module(v) and not seen[v] then
        seen[v] = true
        out[#out + 1] = { self:_child_name(k), v }
      end
    end
    return out
  end
  function Module:_child_name(k) return tostring(k) end
  function Module:children()
    local out = {}
    for _, kv in ipairs(self:named_children()) do out[#out + 1] = kv[2] end
    return out
  end

  -- {name, tensor} pairs in order, names dotted through submodules;
  -- want_buffers 'persistent' leaves out those registered persistent = false
  local function collect(self, prefix, out, want_params, want_buffers)
    -- (a lazy module, lazy.lua's, has none until its first call)
    if rawget(self, '_lazy') then nn._lazy_refuse(self, prefix:sub(1, -2)) end
    for _, k in ipairs(self._order) do
      local v = rawget(self, k)
      if v ~= nil then
        local name = prefix .. self:_child_name(k)
        if is_module(v) then
          collect(v, name .. '.', out, want_params, want_buffers)
        elseif nl.is_tensor(v) and ((want_params and self._params[k])
               or (want_buffers and self._buffers[k] and not (want_buffers == 'persistent' and self._buffers[k] == 'transient'))) then
          out[#out + 1] = { name, v }
        end
      end
    end
    return out
  end

  -- each tensor once, under the first name that reaches it, as PyTorch's:
  -- a module used twice (tied weights) listed its tensors twice, so the
  -- count doubled and an optimizer refused the list
  local function unique(pairs_list)
    local out, seen = {}, {}
    for _, kv in ipairs(pairs_list) do
      local key = tonumber(ffi.cast('uintptr_t', kv[2].ptr))   -- (no string made: train_on_batch asks each call)
      if not seen[key] then
        seen[key] = true
        out[#out + 1] = kv
      end
    end
    return out
  end

  function Module:named_parameters() return unique(collect(self, '', {}, true, false)) end
  function Module:parameters()
    local out = {}
    for _, kv in ipairs(self:named_parameters()) do out[#out + 1] = kv[2] end
    return out
  end
  function Module:named_buffers() return unique(collect(self, '', {}, false, true)) end
  function Module:num_parameters()
    local n = 0
    for _, p in ipairs(self:parameters()) do n = n + p:numel() end
    return n
  end

  -- {name, module} pairs: self (named '') and every submodule, each once
  -- under its first dotted name, as PyTorch's named_modules
  function Module:named_modules()
    local out, seen = {}, {}
    local function walk(m, path)
      if seen[m] then return end
      seen[m] = true
      out[#out + 1] = { path, m }
      for _, kv in ipairs(m:named_children()) do walk(kv[2], path == '' and kv[1] or path .. '.' .. kv[1]) end
    end
    walk(self, '')
    return out
  end
  -- self and every submodule, each once, in named_modules' order without
  -- making its names (m:train() walks them at each train_on_batch)
  function Module:modules()
    local out, seen = {}, {}
    local function walk(m)
      seen[m] = true
      out[#out + 1] = m
      for _, k in ipairs(m._order) do
        local v = rawget(m, k)
        if is_module(v) and not seen[v] then walk(v) end
      end
    end
    walk(self)
    return out
  end
  -- fn on every module, children before their parent, as PyTorch's (an
  -- init that sets a block's weights after its layers' own keeps them);
  -- a module shared by two parents once (PyTorch: once per parent)
  function Module:apply(fn)
    if type(fn) ~= 'function' then nl._argerror('apply', 'a function', fn) end
    local seen = {}
    local function walk(m)
      if seen[m] then return end
      seen[m] = true
      for _, c in ipairs(m:children()) do walk(c) end
      fn(m)
    end
    walk(self)
    return self
  end

  function Module:train(mode)
    if mode == nil then mode = true end
    -- as PyTorch's: train(0) kept training mode (0 is true in Lua)
    if type(mode) ~= 'boolean' then nl._argerror('train', 'a boolean mode', mode) end
    for _, m in ipairs(self:modules()) do rawset(m, 'training', mode) end
    return self
  end
  function Module:eval() return self:train(false) end

  -- set_to_none = false keeps each gradient as zeros (it was ignored), as
  -- the optimizers' zero_grad does; a gradient with a graph (backward with
  -- create_graph) is detached first, as PyTorch's (it kept its graph)
  function Module:zero_grad(set_to_none)
    if set_to_none ~= nil and type(set_to_none) ~= 'boolean' then
      nl._argerror('zero_grad', 'a boolean set_to_none', set_to_none)
    end
    for _, p in ipairs(self:parameters()) do
      if set_to_none == false then
        local g = p.grad
        if g ~= nil then
          if g.is_requires_grad then
            g = g:detach()
            p.grad = g
          end
          nl.no_grad(function() g:zero_() end)
        end
      else
        p.grad = nil
      end
    end
  end

  -- name -> tensor of parameters and buffers, each detached as PyTorch's
  -- (sharing the values: sd.weight:fill_(0) changes the model, without the
  -- in-place error of a tensor that requires grad; they were the tensors
  -- themselves); opts, PyTorch's keywords: prefix (put before every name),
  -- destination (a table the entries go into, which is returned) and
  -- keep_vars (true: the tensors themselves, with their .grad)
  function Module:state_dict(opts, ...)
    nl._no_extra_args('state_dict', '({prefix, destination, keep_vars})', nil, ...)
    opts = nl._opts('state_dict', opts)
    nl._check_opts('state_dict', opts, { prefix = 1, destination = 1, keep_vars = 1 })
    local prefix, sd, keep = opts.prefix or '', opts.destination or {}, opts.keep_vars
    if type(prefix) ~= 'string' then nl._argerror('state_dict', 'prefix as a string', prefix) end
    if type(sd) ~= 'table' or getmetatable(sd) ~= nil then
      nl._argerror('state_dict', 'destination as a table', sd)
    end
    if keep ~= nil and type(keep) ~= 'boolean' then nl._argerror('state_dict', 'a boolean keep_vars', keep) end
    for _, kv in ipairs(collect(self, prefix, {}, true, 'persistent')) do
      sd[kv[1]] = keep and kv[2] or kv[2]:detach()
    end
    return sd
  end
  function Module:state_names()
    local names = {}
    for _, kv in ipairs(collect(self, '', {}, true, 'persistent')) do names[#names + 1] = kv[1] end
    return names
  end

  -- copies sd's values into this module's tensors; strict: the names must
  -- match exactly, and the shapes always. Returns the module, then
  -- PyTorch's result: {missing_keys = {...} (the model's order),
  -- unexpected_keys = {...} (sorted)}, which strict = false leaves to the
  -- caller (the module first, as before, so that calls chain)
  function Module:load_state_dict(sd, strict)
    if type(sd) ~= 'table' then nl._raise('load_state_dict: expected a table of tensors') end
    -- strict as a flag or {strict = flag}, as every other option (a table
    -- was taken as true)
    if type(strict) == 'table' then
      nl._check_opts('load_state_dict', strict, { strict = 1 })
      strict = strict.strict
    end
    if strict == nil then strict = true end
    if type(strict) ~= 'boolean' then nl._argerror('load_state_dict', 'a boolean strict', strict) end
    local apply, missing, unexpected = self:_load_plan(sd, strict)
    apply()
    return self, { missing_keys = missing, unexpected_keys = unexpected }
  end

  -- load_state_dict's checks of sd (strict: a boolean), all made before
  -- anything is copied (a shape that did not fit raised with the tensors
  -- before it copied): a function that copies sd in, and the missing and
  -- unexpected keys. fit's resume checks the weights this way before it
  -- loads the optimizer, and copies them after.
  function Module:_load_plan(sd, strict)
    local own = collect(self, '', {}, true, 'persistent')
    local missing, seen, copies, zeroed = {}, {}, {}, {}
    for _, kv in ipairs(own) do
      local name, t = kv[1], kv[2]
      local src = sd[name]
      seen[name] = true
      if src == nil and name:match('num_batches_tracked$') and t:dtype() == 'int64' and t:dim() == 0 then
        -- a BatchNorm state dict without the counter (older and converted
        -- checkpoints), as PyTorch loads it: the counter starts at 0
        zeroed[#zeroed + 1] = t
      elseif src == nil then
        missing[#missing + 1] = name
      else
        if not nl.is_tensor(src) then nl._raise('load_state_dict: ' .. name .. ' is not a tensor') end
        local a, b = nl._shape_str(t), nl._shape_str(src)
        if a ~= b then
          nl._raise(('load_state_dict: %s has shape %s in the model and %s in the state dict'):format(name, a, b))
        end
        copies[#copies + 1] = { t, src }
      end
    end
    local unexpected = {}
    for k in pairs(sd) do if not seen[k] then unexpected[#unexpected + 1] = k end end
    -- (by their text: number and string keys made sort raise "attempt to compare")
    for i, k in ipairs(unexpected) do unexpected[i] = tostring(k) end
    table.sort(unexpected)
    if strict and (#missing > 0 or #unexpected > 0) then
      nl._raise(('load_state_dict: missing keys {%s}, unexpected keys {%s}'):format(
        table.concat(missing, ', '), table.concat(unexpected, ', ')))
    end
    local function apply()
      nl.no_grad(function()
        for _, t in ipairs(zeroed) do t:zero_() end
        for _, c in ipairs(copies) do c[1]:copy_(c[2]) end
      end)
    end
    return apply, missing, unexpected
  end

  -- converts parameters and buffers to dtype: new leaf tensors where the
  -- dtype changes (an optimizer must be built after, as PyTorch asks for
  -- .cuda()). A tensor held in two places (tied weights) becomes one new
  -- tensor held in both, a frozen parameter stays frozen, and one already
  -- of the dtype is kept (each was replaced: ties came apart and frozen
  -- weights thawed).
  -- dtype_of(name, tensor) gives each floating tensor's dtype by its
  -- state-dict name (nn.load gives a rebuilt model the saved dtypes).
  local function convert(self, dtype_of)
    local done = {}
    local function walk(m, prefix)
      for _, k in ipairs(m._order) do
        local v = rawget(m, k)
        local name = prefix .. m:_child_name(k)
        if is_module(v) then
          walk(v, name .. '.')
        elseif nl.is_tensor(v) and v:dtype() ~= 'int64' and (m._params[k] or m._buffers[k]) then
          local dtype = dtype_of(name, v)
          if dtype and dtype ~= 'int64' and v:dtype() ~= dtype then
            local key = tostring(ffi.cast('void *', v.ptr))
            local c = done[key]
            if not c then
              c = v:detach():to(dtype):clone()
              if m._params[k] and v.is_requires_grad then c:requires_grad() end
              done[key] = c
            end
            rawset(m, k, c)
          end
        end
      end
    end
    walk(self, '')
    return self
  end
  nn._convert = convert
  function Module:double() return convert(self, function() return 'float64' end) end
  function Module:float() return convert(self, function() return 'float32' end) end

  -- ---- structure (for nn.load) and printing ----

  -- a table's keys in a fixed order (arrays ascending, then strings
  -- sorted), so that a module met twice is first met in the same place
  -- when the structure is written and when it is rebuilt
  local function ordered_keys(t)
    local nums, strs = {}, {}
    for k in pairs(t) do
      if type(k) == 'number' then nums[#nums + 1] = k else strs[#strs + 1] = tostring(k) end
    end
    table.sort(nums)
    table.sort(strs)
    for _, k in ipairs(strs) do nums[#nums + 1] = k end
    return nums
  end
  nn._ordered_keys = ordered_keys

  -- A module as a constructor argument: { module = structure } where it is
  -- first met, { module_ref = id } where it is met again (one module used
  -- twice, as Sequential(l, act, l): its weights are one tensor, and
  -- nn.load must give one module back, not two). seen maps each module
  -- met so far to its id.
  local function record_module(m, seen)
    local id = seen[m]
    if id then return { module_ref = id } end
    seen.n = seen.n + 1
    id = seen.n
    seen[m] = id
    local st = m:structure(seen)
    st.id = id
    -- weight_norm and spectral_norm, applied again after the rebuild (param_norm.lua)
    st.param_norms = nn._param_norm_record(m)
    -- register_parametrization's, registered again too (parametrize.lua)
    if rawget(m, '_parametrize_log') then
      st.parametrizations = nn._parametrize_record(m, function(p) return record_module(p, seen) end)
    end
    -- nn.utils.prune's pruned tensors, pruned again (prune.lua)
    if rawget(m, '_prune_order') then st.prune = nn._prune_record(m) end
    return { module = st }
  end
  nn._record_module = function(m) return record_module(m, { n = 0 }).module end

  -- A constructor argument as JSON can hold it: plain values, modules, and
  -- tables of them. Anything else (a function, a tensor, a table with a
  -- metatable or mixed keys) raises { unrecordable = why }: the caller
  -- saves the weights without a structure and says why. The one tensor
  -- recorded is one that the module's constructor only stored as a
  -- persistent buffer, as the losses' class weights, and named in the
  -- instance's _arg_buffers (argument tensor -> buffer name): it is
  -- recorded as { tensor_like = { shape, dtype } } of the buffer now (a
  -- :double() replaces the buffer, not the argument), rebuilt as zeros, and
  -- the state dict fills it (CrossEntropyLoss{weight = w} could be neither
  -- saved with its structure nor cloned).
  local function record_value(v, seen, what, own)
    if is_module(v) then return record_module(v, seen) end
    if own and own[v] then
      return { tensor_like = { shape = own[v]:shape(), dtype = own[v]:dtype() } }
    end
    local tv = type(v)
    if tv == 'nil' or tv == 'boolean' or tv == 'number' or tv == 'string' then return v end
    if tv == 'table' and getmetatable(v) == nil then
      local out, n, items, names = {}, #v, 0, 0
      for k in pairs(v) do
        if type(k) == 'string' then names = names + 1
        elseif type(k) == 'number' and k >= 1 and k <= n and k % 1 == 0 then items = items + 1
        else items = -1 end
      end
      if items ~= n or (n > 0 and names > 0) then
        error({ unrecordable = what .. ' is a table that is neither a list 1..n nor a table of names' })
      end
      for _, k in ipairs(ordered_keys(v)) do out[k] = record_value(v[k], seen, what, own) end
      return out
    end
    error({ unrecordable = what .. ' is a ' .. (nl.is_tensor(v) and 'tensor' or tv) })
  end

  -- what rebuilds this module: its class name and constructor arguments
  function Module:structure(seen)
    seen = seen or { n = 0 }
    local args = {}
    local a = self._args
    local own
    local ab = rawget(self, '_arg_buffers')
    if ab then
      own = {}
      for t, k in pairs(ab) do
        local b = rawget(self, k)
        if self._buffers[k] == true and nl.is_tensor(b) then own[t] = b end
      end
    end
    for i = 1, a.n do
      args[i] = record_value(a[i], seen, ("%s's constructor argument %d"):format(self.__name, i), own)
    end
    return { type = self.__name, args = args, n = a.n }
  end

  function Module:extra_repr() return '' end

  -- the input's dtype against a layer's weights' (wdt), naming the module
  -- and the conversion that fixes it (a mismatch said only 'matmul:
  -- dtypes float64 and float32 differ', or was promoted silently); what:
  -- the input's name in the message ('input' when nil)
  function nn._check_input_dtype(name, x, wdt, what)
    if x:dtype() ~= wdt then
      local conv = wdt == 'float64' and 'double' or 'float'
      nl._raise(('%s: %s of dtype %s for a layer of %s weights (convert %s)'):format(name, what or 'input',
        x:dtype(), wdt, x:dtype() == 'int64' and ('the input: x:' .. conv .. '()')
          or ('one: x:' .. conv .. '(), or the layer with :' .. (conv == 'float' and 'double' or 'float') .. '()')))
    end
  end

  -- Module's methods, once every file has added its own (fit, save, ...),
  -- check that they were called on a module (m.parameters(), a dot for a
  -- colon, failed inside)
  local UNGUARDED = { new = true, extend = true, init = true, forward = true, structure = true, extra_repr = true,
                      repr = true }
  function nn._guard_module_methods() nl._guard_methods(Module, is_module, 'a module', 'm', UNGUARDED) end

  local function group(n)
    local s = tostring(n)
    local out = s:reverse():gsub('(%d%d%d)', '%1,'):reverse()
    return (out:gsub('^,', ''))
  end
  nn._group_digits = group

  function Module:repr(indent)
    indent = indent or ''
    -- every child entry, a shared one under each name, as PyTorch prints them
    local kids = {}
    for _, k in ipairs(self._order) do
      local v = rawget(self, k)
      if is_module(v) then kids[#kids + 1] = { self:_child_name(k), v } end
    end
    local head = self.__name .. '(' .. self:extra_repr()
    if #kids == 0 then return head .. ')' end
    local lines = { head }
    for _, kv in ipairs(kids) do
      lines[#lines + 1] = indent .. '  (' .. kv[1] .. '): ' .. kv[2]:repr(indent .. '  ')
    end
    lines[#lines + 1] = indent .. ')'
    return table.concat(lines, '\n')
  end

  function Module:_describe()
    if nn._has_lazy and nn._has_lazy(self) then return self:repr() .. '\nparameters: not made yet (a lazy module)' end
    local n = self:num_parameters()
    return self:repr() .. '\n' .. ('parameters: %s'):format(group(n))
  end
end
