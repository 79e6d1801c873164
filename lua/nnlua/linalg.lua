-- linalg.lua: nl.linalg's LU and Cholesky family, as PyTorch 1.13's
-- torch.linalg: inv, inv_ex, solve, det, slogdet, lu_factor, lu_factor_ex,
-- lu_solve, lu, cholesky, cholesky_ex, solve_triangular, matrix_power; and
-- nl.inverse, nl.det, nl.logdet, nl.slogdet, nl.cholesky_solve,
-- nl.cholesky_inverse with their Tensor methods (the last two solve or
-- invert A = L L^T, so that L's gradient is PyTorch's, over all of L). The kernels and their
-- gradients are ops_linalg.c's; here the batch dims broadcast, vectors
-- become one-column matrices, and the right-hand forms (X A = B) are the
-- left-hand ones of the transposes. Pivots are 1-based, as PyTorch's
-- (LAPACK's): row i was swapped with row pivots[i]. lu_factor and lu take
-- non-square A too, and their gradient goes to A; lu_solve's to LU and B. Loaded on first use (init.lua's
-- TENSOR_EXTRAS); QR, eigh and SVD (linalg_decomp.lua) join the same table.
local ffi = require 'ffi'

return function(nl)
  local lib, Tensor = nl._lib, nl.Tensor
  local wrap, T, raise, argerror = nl._wrap, nl._T, nl._raise, nl._argerror
  local is_tensor, shape_str = nl.is_tensor, nl._shape_str
  local outs = ffi.new('nl_tensor *[2]')   -- the C calls' second and third results
  nl.linalg = nl.linalg or {}
  local linalg = nl.linalg

  -- ---- argument helpers -------------------------------------------------------

  local function opts_of(op, opts, known)
    if opts == nil then return {} end
    if type(opts) ~= 'table' or is_tensor(opts) then argerror(op, 'an options table', opts) end
    nl._check_opts(op, opts, known)
    return opts
  end
  local function no_extra(op, takes, ...)
    if select('#', ...) > 0 then nl._no_extra_args(op, takes, nil, ...) end
  end
  local function shape(t) return Tensor.shape(t) end
  -- the tensor t, which must be float with at least dims dims, else an error naming op
  local function float_arg(op, what, t, dims)
    local p = T(t, op)
    if p.dtype == 2 then
      raise(('%s: expected a float32 or float64 tensor as %s, got int64 %s'):format(op, what, shape_str(t)))
    end
    if p.ndim < dims then
      raise(('%s: %s must have at least %d dims, got %s'):format(op, what, dims, shape_str(t)))
    end
    return p
  end
  local function same_dtype(op, a, b)
    if a:dtype() ~= b:dtype() then
      raise(('%s: A (%s %s) and B (%s %s) must have the same dtype'):format(op, a:dtype(), shape_str(a), b:dtype(),
                                                                            shape_str(b)))
    end
  end
  -- the batch dims (all but the last two) of A and B broadcast, and A
  -- and B expanded to them, or an error naming op
  local function broadcast_batch(op, a, b)
    local sa, sb = shape(a), shape(b)
    local na, nb = #sa - 2, #sb - 2
    local n, batch = math.max(na, nb), {}
    for i = 1, n do
      local x, y = sa[i - (n - na)] or 1, sb[i - (n - nb)] or 1
      if x ~= y and x ~= 1 and y ~= 1 then
        raise(('%s: the batch dims of A %s and B %s do not broadcast'):format(op, shape_str(a), shape_str(b)))
      end
      batch[i] = x == 1 and y or x
    end
    local ea, eb = {}, {}
    for i = 1, n do ea[i], eb[i] = batch[i], batch[i] end
    ea[n + 1], ea[n + 2] = sa[na + 1], sa[na + 2]
    eb[n + 1], eb[n + 2] = sb[nb + 1], sb[nb + 2]
    if na ~= n or table.concat(ea, ',') ~= table.concat(sa, ',') then a = Tensor.expand(a, ea) end
    if nb ~= n or table.concat(eb, ',') ~= table.concat(sb, ',') then b = Tensor.expand(b, eb) end
    return a, b
  end
  local function square(op, a, what)
    local p = float_arg(op, what or 'A', a, 2)
    local n = tonumber(p.sizes[p.ndim - 1])
    if tonumber(p.sizes[p.ndim - 2]) ~= n then
      raise(('%s: %s must be batches of square matrices (..., n, n), got %s'):format(op, what or 'A', shape_str(a)))
    end
    return n
  end
  -- B as PyTorch's linalg.solve takes it: a vector when it is 1-D or A's
  -- shape without the last dim; returns B as a matrix and whether it was one
  local function vector_case(a, b)
    local sa, sb = shape(a), shape(b)
    if #sb == 1 then return true end
    if #sb ~= #sa - 1 then return false end
    for i = 1, #sb do if sb[i] ~= sa[i] then return false end end
    return true
  end
  local function mT(t) return Tensor.transpose(t, -2, -1) end

  -- ---- LU ---------------------------------------------------------------------

  -- linalg.lu_factor(A): LU (L below the diagonal, its ones implied; U on
  -- and above) and pivots (int64, 1-based); a singular A is an error. A
  -- (..., m, n) need not be square: LU is (..., m, n), pivots (..., k),
  -- k = min(m, n)
  function linalg.lu_factor(a, ...)
    no_extra('linalg.lu_factor', '(A)', ...)
    local lu = wrap(lib.nl_linalg_lu_factor(T(a, 'linalg.lu_factor'), 1, outs, nil))
    return lu, wrap(outs[0])
  end
  -- linalg.lu_factor_ex(A): LU, pivots and info (int64 of the batch
  -- shape: 0, or the place of the first zero on U's diagonal), no error
  function linalg.lu_factor_ex(a, ...)
    no_extra('linalg.lu_factor_ex', '(A)', ...)
    float_arg('linalg.lu_factor_ex', 'A', a, 2)
    local lu = wrap(lib.nl_linalg_lu_factor(T(a, 'linalg.lu_factor_ex'), 0, outs, outs + 1))
    local piv = wrap(outs[0])
    return lu, piv, wrap(outs[1])
  end
  -- linalg.lu(A): P (m, m), L (m, k) and U (k, n) with A = P L U, k =
  -- min(m, n) (a singular A too)
  function linalg.lu(a, ...)
    no_extra('linalg.lu', '(A)', ...)
    local p = float_arg('linalg.lu', 'A', a, 2)
    local m, n = tonumber(p.sizes[p.ndim - 2]), tonumber(p.sizes[p.ndim - 1])
    local k = math.min(m, n)
    local lu, piv = linalg.lu_factor_ex(a)
    local perm = wrap(lib.nl_linalg_lu_permutation(piv.ptr, m, p.dtype))
    local l, u = lu, lu
    if n > k then l = Tensor.narrow(lu, -1, 1, k) end
    if m > k then u = Tensor.narrow(lu, -2, 1, k) end
    return perm, Tensor.tril(l, -1) + nl.eye(m, k, a:dtype()), Tensor.triu(u)
  end
  -- linalg.lu_solve(LU, pivots, B, {left = true, adjoint = false}): X with
  -- A X = B (left = false: X A = B; adjoint: A^T for A) for the A that
  -- lu_factor factored; gradients to LU (PyTorch 1.13's, of LU's packed
  -- L and U) and B
  local LU_SOLVE_OPTS = { left = 'flag', adjoint = 'flag' }
  function linalg.lu_solve(lu, piv, b, opts, ...)
    local op = 'linalg.lu_solve'
    no_extra(op, '(LU, pivots, B, [opts])', ...)
    opts = opts_of(op, opts, LU_SOLVE_OPTS)
    square(op, lu, 'LU')
    float_arg(op, 'B', b, 2)
    same_dtype(op, lu, b)
    local pp = T(piv, op)
    if pp.dtype ~= 2 then argerror(op, 'int64 pivots', piv) end
    local ls = shape(lu)
    ls[#ls] = nil
    if table.concat(ls, ',') ~= table.concat(shape(piv), ',') then
      raise(('%s: pivots %s do not fit LU %s (they must be (..., n))'):format(op, shape_str(piv), shape_str(lu)))
    end
    local left, adjoint = opts.left ~= false, opts.adjoint == true
    if not left then b, adjoint = mT(b), not adjoint end
    local lb
    lu, lb = broadcast_batch(op, lu, b)
    local ps = shape(lu)
    ps[#ps] = nil
    if table.concat(ps, ',') ~= table.concat(shape(piv), ',') then piv = Tensor.expand(piv, ps) end
    local x = wrap(lib.nl_linalg_lu_solve(T(lu, op), T(piv, op), T(lb, op), adjoint and 1 or 0))
    return left and x or mT(x)
  end

  -- ---- inv, solve, det --------------------------------------------------------

  function linalg.inv(a, ...)
    no_extra('linalg.inv', '(A)', ...)
    return wrap(lib.nl_linalg_inv(T(a, 'linalg.inv'), 1, nil))
  end
  -- linalg.inv_ex(A): the inverse and info (0, or the first zero on U's
  -- diagonal: then the inverse holds inf or NaN), no error
  function linalg.inv_ex(a, ...)
    no_extra('linalg.inv_ex', '(A)', ...)
    local x = wrap(lib.nl_linalg_inv(T(a, 'linalg.inv_ex'), 0, outs))
    return x, wrap(outs[0])
  end
  -- linalg.solve(A, B, {left = true}): X with A X = B (X A = B); B a
  -- vector (n) or (..., n), or matrices (..., n, k); batch dims broadcast
  local SOLVE_OPTS = { left = 'flag' }
  -- X with A X = B (X A = B unless left); B may be a vector where vectors
  local function solve(op, a, b, left, vectors)
    local n = square(op, a)
    float_arg(op, 'B', b, vectors and 1 or 2)
    same_dtype(op, a, b)
    local vec = vectors and vector_case(a, b)
    local bm = vec and Tensor.unsqueeze(b, left and -1 or -2) or b
    local rows = left and bm:size(-2) or bm:size(-1)
    if rows ~= n then
      raise(('%s: A %s and B %s do not fit %s'):format(op, shape_str(a), shape_str(b), left and 'AX = B' or 'XA = B'))
    end
    if not left then a, bm = mT(a), mT(bm) end
    local ae, be = broadcast_batch(op, a, bm)
    local x = wrap(lib.nl_linalg_solve(T(ae, op), T(be, op)))
    if not left then x = mT(x) end
    if vec then x = Tensor.squeeze(x, left and -1 or -2) end
    return x
  end
  function linalg.solve(a, b, opts, ...)
    local op = 'linalg.solve'
    no_extra(op, '(A, B, [opts])', ...)
    opts = opts_of(op, opts, SOLVE_OPTS)
    return solve(op, a, b, opts.left ~= false, true)
  end
  function linalg.det(a, ...)
    no_extra('linalg.det', '(A)', ...)
    return wrap(lib.nl_linalg_det(T(a, 'linalg.det')))
  end
  -- linalg.slogdet(A): sign (-1, 0 or 1) and log|det A|; the gradient
  -- goes through logabsdet
  function linalg.slogdet(a, ...)
    no_extra('linalg.slogdet', '(A)', ...)
    local logabs = wrap(lib.nl_linalg_slogdet(T(a, 'linalg.slogdet'), outs))
    return wrap(outs[0]), logabs
  end
  -- linalg.matrix_power(A, k): A^k for an integer k; k < 0 inverts A first
  -- (an int64 A, products alone, takes k >= 0, as PyTorch's)
  function linalg.matrix_power(a, k, ...)
    local op = 'linalg.matrix_power'
    no_extra(op, '(A, k)', ...)
    if type(k) ~= 'number' or k ~= math.floor(k) or math.abs(k) >= 2 ^ 53 then
      argerror(op, 'an integer k', k)
    end
    local n
    if is_tensor(a) and T(a, op).dtype == 2 and k >= 0 then
      local p = T(a, op)
      if p.ndim < 2 or p.sizes[p.ndim - 1] ~= p.sizes[p.ndim - 2] then
        raise(('%s: A must be batches of square matrices (..., n, n), got %s'):format(op, shape_str(a)))
      end
      n = tonumber(p.sizes[p.ndim - 1])
    else
      n = square(op, a)
    end
    if k == 0 then return Tensor.contiguous(Tensor.expand(nl.eye(n, n, a:dtype()), shape(a))) end
    if k < 0 then a, k = linalg.inv(a), -k end
    local result, z = nil, a
    while true do
      if k % 2 == 1 then result = result and nl.matmul(result, z) or z end
      k = math.floor(k / 2)
      if k == 0 then break end
      z = nl.matmul(z, z)
    end
    return result
  end

  -- ---- Cholesky and triangular solves -----------------------------------------

  -- linalg.cholesky(A, {upper = false}): L lower with A = L L^T from A's
  -- lower triangle (upper: U with A = U^T U, from the upper one)
  local UPPER_OPTS = { upper = 'flag' }
  function linalg.cholesky(a, opts, ...)
    local op = 'linalg.cholesky'
    no_extra(op, '(A, [opts])', ...)
    opts = opts_of(op, opts, UPPER_OPTS)
    if opts.upper then
      square(op, a)
      return mT(wrap(lib.nl_linalg_cholesky(T(mT(a), op), 1, nil)))
    end
    return wrap(lib.nl_linalg_cholesky(T(a, op), 1, nil))
  end
  -- linalg.cholesky_ex(A, {upper}): L and info (0, or the order of the
  -- first leading minor that is not positive-definite), no error
  function linalg.cholesky_ex(a, opts, ...)
    local op = 'linalg.cholesky_ex'
    no_extra(op, '(A, [opts])', ...)
    opts = opts_of(op, opts, UPPER_OPTS)
    if opts.upper then square(op, a) end
    local l = wrap(lib.nl_linalg_cholesky(T(opts.upper and mT(a) or a, op), 0, outs))
    return opts.upper and mT(l) or l, wrap(outs[0])
  end
  -- linalg.solve_triangular(A, B, {upper = , left = true, unitriangular =
  -- false}): X with A X = B (left = false: X A = B) for A triangular,
  -- upper or lower (upper is required, as PyTorch's keyword); only that
  -- triangle of A is read, its diagonal taken as ones when unitriangular
  local TRI_OPTS = { upper = 'flag', left = 'flag', unitriangular = 'flag' }
  function linalg.solve_triangular(a, b, opts, ...)
    local op = 'linalg.solve_triangular'
    no_extra(op, '(A, B, {upper = ...})', ...)
    opts = opts_of(op, opts, TRI_OPTS)
    if opts.upper == nil then raise(op .. ': the option upper (true or false) is required') end
    local n = square(op, a)
    float_arg(op, 'B', b, 2)
    same_dtype(op, a, b)
    local left, upper = opts.left ~= false, opts.upper
    if (left and b:size(-2) or b:size(-1)) ~= n then
      raise(('%s: A %s and B %s do not fit %s'):format(op, shape_str(a), shape_str(b), left and 'AX = B' or 'XA = B'))
    end
    if not left then a, b, upper = mT(a), mT(b), not upper end
    local ae, be = broadcast_batch(op, a, b)
    local x = wrap(lib.nl_linalg_solve_triangular(T(ae, op), T(be, op), upper and 1 or 0,
                                                  opts.unitriangular and 1 or 0))
    return left and x or mT(x)
  end

  -- ---- torch's functions and Tensor methods ------------------------------------

  -- torch.cholesky_solve(B, L, upper = false): X with A X = B for A = L L^T (U^T U)
  function nl.cholesky_solve(b, l, upper, ...)
    local op = 'cholesky_solve'
    no_extra(op, '(B, L, [upper])', ...)
    if upper ~= nil and type(upper) ~= 'boolean' then argerror(op, 'upper as a boolean', upper) end
    square(op, l, 'L')
    -- solved on A itself: PyTorch's gradient takes L whole (not its triangle)
    return solve(op, upper == true and nl.matmul(mT(l), l) or nl.matmul(l, mT(l)), b, true, false)
  end
  -- torch.cholesky_inverse(L, upper = false): A^-1 for A = L L^T (U^T U)
  function nl.cholesky_inverse(l, upper, ...)
    local op = 'cholesky_inverse'
    no_extra(op, '(L, [upper])', ...)
    if upper ~= nil and type(upper) ~= 'boolean' then argerror(op, 'upper as a boolean', upper) end
    square(op, l, 'L')
    return linalg.inv(upper == true and nl.matmul(mT(l), l) or nl.matmul(l, mT(l)))
  end
  function Tensor.cholesky_solve(b, l, upper, ...) return nl.cholesky_solve(b, l, upper, ...) end
  function Tensor.cholesky_inverse(l, upper, ...) return nl.cholesky_inverse(l, upper, ...) end
  -- torch.logdet(A): log det A (NaN for a negative det, -inf for 0)
  function nl.logdet(a, ...)
    no_extra('logdet', '(A)', ...)
    local sign, logabs = linalg.slogdet(a)
    return logabs + Tensor.log(sign)
  end
  function nl.inverse(a, ...) no_extra('inverse', '(A)', ...) return linalg.inv(a) end
  function nl.det(a, ...) no_extra('det', '(A)', ...) return linalg.det(a) end
  function nl.slogdet(a, ...) no_extra('slogdet', '(A)', ...) return linalg.slogdet(a) end
  function nl.matrix_power(a, k, ...) return linalg.matrix_power(a, k, ...) end
  Tensor.inverse, Tensor.det, Tensor.logdet, Tensor.slogdet = nl.inverse, nl.det, nl.logdet, nl.slogdet
  Tensor.matrix_power = nl.matrix_power
  -- x:cholesky(upper = false), torch.cholesky's positional flag
  function Tensor.cholesky(a, upper, ...)
    no_extra('cholesky', '([upper])', ...)
    if upper ~= nil and type(upper) ~= 'boolean' then argerror('cholesky', 'upper as a boolean', upper) end
    return linalg.cholesky(a, { upper = upper == true })
  end
  nl.cholesky = Tensor.cholesky
end
