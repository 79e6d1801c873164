-- vision.lua: image layers composed of existing ops: nn.BatchNorm2d
-- (batch statistics in training, running statistics in eval), nn.Dropout2d
-- (zeroes whole channels) and nn.Upsample (nearest neighbour, by index_select).
return function(nl, nn)
  local Module = nn.Module
  local pair, options, describe = nn._pair, nn._options, nn._describe

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

  -- ---- Upsample -----------------------------------------------------------------
  local Upsample = Module:extend('Upsample')
  nn.Upsample = Upsample

  -- Upsample({scale_factor = s or {sh, sw}, size = n or {h, w}, mode = 'nearest'}),
  -- or Upsample(s): the integer scale factor. Output pixel i of a dim reads
  -- input pixel floor(i / s) (with size: floor(i * in / out)).
  function Upsample:init(opts)
    if type(opts) == 'number' then opts = { scale_factor = opts } end
    opts = options(opts, 'Upsample')
    nl._check_opts('Upsample', opts, { scale_factor = 1, size = 1, mode = 1 })
    self.mode = opts.mode or 'nearest'
    if self.mode ~= 'nearest' then
      nl._raise("Upsample: only mode 'nearest' is supported, got " .. describe(self.mode))
    end
    if (opts.size == nil) == (opts.scale_factor == nil) then
      nl._raise('Upsample: give exactly one of size and scale_factor')
    end
    if opts.size then self.size = { pair(opts.size, 'size', 'Upsample', 1) }
    else self.scale_factor = { pair(opts.scale_factor, 'scale_factor (an integer)', 'Upsample', 1) } end
    rawset(self, '_index', {})    -- (input size, output size) -> int64 index, cached
  end

  -- the 1-based input pixel of each output pixel along one dim, made by
  -- tensor ops (float64: exact for these sizes), kept for the next call
  local function nearest_index(cache, n_in, n_out, scale)
    local key = n_in .. ':' .. n_out
    local idx = cache[key]
    if not idx then
      if scale then
        idx = (nl.arange(0, n_out, 1, 'float64') / scale):long()
      else
        -- as PyTorch computes it, in float32: floor(i * (float(in) / float(out))),
        -- which where i * in / out is a whole number can fall one pixel short
        local ratio = nl.tensor(n_in, 'float32') / nl.tensor(n_out, 'float32')
        idx = (nl.arange(0, n_out, 1, 'float32') * ratio):long()
      end
      idx = idx:clamp(0, n_in - 1) + 1
      cache[key] = idx
    end
    return idx
  end

  -- input (N, C, H, W); PyTorch reads a 3-D input as (N, C, L), which this
  -- 2-D upsampling does not take
  function Upsample:forward(x)
    local d = nl.is_tensor(x) and x:dim() or 0
    if d ~= 4 then
      nl._raise('Upsample: input must be (N, C, H, W), got ' ..
        (nl.is_tensor(x) and ('shape ' .. nl._shape_str(x)) or type(x)))
    end
    local h, w = x:size(d - 1), x:size(d)
    local oh, ow, sh, sw
    if self.size then oh, ow = self.size[1], self.size[2]
    else
      sh, sw = self.scale_factor[1], self.scale_factor[2]
      oh, ow = h * sh, w * sw
    end
    if oh * ow * x:size(1) * x:size(2) > 2 ^ 40 then
      nl._raise(('Upsample: output [%d,%d,%.0f,%.0f] is too large'):format(x:size(1), x:size(2), oh, ow))
    end
    local cache = rawget(self, '_index')
    local y = x
    if oh ~= h then y = y:index_select(d - 1, nearest_index(cache, h, oh, sh)) end
    if ow ~= w then y = y:index_select(d, nearest_index(cache, w, ow, sw)) end
    return y
  end

  function Upsample:extra_repr()
    if self.size then return ('size=(%d, %d), mode=%s'):format(self.size[1], self.size[2], self.mode) end
    return ('scale_factor=(%d, %d), mode=%s'):format(self.scale_factor[1], self.scale_factor[2], self.mode)
  end
end
