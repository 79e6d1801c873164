-- tensor_compat.lua: PyTorch 1.13 names that nnlua lacked beside ops it
-- has: the shape-strict matrix products (mm, bmm, mv, dot, vdot, inner,
-- ger), the alias names (divide, multiply, greater, fix, moveaxis, ...),
-- the torch.* function forms of Tensor methods (torch.flatten, torch.unbind,
-- ...), the in-place comparisons and cumulative ops, and the dtype
-- predicates; Tensor.unfold's windows; index_put, fill_diagonal_,
-- diagflat and addr; the window functions, trapezoid and
-- cumulative_trapezoid; the generator's state (get_rng_state,
-- set_rng_state, initial_seed, seed); the fields T, H, ndim and data;
-- torch.* utilities (promote_types, result_type, can_cast,
-- broadcast_shapes, scalar_tensor, as_tensor, range) and nn.functional's
-- torch.* names; the real-number and CPU no-ops and predicates (cpu,
-- conj, is_conj, isreal, adjoint, ...), split_with_sizes, narrow_copy,
-- sum_to_size, put, mvlgamma; the in-place view changes (unsqueeze_,
-- squeeze_, t_, transpose_, swapaxes_, swapdims_); and copysign, msort, logit, float_power and ldexp, composed
-- of existing ops. Each is checks and calls of existing ops: autograd
-- follows them. Loaded last of the Tensor extras.
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
    -- (the row counts spelled out: -1 is ambiguous when k is 0)
    local ra, rb = 1, 1
    for i = 1, #sa - 1 do ra = ra * sa[i] end
    for i = 1, #sb - 1 do rb = rb * sb[i] end
    local r = product('inner', Tensor.reshape(a, ra, k), Tensor.t(Tensor.reshape(b, rb, k)))
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

  -- ---- more elementwise math -------------------------------------------------------

  local function grad_on() return nl._lib.nl_is_grad_enabled() ~= 0 end
  local function requires(x) return is_tensor(x) and bit.band(x.ptr.flags, 1) ~= 0 end
  -- x or a number as a tensor checked for op
  local function operand(op, x)
    if is_tensor(x) then T(x, op) return x end
    if type(x) ~= 'number' then argerror(op, 'a tensor or a number', x) end
    return nil
  end
  -- q, and a zero gradient toward x if it requires grad (PyTorch's zeros
  -- for copysign's sign source): q where an all-false mask picks it
  local function zero_grad_toward(q, x)
    if not (grad_on() and requires(x)) then return q end
    return nl.where(nl.zeros(Tensor.shape(q), 'int64'), Tensor.sum(x), q)
  end
  -- a and b (one a tensor) in their promoted dtype, the default float dtype for int64
  local function float_operands(op, a, b)
    local ta, tb = operand(op, a), operand(op, b)
    if not ta and not tb then argerror(op, 'a tensor among the operands', a) end
    local dt = nl._result_dtype(a, b)
    if dt == 'int64' then dt = nl._default_float() end
    local function as(x, t) return t and Tensor.to(x, dt) or nl.tensor(x, dt) end
    return as(a, ta), as(b, tb), dt
  end

  -- copysign(a, b): |a| with the sign of b (its sign bit: -0 and -NaN are
  -- negative, as PyTorch's); a's gradient is PyTorch 1.13's ratio
  -- result / a, 0 at a = 0 (so NaN at a = +-inf or NaN, where |a|'s sign
  -- gave +-1), by an autograd.Function of a whose value is the result and
  -- whose backward is g times that ratio; b's gradient is zero
  local SignRatio
  define('copysign', as_op('copysign', function(a, b, ...)
    no_extra('copysign', '(input, other)', ...)
    local x, y = float_operands('copysign', a, b)
    local need = grad_on() and requires(x)
    local r, ratio = nl.no_grad(function()
      local mag = Tensor.abs(x)
      local v = nl.where(Tensor.signbit(y), Tensor.neg(mag), mag)
      if not need then return v end
      return v, nl.where(Tensor.eq(x, 0), nl.zeros(Tensor.shape(v), Tensor.dtype(v)), v / x)
    end)
    if need then
      SignRatio = SignRatio or nl.autograd.Function('copysign', {
        forward = function(ctx, _, v, k) ctx:save_for_backward(k) return v:clone() end,
        backward = function(ctx, g) return g * ctx:saved_tensors(), nil, nil end,
      })
      r = SignRatio.apply(x, r, ratio)
    end
    return zero_grad_toward(r, b)
  end))
  Tensor.copysign_ = as_op('copysign_', in_place('copysign_', Tensor.copysign))

  -- msort(t): t sorted along its first dim (the values of sort(1))
  define('msort', as_op('msort', function(t, ...)
    no_extra('msort', '()', ...)
    T(t, 'msort')
    return (Tensor.sort(t, 1))
  end))

  -- logit(t, [eps]): log(p / (1 - p)), p = t clamped to [eps, 1 - eps]
  -- when eps is given (the gradient 0 outside it, as PyTorch's); int64
  -- gives float32
  local function logit(t, eps, ...)
    no_extra('logit', '([eps])', ...)
    local p = T(t, 'logit')
    if eps ~= nil and (type(eps) ~= 'number' or not (eps >= 0 and eps <= 0.5)) then
      argerror('logit', 'eps as a number in [0, 0.5]', eps)
    end
    if p.dtype == 2 then t = Tensor.to(t, nl._default_float()) end
    local c = eps and Tensor.clamp(t, eps, 1 - eps) or t
    -- (as special.logit: log(t / (1 - t)) differentiated gave 0 * inf =
    -- NaN at t = 0 and 1, where PyTorch's gradient 1 / (t (1 - t)) is inf)
    local y = Tensor.log(c) - Tensor.log1p(-c)
    if eps then return y end
    -- without eps PyTorch's gradient is NaN where t < 0 or t > 1 (the value
    -- is NaN there), where 1 / t + 1 / (1 - t) is finite: NaN times t there
    -- (0 times 0 elsewhere) adds it
    local m, bad = nl.no_grad(function()
      local m = Tensor.lt(t, 0) + Tensor.gt(t, 1)
      return m, nl.where(m, 0 / 0, nl.zeros_like(t))
    end)
    return y + bad * nl.where(m, t, 0)
  end
  define('logit', as_op('logit', logit))
  Tensor.logit_ = as_op('logit_', in_place('logit_', logit))

  -- float_power(a, b): a ^ b in float64, whatever the operands' dtypes
  local function float_power(a, b, ...)
    no_extra('float_power', '(input, exponent)', ...)
    local ta, tb = operand('float_power', a), operand('float_power', b)
    if not ta and not tb then argerror('float_power', 'a tensor among the operands', a) end
    local x = ta and Tensor.double(a) or a
    local y = tb and Tensor.double(b) or b
    if not ta then x = nl.tensor(a, 'float64') end
    return Tensor.pow(x, y)
  end
  define('float_power', as_op('float_power', float_power))
  Tensor.float_power_ = as_op('float_power_', function(t, b, ...)
    if T(t, 'float_power_').dtype ~= 1 then
      raise(('float_power_: the base has dtype %s, but the result is float64 (as PyTorch, a float64 tensor only)')
            :format(Tensor.dtype(t)))
    end
    return in_place('float_power_', float_power)(t, b, ...)
  end)

  -- ldexp(a, e): a * 2^e (e int64 or float), a float result
  local function ldexp(a, e, ...)
    no_extra('ldexp', '(input, other)', ...)
    if not is_tensor(a) then argerror('ldexp', 'a tensor as the input', a) end
    operand('ldexp', e)
    T(a, 'ldexp')
    -- PyTorch's a * pow(2.0, e), so its promotion of 0-dim operands: an
    -- int64 exponent gives powers of the default dtype (pow of int64 rounds 2^-1 to 0)
    if is_tensor(e) and T(e).dtype == 2 then e = Tensor.to(e, nl._default_float()) end
    local r = Tensor.mul(a, is_tensor(e) and nl.pow(2, e) or 2 ^ e)
    return T(r).dtype == 2 and Tensor.to(r, nl._default_float()) or r
  end
  define('ldexp', as_op('ldexp', ldexp))
  Tensor.ldexp_ = as_op('ldexp_', in_place('ldexp_', ldexp))

  -- ---- index_put, fill_diagonal_, diagflat, addr ------------------------------------

  -- index_put(indices, values, [accumulate]): t with values at the places
  -- the list indices names in t's first #indices dims (int64 tensors,
  -- 1-based, negative from the end, broadcast together); values broadcast
  -- to the indexed shape; accumulate adds them (a place named twice gets
  -- both), else a place named twice is an error (PyTorch leaves which
  -- value wins unspecified). One index_add or index_copy over the leading
  -- dims flattened, so autograd follows it.
  local function index_put(t, indices, values, accumulate, ...)
    no_extra('index_put', '(indices, values, [accumulate])', ...)
    local p = T(t, 'index_put')
    local k = nl._list_len(indices)
    if is_tensor(indices) or not k or k == 0 then
      argerror('index_put', 'a list of int64 index tensors (one per leading dim)', indices)
    end
    if k > p.ndim then
      raise(('index_put: %d index tensors for a tensor of shape %s'):format(k, shape_str(t)))
    end
    if accumulate ~= nil and type(accumulate) ~= 'boolean' then
      argerror('index_put', 'a boolean accumulate', accumulate)
    end
    local shape = Tensor.shape(t)
    for i = 1, k do
      local x = indices[i]
      if not is_tensor(x) or T(x, 'index_put').dtype ~= 2 then
        argerror('index_put', 'int64 index tensors', x)
      end
    end
    local idx = k > 1 and nl.broadcast_tensors(unpack(indices, 1, k)) or { indices[1] }
    local lin, lead = nil, 1
    for i = 1, k do lead = lead * shape[i] end
    local stride = lead
    for i = 1, k do
      local n = shape[i]
      stride = stride / n
      local x = idx[i]
      if Tensor.numel(x) > 0 then
        local lo, hi = Tensor.item(Tensor.min(x)), Tensor.item(Tensor.max(x))
        if lo < -n or lo == 0 or hi > n or Tensor.item(Tensor.sum(Tensor.eq(x, 0))) > 0 then
          raise(('index_put: an index of dim %d is out of range for its size %d (indices from 1, or from -%d)')
                :format(i, n, n))
        end
      end
      local z = nl.where(Tensor.lt(x, 0), x + n, x - 1)          -- 0-based
      local term = stride == 1 and z or z * stride
      lin = lin and lin + term or term
    end
    lin = Tensor.reshape(lin + 1, -1)                             -- 1-based places
    local rest = {}
    for i = k + 1, #shape do rest[#rest + 1] = shape[i] end
    local want = Tensor.shape(idx[1])
    for _, v in ipairs(rest) do want[#want + 1] = v end
    local dt = Tensor.dtype(t)
    if type(values) == 'number' then values = nl.full(want, values, dt)
    elseif not is_tensor(values) then argerror('index_put', 'a tensor or a number as values', values)
    elseif Tensor.dtype(values) ~= dt then
      raise(('index_put: values (%s) and the tensor (%s) must have one dtype'):format(Tensor.dtype(values), dt))
    end
    local ok, v = pcall(Tensor.expand, values, want)
    if not ok then
      raise(('index_put: values of shape %s do not broadcast to the indexed shape [%s]'):format(shape_str(values),
                                                                                            table.concat(want, ',')))
    end
    local flat_shape = { lead }
    for _, x in ipairs(rest) do flat_shape[#flat_shape + 1] = x end
    local vflat = Tensor.reshape(v, { Tensor.numel(lin), unpack(rest) })
    local flat = Tensor.reshape(t, flat_shape)
    local r
    if accumulate then
      r = Tensor.index_add(flat, 1, lin, vflat)
    else
      local counts = Tensor.index_add(nl.zeros({ lead }, 'int64'), 1, lin, nl.ones({ Tensor.numel(lin) }, 'int64'))
      if Tensor.numel(lin) > 0 and Tensor.item(Tensor.max(counts)) > 1 then
        raise('index_put: a place is named more than once (which value would win is unspecified; '
              .. 'use accumulate = true to add them)')
      end
      r = Tensor.index_copy(flat, 1, lin, vflat)
    end
    return Tensor.reshape(r, shape)
  end
  define('index_put', as_op('index_put', index_put))
  Tensor.index_put_ = as_op('index_put_', in_place('index_put_', index_put))
  nl.index_put_ = Tensor.index_put_

  -- fill_diagonal_(value, [wrap]): the main diagonal (all indices equal) of
  -- a tensor of 2 dims, or of more of one size, set to value; wrap (2-D,
  -- more rows than columns) starts it again every columns + 1 rows
  Tensor.fill_diagonal_ = as_op('fill_diagonal_', in_place('fill_diagonal_', function(t, value, wrap, ...)
    no_extra('fill_diagonal_', '(fill_value, [wrap])', ...)
    local p = T(t, 'fill_diagonal_')
    if type(value) ~= 'number' then argerror('fill_diagonal_', 'a number as fill_value', value) end
    if wrap ~= nil and type(wrap) ~= 'boolean' then argerror('fill_diagonal_', 'a boolean wrap', wrap) end
    local shape = Tensor.shape(t)
    if #shape < 2 then raise('fill_diagonal_: expected a tensor of at least 2 dims, got shape ' .. shape_str(t)) end
    if #shape > 2 then
      for i = 2, #shape do
        if shape[i] ~= shape[1] then
          raise('fill_diagonal_: all dims must have one size for a tensor of more than 2 dims, got shape '
                .. shape_str(t))
        end
      end
    end
    local n, step, stride = Tensor.numel(t), 0, 1
    for i = #shape, 1, -1 do step = step + stride stride = stride * shape[i] end
    -- the flat places from 1, step apart: min(sizes) of them, or with wrap
    -- all up to the end (PyTorch's, a blank row between the blocks)
    local count = math.min(unpack(shape))
    local last = (#shape == 2 and wrap) and n or (count - 1) * step + 1
    local pos = {}
    for q = 1, last, step do pos[#pos + 1] = q end
    if #pos == 0 then return Tensor.clone(t) end
    local flat = Tensor.reshape(t, -1)
    return Tensor.reshape(Tensor.index_fill(flat, 1, nl.tensor(pos, 'int64'), value), shape)
  end))

  -- diagflat(t, [offset]): the values of t, flattened, on a diagonal
  define('diagflat', as_op('diagflat', function(t, offset, ...)
    no_extra('diagflat', '([offset])', ...)
    T(t, 'diagflat')
    return Tensor.diag(Tensor.reshape(t, -1), offset)
  end))

  -- addr(vec1, vec2, [{beta, alpha}]): beta * t + alpha * outer(vec1, vec2),
  -- as addmm (beta 0 ignores t)
  local function addr(t, v1, v2, opts, ...)
    no_extra('addr', '(vec1, vec2, [{beta, alpha}])', ...)
    T(t, 'addr')
    for _, a in ipairs({ { v1, 'vec1' }, { v2, 'vec2' } }) do
      if not is_tensor(a[1]) then argerror('addr', 'a tensor as ' .. a[2], a[1]) end
      if T(a[1], 'addr').ndim ~= 1 then
        raise(('addr: expected %s to be 1-D, got shape %s'):format(a[2], shape_str(a[1])))
      end
    end
    return nl._scaled_sum('addr', t, function() return Tensor.outer(v1, v2) end,
                          { Tensor.size(v1, 1), Tensor.size(v2, 1) }, { { v1, 'vec1' }, { v2, 'vec2' } }, opts)
  end
  define('addr', as_op('addr', addr))
  Tensor.addr_ = as_op('addr_', in_place('addr_', addr))

  -- ---- window functions -----------------------------------------------------------

  -- the window length, the flag periodic, the trailing numbers (names, in
  -- PyTorch's order, with their defaults) and the dtype, from positional
  -- arguments or a table {periodic, <names>, dtype} in any place after n
  local DTYPES = { float32 = true, float64 = true }
  local function window_args(op, n, names, ...)
    if type(n) ~= 'number' or n < 0 or n ~= math.floor(n) or n == math.huge then
      argerror(op, 'a whole window_length >= 0', n)
    end
    local vals, opts = { periodic = true }, nil
    for i, nd in ipairs(names) do vals[nd[1]] = nd[2] end
    local order = { 'periodic' }
    for _, nd in ipairs(names) do order[#order + 1] = nd[1] end
    local nargs = select('#', ...)
    for i = 1, nargs do
      local v = select(i, ...)
      if type(v) == 'table' and not is_tensor(v) then
        if i ~= nargs then raise(op .. ': the options table must come last') end
        opts = v
      elseif i > #order then
        nl._no_extra_args(op, '(window_length, periodic' .. (#order > 1 and ', ' .. table.concat(order, ', ', 2) or '')
                          .. ', [{dtype}])', nil, v)
      elseif v ~= nil then
        vals[order[i]] = v
      end
    end
    local known = { periodic = 'flag', dtype = 1 }
    for _, nd in ipairs(names) do known[nd[1]] = 1 end
    if opts then
      nl._check_opts(op, opts, known)
      for k, v in pairs(opts) do vals[k] = v end
    end
    if type(vals.periodic) ~= 'boolean' then argerror(op, 'a boolean periodic', vals.periodic) end
    for _, nd in ipairs(names) do
      local v = vals[nd[1]]
      if type(v) ~= 'number' or v ~= v then argerror(op, 'a number ' .. nd[1], v) end
    end
    local dt = vals.dtype or nl.get_default_dtype()
    if not DTYPES[dt] then
      raise(("%s: dtype must be 'float32' or 'float64', got %s"):format(op, nl._describe_arg(dt)))
    end
    return vals, dt
  end
  -- the window of f(k, m) over k = 0 .. m - 1 (float64 tensors), m = n,
  -- or n + 1 with the last dropped where periodic; PyTorch's 0 and 1
  -- element windows ({} and {1})
  local function window(op, n, names, f, ...)
    local o, dt = window_args(op, n, names, ...)
    if n == 0 then return nl.zeros({ 0 }, dt) end
    if n == 1 then return nl.ones({ 1 }, dt) end
    local m = o.periodic and n + 1 or n
    local k = nl.arange(0, n, 1, 'float64')
    return Tensor.to(f(k, m, o), dt)
  end
  local cos, pi = Tensor.cos, math.pi
  nl.hamming_window = as_op('hamming_window', function(n, ...)
    return window('hamming_window', n, { { 'alpha', 0.54 }, { 'beta', 0.46 } }, function(k, m, o)
      return o.alpha - o.beta * cos(k * (2 * pi / (m - 1)))
    end, ...)
  end)
  nl.hann_window = as_op('hann_window', function(n, ...)
    return window('hann_window', n, {}, function(k, m) return 0.5 - 0.5 * cos(k * (2 * pi / (m - 1))) end, ...)
  end)
  nl.blackman_window = as_op('blackman_window', function(n, ...)
    return window('blackman_window', n, {}, function(k, m)
      return 0.42 - 0.5 * cos(k * (2 * pi / (m - 1))) + 0.08 * cos(k * (4 * pi / (m - 1)))
    end, ...)
  end)
  nl.bartlett_window = as_op('bartlett_window', function(n, ...)
    return window('bartlett_window', n, {}, function(k, m) return 1 - Tensor.abs(k * (2 / (m - 1)) - 1) end, ...)
  end)
  -- kaiser: I0(beta sqrt(1 - ((k - a) / a)^2)) / I0(beta), a = (m - 1) / 2
  nl.kaiser_window = as_op('kaiser_window', function(n, ...)
    return window('kaiser_window', n, { { 'beta', 12 } }, function(k, m, o)
      local a = (m - 1) / 2
      local r = (k - a) / a
      local arg = Tensor.sqrt(Tensor.clamp(1 - r * r, 0, 1)) * o.beta
      return Tensor.i0(arg) / Tensor.item(Tensor.i0(nl.tensor(o.beta, 'float64')))
    end, ...)
  end)

  -- ---- trapezoid, cumulative_trapezoid -------------------------------------------------

  -- (y, [x or dx], [dim or {x, dx, dim}]): the areas of the trapezoids
  -- along dim (default the last) between consecutive samples of y, x
  -- spacing them (1-D along dim, or broadcasting with y) or dx (default 1)
  local function trapezoid_terms(op, y, a, b, ...)
    no_extra(op, '(y, [x or dx], [dim or {x, dx, dim}])', ...)
    local p = T(y, op)
    local x, dx, d = nil, nil, nil
    local function take(o)
      nl._check_opts(op, o, { x = 1, dx = 1, dim = 1 })
      x, dx, d = o.x or x, o.dx or dx, o.dim or d
    end
    if is_tensor(a) then x = a elseif type(a) == 'number' then dx = a elseif type(a) == 'table' then take(a)
    elseif a ~= nil then argerror(op, 'a tensor x, a number dx or a table of options', a) end
    if type(b) == 'number' then d = b elseif type(b) == 'table' and not is_tensor(b) then take(b)
    elseif b ~= nil then argerror(op, 'a dim or a table of options', b) end
    if x ~= nil and dx ~= nil then raise(op .. ': give x or dx, not both') end
    if dx ~= nil and type(dx) ~= 'number' then argerror(op, 'a number dx', dx) end
    if x ~= nil and not is_tensor(x) then argerror(op, 'a tensor x', x) end
    if p.ndim == 0 then raise(op .. ': expected y of at least one dim, got a 0-dim tensor') end
    local c = nl._cdim(d == nil and -1 or d, op, p)
    if c < 0 then c = c + p.ndim end
    local n = tonumber(p.sizes[c])
    if p.dtype == 2 then y = Tensor.to(y, nl._default_float()) end
    if n == 0 then return nil, y, c end
    local sum = Tensor.narrow(y, c + 1, 2, n - 1) + Tensor.narrow(y, c + 1, 1, n - 1)
    if x == nil then return sum * ((dx or 1) / 2), y, c, dx or 1 end
    local xp = T(x, op)
    local dxs
    if xp.ndim == 1 then
      if tonumber(xp.sizes[0]) ~= n then
        raise(('%s: x of shape %s does not match the %d samples of y %s along dim %s'):format(op, shape_str(x), n,
          shape_str(y), tostring(d == nil and -1 or d)))
      end
      local v = Tensor.narrow(x, 1, 2, n - 1) - Tensor.narrow(x, 1, 1, n - 1)
      local view = {}
      for i = 1, p.ndim do view[i] = 1 end
      view[c + 1] = n - 1
      dxs = Tensor.reshape(v, view)
    else
      local xc = c + xp.ndim - p.ndim
      if xc < 0 then
        raise(('%s: x of shape %s does not broadcast with y %s'):format(op, shape_str(x), shape_str(y)))
      end
      local m = tonumber(xp.sizes[xc])
      dxs = Tensor.narrow(x, xc + 1, 2, m - 1) - Tensor.narrow(x, xc + 1, 1, m - 1)
    end
    return dxs * sum / 2, y, c
  end
  define('trapezoid', as_op('trapezoid', function(y, ...)
    local terms, yy, c, dx = trapezoid_terms('trapezoid', y, ...)
    if terms == nil then return Tensor.sum(Tensor.narrow(yy, c + 1, 1, 0), c + 1) end
    if dx then
      -- PyTorch's (sum - (first + last) / 2) dx, so its infinities and NaN
      -- (inf - inf = NaN for [1, inf], as for a single inf)
      local n = Tensor.size(yy, c + 1)
      local ends = Tensor.select(yy, c + 1, 1) + Tensor.select(yy, c + 1, n)
      return (Tensor.sum(yy, c + 1) - ends * 0.5) * dx
    end
    return Tensor.sum(terms, c + 1)
  end))
  nl.trapz = nl.trapezoid
  define('cumulative_trapezoid', as_op('cumulative_trapezoid', function(y, ...)
    local terms, yy, c = trapezoid_terms('cumulative_trapezoid', y, ...)
    if terms == nil then return Tensor.narrow(yy, c + 1, 1, 0) end
    return Tensor.cumsum(terms, c + 1)
  end))

  -- ---- sliding windows ----------------------------------------------------------

  -- t:unfold(dim, size, step): every window of size elements along dim,
  -- step apart, as a new last dim: dim's size becomes the window count
  -- (len - size) // step + 1. A copy (PyTorch's is a view) made by one
  -- index_select, so that overlapping windows add their gradients.
  Tensor.unfold = as_op('unfold', function(t, d, size, step, ...)
    no_extra('unfold', '(dimension, size, step)', ...)
    local p = T(t, 'unfold')
    local c = nl._cdim(d, 'unfold', p)
    if p.ndim == 0 then
      -- a 0-dim t is one element along dim 1 (or -1), as PyTorch 1.13's:
      -- the window of size 0 or 1 (shape [size]); it was refused
      if type(size) == 'number' and size > 1 then
        raise(('unfold: size %s is more than the 1 element of a 0-dim tensor'):format(tostring(size)))
      end
      local r = Tensor.unfold(Tensor.reshape(t, { 1 }), 1, size, step)
      return Tensor.reshape(r, { size })
    end
    if c < 0 then c = c + p.ndim end
    local len = tonumber(p.sizes[c])
    if type(size) ~= 'number' or size ~= math.floor(size) or size < 0 then
      argerror('unfold', 'a whole size >= 0', size)
    end
    if type(step) ~= 'number' or step ~= math.floor(step) or step < 1 then
      argerror('unfold', 'a whole step >= 1', step)
    end
    if size > len then
      raise(('unfold: size %d is more than the %d elements of dim %s (shape %s)'):format(size, len, tostring(d),
                                                                                          shape_str(t)))
    end
    local n = math.floor((len - size) / step) + 1
    local shape = Tensor.shape(t)
    local out = {}
    for i = 1, #shape do out[i] = shape[i] end
    out[c + 1] = n
    out[#out + 1] = size
    if size == 0 then    -- (no elements, but t's graph, as PyTorch's view)
      return Tensor.reshape(Tensor.index_select(t, c + 1, nl.zeros({ 0 }, 'int64')), out)
    end
    local idx = {}
    for w = 0, n - 1 do
      for k = 1, size do idx[#idx + 1] = w * step + k end
    end
    local r = Tensor.index_select(t, c + 1, nl.tensor(idx, 'int64'))
    local split = {}
    for i = 1, #shape do split[#split + 1] = shape[i] end
    split[c + 1] = n
    table.insert(split, c + 2, size)
    return Tensor.movedim(Tensor.reshape(r, split), c + 2, -1)
  end)

  -- ---- torch.* utilities: dtypes, shapes, creation --------------------------------

  local KINDS = { float32 = 'float', float64 = 'float', int64 = 'int' }
  local function dtype_arg(op, d)
    if not KINDS[d] then
      raise(("%s: expected a dtype ('float32', 'float64' or 'int64'), got %s"):format(op, nl._describe_arg(d)))
    end
    return d
  end
  -- the dtype PyTorch's type promotion gives two dtypes
  function nl.promote_types(a, b, ...)
    no_extra('promote_types', '(type1, type2)', ...)
    dtype_arg('promote_types', a)
    dtype_arg('promote_types', b)
    if a == b then return a end
    if a == 'float64' or b == 'float64' then return 'float64' end
    return 'float32'
  end
  -- the dtype of an op on tensors or numbers a and b (nnlua's promotion)
  function nl.result_type(a, b, ...)
    no_extra('result_type', '(tensor1, tensor2)', ...)
    -- (ipairs over { a, b } saw neither when a was nil)
    for _, x in ipairs({ { a }, { b } }) do
      x = x[1]
      if is_tensor(x) then T(x, 'result_type')
      elseif type(x) ~= 'number' then argerror('result_type', 'a tensor or a number', x) end
    end
    if not is_tensor(a) and not is_tensor(b) then
      local whole = a == math.floor(a) and b == math.floor(b)
      return whole and 'int64' or nl.get_default_dtype()
    end
    return nl._result_dtype(a, b)
  end
  -- whether a cast from one dtype to another is allowed by PyTorch's
  -- rule: anything but float to int64
  function nl.can_cast(from, to, ...)
    no_extra('can_cast', '(from, to)', ...)
    dtype_arg('can_cast', from)
    dtype_arg('can_cast', to)
    return not (KINDS[from] == 'float' and KINDS[to] == 'int')
  end
  -- (float32 until nl.set_default_dtype changes it)
  function nl.get_default_dtype(...)
    no_extra('get_default_dtype', '()', ...)
    return nl._default_dtype_id() == 1 and 'float64' or 'float32'
  end
  -- broadcast_shapes(s1, s2, ...): the shape the shapes broadcast to (each
  -- a list of sizes or one size), as a Lua list
  function nl.broadcast_shapes(...)
    local out = {}
    for i = 1, select('#', ...) do
      local sh = select(i, ...)
      if type(sh) == 'number' then sh = { sh } end
      local n = nl._list_len(sh)
      if is_tensor(sh) or not n then argerror('broadcast_shapes', 'shapes as lists of sizes', sh) end
      for j = 1, n do
        local v = sh[j]
        if type(v) ~= 'number' or v < 0 or v ~= math.floor(v) then
          argerror('broadcast_shapes', 'whole sizes >= 0', v)
        end
      end
      -- (right-aligned: dim j of the result is dim j - m + #out of out
      -- and j - m + n of sh, 1 where those are before the first)
      local m, new = math.max(n, #out), {}
      for j = 1, m do
        local a, b = out[j - m + #out] or 1, sh[j - m + n] or 1
        if a ~= b and a ~= 1 and b ~= 1 then
          raise(('broadcast_shapes: shape [%s] does not broadcast with [%s]'):format(table.concat(sh, ','),
                                                                                  table.concat(out, ',')))
        end
        new[j] = a == 1 and b or a
      end
      out = new
    end
    return out
  end
  -- scalar_tensor(v, [{dtype}]): a 0-dim tensor (of the default dtype)
  function nl.scalar_tensor(v, opts, ...)
    no_extra('scalar_tensor', '(s, [{dtype}])', ...)
    if type(v) ~= 'number' then argerror('scalar_tensor', 'a number', v) end
    opts = nl._opts('scalar_tensor', opts, { dtype = 1 })
    return nl.tensor(v, opts.dtype and dtype_arg('scalar_tensor', opts.dtype) or nl.get_default_dtype())
  end
  -- as_tensor(data, [dtype]) and asarray: a tensor given (of that dtype or
  -- none) comes back itself, not a copy; anything else as nl.tensor
  local function as_tensor(op)
    return function(data, dtype, ...)
      no_extra(op, '(data, [dtype])', ...)
      if type(dtype) == 'table' then dtype = nl._opts(op, dtype, { dtype = 1 }).dtype end
      if dtype ~= nil then dtype_arg(op, dtype) end
      if is_tensor(data) then
        T(data, op)
        if dtype == nil or Tensor.dtype(data) == dtype then return data end
        return Tensor.to(data, dtype)
      end
      return nl.tensor(data, dtype)
    end
  end
  nl.as_tensor, nl.asarray = as_op('as_tensor', as_tensor('as_tensor')), as_op('asarray', as_tensor('asarray'))
  -- range(start, end, [step]): PyTorch's deprecated inclusive arange, of the default dtype
  function nl.range(a, b, step, ...)
    no_extra('range', '(start, end, [step])', ...)
    step = step or 1
    -- (each of the three: ipairs over them stopped at a nil end, which then
    -- reached the arithmetic below)
    for _, v in ipairs({ { a }, { b }, { step } }) do
      if type(v[1]) ~= 'number' or v[1] ~= v[1] then argerror('range', 'numbers start, end and step', v[1]) end
    end
    if step == 0 then raise('range: step must be nonzero') end
    local n = math.floor((b - a) / step) + 1
    if n < 0 then raise(('range: end %s is on the wrong side of start %s for step %s'):format(b, a, step)) end
    return Tensor.to(nl.arange(0, n, 1, 'float64') * step + a, nl._default_float())
  end

  -- torch.conv2d and the other torch.* names of nn.functional's functions
  -- whose arguments PyTorch gives in the same order
  for _, name in ipairs({ 'conv1d', 'conv2d', 'conv3d', 'conv_transpose1d', 'conv_transpose2d', 'conv_transpose3d',
                          'cosine_similarity', 'pairwise_distance', 'pdist', 'pixel_shuffle', 'pixel_unshuffle',
                          'channel_shuffle', 'prelu', 'rrelu', 'threshold', 'dropout', 'alpha_dropout',
                          'feature_alpha_dropout', 'adaptive_avg_pool1d', 'avg_pool1d', 'max_pool1d', 'max_pool2d',
                          'max_pool3d', 'bilinear', 'layer_norm', 'group_norm' }) do
    if rawget(nl, name) == nil then nl[name] = function(...) return nl.nn.functional[name](...) end end
  end

  -- ---- more of torch.Tensor's names for a CPU tensor of real numbers --------------------

  nl.concat, nl.concatenate = nl.cat, nl.cat
  -- cpu(), and the real-number no-ops: the tensor itself
  for _, name in ipairs({ 'cpu', 'resolve_conj', 'resolve_neg', 'conj', 'conj_physical', 'real' }) do
    local f = function(t, ...)
      no_extra(name, '()', ...)
      T(t, name)
      return t
    end
    Tensor[name] = f
    if name ~= 'cpu' then nl[name] = f end
  end
  -- the predicates of complex, lazy-conjugate and inference tensors: false
  for _, name in ipairs({ 'is_conj', 'is_neg', 'is_inference' }) do
    define(name, function(t, ...)
      no_extra(name, '()', ...)
      T(t, name)
      return false
    end)
  end
  -- isreal: every element of a real tensor is (1s, in its dtype)
  define('isreal', function(t, ...)
    no_extra('isreal', '()', ...)
    T(t, 'isreal')
    return nl.ones(Tensor.shape(t), Tensor.dtype(t))
  end)
  -- adjoint() and mH(): the last two dims swapped (mT of a real tensor)
  define('adjoint', function(t, ...)
    no_extra('adjoint', '()', ...)
    if T(t, 'adjoint').ndim < 2 then
      raise('adjoint: expected a tensor of at least 2 dims, got shape ' .. shape_str(t))
    end
    return Tensor.transpose(t, -2, -1)
  end)
  Tensor.mH = function(t, ...)
    no_extra('mH', '()', ...)
    if T(t, 'mH').ndim < 2 then raise('mH: expected a tensor of at least 2 dims, got shape ' .. shape_str(t)) end
    return Tensor.transpose(t, -2, -1)
  end
  -- element_size(): bytes per element; storage_offset(): the first
  -- element's index into the storage (from 0, as PyTorch's)
  local BYTES = { [0] = 4, [1] = 8, [2] = 8 }
  Tensor.element_size = function(t, ...)
    no_extra('element_size', '()', ...)
    return BYTES[T(t, 'element_size').dtype]
  end
  Tensor.storage_offset = function(t, ...)
    no_extra('storage_offset', '()', ...)
    return tonumber(T(t, 'storage_offset').offset)
  end
  -- the fields is_cpu, is_cuda and device of a tensor here
  nl._accessors.is_cpu = function(t) T(t, 'is_cpu') return true end
  nl._accessors.is_cuda = function(t) T(t, 'is_cuda') return false end
  nl._accessors.device = function(t) T(t, 'device') return 'cpu' end

  -- split_with_sizes(sizes, [dim]): split by a list of sizes; the
  -- unsafe_ forms are the same (nnlua's pieces are views either way)
  Tensor.split_with_sizes = as_op('split_with_sizes', function(t, sizes, d, ...)
    no_extra('split_with_sizes', '(split_sizes, [dim])', ...)
    if type(sizes) ~= 'table' or is_tensor(sizes) then argerror('split_with_sizes', 'a list of sizes', sizes) end
    return Tensor.split(t, sizes, d)
  end)
  nl.split_with_sizes = Tensor.split_with_sizes
  Tensor.unsafe_split, Tensor.unsafe_chunk = Tensor.split, Tensor.chunk
  Tensor.unsafe_split_with_sizes = Tensor.split_with_sizes
  nl.unsafe_split, nl.unsafe_chunk, nl.unsafe_split_with_sizes = Tensor.split, Tensor.chunk, Tensor.split_with_sizes
  -- narrow_copy: narrow's values, a new contiguous tensor
  define('narrow_copy', as_op('narrow_copy', function(t, d, start, len, ...)
    no_extra('narrow_copy', '(dim, start, length)', ...)
    return Tensor.clone(Tensor.narrow(t, d, start, len))
  end))
  -- sum_to_size(...): t summed down to a shape it broadcasts from
  Tensor.sum_to_size = as_op('sum_to_size', function(t, ...)
    local want = select('#', ...) == 1 and type((...)) == 'table' and (...) or { ... }
    T(t, 'sum_to_size')
    local shape = Tensor.shape(t)
    local k = nl._list_len(want)
    local ok = k and k <= #shape
    for i = 1, ok and k or 0 do
      local w, have = want[k - i + 1], shape[#shape - i + 1]
      ok = ok and type(w) == 'number' and (w == have or w == 1)
    end
    if not ok then
      raise(('sum_to_size: size [%s] is not expandable to the tensor\'s shape %s'):format(
        type(want) == 'table' and table.concat(want, ',') or tostring(want), shape_str(t)))
    end
    local r = t
    for i = 1, #shape do
      local j = i - (#shape - k)
      if j < 1 then r = Tensor.sum(r, 1) elseif want[j] == 1 and shape[i] ~= 1 then
        r = Tensor.sum(r, j, true)
      end
    end
    return Tensor.reshape(r, want)
  end)
  -- put(index, source, [accumulate]): index_put over the flattened tensor
  -- (index: int64 places from 1, negative from the end)
  local function put(t, idx, src, accumulate, ...)
    no_extra('put', '(index, source, [accumulate])', ...)
    T(t, 'put')
    if not is_tensor(idx) then argerror('put', 'an int64 index tensor', idx) end
    if is_tensor(src) and Tensor.numel(src) ~= Tensor.numel(idx) then
      raise(('put: source of shape %s has not the %d elements of index %s'):format(shape_str(src), Tensor.numel(idx),
                                                                                 shape_str(idx)))
    end
    local flat = Tensor.reshape(t, -1)
    local v = is_tensor(src) and Tensor.reshape(src, -1) or src
    local ok, r = pcall(nl.index_put, flat, { Tensor.reshape(idx, -1) }, v, accumulate)
    if not ok then raise('put: ' .. tostring(r):gsub('^[^\n]-index_put: ', '')) end
    return Tensor.reshape(r, Tensor.shape(t))
  end
  Tensor.put = as_op('put', put)
  Tensor.put_ = as_op('put_', in_place('put_', put))
  -- i0_ and detach_ as torch.* functions too; i0_ in place
  if Tensor.i0 and not Tensor.i0_ then Tensor.i0_ = as_op('i0_', in_place('i0_', Tensor.i0)) end
  nl.i0_, nl.detach_ = Tensor.i0_, Tensor.detach_
  -- mvlgamma(p): the multivariate log-gamma, sum over j < p of
  -- lgamma(x - j / 2) + p (p - 1) / 4 log(pi)
  local function mvlgamma(t, p, ...)
    no_extra('mvlgamma', '(p)', ...)
    T(t, 'mvlgamma')
    if type(p) ~= 'number' or p < 1 or p ~= math.floor(p) then argerror('mvlgamma', 'a whole p >= 1', p) end
    -- (no domain check: PyTorch 1.13 gives lgamma's values, inf and NaN
    -- below (p - 1) / 2 too)
    local x = T(t).dtype == 2 and Tensor.to(t, nl._default_float()) or t
    local r = Tensor.lgamma(x)
    for j = 1, p - 1 do r = r + Tensor.lgamma(x - j / 2) end
    return r + p * (p - 1) / 4 * math.log(math.pi)
  end
  define('mvlgamma', as_op('mvlgamma', mvlgamma))
  Tensor.mvlgamma_ = as_op('mvlgamma_', in_place('mvlgamma_', mvlgamma))

  -- ---- in-place view changes ----------------------------------------------------------

  -- whether t may take another shape in place (unsqueeze_ and the others
  -- below, as_strided_ in tensor_strided.lua), as PyTorch 1.13 decides
  -- (tests/spec/tensor_compat_spec.lua has its answers): a leaf that
  -- requires grad may only with grad mode off (nl.no_grad; it stays a
  -- leaf that requires grad, and a graph that used it refuses backward),
  -- and a view made with grad mode off of a tensor that requires grad too;
  -- a tensor made by a recorded op never (PyTorch records the change, or,
  -- under no_grad, regenerates a view's grad_fn or fails at backward;
  -- nnlua's graph cannot follow it). A .grad alone does not stop it, as
  -- PyTorch's (a backward that meets the old shape fails, naming it).
  -- name: the out-of-place op the messages point to.
  function nl._check_view_inplace(op, name, t)
    local p = T(t, op)
    if p.node ~= nil or bit.band(p.flags, nl._lib.NL_FLAG_GRAPH_FREED) ~= 0 then
      raise(('%s: the tensor of shape %s was made by a recorded op (%s); a change of its shape in place would not '
             .. 'be recorded (use %s, the out-of-place view)'):format(op, shape_str(t), tostring(Tensor.grad_fn(t)),
             name))
    end
    if nl._lib.nl_is_grad_enabled() == 0 then return end
    if bit.band(p.flags, nl._lib.NL_FLAG_REQUIRES_GRAD) ~= 0 then
      raise(('%s: the tensor of shape %s is a leaf that requires grad, whose shape cannot change in place with grad '
             .. "mode on (PyTorch: 'a leaf Variable that requires grad is being used in an in-place operation'); "
             .. 'change it inside nl.no_grad, or use %s, the out-of-place view'):format(op, shape_str(t), name))
    end
    if bit.band(p.flags, nl._lib.NL_FLAG_NOGRAD_VIEW) ~= 0 then
      raise(('%s: the tensor of shape %s is a view made with grad mode off of a tensor that requires grad, and grad '
             .. 'mode is on (PyTorch refuses it too); change it inside nl.no_grad, or use %s, the out-of-place '
             .. 'view'):format(op, shape_str(t), name))
    end
  end

  -- t:unsqueeze_(d) and the others: t itself takes the shape and strides
  -- of the view the out-of-place op makes (the same memory), where
  -- nl._check_view_inplace allows it.
  for _, name in ipairs({ 'squeeze', 'unsqueeze', 't', 'transpose', 'swapaxes', 'swapdims' }) do
    local op, f = name .. '_', Tensor[name]
    Tensor[op] = as_op(op, function(t, ...)
      local p = T(t, op)
      nl._check_view_inplace(op, name, t)
      local q = T(f(t, ...))
      if q.data ~= p.data and q.numel > 0 then raise(op .. ': internal: the view does not share the memory') end
      -- (a new version: a graph that saved t refuses to run backward on
      -- the changed shape, as PyTorch's)
      nl._check(nl._lib.nl_mark_modified(p, op))
      p.ndim = q.ndim
      for i = 0, q.ndim - 1 do p.sizes[i], p.strides[i] = q.sizes[i], q.strides[i] end
      p.numel = q.numel
      return t
    end)
  end

  -- ---- PyTorch's tensor properties -----------------------------------------------------

  -- t.T: the dims reversed (t itself below 2 dims; PyTorch's, deprecated
  -- beyond 2); t.H: t:t() of a matrix (the conjugate is t), a 0-dim t itself; t.ndim:
  -- the dim count; t.data: t detached, sharing its values (writes through
  -- it change t, unrecorded). Fields, as PyTorch's (mT stays a method).
  local acc = nl._accessors
  acc.T = function(t)
    local n = T(t, 'T').ndim
    if n < 2 then return t end
    local dims = {}
    for i = 1, n do dims[i] = n - i + 1 end
    return Tensor.permute(t, dims)
  end
  -- H: PyTorch's matrix property, a matrix or a 0-dim tensor only
  acc.H = function(t)
    local n = T(t, 'H').ndim
    if n ~= 0 and n ~= 2 then
      raise(('H: expected a matrix (2-D) or a 0-dim tensor, got shape %s%s'):format(shape_str(t),
            n > 2 and ' (t:mH() transposes a batch of matrices)' or ''))
    end
    return n == 2 and Tensor.t(t) or t
  end
  acc.ndim = function(t) return T(t, 'ndim').ndim end
  acc.data = function(t) return Tensor.detach(t) end

  -- ---- the generator's state --------------------------------------------------------

  local ffi = require 'ffi'
  local gen = nl._generator
  -- get_rng_state(): the default generator's state, an int64 tensor
  -- {seed, offset} (their 64 bits); set_rng_state(state) restores it, so
  -- the draws after it repeat those after the get
  function nl.get_rng_state(...)
    no_extra('get_rng_state', '()', ...)
    local t = nl.zeros({ 2 }, 'int64')
    local d = ffi.cast('int64_t *', t.ptr.data)
    d[0], d[1] = ffi.cast('int64_t', gen.seed), ffi.cast('int64_t', gen.offset)
    return t
  end
  function nl.set_rng_state(state, ...)
    no_extra('set_rng_state', '(new_state)', ...)
    if not is_tensor(state) or T(state, 'set_rng_state').dtype ~= 2 or Tensor.numel(state) ~= 2
       or T(state).ndim ~= 1 then
      raise(('set_rng_state: expected the int64 tensor of 2 elements get_rng_state gives, got %s'):format(
        is_tensor(state) and (Tensor.dtype(state) .. ' ' .. shape_str(state)) or nl._describe_arg(state)))
    end
    local c = Tensor.contiguous(state)
    local d = ffi.cast('int64_t *', c.ptr.data)
    gen.seed, gen.offset = ffi.cast('uint64_t', d[0]), ffi.cast('uint64_t', d[1])
  end
  -- initial_seed(): the seed of the default generator (manual_seed's, or
  -- the one it starts with), a number where a double holds it exactly,
  -- else its uint64 cdata (a negative seed wraps to 64 bits, as PyTorch's)
  function nl.initial_seed(...)
    no_extra('initial_seed', '()', ...)
    local v = gen.seed
    if v <= 2ULL ^ 53 then return tonumber(v) end
    return v
  end
  -- seed(): seeds the default generator from the system's entropy
  -- (/dev/urandom; the clock where it cannot be read) and returns the seed,
  -- a whole number below 2^48
  function nl.seed(...)
    no_extra('seed', '()', ...)
    local v
    local f = io.open('/dev/urandom', 'rb')
    if f then
      local b = f:read(6)
      f:close()
      if b and #b == 6 then
        v = 0
        for i = 1, 6 do v = v * 256 + b:byte(i) end
      end
    end
    v = v or (os.time() * 1000 + math.floor(os.clock() * 1e6)) % 2 ^ 48
    nl.manual_seed(v)
    return v
  end

  -- ---- dtype predicates ---------------------------------------------------------

  -- is_floating_point: float32 or float64; is_signed: every nnlua dtype is;
  -- is_complex: none is
  define('is_floating_point', function(t, ...)
    no_extra('is_floating_point', '()', ...)
    return T(t, 'is_floating_point').dtype ~= 2
  end)
  define('is_signed', function(t, ...)
    no_extra('is_signed', '()', ...)
    T(t, 'is_signed')
    return true
  end)
  define('is_complex', function(t, ...)
    no_extra('is_complex', '()', ...)
    T(t, 'is_complex')
    return false
  end)
  -- is_nonzero: the one element of a one-element tensor is not 0
  define('is_nonzero', function(t, ...)
    no_extra('is_nonzero', '()', ...)
    if T(t, 'is_nonzero') and Tensor.numel(t) ~= 1 then
      raise(('is_nonzero: expected a tensor of one element, got shape %s'):format(shape_str(t)))
    end
    return Tensor.item(t) ~= 0
  end)
  define('is_same_size', function(a, b, ...)
    no_extra('is_same_size', '(other)', ...)
    T(a, 'is_same_size')
    T(b, 'is_same_size')
    return shape_str(a) == shape_str(b)
  end)
end
