-- vision.lua: image layers composed of existing ops: nn.BatchNorm2d
-- (batch statistics in training, running statistics in eval) and
-- nn.Dropout2d (zeroes whole channels). nn.Upsample is in upsampling.lua.
return function(nl, nn)
  local Module = nn.Module

  -- ---- BatchNorm2d ---------------------------------------------------------------
  local BatchNorm2d = Module:extend('BatchNorm2d')
  nn.BatchNorm2d = BatchNorm2d

  -- BatchNorm2d(num_features, {eps, momentum, affine, track_running_stats}):
  -- the batch normalization BatchNorm1d shares (normalization.lua)
  function BatchNorm2d:init(num_features, opts)
    nn._batch_norm_init(self, 'BatchNorm2d', num_features, opts)
  end

  function BatchNorm2d:forward(x)
    if not nl.is_tensor(x) or x:dim() ~= 4 or x:size(2) ~= self.num_features then
      nl._raise(('BatchNorm2d: expected input (N, %d, H, W), got %s'):format(self.num_features,
        nl.is_tensor(x) and ('shape ' .. nl._shape_str(x)) or type(x)))
    end
    return nn._batch_norm(self, 'BatchNorm2d', x)
  end

  BatchNorm2d.extra_repr = nn._batch_norm_repr
  BatchNorm2d.reset_running_stats, BatchNorm2d.reset_parameters = nn._norm_reset_running_stats, nn._norm_reset_parameters

  -- ---- Dropout2d ------------------------------------------------------------------
  local Dropout2d = Module:extend('Dropout2d')
  nn.Dropout2d = Dropout2d
  local F = nn.functional

  -- in training, zeroes each whole channel of (N, C, H, W) with
  -- probability p and scales the kept ones by 1/(1-p). 3-D input is read as
  -- (N, C, L), each (n, c) row a channel, as PyTorch 1.13 and 2.x read it
  -- (they warn that a later release may read it as (C, H, W); this read it
  -- so, and zeroed whole (H, W) slabs where PyTorch zeroes rows)
  local function dropout2d(op, x, p, training)
    local d = nl.is_tensor(x) and x:dim() or 0
    if d ~= 3 and d ~= 4 then
      nl._raise(op .. ': input must be (N, C, H, W) or (N, C, L), got ' ..
        (nl.is_tensor(x) and ('shape ' .. nl._shape_str(x)) or type(x)))
    end
    if not training or p == 0 then return x end
    if p == 1 then return x * 0 end
    nl._float_only(x, op)
    local shape = x:shape()
    for i = 3, d do shape[i] = 1 end
    local keep = nl.rand(shape, x:dtype()):ge(p)
    return x * (keep * (1 / (1 - p)))
  end

  -- F.dropout2d(x, p = 0.5, training = true, inplace = false), or
  -- F.dropout2d(x, {p, training, inplace}), as PyTorch's
  function F.dropout2d(x, ...)
    local p, training = nn._dropout_args('dropout2d', true, ...)
    return dropout2d('dropout2d', x, p, training)
  end

  -- Dropout2d(p = 0.5, inplace = false), or {p, inplace}
  function Dropout2d:init(...)
    self.p, self.inplace = nn._dropout_init('Dropout2d', ...)
  end

  function Dropout2d:forward(x) return dropout2d('Dropout2d', x, self.p, self.training) end

  Dropout2d.extra_repr = nn._dropout_repr
end
