-- tensor.lua: the Tensor type of the Lua layer. A tensor is an `nl_ref`
-- cdata owning one reference to a C nl_tensor; every method is one call
-- into the C runtime. Dims and indices are 1-based here, 0-based in C.
-- Printing lives in nnlua/print.lua; autograd arrives with its own file.
local ffi = require 'ffi'

return function(nl)
  local lib = nl._lib
  local C_op = {}      -- 'add' -> NL_OP_ADD, filled below
  for i = 0, tonumber(lib.NL_OP_COUNT) - 1 do C_op[ffi.string(lib.nl_op_name(i))] = i end

  -- scratch arrays for passing shapes and dims; allocated once (STYLE 10)
  local sizes_buf = ffi.new('int64_t[8]')
  local dims_buf = ffi.new('int[8]')
  local float_p, double_p, int64_p = ffi.typeof('float *'), ffi.typeof('double *'), ffi.typeof('int64_t *')

  local dtype_ids = { float32 = 0, float = 0, float64 = 1, double = 1, int64 = 2, long = 2 }
  local dtype_names = { [0] = 'float32', [1] = 'float64', [2] = 'int64' }

  local Tensor = {}              -- methods
  local mt = {}
  local Ref = ffi.metatype('nl_ref', mt)
  nl.Tensor = Tensor
  nl._tensor_mt = mt            -- (nl.profiler swaps its operators while it runs)

  local function is_tensor(x) return ffi.istype(Ref, x) end
  nl.is_tensor = is_tensor

  -- Raise msg as a Lua error located at the user's line: the first frame
  -- outside nnlua's own Lua files (tail calls make fixed levels unreliable).
  local pkg_prefix = debug.getinfo(1, 'S').source:match('^(.*/)[^/]*$') or ''
  local function raise(msg)
    local level = 2
    while true do
      local info = debug.getinfo(level, 'S')
      if not info then break end
      if info.what ~= 'C' and info.source:sub(1, #pkg_prefix) ~= pkg_prefix then break end
      level = level + 1
    end
    error(msg, level)
  end
  nl._raise = raise

  -- ---- handles: which C tensors Lua still reaches ----------------------------
  -- A tensor handle is a plain nl_ref cdata, without a finalizer: a LuaJIT
  -- finalizer costs a protected call per object, more than a small op. The
  -- handle's slot k in a registry holds its C reference (refs[k]) and the
  -- handle itself in a weak table (handles[k]); the collector clears that
  -- entry when the handle dies. After each GC cycle (a sentinel proxy dies
  -- in every cycle; its finalizer makes the next one) the next op sweeps
  -- before it runs (T, read_sizes), and so does the end of a vm call from
  -- a host (nl._settle): it releases the references of the cleared slots
  -- (a loop the JIT compiles, which it would not inside a finalizer). The
  -- sweep once waited for the next wrap, after the next op had allocated
  -- its output: a big tensor dropped and collected still counted then, and
  -- a host's wrapped buffer waited for the vm's next op to be released. When the Lua state
  -- closes, an anchor's finalizer releases every reference left.
  local tensor_ptrs = ffi.typeof('nl_tensor *[?]')
  -- a pointer array twice the size of arr (n entries), holding its entries
  local function doubled(arr, n)
    local bigger = tensor_ptrs(n * 2)
    ffi.copy(bigger, arr, ffi.sizeof('nl_tensor *') * n)
    return bigger, n * 2
  end

  local refs, nslots, cap = tensor_ptrs(1024), 0, 1024
  local handles = setmetatable({}, { __mode = 'v' })
  local free_slots, nfree = {}, 0
  local cycled = false

  local dead, dead_cap = tensor_ptrs(1024), 1024
  local function sweep(all)
    cycled = false
    local n = 0
    for k = 1, nslots do
      local p = refs[k - 1]
      if p ~= nil and (all or handles[k] == nil) then
        refs[k - 1] = nil
        handles[k] = nil
        nfree = nfree + 1
        free_slots[nfree] = k
        if n == dead_cap then dead, dead_cap = doubled(dead, dead_cap) end
        dead[n] = p
        n = n + 1
      end
    end
    lib.nl_release_many(dead, n)
  end

  local function settle() if cycled then sweep(false) end end
  nl._settle = settle

  local function new_sentinel()
    local p = newproxy(true)
    getmetatable(p).__gc = function() cycled = true; new_sentinel() end
    return p
  end
  new_sentinel()
  local anchor = newproxy(true)
  getmetatable(anchor).__gc = function() sweep(true) end
  nl._handle_anchor = anchor        -- reachable until the state closes

  -- ---- memory: the C allocator's byte count drives the Lua GC -------------
  -- LuaJIT does not see C memory, so once enough garbage may be waiting we
  -- collect: a loop of big temporaries stays flat. What may be waiting:
  -- the growth of the live bytes over their lowest since the last
  -- collection (storage freed in C, as the tape's saved tensors after a
  -- backward, is no garbage), plus the tensor structs made since (a loop
  -- of tiny tensors). The budget, the garbage allowed to wait: the live
  -- bytes (memory at most doubles), but no more than GC_MAX, since a
  -- training loop's garbage is its activations, not its data set; and at
  -- least GC_MIN and four times the Lua heap, which a collection walks.
  -- Also waiting: the Lua tables a C object held (a custom function's
  -- context, kept until its node dies), which LuaJIT's own cycle counted
  -- live and so paced its next cycle by (nl._gc_garbage): each cycle kept
  -- the last one's, and its heap grew without bound.
  local mem = lib.nl_mem()
  local GC_MIN, GC_MAX = 8 * 2^20, 32 * 2^20
  local low, last_obj, gc_budget = tonumber(mem.live_bytes), tonumber(mem.object_bytes), GC_MIN
  local dropped = 0
  local function gc_due()
    local live = tonumber(mem.live_bytes)
    if live < low then low = live end
    return live - low + (tonumber(mem.object_bytes) - last_obj) + dropped > gc_budget
  end
  local function gc_collect()
    collectgarbage('collect')
    sweep(false)
    lib.nl_mem_tick()
    low, last_obj, dropped = tonumber(mem.live_bytes), tonumber(mem.object_bytes), 0
    gc_budget = math.max(GC_MIN, math.min(low, GC_MAX), 4 * 1024 * collectgarbage('count'))
  end

  -- wrap a new reference from C, or raise the C error at the user's level.
  -- op: the name detect_anomaly gives an output without a grad_fn (C's
  -- last op may be an internal step: max_pool2d's indices were "full");
  -- data: the tensor holds values the user gave (nl.tensor, nl.full), which
  -- detect_anomaly leaves alone (an -inf mask was refused), as it leaves
  -- views and tensors given back as they were, and copies (values no op
  -- made here)
  -- note: PyTorch's anomaly mode's (autograd.lua), given each output with
  -- a node to record the forward traceback; torch_bits: its C bits; watch:
  -- anomaly or note, the one test wrap makes
  local anomaly, note, watch, torch_bits = false, nil, false, 0
  local function set_modes()
    watch = anomaly or note ~= nil
    lib.nl_set_detect_anomaly(bit.bor(torch_bits, anomaly and lib.NL_ANOMALY_FINITE or 0))
  end
  local COPIES = { contiguous = true, clone = true, cat = true, index_select = true }
  local function raise_anomaly(name, shape)
    raise(('detect_anomaly: %s produced NaN or Inf in its output (shape %s)'):format(name, shape))
  end
  local function watched(p, op, data)
    if anomaly and not data and lib.nl_all_finite(p) == 0 and lib.nl_holds_shared(p) == 0 then
      local fn = lib.nl_grad_fn_name(p)
      local name = fn ~= nil and ffi.string(fn) or op or ffi.string(lib.nl_last_op())
      if not COPIES[name] then
        local dims = {}
        for i = 0, p.ndim - 1 do dims[#dims + 1] = tostring(tonumber(p.sizes[i])) end
        lib.nl_release(p)
        raise_anomaly(name, '[' .. table.concat(dims, ',') .. ']')
      end
    end
    if note and p.node ~= nil then note(p) end
  end
  function nl._anomaly_mode(fn, bits)
    note, torch_bits = fn, bits
    set_modes()
  end
  local function wrap(p, op, data)
    if p == nil then raise(ffi.string(lib.nl_error())) end
    if watch then watched(p, op, data) end
    local k
    if nfree > 0 then
      k = free_slots[nfree]
      nfree = nfree - 1
    else
      if nslots == cap then refs, cap = doubled(refs, cap) end
      nslots = nslots + 1
      k = nslots
    end
    local h = Ref(p)
    handles[k] = h
    refs[k - 1] = p
    if cycled then sweep(false) end
    if gc_due() then gc_collect() end
    return h
  end
  nl._wrap = wrap
  -- the arguments fn takes after self (math.huge for a vararg one)
  local function fixed_params(fn)
    local info = debug.getinfo(fn, 'u')
    return info.isvararg and math.huge or info.nparams - 1
  end
  -- op's error for the arguments ... past the most fn takes after self,
  -- naming fn's parameters: '(a, b)', or with options '(a, [{options}])'
  -- for a parameter named opts
  local function refuse_past(op, fn, most, options, ...)
    local takes = {}
    for i = 2, most + 1 do
      local p = debug.getlocal(fn, i)
      takes[i - 1] = options and p == 'opts' and '[{options}]' or p
    end
    nl._no_extra_args(op, '(' .. table.concat(takes, ', ') .. ')', nil, ...)
  end
  -- a constructor's arguments past what its init(self, ...) takes are an
  -- error naming them (Precision({}, 0.5), EarlyStopping({}, 1) dropped
  -- the last, where Keras raises TypeError); a vararg init takes any
  function nl._check_init_args(op, init, ...)
    local most = fixed_params(init)
    if select('#', ...) > most then refuse_past(op, init, most, true, select(most + 1, ...)) end
  end

  -- Wraps each method of class (a function whose name is not in skip and
  -- does not start with _) so that a call whose self fails is_self raises
  -- "<name>: expected a <kind>; call it as <var>:<name>(...)": a dot for a
  -- colon failed inside on a nil self ("attempt to index local 'self'").
  function nl._guard_methods(class, is_self, kind, var, skip)
    for name, fn in pairs(class) do
      if type(fn) == 'function' and not (skip and skip[name]) and name:sub(1, 1) ~= '_' then
        local msg = ('%s: expected %s; call it as %s:%s(...), not %s.%s(...)'):format(name, kind, var, name, var, name)
        -- a method of fixed parameters refuses more arguments, naming
        -- them (m:parameters(true, 5) dropped the 5 without a word); its
        -- count is read at the first call, not at start (time and heap)
        local most
        class[name] = function(self, ...)
          if not is_self(self) then raise(msg) end
          if most == nil then most = fixed_params(fn) end
          if select('#', ...) > most then refuse_past(name, fn, most, false, select(most + 1, ...)) end
          return fn(self, ...)
        end
      end
    end
  end

  -- for memory that is not a tensor but counts as live (a data set's bytes)
  function nl._gc_check() if gc_due() then gc_collect() end end
  -- bytes of Lua memory that C held and has let go (garbage LuaJIT
  -- counted live), paced as the tensor structs are
  function nl._gc_garbage(bytes) dropped = dropped + bytes end

  -- nl.detect_anomaly(true): the first op whose output (forward) or
  -- gradient (backward) holds NaN or Inf raises an error naming it
  function nl.detect_anomaly(on, ...)
    if select('#', ...) > 0 then nl._no_extra_args('detect_anomaly', '(mode)', nil, ...) end
    if type(on) ~= 'boolean' then raise('detect_anomaly: expected a boolean, got ' .. type(on)) end
    anomaly = on
    set_modes()
  end

  -- t, or the error detect_anomaly raises for an output of op holding NaN
  -- or Inf (for what ran under nl._without_anomaly)
  function nl._anomaly_checked(t, op)
    if anomaly and lib.nl_all_finite(t.ptr) == 0 then raise_anomaly(op, nl._shape_str(t)) end
    return t
  end

  -- fn(...) with the forward check of detect_anomaly off: for a layer's
  -- own infinities (attention's -inf where a mask blocks, which the
  -- softmax after turns to 0; PyTorch's anomaly mode checks no forward)
  function nl._without_anomaly(fn, ...)
    if not anomaly then return fn(...) end
    anomaly, watch = false, note ~= nil
    local res = { pcall(fn, ...) }
    anomaly, watch = true, true
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, table.maxn(res))
  end

  local function check(rc)
    if rc ~= 0 then raise(ffi.string(lib.nl_error())) end
  end
  nl._check = check

  local function sizes_str(p)
    local s = {}
    for i = 0, p.ndim - 1 do s[i + 1] = tonumber(p.sizes[i]) end
    return '[' .. table.concat(s, ',') .. ']'
  end

  -- what x is, for a message: a tensor by dtype and shape (it printed
  -- ctype<struct nl_ref>), other cdata by ctype, else its Lua type
  local function describe(x)
    if is_tensor(x) then
      local p = x.ptr
      if p == nil then return 'a released tensor' end
      return ('a tensor (%s %s)'):format(dtype_names[p.dtype], sizes_str(p))
    end
    return type(x) == 'cdata' and tostring(ffi.typeof(x)) or type(x)
  end
  local function argerror(op, what, x)
    raise(string.format('%s: expected %s, got %s', op, what, describe(x)))
  end

  -- the C tensor of x, or an error naming op
  local function T(x, op)
    settle()
    if not is_tensor(x) then argerror(op, 'a tensor', x) end
    local p = x.ptr
    if p == nil then raise(op .. ': the tensor was released') end
    return p
  end
  nl._T = T
  nl._argerror = argerror
  -- a value in a message: numbers as written (nan, 2.5), strings quoted
  function nl._describe_arg(x)
    if type(x) == 'number' then return tostring(x) end
    if type(x) == 'string' then return "'" .. x .. "'" end
    return describe(x)
  end
  -- raises when a call of the named arguments takes (as '(a, b)') got
  -- more, ... being the extra ones: they were dropped without a word;
  -- hint (optional) says what to do instead
  -- (the count in the message is that of takes' names and the extra
  -- ones: t:transpose(1, 2, 3) of '(dim0, dim1)' got 3)
  -- ('()' names none: t:exp(1) got 1 argument)
  -- (trailing nils are absent arguments, as Module.new takes them: a
  -- caller that passes its optional arguments on may pass nil)
  function nl._no_extra_args(op, takes, hint, ...)
    local extra = select('#', ...)
    while extra > 0 and select(extra, ...) == nil do extra = extra - 1 end
    if extra > 0 then
      local named = takes == '()' and 0 or select(2, takes:gsub(',', '')) + 1
      local n = named + extra
      raise(('%s: takes %s, got %d argument%s%s'):format(op, takes, n, n == 1 and '' or 's',
                                                         hint and '; ' .. hint or ''))
    end
  end
  -- n where t is a table whose keys are 1..n and nothing else, else nil
  function nl._list_len(t)
    if type(t) ~= 'table' then return nil end
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    for i = 1, n do if t[i] == nil then return nil end end
    return n
  end
  -- a layer's size: a whole number from 1 (NaN, 2.5 and inf reached
  -- empty and were named there)
  function nl._size_arg(v) return type(v) == 'number' and v >= 1 and v <= 2 ^ 53 and v == math.floor(v) end

  -- a table of options (nil -> {}), or an error naming op; with known,
  -- its keys checked as nl._check_opts does
  function nl._opts(op, opts, known)
    if opts == nil then return {} end
    if type(opts) ~= 'table' or getmetatable(opts) ~= nil then argerror(op, 'a table of options', opts) end
    if known then nl._check_opts(op, opts, known) end
    return opts
  end

  -- raises naming op and every key of opts that known lacks, sorted (a
  -- table's keys come in a different order in each process); hint, if
  -- given, follows in parentheses
  -- known: the keys an op reads; one marked 'flag' must be nil or a
  -- boolean (0 is true to Lua and 1 was read as false by `== true`: a
  -- flag of 0 or 'no' was silently misapplied)
  function nl._check_opts(op, opts, known, hint)
    local bad                       -- made only for an unknown key
    for k, v in pairs(opts) do
      if known[k] == nil then bad = bad or {}; bad[#bad + 1] = "'" .. tostring(k) .. "'"
      elseif known[k] == 'flag' and type(v) ~= 'boolean' then
        raise(('%s: %s must be a boolean (true or false), got %s'):format(op, tostring(k), nl._describe_arg(v)))
      end
    end
    if not bad then return end
    table.sort(bad)
    raise(('%s: unknown option%s %s%s'):format(op, #bad > 1 and 's' or '', table.concat(bad, ', '),
                                                hint and ' (' .. hint .. ')' or ''))
  end

  -- op's options as arguments (first, ...) or as one table in first's
  -- place, not both. names lists them in order, as 'dim descending:flag'
  -- (':flag': nil or a boolean, nl._check_opts's 'flag'). A table first
  -- raises with any of ... not nil, else its keys are checked and its
  -- values come back in names' order; anything else comes back as given.
  local opts_specs = {}             -- names -> its keys and their order, parsed once
  function nl._opts_or_args(op, names, first, ...)
    if type(first) ~= 'table' then return first, ... end
    for i = 1, select('#', ...) do
      if select(i, ...) ~= nil then raise(op .. ': takes its options as a table or as arguments, not both') end
    end
    local spec = opts_specs[names]
    if not spec then
      local known, order = {}, {}
      for k, kind in names:gmatch('([%w_]+):?(%a*)') do
        known[k] = kind == 'flag' and 'flag' or 1
        order[#order + 1] = k
      end
      spec = { known = known, order = order }
      opts_specs[names] = spec
    end
    nl._check_opts(op, first, spec.known)
    local order = spec.order
    local n = #order
    if n == 1 then return first[order[1]] end
    if n == 2 then return first[order[1]], first[order[2]] end
    local v = {}
    for i = 1, n do v[i] = first[order[i]] end
    return unpack(v, 1, n)
  end

  -- a file path for op: a Lua string may hold a NUL byte, where C's path
  -- ends (nl.save(obj, 'a.pt\0x') wrote a.pt), refused as Python's open
  function nl._path_arg(op, path)
    if type(path) == 'string' and path:find('\0', 1, true) then
      raise(('%s: the path %q holds a NUL byte, where the file system would cut it'):format(op, path))
    end
    return path
  end

  -- the dtype of a tensor made without one (float32; float64 after
  -- nl.set_default_dtype('float64'), utility.lua)
  -- (C's int64 -> float promotion follows it: int64 / int64, sqrt of int64)
  local default_dt = 0
  function nl._default_dtype_id(id)
    if id then default_dt = id; lib.nl_int_float_dtype(id) end
    return default_dt
  end
  -- its name: the float dtype int64 becomes where an op needs a float
  function nl._default_float() return dtype_names[default_dt] end
  local function dtype_id(d, op)
    if d == nil then return default_dt end
    local id = dtype_ids[d]
    if not id then raise(string.format("%s: unknown dtype '%s' (use 'float32', 'float64' or 'int64')", op, tostring(d))) end
    return id
  end
  nl._dtype_id = dtype_id

  -- 1-based (or negative) Lua dim -> 0-based C dim. Given p, a tensor's
  -- cdata, the dim is checked against its dims here, so that the message
  -- names the dim as the caller wrote it (C's count from 0); more: dims
  -- past the last allowed (1 for stack's and unsqueeze's new dim). A 0-dim
  -- tensor takes dim 1 or -1, as PyTorch's takes 0 or -1.
  local function cdim(d, op, p, more)
    -- (an infinity passed the floor test and printed as -9223372036854775808)
    if type(d) == 'number' and (d ~= math.floor(d) or math.abs(d) == math.huge) then
      raise(string.format('%s: expected an integer dim, got %s', op, tostring(d)))
    end
    if type(d) ~= 'number' then argerror(op, 'an integer dim', d) end
    if d == 0 then raise(op .. ': dim 0 is invalid (dims start at 1)') end
    if p ~= nil then
      local n = more and p.ndim + more or math.max(p.ndim, 1)
      if d > n or d < -n then
        raise(string.format('%s: dim %d out of range for shape %s (dims 1 to %d, or -1 to -%d)', op, d,
                            sizes_str(p), n, n))
      end
    end
    return d > 0 and d - 1 or d
  end
  nl._cdim = cdim

  -- The source of an in-place op. In-place ops are not recorded on the
  -- tape, so a source that requires grad (in grad mode) would lose its
  -- gradient without a word: a:add_(b), a:copy_(b) and a[i] = b are
  -- refused for it, as the change of a tensor that requires grad is.
  local function src_ptr(x, op)
    local p = T(x, op)
    if bit.band(p.flags, 1) ~= 0 and lib.nl_is_grad_enabled() ~= 0 then
      raise(string.format('%s: the source of shape %s requires grad, but in-place ops are not recorded, so its '
        .. 'gradient would be lost; use an out-of-place op (x = x + y, nl.cat or nl.stack to assemble rows), '
        .. 'or detach() the source', op, sizes_str(p)))
    end
    return p
  end

  -- a 1-based (or negative, from the end) index along dim c (0-based) of
  -- p -> 0-based, checked here for the same reason
  local function cindex(i, op, p, c, what)
    if type(i) ~= 'number' or i ~= math.floor(i) then argerror(op, 'an integer ' .. what, i) end
    -- an infinity passed the floor test and printed as INT64_MIN
    if i == math.huge or i == -math.huge then raise(('%s: expected an integer %s, got %s'):format(op, what, i)) end
    local n = tonumber(p.sizes[c < 0 and c + p.ndim or c])
    local j = i < 0 and i + n + 1 or i
    if j < 1 or j > n then
      raise(string.format('%s: %s %d out of range for dim %d of shape %s (1 to %d, or -1 to -%d)', op, what, i,
                          c < 0 and c + p.ndim + 1 or c + 1, sizes_str(p), n, n))
    end
    return j - 1
  end

  -- one size, a whole number (view's and reshape's -1 included) small
  -- enough for int64: 1e20 or an infinity became int64's minimum in C,
  -- reported as a negative size
  local function size_arg(op, v, what)
    if type(v) ~= 'number' or v ~= math.floor(v) then argerror(op, what, v) end
    if v >= 2 ^ 62 or v <= -2 ^ 62 then raise(string.format('%s: size %s is too large', op, tostring(v))) end
    return v
  end

  -- sizes from (n1, n2, ...), ({n1, n2, ...}) or a shape table; an optional
  -- trailing dtype string. Returns ndim, the trailing dtype id.
  local function read_sizes(op, ...)
    settle()
    local n, first = select('#', ...), ...
    local dt
    if n > 0 and type(select(n, ...)) == 'string' then
      dt = dtype_id(select(n, ...), op)
      n = n - 1
    end
    if n == 1 and type(first) == 'table' then
      local t = first
      -- a list 1..#t: {2, nil, 3} read as [2] and {a = 5} (or a module) as
      -- a 0-dim shape, without a word. Checked without pairs(), which
      -- LuaJIT does not compile, and cheaply (a shape is read on every
      -- view and reshape): a hole of one or two nils shows past #t, and
      -- only an empty list can hide other keys.
      local len = #t
      if len > 8 then raise(string.format('%s: %d dims requested; tensors have at most 8', op, len)) end
      if t[len + 1] ~= nil or t[len + 2] ~= nil or getmetatable(t) ~= nil or (len == 0 and next(t) ~= nil) then
        raise(string.format('%s: a shape must be a list of sizes (a nil in it, or other keys?)', op))
      end
      for i = 1, len do sizes_buf[i - 1] = size_arg(op, t[i], 'integer sizes') end
      return len, dt
    end
    if n > 8 then raise(string.format('%s: %d dims requested; tensors have at most 8', op, n)) end
    for i = 1, n do
      sizes_buf[i - 1] = size_arg(op, (select(i, ...)), 'integer sizes')
    end
    return n, dt
  end

  -- read_sizes for a new tensor: a negative size is refused here, so that
  -- the message names the op the caller used (C's names 'full' for zeros)
  local function new_sizes(op, ...)
    local n, dt = read_sizes(op, ...)
    for i = 0, n - 1 do
      if sizes_buf[i] < 0 then
        raise(string.format('%s: negative size in %s', op, sizes_str({ ndim = n, sizes = sizes_buf })))
      end
    end
    return n, dt
  end

  -- ---- creation ----------------------------------------------------------

  -- nested Lua tables -> shape and a flat double array
  local function table_shape(v, op)
    local shape = {}
    while type(v) == 'table' do
      -- checked as it goes: a table that holds itself looped forever
      if #shape == 8 then raise(op .. ': more than 8 nested levels') end
      if #v == 0 and next(v) ~= nil then     -- {x = 1}: no entries 1..n
        raise(op .. ': expected a sequence of numbers or of tables, got a table with other keys')
      end
      shape[#shape + 1] = #v
      if #v == 0 then break end
      v = v[1]
    end
    return shape
  end

  function nl.tensor(v, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('tensor', '(data, [dtype])', nil, ...) end
    local dt = dtype_id(dtype, 'tensor')
    if type(v) == 'boolean' then v = v and 1 or 0 end
    if type(v) == 'number' then
      -- (C's nl_full named it 'full: inf is not an int64 value')
      if dt == 2 and not (v >= -2 ^ 63 and v < 2 ^ 63) then
        raise(('tensor: %s is not an int64 value'):format(tostring(v)))
      end
      return wrap(lib.nl_full(0, nil, v, dt), nil, true)
    end
    -- a copy that is a new leaf, as torch.tensor(t) is: it kept the graph
    -- (a grad_fn to_dtype), and gradients flowed back through it
    if is_tensor(v) then
      T(v, 'tensor')
      return nl.no_grad(function() return wrap(lib.nl_to_dtype(v.ptr, dtype and dt or v.ptr.dtype), nil, true) end)
    end
    if type(v) ~= 'table' then argerror('tensor', 'a number, a boolean, a table or a tensor', v) end
    local shape = table_shape(v, 'tensor')
    local n = 1
    for i = 1, #shape do n = n * shape[i] end
    local flat = ffi.new('double[?]', math.max(n, 1))
    local k = 0
    local function fill(x, d)
      if d > #shape then
        -- booleans as 1 and 0: nnlua has no bool dtype, and its comparisons
        -- give masks of 1 and 0 in the same way (torch.tensor([True, False])
        -- was refused)
        if type(x) == 'boolean' then x = x and 1 or 0 end
        if type(x) ~= 'number' then
          raise(string.format('tensor: expected numbers or booleans, found %s', type(x)))
        end
        flat[k] = x
        k = k + 1
        return
      end
      if type(x) ~= 'table' or #x ~= shape[d] then
        raise(string.format('tensor: ragged nested table: level %d should have %d entries', d, shape[d]))
      end
      -- # of {1, nil, 3} may be 1: the 3 was dropped without a word (keys
      -- that are not list positions, name = 'x' or [0], are left alone)
      for k in pairs(x) do
        if type(k) == 'number' and k > shape[d] and k == math.floor(k) then
          raise(string.format('tensor: a table at level %d has an entry at %d past its length (#) %d (a nil in '
            .. 'the list?)', d, k, shape[d]))
        end
      end
      for i = 1, shape[d] do fill(x[i], d + 1) end
    end
    fill(v, 1)
    for i = 1, #shape do sizes_buf[i - 1] = shape[i] end
    return wrap(lib.nl_from_doubles(#shape, sizes_buf, dt, flat), nil, true)
  end

  function nl.empty(...)
    local n, dt = new_sizes('empty', ...)
    -- (uninitialized memory, not an op's result: detect_anomaly leaves it
    -- be, as it does data the user gives)
    return wrap(lib.nl_empty(n, sizes_buf, dt or default_dt), nil, true)
  end
  function nl.zeros(...)
    local n, dt = new_sizes('zeros', ...)
    return wrap(lib.nl_full(n, sizes_buf, 0, dt or default_dt))
  end
  function nl.ones(...)
    local n, dt = new_sizes('ones', ...)
    return wrap(lib.nl_full(n, sizes_buf, 1, dt or default_dt))
  end
  -- a finite number past float32's range, refused where PyTorch refuses
  -- it (full, fill_, an element's store): it was stored as inf
  local FLT_MAX = 3.4028234663852886e38
  local function check_f32(op, v)
    if v == v and v ~= math.huge and v ~= -math.huge and math.abs(v) > FLT_MAX then
      raise(('%s: %s cannot be stored in float32 without overflow'):format(op, tostring(v)))
    end
  end

  -- a number that an int64 tensor cannot hold (a fraction, an infinity,
  -- NaN, a whole number past int64: 1e30 clamped to INT64_MAX) meeting
  -- one promotes it to float32, as a + 0.5 does and as
  -- PyTorch's where and clamp do, rather than being truncated
  local function fractional(x) return x ~= nil and (x ~= math.floor(x) or not (x >= -2 ^ 63 and x < 2 ^ 63)) end

  function nl.full(shape, value, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('full', '(size, fill_value, [dtype])', nil, ...) end
    if type(value) ~= 'number' then argerror('full', 'a number as fill value', value) end
    local n = new_sizes('full', shape)
    local id = dtype_id(dtype, 'full')
    if id == 0 then check_f32('full', value) end
    return wrap(lib.nl_full(n, sizes_buf, value, id), nil, true)
  end
  function nl.arange(a, b, step, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('arange', '([start], end, [step], [dtype])', nil, ...) end
    -- the dtype moved to its place, when that place is free (arange(1, 5,
    -- 'float64', x) dropped x)
    if type(b) == 'string' then
      if step ~= nil or dtype ~= nil then nl._no_extra_args('arange', '(end, [dtype])', nil, step, dtype) end
      b, dtype = nil, b
    elseif type(step) == 'string' then
      if dtype ~= nil then nl._no_extra_args('arange', '(start, end, [dtype])', nil, dtype) end
      step, dtype = nil, step
    end
    if b == nil then a, b = 0, a end
    step = step or 1
    local ends = { a, b, step }
    for i = 1, 3 do
      local x = ends[i]
      if type(x) ~= 'number' then argerror('arange', 'numbers', x) end
    end
    local dt = dtype and dtype_id(dtype, 'arange')
    if not dt then
      -- int64 for whole numbers it holds (past it, values wrapped), as PyTorch
      dt = (fractional(a) or fractional(b) or fractional(step)) and default_dt or 2
    end
    return wrap(lib.nl_arange(a, b, step, dt))
  end
  function nl.eye(n, m, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('eye', '(n, [m], [dtype])', nil, ...) end
    if type(m) == 'string' then
      if dtype ~= nil then nl._no_extra_args('eye', '(n, [dtype])', nil, dtype) end
      m, dtype = nil, m
    end
    size_arg('eye', n, 'an integer size')                -- 2.5 was truncated to 2
    if m ~= nil then size_arg('eye', m, 'an integer size') end
    return wrap(lib.nl_eye(n, m or n, dtype_id(dtype, 'eye')))
  end

  -- the default generator of this Lua state (PyTorch-like fixed default seed)
  local gen = ffi.new('nl_generator', { 0x2545F4914F6CDD1DULL, 0 })
  nl._generator = gen
  nl._seedings = 0
  function nl.manual_seed(seed, ...)
    if select('#', ...) > 0 then nl._no_extra_args('manual_seed', '(seed)', nil, ...) end
    -- a whole number a double holds exactly: NaN, inf, 2^63 and 2^70 all
    -- gave one stream, and a fraction was truncated; negatives wrap to
    -- 64 bits as PyTorch's do
    if type(seed) ~= 'number' or seed ~= math.floor(seed) or math.abs(seed) > 2 ^ 53 then
      raise('manual_seed: expected an integer seed of at most 2^53 in magnitude, got ' .. tostring(seed))
    end
    -- (through int64: a negative double stored into the uint64 field
    -- became 2^63 whatever its value, so every negative seed gave one stream)
    gen.seed = ffi.cast('uint64_t', ffi.cast('int64_t', seed))
    gen.offset = 0
    nl._seedings = nl._seedings + 1     -- (a DataLoader's workers count their epochs from it)
  end
  function nl.rand(...)
    local n, dt = new_sizes('rand', ...)
    return wrap(lib.nl_rand(gen, n, sizes_buf, dt or default_dt))
  end
  function nl.randn(...)
    local n, dt = new_sizes('randn', ...)
    return wrap(lib.nl_randn(gen, n, sizes_buf, dt or default_dt))
  end

  function nl.randperm(n, ...)
    if select('#', ...) > 0 then nl._no_extra_args('randperm', '(n)', nil, ...) end
    size_arg('randperm', n, 'an integer size')
    return wrap(lib.nl_randperm(gen, n, 1))
  end

  -- nl.multinomial(weights, num_samples, [replacement]) or
  -- w:multinomial(...): category indices (1-based, int64) drawn in
  -- proportion to the weights of each row of a (C) or (N, C) tensor, as
  -- torch.multinomial; without replacement (the default) no category is
  -- drawn twice in a row.
  function nl.multinomial(w, num_samples, replacement, ...)
    if select('#', ...) > 0 then nl._no_extra_args('multinomial', '(input, num_samples, [replacement])', nil, ...) end
    if num_samples == math.huge then raise('multinomial: expected a whole number of samples, got inf') end
    if type(num_samples) ~= 'number' or num_samples ~= math.floor(num_samples) then
      argerror('multinomial', 'a whole number of samples', num_samples)
    end
    if replacement ~= nil and type(replacement) ~= 'boolean' then
      argerror('multinomial', 'replacement as a boolean', replacement)
    end
    return wrap(lib.nl_multinomial(gen, T(w, 'multinomial'), num_samples, replacement and 1 or 0, 1))
  end
  Tensor.multinomial = nl.multinomial

  local function tensor_list(list, op)
    if type(list) ~= 'table' or #list == 0 then argerror(op, 'a non-empty list of tensors', list) end
    local arr = ffi.new('nl_tensor *[?]', #list)
    for i = 1, #list do
      if not is_tensor(list[i]) then
        raise(string.format('%s: element %d of the list is not a tensor (%s)', op, i, type(list[i])))
      end
      arr[i - 1] = list[i].ptr
    end
    return arr, #list
  end
  function nl.cat(list, dim, ...)
    if select('#', ...) > 0 then nl._no_extra_args('cat', '(list, [dim])', 'pass the tensors in one list', ...) end
    local arr, n = tensor_list(list, 'cat')
    return wrap(lib.nl_cat(n, arr, cdim(dim or 1, 'cat', n > 0 and arr[0] or nil)))
  end
  function nl.stack(list, dim, ...)
    if select('#', ...) > 0 then nl._no_extra_args('stack', '(tensors, [dim])', nil, ...) end
    local arr, n = tensor_list(list, 'stack')
    return wrap(lib.nl_stack(n, arr, cdim(dim or 1, 'stack', n > 0 and arr[0] or nil, 1)))
  end

  function nl.set_num_threads(n, ...)
    if select('#', ...) > 0 then nl._no_extra_args('set_num_threads', '(n)', nil, ...) end
    if type(n) ~= 'number' then argerror('set_num_threads', 'a number', n) end
    if n ~= math.floor(n) or n < 1 or n > 1024 then    -- before C's int, where 2^31 wraps and 1.5 truncates
      raise(string.format('set_num_threads: expected 1..1024 threads, got %s', tostring(n)))
    end
    check(lib.nl_set_num_threads(n))
  end
  function nl.get_num_threads(...)
    if select('#', ...) > 0 then nl._no_extra_args('get_num_threads', '()', nil, ...) end
    return tonumber(lib.nl_get_num_threads())
  end
  -- nl.set_flush_denormal(on): subnormal floats as zero on nnlua's threads
  -- (off by default, as in PyTorch); true where the CPU has the mode
  function nl.set_flush_denormal(on, ...)
    if select('#', ...) > 0 then nl._no_extra_args('set_flush_denormal', '(mode)', nil, ...) end
    if type(on) ~= 'boolean' then argerror('set_flush_denormal', 'a boolean', on) end
    return lib.nl_set_flush_denormal(on and 1 or 0) == 1
  end
  function nl.memory(...)
    if select('#', ...) > 0 then nl._no_extra_args('memory', '()', nil, ...) end
    return { live = tonumber(mem.live_bytes), peak = tonumber(mem.peak_bytes),
             allocated = tonumber(mem.allocated), cached = tonumber(mem.cached_bytes) }
  end
  function nl.blas_arch(...)
    if select('#', ...) > 0 then nl._no_extra_args('blas_arch', '()', nil, ...) end
    return ffi.string(lib.nl_blas_arch())
  end
  function nl.time(...)
    if select('#', ...) > 0 then nl._no_extra_args('time', '()', nil, ...) end
    return lib.nl_time()
  end

  -- ---- shape and element access ---------------------------------------------

  -- (an argument past those a method takes is an error, as it was
  -- dropped without a word; checked only when there is one)
  function Tensor.dim(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('dim', '()', nil, ...) end
    return T(t, 'dim').ndim
  end
  function Tensor.numel(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('numel', '()', nil, ...) end
    return tonumber(T(t, 'numel').numel)
  end
  function Tensor.dtype(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('dtype', '()', nil, ...) end
    return dtype_names[T(t, 'dtype').dtype]
  end
  function Tensor.shape(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('shape', '()', nil, ...) end
    local p = T(t, 'shape')
    local s = {}
    for i = 0, p.ndim - 1 do s[i + 1] = tonumber(p.sizes[i]) end
    return s
  end
  function Tensor.size(t, d, ...)
    if select('#', ...) > 0 then nl._no_extra_args('size', '([dim])', nil, ...) end
    local p = T(t, 'size')
    if d == nil then return Tensor.shape(t) end
    local c = cdim(d, 'size')
    if c < 0 then c = c + p.ndim end
    if c < 0 or c >= p.ndim then
      raise(string.format('size: dim %d out of range for shape %s', d, nl._shape_str(t)))
    end
    return tonumber(p.sizes[c])
  end
  function Tensor.stride(t, d, ...)
    if select('#', ...) > 0 then nl._no_extra_args('stride', '([dim])', nil, ...) end
    local p = T(t, 'stride')
    -- no dim: every stride, a Lua list as shape()'s (PyTorch's tuple); it
    -- was refused ('expected an integer dim, got nil')
    if d == nil then
      local s = {}
      for i = 0, p.ndim - 1 do s[i + 1] = tonumber(p.strides[i]) end
      return s
    end
    local c = cdim(d, 'stride')
    if c < 0 then c = c + p.ndim end
    if c < 0 or c >= p.ndim then
      raise(string.format('stride: dim %d out of range for shape %s', d, nl._shape_str(t)))
    end
    return tonumber(p.strides[c])
  end
  function Tensor.is_contiguous(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('is_contiguous', '()', nil, ...) end
    return lib.nl_is_contiguous(T(t, 'is_contiguous')) ~= 0
  end

  function nl._shape_str(t) return sizes_str(T(t, 'shape')) end

  -- A NaN read from C keeps its payload bits, and LuaJIT keeps its other
  -- values inside NaNs: read as a number, a NaN with the sign set and a
  -- payload in the high bits (a float32 NaN's payload widens there) comes
  -- out as nil or as a pointer, and a traceback that meets it crashes. So
  -- an element is checked as bits first, and every NaN becomes Lua's own.
  local u32_p, band, NAN = ffi.typeof('uint32_t *'), bit.band, 0 / 0
  local function f32_at(data, off)
    local b = ffi.cast(u32_p, data)[off]
    if band(b, 0x7F800000) == 0x7F800000 and band(b, 0x007FFFFF) ~= 0 then return NAN end
    return tonumber(ffi.cast(float_p, data)[off])
  end
  local function f64_at(data, off)
    local w = ffi.cast(u32_p, data)
    local hi = w[2 * off + 1]          -- little-endian: the sign, exponent and high mantissa
    if band(hi, 0x7FF00000) == 0x7FF00000 and (band(hi, 0x000FFFFF) ~= 0 or w[2 * off] ~= 0) then return NAN end
    return tonumber(ffi.cast(double_p, data)[off])
  end
  nl._f32_at, nl._f64_at = f32_at, f64_at
  -- the element at C offset off (elements from t.data)
  local function load(p, off)
    local dt = p.dtype
    if dt == 0 then return f32_at(p.data, off) end
    if dt == 1 then return f64_at(p.data, off) end
    return tonumber(ffi.cast(int64_p, p.data)[off])
  end
  local function store(p, off, v)
    local dt = p.dtype
    if dt == 0 then
      check_f32('index', v)
      ffi.cast(float_p, p.data)[off] = v
    elseif dt == 1 then ffi.cast(double_p, p.data)[off] = v
    else
      -- NaN or a number past int64's range (1e30 stored INT64_MIN), as PyTorch refuses; a
      -- fraction truncates toward zero, as there
      if not (v >= -2 ^ 63 and v < 2 ^ 63) then
        raise('index: cannot store ' .. tostring(v) .. ' in an int64 tensor')
      end
      ffi.cast(int64_p, p.data)[off] = v
    end
  end

  function Tensor.item(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('item', '()', nil, ...) end
    local p = T(t, 'item')
    if p.numel ~= 1 then
      raise(string.format('item: expected a tensor with one element, got shape %s', nl._shape_str(t)))
    end
    return load(p, 0)
  end

  function Tensor.totable(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('totable', '()', nil, ...) end
    local p = T(t, 'totable')
    local c = wrap(lib.nl_contiguous(p))
    local cp = c.ptr
    if cp.ndim == 0 then return load(cp, 0) end
    local k = 0
    local function build(d)
      local out = {}
      local n = tonumber(cp.sizes[d])
      if d == cp.ndim - 1 then
        for i = 1, n do out[i] = load(cp, k); k = k + 1 end
      else
        for i = 1, n do out[i] = build(d + 1) end
      end
      return out
    end
    return build(0)
  end

  local function check_index(p, i, op)
    if p.ndim == 0 then raise(op .. ': a 0-dim tensor cannot be indexed; use item()') end
    if type(i) ~= 'number' or i ~= math.floor(i) then argerror(op, 'an integer index', i) end
    if i == math.huge or i == -math.huge then raise(('%s: expected an integer index, got %s'):format(op, i)) end
    local n = tonumber(p.sizes[0])
    local j = i < 0 and i + n + 1 or i
    if j < 1 or j > n then
      raise(string.format('%s: index %d out of range for dim 1 of size %d', op, i, n))
    end
    return j - 1
  end

  -- ---- metatable ------------------------------------------------------------

  local accessors = {}          -- field-like properties (t.grad arrives with autograd)
  nl._accessors = accessors
  local setters = {}
  nl._setters = setters

  -- an index that is not a Lua number: a one-element int64 tensor (as
  -- x[x:argmax()]) or an int64 cdata reads as its value; anything else
  -- is an error (t[tensor] was nil, and failed later somewhere else)
  local int64_ct = ffi.typeof('int64_t')
  -- the value of k, a tensor, when it is a 0-dim int64 one (else nil):
  -- 0-dim only, as a 1-D index keeps its dim in PyTorch ([1, 3] from (2, 3))
  local function int64_scalar(k, op)
    local p = T(k, op)
    if p.dtype == 2 and p.ndim == 0 then return Tensor.item(k) end
  end
  local function number_key(k)
    if is_tensor(k) then
      local v = int64_scalar(k, 'index')
      if v ~= nil then return v end
    elseif ffi.istype(int64_ct, k) then
      return tonumber(k)
    end
    raise(('index: expected an integer index or a 0-dim int64 tensor, got %s (index_select takes a list of '
           .. 'indices)'):format(describe(k)))
  end

  mt.__index = function(t, k)
    local m = Tensor[k]
    if m ~= nil then return m end
    if type(k) ~= 'number' and type(k) ~= 'string' then k = number_key(k) end
    if type(k) == 'number' then
      local p = T(t, 'index')
      local i = check_index(p, k, 'index')
      if p.ndim == 1 then return load(p, i * p.strides[0]) end
      return wrap(lib.nl_select(p, 0, i))
    end
    local a = accessors[k]
    if a then return a(t) end
    return nil
  end

  mt.__newindex = function(t, k, v)
    if type(k) ~= 'number' and type(k) ~= 'string' then k = number_key(k) end
    if type(k) == 'number' then
      local p = T(t, 'index')
      local i = check_index(p, k, 'index')
      if p.ndim == 1 and type(v) == 'number' then
        check(lib.nl_mark_modified(p, 'index'))
        store(p, i * p.strides[0], v)
        return
      end
      local sub = wrap(lib.nl_select(p, 0, i))
      if type(v) == 'number' then
        if p.dtype == 0 then check_f32('index', v) end
        check(lib.nl_fill_(sub.ptr, v))
      elseif is_tensor(v) then
        -- leading size-1 dims of the value are dropped, as PyTorch's
        -- __setitem__ does (a[2] = {{1, 2, 3, 4}} into rows of 4 was refused)
        local vp = src_ptr(v, 'index')
        while vp.ndim > sub.ptr.ndim and vp.sizes[0] == 1 do
          v = wrap(lib.nl_select(vp, 0, 0))
          vp = v.ptr
        end
        check(lib.nl_copy_(sub.ptr, vp))
      else argerror('index', 'a number or a tensor to assign', v) end
      return
    end
    local s = setters[k]
    if s then return s(t, v) end
    raise(string.format("tensor: cannot set field '%s'", tostring(k)))
  end

  mt.__tostring = function(t) return nl._tostring(t) end

  mt.__len = function(t)
    local p = T(t, 'len')
    if p.ndim == 0 then raise('len: a 0-dim tensor has no length') end
    return tonumber(p.sizes[0])
  end

  -- ---- elementwise ----------------------------------------------------------

  local function binary(op, name)
    local opid = C_op[name]
    local takes = '(a, b)'
    return function(a, b, ...)
      if select('#', ...) > 0 then nl._no_extra_args(name, takes, nil, ...) end
      if type(b) == 'number' then
        return wrap(lib.nl_binary_scalar(opid, T(a, name), b, 0))
      elseif type(a) == 'number' then
        return wrap(lib.nl_binary_scalar(opid, T(b, name), a, 1))
      end
      if not is_tensor(a) then argerror(name, 'a tensor or a number', a) end
      if not is_tensor(b) then argerror(name, 'a tensor or a number', b) end
      return wrap(lib.nl_binary(opid, T(a, name), T(b, name)))
    end
  end

  for _, name in ipairs({ 'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum',
                          'eq', 'ne', 'lt', 'le', 'gt', 'ge' }) do
    local f = binary(nil, name)
    Tensor[name] = f
    nl[name] = f
  end
  mt.__add, mt.__sub, mt.__mul, mt.__div, mt.__pow = Tensor.add, Tensor.sub, Tensor.mul, Tensor.div, Tensor.pow
  -- Lua's <, <=, > and >= give one boolean, so they cannot compare
  -- elementwise as PyTorch's do (the bare Lua error was "attempt to compare
  -- 'struct nl_ref' with 'number'"); == is left alone (it compares handles)
  local function no_compare(a, b)
    local function what(x) return is_tensor(x) and 'tensor ' .. nl._shape_str(x) or nl._describe_arg(x) end
    raise(('compare: Lua\'s <, <=, > and >= give one boolean, not a tensor (got %s and %s): compare elementwise '
           .. 'with a:lt(b), a:le(b), a:gt(b), a:ge(b) (a:eq(b), a:ne(b) for == and ~=), which give 1 and 0')
          :format(what(a), what(b)))
  end
  mt.__lt, mt.__le = no_compare, no_compare

  -- alpha of add and sub, a number; with int64 operands a whole one, as
  -- PyTorch's (it was dropped without a word: a:add(b, 2) gave a + b)
  local function int_like(x)
    if type(x) == 'number' then return x == math.floor(x) end
    return is_tensor(x) and x.ptr ~= nil and x.ptr.dtype == 2
  end
  local function alpha_arg(op, a, b, alpha)
    if type(alpha) ~= 'number' then argerror(op, 'a number as alpha', alpha) end
    if alpha ~= math.floor(alpha) and int_like(a) and int_like(b) then
      raise(('%s: alpha %s is not a whole number, for int64 operands'):format(op, tostring(alpha)))
    end
    return alpha
  end
  -- the dtype of a op b, as nl_binary's promotion (PyTorch's): a number
  -- is int64 when whole, else the default float dtype beside int64; a 0-dim tensor beside
  -- a dimensioned one of its kind (float or integer) does not widen it
  local RANK = { int64 = 0, float32 = 1, float64 = 2 }
  local function promoted(a, b)
    if not is_tensor(a) then a, b = b, a end
    local da = Tensor.dtype(a)
    if not is_tensor(b) then return da == 'int64' and fractional(b) and dtype_names[default_dt] or da end
    local db = Tensor.dtype(b)
    local za, zb = a.ptr.ndim == 0, b.ptr.ndim == 0
    if za ~= zb then
      local d, z = za and db or da, za and da or db
      return (d ~= 'int64' or z == 'int64') and d or z
    end
    return RANK[da] >= RANK[db] and da or db
  end
  -- add(a, b, [alpha]) and sub: a + alpha * b and a - alpha * b, as
  -- PyTorch's, in the dtype of a + b: b is scaled in that dtype (alpha * b
  -- promoted alone changed it: float64 0-dim + alpha 0.5 * int64 [n] gave
  -- float32, int64 + 2 * 0.5 gave int64, float64 + float32 b rounded
  -- alpha * b to float32)
  local add_plain, sub_plain = Tensor.add, Tensor.sub
  for name, plain in pairs({ add = add_plain, sub = sub_plain }) do
    local f = function(a, b, alpha, ...)
      if select('#', ...) > 0 then nl._no_extra_args(name, '(a, b, [alpha])', nil, ...) end
      if alpha == nil then return plain(a, b) end
      alpha = alpha_arg(name, a, b, alpha)
      -- (plain's error for operands that are not both tensors or numbers:
      -- a table beside a tensor reached math.floor in promoted)
      if not (is_tensor(a) or is_tensor(b)) or not (is_tensor(a) or type(a) == 'number')
         or not (is_tensor(b) or type(b) == 'number') then
        return plain(a, b)
      end
      local dt = promoted(a, b)
      if type(b) == 'number' then
        if Tensor.dtype(a) ~= dt then a = Tensor.to(a, dt) end
        return plain(a, b * alpha)
      end
      if is_tensor(b) and Tensor.dtype(b) ~= dt then b = Tensor.to(b, dt) end
      if alpha == 1 then return plain(a, b) end
      return plain(a, Tensor.mul(b, alpha))
    end
    Tensor[name], nl[name] = f, f
  end

  -- div(a, b, [rounding_mode]): nil (true division), 'trunc' (toward zero)
  -- or 'floor', as PyTorch's; int64 by int64 stays int64 then (computed in
  -- float64, exact for magnitudes below 2^52), and its zero divisor is an
  -- error, as PyTorch's. The gradient is zero, as PyTorch's. (The mode was
  -- dropped without a word: 7:div(2, 'floor') gave 3.5.)
  local div_plain = Tensor.div
  local ROUNDING = { trunc = 'trunc', floor = 'floor' }
  -- a number beside tensor x as a 0-dim tensor of x's dtype (the default
  -- float dtype for int64 x), so that the C op's promotion is the one of x with a number
  local function scalar_beside(v, x)
    if type(v) ~= 'number' then return v end
    if not is_tensor(x) then argerror('div', 'a tensor or a number', x) end
    local d = Tensor.dtype(x)
    return nl.tensor(v, d == 'int64' and dtype_names[default_dt] or d)
  end
  -- the rounded quotient q of a and b, made without a graph, given the
  -- exact zero gradient of a and b, as PyTorch's (the graph through the
  -- true division gave 0 * -a / b^2, NaN where b is 0): q where a false
  -- condition picks it over a + b, which only carries the graph
  local function zero_grad_quotient(q, a, b)
    local function rg(x) return is_tensor(x) and bit.band(x.ptr.flags, 1) ~= 0 end
    if lib.nl_is_grad_enabled() == 0 or not (rg(a) or rg(b)) then return q end
    return nl.where(nl.zeros(Tensor.shape(q), 'int64'), Tensor.add(a, b), q)
  end
  function Tensor.div(a, b, mode, ...)
    if select('#', ...) > 0 then nl._no_extra_args('div', '(a, b, [rounding_mode])', nil, ...) end
    if mode == nil then return div_plain(a, b) end
    local round = ROUNDING[mode]
    if not round then
      raise(("div: rounding_mode must be 'trunc', 'floor' or nil, got %s"):format(nl._describe_arg(mode)))
    end
    if not (int_like(a) and int_like(b) and (is_tensor(a) or is_tensor(b))) then
      local q = nl.no_grad(function()
        if round == 'trunc' then return Tensor.trunc(div_plain(a, b)) end
        -- Python's floor division (floor(a / b) gave 10 for 1 // 0.1)
        local ta, tb = scalar_beside(a, b), scalar_beside(b, a)
        if not is_tensor(ta) then argerror('div', 'a tensor or a number', ta) end
        if not is_tensor(tb) then argerror('div', 'a tensor or a number', tb) end
        return wrap(lib.nl_div_floor(ta.ptr, tb.ptr))
      end)
      return zero_grad_quotient(q, a, b)
    end
    if type(b) == 'number' and b == 0 or is_tensor(b) and Tensor.item(Tensor.sum(Tensor.eq(b, 0))) > 0 then
      raise('div: integer division by zero (int64 operands with rounding_mode ' .. mode .. ')')
    end
    local fa = is_tensor(a) and Tensor.double(a) or a
    local fb = is_tensor(b) and Tensor.double(b) or b
    return Tensor.long(Tensor[round](div_plain(fa, fb)))
  end
  nl.div = Tensor.div

  -- t's C tensor, refusing int64 for an op PyTorch has no int64 kernel for
  -- (the layers' checks too)
  local function float_only(t, op)
    local p = T(t, op)
    if p.dtype == 2 then raise(('%s: expected a float input, got int64 %s'):format(op, sizes_str(p))) end
    return p
  end
  nl._float_only = float_only

  for _, name in ipairs({ 'neg', 'exp', 'log', 'sqrt', 'abs', 'relu', 'sigmoid', 'tanh', 'gelu', 'silu', 'sin', 'cos',
                          'floor', 'ceil', 'round', 'trunc' }) do
    local opid = C_op[name]
    local f = function(t, ...)
      if select('#', ...) > 0 then nl._no_extra_args(name, '()', nil, ...) end
      return wrap(lib.nl_unary(opid, T(t, name)))
    end
    -- silu on int64 refused, as PyTorch has no such kernel (it gave float32 silently)
    if name == 'silu' then
      f = function(t, ...)
        if select('#', ...) > 0 then nl._no_extra_args(name, '()', nil, ...) end
        return wrap(lib.nl_unary(opid, float_only(t, name)))
      end
    end
    Tensor[name] = f
    nl[name] = f
    Tensor[name .. '_'] = function(t, ...)
      if select('#', ...) > 0 then nl._no_extra_args(name .. '_', '()', nil, ...) end
      check(lib.nl_unary_(opid, T(t, name .. '_')))
      return t
    end
  end
  -- (Lua passes -t's operand twice)
  local neg = Tensor.neg
  mt.__unm = function(t) return neg(t) end
  -- a % b is remainder, Python's modulo (the sign of b), as PyTorch's %
  -- (it was a Lua arithmetic error); nl.remainder loads with the extras
  mt.__mod = function(a, b) return nl.remainder(a, b) end

  -- round(decimals), as PyTorch 1.13's: x * 10^d rounded half to even,
  -- then / 10^d (a negative d: x / 10^-d rounded, then * 10^-d), the
  -- power in the tensor's dtype; a zero gradient, as round's; float only
  -- (decimals were refused as an extra argument)
  local round_plain, round_plain_ = Tensor.round, Tensor.round_
  local function decimals_of(op, d)
    if type(d) == 'table' and not is_tensor(d) then
      nl._check_opts(op, d, { decimals = 1 })
      d = d.decimals
    end
    if d ~= nil and (type(d) ~= 'number' or d ~= math.floor(d) or math.abs(d) > 400) then
      argerror(op, 'a whole number of decimals', d)
    end
    return d
  end
  local function round_decimals(op, t, d, inplace)
    float_only(t, op)
    local p = d > 0 and 10 ^ d or 10 ^ -d
    if T(t, op).dtype == 0 then p = tonumber(ffi.new('float', p)) end
    if inplace then
      if d > 0 then Tensor.mul_(t, p) else Tensor.div_(t, p) end
      round_plain_(t)
      if d > 0 then Tensor.div_(t, p) else Tensor.mul_(t, p) end
      return t
    end
    if d > 0 then return Tensor.div(round_plain(Tensor.mul(t, p)), p) end
    return Tensor.mul(round_plain(Tensor.div(t, p)), p)
  end
  function Tensor.round(t, d, ...)
    if select('#', ...) > 0 then nl._no_extra_args('round', '([decimals])', nil, ...) end
    d = decimals_of('round', d)
    if d == nil or d == 0 then return round_plain(t) end
    return round_decimals('round', t, d, false)
  end
  nl.round = Tensor.round
  function Tensor.round_(t, d, ...)
    if select('#', ...) > 0 then nl._no_extra_args('round_', '([decimals])', nil, ...) end
    d = decimals_of('round_', d)
    if d == nil or d == 0 then return round_plain_(t) end
    return round_decimals('round_', t, d, true)
  end

  -- gelu(x, [approximate]): 'none' (erf) or 'tanh', PyTorch's
  -- 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), each one C op (the
  -- argument was dropped, and erf's values given for 'tanh')
  local function gelu_op(op, approximate)
    if approximate == nil or approximate == 'none' then return C_op.gelu end
    if approximate ~= 'tanh' then argerror(op, "approximate 'none' or 'tanh'", approximate) end
    return C_op.gelu_tanh
  end
  function Tensor.gelu(t, approximate, ...)
    if select('#', ...) > 0 then nl._no_extra_args('gelu', '([approximate])', nil, ...) end
    return wrap(lib.nl_unary(gelu_op('gelu', approximate), float_only(t, 'gelu')))
  end
  nl.gelu = Tensor.gelu
  function Tensor.gelu_(t, approximate, ...)
    if select('#', ...) > 0 then nl._no_extra_args('gelu_', '([approximate])', nil, ...) end
    check(lib.nl_unary_(gelu_op('gelu_', approximate), T(t, 'gelu_')))
    return t
  end

  -- leaky_relu(t, [slope], [inplace]): PyTorch's F.leaky_relu, whose
  -- inplace = true writes the result into t (it was dropped: t stayed as
  -- it was), under the rules of every in-place op
  function Tensor.leaky_relu(t, slope, inplace, ...)
    nl._no_extra_args('leaky_relu', '(negative_slope, inplace)', nil, ...)
    if slope ~= nil and type(slope) ~= 'number' then argerror('leaky_relu', 'a number as slope', slope) end
    if inplace ~= nil and type(inplace) ~= 'boolean' then argerror('leaky_relu', 'inplace as a boolean', inplace) end
    if inplace then return Tensor.leaky_relu_(t, slope) end
    return wrap(lib.nl_leaky_relu(T(t, 'leaky_relu'), slope or 0.01))
  end
  nl.leaky_relu = Tensor.leaky_relu
  function Tensor.leaky_relu_(t, slope, ...)
    if select('#', ...) > 0 then nl._no_extra_args('leaky_relu_', '([negative_slope])', nil, ...) end
    if slope ~= nil and type(slope) ~= 'number' then argerror('leaky_relu_', 'a number as slope', slope) end
    -- (int64 refused here: the kernel's message named leaky_relu)
    local p = float_only(t, 'leaky_relu_')
    check(lib.nl_inplace_check(p, 'leaky_relu_'))
    local r = nl.no_grad(function() return wrap(lib.nl_leaky_relu(p, slope or 0.01)) end)
    check(lib.nl_copy_(p, T(r, 'leaky_relu_')))
    return t
  end

  -- The activations of nl_activation, PyTorch's functions of these names
  -- with its defaults, each one C op with its backward: parameters as
  -- numbers in PyTorch's order, or a table of PyTorch's keywords
  -- (x:softplus{beta = 2}). In place, as PyTorch has them: elu_, selu_,
  -- celu_, hardtanh_, relu6_, mish_, hardsigmoid_, hardswish_.
  local NO_PARAMS = {}
  local function activation(name, params, inplace)
    local opid = C_op[name]
    local names = {}
    for i, pd in ipairs(params) do names[i] = pd[1] end
    names = table.concat(names, ' ')
    -- the two parameters' values from the call's arguments
    local function values(op, ...)
      local a1 = ...
      local args = { ... }
      if #params == 0 then
        if select('#', ...) > 0 and a1 ~= nil then raise(('%s: takes no parameters, got %s'):format(op, nl._describe_arg(a1))) end
      elseif type(a1) == 'table' then
        args = { nl._opts_or_args(op, names, ...) }
      elseif select('#', ...) > #params then
        raise(('%s: takes at most %d parameter%s, got %d'):format(op, #params, #params > 1 and 's' or '', select('#', ...)))
      end
      local v = { 0, 0 }
      for i, pd in ipairs(params) do
        local x = args[i]
        if x == nil then x = pd[2] end
        if type(x) ~= 'number' then argerror(op, 'a number as ' .. pd[1], x) end
        v[i] = x
      end
      return v[1], v[2]
    end
    local f = function(t, ...)
      local p = T(t, name)
      local p0, p1 = values(name, ...)
      return wrap(lib.nl_activation(opid, p, p0, p1))
    end
    Tensor[name], nl[name] = f, f
    if inplace then
      Tensor[name .. '_'] = function(t, ...)
        local p = T(t, name .. '_')
        local p0, p1 = values(name .. '_', ...)
        check(lib.nl_activation_(opid, p, p0, p1))
        return t
      end
      nl[name .. '_'] = Tensor[name .. '_']
    end
    return f
  end
  activation('elu', { { 'alpha', 1 } }, true)
  activation('selu', NO_PARAMS, true)
  activation('celu', { { 'alpha', 1 } }, true)
  activation('softplus', { { 'beta', 1 }, { 'threshold', 20 } })
  activation('mish', NO_PARAMS, true)
  local hardtanh = activation('hardtanh', { { 'min_val', -1 }, { 'max_val', 1 } }, true)
  activation('hardsigmoid', NO_PARAMS, true)
  activation('hardswish', NO_PARAMS, true)
  activation('logsigmoid', NO_PARAMS)
  activation('softsign', NO_PARAMS)
  activation('tanhshrink', NO_PARAMS)
  activation('softshrink', { { 'lambd', 0.5 } })
  activation('hardshrink', { { 'lambd', 0.5 } })
  -- hardtanh keeps int64, its bounds cut toward 0, as PyTorch's (which
  -- clamps int64 so, and cannot cast a NaN or infinite bound); a min_val
  -- above max_val gives max_val everywhere, min(max(x, lo), hi) as
  -- PyTorch's clamp; the float kernel refuses int64
  local hardtanh_, trunc = Tensor.hardtanh_, function(v) return v < 0 and math.ceil(v) or math.floor(v) end
  -- int64 t clamped to hardtanh's bounds cut toward 0, checked as op's
  local function hardtanh_int(op, t, lo, hi)
    if not is_tensor(lo) then lo, hi = nl._opts_or_args(op, 'min_val max_val', lo, hi) end
    lo, hi = lo == nil and -1 or lo, hi == nil and 1 or hi
    for _, a in ipairs({ { 'min_val', lo }, { 'max_val', hi } }) do
      local v = a[2]
      if type(v) ~= 'number' then argerror(op, 'a number as ' .. a[1], v) end
      if v ~= v or v == math.huge or v == -math.huge then
        raise(('%s: %s %s cannot be converted to int64 for the int64 input %s'):format(op, a[1], tostring(v),
          nl._shape_str(t)))
      end
    end
    lo, hi = trunc(lo), trunc(hi)
    if lo > hi then lo = hi end
    return Tensor.clamp(t, lo, hi)
  end
  function Tensor.hardtanh(t, ...)
    local p = T(t, 'hardtanh')
    if p.dtype ~= 2 then return hardtanh(t, ...) end
    return hardtanh_int('hardtanh', t, ...)
  end
  nl.hardtanh = Tensor.hardtanh
  -- hardtanh_ and relu6_ of int64 in place, as PyTorch's (they were
  -- refused, while the out-of-place forms keep int64); op names the errors
  -- (relu6_'s said hardtanh_)
  local function hardtanh_inplace(op, t, ...)
    local p = T(t, op)
    if p.dtype == 2 then
      check(lib.nl_inplace_check(p, op))
      return Tensor.copy_(t, hardtanh_int(op, t, ...))
    end
    if op == 'hardtanh_' then return hardtanh_(t, ...) end
    local ok, err = pcall(hardtanh_, t, ...)
    if not ok then raise((tostring(err):gsub('^.-hardtanh_:', op .. ':'))) end
    return t
  end
  function Tensor.hardtanh_(t, ...) return hardtanh_inplace('hardtanh_', t, ...) end
  nl.hardtanh_ = Tensor.hardtanh_
  -- relu6(x) is hardtanh(x, 0, 6), as PyTorch's (its gradient 0 at 0 and 6)
  function Tensor.relu6(t, ...)
    T(t, 'relu6')
    if select('#', ...) > 0 and ... ~= nil then raise('relu6: takes no parameters, got ' .. nl._describe_arg((...))) end
    return Tensor.hardtanh(t, 0, 6)
  end
  function Tensor.relu6_(t, ...)
    T(t, 'relu6_')
    if select('#', ...) > 0 and ... ~= nil then raise('relu6_: takes no parameters, got ' .. nl._describe_arg((...))) end
    return hardtanh_inplace('relu6_', t, 0, 6)
  end
  nl.relu6, nl.relu6_ = Tensor.relu6, Tensor.relu6_

  local NaN = 0 / 0
  function Tensor.clamp(t, lo, hi, ...)
    if select('#', ...) > 0 then nl._no_extra_args('clamp', '(min, max)', nil, ...) end
    if lo ~= nil and type(lo) ~= 'number' then argerror('clamp', 'a number or nil as min', lo) end
    if hi ~= nil and type(hi) ~= 'number' then argerror('clamp', 'a number or nil as max', hi) end
    local p = T(t, 'clamp')
    if p.dtype == 2 and (fractional(lo) or fractional(hi)) then p = T(Tensor.to(t, dtype_names[default_dt]), 'clamp') end
    if lo ~= nil and p.dtype == 0 then check_f32('clamp', lo) end
    if hi ~= nil and p.dtype == 0 then check_f32('clamp', hi) end
    -- C reads a NaN bound as none. PyTorch 1.13 gives the input's values
    -- for one bound that is NaN, and NaN everywhere when the other bound is
    -- given too, with a zero gradient either way (a NaN was taken as no
    -- bound, with the gradient of one)
    local nan_lo, nan_hi = lo ~= nil and lo ~= lo, hi ~= nil and hi ~= hi
    if nan_lo or nan_hi then
      local x = wrap(lib.nl_clamp(p, NaN, NaN))
      local never = nl.zeros(x:shape(), 'int64')
      if lo ~= nil and hi ~= nil then return nl.where(never, x, NaN) end
      return nl.where(never, x, x:detach())
    end
    return wrap(lib.nl_clamp(p, lo or NaN, hi or NaN))
  end
  nl.clamp = Tensor.clamp

  -- the dtype for a number beside tensor other (nil: the default)
  local function scalar_dtype(x, other)
    if not is_tensor(other) then return nil end
    local d = Tensor.dtype(other)
    if d == 'int64' and fractional(x) then return dtype_names[default_dt] end
    return d
  end

  -- where(cond, a, b): a where cond is nonzero, else b. where(cond) alone
  -- is nonzero(cond, {as_tuple = true}), as PyTorch's: one int64 tensor of
  -- 1-based indices per dim (it was refused, as a nil a). Two numbers give
  -- int64 when both are whole, as PyTorch's two ints (float32 was made of
  -- where(c, 1, 0)), else the default float32. Lua has one number type: a
  -- whole number past int64 (2^63) is read as PyTorch reads a float
  -- (where(c, 2.0**63, 0) is float32), not as its overflowing int.
  function nl.where(cond, a, b, ...)
    if select('#', ...) > 0 then nl._no_extra_args('where', '(cond, a, b)', nil, ...) end
    local c = T(cond, 'where')
    if a == nil and b == nil then return Tensor.nonzero(cond, { as_tuple = true }) end
    if type(a) == 'number' and type(b) == 'number' and not fractional(a) and not fractional(b) then
      return wrap(lib.nl_where(c, nl.tensor(a, 'int64').ptr, nl.tensor(b, 'int64').ptr))
    end
    local ta = is_tensor(a) and a or (type(a) == 'number' and nl.tensor(a, scalar_dtype(a, b)))
    local tb = is_tensor(b) and b or (type(b) == 'number' and nl.tensor(b, scalar_dtype(b, a)))
    if not ta then argerror('where', 'a tensor or a number', a) end
    if not tb then argerror('where', 'a tensor or a number', b) end
    -- a number past float32's range beside a float32 tensor, as PyTorch refuses it (it became inf)
    for _, v in ipairs({ { a, tb }, { b, ta } }) do
      if type(v[1]) == 'number' and Tensor.dtype(v[2]) == 'float32' then check_f32('where', v[1]) end
    end
    return wrap(lib.nl_where(c, ta.ptr, tb.ptr))
  end

  -- t:masked_fill(mask, value): t where mask is 0, value where it is not
  -- (nnlua has no bool dtype: a mask is any tensor, nonzero meaning true,
  -- as nl.where's condition), mask broadcast to t's shape; value a number
  -- (converted to t's dtype: a fraction truncates into int64, as PyTorch)
  -- or a 0-dim tensor, which gets the gradient of the filled places. Made
  -- with nl.where, so autograd follows it.
  local function masked_fill(op, t, mask, value)
    local p, mp = T(t, op), T(mask, op)
    -- in place the mask broadcasts to t's shape; out of place t and the
    -- mask broadcast together, the result of their shape, as PyTorch 1.13's
    -- (a mask of more dims than t was refused)
    local both = op == 'masked_fill'
    local fits = both or mp.ndim <= p.ndim
    for i = 1, fits and math.min(mp.ndim, p.ndim) or 0 do
      local m, n = mp.sizes[mp.ndim - i], p.sizes[p.ndim - i]
      fits = fits and (m == 1 or m == n or (both and n == 1))
    end
    if not fits then
      raise(('%s: mask of shape %s does not broadcast %s the shape %s of the tensor'):format(op, sizes_str(mp),
                                                                   both and 'with' or 'to', sizes_str(p)))
    end
    if type(value) == 'number' then
      if p.dtype == 0 then check_f32(op, value) end
      if p.dtype == 2 then
        if not (value >= -2 ^ 63 and value < 2 ^ 63) then
          raise(('%s: cannot store %s in an int64 tensor'):format(op, tostring(value)))
        end
        value = value >= 0 and math.floor(value) or math.ceil(value)
      end
      return nl.where(mask, nl.tensor(value, dtype_names[p.dtype]), t)
    end
    local vp = T(value, op)
    if vp.ndim ~= 0 then
      raise(('%s: value must be a number or a 0-dim tensor, got a tensor of shape %s'):format(op, sizes_str(vp)))
    end
    if vp.dtype ~= p.dtype then value = Tensor.to(value, dtype_names[p.dtype]) end
    return nl.where(mask, value, t)
  end
  function Tensor.masked_fill(t, mask, value, ...)
    if select('#', ...) > 0 then nl._no_extra_args('masked_fill', '(mask, value)', nil, ...) end
    return masked_fill('masked_fill', t, mask, value)
  end
  nl.masked_fill = Tensor.masked_fill
  function Tensor.masked_fill_(t, mask, value, ...)
    if select('#', ...) > 0 then nl._no_extra_args('masked_fill_', '(mask, value)', nil, ...) end
    check(lib.nl_inplace_check(T(t, 'masked_fill_'), 'masked_fill_'))
    if is_tensor(value) then value = Tensor.item(value) end
    return Tensor.copy_(t, masked_fill('masked_fill_', t, mask, value))
  end

  -- in place
  local function inplace_binary(name, opname)
    local opid = C_op[opname]
    return function(t, x, ...)
      if select('#', ...) > 0 then nl._no_extra_args(name, '(x)', nil, ...) end
      local p = T(t, name)
      if type(x) == 'number' then check(lib.nl_binary_scalar_(opid, p, x))
      else check(lib.nl_binary_(opid, p, src_ptr(x, name))) end
      return t
    end
  end
  Tensor.mul_ = inplace_binary('mul_', 'mul')
  Tensor.div_ = inplace_binary('div_', 'div')
  local add_plain_, sub_plain_ = inplace_binary('add_', 'add'), inplace_binary('sub_', 'sub')
  -- t:add_(x, [alpha]), t:sub_(x, [alpha]): t += alpha * x, t -= alpha * x
  -- (sub_ dropped its alpha)
  for name, plain in pairs({ add_ = add_plain_, sub_ = sub_plain_ }) do
    local sign = name == 'sub_' and -1 or 1
    Tensor[name] = function(t, x, alpha, ...)
      if select('#', ...) > 0 then nl._no_extra_args(name, '(x, [alpha])', nil, ...) end
      if alpha == nil then return plain(t, x) end
      alpha = alpha_arg(name, t, x, alpha)
      if type(x) == 'number' then
        -- a fractional x is a float result whatever alpha makes of it, as
        -- PyTorch's (i:add_(0.5, 2) added 1 to int64 i)
        if fractional(x) and T(t, name).dtype == 2 then
          raise(('%s: result of the float scalar %s cannot be stored in an int64 destination'):format(name,
            tostring(x)))
        end
        return plain(t, x * alpha)
      end
      check(lib.nl_add_scaled_(T(t, name), src_ptr(x, name), sign * alpha))
      return t
    end
  end
  function Tensor.fill_(t, v, ...)
    if select('#', ...) > 0 then nl._no_extra_args('fill_', '(value)', nil, ...) end
    if type(v) ~= 'number' then argerror('fill_', 'a number', v) end
    local p = T(t, 'fill_')
    if p.dtype == 0 then check_f32('fill_', v) end
    check(lib.nl_fill_(p, v))
    return t
  end
  function Tensor.zero_(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('zero_', '()', 'use t:fill_(v) for another value', ...) end
    return Tensor.fill_(t, 0)
  end
  function Tensor.copy_(t, src, ...)
    -- (PyTorch's non_blocking means nothing on a CPU)
    if select('#', ...) > 0 then nl._no_extra_args('copy_', '(src)', nil, ...) end
    check(lib.nl_copy_(T(t, 'copy_'), src_ptr(src, 'copy_')))
    return t
  end
  function Tensor.clamp_(t, lo, hi, ...)
    if select('#', ...) > 0 then nl._no_extra_args('clamp_', '(min, max)', nil, ...) end
    -- the destination checked first, as every in-place op's: the refusal
    -- named copy_ and the source
    check(lib.nl_inplace_check(T(t, 'clamp_'), 'clamp_'))
    local r = Tensor.clamp(t, lo, hi)
    -- a fractional bound makes the result float32; copied back into int64
    -- it was truncated, below the bound ([1,2,3,4]:clamp_(2.5, 3.5) gave 2s)
    if T(t, 'clamp_').dtype == 2 and T(r, 'clamp_').dtype ~= 2 then
      raise('clamp_: result of a float bound cannot be stored in an int64 destination')
    end
    return Tensor.copy_(t, r)
  end

  -- ---- reductions -----------------------------------------------------------

  -- a list of dims (PyTorch's dim tuple) -> their 0-based C dims from the
  -- highest down, each checked as the caller wrote it; a dim named twice
  -- is refused, as PyTorch refuses it (its elements would be counted twice)
  local function cdims(list, op, p)
    local n = nl._list_len(list)
    if not n then raise(op .. ': dims must be a list of integer dims, such as {2, 3}') end
    local seen, out = {}, {}
    for i = 1, n do
      local c = cdim(list[i], op, p)
      if c < 0 then c = c + math.max(p.ndim, 1) end
      if seen[c] then
        raise(('%s: dim %s appears more than once in the list of dims for shape %s'):format(op, tostring(list[i]),
                                                                                             sizes_str(p)))
      end
      seen[c] = true
      out[i] = c
    end
    table.sort(out, function(a, b) return a > b end)
    return out
  end

  local reduce_idx = ffi.new('nl_tensor *[1]')   -- max's and min's indices (out)
  local function reducer(name, has_indices)
    local opid = C_op[name]
    local sum_like = name == 'sum' or name == 'mean'
    local reduce
    reduce = function(t, d, keepdim, ...)
      local p = T(t, name)
      if select('#', ...) > 0 then nl._no_extra_args(name, '(dim, keepdim)', nil, ...) end
      if keepdim ~= nil and type(keepdim) ~= 'boolean' then argerror(name, 'keepdim as a boolean', keepdim) end
      if type(d) == 'table' and not is_tensor(d) then
        if not sum_like then
          raise(('%s: takes one dim, not a list of dims (as PyTorch\'s %s), for shape %s'):format(name, name, sizes_str(p)))
        end
        -- several dims: summed one at a time from the highest, so that the
        -- lower ones keep their places without keepdim; a mean divides
        -- that sum by the count once (an empty list: every dim, as PyTorch's)
        local dims = cdims(d, name, p)
        if #dims == 0 then return reduce(t, nil, keepdim) end
        if #dims == 1 then return reduce(t, dims[1] + 1, keepdim) end
        local x, count = t, 1
        if name == 'mean' and p.dtype == 2 then x = Tensor.to(t, 'float64') end
        for _, c in ipairs(dims) do
          count = count * tonumber(p.sizes[c])
          x = wrap(lib.nl_reduce(C_op.sum, T(x, name), c, keepdim and 1 or 0, 1, nil))
        end
        if name == 'sum' then return x end
        x = x / count
        return p.dtype == 2 and Tensor.to(x, dtype_names[default_dt]) or x
      end
      if d == nil then
        local r = wrap(lib.nl_reduce_all(opid, p, 1))
        if not keepdim or p.ndim == 0 then return r end
        -- keepdim over every dim: ones of the input's rank, as PyTorch's
        -- (it was ignored); max and min have no such form there
        if has_indices then raise(name .. ': keepdim needs a dim (the max or min of all is one number)') end
        local ones = {}
        for i = 1, p.ndim do ones[i] = 1 end
        return Tensor.view(r, ones)
      end
      local kd = keepdim and 1 or 0
      local c = cdim(d, name, p)
      -- checked here for the caller's 1-based dim (C's message counts from 0)
      if name ~= 'sum' and name ~= 'mean' and p.ndim > 0 and p.sizes[c < 0 and c + p.ndim or c] == 0 then
        raise(string.format('%s: cannot reduce dim %d of size 0 in shape %s', name, d, sizes_str(p)))
      end
      if has_indices then
        local v = lib.nl_reduce(opid, p, c, kd, 1, reduce_idx)
        if v == nil then raise(ffi.string(lib.nl_error())) end
        -- the indices first: wrap(v) may raise (detect_anomaly), and the
        -- indices' reference, not yet held by a handle, leaked
        local i = wrap(reduce_idx[0])
        return wrap(v, name), i
      end
      return wrap(lib.nl_reduce(opid, p, c, kd, 1, nil))
    end
    return reduce
  end
  Tensor.sum = reducer('sum')
  Tensor.mean = reducer('mean')
  Tensor.max = reducer('max', true)
  Tensor.min = reducer('min', true)
  Tensor.argmax = reducer('argmax')
  Tensor.argmin = reducer('argmin')
  for _, k in ipairs({ 'sum', 'mean', 'max', 'min', 'argmax', 'argmin' }) do nl[k] = Tensor[k] end

  -- var([d], [unbiased], [keepdim]) or var([d], opts), and std: the sum of
  -- squared deviations from the mean over dim d (a list of dims, or all) over
  -- n - correction, as PyTorch's, whose positional order this is; opts:
  -- unbiased (true: correction 1; false: 0), correction, keepdim. Made of
  -- mean, sub, mul and sum, so autograd follows. n - correction at or
  -- below 0 divides by 0 (NaN or inf), as PyTorch does.
  local VAR_KNOWN = { unbiased = 'flag', correction = 1, keepdim = 'flag' }
  local function variance(name, t, d, opts)
    local p = T(t, name)
    if p.dtype == 2 then raise(name .. ': needs a floating point tensor, got int64 ' .. sizes_str(p)) end
    opts = nl._opts(name, opts)
    nl._check_opts(name, opts, VAR_KNOWN)
    local c = opts.correction
    if c ~= nil and (type(c) ~= 'number' or c < 0 or c ~= math.floor(c)) then
      argerror(name, 'a non-negative integer correction', c)
    end
    if c ~= nil and opts.unbiased ~= nil then raise(name .. ': give unbiased or correction, not both') end
    c = c or (opts.unbiased == false and 0 or 1)
    local keepdim = opts.keepdim == true
    local n, dev, ss
    if type(d) == 'table' then
      -- a list of dims: n counts the elements of each slice
      n = 1
      for _, k in ipairs(cdims(d, name, p)) do n = n * (p.ndim == 0 and 1 or tonumber(p.sizes[k])) end
      dev = t - Tensor.mean(t, d, true)
      ss = Tensor.sum(dev * dev, d, keepdim)
    elseif d == nil then
      n = tonumber(p.numel)
      dev = t - Tensor.mean(t)
      ss = Tensor.sum(dev * dev)
      if keepdim then
        local ones = {}
        for i = 1, p.ndim do ones[i] = 1 end
        ss = Tensor.view(ss, ones)
      end
    else
      local k = cdim(d, name, p)
      n = p.ndim == 0 and 1 or tonumber(p.sizes[k < 0 and k + p.ndim or k])
      dev = t - Tensor.mean(t, d, true)
      ss = Tensor.sum(dev * dev, d, keepdim)
    end
    return ss / math.max(0, n - c)
  end
  -- v^(1/p) (sqrt for p = 2) where v is not 0; 0 there, with the gradient
  -- 0, not the NaN of the root's infinite slope at 0 times a zero upstream
  -- (the zeros are rooted as a safe 1, then masked): std and p-norms
  function nl._root_or_zero(v, p)
    local z = Tensor.eq(v, 0)
    local safe = nl.where(z, 1, v)
    return nl.where(z, 0, p == 2 and Tensor.sqrt(safe) or Tensor.pow(safe, 1 / p))
  end

  -- (d, opts), (opts), (d, unbiased, keepdim) or (unbiased): a boolean
  -- after the dim is unbiased, as PyTorch's x.var(1, False)
  local function var_args(name, d, a, b, ...)
    nl._no_extra_args(name, '(dim, unbiased, keepdim)', nil, ...)
    if type(d) == 'boolean' then
      -- (unbiased, keepdim) without a dim: a third argument has no place
      -- (var(true, true, x) dropped x)
      if b ~= nil then nl._no_extra_args(name, '(unbiased, keepdim)', nil, b) end
      d, a, b = nil, d, a
    end
    -- a table of numbers is a list of dims, {2, 3}; other tables are options
    local is_dims = type(d) == 'table' and not nl.is_tensor(d) and type(d[1]) == 'number'
    if type(d) == 'table' and not nl.is_tensor(d) and not is_dims then
      if a ~= nil then raise(name .. ': options come last, after the dim') end
      return nil, d
    end
    if type(a) == 'boolean' or (a == nil and b ~= nil) then
      if b ~= nil and type(b) ~= 'boolean' then argerror(name, 'keepdim as a boolean', b) end
      return d, { unbiased = a, keepdim = b }
    end
    if b ~= nil then argerror(name, 'unbiased and keepdim as booleans, or an options table', a) end
    return d, a
  end
  function Tensor.var(t, d, a, b, ...)
    local dim, opts = var_args('var', d, a, b, ...)
    return variance('var', t, dim, opts)
  end
  function Tensor.std(t, d, a, b, ...)
    local dim, opts = var_args('std', d, a, b, ...)
    -- the gradient 0 where the std is 0, as PyTorch's std_backward masks it
    -- (sqrt's infinite slope at 0 times a deviation of 0 gave NaN)
    return nl._root_or_zero(variance('std', t, dim, opts), 2)
  end
  nl.var, nl.std = Tensor.var, Tensor.std

  -- cumsum(d, [dtype]), cumprod(d, [dtype]): the running sum and product
  -- along dim d, of t's shape (and dtype, or dtype's: t converted first,
  -- as PyTorch's dtype argument); a dim is needed, as in PyTorch
  local function scan_input(op, t, d, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args(op, '(dim, [dtype])', nil, ...) end
    -- (the tensor and the dtype checked here: Tensor.to named them as 'to')
    T(t, op)
    if dtype ~= nil then
      if not dtype_ids[dtype] then
        raise(("%s: unknown dtype %s (use 'float32', 'float64' or 'int64')"):format(op, nl._describe_arg(dtype)))
      end
      t = Tensor.to(t, dtype)
    end
    local p = T(t, op)
    return p, cdim(d, op, p)
  end
  function Tensor.cumsum(t, d, dtype, ...) return wrap(lib.nl_cumsum(scan_input('cumsum', t, d, dtype, ...))) end
  function Tensor.cumprod(t, d, dtype, ...) return wrap(lib.nl_cumprod(scan_input('cumprod', t, d, dtype, ...))) end
  nl.cumsum, nl.cumprod = Tensor.cumsum, Tensor.cumprod

  -- nonzero([{as_tuple}]): the 1-based indices of the nonzero elements (NaN
  -- counts), an int64 (n, dim) tensor in row-major order, as PyTorch's;
  -- as_tuple: a list of dim() 1-D tensors, one per dim (one for a 0-dim
  -- tensor, as PyTorch's). argwhere: nonzero(), PyTorch's alias.
  function Tensor.nonzero(t, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('nonzero', '({as_tuple})', nil, ...) end
    opts = nl._opts('nonzero', opts)
    nl._check_opts('nonzero', opts, { as_tuple = 'flag' })
    local p = T(t, 'nonzero')
    local r = wrap(lib.nl_nonzero(p, 1))
    if not opts.as_tuple then return r end
    if p.ndim == 0 then return { nl.ones(Tensor.size(r, 1), 'int64') } end
    local cols = {}
    for i = 1, p.ndim do cols[i] = Tensor.select(r, 2, i) end
    return cols
  end
  function Tensor.argwhere(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('argwhere', '()', nil, ...) end
    return wrap(lib.nl_nonzero(T(t, 'argwhere'), 1))
  end
  -- masked_select(mask): a 1-D tensor of the elements where mask (any
  -- dtype, nonzero for true: nnlua has no bool) is set, t and mask
  -- broadcast together, in row-major order; the gradient goes back to the
  -- selected elements
  function Tensor.masked_select(t, mask, ...)
    if select('#', ...) > 0 then nl._no_extra_args('masked_select', '(mask)', nil, ...) end
    return wrap(lib.nl_masked_select(T(t, 'masked_select'), T(mask, 'masked_select')))
  end
  nl.nonzero, nl.argwhere, nl.masked_select = Tensor.nonzero, Tensor.argwhere, Tensor.masked_select

  -- softmax(d, [dtype]): t converted to dtype first, as PyTorch's dtype
  -- argument does (a third argument was dropped without a word); a string
  -- or {dtype = ...}
  local function softmax_input(t, op, dtype)
    if type(dtype) == 'table' and not is_tensor(dtype) then
      nl._check_opts(op, dtype, { dtype = 1 })
      dtype = dtype.dtype
    end
    if dtype == nil then return t end
    if type(dtype) ~= 'string' or not dtype_ids[dtype] then
      raise(("%s: expected a dtype ('float32' or 'float64'), got %s"):format(op, nl._describe_arg(dtype)))
    end
    if dtype_ids[dtype] == 2 then raise(("%s: dtype must be a float dtype ('float32' or 'float64'), got 'int64'"):format(op)) end
    T(t, op)
    return Tensor.to(t, dtype)
  end
  function Tensor.softmax(t, d, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('softmax', '(dim, [dtype])', nil, ...) end
    t = softmax_input(t, 'softmax', dtype)
    local p = T(t, 'softmax')
    return wrap(lib.nl_softmax(p, cdim(d or -1, 'softmax', p)))
  end
  function Tensor.log_softmax(t, d, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('log_softmax', '(dim, [dtype])', nil, ...) end
    t = softmax_input(t, 'log_softmax', dtype)
    local p = T(t, 'log_softmax')
    return wrap(lib.nl_log_softmax(p, cdim(d or -1, 'log_softmax', p)))
  end
  nl.softmax, nl.log_softmax = Tensor.softmax, Tensor.log_softmax
  -- softmin(d, [dtype]): softmax of -t, as PyTorch's F.softmin
  function nl.softmin(t, d, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('softmin', '(dim, [dtype])', nil, ...) end
    t = softmax_input(t, 'softmin', dtype)
    local p = float_only(t, 'softmin')
    return wrap(lib.nl_softmax(T(Tensor.neg(t), 'softmin'), cdim(d or -1, 'softmin', p)))
  end

  function nl.matmul(a, b, ...)
    -- (a bias, as F.linear's, was dropped)
    if select('#', ...) > 0 then nl._no_extra_args('matmul', '(a, b)', 'add a bias after, or use F.linear', ...) end
    return wrap(lib.nl_matmul(T(a, 'matmul'), T(b, 'matmul')))
  end
  Tensor.matmul = nl.matmul

  -- ---- views and copies -----------------------------------------------------

  -- read_sizes for an op that takes no dtype (a trailing one was dropped)
  local function sizes_only(op, ...)
    local n, dt = read_sizes(op, ...)
    if dt then raise(op .. ': takes sizes only, not a dtype (convert with :to)') end
    return n
  end
  function Tensor.view(t, ...)
    local p = T(t, 'view')
    return wrap(lib.nl_view(p, sizes_only('view', ...), sizes_buf))
  end
  function Tensor.reshape(t, ...)
    local p = T(t, 'reshape')
    return wrap(lib.nl_reshape(p, sizes_only('reshape', ...), sizes_buf))
  end
  function Tensor.expand(t, ...)
    local p = T(t, 'expand')
    return wrap(lib.nl_expand(p, sizes_only('expand', ...), sizes_buf))
  end
  function Tensor.transpose(t, a, b, ...)
    if select('#', ...) > 0 then nl._no_extra_args('transpose', '(dim0, dim1)', 'permute reorders more dims', ...) end
    local p = T(t, 'transpose')
    return wrap(lib.nl_transpose(p, cdim(a, 'transpose', p), cdim(b, 'transpose', p)))
  end
  function Tensor.t(t)
    local p = T(t, 't')
    if p.ndim ~= 2 then raise('t: expected a 2-D tensor, got shape ' .. nl._shape_str(t)) end
    return wrap(lib.nl_transpose(p, 0, 1))
  end
  function Tensor.permute(t, ...)
    local p = T(t, 'permute')
    local dims = select('#', ...) == 1 and type(...) == 'table' and ... or { ... }
    if #dims > 8 then raise('permute: too many dims') end
    for i = 1, #dims do dims_buf[i - 1] = cdim(dims[i], 'permute', p) end
    return wrap(lib.nl_permute(p, #dims, dims_buf))
  end
  function Tensor.narrow(t, d, start, len, ...)
    if select('#', ...) > 0 then nl._no_extra_args('narrow', '(dim, start, length)', nil, ...) end
    local p = T(t, 'narrow')
    local c = cdim(d, 'narrow', p)
    if p.ndim == 0 then raise('narrow: a 0-dim tensor has no dim to narrow') end
    -- a 0-dim int64 tensor start reads as its value, as PyTorch 1.13's
    -- narrow(dim, start: Tensor, length) (it was refused)
    if is_tensor(start) then start = int64_scalar(start, 'narrow') or start end
    if type(start) ~= 'number' or start ~= math.floor(start) then argerror('narrow', 'an integer start', start) end
    if type(len) ~= 'number' or len ~= math.floor(len) then argerror('narrow', 'an integer length', len) end
    local n = tonumber(p.sizes[c < 0 and c + p.ndim or c])
    local s0 = (start < 0 and start + n + 1 or start) - 1     -- 0-based; n where an empty narrow starts at the end
    if s0 < 0 or len < 0 or s0 + len > n then
      raise(string.format('narrow: start %s length %s out of range for dim %d of shape %s', tostring(start),
                          tostring(len), c < 0 and c + p.ndim + 1 or c + 1, sizes_str(p)))
    end
    return wrap(lib.nl_narrow(p, c, s0, len))
  end
  function Tensor.select(t, d, i, ...)
    if select('#', ...) > 0 then nl._no_extra_args('select', '(dim, index)', nil, ...) end
    local p = T(t, 'select')
    local c = cdim(d, 'select', p)
    if p.ndim == 0 then raise('select: a 0-dim tensor has no dim to select from') end
    return wrap(lib.nl_select(p, c, cindex(i, 'select', p, c, 'index')))
  end
  function Tensor.squeeze(t, d, ...)
    if select('#', ...) > 0 then nl._no_extra_args('squeeze', '([dim])', 'squeeze one dim at a time', ...) end
    local p = T(t, 'squeeze')
    if d == nil then
      local s = {}
      for i = 0, p.ndim - 1 do if p.sizes[i] ~= 1 then s[#s + 1] = tonumber(p.sizes[i]) end end
      return Tensor.view(t, s)
    end
    return wrap(lib.nl_squeeze(p, cdim(d, 'squeeze', p)))
  end
  function Tensor.unsqueeze(t, d, ...)
    if select('#', ...) > 0 then nl._no_extra_args('unsqueeze', '(dim)', 'unsqueeze one dim at a time', ...) end
    local p = T(t, 'unsqueeze')
    -- 1..ndim+1, or negative from the end
    return wrap(lib.nl_unsqueeze(p, cdim(d, 'unsqueeze', p, 1)))
  end

  -- ---- splits and dim moves, made of views (autograd follows them) ----------

  -- Lua dim d of p -> 0-based and from the start; more as cdim's
  local function pdim(d, op, p, more)
    local c = cdim(d, op, p, more)
    return c < 0 and c + p.ndim + (more or 0) or c
  end
  -- p's dim d (Lua), for an op that needs one: a 0-dim tensor has none
  local function split_dim(op, p, d)
    if p.ndim == 0 then raise(op .. ': a 0-dim tensor has no dim to split') end
    return pdim(d == nil and 1 or d, op, p)
  end
  local function whole(op, what, v, lo)
    if type(v) ~= 'number' or v ~= math.floor(v) or v < lo or v >= 2 ^ 62 then
      raise(('%s: expected %s, got %s'):format(op, what, nl._describe_arg(v)))
    end
    return v
  end

  -- t:split(size, [dim]): views of size along dim (the last may be
  -- smaller); t:split({s1, s2, ...}, [dim]): views of those sizes, which
  -- must add up to the dim's size. A list of tensors, as PyTorch's tuple.
  function Tensor.split(t, size, d, ...)
    if select('#', ...) > 0 then nl._no_extra_args('split', '(split_size, [dim])', nil, ...) end
    local p = T(t, 'split')
    local c = split_dim('split', p, d)
    local n = tonumber(p.sizes[c])
    local out = {}
    if type(size) == 'table' and not is_tensor(size) then
      local k = nl._list_len(size)
      if not k then argerror('split', 'a size or a list of sizes', size) end
      local at = 0
      for i = 1, k do whole('split', 'sizes of 0 or more', size[i], 0); at = at + size[i] end
      if at ~= n then
        raise(('split: sizes {%s} add up to %d, not to the size %d of dim %d of shape %s'):format(
          table.concat(size, ', '), at, n, c + 1, sizes_str(p)))
      end
      at = 0
      for i = 1, k do
        out[i] = wrap(lib.nl_narrow(p, c, at, size[i]))
        at = at + size[i]
      end
      return out
    end
    whole('split', 'a split size of 1 or more, or a list of sizes', size, 1)
    for at = 0, n - 1, size do out[#out + 1] = wrap(lib.nl_narrow(p, c, at, math.min(size, n - at))) end
    -- an empty dim gives one empty piece, as PyTorch's
    if n == 0 then out[1] = wrap(lib.nl_narrow(p, c, 0, 0)) end
    return out
  end

  -- t:chunk(n, [dim]): at most n views along dim, each of ceil(size / n)
  -- but the last (fewer than n when the size runs out first, as PyTorch's)
  function Tensor.chunk(t, n, d, ...)
    if select('#', ...) > 0 then nl._no_extra_args('chunk', '(chunks, [dim])', nil, ...) end
    local p = T(t, 'chunk')
    whole('chunk', 'a number of chunks of 1 or more', n, 1)
    local c = split_dim('chunk', p, d)
    local size = tonumber(p.sizes[c])
    if size == 0 then
      -- n empty pieces, as PyTorch's (split's one piece was given)
      local out = {}
      for i = 1, n do out[i] = wrap(lib.nl_narrow(p, c, 0, 0)) end
      return out
    end
    return Tensor.split(t, math.ceil(size / n), c + 1)
  end

  -- t:unbind([dim]): the views of each index along dim, that dim removed
  function Tensor.unbind(t, d, ...)
    if select('#', ...) > 0 then nl._no_extra_args('unbind', '([dim])', nil, ...) end
    local p = T(t, 'unbind')
    if p.ndim == 0 then raise('unbind: a 0-dim tensor has no dim to unbind') end
    local c = pdim(d == nil and 1 or d, 'unbind', p)
    local out = {}
    for i = 0, tonumber(p.sizes[c]) - 1 do out[i + 1] = wrap(lib.nl_select(p, c, i)) end
    return out
  end

  -- t:flatten([start_dim], [end_dim]): dims start_dim..end_dim (1 and -1
  -- by default) as one, a view where the strides allow (reshape's rule)
  function Tensor.flatten(t, a, b, ...)
    if select('#', ...) > 0 then nl._no_extra_args('flatten', '([start_dim], [end_dim])', nil, ...) end
    local p = T(t, 'flatten')
    local s, e = pdim(a == nil and 1 or a, 'flatten', p), pdim(b == nil and -1 or b, 'flatten', p)
    if p.ndim == 0 then return Tensor.reshape(t, 1) end
    if s > e then
      raise(('flatten: start_dim %s comes after end_dim %s in shape %s'):format(tostring(a), tostring(b), sizes_str(p)))
    end
    local shape, m = {}, 1
    for i = 0, s - 1 do shape[#shape + 1] = tonumber(p.sizes[i]) end
    for i = s, e do m = m * tonumber(p.sizes[i]) end
    shape[#shape + 1] = m
    for i = e + 1, p.ndim - 1 do shape[#shape + 1] = tonumber(p.sizes[i]) end
    return Tensor.reshape(t, shape)
  end

  -- t:unflatten(dim, sizes): dim as the dims of sizes (one may be -1),
  -- whose product must be its size
  function Tensor.unflatten(t, d, sizes, ...)
    if select('#', ...) > 0 then nl._no_extra_args('unflatten', '(dim, sizes)', nil, ...) end
    local p = T(t, 'unflatten')
    if p.ndim == 0 then raise('unflatten: a 0-dim tensor has no dim to unflatten') end
    local c = pdim(d, 'unflatten', p)
    local k = nl._list_len(sizes)
    if not k or k == 0 then argerror('unflatten', 'a non-empty list of sizes', sizes) end
    local n, m, infer = tonumber(p.sizes[c]), 1, nil
    for i = 1, k do
      if sizes[i] == -1 and not infer then infer = i
      else m = m * whole('unflatten', 'sizes of 0 or more (one may be -1)', sizes[i], 0) end
    end
    local new = {}
    for i = 1, k do new[i] = sizes[i] end
    if infer then
      if m == 0 or n % m ~= 0 then
        raise(('unflatten: sizes {%s} cannot make dim %d of size %d in shape %s'):format(
          table.concat(sizes, ', '), c + 1, n, sizes_str(p)))
      end
      new[infer] = n / m
    elseif m ~= n then
      raise(('unflatten: sizes {%s} make %d elements, not the size %d of dim %d in shape %s'):format(
        table.concat(sizes, ', '), m, n, c + 1, sizes_str(p)))
    end
    local shape = {}
    for i = 0, c - 1 do shape[#shape + 1] = tonumber(p.sizes[i]) end
    for i = 1, k do shape[#shape + 1] = new[i] end
    for i = c + 1, p.ndim - 1 do shape[#shape + 1] = tonumber(p.sizes[i]) end
    if #shape > 8 then raise('unflatten: ' .. #shape .. ' dims requested; tensors have at most 8') end
    return Tensor.view(t, shape)
  end

  -- t:movedim(source, destination): dims (a dim or a list of them) moved
  -- to those places, the others keeping their order; a view (permute)
  function Tensor.movedim(t, src, dst, ...)
    if select('#', ...) > 0 then nl._no_extra_args('movedim', '(source, destination)', nil, ...) end
    local p = T(t, 'movedim')
    local sl = type(src) == 'table' and src or { src }
    local dl = type(dst) == 'table' and dst or { dst }
    local ns, nd = nl._list_len(sl), nl._list_len(dl)
    if not ns then argerror('movedim', 'a dim or a list of dims as source', src) end
    if not nd then argerror('movedim', 'a dim or a list of dims as destination', dst) end
    if ns ~= nd then
      raise(('movedim: %d source dims and %d destination dims'):format(ns, nd))
    end
    local n = p.ndim
    local perm, used_s, used_d = {}, {}, {}
    for i = 1, ns do
      local s, d = pdim(sl[i], 'movedim', p), pdim(dl[i], 'movedim', p)
      if used_s[s] then raise(('movedim: source dim %d repeated'):format(s + 1)) end
      if used_d[d] then raise(('movedim: destination dim %d repeated'):format(d + 1)) end
      used_s[s], used_d[d] = true, true
      perm[d] = s
    end
    if n == 0 then return Tensor.view(t, {}) end
    local rest = 0
    for d = 0, n - 1 do
      if perm[d] == nil then
        while used_s[rest] do rest = rest + 1 end
        perm[d] = rest
        rest = rest + 1
      end
    end
    local dims = {}
    for d = 0, n - 1 do dims[d + 1] = perm[d] + 1 end
    return Tensor.permute(t, dims)
  end

  function Tensor.contiguous(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('contiguous', '()', nil, ...) end
    return wrap(lib.nl_contiguous(T(t, 'contiguous')))
  end
  function Tensor.clone(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('clone', '()', nil, ...) end
    return wrap(lib.nl_clone(T(t, 'clone')))
  end
  function Tensor.index_select(t, d, idx, ...)
    if select('#', ...) > 0 then nl._no_extra_args('index_select', '(dim, index)', nil, ...) end
    local p = T(t, 'index_select')
    if type(idx) == 'table' and not nl.is_tensor(idx) then
      -- (the int64 conversion truncated 1.9 to 1 without a word)
      for i = 1, #idx do
        local v = idx[i]
        if type(v) ~= 'number' or v ~= math.floor(v) then
          raise(('index_select: expected whole-number indices, got %s at position %d'):format(tostring(v), i))
        end
      end
      idx = nl.tensor(idx, 'int64')
    end
    local c = cdim(d, 'index_select', p)
    if p.ndim == 0 then
      -- a 0-dim tensor is one element along its dim 1 (C refused it, naming
      -- dim 0): index 1 gives it back, as PyTorch's index 0 does
      local ip = T(idx, 'index_select')
      if ip.dtype ~= 2 or ip.ndim > 1 or ip.numel ~= 1 or idx:reshape(1)[1] ~= 1 then
        raise(string.format('index_select: a 0-dim tensor takes one index, 1; got %s %s', dtype_names[ip.dtype],
          sizes_str(ip)))
      end
      return Tensor.clone(t)
    end
    return wrap(lib.nl_index_select(p, c, T(idx, 'index_select'), 1))
  end
  -- ---- gather, scatter, scatter_add, index_add: C kernels with C backward ----
  -- Index tensors are int64 holding 1-based indices, as index_select's; a
  -- Lua table is read as one (nested for gather's and scatter's).
  -- (the handle, not its C tensor: a table's tensor must stay reachable
  -- until the C call, through which a collection may run)
  -- A fraction in a table is refused, naming op, as index_select's (the
  -- int64 conversion truncated 1.5 to 1 without a word); its position as
  -- the list of its indices in the nested tables.
  local function whole_indices(op, list, at)
    for i = 1, #list do
      local v = list[i]
      at[#at + 1] = i
      if type(v) == 'table' and not is_tensor(v) then whole_indices(op, v, at)
      elseif type(v) ~= 'number' or v ~= math.floor(v) then
        raise(('%s: expected whole-number indices, got %s at position %s'):format(op, nl._describe_arg(v),
          #at == 1 and tostring(at[1]) or '{' .. table.concat(at, ', ') .. '}'))
      end
      at[#at] = nil
    end
  end
  local function index_arg(op, idx)
    if type(idx) == 'table' and not is_tensor(idx) then
      whole_indices(op, idx, {})
      return nl.tensor(idx, 'int64')
    end
    return idx
  end

  -- t:gather(dim, index): out[..i..] = t[..index[..i..]..] along dim, of the
  -- index's shape; the gradient goes back to t at the index (added where
  -- an index repeats)
  -- a 0-dim tensor, index or source taken as one of shape [1], as PyTorch
  -- 1.13 takes them (dim 1 or -1 of a 0-dim tensor), the result reshaped
  -- back (gather's to the index's shape, scatter's to the tensor's); the
  -- reshapes carry the gradient
  local function as_one(x)
    if is_tensor(x) and T(x).ndim == 0 then return Tensor.reshape(x, { 1 }) end
    return x
  end
  local function zero_dim(x) return is_tensor(x) and T(x).ndim == 0 end
  -- f(...) on the [1] forms; a 0-dim t's errors give its shape as []
  local function on_ones(p, f, ...)
    if p.ndim ~= 0 then return f(...) end
    local ok, r = pcall(f, ...)
    if ok then return r end
    local msg = tostring(r):gsub('^[^\n]-:%d+: ', '', 1)
    raise((msg:gsub('(of shape )%[1%]', '%1[]')))
  end

  function Tensor.gather(t, d, idx, ...)
    if select('#', ...) > 0 then nl._no_extra_args('gather', '(dim, index)', nil, ...) end
    local p = T(t, 'gather')
    local c = cdim(d, 'gather', p)
    idx = index_arg('gather', idx)
    if p.ndim <= 1 and (p.ndim == 0 or zero_dim(idx)) then
      local r = on_ones(p, Tensor.gather, as_one(t), 1, as_one(idx))
      return zero_dim(idx) and Tensor.reshape(r, {}) or r
    end
    return wrap(lib.nl_gather(p, c, T(idx, 'gather'), 1))
  end
  nl.gather = Tensor.gather

  -- v in a message: NaN as nan (tostring gives -nan for 0/0 here)
  local function num_str(v) return v ~= v and 'nan' or tostring(v) end
  -- the source of scatter: a tensor of t's dtype, or a number filling the
  -- index's shape (a fraction truncated into int64, as PyTorch's)
  local function scatter_src(op, p, ip, src)
    if type(src) == 'number' then
      if p.dtype == 0 then check_f32(op, src) end
      -- (NaN, inf and 2^63 were refused naming full)
      if p.dtype == 2 and not (src >= -2 ^ 63 and src < 2 ^ 63) then
        raise(('%s: the value %s cannot be stored in an int64 tensor'):format(op, num_str(src)))
      end
      for i = 0, ip.ndim - 1 do sizes_buf[i] = ip.sizes[i] end
      return wrap(lib.nl_full(ip.ndim, sizes_buf, src, p.dtype), nil, true)
    end
    if not is_tensor(src) then argerror(op, 'a tensor or a number as source', src) end
    return src
  end
  -- t:scatter(dim, index, src): a copy of t with src's values written at
  -- index along dim (src a tensor, or a number); scatter_add adds them.
  -- An index repeated along dim in scatter keeps one of the writes, as
  -- PyTorch (which leaves it unspecified; here the last).
  for _, name in ipairs({ 'scatter', 'scatter_add' }) do
    local add = name == 'scatter_add' and 1 or 0
    local takes = add == 1 and '(dim, index, src)' or '(dim, index, src or value)'
    -- op: name, or name_ for the in-place form, whose errors name it (C's
    -- name renamed: they said scatter for scatter_)
    -- (inplace: into t itself by nl_scatter_, after scatter_'s checks)
    local function f(op, t, d, idx, src, inplace)
      local p = T(t, op)
      local c = cdim(d, op, p)
      idx = index_arg(op, idx)
      if p.ndim <= 1 and (p.ndim == 0 or zero_dim(idx) or zero_dim(src)) then
        -- (in place: into the [1] view of t)
        local r = on_ones(p, f, op, as_one(t), 1, as_one(idx), as_one(src), inplace)
        return inplace and t or Tensor.reshape(r, p.ndim == 0 and {} or { 1 })
      end
      if add == 1 and not is_tensor(src) then argerror(op, 'a tensor as source', src) end
      local s = scatter_src(op, p, T(idx, op), src)
      if inplace then
        if lib.nl_scatter_(p, c, T(idx, op), T(s, op), add, 1) ~= 0 then
          raise((ffi.string(lib.nl_error()):gsub('^' .. name .. ':', op .. ':')))
        end
        return t
      end
      local r = lib.nl_scatter(p, c, T(idx, op), T(s, op), add, 1)
      if r == nil then raise((ffi.string(lib.nl_error()):gsub('^' .. name .. ':', op .. ':'))) end
      return wrap(r)
    end
    Tensor[name] = function(t, d, idx, src, ...)
      if select('#', ...) > 0 then nl._no_extra_args(name, takes, nil, ...) end
      return f(name, t, d, idx, src)
    end
    nl[name] = Tensor[name]
    -- in place, in C (a copy of t scattered and copied back took 3 times
    -- the scatter), after the in-place checks, which leave no gradient to
    -- record: t refused with grad on when it requires grad, and a source
    -- that requires grad refused naming op and its own shape
    Tensor[name .. '_'] = function(t, d, idx, src, ...)
      local op = name .. '_'
      if select('#', ...) > 0 then nl._no_extra_args(op, takes, nil, ...) end
      check(lib.nl_inplace_check(T(t, op), op))
      if is_tensor(src) then src_ptr(src, op) end
      return f(op, t, d, idx, src, true)
    end
  end

  -- t:index_add(dim, index, src, [alpha]): a copy of t with alpha * src's
  -- slice i added into slice index[i] along dim (index 1-D; repeats add up)
  -- (inplace: into t itself, after index_add_'s checks)
  local function index_add(op, t, d, idx, src, alpha, inplace)
    local p = T(t, op)
    if p.ndim == 0 then raise(op .. ': a 0-dim tensor has no dim to add along') end
    local c = cdim(d, op, p)
    idx = index_arg(op, idx)
    -- a 0-dim source into a 1-D t is the slice of one index, as PyTorch 1.13's
    if p.ndim == 1 and zero_dim(src) and is_tensor(idx) and Tensor.numel(idx) == 1 then
      src = Tensor.reshape(src, { 1 })
    end
    if alpha ~= nil and type(alpha) ~= 'number' then argerror(op, 'a number as alpha', alpha) end
    alpha = alpha or 1
    if p.dtype == 2 then
      -- int64 takes alpha cut toward 0, as PyTorch 1.13 (2.5 was refused
      -- naming add_); NaN, inf and 2^63 refused, as PyTorch refuses them
      if not (alpha >= -2 ^ 63 and alpha < 2 ^ 63) then
        raise(('%s: alpha %s cannot be converted to int64'):format(op, num_str(alpha)))
      end
      alpha = alpha < 0 and math.ceil(alpha) or math.floor(alpha)
    end
    if inplace then
      if lib.nl_index_add_(p, c, T(idx, op), T(src, op), alpha, 1) ~= 0 then
        raise((ffi.string(lib.nl_error()):gsub('^index_add:', op .. ':')))
      end
      return t
    end
    local r = lib.nl_index_add(p, c, T(idx, op), T(src, op), alpha, 1)
    if r == nil then raise((ffi.string(lib.nl_error()):gsub('^index_add:', op .. ':'))) end
    return wrap(r)
  end
  function Tensor.index_add(t, d, idx, src, alpha, ...)
    if select('#', ...) > 0 then nl._no_extra_args('index_add', '(dim, index, source, [alpha])', nil, ...) end
    return index_add('index_add', t, d, idx, src, alpha)
  end
  nl.index_add = Tensor.index_add
  function Tensor.index_add_(t, d, idx, src, alpha, ...)
    if select('#', ...) > 0 then nl._no_extra_args('index_add_', '(dim, index, source, [alpha])', nil, ...) end
    check(lib.nl_inplace_check(T(t, 'index_add_'), 'index_add_'))
    if is_tensor(src) then src_ptr(src, 'index_add_') end
    return index_add('index_add_', t, d, idx, src, alpha, true)
  end

  -- t:sort([dim], [descending]) or t:sort({dim, descending, stable}):
  -- the values and their 1-based int64 indices along dim (-1 by default),
  -- stable always (equal values keep their order, PyTorch's stable=True),
  -- NaN after every number (first when descending). The values are t
  -- gathered at the indices, so the gradient goes back to the places
  -- they came from.
  function Tensor.sort(t, d, descending, ...)
    if select('#', ...) > 0 then nl._no_extra_args('sort', '([dim], [descending])', nil, ...) end
    d, descending = nl._opts_or_args('sort', 'dim descending:flag stable:flag', d, descending)   -- (stable: always)
    if descending ~= nil and type(descending) ~= 'boolean' then argerror('sort', 'descending as a boolean', descending) end
    local p = T(t, 'sort')
    local c = cdim(d == nil and -1 or d, 'sort', p)
    local idx = wrap(lib.nl_argsort(p, c, descending and 1 or 0, 1))
    if p.ndim == 0 then return Tensor.clone(t), idx end
    return wrap(lib.nl_gather(p, c, idx.ptr, 1)), idx
  end
  nl.sort = Tensor.sort
  function Tensor.argsort(t, d, descending, ...)
    if select('#', ...) > 0 then nl._no_extra_args('argsort', '([dim], [descending])', nil, ...) end
    local _, i = Tensor.sort(t, d, descending)
    return i
  end
  nl.argsort = Tensor.argsort

  -- t:topk(k, [dim], [largest], [sorted]): the k largest (largest false:
  -- smallest) values along dim (-1 by default) and their 1-based indices,
  -- in sorted order always (sorted = false allows any order in PyTorch;
  -- this one is one of them); of equal values the first ones
  function Tensor.topk(t, k, d, largest, sorted, ...)
    if select('#', ...) > 0 then nl._no_extra_args('topk', '(k, [dim], [largest], [sorted])', nil, ...) end
    local p = T(t, 'topk')
    if largest ~= nil and type(largest) ~= 'boolean' then argerror('topk', 'largest as a boolean', largest) end
    if sorted ~= nil and type(sorted) ~= 'boolean' then argerror('topk', 'sorted as a boolean', sorted) end
    local c = cdim(d == nil and -1 or d, 'topk', p)
    local n = p.ndim == 0 and 1 or tonumber(p.sizes[c < 0 and c + p.ndim or c])
    -- a 0-dim tensor takes k = 0 too, giving its value and index 1 as k = 1
    -- does, as PyTorch 1.13's (0 was refused, by a message that allowed it)
    if type(k) ~= 'number' or k ~= math.floor(k) or k < 0 or k > n then
      raise(('topk: k must be a whole number from 0 to %d (the size of dim %s of shape %s), got %s'):format(
        n, tostring(d == nil and -1 or d), sizes_str(p), nl._describe_arg(k)))
    end
    local idx = wrap(lib.nl_argsort(p, c, largest == false and 0 or 1, 1))
    if p.ndim == 0 then return Tensor.clone(t), idx end
    idx = wrap(lib.nl_narrow(idx.ptr, c, 0, k))
    return wrap(lib.nl_gather(p, c, idx.ptr, 1)), idx
  end
  nl.topk = Tensor.topk

  function Tensor.to(t, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('to', '(dtype)', nil, ...) end
    local p = T(t, 'to')
    -- to() converts to nothing (it gave float32, dtype_id's default)
    if dtype == nil then raise("to: expected a dtype ('float32', 'float64' or 'int64'), got nil") end
    local id = dtype_id(dtype, 'to')
    if p.dtype == id then return t end
    -- (under detect_anomaly, a NaN or inf the source held is no new one:
    -- only an overflow to float32 is the conversion's)
    return wrap(lib.nl_to_dtype(p, id), nil, anomaly and lib.nl_all_finite(p) == 0)
  end
  local TO_HINT = 'use t:to(dtype) for another dtype'
  function Tensor.float(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('float', '()', TO_HINT, ...) end
    return Tensor.to(t, 'float32')
  end
  function Tensor.double(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('double', '()', TO_HINT, ...) end
    return Tensor.to(t, 'float64')
  end
  function Tensor.long(t, ...)
    if select('#', ...) > 0 then nl._no_extra_args('long', '()', TO_HINT, ...) end
    return Tensor.to(t, 'int64')
  end
  -- t:type() the dtype's name; t:type(d) t converted, as PyTorch's (the
  -- dtype given was dropped, and the name came back)
  function Tensor.type(t, dtype, ...)
    if select('#', ...) > 0 then nl._no_extra_args('type', '([dtype])', nil, ...) end
    if dtype ~= nil then return Tensor.to(t, dtype) end
    return dtype_names[T(t, 'type').dtype]
  end
end
