-- tensor_compat.lua: PyTorch 1.13 names that nnlua lacked beside ops it
-- has: the shape-strict matrix products (mm, bmm, mv, dot, vdot, inner,
-- ger), the alias names (divide, multiply, greater, fix, moveaxis, ...),
-- the torch.* function forms of Tensor methods (torch.flatten, torch.unbind,
-- ...), the in-place comparisons and cumulative ops, and the dtype
-- predicates. Each is a check and a call of an existing op: values and
-- gradients are that op's. Loaded last of the Tensor extras.
return function(nl)
  local Tensor, T, raise, argerror, shape_str = nl.Tensor, nl._T, nl._raise, nl._argerror, nl._shape_str
  local as_op, in_place, is_tensor = nl._as_op, nl._in_place, nl.is_tensor

  local function no_extra(op, takes, ...)
    if select('#', ...) > 0 then nl._no_extra_args(op, takes, nil, ...) end
  end
  local function define(name, f)
    Tensor[name] = f
    nl[name] = f
  end

  -- ---- matrix products with PyTorch's shape rules -------------------------------------

  -- a and b as tensors of ranks ra and rb, or an error naming op, the
  -- shapes and what it expects
  local function ranks(op, a, b, ra, rb, want)
    local pa, pb = T(a, op), T(b, op)
    if pa.ndim ~= ra or pb.ndim ~= rb then
      raise(('%s: expected %s, got shapes %s and %s'):format(op, want, shape_str(a), shape_str(b)))
    end
    if pa.dtype ~= pb.dtype then
      raise(('%s: expected both operands to have one dtype, got %s and %s'):format(op, Tensor.dtype(a),
                                                                                  Tensor.dtype(b)))
    end
    return pa, pb
  end
  local function product(op, a, b)
    local ok, r = pcall(nl.matmul, a, b)
    if not ok then raise(op .. ': ' .. tostring(r):gsub('^[^\n]-matmul: ', '')) end
    return r
  end
  -- mm(a, b): a (n, k) @ b (k, m), both matrices (matmul broadcast any ranks)
  define('mm', function(a, b, ...)
    no_extra('mm', '(mat1, mat2)', ...)
    ranks('mm', a, b, 2, 2, 'two matrices (n, k) and (k, m)')
    return product('mm', a, b)
  end)
  -- bmm(a, b): a (B, n, k) @ b (B, k, m), one batch size (no broadcasting)
  define('bmm', function(a, b, ...)
    no_extra('bmm', '(batch1, batch2)', ...)
    ranks('bmm', a, b, 3, 3, 'two batches of matrices (B, n, k) and (B, k, m)')
    if Tensor.size(a, 1) ~= Tensor.size(b, 1) then
      raise(('bmm: batch sizes differ: shapes %s and %s'):format(shape_str(a), shape_str(b)))
    end
    return product('bmm', a, b)
  end)
  -- mv(a, v): a (n, m) @ v (m)
  define('mv', function(a, v, ...)
    no_extra('mv', '(mat, vec)', ...)
    ranks('mv', a, v, 2, 1, 'a matrix (n, m) and a vector (m)')
    return product('mv', a, v)
  end)
  -- dot(a, b) and vdot (real: the same): the 0-dim sum of a * b, two
  -- vectors of one size
  for _, name in ipairs({ 'dot', 'vdot' }) do
    define(name, function(a, b, ...)
      no_extra(name, '(input, other)', ...)
      ranks(name, a, b, 1, 1, 'two vectors (1-D)')
      if Tensor.size(a, 1) ~= Tensor.size(b, 1) then
        raise(('%s: vectors of sizes %d and %d differ'):format(name, Tensor.size(a, 1), Tensor.size(b, 1)))
      end
      return product(name, a, b)
    end)
  end
  -- inner(a, b): the sums of products over the last dim of both, shaped
  -- a's leading dims then b's (a number times a tensor if one is 0-dim)
  define('inner', function(a, b, ...)
    no_extra('inner', '(input, other)', ...)
    local pa, pb = T(a, 'inner'), T(b, 'inner')
    if pa.dtype ~= pb.dtype then
      raise(('inner: expected both operands to have one dtype, got %s and %s'):format(Tensor.dtype(a), Tensor.dtype(b)))
    end
    if pa.ndim == 0 or pb.ndim == 0 then return Tensor.mul(a, b) end
    if Tensor.size(a, -1) ~= Tensor.size(b, -1) then
      raise(('inner: the last dims of shapes %s and %s differ'):format(shape_str(a), shape_str(b)))
    end
    local k = Tensor.size(a, -1)
    local sa, sb = Tensor.shape(a), Tensor.shape(b)
    local out = {}
    for i = 1, #sa - 1 do out[#out + 1] = sa[i] end
    for i = 1, #sb - 1 do out[#out + 1] = sb[i] end
    local r = product('inner', Tensor.reshape(a, -1, k), Tensor.t(Tensor.reshape(b, -1, k)))
    return Tensor.reshape(r, #out == 0 and {} or out)
  end)
  -- ger: PyTorch's old name of outer
  define('ger', function(a, b, ...)
    no_extra('ger', '(input, vec2)', ...)
    return as_op('ger', Tensor.outer)(a, b)
  end)

  -- ---- aliases (PyTorch documents each as the other name) -----------------------------

  local ALIASES = {
    absolute = 'abs', divide = 'div', multiply = 'mul', subtract = 'sub', negative = 'neg', true_divide = 'div',
    greater = 'gt', greater_equal = 'ge', less = 'lt', less_equal = 'le', not_equal = 'ne', fix = 'trunc',
  }
  for name, of in pairs(ALIASES) do
    Tensor[name], nl[name] = Tensor[of], nl[of] or Tensor[of]
    if Tensor[of .. '_'] then Tensor[name .. '_'] = Tensor[of .. '_'] end
  end
  -- true_divide takes no rounding mode
  define('true_divide', function(a, b, ...)
    no_extra('true_divide', '(input, other)', ...)
    return Tensor.div(a, b)
  end)
  Tensor.true_divide_ = function(t, b, ...)
    no_extra('true_divide_', '(other)', ...)
    return Tensor.div_(t, b)
  end
  Tensor.moveaxis, nl.moveaxis, nl.movedim = Tensor.movedim, Tensor.movedim, Tensor.movedim
  -- ravel: the values as a 1-D tensor (a view when they are contiguous)
  Tensor.ravel = function(t, ...)
    no_extra('ravel', '()', ...)
    return Tensor.reshape(t, -1)
  end
  nl.ravel = Tensor.ravel
  Tensor.ndimension = Tensor.dim
  Tensor.nelement = Tensor.numel
  Tensor.tolist = Tensor.totable
  -- positive: the tensor itself (PyTorch refuses it for bool tensors only)
  define('positive', function(t, ...)
    no_extra('positive', '()', ...)
    T(t, 'positive')
    return t
  end)

  -- ---- torch.* function forms of Tensor methods -----------------------------------

  for _, name in ipairs({ 'flatten', 'unflatten', 'unbind', 'narrow', 'select', 'permute', 'reshape', 'clone', 'numel',
                          'detach', 'index_select' }) do
    if rawget(nl, name) == nil then
      local m = Tensor[name]
      nl[name] = function(t, ...)
        if not is_tensor(t) then argerror(name, 'a tensor as the input', t) end
        return m(t, ...)
      end
    end
  end
  -- torch.abs_(x) and the other in-place function forms: x:abs_()
  for _, name in ipairs({ 'abs', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'ceil', 'clamp', 'clamp_max',
                          'clamp_min', 'cos', 'cosh', 'deg2rad', 'erf', 'erfc', 'exp', 'exp2', 'expm1', 'floor', 'frac',
                          'log', 'log10', 'log1p', 'log2', 'neg', 'negative', 'rad2deg', 'reciprocal', 'relu', 'round',
                          'rsqrt', 'sigmoid', 'sin', 'sinc', 'sinh', 'sqrt', 'square', 'tan', 'tanh', 'trunc', 'fix',
                          'xlogy', 'nan_to_num', 'zero', 'fill', 'arccos', 'arccosh', 'arcsin', 'arcsinh', 'arctan',
                          'arctanh', 'clip' }) do
    local m = Tensor[name .. '_']
    if m and rawget(nl, name .. '_') == nil then nl[name .. '_'] = m end
  end

  -- ---- in-place comparisons and cumulative ops -------------------------------------

  -- t:eq_(other): t becomes the 1/0 mask of the comparison, in t's dtype
  for _, name in ipairs({ 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'greater', 'greater_equal', 'less', 'less_equal',
                          'not_equal' }) do
    local f = Tensor[name]
    Tensor[name .. '_'] = as_op(name .. '_', in_place(name .. '_', function(t, other, ...)
      no_extra(name .. '_', '(other)', ...)
      return Tensor.to(f(t, other), Tensor.dtype(t))
    end))
  end
  for _, name in ipairs({ 'cumsum', 'cumprod' }) do
    local f = Tensor[name]
    Tensor[name .. '_'] = as_op(name .. '_', in_place(name .. '_', function(t, d, ...)
      no_extra(name .. '_', '(dim)', ...)
      return f(t, d)
    end))
  end

  -- ---- dtype predicates ---------------------------------------------------------

  -- is_floating_point: float32 or float64; is_signed: every nnlua dtype is;
  -- is_complex: none is
  define('is_floating_point', function(t) return T(t, 'is_floating_point').dtype ~= 2 end)
  define('is_signed', function(t) T(t, 'is_signed') return true end)
  define('is_complex', function(t) T(t, 'is_complex') return false end)
  -- is_nonzero: the one element of a one-element tensor is not 0
  define('is_nonzero', function(t)
    if T(t, 'is_nonzero') and Tensor.numel(t) ~= 1 then
      raise(('is_nonzero: expected a tensor of one element, got shape %s'):format(shape_str(t)))
    end
    return Tensor.item(t) ~= 0
  end)
  define('is_same_size', function(a, b)
    T(a, 'is_same_size')
    T(b, 'is_same_size')
    return shape_str(a) == shape_str(b)
  end)
end
