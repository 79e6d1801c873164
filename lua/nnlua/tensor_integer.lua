-- tensor_integer.lua: PyTorch 1.13's integer ops on int64 tensors (the
-- only integer dtype nnlua has): bitwise_and, _or, _xor, _not and the
-- shifts, gcd and lcm (ops_integer.c's kernels, broadcasting), each as a
-- method, an in-place method and an nl function, with PyTorch's
-- __and__-style aliases as methods (LuaJIT has no bitwise operators to
-- hook); the casts to PyTorch's narrower dtypes, t:int(), short(),
-- char(), byte() and bool(), as int64 tensors holding the values those
-- dtypes would hold; half() and bfloat16() refused; and rsub, fill and
-- nextafter_. Loaded with the other Tensor extras.
local ffi = require 'ffi'

return function(nl)
  local lib, Tensor = nl._lib, nl.Tensor
  local wrap, T, check, raise, argerror = nl._wrap, nl._T, nl._check, nl._raise, nl._argerror
  local is_tensor, shape_str, describe, no_extra_args = nl.is_tensor, nl._shape_str, nl._describe_arg, nl._no_extra_args
  local int64_ct, uint64_ct = ffi.typeof('int64_t'), ffi.typeof('uint64_t')


  -- a number operand as the int64 the kernels take: a whole number in
  -- int64's range (past 2^53 a Lua number is already rounded: an int64
  -- cdata, 2LL^62 + 1, is exact), an int64 or uint64 cdata (the latter's
  -- bits), or a boolean as 1 or 0 (PyTorch takes True); a fraction is
  -- refused, as PyTorch refuses a float operand
  local function int_scalar(op, v)
    if type(v) == 'number' then
      if v == math.floor(v) and v >= -2 ^ 63 and v < 2 ^ 63 then return v end
      raise(('%s: expected an int64 tensor or a whole number in int64\'s range, got %s (the op is defined for '
             .. 'integers only)'):format(op, tostring(v)))
    end
    if ffi.istype(int64_ct, v) then return v end
    if ffi.istype(uint64_ct, v) then return ffi.cast(int64_ct, v) end
    if type(v) == 'boolean' then return v and 1 or 0 end
    argerror(op, 'an int64 tensor or a whole number', v)
  end

  -- ---- bitwise ops, shifts, gcd and lcm -------------------------------------------

  local function operation(name, op)
    local takes = '(input, other)'
    -- nl.<name>(a, b): a or b may be a number, not both
    local function f(a, b, ...)
      no_extra_args(name, takes, nil, ...)
      if is_tensor(a) then
        local p = T(a, name)
        if is_tensor(b) then return wrap(lib.nl_int_binary(op, p, T(b, name))) end
        return wrap(lib.nl_int_binary_scalar(op, p, int_scalar(name, b), 0))
      end
      if not is_tensor(b) then argerror(name, 'a tensor as input or other', a) end
      return wrap(lib.nl_int_binary_scalar(op, T(b, name), int_scalar(name, a), 1))
    end
    local function f_(t, b, ...)
      no_extra_args(name .. '_', '(other)', nil, ...)
      local p = T(t, name .. '_')
      if is_tensor(b) then check(lib.nl_int_binary_(op, p, T(b, name .. '_')))
      else check(lib.nl_int_binary_scalar_(op, p, int_scalar(name .. '_', b))) end
      return t
    end
    nl[name], Tensor[name], Tensor[name .. '_'] = f, f, f_
    return f, f_
  end
  local band, band_ = operation('bitwise_and', lib.NL_OP_BITWISE_AND)
  local bor, bor_ = operation('bitwise_or', lib.NL_OP_BITWISE_OR)
  local bxor, bxor_ = operation('bitwise_xor', lib.NL_OP_BITWISE_XOR)
  local shl, shl_ = operation('bitwise_left_shift', lib.NL_OP_BITWISE_LEFT_SHIFT)
  local shr, shr_ = operation('bitwise_right_shift', lib.NL_OP_BITWISE_RIGHT_SHIFT)
  operation('gcd', lib.NL_OP_GCD)
  operation('lcm', lib.NL_OP_LCM)

  -- bitwise_not: ~x, which is x xor -1
  local function int_input(op, t)
    local p = T(t, op)
    if p.dtype ~= 2 then
      raise(('%s: expected an int64 tensor, got %s %s (the op is defined for integers only)'):format(
        op, Tensor.dtype(t), shape_str(t)))
    end
    return p
  end
  function Tensor.bitwise_not(t, ...)
    no_extra_args('bitwise_not', '()', nil, ...)
    return wrap(lib.nl_int_binary_scalar(lib.NL_OP_BITWISE_XOR, int_input('bitwise_not', t), -1, 0))
  end
  nl.bitwise_not = Tensor.bitwise_not
  function Tensor.bitwise_not_(t, ...)
    no_extra_args('bitwise_not_', '()', nil, ...)
    check(lib.nl_int_binary_scalar_(lib.NL_OP_BITWISE_XOR, int_input('bitwise_not_', t), -1))
    return t
  end

  -- PyTorch's operator methods, as methods only: t:__and__(x) is t & x,
  -- t:__rand__(x) x & t, t:__iand__(x) t &= x (Lua 5.1 has no & to bind)
  for name, fs in pairs({ ['and'] = { band, band_ }, ['or'] = { bor, bor_ }, xor = { bxor, bxor_ },
                          lshift = { shl, shl_ }, rshift = { shr, shr_ } }) do
    local f, rname = fs[1], '__r' .. name .. '__'
    Tensor['__' .. name .. '__'] = f
    Tensor[rname] = function(t, x, ...)
      no_extra_args(rname, '(other)', nil, ...)
      T(t, rname)
      return f(x, t)
    end
    Tensor['__i' .. name .. '__'] = fs[2]
  end
  Tensor.__invert__ = Tensor.bitwise_not

  -- ---- casts to the dtypes nnlua lacks -------------------------------------------
  -- t:int(), short(), char() and byte(): int64 tensors holding the values
  -- PyTorch's int32, int16, int8 and uint8 casts give: floats truncated
  -- toward zero (as t:long()), then wrapped to the narrower type (300 as
  -- char is 44, -1 as byte 255). t:bool(): 1 where t is nonzero (NaN
  -- too), else 0, as nnlua's comparisons give masks. (A float past the
  -- narrower range converts as t:long() does first; PyTorch's result
  -- there is undefined behaviour in C++, platform-dependent.)
  local function integral(op, t)
    T(t, op)
    return Tensor.long(Tensor.detach(t))
  end
  local function signed(op, bits)
    Tensor[op] = function(t, ...)
      no_extra_args(op, '()', nil, ...)
      local x = integral(op, t)
      return shr(shl(x, 64 - bits), 64 - bits)
    end
  end
  signed('int', 32)
  signed('short', 16)
  signed('char', 8)
  function Tensor.byte(t, ...)
    no_extra_args('byte', '()', nil, ...)
    return band(integral('byte', t), 255)
  end
  function Tensor.bool(t, ...)
    no_extra_args('bool', '()', nil, ...)
    T(t, 'bool')
    return Tensor.long(Tensor.ne(Tensor.detach(t), 0))
  end
  for name, what in pairs({ half = 'float16', bfloat16 = 'bfloat16' }) do
    Tensor[name] = function(t)
      T(t, name)
      raise(('%s: dtype %s is not supported (nnlua has float32, float64 and int64); use t:float() or '
             .. 't:double()'):format(name, what))
    end
  end

  -- ---- rsub, fill, nextafter_, empty_strided ------------------------------------

  -- nl.rsub(input, other, [alpha]): other - alpha * input, as PyTorch's
  -- (sub with its operands swapped; input or other may be a number)
  -- (an error of sub is named 'rsub: sub: ...', nl._as_op's way)
  nl.rsub = nl._as_op('rsub', function(input, other, alpha, ...)
    no_extra_args('rsub', '(input, other, [alpha])', nil, ...)
    if not is_tensor(input) and not is_tensor(other) then argerror('rsub', 'a tensor as input or other', input) end
    return Tensor.sub(other, input, alpha)
  end)

  -- nl.fill(t, value), t:fill(value): a new tensor of t's shape and dtype
  -- holding value (a number, or a 0-dim tensor), as PyTorch's torch.fill;
  -- a 0-dim value that requires grad gets the sum of the gradient
  function Tensor.fill(t, v, ...)
    no_extra_args('fill', '(value)', nil, ...)
    T(t, 'fill')
    if is_tensor(v) then
      if Tensor.dim(v) ~= 0 then
        raise(('fill: the value must be a number or a 0-dim tensor, got a tensor of shape %s'):format(shape_str(v)))
      end
      local dt = Tensor.dtype(t)
      if v.is_requires_grad and dt ~= 'int64' and nl.is_grad_enabled() then
        return Tensor.clone(Tensor.expand(Tensor.to(v, dt), Tensor.shape(t)))
      end
      v = Tensor.item(v)
    elseif type(v) ~= 'number' then
      argerror('fill', 'a number or a 0-dim tensor', v)
    end
    return Tensor.fill_(nl.empty(Tensor.shape(t), Tensor.dtype(t)), v)
  end
  nl.fill = Tensor.fill

  -- t:nextafter_(other): t set to nl.nextafter(t, other), by nnlua's
  -- in-place rule (nl._in_place); nextafter's errors renamed 'nextafter_'
  Tensor.nextafter_ = nl._as_op('nextafter_', nl._in_place('nextafter_', Tensor.nextafter))
end
