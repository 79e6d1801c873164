-- parametrizations.lua: nn.utils.parametrizations.orthogonal and
-- spectral_norm, PyTorch 1.13's (torch.nn.utils.parametrizations), as
-- parametrize.lua's parametrizations: the modules _Orthogonal and
-- _SpectralNorm under module.parametrizations.<name>[1] (PyTorch's
-- ...<name>[0]), with PyTorch's buffers (base; _u and _v), so state dicts
-- move 1:1. orthogonal takes matrices (2 dims; PyTorch's batches of them
-- are refused) and use_trivialization = true only (false needs geqrf).
-- Loaded with parametrize.lua.
return function(nl, nn)
  local utils = nn.utils
  local raise = nl._raise
  local Module = nn.Module
  local PZ = {}
  utils.parametrizations = PZ
  local MAX_ITERATIONS = 10000

  local function eye(n, k, dtype) return nl.eye(n, k, dtype) end

  -- (module, name, ...): the values of names in order (param_norm.lua's)
  local args_of = nn._args_of

  -- module[name], a float tensor (a parameter, buffer or parametrized one)
  local function tensor_of(op, module, name)
    if type(name) ~= 'string' then raise(('%s: name must be a string, got %s'):format(op, nl._describe_arg(name))) end
    local t = module[name]
    if not nl.is_tensor(t) then
      raise(("%s: %s has no parameter or buffer named '%s'"):format(op, module.__name, name))
    end
    if t:dtype() == 'int64' then raise(('%s: %s must be a float tensor, got int64'):format(op, name)) end
    return t
  end

  -- a copy of shape, the weight's sizes as _Orthogonal and _SpectralNorm
  -- take them: a list of nd whole numbers >= 0 (nd: a count of dims, or
  -- nil for 1 to 8); a tensor, a number or a list with holes reached
  -- ipairs and the arithmetic ("attempt to get length of local 'shape'")
  local function shape_arg(op, shape, nd)
    local n = nl._list_len(shape)
    if n == nil or n > 8 or (nd and n ~= nd) or (not nd and n == 0) then
      raise(('%s: the weight\'s shape must be a list of %s sizes, got %s'):format(op,
        nd and tostring(nd) or '1 to 8', n and ('a list of %d'):format(n) or nl._describe_arg(shape)))
    end
    local c = {}
    for i = 1, n do
      local v = shape[i]
      if type(v) ~= 'number' or v ~= math.floor(v) or v < 0 or v > 2 ^ 53 then
        raise(('%s: the weight\'s shape must hold whole sizes >= 0, got %s at position %d'):format(op,
          nl._describe_arg(v), i))
      end
      c[i] = v
    end
    return c
  end

  local function shape_str(shape) return '[' .. table.concat(shape, ',') .. ']' end

  -- ---- orthogonal ---------------------------------------------------------

  -- LAPACK's householder_product: the first k columns of H_1 ... H_k, H_i
  -- = I - tau_i v_i v_i^T, v_i column i of A below the diagonal with a 1 on it
  local function householder_product(A, tau)
    local n, k = A:size(1), A:size(2)
    local V = A + eye(n, k, A:dtype())
    local Q = eye(n, n, A:dtype())
    for i = 1, k do
      local v = V:narrow(2, i, 1)
      Q = Q - nl.matmul(nl.matmul(Q, v) * tau:narrow(1, i, 1), v:t())
    end
    return Q:narrow(2, 1, k)
  end

  local EPS = { float32 = 1.1920928955078125e-07, float64 = 2.220446049250313e-16 }
  local FLOAT_DTYPES = { float32 = true, float = true, float64 = true, double = true }

  -- PyTorch's _is_orthogonal: allclose(Q^T Q, I) to 10 n eps
  local function is_orthogonal(Q)
    local n, k = Q:size(1), Q:size(2)
    local I = eye(k, k, Q:dtype())
    local excess = (nl.matmul(Q:t(), Q) - I):abs() - (I * 1e-5 + 10 * n * EPS[Q:dtype()])
    return excess:max():item() <= 0
  end

  -- Q of A = QR (A tall) with R's diagonal made >= 0
  local function make_orthogonal(A)
    local Q, R = nl.linalg.qr(A)
    return Q * R:diagonal():sign():view(1, -1)
  end

  local MAPS = { matrix_exp = true, cayley = true, householder = true }

  local Orth = Module:extend('_Orthogonal')
  nn._Orthogonal = Orth

  -- _Orthogonal(shape, orthogonal_map, use_trivialization): as
  -- orthogonal makes it (plain values, so nn.load rebuilds it)
  function Orth:init(shape, map, use_trivialization)
    local op = 'orthogonal'
    shape = shape_arg(op, shape, 2)
    if not MAPS[map] then
      raise(("%s: orthogonal_map must be 'matrix_exp', 'cayley' or 'householder', got %s"):format(op,
        nl._describe_arg(map)))
    end
    if use_trivialization ~= nil and use_trivialization ~= true then
      raise(('%s: use_trivialization must be true (false is not supported), got %s'):format(op,
        nl._describe_arg(use_trivialization)))
    end
    rawset(self, 'shape', shape)
    rawset(self, 'orthogonal_map', map)
    rawset(self, 'use_trivialization', true)
    self:register_buffer('base', nil)
  end

  function Orth:forward(X)
    local n, k = X:size(1), X:size(2)
    local transposed = n < k
    if transposed then
      X = X:t()
      n, k = k, n
    end
    local map, Q = self.orthogonal_map, nil
    if map == 'matrix_exp' or map == 'cayley' then
      X = X:tril()
      if n ~= k then X = nl.cat({ X, nl.zeros({ n, n - k }, X:dtype()) }, 2) end
      local A = X - X:t()
      if map == 'matrix_exp' then
        Q = nl.matrix_exp(A)           -- (linalg_extra.lua's, loaded on first use)
      else
        local I = eye(n, n, A:dtype())
        Q = nl.linalg.solve(I - A * 0.5, I + A * 0.5)
      end
      if n ~= k then Q = Q:narrow(2, 1, k) end
    else
      local A = X:tril(-1)
      local tau = 2 / ((A * A):sum(1) + 1)
      Q = householder_product(A, tau)
      Q = Q * X:diagonal():trunc():view(1, k)
    end
    local base = rawget(self, 'base')
    if base == nil then raise('orthogonal: the parametrization has no base yet (right_inverse sets it)') end
    Q = nl.matmul(base, Q)
    if transposed then Q = Q:t() end
    return Q
  end

  -- Q (orthogonalized when it is not) becomes the base; the original
  -- becomes minus the identity, whose image is the identity, so the
  -- weight is Q (PyTorch's dynamic trivialization)
  function Orth:right_inverse(Q)
    if nl._shape_str(Q) ~= shape_str(self.shape) then
      raise(('orthogonal: expected a matrix of shape %s, got %s'):format(shape_str(self.shape), nl._shape_str(Q)))
    end
    local rows, cols, dt = Q:size(1), Q:size(2), Q:dtype()
    nl.no_grad(function()
      Q = Q:detach()
      local n, k = rows, cols
      if n < k then
        Q = Q:t()
        n, k = k, n
      end
      if n == k then
        if not is_orthogonal(Q) then Q = make_orthogonal(Q) else Q = Q:clone() end
      else
        Q = make_orthogonal(nl.cat({ Q, nl.randn({ n, n - k }, dt) }, 2))
      end
      self.base = Q:contiguous()
    end)
    return nl.zeros({ rows, cols }, dt) - eye(rows, cols, dt)
  end

  -- orthogonal(module, [name = 'weight'], [orthogonal_map],
  -- [use_trivialization = true]) or (module, {name, orthogonal_map,
  -- use_trivialization}): module, its name orthogonal (orthonormal columns,
  -- or rows when wide); the map defaults to 'matrix_exp' for a square
  -- matrix, else 'householder', as PyTorch's
  function PZ.orthogonal(module, ...)
    local op = 'orthogonal'
    local a = args_of(op, module, { 'name', 'orthogonal_map', 'use_trivialization' }, ...)
    local name, map, triv = a[1] or 'weight', a[2], a[3]
    local w = tensor_of(op, module, name)
    if w:dim() < 2 then
      raise(('%s: expected a matrix, got a tensor of %d dims (%s)'):format(op, w:dim(), nl._shape_str(w)))
    end
    if w:dim() > 2 then
      raise(('%s: batches of matrices (more than 2 dims) are not supported, got %s'):format(op, nl._shape_str(w)))
    end
    if map == nil then map = w:size(1) == w:size(2) and 'matrix_exp' or 'householder' end
    if not MAPS[map] then
      raise(("%s: orthogonal_map must be 'matrix_exp', 'cayley' or 'householder', got %s"):format(op,
        nl._describe_arg(map)))
    end
    if triv ~= nil and type(triv) ~= 'boolean' then nl._argerror(op, 'a boolean use_trivialization', triv) end
    if triv == false then
      raise(op .. ': use_trivialization = false is not supported (it needs geqrf); use the default, true')
    end
    utils.parametrize.register_parametrization(module, name, Orth(w:shape(), map, true), true)
    return module
  end

  -- ---- spectral_norm ------------------------------------------------------

  local function normalize(x, eps) return x / (x * x):sum():sqrt():clamp(eps) end
  local function mv(a, x) return nl.matmul(a, x:view(-1, 1)):view(-1) end

  local SN = Module:extend('_SpectralNorm')
  nn._SpectralNorm = SN

  -- _SpectralNorm(shape, n_power_iterations, dim (1-based), eps, dtype):
  -- for a weight of that shape; _u and _v random unit vectors
  function SN:init(shape, n, dim, eps, dtype)
    local op = 'spectral_norm'
    shape = shape_arg(op, shape)
    local nd = #shape
    if type(dim) ~= 'number' or dim ~= math.floor(dim) or dim == 0 or dim < -nd or dim > nd then
      raise(('%s: dim must be a dim of the weight %s from 1 (or from -1 at the end), got %s'):format(op,
        shape_str(shape), nl._describe_arg(dim)))
    end
    -- (at most MAX_ITERATIONS, as nn.utils.spectral_norm)
    if type(n) ~= 'number' or n ~= math.floor(n) or n < 1 or n > MAX_ITERATIONS then
      raise(('%s: n_power_iterations must be a whole number in 1..%d, got %s'):format(op, MAX_ITERATIONS,
        nl._describe_arg(n)))
    end
    if type(eps) ~= 'number' or not (eps > 0) then
      raise(('%s: eps must be a number > 0, got %s'):format(op, nl._describe_arg(eps)))
    end
    if dtype ~= nil and not FLOAT_DTYPES[dtype] then
      raise(("%s: dtype must be 'float32' or 'float64', got %s"):format(op, nl._describe_arg(dtype)))
    end
    rawset(self, 'dim', dim < 0 and nd + dim or dim - 1)
    rawset(self, 'eps', eps)
    rawset(self, 'n_power_iterations', n)
    rawset(self, 'ndim', nd)
    if nd > 1 then
      local h, w = shape[self.dim + 1], 1
      for i, s in ipairs(shape) do if i ~= self.dim + 1 then w = w * s end end
      nl.no_grad(function()
        -- (randn({h}, nil) read the nil as a second size)
        self:register_buffer('_u', normalize(nl.randn({ h }, dtype or 'float32'), eps))
        self:register_buffer('_v', normalize(nl.randn({ w }, dtype or 'float32'), eps))
      end)
    end
  end

  -- the weight as a matrix, dim first
  function SN:_matrix(w)
    local d = self.dim
    if d ~= 0 then
      local perm = { d + 1 }
      for i = 1, w:dim() do if i ~= d + 1 then perm[#perm + 1] = i end end
      w = w:permute(perm)
    end
    return w:reshape(w:size(1), -1)
  end

  function SN:_power_method(wm, iterations)
    nl.no_grad(function()
      wm = wm:detach()
      local u, v = self._u, self._v
      for _ = 1, iterations do
        u:copy_(normalize(mv(wm, v), self.eps))
        v:copy_(normalize(mv(wm:t(), u), self.eps))
      end
    end)
  end

  function SN:forward(w)
    if self.ndim == 1 then return normalize(w, self.eps) end
    local wm = self:_matrix(w)
    if self.training then self:_power_method(wm, self.n_power_iterations) end
    local u, v = self._u:clone(), self._v:clone()
    local sigma = (u * mv(wm, v)):sum()
    return w / sigma
  end

  function SN:right_inverse(value) return value end

  -- spectral_norm(module, [name = 'weight'], [n_power_iterations = 1],
  -- [eps = 1e-12], [dim]) or (module, {name, n_power_iterations, eps,
  -- dim}): PyTorch 1.13's parametrization (nn.utils.spectral_norm is the
  -- older hook form): weight / sigma, sigma by power iteration on _u and _v
  -- (15 iterations when made, n_power_iterations at each read in training
  -- mode); a vector is divided by its norm. dim from 1, default 2 for the
  -- ConvTranspose layers, else 1.
  function PZ.spectral_norm(module, ...)
    local op = 'spectral_norm'
    local a = args_of(op, module, { 'name', 'n_power_iterations', 'eps', 'dim' }, ...)
    local name = a[1] or 'weight'
    local w = tensor_of(op, module, name)
    local dim = a[4]
    if dim == nil then
      -- (the ConvTranspose layers and their subclasses, as PyTorch's isinstance)
      dim = nn._is_instance(module, { [nn.ConvTranspose1d] = true, [nn.ConvTranspose2d] = true,
                                      [nn.ConvTranspose3d] = true }) and 2 or 1
    end
    if w:dim() == 0 then raise(('%s: %s must have at least one dim, got a 0-dim tensor'):format(op, name)) end
    local sn = SN(w:shape(), a[2] == nil and 1 or a[2], dim, a[3] == nil and 1e-12 or a[3], w:dtype())
    if w:dim() > 1 then sn:_power_method(sn:_matrix(w), 15) end
    utils.parametrize.register_parametrization(module, name, sn)
    return module
  end
end
