-- profiler.lua: nl.profiler, in the spirit of torch.profiler: the time
-- each op, module forward, optimizer step, user range and backward node
-- took, per call (events) and per name (key_averages, table), and a
-- Chrome trace. Not here: sampling, memory or FLOP counts, devices.
--
-- Nothing is instrumented while no profile runs. start() swaps the public
-- functions (nl's, Tensor's and its operators, nn.functional's, the nn
-- classes' forward, the optimizers' step and zero_grad) for timed wrappers
-- and turns on the runtime's record of backward nodes; stop() puts every
-- one back. Traces the JIT compiled hold the functions they called, so
-- both flush them (jit.flush). An op is timed at the Lua call, so an op
-- another one calls through those tables is its child (as aten::linear's
-- aten::matmul); a module's own C kernels count as its self time.
local ffi = require 'ffi'
local jit = require 'jit'
local json = require 'nnlua.json'

return function(nl)
  local lib = nl._lib
  local raise, now = nl._raise, lib.nl_time
  local profiler = {}

  -- ---- the recording (one profile at a time, on the thread that runs Lua) --
  -- events i = 1..n: names, kinds, starts and ends (nl_time's seconds),
  -- selfs (the time outside child events), parents (an event or 0),
  -- shapes (record_shapes) and the open ones on a stack with, per level,
  -- the time of the children closed so far
  local KIND_OP, KIND_USER, KIND_NODE = 1, 2, 3
  local names, kinds, starts, ends, selfs, parents, shapes
  local n = 0
  local stack, child, sp = {}, {}, 0
  local record_shapes = false
  local nbuf = ffi.new('int64_t[1]')

  local function camel(op)
    return (op:gsub('^%l', string.upper):gsub('_(%w)', string.upper))
  end
  local node_names = {}
  for i = 0, tonumber(lib.NL_OP_COUNT) - 1 do
    node_names[i] = camel(ffi.string(lib.nl_op_name(i))) .. 'Backward'
  end

  -- the backward nodes the runtime timed since the last call: children of
  -- the open event (they ran inside it, before what opens or closes now)
  local function drain()
    local ev = lib.nl_profiler_events(nbuf)
    local m = tonumber(nbuf[0])
    if m == 0 then return end
    local parent = stack[sp] or 0
    local sum = 0
    for k = 0, m - 1 do
      local e = ev[k]
      n = n + 1
      names[n], kinds[n], starts[n], ends[n], parents[n] = node_names[e.op], KIND_NODE, e.start, e['end'], parent
      selfs[n] = e['end'] - e.start
      sum = sum + selfs[n]
    end
    lib.nl_profiler_clear()
    if sp > 0 then child[sp] = child[sp] + sum end
  end

  local function describe_shapes(...)
    local parts = {}
    for k = 1, select('#', ...) do
      local a = select(k, ...)
      parts[k] = nl.is_tensor(a) and a.ptr ~= nil and '[' .. table.concat(a:shape(), ', ') .. ']' or '[]'
    end
    return '[' .. table.concat(parts, ', ') .. ']'
  end

  -- opens an event; returns its level on the stack
  local function enter(name, kind, ...)
    drain()
    n = n + 1
    local i = n
    names[i], kinds[i], parents[i] = name, kind, stack[sp] or 0
    if record_shapes then shapes[i] = describe_shapes(...) end
    sp = sp + 1
    stack[sp], child[sp] = i, 0
    starts[i] = now()
    return sp
  end

  -- closes the events open at level and above (those above: a call that
  -- raised an error, closed now) and returns ...
  local function leave(level, ...)
    local t = now()
    drain()
    while sp >= level do
      local i = stack[sp]
      local d = t - starts[i]
      ends[i], selfs[i] = t, d - child[sp]
      stack[sp] = nil
      sp = sp - 1
      if sp > 0 then child[sp] = child[sp] + d end
    end
    return ...
  end

  -- ---- the wrappers -----------------------------------------------------------
  -- Not ops: reading a tensor's metadata, flags, settings, and the
  -- functions that run the caller's own code (no_grad(fn))
  local SKIP = {
    shape = true, size = true, dim = true, ndimension = true, numel = true, nelement = true, dtype = true,
    stride = true, storage_offset = true, data_ptr = true, element_size = true, requires_grad = true,
    requires_grad_ = true, retain_grad = true, register_hook = true, type = true,
    no_grad = true, enable_grad = true, inference_mode = true, detect_anomaly = true, manual_seed = true,
    seed = true, initial_seed = true, memory = true, plot = true, time = true, blas_arch = true,
    gradcheck = true, gradgradcheck = true,
  }
  local function skipped(k)
    return type(k) ~= 'string' or SKIP[k] or k:sub(1, 1) == '_' or k:match('^is_') or k:match('^set_')
      or k:match('^get_')
  end

  -- pcall and xpcall: the events a raised error left open are closed
  -- when it is caught, so that what follows is not taken for their
  -- children
  local function settle(level, ...)
    if sp > level then leave(level + 1) end
    return ...
  end
  local g_pcall, g_xpcall = pcall, xpcall
  local function timed_pcall(...) return settle(sp, g_pcall(...)) end
  local function timed_xpcall(...) return settle(sp, g_xpcall(...)) end

  local installed = {}      -- { table, key, original, wrapper } of every swap
  local wrappers = {}       -- original -> its wrapper (one per function, named where first met)

  local function swap(t, k, f, w)
    installed[#installed + 1] = { t, k, f, w }
    rawset(t, k, w)
  end

  local function wrap_fn(t, k, name)
    local f = rawget(t, k)
    if type(f) ~= 'function' then return end
    local w = wrappers[f]
    if not w then
      w = function(...) return leave(enter(name, KIND_OP, ...), f(...)) end
      wrappers[f] = w
    end
    swap(t, k, f, w)
  end

  local function wrap_table(t, prefix)
    if type(t) ~= 'table' then return end
    local keys = {}
    for k, v in pairs(t) do
      if type(v) == 'function' and not skipped(k) then keys[#keys + 1] = k end
    end
    table.sort(keys)
    for _, k in ipairs(keys) do wrap_fn(t, k, prefix .. k) end
  end

  -- a method whose event is named after self's class: name(self)
  local function wrap_method(t, k, name)
    local f = rawget(t, k)
    if type(f) ~= 'function' or wrappers[f] then return end
    local w = function(self, ...) return leave(enter(name(self), KIND_OP, ...), f(self, ...)) end
    wrappers[f] = w
    swap(t, k, f, w)
  end

  local module_names, step_names = {}, {}
  local function module_name(self)
    local c = type(self) == 'table' and self.__name or '?'
    local s = module_names[c]
    if not s then s = 'nn.' .. tostring(c); module_names[c] = s end
    return s
  end
  local function optim_name(what)
    return function(self)
      local c = type(self) == 'table' and self.name or '?'
      local key = what .. tostring(c)
      local s = step_names[key]
      if not s then s = ('Optimizer.%s#%s.%s'):format(what, tostring(c), what); step_names[key] = s end
      return s
    end
  end

  local function install()
    -- (the rarer Tensor methods, nl functions and nn families first, to
    -- be timed too; and the Tensor extras' loading puts back names this
    -- would have wrapped)
    nl._load_tensor_extras()
    nl.nn._load_all()
    swap(_G, 'pcall', g_pcall, timed_pcall)
    swap(_G, 'xpcall', g_xpcall, timed_xpcall)
    wrap_table(nl.Tensor, '')
    local mt = nl._tensor_mt
    for mm, name in pairs({ __add = 'add', __sub = 'sub', __mul = 'mul', __div = 'div', __pow = 'pow',
                            __unm = 'neg', __mod = 'remainder' }) do
      wrap_fn(mt, mm, name)
    end
    wrap_table(nl, '')
    wrap_table(rawget(nl.autograd, 'functional'), 'autograd.functional.')
    wrap_fn(nl.autograd, 'grad', 'autograd.grad')
    local nn = nl.nn
    wrap_table(rawget(nn, 'functional'), '')
    for _, cls in pairs(nn._classes) do wrap_method(cls, 'forward', module_name) end
    local optim = nl.optim
    local Optimizer = rawget(optim, 'Optimizer')
    for _, cls in pairs(optim) do
      local m = type(cls) == 'table' and getmetatable(cls)
      if cls == Optimizer or (m and m.__index == Optimizer) then
        wrap_method(cls, 'step', optim_name('step'))
        wrap_method(cls, 'zero_grad', optim_name('zero_grad'))
      end
    end
  end

  -- every swap undone, where the wrapper is still in place
  local function uninstall()
    for j = #installed, 1, -1 do
      local s = installed[j]
      if rawget(s[1], s[2]) == s[4] then rawset(s[1], s[2], s[3]) end
      installed[j] = nil
    end
    wrappers = {}
  end

  -- ---- profiles ---------------------------------------------------------------
  local Profile = {}
  Profile.__index = Profile
  local running = nil       -- the profile recording now

  local function check_profile(p, op)
    if getmetatable(p) ~= Profile then raise(('profiler: %s must be called on a profile (p:%s())'):format(op, op)) end
  end

  function Profile:start()
    check_profile(self, 'start')
    if running then
      raise('profiler: start: a profile is already running; nested profiles are not supported (stop it first)')
    end
    if self._state ~= 'new' then raise('profiler: start: this profile has already run; make a new one') end
    self._state = 'running'
    running = self
    names, kinds, starts, ends, selfs, parents, shapes = {}, {}, {}, {}, {}, {}, {}
    n, sp, stack, child = 0, 0, {}, {}
    record_shapes = self._record_shapes
    local ok, err = g_pcall(install)
    if not ok then
      uninstall()
      running, self._state = nil, 'new'
      error(err, 0)
    end
    lib.nl_profiler_enable(1)
    lib.nl_profiler_clear()
    jit.flush()
    self._t0 = now()
    return self
  end

  function Profile:stop()
    check_profile(self, 'stop')
    if self._state == 'new' then raise('profiler: stop without start: call p:start() first') end
    if self._state == 'stopped' then raise('profiler: stop: this profile has already stopped') end
    if sp > 0 then leave(1) else drain() end
    self._t1 = now()
    lib.nl_profiler_enable(0)
    uninstall()
    jit.flush()
    running, self._state = nil, 'stopped'
    -- the events by start time, in microseconds from start(); parents
    -- renumbered
    local order = {}
    for i = 1, n do order[i] = i end
    table.sort(order, function(a, b)
      if starts[a] ~= starts[b] then return starts[a] < starts[b] end
      return a < b
    end)
    local pos, t0, evs = {}, self._t0, {}
    for j, i in ipairs(order) do pos[i] = j end
    for j, i in ipairs(order) do
      local parent = parents[i] ~= 0 and pos[parents[i]] or nil
      evs[j] = {
        name = names[i],
        kind = kinds[i] == KIND_USER and 'user_annotation' or kinds[i] == KIND_NODE and 'backward' or 'cpu_op',
        start = (starts[i] - t0) * 1e6, duration = (ends[i] - starts[i]) * 1e6, self = selfs[i] * 1e6,
        parent = parent, depth = parent and evs[parent].depth + 1 or 0,
        input_shapes = shapes[i],
      }
    end
    self._events = evs
    names, kinds, starts, ends, selfs, parents, shapes = nil, nil, nil, nil, nil, nil, nil
    n, sp, stack, child = 0, 0, {}, {}
    return self
  end

  local function stopped(p, op)
    check_profile(p, op)
    if p._state ~= 'stopped' then
      raise(('profiler: %s: the profile has %s; call p:%s() first'):format(op,
        p._state == 'new' and 'not run' or 'not stopped', p._state == 'new' and 'start' or 'stop'))
    end
    return p._events
  end

  -- the events by start time: { name, kind ('cpu_op', 'user_annotation',
  -- 'backward'), start (microseconds from start()), duration, self,
  -- parent (the index of the enclosing event) and depth, input_shapes }
  function Profile:events()
    local evs, out = stopped(self, 'events'), {}
    for i, e in ipairs(evs) do
      local c = {}
      for k, v in pairs(e) do c[k] = v end
      out[i] = c
    end
    return out
  end

  -- ---- key_averages and table --------------------------------------------------
  local KeyAverages = {}
  KeyAverages.__index = KeyAverages

  -- one row per name (and input shapes, with group_by_input_shape), in the
  -- order of their first calls: key, count, cpu_time_total,
  -- self_cpu_time_total, cpu_time (the average per call), self_cpu_time,
  -- input_shapes; times in microseconds
  function Profile:key_averages(opts)
    local evs = stopped(self, 'key_averages')
    if opts ~= nil and type(opts) ~= 'table' then
      raise(('profiler: key_averages: options must be a table, got %s'):format(type(opts)))
    end
    opts = opts or {}
    nl._check_opts('profiler: key_averages', opts, { group_by_input_shape = 'flag' })
    local by_shape = opts.group_by_input_shape
    if by_shape and not self._record_shapes then
      raise('profiler: key_averages: group_by_input_shape needs a profile made with record_shapes = true')
    end
    local rows, index = {}, {}
    for _, e in ipairs(evs) do
      local key = by_shape and e.name .. '\0' .. (e.input_shapes or '') or e.name
      local r = index[key]
      if not r then
        r = { key = e.name, count = 0, cpu_time_total = 0, self_cpu_time_total = 0,
              input_shapes = by_shape and e.input_shapes or nil }
        index[key] = r
        rows[#rows + 1] = r
      end
      r.count = r.count + 1
      r.cpu_time_total = r.cpu_time_total + e.duration
      r.self_cpu_time_total = r.self_cpu_time_total + e.self
    end
    for _, r in ipairs(rows) do
      r.cpu_time = r.cpu_time_total / r.count
      r.self_cpu_time = r.self_cpu_time_total / r.count
    end
    return setmetatable({ rows = rows, _by_shape = by_shape }, KeyAverages)
  end

  local SORT_KEYS = { self_cpu_time_total = true, cpu_time_total = true, cpu_time = true, self_cpu_time = true,
                      count = true }

  -- PyTorch's format_time
  local function fmt_time(us)
    if us >= 1e6 then return ('%.3fs'):format(us / 1e6) end
    if us >= 1e3 then return ('%.3fms'):format(us / 1e3) end
    return ('%.3fus'):format(us)
  end

  -- the rows as PyTorch's table: sort_by (a row field, largest first;
  -- default self_cpu_time_total), row_limit (default all),
  -- max_name_column_width (55)
  function KeyAverages:table(opts)
    if getmetatable(self) ~= KeyAverages then raise('profiler: table must be called on key_averages() (ka:table())') end
    if opts ~= nil and type(opts) ~= 'table' then
      raise(('profiler: table: options must be a table, got %s'):format(type(opts)))
    end
    opts = opts or {}
    nl._check_opts('profiler: table', opts, { sort_by = 1, row_limit = 1, max_name_column_width = 1 })
    local sort_by = opts.sort_by or 'self_cpu_time_total'
    if not SORT_KEYS[sort_by] then
      raise(("profiler: table: sort_by must be one of 'self_cpu_time_total', 'cpu_time_total', 'cpu_time', "
             .. "'self_cpu_time', 'count', got %s"):format(nl._describe_arg(sort_by)))
    end
    for _, k in ipairs({ 'row_limit', 'max_name_column_width' }) do
      local v = opts[k]
      if v ~= nil and (type(v) ~= 'number' or v < 1 or v ~= math.floor(v)) then
        raise(('profiler: table: %s must be a positive integer, got %s'):format(k, nl._describe_arg(v)))
      end
    end
    local rows = {}
    for i, r in ipairs(self.rows) do rows[i] = r end
    table.sort(rows, function(a, b)
      if a[sort_by] ~= b[sort_by] then return a[sort_by] > b[sort_by] end
      return a.key < b.key
    end)
    local self_total = 0
    for _, r in ipairs(self.rows) do self_total = self_total + r.self_cpu_time_total end
    local limit = math.min(opts.row_limit or #rows, #rows)
    local maxw = opts.max_name_column_width or 55
    local namew = 4
    for i = 1, limit do namew = math.max(namew, math.min(#rows[i].key, maxw)) end
    local shapew = 12
    if self._by_shape then
      for i = 1, limit do shapew = math.max(shapew, math.min(#(rows[i].input_shapes or ''), 80)) end
    end
    local heads = { 'Self CPU %', 'Self CPU', 'CPU total %', 'CPU total', 'CPU time avg', '# of Calls' }
    local function line()
      local parts = { ('-'):rep(namew) }
      for _ = 1, #heads do parts[#parts + 1] = ('-'):rep(12) end
      if self._by_shape then parts[#parts + 1] = ('-'):rep(shapew) end
      return table.concat(parts, '  ') .. '  '
    end
    local function row(cells, name, shape)
      local parts = { ('%' .. namew .. 's'):format(name) }
      for _, c in ipairs(cells) do parts[#parts + 1] = ('%12s'):format(c) end
      if self._by_shape then parts[#parts + 1] = ('%-' .. shapew .. 's'):format(shape) end
      return table.concat(parts, '  ') .. '  '
    end
    local function pct(x) return self_total > 0 and ('%.2f%%'):format(100 * x / self_total) or '0.00%' end
    local out = { line(), row(heads, 'Name', 'Input Shapes'), line() }
    for i = 1, limit do
      local r = rows[i]
      local name = #r.key > maxw and r.key:sub(1, maxw - 3) .. '...' or r.key
      local shape = r.input_shapes or ''
      if #shape > shapew then shape = shape:sub(1, shapew - 3) .. '...' end
      out[#out + 1] = row({ pct(r.self_cpu_time_total), fmt_time(r.self_cpu_time_total), pct(r.cpu_time_total),
                            fmt_time(r.cpu_time_total), fmt_time(r.cpu_time), tostring(r.count) }, name, shape)
    end
    out[#out + 1] = line()
    out[#out + 1] = 'Self CPU time total: ' .. fmt_time(self_total)
    return table.concat(out, '\n') .. '\n'
  end
  KeyAverages.__tostring = KeyAverages.table

  -- p:table(opts): p:key_averages(opts.group_by_input_shape):table(opts)
  function Profile:table(opts)
    check_profile(self, 'table')
    if opts ~= nil and type(opts) ~= 'table' then
      raise(('profiler: table: options must be a table, got %s'):format(type(opts)))
    end
    local rest, by_shape = {}, nil
    for k, v in pairs(opts or {}) do
      if k == 'group_by_input_shape' then by_shape = v else rest[k] = v end
    end
    return self:key_averages({ group_by_input_shape = by_shape }):table(rest)
  end

  -- ---- Chrome trace -------------------------------------------------------------
  -- chrome://tracing's (and Perfetto's) JSON: one complete ('X') event per
  -- event, times in microseconds; the file is written whole or not at all
  function Profile:export_chrome_trace(path)
    local evs = stopped(self, 'export_chrome_trace')
    if type(path) ~= 'string' or path == '' then
      raise(('profiler: export_chrome_trace: expected a file path, got %s'):format(nl._describe_arg(path)))
    end
    local out = {}
    for i, e in ipairs(evs) do
      out[i] = { name = e.name, ph = 'X', cat = e.kind, ts = e.start, dur = e.duration, pid = 1, tid = 1,
                 args = e.input_shapes and { ['Input Shapes'] = e.input_shapes } or nil }
    end
    local s = json.encode({ traceEvents = out, displayTimeUnit = 'ms' })
    if #out == 0 then s = s:gsub('"traceEvents":{}', '"traceEvents":[]') end
    if lib.nl_write_file(path, s, #s) ~= 0 then
      raise(('profiler: export_chrome_trace: %s'):format(ffi.string(lib.nl_error())))
    end
    return path
  end

  -- ---- the module's functions -------------------------------------------------

  -- profile([opts]) -> a profile to start and stop; profile(fn, [opts])
  -- runs fn() profiled and returns the stopped profile (stopped too when
  -- fn raises, and the error goes on). opts: record_shapes.
  function profiler.profile(fn, opts)
    if type(fn) ~= 'function' then
      if opts ~= nil then
        raise(('profiler.profile: expected (fn, [opts]) or ([opts]), got %s first'):format(nl._describe_arg(fn)))
      end
      fn, opts = nil, fn
    end
    if opts ~= nil and type(opts) ~= 'table' then
      raise(('profiler.profile: options must be a table, got %s'):format(nl._describe_arg(opts)))
    end
    opts = opts or {}
    nl._check_opts('profiler.profile', opts, { record_shapes = 'flag' })
    local p = setmetatable({ _state = 'new', _record_shapes = opts.record_shapes == true }, Profile)
    if not fn then return p end
    p:start()
    local ok, err = g_pcall(fn)
    p:stop()
    if not ok then error(err, 0) end
    return p
  end

  -- record_function(name, fn, ...): fn(...)'s results; while a profile
  -- runs, its time is an event named name
  function profiler.record_function(name, fn, ...)
    if type(name) ~= 'string' then
      raise(('profiler.record_function: expected a name (a string), got %s'):format(nl._describe_arg(name)))
    end
    if type(fn) ~= 'function' then
      raise(('profiler.record_function: expected a function after the name, got %s'):format(nl._describe_arg(fn)))
    end
    if not running then return fn(...) end
    return leave(enter(name, KIND_USER), fn(...))
  end

  -- true while a profile runs
  function profiler.is_running() return running ~= nil end

  -- it, a DataLoader epoch's iterator, each call an event named name while
  -- a profile runs (data.lua asks for it when an epoch starts in one)
  function profiler._timed_iter(it, name)
    return function(...)
      if not running then return it(...) end
      return leave(enter(name, KIND_USER), it(...))
    end
  end

  return profiler
end
