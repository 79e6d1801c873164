-- linalg_extra.lua: the rest of torch.linalg (PyTorch 1.13) in nl.linalg,
-- composed of nnlua's ops (so that autograd gives their gradients):
-- matrix_exp (with PyTorch's gradient), cond, multi_dot,
-- householder_product, tensorinv, tensorsolve, cross, vecdot, vander,
-- diagonal, solve_ex, and ldl_factor(_ex) and ldl_solve (the kernels
-- ops_linalg_ldl.c's); and nl.chain_matmul, nl.matrix_exp and
-- their Tensor methods. Loaded on first use with the other Tensor extras
-- (init.lua's TENSOR_EXTRAS). The LU, Cholesky and orthogonal families are
-- linalg.lua's and linalg_decomp.lua's.
return function(nl)
  local Tensor = nl.Tensor
  local raise, argerror, is_tensor, shape_str = nl._raise, nl._argerror, nl.is_tensor, nl._shape_str
  local describe = nl._describe_arg
  local INF = math.huge
  local mm = nl.matmul
  local linalg = nl.linalg

  local function no_extra(op, takes, ...)
    if select('#', ...) > 0 then nl._no_extra_args(op, takes, nil, ...) end
  end
  local function mT(x) return Tensor.transpose(x, -1, -2) end
  local function tensor_arg(op, what, x)
    if not is_tensor(x) then argerror(op, 'a tensor as ' .. what, x) end
    return x
  end
  -- x, a float tensor of at least 2 dims (square with square), or an error naming op
  local function matrices(op, x, square, what)
    what = what or 'A'
    tensor_arg(op, what, x)
    if Tensor.dtype(x) == 'int64' then
      raise(('%s: expected a float32 or float64 tensor as %s, got int64 %s'):format(op, what, shape_str(x)))
    end
    if Tensor.dim(x) < 2 then
      raise(('%s: %s must have at least 2 dims (a batch of matrices), got shape %s'):format(op, what, shape_str(x)))
    end
    if square and Tensor.size(x, -1) ~= Tensor.size(x, -2) then
      raise(('%s: %s must be batches of square matrices (..., n, n), got shape %s'):format(op, what, shape_str(x)))
    end
  end
  local function whole(v) return type(v) == 'number' and v == math.floor(v) and math.abs(v) < 2 ^ 53 end
  local function prod(s, i, j)
    local p = 1
    for k = i, j do p = p * s[k] end
    return p
  end
  -- a batch shape followed by more sizes
  local function with(batch, ...)
    local s = { unpack(batch) }
    for _, v in ipairs({ ... }) do s[#s + 1] = v end
    return s
  end
  local function batch_of(x, drop)
    local s = Tensor.shape(x)
    for _ = 1, drop do s[#s] = nil end
    return s
  end

  -- x and y expanded to their broadcast shape, or nil
  local function broadcast2(x, y)
    local sx, sy = Tensor.shape(x), Tensor.shape(y)
    local n = math.max(#sx, #sy)
    local s = {}
    for i = 1, n do
      local a, b = sx[i - (n - #sx)] or 1, sy[i - (n - #sy)] or 1
      if a ~= b and a ~= 1 and b ~= 1 then return nil end
      s[i] = a == 1 and b or a
    end
    return Tensor.expand(x, s), Tensor.expand(y, s)
  end

  -- ---- the matrix exponential ---------------------------------------------------

  -- Higham (2005)'s degree-13 Padé approximant with scaling and squaring:
  -- each matrix scaled by 2^-s, s the least with |A / 2^s|_1 <= theta_13,
  -- then squared s times (a batch each its own s); float32 in float64
  local PADE = { 64764752532480000, 32382376266240000, 7771770303897600, 1187353796428800, 129060195264000,
                 10559470521600, 670442572800, 33522128640, 1323241920, 40840800, 960960, 16380, 182, 1 }
  local THETA13 = 5.371920351148152
  local function expm(A)
    local dt = Tensor.dtype(A)
    local n = Tensor.size(A, -1)
    local X = Tensor.double(A)
    if n == 0 or Tensor.numel(X) == 0 then return Tensor.clone(A) end
    local norm1 = Tensor.amax(Tensor.sum(Tensor.abs(X), -2), -1)
    local finite = Tensor.isfinite(norm1)
    local s = Tensor.clamp(Tensor.ceil(Tensor.log2(Tensor.nan_to_num(norm1, 0, 0, 0) / THETA13)), 0, 1100)
    s = nl.where(finite, s, 0)
    local ss = Tensor.unsqueeze(Tensor.unsqueeze(s, -1), -1)
    X = X * Tensor.exp2(-ss)
    local b = PADE
    local I = nl.eye(n, n, 'float64')
    local X2 = mm(X, X)
    local X4 = mm(X2, X2)
    local X6 = mm(X4, X2)
    local U = mm(X, mm(X6, X6 * b[14] + X4 * b[12] + X2 * b[10]) + X6 * b[8] + X4 * b[6] + X2 * b[4] + I * b[2])
    local V = mm(X6, X6 * b[13] + X4 * b[11] + X2 * b[9]) + X6 * b[7] + X4 * b[5] + X2 * b[3] + I * b[1]
    local ok = Tensor.unsqueeze(Tensor.unsqueeze(finite, -1), -1)
    -- NaN and inf input: NaN out (the solve is kept off them)
    local P, Q = nl.where(ok, V + U, 0), nl.where(ok, V - U, I)
    local R = linalg.solve(Q, P)
    local smax = Tensor.numel(s) > 0 and Tensor.item(Tensor.max(s)) or 0
    for k = 1, smax do R = nl.where(Tensor.ge(ss, k), mm(R, R), R) end
    R = nl.where(ok, R, 0 / 0)
    return dt == 'float64' and R or Tensor.to(R, dt)
  end

  -- its gradient, PyTorch's: the upper right block of exp([[A^T, G], [0, A^T]])
  local MatrixExp
  local function matrix_exp_fn()
    if MatrixExp then return MatrixExp end
    MatrixExp = nl.autograd.Function('linalg.matrix_exp', {
      forward = function(ctx, A)
        ctx:save_for_backward(A)
        return expm(A)
      end,
      backward = function(ctx, G)
        local A = ctx:saved_tensors()
        local n = Tensor.size(A, -1)
        local At = mT(A)
        local Ge = Tensor.expand(G, Tensor.shape(A))
        local M = nl.cat({ nl.cat({ At, Ge }, -1), nl.cat({ nl.zeros_like(At), At }, -1) }, -2)
        return Tensor.narrow(Tensor.narrow(linalg.matrix_exp(M), -2, 1, n), -1, n + 1, n)
      end,
    })
    return MatrixExp
  end

  -- nl.linalg.matrix_exp(A): exp of each square matrix of A (..., n, n)
  function linalg.matrix_exp(A, ...)
    no_extra('linalg.matrix_exp', '(A)', ...)
    matrices('linalg.matrix_exp', A, true)
    if Tensor.numel(A) == 0 then return Tensor.clone(A) end
    if nl._lib.nl_is_grad_enabled() ~= 0 and A.is_requires_grad then return matrix_exp_fn().apply(A) end
    return expm(A)
  end
  nl.matrix_exp = linalg.matrix_exp
  Tensor.matrix_exp = linalg.matrix_exp

  -- ---- the condition number -------------------------------------------------------

  local COND_ORDS = { fro = true, nuc = true, [2] = true, [-2] = true, [1] = true, [-1] = true, [INF] = true,
                      [-INF] = true }
  -- nl.linalg.cond(A, [p]): p nil, 2, -2 (of any (..., m, n), by the
  -- singular values), 'fro', 'nuc', 1, -1, inf, -inf (square: |A| |A^-1|,
  -- inf for a singular A), as PyTorch 1.13's
  -- A's singular values, an error of svdvals (NaN or inf in A) named op
  local function svdvals_of(op, A)
    local ok, sv = pcall(linalg.svdvals, A)
    if ok then return sv end
    raise(op .. ': ' .. (tostring(sv):match('linalg%.svdvals: (.*)$') or tostring(sv)))
  end
  function linalg.cond(A, p, ...)
    local op = 'linalg.cond'
    no_extra(op, '(A, [p])', ...)
    if p == nil then p = 2 end
    if not COND_ORDS[p] then
      raise(("%s: p must be nil, 2, -2, 'fro', 'nuc', 1, -1, inf or -inf, got %s"):format(op, describe(p)))
    end
    matrices(op, A, p ~= 2 and p ~= -2)
    if Tensor.numel(A) == 0 then return nl.zeros(batch_of(A, 2), Tensor.dtype(A)) end
    if p == 2 or p == -2 then
      local sv = svdvals_of(op, A)
      local k = Tensor.size(sv, -1)
      local smax, smin = Tensor.select(sv, -1, 1), Tensor.select(sv, -1, k)
      return p == 2 and smax / smin or smin / smax
    end
    if p == 'nuc' then
      local sv = svdvals_of(op, A)
      return Tensor.sum(sv, -1) * Tensor.sum(Tensor.reciprocal(sv), -1)
    end
    local inv, info = linalg.inv_ex(A)
    local singular = Tensor.unsqueeze(Tensor.unsqueeze(Tensor.gt(info, 0), -1), -1)
    inv = nl.where(singular, INF, inv)
    local r = linalg.matrix_norm(A, p) * linalg.matrix_norm(inv, p)
    return Tensor.nan_to_num(r, INF, INF, -INF)
  end

  -- ---- chains of products ---------------------------------------------------------

  -- the product of the matrices ms (a Lua list, 2-D each) in the order of
  -- least multiplications (the classic dynamic program, as PyTorch's)
  local function chain(ms)
    local n = #ms
    if n == 1 then return ms[1] end
    if n == 2 then return mm(ms[1], ms[2]) end
    local d = { Tensor.size(ms[1], 1) }
    for i = 1, n do d[i + 1] = Tensor.size(ms[i], 2) end
    local cost, split = {}, {}
    for i = 1, n do cost[i], split[i] = { [i] = 0 }, {} end
    for len = 2, n do
      for i = 1, n - len + 1 do
        local j = i + len - 1
        cost[i][j] = INF
        for k = i, j - 1 do
          local c = cost[i][k] + cost[k + 1][j] + d[i] * d[k + 1] * d[j + 1]
          if c < cost[i][j] then cost[i][j], split[i][j] = c, k end
        end
      end
    end
    local function product(i, j)
      if i == j then return ms[i] end
      local k = split[i][j]
      return mm(product(i, k), product(k + 1, j))
    end
    return product(1, n)
  end

  -- nl.linalg.multi_dot(list): the product of the tensors of the list,
  -- 2-D but the first and the last, which may be 1-D (a row and a column
  -- vector, their dim dropped from the result), as PyTorch's
  function linalg.multi_dot(list, ...)
    local op = 'linalg.multi_dot'
    no_extra(op, '(list)', ...)
    local n = nl._list_len(list)
    if is_tensor(list) or not n then argerror(op, 'a list of tensors', list) end
    if n < 2 then raise(('%s: expected at least 2 tensors, got %d'):format(op, n)) end
    local ms, dt = {}, nil
    for i, x in ipairs(list) do
      tensor_arg(op, 'tensor ' .. i, x)
      local d = Tensor.dim(x)
      local ends = (i == 1 or i == n) and '1-D or 2-D' or '2-D'
      if d ~= 2 and not (d == 1 and (i == 1 or i == n)) then
        raise(('%s: tensor %d must be %s, got shape %s'):format(op, i, ends, shape_str(x)))
      end
      if dt and Tensor.dtype(x) ~= dt then
        raise(('%s: all tensors must have one dtype, got %s and %s (tensor %d %s)'):format(op, dt, Tensor.dtype(x),
                                                                                         i, shape_str(x)))
      end
      dt = Tensor.dtype(x)
      if d == 1 then x = i == 1 and Tensor.unsqueeze(x, 1) or Tensor.unsqueeze(x, 2) end
      if i > 1 and Tensor.size(ms[i - 1], 2) ~= Tensor.size(x, 1) then
        raise(('%s: tensor %d %s and tensor %d %s cannot be multiplied'):format(op, i - 1, shape_str(list[i - 1]), i,
                                                                               shape_str(list[i])))
      end
      ms[i] = x
    end
    local r = chain(ms)
    local first, last = Tensor.dim(list[1]) == 1, Tensor.dim(list[n]) == 1
    if first and last then return Tensor.reshape(r, {}) end
    if first then return Tensor.squeeze(r, 1) end
    if last then return Tensor.squeeze(r, 2) end
    return r
  end

  -- nl.chain_matmul(m1, m2, ...) or nl.chain_matmul({...}): torch's
  -- (deprecated) product of 2-D matrices, one of them itself
  function nl.chain_matmul(...)
    local op = 'chain_matmul'
    local list = { ... }
    if select('#', ...) == 1 and not is_tensor(list[1]) and type(list[1]) == 'table' then list = list[1] end
    local n = nl._list_len(list)
    if not n or n == 0 then raise(op .. ': expected one or more 2-D tensors') end
    for i, x in ipairs(list) do
      tensor_arg(op, 'matrix ' .. i, x)
      if Tensor.dim(x) ~= 2 then
        raise(('%s: expected 2-D tensors, got shape %s as matrix %d'):format(op, shape_str(x), i))
      end
    end
    if n == 1 then return Tensor.clone(list[1]) end
    return (linalg.multi_dot(list))
  end

  -- ---- Householder products -----------------------------------------------------------

  -- nl.linalg.householder_product(A, tau): the first n columns of H_1 ...
  -- H_k, H_i = I - tau_i v_i v_i^T, v_i A's column i below the diagonal
  -- with a 1 on it (A (..., m, n), tau (..., k), k <= n <= m): LAPACK's
  -- orgqr, as PyTorch's; the gradient to A and tau
  function linalg.householder_product(A, tau, ...)
    local op = 'linalg.householder_product'
    no_extra(op, '(A, tau)', ...)
    matrices(op, A)
    tensor_arg(op, 'tau', tau)
    local m, n = Tensor.size(A, -2), Tensor.size(A, -1)
    if m < n then raise(('%s: A %s must have at least as many rows as columns'):format(op, shape_str(A))) end
    if Tensor.dim(tau) ~= Tensor.dim(A) - 1 then
      raise(('%s: tau %s must have one dim less than A %s'):format(op, shape_str(tau), shape_str(A)))
    end
    local k = Tensor.size(tau, -1)
    if k > n then raise(('%s: tau %s has more entries than A %s has columns'):format(op, shape_str(tau), shape_str(A))) end
    local ba, bt = batch_of(A, 2), batch_of(tau, 1)
    if table.concat(ba, ',') ~= table.concat(bt, ',') then
      raise(('%s: the batch dims of A %s and tau %s must be equal'):format(op, shape_str(A), shape_str(tau)))
    end
    if Tensor.dtype(tau) ~= Tensor.dtype(A) then
      raise(('%s: A (%s %s) and tau (%s %s) must have one dtype'):format(op, Tensor.dtype(A), shape_str(A),
                                                                       Tensor.dtype(tau), shape_str(tau)))
    end
    local eye = nl.eye(m, n, Tensor.dtype(A))
    local Vs = Tensor.tril(A, -1) + eye
    local Q = Tensor.expand(eye, Tensor.shape(A))
    for i = k, 1, -1 do
      local v = Tensor.narrow(Vs, -1, i, 1)                          -- (..., m, 1)
      local t = Tensor.unsqueeze(Tensor.narrow(tau, -1, i, 1), -1)   -- (..., 1, 1)
      Q = Q - mm(v * t, mm(mT(v), Q))
    end
    return Tensor.contiguous(Q)
  end

  -- ---- tensor inverses and solves ---------------------------------------------------

  -- nl.linalg.tensorinv(A, [ind]): the tensor X with tensordot(X, A, ind)
  -- the identity: A's first ind dims (2) against the rest, whose sizes'
  -- products must be equal; the result has shape A[ind+1..] ++ A[1..ind]
  function linalg.tensorinv(A, ind, ...)
    local op = 'linalg.tensorinv'
    no_extra(op, '(A, [ind])', ...)
    tensor_arg(op, 'A', A)
    if ind == nil then ind = 2 end
    if not whole(ind) or ind < 1 then raise(('%s: ind must be a whole number >= 1, got %s'):format(op, describe(ind))) end
    local s = Tensor.shape(A)
    if ind > #s then raise(('%s: ind %d is past the dims of A %s'):format(op, ind, shape_str(A))) end
    local rows, cols = prod(s, 1, ind), prod(s, ind + 1, #s)
    if rows ~= cols then
      raise(('%s: the product of the first %d dims of A %s (%d) must equal that of the rest (%d)'):format(
        op, ind, shape_str(A), rows, cols))
    end
    local out = {}
    for i = ind + 1, #s do out[#out + 1] = s[i] end
    for i = 1, ind do out[#out + 1] = s[i] end
    return Tensor.reshape(linalg.inv(Tensor.reshape(A, { rows, cols })), out)
  end

  -- nl.linalg.tensorsolve(A, B, [dims]): X with tensordot(A, X, X:dim())
  -- = B; dims (1-based), A's dims moved to the end first
  function linalg.tensorsolve(A, B, dims, ...)
    local op = 'linalg.tensorsolve'
    no_extra(op, '(A, B, [dims])', ...)
    tensor_arg(op, 'A', A)
    tensor_arg(op, 'B', B)
    local nd = Tensor.dim(A)
    if dims ~= nil then
      if type(dims) == 'number' then dims = { dims } end
      local k = nl._list_len(dims)
      if is_tensor(dims) or not k then argerror(op, 'dims as a list of dims', dims) end
      local moved, perm = {}, {}
      for i, d in ipairs(dims) do
        if not whole(d) or d == 0 or d > nd or d < -nd then
          raise(('%s: dim %s is out of range for A %s'):format(op, describe(d), shape_str(A)))
        end
        local c = d < 0 and d + nd + 1 or d
        if moved[c] then raise(('%s: dims repeat dim %d'):format(op, c)) end
        moved[c] = i
      end
      for i = 1, nd do if not moved[i] then perm[#perm + 1] = i end end
      for _, d in ipairs(dims) do perm[#perm + 1] = d < 0 and d + nd + 1 or d end
      A = Tensor.permute(A, unpack(perm))
    end
    local s = Tensor.shape(A)
    local nb = Tensor.dim(B)
    local rest = {}
    for i = nb + 1, #s do rest[#rest + 1] = s[i] end
    local rows, cols = Tensor.numel(B), prod(s, nb + 1, #s)
    if nb > #s or prod(s, 1, nb) ~= rows or rows ~= cols then
      raise(('%s: A %s (after dims) and B %s do not fit: A\'s dims past B\'s must hold as many elements as B'):format(
        op, shape_str(A), shape_str(B)))
    end
    return Tensor.reshape(linalg.solve(Tensor.reshape(A, { rows, cols }), Tensor.reshape(B, { rows })), rest)
  end

  -- nl.linalg.solve_ex(A, B, [{left, check_errors}]): X as solve's and
  -- info (int64 of A's batch shape: 0, or the place of the first zero on
  -- U's diagonal, where X holds inf or NaN), an error only with check_errors
  function linalg.solve_ex(A, B, opts, ...)
    local op = 'linalg.solve_ex'
    no_extra(op, '(A, B, [opts])', ...)
    opts = nl._opts(op, opts, { left = 'flag', check_errors = 'flag' })
    matrices(op, A, true)
    tensor_arg(op, 'B', B)
    if Tensor.dtype(B) == 'int64' or Tensor.dim(B) < 1 then
      raise(('%s: expected a float32 or float64 tensor of 1 or more dims as B, got %s %s'):format(op,
        Tensor.dtype(B), shape_str(B)))
    end
    -- B checked against A here, so that a B that does not fit is refused
    -- in solve_ex's words whatever A's values (a singular A went to
    -- lu_solve, and its message named lu_solve and B as a column)
    local sa, sb = Tensor.shape(A), Tensor.shape(B)
    local vec = #sb == 1
    if #sb == #sa - 1 then
      vec = true
      for i = 1, #sb do vec = vec and sb[i] == sa[i] end
    end
    local left = opts.left ~= false
    local Bm = vec and Tensor.unsqueeze(B, left and -1 or -2) or B
    local bs = Tensor.shape(Bm)
    local batch_ok = broadcast2(nl.empty(batch_of(A, 2)), nl.empty(batch_of(Bm, 2))) ~= nil
    if (left and bs[#bs - 1] or bs[#bs]) ~= sa[#sa] or not batch_ok then
      raise(('%s: A %s and B %s do not fit %s'):format(op, shape_str(A), shape_str(B), left and 'AX = B' or 'XA = B'))
    end
    if Tensor.dtype(A) ~= Tensor.dtype(B) then
      raise(('%s: A (%s %s) and B (%s %s) must have one dtype'):format(op, Tensor.dtype(A), shape_str(A),
        Tensor.dtype(B), shape_str(B)))
    end
    local _, _, info = linalg.lu_factor_ex(Tensor.detach(A))
    local bad = Tensor.numel(info) > 0 and Tensor.item(Tensor.max(info)) > 0
    if not bad then return linalg.solve(A, B, { left = opts.left }), info end
    if opts.check_errors then
      local flat = Tensor.totable(Tensor.reshape(info, { -1 }))
      for i, v in ipairs(flat) do
        if v > 0 then
          raise(('%s: A %s is singular: U[%d,%d] is zero in batch element %d'):format(op, shape_str(A), v, v, i))
        end
      end
    end
    -- a singular A: LU's substitutions, as LAPACK's getrs (inf or NaN)
    local LU, piv = linalg.lu_factor_ex(A)
    local X = linalg.lu_solve(LU, piv, Bm, { left = left })
    return vec and Tensor.squeeze(X, left and -1 or -2) or X, info
  end

  -- ---- the symmetric indefinite factorization -------------------------------------------

  -- nl.linalg.ldl_factor_ex(A, [{hermitian, check_errors}]): LD, pivots
  -- and info of A = P L D L^T P^T (Bunch-Kaufman, LAPACK's sytrf with
  -- uplo 'L', of A's lower triangle): L below LD's diagonal (its ones
  -- implied), D's 1x1 and 2x2 blocks on the diagonal and the first
  -- subdiagonal; pivots int64 in LAPACK's 1-based form (PyTorch's, int32
  -- there): k > 0 at place i, rows i and k swapped for a 1x1 block; -k at
  -- i and i + 1, rows i + 1 and k swapped for a 2x2 one; info 0 or the
  -- first zero block of D. No gradient (1.13 has none). hermitian is the
  -- same for real A.
  local LDL_OPTS = { hermitian = 'flag', check_errors = 'flag' }
  local ldl_out = require('ffi').new('nl_tensor *[2]')
  function linalg.ldl_factor_ex(A, opts, ...)
    local op = 'linalg.ldl_factor_ex'
    no_extra(op, '(A, [opts])', ...)
    opts = nl._opts(op, opts, LDL_OPTS)
    matrices(op, A, true)
    local LD = nl._wrap(nl._lib.nl_linalg_ldl_factor(nl._T(A, op), opts.check_errors and 1 or 0, ldl_out,
                                                      ldl_out + 1))
    return LD, nl._wrap(ldl_out[0]), nl._wrap(ldl_out[1])
  end
  -- nl.linalg.ldl_factor(A, [{hermitian}]): LD and pivots; a singular D is an error
  function linalg.ldl_factor(A, opts, ...)
    local op = 'linalg.ldl_factor'
    no_extra(op, '(A, [opts])', ...)
    opts = nl._opts(op, opts, { hermitian = 'flag' })
    matrices(op, A, true)
    local LD = nl._wrap(nl._lib.nl_linalg_ldl_factor(nl._T(A, op), 1, ldl_out, nil))
    return LD, nl._wrap(ldl_out[0])
  end
  -- nl.linalg.ldl_solve(LD, pivots, B, [{hermitian}]): X with A X = B for
  -- the A of ldl_factor's LD and pivots; B (..., n, k), batch dims broadcast
  function linalg.ldl_solve(LD, pivots, B, opts, ...)
    local op = 'linalg.ldl_solve'
    no_extra(op, '(LD, pivots, B, [opts])', ...)
    nl._opts(op, opts, { hermitian = 'flag' })
    matrices(op, LD, true, 'LD')
    matrices(op, B, false, 'B')
    tensor_arg(op, 'pivots', pivots)
    if Tensor.dtype(pivots) ~= 'int64' then argerror(op, 'int64 pivots', pivots) end
    local n = Tensor.size(LD, -1)
    if Tensor.dim(pivots) ~= Tensor.dim(LD) - 1 or Tensor.size(pivots, -1) ~= n then
      raise(('%s: pivots %s do not fit LD %s (they must be (..., n))'):format(op, shape_str(pivots), shape_str(LD)))
    end
    if Tensor.size(B, -2) ~= n then
      raise(('%s: B %s must have %d rows to match LD %s'):format(op, shape_str(B), n, shape_str(LD)))
    end
    -- the batch dims broadcast
    local bl, bb = batch_of(LD, 2), batch_of(B, 2)
    local nd = math.max(#bl, #bb)
    local batch = {}
    for i = 1, nd do
      local x, y = bl[i - (nd - #bl)] or 1, bb[i - (nd - #bb)] or 1
      if x ~= y and x ~= 1 and y ~= 1 then
        raise(('%s: the batch dims of LD %s and B %s do not broadcast'):format(op, shape_str(LD), shape_str(B)))
      end
      batch[i] = x == 1 and y or x
    end
    LD = Tensor.expand(LD, with(batch, n, n))
    pivots = Tensor.expand(pivots, with(batch, n))
    B = Tensor.expand(B, with(batch, n, Tensor.size(B, -1)))
    return nl._wrap(nl._lib.nl_linalg_ldl_solve(nl._T(LD, op), nl._T(pivots, op), nl._T(B, op)))
  end

  -- ---- vector products and shapes ---------------------------------------------------

  -- the cross product of x and y (broadcast) along dim (of size 3)
  local function cross(op, x, y, dim)
    tensor_arg(op, 'x', x)
    tensor_arg(op, 'y', y)
    if Tensor.dim(x) ~= Tensor.dim(y) then
      raise(('%s: x %s and y %s must have the same number of dims'):format(op, shape_str(x), shape_str(y)))
    end
    local bx, by = broadcast2(x, y)
    if not bx then raise(('%s: the shapes of x %s and y %s do not broadcast'):format(op, shape_str(x), shape_str(y))) end
    local nd = Tensor.dim(bx)
    if not whole(dim) or dim == 0 or dim > nd or dim < -nd then
      raise(('%s: dim %s is out of range for shape %s'):format(op, describe(dim), shape_str(bx)))
    end
    if Tensor.size(bx, dim) ~= 3 then
      raise(('%s: dim %d of x %s and y %s must have size 3'):format(op, dim, shape_str(x), shape_str(y)))
    end
    local function c(t, i) return Tensor.narrow(t, dim, i, 1) end
    local x1, x2, x3, y1, y2, y3 = c(bx, 1), c(bx, 2), c(bx, 3), c(by, 1), c(by, 2), c(by, 3)
    return nl.cat({ x2 * y3 - x3 * y2, x3 * y1 - x1 * y3, x1 * y2 - x2 * y1 }, dim)
  end
  -- nl.linalg.cross(x, y, [dim = -1]) (or {dim})
  function linalg.cross(x, y, dim, ...)
    no_extra('linalg.cross', '(x, y, [dim])', ...)
    if type(dim) == 'table' then dim = nl._opts('linalg.cross', dim, { dim = 1 }).dim end
    return cross('linalg.cross', x, y, dim == nil and -1 or dim)
  end
  -- (nl.cross and x:cross, torch.cross, are tensor_combine.lua's)

  -- nl.linalg.vecdot(x, y, [dim = -1]) (or {dim}): sum(x * y, dim), broadcast
  function linalg.vecdot(x, y, dim, ...)
    local op = 'linalg.vecdot'
    no_extra(op, '(x, y, [dim])', ...)
    if type(dim) == 'table' then dim = nl._opts(op, dim, { dim = 1 }).dim end
    tensor_arg(op, 'x', x)
    tensor_arg(op, 'y', y)
    local bx, by = broadcast2(x, y)
    if not bx then raise(('%s: the shapes of x %s and y %s do not broadcast'):format(op, shape_str(x), shape_str(y))) end
    dim = dim == nil and -1 or dim
    local nd = Tensor.dim(bx)
    if not whole(dim) or dim == 0 or dim > nd or dim < -nd then
      raise(('%s: dim %s is out of range for shape %s'):format(op, describe(dim), shape_str(bx)))
    end
    return Tensor.sum(bx * by, dim)
  end

  -- nl.linalg.vander(x, [N]) (or {N}): x (..., n) to (..., n, N), the
  -- powers x^0 .. x^(N-1) (N = n by default, > 1), as PyTorch's (its
  -- cumulative product, so its gradient)
  function linalg.vander(x, N, ...)
    local op = 'linalg.vander'
    no_extra(op, '(x, [N])', ...)
    if type(N) == 'table' then N = nl._opts(op, N, { N = 1 }).N end
    tensor_arg(op, 'x', x)
    if Tensor.dim(x) < 1 then raise(op .. ': x must have at least 1 dim, got a 0-D tensor') end
    if N == nil then N = Tensor.size(x, -1) end
    if not whole(N) or N <= 1 then raise(('%s: N must be greater than 1, got %s'):format(op, describe(N))) end
    -- the output's size checked as the allocation checks it, so that the
    -- error names this op, not the contiguous copy inside cumprod
    local cells = N
    for _, v in ipairs(Tensor.shape(x)) do cells = cells * math.max(v, 1) end
    if cells > 2 ^ 46 then
      raise(('%s: output of x %s with N = %d is too large'):format(op, shape_str(x), N))
    end
    local col = Tensor.unsqueeze(x, -1)
    local s = Tensor.shape(col)
    s[#s] = N - 1
    local powers = Tensor.cumprod(Tensor.expand(col, s), -1)
    s[#s] = 1
    return nl.cat({ nl.ones(s, Tensor.dtype(x)), powers }, -1)
  end

  -- nl.linalg.diagonal(A, [{offset = 0, dim1 = -2, dim2 = -1}]) (or
  -- positional offset, dim1, dim2): torch.diagonal with the last two dims
  -- by default
  function linalg.diagonal(A, offset, dim1, dim2, ...)
    local op = 'linalg.diagonal'
    no_extra(op, '(A, [offset], [dim1], [dim2])', ...)
    if type(offset) == 'table' then
      local o = nl._opts(op, offset, { offset = 1, dim1 = 1, dim2 = 1 })
      offset, dim1, dim2 = o.offset, o.dim1, o.dim2
    end
    tensor_arg(op, 'A', A)
    return Tensor.diagonal(A, offset or 0, dim1 or -2, dim2 or -1)
  end
end
