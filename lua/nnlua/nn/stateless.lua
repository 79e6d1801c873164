-- stateless.lua: nn.utils.stateless.functional_call, PyTorch 1.13's
-- torch.nn.utils.stateless.functional_call: a module called with other
-- tensors in place of some of its parameters and buffers, by their dotted
-- names, for that one call. It does not copy the module or its tensors.
-- Loaded on first use (nn/init.lua).
--
--   local out = nn.utils.stateless.functional_call(model, { ['0.weight'] = w }, x)
--   local gw = nl.autograd.grad(out:sum(), { w })[1]
return function(nl, nn)
  local utils = nn.utils
  local raise, is_module = nl._raise, nn.is_module
  local unpack = unpack
  local stateless = {}
  utils.stateless = stateless

  local OP = 'functional_call'

  -- the field of m whose name (as the state dict writes it) is atom: a
  -- Sequential's '0' is its field 1; nil when m has none
  local function field_of(m, atom)
    for _, k in ipairs(m._order) do
      if rawget(m, k) ~= nil and m:_child_name(k) == atom then return k end
    end
    -- a buffer registered as nil holds no value, and so is in no order
    if m._buffers[atom] then return atom end
    return nil
  end

  -- the names of what m holds of a kind, for a message
  local function listed(m, want)
    local names = {}
    for _, k in ipairs(m._order) do
      local v = rawget(m, k)
      if want == 'module' and is_module(v) or want == 'tensor' and nl.is_tensor(v) then
        names[#names + 1] = m:_child_name(k)
      end
    end
    return #names == 0 and 'none' or table.concat(names, ', ')
  end

  -- where name points in module: the module that holds the tensor and
  -- its field there, or an error naming name and the step that fails.
  -- The field may hold a parameter, a buffer (one registered as nil too),
  -- another tensor (PyTorch swaps any attribute), or be a parametrized
  -- tensor (nn.utils.parametrize's: the value the module computes is
  -- replaced, as PyTorch's, its originals are not).
  local function slot_of(module, name)
    local m, at = module, ''
    local atoms = {}
    for atom in (name .. '.'):gmatch('([^.]*)%.') do atoms[#atoms + 1] = atom end
    local function where() return m.__name .. (at == '' and '' or (" '" .. at .. "'")) end
    for i = 1, #atoms - 1 do
      local k = field_of(m, atoms[i])
      local v = k ~= nil and rawget(m, k) or nil
      if not is_module(v) then
        raise(("%s: no parameter or buffer '%s' in the module: %s has no submodule '%s' (its submodules: %s)")
              :format(OP, name, where(), atoms[i], listed(m, 'module')))
      end
      m = v
      at = at == '' and atoms[i] or (at .. '.' .. atoms[i])
    end
    local atom = atoms[#atoms]
    local k = field_of(m, atom)
    if k ~= nil and (nl.is_tensor(rawget(m, k)) or m._buffers[k]) then return m, k end
    local pd = rawget(m, 'parametrizations')
    if k == nil and rawget(m, '_parametrized') and pd ~= nil and rawget(pd, atom) ~= nil then return m, atom end
    raise(("%s: no parameter or buffer '%s' in the module: %s has no tensor '%s' (its tensors: %s)")
          :format(OP, name, where(), atom, listed(m, 'tensor')))
  end

  -- functional_call(module, parameters_and_buffers, [args], [kwargs]):
  -- module(args...) with each tensor of parameters_and_buffers (dotted
  -- name -> tensor) in place of the module's own of that name, as PyTorch
  -- 1.13's; the module's own are back after the call, also when it
  -- raises. args: a tensor (the one argument) or a list of the arguments
  -- (args.n of them, where given); kwargs, a table, is passed after them
  -- (nnlua's modules take options as a last table). Gradients flow to the
  -- tensors given, not to the module's own, and a buffer given is the one
  -- that training mode updates in place (BatchNorm's running statistics).
  -- A name reaches one module's field: a module used twice (Sequential(l,
  -- act, l)) has its tensor replaced at both uses under either name, and a
  -- tensor two modules share (tied weights) only in the module named, as
  -- in PyTorch 1.13. A name the module has no tensor of is an error (1.13
  -- raises for a missing submodule, and ignores an unknown last name).
  function stateless.functional_call(module, parameters_and_buffers, args, kwargs, ...)
    nl._no_extra_args(OP, '(module, parameters_and_buffers, [args], [kwargs])', nil, ...)
    if not is_module(module) then nl._argerror(OP, 'a module', module) end
    local pb = parameters_and_buffers
    if type(pb) ~= 'table' or getmetatable(pb) ~= nil then
      nl._argerror(OP, 'parameters_and_buffers as a table of dotted name -> tensor', pb)
    end
    if kwargs ~= nil and (type(kwargs) ~= 'table' or getmetatable(kwargs) ~= nil) then
      nl._argerror(OP, 'kwargs as a table of options', kwargs)
    end
    -- the names in order, so that a message does not depend on pairs
    local names = {}
    for name in pairs(pb) do
      if type(name) ~= 'string' then
        raise(('%s: parameters_and_buffers keys must be dotted names (strings), got %s'):format(OP,
          nl._describe_arg(name)))
      end
      names[#names + 1] = name
    end
    table.sort(names)
    -- every name resolved and checked before anything is replaced
    local swaps, by_slot = {}, {}
    for _, name in ipairs(names) do
      local t = pb[name]
      if not nl.is_tensor(t) then
        raise(("%s: parameters_and_buffers['%s'] must be a tensor, got %s"):format(OP, name, nl._describe_arg(t)))
      end
      local m, k = slot_of(module, name)
      local per = by_slot[m]
      if not per then
        per = {}
        by_slot[m] = per
      end
      local prev = per[k]
      if prev == nil then
        per[k] = { name = name, t = t }
        swaps[#swaps + 1] = { m = m, k = k, t = t }
      elseif prev.t ~= t then
        raise(("%s: '%s' and '%s' name one tensor of one module (a module used twice); give one of them")
              :format(OP, prev.name, name))
      end
    end
    local call = {}
    local n = 0
    if nl.is_tensor(args) then call[1], n = args, 1
    elseif type(args) == 'table' and getmetatable(args) == nil then
      n = args.n or table.maxn(args)
      if type(n) ~= 'number' or n < 0 or n ~= math.floor(n) or n > 2 ^ 31 then
        raise(('%s: args.n must be the number of arguments (a whole number >= 0), got %s'):format(OP,
          nl._describe_arg(args.n)))
      end
      -- (a table of names is no list of arguments: it ran module() with
      -- none, or with its list part alone)
      for k in pairs(args) do
        if not (k == 'n' or type(k) == 'number' and k >= 1 and k <= n and k == math.floor(k)) then
          raise(("%s: args must be a tensor or a list of the arguments (args.n of them), got a table with the key "
                 .. "%s; pass a table argument as { t }, options as kwargs"):format(OP, nl._describe_arg(k)))
        end
      end
      for i = 1, n do call[i] = args[i] end
    elseif args ~= nil then
      call[1], n = args, 1
    end
    if kwargs ~= nil then
      n = n + 1
      call[n] = kwargs
    end
    for _, s in ipairs(swaps) do
      s.old = rawget(s.m, s.k)
      rawset(s.m, s.k, s.t)
    end
    local res = { n = 0 }
    local function run(...) res = { n = select('#', ...), ... } end
    local ok, err = pcall(function() run(module(unpack(call, 1, n))) end)
    for i = #swaps, 1, -1 do
      local s = swaps[i]
      rawset(s.m, s.k, s.old)
    end
    if not ok then error(err, 0) end
    return unpack(res, 1, res.n)
  end

  return stateless
end
