-- vector.lua: layers and functions that work along one dim of their
-- input: nn.Unflatten (one dim split into several, Flatten's inverse),
-- nn.functional.normalize (p-norm scaling), nn.CosineSimilarity and
-- nn.PairwiseDistance with their functional forms, as PyTorch 1.13 defines
-- them. All are composed of tensor ops, so autograd gives their backward.
return function(nl, nn)
  local Module = nn.Module
  local F = nn.functional or {}
  nn.functional = F

  -- d (1-based, negative from the end) as a dim 1..ndim of a tensor of
  -- ndim dims, or an error naming op and the shape
  local function dim_of(op, d, x)
    local n = x:dim()
    if type(d) ~= 'number' or d ~= math.floor(d) or d == 0 or d > n or d < -n then
      nl._raise(('%s: dim %s out of range for input shape %s (dims are 1..%d or -%d..-1)'):format(op,
        nl._describe_arg(d), nl._shape_str(x), n, n))
    end
    return d < 0 and d + n + 1 or d
  end

  local function check_number(op, what, v, lo)
    if type(v) ~= 'number' or v ~= v or v < lo then
      nl._raise(('%s: %s must be a number >= %g, got %s'):format(op, what, lo, nl._describe_arg(v)))
    end
  end

  -- ---- Unflatten -------------------------------------------------------------------
  local Unflatten = Module:extend('Unflatten')
  nn.Unflatten = Unflatten

  -- Unflatten(dim, sizes): dim (1-based, negative from the end) becomes
  -- the dims of sizes, a list of positive sizes whose product is its size;
  -- one of them may be -1, the size that makes it so, as PyTorch's
  function Unflatten:init(dim, sizes)
    if type(dim) ~= 'number' or dim ~= math.floor(dim) or dim == 0 then
      nl._raise('Unflatten: dim must be a nonzero integer (1-based, negative from the end), got ' .. nl._describe_arg(dim))
    end
    local n = type(sizes) == 'table' and getmetatable(sizes) == nil and nl._list_len(sizes)
    if not n or n == 0 then
      nl._raise('Unflatten: sizes must be a non-empty list of sizes, got ' .. nl._describe_arg(sizes))
    end
    local free = 0
    for _, s in ipairs(sizes) do
      if s == -1 then free = free + 1
      elseif not nl._size_arg(s) then
        nl._raise('Unflatten: sizes must be positive integers or one -1, got ' .. nl._describe_arg(s))
      end
    end
    if free > 1 then nl._raise('Unflatten: only one size may be -1, got {' .. table.concat(sizes, ', ') .. '}') end
    self.dim, self.unflattened_size = dim, sizes
  end

  function Unflatten:forward(x)
    nl._T(x, 'Unflatten')
    local shape, sizes = x:shape(), self.unflattened_size
    local d = dim_of('Unflatten', self.dim, x)
    local known, free = 1, nil
    for i, s in ipairs(sizes) do
      if s == -1 then free = i else known = known * s end
    end
    local out = {}
    for i = 1, d - 1 do out[#out + 1] = shape[i] end
    for i, s in ipairs(sizes) do
      out[#out + 1] = i == free and shape[d] / known or s
    end
    for i = d + 1, #shape do out[#out + 1] = shape[i] end
    if (free and shape[d] % known ~= 0) or (not free and known ~= shape[d]) then
      nl._raise(('Unflatten: sizes {%s} do not fill dim %d of size %d (input shape %s)'):format(
        table.concat(sizes, ', '), self.dim, shape[d], nl._shape_str(x)))
    end
    return x:reshape(out)
  end

  function Unflatten:extra_repr()
    return ('dim=%d, unflattened_size={%s}'):format(self.dim, table.concat(self.unflattened_size, ', '))
  end

  -- ---- p-norms -------------------------------------------------------------------

  -- the p-norm of x over dim d (kept), p > 0 or math.huge, with PyTorch's
  -- gradients where x or the norm is 0: 0, not the NaN that pow's and
  -- sqrt's derivatives at 0 would give (the zeros are read through a safe 1
  -- and masked after). At a tie of the largest |x_i|, the infinity norm's
  -- gradient is shared among them, as PyTorch's (Tensor.norm's; max gave
  -- it all to the first).
  local function pnorm(x, p, d)
    if p == math.huge then return x:norm(p, d, true) end
    local a = x:abs()
    if p == 1 then return a:sum(d, true) end
    local s
    if p == 2 then
      s = (x * x):sum(d, true)
    else
      local z = a:eq(0)
      s = nl.where(z, 0, nl.where(z, 1, a):pow(p)):sum(d, true)
    end
    return nl._root_or_zero(s, p)
  end

  local function float_input(op, x)
    nl._float_only(x, op)
    return x
  end

  -- normalize(x, {p = 2, dim = 2, eps = 1e-12}): x / max(||x||_p, eps)
  -- along dim (PyTorch's dim=1, the second); p > 0, math.huge for the max
  local NORMALIZE_KNOWN = { p = 1, dim = 1, eps = 1 }
  function F.normalize(x, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('normalize', '(input, [{options}])', nil, ...) end
    float_input('normalize', x)
    opts = nl._opts('normalize', opts)
    nl._check_opts('normalize', opts, NORMALIZE_KNOWN)
    local p, eps = opts.p or 2, opts.eps or 1e-12
    check_number('normalize', 'p', p, 0)
    if p == 0 then nl._raise('normalize: p must be above 0, got 0') end
    check_number('normalize', 'eps', eps, 0)
    local d = dim_of('normalize', opts.dim or 2, x)
    return x / pnorm(x, p, d):clamp(eps, nil)
  end

  -- the shape x1 and x2 broadcast to, or an error naming op
  local function broadcast_shape(op, x1, x2)
    local a, b = x1:shape(), x2:shape()
    local n = math.max(#a, #b)
    local out = {}
    for i = 1, n do
      local u, v = a[i - (n - #a)] or 1, b[i - (n - #b)] or 1
      if u ~= v and u ~= 1 and v ~= 1 then
        nl._raise(('%s: shapes %s and %s do not broadcast'):format(op, nl._shape_str(x1), nl._shape_str(x2)))
      end
      out[i] = u == 1 and v or u
    end
    return out
  end

  local function expanded(x, shape)
    if nl._shape_str(x) == '[' .. table.concat(shape, ',') .. ']' then return x end
    return x:expand(shape)
  end

  -- cosine_similarity(x1, x2, {dim = 2, eps = 1e-8}): the sum along dim of
  -- (x1 / n1) * (x2 / n2), n = max(||x||_2, eps), over x1 and x2
  -- broadcast to one shape, as PyTorch 1.13 computes it. Its backward
  -- differs from a plain clamp where a norm is below eps: 1.13 clamps the
  -- norm r in place under no_grad, so the norm's derivative x / r reads
  -- x / eps there and the gradient still flows (and its own derivative,
  -- for create_graph, I / r - x x^T / r^3). A norm of eps or more is
  -- sqrt(s) itself (s the sum of squares); below, with c = eps held
  -- constant and u = s - s:detach() (0, with u' = 2x), c + u / 2c - u^2 /
  -- 8c^3 is c exactly, with those first and second derivatives.
  local COS_KNOWN = { dim = 1, eps = 1 }
  function F.cosine_similarity(x1, x2, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('cosine_similarity', '(x1, x2, [{options}])', nil, ...) end
    float_input('cosine_similarity', x1)
    float_input('cosine_similarity', x2)
    opts = nl._opts('cosine_similarity', opts)
    nl._check_opts('cosine_similarity', opts, COS_KNOWN)
    local eps = opts.eps or 1e-8
    check_number('cosine_similarity', 'eps', eps, 0)
    local shape = broadcast_shape('cosine_similarity', x1, x2)
    x1, x2 = expanded(x1, shape), expanded(x2, shape)
    local d = dim_of('cosine_similarity', opts.dim or 2, x1)
    local function norm(x)
      local s = (x * x):sum(d, true)
      local n = s:detach():sqrt()
      local big = n:ge(eps)
      local c = n:clamp(eps, nil)
      local u = s - s:detach()
      return nl.where(big, nl.where(big, s, 1):sqrt(), c + u / (c * 2) - u * u / (c * c * c * 8))
    end
    return ((x1 / norm(x1)) * (x2 / norm(x2))):sum(d)
  end

  -- pairwise_distance(x1, x2, {p = 2, eps = 1e-6, keepdim = false}): the
  -- p-norm of x1 - x2 + eps along the last dim of their broadcast shape,
  -- as PyTorch's
  local PD_KNOWN = { p = 1, eps = 1, keepdim = 'flag' }
  function F.pairwise_distance(x1, x2, opts, ...)
    if select('#', ...) > 0 then nl._no_extra_args('pairwise_distance', '(x1, x2, [{options}])', nil, ...) end
    float_input('pairwise_distance', x1)
    float_input('pairwise_distance', x2)
    opts = nl._opts('pairwise_distance', opts)
    nl._check_opts('pairwise_distance', opts, PD_KNOWN)
    local p, eps = opts.p or 2, opts.eps or 1e-6
    check_number('pairwise_distance', 'p', p, 0)
    if p == 0 then nl._raise('pairwise_distance: p must be above 0, got 0') end
    if type(eps) ~= 'number' then nl._argerror('pairwise_distance', 'a number eps', eps) end
    local shape = broadcast_shape('pairwise_distance', x1, x2)
    if #shape == 0 then
      nl._raise(('pairwise_distance: expected vectors, got 0-dim inputs %s and %s'):format(nl._shape_str(x1),
        nl._shape_str(x2)))
    end
    local n = pnorm(x1 - x2 + eps, p, #shape)
    if opts.keepdim then return n end
    return n:view(#shape == 1 and {} or { unpack(n:shape(), 1, #shape - 1) })
  end

  local CosineSimilarity = Module:extend('CosineSimilarity')
  nn.CosineSimilarity = CosineSimilarity

  -- CosineSimilarity({dim = 2, eps = 1e-8}): F.cosine_similarity(x1, x2)
  function CosineSimilarity:init(opts)
    opts = nl._opts('CosineSimilarity', opts)
    nl._check_opts('CosineSimilarity', opts, COS_KNOWN)
    self.dim, self.eps = opts.dim or 2, opts.eps or 1e-8
    if type(self.dim) ~= 'number' or self.dim ~= math.floor(self.dim) or self.dim == 0 then
      nl._raise('CosineSimilarity: dim must be a nonzero integer, got ' .. nl._describe_arg(self.dim))
    end
    check_number('CosineSimilarity', 'eps', self.eps, 0)
  end

  function CosineSimilarity:forward(x1, x2)
    return F.cosine_similarity(x1, x2, { dim = self.dim, eps = self.eps })
  end

  function CosineSimilarity:extra_repr() return ('dim=%d, eps=%g'):format(self.dim, self.eps) end

  local PairwiseDistance = Module:extend('PairwiseDistance')
  nn.PairwiseDistance = PairwiseDistance

  -- PairwiseDistance({p = 2, eps = 1e-6, keepdim = false}): F.pairwise_distance(x1, x2)
  function PairwiseDistance:init(opts)
    opts = nl._opts('PairwiseDistance', opts)
    nl._check_opts('PairwiseDistance', opts, PD_KNOWN)
    self.norm, self.eps, self.keepdim = opts.p or 2, opts.eps or 1e-6, opts.keepdim == true
    check_number('PairwiseDistance', 'p', self.norm, 0)
    if self.norm == 0 then nl._raise('PairwiseDistance: p must be above 0, got 0') end
    if type(self.eps) ~= 'number' then nl._argerror('PairwiseDistance', 'a number eps', self.eps) end
  end

  function PairwiseDistance:forward(x1, x2)
    return F.pairwise_distance(x1, x2, { p = self.norm, eps = self.eps, keepdim = self.keepdim })
  end

  function PairwiseDistance:extra_repr()
    return ('p=%g, eps=%g, keepdim=%s'):format(self.norm, self.eps, tostring(self.keepdim))
  end
end
