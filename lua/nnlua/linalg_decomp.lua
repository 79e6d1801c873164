-- linalg_decomp.lua: the orthogonal decompositions of torch.linalg (PyTorch
-- 1.13) in nl.linalg: qr, eigh, eigvalsh, svd, svdvals, pinv, lstsq,
-- matrix_rank, matrix_norm, vector_norm and norm; the methods t:qr(),
-- t:svd() (torch.svd's old form: U, S, V) and t:pinverse(). The kernels
-- are ops_linalg_decomp.c's, which record no graph. Gradients are
-- PyTorch's formulas (linalg_qr_backward, linalg_eig_backward,
-- svd_backward, pinv_backward), given by a surrogate: each output is its
-- value plus a term linear in dA = A - A:detach() (zero in value) whose
-- coefficients are detached, so that autograd, through the ops composed,
-- sends back exactly the adjoint of that linear map (and refuses
-- create_graph, whose second derivative it would get wrong). inv, solve,
-- det, cholesky and LU are not here.
--
-- Signs: an eigenvector, and a singular pair, is unique up to sign only.
-- eigh's eigenvectors (the columns of V) and svd's right singular vectors
-- (the columns of V, the rows of Vh) have their largest-magnitude entry
-- positive (the first of equal ones); U's columns follow V's. QR's signs
-- are LAPACK's, so Q and R equal PyTorch's.
local ffi = require 'ffi'

