-- utility.lua: PyTorch's top-level utilities that nl lacked: nl.save and
-- nl.load (torch.save/torch.load for tensors and tables of them, written
-- as safetensors through io.c), the default dtype, finfo and iinfo,
-- set_printoptions (print.lua reads the options), inference_mode and the
-- mode flags. Loaded on first use of one of these names (init.lua).
local ffi = require 'ffi'
local json = require 'nnlua.json'

return function(nl)
  local lib, raise, argerror = nl._lib, nl._raise, nl._argerror
  local is_tensor = nl.is_tensor

  -- ---- nl.save / nl.load --------------------------------------------------
  -- The file is a safetensors file: each distinct tensor once, named by
  -- the path of keys where it first appears ('model.fc.weight'), and two
  -- metadata entries: a format mark and the object's structure as JSON.
  -- The structure is flat: a list of tables, each a list of key and value
  -- nodes, and the root node. A node is {'n', digits} (a number, its
  -- %.17g digits or nan, inf, -inf, -0: exact), {'s', text} (a string;
  -- {'x', hex} when it is not plain ASCII), {'b', flag}, {'t', name,
  -- requires_grad} or {'T', index of a table}. A table met twice is
  -- one table in the file, and comes back as one.
  local FORMAT_KEY, TREE_KEY, FORMAT = 'nnlua.save', 'nnlua.save.object', '1'
  local NEG_ZERO = -1 / math.huge

  local function num_text(v)
    if v ~= v then return 'nan' end
    if v == math.huge then return 'inf' end
    if v == -math.huge then return '-inf' end
    if v == 0 and 1 / v < 0 then return '-0' end
    return ('%.17g'):format(v)
  end
  local SPECIAL = { nan = 0 / 0, inf = math.huge, ['-inf'] = -math.huge, ['-0'] = NEG_ZERO }

  local KEY_RANK = { number = 1, string = 2, boolean = 3 }
  local function key_less(a, b)
    local ra, rb = KEY_RANK[type(a)], KEY_RANK[type(b)]
    if ra ~= rb then return ra < rb end
    if ra == 3 then return not a and b end
    return a < b
  end

  local function describe_path(path) return path == '' and 'the object' or "'" .. path .. "'" end
  -- tables nest at most this deep, in a saved object and in a file read
  -- (past some thousands the walks ran out of Lua stack: a bare 'stack
  -- overflow' that named neither op; pickle stops at about 1000 too)
  local MAX_DEPTH = 1000

  -- the structure of obj as a JSON string, and its tensors with their names
  local function encode(op, obj)
    local tensors, names, by_ptr, used = {}, {}, {}, {}
    local tables, table_id, open, depth = {}, {}, {}, 0
    local node
    local function tensor_node(t, path)
      local p = nl._T(t, op)
      local addr = tostring(ffi.cast('uintptr_t', p))
      if by_ptr[addr] then return by_ptr[addr] end
      -- (safetensors names are UTF-8 text: a path that is not plain gets a number)
      local name = path ~= '' and path ~= '__metadata__' and path:find('^[%w%._%-]+$') and path
                   or 'tensor' .. (#tensors + 1)
      while used[name] do name = name .. '#' end
      used[name] = true
      tensors[#tensors + 1], names[#names + 1] = t, name
      by_ptr[addr] = { 't', name, bit.band(p.flags, 1) ~= 0 }
      return by_ptr[addr]
    end
    local function table_node(t, path)
      if open[t] then
        raise(('%s: %s holds itself (a cycle in the table): only trees of tables can be saved'):format(op,
          describe_path(path)))
      end
      if table_id[t] then return { 'T', table_id[t] } end
      if nl.nn.is_module(t) then
        raise(('%s: %s is a module (nn.%s): save its state_dict() (or the whole model with m:save(path))')
              :format(op, describe_path(path), tostring(t.__name)))
      end
      if getmetatable(t) ~= nil then
        raise(('%s: %s is a table with a metatable; only tensors, numbers, strings, booleans and plain tables of '
               .. 'them can be saved'):format(op, describe_path(path)))
      end
      if depth >= MAX_DEPTH then
        raise(('%s: the object nests tables more than %d deep; only that many levels can be saved'):format(op,
          MAX_DEPTH))
      end
      local id = #tables + 1
      table_id[t], open[t], tables[id] = id, true, false
      depth = depth + 1
      local keys = {}
      for k in pairs(t) do
        if not KEY_RANK[type(k)] then
          raise(('%s: %s has a key of type %s; keys must be numbers, strings or booleans'):format(op,
            describe_path(path), is_tensor(k) and 'tensor' or type(k)))
        end
        keys[#keys + 1] = k
      end
      table.sort(keys, key_less)
      local rec = {}
      for _, k in ipairs(keys) do
        rec[#rec + 1] = node(k, path)
        rec[#rec + 1] = node(t[k], path == '' and tostring(k) or path .. '.' .. tostring(k))
      end
      tables[id], open[t], depth = rec, nil, depth - 1
      return { 'T', id }
    end
    function node(v, path)
      local tv = type(v)
      if tv == 'number' then return { 'n', num_text(v) } end
      if tv == 'boolean' then return { 'b', v } end
      if tv == 'string' then
        if v:find('[^\32-\126]') then return { 'x', (v:gsub('.', function(c) return ('%02x'):format(c:byte()) end)) } end
        return { 's', v }
      end
      if is_tensor(v) then return tensor_node(v, path) end
      if tv == 'table' then return table_node(v, path) end
      raise(('%s: %s is %s; only tensors, numbers, strings, booleans and plain tables of them can be saved')
            :format(op, describe_path(path), tv == 'nil' and 'nil' or 'a ' .. tv))
    end
    local root = node(obj, '')
    return json.encode({ root = root, tables = tables }), tensors, names
  end

  -- the C reader's and writer's messages name their own op
  local function c_error(op, c_op)
    local msg = ffi.string(lib.nl_error())
    local rest = msg:match('^' .. c_op .. ': (.*)$')
    raise(op .. ': ' .. (rest or msg))
  end

  -- PyTorch's order is save(obj, path); Torch7's was save(path, obj): a
  -- string first and anything but a string second is read as Torch7's
  function nl.save(a, b, ...)
    local op = 'nl.save'
    if select('#', ...) > 0 then nl._no_extra_args(op, '(obj, path)', nil, ...) end
    if b == nil then
      raise(('%s: expected an object and a path (save(obj, path)), got %s'):format(op,
        a == nil and 'nothing' or 'one argument'))
    end
    local obj, path = a, b
    if type(a) == 'string' and type(b) ~= 'string' then obj, path = b, a end
    if type(path) ~= 'string' or path == '' then argerror(op, 'a path string (save(obj, path))', path) end
    nl._path_arg(op, path)
    local tree, tensors, names = encode(op, obj)
    local n = #tensors
    local cnames = ffi.new('const char *[?]', math.max(n, 1))
    local cts = ffi.new('nl_tensor *[?]', math.max(n, 1))
    for i = 1, n do
      cnames[i - 1] = names[i]
      cts[i - 1] = nl._T(tensors[i], op)
    end
    local keys = ffi.new('const char *[2]', FORMAT_KEY, TREE_KEY)
    local vals = ffi.new('const char *[2]', FORMAT, tree)
    if lib.nl_save_safetensors(path, n, cnames, cts, 2, keys, vals) ~= 0 then c_error(op, 'save_safetensors') end
  end

  local function decode(op, path, text, tensors)
    local function corrupt(what) raise(('%s: %s is corrupt: %s'):format(op, path, what)) end
    local ok, doc = pcall(json.decode, text)
    if not ok then corrupt('its object structure is not JSON (' .. tostring(doc) .. ')') end
    if type(doc) ~= 'table' or type(doc.tables) ~= 'table' or type(doc.root) ~= 'table' then
      corrupt('its object structure has no root and tables')
    end
    local made, taken = {}, {}
    for i = 1, #doc.tables do made[i] = {} end
    local function value(nd)
      if type(nd) ~= 'table' then corrupt('a node is not a list') end
      local tag, v = nd[1], nd[2]
      if tag == 'n' and type(v) == 'string' then
        local x = SPECIAL[v] or tonumber(v)
        if x == nil then corrupt(("the number '%s'"):format(v)) end
        return x
      elseif tag == 's' and type(v) == 'string' then return v
      elseif tag == 'x' and type(v) == 'string' and #v % 2 == 0 and not v:find('[^%x]') then
        return (v:gsub('..', function(h) return string.char(tonumber(h, 16)) end))
      elseif tag == 'b' and type(v) == 'boolean' then return v
      elseif tag == 't' and type(v) == 'string' then
        local t = tensors[v]
        if not t then corrupt(("the tensor '%s' is not in the file"):format(v)) end
        if nd[3] == true and bit.band(t.ptr.flags, 1) == 0 then
          if t:dtype() == 'int64' then corrupt(("the int64 tensor '%s' is marked as requiring grad"):format(v)) end
          t:requires_grad(true)
        end
        return t
      elseif tag == 'T' and type(v) == 'number' then
        if not made[v] then corrupt(('table %s is not in the file'):format(tostring(v))) end
        return made[v]
      end
      corrupt(('a node of kind %s'):format(tostring(tag)))
    end
    for i, rec in ipairs(doc.tables) do
      if type(rec) ~= 'table' or #rec % 2 ~= 0 then corrupt(('table %d is not a list of keys and values'):format(i)) end
      for j = 1, #rec, 2 do
        local k = value(rec[j])
        if type(k) == 'table' or is_tensor(k) or k ~= k then corrupt(('table %d has a key that is not one'):format(i)) end
        made[i][k] = value(rec[j + 1])
      end
    end
    -- (a file whose tables hold one another came from no nl.save; each
    -- table is walked once, however often it is shared)
    local open = {}
    local function check_tree(t, depth)
      if open[t] then corrupt('its tables hold one another') end
      if taken[t] then return end
      if depth > MAX_DEPTH then corrupt(('its tables nest more than %d deep'):format(MAX_DEPTH)) end
      open[t], taken[t] = true, true
      for _, v in pairs(t) do if type(v) == 'table' then check_tree(v, depth + 1) end end
      open[t] = nil
    end
    local root = value(doc.root)
    if type(root) == 'table' then check_tree(root, 1) end
    return root
  end

  -- Reads what nl.save wrote: the object, its tensors as saved (dtype,
  -- shape, bits, requires_grad). A safetensors file from elsewhere (m:save,
  -- nl.save_safetensors, Hugging Face) gives its table name -> tensor.
  local LOAD_OPTS = { map_location = 1, weights_only = 'flag' }
  function nl.load(path, opts, ...)
    local op = 'nl.load'
    if select('#', ...) > 0 then nl._no_extra_args(op, '(path, [{map_location}])', nil, ...) end
    if type(path) ~= 'string' then argerror(op, 'a path string', path) end
    nl._path_arg(op, path)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, LOAD_OPTS)
    if opts.map_location ~= nil and opts.map_location ~= 'cpu' then
      raise(("%s: map_location must be 'cpu' (nnlua runs on the CPU), got %s"):format(op,
        nl._describe_arg(opts.map_location)))
    end
    local f = lib.nl_st_open(path)
    if f == nil then c_error(op, 'load_safetensors') end
    f = ffi.gc(f, lib.nl_st_close)     -- closed even when a read below raises
    local tensors, meta = {}, {}
    for i = 0, lib.nl_st_meta_count(f) - 1 do
      meta[ffi.string(lib.nl_st_meta_key(f, i))] = ffi.string(lib.nl_st_meta_value(f, i))
    end
    for i = 0, lib.nl_st_count(f) - 1 do
      local p = lib.nl_st_get(f, i)
      if p == nil then c_error(op, 'load_safetensors') end
      tensors[ffi.string(lib.nl_st_name(f, i))] = nl._wrap(p, nil, true)
    end
    ffi.gc(f, nil)
    lib.nl_st_close(f)
    if meta[FORMAT_KEY] == nil then return tensors end
    if meta[FORMAT_KEY] ~= FORMAT or meta[TREE_KEY] == nil then
      raise(('%s: %s was written by a newer nnlua (format %s) or is corrupt'):format(op, path,
        tostring(meta[FORMAT_KEY])))
    end
    return decode(op, path, meta[TREE_KEY], tensors)
  end

  -- ---- the default dtype ----------------------------------------------------
  -- set_default_dtype(dt): float32 or float64 (PyTorch's rule), the dtype
  -- of tensors made without one: nl.tensor of numbers, zeros, ones, empty,
  -- full, rand, randn, eye, arange of fractions, linspace, and the layers'
  -- parameters (made with nl.empty)
  local FLOATS = { float32 = 0, float64 = 1, float = 0, double = 1 }
  function nl.set_default_dtype(dt, ...)
    if select('#', ...) > 0 then nl._no_extra_args('set_default_dtype', '(dtype)', nil, ...) end
    if not FLOATS[dt] then
      raise(("set_default_dtype: only float dtypes can be the default ('float32' or 'float64'), got %s")
            :format(nl._describe_arg(dt)))
    end
    nl._default_dtype_id(FLOATS[dt])
  end
  -- set_default_tensor_type('torch.FloatTensor' or 'torch.DoubleTensor',
  -- or a dtype name): the default dtype
  local TENSOR_TYPES = { ['torch.FloatTensor'] = 'float32', ['torch.DoubleTensor'] = 'float64',
                         FloatTensor = 'float32', DoubleTensor = 'float64' }
  function nl.set_default_tensor_type(tt, ...)
    if select('#', ...) > 0 then nl._no_extra_args('set_default_tensor_type', '(t)', nil, ...) end
    local dt = TENSOR_TYPES[tt] or tt
    if not FLOATS[dt] then
      raise(("set_default_tensor_type: expected 'torch.FloatTensor' or 'torch.DoubleTensor' (or 'float32', "
             .. "'float64'), got %s"):format(nl._describe_arg(tt)))
    end
    nl._default_dtype_id(FLOATS[dt])
  end
  local TYPENAMES = { float32 = 'torch.FloatTensor', float64 = 'torch.DoubleTensor', int64 = 'torch.LongTensor' }
  -- typename(x): a tensor's PyTorch type name, a module's class, else Lua's type
  function nl.typename(x, ...)
    if select('#', ...) > 0 then nl._no_extra_args('typename', '(obj)', nil, ...) end
    if is_tensor(x) then return TYPENAMES[nl._T(x, 'typename') and x:dtype()] end
    if type(x) == 'table' and nl.nn.is_module(x) then return 'nn.' .. tostring(x.__name) end
    return type(x)
  end
  function nl.is_storage() return false end

  -- ---- finfo / iinfo --------------------------------------------------------
  -- IEEE 754 facts: eps = 2^(1 - mantissa bits), tiny = the smallest
  -- normal 2^(1 - bias), max = (2 - eps) 2^bias; resolution = 10^-digits
  -- where digits = floor((mantissa bits - 1) log10 2), as numpy's
  local FINFO = {
    float32 = { bits = 32, eps = 2 ^ -23, max = (2 - 2 ^ -23) * 2 ^ 127, tiny = 2 ^ -126, resolution = 1e-6 },
    float64 = { bits = 64, eps = 2 ^ -52, max = (2 - 2 ^ -52) * 2 ^ 1023, tiny = 2 ^ -1022, resolution = 1e-15 },
  }
  function nl.finfo(dt, ...)
    if select('#', ...) > 0 then nl._no_extra_args('finfo', '([type])', nil, ...) end
    if dt == nil then dt = nl.get_default_dtype() end
    if is_tensor(dt) then dt = dt:dtype() end
    local f = FINFO[({ float = 'float32', double = 'float64' })[dt] or dt]
    if not f then
      raise(("finfo: expected a float dtype ('float32' or 'float64'), got %s%s"):format(nl._describe_arg(dt),
        dt == 'int64' and ' (nl.iinfo for int64)' or ''))
    end
    local name = f.bits == 32 and 'float32' or 'float64'
    return { bits = f.bits, eps = f.eps, max = f.max, min = -f.max, tiny = f.tiny, smallest_normal = f.tiny,
             resolution = f.resolution, dtype = name }
  end
  -- max and min as int64 cdata: a Lua number cannot hold 2^63 - 1
  function nl.iinfo(dt, ...)
    if select('#', ...) > 0 then nl._no_extra_args('iinfo', '(type)', nil, ...) end
    if is_tensor(dt) then dt = dt:dtype() end
    if dt ~= 'int64' and dt ~= 'long' then
      raise(("iinfo: expected an integer dtype ('int64'), got %s%s"):format(nl._describe_arg(dt),
        (dt == 'float32' or dt == 'float64') and ' (nl.finfo for float dtypes)' or ''))
    end
    local max = ffi.new('int64_t', 0x7fffffffffffffffLL)
    return { bits = 64, max = max, min = -max - 1, dtype = 'int64' }
  end

  -- ---- print options ----------------------------------------------------------
  local PROFILES = {
    default = { precision = 4, threshold = 1000, edgeitems = 3, linewidth = 80 },
    short = { precision = 2, threshold = 1000, edgeitems = 2, linewidth = 80 },
    full = { precision = 4, threshold = math.huge, edgeitems = 3, linewidth = 80 },
  }
  local PRINT_OPTS = { precision = 1, threshold = 1, edgeitems = 1, linewidth = 1, sci_mode = 'flag', profile = 1 }
  -- as PyTorch's: a profile sets the four numbers first, the options
  -- given then override them, the others keep their values, and sci_mode
  -- is what is given (nil, absent: chosen by the values)
  function nl.set_printoptions(opts, ...)
    local op = 'set_printoptions'
    if select('#', ...) > 0 then nl._no_extra_args(op, '({precision, threshold, edgeitems, linewidth, sci_mode, profile})', nil, ...) end
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, PRINT_OPTS)
    local new = {}
    for k, v in pairs(nl._printopts) do new[k] = v end
    if opts.profile ~= nil then
      local p = PROFILES[opts.profile]
      if not p then raise(("%s: profile must be 'default', 'short' or 'full', got %s"):format(op,
        nl._describe_arg(opts.profile))) end
      for k, v in pairs(p) do new[k] = v end
    end
    for _, k in ipairs({ 'precision', 'threshold', 'edgeitems', 'linewidth' }) do
      local v = opts[k]
      if v ~= nil then
        local min = k == 'threshold' and 0 or k == 'precision' and 0 or 1
        if type(v) ~= 'number' or v ~= v or v < min or (v ~= math.floor(v) and v ~= math.huge)
           or (v == math.huge and k ~= 'threshold') or (k == 'precision' and v > 30) then
          raise(('%s: %s must be a whole number >= %d%s, got %s'):format(op, k, min,
            k == 'threshold' and ' (or math.huge)' or k == 'precision' and ' and <= 30' or '', nl._describe_arg(v)))
        end
        new[k] = v
      end
    end
    new.sci_mode = opts.sci_mode
    for _, k in ipairs({ 'precision', 'threshold', 'edgeitems', 'linewidth', 'sci_mode' }) do nl._printopts[k] = new[k] end
  end

  -- ---- modes and flags ------------------------------------------------------
  -- inference_mode([mode], fn): fn() with grad mode off and inference mode
  -- on (mode true, the default), or both the other way (false, as PyTorch's
  -- inference_mode(False)); fn's results are returned, the modes restored
  -- after, also when fn raises. nnlua has no inference tensors: the mode is
  -- no_grad's, and is_inference_mode_enabled tells it.
  local inference = false
  function nl.inference_mode(mode, fn, ...)
    if select('#', ...) > 0 then nl._no_extra_args('inference_mode', '([mode], fn)', nil, ...) end
    if fn == nil and type(mode) == 'function' then mode, fn = true, mode end
    if type(mode) ~= 'boolean' then argerror('inference_mode', 'a boolean mode or a function', mode) end
    if type(fn) ~= 'function' then argerror('inference_mode', 'a function', fn) end
    local prev = inference
    inference = mode
    local res = { pcall(mode and nl.no_grad or nl.enable_grad, fn) }
    inference = prev
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, table.maxn(res))
  end
  function nl.is_inference_mode_enabled(...)
    if select('#', ...) > 0 then nl._no_extra_args('is_inference_mode_enabled', '()', nil, ...) end
    return inference
  end

  function nl.is_anomaly_enabled(...)
    if select('#', ...) > 0 then nl._no_extra_args('is_anomaly_enabled', '()', nil, ...) end
    return nl.autograd.is_anomaly_enabled()
  end
  -- set_anomaly_enabled(on, [check_nan]) as PyTorch's: set_detect_anomaly
  function nl.set_anomaly_enabled(on, check_nan, ...)
    if select('#', ...) > 0 then nl._no_extra_args('set_anomaly_enabled', '(mode, [check_nan])', nil, ...) end
    if check_nan ~= nil and type(check_nan) ~= 'boolean' then argerror('set_anomaly_enabled', 'a boolean check_nan', check_nan) end
    if type(on) ~= 'boolean' then argerror('set_anomaly_enabled', 'a boolean', on) end
    nl.autograd.set_detect_anomaly(on, { check_nan = check_nan ~= false })
  end

  -- recorded only: nnlua's CPU kernels give the same bits run after run
  -- for a fixed thread count (static OpenMP partitions, no atomic sums),
  -- so every algorithm is deterministic already
  local deterministic, warn_only = false, false
  function nl.use_deterministic_algorithms(on, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('use_deterministic_algorithms', '(mode, [{options}])', nil, ...) end
    if type(on) ~= 'boolean' then argerror('use_deterministic_algorithms', 'a boolean', on) end
    opts = nl._opts('use_deterministic_algorithms', opts)
    nl._check_opts('use_deterministic_algorithms', opts, { warn_only = 'flag' })
    deterministic, warn_only = on, opts.warn_only == true
  end
  function nl.are_deterministic_algorithms_enabled(...)
    if select('#', ...) > 0 then nl._no_extra_args('are_deterministic_algorithms_enabled', '()', nil, ...) end
    return deterministic
  end
  function nl.is_deterministic_algorithms_warn_only_enabled(...)
    if select('#', ...) > 0 then nl._no_extra_args('is_deterministic_algorithms_warn_only_enabled', '()', nil, ...) end
    return warn_only
  end

  -- nnlua runs one op at a time (no inter-op pool): the count is recorded
  local interop = 1
  function nl.get_num_interop_threads(...)
    if select('#', ...) > 0 then nl._no_extra_args('get_num_interop_threads', '()', nil, ...) end
    return interop
  end
  function nl.set_num_interop_threads(n, ...)
    if select('#', ...) > 0 then nl._no_extra_args('set_num_interop_threads', '(n)', nil, ...) end
    if type(n) ~= 'number' or n ~= math.floor(n) or n < 1 or n == math.huge then
      argerror('set_num_interop_threads', 'a whole number of threads >= 1', n)
    end
    interop = n
  end

  local warn_always = false
  function nl.set_warn_always(on, ...)
    if select('#', ...) > 0 then nl._no_extra_args('set_warn_always', '(b)', nil, ...) end
    if type(on) ~= 'boolean' then argerror('set_warn_always', 'a boolean', on) end
    warn_always = on
  end
  function nl.is_warn_always_enabled(...)
    if select('#', ...) > 0 then nl._no_extra_args('is_warn_always_enabled', '()', nil, ...) end
    return warn_always
  end

  -- ---- extra arguments (for the eager modules: here, loaded at the first error or use) ----
  -- '(a, b)' of f's parameters from to last ('_' and self left out)
  local function params(f, from, last)
    local names = {}
    for i = from, last do
      local name = debug.getlocal(f, i)
      if name ~= '_' and name ~= 'self' and name ~= 'self_' then names[#names + 1] = name end
    end
    return '(' .. table.concat(names, ', ') .. ')'
  end
  -- the error of a function f(a, b, x_) called with an x_ (`if x_ ~= nil
  -- then nl._extra_arg(op, x_) end`: no vararg, no string a function)
  function nl._extra_arg(op, v)
    local f = debug.getinfo(2, 'f').func
    raise(('%s: takes %s, got an extra argument %s'):format(op, params(f, 1, debug.getinfo(f, 'u').nparams - 1),
                                                            nl._describe_arg(v)))
  end
  -- fields (the methods of a dataset, loader or sampler) with each function
  -- refusing arguments past its parameters, named op:method, as PyTorch's
  -- TypeError (ds:get(i, x), loader:iter(nil, 3) dropped them); any self,
  -- the objects' own calls passing nil
  function nl._strict_fields(op, fields)
    for k, f in pairs(fields) do
      local info = type(f) == 'function' and debug.getinfo(f, 'u')
      if info and not info.isvararg then
        local most = math.max(info.nparams - 1, 0)
        fields[k] = function(self, ...)
          if select('#', ...) > most then
            nl._no_extra_args(op .. ':' .. k, params(f, 2, most + 1), nil, select(most + 1, ...))
          end
          return f(self, ...)
        end
      end
    end
    return fields
  end
end
