-- autograd_function.lua: nl.autograd.Function, functions whose forward
-- and backward are written in Lua, as PyTorch's torch.autograd.Function:
--
--   local Square = nl.autograd.Function:extend('Square')
--   function Square.forward(ctx, x) ctx:save_for_backward(x); return x * x end
--   function Square.backward(ctx, g) local x = ctx:saved_tensors(); return g * 2 * x end
--   local y = Square.apply(x)
--
-- forward runs with grad mode off; its tensor results get one node of the
-- C tape (autograd_function.c), whose backward calls back here by the
-- node's id. The contexts live in a table by id until C says the node died
-- (a list this file takes at each apply: no call back from a finalizer).
-- Loaded on the first use of nl.autograd.Function (init.lua).
local ffi = require 'ffi'

return function(nl)
  local lib, wrap, is_tensor, raise, T = nl._lib, nl._wrap, nl.is_tensor, nl._raise, nl._T
  local band = bit.band
  local REQUIRES_GRAD, INT64 = lib.NL_FLAG_REQUIRES_GRAD, 2

  local function pack(...) return { n = select('#', ...), ... } end
  local function shape_of(p)
    local s = {}
    for i = 0, p.ndim - 1 do s[i + 1] = tonumber(p.sizes[i]) end
    return '[' .. table.concat(s, ',') .. ']'
  end
  local function same_shape(a, b)
    if a.ndim ~= b.ndim then return false end
    for i = 0, a.ndim - 1 do if a.sizes[i] ~= b.sizes[i] then return false end end
    return true
  end
  local function addr(p) return tonumber(ffi.cast('uintptr_t', p)) end
  -- g summed to the shape of x (a C tensor) where x's shape broadcasts to
  -- g's, as PyTorch reduces a gradient that backward gave in the output's
  -- broadcast shape; nil where it does not
  local function reduce_to(g, x)
    local gp = g.ptr
    local lead = gp.ndim - x.ndim
    if lead < 0 then return nil end
    for i = 0, x.ndim - 1 do
      if x.sizes[i] ~= 1 and x.sizes[i] ~= gp.sizes[i + lead] then return nil end
    end
    for d = gp.ndim - 1, 0, -1 do
      if d < lead or (x.sizes[d - lead] == 1 and gp.sizes[d] ~= 1) then g = g:sum(d + 1, true) end
    end
    local s = {}
    for i = 0, x.ndim - 1 do s[i + 1] = tonumber(x.sizes[i]) end
    return g:reshape(s)
  end

  local registry = {}         -- [id] = ctx, while the function's node lives
  local live, last_id = 0, 0
  nl._custom_registry = registry   -- (read by specs: what is held)

  -- the C arrays of an apply, made once (grown for a call with more)
  local ptrs = ffi.typeof('nl_tensor *[?]')
  local cap = 16
  local ins, outs, results = ptrs(cap), ptrs(cap), ptrs(cap)
  local dead = ffi.new('int64_t[64]')

  -- ---- the context --------------------------------------------------------
  local Ctx = {}
  Ctx.__index = Ctx

  -- tensors (or nils) that backward reads back with saved_tensors(); a
  -- later in-place change of one is an error at backward
  function Ctx:save_for_backward(...)
    local saved = pack(...)
    for i = 1, saved.n do
      local t = saved[i]
      if t ~= nil and not is_tensor(t) then
        raise(('%s: save_for_backward takes tensors or nil, got %s as argument %d'):format(
          self._fn.__name, nl._describe_arg(t), i))
      end
    end
    self._saved = saved
  end

  -- the saved tensors, unpacked; an error naming the function when one
  -- was changed in place after forward
  function Ctx:saved_tensors()
    local saved, versions = self._saved, self._versions
    if saved == nil then return end
    for i = 1, versions and saved.n or 0 do
      local t = saved[i]
      if t ~= nil then
        local v = lib.nl_tensor_version(T(t, 'saved_tensors'))
        if v ~= versions[i] then
          error({ msg = ('%s: saved tensor %d (shape %s) was modified in place after forward saved it '
                         .. '(version %d, saved at %d)'):format(self._fn.__name, i, shape_of(t.ptr), v, versions[i]) })
        end
      end
    end
    return unpack(saved, 1, saved.n)
  end

  -- outputs that get no gradient (indices, counts): backward gets zeros
  -- (or nil, see set_materialize_grads) for them
  function Ctx:mark_non_differentiable(...)
    local set = self._nondiff or {}
    for i = 1, select('#', ...) do
      local t = select(i, ...)
      set[addr(T(t, 'mark_non_differentiable'))] = true
    end
    self._nondiff = set
  end

  -- false: an output no gradient reached gives backward nil, not zeros
  function Ctx:set_materialize_grads(on)
    if type(on) ~= 'boolean' then nl._argerror('set_materialize_grads', 'a boolean', on) end
    self._materialize = on
  end

  -- inputs that forward changed in place and returns: apply gives back
  -- the input object itself, its history rebased on the function's node
  -- (PyTorch's mark_dirty); each must be among forward's results
  function Ctx:mark_dirty(...)
    local list = {}
    for i = 1, select('#', ...) do
      local t = select(i, ...)
      if not is_tensor(t) then
        raise(('%s: mark_dirty takes tensors, got %s as argument %d'):format(self._fn.__name, nl._describe_arg(t), i))
      end
      list[#list + 1] = T(t, 'mark_dirty')
    end
    self._dirty = list
  end

  -- After forward: the tensors marked dirty get a new version, as
  -- PyTorch's mark_dirty bumps theirs (a graph that saved one refuses its
  -- backward), each once; each must be among forward's results r. Returns
  -- the set of their addresses.
  local function dirty_checked(ctx, r)
    local set, name = {}, ctx._fn.__name
    for _, p in ipairs(ctx._dirty) do
      local k = addr(p)
      if not set[k] then
        set[k] = true
        if lib.nl_mark_modified(p, name .. '.apply') ~= 0 then raise(ffi.string(lib.nl_error())) end
        local found = false
        for i = 2, r.n do
          if is_tensor(r[i]) and r[i].ptr == p then found = true end
        end
        if not found then
          raise(('%s.apply: a tensor marked dirty (shape %s) is not among the results of forward; the inputs '
                 .. 'changed in place must be returned'):format(name, shape_of(p)))
        end
      end
    end
    return set
  end

  -- the argument i of apply, an input that forward changed in place
  -- (mark_dirty), checked as PyTorch checks it, and the views PyTorch
  -- rebases through their base (which this does not do) refused
  local function dirty_input_checked(name, i, p)
    if lib.nl_is_leaf(p) ~= 0 and band(p.flags, REQUIRES_GRAD) ~= 0 then
      raise(('%s.apply: argument %d (shape %s) is a leaf that requires grad and was changed in place '
             .. '(mark_dirty): a leaf Variable that requires grad has been used in an in-place operation; '
             .. 'change a clone of it'):format(name, i, shape_of(p)))
    end
    local made = lib.nl_grad_fn_name(p)
    made = made ~= nil and ffi.string(made) or nil
    if band(p.flags, lib.NL_FLAG_NOGRAD_VIEW) ~= 0 or
       (made and made ~= 'custom_function' and band(p.flags, lib.NL_FLAG_VIEW) ~= 0) then
      raise(('%s.apply: argument %d (shape %s), changed in place (mark_dirty), is a view (made by %s) of a '
             .. 'tensor that requires grad; its base would not see the change: change a clone of it'):format(
               name, i, shape_of(p), made or 'an op under no_grad'))
    end
  end

  -- ---- backward ------------------------------------------------------------
  -- The inputs' gradients by the function's backward: gout[j] is the node's
  -- output j's gradient (a Lua tensor, or nil); input(k) the node's input
  -- k's C tensor. Returns a list by input k of the gradients of the inputs
  -- that require grad. Errors are tables {msg = ...} naming the function.
  local function input_grads(id, gout, input)
    local ctx = registry[id]
    if ctx == nil then error({ msg = 'custom_function: the context of this node is gone' }) end
    local cls = ctx._fn
    local name = cls.__name
    local outs = ctx._outs
    local grads, ng
    if outs == nil then       -- one result, the output of the node
      grads, ng = { gout[1] }, 1
    else
      grads, ng = {}, outs.n
      for k = 1, ng do
        local o = outs[k]
        if o then
          local g = o.c and gout[o.c] or nil
          if g ~= nil then grads[k] = g
          elseif ctx._materialize ~= false then grads[k] = nl.zeros(o.shape, o.dtype) end
        end
      end
    end
    local r = pack(pcall(cls.backward, ctx, unpack(grads, 1, ng)))
    if not r[1] then
      local e = r[2]
      if type(e) == 'table' and e.msg then error(e) end
      error({ msg = name .. '.backward: ' .. tostring(e) })
    end
    local nargs, kinds, needs = ctx._nargs, ctx._kinds, ctx.needs_input_grad
    if r.n - 1 < nargs then
      error({ msg = ('%s.backward returned %d gradients for the %d arguments of forward (one gradient or nil '
                     .. 'each)'):format(name, r.n - 1, nargs) })
    end
    for i = nargs + 1, r.n - 1 do
      if r[i + 1] ~= nil then
        error({ msg = ('%s.backward returned %d values for the %d arguments of forward (value %d is not nil)'):format(
          name, r.n - 1, nargs, i) })
      end
    end
    for i = 1, nargs do
      local g, k = r[i + 1], kinds[i]
      if g ~= nil then
        if not k then
          error({ msg = ('%s.backward: gradient %d is %s, but argument %d of forward is not a tensor: return nil '
                         .. 'for it'):format(name, i, nl._describe_arg(g), i) })
        end
        if not is_tensor(g) or g.ptr == nil then
          error({ msg = ('%s.backward: gradient %d must be a tensor or nil, got %s'):format(name, i,
                                                                                         nl._describe_arg(g)) })
        end
        local x = input(k)
        if not same_shape(g.ptr, x) then     -- (a gradient in a broadcast shape: summed)
          g = reduce_to(g, x) or g
          r[i + 1] = g
        end
        if not same_shape(g.ptr, x) then
          error({ msg = ('%s.backward: gradient %d has shape %s, but argument %d of forward has shape %s'):format(
            name, i, shape_of(g.ptr), i, shape_of(x)) })
        end
        if g.ptr.dtype == INT64 then
          error({ msg = ('%s.backward: gradient %d (shape %s) is int64; gradients are float'):format(
            name, i, shape_of(g.ptr)) })
        end
      end
    end
    local res = {}
    for i = 1, nargs do
      if r[i + 1] ~= nil and needs[i] then
        res[kinds[i]] = r[i + 1]
        -- PyTorch's anomaly mode with check_nan (autograd.lua)
        if nl._anomaly_nan and lib.nl_has_nan(r[i + 1].ptr) ~= 0 then error({ msg = nl._nan_message(name, i) }) end
      end
    end
    return res
  end

  -- the one callback C's backward calls (LuaJIT has few slots: never one per call)
  local function run_backward(id, n_out, gouts, inputs, gin)
    local gout = {}
    for j = 1, n_out do
      local g = gouts[j - 1]
      if g ~= nil then
        lib.nl_retain(g)
        gout[j] = wrap(g)
      end
    end
    -- (the node's own inputs: a backward may run a backward of its own, whose call comes here too)
    local res = input_grads(id, gout, function(k) return inputs[k - 1] end)
    for k, g in pairs(res) do
      lib.nl_retain(g.ptr)
      gin[k - 1] = g.ptr
    end
  end
  local cb = ffi.cast('nl_custom_backward_fn', function(id, n_out, gouts, _, inputs, gin)
    local ok, e = pcall(run_backward, tonumber(id), n_out, gouts, inputs, gin)
    if ok then return 0 end
    local msg = type(e) == 'table' and e.msg or tostring(e)
    return lib.nl_custom_error(msg)
  end)

  -- The rule of backward with create_graph (autograd_higher.lua's walk,
  -- grad mode on): the function's backward runs on gradients that have a
  -- graph, and what it computes from the inputs (saved, or kept on ctx)
  -- is recorded; forward's results, which have no graph, are constants
  -- there. An output's node (of several) keeps its gradient for the main
  -- node, which the walk runs after them all.
  local pending = {}          -- [id] = { [j] = gradient of output j }
  local empty_size = ffi.new('int64_t[1]')
  function nl._custom_graph_rule(n, g)
    local id = tonumber(n.a[2])
    if tonumber(n.a[1]) == 1 then
      local p = pending[id]
      if p == nil or p.walk ~= nl._walk_now then p = { walk = nl._walk_now } end   -- (else left by a failed walk)
      pending[id] = p
      p[tonumber(n.a[0]) + 1] = g
      return { wrap(lib.nl_full(1, empty_size, 0, 0)) }
    end
    local gout = { g }
    if tonumber(n.a[3]) > 1 then
      gout = pending[id] or {}
      if gout.walk ~= nl._walk_now then gout = {} end
      pending[id] = nil
    end
    local ok, res = pcall(input_grads, id, gout, function(k) return n.ins[k] end)
    if not ok then raise(type(res) == 'table' and res.msg or tostring(res)) end
    return res
  end

  -- forgets the contexts of the nodes that died: garbage the binding's
  -- collector counts (CTX_BYTES each, a context and its small tables),
  -- since LuaJIT's pacing took them for live (a loop of applies without
  -- backward grew the heap past 40 MB by 500,000 steps)
  local CTX_BYTES = 1024
  local function drain()
    local before = live
    repeat
      local n = lib.nl_take_dead_custom(cb, dead, 64)
      for i = 0, n - 1 do
        local id = tonumber(dead[i])
        pending[id] = nil         -- (what a failed create_graph walk left)
        if registry[id] ~= nil then
          registry[id] = nil
          live = live - 1
        end
      end
    until n < 64
    if live < before then nl._gc_garbage((before - live) * CTX_BYTES) end
    if live == 0 then nl._set_custom_live(false) end
  end
  nl._custom_drain = drain

  local function grow(n)
    while cap < n do cap = cap * 2 end
    ins, outs, results = ptrs(cap), ptrs(cap), ptrs(cap)
  end

  -- ---- apply -----------------------------------------------------------------
  local function apply(cls, ...)
    local name = cls.__name
    local forward = cls.forward
    if type(forward) ~= 'function' then raise(name .. '.apply: the function has no forward(ctx, ...)') end
    local nargs = select('#', ...)
    local args = { ... }
    local needs, kinds = {}, {}
    local grad_on = lib.nl_is_grad_enabled() ~= 0
    local n_in, any = 0, false
    for i = 1, nargs do
      local a = args[i]
      if is_tensor(a) then
        local r = grad_on and band(T(a, name .. '.apply').flags, REQUIRES_GRAD) ~= 0
        n_in = n_in + 1
        needs[i], kinds[i] = r, n_in
        any = any or r
      else
        needs[i], kinds[i] = false, false
      end
    end
    if any and type(cls.backward) ~= 'function' then
      raise(name .. '.apply: the function has no backward(ctx, ...), and an input requires grad')
    end
    local ctx = setmetatable({ needs_input_grad = needs, _fn = cls }, Ctx)
    local prev = lib.nl_set_grad_enabled(0)
    local r = pack(pcall(forward, ctx, ...))
    local ok, dirty = true, nil             -- (the versions bumped with grad mode still off)
    if r[1] and ctx._dirty then ok, dirty = pcall(dirty_checked, ctx, r) end
    lib.nl_set_grad_enabled(prev)
    if not r[1] then error(r[2], 0) end
    if not ok then error(dirty, 0) end
    if not any then return unpack(r, 2, r.n) end
    -- the float outputs not marked non-differentiable get the graph
    local nres, nondiff, n_out = r.n - 1, ctx._nondiff, 0
    local pos, rebased = {}, {}             -- rebased[j]: the argument that output j is (mark_dirty)
    if n_in > cap or nres > cap then grow(math.max(n_in, nres)) end
    for k = 1, nres do
      local o = r[k + 1]
      if is_tensor(o) then
        local p = T(o, name .. '.apply')
        if p.dtype ~= INT64 and not (nondiff and nondiff[addr(p)]) then
          outs[n_out] = p
          n_out = n_out + 1
          pos[n_out] = k
          for i = 1, dirty and dirty[addr(p)] and nargs or 0 do
            if kinds[i] and args[i].ptr == p then
              dirty_input_checked(name, i, p)
              rebased[n_out] = i
              break
            end
          end
        end
      end
    end
    if n_out == 0 then return unpack(r, 2, r.n) end
    for i = 1, nargs do
      if kinds[i] then ins[kinds[i] - 1] = args[i].ptr end
    end
    drain()
    last_id = last_id + 1
    local id = last_id
    if lib.nl_custom_record(cb, id, n_in, ins, n_out, outs, results) ~= 0 then
      raise(name .. '.apply: ' .. ffi.string(lib.nl_error()))
    end
    -- what backward is given for each result: the node's output j, or
    -- zeros of a result's shape (kept only where there are several)
    if nres > 1 or n_out > 1 then
      local o = { n = nres }
      for k = 1, nres do o[k] = false end
      for k = 1, nres do
        local t = r[k + 1]
        if is_tensor(t) then o[k] = { c = false, shape = t:shape(), dtype = t:dtype() } end
      end
      for j = 1, n_out do o[pos[j]].c = j end
      ctx._outs = o
    end
    local saved = ctx._saved
    for j = 1, n_out do
      local i = rebased[j]
      if i then
        -- a dirty input saved for backward is a constant there (as other
        -- results are): an alias without the graph, which holds no node
        -- (the rebased input would hold this function's node, by ctx)
        local p = args[i].ptr
        for s = 1, saved and saved.n or 0 do
          if saved[s] ~= nil and saved[s].ptr == p then saved[s] = wrap(lib.nl_detach(p)) end
        end
        nl._take_over(args[i], wrap(results[j - 1]))
        r[pos[j] + 1] = args[i]
      else
        r[pos[j] + 1] = wrap(results[j - 1])
      end
    end
    ctx._nargs, ctx._kinds = nargs, kinds
    if saved then
      local v = {}
      for i = 1, saved.n do
        if saved[i] ~= nil then v[i] = lib.nl_tensor_version(T(saved[i], 'save_for_backward')) end
      end
      ctx._versions = v
    end
    registry[id] = ctx
    live = live + 1
    if live == 1 then nl._set_custom_live(true) end
    return unpack(r, 2, r.n)
  end

  -- ---- the classes -----------------------------------------------------------
  local Function = { __name = 'Function' }
  local Class = {}             -- the metatable of every class: fields missing go to its parent

  -- Function:extend(name): a new function class (or a subclass of one,
  -- which inherits its forward and backward); define cls.forward(ctx, ...)
  -- and cls.backward(ctx, grad, ...), call cls.apply(...)
  function Function.extend(parent, name, ...)
    if select('#', ...) > 0 then nl._no_extra_args('extend', '(name)', nil, ...) end
    if type(parent) ~= 'table' or (parent ~= Function and getmetatable(parent) ~= Class) then
      raise('extend: call it as Function:extend(name)')
    end
    if type(name) ~= 'string' or name == '' then nl._argerror('extend', 'a name (a string)', name) end
    local cls = setmetatable({ __name = name, __parent = parent }, Class)
    cls.apply = function(...) return apply(cls, ...) end
    return cls
  end
  function Class.__index(cls, k)
    local parent = rawget(cls, '__parent')
    return parent[k]
  end
  function Class.__tostring(cls) return 'autograd.Function ' .. cls.__name end

  -- nl.autograd.Function(name, {forward = ..., backward = ...}): the same in one call
  setmetatable(Function, { __call = function(_, name, def, ...)
    if select('#', ...) > 0 then nl._no_extra_args('autograd.Function', '(name, definition)', nil, ...) end
    if type(def) ~= 'table' then
      nl._argerror('autograd.Function', 'a name and a table {forward = f, backward = g}', def)
    end
    local cls = Function:extend(name)
    for k, v in pairs(def) do
      if k ~= 'forward' and k ~= 'backward' then
        raise(('autograd.Function: unknown field %s (expected forward and backward)'):format(tostring(k)))
      end
      cls[k] = v
    end
    return cls
  end, __tostring = function() return 'autograd.Function' end })

  rawset(nl.autograd, 'Function', Function)
end