return function(nl)
  local lib, Tensor = nl._lib, nl.Tensor
  local wrap, T, raise, argerror, is_tensor = nl._wrap, nl._T, nl._raise, nl._argerror, nl.is_tensor
  local shape_str, describe = nl._shape_str, nl._describe_arg
  local out2 = ffi.new('nl_tensor *[2]')       -- the C functions' second and third results
  local INF = math.huge
  local EPS = { float32 = 1.1920928955078125e-07, float64 = 2.220446049250313e-16 }

  nl.linalg = nl.linalg or {}
  local linalg = nl.linalg

  local function grad_on() return lib.nl_is_grad_enabled() ~= 0 end
  local function requires(x) return is_tensor(x) and x.ptr ~= nil and bit.band(x.ptr.flags, 1) ~= 0 end
  local function no_extra(op, takes, ...)
    if select('#', ...) > 0 then nl._no_extra_args(op, takes, nil, ...) end
  end
  local function mT(x) return Tensor.transpose(x, -1, -2) end
  local mm = nl.matmul

  -- A: a float tensor of at least 2 dims (square with square), or an
  -- error naming op; its rows and columns
  local function matrices(op, A, square)
    if not is_tensor(A) then argerror(op, 'a tensor', A) end
    local p = T(A, op)
    if p.dtype == 2 then raise(('%s: expected a float32 or float64 tensor, got int64 %s'):format(op, shape_str(A))) end
    if p.ndim < 2 then
      raise(('%s: expected a tensor of at least 2 dims (a batch of matrices), got shape %s'):format(op, shape_str(A)))
    end
    local m, n = tonumber(p.sizes[p.ndim - 2]), tonumber(p.sizes[p.ndim - 1])
    if square and m ~= n then
      raise(('%s: expected square matrices in the last two dims, got shape %s'):format(op, shape_str(A)))
    end
    return m, n
  end
  -- the C result r (NULL: raise the C error, named op)
  local function got(op, r)
    if r == nil then
      local msg = ffi.string(lib.nl_error())
      raise((msg:gsub('^[%w_]+:', op .. ':', 1)))
    end
    return wrap(r)
  end
  -- x with its non-finite entries 0 (1 / 0 of equal eigenvalues)
  local function finite_or_zero(x) return nl.where(Tensor.eq(x - x, 0), x, 0) end
  local function recip_or_zero(x) return finite_or_zero(Tensor.reciprocal(x)) end
  -- does A want a gradient here?
  local function wants_grad(A) return requires(A) and grad_on() end
  local function diagonal(x) return Tensor.diagonal(x, 0, -2, -1) end

  -- dA = A - A:detach(), 0 with A's gradient, through a function whose
  -- backward refuses create_graph: a surrogate's coefficients are
  -- detached, so its second derivative would be silently wrong (zero or
  -- partial). One function per op, made on first use (autograd_function
  -- loads then).
  local first_order = {}
  local function delta(op, A)
    local f = first_order[op]
    if not f then
      f = nl.autograd.Function(op, {
        forward = function(_, x) return Tensor.detach(x) end,
        backward = function(_, g)
          if grad_on() then     -- the create_graph walk runs backward in grad mode
            error(('with create_graph: the gradients of the orthogonal decompositions (linalg.qr, eigh, svd, '
                   .. 'and pinv, lstsq and the 2 and nuclear norms made of them) have no differentiable backward '
                   .. 'yet'), 0)
          end
          return g
        end,
      })
      first_order[op] = f
    end
    return f.apply(A) - Tensor.detach(A)
  end

  -- ---- QR ------------------------------------------------------------------------

  -- Q, R of A's columns n <= m (the reduced form) with the gradient of
  -- PyTorch's linalg_qr_backward: C = Q^T dA R^-1, Y = the upper triangle
  -- of C + C^T with its diagonal halved; dR = Y R, dQ = dA R^-1 - Q Y
  local function qr_surrogate(A, Q, R)
    local Rinv = nl.no_grad(function() return finite_or_zero(got('linalg.qr', lib.nl_linalg_triu_inverse(R.ptr))) end)
    local dA = delta('linalg.qr', A)
    local C = mm(mm(mT(Q), dA), Rinv)
    local S = C + mT(C)
    local Y = Tensor.triu(S, 1) + Tensor.diag_embed(diagonal(C))
    return Q + (mm(dA, Rinv) - mm(Q, Y)), R + mm(Y, R)
  end

  local QR_MODES = { reduced = true, complete = true, r = true }
  local function qr(op, A, mode)
    local m, n = matrices(op, A)
    if not QR_MODES[mode] then
      raise(("%s: mode must be 'reduced', 'complete' or 'r', got %s"):format(op, describe(mode)))
    end
    local grad = wants_grad(A)
    if grad and mode == 'complete' and m > n then
      raise(("%s: the gradient of mode 'complete' with more rows than columns (shape %s) is not defined, as in "
             .. "PyTorch; use mode 'reduced', or detach() the input"):format(op, shape_str(A)))
    end
    local want_q = grad or mode ~= 'r'
    local R = got(op, lib.nl_linalg_qr(T(A, op), mode == 'complete' and 1 or 0, want_q and out2 or nil))
    local Q = want_q and wrap(out2[0]) or nil
    if grad then
      if m >= n then
        Q, R = qr_surrogate(A, Q, R)
      else
        -- A = [X | W], X square: Q R1 = X, R2 = Q^T W (PyTorch's m < n case)
        local X, W = Tensor.narrow(A, -1, 1, m), Tensor.narrow(A, -1, m + 1, n - m)
        local R1 = Tensor.narrow(R, -1, 1, m)
        local Qs, R1s = qr_surrogate(X, Q, R1)
        local R2 = Tensor.narrow(R, -1, m + 1, n - m)
        Q = Qs
        R = nl.cat({ R1s, R2 + (mm(mT(Qs), W) - Tensor.detach(mm(mT(Qs), W))) }, -1)
      end
    end
    if mode == 'r' then return nl.zeros({ 0 }, Tensor.dtype(A)), R end
    return Q, R
  end

  -- nl.linalg.qr(A, [{mode = 'reduced' | 'complete' | 'r'}]): Q, R; mode
  -- 'r' gives an empty Q, as PyTorch's
  function linalg.qr(A, opts, ...)
    no_extra('linalg.qr', '(A, [{mode}])', ...)
    if type(opts) == 'string' then opts = { mode = opts } end
    opts = nl._opts('linalg.qr', opts, { mode = 1 })
    return qr('linalg.qr', A, opts.mode or 'reduced')
  end
  -- t:qr([some]): torch.qr, Q and R; some = false is mode 'complete'
  function Tensor.qr(A, some, ...)
    no_extra('qr', '([some])', ...)
    if some ~= nil and type(some) ~= 'boolean' then argerror('qr', 'some as a boolean', some) end
    return qr('qr', A, some == false and 'complete' or 'reduced')
  end
  nl.qr = Tensor.qr

  -- ---- the symmetric eigendecomposition -------------------------------------------

  local function uplo_of(op, opts)
    if type(opts) == 'string' then opts = { UPLO = opts } end
    opts = nl._opts(op, opts, { UPLO = 1 })
    local u = opts.UPLO or 'L'
    if u ~= 'L' and u ~= 'U' then raise(("%s: UPLO must be 'L' or 'U', got %s"):format(op, describe(u))) end
    return u == 'U'
  end

  -- L, V with the gradient of PyTorch's linalg_eig_backward (hermitian):
  -- M = V^T dA V, dL = diag(M), dV = V skew(F o M), F_ij = 1 / (L_j - L_i)
  -- (0 where equal: PyTorch's is inf there, and the gradient through V
  -- is not defined)
  local function eigh(op, A, upper, vectors)
    matrices(op, A, true)
    local grad = wants_grad(A)
    local L = got(op, lib.nl_linalg_eigh(T(A, op), upper and 1 or 0, (vectors or grad) and out2 or nil))
    local V = (vectors or grad) and wrap(out2[0]) or nil
    if not grad then return L, V end
    local dA = delta(op, A)
    local M = mm(mm(mT(V), dA), V)
    local Lg = L + diagonal(M)
    if not vectors then return Lg end
    local F = nl.no_grad(function() return recip_or_zero(Tensor.unsqueeze(L, -2) - Tensor.unsqueeze(L, -1)) end)
    local K = F * M
    return Lg, V + mm(V, (K - mT(K)) * 0.5)
  end

  -- nl.linalg.eigh(A, [{UPLO = 'L' | 'U'}]): the eigenvalues ascending
  -- and the eigenvectors as V's columns, of the symmetric A as its lower
  -- (upper) triangle gives it
  function linalg.eigh(A, opts, ...)
    no_extra('linalg.eigh', '(A, [{UPLO}])', ...)
    return eigh('linalg.eigh', A, uplo_of('linalg.eigh', opts), true)
  end
  function linalg.eigvalsh(A, opts, ...)
    no_extra('linalg.eigvalsh', '(A, [{UPLO}])', ...)
    return (eigh('linalg.eigvalsh', A, uplo_of('linalg.eigvalsh', opts), false))
  end

  -- ---- the SVD ------------------------------------------------------------------------

  -- U, S, Vh (reduced) with the gradient of PyTorch's svd_backward: with
  -- dP = U^T dA V, F_ij = 1 / (S_j^2 - S_i^2) (0 where equal), X = (F o
  -- dP) diag(S), Y = diag(S) (F o dP): dS = diag(dP), dU = U (X - X^T)
  -- [+ (I - U U^T) dA V S^-1 when m > k], dVh = (Y^T - Y) Vh [+ S^-1 U^T
  -- dA (I - V Vh) when n > k]. Equal singular values (and zero ones,
  -- when m ~= n) leave the gradient through U and Vh undefined: PyTorch's
  -- is inf or NaN there, nnlua's drops those terms.
  local function svd_surrogate(A, U, S, Vh, vectors)
    local m, n = Tensor.size(A, -2), Tensor.size(A, -1)
    local k = math.min(m, n)
    local dA = delta('linalg.svd', A)
    local V = mT(Vh)
    local dP = mm(mm(mT(U), dA), V)
    local Sg = S + diagonal(dP)
    if not vectors then return nil, Sg, nil end
    local F, Sinv = nl.no_grad(function()
      local S2 = S * S
      return recip_or_zero(Tensor.unsqueeze(S2, -2) - Tensor.unsqueeze(S2, -1)), recip_or_zero(S)
    end)
    local FdP = F * dP
    local X, Y = FdP * Tensor.unsqueeze(S, -2), Tensor.unsqueeze(S, -1) * FdP
    local dU = mm(U, X - mT(X))
    local dVh = mm(mT(Y) - Y, Vh)
    if m > k then dU = dU + (mm(dA, V) - mm(U, dP)) * Tensor.unsqueeze(Sinv, -2) end
    if n > k then dVh = dVh + Tensor.unsqueeze(Sinv, -1) * (mm(mT(U), dA) - mm(dP, Vh)) end
    return U + dU, Sg, Vh + dVh
  end

  -- U, S, Vh; full: the full U and Vh (the columns past min(m, n) get no
  -- gradient, as PyTorch's narrows them); vectors false: S alone
  local function svd(op, A, full, vectors)
    local m, n = matrices(op, A)
    local k = math.min(m, n)
    local grad = wants_grad(A)
    local uv = vectors or grad
    local S = got(op, lib.nl_linalg_svd(T(A, op), (full and vectors) and 1 or 0, uv and out2 or nil,
                                        uv and out2 + 1 or nil))
    local U, Vh
    if uv then U, Vh = wrap(out2[0]), wrap(out2[1]) end
    if not grad then return U, S, Vh end
    if not vectors then
      local _, Sg = svd_surrogate(A, U, S, Vh, false)
      return nil, Sg, nil
    end
    if full and (m > k or n > k) then
      local Ur, Vhr = Tensor.narrow(U, -1, 1, k), Tensor.narrow(Vh, -2, 1, k)
      local Ug, Sg, Vhg = svd_surrogate(A, Ur, S, Vhr, true)
      if m > k then Ug = nl.cat({ Ug, Tensor.narrow(U, -1, k + 1, m - k) }, -1) end
      if n > k then Vhg = nl.cat({ Vhg, Tensor.narrow(Vh, -2, k + 1, n - k) }, -2) end
      return Ug, Sg, Vhg
    end
    return svd_surrogate(A, U, S, Vh, true)
  end

  -- nl.linalg.svd(A, [{full_matrices = true}]): U, S, Vh with A = U
  -- diag(S) Vh, S descending (torch.linalg.svd's form: Vh, not V)
  function linalg.svd(A, opts, ...)
    no_extra('linalg.svd', '(A, [{full_matrices}])', ...)
    opts = nl._opts('linalg.svd', opts, { full_matrices = 'flag' })
    return svd('linalg.svd', A, opts.full_matrices ~= false, true)
  end
  function linalg.svdvals(A, ...)
    no_extra('linalg.svdvals', '(A)', ...)
    local _, S = svd('linalg.svdvals', A, false, false)
    return S
  end
  -- t:svd([some], [compute_uv]): torch.svd's old form, U, S, V (V, not
  -- Vh); some = false: the full U and V; compute_uv = false: U and V
  -- zero-filled, (m, m) and (n, n), as PyTorch's
  function Tensor.svd(A, some, compute_uv, ...)
    no_extra('svd', '([some], [compute_uv])', ...)
    if some ~= nil and type(some) ~= 'boolean' then argerror('svd', 'some as a boolean', some) end
    if compute_uv ~= nil and type(compute_uv) ~= 'boolean' then argerror('svd', 'compute_uv as a boolean', compute_uv) end
    if compute_uv == false then
      local m, n = matrices('svd', A)
      local _, S = svd('svd', A, false, false)
      local batch = Tensor.shape(A)
      batch[#batch] = nil
      batch[#batch] = nil
      local function zeros(a, b)
        local s = { unpack(batch) }
        s[#s + 1], s[#s + 2] = a, b
        return nl.zeros(s, Tensor.dtype(A))
      end
      return zeros(m, m), S, zeros(n, n)
    end
    local U, S, Vh = svd('svd', A, some == false, true)
    return U, S, mT(Vh)
  end
  nl.svd = Tensor.svd

  -- ---- the pseudo-inverse, least squares, rank ---------------------------------------

  -- the cutoff of singular values: max(atol, rtol * largest), PyTorch's
  -- defaults (rtol = eps * max(m, n) when neither is given; 0 when atol is)
  local function tolerances(op, A, opts)
    local atol, rtol = opts.atol, opts.rtol
    for name, v in pairs({ atol = atol, rtol = rtol }) do
      if v ~= nil and (type(v) ~= 'number' or v ~= v or v < 0) then
        raise(('%s: %s must be a number >= 0, got %s'):format(op, name, describe(v)))
      end
    end
    if rtol == nil then
      if atol ~= nil and atol > 0 then rtol = 0
      else rtol = EPS[Tensor.dtype(A)] * math.max(Tensor.size(A, -2), Tensor.size(A, -1)) end
    end
    return atol or 0, rtol
  end
  -- the largest of s's last dim, kept (0 where that dim is empty: a 0 x n
  -- matrix has no singular value)
  local function largest(s)
    if Tensor.size(s, -1) > 0 then return Tensor.amax(s, -1, true) end
    local sh = Tensor.shape(s)
    sh[#sh] = 1
    return nl.zeros(sh, Tensor.dtype(s))
  end
  -- singular values (or |eigenvalues|, hermitian) and which pass the cutoff
  local function kept(op, A, opts)
    local atol, rtol = tolerances(op, A, opts)
    local s
    if opts.hermitian then s = Tensor.abs(linalg.eigvalsh(Tensor.detach(A)))
    else s = linalg.svdvals(Tensor.detach(A)) end
    local big = largest(s)
    local cut = nl.where(Tensor.gt(big * rtol, atol), big * rtol, atol)
    return s, Tensor.gt(s, cut)
  end

  -- X = pinv(A) with the gradient of PyTorch's pinv_backward: dX = -X dA X
  -- + X X^T dA^T (I - A X) + (I - X A) dA^T X^T X
  local function pinv(op, A, opts)
    local m, n = matrices(op, A, opts.hermitian)
    local atol, rtol = tolerances(op, A, opts)
    local Ad = Tensor.detach(A)
    local X = nl.no_grad(function()
      local function inv_of(s)
        local big = largest(Tensor.abs(s))
        local cut = nl.where(Tensor.gt(big * rtol, atol), big * rtol, atol)
        return nl.where(Tensor.gt(Tensor.abs(s), cut), recip_or_zero(s), 0)
      end
      if opts.hermitian then
        local L, V = linalg.eigh(Ad)
        return mm(V * Tensor.unsqueeze(inv_of(L), -2), mT(V))
      end
      local U, S, Vh = linalg.svd(Ad, { full_matrices = false })
      return mm(mT(Vh) * Tensor.unsqueeze(inv_of(S), -2), mT(U))
    end)
    if not wants_grad(A) then return X end
    local dA = delta(op, A)
    local dAt = mT(dA)
    local AX = nl.no_grad(function() return mm(Ad, X) end)
    local XA = nl.no_grad(function() return mm(X, Ad) end)
    local Xt = mT(X)
    local t1 = -mm(mm(X, dA), X)
    local t2 = mm(mm(X, Xt), mm(dAt, nl.eye(m, Tensor.dtype(A)) - AX))
    local t3 = mm(mm(nl.eye(n, Tensor.dtype(A)) - XA, dAt), mm(Xt, X))
    return X + (t1 + t2 + t3)
  end

  -- nl.linalg.pinv(A, [{atol, rtol, hermitian}])
  function linalg.pinv(A, opts, ...)
    no_extra('linalg.pinv', '(A, [{atol, rtol, hermitian}])', ...)
    opts = nl._opts('linalg.pinv', opts, { atol = 1, rtol = 1, hermitian = 'flag' })
    return pinv('linalg.pinv', A, opts)
  end
  -- t:pinverse([rcond]): torch.pinverse, rtol = rcond (1e-15)
  function Tensor.pinverse(A, rcond, ...)
    no_extra('pinverse', '([rcond])', ...)
    if rcond ~= nil and type(rcond) ~= 'number' then argerror('pinverse', 'rcond as a number', rcond) end
    return pinv('pinverse', A, { rtol = rcond or 1e-15 })
  end
  nl.pinverse = Tensor.pinverse

  -- nl.linalg.matrix_rank(A, [{atol, rtol, hermitian}] or tol): the count
  -- of singular values past the cutoff, int64 of A's batch shape
  function linalg.matrix_rank(A, opts, ...)
    no_extra('linalg.matrix_rank', '(A, [{atol, rtol, hermitian}])', ...)
    if type(opts) == 'number' then opts = { atol = opts, rtol = 0 } end
    opts = nl._opts('linalg.matrix_rank', opts, { atol = 1, rtol = 1, hermitian = 'flag' })
    matrices('linalg.matrix_rank', A, opts.hermitian)
    local _, keep = kept('linalg.matrix_rank', A, opts)
    return Tensor.sum(Tensor.long(keep), -1)
  end

  local DRIVERS = { gelsy = true, gelsd = true, gelss = true, gels = true }
  -- nl.linalg.lstsq(A, B, [{rcond, driver}]): solution, residuals, rank,
  -- singular_values, as PyTorch's named tuple (in that order). The
  -- solution is pinv(A) B (the least-squares solution of least norm, its
  -- gradient that of pinv and matmul, as PyTorch's lstsq_backward);
  -- residuals, the squared residuals of each column when m > n and
  -- (drivers gelsd, gelss) every A has full rank, are empty for driver
  -- gelsy, as PyTorch's on the CPU; rank (empty for gels) and
  -- singular_values (gelsd and gelss only) else empty tensors; only the
  -- solution has a gradient, as PyTorch's. B is (*,
  -- m, k), or (*, m) for one right-hand side (the residuals then (*, 1),
  -- as PyTorch's).
  function linalg.lstsq(A, B, opts, ...)
    local op = 'linalg.lstsq'
    no_extra(op, '(A, B, [{rcond, driver}])', ...)
    opts = nl._opts(op, opts, { rcond = 1, driver = 1 })
    local m, n = matrices(op, A)
    if not is_tensor(B) then argerror(op, 'a tensor as B', B) end
    local driver = opts.driver or 'gelsy'
    if not DRIVERS[driver] then
      raise(("%s: driver must be 'gelsy', 'gelsd', 'gelss' or 'gels', got %s"):format(op, describe(driver)))
    end
    if Tensor.dtype(B) ~= Tensor.dtype(A) then
      raise(('%s: A and B must have one dtype, got %s %s and %s %s'):format(op, Tensor.dtype(A), shape_str(A),
                                                                        Tensor.dtype(B), shape_str(B)))
    end
    local vector = Tensor.dim(B) == Tensor.dim(A) - 1
    local Bm = vector and Tensor.unsqueeze(B, -1) or B
    if Tensor.dim(Bm) < 2 or Tensor.size(Bm, -2) ~= m then
      raise(('%s: B must have %d rows to match A %s, got shape %s'):format(op, m, shape_str(A), shape_str(B)))
    end
    if opts.rcond ~= nil and (type(opts.rcond) ~= 'number' or opts.rcond ~= opts.rcond) then
      raise(op .. ': rcond must be a number, got ' .. describe(opts.rcond))
    end
    local rcond = opts.rcond
    if rcond == nil or rcond < 0 then rcond = EPS[Tensor.dtype(A)] * math.max(m, n) end
    local X = mm(pinv(op, A, { rtol = rcond }), Bm)
    local empty = nl.zeros({ 0 }, Tensor.dtype(A))
    local rank, sv = nl.zeros({ 0 }, 'int64'), empty
    if driver ~= 'gels' then rank = linalg.matrix_rank(A, { rtol = rcond }) end
    if driver == 'gelsd' or driver == 'gelss' then sv = linalg.svdvals(Tensor.detach(A)) end
    local residuals = empty
    if m > n and driver ~= 'gelsy' then
      local full = driver == 'gels' or Tensor.item(Tensor.min(Tensor.eq(rank, n) * 1)) == 1
      if full then
        residuals = nl.no_grad(function()
          local r = mm(A, X) - Bm
          return Tensor.sum(r * r, -2)
        end)
      end
    end
    if vector then X = Tensor.squeeze(X, -1) end
    return X, residuals, rank, sv
  end

  -- ---- norms -------------------------------------------------------------------------

  -- A's dims d (two, distinct) moved last: the permuted A, and the 1-based
  -- dims to unsqueeze for keepdim (ascending)
  local function matrix_dims(op, A, dim)
    local p = T(A, op)
    dim = dim or { -2, -1 }
    if nl._list_len(dim) ~= 2 or is_tensor(dim) then argerror(op, 'dim as a list of two dims', dim) end
    local c1, c2 = nl._cdim(dim[1], op, p), nl._cdim(dim[2], op, p)
    if c1 < 0 then c1 = c1 + p.ndim end
    if c2 < 0 then c2 = c2 + p.ndim end
    if c1 == c2 then raise(('%s: dims must be different, got {%d, %d}'):format(op, dim[1], dim[2])) end
    if c1 == p.ndim - 2 and c2 == p.ndim - 1 then return A, { c1 + 1, c2 + 1 } end
    local perm = {}
    for i = 0, p.ndim - 1 do if i ~= c1 and i ~= c2 then perm[#perm + 1] = i + 1 end end
    perm[#perm + 1], perm[#perm + 2] = c1 + 1, c2 + 1
    return Tensor.permute(A, unpack(perm)), { math.min(c1, c2) + 1, math.max(c1, c2) + 1 }
  end

  local MATRIX_ORDS = { fro = true, nuc = true, [2] = true, [-2] = true, [1] = true, [-1] = true, [INF] = true,
                        [-INF] = true }
  local function matrix_norm(op, A, ord, dim, keepdim)
    if ord == nil then ord = 'fro' end
    if not MATRIX_ORDS[ord] then
      raise(("%s: ord must be 'fro', 'nuc', 2, -2, 1, -1, inf or -inf, got %s"):format(op, describe(ord)))
    end
    if keepdim ~= nil and type(keepdim) ~= 'boolean' then argerror(op, 'keepdim as a boolean', keepdim) end
    matrices(op, A)
    local X, kd = matrix_dims(op, A, dim)
    local r
    if ord == 'fro' then r = nl._root_or_zero(Tensor.sum(X * X, { -2, -1 }), 2)
    elseif ord == 'nuc' then r = Tensor.sum(linalg.svdvals(X), -1)
    elseif ord == 2 then r = Tensor.amax(linalg.svdvals(X), -1)
    elseif ord == -2 then r = Tensor.amin(linalg.svdvals(X), -1)
    elseif ord == 1 then r = Tensor.amax(Tensor.sum(Tensor.abs(X), -2), -1)
    elseif ord == -1 then r = Tensor.amin(Tensor.sum(Tensor.abs(X), -2), -1)
    elseif ord == INF then r = Tensor.amax(Tensor.sum(Tensor.abs(X), -1), -1)
    else r = Tensor.amin(Tensor.sum(Tensor.abs(X), -1), -1) end
    if keepdim then
      r = Tensor.unsqueeze(Tensor.unsqueeze(r, kd[1]), kd[2])
    end
    return r
  end
  nl._matrix_norm = matrix_norm

  -- opts as a table {dim, keepdim} or positional dim, keepdim (a dim
  -- list, {1, 2}, is positional)
  local function dim_keep(op, a, b)
    if type(a) == 'table' and a.dim == nil and a.keepdim == nil and next(a) ~= nil then return a, b end
    return nl._opts_or_args(op, 'dim keepdim:flag', a, b)
  end

  -- nl.linalg[name](x, [ord], [dim], [keepdim]) (or {dim, keepdim}) as
  -- norm(op, x, ord, dim, keepdim); takes: its arguments, for the error of
  -- an extra one
  local function norm_entry(name, takes, norm)
    local op = 'linalg.' .. name
    return function(x, ord, a, b, ...)
      no_extra(op, takes, ...)
      local dim, keepdim = dim_keep(op, a, b)
      return norm(op, x, ord, dim, keepdim)
    end
  end

  -- nl.linalg.matrix_norm(A, [ord], [dim], [keepdim]) (or {dim, keepdim}):
  -- ord 'fro' (default), 'nuc', 2, -2, 1, -1, inf, -inf over dim ({-2, -1})
  linalg.matrix_norm = norm_entry('matrix_norm', '(A, [ord], [dim], [keepdim])', matrix_norm)

  local function vector_norm(op, x, ord, dim, keepdim)
    if not is_tensor(x) then argerror(op, 'a tensor', x) end
    if Tensor.dtype(x) == 'int64' then
      raise(('%s: expected a float32 or float64 tensor, got int64 %s'):format(op, shape_str(x)))
    end
    if ord == nil then ord = 2 end
    if type(ord) ~= 'number' or ord ~= ord then argerror(op, 'ord as a number, inf or -inf', ord) end
    local ok, r = pcall(Tensor.norm, x, ord, dim, keepdim == true)
    if not ok then
      local msg = tostring(r)
      raise((msg:match('^[^\n]-%.lua:%d+: (.*)$') or msg):gsub('^norm:', op .. ':', 1))
    end
    return r
  end
  -- nl.linalg.vector_norm(x, [ord], [dim], [keepdim]) (or {dim, keepdim}):
  -- ord 2 (default), any number, inf, -inf, 0, over dim (all by default)
  linalg.vector_norm = norm_entry('vector_norm', '(x, [ord], [dim], [keepdim])', vector_norm)

  -- nl.linalg.norm(A, [ord], [dim], [keepdim]): as PyTorch's, a vector
  -- norm over one dim (or all of them when neither ord nor dim is given),
  -- a matrix norm over two (or of a 2-D A given ord alone)
  linalg.norm = norm_entry('norm', '(A, [ord], [dim], [keepdim])', function(op, A, ord, dim, keepdim)
    if not is_tensor(A) then argerror(op, 'a tensor', A) end
    if type(dim) == 'number' then return vector_norm(op, A, ord, dim, keepdim) end
    if dim ~= nil then
      local n = nl._list_len(dim)
      if n == 1 then return vector_norm(op, A, ord, dim, keepdim) end
      if n == 2 then return matrix_norm(op, A, ord, dim, keepdim) end
      argerror(op, 'dim as a dim or a list of one or two dims', dim)
    end
    if ord == nil then return vector_norm(op, A, 2, nil, keepdim) end
    local d = Tensor.dim(A)
    if d == 1 then return vector_norm(op, A, ord, nil, keepdim) end
    if d == 2 then return matrix_norm(op, A, ord, nil, keepdim) end
    raise(('%s: with ord and no dim, A must be 1-D or 2-D, got shape %s'):format(op, shape_str(A)))
  end)
end
