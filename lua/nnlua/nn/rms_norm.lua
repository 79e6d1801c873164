-- rms_norm.lua: nn.RMSNorm and nn.functional.rms_norm, PyTorch 2.4's
-- root-mean-square normalization over the trailing dims: x /
-- sqrt(mean(x^2) + eps) * weight, eps nil taking the machine epsilon of
-- x's dtype (torch.finfo(dtype).eps). LayerNorm's fused op with no mean
-- taken (nl_layer_norm, NL_NORM_RMS) when the weight fits it, else composed
-- of tensor ops; its argument checks are normalization.lua's.
return function(nl, nn)
  local Module = nn.Module
  local F = nn.functional

  -- torch.finfo(dtype).eps
  local EPS = { float32 = 2 ^ -23, float64 = 2 ^ -52 }

  local function eps_arg(op, eps)
    if eps ~= nil and (type(eps) ~= 'number' or eps ~= eps) then
      nl._raise(('%s: expected a number eps (or nil: the dtype\'s machine epsilon), got %s'):format(op,
        nl._describe_arg(eps)))
    end
    return eps
  end

  -- x normalized over its trailing dims of shape (a list) by the root mean
  -- square of each slice, then times weight (of that shape, or nil): the
  -- fused op, or (a weight that only broadcasts) the composite
  local function rms_norm(op, x, shape, weight, eps)
    local k, d = nn._norm_ends_with(op, x, shape)
    if weight then nn._check_input_dtype(op, x, weight:dtype()) else nl._float_only(x, op) end
    if nn._norm_fused_ok(x, shape, weight) then
      return nl._wrap(nl._lib.nl_layer_norm(x.ptr, k, weight and weight.ptr, nil, eps or EPS[x:dtype()],
                                            nl._lib.NL_NORM_RMS))
    end
    local ms = x * x
    for i = d - k + 1, d do ms = ms:mean(i, true) end
    local y = x * (ms + (eps or EPS[x:dtype()])):rsqrt()
    if weight then y = y * weight end
    return y
  end

  -- F.rms_norm(x, normalized_shape, weight, eps) (or {eps} in eps's place)
  function F.rms_norm(x, normalized_shape, weight, ...)
    local op = 'rms_norm'
    local eps = nn._norm_trailing(op, { { 'eps' } }, ...)
    eps_arg(op, eps)
    local shape = nn._norm_shape_arg(op, normalized_shape)
    nl._T(x, op)
    nl._float_only(x, op)
    nn._norm_per_channel(op, 'weight', weight, x, shape)
    return rms_norm(op, x, shape, weight, eps)
  end

  local RMSNorm = Module:extend('RMSNorm')
  nn.RMSNorm = RMSNorm

  -- RMSNorm(normalized_shape, {eps, elementwise_affine}): eps nil (the
  -- dtype's machine epsilon), a weight of ones unless elementwise_affine
  -- is false
  function RMSNorm:init(normalized_shape, opts)
    local op = 'RMSNorm'
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { eps = 1, elementwise_affine = 'flag' })
    local shape = nn._norm_shape_arg(op, normalized_shape)
    self.normalized_shape = shape
    self.eps = eps_arg(op, opts.eps)
    self.elementwise_affine = opts.elementwise_affine ~= false
    if self.elementwise_affine then self.weight = nl.ones(shape):requires_grad() end
  end

  function RMSNorm:forward(x)
    return rms_norm('RMSNorm', x, self.normalized_shape, self.weight, self.eps)
  end

  function RMSNorm:extra_repr()
    return ('[%s], eps=%s, elementwise_affine=%s'):format(table.concat(self.normalized_shape, ','),
      self.eps == nil and 'None' or ('%g'):format(self.eps), tostring(self.elementwise_affine))
  end
end
