-- vision.lua: image layers composed of existing ops: nn.BatchNorm2d
-- (batch statistics in training, running statistics in eval), nn.Dropout2d
-- (zeroes whole channels) and nn.Upsample (nearest neighbour, by index_select).
return function(nl, nn)
  local Module = nn.Module
  local pair, options, describe = nn._pair, nn._options, nn._describe

  -- ---- BatchNorm2d ---------------------------------------------------------------
  local BatchNorm2d = Module:extend('BatchNorm2d')
  nn.BatchNorm2d = BatchNorm2d

  -- BatchNorm2d(num_features, {eps, momentum, affine, track_running_stats})
  function BatchNorm2d:init(num_features, opts)
    opts = options(opts, 'BatchNorm2d')
    if type(num_features) ~= 'number' or num_features < 1 or num_features ~= math.floor(num_features) or
       num_features > 2 ^ 31 then
      nl._raise('BatchNorm2d: expected a positive number of features, got ' .. describe(num_features))
    end
    for _, k in ipairs({ 'eps', 'momentum' }) do
      if opts[k] ~= nil and type(opts[k]) ~= 'number' then
        nl._raise(('BatchNorm2d: %s must be a number, got %s'):format(k, describe(opts[k])))
      end
    end
    self.num_features = num_features
    self.eps = opts.eps or 1e-5
    self.momentum = opts.momentum or 0.1
    self.affine = opts.affine ~= false
    self.track_running_stats = opts.track_running_stats ~= false
    if self.affine then
      self.weight = nl.ones(num_features):requires_grad()
      self.bias = nl.zeros(num_features):requires_grad()
    end
    if self.track_running_stats then
      self:register_buffer('running_mean', nl.zeros(num_features))
      self:register_buffer('running_var', nl.ones(num_features))
      self:register_buffer('num_batches_tracked', nl.zeros({}, 'int64'))
    end
  end

  -- mean over N, H, W of x (N, C, H, W) as (1, C, 1, 1)
  local function channel_mean(x) return x:mean(1, true):mean(3, true):mean(4, true) end

  function BatchNorm2d:forward(x)
    if not nl.is_tensor(x) or x:dim() ~= 4 or x:size(2) ~= self.num_features then
      nl._raise(('BatchNorm2d: expected input (N, %d, H, W), got %s'):format(self.num_features,
        nl.is_tensor(x) and ('shape ' .. nl._shape_str(x)) or type(x)))
    end
    local view = { 1, self.num_features, 1, 1 }
    local mean, var, centered
    if self.training or not self.track_running_stats then
      local n = x:numel() / self.num_features
      if n <= 1 and self.training then
        nl._raise('BatchNorm2d: training needs more than one value per channel, got input shape ' .. nl._shape_str(x))
      end
      mean = channel_mean(x)
      centered = x - mean
      var = channel_mean(centered * centered)
      if self.training and self.track_running_stats then
        nl.no_grad(function()
          local m = self.momentum
          self.running_mean:mul_(1 - m):add_(mean:detach():view(-1), m)
          self.running_var:mul_(1 - m):add_(var:detach():view(-1), m * n / (n - 1))
          self.num_batches_tracked:add_(1)
        end)
      end
    else
      mean, var = self.running_mean:view(view), self.running_var:view(view)
      centered = x - mean
    end
    local y = centered / (var + self.eps):sqrt()
    if self.affine then y = y * self.weight:view(view) + self.bias:view(view) end
    return y
  end

  function BatchNorm2d:extra_repr()
    return ('%d, eps=%g, momentum=%g, affine=%s, track_running_stats=%s'):format(self.num_features, self.eps,
      self.momentum, tostring(self.affine), tostring(self.track_running_stats))
  end

  -- ---- Dropout2d ------------------------------------------------------------------
  local Dropout2d = Module:extend('Dropout2d')
  nn.Dropout2d = Dropout2d

  -- in training, zeroes each whole channel of (N, C, H, W) (or (C, H, W))
  -- with probability p and scales the kept ones by 1/(1-p)
  function Dropout2d:init(p)
    if p == nil then p = 0.5 end
    if type(p) ~= 'number' or not (p >= 0 and p <= 1) then
      nl._raise('Dropout2d: p must be in [0, 1], got ' .. describe(p))
    end
    self.p = p
  end

  function Dropout2d:forward(x)
    local d = nl.is_tensor(x) and x:dim() or 0
    if d ~= 3 and d ~= 4 then
      nl._raise('Dropout2d: input must be (N, C, H, W) or (C, H, W), got ' ..
        (nl.is_tensor(x) and ('shape ' .. nl._shape_str(x)) or type(x)))
    end
    if not self.training or self.p == 0 then return x end
    if self.p == 1 then return x * 0 end
    local shape = x:shape()
    for i = d - 1, d do shape[i] = 1 end
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
      local i = nl.arange(0, n_out, 1, 'float64')
      idx = (scale and i / scale or i * (n_in / n_out)):long():clamp(0, n_in - 1) + 1
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
