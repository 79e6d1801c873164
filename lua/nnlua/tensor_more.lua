-- tensor_more.lua: the rest of PyTorch 1.13's everyday Tensor methods and
-- torch functions. The special functions that need a kernel (tan, the
-- inverse and hyperbolic trigonometry, log1p, expm1, log2, log10, exp2,
-- erf, erfc, erfinv, lgamma, digamma, polygamma, atan2, hypot, fmod,
-- remainder) are ops_math.c's, with their backward; everything else is
-- composed of existing ops, so that autograd follows it: sign, frac,
-- reciprocal, rsqrt, square, sinc, logical ops, fmax, fmin, any, all, prod,
-- amax, amin, aminmax, norm, dist, renorm, std_mean, var_mean, the isnan
-- family, nan_to_num, heaviside, logaddexp, xlogy, the dim moves (mT,
-- swapaxes, tile, repeat), take, take_along_dim, index_fill, index_copy,
-- masked_scatter, squeeze of a list of dims, clamp_min, clamp_max, addcmul,
-- addcdiv, and in-place forms. Loaded after tensor.lua, tensor_linalg.lua
-- and tensor_sortops.lua. Predicates give 1/0 masks of the (promoted)
-- input dtype, as nnlua's comparisons do: there is no bool dtype.
local ffi = require 'ffi'

