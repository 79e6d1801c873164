-- autograd.lua: the Lua face of the C tape: requires_grad, .grad,
-- backward, detach, no_grad, and gradcheck (central differences in
-- float64) for users' own functions.
local ffi = require 'ffi'

return function(nl)
  local lib, Tensor, wrap, check, T = nl._lib, nl.Tensor, nl._wrap, nl._check, nl._T
  local raise = nl._raise

  function Tensor.requires_grad(t, flag, ...)
    if select('#', ...) > 0 then nl._no_extra_args('requires_grad', '([requires_grad])', nil, ...) end
    if flag == nil then flag = true end
    if type(flag) ~= 'boolean' then nl._argerror('requires_grad', 'a boolean flag', flag) end
    check(lib.nl_set_requires_grad(T(t, 'requires_grad'), flag and 1 or 0))
    return t
  end
  function Tensor.requires_grad_(t, flag, ...)
    if select('#', ...) > 0 then nl._no_extra_args('requires_grad_', '([requires_grad])', nil, ...) end
    return Tensor.requires_grad(t, flag)
  end
  function Tensor.is_leaf(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('is_leaf', '()', nil, ...) end
    return lib.nl_is_leaf(T(t, 'is_leaf')) ~= 0
  end
  function Tensor.grad_fn(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('grad_fn', '()', nil, ...) end
    local name = lib.nl_grad_fn_name(T(t, 'grad_fn'))
    return name ~= nil and ffi.string(name) or nil
  end
  function Tensor.detach(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('detach', '()', nil, ...) end
    return wrap(lib.nl_detach(T(t, 'detach')))
  end

  -- t:detach_(), as PyTorch's: t becomes a leaf that does not require
  -- grad, in place. A leaf is changed where it is. A tensor an op made is
  -- another C tensor from now on (a detached one over the same memory,
  -- which this handle takes), so that the ops that already used it still
  -- send their gradients through what made it, as PyTorch's graph does
  -- (its edges lead to the op, not to the tensor); another Lua handle on
  -- the same C tensor (x:contiguous() of a contiguous x) keeps the graph.
  -- A view that an op made is refused, as PyTorch refuses views.
  local detached = setmetatable({}, { __mode = 'k' })   -- handle -> the handle that owns its new tensor
  function Tensor.detach_(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('detach_', '()', nil, ...) end
    local p = T(t, 'detach_')
    if lib.nl_is_leaf(p) ~= 0 then
      check(lib.nl_set_requires_grad(p, 0))
      return t
    end
    if bit.band(p.flags, lib.NL_FLAG_VIEW) ~= 0 then
      raise(('detach_: the tensor of shape %s is a view (made by %s) of a tensor that requires grad; views are not '
             .. 'detached in place: use detach()'):format(nl._shape_str(t), t:grad_fn()))
    end
    -- (retain_grad's hook writes into the C tensor it was set on, which
    -- this handle would no longer read: the kept gradient was lost and
    -- retains_grad read false, where PyTorch keeps both)
    if t.retains_grad then
      raise(('detach_: the tensor of shape %s retains its gradient (retain_grad), which a tensor detached in place '
             .. 'would lose here; use detach() for a detached copy'):format(nl._shape_str(t)))
    end
    -- the new tensor's reference belongs to its own handle, which lives as
    -- long as t (t's slot goes on holding, and at t's death releasing, the old)
    local owner = wrap(lib.nl_detach(p))
    detached[t] = owner
    t.ptr = owner.ptr
    return t
  end

  -- t.grad reads the accumulated gradient (a new handle on it), or nil;
  -- t.grad = nil clears it, t.grad = g sets it.
  nl._accessors.grad = function(t)
    local g = T(t, 'grad').grad
    if g == nil then return nil end
    lib.nl_retain(g)
    return wrap(g)
  end
  nl._setters.grad = function(t, g)
    if g ~= nil and not nl.is_tensor(g) then raise('grad: expected a tensor or nil, got ' .. type(g)) end
    check(lib.nl_set_grad(T(t, 'grad'), g and T(g, 'grad') or nil))
  end
  nl._accessors.is_requires_grad = function(t) return bit.band(T(t, 'requires_grad').flags, 1) ~= 0 end

  function Tensor.zero_grad(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('zero_grad', '()', nil, ...) end
    local g = T(t, 'zero_grad').grad
    if g ~= nil then check(lib.nl_set_grad(t.ptr, nil)) end
    return t
  end

  -- ---- tensor hooks -------------------------------------------------------
  -- t:register_hook(fn): fn(grad) runs during each backward that reaches
  -- t, as PyTorch's: for a tensor an op made, on its whole gradient before
  -- the gradient flows on; for a leaf, on the sum of what the backward
  -- sends it, before that is added into .grad. A tensor returned replaces
  -- the gradient (for the later hooks too); nil keeps it. A tensor's hooks
  -- run in the order they were registered; with hooks in the graph, its
  -- nodes run in PyTorch's order (the op made last first, a leaf as soon as
  -- its gradient is complete). Returns a handle whose remove() takes the
  -- hook off. The hooks live here, by the address of the C tensor, which
  -- C marks (NL_FLAG_HOOKED): C calls one callback for a marked tensor,
  -- and tells us of the marked tensors that died (their hooks go then, as
  -- PyTorch's go with the tensor; a tensor an op made lives while the graph
  -- that uses it does, so hooks on it run though Lua holds it no more).
  local HOOKED = lib.NL_FLAG_HOOKED
  local hooks = {}            -- [address] = { list = { hook, ... } }, a list replaced, never changed
  -- whether hooks holds an entry: the test backward makes each time (the
  -- JIT compiles it, where it leaves a trace at next())
  local any_hooks = false
  local hook_error            -- what a hook raised, for backward to raise
  local dead = ffi.new('uintptr_t[64]')
  local function addr(p) return tonumber(ffi.cast('uintptr_t', p)) end
  -- the hooks of tensors that died go; so do those of tensors whose node
  -- a backward freed (told with the address's low bit set), which no
  -- backward runs again: a hook whose function refers to its own tensor
  -- (the usual closure over an activation) held the tensor for ever, as
  -- the collector cannot see the cycle through C. retain_grad's marks
  -- stay (retains_grad reads true), and go with the tensor.
  -- The entries dropped are garbage LuaJIT took for live (HOOK_BYTES
  -- each for the binding's collector, see nl._gc_garbage).
  local HOOK_BYTES = 512
  local function drop_dead()
    local gone = 0
    repeat
      local n = lib.nl_take_dead_hooked(dead, 64)
      for i = 0, n - 1 do
        local a = tonumber(dead[i])
        if a % 2 == 0 then hooks[a] = nil
        else
          local e = hooks[a - 1]
          if e ~= nil then
            if e.retains then e.list = { { retain = true } } else hooks[a - 1] = nil end
          end
        end
      end
      gone = gone + n
    until n < 64
    if gone > 0 then nl._gc_garbage(gone * HOOK_BYTES) end
    any_hooks = next(hooks) ~= nil
  end
  nl._hooks = hooks           -- (read by specs: what is held)
  nl._drop_dead_hooks = drop_dead

  -- the entry of t's hooks, made when t has none
  local function hook_entry(t, op)
    local p = T(t, op)
    if bit.band(p.flags, lib.NL_FLAG_REQUIRES_GRAD) == 0 then
      raise(('%s: the tensor of shape %s does not require grad, so no gradient reaches it'):format(op, nl._shape_str(t)))
    end
    drop_dead()
    local k = addr(p)
    local e = hooks[k]
    -- an entry left by a tensor that died at this address (on another
    -- thread: its death was not told here) is not this tensor's
    if e == nil or bit.band(p.flags, HOOKED) == 0 then
      e = { list = {} }
      hooks[k] = e
      any_hooks = true
      check(lib.nl_set_hooked(p))
    end
    return e, k
  end
  local function add_hook(e, h)
    local list = {}
    for i, x in ipairs(e.list) do list[i] = x end
    list[#list + 1] = h
    e.list = list
  end

  local Handle = {}
  Handle.__index = Handle
  -- takes the hook off (again: nothing)
  function Handle:remove()
    local e, h = self._entry, self._hook
    if h.removed then return end
    h.removed = true
    local list = {}
    for _, x in ipairs(e.list) do if x ~= h then list[#list + 1] = x end end
    e.list = list
    if #list == 0 and hooks[self._key] == e then
      hooks[self._key] = nil
      any_hooks = next(hooks) ~= nil
    end
  end
  nl._HookHandle = Handle

  function Tensor.register_hook(t, fn, ...)
    if select('#', ...) > 0 then nl._no_extra_args('register_hook', '(hook)', nil, ...) end
    if type(fn) ~= 'function' then nl._argerror('register_hook', 'a function fn(grad)', fn) end
    local p = T(t, 'register_hook')
    if p.node == nil and bit.band(p.flags, lib.NL_FLAG_GRAPH_FREED) ~= 0 then
      -- a backward freed the node that made t: no backward runs t's hooks
      -- again (one through t is refused), so none is kept (see drop_dead)
      return setmetatable({ _entry = { list = {} }, _hook = { fn = fn }, _key = false }, Handle)
    end
    local e, k = hook_entry(t, 'register_hook')
    local h = { fn = fn }
    add_hook(e, h)
    return setmetatable({ _entry = e, _hook = h, _key = k }, Handle)
  end

  -- t:retain_grad(): a tensor an op made keeps its gradient in .grad after
  -- backward, added up over backward passes as a leaf's is, as PyTorch's:
  -- a hook among t's others, in the order registered (the gradient the
  -- hooks before it left); once per tensor. A leaf keeps its .grad anyway.
  function Tensor.retain_grad(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('retain_grad', '()', nil, ...) end
    local p = T(t, 'retain_grad')
    if lib.nl_is_leaf(p) ~= 0 then
      if bit.band(p.flags, lib.NL_FLAG_REQUIRES_GRAD) == 0 then
        raise(('retain_grad: the tensor of shape %s does not require grad, so no gradient reaches it'):format(
          nl._shape_str(t)))
      end
      return t
    end
    local e = hook_entry(t, 'retain_grad')
    if not e.retains then
      e.retains = true
      add_hook(e, { retain = true })
    end
    return t
  end
  -- t.retains_grad: whether t:retain_grad() was called on t, an op's output
  nl._accessors.retains_grad = function(t)
    local p = T(t, 'retains_grad')
    if bit.band(p.flags, HOOKED) == 0 then return false end
    local e = hooks[addr(p)]
    return e ~= nil and e.retains == true
  end

  -- t's handle takes over owner's C tensor, which a custom function made
  -- its output over t's memory (ctx:mark_dirty: an input changed in place
  -- and returned), as PyTorch rebases the history of the input object: the
  -- ops that already used t, and the function's node, keep t's old tensor
  -- and its history; t's hooks stay with them (PyTorch's stay on the old
  -- grad_fn), and retain_grad moves to the new tensor, as PyTorch moves it
  function nl._take_over(t, owner)
    local old = t.ptr
    detached[t] = owner
    t.ptr = owner.ptr
    if bit.band(old.flags, HOOKED) == 0 then return end
    local e = hooks[addr(old)]
    if e == nil or not e.retains then return end
    e.retains = nil
    local list = {}
    for _, h in ipairs(e.list) do if not h.retain then list[#list + 1] = h end end
    e.list = list
    Tensor.retain_grad(t)
  end

  -- g (a Lua handle) added into the .grad of p, a tensor an op made: a
  -- copy of it first, then sums out of place (PyTorch's retain_grad hook)
  local function retain(p, g)
    local old = p.grad
    local sum
    if old == nil then sum = g:clone()
    else
      lib.nl_retain(old)
      sum = wrap(old) + g
    end
    check(lib.nl_set_grad(p, sum.ptr))
  end

  -- a hook's result r for a gradient like g: a tensor of g's shape and
  -- dtype, or nil; the error names the hook by its place among t's
  local function checked_result(r, g, i)
    if r == nil then return g end
    if not nl.is_tensor(r) then
      error({ msg = ('backward: hook %d of a tensor of shape %s returned %s, not a tensor or nil'):format(
        i, nl._shape_str(g), nl._describe_arg(r)) })
    end
    if r:dtype() ~= g:dtype() then
      error({ msg = ('backward: hook %d of a %s tensor of shape %s returned a %s gradient'):format(
        i, g:dtype(), nl._shape_str(g), r:dtype()) })
    end
    if nl._shape_str(r) ~= nl._shape_str(g) then
      error({ msg = ('backward: hook %d of a tensor of shape %s returned a gradient of shape %s'):format(
        i, nl._shape_str(g), nl._shape_str(r)) })
    end
    return r
  end

  -- t's hooks on g, in order: the gradient they leave, or nil for g itself
  local function run_hooks(p, g)
    local e = hooks[addr(p)]
    if e == nil then return nil end
    local cur, list = g, e.list
    for i = 1, #list do
      local h = list[i]
      if h.retain then retain(p, cur)
      elseif not h.removed then cur = checked_result(h.fn(cur), cur, i) end
    end
    if cur ~= g then return cur end
    return nil
  end
  nl._run_hooks = run_hooks   -- (create_graph's walk runs them too)
  local hook_cb = ffi.cast('nl_tensor_hook_fn', function(_, p, g, out)
    lib.nl_retain(g)
    local ok, r = pcall(run_hooks, p, wrap(g))
    if not ok then
      hook_error = r
      return -1
    end
    if r ~= nil then
      lib.nl_retain(r.ptr)
      out[0] = r.ptr
    end
    return 0
  end)
  -- the error of a C call that stopped on a hook's error: the hook's own
  -- (a user's error object stays as it was), else C's
  local function hook_raise(msg)
    local e = hook_error
    hook_error = nil
    if type(e) == 'table' and e.msg then raise(e.msg) end
    if e ~= nil then error(e, 0) end
    raise(msg)
  end
  -- C calls that may call back into Lua stay out of compiled traces: a
  -- callback from a C function called by a trace aborts the process
  -- (LuaJIT's "bad callback")
  local function backward_hooked(p, gp, retain)
    return lib.nl_backward_hooked(p, gp, retain, hook_cb, nil)
  end
  jit.off(backward_hooked)
  -- While custom functions (autograd_function.lua) have nodes, any
  -- backward may call back into Lua: it goes through an uncompiled call too
  local custom_live = false
  function nl._set_custom_live(on) custom_live = on end
  local function backward_custom(p, gp, retain) return lib.nl_backward(p, gp, retain) end
  jit.off(backward_custom)

  -- ---- PyTorch's anomaly mode -----------------------------------------------
  -- nl.autograd.set_detect_anomaly(on, {check_nan}), detect_anomaly(fn,
  -- [opts]), is_anomaly_enabled(). On, each op recorded on the tape keeps
  -- the traceback of the call that made it (from the first frame outside
  -- nnlua's own files; C keeps it by node and frees it with the graph); a
  -- backward or grad that fails at a node, by an error of its backward or,
  -- with check_nan, a NaN in a gradient it produced, raises with the
  -- traceback of the node's forward call appended to the message (PyTorch
  -- prints it as a warning). What a create_graph backward records for a
  -- node is traced to that node's forward call (PyTorch's parent). Off,
  -- wrap makes the one test it made before and C's backward its one test.
  local pkg = debug.getinfo(1, 'S').source:match('^(.*/)[^/]*$') or ''
  local traced, check_nan = false, true
  local parent = nil          -- create_graph's walk: the output of the node whose rule runs
  local function forward_traceback()
    local level = 2
    while true do
      local info = debug.getinfo(level, 'S')
      if not info or (info.what ~= 'C' and info.source:sub(1, #pkg) ~= pkg) then break end
      level = level + 1
    end
    return (debug.traceback('', level):gsub('^\n?stack traceback:\n', ''))
  end
  -- wrap's note for each output with a node: its new nodes get the traceback
  local function note(p)
    if lib.nl_anomaly_untraced(p) ~= 0 then
      local own = parent == nil or lib.nl_anomaly_trace_of(parent) == nil
      lib.nl_anomaly_trace(p, own and forward_traceback() or nil, parent)
    end
  end
  -- msg followed by a node's forward traceback tr ('': none kept)
  local function with_trace(msg, tr)
    if tr == nil then return msg end
    if tr == '' then
      return msg .. '\nNo forward pass information available: the op was recorded with anomaly mode off.'
    end
    return msg .. '\nTraceback of forward call that caused the error:\n' .. tr
  end
  -- the message of a failed backward or grad in C, with the traceback of the node it failed at
  local function anomaly_message(msg)
    if not traced then return msg end
    local tr = lib.nl_anomaly_failed()
    tr = tr ~= nil and ffi.string(tr) or nil
    lib.nl_anomaly_failed_clear()
    return with_trace(msg, tr)
  end
  -- PyTorch's message, with a 1-based index
  function nl._nan_message(name, i)
    local last = i % 100 >= 11 and i % 100 <= 13 and 0 or i % 10
    return ("Function '%s' returned nan values in its %d%s output."):format(name, i,
      last == 1 and 'st' or last == 2 and 'nd' or last == 3 and 'rd' or 'th')
  end
  -- create_graph's walk runs a node's rule through this in anomaly mode
  local function anomaly_rule(who, n, rule, g)
    local prev = parent
    parent = n.out_p
    local ok, gin = pcall(rule, n, g)
    parent = prev
    local tr = lib.nl_anomaly_trace_of(n.out_p)
    tr = tr ~= nil and ffi.string(tr) or ''
    if not ok then
      if type(gin) == 'string' then gin = with_trace(gin, tr)
      elseif type(gin) == 'table' and type(gin.msg) == 'string' then gin.msg = with_trace(gin.msg, tr) end
      error(gin, 0)
    end
    for i = 1, check_nan and n.n_in or 0 do
      local gi = gin[i]
      if gi and n.want[i] and lib.nl_has_nan(gi.ptr) ~= 0 then
        raise(with_trace(who .. ': ' .. nl._nan_message(ffi.string(lib.nl_op_name(n.op)), i), tr))
      end
    end
    return gin
  end
  local function set_anomaly(on, nan)
    traced, check_nan = on, nan
    nl._anomaly_nan = on and nan                 -- (autograd_function's backward checks its gradients)
    nl._anomaly_rule = on and anomaly_rule or false
    nl._anomaly_mode(on and note or nil,
                     on and bit.bor(lib.NL_ANOMALY_TRACE, nan and lib.NL_ANOMALY_NAN or 0) or 0)
  end
  nl._anomaly_nan, nl._anomaly_rule = false, false
  local ANOMALY_OPTS = { check_nan = 'flag' }
  local function anomaly_opts(op, opts)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, ANOMALY_OPTS)
    return opts.check_nan ~= false
  end
  nl.autograd = nl.autograd or {}
  -- returns the previous setting
  function nl.autograd.set_detect_anomaly(on, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('set_detect_anomaly', '(mode, [{options}])', nil, ...) end
    if type(on) ~= 'boolean' then nl._argerror('set_detect_anomaly', 'a boolean', on) end
    local prev = traced
    set_anomaly(on, anomaly_opts('set_detect_anomaly', opts))
    return prev
  end
  -- fn() in anomaly mode, its results returned; the mode is restored
  -- after, also when fn raises (PyTorch's context manager)
  function nl.autograd.detect_anomaly(fn, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('detect_anomaly', '(fn, [{options}])', nil, ...) end
    if type(fn) ~= 'function' then nl._argerror('detect_anomaly', 'a function', fn) end
    local nan = anomaly_opts('detect_anomaly', opts)
    local prev_on, prev_nan = traced, check_nan
    set_anomaly(true, nan)
    local res = { pcall(fn) }
    set_anomaly(prev_on, prev_nan)
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, table.maxn(res))
  end
  function nl.autograd.is_anomaly_enabled(...)
    if select('#', ...) > 0 then nl._no_extra_args('is_anomaly_enabled', '()', nil, ...) end
    return traced
  end
  function nl.autograd.is_anomaly_check_nan_enabled(...)
    if select('#', ...) > 0 then nl._no_extra_args('is_anomaly_check_nan_enabled', '()', nil, ...) end
    return check_nan
  end

  -- backward with create_graph and nl.autograd.grad's: a walk in Lua that
  -- records the gradients' own graph (autograd_higher.lua, loaded then)
  local higher
  local walks = 0
  local function create_graph_run(who, roots, grads, inputs, free, into_grad)
    higher = higher or require('nnlua.autograd_higher')(nl)
    if any_hooks then drop_dead() end
    -- (each walk its own number: what a walk that failed left in custom
    -- functions' pending gradients is not the next one's)
    local prev = nl._walk_now
    walks = walks + 1
    nl._walk_now = walks
    local ok, res = pcall(higher.run, who, roots, grads, inputs, free, into_grad)
    nl._walk_now = prev
    if not ok then
      if type(res) == 'table' and res.msg then raise(res.msg) end   -- a hook's result refused
      error(res, 0)
    end
    return res
  end

  -- backward([grad], [{retain_graph = true, create_graph = true,
  -- inputs = ...}]); any other option is an error (a misspelt
  -- retain_graph was ignored). create_graph: the gradients added into
  -- .grad have a graph of their own, and the graph is kept unless
  -- retain_graph is false (PyTorch's retain_graph defaults to
  -- create_graph). inputs (a tensor or a list): only their .grad take
  -- gradients, as PyTorch 1.13's; one an op made retains its gradient
  -- from then on (1.13 calls retain_grad on it).
  local BACKWARD_OPTS = { retain_graph = 'flag', create_graph = 'flag', inputs = 1 }
  local ptrs = ffi.typeof('nl_tensor *[?]')
  -- backward's inputs checked: the list (a tensor: a list of one)
  local function backward_inputs(v)
    if nl.is_tensor(v) then return { v } end
    if type(v) ~= 'table' or getmetatable(v) ~= nil then
      nl._argerror('backward', 'a tensor or a list of tensors as inputs', v)
    end
    local n = table.maxn(v)
    if n == 0 then raise("backward: inputs is an empty list ('inputs' argument to backward() cannot be empty)") end
    for i = 1, n do
      local x = v[i]
      if not nl.is_tensor(x) then
        raise(('backward: entry %d of inputs must be a tensor, got %s'):format(i, nl._describe_arg(x)))
      end
      if bit.band(T(x, 'backward').flags, lib.NL_FLAG_REQUIRES_GRAD) == 0 then
        raise(('backward: input %d (shape %s) does not require grad, so it cannot take a gradient'):format(
          i, nl._shape_str(x)))
      end
    end
    return v
  end
  -- (C's backward with inputs may call back into Lua: see backward_hooked)
  local function backward_inputs_c(p, gp, n, arr, retain)
    if any_hooks then drop_dead() end
    return lib.nl_backward_inputs(p, gp, n, arr, retain, any_hooks and hook_cb or nil, nil)
  end
  jit.off(backward_inputs_c)
  -- (extra, not ...: a vararg function costs every backward more; an
  -- argument past extra goes unseen)
  function Tensor.backward(t, grad, opts, extra)
    if extra ~= nil then nl._no_extra_args('backward', '([gradient], [{options}])', nil, extra) end
    if type(grad) == 'table' and not nl.is_tensor(grad) then
      -- a list of numbers read as options ('unknown options 1, 2, 3')
      if grad[1] ~= nil then raise('backward: the gradient must be a tensor, got a table (make it with nl.tensor)') end
      grad, opts = nil, grad
    end
    local retain, inputs = 0, nil
    if opts ~= nil then
      opts = nl._opts('backward', opts)
      nl._check_opts('backward', opts, BACKWARD_OPTS)
      retain = opts.retain_graph and 1 or 0
      if opts.inputs ~= nil then inputs = backward_inputs(opts.inputs) end
    end
    local p, gp = T(t, 'backward'), grad ~= nil and T(grad, 'backward') or nil
    if opts ~= nil and (opts.create_graph or inputs) then
      -- the root checked as C checks it
      if bit.band(p.flags, lib.NL_FLAG_REQUIRES_GRAD) == 0 then
        raise(('backward: the tensor of shape %s does not require grad (no input of the ops that made it requires '
               .. 'grad)'):format(nl._shape_str(t)))
      end
      if gp ~= nil and nl._shape_str(grad) ~= nl._shape_str(t) then
        raise(('backward: gradient of shape %s for a tensor of shape %s'):format(nl._shape_str(grad), nl._shape_str(t)))
      end
      if gp == nil and p.numel ~= 1 then
        raise(('backward: a gradient is needed for a non-scalar tensor of shape %s'):format(nl._shape_str(t)))
      end
      if inputs then
        -- a tensor an op made retains its gradient, as 1.13's backward
        -- makes it (its hooks run before that fills .grad, as there)
        for _, x in ipairs(inputs) do
          if lib.nl_is_leaf(x.ptr) == 0 then Tensor.retain_grad(x) end
        end
      end
      if opts.create_graph then
        create_graph_run('backward', { t }, { grad }, inputs, opts.retain_graph == false, true)
        local after = nl._after_backward
        if after then after(false) end
        return
      end
      local n = #inputs
      local arr = ptrs(n)
      for i = 1, n do arr[i - 1] = inputs[i].ptr end
      local rc = backward_inputs_c(p, gp, n, arr, retain)
      local after = nl._after_backward
      if rc ~= 0 then
        local msg = anomaly_message(ffi.string(lib.nl_error()))
        if after then pcall(after, true) end
        hook_raise(msg)
      end
      if after then after(false) end
      return
    end
    if any_hooks then drop_dead() end
    local rc
    if any_hooks then rc = backward_hooked(p, gp, retain)
    elseif custom_live then rc = backward_custom(p, gp, retain)
    else rc = lib.nl_backward(p, gp, retain) end
    -- nn.DataParallel averages gradients across ranks here, also after a
    -- failed backward (its error is raised after)
    local after = nl._after_backward
    if rc ~= 0 then
      local msg = anomaly_message(ffi.string(lib.nl_error()))
      if after then pcall(after, true) end
      hook_raise(msg)
    end
    if after then after(false) end
  end

  -- nl.autograd.grad(outputs, inputs, {grad_outputs, retain_graph,
  -- allow_unused, create_graph}): PyTorch's torch.autograd.grad. outputs
  -- and inputs are a tensor or a list of them; grad_outputs, a tensor or a
  -- list with one entry per output (nil: 1 for a one-element output).
  -- Returns the list of the inputs' gradients, nil for an input the
  -- outputs do not reach when allow_unused (else an error); no .grad
  -- changes. create_graph: the gradients have a graph of their own (a
  -- gradient penalty, a Hessian-vector product), and the graph is kept
  -- unless retain_graph is false.
  nl.autograd = nl.autograd or {}
  -- (only_inputs: PyTorch 1.13's deprecated flag, which it ignores, as here)
  local GRAD_OPTS = { grad_outputs = 1, retain_graph = 'flag', allow_unused = 'flag', create_graph = 'flag',
                      is_grads_batched = 'flag', only_inputs = 'flag' }
  -- a list of tensors (or one tensor) as a C array; what names the list in
  -- messages; holes: entries may be nil, up to n
  local function tensor_list(what, v, n, holes)
    if nl.is_tensor(v) then v = { v } end
    if type(v) ~= 'table' or getmetatable(v) ~= nil then
      nl._argerror('grad', 'a tensor or a list of tensors as ' .. what, v)
    end
    local len = table.maxn(v)
    if n == nil then n = len end
    if n == 0 then raise('grad: ' .. what .. ' is an empty list') end
    if len > n then raise(('grad: %s has %d entries for %d outputs'):format(what, len, n)) end
    local arr = ptrs(n)
    for i = 1, n do
      local x = v[i]
      if x ~= nil or not holes then
        if not nl.is_tensor(x) then
          raise(('grad: entry %d of %s must be a tensor%s, got %s'):format(i, what, holes and ' or nil' or '',
                                                                             nl._describe_arg(x)))
        end
        arr[i - 1] = T(x, 'grad')
      end
    end
    return arr, n, v
  end
  function nl.autograd.grad(outputs, inputs, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('grad', '(outputs, inputs, [{options}])', nil, ...) end
    opts = nl._opts('grad', opts)
    nl._check_opts('grad', opts, GRAD_OPTS)
    if opts.is_grads_batched then raise('grad: is_grads_batched is not supported') end
    local outs, n_out = tensor_list('outputs', outputs)
    local gouts = nil
    if opts.grad_outputs ~= nil then gouts = tensor_list('grad_outputs', opts.grad_outputs, n_out, true) end
    local ins, n_in, list = tensor_list('inputs', inputs)
    if opts.create_graph then
      -- the same checks as nl_grad's, in C
      local gl = opts.grad_outputs
      if nl.is_tensor(gl) then gl = { gl } end
      local outl = nl.is_tensor(outputs) and { outputs } or outputs
      local roots, rgrads = {}, {}
      for j = 1, n_out do
        local o = outl[j]
        roots[j] = o
        rgrads[j] = gl and gl[j] or nil
        if bit.band(o.ptr.flags, lib.NL_FLAG_REQUIRES_GRAD) == 0 then
          raise(('grad: output %d (shape %s) does not require grad (no input of the ops that made it requires '
                 .. 'grad)'):format(j, nl._shape_str(o)))
        end
        if rgrads[j] then
          if nl._shape_str(rgrads[j]) ~= nl._shape_str(o) then
            raise(('grad: grad_outputs %d has shape %s, but output %d has shape %s'):format(
              j, nl._shape_str(rgrads[j]), j, nl._shape_str(o)))
          end
        elseif o:numel() ~= 1 then
          raise(('grad: output %d of shape %s is not a scalar: give its gradient in grad_outputs'):format(
            j, nl._shape_str(o)))
        end
      end
      for j = 1, n_in do
        if bit.band(list[j].ptr.flags, lib.NL_FLAG_REQUIRES_GRAD) == 0 then
          raise(('grad: input %d (shape %s) does not require grad'):format(j, nl._shape_str(list[j])))
        end
      end
      local got = create_graph_run('grad', roots, rgrads, list, opts.retain_graph == false)
      for j = 1, n_in do
        if got[j] == nil and not opts.allow_unused then
          raise(('grad: input %d (shape %s) was not used to compute the outputs; pass allow_unused = true to get '
                 .. 'nil for it'):format(j, nl._shape_str(list[j])))
        end
      end
      return got
    end
    local got = ptrs(n_in)
    if any_hooks then drop_dead() end
    local cb = any_hooks and hook_cb or nil
    if lib.nl_grad(n_out, outs, gouts, n_in, ins, got, opts.retain_graph and 1 or 0, cb, nil) ~= 0 then
      hook_raise(anomaly_message(ffi.string(lib.nl_error())))
    end
    local res, unused = {}, nil
    for i = 1, n_in do
      if got[i - 1] ~= nil then res[i] = wrap(got[i - 1]) elseif not unused then unused = i end
    end
    if unused and not opts.allow_unused then
      raise(('grad: input %d (shape %s) was not used to compute the outputs; pass allow_unused = true to get '
             .. 'nil for it'):format(unused, nl._shape_str(list[unused])))
    end
    return res
  end
  jit.off(nl.autograd.grad)   -- (it calls nl_grad, which may call back: see backward_hooked)

  -- fn runs with grad mode off (no_grad) or on (enable_grad, PyTorch's
  -- torch.enable_grad: a graph again inside no_grad); its results are
  -- returned, and the mode is restored after, also when fn raises
  local function with_grad_mode(op, on, fn)
    if type(fn) ~= 'function' then raise(op .. ': expected a function, got ' .. type(fn)) end
    local prev = lib.nl_set_grad_enabled(on)
    local res = { pcall(fn) }
    lib.nl_set_grad_enabled(prev)
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, table.maxn(res))
  end
  function nl.no_grad(fn, ...)
    if select('#', ...) > 0 then nl._no_extra_args('no_grad', '(fn)', nil, ...) end
    return with_grad_mode('no_grad', 0, fn)
  end
  function nl.enable_grad(fn, ...)
    if select('#', ...) > 0 then nl._no_extra_args('enable_grad', '(fn)', nil, ...) end
    return with_grad_mode('enable_grad', 1, fn)
  end
  function nl.is_grad_enabled(...)
    if select('#', ...) > 0 then nl._no_extra_args('is_grad_enabled', '()', nil, ...) end
    return lib.nl_is_grad_enabled() ~= 0
  end
  function nl.set_grad_enabled(on, ...)
    if select('#', ...) > 0 then nl._no_extra_args('set_grad_enabled', '(mode)', nil, ...) end
    if type(on) ~= 'boolean' then nl._argerror('set_grad_enabled', 'a boolean', on) end
    return lib.nl_set_grad_enabled(on and 1 or 0) ~= 0
  end

  -- Compares the Jacobian backward computes with central differences,
  -- entry by entry, as PyTorch's gradcheck does: output element j's row by
  -- nl.autograd.grad of a one-hot gradient w.r.t. the checked inputs
  -- alone, input element k's column by f at x_k +- eps; each entry within
  -- atol + rtol |numeric|. (A single projection sum(f * w) let an error in
  -- one entry hide in a sum over many outputs.) As PyTorch's, it changes
  -- no .grad: neither the inputs' nor that of another leaf f uses (a
  -- module's parameters, which each backward pass added a row to).
  -- inputs: float64 leaf tensors, those that require grad, are checked;
  -- the others (an int64 index, a number) go to f as they are, as
  -- PyTorch's. Returns true, or false and a message; errors on misuse.
  -- f may return several results: their float tensors that require grad
  -- are checked, as PyTorch's gradcheck checks each output of a tuple, as
  -- one output of their elements in order (only the first was checked, so
  -- a wrong gradient of a second result passed); where none requires
  -- grad, all of them, whose numeric derivatives must then be 0.
  -- raise_exception = true raises the message instead (PyTorch's default).
  -- The check itself, gradcheck(op, f, inputs, opts, describe), and its
  -- inputs' checks are nl._gradcheck and nl._gradcheck_inputs for
  -- nl.autograd.gradgradcheck (autograd_gradcheck.lua): op names the
  -- caller in messages; describe(i, k, j) names input i's element k and
  -- output element j in the message of a mismatch.
  local GRADCHECK_OPTS = { eps = 1, atol = 1, rtol = 1, raise_exception = 'flag' }
  -- f's results as one tensor: its float tensors that require grad (all
  -- of them where none does), flat in order; keep: the places of those
  -- taken, chosen at f's first call (where they require grad) and kept
  -- for the calls under no_grad
  local function joined(keep, ...)
    local n = select('#', ...)
    if not keep[1] then
      local any = false
      for r = 1, n do
        local o = select(r, ...)
        any = any or nl.is_tensor(o) and o:dtype() ~= 'int64' and o.is_requires_grad
      end
      for r = 1, n do
        local o = select(r, ...)
        if nl.is_tensor(o) and o:dtype() ~= 'int64' and (o.is_requires_grad or not any) then keep[#keep + 1] = r end
      end
      keep.n = n
    end
    if n <= 1 then return (...) end
    local parts = {}
    for _, r in ipairs(keep) do
      local o = select(r, ...)
      if nl.is_tensor(o) then parts[#parts + 1] = o:double():reshape(-1) end
    end
    if #parts <= 1 then return parts[1] or (...) end
    return nl.cat(parts, 1)
  end
  local function check_inputs(op, inputs)
    if nl.is_tensor(inputs) then inputs = { inputs } end
    if type(inputs) ~= 'table' then nl._argerror(op, 'a tensor or a list of tensors as inputs', inputs) end
    for i, x in ipairs(inputs) do
      -- (an input that does not require grad is passed to f as it is: an
      -- int64 index, a number, a float32 tensor, as PyTorch's)
      if nl.is_tensor(x) and x.is_requires_grad and x:dtype() ~= 'float64' then
        raise(('%s: input %d must be a float64 tensor'):format(op, i))
      end
      -- a non-leaf keeps no .grad (its backward read as 0), and the
      -- elements of an expanded view are one number (perturbed as many)
      if nl.is_tensor(x) and x.is_requires_grad then
        if not x:is_leaf() then
          raise(('%s: input %d is not a leaf (it came from an op); pass x:detach():requires_grad()'):format(op, i))
        end
        for d = 1, x:dim() do
          if x:stride(d) == 0 and x:size(d) > 1 then
            raise(('%s: input %d of shape %s repeats memory (stride 0 in dim %d); pass a contiguous copy'):format(
              op, i, nl._shape_str(x), d))
          end
        end
      end
    end
    -- as PyTorch's ValueError (with none, backward of f's result failed
    -- with a message naming backward, or a result made from a module's
    -- parameters alone passed having checked nothing)
    local any = false
    for _, x in ipairs(inputs) do any = any or nl.is_tensor(x) and x.is_requires_grad end
    if not any then
      local shapes = {}
      for i, x in ipairs(inputs) do shapes[i] = nl.is_tensor(x) and nl._shape_str(x) or nl._describe_arg(x) end
      raise(('%s: expects at least one input tensor to require gradient, but none of the %d (shapes %s) '
             .. 'does: pass x:requires_grad() for those to check'):format(op, #inputs, table.concat(shapes, ', ')))
    end
    return inputs
  end
  nl._gradcheck_inputs = check_inputs
  -- the check on validated inputs, checked: the indices of those that
  -- require grad
  local function run_check(op, f, inputs, opts, describe, checked)
    local eps, atol, rtol = opts.eps or 1e-6, opts.atol or 1e-5, opts.rtol or 1e-3
    local keep = {}
    local out = joined(keep, f(unpack(inputs)))
    if not nl.is_tensor(out) then raise(op .. ': f must return a tensor') end
    local od = out:double()
    local nout = od:numel()
    -- rows[i][j]: d out_j / d input i, flat, or false where no gradient
    -- came; where no result of f requires grad, no backward, and every
    -- numeric derivative must be 0, as PyTorch's (backward raised, naming
    -- backward, and a constant result was refused)
    local diff = od.is_requires_grad
    local rows, wrt = {}, {}
    for r, i in ipairs(checked) do rows[i], wrt[r] = {}, inputs[i] end
    for j = 1, diff and nout or 0 do
      local onehot = nl.zeros(od:shape(), 'float64')
      onehot:view(-1)[j] = 1
      local g = nl.autograd.grad(od, wrt, { grad_outputs = onehot, retain_graph = true, allow_unused = true })
      for r, i in ipairs(checked) do
        rows[i][j] = g[r] ~= nil and g[r]:reshape(-1):totable() or false
      end
    end
    local function at()
      return nl.no_grad(function() return joined(keep, f(unpack(inputs))):double():reshape(-1):totable() end)
    end
    for _, i in ipairs(checked) do
      local x = inputs[i]
      local p = ffi.cast('double *', x.ptr.data)
      for k = 1, x:numel() do
        -- perturb element k (row-major) through x's strides
        local off, rem = 0, k - 1
        for d = x:dim(), 1, -1 do
          local sz = x:size(d)
          off = off + (rem % sz) * x:stride(d)
          rem = math.floor(rem / sz)
        end
        local orig = p[off]
        p[off] = orig + eps
        local fp = at()
        p[off] = orig - eps
        local fm = at()
        p[off] = orig
        for j = 1, nout do
          local numeric = (fp[j] - fm[j]) / (2 * eps)
          local row = rows[i][j]
          local a = row and row[k] or 0
          -- written so that NaN on either side fails
          if not (math.abs(a - numeric) <= atol + rtol * math.abs(numeric)) then
            local msg = ('%s: %s: backward %.10g, numeric %.10g%s'):format(op,
              describe and describe(i, k, j) or ('input %d element %d, output element %d'):format(i, k, j), a, numeric,
              diff and '' or ' (no result of f requires grad, so the numeric derivatives must be 0)')
            if opts.raise_exception then raise(msg) end
            return false, msg
          end
        end
      end
    end
    return true
  end
  local function gradcheck(op, f, inputs, opts, describe)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, GRADCHECK_OPTS)
    if type(f) ~= 'function' then raise(op .. ': expected a function, got ' .. type(f)) end
    inputs = check_inputs(op, inputs)
    local checked = {}
    for i, x in ipairs(inputs) do
      if nl.is_tensor(x) and x.is_requires_grad then checked[#checked + 1] = i end
    end
    return run_check(op, f, inputs, opts, describe, checked)
  end
  nl._gradcheck = gradcheck
  function nl.gradcheck(f, inputs, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('gradcheck', '(func, inputs, [{options}])', nil, ...) end
    return gradcheck('gradcheck', f, inputs, opts)
  end
  -- (PyTorch's torch.autograd.gradcheck)
  nl.autograd.gradcheck = nl.gradcheck
end
