-- Randomized misuse: thousands of seeded calls of every public function,
-- tensor method, module, loss, optimizer, scheduler and loader, with
-- arguments drawn from a pool of good and bad values (tensors of odd
-- shapes, all dtypes, views, released handles; nil, NaN, +-inf, 2^62,
-- negative sizes, strings, tables, functions, booleans, cdata), and
-- mutated safetensors, checkpoint, IDX and CSV files. Each call must
-- return or raise a Lua error whose message names the op; none may crash
-- the process, hang, or return a malformed tensor.
--
-- The calls run in a child luajit (this same file, run as a script), under
-- a wall-clock limit and with a per-call time budget, so that a crash or a
-- hang fails this spec with the call that caused it instead of taking down
-- busted. The same seed gives the same calls:
--   NNLUA_MISUSE_SEED=7 NNLUA_MISUSE_CASES=50000 luajit tests/spec/misuse_spec.lua
-- reruns a set by hand (it prints each failure; exit status 1 on any);
-- NNLUA_MISUSE_OUTCOMES=file also writes each case's ending there.
local ffi = require 'ffi'

local DEFAULT_SEED, DEFAULT_CASES = 20250611, 20000
local USER_ERROR = 'misuse: a user function raised on purpose'
local CASE_SECONDS = 5          -- per call, Lua side (a count hook checks it)

-- ==========================================================================
-- The driver (child process)
-- ==========================================================================