return function(nl)
  local lib, Tensor = nl._lib, nl.Tensor
  local wrap, T, check, raise, cdim, argerror = nl._wrap, nl._T, nl._check, nl._raise, nl._cdim, nl._argerror
  local is_tensor, shape_str, describe = nl.is_tensor, nl._shape_str, nl._describe_arg
  local result_dtype, broadcast = nl._result_dtype, nl._broadcast_shape
  local INF = math.huge
  local C_op = {}
  for i = 0, tonumber(lib.NL_OP_COUNT) - 1 do C_op[ffi.string(lib.nl_op_name(i))] = i end
  -- the largest finite value of each float dtype (nan_to_num's default)
  local FINITE_MAX = { float32 = 3.4028234663852886e38, float64 = 1.7976931348623157e308 }

  -- ---- argument helpers ---------------------------------------------------------

  local function no_extra(op, takes, ...)
    if select('#', ...) > 0 then nl._no_extra_args(op, takes, nil, ...) end
  end
  local function flag(op, what, v)
    if v ~= nil and type(v) ~= 'boolean' then argerror(op, what .. ' as a boolean', v) end
    return v == true
  end
  local function grad_on() return lib.nl_is_grad_enabled() ~= 0 end
  local function requires(x) return is_tensor(x) and x.ptr ~= nil and bit.band(x.ptr.flags, 1) ~= 0 end
  local function sizes(p)
    local s = {}
    for i = 0, p.ndim - 1 do s[i + 1] = tonumber(p.sizes[i]) end
    return s
  end
  local function shape_str_p(p) return '[' .. table.concat(sizes(p), ',') .. ']' end
  -- the tensor of x, which must be a float tensor, or an error naming op
  local function float_input(op, x)
    local p = T(x, op)
    if p.dtype == 2 then raise(('%s: expected a float input, got int64 %s'):format(op, shape_str(x))) end
    return p
  end
  -- a and b (tensors or numbers, one a tensor at least) as tensors of
  -- their promoted dtype (PyTorch's result_type), float32 for int64 where
  -- float_result; each checked and named by op
  local function operands(op, a, b, float_result)
    -- (a, then b: ipairs stopped at a nil a, which nl.tensor then named)
    for i = 1, 2 do
      local x = select(i, a, b)
      if is_tensor(x) then T(x, op)
      elseif type(x) ~= 'number' then argerror(op, 'a tensor or a number', x) end
    end
    if not is_tensor(a) and not is_tensor(b) then argerror(op, 'a tensor among the operands', a) end
    local dt = result_dtype(a, b)
    if float_result and dt == 'int64' then dt = nl._default_float() end
    local function as(x) return is_tensor(x) and Tensor.to(x, dt) or nl.tensor(x, dt) end
    return as(a), as(b), dt
  end
  -- q, given a zero gradient toward the tensors of list that require grad
  -- (PyTorch's zero gradients of sign, frac's trunc, floor_divide...): q
  -- where an all-false condition picks it over their sum
  local function with_zero_grad(q, list)
    if not grad_on() then return q end
    local carrier
    for _, x in ipairs(list) do
      if requires(x) then
        local s = Tensor.sum(x)
        carrier = carrier and carrier + s or s
      end
    end
    if not carrier then return q end
    return nl.where(nl.zeros(Tensor.shape(q), 'int64'), carrier, q)
  end
  -- f as op: an error an inner op raises names op first (nan_to_num's
  -- float32 check said "where: ..."); tensor_linalg.lua's
  local as_op = nl._as_op
  -- the 0-based dims of p that d names (a dim, a list of them, or nil or
  -- {} for all of them), highest first; each once
  local function dims_of(op, p, d)
    local list = d
    if type(d) == 'number' then list = { d } end
    if d == nil then list = {} end
    local n = nl._list_len(list)
    if not n or is_tensor(list) then argerror(op, 'a dim or a list of dims', d) end
    local out, seen = {}, {}
    if n == 0 then
      for c = math.max(p.ndim, 1) - 1, 0, -1 do out[#out + 1] = c end
      return out, true
    end
    for i = 1, n do
      local c = cdim(list[i], op, p)
      if c < 0 then c = c + math.max(p.ndim, 1) end
      if seen[c] then
        raise(('%s: dim %s appears more than once in the list of dims for shape %s'):format(op, describe(list[i]),
                                                                                           shape_str_p(p)))
      end
      seen[c] = true
      out[i] = c
    end
    table.sort(out, function(x, y) return x > y end)
    return out, false
  end

  -- The in-place form name of f: t = f(t, ...) computed without a graph,
  -- then copied into t. t is checked as every in-place destination is; a
  -- tensor argument that requires grad is refused (in-place ops are not
  -- recorded, so its gradient would be lost); the result must keep t's
  -- shape, and int64 t an int64 result, as PyTorch's in-place ops require.
  local function in_place(name, f)
    return function(t, ...)
      check(lib.nl_inplace_check(T(t, name), name))
      if grad_on() then
        for i = 1, select('#', ...) do
          local x = select(i, ...)
          if requires(x) then
            raise(('%s: argument %d of shape %s requires grad, but in-place ops are not recorded, so its gradient '
                   .. 'would be lost; use the out-of-place op, or detach() it'):format(name, i, shape_str(x)))
          end
        end
      end
      local args = { ... }
      local n = select('#', ...)
      local r = nl.no_grad(function() return f(t, unpack(args, 1, n)) end)
      if shape_str(r) ~= shape_str(t) then
        raise(('%s: the result has shape %s, not the shape %s of the tensor it would be written into'):format(
          name, shape_str(r), shape_str(t)))
      end
      if Tensor.dtype(t) == 'int64' and Tensor.dtype(r) ~= 'int64' then
        raise(('%s: result of dtype %s cannot be stored in an int64 tensor'):format(name, Tensor.dtype(r)))
      end
      return Tensor.copy_(t, r)
    end
  end

  -- name as a method and an nl. function, its errors naming it; with
  -- inplace, name_ too
  local function define(name, f, inplace)
    Tensor[name] = as_op(name, f)
    nl[name] = Tensor[name]
    if inplace then
      Tensor[name .. '_'] = as_op(name .. '_', in_place(name .. '_', f))
    end
  end
  nl._in_place = in_place          -- (tensor_compat.lua makes in-place forms so too)
  local function alias(name, of)
    Tensor[name], nl[name], Tensor[name .. '_'] = Tensor[of], nl[of], Tensor[of .. '_']
  end

  -- ---- special functions with a kernel (ops_math.c) --------------------------------

  for _, name in ipairs({ 'tan', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'acosh', 'atanh', 'log1p', 'expm1',
                          'log2', 'log10', 'exp2', 'erf', 'erfc', 'erfinv', 'lgamma', 'digamma' }) do
    local opid = C_op[name]
    define(name, function(t, ...)
      no_extra(name, '()', ...)
      return wrap(lib.nl_math(opid, T(t, name), 0))
    end, true)
  end
  -- PyTorch's arc aliases
  for _, name in ipairs({ 'sin', 'cos', 'tan', 'sinh', 'cosh', 'tanh' }) do
    if Tensor['a' .. name] then alias('arc' .. name, 'a' .. name) end
  end

  -- polygamma: nl.polygamma(n, x) and x:polygamma(n), as PyTorch's
  -- (the n-th derivative of digamma; n = 0 is digamma)
  local function order(op, n)
    if type(n) ~= 'number' or n ~= math.floor(n) or n < 0 or n >= 2 ^ 31 then
      raise(('%s: n must be a whole number >= 0, got %s'):format(op, describe(n)))
    end
    return n
  end
  function Tensor.polygamma(t, n, ...)
    no_extra('polygamma', '(n)', ...)
    local p = T(t, 'polygamma')
    return wrap(lib.nl_math(C_op.polygamma, p, order('polygamma', n)))
  end
  function nl.polygamma(n, t, ...)
    no_extra('polygamma', '(n, input)', ...)
    if is_tensor(n) and type(t) == 'number' then
      raise('polygamma: nl.polygamma takes (n, input), as torch.polygamma; x:polygamma(n) takes n alone')
    end
    return Tensor.polygamma(t, n)
  end
  Tensor.polygamma_ = as_op('polygamma_', in_place('polygamma_', Tensor.polygamma))

  -- atan2, hypot, fmod, remainder: tensors or numbers, promoted
  for _, name in ipairs({ 'atan2', 'hypot', 'fmod', 'remainder' }) do
    local opid = C_op[name]
    define(name, function(a, b, ...)
      no_extra(name, '(input, other)', ...)
      local x, y, dt = operands(name, a, b, name == 'atan2')
      if name == 'hypot' and dt == 'int64' then raise('hypot: expected float operands, got int64 (as PyTorch)') end
      return wrap(lib.nl_math2(opid, x.ptr, y.ptr))
    end, true)
  end
  alias('arctan2', 'atan2')

  -- ---- composed elementwise functions ------------------------------------------------

  -- sign: -1, 0 or 1 (0 for NaN, as PyTorch 1.13's CPU kernel), a zero
  -- gradient; sgn is the same for real tensors
  define('sign', function(t, ...)
    no_extra('sign', '()', ...)
    T(t, 'sign')
    return with_zero_grad(nl.no_grad(function() return Tensor.gt(t, 0) - Tensor.lt(t, 0) end), { t })
  end, true)
  alias('sgn', 'sign')
  -- frac: t - trunc(t), of the sign of t; float only, as PyTorch's
  define('frac', function(t, ...)
    no_extra('frac', '()', ...)
    float_input('frac', t)
    return t - Tensor.trunc(t)
  end, true)
  define('reciprocal', function(t, ...)
    no_extra('reciprocal', '()', ...)
    return Tensor.div(1, t)
  end, true)
  -- rsqrt: 1 / sqrt(t), pow's kernel for the exponent -0.5
  define('rsqrt', function(t, ...)
    no_extra('rsqrt', '()', ...)
    T(t, 'rsqrt')
    return Tensor.pow(t, -0.5)
  end, true)
  define('square', function(t, ...)
    no_extra('square', '()', ...)
    return Tensor.mul(t, t)
  end, true)
  -- sinc: sin(pi x) / (pi x), 1 at 0 (its gradient 0 there), as PyTorch's.
  -- For |pi x| < 0.1 its Taylor series 1 - z^2/6 + z^4/120 - ... (z = pi x,
  -- to z^8, relative error < 1e-17): the quotient's gradient was NaN at a
  -- tiny x (1e-45 float32, 1e-310 float64: (pi x)^2 underflows to 0) and
  -- lost digits to cancellation below that (36% off at x = 1e-8)
  define('sinc', function(t, ...)
    no_extra('sinc', '()', ...)
    local p = T(t, 'sinc')
    if p.dtype == 2 then t = Tensor.to(t, nl._default_float()) end
    local small = nl.no_grad(function() return Tensor.lt(Tensor.abs(t), 0.1 / math.pi) end)
    local px = nl.where(small, 1, t) * math.pi
    local z2 = Tensor.square(nl.where(small, t, 0) * math.pi)
    local series = 1 - z2 * (1 / 6 - z2 * (1 / 120 - z2 * (1 / 5040 - z2 * (1 / 362880))))
    return nl.where(small, series, Tensor.sin(px) / px)
  end, true)
  -- deg2rad, rad2deg: products with PyTorch's constants (int64 gives float32)
  define('deg2rad', function(t, ...)
    no_extra('deg2rad', '()', ...)
    T(t, 'deg2rad')
    return Tensor.mul(t, 0.017453292519943295769236907684886127134428718885417)
  end, true)
  define('rad2deg', function(t, ...)
    no_extra('rad2deg', '()', ...)
    T(t, 'rad2deg')
    return Tensor.mul(t, 57.295779513082320876798154814105170332405472466564)
  end, true)
  -- floor_divide: div(a, b, 'floor'), PyTorch 1.13's rounding (earlier
  -- versions truncated); a zero gradient
  define('floor_divide', function(a, b, ...)
    no_extra('floor_divide', '(input, other)', ...)
    return Tensor.div(a, b, 'floor')
  end, true)

  -- logaddexp(a, b): log(e^a + e^b) as max + log1p(e^-|a - b|) (two equal
  -- infinities give that infinity); logaddexp2 the same in base 2; float
  -- operands, as PyTorch's
  for _, name in ipairs({ 'logaddexp', 'logaddexp2' }) do
    define(name, function(a, b, ...)
      no_extra(name, '(input, other)', ...)
      local x, y, dt = operands(name, a, b)
      if dt == 'int64' then raise(name .. ': expected float operands, got int64 (as PyTorch)') end
      local m, d = Tensor.maximum(x, y), Tensor.abs(x - y)
      local r
      if name == 'logaddexp' then r = m + Tensor.log1p(Tensor.exp(-d))
      else r = m + Tensor.log1p(Tensor.exp2(-d)) * (1 / math.log(2)) end
      local same_inf = nl.no_grad(function() return Tensor.eq(x, y) * Tensor.eq(Tensor.abs(x), INF) end)
      return nl.where(same_inf, x, r)
    end)
  end
  -- xlogy(x, y): x * log(y), 0 where x is 0 (unless y is NaN), as
  -- PyTorch's; int64 gives float32. The gradient is PyTorch 1.13's: log(y)
  -- for x (at x = 0 too, but 0 where y <= 0), x / y for y (0 at x = 0)
  define('xlogy', function(a, b, ...)
    no_extra('xlogy', '(input, other)', ...)
    local x, y = operands('xlogy', a, b, true)
    local zero, c = nl.no_grad(function()
      local z = Tensor.eq(x, 0) * Tensor.eq(y, y)
      local finite_pos = z * Tensor.gt(y, 0) * Tensor.lt(y, INF)
      return z, nl.where(finite_pos, Tensor.log(nl.where(finite_pos, y, 1)), 0)
    end)
    -- where x is 0, x times a finite constant: the value 0 and x's
    -- gradient log(y); log of a safe 1 in the other branch there (log(0)
    -- gave its gradient 0 * -inf = NaN through the branch not taken)
    return nl.where(zero, x * c, x * Tensor.log(nl.where(zero, 1, y)))
  end, true)
  -- heaviside(values): 0 below 0, 1 above, values at 0 (NaN gives 0), of
  -- one dtype, as PyTorch's; no gradient, as there
  define('heaviside', function(t, values, ...)
    no_extra('heaviside', '(values)', ...)
    T(t, 'heaviside')
    if not is_tensor(values) then argerror('heaviside', 'a tensor as values', values) end
    if Tensor.dtype(t) ~= Tensor.dtype(values) then
      raise(('heaviside: the input (%s) and values (%s) must have one dtype, as in PyTorch'):format(Tensor.dtype(t),
                                                                                                   Tensor.dtype(values)))
    end
    broadcast('heaviside', t, values)
    return nl.no_grad(function() return nl.where(Tensor.eq(t, 0), values, Tensor.gt(t, 0)) end)
  end, true)

  -- ---- predicates and logical ops: 1/0 masks, no gradient ------------------------------

  local function mask_of(t, f)
    return nl.no_grad(function() return f(t, T(t).dtype == 2) end)
  end
  define('isnan', function(t, ...)
    no_extra('isnan', '()', ...)
    T(t, 'isnan')
    return mask_of(t, function(x) return Tensor.ne(x, x) end)
  end)
  for name, v in pairs({ isinf = 0, isposinf = INF, isneginf = -INF }) do
    define(name, function(t, ...)
      no_extra(name, '()', ...)
      T(t, name)
      return mask_of(t, function(x, int)
        if int then return nl.zeros(Tensor.shape(x), 'int64') end
        return v == 0 and Tensor.eq(Tensor.abs(x), INF) or Tensor.eq(x, v)
      end)
    end)
  end
  define('isfinite', function(t, ...)
    no_extra('isfinite', '()', ...)
    T(t, 'isfinite')
    return mask_of(t, function(x, int)
      if int then return nl.ones(Tensor.shape(x), 'int64') end
      return Tensor.eq(x - x, 0)
    end)
  end)
  -- signbit: 1 where the sign bit is set: negative numbers and -0 (the
  -- sign of a NaN is not read: 0)
  define('signbit', function(t, ...)
    no_extra('signbit', '()', ...)
    T(t, 'signbit')
    return mask_of(t, function(x, int)
      if int then return Tensor.lt(x, 0) end
      return Tensor.maximum(Tensor.lt(x, 0), Tensor.eq(x, 0) * Tensor.lt(Tensor.div(1, x), 0))
    end)
  end)

  -- logical_and, _or, _xor, _not: nonzero (NaN too) is true; 1/0 in the
  -- promoted dtype (logical_not: the input's)
  local function truth(x) return Tensor.ne(x, 0) end
  local LOGICAL = {
    logical_and = function(a, b) return truth(a) * truth(b) end,
    logical_or = function(a, b) return Tensor.maximum(truth(a), truth(b)) end,
    logical_xor = function(a, b) return Tensor.ne(truth(a), truth(b)) end,
  }
  for name, f in pairs(LOGICAL) do
    define(name, function(a, b, ...)
      no_extra(name, '(other)', ...)
      local x, y = operands(name, a, b)
      return nl.no_grad(function() return f(x, y) end)
    end, true)
  end
  define('logical_not', function(t, ...)
    no_extra('logical_not', '()', ...)
    T(t, 'logical_not')
    return nl.no_grad(function() return Tensor.eq(t, 0) end)
  end, true)

  -- fmax, fmin: maximum and minimum that ignore a NaN beside a number (NaN
  -- where both are); equal values give the input the gradient, as PyTorch's
  for name, cmp in pairs({ fmax = 'ge', fmin = 'le' }) do
    define(name, function(a, b, ...)
      no_extra(name, '(other)', ...)
      local x, y = operands(name, a, b)
      local pick_x = nl.no_grad(function() return Tensor.maximum(Tensor[cmp](x, y), Tensor.ne(y, y)) end)
      return nl.where(pick_x, x, y)
    end)
  end

  -- nan_to_num([nan], [posinf], [neginf]) or ({nan, posinf, neginf}): NaN
  -- as nan (0), the infinities as posinf and neginf (the dtype's largest
  -- finite values); int64 as it is; the gradient passes where t is finite
  define('nan_to_num', function(t, nan, posinf, neginf, ...)
    no_extra('nan_to_num', '([nan], [posinf], [neginf])', ...)
    local p = T(t, 'nan_to_num')
    nan, posinf, neginf = nl._opts_or_args('nan_to_num', 'nan posinf neginf', nan, posinf, neginf)
    for what, v in pairs({ nan = nan, posinf = posinf, neginf = neginf }) do
      if v ~= nil and type(v) ~= 'number' then argerror('nan_to_num', 'a number or nil as ' .. what, v) end
    end
    if p.dtype == 2 then return Tensor.clone(t) end
    local big = FINITE_MAX[Tensor.dtype(t)]
    local isnan, pos, neg = nl.no_grad(function() return Tensor.ne(t, t), Tensor.eq(t, INF), Tensor.eq(t, -INF) end)
    local r = nl.where(isnan, nan or 0, t)
    r = nl.where(pos, posinf or big, r)
    return nl.where(neg, neginf or -big, r)
  end, true)

  -- ---- reductions ----------------------------------------------------------------------

  -- any(dim, keepdim), all(...): whether some (every) element along dim
  -- (a list of dims, or all) is nonzero (NaN counts), 1/0 of t's dtype;
  -- the any of nothing is 0 and its all 1, as PyTorch's
  for name, of_zeros in pairs({ any = false, all = true }) do
    define(name, function(t, d, keepdim, ...)
      no_extra(name, '([dim], [keepdim])', ...)
      local p = T(t, name)
      flag(name, 'keepdim', keepdim)
      if d ~= nil then dims_of(name, p, d) end
      return nl.no_grad(function()
        local hits = Tensor.long(of_zeros and Tensor.eq(t, 0) or Tensor.ne(t, 0))
        local n = Tensor.sum(hits, d, keepdim)
        return Tensor.to(of_zeros and Tensor.eq(n, 0) or Tensor.gt(n, 0), Tensor.dtype(t))
      end)
    end)
  end

  -- prod([dim], [keepdim], [dtype]): the product over dim (or of all), t
  -- converted to dtype first; the last of cumprod, whose gradient PyTorch's
  -- prod_backward gives (zeros among the factors too); of nothing, 1
  define('prod', function(t, d, keepdim, dtype, ...)
    no_extra('prod', '([dim], [keepdim], [dtype])', ...)
    -- prod(dtype) and prod(dim, dtype): the dtype moved to its place, when
    -- that place is free (prod(2, 'float64', x) dropped x)
    if type(d) == 'string' then
      if keepdim ~= nil or dtype ~= nil then no_extra('prod', '([dtype])', keepdim, dtype) end
      d, dtype = nil, d
    end
    if type(keepdim) == 'string' then
      if dtype ~= nil then no_extra('prod', '([dim], [dtype])', dtype) end
      keepdim, dtype = nil, keepdim
    end
    if dtype ~= nil then t = Tensor.to(t, dtype) end
    local p = T(t, 'prod')
    flag('prod', 'keepdim', keepdim)
    if d == nil then
      if keepdim then raise('prod: keepdim needs a dim (the product of all is one number)') end
      local n = tonumber(p.numel)
      -- (of nothing, 1, in t's graph: a constant 1 refused backward where
      -- PyTorch gives an empty gradient)
      if n == 0 then return Tensor.add(Tensor.mul(Tensor.sum(t), 0), 1) end
      return Tensor.select(Tensor.cumprod(Tensor.reshape(t, n), 1), 1, n)
    end
    if type(d) ~= 'number' then argerror('prod', 'one dim (as PyTorch\'s prod)', d) end
    local c = cdim(d, 'prod', p)
    if p.ndim == 0 then return Tensor.clone(t) end
    if c < 0 then c = c + p.ndim end
    local n = tonumber(p.sizes[c])
    local r
    if n == 0 then
      r = Tensor.add(Tensor.mul(Tensor.sum(t, c + 1, true), 0), 1)
    else
      r = Tensor.narrow(Tensor.cumprod(t, c + 1), c + 1, n, 1)
    end
    if keepdim then return r end
    return Tensor.squeeze(r, c + 1)
  end)

  -- amax(dim, keepdim), amin(...): the max (min) over dims (a dim, a list,
  -- or nil or {} for all), NaN propagating; the gradient is shared evenly
  -- among the elements equal to it, as PyTorch's (max(dim) gives it to one).
  -- A lane whose result is NaN gives every element of it a NaN gradient,
  -- as PyTorch 1.13's (its share over no equal elements is 0/0; nnlua gave
  -- 0), unless nan_zero (the inf-norm's, which PyTorch gives 0 there).
  local function extreme(name, t, d, keepdim, nan_zero)
    local p = T(t, name)
    flag(name, 'keepdim', keepdim)
    local dims = dims_of(name, p, d)
    local pick = name == 'amax' and Tensor.max or Tensor.min
    for _, c in ipairs(dims) do
      if p.ndim > 0 and p.sizes[c] == 0 then
        raise(('%s: cannot reduce dim %d of size 0 in shape %s'):format(name, c + 1, shape_str(t)))
      end
    end
    local v = nl.no_grad(function()
      local r = t
      for _, c in ipairs(dims) do r = pick(r, c + 1, true) end
      return r
    end)
    local r = v
    if requires(t) and grad_on() then
      -- c: the sum of the equal elements over their count, the gradient's
      -- carrier; the value is v's (the mean of k equal values rounds)
      local eq = nl.no_grad(function() return Tensor.eq(t, v) end)
      local list = {}
      for i, c in ipairs(dims) do list[i] = c + 1 end
      local c = Tensor.sum(nl.where(eq, t, 0), list, true) / Tensor.sum(eq, list, true)
      local finite = nl.no_grad(function() return Tensor.eq(v - v, 0) end)
      r = nl.where(finite, v - (Tensor.detach(c) - c), c)
      local nan = nl.no_grad(function() return Tensor.ne(v, v) end)
      if not nan_zero and Tensor.item(Tensor.sum(nan)) > 0 then
        -- sum(t * k), k NaN in the NaN lanes and 0 in the others: NaN
        -- values and gradients there, a gradient of 0 elsewhere
        local k = nl.no_grad(function() return nl.where(nan, v, 0) end)
        r = nl.where(nan, Tensor.sum(t * k, list, true), r)
      end
    end
    if keepdim then return r end
    if p.ndim == 0 then return Tensor.reshape(r, {}) end
    for _, c in ipairs(dims) do r = Tensor.squeeze(r, c + 1) end
    return r
  end
  for _, name in ipairs({ 'amax', 'amin' }) do
    define(name, function(t, d, keepdim, ...)
      no_extra(name, '([dim], [keepdim])', ...)
      return extreme(name, t, d, keepdim)
    end)
  end
  -- aminmax({dim, keepdim}): amin and amax (two results); nnlua gives
  -- their gradients, where PyTorch 1.13 has none
  define('aminmax', function(t, opts, ...)
    no_extra('aminmax', '([{dim, keepdim}])', ...)
    opts = nl._opts('aminmax', opts)
    nl._check_opts('aminmax', opts, { dim = 1, keepdim = 'flag' })
    if opts.dim ~= nil and type(opts.dim) ~= 'number' then argerror('aminmax', 'one dim', opts.dim) end
    -- (the minimum under aminmax's name, for its errors: extreme takes
    -- every name but amax's as a min)
    return extreme('aminmax', t, opts.dim, opts.keepdim), extreme('amax', t, opts.dim, opts.keepdim)
  end)

  -- norm([p], [dim], [keepdim]): the p-norm over dim (a dim, a list, or
  -- all): p a number (2 by default), inf and -inf (the largest and smallest
  -- |x|, gradient shared among ties), 0 (the count of nonzeros, gradient
  -- 0) or 'fro' (2); 'nuc', the nuclear norm (nl.linalg.matrix_norm's) of
  -- a 2-D t, or over two dims.
  -- Roots through nl._root_or_zero: a zero norm has the gradient 0, as
  -- PyTorch's. Float input, as PyTorch's.
  local function pnorm(op, t, p, d, keepdim)
    float_input(op, t)
    if p == nil or p == 'fro' then p = 2 end
    if p == 'nuc' then
      if d == nil and T(t, op).ndim ~= 2 then
        raise(("%s: p = 'nuc' needs a 2-D tensor or two dims, got shape %s"):format(op, shape_str(t)))
      end
      return nl._matrix_norm(op, t, 'nuc', d, keepdim)
    end
    if type(p) ~= 'number' or p ~= p then argerror(op, "p a number, inf, -inf or 'fro'", p) end
    flag(op, 'keepdim', keepdim)
    if type(d) == 'table' and #d == 0 then d = nil end
    local a = Tensor.abs(t)
    if p == INF or p == -INF then
      return extreme(p == INF and 'amax' or 'amin', a, d, keepdim, true)
    end
    if p == 0 then
      return with_zero_grad(nl.no_grad(function() return Tensor.sum(Tensor.ne(t, 0) * 1, d, keepdim) end), { t })
    end
    if p == 1 then return Tensor.sum(a, d, keepdim) end
    if p == 2 then return nl._root_or_zero(Tensor.sum(t * t, d, keepdim), 2) end
    return nl._root_or_zero(Tensor.sum(Tensor.pow(a, p), d, keepdim), p)
  end
  define('norm', function(t, p, d, keepdim, ...)
    no_extra('norm', '([p], [dim], [keepdim])', ...)
    return pnorm('norm', t, nl._opts_or_args('norm', 'p dim keepdim:flag', p, d, keepdim))
  end)
  -- t:dist(other, [p]): norm(t - other, p), broadcast. A method only:
  -- nl.dist is the distributed runtime.
  Tensor.dist = as_op('dist', function(t, other, p, ...)
    no_extra('dist', '(other, [p])', ...)
    T(t, 'dist')
    if not is_tensor(other) then argerror('dist', 'a tensor as other', other) end
    return pnorm('dist', t - other, p)
  end)

  -- renorm(p, dim, maxnorm): each slice along dim whose p-norm (over the
  -- other dims) passes maxnorm scaled to maxnorm / (norm + 1e-7), as
  -- PyTorch's; the gradient through the norm too, as its renorm_backward
  define('renorm', function(t, p, d, maxnorm, ...)
    no_extra('renorm', '(p, dim, maxnorm)', ...)
    local tp = float_input('renorm', t)
    if type(p) ~= 'number' or not (p > 0) then raise('renorm: p must be a number > 0, got ' .. describe(p)) end
    if type(maxnorm) ~= 'number' or not (maxnorm >= 0) then
      raise('renorm: maxnorm must be a number >= 0, got ' .. describe(maxnorm))
    end
    if tp.ndim == 0 then raise('renorm: needs a tensor of at least one dim, got a 0-dim one') end
    local c = cdim(d, 'renorm', tp)
    if c < 0 then c = c + tp.ndim end
    local rest = {}
    for i = 0, tp.ndim - 1 do if i ~= c then rest[#rest + 1] = i + 1 end end
    local n = #rest == 0 and Tensor.abs(t) or pnorm('renorm', t, p, rest, true)
    local over = nl.no_grad(function() return Tensor.gt(n, maxnorm) end)
    return t * nl.where(over, Tensor.div(maxnorm, n + 1e-7), 1)
  end, true)

  -- std_mean, var_mean: (std, mean) and (var, mean), the arguments of std
  -- and var ((dim, unbiased, keepdim), an options table, or none)
  for name, f in pairs({ std_mean = 'std', var_mean = 'var' }) do
    define(name, function(t, d, a, b, ...)
      no_extra(name, '([dim], [unbiased], [keepdim])', ...)
      T(t, name)
      -- mean's dim and keepdim, read from the forms std's arguments take
      local dim, keepdim = d, b
      if type(d) == 'boolean' then dim, keepdim = nil, a
      elseif type(d) == 'table' and not is_tensor(d) and type(d[1]) ~= 'number' then dim, keepdim = nil, d.keepdim
      elseif type(a) == 'table' then keepdim = a.keepdim end
      local s = Tensor[f](t, d, a, b)
      return s, Tensor.mean(t, dim, keepdim == true)
    end)
  end

  -- ---- dims and copies -------------------------------------------------------------------

  -- t(): 0-D and 1-D tensors as they are, 2-D transposed, as PyTorch's
  -- (t and squeeze are not wrapped by as_op: layers call them on every
  -- step, and their errors already name them)
  local t2 = Tensor.t
  function Tensor.t(t, ...)
    no_extra('t', '()', ...)
    local p = T(t, 't')
    if p.ndim < 2 then return Tensor.view(t, sizes(p)) end
    return t2(t)
  end
  nl.t = Tensor.t
  -- mT(): the last two dims swapped (PyTorch's property; a method here)
  function Tensor.mT(t, ...)
    no_extra('mT', '()', ...)
    local p = T(t, 'mT')
    if p.ndim < 2 then raise('mT: expected a tensor of at least 2 dims, got shape ' .. shape_str(t)) end
    return Tensor.transpose(t, -2, -1)
  end
  -- swapaxes, swapdims: transpose's aliases
  Tensor.swapaxes, Tensor.swapdims = Tensor.transpose, Tensor.transpose
  nl.swapaxes, nl.swapdims, nl.transpose = Tensor.transpose, Tensor.transpose, Tensor.transpose

  -- the counts of repeat and tile, from (n1, n2, ...) or a list
  local function counts(op, ...)
    local list = select('#', ...) == 1 and type(...) == 'table' and ... or { ... }
    local n = nl._list_len(list)
    if not n or is_tensor(list) then argerror(op, 'counts as numbers or a list', (...)) end
    for i = 1, n do
      local v = list[i]
      if type(v) ~= 'number' or v ~= math.floor(v) or v < 0 or v >= 2 ^ 53 then
        raise(('%s: counts must be whole numbers >= 0, got %s'):format(op, describe(v)))
      end
    end
    return list, n
  end
  -- t repeated r[i] times along each dim i (r as long as t's dims at
  -- least, t taking leading 1s): a view of (r1, s1, r2, s2, ...) expanded,
  -- reshaped; the gradient adds the copies
  local function repeated(op, t, r)
    local p = T(t, op)
    local n = #r
    if n > 8 then raise(('%s: %d dims requested; tensors have at most 8'):format(op, n)) end
    local s = sizes(p)
    while #s < n do table.insert(s, 1, 1) end
    -- one dim at a time, seen as (before, 1, dim, after): the 1 expanded
    -- to r[i] and merged with the dim, so the copies come outermost (the
    -- whole dim, again); at most 4 dims whatever t's
    local x = Tensor.reshape(t, s)
    for i = 1, n do
      if r[i] ~= 1 then
        local before, after = 1, 1
        for k = 1, i - 1 do before = before * s[k] end
        for k = i + 1, n do after = after * s[k] end
        local e = Tensor.expand(Tensor.reshape(x, before, 1, s[i], after), before, r[i], s[i], after)
        s[i] = s[i] * r[i]
        x = Tensor.reshape(e, s)
      end
    end
    if x == t then x = Tensor.view(t, s) end
    return x
  end
  -- repeat(n1, n2, ...): at least t's dims of counts, as PyTorch's (a Lua
  -- keyword: call it as t['repeat'](t, 2, 3), or use tile)
  Tensor['repeat'] = as_op('repeat', function(t, ...)
    local r, n = counts('repeat', ...)
    local p = T(t, 'repeat')
    if n < p.ndim then
      raise(('repeat: %d counts for a tensor of %d dims (at least one per dim)'):format(n, p.ndim))
    end
    return repeated('repeat', t, r)
  end)
  -- tile(dims): repeat with counts of 1 put before when fewer than t's dims
  define('tile', function(t, ...)
    local r = counts('tile', ...)
    local p = T(t, 'tile')
    local full = {}
    for i = 1, p.ndim - #r do full[i] = 1 end
    for i = 1, #r do full[#full + 1] = r[i] end
    return repeated('tile', t, full)
  end)

  -- idx (an int64 tensor or a list) of 1-based indices into n places,
  -- negative ones (from the end) made positive; one out of range is
  -- refused naming op and what it indexes
  local function index_tensor(op, idx)
    if type(idx) == 'table' and not is_tensor(idx) then
      for i, v in ipairs(idx) do
        if type(v) ~= 'number' or v ~= math.floor(v) then
          raise(('%s: expected whole-number indices, got %s at position %d'):format(op, describe(v), i))
        end
      end
      idx = nl.tensor(idx, 'int64')
    end
    if not is_tensor(idx) then argerror(op, 'an int64 tensor of indices', idx) end
    if Tensor.dtype(idx) ~= 'int64' then
      raise(('%s: indices must be an int64 tensor, got %s'):format(op, Tensor.dtype(idx)))
    end
    return idx
  end
  -- (in: the tensor's shape, named after the range)
  local function resolved(op, idx, n, what, in_shape)
    idx = index_tensor(op, idx)
    if Tensor.numel(idx) == 0 then return idx end
    local lo, hi = Tensor.item(Tensor.min(idx)), Tensor.item(Tensor.max(idx))
    local zeros = Tensor.item(Tensor.sum(Tensor.eq(idx, 0)))
    if hi > n or lo < -n or zeros > 0 then
      local bad = hi > n and hi or (lo < -n and lo or 0)
      raise(('%s: index %d out of range for %s of size %d (1 to %d, or -1 to -%d)%s'):format(op, bad, what, n, n, n,
        in_shape and ' in shape ' .. in_shape or ''))
    end
    if lo < 0 then idx = nl.where(Tensor.lt(idx, 0), idx + (n + 1), idx) end
    return idx
  end
  -- take(index): the elements of t (read flat, row-major) at index, of
  -- index's shape; the gradient adds back at repeated indices
  define('take', function(t, idx, ...)
    no_extra('take', '(index)', ...)
    local n = Tensor.numel(t)
    local i = resolved('take', idx, n, 'a tensor')
    local flat = Tensor.reshape(t, n)
    local shape = Tensor.shape(i)
    if Tensor.numel(i) == 0 then return Tensor.reshape(Tensor.narrow(flat, 1, 1, 0), shape) end
    if n == 0 then raise('take: index into an empty tensor') end
    return Tensor.reshape(Tensor.index_select(flat, 1, Tensor.reshape(i, -1)), shape)
  end)
  -- take_along_dim(indices, [dim]): gather along dim with t and indices
  -- broadcast in the other dims; no dim: take of the flattened tensor
  define('take_along_dim', function(t, idx, d, ...)
    no_extra('take_along_dim', '(indices, [dim])', ...)
    local p = T(t, 'take_along_dim')
    if not is_tensor(idx) then argerror('take_along_dim', 'an int64 tensor of indices', idx) end
    if d == nil then return Tensor.take(Tensor.reshape(t, -1), Tensor.reshape(idx, -1)) end
    local ip = T(idx, 'take_along_dim')
    if ip.ndim ~= p.ndim then
      raise(('take_along_dim: indices of %d dims for a tensor of %d (shapes %s and %s)'):format(ip.ndim, p.ndim,
        shape_str(idx), shape_str(t)))
    end
    local c = cdim(d, 'take_along_dim', p)
    if c < 0 then c = c + p.ndim end
    local ts, is = sizes(p), sizes(ip)
    local tb, ib = {}, {}
    for i = 1, p.ndim do
      if i == c + 1 then tb[i], ib[i] = ts[i], is[i]
      else
        if ts[i] ~= is[i] and ts[i] ~= 1 and is[i] ~= 1 then
          raise(('take_along_dim: shapes %s and %s do not broadcast outside dim %d'):format(shape_str(t),
            shape_str(idx), c + 1))
        end
        local m = ts[i] == 1 and is[i] or ts[i]
        tb[i], ib[i] = m, m
      end
    end
    local i = resolved('take_along_dim', idx, ts[c + 1], 'dim ' .. (c + 1))
    return Tensor.gather(Tensor.expand(t, tb), c + 1, Tensor.expand(i, ib))
  end)

  -- a mask along dim c of p (1 at the index's places), shaped to broadcast
  -- against t; the index checked as op's
  local function index_mask(op, p, c, idx)
    local n = p.ndim == 0 and 1 or tonumber(p.sizes[c])
    local i = resolved(op, idx, n, 'dim ' .. (c + 1), shape_str_p(p))
    if Tensor.dim(i) > 1 then raise(('%s: index must be 0-D or 1-D, got shape %s'):format(op, shape_str(i))) end
    i = Tensor.reshape(i, -1)
    local m = Tensor.index_add(nl.zeros(n, 'int64'), 1, i, nl.ones(Tensor.numel(i), 'int64'))
    local shape = {}
    for k = 0, p.ndim - 1 do shape[k + 1] = k == c and n or 1 end
    return Tensor.reshape(m, shape), i, m
  end
  local function index_dim(op, p, d)
    local c = cdim(d, op, p)
    if c < 0 then c = c + math.max(p.ndim, 1) end
    return c
  end
  -- index_fill(dim, index, value): t with the slices at index along dim set
  -- to value (a number, or a 0-dim tensor that gets their gradient)
  -- index_copy's and index_fill's C kernel (nl_index_put_, which checks
  -- their arguments in the order and words of the composition below),
  -- into t itself (in place) or a copy, when no gradient is asked for
  local function index_put(op, t, c, idx, src, fill, inplace)
    local i = index_tensor(op, idx)
    local r = inplace and t or Tensor.clone(t)
    check(lib.nl_index_put_(T(r, op), c, T(i, op), T(src, op), fill, 1))
    return r
  end
  -- value as a 0-dim tensor of p's dtype, or nil where masked_fill would
  -- refuse it or it requires grad (the composition then goes, naming it)
  local function fill_value(p, value)
    local dt = ({ [0] = 'float32', 'float64', 'int64' })[tonumber(p.dtype)]
    if type(value) == 'number' then
      if p.dtype == 0 and value == value and math.abs(value) > FINITE_MAX.float32 and math.abs(value) < INF then
        return nil
      end
      if p.dtype == 2 then
        if not (value >= -2 ^ 63 and value < 2 ^ 63) then return nil end
        value = value >= 0 and math.floor(value) or math.ceil(value)
      end
      return nl.tensor(value, dt)
    end
    if is_tensor(value) and value.ptr ~= nil and value.ptr.ndim == 0 and not (grad_on() and requires(value)) then
      return Tensor.to(value, dt)
    end
  end
  local function index_fill(t, d, idx, value, ...)
    no_extra('index_fill', '(dim, index, value)', ...)
    local p = T(t, 'index_fill')
    if not (grad_on() and requires(t)) then
      local v = fill_value(p, value)
      if v then return index_put('index_fill', t, index_dim('index_fill', p, d), idx, v, 1, false) end
    end
    local m = index_mask('index_fill', p, index_dim('index_fill', p, d), idx)
    if p.ndim == 0 then m = Tensor.reshape(m, {}) end
    return Tensor.masked_fill(t, m, value)
  end
  define('index_fill', index_fill, true)
  -- a 0-dim source into a 1-D t: the slice of one index, of shape [1], as
  -- PyTorch 1.13 takes it (it was refused naming the shapes)
  local function one_slice(p, src, idx)
    local n = is_tensor(idx) and Tensor.numel(idx) or type(idx) == 'table' and #idx
    if p.ndim == 1 and n == 1 and src.ptr ~= nil and src.ptr.ndim == 0 then return Tensor.reshape(src, { 1 }) end
    return src
  end
  -- index_copy(dim, index, source): t with slice k of source at index[k]
  -- along dim; an index given twice is refused (PyTorch leaves which
  -- copy wins unspecified)
  define('index_copy', function(t, d, idx, src, ...)
    no_extra('index_copy', '(dim, index, source)', ...)
    local p = T(t, 'index_copy')
    if not is_tensor(src) then argerror('index_copy', 'a tensor as source', src) end
    src = one_slice(p, src, idx)
    local c = index_dim('index_copy', p, d)
    if not (grad_on() and (requires(t) or requires(src))) then return index_put('index_copy', t, c, idx, src, 0, false) end
    local _, i, counts1 = index_mask('index_copy', p, c, idx)
    if Tensor.numel(counts1) > 0 and Tensor.item(Tensor.max(counts1)) > 1 then
      raise('index_copy: an index appears more than once (which copy would win is unspecified)')
    end
    if Tensor.dtype(src) ~= Tensor.dtype(t) then
      raise(('index_copy: source (%s) and the tensor (%s) must have one dtype'):format(Tensor.dtype(src),
                                                                                   Tensor.dtype(t)))
    end
    if p.ndim == 0 then
      if Tensor.numel(src) ~= 1 then raise('index_copy: a 0-dim tensor takes a one-element source') end
      return with_zero_grad(Tensor.clone(Tensor.reshape(src, {})), { t })
    end
    -- one C op with its C backward: scatter by the index laid along dim
    -- over the source's shape (t's gradient g but at the index, the
    -- source's g at the index; the mask, an index_add into zeros and a
    -- where took 2.5 times the instructions)
    local ts, ss, k = sizes(p), Tensor.shape(src), Tensor.numel(i)
    local ok, along = #ss == #ts, {}
    for q = 1, #ts do
      ok = ok and ss[q] == (q == c + 1 and k or ts[q])
      along[q] = q == c + 1 and k or 1
    end
    if not ok then
      raise(("index_copy: source of shape %s must be the tensor's shape %s but %d (the index's length) in dim %d")
        :format(shape_str(src), shape_str(t), k, c + 1))
    end
    return Tensor.scatter(t, c + 1, Tensor.contiguous(Tensor.expand(Tensor.reshape(i, along), ss)), src)
  end, true)
  -- index_copy_ and index_fill_ write into t itself (the result made
  -- whole and copied back took twice as long); t and the arguments are
  -- checked as in_place checks them, then as the op's
  local function in_place_put(name, takes, fill)
    local op = name .. '_'
    Tensor[op] = as_op(op, function(t, d, idx, src, ...)
      check(lib.nl_inplace_check(T(t, op), op))
      if grad_on() then
        local args = { d, idx, src, ... }
        for i = 1, select('#', ...) + 3 do
          if requires(args[i]) then
            raise(('%s: argument %d of shape %s requires grad, but in-place ops are not recorded, so its gradient '
                   .. 'would be lost; use the out-of-place op, or detach() it'):format(op, i, shape_str(args[i])))
          end
        end
      end
      no_extra(name, takes, ...)
      local p = T(t, name)
      if fill then
        local v = fill_value(p, src)
        -- (a value masked_fill refuses: the composition names it)
        if not v then return Tensor.copy_(t, nl.no_grad(function() return index_fill(t, d, idx, src) end)) end
        return index_put(name, t, index_dim(name, p, d), idx, v, 1, true)
      end
      if not is_tensor(src) then argerror(name, 'a tensor as source', src) end
      return index_put(name, t, index_dim(name, p, d), idx, one_slice(p, src, idx), 0, true)
    end)
  end
  in_place_put('index_copy', '(dim, index, source)', false)
  in_place_put('index_fill', '(dim, index, value)', true)
  -- masked_scatter(mask, source): t with the places where mask (broadcast
  -- to t) is nonzero taking source's elements in order (row-major); the
  -- gradient goes to those elements of source
  define('masked_scatter', function(t, mask, src, ...)
    no_extra('masked_scatter', '(mask, source)', ...)
    local p = T(t, 'masked_scatter')
    T(mask, 'masked_scatter')
    if not is_tensor(src) then argerror('masked_scatter', 'a tensor as source', src) end
    if Tensor.dtype(src) ~= Tensor.dtype(t) then
      raise(('masked_scatter: source (%s) and the tensor (%s) must have one dtype'):format(Tensor.dtype(src),
                                                                                       Tensor.dtype(t)))
    end
    -- t and the mask broadcast together, the result of their shape, as
    -- PyTorch 1.13's (a mask of more dims than t was refused); the in-place
    -- form refuses a result of another shape than t's
    local shape = broadcast('masked_scatter', t, mask)
    if table.concat(shape, ',') ~= table.concat(sizes(p), ',') then t = Tensor.expand(t, shape) end
    local m = nl.no_grad(function() return Tensor.long(Tensor.ne(Tensor.expand(mask, shape), 0)) end)
    local flat = Tensor.reshape(Tensor.contiguous(m), -1)
    local k = Tensor.numel(flat) > 0 and Tensor.item(Tensor.sum(flat)) or 0
    if k > Tensor.numel(src) then
      raise(('masked_scatter: the mask selects %d places, but source has %d elements'):format(k, Tensor.numel(src)))
    end
    if k == 0 then return with_zero_grad(Tensor.clone(t), { src }) end
    local place = nl.where(flat, Tensor.cumsum(flat, 1), 1)
    local taken = Tensor.reshape(Tensor.index_select(Tensor.reshape(src, -1), 1, place), shape)
    return nl.where(m, taken, t)
  end, true)

  -- squeeze(dims) with a list of dims: each of size 1 removed (others
  -- kept, as squeeze(dim) keeps them)
  local squeeze1 = Tensor.squeeze
  function Tensor.squeeze(t, d, ...)
    if type(d) ~= 'table' or is_tensor(d) then return squeeze1(t, d, ...) end
    no_extra('squeeze', '([dim])', ...)
    local p = T(t, 'squeeze')
    local r = t
    for _, c in ipairs((dims_of('squeeze', p, d))) do r = squeeze1(r, c + 1) end
    return r
  end
  nl.squeeze = Tensor.squeeze
  nl.unsqueeze = Tensor.unsqueeze

  -- ---- bounds, products with a scale, and in-place forms ---------------------------------

  define('clamp_min', function(t, v, ...)
    no_extra('clamp_min', '(min)', ...)
    if v == nil then argerror('clamp_min', 'a number or a tensor as min', v) end
    return Tensor.clamp(t, v, nil)
  end, true)
  define('clamp_max', function(t, v, ...)
    no_extra('clamp_max', '(max)', ...)
    if v == nil then argerror('clamp_max', 'a number or a tensor as max', v) end
    return Tensor.clamp(t, nil, v)
  end, true)

  -- addcmul(t1, t2, [value]) or (t1, t2, {value}): t + value * t1 * t2;
  -- addcdiv: t + value * t1 / t2 (float operands, as PyTorch's)
  local function scale_value(op, value)
    if type(value) == 'table' and not is_tensor(value) then
      nl._check_opts(op, value, { value = 1 })
      value = value.value
    end
    if value == nil then return 1 end
    if type(value) ~= 'number' then argerror(op, 'a number as value', value) end
    return value
  end
  for name, f in pairs({ addcmul = Tensor.mul, addcdiv = Tensor.div }) do
    define(name, function(t, t1, t2, value, ...)
      no_extra(name, '(tensor1, tensor2, [value])', ...)
      T(t, name)
      if not is_tensor(t1) then argerror(name, 'a tensor as tensor1', t1) end
      if not is_tensor(t2) then argerror(name, 'a tensor as tensor2', t2) end
      value = scale_value(name, value)
      if name == 'addcdiv' and Tensor.dtype(t1) == 'int64' and Tensor.dtype(t2) == 'int64' then
        raise('addcdiv: integer division of tensor1 by tensor2 is not supported (as PyTorch); use float tensors')
      end
      local all_int = Tensor.dtype(t) == 'int64' and Tensor.dtype(t1) == 'int64' and Tensor.dtype(t2) == 'int64'
      if all_int and value ~= math.floor(value) then
        raise(('%s: value %s is not a whole number, for int64 tensors'):format(name, describe(value)))
      end
      broadcast(name, t, t1, t2)
      local prod = value == 1 and f(t1, t2) or f(Tensor.mul(t1, value), t2)
      return t + prod
    end, true)
  end

  -- in-place forms of tensor_linalg.lua's ops
  for _, name in ipairs({ 'tril', 'triu', 'lerp', 'addmm', 'addmv', 'baddbmm', 'addbmm', 'fmax', 'fmin',
                          'logaddexp', 'logaddexp2' }) do
    if not Tensor[name .. '_'] and Tensor[name] then
      Tensor[name .. '_'] = as_op(name .. '_', in_place(name .. '_', Tensor[name]))
    end
  end
  -- (PyTorch has no fmax_, fmin_, logaddexp_ or logaddexp2_)
  Tensor.fmax_, Tensor.fmin_, Tensor.logaddexp_, Tensor.logaddexp2_ = nil, nil, nil, nil
  -- in-place forms tensor.lua lacks for its own elementwise ops
  for _, name in ipairs({ 'pow' }) do
    if not Tensor[name .. '_'] then Tensor[name .. '_'] = as_op(name .. '_', in_place(name .. '_', Tensor[name])) end
  end
  -- where as a method: cond:where? PyTorch's x.where(condition, y)
  Tensor.where = as_op('where', function(t, cond, other, ...)
    no_extra('where', '(condition, other)', ...)
    return nl.where(cond, t, other)
  end)
end
