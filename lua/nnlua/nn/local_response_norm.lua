-- local_response_norm.lua: nn.LocalResponseNorm and
-- nn.functional.local_response_norm, AlexNet's normalization across
-- channels: x / (k + alpha / size * sum of x^2 over the size channels
-- around each one)^beta, computed as PyTorch 1.13 computes it (the squares
-- padded with zeros along the channels and average-pooled), from tensor
-- ops, so autograd gives the backward.
return function(nl, nn)
  local Module = nn.Module
  local F = nn.functional or {}
  nn.functional = F

  local function finite(v) return type(v) == 'number' and v == v and v > -math.huge and v < math.huge end

  -- size, alpha, beta, k as arguments, or a table of them in the first's
  -- place, or size and a table of the rest (nnlua's (required, {options}));
  -- checked and defaulted as PyTorch's (alpha 1e-4, beta 0.75, k 1)
  local function args_of(op, size, alpha, beta, k)
    if type(alpha) == 'table' then
      alpha, beta, k = nl._opts_or_args(op, 'alpha beta k', alpha, beta, k)
    else
      size, alpha, beta, k = nl._opts_or_args(op, 'size alpha beta k', size, alpha, beta, k)
    end
    if not nl._size_arg(size) or size > 2 ^ 31 then
      nl._raise(op .. ': size must be a positive whole number of channels, got ' .. nl._describe_arg(size))
    end
    if alpha == nil then alpha = 1e-4 end
    if beta == nil then beta = 0.75 end
    if k == nil then k = 1 end
    for _, kv in ipairs({ { 'alpha', alpha }, { 'beta', beta }, { 'k', k } }) do
      if not finite(kv[2]) then
        nl._raise(('%s: %s must be a finite number, got %s'):format(op, kv[1], nl._describe_arg(kv[2])))
      end
    end
    return size, alpha, beta, k
  end

  -- x (N, C, *) of at least 3 dims; the window of channel c is c -
  -- floor(size / 2) .. c + floor((size - 1) / 2), zeros past the ends, and
  -- the sum is divided by size wherever the window lies
  local function lrn(op, x, size, alpha, beta, k)
    nl._T(x, op)
    if x:dim() < 3 then
      nl._raise(('%s: expected input (N, C, *) of 3 or more dims, got shape %s'):format(op, nl._shape_str(x)))
    end
    nl._float_only(x, op)
    if x:numel() == 0 then return x end
    local shape = x:shape()
    local n, c = shape[1], shape[2]
    -- (N, 1, C, M): the channels as a pooling height, the rest flattened
    local sq = (x * x):reshape(n, 1, c, -1)
    sq = F.pad(sq, { 0, 0, math.floor(size / 2), math.floor((size - 1) / 2) })
    local div = F.avg_pool2d(sq, { size, 1 }, { stride = 1 }):reshape(shape)
    return x / (div * alpha + k):pow(beta)
  end

  -- F.local_response_norm(x, size, alpha, beta, k), or (x, {size, alpha, beta, k})
  function F.local_response_norm(x, size, alpha, beta, k, ...)
    local op = 'local_response_norm'
    nl._no_extra_args(op, '(input, size, alpha, beta, k)', nil, ...)
    size, alpha, beta, k = args_of(op, size, alpha, beta, k)
    return lrn(op, x, size, alpha, beta, k)
  end

  local LocalResponseNorm = Module:extend('LocalResponseNorm')
  nn.LocalResponseNorm = LocalResponseNorm

  -- LocalResponseNorm(size, alpha = 1e-4, beta = 0.75, k = 1), or {size, alpha, beta, k}
  function LocalResponseNorm:init(size, alpha, beta, k)
    self.size, self.alpha, self.beta, self.k = args_of('LocalResponseNorm', size, alpha, beta, k)
  end
  function LocalResponseNorm:forward(x)
    return lrn('LocalResponseNorm', x, self.size, self.alpha, self.beta, self.k)
  end
  local function pyfloat(v)
    if v == math.floor(v) and math.abs(v) < 1e16 then return ('%.1f'):format(v) end
    return ('%.16g'):format(v)
  end
  function LocalResponseNorm:extra_repr()
    return ('%d, alpha=%s, beta=%s, k=%s'):format(self.size, pyfloat(self.alpha), pyfloat(self.beta), pyfloat(self.k))
  end
end