local function driver(seed, ncases, statefile, outcomefile)
  local nl = require 'nnlua'
  local nn, optim, data, F = nl.nn, nl.optim, nl.data, nl.nn.functional
  local lib = nl._lib
  local NaN, inf = 0 / 0, math.huge
  jit.off()
  jit.flush()

  -- a cap on address space, so a request that slips past a size check
  -- fails its allocation instead of filling memory (ASan has its own cap:
  -- max_allocation_size_mb, set by `make test-asan`)
  local sanitized = (os.getenv('LD_PRELOAD') or ''):find('asan') ~= nil
  if not sanitized then
    pcall(function()
      ffi.cdef [[
        typedef struct { uint64_t cur, max; } misuse_rlimit;
        int getrlimit(int resource, misuse_rlimit *rl);
        int setrlimit(int resource, const misuse_rlimit *rl);
      ]]
      local f = io.open('/proc/self/status')
      local vm = tonumber(f:read('*a'):match('VmSize:%s*(%d+)')) * 1024
      f:close()
      local rl = ffi.new('misuse_rlimit')
      ffi.C.getrlimit(9, rl)                                  -- RLIMIT_AS
      local want = vm + 4 * 2 ^ 30
      if rl.cur > want then
        rl.cur = want
        ffi.C.setrlimit(9, rl)
      end
    end)
  end

  -- ---- the LCG: Numerical Recipes' constants, exact in doubles ----------------
  local state = seed % 4294967296
  local function u()
    state = (state * 1664525 + 1013904223) % 4294967296
    return state / 4294967296
  end
  local function int(lo, hi) return lo + math.floor(u() * (hi - lo + 1)) end
  local function chance(p) return u() < p end
  local NIL = setmetatable({}, { __tostring = function() return 'nil' end })
  local function pick(list)
    local v = list[int(1, #list)]
    if v == NIL then return nil end
    return v
  end

  nl.manual_seed(seed)

  -- ---- value pools -----------------------------------------------------------
  -- sizes and numbers stay either small or far too large (>= 2^40
  -- elements), so that no call asks for a few GB that would succeed
  local NUMS = { 0, 1, -1, 2, 3, -3, 0.5, -0.5, 1.5, 1e-3, NaN, inf, -inf, 2 ^ 40, -2 ^ 40, 2 ^ 53,
                 2 ^ 62, -2 ^ 62, 2 ^ 63, 1e300, -1e300, 5e-324, -0.0 }
  local SIZES = { 0, 1, 1, 2, 2, 3, 3, 4, 5, -1, -1, -3, 1.5, NaN, inf, -inf, 2 ^ 40, 2 ^ 46, 2 ^ 62, -2 ^ 62, 2 ^ 63 }
  local DIMS = { 1, 1, 2, 2, 3, -1, -1, -2, 0, 4, 5, -5, 9, 2 ^ 31, -2 ^ 31, 2 ^ 32 + 1, 2 ^ 40, 1.5, NaN, inf }
  local DTYPES = { 'float32', 'float32', 'float64', 'int64', 'float', 'double', 'long', NIL, NIL,
                   'float16', 'int32', '', 2, true }
  local function user_error() error(USER_ERROR, 0) end
  -- functions a user might pass (they call nnlua only with tensors)
  local FUNCS = {
    function(x) return x end,
    function(x) if nl.is_tensor(x) then return x * x end end,
    function(x) if nl.is_tensor(x) then return x:sum() end end,
    function() return nl.ones(2) end,
    function() end,
    user_error,
  }
  local JUNK = { NIL, NIL, true, false, '', 'x', '3', 'float16', 'mean', 'same', {}, { 1, 2 }, { -1 }, { 0 },
                 { { 1, 2 }, { 3 } }, { 1, 'a' }, { 2 ^ 40, 2 ^ 40 }, { 1, 2, 3, 4, 5, 6, 7, 8, 9 },
                 function() end, user_error, ffi.new('int[2]'), ffi.new('int64_t', 3),
                 io.stdout, coroutine.create(function() end), NaN, inf, 2 ^ 62, -1, 0, 1.5 }

  -- ---- tensors ----------------------------------------------------------------
  local pool, recent, nrecent = {}, {}, 0

  local function shape_of(nd, lo, hi)
    local s = {}
    for i = 1, nd do s[i] = int(lo, hi) end
    return s
  end

  local function float_dtype() return chance(0.75) and 'float32' or 'float64' end

  -- a tensor of this shape and dtype with some NaN/inf in it now and then
  local function filled(shape, dt)
    local t
    if dt == 'int64' then
      t = (nl.rand(shape) * 6 - 1):long()          -- -1..4: good and bad indices, labels
    else
      t = nl.randn(shape, dt)
      local n = t:numel()
      if n > 0 and chance(0.1) then
        local flat = t:view(-1)
        flat[int(1, n)] = pick({ NaN, inf, -inf, 1e30 })
      end
    end
    return t
  end

  local function new_tensor()
    local nd = pick({ 0, 1, 1, 2, 2, 2, 3, 3, 4, 5 })
    local shape = shape_of(nd, chance(0.15) and 0 or 1, 4)
    local dt = pick({ 'float32', 'float32', 'float32', 'float64', 'float64', 'int64' })
    local t = filled(shape, dt)
    local layout = int(1, 8)
    if layout == 1 and nd >= 2 then t = t:transpose(1, nd)
    elseif layout == 2 and nd >= 1 and shape[1] >= 2 then t = t:narrow(1, 2, shape[1] - 1)
    elseif layout == 3 and nd >= 1 then
      local s = t:shape()
      s[1] = 1
      local one = filled(s, dt)
      s[1] = int(0, 3)
      t = one:expand(s)                              -- stride 0
    elseif layout == 4 and nd >= 2 and shape[2] >= 1 then t = t:select(2, 1) end
    if dt ~= 'int64' and chance(0.25) then
      if t:is_leaf() then t:requires_grad() end
      if chance(0.3) then t = t * 1 end              -- a non-leaf
    end
    if chance(0.03) then t.ptr = nil end   -- a released handle
    return t
  end

  local function refill_pool()
    for i = 1, 40 do
      local ok, t = pcall(new_tensor)
      pool[i] = ok and t or nl.zeros(2, 3)
    end
  end

  local function remember(v)
    if nl.is_tensor(v) and v.ptr ~= nil and v:numel() <= 512 then
      nrecent = nrecent % 16 + 1
      recent[nrecent] = v
    end
  end

  local function any()
    local r = u()
    if r < 0.45 then return pick(JUNK) end
    if r < 0.8 then return pool[int(1, #pool)] end
    return pick(NUMS)
  end
  local function T()                 -- a tensor, mostly
    local r = u()
    if r < 0.75 then return pool[int(1, #pool)] end
    if r < 0.88 and nrecent > 0 then return recent[int(1, nrecent)] end
    return any()
  end
  local function Treal() return pool[int(1, #pool)] end
  local function N() return chance(0.85) and pick(NUMS) or any() end
  local function D() return chance(0.85) and pick(DIMS) or any() end
  local function Z() return chance(0.9) and pick(SIZES) or any() end
  local function DT() return pick(DTYPES) end
  local function TN() return chance(0.7) and T() or N() end
  local function B() return pick({ true, false, NIL, 1, 'x' }) end
  local function small() return chance(0.9) and int(1, 4) or Z() end
  local function F_() return chance(0.85) and pick(FUNCS) or any() end

  -- sizes as a call would pass them: varargs, a table, or with a dtype
  local function sizes()
    local n = pick({ 0, 1, 1, 2, 2, 3, 4, 9 })
    local s = {}
    for i = 1, n do s[i] = chance(0.85) and int(0, 4) or Z() end
    local mode = int(1, 4)
    if mode == 1 then return s end
    if mode == 2 then s[#s + 1] = DT() end
    return unpack(s, 1, table.maxn(s))
  end

  -- an options table with some of keys, each value good or bad
  local function opts(spec)
    if chance(0.08) then return any() end
    local o, keys = {}, {}
    for k in pairs(spec) do keys[#keys + 1] = k end
    table.sort(keys)                        -- the same draws on every run
    for _, k in ipairs(keys) do
      if chance(0.4) then o[k] = spec[k]() end
    end
    if chance(0.05) then o.no_such_option = 1 end
    return o
  end

  local function list_of_tensors()
    local n = pick({ 0, 1, 2, 2, 3 })
    local l = {}
    for i = 1, n do l[i] = chance(0.9) and T() or any() end
    return l
  end

  -- ---- one call ---------------------------------------------------------------
  local counts = { cases = 0, returned = 0, errors = 0, user = 0 }
  local failures = {}
  local current, deadline

  local function describe_value(v)
    local tv = type(v)
    if nl.is_tensor(v) then
      if v.ptr == nil then return 'tensor<released>' end
      local p = v.ptr
      local s = {}
      for i = 0, p.ndim - 1 do s[#s + 1] = tostring(tonumber(p.sizes[i])) end
      local tags = lib.nl_is_contiguous(p) == 0 and ' strided' or ''
      if bit.band(p.flags, 1) ~= 0 then tags = tags .. ' requires_grad' end
      if p.node ~= nil then tags = tags .. ' non-leaf' end
      return ('tensor[%s] %s%s'):format(table.concat(s, ','), nl.Tensor.dtype(v), tags)
    elseif tv == 'number' then return ('%.17g'):format(v)
    elseif tv == 'string' then return ('%q'):format(v)
    elseif tv == 'table' then
      if nn.is_module(v) then return 'nn.' .. v.__name end
      local parts = {}
      for i = 1, math.min(#v, 4) do parts[i] = describe_value(v[i]) end
      for k, x in pairs(v) do
        if type(k) == 'string' and #parts < 8 then parts[#parts + 1] = k .. '=' .. describe_value(x) end
      end
      return '{' .. table.concat(parts, ', ') .. '}'
    end
    return tostring(tv == 'cdata' and ffi.typeof(v) or tv)
  end

  local function describe_args(...)
    local parts = {}
    for i = 1, select('#', ...) do parts[i] = describe_value((select(i, ...))) end
    return table.concat(parts, ', ')
  end

  local trace = tonumber(os.getenv('NNLUA_MISUSE_TRACE'))      -- prints that case's call
  local sf = io.open(statefile, 'w')
  -- where given, a line a case: its number, how it ended, the op, its
  -- arguments and an error's message, tab-separated
  local of = outcomefile and io.open(outcomefile, 'w')
  local function outcome(name, args, how, msg)
    if of then
      local line = table.concat({ counts.cases, how, name, args, msg or '' }, '\t')
      of:write((line:gsub('\n', '\\n')), '\n')
    end
  end
  local function note(line)
    if not sf then return end
    sf:seek('set', 0)
    sf:write(line, (' '):rep(math.max(0, 600 - #line)), '\n')
    sf:flush()
  end

  -- failures by class: 'fatal' (a hang, unbounded memory, a non-string
  -- error, a malformed result), 'core' (an error of the tensor core, its
  -- files and autograd that does not name its op), 'layer' (the same from
  -- nn, nn.init, nn.functional, optim and fit); and the distinct kinds of
  -- them (op and message without numbers), printed at the end
  local distinct, ndistinct = {}, 0
  local fails = { fatal = 0, core = 0, layer = 0 }
  local function is_core(name)
    return name:find('^nl%.') or name:find('^Tensor:') or name:find('^data%.') or name:find('^DataLoader')
      or name:find('^graph') or name:find('^a') or name == 'tostring' or name == '-a' or name == '#a'
  end
  local function fail(kind, name, args, msg)
    msg = tostring(msg)
    failures[#failures + 1] = true
    local class = kind ~= 'unnamed error' and 'fatal' or is_core(name) and 'core' or 'layer'
    fails[class] = fails[class] + 1
    local key = kind .. ' ' .. name .. ': ' .. msg:gsub('[%d.e+-]+', 'N'):gsub('%[[N,]*%]', '[..]')
    local d = distinct[key]
    if not d then
      ndistinct = ndistinct + 1
      d = { n = 0, order = ndistinct, class = class,
            first = ('case %d %s: %s(%s): %s'):format(counts.cases, kind, name, args, msg) }
      distinct[key] = d
    end
    d.n = d.n + 1
  end

  -- every field of a tensor a call returned must make sense, and its
  -- elements must be readable through its strides
  local function check_result(name, args, v, argv)
    if not nl.is_tensor(v) then return end
    local p = v.ptr
    if p == nil then
      for i = 1, argv.n do if rawequal(argv[i], v) then return end end     -- Identity gives back its input
      return fail('bad result', name, args, 'a released handle')
    end
    local ok = p.ndim >= 0 and p.ndim <= 8 and p.dtype >= 0 and p.dtype <= 2 and p.refcount >= 1
    local n = 1
    for i = 0, (ok and p.ndim or 0) - 1 do
      if p.sizes[i] < 0 then ok = false end
      n = n * tonumber(p.sizes[i])
    end
    if not ok or n ~= tonumber(p.numel) or (n > 0 and p.data == nil) then
      return fail('bad result', name, args, 'malformed tensor ' .. describe_value(v))
    end
    if n > 0 and n <= 4096 then
      local okc, err = pcall(function() return v:detach():clone() end)
      if not okc then fail('bad result', name, args, 'cannot read the result: ' .. tostring(err)) end
    end
  end

  local function strip_location(msg)
    for _ = 1, 3 do
      local rest = msg:match('^[^\n]-%.lua:%d+: (.*)$') or msg:match('^%[string [^\n]-%]:%d+: (.*)$')
      if not rest then break end
      msg = rest
    end
    return msg
  end

  local function finish(name, args, argv, ok, ...)
    deadline = nil
    if lib.nl_is_grad_enabled() == 0 then lib.nl_set_grad_enabled(1) end
    nl.detect_anomaly(false)
    if ok then
      counts.returned = counts.returned + 1
      outcome(name, args, 'returned')
      for i = 1, math.min(select('#', ...), 4) do
        local v = (select(i, ...))
        check_result(name, args, v, argv)
        remember(v)
      end
      return true, ...
    end
    local err = ...
    if type(err) ~= 'string' then
      fail('non-string error', name, args, describe_value(err))
      return false, err
    end
    local msg = strip_location(err)
    if msg == USER_ERROR then
      counts.user = counts.user + 1
      outcome(name, args, 'user-error')
      return false, err
    end
    counts.errors = counts.errors + 1
    outcome(name, args, 'raised', msg)
    if msg:find('^misuse: over the time budget') then
      fail('hang', name, args, msg)
    elseif msg:find('not enough memory') then
      fail('unbounded memory', name, args, msg)
    else
      local head = msg:match('^([%a_][^:\n]-): ')
      if not head or #head > 48 or head:find("'", 1, true) or head:find('^attempt to') then
        fail('unnamed error', name, args, msg)
      end
    end
    return false, err
  end

  -- runs f(...) as one case; returns pcall's results
  local function call(name, f, ...)
    counts.cases = counts.cases + 1
    local args = describe_args(...)
    current = name
    note(('case %d: %s(%s)'):format(counts.cases, name, args))
    if counts.cases == trace then print(('case %d: %s(%s)'):format(counts.cases, name, args)) end
    deadline = nl.time() + CASE_SECONDS
    return finish(name, args, { n = select('#', ...), ... }, pcall(f, ...))
  end

  debug.sethook(function()
    if deadline and nl.time() > deadline then
      deadline = nil
      error('misuse: over the time budget of ' .. CASE_SECONDS .. ' s in ' .. tostring(current), 0)
    end
  end, '', 1000)

  -- ---- files ------------------------------------------------------------------
  -- valid files to start from; the child's working directory is a fresh
  -- temporary directory, so stray paths land there
  local function write(path, bytes)
    local f = assert(io.open(path, 'wb'))
    f:write(bytes)
    f:close()
    return path
  end
  local function read(path)
    local f = assert(io.open(path, 'rb'))
    local s = f:read('*a')
    f:close()
    return s
  end
  local function be32(n) return string.char(bit.band(bit.rshift(n, 24), 255), bit.band(bit.rshift(n, 16), 255),
                                            bit.band(bit.rshift(n, 8), 255), bit.band(n, 255)) end

  nl.save_safetensors('valid.safetensors', { a = nl.randn(2, 3), b = nl.tensor({ 1, 2 }, 'int64'),
                                             c = nl.zeros(0, 2, 'float64') }, { note = 'hi' })
  local ckpt_model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
  ckpt_model:save('model.safetensors', { optimizer = optim.SGD(ckpt_model:parameters(), { lr = 0.1, momentum = 0.9 }) })
  write('images.idx', '\0\0\8\3' .. be32(2) .. be32(2) .. be32(3) .. ('\1\2\3\4\5\6\7\8\9\10\11\12'))
  write('labels.idx', '\0\0\12\1' .. be32(3) .. be32(1) .. be32(7) .. be32(0x7fffffff))
  write('doubles.idx', '\0\0\14\1' .. be32(1) .. '\63\240\0\0\0\0\0\0')
  write('table.csv', 'a,b,label\n1,2,0\n3.5,-4,1\n5,6e3,2\n')
  os.execute('gzip -c images.idx > images.idx.gz; gzip -c table.csv > table.csv.gz')
  local VALID = { 'valid.safetensors', 'model.safetensors', 'images.idx', 'labels.idx', 'doubles.idx',
                  'table.csv', 'images.idx.gz', 'table.csv.gz' }
  local valid_bytes = {}
  for _, p in ipairs(VALID) do
    local f = io.open(p, 'rb')
    if f then valid_bytes[p] = f:read('*a'); f:close() end
  end

  local DIGITS = { '0', '9', '-1', '99999999999', '1e300', '2', '' }
  -- a mutated copy of one of the valid files
  local nmut = 0
  local function mutated()
    local src = pick(VALID)
    local s = valid_bytes[src] or ''
    local k = int(1, 3)
    for _ = 1, k do
      local n = #s
      local op = int(1, 7)
      local at = int(1, math.max(n, 1))
      if op == 1 then s = s:sub(1, int(0, n))                                   -- truncate
      elseif op == 2 then s = s:sub(1, at - 1) .. string.char(int(0, 255)) .. s:sub(at + 1)
      elseif op == 3 then s = s:sub(1, at - 1) .. pick({ '\0', '\255', '"', '{', ',', '9', '\n', ' ' }) .. s:sub(at + 1)
      elseif op == 4 then s = s:sub(1, at) .. s:sub(at, math.min(n, at + int(1, 16))) .. s:sub(at + 1)  -- duplicate
      elseif op == 5 then s = s:sub(1, at - 1) .. s:sub(at + int(1, 8))          -- delete
      elseif op == 6 then                                                        -- a number in the text
        local a, b = s:find('%d+', at)
        if a then s = s:sub(1, a - 1) .. pick(DIGITS) .. s:sub(b + 1) end
      else s = s .. string.char(int(0, 255)):rep(int(1, 9)) end                  -- trailing bytes
    end
    nmut = nmut + 1
    local gz = src:find('%.gz$') and chance(0.5)
    local path = ('mut%d%s'):format(nmut % 50, gz and '.gz' or '')
    write(path, s)
    return path
  end

  local PATHS = { 'valid.safetensors', 'model.safetensors', 'images.idx', 'images.idx.gz', 'labels.idx',
                  'table.csv', 'table.csv.gz', 'does-not-exist', '.', '/', '', '/dev/null', '/proc/self/status' }
  local function path() return chance(0.6) and mutated() or (chance(0.85) and pick(PATHS) or any()) end

  -- ---- modules: constructors with mostly sound arguments, and inputs that fit ----------
  local function batch_shape(tail)
    local s = {}
    local nb = pick({ 0, 1, 1, 2 })
    for i = 1, nb do s[i] = int(0, 3) end
    for _, v in ipairs(tail) do s[#s + 1] = v end
    return s
  end
  local function ftensor(shape) return filled(shape, float_dtype()) end
  -- int64 ids 1..n, now and then shifted out of range
  local function ids(n, shape)
    local t = (nl.rand(shape) * n):long() + 1
    if chance(0.15) then t = t + pick({ -1, 1, n, -n }) end
    return t
  end
  local function image(c) return ftensor({ int(0, 2), c, int(0, 7), int(0, 7) }) end

  local MODULES = {
    { 'Linear', function() return small(), small(), opts({ bias = B }) end,
      function(m) return ftensor(batch_shape({ m.in_features })) end },
    { 'Conv2d', function()
        return small(), small(), chance(0.8) and int(1, 3) or Z(),
          opts({ stride = function() return chance(0.8) and int(1, 2) or Z() end,
                 padding = function() return chance(0.7) and int(0, 2) or pick({ 'same', 'valid', 'x', { 1, 0 }, -1 }) end,
                 dilation = function() return chance(0.8) and int(1, 2) or Z() end,
                 groups = function() return chance(0.8) and int(1, 2) or Z() end, bias = B,
                 padding_mode = function() return pick({ 'zeros', 'reflect', 'replicate', 'circular', 'x' }) end })
      end,
      function(m) return chance(0.8) and image(m.in_channels) or ftensor({ m.in_channels, int(0, 6), int(0, 6) }) end },
    { 'Conv1d', function()
        return small(), small(), chance(0.8) and int(1, 3) or Z(),
          opts({ stride = small, padding = function() return pick({ 0, 1, 'same', 'valid', -1 }) end,
                 dilation = small, groups = small, bias = B,
                 padding_mode = function() return pick({ 'zeros', 'reflect', 'replicate', 'circular' }) end })
      end,
      function(m) return ftensor({ int(0, 2), m.in_channels, int(0, 8) }) end },
    { 'ConvTranspose2d', function()
        return small(), small(), chance(0.8) and int(1, 3) or Z(),
          opts({ stride = function() return chance(0.8) and int(1, 3) or Z() end,
                 padding = function() return chance(0.8) and int(0, 2) or pick({ 'same', { 1, 0 }, -1 }) end,
                 output_padding = function() return chance(0.8) and int(0, 2) or Z() end,
                 dilation = function() return chance(0.8) and int(1, 3) or Z() end,
                 groups = function() return chance(0.8) and int(1, 2) or Z() end, bias = B,
                 padding_mode = function() return pick({ 'zeros', 'reflect' }) end })
      end,
      function(m) return chance(0.8) and image(m.in_channels) or ftensor({ m.in_channels, int(0, 6), int(0, 6) }) end },
    { 'ConvTranspose1d', function()
        return small(), small(), chance(0.8) and int(1, 3) or Z(),
          opts({ stride = small, padding = function() return pick({ 0, 1, 2, -1 }) end, output_padding = small,
                 dilation = small, groups = small, bias = B })
      end,
      function(m) return ftensor({ int(0, 2), m.in_channels, int(0, 8) }) end },
    { 'MaxPool2d', function()
        return chance(0.85) and int(1, 3) or Z(),
          opts({ stride = small, padding = function() return int(0, 2) end, dilation = small,
                 ceil_mode = B, return_indices = B })
      end,
      function() return image(int(1, 3)) end },
    { 'AvgPool2d', function()
        return chance(0.85) and int(1, 3) or Z(),
          opts({ stride = small, padding = function() return int(0, 2) end, ceil_mode = B,
                 count_include_pad = B, divisor_override = function() return pick({ 0, 1, 3, -1, NaN }) end })
      end,
      function() return image(int(1, 3)) end },
    { 'AdaptiveAvgPool2d', function() return chance(0.8) and int(1, 4) or pick({ { 2, 3 }, 0, -1, 2 ^ 40, 'x' }) end,
      function() return image(int(1, 3)) end },
    { 'MaxPool1d', function()
        return chance(0.85) and int(1, 3) or Z(),
          opts({ stride = small, padding = function() return int(0, 2) end, dilation = small,
                 ceil_mode = B, return_indices = B })
      end,
      function() return ftensor(chance(0.8) and { int(0, 2), int(1, 3), int(0, 7) } or { int(1, 3), int(0, 7) }) end },
    { 'AvgPool1d', function()
        return chance(0.85) and int(1, 3) or Z(),
          opts({ stride = small, padding = function() return int(0, 2) end, ceil_mode = B, count_include_pad = B })
      end,
      function() return ftensor(chance(0.8) and { int(0, 2), int(1, 3), int(0, 7) } or { int(1, 3), int(0, 7) }) end },
    { 'AdaptiveAvgPool1d', function() return chance(0.8) and int(1, 4) or pick({ { 2 }, 0, -1, 2 ^ 40, 'x' }) end,
      function() return ftensor({ int(0, 2), int(1, 3), int(0, 7) }) end },
    { 'AdaptiveMaxPool1d', function() return chance(0.8) and int(1, 4) or pick({ { 2 }, 0, -1, 2 ^ 40, 'x' }), B() end,
      function() return ftensor({ int(0, 2), int(1, 3), int(0, 7) }) end },
    { 'AdaptiveMaxPool2d', function()
        return chance(0.8) and int(1, 4) or pick({ { 2, 3 }, 0, -1, 2 ^ 40, 'x' }),
          chance(0.5) and B() or opts({ return_indices = B })
      end,
      function() return image(int(1, 3)) end },
    { 'Conv3d', function()
        return small(), small(), chance(0.8) and int(1, 3) or Z(),
          opts({ stride = function() return chance(0.8) and int(1, 2) or Z() end,
                 padding = function() return chance(0.7) and int(0, 2) or pick({ 'same', 'valid', { 1, 0, 1 }, -1 }) end,
                 dilation = small, groups = small, bias = B,
                 padding_mode = function() return pick({ 'zeros', 'reflect', 'replicate', 'circular', 'x' }) end })
      end,
      function(m) return ftensor(chance(0.8) and { int(0, 2), m.in_channels, int(0, 5), int(0, 5), int(0, 5) }
                                 or { m.in_channels, int(0, 5), int(0, 5), int(0, 5) }) end },
    { 'MaxPool3d', function()
        return chance(0.85) and int(1, 3) or Z(),
          opts({ stride = small, padding = function() return int(0, 2) end, dilation = small,
                 ceil_mode = B, return_indices = B })
      end,
      function() return ftensor({ int(0, 2), int(1, 3), int(0, 5), int(0, 5), int(0, 5) }) end },
    { 'AvgPool3d', function()
        return chance(0.85) and int(1, 3) or Z(),
          opts({ stride = small, padding = function() return int(0, 2) end, ceil_mode = B,
                 count_include_pad = B, divisor_override = function() return pick({ 0, 1, 3, -1, NaN }) end })
      end,
      function() return ftensor({ int(1, 3), int(0, 5), int(0, 5), int(0, 5) }) end },
    { 'AdaptiveAvgPool3d', function() return chance(0.8) and int(1, 4) or pick({ { 2, 3, 1 }, 0, -1, 2 ^ 40, 'x' }) end,
      function() return ftensor({ int(0, 2), int(1, 3), int(0, 5), int(0, 5), int(0, 5) }) end },
    { 'AdaptiveMaxPool3d', function()
        return chance(0.8) and int(1, 4) or pick({ { 2, 3, 1 }, 0, -1, 2 ^ 40, 'x' }),
          chance(0.5) and B() or opts({ return_indices = B })
      end,
      function() return ftensor({ int(0, 2), int(1, 3), int(0, 5), int(0, 5), int(0, 5) }) end },
    { 'BatchNorm1d', function() return small(), opts({ eps = N, momentum = N, affine = B }) end,
      function(m) return ftensor(chance(0.7) and { int(0, 4), m.num_features } or { int(0, 3), m.num_features, int(0, 3) }) end },
    { 'BatchNorm2d', function() return small(), opts({ eps = N, momentum = N, affine = B }) end,
      function(m) return image(m.num_features) end },
    { 'BatchNorm3d', function() return small(), opts({ eps = N, momentum = N, affine = B, track_running_stats = B }) end,
      function(m) return ftensor({ int(0, 2), chance(0.9) and m.num_features or int(1, 4), int(0, 2), int(0, 2), int(0, 2) }) end },
    { 'LayerNorm', function()
        return chance(0.8) and small() or { small(), small() }, opts({ eps = N, elementwise_affine = B })
      end,
      function(m) return ftensor(batch_shape(m.normalized_shape)) end },
    { 'GroupNorm', function()
        local g = small()
        return g, chance(0.8) and type(g) == 'number' and g * int(1, 2) or small(), opts({ eps = N, affine = B })
      end,
      function(m) return ftensor({ int(0, 3), chance(0.85) and m.num_channels or int(1, 4), int(0, 3) }) end },
    { 'InstanceNorm1d', function()
        return small(), opts({ eps = N, momentum = N, affine = B, track_running_stats = B })
      end,
      function(m) return ftensor(chance(0.7) and { int(0, 3), m.num_features, int(0, 4) } or { m.num_features, int(0, 4) }) end },
    { 'InstanceNorm2d', function()
        return small(), opts({ eps = N, momentum = N, affine = B, track_running_stats = B })
      end,
      function(m) return chance(0.8) and image(m.num_features) or ftensor({ m.num_features, int(0, 3), int(0, 3) }) end },
    { 'Dropout', function() return chance(0.8) and pick({ 0, 0.5, 1 }) or N() end, function() return T() end },
    { 'Dropout2d', function() return chance(0.8) and pick({ 0, 0.5, 1 }) or N() end, function() return image(int(1, 2)) end },
    { 'Dropout1d', function() return chance(0.8) and pick({ 0, 0.5, 1 }) or N(), B() end,
      function() return ftensor(shape_of(int(1, 4), 0, 4)) end },
    { 'Dropout3d', function() return chance(0.8) and pick({ 0, 0.5, 1 }) or N() end,
      function() return ftensor(shape_of(int(3, 5), 0, 3)) end },
    { 'AlphaDropout', function() return chance(0.8) and pick({ 0, 0.5, 1 }) or opts({ p = N, inplace = B }) end,
      function() return T() end },
    { 'FeatureAlphaDropout', function() return chance(0.8) and pick({ 0, 0.5, 1 }) or N() end, function() return T() end },
    { 'PReLU', function() return chance(0.7) and small() or opts({ num_parameters = small, init = N }), N() end,
      function() return ftensor({ int(0, 2), small(), int(0, 3) }) end },
    { 'RReLU', function() return chance(0.7) and N() or opts({ lower = N, upper = N, inplace = B }), N(), B() end,
      function() return T() end },
    { 'Bilinear', function() return small(), small(), small(), opts({ bias = B }) end,
      function(m) return ftensor(batch_shape({ m.in1_features })) end },
    { 'LocalResponseNorm', function() return chance(0.7) and small() or opts({ size = small, alpha = N, beta = N, k = N }),
                                             N(), N() end,
      function() return ftensor(shape_of(int(2, 5), 0, 4)) end },
    { 'Embedding', function() return small(), small(), chance(0.3) and opts({ max_norm = N, norm_type = N, padding_idx = N }) or nil end,
      function(m) return chance(0.85) and ids(m.num_embeddings, batch_shape({ int(0, 3) })) or T() end },
    { 'EmbeddingBag', function()
        return small(), small(), opts({ mode = function() return pick({ 'sum', 'mean', 'max', 'prod' }) end,
                                        padding_idx = function() return pick({ 1, -1, 2, 0, 9 }) end,
                                        include_last_offset = B })
      end,
      function(m) return chance(0.85) and ids(m.num_embeddings, chance(0.5) and { int(0, 6) } or { int(0, 3), int(0, 3) }) or T() end },
    { 'Flatten', function() return chance(0.7) and NIL or D(), chance(0.7) and NIL or D() end, function() return T() end },
    { 'Unflatten', function()
        return chance(0.8) and pick({ 1, 2, -1 }) or D(),
          chance(0.85) and pick({ { 2, -1 }, { -1, 1 }, { 2, 2 }, { 1, 1, -1 } }) or pick({ {}, { -1, -1 }, { 0 }, 3 })
      end,
      function() return T() end },
    { 'CosineSimilarity', function() return opts({ dim = D, eps = N }) end, function() return T() end },
    { 'PairwiseDistance', function() return opts({ p = N, eps = N, keepdim = B }) end, function() return T() end },
    { 'Identity', function() end, function() return any() end },
    { 'ReLU', function() end, function() return T() end },
    { 'GELU', function() end, function() return T() end },
    { 'SiLU', function() end, function() return T() end },
    { 'Sigmoid', function() end, function() return T() end },
    { 'Tanh', function() end, function() return T() end },
    { 'LeakyReLU', function() return N() end, function() return T() end },
    { 'Softmax', function() return D() end, function() return T() end },
    { 'LogSoftmax', function() return D() end, function() return T() end },
    { 'Softmin', function() return D() end, function() return T() end },
    { 'ELU', function() return chance(0.7) and N() or opts({ alpha = N, inplace = B }), B() end, function() return T() end },
    { 'CELU', function() return chance(0.7) and N() or opts({ alpha = N, inplace = B }), B() end, function() return T() end },
    { 'Softplus', function() return chance(0.7) and N() or opts({ beta = N, threshold = N }), N() end, function() return T() end },
    { 'Hardtanh', function() return chance(0.7) and N() or opts({ min_val = N, max_val = N, inplace = B }), N(), B() end,
      function() return T() end },
    { 'Softshrink', function() return chance(0.7) and N() or opts({ lambd = N }) end, function() return T() end },
    { 'Hardshrink', function() return chance(0.7) and N() or opts({ lambd = N }) end, function() return T() end },
    { 'SELU', function() return B() end, function() return T() end },
    { 'Mish', function() return B() end, function() return T() end },
    { 'ReLU6', function() return B() end, function() return T() end },
    { 'Hardsigmoid', function() return B() end, function() return T() end },
    { 'Hardswish', function() return B() end, function() return T() end },
    { 'LogSigmoid', function() end, function() return T() end },
    { 'Softsign', function() end, function() return T() end },
    { 'Tanhshrink', function() end, function() return T() end },
    { 'Threshold', function() return chance(0.7) and N() or opts({ threshold = N, value = N, inplace = B }), N(), B() end,
      function() return T() end },
    { 'Upsample', function()
        if chance(0.1) then return any() end
        local o = chance(0.5) and { size = chance(0.9) and int(1, 6) or { int(1, 4), int(1, 4) } }
                              or { scale_factor = chance(0.9) and pick({ 1, 2, 0.5, 1.7, { 2, 0.7 } }) or N() }
        o.mode = chance(0.9) and pick({ 'nearest', 'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear', 'area' }) or any()
        if chance(0.3) then o.align_corners = chance(0.9) and B() or any() end
        if chance(0.2) then o.recompute_scale_factor = B() end
        return o
      end,
      function() return ftensor(shape_of(int(3, 5), 0, 5)) end },
    { 'UpsamplingBilinear2d', function() return chance(0.5) and int(1, 3) or { size = chance(0.9) and int(1, 6) or any() } end,
      function() return image(int(1, 2)) end },
    { 'PixelShuffle', function() return chance(0.9) and int(1, 3) or any() end,
      function() return ftensor(shape_of(int(2, 5), 0, 9)) end },
    { 'PixelUnshuffle', function() return chance(0.9) and int(1, 3) or any() end,
      function() return ftensor(shape_of(int(2, 5), 0, 6)) end },
    { 'ChannelShuffle', function() return chance(0.9) and int(1, 3) or any() end,
      function() return ftensor(shape_of(int(2, 4), 0, 6)) end },
    { 'Unfold', function()
        return chance(0.9) and int(1, 3) or any(), opts({ dilation = small, padding = function() return int(0, 2) end, stride = small })
      end,
      function() return ftensor(shape_of(int(2, 4), 0, 6)) end },
    { 'Fold', function()
        return { int(1, 5), int(1, 5) }, chance(0.9) and int(1, 3) or any(), opts({ dilation = small, padding = function() return int(0, 2) end, stride = small })
      end,
      function() return ftensor(shape_of(int(1, 3), 0, 12)) end },
    { 'LPPool1d', function() return chance(0.9) and pick({ 1, 2, 1.5 }) or N(), small(), chance(0.5) and small() or opts({ stride = small, ceil_mode = B }) end,
      function() return ftensor(shape_of(int(1, 3), 0, 7)) end },
    { 'LPPool2d', function() return chance(0.9) and pick({ 1, 2, 3 }) or N(), small(), chance(0.5) and small() or opts({ stride = small, ceil_mode = B }) end,
      function() return ftensor(shape_of(int(2, 4), 0, 7)) end },
    { 'RNN', function()
        return small(), small(), opts({ num_layers = function() return chance(0.9) and int(1, 2) or Z() end,
                                        batch_first = B, dropout = N, bias = B, reference = B,
                                        nonlinearity = function() return pick({ 'tanh', 'relu', 'x' }) end,
                                        bidirectional = B })
      end,
      function(m) return ftensor(chance(0.8) and { int(0, 3), int(0, 3), m.input_size } or { int(0, 3), m.input_size }) end },
    { 'LSTM', function()
        return small(), small(), opts({ num_layers = function() return chance(0.9) and int(1, 2) or Z() end,
                                        batch_first = B, bias = B, reference = B })
      end,
      function(m) return ftensor({ int(0, 3), int(0, 3), m.input_size }) end },
    { 'GRU', function() return small(), small(), opts({ batch_first = B, bias = B }) end,
      function(m) return ftensor({ int(0, 3), int(0, 3), m.input_size }) end },
    { 'RNNCell', function() return small(), small(), opts({ bias = B, nonlinearity = function() return pick({ 'tanh', 'relu', 'x' }) end }) end,
      function(m) return ftensor(chance(0.8) and { int(0, 3), m.input_size } or { m.input_size }) end },
    { 'LSTMCell', function() return small(), small(), opts({ bias = B }) end,
      function(m) return ftensor({ int(0, 3), m.input_size }) end },
    { 'GRUCell', function() return small(), small(), opts({ bias = B }) end,
      function(m) return ftensor({ int(0, 3), m.input_size }) end },
    { 'MultiheadAttention', function()
        local h = chance(0.9) and int(1, 2) or Z()
        return chance(0.9) and 2 * int(1, 2) or Z(), h, opts({ batch_first = B, dropout = N, bias = B,
                                                                kdim = function() return chance(0.8) and 4 or Z() end,
                                                                vdim = function() return chance(0.8) and 2 or Z() end })
      end,
      function(m) return ftensor(chance(0.8) and { int(0, 3), int(0, 3), m.embed_dim } or { int(0, 3), m.embed_dim }) end },
    { 'TransformerEncoderLayer', function()
        return chance(0.9) and 4 or Z(), chance(0.9) and 2 or Z(),
          opts({ dim_feedforward = small, dropout = N, batch_first = B, norm_first = B })
      end,
      function() return ftensor({ int(0, 3), int(0, 3), 4 }) end },
    { 'TransformerDecoderLayer', function()
        return chance(0.9) and 4 or Z(), chance(0.9) and 2 or Z(),
          opts({ dim_feedforward = small, dropout = N, batch_first = B, norm_first = B, layer_norm_eps = N,
                 activation = function() return chance(0.8) and pick({ 'relu', 'gelu', nn.Tanh() }) or F_() end })
      end,
      function() return ftensor(chance(0.8) and { int(0, 3), int(0, 3), 4 } or { int(0, 3), 4 }) end },
    { 'Transformer', function()
        -- small sizes always: PyTorch's defaults build 44M parameters
        local o = opts({ nhead = function() return chance(0.9) and 2 or Z() end, dim_feedforward = small,
                         num_encoder_layers = function() return chance(0.9) and int(1, 2) or Z() end,
                         num_decoder_layers = function() return chance(0.9) and int(1, 2) or Z() end,
                         dropout = N, batch_first = B, norm_first = B, layer_norm_eps = N,
                         activation = function() return chance(0.8) and pick({ 'relu', 'gelu' }) or F_() end })
        if type(o) ~= 'table' or getmetatable(o) ~= nil then return pick({ 'x', 3, true }) end
        local c = { d_model = chance(0.95) and 4 or Z(), nhead = 2, num_encoder_layers = 1, num_decoder_layers = 1,
                    dim_feedforward = 4 }
        for k, v in pairs(o) do c[k] = v end
        return c
      end,
      function() return ftensor(chance(0.8) and { int(0, 3), int(0, 3), 4 } or { int(0, 3), 4 }) end },
    { 'PositionalEncoding', function() return chance(0.9) and 2 * int(1, 3) or Z(), chance(0.9) and int(1, 8) or Z(),
                                              opts({ batch_first = B }) end,
      function(m) return ftensor({ int(0, 2), int(0, 9), m.d_model }) end },
  }

  -- the padding modules: padding n or a list (negative, too long, huge)
  -- for 1 or 2 dims, on inputs of 1 to 4 dims
  for _, pm in ipairs({ { 'ZeroPad2d', 2 }, { 'ConstantPad1d', 1, true }, { 'ConstantPad2d', 2, true },
                        { 'ReflectionPad1d', 1 }, { 'ReflectionPad2d', 2 }, { 'ReplicationPad1d', 1 },
                        { 'ReplicationPad2d', 2 }, { 'ConstantPad3d', 3, true }, { 'ReflectionPad3d', 3 },
                        { 'ReplicationPad3d', 3 } }) do
    local name, dims, valued = pm[1], pm[2], pm[3]
    MODULES[#MODULES + 1] = { name, function()
        local p
        if chance(0.4) then p = int(-1, 3)
        elseif chance(0.9) then
          p = {}
          for i = 1, 2 * dims + (chance(0.1) and 1 or 0) do p[i] = chance(0.9) and int(-2, 3) or Z() end
        else p = any() end
        if valued then return p, chance(0.9) and pick({ 0, 1.5, -2, NaN }) or any() end
        return p
      end,
      function() return ftensor(shape_of(int(1, dims == 3 and 5 or 4), 0, 5)) end }
  end

  local LOSSES = { 'MSELoss', 'L1Loss', 'HuberLoss', 'BCELoss', 'BCEWithLogitsLoss', 'CrossEntropyLoss', 'NLLLoss',
                   'SmoothL1Loss', 'KLDivLoss', 'HingeEmbeddingLoss', 'SoftMarginLoss', 'PoissonNLLLoss',
                   'MultiMarginLoss', 'MarginRankingLoss', 'CosineEmbeddingLoss', 'GaussianNLLLoss', 'TripletMarginLoss',
                   'MultiLabelSoftMarginLoss', 'MultiLabelMarginLoss', 'TripletMarginWithDistanceLoss' }
  -- the losses of three tensors, and those of class indices
  local LOSS3 = { MarginRankingLoss = true, CosineEmbeddingLoss = true, GaussianNLLLoss = true, TripletMarginLoss = true,
                  TripletMarginWithDistanceLoss = true }
  local CLASS_LOSS = { CrossEntropyLoss = true, NLLLoss = true, MultiMarginLoss = true }
  local OPTIMS = { 'SGD', 'Adam', 'AdamW', 'RMSprop', 'Adagrad', 'Adamax', 'NAdam', 'RAdam', 'Adadelta', 'Rprop', 'ASGD' }
  local function pair() return chance(0.7) and { N(), N() } or pick({ { 0.5, 1.2 }, { 1e-6, 50 }, { 0.9 }, { 'a', 1 }, 0.5 }) end
  local OPTIM_OPTS = { lr = N, momentum = N, dampening = N, nesterov = B, weight_decay = N,
                       betas = function() return chance(0.8) and { 0.9, 0.99 } or pick({ { 0.9 }, { 2, 0.5 }, { 'a', 1 } }) end,
                       eps = N, amsgrad = B, alpha = N, centered = B, lr_decay = N,
                       initial_accumulator_value = N, maximize = B, momentum_decay = N, rho = N, etas = pair,
                       step_sizes = pair, lambd = N, t0 = N }

  local SCHEDS = { 'StepLR', 'CosineAnnealingLR', 'MultiStepLR', 'ExponentialLR', 'LinearLR', 'ConstantLR', 'LambdaLR',
                   'MultiplicativeLR', 'CosineAnnealingWarmRestarts', 'OneCycleLR', 'ReduceLROnPlateau', 'PolynomialLR',
                   'CyclicLR' }
  local function milestones() return pick({ { 1, 3 }, { 2, 2 }, {}, { -1 }, { 'a' }, { 0.5 } }) end
  local function lambdas() return chance(0.7) and F_() or { F_(), F_() } end
  local function word(...) local ws = { ... } return function() return chance(0.8) and pick(ws) or any() end end
  local SCHED_OPTS = {
    StepLR = { step_size = N, gamma = N, last_epoch = N },
    CosineAnnealingLR = { T_max = N, eta_min = N, last_epoch = N },
    MultiStepLR = { milestones = milestones, gamma = N },
    ExponentialLR = { gamma = N },
    LinearLR = { start_factor = N, end_factor = N, total_iters = N },
    ConstantLR = { factor = N, total_iters = N },
    LambdaLR = { lr_lambda = lambdas },
    MultiplicativeLR = { lr_lambda = lambdas },
    CosineAnnealingWarmRestarts = { T_0 = N, T_mult = N, eta_min = N },
    OneCycleLR = { max_lr = N, total_steps = N, epochs = N, steps_per_epoch = N, pct_start = N,
                   anneal_strategy = word('cos', 'linear'), cycle_momentum = B, three_phase = B,
                   base_momentum = N, max_momentum = N, div_factor = N, final_div_factor = N },
    ReduceLROnPlateau = { mode = word('min', 'max'), factor = N, patience = N, threshold = N,
                          threshold_mode = word('rel', 'abs'), cooldown = N, min_lr = N, eps = N },
    PolynomialLR = { total_iters = N, power = N },
    CyclicLR = { base_lr = N, max_lr = N, step_size_up = N, step_size_down = N,
                 mode = word('triangular', 'triangular2', 'exp_range'), gamma = N, scale_fn = F_,
                 scale_mode = word('cycle', 'iterations'), cycle_momentum = B, base_momentum = N, max_momentum = N },
  }

  -- good values of each scheduler's required options, given often: drawn
  -- alone they are mostly missing, and the schedule never runs
  local SCHED_NEEDS = {
    StepLR = { step_size = 2 }, CosineAnnealingLR = { T_max = 3 }, MultiStepLR = { milestones = { 1, 3 } },
    ExponentialLR = { gamma = 0.9 }, LambdaLR = { lr_lambda = function(e) return 0.9 ^ e end },
    MultiplicativeLR = { lr_lambda = function() return 0.9 end }, CosineAnnealingWarmRestarts = { T_0 = 2 },
    OneCycleLR = { max_lr = 0.5, total_steps = 4 }, LinearLR = {}, ConstantLR = {}, ReduceLROnPlateau = {},
    PolynomialLR = {}, CyclicLR = { base_lr = 0.01, max_lr = 0.1, step_size_up = 2 },
  }

  -- a scheduler over a real optimizer: steps (plain, with an epoch or a
  -- metric of any kind), then a load of its own state dict, mutated or not
  local function scheduler_case()
    local groups = {}
    for i = 1, int(1, 2) do groups[i] = { params = { nl.zeros(2):requires_grad() }, lr = pick({ 0.1, 0.01 }) } end
    local oname = pick({ 'SGD', 'Adam', 'Adagrad' })
    local opt = optim[oname](groups, { lr = 0.1 })
    local sched = pick(SCHEDS)
    local o = opts(SCHED_OPTS[sched])
    if type(o) == 'table' and chance(0.7) then
      for k, v in pairs(SCHED_NEEDS[sched]) do if o[k] == nil then o[k] = v end end
    end
    local okl, s = call('optim.' .. sched, optim[sched], opt, o)
    if not okl then return 'optim.' .. sched, optim[sched], opt, opts(SCHED_OPTS[sched]) end
    for _ = 1, int(0, 6) do
      local arg
      if sched == 'ReduceLROnPlateau' then arg = chance(0.8) and pick({ 1, 0.5, 2 }) or TN()
      else arg = chance(0.7) and NIL or N() end
      call(sched .. ':step', s.step, s, arg ~= NIL and arg or nil)
    end
    local oks, sd = call(sched .. ':state_dict', s.state_dict, s)
    if oks and chance(0.6) then
      local keys = {}
      for k in pairs(sd) do keys[#keys + 1] = k end
      table.sort(keys)
      if #keys > 0 then sd[pick(keys)] = any() end
    end
    return sched .. ':load_state_dict', s.load_state_dict, s, oks and chance(0.9) and sd or any()
  end

  -- SequentialLR or ChainedScheduler over schedulers of one optimizer (or
  -- anything): steps, then a load of its own state dict, mutated or not
  local function composite_case()
    local opt = optim.SGD({ nl.zeros(2):requires_grad() }, { lr = 0.1, momentum = 0.9 })
    local list = {}
    for i = 1, int(0, 3) do
      local name = pick({ 'StepLR', 'ExponentialLR', 'CyclicLR', 'PolynomialLR', 'LambdaLR', 'ReduceLROnPlateau' })
      local ok, s = call('optim.' .. name, optim[name], opt, SCHED_NEEDS[name])
      list[i] = ok and chance(0.95) and s or any()
    end
    local name = pick({ 'SequentialLR', 'ChainedScheduler' })
    local ok, s
    if name == 'SequentialLR' then
      ok, s = call('optim.SequentialLR', optim.SequentialLR, chance(0.9) and opt or any(),
                   opts({ schedulers = function() return list end,
                          milestones = function() return chance(0.6) and { int(1, 4), 6 } or milestones() end }))
    else
      ok, s = call('optim.ChainedScheduler', optim.ChainedScheduler, chance(0.9) and list or any())
    end
    if not ok then return 'optim.' .. name, optim[name], any(), any() end
    for _ = 1, int(0, 6) do call(name .. ':step', s.step, s, chance(0.9) and nil or N()) end
    local oks, sd = call(name .. ':state_dict', s.state_dict, s)
    if oks and chance(0.6) then
      local t = chance(0.5) and sd.schedulers[int(1, #sd.schedulers)] or sd
      local keys = {}
      for k in pairs(t) do keys[#keys + 1] = k end
      table.sort(keys)
      if #keys > 0 then t[pick(keys)] = any() end
    end
    return name .. ':load_state_dict', s.load_state_dict, s, oks and chance(0.9) and sd or any()
  end

  -- LBFGS over a real parameter (or anything), options from small pools
  -- (a max_iter of 2^62 is a loop of 2^62 iterations, as in PyTorch), its
  -- closure one that computes a loss, or anything
  local function lbfgs_case()
    local x = chance(0.85) and nl.randn(3, chance(0.3) and 'float64' or 'float32'):requires_grad() or T()
    local function one(...) local vs = { ... } return function() return chance(0.9) and pick(vs) or any() end end
    local ok, opt = call('optim.LBFGS', optim.LBFGS, chance(0.9) and { x } or T(),
      opts({ lr = one(1, 0.1, 0, -1, NaN, inf), max_iter = one(1, 3, 20, 0, 2.5), max_eval = one(2, 7, 0),
             tolerance_grad = one(1e-7, 1, -1, NaN), tolerance_change = one(1e-9, -1, inf),
             history_size = one(1, 3, 0), line_search_fn = one('strong_wolfe', NIL, 'x') }))
    if not ok then return 'optim.LBFGS', optim.LBFGS, T(), any() end
    local p = opt.param_groups[1].params[1]
    local closure = chance(0.8) and function()
      opt:zero_grad()
      local l = ((p - 1) ^ 2):sum()
      l:backward()
      return l
    end or F_()
    for _ = 1, int(0, 2) do call('LBFGS:step', opt.step, opt, closure) end
    local oks, sd = call('LBFGS:state_dict', opt.state_dict, opt)
    if oks and sd.state[1] and chance(0.6) then
      local keys = {}
      for k in pairs(sd.state[1]) do keys[#keys + 1] = k end
      table.sort(keys)
      if #keys > 0 then sd.state[1][pick(keys)] = chance(0.5) and T() or any() end
    end
    return 'LBFGS:load_state_dict', opt.load_state_dict, opt, oks and chance(0.9) and sd or any()
  end

  local function module_forward_and_backward(m, x, ...)
    local ok, y = call(m.__name .. ':forward', m, x, ...)
    if not ok then return end
    if type(y) == 'table' and not nl.is_tensor(y) then y = y[1] end
    if nl.is_tensor(y) and y.ptr ~= nil and chance(0.6) then
      local r = int(1, 3)
      if r == 1 then call('backward(sum)', function() y:sum():backward() end)
      elseif r == 2 then call('backward', nl.Tensor.backward, y, chance(0.7) and T() or any())
      else call('backward(mean, twice)', function()
        local l = y:mean()
        l:backward({ retain_graph = chance(0.5) })
        l:backward()
      end) end
    end
    if chance(0.3) then
      local name = pick(OPTIMS)
      local okp, params = call('parameters', m.parameters, m)
      if okp then
        local oko, opt = call('optim.' .. name, optim[name], chance(0.9) and params or any(), opts(OPTIM_OPTS))
        if oko then
          call(name .. ':step', opt.step, opt, chance(0.1) and F_() or nil)
          call(name .. ':zero_grad', opt.zero_grad, opt, B())
          local oks, sd = call(name .. ':state_dict', opt.state_dict, opt)
          if oks and chance(0.5) then
            if chance(0.5) then sd.param_groups[1].lr = any() end
            call(name .. ':load_state_dict', opt.load_state_dict, opt, chance(0.8) and sd or any())
          end
          if chance(0.3) then
            local sched = pick(SCHEDS)
            local okl, s = call('optim.' .. sched, optim[sched], chance(0.9) and opt or any(), opts(SCHED_OPTS[sched]))
            if okl then
              call(sched .. ':step', s.step, s, chance(0.5) and N() or nil)
              call(sched .. ':load_state_dict', s.load_state_dict, s, chance(0.5) and s:state_dict() or any())
            end
          end
        end
      end
    end
  end

  local function module_case()
    local spec = pick(MODULES)
    local name, ctor_args, input = spec[1], spec[2], spec[3]
    local ok, m = call('nn.' .. name, nn[name], ctor_args())
    if not ok or not nn.is_module(m) then return end
    if chance(0.2) then m:eval() end
    if chance(0.15) then call(name .. ':double', m.double, m) end
    local okx, x = pcall(input, m)
    if not okx then x = T() end
    if chance(0.15) then x = T() end
    local extra
    if name == 'MultiheadAttention' then
      local fits = nl.is_tensor(x) and x.ptr ~= nil and x:dim() == 3 and x:size(1) >= 1
      local oke, e = pcall(opts, { is_causal = B, need_weights = B, average_attn_weights = B,
                     key_padding_mask = function() return fits and chance(0.5) and nl.zeros(x:size(2), x:size(1)) or T() end,
                     attn_mask = function() return fits and chance(0.5) and nn.causal_mask(x:size(1)) or T() end })
      extra = oke and e or any()
      module_forward_and_backward(m, x, chance(0.8) and x or T(), chance(0.8) and x or T(), extra)
    elseif name == 'TransformerDecoderLayer' or name == 'Transformer' then
      -- a second sequence (the memory, or the target) batched as x, mostly;
      -- masks of its lengths now and then
      local fits = nl.is_tensor(x) and x.ptr ~= nil and (x:dim() == 2 or x:dim() == 3)
      local len = int(0, 3)
      local y = T()
      if fits and chance(0.8) then
        local shape = x:shape()
        shape[(x:dim() == 3 and m.batch_first) and 2 or 1] = len
        y = ftensor(shape)
      end
      local a, b = x, y
      if name == 'TransformerDecoderLayer' then a, b = y, x end   -- (tgt, memory)
      -- a causal mask of a sequence's length, or any tensor
      local function causal(t)
        return function()
          local ok3, n = pcall(function() return t:size((t:dim() == 3 and m.batch_first) and 2 or 1) end)
          return ok3 and n >= 1 and chance(0.7) and nn.Transformer.generate_square_subsequent_mask(n) or T()
        end
      end
      local mask_opts = name == 'Transformer'
        and { src_mask = causal(a), tgt_mask = causal(b), memory_mask = T, src_key_padding_mask = T }
        or { tgt_mask = causal(a), memory_mask = T, tgt_key_padding_mask = T, memory_key_padding_mask = T }
      module_forward_and_backward(m, a, b, chance(0.5) and opts(mask_opts) or nil)
    elseif name:find('^RNN$') or name == 'GRU' or name == 'LSTM' then
      local hx = nil
      if chance(0.3) then hx = chance(0.5) and T() or { T(), T() } end
      module_forward_and_backward(m, x, hx, chance(0.2) and { lengths = chance(0.5) and { 1, 2, 3 } or T() } or nil)
    elseif name:find('Cell$') then
      module_forward_and_backward(m, x, chance(0.3) and (chance(0.5) and T() or { T(), T() }) or nil)
    elseif name == 'Bilinear' then
      -- a second input of the first's batch dims and in2_features, mostly
      local fits = nl.is_tensor(x) and x.ptr ~= nil and x:dim() > 0
      local s2 = fits and x:shape() or {}
      if fits then s2[#s2] = m.in2_features end
      module_forward_and_backward(m, x, chance(0.8) and fits and ftensor(s2) or T())
    elseif name == 'CosineSimilarity' or name == 'PairwiseDistance' then
      -- a second input of the first's shape, mostly
      local fits = nl.is_tensor(x) and x.ptr ~= nil
      module_forward_and_backward(m, x, chance(0.8) and fits and ftensor(x:shape()) or T())
    elseif name == 'EmbeddingBag' then
      -- 1-D ids with offsets (sound ones, with an empty bag, or drawn), and
      -- per-sample weights of the ids' shape now and then
      local n = nl.is_tensor(x) and x.ptr ~= nil and x:numel() or 0
      local offsets = nil
      if chance(0.8) then
        local o, at = { 1 }, 1
        for i = 2, int(1, 4) do at = math.min(n + 1, at + int(0, 2)) o[i] = at end
        if chance(0.2) then o[int(1, #o)] = pick({ 0, -1, n + 2, 2 }) end
        offsets = chance(0.9) and nl.tensor(o, 'int64') or T()
      end
      module_forward_and_backward(m, x, offsets, chance(0.3) and (chance(0.8) and nl.is_tensor(x) and x.ptr ~= nil
        and ftensor(x:shape()) or T()) or nil)
    elseif name == 'Conv2d' and chance(0.5) then
      -- in nn.Sequential with MaxPool2d(2) and a ReLU: one op (nl_conv2d_pool)
      local order = int(1, 3)
      local seq = order == 1 and nn.Sequential(m, nn.ReLU(), nn.MaxPool2d(2))
        or order == 2 and nn.Sequential(m, nn.MaxPool2d(2), nn.ReLU()) or nn.Sequential(m, nn.MaxPool2d(2))
      module_forward_and_backward(seq, x)
    elseif name == 'Linear' and chance(0.5) then
      -- in nn.Sequential with a ReLU: one op on 2-D input (nl_linear)
      module_forward_and_backward(nn.Sequential(m, nn.ReLU()), x)
    else
      module_forward_and_backward(m, x)
    end
    -- the Module methods every module has
    local r = int(1, 10)
    if r == 1 then
      local oks, sd = call(name .. ':state_dict', m.state_dict, m)
      if oks then
        local keys = {}
        for k in pairs(sd) do keys[#keys + 1] = k end
        table.sort(keys)
        for _, k in ipairs(keys) do
          if chance(0.3) then sd[k] = chance(0.5) and T() or any() end
        end
        call(name .. ':load_state_dict', m.load_state_dict, m, chance(0.9) and sd or any(), B())
      end
    elseif r == 2 then call(name .. ':train', m.train, m, any())
    elseif r == 3 then
      call(name .. ':tostring', tostring, m)
      local so = opts({ expand_nested = B, dtype = DT })
      if type(so) == 'table' and getmetatable(so) == nil then so.print_fn = function() end end
      call(name .. ':summary', m.summary, m, chance(0.7) and x or any(), so)
    elseif r == 4 then call(name .. ':apply', m.apply, m, F_())
    elseif r == 5 then call(name .. ':save', m.save, m, chance(0.8) and 'saved.safetensors' or any(), opts({ extra = any }))
    elseif r == 6 then
      call(name .. ':compile', m.compile, m, opts({
        optimizer = function() return pick({ 'sgd', 'adam', 'rmsprop', 'nadam', 'rprop', 'asgd', 'nope', 3 }) end,
        loss = function()
          return pick({ 'mse', 'cross_entropy', 'bce', 'kld', 'poisson', 'nope', 5, nn.SmoothL1Loss(), nn.KLDivLoss(),
                        nn.MultiMarginLoss(), nn.SoftMarginLoss(), nn.HingeEmbeddingLoss(), nn.MarginRankingLoss() })
        end,
        metrics = function()
          return pick({ { 'accuracy' }, { 'mae' }, { 'mse' }, { 'binary_accuracy' }, { 'top_k_categorical_accuracy' },
                        { 'sparse_top_k_categorical_accuracy', 'accuracy' }, { 'nope' }, 'accuracy' })
        end, lr = N }))
      local X = x
      local y = chance(0.5) and ids(2, { nl.is_tensor(X) and X.ptr ~= nil and X:dim() > 0 and X:size(1) or 2 }) or T()
      call(name .. ':fit', m.fit, m, X, y, opts({ epochs = function() return pick({ 0, 1, 2, -1, NaN, 'x' }) end,
                                                   batch_size = function() return pick({ 1, 2, 0, -1, 1.5, 2 ^ 40 }) end,
                                                   verbose = function() return pick({ 0, false, 0, 'x' }) end,
                                                   shuffle = B,
                                                   validation_data = function() return pick({ { X, y }, { X }, {} }) end,
                                                   early_stopping = function()
                                                     return pick({ {}, { monitor = 'loss', patience = 1 },
                                                                   { monitor = 'nope' }, { patience = -1 }, 3 })
                                                   end,
                                                   lr_scheduler = function()
                                                     -- on the compiled optimizer, if compile got that far
                                                     local ok, s = pcall(optim.StepLR, rawget(m, 'optimizer'), { step_size = 1 })
                                                     return pick({ ok and s or {}, {}, 3 })
                                                   end,
                                                   callbacks = function()
                                                     local cb = nl.callbacks
                                                     return pick({ {}, 3, { 3 }, { { on_epoch_end = 3 } }, { cb.TerminateOnNaN() },
                                                                   { cb.History() }, { cb.EarlyStopping { monitor = 'loss' } },
                                                                   { cb.ReduceLROnPlateau { monitor = 'loss', patience = 0 } },
                                                                   { cb.LearningRateScheduler(function(_, lr) return lr / 2 end) },
                                                                   { cb.ModelCheckpoint('ck_{epoch}.st', { monitor = 'loss', save_best_only = true }) },
                                                                   { cb.CSVLogger('log.csv') }, { cb.LambdaCallback { on_epoch_end = pick(FUNCS) } } })
                                                   end,
                                                   class_weight = function() return pick({ { 1, 2 }, { [0] = 1, [1] = 2 }, { [-1] = 1 }, 'x', {} }) end,
                                                   sample_weight = T,
                                                   initial_epoch = function() return pick({ 0, 1, 2, -1, 1.5 }) end }))
      call(name .. ':evaluate', m.evaluate, m, X, y)
      call(name .. ':predict', m.predict, m, chance(0.8) and X or any(), opts({ batch_size = Z }))
      -- a loader or a dataset of the same rows (fit_data.lua), with options a loader refuses
      if chance(0.3) then
        local lo = opts({ batch_size = function() return pick({ 1, 2, 3 }) end, shuffle = B, seed = Z,
                          drop_last = B })
        local fo = opts({ epochs = function() return pick({ 1, 2 }) end, verbose = function() return 0 end,
                          batch_size = Z, shuffle = B, validation_split = function() return pick({ 0.5, 2 }) end,
                          validation_data = function() return pick({ { X, y }, any() }) end })
        local as_loader = chance(0.6)
        local function data_of()
          local ds = data.TensorDataset(X, y)
          return as_loader and data.DataLoader(ds, lo) or ds
        end
        call(name .. ':fit', function() return m:fit(data_of(), fo) end)
        call(name .. ':evaluate', function() return m:evaluate(data_of(), chance(0.8) and opts({ batch_size = Z }) or any()) end)
        call(name .. ':predict', function() return m:predict(data_of(), opts({ batch_size = Z })) end)
      end
    elseif r == 7 then call('nn.Sequential', nn.Sequential, m, chance(0.7) and nn.ReLU() or any(), any())
    elseif r == 8 then call('nn.ModuleList', nn.ModuleList, chance(0.7) and { m } or any())
    elseif r == 10 then
      -- module_api.lua's lookups, registrations and conversions, by the
      -- module's own names and others
      local names = { '', '0', '0.weight', 'weight', 'bias', 'running_mean', 'a.b', '.', 'forward', '1' }
      for _, kv in ipairs(m:named_parameters()) do names[#names + 1] = kv[1] end
      for _, kv in ipairs(m:named_modules()) do names[#names + 1] = kv[1] end
      local nm = chance(0.8) and pick(names) or any()
      local k = int(1, 8)
      if k == 1 then call(name .. ':get_submodule', m.get_submodule, m, nm)
      elseif k == 2 then call(name .. ':get_parameter', m.get_parameter, m, nm)
      elseif k == 3 then call(name .. ':get_buffer', m.get_buffer, m, nm)
      elseif k == 4 then call(name .. ':requires_grad_', m.requires_grad_, m, B())
      elseif k == 5 then
        call(name .. ':register_parameter', m.register_parameter, m, nm, chance(0.7) and ftensor({ int(0, 3) }) or any())
      elseif k == 6 then call(name .. ':add_module', m.add_module, m, nm, chance(0.7) and nn.ReLU() or any())
      elseif k == 7 then call(name .. ':to', chance(0.5) and m.to or m.type, m, chance(0.8) and DT() or any())
      else
        call(name .. ':state_dict', m.state_dict, m, opts({ prefix = function() return pick({ 'p.', '', 3 }) end,
                                                             destination = function() return pick({ {}, 'x' }) end }))
      end
    else call(name .. ':zero_grad', m.zero_grad, m) end
  end

  local function loss_case()
    local name = pick(LOSSES)
    local ok, crit = call('nn.' .. name, nn[name], opts({
      reduction = function() return pick({ 'mean', 'sum', 'none', 'bogus', 3, 'batchmean' }) end,
      delta = N, label_smoothing = function() return pick({ 0, 0.1, 1, -1, NaN, 2 }) end,
      beta = N, margin = N, eps = N, p = function() return pick({ 1, 2, 3, 0.5, 0, -1, NaN }) end,
      log_target = B, log_input = B, full = B, swap = B,
      distance_function = function() return chance(0.5) and nn.PairwiseDistance() or F_() end,
      weight = function() return chance(0.7) and ftensor({ int(1, 4) }) or any() end }))
    if not ok then return end
    local n, c = int(0, 4), int(1, 4)
    local input, target, third
    local r = u()
    if CLASS_LOSS[name] then
      local k = int(0, 3)
      local shape = pick({ { n, c }, { n, c }, { c }, { n, c, k } })
      input = ftensor(shape)
      target = ids(c, #shape == 2 and { n } or #shape == 1 and {} or { n, k })
      if chance(0.15) then target = ftensor(shape) end           -- class probabilities
    else
      local shape = batch_shape({ int(0, 3) })
      input, target = ftensor(shape), ftensor(shape)
      if name == 'BCELoss' and chance(0.8) then input, target = input:sigmoid(), target:sigmoid() end
      -- labels 0..C (0 ends a row's labels), now and then out of range
      if name == 'MultiLabelMarginLoss' and chance(0.8) then
        target = ids(input:dim() > 0 and input:size(-1) + 1 or 1, shape) - 1
      end
      if chance(0.5) and input:dtype() == 'float32' then input:requires_grad() end
    end
    if LOSS3[name] then
      third = chance(0.8) and ftensor(input:shape()) or T()
      if name == 'CosineEmbeddingLoss' and chance(0.7) then
        target = input:dim() > 0 and ftensor({ input:size(1) }) or ftensor({})
      end
    end
    if r < 0.15 then input = T() elseif r < 0.3 then target = T() elseif r < 0.35 then target = any() end
    local okl, l
    if LOSS3[name] then okl, l = call(name .. ':forward', crit, input, target, third)
    else okl, l = call(name .. ':forward', crit, input, target) end
    if okl and nl.is_tensor(l) and l.ptr ~= nil and chance(0.5) then
      call('backward(' .. name .. ')', function() l:sum():backward() end)
    end
  end

  -- ---- tensor ops ---------------------------------------------------------------
  local Tensor = nl.Tensor
  local BINARY = { 'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge' }
  local OPERATORS = {
    ['a+b'] = function(a, b) return a + b end, ['a-b'] = function(a, b) return a - b end,
    ['a*b'] = function(a, b) return a * b end, ['a/b'] = function(a, b) return a / b end,
    ['a^b'] = function(a, b) return a ^ b end, ['-a'] = function(a) return -a end,
    ['#a'] = function(a) return #a end, ['tostring'] = function(a) return tostring(a) end,
    ['a[i]'] = function(a, i) return a[i] end, ['a[i]=v'] = function(a, i, v) a[i] = v end,
    ['a.grad'] = function(a) return a.grad end, ['a.grad=v'] = function(a, _, v) a.grad = v end,
    ['a.field=v'] = function(a, i, v) a[tostring(i)] = v end,
  }
  local OPERATOR_NAMES = {}
  for k in pairs(OPERATORS) do OPERATOR_NAMES[#OPERATOR_NAMES + 1] = k end
  table.sort(OPERATOR_NAMES)

  -- every function and method reachable from the public tables, with
  -- arguments of any kind (names found at run time: new ops are covered
  -- as they land)
  local function public(t, skip)
    local names = {}
    for k, v in pairs(t) do
      if type(k) == 'string' and type(v) == 'function' and not k:find('^_') and not (skip and skip[k]) then
        names[#names + 1] = k
      end
    end
    table.sort(names)
    return names
  end
  -- (the rarer Tensor methods and nn families load on first use: all of
  -- them here, so that the tables below list every public name)
  nl._load_tensor_extras()
  nn._load_all()
  -- (and utility.lua's, loaded on the first of its names: save, load,
  -- set_default_dtype, finfo, set_printoptions, inference_mode, ...)
  assert(nl.save)
  local GENERIC = {
    { 'nl.', nl, public(nl, { fashion_mnist = true }) },
    { 'Tensor:', Tensor, public(Tensor) },
    { 'F.', F, public(F) },
    { 'init.', nn.init, public(nn.init) },
    { 'optim.', optim, public(optim) },
    { 'data.', data, public(data, { fashion_mnist = true }) },
    { 'nn.', nn, public(nn, { class = true }) },
  }
  local NN_CLASSES = {}
  for k, v in pairs(nn) do
    -- (not Transformer: nn.Transformer() builds PyTorch's default, 44M
    -- parameters, seconds past the time budget; MODULES draws it small)
    if type(k) == 'string' and type(v) == 'table' and nn._classes[k] == v and k ~= 'Module' and k ~= 'Transformer' then
      NN_CLASSES[#NN_CLASSES + 1] = k
    end
  end
  table.sort(NN_CLASSES)

  local function generic_arg()
    local r = int(1, 9)
    if r <= 3 then return T() elseif r == 4 then return N() elseif r == 5 then return D()
    elseif r == 6 then return Z() elseif r == 7 then return opts({ dim = D, keepdim = B, reduction = any })
    elseif r == 8 then return list_of_tensors() end
    return any()
  end

  local function generic_case()
    local g = pick(GENERIC)
    local name = pick(g[3])
    local n = int(0, 4)
    local a = {}
    if g[2] == Tensor then a[1] = T() end
    for i = #a + 1, n do a[i] = generic_arg() end
    call(g[1] .. name, g[2][name], unpack(a, 1, math.max(n, #a)))
  end

  local CASES = {
    -- creation
    { 3, function() return 'nl.tensor', nl.tensor, chance(0.6) and pick(JUNK) or TN(), DT() end },
    { 2, function()
        local shape = shape_of(int(0, 3), 0, 3)
        local vals = {}
        local function nest(d)
          if d > #shape then return chance(0.95) and N() or any() end
          local t = {}
          for i = 1, shape[d] + (chance(0.05) and 1 or 0) do t[i] = nest(d + 1) end
          return t
        end
        vals = nest(1)
        return 'nl.tensor(nested)', nl.tensor, vals, DT()
      end },
    { 4, function() return 'nl.' .. pick({ 'zeros', 'ones', 'empty', 'rand', 'randn' }), nil, sizes() end },
    -- F.pad: 1 to 3 pairs of small (and now and then absurd) pads, each mode
    { 2, function()
        local pads = {}
        for i = 1, 2 * int(1, 3) + (chance(0.05) and 1 or 0) do pads[i] = chance(0.95) and int(-3, 4) or Z() end
        return 'F.pad', F.pad, T(), chance(0.95) and pads or any(),
          chance(0.9) and pick({ 'constant', 'reflect', 'replicate', 'circular' }) or any(), chance(0.3) and N() or nil
      end },
    -- F.interpolate: every mode on 1 to 6 dims, sizes and factors (now and then absurd)
    { 2, function()
        local o = {}
        if chance(0.5) then o.size = chance(0.8) and int(0, 6) or { int(0, 5), int(1, 5) }
        else o.scale_factor = chance(0.8) and pick({ 0.5, 1, 1.5, 2, 3.3 }) or N() end
        o.mode = chance(0.9) and pick({ 'nearest', 'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear', 'area' }) or any()
        if chance(0.3) then o.align_corners = B() end
        if chance(0.2) then o.recompute_scale_factor = B() end
        return 'F.interpolate', F.interpolate, T(), chance(0.95) and o or any()
      end },
    { 2, function() return 'nl.full', nl.full, chance(0.8) and { sizes() } or Z(), N(), DT() end },
    { 2, function() return 'nl.arange', nl.arange, N(), N(), chance(0.5) and N() or nil, DT() end },
    { 1, function() return 'nl.eye', nl.eye, Z(), chance(0.5) and Z() or DT(), DT() end },
    { 1, function() return 'nl.randperm', nl.randperm, Z() end },
    -- tensor_creation.lua
    { 2, function()
        local name = pick({ 'zeros_like', 'ones_like', 'empty_like', 'rand_like', 'randn_like' })
        return 'nl.' .. name, nl[name], chance(0.9) and T() or any(), chance(0.5) and DT() or nil
      end },
    { 1, function() return 'nl.full_like', nl.full_like, T(), N(), DT() end },
    { 2, function()
        return 'nl.randint', nl.randint, chance(0.8) and int(-5, 5) or N(), chance(0.8) and int(-5, 9) or N(),
          chance(0.8) and { sizes() } or Z(), chance(0.3) and DT() or nil
      end },
    { 1, function() return 'nl.randint_like', nl.randint_like, T(), N(), chance(0.5) and N() or nil end },
    { 2, function()
        return 'nl.' .. pick({ 'linspace', 'logspace' }), nil, N(), N(), chance(0.8) and int(-1, 9) or N(),
          chance(0.3) and N() or DT()
      end },
    { 1, function() return 'nl.normal', nl.normal, TN(), TN(), chance(0.5) and { sizes() } or nil end },
    { 1, function() return 'nl.bernoulli', nl.bernoulli, chance(0.9) and T() or any() end },
    { 2, function()
        local name = pick({ 'uniform_', 'normal_', 'bernoulli_', 'exponential_' })
        return 'Tensor:' .. name, Tensor[name], T(), chance(0.7) and TN() or nil, chance(0.5) and N() or nil
      end },
    { 2, function()
        local name = pick({ 'new_zeros', 'new_ones', 'new_empty', 'new_tensor' })
        return 'Tensor:' .. name, Tensor[name], T(), chance(0.8) and { sizes() } or any(), chance(0.3) and DT() or nil
      end },
    { 2, function()
        local name = pick({ 'type_as', 'view_as', 'reshape_as', 'expand_as' })
        return 'Tensor:' .. name, Tensor[name], T(), chance(0.9) and T() or any()
      end },
    { 2, function() return 'nl.' .. pick({ 'cat', 'stack' }), nil, chance(0.9) and list_of_tensors() or any(), D() end },
    { 2, function() return 'nl.where', nl.where, T(), TN(), TN() end },
    { 3, function() return 'nl.matmul', nl.matmul, T(), T() end },
    -- elementwise, operators
    { 6, function() local op = pick(BINARY) return 'nl.' .. op, nl[op], TN(), TN() end },
    { 6, function()
        local name = pick(OPERATOR_NAMES)
        local a, b = Treal(), chance(0.6) and TN() or any()
        if chance(0.3) and name:find('^a[-+*/^]b$') then a, b = b, a end
        if name == 'a[i]' or name == 'a[i]=v' or name == 'a.field=v' then b = D() end
        return name, OPERATORS[name], a, b, chance(0.7) and TN() or any()
      end },
    { 3, function() return 'Tensor:' .. pick({ 'add_', 'sub_', 'mul_', 'div_' }), nil, T(), TN(), chance(0.3) and N() or nil end },
    { 2, function() return 'Tensor:fill_', Tensor.fill_, T(), N() end },
    { 2, function() return 'Tensor:copy_', Tensor.copy_, T(), T() end },
    { 2, function() return 'Tensor:clamp', Tensor[pick({ 'clamp', 'clamp_' })], T(), chance(0.7) and N() or nil, chance(0.7) and N() or nil end },
    { 1, function() return 'Tensor:leaky_relu', Tensor.leaky_relu, T(), chance(0.7) and N() or any() end },
    { 4, function()
        local name = pick({ 'elu', 'selu', 'celu', 'softplus', 'mish', 'hardtanh', 'relu6', 'hardsigmoid', 'hardswish',
                            'logsigmoid', 'softsign', 'tanhshrink', 'softshrink', 'hardshrink', 'elu_', 'selu_', 'celu_',
                            'hardtanh_', 'relu6_', 'mish_', 'hardsigmoid_', 'hardswish_', 'softmin' })
        local f = name == 'softmin' and nl.softmin or Tensor[name]
        local a1 = chance(0.15) and opts({ alpha = N, beta = N, threshold = N, min_val = N, max_val = N, lambd = N })
                   or (chance(0.7) and N() or any())
        return 'Tensor:' .. name, f, T(), chance(0.6) and a1 or nil, chance(0.4) and N() or nil
      end },
    -- reductions
    { 5, function() return 'Tensor:' .. pick({ 'sum', 'mean', 'max', 'min', 'argmax', 'argmin' }), nil, T(), chance(0.7) and D() or nil, B() end },
    { 2, function() return 'Tensor:' .. pick({ 'softmax', 'log_softmax' }), nil, T(), D(), chance(0.3) and DT() or nil end },
    { 2, function()
        return 'Tensor:' .. pick({ 'sum', 'mean', 'var', 'std', 'max' }), nil, T(), chance(0.8) and { D(), D() } or { D() }, B()
      end },
    { 2, function() return 'Tensor:' .. pick({ 'cumsum', 'cumprod' }), nil, T(), D(), chance(0.2) and DT() or nil end },
    -- order statistics and counting (tensor_sortops.lua), clamp with tensor bounds, div_ with a mode
    { 3, function()
        local name = pick({ 'cummax', 'cummin', 'logcumsumexp', 'kthvalue', 'median', 'nanmedian', 'mode', 'nansum',
                            'nanmean', 'count_nonzero', 'quantile', 'nanquantile', 'histc', 'unique',
                            'unique_consecutive', 'bincount', 'bucketize', 'searchsorted' })
        local o = opts({ dim = D, keepdim = B, interpolation = function() return pick({ 'linear', 'nearest', any() }) end,
                         right = B, side = function() return pick({ 'left', 'right', any() }) end, sorter = T,
                         weights = T, minlength = N, bins = N, min = N, max = N, sorted = B, return_inverse = B,
                         return_counts = B })
        return 'Tensor:' .. name, nil, T(), chance(0.6) and TN() or D(), chance(0.5) and (chance(0.5) and o or B()) or D(),
               chance(0.3) and N() or nil
      end },
    { 2, function()
        return 'Tensor:' .. pick({ 'clamp', 'clamp_', 'clip', 'clip_', 'div_' }), nil, T(), TN(),
               chance(0.7) and (chance(0.5) and TN() or pick({ 'floor', 'trunc' })) or nil
      end },
    { 2, function()
        return 'Tensor:' .. pick({ 'nonzero', 'argwhere', 'masked_select' }), nil, T(),
               chance(0.5) and T() or (chance(0.5) and opts({ as_tuple = B }) or nil)
      end },
    -- tensor_linalg.lua: dims, offsets and shifts; tensor pairs and triples with options; equations
    { 3, function()
        return 'Tensor:' .. pick({ 'logsumexp', 'tril', 'triu', 'flip', 'roll', 'repeat_interleave', 'diag', 'diagonal',
                                   'diag_embed', 'fliplr', 'flipud', 'trace' }), nil, T(),
               chance(0.6) and D() or (chance(0.5) and { D(), D() } or (chance(0.5) and T() or N())),
               chance(0.6) and D() or B(), chance(0.3) and D() or nil
      end },
    { 2, function()
        return 'Tensor:' .. pick({ 'outer', 'lerp', 'isclose', 'allclose', 'equal', 'addmm', 'addmv', 'baddbmm',
                                   'addbmm' }), nil, T(), T(), chance(0.6) and TN() or T(),
               chance(0.3) and opts({ beta = N, alpha = N, rtol = N, atol = N, equal_nan = B }) or nil
      end },
    { 2, function()
        return 'nl.einsum', nl.einsum, chance(0.9) and pick({ 'ij,jk->ik', 'bij,bjk->bik', 'ii->i', 'ij->ji', 'i,i->',
          'i,j->ij', '...ij,...jk->...ik', 'ij,jk', 'ii', '...', '->', 'i->ii', 'a.b', 'iI', '', 'ab,cd,ef->',
          '...i,...i', 'i,i,i' }) or any(), T(), T(), chance(0.3) and T() or nil
      end },
    { 1, function()
        return 'nl.cdist', nl.cdist, T(), T(), chance(0.7) and N() or any(),
               chance(0.2) and pick({ 'use_mm_for_euclid_dist', 'donot_use_mm_for_euclid_dist', 'x' }) or nil
      end },
    { 1, function()
        return 'nl.meshgrid', nl.meshgrid, T(), chance(0.7) and T() or any(),
               chance(0.3) and opts({ indexing = function() return pick({ 'ij', 'xy', 'yx' }) end }) or nil
      end },
    -- tensor_more.lua and ops_math.c: special functions, composed ops, reductions, copies, in-place forms
    { 4, function()
        local name = pick({ 'tan', 'asin', 'acosh', 'erfinv', 'lgamma', 'digamma', 'polygamma', 'sign', 'frac', 'rsqrt',
                            'sinc', 'isnan', 'signbit', 'logical_not', 'nan_to_num', 'any', 'all', 'prod', 'amax',
                            'amin', 'aminmax', 'norm', 'renorm', 'std_mean', 'var_mean', 't', 'mT', 'swapaxes', 'tile',
                            'repeat', 'take', 'take_along_dim', 'squeeze', 'clamp_min', 'clamp_max', 'tan_', 'sign_',
                            'square_', 'nan_to_num_', 'polygamma_', 'renorm_', 'tril_', 'clamp_min_' })
        local o = opts({ dim = D, keepdim = B, p = N, nan = N, posinf = N, neginf = N, correction = N, value = N })
        return 'Tensor:' .. name, nil, T(), chance(0.5) and D() or (chance(0.5) and (chance(0.5) and o or T()) or N()),
               chance(0.5) and D() or B(), chance(0.3) and N() or nil
      end },
    { 3, function()
        local name = pick({ 'atan2', 'hypot', 'fmod', 'remainder', 'floor_divide', 'logaddexp', 'logaddexp2', 'xlogy',
                            'heaviside', 'logical_and', 'logical_xor', 'fmax', 'fmin', 'dist', 'atan2_', 'fmod_',
                            'xlogy_', 'logical_or_' })
        return 'Tensor:' .. name, nil, chance(0.9) and T() or N(), TN(), chance(0.2) and N() or nil
      end },
    { 2, function()
        local name = pick({ 'index_fill', 'index_copy', 'masked_scatter', 'addcmul', 'addcdiv', 'index_fill_',
                            'index_copy_', 'masked_scatter_', 'addcmul_', 'addcdiv_' })
        return 'Tensor:' .. name, nil, T(), chance(0.6) and D() or T(), chance(0.5) and T() or ids(3, { int(0, 4) }),
               chance(0.6) and TN() or (chance(0.5) and opts({ value = N }) or nil)
      end },
    -- shape
    { 6, function() return 'Tensor:' .. pick({ 'view', 'reshape', 'expand' }), nil, T(), sizes() end },
    { 3, function() return 'Tensor:' .. pick({ 'transpose', 'permute' }), nil, T(), D(), D(), chance(0.3) and D() or nil end },
    { 3, function() return 'Tensor:narrow', Tensor.narrow, T(), D(), chance(0.8) and int(-1, 4) or N(), chance(0.8) and int(-1, 4) or Z() end },
    { 3, function() return 'Tensor:select', Tensor.select, T(), D(), chance(0.8) and int(-4, 4) or N() end },
    { 2, function() return 'Tensor:' .. pick({ 'squeeze', 'unsqueeze' }), nil, T(), chance(0.8) and D() or nil end },
    { 3, function()
        local idx = chance(0.5) and ids(3, { int(0, 4) }) or (chance(0.5) and { int(-1, 4), int(0, 5) } or T())
        return 'Tensor:index_select', Tensor.index_select, T(), D(), idx
      end },
    { 2, function() return 'Tensor:' .. pick({ 'to', 'float', 'double', 'long', 'contiguous', 'clone', 't', 'item', 'totable' }), nil, T(), DT() end },
    { 2, function() return 'Tensor:' .. pick({ 'size', 'stride' }), nil, T(), chance(0.8) and D() or nil end },
    -- autograd
    { 3, function()
        -- a chain of ops from a leaf, then backward with a gradient of any shape
        return 'graph+backward', function(x, grad, k)
          local y = x
          for _ = 1, k do
            local r = int(1, 8)
            if r == 1 then y = y * y elseif r == 2 then y = y:sum(int(1, math.max(y:dim(), 1)), true)
            elseif r == 3 then y = y:softmax(-1) elseif r == 4 then y = y:transpose(1, -1)
            elseif r == 5 then y = nl.matmul(y, y:transpose(1, -1)) elseif r == 6 then y = y:exp():log()
            elseif r == 7 then y = y:narrow(1, 1, 1) else y = y:expand(2, unpack(y:shape())) end
          end
          if chance(0.2) then x:mul_(2) end              -- in place after use: backward must refuse
          y:backward(grad)
          return x.grad
        end, Treal(), chance(0.5) and NIL or TN(), int(0, 3)
      end },
    { 2, function() return 'Tensor:requires_grad', Tensor.requires_grad, T(), chance(0.7) and B() or any() end },
    { 2, function() return 'Tensor:backward', Tensor.backward, T(), chance(0.5) and T() or any(), chance(0.2) and { retain_graph = true } or nil end },
    { 2, function()
        -- a graph from a leaf, then nl.autograd.grad of some of it with inputs and options of any kind
        return 'nl.autograd.grad', function(x, k, o, which)
          if chance(0.7) and x:dtype() ~= 'int64' then x = x:detach():requires_grad() end
          local y = x
          for _ = 1, k do y = chance(0.5) and y * y or y:exp() end
          local outs = pick({ y, x, { y, x } })
          if chance(0.5) then outs = y:sum() end
          local ins = which == 1 and x or which == 2 and { x, y } or which == 3 and { y:sum(), x } or any()
          return nl.autograd.grad(outs, ins, o)
        end, Treal(), int(0, 2), opts({ grad_outputs = function() return chance(0.5) and TN() or { TN(), TN() } end,
                                        retain_graph = B, allow_unused = B, create_graph = B }), int(1, 4)
      end },
    { 2, function()
        -- a hook of any kind (FUNCS: itself, squared, summed, a fixed tensor, nothing, an error) on a
        -- leaf or a tensor an op made, maybe retaining its grad, maybe removed, then a backward and a grad
        -- through it
        return 'Tensor:register_hook', function(x, fn, op)
          if chance(0.7) and x:dtype() ~= 'int64' then x = x:detach():requires_grad() end
          local y = op and x * 2 or x
          if chance(0.3) then y:retain_grad() end
          local h = y:register_hook(fn)
          if chance(0.3) then h:remove() end
          if chance(0.3) then h:remove() end
          local l = (y * y):sum()
          if chance(0.5) then nl.autograd.grad(l, x, { retain_graph = true }) end
          l:backward()
          return x.grad
        end, Treal(), F_(), B()
      end },
    { 1, function()
        -- forward hooks of any kind (FUNCS) on a layer, maybe removed, then a call with any argument
        return 'Module:register_forward_hook', function(fn1, fn2, x)
          local m = nn.Linear(3, 2)
          local a = m:register_forward_pre_hook(fn1)
          local b = m:register_forward_hook(fn2)
          if chance(0.3) then a:remove() end
          if chance(0.3) then b:remove() end
          return m(x)
        end, F_(), F_(), chance(0.5) and nl.randn(2, 3) or T()
      end },
    { 1, function() return 'nl.no_grad', nl.no_grad, F_() end },
    { 1, function() return 'nl.enable_grad', function(f) return nl.no_grad(function() return nl.enable_grad(f) end) end, F_() end },
    { 1, function()
        -- detach_ of a leaf, an op's output or a view of one (a fresh one: the pool stays as it is)
        return 'Tensor:detach_', function(x, k)
          if chance(0.7) and x:dtype() ~= 'int64' then x = x:detach():requires_grad() end
          local y = k == 1 and x or k == 2 and x * 2 or (x * 2):view(-1)
          local z = y * y
          y:detach_()
          return y, chance(0.5) and z:sum():backward()
        end, Treal(), int(1, 3)
      end },
    { 1, function()
        local x = nl.randn(shape_of(int(0, 2), 0, 3), 'float64'):requires_grad()
        return 'nl.gradcheck', nl.gradcheck, F_(), chance(0.8) and { x } or T()
      end },
    { 1, function() return 'nl.detect_anomaly+op', function(a, b) nl.detect_anomaly(true); return (a / b):sum():backward() end, Treal(), T() end },
    -- modules, losses, optimizers on their own arguments
    { 10, module_case },
    { 4, loss_case },
    { 2, function() return 'optim.' .. pick(OPTIMS), nil, chance(0.5) and list_of_tensors() or T(), opts(OPTIM_OPTS) end },
    { 2, scheduler_case },
    { 1, composite_case },
    { 1, lbfgs_case },
    { 1, function() return 'optim.clip_grad_norm', optim.clip_grad_norm, list_of_tensors(), N(), chance(0.5) and N() or pick({ 'inf', 'x' }) end },
    { 1, function() return 'nn.utils.clip_grad_value_', nn.utils.clip_grad_value_, list_of_tensors(), N() end },
    { 1, function() return 'nn.utils.parameters_to_vector', nn.utils.parameters_to_vector, list_of_tensors() end },
    { 1, function()
        return 'nn.utils.vector_to_parameters', nn.utils.vector_to_parameters, chance(0.7) and ftensor({ int(0, 9) }) or T(),
          list_of_tensors()
      end },
    { 2, function() return 'nn.' .. pick(NN_CLASSES), nil, generic_arg(), generic_arg(), generic_arg() end },
    -- pretrained embeddings: a weight mostly of (n, d), options now and then junk, a lookup of the result
    { 1, function()
        return 'nn.Embedding.from_pretrained', function(...)
          local e = nn.Embedding.from_pretrained(...)
          return e(ids(e.num_embeddings, { int(0, 4) }))
        end, chance(0.85) and ftensor({ int(1, 4), int(1, 4) }) or T(),
          chance(0.6) and opts({ freeze = B, padding_idx = N, max_norm = N, norm_type = N, sparse = B }) or B(), N()
      end },
    -- CTC: log-probabilities (T, N, C), padded or concatenated labels mostly in range, lengths as
    -- lists, tensors or junk; backward now and then
    { 2, function()
        local t, n, c = int(0, 5), int(0, 3), int(1, 5)
        local lp = chance(0.85) and ftensor({ t, n, c }) or T()
        if chance(0.5) and nl.is_tensor(lp) and lp.ptr ~= nil and lp:dtype() ~= 'int64' then lp = lp:detach():requires_grad() end
        local tg = chance(0.6) and ids(c, { n, int(0, 4) }) or ids(c, { int(0, 8) })
        local function lens(hi)
          if chance(0.2) then return chance(0.5) and T() or any() end
          local l = {}
          for i = 1, n + (chance(0.1) and 1 or 0) do l[i] = int(-1, hi + 1) end
          return chance(0.3) and nl.tensor(#l > 0 and l or 0, 'int64') or l
        end
        return 'F.ctc_loss', function(...)
          local l = F.ctc_loss(...)
          if chance(0.5) and nl.is_tensor(l) then l:sum():backward() end
          return l
        end, lp, chance(0.9) and tg or T(), lens(t), lens(4), opts({ blank = function() return int(0, 6) end,
          reduction = function() return pick({ 'mean', 'sum', 'none', 'x' }) end, zero_infinity = B })
      end },
    -- weight_norm / spectral_norm on a small layer (any name, dim, options), a call, a removal
    { 2, function()
        local m = pick({ nn.Linear(3, 2), nn.Conv2d(1, 2, 2), nn.ConvTranspose2d(2, 1, 2) })
        local fname = pick({ 'weight_norm', 'spectral_norm' })
        return 'nn.utils.' .. fname, function(mod, name, a, b)
          nn.utils[fname](mod, name, a, b)
          local x = mod.__name == 'Linear' and nl.randn(2, 3) or nl.randn(1, mod.__name == 'Conv2d' and 1 or 2, 3, 3)
          mod(x):sum():backward()
          return nn.utils['remove_' .. fname](mod, chance(0.8) and name or any())
        end, m, chance(0.8) and pick({ 'weight', 'bias' }) or any(), chance(0.7) and D() or any(),
          chance(0.7) and N() or any()
      end },
    -- nn.utils.rnn: pad, pack (lengths of any kind), unpack, and a GRU over the packed batch
    { 2, function()
        local t, n = int(0, 4), int(0, 3)
        local x = chance(0.8) and ftensor({ t, n, 2 }) or T()
        local l = {}
        for i = 1, n + (chance(0.1) and 1 or 0) do l[i] = int(0, t + 1) end
        local R = nn.utils.rnn
        return 'nn.utils.rnn', function(kind, ...)
          if kind == 1 then return R.pad_sequence(...) end
          local p = R.pack_padded_sequence(...)
          if kind == 2 then return R.pad_packed_sequence(p, chance(0.5), N(), chance(0.5) and int(0, 6) or nil) end
          local out = nn.GRU(2, 2)(p)
          return out.data
        end, int(1, 3), chance(0.5) and list_of_tensors() or x, chance(0.8) and l or any(), B(), B()
      end },
    -- files
    { 3, function() return 'nl.load_safetensors', nl.load_safetensors, path() end },
    { 2, function() return 'nn.load', nn.load, path(), chance(0.3) and nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2)) or nil end },
    { 2, function() return 'nl.save_safetensors', nl.save_safetensors, chance(0.8) and 'out.safetensors' or any(),
                          chance(0.8) and { a = T(), [pick({ 'b', '__metadata__', 1 })] = T() } or any(),
                          chance(0.5) and { k = pick({ 'v', 1, '\255' }) } or nil end },
    { 3, function() return 'data.load_idx', data.load_idx, path(), DT() end },
    { 3, function()
        return 'data.load_csv', data.load_csv, path(), opts({ header = B, delimiter = function() return pick({ ',', ';', '', ',,', '\n', 1 }) end,
                                                              label = function() return pick({ 'label', 'a', 1, -1, 0, 9, 1.5, 'nope' }) end,
                                                              label_dtype = DT, dtype = DT })
      end },
    { 1, function() return 'data.fashion_mnist', data.fashion_mnist, pick({ '/nonexistent', '.', 3, {}, true }) end },
    { 2, function()
        local ok, ds = call('data.TensorDataset', data.TensorDataset, T(), chance(0.7) and T() or nil)
        local okl, loader = call('data.DataLoader', data.DataLoader, ok and chance(0.9) and ds or any(),
          opts({ batch_size = Z, shuffle = B, drop_last = B, seed = N }))
        if okl then
          return 'DataLoader:iter', function()
            local k = 0
            for xb in loader:iter(chance(0.2) and N() or nil) do
              k = k + 1
              if k > 8 then break end
            end
            return #loader, tostring(loader)
          end
        end
        return 'data.DataLoader(table)', data.DataLoader, { { T(), T() }, { 1, 2 } }, opts({ batch_size = Z })
      end },
    -- the samplers and datasets of data_sampling.lua, and a loader drawing through what they made
    { 2, function()
        local n = pick({ 0, 1, 3, 5 })
        local ds = data.TensorDataset(nl.arange(1, n + 1):float():view(n, 1), nl.arange(1, n + 1))
        local function D_() return chance(0.85) and ds or any() end
        local r = { pick({
          function() return 'data.RandomSampler', data.RandomSampler, D_(), opts({ replacement = B, num_samples = Z, seed = N }) end,
          function() return 'data.WeightedRandomSampler', data.WeightedRandomSampler, chance(0.6) and { N(), N(), 1 } or T(), Z(),
                            chance(0.4) and B() or opts({ replacement = B, seed = N }) end,
          function() return 'data.SubsetRandomSampler', data.SubsetRandomSampler, chance(0.6) and { int(0, 6), int(1, 3) } or T(), opts({ seed = N }) end,
          function() return 'data.SequentialSampler', data.SequentialSampler, chance(0.8) and ds or N() end,
          function() return 'data.BatchSampler', data.BatchSampler, chance(0.7) and data.SequentialSampler(ds) or any(), Z(), B() end,
          function() return 'data.Subset', data.Subset, D_(), chance(0.6) and { int(0, 6), int(1, 2) } or T() end,
          function() return 'data.random_split', data.random_split, D_(), chance(0.5) and { N(), N() } or { 0.5, 0.5 }, chance(0.5) and N() or nil end,
          function() return 'data.ConcatDataset', data.ConcatDataset, { ds, D_() } end,
        })() }
        local ok, made = call(r[1], r[2], unpack(r, 3, table.maxn(r)))
        if not ok or made == nil then return end
        local o = { batch_size = chance(0.3) and Z() or nil, collate_fn = chance(0.2) and F_() or nil, drop_last = chance(0.2) and B() or nil }
        local okb, is_batches = pcall(function() return made.iter ~= nil and made.order == nil end)
        local okd, is_data = pcall(function() return made.order == nil and made.iter == nil end)
        if okb and is_batches then o.batch_sampler = made
        elseif okd and is_data then o = { batch_size = small(), collate_fn = o.collate_fn }
        else o.sampler = made end
        local okl, loader = call('data.DataLoader', data.DataLoader, (okd and is_data) and made or ds, o)
        if okl then
          return 'DataLoader:iter', function()
            local k = 0
            for _ in loader:iter() do
              k = k + 1
              if k > 4 then break end
            end
            return #loader, tostring(loader)
          end
        end
      end },
    { 1, function() return 'nl.plot', nl.plot, chance(0.6) and { loss = { 1, NaN, inf, 2 }, accuracy = { 0.5 } } or any(),
                          chance(0.8) and 'plot.svg' or any() end },
    { 1, function() return 'nl.manual_seed', nl.manual_seed, N() end },
    { 1, function() return 'nl.set_num_threads', nl.set_num_threads, chance(0.5) and pick({ 1, 2 }) or N() end },
    -- anything at all
    { 14, generic_case },
  }
  local total_w = 0
  for _, c in ipairs(CASES) do total_w = total_w + c[1] end

  -- 'Tensor:sum' -> Tensor.sum; 'nl.zeros' -> nl.zeros
  local function resolve(name)
    local tbl, key = name:match('^(%a+)[.:]([%w_]+)$')
    local t = ({ Tensor = Tensor, nl = nl, nn = nn, optim = optim, data = data })[tbl]
    return t and t[key]
  end

  local function run_one()
    local r, acc = u() * total_w, 0
    for _, c in ipairs(CASES) do
      acc = acc + c[1]
      if r < acc then
        local res = { pcall(c[2]) }
        if not res[1] then
          fail('harness error', 'generator', '', res[2])
          return
        end
        local name, f = res[2], res[3]
        if name == nil then return end                -- the generator made its own calls
        call(name, f or resolve(name), unpack(res, 4, table.maxn(res)))
        return
      end
    end
  end

  refill_pool()
  local t0 = nl.time()
  local next_refill, next_gc = 250, 2000
  while counts.cases < ncases do
    if counts.cases >= next_refill then refill_pool(); next_refill = next_refill + 250 end
    if counts.cases >= next_gc then collectgarbage(); next_gc = next_gc + 2000 end
    run_one()
  end
  debug.sethook()
  if sf then sf:close(); os.remove(statefile) end
  if of then of:close() end
  local secs = nl.time() - t0
  local list = {}
  for _, d in pairs(distinct) do list[#list + 1] = d end
  table.sort(list, function(a, b) return a.order < b.order end)
  for i = 1, math.min(#list, tonumber(os.getenv('NNLUA_MISUSE_SHOW')) or 400) do
    print(('FAIL [%s] (x%d) %s'):format(list[i].class, list[i].n, list[i].first))
  end
  print(('misuse: seed %d: %d cases (%d returned, %d raised a Lua error, %d user errors); '
         .. 'failures: %d crash or hang, %d unnamed in the tensor core, %d unnamed in nn/optim; %.1f s')
        :format(seed, counts.cases, counts.returned, counts.errors, counts.user, fails.fatal, fails.core,
                fails.layer, secs))
  return #failures == 0
end

-- ==========================================================================
-- As a script: run the driver (the spec below starts it this way)
-- ==========================================================================

if not describe then
  local seed = tonumber(arg and arg[1] or nil) or tonumber(os.getenv('NNLUA_MISUSE_SEED')) or DEFAULT_SEED
  local n = tonumber(arg and arg[2] or nil) or tonumber(os.getenv('NNLUA_MISUSE_CASES')) or DEFAULT_CASES
  local statefile = arg and arg[3] or os.tmpname()
  local outcomefile = arg and arg[4] or os.getenv('NNLUA_MISUSE_OUTCOMES')
  if not pcall(require, 'nnlua') then
    local src = debug.getinfo(1, 'S').source:sub(2)
    if src:sub(1, 1) ~= '/' then src = io.popen('pwd'):read('*l') .. '/' .. src end
    local here = src:match('^(.*)/tests/spec/[^/]*$') or '.'
    package.path = here .. '/lua/?.lua;' .. here .. '/lua/?/init.lua;' .. package.path
  end
  -- the calls write files (and some to junk paths): in a directory of their own
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "'") == 0)
  ffi.cdef 'int chdir(const char *path);'
  assert(ffi.C.chdir(dir) == 0)
  local ok = driver(seed, n, statefile, outcomefile)
  ffi.C.chdir('/')
  os.execute("rm -rf '" .. dir .. "'")
  os.exit(ok and 0 or 1)
end

-- ==========================================================================
-- The spec
-- ==========================================================================

local S = require 'support'
local THIS = S.root .. '/tests/spec/misuse_spec.lua'
local q = S.q

-- output and exit status of a shell command
local function sh(cmd)
  local p = assert(io.popen('{ ' .. cmd .. '; } 2>&1; echo "__rc=$?"'))
  local out = p:read('*a')
  p:close()
  local rc = tonumber(out:match('__rc=(%d+)\n$'))
  return (out:gsub('__rc=%d+\n$', '')), rc
end

-- runs Lua code in a child luajit (nnlua found in this tree, LD_PRELOAD and
-- NNLUA_LIB inherited) in a fresh temporary directory, killed after limit
-- seconds (status 137); returns its output and exit status
local function child(code, limit, env)
  local dir = os.tmpname()
  os.remove(dir)
  local script = dir .. '.lua'
  local f = assert(io.open(script, 'w'))
  f:write(S.path_prelude, code)
  f:close()
  local out, rc = sh(('mkdir -p %s && cd %s && %s timeout -s KILL %d luajit %s'):format(q(dir), q(dir), env or '',
                                                                                  limit, q(script)))
  os.execute('rm -rf ' .. q(dir) .. ' ' .. q(script))
  return out, rc
end

local SEED = tonumber(os.getenv('NNLUA_MISUSE_SEED')) or DEFAULT_SEED
local CASES = tonumber(os.getenv('NNLUA_MISUSE_CASES')) or DEFAULT_CASES
local LIMIT = tonumber(os.getenv('NNLUA_MISUSE_TIMEOUT')) or 300

-- under `make test-asan`, UBSan reports without stopping the random runs,
-- so that one run lists every site (each is a failure below)
local UB_GOES_ON = os.getenv('UBSAN_OPTIONS') and ('UBSAN_OPTIONS=' .. q(os.getenv('UBSAN_OPTIONS') .. ':halt_on_error=0')) or ''

-- the random run, once for the three checks below
local run
local function random_run()
  if run then return run end
  local statefile = os.tmpname()
  local out, rc = child(('arg = { %d, %d, %q }\ndofile(%q)\n'):format(SEED, CASES, statefile, THIS), LIMIT, UB_GOES_ON)
  local last = ''
  local f = io.open(statefile)
  if f then last = (f:read('*l') or ''):gsub('%s+$', ''); f:close() end
  os.remove(statefile)
  local summary = out:match('misuse: seed[^\n]*')
  run = { out = out, rc = rc, last = last, summary = summary }
  if summary then
    run.cases = tonumber(summary:match(': (%d+) cases'))
    run.fatal = tonumber(summary:match('(%d+) crash or hang'))
    run.core = tonumber(summary:match('(%d+) unnamed in the tensor core'))
    run.layer = tonumber(summary:match('(%d+) unnamed in nn/optim'))
    print('\n    ' .. summary)
  end
  -- undefined behaviour UBSan saw, one line per site
  local sites, seen = {}, {}
  for line in out:gmatch('[^\n]+') do
    local site, what = line:match('^(%S+:%d+:%d+): runtime error: (.*)$')
    if site and not seen[site] then
      seen[site] = true
      sites[#sites + 1] = site .. ': ' .. what
    end
  end
  run.ub = sites
  return run
end

-- the child's failure lines of one class
local function failures(r, class)
  local lines = {}
  for line in r.out:gmatch('[^\n]+') do
    if line:find('^FAIL %[' .. class .. '%]') then lines[#lines + 1] = line:sub(1, 400) end
  end
  return table.concat(lines, '\n')
end

describe('misuse, seeded random calls', function()
  it(('%d calls with bad arguments: none crashes, hangs, raises a non-string error or returns a malformed tensor')
     :format(CASES), function()
    local r = random_run()
    if r.rc == 137 then
      error(('the run was killed after %d s (a hang) during %s\n%s'):format(LIMIT, r.last, r.out:sub(-3000)))
    end
    assert(r.summary, ('the run died (exit status %s) during %s\n%s'):format(tostring(r.rc), r.last, r.out:sub(-3000)))
    assert.is_true(r.cases >= CASES, r.summary)
    assert(r.fatal == 0 and #r.ub == 0, r.summary .. '\n' .. failures(r, 'fatal')
           .. (#r.ub > 0 and '\nundefined behaviour (UBSan):\n' .. table.concat(r.ub, '\n') or ''))
  end)

  it('every error of the tensor core (nl.*, tensor methods, autograd, files, data) names its op', function()
    local r = random_run()
    assert(r.summary, 'the run died; see the test above')
    assert(r.core == 0, r.summary .. '\n' .. failures(r, 'core'))
  end)

  it('every error of nn modules, losses, nn.init, nn.functional, optim and fit names its op', function()
    local r = random_run()
    assert(r.summary, 'the run died; see the test above')
    assert(r.layer == 0, r.summary .. '\n' .. failures(r, 'layer'))
  end)

  it('the same seed makes the same calls', function()
    -- and they end the same way: where they do not, the first case that
    -- differs is named with both endings
    local statefile, runs = os.tmpname(), {}
    for r = 1, 2 do
      local outcomes = os.tmpname()
      local code = ('arg = { 99, 500, %q, %q }\ndofile(%q)\n'):format(statefile, outcomes, THIS)
      local summary = child(code, 120, UB_GOES_ON):match('misuse: seed[^\n]*')
      local lines = {}
      for line in io.lines(outcomes) do lines[#lines + 1] = line end
      os.remove(outcomes)
      runs[r] = { summary = summary, lines = lines }
    end
    os.remove(statefile)
    local a, b = runs[1], runs[2]
    assert.is_truthy(a.summary)
    -- a line a case, numbered from 1; at least 500 (a generator that makes
    -- several calls may pass the count by a few in its last case: 502
    -- lines, numbered 1 to 502, were once taken for a fault); the two runs
    -- are compared line by line below
    for _, run in ipairs(runs) do
      local odd = {}
      for i, l in ipairs(run.lines) do
        if tonumber(l:match('^(%d+)')) ~= i and #odd < 6 then odd[#odd + 1] = ('line %d: %s'):format(i, l:sub(1, 300)) end
      end
      if #run.lines < 500 or #odd > 0 then
        error(('%d outcome lines, numbered out of order or fewer than 500; first odd ones:\n  %s'):format(#run.lines,
              table.concat(odd, '\n  ')))
      end
    end
    for i = 1, math.max(#a.lines, #b.lines) do
      -- the case's number, ending and op: an error's message and the
      -- arguments as printed may differ (the order of a table's keys,
      -- addresses, temporary names)
      local function key(l) return l and l:match('^[^\t]*\t[^\t]*\t[^\t]*') end
      if key(a.lines[i]) ~= key(b.lines[i]) then
        error(('case %d ended differently:\n  %s\n  %s'):format(i, tostring(a.lines[i]), tostring(b.lines[i])))
      end
    end
    assert.are.equal((a.summary:gsub('; [%d.]+ s$', '')), (b.summary:gsub('; [%d.]+ s$', '')))
  end)
end)

-- Bugs the random calls found, each a short program that must finish in
-- a few seconds and either return or raise an error naming the op.
local REGRESSIONS = {
  { 'zeros: 2^46 float32 elements (2^48 bytes, past the allocator cache\'s last bucket) is an error, not a crash',
    [[local keep = {}
      for i = 1, 200 do keep[i] = nl.ones(i * 100) end    -- live and cached blocks
      return nl.zeros(2 ^ 46)]], '^full: out of memory' },
  { 'a zero size does not hide two sizes of 2^40 from the shape check (their strides overflowed)',
    [[local t = nl.zeros(0, 2 ^ 40, 2 ^ 40)
      error(('made shape %s; the stride of dim 1, 2^80, overflowed to %d'):format(nl._shape_str(t), t:stride(1)))]],
    '^full: ' },
  { 'expand to 2^120 elements is an error (the element count overflowed)',
    [[local t = nl.ones(1, 1, 1):expand(2 ^ 40, 2 ^ 40, 2 ^ 40)
      assert(t:numel() == 2 ^ 120, 'numel overflowed to ' .. t:numel())]], '^expand: ' },
  { 'view of an empty tensor as [4, 2^62, 4], whose size product wrapped to 0 (an element write then landed outside the storage)',
    [[local v = nl.zeros(0):view(4, 2 ^ 62, 4)
      v[3][2 ^ 61][4] = 1]], '^view: ' },
  { 'int64 arithmetic past 2^63 (signed overflow in the kernels; UBSan sees it)',
    [[local a = nl.tensor({ 2 ^ 62, -2 ^ 63 }, 'int64')
      return (a * 4):totable(), (-a):totable(), a:pow(3):totable(), (a + a):totable()]], '^[a-z]+: ' },
  { 'nn.Flatten with an end_dim far out of range (a loop over 2^40 dims)',
    [[return nn.Flatten(1, -2 ^ 40)(nl.zeros(2, 3))]], 'Flatten' },
  { 'nn.Upsample with a size of 2^40 (an index table built in Lua)',
    [[return nn.Upsample({ size = 2 ^ 40 })(nl.zeros(1, 1, 1, 1))]], 'Upsample' },
  { 'nn.Upsample with a scale factor of 2^40',
    [[return nn.Upsample(2 ^ 40)(nl.zeros(1, 1, 1, 1))]], 'Upsample' },
  { 'nn.LSTM with num_layers = math.huge (a loop creating layers)',
    [[return nn.LSTM(1, 1, { num_layers = math.huge })]], 'LSTM' },
  { 'model:predict with batch_size 0 (a for loop of step 0)',
    [[return nn.Linear(2, 2):predict(nl.ones(3, 2), { batch_size = 0 })]], 'predict' },
  { 'DataLoader with batch_size = math.huge, iter(-math.huge) (a batch of infinite length)',
    [[for _ in nl.data.DataLoader({ 1, 2, 3 }, { batch_size = math.huge }):iter(-math.huge) do break end]], 'DataLoader' },
  { 'nn.load of a checkpoint whose model structure claims 1e12 constructor arguments',
    [[nn.Linear(2, 2):save('m.safetensors')
      local t, meta = nl.load_safetensors('m.safetensors')
      meta.model = meta.model:gsub('"n":2', '"n":1e12')
      nl.save_safetensors('bad.safetensors', t, meta)
      return nn.load('bad.safetensors')]], 'load' },
}

describe('misuse regressions', function()
  for _, reg in ipairs(REGRESSIONS) do
    it(reg[1], function()
      -- a loop in Lua stops at 3 s (a count hook), one in C at 15 s (killed)
      local out, rc = child(([[
        local nl = require 'nnlua'
        local nn = nl.nn
        jit.off()
        local stop = nl.time() + 3
        debug.sethook(function()
          if nl.time() > stop then debug.sethook(); error('misuse: still running after 3 s', 0) end
        end, '', 1000)
        local ok, err = pcall(function() %s end)
        debug.sethook()
        io.write(ok and 'returned\n' or ('error\t' .. tostring(err):gsub('^[^\n]-%%.lua:%%d+: ', '') .. '\n'))
      ]]):format(reg[2]), 15)
      assert(rc ~= 137, 'still running after 15 s (a hang): ' .. reg[2])
      assert.are.equal(0, rc, out)
      assert(not out:find('still running', 1, true), 'a hang: ' .. reg[2] .. '\n' .. out)
      local msg = ('\n' .. out):match('\nerror\t([^\n]*)')       -- (ASan may have warned first)
      assert(('\n' .. out):find('\nreturned\n') or (msg and msg:find(reg[3])),
             'expected an error naming ' .. reg[3] .. ', got: ' .. out)
    end)
  end
end)

-- The files the fuzzers of tests/fuzz/ start from (corpus/<harness>/) and
-- the inputs that once crashed one (regressions/<harness>/), through the
-- Lua loaders the harnesses exercise in C. Each gives tensors or an error
-- naming the loader. The first byte of an IDX or CSV input holds the
-- loader's options, as in the harnesses.
describe('fuzz corpora and regressions', function()
  it('every file loads or raises an error naming its loader', function()
    local p = io.popen('find ' .. q(S.root .. '/tests/fuzz/corpus') .. ' ' .. q(S.root .. '/tests/fuzz/regressions')
                       .. ' -type f ! -name "*.md" 2>/dev/null | sort')
    local files = {}
    for line in p:lines() do
      local kind = line:match('/([%w_]+)/[^/]+$')
      if kind == 'safetensors' or kind == 'idx' or kind == 'csv' then files[#files + 1] = { kind, line } end
    end
    p:close()
    assert.is_true(#files >= 3, 'no corpus files found under tests/fuzz')
    local list = {}
    for _, f in ipairs(files) do list[#list + 1] = ('{ %q, %q }'):format(f[1], f[2]) end
    local out, rc = child(([[
      io.stdout:setvbuf('no')
      local nl = require 'nnlua'
      local function read(path) local f = assert(io.open(path, 'rb')); local s = f:read('*a'); f:close(); return s end
      local function write(path, s) local f = assert(io.open(path, 'wb')); f:write(s); f:close(); return path end
      local DELIMS = { ',', ';', '\t', '|', ' ' }
      local bad = 0
      for _, f in ipairs({ %s }) do
        local kind, path = f[1], f[2]
        print('loading ' .. path)
        -- a loaded tensor's element count and strides agree with its shape
        local function check(t)
          local n, s = 1, 1
          for d = t:dim(), 1, -1 do
            if t:size(d) > 1 and t:stride(d) ~= s then error('tensor of shape ' .. nl._shape_str(t) .. ' has stride ' .. t:stride(d) .. ' in dim ' .. d) end
            s = s * t:size(d)
            n = n * t:size(d)
          end
          if t:numel() ~= n then error('tensor of shape ' .. nl._shape_str(t) .. ' counts ' .. t:numel() .. ' elements') end
          t:sum()
        end
        local ok, err = pcall(function()
          if kind == 'safetensors' then
            for _, t in pairs(nl.load_safetensors(path)) do check(t) end
            return
          end
          local s = read(path)
          local flags, body = s:byte(1) or 0, s:sub(2)
          write('input', body)
          if kind == 'idx' then
            local file = 'input'
            if bit.band(flags, 4) ~= 0 then os.execute('gzip -c input > input.gz'); file = 'input.gz' end
            check(nl.data.load_idx(file, ({ nil, 'float32', 'float64', 'int64' })[flags %% 4 + 1]))
          else
            check(nl.data.load_csv('input', { delimiter = DELIMS[flags %% 5 + 1], header = math.floor(flags / 5) %% 3 > 0 }))
          end
        end)
        local msg = not ok and tostring(err):gsub('^[^\n]-%%.lua:%%d+: ', '') or nil
        if msg and not msg:find('^load_') then
          bad = bad + 1
          print('BAD ' .. path .. ': ' .. msg)
        end
      end
      print(('done, %%d bad'):format(bad))
    ]]):format(table.concat(list, ', ')), 120)
    assert(rc ~= 137, 'killed after 120 s (a hang) ' .. out:sub(-500))
    assert(out:find('done, 0 bad', 1, true), ('exit status %s: %s'):format(tostring(rc), out:sub(-3000)))
  end)
end)
