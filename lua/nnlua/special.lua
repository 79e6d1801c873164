-- special.lua: nl.special, PyTorch 1.13's torch.special, loaded on first
-- use of nl.special (init.lua). Its names that nnlua already has (digamma,
-- erf, erfinv, i0, xlogy, softmax, ...) are those functions themselves;
-- entr, erfcx, i0e, i1, i1e, ndtri, log_ndtr, bessel_j0, bessel_j1, zeta,
-- gammainc and gammaincc are ops_math.c's kernels (nl_math, nl_math2) with
-- their backward, airy_ai and the other Bessel functions special_kernels.c's
-- (no gradient, as in 1.13); ndtr, logit, xlog1py and multigammaln are
-- composed of ops, so that autograd follows them; the orthogonal
-- polynomials are special_kernels.c's too (nl_math2, no gradient).
local ffi = require 'ffi'

return function(nl)
  nl._load_tensor_extras()
  local lib, Tensor = nl._lib, nl.Tensor
  local wrap, T, raise, argerror, as_op = nl._wrap, nl._T, nl._raise, nl._argerror, nl._as_op
  local is_tensor, describe, result_dtype, broadcast = nl.is_tensor, nl._describe_arg, nl._result_dtype,
                                                      nl._broadcast_shape
  local C_op = {}
  for i = 0, tonumber(lib.NL_OP_COUNT) - 1 do C_op[ffi.string(lib.nl_op_name(i))] = i end
  local INF = math.huge
  local special = {}

  local function no_extra(op, takes, ...)
    if select('#', ...) > 0 then nl._no_extra_args(op, takes, nil, ...) end
  end
  -- name as special.name, its errors naming it
  local function define(name, f) special[name] = as_op('special.' .. name, f) end

  -- ---- names nnlua has: the same functions ---------------------------------------
  for name, of in pairs({ digamma = 'digamma', psi = 'digamma', erf = 'erf', erfc = 'erfc', erfinv = 'erfinv',
                          exp2 = 'exp2', expm1 = 'expm1', log1p = 'log1p', gammaln = 'lgamma', i0 = 'i0',
                          round = 'round', sinc = 'sinc', softmax = 'softmax', log_softmax = 'log_softmax',
                          logsumexp = 'logsumexp', xlogy = 'xlogy', polygamma = 'polygamma', expit = 'sigmoid' }) do
    special[name] = nl[of]
  end

  -- ---- ops_math.c's kernels --------------------------------------------------------
  for _, name in ipairs({ 'entr', 'erfcx', 'i0e', 'i1', 'i1e', 'ndtri', 'log_ndtr', 'bessel_j0', 'bessel_j1',
                          'airy_ai', 'bessel_y0', 'bessel_y1', 'modified_bessel_i0', 'modified_bessel_i1',
                          'modified_bessel_k0', 'modified_bessel_k1', 'scaled_modified_bessel_k0',
                          'scaled_modified_bessel_k1', 'spherical_bessel_j0' }) do
    local opid, op = C_op[name], 'special.' .. name
    define(name, function(t, ...)
      no_extra(op, '(input)', ...)
      return wrap(lib.nl_math(opid, T(t, op), 0))
    end)
  end
  -- a and b (tensors, or numbers where numbers) as tensors of their
  -- promoted dtype, float32 for int64 (int64 refused unless int_ok);
  -- shapes that do not broadcast are op's error
  local function operands(op, a, b, numbers, int_ok)
    for i = 1, 2 do
      local x = select(i, a, b)
      if is_tensor(x) then T(x, op)
      elseif type(x) ~= 'number' or not numbers then argerror(op, numbers and 'a tensor or a number' or 'a tensor', x) end
    end
    if not is_tensor(a) and not is_tensor(b) then argerror(op, 'a tensor among the operands', a) end
    broadcast(op, a, b)
    local dt = result_dtype(a, b)
    if dt == 'int64' then
      if not int_ok then raise(op .. ': expected float operands, got int64 (as PyTorch)') end
      dt = nl._default_float()
    end
    local function as(x) return is_tensor(x) and Tensor.to(x, dt) or nl.tensor(x, dt) end
    return as(a), as(b), dt
  end
  -- zeta(x, q): Hurwitz's, sum over k >= 0 of (k + q)^-x; a number for
  -- either; the gradient is q's only, as PyTorch's
  -- gammainc(a, x), gammaincc(a, x): the regularized lower and upper
  -- incomplete gamma functions, float tensors; the gradient is x's only
  for name, opt in pairs({ zeta = { '(input, other)', true, true }, gammainc = { '(input, other)', false, false },
                           gammaincc = { '(input, other)', false, false } }) do
    local opid, op = C_op[name], 'special.' .. name
    define(name, function(a, b, ...)
      no_extra(op, opt[1], ...)
      local x, y = operands(op, a, b, opt[2], opt[3])
      return wrap(lib.nl_math2(opid, x.ptr, y.ptr))
    end)
  end

  -- the orthogonal polynomials p_n(x) of x and n (tensors, or a number for
  -- either; n truncated toward 0, negative n giving 0, as 1.13's), computed
  -- in double, with no gradient, as in 1.13
  for _, name in ipairs({ 'chebyshev_polynomial_t', 'chebyshev_polynomial_u', 'chebyshev_polynomial_v',
                          'chebyshev_polynomial_w', 'shifted_chebyshev_polynomial_t', 'shifted_chebyshev_polynomial_u',
                          'shifted_chebyshev_polynomial_v', 'shifted_chebyshev_polynomial_w', 'hermite_polynomial_h',
                          'hermite_polynomial_he', 'laguerre_polynomial_l', 'legendre_polynomial_p' }) do
    local opid, op = C_op[name], 'special.' .. name
    define(name, function(x, n, ...)
      no_extra(op, '(input, n)', ...)
      local a, b = operands(op, x, n, true, true)
      return wrap(lib.nl_math2(opid, a.ptr, b.ptr))
    end)
  end

  -- ---- composed --------------------------------------------------------------------
  -- ndtr(x): the standard normal CDF, erfc(-x / sqrt 2) / 2 (its gradient
  -- the normal density, as PyTorch's)
  define('ndtr', function(t, ...)
    no_extra('special.ndtr', '(input)', ...)
    T(t, 'special.ndtr')
    return Tensor.erfc(Tensor.mul(t, -math.sqrt(0.5))) * 0.5
  end)
  -- logit(x, [eps]): log(x / (1 - x)), of x clamped to [eps, 1 - eps]
  -- when eps is given (its gradient 0 outside, as PyTorch's)
  define('logit', function(t, eps, ...)
    no_extra('special.logit', '(input, [eps])', ...)
    local p = T(t, 'special.logit')
    if eps ~= nil and type(eps) ~= 'number' then argerror('special.logit', 'a number as eps', eps) end
    if p.dtype == 2 then t = Tensor.to(t, nl._default_float()) end
    if not eps then return Tensor.logit(t) end   -- its NaN gradient outside [0, 1]
    t = Tensor.clamp(t, eps, 1 - eps)
    return Tensor.log(t) - Tensor.log1p(-t)
  end)
  -- xlog1py(x, y): x * log1p(y), 0 where x is 0 (unless y is NaN); the
  -- gradient PyTorch 1.13's: log1p(y) for x (0 where x is 0 and y <= -1),
  -- x / (1 + y) for y (0 at x = 0); a number for either operand
  define('xlog1py', function(a, b, ...)
    no_extra('special.xlog1py', '(input, other)', ...)
    local x, y = operands('special.xlog1py', a, b, true, true)
    local zero, c = nl.no_grad(function()
      local z = Tensor.eq(x, 0) * Tensor.eq(y, y)
      local finite = z * Tensor.gt(y, -1) * Tensor.lt(y, INF)
      return z, nl.where(finite, Tensor.log1p(nl.where(finite, y, 0)), 0)
    end)
    -- where x is 0, x times a finite constant (the value 0, x's gradient
    -- log1p(y)); a safe 0 for y in the branch not taken
    return nl.where(zero, x * c, x * Tensor.log1p(nl.where(zero, 0, y)))
  end)
  -- multigammaln(a, p): the log of the multivariate gamma function,
  -- p (p - 1) / 4 log(pi) + sum over i < p of lgamma(a - i / 2)
  define('multigammaln', function(t, p, ...)
    no_extra('special.multigammaln', '(input, p)', ...)
    local pt = T(t, 'special.multigammaln')
    if type(p) ~= 'number' or p ~= math.floor(p) or p < 1 then
      raise(('special.multigammaln: p must be a whole number >= 1, got %s'):format(describe(p)))
    end
    if pt.dtype == 2 then t = Tensor.to(t, nl._default_float()) end
    local half = nl.arange(0, p, 1, Tensor.dtype(t)) * -0.5
    local s = Tensor.lgamma(Tensor.unsqueeze(t, -1) + half):sum(-1)
    return s + p * (p - 1) / 4 * math.log(math.pi)
  end)

  return special
end
