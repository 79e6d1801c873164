-- torch_compat.lua: the last small PyTorch 1.13 names nnlua lacked: the
-- Tensor method forms of torch_ops.lua's linear algebra (t:lu(),
-- t:triangular_solve(A), ...), torch.*'s in-place function forms (gcd_,
-- logit_, ...), igamma and igammac, t:prelu, angle of real tensors, and
-- what a PyTorch script asks of a tensor's device and memory: the layout
-- and backend predicates, get_device, pin_memory, share_memory_, cuda,
-- data_ptr, the legacy t:new(...), the float32 matmul precision flag,
-- frombuffer and autocast. nnlua runs on the CPU in one process: the
-- device predicates are false, the memory stubs return the tensor itself,
-- and what would need a GPU or half precision raises an error saying so.
-- No kernels of its own: checks and calls of existing ops. One of the
-- Tensor extras (init.lua), loaded last.
local ffi = require 'ffi'

return function(nl)
  local Tensor, T, raise, argerror, shape_str = nl.Tensor, nl._T, nl._raise, nl._argerror, nl._shape_str
  local as_op, in_place, is_tensor, describe = nl._as_op, nl._in_place, nl.is_tensor, nl._describe_arg
  local acc, no_extra_args = nl._accessors, nl._no_extra_args


  -- ---- linear algebra as methods -------------------------------------------------

  -- t:lu(...), t:lu_solve(LU, pivots) (t is b), t:symeig(...),
  -- t:triangular_solve(A, ...) (t is b), t:geqrf(), t:orgqr(tau),
  -- t:ormqr(tau, C, ...): torch_ops.lua's functions with t first, as
  -- PyTorch's methods; solve, lstsq and eig raise as theirs do
  for _, name in ipairs({ 'lu', 'lu_solve', 'symeig', 'triangular_solve', 'geqrf', 'orgqr', 'ormqr',
                          'solve', 'lstsq', 'eig' }) do
    Tensor[name] = function(t, ...)
      T(t, name)
      return nl[name](t, ...)
    end
  end

  -- ---- torch.* in-place forms, aliases ----------------------------------------------

  -- nl.gcd_(t, other) and the others: t:gcd_(other), ...
  for _, name in ipairs({ 'gcd_', 'lcm_', 'logit_', 'ldexp_', 'addmv_' }) do
    if Tensor[name] and not rawget(nl, name) then nl[name] = Tensor[name] end
  end
  -- igamma(a, x), igammac(a, x): special.gammainc and gammaincc (the
  -- regularized incomplete gamma functions; the gradient is x's only, a's
  -- an error, as 1.13's)
  for name, of in pairs({ igamma = 'gammainc', igammac = 'gammaincc' }) do
    local function f(a, x, ...)
      no_extra_args(name, '(other)', nil, ...)
      T(a, name)
      return nl.special[of](a, x)
    end
    Tensor[name] = as_op(name, f)
    nl[name] = Tensor[name]
    Tensor[name .. '_'] = as_op(name .. '_', in_place(name .. '_', f))
  end
  -- t:prelu(weight): nn.functional.prelu
  Tensor.prelu = function(t, weight, ...)
    T(t, 'prelu')
    return nl.prelu(t, weight, ...)
  end

  -- angle(t) of real numbers: 0 for x >= 0 (-0 too), pi for x < 0, NaN
  -- where x is NaN; int64 gives the default dtype (float32 unless
  -- nl.set_default_dtype). Its gradient is 0 (1.13's for real input), NaN
  -- places included.
  local function angle(t, ...)
    no_extra_args('angle', '()', nil, ...)
    local p = T(t, 'angle')
    local x = p.dtype == 2 and Tensor.to(t, nl._default_float()) or t
    local r = nl.no_grad(function()
      local v = nl.where(Tensor.lt(x, 0), math.pi, nl.zeros_like(x))
      return nl.where(Tensor.ne(x, x), x, v)
    end)
    if x.is_requires_grad and nl.is_grad_enabled() then
      -- a zero term that ties the result to x (0 times a finite stand-in,
      -- so inf and NaN give no NaN gradient)
      local finite = nl.no_grad(function() return Tensor.isfinite(x) end)
      r = r + nl.where(finite, x, 0) * 0
    end
    return r
  end
  Tensor.angle = as_op('angle', angle)
  nl.angle = Tensor.angle

  -- ---- the device and the memory ------------------------------------------------

  -- fields, as PyTorch's properties: no tensor here is sparse, quantized,
  -- meta, MKL-DNN, nested or on another backend; the layout is 'strided'
  -- (nl.strided); output_nr is 0 (each nnlua graph node makes one tensor)
  for _, name in ipairs({ 'is_sparse', 'is_sparse_csr', 'is_quantized', 'is_meta', 'is_mkldnn', 'is_nested',
                          'is_vulkan', 'is_xpu', 'is_ipu', 'is_mps', 'is_ort' }) do
    acc[name] = function(t) T(t, name) return false end
  end
  acc.layout = function(t) T(t, 'layout') return 'strided' end
  acc.output_nr = function(t) T(t, 'output_nr') return 0 end
  nl.strided = 'strided'
  -- methods, as PyTorch's: is_pinned(), is_shared(), is_distributed()
  -- false; get_device() -1 (the CPU)
  for _, name in ipairs({ 'is_pinned', 'is_shared', 'is_distributed' }) do
    Tensor[name] = function(t, ...)
      T(t, name)
      no_extra_args(name, '()', nil, ...)
      return false
    end
  end
  Tensor.get_device = function(t, ...)
    T(t, 'get_device')
    no_extra_args('get_device', '()', nil, ...)
    return -1
  end
  -- pin_memory() and share_memory_(): t itself. nnlua has no page-locked
  -- memory to pin (nothing copies to a GPU), and its processes share no
  -- tensor memory (nl.dist and the data workers send copies), so is_pinned
  -- and is_shared stay false after them.
  for _, name in ipairs({ 'pin_memory', 'share_memory_' }) do
    Tensor[name] = function(t, ...)
      T(t, name)
      no_extra_args(name, '()', nil, ...)
      return t
    end
  end
  -- cuda(), xpu(), ipu(): an error, nnlua runs on the CPU
  for _, name in ipairs({ 'cuda', 'xpu', 'ipu' }) do
    Tensor[name] = function(t)
      T(t, name)
      raise(('%s: nnlua is CPU-only (it has no %s device); the tensor of shape %s stays in CPU memory: leave out '
             .. 'the %s() call'):format(name, name, shape_str(t), name))
    end
  end
  -- data_ptr(): the address of the first element, a Lua number (exact:
  -- addresses are below 2^53)
  Tensor.data_ptr = function(t, ...)
    local p = T(t, 'data_ptr')
    no_extra_args('data_ptr', '()', nil, ...)
    return tonumber(ffi.cast('uintptr_t', p.data))
  end
  -- t:new(...): PyTorch's legacy constructor, t's dtype: new() an empty
  -- (0) tensor, new(d1, d2, ...) an uninitialized one of those sizes,
  -- new(table) one of the table's values
  Tensor.new = as_op('new', function(t, ...)
    T(t, 'new')
    local dt, n, first = Tensor.dtype(t), select('#', ...), ...
    if n == 0 then return nl.empty({ 0 }, dt) end
    if type(first) == 'table' and not is_tensor(first) then
      no_extra_args('new', '(data)', nil, select(2, ...))
      return nl.tensor(first, dt)
    end
    local sizes = {}
    for i = 1, n do
      local s = select(i, ...)
      if type(s) ~= 'number' or s < 0 or s ~= math.floor(s) then
        raise(('new: expected sizes (whole numbers >= 0) or a table of values, got %s as argument %d%s'):format(
          describe(s), i, is_tensor(s) and ' (t:clone() or t:to(dtype) copy a tensor)' or ''))
      end
      sizes[i] = s
    end
    return nl.empty(sizes, dt)
  end)

  -- ---- flags and queries --------------------------------------------------------

  -- set_float32_matmul_precision('highest' | 'high' | 'medium'): recorded
  -- for get_float32_matmul_precision; nnlua's float32 products are always
  -- full float32 (no TF32 or bfloat16 passes on the CPU)
  local precision = 'highest'
  local PRECISIONS = { highest = true, high = true, medium = true }
  function nl.set_float32_matmul_precision(p, ...)
    no_extra_args('set_float32_matmul_precision', '(precision)', nil, ...)
    if not PRECISIONS[p] then argerror('set_float32_matmul_precision', "'highest', 'high' or 'medium'", p) end
    precision = p
  end
  function nl.get_float32_matmul_precision(...)
    if select('#', ...) > 0 then nl._no_extra_args('get_float32_matmul_precision', '()', nil, ...) end
    return precision
  end
  function nl.is_vulkan_available(...)
    if select('#', ...) > 0 then nl._no_extra_args('is_vulkan_available', '()', nil, ...) end
    return false
  end
  -- compiled_with_cxx11_abi(): true. nnlua has no C++ code; a C++
  -- extension built beside it takes its compiler's default, the C++11 ABI
  -- since GCC 5.
  function nl.compiled_with_cxx11_abi(...)
    if select('#', ...) > 0 then nl._no_extra_args('compiled_with_cxx11_abi', '()', nil, ...) end
    return true
  end

  -- ---- frombuffer ---------------------------------------------------------------

  -- frombuffer(buffer, dtype, [count], [offset]): a 1-D tensor of dtype
  -- read from a Lua string, an FFI array or struct (its ffi.sizeof bytes),
  -- or an FFI pointer followed by its length in bytes,
  -- frombuffer(ptr, nbytes, dtype, [count], [offset]). count elements
  -- (left out or negative: all the buffer holds after offset), from byte
  -- offset (from 0, as PyTorch's). nnlua copies the bytes (PyTorch's
  -- tensor shares the buffer): later writes to the buffer do not reach it.
  -- dtype 'uint8', 'int8', 'int16', 'int32' or 'bool' reads elements of
  -- that width into an int64 tensor of their values (bool's 1 and 0), as
  -- t:byte(), t:int() and t:bool() keep theirs.
  local BYTES = { float32 = 4, float64 = 8, int64 = 8, uint8 = 1, int8 = 1, int16 = 2, int32 = 4, bool = 1 }
  local SIGNED = { int8 = true, int16 = true, int32 = true }
  -- count elements of dtype's width w < 8 at p, little-endian, as int64:
  -- the bytes copied into whole int64 words, each word cut into its 8 / w
  -- fields by shifts and masks, a signed field's top bit taken as -2^(bits - 1)
  local function narrow_ints(p, count, dtype)
    local w = BYTES[dtype]
    local bits = 8 * w
    local words = nl.zeros({ math.ceil(count * w / 8) }, 'int64')
    ffi.copy(T(words).data, p, count * w)
    local fields = {}
    for k = 1, 8 / w do
      fields[k] = Tensor.bitwise_and(Tensor.bitwise_right_shift(words, bits * (k - 1)), 2 ^ bits - 1)
    end
    local v = Tensor.narrow(Tensor.reshape(nl.stack(fields, 2), -1), 1, 1, count)
    if SIGNED[dtype] then v = v - Tensor.bitwise_and(v, 2 ^ (bits - 1)) * 2 end
    if dtype == 'bool' then v = Tensor.ne(v, 0) end
    -- (uint8's v is still a narrow of all the fields: a copy, whose storage
    -- holds count elements, not the fields past them that as_strided
    -- reached; the others are new tensors already)
    return dtype == 'uint8' and Tensor.clone(v) or v
  end
  nl.frombuffer = as_op('frombuffer', function(buffer, ...)
    local op = 'frombuffer'
    local nbytes, src
    local args, n = { ... }, select('#', ...)
    if is_tensor(buffer) then
      raise(op .. ': expected a string or an FFI buffer, got a tensor (t:clone() copies one)')
    elseif type(buffer) == 'string' then
      nbytes, src = #buffer, buffer
    elseif type(buffer) == 'cdata' then
      local ct = tostring(ffi.typeof(buffer))
      -- the C type: a pointer or reference (to data, or to an array), an
      -- array (or a reference to one), a struct or union; a number, an
      -- enum or a function has no bytes to read (a cast of an integer to
      -- a pointer made its value an address)
      local c = ct:match('^ctype<(.*)>$'):gsub('^const ', ''):gsub('^volatile ', '')
      local pointer = c:find('[%*&]$') or c:find('%(%*%)%[')
      if not pointer and not c:find('%]$') and not c:find('^struct ') and not c:find('^union ') then
        raise(('%s: expected a string, an FFI array, struct or union, or a pointer and its length; got %s, which '
               .. 'holds no buffer'):format(op, ct))
      end
      if pointer then
        nbytes = args[1]
        if type(nbytes) ~= 'number' or nbytes < 0 or nbytes ~= math.floor(nbytes) or nbytes > 2 ^ 53 then
          raise(('%s: a pointer (%s) must be followed by its length in bytes, got %s'):format(op, ct, describe(nbytes)))
        end
        if buffer == nil and nbytes > 0 then raise(('%s: the pointer (%s) is NULL'):format(op, ct)) end
        table.remove(args, 1)
        n = n - 1
      else
        nbytes = ffi.sizeof(buffer)
        if not nbytes then raise(('%s: the size of %s is not known; pass a pointer and its length'):format(op, ct)) end
      end
      src = buffer
    else
      argerror(op, 'a string or an FFI buffer', buffer)
    end
    local dtype, count, offset = args[1], args[2], args[3]
    no_extra_args(op, '(buffer, dtype, count, offset)', nil, unpack(args, 4, math.max(n, 3)))
    local size = BYTES[dtype]
    if not size then
      raise(("%s: dtype must be 'float32', 'float64', 'int64', 'uint8', 'int8', 'int16', 'int32' or 'bool', got %s"):format(
        op, describe(dtype)))
    end
    offset = offset == nil and 0 or offset
    if type(offset) ~= 'number' or offset ~= math.floor(offset) or offset < 0 or offset >= math.max(nbytes, 1) then
      raise(('%s: offset (%s bytes) must be a whole number from 0 to the buffer\'s length (%d bytes) minus 1'):format(
        op, describe(offset), nbytes))
    end
    if count ~= nil and (type(count) ~= 'number' or count ~= math.floor(count) or math.abs(count) > 2 ^ 53) then
      argerror(op, 'a whole count', count)
    end
    if count == nil or count < 0 then
      if (nbytes - offset) % size ~= 0 then
        raise(('%s: the buffer\'s %d bytes after offset %d are not a multiple of the %s element size (%d)'):format(
          op, nbytes - offset, offset, dtype, size))
      end
      count = (nbytes - offset) / size
    end
    if nbytes == 0 or count == 0 then
      raise(('%s: neither the buffer length (%d) nor count (%d) may be 0'):format(op, nbytes, count))
    end
    if count * size > nbytes - offset then
      raise(('%s: %d %s elements (%d bytes) after offset %d do not fit in the buffer of %d bytes'):format(
        op, count, dtype, count * size, offset, nbytes))
    end
    local p = ffi.cast('const char *', src) + offset
    if size < 8 and dtype ~= 'float32' then
      if not ffi.abi('le') then raise(op .. ': ' .. dtype .. ' is read on little-endian machines only') end
      return narrow_ints(p, count, dtype)
    end
    local t = nl.empty({ count }, dtype)
    ffi.copy(T(t).data, p, count * size)
    return t
  end)

  -- ---- autocast -----------------------------------------------------------------

  -- autocast(device_type, [dtype], [enabled], [cache_enabled], fn): fn()'s
  -- results, the form of nl.no_grad. nnlua has no half types: disabled
  -- (enabled false), fn runs as it is; enabled on the CPU with dtype
  -- float32 or float64, fn runs as it is too (nothing is cast; 1.13 also
  -- disables CPU autocast for a dtype it does not take); bfloat16 or
  -- float16 (and no dtype: the CPU's default is bfloat16) raise an error,
  -- as does a device other than the CPU.
  local DEVICES = { cpu = true, cuda = true, xpu = true }
  local HALF = { bfloat16 = true, float16 = true, half = true }
  function nl.autocast(...)
    local op, n = 'autocast', select('#', ...)
    local args = { ... }
    local k
    for i = 1, math.min(n, 5) do
      if type(args[i]) == 'function' then k = i break end
    end
    if not k then
      raise(('%s: expected a function to run, autocast(device_type, [dtype], [enabled], [cache_enabled], fn), '
             .. 'got %s'):format(op, n == 0 and 'no arguments' or 'none among the first five arguments'))
    end
    no_extra_args(op, '(device_type, [dtype], [enabled], [cache_enabled], fn)', nil, unpack(args, k + 1, n))
    local fn = args[k]
    local device, dtype, enabled, cache = args[1], args[2], args[3], args[4]
    if k <= 4 then cache = nil end
    if k <= 3 then enabled = nil end
    if k <= 2 then dtype = nil end
    if not DEVICES[device] then argerror(op, "device_type 'cpu' (or 'cuda', 'xpu')", device) end
    if enabled ~= nil and type(enabled) ~= 'boolean' then argerror(op, 'a boolean enabled', enabled) end
    if cache ~= nil and type(cache) ~= 'boolean' then argerror(op, 'a boolean cache_enabled', cache) end
    if dtype ~= nil and not HALF[dtype] and dtype ~= 'float32' and dtype ~= 'float64' then
      argerror(op, "a dtype ('bfloat16', 'float16', 'float32' or 'float64')", dtype)
    end
    if enabled == false then return fn() end
    if device ~= 'cpu' then
      raise(("%s: nnlua is CPU-only (it has no %s device); use autocast('cpu', ...), or enabled = false"):format(
        op, device))
    end
    if dtype == nil or HALF[dtype] then
      raise(("%s: nnlua has no half-precision types (%s%s); run in float32 (leave out autocast, or pass dtype "
             .. "'float32' or enabled = false)"):format(op, dtype or 'bfloat16',
             dtype == nil and ", CPU autocast's default" or ''))
    end
    return fn()
  end
end
