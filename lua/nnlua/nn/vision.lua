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

  -- ---- Dropout2d ------------------------------------------------------------------
  local Dropout2d = Module:extend('Dropout2d')
  nn.Dropout2d = Dropout2d

  -- in training, zeroes each whole channel of (N, C, H, W) with
  -- probability p and scales the kept ones by 1/(1-p). 3-D input is read as
  -- (N, C, L), each (n, c) row a channel, as PyTorch 1.13 and 2.x read it
  -- (they warn that a later release may read it as (C, H, W); this read it
  -- so, and zeroed whole (H, W) slabs where PyTorch zeroes rows)
  function Dropout2d:init(p, inplace, ...)
    if select('#', ...) > 0 then nl._raise(('Dropout2d: expected p and an inplace flag, got %d arguments'):format(2 + select('#', ...))) end
    nn._inplace_arg('Dropout2d', inplace)
    if p == nil then p = 0.5 end
    if type(p) ~= 'number' or not (p >= 0 and p <= 1) then
      nl._raise('Dropout2d: p must be a number in [0, 1], got ' .. nl._describe_arg(p))
    end
    self.p = p
  end

  function Dropout2d:forward(x)
    local d = nl.is_tensor(x) and x:dim() or 0
    if d ~= 3 and d ~= 4 then
      nl._raise('Dropout2d: input must be (N, C, H, W) or (N, C, L), got ' ..
        (nl.is_tensor(x) and ('shape ' .. nl._shape_str(x)) or type(x)))
    end
    if not self.training or self.p == 0 then return x end
    if self.p == 1 then return x * 0 end
    nl._float_only(x, 'Dropout2d')
    local shape = x:shape()
    for i = 3, d do shape[i] = 1 end
    local keep = nl.rand(shape, x:dtype()):ge(self.p)
    return x * (keep * (1 / (1 - self.p)))
  end

  function Dropout2d:extra_repr() return 'p=' .. self.p end
end
