-- tensor_random.lua: PyTorch 1.13's in-place random fills that nnlua
-- lacked (random_, cauchy_, geometric_, log_normal_) and nl.poisson and
-- nl.binomial, all drawn in C (rng.c) from the generator nl.manual_seed
-- seeds; and the element-wise Lua callbacks: Torch7's apply, map and map2
-- and PyTorch's apply_, map_ and map2_. Uniform, normal, bernoulli and
-- exponential fills are tensor_creation.lua's. One of the Tensor extras
-- (init.lua's TENSOR_EXTRAS): loaded on first use.
local ffi = require 'ffi'

return function(nl)
  local Tensor, T, raise, argerror, shape_str = nl.Tensor, nl._T, nl._raise, nl._argerror, nl._shape_str
  local lib, gen, wrap, check, no_extra_args = nl._lib, nl._generator, nl._wrap, nl._check, nl._no_extra_args


  -- ---- integer fills ----------------------------------------------------------------

  -- x as a whole number that int64 holds, or an error naming op and what
  local function whole(op, what, x)
    if ffi.istype('int64_t', x) then return x end
    if type(x) ~= 'number' or x ~= math.floor(x) or x < -2 ^ 63 or x >= 2 ^ 63 then
      raise(('%s: expected a whole number as %s, got %s'):format(op, what, nl._describe_arg(x)))
    end
    return x
  end
  -- t:random_(): whole numbers from 0 to the dtype's bound (2^24 float32,
  -- 2^53 float64, 2^63 - 1 int64, inclusive); t:random_(to): [0, to);
  -- t:random_(from, to): [from, to); t:random_(from, nil): from up to the
  -- bound (PyTorch's to=None)
  function Tensor.random_(t, ...)
    local n, from, to = select('#', ...), ...
    no_extra_args('random_', '([from], [to])', nil, select(3, ...))
    T(t, 'random_')
    if from == nil then
      check(lib.nl_random_(t.ptr, gen, 0, 0, 0))
    elseif to == nil and n >= 2 then
      check(lib.nl_random_(t.ptr, gen, whole('random_', 'from', from), 0, 0))
    elseif to == nil then
      check(lib.nl_random_(t.ptr, gen, 0, whole('random_', 'to', from), 1))
    else
      check(lib.nl_random_(t.ptr, gen, whole('random_', 'from', from), whole('random_', 'to', to), 1))
    end
    return t
  end

  -- ---- other distributions ----------------------------------------------------------

  local function param(op, what, x, default)
    if x == nil then return default end
    if type(x) ~= 'number' then argerror(op, 'a number as ' .. what, x) end
    return x
  end
  -- t:cauchy_([median = 0], [sigma = 1]): median + sigma tan(pi (u - 1/2))
  function Tensor.cauchy_(t, median, sigma, ...)
    no_extra_args('cauchy_', '([median], [sigma])', nil, ...)
    T(t, 'cauchy_')
    check(lib.nl_random_dist_(t.ptr, gen, lib.NL_RANDOM_CAUCHY, param('cauchy_', 'median', median, 0),
                              param('cauchy_', 'sigma', sigma, 1)))
    return t
  end
  -- t:geometric_(p): the number of Bernoulli(p) trials up to the first
  -- success (1, 2, ...), p in (0, 1]
  function Tensor.geometric_(t, p, ...)
    no_extra_args('geometric_', '(p)', nil, ...)
    T(t, 'geometric_')
    if type(p) ~= 'number' then argerror('geometric_', 'a probability p in (0, 1]', p) end
    check(lib.nl_random_dist_(t.ptr, gen, lib.NL_RANDOM_GEOMETRIC, p, 0))
    return t
  end
  -- t:log_normal_([mean = 1], [std = 2]): exp of normal draws of that mean
  -- and std, PyTorch's defaults
  function Tensor.log_normal_(t, mean, std, ...)
    no_extra_args('log_normal_', '([mean], [std])', nil, ...)
    T(t, 'log_normal_')
    check(lib.nl_random_dist_(t.ptr, gen, lib.NL_RANDOM_LOG_NORMAL, param('log_normal_', 'mean', mean, 1),
                              param('log_normal_', 'std', std, 2)))
    return t
  end

  -- nl.poisson(rates): Poisson draws of each rate (float, finite, >= 0), in
  -- rates' dtype; no gradient flows (PyTorch's is zero)
  function nl.poisson(rates, ...)
    no_extra_args('poisson', '(rates)', nil, ...)
    T(rates, 'poisson')
    return wrap(lib.nl_poisson(gen, Tensor.detach(rates).ptr))
  end
  -- nl.binomial(count, prob): Binomial(count, prob) draws, count and prob
  -- float tensors broadcast together, counts whole and >= 0, prob in [0, 1]
  function nl.binomial(count, prob, ...)
    local op = 'binomial'
    no_extra_args(op, '(count, prob)', nil, ...)
    local pc, pp = T(count, op), T(prob, op)
    if pc.dtype == 2 or pp.dtype == 2 then
      raise(('binomial: expected float count and prob, got %s %s and %s %s'):format(Tensor.dtype(count),
            shape_str(count), Tensor.dtype(prob), shape_str(prob)))
    end
    return nl.no_grad(function()
      local ok, shape = pcall(nl.broadcast_shapes, Tensor.shape(count), Tensor.shape(prob))
      if not ok then
        raise(('binomial: count of shape %s and prob of shape %s do not broadcast together'):format(
          shape_str(count), shape_str(prob)))
      end
      local n, p = Tensor.detach(count), Tensor.detach(prob)
      local bad_n = (n:lt(0) + n:ne(n:floor()) + n:ne(n) + n:isinf()):sum():item()
      if bad_n > 0 then raise(('binomial: counts must be whole numbers >= 0, got %d others'):format(bad_n)) end
      local bad_p = (p:lt(0) + p:gt(1) + p:ne(p)):sum():item()
      if bad_p > 0 then raise(('binomial: probabilities must lie in [0, 1], got %d outside'):format(bad_p)) end
      local dt = Tensor.dtype(count)
      if Tensor.dtype(prob) == 'float64' then dt = 'float64' end
      return wrap(lib.nl_binomial(gen, n:expand(shape).ptr, p:expand(shape).ptr)):to(dt)
    end)
  end

  -- ---- element-wise Lua callbacks ---------------------------------------------------

  local ptr_types = { [0] = 'float *', [1] = 'double *', [2] = 'int64_t *' }
  local function elements(x)
    local c = Tensor.contiguous(x)
    return ffi.cast(ptr_types[c.ptr.dtype], c.ptr.data), c
  end
  -- the others' values in t's row-major order: each of t's element count
  -- (then read in its own row-major order, Torch7's map) or broadcast to
  -- t's shape (PyTorch's map_); same_dtype: PyTorch's rule
  local function operands(op, t, others, same_dtype)
    local r = {}
    for i, o in ipairs(others) do
      T(o, op)
      if same_dtype and o.ptr.dtype ~= t.ptr.dtype then
        raise(('%s: expected %s for argument %d, got %s %s'):format(op, Tensor.dtype(t), i, Tensor.dtype(o),
                                                                   shape_str(o)))
      end
      local x = Tensor.detach(o)
      if same_dtype or Tensor.numel(o) ~= Tensor.numel(t) then
        local ok, e = pcall(Tensor.expand, x, Tensor.shape(t))
        if not ok then
          raise(('%s: argument %d of shape %s does not broadcast to the shape %s of the tensor written'):format(
            op, i, shape_str(o), shape_str(t)))
        end
        x = e
      end
      local p, keep = elements(x)
      r[i] = { p = p, keep = keep, int = x.ptr.dtype == 2 }
    end
    return r
  end
  -- t's values replaced by f(t's value, the others' values...), in t's
  -- row-major order; nil_keeps: f may return nil (Torch7), else it must
  -- give a number (PyTorch)
  local function each(op, t, others, f, nil_keeps)
    local p = T(t, op)
    if type(f) ~= 'function' and not (getmetatable(f) or {}).__call then argerror(op, 'a function', f) end
    if t.is_requires_grad then
      raise(('%s: cannot call %s on a tensor that requires grad (shape %s); use t:detach():%s(...)'):format(
        op, op, shape_str(t), op))
    end
    for i, o in ipairs(others) do
      if nl.is_tensor(o) and o.is_requires_grad then
        raise(('%s: argument %d (shape %s) requires grad'):format(op, i, shape_str(o)))
      end
    end
    check(lib.nl_inplace_check(p, op))
    local args = operands(op, t, others, not nil_keeps)
    local buf = Tensor.clone(Tensor.contiguous(t))
    local out, int = ffi.cast(ptr_types[buf.ptr.dtype], buf.ptr.data), p.dtype == 2
    local m = #args
    local a1, a2 = args[1], args[2]
    for i = 0, Tensor.numel(t) - 1 do
      local v = out[i]
      if int then v = tonumber(v) end
      local r
      if m == 0 then r = f(v)
      else
        local x = a1.p[i]
        if a1.int then x = tonumber(x) end
        if m == 1 then r = f(v, x)
        else
          local y = a2.p[i]
          if a2.int then y = tonumber(y) end
          r = f(v, x, y)
        end
      end
      if r ~= nil or not nil_keeps then
        if type(r) ~= 'number' then
          raise(('%s: the function returned %s for element %d; expected a number%s'):format(op,
                nl._describe_arg(r), i + 1, nil_keeps and ' or nil' or ''))
        end
        if int then
          if r ~= r or r >= 2 ^ 63 or r < -2 ^ 63 then
            raise(('%s: the function returned %s for element %d of an int64 tensor'):format(op, tostring(r), i + 1))
          end
          r = r >= 0 and math.floor(r) or math.ceil(r)   -- toward zero, as PyTorch's cast
        end
        out[i] = r
      end
    end
    nl.no_grad(function() Tensor.copy_(t, buf) end)
    return t
  end
  -- Torch7: t:apply(f) / t:map(t2, f) / t:map2(t2, t3, f) set each element
  -- to f(x[, y[, z]]), keeping it where f returns nil; they return t
  function Tensor.apply(t, f, ...)
    no_extra_args('apply', '(f)', nil, ...)
    return each('apply', t, {}, f, true)
  end
  function Tensor.map(t, t2, f, ...)
    no_extra_args('map', '(t2, f)', nil, ...)
    return each('map', t, { t2 }, f, true)
  end
  function Tensor.map2(t, t2, t3, f, ...)
    no_extra_args('map2', '(t2, t3, f)', nil, ...)
    return each('map2', t, { t2, t3 }, f, true)
  end
  -- PyTorch: apply_(f), map_(other, f), map2_(x, y, f): f must return a
  -- number; others of t's dtype, broadcast to t's shape
  function Tensor.apply_(t, f, ...)
    no_extra_args('apply_', '(f)', nil, ...)
    return each('apply_', t, {}, f, false)
  end
  function Tensor.map_(t, other, f, ...)
    no_extra_args('map_', '(other, f)', nil, ...)
    return each('map_', t, { other }, f, false)
  end
  function Tensor.map2_(t, x, y, f, ...)
    no_extra_args('map2_', '(x, y, f)', nil, ...)
    return each('map2_', t, { x, y }, f, false)
  end
end
